"""The persons table (migration 005): SQL only, beside the service's Store (same pool, same administrative log).

Every change that must end a person's tokens (disable, new roles, a password reset, a sign-out) moves their
``not_before`` like a system's (services.authorization.store.reset_second) and takes a version from the same
sequence, so the one SystemStates every verifier keeps refuses persons' older tokens too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TypeVar

import asyncpg

from govshare.authorization.v1 import persons_pb2
from services.authorization import retirement
from services.authorization.store import SERVICE, Store, reset_second
from services.runtime import system_states
from services.runtime.admin_events import AdminEvent
from services.runtime.errors import already_exists, failed_precondition, permission_denied
from services.runtime.identity import Caller
from services.runtime.person_secrets import SecretUnreadable, TotpSealer
from services.runtime.system_states import DISABLED, SystemState

#: The reason a person's tokens were cut when they signed out or changed their password (an administrator's reset
#: of their password, TOTP or IdP binding is CREDENTIALS_RESET, a change of their roles ROLES_CHANGED, a disable
#: DISABLED: services.runtime.system_states says each to the person).
RESET = "RESET"
#: Taken by every change an administrator (a person) makes to a person, so that two administrators removing
#: each other's ADMINISTRATOR role, or disabling each other, at the same moment cannot both succeed.
ADMINISTRATORS_LOCK = int.from_bytes(hashlib.sha256(b"govshare-authorization-administrators").digest()[:8], "big",
                                     signed=True)
_Issued = TypeVar("_Issued")
#: The used ID tokens past their time deleted by one sign-in (more than one sign-in adds: the table shrinks).
_PRUNE_BATCH = 100
#: How long a username without a local account keeps its failures after the last (or its lock after its end).
_DECOY_KEEP_SECONDS = 86_400
#: The role number an administrator holds (govshare.authorization.v1.PersonRole, as stored in ``roles``).
_ADMINISTRATOR = persons_pb2.PERSON_ROLE_ADMINISTRATOR


@dataclass(frozen=True)
class PersonRecord:
    """A person as stored, secrets included (never leaves the service)."""

    id: str
    username: str
    display_name: str
    department_code: str
    roles: tuple[int, ...]
    disabled: bool
    password_hash: str
    totp_secret: str
    totp_last_step: int
    failed_attempts: int
    lock_until: dt.datetime | None
    not_before: int
    authority: bool
    create_time: dt.datetime
    seq: int = 0
    #: The password was set by an administrator (a person), who knows it: the person sets their own before
    #: anything else (migration 014).
    password_change_required: bool = False
    #: The IdP account (iss, sub) the person signed in with first, None before (migration 016).
    oidc_issuer: str | None = None
    oidc_subject: str | None = None
    #: An administrator (a person) reset the TOTP secret: the person enrols one of their own (SessionService.EnrolTotp)
    #: and it counts once a code of it signs in (migration 018).
    totp_enrolment_required: bool = False
    #: An administrator (a person) was shown the TOTP secret (a row stored before migration 019): ChangePassword
    #: of their password renews it.
    totp_handed_over: bool = False
    #: Why the person's department no longer acts (retirement.retired_sentence), "" while it is in service.
    department_retired: str = ""
    #: Why ``not_before`` last moved (RESET, CREDENTIALS_RESET, ROLES_CHANGED, DISABLED), "" before it ever did.
    not_before_reason: str = ""

    @property
    def token_state(self) -> SystemState:
        """Which of the person's tokens the row still accepts (as the verifiers' SystemStates hold it)."""
        return SystemState(disabled=self.disabled, not_before=self.not_before, reason=self.not_before_reason,
                           version=0)

    @property
    def etag(self) -> str:
        """Of the roles: what an administrator's change of them must have read (the roles, not a row version, so
        that a change of something else — a password reset, a failed sign-in — does not refuse it)."""
        return roles_etag(self.roles)


def roles_etag(roles: Iterable[int]) -> str:
    return hashlib.sha256(",".join(str(role) for role in sorted(set(roles))).encode()).hexdigest()[:16]


_SELECT = ("SELECT p.*, d.authority, d.retire_time AS department_retire_time, d.merged_into AS department_merged_into"
           " FROM persons p JOIN departments d ON d.code = p.department_code")


#: A changed person and their token state (for the verifiers).
_Changed = tuple[PersonRecord, tuple[str, SystemState]]

#: A change's administrative log entry, or how to write it from the person as they were just before the change.
AdminEntry = AdminEvent | Callable[[PersonRecord], AdminEvent] | None


def _person(row: asyncpg.Record) -> PersonRecord:
    return PersonRecord(id=row["id"], username=row["username"], display_name=row["display_name"],
                        department_code=row["department_code"], roles=tuple(row["roles"]), disabled=row["disabled"],
                        password_hash=row["password_hash"], totp_secret=row["totp_secret"],
                        totp_last_step=row["totp_last_step"], failed_attempts=row["failed_attempts"],
                        lock_until=row["lock_until"], not_before=row["not_before"], authority=row["authority"],
                        create_time=row["create_time"], seq=row["seq"],
                        password_change_required=row["password_change_required"],
                        oidc_issuer=row["oidc_issuer"], oidc_subject=row["oidc_subject"],
                        totp_enrolment_required=row["totp_enrolment_required"],
                        totp_handed_over=row["totp_handed_over"],
                        department_retired=_retired(row), not_before_reason=row["not_before_reason"])


def _retired(row: asyncpg.Record) -> str:
    """The retirement sentence of the person's department, "" while it is in service (or not read by the query)."""
    retired = row.get("department_retire_time")
    if retired is None:
        return ""
    return retirement.retired_sentence(row["department_code"], retired, row.get("department_merged_into") or "")


def _state(row: asyncpg.Record) -> tuple[str, SystemState]:
    return row["id"], SystemState(disabled=row["disabled"], not_before=row["not_before"],
                                  reason=row["not_before_reason"], version=row["state_version"])


def _as_bound(person: PersonRecord, account: tuple[str, str]) -> PersonRecord:
    """``person`` as the sign-in from IdP ``account`` (iss, sub) leaves them: bound to it when they were bound to
    nothing. Given the row as read before the binding's UPDATE, the sign-in that binds answered with no binding
    (an empty idp_subject) while GetPerson, after it, showed one. A person bound already is left as they are, so
    ``issue`` still refuses another account first, as before."""
    if person.oidc_subject is not None:
        return person
    return replace(person, oidc_issuer=account[0], oidc_subject=account[1])


def _with_binding(admin: AdminEvent, account: tuple[str, str]) -> AdminEvent:
    """The sign-in's log entry naming the IdP account (iss, sub) it bound the person to: from then on they sign in
    from that account only, so the administrator answering "the IdP account is not the one this person signs in
    with" (OIDC_SUBJECT_MISMATCH) must see when, and to which account, the binding was made. Without it the log
    showed a sign-in like any other, and the binding was in the persons table alone."""
    issuer, subject = account
    return replace(admin, details={**admin.details, "oidc_bound": {"issuer": issuer, "subject": subject}})


class OidcAccountTaken(Exception):
    """The IdP account of an ID token is bound to another person already (migration 016)."""


class CredentialsReplaced(Exception):
    """The password or TOTP secret a change was proved with was replaced meanwhile (``PersonStore.update``'s
    ``proved_with``): an administrator's reset, which the change must not undo."""


class TotpStepUsed(Exception):
    """The TOTP step a change was proved with, or a later one, was used meanwhile (``PersonStore.update``'s
    ``unused_step``): a code is accepted once, on whichever replica it is sent to."""


class PersonStore:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def _one(self, conn: asyncpg.Connection, person_id: str) -> PersonRecord:
        return _person(await conn.fetchrow(f"{_SELECT} WHERE p.id = $1", person_id))

    async def insert(self, person: PersonRecord, admin: AdminEvent, administrator: Caller | None = None
                     ) -> PersonRecord:
        """Stores a new person; ``administrator``, the person creating them, is checked as ``update`` checks it."""
        try:
            async with self._store.pool.acquire() as conn, conn.transaction():
                if administrator is not None:
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", ADMINISTRATORS_LOCK)
                    await self._still_administrator(conn, administrator)
                await Store.require_in_service(conn, person.department_code)
                await conn.execute(
                    "INSERT INTO persons (id, username, display_name, department_code, roles, password_hash,"
                    " totp_secret, password_change_required, totp_enrolment_required)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)", person.id,
                    person.username, person.display_name, person.department_code, list(person.roles),
                    person.password_hash, person.totp_secret, person.password_change_required,
                    person.totp_enrolment_required)
                await Store.append_admin(conn, SERVICE, [admin])
                return await self._one(conn, person.id)
        except asyncpg.UniqueViolationError:
            raise already_exists(f"a person with username {person.username!r}") from None

    async def get(self, person_id: str) -> PersonRecord | None:
        row = await self._store.pool.fetchrow(f"{_SELECT} WHERE p.id = $1", person_id)
        return _person(row) if row is not None else None

    async def by_username(self, username: str) -> PersonRecord | None:
        row = await self._store.pool.fetchrow(f"{_SELECT} WHERE p.username = $1", username)
        return _person(row) if row is not None else None

    async def list(self, department_code: str | None, after: int | None, limit: int, role: int = 0,
                   disabled: bool | None = None, texts: tuple[str, ...] = ()) -> list[tuple[int, PersonRecord]]:
        """A page of persons in creation order (ListPersons), on the listing pool with its statement budget;
        ``role`` 0, ``disabled`` None and ``texts`` () filter nothing; any of ``texts`` (lower case: the text typed
        and its other forms) is looked for in the username and the display name as they are, no LIKE pattern (a %
        or _ typed is a character)."""
        rows = await self._store.listing.fetch(
            f"{_SELECT} WHERE ($1::text IS NULL OR p.department_code = $1) AND p.seq > $2"
            " AND ($4::int = 0 OR $4::int = ANY(p.roles)) AND ($5::bool IS NULL OR p.disabled = $5::bool)"
            " AND (cardinality($6::text[]) = 0 OR EXISTS (SELECT 1 FROM unnest($6::text[]) AS t(text)"
            " WHERE strpos(lower(p.username), t.text) > 0 OR strpos(lower(p.display_name), t.text) > 0))"
            " ORDER BY p.seq LIMIT $3",
            department_code, after or 0, limit, role, disabled, list(texts))
        return [(r["seq"], _person(r)) for r in rows]

    async def update(self, person_id: str, assignments: str, args: tuple[object, ...], admin: AdminEntry,
                     cut_tokens: str | Callable[[PersonRecord], str] = "", administrator: Caller | None = None,
                     ends_administrator: bool = False,
                     unused_step: int = 0, proved_with: tuple[str, str] | None = None) -> _Changed | None:
        """Applies ``SET assignments`` (parameters from $2) to the person; with ``cut_tokens`` (the reason),
        their tokens issued until now are refused (or, a function of the person as they are just before the
        change, the reason when the change must cut them, "" when not). None for an unknown id.

        ``admin`` may be a function of the person as they are just before the change (read under the row's lock):
        an entry saying what was there before (the roles replaced) is then true even when two administrators
        change the same person at once; read before the transaction, it named the roles the other one replaced.

        ``administrator``, the person making the change, must still be an enabled ADMINISTRATOR when it is made:
        their token says they were when it was issued, and another administrator may have taken the role or
        disabled them since (PERMISSION_DENIED then, and nothing changes); and the token must still be theirs (not
        ended by a sign-out or a reset: UNAUTHENTICATED as every service says, whether or not the announcement of
        the end has reached this service's verifier).

        ``ends_administrator``: the change leaves the person no enabled ADMINISTRATOR (disabled, or the role
        taken away); refused (FAILED_PRECONDITION LAST_ADMINISTRATOR) when they are the last enabled one.

        ``unused_step``: the TOTP step of the code the change was proved with (a person's own password change);
        ``TotpStepUsed`` is raised, and nothing changes, when the person's last used step has reached it under the
        row's lock, as ``record_success`` conditions a sign-in's. Checked on the row read before the slow
        password hashing, a sign-in on another replica with the same code meanwhile was accepted as well.

        ``proved_with``: the (password hash, TOTP secret) the change was proved with; ``CredentialsReplaced`` is
        raised, and nothing changes, when either was replaced meanwhile (an administrator's reset), as a sign-in's
        ``issue`` refuses: written over, the reset of a stolen phone's secret was undone."""
        # Every change takes a new state version, so verifiers apply it (an enable as much as a disable).
        sets = [assignments, "update_time = now()", "state_version = nextval('system_state_version')"]
        params: list[object] = [person_id, *args]
        async with self._store.pool.acquire() as conn, conn.transaction():
            if administrator is not None or ends_administrator:
                await conn.execute("SELECT pg_advisory_xact_lock($1)", ADMINISTRATORS_LOCK)
            if administrator is not None:
                await self._still_administrator(conn, administrator)
            before = await conn.fetchrow(f"{_SELECT} WHERE p.id = $1 FOR UPDATE OF p", person_id)
            if before is None:
                return None
            if proved_with is not None and (before["password_hash"], before["totp_secret"]) != proved_with:
                raise CredentialsReplaced
            if unused_step and before["totp_last_step"] >= unused_step:
                raise TotpStepUsed
            if ends_administrator:
                await self._not_last_administrator(conn, _person(before))
            if callable(cut_tokens):
                cut_tokens = cut_tokens(_person(before))
            if cut_tokens:
                # Taken under the row's lock: a sign-in making its token (record_success) has either finished,
                # with an earlier ``iat``, or waits and sees this change.
                params += [reset_second(), cut_tokens]
                sets.append(f"not_before = GREATEST(${len(params) - 1}, not_before + 1),"
                            f" not_before_reason = ${len(params)}")
            if callable(admin):
                admin = admin(_person(before))
            row = await conn.fetchrow(f"UPDATE persons SET {', '.join(sets)} WHERE id = $1 RETURNING *",
                                      *params)
            if row is None:
                return None
            if admin is not None:
                await Store.append_admin(conn, SERVICE, [admin])
            return await self._one(conn, person_id), _state(row)

    @staticmethod
    async def _not_last_administrator(conn: asyncpg.Connection, before: PersonRecord) -> None:
        """Under the administrators' lock: an administrator's own slip was already refused (they can neither disable
        themselves nor drop their own role), but the authority's system (provisioning) or a second administrator
        could still disable or demote the last enabled one, leaving no person to administer persons."""
        if before.disabled or _ADMINISTRATOR not in before.roles:
            return
        others = await conn.fetchval("SELECT count(*) FROM persons WHERE id <> $1 AND NOT disabled AND $2 = ANY(roles)",
                                     before.id, _ADMINISTRATOR)
        if not others:
            raise failed_precondition("LAST_ADMINISTRATOR", (
                f"person {before.username} is the platform's last enabled 管理员 (ADMINISTRATOR): create or enable "
                "another administrator first"))

    @staticmethod
    async def _still_administrator(conn: asyncpg.Connection, administrator: Caller) -> None:
        """Under the lock every administrator's change takes (``update``), so the check holds until the change
        commits. The token is read against the row as well: the verifier refuses an ended one only once the
        announcement of its end (a Redis event, or its reload a minute later) has reached it, and meanwhile the
        token an administrator signed out of reset passwords and created administrators."""
        row = await conn.fetchrow("SELECT disabled, roles, not_before, not_before_reason FROM persons WHERE id = $1",
                                  administrator.person_id)
        if row is None or row["disabled"] or _ADMINISTRATOR not in row["roles"]:
            raise permission_denied("ADMINISTRATOR_ONLY", "you are no longer an enabled 管理员 (ADMINISTRATOR): "
                                                          "another administrator changed your account meanwhile, "
                                                          "and this change was not made",
                                    required_role="ADMINISTRATOR")
        system_states.refuse_ended(administrator, SystemState(disabled=False, not_before=row["not_before"],
                                                              reason=row["not_before_reason"], version=0))

    async def seal_secrets(self, sealer: TotpSealer) -> tuple[int, int]:
        """Seals under the sealing key every TOTP secret stored in the clear (before sealing existed) or under an
        older key still listed; (sealed, unreadable). Runs at start, idempotent: each row is replaced only if it
        still holds what was read, so replicas starting together, or a sign-in meanwhile, lose nothing. A secret
        no listed key opens is left as it is (its person is told to have it reset when signing in)."""
        rows = await self._store.pool.fetch(
            "SELECT id, totp_secret FROM persons WHERE totp_secret <> '' AND totp_secret NOT LIKE $1",
            f"{sealer.sealing_prefix}%")
        sealed = unreadable = 0
        for row in rows:
            try:
                secret = sealer.open(row["id"], row["totp_secret"])
            except SecretUnreadable:
                unreadable += 1
                continue
            status = await self._store.pool.execute(
                "UPDATE persons SET totp_secret = $3 WHERE id = $1 AND totp_secret = $2", row["id"],
                row["totp_secret"], sealer.seal(row["id"], secret))
            sealed += status == "UPDATE 1"
        return sealed, unreadable

    async def disable(self, person_id: str, admin: AdminEvent, administrator: Caller | None = None
                      ) -> _Changed | None:
        return await self.update(person_id, "disabled = true", (), admin, cut_tokens=DISABLED,
                                 administrator=administrator, ends_administrator=True)

    async def record_failure(self, person_id: str, max_failures: int, lock_seconds: int,
                             admin: AdminEvent) -> PersonRecord:
        """Counts a failed sign-in; the ``max_failures``-th in a row locks the account for ``lock_seconds``.

        The failure that locks is logged as the lock (session.lock), saying in its details what it was (``failure``:
        BAD_PASSWORD or BAD_TOTP) and where (``during``: a sign-in or a signed-in person's password change): the
        entry said only LOCKED, so four wrong passwords and then the right one with a wrong code (the password
        found) read the same as five wrong passwords."""
        async with self._store.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "UPDATE persons SET failed_attempts = CASE WHEN failed_attempts + 1 >= $2 THEN 0"
                " ELSE failed_attempts + 1 END,"
                " lock_until = CASE WHEN failed_attempts + 1 >= $2 THEN now() + make_interval(secs => $3)"
                " ELSE lock_until END WHERE id = $1", person_id, max_failures, float(lock_seconds))
            person = await self._one(conn, person_id)
            locked = person.lock_until is not None and person.failed_attempts == 0
            await Store.append_admin(conn, SERVICE, [admin if not locked else AdminEvent(
                action="session.lock", target=person_id, actor_system_id=person_id,
                actor_department_code=person.department_code,
                details={"lock_seconds": lock_seconds, "failure": admin.result, "during": admin.action},
                result="LOCKED")])
            return person

    async def decoy_locked_until(self, name: str) -> dt.datetime | None:
        """The end of the lock of ``name``, a username no local account signs in with, while it lasts."""
        return await self._store.pool.fetchval(
            "SELECT lock_until FROM decoy_signins WHERE name = $1 AND lock_until > now()", name)

    async def record_decoy_failure(self, name: str, max_failures: int, lock_seconds: int) -> None:
        """Counts a failed sign-in of ``name``, a username no local account signs in with, as ``record_failure``
        counts a person's (the ``max_failures``-th in a row locks it for ``lock_seconds``), in PostgreSQL as a
        person's are, so that every replica counts both alike. Kept a day after its last failure (or its lock's
        end), the expired ones pruned here a batch at a time."""
        async with self._store.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "DELETE FROM decoy_signins WHERE name IN (SELECT name FROM decoy_signins"
                " WHERE expire_time < now() LIMIT $1 FOR UPDATE SKIP LOCKED)", _PRUNE_BATCH)
            await conn.execute(
                "INSERT INTO decoy_signins (name, expire_time) VALUES ($1, now()) ON CONFLICT (name) DO NOTHING",
                name)
            await conn.execute(
                "UPDATE decoy_signins SET failed_attempts = CASE WHEN failed_attempts + 1 >= $2 THEN 0"
                " ELSE failed_attempts + 1 END,"
                " lock_until = CASE WHEN failed_attempts + 1 >= $2 THEN now() + make_interval(secs => $3)"
                " ELSE lock_until END WHERE name = $1", name, max_failures, float(lock_seconds))
            await conn.execute(
                "UPDATE decoy_signins SET expire_time = greatest(now(), lock_until) + make_interval(secs => $2)"
                " WHERE name = $1", name, float(_DECOY_KEEP_SECONDS))

    async def address_locked_until(self, address: str) -> dt.datetime | None:
        """The end of the lock of client ``address`` (too many failed sign-ins from it, across accounts)."""
        return await self._store.pool.fetchval(
            "SELECT lock_until FROM signin_addresses WHERE address = $1 AND lock_until > now()", address)

    async def record_address_failure(self, address: str, max_failures: int, lock_seconds: int) -> None:
        """Counts a failed sign-in from client ``address`` in its window (``lock_seconds`` long, from its first
        failure); the ``max_failures``-th of a window locks the address for ``lock_seconds``, logged as
        session.address_lock with the address and no username (the failures were spread over accounts: which
        ones is no one's business in the log). A sign-in that succeeds clears nothing: one account of the
        sprayer's own would otherwise reset the count at will. Kept in PostgreSQL as the accounts' failures are,
        so every replica counts alike; pruned a batch at a time as ``record_decoy_failure`` prunes."""
        async with self._store.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "DELETE FROM signin_addresses WHERE address IN (SELECT address FROM signin_addresses"
                " WHERE expire_time < now() LIMIT $1 FOR UPDATE SKIP LOCKED)", _PRUNE_BATCH)
            row = await conn.fetchrow(
                "INSERT INTO signin_addresses AS a (address, failed_attempts, window_start, expire_time)"
                " VALUES ($1, 1, now(), now() + make_interval(secs => $3))"
                " ON CONFLICT (address) DO UPDATE SET"
                " failed_attempts = CASE WHEN a.window_start + make_interval(secs => $2) <= now() THEN 1"
                " ELSE a.failed_attempts + 1 END,"
                " window_start = CASE WHEN a.window_start + make_interval(secs => $2) <= now() THEN now()"
                " ELSE a.window_start END,"
                " expire_time = greatest(now(), a.lock_until) + make_interval(secs => $3)"
                " RETURNING failed_attempts",
                address, float(lock_seconds), float(lock_seconds + _DECOY_KEEP_SECONDS))
            if row["failed_attempts"] != max_failures:
                return
            await conn.execute(
                "UPDATE signin_addresses SET lock_until = now() + make_interval(secs => $2),"
                " expire_time = now() + make_interval(secs => $3) WHERE address = $1",
                address, float(lock_seconds), float(lock_seconds + _DECOY_KEEP_SECONDS))
            await Store.append_admin(conn, SERVICE, [AdminEvent(
                action="session.address_lock", target=address, actor_system_id="", actor_department_code="",
                details={"address": address, "failures": max_failures, "lock_seconds": lock_seconds},
                result="ADDRESS_LOCKED")])

    async def record_success(self, person_id: str, totp_step: int, admin: AdminEvent,
                             issue: Callable[[PersonRecord], _Issued]) -> _Issued | None:
        """Resets the failure count, keeps ``totp_step`` and returns what ``issue`` makes of the person as they
        are now; None when that step (or a later one) was already used (a replayed code: concurrent sign-ins
        with one code, only one wins).

        ``issue`` runs under the row's lock this update takes, so a change that cuts the person's tokens (roles
        replaced, password reset, account disabled), which takes the lock before its "not before", was either
        made before (``issue`` sees it, and may refuse by raising: nothing is recorded then) or waits and
        refuses the token. Read before the slow password check, the person's roles went into a token that
        outlived their removal."""
        async with self._store.pool.acquire() as conn, conn.transaction():
            done = await conn.fetchval(
                "UPDATE persons SET failed_attempts = 0, lock_until = NULL, totp_last_step = $2,"
                " totp_enrolment_required = false WHERE id = $1 AND totp_last_step < $2 RETURNING true",
                person_id, totp_step)
            if not done:
                return None
            issued = issue(await self._one(conn, person_id))
            await Store.append_admin(conn, SERVICE, [admin])
            return issued

    async def enrol_totp(self, person_id: str, sealed_secret: str, admin: AdminEvent) -> bool:
        """Keeps ``sealed_secret`` as the TOTP secret of a person who must enrol one (an administrator reset theirs),
        with the log entry; False when they need not (a sign-in with their enrolled secret's code came first).
        The secret counts once a code of it signs in (``record_success`` clears the flag): until then another
        enrolment replaces it (an authenticator that scanned nothing, another phone)."""
        async with self._store.pool.acquire() as conn, conn.transaction():
            done = await conn.fetchval("UPDATE persons SET totp_secret = $2, totp_last_step = 0 WHERE id = $1"
                                       " AND totp_enrolment_required RETURNING true", person_id, sealed_secret)
            if done:
                await Store.append_admin(conn, SERVICE, [admin])
            return bool(done)

    async def issue_locked(self, person_id: str, issue: Callable[[PersonRecord], _Issued]) -> _Issued:
        """What ``issue`` makes of the person as they are under their row lock (RefreshSession): a change that
        cuts their tokens waits for it or was made before and is seen, as in ``record_success``."""
        async with self._store.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT 1 FROM persons WHERE id = $1 FOR UPDATE", person_id)
            return issue(await self._one(conn, person_id))

    async def use_id_token(self, token_id: str, keep_until: dt.datetime, person_id: str, account: tuple[str, str],
                           admin: AdminEvent, issue: Callable[[PersonRecord], _Issued],
                           replayed: Callable[[dt.datetime], Exception]) -> _Issued:
        """Records the ID token ``token_id`` as used by ``person_id`` until ``keep_until``, with the sign-in's
        administrative log entry, and returns what ``issue`` makes of the person as they are now; raises
        ``replayed(first use)`` when the token was used already (of two sign-ins with one token at once, one
        wins). Prunes the used tokens past their time first, a few at a time, so the table holds only those the
        verifier could still accept.

        ``issue`` runs under the person's row lock, as in ``record_success``: a change cutting their tokens (roles
        replaced, account disabled) was made before, and ``issue`` sees it (and may refuse by raising: the token
        is then not used up), or waits and refuses the token. Issued from the person read before, the token kept
        roles removed meanwhile for its whole life.

        A person not yet bound to an IdP account is bound to ``account`` (iss, sub) in the same transaction;
        ``issue`` sees the binding as it will be (``_as_bound``: a person bound to another account is refused, one
        not bound yet is seen bound to ``account``, so the reply of the sign-in that binds names it);
        ``OidcAccountTaken`` when another person holds ``account``. Nothing is recorded then either."""
        try:
            async with self._store.pool.acquire() as conn, conn.transaction():
                return await self._use_id_token(conn, token_id, keep_until, person_id, account, admin, issue,
                                                replayed)
        except asyncpg.UniqueViolationError:
            raise OidcAccountTaken() from None

    async def _use_id_token(self, conn: asyncpg.Connection, token_id: str, keep_until: dt.datetime,
                            person_id: str, account: tuple[str, str], admin: AdminEvent,
                            issue: Callable[[PersonRecord], _Issued],
                            replayed: Callable[[dt.datetime], Exception]) -> _Issued:
        """``use_id_token`` inside its transaction."""
        await conn.execute("SELECT 1 FROM persons WHERE id = $1 FOR UPDATE", person_id)
        await conn.execute(
            "DELETE FROM oidc_used_tokens WHERE token_id IN (SELECT token_id FROM oidc_used_tokens"
            " WHERE expire_time < now() LIMIT $1 FOR UPDATE SKIP LOCKED)", _PRUNE_BATCH)
        used = await conn.fetchval(
            "INSERT INTO oidc_used_tokens (token_id, person_id, expire_time) VALUES ($1, $2, $3)"
            " ON CONFLICT (token_id) DO NOTHING RETURNING true", token_id, person_id, keep_until)
        if not used:
            raise replayed(await conn.fetchval("SELECT use_time FROM oidc_used_tokens WHERE token_id = $1",
                                               token_id))
        issued = issue(_as_bound(await self._one(conn, person_id), account))
        bound = await conn.execute("UPDATE persons SET oidc_issuer = $2, oidc_subject = $3 WHERE id = $1"
                                   " AND oidc_subject IS NULL", person_id, *account)
        await Store.append_admin(conn, SERVICE, [_with_binding(admin, account) if bound == "UPDATE 1" else admin])
        return issued

    async def states(self) -> list[tuple[str, SystemState]]:
        """Every person whose tokens are restricted (disabled, or cut at least once)."""
        rows = await self._store.pool.fetch(
            "SELECT id, disabled, not_before, not_before_reason, state_version FROM persons"
            " WHERE disabled OR not_before > 0")
        return [_state(r) for r in rows]

    async def record_admin(self, event: AdminEvent) -> None:
        await self._store.record_admin(event)
