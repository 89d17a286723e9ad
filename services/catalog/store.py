"""All of the catalog's SQL (schema ``catalog``, migrations in ./migrations).

Reads take a :class:`View` (whose eyes they are for) so visibility is decided in
the query itself: a page never holds rows the caller may not see, and keyset
pagination stays exact. Writes go through :class:`CatalogTransaction`, which the
domain opens, locks an entry's head row in, and commits as one unit.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg

from services.catalog.index import IndexedVersion
from services.catalog.model import (
    PENDING_STATES,
    PUBLIC_STATES,
    Category,
    DataItem,
    Endpoint,
    EndpointReader,
    Entry,
    EntryFilter,
    EntryHead,
    EntryReturn,
    EntryState,
    MandateChange,
    ProjectEntry,
    RelatedHead,
    Secrecy,
    Zone,
)
from services.catalog.search import Document
from services.runtime import admin_events
from services.runtime.actors import Actor
from services.runtime.admin_events import AdminEvent
from services.runtime.identity import Caller
from services.runtime.workdays import CHINA, Recounted, moved_dues, provisional, recounted

#: Entry history steps that are administrative actions (the administrative log, via the outbox).
ADMIN_ACTIONS = frozenset({"create", "update", "submit", "publish", "return", "retire"})
#: The steps that make a version what it is: whoever took one does not review it.
AUTHORING = frozenset({"create", "update", "submit"})

# The decisions' persons (migration 005): (id, display name, department) of the submitter and of the reviewer.
_ACTOR_COLUMNS = ("submitted_by_id", "submitted_by_name", "submitted_by_department_code", "reviewed_by_id",
                  "reviewed_by_name", "reviewed_by_department_code")
# Columns of entry_versions that make up an Entry, in the order _entry reads and _row writes them.
_ENTRY_COLUMNS = (
    "code", "version", "state", "name", "summary", "category", "subject", "provider_department_code",
    "provider_name", "format_class", "format_type", "items", "key_item", "share_type", "share_condition",
    "share_methods", "legal_basis", "open_to_public", "open_condition", "update_cycle", "related_codes", "zone",
    "secrecy", "endpoint_target", "endpoint_dataset", "project_code", "return_reason", "publish_time",
    "create_time", "update_time", *_ACTOR_COLUMNS, "retire_reason",
)
_SEARCH_COLUMNS = ("search_name", "search_text", "search_grams", "search_name_words", "search_text_words")
_WRITE_COLUMNS = _ENTRY_COLUMNS + _SEARCH_COLUMNS
_SELECT = ", ".join(f"v.{column}" for column in _ENTRY_COLUMNS)
_INSERT = (f"INSERT INTO entry_versions ({', '.join(_WRITE_COLUMNS)}) "
           f"VALUES ({', '.join(f'${i}' for i in range(1, len(_WRITE_COLUMNS) + 1))})")
# Everything but the key and the creation time may change while a version is a draft.
_MUTABLE_COLUMNS = tuple(c for c in _WRITE_COLUMNS if c not in ("code", "version", "create_time"))
_UPDATE = ("UPDATE entry_versions SET "
           + ", ".join(f"{column} = ${i}" for i, column in enumerate(_MUTABLE_COLUMNS, start=3))
           + " WHERE code = $1 AND version = $2")
_VERSION = f"SELECT {_SELECT} FROM entry_versions v WHERE code = $1 AND version = $2"
_PUBLIC = sorted(int(state) for state in PUBLIC_STATES)
_PENDING = sorted(int(state) for state in PENDING_STATES)
# A version everybody may read (model.is_public): in a public state and published once; a draft closed
# by retirement is RETIRED without ever having been published.
_PUBLISHED_ONCE = "(v.state = ANY({states}::smallint[]) AND v.publish_time IS NOT NULL)"
# Actions that show a department keeping its catalog current (R-CAT-3 due dates).
#: What counts as updating a department's catalog after a mandate change (R-CAT-3): retiring an entry is one, since
#: a duty transferred away leaves the department nothing to create, only resources to withdraw.
CATALOG_WORK = ("create", "update", "submit", "retire")
#: The event of an entry's retirement, which closes it for good (a published entry's, or a draft withdrawn).
RETIRE_ACTION = "retire"


@dataclass(frozen=True)
class View:
    """Whose eyes a read is for."""

    #: The authority and platform services see every version.
    sees_everything: bool
    #: The caller's department sees its own work in progress.
    department_code: str
    #: An extranet deployment hides classified and intranet entries (R-ZON-2).
    extranet: bool

    @classmethod
    def of(cls, caller: Caller, zone: str) -> View:
        return cls(sees_everything=caller.authority or caller.is_service,
                   department_code=caller.department_code, extranet=zone != "intranet")


def _item(stored: dict) -> DataItem:
    """An item as stored in entry_versions.items (listed_since an ISO 8601 text, absent before it was kept)."""
    since = stored.pop("listed_since", None)
    return DataItem(**stored, listed_since=dt.datetime.fromisoformat(since) if since else None)


def _stored_item(item: DataItem) -> dict:
    stored = dataclasses.asdict(item)
    stored["listed_since"] = item.listed_since.isoformat() if item.listed_since is not None else None
    return stored


def _entry(row: asyncpg.Record) -> Entry:
    items = [_item(item) for item in json.loads(row["items"])]
    return Entry(
        code=row["code"], version=row["version"], state=row["state"], name=row["name"], summary=row["summary"],
        category=row["category"], subject=row["subject"], provider_department_code=row["provider_department_code"],
        provider_name=row["provider_name"], format_class=row["format_class"], format_type=row["format_type"],
        items=items, key_item=row["key_item"], share_type=row["share_type"],
        share_condition=row["share_condition"], share_methods=list(row["share_methods"]),
        legal_basis=row["legal_basis"], open_to_public=row["open_to_public"], open_condition=row["open_condition"],
        update_cycle=row["update_cycle"], related_codes=list(row["related_codes"]), zone=row["zone"],
        secrecy=row["secrecy"], endpoint=Endpoint(target=row["endpoint_target"], dataset=row["endpoint_dataset"]),
        project_code=row["project_code"], return_reason=row["return_reason"], publish_time=row["publish_time"],
        create_time=row["create_time"], update_time=row["update_time"],
        submitted_by=Actor(row["submitted_by_id"], row["submitted_by_name"], row["submitted_by_department_code"]),
        reviewed_by=Actor(row["reviewed_by_id"], row["reviewed_by_name"], row["reviewed_by_department_code"]),
        retire_reason=row["retire_reason"],
    )


def _row(entry: Entry, document: Document) -> tuple:
    """The values of _WRITE_COLUMNS for ``entry``."""
    items = json.dumps([_stored_item(item) for item in entry.items], ensure_ascii=False)
    return (
        entry.code, entry.version, int(entry.state), entry.name, entry.summary, int(entry.category), entry.subject,
        entry.provider_department_code, entry.provider_name, int(entry.format_class), entry.format_type, items,
        entry.key_item, int(entry.share_type), entry.share_condition, [int(m) for m in entry.share_methods],
        entry.legal_basis, entry.open_to_public, entry.open_condition, int(entry.update_cycle),
        list(entry.related_codes), int(entry.zone), int(entry.secrecy), entry.endpoint.target,
        entry.endpoint.dataset, entry.project_code, entry.return_reason, entry.publish_time, entry.create_time,
        entry.update_time, *_actor_values(entry.submitted_by), *_actor_values(entry.reviewed_by), entry.retire_reason,
        document.name,
        document.text, document.grams, document.name_words, document.text_words,
    )


def _actor_values(actor: Actor) -> tuple[str, str, str]:
    return actor.id, actor.display_name, actor.department_code


def _head(row: asyncpg.Record | None) -> EntryHead | None:
    if row is None:
        return None
    return EntryHead(code=row["code"], provider_department_code=row["provider_department_code"],
                     latest_version=row["latest_version"], public_version=row["public_version"])


class _Sql:
    """Numbered parameters for a statement assembled from optional parts."""

    def __init__(self) -> None:
        self.args: list[object] = []

    def arg(self, value: object) -> str:
        self.args.append(value)
        return f"${len(self.args)}"


def _listed(view: View, entry_filter: EntryFilter, sql: _Sql) -> tuple[str, list[str]]:
    """The join and conditions selecting the versions a view lists.

    Without a state filter that is each entry's current version as the caller sees it
    (published, else the latest for insiders); with one it is every visible version in
    that state, so the authority's review queue includes new versions of published entries.
    """
    conditions: list[str] = []
    own = "TRUE" if view.sees_everything else f"e.provider_department_code = {sql.arg(view.department_code)}"
    if entry_filter.state:
        join = "JOIN entry_versions v ON v.code = e.code"
        conditions.append(f"v.state = {sql.arg(entry_filter.state)}")
        if not view.sees_everything:
            conditions.append(f"({_PUBLISHED_ONCE.format(states=sql.arg(_PUBLIC))} OR {own})")
    else:
        # The current version is a column (entries.current_version = coalesce(public, latest)), not an
        # expression: PostgreSQL estimates an equality with an expression at 0.5 %, believed a provider's
        # listing held a few rows, and hashed the whole of ``entries`` for each page (0.5 s at 10^6).
        # Outsiders see only published entries: for them the current version is the public one.
        join = "JOIN entry_versions v ON v.code = e.code AND v.version = e.current_version"
        if not view.sees_everything:
            conditions.append(f"({own} OR e.public_version IS NOT NULL)")
    for column in ("provider_department_code", "category", "share_type", "zone", "update_cycle", "subject",
                   "project_code"):
        value = getattr(entry_filter, column)
        if value:
            conditions.append(f"v.{column} = {sql.arg(value)}")
    if view.extranet:
        conditions.append(f"v.zone = {sql.arg(int(Zone.EXTRANET))} AND v.secrecy <> {sql.arg(int(Secrecy.CLASSIFIED))}")
    return f"FROM entries e {join}", conditions


# The current version of each entry as the search index holds it (services/catalog/index.py): the published
# one, else the latest (seen by its department and the authority only); retired entries are not searched.
_INDEXED_COLUMNS = (
    "v.code, v.version, e.provider_department_code AS owner, e.public_version IS NOT NULL AS published, "
    "v.provider_department_code, v.category, v.share_type, v.zone, v.secrecy, v.update_cycle, v.subject, "
    "v.project_code, v.search_name, v.search_text, v.search_name_words, v.search_text_words, "
    "coalesce(v.publish_time, v.update_time) AS recency, coalesce(u.uses, 0) AS uses")
_INDEXED = (
    f"SELECT {_INDEXED_COLUMNS} FROM entries e JOIN entry_versions v ON v.code = e.code "
    "AND v.version = coalesce(e.public_version, e.latest_version) LEFT JOIN entry_usage u ON u.code = e.code "
    f"WHERE v.state <> {int(EntryState.RETIRED)}")


def _indexed(row: asyncpg.Record) -> IndexedVersion:
    return IndexedVersion(
        code=row["code"], version=row["version"], owner=row["owner"], published=row["published"],
        provider_department_code=row["provider_department_code"], category=row["category"],
        share_type=row["share_type"], zone=row["zone"], update_cycle=row["update_cycle"], subject=row["subject"],
        project_code=row["project_code"],
        extranet_visible=row["zone"] == int(Zone.EXTRANET) and row["secrecy"] != int(Secrecy.CLASSIFIED),
        name=row["search_name"], text=row["search_text"], name_words=row["search_name_words"],
        text_words=row["search_text_words"], recency=row["recency"], usage=row["uses"])


def _one_per_entry(entry_filter: EntryFilter) -> bool:
    """Whether a listing shows each entry once, so that a walk resumes after the position's entry, not its version:
    without a state filter (each entry's current version) and the published (an entry has one published version at
    a time, the catalogue as the console's 目录 shows it). Resumed after (code, version), an entry whose next version
    was published between two pages was shown again at the next page's top, (code, 2) coming after (code, 1).
    Other states keep the version in the position: an entry has several SUPERSEDED or RETIRED versions, and a
    version submitted after the one a review queue's page ended at is new work to show."""
    return entry_filter.state in (EntryState.UNSPECIFIED, EntryState.PUBLISHED)


def _where(conditions: Sequence[str]) -> str:
    return f"WHERE {' AND '.join(conditions)}" if conditions else ""


class CatalogStore:
    def __init__(self, pool: asyncpg.Pool, listing: asyncpg.Pool | None = None,
                 search: asyncpg.Pool | None = None) -> None:
        """``pool`` serves lookups and writes; ``listing`` and ``search`` (db.WorkPools, default ``pool``)
        the listings and searches, with their own connections and statement budgets."""
        self._pool = pool
        self._listing = listing or pool
        self._search = search or pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[CatalogTransaction]:
        async with self._pool.acquire() as conn, conn.transaction():
            yield CatalogTransaction(conn)

    async def head(self, code: str) -> EntryHead | None:
        return _head(await self._pool.fetchrow("SELECT * FROM entries WHERE code = $1", code))

    async def version(self, code: str, version: int) -> Entry | None:
        row = await self._pool.fetchrow(_VERSION, code, version)
        return _entry(row) if row is not None else None

    async def versions(self, code: str, public_only: bool, after: int, limit: int) -> list[Entry]:
        """Up to ``limit`` visible versions of ``code`` after version ``after``, oldest first (a listing: its
        pool; the primary key (code, version) serves the position)."""
        visible = _PUBLISHED_ONCE.format(states="$2") if public_only else "v.state = ANY($2::smallint[])"
        rows = await self._listing.fetch(
            f"SELECT {_SELECT} FROM entry_versions v WHERE code = $1 AND version > $3 AND {visible} "
            "ORDER BY version LIMIT $4", code, _PUBLIC if public_only else _PUBLIC + _PENDING, after, limit)
        return [_entry(row) for row in rows]

    async def returns(self, code: str, versions: Sequence[int]) -> dict[int, list[EntryReturn]]:
        """Every return of ``versions`` of ``code``, oldest first, by version. A version returned, reworked and
        submitted again keeps its number and loses its return_reason: the reason stays only in the trail, read
        here (entry_events_code_idx serves it)."""
        rows = await self._pool.fetch(
            "SELECT version, reason, time, actor_system_id, actor_display_name, actor_department_code"
            " FROM entry_events WHERE code = $1 AND action = 'return' AND version = ANY($2::integer[]) ORDER BY id",
            code, list(versions))
        found: dict[int, list[EntryReturn]] = {}
        for row in rows:
            found.setdefault(row["version"], []).append(EntryReturn(row["reason"], row["time"], Actor(
                row["actor_system_id"], row["actor_display_name"], row["actor_department_code"])))
        return found

    async def last_version(self, code: str, public_only: bool) -> Entry | None:
        """The newest visible version of ``code``: whether the entry may be served here is its zone's."""
        visible = _PUBLISHED_ONCE.format(states="$2") if public_only else "v.state = ANY($2::smallint[])"
        row = await self._listing.fetchrow(
            f"SELECT {_SELECT} FROM entry_versions v WHERE code = $1 AND {visible} ORDER BY version DESC LIMIT 1",
            code, _PUBLIC if public_only else _PUBLIC + _PENDING)
        return _entry(row) if row is not None else None

    async def list_current(self, view: View, entry_filter: EntryFilter, after: tuple[str, int] | None,
                           limit: int) -> list[Entry]:
        """Up to ``limit`` listed versions after ``after`` (code, version), in code order (see _one_per_entry for
        where the version is part of the position)."""
        sql = _Sql()
        source, conditions = _listed(view, entry_filter, sql)
        if after is not None:
            # The position bounds both tables: on ``entries`` too, so the walk starts at the position's
            # code in the primary key rather than at the first entry (each page cost its depth).
            code = sql.arg(after[0])
            if _one_per_entry(entry_filter):
                conditions.append(f"e.code > {code}")
            else:
                conditions.append(f"e.code >= {code}")
                conditions.append(f"(v.code, v.version) > ({code}, {sql.arg(after[1])})")
        rows = await self._listing.fetch(
            f"SELECT {_SELECT} {source} {_where(conditions)} ORDER BY v.code, v.version LIMIT {sql.arg(limit)}",
            *sql.args)
        return [_entry(row) for row in rows]

    async def search(self, view: View, entry_filter: EntryFilter, terms: Sequence[str], grams: Sequence[str],
                     after: tuple[int, str, int] | None, limit: int) -> list[tuple[int, Entry]]:
        """Listed versions containing every term, best first: (rank, entry) with rank = terms missing from the name.

        The gram containment is answered by the GIN index; strpos rechecks each term as a substring.
        """
        sql = _Sql()
        source, conditions = _listed(view, entry_filter, sql)
        conditions.append(f"v.search_grams @> {sql.arg(list(grams))}::text[]")
        rank_parts: list[str] = []
        for term in terms:
            placeholder = sql.arg(term)
            conditions.append(f"strpos(v.search_text, {placeholder}) > 0")
            rank_parts.append(f"(CASE WHEN strpos(v.search_name, {placeholder}) > 0 THEN 0 ELSE 1 END)")
        resume = ""
        if after is not None and _one_per_entry(entry_filter):
            resume = f"WHERE (s.rank, s.code) > ({sql.arg(after[0])}, {sql.arg(after[1])})"
        elif after is not None:
            resume = (f"WHERE (s.rank, s.code, s.version) > "
                      f"({sql.arg(after[0])}, {sql.arg(after[1])}, {sql.arg(after[2])})")
        rows = await self._search.fetch(
            f"SELECT * FROM (SELECT {_SELECT}, {' + '.join(rank_parts)} AS rank {source} {_where(conditions)}) s "
            f"{resume} ORDER BY s.rank, s.code, s.version LIMIT {sql.arg(limit)}", *sql.args)
        return [(row["rank"], _entry(row)) for row in rows]

    async def indexed_page(self, after: str, limit: int) -> tuple[list[IndexedVersion], str]:
        """The searchable versions of the next ``limit`` entries after code ``after``, and the last code read
        ('' at the end): the search index's rebuild, in short queries rather than one transaction held open
        for minutes (the catch-up re-applies whatever changed meanwhile)."""
        rows = await self._pool.fetch(
            f"SELECT e.code AS listed, {_INDEXED_COLUMNS} "
            "FROM (SELECT * FROM entries WHERE code > $1 ORDER BY code LIMIT $2) e "
            "LEFT JOIN entry_versions v ON v.code = e.code AND v.version = coalesce(e.public_version, "
            f"e.latest_version) AND v.state <> {int(EntryState.RETIRED)} LEFT JOIN entry_usage u ON u.code = e.code "
            "ORDER BY e.code", after, limit)
        return [_indexed(row) for row in rows if row["code"] is not None], (rows[-1]["listed"] if rows else "")

    async def indexed_of(self, codes: Sequence[str]) -> list[IndexedVersion]:
        """The searchable versions of ``codes`` (none for an entry that is retired or unknown)."""
        return [_indexed(row) for row in await self._pool.fetch(f"{_INDEXED} AND e.code = ANY($1::text[])",
                                                                list(codes))]

    async def changed_since(self, since: dt.datetime) -> tuple[list[str], dt.datetime | None]:
        """The entries with a version written, or a usage rank changed, after ``since``, and the latest such
        write time."""
        rows = await self._pool.fetch(
            "SELECT code, max(time) AS time FROM (SELECT code, update_time AS time FROM entry_versions"
            " WHERE update_time > $1 UNION ALL SELECT code, update_time FROM entry_usage WHERE update_time > $1) c"
            " GROUP BY code", since)
        return [row["code"] for row in rows], max((row["time"] for row in rows), default=None)

    async def save_usage(self, usage: Mapping[str, tuple[int, int]]) -> None:
        """Replaces every entry's use count by ``usage`` (code -> (count, rank)); entries not in it had none.

        Counts of unknown codes are dropped. ``update_time`` moves only where the rank changes, so the search
        index's catch-up re-indexes those entries alone. One writer at a time (replicas refresh alike)."""
        codes = sorted(usage)
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('govshare-catalog-entry-usage'))")
            await conn.execute(
                "INSERT INTO entry_usage (code, uses, rank, update_time)"
                " SELECT f.code, f.uses, f.rank, now()"
                " FROM unnest($1::text[], $2::bigint[], $3::smallint[]) AS f(code, uses, rank)"
                " JOIN entries e ON e.code = f.code"
                " ON CONFLICT (code) DO UPDATE SET uses = excluded.uses, rank = excluded.rank,"
                " update_time = CASE WHEN entry_usage.rank <> excluded.rank THEN excluded.update_time"
                " ELSE entry_usage.update_time END WHERE entry_usage.uses <> excluded.uses",
                codes, [usage[code][0] for code in codes], [usage[code][1] for code in codes])
            await conn.execute(
                "UPDATE entry_usage SET uses = 0, rank = 0, update_time = CASE WHEN rank <> 0 THEN now()"
                " ELSE update_time END WHERE uses <> 0 AND NOT (code = ANY($1::text[]))", codes)

    async def versions_of(self, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], Entry]:
        """The versions named by (code, version) pairs; missing ones are left out."""
        rows = await self._pool.fetch(
            f"SELECT {_SELECT} FROM entry_versions v JOIN unnest($1::text[], $2::integer[]) AS k(code, version) "
            "ON v.code = k.code AND v.version = k.version", [k[0] for k in keys], [k[1] for k in keys])
        return {(row["code"], row["version"]): _entry(row) for row in rows}

    async def project_states(self, project_code: str, extranet: bool) -> list[ProjectEntry]:
        """The current version of every entry registered for a project, in code order, less the drafts withdrawn
        before they were ever published (RetireEntry of a draft made by mistake, or under a wrong code and made
        again): counted, such a draft kept the project from being all published for good, nothing left to publish
        it. An entry retired after publication stays, unpublished (the catalogue had it; GetProjectStatusResponse)."""
        zone = " AND v.zone = $3 AND v.secrecy <> $4" if extranet else ""
        args: tuple = (project_code, int(EntryState.RETIRED))
        args += (int(Zone.EXTRANET), int(Secrecy.CLASSIFIED)) if extranet else ()
        rows = await self._pool.fetch(
            "SELECT v.code, v.state, e.provider_department_code, e.public_version IS NOT NULL AS public "
            "FROM entries e JOIN entry_versions v ON v.code = e.code "
            "AND v.version = coalesce(e.public_version, e.latest_version) "
            f"WHERE v.project_code = $1 AND (e.public_version IS NOT NULL OR v.state <> $2){zone} ORDER BY v.code",
            *args)
        return [ProjectEntry(row["code"], row["state"], row["provider_department_code"], row["public"])
                for row in rows]

    async def record_admin(self, event: AdminEvent) -> None:
        """Writes one administrative event to the outbox in a transaction of its own (a refused step, whose
        own transaction rolled back)."""
        async with self._pool.acquire() as conn, conn.transaction():
            await admin_events.record(conn, event)

    async def add_mandate_change(self, change: MandateChange, caller: Caller, now: dt.datetime) -> dt.datetime:
        """Records the change and, in the same transaction, its administrative event (dates only: the
        description is free text and stays out of the log); returns its due time. The same change reported again
        (its department, its words and its day in Beijing: a form posted twice, a retry after a lost reply, two
        officers of one department reporting it) is the one recorded: its due time is returned and nothing is added,
        so the department is not listed twice as overdue for one change. Reports of one department are taken one at
        a time (an advisory lock), so two sent at once make one change."""
        day = change.change_time.astimezone(CHINA).date()
        start = dt.datetime.combine(day, dt.time(), CHINA)
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                               f"catalog.mandate_change:{change.department_code}")
            reported = await conn.fetchval(
                "SELECT due_time FROM mandate_changes WHERE department_code = $1 AND description = $2"
                " AND change_time >= $3 AND change_time < $4 ORDER BY id LIMIT 1",
                change.department_code, change.description, start, start + dt.timedelta(days=1))
            if reported is not None:
                return reported
            await conn.execute(
                "INSERT INTO mandate_changes (department_code, description, change_time, due_time, "
                "reported_by_system_id, report_time, due_working_days, due_provisional)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                change.department_code, change.description, change.change_time, change.due_time, caller.system_id,
                now, change.due_working_days, provisional(change.due_time))
            await admin_events.record(conn, AdminEvent.by(
                caller, "catalog.report_mandate_change", change.department_code, time=now,
                details={"change_time": change.change_time.astimezone(dt.UTC).isoformat(),
                         "due_time": change.due_time.astimezone(dt.UTC).isoformat()}))
        return change.due_time

    async def recount_dues(self) -> Recounted:
        """Counts again, on the calendar installed now (workdays.moved_dues), every catalog update due date counted
        without its year's statutory calendar (or stored before it was known whether it was: migration 011) and
        every open one's (the department has done no catalog work since the change, as ``overdue`` reads it): the
        year's calendar it was counted on may have been corrected since. Returns how many moved, of each kind. One
        that changed meanwhile (another replica counted it first) is left as it is."""
        async with self._pool.acquire() as conn, conn.transaction():
            rows = [(r["id"], r["change_time"], r["due_time"], r["due_working_days"], r["due_provisional"])
                    for r in await conn.fetch(
                        "SELECT m.id, m.change_time, m.due_time, m.due_working_days, m.due_provisional"
                        " FROM mandate_changes m WHERE m.due_provisional IS NOT FALSE"
                        " OR (m.due_working_days IS NOT NULL AND NOT EXISTS (SELECT 1 FROM entry_events ev"
                        "  WHERE ev.provider_department_code = m.department_code AND ev.action = ANY($1::text[])"
                        "  AND ev.time >= m.change_time))", list(CATALOG_WORK))]
            dues = moved_dues(rows)
            if dues:
                await conn.executemany("UPDATE mandate_changes SET due_time = $3, due_working_days = $4,"
                                       " due_provisional = $5 WHERE id = $1 AND due_time = $2", dues)
        return recounted(rows, dues)

    async def numbered_entries(self) -> list[tuple[str, int, str]]:
        """(code, category, subject) of the current version of every entry not retired whose code the code rules
        may refuse (rules.stored_code_problem decides): a part of zeros only, or a foundation or theme entry (its 项
        numbers its subject). Read once at start."""
        rows = await self._listing.fetch(
            "SELECT e.code, v.category, v.subject FROM entries e"
            " JOIN entry_versions v ON v.code = e.code AND v.version = e.current_version"
            " WHERE v.state <> $1 AND (v.category = ANY($2::smallint[])"
            " OR e.code ~ '^.(00|..000|.....000/)|/000000$') ORDER BY e.code",
            int(EntryState.RETIRED), [int(Category.FOUNDATION), int(Category.THEME)])
        return [(r["code"], r["category"], r["subject"]) for r in rows]

    async def unmasked_rules(self) -> list[tuple[str, list[str]]]:
        """(code, machine names) of the published entries whose published version has items with a masking rule
        but not marked sensitive, which query serves unmasked (the rule does nothing). Read once at start."""
        rows = await self._listing.fetch(
            "SELECT e.code, array_agg(i.item->>'machine_name' ORDER BY i.position) AS items FROM entries e"
            " JOIN entry_versions v ON v.code = e.code AND v.version = e.public_version"
            " CROSS JOIN LATERAL jsonb_array_elements(v.items) WITH ORDINALITY AS i(item, position)"
            " WHERE v.state = $1 AND coalesce(i.item->>'mask_rule', '') <> ''"
            " AND NOT coalesce((i.item->>'sensitive')::boolean, false)"
            " GROUP BY e.code ORDER BY e.code", int(EntryState.PUBLISHED))
        return [(r["code"], list(r["items"])) for r in rows]

    async def overdue(self, now: dt.datetime, after: tuple[dt.datetime, int] | None, limit: int,
                      department_code: str | None = None) -> list[tuple[int, MandateChange]]:
        """Up to ``limit`` changes past due with no catalog work by the department since the change, after the
        position (due_time, id), longest overdue first, with their ids; ``department_code``'s only when given (a
        listing: its pool; the index on (due_time, id) serves the position, catalog 008; a department has a few
        changes a year, read by the same index)."""
        start_time, start_id = after if after is not None else (None, 0)
        rows = await self._listing.fetch(
            "SELECT m.id, m.department_code, m.description, m.change_time, m.due_time FROM mandate_changes m "
            "WHERE m.due_time < $1 AND ($3::timestamptz IS NULL OR (m.due_time, m.id) > ($3, $4)) "
            "AND ($6::text IS NULL OR m.department_code = $6) "
            "AND NOT EXISTS (SELECT 1 FROM entry_events ev "
            "  WHERE ev.provider_department_code = m.department_code AND ev.action = ANY($2::text[]) "
            "  AND ev.time >= m.change_time) "
            "ORDER BY m.due_time, m.id LIMIT $5", now, list(CATALOG_WORK), start_time, start_id, limit,
            department_code)
        return [(row["id"], MandateChange(department_code=row["department_code"], description=row["description"],
                                          change_time=row["change_time"], due_time=row["due_time"]))
                for row in rows]


    async def published_resources(self, end: dt.datetime) -> list[asyncpg.Record]:
        """The entries published at ``end``, each as its version published last before it, unless the entry was
        retired before it (supervision figures, R-SUP-1: a month's resources are those of its end). Read as the
        entries published now, a month recomputed after its end (the schedule recomputes last month all through
        this one) lost every entry retired since, and every entry whose new version was published since."""
        return await self._pool.fetch(
            "SELECT DISTINCT ON (v.code) v.code, v.provider_department_code, v.share_type, v.category, "
            "v.update_cycle, v.endpoint_target, v.endpoint_dataset FROM entry_versions v "
            f"WHERE {_PUBLISHED_ONCE.format(states='$1')} AND v.publish_time < $2 AND NOT EXISTS ("
            " SELECT 1 FROM entry_events ev WHERE ev.code = v.code AND ev.action = $3 AND ev.time < $2) "
            "ORDER BY v.code, v.publish_time DESC", _PUBLIC, end, RETIRE_ACTION)

    async def mandate_changes_due(self, start: dt.datetime, end: dt.datetime) -> list[asyncpg.Record]:
        """Mandate changes due in [start, end), and those reported in it whose due time had passed before it began,
        with the time of the department's first catalog work after each change (NULL when none), so on-time and
        overdue updates are told apart (R-CAT-3). A change reported after the period it fell due in (its
        change_time months back) is counted in the period it was reported in: counted by its due time alone, it
        fell in a month already computed, which the schedule does not compute again, and the overdue update was
        never found."""
        return await self._pool.fetch(
            "SELECT m.id, m.department_code, m.due_time, (SELECT min(ev.time) FROM entry_events ev "
            "  WHERE ev.provider_department_code = m.department_code AND ev.action = ANY($3::text[]) "
            "  AND ev.time >= m.change_time) AS work_time "
            "FROM mandate_changes m WHERE (m.due_time >= $1 AND m.due_time < $2 AND m.report_time < $2)"
            " OR (m.report_time >= $1 AND m.report_time < $2 AND m.due_time < $1) ORDER BY m.id",
            start, end, list(CATALOG_WORK))

class CatalogTransaction:
    """Writes of one entry, inside one database transaction."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def lock_head(self, code: str) -> EntryHead | None:
        """The entry's head, locked until commit so transitions of one entry never interleave."""
        return _head(await self._conn.fetchrow("SELECT * FROM entries WHERE code = $1 FOR UPDATE", code))

    async def create_head(self, code: str, provider_department_code: str, now: dt.datetime) -> bool:
        """Claims a new code; False when it is taken."""
        status = await self._conn.execute(
            "INSERT INTO entries (code, provider_department_code, latest_version, public_version, create_time) "
            "VALUES ($1, $2, 1, NULL, $3) ON CONFLICT (code) DO NOTHING", code, provider_department_code, now)
        return status.endswith(" 1")

    async def save_head(self, head: EntryHead) -> None:
        await self._conn.execute(
            "UPDATE entries SET provider_department_code = $2, latest_version = $3, public_version = $4 "
            "WHERE code = $1", head.code, head.provider_department_code, head.latest_version, head.public_version)

    async def version(self, code: str, version: int) -> Entry | None:
        row = await self._conn.fetchrow(_VERSION, code, version)
        return _entry(row) if row is not None else None

    async def insert_version(self, entry: Entry, document: Document) -> None:
        await self._conn.execute(_INSERT, *_row(entry, document))

    async def update_version(self, entry: Entry, document: Document) -> None:
        values = dict(zip(_WRITE_COLUMNS, _row(entry, document), strict=True))
        await self._conn.execute(_UPDATE, entry.code, entry.version, *(values[c] for c in _MUTABLE_COLUMNS))

    async def version_authors(self, code: str, version: int) -> frozenset[str]:
        """Who drafted, edited or submitted ``version`` of the entry (their system or person ids)."""
        rows = await self._conn.fetch(
            "SELECT DISTINCT actor_system_id FROM entry_events WHERE code = $1 AND version = $2"
            " AND action = ANY($3::text[])", code, version, list(AUTHORING))
        return frozenset(row["actor_system_id"] for row in rows)

    async def endpoint_readers(self, dataset: str, code: str) -> list[EndpointReader]:
        """The other published entries reading ``dataset``, with the dataset name locked until commit, so
        that two reviews cannot publish rival endpoints of one dataset at once."""
        await self._conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"catalog.dataset:{dataset}")
        rows = await self._conn.fetch(
            "SELECT v.code, v.provider_department_code, v.endpoint_target FROM entries e "
            "JOIN entry_versions v ON v.code = e.code AND v.version = e.public_version "
            "WHERE v.endpoint_dataset = $1 AND v.state = $2 AND e.code <> $3 ORDER BY v.code",
            dataset, int(EntryState.PUBLISHED), code)
        return [EndpointReader(row["code"], row["provider_department_code"], row["endpoint_target"]) for row in rows]

    async def relations(self, codes: Sequence[str]) -> list[RelatedHead]:
        """What the catalog holds of ``codes``: each one's owner and the states of its public and latest versions."""
        rows = await self._conn.fetch(
            "SELECT e.code, e.provider_department_code, p.state AS public_state, l.state AS latest_state "
            "FROM entries e JOIN entry_versions l ON l.code = e.code AND l.version = e.latest_version "
            "LEFT JOIN entry_versions p ON p.code = e.code AND p.version = e.public_version "
            "WHERE e.code = ANY($1::text[])", list(codes))
        return [RelatedHead(row["code"], row["provider_department_code"],
                            EntryState(row["public_state"]) if row["public_state"] is not None else None,
                            EntryState(row["latest_state"])) for row in rows]

    async def retire_pending(self, code: str, now: dt.datetime, reason: str) -> None:
        """Closes every version still in progress, so nothing can revive a retired entry; each keeps ``reason``."""
        await self._conn.execute(
            "UPDATE entry_versions SET state = $2, update_time = $3, retire_reason = $5 "
            "WHERE code = $1 AND state = ANY($4::smallint[])", code, int(EntryState.RETIRED), now, _PENDING, reason)

    async def add_event(self, entry: Entry, action: str, caller: Caller, now: dt.datetime, reason: str = "",
                        fields: Sequence[str] = ()) -> None:
        """Records a step of the entry's history; the administrative ones (drafts, submit, the review's publish
        or return, retire) also go to the administrative log's outbox, in the same transaction. ``fields``:
        the names of the fields an update changed (names only, never their values)."""
        if action in ADMIN_ACTIONS:
            details: dict[str, object] = {"version": entry.version,
                                          "provider_department_code": entry.provider_department_code}
            if fields:
                details["fields"] = sorted(set(fields))
            await admin_events.record(self._conn, AdminEvent.by(caller, f"catalog.{action}", entry.code, details,
                                                                 time=now))
        await self._conn.execute(
            "INSERT INTO entry_events (code, version, action, provider_department_code, actor_system_id, "
            "actor_department_code, reason, time, actor_display_name) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            entry.code, entry.version, action, entry.provider_department_code, caller.system_id,
            caller.department_code, reason, now, caller.display_name)
