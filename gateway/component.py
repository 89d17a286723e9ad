"""The gateway process: the public face of the mesh (DESIGN "The hot path", step 1).

It owns nothing durable. It authenticates every call (bearer tokens, verified
locally), limits each system's rate, and relays the call as raw bytes to the
service that owns the method, with the verified caller as a signed internal
assertion. Internal services (ProviderService, AuthorizationService) are never
reachable through it.

A verified token is refused again as soon as its system is disabled or its secret
rotated: the gateway keeps the systems' states (services.runtime.system_states),
loaded from authorization at start, on every event-stream reconnect and every
minute, and updated by ``govshare.systems.changed`` events in between.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

import grpc

from gateway.authentication import Authenticator
from gateway.limits import RateLimiter
from gateway.proxy import Proxy
from gateway.routing import Backend, RoutingTable, backend_targets
from services.runtime.cache import SYSTEMS_CHANGED, Subscriber
from services.runtime.clients import open_channel
from services.runtime.identity import AssertionSigner, service_caller
from services.runtime.settings import Settings
from services.runtime.system_states import Loader, SystemState, SystemStates, authorization_loader
from services.runtime.tokens import TokenVerifier

#: How long start waits for the first load of the systems' states (token calls get UNAVAILABLE until then).
STATES_WAIT_SECONDS = 5.0


class GatewayComponent:
    """Routes public calls to catalog, authorization, query and foundation over one channel per backend."""

    name = "gateway"
    #: The public edge: clients' trace context is linked, not continued (services.runtime.server._ServerSpans).
    edge = True

    def __init__(self, settings: Settings, table: RoutingTable | None = None) -> None:
        if not settings.token_public_key:
            raise ValueError("the gateway needs GOVSHARE_TOKEN_PUBLIC_KEY to verify bearer tokens")
        if not settings.redis_url:
            raise ValueError("the gateway needs GOVSHARE_REDIS_URL to hear when systems are disabled or rotated")
        self._settings = settings
        self._targets = backend_targets(settings)
        self._table = table or RoutingTable.from_descriptors()
        #: The public services: health reports them and reflection lists them (and nothing internal).
        self.service_names: tuple[str, ...] = self._table.service_names
        self._signer = AssertionSigner(settings.internal_key)
        self._states = SystemStates(self._load_states)
        self._proxy = Proxy(
            self._table,
            Authenticator(TokenVerifier(settings.token_public_key, check=self._states.check)),
            RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst),
            self._signer,
            call_timeout=settings.call_timeout_seconds,
        )
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._subscriber: Subscriber | None = None
        self._loader: Loader | None = None

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
        self._loader = authorization_loader(channels[Backend.AUTHORIZATION], self._signer, service_caller("gateway"),
                                            self._settings.call_timeout_seconds)
        self._states.start()
        self._subscriber = Subscriber(self._settings.redis_url, {SYSTEMS_CHANGED: self._states.on_event},
                                      resync=self._states.resync)
        self._subscriber.start()
        # Not required to start (authorization is its own failure domain), but usually ready at once.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STATES_WAIT_SECONDS):
                await self._states.first_attempt()

    async def _load_states(self) -> Iterable[tuple[str, SystemState]]:
        if self._loader is None:
            raise RuntimeError("the gateway is not started")
        return await self._loader()

    async def stop(self) -> None:
        if self._subscriber is not None:
            await self._subscriber.stop()
            self._subscriber = None
        await self._states.stop()
        self._proxy.disconnect()
        channels, self._channels = self._channels, {}
        for channel in channels.values():
            await channel.close()


def create_component(settings: Settings) -> GatewayComponent:
    return GatewayComponent(settings)
