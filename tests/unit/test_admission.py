"""services/runtime/admission.py: at most N heavy reads at once, Q more waiting in turn, the next refused."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import grpc
import pytest

from services.runtime.admission import HeavyReadGate
from services.runtime.errors import ServiceError


async def _until(condition: Callable[[], bool]) -> None:
    """Lets the other tasks run until ``condition`` holds (a bounded number of turns of the loop)."""
    for _ in range(100):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("never happened")


async def test_one_at_a_time_the_next_waits_its_turn_and_one_more_is_refused() -> None:
    gate = HeavyReadGate(concurrency=1, queue=1)
    release, order = asyncio.Event(), []

    async def read(name: str, hold: asyncio.Event | None = None) -> None:
        async with gate.admitted():
            order.append(name)
            if hold is not None:
                await hold.wait()

    first = asyncio.ensure_future(read("first", release))
    await _until(lambda: bool(order))
    second = asyncio.ensure_future(read("second"))
    await _until(lambda: gate.waiting == 1)
    with pytest.raises(ServiceError) as refused:
        await read("third")
    assert refused.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert refused.value.reason == "HEAVY_READS_BUSY" and refused.value.retry_after
    assert "retry" in refused.value.message
    assert order == ["first"]
    release.set()
    await asyncio.gather(first, second)
    assert order == ["first", "second"] and gate.waiting == 0
    await read("again")  # the slot is free once more


async def test_a_waiting_read_that_is_cancelled_gives_its_place_back() -> None:
    gate = HeavyReadGate(concurrency=1, queue=1)
    release = asyncio.Event()
    holder = asyncio.ensure_future(_hold(gate, release))
    await asyncio.sleep(0)
    waiter = asyncio.ensure_future(_hold(gate, asyncio.Event()))
    await _until(lambda: gate.waiting == 1)
    waiter.cancel()  # the caller went away (its deadline)
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert gate.waiting == 0
    release.set()
    await holder
    await _hold(gate, None)


async def _hold(gate: HeavyReadGate, until: asyncio.Event | None) -> None:
    async with gate.admitted():
        if until is not None:
            await until.wait()


async def test_no_cap_when_concurrency_is_zero() -> None:
    gate = HeavyReadGate(concurrency=0, queue=0)
    release = asyncio.Event()
    holders = [asyncio.ensure_future(_hold(gate, release)) for _ in range(5)]
    await asyncio.sleep(0)
    await _hold(gate, None)
    release.set()
    await asyncio.gather(*holders)
