"""The whole platform in this process: six real gRPC servers on real sockets, seeded with the demo.

Services run in one event loop here (fast to start, one trace provider to inspect); `govshare up`
runs the very same components as separate processes.
"""

from __future__ import annotations

import importlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc
import pytest

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
    "gateway": "gateway.component",
}
PERSONS = 500


@dataclass
class Platform:
    settings: dict[str, Settings]
    servers: dict[str, RunningServer]
    credentials: DemoCredentials
    channel: grpc.aio.Channel = field(repr=False)

    @property
    def gateway(self) -> str:
        return f"127.0.0.1:{self.servers['gateway'].port}"

    def port(self, component: str) -> str:
        return f"127.0.0.1:{self.servers[component].port}"

    def metadata(self, system: str) -> tuple[tuple[str, str], ...]:
        """Call metadata with a bearer token for a demo system (signed like the authorization service does)."""
        entry = self.credentials.systems[system]
        settings = self.settings["authorization"]
        caller = Caller(entry["system_id"], entry["department"], authority=system == "authority")
        token = issue_token(settings.token_private_key, caller, 600).token
        return (("authorization", f"Bearer {token}"),)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def start_platform(base: Settings) -> tuple[dict[str, Settings], dict[str, RunningServer]]:
    """Starts the six services in dependency order, each knowing every service's port (as `govshare up` does:
    catalog and foundation deliver administrative events to authorization, which starts after them)."""
    ports = {name: _free_port() for name in FACTORIES}
    targets = {f"{name}_target": f"127.0.0.1:{port}" for name, port in ports.items() if name != "gateway"}
    servers: dict[str, RunningServer] = {}
    settings: dict[str, Settings] = {}
    for name, module in FACTORIES.items():
        own = base.with_overrides(component=name, **targets)
        factory = importlib.import_module(module).create_component
        servers[name] = await start_server(own.with_overrides(listen=f"127.0.0.1:{ports[name]}"), factory(own))
        # Kept with the base listen address: a test that starts another process from these settings gets a port
        # of its own (SO_REUSEPORT would otherwise share this one with it).
        settings[name] = own
    return settings, servers


@pytest.fixture(scope="session")
async def platform(base_settings: Settings) -> AsyncIterator[Platform]:
    settings, servers = await start_platform(base_settings)
    gateway = f"127.0.0.1:{servers['gateway'].port}"
    credentials = await seed_demo(gateway, base_settings.database_url, persons=PERSONS, entities=200,
                                  licences=200)
    channel = grpc.aio.insecure_channel(gateway)
    yield Platform(settings=settings, servers=servers, credentials=credentials, channel=channel)
    await channel.close()
    for server in reversed(list(servers.values())):
        await server.stop(0)
