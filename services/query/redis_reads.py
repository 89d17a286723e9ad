"""Pipelined Redis reads (GET, MGET) for the query hot path.

Every answered query reads its record from Redis, so that one read must cost
next to nothing. redis-py's asyncio client spends over a hundred microseconds
of CPU per command (connection checkout and health checks, retries, metrics);
here every read is written to one persistent connection as it comes, replies
are matched to requests in order (Redis answers a connection's commands in
order), and a read costs a few microseconds. Commands are packed and replies
parsed by hiredis (the C RESP parser redis-py uses too): it is fed bytes as they
arrive and hands out whole replies, so a large MGET reply that arrives in many
chunks is parsed once. The cache fills of missed records (SET with a TTL) go the
same way (``set_many``); other writes, counters, pub/sub and everything else keep
using redis-py.

Failures surface as redis-py's exceptions (``redis.exceptions.ConnectionError``,
``TimeoutError``, ``ResponseError``), so callers handle both clients alike; the
connection is re-established by the next read.

Redis Sentinel (a ``redis+sentinel://`` URL, services/runtime/redis_target.py): each connection
starts by asking the sentinels, in turn, where the primary is (``SENTINEL get-master-addr-by-name``),
and checks that the server it reaches says it is the primary (``ROLE``). A failover ends the
connection (the sentinels have the demoted primary drop its clients, or it is down); reads fail
meanwhile (the query service falls back to the provider) and the next connection, at most
RECONNECT_DELAY_SECONDS later, reaches the new primary, whose run_id differs: ``on_new_server``.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from collections.abc import Callable, Sequence

import hiredis
from redis.asyncio.connection import SSLConnection, parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.runtime.redis_target import sentinel_target

# After a failed connection attempt, reads fail at once for this long instead of each trying again
# (callers fall back to the provider while Redis is down).
RECONNECT_DELAY_SECONDS = 0.5
# Bytes of the server's run_id that identify it (a run_id is 40 random hex characters, new at every start).
SERVER_ID_LENGTH = 8


def encode_command(*parts: bytes | str) -> bytes:
    """A command in the RESP wire format."""
    return hiredis.pack_command(parts)


class _Pipeline(asyncio.Protocol):
    """One connection: requests are written at once, replies resolve them in order."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._transport: asyncio.Transport | None = None
        self._pending: collections.deque[tuple[asyncio.Future, float]] = collections.deque()
        # Error replies come back as values (ResponseError), and fail only their own request.
        self._replies = hiredis.Reader(replyError=ResponseError)
        self._watchdog: asyncio.TimerHandle | None = None
        self._timed_out = False
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def request(self, command: bytes) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if self.closed or self._transport is None:
            future.set_exception(RedisConnectionError("the Redis connection is closed"))
            return future
        if not self._pending:
            self._watchdog = loop.call_later(self._timeout, self._check)
        self._pending.append((future, loop.time()))
        self._transport.write(command)
        return future

    def requests(self, commands: Sequence[bytes]) -> list[asyncio.Future]:
        """Several commands in one write; a future per command, resolved in order."""
        if self.closed or self._transport is None:
            return [self.request(command) for command in commands]
        loop = asyncio.get_running_loop()
        if not self._pending:
            self._watchdog = loop.call_later(self._timeout, self._check)
        now = loop.time()
        futures = [loop.create_future() for _ in commands]
        self._pending.extend((future, now) for future in futures)
        self._transport.write(b"".join(commands))
        return futures

    def data_received(self, data: bytes) -> None:
        self._replies.feed(data)
        try:
            while self._pending:
                value = self._replies.gets()
                if value is False:  # RESP2 has no booleans: False means "not a whole reply yet"
                    break
                future = self._pending.popleft()[0]
                if not future.done():
                    if isinstance(value, ResponseError):
                        future.set_exception(value)
                    else:
                        future.set_result(value)
        except hiredis.ProtocolError:
            self.abort()

    def _check(self) -> None:
        """Drops a connection whose oldest request went unanswered too long (a hung server)."""
        self._watchdog = None
        if not self._pending:
            return
        loop = asyncio.get_running_loop()
        due = self._pending[0][1] + self._timeout
        if due <= loop.time():
            self._timed_out = True
            self.abort()
        else:
            self._watchdog = loop.call_later(due - loop.time(), self._check)

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()
        else:
            self.connection_lost(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
        error: Exception = (RedisTimeoutError("Redis did not answer in time") if self._timed_out
                            else RedisConnectionError(f"the Redis connection was lost ({exc or 'closed'})"))
        while self._pending:
            future = self._pending.popleft()[0]
            if not future.done():
                future.set_exception(error)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


def server_id_of(info: bytes) -> bytes:
    """The first bytes of the ``run_id`` an ``INFO server`` reply names (empty when it names none)."""
    for line in info.splitlines():
        if line.startswith(b"run_id:"):
            return line[len(b"run_id:"):].strip()[:SERVER_ID_LENGTH]
    return b""


class RedisReader:
    """GET and MGET over one pipelined connection to the server a redis://, rediss:// or unix:// URL names.

    ``server_id`` identifies the server process the connection reaches (from its ``run_id``, which
    changes whenever Redis restarts or a replica takes over); ``on_new_server`` is called when a
    reconnection reaches a different one, whose data may be an old snapshot.
    """

    def __init__(self, url: str, timeout: float = 1.0, client_name: str = "govshare-query-reads",
                 on_new_server: Callable[[], None] | None = None) -> None:
        self._sentinel = sentinel_target(url)
        if self._sentinel is None:
            self._options = parse_url(url)
        else:
            self._options = {"username": self._sentinel.username, "password": self._sentinel.password,
                             "db": self._sentinel.db}
        self._timeout = timeout
        self._client_name = client_name
        self._pipeline: _Pipeline | None = None
        self._lock = asyncio.Lock()
        self._retry_at = 0.0
        self.server_id = b""
        self.on_new_server = on_new_server

    async def get(self, key: str) -> bytes | None:
        pipeline = self._pipeline
        if pipeline is None or pipeline.closed:
            pipeline = await self._connected()
        return await pipeline.request(hiredis.pack_command((b"GET", key)))

    async def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        pipeline = self._pipeline
        if pipeline is None or pipeline.closed:
            pipeline = await self._connected()
        return await pipeline.request(encode_command(b"MGET", *keys))

    async def set_many(self, entries: Sequence[tuple[str, bytes, int]], server: bytes) -> bool:
        """``SET name value EX seconds`` for each entry, in one write on the reads' own connection, if that
        connection reaches the server ``server`` names, reconnecting as a read would; False (nothing written)
        when it reaches another one. The first error reply or failure is raised.

        The record cache fills what it fetched from a provider this way: through redis-py a pipeline of a few
        SETs cost the query process ~0.1 ms of CPU per batch of misses (2% of its samples under paced misses,
        docs/performance.md); here it is one write and a few parsed replies. The server is checked and the
        commands written with no await between, so a value is never written to a server it was not read for.
        """
        if not entries or not server:
            return False
        pipeline = self._pipeline
        if pipeline is None or pipeline.closed:
            pipeline = await self._connected()
        if server != self.server_id:
            return False
        futures = pipeline.requests([hiredis.pack_command((b"SET", name, value, b"EX", str(seconds)))
                                     for name, value, seconds in entries])
        results = await asyncio.gather(*futures, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return True

    async def _connected(self) -> _Pipeline:
        async with self._lock:
            if self._pipeline is None or self._pipeline.closed:
                loop = asyncio.get_running_loop()
                if loop.time() < self._retry_at:
                    raise RedisConnectionError("Redis is unreachable (retrying shortly)")
                try:
                    pipeline, server_id = await self._connect()
                except RedisConnectionError:
                    self._retry_at = loop.time() + RECONNECT_DELAY_SECONDS
                    raise
                previous, self.server_id = self.server_id, server_id
                self._pipeline = pipeline
                if previous and previous != server_id and self.on_new_server is not None:
                    self.on_new_server()
            return self._pipeline

    async def _connect(self) -> tuple[_Pipeline, bytes]:
        loop = asyncio.get_running_loop()
        options = self._options
        try:
            async with asyncio.timeout(self._timeout):
                if self._sentinel is not None:
                    host, port = await self._primary_address()
                    _, pipeline = await loop.create_connection(lambda: _Pipeline(self._timeout), host, port)
                elif "path" in options:
                    _, pipeline = await loop.create_unix_connection(lambda: _Pipeline(self._timeout),
                                                                    options["path"])
                else:
                    host = options.get("host", "localhost")
                    context = self._ssl_context()
                    _, pipeline = await loop.create_connection(
                        lambda: _Pipeline(self._timeout), host, options.get("port", 6379), ssl=context,
                        server_hostname=host if context is not None else None)
                server_id = await self._handshake(pipeline)
        except TimeoutError as exc:
            # Its text is empty: the log said "record cache unavailable (cannot connect to Redis ())" of a Redis
            # that accepted the connection and answered nothing (stopped, wedged).
            raise RedisConnectionError(f"cannot connect to Redis (no answer within {self._timeout:g} s)") from exc
        except (OSError, ResponseError) as exc:
            raise RedisConnectionError(f"cannot connect to Redis ({exc})") from exc
        return pipeline, server_id

    async def _handshake(self, pipeline: _Pipeline) -> bytes:
        """Authenticates, selects the database, names the connection; returns the server's id."""
        options = self._options
        if options.get("password"):
            credentials = [options["username"].encode()] if options.get("username") else []
            await pipeline.request(encode_command(b"AUTH", *credentials, options["password"].encode()))
        if options.get("db"):
            await pipeline.request(encode_command(b"SELECT", str(options["db"]).encode()))
        # Named, so operators (CLIENT LIST) can tell the hot path's connection apart.
        await pipeline.request(encode_command(b"CLIENT", b"SETNAME", self._client_name.encode()))
        if self._sentinel is not None:
            role = await pipeline.request(encode_command(b"ROLE"))
            if not role or role[0] != b"master":
                pipeline.close()  # a primary being demoted, or a sentinel not yet told of the failover
                raise ResponseError("the server the sentinels named is not the primary")
        server_id = server_id_of(await pipeline.request(encode_command(b"INFO", b"server")))
        if not server_id:
            raise ResponseError("INFO server names no run_id")
        return server_id

    async def _primary_address(self) -> tuple[str, int]:
        """Where the sentinels say the primary is: the first sentinel that answers (they agree once a failover
        is over; one that is down or does not know the master is skipped)."""
        assert self._sentinel is not None
        loop = asyncio.get_running_loop()
        problems = []
        for host, port in self._sentinel.sentinels:
            try:
                _, sentinel = await loop.create_connection(lambda: _Pipeline(self._timeout), host, port)
            except OSError as exc:
                problems.append(f"{host}:{port}: {exc.strerror or exc}")
                continue
            try:
                reply = await sentinel.request(encode_command(
                    b"SENTINEL", b"get-master-addr-by-name", self._sentinel.master.encode()))
            except (RedisConnectionError, RedisTimeoutError, ResponseError) as exc:
                problems.append(f"{host}:{port}: {exc}")
                continue
            finally:
                sentinel.close()
            if reply:
                return reply[0].decode(), int(reply[1])
            problems.append(f"{host}:{port}: does not know {self._sentinel.master!r}")
        raise RedisConnectionError(f"no sentinel named the primary ({'; '.join(problems)})")

    def _ssl_context(self) -> ssl.SSLContext | None:
        """For rediss:// URLs: verified TLS unless the URL says ssl_cert_reqs=none."""
        if self._options.get("connection_class") is not SSLConnection:
            return None
        context = ssl.create_default_context(cafile=self._options.get("ssl_ca_certs"))
        if str(self._options.get("ssl_cert_reqs", "required")).lower() in ("none", "0"):
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    async def close(self) -> None:
        if self._pipeline is not None:
            self._pipeline.close()
            self._pipeline = None
