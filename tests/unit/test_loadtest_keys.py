"""Key samplers: the Zipf shape of hot keys, uniform cold keys, keys of the seeded population."""

from __future__ import annotations

import itertools
import random
from collections import Counter

import pytest
from stdnum.cn import ric

from loadtest.keys import UniformSampler, ZipfSampler, citizen_ids, spread
from services.foundation.synthetic import citizen_id_of


def test_zipf_probabilities_sum_to_one_and_fall_with_rank() -> None:
    sampler = ZipfSampler(200, exponent=1.1)
    probabilities = [sampler.probability(rank) for rank in range(200)]
    assert sum(probabilities) == pytest.approx(1.0)
    assert all(a > b for a, b in itertools.pairwise(probabilities))
    # P(k) / P(0) = 1 / (k + 1) ** s
    assert probabilities[9] / probabilities[0] == pytest.approx(10 ** -1.1)


def test_zipf_draws_follow_the_distribution() -> None:
    sampler = ZipfSampler(100, exponent=1.1, rng=random.Random(7))
    draws = 100_000
    counts = Counter(sampler() for _ in range(draws))
    assert set(counts) <= set(range(100))
    for rank in (0, 1, 4, 20, 99):
        expected = sampler.probability(rank) * draws
        # Five standard deviations of a binomial count: fails only if the sampler is wrong.
        assert abs(counts[rank] - expected) < 5 * (expected * (1 - expected / draws)) ** 0.5 + 1


def test_zipf_hot_set_is_skewed_mostly_to_the_top() -> None:
    """The point of the hot scenario: a few keys take most of the traffic (so it mostly hits the cache)."""
    sampler = ZipfSampler(1000, exponent=1.1, rng=random.Random(3))
    draws = [sampler() for _ in range(50_000)]
    top_ten_share = sum(1 for rank in draws if rank < 10) / len(draws)
    assert top_ten_share > 0.35
    assert len(set(draws)) > 500  # …while the tail is still visited


def test_exponent_zero_is_uniform() -> None:
    sampler = ZipfSampler(4, exponent=0.0)
    assert [sampler.probability(rank) for rank in range(4)] == pytest.approx([0.25] * 4)


def test_uniform_sampler_covers_its_range_evenly() -> None:
    sampler = UniformSampler(10, rng=random.Random(11))
    counts = Counter(sampler() for _ in range(50_000))
    assert set(counts) == set(range(10))
    assert max(counts.values()) - min(counts.values()) < 0.1 * 5000


@pytest.mark.parametrize("bad", [lambda: ZipfSampler(0), lambda: ZipfSampler(5, exponent=-1),
                                 lambda: UniformSampler(0)])
def test_samplers_refuse_empty_ranges(bad) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        bad()


def test_spread_gives_distinct_indexes_over_the_whole_population() -> None:
    indexes = spread(1000, 10_000_000, seed=5)
    assert len(set(indexes)) == 1000
    assert all(0 <= i < 10_000_000 for i in indexes)
    assert max(indexes) > 9_000_000 and min(indexes) < 1_000_000  # not just the first rows
    assert spread(1000, 10_000_000, seed=5) == indexes  # reproducible
    assert sorted(spread(50, 20)) == list(range(20))  # capped by the population


def test_citizen_ids_are_those_the_seed_generator_loaded() -> None:
    keys = citizen_ids([0, 1, 9999], seed=42)
    assert keys == [citizen_id_of(0, 42), citizen_id_of(1, 42), citizen_id_of(9999, 42)]
    assert all(ric.is_valid(key) for key in keys)
    assert citizen_ids([0], seed=43) != keys[:1]
