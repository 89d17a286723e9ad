"""When a closed-loop Locust user calls again after the platform asked it to wait.

A closed-loop user sends its next call as soon as the last one has ended. Refused at once (the edge's rate limit,
RESOURCE_EXHAUSTED RATE_LIMITED; a service's dependency down, UNAVAILABLE), it resent at once: 4 users against a
platform limiting their system to 30 calls a second sent 1,545 calls a second, 98% of them refused, a storm that
measured the refusal path, not the platform's answers. A business system using the SDK waits instead: the delay of
the refusal's google.rpc.RetryInfo when there is one (``govshare_client.RateLimited.retry_delay``, and the SDK's
retries of UNAVAILABLE wait it exactly), else a jittered exponential backoff (``govshare_client.RetryPolicy``:
attempt n waits a random time up to min(2 s, 0.1 s × 2^(n-1))). This module computes that pause, with the SDK's
defaults; the refused call itself is still counted, as a failure with its status, by the interceptor.

Kept apart from the Locust glue (which patches grpc for gevent on import) so that it can be tested anywhere.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import grpc

#: Statuses by which the platform asks a caller to come back later even without a RetryInfo.
WAIT_STATUSES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED})
#: The SDK's RetryPolicy defaults: the first pause, the longest and the growth between them.
INITIAL_BACKOFF_SECONDS = 0.1
MAX_BACKOFF_SECONDS = 2.0
MULTIPLIER = 2.0
#: The longest a RetryInfo is waited: a call's deadline (the SDK gives up on a retry it cannot make within the
#: deadline, and the caller's next call comes then), so that a RetryInfo of an hour does not idle a user for the run.
LONGEST_PAUSE_SECONDS = 10.0


@dataclass
class Backoff:
    """One closed-loop user's pause before its next call, and the pauses it has been asked for."""

    rng: random.Random = field(default_factory=random.Random)
    #: Refusals asking to wait in a row (the backoff grows with them; a call that is not one resets it).
    in_a_row: int = 0
    #: The pause before the next call (taken by ``take``).
    pending: float = 0.0

    def after(self, code: grpc.StatusCode | None, retry_delay: float | None = None) -> float:
        """The pause a call ending with ``code`` (None: answered) and ``retry_delay`` (its RetryInfo) asks for,
        kept for the next ``take``: 0 unless the platform asked the caller to wait."""
        if retry_delay is None and code not in WAIT_STATUSES:
            self.in_a_row = 0
            return 0.0
        self.in_a_row += 1
        if retry_delay is None:
            ceiling = min(MAX_BACKOFF_SECONDS, INITIAL_BACKOFF_SECONDS * MULTIPLIER ** (self.in_a_row - 1))
            retry_delay = self.rng.uniform(0, ceiling)
        self.pending = min(max(retry_delay, 0.0), LONGEST_PAUSE_SECONDS)
        return self.pending

    def take(self) -> float:
        """The pause to make now (once: the next call after it goes at once unless refused again)."""
        pause, self.pending = self.pending, 0.0
        return pause
