"""Persons and their roles (issue 12): who may administer them, and what each role may hold.

Only the authority administers persons: its administrators (PERSON_ROLE_ADMINISTRATOR) and, for provisioning
and the first administrator, the authority's own systems. REVIEWER and ADMINISTRATOR are the authority's
roles; an administrator holds no deciding role beside it (separation of duties: who manages accounts does
not approve or review). Every change goes to the administrative log, naming the person changed by id only.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc

from govshare.authorization.v1 import persons_pb2
from services.authorization import person_credentials as pc
from services.authorization.person_store import AdminEntry, PersonRecord, PersonStore
from services.authorization.roles import require_identified
from services.authorization.validation import department_code_problem, find_by_id, name_problem, page_after, page_of
from services.runtime import pagination
from services.runtime.admin_events import AdminEvent, refusals_logged
from services.runtime.duties import (
    ADMINISTRATOR,
    APPLICANT,
    APPROVER,
    AUTHORITY_ROLES,
    DATA_OFFICER,
    LABELS,
    REVIEWER,
)
from services.runtime.errors import (
    FieldViolation,
    ServiceError,
    failed_precondition,
    invalid_argument,
    not_found,
    permission_denied,
)
from services.runtime.identity import Caller
from services.runtime.person_secrets import TotpSealer
from services.runtime.system_states import CREDENTIALS_RESET, ROLES_CHANGED

if TYPE_CHECKING:
    from services.authorization.policy_events import PolicyEvents
    from services.authorization.store import Store

_PREFIX = "PERSON_ROLE_"
ROLE_NAMES = {number: name.removeprefix(_PREFIX) for name, number in persons_pb2.PersonRole.items()
              if number != persons_pb2.PERSON_ROLE_UNSPECIFIED}
#: Roles an administrator may not hold beside ADMINISTRATOR (it cannot approve or review).
DECIDING_ROLES = frozenset({APPROVER, REVIEWER, DATA_OFFICER, APPLICANT})
ROLE_LABELS = LABELS
#: The longest text ListPersons looks for in usernames and display names.
LIST_TEXT_MAX = 64
#: The longest reason an administrator gives for resetting a person's IdP binding (kept in the log).
IDP_RESET_REASON_MAX = 500


def role_names(numbers: Iterable[int]) -> tuple[str, ...]:
    return tuple(sorted(ROLE_NAMES[n] for n in set(numbers) if n in ROLE_NAMES))


def caller_of(person: PersonRecord) -> Caller:
    """The caller a person's token asserts."""
    return Caller(system_id=person.id, department_code=person.department_code, authority=person.authority,
                  display_name=person.display_name, roles=role_names(person.roles),
                  password_change_required=person.password_change_required)


def handed_over(caller: Caller) -> bool:
    """Whether a password ``caller`` sets is one a person then hands over, and so knows: an administrator's (a
    person's) creation or reset. Until the person sets their own, their sessions do nothing else (the token's
    ``pcr`` claim, services.runtime.tokens): a new 审批人's first password and TOTP URI went to the administrator,
    who could sign in as them and decide in their name. The authority's system provisioning persons (a directory
    sync, the demo) hands no password to anyone reading it."""
    return caller.is_person


def require_administrator(caller: Caller, action: str) -> None:
    """The authority's administrators, or the authority's systems (provisioning); nobody else."""
    require_identified(caller)
    allowed = caller.authority and (caller.has_role(ADMINISTRATOR) if caller.is_person else True)
    if not allowed:
        raise permission_denied("ADMINISTRATOR_ONLY", f"only the authority's 管理员 (ADMINISTRATOR) may {action}",
                                required_role=ADMINISTRATOR)


@dataclass(frozen=True)
class NewPerson:
    username: str
    display_name: str
    department_code: str
    roles: tuple[int, ...]
    password: str


def _role_problems(roles: tuple[int, ...], authority: bool, field: str) -> list[FieldViolation]:
    problems = []
    unknown = [r for r in roles if r not in ROLE_NAMES]
    if unknown:
        problems.append(FieldViolation(field, f"unknown role numbers {sorted(set(unknown))}"))
    names = set(role_names(roles))
    if not authority and names & AUTHORITY_ROLES:
        problems.append(FieldViolation(field, "REVIEWER and ADMINISTRATOR are the authority's roles only"))
    if ADMINISTRATOR in names and names & DECIDING_ROLES:
        problems.append(FieldViolation(field, "an ADMINISTRATOR holds no deciding role (DATA_OFFICER, APPROVER, "
                                              "APPLICANT, REVIEWER): separation of duties"))
    return problems


def _maker(caller: Caller) -> Caller | None:
    """The administrator (a person) making a change, whom the store checks under the administrators' lock (still an
    enabled ADMINISTRATOR, their token not ended); None for the authority's systems, whose tokens the verifier
    checks as before."""
    return caller if caller.is_person else None


def _refuse_own_reset(caller: Caller, person: PersonRecord, what: str) -> None:
    """An administrator resets no credential of their own: ChangePassword asks the current password and a TOTP
    code, a reset asks neither, so whoever held an administrator's session token for a moment could otherwise
    set a new password and TOTP secret and keep the account. Another administrator (or the authority's system)
    must."""
    if person.id == caller.person_id:
        raise invalid_argument([FieldViolation("id", f"an administrator cannot reset their own {what}: change "
                                                     "your password with ChangePassword (it asks the current one "
                                                     "and a TOTP code); another administrator must reset it")])


def _search_forms(text: str) -> tuple[str, ...]:
    """The forms of a ListPersons text looked for: as typed, and as SignIn and CreatePerson read a username
    (pc.typed_username: NFKC, so the full-width ｚｈａｎｇ of a Chinese input method in 全角 mode is zhang), both in
    lower case; () for no text. Looked for as typed alone, a username the administrator had just created typed so
    was found nowhere in the 人员 list, nor a display name written with ASCII letters or brackets (张三(民政)) by
    the full-width ones typed."""
    if not text:
        return ()
    return tuple(dict.fromkeys((text.lower(), pc.typed_username(text))))


def _lifted(person: PersonRecord) -> dict[str, object]:
    """What an unlock lifts: the lock still running (its end, ISO 8601; None when there is none) and the failed
    sign-ins counted toward the next one."""
    now = dt.datetime.now(dt.UTC)
    running = person.lock_until is not None and person.lock_until > now
    return {"locked_until": person.lock_until.isoformat() if running else None,  # type: ignore[union-attr]
            "failed_attempts": person.failed_attempts}


class Persons:
    """The PersonService workflows."""

    def __init__(self, store: Store, persons: PersonStore, events: PolicyEvents,
                 sealer: TotpSealer | None) -> None:
        self._store = store
        self._persons = persons
        self._events = events
        self._sealer = sealer

    def _require_sealer(self) -> TotpSealer:
        """Local accounts need the sealing key: no TOTP secret is kept in the clear."""
        if self._sealer is None:
            raise failed_precondition("LOCAL_ACCOUNTS_NEED_KEY",
                                      "local accounts (password and TOTP) need GOVSHARE_PERSON_SECRET_KEY on the "
                                      "authorization service; without it persons sign in with OpenID Connect only")
        return self._sealer

    def _sealed(self, person_id: str, secret: str) -> str:
        """``secret`` as the persons table keeps it."""
        return self._require_sealer().seal(person_id, secret)

    async def create(self, caller: Caller, new: NewPerson) -> tuple[PersonRecord, str]:
        await self._administrator(caller, "create persons", "person.create", "")
        # Read as SignIn reads it (full-width letters from a Chinese input method are the ASCII they show): refused
        # here, the administrator was told "a-z 0-9" while looking at those very letters.
        username = pc.typed_username(new.username)
        problems = []
        if not pc.USERNAME.fullmatch(username):
            problems.append(FieldViolation("person.username", "must be 3-64 characters of a-z 0-9 . _ - "
                                                              "starting with a letter or digit"))
        if error := name_problem(new.display_name, 100):
            problems.append(FieldViolation("person.display_name", error))
        if error := department_code_problem(new.department_code):
            problems.append(FieldViolation("person.department_code", error))
        if new.password and (error := pc.password_problem(new.password, username)):
            problems.append(FieldViolation("password", error))
        department = None if problems else await self._store.get_department(new.department_code)
        if not problems and department is None:
            raise not_found(f"department {new.department_code}")
        problems += _role_problems(new.roles, bool(department and department.authority), "person.roles")
        if problems:
            raise invalid_argument(problems)
        if new.password:
            self._require_sealer()  # before the costly hash
        password_hash = await asyncio.to_thread(pc.hash_password, new.password) if new.password else ""
        # An administrator (a person) is shown no TOTP secret, as for a reset: the person enrols their own at their
        # first sign-in (SessionService.EnrolTotp). Shown the URI, the administrator could produce the new
        # person's codes, and with the password they hand over sign in as them first.
        enrols = bool(new.password) and handed_over(caller)
        secret = pc.new_totp_secret() if new.password and not enrols else ""
        person_id = pc.new_person_id()
        record = PersonRecord(id=person_id, username=username, display_name=new.display_name.strip(),
                              department_code=new.department_code, roles=tuple(sorted(set(new.roles))),
                              disabled=False, password_hash=password_hash,
                              totp_secret=self._sealed(person_id, secret) if secret else "", totp_last_step=0,
                              failed_attempts=0, lock_until=None, not_before=0, authority=False,
                              create_time=dt.datetime.now(dt.UTC),
                              password_change_required=bool(new.password) and handed_over(caller),
                              totp_enrolment_required=enrols)
        admin = AdminEvent.by(caller, "person.create", record.id,
                              {"department_code": record.department_code, "roles": list(role_names(record.roles)),
                               "local_account": bool(new.password)})
        created = await self._persons.insert(record, admin, _maker(caller))
        return created, pc.provisioning_uri(secret, username) if secret else ""

    async def get(self, caller: Caller, person_id: str) -> PersonRecord:
        # A refused read is logged as a refused change is: a person's account (name, username, roles, state) is
        # the administrators' to read, and who else tried is evidence (R-SEC-3).
        await self._administrator(caller, "read persons", "person.read", person_id)
        return await self.find(person_id)

    async def _administrator(self, caller: Caller, what: str, action: str, person_id: str) -> None:
        """require_administrator, a refusal logged as ``action`` on the person (their id when it has an id's form;
        checked before the lookup, so that who may not change persons learns nothing of which ids exist)."""
        target = person_id if pc.PERSON_ID.fullmatch(person_id) else ""
        async with refusals_logged(self._persons.record_admin, caller, action, target):
            require_administrator(caller, what)

    async def find(self, person_id: str) -> PersonRecord:
        return await find_by_id(person_id, pc.PERSON_ID, self._persons.get, "person")

    async def list(self, caller: Caller, department_code: str, size: int, token: str, role: int = 0,
                   state: int = persons_pb2.PERSON_STATE_UNSPECIFIED, text: str = ""
                   ) -> tuple[list[PersonRecord], str]:
        """A page of persons, filtered by department, role, state and a text in the username or display name (the
        console's 人员 list: without the text, an administrator looking for one person among hundreds paged
        through them)."""
        await self._administrator(caller, "list persons", "person.list", "")
        problems = []
        if department_code and (error := department_code_problem(department_code)):
            problems.append(FieldViolation("department_code", error))
        if role and role not in ROLE_NAMES:
            problems.append(FieldViolation("role", f"unknown role number {role}"))
        if state not in persons_pb2.PersonState.values():
            problems.append(FieldViolation("state", f"unknown state number {state}"))
        text = text.strip()
        if len(text) > LIST_TEXT_MAX:
            problems.append(FieldViolation("text", f"must be at most {LIST_TEXT_MAX} characters"))
        if problems:
            raise invalid_argument(problems)
        disabled = None if state == persons_pb2.PERSON_STATE_UNSPECIFIED else state == persons_pb2.PERSON_STATE_DISABLED
        limit = pagination.page_size(size)
        rows = await self._persons.list(department_code or None, page_after(token, int), limit + 1, role, disabled,
                                        _search_forms(text))
        return page_of(rows, limit)

    async def set_roles(self, caller: Caller, person_id: str, roles: tuple[int, ...], etag: str = "") -> PersonRecord:
        """Replaces the person's roles; with ``etag`` (Person.etag as the caller read it), only if they are still
        the roles read: two administrators editing one person at once, the second silently replaced the first's
        change with a form filled in before it."""
        await self._administrator(caller, "set persons' roles", "person.set_roles", person_id)
        person = await self.find(person_id)
        problems = _role_problems(roles, person.authority, "roles")
        if person.id == caller.person_id and ADMINISTRATOR not in role_names(roles):
            # As with disabling: the last administrator could otherwise leave the platform without one.
            problems.append(FieldViolation("roles", "an administrator cannot remove their own ADMINISTRATOR role: "
                                                    "another administrator must"))
        if problems:
            raise invalid_argument(problems)
        roles = tuple(sorted(set(roles)))

        def admin(before: PersonRecord) -> AdminEvent:
            """The roles replaced as the change finds them: another administrator may have changed them meanwhile."""
            if etag and before.etag != etag:
                raise ServiceError(grpc.StatusCode.ABORTED, "ETAG_MISMATCH", (
                    f"person {person.username}'s roles were changed by another administrator since you read them "
                    f"(now: {', '.join(role_names(before.roles)) or 'none'}): nothing was changed; read the person "
                    "again and redo your change"))
            return AdminEvent.by(caller, "person.set_roles", person.id, {"roles": list(role_names(roles)),
                                                                         "before": list(role_names(before.roles))})

        def cut(before: PersonRecord) -> str:
            """ROLES_CHANGED when the roles change (read under the row's lock): the roles they already hold, set
            again (修改角色 saved unchanged, a directory sync applying every person's roles each night), signed
            the person out mid-work, told their roles had changed."""
            return ROLES_CHANGED if tuple(sorted(set(before.roles))) != roles else ""

        return await self._change(caller, person.id, "roles = $2", (list(roles),), admin, cut,
                                  ends_administrator=ADMINISTRATOR not in role_names(roles))

    async def disable(self, caller: Caller, person_id: str) -> PersonRecord:
        await self._administrator(caller, "disable persons", "person.disable", person_id)
        person = await self.find(person_id)
        if person.id == caller.person_id:
            raise invalid_argument([FieldViolation("id", "an administrator cannot disable themselves")])
        changed = await self._persons.disable(person.id, AdminEvent.by(caller, "person.disable", person.id),
                                              _maker(caller))
        return await self._announce(changed, person_id)

    async def enable(self, caller: Caller, person_id: str) -> PersonRecord:
        await self._administrator(caller, "enable persons", "person.enable", person_id)
        person = await self.find(person_id)
        if person.department_retired:
            raise failed_precondition("DEPARTMENT_RETIRED", f"person {person.id} cannot be enabled: "
                                      f"{person.department_retired}")
        return await self._change(caller, person.id, "disabled = false", (),
                                  AdminEvent.by(caller, "person.enable", person.id))

    async def reset_password(self, caller: Caller, person_id: str, password: str) -> PersonRecord:
        await self._administrator(caller, "reset passwords", "person.reset_password", person_id)
        person = await self.find(person_id)
        if error := pc.password_problem(password, person.username):
            raise invalid_argument([FieldViolation("password", error)])
        _refuse_own_reset(caller, person, "password")
        # A person who had no local account gets one, and with it a TOTP secret: their own to enrol when an
        # administrator (a person) set the password; else a new one (the authority's system resets it to see it).
        enrols = not person.totp_secret and handed_over(caller)
        secret = person.totp_secret or ("" if enrols else self._sealed(person.id, pc.new_totp_secret()))
        password_hash = await asyncio.to_thread(pc.hash_password, password)
        return await self._change(caller, person.id, "password_hash = $2, totp_secret = $3, failed_attempts = 0,"
                                  " lock_until = NULL, password_change_required = $4,"
                                  " totp_enrolment_required = totp_enrolment_required OR $5",
                                  (password_hash, secret, handed_over(caller), enrols),
                                  AdminEvent.by(caller, "person.reset_password", person.id), CREDENTIALS_RESET)

    async def reset_totp(self, caller: Caller, person_id: str) -> tuple[PersonRecord, str]:
        await self._administrator(caller, "reset TOTP secrets", "person.reset_totp", person_id)
        person = await self.find(person_id)
        _refuse_own_reset(caller, person, "TOTP secret")
        if not person.password_hash:
            raise invalid_argument([FieldViolation("id", "this person has no local account (OpenID Connect only): "
                                                         "set a password first")])
        # An administrator (a person) is shown no secret: one they handed over they could produce codes of for
        # good, and the person had no way to re-key it. The person enrols their own at their next sign-in
        # (SessionService.EnrolTotp). The authority's system provisioning persons (a directory sync, the demo)
        # still gets the new secret's URI, as it gets the password it sets (``handed_over``).
        enrols = handed_over(caller)
        secret = "" if enrols else pc.new_totp_secret()
        # As a password reset: the failures were made with the lost authenticator (a person who lost it locks
        # the account trying codes), and the new secret's first sign-in must not meet their lock.
        changed = await self._change(caller, person.id, "totp_secret = $2, totp_last_step = 0, failed_attempts = 0,"
                                     " lock_until = NULL, totp_enrolment_required = $3",
                                     (self._sealed(person.id, secret) if secret else "", enrols),
                                     AdminEvent.by(caller, "person.reset_totp", person.id,
                                                   {"enrolment": True} if enrols else None), CREDENTIALS_RESET)
        return changed, pc.provisioning_uri(secret, changed.username) if secret else ""

    async def unlock(self, caller: Caller, person_id: str) -> PersonRecord:
        """Lifts the lock and clears the failures; the log says what was lifted (read under the row's lock): the
        entry alone read the same whether it ended a lock that had an officer locked out or one set off by
        someone guessing their password, or lifted nothing at all."""
        await self._administrator(caller, "unlock persons", "person.unlock", person_id)
        person = await self.find(person_id)

        def admin(before: PersonRecord) -> AdminEvent:
            return AdminEvent.by(caller, "person.unlock", before.id, _lifted(before))

        return await self._change(caller, person.id, "failed_attempts = 0, lock_until = NULL", (), admin)

    async def reset_idp_binding(self, caller: Caller, person_id: str, reason: str) -> PersonRecord:
        """Unbinds the person from the IdP account (iss, sub) of their first OpenID Connect sign-in, so that the
        next one binds them afresh. An IdP account re-created for the same person (a new ``sub``) or a new realm
        (a new ``iss``) was OIDC_SUBJECT_MISMATCH for good: the person was locked out, and only a row changed in
        PostgreSQL, with no trace, let them in again. Who and why go to the log with the account unbound (read
        under the row's lock); the person's tokens are cut as by any reset (the account they signed in with is
        no longer theirs to sign in with)."""
        await self._administrator(caller, "reset IdP bindings", "person.reset_idp_binding", person_id)
        reason = reason.strip()
        problem = name_problem(reason, IDP_RESET_REASON_MAX)
        person = await self.find(person_id)
        if problem:
            raise invalid_argument([FieldViolation("reason", f"say why the binding is reset: {problem}")])
        _refuse_own_reset(caller, person, "IdP binding")

        def admin(before: PersonRecord) -> AdminEvent:
            if before.oidc_subject is None:
                raise failed_precondition("IDP_NOT_BOUND", (
                    f"person {before.username} is bound to no IdP account: their next OpenID Connect sign-in "
                    "binds them; nothing was changed"))
            return AdminEvent.by(caller, "person.reset_idp_binding", before.id, {
                "reason": reason, "issuer": before.oidc_issuer, "subject": before.oidc_subject})

        return await self._change(caller, person.id, "oidc_issuer = NULL, oidc_subject = NULL", (), admin,
                                  CREDENTIALS_RESET)

    async def _change(self, caller: Caller, person_id: str, assignments: str, args: tuple[object, ...],
                      admin: AdminEntry, cut_tokens: str | Callable[[PersonRecord], str] = "",
                      ends_administrator: bool = False) -> PersonRecord:
        """An administrator's change; a person making it must still be one when it commits, and the last enabled
        administrator is not left without the role (the store checks both)."""
        changed = await self._persons.update(person_id, assignments, args, admin, cut_tokens, _maker(caller),
                                             ends_administrator)
        return await self._announce(changed, person_id)

    async def _announce(self, changed: object, person_id: str) -> PersonRecord:
        if changed is None:
            raise not_found(f"person {person_id}")
        person, state = changed  # type: ignore[misc]
        await self._events.system_changed(*state)
        return person
