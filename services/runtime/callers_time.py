"""Waiting for another service's answer within the time the caller gave (a provider's records, an access decision).

The calls a service makes to others have fixed timeouts (GOVSHARE_CALL_TIMEOUT_SECONDS, 5 s; a 前置机's
GOVSHARE_PROVIDER_TIMEOUT_SECONDS, 2 s), and the runtime's cut before the caller's deadline (server._answer_within)
knows waits on PostgreSQL and Redis only: with the other service stopped (SIGSTOP), a caller whose deadline was
shorter than the timeout was answered DEADLINE_EXCEEDED at it, naming nobody. :func:`within_callers_time` stops the
caller's wait a moment before its own deadline and raises what names the service that did not answer; the call
itself, shared with other callers (singleflight, a miss batch) or left to fill a cache, is not cut, so it answers
the others and is judged (a circuit breaker) by its own timeout, never by one caller's want of time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from services.runtime.pagination import time_remaining

T = TypeVar("T")

#: How long before its caller's deadline a call still waiting for another service is answered that it did not
#: answer: a fifth of the time it had left, at most this. What writing its access record (ANSWER_RECORD_SHARE of
#: what is left then) and answering through the edge take on a busy machine, so that a service answering within the
#: caller's time still answers it. A tenth (0.2 s of 2 s), the record then given half of what was left, had the
#: answer leave ~0.1 s before the deadline: with PostgreSQL hung, Queries given 2 s were answered 1.96 s after
#: they were sent at load average 9-13 on 2 cores (test_outage, measured), 20 ms before the edge's own cut
#: (gateway.edge.DEADLINE_MARGIN_SECONDS), and in every whole-suite CI run of 2026-12-05 one of them read the edge's
#: DEADLINE_EXCEEDED, naming nothing. Given up before the runtime's own look for a hung PostgreSQL (server.
#: ANSWER_MARGIN_SECONDS, a tenth) is safe: the record's wait (an asyncio.wait on the writer's future) is not taken
#: for a wait on PostgreSQL, so the refusal still names the service that did not answer.
ANSWER_MARGIN_SECONDS = 0.5

#: The share of the call's time a call waits before it is answered that another service did not answer.
ANSWER_SHARE = 0.2

#: The share of what is left, once given up, that the refusal waits for its access record (a healthy PostgreSQL
#: takes it in milliseconds; a hung one is not waited for past it, the write going on).
ANSWER_RECORD_SHARE = 0.25


async def within_callers_time(waiting: Awaitable[T], not_in_time: Callable[[], Exception]) -> T:
    """The result of ``waiting`` (shielded, or shared: stopping the wait must not cancel the call), or
    ``not_in_time()`` raised a moment before the deadline of the call being served (none outside a call, or
    for a caller without a deadline). Called on a cache miss only: a hit reads no time."""
    remaining = time_remaining()
    if remaining is None:
        return await waiting
    try:
        async with asyncio.timeout(remaining - min(ANSWER_MARGIN_SECONDS, remaining * ANSWER_SHARE)) as budget:
            return await waiting
    except TimeoutError:
        if not budget.expired():
            raise  # the call's own
    raise not_in_time()
