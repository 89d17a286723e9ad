"""SQL of the 前置机: reading the department's own tables (PostgreSQL through asyncpg).

Each configured resource becomes a few prepared statements: one key (``$1``), many keys (``= ANY($1)``,
for a table or view) and key-ordered pages for Export. Values leave as the provider contract wants them:
strings in canonical form (dates YYYY-MM-DD, timestamps ISO 8601 with their offset, numbers in decimal),
absent when NULL. A time without a zone is in the database's zone (``database.time_zone``, Beijing time by
default): read as UTC, a record a Chinese department updated at 10:00 would say it was true at 18:00.

At start :func:`check_resources` prepares every statement and compares the columns it returns with the
items' mapping, so an unknown column, a column with no text form or SQL the database refuses stops the 前置机
with the configuration line at fault, before it serves anything.
"""

from __future__ import annotations

import asyncio
import codecs
import datetime as dt
import decimal
import functools
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import asyncpg
import grpc

from frontproc.config import KEY_KINDS, ConfigError, FrontprocConfig, ResourceConfig, database_url_now
from govshare.catalog.v1 import catalog_pb2
from services.connection import public_url
from services.query.keys import UPPER_CASE_KINDS, key_error, normalize_key
from services.runtime.errors import ServiceError, dependency_failure, dependency_unavailable, describe
from services.runtime.identifiers import first_generation, second_generation
from services.runtime.masking import Masker
from services.runtime.server import MAX_MESSAGE_BYTES
from services.runtime.timestamps import MAX_SECONDS, MIN_SECONDS

log = logging.getLogger(__name__)

#: One connection attempt's bound, for the check at start and for the pool's connections alike: a host that
#: drops packets is "does not answer" after this, not after asyncpg's 60 s default (longer than a call's deadline).
CONNECT_TIMEOUT_SECONDS = 5.0
#: How long one statement may take before the database is taken for one that does not answer: the pool's bound
#: on every call, and the check's on preparing each statement.
STATEMENT_TIMEOUT_SECONDS = 10.0
#: A statement cut by the end of the platform's call after running this long is said slow (a healthy database
#: answers a keyed lookup within milliseconds; the runtime calls a dependency hung after half a second too).
SLOW_WHEN_CUT_SECONDS = 0.5
#: The most a record's values may weigh (UTF-8): the platform answers a query in one message of at most
#: MAX_MESSAGE_BYTES, and the reply needs room for its envelope (provenance, masks, audit id) beside them.
MAX_RECORD_BYTES = MAX_MESSAGE_BYTES - 64 * 1024


def _ident(name: str) -> str:
    """A (schema-qualified) identifier, quoted (the configuration allows only plain names)."""
    return ".".join(f'"{part}"' for part in name.split("."))


_PLAIN_NAME = re.compile(r"[a-z_][a-z0-9_]*")


def sql_name(name: str) -> str:
    """A column name as advice to paste writes it: as it is when PostgreSQL reads it so unquoted (sfzhm), quoted
    otherwise (a name kept with capitals, "SFZHM", as tables migrated from Oracle have them, or a Chinese one).

    Written as it was, NEW.SFZHM in an advised trigger read as NEW.sfzhm, which the row does not have: the trigger
    failed, and with it every write to the department's table."""
    return name if _PLAIN_NAME.fullmatch(name) else _ident(name)


@dataclass(frozen=True)
class Statements:
    """The SQL of one resource; ``batch`` and ``page`` are empty for a ``query`` resource."""

    one: str
    batch: str
    page: str
    #: The keys of a page alone (as ``page`` orders them): an export reads a page holding a row the database
    #: cannot send row by row, so that the others still leave.
    page_keys: str
    #: ``page_keys`` of a SQL_ASCII database, its keys and the key after which they start as their bytes: a key
    #: that is not UTF-8 there is not sent as text, but the export goes on after it.
    page_key_bytes: str
    #: Result column of the key, of each item and of the as-of time.
    key_column: str
    as_of_column: str


def statements(resource: ResourceConfig) -> Statements:
    as_of = resource.as_of_column.value if resource.as_of_column else ""
    key_item_column = resource.items[resource.key_item].value
    if resource.query is not None:
        return Statements(one=resource.query.value, batch="", page="", page_keys="", page_key_bytes="",
                          key_column=key_item_column, as_of_column=as_of)
    assert resource.table is not None and resource.key_column is not None
    columns = sorted({column.value for column in resource.items.values()} | ({as_of} if as_of else set()))
    select = ", ".join(_ident(column) for column in columns)
    table, key = _ident(resource.table.value), _ident(resource.key_column.value)
    return Statements(
        one=f"SELECT {select} FROM {table} WHERE {key}::text = $1",
        batch=f"SELECT {select} FROM {table} WHERE {key}::text = ANY($1::text[])",
        page=f"SELECT {select} FROM {table} WHERE {key}::text > $1 ORDER BY {key}::text LIMIT $2",
        page_keys=f"SELECT {key}::text FROM {table} WHERE {key}::text > $1 ORDER BY {key}::text LIMIT $2",
        page_key_bytes=f"SELECT convert_to({key}::text, 'SQL_ASCII') FROM {table} WHERE {key}::text > "
                       f"convert_from($1, 'SQL_ASCII') ORDER BY {key}::text LIMIT $2",
        key_column=key_item_column, as_of_column=as_of)


#: Server encodings that hold any key the platform may ask for: UTF8, and SQL_ASCII, which converts nothing.
_ENCODINGS_OF_ANY_KEY = frozenset({"UTF8", "SQL_ASCII"})

#: Column types whose values have no text form a caller could read (asyncpg gives Python objects whose
#: ``str`` is Python's own notation: ``b'\\x00'``, ``['a', 'b']``, ``1 day, 2:00:00``); a view or a query can
#: cast them to one (``encode(photo, 'base64')``, ``array_to_string(tags, ',')``).
_NO_TEXT_FORM_KINDS = ("array", "composite", "range", "multirange")
#: A "char" (PostgreSQL's internal one-byte type, not char(n)) is among them: asyncpg reads it as bytes, and cannot
#: be told otherwise (its name "char" is taken for char(n)'s); it passed the check and every call was then refused
#: as a column altered to bytea (DATABASE_REFUSED, the endpoint rested).
_NO_TEXT_FORM_TYPES = frozenset({"bytea", "interval", "money", "point", "line", "lseg", "box", "path", "polygon",
                                 "circle", "bit", "varbit", "tsvector", "tsquery", "pg_lsn", "txid_snapshot",
                                 "pg_snapshot", "char"})
#: What asyncpg reads the column types above as: their ``str`` is Python's notation, which the check at start keeps
#: from being shared; a column altered to such a type while the 前置机 serves is found by its values.
_NO_TEXT_FORM_VALUES = (bytes, list, tuple, dt.timedelta, asyncpg.Record, asyncpg.types.Range,
                        asyncpg.types.BitString, asyncpg.types.Path)


def _python_kind(value: object) -> str:
    """What a value of no text form is, in the database's words, for the log (never the value: personal data)."""
    kinds = {bytes: "bytea", list: "an array", dt.timedelta: "an interval", asyncpg.Record: "a composite type",
             asyncpg.types.Range: "a range", asyncpg.types.BitString: "a bit string"}
    return next((kind for python, kind in kinds.items() if isinstance(value, python)), "a geometric type")


#: pg_type.typcategory of the parameter types a key, a Python str, can be sent as: string types (text, varchar,
#: char, name, citext, domains over them) and enums.
_KEY_CATEGORIES = frozenset({"S", "E"})
#: Column types an as-of time can be read from.
_AS_OF_TYPES = frozenset({"timestamptz", "timestamp", "date"})

_NUMBER_COLUMNS = frozenset({"int2", "int4", "int8", "numeric", "float4", "float8"})
#: The column types whose values are of each catalog data type (govshare.catalog.v1.DataType) as the platform
#: reads it: Verify compares a numeric item's values as numbers, a date item's as days, a logical one's as
#: true/false. A data type not listed (字符型, 备注型, 通用型) takes any column.
_COLUMNS_OF_DATA_TYPE: dict[int, frozenset[str]] = {
    **dict.fromkeys((catalog_pb2.DATA_TYPE_NUMERIC, catalog_pb2.DATA_TYPE_CURRENCY, catalog_pb2.DATA_TYPE_DOUBLE,
                     catalog_pb2.DATA_TYPE_FLOAT, catalog_pb2.DATA_TYPE_INTEGER), _NUMBER_COLUMNS),
    catalog_pb2.DATA_TYPE_DATE: frozenset({"date"}),
    catalog_pb2.DATA_TYPE_DATETIME: frozenset({"timestamp", "timestamptz"}),
    catalog_pb2.DATA_TYPE_LOGICAL: frozenset({"bool"}),
}
#: The data type an entry would declare for a column of each type (any other: DATA_TYPE_CHARACTER).
_DATA_TYPE_OF_COLUMN: dict[str, int] = {
    **dict.fromkeys(("int2", "int4", "int8"), catalog_pb2.DATA_TYPE_INTEGER),
    "numeric": catalog_pb2.DATA_TYPE_NUMERIC, "float4": catalog_pb2.DATA_TYPE_DOUBLE,
    "float8": catalog_pb2.DATA_TYPE_DOUBLE, "date": catalog_pb2.DATA_TYPE_DATE,
    "timestamp": catalog_pb2.DATA_TYPE_DATETIME, "timestamptz": catalog_pb2.DATA_TYPE_DATETIME,
    "bool": catalog_pb2.DATA_TYPE_LOGICAL,
}


def _no_value(value: object) -> bool:
    """Whether a column's value leaves the record out of it: NULL, a day's 'infinity' or '-infinity' (Endless), and
    a number's 'NaN', 'Infinity' or '-Infinity' (numeric, float8, real), no number a caller could read: shared as
    "NaN" and "Infinity", they broke the contract's "numbers in decimal" (a Java caller's new BigDecimal("NaN")
    throws, and a 数值型 item is one to add up)."""
    if value is None or isinstance(value, Endless):
        return True
    if isinstance(value, decimal.Decimal):
        return not value.is_finite()
    return isinstance(value, float) and not math.isfinite(value)


def canonical(value: object, zone: dt.tzinfo) -> str:
    """A column value as the provider contract carries it; times without a zone are in ``zone``."""
    if isinstance(value, dt.datetime):
        try:
            return in_zone(value, zone).isoformat()
        except OverflowError:  # a time within hours of year 9999's end, beyond it in ``zone``: left in its own
            return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        # repr is the shortest text that reads back as the same float; Decimal writes it without an exponent
        # (0.00001, not 1e-05).
        return format(decimal.Decimal(repr(value)), "f")
    return str(value)


def _preferred(row: Row) -> tuple[bool, float, tuple[tuple[str, str], ...]]:
    """The rank of a row among those holding its key (the highest answers it): the one holding the key as the
    platform writes it (…X before …x), then the one true the latest (as_of_column), then the greatest values.

    A key held by several rows (a table without a unique key) answered a Lookup with the first row the database
    returned and a BatchLookup with the last: Query and BatchQuery of one person gave two records, either of which
    could change from one call to the next. The last criterion only makes the choice the same every time.
    """
    return row.cursor == row.key, row.as_of.timestamp() if row.as_of else float("-inf"), \
        tuple(sorted(row.values.items()))


async def read_as_text_form(connection: asyncpg.Connection) -> None:
    """Makes ``connection`` read a char(n) value as PostgreSQL's own text form of it (``xm::text``): without the
    blanks that pad it to n characters. asyncpg gives them, and a table migrated from Oracle or DB2 (char(10) for a
    name, char(18) for a 公民身份号码) shared '张三        ' and a key its export paged past as 'A1          '.

    Dates and timestamps are read so that 'infinity' and '-infinity' are told from real days (:data:`ENDLESS`):
    asyncpg reads them as 9999-12-31 and 0001-01-01, which a date a department really holds may be. A time of day
    of '24:00:00' is read as that text (datetime.time has no such time).

    A real (float4) is read as the number PostgreSQL writes for it (``123.45``): asyncpg gives the float8 nearest
    its binary value, and an area of 123.45 m² left as 123.44999694824219, which a verification of 123.45 did not
    match."""
    await connection.set_type_codec("bpchar", schema="pg_catalog", encoder=str, decoder=_unpadded, format="text")
    await connection.set_type_codec("float4", schema="pg_catalog", encoder=str, decoder=decimal.Decimal,
                                    format="text")
    for name, (encoder, decoder) in _TIME_CODECS.items():
        await connection.set_type_codec(name, schema="pg_catalog", encoder=encoder, decoder=decoder, format="tuple")


def _unpadded(value: str) -> str:
    return value.rstrip(" ")


class Endless:
    """PostgreSQL's 'infinity' or '-infinity' in a date or timestamp column: no day at all."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: What a date or timestamp column's 'infinity' and '-infinity' are read as (read_as_text_form).
ENDLESS = (Endless("infinity"), Endless("-infinity"))
#: PostgreSQL's binary forms count days (a date) or microseconds (a timestamp) from 2000-01-01, with the type's
#: largest and smallest number for 'infinity' and '-infinity'.
_EPOCH_DAY = dt.date(2000, 1, 1).toordinal()
_EPOCH = dt.datetime(2000, 1, 1)
_EPOCH_UTC = _EPOCH.replace(tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)


def _endless(number: int, bits: int) -> Endless | None:
    return ENDLESS[0] if number == 2 ** (bits - 1) - 1 else ENDLESS[1] if number == -(2 ** (bits - 1)) else None


#: What a date or timestamp Python cannot hold is read as (a year past 9999, 20260-03-01 typed for 2026-03-01; a day
#: before year 1): asyncpg's own codecs raised, and the call ended INTERNAL.
OUT_OF_RANGE = Endless("a day before year 1 or after year 9999")


def _date(value: tuple[int]) -> dt.date | Endless:
    try:
        return _endless(value[0], 32) or dt.date.fromordinal(_EPOCH_DAY + value[0])
    except (ValueError, OverflowError):
        return OUT_OF_RANGE


def _timestamp(value: tuple[int]) -> dt.datetime | Endless:
    try:
        return _endless(value[0], 64) or _EPOCH + value[0] * _MICROSECOND
    except OverflowError:
        return OUT_OF_RANGE


def _timestamptz(value: tuple[int]) -> dt.datetime | Endless:
    try:
        return _endless(value[0], 64) or _EPOCH_UTC + value[0] * _MICROSECOND
    except OverflowError:
        return OUT_OF_RANGE


def _date_number(value: dt.date) -> tuple[int]:
    return (value.toordinal() - _EPOCH_DAY,)


def _timestamp_number(value: dt.datetime) -> tuple[int]:
    return ((value - (_EPOCH if value.tzinfo is None else _EPOCH_UTC)) // _MICROSECOND,)


#: A time of day PostgreSQL keeps and Python's datetime.time cannot: '24:00:00', the end of a day (a 营业时间 or
#: 办理时段 that ends at midnight). asyncpg's codec raised ValueError on it, and the call ended INTERNAL.
_DAY = 86_400_000_000


def _time(value: tuple[int]) -> dt.time | str:
    if value[0] == _DAY:
        return "24:00:00"  # as PostgreSQL writes it (and ISO 8601: the end of the day)
    seconds, microsecond = divmod(value[0], 1_000_000)
    return dt.time(seconds // 3600, seconds // 60 % 60, seconds % 60, microsecond)


def _timetz(value: tuple[int, int]) -> dt.time | str:
    """PostgreSQL's binary form: microseconds since midnight, and the zone's offset in seconds west of UTC."""
    zone = dt.timezone(dt.timedelta(seconds=-value[1]))
    if value[0] == _DAY:
        return "24:00:00" + dt.time(tzinfo=zone).isoformat()[len("00:00:00"):]
    return _time(value[:1]).replace(tzinfo=zone)  # type: ignore[union-attr]


def _time_number(value: dt.time) -> tuple[int]:
    return (((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000 + value.microsecond,)


def _timetz_number(value: dt.time) -> tuple[int, int]:
    offset = value.utcoffset()
    return (*_time_number(value), -int(offset.total_seconds()) if offset is not None else 0)


_TIME_CODECS = {"date": (_date_number, _date), "timestamp": (_timestamp_number, _timestamp),
                "timestamptz": (_timestamp_number, _timestamptz), "time": (_time_number, _time),
                "timetz": (_timetz_number, _timetz)}


def in_zone(value: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    """``value`` in ``zone``: a time without a zone is taken to be in it, one with a zone is converted.

    Before a zone's first standard time the IANA database gives its local mean time, to the second (Asia/Shanghai
    +08:05:43 before 1901, Asia/Urumqi +05:50:20 before 1928): a 出生日期 or 登记时间 of 1900 left as
    1900-01-01T00:00:00+08:05:43 beside every later time's +08:00, an offset no Chinese register ever used, which
    a caller's parser keeps and a comparison with a later +08:00 time shifts by 5 min 43 s. Such a time is in the
    zone's first standard offset instead (:func:`standard_zone`)."""
    moment = value.replace(tzinfo=zone) if value.tzinfo is None else value.astimezone(zone)
    offset = moment.utcoffset()
    if offset is None or not offset % dt.timedelta(minutes=1):
        return moment
    standard = standard_zone(zone)
    return value.replace(tzinfo=standard) if value.tzinfo is None else value.astimezone(standard)


@functools.cache
def standard_zone(zone: dt.tzinfo) -> dt.tzinfo:
    """The fixed offset ``zone`` first kept in whole minutes (its first standard time, after its local mean time):
    +08:00 for Asia/Shanghai. A zone that never had one (none in the IANA database) is left as it is."""
    for year in range(1850, 2000):
        offset = dt.datetime(year, 1, 1, tzinfo=zone).utcoffset()
        if offset is not None and not offset % dt.timedelta(minutes=1):
            return dt.timezone(offset)
    return zone


def as_of_time(value: object, zone: dt.tzinfo) -> dt.datetime | None:
    """The as-of column's value as an aware time: a date is the start of that day in ``zone``.

    ValueError for 'infinity', '-infinity' or a time a Timestamp cannot hold (before year 1 in UTC): no time
    the record was true at. '-infinity' ended the call in an OverflowError (INTERNAL: the platform took the
    endpoint for one that does not answer), 'infinity' said the record was true as of 9999-12-31.
    """
    if value is OUT_OF_RANGE:
        raise ValueError("a time before year 1 or after year 9999")
    if isinstance(value, Endless):
        raise ValueError("infinity or -infinity")
    if isinstance(value, dt.datetime):
        moment = in_zone(value, zone)
    elif isinstance(value, dt.date):
        moment = in_zone(dt.datetime.combine(value, dt.time()), zone)
    else:
        return None
    if not MIN_SECONDS <= moment.timestamp() <= MAX_SECONDS:
        raise ValueError("a time before year 1 or after year 9999")
    return moment


@dataclass(frozen=True)
class Page:
    """One page of an export: the rows read, how many rows it left out, and where the next page starts."""

    rows: list[Row]
    #: Rows the database holds but cannot send (RECORD_UNREADABLE), each named in the log by its key, masked.
    skipped: int
    #: The key (as the table holds it) after which the next page starts; "" when this page was the last. Its bytes
    #: when it is a key of a SQL_ASCII database that is not UTF-8 (which cannot be sent as text).
    after: str | bytes


@dataclass(frozen=True)
class Row:
    #: The key as the platform writes it (services.query.keys.normalize_key), which it matches replies by.
    key: str
    values: dict[str, str]
    as_of: dt.datetime | None
    #: The key as the department's table holds it: where the next page of an export starts.
    cursor: str = ""


def _refusal(error: asyncpg.PostgresError) -> str:
    """The database's refusal for the log. A data exception (SQLSTATE class 22: a value that does not convert,
    say) quotes the value, which may be a person's data: it is named by its class and code only."""
    if isinstance(error, asyncpg.DataError):
        return f"{type(error).__name__}, SQLSTATE {error.sqlstate}"
    return describe(error)


#: The view column that reads GBK text kept in a SQL_ASCII database as UTF-8 (convert_from(xm, 'GBK') there gives
#: the same bytes back: the database's own encoding is SQL_ASCII, "no conversion").
GBK_IN_SQL_ASCII = "convert_from(convert(convert_to(xm, 'SQL_ASCII'), 'GBK', 'UTF8'), 'SQL_ASCII') AS xm"
#: What a data exception met while reading rows means for the department's DBA, by SQLSTATE.
_DATA_HINTS = {
    "22021": "text not valid in the database's encoding (GBK bytes in a SQL_ASCII database, say): convert the "
             f"row's text, or share a view that converts it (GBK in a SQL_ASCII database: {GBK_IN_SQL_ASCII})",
}


def _unreadable(dataset: str, error: asyncpg.DataError) -> ServiceError:
    """A row the database cannot send (SQLSTATE class 22): that record's problem, not the statements'.

    It was reported as the database refusing the statements of the dataset, with --check to run (which finds
    the statements valid); the row is for the DBA to fix. The key is not logged (personal data): the access
    log's line of the call, outcome RECORD_UNREADABLE, names the platform's audit id of the access, whose
    record names it.
    """
    hint = _DATA_HINTS.get(error.sqlstate or "", "a value that does not convert: fix the row or the view")
    log.warning("a row of %s holds a value the department database cannot send (%s): %s; the access log's line "
                "with outcome RECORD_UNREADABLE names the platform's audit id of the access", dataset,
                _refusal(error), hint)
    return ServiceError(grpc.StatusCode.FAILED_PRECONDITION, "RECORD_UNREADABLE",
                        f"a record of {dataset} holds a value the department database cannot send: the 前置机's log "
                        "says why")


def _several_in_a_subquery(dataset: str) -> ServiceError:
    """A record whose query (or view) has a scalar subquery returning several rows for it (SQLSTATE 21000: "more
    than one row returned by a subquery used as an expression"): that record's data error, not the statements'.

    ``(SELECT dz FROM addr a WHERE a.sfzhm = p.sfzhm) AS dz`` answers every person with one address and fails for
    one with two, the same data error as a query returning two rows for a key (RECORD_UNREADABLE). It was said to
    be the database refusing the dataset's statements (DATABASE_REFUSED, "--check says what the configuration
    needs", which passes): the platform rested the endpoint for every caller, a batch holding that person failed
    whole, and the log said the statements failed and answered again by turns. The key is not logged (personal
    data): the access log's line of the call names the platform's audit id of the access."""
    log.warning("a record of %s cannot be read: a subquery of its query or view returns more than one row for it "
                "(CardinalityViolationError, SQLSTATE 21000: a person with two addresses, say): make the subquery "
                "return one row (an aggregate such as string_agg(dz, '；'), or ORDER BY … LIMIT 1) or fix the rows; "
                "the access log's line with outcome RECORD_UNREADABLE names the platform's audit id of the access",
                dataset)
    return ServiceError(grpc.StatusCode.FAILED_PRECONDITION, "RECORD_UNREADABLE",
                        f"a record of {dataset} cannot be read by the department database's query: the 前置机's log "
                        "says why")


def _unreadable_keys(dataset: str, resource: ResourceConfig, error: asyncpg.DataError) -> ServiceError:
    """An export that cannot read the keys of its next rows (SQLSTATE class 22 on the key column itself): it stops
    there, RECORD_UNREADABLE, as the platform takes a record the database cannot send, the log saying which column.

    A key kept in GBK in a SQL_ASCII database (a 车牌号 京A12345, a 不动产权证号 with its Chinese) was read past
    by the page, left out row by row, and then failed the read of the page's keys as an asyncpg DataError: the
    export ended INTERNAL, the platform rested the endpoint for every caller as if it did not answer, and the log
    said nothing of the key column. Rows after such a key cannot be reached (the export resumes after a key it
    must hold as text), so the export stops; the key is not logged (personal data)."""
    column = resource.key_column.value if resource.key_column is not None else resource.key_item
    hint = _DATA_HINTS.get(error.sqlstate or "", "a value that does not convert: fix the row or the view").replace(
        "AS xm", f"AS {sql_name(column)}").replace("(xm,", f"({sql_name(column)},")
    log.warning("an export of %s stops: the key column %s of a row after those sent holds a value the department "
                "database cannot send (%s), and the rows after it cannot be reached: %s; the access log's line with "
                "outcome RECORD_UNREADABLE names the platform's audit id of the export", dataset, column,
                _refusal(error), hint)
    return ServiceError(grpc.StatusCode.FAILED_PRECONDITION, "RECORD_UNREADABLE",
                        f"a key of {dataset} cannot be sent by the department database: the 前置机's log says why")


def _too_large(dataset: str, resource: ResourceConfig, values: dict[str, str], size: int) -> ServiceError:
    """A row larger than any reply of the platform may be: that record's problem (RECORD_UNREADABLE), not the
    endpoint's. Sent as it was, it passed the query service and the edge as gRPC, then answered a REST caller
    HTTP 500 INTERNAL (the edge cannot transcode a reply over the message limit) and a gRPC caller a transport
    error; the department's log said nothing. The log names the largest column and sizes, never the value."""
    item = max(values, key=lambda name: len(values[name].encode()))
    column = resource.items[item].value
    log.warning("a row of %s holds %s bytes, more than the %s a record may hold (one reply of the platform): its "
                "column %s (item %s) holds %s bytes; share a view that shortens it (left(%s, 2000)); the access "
                "log's line with outcome RECORD_UNREADABLE names the platform's audit id of the access", dataset,
                f"{size:,}", f"{MAX_RECORD_BYTES:,}", column, item, f"{len(values[item].encode()):,}", column)
    return ServiceError(grpc.StatusCode.FAILED_PRECONDITION, "RECORD_UNREADABLE",
                        f"a record of {dataset} is larger than a reply may be: the 前置机's log says why")


def _beyond_dates(dataset: str, resource: ResourceConfig, item: str) -> ServiceError:
    """A row holding a date or timestamp no date can write (a year typed with a digit too many, 20260-03-01; a day
    BC): that record's problem (RECORD_UNREADABLE), not the endpoint's. asyncpg's codec raised on it, the call
    ended INTERNAL and the platform rested the endpoint for every caller; the log names the column, not the
    value."""
    column = resource.items[item].value
    log.warning("a row of %s holds in its column %s (item %s) a day before year 1 or after year 9999, which no "
                "date can write (a year typed with a digit too many?): fix the row; the access log's line with "
                "outcome RECORD_UNREADABLE names the platform's audit id of the access", dataset, column, item)
    return ServiceError(grpc.StatusCode.FAILED_PRECONDITION, "RECORD_UNREADABLE",
                        f"a record of {dataset} holds a date no date can write: the 前置机's log says why")


def spellings(kind: int, key: str) -> list[str]:
    """The spellings of a (normalised) key a department's table may hold it in.

    The platform writes a 公民身份号码's check character and a 统一社会信用代码's letters in upper case; many
    departments' tables keep the ``x`` of the ID number in lower case, or an ID number of a person born in the
    1900s in its first-generation 15-digit form (``stored_key``), and such a row must be found, not answered as
    absent. Free-text keys are case-sensitive: they are looked up as they are.
    """
    if kind not in UPPER_CASE_KINDS:
        return [key]
    lower = key.lower()
    found = [key] if lower == key else [key, lower]
    # Only the number the 15-digit one became: first_generation leaves the check character out, so another
    # (a caller's mistyped one, which the servicer refuses first) would find that person's row.
    if (kind == catalog_pb2.IDENTIFIER_KIND_CITIZEN_ID and (legacy := first_generation(key)) is not None
            and second_generation(legacy) == key):
        found.append(legacy)
    return found


def stored_key(kind: int, stored: str) -> str:
    """The key as the platform writes it of one a department's table holds (``spellings`` the other way round):
    normalised, and a first-generation 15-digit 公民身份号码 as the 18-character number it became.

    Tables filled before 1999 keep such numbers (GB 11643-1999 made them 18 characters: 19 before the year, a
    check character after); the platform asks only in the 18-character form, and such a row was answered as
    absent (库无 to a verification of a person the department holds). The conversion is the standard's, the one
    the platform's own verification reads a claimed 15-digit number by."""
    key = normalize_key(kind, stored)
    if kind == catalog_pb2.IDENTIFIER_KIND_CITIZEN_ID and (converted := second_generation(key)) is not None:
        return converted
    return key


#: What connecting may fail with: the database refusing (a password, a user), not answering, or the driver.
_CONNECT_FAILURES = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


class DatabaseConnector:
    """Opens connections to the department database with the URL that last connected; when connecting fails, with
    the one database.url_file holds now if it is another (a password the DBA rotated, the new URL written to the
    file), which is then kept. The connections already open stay as they are."""

    def __init__(self, config: FrontprocConfig) -> None:
        self._config = config
        self.url = config.database_url

    async def connect(self, *_dsn: object, **options: object) -> asyncpg.Connection:
        """A connection (``options`` as asyncpg.connect takes them; a pool's ``dsn`` is ignored)."""
        try:
            return await asyncpg.connect(self.url, **options)  # type: ignore[arg-type]
        except _CONNECT_FAILURES:
            fresh = database_url_now(self._config)
            if fresh is None or fresh == self.url:
                raise
        connection = await asyncpg.connect(fresh, **options)  # type: ignore[arg-type]
        self.url = fresh
        log.info("connected to the department database with the URL %s now holds (%s): the one read before "
                 "no longer connects", self._config.database_url_file, public_url(fresh))
        return connection


class DepartmentStore:
    """The department database, read only through the configured statements."""

    def __init__(self, config: FrontprocConfig) -> None:
        self._config = config
        self.connector = DatabaseConnector(config)
        self._statements = {name: statements(resource) for name, resource in config.resources.items()}
        self._zone = ZoneInfo(config.time_zone)
        self._pool: asyncpg.Pool | None = None
        #: Datasets whose statements the database refused last time (logged once per change, not per call).
        self._refused: set[str] = set()
        #: Datasets whose last statement outran STATEMENT_TIMEOUT_SECONDS (logged once per change, not per call).
        self._slow: set[str] = set()
        #: Datasets whose statement the database last rolled back twice in a row (logged once per change).
        self._rolled_back: set[str] = set()
        #: Whether the database's encoding can hold every character a key may have (UTF8, or SQL_ASCII, which
        #: converts nothing): in another (EUC_CN, LATIN1) a key may hold one it cannot (:meth:`_keys_held`).
        self._holds_any_key = True

    async def open(self) -> None:
        """Connects (raises while the database does not answer; the server retries)."""
        pool = await asyncpg.create_pool(min_size=1, max_size=10, connect=self.connector.connect,
                                         command_timeout=STATEMENT_TIMEOUT_SECONDS, timeout=CONNECT_TIMEOUT_SECONDS,
                                         init=read_as_text_form)
        try:
            self._holds_any_key = await pool.fetchval("SHOW server_encoding") in _ENCODINGS_OF_ANY_KEY
        except BaseException:
            pool.terminate()  # the start is retried with a pool of its own
            raise
        self._pool = pool

    async def _keys_held(self, keys: list[str]) -> list[str]:
        """``keys`` without those the database's encoding cannot hold, which no row of it can hold either.

        The platform's keys are sent as UTF-8 and converted by the database to its own encoding: a text key holding
        a character an EUC_CN (GB2312) database has not (a 不动产权证号 or a 车牌号 with 喆, 堃 or 昇 in it) made
        the statement fail (SQLSTATE 22P05). It was answered RECORD_UNREADABLE, with a warning that a row held a
        value the database could not send, and a batch holding that key failed whole: the key is absent, and so
        answered. ASCII keys (every code kind's) are held by any encoding and never asked about."""
        if self._holds_any_key or all(key.isascii() for key in keys):
            return keys
        assert self._pool is not None
        held = []
        for key in keys:
            if not key.isascii():
                try:
                    await self._pool.fetchval("SELECT $1::text", key)
                except (asyncpg.UntranslatableCharacterError, asyncpg.CharacterNotInRepertoireError):
                    continue
            held.append(key)
        return held

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def _row(self, dataset: str, record: asyncpg.Record) -> Row:
        """The row as the platform receives it; DATABASE_REFUSED when the statement no longer returns a column the
        resource maps.

        A ``query`` resource's ``SELECT *`` (or a view's) returns the columns its table has now: once the DBA renamed
        or dropped a mapped column, every call ended in a KeyError, INTERNAL to the platform, a traceback per call
        in the log, and nothing saying which column."""
        try:
            return self._read_row(dataset, record)
        except KeyError as missing:
            raise self._refuse(dataset, f"the statements of {dataset} no longer return the column {missing.args[0]!r} "
                                        f"it maps (it has {', '.join(sorted(record.keys()))}: a column renamed or "
                                        "dropped?)") from None

    def _read_row(self, dataset: str, record: asyncpg.Record) -> Row:
        resource = self._config.resources[dataset]
        sql = self._statements[dataset]
        if sql.as_of_column and not isinstance(record[sql.as_of_column], dt.date | Endless | None):
            # Read as no time at all, the record was said to be true as of the read: a stale row passed for fresh.
            raise self._refuse(dataset, f"the as_of_column {sql.as_of_column} of {dataset} no longer holds times (it "
                                        "is not a timestamp, timestamptz or date: its type was altered?)")
        for item, column in resource.items.items():
            if isinstance(record[column.value], _NO_TEXT_FORM_VALUES):
                raise self._refuse(dataset, f"column {column.value} ({item}) of {dataset} no longer has a text form "
                                            f"(it holds {_python_kind(record[column.value])}: its type was altered?)")
        if beyond := next((item for item, column in resource.items.items() if record[column.value] is OUT_OF_RANGE),
                          None):
            raise _beyond_dates(dataset, resource, beyond)
        # NULL is no value; so are 'infinity' and '-infinity' (a 有效期至 of 长期, a date "since ever"), as the
        # platform keeps a date without end (services.foundation.validation.any_date): read as 9999-12-31 and
        # 0001-01-01 (a timestamp's as 9999-12-31T23:59:59.999999+08:00), they were dates nobody could tell from
        # one a department really holds, and 9999-12-31 one the platform refuses to load.
        values = {item: canonical(record[column.value], self._zone) for item, column in resource.items.items()
                  if not _no_value(record[column.value])}
        # Characters first (a character is at most 4 bytes in UTF-8): nearly every row is measured without
        # encoding anything.
        if 4 * sum(len(item) + len(value) for item, value in values.items()) > MAX_RECORD_BYTES:
            size = sum(len(item.encode()) + len(value.encode()) for item, value in values.items())
            if size > MAX_RECORD_BYTES:
                raise _too_large(dataset, resource, values, size)
        try:
            as_of = as_of_time(record[sql.as_of_column], self._zone) if sql.as_of_column else None
        except (ValueError, OverflowError) as exc:
            log.warning("a row of %s holds no time in its as_of_column %s (%s): the platform cannot say as of when "
                        "the record was true; set the row's %s; the access log's line with outcome RECORD_UNREADABLE "
                        "names the platform's audit id of the access", dataset, sql.as_of_column, exc,
                        sql.as_of_column)
            raise ServiceError(grpc.StatusCode.FAILED_PRECONDITION, "RECORD_UNREADABLE",
                               f"a record of {dataset} holds no time in its as-of column: the 前置机's log says "
                               "why") from None
        stored = values.get(resource.key_item, "")
        key = stored_key(resource.key_kind, stored)
        if stored:
            # The key item's value is the key, as the platform writes it: a table keeping an ID number's x in
            # lower case answered the caller who asked for …002X with citizen_id …002x, another person to any
            # system comparing the two as text (a 15-digit number likewise leaves as the 18-character one).
            values[resource.key_item] = key
        return Row(key=key, values=values, as_of=as_of, cursor=stored)

    async def _fetch(self, dataset: str, sql: str, *arguments: object) -> list[Row]:
        """The rows of one of ``dataset``'s statements (:meth:`_run`), asked once again when the database rolled it
        back (SQLSTATE class 40); UNAVAILABLE when it does so twice.

        A 前置机 reading a hot standby (to spare the department's primary) has a statement cancelled "due to
        conflict with recovery" (40001) whenever the primary's changes replayed there need what it reads (a reload's
        TRUNCATE, a VACUUM): asked again, it answers. It was said to be the database refusing the statements
        (DATABASE_REFUSED, "queries of it fail until it is fixed; --check says what the configuration needs"), the
        call failed and the endpoint was rested for every caller, of a database that answered the next call."""
        assert self._pool is not None
        try:
            return await self._run(dataset, self._pool.fetch(sql, *arguments))
        except asyncpg.TransactionRollbackError:
            pass
        try:
            return await self._run(dataset, self._pool.fetch(sql, *arguments))
        except asyncpg.TransactionRollbackError as error:
            if dataset not in self._rolled_back:
                self._rolled_back.add(dataset)
                log.warning("the department database rolled back a statement of %s twice in a row (%s: on a hot "
                            "standby, a conflict with recovery; hot_standby_feedback or a longer "
                            "max_standby_streaming_delay there lets such reads finish): the platform is told the "
                            "前置机 does not answer (UNAVAILABLE) this time", dataset, _refusal(error))
            raise dependency_unavailable("postgresql") from error

    async def _run(self, dataset: str, statement: Awaitable[asyncpg.Record | list[asyncpg.Record] | None]
                   ) -> list[Row]:
        """Runs one of ``dataset``'s statements and reads its rows; a refusal by the database is
        FAILED_PRECONDITION.

        The statements passed the check at start, so a refusal now is the database changed under the 前置机
        (a table renamed or dropped, a grant revoked, a column's type altered to one with no text form):
        something for the department's DBA, said once in this log with the server's words, not a traceback per
        call. The platform is told only that the database refuses (it rests the endpoint). A database that does
        not answer stays UNAVAILABLE (the runtime's).
        """
        started = time.monotonic()
        try:
            result = await statement
        except TimeoutError:
            self._say_slow(dataset, STATEMENT_TIMEOUT_SECONDS, "the bound on each")
            raise
        except asyncio.CancelledError:
            # The platform's call ended first: its deadline (a couple of seconds, well within the bound) passed, and
            # the runtime answered it UNAVAILABLE, "postgresql did not answer (hung)", of a database that answered
            # every other table. A statement that had run a while when it was cut is said slow, for its dataset.
            if (waited := time.monotonic() - started) >= SLOW_WHEN_CUT_SECONDS:
                self._say_slow(dataset, waited, "when the platform's call ended")
            raise
        except asyncpg.DataError as error:
            raise _unreadable(dataset, error) from error
        except asyncpg.CardinalityViolationError as error:
            raise _several_in_a_subquery(dataset) from error
        except asyncpg.TransactionRollbackError:
            raise  # _fetch's: a statement the database rolled back (a standby's conflict with recovery) is asked again
        except asyncpg.PostgresError as error:
            if isinstance(error, asyncpg.QueryCanceledError) and "statement timeout" in str(error):
                # A DBA's statement_timeout on the account or the database cut it: the runtime's "postgresql
                # unavailable" alone named a database down that answered everything else.
                self._say_slow(dataset, time.monotonic() - started, "the database's statement_timeout cancelled it")
            if dependency_failure(error) is not None:
                raise
            raise self._refuse(dataset, f"the department database refuses the statements of {dataset} "
                                        f"({_refusal(error)})") from error
        records = result if isinstance(result, list) else [] if result is None else [result]
        rows = [self._row(dataset, record) for record in records]
        if dataset in self._refused:
            self._refused.discard(dataset)
            log.info("the department database answers the statements of %s again", dataset)
        self._rolled_back.discard(dataset)
        if dataset in self._slow:
            self._slow.discard(dataset)
            log.info("the department database answers the statements of %s in time again", dataset)
        return rows

    def _say_slow(self, dataset: str, waited: float, until: str) -> None:
        """Says once, until they answer in time again, that ``dataset``'s statements outrun their bound, or the
        platform's call (``until`` says which, after ``waited`` seconds).

        The call stays UNAVAILABLE (the platform got no answer), but the log said only "postgresql unavailable
        (TimeoutError)", or "postgresql did not answer within 1.8s (hung)": the officer looked for a database that
        was down while it answered everything else, a slow view, a table read whole for want of an index or one
        locked by a reload being the cause."""
        if dataset not in self._slow:
            self._slow.add(dataset)
            log.warning("a statement of %s got no answer within %.1f s (%s): the department database is slow to "
                        "answer it — a table read whole for want of an index (govshare frontproc --check says so), a "
                        "slow view, a lock held by a reload or an ALTER TABLE — or does not answer at all; the "
                        "platform is told the 前置机 does not answer (UNAVAILABLE) and rests it", dataset, waited,
                        until)

    def _refuse(self, dataset: str, why: str) -> ServiceError:
        """DATABASE_REFUSED for ``dataset``, said in the log once until its statements answer again."""
        if dataset not in self._refused:
            self._refused.add(dataset)
            log.warning("%s: queries of it fail until it is fixed; govshare frontproc --check says what the "
                        "configuration needs", why)
        return ServiceError(grpc.StatusCode.FAILED_PRECONDITION, "DATABASE_REFUSED",
                            f"the department database refuses the statements of {dataset}: the 前置机's log says why")

    async def lookup(self, dataset: str, key: str) -> Row | None:
        assert self._pool is not None
        sql = self._statements[dataset]
        if sql.batch:
            # One rule for the row that answers a key held by several (_preferred), asked alone or in a batch.
            rows = await self.batch_lookup(dataset, [key])
            return rows[0] if rows else None
        if not await self._keys_held([key]):
            return None
        for variant in spellings(self._config.resources[dataset].key_kind, key):
            if rows := await self._fetch(dataset, sql.one, variant):
                if len(rows) > 1:
                    raise self._several_rows(dataset, key, len(rows))
                if rows[0].key != key:
                    raise self._another_key(dataset, key, rows[0])
                return rows[0]
        return None

    def _another_key(self, dataset: str, key: str, row: Row) -> ServiceError:
        """A row the resource's query returns for ``key`` whose key item holds another key, or none (a LEFT JOIN's
        column NULL for this person, the key item mapped to another column than the one compared with $1).

        It was answered as found under that other key: the platform, which matches a record by the key it asked,
        answered the person absent (库无) of a record the department holds, while the access log said the record
        had left (outcome OK) and nothing said why. It is that record's RECORD_UNREADABLE, said here with the key
        masked and never the other value."""
        resource = self._config.resources[dataset]
        rule = _EXAMPLE_MASKS.get(resource.key_kind_name)
        holds = "another key" if row.values.get(resource.key_item) else "no value"
        log.warning("the query of %s returns, for the key %s, a row whose key item %s (column %s) holds %s: the "
                    "platform matches a record by the key it asked, and cannot take it; map the key item to the "
                    "column the query compares with $1, or fix the row; the access log's line with outcome "
                    "RECORD_UNREADABLE names the platform's audit id of the access", dataset,
                    Masker().mask(key, rule) if rule else key, resource.key_item,
                    resource.items[resource.key_item].value, holds)
        return ServiceError(grpc.StatusCode.FAILED_PRECONDITION, "RECORD_UNREADABLE",
                            f"the query of {dataset} returns for this key a row whose key item holds {holds}: the "
                            "前置机's log says why")

    def _several_rows(self, dataset: str, key: str, count: int) -> ServiceError:
        """A key the resource's query returns several rows for: the department's data error, said, not hidden.

        The query's first row answered, whichever the database returned first (a person joined to two addresses,
        two 补助 years): a record that could change from one call to the next, the other row never seen, and the
        department told nothing. Unlike a table's rows, ranked by as-of time (_preferred), a query's rows are not
        known to be versions of one record. It is that record's RECORD_UNREADABLE (the platform does not rest the
        endpoint for it, and answers a batch's other keys); the log names the key masked, never in full."""
        resource = self._config.resources[dataset]
        rule = _EXAMPLE_MASKS.get(resource.key_kind_name)
        shown = Masker().mask(key, rule) if rule else key
        log.warning("the query of %s returns %d rows for the key %s: a key must name one record; make the query "
                    "return one row per key (a join to several addresses or years: DISTINCT ON, or a condition "
                    "that keeps one) or fix the rows; the access log's line with outcome RECORD_UNREADABLE names "
                    "the platform's audit id of the access", dataset, count, shown)
        return ServiceError(grpc.StatusCode.FAILED_PRECONDITION, "RECORD_UNREADABLE",
                            f"the query of {dataset} returns {count} rows for this key, which must name one record: "
                            "the 前置机's log says why")

    async def batch_lookup(self, dataset: str, keys: list[str]) -> list[Row]:
        """The rows of ``keys``, one per key: of several rows holding a key, the one ``_preferred`` names."""
        assert self._pool is not None
        sql = self._statements[dataset]
        if not sql.batch:
            # A query's statement takes one key: the keys are asked side by side over the pool (its connections
            # bound how many at once), not one after another, which made a 1,000-key BatchQuery wait for 1,000
            # round trips in a row and outrun the platform's deadline. The first key's refusal (in the batch's
            # order) is the batch's, as it was.
            found = await asyncio.gather(*(self.lookup(dataset, key) for key in keys), return_exceptions=True)
            if failed := next((row for row in found if isinstance(row, BaseException)), None):
                raise failed
            return [row for row in found if row is not None]  # type: ignore[misc]
        kind = self._config.resources[dataset].key_kind
        variants = [variant for key in await self._keys_held(keys) for variant in spellings(kind, key)]
        if not variants:
            return []
        found: dict[str, Row] = {}
        for row in await self._fetch(dataset, sql.batch, variants):
            held = found.get(row.key)
            if held is None or _preferred(row) > _preferred(held):
                found[row.key] = row
        return list(found.values())

    def can_export(self, dataset: str) -> bool:
        return bool(self._statements[dataset].page)

    async def page(self, dataset: str, after: str | bytes, size: int) -> Page:
        """The ``size`` rows after the key ``after``; a page holding rows the database cannot send is read again row
        by row (:meth:`_page_row_by_row`), those rows left out and counted."""
        assert self._pool is not None
        if isinstance(after, bytes):  # after a key that is not UTF-8: the page statement takes text
            return await self._page_row_by_row(dataset, after, size)
        try:
            rows = await self._fetch(dataset, self._statements[dataset].page, after, size)
        except ServiceError as error:
            if error.reason != "RECORD_UNREADABLE":
                raise
            return await self._page_row_by_row(dataset, after, size)
        return Page(_keyed(rows), 0, rows[-1].cursor if len(rows) == size else "")

    async def _page_row_by_row(self, dataset: str, after: str | bytes, size: int) -> Page:
        """The page's keys, then each key's rows alone: a row the database cannot send is left out, logged by its
        key masked (never in full) beside the warning that says what is wrong with it, and counted.

        One such row ended the whole export (RECORD_UNREADABLE): a department's batch download of a million
        records stopped at the first 有效期至 typed 20260-03-01, the rows after it never sent, and the log said
        neither which row nor how many were left behind."""
        assert self._pool is not None
        sql, resource = self._statements[dataset], self._config.resources[dataset]
        keys: list[str | bytes]
        if isinstance(after, bytes):
            keys = await self._page_key_bytes(dataset, resource, None, after, size)
        else:
            try:
                keys = [record[0] for record in await self._pool.fetch(sql.page_keys, after, size)]
            except asyncpg.DataError as error:
                keys = await self._page_key_bytes(dataset, resource, error, after, size)
        rows: list[Row] = []
        skipped = 0
        rule = _EXAMPLE_MASKS.get(resource.key_kind_name)
        for key in dict.fromkeys(keys):
            if isinstance(key, bytes):
                skipped += 1
                self._say_key_not_text(dataset, resource)
                continue
            try:
                rows.extend(await self._fetch(dataset, sql.one, key))
            except ServiceError as error:
                if error.reason != "RECORD_UNREADABLE":
                    raise
                skipped += 1
                log.warning("an export of %s left out the row of key %s (the warning before says why); it goes on "
                            "with the next rows", dataset, Masker().mask(key, rule) if rule else key)
        return Page(_keyed(rows), skipped, keys[-1] if len(keys) == size else "")

    async def _page_key_bytes(self, dataset: str, resource: ResourceConfig, error: asyncpg.DataError | None,
                              after: str | bytes, size: int) -> list[str | bytes]:
        """The page's keys read as bytes, each given as text when it is UTF-8 and as its bytes otherwise, when the
        database is SQL_ASCII; else the export stops there (_unreadable_keys), as a key another database cannot
        send cannot be gone past.

        In a SQL_ASCII database a key kept in GBK (a 车牌号 京A12345, a 不动产权证号 with its Chinese) stopped the
        export there, RECORD_UNREADABLE: the rows after it, every one of them sendable, never left, for one row."""
        assert self._pool is not None
        if error is not None and await self._pool.fetchval("SHOW server_encoding") != "SQL_ASCII":
            # Another database's text is sent in its own encoding: the key itself does not convert (a view's cast)
            raise _unreadable_keys(dataset, resource, error) from error
        cursor = after if isinstance(after, bytes) else after.encode()
        try:
            found = await self._pool.fetch(self._statements[dataset].page_key_bytes, cursor, size)
        except asyncpg.DataError as other:  # the key does not convert even as bytes (a view's cast)
            raise _unreadable_keys(dataset, resource, other) from other
        keys: list[str | bytes] = []
        for (key,) in found:
            try:
                keys.append(key.decode())
            except UnicodeDecodeError:
                keys.append(key)
        return keys

    def _say_key_not_text(self, dataset: str, resource: ResourceConfig) -> None:
        """Says that an export left out a row whose key is not UTF-8 (never the key: personal data, unreadable)."""
        column = resource.key_column.value if resource.key_column is not None else resource.key_item
        log.warning("an export of %s left out a row whose key column %s holds text that is not UTF-8, which the "
                    "department database cannot send (%s): it goes on with the next rows; share a view that "
                    "converts it (GBK in a SQL_ASCII database: %s)", dataset, column, _NOT_TEXT,
                    GBK_IN_SQL_ASCII.replace("AS xm", f"AS {sql_name(column)}").replace(
                        "(xm,", f"({sql_name(column)},"))


def _keyed(rows: list[Row]) -> list[Row]:
    """A page's rows without those whose key is blank (spaces, a full-width space, a tab: no key once trimmed), left
    out of a batch download as a row whose key is NULL or '' is (the page's ``key::text > $1`` passes neither).

    Such rows left with the key '', several records of nobody under one empty key, masked or not, for the
    downloading department to hold against its own persons; no lookup can find them (a key must not be empty),
    and the check says of them that they are no valid key (_key_kind_advice)."""
    return [row for row in rows if row.key]


#: How the database names a key it cannot send (asyncpg's CharacterNotInRepertoireError).
_NOT_TEXT = "SQLSTATE 22021"


class CheckTimeout(Exception):
    """The database did not prepare a resource's statements in time (the message names the resource's line)."""


async def check_resources(config: FrontprocConfig, connection: asyncpg.Connection,
                          entries: Sequence[tuple[str, catalog_pb2.Entry]] = ()) -> None:
    """Prepares every resource's statements; ConfigError naming the line of each problem, CheckTimeout when the
    database does not prepare one in time. ``entries`` (file, catalog entry) are the entries the resources are
    registered by: the data types of their items are compared with the columns' (_item_type_advice).

    Preparing waits for the table's lock: a table locked by a DBA (ALTER TABLE, VACUUM FULL, a reload holding
    its transaction open) held --check, and the start, in silence for as long as the lock lasted.
    """
    problems: list[str] = []
    if advice := await _encoding_advice(connection):
        log.warning("%s: database: %s", config.path, advice)
    for resource in config.resources.values():
        sql = statements(resource)
        source = resource.query or resource.table
        assert source is not None
        returned: dict[str, asyncpg.types.Type] = {}
        readable = True
        for text in (sql.one, sql.batch, sql.page):
            if not text:
                continue
            try:
                prepared = await connection.prepare(text, timeout=STATEMENT_TIMEOUT_SECONDS)
            except TimeoutError:
                raise CheckTimeout(
                    f"{config.path}:{source.line}: resources {resource.dataset!r}: the department database did not "
                    f"prepare its statements within {STATEMENT_TIMEOUT_SECONDS:g} s: is {_source_name(resource)} "
                    "locked (an ALTER TABLE, a VACUUM FULL, a reload in a transaction left open)? Try again once "
                    "it is done") from None
            except asyncpg.PostgresError as exc:
                if dependency_failure(exc) is not None:
                    raise  # the database went away: not the configuration's fault
                if unknown := await _unknown_columns(connection, resource, exc):
                    problems.extend(f"{config.path}:{line}: resources {resource.dataset!r}: {problem}"
                                    for line, problem in unknown)
                else:
                    otherwise = await _tables_named_otherwise(connection, resource, exc)
                    problems.append(f"{config.path}:{_line_of(resource, exc, source.line)}: resources "
                                    f"{resource.dataset!r}: the database refuses it: {exc.__class__.__name__}: "
                                    f"{str(exc).splitlines()[0]}{otherwise}")
                break
            returned = {attribute.name: attribute.type for attribute in prepared.get_attributes()}
            if text == sql.one and (key_type := await _key_parameter_problem(connection, prepared)):
                problems.append(f"{config.path}:{source.line}: resources {resource.dataset!r}: {key_type}")
                readable = False
        else:
            problems.extend(f"{config.path}:{line}: resources {resource.dataset!r}: {problem}"
                            for line, problem in _column_problems(resource, returned))
            if readable and (denied := await _privilege_problem(connection, sql.one)):
                problems.append(f"{config.path}:{source.line}: resources {resource.dataset!r}: {denied}")
            for advice in (await _key_index_advice(connection, resource),
                           await _key_spelling_advice(connection, resource),
                           await _key_kind_advice(connection, resource),
                           await _both_generations_advice(connection, resource),
                           await _both_cases_advice(connection, resource),
                           await _row_security_advice(connection, resource),
                           await _null_key_advice(connection, resource),
                           await _as_of_advice(connection, resource),
                           await _future_as_of_advice(connection, resource, returned, config.time_zone),
                           await _beyond_dates_advice(connection, resource, returned)):
                if advice:
                    log.warning("%s:%d: resources %r: %s", config.path,
                                resource.table.line, resource.dataset, advice)  # type: ignore[union-attr]
            if resource.watch_channel is not None and (advice := await _watch_advice(connection, resource)):
                log.warning("%s:%d: resources %r: %s", config.path, resource.watch_channel.line, resource.dataset,
                            advice)
            for path, entry in entries:
                code = _code_advice(resource, path, entry)
                for line, advice in [*_item_type_advice(resource, returned, path, entry), *([code] if code else [])]:
                    log.warning("%s:%d: resources %r: %s", config.path, line, resource.dataset, advice)
    if problems:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(problems))


async def _privilege_problem(connection: asyncpg.Connection, sql: str) -> str:
    """Why the database account may not run ``sql``, or "".

    PostgreSQL checks privileges when a statement runs, not when it is prepared: a table the account was never
    granted SELECT on (created after GRANT SELECT ON ALL TABLES IN SCHEMA, say) passed --check, the 前置机 said it
    was serving, and every call was DATABASE_REFUSED "permission denied". EXPLAIN checks them without reading a
    row."""
    try:
        await connection.fetch(f"EXPLAIN {sql}", "", timeout=STATEMENT_TIMEOUT_SECONDS)
    except asyncpg.InsufficientPrivilegeError as exc:
        user = await connection.fetchval("SELECT current_user")
        return (f"the database account {user} may not read it ({type(exc).__name__}: {str(exc).splitlines()[0]}): "
                f"grant it SELECT on what the database names (GRANT SELECT ON … TO {user})")
    except (asyncpg.PostgresError, TimeoutError):
        pass  # not the check's to judge: the statements were prepared
    return ""


async def _key_spelling_advice(connection: asyncpg.Connection, resource: ResourceConfig) -> str:
    """A warning when the table holds a key the platform can never ask for, or "": one with blanks around it (a
    fixed-width import into a varchar), or, for a code kind, in full-width characters. The platform asks for keys
    trimmed and in ASCII (services.query.keys.normalize_key), so such a row was answered as absent — 库无 to a
    verification of a person the department does hold — without a word. The table is read until the first such
    key (its whole key column when there is none), at the check and at start only."""
    if resource.table is None or resource.key_column is None:
        return ""
    column = f"{_ident(resource.key_column.value)}::text"
    codes = resource.key_kind in UPPER_CASE_KINDS or resource.key_kind_name == "region_code"
    wide = f" OR {column} ~ '[^[:ascii:]]'" if codes else ""
    try:
        encoding = await connection.fetchval("SHOW server_encoding")
        found = await connection.fetchval(
            f"SELECT EXISTS (SELECT 1 FROM {_ident(resource.table.value)} WHERE {column} <> btrim({column}, $1)"
            f"{wide})", "".join(filter(_held_by(encoding), BLANKS)))
    except asyncpg.PostgresError:
        return ""
    if not found:
        return ""
    how = " or in full-width characters" if codes else ""
    return (f"table {resource.table.value} holds keys in {resource.key_column.value} with blanks around them{how}: "
            "the platform asks for keys trimmed and in ASCII, so those rows are answered as absent; fix the rows, "
            f"or share a view whose key column is normalised ({_normalised_key(column, codes, encoding)} AS "
            f"{_ident(resource.key_column.value)})")


def _normalised_key(column: str, codes: bool, encoding: str = "UTF8") -> str:
    """SQL giving the key ``column`` (an expression of text) holds as the platform asks for it (normalize_key): the
    blanks the check looks for trimmed, and a code's full-width characters (NFKC) and 〇 read as ASCII; of them,
    those a database of ``encoding`` (its server_encoding) can hold (_held_by), as its SQL can say them.

    The advice was btrim(column), which trims spaces only: a key with a tab, a line break or a full-width space
    (U+3000) around it, or in full-width digits, was as absent through the view as before."""
    held = _held_by(encoding)
    blanks = _sql_text("".join(filter(held, BLANKS)))
    if not codes:
        return f"btrim({column}, {blanks})"
    if encoding == "UTF8":  # normalize() takes no other
        return f"btrim(translate(normalize({column}, NFKC), '〇', '0'), {blanks})"
    pairs = [(char, plain) for char, plain in _FULL_WIDTH_TO_ASCII if held(char)]
    if not pairs:
        return f"btrim({column}, {blanks})"
    wide, narrow = "".join(char for char, _ in pairs), "".join(plain for _, plain in pairs)
    return f"btrim(translate({column}, '{wide}', '{narrow}'), {blanks})"


#: The characters the platform trims from a key (Python's str.strip(), services.query.keys.normalize_key): blanks
#: a key typed or pasted may carry — a no-break space (U+00A0) from a spreadsheet or a web page, a full-width space
#: (U+3000), a tab — which a row's key must not hold for the platform's key to find it. The check looked for
#: spaces, tabs, line breaks and U+3000 only: a 证照编号 pasted with a no-break space was absent, the check silent.
BLANKS = "".join(chr(point) for point in range(0x3001) if chr(point).isspace())
_SQL_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r", "\f": "\\f", " ": " "}
#: A code's full-width digits and letters, and 〇, with the ASCII the platform reads them as (NFKC), for a database
#: whose encoding normalize() does not take.
_FULL_WIDTH_TO_ASCII = (*((chr(0xFF10 + digit), str(digit)) for digit in range(10)),
                        *((chr(0xFF21 + letter), chr(0x41 + letter)) for letter in range(26)),
                        *((chr(0xFF41 + letter), chr(0x61 + letter)) for letter in range(26)), ("〇", "0"))


def _sql_text(blanks: str) -> str:
    """``blanks`` as a PostgreSQL escape string, for advice to paste into psql."""
    return "E'" + "".join(_SQL_ESCAPES.get(blank) or (f"\\x{ord(blank):02x}" if ord(blank) < 0x80 else
                                                      f"\\u{ord(blank):04x}") for blank in blanks) + "'"


def _held_by(encoding: str) -> Callable[[str], bool]:
    """Whether a character can be held by a database of ``encoding`` (its server_encoding), by its Python codec;
    ASCII alone when it has none (SQL_ASCII, which keeps bytes whatever they mean: a UTF-8 blank's bytes trimmed
    there cut a GBK character's).

    Every blank was sent or advised in a database of another encoding than UTF-8 (EUC_CN, a Chinese department's
    older systems'): the database refused the check's statement for the no-break space it cannot hold ('character
    with byte sequence 0xc2 0x85 in encoding "UTF8" has no equivalent in encoding "EUC_CN"'), so the check said
    nothing of keys with blanks around them, and refused the advised view's E'…\\u00a0…' and normalize() (UTF-8 only)
    alike."""
    if encoding == "UTF8":
        return lambda char: True
    try:
        codec = codecs.lookup(encoding.replace("WIN", "cp")).name if encoding != "SQL_ASCII" else ""
    except LookupError:
        codec = ""
    if not codec:
        return str.isascii

    def held(char: str) -> bool:
        try:
            char.encode(codec)
        except UnicodeEncodeError:
            return False
        return True
    return held


async def _row_security_advice(connection: asyncpg.Connection, resource: ResourceConfig) -> str:
    """A warning when row-level security hides every row of the table from the 前置机's account, or "".

    A table with ROW LEVEL SECURITY enabled shows a role that is not its owner (nor BYPASSRLS) only the rows a
    permissive policy for that role lets through, and with none, no row at all, without an error: the statements
    prepared, EXPLAIN passed, --check said the file was valid, and every lookup was answered as absent (库无) and
    every batch download was empty."""
    if resource.table is None:
        return ""
    try:
        hidden = await connection.fetchval(
            "SELECT row_security_active(c.oid) AND NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid "
            "AND p.polpermissive AND p.polcmd IN ('r', '*') AND (0 = ANY (p.polroles) OR EXISTS (SELECT 1 FROM "
            "unnest(p.polroles) AS r (oid) WHERE pg_has_role(r.oid, 'MEMBER')))) FROM pg_class c WHERE c.oid = "
            "to_regclass($1)", _ident(resource.table.value), timeout=STATEMENT_TIMEOUT_SECONDS)
        user = await connection.fetchval("SELECT current_user") if hidden else ""
    except (asyncpg.PostgresError, TimeoutError):
        return ""
    if not hidden:
        return ""
    return (f"row-level security is on for {resource.table.value} and no policy lets the database account {user} "
            "read its rows: it sees none, so every lookup is answered as absent and every batch download is "
            f"empty; give it a policy (CREATE POLICY fqj_read ON {_ident(resource.table.value)} FOR SELECT TO "
            f"{_ident(user)} USING (true), or the rows it may share), or share a view that its owner reads")


async def _encoding_advice(connection: asyncpg.Connection) -> str:
    """A warning when the database's encoding is SQL_ASCII, or "".

    Such a database (common among older Chinese departments' systems) keeps text as bytes without saying in
    what encoding: a row holding GBK text passed the check and could not be sent (RECORD_UNREADABLE, a batch
    download stopping at it), and the advice to "share a view that converts it" met PostgreSQL's convert_from(xm,
    'GBK'), which there gives the same bytes back."""
    if await connection.fetchval("SHOW server_encoding") != "SQL_ASCII":
        return ""
    return ("the department database's encoding is SQL_ASCII: it keeps text as bytes without saying in what "
            "encoding, and a row whose text is not UTF-8 (GBK, in most such databases) cannot be sent: that "
            "record is RECORD_UNREADABLE and a batch download leaves it out and goes on (a row whose key is not "
            f"UTF-8 too). Share views whose text columns holding GBK are converted (the key "
            f"column too): {GBK_IN_SQL_ASCII}")


async def _as_of_advice(connection: asyncpg.Connection, resource: ResourceConfig) -> str:
    """A warning when rows of the table hold no as_of_column value, or "".

    A NULL as-of time is no time at all: such a record is answered without one (the platform's caller is told the
    provider does not say when it was true), a row nobody dated — loaded before the column was added, say — where
    the department means every row to say it. The table is read until the first such row (the check and the start
    only)."""
    if resource.table is None or resource.as_of_column is None:
        return ""
    if not await _holds_null(connection, resource.table.value, resource.as_of_column.value):
        return ""
    return (f"rows of {resource.table.value} hold no as_of_column value ({resource.as_of_column.value} IS NULL): "
            "they are answered without an as-of time (the platform's callers are told the department does not say "
            "when they were true); set it (the time each row was last true, or loaded)")


async def _watch_advice(connection: asyncpg.Connection, resource: ResourceConfig) -> str:
    """A warning when no enabled trigger announces on the resource's watch_channel, or "".

    The 前置机 listened on a channel nothing sent on — the trigger never created, created on another table, its
    pg_notify spelling the channel otherwise, or disabled for a reload and never enabled again — and the platform,
    told of no change, answered from its copies until they expired, the check and the log silent. A trigger counts
    when its function's source or its arguments name the channel; of a table, only the table's own triggers (of a
    view or a query, any table's)."""
    assert resource.watch_channel is not None
    channel = resource.watch_channel.value
    if resource.table is not None and await _is_materialized_view(connection, resource.table.value):
        return (f"{resource.table.value} is a materialized view: its REFRESH fires no trigger, and a trigger on the "
                "tables it reads announces a change before the view holds it (the platform reads the old rows "
                f"again and keeps them); announce after each refresh, in the same job: REFRESH MATERIALIZED VIEW "
                f"…; SELECT pg_notify('{channel}', '') (every record may have changed)")
    relation = await connection.fetchval("SELECT c.oid FROM pg_class c WHERE c.oid = to_regclass($1) AND "
                                         "c.relkind IN ('r', 'p')", _ident(resource.table.value)) \
        if resource.table is not None else None
    try:
        triggers = await connection.fetch(
            "SELECT t.tgenabled <> 'D' AS enabled FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid WHERE NOT "
            "t.tgisinternal AND ($2::oid IS NULL OR t.tgrelid = $2) AND (strpos(p.prosrc, $1) > 0 OR "
            "strpos(encode(t.tgargs, 'escape'), $1) > 0)", channel, relation, timeout=STATEMENT_TIMEOUT_SECONDS)
    except (asyncpg.PostgresError, TimeoutError):
        return ""
    where = f"on {resource.table.value}" if relation is not None else "in this database"
    if any(trigger["enabled"] for trigger in triggers):
        return ""
    if triggers:
        return (f"the triggers {where} that announce changes on {channel} are disabled (ALTER TABLE … DISABLE "
                "TRIGGER, for a reload?): the platform hears of no change and answers from its copies until they "
                f"expire; enable them (ALTER TABLE … ENABLE TRIGGER …)")
    return (f"no trigger {where} announces changes on {channel} (pg_notify('{channel}', …)): the platform hears of "
            "no change and answers from its copies until they expire; create the trigger (docs/frontproc.md, step "
            "6), or correct watch_channel")


async def _is_materialized_view(connection: asyncpg.Connection, table: str) -> bool:
    try:
        return bool(await connection.fetchval("SELECT relkind = 'm' FROM pg_class WHERE oid = to_regclass($1)",
                                              _ident(table), timeout=STATEMENT_TIMEOUT_SECONDS))
    except (asyncpg.PostgresError, TimeoutError):
        return False


async def _holds_null(connection: asyncpg.Connection, table: str, column: str) -> bool:
    """Whether a row of ``table`` holds NULL in ``column`` (read until the first; False when the database does not
    say in time: advice is not the check's to fail on)."""
    try:
        return bool(await connection.fetchval(f"SELECT EXISTS (SELECT 1 FROM {_ident(table)} WHERE {_ident(column)} "
                                              "IS NULL)", timeout=STATEMENT_TIMEOUT_SECONDS))
    except (asyncpg.PostgresError, TimeoutError):
        return False


async def _null_key_advice(connection: asyncpg.Connection, resource: ResourceConfig) -> str:
    """A warning when rows of the table hold no key (the key column NULL), or "".

    No key finds such a row, and a batch download, which walks the table in key order, leaves it out: a 低保对象
    entered without their 身份证号 was a record the department kept and the platform never served, nothing
    saying so. The table is read until the first such row (the check and the start only)."""
    if resource.table is None or resource.key_column is None:
        return ""
    if not await _holds_null(connection, resource.table.value, resource.key_column.value):
        return ""
    return (f"rows of {resource.table.value} hold no key ({resource.key_column.value} IS NULL): no query finds "
            "them and a batch download leaves them out; set their key, or keep them out of what you share (a view "
            f"WHERE {sql_name(resource.key_column.value)} IS NOT NULL)")


#: How far ahead of this machine's clock an as-of time may be before the check warns of it (the two machines'
#: clocks may differ by a little): the foundation service refuses a load's as-of time so far in the future.
AS_OF_SKEW = dt.timedelta(minutes=5)


async def _future_as_of_advice(connection: asyncpg.Connection, resource: ResourceConfig,
                               returned: dict[str, asyncpg.types.Type], zone: str) -> str:
    """A warning when rows of the table say they were true at a time still to come, or "".

    The as-of time is what the platform's caller is shown as the time the record was true: a 有效期至 or a 计划日期
    mapped as ``as_of_column``, or ``database.time_zone: UTC`` over a table holding Beijing time (the rows changed
    in the last eight hours then say they were true hours from now), served records dated in the future, which
    the platform passed on as they were and the check did not mention. The column is compared with this machine's
    time as the 前置机 reads it (in ``zone``), so that an index on it serves the count (the check and the start
    only)."""
    if resource.table is None or resource.as_of_column is None:
        return ""
    local = ZoneInfo(zone)
    ahead = dt.datetime.now(dt.UTC) + AS_OF_SKEW
    kind = returned.get(resource.as_of_column.value)
    bound = {"timestamptz": ahead, "timestamp": ahead.astimezone(local).replace(tzinfo=None),
             "date": ahead.astimezone(local).date()}.get(kind.name if kind else "")
    if bound is None:
        return ""
    column = _ident(resource.as_of_column.value)
    try:
        found = await connection.fetchrow(
            f"SELECT count(*) AS rows, max({column}) AS latest FROM {_ident(resource.table.value)} WHERE "
            f"{column} > $1 AND {column} < 'infinity'", bound, timeout=STATEMENT_TIMEOUT_SECONDS)
        if found is None or not found["rows"]:
            return ""
        latest = as_of_time(found["latest"], local)
    except (asyncpg.PostgresError, TimeoutError, OverflowError, ValueError):
        return ""  # a year past 9999 is _beyond_dates_advice's
    shown = latest.strftime("%Y-%m-%d %H:%M") if latest else "a time to come"
    return (f"{found['rows']} row{'s' * (found['rows'] != 1)} of {resource.table.value} say they were true at a time "
            f"still to come ({resource.as_of_column.value} up to {shown} in {zone}), which the platform would show "
            "its callers as the record's as-of time: is as_of_column the time each row was last true (not a "
            "validity end or a planned date), is database.time_zone the zone the column's times are in, and is "
            "the database server's clock right?")


async def _beyond_dates_advice(connection: asyncpg.Connection, resource: ResourceConfig,
                               returned: dict[str, asyncpg.types.Type]) -> str:
    """A warning when rows of the table hold a date or timestamp no date can write (a year past 9999, a day BC), or "".

    PostgreSQL keeps them (a 有效期至 typed 20260-03-01); the 前置机 cannot send them: each such row is
    RECORD_UNREADABLE when asked for and left out of every export, and the check said nothing, the officer
    learning of it from the platform's callers. The table is read once for all its time columns, bounded by the
    statement timeout (the check and the start only); values are counted, never shown."""
    if resource.table is None:
        return ""
    mapped = {column.value for column in resource.items.values()} | (
        {resource.as_of_column.value} if resource.as_of_column else set())
    times = sorted(column for column in mapped if column in returned and returned[column].name in _AS_OF_TYPES)
    if not times:
        return ""
    counts = ", ".join(f"count(*) FILTER (WHERE isfinite({_ident(column)}) AND ({_ident(column)} >= '10000-01-01' "
                       f"OR {_ident(column)} < '0001-01-01')) AS {_ident(column)}" for column in times)
    try:
        found = await connection.fetchrow(f"SELECT {counts} FROM {_ident(resource.table.value)}",
                                          timeout=STATEMENT_TIMEOUT_SECONDS)
    except (asyncpg.PostgresError, TimeoutError):
        return ""
    beyond = [f"{column} in {found[column]:,} row{'s' * (found[column] != 1)}" for column in times if found[column]]
    if not beyond:
        return ""
    return (f"rows of {resource.table.value} hold a day before year 1 or after year 9999, which no date can write "
            f"(a year typed with a digit too many, 20260-03-01?): {', '.join(beyond)}; each is answered "
            "RECORD_UNREADABLE and left out of batch downloads until it is fixed")


#: How many of a table's keys the check reads to see whether they are keys of the configured kind.
KIND_SAMPLE = 200


async def _key_kind_advice(connection: asyncpg.Connection, resource: ResourceConfig) -> str:
    """A warning when keys the table holds are not valid keys of ``key.kind``, or "".

    The platform asks only for valid keys of the kind (a 公民身份号码 with its check character, …): a resource
    configured with another kind than its table holds (citizen_id for a table keyed by 证照编号) answered every
    lookup as absent (库无), and rows holding a mistyped key were never found, the check saying nothing. A
    first-generation 15-digit ID number is read as the 18-character one it became (``stored_key``): it is found.
    The first KIND_SAMPLE keys are read (the check and the start only); the examples are masked, never written in
    full.
    """
    if resource.table is None or resource.key_column is None:
        return ""
    column = f"{_ident(resource.key_column.value)}::text"
    try:
        keys = await connection.fetch(f"SELECT {column} AS key FROM {_ident(resource.table.value)} WHERE {column} "
                                      "IS NOT NULL LIMIT $1", KIND_SAMPLE, timeout=STATEMENT_TIMEOUT_SECONDS)
    except (asyncpg.PostgresError, TimeoutError):
        return ""
    invalid = [(row["key"], problem) for row in keys if (problem := key_error(
        resource.key_kind, stored_key(resource.key_kind, row["key"])))]
    if not invalid:
        return ""
    rule = _EXAMPLE_MASKS.get(resource.key_kind_name)
    example, problem = invalid[0]
    shown = (Masker().mask(example, rule) if rule else example).strip() or "an empty or blank key"
    read = f"{len(keys)} key{'s' * (len(keys) != 1)} read from {resource.key_column.value}"
    if len(invalid) == len(keys):
        return (f"none of the {read} (the first rows of {resource.table.value}) is a valid {resource.key_kind_name} "
                f"key ({shown}: {problem}): the platform asks only for valid ones, so every lookup is answered as "
                f"absent; is key.kind right ({', '.join(KEY_KINDS)})?")
    return (f"{len(invalid)} of the {read} (the first rows of {resource.table.value}) are not valid "
            f"{resource.key_kind_name} keys ({shown}: {problem}): the platform never asks for them, so those rows "
            "are answered as absent; fix the rows")


async def _both_generations_advice(connection: asyncpg.Connection, resource: ResourceConfig) -> str:
    """A warning when a citizen_id table holds persons under both their 15-digit and their 18-character numbers,
    or "".

    Both rows answer the 18-character key (``stored_key``), but the table's unique index sees two keys, so the
    check's count of keys held by several rows missed them: a lookup answers with one of the two, and a batch
    download sends the person twice. The example is the 18-character number, masked."""
    if resource.table is None or resource.key_column is None or resource.key_kind_name != "citizen_id":
        return ""
    key = f"{_ident(resource.key_column.value)}::text"
    converted = f"substr({key}, 1, 6) || '19' || substr({key}, 7)"
    try:
        found = await connection.fetchrow(
            f"SELECT count(*) AS persons, min(upper(held)) AS example FROM (SELECT {key} AS held FROM "
            f"{_ident(resource.table.value)} WHERE length({key}) = 18 AND left({key}, 17) IN (SELECT {converted} "
            f"FROM {_ident(resource.table.value)} WHERE length({key}) = 15)) AS both_forms",
            timeout=STATEMENT_TIMEOUT_SECONDS)
    except (asyncpg.PostgresError, TimeoutError):
        return ""
    if found is None or not found["persons"]:
        return ""
    persons, example = found["persons"], Masker().mask(found["example"], "citizen_id")
    return (f"{persons:,} person{'s are' if persons != 1 else ' is'} held under both the 15-digit ID number and "
            f"the 18-character one it became (such as {example}): the platform asks by the 18-character number and "
            "is answered with one of the two rows (the one true the latest by as_of_column), and a batch download "
            "sends the person twice: keep one row per person (the 18-character number)")


async def _both_cases_advice(connection: asyncpg.Connection, resource: ResourceConfig) -> str:
    """A warning when a citizen_id or credit_code table holds a key both as the platform writes it (upper case) and
    in lower case, or "".

    Both rows answer the key (``spellings``), but the table's unique index sees two keys, so the check's count of
    keys held by several rows missed them, and --check was silent: a lookup answers with the row holding the key in
    upper case, whichever is true the latest, and a batch download sends the record twice under one key. The
    example is the key as the platform writes it, masked."""
    if resource.table is None or resource.key_column is None or resource.key_kind not in UPPER_CASE_KINDS:
        return ""
    key, table = f"{_ident(resource.key_column.value)}::text", _ident(resource.table.value)
    try:
        found = await connection.fetchrow(
            f"SELECT count(DISTINCT upper(held)) AS keys, min(upper(held)) AS example FROM (SELECT {key} AS held "
            f"FROM {table} WHERE {key} <> upper({key}) AND upper({key}) IN (SELECT {key} FROM {table})) AS both_cases",
            timeout=STATEMENT_TIMEOUT_SECONDS)
    except (asyncpg.PostgresError, TimeoutError):
        return ""
    if found is None or not found["keys"]:
        return ""
    keys, example = found["keys"], Masker().mask(found["example"], resource.key_kind_name)
    what = "ID number" if resource.key_kind_name == "citizen_id" else "code"
    return (f"{keys:,} {what}{'s are' if keys != 1 else ' is'} held both in upper case and in lower case (such as "
            f"{example}, in a row of its own as {example.lower()}): the platform asks in upper case and is answered "
            "with the upper-case row, whichever is true the latest, and a batch download sends the record twice: "
            f"keep one row per {what}")


async def _key_index_advice(connection: asyncpg.Connection, resource: ResourceConfig) -> str:
    """What the table's indexes say against its key column, or "": a warning, not a refusal, since the 前置机
    answers either way. A view has no indexes of its own to look at: of it, only whether it returns several rows
    for a key (a query resource is not looked at)."""
    if resource.table is None or resource.key_column is None:
        return ""
    relation = await connection.fetchrow(
        "SELECT c.oid, c.relkind::text AS kind, a.attnum FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid"
        " WHERE c.oid = to_regclass($1) AND a.attname = $2", _ident(resource.table.value), resource.key_column.value)
    if relation is None:
        return ""
    # A materialized view keeps rows and indexes as a table does (a view refreshed nightly from the department's
    # systems): taken for a view, one without an index was read whole at every lookup, the check silent.
    if relation["kind"] not in ("r", "p", "m"):
        return await _view_duplicates_advice(connection, resource)
    column = resource.key_column.value
    # An index is on the key when its first key is the column, or an expression of it (``(k::text)``): its
    # first key as PostgreSQL writes it names the column as a whole identifier.
    indexes = await connection.fetch(
        "SELECT indisunique AND indnkeyatts = 1 AS unique_key, indkey[0] = $2 AS on_column,"
        " pg_get_indexdef(indexrelid, 1, true) AS first_key"
        " FROM pg_index WHERE indrelid = $1 AND indpred IS NULL", relation["oid"], relation["attnum"])
    named = re.compile(rf'(?<![\w"])"?{re.escape(column)}"?(?![\w"])')
    keyed = [index for index in indexes if index["on_column"] or named.search(index["first_key"])]
    unique = [index for index in keyed if index["unique_key"] and (index["on_column"] or _of_the_key_alone(
        column, index["first_key"]))]
    usable = bool(keyed) and await _lookups_use_an_index(connection, resource)
    table = resource.table.value
    relation_kind = "materialized view" if relation["kind"] == "m" else "table"
    unique_index = f"CREATE UNIQUE INDEX ON {_ident(table)} (({_ident(column)}::text))"
    if partitioned_by := await _partitioned_by_other_columns(connection, relation["oid"], relation["attnum"]):
        return await _partitioned_index_advice(connection, resource, partitioned_by, usable)
    if unique:
        return "" if usable else (
            f"{relation_kind} {table}'s unique index on its key column {column} cannot serve lookups, which "
            f"compare the column as text ({column}::text, keys being text; an index on a char(n), integer or other "
            f"column that is not text cannot): every lookup reads the whole table ({unique_index})")
    duplicates = await _duplicate_keys(connection, resource)
    unindexed = (f"{relation_kind} {table} has no index on its key column {column}" if not keyed else
                 f"{relation_kind} {table}'s index on its key column {column} cannot serve lookups, which compare "
                 f"the column as text ({column}::text)")
    if not usable and not duplicates:
        return f"{unindexed}: every lookup reads the whole table ({unique_index})"
    said = (f"{unindexed}: every lookup reads the whole table; and " if not usable
            else f"the key column {column} of {table} is not unique: ")
    if not duplicates:
        return (f"{said}a key held by several rows would answer with one of them, and a batch download could miss "
                f"rows that share a key; no key is held by several rows now: {unique_index} keeps it so")
    newest = f", {_ident(resource.as_of_column.value)} DESC NULLS LAST" if resource.as_of_column else ""
    return (f"{said}{duplicates}: a key held by several rows answers with one of them (the one true the latest by "
            "as_of_column), and a batch download can miss rows that share a key. A unique index cannot be created "
            f"while they are there (the database would refuse it, quoting a key): keep one row per key, or share "
            f"a view that does (SELECT DISTINCT ON ({_ident(column)}::text) * FROM {_ident(table)} ORDER BY "
            f"{_ident(column)}::text{newest}), then {unique_index}"
            + ("" if usable else f"; until then CREATE INDEX ON {_ident(table)} (({_ident(column)}::text)) makes "
                                 "lookups fast"))


def _of_the_key_alone(column: str, key: str) -> bool:
    """Whether an index's key expression (as pg_get_indexdef writes it) is the key column alone, cast (``(k)::text``)
    or given to a function of it alone (``upper(k)``): an expression whose uniqueness makes the key unique.

    Any unique index whose expression named the key column was taken for the key's: ``((k || nd))``, one row per
    key and year, or ``(CASE WHEN zt = '有效' THEN k END)``, one valid row per key, pass with a key held by several
    rows, which the check then said nothing of (a key answered with one of its rows, a batch download missing
    rows)."""
    name, cast = rf'\(*"?{re.escape(column)}"?\)*', r'(?:::[\w ."]+)?'
    return re.fullmatch(rf'\(*(?:{name}{cast}|[\w."]+\({name}{cast}\){cast})\)*', key) is not None


async def _partitioned_by_other_columns(connection: asyncpg.Connection, relation: int, key: int) -> str:
    """The partition key of a table partitioned by anything but its key column alone (``qx``, ``(qx, nd)``), or "".

    Such a table can hold no unique index without its partition key ("unique constraint on partitioned table must
    include all partitioning columns"): the check advised one all the same, and the DBA running it met that error."""
    found = await connection.fetchrow(
        "SELECT pg_get_partkeydef($1) AS definition, partnatts = 1 AND partattrs[0] = $2 AND partexprs IS NULL"
        " AS by_key FROM pg_partitioned_table WHERE partrelid = $1", relation, key)
    if found is None or found["by_key"]:
        return ""
    return found["definition"]


async def _partitioned_index_advice(connection: asyncpg.Connection, resource: ResourceConfig, partitioned_by: str,
                                    usable: bool) -> str:
    """_key_index_advice of a table partitioned by other columns than its key (``partitioned_by``): the index
    lookups need, and keys held by several rows; no unique index, which the database cannot make there."""
    assert resource.table is not None and resource.key_column is not None
    table, column = resource.table.value, resource.key_column.value
    index = f"CREATE INDEX ON {_ident(table)} (({_ident(column)}::text))"
    said = [] if usable else [f"table {table} has no index its lookups can use on its key column {column} ({index})"]
    if duplicates := await _duplicate_keys(connection, resource):
        newest = f", {_ident(resource.as_of_column.value)} DESC NULLS LAST" if resource.as_of_column else ""
        said.append(f"{duplicates}: a key held by several rows answers with one of them (the one true the latest by "
                    "as_of_column), and a batch download can miss rows that share a key; partitioned "
                    f"{partitioned_by}, it can hold no unique index on {column} alone: keep one row per key, or share "
                    f"a view that does (SELECT DISTINCT ON ({_ident(column)}::text) * FROM {_ident(table)} ORDER BY "
                    f"{_ident(column)}::text{newest})")
    return "; and ".join(said) + ("" if usable or duplicates else ": every lookup reads the whole table")


async def _lookups_use_an_index(connection: asyncpg.Connection, resource: ResourceConfig) -> bool:
    """Whether the database can answer the resource's lookups from an index (True when it will not say).

    The 前置机 compares the key column as text (k::text = ANY($1)): an index on a text or varchar column serves
    that, one on a char(n) column (a 公民身份号码 kept as char(18), common in tables migrated from Oracle) or an
    integer one does not. The check took such a primary key for the index lookups need and said nothing, and
    every lookup read the whole table. The planner says, asked with sequential scans off: a plan that looks keys
    up in an index has an Index Cond; without one it reads the whole table (or the whole of an index, filtering)."""
    try:
        async with connection.transaction():
            await connection.execute("SET LOCAL enable_seqscan = off")
            plan = await connection.fetchval(f"EXPLAIN (FORMAT JSON) {statements(resource).batch}", [""],
                                             timeout=STATEMENT_TIMEOUT_SECONDS)
    except (asyncpg.PostgresError, TimeoutError):
        return True
    return '"Index Cond"' in str(plan)


async def _view_duplicates_advice(connection: asyncpg.Connection, resource: ResourceConfig) -> str:
    """A warning when a view (or a materialized or foreign table) returns several rows for a key, or "".

    A view has no index to look at, and the check said nothing of it; but a view joining a person to their
    addresses, or to every year's 补助, returns a person several times: the key answered with one of the rows
    and a batch download missed rows that share a key, as for a table without a unique key (f6473e9)."""
    assert resource.table is not None and resource.key_column is not None
    duplicates = await _duplicate_keys(connection, resource)
    if not duplicates:
        return ""
    column, newest = _ident(resource.key_column.value), (
        f", {_ident(resource.as_of_column.value)} DESC NULLS LAST" if resource.as_of_column else "")
    return (f"{resource.table.value} returns several rows for a key: {duplicates}; a key held by several rows "
            "answers with one of them (the one true the latest by as_of_column), and a batch download can miss rows "
            "that share a key: make it return one row per key "
            f"(SELECT DISTINCT ON ({column}::text) … ORDER BY {column}::text{newest})")


#: How many of the keys held by several rows the check shows, masked, for the DBA to look for.
DUPLICATE_EXAMPLES = 3
#: How a key is masked in the check's words (services.runtime.masking's rules): the DBA finds the row by the
#: ends of the key without the log holding a person's number. A region code is public.
_EXAMPLE_MASKS = {"citizen_id": "citizen_id", "credit_code": "credit_code", "text": "licence_number"}


async def _duplicate_keys(connection: asyncpg.Connection, resource: ResourceConfig) -> str:
    """How many keys the table holds in several rows, in how many rows, with a few examples masked, or "" when
    there are none (or the table takes too long to count).

    The check advised CREATE UNIQUE INDEX on such a table, which the database refuses with "could not create
    unique index … Key (sfzhm)=(342322194911060454) is duplicated": one key at a time, in full, and nothing
    said how many more there were."""
    assert resource.table is not None and resource.key_column is not None
    key = f"{_ident(resource.key_column.value)}::text"
    try:
        found = await connection.fetch(
            f"SELECT key, held, count(*) OVER () AS keys, sum(held) OVER () AS rows FROM (SELECT {key} AS key, "
            f"count(*) AS held FROM {_ident(resource.table.value)} WHERE {key} IS NOT NULL GROUP BY 1 "
            "HAVING count(*) > 1) AS duplicated ORDER BY held DESC, key LIMIT $1", DUPLICATE_EXAMPLES,
            timeout=STATEMENT_TIMEOUT_SECONDS)
    except (asyncpg.PostgresError, TimeoutError):
        return ""
    if not found:
        return ""
    masker, rule = Masker(), _EXAMPLE_MASKS.get(resource.key_kind_name)
    examples = ", ".join(f"{masker.mask(row['key'], rule) if rule else row['key']} in {row['held']} rows"
                         for row in found)
    keys, rows = found[0]["keys"], found[0]["rows"]
    more = ", …" if keys > len(found) else ""
    return (f"{keys:,} key{'s are each' if keys != 1 else ' is'} held by several rows ({rows:,} rows in all; "
            f"{examples}{more})")


async def _key_parameter_problem(connection: asyncpg.Connection,
                                 prepared: asyncpg.prepared_stmt.PreparedStatement) -> str:
    """Why the key's parameter cannot take a key (keys are text), or ""; the database would refuse every call.

    A query taking no parameter ($1 written in quotes, '$1', the text $1 and not the key; or in a comment) passed
    the file's check (it holds "$1"): --check then said the database "stopped answering during the check"
    (asyncpg's "the server expects 0 arguments for this query, 1 was passed"), and every call was INTERNAL."""
    parameters = prepared.get_parameters()
    if not parameters:
        return ("the query takes no parameter: $1 is the key's parameter, written without quotes ('$1' is the text "
                "$1, not the key): WHERE column = $1")
    if len(parameters) > 1:
        return f"the query takes {len(parameters)} parameters: it is given one, the key ($1)"
    category = await connection.fetchval("SELECT typcategory::text FROM pg_type WHERE oid = $1", parameters[0].oid)
    if category not in _KEY_CATEGORIES:
        return (f"$1 is of type {parameters[0].name}, but keys are text: compare the column as text "
                "(WHERE column::text = $1)")
    return ""


def _item_type_advice(resource: ResourceConfig, returned: dict[str, asyncpg.types.Type], path: str,
                      entry: catalog_pb2.Entry) -> list[tuple[int, str]]:
    """A warning, on the item's line, for each item ``entry`` (the catalog entry in ``path``) declares of a data
    type its column's values are not of, when the entry registers this resource.

    Nothing compared them: an entry declaring 缴费基数 DATA_TYPE_CURRENCY over a text column, or 参保日期
    DATA_TYPE_DATE over a timestamp, was published, and the platform verified the values by a type they were not
    of (a claim 2020-01-05 against 2020-01-05T10:30:00+08:00), answering 不一致 of data the department held. The
    check cannot know which side is right: it says what each says and both ways to agree."""
    if entry.endpoint.dataset != resource.dataset:
        return []
    advice = []
    for item in entry.items:
        column = resource.items.get(item.machine_name)
        wanted = _COLUMNS_OF_DATA_TYPE.get(item.data_type)
        kind = returned.get(column.value) if column is not None else None
        if column is None or wanted is None or kind is None or kind.name in wanted:
            continue
        declared = catalog_pb2.DataType.Name(item.data_type)
        fits = catalog_pb2.DataType.Name(_DATA_TYPE_OF_COLUMN.get(kind.name, catalog_pb2.DATA_TYPE_CHARACTER))
        advice.append((column.line, f"item {item.machine_name} is {declared} in {path}, but its column "
                                    f"{column.value!r} is of type {kind.name}: the platform reads the item's values "
                                    f"as {declared} (Verify compares them so), and a value that is not one is "
                                    "answered 不一致 whatever a desk claims: declare the item "
                                    f"{fits}, or map a column of type {' or '.join(sorted(wanted))} (a view or query "
                                    "column casting it)"))
    return advice


def _code_advice(resource: ResourceConfig, path: str, entry: catalog_pb2.Entry) -> tuple[int, str] | None:
    """A warning, on the line of ``resource_code``, when the entry in ``path`` registers this resource under
    another catalog code than the one its changes are announced as.

    Nothing compared them: an entry submitted as 202001/000002 over a dataset whose ``resource_code`` still said
    202001/000001 (the demo's, copied) was published, and every change the trigger announced went to the platform
    as 202001/000001 — a code it does not know (logged as a notice "not needed"), or another entry's copies
    dropped — while this entry's callers were answered from the platform's copies until they expired. A warning,
    not a refusal: one dataset may be registered by two entries, and ``resource_code`` names one of them."""
    code = resource.resource_code
    if entry.endpoint.dataset != resource.dataset or code is None or not entry.code or entry.code == code.value:
        return None
    return code.line, (f"resource_code {code.value} is not the code of the entry in {path} ({entry.code}), which "
                       f"registers dataset {resource.dataset}: the changes announced on "
                       f"{resource.watch_channel.value if resource.watch_channel else 'its channel'} are told to the "
                       f"platform as {code.value}, never as {entry.code}, whose callers are answered from the "
                       f"platform's copies until they expire: set resource_code: {entry.code}, or correct the entry")


def entry_code_advice(config: FrontprocConfig, path: str, entry: catalog_pb2.Entry) -> list[str]:
    """_code_advice's warning for the entry in ``path``, with its line of the configuration (no database needed)."""
    resource = config.resources.get(entry.endpoint.dataset)
    found = _code_advice(resource, path, entry) if resource is not None else None
    return [] if found is None else [f"{config.path}:{found[0]}: resources {resource.dataset!r}: "  # type: ignore[union-attr]
                                     f"{found[1]}"]


async def entry_type_advice(config: FrontprocConfig, path: str, entry: catalog_pb2.Entry) -> list[str]:
    """_item_type_advice's warnings for the entry in ``path``, each with its line of the configuration, read from
    the database now; [] when the database does not answer (submit-entry does not wait on it: ``--check
    --entry`` says why)."""
    resource = config.resources.get(entry.endpoint.dataset)
    if resource is None:
        return []
    try:
        connection = await asyncpg.connect(config.database_url, timeout=CONNECT_TIMEOUT_SECONDS)
    except _CONNECT_FAILURES:
        return []
    try:
        prepared = await connection.prepare(statements(resource).one, timeout=STATEMENT_TIMEOUT_SECONDS)
        returned = {attribute.name: attribute.type for attribute in prepared.get_attributes()}
    except (asyncpg.PostgresError, TimeoutError):
        return []
    finally:
        await connection.close()
    return [f"{config.path}:{line}: resources {resource.dataset!r}: {advice}"
            for line, advice in _item_type_advice(resource, returned, path, entry)]


def _column_problems(resource: ResourceConfig, returned: dict[str, asyncpg.types.Type]) -> list[tuple[int, str]]:
    """What is wrong with the columns the items and the as-of time map to, given those the SQL returns."""
    problems: list[tuple[int, str]] = []
    mapped = [*resource.items.items(), *([("as_of_column", resource.as_of_column)] if resource.as_of_column else [])]
    for item, column in mapped:
        kind = returned.get(column.value)
        if kind is None:
            problems.append((column.line, f"{item} maps to column {column.value!r}, which {_source_name(resource)} "
                                          f"does not return (it has {', '.join(sorted(returned))})"))
        elif item == "as_of_column" and column is resource.as_of_column:
            if kind.name not in _AS_OF_TYPES:
                problems.append((column.line, f"as_of_column {column.value!r} is of type {kind.name}: it must be "
                                              "a timestamp, timestamptz or date"))
        elif kind.kind in _NO_TEXT_FORM_KINDS or kind.name in _NO_TEXT_FORM_TYPES:
            problems.append((column.line, f"{item} maps to column {column.value!r} of type {kind.name}, which has "
                                          "no text form to share: map a view or query column that casts it to "
                                          "text"))
    return problems


async def _unknown_columns(connection: asyncpg.Connection, resource: ResourceConfig,
                           error: asyncpg.PostgresError) -> list[tuple[int, str]]:
    """Every mapped column a table does not have, each with the columns it has (as docs/frontproc.md shows), when
    the database refused a table's statement for an unknown column; [] otherwise. The server names only the first
    unknown column ("column "danwei" does not exist"), and not the ones there are to choose from."""
    if resource.table is None or not isinstance(error, asyncpg.UndefinedColumnError):
        return []
    try:
        columns = await connection.prepare(f"SELECT * FROM {_ident(resource.table.value)}",
                                           timeout=STATEMENT_TIMEOUT_SECONDS)
    except (asyncpg.PostgresError, TimeoutError):
        return []
    returned = {attribute.name: attribute.type for attribute in columns.get_attributes()}
    return [*_column_problems(resource, returned),
            *([(resource.key_column.line, f"key_column {resource.key_column.value!r} is not a column of table "
                                          f"{resource.table.value} (it has {', '.join(sorted(returned))})")]
              if resource.key_column is not None and resource.key_column.value not in returned else [])]


async def _tables_named_otherwise(connection: asyncpg.Connection, resource: ResourceConfig,
                                  error: asyncpg.PostgresError) -> str:
    """When the database finds no table of the resource's name: the tables and views it has of that name in
    another case or schema, as the ``table`` to write (": there is rsj.si_enrolment: write table: rsj.si_enrolment
    …"), or "".

    Names are taken as written (quoted), so a data officer used to Oracle, writing RSJ.SI_ENROLMENT for a table
    created without quotes (which PostgreSQL keeps as rsj.si_enrolment), or si_enrolment for one in schema rsj
    not on the account's search_path, was told only 'relation … does not exist' of a table they could see."""
    if resource.table is None or not isinstance(error, asyncpg.UndefinedTableError):
        return ""
    schema, _, name = resource.table.value.rpartition(".")
    try:
        found = await connection.fetch(
            "SELECT CASE WHEN n.nspname = ANY(current_schemas(false)) AND $1 = '' AND c.relname = lower($2) "
            "THEN '' ELSE n.nspname || '.' END || c.relname AS name FROM pg_class c JOIN pg_namespace n ON "
            "n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND lower(c.relname) = lower($2) "
            "AND ($1 = '' OR lower(n.nspname) = lower($1)) AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "ORDER BY 1 LIMIT 5", schema, name, timeout=STATEMENT_TIMEOUT_SECONDS)
    except (asyncpg.PostgresError, TimeoutError):
        return ""
    if not found:
        return ""
    names = [row["name"] for row in found]
    return (f": the database has {', '.join(names)}: write table: {names[0]} (names are taken as written: in their "
            "case, which for a name created without quotes PostgreSQL keeps in lower case, and without a schema only "
            "on the account's search_path)")


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

