"""Upgrading an installation in place: migrations that were edited after some installations had applied them
(catalog 007, query 008 and 011 gained tables and a column) are made up for by later ones, so such an
installation ends with the same schema as a new one, and the runner does not warn about the earlier texts."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from services.catalog.store import CatalogStore
from services.query import figures
from services.query.store import AccessFilter, QueryStore
from services.runtime import concurrent_index, db
from services.runtime.embedded import EmbeddedServers, create_database

#: The tables query 008 and 011 gained after they were first released, and the sha256 of their texts before.
ADDED_TO_QUERY = ("access_archives", "access_archived_chains", "access_usage_monthly", "access_usage_months",
                  "access_usage_hourly", "access_usage_hours")
EARLIER_QUERY = {"008_access_log_partitions.sql": "4562eaaa384d51ac5b6efee66a1fc32047e7a3430b1532e05c5e465ad1bb8ae6",
                 "011_audit_verifications.sql": "5419a9f0d2d980bc94ae6781b25392465887183842b187ae902a5b8e692a030c"}
#: Query 015 as first released: the same anchors, found by a GROUP BY over the whole access log.
EARLIER_QUERY_015 = "2186d27cdd60566dc12b79ac3f90dc6dc01ac1d1764bc4a875135c5e3d4209b9"
EARLIER_CATALOG_007 = "d26f9eef9613af4a97e46a998961c86fcc2fc470c4855d91e973cb1e6452c14c"


async def as_applied_earlier(url: str, schema: str, checksums: dict[str, str], sql: str) -> None:
    """Makes the schema what an installation has that applied the earlier texts: ``sql`` takes away what was added
    to them later, and their recorded checksums are those of the earlier texts."""
    conn = await asyncpg.connect(url, server_settings={"search_path": schema})
    try:
        await conn.execute(sql)
        for name, checksum in checksums.items():
            await conn.execute("UPDATE schema_migrations SET checksum = $2 WHERE name = $1", name, checksum)
    finally:
        await conn.close()


@pytest.fixture
async def database(embedded: EmbeddedServers) -> str:
    return await create_database(embedded.database_url, f"govshare_upgrade_{uuid.uuid4().hex[:8]}")


async def test_an_installation_that_applied_the_earlier_query_008_and_011_gets_their_later_tables(
        database: str, caplog: pytest.LogCaptureFixture) -> None:
    await db.migrate(database, "query", before="012")
    await as_applied_earlier(database, "query", EARLIER_QUERY, f"DROP TABLE {', '.join(ADDED_TO_QUERY)}")
    with caplog.at_level(logging.WARNING, logger="services.runtime.db"):
        applied = await db.migrate(database, "query")
    assert applied and all(name > "012" for name in applied)
    assert not [r for r in caplog.records if "changed after it was applied" in r.getMessage()]
    pool = await db.create_pool(database, "query")
    try:
        for table in ADDED_TO_QUERY:
            assert await pool.fetchval("SELECT to_regclass($1)", f"query.{table}") is not None, table
        now = dt.datetime.now(figures.CST)
        # The usage summary reads the hourly and monthly sums: it failed with UndefinedTable (and the query
        # service did not start: its upkeep rolls the hours up) on such an installation.
        assert await figures.usage_summary(QueryStore(pool), AccessFilter(start=now - dt.timedelta(days=40)),
                                           now) == []
    finally:
        await pool.close()
    assert await db.migrate(database, "query") == []


async def test_an_installation_that_applied_the_earlier_catalog_007_gets_the_current_version_column(
        database: str, caplog: pytest.LogCaptureFixture) -> None:
    await db.migrate(database, "catalog", before="008")
    await as_applied_earlier(database, "catalog", {"007_listing_indexes.sql": EARLIER_CATALOG_007},
                             "ALTER TABLE entries DROP COLUMN current_version")
    with caplog.at_level(logging.WARNING, logger="services.runtime.db"):
        await db.migrate(database, "catalog")
    assert not [r for r in caplog.records if "changed after it was applied" in r.getMessage()]
    conn = await asyncpg.connect(database)
    try:
        generated = await conn.fetchval(
            "SELECT generation_expression FROM information_schema.columns"
            " WHERE table_schema = 'catalog' AND table_name = 'entries' AND column_name = 'current_version'")
    finally:
        await conn.close()
    assert generated == "COALESCE(public_version, latest_version)"


async def test_a_changed_migration_that_no_later_one_makes_up_for_is_still_reported(
        database: str, caplog: pytest.LogCaptureFixture) -> None:
    await db.migrate(database, "query")
    await as_applied_earlier(database, "query", {"011_audit_verifications.sql": "0" * 64}, "SELECT 1")
    with caplog.at_level(logging.WARNING, logger="services.runtime.db"):
        assert await db.migrate(database, "query") == []
    assert [r for r in caplog.records if "query/011_audit_verifications.sql changed" in r.getMessage()]


async def test_an_older_version_on_a_database_a_newer_one_migrated_says_so(
        database: str, caplog: pytest.LogCaptureFixture) -> None:
    """A rollback: the migrations the older code does not have were passed over in silence."""
    await db.migrate(database, "query")
    await as_applied_earlier(database, "query", {}, "INSERT INTO schema_migrations (name, checksum)"
                                                    " VALUES ('999_from_a_newer_release.sql', 'x')")
    with caplog.at_level(logging.WARNING, logger="services.runtime.db"):
        assert await db.migrate(database, "query") == []
    (warning,) = [r.getMessage() for r in caplog.records if "newer version" in r.getMessage()]
    assert "the query schema has migrations this version of govshare does not have (999_from_a_newer_release.sql)" \
        in warning


def _rows_read(plan: dict, table: str) -> int:
    """The rows the scans of ``table``'s partitions returned in an EXPLAIN ANALYZE plan (every loop)."""
    own = plan["Actual Rows"] * plan["Actual Loops"] if plan.get("Relation Name", "").startswith(table) else 0
    return own + sum(_rows_read(child, table) for child in plan.get("Plans", ()))


async def test_the_archive_anchors_of_an_installation_that_archived_are_found_without_reading_the_log(
        database: str, caplog: pytest.LogCaptureFixture) -> None:
    """Query 015 anchors each chain whose first records an archive took; only an installation that archives
    needs it, and its log holds years of records: the GROUP BY over the whole log outlasted the migration Job."""
    await db.migrate(database, "query", before="015")
    now = dt.datetime.now(figures.CST)
    conn = await asyncpg.connect(database, server_settings={"search_path": "query"})
    try:
        await conn.execute("SELECT access_log_partition($1)", now.date())
        for chain, first in (("a" * 32, 3), ("b" * 32, 1), ("c" * 32, 41)):
            await conn.execute(
                "INSERT INTO access_log SELECT md5($1 || s), $1, s, $2::timestamptz, 's', 'd', 'r', 'p', 'Query',"
                " '{}', 'k', '{}', 'ADMINISTRATIVE_BASIS', '', 'ANSWERED', '', '', 'h', 'h'"
                " FROM generate_series($3::bigint, $3 + 199) s", chain, now, first)
        await conn.execute("INSERT INTO access_archives VALUES ('access_log_202401', 'f', 1, 's', now())")
        await conn.execute("ANALYZE access_log")
        migration = next(path for path in db.migration_files("query") if path.name.startswith("015_"))
        sql = migration.read_text(encoding="utf-8")
        table, insert = sql.split("INSERT INTO access_archive_anchors")
        attempt = conn.transaction()
        await attempt.start()
        try:  # the migration's statement measured, then undone; the runner applies it below
            await conn.execute(table)
            (plan,) = json.loads(await conn.fetchval(
                f"EXPLAIN (ANALYZE, FORMAT JSON) INSERT INTO access_archive_anchors {insert}"))
        finally:
            await attempt.rollback()
        assert _rows_read(plan["Plan"], "access_log") < 20  # of 600 records: a few probes per chain
        await db.migrate(database, "query", before="016")
        anchors = [tuple(r) for r in await conn.fetch("SELECT chain_id, seq, partition FROM access_archive_anchors"
                                                      " ORDER BY chain_id")]
    finally:
        await conn.close()
    assert anchors == [("a" * 32, 2, "before 015"), ("c" * 32, 40, "before 015")]
    # An installation that applied the earlier text (the same anchors) is not told the file changed.
    await as_applied_earlier(database, "query", {"015_archive_anchors.sql": EARLIER_QUERY_015}, "SELECT 1")
    with caplog.at_level(logging.WARNING, logger="services.runtime.db"):
        await db.migrate(database, "query")
    assert not [r for r in caplog.records if "changed after it was applied" in r.getMessage()]


class _Warnings(logging.Handler):
    """Sets ``seen`` once the runner logs a warning holding ``words``."""

    def __init__(self, words: str) -> None:
        super().__init__()
        self.words, self.seen, self.message = words, asyncio.Event(), ""

    def emit(self, record: logging.LogRecord) -> None:
        if self.words in record.getMessage():
            self.message = record.getMessage()
            self.seen.set()


async def test_migrations_waiting_for_another_say_who_holds_the_lock(database: str) -> None:
    """A second replica or Job (or one started again after a kill -9, while PostgreSQL still runs the killed one's
    statement) waits for the first: it used to wait in silence, its log empty until the upgrade's timeout."""
    holder = await asyncpg.connect(database, server_settings={"application_name": "the-first-migration"})
    handler = _Warnings("migrations wait for")
    logging.getLogger("services.runtime.db").addHandler(handler)
    second: asyncio.Task | None = None
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", db.migration_lock_id("supervision"))
        second = asyncio.create_task(db.migrate(database, "supervision"))
        await asyncio.wait_for(handler.seen.wait(), 10)
        assert not second.done()
        pid = await holder.fetchval("SELECT pg_backend_pid()")
        assert f"the supervision schema's migrations wait for another migration: PostgreSQL process {pid} " \
               "(the-first-migration, idle" in handler.message
        await holder.execute("SELECT pg_advisory_unlock($1)", db.migration_lock_id("supervision"))
        assert await asyncio.wait_for(second, 30)  # then it applies them
    finally:
        if second is not None and not second.done():
            second.cancel()
        logging.getLogger("services.runtime.db").removeHandler(handler)
        await holder.close()


async def test_a_migration_gives_way_to_the_calls_while_its_table_is_in_use(
        database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Authorization 010 alters applications: while a long transaction read the table (a listing, an export), the
    ALTER TABLE waited for it and every call on applications queued behind the ALTER: a helm upgrade's Job stopped
    the serving pods' calls for as long as that transaction lasted. It now gives way and tries again."""
    monkeypatch.setattr(db, "MIGRATION_LOCK_TIMEOUT_MS", 200, raising=False)
    monkeypatch.setattr(db, "MIGRATION_RETRY_SECONDS", 0.05, raising=False)
    await db.migrate(database, "authorization", before="010")
    reading = await asyncpg.connect(database, server_settings={"search_path": "authorization"})
    call = await asyncpg.connect(database, server_settings={"search_path": "authorization",
                                                            "statement_timeout": "3000"})
    handler = _Warnings("waits for a table that other transactions are using")
    logging.getLogger("services.runtime.db").addHandler(handler)
    upgrade: asyncio.Task | None = None
    try:
        long_read = reading.transaction()
        await long_read.start()
        await reading.fetch("SELECT id FROM applications LIMIT 1")
        upgrade = asyncio.create_task(db.migrate(database, "authorization"))
        await asyncio.wait_for(handler.seen.wait(), 10)
        assert "authorization/010_coordination_reason.sql" in handler.message
        assert await call.fetchval("SELECT count(*) FROM applications") == 0  # served, not queued for 3 s
        await long_read.commit()
        applied = await asyncio.wait_for(upgrade, 30)
        assert applied[0] == "010_coordination_reason.sql"
    finally:
        if upgrade is not None and not upgrade.done():
            upgrade.cancel()
        logging.getLogger("services.runtime.db").removeHandler(handler)
        await asyncio.gather(reading.close(), call.close())


async def test_a_coordination_the_previous_release_records_keeps_the_providers_reason(database: str) -> None:
    """Authorization 010 keeps the authority's coordination reason in coordination_reason; the release before it,
    serving while pods roll or after a helm rollback, wrote it over reply_reason, so the application showed the
    authority's words as the provider's 答复理由. Such writes, before this release's migration and after it, now
    end as this release writes them; this release's own coordination is left as it is."""
    await db.migrate(database, "authorization", before="015")
    conn = await asyncpg.connect(database, server_settings={"search_path": "authorization"})

    async def escalated(name: str, refusal: str) -> None:
        await conn.execute(
            "INSERT INTO applications (id, applicant_department_code, provider_department_code, system_ids,"
            " resource_code, items, purposes, purpose_text, basis, requested_expire_time, methods, quota, state,"
            " reply_due_time, reply_reason, create_time, update_time)"
            " VALUES ($1, 'A', 'P', '{}', '101001/000001', '{name}', '{1}', '', '', now(), '{1}', 0, 4, now(), $2,"
            " now(), now())", name, refusal)
        if refusal:
            await conn.execute("INSERT INTO application_events (application_id, action, actor_department_code,"
                               " actor_system_id, note, time) VALUES ($1, 'REFUSED', 'P', 's', $2, now())",
                               name, refusal)

    def the_previous_release_coordinates(name: str, reason: str) -> Awaitable[str]:
        return conn.execute("UPDATE applications SET state = 5, reply_reason = $2 WHERE id = $1", name, reason)

    try:
        for name in ("before", "after", "unanswered", "this-release"):
            await escalated(name, "" if name == "unanswered" else "用途不明确")
        await the_previous_release_coordinates("before", "经协调同意共享")
        await db.migrate(database, "authorization")
        await the_previous_release_coordinates("after", "经协调同意")
        await the_previous_release_coordinates("unanswered", "逾期未答复，协调同意")
        await conn.execute("UPDATE applications SET state = 5, coordination_reason = '' WHERE id = 'this-release'")
        stored = {r["id"]: (r["reply_reason"], r["coordination_reason"]) for r in await conn.fetch(
            "SELECT id, reply_reason, coordination_reason FROM applications")}
    finally:
        await conn.close()
    assert stored == {"before": ("用途不明确", "经协调同意共享"), "after": ("用途不明确", "经协调同意"),
                      "unanswered": ("", "逾期未答复，协调同意"), "this-release": ("用途不明确", "")}


_SLOW_MIGRATION = """
import asyncio, sys
from pathlib import Path
from services.runtime import concurrent_index, db
db._MIGRATIONS_ROOT = Path(sys.argv[2])
asyncio.run(db.migrate(sys.argv[1], sys.argv[3]))
"""


async def _backend_of(conn: asyncpg.Connection, application: str) -> int | None:
    """The pid of the backend running a statement for ``application`` (None when there is none)."""
    return await conn.fetchval("SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'"
                               " AND query LIKE '%pg_sleep%'", application)


async def _until(condition: Callable[[], Awaitable[bool]], within: float) -> bool:
    """Whether ``condition`` holds within ``within`` seconds (asked every 0.1 s)."""
    deadline = asyncio.get_running_loop().time() + within
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


async def test_a_killed_migrations_statement_ends_with_its_client(database: str, tmp_path: Path) -> None:
    """A migration Job killed during a long statement (kill -9, an evicted pod) left its PostgreSQL backend
    running the statement to its end, holding the schema's migration lock, so the Job started again waited for
    it. The backend now notices its client is gone within MIGRATION_CLIENT_CHECK_MS and ends the statement."""
    schema = f"slow_{uuid.uuid4().hex[:8]}"
    (tmp_path / schema / "migrations").mkdir(parents=True)
    (tmp_path / schema / "migrations" / "001_slow.sql").write_text("SELECT pg_sleep(60);", encoding="utf-8")
    application = f"govshare-migrate-{schema}"
    job = await asyncio.create_subprocess_exec(sys.executable, "-c", _SLOW_MIGRATION, database, str(tmp_path), schema)
    watcher = await asyncpg.connect(database)
    try:
        assert await _until(lambda: _running(watcher, application), 20), "the migration never ran its statement"
        job.kill()
        await job.wait()
        ended = await _until(lambda: _stopped(watcher, application), 5)  # checked each second; it sleeps 60 s
        assert ended, "the killed migration's statement ran on"
    finally:
        if job.returncode is None:
            job.kill()
            await job.wait()
        await watcher.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
                              application)
        await watcher.close()


async def _running(conn: asyncpg.Connection, application: str) -> bool:
    return await _backend_of(conn, application) is not None


async def _stopped(conn: asyncpg.Connection, application: str) -> bool:
    return await _backend_of(conn, application) is None


async def _insert_version(conn: asyncpg.Connection, code: str, version: int, items: list[str],
                          published: dt.datetime | None, state: int) -> None:
    """A version of ``code`` as a release before catalog 012 stored it: its items without listed_since; the columns
    this test does not care about filled with a value of their type."""
    columns = await conn.fetch(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'catalog'"
        " AND table_name = 'entry_versions' AND is_nullable = 'NO' AND column_default IS NULL"
        " AND is_generated = 'NEVER'")
    filler = {"text": "", "smallint": 1, "integer": 1, "boolean": False, "ARRAY": [],
              "timestamp with time zone": published or dt.datetime.now(dt.UTC)}
    values = {c["column_name"]: filler.get(c["data_type"]) for c in columns}
    values |= {"code": code, "version": version, "state": state, "publish_time": published,
               "items": json.dumps([{"name": name, "machine_name": name, "data_type": 1, "length": 10,
                                     "sensitive": False, "mask_rule": "", "basic": False, "identifier": 0}
                                    for name in items])}
    names = list(values)
    await conn.execute(f"INSERT INTO entry_versions ({', '.join(names)}) VALUES "
                       f"({', '.join(f'${i + 1}' for i in range(len(names)))})", *values.values())


async def test_catalog_012_lists_each_published_item_since_its_unbroken_run_began(database: str) -> None:
    """An item dropped by a published version and added back by a later one is listed from that later one, so the
    grants made before it was dropped do not cover it (the authorization service's decision)."""
    await db.migrate(database, "catalog", before="012")
    start = dt.datetime(2025, 1, 6, 2, 0, 0, 123456, tzinfo=dt.UTC)
    times = [start + dt.timedelta(days=day) for day in range(4)]
    conn = await asyncpg.connect(database, server_settings={"search_path": "catalog"})
    try:
        await conn.execute("INSERT INTO entries (code, provider_department_code, latest_version, public_version,"
                           " create_time) VALUES ('101001/000001', '', 5, 4, $1)", start)
        superseded, published, draft = 6, 3, 1
        await _insert_version(conn, "101001/000001", 1, ["name", "address"], times[0], superseded)
        await _insert_version(conn, "101001/000001", 2, ["name"], times[1], superseded)
        await _insert_version(conn, "101001/000001", 3, ["name", "address"], times[2], superseded)
        await _insert_version(conn, "101001/000001", 4, ["address", "name", "sex"], times[3], published)
        await _insert_version(conn, "101001/000001", 5, ["name", "address"], None, draft)
    finally:
        await conn.close()
    assert await db.migrate(database, "catalog", before="013") == ["012_item_listed_since.sql"]
    await db.migrate(database, "catalog")  # the store reads the later columns too
    pool = await db.create_pool(database, "catalog")
    try:
        store = CatalogStore(pool)
        listed = {version: {item.machine_name: item.listed_since
                            for item in (await store.version("101001/000001", version)).items}  # type: ignore[union-attr]
                  for version in range(1, 6)}
    finally:
        await pool.close()
    assert listed[1] == {"name": times[0], "address": times[0]}
    assert listed[2] == {"name": times[0]}
    assert listed[3] == {"name": times[0], "address": times[2]}
    assert listed[4] == {"address": times[2], "name": times[0], "sex": times[3]}
    assert listed[5] == {"name": None, "address": None}


async def test_catalog_013_shows_why_each_entry_retired_before_was_retired(database: str) -> None:
    """RetireEntry's reason was kept in entry_events alone, which nothing reads: the entries retired before 013 get
    it on the version their retirement closed and on the versions in progress it closed with it; a version not
    retired, and an entry retired without a reason, get none."""
    await db.migrate(database, "catalog", before="013")
    start = dt.datetime(2025, 1, 6, 2, 0, tzinfo=dt.UTC)
    retired, superseded, published = 5, 6, 3
    conn = await asyncpg.connect(database, server_settings={"search_path": "catalog"})
    try:
        for code, latest in (("101001/000001", 3), ("101001/000002", 1), ("101001/000003", 1)):
            await conn.execute("INSERT INTO entries (code, provider_department_code, latest_version, public_version,"
                               " create_time) VALUES ($1, '', $2, 1, $3)", code, latest, start)
        await _insert_version(conn, "101001/000001", 1, ["name"], start, superseded)
        await _insert_version(conn, "101001/000001", 2, ["name"], start + dt.timedelta(days=1), retired)
        await _insert_version(conn, "101001/000001", 3, ["name"], None, retired)  # a draft it closed
        await _insert_version(conn, "101001/000002", 1, ["name"], start, retired)
        await _insert_version(conn, "101001/000003", 1, ["name"], start, published)
        for code, version, reason in (("101001/000001", 2, "职能划转至市司法局"), ("101001/000002", 1, "")):
            await conn.execute("INSERT INTO entry_events (code, version, action, provider_department_code,"
                               " actor_system_id, actor_department_code, reason, time) VALUES ($1, $2, 'retire', '',"
                               " 'sys-1', '', $3, $4)", code, version, reason, start + dt.timedelta(days=2))
    finally:
        await conn.close()
    assert await db.migrate(database, "catalog", before="014") == ["013_entry_retire_reason.sql"]
    await db.migrate(database, "catalog")
    pool = await db.create_pool(database, "catalog")
    try:
        store = CatalogStore(pool)
        reasons = {(code, version): (await store.version(code, version)).retire_reason  # type: ignore[union-attr]
                   for code, version in (("101001/000001", 1), ("101001/000001", 2), ("101001/000001", 3),
                                         ("101001/000002", 1), ("101001/000003", 1))}
    finally:
        await pool.close()
    assert reasons == {("101001/000001", 1): "", ("101001/000001", 2): "职能划转至市司法局",
                       ("101001/000001", 3): "职能划转至市司法局", ("101001/000002", 1): "", ("101001/000003", 1): ""}


_ACCESS_RECORD = ("INSERT INTO access_log SELECT md5($1 || s), $1, s, $2::timestamptz, $3, 'd', 'r', 'p', 'Query',"
                  " '{}', 'k', '{}', 'ADMINISTRATIVE_BASIS', '', 'ANSWERED', '', '', 'h', 'h'"
                  " FROM generate_series($4::bigint, $4 + $5 - 1) s")


async def _migration_locks_on_the_log(conn: asyncpg.Connection) -> list[str]:
    """The locks the query migration's backend holds on the access log or its partitions."""
    return [r["mode"] for r in await conn.fetch(
        "SELECT l.mode FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid JOIN pg_class c ON c.oid = l.relation"
        " WHERE a.application_name = 'govshare-migrate-query' AND l.granted AND c.relname LIKE 'access_log%'")]


async def _migration_waits(conn: asyncpg.Connection) -> bool:
    return bool(await conn.fetchval("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                                    " WHERE a.application_name = 'govshare-migrate-query' AND NOT l.granted"))


async def test_query_024_builds_its_index_while_the_access_log_takes_records(
        database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Query 024 was a plain CREATE INDEX on the partitioned access log: it held the log's SHARE lock from the
    build to the migration's commit, so during a helm upgrade every audit insert (every query call) waited for the
    whole build of months of records. It is now built a partition at a time, concurrently, and attached. Here the
    migration is held at its end (its record in schema_migrations waits for a lock the test holds), standing for
    a long build: the log takes a record without waiting, and the migration holds no lock on it."""
    monkeypatch.setattr(db, "MIGRATION_LOCK_TIMEOUT_MS", 60000, raising=False)  # the held end is not given up
    await db.migrate(database, "query", before="024")
    now = dt.datetime.now(figures.CST)
    conn = await asyncpg.connect(database, server_settings={"search_path": "query"})
    holder = await asyncpg.connect(database, server_settings={"search_path": "query"})
    upgrade: asyncio.Task | None = None
    try:
        for month in (now - dt.timedelta(days=40), now):
            await conn.execute("SELECT access_log_partition($1)", month.date())
            await conn.execute(_ACCESS_RECORD, f"chain{month:%Y%m}", month, "sys-1", 1, 200)
        held = holder.transaction()
        await held.start()
        await holder.execute("LOCK TABLE schema_migrations IN SHARE MODE")
        upgrade = asyncio.create_task(db.migrate(database, "query"))
        assert await _until(lambda: _migration_waits(conn), 30), "the migration never reached its end"
        assert await _migration_locks_on_the_log(conn) == []
        await conn.execute("SET lock_timeout = '1ms'")  # a record that would have to wait for the lock fails
        await conn.execute(_ACCESS_RECORD, "chain-during", now, "sys-2", 1, 1)
        await conn.execute("RESET lock_timeout")
        await held.rollback()
        assert "024_access_system_time.sql" in await asyncio.wait_for(upgrade, 60)
        partitions = await conn.fetch("SELECT inhrelid::regclass::text AS name FROM pg_inherits"
                                      " WHERE inhparent = 'access_log'::regclass")
        attached = await conn.fetch("SELECT inhrelid::regclass::text AS name FROM pg_inherits"
                                    " WHERE inhparent = 'access_log_system_time'::regclass")
        assert len(partitions) >= 3 and len(attached) == len(partitions)
        assert await conn.fetchval("SELECT indisvalid FROM pg_index WHERE indexrelid = 'access_log_system_time'"
                                   "::regclass")
        # A partition created afterwards gets its index with it, as before.
        await conn.execute("SELECT access_log_partition($1)", (now + dt.timedelta(days=70)).date())
        assert len(await conn.fetch("SELECT 1 FROM pg_inherits WHERE inhparent = 'access_log_system_time'"
                                    "::regclass")) == len(partitions) + 1
    finally:
        if upgrade is not None and not upgrade.done():
            upgrade.cancel()
        await asyncio.gather(conn.close(), holder.close())
    assert await db.migrate(database, "query") == []


async def test_query_024_stopped_midway_is_finished_by_the_next_migration(database: str) -> None:
    """A migration Job stopped while it built the partitions' indexes one by one leaves the parent's index invalid,
    some partitions' indexes attached, one built and not attached, and one half-built (INVALID): the next run
    finishes each, and the recorded migration is the same as a whole run's."""
    await db.migrate(database, "query", before="024")
    now = dt.datetime.now(figures.CST)
    conn = await asyncpg.connect(database, server_settings={"search_path": "query"})
    try:
        for days in (-40, 40):
            await conn.execute("SELECT access_log_partition($1)", (now + dt.timedelta(days=days)).date())
        await conn.execute(_ACCESS_RECORD, "c" * 32, now, "sys-1", 1, 50)
        names = [r["name"] for r in await conn.fetch(
            "SELECT inhrelid::regclass::text AS name FROM pg_inherits WHERE inhparent = 'access_log'::regclass"
            " ORDER BY 1")]
        assert len(names) >= 3
        await conn.execute("CREATE INDEX access_log_system_time ON ONLY access_log (system_id, time DESC, id DESC)")
        first, second, third = names[:3]
        await conn.execute(f"CREATE INDEX {first}_system_time ON {first} (system_id, time DESC, id DESC)")
        await conn.execute(f"ALTER INDEX access_log_system_time ATTACH PARTITION {first}_system_time")
        await conn.execute(f"CREATE INDEX {second}_system_time ON {second} (system_id, time DESC, id DESC)")
        await conn.execute(f"CREATE INDEX {third}_system_time ON {third} (system_id, time DESC, id DESC)")
        await conn.execute("UPDATE pg_index SET indisvalid = false WHERE indexrelid = $1::regclass",
                           f"{third}_system_time")  # what a CREATE INDEX CONCURRENTLY stopped midway leaves
        assert await db.migrate(database, "query", before="025") == ["024_access_system_time.sql"]
        assert await conn.fetchval("SELECT indisvalid FROM pg_index WHERE indexrelid = 'access_log_system_time'"
                                   "::regclass")
        assert await conn.fetchval("SELECT bool_and(indisvalid) FROM pg_index WHERE indrelid = ANY($1::regclass[])"
                                   " AND indexrelid::regclass::text LIKE '%system_time'", names)
    finally:
        await conn.close()


def test_a_concurrent_index_must_be_its_migrations_only_statement() -> None:
    """CREATE INDEX CONCURRENTLY cannot run in a transaction: beside other statements they would lose theirs."""
    assert concurrent_index.parse("CREATE INDEX a_b ON a (b);") is None
    index = concurrent_index.parse("-- why\nCREATE INDEX CONCURRENTLY a_b ON a (b, c DESC);\n")
    assert index == concurrent_index.ConcurrentIndex("a_b", "a", "(b, c DESC)")
    assert index.partition_index("a_202612") == "a_202612_b"
    with pytest.raises(ValueError, match="that one statement and nothing else"):
        concurrent_index.parse("CREATE INDEX CONCURRENTLY a_b ON a (b); ALTER TABLE a ADD COLUMN c int;")
