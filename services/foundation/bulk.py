"""Bulk loading by COPY: the initial load of a dataset and the seed (millions of records in minutes).

The RPC load path (loading.py) writes at most 5000 rows per call with per-record
history and cross-checking; an initial load of ten million persons needs PostgreSQL's
COPY instead. Rows go in batches, each in its own transaction holding the dataset lock:
a batch of new keys is COPYed straight into the table; a batch that meets existing keys
is COPYed into a staging table and merged, superseded versions going to history as on
the RPC path. Producing the next batch (generating and converting rows, in a worker
thread) overlaps with PostgreSQL ingesting the current one.

A load of 10^8 rows runs for hours, so it reports its progress after every batch
(:class:`LoadProgress`: rows loaded and rejected, of how many, rate and ETA); the seed
prints it to stderr every few seconds (:class:`ProgressPrinter`). Bad records never
stop a load: they are counted as it goes and reported at the end, the rest loaded. A key
given twice in one validated load is the later record's rejection, in whichever batch it
falls (the keys written are kept in a temporary table of the load's connection).

Only the dataset's authoritative source, designated by the authority, may bulk-load (values
from other sources are cross-checked through LoadRecords), and only while no item of the
dataset has an authoritative source of its own (COPY would overwrite that source's values).
Cross-checking against other sources' kept values is not run here; the next LoadRecords of
a record does it.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import islice
from typing import TextIO

import asyncpg

from services.foundation import synthetic
from services.foundation.datasets import DATASETS, DATE, NUMERIC, Dataset
from services.foundation.invalidation import FOUNDATION_ENDPOINT, RecordInvalidator
from services.foundation.loading import Rejection, lines_taken_in, record_named, repeats, values_hold_line_breaks
from services.foundation.store import Transaction
from services.foundation.validation import BYTE_ORDER_MARK, china_today, validate_record
from services.runtime.cache import create_client

log = logging.getLogger(__name__)
SCHEMA = "foundation"
LOAD_ORDER = ("region", "place", "population", "legal_entity", "licence")


class BulkLoadError(Exception):
    """Some records were rejected; the good ones were loaded all the same.

    The message names each record by its position (and, read from a CSV file, by the line of the file it ends on),
    never by its key: a key is an ID number, and the message is what ends up printed or logged (the keys are in
    ``rejected`` for the caller that needs them)."""

    def __init__(self, dataset: str, loaded: int, rejected: list[Rejection]) -> None:
        shown = "; ".join(f"{record_named(r.index, r.line)}: {', '.join(r.reasons)}" for r in rejected[:5])
        more = f" (and {len(rejected) - 5} more)" if len(rejected) > 5 else ""
        super().__init__(f"{dataset}: loaded {loaded}, rejected {len(rejected)}: {shown}{more}")
        self.dataset = dataset
        self.loaded = loaded
        self.rejected = rejected


@dataclass(frozen=True)
class LoadProgress:
    """Where a bulk load of one dataset stands, after a batch: what the operator of a long load watches."""

    dataset: str
    #: Records written, records skipped as bad, and records read so far (loaded + rejected).
    loaded: int
    rejected: int
    read: int
    #: The records the load was given, when the caller knows (None: unknown, no ETA).
    total: int | None
    elapsed_seconds: float
    #: True once the load has read its last record (the final report).
    done: bool = False

    @property
    def rate(self) -> float:
        """Records read per second so far."""
        return self.read / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left at the rate so far; None while the total or the rate is unknown."""
        if self.done:
            return 0.0
        if self.total is None or self.rate <= 0:
            return None
        return max(0, self.total - self.read) / self.rate

    def describe(self) -> str:
        """One line: counts, share of the total, rate and ETA (no record content: keys are personal data)."""
        of = f" / {self.total:,}" if self.total is not None else ""
        share = f" ({100 * self.read / self.total:.1f}%)" if self.total else ""
        eta = self.eta_seconds
        left = "done" if self.done else f"ETA {_clock(eta)}" if eta is not None else "ETA unknown"
        return (f"{self.dataset}: {self.read:,}{of} records read{share}, {self.loaded:,} loaded, "
                f"{self.rejected:,} rejected, {self.rate:,.0f} records/s, {_clock(self.elapsed_seconds)} elapsed, "
                f"{left}")


def _clock(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


class ProgressPrinter:
    """Prints a load's progress to ``stream`` (stderr) at most every ``interval`` seconds, and its last report
    always: a ten-hour load says how far it is without flooding the terminal."""

    def __init__(self, stream: TextIO | None = None, interval: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._stream = stream
        self._interval = interval
        self._clock = clock
        self._last: float | None = None

    def __call__(self, progress: LoadProgress) -> None:
        now = self._clock()
        if not progress.done and self._last is not None and now - self._last < self._interval:
            return
        self._last = now
        stream = self._stream or sys.stderr
        print(progress.describe(), file=stream, flush=True)


@dataclass
class _Batch:
    consumed: int
    rows: list[tuple] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    #: Each row's position in the load (validated loads only): a key repeated in a later batch names it.
    positions: list[int] = field(default_factory=list)
    #: Each row's line in its file, beside ``positions`` (0: not read from a CSV reader).
    lines: list[int] = field(default_factory=list)


class _Rows:
    """Turns input records into COPY tuples (items in column order, then provenance)."""

    def __init__(self, dataset: Dataset, validate: bool, source: str, as_of: datetime) -> None:
        self._dataset = dataset
        self._validate = validate
        self._tail = (source, as_of, datetime.now(UTC))
        self._today = china_today()
        self._converters = tuple((item.name, date.fromisoformat if item.column_type == DATE else
                                  Decimal if item.column_type == NUMERIC else None) for item in dataset.items)

    def batch(self, records: Iterator[dict], size: int, start: int) -> _Batch:
        chunk = _read(records, size, start, self._dataset) if self._validate else \
            [(r, 0) for r in islice(records, size)]
        batch = _Batch(consumed=len(chunk))
        # key → the record's position and line: a reason names the record, not the ID number
        seen: dict[str, tuple[int, int]] = {}
        key_item = self._dataset.key_item
        for offset, (record, line) in enumerate(chunk):
            if isinstance(record, _Unreadable):
                batch.rejected.append(Rejection(start + offset, "", (record.reason,), line))
                continue
            if self._validate:
                checked = validate_record(self._dataset, record, self._today)
                problems = checked.problems or ([repeats(key_item, *seen[checked.key])]
                                                if checked.key in seen else [])
                if problems and line and (spanned := _spanned(record, line)):
                    problems = [spanned, *problems]
                if problems:
                    batch.rejected.append(Rejection(start + offset, checked.key, tuple(problems), line))
                    continue
                seen[checked.key] = (start + offset, line)
                batch.positions.append(start + offset)
                batch.lines.append(line)
                values = checked.values
                batch.rows.append(tuple(values.get(name) for name, _ in self._converters) + self._tail)
            else:
                batch.rows.append(self._convert(record))
        return batch

    def _convert(self, record: Mapping[str, str]) -> tuple:
        """A trusted record (canonical strings, e.g. from synthetic.py) as typed values."""
        row = []
        for name, convert in self._converters:
            value = record.get(name) or None
            row.append(value if value is None or convert is None else convert(value))
        return (*row, *self._tail)


@dataclass(frozen=True)
class _Unreadable:
    """A record its reader could not give (csv.Error: a line over the field limit, a stray quote)."""

    reason: str


#: Unreadable records in a row after which the reader is taken to be stuck, and the load stopped.
MAX_UNREADABLE_IN_A_ROW = 1000


def _read(records: Iterator[dict], size: int, start: int, dataset: Dataset
          ) -> list[tuple[dict | _Unreadable, int]]:
    """Up to ``size`` records, each with the line of its file it ends on (a csv reader's ``line_num``; 0 for
    records that come from no file). One its reader raises csv.Error for is an :class:`_Unreadable` in its place,
    and the reading goes on (csv's reader resumes at the next line), so one huge or broken line of a file rejects
    that record, not the rest of the file. Any other error of the reader stops the load: a text file's reader
    that cannot decode its bytes ends there, and going on would lose the rest of the file without a word.

    The line is what a data officer looks for in the file: a record's position alone (#41, counted from 0) is
    not its line, with the header before it, the empty lines a reader skips and values holding line breaks."""
    chunk: list[tuple[dict | _Unreadable, int]] = []
    in_a_row = 0
    while len(chunk) < size:
        try:
            record = next(records)
        except StopIteration:
            break
        except csv.Error as error:  # its message names the limit or the character, never the line's content
            in_a_row += 1
            if in_a_row > MAX_UNREADABLE_IN_A_ROW:
                raise ValueError(f"{record_named(start + len(chunk), _line(records))}: {MAX_UNREADABLE_IN_A_ROW} "
                                 "unreadable records in a row; is this a CSV file?") from error
            chunk.append((_Unreadable(f"the line could not be read as CSV ({error}); fix it and load it again"),
                          _line(records)))
            continue
        except UnicodeDecodeError as error:
            # No line: a text file is decoded a block at a time, so the bytes may lie well past the line read last.
            raise ValueError(f"the file is not UTF-8 (met reading on from record #{start + len(chunk)}: nothing from "
                             "there on was loaded): save it as UTF-8, or open it with errors='surrogateescape' to "
                             "have each such record rejected and the rest loaded") from error
        in_a_row = 0
        if start == 0 and not any(isinstance(read, dict) for read, _ in chunk):
            _require_distinct_columns(records, dataset)  # the header is read now, with the first record
        chunk.append((record, _line(records)))
    return chunk


def _spanned(record: Mapping[object, object], line: int) -> str:
    """The reason of a record of a CSV file whose values hold line breaks, or "" (no item takes one).

    A value between double quotes may span lines; a quote opened by mistake and not closed (a name typed "张三, an
    address cut by an export) takes in every line after it, up to the next quote, as that value: those lines were
    neither loaded nor rejected, only the record swallowing them was, for a line break in its address. The reason
    says which lines it took in, so the file's count of lines and the load's of records can be told apart."""
    # (A value running to the end of the file holds the last line's end too, which ends no line of the record.)
    breaks = sum(value.count("\n") + value.count("\r") - value.count("\r\n")
                 for value in (value.rstrip("\r\n") for value in record.values() if isinstance(value, str)))
    if not breaks:
        return ""
    broken = {str(item): value for item, value in record.items()
              if isinstance(value, str) and ("\n" in value.rstrip("\r\n") or "\r" in value.rstrip("\r\n"))}
    if None not in record and None not in record.values() and not any(map(lines_taken_in, broken.values())):
        # Every column has its value, none is left over and no line of the file is in one: typed in a cell.
        return values_hold_line_breaks(line - breaks, line, list(broken))
    return (f"the record runs from line {line - breaks} to line {line} (a value holds line breaks: a double quote "
            "opened and not closed takes in the lines after it as part of that value, and they are not read as "
            "records): close the quote, or remove the line breaks")


def _require_distinct_columns(records: Iterator[dict], dataset: Dataset) -> None:
    """ValueError, before anything is loaded, when a CSV reader's header names a column twice (called once its
    first record is read, so asking for the header reads nothing).

    csv.DictReader keeps the last of two columns of one name: a file whose header said name twice (a 户主姓名
    column relabelled name) loaded every record with the other column's value, and nothing said so."""
    header = getattr(records, "fieldnames", None)
    if not isinstance(header, list):
        return
    names = [str(name).lstrip(BYTE_ORDER_MARK) for name in header]
    # (Columns without a name are no item: validate_record rejects a record holding a value in one.)
    twice = {name: [n for n, other in enumerate(names, 1) if other == name] for name in names
             if name.strip() and names.count(name) > 1}
    if twice:
        # An item's name is shown; another header is not (a file without a header row has a record for one).
        said = "; ".join(f"{name if name in dataset.item_names else 'a name'} in columns "
                         f"{', '.join(map(str, columns))}" for name, columns in twice.items())
        raise ValueError(f"the file's header names a column twice ({said}): a CSV reader keeps only the last of "
                         "them, so the other's values would be lost without a word; rename or remove one (nothing "
                         "was loaded)")


def _line(records: Iterator[dict]) -> int:
    """The line of its file a csv reader has read up to (0 for records that come from no file)."""
    line = getattr(records, "line_num", 0)
    return line if isinstance(line, int) else 0


@contextlib.asynccontextmanager
async def _connection(pool_or_conn: asyncpg.Pool | asyncpg.Connection) -> AsyncIterator[asyncpg.Connection]:
    if isinstance(pool_or_conn, asyncpg.Pool):
        async with pool_or_conn.acquire() as conn:
            yield conn
    else:
        yield pool_or_conn


async def _write(conn: asyncpg.Connection, dataset: str, source: str, batch: _Batch) -> int:
    """Writes one batch in its own transaction; returns how many rows were written.

    A validated batch (``batch.positions``) first drops the rows whose key an earlier batch of this load wrote,
    each reported as a rejection naming that record: the merge would otherwise overwrite the first record with
    the second and count both as loaded."""
    async with conn.transaction():
        tx = Transaction(conn)
        designation = await tx.lock_designation(dataset)
        if designation.authority is None:
            raise PermissionError(f"{dataset}: no authoritative source is designated; the authority designates "
                                  "one with FoundationAdminService.DesignateAuthoritativeSource")
        if designation.authority != source:
            raise PermissionError(f"{dataset}: {source} is not the authoritative source ({designation.authority}); "
                                  "other sources load through LoadRecords")
        if designation.overridden_items():
            raise PermissionError(f"{dataset}: items {', '.join(sorted(designation.overridden_items()))} have "
                                  "their own authoritative sources; load through LoadRecords, which keeps their values")
        rows = await _drop_repeated_keys(tx, dataset, batch) if batch.positions else batch.rows
        if not rows:
            return 0
        try:
            async with conn.transaction():  # a savepoint: new keys go straight in
                await tx.copy_records(dataset, rows)
        except asyncpg.UniqueViolationError:
            await tx.merge_records(dataset, rows)
        if batch.positions:
            await tx.remember_loaded_keys([(row[0], position, line) for row, position, line in zip(
                rows, batch.positions, batch.lines, strict=True)])
    return len(rows)


async def _drop_repeated_keys(tx: Transaction, dataset: str, batch: _Batch) -> list[tuple]:
    """The batch's rows whose key no earlier batch of the load wrote; the others become rejections.

    The batch itself holds no key twice (_Rows.batch); ``batch.positions`` and ``batch.lines`` are narrowed to the
    rows kept."""
    earlier = await tx.loaded_key_positions([row[0] for row in batch.rows])
    if not earlier:
        return batch.rows
    key_item = DATASETS[dataset].key_item
    rows, positions, lines = [], [], []
    for row, position, line in zip(batch.rows, batch.positions, batch.lines, strict=True):
        if row[0] in earlier:
            batch.rejected.append(Rejection(position, row[0], (repeats(key_item, *earlier[row[0]]),), line))
        else:
            rows.append(row)
            positions.append(position)
            lines.append(line)
    batch.positions, batch.lines = positions, lines
    return rows


async def copy_dataset(pool_or_conn: asyncpg.Pool | asyncpg.Connection, dataset: str, source_department_code: str,
                       records: Iterable[dict], batch_size: int = 50_000, *, validate: bool = True,
                       as_of_time: datetime | None = None, total: int | None = None,
                       progress: Callable[[LoadProgress], None] | None = None) -> int:
    """COPYs ``records`` (item -> canonical string) into ``dataset``; returns how many were loaded.

    ``progress`` is called after every batch and once at the end with a :class:`LoadProgress` (``total``, the
    number of records when the caller knows it, gives the ETA).

    The connection (or pool) must resolve names in the foundation schema, as pools from
    ``services.runtime.db.create_pool(url, "foundation")`` do. With ``validate`` every record is
    checked as LoadRecords checks it; bad ones are skipped and reported by a BulkLoadError raised
    after all good ones are in. ``validate=False`` is for trusted generated data (synthetic.py).
    PermissionError if ``source_department_code`` is not the dataset's designated authoritative source, or
    an item of the dataset has another authoritative source.
    """
    definition = DATASETS.get(dataset)
    if definition is None:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    converter = _Rows(definition, validate, source_department_code, as_of_time or datetime.now(UTC))
    iterator = iter(records)
    loop = asyncio.get_running_loop()
    loaded, start = 0, 0
    rejected: list[Rejection] = []
    started = time.monotonic()

    def report(done: bool = False) -> None:
        if progress is not None:
            progress(LoadProgress(dataset, loaded, len(rejected), start, total, time.monotonic() - started, done))

    async with _connection(pool_or_conn) as conn:
        if validate:
            await Transaction(conn).start_key_tracking()
        pending = loop.run_in_executor(None, converter.batch, iterator, batch_size, start)
        try:
            while True:
                batch = await pending
                if not batch.consumed:
                    break
                start += batch.consumed
                pending = loop.run_in_executor(None, converter.batch, iterator, batch_size, start)
                if batch.rows:
                    loaded += await _write(conn, dataset, source_department_code, batch)
                rejected += sorted(batch.rejected, key=lambda r: r.index)
                report()
        finally:
            with contextlib.suppress(Exception):
                await pending
            if validate:
                with contextlib.suppress(Exception):  # a lost connection's error is the one to raise
                    await Transaction(conn).stop_key_tracking()
        await Transaction(conn).analyze(dataset)
    report(done=True)
    if rejected:
        raise BulkLoadError(dataset, loaded, rejected)
    return loaded


async def load_synthetic(database_url: str, source_department_code: str | Mapping[str, str], persons: int,
                         entities: int, licences: int, seed: int = 42, *, places: int | None = None,
                         redis_url: str | None = None,
                         progress: Callable[[LoadProgress], None] | None = None) -> dict[str, int]:
    """Loads generated data (all regions, places, persons, entities, licences); returns the count per dataset.

    ``source_department_code`` is one department for every dataset, or one per dataset name; each must be
    the dataset's authoritative source, designated by the authority beforehand (as services/demo.py does
    through DesignateAuthoritativeSource), or the load stops with PermissionError. Places
    default to one per hundred persons (at least 100). With ``redis_url``, cached records of the
    loaded datasets are dropped and RECORDS_CHANGED ({"endpoint": "", "dataset", "all": true}) is published.
    ``progress`` gets each dataset's progress (copy_dataset), e.g. a :class:`ProgressPrinter`.
    """
    sources = ({name: source_department_code for name in LOAD_ORDER} if isinstance(source_department_code, str)
               else dict(source_department_code))
    places = max(100, persons // 100) if places is None else places
    plan: dict[str, Iterable[dict]] = {
        "region": synthetic.regions(),
        "place": synthetic.places(places, seed),
        "population": synthetic.persons(persons, seed),
        "legal_entity": synthetic.entities(entities, seed),
    }
    if licences:
        plan["licence"] = synthetic.licences(licences, seed, persons=persons, entities=entities)
    missing = [name for name in plan if not sources.get(name)]
    if missing:
        raise ValueError(f"no source department for {', '.join(missing)}")
    counts: dict[str, int] = {}
    conn = await asyncpg.connect(database_url, server_settings={
        "search_path": f"{SCHEMA},public", "application_name": "govshare-seed"})
    try:
        totals = {"place": places, "population": persons, "legal_entity": entities, "licence": licences}
        for name, records in plan.items():
            counts[name] = await copy_dataset(conn, name, sources[name], records, validate=False,
                                              total=totals.get(name), progress=progress)
            log.info("loaded %d %s records", counts[name], name)
    finally:
        await conn.close()
    if redis_url:
        await _invalidate(redis_url, list(counts))
    return counts


async def _invalidate(redis_url: str, datasets: list[str]) -> None:
    client = create_client(redis_url)
    invalidator = RecordInvalidator()
    invalidator.attach(client)
    try:
        for name in datasets:
            await invalidator.dataset_changed(FOUNDATION_ENDPOINT, name)
    finally:
        invalidator.attach(None)  # a one-shot command: what Redis did not take now is left to the cache TTL
        await client.aclose()
