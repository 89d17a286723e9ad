"""All SQL of the foundation service (asyncpg, parameterised).

Each dataset lives in its own typed table (migrations/001_init.sql); the statements for a
dataset are built once from its item list in datasets.py, so a table and its statements
cannot drift apart. Identifiers interpolated into SQL come only from those fixed
definitions, never from a request. Reads on the query path (lookup, batch lookup, export)
are single indexed statements that asyncpg prepares once per connection.

Writes that must be consistent run in a :class:`Transaction` that first locks the
dataset's row in ``datasets``: loads, conflict resolutions and bulk copies of one dataset
are serialised, so history, source values and conflicts always describe the same state.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache

import asyncpg

from services.foundation.datasets import DATASETS, DATE, NUMERIC, Dataset, Item

OPEN, RESOLVED = 1, 2  # govshare.foundation.v1.ConflictState
KEEP_AUTHORITATIVE = "KEEP_AUTHORITATIVE_VALUE"
ADOPT_OTHER = "ADOPT_OTHER_VALUE"
VALUES_AGREE = "VALUES_AGREE"
# Below this planner estimate a table is counted exactly (cheap); above, the estimate is close enough.
EXACT_COUNT_BELOW = 100_000
MAX_HISTORY = 1000
_META = ("source_department_code", "as_of_time", "recorded_time")

Executor = asyncpg.Pool | asyncpg.Connection


@dataclass(slots=True)
class StoredRecord:
    """One current record (or one past version): canonical string values and provenance."""

    key: str
    values: dict[str, str]
    source_department_code: str
    as_of_time: datetime
    recorded_time: datetime


@dataclass(slots=True)
class Conflict:
    id: int
    dataset: str
    key: str
    item: str
    authoritative_value: str
    other_value: str
    other_source_department_code: str
    state: int
    resolution: str
    create_time: datetime


@dataclass(frozen=True, slots=True)
class Disagreement:
    """An item on which another source disagrees with the authoritative value."""

    key: str
    item: str
    authoritative_value: str
    other_value: str
    other_source_department_code: str


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    name: str
    key_item: str
    authoritative_department_code: str
    record_count: int


@dataclass(frozen=True, slots=True)
class SourceValues:
    """What a non-authoritative source last asserted about one record."""

    key: str
    source_department_code: str
    values: dict[str, str]
    as_of_time: datetime


class _Statements:
    """The SQL of one dataset, built from its item list."""

    def __init__(self, dataset: Dataset) -> None:
        table, key = dataset.name, dataset.key_item
        items = dataset.item_order
        if items[0] != key:
            raise ValueError(f"{table}: the key item must come first")
        columns = ", ".join((*items, *_META))
        self.table, self.key = table, key
        self.copy_columns = (*items, *_META)
        self.formatters = tuple((item.name, None if item.column_type not in (DATE, NUMERIC) else item.format)
                                for item in dataset.items)
        self.lookup = f"SELECT {columns} FROM {table} WHERE {key} = $1"
        self.batch = f"SELECT {columns} FROM {table} WHERE {key} = ANY($1::text[])"
        self.page = f"SELECT {columns} FROM {table} WHERE {key} > $1 ORDER BY {key} LIMIT $2"

        values = items[1:]
        set_values = ", ".join(f"{c} = EXCLUDED.{c}" for c in values)
        set_source = "source_department_code = EXCLUDED.source_department_code, as_of_time = EXCLUDED.as_of_time"
        arrays = ", ".join(f"${n}::{item.column_type}[]" for n, item in enumerate(dataset.items, start=1))
        count = len(items)
        self.upsert = (
            f"INSERT INTO {table} ({', '.join(items)}, as_of_time, recorded_time, source_department_code) "
            f"SELECT u.*, ${count + 3}::text FROM unnest({arrays}, ${count + 1}::timestamptz[], "
            f"${count + 2}::timestamptz[]) AS u "
            f"ON CONFLICT ({key}) DO UPDATE SET {set_values}, {set_source}, recorded_time = EXCLUDED.recorded_time"
        )

        # Bulk merge: COPY into an unindexed temp table, then one statement that keeps changed rows' old
        # versions in history and upserts (recorded_time moves only when values change).
        self.staging = f"staging_{table}"
        self.create_staging = (f"CREATE TEMP TABLE IF NOT EXISTS {self.staging} (LIKE {table} INCLUDING DEFAULTS) "
                               "ON COMMIT DELETE ROWS")
        as_json = "jsonb_strip_nulls(jsonb_build_object(" + ", ".join(
            f"'{item.name}', {_as_text(item, 't')}" for item in dataset.items) + "))"
        self.merge_staging = (
            "WITH history AS (INSERT INTO record_history "
            "(dataset, key, item_values, source_department_code, as_of_time, recorded_time) "
            f"SELECT '{table}', t.{key}, {as_json}, t.source_department_code, t.as_of_time, t.recorded_time "
            f"FROM {table} t JOIN {self.staging} s ON s.{key} = t.{key} "
            f"WHERE {_row('t', values)} IS DISTINCT FROM {_row('s', values)}) "
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {self.staging} "
            f"ON CONFLICT ({key}) DO UPDATE SET {set_values}, {set_source}, recorded_time = CASE WHEN "
            f"{_row(table, values)} IS DISTINCT FROM {_row('EXCLUDED', values)} "
            f"THEN EXCLUDED.recorded_time ELSE {table}.recorded_time END"
        )

    def record(self, row: asyncpg.Record) -> StoredRecord:
        """A row (items then provenance) as canonical strings."""
        values: dict[str, str] = {}
        for index, (name, format_) in enumerate(self.formatters):
            value = row[index]
            if value is not None:
                values[name] = value if format_ is None else format_(value)
        count = len(self.formatters)
        return StoredRecord(row[0], values, row[count], row[count + 1], row[count + 2])


def _row(alias: str, columns: Sequence[str]) -> str:
    return "(" + ", ".join(f"{alias}.{c}" for c in columns) + ")"


def _as_text(item: Item, alias: str) -> str:
    """SQL giving an item's canonical string (as Item.format does in Python)."""
    column = f"{alias}.{item.name}"
    if item.column_type == DATE:
        return f"to_char({column}, 'YYYY-MM-DD')"
    return f"{column}::text" if item.column_type == NUMERIC else column


@cache
def statements(dataset: str) -> _Statements:
    return _Statements(DATASETS[dataset])


def _conflict(row: asyncpg.Record) -> Conflict:
    return Conflict(row["id"], row["dataset"], row["key"], row["item"], row["authoritative_value"],
                    row["other_value"], row["other_source_department_code"], row["state"], row["resolution"],
                    row["create_time"])


_CONFLICT_COLUMNS = ("id, dataset, key, item, authoritative_value, other_value, other_source_department_code, "
                     "state, resolution, create_time")


async def set_authoritative_department(executor: Executor, dataset: str, department_code: str) -> None:
    """Makes ``department_code`` the one authoritative source of ``dataset`` (一数一源); KeyError if unknown."""
    status = await executor.execute(
        "UPDATE datasets SET authoritative_department_code = $2, update_time = now() WHERE name = $1",
        dataset, department_code)
    if status != "UPDATE 1":
        raise KeyError(f"unknown dataset {dataset!r}")


class Transaction:
    """Statements that run inside one transaction holding the dataset lock."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def lock_dataset(self, dataset: str) -> str | None:
        """Serialises writers of ``dataset``; returns its authoritative department (None while unset)."""
        return await self.conn.fetchval(
            "SELECT authoritative_department_code FROM datasets WHERE name = $1 FOR UPDATE", dataset)

    async def claim_authority(self, dataset: str, department_code: str) -> None:
        await self.conn.execute(
            "UPDATE datasets SET authoritative_department_code = $2, update_time = now() "
            "WHERE name = $1 AND authoritative_department_code IS NULL", dataset, department_code)

    async def current_records(self, dataset: str, keys: Sequence[str]) -> dict[str, StoredRecord]:
        sql = statements(dataset)
        return {row[0]: sql.record(row) for row in await self.conn.fetch(sql.batch, list(keys))}

    async def write_history(self, dataset: str, versions: Sequence[StoredRecord]) -> None:
        """Keeps superseded versions (R-FND-2: history is kept)."""
        if not versions:
            return
        await self.conn.execute(
            "INSERT INTO record_history (dataset, key, item_values, source_department_code, as_of_time, "
            "recorded_time) SELECT $1, * FROM unnest($2::text[], $3::jsonb[], $4::text[], $5::timestamptz[], "
            "$6::timestamptz[])",
            dataset, [v.key for v in versions], [json.dumps(v.values, ensure_ascii=False) for v in versions],
            [v.source_department_code for v in versions], [v.as_of_time for v in versions],
            [v.recorded_time for v in versions])

    async def upsert_records(self, dataset: str, rows: Sequence[dict[str, object]], source: str,
                             as_of_times: Sequence[datetime], recorded_times: Sequence[datetime]) -> None:
        """Writes typed rows in one statement (insert or replace by key)."""
        sql = statements(dataset)
        columns = [[row.get(name) for row in rows] for name, _ in sql.formatters]
        await self.conn.execute(sql.upsert, *columns, list(as_of_times), list(recorded_times), source)

    async def own_source_times(self, dataset: str, source: str, keys: Sequence[str]) -> dict[str, datetime]:
        rows = await self.conn.fetch(
            "SELECT key, as_of_time FROM source_values WHERE dataset = $1 AND source_department_code = $2 "
            "AND key = ANY($3::text[])", dataset, source, list(keys))
        return {row["key"]: row["as_of_time"] for row in rows}

    async def keep_source_values(self, dataset: str, source: str, kept: Sequence[SourceValues]) -> None:
        """Keeps a non-authoritative source's latest values for cross-checking."""
        await self.conn.execute(
            "INSERT INTO source_values (dataset, key, source_department_code, item_values, as_of_time) "
            "SELECT $1, u.key, $2, u.item_values, u.as_of_time "
            "FROM unnest($3::text[], $4::jsonb[], $5::timestamptz[]) AS u(key, item_values, as_of_time) "
            "ON CONFLICT (dataset, key, source_department_code) DO UPDATE SET item_values = EXCLUDED.item_values, "
            "as_of_time = EXCLUDED.as_of_time, recorded_time = now()",
            dataset, source, [k.key for k in kept], [json.dumps(k.values, ensure_ascii=False) for k in kept],
            [k.as_of_time for k in kept])

    async def other_source_values(self, dataset: str, keys: Sequence[str], authority: str) -> list[SourceValues]:
        rows = await self.conn.fetch(
            "SELECT key, source_department_code, item_values, as_of_time FROM source_values "
            "WHERE dataset = $1 AND key = ANY($2::text[]) AND source_department_code <> $3", dataset, list(keys),
            authority)
        return [SourceValues(r["key"], r["source_department_code"], json.loads(r["item_values"]), r["as_of_time"])
                for r in rows]

    async def conflicts_of_keys(self, dataset: str, keys: Sequence[str]) -> list[Conflict]:
        """Open conflicts of these records, and the dismissed ones (kept authoritative) that must not reopen."""
        rows = await self.conn.fetch(
            f"SELECT {_CONFLICT_COLUMNS} FROM conflicts WHERE dataset = $1 AND key = ANY($2::text[]) "
            f"AND (state = {OPEN} OR resolution LIKE '{KEEP_AUTHORITATIVE}%')", dataset, list(keys))
        return [_conflict(row) for row in rows]

    async def open_conflicts(self, dataset: str, found: Sequence[Disagreement]) -> None:
        """Records disagreements; a repeated one updates the open conflict of its item and source."""
        if not found:
            return
        await self.conn.execute(
            "INSERT INTO conflicts (dataset, key, item, authoritative_value, other_value, "
            "other_source_department_code) SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], "
            "$5::text[], $6::text[]) "
            f"ON CONFLICT (dataset, key, item, other_source_department_code) WHERE state = {OPEN} "
            "DO UPDATE SET authoritative_value = EXCLUDED.authoritative_value, other_value = EXCLUDED.other_value",
            dataset, [d.key for d in found], [d.item for d in found], [d.authoritative_value for d in found],
            [d.other_value for d in found], [d.other_source_department_code for d in found])

    async def close_conflicts(self, ids: Sequence[int], resolution: str, resolved_by: str) -> None:
        if ids:
            await self.conn.execute(
                f"UPDATE conflicts SET state = {RESOLVED}, resolution = $2, resolved_by = $3, resolve_time = now() "
                f"WHERE id = ANY($1::bigint[]) AND state = {OPEN}", list(ids), resolution, resolved_by)

    async def conflict(self, conflict_id: int, for_update: bool = False) -> Conflict | None:
        row = await self.conn.fetchrow(
            f"SELECT {_CONFLICT_COLUMNS} FROM conflicts WHERE id = $1" + (" FOR UPDATE" if for_update else ""),
            conflict_id)
        return None if row is None else _conflict(row)

    async def resolve_conflict(self, conflict_id: int, resolution: str, resolved_by: str) -> Conflict:
        row = await self.conn.fetchrow(
            f"UPDATE conflicts SET state = {RESOLVED}, resolution = $2, resolved_by = $3, resolve_time = now() "
            f"WHERE id = $1 RETURNING {_CONFLICT_COLUMNS}", conflict_id, resolution, resolved_by)
        return _conflict(row)

    async def item_changed(self, dataset: str, key: str, item: str, value: str, resolved_by: str) -> None:
        """After an adoption: other open conflicts on the item now compare against the new value."""
        await self.conn.execute(
            f"UPDATE conflicts SET state = {RESOLVED}, resolution = '{VALUES_AGREE}', resolved_by = $5, "
            f"resolve_time = now() WHERE dataset = $1 AND key = $2 AND item = $3 AND state = {OPEN} "
            "AND other_value = $4", dataset, key, item, value, resolved_by)
        await self.conn.execute(
            f"UPDATE conflicts SET authoritative_value = $4 WHERE dataset = $1 AND key = $2 AND item = $3 "
            f"AND state = {OPEN}", dataset, key, item, value)

    async def copy_records(self, dataset: str, rows: Sequence[tuple]) -> None:
        """COPY rows (items then provenance) into the table: the bulk path for new keys."""
        sql = statements(dataset)
        await self.conn.copy_records_to_table(sql.table, records=rows, columns=sql.copy_columns)

    async def merge_records(self, dataset: str, rows: Sequence[tuple]) -> None:
        """COPY rows into a staging table, then merge them in, keeping superseded versions in history."""
        sql = statements(dataset)
        await self.conn.execute(sql.create_staging)
        await self.conn.execute(f"TRUNCATE {sql.staging}")
        await self.conn.copy_records_to_table(sql.staging, records=rows, columns=sql.copy_columns)
        await self.conn.execute(sql.merge_staging)

    async def analyze(self, dataset: str) -> None:
        """Refreshes planner statistics (and the row estimate ListDatasets shows) after a bulk load."""
        await self.conn.execute(f"ANALYZE {statements(dataset).table}")


class FoundationStore:
    """The service's database access; the pool is attached when the component starts."""

    def __init__(self) -> None:
        self._pool: asyncpg.Pool | None = None

    def attach(self, pool: asyncpg.Pool | None) -> None:
        self._pool = pool

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the foundation store is not connected yet")
        return self._pool

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self.pool.acquire() as conn, conn.transaction():
            yield Transaction(conn)

    # ---- the provider hot path -------------------------------------------------------------------------------------

    async def lookup(self, dataset: str, key: str) -> StoredRecord | None:
        sql = statements(dataset)
        row = await self.pool.fetchrow(sql.lookup, key)
        return None if row is None else sql.record(row)

    async def batch_lookup(self, dataset: str, keys: Sequence[str]) -> list[StoredRecord]:
        sql = statements(dataset)
        return [sql.record(row) for row in await self.pool.fetch(sql.batch, list(keys))]

    async def page(self, dataset: str, after: str, limit: int) -> list[StoredRecord]:
        """Records in key order after ``after`` (keyset pagination: no long-lived snapshot or cursor)."""
        sql = statements(dataset)
        return [sql.record(row) for row in await self.pool.fetch(sql.page, after, limit)]

    # ---- curation --------------------------------------------------------------------------------------------------

    async def history(self, dataset: str, key: str) -> list[StoredRecord]:
        """Superseded versions of one record, newest first."""
        rows = await self.pool.fetch(
            "SELECT item_values, source_department_code, as_of_time, recorded_time FROM record_history "
            "WHERE dataset = $1 AND key = $2 ORDER BY id DESC LIMIT $3", dataset, key, MAX_HISTORY)
        return [StoredRecord(key, json.loads(r["item_values"]), r["source_department_code"], r["as_of_time"],
                             r["recorded_time"]) for r in rows]

    async def authoritative_department(self, dataset: str) -> str | None:
        return await self.pool.fetchval("SELECT authoritative_department_code FROM datasets WHERE name = $1",
                                        dataset)

    async def set_authoritative_department(self, dataset: str, department_code: str) -> None:
        await set_authoritative_department(self.pool, dataset, department_code)

    async def list_conflicts(self, dataset: str | None, state: int | None, after_id: int, limit: int,
                             viewer: str | None) -> list[Conflict]:
        """Conflicts in id order; a ``viewer`` department sees those of its datasets and those it raised."""
        rows = await self.pool.fetch(
            f"SELECT {', '.join(f'c.{c}' for c in _CONFLICT_COLUMNS.split(', '))} "
            "FROM conflicts c JOIN datasets d ON d.name = c.dataset "
            "WHERE ($1::text IS NULL OR c.dataset = $1) AND ($2::smallint IS NULL OR c.state = $2) AND c.id > $3 "
            "AND ($4::text IS NULL OR c.other_source_department_code = $4 OR d.authoritative_department_code = $4) "
            "ORDER BY c.id LIMIT $5", dataset, state, after_id, viewer, limit)
        return [_conflict(row) for row in rows]

    async def datasets(self) -> list[DatasetInfo]:
        """Datasets with their authoritative source and record counts (estimated for large tables)."""
        rows = await self.pool.fetch(
            "SELECT d.name, d.key_item, coalesce(d.authoritative_department_code, '') AS authority, "
            "coalesce(c.reltuples, -1)::bigint AS estimate "
            "FROM datasets d LEFT JOIN pg_class c ON c.oid = to_regclass(d.name)")
        found = {row["name"]: row for row in rows if row["name"] in DATASETS}
        infos = []
        for name in DATASETS:
            if name not in found:
                continue
            row = found[name]
            count = row["estimate"]
            if count < EXACT_COUNT_BELOW:
                count = await self.pool.fetchval(f"SELECT count(*) FROM {statements(name).table}")
            infos.append(DatasetInfo(name, row["key_item"], row["authority"], count))
        return infos
