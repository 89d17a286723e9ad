"""Wiring of the foundation service: pool, Redis, store, loader and the two servicers."""

from __future__ import annotations

import contextlib
import datetime as dt

import asyncpg
import grpc
import redis.asyncio as aioredis

from govshare.foundation.v1 import figures_pb2, figures_pb2_grpc, foundation_pb2_grpc
from govshare.provider.v1 import provider_pb2_grpc
from services.foundation import figures
from services.foundation.invalidation import RecordInvalidator
from services.foundation.loading import Loader
from services.foundation.provider_servicer import ProviderServicer
from services.foundation.registry import SourceRegistry
from services.foundation.servicer import FoundationAdminServicer
from services.foundation.store import FoundationStore
from services.runtime.admin_events import AdminOutbox
from services.runtime.cache import create_client
from services.runtime.callers import caller_verifier
from services.runtime.db import WorkPools, create_work_pools
from services.runtime.errors import ServiceError
from services.runtime.figures import FigureRow, FigureSource, FiguresServicer
from services.runtime.identity import AssertionVerifier
from services.runtime.settings import Settings
from services.runtime.system_states_watch import SystemStatesWatch

ADMIN_SERVICE = "govshare.foundation.v1.FoundationAdminService"
PROVIDER_SERVICE = "govshare.provider.v1.ProviderService"
# Lookups on cache misses come in bursts; a few more connections than the default keep them from queueing.
POOL_MAX_SIZE = 20


class FoundationComponent:
    """The foundation-data service: FoundationAdminService and the foundation ProviderService."""

    name = "foundation"
    service_names = (ADMIN_SERVICE, PROVIDER_SERVICE, "govshare.foundation.v1.FoundationFiguresService")

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._store = FoundationStore()
        self._invalidator = RecordInvalidator()
        #: Tokens of disabled systems and rotated secrets are refused here too (the edge cannot ask).
        self._states = SystemStatesWatch(settings, self.name)
        verifier = caller_verifier(settings, check=self._states.check)
        self._outbox = AdminOutbox(settings, self.name)
        loader = Loader(self._store, self._invalidator, recorded=self._outbox.notify)
        self._admin = FoundationAdminServicer(verifier, loader, self._store,
                                              SourceRegistry(self._store, recorded=self._outbox.notify,
                                                             invalidator=self._invalidator),
                                              recorded=self._outbox.notify, sessions=lambda: self._states.sessions)
        self._provider = ProviderServicer(verifier, self._store)
        self._pool: asyncpg.Pool | None = None
        self._pools: WorkPools | None = None
        self._redis: aioredis.Redis | None = None

    def register(self, server: grpc.aio.Server) -> None:
        foundation_pb2_grpc.add_FoundationAdminServiceServicer_to_server(self._admin, server)
        provider_pb2_grpc.add_ProviderServiceServicer_to_server(self._provider, server)
        figures_pb2_grpc.add_FoundationFiguresServiceServicer_to_server(
            FiguresServicer(AssertionVerifier(self._settings.verifying_internal_keys), self._figure_source,
                            figures_pb2.ListDepartmentFiguresResponse), server)

    async def start(self) -> None:
        """Opens the pool and Redis; raises (leaving nothing open) while either is not ready."""
        pools = await create_work_pools(self._settings, "foundation", online_max_size=POOL_MAX_SIZE)
        pool = pools.online
        client = create_client(self._settings.redis_url)
        try:
            await pool.fetchval("SELECT 1 FROM datasets LIMIT 1")  # migrated?
            await client.ping()
        except Exception:
            await client.aclose()
            await pools.close()
            raise
        self._pool, self._pools, self._redis = pool, pools, client
        self._store.attach(pool, listing=pools.listing)
        self._invalidator.attach(client)
        self._outbox.start(pool)
        await self._states.start()

    async def until_ready(self) -> None:
        """Ready once the business systems' states are loaded: until then every token is refused."""
        await self._states.until_ready()

    async def stop(self) -> None:
        await self._states.stop()
        await self._outbox.stop()
        self._store.attach(None)
        self._invalidator.attach(None)
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.aclose()
            self._redis = None
        if self._pools is not None:
            await self._pools.close()
            self._pools = self._pool = None

    def _figure_source(self) -> FigureSource:
        """Dataset freshness and conflict figures for supervision (R-SUP-1)."""
        store = self._store

        async def compute(request: figures_pb2.ListDepartmentFiguresRequest, start: dt.datetime,
                          end: dt.datetime) -> list[FigureRow]:
            cycles = {c.dataset: c.max_age_seconds for c in request.cycles if c.max_age_seconds > 0}
            if self._pool is None:
                raise ServiceError(grpc.StatusCode.UNAVAILABLE, "NOT_READY", "the foundation service is starting")
            return await figures.department_figures(store, cycles, end, start, dt.datetime.now(dt.UTC))
        return compute


def create_component(settings: Settings) -> FoundationComponent:
    return FoundationComponent(settings)
