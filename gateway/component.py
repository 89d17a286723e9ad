"""The gateway process: the public face of the mesh (DESIGN "The hot path", step 1).

It owns nothing durable. It authenticates every call (bearer tokens, verified
locally), limits each system's rate, and relays the call as raw bytes to the
service that owns the method, with the verified caller as a signed internal
assertion. Internal services (ProviderService, AuthorizationService) are never
reachable through it.
"""

from __future__ import annotations

import grpc

from gateway.authentication import Authenticator
from gateway.limits import RateLimiter
from gateway.proxy import Proxy
from gateway.routing import Backend, RoutingTable, backend_targets
from services.runtime.clients import open_channel
from services.runtime.identity import AssertionSigner
from services.runtime.settings import Settings
from services.runtime.tokens import TokenVerifier


class GatewayComponent:
    """Routes public calls to catalog, authorization, query and foundation over one channel per backend."""

    name = "gateway"
    #: The public edge: clients' trace context is linked, not continued (services.runtime.server._ServerSpans).
    edge = True

    def __init__(self, settings: Settings, table: RoutingTable | None = None) -> None:
        if not settings.token_public_key:
            raise ValueError("the gateway needs GOVSHARE_TOKEN_PUBLIC_KEY to verify bearer tokens")
        self._settings = settings
        self._targets = backend_targets(settings)
        self._table = table or RoutingTable.from_descriptors()
        #: The public services: health reports them and reflection lists them (and nothing internal).
        self.service_names: tuple[str, ...] = self._table.service_names
        self._proxy = Proxy(
            self._table,
            Authenticator(TokenVerifier(settings.token_public_key)),
            RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst),
            AssertionSigner(settings.internal_key),
            call_timeout=settings.call_timeout_seconds,
        )
        self._channels: dict[str, grpc.aio.Channel] = {}

    def register(self, server: grpc.aio.Server) -> None:
        for service, handlers in self._proxy.method_handlers().items():
            server.add_registered_method_handlers(service, handlers)
        server.add_generic_rpc_handlers((self._proxy,))

    async def start(self) -> None:
        """Opens one channel per distinct backend target and starts connecting.

        Backends are not awaited: each is its own failure domain, and while one is down the gateway still
        serves the others (its own methods answer UNAVAILABLE until it is back).
        """
        channels: dict[Backend, grpc.aio.Channel] = {}
        for backend, target in self._targets.items():
            if target not in self._channels:
                # The proxy puts trace context in each call's metadata itself (see gateway.proxy).
                self._channels[target] = open_channel(target, self._settings)
                self._channels[target].get_state(try_to_connect=True)
            channels[backend] = self._channels[target]
        self._proxy.connect(channels)

    async def stop(self) -> None:
        self._proxy.disconnect()
        channels, self._channels = self._channels, {}
        for channel in channels.values():
            await channel.close()


def create_component(settings: Settings) -> GatewayComponent:
    return GatewayComponent(settings)
