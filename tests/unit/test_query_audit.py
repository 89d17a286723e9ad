"""The audit trail: hash chaining, chain verification, tamper detection, and the group-commit writer."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator

import asyncpg
import grpc
import pytest

from services.query import audit
from services.query.audit import GENESIS, Access, AuditWriter, ChainChecker, WriteBatch, chain_hash, clean
from services.query.store import QueryStore
from services.runtime.db import create_pool
from services.runtime.errors import ServiceError


def access(n: int, **changes: object) -> Access:
    values: dict[str, object] = dict(
        operation="Query", system_id="sys-a", department_code="11100000000000001X",
        resource_code="101001/000001", key=f"key-{n}", keys=[], items=["name", "sex"],
        purpose="ADMINISTRATIVE_BASIS", purpose_text=f"case {n}", trace_id="", time=dt.datetime.now(dt.UTC),
        provider_department_code="11100000000000002X", result=audit.ANSWERED)
    values.update(changes)
    return Access(**values)  # type: ignore[arg-type]


def chain(n: int, chain_id: str = "c1") -> list[dict]:
    """``n`` correctly chained rows, as the store returns them."""
    rows, head = [], GENESIS
    for seq in range(1, n + 1):
        a = access(seq)
        values = (f"id-{chain_id}-{seq}", chain_id, seq, a.time, a.system_id, a.department_code, a.resource_code,
                  a.provider_department_code, a.operation, a.items, a.key, a.keys, a.purpose, a.purpose_text,
                  a.result, a.deny_reason, a.trace_id)
        digest = chain_hash(head, values)
        rows.append(dict(zip(audit.COLUMNS, (*values, head, digest), strict=True)))
        head = digest
    return rows


def first_problem(rows: list[dict]) -> tuple[str, str] | None:
    checker = ChainChecker()
    for row in rows:
        problem = checker.check(row)
        if problem is not None:
            return row["id"], problem
    return None


# --- chaining and verification (pure) --------------------------------------------------------

def test_an_intact_chain_verifies() -> None:
    assert first_problem(chain(5)) is None


def test_several_chains_verify_independently() -> None:
    checker = ChainChecker()
    assert all(checker.check(row) is None for row in [*chain(3, "a"), *chain(4, "b")])
    assert checker.chains == 2 and checker.checked == 7


def test_the_hash_covers_every_field_and_the_previous_hash() -> None:
    row = chain(1)[0]
    values = audit.hashed_values(row)
    assert chain_hash(GENESIS, values) == row["hash"]
    assert chain_hash("1" * 64, values) != row["hash"]
    for index in range(len(values)):
        altered = list(values)
        altered[index] = "x" if not isinstance(values[index], int | list) else (
            values[index] + 1 if isinstance(values[index], int) else ["x"])
        if isinstance(values[index], dt.datetime):
            altered[index] = values[index] + dt.timedelta(microseconds=1)
        assert chain_hash(GENESIS, altered) != row["hash"], audit.HASHED[index]


def test_an_altered_row_is_reported() -> None:
    rows = chain(5)
    rows[2]["result"] = audit.DENIED
    bad = first_problem(rows)
    assert bad is not None and bad[0] == rows[2]["id"] and "content" in bad[1]


def test_a_row_rehashed_after_alteration_breaks_the_next_link() -> None:
    rows = chain(5)
    rows[2]["key"] = "someone-else"
    rows[2]["hash"] = chain_hash(rows[2]["prev_hash"], audit.hashed_values(rows[2]))
    bad = first_problem(rows)
    assert bad is not None and bad[0] == rows[3]["id"] and "link" in bad[1]


def test_a_deleted_row_is_reported() -> None:
    rows = chain(5)
    del rows[1]
    bad = first_problem(rows)
    assert bad is not None and bad[0] == rows[1]["id"] and "missing" in bad[1]


def test_a_chain_missing_its_beginning_is_reported() -> None:
    rows = chain(3)[1:]
    bad = first_problem(rows)
    assert bad is not None and bad[0] == rows[0]["id"] and "missing" in bad[1]


def test_clean_bounds_text_and_removes_nul() -> None:
    assert clean("a\x00b") == "a\ufffdb"
    assert len(clean("x" * 10_000)) == audit.MAX_TEXT + 1


def test_errors_map_to_results() -> None:
    denied = access(1)
    denied.fail(ServiceError(grpc.StatusCode.PERMISSION_DENIED, "NOT_GRANTED", "no"))
    assert (denied.result, denied.deny_reason) == (audit.DENIED, "NOT_GRANTED")
    invalid = access(2)
    invalid.fail(ServiceError(grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT", "bad"))
    assert invalid.result == audit.INVALID
    broken = access(3)
    broken.fail(RuntimeError("bug"))
    assert broken.result == audit.FAILED



def test_a_miss_and_an_unknown_resource_are_told_apart_in_the_trail() -> None:
    """A query for a key the provider holds no record of (a miss: someone looked for a person) and one naming a
    resource that does not exist (a typo) were both stored NOT_FOUND with no reason: the auditor listing them
    could not say which was which. The reason is kept and listed as the record's failure_reason."""
    from services.query.audit_servicer import to_proto

    listed = []
    for n, reason in enumerate(("RECORD_NOT_FOUND", "RESOURCE_NOT_FOUND")):
        missed = access(n)
        missed.fail(ServiceError(grpc.StatusCode.NOT_FOUND, reason, "not found"))
        assert (missed.result, missed.deny_reason) == (audit.NOT_FOUND, reason)
        row = {name: getattr(missed, name) for name in audit.HASHED if name not in ("chain_id", "seq")}
        listed.append(to_proto({**row, "end_time": None, "sent": None, "grant_id": ""}))
    assert [(a.result, a.failure_reason, a.deny_reason) for a in listed] == [
        (2, "RECORD_NOT_FOUND", 0), (2, "RESOURCE_NOT_FOUND", 0)]

def test_a_refused_call_recorded_before_its_texts_were_made_safe_is_listed_so() -> None:
    """A record of a call refused INVALID written by an earlier release holds what the call sent whole: an ID
    number sent as the resource code or an item name, a purpose text over two lines. The access list and the
    persons' view show it as the writer keeps one now (audit.as_named), the stored record (and its hash) as it is."""
    from services.query.audit_servicer import _subject_access, to_proto
    from services.runtime.masking import Masker

    number, masked = "11010519491231002X", "110105********002X"
    old = access(1)
    old.fail(ServiceError(grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT", "bad"))
    row = {name: getattr(old, name) for name in audit.HASHED if name not in ("chain_id", "seq")}
    row |= {"resource_code": number, "items": [number, "name"], "purpose_text": f"核查\n户主{number}",
            "end_time": None, "sent": None, "grant_id": ""}
    listed, seen = to_proto(row), _subject_access(row, Masker())
    for shown in (listed, seen):
        assert (shown.resource_code, list(shown.items), shown.purpose_text) == (
            masked, [masked, "name"], f"核查\ufffd户主{masked}"), shown
    answered = {**row, "resource_code": "101001/000001", "items": ["name"], "purpose_text": f"户主{number}"}
    assert to_proto(answered).purpose_text == f"户主{number}"  # evidence: whole to the auditor, as before


def test_records_of_both_formats_verify_and_neither_can_pass_for_the_other() -> None:
    """Records written before they named their grant (format 1) verify beside those that do (format 2), and a
    record's grant or format cannot be changed unseen: the format-2 hash covers both."""
    old = chain(2, "old")
    new_rows: list[dict] = []
    head = GENESIS
    for seq, grant_id in enumerate(("grt-" + "1" * 32, ""), 1):
        a = access(seq, grant_id=grant_id)
        row = {"id": f"id-new-{seq}", "chain_id": "new", "seq": seq, "time": a.time, "system_id": a.system_id,
               "department_code": a.department_code, "resource_code": a.resource_code,
               "provider_department_code": a.provider_department_code, "operation": a.operation, "items": a.items,
               "key": a.key, "keys": a.keys, "purpose": a.purpose, "purpose_text": a.purpose_text,
               "result": a.result, "deny_reason": a.deny_reason, "trace_id": a.trace_id, "prev_hash": head,
               "record_format": audit.RECORD_FORMAT, "grant_id": a.grant_id}
        row["hash"] = head = chain_hash(head, audit.hashed_values(row))
        new_rows.append(row)
    # As stored since query migration 023: the old rows with the columns' defaults.
    stored_old = [{**row, "record_format": 1, "grant_id": ""} for row in old]
    assert first_problem([*old, *new_rows]) is None
    assert first_problem([*stored_old, *new_rows]) is None
    assert audit.hashed_values(stored_old[0]) == audit.hashed_values(old[0])
    regranted = [dict(row) for row in new_rows]
    regranted[0]["grant_id"] = "grt-" + "2" * 32
    assert first_problem(regranted) == ("id-new-1", "chain new record 1: content does not match its hash")
    downgraded = [dict(row) for row in new_rows]
    downgraded[1]["record_format"] = 1
    assert first_problem(downgraded) == ("id-new-2", "chain new record 2: content does not match its hash")
    upgraded = [dict(row) for row in stored_old]
    upgraded[0].update(record_format=2, grant_id="grt-" + "3" * 32)
    assert first_problem(upgraded) == (old[0]["id"], "chain old record 1: content does not match its hash")
    unknown = [dict(row) for row in new_rows]
    unknown[0]["record_format"] = 3
    assert first_problem(unknown) == ("id-new-1", "chain new record 1: record format 3 is not one this release "
                                                  "knows (1, 2)")


async def test_the_writer_records_the_grant_and_a_trail_of_both_formats_verifies(pool: asyncpg.Pool) -> None:
    """The writer stores format-2 records naming the access's grant; a stored chain of format-1 records (as a
    release before query migration 023 wrote them) and the writer's verify together as the store reads them for
    the chain verifier and the archive, and the archive's offline check takes both."""
    from services.query.archive import _check_row, _line

    store = QueryStore(pool)
    legacy_id = uuid.uuid4().hex
    legacy = [tuple(row[name] for name in audit.COLUMNS) for row in chain(2, legacy_id)]
    await pool.copy_records_to_table("access_log", records=legacy, columns=audit.COLUMNS)
    grant_id = "grt-" + "a" * 32
    async with running_writer(store, flush_ms=0.0, batch_max=10) as writer:
        await writer.record(access(1, grant_id=grant_id))
        await writer.record(access(2))  # allowed without a grant (an unconditional resource)
    rows = [*await stored_chain(pool, legacy_id), *await stored_chain(pool, writer.chain_id)]
    assert [(row["record_format"], row["grant_id"]) for row in rows] == [(1, ""), (1, ""), (2, grant_id), (2, "")]
    assert first_problem([dict(row) for row in rows]) is None
    heads: dict = {}
    assert [_check_row(json.loads(_line(row)), heads) for row in rows] == [None] * 4
    # An archive line written before the columns existed (no record_format nor grant_id) still verifies.
    old_line = {k: v for k, v in json.loads(_line(rows[0])).items() if k not in ("record_format", "grant_id")}
    assert _check_row(old_line, {}) is None
    tampered = json.loads(_line(rows[2]))
    tampered["grant_id"] = ""
    assert "content does not match its hash" in (_check_row(tampered, {}) or "")


# --- the group-commit writer against PostgreSQL ----------------------------------------------

@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, "query")
    yield pool
    await pool.close()


async def stored_chain(pool: asyncpg.Pool, chain_id: str) -> list[asyncpg.Record]:
    return await pool.fetch(f"SELECT {', '.join(audit.RECORD_COLUMNS)} FROM access_log WHERE chain_id = $1"
                            " ORDER BY seq",
                            chain_id)


@contextlib.asynccontextmanager
async def running_writer(store: QueryStore, flush_ms: float, batch_max: int,
                         write: WriteBatch | None = None, linger_ms: float = 0.0) -> AsyncIterator[AuditWriter]:
    """A started writer (onto ``store`` unless ``write`` is given), stopped and its connection released after."""
    writer = AuditWriter(write or store.insert_accesses, flush_ms=flush_ms, batch_max=batch_max,
                         linger_ms=linger_ms)
    writer.start()
    try:
        yield writer
    finally:
        await writer.stop()
        await store.release_audit_connection()


def counting(store: QueryStore, batches: list[int]) -> WriteBatch:
    """Writes onto ``store``, noting each batch's size."""
    async def write(rows: list[tuple]) -> None:
        batches.append(len(rows))
        await store.insert_accesses(rows)
    return write


async def test_concurrent_records_are_written_in_few_batches_and_chained(pool: asyncpg.Pool) -> None:
    store, batches = QueryStore(pool), []
    async with running_writer(store, flush_ms=5.0, batch_max=1000, write=counting(store, batches)) as writer:
        ids = await asyncio.gather(*(writer.record(access(n, key=f"k\x00{n}")) for n in range(200)))
    assert len(set(ids)) == 200
    assert sum(batches) == 200 and len(batches) < 20
    rows = await stored_chain(pool, writer.chain_id)
    assert [row["id"] for row in rows] == ids
    assert [row["seq"] for row in rows] == list(range(1, 201))
    assert first_problem([dict(row) for row in rows]) is None
    assert rows[5]["key"] == "k\ufffd5"


async def test_an_idle_writer_writes_at_once_and_batches_still_form(pool: asyncpg.Pool) -> None:
    """With no flush window, what queues while a write is in flight becomes the next batch."""
    store, batches = QueryStore(pool), []
    async with running_writer(store, flush_ms=0.0, batch_max=1000, write=counting(store, batches)) as writer:
        ids = await asyncio.gather(*(writer.record(access(n)) for n in range(100)))
        ids.append(await writer.record(access(100)))
    assert sum(batches) == 101 and len(batches) < 20 and batches[-1] == 1
    rows = await stored_chain(pool, writer.chain_id)
    assert [row["id"] for row in rows] == ids
    assert first_problem([dict(row) for row in rows]) is None


async def test_under_load_the_next_batch_lingers_for_company_and_a_lone_call_does_not_wait(
        pool: asyncpg.Pool) -> None:
    """With a linger, records queued during a write wait for more (here until the batch is full: the linger
    is longer than the test), so a write costs one statement and one commit for several calls; a record
    arriving at an idle writer is still written at once."""
    store, batches = QueryStore(pool), []
    release, writing = asyncio.Event(), asyncio.Event()

    async def write(rows: list[tuple]) -> None:
        batches.append(len(rows))
        if len(batches) == 1:
            writing.set()
            await release.wait()  # the first write is in flight while the load arrives
        await store.insert_accesses(rows)

    async with running_writer(store, flush_ms=0.0, batch_max=3, write=write, linger_ms=600_000.0) as writer:
        first = asyncio.ensure_future(writer.record(access(0)))
        await asyncio.wait_for(writing.wait(), 30)
        queued = [asyncio.ensure_future(writer.record(access(1)))]
        release.set()
        await first
        for _ in range(20):  # the writer is lingering; nothing more is written until company arrives
            await asyncio.sleep(0)
        assert batches == [1]
        queued += [asyncio.ensure_future(writer.record(access(n))) for n in (2, 3)]
        await asyncio.wait_for(asyncio.gather(*queued), 30)
        await asyncio.wait_for(writer.record(access(4)), 30)  # idle again: written at once
    assert batches == [1, 3, 1]


async def test_batches_never_exceed_the_maximum(pool: asyncpg.Pool) -> None:
    store, batches = QueryStore(pool), []
    async with running_writer(store, flush_ms=50.0, batch_max=7, write=counting(store, batches)) as writer:
        await asyncio.gather(*(writer.record(access(n)) for n in range(30)))
    assert max(batches) <= 7 and sum(batches) == 30


async def test_a_tampered_row_fails_verification_in_the_database(pool: asyncpg.Pool) -> None:
    async with running_writer(QueryStore(pool), flush_ms=1.0, batch_max=100) as writer:
        ids = [await writer.record(access(n)) for n in range(4)]
    await pool.execute("UPDATE access_log SET result = 'DENIED' WHERE id = $1", ids[2])
    try:
        bad = first_problem([dict(row) for row in await stored_chain(pool, writer.chain_id)])
        assert bad is not None and bad[0] == ids[2]
    finally:
        await pool.execute("UPDATE access_log SET result = 'ANSWERED' WHERE id = $1", ids[2])
    assert first_problem([dict(row) for row in await stored_chain(pool, writer.chain_id)]) is None


async def test_a_failed_write_fails_its_callers_and_starts_a_new_chain(
        pool: asyncpg.Pool, caplog: pytest.LogCaptureFixture) -> None:
    store = QueryStore(pool)
    failing = True

    async def write(rows: list[tuple]) -> None:
        if failing:
            raise ConnectionError("database went away")
        await store.insert_accesses(rows)

    async with running_writer(store, flush_ms=1.0, batch_max=100, write=write) as writer:
        broken_chain = writer.chain_id
        with pytest.raises(ServiceError) as failure:
            await writer.record(access(1))
        assert failure.value.code == grpc.StatusCode.UNAVAILABLE
        # One record is "1 record" (the log said "audit write of 1 records failed" at every call of an outage).
        assert "audit write of 1 record failed (ConnectionError); starting a new chain" in caplog.messages
        failing = False
        await writer.record(access(2))
        await writer.record(access(3))
    assert writer.chain_id != broken_chain
    rows = await stored_chain(pool, writer.chain_id)
    assert [row["seq"] for row in rows] == [1, 2]
    assert first_problem([dict(row) for row in rows]) is None


async def test_stop_writes_everything_queued_and_then_refuses(pool: asyncpg.Pool) -> None:
    store = QueryStore(pool)
    writer = AuditWriter(store.insert_accesses, flush_ms=200.0, batch_max=1000)
    writer.start()
    futures = [writer.submit(access(n)) for n in range(10)]
    await writer.stop()
    await store.release_audit_connection()
    assert all(f.done() and f.exception() is None for f in futures)
    assert len(await stored_chain(pool, writer.chain_id)) == 10
    with pytest.raises(ServiceError):
        writer.submit(access(11))


async def test_a_cancelled_caller_still_gets_its_record(pool: asyncpg.Pool) -> None:
    async with running_writer(QueryStore(pool), flush_ms=20.0, batch_max=1000) as writer:
        task = asyncio.create_task(writer.record(access(1)))
        await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        writer.submit_detached(access(2))
    assert len(await stored_chain(pool, writer.chain_id)) == 2


async def test_a_dropped_database_connection_fails_at_most_one_batch_then_recovers(pool: asyncpg.Pool) -> None:
    async with running_writer(QueryStore(pool), flush_ms=1.0, batch_max=100) as writer:
        await writer.record(access(1))
        first_chain = writer.chain_id
        writer_pid = await pool.fetchval(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle'"
            " AND query LIKE 'INSERT INTO access_log%' ORDER BY backend_start DESC LIMIT 1")
        await pool.execute("SELECT pg_terminate_backend($1)", writer_pid)
        try:
            await writer.record(access(2))
            failed = False  # the loss was seen before the batch: it went out on a new connection (8991efb)
        except ServiceError:
            failed = True  # the loss was seen only by the write: that batch failed, and the chain was broken off
        await writer.record(access(3))
    assert first_problem([dict(row) for row in await stored_chain(pool, first_chain)]) is None
    if failed:
        assert writer.chain_id != first_chain
        assert [row["seq"] for row in await stored_chain(pool, writer.chain_id)] == [1]
    else:
        assert writer.chain_id == first_chain
        assert [row["seq"] for row in await stored_chain(pool, first_chain)] == [1, 2, 3]


def test_every_result_the_trail_stores_has_its_own_value_in_the_contract() -> None:
    """An auditor listing accesses must tell a failure from the other outcomes, never see UNSPECIFIED."""
    from govshare.query.v1 import audit_pb2
    from services.query.audit_servicer import to_proto

    row = {"id": "a-1", "time": dt.datetime.now(dt.UTC), "system_id": "sys", "department_code": "d",
           "resource_code": "101001/000001", "provider_department_code": "p", "operation": "Query",
           "items": ["name"], "key": "k", "purpose": "WORK_REFERENCE", "purpose_text": "", "deny_reason": "",
           "trace_id": "", "end_time": None, "sent": None, "grant_id": ""}
    stored = (audit.ANSWERED, audit.NOT_FOUND, audit.DENIED, audit.INVALID, audit.FAILED)
    listed = {result: to_proto({**row, "result": result}).result for result in stored}
    assert listed[audit.FAILED] == audit_pb2.ACCESS_RESULT_FAILED
    assert audit_pb2.ACCESS_RESULT_UNSPECIFIED not in listed.values()
    assert len(set(listed.values())) == len(stored)


async def test_the_wait_for_a_durable_record_is_measured_from_queueing_to_the_commit(pool: asyncpg.Pool) -> None:
    """govshare_audit_wait_seconds counts each answered record once, with the time its caller was held back
    (here a write held open), so an operator can tell the audit trail's share of a Query's latency."""
    from services.runtime.telemetry import AUDIT_WAIT

    store = QueryStore(pool)
    release = asyncio.Event()

    async def write(rows: list[tuple]) -> None:
        await release.wait()
        await store.insert_accesses(rows)

    def observed() -> tuple[float, float]:
        samples = {sample.name: sample.value for metric in AUDIT_WAIT.collect() for sample in metric.samples}
        return samples["govshare_audit_wait_seconds_count"], samples["govshare_audit_wait_seconds_sum"]

    count, total = observed()
    async with running_writer(store, flush_ms=0.0, batch_max=10, write=write) as writer:
        recorded = asyncio.ensure_future(writer.record(access(0)))
        await asyncio.sleep(0.05)
        release.set()
        await recorded
    after_count, after_total = observed()
    assert after_count == count + 1
    assert after_total - total >= 0.05


# --- health follows the audit trail's writes ---------------------------------------------------


class _Answering:
    """A DatabaseProbe whose database always answers SELECT 1 (a full disk does not stop reads), which notes the
    readiness health said before each check and runs ``before`` ahead of the check numbered in it."""

    def __init__(self, health: object, before: dict[int, object], checks: int) -> None:
        self._health = health
        self._before = before
        self._checks = checks
        self.seen: list[int] = []
        self.done = asyncio.Event()

    async def problem(self, within: float) -> BaseException | None:
        from grpc_health.v1 import health_pb2

        if len(self.seen) == self._checks:
            self.done.set()
            await asyncio.Event().wait()  # until the watch is cancelled
        step = self._before.get(len(self.seen))
        if step is not None:
            await step()  # type: ignore[operator]
        self.seen.append((await self._health.Check(health_pb2.HealthCheckRequest(), None)).status)  # type: ignore[attr-defined]
        return None

    def close(self) -> None:
        pass


async def test_health_says_not_serving_while_audit_writes_fail_and_serving_once_a_probe_is_written(
        caplog: pytest.LogCaptureFixture) -> None:
    """PostgreSQL's disk full: it answers SELECT 1, and every audit write fails, so every query was refused
    AUDIT_UNAVAILABLE while health said SERVING and load balancers kept sending callers there. Now health says
    NOT_SERVING once the writes fail (two checks in a row, each writing a probe record that fails), and, with
    no call reaching the replica, a probe record written once the disk has room says SERVING again. A trail
    that works is never probed."""
    from grpc_health.v1 import health_pb2

    from services.runtime.server import DrainingHealthServicer, watch_database

    disk_full = False
    written: list[tuple] = []

    async def write(rows: list[tuple]) -> None:
        if disk_full:
            raise asyncpg.exceptions.DiskFullError("could not extend file: No space left on device")
        written.extend(rows)

    writer = AuditWriter(write, flush_ms=0, batch_max=100)
    writer.start()

    async def fill_the_disk() -> None:
        nonlocal disk_full
        disk_full = True
        with pytest.raises(ServiceError) as refused:  # a call's record
            await writer.record(access(1))
        assert refused.value.reason == "AUDIT_UNAVAILABLE"

    async def free_space() -> None:
        nonlocal disk_full
        disk_full = False

    class Component:
        name = "query"
        service_names = ("govshare.query.v1.QueryService",)
        write_problem = writer.write_problem

    health = DrainingHealthServicer()
    for name in ("", *Component.service_names):
        await health.set(name, health_pb2.HealthCheckResponse.SERVING)
    database = _Answering(health, {2: fill_the_disk, 5: free_space}, checks=7)
    watch = asyncio.create_task(watch_database(database, Component(), health, interval=0))  # type: ignore[arg-type]
    try:
        await asyncio.wait_for(database.done.wait(), 10)
    finally:
        watch.cancel()
        await writer.stop()
    serving, not_serving = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING
    assert database.seen == [serving] * 4 + [not_serving] * 2 + [serving]
    operations = [row[audit.RECORD_COLUMNS.index("operation")] for row in written]
    assert operations == [audit.AUDIT_PROBE]  # none while the trail worked, one to say it works again
    assert "query: postgresql took no writes for 2 checks in a row (AuditWriteFailed: DiskFullError 53100)" \
        in caplog.text


async def test_a_persons_view_lookup_its_portal_left_is_recorded_cancelled() -> None:
    """Every lookup of the persons' view is audited, refusals included; one whose portal went away (its deadline
    passed) while the person's accesses were being read left no record at all. It is recorded FAILED CANCELLED,
    as a query is."""
    from types import SimpleNamespace

    from govshare.common.v1 import common_pb2
    from govshare.query.v1 import audit_pb2
    from services.query.audit_servicer import AuditServicer
    from services.runtime.identity import Caller

    written: list[tuple] = []

    async def write(rows: list[tuple]) -> None:
        written.extend(rows)

    writer = AuditWriter(write, flush_ms=0, batch_max=100)
    writer.start()
    reading = asyncio.Event()

    async def require_portal(caller: Caller) -> None:
        reading.set()
        await asyncio.Event().wait()  # the portal's deadline passes while it is read

    portal = Caller("sys-portal", "11100000000000003X")
    servicer = AuditServicer(SimpleNamespace(from_context=lambda context: portal))  # type: ignore[arg-type]
    servicer.deps = SimpleNamespace(audit=writer, subjects=SimpleNamespace(require_portal=require_portal))  # type: ignore[assignment]
    lookup = asyncio.create_task(servicer.ListSubjectAccesses(audit_pb2.ListSubjectAccessesRequest(
        citizen_id="11010519491231002X", purpose=common_pb2.Purpose(
            type=common_pb2.PURPOSE_TYPE_BUSINESS_COLLABORATION, text="个人信息查阅申请")), None))  # type: ignore[arg-type]
    await asyncio.wait_for(reading.wait(), 5)
    lookup.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await lookup
    await writer.stop()
    recorded = [dict(zip(audit.RECORD_COLUMNS, row, strict=True)) for row in written]
    assert [(r["operation"], r["system_id"], r["key"], r["result"], r["deny_reason"]) for r in recorded] == [
        ("SubjectLookup", "sys-portal", "11010519491231002X", audit.FAILED, audit.CANCELLED)]
