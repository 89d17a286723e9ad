"""Grant quotas counted in PostgreSQL: concurrent calls of one grant in one statement, never past the quota."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import asyncpg
import grpc
import pytest

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
