"""The administrative log (DESIGN: authorization owns it): who changed what on the platform.

Authorization appends its own actions in the transaction of the action (see the
store). Catalog and foundation deliver theirs from their outboxes through the
internal AppendEvents (services.runtime.admin_events), idempotent by event id; the
recording service is the caller's verified service identity, never a request field.
Only the authority reads the log (ListAdminEvents) and checks its chain
(VerifyAdminLog, services.runtime.hashchain).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from services.authorization.roles import require_authority, require_service
from services.authorization.store import ADMIN_HASHED, AdminLogFilter, Store
from services.runtime import hashchain, pagination
from services.runtime.admin_events import AdminEvent
from services.runtime.errors import FieldViolation, invalid_argument
from services.runtime.identifiers import credit_code_error
from services.runtime.identity import SERVICE_PREFIX, Caller

MAX_EVENTS_PER_APPEND = 1000
_MAX_TEXT = 256


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
                   token: str) -> tuple[list[asyncpg.Record], str]:
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
        rows = await self._store.list_admin_events(where, after, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, pagination.time_keyset_token(rows[-1]["time"], rows[-1]["seq"]) if more else ""

    async def verify(self, caller: Caller) -> Verification:
        """Walks the chain from its first row; stops at the first row that breaks it."""
        require_authority(caller, "verify the administrative log")
        checker = hashchain.ChainChecker()
        async for row in self._store.admin_log_rows():
            problem = checker.check(row["seq"], row["prev_hash"], row["hash"], [row[c] for c in ADMIN_HASHED])
            if problem is not None:
                return Verification(False, checker.checked, row["seq"], problem, checker.head)
        return Verification(True, checker.checked, head_hash=checker.head)

