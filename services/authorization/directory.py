"""Departments and their business systems (DOMAIN §1), and system credentials.

Only the authority registers departments, and only its 管理员 (or the platform's
own provisioning: its services, the authority's systems) registers, disables and
enables systems and rotates their secrets (duties.require_administrator). A
department's business system may rotate its own secret (automated rotation),
nothing else here: one leaked secret must not take over its siblings. A system's
secret is shown once, at creation or rotation; the store keeps a scrypt hash.
Tokens are issued against the secret, and a token's caller carries the
department's authority flag.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc

from govshare.authorization.v1 import directory_pb2
from services.authorization import credentials, retirement
from services.authorization.roles import (
    require_authority,
    require_department,
    require_identified,
    require_service,
)
from services.authorization.validation import (
    SYSTEM_ID,
    department_code_problem,
    find_by_id,
    name_problem,
    page_after,
    page_of,
)
from services.runtime import duties, pagination, system_states, tokens
from services.runtime.admin_events import AdminEvent, refusals_logged
from services.runtime.duties import ADMINISTRATOR
from services.runtime.errors import FieldViolation, ServiceError, invalid_argument, not_found, unauthenticated
from services.runtime.identifiers import credit_code_error, region_code_error
from services.runtime.identity import Caller
from services.runtime.settings import Settings
from services.runtime.system_states import SECRET_ROTATED, SYSTEM_DISABLED, SystemState

if TYPE_CHECKING:
    from services.authorization.disputes import OpenDisputes
    from services.authorization.entries import EntryLookup
    from services.authorization.policy_events import PolicyEvents
    from services.authorization.store import Store

LEVELS = frozenset(v for v in directory_pb2.AdministrativeLevel.values()
                   if v != directory_pb2.ADMINISTRATIVE_LEVEL_UNSPECIFIED)
#: How long a system's own rotation keeps the secret it replaced accepted, at most (until the new secret's first
#: token otherwise): long enough for a system whose rotation's answer was lost to be restarted and rotate again.
PREVIOUS_SECRET_SECONDS = 24 * 3600
# One message for an unknown id and a wrong secret: the answer must not tell which ids exist.
BAD_CREDENTIALS = "unknown system id or wrong secret"
#: What a file saved as "UTF-8 with BOM" begins with, kept by a reader that does not know it (Java's readString).
BYTE_ORDER_MARK = "\ufeff"
# Issued secrets are 43 characters; anything far longer is refused before hashing.
MAX_SECRET = 256
#: The administrative log's result of a system's own rotation refused because its token was ended (disabled,
#: or issued before a rotation), as the access audit says DENY_REASON_CREDENTIALS_REVOKED.
CREDENTIALS_REVOKED = "CREDENTIALS_REVOKED"
#: What a department's business system may do in the directory instead (duties.require_administrator).
OWN_ROTATION = "a business system may rotate its own secret only (RotateSystemSecret with its own id)"


#: The quotes a configuration may keep around a value, as pairs: Docker's --env-file and ``kubectl create secret
#: --from-env-file`` keep those of ``GOVSHARE_SYSTEM_SECRET="…"``, a JSON value's text (Jackson's
#: ``JsonNode.toString()``) has them, and a word processor or a chat program curls them.
QUOTE_PAIRS = frozenset({'""', "''", "\u201c\u201d", "\u2018\u2019"})


def _credential(value: str) -> str:
    """A system id or secret as IssueToken reads it: without the blanks, byte order mark and quotes around it.

    Neither ever holds a quote (a ``sys-…`` id, a URL-safe secret): read with them, the right secret of a system
    whose container took it from an env file written ``GOVSHARE_SYSTEM_SECRET="…"`` was "unknown system id or wrong
    secret", and logged as a guess at the system's secret."""
    value = value.strip().strip(BYTE_ORDER_MARK).strip()
    if len(value) >= 2 and value[0] + value[-1] in QUOTE_PAIRS:
        value = value[1:-1].strip()
    return value


@dataclass(frozen=True)
class Department:
    code: str
    name: str
    level: int
    region_code: str
    authority: bool = False
    create_time: dt.datetime | None = None
    #: When it was retired (RetireDepartment); None while it is in service.
    retire_time: dt.datetime | None = None
    #: The department that took over its duties, "" when none was named.
    merged_into: str = ""


@dataclass(frozen=True)
class System:
    id: str
    department_code: str
    name: str
    disabled: bool = False
    create_time: dt.datetime | None = None


@dataclass(frozen=True)
class Credentials:
    """What IssueToken needs about a system: its hash and its department's authority flag."""

    system: System
    secret_hash: str
    authority: bool
    #: Tokens issued before this (epoch seconds) are refused; new ones carry at least this ``iat``.
    not_before: int = 0
    #: Why its department no longer acts (retirement.retired_sentence), "" while it is in service.
    department_retired: str = ""
    #: The hash of the secret its own rotation replaced, while still accepted (PREVIOUS_SECRET_SECONDS), else "".
    previous_secret_hash: str = ""
    #: Whether the current secret has had a token (which ends the previous one's acceptance).
    secret_used: bool = True


def _refusal(verified: Credentials, held: Credentials | None, previous: bool = False) -> tuple[str, str]:
    """Why a token may not be issued to a system whose secret matched ``verified`` (its previous secret, with
    ``previous``) now that its credentials are ``held``: the administrative log's result and the caller's message,
    both empty when it may."""
    system_id = verified.system.id
    if held is None or (held.previous_secret_hash != verified.previous_secret_hash if previous
                        else held.secret_hash != verified.secret_hash):
        return SECRET_ROTATED, (f"the secret of system {system_id} was rotated while this token was being "
                                  "issued: ask for a token with the new secret")
    if held.department_retired:
        return "DEPARTMENT_RETIRED", f"system {system_id} gets no tokens: {held.department_retired}"
    if held.system.disabled:
        return SYSTEM_DISABLED, f"system {system_id} is disabled: the authority may enable it again"
    return "", ""


def _token_refusal(result: str, message: str) -> ServiceError:
    """UNAUTHENTICATED for a token refused to the right secret, with its reason (DEPARTMENT_RETIRED,
    SYSTEM_DISABLED, SECRET_ROTATED), as the services refuse a token already held: a client (the SDK, a 前置机
    sending change notices) tells a retirement or a disable, which no secret mends, from a secret to replace. Only
    a wrong secret stays the generic UNAUTHENTICATED, saying nothing of the system."""
    return ServiceError(grpc.StatusCode.UNAUTHENTICATED, result, message)


def _rotates_itself(caller: Caller, system_id: str) -> bool:
    """Whether a business system rotates its own secret: automated rotation, the one directory change its own
    token may make (logged with the system as the actor, as any rotation is)."""
    return not caller.is_person and not caller.is_service and caller.system_id == system_id


def department_problems(department: Department, prefix: str = "department") -> list[FieldViolation]:
    """Every reason ``department`` cannot be registered."""
    problems: list[FieldViolation] = []
    if error := credit_code_error(department.code):
        problems.append(FieldViolation(f"{prefix}.code", error))
    if error := name_problem(department.name):
        problems.append(FieldViolation(f"{prefix}.name", error))
    if department.level not in LEVELS:
        problems.append(FieldViolation(f"{prefix}.level", "must be NATIONAL, PROVINCIAL, MUNICIPAL or COUNTY"))
    if error := region_code_error(department.region_code):
        problems.append(FieldViolation(f"{prefix}.region_code", error))
    return problems


async def still_theirs(store: Store, caller: Caller, action: str, target: str) -> None:
    """Refuses a person's token their row no longer accepts (signed out, reset, disabled) before an administrative
    change: the verifier refuses it only once the announcement of the end (a Redis event, or its reload a minute
    later) has reached it, and meanwhile the token an administrator signed out of registered systems, rotated
    secrets, disabled or enabled systems, renamed or retired departments and granted roles for whoever held it. A
    system's own token is checked under its row's lock (set_secret). One read of the person's row per change."""
    if not caller.is_person:
        return
    try:
        system_states.refuse_ended(caller, await store.person_token_state(caller.person_id))
    except ServiceError:  # someone holding a token its person signed out of: logged, as a system's is
        await store.record_admin(AdminEvent.by(caller, action, target, result=CREDENTIALS_REVOKED))
        raise


class Directory:
    """The directory workflows: who may register what, and the credential life cycle."""

    def __init__(self, store: Store, settings: Settings, events: PolicyEvents, entries: EntryLookup,
                 disputes: OpenDisputes, close_retired: Callable[[], Awaitable[int]] | None = None) -> None:
        self._store = store
        self._settings = settings
        self._events = events
        self._entries = entries
        self._disputes = disputes
        #: Closes the undecided applications of retired resources (Sharing.close_retired), before they are counted.
        self._close_retired = close_retired

    # Departments

    async def create_department(self, caller: Caller, department: Department) -> Department:
        # A refusal is logged on the code asked for (when it is one), as a refused rename or retirement is.
        async with refusals_logged(self._store.record_admin, caller, "directory.create_department",
                                   "" if credit_code_error(department.code) else department.code):
            duties.require_role(caller, ADMINISTRATOR, "register departments")
            require_authority(caller, "register departments")
        await self._still_theirs(caller, "directory.create_department",
                                 "" if credit_code_error(department.code) else department.code)
        if problems := department_problems(department):
            raise invalid_argument(problems)
        admin = AdminEvent.by(caller, "directory.create_department", department.code,
                              {"level": department.level, "region_code": department.region_code,
                               "authority": department.authority})
        return await self._store.insert_department(department, admin)

    async def rename_department(self, caller: Caller, code: str, name: str, current_name: str = "") -> Department:
        """Renames a department (机构改革): the authority's 管理员 only, the old and new names in the administrative
        log, and an event so that whoever keeps names (the console) shows the new one at once. A refusal for the
        role or the department is logged too, as other administrative refusals are. ``current_name``: the name the
        caller read, refused when the department has another now (see the store)."""
        async with refusals_logged(self._store.record_admin, caller, "directory.rename_department",
                                   "" if credit_code_error(code) else code):
            duties.require_role(caller, ADMINISTRATOR, "rename departments")
            require_authority(caller, "rename departments")
        await self._still_theirs(caller, "directory.rename_department", "" if credit_code_error(code) else code)
        problems = []
        if error := department_code_problem(code):
            problems.append(FieldViolation("code", error))
        if error := name_problem(name):
            problems.append(FieldViolation("name", error))
        if problems:
            raise invalid_argument(problems)
        admin = AdminEvent.by(caller, "directory.rename_department", code, {"name": name.strip()})
        renamed = await self._store.rename_department(code, name.strip(), admin, current_name)
        if renamed is None:
            raise not_found(f"department {code}")
        department, before = renamed
        if before != department.name:
            await self._events.department_renamed(department.code, department.name)
        return department

    async def retire_department(self, caller: Caller, code: str, merged_into: str) -> Department:
        """Retires a department merged into another or abolished (机构改革): the authority's 管理员 only, once nothing
        of it is live (services.authorization.retirement says what blocks it), logged with ``merged_into`` and
        announced so that every service refuses its systems and persons at once. Refusals for the role are logged
        as other administrative refusals are."""
        async with refusals_logged(self._store.record_admin, caller, "directory.retire_department",
                                   "" if credit_code_error(code) else code):
            duties.require_role(caller, ADMINISTRATOR, "retire departments")
            require_authority(caller, "retire departments")
        await self._still_theirs(caller, "directory.retire_department", "" if credit_code_error(code) else code)
        problems = []
        if error := department_code_problem(code):
            problems.append(FieldViolation("code", error))
        if merged_into and (error := department_code_problem(merged_into)):
            problems.append(FieldViolation("merged_into", error))
        if problems:
            raise invalid_argument(problems)
        # What other services hold of it (its entries, the disputes it must answer), counted before its row is
        # locked: a call out under a lock would hold every enable and application of the department meanwhile.
        catalogued = {**await self._entries.provided(code), **await self._disputes.to_answer(code)}
        if self._close_retired is not None:
            # An application of a resource retired since (the first blocker's advice) is closed, nobody left to answer
            # it, though stored undecided until read: counted open, it blocked the retirement, 'have them decided or
            # withdrawn', which nobody could do any more.
            await self._close_retired()
        ended = await self._retired_resources(await self._store.live_grant_resources(code))
        admin = AdminEvent.by(caller, "directory.retire_department", code,
                              {"merged_into": merged_into} if merged_into else {})
        retired = await self._store.retire_department(code, merged_into, catalogued, admin, ended)
        if retired is None:
            raise not_found(f"department {code}")
        await self._events.department_retired(retired.code, retired.name, retired.merged_into)
        return retired

    async def _retired_resources(self, codes: list[str]) -> list[str]:
        """Of ``codes``, the resources whose catalog entry is retired: retiring an entry ended its grants for good
        (a retired entry is never published again, so the answer holds under the department's lock), and such a
        grant, still stored ACTIVE, blocked the department's retirement as live until each was revoked by hand, one
        by one, after its resources had been retired as the first blocker asks."""
        return [resource for resource in codes if await self._entries.retired_at(resource) is not None]

    async def get_department(self, caller: Caller, code: str) -> Department:
        require_identified(caller)
        if error := department_code_problem(code):
            raise invalid_argument([FieldViolation("code", error)])
        department = await self._store.get_department(code)
        if department is None:
            raise not_found(f"department {code}")
        return department

    async def list_departments(self, caller: Caller, size: int, token: str) -> tuple[list[Department], str]:
        require_identified(caller)
        limit = pagination.page_size(size)
        departments = await self._store.list_departments(page_after(token, str), limit + 1)
        more = len(departments) > limit
        departments = departments[:limit]
        return departments, pagination.encode_token({"after": departments[-1].code}) if more else ""

    # Systems

    async def create_system(self, caller: Caller, system: System) -> tuple[System, str]:
        require_identified(caller)
        code = system.department_code or caller.department_code
        problems = []
        if error := department_code_problem(code):
            problems.append(FieldViolation("system.department_code", error))
        if error := name_problem(system.name):
            problems.append(FieldViolation("system.name", error))
        if problems:
            raise invalid_argument(problems)
        # A refusal is logged on the department (the system has no id yet): a leaked secret's tries are seen.
        async with refusals_logged(self._store.record_admin, caller, "directory.create_system", code):
            duties.require_administrator(caller, "register systems")
            require_department(caller, code, "register systems")
        if (department := await self._store.get_department(code)) is None:
            raise not_found(f"department {code}")
        retirement.require_in_service(department)
        await self._still_theirs(caller, "directory.create_system", code)
        secret = credentials.new_secret()
        secret_hash = await asyncio.to_thread(credentials.hash_secret, secret)
        new = System(id=credentials.new_system_id(), department_code=code, name=system.name.strip())
        admin = AdminEvent.by(caller, "directory.create_system", new.id, {"department_code": code})
        return await self._store.insert_system(new, secret_hash, admin), secret

    async def get_system(self, caller: Caller, system_id: str) -> System:
        require_identified(caller)
        system = await self._find_system(system_id)
        require_department(caller, system.department_code, "read this system")
        return system

    async def list_systems(self, caller: Caller, department_code: str, size: int,
                           token: str) -> tuple[list[System], str]:
        require_identified(caller)
        code = department_code or ("" if caller.authority else caller.department_code)
        if code and (error := credit_code_error(code)):
            raise invalid_argument([FieldViolation("department_code", error)])
        if code:
            require_department(caller, code, "list these systems")
        limit = pagination.page_size(size)
        return page_of(await self._store.list_systems(code or None, page_after(token, int), limit + 1), limit)

    async def rotate_secret(self, caller: Caller, system_id: str) -> str:
        require_identified(caller)
        async with self._refusals_logged(caller, "directory.rotate_system_secret", system_id):
            # The role first: whoever may not rotate secrets learns nothing of which system ids exist.
            if not _rotates_itself(caller, system_id):
                duties.require_administrator(caller, "rotate systems' secrets", OWN_ROTATION)
            system = await self._find_system(system_id)
            require_department(caller, system.department_code, "rotate this system's secret")
        await self._still_theirs(caller, "directory.rotate_system_secret", system.id)
        secret = credentials.new_secret()
        secret_hash = await asyncio.to_thread(credentials.hash_secret, secret)
        # Never a lock-out: the new secret goes back to the caller, who can get a token with it at once.
        admin = AdminEvent.by(caller, "directory.rotate_system_secret", system.id,
                              {"department_code": system.department_code})
        # A system's own token is checked against its row, not only the verifier's states, which learn of a
        # disable or a rotation from an event that may be late or lost (Redis away): a leaked token accepted
        # meanwhile rotated once more, its holder taking the secret the authority had just handed over.
        check = ((lambda state: system_states.refuse_ended(caller, state)) if _rotates_itself(caller, system_id)
                 else None)
        # A system's own rotation keeps the secret it holds accepted until the new one's first token (a day at
        # most): its answer lost, the system was otherwise left with a dead secret, locked out until the authority
        # rotated it. An administrator's rotation (a leak: the runbook's 重置密钥) ends the old secret at once.
        keep = PREVIOUS_SECRET_SECONDS if _rotates_itself(caller, system_id) else 0
        try:
            state = await self._store.set_secret(system.id, secret_hash, admin, check, keep)
        except ServiceError:  # such a try is someone holding a leaked token: logged, as a refused token is
            await self._store.record_admin(AdminEvent.by(caller, "directory.rotate_system_secret", system.id,
                                                         result=CREDENTIALS_REVOKED))
            raise
        if state is None:
            raise not_found(f"system {system_id}")
        await self._events.system_changed(*state)
        return secret

    async def _still_theirs(self, caller: Caller, action: str, target: str) -> None:
        await still_theirs(self._store, caller, action, target)

    def _refusals_logged(self, caller: Caller, action: str, system_id: str) -> AbstractAsyncContextManager[None]:
        """Logs a refusal of ``action`` on the system (its id when it has an id's form), as a refused token is."""
        return refusals_logged(self._store.record_admin, caller, action,
                               system_id if SYSTEM_ID.fullmatch(system_id) else "")

    async def disable_system(self, caller: Caller, system_id: str) -> System:
        """Disables a system: no new tokens, and every verifier refuses the tokens it holds (via the event)."""
        require_identified(caller)
        async with self._refusals_logged(caller, "directory.disable_system", system_id):
            duties.require_administrator(caller, "disable systems")  # before the lookup, as above
            system = await self._find_system(system_id)
            require_department(caller, system.department_code, "disable this system")
        await self._still_theirs(caller, "directory.disable_system", system.id)
        admin = AdminEvent.by(caller, "directory.disable_system", system.id,
                              {"department_code": system.department_code})
        changed = await self._store.disable_system(system.id, admin)
        if changed is None:
            raise not_found(f"system {system_id}")
        await self._events.system_changed(*changed[1])
        return changed[0]

    async def enable_system(self, caller: Caller, system_id: str) -> System:
        """Enables a disabled system again (authority only): new tokens; older ones stay refused."""
        async with self._refusals_logged(caller, "directory.enable_system", system_id):
            duties.require_administrator(caller, "enable systems")
            require_authority(caller, "enable systems")
        system = await self._find_system(system_id)
        await self._still_theirs(caller, "directory.enable_system", system.id)
        admin = AdminEvent.by(caller, "directory.enable_system", system.id,
                              {"department_code": system.department_code})
        changed = await self._store.enable_system(system.id, admin)
        if changed is None:
            raise not_found(f"system {system_id}")
        await self._events.system_changed(*changed[1])
        return changed[0]

    async def system_states(self, caller: Caller, size: int, token: str) -> tuple[list[tuple[str, SystemState]], str]:
        """A page of the restricted systems and persons in id order, for the platform's token verifiers
        (gateway, query) only; and the token of the next page."""
        require_service(caller)
        limit = pagination.page_size(size)
        position = pagination.decode_token(token)
        try:
            after = pagination.text_id(position["after"]) if position is not None else None
        except (KeyError, TypeError, ValueError):
            raise invalid_argument([FieldViolation("page_token", pagination.NOT_ISSUED)]) from None
        states = await self._store.system_states(after, limit + 1)
        if len(states) <= limit:
            return states, ""
        return states[:limit], pagination.encode_token({"after": states[limit - 1][0]})

    async def person_state(self, caller: Caller, person_id: str) -> SystemState | None:
        """The person's state as their row holds it now, for the platform's services only: asked before a
        person's decision outside this service (a review, a dispute's answer, a conflict's resolution), as
        still_theirs reads it before one here; None for no such person."""
        require_service(caller)
        return await self._store.person_token_state(person_id)

    async def _find_system(self, system_id: str) -> System:
        return await find_by_id(system_id, SYSTEM_ID, self._store.get_system, "system")

    # Tokens

    async def issue_token(self, system_id: str, secret: str) -> tokens.IssuedToken:
        """A token for a system that proves its secret; any failure is UNAUTHENTICATED.

        The blanks around the id and the secret are not read: neither ever holds one (a ``sys-…`` id, a URL-safe
        secret), and a Java or .NET system sends the secret as it read its file (Files.readString keeps the final
        newline), the id as copied from a form. Read as sent, the right secret was "unknown system id or wrong
        secret" and logged as a guess at it (the SDK and the command trimmed them; a caller of its own could not
        tell what was wrong). Nor is a byte order mark before them read: a file saved as "UTF-8 with BOM" (Notepad,
        Windows PowerShell) begins with one, which Java's readString and the SDK given the file's bytes keep."""
        system_id, secret = _credential(system_id), _credential(secret)
        problems = [FieldViolation(name, "is required") for name, value in (("system_id", system_id),
                                                                             ("secret", secret)) if not value]
        if problems:
            raise invalid_argument(problems)
        if len(secret) > MAX_SECRET:
            raise unauthenticated(BAD_CREDENTIALS)
        found = await self._store.get_credentials(system_id) if SYSTEM_ID.fullmatch(system_id) else None
        stored = found.secret_hash if found is not None else credentials.decoy_hash()
        matches = await asyncio.to_thread(credentials.verify_secret, secret, stored)
        if found is None:
            raise unauthenticated(BAD_CREDENTIALS)
        # The secret the system's own rotation replaced, while the new one has had no token: the rotation's answer
        # may have been lost on its way back (a timeout, a restart before the new secret was written down).
        previous = not matches and bool(found.previous_secret_hash) and await asyncio.to_thread(
            credentials.verify_secret, secret, found.previous_secret_hash)
        matches = matches or previous
        caller = Caller(found.system.id, found.system.department_code, authority=found.authority)
        if not matches:
            # A wrong secret for an existing system is someone trying to be it: logged as a person's wrong password
            # is (session.sign_in BAD_PASSWORD), so guessing shows in the log. An unknown id names nobody.
            await self._store.record_admin(AdminEvent.by(caller, "token.issue", caller.system_id, result="BAD_SECRET"))
            raise unauthenticated(BAD_CREDENTIALS)
        async with self._store.held_credentials(system_id) as held:
            # The secret was verified against the hash read before; a rotation or a disable may have committed
            # since. Checked again, and the token made, under the row's lock (Store.held_credentials): a token of
            # the old secret would otherwise carry an ``iat`` after the rotation and stay valid.
            result, message = _refusal(found, held, previous)
            if held is not None and not result:
                issued = tokens.issue_token(self._settings.token_private_key, caller,
                                            self._settings.token_ttl_seconds, not_before=held.not_before,
                                            zone=self._settings.zone)
        if result:
            await self._store.record_admin(AdminEvent.by(caller, "token.issue", caller.system_id, result=result))
            raise _token_refusal(result, message)
        if not previous and (found.previous_secret_hash or not found.secret_used):
            await self._store.secret_used(system_id, found.secret_hash)  # the previous secret is accepted no more
        # Logged before the token is handed out: no token leaves without its entry (the token itself never).
        await self._store.record_admin(AdminEvent.by(caller, "token.issue", caller.system_id,
                                                     {"expire_time": int(issued.expires_at),
                                                      **({"previous_secret": True} if previous else {})}))
        return issued
