"""The query path through Redis outages: flushed, down, and restarted from an old RDB snapshot.

The same four real services as test_query.py, on a database of their own and on a real
redis-server of their own (tests/integration/restartable_redis.py), which these tests
flush, kill and restart. Redis is a cache and an event bus, never the only copy of
anything: quota counters survive it, a record changed while it was down is never served
from the snapshot it comes back with, and what the services log about the outage names
no person or entity (the session's log scanner, tests/log_scanner.py, checks every line).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from caller_metadata import person_of
from google.protobuf import timestamp_pb2
from redis.exceptions import RedisError
from restartable_redis import RestartableRedis
from test_query import (
    ADMIN,
    ONLINE,
    WORK,
    Mesh,
    load,
    query,
    reason,
    refused,
    running_mesh,
)

from govshare.authorization.v1 import sharing_pb2
from govshare.common.v1 import common_pb2 as common
from govshare.query.v1 import dispute_pb2
from services.query.redis_reads import RedisReader
from services.runtime.cache import FOUNDATION_ENDPOINT, RecordInvalidator, record_cache_key
from services.runtime.duties import APPROVER
from services.runtime.embedded import EmbeddedServers
from services.runtime.settings import Settings

pytestmark = pytest.mark.integration

# Reads fall back to the provider while the reader waits this long before reconnecting (redis_reads.py);
# polls below allow several of those.
POLL_ATTEMPTS = 100
POLL_INTERVAL_SECONDS = 0.05


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def outage(base_settings: Settings, embedded: EmbeddedServers) -> AsyncIterator[tuple[Mesh, RestartableRedis]]:
    # A short path: a unix socket's path must stay under ~100 bytes.
    redis = RestartableRedis(Path(f"/tmp/govshare-redis-{uuid.uuid4().hex[:8]}"))
    await redis.start()
    try:
        async with running_mesh(base_settings.with_overrides(redis_url=redis.url), embedded) as mesh:
            yield mesh, redis
    finally:
        await redis.stop()
        shutil.rmtree(redis.directory, ignore_errors=True)


@pytest_asyncio.fixture(loop_scope="session")
async def redis_up(outage: tuple[Mesh, RestartableRedis]) -> AsyncIterator[RestartableRedis]:
    """The module's Redis, running again after the test whatever the test did to it."""
    _, redis = outage
    yield redis
    if not await _answers(redis.url):
        await redis.start()


async def _answers(url: str) -> bool:
    client = aioredis.from_url(url)
    try:
        return bool(await client.ping())
    except (aioredis.ConnectionError, OSError):
        return False
    finally:
        await client.aclose()


async def grant_with_quota(mesh: Mesh, quota: int) -> tuple[str, object]:
    """A fresh department with an approved grant on the population resource limited to ``quota`` calls."""
    user = mesh.department(f"quota-{quota}")
    expire = timestamp_pb2.Timestamp()
    expire.FromDatetime(dt.datetime.now(dt.UTC) + dt.timedelta(days=30))
    submitted = await mesh.sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(
        application=sharing_pb2.Application(
            resource_code=mesh.codes["population"], items=["birth_date"], purposes=[common.PURPOSE_TYPE_WORK_REFERENCE],
            purpose_text="窗口办件", basis="职责", requested_expire_time=expire, methods=[ONLINE], quota=quota)),
        metadata=mesh.md(user), timeout=10)
    replied = await mesh.sharing.ReplyApplication(sharing_pb2.ReplyApplicationRequest(
        id=submitted.application.id, decision=sharing_pb2.REPLY_DECISION_APPROVE),
        metadata=mesh.md(person_of(mesh.provider, APPROVER)), timeout=10)
    return replied.grant.id, user


# --- item 8: quota counters are durable -------------------------------------------------------------

async def test_a_flushed_redis_does_not_reset_a_grants_used_quota(outage, redis_up) -> None:  # type: ignore[no-untyped-def]
    mesh, redis = outage
    _, user = await grant_with_quota(mesh, 3)
    key, code = next(iter(mesh.persons)), mesh.codes["population"]
    for _ in range(2):
        await query(mesh, user, code, key, WORK, ["birth_date"])
    await redis.flushall()
    await query(mesh, user, code, key, WORK, ["birth_date"])  # the third and last call of the quota
    exhausted = await refused(query(mesh, user, code, key, WORK, ["birth_date"]))
    assert reason(exhausted) == "QUOTA_EXHAUSTED"


async def test_quotas_are_counted_and_enforced_while_redis_is_down(outage, redis_up) -> None:  # type: ignore[no-untyped-def]
    mesh, redis = outage
    _, user = await grant_with_quota(mesh, 1)
    key, code = list(mesh.persons)[1], mesh.codes["population"]
    await redis.stop()
    answered = await query(mesh, user, code, key, WORK, ["birth_date"])
    assert answered.values["birth_date"]
    exhausted = await refused(query(mesh, user, code, key, WORK, ["birth_date"]))
    assert exhausted.code() == grpc.StatusCode.PERMISSION_DENIED
    assert reason(exhausted) == "QUOTA_EXHAUSTED"


# --- item 14: a restarted Redis never serves what changed while it was down --------------------------

async def test_a_record_changed_while_redis_was_down_is_not_served_from_its_snapshot(  # type: ignore[no-untyped-def]
        outage, redis_up) -> None:
    mesh, redis = outage
    key, code = list(mesh.persons)[2], mesh.codes["population"]
    before = mesh.persons[key]
    # Names are masked to their first character, which is enough to tell them apart.
    client = aioredis.from_url(redis.url)
    try:
        # Until the record is cached: right after Redis came back (the test before stopped it) the query
        # service's connection may still be waiting to reconnect, and a fill it cannot write is skipped.
        for _ in range(50):
            first = await query(mesh, mesh.user, code, key, ADMIN, ["name"])
            assert first.values["name"][0] == before["name"][0] != "欧"
            if await client.exists(record_cache_key(FOUNDATION_ENDPOINT, "population", key)):
                break
            await asyncio.sleep(0.1)
        assert await client.exists(record_cache_key(FOUNDATION_ENDPOINT, "population", key))
    finally:
        await client.aclose()
    await redis.save()  # the snapshot holds the record as it was
    await redis.stop()
    changed = {**before, "name": "欧阳明月"}
    await load(mesh, "population", [changed], mesh.provider)  # the foundation cannot delete the cached copy now
    mesh.persons[key] = changed
    await redis.start()  # ... and Redis comes back from the snapshot, old record included
    answer = await query(mesh, mesh.user, code, key, ADMIN, ["name"])
    assert answer.values["name"][0] == "欧"
    # And so it stays, once the reader has reconnected to the restarted server and read through it again.
    for _ in range(POLL_ATTEMPTS // 10):
        await asyncio.sleep(POLL_INTERVAL_SECONDS * 5)
        again = await query(mesh, mesh.user, code, key, ADMIN, ["name"])
        assert again.values["name"][0] == "欧"


async def test_the_reader_notices_that_redis_restarted(outage, redis_up) -> None:  # type: ignore[no-untyped-def]
    _, redis = outage
    restarts: list[bytes] = []
    reader = RedisReader(redis.url, timeout=0.5)
    reader.on_new_server = lambda: restarts.append(reader.server_id)
    try:
        await reader.get("anything")
        before = reader.server_id
        await redis.stop()
        await redis.start()
        for _ in range(POLL_ATTEMPTS):
            try:
                await reader.get("anything")
                break
            except RedisError:
                await asyncio.sleep(POLL_INTERVAL_SECONDS)
        assert before and reader.server_id and reader.server_id != before
        assert restarts == [reader.server_id]
    finally:
        await reader.close()


async def test_an_invalidation_redis_could_not_take_is_applied_once_it_answers(  # type: ignore[no-untyped-def]
        outage, redis_up) -> None:
    """The publisher keeps what it could not delete, and deletes it when Redis is back (however it came back)."""
    _, redis = outage
    dataset, key = f"ds-{uuid.uuid4().hex[:6]}", "K-stale"
    client = aioredis.from_url(redis.url)
    invalidator = RecordInvalidator(retry_seconds=POLL_INTERVAL_SECONDS)
    invalidator.attach(client)
    try:
        await client.set(record_cache_key(FOUNDATION_ENDPOINT, dataset, key), b"old")
        await redis.save()
        await redis.stop()
        await invalidator.records_changed(FOUNDATION_ENDPOINT, dataset, [key])
        assert invalidator.pending == 1
        await redis.start()
        for _ in range(POLL_ATTEMPTS):
            if not invalidator.pending:
                break
            await asyncio.sleep(POLL_INTERVAL_SECONDS)
        assert invalidator.pending == 0
        assert not await client.exists(record_cache_key(FOUNDATION_ENDPOINT, dataset, key))
    finally:
        invalidator.attach(None)
        await client.aclose()


# --- item 7: what an outage logs names no person ---------------------------------------------------

async def test_a_dispute_reported_while_redis_is_down_is_kept_and_logged_without_its_key(  # type: ignore[no-untyped-def]
        outage, redis_up, caplog) -> None:
    mesh, redis = outage
    key, code = list(mesh.persons)[3], mesh.codes["population"]
    await redis.stop()
    with caplog.at_level(logging.WARNING):
        reported = await mesh.disputes.ReportDispute(dispute_pb2.ReportDisputeRequest(dispute=dispute_pb2.Dispute(
            resource_code=code, key=key, item="name", claimed_value="张三丰")), metadata=mesh.md(mesh.user), timeout=10)
    assert reported.dispute.state == dispute_pb2.DISPUTE_STATE_OPEN
    announced = [r.getMessage() for r in caplog.records if r.name == "services.query.dispute_servicer"]
    assert announced and reported.dispute.id in announced[0]
    assert all(key not in message for message in announced)
    # The flag is there at once on this replica, and the key is no less disputed for Redis being down.
    flagged = await query(mesh, mesh.user, code, key, ADMIN, ["name"])
    assert flagged.provenance.disputed
