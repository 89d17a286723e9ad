"""Latency histograms that several generator processes can merge.

Keeping every sample would cost memory and a sort at the end; a histogram with
buckets of constant *relative* width keeps percentiles within a known error
(``precision``, 1% by default) at any rate, costs a log and a dict increment per
call, and merges exactly across processes — which a list of per-process
percentiles never could.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

MIN_SECONDS = 1e-6  # one microsecond: anything faster is recorded as this


@dataclass
class LatencyHistogram:
    """Latencies in seconds, bucketed so that each bucket spans a factor of ``1 + precision``."""

    precision: float = 0.01
    buckets: Counter[int] = field(default_factory=Counter)
    count: int = 0
    total: float = 0.0
    maximum: float = 0.0

    def __post_init__(self) -> None:
        self._log_base = math.log1p(self.precision)

    def record(self, seconds: float) -> None:
        seconds = max(seconds, MIN_SECONDS)
        self.buckets[int(math.log(seconds / MIN_SECONDS) / self._log_base)] += 1
        self.count += 1
        self.total += seconds
        if seconds > self.maximum:
            self.maximum = seconds

    def upper_bound(self, index: int) -> float:
        """The largest latency bucket ``index`` can hold (what a percentile reports: never optimistic)."""
        return MIN_SECONDS * math.exp((index + 1) * self._log_base)

    def percentile(self, p: float, unanswered: int = 0) -> float:
        """Nearest-rank percentile (0 < p <= 100): the smallest recorded latency with at least p% at or below it.

        Reported as its bucket's upper bound, capped by the true maximum, so the error is at most
        ``precision`` and always on the pessimistic side. ``unanswered`` calls (failed, timed out: no latency
        recorded) rank after every recorded one, as a call that got no answer is no faster than any that did:
        when the rank falls among them the percentile is ``math.inf``, not the latency of the answered calls
        alone (which would let a server that fails its slowest calls meet any latency target)."""
        if not 0 < p <= 100:
            raise ValueError(f"percentile {p} is outside (0, 100]")
        if unanswered < 0:
            raise ValueError(f"unanswered {unanswered} is negative")
        if self.count + unanswered == 0:
            return 0.0
        rank = math.ceil(p / 100 * (self.count + unanswered))
        if rank > self.count:
            return math.inf
        seen = 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                return min(self.upper_bound(index), self.maximum)
        return self.maximum

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def merge(self, other: LatencyHistogram) -> None:
        if not math.isclose(other.precision, self.precision):
            raise ValueError("cannot merge histograms of different precision")
        self.buckets.update(other.buckets)
        self.count += other.count
        self.total += other.total
        self.maximum = max(self.maximum, other.maximum)

    def to_dict(self) -> dict[str, object]:
        return {"precision": self.precision, "count": self.count, "total": self.total, "maximum": self.maximum,
                "buckets": {str(index): n for index, n in self.buckets.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> LatencyHistogram:
        histogram = cls(precision=float(data["precision"]))  # type: ignore[arg-type]
        histogram.buckets.update({int(index): int(n) for index, n in data["buckets"].items()})  # type: ignore[union-attr]
        histogram.count = int(data["count"])  # type: ignore[call-overload]
        histogram.total = float(data["total"])  # type: ignore[arg-type]
        histogram.maximum = float(data["maximum"])  # type: ignore[arg-type]
        return histogram


def nearest_rank(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of a small sample (``fraction`` 0.95 for the p95): the smallest value with at
    least that share of the values at or below it. The benches that keep every sample all read it here; each had
    its own index arithmetic, one off in either direction for some sample counts (audit_bench's p95 of 10
    samples was the 9th, search_bench's of 20 the 20th)."""
    if not values:
        raise ValueError("no values to take a percentile of")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction {fraction} is outside (0, 1]")
    ordered = sorted(values)
    return ordered[min(len(ordered), math.ceil(fraction * len(ordered))) - 1]


def merged(histograms: list[LatencyHistogram]) -> LatencyHistogram:
    """One histogram holding every sample of ``histograms``."""
    result = LatencyHistogram(precision=histograms[0].precision if histograms else 0.01)
    for histogram in histograms:
        result.merge(histogram)
    return result
