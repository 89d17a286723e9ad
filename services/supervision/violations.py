"""Detection of the violations of Art. 24 (DOMAIN R-SUP-3) from a month's snapshots.

Each rule reads only figures the owning services gave (services/*/figures.py) and cites them as evidence.
The rules (docs/api.md states them for the departments):

* CATALOG_NOT_UPDATED — Art. 24(1), Art. 8: a mandate change whose due date fell in the month (or reported in
  it, already past due) with no catalog work (create, update, submit, retire) by the department between the
  change and the due date.
* DATA_NOT_PROVIDED — Art. 24(2): (a) a published resource served by the platform's foundation endpoint
  whose dataset holds no record; (b) a resource whose calls failed at least :data:`MIN_FAILED` times and
  at least :data:`MAX_FAILURE_RATE` of the month's calls that needed the provider (answered or failed; refused
  and invalid calls never reached it) (the endpoint was down or unusable).
* DATA_UNUSABLE — Art. 24(3), 003 Art. 11: (a) a dataset with records older than the update cycle its
  resources declare (DOMAIN R-USE-3); (b) disputes about a resource left unanswered past their deadline;
  (c) conflicts between sources left open: at least :data:`MIN_OPEN_CONFLICTS` open at the month's end, more
  than the department (the items' authoritative source) resolved in the month.
* PURPOSE_NOT_GRANTED — Art. 24(4): a system's calls refused because the purpose it declared is not one
  its grants hold (R-USE-1), one violation per system, resource and purpose.
* USE_BURST — Art. 24(4): a system's calls on one day of the month above :data:`BURST_FACTOR` times its
  mean daily calls over the :data:`~services.query.figures.HISTORY_DAYS` days before the month, and above
  :data:`BURST_FLOOR`; judged only for systems active on at least :data:`MIN_HISTORY_DAYS` of those days
  (a new system has no history to exceed).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from dataclasses import dataclass, field

from govshare.supervision.v1 import supervision_pb2
from services.supervision.months import Month
from services.supervision.snapshot import Figures, provider_answers

ARTICLE_24 = "国发〔2016〕51号 第二十四条"
ARTICLES = {
    supervision_pb2.VIOLATION_RULE_CATALOG_NOT_UPDATED: f"{ARTICLE_24}第（一）项；第八条",
    supervision_pb2.VIOLATION_RULE_DATA_NOT_PROVIDED: f"{ARTICLE_24}第（二）项",
    supervision_pb2.VIOLATION_RULE_DATA_UNUSABLE: f"{ARTICLE_24}第（三）项",
    supervision_pb2.VIOLATION_RULE_PURPOSE_NOT_GRANTED: f"{ARTICLE_24}第（四）项；第十四条",
    supervision_pb2.VIOLATION_RULE_USE_BURST: f"{ARTICLE_24}第（四）项",
}
MIN_FAILED = 3
MIN_OPEN_CONFLICTS = 10
MAX_FAILURE_RATE = 0.05
BURST_FACTOR = 10
BURST_FLOOR = 100
HISTORY_DAYS = 28
MIN_HISTORY_DAYS = 7


@dataclass(frozen=True)
class Violation:
    department_code: str
    month: Month
    rule: int
    subject: str
    evidence: dict[str, str] = field(default_factory=dict)

    @property
    def article(self) -> str:
        return ARTICLES[self.rule]

    @property
    def id(self) -> str:
        """Stable across recomputations of the month: the same finding keeps its id."""
        text = "|".join((self.month.label(), self.department_code, str(self.rule), self.subject))
        return hashlib.sha256(text.encode()).hexdigest()[:24]


def detect(month: Month, snapshots: dict[str, Figures]) -> list[Violation]:
    """Every violation the month's snapshots show, ordered by department, rule and subject."""
    found: list[Violation] = []
    dataset_records = {parts["dataset"]: value for f in snapshots.values()
                       for parts, value in f.breakdown("datasets.records")}
    for figures in snapshots.values():
        found += _catalog_not_updated(month, figures)
        found += _data_not_provided(month, figures, dataset_records)
        found += _data_unusable(month, figures)
        found += _purpose_not_granted(month, figures)
        found += _bursts(month, figures)
    return sorted(found, key=lambda v: (v.department_code, v.rule, v.subject))


def _catalog_not_updated(month: Month, f: Figures) -> list[Violation]:
    return [Violation(f.department_code, month, supervision_pb2.VIOLATION_RULE_CATALOG_NOT_UPDATED,
                      f"mandate_change:{parts['change']}", {"change": parts["change"], "due": parts["due"]})
            for parts, _ in f.breakdown("catalog.update_overdue")]


def _data_not_provided(month: Month, f: Figures, dataset_records: dict[str, int]) -> list[Violation]:
    found = []
    for parts, _ in f.breakdown("catalog.resource"):
        if not parts.get("target") and dataset_records.get(parts["dataset"], 0) == 0:
            found.append(Violation(f.department_code, month, supervision_pb2.VIOLATION_RULE_DATA_NOT_PROVIDED,
                                   f"resource:{parts['resource']}",
                                   {"resource": parts["resource"], "dataset": parts["dataset"], "records": "0"}))
    answered = provider_answers(f)
    for parts, failed in f.breakdown("queries.failed"):
        calls = answered.get(parts["resource"], 0) + failed
        if failed >= MIN_FAILED and calls and failed / calls >= MAX_FAILURE_RATE:
            found.append(Violation(f.department_code, month, supervision_pb2.VIOLATION_RULE_DATA_NOT_PROVIDED,
                                   f"resource:{parts['resource']}:endpoint",
                                   {"resource": parts["resource"], "failed_calls": str(failed),
                                    "calls": str(calls), "failure_rate": f"{failed / calls:.3f}"}))
    return found


def _data_unusable(month: Month, f: Figures) -> list[Violation]:
    records = {parts["dataset"]: value for parts, value in f.breakdown("datasets.records")}
    found = [Violation(f.department_code, month, supervision_pb2.VIOLATION_RULE_DATA_UNUSABLE,
                       f"dataset:{parts['dataset']}",
                       {"dataset": parts["dataset"], "stale_records": str(stale),
                        "records": str(records.get(parts["dataset"], 0))})
             for parts, stale in f.breakdown("datasets.stale_records") if stale > 0]
    found += [Violation(f.department_code, month, supervision_pb2.VIOLATION_RULE_DATA_UNUSABLE,
                        f"resource:{parts['resource']}:disputes",
                        {"resource": parts["resource"], "disputes_unanswered_overdue": str(value)})
              for parts, value in f.breakdown("disputes.unanswered_overdue")]
    still_open, resolved = f.total("conflicts.open"), f.total("conflicts.resolved")
    if still_open >= MIN_OPEN_CONFLICTS and still_open > resolved:
        found.append(Violation(f.department_code, month, supervision_pb2.VIOLATION_RULE_DATA_UNUSABLE, "conflicts",
                               {"conflicts_open": str(still_open), "conflicts_raised": str(f.total("conflicts.raised")),
                                "conflicts_resolved": str(resolved)}))
    return found


def _purpose_not_granted(month: Month, f: Figures) -> list[Violation]:
    return [Violation(f.department_code, month, supervision_pb2.VIOLATION_RULE_PURPOSE_NOT_GRANTED,
                      f"system:{parts['system']}:resource:{parts['resource']}:purpose:{parts['purpose']}",
                      {"system": parts["system"], "resource": parts["resource"], "purpose": parts["purpose"],
                       "refused_calls": str(value)})
            for parts, value in f.breakdown("queries.purpose_not_granted")]


def _bursts(month: Month, f: Figures) -> list[Violation]:
    history_start = month.first_day - dt.timedelta(days=HISTORY_DAYS)
    history: dict[str, list[int]] = defaultdict(list)
    days: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for parts, value in f.breakdown("queries.system_daily"):
        day = dt.date.fromisoformat(parts["day"])
        if history_start <= day < month.first_day:
            history[parts["system"]].append(value)
        elif Month.of_date(day) == month:
            days[parts["system"]].append((parts["day"], value))
    found = []
    for system, counts in sorted(days.items()):
        past = history.get(system, [])
        if len(past) < MIN_HISTORY_DAYS:
            continue
        baseline = sum(past) / HISTORY_DAYS
        threshold = max(BURST_FACTOR * baseline, BURST_FLOOR)
        peak_day, peak = max(counts, key=lambda c: (c[1], c[0]))
        if peak > threshold:
            found.append(Violation(f.department_code, month, supervision_pb2.VIOLATION_RULE_USE_BURST,
                                   f"system:{system}", {"system": system, "day": peak_day, "calls": str(peak),
                                                        "baseline_daily_calls": f"{baseline:.1f}",
                                                        "threshold": f"{threshold:.1f}"}))
    return found
