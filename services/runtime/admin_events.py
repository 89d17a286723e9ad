"""Administrative events: what each service records for the authority's administrative log.

The log itself (hash-chained) lives in the authorization service. Authorization
appends its own actions in the transaction of the action. Every other service
(catalog, foundation) must not lose an entry while authorization is down, so it
writes the event to an *outbox* table in its own schema, in the transaction of
the action (:func:`record`), and an :class:`OutboxRelay` task forwards outbox
rows to ``AdminLogIntakeService.AppendEvents`` (idempotent by event id) and
deletes them once acknowledged, retrying with backoff while authorization is
unavailable. An action and its entry are thus committed together, and the entry
reaches the log at least once and is kept there exactly once.

Details are JSON of identifiers and counts only: never personal data (ID
numbers, names of citizens) or secrets. The one name kept is that of the official who
made a decision (issue 12, R-SEC-1 责任认定): when the actor is a person, ``actor_system_id``
holds their id (``psn-...``) and ``details.actor_display_name`` their display name at the time.

Each service's migration creates the outbox table (same shape everywhere)::

    CREATE TABLE admin_outbox (
        id bigserial PRIMARY KEY, event_id text NOT NULL UNIQUE, time timestamptz NOT NULL,
        actor_system_id text NOT NULL, actor_department_code text NOT NULL, action text NOT NULL,
        target text NOT NULL, details text NOT NULL, result text NOT NULL);
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import asyncpg
import grpc

from govshare.authorization.v1 import admin_log_pb2, authorization_pb2, authorization_pb2_grpc
from services.runtime.clients import call_metadata, open_channel
from services.runtime.errors import ServiceError
from services.runtime.identity import AssertionSigner, Caller, service_caller
from services.runtime.settings import Settings
from services.runtime.tasks import cancel

log = logging.getLogger(__name__)

OK = "OK"
#: The details key holding a person actor's display name.
ACTOR_DISPLAY_NAME = "actor_display_name"
#: AppendEvents is idempotent (by event id), so the channel may retry it on UNAVAILABLE.
INTAKE_SERVICE = "govshare.authorization.v1.AdminLogIntakeService"
_TRANSIENT = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _new_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class AdminEvent:
    """One administrative action: who (system and department), what (action, target, details), how it ended."""

    action: str
    target: str
    actor_system_id: str
    actor_department_code: str
    details: Mapping[str, object] = field(default_factory=dict)
    result: str = OK
    event_id: str = field(default_factory=_new_id)
    #: Microsecond precision, as PostgreSQL keeps it (the log's hash covers it).
    time: dt.datetime = field(default_factory=_now)

    @classmethod
    def by(cls, caller: Caller, action: str, target: str, details: Mapping[str, object] | None = None,
           result: str = OK, time: dt.datetime | None = None) -> AdminEvent:
        """An event whose actor is ``caller`` (a person's display name in the details, see above)."""
        content = dict(details or {})
        if caller.is_person:
            content[ACTOR_DISPLAY_NAME] = caller.display_name
        return cls(action=action, target=target, actor_system_id=caller.system_id,
                   actor_department_code=caller.department_code, details=content, result=result,
                   **({"time": time} if time is not None else {}))

    @property
    def details_json(self) -> str:
        """The details as canonical JSON (sorted keys, compact), the form the log stores and hashes."""
        return _ENCODE(dict(self.details))


@contextlib.asynccontextmanager
async def refusals_logged(record_event: Callable[[AdminEvent], Awaitable[None]], caller: Caller, action: str,
                          target: str) -> AsyncIterator[None]:
    """Logs an action refused inside the block (PERMISSION_DENIED) as ``action`` on ``target`` by ``caller``, the
    refusal's reason as its result (``record_event`` appends it), then lets the refusal go on.

    The log held every decision and administrative change taken and none refused: a business system's token, a
    申请人 or another department's 审批人 answering for a department, a non-administrator resetting a person's
    password, left no trace, though a refused sign-in, token, load or history read does (R-SEC-3: every decision,
    who and its result). ``target`` must be an id the service checked (found, or of an id's form), never text
    the caller made up."""
    try:
        yield
    except ServiceError as error:
        if error.code == grpc.StatusCode.PERMISSION_DENIED:
            await record_event(AdminEvent.by(caller, action, target, result=error.reason))
        raise


def event_pb(event: AdminEvent) -> admin_log_pb2.AdminEvent:
    message = admin_log_pb2.AdminEvent(
        id=event.event_id, actor_system_id=event.actor_system_id,
        actor_department_code=event.actor_department_code, action=event.action, target=event.target,
        details_json=event.details_json, result=event.result)
    message.time.FromDatetime(event.time)
    return message


# -- the outbox (each service's own schema) ---------------------------------------------------------------------

async def record(conn: asyncpg.Connection, event: AdminEvent, schema: str | None = None) -> None:
    """Writes ``event`` to the service's outbox, on ``conn`` (inside the action's own transaction); ``schema``
    names the service's schema when ``conn`` is not a connection of the service's pool (a CLI's)."""
    table = f'"{schema}".admin_outbox' if schema else "admin_outbox"
    await conn.execute(
        f"INSERT INTO {table} (event_id, time, actor_system_id, actor_department_code, action, target,"
        " details, result) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        event.event_id, event.time, event.actor_system_id, event.actor_department_code, event.action,
        event.target, event.details_json, event.result)


async def pending(pool: asyncpg.Pool, limit: int) -> list[tuple[int, AdminEvent]]:
    """The oldest ``limit`` outbox rows, with their row ids."""
    rows = await pool.fetch("SELECT * FROM admin_outbox ORDER BY id LIMIT $1", limit)
    return [(r["id"], AdminEvent(action=r["action"], target=r["target"], actor_system_id=r["actor_system_id"],
                                 actor_department_code=r["actor_department_code"],
                                 details=json.loads(r["details"]), result=r["result"], event_id=r["event_id"],
                                 time=r["time"])) for r in rows]


async def delivered(pool: asyncpg.Pool, row_ids: list[int]) -> None:
    await pool.execute("DELETE FROM admin_outbox WHERE id = ANY($1::bigint[])", row_ids)


# -- the relay --------------------------------------------------------------------------------------------------

Send = Callable[[list[AdminEvent]], Awaitable[None]]


def intake_sender(channel: grpc.aio.Channel, signer: AssertionSigner, identity: Caller, timeout: float) -> Send:
    """Sends events to AdminLogIntakeService.AppendEvents as the platform service ``identity``."""
    stub = authorization_pb2_grpc.AdminLogIntakeServiceStub(channel)

    async def send(events: list[AdminEvent]) -> None:
        await stub.AppendEvents(authorization_pb2.AppendEventsRequest(events=[event_pb(e) for e in events]),
                                timeout=timeout, metadata=call_metadata(signer, identity))

    return send


class OutboxRelay:
    """Forwards the outbox to the administrative log in the background; deletes rows once acknowledged."""

    def __init__(self, pool: asyncpg.Pool, send: Send, batch: int = 100, idle_seconds: float = 1.0,
                 max_backoff_seconds: float = 5.0) -> None:
        self._pool = pool
        self._send = send
        self._batch = batch
        self._idle = idle_seconds
        self._max_backoff = max_backoff_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="admin-outbox-relay")

    def notify(self) -> None:
        """Something was recorded: deliver now rather than at the next idle poll."""
        self._wake.set()

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None

    async def deliver_once(self) -> int:
        """Delivers one batch; the number of events delivered (0 when the outbox is empty)."""
        rows = await pending(self._pool, self._batch)
        if not rows:
            return 0
        await self._send([event for _, event in rows])
        await delivered(self._pool, [row_id for row_id, _ in rows])
        return len(rows)

    async def _run(self) -> None:
        delay = 0.1
        while True:
            self._wake.clear()
            try:
                if await self.deliver_once():
                    delay = 0.1
                    continue
                wait = self._idle
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Authorization (or the database) is down: the rows stay in the outbox until it is back. A refusal
                # that retrying will not cure (a bug) is an error someone must see; the rows are kept all the same.
                unavailable = isinstance(exc, grpc.aio.AioRpcError) and exc.code() in _TRANSIENT
                level = logging.INFO if unavailable else logging.ERROR
                log.log(level, "administrative events not delivered yet (%s); retrying in %.1fs",
                        type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_backoff)
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()


class AdminOutbox:
    """A component's relay and its channel to authorization: built in ``start`` (with the component's pool),
    closed in ``stop``. Without an authorization target nothing is delivered and the outbox keeps every row."""

    def __init__(self, settings: Settings, component: str) -> None:
        self._settings = settings
        self._identity = service_caller(component)
        self._channel: grpc.aio.Channel | None = None
        self.relay: OutboxRelay | None = None

    def start(self, pool: asyncpg.Pool) -> None:
        target = self._settings.authorization_target
        if not target:
            log.warning("no GOVSHARE_AUTHORIZATION_TARGET: administrative events stay in the outbox")
            return
        self._channel = open_channel(target, self._settings, (INTAKE_SERVICE,))
        send = intake_sender(self._channel, AssertionSigner(self._settings.internal_key), self._identity,
                             self._settings.call_timeout_seconds)
        self.relay = OutboxRelay(pool, send)
        self.relay.start()

    def notify(self) -> None:
        """Call after committing an action that recorded an event: it is delivered at once."""
        if self.relay is not None:
            self.relay.notify()

    async def stop(self) -> None:
        if self.relay is not None:
            await self.relay.stop()
            self.relay = None
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
