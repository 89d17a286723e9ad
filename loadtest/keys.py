"""Which keys a load test asks for.

Real query traffic is skewed: a few records (the citizen at the desk today, the
big companies) are asked for again and again while most are asked for rarely.
``ZipfSampler`` draws that shape over a small hot set (mostly cache hits);
``UniformSampler`` draws over the whole population (mostly cache misses once the
population is larger than what a run can touch). Keys are computed from the
synthetic generator's index (``citizen_id_of(i, seed)``), the same function that
seeded the database, so no test ever reads the database to find its keys.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Callable, Sequence
from functools import lru_cache


class ZipfSampler:
    """Ranks 0..n-1 drawn with P(rank k) proportional to 1 / (k + 1) ** exponent.

    A precomputed cumulative table and a binary search make a draw O(log n), exact for any
    exponent (numpy's zipf needs exponent > 1 and an unbounded support)."""

    def __init__(self, n: int, exponent: float = 1.1, rng: random.Random | None = None) -> None:
        if n < 1:
            raise ValueError("a Zipf sampler needs at least one rank")
        if exponent < 0:
            raise ValueError("the Zipf exponent must not be negative")
        self.n = n
        self.exponent = exponent
        self._rng = rng or random.Random()
        weights = [1.0 / (k + 1) ** exponent for k in range(n)]
        self._cumulative = list(itertools.accumulate(weights))
        self._total = self._cumulative[-1]

    def probability(self, rank: int) -> float:
        """P(rank), for tests and for reporting the expected hit share of the hottest keys."""
        return (1.0 / (rank + 1) ** self.exponent) / self._total

    def __call__(self) -> int:
        rank = bisect.bisect_left(self._cumulative, self._rng.random() * self._total)
        return min(rank, self.n - 1)


class UniformSampler:
    """Ranks 0..n-1, each equally likely."""

    def __init__(self, n: int, rng: random.Random | None = None) -> None:
        if n < 1:
            raise ValueError("a uniform sampler needs at least one rank")
        self.n = n
        self._rng = rng or random.Random()

    def __call__(self) -> int:
        return self._rng.randrange(self.n)


def spread(count: int, population: int, seed: int = 7) -> list[int]:
    """``count`` distinct person indexes spread over the whole population, in random order.

    Cold keys must not repeat within a run (a repeat is a cache hit), and must come from the whole
    table (10 million rows must not be tested through their first thousand)."""
    count = min(count, population)
    return random.Random(seed).sample(range(population), count)


@lru_cache(maxsize=1)
def _citizen_id_function() -> Callable[[int, int], str]:
    from services.foundation.synthetic import citizen_id_of

    return citizen_id_of


def citizen_ids(indexes: Sequence[int], seed: int) -> list[str]:
    """The 公民身份号码 of synthetic persons ``indexes`` (as loaded with generator seed ``seed``)."""
    citizen_id_of = _citizen_id_function()
    return [citizen_id_of(i, seed) for i in indexes]


def credit_codes(indexes: Sequence[int], seed: int) -> list[str]:
    """The 统一社会信用代码 of synthetic legal entities ``indexes``."""
    from services.foundation.synthetic import credit_code_of

    return [credit_code_of(i, seed) for i in indexes]
