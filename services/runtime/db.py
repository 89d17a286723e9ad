"""PostgreSQL: connection pools and per-service SQL migrations.

Each service owns one schema (named after the service) and a ``migrations/``
folder of numbered ``.sql`` files. Migrations run in order, once, inside a
transaction, under an advisory lock so that several replicas starting together
do not race; applied files are recorded in ``<schema>.schema_migrations``.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import asyncpg

from services.runtime import telemetry

log = logging.getLogger(__name__)

SERVICES_WITH_SCHEMA = ("catalog", "authorization", "query", "foundation", "supervision")
_MIGRATIONS_ROOT = Path(__file__).resolve().parent.parent


async def _keep_session(_connection: asyncpg.Connection) -> None:
    """Releases a pooled connection as it is (see ``create_pool``)."""


async def create_pool(url: str, schema: str, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    """A pool whose connections resolve unqualified names in the service's own schema first.

    Released connections skip asyncpg's reset query (``SELECT pg_advisory_unlock_all(); CLOSE ALL;
    UNLISTEN *; RESET ALL``): it is a second round trip on every release, as dear as a lookup by key.
    asyncpg still rolls back a transaction left open and drops listener callbacks. The invariant this
    relies on, kept by every service: **no session state on pooled connections** — settings only with
    ``SET LOCAL`` (inside a transaction), advisory locks only transaction-scoped (``pg_advisory_xact_lock``),
    cursors only inside transactions, no ``LISTEN`` (events travel on Redis), and temporary tables only
    ``ON COMMIT DROP`` or ``ON COMMIT DELETE ROWS`` with a name the same code reuses (foundation's staging
    tables). Code that needs anything else uses its own ``asyncpg.connect`` connection, not the pool.
    """
    telemetry.shorten_dependency_tracebacks()  # the pool logs each failed reconnection with a traceback
    return await asyncpg.create_pool(
        dsn=url,
        min_size=min_size,
        max_size=max_size,
        server_settings={"search_path": f"{schema},public", "application_name": f"govshare-{schema}"},
        command_timeout=30,
        reset=_keep_session,
    )


def migration_files(schema: str) -> list[Path]:
    """The service's migration files in the order they apply."""
    folder = _MIGRATIONS_ROOT / schema / "migrations"
    return sorted(folder.glob("*.sql")) if folder.is_dir() else []


async def migrate(url: str, schema: str, before: str = "") -> list[str]:
    """Applies the service's pending migrations (only those named before ``before``, when given: a test of a
    migration over data of the earlier schema); returns the names it applied."""
    applied: list[str] = []
    conn = await asyncpg.connect(dsn=url)
    try:
        lock_id = int.from_bytes(hashlib.sha256(f"govshare-migrate-{schema}".encode()).digest()[:8], "big",
                                 signed=True)
        await conn.execute("SELECT pg_advisory_lock($1)", lock_id)
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
                    if done[path.name] != checksum:
                        log.warning("migration %s/%s changed after it was applied", schema, path.name)
                    continue
                async with conn.transaction():
                    await conn.execute(f'SET LOCAL search_path TO "{schema}", public')
                    await conn.execute(sql)
                    await conn.execute(
                        f'INSERT INTO "{schema}".schema_migrations (name, checksum) VALUES ($1, $2)',
                        path.name, checksum,
                    )
                applied.append(path.name)
                log.info("applied migration %s/%s", schema, path.name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", lock_id)
    finally:
        await conn.close()
    return applied


async def migrate_all(url: str) -> dict[str, list[str]]:
    """Migrates every service's schema (the `govshare migrate` command and the Helm hook Job)."""
    return {schema: await migrate(url, schema) for schema in SERVICES_WITH_SCHEMA}
