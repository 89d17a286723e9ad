"""The record cache: Redis first, then one provider call per miss (or per batch of misses).

The provider here is a real gRPC ProviderService endpoint, as a department's front-end
processor would run one (the contract is the platform's extension point).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from types import SimpleNamespace
from typing import TypeVar

import grpc
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from govshare.provider.v1 import provider_pb2, provider_pb2_grpc
from services.query.audit import Access
from services.query.records import (
    CALLERS_DEADLINE,
    MISSING,
    UNREADABLE,
    LocalRecords,
    ProviderClients,
    RecordCache,
    Unanswered,
    cache_key,
)
from services.query.redis_reads import SERVER_ID_LENGTH, RedisReader
from services.query.servicer import _name_the_provider, _unanswered
from services.runtime.cache import RECORDS_CHANGED
from services.runtime.errors import ServiceError, to_status
from services.runtime.identity import ASSERTION_HEADER, AssertionSigner, service_caller
from services.runtime.pagination import STREAM_DEADLINE
from services.runtime.provider_assertions import (
    ProviderAssertionSigner,
    ProviderAssertionVerifier,
    provider_public_keys,
)
from services.runtime.settings import Settings

T = TypeVar("T")


class PlatformAssertions:
    """What a 前置机 checks: the platform's per-call assertion for its endpoint (and never the mesh's)."""

    def __init__(self, public_keys: str) -> None:
        self.public_keys = public_keys
        self.verifier: ProviderAssertionVerifier | None = None
        self.mesh_assertions = 0

    def bind(self, audience: str) -> None:
        self.verifier = ProviderAssertionVerifier(self.public_keys, audience)

    def from_context(self, context) -> SimpleNamespace:  # type: ignore[no-untyped-def]
        metadata = context.invocation_metadata()
        if any(key == ASSERTION_HEADER for key, _ in metadata):
            self.mesh_assertions += 1
        assert self.verifier is not None
        self.verifier.verify(metadata)
        return SimpleNamespace(system_id="platform")


class DepartmentProvider(provider_pb2_grpc.ProviderServiceServicer):
    """A front-end processor serving one small dataset, counting the calls it gets."""

    def __init__(self, verifier: PlatformAssertions) -> None:
        self.verifier = verifier
        self.records: dict[str, provider_pb2.Record] = {}
        self.lookups = 0
        self.batch_lookups: list[list[str]] = []
        self.callers: list[str] = []
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()
        # BatchLookup: held while batch_gate is set and closed; the next fail_batches calls fail (INTERNAL); a
        # batch naming one of refused_keys is refused as a whole (INVALID_ARGUMENT).
        self.batch_gate: asyncio.Event | None = None
        self.batch_entered = asyncio.Event()
        self.fail_batches = 0
        self.refused_keys: set[str] = set()
        # Rows the department's database cannot send: a call naming one is FAILED_PRECONDITION RECORD_UNREADABLE,
        # as the 前置机 answers it (frontproc/store.py).
        self.unreadable_keys: set[str] = set()
        # A wrongly mapped 前置机: asked for a key of misfiled, it answers the record of the key it maps to.
        self.misfiled: dict[str, str] = {}
        self.batch_traceparents: list[str] = []

    async def refuse_unreadable(self, context, keys) -> None:  # type: ignore[no-untyped-def]
        if self.unreadable_keys.intersection(keys):
            await context.abort_with_status(to_status(ServiceError(
                grpc.StatusCode.FAILED_PRECONDITION, "RECORD_UNREADABLE",
                "a record of the dataset holds a value the department database cannot send"), "frontproc"))

    async def Lookup(self, request, context):  # type: ignore[no-untyped-def]
        self.callers.append(self.verifier.from_context(context).system_id)
        self.lookups += 1
        self.entered.set()
        await asyncio.sleep(0.01)
        if self.gate is not None:
            await self.gate.wait()
        await self.refuse_unreadable(context, [request.key])
        record = self.records.get(self.misfiled.get(request.key, request.key))
        return provider_pb2.LookupResponse(found=record is not None, record=record)

    async def Export(self, request, context):  # type: ignore[no-untyped-def]
        """One page per record, in key order; a row in unreadable_keys stops the export as the 前置机 does."""
        self.verifier.from_context(context)
        for key in sorted(self.records):
            await self.refuse_unreadable(context, [key])
            yield provider_pb2.ExportResponse(records=[self.records[key]])

    async def BatchLookup(self, request, context):  # type: ignore[no-untyped-def]
        self.callers.append(self.verifier.from_context(context).system_id)
        self.batch_lookups.append(list(request.keys))
        self.batch_traceparents.append(dict(context.invocation_metadata()).get("traceparent", ""))
        self.batch_entered.set()
        if self.batch_gate is not None:
            await self.batch_gate.wait()
        if self.fail_batches > 0:
            self.fail_batches -= 1
            await context.abort(grpc.StatusCode.INTERNAL, "the department's database is gone")
        if self.refused_keys.intersection(request.keys):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "keys: not a key of this dataset")
        await self.refuse_unreadable(context, request.keys)
        keys = [self.misfiled.get(k, k) for k in request.keys]
        return provider_pb2.BatchLookupResponse(records=[self.records[k] for k in keys if k in self.records])


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[tuple[str, DepartmentProvider]]:
    """A DepartmentProvider on a port of its own: its target and the provider."""
    provider = DepartmentProvider(PlatformAssertions(provider_public_keys(settings.provider_signing_key)))
    server = grpc.aio.server()
    provider_pb2_grpc.add_ProviderServiceServicer_to_server(provider, server)
    port = server.add_insecure_port("127.0.0.1:0")
    provider.verifier.bind(f"127.0.0.1:{port}")
    await server.start()
    try:
        yield f"127.0.0.1:{port}", provider
    finally:
        await server.stop(0)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def endpoint(base_settings: Settings) -> AsyncIterator[tuple[str, DepartmentProvider]]:
    async with serving(base_settings) as served:
        yield served


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def second_endpoint(base_settings: Settings) -> AsyncIterator[tuple[str, DepartmentProvider]]:
    """Another 前置机 (another department's, or the same department's second one)."""
    async with serving(base_settings) as served:
        yield served


@pytest.fixture
async def held(base_settings: Settings, redis_url: str) -> AsyncIterator[RecordCache]:
    """A record cache with the in-process tier on, as the query service runs it."""
    client = aioredis.from_url(redis_url)
    reader = RedisReader(redis_url)
    clients = ProviderClients(base_settings, AssertionSigner(base_settings.internal_key), service_caller("query"),
                              ProviderAssertionSigner(base_settings.provider_signing_key))
    yield RecordCache(reader, client, clients, ttl_seconds=60, local=LocalRecords(60.0, 1000))
    await clients.close()
    await reader.close()
    await client.aclose()


@pytest.fixture
async def records(base_settings: Settings, redis_url: str) -> AsyncIterator[RecordCache]:
    client = aioredis.from_url(redis_url)
    reader = RedisReader(redis_url)
    clients = ProviderClients(base_settings, AssertionSigner(base_settings.internal_key), service_caller("query"),
                              ProviderAssertionSigner(base_settings.provider_signing_key))
    yield RecordCache(reader, client, clients, ttl_seconds=60)
    await clients.close()
    await reader.close()
    await client.aclose()


async def on_server(redis_client: aioredis.Redis, payload: bytes) -> bytes:
    """A cached value as the record cache writes it: marked with the id of the Redis server it is on."""
    run_id = (await redis_client.info("server"))["run_id"]
    return run_id[:SERVER_ID_LENGTH].encode() + payload


def record(key: str, name: str = "张三") -> provider_pb2.Record:
    return provider_pb2.Record(key=key, values={"name": name}, source_department_code="11100000000013127D")


async def test_a_miss_asks_the_provider_once_and_caches(records: RecordCache, endpoint, redis_client) -> None:
    target, provider = endpoint
    dataset, key = f"ds-{uuid.uuid4().hex[:8]}", "K1"
    provider.records[key] = record(key)
    before = provider.lookups
    found = await asyncio.gather(*(records.get(target, dataset, key) for _ in range(10)))
    assert all(r is not None and r.values["name"] == "张三" for r in found)
    assert provider.lookups == before + 1
    assert provider.callers[-1] == "platform" and provider.verifier.mesh_assertions == 0
    assert await redis_client.get(cache_key(target, dataset, key)) == await on_server(redis_client,
                                                                              record(key).SerializeToString())
    assert 0 < await redis_client.ttl(cache_key(target, dataset, key)) <= 60
    assert (await records.get(target, dataset, key)) == record(key)
    assert provider.lookups == before + 1


async def test_absence_is_cached_briefly(records: RecordCache, endpoint, redis_client) -> None:
    target, provider = endpoint
    dataset = f"ds-{uuid.uuid4().hex[:8]}"
    before = provider.lookups
    assert await records.get(target, dataset, "nobody") is None
    assert await records.get(target, dataset, "nobody") is None
    assert provider.lookups == before + 1
    assert await redis_client.get(cache_key(target, dataset, "nobody")) == await on_server(redis_client, b"")
    assert 0 < await redis_client.ttl(cache_key(target, dataset, "nobody")) <= 30


async def test_an_unreadable_cached_value_is_a_miss(records: RecordCache, endpoint, redis_client) -> None:
    target, provider = endpoint
    dataset = f"ds-{uuid.uuid4().hex[:8]}"
    provider.records["K2"] = record("K2", "李四")
    await redis_client.set(cache_key(target, dataset, "K2"), await on_server(redis_client, b"\xff\xff not a record"))
    assert (await records.get(target, dataset, "K2")).values["name"] == "李四"


async def test_a_batch_is_one_mget_and_one_batch_lookup_for_the_misses(records: RecordCache, endpoint,
                                                                        redis_client) -> None:
    target, provider = endpoint
    dataset = f"ds-{uuid.uuid4().hex[:8]}"
    for key in ("A", "B", "C"):
        provider.records[key] = record(key, key)
    await redis_client.set(cache_key(target, dataset, "A"),
                           await on_server(redis_client, record("A", "cached").SerializeToString()))
    before = len(provider.batch_lookups)
    found = await records.get_many(target, dataset, ["A", "B", "C", "Z"])
    assert found["A"].values["name"] == "cached"
    assert found["B"].values["name"] == "B" and found["Z"] is None
    assert provider.batch_lookups[before:] == [["B", "C", "Z"]]
    again = await records.get_many(target, dataset, ["A", "B", "C", "Z"])
    assert again == found
    assert len(provider.batch_lookups) == before + 1


async def test_a_change_event_during_a_fetch_keeps_the_result_out_of_the_cache(records: RecordCache, endpoint,
                                                                               redis_client) -> None:
    target, provider = endpoint
    dataset = f"ds-{uuid.uuid4().hex[:8]}"
    provider.records["K3"] = record("K3")
    provider.gate = asyncio.Event()
    provider.entered.clear()
    try:
        pending = asyncio.create_task(records.get(target, dataset, "K3"))
        await provider.entered.wait()  # the provider is answering
        records.on_records_changed({"endpoint": target, "dataset": dataset, "keys": ["K3"]})
        provider.gate.set()
        assert (await pending) is not None
    finally:
        provider.gate.set()
        provider.gate = None
    assert await redis_client.get(cache_key(target, dataset, "K3")) is None


async def test_a_value_written_on_another_redis_server_is_a_miss(records: RecordCache, endpoint,
                                                                   redis_client) -> None:
    """A Redis restarted from an old snapshot, or a replica promoted in a failover, holds values written on another
    server process, maybe before changes it never heard of: none of them is served, singly or in a batch."""
    target, provider = endpoint
    dataset = f"ds-{uuid.uuid4().hex[:8]}"
    for key in ("S1", "S2"):
        provider.records[key] = record(key, "current")
        await redis_client.set(cache_key(target, dataset, key), b"0ld5erv3" + record(key, "stale").SerializeToString())
    await redis_client.set(cache_key(target, dataset, "S3"), b"0ld5erv3")  # an old absence
    provider.records["S3"] = record("S3", "current")
    assert (await records.get(target, dataset, "S1")).values["name"] == "current"
    found = await records.get_many(target, dataset, ["S2", "S3"])
    assert {key: r.values["name"] for key, r in found.items()} == {"S2": "current", "S3": "current"}
    # Read through again, they are cached for this server.
    assert await redis_client.get(cache_key(target, dataset, "S2")) == await on_server(
        redis_client, record("S2", "current").SerializeToString())


async def test_nothing_is_held_in_process_while_the_event_subscription_is_down(base_settings: Settings, redis_url: str,
                                                                             endpoint) -> None:
    target, provider = endpoint
    dataset = f"ds-{uuid.uuid4().hex[:8]}"
    provider.records["L1"] = record("L1")
    local = LocalRecords(60.0, 100)
    reader, client = RedisReader(redis_url), aioredis.from_url(redis_url)
    clients = ProviderClients(base_settings, AssertionSigner(base_settings.internal_key), service_caller("query"),
                              ProviderAssertionSigner(base_settings.provider_signing_key))
    cache = RecordCache(reader, client, clients, ttl_seconds=60, local=local)
    try:
        assert await cache.get(target, dataset, "L1") is not None
        assert len(local) == 1
        cache.suspend()  # the subscription broke: changes can no longer be heard
        assert len(local) == 0
        assert await cache.get(target, dataset, "L1") is not None
        assert await cache.get_many(target, dataset, ["L1"])
        assert len(local) == 0
        cache.resync()  # subscribed again
        assert await cache.get(target, dataset, "L1") is not None
        assert len(local) == 1
    finally:
        cache.close()
        await clients.close()
        await reader.close()
        await client.aclose()


async def test_records_are_read_from_the_provider_while_redis_is_down(base_settings: Settings, endpoint) -> None:
    target, provider = endpoint
    provider.records["K4"] = record("K4", "王五")
    down = "redis://127.0.0.1:1/0"
    clients = ProviderClients(base_settings, AssertionSigner(base_settings.internal_key), service_caller("query"),
                              ProviderAssertionSigner(base_settings.provider_signing_key))
    cache = RecordCache(RedisReader(down, timeout=0.5), aioredis.from_url(down), clients, ttl_seconds=60)
    try:
        assert (await cache.get(target, "ds-down", "K4")).values["name"] == "王五"
        assert (await cache.get_many(target, "ds-down", ["K4"]))["K4"].values["name"] == "王五"
    finally:
        await clients.close()


async def test_an_unreachable_provider_is_unavailable(records: RecordCache) -> None:
    with pytest.raises(ServiceError) as failure:
        await records.get("127.0.0.1:1", f"ds-{uuid.uuid4().hex[:8]}", "K")
    assert failure.value.code == grpc.StatusCode.UNAVAILABLE
    assert failure.value.reason == "PROVIDER_UNAVAILABLE"


# --- the in-process tier ------------------------------------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_held_record_expires_after_its_ttl_even_when_read_meanwhile() -> None:
    clock = _Clock()
    local = LocalRecords(2.0, 10, clock=clock)
    local.put("ds", "K", record("K"))
    clock.now += 1.9
    assert local.get("ds", "K") == record("K")
    clock.now += 0.2
    assert local.get("ds", "K") is MISSING
    assert len(local) == 0


def test_the_least_recently_used_record_leaves_first() -> None:
    local = LocalRecords(60.0, 2)
    local.put("ds", "A", record("A"))
    local.put("ds", "B", record("B"))
    assert local.get("ds", "A") is not MISSING  # A is now the more recent
    local.put("ds", "C", record("C"))
    assert local.get("ds", "B") is MISSING
    assert local.get("ds", "A") is not MISSING and local.get("ds", "C") is not MISSING


def test_absences_are_held_and_a_disabled_tier_holds_nothing() -> None:
    local = LocalRecords(60.0, 10)
    local.put("ds", "nobody", None)
    assert local.get("ds", "nobody") is None
    for disabled in (LocalRecords(0.0, 10), LocalRecords(60.0, 0), LocalRecords()):
        disabled.put("ds", "K", record("K"))
        assert disabled.get("ds", "K") is MISSING


async def test_a_hot_record_is_answered_in_process_until_a_change_event_names_it(held: RecordCache, endpoint,
                                                                                  redis_client) -> None:
    target, provider = endpoint
    dataset = f"ds-{uuid.uuid4().hex[:8]}"
    provider.records["H1"] = record("H1", "赵六")
    assert (await held.get(target, dataset, "H1")).values["name"] == "赵六"
    provider.records["H1"] = record("H1", "赵六六")
    await redis_client.delete(cache_key(target, dataset, "H1"))  # without an event: this process still holds it
    before = provider.lookups
    assert (await held.get(target, dataset, "H1")).values["name"] == "赵六"
    assert provider.lookups == before
    held.on_records_changed({"endpoint": target, "dataset": dataset, "keys": ["H1"]})
    assert (await held.get(target, dataset, "H1")).values["name"] == "赵六六"
    assert provider.lookups == before + 1


async def test_a_dataset_wide_change_and_a_resubscription_drop_what_is_held(held: RecordCache, endpoint,
                                                                            redis_client) -> None:
    target, provider = endpoint
    changed, other = f"ds-{uuid.uuid4().hex[:8]}", f"ds-{uuid.uuid4().hex[:8]}"
    provider.records["D1"] = record("D1", "old")
    for dataset in (changed, other):
        await held.get(target, dataset, "D1")
        await redis_client.delete(cache_key(target, dataset, "D1"))
    provider.records["D1"] = record("D1", "new")
    held.on_records_changed({"endpoint": target, "dataset": changed, "all": True})
    assert (await held.get(target, changed, "D1")).values["name"] == "new"
    assert (await held.get(target, other, "D1")).values["name"] == "old"
    await redis_client.delete(cache_key(target, other, "D1"))
    held.resync()
    assert (await held.get(target, other, "D1")).values["name"] == "new"


async def test_a_change_event_during_a_redis_read_keeps_the_record_out_of_the_process(
        held: RecordCache, endpoint, redis_client, monkeypatch: pytest.MonkeyPatch) -> None:
    target, _provider = endpoint
    dataset = f"ds-{uuid.uuid4().hex[:8]}"
    await redis_client.set(cache_key(target, dataset, "R1"),
                           await on_server(redis_client, record("R1", "before").SerializeToString()))
    read = held._reader.get

    async def read_then_change(name: str) -> bytes | None:
        data = await read(name)
        # Arrives while the reply is on its way.
        held.on_records_changed({"endpoint": target, "dataset": dataset, "keys": ["R1"]})
        return data

    monkeypatch.setattr(held._reader, "get", read_then_change)
    assert (await held.get(target, dataset, "R1")).values["name"] == "before"
    monkeypatch.undo()
    await redis_client.set(cache_key(target, dataset, "R1"),
                           await on_server(redis_client, record("R1", "after").SerializeToString()))
    assert (await held.get(target, dataset, "R1")).values["name"] == "after"


async def test_a_batch_takes_held_records_and_reads_only_the_rest(held: RecordCache, endpoint,
                                                                   redis_client) -> None:
    target, provider = endpoint
    dataset = f"ds-{uuid.uuid4().hex[:8]}"
    for key in ("A", "B"):
        provider.records[key] = record(key, key)
    first = await held.get_many(target, dataset, ["A", "B", "Z"])
    await redis_client.delete(*(cache_key(target, dataset, key) for key in ("A", "B", "Z")))
    await redis_client.set(cache_key(target, dataset, "C"),
                           await on_server(redis_client, record("C", "cached C").SerializeToString()))
    before = len(provider.batch_lookups)
    again = await held.get_many(target, dataset, ["A", "B", "Z", "C"])
    assert {key: again[key] for key in first} == first and first["Z"] is None
    assert again["C"].values["name"] == "cached C"
    assert len(provider.batch_lookups) == before  # A, B and the absence of Z were held; C came from Redis


async def test_forgetting_a_record_tells_every_replica(held: RecordCache, endpoint, redis_client) -> None:
    target, provider = endpoint
    dataset = f"ds-{uuid.uuid4().hex[:8]}"
    provider.records["F1"] = record("F1")
    await held.get(target, dataset, "F1")
    pubsub = redis_client.pubsub()
    await pubsub.subscribe(RECORDS_CHANGED)
    try:
        await pubsub.get_message(timeout=1.0)  # the subscription's confirmation
        await held.forget(target, dataset, ["F1"])
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
    finally:
        await pubsub.unsubscribe()
        await pubsub.aclose()
    assert message is not None
    assert json.loads(message["data"]) == {"endpoint": target, "dataset": dataset, "keys": ["F1"]}
    assert await redis_client.get(cache_key(target, dataset, "F1")) is None
    before = provider.lookups
    await held.get(target, dataset, "F1")
    assert provider.lookups == before + 1


async def test_two_endpoints_serving_a_dataset_of_one_name_each_answer_their_own_rows(
        held: RecordCache, records: RecordCache, endpoint, second_endpoint, redis_client) -> None:
    """The record cache named its entries by dataset and key only (Redis, in process, singleflight, invalidation):
    two 前置机 serving a dataset of the same name answered each other's records, whichever was read first, and a
    change notice of one dropped, or kept, the other's. Every cache identity now holds the endpoint."""
    (first, one), (second, two) = endpoint, second_endpoint
    dataset = f"ds-{uuid.uuid4().hex[:8]}"
    for key in ("K", "C", "L"):
        one.records[key], two.records[key] = record(key, "甲"), record(key, "乙")
    assert (await held.get(first, dataset, "K")).values["name"] == "甲"
    assert (await held.get(second, dataset, "K")).values["name"] == "乙"  # in process
    assert (await held.get_many(second, dataset, ["K"]))["K"].values["name"] == "乙"
    assert (await records.get(first, dataset, "K")).values["name"] == "甲"  # from Redis
    assert (await records.get_many(second, dataset, ["K"]))["K"].values["name"] == "乙"
    # Concurrent misses of one key at the two endpoints: two flights, two lanes.
    assert [found.values["name"] for found in await asyncio.gather(
        records.get(first, dataset, "C"), records.get(second, dataset, "C"))] == ["甲", "乙"]

    # The second endpoint's change notice: the second answers its new row, the first its own, unasked.
    two.records["K"] = record("K", "乙二")
    asked = one.lookups + len(one.batch_lookups)
    await held.forget(second, dataset, ["K"])
    assert (await held.get(second, dataset, "K")).values["name"] == "乙二"
    assert (await records.get(second, dataset, "K")).values["name"] == "乙二"
    assert (await held.get(first, dataset, "K")).values["name"] == "甲"
    assert (await records.get(first, dataset, "K")).values["name"] == "甲"
    assert one.lookups + len(one.batch_lookups) == asked
    # And the first's, for the whole dataset, as a replica hears it: the first is read again, the second kept.
    one.records["K"] = record("K", "甲二")
    await redis_client.set(f"rec:{dataset}:K", b"an entry of the release before")
    await held.forget_dataset(first, dataset)
    assert await redis_client.exists(cache_key(second, dataset, "K"))  # the second's entry stays
    assert not await redis_client.exists(cache_key(first, dataset, "K"), f"rec:{dataset}:K")
    records.on_records_changed({"endpoint": first, "dataset": dataset, "all": True})
    assert (await records.get(first, dataset, "K")).values["name"] == "甲二"
    assert (await held.get(first, dataset, "K")).values["name"] == "甲二"
    assert (await held.get(second, dataset, "K")).values["name"] == "乙二"
    # A notice naming no endpoint (a process of the release before) is about the dataset at every endpoint.
    for provider, name in ((one, "甲三"), (two, "乙三")):
        provider.records["K"] = record("K", name)
    await redis_client.delete(cache_key(first, dataset, "K"), cache_key(second, dataset, "K"))
    held.on_records_changed({"dataset": dataset, "keys": ["K"]})
    assert [(await held.get(target, dataset, "K")).values["name"] for target in (first, second)] == ["甲三", "乙三"]

    # An entry of the format before the endpoint was in the name is never read, and is deleted with the new one.
    legacy = f"rec:{dataset}:L"
    await redis_client.set(legacy, await on_server(redis_client, record("L", "丙").SerializeToString()))
    assert (await records.get(second, dataset, "L")).values["name"] == "乙"
    await records.forget(second, dataset, ["L"])
    assert await redis_client.get(legacy) is None


# --- concurrent misses collapse into BatchLookups -----------------------------------------------------------------


@pytest.fixture
async def small_batches(base_settings: Settings, redis_url: str) -> AsyncIterator[RecordCache]:
    """A record cache whose collapsed misses leave in batches of at most 8 keys."""
    client = aioredis.from_url(redis_url)
    reader = RedisReader(redis_url)
    clients = ProviderClients(base_settings, AssertionSigner(base_settings.internal_key), service_caller("query"),
                              ProviderAssertionSigner(base_settings.provider_signing_key))
    yield RecordCache(reader, client, clients, ttl_seconds=60, miss_batch_max=8)
    await clients.close()
    await reader.close()
    await client.aclose()


def calls_since(provider: DepartmentProvider, lookups: int, batches: int) -> tuple[int, list[list[str]]]:
    """Lookups, and the keys of each BatchLookup, the provider got since it had those counts."""
    return provider.lookups - lookups, provider.batch_lookups[batches:]


async def until(condition: Callable[[], bool]) -> None:
    """Polls ``condition`` (bounded: a test that waits in vain fails)."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the condition never held")


@contextlib.asynccontextmanager
async def gated(provider: DepartmentProvider) -> AsyncIterator[None]:
    """Lookups and BatchLookups are held at the provider until their gate is set (both are set on leaving)."""
    provider.gate, provider.batch_gate = asyncio.Event(), asyncio.Event()
    provider.entered.clear()
    provider.batch_entered.clear()
    try:
        yield
    finally:
        provider.gate.set()
        provider.batch_gate.set()
        provider.gate = provider.batch_gate = None


async def queue_behind_a_lone_miss(cache: RecordCache, provider: DepartmentProvider, target: str, dataset: str,
                                   keys: list[str]) -> tuple[asyncio.Task, list[asyncio.Task]]:
    """Inside ``gated``: a lone miss (a Lookup, held at the provider), and lookups of ``keys`` queued behind it
    (until the lone miss returns, or a batch fills up)."""
    opener = asyncio.create_task(cache.get(target, dataset, "OPENER"))
    await asyncio.wait_for(provider.entered.wait(), 10)
    waiters = [asyncio.create_task(cache.get(target, dataset, key)) for key in keys]
    await until(lambda: provider.batch_entered.is_set() or cache._misses.pending((target, dataset)) == len(set(keys)))
    return opener, waiters


async def test_concurrent_misses_collapse_into_few_batch_lookups(records: RecordCache, endpoint) -> None:
    target, provider = endpoint
    dataset = f"ds-{uuid.uuid4().hex[:8]}"
    keys = [f"N{i:02d}" for i in range(40)]
    for key in keys:
        provider.records[key] = record(key, key)
    lookups, batches = provider.lookups, len(provider.batch_lookups)
    found = await asyncio.gather(*(records.get(target, dataset, key) for key in keys))
    assert [r.values["name"] for r in found] == keys
    single, sent = calls_since(provider, lookups, batches)
    # The first miss leaves alone at once (a Lookup); those that come while it is out leave together.
    assert single + len(sent) <= 4 and single + sum(len(batch) for batch in sent) == 40


async def test_misses_queued_behind_a_call_leave_as_one_batch_lookup(records: RecordCache, endpoint,
                                                                     redis_client) -> None:
    target, provider = endpoint
    dataset = f"ds-{uuid.uuid4().hex[:8]}"
    keys = [f"M{i:02d}" for i in range(40)]
    for key in keys[:30]:  # the last ten have no record
        provider.records[key] = record(key, f"name {key}")
    lookups, batches = provider.lookups, len(provider.batch_lookups)
    async with gated(provider):
        provider.batch_gate.set()
        opener, waiters = await queue_behind_a_lone_miss(records, provider, target, dataset, keys + keys)
        provider.gate.set()
        found = await asyncio.gather(*waiters)
        assert await opener is None
    single, sent = calls_since(provider, lookups, batches)
    assert single == 1 and len(sent) == 1 and sorted(sent[0]) == keys  # each key once, though asked twice
    assert provider.callers[-1] == "platform" and provider.verifier.mesh_assertions == 0
    assert [r.values["name"] if r is not None else None for r in found[:40]] == (
        [f"name {key}" for key in keys[:30]] + [None] * 10)
    assert found[:40] == found[40:]
    # Stored as a lone miss stores them: tagged with the Redis server's id, absences as an empty value.
    assert await redis_client.get(cache_key(target, dataset, "M00")) == await on_server(
        redis_client, record("M00", "name M00").SerializeToString())
    assert await redis_client.get(cache_key(target, dataset, "M39")) == await on_server(redis_client, b"")
    assert 0 < await redis_client.ttl(cache_key(target, dataset, "M39")) <= 30
    assert await asyncio.gather(*(records.get(target, dataset, key) for key in keys)) == found[:40]
    assert calls_since(provider, lookups, batches) == (1, sent)


async def test_a_lone_miss_is_one_lookup_sent_at_once(records: RecordCache, endpoint) -> None:
    target, provider = endpoint
    dataset = f"ds-{uuid.uuid4().hex[:8]}"
    provider.records["ALONE"] = record("ALONE")
    lookups, batches = provider.lookups, len(provider.batch_lookups)
    assert await records.get(target, dataset, "ALONE") == record("ALONE")
    assert calls_since(provider, lookups, batches) == (1, [])


async def test_batches_are_bounded_and_a_full_one_leaves_at_once(small_batches: RecordCache, endpoint) -> None:
    target, provider = endpoint
    dataset = f"ds-{uuid.uuid4().hex[:8]}"
    keys = [f"L{i:02d}" for i in range(20)]
    for key in keys:
        provider.records[key] = record(key, key)
    lookups, batches = provider.lookups, len(provider.batch_lookups)
    async with gated(provider):
        opener, waiters = await queue_behind_a_lone_miss(small_batches, provider, target, dataset, keys)
        # Sixteen of the twenty made two full batches, which left at once; four wait for a call to come back.
        await until(lambda: len(provider.batch_lookups) - batches == 2)
        assert small_batches._misses.pending((target, dataset)) == 4
        provider.gate.set()
        await opener
        await asyncio.sleep(0.02)
        assert small_batches._misses.pending((target, dataset)) == 4  # two batches are still out
        provider.batch_gate.set()
        answers = await asyncio.gather(*waiters)
    assert [r.values["name"] for r in answers] == keys
    single, sent = calls_since(provider, lookups, batches)
    assert single == 1 and [len(batch) for batch in sent] == [8, 8, 4]
    assert sorted(key for batch in sent for key in batch) == keys


async def test_a_failed_batch_fails_its_own_waiters_only(records: RecordCache, endpoint) -> None:
    target, provider = endpoint
    dataset = f"ds-{uuid.uuid4().hex[:8]}"
    for key in ("P1", "P2", "Q1", "Q2"):
        provider.records[key] = record(key, key)
    try:
        async with gated(provider):
            opener, failing = await queue_behind_a_lone_miss(records, provider, target, dataset, ["P1", "P2"])
            provider.gate.set()
            await asyncio.wait_for(provider.batch_entered.wait(), 10)  # P1, P2 are out
            provider.fail_batches = 1
            queued = [asyncio.create_task(records.get(target, dataset, key)) for key in ("Q1", "Q2")]
            await until(lambda: records._misses.pending((target, dataset)) == 2)
            provider.batch_gate.set()
            outcomes = await asyncio.gather(*failing, return_exceptions=True)
            answers = await asyncio.gather(*queued)
            await opener
    finally:
        provider.fail_batches = 0
    for outcome in outcomes:
        assert isinstance(outcome, ServiceError)
        assert outcome.code == grpc.StatusCode.UNAVAILABLE and outcome.reason == "PROVIDER_UNAVAILABLE"
        assert target in outcome.message and "P1" not in outcome.message
    assert [r.values["name"] for r in answers] == ["Q1", "Q2"]
    # Nothing was cached for the failed keys: asked again, they are read.
    assert (await records.get(target, dataset, "P1")).values["name"] == "P1"


async def test_a_cancelled_waiter_does_not_break_its_batch(records: RecordCache, endpoint) -> None:
    """A client that goes away stops waiting; the others in its batch, and on its own key, get their records."""
    target, provider = endpoint
    dataset = f"ds-{uuid.uuid4().hex[:8]}"
    for key in ("C1", "C2", "C3"):
        provider.records[key] = record(key, key)
    async with gated(provider):
        opener, first = await queue_behind_a_lone_miss(records, provider, target, dataset, ["C1", "C2", "C3"])
        same_key = asyncio.create_task(records.get(target, dataset, "C1"))  # joins C1's flight
        await asyncio.sleep(0.01)
        first[0].cancel()  # the one that opened C1's flight
        first[1].cancel()
        await asyncio.sleep(0.01)
        provider.gate.set()
        provider.batch_gate.set()
        assert (await first[2]).values["name"] == "C3"
        assert (await same_key).values["name"] == "C1"
        await opener
    assert first[0].cancelled() and first[1].cancelled()
    assert provider.batch_lookups[-1] == ["C1", "C2", "C3"]


async def test_a_change_event_during_a_batch_keeps_its_records_out_of_the_cache(held: RecordCache, endpoint,
                                                                               redis_client) -> None:
    target, provider = endpoint
    dataset = f"ds-{uuid.uuid4().hex[:8]}"
    for key in ("E1", "E2"):
        provider.records[key] = record(key, "before")
    async with gated(provider):
        opener, pending = await queue_behind_a_lone_miss(held, provider, target, dataset, ["E1", "E2"])
        provider.gate.set()
        await asyncio.wait_for(provider.batch_entered.wait(), 10)  # E1, E2 are out
        held.on_records_changed({"endpoint": target, "dataset": dataset, "keys": ["E1"]})
        provider.batch_gate.set()
        assert all(r is not None for r in await asyncio.gather(*pending))
        await opener
    assert await redis_client.get(cache_key(target, dataset, "E1")) is None
    assert await redis_client.get(cache_key(target, dataset, "E2")) is None
    for key in ("E1", "E2"):
        provider.records[key] = record(key, "after")
    assert [r.values["name"] for r in await asyncio.gather(*(held.get(target, dataset, key) for key in ("E1", "E2")))
            ] == ["after", "after"]


async def test_a_batch_refused_as_a_whole_is_asked_key_by_key(records: RecordCache, endpoint) -> None:
    """One key the provider does not accept must not make the others absent."""
    target, provider = endpoint
    dataset = f"ds-{uuid.uuid4().hex[:8]}"
    provider.records["G1"] = record("G1", "good")
    provider.refused_keys = {"BAD"}
    try:
        async with gated(provider):
            opener, waiters = await queue_behind_a_lone_miss(records, provider, target, dataset, ["G1", "BAD", "G2"])
            lookups, batches = provider.lookups, len(provider.batch_lookups)
            provider.gate.set()
            provider.batch_gate.set()
            found = await asyncio.gather(*waiters)
            await opener
    finally:
        provider.refused_keys = set()
    assert found[0].values["name"] == "good" and found[1] is None and found[2] is None
    assert calls_since(provider, lookups, batches) == (3, [["G1", "BAD", "G2"]])


async def test_a_row_the_database_cannot_send_fails_its_key_only_and_never_rests_the_endpoint(
        records: RecordCache, endpoint, redis_client, base_settings: Settings) -> None:
    """The 前置机's RECORD_UNREADABLE is about one row: asked for more times than it takes to open the circuit, it
    is that key's FAILED_PRECONDITION each time (not PROVIDER_UNAVAILABLE), the endpoint answers other keys, and
    nothing is cached for the row (the department may fix it)."""
    target, provider = endpoint
    dataset = f"ds-{uuid.uuid4().hex[:8]}"
    provider.records["U1"] = record("U1", "bad")
    provider.records["R1"] = record("R1", "good")
    provider.unreadable_keys = {"U1"}
    try:
        for _ in range(base_settings.provider_breaker_failures + 2):
            with pytest.raises(ServiceError) as failure:
                await records.get(target, dataset, "U1")
            assert failure.value.code == grpc.StatusCode.FAILED_PRECONDITION
            assert failure.value.reason == "RECORD_UNREADABLE" and "U1" not in failure.value.message
        assert not records._providers._guard(target).open
        assert (await records.get(target, dataset, "R1")).values["name"] == "good"
        assert await redis_client.get(cache_key(target, dataset, "U1")) is None
    finally:
        provider.unreadable_keys = set()


async def test_a_batch_holding_an_unreadable_row_answers_its_other_keys(records: RecordCache, endpoint,
                                                                        redis_client) -> None:
    """The 前置机 refuses the whole BatchLookup for one row it cannot send: the batch is asked again in halves, the
    row's key alone comes back UNREADABLE (uncached), the others as they are."""
    target, provider = endpoint
    dataset = f"ds-{uuid.uuid4().hex[:8]}"
    provider.records["B1"] = record("B1", "one")
    provider.records["BU"] = record("BU", "bad")
    provider.unreadable_keys = {"BU"}
    try:
        found = await records.get_many(target, dataset, ["B1", "BU", "B2"])
        collapsed = await asyncio.gather(*(records.get(target, dataset, key) for key in ("B1", "BU", "B3")),
                                         return_exceptions=True)
    finally:
        provider.unreadable_keys = set()
    assert found["B1"].values["name"] == "one" and found["BU"] is UNREADABLE and found["B2"] is None
    assert await redis_client.get(cache_key(target, dataset, "BU")) is None
    assert await redis_client.get(cache_key(target, dataset, "B1")) is not None
    assert collapsed[0].values["name"] == "one" and collapsed[2] is None
    assert isinstance(collapsed[1], ServiceError) and collapsed[1].reason == "RECORD_UNREADABLE"
    assert not records._providers._guard(target).open
    assert (await records.get(target, dataset, "BU")).values["name"] == "bad"  # fixed: read again


async def test_a_large_batch_is_split_in_halves_around_an_unreadable_row(records: RecordCache, endpoint) -> None:
    """Asked key by key, a 64-key batch with one unreadable row cost 64 Lookups of the department's rate limit (a
    1,000-key BatchQuery, 1,000): in halves, about 2·log2(64) calls."""
    target, provider = endpoint
    dataset = f"ds-{uuid.uuid4().hex[:8]}"
    keys = [f"H{index:02d}" for index in range(64)]
    for key in keys:
        provider.records[key] = record(key, key)
    provider.unreadable_keys = {"H37"}
    lookups, batches = provider.lookups, len(provider.batch_lookups)
    try:
        found = await records.get_many(target, dataset, keys)
    finally:
        provider.unreadable_keys = set()
    assert found["H37"] is UNREADABLE
    assert [found[key].values["name"] for key in keys if key != "H37"] == [key for key in keys if key != "H37"]
    single, batched = calls_since(provider, lookups, batches)
    assert single + len(batched) <= 13, (single, batched)


async def test_a_batch_whose_answer_is_too_large_to_take_is_asked_in_halves_and_never_rests_the_endpoint(
        records: RecordCache, endpoint) -> None:
    """A BatchLookup of long records whose answer is over the 64 MiB the platform's channel takes (1,000 keys of
    ~70 KB) was counted as the endpoint down: PROVIDER_UNAVAILABLE naming the department, and a few such batches
    rested its endpoint for every caller. The batch is asked again in halves that fit; a record too large alone
    is that record's error."""
    target, provider = endpoint
    dataset = f"ds-{uuid.uuid4().hex[:8]}"
    keys = ["L1", "L2", "L3"]
    for key in keys:
        provider.records[key] = record(key, key * (12 * 1024 * 1024))  # 24 MiB each, 72 MiB together
    batches = len(provider.batch_lookups)
    try:
        found = await records.get_many(target, dataset, keys)
        assert [found[key].values["name"][:2] for key in keys] == keys
        assert [len(asked) for asked in provider.batch_lookups[batches:]] == [3, 2]  # the first half is one key
        guard = records._providers._guard(target)
        assert guard._failures == 0 and not guard.open  # the endpoint answered: nothing counted against it
        await records.forget(target, dataset, keys)
    finally:
        for key in keys:
            provider.records.pop(key, None)


async def test_an_export_stopped_by_an_unreadable_row_says_so(records: RecordCache, endpoint) -> None:
    """A page holding a row the database cannot send ends the export RECORD_UNREADABLE, not PROVIDER_UNAVAILABLE
    'could not be reached', after the pages before it."""
    target, provider = endpoint
    saved, provider.records = provider.records, {"X1": record("X1"), "X2": record("X2")}
    provider.unreadable_keys = {"X2"}
    pages: list[list[provider_pb2.Record]] = []
    try:
        with pytest.raises(ServiceError) as failure:
            async for page in records._providers.export(target, "ds"):
                pages.append(list(page.records))
    finally:
        provider.records, provider.unreadable_keys = saved, set()
    assert [[r.key for r in page] for page in pages] == [["X1"]]
    assert failure.value.code == grpc.StatusCode.FAILED_PRECONDITION and failure.value.reason == "RECORD_UNREADABLE"


async def test_a_record_answered_under_another_key_is_not_served_as_the_one_asked(
        records: RecordCache, endpoint, caplog: pytest.LogCaptureFixture) -> None:
    """A 前置机 mapping the key item to the wrong column answers another person's record: a Lookup served it as
    the record of the key asked (a BatchLookup dropped it, so the same key answered differently alone and in a
    batch). Neither serves it, and the log names the endpoint and the dataset, never a key."""
    target, provider = endpoint
    dataset = f"ds-{uuid.uuid4().hex[:8]}"
    provider.records["OTHER1"] = record("OTHER1", "李四")
    provider.records["OK1"] = record("OK1", "ok")
    provider.misfiled = {"ASKED1": "OTHER1", "ASKED2": "OTHER1", "DUP": "OK1"}
    caplog.set_level(logging.WARNING, logger="services.query.records")
    try:
        alone = await records.get(target, dataset, "ASKED1")
        batch = await records.get_many(target, dataset, ["ASKED2", "OK1", "DUP"])
    finally:
        provider.misfiled = {}
    assert alone is None
    assert batch["ASKED2"] is None and batch["DUP"] is None and batch["OK1"].values["name"] == "ok"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and target in warnings[0] and dataset in warnings[0]
    assert "OTHER1" not in warnings[0] and "ASKED1" not in warnings[0]


def in_trace(trace_id: int, work: Awaitable[T]) -> asyncio.Task[T]:
    """``work`` as a task of its own inside a (sampled) trace ``trace_id``, as a query's call would be."""
    span = NonRecordingSpan(SpanContext(trace_id, 1, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED)))
    with trace.use_span(span):
        return asyncio.ensure_future(work)


async def test_a_batch_is_traced_in_the_request_that_asked_first(records: RecordCache, endpoint) -> None:
    """The provider call of a batch belongs to the trace of its first key's query, not to that of the query
    whose call happened to be out before it."""
    target, provider = endpoint
    dataset = f"ds-{uuid.uuid4().hex[:8]}"
    for key in ("T1", "T2"):
        provider.records[key] = record(key, key)
    async with gated(provider):
        opener = in_trace(0xA0, records.get(target, dataset, "OPENER"))
        await asyncio.wait_for(provider.entered.wait(), 10)
        waiters = [in_trace(0xA1, records.get(target, dataset, "T1")),
                   in_trace(0xA2, records.get(target, dataset, "T2"))]
        await until(lambda: records._misses.pending((target, dataset)) == 2)
        provider.gate.set()
        provider.batch_gate.set()
        await asyncio.gather(opener, *waiters)
    assert provider.batch_lookups[-1] == ["T1", "T2"]
    assert provider.batch_traceparents[-1].split("-")[1] == f"{0xA1:032x}"


async def test_the_platforms_own_foundation_service_down_is_not_blamed_on_the_department(
        base_settings: Settings) -> None:
    """With the foundation service down, a query of a foundation resource (法人单位基本信息) was told "the provider
    department 11110100MB0000003A does not answer": the department runs no endpoint for it and could do nothing.
    The platform's service is named; a department's 前置机 that does not answer is still the department's."""
    foundation = "127.0.0.1:1"
    settings = dataclasses.replace(base_settings, foundation_target=foundation, call_timeout_seconds=2)
    clients = ProviderClients(settings, AssertionSigner(settings.internal_key), service_caller("query"),
                              ProviderAssertionSigner(settings.provider_signing_key))
    access = Access(operation="Query", system_id="sys", department_code="D", resource_code="102001/000001", key="K",
                    keys=[], items=[], purpose="", purpose_text="", trace_id="", time=dt.datetime.now(dt.UTC),
                    provider_department_code="11110100MB0000003A")
    try:
        failures = []
        for target in (foundation, "127.0.0.2:1"):
            with pytest.raises(ServiceError) as failure:
                await clients.lookup(target, "legal_entity", "K")
            assert failure.value.reason == "PROVIDER_UNAVAILABLE"
            _name_the_provider(failure.value, access)
            failures.append(failure.value)
    finally:
        await clients.close()
    platform, department = failures
    assert "foundation data service does not answer" in platform.message and "102001/000001" in platform.message
    assert "127.0.0.1" not in platform.message and not platform.metadata
    assert department.message.startswith("the provider department 11110100MB0000003A does not answer")


async def test_a_batch_its_provider_does_not_answer_in_time_answers_the_keys_at_hand(records: RecordCache,
                                                                                     endpoint) -> None:
    """A BatchQuery whose provider had not answered its misses by the caller's deadline failed whole
    (PROVIDER_UNAVAILABLE), the keys already in the cache withheld with them: the caller asked them all again, of a
    provider that was not answering. The keys at hand are answered; each other is Unanswered, told as a Query of it
    is refused (the department named, never its address). With none at hand the batch still fails."""
    target, provider = endpoint
    dataset = f"ds-{uuid.uuid4().hex[:8]}"
    for key in ("H1", "W1", "W2"):
        provider.records[key] = record(key, key)
    assert (await records.get_many(target, dataset, ["H1"]))["H1"].values["name"] == "H1"

    async def within_half_a_second(keys: list[str]) -> dict:
        STREAM_DEADLINE.set(asyncio.get_running_loop().time() + 0.5)  # the caller's deadline (this task's own)
        return await records.get_many(target, dataset, keys)

    async with gated(provider):  # the provider answers no BatchLookup until the test is over
        found = await asyncio.create_task(within_half_a_second(["H1", "W1", "W2"]))
        with pytest.raises(ServiceError) as none_at_hand:
            await asyncio.create_task(within_half_a_second(["W1", "W2"]))
    assert found["H1"].values["name"] == "H1"
    assert isinstance(found["W1"], Unanswered) and found["W2"] == found["W1"]
    assert found["W1"].error.reason == "PROVIDER_UNAVAILABLE" and CALLERS_DEADLINE in found["W1"].error.metadata
    assert none_at_hand.value.reason == "PROVIDER_UNAVAILABLE"
    access = Access(operation="BatchQuery", system_id="sys", department_code="D", resource_code="101001/000001",
                    key="3", keys=[], items=[], purpose="", purpose_text="", trace_id="", time=dt.datetime.now(dt.UTC),
                    provider_department_code="11110100MB0000003A")
    unanswered = _unanswered(found, access)
    assert unanswered is not None
    told, cause = unanswered
    assert cause == "CANCELLED"  # the access record's cause: not answered within the caller's deadline
    assert told.startswith("the provider department 11110100MB0000003A does not answer for "
                                                "resource 101001/000001 within this call's deadline"), told
    assert target not in told and "W1" not in told
    assert CALLERS_DEADLINE in found["W1"].error.metadata  # the shared error is not changed by its wording
    assert _unanswered({"H1": found["H1"]}, access) is None
