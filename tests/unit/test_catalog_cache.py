"""services.runtime.catalog_client.CatalogCache against a catalog served over a real socket.

The catalog's change events reach the cache while a read of the same entry may be under way: what that read brings
back predates the change, and must neither be kept nor handed to a caller that comes after the change.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio

from govshare.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from services.runtime.catalog_client import CatalogCache
from services.runtime.identity import AssertionSigner, service_caller

pytestmark = pytest.mark.asyncio

CODE = "101001/000001"


class _Catalog(catalog_pb2_grpc.CatalogServiceServicer):
    """GetEntry answers the entry in the state it had when the read began, once ``gate`` is open."""

    def __init__(self) -> None:
        self.state = catalog_pb2.ENTRY_STATE_SUBMITTED
        self.gate = asyncio.Event()
        self.reads = 0
        self.reading = asyncio.Event()

    async def GetEntry(self, request: catalog_pb2.GetEntryRequest,
                       context: grpc.aio.ServicerContext) -> catalog_pb2.GetEntryResponse:
        state = self.state
        self.reads += 1
        self.reading.set()
        await self.gate.wait()
        return catalog_pb2.GetEntryResponse(entry=catalog_pb2.Entry(code=request.code, version=1, state=state))


@pytest_asyncio.fixture(loop_scope="session")
async def served() -> AsyncIterator[tuple[_Catalog, CatalogCache]]:
    catalog = _Catalog()
    server = grpc.aio.server()
    catalog_pb2_grpc.add_CatalogServiceServicer_to_server(catalog, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield catalog, CatalogCache(channel, AssertionSigner(b"k" * 32), service_caller("authorization"))
    finally:
        await channel.close()
        await server.stop(0)


async def test_an_entry_read_before_its_publication_is_not_kept_after_it(served) -> None:  # type: ignore[no-untyped-def]
    """A read under way when the entry was published (authorization reads an entry on each of its change events,
    the submitted version's among them) stored 'no such entry' after the publication's event had dropped it: the
    entry just published was NOT_FOUND to SubmitApplication for the cache's minute."""
    catalog, cache = served
    before = asyncio.create_task(cache.get(CODE))
    await catalog.reading.wait()
    catalog.state = catalog_pb2.ENTRY_STATE_PUBLISHED
    cache.on_event({"code": CODE})  # the publication's change event, heard while the read is under way
    after = asyncio.create_task(cache.get(CODE))  # a caller after the event does not share the read begun before
    catalog.gate.set()
    assert await before is None  # read as the submitted version: not yet published, for the caller before
    entry = await after
    assert entry is not None and entry.state == catalog_pb2.ENTRY_STATE_PUBLISHED
    assert (await cache.get(CODE)) is entry and catalog.reads == 2  # the published entry is the one kept


async def test_every_entry_is_read_again_after_a_resynchronisation(served) -> None:  # type: ignore[no-untyped-def]
    """invalidate() without a code (events may have been lost) drops what is being read too."""
    catalog, cache = served
    before = asyncio.create_task(cache.get(CODE))
    await catalog.reading.wait()
    catalog.state = catalog_pb2.ENTRY_STATE_PUBLISHED
    cache.invalidate()
    catalog.gate.set()
    assert await before is None
    entry = await cache.get(CODE)
    assert entry is not None and entry.state == catalog_pb2.ENTRY_STATE_PUBLISHED and catalog.reads == 2
