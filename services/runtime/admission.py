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

One at a time still lets readers at full speed keep that core busy all the time, and on a machine of two cores
the Query path felt it: its p99 beside three readers was 4.7 times its value alone (docs/performance.md).
``GOVSHARE_HEAVY_READ_SHARE`` bounds the share of time heavy reads may take, as a budget: it fills at *share*
seconds per second up to BURST_SECONDS, each read spends the time it took, and a slot whose read left the
budget overdrawn stays closed until it is back to zero (MAX_PAUSE_SECONDS at most). An occasional listing, or
a person paging through a console, never waits (the burst covers it); a walk of pages at full speed gets its
share and no more. Query's p99 beside three such readers, against its value alone: 1.0 times at 0.05 (the
default), 1.4 at 0.1, 4.7 at 1. Where the heavy reads have CPU and a database of their own (the chart's
``heavyReads`` with a read replica), the share is 1.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from time import monotonic
from types import FrameType

import grpc

from services.runtime.errors import ServiceError, given_up_as_hung, waiting_on
from services.runtime.settings import Settings

#: What a refused caller is told to wait before retrying (RetryInfo): about one heavy read's time.
RETRY_AFTER_SECONDS = 1.0
#: The heavy-read time a process may spend at once before its share applies: a person's burst of pages.
BURST_SECONDS = 2.0
#: The longest a slot stays closed after one read. A read that ran long (its statement budget is 2 or 5 s, and
#: time spent waiting on a lock counts too) is not made to pay its whole debt (50 s for 5 s at 0.1): pacing is
#: for readers that go on and on, not a penalty on one slow page.
MAX_PAUSE_SECONDS = 5.0


def _holders_wait_on(frame: FrameType) -> str | None:
    """What a read waiting for a slot (suspended in :meth:`HeavyReadGate.admitted`) waits on: the dependency the
    reads holding the slots wait on, if one does.

    With PostgreSQL hung, the read holding the one slot was answered UNAVAILABLE naming it at its caller's bound,
    and cancelled; its cleanup (asyncpg asking the hung server to cancel its statement) kept the slot up to the
    pool's 30 s command timeout. Every listing and search queued behind it meanwhile was taken for busy with its
    own work, not for waiting on PostgreSQL, and ran to its caller's deadline: DEADLINE_EXCEEDED naming nothing,
    the catalog's listings and searches so answered for as long as the outage lasted. Read when a call's time is
    up, through services.runtime.errors.waiting_on."""
    gate = frame.f_locals.get("self")
    if not isinstance(gate, HeavyReadGate):
        return None
    return next((found for holder in list(gate.holders) if (found := waiting_on(holder))), None)


#: What a call suspended in this module waits on (services.runtime.errors.waiting_on): see _holders_wait_on.
WAITS_ON = _holders_wait_on


class HeavyReadGate:
    """At most ``concurrency`` heavy reads at once in this process, ``queue`` more waiting; 0 = no cap. Over
    time they take at most ``share`` of it (1: no budget)."""

    def __init__(self, concurrency: int, queue: int, share: float = 1.0) -> None:
        if not 0 < share <= 1:
            raise ValueError(f"a heavy-read share is a fraction of the time, in (0, 1]: {share}")
        self._concurrency = concurrency
        self._queue = queue
        self._share = share
        self._budget = BURST_SECONDS  # seconds of heavy reads that may run now
        self._filled_at = monotonic()
        self._slots = asyncio.Semaphore(concurrency) if concurrency > 0 else None
        self._waiting = 0
        #: The tasks running a read in a slot (a cancelled one until its cleanup ends).
        self.holders: set[asyncio.Task] = set()

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
        began = monotonic()
        holder = asyncio.current_task()
        if holder is not None:
            self.holders.add(holder)
        try:
            yield
        finally:
            self.holders.discard(holder)  # type: ignore[arg-type]
            # A read given up as hung on PostgreSQL spent its time waiting, not reading: charged for it (its time
            # to its bound and its cleanup's), it kept the slot closed MAX_PAUSE_SECONDS once PostgreSQL was back,
            # every listing and search meanwhile waiting with nothing running, to its deadline for a short one.
            self._release(0.0 if given_up_as_hung(holder) else monotonic() - began)

    def _release(self, took: float) -> None:
        """Frees the slot, once the budget this read overdrew has filled again (at once with a full share)."""
        assert self._slots is not None
        if self._share >= 1:
            self._slots.release()
            return
        now = monotonic()
        filled = min(BURST_SECONDS, self._budget + (now - self._filled_at) * self._share)
        self._budget = max(filled - took, -MAX_PAUSE_SECONDS * self._share)
        self._filled_at = now
        if self._budget >= 0:
            self._slots.release()
        else:
            asyncio.get_running_loop().call_later(-self._budget / self._share, self._slots.release)


def heavy_read_gate(settings: Settings) -> HeavyReadGate:
    """The process's gate, from GOVSHARE_HEAVY_READ_CONCURRENCY, _QUEUE and _SHARE."""
    return HeavyReadGate(settings.heavy_read_concurrency, settings.heavy_read_queue, settings.heavy_read_share)
