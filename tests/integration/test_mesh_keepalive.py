"""A channel between services finds a connection whose peer vanished without a word dead, within its keepalive's
timeout (services.runtime.clients): a peer pod's node lost, or a partition, leaves the TCP connection open with
nothing answering, and every call on it waits its deadline out until the connection is given up."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from stalling_proxy import StallingProxy

from services.runtime import clients
from services.runtime.clients import open_channel
from services.runtime.server import SERVER_OPTIONS
from services.runtime.settings import Settings

pytestmark = pytest.mark.integration

#: The options that time a ping, shortened here to a second (30 s and 10 s in the mesh).
_PING_OPTIONS = ("grpc.keepalive_time_ms", "grpc.keepalive_timeout_ms", "grpc.http2.ping_timeout_ms")


async def test_a_connection_to_a_peer_that_went_silent_is_given_up_within_the_keepalive(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The mesh's channels pinged every 30 s and gave a ping 10 s, but gRPC's own flow-control pings, sent after
    data, wait grpc.http2.ping_timeout_ms (60 s by default) and hold the keepalive back while they wait: a connection
    to a peer that vanished was given up after a minute whatever the keepalive said. The ping timeout is now the
    keepalive's. (A bound, not a measure: the proxy waits 30 s for the channel to close the stalled connection,
    which takes about the shortened second with the fix and 60 s without it.)"""
    monkeypatch.setattr(clients, "CHANNEL_OPTIONS", [(key, 1_000 if key in _PING_OPTIONS else value)
                                                     for key, value in clients.CHANNEL_OPTIONS])
    server = grpc.aio.server(options=[(key, value) for key, value in SERVER_OPTIONS
                                      if key != "grpc.http2.min_ping_interval_without_data_ms"])
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with StallingProxy(f"127.0.0.1:{port}") as proxy:
            channel = open_channel(proxy.address, Settings(component="query", internal_key=b"k" * 40))
            try:
                checks = health_pb2_grpc.HealthStub(channel)
                for _ in range(5):
                    await checks.Check(health_pb2.HealthCheckRequest(), timeout=10)
                proxy.stall()
                assert await proxy.given_up(within=30), "the channel never gave up its stalled connection"
            finally:
                await channel.close()
    finally:
        await server.stop(None)
