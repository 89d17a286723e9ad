"""How widely each entry is used, for the search ranking: fed from the query service, kept in PostgreSQL.

The catalog does not read another service's tables: every ``refresh_seconds`` each replica asks the query
service (``AuditFiguresService.ListResourceUsage``, as the platform service ``svc:catalog``) for the answered
calls of every resource over the last 30 whole days, which query answers from its daily counts, and writes
them to ``entry_usage`` (store.save_usage). Where an entry's order of magnitude changed, its update_time
moves, and every replica's index catch-up (indexing.py, every few seconds) re-indexes it, so the ranking is
the same on every replica within seconds of a refresh, and a replica rebuilding its index reads the figures
with the entries. While query cannot answer, the figures of the last refresh stay (a tie-breaker may be an
hour old; nothing else depends on it) and the refresh is retried every :data:`RETRY_SECONDS`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import grpc

from govshare.query.v1 import figures_pb2, figures_pb2_grpc
from services.catalog.index import usage_bucket
from services.catalog.store import CatalogStore
from services.runtime.clients import call_metadata, open_channel
from services.runtime.errors import describe
from services.runtime.identity import AssertionSigner, service_caller
from services.runtime.settings import Settings
from services.runtime.tasks import cancel

log = logging.getLogger(__name__)

USAGE_SERVICE = "govshare.query.v1.AuditFiguresService"
#: The period counted, in whole days, and the resources asked per call.
USAGE_DAYS = 30
PAGE_SIZE = 5000
#: How soon a refresh that failed (query down or starting) is tried again.
RETRY_SECONDS = 30.0
CALL_TIMEOUT_SECONDS = 60.0


class UsageFeed:
    """Refreshes ``entry_usage`` from the query service in the background, then asks the index to catch up."""

    def __init__(self, settings: Settings, store: CatalogStore, catch_up: Callable[[], None] | None = None) -> None:
        self._settings = settings
        self._store = store
        self._catch_up = catch_up
        self._channel: grpc.aio.Channel | None = None
        self._task: asyncio.Task | None = None
        self._signer = AssertionSigner(settings.internal_key)
        self._identity = service_caller("catalog")

    def start(self) -> None:
        self._channel = open_channel(self._settings.query_target, self._settings, (USAGE_SERVICE,))
        self._task = asyncio.create_task(self._run(), name="catalog-usage-feed")

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None
        if self._channel is not None:
            await self._channel.close()
            self._channel = None

    async def refresh(self, wait_for_query: bool = False) -> int:
        """One refresh: every resource's count read from query and saved; the number of resources used.

        ``wait_for_query``: the first refresh after start waits (up to the call's deadline) for the query
        service to come up, instead of failing at once: services start in any order, and each start of the
        platform logged this refresh's failure as a warning."""
        assert self._channel is not None, "start first"
        stub = figures_pb2_grpc.AuditFiguresServiceStub(self._channel)
        counts: dict[str, tuple[int, int]] = {}
        token = ""
        while True:
            page = await stub.ListResourceUsage(
                figures_pb2.ListResourceUsageRequest(days=USAGE_DAYS, page_size=PAGE_SIZE, page_token=token),
                metadata=call_metadata(self._signer, self._identity), timeout=CALL_TIMEOUT_SECONDS,
                wait_for_ready=wait_for_query)
            for usage in page.usages:
                counts[usage.resource_code] = (usage.answered_count, usage_bucket(usage.answered_count))
            token = page.next_page_token
            if not token:
                break
        await self._store.save_usage(counts)
        if self._catch_up is not None:
            self._catch_up()  # this replica's index at once; the others by their periodic catch-up
        return len(counts)

    async def _run(self) -> None:
        interval = self._settings.catalog_usage_refresh_seconds
        first = True
        while True:
            try:
                used = await self.refresh(wait_for_query=first)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # query down or starting, the database unreachable: the old figures stay
                log.warning("resource usage refresh failed (%s); retrying in %.0fs", describe(exc),
                            min(RETRY_SECONDS, interval))
                delay = min(RETRY_SECONDS, interval)
            else:
                log.info("resource usage refreshed: %d resources used in the last %d days", used, USAGE_DAYS)
                delay = interval
            first = False
            await asyncio.sleep(delay)
