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


class _Clock:
    """Stands in for services.runtime.admission.monotonic: each read lasts what the test says."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_reads_within_the_burst_do_not_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.runtime import admission

    clock = _Clock()
    monkeypatch.setattr(admission, "monotonic", clock)
    gate = HeavyReadGate(concurrency=1, queue=0, share=0.1)
    for _ in range(3):
        async with gate.admitted():
            clock.now += admission.BURST_SECONDS / 4
    await _hold(gate, None)  # queue 0: refused if the slot were still closed


async def test_a_read_that_overdraws_the_budget_keeps_the_slot_closed_until_it_fills(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from services.runtime import admission

    clock = _Clock()
    monkeypatch.setattr(admission, "monotonic", clock)
    gate = HeavyReadGate(concurrency=1, queue=4, share=0.5)
    async with gate.admitted():
        clock.now += admission.BURST_SECONDS + 0.05  # the budget was full (it fills no further): 50 ms over
    follower = asyncio.ensure_future(_hold(gate, None))
    await _until(lambda: gate.waiting == 1)
    for _ in range(10):
        await asyncio.sleep(0)
    assert not follower.done() and gate.waiting == 1  # still closed, however many turns of the loop
    await follower  # admitted once the budget is back to zero (100 ms at half the time)


async def test_a_full_share_releases_the_slot_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.runtime import admission

    clock = _Clock()
    monkeypatch.setattr(admission, "monotonic", clock)
    gate = HeavyReadGate(concurrency=1, queue=0, share=1.0)
    async with gate.admitted():
        clock.now += 3600.0
    await _hold(gate, None)  # queue 0: refused if the slot were still closed


@pytest.mark.parametrize("share", [0.0, -0.5, 1.5])
def test_a_share_is_a_fraction_of_the_time(share: float) -> None:
    with pytest.raises(ValueError, match="fraction"):
        HeavyReadGate(concurrency=1, queue=1, share=share)


async def test_one_long_read_closes_the_slot_for_at_most_the_longest_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.runtime import admission

    clock = _Clock()
    monkeypatch.setattr(admission, "monotonic", clock)
    monkeypatch.setattr(admission, "MAX_PAUSE_SECONDS", 0.05)
    gate = HeavyReadGate(concurrency=1, queue=4, share=0.01)
    async with gate.admitted():
        clock.now += 3600.0  # an hour's debt: 100 hours at 0.01, were it paid in full
    async with asyncio.timeout(60):  # a guard against a hang, not a measure: the pause is 50 ms here
        await _hold(gate, None)
