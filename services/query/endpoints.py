"""Guarding the calls query makes to departments' provider endpoints (their 前置机).

A 前置机 is a department's machine, outside the platform's control: it may be slow, down, or overloaded.
Each endpoint gets its own guard, so one department's outage never holds another's queries:

* bounded concurrency: at most ``GOVSHARE_PROVIDER_CONCURRENCY`` calls in flight; more wait, within the
  caller's deadline, never piling up on a slow endpoint;
* a circuit breaker: after ``GOVSHARE_PROVIDER_BREAKER_FAILURES`` consecutive failures the endpoint is not
  called for ``GOVSHARE_PROVIDER_BREAKER_OPEN_SECONDS``; queries get UNAVAILABLE at once (never a hang).
  Then one trial call is let through (half open): its success closes the circuit, so the endpoint is used
  again by itself as soon as it answers;
* availability and latency per endpoint, as Prometheus metrics (``govshare_provider_calls_total`` by
  outcome, ``govshare_provider_call_seconds``); the access log counts the failed queries per provider
  and resource (``queries.failed``), which supervision reports as data not provided (Art. 24);
* a log line when an endpoint starts failing (with the cause), when its circuit opens and when it answers
  again: per change of state, not per call, so an outage of hours is three lines, not one per query.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
from prometheus_client import Counter, Histogram

from services.runtime.errors import ServiceError

log = logging.getLogger(__name__)

PROVIDER_CALLS = Counter("govshare_provider_calls", "Calls query made to provider endpoints, by outcome",
                         ["target", "outcome"])
PROVIDER_SECONDS = Histogram("govshare_provider_call_seconds", "Latency of calls to provider endpoints",
                             ["target"], buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
                                                  5))


class CircuitOpen(ServiceError):
    """The endpoint failed repeatedly and is rested for a moment: the call is not even attempted."""


class EndpointGuard:
    """Concurrency bound, circuit breaker and figures of one provider endpoint."""

    def __init__(self, target: str, concurrency: int, failures_to_open: int, open_seconds: float,
                 clock=time.monotonic) -> None:
        self.target = target
        self._slots = asyncio.Semaphore(concurrency)
        self._failures_to_open = failures_to_open
        self._open_seconds = open_seconds
        self._clock = clock
        self._failures = 0
        self._open_until = 0.0
        self._trial = False

    @property
    def open(self) -> bool:
        return self._failures >= self._failures_to_open and self._clock() < self._open_until

    def _admit(self) -> None:
        if self._failures < self._failures_to_open:
            return
        now = self._clock()
        if now < self._open_until or self._trial:
            PROVIDER_CALLS.labels(self.target, "refused_open").inc()
            raise CircuitOpen(grpc.StatusCode.UNAVAILABLE, "PROVIDER_UNAVAILABLE",
                              f"the provider endpoint {self.target} failed {self._failures} times in a row and is "
                              f"rested for {self._open_seconds:g}s", retry_after=max(self._open_until - now, 0.1))
        self._trial = True  # half open: this call tries the endpoint again

    @asynccontextmanager
    async def call(self) -> AsyncIterator[None]:
        """Runs one call to the endpoint under the guard; an exception inside counts as a failure only when it
        is the endpoint's fault (``failure`` tells), others (a refusal of one key) count as answers."""
        self._admit()
        started = self._clock()
        async with self._slots:
            try:
                yield
            except _EndpointFailure as failure:
                self._failed(failure)
                PROVIDER_CALLS.labels(self.target, "failed").inc()
                raise
            except grpc.aio.AioRpcError:
                # The endpoint answered, about the request (a key it refuses, a row it cannot send): it is up, so
                # a trial that got such an answer closes the circuit as a success does.
                self._answered()
                raise
            except BaseException:
                self._trial = False
                raise
            finally:
                PROVIDER_SECONDS.labels(self.target).observe(self._clock() - started)
        self._answered()

    def _answered(self) -> None:
        if self._failures:
            log.info("provider endpoint %s answers again, after %d failed call%s", self.target, self._failures,
                     "" if self._failures == 1 else "s")
        self._failures = 0
        self._trial = False
        PROVIDER_CALLS.labels(self.target, "answered").inc()

    def _failed(self, failure: Exception) -> None:
        self._failures += 1
        self._trial = False
        if self._failures == 1:
            log.warning("provider endpoint %s did not answer (%s); queries of its resources are UNAVAILABLE "
                        "while it fails", self.target, failure)
        if self._failures >= self._failures_to_open:
            if self._failures == self._failures_to_open:
                log.warning("provider endpoint %s failed %d times in a row: not called for %gs at a time, then "
                            "tried with one call until it answers", self.target, self._failures, self._open_seconds)
            self._open_until = self._clock() + self._open_seconds


class _EndpointFailure(Exception):
    """Marker base: raised inside :meth:`EndpointGuard.call` when the endpoint itself failed."""


class EndpointDown(_EndpointFailure):
    """The endpoint did not answer (UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL...): wraps the gRPC error."""

    def __init__(self, error: grpc.aio.AioRpcError) -> None:
        super().__init__(error.code().name)
        self.error = error
