"""The 前置机's own rate limit: one token bucket over every call, protecting the department's database."""

from __future__ import annotations

import time

import grpc

from services.runtime.errors import ServiceError


class RateLimit:
    def __init__(self, per_second: float, burst: int, clock=time.monotonic) -> None:
        self._rate = per_second
        self._burst = float(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._last = clock()

    def take(self, cost: float = 1.0) -> None:
        """Takes ``cost`` tokens or raises RESOURCE_EXHAUSTED (the platform retries later)."""
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens < cost:
            raise ServiceError(grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED",
                               f"this 前置机 serves at most {self._rate:g} calls per second",
                               retry_after=max((cost - self._tokens) / self._rate, 0.01))
        self._tokens -= cost
