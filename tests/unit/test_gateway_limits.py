"""The per-system token bucket, on a clock the test moves by hand."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from gateway.limits import DOMAIN, REASON, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_burst_is_allowed_then_refused_with_the_wait(clock: Clock) -> None:
    limiter = RateLimiter(rate_per_second=2.0, burst=3, clock=clock)
    assert [limiter.acquire("sys-a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("sys-a") == pytest.approx(0.5)


def test_tokens_come_back_at_the_rate(clock: Clock) -> None:
    limiter = RateLimiter(rate_per_second=2.0, burst=3, clock=clock)
    for _ in range(3):
        limiter.acquire("sys-a")
    clock.now += 0.25
    assert limiter.acquire("sys-a") == pytest.approx(0.25)  # half a token so far
    clock.now += 0.25
    assert limiter.acquire("sys-a") == 0.0
    assert limiter.acquire("sys-a") > 0.0


def test_a_bucket_never_holds_more_than_the_burst(clock: Clock) -> None:
    limiter = RateLimiter(rate_per_second=10.0, burst=2, clock=clock)
    limiter.acquire("sys-a")
    clock.now += 3600
    assert [limiter.acquire("sys-a") for _ in range(2)] == [0.0, 0.0]
    assert limiter.acquire("sys-a") > 0.0


def test_systems_have_separate_buckets(clock: Clock) -> None:
    limiter = RateLimiter(rate_per_second=1.0, burst=1, clock=clock)
    assert limiter.acquire("sys-a") == 0.0
    assert limiter.acquire("sys-a") > 0.0
    assert limiter.acquire("sys-b") == 0.0


def test_refused_calls_do_not_drain_the_bucket_further(clock: Clock) -> None:
    limiter = RateLimiter(rate_per_second=1.0, burst=1, clock=clock)
    limiter.acquire("sys-a")
    for _ in range(5):
        limiter.acquire("sys-a")
    clock.now += 1.0
    assert limiter.acquire("sys-a") == 0.0


def test_idle_buckets_are_forgotten_when_the_table_is_full(clock: Clock) -> None:
    limiter = RateLimiter(rate_per_second=1.0, burst=2, clock=clock, max_buckets=2)
    limiter.acquire("idle")
    clock.now += 10  # "idle" is full again
    for _ in range(2):
        limiter.acquire("busy")
    limiter.acquire("new")
    # "busy" kept its state: still empty.
    assert limiter.acquire("busy") > 0.0
    assert limiter.acquire("new") == 0.0


@pytest.mark.parametrize("rate, burst", [(0.0, 1), (-1.0, 5), (1.0, 0)])
def test_a_limit_must_allow_something(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate_per_second=rate, burst=burst)


def test_the_refusal_names_the_limit_and_when_to_retry() -> None:
    limiter = RateLimiter(rate_per_second=2.5, burst=10)
    status = limiter.exhausted("sys-a", 1.25)
    assert status.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "2.5 calls per second" in status.details and "bursts of 10" in status.details
    assert "per gateway replica" in status.details
    details_bin = dict(status.trailing_metadata)["grpc-status-details-bin"]
    decoded = status_pb2.Status.FromString(details_bin)
    info, retry = error_details_pb2.ErrorInfo(), error_details_pb2.RetryInfo()
    assert decoded.details[0].Unpack(info) and decoded.details[1].Unpack(retry)
    assert (info.reason, info.domain) == (REASON, DOMAIN)
    assert dict(info.metadata) == {"system_id": "sys-a", "limit_per_second": "2.5", "burst": "10"}
    assert (retry.retry_delay.seconds, retry.retry_delay.nanos) == (1, 250_000_000)
