"""Wiring of the supervision service: pool, channels to the owning services, the workflows, the schedule."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

import asyncpg
import grpc

from govshare.supervision.v1 import supervision_pb2_grpc
from services.runtime import db
from services.runtime.admin_events import AdminOutbox
from services.runtime.callers import caller_verifier
from services.runtime.clients import open_channel
from services.runtime.errors import ServiceError, dependency_failure, describe
from services.runtime.identity import AssertionSigner, service_caller
from services.runtime.settings import Settings
from services.runtime.system_states_watch import SystemStatesWatch
from services.runtime.tasks import cancel
from services.supervision.months import Month
from services.supervision.servicer import SupervisionServicer
from services.supervision.sources import IDEMPOTENT_SERVICES, FigureSources
from services.supervision.store import SupervisionStore
from services.supervision.supervision import Supervision

SERVICE_NAME = "govshare.supervision.v1.SupervisionService"
#: The first scheduled computation waits for the other services of a fresh `govshare up` to finish starting.
FIRST_RUN_DELAY_SECONDS = 20.0
log = logging.getLogger(__name__)


class SupervisionComponent:
    """SupervisionService, registered at once; pool and channels open in start()."""

    name = "supervision"
    service_names = (SERVICE_NAME,)

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._pool: asyncpg.Pool | None = None
        self._pools: db.WorkPools | None = None
        self._channels: list[grpc.aio.Channel] = []
        self._supervision: Supervision | None = None
        self._schedule: asyncio.Task | None = None
        self._outbox = AdminOutbox(settings, "supervision")
        #: Supervisors call with their bearer token (verified here: the edge's check is not trusted), and the
        #: tokens of disabled systems and rotated secrets are refused here too.
        self._states = SystemStatesWatch(settings, self.name)
        self._servicer = SupervisionServicer(caller_verifier(settings, check=self._states.check),
                                             lambda: self.supervision)

    def register(self, server: grpc.aio.Server) -> None:
        supervision_pb2_grpc.add_SupervisionServiceServicer_to_server(self._servicer, server)

    async def start(self) -> None:
        settings = self._settings
        self._pools = await db.create_work_pools(settings, "supervision")
        self._pool = self._pools.online
        await self._states.start()
        channels = {name: open_channel(getattr(settings, f"{name}_target"), settings, IDEMPOTENT_SERVICES)
                    for name in ("catalog", "authorization", "query", "foundation")}
        self._channels = list(channels.values())
        sources = FigureSources(channels, AssertionSigner(settings.internal_key), service_caller("supervision"),
                                settings.call_timeout_seconds)
        self._outbox.start(self._pool)
        self._supervision = Supervision(SupervisionStore(self._pool, listing=self._pools.listing), sources,
                                        recorded=self._outbox.notify, sessions=self._states.sessions)
        if settings.supervision_snapshot_seconds > 0:
            self._schedule = asyncio.create_task(self._periodic(settings.supervision_snapshot_seconds))

    async def until_ready(self) -> None:
        """Ready once the business systems' states are loaded: until then every token is refused."""
        await self._states.until_ready()

    async def stop(self) -> None:
        await cancel(self._schedule)
        self._schedule = None
        self._supervision = None
        await self._states.stop()
        await self._outbox.stop()
        for channel in self._channels:
            await channel.close()
        self._channels = []
        if self._pools is not None:
            await self._pools.close()
            self._pools = self._pool = None

    @property
    def supervision(self) -> Supervision:
        if self._supervision is None:
            raise ServiceError(grpc.StatusCode.UNAVAILABLE, "NOT_READY", "the supervision service is starting")
        return self._supervision

    async def _periodic(self, interval: float) -> None:
        """Computes the previous and the current month shortly after start, then every ``interval`` seconds
        (the schedule of `govshare up`; the chart runs a CronJob instead and sets the interval to 0)."""
        caller = service_caller("supervision")
        delay = min(FIRST_RUN_DELAY_SECONDS, interval)
        while True:
            await asyncio.sleep(delay)
            delay = interval
            current = Month.of(dt.datetime.now(dt.UTC))
            for month in (current.previous(), current):
                try:
                    await self.supervision.compute(caller, month)
                except Exception as exc:  # the schedule outlives any failed run
                    # What failed, in the words `govshare supervise` prints: the class name alone ("failed:
                    # ServiceError", every few minutes under `govshare up`) named no service and no cause. The
                    # supervision schema and the figures services' refusals hold no personal data. Only these three
                    # kinds were caught: a pooled connection the server had ended (asyncpg's InternalClientError
                    # "cannot switch to state", or an InterfaceError on a closed one) ended the task, and no month
                    # was computed again until the process restarted, without a word.
                    if isinstance(exc, ServiceError | asyncpg.PostgresError) or dependency_failure(exc) is not None:
                        log.warning("scheduled supervision of %s failed (%s)", month.label(), describe(exc, limit=400))
                    else:
                        log.exception("scheduled supervision of %s failed", month.label())


def create_component(settings: Settings) -> SupervisionComponent:
    return SupervisionComponent(settings)
