"""An export whose query process crashed mid-stream is closed as interrupted by the process that finds its lease
run out (services/query/interruptions.py, query migration 021), once, and no live process's export is."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from govshare.query.v1 import audit_pb2
from services.foundation.synthetic import citizen_id_of
from services.query import audit
from services.query.audit import Access, AuditWriter
from services.query.audit_servicer import to_proto
from services.query.interruptions import WriterLease
from services.query.store import AccessFilter, QueryStore
from services.runtime import db
from services.runtime.embedded import EmbeddedServers, create_database
from services.runtime.errors import ServiceError

RESOURCE = "101001/000001"


@pytest.fixture
async def pool(embedded: EmbeddedServers) -> AsyncIterator[asyncpg.Pool]:
    url = await create_database(embedded.database_url, f"govshare_lease_{uuid.uuid4().hex[:8]}")
    await db.migrate(url, "query")
    pool = await db.create_pool(url, "query")
    yield pool
    pool.terminate()  # the writers' own connections too, however the test ended


def opening(writer: AuditWriter) -> Access:
    """An export's opening record, as the servicer writes it once the export is admitted."""
    return Access(operation="Export", system_id="sys-a", department_code="11100000000000001X",
                  resource_code=RESOURCE, key="", keys=[], items=["name"], purpose="ADMINISTRATIVE_BASIS",
                  purpose_text="", trace_id="", time=dt.datetime.now(dt.UTC),
                  provider_department_code="11100000000000002X", result=audit.ANSWERED, id=writer.new_id())


async def replica(pool: asyncpg.Pool) -> tuple[AuditWriter, WriterLease]:
    """A query process's writer and lease, started as the component starts them (its store's own audit
    connection)."""
    store = QueryStore(pool)
    writer = AuditWriter(store.insert_accesses, 1, 100)
    writer.start()
    lease = WriterLease(store, writer)
    await lease.start()
    return writer, lease


async def test_an_export_whose_process_crashed_is_closed_interrupted_once(pool: asyncpg.Pool) -> None:
    store = QueryStore(pool)
    crashed, crashed_lease = await replica(pool)
    cut, whole = opening(crashed), opening(crashed)
    await crashed.record(cut)
    await crashed.record(whole)
    await crashed.record(audit.export_end(whole, 3, 1, None))
    live, live_lease = await replica(pool)
    running = opening(live)
    await live.record(running)
    # The crash: its lease is renewed no more and runs out; nothing closes its export.
    await crashed_lease.stop()
    await crashed.stop()
    await pool.execute("UPDATE audit_writers SET alive_until = now() - interval '1 second' WHERE writer = $1",
                       crashed.name)

    # Two processes find the lapsed lease at once (two started again, another replica's timer): one closing.
    started, other, renewed = await asyncio.gather(replica(pool), replica(pool), live_lease.run_once())
    assert renewed in (0, 1)

    listed = {row["id"]: to_proto(row) for row in await store.list_accesses(AccessFilter(), None, 100)}
    record = listed[cut.id]
    assert (record.result, record.failure_reason, record.rows_sent, record.HasField("end_time")) == (
        audit_pb2.ACCESS_RESULT_FAILED, audit.INTERRUPTED, 0, True)
    assert (listed[whole.id].result, listed[whole.id].rows_sent) == (audit_pb2.ACCESS_RESULT_ANSWERED, 3)
    assert not listed[running.id].HasField("end_time")  # a live process's export is its own to close
    closings = await pool.fetch("SELECT key, deny_reason FROM access_log WHERE operation = 'ExportEnd'")
    assert sorted((r["key"], r["deny_reason"]) for r in closings) == sorted(
        [(cut.id, audit.INTERRUPTED), (whole.id, "")])
    assert crashed.name not in {r["writer"] for r in await pool.fetch("SELECT writer FROM audit_writers")}

    # A process stalled past its lease whose export ends after all: its own closing record is the outcome.
    stalled = opening(live)
    await live.record(stalled)
    await pool.execute("UPDATE audit_writers SET alive_until = now() - interval '1 second' WHERE writer = $1",
                       live.name)
    assert await other[1].run_once() == 2  # running and stalled, presumed interrupted
    await live.record(audit.export_end(stalled, 5, 2, None))
    listed = {row["id"]: to_proto(row) for row in await store.list_accesses(AccessFilter(), None, 100)}
    assert (listed[stalled.id].result, listed[stalled.id].rows_sent) == (audit_pb2.ACCESS_RESULT_ANSWERED, 5)

    # A clean stop drops the lease: nothing is left to close.
    for writer, lease in (started, other, (live, live_lease)):
        await lease.stop()
        await writer.stop()
        await lease.release()
        await lease.store.release_audit_connection()
    await crashed_lease.store.release_audit_connection()
    assert await pool.fetchval("SELECT count(*) FROM audit_writers") == 0


async def test_a_chain_begun_after_a_failed_write_is_named_in_the_lease_with_its_first_records(
        pool: asyncpg.Pool) -> None:
    """The listings follow the chains the leases name (QueryStore.access_page): a writer that began a new chain
    after a failed write named it only at its lease's next renewal, up to 30 s later, and meanwhile a listing
    listed that chain's records twice or, ending then, missed them. The chain is now named by the statement that
    writes its first records, and a renewal carrying the name of before, landing after, keeps it."""
    store = QueryStore(pool)
    failures = [ConnectionResetError("the connection was cut")]

    async def write(rows: list) -> None:
        if failures:
            raise failures.pop()
        await store.insert_accesses(rows)

    writer = AuditWriter(write, 1, 100)
    writer.start()
    lease = WriterLease(store, writer)
    await lease.start()
    try:
        first_chain = writer.chain_id
        with pytest.raises(ServiceError) as refused:
            await writer.record(opening(writer))
        assert refused.value.reason == "AUDIT_UNAVAILABLE"
        assert writer.chain_id != first_chain  # a new chain after the failed write
        await writer.record(opening(writer))
        named = await pool.fetchval("SELECT chain_id FROM audit_writers WHERE writer = $1", writer.name)
        assert named == writer.chain_id
        # A renewal already on its way with the chain of before (read before the write failed) lands after the new
        # chain was named: the older name never replaces the newer; a renewal with the current one keeps it.
        await store.hold_writer(writer.name, 90, first_chain)
        assert await pool.fetchval("SELECT chain_id FROM audit_writers WHERE writer = $1", writer.name) == named
        await lease.run_once()
        assert await pool.fetchval("SELECT chain_id FROM audit_writers WHERE writer = $1", writer.name) == named
    finally:
        await lease.stop()
        await writer.stop()
        await lease.release()
        await store.release_audit_connection()


async def test_an_export_closed_interrupted_vouches_for_its_keys_and_its_stalled_process_sends_no_more(
        pool: asyncpg.Pool) -> None:
    """The closing record another replica writes for an export whose lease ran out vouched for no persons' keys,
    so those kept for it (access_export_keys, outside the chain) could be removed or added unseen, and the process,
    had it only stalled, went on writing keys (and sending their rows) that no record vouched for. The keys are now
    written under the lease the export began under: the closer reads them under the lease's lock and vouches for
    them, and a page after that, even once the process took a lease again, is not written."""
    store = QueryStore(pool)
    stalled, stalled_lease = await replica(pool)
    export = opening(stalled)
    await stalled.record(export)
    began_under = (stalled.name, stalled.lease_taken)
    sent = [citizen_id_of(9_150_001), citizen_id_of(9_150_002)]
    assert sorted(await store.record_export_keys(export.id, export.time, sent, began_under)) == sorted(sent)
    await pool.execute("UPDATE audit_writers SET alive_until = now() - interval '1 second' WHERE writer = $1",
                       stalled.name)
    closer, closer_lease = await replica(pool)  # its start closes the lapsed lease's export
    try:
        closing = await pool.fetchrow("SELECT * FROM access_log WHERE operation = 'ExportEnd' AND key = $1",
                                      export.id)
        assert (closing["deny_reason"], audit.vouched_keys(closing)) == (audit.INTERRUPTED, audit.keys_digest(sent))
        assert audit.sent_counts(closing["keys"]) is None  # the rows and pages that left are not known
        late = [citizen_id_of(9_150_003)]
        assert await store.record_export_keys(export.id, export.time, late, began_under) is None
        await stalled_lease.run_once()  # the stalled process wakes: a lease again, not the export's
        assert stalled.lease_taken != began_under[1]
        assert await store.record_export_keys(export.id, export.time, late, began_under) is None
        kept = await pool.fetch("SELECT key FROM access_export_keys WHERE access_id = $1", export.id)
        assert sorted(row["key"] for row in kept) == sorted(sent)
        listed = {row["id"]: to_proto(row) for row in await store.list_accesses(AccessFilter(), None, 100)}
        assert (listed[export.id].result, listed[export.id].failure_reason, listed[export.id].rows_sent) == (
            audit_pb2.ACCESS_RESULT_FAILED, audit.INTERRUPTED, 0)
    finally:
        for writer, lease in ((stalled, stalled_lease), (closer, closer_lease)):
            await lease.stop()
            await writer.stop()
            await lease.release()
            await lease.store.release_audit_connection()
