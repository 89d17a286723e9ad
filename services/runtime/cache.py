"""Redis: the record cache and the invalidation event bus.

Redis is never the only copy of anything. Events are best-effort (pub/sub drops
messages while a subscriber is disconnected), so every subscriber also gets a
``resync`` call after each (re)connection and callers bound staleness with a TTL.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from urllib.parse import quote

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import NoPermissionError, RedisError

from services.runtime.redis_target import sentinel_target
from services.runtime.tasks import cancel

log = logging.getLogger(__name__)

# Channels (one place, so publishers and subscribers cannot drift apart).
CATALOG_CHANGED = "govshare.catalog.changed"  # {"code": ...}
GRANTS_CHANGED = "govshare.grants.changed"  # {"department_code": ..., "resource_code": ..., "policy_version": ...}
# {"endpoint": ..., "dataset": ..., "keys": [...]} or {"endpoint": ..., "dataset": ..., "all": true}; a notice
# without "endpoint" (from a process older than the endpoint in the cache's names) is about every endpoint's dataset.
RECORDS_CHANGED = "govshare.records.changed"
DISPUTES_CHANGED = "govshare.disputes.changed"  # {"resource_code": ..., "key": ..., "open": bool}
# {"system_id": ..., "disabled": bool, "not_before": epoch seconds, "reason": "DISABLED"|"ROTATED", "version": ...}
SYSTEMS_CHANGED = "govshare.systems.changed"
# {"code": ..., "name": ...}: a department renamed; with "retired": true and "merged_into": ...: retired
DEPARTMENTS_CHANGED = "govshare.departments.changed"

Handler = Callable[[dict], Awaitable[None] | None]

# Record cache entries: query caches provider records under these names; whoever changes a record deletes them.
# The provider endpoint is part of the name: two 前置机 may serve datasets of the same name, with different rows.
RECORD_KEY_PREFIX = "rec2:"
#: The names before the endpoint was part of them (``rec:{dataset}:{key}``): never read any more (an entry left
#: from before the upgrade may hold another endpoint's record), still deleted with the new ones, so a query
#: process of the previous release, while a rolling upgrade runs, serves no changed record from them.
LEGACY_RECORD_KEY_PREFIX = "rec:"
#: The endpoint of the platform's own foundation service in cache names and notices (a catalog entry names it
#: with an empty target, query reaches it at GOVSHARE_FOUNDATION_TARGET: one endpoint, one name).
FOUNDATION_ENDPOINT = ""
INVALIDATION_RETRY_SECONDS = 1.0
#: The event subscriber's first wait after a failed attempt, doubled at each failure up to the maximum.
SUBSCRIBE_RETRY_SECONDS = 0.1
SUBSCRIBE_RETRY_MAX_SECONDS = 5.0
#: A subscription that heard nothing for this long sends PING; one whose PING is not answered in as long again is
#: given up and made again (a Redis gone without closing the connection is found within twice this).
SUBSCRIPTION_KEEPALIVE_SECONDS = 10.0
#: How long a sentinel may take to say where the primary is.
SENTINEL_TIMEOUT_SECONDS = 1.0
# Beyond this many pending keys of one dataset, the whole dataset is invalidated instead.
MAX_PENDING_KEYS = 100_000
DELETE_CHUNK = 1000
_ALL: None = None  # a pending invalidation of a whole dataset


def record_key_prefix(endpoint: str, dataset: str) -> str:
    """What the Redis keys of the cached records of ``dataset`` at ``endpoint`` start with.

    The endpoint is percent-encoded: a target holds ':' (host:port) and may hold glob characters ('[' of an
    IPv6 address), so encoded it can neither run into the dataset nor widen a SCAN pattern to another endpoint's
    records (dataset names are letters, digits, '_', '.' and '-', services/catalog/rules.py)."""
    return f"{RECORD_KEY_PREFIX}{quote(endpoint, safe='')}:{dataset}:"


def record_cache_key(endpoint: str, dataset: str, key: str) -> str:
    """The Redis key query caches a provider record under (callers on the hot path keep the prefix instead)."""
    return record_key_prefix(endpoint, dataset) + key


def _legacy_record_cache_key(dataset: str, key: str) -> str:
    return f"{LEGACY_RECORD_KEY_PREFIX}{dataset}:{key}"


def create_client(url: str) -> aioredis.Redis:
    """A client for ``redis://``, ``rediss://`` or ``unix://`` URLs (the embedded server uses a socket), or for
    the primary the sentinels of a ``redis+sentinel://`` URL name (services/runtime/redis_target.py): redis-py's
    Sentinel pool asks them for the primary at each connection, so after a failover the client reconnects to the
    new one."""
    target = sentinel_target(url)
    if target is None:
        return aioredis.from_url(url, decode_responses=False, health_check_interval=30)
    sentinels = Sentinel(list(target.sentinels), socket_timeout=SENTINEL_TIMEOUT_SECONDS)
    return sentinels.master_for(target.master, decode_responses=False, health_check_interval=30,
                                username=target.username, password=target.password, db=target.db)


async def publish(client: aioredis.Redis, channel: str, payload: dict) -> None:
    await client.publish(channel, json.dumps(payload, ensure_ascii=False))


#: An endpoint's dataset: what an invalidation is about.
Source = tuple[str, str]


class RecordInvalidator:
    """Deletes cached records and publishes RECORDS_CHANGED; the client is attached at start.

    Every invalidation names the provider endpoint (FOUNDATION_ENDPOINT for the foundation service) and the
    dataset: another endpoint's dataset of the same name keeps its records.

    An invalidation that Redis cannot take now (it is down, or out of reach) is kept and retried
    every second until it can, so no process serves the old record once Redis is back. (Should Redis
    come back from an older snapshot, the readers themselves drop what it held: see
    services/query/records.py.) Pending invalidations live as long as the process; a publisher that
    dies with some leaves those records to the cache TTL.
    """

    def __init__(self, retry_seconds: float = INVALIDATION_RETRY_SECONDS) -> None:
        self._client: aioredis.Redis | None = None
        self._retry_seconds = retry_seconds
        # (endpoint, dataset) -> keys still to invalidate, or _ALL for the whole dataset.
        self._pending: dict[Source, set[str] | None] = {}
        # Invalidations taken out of _pending and being applied now (not done until Redis has answered).
        self._applying = 0
        self._retry: asyncio.Task | None = None
        # Invalidations whose caller was cancelled, running on to the end (see _apply_to_the_end).
        self._finishing: set[asyncio.Task] = set()

    def attach(self, client: aioredis.Redis | None) -> None:
        self._client = client
        if client is None and self._retry is not None:
            self._retry.cancel()
            self._retry = None

    @property
    def pending(self) -> int:
        """Invalidations not done yet: datasets waiting for a retry, and those being applied now."""
        return len(self._pending) + self._applying

    async def records_changed(self, endpoint: str, dataset: str, keys: Sequence[str]) -> None:
        if not keys or self._client is None:
            return
        self._add((endpoint, dataset), set(keys))
        await self._apply_to_the_end()

    async def dataset_changed(self, endpoint: str, dataset: str) -> None:
        """After a bulk load: every cached record of the endpoint's dataset may be stale."""
        if self._client is None:
            return
        self._add((endpoint, dataset), _ALL)
        await self._apply_to_the_end()

    async def _apply_to_the_end(self) -> None:
        """Applies the pending invalidations even if the caller is cancelled meanwhile.

        The change is committed before its invalidation starts: a load whose client hung up (or whose deadline
        ran out) just then still changed the records, and a cancelled delete had already taken its keys out of
        the pending ones, so readers were served the old record until the cache TTL.
        """
        task = asyncio.ensure_future(self._apply())
        self._finishing.add(task)
        task.add_done_callback(self._finishing.discard)
        await asyncio.shield(task)

    def _add(self, source: Source, keys: set[str] | None) -> None:
        if source in self._pending:
            held = self._pending[source]
            keys = _ALL if held is _ALL or keys is _ALL else held | keys
        if keys is not _ALL and len(keys) > MAX_PENDING_KEYS:
            keys = _ALL
        self._pending[source] = keys

    async def _apply(self) -> bool:
        """Applies every pending invalidation it can; True when none is left (else a retry is scheduled)."""
        for source in list(self._pending):
            client = self._client
            if client is None or source not in self._pending:
                continue
            keys = self._pending.pop(source)
            endpoint, dataset = source
            self._applying += 1
            try:
                if keys is _ALL:
                    await self._delete_dataset(client, endpoint, dataset)
                    await publish(client, RECORDS_CHANGED, {"endpoint": endpoint, "dataset": dataset, "all": True})
                else:
                    await self._delete(client, endpoint, dataset, sorted(keys))
                    await publish(client, RECORDS_CHANGED,
                                  {"endpoint": endpoint, "dataset": dataset, "keys": sorted(keys)})
            except (RedisError, OSError) as exc:
                self._add(source, keys)
                self._schedule_retry(source, keys, exc)
                return False
            finally:
                self._applying -= 1
        return not self._pending

    def _schedule_retry(self, source: Source, keys: set[str] | None, exc: Exception) -> None:
        if self._retry is not None and not self._retry.done():
            return  # the retry task is running (this may be it)
        what = "every" if keys is _ALL else str(len(keys or ()))
        # Counts, endpoints and dataset names only: the keys are people's and entities' numbers.
        endpoint, dataset = source
        log.error("could not invalidate %s cached %s records of %s (%s); retrying until Redis answers", what,
                  dataset, endpoint or "the foundation service", type(exc).__name__)
        self._retry = asyncio.create_task(self._retry_until_done(), name="record-invalidation-retry")

    async def _retry_until_done(self) -> None:
        while self._pending and self._client is not None:
            await asyncio.sleep(self._retry_seconds)
            if await self._apply():
                log.info("pending record invalidations applied")
                return

    @staticmethod
    async def _delete(client: aioredis.Redis, endpoint: str, dataset: str, keys: list[str]) -> None:
        prefix = record_key_prefix(endpoint, dataset)
        async with client.pipeline(transaction=False) as pipe:
            for start in range(0, len(keys), DELETE_CHUNK):
                chunk = keys[start:start + DELETE_CHUNK]
                pipe.delete(*(prefix + key for key in chunk),
                            *(_legacy_record_cache_key(dataset, key) for key in chunk))
            await pipe.execute()

    @staticmethod
    async def _delete_dataset(client: aioredis.Redis, endpoint: str, dataset: str) -> None:
        """Deletes the endpoint's entries of the dataset, and the old-format ones, in one SCAN (a SCAN walks the
        whole keyspace whatever its pattern): the pattern takes the dataset at any endpoint, the prefixes keep
        the others' entries."""
        mine = (record_key_prefix(endpoint, dataset).encode(), _legacy_record_cache_key(dataset, "").encode())
        batch: list[bytes] = []
        async for name in client.scan_iter(match=f"rec*:{dataset}:*", count=1000):
            if not (name if isinstance(name, bytes) else name.encode()).startswith(mine):
                continue
            batch.append(name)
            if len(batch) >= DELETE_CHUNK:
                await client.delete(*batch)
                batch.clear()
        if batch:
            await client.delete(*batch)


class Subscriber:
    """Delivers events of some channels to handlers, in a background task that reconnects.

    ``ready`` is set, and ``resync`` called, once Redis has confirmed the subscription of every channel (after
    every (re)subscription); ``lost`` is called, and ``ready`` cleared, when the subscription breaks or is
    refused: from then until the next ``resync``, events are being missed. Setting them when SUBSCRIBE was
    merely sent made a refused one (a Redis user whose ACL lacks a channel) look ready, and ``resync`` let query
    keep decisions and records on trust between the refusals. Attempts back off (SUBSCRIBE_RETRY_SECONDS up to
    SUBSCRIBE_RETRY_MAX_SECONDS); each cause of failure is logged once until a subscription is confirmed.
    """

    def __init__(self, url: str, handlers: dict[str, Handler], resync: Callable[[], None] | None = None,
                 lost: Callable[[], None] | None = None) -> None:
        self._url = url
        self._handlers = handlers
        self._resync = resync
        self._lost = lost
        self._task: asyncio.Task | None = None
        self.ready = asyncio.Event()
        #: Why the last attempt failed (what query's start says when the subscription is not confirmed in time).
        self.problem: str | None = None
        self._said: set[str] = set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="redis-subscriber")

    async def stop(self) -> None:
        await cancel(self._task)

    async def _run(self) -> None:
        delay = SUBSCRIBE_RETRY_SECONDS
        while True:
            client = create_client(self._url)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(*self._handlers)
                    async for message in self._messages(pubsub):
                        kind = message.get("type")
                        if kind == "message":
                            await self._dispatch(message)
                        elif kind == "subscribe" and message.get("data") == len(self._handlers):
                            self._subscribed()
                            delay = SUBSCRIBE_RETRY_SECONDS
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._failed(exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, SUBSCRIBE_RETRY_MAX_SECONDS)
            finally:
                await client.aclose()

    @staticmethod
    async def _messages(pubsub: PubSub) -> AsyncIterator[dict]:
        """The connection's messages, raising once Redis leaves a PING unanswered.

        redis-py's listen() reads without a time limit, and sends its health-check PING only before a read: a
        connection to a Redis gone without closing it (its node powered off, a partition, a sentinel failover
        away from it) was waited on for good, the process subscribed to nothing and, ``lost`` never called,
        keeping what the missed events would have dropped."""
        keepalive = SUBSCRIPTION_KEEPALIVE_SECONDS
        clock = asyncio.get_running_loop().time
        pinged: float | None = None
        while True:
            # None after the time limit, or at once for the answer to redis-py's own health check
            message = await pubsub.get_message(timeout=keepalive)
            if message is not None:
                pinged = None
                yield message
            elif pinged is None:
                await pubsub.ping()
                pinged = clock()
            elif clock() - pinged >= keepalive:
                raise TimeoutError(f"no answer from Redis to PING in {keepalive:g}s")

    def _subscribed(self) -> None:
        """Redis confirmed the last channel (its count of this connection's subscriptions is all of them)."""
        if self._said:
            log.info("event subscription to %s confirmed", ", ".join(self._handlers))
        self._said.clear()
        self.problem = None
        if self._resync is not None:
            self._resync()
        self.ready.set()

    def _failed(self, exc: Exception, delay: float) -> None:
        self.ready.clear()
        if self._lost is not None:
            self._lost()
        refused = isinstance(exc, NoPermissionError)
        if refused:
            granted = " ".join(f"&{channel}" for channel in self._handlers)
            self.problem = (f"Redis refused SUBSCRIBE ({exc}): this process's Redis user needs the channels it "
                            f"listens to, ACL SETUSER <user> {granted} (or &govshare.*)")
        else:
            self.problem = f"event subscription lost ({type(exc).__name__}: {exc})"
        said = self.problem in self._said
        self._said.add(self.problem)
        log.log(logging.DEBUG if said else logging.ERROR if refused else logging.WARNING,
                "%s; until it is confirmed the events are missed and what they would change is not kept; "
                "retrying in %.1fs", self.problem, delay)

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
