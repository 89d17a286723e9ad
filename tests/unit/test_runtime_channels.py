"""Channels between services balance their calls over every replica their target names (services.runtime.clients).

Two real servers of one service behind one target, as the runtime dials a component's headless Service whose
name resolves to each pod's address: both must get calls from one channel, not only the first one connected.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from govshare.catalog.v1 import catalog_pb2  # noqa: F401  (the service _Component names: health and reflection)
from services.runtime.clients import dial_target, open_channel
from services.runtime.server import RunningServer, start_server
from services.runtime.settings import Settings

CALLS = 40
Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]]


class _Component:
    name = "catalog"
    service_names = ("govshare.catalog.v1.CatalogService",)

    def register(self, server: grpc.aio.Server) -> None:
        pass

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


class _Counting(grpc.aio.ServerInterceptor):
    """Counts the health checks one server answers, under its name."""

    def __init__(self, name: str, counts: Counter[str]) -> None:
        self._name = name
        self._counts = counts

    async def intercept_service(self, continuation: Continuation,
                                handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        if handler_call_details.method.endswith("/Check"):
            self._counts[self._name] += 1
        return await continuation(handler_call_details)


async def _replica(name: str, counts: Counter[str]) -> RunningServer:
    settings = Settings(component="catalog", internal_key=b"k" * 40, listen="127.0.0.1:0")
    return await start_server(settings, _Component(), extra_interceptors=(_Counting(name, counts),))


async def test_a_channel_sends_calls_to_every_replica_its_target_names() -> None:
    counts: Counter[str] = Counter()
    first, second = await _replica("first", counts), await _replica("second", counts)
    try:
        target = f"ipv4:127.0.0.1:{first.port},127.0.0.1:{second.port}"
        async with open_channel(target, Settings()) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            for _ in range(CALLS):
                await stub.Check(health_pb2.HealthCheckRequest(service="liveness"), timeout=5)
        assert counts["first"] + counts["second"] == CALLS
        # Round robin: once both connections are up, calls alternate (a few may go to the first one up alone).
        assert min(counts["first"], counts["second"]) >= CALLS // 4, counts
    finally:
        await first.stop(0)
        await second.stop(0)


def test_a_host_and_port_is_dialled_through_the_dns_resolver() -> None:
    # The resolver that knows every address of a name (and resolves it again); an address list is kept as given.
    assert dial_target("govshare-query-pods.govshare.svc.cluster.local:50051") == (
        "dns:///govshare-query-pods.govshare.svc.cluster.local:50051")
    assert dial_target("127.0.0.1:50051") == "dns:///127.0.0.1:50051"
    assert dial_target("ipv4:127.0.0.1:1,127.0.0.1:2") == "ipv4:127.0.0.1:1,127.0.0.1:2"
