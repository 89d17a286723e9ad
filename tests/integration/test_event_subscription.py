"""The services' event subscriber (services/runtime/cache.Subscriber) against the test Redis, under an ACL user: it
is ready, and calls ``resync`` (which lets query keep decisions and records again), only once Redis has confirmed
SUBSCRIBE for every channel; a refused SUBSCRIBE is logged once, saying which ACL channels to grant, and retried
with backoff."""

from __future__ import annotations

import asyncio
import logging
import secrets
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis.asyncio as aioredis

from services.runtime.cache import CATALOG_CHANGED, GRANTS_CHANGED, Subscriber, create_client, publish


def _as_user(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{parts.hostname}:{parts.port}"))


@pytest.fixture
async def user(redis_client: aioredis.Redis):  # type: ignore[no-untyped-def]
    """An ACL user that may use every key and command but subscribe to CATALOG_CHANGED alone (deleted after)."""
    name, password = f"events-{uuid.uuid4().hex[:8]}", secrets.token_hex(16)
    await redis_client.execute_command("ACL", "SETUSER", name, "on", f">{password}", "~*", "+@all",
                                       "resetchannels", f"&{CATALOG_CHANGED}")
    yield name, password
    await redis_client.execute_command("ACL", "DELUSER", name)


async def test_a_refused_subscribe_is_not_ready_is_said_once_and_is_retried_until_granted(
        user: tuple[str, str], redis_url: str, redis_client: aioredis.Redis,
        caplog: pytest.LogCaptureFixture) -> None:
    """The subscriber set ``ready`` and called ``resync`` as soon as SUBSCRIBE was sent: under a user without
    one of its channels Redis refused it (NOPERM), yet the subscriber looked ready (query's start waited on it)
    and, reconnecting every 0.1 s, called ``resync`` each time, so query kept decisions and records with no
    subscription, and logged 'event subscription lost' ten times a second without saying what to fix."""
    name, password = user
    resyncs: list[None] = []
    received: asyncio.Queue[dict] = asyncio.Queue()
    subscriber = Subscriber(_as_user(redis_url, name, password),
                            {CATALOG_CHANGED: lambda _: None, GRANTS_CHANGED: received.put_nowait},
                            resync=lambda: resyncs.append(None))
    caplog.set_level(logging.DEBUG, logger="services.runtime.cache")
    subscriber.start()
    try:
        await asyncio.sleep(1.0)  # attempts at 0, 0.1, 0.3 and 0.7 s; the next at 1.5 s
        assert not subscriber.ready.is_set()
        assert resyncs == []
        refusals = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(refusals) == 1, [r.getMessage() for r in refusals]
        said = refusals[0].getMessage()
        assert refusals[0].levelno == logging.ERROR
        assert "refused SUBSCRIBE" in said and f"&{GRANTS_CHANGED}" in said and "&govshare.*" in said
        assert len([r for r in caplog.records if "refused SUBSCRIBE" in r.getMessage()]) >= 3  # retried
        assert subscriber.problem is not None and f"&{GRANTS_CHANGED}" in subscriber.problem  # query's start says it

        await redis_client.execute_command("ACL", "SETUSER", name, f"&{GRANTS_CHANGED}")
        async with asyncio.timeout(3):
            await subscriber.ready.wait()
        assert resyncs == [None] and subscriber.problem is None
        publisher = create_client(redis_url)
        try:
            await publish(publisher, GRANTS_CHANGED, {"department_code": "d", "resource_code": "r"})
            async with asyncio.timeout(3):
                assert await received.get() == {"department_code": "d", "resource_code": "r"}
        finally:
            await publisher.aclose()
    finally:
        await subscriber.stop()


class _Link:
    """A TCP link to Redis that can go silent: frozen, it passes nothing either way and closes nothing, as a
    connection to a Redis whose node was powered off or cut off by a partition looks (no FIN, no RST)."""

    def __init__(self, redis_url: str) -> None:
        self._target = urlsplit(redis_url)
        self.frozen = False
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task] = set()

    async def start(self, directory: Path) -> str:
        """Listens as the test Redis does (TCP, or a unix socket in ``directory``); returns the URL to use."""
        target = self._target
        if target.scheme == "unix":
            path = directory / "redis-link.sock"
            self._server = await asyncio.start_unix_server(self._accept, path)
            return urlunsplit(target._replace(path=str(path)))
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return urlunsplit(target._replace(netloc=f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"))

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        target = self._target
        if target.scheme == "unix":
            return await asyncio.open_unix_connection(target.path)
        return await asyncio.open_connection(target.hostname, target.port)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._server is not None:
            self._server.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await self._open()
        for source, sink in ((reader, upstream_writer), (upstream_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                if not self.frozen:
                    sink.write(data)
                    await sink.drain()
        finally:
            sink.close()


async def test_a_subscription_gone_silent_is_lost_and_made_again(redis_url: str, monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    """The subscriber waited for the next event forever (redis-py's listen() reads without a timeout, and its
    health check PING is sent only before a read): a connection to a Redis that vanished without closing it (a
    node powered off, a partition, a failover to a sentinel's new primary) was never found dead, so the process
    stayed subscribed to nothing, ``lost`` never called, and query went on keeping decisions and records with no
    event to drop them, for good. It now PINGs when nothing came for SUBSCRIPTION_KEEPALIVE_SECONDS and gives the
    connection up when nothing answers in as long again."""
    monkeypatch.setattr("services.runtime.cache.SUBSCRIPTION_KEEPALIVE_SECONDS", 0.3, raising=False)
    link = _Link(redis_url)
    url = await link.start(tmp_path)
    lost, resyncs = asyncio.Event(), []
    subscriber = Subscriber(url, {GRANTS_CHANGED: lambda _: None},
                            resync=lambda: resyncs.append(None), lost=lost.set)
    subscriber.start()
    try:
        async with asyncio.timeout(3):
            await subscriber.ready.wait()
        link.frozen = True
        async with asyncio.timeout(3):
            await lost.wait()
        assert not subscriber.ready.is_set()
        assert "no answer from Redis" in (subscriber.problem or "")
        link.frozen = False
        async with asyncio.timeout(3):
            await subscriber.ready.wait()
        assert len(resyncs) == 2
    finally:
        await subscriber.stop()
        await link.stop()
