"""Wiring of the query service: pools, channels, caches, the audit writer, event subscriptions."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Iterable
from pathlib import Path

import asyncpg
import grpc
import redis.asyncio as aioredis

from govshare.query.v1 import (
    audit_pb2,
    audit_pb2_grpc,
    dispute_pb2,
    dispute_pb2_grpc,
    figures_pb2,
    figures_pb2_grpc,
    query_pb2,
)
from services.query import figures
from services.query.audit import AuditWriter
from services.query.audit_servicer import AuditServicer
from services.query.checkpoints import Checkpoint, Checkpointer, CheckpointSigner, CheckpointVerifier
from services.query.decisions import Authorizer, DecisionCache, Quotas
from services.query.deps import Dependencies
from services.query.dispute_servicer import DisputeServicer
from services.query.disputes import OpenDisputes
from services.query.figures_servicer import AuditFiguresServicer, starting
from services.query.interruptions import WriterLease
from services.query.partitions import PartitionKeeper, Retention
from services.query.records import LocalRecords, ProviderClients, RecordCache
from services.query.redis_reads import RedisReader
from services.query.resources import Resources
from services.query.servicer import READ_VERIFY, QueryServicer
from services.query.store import QueryStore
from services.query.subjects import SubjectPolicy
from services.query.verifications import VerificationRunner
from services.query.verify_requests import add_query_service
from services.runtime.admin_events import AdminOutbox
from services.runtime.admission import heavy_read_gate
from services.runtime.cache import (
    CATALOG_CHANGED,
    DISPUTES_CHANGED,
    GRANTS_CHANGED,
    RECORDS_CHANGED,
    SYSTEMS_CHANGED,
    Subscriber,
    create_client,
)
from services.runtime.callers import caller_verifier
from services.runtime.catalog_client import CatalogCache
from services.runtime.clients import open_channel
from services.runtime.db import WorkPools, create_work_pools
from services.runtime.errors import ServiceError
from services.runtime.figures import FigureRow, FigureSource
from services.runtime.identity import AssertionSigner, AssertionVerifier, service_caller
from services.runtime.keys import ed25519_private_key, ed25519_public_keys
from services.runtime.masking import Masker
from services.runtime.person_sessions import PersonSessions
from services.runtime.provider_assertions import ProviderAssertionSigner
from services.runtime.settings import Settings
from services.runtime.system_states import Loader, SystemState, SystemStates, authorization_loader

log = logging.getLogger(__name__)

SUBSCRIBE_TIMEOUT_SECONDS = 10.0
# A record read that takes longer falls back to the provider.
REDIS_READ_TIMEOUT_SECONDS = 1.0
#: How often the access log's coming partitions are ensured and settled days rolled up (services/query/partitions).
UPKEEP_SECONDS = 3600.0
CATALOG_SERVICE = "govshare.catalog.v1.CatalogService"
AUTHORIZATION_SERVICE = "govshare.authorization.v1.AuthorizationService"


class QueryComponent:
    name = "query"
    service_names = (
        query_pb2.DESCRIPTOR.services_by_name["QueryService"].full_name,
        dispute_pb2.DESCRIPTOR.services_by_name["DisputeService"].full_name,
        audit_pb2.DESCRIPTOR.services_by_name["AuditService"].full_name,
        figures_pb2.DESCRIPTOR.services_by_name["AuditFiguresService"].full_name,
    )
    #: The query path's unary methods reach PostgreSQL and Redis only through futures other tasks resolve (the
    #: audit writer's, the pipelined Redis reader's): cancelled, they end at once, so their time limit needs no
    #: task of its own per call (services.runtime.server._bounded_in_task).
    cancel_at_once = frozenset(f"/{query_pb2.DESCRIPTOR.services_by_name['QueryService'].full_name}/{name}"
                               for name in ("Query", "BatchQuery", "Verify"))

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        # Built now so a bad GOVSHARE_MASK_RULES stops the process before it serves anything.
        self._masker = Masker(settings.mask_rules)
        self._checkpoint_signer = CheckpointSigner(ed25519_private_key(settings.audit_signing_key))
        retired = ed25519_public_keys(settings.audit_retired_public_keys) if settings.audit_retired_public_keys else []
        self._checkpoint_verifier = CheckpointVerifier([self._checkpoint_signer.public_key, *retired])
        # Calls of a disabled system, or with a token older than its system's last rotation, are refused here
        # too (as by every service), and the system's cached decisions dropped.
        self._states = SystemStates(self._load_states)
        self._states_loader: Loader | None = None
        self._states.add_listener(self._on_system_changed)
        verifier = caller_verifier(settings, check=self._states.check)
        self._servicers = (QueryServicer(verifier), DisputeServicer(verifier),
                           AuditServicer(verifier, heavy_read_gate(settings)))
        self._pool: asyncpg.Pool | None = None
        self._pools: WorkPools | None = None
        self._redis: aioredis.Redis | None = None
        self._reader: RedisReader | None = None
        self._channels: list[grpc.aio.Channel] = []
        self._subscriber: Subscriber | None = None
        self._deps: Dependencies | None = None
        self._reload: asyncio.Task | None = None
        self._keeper: PartitionKeeper | None = None
        self._lease: WriterLease | None = None
        self._outbox = AdminOutbox(settings, "query")

    def register(self, server: grpc.aio.Server) -> None:
        query, dispute, audit = self._servicers
        add_query_service(query, server, READ_VERIFY)
        dispute_pb2_grpc.add_DisputeServiceServicer_to_server(dispute, server)
        audit_pb2_grpc.add_AuditServiceServicer_to_server(audit, server)
        figures_pb2_grpc.add_AuditFiguresServiceServicer_to_server(
            AuditFiguresServicer(AssertionVerifier(self._settings.verifying_internal_keys), self._figure_source,
                                 self._figures_store), server)

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        settings = self._settings
        self._pools = await create_work_pools(settings, "query")
        self._pool = self._pools.online
        self._redis = create_client(settings.redis_url)
        await self._redis.ping()
        self._reader = RedisReader(settings.redis_url, timeout=min(REDIS_READ_TIMEOUT_SECONDS,
                                                                   settings.call_timeout_seconds))
        await self._reader.get("govshare:query:ping")  # fails start while Redis cannot be read
        signer, identity = AssertionSigner(settings.internal_key), service_caller("query")
        timeout = settings.call_timeout_seconds
        catalog_channel = open_channel(settings.catalog_target, settings, (CATALOG_SERVICE,))
        authorization_channel = open_channel(settings.authorization_target, settings, (AUTHORIZATION_SERVICE,))
        self._channels = [catalog_channel, authorization_channel]
        self._outbox.start(self._pool)
        provider_signer = ProviderAssertionSigner(settings.provider_signing_key) \
            if settings.provider_signing_key else None
        providers = ProviderClients(settings, signer, identity, provider_signer)
        store = QueryStore(self._pool, listing=self._pools.listing, search=self._pools.search)
        if report := (await store.recount_dues()).report("dispute deadlines"):
            log.info(report)
        writer = AuditWriter(store.insert_accesses, settings.audit_flush_ms, settings.audit_batch_max,
                             settings.audit_linger_ms)
        resources = Resources(CatalogCache(catalog_channel, signer, identity, timeout=timeout), settings.zone,
                              settings.foundation_target)
        deps = Dependencies(
            settings=settings,
            resources=resources,
            decisions=DecisionCache(Authorizer(authorization_channel, signer, identity, timeout, resources.version),
                                    max_ttl=settings.decision_ttl_seconds),
            quotas=Quotas(store.consume_quotas, store.release_quota, store.add_quota_calls),
            records=RecordCache(self._reader, self._redis, providers, settings.record_cache_ttl_seconds,
                                LocalRecords(settings.record_local_ttl_ms / 1000.0, settings.record_local_capacity)),
            providers=providers,
            open_disputes=OpenDisputes(),
            audit=writer,
            checkpointer=Checkpointer(self._checkpoint_signer, writer.heads, writer.forget, store.insert_checkpoints,
                                      settings.audit_checkpoint_seconds),
            checkpoint_verifier=self._checkpoint_verifier,
            store=store,
            masker=self._masker,
            redis=self._redis,
            admin_outbox=self._outbox,
            subjects=SubjectPolicy(authorization_channel, signer, identity, timeout),
            verifications=VerificationRunner(store, self._checkpoint_verifier, settings.audit_verify_lease_seconds,
                                             settings.audit_verify_pause_ms / 1000.0),
            sessions=PersonSessions(authorization_channel, signer, identity, timeout, self._states),
        )
        self._deps = deps
        self._states_loader = authorization_loader(authorization_channel, signer, identity, timeout)
        self._states.start()
        self._subscriber = Subscriber(settings.redis_url, {
            SYSTEMS_CHANGED: self._states.on_event,
            CATALOG_CHANGED: self._on_catalog_changed,
            GRANTS_CHANGED: deps.decisions.on_grants_changed,
            RECORDS_CHANGED: deps.records.on_records_changed,
            DISPUTES_CHANGED: deps.open_disputes.on_event,
        }, resync=self._resync, lost=self._lost)
        self._subscriber.start()
        await self._subscribed(self._subscriber)
        if self._reload is not None:
            await self._reload  # the open disputes must be known before the first answer
        with contextlib.suppress(TimeoutError):
            # Until the states are loaded, token-bearing calls are refused UNAVAILABLE (fail closed).
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT_SECONDS):
                await self._states.first_attempt()
        retention = None
        if settings.audit_retention_months:
            retention = Retention(settings.audit_retention_months, Path(settings.audit_archive_dir),
                                  self._checkpoint_signer, ed25519_private_key(settings.audit_signing_key))
        self._keeper = PartitionKeeper(store, UPKEEP_SECONDS, retention=retention)
        await self._keeper.start()  # the month's partition must exist before the first record is written
        deps.audit.start()
        self._lease = WriterLease(store, writer)
        await self._lease.start()  # before the first call: an export of this process's is covered by its lease
        deps.checkpointer.start()
        if deps.verifications is not None:
            deps.verifications.start()
        for servicer in self._servicers:
            servicer.deps = deps

    @staticmethod
    async def _subscribed(subscriber: Subscriber) -> None:
        """Waits until Redis has confirmed every channel: a start that fails says why (a refused SUBSCRIBE names
        the ACL channels to grant) instead of a bare TimeoutError."""
        try:
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT_SECONDS):
                await subscriber.ready.wait()
        except TimeoutError:
            raise RuntimeError(subscriber.problem or "the event subscription was not confirmed") from None

    async def _load_states(self) -> Iterable[tuple[str, SystemState]]:
        if self._states_loader is None:
            raise RuntimeError("the query service is not started")
        return await self._states_loader()

    def _on_system_changed(self, system_id: str) -> None:
        """A system was disabled, enabled or rotated: its cached decisions go (its calls are refused anyway)."""
        if self._deps is not None:
            self._deps.decisions.invalidate(system_id=system_id)

    def _on_catalog_changed(self, payload: dict) -> None:
        deps = self._deps
        if deps is None:
            return
        code = payload.get("code")
        code = code if isinstance(code, str) and code else None
        deps.resources.invalidate(code)
        deps.decisions.invalidate(resource_code=code)

    def _resync(self) -> None:
        """After every (re)subscription: events may have been missed, so drop what they would have changed."""
        deps = self._deps
        if deps is None:
            return
        deps.resources.invalidate()
        deps.decisions.resync()
        deps.records.resync()
        self._states.resync()
        if self._reload is not None and not self._reload.done():
            self._reload.cancel()
        deps.open_disputes.begin_load()
        self._reload = asyncio.create_task(self._reload_open_disputes(deps), name="query-open-disputes")

    def _lost(self) -> None:
        """The event subscription broke: until it is back, changes go unheard, so nothing is kept on trust."""
        deps = self._deps
        if deps is None:
            return
        deps.records.suspend()
        deps.resources.invalidate()
        deps.decisions.suspend()

    @staticmethod
    async def _reload_open_disputes(deps: Dependencies) -> None:
        try:
            snapshot = await deps.store.open_dispute_records()
        except asyncio.CancelledError:
            raise
        except Exception:
            deps.open_disputes.abandon_load()
            log.exception("could not load the open disputes")
            raise
        deps.open_disputes.finish_load(snapshot)

    async def checkpoint(self) -> list[Checkpoint]:
        """Signs and stores the head of this process's chain now (what the timer does every interval)."""
        if self._deps is None:
            return []
        return await self._deps.checkpointer.checkpoint()

    @staticmethod
    async def _close_chain(deps: Dependencies) -> None:
        """The final checkpoint; if it cannot be written, the last periodic one stands (as after a crash)."""
        try:
            await deps.checkpointer.stop()
        except Exception as exc:
            log.error("the audit chain's final checkpoint could not be written (%s)", type(exc).__name__)

    async def until_ready(self) -> None:
        """Ready once the business systems' states are loaded: until then every token is refused."""
        await self._states.wait_loaded()

    async def write_problem(self, within: float) -> BaseException | None:
        """Why the audit trail takes no records (health says NOT_SERVING meanwhile: every call would be refused
        AUDIT_UNAVAILABLE), or None (AuditWriter.write_problem)."""
        deps = self._deps
        return None if deps is None else await deps.audit.write_problem(within)

    async def stop(self) -> None:
        for servicer in self._servicers:
            servicer.deps = None
        if self._subscriber is not None:
            await self._subscriber.stop()
            self._subscriber = None
        await self._states.stop()
        if self._reload is not None:
            self._reload.cancel()
            with contextlib.suppress(BaseException):
                await self._reload
            self._reload = None
        await self._outbox.stop()
        if self._keeper is not None:
            await self._keeper.stop()
            self._keeper = None
        lease, self._lease = self._lease, None
        if lease is not None:
            await lease.stop()
        deps, self._deps = self._deps, None
        if deps is not None:
            if deps.verifications is not None:
                await deps.verifications.stop()  # a job under way resumes from its saved page elsewhere
            await deps.audit.stop()  # every queued record is written before the pool closes
            await deps.quotas.close()  # so is every call of a grant without a quota
            await self._close_chain(deps)
            if lease is not None:
                with contextlib.suppress(Exception):  # unreleased, it lapses: nothing of its is left open
                    await lease.release()
            await deps.store.release_audit_connection()
            await deps.providers.close()
            deps.records.close()
        for channel in self._channels:
            await channel.close()
        self._channels = []
        if self._reader is not None:
            await self._reader.close()
            self._reader = None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None
        if self._pools is not None:
            await self._pools.close()
            self._pools = self._pool = None

    def _figures_store(self) -> QueryStore:
        """The store, once started (ListResourceUsage)."""
        if self._deps is None:
            raise starting()
        return self._deps.store

    def _figure_source(self) -> FigureSource:
        """Access and dispute figures for supervision (R-SUP-1)."""
        deps = self._deps
        if deps is None:
            raise ServiceError(grpc.StatusCode.UNAVAILABLE, "STARTING", "the query service is starting")
        store = deps.store

        async def compute(_request: object, start: dt.datetime, end: dt.datetime) -> list[FigureRow]:
            return await figures.department_figures(store, start, end, dt.datetime.now(dt.UTC))
        return compute


def create_component(settings: Settings) -> QueryComponent:
    return QueryComponent(settings)
