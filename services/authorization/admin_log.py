"""The administrative log (DESIGN: authorization owns it): who changed what on the platform.

Authorization appends its own actions in the transaction of the action (see the
store). Catalog and foundation deliver theirs from their outboxes through the
internal AppendEvents (services.runtime.admin_events), idempotent by event id; the
recording service is the caller's verified service identity, never a request field.
Only the authority reads the log (ListAdminEvents) and checks its chain
(VerifyAdminLog, services.runtime.hashchain).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from services.authorization.roles import require_authority, require_service
from services.runtime import hashchain, pagination
from services.runtime.admin_events import AdminEvent
from services.runtime.errors import FieldViolation, invalid_argument
from services.runtime.identifiers import credit_code_error
from services.runtime.identity import SERVICE_PREFIX, Caller

if TYPE_CHECKING:
    from services.authorization.store import Store

MAX_EVENTS_PER_APPEND = 1000
_MAX_TEXT = 256
#: What a row's hash covers, in order (then the previous row's hash links it into the chain).
HASHED_FIELDS = ("seq", "event_id", "time", "service", "actor_system_id", "actor_department_code", "action",
                 "target", "details", "result")


@dataclass(frozen=True)
class AdminLogFilter:
    """Which entries a list shows; None fields do not filter."""

    actor_department_code: str | None = None
    action: str | None = None
    start_time: dt.datetime | None = None
    end_time: dt.datetime | None = None


@dataclass(frozen=True)
class LogEntry:
    """One row of the log as stored: the event, where it sits in the chain, and its hashes."""

    seq: int
    event_id: str
    time: dt.datetime
    service: str
    actor_system_id: str
    actor_department_code: str
    action: str
    target: str
    #: The details as the canonical JSON text the hash covers.
    details: str
    result: str
    prev_hash: str
    hash: str

    def hashed_fields(self) -> list[object]:
        return [getattr(self, name) for name in HASHED_FIELDS]


@dataclass(frozen=True)
class Verification:
    intact: bool
    checked: int
    first_broken_seq: int = 0
    problem: str = ""
    head_hash: str = hashchain.GENESIS


def event_problems(events: Sequence[AdminEvent]) -> list[FieldViolation]:
    """What makes delivered events unusable (the relay sends what its service recorded)."""
    problems: list[FieldViolation] = []
    if len(events) > MAX_EVENTS_PER_APPEND:
        problems.append(FieldViolation("events", f"at most {MAX_EVENTS_PER_APPEND} per call"))
    for index, event in enumerate(events[:MAX_EVENTS_PER_APPEND]):
        for name in ("event_id", "action"):
            value = getattr(event, name)
            if not value or len(value) > _MAX_TEXT:
                problems.append(FieldViolation(f"events[{index}].{'id' if name == 'event_id' else name}",
                                               f"is required, at most {_MAX_TEXT} characters"))
    return problems


class AdminLog:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def append(self, caller: Caller, events: Sequence[AdminEvent]) -> int:
        """Appends a service's delivered events; how many were new (a redelivery appends none)."""
        require_service(caller)
        if problems := event_problems(events):
            raise invalid_argument(problems)
        return await self._store.append_events(caller.system_id.removeprefix(SERVICE_PREFIX), events)

    async def list(self, caller: Caller, where: AdminLogFilter, size: int,
                   token: str) -> tuple[list[LogEntry], str]:
        require_authority(caller, "read the administrative log")
        problems = pagination.page_size_violations(size)
        if where.actor_department_code and (error := credit_code_error(where.actor_department_code)):
            problems.append(FieldViolation("actor_department_code", error))
        if where.start_time and where.end_time and where.end_time <= where.start_time:
            problems.append(FieldViolation("end_time", "must be after start_time"))
        if problems:
            raise invalid_argument(problems)
        limit = pagination.page_size(size)
        after = pagination.time_keyset_after(token, int)
        entries = await self._store.list_admin_events(where, after, limit + 1)
        more = len(entries) > limit
        entries = entries[:limit]
        return entries, pagination.time_keyset_token(entries[-1].time, entries[-1].seq) if more else ""

    async def verify(self, caller: Caller) -> Verification:
        """Walks the chain from its first row; stops at the first row that breaks it."""
        require_authority(caller, "verify the administrative log")
        checker = hashchain.ChainChecker()
        async for entry in self._store.admin_log_entries():
            problem = checker.check(entry.seq, entry.prev_hash, entry.hash, entry.hashed_fields())
            if problem is not None:
                return Verification(False, checker.checked, entry.seq, problem, checker.head)
        return Verification(True, checker.checked, head_hash=checker.head)

