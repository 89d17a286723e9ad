"""Issue 14: a process runs at most GOVSHARE_HEAVY_READ_CONCURRENCY heavy reads (listings and searches of up to
1,000 rows) at once, GOVSHARE_HEAVY_READ_QUEUE more waiting; past that a heavy read is refused at once with
RESOURCE_EXHAUSTED and a retry hint, while the other RPCs are served as usual. Over a real catalog server: its one
heavy read in progress is held on a lock another connection holds on the entries table."""

from __future__ import annotations

import asyncio

import asyncpg
import grpc
import pytest
from caller_metadata import CallerMetadata

from govshare.catalog.v1 import catalog_pb2 as pb
from govshare.catalog.v1 import catalog_pb2_grpc
from services.catalog.component import create_component
from services.runtime.errors import details_of, retry_info_of
from services.runtime.identity import Caller
from services.runtime.server import start_server
from services.runtime.settings import Settings

pytestmark = pytest.mark.integration

AUTHORITY = Caller("sys-authority", "11100000MB0143820E", authority=True)


async def _until_a_listing_waits_for_the_lock(url: str) -> None:
    observer = await asyncpg.connect(url)
    try:
        for _ in range(400):  # a bounded poll
            if await observer.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock' AND application_name LIKE 'govshare-catalog-listing%'"):
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the listing never waited for the lock")
    finally:
        await observer.close()


async def test_past_its_cap_a_heavy_read_is_refused_at_once_and_the_rest_is_served(
        base_settings: Settings, database_url: str) -> None:
    settings = base_settings.with_overrides(component="catalog", zone="intranet", listen="127.0.0.1:0",
                                            heavy_read_concurrency=1, heavy_read_queue=0,
                                            db_listing_timeout_ms=60_000)
    running = await start_server(settings, create_component(settings))
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    stub, metadata = catalog_pb2_grpc.CatalogServiceStub(channel), CallerMetadata.of(settings).metadata(AUTHORITY)
    holder = await asyncpg.connect(database_url)
    try:
        transaction = holder.transaction()
        await transaction.start()
        await holder.execute("LOCK TABLE catalog.entries IN ACCESS EXCLUSIVE MODE")
        first = asyncio.ensure_future(stub.ListEntries(pb.ListEntriesRequest(page_size=5), metadata=metadata,
                                                       timeout=60))
        await _until_a_listing_waits_for_the_lock(database_url)
        for call in (lambda: stub.ListEntries(pb.ListEntriesRequest(page_size=5), metadata=metadata, timeout=10),
                     lambda: stub.SearchEntries(pb.SearchEntriesRequest(query="人口"), metadata=metadata, timeout=10)):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await call()
            error = refused.value
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, (error.code(), error.details())
            info, _ = details_of(error)
            assert info is not None and info.reason == "HEAVY_READS_BUSY"
            assert "retry" in (error.details() or "")
            retry = retry_info_of(error)
            assert retry is not None and retry.retry_delay.ToTimedelta().total_seconds() > 0
        # Another kind of work is not held up by the heavy reads' cap.
        await stub.ListOverdueUpdates(pb.ListOverdueUpdatesRequest(page_size=5), metadata=metadata, timeout=10)
        await transaction.rollback()
        await first  # the heavy read in progress ends as usual
        await stub.ListEntries(pb.ListEntriesRequest(page_size=5), metadata=metadata, timeout=10)
    finally:
        await holder.close()
        await channel.close()
        await running.stop(0)
