"""PostgreSQL: connection pools and per-service SQL migrations.

Each service owns one schema (named after the service) and a ``migrations/``
folder of numbered ``.sql`` files. Migrations run in order, once, inside a
transaction (but for one that is a CREATE INDEX CONCURRENTLY: see concurrent_index),
under an advisory lock so that several replicas starting together do not race;
applied files are recorded in ``<schema>.schema_migrations``.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from services.runtime import concurrent_index, telemetry
from services.runtime.settings import Settings

log = logging.getLogger(__name__)

SERVICES_WITH_SCHEMA = ("catalog", "authorization", "query", "foundation", "supervision")
_MIGRATIONS_ROOT = Path(__file__).resolve().parent.parent

#: Earlier texts of migrations that were edited after some installations had applied them (sha256 of the text as
#: applied), each made up for by a later migration (catalog 010, query 014) or doing the same as the text that
#: replaced it (query 015, now walking the log by index): an installation that applied one of these is as intended
#: once that migration ran, so the runner does not warn that the file changed.
_EARLIER_TEXTS = {
    ("catalog", "007_listing_indexes.sql"): {"d26f9eef9613af4a97e46a998961c86fcc2fc470c4855d91e973cb1e6452c14c"},
    ("query", "008_access_log_partitions.sql"): {
        "4562eaaa384d51ac5b6efee66a1fc32047e7a3430b1532e05c5e465ad1bb8ae6",
        "44056f4f9d2a106a15d3b74451c64bb6a47f83ac4c2ee147c0688ed47f018bf7"},
    ("query", "011_audit_verifications.sql"): {"5419a9f0d2d980bc94ae6781b25392465887183842b187ae902a5b8e692a030c"},
    ("query", "015_archive_anchors.sql"): {"2186d27cdd60566dc12b79ac3f90dc6dc01ac1d1764bc4a875135c5e3d4209b9"},
    # The same index, built with the table's SHARE lock held (concurrently now, a partition at a time).
    ("query", "024_access_system_time.sql"): {"8845a735627211ff953725738b7921ce984ead73a22a02ae2a3b6096bb948028"},
    # Only the way its columns are spelled changed (LIKE audit_checkpoints): the table is the same.
    ("query", "013_verification_held_checkpoints.sql"): {
        "5d7d89358b10ab621bcc1af372bba1b1fd4c8de4b35314ec076b076e3a1da4c4"},
}


#: How long a migration waits for a table's lock before it gives way to the calls queued behind it (see _apply),
#: and the pause before it tries again (times the attempt, at most 30 s).
MIGRATION_LOCK_TIMEOUT_MS = 5000
MIGRATION_RETRY_SECONDS = 2.0
#: How often PostgreSQL checks, while it runs a migration's statement, that the migration's client is still there
#: (client_connection_check_interval, PostgreSQL 14+; see migrate).
MIGRATION_CLIENT_CHECK_MS = 1000


async def _keep_session(_connection: asyncpg.Connection) -> None:
    """Releases a pooled connection as it is (see ``create_pool``)."""


async def create_pool(url: str, schema: str, min_size: int = 2, max_size: int = 10, *, kind: str = "online",
                      statement_timeout_ms: int = 0, custom_plans: bool = False) -> asyncpg.Pool:
    """A pool whose connections resolve unqualified names in the service's own schema first.

    Released connections skip asyncpg's reset query (``SELECT pg_advisory_unlock_all(); CLOSE ALL;
    UNLISTEN *; RESET ALL``): it is a second round trip on every release, as dear as a lookup by key.
    asyncpg still rolls back a transaction left open and drops listener callbacks. The invariant this
    relies on, kept by every service: **no session state on pooled connections** — settings only with
    ``SET LOCAL`` (inside a transaction), advisory locks only transaction-scoped (``pg_advisory_xact_lock``),
    cursors only inside transactions, no ``LISTEN`` (events travel on Redis), and temporary tables only
    ``ON COMMIT DROP`` or ``ON COMMIT DELETE ROWS`` with a name the same code reuses (foundation's staging
    tables). Code that needs anything else uses its own ``asyncpg.connect`` connection, not the pool.

    ``kind`` names the work the pool serves (``online``, ``listing``, ``search``: see :class:`WorkPools`) in
    ``application_name``; ``statement_timeout_ms`` bounds every statement on its connections (0: no bound),
    and ``custom_plans`` plans each execution for its own parameters: asyncpg prepares every statement, and
    PostgreSQL switches a prepared statement to a generic plan after five runs, which for a listing whose
    optional filters (``$1 IS NULL OR col = $1``) or selectivity vary is a scan of the whole table.
    """
    telemetry.shorten_dependency_tracebacks()  # the pool logs each failed reconnection with a traceback
    server_settings = {"search_path": f"{schema},public", "application_name": f"govshare-{schema}-{kind}"}
    if statement_timeout_ms:
        server_settings["statement_timeout"] = str(statement_timeout_ms)
    if custom_plans:
        server_settings["plan_cache_mode"] = "force_custom_plan"
    return await asyncpg.create_pool(
        dsn=url,
        min_size=min_size,
        max_size=max_size,
        server_settings=server_settings,
        command_timeout=30,
        reset=_keep_session,
    )


@dataclass(frozen=True)
class WorkPools:
    """A service's connections, one pool per kind of work, so heavy reads cannot starve the online path.

    ``online`` serves lookups by key and writes (the query path); ``listing`` the List* RPCs, with a
    statement budget and custom plans; ``search`` searches and summaries, with their own budget. A burst
    of listings waits for a listing connection and never holds one the online path needs; a listing over
    its budget is cancelled by PostgreSQL (QueryCanceledError), which the server maps to FAILED_PRECONDITION
    asking for a narrower filter (errors.statement_over_budget).
    """

    online: asyncpg.Pool
    listing: asyncpg.Pool
    search: asyncpg.Pool

    async def close(self) -> None:
        await asyncio.gather(self.online.close(), self.listing.close(), self.search.close())


async def create_work_pools(settings: Settings, schema: str, online_max_size: int = 10,
                            online_min_size: int = 2) -> WorkPools:
    """The three pools of :class:`WorkPools` sized and budgeted by ``settings``; the listing and search pools
    read a replica when ``database_read_url`` names one (their pages may then lag the primary by the
    replication delay; lookups and writes never do)."""
    online = await create_pool(settings.database_url, schema, min_size=online_min_size, max_size=online_max_size)
    url = settings.database_read_url or settings.database_url
    try:
        listing = await create_pool(url, schema, min_size=0, max_size=settings.db_listing_pool_size,
                                    kind="listing", statement_timeout_ms=settings.db_listing_timeout_ms,
                                    custom_plans=True)
        try:
            search = await create_pool(url, schema, min_size=0, max_size=settings.db_search_pool_size,
                                       kind="search", statement_timeout_ms=settings.db_search_timeout_ms,
                                       custom_plans=True)
        except BaseException:
            await listing.close()
            raise
    except BaseException:
        await online.close()
        raise
    return WorkPools(online, listing, search)


class DatabaseProbe:
    """Whether the database answers, on a connection of its own: what a service's readiness follows.

    Not the service's pools: a pool busy with calls under load would read as a database down (the check would
    queue behind them), and a probe must see the server, not the service's own traffic. The connection is
    opened on first use and after every failure (a failed or timed-out check leaves it in an unknown state)."""

    def __init__(self, url: str, schema: str) -> None:
        self._url = url
        self._schema = schema
        self._connection: asyncpg.Connection | None = None

    async def problem(self, within: float) -> BaseException | None:
        """None when the database answered ``SELECT 1`` within ``within`` seconds, else why it did not."""
        try:
            async with asyncio.timeout(within):
                if self._connection is None or self._connection.is_closed():
                    self._connection = await self._connect(within)
                await self._connection.fetchval("SELECT 1")
        except Exception as exc:  # any failure is the database not answering; the caller says which
            self.close()
            return exc
        return None

    async def _connect(self, within: float) -> asyncpg.Connection:
        """A connection of the probe's own (a 前置机's follows the URL its database.url_file holds now)."""
        return await asyncpg.connect(dsn=self._url, timeout=within,
                                     server_settings={"application_name": f"govshare-{self._schema}-readiness"})

    def close(self) -> None:
        """Drops the connection without waiting on the server (which may be the one not answering)."""
        if self._connection is not None:
            self._connection.terminate()
            self._connection = None


def migration_files(schema: str) -> list[Path]:
    """The service's migration files in the order they apply."""
    folder = _MIGRATIONS_ROOT / schema / "migrations"
    return sorted(folder.glob("*.sql")) if folder.is_dir() else []


async def migrate(url: str, schema: str, before: str = "") -> list[str]:
    """Applies the service's pending migrations (only those named before ``before``, when given: a test of a
    migration over data of the earlier schema); returns the names it applied."""
    applied: list[str] = []
    conn = await _migration_connection(url, schema)
    try:
        lock_id = migration_lock_id(schema)
        await _take_migration_lock(conn, schema, lock_id)
        try:
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            await conn.execute(
                f'CREATE TABLE IF NOT EXISTS "{schema}".schema_migrations ('
                " name text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["name"]: r["checksum"] for r in
                    await conn.fetch(f'SELECT name, checksum FROM "{schema}".schema_migrations')}
            for path in migration_files(schema):
                if before and path.name >= before:
                    break
                sql = path.read_text(encoding="utf-8")
                checksum = hashlib.sha256(sql.encode()).hexdigest()
                if path.name in done:
                    if done[path.name] not in {checksum, *_EARLIER_TEXTS.get((schema, path.name), ())}:
                        log.warning("migration %s/%s changed after it was applied", schema, path.name)
                    continue
                await _apply(conn, schema, path.name, sql, checksum)
                applied.append(path.name)
                log.info("applied migration %s/%s", schema, path.name)
            _report_newer(schema, done, before)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", lock_id)
    finally:
        await conn.close()
    return applied


async def _migration_connection(url: str, schema: str) -> asyncpg.Connection:
    """The connection a migration runs on, whose PostgreSQL backend ends soon after its client is gone.

    PostgreSQL notices a client that went away only when it next writes to it: a migration Job killed (kill -9,
    an evicted pod, a Ctrl-C'd `govshare migrate`) during a long CREATE INDEX or UPDATE left its backend running
    the statement to its end, holding the table's lock and the schema's migration lock, so the Job started again
    waited for a migration nobody would use (and the operator had to pg_terminate_backend it by hand).
    client_connection_check_interval has the backend check the socket every MIGRATION_CLIENT_CHECK_MS while it
    runs a statement and end it, rolled back, once the client is gone."""
    return await asyncpg.connect(dsn=url, server_settings={
        "application_name": f"govshare-migrate-{schema}",
        "client_connection_check_interval": str(MIGRATION_CLIENT_CHECK_MS)})


async def _apply(conn: asyncpg.Connection, schema: str, name: str, sql: str, checksum: str) -> None:
    """Applies one migration in a transaction that gives way to the service's calls while a table it changes is
    in use, and tries again.

    A migration's ALTER TABLE or CREATE INDEX waits for every transaction using its table (a long listing, an
    export, a verification), and while it waits every call that needs the table queues behind it: during a helm
    upgrade, whose migration Job runs beside the serving pods, a migration stopped the platform for as long as
    the longest transaction on the table lasted. A lock not granted within MIGRATION_LOCK_TIMEOUT_MS now undoes
    the migration (nothing of it stays) and it is tried again after a pause, the queued calls served meanwhile.
    A migration that is one CREATE INDEX CONCURRENTLY runs outside a transaction (concurrent_index), its short
    steps each giving way so, and is recorded once its index is valid."""
    async def record(tx: asyncpg.Connection) -> None:
        await tx.execute(f'INSERT INTO "{schema}".schema_migrations (name, checksum) VALUES ($1, $2)', name, checksum)

    async def step(work: Callable[[asyncpg.Connection], Awaitable[None]]) -> None:
        await _giving_way(conn, schema, name, work)

    index = concurrent_index.parse(sql)
    if index is None:
        async def whole(tx: asyncpg.Connection) -> None:
            await tx.execute(sql)
            await record(tx)

        await step(whole)
        return
    await conn.execute(f'SET search_path TO "{schema}", public')
    try:
        await concurrent_index.build(conn, index, step)
    finally:
        await conn.execute("RESET search_path")
    await step(record)


async def _giving_way(conn: asyncpg.Connection, schema: str, name: str,
                      work: Callable[[asyncpg.Connection], Awaitable[None]]) -> None:
    """Runs ``work`` in a transaction of ``schema`` that is undone and tried again after a pause while a lock it
    needs is not granted within MIGRATION_LOCK_TIMEOUT_MS (see _apply)."""
    for attempt in itertools.count(1):
        try:
            async with conn.transaction():
                await conn.execute(f'SET LOCAL search_path TO "{schema}", public')
                await conn.execute(f"SET LOCAL lock_timeout = {int(MIGRATION_LOCK_TIMEOUT_MS)}")
                await work(conn)
            return
        except asyncpg.LockNotAvailableError:
            pause = min(MIGRATION_RETRY_SECONDS * attempt, 30.0)
            log.warning("migration %s/%s waits for a table that other transactions are using (attempt %d): it gave "
                        "way after %d ms so that the calls queued behind it are served, and tries again in %.1f s",
                        schema, name, attempt, MIGRATION_LOCK_TIMEOUT_MS, pause)
            await asyncio.sleep(pause)


def migration_lock_id(schema: str) -> int:
    """The advisory lock that serialises the migrations of ``schema`` (every replica, Job and `govshare up`)."""
    return int.from_bytes(hashlib.sha256(f"govshare-migrate-{schema}".encode()).digest()[:8], "big", signed=True)


async def _take_migration_lock(conn: asyncpg.Connection, schema: str, lock_id: int) -> None:
    """Takes the schema's migration lock, first saying who holds it when another does.

    The wait itself is right (two replicas or Jobs at once: the second applies nothing once the first is done),
    but it was silent: a migration Job waiting behind another, or behind the server process of one killed
    (kill -9, an evicted pod: PostgreSQL finishes the statement it was running before it notices), logged
    nothing until the upgrade's timeout. The holder's process id and what it runs tell the operator whether to
    wait or end it (pg_terminate_backend)."""
    if await conn.fetchval("SELECT pg_try_advisory_lock($1)", lock_id):
        return
    holder = await conn.fetchrow(
        "SELECT a.pid, a.application_name, a.client_addr::text AS client, a.state,"
        " extract(epoch FROM now() - a.xact_start)::int AS seconds, left(a.query, 120) AS query"
        " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = $1 AND l.objid::bigint = $2",
        (lock_id >> 32) & 0xFFFFFFFF, lock_id & 0xFFFFFFFF)
    log.warning("the %s schema's migrations wait for %s; once it ends they apply what it left pending (end it "
                "with SELECT pg_terminate_backend(pid) only if its client is gone)", schema, _lock_holder(holder))
    await conn.execute("SELECT pg_advisory_lock($1)", lock_id)


def _lock_holder(holder: asyncpg.Record | None) -> str:
    """Who holds the migration lock, in the words of the warning above."""
    if holder is None:  # released in between
        return "another migration (it has just ended)"
    source = f" from {holder['client']}" if holder["client"] else ""
    running = f" for {holder['seconds']} s" if holder["seconds"] is not None else ""
    return (f"another migration: PostgreSQL process {holder['pid']} ({holder['application_name'] or 'no name'}"
            f"{source}, {holder['state']}{running}: {holder['query']!r})")


def _report_newer(schema: str, done: dict[str, str], before: str) -> None:
    """Warns when the schema holds migrations this code does not have: a newer release migrated the database and
    this older one was started on it (a rollback, or two versions side by side). It runs, as the expand-first
    rule allows (docs/deploy.md, "Upgrade and rollback"), but the operator reading its log should know."""
    known = {path.name for path in migration_files(schema)}
    newer = sorted(name for name in done if name not in known)
    if newer and not before:
        log.warning("the %s schema has migrations this version of govshare does not have (%s): a newer version "
                    "migrated the database; this one runs on it only as far as those changes are expand-only "
                    "(docs/deploy.md, Upgrade and rollback)", schema, ", ".join(newer))


async def migrate_all(url: str) -> dict[str, list[str]]:
    """Migrates every service's schema (the `govshare migrate` command and the Helm hook Job)."""
    return {schema: await migrate(url, schema) for schema in SERVICES_WITH_SCHEMA}
