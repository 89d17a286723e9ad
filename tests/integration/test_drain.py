"""SIGTERM drains a real service process the way Kubernetes expects.

A real query process runs among the session's catalog, authorization and foundation servers. Calls are
slowed down for real: the test holds an exclusive lock on the foundation's legal-entity table, so the
record lookups behind the queries wait in PostgreSQL. Then SIGTERM: health must say NOT_SERVING at once
(an open Watch stream sees it, then ends), calls keep being taken during the grace period, every call the
process received completes OK with its audit record, and the process exits once they are done, long
before its hard limit.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import grpc
import pytest
import redis.asyncio as aioredis
from caller_metadata import CallerMetadata
from free_ports import free_port
from grpc_health.v1 import health_pb2, health_pb2_grpc

from govshare.common.v1 import common_pb2 as common
from govshare.query.v1 import query_pb2, query_pb2_grpc
from services.foundation.synthetic import credit_code_of
from services.launcher import wait_until_serving
from services.runtime.cache import FOUNDATION_ENDPOINT, record_cache_key
from services.runtime.clients import call_metadata
from services.runtime.identity import Caller
from tests.integration.conftest import Platform

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ENTITIES = "102001/000001"
WORK = common.Purpose(type=common.PURPOSE_TYPE_WORK_REFERENCE, text="drain test")
#: The drain's hard limit: a process held by anything but its calls (an open Watch) would wait this long.
HARD_LIMIT_SECONDS = 600
#: How long the test waits for the process to exit once its calls are done: far below the hard limit.
EXIT_WAIT_SECONDS = 60



def service_env(platform: Platform, port: int, **extra: str) -> dict[str, str]:
    """The environment of a query process pointed at the session's platform (as `govshare up` sets it)."""
    settings = platform.settings["query"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVSHARE_")}
    env.update({
        "GOVSHARE_LISTEN": f"127.0.0.1:{port}",
        "GOVSHARE_DATABASE_URL": settings.database_url,
        "GOVSHARE_REDIS_URL": settings.redis_url,
        "GOVSHARE_INTERNAL_KEY": settings.internal_key.decode(),
        "GOVSHARE_AUDIT_SIGNING_KEY": settings.audit_signing_key,
        "GOVSHARE_TOKEN_PUBLIC_KEY": settings.token_public_key,
        "GOVSHARE_CATALOG_TARGET": platform.port("catalog"),
        "GOVSHARE_AUTHORIZATION_TARGET": platform.port("authorization"),
        "GOVSHARE_FOUNDATION_TARGET": platform.port("foundation"),
        "GOVSHARE_CALL_TIMEOUT_SECONDS": "30",
        **extra,
    })
    return env


@pytest.fixture
async def query_process(platform: Platform, tmp_path: Path) -> AsyncIterator[tuple[subprocess.Popen, int, Path]]:
    """A query process of its own. Async, and its wait off the event loop: the platform it calls (authorization
    for the systems' states) runs in this loop, and a wait that blocked the loop left the process's first load
    unanswered, so it served with no states loaded and refused calls UNAVAILABLE."""
    port = free_port()
    log = tmp_path / "query.log"
    env = service_env(platform, port, GOVSHARE_DRAIN_GRACE_SECONDS="1.5",
                      GOVSHARE_DRAIN_TIMEOUT_SECONDS=str(HARD_LIMIT_SECONDS))
    process = await asyncio.to_thread(_start_query, env, log)
    try:
        await asyncio.to_thread(wait_until_serving, port, process, timeout=60)
        yield process, port, log
    finally:
        if process.poll() is None:
            process.kill()
            await asyncio.to_thread(process.wait)


def _start_query(env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen([sys.executable, "-m", "services.query"], cwd=ROOT, stdout=out,
                                stderr=subprocess.STDOUT, env=env)


@pytest.fixture
async def database(platform: Platform) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(platform.settings["query"].database_url)
    yield conn
    await conn.close()


async def _watch(channel: grpc.aio.Channel, seen: list[int]) -> grpc.StatusCode:
    """Follows the process's health until the stream ends; returns how it ended."""
    call = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
    try:
        async for answer in call:
            seen.append(answer.status)
    except grpc.aio.AioRpcError as error:
        return error.code()
    return await call.code()


async def _exit_code(process: subprocess.Popen) -> int:
    for _ in range(EXIT_WAIT_SECONDS * 10):
        if process.poll() is not None:
            return process.returncode
        await asyncio.sleep(0.1)
    raise AssertionError("the process was still draining long after its calls had finished")


async def test_sigterm_finishes_every_received_call_and_exits_once_they_are_done(
        platform: Platform, query_process: tuple[subprocess.Popen, int, Path], database: asyncpg.Connection,
        redis_client: aioredis.Redis) -> None:
    process, port, log = query_process
    system = platform.credentials.systems["civil"]
    caller = Caller(system["system_id"], system["department"])
    signer = CallerMetadata.of(platform.settings["query"])
    keys = [credit_code_of(i) for i in range(150, 190)]
    # Every lookup goes to the provider.
    await redis_client.delete(*[record_cache_key(FOUNDATION_ENDPOINT, "legal_entity", key) for key in keys])

    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = query_pb2_grpc.QueryServiceStub(channel)

        def ask(key: str) -> asyncio.Future:
            return asyncio.ensure_future(stub.Query(
                query_pb2.QueryRequest(resource_code=ENTITIES, key=key, items=["credit_code", "name"],
                                       purpose=WORK), metadata=call_metadata(signer, caller), timeout=90))

        seen: list[int] = []
        watch = asyncio.create_task(_watch(channel, seen))
        lock = database.transaction()
        await lock.start()
        try:
            await database.execute("LOCK TABLE foundation.legal_entity IN ACCESS EXCLUSIVE MODE")
            before = [ask(key) for key in keys[:20]]  # received, and stuck behind the lock
            await asyncio.sleep(0.5)
            process.send_signal(signal.SIGTERM)
            for _ in range(100):  # NOT_SERVING is the first thing a draining process says
                if health_pb2.HealthCheckResponse.NOT_SERVING in seen:
                    break
                await asyncio.sleep(0.02)
            assert seen[-1] == health_pb2.HealthCheckResponse.NOT_SERVING
            during = [ask(key) for key in keys[20:]]  # sent while load balancers are still noticing
            await asyncio.sleep(2.5)  # past the grace period: the listener is closed, the calls still run
            assert process.poll() is None
        finally:
            await lock.rollback()
        answers = await asyncio.gather(*before, *during, return_exceptions=True)
        failures = [a for a in answers if isinstance(a, BaseException)]
        assert not failures, failures
        assert [a.values["credit_code"] for a in answers] == keys
        assert await asyncio.wait_for(watch, 30) == grpc.StatusCode.OK
        assert seen == [health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING]

    assert await _exit_code(process) == 0, log.read_text()[-3000:]
    audited = await database.fetch("SELECT id, result FROM query.access_log WHERE id = any($1::text[])",
                                   [a.audit_id for a in answers])
    assert sorted((row["id"], row["result"]) for row in audited) == sorted((a.audit_id, "ANSWERED") for a in answers)
