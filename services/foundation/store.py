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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache

import asyncpg

from services.foundation.datasets import DATASETS, DATE, NUMERIC, Dataset, Item
from services.foundation.sources import (
    DESIGNATE_DATASET,
    DESIGNATE_ITEM,
    REGISTER_SOURCE,
    RETIRE_SOURCE,
    DatasetSources,
    Designation,
    DesignationRecord,
    SourceInfo,
    SourcesPosition,
)
from services.runtime import admin_events
from services.runtime.actors import Actor
from services.runtime.admin_events import AdminEvent
from services.runtime.identity import Caller
from services.runtime.pagination import MAX_BIGINT

#: The administrative-log actions of the source history's entries.
_ADMIN_ACTIONS = {REGISTER_SOURCE: "foundation.register_source", DESIGNATE_DATASET: "foundation.designate_source",
                  DESIGNATE_ITEM: "foundation.designate_item_source", RETIRE_SOURCE: "foundation.retire_source"}

OPEN, RESOLVED = 1, 2  # govshare.foundation.v1.ConflictState
KEEP_AUTHORITATIVE = "KEEP_AUTHORITATIVE_VALUE"
ADOPT_OTHER = "ADOPT_OTHER_VALUE"
VALUES_AGREE = "VALUES_AGREE"
#: The source that raised the conflict became the item's authoritative source: it has nobody to disagree with.
SOURCE_DESIGNATED = "SOURCE_DESIGNATED"
SOURCE_RETIRED = "SOURCE_RETIRED"
#: The source that raised the conflict no longer gives the item (its latest load left it empty): nothing to decide.
VALUE_WITHDRAWN = "VALUE_WITHDRAWN"
# Below this planner estimate a table is counted exactly (cheap); above, the estimate is close enough.
EXACT_COUNT_BELOW = 100_000
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
    #: The item's authoritative source when the conflict was read (listings only).
    authoritative_department_code: str = ""
    #: Who resolved it (issue 12).
    resolved_by: Actor = field(default_factory=Actor)


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


#: The keys a bulk load has written so far, on its own connection (Transaction.start_key_tracking).
_LOADED_KEYS = "bulk_loaded_keys"


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
                    row["create_time"], row.get("item_authority") or "",
                    Actor(row["resolved_by_id"], row["resolved_by_name"], row["resolved_by_department_code"]))


_CONFLICT_COLUMNS = ("id, dataset, key, item, authoritative_value, other_value, other_source_department_code, "
                     "state, resolution, create_time, resolved_by_id, resolved_by_name, resolved_by_department_code")


async def _designation(conn: Executor, dataset: str, authority: str | None) -> Designation:
    items = await conn.fetch("SELECT item, department_code FROM item_authorities WHERE dataset = $1", dataset)
    sources = await conn.fetch("SELECT department_code FROM dataset_sources WHERE dataset = $1", dataset)
    return Designation(dataset, authority, {r["item"]: r["department_code"] for r in items},
                       frozenset(r["department_code"] for r in sources))


class Transaction:
    """Statements that run inside one transaction holding the dataset lock."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def lock_dataset(self, dataset: str) -> str | None:
        """Serialises writers of ``dataset``; returns its authoritative department (None while unset)."""
        return await self.conn.fetchval(
            "SELECT authoritative_department_code FROM datasets WHERE name = $1 FOR UPDATE", dataset)

    async def lock_designation(self, dataset: str) -> Designation:
        """Locks ``dataset`` (as lock_dataset) and reads its sources: they cannot change until the commit."""
        return await _designation(self.conn, dataset, await self.lock_dataset(dataset))

    async def register_source(self, dataset: str, department_code: str, actor: Caller) -> bool:
        """Adds a source (and its history row); False if it was one already."""
        added = await self.conn.fetchval(
            "INSERT INTO dataset_sources (dataset, department_code) VALUES ($1, $2) ON CONFLICT DO NOTHING "
            "RETURNING true", dataset, department_code)
        if added:
            await self._record_designation(dataset, REGISTER_SOURCE, "", department_code, "", actor)
        return bool(added)

    async def retire_source(self, dataset: str, department_code: str, actor: Caller) -> None:
        """Ends ``department_code``'s registration (its history row kept, as RETIRE_SOURCE) and closes the open
        conflicts it raised (SOURCE_RETIRED): nobody is left to answer for its values."""
        await self.conn.execute("DELETE FROM dataset_sources WHERE dataset = $1 AND department_code = $2",
                                dataset, department_code)
        await self.conn.execute(
            f"UPDATE conflicts SET state = {RESOLVED}, resolution = '{SOURCE_RETIRED}', resolved_by = $3, "
            f"resolve_time = now() WHERE dataset = $1 AND state = {OPEN} AND other_source_department_code = $2",
            dataset, department_code, actor.department_code or actor.system_id)
        await self._record_designation(dataset, RETIRE_SOURCE, "", department_code, "", actor)

    async def designate(self, dataset: str, item: str, department_code: str, previous: str, actor: Caller) -> None:
        """Makes ``department_code`` authoritative for ``dataset`` (``item`` empty) or for one item of it."""
        if item:
            await self.conn.execute(
                "INSERT INTO item_authorities (dataset, item, department_code) VALUES ($1, $2, $3) "
                "ON CONFLICT (dataset, item) DO UPDATE SET department_code = EXCLUDED.department_code, "
                "update_time = now()", dataset, item, department_code)
        else:
            await self.conn.execute(
                "UPDATE datasets SET authoritative_department_code = $2, update_time = now() WHERE name = $1",
                dataset, department_code)
        await self._record_designation(dataset, DESIGNATE_ITEM if item else DESIGNATE_DATASET, item,
                                       department_code, previous, actor)

    async def _record_designation(self, dataset: str, action: int, item: str, department_code: str,
                                  previous: str, actor: Caller) -> None:
        """Keeps the change in the dataset's history and, in the same transaction, in the administrative log's
        outbox."""
        await self.conn.execute(
            "INSERT INTO source_designations (dataset, action, item, department_code, previous_department_code, "
            "actor_system_id, actor_department_code) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            dataset, action, item, department_code, previous, actor.system_id, actor.department_code)
        await admin_events.record(self.conn, AdminEvent.by(actor, _ADMIN_ACTIONS[action], dataset, {
            "item": item, "department_code": department_code, "previous_department_code": previous}))

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

    async def source_values(self, dataset: str, keys: Sequence[str]) -> list[SourceValues]:
        """Every current source's kept values of these records (a retired source's are kept, not compared)."""
        rows = await self.conn.fetch(
            "SELECT key, source_department_code, item_values, as_of_time FROM source_values "
            "WHERE dataset = $1 AND key = ANY($2::text[]) AND source_department_code IN "
            "(SELECT department_code FROM dataset_sources WHERE dataset = $1)", dataset, list(keys))
        return [SourceValues(r["key"], r["source_department_code"], json.loads(r["item_values"]), r["as_of_time"])
                for r in rows]

    async def kept_values_of(self, dataset: str, source: str, items: Sequence[str], after: str,
                             limit: int) -> list[SourceValues]:
        """``source``'s kept values holding any of ``items``, in key order after ``after`` (a page of them)."""
        rows = await self.conn.fetch(
            "SELECT key, item_values, as_of_time FROM source_values WHERE dataset = $1 AND source_department_code = $2 "
            "AND item_values ?| $3::text[] AND key > $4 ORDER BY key LIMIT $5", dataset, source, list(items), after,
            limit)
        return [SourceValues(r["key"], source, json.loads(r["item_values"]), r["as_of_time"]) for r in rows]

    async def set_source_value(self, dataset: str, key: str, source: str, item: str, value: str) -> None:
        """Makes ``source``'s kept value of one item ``value`` (after it adopted another source's value)."""
        await self.conn.execute(
            "INSERT INTO source_values (dataset, key, source_department_code, item_values, as_of_time) "
            "VALUES ($1, $2, $3, jsonb_build_object($4::text, $5::text), now()) "
            "ON CONFLICT (dataset, key, source_department_code) DO UPDATE SET "
            "item_values = source_values.item_values || EXCLUDED.item_values, recorded_time = now()",
            dataset, key, source, item, value)

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

    async def resolve_conflict(self, conflict_id: int, resolution: str, resolved_by: str, actor: Actor) -> Conflict:
        row = await self.conn.fetchrow(
            f"UPDATE conflicts SET state = {RESOLVED}, resolution = $2, resolved_by = $3, resolve_time = now(), "
            f"resolved_by_id = $4, resolved_by_name = $5, resolved_by_department_code = $6 "
            f"WHERE id = $1 RETURNING {_CONFLICT_COLUMNS}", conflict_id, resolution, resolved_by, actor.id,
            actor.display_name, actor.department_code)
        return _conflict(row)

    async def close_conflicts_raised_by(self, dataset: str, items: Sequence[str], department_code: str,
                                        resolved_by: str) -> None:
        """Closes the open conflicts ``department_code`` raised on ``items``, which it is now the source of."""
        await self.conn.execute(
            f"UPDATE conflicts SET state = {RESOLVED}, resolution = '{SOURCE_DESIGNATED}', resolved_by = $4, "
            f"resolve_time = now() WHERE dataset = $1 AND state = {OPEN} AND other_source_department_code = $2 "
            "AND item = ANY($3::text[])", dataset, department_code, list(items), resolved_by)

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

    async def start_key_tracking(self) -> None:
        """Makes this connection's empty table of the keys a bulk load has written (key, position in the load, line
        of its file: 0 when not read from a file).

        A temporary table, not a set in memory: a load of 10^8 records would need gigabytes of Python strings."""
        await self.conn.execute(f"DROP TABLE IF EXISTS {_LOADED_KEYS}")
        await self.conn.execute(f"CREATE TEMP TABLE {_LOADED_KEYS} "
                                "(key text PRIMARY KEY, position bigint NOT NULL, line bigint NOT NULL)")

    async def stop_key_tracking(self) -> None:
        """Drops the table of start_key_tracking (the connection may go back to a pool)."""
        await self.conn.execute(f"DROP TABLE IF EXISTS {_LOADED_KEYS}")

    async def loaded_key_positions(self, keys: Sequence[str]) -> dict[str, tuple[int, int]]:
        """Of ``keys``, those this load has written already, with the position and line of the record that had
        them."""
        rows = await self.conn.fetch(f"SELECT key, position, line FROM {_LOADED_KEYS} WHERE key = ANY($1::text[])",
                                     list(keys))
        return {r["key"]: (r["position"], r["line"]) for r in rows}

    async def remember_loaded_keys(self, keys: Sequence[tuple[str, int, int]]) -> None:
        """Adds (key, position, line) rows to the load's written keys, in the batch's transaction."""
        await self.conn.copy_records_to_table(_LOADED_KEYS, records=keys, columns=("key", "position", "line"))

    async def analyze(self, dataset: str) -> None:
        """Refreshes planner statistics (and the row estimate ListDatasets shows) after a bulk load."""
        await self.conn.execute(f"ANALYZE {statements(dataset).table}")


class FoundationStore:
    """The service's database access; the pool is attached when the component starts."""

    def __init__(self) -> None:
        self._pool: asyncpg.Pool | None = None
        self._listing: asyncpg.Pool | None = None

    def attach(self, pool: asyncpg.Pool | None, listing: asyncpg.Pool | None = None) -> None:
        """The online pool, and the listing pool (db.WorkPools) ListConflicts runs on: default ``pool``."""
        self._pool = pool
        self._listing = listing or pool

    def _listing_pool(self) -> asyncpg.Pool:
        """The pool the listings run on, with their budget (the online pool when none was attached)."""
        return self._listing or self.pool

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

    async def history(self, dataset: str, key: str, before: int, limit: int) -> list[tuple[int, StoredRecord]]:
        """Superseded versions of one record older than the history row ``before`` (MAX_BIGINT: from the newest),
        newest first, with their row ids (a keyset page: record_history_by_key)."""
        rows = await self.pool.fetch(
            "SELECT id, item_values, source_department_code, as_of_time, recorded_time FROM record_history "
            "WHERE dataset = $1 AND key = $2 AND id < $3 ORDER BY id DESC LIMIT $4", dataset, key, before, limit)
        return [(r["id"], StoredRecord(key, json.loads(r["item_values"]), r["source_department_code"],
                                       r["as_of_time"], r["recorded_time"])) for r in rows]

    async def record_admin_event(self, event: AdminEvent) -> None:
        """An administrative event of an act that changes nothing here (a read of a record's history), in the
        outbox: the relay takes it to the administrative log like the changes' events."""
        async with self.pool.acquire() as conn:
            await admin_events.record(conn, event)

    async def authoritative_department(self, dataset: str) -> str | None:
        return await self.pool.fetchval("SELECT authoritative_department_code FROM datasets WHERE name = $1",
                                        dataset)

    async def list_conflicts(self, dataset: str | None, state: int | None, after_id: int, limit: int,
                             viewer: str | None) -> list[Conflict]:
        """Conflicts in id order, with their item's authoritative source; a ``viewer`` department sees
        those of items it is authoritative for and those it raised."""
        rows = await (self._listing or self.pool).fetch(
            f"SELECT {', '.join(f'c.{c}' for c in _CONFLICT_COLUMNS.split(', '))}, "
            "coalesce(i.department_code, d.authoritative_department_code) AS item_authority "
            "FROM conflicts c JOIN datasets d ON d.name = c.dataset "
            "LEFT JOIN item_authorities i ON i.dataset = c.dataset AND i.item = c.item "
            "WHERE ($1::text IS NULL OR c.dataset = $1) AND ($2::smallint IS NULL OR c.state = $2) AND c.id > $3 "
            "AND ($4::text IS NULL OR c.other_source_department_code = $4 "
            "OR coalesce(i.department_code, d.authoritative_department_code) = $4) "
            "ORDER BY c.id LIMIT $5", dataset, state, after_id, viewer, limit)
        return [_conflict(row) for row in rows]

    async def designation(self, dataset: str) -> Designation:
        """A dataset's sources as they are now (without the lock writers take)."""
        async with self.pool.acquire() as conn:
            authority = await conn.fetchval("SELECT authoritative_department_code FROM datasets WHERE name = $1",
                                            dataset)
            return await _designation(conn, dataset, authority)

    async def sources(self, dataset: str, at: SourcesPosition, limit: int, fresh: bool = False) -> DatasetSources:
        """The dataset's designation with a page of its registered sources (by registration) and of its history
        (newest first), each resuming at ``at`` (a listing: its pool and budget). Each list is walked from its
        position on an index in its order: (dataset, register_time, department_code), foundation 007, and
        (dataset, id). ``fresh``: read the primary (the answer to a write, which a replica may not have yet)."""
        # The first page starts before any registration (year 1), so one statement serves every page.
        source_time, source_code = at.source or (datetime.min.replace(tzinfo=UTC), "")
        async with (self.pool if fresh else self._listing_pool()).acquire() as conn:
            authority = await conn.fetchval("SELECT authoritative_department_code FROM datasets WHERE name = $1",
                                            dataset)
            items = await conn.fetch(
                "SELECT item, department_code FROM item_authorities WHERE dataset = $1 ORDER BY item", dataset)
            sources = [] if at.sources_done else await conn.fetch(
                "SELECT department_code, register_time FROM dataset_sources WHERE dataset = $1 "
                "AND (register_time, department_code) > ($2, $3) ORDER BY register_time, department_code LIMIT $4",
                dataset, source_time, source_code, limit + 1)
            history = [] if at.designations_done else await conn.fetch(
                "SELECT id, action, item, department_code, previous_department_code, actor_system_id, "
                "actor_department_code, create_time FROM source_designations WHERE dataset = $1 AND id < $2 "
                "ORDER BY id DESC LIMIT $3", dataset, at.designation or MAX_BIGINT, limit + 1)
        shown_sources, shown_history = sources[:limit], history[:limit]
        sources_done = at.sources_done or len(sources) <= limit
        designations_done = at.designations_done or len(history) <= limit
        following = None if sources_done and designations_done else SourcesPosition(
            (shown_sources[-1]["register_time"], shown_sources[-1]["department_code"]) if shown_sources else at.source,
            shown_history[-1]["id"] if shown_history else at.designation, sources_done, designations_done)
        return DatasetSources(
            dataset, authority, {r["item"]: r["department_code"] for r in items},
            [SourceInfo(r["department_code"], r["register_time"]) for r in shown_sources],
            [DesignationRecord(r["id"], r["action"], r["item"], r["department_code"], r["previous_department_code"],
                               r["actor_system_id"], r["actor_department_code"], r["create_time"])
             for r in shown_history], following)

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
            count = await self._count(statements(name).table, row["estimate"])
            infos.append(DatasetInfo(name, row["key_item"], row["authority"], count))
        return infos

    async def _count(self, table: str, estimate: int, where: str = "", *args: object) -> int:
        """The rows of ``table`` (matching ``where``): counted when the table is small, else the planner's
        estimate — counting 10^8 persons reads 17 GB (23 s, measured, docs/capacity.md §6), and neither
        ListDatasets nor supervision's figures need the last unit of a national table."""
        if estimate < EXACT_COUNT_BELOW:
            return await self.pool.fetchval(f"SELECT count(*) FROM {table} {where}", *args)
        if not where:
            return estimate
        plan = await self.pool.fetchval(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM {table} {where}", *args)
        return int(json.loads(plan)[0]["Plan"]["Plan Rows"])

    # ---- figures for supervision (R-SUP-1) -------------------------------------------------------------------------

    async def dataset_freshness(self, dataset: str, stale_before: datetime | None) -> dict[str, object]:
        """A dataset's authoritative department, record count, and records older than ``stale_before`` (both
        estimated for tables of ``EXACT_COUNT_BELOW`` rows or more)."""
        table = DATASETS[dataset].name  # each dataset's table is named after it
        row = await self.pool.fetchrow(
            "SELECT coalesce((SELECT authoritative_department_code FROM datasets WHERE name = $1), '') AS authority,"
            " coalesce((SELECT reltuples FROM pg_class WHERE oid = to_regclass($2)), -1)::bigint AS estimate",
            dataset, table)
        records = await self._count(table, row["estimate"])
        stale = 0
        if stale_before is not None:
            stale = await self._count(table, row["estimate"], "WHERE as_of_time < $1", stale_before)
        return {"authority": row["authority"], "records": records, "stale": min(stale, records)}

    async def conflict_counts(self, start: datetime, end: datetime) -> list[asyncpg.Record]:
        """Conflicts raised and resolved in [start, end), and open at its end, by the item's authoritative source
        (the department that must settle them)."""
        return await self.pool.fetch(
            "SELECT coalesce(i.department_code, d.authoritative_department_code, '') AS department_code,"
            " count(*) FILTER (WHERE c.create_time >= $1 AND c.create_time < $2) AS raised,"
            " count(*) FILTER (WHERE c.resolve_time >= $1 AND c.resolve_time < $2) AS resolved,"
            " count(*) FILTER (WHERE c.create_time < $2 AND (c.resolve_time IS NULL OR c.resolve_time >= $2))"
            "  AS open FROM conflicts c JOIN datasets d ON d.name = c.dataset"
            " LEFT JOIN item_authorities i ON i.dataset = c.dataset AND i.item = c.item GROUP BY 1", start, end)
