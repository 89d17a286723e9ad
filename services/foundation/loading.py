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

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from services.foundation.datasets import DATASETS, Dataset
from services.foundation.invalidation import RecordInvalidator
from services.foundation.store import (
    ADOPT_OTHER,
    KEEP_AUTHORITATIVE,
    OPEN,
    RESOLVED,
    VALUES_AGREE,
    Conflict,
    Disagreement,
    FoundationStore,
    SourceValues,
    StoredRecord,
    Transaction,
)
from services.foundation.validation import CHINA_TIME, validate_record
from services.runtime import admin_events
from services.runtime.admin_events import AdminEvent
from services.runtime.errors import failed_precondition, not_found, permission_denied
from services.runtime.identity import Caller

MAX_RECORDS = 5000
# A source's clock may run a little ahead of ours; beyond this an as_of_time is in the future.
CLOCK_SKEW = timedelta(minutes=5)
EARLIEST_AS_OF = datetime(1900, 1, 1, tzinfo=UTC)


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


@dataclass(slots=True)
class LoadOutcome:
    accepted: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    #: Items on which this load found a source disagreeing with the authoritative value.
    conflicts: int = 0
    #: Keys whose current record changed (their cache entries were invalidated).
    changed_keys: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Good:
    index: int
    key: str
    values: dict[str, object]
    canonical: dict[str, str]
    as_of_time: datetime


def check_rows(dataset: Dataset, rows: Sequence[LoadRow], now: datetime) -> tuple[list[_Good], list[Rejection]]:
    """Validates every row; a key may appear once per load (which of two rows would win is not obvious)."""
    today = now.astimezone(CHINA_TIME).date()
    good: list[_Good] = []
    rejected: list[Rejection] = []
    first_index: dict[str, int] = {}
    for index, row in enumerate(rows):
        checked = validate_record(dataset, row.values, today)
        problems = [*row.problems, *checked.problems]
        as_of = row.as_of_time or now
        if as_of > now + CLOCK_SKEW:
            problems.append(f"as_of_time: {as_of.isoformat()} is in the future")
        elif as_of < EARLIEST_AS_OF:
            problems.append(f"as_of_time: {as_of.isoformat()} is before {EARLIEST_AS_OF.year}")
        if not problems and checked.key in first_index:
            problems.append(f"{dataset.key_item}: {checked.key} repeats record {first_index[checked.key]} of this load")
        if problems:
            rejected.append(Rejection(index, checked.key, tuple(problems)))
            continue
        first_index[checked.key] = index
        good.append(_Good(index, checked.key, checked.values, dataset.canonical(checked.values), as_of))
    return good, rejected


def compare(dataset: Dataset, key: str, authoritative: Mapping[str, str], other: Mapping[str, str],
            other_source: str) -> tuple[list[Disagreement], list[tuple[str, str, str]]]:
    """Items another source asserted: those that differ from the authoritative value, and those that agree."""
    differ: list[Disagreement] = []
    agree: list[tuple[str, str, str]] = []
    for item in dataset.non_key_items:
        theirs = other.get(item.name)
        if theirs is None:
            continue
        ours = authoritative.get(item.name, "")
        if ours == theirs:
            agree.append((key, item.name, other_source))
        else:
            differ.append(Disagreement(key, item.name, ours, theirs, other_source))
    return differ, agree


async def _log(tx: Transaction, caller: Caller | None, action: str, target: str, details: dict[str, object]) -> None:
    """An administrative event, in the outbox, in the action's transaction (a caller-less load is not logged:
    only the platform's own seeding loads without one)."""
    if caller is not None:
        await admin_events.record(tx.conn, AdminEvent.by(caller, action, target, details))


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
        """Loads ``rows`` as ``source``; the load (counts only) goes to the administrative log as ``caller``'s."""
        now = now or datetime.now(UTC)
        good, rejected = check_rows(dataset, rows, now)
        outcome = LoadOutcome(rejected=rejected)
        async with self._store.transaction() as tx:
            if not good:
                await _log(tx, caller, "foundation.load_records", dataset.name,
                           {"source_department_code": source, "accepted": 0, "rejected": len(rejected),
                            "conflicts": 0})
            else:
                authority = await tx.lock_dataset(dataset.name)
                if authority is None:  # nobody was named: the first source to load becomes authoritative
                    await tx.claim_authority(dataset.name, source)
                    await _log(tx, caller, "foundation.designate_source", dataset.name,
                               {"source_department_code": source, "how": "first load"})
                    authority = source
                if source == authority:
                    accepted, stale, outcome.conflicts = await self._load_authoritative(tx, dataset, source, good,
                                                                                         now)
                    outcome.changed_keys = [g.key for g in accepted]
                else:
                    accepted, stale, outcome.conflicts = await self._load_other(tx, dataset, source, good)
                outcome.accepted = len(accepted)
                outcome.rejected = sorted([*rejected, *stale], key=lambda r: r.index)
                await _log(tx, caller, "foundation.load_records", dataset.name,
                           {"source_department_code": source, "accepted": outcome.accepted,
                            "rejected": len(outcome.rejected), "conflicts": outcome.conflicts})
        self._recorded()
        if good:
            await self._invalidator.records_changed(dataset.name, outcome.changed_keys)
        return outcome

    async def _load_authoritative(self, tx: Transaction, dataset: Dataset, source: str, good: list[_Good],
                                  now: datetime) -> tuple[list[_Good], list[Rejection], int]:
        current = await tx.current_records(dataset.name, [g.key for g in good])
        fresh, stale = _split_stale(good, {key: record.as_of_time for key, record in current.items()})
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
        by_key = {g.key: g for g in fresh}
        found: list[Disagreement] = []
        agreeing: list[tuple[str, str, str]] = []
        for other in await tx.other_source_values(dataset.name, list(by_key), source):
            differ, agree = compare(dataset, other.key, by_key[other.key].canonical, other.values,
                                    other.source_department_code)
            found += differ
            agreeing += agree
        return fresh, stale, await _record_conflicts(tx, dataset, list(by_key), found, agreeing, source)

    async def _load_other(self, tx: Transaction, dataset: Dataset, source: str,
                          good: list[_Good]) -> tuple[list[_Good], list[Rejection], int]:
        fresh, stale = _split_stale(good, await tx.own_source_times(dataset.name, source, [g.key for g in good]))
        await tx.keep_source_values(dataset.name, source,
                                    [SourceValues(g.key, source, g.canonical, g.as_of_time) for g in fresh])
        current = await tx.current_records(dataset.name, [g.key for g in fresh])
        found: list[Disagreement] = []
        agreeing: list[tuple[str, str, str]] = []
        for g in fresh:
            record = current.get(g.key)
            if record is not None:  # without an authoritative record there is nothing to disagree with yet
                differ, agree = compare(dataset, g.key, record.values, g.canonical, source)
                found += differ
                agreeing += agree
        return fresh, stale, await _record_conflicts(tx, dataset, [g.key for g in fresh], found, agreeing, source)

    async def resolve(self, caller: Caller, conflict_id: int, adopt_other_value: bool, note: str,
                      now: datetime | None = None) -> Conflict:
        """The authoritative source (or the authority) keeps its value or adopts the other source's."""
        now = now or datetime.now(UTC)
        resolved_by = caller.department_code or caller.system_id
        async with self._store.transaction() as tx:
            seen = await tx.conflict(conflict_id)
            if seen is None:
                raise not_found(f"conflict {conflict_id}")
            authority = await tx.lock_dataset(seen.dataset)
            if not caller.authority and caller.department_code != authority:
                raise permission_denied(
                    "NOT_AUTHORITATIVE_SOURCE",
                    f"only the authoritative source of {seen.dataset} ({authority or 'not set'}) or the authority "
                    "resolves its conflicts")
            conflict = await tx.conflict(conflict_id, for_update=True)
            if conflict is None or conflict.state != OPEN:
                raise failed_precondition("CONFLICT_RESOLVED", f"conflict {conflict_id} is already resolved")
            if adopt_other_value:
                await self._adopt(tx, conflict, now)
            code = ADOPT_OTHER if adopt_other_value else KEEP_AUTHORITATIVE
            result = await tx.resolve_conflict(conflict_id, f"{code}: {note}" if note else code, resolved_by)
            if adopt_other_value:
                await tx.item_changed(conflict.dataset, conflict.key, conflict.item, conflict.other_value,
                                      resolved_by)
            # The record's key (an ID number, a credit code) stays out of the log: the conflict id finds it.
            await _log(tx, caller, "foundation.resolve_conflict", f"conflict/{conflict_id}",
                       {"dataset": conflict.dataset, "item": conflict.item, "adopt_other_value": adopt_other_value,
                        "other_source_department_code": conflict.other_source_department_code})
        self._recorded()
        if adopt_other_value:
            await self._invalidator.records_changed(conflict.dataset, [conflict.key])
        return result

    async def _adopt(self, tx: Transaction, conflict: Conflict, now: datetime) -> None:
        """The record takes the other value; its previous version goes to history."""
        dataset = DATASETS[conflict.dataset]
        record = (await tx.current_records(dataset.name, [conflict.key])).get(conflict.key)
        if record is None:
            raise failed_precondition("RECORD_MISSING", f"{dataset.name} record {conflict.key} no longer exists")
        merged = {**record.values, conflict.item: conflict.other_value}
        checked = validate_record(dataset, merged, now.astimezone(CHINA_TIME).date())
        if checked.problems:
            raise failed_precondition(
                "ADOPTION_INVALID",
                f"adopting {conflict.other_value!r} would make the record invalid: {'; '.join(checked.problems)}")
        await tx.write_history(dataset.name, [record])
        await tx.upsert_records(dataset.name, [checked.values], record.source_department_code, [now], [now])


def _split_stale(good: list[_Good], stored: Mapping[str, datetime]) -> tuple[list[_Good], list[Rejection]]:
    """Rows older than what is stored would turn the clock back: rejected, not applied."""
    fresh: list[_Good] = []
    stale: list[Rejection] = []
    for g in good:
        previous = stored.get(g.key)
        if previous is not None and g.as_of_time < previous:
            stale.append(Rejection(g.index, g.key, (
                f"as_of_time: {g.as_of_time.isoformat()} is older than the stored values ({previous.isoformat()})",)))
        else:
            fresh.append(g)
    return fresh, stale


async def _record_conflicts(tx: Transaction, dataset: Dataset, keys: list[str], found: list[Disagreement],
                            agreeing: list[tuple[str, str, str]], source: str) -> int:
    if not found and not agreeing:
        return 0
    to_record, to_close = plan_conflicts(found, agreeing, await tx.conflicts_of_keys(dataset.name, keys))
    await tx.close_conflicts(to_close, VALUES_AGREE, source)
    await tx.open_conflicts(dataset.name, to_record)
    return len(to_record)
