"""Wiring of the 前置机: its configuration -> store, verifier, access log, rate limit and servicer.

It runs on the platform's own server (services.runtime.server.start_server): the standard health service
(NOT_SERVING until the department database answers, and while it does not: DepartmentDatabaseProbe), reflection,
per-call metrics and spans, a graceful drain, as every other govshare process.
"""

from __future__ import annotations

import asyncpg
import grpc

from frontproc.access_log import AccessLog
from frontproc.config import FrontprocConfig
from frontproc.limits import RateLimit
from frontproc.notify import notify
from frontproc.servicer import FrontprocServicer
from frontproc.store import DatabaseConnector, DepartmentStore
from frontproc.watch import ChangeWatcher
from govshare.provider.v1 import provider_pb2_grpc
from services.runtime.db import DatabaseProbe
from services.runtime.provider_assertions import ProviderAssertionVerifier
from services.runtime.settings import Settings

PROVIDER_SERVICE = "govshare.provider.v1.ProviderService"


def server_settings(config: FrontprocConfig) -> Settings:
    """What the shared server needs: listen address, TLS, metrics (no platform secret among them)."""
    return Settings(component="frontproc", listen=config.listen, health_listen=config.health_listen,
                    metrics_port=config.metrics_port, metrics_host=config.metrics_host, tls_cert=config.tls_cert,
                    tls_key=config.tls_key, tls_ca=config.tls_ca, drain_grace_seconds=0.0)


class DepartmentDatabaseProbe(DatabaseProbe):
    """Whether the department database answers, on a connection of its own opened as the store opens its own
    (with the URL database.url_file holds now, once the one in use no longer connects): what health follows.

    Health said SERVING through an outage of the department database, every call of the platform refused
    UNAVAILABLE meanwhile: a readiness probe kept the 前置机 in its Service, and the ops person reading health (or
    the metrics' readiness) saw nothing wrong, as the platform's services did before they followed their own
    database (services.runtime.server.watch_database)."""

    def __init__(self, connector: DatabaseConnector) -> None:
        super().__init__("", "frontproc")
        self._connector = connector

    async def _connect(self, within: float) -> asyncpg.Connection:
        return await self._connector.connect(timeout=within,
                                             server_settings={"application_name": "govshare-frontproc-readiness"})


class FrontprocComponent:
    name = "frontproc"
    service_names = (PROVIDER_SERVICE,)

    def __init__(self, config: FrontprocConfig) -> None:
        self._config = config
        self.store = DepartmentStore(config)
        self.access_log = AccessLog(config.access_log)
        verifier = ProviderAssertionVerifier(config.platform_public_keys, audience=config.endpoint,
                                             keys_file=config.platform_public_keys_file)
        self._servicer = FrontprocServicer(config, verifier, self.store, self.access_log,
                                           RateLimit(config.rate_per_second, config.rate_burst))
        self.watcher = ChangeWatcher(config, lambda code, keys: notify(config, code, keys), self.store.connector)
        self.database_probe = DepartmentDatabaseProbe(self.store.connector)

    def register(self, server: grpc.aio.Server) -> None:
        provider_pb2_grpc.add_ProviderServiceServicer_to_server(self._servicer, server)

    async def start(self) -> None:
        await self.store.open()
        self.access_log.open()
        self.watcher.start()

    async def stop(self) -> None:
        await self.watcher.stop()
        self.access_log.close()
        await self.store.close()


def create_component(config: FrontprocConfig) -> FrontprocComponent:
    return FrontprocComponent(config)
