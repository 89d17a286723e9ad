"""SQL of the 前置机: reading the department's own tables (PostgreSQL through asyncpg).

Each configured resource becomes a few prepared statements: one key (``$1``), many keys (``= ANY($1)``,
for a table or view) and key-ordered pages for Export. Values leave as the provider contract wants them:
strings in canonical form (dates YYYY-MM-DD, timestamps ISO 8601, numbers in decimal), absent when NULL.

At start :func:`check_resources` prepares every statement and compares the columns it returns with the
items' mapping, so an unknown column or SQL the database refuses stops the 前置机 with the configuration
line at fault, before it serves anything.
"""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass

import asyncpg

from frontproc.config import ConfigError, FrontprocConfig, ResourceConfig

#: One connection attempt's bound, for the check at start and for the pool's connections alike: a host that
#: drops packets is "does not answer" after this, not after asyncpg's 60 s default (longer than a call's deadline).
CONNECT_TIMEOUT_SECONDS = 5.0


def _ident(name: str) -> str:
    """A (schema-qualified) identifier, quoted (the configuration allows only plain names)."""
    return ".".join(f'"{part}"' for part in name.split("."))


@dataclass(frozen=True)
class Statements:
    """The SQL of one resource; ``batch`` and ``page`` are empty for a ``query`` resource."""

    one: str
    batch: str
    page: str
    #: Result column of the key, of each item and of the as-of time.
    key_column: str
    as_of_column: str


def statements(resource: ResourceConfig) -> Statements:
    as_of = resource.as_of_column.value if resource.as_of_column else ""
    key_item_column = resource.items[resource.key_item].value
    if resource.query is not None:
        return Statements(one=resource.query.value, batch="", page="", key_column=key_item_column,
                          as_of_column=as_of)
    assert resource.table is not None and resource.key_column is not None
    columns = sorted({column.value for column in resource.items.values()} | ({as_of} if as_of else set()))
    select = ", ".join(_ident(column) for column in columns)
    table, key = _ident(resource.table.value), _ident(resource.key_column.value)
    return Statements(
        one=f"SELECT {select} FROM {table} WHERE {key}::text = $1",
        batch=f"SELECT {select} FROM {table} WHERE {key}::text = ANY($1::text[])",
        page=f"SELECT {select} FROM {table} WHERE {key}::text > $1 ORDER BY {key}::text LIMIT $2",
        key_column=key_item_column, as_of_column=as_of)


def canonical(value: object) -> str:
    """A column value as the provider contract carries it."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class Row:
    key: str
    values: dict[str, str]
    as_of: dt.datetime | None


class DepartmentStore:
    """The department database, read only through the configured statements."""

    def __init__(self, config: FrontprocConfig) -> None:
        self._config = config
        self._statements = {name: statements(resource) for name, resource in config.resources.items()}
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        """Connects (raises while the database does not answer; the server retries)."""
        self._pool = await asyncpg.create_pool(self._config.database_url, min_size=1, max_size=10,
                                               command_timeout=10, timeout=CONNECT_TIMEOUT_SECONDS)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def _row(self, dataset: str, record: asyncpg.Record) -> Row:
        resource = self._config.resources[dataset]
        sql = self._statements[dataset]
        values = {item: canonical(record[column.value]) for item, column in resource.items.items()
                  if record[column.value] is not None}
        as_of = record[sql.as_of_column] if sql.as_of_column else None
        if isinstance(as_of, dt.date) and not isinstance(as_of, dt.datetime):
            as_of = dt.datetime.combine(as_of, dt.time(), dt.UTC)
        if isinstance(as_of, dt.datetime) and as_of.tzinfo is None:
            as_of = as_of.replace(tzinfo=dt.UTC)
        return Row(key=values.get(resource.key_item, ""), values=values, as_of=as_of)

    async def lookup(self, dataset: str, key: str) -> Row | None:
        assert self._pool is not None
        record = await self._pool.fetchrow(self._statements[dataset].one, key)
        return None if record is None else self._row(dataset, record)

    async def batch_lookup(self, dataset: str, keys: list[str]) -> list[Row]:
        assert self._pool is not None
        sql = self._statements[dataset]
        if sql.batch:
            return [self._row(dataset, record) for record in await self._pool.fetch(sql.batch, keys)]
        rows = [await self.lookup(dataset, key) for key in keys]
        return [row for row in rows if row is not None]

    def can_export(self, dataset: str) -> bool:
        return bool(self._statements[dataset].page)

    async def page(self, dataset: str, after: str, size: int) -> list[Row]:
        assert self._pool is not None
        records = await self._pool.fetch(self._statements[dataset].page, after, size)
        return [self._row(dataset, record) for record in records]


async def check_resources(config: FrontprocConfig, connection: asyncpg.Connection) -> None:
    """Prepares every resource's statements; ConfigError naming the line of each problem."""
    problems: list[str] = []
    for resource in config.resources.values():
        sql = statements(resource)
        source = resource.query or resource.table
        assert source is not None
        returned: set[str] = set()
        for text in (sql.one, sql.batch, sql.page):
            if not text:
                continue
            try:
                prepared = await connection.prepare(text)
            except asyncpg.PostgresError as exc:
                problems.append(f"{config.path}:{_line_of(resource, exc, source.line)}: resources "
                                f"{resource.dataset!r}: the database refuses it: {exc.__class__.__name__}: "
                                f"{str(exc).splitlines()[0]}")
                break
            returned = {attribute.name for attribute in prepared.get_attributes()}
        else:
            for item, column in [*resource.items.items(), *(
                    [("as_of_column", resource.as_of_column)] if resource.as_of_column else [])]:
                if column.value not in returned:
                    problems.append(f"{config.path}:{column.line}: resources {resource.dataset!r}: {item} maps to "
                                    f"column {column.value!r}, which {_source_name(resource)} does not return "
                                    f"(it has {', '.join(sorted(returned))})")
    if problems:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(problems))


def _source_name(resource: ResourceConfig) -> str:
    return f"table {resource.table.value}" if resource.table else "the query"


def _line_of(resource: ResourceConfig, error: asyncpg.PostgresError, default: int) -> int:
    """The line of the mapped column the database names as undefined, else that of the table or query."""
    if isinstance(error, asyncpg.UndefinedColumnError):
        for column in [*resource.items.values(), *([resource.as_of_column] if resource.as_of_column else []),
                       *([resource.key_column] if resource.key_column else [])]:
            if f'"{column.value}"' in str(error):
                return column.line
    return default

