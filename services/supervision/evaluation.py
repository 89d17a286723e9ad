"""The evaluation of a department's month (Art. 16-18): indicators from its snapshot, weighted.

Each indicator is a rate in [0, 1] (1 when nothing was due: a department is not marked down for what it was
not asked to do); the score is 100 × the weighted mean of the rates, with the weights the authority set
(``evaluation_weights``, changed through UpdateEvaluationWeights). The indicators (docs/api.md):

* ``catalog_on_time``: catalog updates after mandate changes made by their due date;
* ``reply_on_time``: applications received that were answered by their deadline (unanswered past it count late);
* ``dispute_on_time``: disputes against its data answered by their deadline;
* ``availability``: of the calls that needed its service, those it answered (a record or none) rather than
  ``FAILED`` through its own fault (``queries.failed``: a failure of the platform's foundation service or of a
  caller is ``queries.failed_other``, not held against it); calls the platform refused (DENIED) or found invalid
  never reached it and count neither way;
* ``freshness``: records of the datasets it is the authoritative source of that are within their update cycle;
* ``purpose_compliance``: its calls not refused for a purpose its grants do not hold.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from services.supervision.snapshot import Figures, provider_answers

INDICATORS = ("catalog_on_time", "reply_on_time", "dispute_on_time", "availability", "freshness",
              "purpose_compliance")


@dataclass(frozen=True, slots=True)
class Indicator:
    name: str
    numerator: int
    denominator: int
    weight: float

    @property
    def rate(self) -> float:
        return self.numerator / self.denominator if self.denominator else 1.0


@dataclass(frozen=True, slots=True)
class Evaluation:
    department_code: str
    indicators: tuple[Indicator, ...]
    violations: int
    #: The department's name in the month (its snapshot's), "" when not kept.
    department_name: str = ""

    @property
    def score(self) -> float:
        """Each weight is taken relative to the largest: the authority may set any weights from 0 to 100, and tiny
        ones (5e-324) lose their precision when multiplied by a rate, which moved the score (83.33 for 91.67).

        Rounded to two decimals but never to 100 when a weighed indicator fell short, nor to 0 when one was partly
        met: a department that answered late 1 of 20,000 applications scored 100.00, tied with those that missed
        nothing, first of the ranking with them."""
        top = max((i.weight for i in self.indicators), default=0.0)
        if not top:
            return 100.0
        total = sum(i.weight / top for i in self.indicators)
        exact = 100.0 * sum(i.weight / top * i.rate for i in self.indicators) / total
        short = any(i.weight and i.rate < 1 for i in self.indicators)
        met = any(i.weight and i.rate > 0 for i in self.indicators)
        return held(exact, short, met)


def held(exact: float, short: bool, met: bool) -> float:
    """``exact`` (0-100) rounded to two decimals, but never to 100 when something fell ``short``, nor to 0 when
    something was ``met``: the score of a month, and the mean of a department's months in the yearly ranking."""
    return min(max(round(exact, 2), 0.01 if met else 0.0), 99.99 if short else 100.0)


def mean_score(scores: Sequence[float]) -> float:
    """The mean of monthly scores, as :func:`held` holds a month's: eleven months of 100.00 and one of 99.99 averaged
    99.999, shown 100.00 in the platform's ranking beside the departments that missed nothing (and ranked below them
    with the same figure)."""
    return held(sum(scores) / len(scores), any(s < 100 for s in scores), any(s > 0 for s in scores))


def weight_text(weight: float) -> str:
    """A weight (or their total) as the 管理员 set it, to the six decimals weights_total reads: ``%g`` kept six
    significant digits, so weights of 33.333333 showed as 33.3333, and three of them, adding up to 99.999999, as
    权重合计为100，不为100."""
    return f"{round(weight, 6):.6f}".rstrip("0").rstrip(".")


def weights_total(weights: Iterable[float]) -> float:
    """The weights added up as the 管理员 reads them, to six decimals: weights of one decimal that make 100
    (21.6, 6.9, 28.4, 27.0, 0.9, 15.2) added up in binary to 100.00000000000001, and the reports said
    权重合计不为100 of them, the 监督 page 权重合计为100，不为100."""
    return round(math.fsum(weights), 6)


def _fractions(f: Figures) -> dict[str, tuple[int, int]]:
    """(numerator, denominator) of every indicator."""
    replies_due = (f.total("applications.replied_on_time") + f.total("applications.replied_late")
                   + f.total("applications.unreplied_overdue"))
    disputes_due = (f.total("disputes.answered_on_time") + f.total("disputes.answered_late")
                    + f.total("disputes.unanswered_overdue"))
    answered, failed, made = sum(provider_answers(f).values()), f.total("queries.failed"), f.total("queries.made")
    records = sum(v for _, v in f.breakdown("datasets.records"))
    stale = sum(v for _, v in f.breakdown("datasets.stale_records"))
    beyond = sum(v for _, v in f.breakdown("queries.purpose_not_granted"))
    return {
        "catalog_on_time": (f.total("catalog.updates_on_time"), f.total("catalog.updates_due")),
        "reply_on_time": (f.total("applications.replied_on_time"), replies_due),
        "dispute_on_time": (f.total("disputes.answered_on_time"), disputes_due),
        "availability": (answered, answered + failed),
        "freshness": (records - stale, records),
        "purpose_compliance": (made - beyond, made),
    }


def evaluate(figures: Figures, weights: Mapping[str, float], violations: int) -> Evaluation:
    """The department's evaluation under ``weights`` (an indicator without a weight counts 0)."""
    fractions = _fractions(figures)
    return Evaluation(figures.department_code, tuple(
        Indicator(name, *fractions[name], weight=float(weights.get(name, 0.0))) for name in INDICATORS), violations,
        figures.name)
