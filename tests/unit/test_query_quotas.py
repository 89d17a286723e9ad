"""Grant quotas counted in PostgreSQL: concurrent calls of one grant in one statement, never past the quota."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import asyncpg
import grpc
import pytest

from services.query import decisions
from services.query.decisions import Quotas
from services.query.store import QueryStore
from services.runtime.db import create_pool
from services.runtime.errors import ServiceError


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, "query")
    yield pool
    await pool.close()


def counting(store: QueryStore, statements: list[int]) -> object:
    """``store.consume_quotas``, noting how many calls each statement counted."""
    async def consume(grant_id: str, quotas: list[int], calls: list[int]) -> list[bool]:
        statements.append(len(calls))
        return await store.consume_quotas(grant_id, quotas, calls)
    return consume


async def test_calls_are_taken_in_order_each_all_or_nothing(pool: asyncpg.Pool) -> None:
    """As many single upserts in that order would: a call that does not fit is refused, a later smaller one
    that fits is counted."""
    store, grant = QueryStore(pool), f"g-{secrets.token_hex(4)}"
    assert await store.consume_quotas(grant, [5, 5, 5, 5], [3, 3, 2, 1]) == [True, False, True, False]
    assert await store.quota_used(grant) == 5
    assert await store.consume_quotas(grant, [5], [1]) == [False]
    assert await store.consume_quotas(grant, [6], [1]) == [True]  # a raised quota counts from what was used
    assert await store.quota_used(grant) == 6


async def test_concurrent_calls_of_a_grant_are_counted_together_and_never_pass_the_quota(
        pool: asyncpg.Pool) -> None:
    store, statements, grant = QueryStore(pool), [], f"g-{secrets.token_hex(4)}"
    quotas = Quotas(counting(store, statements))  # type: ignore[arg-type]
    answers = await asyncio.gather(*(quotas.consume(grant, 30, 1) for _ in range(50)))
    assert answers.count(True) == 30 and answers[:30] == [True] * 30
    assert await store.quota_used(grant) == 30
    assert sum(statements) == 50 and len(statements) < 5, statements  # one statement per batch, not per call


async def test_two_replicas_share_the_quota(pool: asyncpg.Pool) -> None:
    store, grant = QueryStore(pool), f"g-{secrets.token_hex(4)}"
    replicas = [Quotas(store.consume_quotas), Quotas(store.consume_quotas)]
    answers = await asyncio.gather(*(replicas[n % 2].consume(grant, 25, 2) for n in range(40)))
    assert answers.count(True) == 12  # 12 × 2 = 24 ≤ 25 < 26
    assert await store.quota_used(grant) == 24


async def test_a_database_that_cannot_count_refuses_every_waiting_call_unavailable() -> None:
    async def down(grant_id: str, quotas: list[int], calls: list[int]) -> list[bool]:
        raise ConnectionRefusedError("PostgreSQL is down")

    quotas = Quotas(down)
    results = await asyncio.gather(*(quotas.consume("g", 10, 1) for _ in range(3)), return_exceptions=True)
    assert all(isinstance(r, ServiceError) and r.code == grpc.StatusCode.UNAVAILABLE for r in results)
    assert len({id(r) for r in results}) == 3  # one error each: the servicer adds each call's audit id


async def test_the_calls_of_a_grant_without_a_quota_are_counted_for_a_quota_set_later(pool: asyncpg.Pool) -> None:
    """Tallied calls are written in one statement (here by close, as a stopping process writes them), and those not
    written yet are counted before the grant's first counted call, which finds them; one given back is not."""
    store, grant, other = QueryStore(pool), f"g-{secrets.token_hex(4)}", f"g-{secrets.token_hex(4)}"
    quotas = Quotas(store.consume_quotas, store.release_quota, store.add_quota_calls, tally_seconds=3600)
    quotas.tally(grant, 3)
    quotas.tally(other, 2)
    quotas.tally(grant, 1)
    await quotas.give_back(grant, 1)  # a tallied call that failed unanswered
    assert await store.quotas_used([grant, other]) == {grant: 0, other: 0}  # waiting, the calls did not
    assert await quotas.consume(grant, 4, 1) is True  # its 3 tallied calls first, then this one: 4 of 4
    assert await quotas.consume(grant, 4, 1) is False
    assert await store.quota_used(grant) == 4
    await quotas.close()
    assert await store.quotas_used([grant, other]) == {grant: 4, other: 2}


async def test_tallied_calls_postgresql_did_not_take_are_written_at_the_next_try(pool: asyncpg.Pool) -> None:
    store, grant = QueryStore(pool), f"g-{secrets.token_hex(4)}"
    refusals: list[int] = []

    async def add(calls: list[tuple[str, int]]) -> None:
        if not refusals:
            refusals.append(len(calls))
            raise ConnectionRefusedError("PostgreSQL is down")
        await store.add_quota_calls(calls)

    quotas = Quotas(store.consume_quotas, store.release_quota, add, tally_seconds=3600)
    quotas.tally(grant, 2)
    await quotas.write_tallies()
    assert refusals == [1] and await store.quota_used(grant) == 0
    await quotas.close()
    assert await store.quota_used(grant) == 2


async def test_tallied_calls_are_written_without_anyone_asking(pool: asyncpg.Pool) -> None:
    store, grant = QueryStore(pool), f"g-{secrets.token_hex(4)}"
    quotas = Quotas(store.consume_quotas, store.release_quota, store.add_quota_calls, tally_seconds=0)
    quotas.tally(grant, 2)
    for _ in range(1000):
        if await store.quota_used(grant) == 2:
            break
        await asyncio.sleep(0.01)
    assert await store.quota_used(grant) == 2
    await quotas.close()
    assert await store.quota_used(grant) == 2


async def test_a_counted_call_waits_for_its_grants_tallied_calls_being_written(pool: asyncpg.Pool) -> None:
    """A grant set a quota of 3 after three calls: the call counted while those three are being written is counted
    after them, and refused, not counted first and let through."""
    store, grant = QueryStore(pool), f"g-{secrets.token_hex(4)}"
    started, gate = asyncio.Event(), asyncio.Event()

    async def add(calls: list[tuple[str, int]]) -> None:
        started.set()
        await gate.wait()
        await store.add_quota_calls(calls)

    quotas = Quotas(store.consume_quotas, store.release_quota, add, tally_seconds=3600)
    quotas.tally(grant, 3)
    writing = asyncio.create_task(quotas.write_tallies())
    await started.wait()
    counted = asyncio.create_task(quotas.consume(grant, 3, 1))
    await asyncio.sleep(0)
    gate.set()
    assert await counted is False
    await writing
    assert await store.quota_used(grant) == 3
    await quotas.close()


async def test_a_stopping_process_does_not_wait_on_a_hung_postgresql_for_its_tallies(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decisions, "CLOSE_WRITE_SECONDS", 0.01)
    hung = asyncio.Event()

    async def add(calls: list[tuple[str, int]]) -> None:
        await hung.wait()  # never set: PostgreSQL stopped (SIGSTOP)

    async def consume(grant_id: str, quotas: list[int], calls: list[int]) -> list[bool]:
        raise AssertionError("nothing is counted here")

    quotas = Quotas(consume, None, add, tally_seconds=3600)
    quotas.tally("g", 2)
    await quotas.close()  # returns, having said what was not counted
    assert not hung.is_set()
