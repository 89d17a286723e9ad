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
#: answer: at most this, and a tenth of the time it had left, less AFTER_RUNTIME_CUT_SECONDS. What writing its
#: access record and answering through the edge take, so that a service answering within the caller's time still
#: answers it. 0.1 s was too little on a busy machine: with the foundation service waiting on a hung PostgreSQL,
#: Queries given 2 s were answered ~95 ms before their deadline and read DEADLINE_EXCEEDED at the edge, naming
#: nothing (test_outage, with other test runs on the same 2 cores). Never more than the runtime's own margin
#: (server.ANSWER_MARGIN_SECONDS), whose look for a hung PostgreSQL must come first.
ANSWER_MARGIN_SECONDS = 0.25

#: The runtime looks once, at min(0.5 s, a tenth of the call's time) before its deadline, for a call waiting on
#: PostgreSQL or Redis (services.runtime.server._answer_within): a wait given up just before that look had the
#: access record's write, then under way, answered as a hung PostgreSQL (DEPENDENCY_UNAVAILABLE). Given up this
#: much after it, the runtime has let the call run on.
AFTER_RUNTIME_CUT_SECONDS = 0.005


async def within_callers_time(waiting: Awaitable[T], not_in_time: Callable[[], Exception]) -> T:
    """The result of ``waiting`` (shielded, or shared: stopping the wait must not cancel the call), or
    ``not_in_time()`` raised a moment before the deadline of the call being served (none outside a call, or
    for a caller without a deadline). Called on a cache miss only: a hit reads no time."""
    remaining = time_remaining()
    if remaining is None:
        return await waiting
    try:
        async with asyncio.timeout(remaining - min(ANSWER_MARGIN_SECONDS, remaining / 10)
                                   + AFTER_RUNTIME_CUT_SECONDS) as budget:
            return await waiting
    except TimeoutError:
        if not budget.expired():
            raise  # the call's own
    raise not_in_time()
