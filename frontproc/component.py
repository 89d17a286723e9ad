"""Wiring of the 前置机: its configuration -> store, verifier, access log, rate limit and servicer.

It runs on the platform's own server (services.runtime.server.start_server): the standard health service
(NOT_SERVING until the department database answers), reflection, per-call metrics and spans, a graceful
drain, as every other govshare process.
"""

from __future__ import annotations

import grpc

from frontproc.access_log import AccessLog
from frontproc.config import FrontprocConfig
from frontproc.limits import RateLimit
from frontproc.notify import notify
from frontproc.servicer import FrontprocServicer
from frontproc.store import DepartmentStore
from frontproc.watch import ChangeWatcher
from govshare.provider.v1 import provider_pb2_grpc
from services.runtime.provider_assertions import ProviderAssertionVerifier
from services.runtime.settings import Settings

PROVIDER_SERVICE = "govshare.provider.v1.ProviderService"


def server_settings(config: FrontprocConfig) -> Settings:
    """What the shared server needs: listen address, TLS, metrics (no platform secret among them)."""
    return Settings(component="frontproc", listen=config.listen, health_listen=config.health_listen,
                    metrics_port=config.metrics_port, metrics_host=config.metrics_host, tls_cert=config.tls_cert,
                    tls_key=config.tls_key, tls_ca=config.tls_ca, drain_grace_seconds=0.0)


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
