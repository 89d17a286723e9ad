"""The systems' states kept current in a service that verifies tokens but has no event subscriber of its own.

Every service verifies the bearer token it receives (services.runtime.callers), so
every service must refuse a disabled system's or a rotated secret's tokens itself:
the edge (Envoy) cannot ask. Query keeps its SystemStates with its other caches;
catalog, foundation and authorization use this watcher: the states loaded at start
(from authorization, or from authorization's own store), on every event-stream
reconnect and every minute, and updated by ``govshare.systems.changed`` in between.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

import grpc

from services.runtime.cache import SYSTEMS_CHANGED, Subscriber
from services.runtime.clients import open_channel
from services.runtime.identity import AssertionSigner, Caller, service_caller
from services.runtime.person_sessions import PersonSessions
from services.runtime.settings import Settings
from services.runtime.system_states import Loader, SystemState, SystemStates, authorization_loader

#: How long start waits for the first load (token calls get UNAVAILABLE until then: fail closed).
FIRST_LOAD_SECONDS = 5.0


class SystemStatesWatch:
    """A SystemStates (its :meth:`check` goes to the caller verifier) and what keeps it current."""

    def __init__(self, settings: Settings, component: str) -> None:
        self._settings = settings
        self._component = component
        self.states = SystemStates(self._load)
        #: Reads a person's session against their row before a decision of theirs (started with the
        #: authorization service's channel; None for a service started alone, which has no one to ask).
        self.sessions: PersonSessions | None = None
        self._loader: Loader | None = None
        self._channel: grpc.aio.Channel | None = None
        self._subscriber: Subscriber | None = None

    def check(self, caller: Caller) -> None:
        self.states.check(caller)

    async def start(self, loader: Loader | None = None) -> None:
        """Starts loading (``loader``, else AuthorizationService.ListSystemStates) and listening."""
        if loader is None and not self._settings.authorization_target:
            # Only a process built without settings validation (a test starting one service alone) gets here:
            # GOVSHARE_AUTHORIZATION_TARGET is required, so a deployed service always loads the states.
            loader = _nothing_restricted
        if loader is None:
            self._channel = open_channel(self._settings.authorization_target, self._settings)
            signer, identity = AssertionSigner(self._settings.internal_key), service_caller(self._component)
            timeout = self._settings.call_timeout_seconds
            loader = authorization_loader(self._channel, signer, identity, timeout)
            self.sessions = PersonSessions(self._channel, signer, identity, timeout, self.states)
        self._loader = loader
        self.states.start()
        self._subscriber = Subscriber(self._settings.redis_url, {SYSTEMS_CHANGED: self.states.on_event},
                                      resync=self.states.resync)
        self._subscriber.start()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(FIRST_LOAD_SECONDS):
                await self.states.first_attempt()

    async def until_ready(self) -> None:
        """Returns once the states are loaded (the component's readiness: services.runtime.server)."""
        await self.states.wait_loaded()

    async def _load(self) -> Iterable[tuple[str, SystemState]]:
        if self._loader is None:
            raise RuntimeError(f"the {self._component} service is not started")
        return await self._loader()

    async def stop(self) -> None:
        if self._subscriber is not None:
            await self._subscriber.stop()
            self._subscriber = None
        await self.states.stop()
        if self._channel is not None:
            await self._channel.close()
            self._channel = None


async def _nothing_restricted() -> list[tuple[str, SystemState]]:
    return []
