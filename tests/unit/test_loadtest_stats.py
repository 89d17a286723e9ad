"""Percentile math of the mergeable latency histogram (loadtest.stats)."""

from __future__ import annotations

import math
import random

import pytest

from loadtest.stats import LatencyHistogram, merged


def exact_percentile(samples: list[float], p: float) -> float:
    """Nearest rank: the smallest sample with at least p% of the samples at or below it."""
    ordered = sorted(samples)
    return ordered[math.ceil(p / 100 * len(ordered)) - 1]


def histogram_of(samples: list[float], precision: float = 0.01) -> LatencyHistogram:
    histogram = LatencyHistogram(precision=precision)
    for sample in samples:
        histogram.record(sample)
    return histogram


@pytest.mark.parametrize("p", [1, 50, 90, 99, 99.9, 100])
def test_percentiles_are_within_precision_and_never_optimistic(p: float) -> None:
    rng = random.Random(1)
    samples = [rng.lognormvariate(-7, 1.2) for _ in range(20_000)]  # around a millisecond, long tail
    histogram = histogram_of(samples)
    exact = exact_percentile(samples, p)
    reported = histogram.percentile(p)
    assert exact <= reported <= exact * 1.01 * (1 + 1e-9)


def test_median_of_a_small_known_set() -> None:
    histogram = histogram_of([0.001, 0.002, 0.003, 0.004, 0.100])
    assert histogram.percentile(50) == pytest.approx(0.003, rel=0.01)
    assert histogram.percentile(80) == pytest.approx(0.004, rel=0.01)
    assert histogram.percentile(100) == 0.100  # capped by the true maximum, not the bucket's bound
    assert histogram.count == 5
    assert histogram.mean == pytest.approx(0.022)


def test_merging_equals_recording_everything_in_one() -> None:
    rng = random.Random(2)
    parts = [[rng.expovariate(500) for _ in range(3000)] for _ in range(3)]
    combined = merged([histogram_of(part) for part in parts])
    whole = histogram_of([sample for part in parts for sample in part])
    assert combined.buckets == whole.buckets
    assert combined.count == whole.count == 9000
    assert combined.maximum == whole.maximum
    for p in (50, 99, 99.9):
        assert combined.percentile(p) == whole.percentile(p)


def test_round_trip_through_json_shape() -> None:
    histogram = histogram_of([0.0005, 0.002, 0.002, 0.05])
    restored = LatencyHistogram.from_dict(histogram.to_dict())
    assert restored.buckets == histogram.buckets
    assert (restored.count, restored.total, restored.maximum) == (histogram.count, histogram.total, histogram.maximum)
    assert restored.percentile(99) == histogram.percentile(99)


def test_empty_histogram_and_bad_percentiles() -> None:
    histogram = LatencyHistogram()
    assert histogram.percentile(99) == 0.0
    assert histogram.mean == 0.0
    for p in (0, -1, 100.5):
        with pytest.raises(ValueError):
            histogram.percentile(p)


def test_sub_microsecond_latencies_are_floored_not_lost() -> None:
    histogram = histogram_of([0.0, 1e-9])
    assert histogram.count == 2
    assert 0 < histogram.percentile(100) <= 1e-6 * 1.01


def test_histograms_of_different_precision_do_not_merge() -> None:
    with pytest.raises(ValueError):
        LatencyHistogram(precision=0.01).merge(LatencyHistogram(precision=0.05))


def test_unanswered_calls_rank_after_every_answered_one() -> None:
    histogram = histogram_of([0.001] * 98 + [0.002] * 2)
    assert histogram.percentile(99, unanswered=0) == histogram.percentile(99)
    # 100 answered and 1 failed: rank 100 of 101 is still an answered call (the slowest).
    assert histogram.percentile(99, unanswered=1) == pytest.approx(0.002, rel=0.01)
    # 100 answered and 2 failed: rank 101 of 102 is a failed call, which has no latency to report.
    assert histogram.percentile(99, unanswered=2) == math.inf
    assert histogram.percentile(50, unanswered=2) == pytest.approx(0.001, rel=0.01)
    assert LatencyHistogram().percentile(50, unanswered=3) == math.inf
    with pytest.raises(ValueError):
        histogram.percentile(50, unanswered=-1)


@pytest.mark.parametrize("count", [1, 2, 5, 10, 19, 20, 33, 40, 60])
def test_the_benches_that_keep_every_sample_report_the_nearest_rank_p95(count: int) -> None:
    from loadtest.audit_bench import _ms
    from loadtest.paging_bench import percentile
    from loadtest.search_bench import ClassResult
    from loadtest.stats import nearest_rank

    samples = [(index + 1) / 1000 for index in range(count)]  # 1, 2, … ms
    random.Random(count).shuffle(samples)
    exact = exact_percentile(samples, 95)
    assert nearest_rank(samples, 0.95) == exact
    assert _ms(samples)["p95_ms"] == round(exact * 1000, 2)  # audit_bench, summary_ab
    assert ClassResult("x", samples, 0).p95 == pytest.approx(exact * 1000)  # search_bench
    assert percentile(samples, 0.95) == exact  # paging_bench
    assert percentile(samples, 0.99) == exact_percentile(samples, 99)
