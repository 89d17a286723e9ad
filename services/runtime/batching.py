"""Collapses concurrent lookups of distinct keys into batched calls (a micro-batcher).

A call per key pays the round trip, the request framing and the far side's
per-call work once per key; a call per batch pays them once per batch. The
batches form the way the audit writer's group commits do (services.query.audit):

* the first lookup of a lane (e.g. one provider endpoint and dataset) opens a
  batch, which leaves on the next turn of the event loop — no timer: a lone
  lookup waits for nothing, but the lookups made in the same turn (the replies
  that one read from a socket woke together) join it;
* while a batch is in flight, new lookups queue and leave together as the next
  batch when it returns, so batches grow with the load by themselves;
* a batch holds at most ``max_batch`` keys; a full one leaves at once, even with
  others in flight (at most ``max_in_flight`` per lane), so a burst does not
  wait for a slow batch to come back;
* a key asked twice while pending is one entry; every waiter gets its own key's
  value (``None`` when the call returned none for it), and a failed call fails
  only the waiters of its batch, with the call's exception;
* a waiter that is cancelled only stops waiting: its batch goes on for the others;
* a batch runs in the context (trace, log ids) of the lookup of its first key: the
  call shows up in that request's trace, and in no other's.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

V = TypeVar("V")

#: Fetches the values of ``keys`` in ``lane`` with one call; keys without a value are left out (or map to None).
FetchBatch = Callable[[Hashable, list[str]], Awaitable[Mapping[str, V | None]]]


@dataclass(slots=True)
class _Lane:
    pending: dict[str, asyncio.Future] = field(default_factory=dict)
    #: The context of the lookup that first asked for each pending key.
    contexts: dict[str, contextvars.Context] = field(default_factory=dict)
    in_flight: int = 0
    scheduled: bool = False


def _consume(future: asyncio.Future) -> None:
    """Marks a failed future's exception retrieved (its waiter may have been cancelled and will not read it)."""
    if not future.cancelled():
        future.exception()


class KeyBatcher(Generic[V]):
    """Lookups by (lane, key), sent as one ``fetch(lane, keys)`` per batch."""

    def __init__(self, fetch: FetchBatch, max_batch: int = 256, max_in_flight: int = 4) -> None:
        if max_batch < 1 or max_in_flight < 1:
            raise ValueError("max_batch and max_in_flight must be at least 1")
        self._fetch = fetch
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._lanes: dict[Hashable, _Lane] = {}
        self._tasks: set[asyncio.Task] = set()

    async def get(self, lane_id: Hashable, key: str) -> V | None:
        """The value of ``key`` in ``lane_id``, fetched in a batch with the concurrent lookups of that lane."""
        lane = self._lanes.get(lane_id)
        if lane is None:
            lane = self._lanes[lane_id] = _Lane()
        future = lane.pending.get(key)
        if future is None:
            future = lane.pending[key] = asyncio.get_running_loop().create_future()
            lane.contexts[key] = contextvars.copy_context()
            future.add_done_callback(_consume)
            if len(lane.pending) >= self._max_batch:
                self._flush(lane_id, lane)
            elif not lane.in_flight and not lane.scheduled:
                # Leaves on the next turn of the loop: the lookups made in this turn join it.
                lane.scheduled = True
                asyncio.get_running_loop().call_soon(self._flush_scheduled, lane_id, lane)
        return await asyncio.shield(future)

    def pending(self, lane_id: Hashable) -> int:
        """Keys waiting for a batch to leave in ``lane_id`` (for tests and metrics)."""
        lane = self._lanes.get(lane_id)
        return len(lane.pending) if lane is not None else 0

    def _flush_scheduled(self, lane_id: Hashable, lane: _Lane) -> None:
        lane.scheduled = False
        self._flush(lane_id, lane)

    def _flush(self, lane_id: Hashable, lane: _Lane) -> None:
        """Sends what is pending: everything (in batches) when nothing is in flight, otherwise full batches only."""
        while lane.pending and lane.in_flight < self._max_in_flight and (
                not lane.in_flight or len(lane.pending) >= self._max_batch):
            keys = list(itertools.islice(lane.pending, self._max_batch))
            batch = {key: lane.pending.pop(key) for key in keys}
            context = lane.contexts[keys[0]]
            for key in keys:
                del lane.contexts[key]
            lane.in_flight += 1
            task = asyncio.create_task(self._send(lane_id, lane, batch), name="key-batch", context=context)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if not lane.pending and not lane.in_flight and not lane.scheduled and self._lanes.get(lane_id) is lane:
            del self._lanes[lane_id]

    async def _send(self, lane_id: Hashable, lane: _Lane, batch: dict[str, asyncio.Future]) -> None:
        try:
            values = await self._fetch(lane_id, list(batch))
        except asyncio.CancelledError:
            for future in batch.values():
                future.cancel()
            raise
        except Exception as error:
            for future in batch.values():
                if not future.done():
                    future.set_exception(error)
        else:
            for key, future in batch.items():
                if not future.done():
                    future.set_result(values.get(key))
        finally:
            lane.in_flight -= 1
            self._flush(lane_id, lane)
