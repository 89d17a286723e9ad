"""Wiring of the catalog service: pool, Redis, the Catalog and its servicer."""

from __future__ import annotations

import datetime as dt
import logging

import grpc
import redis.asyncio as aioredis

from govshare.catalog.v1 import catalog_pb2_grpc, figures_pb2, figures_pb2_grpc
from services.catalog import figures, rules
from services.catalog.catalog import Catalog
from services.catalog.directory import DepartmentDirectory
from services.catalog.endpoints import EndpointChecker
from services.catalog.indexing import IndexKeeper
from services.catalog.servicer import CatalogServicer
from services.catalog.store import CatalogStore
from services.catalog.usage import UsageFeed
from services.runtime import cache, db
from services.runtime.admin_events import AdminOutbox
from services.runtime.admission import heavy_read_gate
from services.runtime.callers import caller_verifier
from services.runtime.errors import ServiceError
from services.runtime.figures import FigureSource, FiguresServicer
from services.runtime.identity import AssertionVerifier
from services.runtime.masking import Masker
from services.runtime.settings import Settings
from services.runtime.system_states_watch import SystemStatesWatch

log = logging.getLogger(__name__)

SERVICE_NAME = "govshare.catalog.v1.CatalogService"
FIGURES_SERVICE_NAME = "govshare.catalog.v1.CatalogFiguresService"


class CatalogComponent:
    """The catalog's servicer, registered at once; its pool and Redis client open in start()."""

    name = "catalog"
    service_names = (SERVICE_NAME, FIGURES_SERVICE_NAME)

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._pools: db.WorkPools | None = None
        self._redis: aioredis.Redis | None = None
        self._catalog: Catalog | None = None
        self._store: CatalogStore | None = None
        # Built here so a bad GOVSHARE_MASK_RULES stops the process before it serves.
        self._masker = Masker(settings.mask_rules)
        #: Tokens of disabled systems and rotated secrets are refused here too (the edge cannot ask).
        self._states = SystemStatesWatch(settings, self.name)
        self._servicer = CatalogServicer(lambda: self.catalog, caller_verifier(settings, check=self._states.check),
                                         heavy_read_gate(settings))
        # Internal (service-only): platform services call it with their mesh identity.
        self._figures = FiguresServicer(AssertionVerifier(settings.verifying_internal_keys), self._figure_source,
                                        figures_pb2.ListDepartmentFiguresResponse)
        self._outbox = AdminOutbox(settings, self.name)
        #: Whether a department a mandate change names is one (the authorization service's directory).
        self._directory = DepartmentDirectory(settings)
        #: The replica's search index: built from PostgreSQL in start(), then kept current by change events.
        self._index: IndexKeeper | None = None
        #: The entries' use counts, from the query service (search ranking), when query_target is set.
        self._usage: UsageFeed | None = None

    def register(self, server: grpc.aio.Server) -> None:
        catalog_pb2_grpc.add_CatalogServiceServicer_to_server(self._servicer, server)
        figures_pb2_grpc.add_CatalogFiguresServiceServicer_to_server(self._figures, server)

    async def start(self) -> None:
        redis = cache.create_client(self._settings.redis_url)
        try:
            await redis.ping()
            pools = await db.create_work_pools(self._settings, "catalog")
        except BaseException:
            await redis.aclose()
            raise
        self._redis, self._pools = redis, pools
        pool = pools.online
        self._outbox.start(pool)
        await self._states.start()
        self._store = CatalogStore(pool, listing=pools.listing, search=pools.search)
        if report := (await self._store.recount_dues()).report("catalog update due dates"):
            log.info(report)
        await flag_stored_codes(self._store)
        await flag_unmasked_rules(self._store)
        self._index = IndexKeeper(self._settings.redis_url)
        self._index.start(self._store)
        self._directory.open()
        if self._settings.query_target and self._settings.catalog_usage_refresh_seconds > 0:
            self._usage = UsageFeed(self._settings, self._store, self._index.catch_up_soon)
            self._usage.start()
        self._catalog = Catalog(self._store, self._announce, self._settings.zone, self._masker,
                                self._settings.catalog_update_working_days, EndpointChecker(self._settings),
                                self._index, self._settings.foundation_target, self._directory,
                                self._states.sessions)

    async def until_ready(self) -> None:
        """Ready once the business systems' states are loaded: until then every token is refused."""
        await self._states.until_ready()

    async def stop(self) -> None:
        if self._usage is not None:
            await self._usage.stop()
            self._usage = None
        if self._index is not None:
            await self._index.stop()
        await self._states.stop()
        await self._directory.close()
        await self._outbox.stop()
        if self._pools is not None:
            await self._pools.close()
            self._pools = None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    @property
    def catalog(self) -> Catalog:
        """The started catalog; calls that arrive while dependencies connect are told to retry."""
        if self._catalog is None:
            raise ServiceError(grpc.StatusCode.UNAVAILABLE, "NOT_READY", "the catalog service is starting")
        return self._catalog

    def _figure_source(self) -> FigureSource:
        """The catalog's figures for supervision (R-SUP-1), once the store is open."""
        store = self._store
        if store is None:
            raise ServiceError(grpc.StatusCode.UNAVAILABLE, "NOT_READY", "the catalog service is starting")

        async def compute(_request: object, start: dt.datetime, end: dt.datetime) -> list[figures.FigureRow]:
            return await figures.department_figures(store, start, end, dt.datetime.now(dt.UTC))
        return compute

    async def _announce(self, code: str) -> None:
        """After every committed change of an entry: tells the platform (every catalog replica's search index
        among it), and delivers any administrative event; this replica's index has it before the call returns."""
        self._outbox.notify()
        if self._index is not None:
            await self._index.touch(code)
        if self._redis is not None:
            await cache.publish(self._redis, cache.CATALOG_CHANGED, {"code": code})


#: How many entries the start log names (the rest are counted).
FLAGGED_NAMED = 20


async def flag_stored_codes(store: CatalogStore) -> list[str]:
    """Tells the authority, at every start, of the entries stored under codes the code rules refuse for a new entry
    (a part of zeros only, a 项 not standing for the subject): they are kept as they are, not renumbered nor hidden
    (grants, audit records and the departments' systems name them by code), and listed here so the authority can
    have each provider create it again under a right code and retire this one. Returns the codes."""
    flagged = [(code, problem) for code, category, subject in await store.numbered_entries()
               if (problem := rules.stored_code_problem(code, category, subject)) is not None]
    if flagged:
        log.warning("%d catalog entries stored before the code rules have codes those rules refuse for a new entry; "
                    "they are kept and served as they are (a code never changes): to renumber one, its provider "
                    "creates it again under a right code and retires this one. %s", len(flagged),
                    _first_named([f"{code}: {problem}" for code, problem in flagged]))
    return [code for code, _ in flagged]


async def flag_unmasked_rules(store: CatalogStore) -> list[str]:
    """Tells the authority, at every start, of the published entries with items given a masking rule but not marked
    sensitive: query serves them unmasked (only a sensitive item is masked), which the catalog now refuses in a new
    version but cannot change in one published before (the provider's 编目员 marks the item sensitive, or clears the
    rule, and the authority reviews it). Returns the codes."""
    flagged = await store.unmasked_rules()
    if flagged:
        log.warning("%d published catalog entries have items with a masking rule that are not marked sensitive, so "
                    "query serves them unmasked (the rule does nothing): their providers mark each item sensitive, "
                    "or clear its rule, in a new version for review. %s", len(flagged),
                    _first_named([f"{code}: {', '.join(items)}" for code, items in flagged]))
    return [code for code, _ in flagged]


def _first_named(lines: list[str]) -> str:
    """The first FLAGGED_NAMED of a start check's findings, and how many more: one log line, however many."""
    more = f"; and {len(lines) - FLAGGED_NAMED} more" if len(lines) > FLAGGED_NAMED else ""
    return "; ".join(lines[:FLAGGED_NAMED]) + more


def create_component(settings: Settings) -> CatalogComponent:
    return CatalogComponent(settings)
