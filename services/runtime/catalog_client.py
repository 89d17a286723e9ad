"""An in-process cache of published catalog entries, for query and authorization, and what both read of an entry
alike (its basic items).

Entries change rarely and are read on every query, so each process keeps the
ones it uses and drops them when the catalog publishes a change event; a TTL
bounds staleness should an event be lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc

from govshare.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from services.runtime.callers_time import within_callers_time
from services.runtime.clients import call_metadata
from services.runtime.errors import ServiceError
from services.runtime.identity import AssertionSigner, Caller
from services.runtime.singleflight import SingleFlight
from services.runtime.telemetry import CACHE_LOOKUPS

#: What a caller is told when the catalog had not answered for an entry no longer cached by its deadline (as
#: query's decisions.NO_DECISION_IN_TIME for the authorization service): the call is refused within that time.
NO_ENTRY_IN_TIME = ("the catalog service did not answer for the resource within this call's deadline: try again "
                    "later, or with a longer deadline")


def no_entry_in_time() -> ServiceError:
    """UNAVAILABLE CATALOG_UNAVAILABLE for a read of :class:`CatalogCache` cut at the caller's deadline."""
    return ServiceError(grpc.StatusCode.UNAVAILABLE, "CATALOG_UNAVAILABLE", NO_ENTRY_IN_TIME)


# States of an entry whose current version was never published (work in progress, only its department's).
_NEVER_PUBLISHED = frozenset({catalog_pb2.ENTRY_STATE_DRAFT, catalog_pb2.ENTRY_STATE_SUBMITTED,
                              catalog_pb2.ENTRY_STATE_RETURNED})


class CatalogCache:
    """Published entries by code; ``None`` when the catalog has no such entry."""

    def __init__(self, channel: grpc.aio.Channel, signer: AssertionSigner, caller: Caller,
                 ttl_seconds: float = 60.0, timeout: float = 5.0) -> None:
        self._stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        self._signer = signer
        self._caller = caller
        self._ttl = ttl_seconds
        self._timeout = timeout
        self._entries: dict[str, tuple[float, catalog_pb2.Entry | None]] = {}
        self._flight: SingleFlight[catalog_pb2.Entry | None] = SingleFlight()
        # Bumped by every invalidation, so that an entry read before a change is not cached after it.
        self._generation = 0
        # Bound once: ``labels()`` hashes its arguments and takes a lock on every call.
        self._hits = CACHE_LOOKUPS.labels("catalog", "hit")
        self._misses = CACHE_LOOKUPS.labels("catalog", "miss")

    async def get(self, code: str, not_in_time: Callable[[], Exception] | None = None) -> catalog_pb2.Entry | None:
        """The current version of entry ``code`` once published (it may be retired since: callers check it is
        published); None for an unknown code and for an entry never published.

        ``not_in_time``: raised a moment before the deadline of the call being served when a miss's read has not
        been answered by then (services.runtime.callers_time), the read going on for the cache. The read has its own
        5 s timeout: with the catalog waiting on a hung PostgreSQL, a Query given 2 s whose entry had left the cache
        waited past its deadline, the edge answering DEADLINE_EXCEEDED naming nothing."""
        cached = self._entries.get(code)
        if cached is not None and cached[0] > time.monotonic():
            self._hits.inc()
            return cached[1]
        self._misses.inc()
        reading = self._flight.do(code, lambda: self._fetch(code))
        return await (reading if not_in_time is None else within_callers_time(reading, not_in_time))

    async def _fetch(self, code: str) -> catalog_pb2.Entry | None:
        generation = self._generation
        try:
            response = await self._stub.GetEntry(
                catalog_pb2.GetEntryRequest(code=code), timeout=self._timeout,
                metadata=call_metadata(self._signer, self._caller))
            entry: catalog_pb2.Entry | None = response.entry
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                raise
            entry = None
        if entry is not None and entry.state in _NEVER_PUBLISHED:
            # A platform service reads drafts too, but what query and authorization answer reaches departments:
            # a draft's code must answer as an unknown one does, since the catalog does not reveal drafts.
            entry = None
        if generation == self._generation:
            self._entries[code] = (time.monotonic() + self._ttl, entry)
        return entry

    def invalidate(self, code: str | None = None) -> None:
        """Drops one entry, or all of them (after a reconnection, when events may have been lost), and what is being
        read of them: a read begun before the change is neither cached (its answer may predate the change) nor
        handed to a caller that comes after it. A read in flight when an entry was published (authorization reads
        an entry on each of its change events, the draft's among them) stored 'no such entry' after the publication's
        event had dropped it, and SubmitApplication for the entry just published was NOT_FOUND for the cache's
        minute."""
        self._generation += 1
        self._flight.forget(code)
        if code is None:
            self._entries.clear()
        else:
            self._entries.pop(code, None)

    def on_event(self, payload: dict) -> None:
        """Handler for services.runtime.cache.CATALOG_CHANGED."""
        self.invalidate(payload.get("code"))


def basic_items(entry: catalog_pb2.Entry) -> frozenset[str]:
    """Items every department may have without a grant: a foundation database's basic items (R-SHR-4). Read by
    authorization's decisions and by query, which answers a verification of them alone without a grant."""
    if entry.category != catalog_pb2.CATEGORY_FOUNDATION:
        return frozenset()
    return frozenset(item.machine_name for item in entry.items if item.basic)
