"""Catalog entries as authorization sees them, fetched through the shared CatalogCache.

The catalog service owns entries; this process keeps the ones it uses in
process (invalidated by CATALOG_CHANGED) and reads from them which items a
resource has, which of them are basic (R-SHR-4) and which methods it offers.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable

import grpc

from govshare.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from govshare.common.v1 import common_pb2
from services.authorization.validation import METHODS
from services.runtime.cache import CATALOG_CHANGED, Subscriber
from services.runtime.catalog_client import CatalogCache, no_entry_in_time
from services.runtime.clients import call_metadata, open_channel
from services.runtime.errors import ServiceError
from services.runtime.identity import AssertionSigner, service_caller
from services.runtime.settings import Settings

CATALOG_SERVICE = "govshare.catalog.v1.CatalogService"


def item_names(entry: catalog_pb2.Entry) -> list[str]:
    """Machine names of the entry's items, in catalog order."""
    return [item.machine_name for item in entry.items]


def display_names(entry: catalog_pb2.Entry | None) -> dict[str, str]:
    """Each item's name as the catalog shows it (姓名) by machine name (name), for the Chinese a department's staff
    read in an application's history; empty without the entry (its notes then name items by machine name)."""
    return {item.machine_name: item.name for item in entry.items if item.name} if entry is not None else {}


def listed_after(entry: catalog_pb2.Entry, since: dt.datetime | None) -> frozenset[str]:
    """The entry's items published again after ``since`` (DataItem.listed_since later): dropped by a catalogue update
    and added back by a later one, so perhaps meaning something else than what was applied for or granted then."""
    if since is None:
        return frozenset()
    return frozenset(item.machine_name for item in entry.items if item.HasField("listed_since")
                     and item.listed_since.ToDatetime(tzinfo=dt.UTC) > since)


def offered_methods(entry: catalog_pb2.Entry) -> frozenset[int]:
    """The share methods the entry offers; a not-shared entry that lists none leaves it to the
    coordination decision (Art. 12), whose grant then says which methods may be used."""
    if not entry.share_methods and entry.share_type == common_pb2.SHARE_TYPE_NOT_SHARED:
        return METHODS
    return frozenset(entry.share_methods)


def classified(entry: catalog_pb2.Entry) -> bool:
    """True for entries that may exist only on the intranet (R-ZON-2)."""
    return entry.secrecy == catalog_pb2.SECRECY_CLASSIFIED or entry.zone == common_pb2.ZONE_INTRANET


class EntryLookup:
    """Published entries from the catalog service; catalog failures become UNAVAILABLE, never INTERNAL."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._channel: grpc.aio.Channel | None = None
        self._cache: CatalogCache | None = None
        self._subscriber: Subscriber | None = None
        self._watchers: list[Callable[[str | None], None]] = []

    def watch(self, changed: Callable[[str | None], None]) -> None:
        """Calls ``changed(code)`` after entry ``code``'s change event has dropped it from the cache, and
        ``changed(None)`` after every (re)subscription (events may have been missed): set before open()."""
        self._watchers.append(changed)

    async def open(self) -> None:
        settings = self._settings
        self._channel = open_channel(settings.catalog_target, settings, [CATALOG_SERVICE])
        self._cache = CatalogCache(self._channel, AssertionSigner(settings.internal_key),
                                   service_caller("authorization"), timeout=settings.call_timeout_seconds)
        self._subscriber = Subscriber(settings.redis_url, {CATALOG_CHANGED: self._on_event}, resync=self._resync)
        self._subscriber.start()

    def _on_event(self, payload: dict) -> None:
        if self._cache is not None:
            self._cache.on_event(payload)
        code = payload.get("code")
        if isinstance(code, str) and code:
            for changed in self._watchers:
                changed(code)

    def _resync(self) -> None:
        if self._cache is not None:
            self._cache.invalidate()
        for changed in self._watchers:
            changed(None)

    async def close(self) -> None:
        if self._subscriber is not None:
            await self._subscriber.stop()
        if self._channel is not None:
            with contextlib.suppress(Exception):
                await self._channel.close()
        self._subscriber = self._channel = self._cache = None

    async def provided(self, department_code: str) -> dict[str, int]:
        """How many entries ``department_code`` provides that are published now, and how many have a version in
        review (which the authority's reviewer could still publish): the catalog's own counts, not the cache, for
        RetireDepartment. Distinct entries: a state filter lists every version in that state."""
        return {"published_entries": await self._count(department_code, catalog_pb2.ENTRY_STATE_PUBLISHED),
                "entries_in_review": await self._count(department_code, catalog_pb2.ENTRY_STATE_SUBMITTED)}

    async def _count(self, department_code: str, state: int) -> int:
        if self._channel is None:
            raise ServiceError(grpc.StatusCode.UNAVAILABLE, "NOT_READY", "authorization is starting; retry")
        stub = catalog_pb2_grpc.CatalogServiceStub(self._channel)
        request = catalog_pb2.ListEntriesRequest(filter=catalog_pb2.EntryFilter(
            provider_department_code=department_code, state=state), page_size=1000)
        codes: set[str] = set()
        try:
            while True:
                page = await stub.ListEntries(request, timeout=self._settings.call_timeout_seconds,
                                              metadata=call_metadata(AssertionSigner(self._settings.internal_key),
                                                                     service_caller("authorization")))
                codes.update(entry.code for entry in page.entries)
                if not page.next_page_token:
                    return len(codes)
                request.page_token = page.next_page_token
        except grpc.aio.AioRpcError as exc:
            raise ServiceError(grpc.StatusCode.UNAVAILABLE, "CATALOG_UNAVAILABLE",
                               f"the catalog service did not answer ({exc.code().name}); retry") from None

    async def retired_at(self, code: str) -> dt.datetime | None:
        """When entry ``code`` was retired (its retired version's update_time), None while it is not, or when the
        catalog has no such entry."""
        entry = await self.get(code)
        if entry is None or entry.state != catalog_pb2.ENTRY_STATE_RETIRED:
            return None
        return entry.update_time.ToDatetime(tzinfo=dt.UTC)

    async def get(self, code: str, fresh: bool = False) -> catalog_pb2.Entry | None:
        """The current version of entry ``code`` (any state), or None when the catalog has none; ``fresh``: asked of
        the catalog, not the copy held (a caller knows of a later version than it)."""
        if self._cache is None:
            raise ServiceError(grpc.StatusCode.UNAVAILABLE, "NOT_READY", "authorization is starting; retry")
        if fresh:
            self._cache.invalidate(code)
        try:
            # Cut before the deadline of the call being served (services.runtime.callers_time), as query's reads
            # are: with the catalog waiting on a hung PostgreSQL, a GetApplication or ApproveApplication whose
            # entry had left the cache waited the read's own 5 s and its caller read DEADLINE_EXCEEDED naming nobody.
            return await self._cache.get(code, not_in_time=no_entry_in_time)
        except grpc.aio.AioRpcError as exc:
            raise ServiceError(grpc.StatusCode.UNAVAILABLE, "CATALOG_UNAVAILABLE",
                               f"the catalog service did not answer ({exc.code().name}); retry") from None
