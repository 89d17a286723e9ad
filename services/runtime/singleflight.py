"""Collapses concurrent identical cache misses into one call.

On a cold cache a burst of queries for the same key would otherwise send the
same Check or Lookup many times; here the first caller starts the work and
every caller of the same key awaits its result (or its exception).

The work runs in a task of its own, not in the first caller: a caller that is
cancelled (its client went away) only stops waiting, and the others still get
the answer. Were the work run in the first caller, its cancellation would be
handed to every other caller of the key as if they had been cancelled too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


def _consume(task: asyncio.Task) -> None:
    """Retrieves a finished task's outcome, so one whose callers all left is not reported as never retrieved."""
    if not task.cancelled():
        task.exception()


class SingleFlight(Generic[T]):
    def __init__(self) -> None:
        self._inflight: dict[Hashable, asyncio.Task[T]] = {}

    async def do(self, key: Hashable, work: Callable[[], Awaitable[T]]) -> T:
        """The result of ``work()``, shared with every concurrent caller of the same key."""
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(work())
            self._inflight[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        return await asyncio.shield(task)

    def forget(self, key: Hashable | None = None) -> None:
        """Lets the next caller of ``key`` (of every key, with none) start the work again instead of sharing the one
        in flight, which its callers still await: for a cache told that what is being read has changed, whose
        later callers must not be handed an answer read before the change."""
        if key is None:
            self._inflight.clear()
        else:
            self._inflight.pop(key, None)

    def _finished(self, key: Hashable, task: asyncio.Task[T]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        _consume(task)
