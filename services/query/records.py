"""Records: the Redis record cache in front of the provider endpoints.

A record is read from Redis (``rec:{dataset}:{key}``, a serialized
govshare.provider.v1.Record, through the pipelined reader of redis_reads.py) and,
on a miss, from the provider endpoint named by the catalog entry through the
standard ProviderService contract, then cached with a TTL. While Redis is down,
records come from the provider: Redis is only ever a cache. Absent records are
cached briefly as an empty value (a real record always has a key, so it never
serializes to nothing). Providers delete the keys of records they change; a
change event during a fetch keeps the fetched, maybe older, record out of the
cache.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import grpc
import redis.asyncio as aioredis
from google.protobuf.message import DecodeError
from redis.exceptions import RedisError

from govshare.provider.v1 import provider_pb2, provider_pb2_grpc
from services.query.redis_reads import RedisReader
from services.runtime.clients import call_metadata, open_channel
from services.runtime.errors import ServiceError
from services.runtime.identity import AssertionSigner, Caller
from services.runtime.settings import Settings
from services.runtime.singleflight import SingleFlight
from services.runtime.telemetry import CACHE_LOOKUPS

Record = provider_pb2.Record

PROVIDER_SERVICE = "govshare.provider.v1.ProviderService"
ABSENT = b""
MAX_NEGATIVE_TTL_SECONDS = 30
EXPORT_TIMEOUT_SECONDS = 3600.0
EXPORT_PAGE_SIZE = 500
OUTAGE_LOG_INTERVAL_SECONDS = 10.0

log = logging.getLogger(__name__)
_UNUSABLE = object()  # a cached value that does not parse: treated as a miss
_HIT = CACHE_LOOKUPS.labels("record", "hit")
_MISS = CACHE_LOOKUPS.labels("record", "miss")


def cache_key(dataset: str, key: str) -> str:
    return f"rec:{dataset}:{key}"


def _provider_unavailable(target: str, exc: grpc.aio.AioRpcError) -> ServiceError:
    return ServiceError(grpc.StatusCode.UNAVAILABLE, "PROVIDER_UNAVAILABLE",
                        f"the provider endpoint {target} could not be reached ({exc.code().name})")


class ProviderClients:
    """One channel per provider endpoint; every call has a deadline and the query service's identity."""

    def __init__(self, settings: Settings, signer: AssertionSigner, identity: Caller) -> None:
        self._settings = settings
        self._signer = signer
        self._identity = identity
        self._timeout = settings.call_timeout_seconds
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._stubs: dict[str, provider_pb2_grpc.ProviderServiceStub] = {}

    def _stub(self, target: str) -> provider_pb2_grpc.ProviderServiceStub:
        stub = self._stubs.get(target)
        if stub is None:
            channel = open_channel(target, self._settings, idempotent_services=(PROVIDER_SERVICE,))
            self._channels[target] = channel
            stub = self._stubs[target] = provider_pb2_grpc.ProviderServiceStub(channel)
        return stub

    async def lookup(self, target: str, dataset: str, key: str) -> Record | None:
        try:
            response = await self._stub(target).Lookup(
                provider_pb2.LookupRequest(dataset=dataset, key=key), timeout=self._timeout,
                metadata=call_metadata(self._signer, self._identity))
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                return None
            raise _provider_unavailable(target, exc) from exc
        return response.record if response.found else None

    async def batch_lookup(self, target: str, dataset: str, keys: list[str]) -> dict[str, Record]:
        try:
            response = await self._stub(target).BatchLookup(
                provider_pb2.BatchLookupRequest(dataset=dataset, keys=keys), timeout=self._timeout,
                metadata=call_metadata(self._signer, self._identity))
        except grpc.aio.AioRpcError as exc:
            raise _provider_unavailable(target, exc) from exc
        return {record.key: record for record in response.records}

    async def export(self, target: str, dataset: str) -> AsyncIterator[list[Record]]:
        """Pages of every current record of ``dataset``."""
        call = self._stub(target).Export(
            provider_pb2.ExportRequest(dataset=dataset, page_size=EXPORT_PAGE_SIZE),
            timeout=max(EXPORT_TIMEOUT_SECONDS, self._timeout), metadata=call_metadata(self._signer, self._identity))
        try:
            async for page in call:
                yield list(page.records)
        except grpc.aio.AioRpcError as exc:
            raise _provider_unavailable(target, exc) from exc
        finally:
            call.cancel()

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
        self._stubs.clear()


class RecordCache:
    """Records by (dataset, key): Redis first, then the provider endpoint."""

    def __init__(self, reader: RedisReader, redis: aioredis.Redis, providers: ProviderClients,
                 ttl_seconds: int) -> None:
        self._reader = reader
        self._redis = redis
        self._providers = providers
        self._ttl = ttl_seconds
        self._negative_ttl = min(ttl_seconds, MAX_NEGATIVE_TTL_SECONDS)
        self._flight: SingleFlight[Record | None] = SingleFlight()
        # Bumped by change events (per dataset) and reconnections (all): a fetch that saw a bump
        # does not cache its result, which may predate the change.
        self._generations: dict[str, int] = {}
        self._epoch = 0
        self._quiet_until = 0.0

    async def get(self, target: str, dataset: str, key: str) -> Record | None:
        """The record, or None when the provider has none."""
        name = cache_key(dataset, key)
        try:
            data = await self._reader.get(name)
        except RedisError as exc:
            self._outage(exc)
            data = None
        if data is not None:
            record = self._decode(data)
            if record is not _UNUSABLE:
                _HIT.inc()
                return record
        _MISS.inc()
        return await self._flight.do(name, lambda: self._fetch(target, dataset, key, name))

    async def get_many(self, target: str, dataset: str, keys: list[str]) -> dict[str, Record | None]:
        """Records of distinct ``keys``: one MGET, then one BatchLookup for the misses."""
        names = [cache_key(dataset, key) for key in keys]
        try:
            cached = await self._reader.mget(names)
        except RedisError as exc:
            self._outage(exc)
            cached = [None] * len(keys)
        found: dict[str, Record | None] = {}
        misses: list[str] = []
        for key, data in zip(keys, cached, strict=True):
            record = self._decode(data) if data is not None else _UNUSABLE
            if record is _UNUSABLE:
                misses.append(key)
            else:
                found[key] = record
        if found:
            _HIT.inc(len(found))
        if misses:
            _MISS.inc(len(misses))
            found.update(await self._fetch_many(target, dataset, misses))
        return found

    def _outage(self, exc: Exception) -> None:
        """Notes a Redis failure (at most every few seconds: during an outage every query has one)."""
        now = time.monotonic()
        if now >= self._quiet_until:
            self._quiet_until = now + OUTAGE_LOG_INTERVAL_SECONDS
            log.warning("record cache unavailable (%s); records come from the providers", exc)

    @staticmethod
    def _decode(data: bytes) -> Any:
        """The cached record, None for a cached absence, _UNUSABLE when the value does not parse."""
        if data == ABSENT:
            return None
        try:
            return Record.FromString(data)
        except DecodeError:
            return _UNUSABLE

    async def _fetch(self, target: str, dataset: str, key: str, name: str) -> Record | None:
        generation = self._generation(dataset)
        record = await self._providers.lookup(target, dataset, key)
        if self._ttl and generation == self._generation(dataset):
            await self._store({name: record})
        return record

    async def _fetch_many(self, target: str, dataset: str, keys: list[str]) -> dict[str, Record | None]:
        generation = self._generation(dataset)
        records = await self._providers.batch_lookup(target, dataset, keys)
        result: dict[str, Record | None] = {key: records.get(key) for key in keys}
        if self._ttl and generation == self._generation(dataset):
            await self._store({cache_key(dataset, key): record for key, record in result.items()})
        return result

    async def _store(self, records: Mapping[str, Record | None]) -> None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for name, record in records.items():
                    if record is None:
                        pipe.set(name, ABSENT, ex=self._negative_ttl)
                    else:
                        pipe.set(name, record.SerializeToString(), ex=self._ttl)
                await pipe.execute()
        except RedisError as exc:
            self._outage(exc)

    async def forget(self, dataset: str, keys: Iterable[str]) -> None:
        """Drops cached records (e.g. after a dispute was answered with a correction)."""
        self._bump(dataset)
        names = [cache_key(dataset, key) for key in keys]
        if names:
            try:
                await self._redis.delete(*names)
            except RedisError as exc:
                log.warning("record cache unavailable (%s); entries expire by TTL", exc)

    def _generation(self, dataset: str) -> tuple[int, int]:
        return self._epoch, self._generations.get(dataset, 0)

    def _bump(self, dataset: str) -> None:
        self._generations[dataset] = self._generations.get(dataset, 0) + 1

    def on_records_changed(self, payload: Mapping) -> None:
        """Handler for RECORDS_CHANGED (the provider has already deleted the keys)."""
        dataset = payload.get("dataset")
        if isinstance(dataset, str):
            self._bump(dataset)

    def resync(self) -> None:
        """After a reconnection events may have been lost: in-flight fetches must not cache."""
        self._epoch += 1
