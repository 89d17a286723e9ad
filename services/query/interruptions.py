"""Exports whose process stopped without closing them (query migration 021).

An export is recorded when it is admitted and closed by a second record when its stream ends (services.query.audit,
EXPORT_END). A process that crashes mid-stream (killed, out of memory, its node lost) writes no closing record, and
the export read 已准许，未记录结束 for ever: the authority's auditor could not tell an export still running from one
that died with its replica, nor the persons' view a download cut short from a whole one.

Each query process holds a lease in ``audit_writers`` under its writer's name (the prefix of the access ids it
gives), renewed every LEASE_SECONDS / 3 and dropped when it stops cleanly, after its last closing record. Every pass
(at start, then with each renewal) closes the exports of writers whose lease ran out: FAILED INTERRUPTED, written
through this process's own chain. A process started again after a crash has a new writer name, so it finds its
predecessor's exports once their lease ends: within LEASE_SECONDS of the crash.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from services.query import audit
from services.query.audit import AuditWriter
from services.query.store import QueryStore
from services.runtime.tasks import cancel

log = logging.getLogger(__name__)

#: How long a process's lease lasts unrenewed. Long enough that a replica merely stalled (a slow database, a long
#: pause) keeps it: renewed every third of it, two renewals may fail. A presumed end written all the same gives
#: way to the export's own closing record in the readers' view (migration 021).
LEASE_SECONDS = 90.0


class WriterLease:
    """Holds this process's audit writer's lease and closes the exports of writers whose lease ran out."""

    def __init__(self, store: QueryStore, writer: AuditWriter, seconds: float = LEASE_SECONDS) -> None:
        self.store = store
        self._writer = writer
        self._seconds = seconds
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        """Holds the lease before the writer records anything of this process's (call before its first call is
        served, after the writer started: a pass writes through it), then renews it on a timer."""
        self._writer.lease_taken = await self.store.hold_writer(self._writer.name, self._seconds,
                                                                self._writer.chain_id)
        try:
            await self._close_lapsed()
        except Exception as exc:  # the next pass tries again: no reason to refuse this process's calls
            log.error("closing the exports of lapsed query processes failed (%s)", type(exc).__name__)
        self._task = asyncio.create_task(self._run(), name="audit-writer-lease")

    async def run_once(self) -> int:
        """Renews the lease, then closes the exports of lapsed writers; returns how many were closed."""
        self._writer.lease_taken = await self.store.hold_writer(self._writer.name, self._seconds,
                                                                self._writer.chain_id)
        return await self._close_lapsed()

    async def _close_lapsed(self) -> int:
        closed = await self.store.close_lapsed_exports(self._close)
        if closed:
            log.warning("%d export%s of a query process that stopped without closing them recorded as interrupted",
                        closed, "" if closed == 1 else "s")
        return closed

    async def _close(self, openings: Sequence[Mapping[str, Any]]) -> None:
        await asyncio.gather(*(self._writer.record(audit.export_interrupted(row)) for row in openings))

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._seconds / 3)
            try:
                await self.run_once()
            except Exception as exc:
                log.error("audit writer lease renewal failed (%s); retrying in %ss", type(exc).__name__,
                          self._seconds / 3)

    async def stop(self) -> None:
        """Stops the renewals (call before the writer stops: a pass writes through it)."""
        await cancel(self._task)
        self._task = None

    async def release(self) -> None:
        """Drops the lease (call once the writer has written every record: its exports are all closed)."""
        await self.store.release_writer(self._writer.name)
