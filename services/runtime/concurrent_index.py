"""A migration's CREATE INDEX CONCURRENTLY, on a partitioned table too (the access log).

A plain CREATE INDEX holds a SHARE lock on its table until the migration commits: on the access log (a month of
10^7 records a partition) every audit insert, and so every query call, waited for the whole build, which a helm
upgrade's migration Job runs beside the serving pods. PostgreSQL builds an index concurrently only on a plain
table; on a partitioned one the documented way is to create the parent's index ON ONLY the parent (invalid, no
rows read), build each partition's index concurrently, and attach each: the parent's index is valid once every
partition has one. A migration file written as one ``CREATE INDEX CONCURRENTLY name ON table (…);`` is run that
way (services/runtime/db.py), outside a transaction, each short step giving way as a migration does.

Every step can be run again: an index a stopped build left INVALID is dropped and built again, one built and not
yet attached is attached, and a partition created meanwhile (its index cloned from the parent's) or archived
meanwhile (gone) is taken as found.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

#: PostgreSQL's longest identifier (NAMEDATALEN - 1).
_MAX_NAME = 63
_STATEMENT = re.compile(
    r"CREATE\s+INDEX\s+CONCURRENTLY\s+(?:IF\s+NOT\s+EXISTS\s+)?([a-z_][a-z0-9_]*)\s+ON\s+([a-z_][a-z0-9_]*)\s+(.+?);?",
    re.IGNORECASE | re.DOTALL)
_COMMENT = re.compile(r"--[^\n]*")

#: Runs one short step in a transaction of the migration's schema that gives way while a table is in use.
Step = Callable[[Callable[[asyncpg.Connection], Awaitable[None]]], Awaitable[None]]


@dataclass(frozen=True)
class ConcurrentIndex:
    """``CREATE INDEX CONCURRENTLY name ON table definition``."""

    name: str
    table: str
    definition: str

    def partition_index(self, partition: str) -> str:
        """The name of ``partition``'s index: the parent's, with the partition's name for the table's."""
        suffix = self.name.removeprefix(f"{self.table}_")
        name = f"{partition}_{suffix}"
        if len(name) > _MAX_NAME:
            raise ValueError(f"index {name} of partition {partition} is longer than {_MAX_NAME} characters")
        return name


def parse(sql: str) -> ConcurrentIndex | None:
    """The migration's concurrent index when its one statement creates one; None for any other migration.

    A file that says CONCURRENTLY beside other statements is refused: it could not run in the migration's
    transaction, and its other statements would lose theirs."""
    text = _COMMENT.sub("", sql).strip()
    if not re.search(r"\bCONCURRENTLY\b", text, re.IGNORECASE):
        return None
    match = _STATEMENT.fullmatch(text)
    if match is None or ";" in match.group(3):
        raise ValueError("a migration with CREATE INDEX CONCURRENTLY must hold that one statement and nothing else")
    return ConcurrentIndex(match.group(1), match.group(2), match.group(3).strip())


async def build(conn: asyncpg.Connection, index: ConcurrentIndex, step: Step) -> None:
    """Builds ``index`` without holding a lock that stops the table's writes (see the module's docstring)."""
    if await conn.fetchval("SELECT relkind = 'p' FROM pg_class WHERE oid = to_regclass($1)", index.table):
        await _build_partitioned(conn, index, step)
    else:
        await _build_concurrently(conn, index.name, index.table, index.definition)


async def _build_partitioned(conn: asyncpg.Connection, index: ConcurrentIndex, step: Step) -> None:
    """The parent's index ON ONLY the parent, then each partition's built and attached until it is valid."""
    async def parent(tx: asyncpg.Connection) -> None:
        await tx.execute(f"CREATE INDEX IF NOT EXISTS {index.name} ON ONLY {index.table} {index.definition}")

    await step(parent)
    while not await conn.fetchval("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)", index.name):
        partitions = await _unindexed_partitions(conn, index)
        if not partitions:
            raise RuntimeError(f"index {index.name} is not valid though every partition of {index.table} has its own")
        for partition in partitions:
            child = index.partition_index(partition)
            try:
                await _build_concurrently(conn, child, partition, index.definition)
            except asyncpg.UndefinedTableError:
                continue  # archived meanwhile: gone with its rows

            async def attach(tx: asyncpg.Connection, child: str = child) -> None:
                if await tx.fetchval("SELECT to_regclass($1) IS NOT NULL", child):
                    await tx.execute(f"ALTER INDEX {index.name} ATTACH PARTITION {child}")

            await step(attach)


async def _unindexed_partitions(conn: asyncpg.Connection, index: ConcurrentIndex) -> list[str]:
    """The table's partitions with no index attached to ``index`` yet."""
    rows = await conn.fetch(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = to_regclass($1) AND NOT EXISTS ("
        "  SELECT 1 FROM pg_inherits ii JOIN pg_index x ON x.indexrelid = ii.inhrelid"
        "  WHERE ii.inhparent = to_regclass($2) AND x.indrelid = c.oid)"
        " ORDER BY c.relname", index.table, index.name)
    return [row["relname"] for row in rows]


async def _build_concurrently(conn: asyncpg.Connection, name: str, table: str, definition: str) -> None:
    """CREATE INDEX CONCURRENTLY, after dropping what a stopped build of it left (an INVALID index)."""
    if await conn.fetchval("SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)", name):
        await conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
    await conn.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} {definition}")
