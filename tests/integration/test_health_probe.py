"""What the chart's liveness probe relies on: a service whose event loop hangs stops answering its health
check, so a probe with a timeout fails (docs/deploy.md, "A hung process")."""

from __future__ import annotations

import asyncio
import threading

import grpc
import pytest
from free_ports import free_port
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.catalog.component import create_component
from services.runtime.server import start_server
from services.runtime.settings import Settings

PROBE_TIMEOUT = 1.0  # the kubelet's timeoutSeconds, shortened: the loop is blocked until released, not timed



def _probe(port: int) -> str:
    """One kubelet-style gRPC health probe on the plaintext health listener."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(),
                                                               timeout=PROBE_TIMEOUT).status
        except grpc.RpcError as exc:
            return exc.code().name
    return health_pb2.HealthCheckResponse.ServingStatus.Name(status)


@pytest.mark.integration
def test_a_hung_event_loop_fails_the_health_probe(base_settings: Settings) -> None:
    health_port = free_port()
    settings = base_settings.with_overrides(component="catalog", health_listen=f"127.0.0.1:{health_port}")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="service-loop", daemon=True)
    thread.start()
    running = asyncio.run_coroutine_threadsafe(start_server(settings, create_component(settings)), loop).result(60)
    release = threading.Event()
    try:
        assert _probe(health_port) == "SERVING"
        loop.call_soon_threadsafe(release.wait)  # the loop is now stuck, as in a blocking call or a busy loop
        assert _probe(health_port) == "DEADLINE_EXCEEDED"
        release.set()
        assert _probe(health_port) == "SERVING"
    finally:
        release.set()
        asyncio.run_coroutine_threadsafe(running.stop(0), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
