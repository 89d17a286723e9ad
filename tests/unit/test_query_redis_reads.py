"""The pipelined Redis reader of the hot path, against a real Redis server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.query.redis_reads import RedisReader, _Pipeline, encode_command


@pytest.fixture
async def reader(redis_url: str) -> AsyncIterator[RedisReader]:
    reader = RedisReader(redis_url)
    yield reader
    await reader.close()


def name() -> str:
    return f"test:reads:{uuid.uuid4().hex}"


async def test_get_returns_bytes_or_none(reader: RedisReader, redis_client: aioredis.Redis) -> None:
    key = name()
    value = b"\r\n$5\r\n*binary\x00\xff" * 3
    await redis_client.set(key, value)
    assert await reader.get(key) == value
    assert await reader.get(name()) is None
    await redis_client.set(key, b"")
    assert await reader.get(key) == b""


async def test_concurrent_reads_are_answered_in_order(reader: RedisReader, redis_client: aioredis.Redis) -> None:
    keys = [name() for _ in range(200)]
    for index, key in enumerate(keys):
        await redis_client.set(key, f"value-{index}".encode())
    values = await asyncio.gather(*(reader.get(key) for key in keys))
    assert values == [f"value-{index}".encode() for index in range(200)]


async def test_mget_and_large_values(reader: RedisReader, redis_client: aioredis.Redis) -> None:
    small, large, absent = name(), name(), name()
    await redis_client.set(small, b"s")
    await redis_client.set(large, b"x" * 3_000_000)  # arrives in many reads
    assert await reader.mget([small, absent, large]) == [b"s", None, b"x" * 3_000_000]
    assert await reader.mget([]) == []


async def test_an_error_reply_fails_only_its_request(reader: RedisReader, redis_client: aioredis.Redis) -> None:
    listed, plain = name(), name()
    await redis_client.rpush(listed, b"a")
    await redis_client.set(plain, b"ok")
    results = await asyncio.gather(reader.get(listed), reader.get(plain), return_exceptions=True)
    assert isinstance(results[0], ResponseError) and results[1] == b"ok"


async def connection_ids(redis_client: aioredis.Redis, client_name: str) -> list[str]:
    clients = (await redis_client.execute_command("CLIENT", "LIST")).decode().splitlines()
    return [dict(part.split("=", 1) for part in line.split())["id"] for line in clients
            if f" name={client_name} " in f" {line} "]


async def test_a_lost_connection_is_reopened_by_the_next_read(redis_url: str, redis_client: aioredis.Redis) -> None:
    key, client_name = name(), f"reads-{uuid.uuid4().hex[:8]}"
    reader = RedisReader(redis_url, client_name=client_name)
    try:
        await redis_client.set(key, b"v")
        assert await reader.get(key) == b"v"
        (first,) = await connection_ids(redis_client, client_name)
        await redis_client.execute_command("CLIENT", "KILL", "ID", first)
        await asyncio.sleep(0.05)
        assert await reader.get(key) == b"v"
        (second,) = await connection_ids(redis_client, client_name)
        assert second != first
    finally:
        await reader.close()


async def test_a_database_number_in_the_url_is_selected(redis_url: str, redis_client: aioredis.Redis) -> None:
    if not redis_url.startswith("unix://"):
        pytest.skip("the embedded server is reached by a unix socket")
    key = name()
    other = aioredis.from_url(f"{redis_url}?db=3")
    reader = RedisReader(f"{redis_url}?db=3")
    try:
        await other.set(key, b"db3")
        assert await reader.get(key) == b"db3"
        assert await redis_client.get(key) is None
    finally:
        await reader.close()
        await other.aclose()


async def test_a_server_that_does_not_answer_times_out() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Accepts the connection's handshake (CLIENT SETNAME, INFO server), then never answers a read."""
        while data := await reader.read(4096):
            if b"SETNAME" in data:
                writer.write(b"+OK\r\n")
            elif b"INFO" in data:
                info = b"# Server\r\nrun_id:0123456789abcdef0123456789abcdef01234567\r\n"
                writer.write(b"$%d\r\n%s\r\n" % (len(info), info))

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader = RedisReader(f"redis://127.0.0.1:{port}/0", timeout=0.2)
    try:
        with pytest.raises(RedisTimeoutError):
            await reader.get("anything")
    finally:
        await reader.close()
        server.close()


async def test_a_server_that_does_not_answer_the_handshake_is_said_so() -> None:
    """A Redis stopped with SIGSTOP accepts connections and answers nothing: the query's log said "record cache
    unavailable (cannot connect to Redis ())", the timeout's empty text."""
    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(4096):
            pass

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader = RedisReader(f"redis://127.0.0.1:{port}/0", timeout=0.2)
    try:
        with pytest.raises(RedisConnectionError) as raised:
            await reader.get("anything")
        assert str(raised.value) == "cannot connect to Redis (no answer within 0.2 s)"
    finally:
        await reader.close()
        server.close()


async def test_an_unreachable_server_fails_fast() -> None:
    reader = RedisReader("redis://127.0.0.1:1/0", timeout=0.5)
    for _ in range(3):
        with pytest.raises(RedisConnectionError):
            await reader.get("k")


class _Wire:
    """The transport side of a pipeline: records what was written, and whether it was dropped."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def abort(self) -> None:
        self.aborted = True


async def test_replies_arriving_a_byte_at_a_time_resolve_their_requests_in_order() -> None:
    pipeline = _Pipeline(timeout=5.0)
    wire = _Wire()
    pipeline.connection_made(wire)  # type: ignore[arg-type]
    first, second, third = (pipeline.request(encode_command(b"GET", b"k")) for _ in range(3))
    assert wire.written[0] == b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
    replies = b"*3\r\n$1\r\na\r\n$-1\r\n:42\r\n-ERR wrong\r\n$2\r\nok\r\n"
    for index in range(len(replies)):
        pipeline.data_received(replies[index:index + 1])
        if index < len(replies) - 1:
            assert not third.done()
    assert first.result() == [b"a", None, 42]
    assert isinstance(second.exception(), ResponseError) and "ERR wrong" in str(second.exception())
    assert third.result() == b"ok"
    assert not wire.aborted


async def test_a_malformed_reply_drops_the_connection() -> None:
    pipeline = _Pipeline(timeout=5.0)
    wire = _Wire()
    pipeline.connection_made(wire)  # type: ignore[arg-type]
    pipeline.request(encode_command(b"GET", b"k"))
    pipeline.data_received(b"?what\r\n")
    assert wire.aborted


async def test_set_many_writes_values_with_their_ttls_on_the_reads_connection(
        reader: RedisReader, redis_client: aioredis.Redis) -> None:
    found, absent = name(), name()
    await reader.get(found)  # connected: the server is known
    assert await reader.set_many([(found, b"\x00record\r\n", 60), (absent, b"", 5)], reader.server_id)
    assert await reader.mget([found, absent]) == [b"\x00record\r\n", b""]
    assert 0 < await redis_client.ttl(found) <= 60 and 0 < await redis_client.ttl(absent) <= 5


async def test_set_many_writes_nothing_for_another_server(reader: RedisReader, redis_client: aioredis.Redis) -> None:
    key = name()
    assert not await reader.set_many([(key, b"v", 60)], b"another-server-id")  # connects, then compares
    assert reader.server_id and await redis_client.get(key) is None
    assert not await reader.set_many([(key, b"v", 60)], b"")
    assert await redis_client.get(key) is None


async def test_set_many_raises_an_error_reply(reader: RedisReader, redis_client: aioredis.Redis) -> None:
    good, bad = name(), name()
    await reader.get(good)
    with pytest.raises(ResponseError):
        await reader.set_many([(good, b"v", 60), (bad, b"v", 0)], reader.server_id)  # EX 0 is refused
    assert await reader.get(good) == b"v" and await reader.get(name()) is None
