"""The console's own Redis user, as docs/configuration.md gives its ACL line: everything the console does with
Redis works under it (sessions, OIDC sign-ins in flight, the rename and catalog events it listens to), and it
cannot publish the platform's events."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis.asyncio as aioredis
from redis.exceptions import NoPermissionError

from console.names import Names, watch_changes
from console.oidc import RedisPendingSignIns
from console.sessions import Person, RedisSessionStore
from services.runtime.cache import CATALOG_CHANGED, DEPARTMENTS_CHANGED, create_client, publish

DOC = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text(encoding="utf-8")


def _documented_acl(user: str, password: str) -> list[str]:
    """The arguments of the ``ACL SETUSER console …`` line docs/configuration.md gives, for ``user``."""
    line = re.search(r"`ACL SETUSER console ([^`]+)`", DOC)
    assert line is not None, "docs/configuration.md gives no ACL SETUSER line for the console"
    return [user, *(f">{password}" if rule.startswith(">") else rule for rule in line.group(1).split())]


def _as_user(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{parts.hostname}:{parts.port}"))


class _Nothing:
    """Services that are never asked: the event only drops what is kept."""


@pytest.fixture
async def console_url(redis_url: str, redis_client: aioredis.Redis):  # type: ignore[no-untyped-def]
    """A URL of the test Redis as a user made by the documented ACL line (deleted after the test)."""
    user, password = f"console-{uuid.uuid4().hex[:8]}", secrets.token_hex(16)
    await redis_client.execute_command("ACL", "SETUSER", *_documented_acl(user, password))
    yield _as_user(redis_url, user, password)
    await redis_client.execute_command("ACL", "DELUSER", user)


async def test_the_documented_acl_lets_the_console_do_what_it_does_and_no_more(console_url: str,
                                                                               redis_client: aioredis.Redis) -> None:
    """The page said the console's user has no pub/sub while the console subscribes to the directory's renames
    (and the catalog's changes): under that user SUBSCRIBE was refused NOPERM, the console logging 'event
    subscription lost' every few seconds and receiving no event; OIDC's take (MULTI/EXEC) was refused too, so an
    OIDC sign-in said 控制台暂时无法保存登录状态. It cannot PUBLISH, nor read another key."""
    client = create_client(console_url)
    store = RedisSessionStore(client, 60)
    pending = RedisPendingSignIns(client, time.time)
    names = Names(_Nothing())
    watch = watch_changes(names, console_url)
    try:
        token = await store.begin(None)
        session = store.create(Person("zhangsan", "张三", "11100000000000000X"), "token", time.time() + 60)
        await store.flush()
        store.finish(token)
        token = await store.begin(session.id)
        assert store.get(session.id)[0] is not None
        store.end(session.id)
        await store.flush()
        store.finish(token)

        key, started = await pending.start("https://console.example/oidc/callback")
        assert await pending.take(key) == started

        async with client.pubsub() as pubsub:  # each channel the console listens to, confirmed
            await pubsub.subscribe(DEPARTMENTS_CHANGED, CATALOG_CHANGED)
            for channel in (DEPARTMENTS_CHANGED, CATALOG_CHANGED):
                confirmed = await pubsub.get_message(timeout=5)
                assert confirmed is not None and (confirmed["type"], confirmed["channel"]) == (
                    "subscribe", channel.encode())

        await asyncio.wait_for(watch.ready.wait(), 5)
        names._resources.put("100001/000001", "kept")  # what the event drops
        await publish(redis_client, CATALOG_CHANGED, {"code": "100001/000001"})
        for _ in range(200):  # the event arrives in milliseconds; bounded at about two seconds
            if names._resources.get("100001/000001") is None:
                break
            await asyncio.sleep(0.01)
        assert names._resources.get("100001/000001") is None

        with pytest.raises(NoPermissionError):
            await publish(client, CATALOG_CHANGED, {"code": "100001/000001"})
        with pytest.raises(NoPermissionError):
            await client.get("govshare:catalog:entry")
    finally:
        await watch.stop()
        await client.aclose()


async def test_a_session_store_refusing_the_console_is_logged_with_redis_words(
        redis_url: str, redis_client: aioredis.Redis, caplog: pytest.LogCaptureFixture) -> None:
    """Every request the session store failed was logged "session store unavailable", nothing more: Redis down,
    Redis full (OOM under maxmemory, seen on govshare up: every sign-in answered 503) and the console's user
    refused a command by its ACL (a line without +set) read alike, and they call for different hands."""
    from console.sessions import SessionSync

    user, password = f"console-{uuid.uuid4().hex[:8]}", secrets.token_hex(16)
    await redis_client.execute_command("ACL", "SETUSER", *[r for r in _documented_acl(user, password) if r != "+set"])
    client = create_client(_as_user(redis_url, user, password))
    store = RedisSessionStore(client, 60)

    async def signs_in(scope, receive, send):  # type: ignore[no-untyped-def]
        store.create(Person("zhangsan", "张三", "11100000000000000X"), "token", time.time() + 60)
        await send({"type": "http.response.start", "status": 303, "headers": [(b"location", b"/")]})
        await send({"type": "http.response.body", "body": b""})

    sent: list[dict] = []

    async def send(message):  # type: ignore[no-untyped-def]
        sent.append(message)

    async def receive():  # type: ignore[no-untyped-def]
        return {"type": "http.request", "body": b"", "more_body": False}

    try:
        await SessionSync(signs_in, store)({"type": "http", "path": "/login", "headers": []}, receive, send)
    finally:
        await client.aclose()
        await redis_client.execute_command("ACL", "DELUSER", user)
    assert sent[0]["status"] == 503
    said = [r.getMessage() for r in caplog.records if r.name == "govshare.console"]
    assert said == ["session store unavailable (Redis: this user has no permissions to run the 'set' command or its"
                    " subcommand): the request was answered 503"], said
