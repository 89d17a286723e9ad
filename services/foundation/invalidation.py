"""Telling the query path that records changed: delete their cache entries, then announce it.

Query caches provider records in Redis under ``rec:{dataset}:{key}``. The foundation
service deletes the entries of records it changed (after the change is committed, so a
concurrent reader cannot re-cache the old version for long) and publishes
RECORDS_CHANGED so every query replica can also drop what it holds in process.
Redis is only a cache: if it is unreachable the load still stands, and the entries age
out within the cache TTL.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from services.runtime.cache import RECORDS_CHANGED, publish

log = logging.getLogger(__name__)
DELETE_CHUNK = 1000


def record_cache_key(dataset: str, key: str) -> str:
    """The Redis key query caches a provider record under."""
    return f"rec:{dataset}:{key}"


class RecordInvalidator:
    """Deletes cached records and publishes RECORDS_CHANGED; the client is attached at start."""

    def __init__(self) -> None:
        self._client: aioredis.Redis | None = None

    def attach(self, client: aioredis.Redis | None) -> None:
        self._client = client

    async def records_changed(self, dataset: str, keys: Sequence[str]) -> None:
        if not keys or self._client is None:
            return
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for start in range(0, len(keys), DELETE_CHUNK):
                    pipe.delete(*(record_cache_key(dataset, key) for key in keys[start:start + DELETE_CHUNK]))
                await pipe.execute()
            await publish(self._client, RECORDS_CHANGED, {"dataset": dataset, "keys": list(keys)})
        except (RedisError, OSError) as exc:
            log.error("could not invalidate %d cached %s records (%s); they expire within the cache TTL",
                      len(keys), dataset, exc)

    async def dataset_changed(self, dataset: str) -> None:
        """After a bulk load: every cached record of the dataset may be stale."""
        if self._client is None:
            return
        try:
            batch: list[bytes] = []
            async for name in self._client.scan_iter(match=record_cache_key(dataset, "*"), count=1000):
                batch.append(name)
                if len(batch) >= DELETE_CHUNK:
                    await self._client.delete(*batch)
                    batch.clear()
            if batch:
                await self._client.delete(*batch)
            await publish(self._client, RECORDS_CHANGED, {"dataset": dataset, "all": True})
        except (RedisError, OSError) as exc:
            log.error("could not invalidate cached %s records (%s); they expire within the cache TTL", dataset, exc)
