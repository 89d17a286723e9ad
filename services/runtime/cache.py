"""Redis: the record cache and the invalidation event bus.

Redis is never the only copy of anything. Events are best-effort (pub/sub drops
messages while a subscriber is disconnected), so every subscriber also gets a
``resync`` call after each (re)connection and callers bound staleness with a TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis

log = logging.getLogger(__name__)

# Channels (one place, so publishers and subscribers cannot drift apart).
CATALOG_CHANGED = "govshare.catalog.changed"  # {"code": ...}
GRANTS_CHANGED = "govshare.grants.changed"  # {"department_code": ..., "resource_code": ..., "policy_version": ...}
RECORDS_CHANGED = "govshare.records.changed"  # {"dataset": ..., "keys": [...]} or {"dataset": ..., "all": true}
DISPUTES_CHANGED = "govshare.disputes.changed"  # {"resource_code": ..., "key": ..., "open": bool}
# {"system_id": ..., "disabled": bool, "not_before": epoch seconds, "reason": "DISABLED"|"ROTATED", "version": ...}
SYSTEMS_CHANGED = "govshare.systems.changed"

Handler = Callable[[dict], Awaitable[None] | None]


def create_client(url: str) -> aioredis.Redis:
    """A client for ``redis://``, ``rediss://`` or ``unix://`` URLs (the embedded server uses a socket)."""
    return aioredis.from_url(url, decode_responses=False, health_check_interval=30)


async def publish(client: aioredis.Redis, channel: str, payload: dict) -> None:
    await client.publish(channel, json.dumps(payload, ensure_ascii=False))


class Subscriber:
    """Delivers events of some channels to handlers, in a background task that reconnects."""

    def __init__(self, url: str, handlers: dict[str, Handler], resync: Callable[[], None] | None = None) -> None:
        self._url = url
        self._handlers = handlers
        self._resync = resync
        self._task: asyncio.Task | None = None
        self.ready = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="redis-subscriber")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        delay = 0.1
        while True:
            client = create_client(self._url)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(*self._handlers)
                    if self._resync is not None:
                        self._resync()
                    self.ready.set()
                    delay = 0.1
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            await self._dispatch(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("event subscription lost (%s); reconnecting in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            finally:
                await client.aclose()

    async def _dispatch(self, message: dict) -> None:
        channel = message["channel"].decode() if isinstance(message["channel"], bytes) else message["channel"]
        handler = self._handlers.get(channel)
        if handler is None:
            return
        try:
            result = handler(json.loads(message["data"]))
            if asyncio.iscoroutine(result):
                await result
        except Exception:
            log.exception("event handler for %s failed", channel)
