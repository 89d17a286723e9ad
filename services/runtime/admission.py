"""Admission control for heavy reads (issue 14): listings and searches that read and encode pages of up to 1,000
rows (``ListEntries``, ``SearchEntries``, ``ListAccesses``, ``ListSubjectAccesses``, ``GetUsageSummary``: the
methods gateway/routing.py HEAVY_READS names).

A process runs at most ``GOVSHARE_HEAVY_READ_CONCURRENCY`` of them at once; up to ``GOVSHARE_HEAVY_READ_QUEUE``
more wait for their turn (in arrival order, costing nothing while they wait), and one more is refused at once
with RESOURCE_EXHAUSTED saying to retry. Why a cap on concurrency rather than only separate pools: the pools keep
heavy reads off the online path's *connections*, not off the CPU, and a heavy read uses two cores' worth of
work at once — its PostgreSQL backend reading the next page while this process encodes the previous one — so
three readers at full speed took the two cores the Query path runs on (docs/performance.md). One at a time per
process bounds a reader's share to about one core, whoever asks and however many; readers still make progress,
in turn. More heavy-read throughput is more heavy-read replicas (the chart's ``heavyReads``), not more at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc

from services.runtime.errors import ServiceError
from services.runtime.settings import Settings

#: What a refused caller is told to wait before retrying (RetryInfo): about one heavy read's time.
RETRY_AFTER_SECONDS = 1.0


class HeavyReadGate:
    """At most ``concurrency`` heavy reads at once in this process, ``queue`` more waiting; 0 = no cap."""

    def __init__(self, concurrency: int, queue: int) -> None:
        self._concurrency = concurrency
        self._queue = queue
        self._slots = asyncio.Semaphore(concurrency) if concurrency > 0 else None
        self._waiting = 0

    @property
    def waiting(self) -> int:
        return self._waiting

    @asynccontextmanager
    async def admitted(self) -> AsyncIterator[None]:
        """Runs the block once a slot is free; RESOURCE_EXHAUSTED (HEAVY_READS_BUSY) when the queue is full."""
        if self._slots is None:
            yield
            return
        if self._slots.locked():
            if self._waiting >= self._queue:
                raise ServiceError(
                    grpc.StatusCode.RESOURCE_EXHAUSTED, "HEAVY_READS_BUSY",
                    f"too many listings and searches are running or waiting here ({self._concurrency} at once, "
                    f"{self._queue} waiting): retry in a moment, or narrow the filter", retry_after=RETRY_AFTER_SECONDS)
            self._waiting += 1
            try:
                await self._slots.acquire()
            finally:
                self._waiting -= 1
        else:
            await self._slots.acquire()
        try:
            yield
        finally:
            self._slots.release()


def heavy_read_gate(settings: Settings) -> HeavyReadGate:
    """The process's gate, from GOVSHARE_HEAVY_READ_CONCURRENCY and GOVSHARE_HEAVY_READ_QUEUE."""
    return HeavyReadGate(settings.heavy_read_concurrency, settings.heavy_read_queue)
