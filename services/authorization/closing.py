"""Closing the applications of retired resources when the catalog says so, not only when somebody reads them.

Sharing closes an undecided application of a retired resource where it is read (GetApplication, a listing's rows)
and before the figures are counted. One nobody read since stayed stored SUBMITTED: ListApplications with
state=CLOSED left it out, state=SUBMITTED listed it and left it out of the page, and the applicant's CLOSED list
missed it until somebody opened it. The catalog's change event (CATALOG_CHANGED, which a retirement publishes) now
closes that resource's applications, and every (re)subscription, when events may have been missed (the first one
at start), sweeps them all. Both are idempotent (Sharing._close moves only an undecided application) and run in
the background, never in the subscriber's loop: a catalog or database outage delays them (read-time closing still
stands), it does not hold the events of others.
"""

from __future__ import annotations

import asyncio
import logging

from services.authorization.sharing import Sharing
from services.runtime.errors import ServiceError, dependency_failure, describe
from services.runtime.tasks import cancel

log = logging.getLogger(__name__)


class RetiredClosing:
    """Runs Sharing.close_retired_of for a changed entry, and Sharing.close_retired after a (re)subscription."""

    def __init__(self, sharing: Sharing) -> None:
        self._sharing = sharing
        self._tasks: set[asyncio.Task] = set()

    def changed(self, code: str | None) -> None:
        """Entry ``code`` changed (None: any may have, events having been missed): close what its retirement ends."""
        task = asyncio.create_task(self._close(code), name=f"close-retired-{code or 'all'}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        for task in list(self._tasks):
            await cancel(task)
        self._tasks.clear()

    async def _close(self, code: str | None) -> None:
        what = f"resource {code}" if code else "retired resources"
        failed: dict[str, Exception] = {}
        try:
            if code is None:  # resource by resource: one that fails is said, the others are closed all the same
                closed, failed = await self._sharing.sweep_retired()
            else:
                closed = await self._sharing.close_retired_of(code)
        except Exception as exc:
            self._failed(what, exc)
            return
        for resource, exc in failed.items():
            self._failed(f"resource {resource}", exc)
        if closed:
            log.info("%d undecided application(s) of %s closed for its retirement", closed, what)

    @staticmethod
    def _failed(what: str, exc: Exception) -> None:
        if isinstance(exc, ServiceError) or dependency_failure(exc) is not None:
            log.warning("closing the undecided applications of %s failed (%s); they are closed when next read",
                        what, describe(exc, limit=400))
        else:
            log.error("closing the undecided applications of %s failed", what, exc_info=exc)
