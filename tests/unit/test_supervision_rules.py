"""The Art. 24 rules that the integration month cannot stage (a history of weeks, an empty dataset)."""

from __future__ import annotations

import datetime as dt

from govshare.supervision.v1 import supervision_pb2 as sup
from services.runtime.figures import FigureRow, dimension
from services.runtime.identity import service_caller
from services.supervision.evaluation import evaluate
from services.supervision.months import Month
from services.supervision.snapshot import by_department
from services.supervision.sources import Membership
from services.supervision.supervision import Supervision
from services.supervision.violations import BURST_FLOOR, detect

MONTH = Month(2026, 3)
DEPT = "11110100MB0000901X"


def _daily(system: str, day: dt.date, calls: int) -> FigureRow:
    return FigureRow(DEPT, "queries.system_daily", dimension(day=day.isoformat(), system=system), calls)


def _history(system: str, per_day: int, days: int = 28) -> list[FigureRow]:
    return [_daily(system, MONTH.first_day - dt.timedelta(days=n), per_day) for n in range(1, days + 1)]


def test_a_burst_far_above_the_systems_history_is_flagged_with_its_evidence() -> None:
    rows = [*_history("s1", 20), _daily("s1", dt.date(2026, 3, 9), 20), _daily("s1", dt.date(2026, 3, 10), 201)]
    (found,) = detect(MONTH, by_department(rows, [DEPT]))
    assert found.rule == sup.VIOLATION_RULE_USE_BURST and found.subject == "system:s1"
    assert found.evidence == {"system": "s1", "day": "2026-03-10", "calls": "201", "baseline_daily_calls": "20.0",
                              "threshold": "200.0"}


def test_no_burst_at_ten_times_history_below_the_floor_or_without_history() -> None:
    at_threshold = [*_history("s1", 20), _daily("s1", dt.date(2026, 3, 10), 200)]
    below_floor = [*_history("s2", 1), _daily("s2", dt.date(2026, 3, 10), BURST_FLOOR)]
    new_system = [*_history("s3", 1, days=6), _daily("s3", dt.date(2026, 3, 10), 10000)]
    last_month_peak = [*_history("s4", 1), _daily("s4", dt.date(2026, 2, 27), 10000)]
    assert detect(MONTH, by_department(at_threshold + below_floor + new_system + last_month_peak, [DEPT])) == []


def test_a_foundation_resource_whose_dataset_is_empty_is_not_provided() -> None:
    rows = [FigureRow(DEPT, "catalog.resource", dimension(cycle="DAILY", dataset="licence", resource="105001/1",
                                                          target=""), 1),
            FigureRow(DEPT, "catalog.resource", dimension(cycle="DAILY", dataset="population", resource="101001/1",
                                                          target=""), 1),
            FigureRow(DEPT, "catalog.resource", dimension(cycle="DAILY", dataset="own", resource="301001/1",
                                                          target="10.0.0.1:50051"), 1),
            FigureRow("other", "datasets.records", dimension(dataset="population"), 10)]
    (found,) = detect(MONTH, by_department(rows, [DEPT]))
    assert (found.rule, found.subject) == (sup.VIOLATION_RULE_DATA_NOT_PROVIDED, "resource:105001/1")
    assert found.evidence == {"resource": "105001/1", "dataset": "licence", "records": "0"}


def _calls(resource: str, **by_result: int) -> list[FigureRow]:
    """A resource's calls as the query service counts them: served in total, served_to by result, failed."""
    rows = [FigureRow(DEPT, "queries.served", dimension(purpose="WORK_REFERENCE", resource=resource),
                      sum(by_result.values()))]
    rows += [FigureRow(DEPT, "queries.served_to", dimension(department="user", purpose="WORK_REFERENCE",
                                                             resource=resource, result=result), n)
             for result, n in by_result.items()]
    if by_result.get("FAILED"):
        rows += [FigureRow(DEPT, "queries.failed", "", by_result["FAILED"]),
                 FigureRow(DEPT, "queries.failed", dimension(resource=resource), by_result["FAILED"])]
    return rows


def test_failures_under_the_threshold_are_not_flagged() -> None:
    rows = _calls("r", ANSWERED=90, NOT_FOUND=6, FAILED=4) + _calls("s", FAILED=2)
    assert detect(MONTH, by_department(rows, [DEPT])) == []


def test_calls_refused_by_the_platform_do_not_dilute_the_providers_failures() -> None:
    """Every call to the resource failed at its 前置机, but 200 calls the platform refused (no grant) counted as calls
    it served: 10 failed of 210 read as 4.8 %, under the threshold, and its availability as 95 %."""
    figures = by_department(_calls("r", DENIED=200, INVALID=5, FAILED=10), [DEPT])
    (found,) = detect(MONTH, figures)
    assert (found.rule, found.evidence) == (sup.VIOLATION_RULE_DATA_NOT_PROVIDED, {
        "resource": "r", "failed_calls": "10", "calls": "10", "failure_rate": "1.000"})
    availability = next(i for i in evaluate(figures[DEPT], {"availability": 1.0}, 1).indicators
                        if i.name == "availability")
    assert (availability.numerator, availability.denominator) == (0, 10)


def test_a_batch_answered_in_part_counts_once_as_failed() -> None:
    """A BatchQuery whose provider did not answer some of its keys is ANSWERED and counted in queries.failed (the
    query service's figures, queries.answered_in_part marking it): counted as an answer as well, 10 such batches
    of 10 calls read as 10 failed of 20 calls: availability 50 %, a failure rate of 50 %."""
    rows = _calls("r", ANSWERED=10, FAILED=10)
    rows = [row for row in rows if row.name != "queries.served_to" or "FAILED" not in row.dimension]
    rows.append(FigureRow(DEPT, "queries.answered_in_part", dimension(resource="r"), 10))
    figures = by_department(rows, [DEPT])
    (found,) = detect(MONTH, figures)
    assert found.evidence == {"resource": "r", "failed_calls": "10", "calls": "10", "failure_rate": "1.000"}
    availability = next(i for i in evaluate(figures[DEPT], {"availability": 1.0}, 1).indicators
                        if i.name == "availability")
    assert (availability.numerator, availability.denominator) == (0, 10)


def test_violation_ids_are_stable_across_recomputations() -> None:
    rows = [FigureRow(DEPT, "catalog.update_overdue", dimension(change=7, due="2026-03-02"), 1)]
    first, second = detect(MONTH, by_department(rows, [DEPT])), detect(MONTH, by_department(list(rows), [DEPT]))
    assert [v.id for v in first] == [v.id for v in second] and len(first) == 1


def test_months_in_china_standard_time() -> None:
    assert Month(2026, 12).next() == Month(2027, 1) and Month(2026, 1).previous() == Month(2025, 12)
    assert Month.of(dt.datetime(2026, 11, 30, 16, 0, tzinfo=dt.UTC)) == Month(2026, 12)
    assert Month(2026, 12).start == dt.datetime(2026, 11, 30, 16, 0, tzinfo=dt.UTC)


def test_conflicts_left_open_make_the_data_unusable() -> None:
    def month_of(open_: int, resolved: int) -> list[FigureRow]:
        return [FigureRow(DEPT, "conflicts.raised", "", open_ + resolved),
                FigureRow(DEPT, "conflicts.resolved", "", resolved), FigureRow(DEPT, "conflicts.open", "", open_)]
    (found,) = detect(MONTH, by_department(month_of(12, 3), [DEPT]))
    assert (found.rule, found.subject) == (sup.VIOLATION_RULE_DATA_UNUSABLE, "conflicts")
    assert found.evidence == {"conflicts_open": "12", "conflicts_raised": "15", "conflicts_resolved": "3"}
    assert detect(MONTH, by_department(month_of(9, 0), [DEPT])) == []  # few
    assert detect(MONTH, by_department(month_of(12, 12), [DEPT])) == []  # being worked through


class _Directory:
    """The figure sources as compute reads them: no figures, the departments the directory lists."""

    def __init__(self, departments: dict[str, Membership], rows: list[FigureRow] | None = None) -> None:
        self._departments = departments
        self._rows = rows or []

    async def gather(self, month: Month) -> list[FigureRow]:
        return [FigureRow(code, "catalog.published", "", 1) for code in self._departments] + self._rows

    async def joined(self) -> dict[str, Membership]:
        return self._departments


class _Months:
    """The store as compute writes it: the month's snapshots kept."""

    def __init__(self) -> None:
        self.snapshots: dict[str, object] = {}
        self.violations: list[object] = []

    async def replace_month(self, month: Month, snapshots: dict[str, object], violations: list[object],
                            *_: object) -> bool:
        self.snapshots, self.violations = snapshots, violations
        return True

    async def stocks_at_end(self, month: Month) -> dict[str, list[FigureRow]]:
        """No records kept from an earlier computation: each test computes a month once."""
        return {}


async def test_a_department_retired_before_a_month_began_has_no_part_in_it() -> None:
    """Merged into another on 10 March: March is its last month (it acted in it), April none of its months."""
    joined, retired = dt.datetime(2025, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 3, 10, tzinfo=dt.UTC)
    merged, successor = "11110100MB0000902X", "11110100MB0000903X"
    sources = _Directory({merged: Membership("市民政局", joined, retired),
                          successor: Membership("市社会服务局", joined)})
    store = _Months()
    now = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    supervision = Supervision(store, sources, clock=lambda: now)  # type: ignore[arg-type]
    await supervision.compute(service_caller("supervision"), Month(2026, 3))
    assert sorted(store.snapshots) == [merged, successor]
    await supervision.compute(service_caller("supervision"), Month(2026, 4))
    assert sorted(store.snapshots) == [successor]


async def test_a_catalogue_update_due_after_its_departments_retirement_is_not_overdue() -> None:
    """Merged into another on 10 March with two mandate changes' updates undone, one due on the 6th and one on the
    16th: March (its last month) found both CATALOG_NOT_UPDATED and counted both against its 目录更新按时率, the
    second for a day the department no longer existed on (its duties are its successor's). The first stays."""
    joined, retired = dt.datetime(2025, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 3, 10, 2, tzinfo=dt.UTC)
    merged, successor = "11110100MB0000902X", "11110100MB0000903X"
    rows = [FigureRow(merged, "catalog.updates_due", "", 3), FigureRow(merged, "catalog.updates_on_time", "", 1),
            FigureRow(merged, "catalog.updates_overdue", "", 2),
            FigureRow(merged, "catalog.update_overdue", dimension(change="1", due="2026-03-06"), 1),
            FigureRow(merged, "catalog.update_overdue", dimension(change="2", due="2026-03-16"), 1)]
    sources = _Directory({merged: Membership("市民政局", joined, retired, successor),
                          successor: Membership("市社会服务局", joined)}, rows)
    store = _Months()
    supervision = Supervision(store, sources, clock=lambda: dt.datetime(2026, 6, 1, tzinfo=dt.UTC))  # type: ignore[arg-type]
    await supervision.compute(service_caller("supervision"), Month(2026, 3))
    figures = store.snapshots[merged]
    assert (figures.total("catalog.updates_due"), figures.total("catalog.updates_overdue")) == (2, 1)  # type: ignore[attr-defined]
    assert [v.evidence for v in store.violations] == [{"change": "1", "due": "2026-03-06"}]  # type: ignore[attr-defined]
    catalog_on_time = evaluate(figures, {"catalog_on_time": 1.0}, 1).indicators[0]  # type: ignore[arg-type]
    assert (catalog_on_time.numerator, catalog_on_time.denominator) == (1, 2)
