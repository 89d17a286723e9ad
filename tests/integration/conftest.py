"""The whole platform: five real gRPC servers in this process and Envoy in front of them, on real sockets,
seeded with the demo through the edge.

Services run in one event loop here (fast to start, one trace provider to inspect); `govshare up`
runs the very same components as separate processes, and the same Envoy configuration.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc
import pytest
from caller_metadata import person_of
from envoy_edge import Edge, edge_settings
from free_ports import free_port
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from services.demo import DemoCredentials, seed_demo
from services.runtime.identity import Caller
from services.runtime.server import RunningServer, start_server
from services.runtime.settings import Settings
from services.runtime.tokens import issue_token

FACTORIES = {
    "catalog": "services.catalog.component",
    "foundation": "services.foundation.component",
    "authorization": "services.authorization.component",
    "query": "services.query.component",
    "supervision": "services.supervision.component",
}
PERSONS = 500


@dataclass
class Platform:
    settings: dict[str, Settings]
    servers: dict[str, RunningServer]
    credentials: DemoCredentials
    channel: grpc.aio.Channel = field(repr=False)
    edge: Edge = field(repr=False)
    #: The spans the edge exported (OTLP).
    edge_spans: SpanCollector = field(repr=False)

    @property
    def gateway(self) -> str:
        """The edge's address (Envoy): where business systems call."""
        return self.edge.address

    def port(self, component: str) -> str:
        return f"127.0.0.1:{self.servers[component].port}"

    def metadata(self, system: str) -> tuple[tuple[str, str], ...]:
        """Call metadata with a bearer token for a demo system (signed like the authorization service does)."""
        entry = self.credentials.systems[system]
        settings = self.settings["authorization"]
        caller = Caller(entry["system_id"], entry["department"], authority=system == "authority")
        token = issue_token(settings.token_private_key, caller, 600).token
        return (("authorization", f"Bearer {token}"),)

    def person(self, system: str, role: str) -> tuple[tuple[str, str], ...]:
        """Call metadata with a token for a person of demo department ``system`` holding ``role`` (a
        services.runtime.duties name): the decisions a person makes (issue 12)."""
        entry = self.credentials.systems[system]
        caller = person_of(Caller(entry["system_id"], entry["department"], authority=system == "authority"), role)
        token = issue_token(self.settings["authorization"].token_private_key, caller, 600).token
        return (("authorization", f"Bearer {token}"),)

    @contextlib.asynccontextmanager
    async def authorization_down(self) -> AsyncIterator[None]:
        """The authorization service stopped for the block, then started again where the other services and the
        edge expect it."""
        from services.authorization.component import create_component

        await self.servers["authorization"].stop(0)
        try:
            yield
        finally:
            settings = self.settings["authorization"]
            self.servers["authorization"] = await start_server(
                settings.with_overrides(listen=self.port("authorization")), create_component(settings))



async def start_platform(base: Settings) -> tuple[dict[str, Settings], dict[str, RunningServer]]:
    """Starts the six services in dependency order, each knowing every service's port (as `govshare up` does:
    catalog and foundation deliver administrative events to authorization, which starts after them)."""
    ports = {name: free_port() for name in FACTORIES}
    targets = {f"{name}_target": f"127.0.0.1:{port}" for name, port in ports.items() if name != "gateway"}
    servers: dict[str, RunningServer] = {}
    settings: dict[str, Settings] = {}
    for name, module in FACTORIES.items():
        own = base.with_overrides(component=name, **targets)
        if name == "authorization":
            own = own.with_overrides(jwks_listen="127.0.0.1:0")
        factory = importlib.import_module(module).create_component
        servers[name] = await start_server(own.with_overrides(listen=f"127.0.0.1:{ports[name]}"), factory(own))
        # Kept with the base listen address: a test that starts another process from these settings gets a port
        # of its own (SO_REUSEPORT would otherwise share this one with it).
        settings[name] = own
    return settings, servers


class SpanCollector(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP/gRPC trace receiver: where the edge (Envoy) exports its spans in tests."""

    def __init__(self) -> None:
        self.spans: list[object] = []

    async def Export(self, request, context):  # type: ignore[no-untyped-def]
        for resource in request.resource_spans:
            for scope in resource.scope_spans:
                self.spans.extend(scope.spans)
        return trace_service_pb2.ExportTraceServiceResponse()


async def start_collector() -> tuple[SpanCollector, grpc.aio.Server, int]:
    collector, server = SpanCollector(), grpc.aio.server()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(collector, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return collector, server, port


async def start_edge(base: Settings, servers: dict[str, RunningServer], env: dict[str, str] | None = None,
                     **overrides: object) -> Edge:
    """Envoy in front of the backends in ``servers`` (its own work directory under /tmp, removed when it stops)."""
    targets = {f"{name}_target": f"127.0.0.1:{server.port}" for name, server in servers.items()}
    jwks_port = servers["authorization"].component.jwks.port  # type: ignore[attr-defined]
    return await Edge(edge_settings(base, targets, jwks_port, **overrides), env=env or {}).start()


@pytest.fixture(scope="session")
async def platform(base_settings: Settings) -> AsyncIterator[Platform]:
    settings, servers = await start_platform(base_settings)
    collector, collector_server, collector_port = await start_collector()
    # Every call sampled at the edge, its spans sent to the collector (Envoy flushes every few seconds).
    edge = await start_edge(base_settings, servers, env={
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector_port}", "OTEL_TRACES_SAMPLER": "always_on"})
    credentials = await seed_demo(edge.address, base_settings.database_url, persons=PERSONS, entities=200,
                                  licences=200)
    channel = grpc.aio.insecure_channel(edge.address)
    yield Platform(settings=settings, servers=servers, credentials=credentials, channel=channel, edge=edge,
                   edge_spans=collector)
    await channel.close()
    edge.stop()
    await collector_server.stop(0)
    for server in reversed(list(servers.values())):
        await server.stop(0)
