"""What the persons' view needs from authorization (DOMAIN R-SEC-3 for the data subject; 个人信息保护法 Art. 44-45).

* **Roles** the authority grants to systems: SUBJECT_ACCESS_PORTAL lets a government service portal list, on
  behalf of a person or an entity it has identified, the accesses to their records (query's
  AuditService.ListSubjectAccesses). A role belongs to a system, not to its department: a department's other
  systems do not inherit it. A disabled system holds no role.
* **Confidential grants**: the provider or the authority marks a grant confidential (an investigation) until
  a release time; query withholds the accesses made under it from the persons' view until then.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

import asyncpg

from govshare.authorization.v1 import roles_pb2
from services.authorization.applications import ApplicationEvent
from services.authorization.directory import still_theirs
from services.authorization.grants import Grant
from services.authorization.roles import require_authority, require_department, require_identified, require_service
from services.authorization.store import Store
from services.authorization.validation import GRANT_ID, SYSTEM_ID, find_by_id
from services.runtime import duties, pagination
from services.runtime.admin_events import AdminEvent, refusals_logged
from services.runtime.duties import ADMINISTRATOR, APPROVER, REVIEWER
from services.runtime.errors import (
    FieldViolation,
    failed_precondition,
    invalid_argument,
    permission_denied,
    reason_violation,
)
from services.runtime.identity import Caller
from services.runtime.workdays import CHINA

ROLES = frozenset(v for v in roles_pb2.SystemRole.values() if v != roles_pb2.SYSTEM_ROLE_UNSPECIFIED)
#: The longest a grant may stay confidential (an investigation is not secret for ever).
MAX_CONFIDENTIAL = dt.timedelta(days=3653)
REASON_MAX = 2000


def confidentiality_note(release_time: dt.datetime | None, reason: str) -> str:
    """The grant's history step of a confidentiality mark (None: lifted), read by the departments' staff: the release
    in Beijing time, as the grant's 有效期至 and the EXPIRED refusal say it. It read 'confidential until
    2026-03-02T08:59:59+00:00', the UTC instant: an hour eight hours off, or the day before, from the day the
    investigation was told."""
    if release_time is None:
        return f"解除保密：{reason.strip()}"
    return f"保密至 {release_time.astimezone(CHINA).strftime('%Y-%m-%d %H:%M:%S')}（北京时间）：{reason.strip()}"


class SubjectAccessPolicy:
    def __init__(self, store: Store, now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self._store = store
        self._now = now

    async def _system(self, system_id: str) -> object:
        return await find_by_id(system_id, SYSTEM_ID, self._store.get_system, "system", "system_id")

    @staticmethod
    def _role(role: int) -> None:
        if role not in ROLES:
            raise invalid_argument([FieldViolation("role", "must be SYSTEM_ROLE_SUBJECT_ACCESS_PORTAL")])

    async def _administrator(self, caller: Caller, action: str, what: str, system_id: str) -> None:
        """The authority's 管理员 (or its systems), a refusal logged as ``action`` on the system (its id when it has
        an id's form): a department's system granting itself the role that lists who accessed a citizen's records
        is evidence, as a refused rotation of a system's secret is."""
        async with refusals_logged(self._store.record_admin, caller, action,
                                   system_id if SYSTEM_ID.fullmatch(system_id) else ""):
            duties.require_role(caller, ADMINISTRATOR, what)
            require_authority(caller, what)
        await still_theirs(self._store, caller, action, system_id if SYSTEM_ID.fullmatch(system_id) else "")

    async def grant_role(self, caller: Caller, system_id: str, role: int) -> asyncpg.Record:
        await self._administrator(caller, "roles.grant_system_role", "grant system roles", system_id)
        self._role(role)
        await self._system(system_id)
        now = self._now()
        admin = AdminEvent.by(caller, "roles.grant_system_role", system_id, {"role": role})
        return await self._store.grant_role(system_id, role, caller.system_id, now,
                                            admin=dataclasses.replace(admin, time=now))

    async def revoke_role(self, caller: Caller, system_id: str, role: int) -> None:
        await self._administrator(caller, "roles.revoke_system_role", "revoke system roles", system_id)
        self._role(role)
        await self._system(system_id)
        admin = AdminEvent.by(caller, "roles.revoke_system_role", system_id, {"role": role})
        await self._store.revoke_role(system_id, role, admin=admin)

    async def list_roles(self, caller: Caller, system_id: str) -> list[asyncpg.Record]:
        require_identified(caller)
        system = await self._system(system_id)
        require_department(caller, system.department_code, "read this system's roles")  # type: ignore[attr-defined]
        # Bounded by construction (the key is system and role): at most one row per role there is.
        return await self._store.roles_of(system_id, len(roles_pb2.SystemRole.values()))

    async def system_roles(self, caller: Caller, system_id: str) -> list[int]:
        require_service(caller)
        return await self._store.active_roles(system_id) if SYSTEM_ID.fullmatch(system_id) else []

    async def confidential_grants(self, caller: Caller, size: int, token: str) -> tuple[list[asyncpg.Record], str]:
        """A page of the confidential grants not yet released, soonest released first, and the next token."""
        require_service(caller)
        limit = pagination.page_size(size)
        after = pagination.time_keyset_after(token, pagination.text_id)
        rows = await self._store.confidential_grants(self._now(), after, limit + 1)
        if len(rows) <= limit:
            return rows, ""
        last = rows[limit - 1]
        return rows[:limit], pagination.time_keyset_token(last["release_time"], last["id"])

    async def set_confidentiality(self, caller: Caller, grant_id: str, confidential: bool,
                                  release_time: dt.datetime | None, reason: str) -> Grant:
        """The provider or the authority marks a grant confidential until ``release_time``, or lifts it."""
        require_identified(caller)
        grant = await find_by_id(grant_id, GRANT_ID, self._store.get_grant, "grant", "grant_id")
        async with refusals_logged(self._store.record_admin, caller, "sharing.grant_confidentiality", grant.id):
            if not grant.visible_to(caller):  # as GetGrant says: NOT_FOUND here told the grant from a typo apart
                raise permission_denied("NOT_INVOLVED", "only the grantee, the provider and the authority see a "
                                        "grant")
            if not caller.authority and caller.department_code != grant.provider_department_code:
                raise permission_denied("NOT_PROVIDER", "only the provider or the authority may mark a grant "
                                        "confidential")
            # A person: the provider's approver, or the authority's reviewer (an investigation it coordinates).
            duties.require_person(caller, (APPROVER, REVIEWER), "change a grant's confidentiality")
            if caller.is_person and not caller.has_role(REVIEWER):
                duties.require_role(caller, APPROVER, "change a grant's confidentiality",
                                    grant.provider_department_code)
        # With a session still its person's (the row read, as for a reply: sharing.Sharing.reply).
        await still_theirs(self._store, caller, "sharing.grant_confidentiality", grant.id)
        now = self._now()
        problems = []
        if confidential:
            if release_time is None:
                problems.append(FieldViolation("release_time", "is required when confidential"))
            elif not now < release_time <= now + MAX_CONFIDENTIAL:
                problems.append(FieldViolation("release_time", "must be in the future, at most ten years ahead"))
        elif release_time is not None:
            problems.append(FieldViolation("release_time", "must be unset when lifting confidentiality"))
        if violation := reason_violation("reason", reason, REASON_MAX, f"say why (1 to {REASON_MAX} characters)"):
            problems.append(violation)
        if problems:
            raise invalid_argument(problems)
        note = confidentiality_note(release_time if confidential else None, reason)
        event = ApplicationEvent("GRANT_CONFIDENTIALITY", caller.department_code, caller.system_id, note, now,
                                 actor_display_name=caller.display_name)
        # The reason is free text: it stays in the grant's history, out of the administrative log.
        admin = dataclasses.replace(AdminEvent.by(caller, "sharing.grant_confidentiality", grant.id, {
            "confidential": confidential, "release_time": release_time.isoformat() if release_time else "",
            "resource_code": grant.resource_code}), time=now)
        updated = await self._store.set_confidentiality(grant.id, confidential, release_time, event, admin=admin)
        if updated is None:
            raise failed_precondition("GRANT_GONE", f"grant {grant.id} changed meanwhile")
        return updated
