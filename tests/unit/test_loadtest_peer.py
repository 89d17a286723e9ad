"""The benchmark's hand-built peer (loadtest.peer): a real grpc.aio server doing one asyncpg lookup on the
platform's own population table, called over a socket with the platform's own Query request."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator

import asyncpg
import grpc
import pytest

from govshare.query.v1 import query_pb2
from loadtest import workloads
from loadtest.peer import METHOD, PeerProcess, start_peer


@pytest.fixture
async def person(database_url: str) -> AsyncIterator[str]:
    """A population row, written as the foundation service stores it."""
    key = f"PEER{uuid.uuid4().hex[:14]}"
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "INSERT INTO foundation.population (citizen_id, name, sex, ethnicity, birth_date, address, status, "
            "source_department_code, as_of_time) VALUES ($1, '测试人', '1', '01', $2, NULL, '1', "
            "'11100000000013127D', now())", key, dt.date(1980, 2, 29))
        yield key
    finally:
        await conn.execute("DELETE FROM foundation.population WHERE citizen_id = $1", key)
        await conn.close()


def ask(channel: grpc.aio.Channel, request: query_pb2.QueryRequest):  # type: ignore[no-untyped-def]
    call = channel.unary_unary(METHOD, request_serializer=query_pb2.QueryRequest.SerializeToString,
                               response_deserializer=query_pb2.QueryResponse.FromString)
    return call(request, timeout=10)


async def test_the_peer_answers_the_platforms_query_request_with_the_database_row(database_url: str,
                                                                                   person: str) -> None:
    server, pool, port = await start_peer(database_url)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            basic = await ask(channel, workloads.person_query(person))
            assert dict(basic.values) == {"citizen_id": person, "name": "测试人"}
            everything = await ask(channel, workloads.person_query(person, items=("name", "birth_date", "address",
                                                                                  "status", "no_such_item")))
            assert dict(everything.values) == {"name": "测试人", "birth_date": "1980-02-29", "status": "1"}
            with pytest.raises(grpc.aio.AioRpcError) as absent:
                await ask(channel, workloads.person_query(f"NOBODY{uuid.uuid4().hex[:12]}"))
            assert absent.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        await server.stop(0)
        await pool.close()


async def test_the_peer_runs_as_its_own_process(database_url: str, person: str) -> None:
    peer = await PeerProcess.start(database_url=database_url)
    try:
        async with grpc.aio.insecure_channel(peer.address) as channel:
            assert (await ask(channel, workloads.person_query(person))).values["name"] == "测试人"
    finally:
        await peer.stop()
    assert peer.process.returncode == 0


async def test_a_peer_without_a_database_says_so() -> None:
    with pytest.raises(RuntimeError, match="did not start"):
        await PeerProcess.start(wait_seconds=20, database_url="")


async def test_the_peer_behind_a_bare_envoy_answers_the_same_through_the_hop(database_url: str,
                                                                                person: str) -> None:
    from loadtest.peer_edge import BareEnvoy

    peer = await PeerProcess.start(database_url=database_url)
    try:
        edge = await BareEnvoy.start(peer.port)
        try:
            assert edge.port != peer.port
            async with grpc.aio.insecure_channel(edge.address) as channel:
                assert (await ask(channel, workloads.person_query(person))).values["name"] == "测试人"
                with pytest.raises(grpc.aio.AioRpcError) as absent:
                    await ask(channel, workloads.person_query(f"NOBODY{uuid.uuid4().hex[:12]}"))
                assert absent.value.code() == grpc.StatusCode.NOT_FOUND  # the peer's status, through the hop
        finally:
            await edge.stop()
        assert edge.process.returncode is not None
    finally:
        await peer.stop()
