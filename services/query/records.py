"""Records: the Redis record cache in front of the provider endpoints.

A record is read from the process's own short-lived copy of what it read last
(:class:`LocalRecords`), then from Redis (``rec2:{endpoint}:{dataset}:{key}``, a serialized
govshare.provider.v1.Record, through the pipelined reader of redis_reads.py) and,
on a miss, from the provider endpoint named by the catalog entry through the
standard ProviderService contract, then cached with a TTL. Concurrent misses on one
endpoint and dataset are collapsed into one BatchLookup (:class:`KeyBatcher`): the
provider hop, and the Redis write of what it returned, are paid per batch, not per
key. While Redis is down,
records come from the provider: Redis is only ever a cache. Absent records are
cached briefly as an empty value (a real record always has a key, so it never
serializes to nothing). Providers delete the keys of records they change and
publish RECORDS_CHANGED, which drops the in-process copies of every replica; a
change event during a read keeps what was read, maybe older, out of both caches.

Every cache identity holds the provider endpoint as well as the dataset: the Redis key, the
in-process copy, the singleflight name, the batcher lane, the change generation and the
invalidation (two departments' 前置机, or one department's two, may serve datasets of the same
name with different rows; each resource answers its own endpoint's). Each (endpoint, dataset)
has its Redis key prefix computed once (:meth:`RecordCache._prefix`), which also names it in
process. Entries of the format without the endpoint (``rec:{dataset}:{key}``) are never read.

A cached value is valid only on the Redis server process that it was written to:
each value starts with that server's id (from its run_id, see redis_reads.py), and
a value carrying another id is a miss. A Redis restarted from its RDB snapshot, or
a replica promoted in a failover, comes back with values written before the outage,
when changes made meanwhile could not delete them; none of them is ever served, and
the in-process copies are dropped when the reader reaches a new server. While the
event subscription is down (changes cannot be heard), nothing is held in process.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any

import grpc
import redis.asyncio as aioredis
from google.protobuf.message import DecodeError
from redis.exceptions import RedisError

from govshare.provider.v1 import provider_pb2, provider_pb2_grpc
from services.query.endpoints import EndpointDown, EndpointGuard
from services.query.redis_reads import RedisReader
from services.runtime.batching import KeyBatcher
from services.runtime.cache import FOUNDATION_ENDPOINT, RecordInvalidator, record_cache_key, record_key_prefix
from services.runtime.callers_time import within_callers_time
from services.runtime.clients import call_metadata, open_channel, trace_metadata
from services.runtime.errors import ServiceError, details_of
from services.runtime.identity import AssertionSigner, Caller
from services.runtime.provider_assertions import ProviderAssertionSigner
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
MISFILED_LOG_INTERVAL_SECONDS = 60.0
#: Keys per BatchLookup of collapsed misses (the provider contract allows 1,000; a smaller batch returns sooner).
MISS_BATCH_MAX = 256
#: What a provider answers when it refuses a batch as a whole (a key it does not accept, an unknown dataset,
#: no BatchLookup): the batch is then asked key by key, as Lookup answers such a key, with an absence.
_REFUSED_AS_A_WHOLE = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNIMPLEMENTED)

log = logging.getLogger(__name__)
_UNUSABLE = object()  # a cached value that does not parse: treated as a miss
_HIT = CACHE_LOOKUPS.labels("record", "hit")
_MISS = CACHE_LOOKUPS.labels("record", "miss")
_LOCAL_HIT = CACHE_LOOKUPS.labels("record_local", "hit")
_LOCAL_MISS = CACHE_LOOKUPS.labels("record_local", "miss")
MISSING = object()  # not held in process


cache_key = record_cache_key
#: ProviderClients.batch_lookup or .collapsed_lookup: (target, dataset, keys) -> the records found, by key.
FetchRecords = Callable[[str, str, list[str]], Awaitable[dict[str, Record]]]


#: ServiceError.metadata key set on PROVIDER_UNAVAILABLE when the endpoint that failed is the platform's own
#: foundation service, not a department's 前置机 (the query servicer words the caller's message by it).
PLATFORM_ENDPOINT = "platform_endpoint"


#: ServiceError.metadata key set on PROVIDER_UNAVAILABLE when the provider had not answered by the caller's deadline,
#: before its own timeout (the query servicer says so in the caller's message).
CALLERS_DEADLINE = "callers_deadline"

#: Provider reads a BatchQuery stopped waiting for at its deadline, kept until they end (they fill the cache), and
#: the Redis writes of what providers answered, which no caller waits for.
_LEFT_BEHIND: set[asyncio.Task] = set()


def _left_behind(task: asyncio.Task) -> None:
    """Drops a provider read its caller stopped waiting for, once it ended, and retrieves its outcome."""
    _LEFT_BEHIND.discard(task)
    if not task.cancelled():
        task.exception()


def _provider_unavailable(target: str, exc: grpc.aio.AioRpcError, in_mesh: bool = False) -> ServiceError:
    return ServiceError(grpc.StatusCode.UNAVAILABLE, "PROVIDER_UNAVAILABLE",
                        f"the provider endpoint {target} could not be reached ({exc.code().name})",
                        metadata={PLATFORM_ENDPOINT: "foundation"} if in_mesh else {})


#: Answers of a provider that are about the request, not the endpoint's health (they never open its circuit).
_ANSWERS = (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNIMPLEMENTED)
#: The value of a key whose row the provider's database cannot send (its 前置机 answers FAILED_PRECONDITION
#: RECORD_UNREADABLE, docs/frontproc.md): that record's answer, never cached, never held in process.
UNREADABLE: Any = object()


@dataclasses.dataclass(frozen=True)
class Unanswered:
    """The value of a batch's key its provider did not answer (it failed, or had not answered by the caller's
    deadline) while other keys of the batch came from the caches: ``error`` is what a Query of it is refused with
    (PROVIDER_UNAVAILABLE). The batch answers the keys it has; failed whole, the records already at hand were
    withheld and the caller asked every key of it again, of a provider that was not answering."""

    error: ServiceError


def unreadable(exc: grpc.aio.AioRpcError) -> bool:
    """Whether a provider's refusal is about one row its database cannot send, not about the endpoint: such a
    row would otherwise rest the endpoint for every caller, and fail every batch that holds its key."""
    if exc.code() != grpc.StatusCode.FAILED_PRECONDITION:
        return False
    info, _ = details_of(exc)
    return info is not None and info.reason == "RECORD_UNREADABLE"


def too_large(exc: grpc.aio.AioRpcError) -> bool:
    """Whether a provider's answer was refused by this side's channel for its size (over 64 MiB: a BatchLookup of
    long records, ~70 KB each for 1,000 keys). The endpoint answered: counted as down, one such batch rested it
    for every caller (PROVIDER_UNAVAILABLE naming the department); the batch is asked again in halves instead, and
    the caller then gets REPLY_TOO_LARGE saying how many keys fit, as for an answer over its own 8 MiB."""
    return exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "larger than max" in (exc.details() or "")


def record_unreadable() -> ServiceError:
    """What a caller is told of a record its provider's database cannot send (the query servicer names the
    department and the resource): the row is the department's to fix; asking again will not help until then."""
    return ServiceError(grpc.StatusCode.FAILED_PRECONDITION, "RECORD_UNREADABLE",
                        "the provider department's database holds this record but cannot send it (a value not "
                        "valid in its encoding, say): the department must fix the row")


class ProviderClients:
    """One channel per provider endpoint; every call has a deadline and the query service's identity.

    The foundation service (``GOVSHARE_FOUNDATION_TARGET``) is in the mesh: it gets the internal assertion.
    Every other endpoint is a department's 前置机: it gets only a per-call platform assertion bound to it
    (services.runtime.provider_assertions), never the mesh's, and its calls run under its own guard
    (services.query.endpoints: deadline, bounded concurrency, circuit breaker, figures).
    """

    def __init__(self, settings: Settings, signer: AssertionSigner, identity: Caller,
                 provider_signer: ProviderAssertionSigner | None = None) -> None:
        self._settings = settings
        self._signer = signer
        self._identity = identity
        self._provider_signer = provider_signer
        self._foundation = settings.foundation_target
        self._timeout = settings.call_timeout_seconds
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._stubs: dict[str, provider_pb2_grpc.ProviderServiceStub] = {}
        self._guards: dict[str, EndpointGuard] = {}
        #: When each (endpoint, dataset) last had a misfiled answer logged (at most once a minute each).
        self._misfiled_logged: dict[tuple[str, str], float] = {}

    def _stub(self, target: str) -> provider_pb2_grpc.ProviderServiceStub:
        stub = self._stubs.get(target)
        if stub is None:
            # A 前置机 refuses a platform assertion it has seen: a transparent retry would resend the same one, so
            # department endpoints get no channel-level retries (their guard rests a failing endpoint instead).
            retried = (PROVIDER_SERVICE,) if self._in_mesh(target) else ()
            channel = open_channel(target, self._settings, idempotent_services=retried)
            self._channels[target] = channel
            stub = self._stubs[target] = provider_pb2_grpc.ProviderServiceStub(channel)
        return stub

    def _in_mesh(self, target: str) -> bool:
        return not target or target == self._foundation

    def cache_endpoint(self, target: str) -> str:
        """The endpoint's name in record cache keys and change notices: FOUNDATION_ENDPOINT for the foundation
        service (an entry's empty target and GOVSHARE_FOUNDATION_TARGET reach the same records), else the target."""
        return FOUNDATION_ENDPOINT if self._in_mesh(target) else target

    def _metadata(self, target: str) -> tuple[tuple[str, str], ...]:
        if self._in_mesh(target):
            return call_metadata(self._signer, self._identity)
        if self._provider_signer is None:
            raise ServiceError(grpc.StatusCode.UNAVAILABLE, "PROVIDER_UNAVAILABLE",
                               "department endpoints cannot be called: GOVSHARE_PROVIDER_SIGNING_KEY is not set")
        return (*self._provider_signer.metadata(target), *trace_metadata())

    def _guard(self, target: str) -> EndpointGuard:
        guard = self._guards.get(target)
        if guard is None:
            s = self._settings
            guard = self._guards[target] = EndpointGuard(target, s.provider_concurrency, s.provider_breaker_failures,
                                                         s.provider_breaker_open_seconds)
        return guard

    async def _unary(self, target: str, method: str, request: Any) -> Any:
        """One unary call: as before for the foundation; guarded, with the department timeout, for a 前置机.
        Raises the AioRpcError (callers map it)."""
        if self._in_mesh(target):
            return await getattr(self._stub(target), method)(request, timeout=self._timeout,
                                                             metadata=self._metadata(target))
        try:
            async with self._guard(target).call():
                try:
                    return await getattr(self._stub(target), method)(
                        request, timeout=self._settings.provider_timeout_seconds, metadata=self._metadata(target))
                except grpc.aio.AioRpcError as exc:
                    if exc.code() in _ANSWERS or unreadable(exc) or too_large(exc):
                        raise
                    raise EndpointDown(exc) from exc
        except EndpointDown as down:
            raise down.error from None

    def not_in_time(self, target: str) -> ServiceError:
        """What a caller is told when ``target`` had not answered by its deadline: PROVIDER_UNAVAILABLE naming it,
        as when it fails, though the call goes on (to its own timeout) for the other callers of its keys and is
        counted by the endpoint's guard as what it turns out to be, not as a failure for this caller's want of
        time."""
        metadata = {CALLERS_DEADLINE: "1"}
        if self._in_mesh(target):
            metadata[PLATFORM_ENDPOINT] = "foundation"
        return ServiceError(grpc.StatusCode.UNAVAILABLE, "PROVIDER_UNAVAILABLE",
                            f"the provider endpoint {target} had not answered by the caller's deadline",
                            metadata=metadata)

    async def lookup(self, target: str, dataset: str, key: str) -> Record | None:
        """The record of ``key`` (None when absent, UNREADABLE when its database cannot send it)."""
        try:
            response = await self._unary(target, "Lookup", provider_pb2.LookupRequest(dataset=dataset, key=key))
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                return None
            if unreadable(exc) or too_large(exc):  # one record the platform cannot take: that record's error
                return UNREADABLE
            raise _provider_unavailable(target, exc, self._in_mesh(target)) from exc
        if not response.found:
            return None
        if response.record.key != key:
            self._misfiled(target, dataset, 1)
            return None
        return response.record

    async def batch_lookup(self, target: str, dataset: str, keys: list[str]) -> dict[str, Record]:
        """The records of ``keys``; a batch holding a row the database cannot send, or whose answer is too large
        to take, is asked again in halves, so only that key is UNREADABLE and the others answer."""
        try:
            return await self._batch_lookup(target, dataset, keys)
        except grpc.aio.AioRpcError as exc:
            if not unreadable(exc) and not too_large(exc):
                raise _provider_unavailable(target, exc, self._in_mesh(target)) from exc
        return await self._in_halves(target, dataset, keys)

    async def collapsed_lookup(self, target: str, dataset: str, keys: list[str]) -> dict[str, Record]:
        """The records of the misses of concurrent queries: Lookup for a lone key, else one BatchLookup.

        Each key must come out as it would from its own Lookup, whatever the others: a batch the provider
        refuses as a whole (INVALID_ARGUMENT, NOT_FOUND, UNIMPLEMENTED — one key it does not accept must not
        make the others absent) is asked again key by key; one refused for a row its database cannot send
        (RECORD_UNREADABLE), in halves."""
        if len(keys) == 1:
            record = await self.lookup(target, dataset, keys[0])
            return {} if record is None else {keys[0]: record}
        try:
            return await self._batch_lookup(target, dataset, keys)
        except grpc.aio.AioRpcError as exc:
            if unreadable(exc) or too_large(exc):
                return await self._in_halves(target, dataset, keys)
            if exc.code() not in _REFUSED_AS_A_WHOLE:
                raise _provider_unavailable(target, exc, self._in_mesh(target)) from exc
        return await self._key_by_key(target, dataset, keys)

    async def _in_halves(self, target: str, dataset: str, keys: list[str]) -> dict[str, Record]:
        """A batch refused for a row its database cannot send, asked again in halves until that row's key is
        alone (UNREADABLE) and every other key answered: about 2·log2(n) calls for one such row, where a call per
        key spent n of the department's rate limit (over it, the endpoint is rested for everyone)."""
        if len(keys) == 1:
            record = await self.lookup(target, dataset, keys[0])
            return {} if record is None else {keys[0]: record}
        middle = len(keys) // 2
        found: dict[str, Record] = {}
        for half in await asyncio.gather(self.collapsed_lookup(target, dataset, keys[:middle]),
                                         self.collapsed_lookup(target, dataset, keys[middle:])):
            found.update(half)
        return found

    async def _key_by_key(self, target: str, dataset: str, keys: list[str]) -> dict[str, Record]:
        found = await asyncio.gather(*(self.lookup(target, dataset, key) for key in keys))
        return {key: record for key, record in zip(keys, found, strict=True) if record is not None}

    async def _batch_lookup(self, target: str, dataset: str, keys: list[str]) -> dict[str, Record]:
        response = await self._unary(target, "BatchLookup",
                                     provider_pb2.BatchLookupRequest(dataset=dataset, keys=keys))
        asked = set(keys)
        records: dict[str, Record] = {}
        for record in response.records:
            if record.key in asked and record.key not in records:
                records[record.key] = record
        if len(records) < len(response.records):
            self._misfiled(target, dataset, len(response.records) - len(records))
        return records

    def _misfiled(self, target: str, dataset: str, count: int) -> None:
        """A provider answered records under keys it was not asked for (or one key twice): a 前置机 whose key
        mapping is wrong. Such a record is no answer for the key asked (it was served as that person's record);
        the operators are told which endpoint and dataset, never the keys (personal data)."""
        now = time.monotonic()
        if now - self._misfiled_logged.get((target, dataset), -MISFILED_LOG_INTERVAL_SECONDS) < \
                MISFILED_LOG_INTERVAL_SECONDS:
            return
        self._misfiled_logged[(target, dataset)] = now
        log.warning("provider endpoint %s answered %d record%s of %s under a key it was not asked for, or twice: "
                    "not served (its key mapping is wrong; the department's 前置机 configuration must map the "
                    "key item to the table's key column)", target, count, "" if count == 1 else "s", dataset)

    async def export(self, target: str, dataset: str) -> AsyncIterator[provider_pb2.ExportResponse]:
        """Pages of every current record of ``dataset``, each with the records the provider left out of it
        (``skipped``: rows its database cannot send)."""
        call = self._stub(target).Export(
            provider_pb2.ExportRequest(dataset=dataset, page_size=EXPORT_PAGE_SIZE),
            timeout=max(EXPORT_TIMEOUT_SECONDS, self._timeout), metadata=self._metadata(target))
        pages = aiter(call)
        try:
            # Each page within the caller's time: a 前置机 that stopped sending midway (hung, its machine lost)
            # left the caller to its deadline, DEADLINE_EXCEEDED naming nothing, where a lookup names it.
            while (page := await within_callers_time(anext(pages, None), lambda: self.not_in_time(target))
                   ) is not None:
                yield page
        except grpc.aio.AioRpcError as exc:
            if unreadable(exc):
                raise record_unreadable() from exc
            raise _provider_unavailable(target, exc, self._in_mesh(target)) from exc
        finally:
            call.cancel()

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
        self._stubs.clear()



def _partition(keys: list[str], values: list[Any], absent: object) -> tuple[dict[str, Record | None], list[str]]:
    """The keys that have a value (with it), and those whose value is ``absent``, in order."""
    found: dict[str, Record | None] = {}
    missing: list[str] = []
    for key, value in zip(keys, values, strict=True):
        if value is absent:
            missing.append(key)
        else:
            found[key] = value
    return found, missing

class LocalRecords:
    """The records this process read last, kept for a moment: a hot key's next query skips the Redis round
    trip and the parse (on the cache-hit path that round trip is a cross-process wake-up each way).

    Held decoded, absences included, keyed by (source, key), the source being the Redis key prefix of the
    endpoint's dataset (RecordCache._prefix: one string per endpoint and dataset, so a key of another endpoint's
    dataset of the same name is another entry). An entry leaves when a change event names it or its source,
    when the event stream was interrupted (:meth:`clear`), ``ttl_seconds`` after it was read at the latest (a
    lost event costs no more staleness than that), or as the least recently used once ``capacity`` is reached.
    A hit does not extend the entry's life.
    """

    __slots__ = ("_capacity", "_clock", "_entries", "_ttl")

    def __init__(self, ttl_seconds: float = 0.0, capacity: int = 0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_seconds
        self._capacity = capacity if ttl_seconds > 0 else 0
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], tuple[float, Record | None]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, source: str, key: str) -> Any:
        """The record (None for a known absence), or MISSING."""
        name = (source, key)
        entry = self._entries.get(name)
        if entry is None:
            return MISSING
        if entry[0] <= self._clock():
            del self._entries[name]
            return MISSING
        self._entries.move_to_end(name)
        return entry[1]

    def put(self, source: str, key: str, record: Record | None) -> None:
        if not self._capacity:
            return
        name = (source, key)
        self._entries[name] = (self._clock() + self._ttl, record)
        self._entries.move_to_end(name)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def drop(self, source: str, keys: Iterable[str]) -> None:
        for key in keys:
            self._entries.pop((source, key), None)

    def drop_source(self, source: str) -> None:
        for name in [name for name in self._entries if name[0] == source]:
            del self._entries[name]

    def clear(self) -> None:
        self._entries.clear()


class RecordCache:
    """Records by (endpoint, dataset, key): in process, then Redis, then the provider endpoint."""

    def __init__(self, reader: RedisReader, redis: aioredis.Redis, providers: ProviderClients,
                 ttl_seconds: int, local: LocalRecords | None = None, miss_batch_max: int = MISS_BATCH_MAX) -> None:
        self._reader = reader
        self._local = local if local is not None else LocalRecords()
        self._redis = redis
        self._providers = providers
        self._ttl = ttl_seconds
        self._negative_ttl = min(ttl_seconds, MAX_NEGATIVE_TTL_SECONDS)
        self._flight: SingleFlight[Record | None] = SingleFlight()
        # Misses of concurrent queries, per (endpoint, dataset): one BatchLookup per batch.
        self._misses: KeyBatcher[Record] = KeyBatcher(self._fetch_collapsed, max_batch=miss_batch_max)
        # target -> dataset -> Redis key prefix (record_key_prefix of its cache endpoint): computed once each.
        self._prefixes: dict[str, dict[str, str]] = {}
        # Bumped by change events (per source, i.e. prefix) and reconnections (all): a fetch that saw a bump
        # does not cache its result, which may predate the change.
        self._generations: dict[str, int] = {}
        self._epoch = 0
        self._quiet_until = 0.0
        # False while the event subscription is down: copies held in process could not be told of changes.
        self._holding = True
        reader.on_new_server = self.server_changed
        self._invalidator = RecordInvalidator()
        self._invalidator.attach(redis)

    def _prefix(self, target: str, dataset: str) -> str:
        """The Redis key prefix of the endpoint's dataset, which also names it in process (see the module)."""
        by_dataset = self._prefixes.get(target)
        if by_dataset is not None:
            prefix = by_dataset.get(dataset)
            if prefix is not None:
                return prefix
        prefix = record_key_prefix(self._providers.cache_endpoint(target), dataset)
        self._prefixes.setdefault(target, {})[dataset] = prefix
        return prefix

    async def get(self, target: str, dataset: str, key: str) -> Record | None:
        """The record, or None when the provider has none."""
        source = self._prefix(target, dataset)
        held = self._local.get(source, key)
        if held is not MISSING:
            _LOCAL_HIT.inc()
            return held
        _LOCAL_MISS.inc()
        generation = self._generation(source)
        name = source + key
        try:
            data = await self._reader.get(name)
        except RedisError as exc:
            self._outage(exc)
            data = None
        if data is not None:
            record = self._decode(data, self._reader.server_id)
            if record is not _UNUSABLE:
                _HIT.inc()
                self._hold(generation, source, {key: record})
                return record
        _MISS.inc()
        # One entry per key (singleflight), one provider call per batch of keys (the batcher).
        # Each caller waits until its own deadline (within_callers_time), the read runs on for the others.
        record = await within_callers_time(self._flight.do(name, lambda: self._misses.get((target, dataset), key)),
                                           lambda: self._providers.not_in_time(target))
        if record is UNREADABLE:
            raise record_unreadable()
        return record

    async def get_many(self, target: str, dataset: str, keys: list[str]) -> dict[str, Record | None]:
        """Records of distinct ``keys``: those held in process, one MGET for the rest, then one BatchLookup
        for the misses (a key whose row the provider's database cannot send maps to UNREADABLE). When the provider
        does not answer the misses and a record was found in the caches, the misses map to :class:`Unanswered`;
        with none found, its PROVIDER_UNAVAILABLE is raised."""
        source = self._prefix(target, dataset)
        found, wanted = _partition(keys, [self._local.get(source, key) for key in keys], MISSING)
        if found:
            _LOCAL_HIT.inc(len(found))
        if not wanted:
            return found
        _LOCAL_MISS.inc(len(wanted))
        generation = self._generation(source)
        try:
            cached = await self._reader.mget([source + key for key in wanted])
        except RedisError as exc:
            self._outage(exc)
            cached = [None] * len(wanted)
        server = self._reader.server_id
        read, misses = _partition(wanted, [self._decode(data, server) if data is not None else _UNUSABLE
                                           for data in cached], _UNUSABLE)
        if read:
            _HIT.inc(len(read))
            self._hold(generation, source, read)
            found.update(read)
        if misses:
            _MISS.inc(len(misses))
            fetching = asyncio.ensure_future(self._fetch_many(target, dataset, misses))
            _LEFT_BEHIND.add(fetching)
            fetching.add_done_callback(_left_behind)
            try:
                found.update(await within_callers_time(asyncio.shield(fetching),
                                                       lambda: self._providers.not_in_time(target)))
            except ServiceError as error:
                if error.reason != "PROVIDER_UNAVAILABLE" or all(record is None for record in found.values()):
                    raise  # nothing to answer with: the batch fails as a Query would
                found.update(dict.fromkeys(misses, Unanswered(error)))
        return found

    def _hold(self, generation: tuple[int, int], source: str, records: Mapping[str, Record | None]) -> None:
        """Keeps what was read in process, unless a change event arrived while it was being read (or the event
        subscription is down)."""
        if self._holding and generation == self._generation(source):
            for key, record in records.items():
                self._local.put(source, key, record)

    def _outage(self, exc: Exception) -> None:
        """Notes a Redis failure (at most every few seconds: during an outage every query has one)."""
        now = time.monotonic()
        if now >= self._quiet_until:
            self._quiet_until = now + OUTAGE_LOG_INTERVAL_SECONDS
            log.warning("record cache unavailable (%s); records come from the providers", exc)

    @staticmethod
    def _decode(data: bytes, server: bytes) -> Any:
        """The cached record, None for a cached absence, _UNUSABLE when the value was written on another Redis
        server (before a restart or a failover) or does not parse."""
        if not server or not data.startswith(server):
            return _UNUSABLE
        payload = data[len(server):]
        if payload == ABSENT:
            return None
        try:
            return Record.FromString(payload)
        except DecodeError:
            return _UNUSABLE

    async def _fetch_collapsed(self, lane: Any, keys: list[str]) -> dict[str, Record | None]:
        """A batch of collapsed misses: fetched, stored and held as a BatchQuery's misses are."""
        target, dataset = lane
        return await self._fetch_many(target, dataset, keys, self._providers.collapsed_lookup)

    async def _fetch_many(self, target: str, dataset: str, keys: list[str],
                          fetch: FetchRecords | None = None) -> dict[str, Record | None]:
        """Records of ``keys`` from the provider, cached under the generation and Redis server current before the
        provider was asked (a change event or a new server meanwhile keeps them out of both caches)."""
        source = self._prefix(target, dataset)
        generation, server = self._generation(source), self._reader.server_id
        records = await (fetch or self._providers.batch_lookup)(target, dataset, keys)
        result: dict[str, Record | None] = {key: records.get(key) for key in keys}
        # An unreadable row is asked again next time (the department may have fixed it): never cached.
        readable = {key: record for key, record in result.items() if record is not UNREADABLE}
        if self._ttl and generation == self._generation(source):
            self._store_behind(generation, source, server, readable)
        self._hold(generation, source, readable)
        return result

    def _store_behind(self, generation: tuple[int, int], source: str, server: bytes,
                      records: Mapping[str, Record | None]) -> None:
        """Caches ``records`` in Redis without their callers waiting for it (kept until it ends, as a read left
        behind is). A hung Redis held each answer for the write's 1 s timeout after the provider had answered: a
        query sent with 2 s (the cache's read had waited 1 s already) was answered UNAVAILABLE naming the
        foundation service, which had answered at once."""
        storing = asyncio.ensure_future(self._store(generation, source, server, records))
        _LEFT_BEHIND.add(storing)
        storing.add_done_callback(_left_behind)

    async def _store(self, generation: tuple[int, int], source: str, server: bytes,
                     records: Mapping[str, Record | None]) -> None:
        """Caches records read from the provider, marked with the id of the Redis server that was current when
        the provider was asked: a server that was not, or is no longer, current gets nothing, nor does a source
        whose generation moved on (a change event) since the provider was asked, checked again here, as the
        write starts. Written on the reader's connection (RedisReader.set_many: one write, no redis-py pipeline,
        the server checked as the commands leave)."""
        if generation != self._generation(source):
            return
        entries = [(source + key, server + ABSENT, self._negative_ttl) if record is None
                   else (source + key, server + record.SerializeToString(), self._ttl)
                   for key, record in records.items()]
        try:
            await self._reader.set_many(entries, server)
        except RedisError as exc:
            self._outage(exc)

    async def forget(self, target: str, dataset: str, keys: Iterable[str]) -> None:
        """Drops the endpoint's cached records here, in Redis and in every other replica (e.g. after a dispute
        was answered with a correction); another endpoint's dataset of the same name keeps its own."""
        keys = list(keys)
        source = self._prefix(target, dataset)
        self._bump(source)
        self._local.drop(source, keys)
        # Retried until Redis takes it, should it be down now.
        await self._invalidator.records_changed(self._providers.cache_endpoint(target), dataset, keys)

    async def forget_dataset(self, target: str, dataset: str) -> None:
        """Drops every cached record of the endpoint's ``dataset`` here, in Redis and in every other replica (a
        provider department said all its records may have changed)."""
        source = self._prefix(target, dataset)
        self._bump(source)
        self._local.drop_source(source)
        await self._invalidator.dataset_changed(self._providers.cache_endpoint(target), dataset)

    def close(self) -> None:
        """Stops retrying pending invalidations (the process is stopping)."""
        self._invalidator.attach(None)

    def _generation(self, source: str) -> tuple[int, int]:
        return self._epoch, self._generations.get(source, 0)

    def _bump(self, source: str) -> None:
        self._generations[source] = self._generations.get(source, 0) + 1

    def _sources_of(self, payload: Mapping) -> list[str]:
        """The sources a RECORDS_CHANGED notice is about: its endpoint's dataset, or, for a notice naming no
        endpoint (a publisher of the release before), the dataset at every endpoint this process has read it
        from (a source never read holds nothing, and has no read in flight)."""
        dataset = payload.get("dataset")
        if not isinstance(dataset, str):
            return []
        endpoint = payload.get("endpoint")
        if isinstance(endpoint, str):
            return [record_key_prefix(endpoint, dataset)]
        return [by_dataset[dataset] for by_dataset in self._prefixes.values() if dataset in by_dataset]

    def on_records_changed(self, payload: Mapping) -> None:
        """Handler for RECORDS_CHANGED (the provider has already deleted the keys in Redis): drops the
        records it names from this process, or the whole dataset when it names none."""
        keys = payload.get("keys")
        for source in self._sources_of(payload):
            self._bump(source)
            if isinstance(keys, list) and not payload.get("all"):
                self._local.drop(source, (key for key in keys if isinstance(key, str)))
            else:
                self._local.drop_source(source)

    def resync(self) -> None:
        """After a reconnection events may have been lost: nothing held in process is trusted, and
        in-flight reads must not cache."""
        self._epoch += 1
        self._local.clear()
        self._holding = True

    def suspend(self) -> None:
        """The event subscription broke: changes cannot be heard until ``resync``, so nothing is held."""
        self._holding = False
        self._epoch += 1
        self._local.clear()

    def server_changed(self) -> None:
        """The reader reached another Redis server (restarted, or failed over): what was read from the old
        one, in process or in flight, is not kept."""
        self._epoch += 1
        self._local.clear()
