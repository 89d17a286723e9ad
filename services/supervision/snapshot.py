"""A department's figures of one month, as kept in its snapshot, with the lookups the rules need."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace

from services.runtime.figures import FigureRow, parse_dimension
from services.supervision.months import CST


@dataclass
class Figures:
    """One department's figures: totals by name, and the dimensioned rows by name."""

    department_code: str
    rows: list[FigureRow] = field(default_factory=list)
    #: The department's name in the month (kept with the snapshot); "" when not kept (computed before names were).
    name: str = ""
    #: The rows by name (totals, dimensioned rows), built on the first lookup and again if rows were added since.
    _index: _Index | None = field(default=None, init=False, repr=False, compare=False)

    def _by_name(self) -> _Index:
        """Every lookup read all the rows: an evaluation makes some twenty, and the platform's yearly report one
        evaluation per department and month, over snapshots of thousands of rows each (a system's every day, every
        user department's calls), which took minutes for a few hundred departments. Now one pass per snapshot."""
        if self._index is None or self._index.rows != len(self.rows):
            index = _Index(len(self.rows))
            for row in self.rows:
                if row.dimension:
                    index.dimensioned[row.name].append(row)
                else:
                    index.totals[row.name] += row.value
            self._index = index
        return self._index

    def total(self, name: str) -> int:
        return self._by_name().totals.get(name, 0)

    def breakdown(self, name: str) -> Iterator[tuple[dict[str, str], int]]:
        """The dimensioned rows of ``name`` as (parsed dimension, value)."""
        for row in self._by_name().dimensioned.get(name, ()):
            yield parse_dimension(row.dimension), row.value


@dataclass
class _Index:
    """:class:`Figures`' rows by name, as of ``rows`` rows."""

    rows: int
    totals: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    dimensioned: defaultdict[str, list[FigureRow]] = field(default_factory=lambda: defaultdict(list))


#: Results of calls the provider's service gave (a record, or that it holds none): a call refused by the platform
#: (DENIED: no grant, a purpose not granted) or an invalid request never reached it, and a failure is counted apart.
PROVIDER_ANSWERS = frozenset({"ANSWERED", "NOT_FOUND"})


def provider_answers(figures: Figures) -> dict[str, int]:
    """Calls the provider's service answered, by resource (from ``queries.served_to``): what its availability and
    its failure rate are measured against. Counting every call to its resources, refusals included, let callers'
    refused calls dilute its failures: 10 calls of 10 failed read as 95 % available beside 190 refused."""
    answered: dict[str, int] = defaultdict(int)
    for parts, value in figures.breakdown("queries.served_to"):
        if parts.get("result") in PROVIDER_ANSWERS:
            answered[parts["resource"]] += value
    # A BatchQuery answered in part (the provider not answering some keys) is ANSWERED and among queries.failed:
    # counted once, as failed, not as an answer beside its failure.
    for parts, value in figures.breakdown("queries.answered_in_part"):
        answered[parts["resource"]] -= value
    return dict(answered)


#: Figures that count what a department holds when the month is computed (its datasets' records, and those older
#: than their cycle), not what happened in the month: the foundation service counts the records as they are now.
STOCKS = ("datasets.records", "datasets.stale_records")


def with_stocks_kept(snapshots: Mapping[str, Figures], kept: Mapping[str, list[FigureRow]]) -> dict[str, Figures]:
    """``snapshots`` with each kept department's :data:`STOCKS` replaced by ``kept``'s (none when it had none): the
    schedule recomputes last month all through this one, and the records counted are those held at each
    computation, so a dataset left stale all November and refreshed on 2 December lost November's DATA_UNUSABLE
    violation (and its 数据更新及时率) at the next recomputation, and one loaded on the 5th its DATA_NOT_PROVIDED."""
    found = {}
    for code, figures in snapshots.items():
        if code in kept:
            rows = [row for row in figures.rows if row.name not in STOCKS] + kept[code]
            figures = replace(figures, rows=sorted(rows, key=lambda r: (r.name, r.dimension)))
        found[code] = figures
    return found


#: The totals a catalogue update counts in (catalog/figures.py), beside its ``catalog.update_overdue`` evidence row.
UPDATE_TOTALS = ("catalog.updates_overdue", "catalog.updates_due")


def without_updates_due_after_retirement(rows: Iterable[FigureRow], retired: Mapping[str, dt.datetime]
                                         ) -> list[FigureRow]:
    """``rows`` less the catalogue updates that fell due after their department was retired: the catalog counts a
    mandate change overdue once its due day has passed, whoever still exists, so a department merged on 5 December
    with an update due on the 16th was found CATALOG_NOT_UPDATED (and its 目录更新按时率 cut) for its last month, for
    a day it no longer existed on; the duties are its successor's (the authority reports the change for it). An
    update due on the day of the retirement or later is left out, as one not due yet is."""
    rows = list(rows)
    dropped: Counter[str] = Counter()
    kept = []
    for row in rows:
        gone = retired.get(row.department_code)
        if gone is not None and row.name == "catalog.update_overdue" \
                and dt.date.fromisoformat(parse_dimension(row.dimension)["due"]) >= gone.astimezone(CST).date():
            dropped[row.department_code] += row.value
        else:
            kept.append(row)
    if not dropped:
        return rows
    adjusted = [replace(row, value=row.value - dropped[row.department_code])
                if row.name in UPDATE_TOTALS and not row.dimension and row.department_code in dropped else row
                for row in kept]
    return [row for row in adjusted if row.value or row.name not in UPDATE_TOTALS]


def by_department(rows: Iterable[FigureRow], departments: Iterable[str],
                  names: Mapping[str, str] | None = None) -> dict[str, Figures]:
    """Rows grouped by department, sorted; every listed department present, even with no figure; each named by
    ``names`` (the directory's names when the month is computed)."""
    grouped: dict[str, list[FigureRow]] = defaultdict(list)
    for code in departments:
        grouped[code]
    for row in rows:
        if row.department_code:
            grouped[row.department_code].append(row)
    names = names or {}
    return {code: Figures(code, sorted(grouped[code], key=lambda r: (r.name, r.dimension)), names.get(code, ""))
            for code in sorted(grouped)}
