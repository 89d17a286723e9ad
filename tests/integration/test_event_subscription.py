"""The services' event subscriber (services/runtime/cache.Subscriber) against the test Redis, under an ACL user: it
is ready, and calls ``resync`` (which lets query keep decisions and records again), only once Redis has confirmed
SUBSCRIBE for every channel; a refused SUBSCRIBE is logged once, saying which ACL channels to grant, and retried
with backoff."""

from __future__ import annotations

import asyncio
import logging
import secrets
import uuid
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
