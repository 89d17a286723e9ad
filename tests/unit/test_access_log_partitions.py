"""The access log partitioned by month (issue 13): the migration converts a filled table in place (rows and
chains unchanged), the service keeps the coming months' partitions, every listing filter has its index, and the
usage summary reads whole days from the daily counts."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import json
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.client import run_verify_archive
from services.query import archive as archive_module
from services.query import audit, figures
from services.query.archive import signed_bytes, verify_file, verify_files, write_file
from services.query.audit import GENESIS, ChainChecker, chain_hash
from services.query.checkpoints import (
    INTACT,
    ChainAuditor,
    CheckpointSigner,
    CheckpointVerifier,
    Head,
    key_id,
    public_pem,
)
from services.query.partitions import MONTHS_AHEAD, PartitionKeeper, Retention, month_start
from services.query.store import AccessFilter, QueryStore
from services.runtime import db
from services.runtime.embedded import EmbeddedServers, create_database

CST = figures.CST
HASH = audit.COLUMNS.index("hash")
PROVIDER = "11100000000000002X"


def chained(times: list[dt.datetime], chain_id: str, department: str = "11100000000000001X",
            result: str = audit.ANSWERED, record_format: int = audit.RECORD_FORMAT) -> list[tuple]:
    """Rows as the writer stores them (RECORD_COLUMNS), chained in order; ``record_format`` 1: as a writer before
    query migration 023 stored them (COLUMNS)."""
    rows, head = [], GENESIS
    for seq, time in enumerate(times, 1):
        values = (uuid.uuid4().hex, chain_id, seq, time, "sys-a", department, "101001/000001", PROVIDER, "Query",
                  ["name"], f"key-{seq}", [], "ADMINISTRATIVE_BASIS", "", result, "", "")
        grant = (record_format, f"grt-{seq:032x}") if record_format > 1 else ()
        digest = chain_hash(head, (*values, *grant))
        rows.append((*values, head, digest, *grant))
        head = digest
    return rows


@pytest.fixture
async def old_schema(embedded: EmbeddedServers) -> AsyncIterator[str]:
    """A fresh database whose query schema stops before the partitioning migration."""
    url = await create_database(embedded.database_url, f"govshare_part_{uuid.uuid4().hex[:8]}")
    await db.migrate(url, "query", before="008")
    yield url


async def test_the_migration_partitions_a_filled_access_log_by_month_keeping_rows_and_chains(
        old_schema: str) -> None:
    times = [dt.datetime(2025, 1, 31, 15, 59, tzinfo=dt.UTC),   # 23:59 CST, still January
             dt.datetime(2025, 1, 31, 16, 0, tzinfo=dt.UTC),    # midnight CST: February
             dt.datetime(2025, 2, 20, tzinfo=dt.UTC)]
    rows = chained(times, "c" * 32, record_format=1)
    conn = await asyncpg.connect(old_schema, server_settings={"search_path": "query"})
    try:
        await conn.copy_records_to_table("access_log", records=rows, columns=audit.COLUMNS)
        applied = await db.migrate(old_schema, "query")
        assert applied[0] == "008_access_log_partitions.sql" and all(name > "008" for name in applied)
        assert await conn.fetchval("SELECT relkind FROM pg_class WHERE oid = 'access_log'::regclass") == b"p"
        now = dt.datetime.now(CST).date()
        by_partition = {r["p"]: r["n"] for r in await conn.fetch(
            "SELECT tableoid::regclass::text AS p, count(*) AS n FROM access_log GROUP BY 1")}
        assert by_partition == {"access_log_202501": 1, "access_log_202502": 2}
        partitions = {r["relname"] for r in await conn.fetch(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'access_log'::regclass")}
        assert {f"access_log_{month_start(now, n):%Y%m}" for n in (0, 1)} <= partitions
        stored = await conn.fetch(f"SELECT {', '.join(audit.COLUMNS)} FROM access_log ORDER BY chain_id, seq")
    finally:
        await conn.close()
    assert [tuple(r) for r in stored] == rows
    checker = ChainChecker()
    assert [checker.check(r) for r in stored] == [None, None, None]


async def test_the_service_creates_the_coming_months_before_a_write_needs_them(old_schema: str) -> None:
    await db.migrate(old_schema, "query")
    pool = await db.create_pool(old_schema, "query")
    store = QueryStore(pool)
    try:
        later = dt.datetime(2031, 11, 30, 17, tzinfo=dt.UTC)  # 2031-12-01 01:00 CST
        (row,) = chained([later], "d" * 32)
        with pytest.raises(asyncpg.PostgresError):  # no partition holds December 2031 yet
            await store.insert_accesses([row])
        keeper = PartitionKeeper(store, 3600, clock=lambda: later)
        names = await keeper.run_once()
        assert names == ["access_log_203112", "access_log_203201", "access_log_203202"][:MONTHS_AHEAD + 1]
        assert await keeper.run_once() == names  # again: nothing to do, no error
        # Last month's usage sums are ready before any summary asks.
        assert await pool.fetchval("SELECT month FROM access_usage_months") == dt.date(2031, 11, 1)
        await store.insert_accesses([row])
        assert await pool.fetchval("SELECT tableoid::regclass::text FROM access_log WHERE id = $1",
                                   row[0]) == "access_log_203112"
    finally:
        await store.release_audit_connection()
        await pool.close()



async def test_replicas_starting_at_once_each_create_the_coming_months(old_schema: str) -> None:
    """Two query replicas starting together (a helm install, a rollout) both find next months' partitions missing:
    the second waits for the first's instead of failing its start with 'relation … already exists'."""
    await db.migrate(old_schema, "query")
    pools = [await db.create_pool(old_schema, "query", min_size=1, max_size=2) for _ in range(3)]
    try:
        for month in range(1, 4):
            later = dt.datetime(2033, month, 2, tzinfo=dt.UTC)
            keepers = [PartitionKeeper(QueryStore(pool), 3600, clock=lambda later=later: later) for pool in pools]
            names = await asyncio.gather(*(keeper.run_once() for keeper in keepers))
            assert names == [names[0]] * len(pools) and names[0][0] == f"access_log_2033{month:02}"
    finally:
        await asyncio.gather(*(pool.close() for pool in pools))

@pytest.mark.parametrize(("scope", "index"), [
    (AccessFilter(department_code="X"), "department_code_time_id_idx"),
    (AccessFilter(provider=PROVIDER, department_code="X"), "provider_department_code_department_code_"),
    (AccessFilter(provider="Y", resource_code="101001/000001"), "provider_department_code_resource_code_"),
    (AccessFilter(resource_code="101001/000001", department_code="X"), "resource_code_department_code_time_"),
])
async def test_every_listing_filter_reads_its_own_index(old_schema: str, scope: AccessFilter, index: str) -> None:
    """A filter that matches nothing must not walk another filter's index to find so (3.7 s at 10^7 rows)."""
    await db.migrate(old_schema, "query")
    conn = await asyncpg.connect(old_schema, server_settings={"search_path": "query"})
    try:
        await conn.execute("SET enable_seqscan = off")
        await conn.execute("SET enable_sort = off")
        captured: list[str] = []
        store = QueryStore(_Explaining(conn, captured))  # type: ignore[arg-type]
        await store.list_accesses(scope, None, 51)
        plan = json.loads(captured[0])
        scans = _scans(plan[0]["Plan"])
        assert scans, plan
        for scan in scans:  # every partition's rows found by the filter's own index, none read and thrown away
            if scan["Index Name"].startswith(f"{scan['Relation Name']}_key_time"):
                continue  # an export's closing record, looked up by its key (query migration 018)
            assert scan["Index Name"].startswith(f"{scan['Relation Name']}_{index}"), scan
            # but the closing records of exports and the probes of the trail, which the listing does not show apart
            assert scan.get("Filter", _NEITHER_CLOSING_NOR_PROBE) == _NEITHER_CLOSING_NOR_PROBE, scan
    finally:
        await conn.close()


_NEITHER_CLOSING_NOR_PROBE = "(operation <> ALL ('{ExportEnd,AuditProbe}'::text[]))"


def _scans(node: dict) -> list[dict]:
    found = [node] if "Index Name" in node else []
    for child in node.get("Plans", []):
        found += _scans(child)
    return found


class _Explaining:
    """A stand-in pool that runs a listing's statement under EXPLAIN on a real connection and keeps the plan."""

    def __init__(self, conn: asyncpg.Connection, captured: list[str]) -> None:
        self._conn, self._captured = conn, captured

    async def fetch(self, query: str, *args: object) -> list:
        self._captured.append(await self._conn.fetchval(f"EXPLAIN (FORMAT JSON) {query}", *args))
        return []


async def test_the_usage_summary_reads_whole_days_from_the_daily_counts(old_schema: str) -> None:
    """Once a day is counted, the summary no longer reads its rows: they can be archived and dropped, and a
    year costs what a day does."""
    await db.migrate(old_schema, "query")
    pool = await db.create_pool(old_schema, "query")
    try:
        store = QueryStore(pool)
        day = dt.datetime(2026, 3, 10, tzinfo=CST)
        await store.ensure_partition(day.date())
        rows = chained([day + dt.timedelta(hours=h) for h in (1, 2, 3)], "e" * 32)
        await store.insert_accesses(rows)
        await store.release_audit_connection()
        now = day + dt.timedelta(days=3)
        scope = AccessFilter(provider=PROVIDER, start=day, end=day + dt.timedelta(days=1))
        expected = [{"resource_code": "101001/000001", "department_code": "11100000000000001X",
                     "purpose": "ADMINISTRATIVE_BASIS", "answered": 3, "denied": 0, "not_found": 0, "invalid": 0,
                     "failed": 0}]
        assert await figures.usage_summary(store, scope, now) == expected
        await pool.execute("DELETE FROM access_log WHERE chain_id = $1", "e" * 32)  # as an archived month
        assert await figures.usage_summary(store, scope, now) == expected
        assert await figures.usage_summary(store, AccessFilter(provider="other", start=day, end=now), now) == []
    finally:
        await pool.close()


# --- retention: archive a month as a signed file, verify it offline, drop it --------------------------------


async def test_an_archived_month_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    """Each line of an archive names whom an access was about (its key, a 公民身份号码) and who read the record:
    the file was written with the umask's mode (0644), readable by every account on the machine."""
    january = dt.datetime(2025, 1, 10, tzinfo=CST)
    rows = [dict(zip(audit.RECORD_COLUMNS, row, strict=True)) for row in chained([january], "a" * 32)]

    async def stream() -> AsyncIterator[dict]:
        for row in rows:
            yield row

    path = tmp_path / "access_log_202501.jsonl"
    written = await write_file(path, "access_log_202501", january, january + dt.timedelta(days=31), stream(),
                               Ed25519PrivateKey.generate())
    assert written.rows == 1
    assert path.stat().st_mode & 0o777 == 0o600


def _verify_archive_cli(path: Path, content: bytes, key: Ed25519PrivateKey) -> int:
    """`govshare audit verify-archive` of ``content`` written at ``path``, trusting ``key``: its exit status."""
    public = path.with_name("audit.pub.pem")
    public.write_text(public_pem(key.public_key()), encoding="utf-8")
    path.write_bytes(content)
    return run_verify_archive(path, [public])


async def archived_january(path: Path, key: Ed25519PrivateKey) -> bytes:
    """A signed archive of two January records at ``path`` (no database): its bytes."""
    january = dt.datetime(2025, 1, 10, tzinfo=CST)
    rows = [dict(zip(audit.RECORD_COLUMNS, row, strict=True))
            for row in chained([january, january + dt.timedelta(days=1)], "a" * 32)]

    async def stream() -> AsyncIterator[dict]:
        for row in rows:
            yield row

    await write_file(path, "access_log_202501", january, january + dt.timedelta(days=31), stream(), key)
    return await asyncio.to_thread(path.read_bytes)


async def test_a_record_appended_after_an_archives_trailer_is_reported(tmp_path: Path) -> None:
    """The signature covers what comes before the trailer; verify-archive stopped reading at the trailer, so a
    record made up and appended to a signed month (naming a department that never read it) verified clean."""
    key = Ed25519PrivateKey.generate()
    path = tmp_path / "access_log_202501.jsonl"
    signed = await archived_january(path, key)
    lines = signed.splitlines(keepends=True)
    assert verify_file(lines, [key.public_key()]) == (2, [])
    made_up = lines[1].replace(b'"key-1"', b'"key-9"')
    _, problems = verify_file([*lines, made_up, b"\n"], [key.public_key()])
    assert problems == ["line 5: follows the trailer, so the signature does not cover it (added after the file "
                        "was signed)"]
    assert _verify_archive_cli(path, signed + made_up, key) == 1


async def test_an_archive_with_a_malformed_trailer_is_reported_not_a_traceback(tmp_path: Path) -> None:
    """A trailer that is no object ended verify-archive in an AttributeError traceback; one of a trusted key that
    lost its record count was said to be signed by an untrusted key."""
    key = Ed25519PrivateKey.generate()
    lines = (await archived_january(tmp_path / "access_log_202501.jsonl", key)).splitlines(keepends=True)
    altered = ("the trailer is not the signed one (an object of rows, sha256, key_id and signature): the file was "
               "altered")
    for trailer in (b'{"trailer": 5}\n', b'{"trailer": null}\n', b'{"trailer": ["rows"]}\n'):
        assert verify_file([*lines[:-1], trailer], [key.public_key()]) == (2, [altered])
    signed = json.loads(lines[-1])["trailer"]
    del signed["rows"]
    _, problems = verify_file([*lines[:-1], json.dumps({"trailer": signed}).encode()], [key.public_key()])
    assert problems == ["the signature does not match the trailer", "the trailer counts None records, the file holds 2"]
    public = tmp_path / "audit.pub.pem"
    public.write_text(public_pem(key.public_key()), encoding="utf-8")
    (tmp_path / "access_log_202501.jsonl").write_bytes(b"".join([*lines[:-1], b'{"trailer": 5}\n']))
    assert run_verify_archive(tmp_path / "access_log_202501.jsonl", [public]) == 1


async def test_an_archived_record_whose_chain_id_is_no_text_is_reported_not_a_traceback(tmp_path: Path) -> None:
    """A record line altered to hold a list or an object as its chain id ended verify-archive in a TypeError
    traceback (unhashable type), which told the auditor nothing of which line of the month was altered."""
    key = Ed25519PrivateKey.generate()
    path = tmp_path / "access_log_202501.jsonl"
    lines = (await archived_january(path, key)).splitlines(keepends=True)
    for chain_id, seq in (([1], 2), ({"a": 1}, 2), ("a" * 32, [2])):
        record = json.loads(lines[2])
        record["chain_id"], record["seq"] = chain_id, seq
        altered = [*lines[:2], json.dumps(record).encode() + b"\n", *lines[3:]]
        assert verify_file(altered, [key.public_key()]) == (
            2, ["line 3: not an access record", "the records are not those the signature covers (digest differs)"])
    assert _verify_archive_cli(path, b"".join(altered), key) == 1


async def test_an_archive_altered_to_hold_personal_data_or_a_long_text_is_reported_without_repeating_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """verify-archive named an altered record's chain, an export's access id, the header's partition, the trailer's
    key id and record count as the file held them: a line edited to hold a 公民身份号码, a mobile number or a
    megabyte of text had the auditor's terminal (and whatever it is copied into) repeat it. A name not of the
    writer's form is described, never printed; the writer's own still are."""
    key = Ed25519PrivateKey.generate()
    path = tmp_path / "access_log_202501.jsonl"
    lines = (await archived_january(path, key)).splitlines(keepends=True)
    citizen, mobile, long_text = "11010519491231002X", "13812345678", "张三" * 5000
    for value in (citizen, mobile, long_text, f"chain-{citizen}"):
        record = json.loads(lines[2])
        record["chain_id"] = value
        header = {**json.loads(lines[0]), "partition": value}
        trailer = json.loads(lines[-1])
        trailer["trailer"].update(key_id=value, rows=value)
        altered = [json.dumps(header).encode() + b"\n", lines[1], json.dumps(record).encode() + b"\n",
                   json.dumps(trailer).encode() + b"\n"]
        _, problems = verify_file(altered, [key.public_key()], "access_log_202501")
        closing = {**json.loads(lines[2]), "operation": audit.EXPORT_END, "key": value, "keys": ["", "", "1", "x"]}
        tally = archive_module.ExportTally(openings={value}, vouched={value: (1, "x", "")})
        problems += [*tally.problems(), audit.export_keys_problem({**closing, "kept_export_keys": (0, "")})]
        assert len(problems) >= 6, problems
        for problem in problems:
            assert value not in problem and citizen not in problem and mobile not in problem, problem
            assert len(problem) < 400, problem
        assert any(f"not shown: a text of {len(value)} characters" in problem for problem in problems), problems
        assert _verify_archive_cli(path, b"".join(altered), key) == 1
        assert value not in capsys.readouterr().err
    # verify-trail's checker names a chain of the log as the archive's does.
    row = {**json.loads(lines[1]), "chain_id": citizen, "seq": 2}
    assert ChainChecker().check(row) == ("chain <not shown: a text of 18 characters, not of the writer's form>: "
                                         "expected record 1, found 2 (records are missing or were inserted)")
    # The writer's own names are still named whole.
    assert audit.shown_name("a" * 32) == "a" * 32
    assert audit.shown_name("0f1e2d3c4b5a-0000000001") == "0f1e2d3c4b5a-0000000001"
    assert audit.shown_name("access_log_202501") == "access_log_202501"
    assert audit.shown_name(key_id(key.public_key())) == key_id(key.public_key())


async def test_a_months_first_record_linking_to_no_hash_is_reported_not_a_traceback(tmp_path: Path) -> None:
    """A chain's first record in a month links to the previous month's last (its sequence past 1): altered to link
    to a number, a list or null, verify-archive ended in an AttributeError traceback (no attribute 'encode'); a
    record format of true was read as format 1."""
    key = Ed25519PrivateKey.generate()
    lines = (await archived_january(tmp_path / "access_log_202501.jsonl", key)).splitlines(keepends=True)
    record = json.loads(lines[1])
    for change in ({"prev_hash": 5}, {"prev_hash": [1]}, {"prev_hash": None}, {"hash": None},
                   {"record_format": True}):
        altered = [lines[0], json.dumps({**record, "seq": 7, **change}).encode() + b"\n", *lines[2:]]
        assert verify_file(altered, [key.public_key()]) == (
            2, ["line 2: not an access record", "the records are not those the signature covers (digest differs)"])


async def test_an_archived_records_time_beyond_the_calendar_or_without_its_offset_is_reported(tmp_path: Path) -> None:
    """A record line altered to a time whose UTC instant is no date (9999-12-31T23:59:59-14:00) ended verify-archive
    in an OverflowError traceback; one without its offset was read in the verifying machine's own zone, so whether
    its hash held depended on where the auditor sat (in UTC it did, unreported but for the digest)."""
    key = Ed25519PrivateKey.generate()
    path = tmp_path / "access_log_202501.jsonl"
    lines = (await archived_january(path, key)).splitlines(keepends=True)
    record = json.loads(lines[2])
    for time in ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", record["time"].removesuffix("+00:00")):
        altered = [*lines[:2], json.dumps({**record, "time": time}).encode() + b"\n", *lines[3:]]
        assert verify_file(altered, [key.public_key()]) == (
            2, ["line 3: not an access record", "the records are not those the signature covers (digest differs)"])
    assert _verify_archive_cli(path, b"".join(altered), key) == 1


async def test_an_expired_month_is_archived_verifiable_offline_dropped_and_the_chain_still_verifies(
        old_schema: str, tmp_path: Path) -> None:
    await db.migrate(old_schema, "query")
    key = Ed25519PrivateKey.generate()
    signer = CheckpointSigner(key)
    verifier = CheckpointVerifier([key.public_key()])
    january = dt.datetime(2025, 1, 10, tzinfo=CST)
    spanning = chained([january, january + dt.timedelta(days=1), january + dt.timedelta(days=30)], "a" * 32)
    ended = chained([january + dt.timedelta(hours=5)], "b" * 32)
    pool = await db.create_pool(old_schema, "query")
    store = QueryStore(pool)
    try:
        for month in (dt.date(2025, 1, 1), dt.date(2025, 2, 1)):
            await store.ensure_partition(month)
        await store.insert_accesses([*spanning, *ended])
        await store.release_audit_connection()
        # The keys exports sent (the persons' view's), as if January's first and February's rows were exports.
        for row in (spanning[0], spanning[2]):
            await store.record_export_keys(row[0], row[3], ["11010519491231002X"])
        # The writers' own checkpoints: the ended chain closed (final), the spanning one signed at its end.
        (closed,) = [signer.sign(Head("b" * 32, 1, ended[0][HASH]), january + dt.timedelta(hours=6), True)]
        await store.insert_checkpoints([closed, signer.sign(Head("a" * 32, 3, spanning[2][HASH]),
                                                            january + dt.timedelta(days=31), False)])
        march = dt.datetime(2025, 3, 5, tzinfo=CST)
        keeper = PartitionKeeper(store, 3600, clock=lambda: march,
                                 retention=Retention(2, tmp_path, signer, key))  # keeps February and March
        await keeper.run_once()
        assert "access_log_202501" not in await store.partitions()
        assert await pool.fetchval("SELECT count(*) FROM access_log") == 1  # February's record
        # January's export keys went with its partition.
        assert await pool.fetchval("SELECT array_agg(access_id) FROM access_export_keys") == [spanning[2][0]]
        # The daily counts kept January's days.
        assert await pool.fetchval("SELECT sum(n) FROM access_daily WHERE day < '2025-02-01'") == 3

        file = tmp_path / "access_log_202501.jsonl"
        public = tmp_path / "audit.pub.pem"
        public.write_text(public_pem(key.public_key()), encoding="utf-8")
        assert run_verify_archive(file, [public]) == 0
        with file.open("rb") as lines:
            assert verify_file(lines, [key.public_key()]) == (3, [])
        tampered = tmp_path / "tampered.jsonl"
        tampered.write_bytes(file.read_bytes().replace(b'"key-2"', b'"key-9"'))
        assert run_verify_archive(tampered, [public]) == 1
        with tampered.open("rb") as lines:
            _, problems = verify_file(lines, [key.public_key()])
        assert any("content does not match its hash" in p for p in problems)
        assert any("digest differs" in p for p in problems)
        other = tmp_path / "other.pub.pem"
        other.write_text(public_pem(Ed25519PrivateKey.generate().public_key()), encoding="utf-8")
        assert run_verify_archive(file, [other]) == 1
        # January's file put in place of February's: its signature holds (it covers the month inside, not the
        # name), so it verified as February's.
        swapped = tmp_path / "swapped" / "access_log_202502.jsonl"
        swapped.parent.mkdir()
        swapped.write_bytes(file.read_bytes())
        assert run_verify_archive(swapped, [public]) == 1
        with swapped.open("rb") as lines:
            assert verify_file(lines, [key.public_key()], "access_log_202502") == (3, [
                "the file is named for access_log_202502 but holds access_log_202501"
                " (renamed or swapped with another month's file)"])

        # Online, the rest of the spanning chain verifies from the head signed at archiving; the chain that
        # ended in January is not called vanished.
        assert await store.archive_anchors() == {("a" * 32, 2), ("b" * 32, 1)}
        auditor = ChainAuditor(verifier, await store.archive_anchors())
        async for row, checkpoint in store.chain_entries():
            if row is not None:
                auditor.row(row)
            if checkpoint is not None:
                auditor.checkpoint(checkpoint)
        reports = {r.chain_id: r for r in auditor.finish()}
        assert set(reports) == {"a" * 32}
        assert (reports["a" * 32].state, reports["a" * 32].resumed_after, reports["a" * 32].records) == (
            INTACT, 2, 1)
        assert not auditor.forged
    finally:
        await pool.close()


async def test_deleting_a_chains_first_records_up_to_a_checkpoint_is_no_archive(old_schema: str) -> None:
    """Only a head an archive signed stands for records that are gone: deleting a chain's first records up to one
    of its periodic checkpoints, with no month ever archived, verified INTACT ("3 records, signed up to ...")."""
    await db.migrate(old_schema, "query")
    key = Ed25519PrivateKey.generate()
    signer = CheckpointSigner(key)
    verifier = CheckpointVerifier([key.public_key()])
    now = dt.datetime.now(CST)
    rows = chained([now - dt.timedelta(minutes=5 - n) for n in range(5)], "d" * 32)
    pool = await db.create_pool(old_schema, "query")
    store = QueryStore(pool)
    try:
        await store.ensure_partition(now.date())
        await store.insert_accesses(rows)
        await store.release_audit_connection()
        await store.insert_checkpoints([signer.sign(Head("d" * 32, seq, rows[seq - 1][HASH]), now, False)
                                        for seq in (2, 5)])
        await pool.execute("DELETE FROM access_log WHERE chain_id = $1 AND seq <= 2", "d" * 32)
        auditor = ChainAuditor(verifier)  # no month archived: no head stands for missing records
        async for row, checkpoint in store.chain_entries():
            if row is not None:
                auditor.row(row)
            if checkpoint is not None:
                auditor.checkpoint(checkpoint)
        (report,) = auditor.finish()
    finally:
        await pool.close()
    assert (report.state, report.first_bad_id) == ("BROKEN", rows[2][0])
    assert "expected record 1, found 3" in report.detail


async def test_the_usage_summary_reads_whole_months_from_the_monthly_sums(old_schema: str) -> None:
    """A year is twelve monthly rows per group, not 365 daily ones (331 ms p95 for the authority's year at 10^6
    records before)."""
    await db.migrate(old_schema, "query")
    pool = await db.create_pool(old_schema, "query")
    store = QueryStore(pool)
    try:
        times = [dt.datetime(2026, 1, 20, tzinfo=CST), dt.datetime(2026, 2, 3, tzinfo=CST),
                 dt.datetime(2026, 2, 27, tzinfo=CST), dt.datetime(2026, 3, 2, tzinfo=CST)]
        for t in times:
            await store.ensure_partition(t.date())
        await store.insert_accesses(chained(times, "f" * 32))
        await store.release_audit_connection()
        scope = AccessFilter(start=dt.datetime(2026, 1, 15, tzinfo=CST), end=dt.datetime(2026, 3, 10, tzinfo=CST))
        now = dt.datetime(2026, 4, 1, tzinfo=CST)
        (first,) = await figures.usage_summary(store, scope, now)
        assert first["answered"] == 4
        assert await pool.fetchval("SELECT sum(answered) FROM access_usage_monthly WHERE month = '2026-02-01'") == 2
        await pool.execute("DELETE FROM access_daily WHERE day >= '2026-02-01' AND day < '2026-03-01'")
        (again,) = await figures.usage_summary(store, scope, now)
        assert again["answered"] == 4  # February from its monthly sum, January's and March's days from the daily
    finally:
        await pool.close()


async def test_the_day_in_progress_is_read_by_the_hour_and_only_the_unsettled_hour_from_the_log(
        old_schema: str) -> None:
    """At 10^9 records a year a day is 2.7 x 10^6 of them: the summary of a day in progress reads its settled hours
    from the hourly sums (rolled up on first use and by the upkeep), the log only for the rest."""
    await db.migrate(old_schema, "query")
    pool = await db.create_pool(old_schema, "query")
    store = QueryStore(pool)
    try:
        day = dt.datetime(2026, 3, 10, tzinfo=CST)
        now = day + dt.timedelta(hours=10, minutes=30)
        await store.ensure_partition(day.date())
        times = [day + dt.timedelta(hours=1), day + dt.timedelta(hours=5, minutes=59),
                 day + dt.timedelta(hours=10, minutes=20), day + dt.timedelta(hours=10, minutes=27)]
        await store.insert_accesses(chained(times, "h" * 32))
        await store.release_audit_connection()
        today = AccessFilter(start=day)
        (first,) = await figures.usage_summary(store, today, now)
        assert first["answered"] == 4
        assert await pool.fetchval("SELECT sum(answered) FROM access_usage_hourly") == 2  # the hours before 10:00
        # Those hours are no longer read from the log; the hour in progress still is.
        await pool.execute("DELETE FROM access_log WHERE time < $1", day + dt.timedelta(hours=10))
        (again,) = await figures.usage_summary(store, today, now)
        assert again["answered"] == 4
        await pool.execute("DELETE FROM access_log WHERE time >= $1", day + dt.timedelta(hours=10, minutes=25))
        (later,) = await figures.usage_summary(store, today, now)
        assert later["answered"] == 3
    finally:
        await pool.close()


async def test_the_upkeep_sums_the_settled_hours_of_the_day_and_forgets_old_ones(old_schema: str) -> None:
    await db.migrate(old_schema, "query")
    pool = await db.create_pool(old_schema, "query")
    store = QueryStore(pool)
    try:
        now = dt.datetime(2026, 3, 10, 10, 30, tzinfo=CST)
        await pool.execute("INSERT INTO access_usage_hours (hour) VALUES ($1)", now - dt.timedelta(days=4))
        await PartitionKeeper(store, 3600, clock=lambda: now).run_once()
        hours = [row["hour"] for row in await pool.fetch("SELECT hour FROM access_usage_hours ORDER BY hour")]
        assert hours[-1] == now.replace(minute=0) - dt.timedelta(hours=1)  # 09:00: the last settled hour
        assert len(hours) == 26 and hours[0] > now - dt.timedelta(days=3)
    finally:
        await pool.close()


async def test_the_days_of_a_partial_month_are_read_from_the_daily_usage_sums(old_schema: str) -> None:
    """A year ending now reads this month's settled days from sums of the summary's own groups (query migration
    012), not from access_daily, which also carries the system, result and deny reason (73 ms p95 for a year
    ending now at 10^7 records): once the days are counted, access_daily is not read by the summary."""
    await db.migrate(old_schema, "query")
    pool = await db.create_pool(old_schema, "query")
    store = QueryStore(pool)
    try:
        times = [dt.datetime(2026, 3, 2, 9, tzinfo=CST), dt.datetime(2026, 3, 2, 11, tzinfo=CST),
                 dt.datetime(2026, 3, 5, 23, tzinfo=CST)]
        await store.ensure_partition(times[0].date())
        await store.insert_accesses(chained(times, "g" * 32))
        await store.release_audit_connection()
        scope = AccessFilter(start=dt.datetime(2026, 3, 1, 12, tzinfo=CST), end=dt.datetime(2026, 3, 9, tzinfo=CST))
        now = dt.datetime(2026, 3, 20, tzinfo=CST)
        (first,) = await figures.usage_summary(store, scope, now)
        assert first["answered"] == 3
        assert await pool.fetchval("SELECT sum(answered) FROM access_usage_daily") == 3
        await pool.execute("DELETE FROM access_daily")
        (again,) = await figures.usage_summary(store, scope, now)
        assert again["answered"] == 3
    finally:
        await pool.close()


async def test_the_migration_sums_the_days_counted_before_it(old_schema: str) -> None:
    """Days counted into access_daily before query migration 012 get their daily usage sums from it."""
    await db.migrate(old_schema, "query", before="012")
    pool = await db.create_pool(old_schema, "query")
    try:
        await pool.execute(
            "INSERT INTO access_daily VALUES ('2026-03-02', 'D1', 'sys-1', 'P1', 'R1', 'WORK', 'ANSWERED', '', 5),"
            " ('2026-03-02', 'D1', 'sys-2', 'P1', 'R1', 'WORK', 'ANSWERED', '', 2),"
            " ('2026-03-02', 'D1', 'sys-1', 'P1', 'R1', 'WORK', 'DENIED', 'NO_GRANT', 3),"
            " ('2026-03-02', 'D1', 'sys-1', 'P1', 'R1', 'WORK', 'FAILED', '', 4)")
        await db.migrate(old_schema, "query")
        rows = await pool.fetch("SELECT * FROM access_usage_daily")
        assert [dict(r) for r in rows] == [{
            "day": dt.date(2026, 3, 2), "provider_department_code": "P1", "resource_code": "R1",
            "department_code": "D1", "purpose": "WORK", "answered": 7, "denied": 3, "not_found": 0, "invalid": 0,
            "failed": 4}]
    finally:
        await pool.close()


async def test_the_migration_counts_every_outcome_of_the_days_and_months_summed_before_it(old_schema: str) -> None:
    """Query migration 022: the days and months summed before it count their misses, invalid requests and failures
    too (from the daily counts, which keep every result), and the hourly sums are summed again from the log, so a
    summary over them adds up to the listing."""
    await db.migrate(old_schema, "query", before="022")
    pool = await db.create_pool(old_schema, "query")
    store = QueryStore(pool)
    try:
        await pool.execute(
            "INSERT INTO access_daily VALUES ('2026-03-02', 'D1', 'sys-1', 'P1', 'R1', 'WORK', 'ANSWERED', '', 5),"
            " ('2026-03-02', 'D1', 'sys-2', 'P1', 'R1', 'WORK', 'NOT_FOUND', 'RECORD_NOT_FOUND', 2),"
            " ('2026-03-02', 'D1', 'sys-1', 'P1', 'R1', 'WORK', 'INVALID', '', 3),"
            " ('2026-03-02', 'D1', 'sys-1', 'P1', 'R1', 'WORK', 'FAILED', 'PROVIDER_UNAVAILABLE', 4),"
            " ('2026-03-02', 'D1', 'sys-1', 'P1', 'R1', 'WORK', 'FAILED', 'CANCELLED', 1),"
            " ('2026-04-03', 'D2', 'sys-3', 'P1', 'R1', 'WORK', 'NOT_FOUND', 'RECORD_NOT_FOUND', 6)")
        await pool.execute("INSERT INTO access_days (day) VALUES ('2026-03-02'), ('2026-04-03')")
        await pool.execute(
            "INSERT INTO access_usage_daily VALUES ('2026-03-02', 'P1', 'R1', 'D1', 'WORK', 5, 0),"
            " ('2026-04-03', 'P1', 'R1', 'D2', 'WORK', 0, 0)")
        await pool.execute("INSERT INTO access_usage_monthly VALUES ('2026-03-01', 'P1', 'R1', 'D1', 'WORK', 5, 0)")
        await pool.execute("INSERT INTO access_usage_months (month) VALUES ('2026-03-01')")
        hour = dt.datetime(2026, 4, 5, 10, tzinfo=CST)
        await store.ensure_partition(hour.date())
        await pool.copy_records_to_table("access_log", columns=audit.COLUMNS, records=chained(
            [hour + dt.timedelta(minutes=5)], "h" * 32, result="INVALID", record_format=1))
        await pool.execute("INSERT INTO access_usage_hourly VALUES ($1, $2, '101001/000001', $3,"
                           " 'ADMINISTRATIVE_BASIS', 0, 0)", hour, PROVIDER, "11100000000000001X")
        await pool.execute("INSERT INTO access_usage_hours (hour) VALUES ($1)", hour)
        await db.migrate(old_schema, "query")
        outcomes = "answered, denied, not_found, invalid, failed"
        assert [tuple(r) for r in await pool.fetch(f"SELECT day, {outcomes} FROM access_usage_daily ORDER BY day")] \
            == [(dt.date(2026, 3, 2), 5, 0, 2, 3, 5), (dt.date(2026, 4, 3), 0, 0, 6, 0, 0)]
        assert [tuple(r) for r in await pool.fetch(f"SELECT month, {outcomes} FROM access_usage_monthly")] \
            == [(dt.date(2026, 3, 1), 5, 0, 2, 3, 5)]
        (summed,) = await figures.usage_summary(
            store, AccessFilter(provider=PROVIDER, start=hour, end=hour + dt.timedelta(hours=1)),
            hour + dt.timedelta(hours=3))
        assert (summed["answered"], summed["invalid"]) == (0, 1)
    finally:
        await pool.close()


async def test_a_batch_is_stored_whole_in_the_tables_column_order(old_schema: str) -> None:
    """The writer sends a batch as one array of the table's row type, by position: RECORD_COLUMNS must be the table's
    column order, and every row of a batch spanning two months lands in its month's partition."""
    await db.migrate(old_schema, "query")
    pool = await db.create_pool(old_schema, "query")
    store = QueryStore(pool)
    try:
        order = await pool.fetch("SELECT attname FROM pg_attribute WHERE attrelid = 'access_log'::regclass"
                                 " AND attnum > 0 AND NOT attisdropped ORDER BY attnum")
        assert tuple(r["attname"] for r in order) == audit.RECORD_COLUMNS
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        next_month = dt.datetime.combine(month_start(now.astimezone(CST).date(), 1), dt.time(12), CST)
        rows = chained([now, now, next_month], "e" * 32)
        await store.insert_accesses(rows)
        stored = await pool.fetch(f"SELECT {', '.join(audit.RECORD_COLUMNS)}, tableoid::regclass::text AS part"
                                  " FROM access_log WHERE chain_id = $1 ORDER BY seq", "e" * 32)
        assert [tuple(r[c] for c in audit.RECORD_COLUMNS) for r in stored] == [tuple(row) for row in rows]
        assert stored[0]["part"] != stored[-1]["part"]
    finally:
        await store.release_audit_connection()
        await pool.close()


async def test_a_page_reads_the_archives_anchors_in_its_own_snapshot(old_schema: str) -> None:
    """A verification page read the archives' anchors, then its records in a snapshot of their own: an archive that
    committed in between (a chain's first records dropped, the head it signed stored) left the page with records
    missing and no anchor to resume from, and the trail was reported BROKEN once. A page now reads both, and the
    auditor's rowless chains, from one snapshot (QueryStore.verification_snapshot)."""
    await db.migrate(old_schema, "query")
    key = Ed25519PrivateKey.generate()
    verifier = CheckpointVerifier([key.public_key()])
    now = dt.datetime.now(CST)
    rows = chained([now - dt.timedelta(minutes=5 - n) for n in range(5)], "e" * 32)
    pool = await db.create_pool(old_schema, "query")
    store = QueryStore(pool)

    async def archive() -> None:  # what PartitionKeeper's archive commits for the chain's first two records
        await store.insert_checkpoints([CheckpointSigner(key).sign(Head("e" * 32, 2, rows[1][HASH]), now, False)])
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM access_log WHERE chain_id = $1 AND seq <= 2", "e" * 32)
            await conn.execute("INSERT INTO access_archive_anchors (chain_id, seq, partition) VALUES ($1, 2, $2)",
                               "e" * 32, "access_log_000000")

    async def judged(anchors: set[tuple[str, int]], entries) -> list:  # type: ignore[no-untyped-def]
        auditor = ChainAuditor(verifier, anchors)
        async for row, checkpoint in entries:
            if row is not None:
                auditor.row(row)
            if checkpoint is not None:
                auditor.checkpoint(checkpoint)
        return [(r.state, r.records) for r in auditor.finish()]

    try:
        await store.ensure_partition(now.date())
        await store.insert_accesses(rows)
        await store.release_audit_connection()
        # Read apart, as a page did: the anchors before the archive, the records after it.
        anchors = await store.archive_anchors()
        await archive()
        assert await judged(anchors, store.chain_entries()) == [("BROKEN", 3)]
        for table in ("access_archive_anchors", "audit_checkpoints", "access_log"):
            await pool.execute(f"DELETE FROM {table}")
        await store.insert_accesses(rows)
        await store.release_audit_connection()
        async with store.verification_snapshot(None, {"f" * 32}) as snapshot:
            await archive()
            assert (snapshot.anchors, snapshot.rowless) == (set(), {"f" * 32: 0})
            assert await judged(snapshot.anchors, snapshot.entries) == [("INTACT", 5)]
        async with store.verification_snapshot(None, set()) as snapshot:  # the next page sees the archive whole
            assert await judged(snapshot.anchors, snapshot.entries) == [("INTACT", 3)]
    finally:
        await pool.close()


REPO = Path(__file__).resolve().parents[2]
#: One upkeep pass with retention, in a process whose files may not grow past 2,000 bytes (RLIMIT_FSIZE: a write
#: past it fails EFBIG, as one on a full archive volume fails ENOSPC), its log on stderr.
ARCHIVE_ON_A_FULL_DISK = """
import asyncio, datetime as dt, logging, resource, signal, sys
from pathlib import Path
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from services.query.checkpoints import CheckpointSigner
from services.query.partitions import PartitionKeeper, Retention
from services.query.store import QueryStore
from services.runtime import db

async def main(url, directory):
    logging.basicConfig(stream=sys.stderr, format="%(levelname)s %(message)s")
    key = Ed25519PrivateKey.generate()
    pool = await db.create_pool(url, "query")
    march = dt.datetime(2025, 3, 5, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    keeper = PartitionKeeper(QueryStore(pool), 3600, clock=lambda: march,
                             retention=Retention(2, Path(directory), CheckpointSigner(key), key))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))
    await keeper.run_once()
    await pool.close()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def test_a_month_archived_onto_a_full_disk_stays_online_and_the_log_says_why(
        old_schema: str, tmp_path: Path) -> None:
    """With the archive volume full, each hourly pass logged only "archiving expired access log months failed
    (OSError)": the operator learnt neither that the disk was full nor which directory, and the month's file cut
    short was left there as access_log_YYYYMM.jsonl.partial, holding the space the next pass needed."""
    import subprocess
    import sys

    await db.migrate(old_schema, "query")
    january = dt.datetime(2025, 1, 10, tzinfo=CST)
    pool = await db.create_pool(old_schema, "query")
    store = QueryStore(pool)
    directory = tmp_path / "archive"
    try:
        for month in (dt.date(2025, 1, 1), dt.date(2025, 2, 1)):
            await store.ensure_partition(month)
        await store.insert_accesses(chained([january + dt.timedelta(hours=n) for n in range(20)], "a" * 32))
        await store.release_audit_connection()
        done = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-c", ARCHIVE_ON_A_FULL_DISK, old_schema, str(directory)],
            capture_output=True, text=True, timeout=120, cwd=REPO)
        assert done.returncode == 0, done.stderr
        errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
        assert errors == [f"ERROR archiving access_log_202501 to {directory} failed (OSError: [Errno 27] File too "
                          "large): the month stays online and is archived at the next pass; free space there or "
                          "give the volume more"], done.stderr
        assert "access_log_202501" in await store.partitions()
        assert await pool.fetchval("SELECT count(*) FROM access_log") == 20
        assert list(directory.iterdir()) == []  # nothing cut short left behind
        # Space again: the next pass archives it.
        key = Ed25519PrivateKey.generate()
        keeper = PartitionKeeper(store, 3600, clock=lambda: dt.datetime(2025, 3, 5, tzinfo=CST),
                                 retention=Retention(2, directory, CheckpointSigner(key), key))
        await keeper.run_once()
        assert "access_log_202501" not in await store.partitions()
        with (directory / "access_log_202501.jsonl").open("rb") as lines:
            assert verify_file(lines, [key.public_key()]) == (20, [])
    finally:
        await pool.close()


async def test_a_months_file_is_on_disk_with_its_name_before_its_partition_is_dropped(
        old_schema: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The archive was fsynced and renamed into place, but its directory was never synced: the rename lives in the
    page cache until the file system writes the directory back (seconds on ext4, longer elsewhere), while the
    partition's drop was committed at once. A node lost in between kept neither the month's records nor their
    file. Every fsync is recorded with what it synced; the directory must be among them before the drop."""
    await db.migrate(old_schema, "query")
    january = dt.datetime(2025, 1, 10, tzinfo=CST)
    pool = await db.create_pool(old_schema, "query")
    store = QueryStore(pool)
    directory = tmp_path / "archive"
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(descriptor: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{descriptor}"))
        real_fsync(descriptor)

    dropped = store.drop_archived_partition

    async def drop(*args: object) -> None:
        synced.append("drop")
        await dropped(*args)  # type: ignore[arg-type]

    try:
        for month in (dt.date(2025, 1, 1), dt.date(2025, 2, 1)):
            await store.ensure_partition(month)
        await store.insert_accesses(chained([january], "a" * 32))
        await store.release_audit_connection()
        key = Ed25519PrivateKey.generate()
        keeper = PartitionKeeper(store, 3600, clock=lambda: dt.datetime(2025, 3, 5, tzinfo=CST),
                                 retention=Retention(2, directory, CheckpointSigner(key), key))
        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(store, "drop_archived_partition", drop)
        assert await keeper.archive_expired(dt.datetime(2025, 3, 5, tzinfo=CST)) == ["access_log_202501"]
        assert synced == [str(directory / "access_log_202501.jsonl.partial"), str(directory), "drop"]
    finally:
        await pool.close()


async def test_two_processes_archiving_the_same_month_at_once_leave_one_whole_file(
        old_schema: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Every query process runs the upkeep (at its start, then hourly), and a pod's workers start together: two of
    them archived the same month into the same access_log_YYYYMM.jsonl.partial on the shared volume, each
    truncating what the other had written, one renaming the file while the other was still writing it, and the
    other failing (the partial gone, or the partition dropped under it) with an ERROR each time. The file the
    drop relied on could be another process's file, cut short. One process archives a month at a time; the
    others leave it to it."""
    await db.migrate(old_schema, "query")
    january = dt.datetime(2025, 1, 10, tzinfo=CST)
    pools = [await db.create_pool(old_schema, "query") for _ in range(2)]
    stores = [QueryStore(pool) for pool in pools]
    directory = tmp_path / "archive"
    key = Ed25519PrivateKey.generate()
    march = dt.datetime(2025, 3, 5, tzinfo=CST)
    try:
        for month in (dt.date(2025, 1, 1), dt.date(2025, 2, 1)):
            await stores[0].ensure_partition(month)
        await stores[0].insert_accesses(chained([january + dt.timedelta(minutes=n) for n in range(3000)], "a" * 32))
        await stores[0].release_audit_connection()
        keepers = [PartitionKeeper(store, 3600, clock=lambda: march,
                                   retention=Retention(2, directory, CheckpointSigner(key), key)) for store in stores]
        done = await asyncio.gather(*(keeper.archive_expired(march) for keeper in keepers), return_exceptions=True)
        assert sorted(map(str, done)) == ["['access_log_202501']", "[]"], done
        assert not [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
        assert "access_log_202501" not in await stores[0].partitions()
        assert sorted(p.name for p in directory.iterdir()) == ["access_log_202501.jsonl"]
        with (directory / "access_log_202501.jsonl").open("rb") as lines:
            assert verify_file(lines, [key.public_key()]) == (3000, [])
    finally:
        for pool in pools:
            await pool.close()


async def test_a_starting_process_serves_before_it_archives(old_schema: str, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The start awaited a whole upkeep pass, archiving included, and a query process serves only once its start
    is done: a pod started while months were to be archived (a month of 10^7 records on the 1st, or every month
    before the retention the first time one is set on a platform kept for years) did not serve for as long as
    that took, and its startup probe (2 minutes in the chart) killed it first, again and again. Here the month's
    archive is held until the test lets it go: the start returns all the same, and the month is archived then."""
    from services.query import archive

    await db.migrate(old_schema, "query")
    january = dt.datetime(2025, 1, 10, tzinfo=CST)
    pool = await db.create_pool(old_schema, "query")
    store = QueryStore(pool)
    directory = tmp_path / "archive"
    key = Ed25519PrivateKey.generate()
    keeper = PartitionKeeper(store, 3600, clock=lambda: dt.datetime(2025, 3, 5, tzinfo=CST),
                             retention=Retention(2, directory, CheckpointSigner(key), key))
    go = asyncio.Event()
    archive_partition = archive.archive_partition

    async def long_archive(*args: object) -> object:
        await go.wait()
        return await archive_partition(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(archive, "archive_partition", long_archive)
    try:
        for month in (dt.date(2025, 1, 1), dt.date(2025, 2, 1)):
            await store.ensure_partition(month)
        await store.insert_accesses(chained([january], "a" * 32))
        await store.release_audit_connection()
        await asyncio.wait_for(keeper.start(), 20)
        assert "access_log_202501" in await store.partitions()  # not archived yet
        go.set()
        for _ in range(200):  # archived within moments; bounded at about 20 s
            if "access_log_202501" not in await store.partitions():
                break
            await asyncio.sleep(0.1)
        assert "access_log_202501" not in await store.partitions()
        assert (directory / "access_log_202501.jsonl").exists()
    finally:
        await keeper.stop()
        await pool.close()


async def _archived(path: Path, partition: str, rows: list[tuple], key: Ed25519PrivateKey) -> None:
    """``rows`` (chained) signed into ``path`` as the archive of ``partition`` (access_log_YYYYMM)."""
    start = dt.datetime.strptime(partition.removeprefix("access_log_"), "%Y%m").replace(tzinfo=CST)

    async def stream() -> AsyncIterator[dict]:
        for row in rows:
            yield dict(zip(audit.RECORD_COLUMNS, row, strict=True))

    await write_file(path, partition, start, start + dt.timedelta(days=31), stream(), key)


async def test_months_verified_together_must_follow_one_another(tmp_path: Path) -> None:
    """verify-archive checked one month at a time: a chain's first record in February linked to a January record
    that the January file need not hold. A January file re-signed without its last records (by whoever holds the
    signing key), or a February made up to follow nothing, each verified clean. Given several months, each chain
    must now run on from one file to the next; a month missing between the files given is said."""
    key = Ed25519PrivateKey.generate()
    public = tmp_path / "audit.pub.pem"
    public.write_text(public_pem(key.public_key()), encoding="utf-8")
    january = dt.datetime(2025, 1, 10, tzinfo=CST)
    rows = chained([january, january + dt.timedelta(days=1), january + dt.timedelta(days=2),
                    dt.datetime(2025, 2, 3, tzinfo=CST), dt.datetime(2025, 4, 3, tzinfo=CST)], "a" * 32)
    jan, feb, apr = (tmp_path / f"access_log_2025{m}.jsonl" for m in ("01", "02", "04"))
    await _archived(jan, "access_log_202501", rows[:3], key)
    await _archived(feb, "access_log_202502", rows[3:4], key)
    await _archived(apr, "access_log_202504", rows[4:], key)
    assert run_verify_archive([feb, jan], [public]) == 0  # taken oldest first whatever the order given
    assert run_verify_archive(feb, [public]) == 0  # alone, a month is checked within itself, as before
    def read(*paths: Path) -> list[tuple[str, list[bytes]]]:
        return [(path.name, path.read_bytes().splitlines(keepends=True)) for path in paths]

    _, problems, notes = verify_files(read(jan, feb, apr), [key.public_key()])
    assert problems == [] and notes == ["no file given for access_log_202503 between access_log_202502 and "
                                        "access_log_202504: a chain running through it is reported as not following on"]
    await _archived(jan, "access_log_202501", rows[:2], key)  # its last record cut, the month signed again
    assert run_verify_archive(jan, [public]) == 0 and run_verify_archive(feb, [public]) == 0
    _, problems, _ = verify_files(read(jan, feb), [key.public_key()])
    assert problems == [f"access_log_202502.jsonl: line 2: chain {'a' * 32}: expected record 3, found 4"], problems
    assert run_verify_archive([jan, feb], [public]) == 1


async def test_an_exports_kept_keys_altered_removed_or_added_are_found_by_verification(old_schema: str) -> None:
    """Which persons an export sent (access_export_keys, the persons' view's rows) was outside the hash chain: a
    row removed, altered or added left every chain INTACT, and a person asking who read their record was told
    nothing of the download that sent it. The export's closing record now vouches for the count and digest of the
    keys kept (audit.SentKeys), and verification compares them with the rows kept."""
    await db.migrate(old_schema, "query")
    verifier = CheckpointVerifier([Ed25519PrivateKey.generate().public_key()])
    pool = await db.create_pool(old_schema, "query")
    store = QueryStore(pool)
    writer = audit.AuditWriter(store.insert_accesses, 0, 100)
    writer.start()
    first, second, third = "11010519491231002X", "110105194912310029", "11010519491231003X"

    async def judged() -> tuple[str, str, str]:
        auditor = ChainAuditor(verifier)
        async for row, checkpoint in store.chain_entries():
            if row is not None:
                auditor.row(row)
            if checkpoint is not None:
                auditor.checkpoint(checkpoint)
        (report,) = auditor.finish()
        return report.state, report.first_bad_id, report.detail

    try:
        await store.ensure_partition(dt.datetime.now(CST).date())
        export = audit.Access(operation="Export", system_id="sys-a", department_code="11100000000000001X",
                              resource_code="101001/000001", key="", keys=[], items=["name"],
                              purpose="ADMINISTRATIVE_BASIS", purpose_text="", trace_id="",
                              time=dt.datetime.now(dt.UTC), provider_department_code=PROVIDER, result=audit.ANSWERED)
        await writer.record(export)
        sent = audit.SentKeys()
        sent.add(await store.record_export_keys(export.id, export.time, [first, second]))
        sent.add(await store.record_export_keys(export.id, export.time, [second, third]))  # kept once
        closing = await writer.record(audit.export_end(export, 4, 2, None, sent))
        assert (sent.count, (await judged())[0]) == (3, INTACT)
        for tamper, undo in (
                ("DELETE FROM access_export_keys WHERE access_id = $1 AND key = $2",
                 "INSERT INTO access_export_keys (access_id, time, key) SELECT $1, time, $2 FROM access_log"
                 " WHERE id = $1"),
                ("UPDATE access_export_keys SET key = $2 || 'x' WHERE access_id = $1 AND key = $2",
                 "UPDATE access_export_keys SET key = $2 WHERE access_id = $1 AND key = $2 || 'x'"),
                ("INSERT INTO access_export_keys (access_id, time, key) SELECT $1, time, $2 || 'x' FROM access_log"
                 " WHERE id = $1",
                 "DELETE FROM access_export_keys WHERE access_id = $1 AND key = $2 || 'x'")):
            await pool.execute(tamper, export.id, second)
            state, bad, detail = await judged()
            assert (state, bad) == ("BROKEN", closing), tamper
            assert f"the persons' keys kept for export {export.id} are not those" in detail
            assert second not in detail  # a problem names the export, never whom it was about
            await pool.execute(undo, export.id, second)
            assert (await judged())[0] == INTACT
        # A closing record altered to vouch for a count that is no number is reported by its hash, read as any.
        await pool.execute("UPDATE access_log SET keys = '{4,2,many,x}' WHERE id = $1", closing)
        state, bad, detail = await judged()
        assert (state, bad) == ("BROKEN", closing) and "content does not match its hash" in detail
        await pool.execute("UPDATE access_log SET keys = $2 WHERE id = $1", closing,
                           ["4", "2", str(sent.count), sent.digest])
        assert (await judged())[0] == INTACT
        # Its opening record archived (its month's keys go with it), the closing one is not checked online.
        await pool.execute("DELETE FROM access_export_keys WHERE access_id = $1", export.id)
        await pool.execute("DELETE FROM access_log WHERE id = $1", export.id)
        kept = [row["kept_export_keys"] async for row, _ in store.chain_entries() if row is not None]
        assert kept == [None]
    finally:
        await writer.stop()
        await store.release_audit_connection()
        await pool.close()


async def test_a_months_archive_holds_its_exports_keys_and_verify_archive_checks_them(
        old_schema: str, tmp_path: Path) -> None:
    """A month's drop took the persons' keys its exports sent (access_export_keys) away unarchived: once archived,
    nothing showed whom a download had sent, nor that a key had been removed before the archive was written. The
    archive now holds them after the records, and verify-archive compares each export's keys with what its closing
    record vouches for, across months when the export ran over a month's end."""
    await db.migrate(old_schema, "query")
    key = Ed25519PrivateKey.generate()
    signer = CheckpointSigner(key)
    pool = await db.create_pool(old_schema, "query")
    store = QueryStore(pool)
    writer = audit.AuditWriter(store.insert_accesses, 0, 100)
    writer.start()
    people = [f"1101051949123100{n:02d}" for n in range(5)]  # keys, as stored: verification never reads them

    async def export(opened: dt.datetime, closed: dt.datetime, keys: list[str]) -> str:
        opening = audit.Access(operation="Export", system_id="sys-a", department_code="11100000000000001X",
                               resource_code="101001/000001", key="", keys=[], items=["name"],
                               purpose="ADMINISTRATIVE_BASIS", purpose_text="", trace_id="", time=opened,
                               provider_department_code=PROVIDER, result=audit.ANSWERED)
        await writer.record(opening)
        sent = audit.SentKeys()
        sent.add(await store.record_export_keys(opening.id, opened, keys))
        closing = audit.export_end(opening, len(keys), 1, None, sent)
        closing.time = closed
        await writer.record(closing)
        return opening.id

    try:
        for month in (dt.date(2025, 1, 1), dt.date(2025, 2, 1)):
            await store.ensure_partition(month)
        january = dt.datetime(2025, 1, 10, tzinfo=CST)
        whole = await export(january, january + dt.timedelta(minutes=1), people[:2])
        altered = await export(january + dt.timedelta(hours=1), january + dt.timedelta(hours=2), people[2:4])
        over = await export(dt.datetime(2025, 1, 31, 23, 59, tzinfo=CST), dt.datetime(2025, 2, 1, 0, 1, tzinfo=CST),
                            people[4:])
        await writer.stop()
        await store.release_audit_connection()
        await pool.execute("DELETE FROM access_export_keys WHERE access_id = $1 AND key = $2", altered, people[3])
        public = tmp_path / "audit.pub.pem"
        public.write_text(public_pem(key.public_key()), encoding="utf-8")
        for now in (dt.datetime(2025, 3, 5, tzinfo=CST), dt.datetime(2025, 4, 5, tzinfo=CST)):
            await PartitionKeeper(store, 3600, clock=lambda now=now: now,  # type: ignore[misc]
                                  retention=Retention(2, tmp_path, signer, key)).run_once()
        january_file, february_file = tmp_path / "access_log_202501.jsonl", tmp_path / "access_log_202502.jsonl"
        held = [json.loads(line)["export_keys"] for line in january_file.read_bytes().splitlines()
                if b'"export_keys"' in line]
        assert sorted((h["access_id"], k) for h in held for k in h["keys"]) == sorted(
            [(whole, people[0]), (whole, people[1]), (altered, people[2]), (over, people[4])])
        assert not await pool.fetchval("SELECT count(*) FROM access_export_keys")
        problem = (f"export {altered}: the persons' keys the archive holds are not those its closing record says "
                   "it sent (1 held, 2 sent)")
        with january_file.open("rb") as lines:
            assert verify_file(lines, [key.public_key()]) == (5, [problem])  # over's closing is February's
        with january_file.open("rb") as first, february_file.open("rb") as second:
            assert verify_files([("access_log_202501.jsonl", first), ("access_log_202502.jsonl", second)],
                                [key.public_key()]) == (6, [f"access_log_202501.jsonl: {problem}"], [])
        # A key held for the export that ran into February, altered in its month's file (re-signed as a thief
        # with the key could): the February closing record does not vouch for it.
        forged = tmp_path / "forged" / "access_log_202501.jsonl"
        forged.parent.mkdir()
        body = january_file.read_bytes().splitlines(keepends=True)[:-1]
        body = [line.replace(people[4].encode(), people[4][:-1].encode() + b"9") for line in body]
        digest = hashlib.sha256(b"".join(body)).hexdigest()
        trailer = {"rows": 5, "sha256": digest, "key_id": key_id(key.public_key()), "signature": base64.b64encode(
            key.sign(signed_bytes("access_log_202501", 5, digest))).decode()}
        forged.write_bytes(b"".join(body) + json.dumps({"trailer": trailer}).encode() + b"\n")
        with forged.open("rb") as first, february_file.open("rb") as second:
            _, problems, _ = verify_files([("access_log_202501.jsonl", first), ("access_log_202502.jsonl", second)],
                                          [key.public_key()])
        assert problems == [f"access_log_202501.jsonl: {problem}", "access_log_202502.jsonl: export "
                            f"{over}: the persons' keys the archive holds are not those its closing record says it "
                            "sent (1 held, 1 sent)"]
        assert run_verify_archive(january_file, [public]) == 1
    finally:
        await writer.stop()
        await pool.close()
