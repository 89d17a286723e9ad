"""Loads from sources and the curation of their disagreements (一数一源、多元校核, R-FND-2, R-FND-3).

Every dataset has one authoritative source department. A load from it validates each
row, rejects the bad ones with their reasons, and writes all the good ones in one
transaction after validation, so a bad row never takes the good ones down and nothing is
half-written. Replaced versions go to history. A load from any other department never
touches the authoritative values: its values are kept for cross-checking, and every item
on which they differ from the authoritative value becomes a conflict for the source to
resolve. Cross-checking runs both ways: when the authoritative source later changes a
record, the values other sources asserted are compared again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from services.foundation.datasets import DATASETS, Dataset
from services.foundation.invalidation import FOUNDATION_ENDPOINT, RecordInvalidator
from services.foundation.sources import Designation
from services.foundation.store import (
    ADOPT_OTHER,
    KEEP_AUTHORITATIVE,
    OPEN,
    RESOLVED,
    VALUE_WITHDRAWN,
    VALUES_AGREE,
    Conflict,
    Disagreement,
    FoundationStore,
    SourceValues,
    StoredRecord,
    Transaction,
)
from services.foundation.validation import CHINA_TIME, validate_record
from services.runtime import admin_events, duties
from services.runtime.actors import actor_of
from services.runtime.admin_events import AdminEvent
from services.runtime.duties import DATA_OFFICER
from services.runtime.errors import (
    FieldViolation,
    ServiceError,
    failed_precondition,
    invalid_argument,
    not_found,
    permission_denied,
)
from services.runtime.identity import Caller

MAX_RECORDS = 5000
# A source's clock may run a little ahead of ours; beyond this an as_of_time is in the future.
CLOCK_SKEW = timedelta(minutes=5)
#: 1900-01-01 as the departments write it, in Beijing time, as a rejection says it (in UTC, 1900-01-01 03:00+08:00
#: was 'before 1900').
EARLIEST_AS_OF = datetime(1900, 1, 1, tzinfo=CHINA_TIME)


@dataclass(frozen=True, slots=True)
class LoadRow:
    """One input row: item -> value, when the source asserted it, and problems found while decoding it."""

    values: Mapping[str, str]
    as_of_time: datetime | None = None
    problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Rejection:
    index: int
    key: str
    reasons: tuple[str, ...]
    #: The line of its file the record ends on, when the bulk loader read it from a CSV reader (0: not known).
    line: int = 0


@dataclass(slots=True)
class LoadOutcome:
    accepted: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    #: Items on which this load found a source disagreeing with the authoritative value.
    conflicts: int = 0
    #: Keys whose current record changed (their cache entries were invalidated).
    changed_keys: list[str] = field(default_factory=list)
    #: The source was not the dataset's authoritative one: its values were kept for cross-checking, not made the
    #: records (but for the items designated to it).
    kept_for_cross_checking: bool = False


@dataclass(slots=True)
class _Good:
    index: int
    key: str
    values: dict[str, object]
    canonical: dict[str, str]
    as_of_time: datetime


def record_named(position: int, line: int) -> str:
    """A record as a message names it: its position in the load, and its line in the file when known."""
    return f"#{position} (line {line})" if line else f"#{position}"


def values_hold_line_breaks(first: int, last: int, items: list[str]) -> str:
    """The rejection of a record of a CSV file read whole, lines ``first`` to ``last``, whose ``items`` hold line
    breaks between their quotes: a cell typed with Alt+Enter in a spreadsheet (北京市⏎东城区). It was said to be a
    double quote opened and not closed, which the officer looked for and did not find."""
    return (f"the record runs from line {first} to line {last}: the value of {', '.join(items)} holds a line break "
            "(a cell typed on two lines, Alt+Enter in a spreadsheet), which no item takes: remove it")


def lines_taken_in(value: str, delimiter: str = ",") -> bool:
    """Whether ``value``, holding a line break, may hold lines a double quote left open took in: a line of a file
    holds its delimiter, a cell typed on two lines (北京市⏎东城区) does not. Both have a whole record's count of values
    once read (the quote closes at the next one, with that record's values after it), so only this tells them
    apart."""
    return delimiter in value


def repeats(key_item: str, position: int, line: int = 0) -> str:
    """The reason of a record whose key an earlier record of the same load has, named by position: the key is the
    record's own (RejectedRecord.key), and a reason is what a loader prints or logs. LoadRecords' reason quoted
    it ('citizen_id: 342322194911060454 repeats record 0 of this load'), a 公民身份号码 in full on the terminal
    and in the job's log of `govshare load-records`, which prints no other, by a position counted otherwise than
    the bulk loader's (#0)."""
    return f"{key_item}: repeats record {record_named(position, line)} of this load"


def check_rows(dataset: Dataset, rows: Sequence[LoadRow], now: datetime) -> tuple[list[_Good], list[Rejection]]:
    """Validates every row; a key may appear once per load (which of two rows would win is not obvious): the
    later row of a key is rejected naming the first, as a load of keys nothing is stored of judges them."""
    valid, rejected = validated_rows(dataset, rows, now)
    first, refused = judged(dataset, valid, {})
    return first, sorted([*rejected, *refused], key=lambda r: r.index)


def validated_rows(dataset: Dataset, rows: Sequence[LoadRow], now: datetime) -> tuple[list[_Good], list[Rejection]]:
    """Every row checked on its own (its values and as-of time); the valid ones, a key's several rows all kept for
    :func:`judged`, which needs the stored times to say which of them stands."""
    today = now.astimezone(CHINA_TIME).date()
    good: list[_Good] = []
    rejected: list[Rejection] = []
    for index, row in enumerate(rows):
        checked = validate_record(dataset, row.values, today)
        problems = [*row.problems, *checked.problems]
        as_of = row.as_of_time or now
        # Said in Beijing time, as the file wrote it: a typed 2062-11-30 was said to be 2062-11-29T16:00:00+00:00.
        if as_of > now + CLOCK_SKEW:
            problems.append(f"as_of_time: {_beijing(as_of)} is in the future")
        elif as_of < EARLIEST_AS_OF:
            problems.append(f"as_of_time: {_beijing(as_of)} is before {EARLIEST_AS_OF.year}")
        if problems:
            rejected.append(Rejection(index, checked.key, tuple(problems)))
            continue
        good.append(_Good(index, checked.key, checked.values, dataset.canonical(checked.values), as_of))
    return good, rejected


def compare(dataset: Dataset, designation: Designation, record: StoredRecord, other: SourceValues
            ) -> tuple[list[Disagreement], list[tuple[str, str, str]]]:
    """Items a source asserted that it is not authoritative for: those that differ from the record, and
    those that agree (an item's own authoritative source is never in conflict with itself)."""
    differ: list[Disagreement] = []
    agree: list[tuple[str, str, str]] = []
    for item in dataset.non_key_items:
        theirs = other.values.get(item.name)
        if theirs is None or designation.authority_of(item.name) == other.source_department_code:
            continue
        ours = record.values.get(item.name, "")
        if ours == theirs:
            agree.append((record.key, item.name, other.source_department_code))
        else:
            differ.append(Disagreement(record.key, item.name, ours, theirs, other.source_department_code))
    return differ, agree


async def _log(tx: Transaction, caller: Caller | None, action: str, target: str, details: dict[str, object],
               result: str = admin_events.OK) -> None:
    """An administrative event, in the outbox, in the action's transaction (a caller-less load is not logged:
    only the platform's own seeding loads without one)."""
    if caller is not None:
        await admin_events.record(tx.conn, AdminEvent.by(caller, action, target, details, result))


def _load_refusal(designation: Designation, source: str) -> ServiceError | None:
    """Why ``source`` may not load now (NOT_A_SOURCE, NO_AUTHORITATIVE_SOURCE), or None: returned, not raised,
    so the refusal is logged in the transaction that found it instead of rolling back with it."""
    try:
        designation.check_load(source)
    except ServiceError as refusal:
        return refusal
    return None


def withdrawn(dataset: Dataset, designation: Designation, other: SourceValues) -> list[tuple[str, str, str]]:
    """The items ``other``'s source no longer gives (its kept values are its latest load's, whole) that it is not
    authoritative for: a conflict it raised on one is about a value it does not assert any more.

    Left open, the item's source was asked to keep or adopt a value the other source had taken back (adopting it
    wrote that value into the record), and supervision counted the conflict as left open."""
    return [(other.key, item.name, other.source_department_code) for item in dataset.non_key_items
            if item.name not in other.values and designation.authority_of(item.name) != other.source_department_code]


def plan_conflicts(found: Iterable[Disagreement], agreeing: Iterable[tuple[str, str, str]],
                   existing: Iterable[Conflict]) -> tuple[list[Disagreement], list[int]]:
    """Which disagreements to record, and which open conflicts to close because the values now agree.

    A disagreement the source already dismissed (kept its value against exactly this other value)
    is not raised again each time the other source reloads it.
    """
    existing = list(existing)
    dismissed = {(c.key, c.item, c.other_source_department_code, c.authoritative_value, c.other_value)
                 for c in existing if c.state == RESOLVED}
    open_ids = {(c.key, c.item, c.other_source_department_code): c.id for c in existing if c.state == OPEN}
    to_record = [d for d in found if (d.key, d.item, d.other_source_department_code, d.authoritative_value,
                                      d.other_value) not in dismissed]
    to_close = [open_ids[k] for k in agreeing if k in open_ids]
    return to_record, to_close


class Loader:
    """Loads and conflict resolution over the store; tells the query path what changed."""

    def __init__(self, store: FoundationStore, invalidator: RecordInvalidator,
                 recorded: Callable[[], None] = lambda: None) -> None:
        self._store = store
        self._invalidator = invalidator
        #: Called after a commit that recorded administrative events (the outbox relay delivers them at once).
        self._recorded = recorded

    async def load(self, dataset: Dataset, source: str, rows: Sequence[LoadRow], now: datetime | None = None,
                   caller: Caller | None = None) -> LoadOutcome:
        """Loads as ``source``, which the authority must have registered (NOT_A_SOURCE otherwise), into a
        dataset it gave an authoritative source (NO_AUTHORITATIVE_SOURCE otherwise). The load (counts only)
        goes to the administrative log as ``caller``'s, in the load's transaction; a refused one too, with the
        refusal's reason as its result."""
        now = now or datetime.now(UTC)
        good, rejected = validated_rows(dataset, rows, now)
        outcome = LoadOutcome(rejected=rejected)
        async with self._store.transaction() as tx:
            designation = await tx.lock_designation(dataset.name)
            refusal = _load_refusal(designation, source)
            if refusal is None and not rows:
                # Nothing to load is a mistake, not a load: over REST a misspelled "records" is dropped by the
                # transcoder, and the empty load answered 200 {"accepted": 0} as if the file had been taken.
                raise invalid_argument([FieldViolation(
                    "records", "no records to load: send at least one (over HTTP/JSON the body's list is "
                    "\"records\", each {\"values\": {item: value}}; a field of another name is dropped, not refused)")])
            outcome.kept_for_cross_checking = source != designation.authority
            if refusal is None and good:
                if source == designation.authority:
                    accepted, refused = await self._load_authoritative(tx, dataset, designation, source, good, now)
                    outcome.changed_keys = [g.key for g in accepted]
                else:
                    accepted, refused, outcome.changed_keys = await self._load_other(
                        tx, dataset, designation, source, good, now)
                outcome.conflicts = await _cross_check(tx, dataset, designation, source, [g.key for g in accepted])
                outcome.accepted = len(accepted)
                outcome.rejected = sorted([*rejected, *refused], key=lambda r: r.index)
            if refusal is None:
                await _log(tx, caller, "foundation.load_records", dataset.name,
                           {"source_department_code": source, "accepted": outcome.accepted,
                            "rejected": len(outcome.rejected), "conflicts": outcome.conflicts})
            else:  # an attempt to write a foundation dataset is evidence too: who tried, as which source, how many
                await _log(tx, caller, "foundation.load_records", dataset.name,
                           {"source_department_code": source, "records": len(rows)}, refusal.reason)
        self._recorded()
        if refusal is not None:
            raise refusal
        if good:
            await self._invalidator.records_changed(FOUNDATION_ENDPOINT, dataset.name, outcome.changed_keys)
        return outcome

    async def _load_authoritative(self, tx: Transaction, dataset: Dataset, designation: Designation, source: str,
                                  good: list[_Good], now: datetime) -> tuple[list[_Good], list[Rejection]]:
        """The dataset's source writes the records; items designated to another source keep that source's value."""
        current = await tx.current_records(dataset.name, [g.key for g in good])
        overridden = designation.overridden_items()
        times = await _own_times(tx, dataset, source, current, bool(overridden))
        if overridden:
            fresh, refused = await _standing(dataset, good, times, lambda rows: self._overlay_item_sources(
                tx, dataset, source, rows, overridden, now))
        else:
            fresh, refused = judged(dataset, good, times)
        superseded: list[StoredRecord] = []
        recorded: list[datetime] = []
        for g in fresh:
            before = current.get(g.key)
            if before is not None and before.values == g.canonical and before.source_department_code == source:
                recorded.append(before.recorded_time)  # re-asserted unchanged: same version, fresher as_of
            else:
                recorded.append(now)
                if before is not None:
                    superseded.append(before)
        await tx.write_history(dataset.name, superseded)
        await tx.upsert_records(dataset.name, [g.values for g in fresh], source, [g.as_of_time for g in fresh],
                                recorded)
        return fresh, refused

    async def _overlay_item_sources(self, tx: Transaction, dataset: Dataset, source: str, fresh: list[_Good],
                                    overridden: Mapping[str, str], now: datetime
                                    ) -> tuple[list[_Good], list[Rejection]]:
        """Rows of the dataset's source with the values item sources asserted for their items.

        The dataset's source's own values of those items are kept (as a source's values are) so they
        are cross-checked against the item source's.
        """
        keys = [g.key for g in fresh]
        await tx.keep_source_values(dataset.name, source, [
            SourceValues(g.key, source, {i: v for i, v in g.canonical.items() if i in overridden}, g.as_of_time)
            for g in fresh])
        asserted = {(sv.key, sv.source_department_code): sv.values
                    for sv in await tx.source_values(dataset.name, keys) if sv.source_department_code != source}
        merged: list[_Good] = []
        unfit: list[Rejection] = []
        for g in fresh:
            overlay = {item: value for item, owner in overridden.items()
                       if (value := asserted.get((g.key, owner), {}).get(item)) is not None}
            result = _merge(dataset, g, overlay, g.as_of_time, now)
            (merged if isinstance(result, _Good) else unfit).append(result)  # type: ignore[arg-type]
        return merged, unfit

    async def _load_other(self, tx: Transaction, dataset: Dataset, designation: Designation, source: str,
                          good: list[_Good], now: datetime) -> tuple[list[_Good], list[Rejection], list[str]]:
        """Another source's values are kept for cross-checking; those of items it is designated authoritative
        for are set on the records that exist (a record is created only by the dataset's source)."""
        times = await tx.own_source_times(dataset.name, source, [g.key for g in good])
        owned = designation.owned_items(source)
        changed: list[_Good] = []
        superseded: list[StoredRecord] = []
        if owned:
            current = await tx.current_records(dataset.name, [g.key for g in good])

            async def fit(rows: list[_Good]) -> tuple[list[_Good], list[Rejection]]:
                """The rows whose values of the items this source owns fit their records (those changed with
                them), and the others rejected."""
                kept: list[_Good] = []
                unfit: list[Rejection] = []
                for g in rows:
                    record = current.get(g.key)
                    overlay = {item: g.canonical[item] for item in owned if item in g.canonical}
                    if record is None or all(record.values.get(i) == v for i, v in overlay.items()):
                        kept.append(g)
                        continue
                    result = _merge(dataset, _Good(g.index, g.key, {}, record.values, record.as_of_time), overlay,
                                    max(record.as_of_time, g.as_of_time), now)
                    if isinstance(result, Rejection):
                        unfit.append(result)
                        continue
                    kept.append(g)
                    changed.append(result)
                    superseded.append(record)
                return kept, unfit

            fresh, refused = await _standing(dataset, good, times, fit)
        else:
            fresh, refused = judged(dataset, good, times)
        await tx.keep_source_values(dataset.name, source,
                                    [SourceValues(g.key, source, g.canonical, g.as_of_time) for g in fresh])
        if changed:
            await tx.write_history(dataset.name, superseded)
            await tx.upsert_records(dataset.name, [c.values for c in changed], source,
                                    [c.as_of_time for c in changed], [now] * len(changed))
        return fresh, refused, [c.key for c in changed]

    async def resolve(self, caller: Caller, conflict_id: int, adopt_other_value: bool, note: str,
                      now: datetime | None = None) -> Conflict:
        """The item's authoritative source keeps its value or adopts the other source's (nobody else: the
        authority designates sources, it does not decide their values)."""
        now = now or datetime.now(UTC)
        resolved_by = caller.department_code or caller.system_id
        async with self._store.transaction() as tx:
            seen = await tx.conflict(conflict_id)
            if seen is None:
                raise not_found(f"conflict {conflict_id}")
            designation = await tx.lock_designation(seen.dataset)
            owner = designation.authority_of(seen.item)
            if not caller.authority and caller.department_code not in (owner, seen.other_source_department_code):
                raise not_found(f"conflict {conflict_id}")  # as in ListConflicts: not even its existence
            duties.require_role(caller, DATA_OFFICER, "resolve conflicts", owner)
            if not caller.department_code or caller.department_code != owner:
                raise permission_denied(
                    "NOT_AUTHORITATIVE_SOURCE",
                    f"only the authoritative source of {seen.dataset} item {seen.item} ({owner or 'not designated'}) "
                    "resolves its conflicts")
            conflict = await tx.conflict(conflict_id, for_update=True)
            code = ADOPT_OTHER if adopt_other_value else KEEP_AUTHORITATIVE
            resolution = f"{code}: {note}" if note else code
            if conflict is not None and conflict.state != OPEN:
                if conflict.resolution == resolution and conflict.resolved_by.id == caller.system_id:
                    # The same decision by the same person again: a retry whose first answer was lost, or a form
                    # sent twice. It is answered as made, not refused as if another had decided it.
                    conflict.authoritative_department_code = owner
                    return conflict
                raise failed_precondition("CONFLICT_RESOLVED", (
                    f"conflict {conflict_id} was resolved already ({conflict.resolution.partition(':')[0]}"
                    f"{', by department ' + conflict.resolved_by.department_code if conflict.resolved_by else ''}):"
                    " ListConflicts with state CONFLICT_STATE_RESOLVED shows how"))
            if conflict is None:
                raise not_found(f"conflict {conflict_id}")
            if adopt_other_value:
                await self._adopt(tx, conflict, now)
                if owner != designation.authority:  # the dataset's source's next load must not undo it
                    await tx.set_source_value(conflict.dataset, conflict.key, owner, conflict.item,
                                              conflict.other_value)
            result = await tx.resolve_conflict(conflict_id, resolution, resolved_by, actor_of(caller))
            result.authoritative_department_code = owner
            if adopt_other_value:
                await tx.item_changed(conflict.dataset, conflict.key, conflict.item, conflict.other_value,
                                      resolved_by)
            # The record's key (an ID number, a credit code) stays out of the log: the conflict id finds it.
            await _log(tx, caller, "foundation.resolve_conflict", f"conflict/{conflict_id}",
                       {"dataset": conflict.dataset, "item": conflict.item, "adopt_other_value": adopt_other_value,
                        "other_source_department_code": conflict.other_source_department_code})
        self._recorded()
        if adopt_other_value:
            await self._invalidator.records_changed(FOUNDATION_ENDPOINT, conflict.dataset, [conflict.key])
        return result

    async def _adopt(self, tx: Transaction, conflict: Conflict, now: datetime) -> None:
        """The record takes the other value; its previous version goes to history.

        Its as-of time is that of the latest assertion it now holds (its own, or the other source's), not the
        moment of the resolution: written as of then, the authoritative source's next load, extracted before the
        resolution though after everything it had loaded, was refused whole for that record as 'older than the
        stored values', its changes of every other item with it."""
        dataset = DATASETS[conflict.dataset]
        record = (await tx.current_records(dataset.name, [conflict.key])).get(conflict.key)
        if record is None:
            # The conflict is named, not its record: the key may be a 公民身份号码 (no personal data in errors).
            raise failed_precondition("RECORD_MISSING",
                                      f"the {dataset.name} record of conflict {conflict.id} no longer exists")
        merged = {**record.values, conflict.item: conflict.other_value}
        checked = validate_record(dataset, merged, now.astimezone(CHINA_TIME).date())
        if checked.problems:
            raise failed_precondition(
                "ADOPTION_INVALID",
                f"adopting {conflict.other_value!r} would make the record invalid: {'; '.join(checked.problems)}")
        asserted = [kept.as_of_time for kept in await tx.source_values(dataset.name, [conflict.key])
                    if kept.source_department_code == conflict.other_source_department_code]
        await tx.write_history(dataset.name, [record])
        await tx.upsert_records(dataset.name, [checked.values], record.source_department_code,
                                [max([record.as_of_time, *asserted])], [now])


async def _own_times(tx: Transaction, dataset: Dataset, source: str, current: Mapping[str, StoredRecord],
                     overridden: bool) -> dict[str, datetime]:
    """How recent the dataset's source's own values of these records are, which its load must not be older than.

    A record's as_of_time is that of the latest assertion that changed it, an item source's too: compared with
    it, the dataset's source's load extracted before an item source's later one was refused whole as stale,
    though it was newer than anything the dataset's source had loaded (its corrections of every other item with
    it). Where items have sources of their own, the dataset's source's values are kept with its own time
    (_overlay_item_sources), which is then the one compared.

    A record another department last wrote (the former authoritative source, before the authority designated this
    one) is compared with this source's own kept values, when it loaded them as a cross-checking source, and else
    with nothing: compared with the former source's time, the new source's first load from an extract taken before
    the former's last load was refused whole as stale, each record 'older than the stored values' it never stored.
    """
    stored = {key: record.as_of_time for key, record in current.items() if record.source_department_code == source}
    if others := [key for key in current if overridden or key not in stored]:
        stored.update(await tx.own_source_times(dataset.name, source, others))
    return stored


#: Records rewritten per statement when a designation makes a source's kept values the records' values.
DESIGNATION_PAGE = 1000


@dataclass(slots=True)
class DesignationOutcome:
    #: Keys whose current record now holds the designated source's values (their cache entries to invalidate).
    changed_keys: list[str] = field(default_factory=list)
    #: Records whose kept value does not fit their other items: left as they were until the source's next load.
    unfit: int = 0


async def apply_designated_values(tx: Transaction, dataset: Dataset, source: str, items: Sequence[str],
                                  now: datetime) -> DesignationOutcome:
    """Makes ``source``'s kept values of ``items`` the records' values, in the designation's transaction.

    一数一源 (DOMAIN R-FND-2): once designated, the source's values are the item's. They were kept for cross-checking
    (it loaded as another source) and became the records' only at its next load, so until then a query answered
    the former source's value as the authoritative one, and a source that never loads again left it for good.
    Superseded versions go to history as on a load; a value that does not fit the record's other items (checked
    as a load's would be) is left, counted in ``unfit``. The other sources are then cross-checked against the new
    values (their conflicts opened or closed as after a load)."""
    outcome = DesignationOutcome()
    after = ""
    while kept := await tx.kept_values_of(dataset.name, source, items, after, DESIGNATION_PAGE):
        after = kept[-1].key
        current = await tx.current_records(dataset.name, [k.key for k in kept])
        changed: list[_Good] = []
        superseded: list[StoredRecord] = []
        for values in kept:
            record = current.get(values.key)
            overlay = {} if record is None else {
                item: values.values[item] for item in items
                if item in values.values and record.values.get(item) != values.values[item]}
            if record is None or not overlay:
                continue
            result = _merge(dataset, _Good(0, record.key, {}, record.values, record.as_of_time), overlay,
                            max(record.as_of_time, values.as_of_time), now)
            if isinstance(result, Rejection):
                outcome.unfit += 1
                continue
            changed.append(result)
            superseded.append(record)
        if changed:
            await tx.write_history(dataset.name, superseded)
            await tx.upsert_records(dataset.name, [c.values for c in changed], source,
                                    [c.as_of_time for c in changed], [now] * len(changed))
            outcome.changed_keys += [c.key for c in changed]
    if outcome.changed_keys:
        designation = await tx.lock_designation(dataset.name)
        await _cross_check(tx, dataset, designation, source, outcome.changed_keys)
    return outcome


def judged(dataset: Dataset, good: list[_Good], stored: Mapping[str, datetime]) -> tuple[list[_Good], list[Rejection]]:
    """The rows that stand, one a key: the first of its key not older than the values stored of it (``stored``, the
    as-of time of each key's stored values); a row after it of the same key is rejected naming it, a row older than
    the stored values is rejected saying both times.

    A row refused as older is no record, so a later row of its key is judged on its own: in one LoadRecords call of
    [K as of T0, K as of T2] with K stored as of T1, the second was rejected as a repeat of the first, which was
    itself rejected as older than T1, and K's values of T2 went nowhere.

    Both times are said as the department writes them, in Beijing time: in UTC, a file's as_of_time of 2026-11-29
    was said to be 2026-11-28T16:00:00+00:00, older than values of 2026-11-29T16:00:00+00:00 (the 2026-11-30 of the
    officer's earlier file), dates the officer had written nowhere."""
    fresh: dict[str, _Good] = {}
    refused: list[Rejection] = []
    for g in good:
        previous = stored.get(g.key)
        if (first := fresh.get(g.key)) is not None:
            refused.append(Rejection(g.index, g.key, (repeats(dataset.key_item, first.index),)))
        elif previous is not None and g.as_of_time < previous:
            refused.append(Rejection(g.index, g.key, (
                f"as_of_time: {_beijing(g.as_of_time)} is older than the stored values (as of "
                f"{_beijing(previous)}), which are kept: values as of that time or later replace them",)))
        else:
            fresh[g.key] = g
    return list(fresh.values()), refused


async def _standing(dataset: Dataset, good: list[_Good], stored: Mapping[str, datetime],
                    fit: Callable[[list[_Good]], Awaitable[tuple[list[_Good], list[Rejection]]]]
                    ) -> tuple[list[_Good], list[Rejection]]:
    """The rows that stand, as :func:`judged` says, once ``fit`` (the values of items with a source of their own,
    merged into the records) has rejected those it does not take. A row so rejected is no record: the rows of its
    key refused as repeats of it are judged again without it, as judged does a row refused as older (one call's
    [K, K'] whose K the item source's value did not fit rejected K' as 'repeats record #0', a record that was no
    record)."""
    fresh, refused = judged(dataset, good, stored)
    fresh, unfit = await fit(fresh)
    unfit_rows: list[Rejection] = []
    while unfit:
        unfit_rows += unfit
        keys = {u.key for u in unfit}
        gone = {u.index for u in unfit_rows}
        refused = [r for r in refused if r.key not in keys]
        more, again = judged(dataset, [g for g in good if g.key in keys and g.index not in gone], stored)
        refused += again
        more, unfit = await fit(more)
        fresh += more
    return fresh, refused + unfit_rows


def _beijing(moment: datetime) -> str:
    """``moment`` in Beijing time, as the departments write their times (2026-11-30 08:00:00+08:00); in UTC past the
    last moment Beijing time can write (9999-12-31T16:00:00Z on): a LoadRecords of as_of_time 9999-12-31T23:59:59Z,
    the greatest Timestamp and a system's time for "never", was answered INTERNAL (OverflowError) instead of the
    record's rejection, the load refused whole."""
    try:
        return moment.astimezone(CHINA_TIME).isoformat(sep=" ")
    except OverflowError:
        return moment.isoformat(sep=" ")


def _merge(dataset: Dataset, base: _Good, overlay: Mapping[str, str], as_of: datetime,
           now: datetime) -> _Good | Rejection:
    """``base`` with the items of ``overlay`` replaced, checked again as a whole record.

    A refusal names the items only, not the values of the record they would not fit (which the
    loading source may not be allowed to see).
    """
    if not overlay:
        return base
    checked = validate_record(dataset, {**base.canonical, **overlay}, now.astimezone(CHINA_TIME).date())
    if checked.problems:
        return Rejection(base.index, base.key, tuple(
            f"{item}: the value of its authoritative source does not fit the record's other items"
            for item in sorted(overlay)))
    return _Good(base.index, base.key, checked.values, dataset.canonical(checked.values), as_of)


async def _cross_check(tx: Transaction, dataset: Dataset, designation: Designation, source: str,
                       keys: list[str]) -> int:
    """Compares every source's kept values of these records with the records as they now are (多元校核): the
    conflicts on items they now agree on are closed (VALUES_AGREE), and those on items a source no longer gives
    (VALUE_WITHDRAWN).

    Returns how many disagreements were recorded that ``source`` may see: those it raised and those on
    items it is authoritative for (other sources' disagreements are none of its business).
    """
    if not keys:
        return 0
    current = await tx.current_records(dataset.name, keys)
    found: list[Disagreement] = []
    agreeing: list[tuple[str, str, str]] = []
    taken_back: list[tuple[str, str, str]] = []
    for other in await tx.source_values(dataset.name, keys):
        record = current.get(other.key)
        if record is not None:  # without a record there is nothing to disagree with yet
            differ, agree = compare(dataset, designation, record, other)
            found += differ
            agreeing += agree
            taken_back += withdrawn(dataset, designation, other)
    if not found and not agreeing and not taken_back:
        return 0
    existing = await tx.conflicts_of_keys(dataset.name, keys)
    to_record, to_close = plan_conflicts(found, agreeing, existing)
    await tx.close_conflicts(to_close, VALUES_AGREE, source)
    await tx.close_conflicts(plan_conflicts([], taken_back, existing)[1], VALUE_WITHDRAWN, source)
    await tx.open_conflicts(dataset.name, to_record)
    return sum(1 for d in to_record
               if source in (d.other_source_department_code, designation.authority_of(d.item)))
