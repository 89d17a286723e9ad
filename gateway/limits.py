"""Per-system rate limits: a token bucket for each calling business system.

A system may make ``GOVSHARE_RATE_LIMIT_BURST`` calls at once and then
``GOVSHARE_RATE_LIMIT_PER_SECOND`` calls per second. The buckets live in the
gateway process, so **the limit is per gateway replica**: behind N replicas (and
N worker processes each) a system can reach N times the configured rate. That is
deliberate — a shared counter would put a Redis round trip on every call — so set
the per-replica value to the platform-wide budget divided by the replica count.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from services.runtime.errors import DOMAIN_SUFFIX

DOMAIN = f"gateway.{DOMAIN_SUFFIX}"
REASON = "RATE_LIMITED"


class RateLimiter:
    """Token buckets keyed by system id; ``clock`` is injectable so tests control time."""

    def __init__(self, rate_per_second: float, burst: int, clock: Callable[[], float] = time.monotonic,
                 max_buckets: int = 100_000) -> None:
        if rate_per_second <= 0 or burst < 1:
            raise ValueError("a rate limit needs a positive rate and a burst of at least 1")
        self.rate = rate_per_second
        self.burst = burst
        self._clock = clock
        self._max = max_buckets
        # key -> [tokens left, when they were counted]; a list so a call updates it in place.
        self._buckets: dict[str, list[float]] = {}

    def acquire(self, key: str) -> float:
        """Takes one call from ``key``'s bucket: 0.0 if allowed, else the seconds until one is available."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._max:
                self._forget_idle(now)
            self._buckets[key] = [self.burst - 1.0, now]
            return 0.0
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return 0.0
        bucket[0] = tokens
        return (1.0 - tokens) / self.rate

    def _forget_idle(self, now: float) -> None:
        """Drops full buckets (forgetting them changes nothing); if every bucket is busy, starts over."""
        idle = [key for key, (tokens, stamp) in self._buckets.items()
                if tokens + (now - stamp) * self.rate >= self.burst]
        for key in idle:
            del self._buckets[key]
        if len(self._buckets) >= self._max:
            self._buckets.clear()

    def exhausted(self, key: str, retry_after: float) -> grpc.Status:
        """RESOURCE_EXHAUSTED naming the limit, with ErrorInfo and a RetryInfo saying when to try again."""
        info = error_details_pb2.ErrorInfo(reason=REASON, domain=DOMAIN, metadata={
            "system_id": key,
            "limit_per_second": f"{self.rate:g}",
            "burst": str(self.burst),
        })
        seconds = max(retry_after, 0.001)
        retry = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(
            seconds=int(seconds), nanos=int((seconds % 1) * 1e9)))
        details = []
        for detail in (info, retry):
            packed = any_pb2.Any()
            packed.Pack(detail)
            details.append(packed)
        message = (f"rate limit exceeded for {key}: {self.rate:g} calls per second with bursts of {self.burst} "
                   f"per gateway replica; retry in {seconds:.3f}s")
        return rpc_status.to_status(status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message=message,
                                                      details=details))
