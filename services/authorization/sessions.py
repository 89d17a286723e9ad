"""Persons' sign-in (SessionService): local accounts (password + TOTP) and OpenID Connect.

A signed-in person gets a short-lived token of the platform's own kind (services.runtime.tokens), so every
service and the edge verify it as they verify a system's. Failures are UNAUTHENTICATED with distinct reasons
(the console says what to do), except that an unknown username and a wrong password share one message, so
the answer never tells which usernames exist. The reasons:

- BAD_CREDENTIALS: unknown username or wrong password (counted toward the lock);
- ACCOUNT_LOCKED: too many failures in a row; refused without checking anything until ``lock_expire_time``;
- TOTP_REQUIRED: the password is right and no code was sent (not counted: the console asks for the code; logged);
- TOTP_INVALID: a wrong or expired code (counted);
- TOTP_REUSED: a right code already used (typed again: a second sign-in, 修改密码 right after signing in), refused
  and logged, not counted: it is no guess at a code, and counted, anyone who saw a code typed (and knew the
  password) could lock the account with it;
- TOTP_SUPERSEDED: a right code of a time step before the last one used (a later code, from a device whose clock
  is ahead or a second authenticator, signed in first): refused, logged and not counted as a reuse is, said as
  what it is (it was told "already used" to a person who may never have typed it);
- ACCOUNT_DISABLED (said only after the right password);
- ADDRESS_LOCKED (RESOURCE_EXHAUSTED, with RetryInfo and ``lock_expire_time``): too many failed passwords from the
  client's address, across accounts (password spraying: one password against many usernames), the address
  refused until the lock ends before any username is looked at, so it says nothing of which exist (``signin_client``
  says whose address counts);
- OIDC_TOKEN_REPLAYED: an ID token that already signed someone in (each signs in once; not counted);
- OIDC_SUBJECT_MISMATCH: an ID token naming a person from another IdP account (iss, sub) than the one they first
  signed in with, or from an account that already signs in as another person (not counted).

An OIDC-only person (no local password) gets BAD_CREDENTIALS too: the answer to a password never tells which
usernames exist.

Every sign-in, failed or not (when the username exists), is written to the administrative log, one refused
for a disabled or locked account too; the password, the code and the token never are.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import logging
import time
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, NoReturn

import grpc

from services.authorization import person_credentials as pc
from services.authorization.oidc import OidcVerifier
from services.authorization.person_store import (
    RESET,
    CredentialsReplaced,
    OidcAccountTaken,
    PersonRecord,
    PersonStore,
    TotpStepUsed,
)
from services.authorization.persons import caller_of
from services.runtime import person_secrets, system_states, tokens
from services.runtime.admin_events import AdminEvent
from services.runtime.errors import FieldViolation, ServiceError, failed_precondition, invalid_argument
from services.runtime.identity import Caller
from services.runtime.person_secrets import SecretUnreadable, TotpSealer
from services.runtime.settings import Settings
from services.runtime.system_states import ROLES_CHANGED

if TYPE_CHECKING:
    from services.authorization.persons import Persons
    from services.authorization.policy_events import PolicyEvents

log = logging.getLogger(__name__)

#: The administrative log's action of a person's own password change, its failures included.
CHANGE_PASSWORD = "session.change_password"
#: The password or the TOTP secret the sign-in checked was replaced before its token was made.
CREDENTIALS_CHANGED = "CREDENTIALS_CHANGED"
BAD_CREDENTIALS = ("unknown username or wrong password (an account of the province's identity provider signs in "
                   "there, not with a password here)")


#: The address the edge saw a call come from (gateway.edge's _client_address_set: a client's own value is dropped).
CLIENT_ADDRESS_HEADER = "govshare-client-address"
#: The address of the browser a forwarder (the console) signs a person in for; believed from a forwarder only.
SIGNIN_CLIENT_HEADER = "govshare-signin-client"


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    return address.ipv4_mapped or address if isinstance(address, ipaddress.IPv6Address) else address


def signin_client(metadata: Iterable[tuple[str, str | bytes]], forwarders: Iterable[str]) -> str | None:
    """The client address a sign-in's failures count against, or None when none does.

    The address the edge saw (CLIENT_ADDRESS_HEADER); when it is a forwarder's (GOVSHARE_SIGNIN_FORWARDERS, the
    console, which signs in every browser from its own address), the browser's it passes on (SIGNIN_CLIENT_HEADER)
    instead, and none without one or with one inside the forwarders' networks: counted as the console's own (or
    its proxy's), one sprayer would lock out every person signing in there. A call that did not cross the edge has
    none (a service's own). An IPv6 address counts by its /64, which one subscriber holds whole. Envoy's
    x-envoy-external-address is not used: Envoy sets it only for a peer outside the private ranges and keeps a
    client's own value from inside them."""
    values = {key: value for key, value in metadata if isinstance(value, str)}
    networks = [ipaddress.ip_network(network) for network in forwarders]
    seen = _address(values.get(CLIENT_ADDRESS_HEADER, ""))
    if seen is not None and any(seen in network for network in networks):
        seen = _address(values.get(SIGNIN_CLIENT_HEADER, ""))
        # One inside the forwarders' networks too is none: the console's own proxy (an ingress, an nginx on its
        # host), whose address every browser would share when the console is not told where the browser's is.
        if seen is not None and any(seen in network for network in networks):
            return None
    if seen is None:
        return None
    if isinstance(seen, ipaddress.IPv6Address):
        return str(ipaddress.ip_network(f"{seen}/64", strict=False))
    return str(seen)


def _refused(reason: str, message: str, **metadata: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.UNAUTHENTICATED, reason, message, metadata=metadata)


def _refuse_local_account(person: PersonRecord) -> None:
    """A person with a platform password (and TOTP) signs in with them, not through the IdP: the username claim
    (preferred_username by default) is no stable identifier (OpenID Connect Core §5.7: only iss and sub are), so
    an IdP account whose username claim matched a local account's username signed in as that person, past the
    password and the TOTP the platform checks. An OIDC-only person (no password) has no SignIn either."""
    if person.password_hash:
        raise _refused("LOCAL_ACCOUNT", "this account signs in with its platform password and TOTP code "
                                        "(SessionService.SignIn), not through the identity provider")


#: A right TOTP code typed again: refused and logged, not counted toward the lock (``Sessions._refuse_code``).
TOTP_REUSED = "TOTP_REUSED"
#: A right TOTP code of a step before the last one used (a code from a device whose clock was ahead, or from a
#: second authenticator, signed in first): refused and logged like a reuse, not counted, said as what it is.
TOTP_SUPERSEDED = "TOTP_SUPERSEDED"
#: An administrator created the account or reset its TOTP secret: the person enrols one of their own (EnrolTotp).
TOTP_ENROLMENT_REQUIRED = "TOTP_ENROLMENT_REQUIRED"
TOTP_ENROLLED = "TOTP_ENROLLED"
#: The IdP account (iss, sub) of an ID token is not the person's (migration 016).
SUBJECT_MISMATCH = "OIDC_SUBJECT_MISMATCH"


def _refuse_other_account(person: PersonRecord, issuer: str, subject: str) -> None:
    """A person bound to an IdP account signs in from it only: the username claim that found them is no stable
    identifier (OpenID Connect Core §5.7), so an IdP account renamed to their username, or given it after them
    (a colleague who left, a name reused), signed in as them."""
    if person.oidc_subject is not None and (person.oidc_issuer, person.oidc_subject) != (issuer, subject):
        raise _refused(SUBJECT_MISMATCH, "the identity provider's account is not the one this person signs in "
                                         "with (its subject differs from their first sign-in's): ask the "
                                         "authority's administrator")


def _replayed(first_use: dt.datetime) -> ServiceError:
    used = first_use.astimezone(dt.UTC).isoformat(timespec="seconds")
    return _refused("OIDC_TOKEN_REPLAYED", f"the identity provider's ID token was already used to sign in (at {used}): "
                                           "an ID token signs in once, sign in at the provider again")


class OneAtATime:
    """The password checks of one username, one at a time in this process.

    The lock was read before the slow password check and the failure counted after it: sixteen guesses sent at
    once were all checked (fifteen BAD_CREDENTIALS and, for the right one, TOTP_REQUIRED, with the limit at five),
    so a burst per lock period guessed as many passwords as it held calls. In turn, each check reads the lock the
    checks before it left. Per process: behind several authorization replicas (or workers) a burst gets up to
    their number × the limit checked."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(name, (asyncio.Lock(), 0))
        self._locks[name] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[name]
            if users == 1:
                del self._locks[name]
            else:
                self._locks[name] = (lock, users - 1)


class Sessions:
    """The SessionService workflows."""

    def __init__(self, persons: PersonStore, directory: Persons, events: PolicyEvents, settings: Settings,
                 oidc: OidcVerifier | None = None, sealer: TotpSealer | None = None) -> None:
        self._sealer = sealer
        self._persons = persons
        self._directory = directory
        self._events = events
        self._settings = settings
        self._oidc = oidc
        self._checks = OneAtATime()
        self._addresses = OneAtATime()

    @contextlib.asynccontextmanager
    async def _turn(self, name: str, client: str | None) -> AsyncIterator[None]:
        """The turn of ``name``'s password check, inside that of ``client``'s (a burst over many usernames from one
        address is checked in turn too, each seeing the address's lock), always in this order."""
        async with contextlib.AsyncExitStack() as turns:
            if client is not None:
                await turns.enter_async_context(self._addresses.hold(client))
            await turns.enter_async_context(self._checks.hold(name))
            yield

    async def sign_in(self, username: str, password: str, totp_code: str, client: str | None = None
                      ) -> tuple[tokens.IssuedToken, int, PersonRecord]:
        """``client``: the address its failures count against (``signin_client``), None for none."""
        problems = [FieldViolation(name, "is required") for name, value in (("username", username),
                                                                             ("password", password)) if not value]
        if problems:
            raise invalid_argument(problems)
        name = pc.typed_username(username)
        async with self._turn(name, client):  # a burst of guesses is checked in turn, each seeing the lock
            return await self._sign_in(name, password, totp_code, client)

    async def _sign_in(self, name: str, password: str, totp_code: str, client: str | None
                       ) -> tuple[tokens.IssuedToken, int, PersonRecord]:
        person = await self._password_checked(name, password, client)
        if person.totp_enrolment_required and not person.totp_secret:
            # Not counted: the password was right, and no code can be right before the person enrols a secret.
            raise _refused(TOTP_ENROLMENT_REQUIRED, "this account has no authenticator yet (an administrator "
                                                    "created it or reset its TOTP secret): enrol yours first "
                                                    "(SessionService.EnrolTotp with your username and password), "
                                                    "then sign in with its code")
        if not totp_code.strip():
            # Not counted (the console asks for the code), but logged: the password was right, evidence an auditor
            # tracing a stolen password needs as much as a wrong guess.
            await self._persons.record_admin(AdminEvent.by(caller_of(person), "session.sign_in", person.id,
                                                           {"method": "password"}, result="TOTP_REQUIRED"))
            raise _refused("TOTP_REQUIRED", "enter the 6-digit code of your authenticator app (totp_code)")
        secret = self._totp_secret(person)
        step = pc.totp_step(secret, totp_code, person.totp_last_step)
        # The sign-in whose code is of a secret the person enrolled is what makes that secret count.
        signed_in = AdminEvent.by(caller_of(person), "session.sign_in", person.id,
                                  {"method": "password", **({"totp_enrolled": True}
                                                            if person.totp_enrolment_required else {})})

        def issue(now: PersonRecord) -> tuple[tokens.IssuedToken, int, PersonRecord]:
            """The token of the person as they are now (their roles now), if what was checked is still theirs."""
            if (now.password_hash, now.totp_secret) != (person.password_hash, person.totp_secret):
                raise _refused(CREDENTIALS_CHANGED, "your password or authenticator was reset while you were "
                                                    "signing in: sign in again with the new one")
            self._refuse_unusable(now)
            return (*self._issue(now), now)

        try:
            issued = None if step is None else await self._persons.record_success(person.id, step, signed_in, issue)
        except ServiceError as refused:
            if refused.reason == CREDENTIALS_CHANGED:  # the old password (or code) was right: evidence, logged
                await self._persons.record_admin(AdminEvent.by(caller_of(person), "session.sign_in", person.id,
                                                               result=CREDENTIALS_CHANGED))
            raise
        if issued is None:
            await self._refuse_code(person, secret, totp_code, step)
        return issued

    async def enrol_totp(self, username: str, password: str, client: str | None = None) -> str:
        """The provisioning URI of a new TOTP secret of the person who must enrol one (an administrator reset
        theirs), shown to them alone; it counts once a code of it signs in. Their password proves who they are,
        checked as at a sign-in (in turn with their sign-ins, counted toward the lock, refused while locked); a
        person with an enrolled secret is refused TOTP_ENROLLED, so no one knowing the password alone replaces it."""
        problems = [FieldViolation(name, "is required") for name, value in (("username", username),
                                                                             ("password", password)) if not value]
        if problems:
            raise invalid_argument(problems)
        name = pc.typed_username(username)
        async with self._turn(name, client):
            person = await self._password_checked(name, password, client)
            enrolled = failed_precondition(TOTP_ENROLLED, "your authenticator is enrolled already: sign in with its "
                                                          "code (lost it? ask an administrator to reset your TOTP, "
                                                          "then enrol again)")
            secret = pc.new_totp_secret()
            if not person.totp_enrolment_required or not await self._persons.enrol_totp(
                    person.id, self._sealed(person.id, secret),
                    AdminEvent.by(caller_of(person), "session.enrol_totp", person.id)):
                # The right password, to replace an enrolled authenticator: logged, as a stolen password's use.
                await self._persons.record_admin(AdminEvent.by(caller_of(person), "session.enrol_totp", person.id,
                                                               result=TOTP_ENROLLED))
                raise enrolled
            return pc.provisioning_uri(secret, person.username)

    def _sealed(self, person_id: str, secret: str) -> str:
        """``secret`` sealed for storage; never kept in the clear (local accounts are created with the key)."""
        if self._sealer is None:
            raise failed_precondition("LOCAL_ACCOUNTS_NEED_KEY", "the authenticator cannot be set without "
                                                                 "GOVSHARE_PERSON_SECRET_KEY: ask the administrator")
        return self._sealer.seal(person_id, secret)

    async def _password_checked(self, name: str, password: str, client: str | None) -> PersonRecord:
        """The person of local account ``name`` whose password is ``password``, usable (neither disabled nor
        locked); refused as a sign-in refuses (the failure counted toward the lock, and toward ``client``'s), the
        same answer for an unknown name, one without a local account and a wrong password."""
        if client is not None:  # before the name is looked at: the same answer whichever name
            self._refuse_address_locked(await self._persons.address_locked_until(client))
        person = await self._persons.by_username(name) if pc.USERNAME.fullmatch(name) else None
        local = person is not None and bool(person.password_hash)
        # Nothing is checked while locked: guessing gains nothing. A name without a local account locks as
        # one does, its failures kept in PostgreSQL as an account's (PersonStore.record_decoy_failure), so the
        # lock does not say which usernames exist, however the failures are spread over replicas.
        if person is not None and local:
            async with self._refusal_logged(person, "password"):
                self._refuse_locked(person.lock_until)
        elif pc.USERNAME.fullmatch(name):
            # Only a name a username can be has a decoy lock (record_decoy_failure counts no other): another one
            # (a NUL character in it) was looked up too, and PostgreSQL's refusal of its text answered
            # INVALID_ARGUMENT "request: …", where every unknown name is BAD_CREDENTIALS.
            self._refuse_locked(await self._persons.decoy_locked_until(name))
        stored = person.password_hash if person is not None and local else pc.decoy_password_hash()
        matches = await asyncio.to_thread(pc.verify_password, password, stored)
        # Unknown, OIDC-only (no password) and wrong password: one answer, so usernames cannot be enumerated.
        if person is None or not local:
            if pc.USERNAME.fullmatch(name):  # another name can have no account, as anyone can tell
                await self._persons.record_decoy_failure(name, self._settings.signin_max_failures,
                                                         self._settings.signin_lock_seconds)
            await self._address_failed(client)
            raise _refused("BAD_CREDENTIALS", BAD_CREDENTIALS)
        if not matches:
            await self._fail(person, "BAD_PASSWORD")
            await self._address_failed(client)
            raise _refused("BAD_CREDENTIALS", BAD_CREDENTIALS)
        async with self._refusal_logged(person, "password"):
            self._refuse_unusable(person)  # disabled: said only to who knows the password
        return person

    async def exchange_oidc(self, id_token: str) -> tuple[tokens.IssuedToken, int, PersonRecord]:
        if not id_token:
            raise invalid_argument([FieldViolation("id_token", "is required")])
        if self._oidc is None:
            raise ServiceError(grpc.StatusCode.FAILED_PRECONDITION, "OIDC_NOT_CONFIGURED",
                               "this platform has no OpenID Connect provider configured (GOVSHARE_OIDC_ISSUER)")
        verified = await self._oidc.verify(id_token)
        username = verified.username.strip().lower()
        person = await self._persons.by_username(username) if pc.USERNAME.fullmatch(username) else None
        if person is None:
            raise _refused("UNKNOWN_PERSON", "the identity provider's account has no person on this platform: "
                                             "ask the authority's administrator to create it")

        def issue(now: PersonRecord) -> tuple[tokens.IssuedToken, int, PersonRecord]:
            """The token of the person as they are now (their roles now), if they may sign in from this account."""
            _refuse_other_account(now, verified.issuer, verified.subject)
            self._refuse_unusable(now)
            return (*self._issue(now), now)

        async with self._refusal_logged(person, "oidc"):
            _refuse_local_account(person)
            # Used once: the same token again (leaked from a browser, a log, a proxy) signs nobody in. Used up only
            # by a sign-in that succeeds, so a token refused for the account's state serves once it is fixed. The
            # first binds the person to the token's IdP account (iss, sub), from which alone they sign in after.
            try:
                return await self._persons.use_id_token(
                    verified.token_id, verified.keep_until, person.id, (verified.issuer, verified.subject),
                    AdminEvent.by(caller_of(person), "session.sign_in", person.id, {"method": "oidc"}), issue,
                    _replayed)
            except OidcAccountTaken:
                raise _refused(SUBJECT_MISMATCH, "the identity provider's account already signs in as another "
                                                 "person on this platform: ask the authority's administrator"
                               ) from None

    async def refresh(self, caller: Caller, session_end: int) -> tuple[tokens.IssuedToken, int, PersonRecord]:
        await self._current(caller)  # a person's token, of a person who exists

        def issue(person: PersonRecord) -> tuple[tokens.IssuedToken, int, PersonRecord]:
            """The new token, of the person as they are under their row lock (as a sign-in's)."""
            # Disabled ends the session; locked does not: the lock stops guessing at sign-in, and this person
            # proved both factors. Refused here, anyone who knew the username ended an officer's session by
            # mistyping.
            self._refuse_disabled(person)
            # Ended by a sign-out or a reset: the verifier's states learn of it from an event that may be late or
            # lost (Redis away), and the token renewed meanwhile was issued after the end, accepted to the last.
            system_states.refuse_ended(caller, person.token_state)
            if caller.roles != caller_of(person).roles:
                raise _refused(ROLES_CHANGED, "your roles changed: sign in again to act with the new ones")
            return (*self._issue(person, session_end), person)

        return await self._persons.issue_locked(caller.person_id, issue)

    async def sign_out(self, caller: Caller) -> None:
        person = await self._current(caller)
        changed = await self._persons.update(person.id, "failed_attempts = failed_attempts", (),
                                             AdminEvent.by(caller, "session.sign_out", person.id), RESET)
        if changed is not None:
            await self._events.system_changed(*changed[1])

    async def current(self, caller: Caller) -> PersonRecord:
        return await self._current(caller)

    async def change_password(self, caller: Caller, current_password: str, new_password: str,
                              totp_code: str) -> str:
        """Sets the caller's own password; returns the provisioning URI of a new TOTP secret when the password was
        an administrator's (``_renewed_totp``), "" otherwise."""
        async with self._checks.hold((await self._current(caller)).username):  # in turn with its sign-ins
            return await self._change_password(caller, current_password, new_password, totp_code)

    async def _change_password(self, caller: Caller, current_password: str, new_password: str,
                               totp_code: str) -> str:
        person = await self._current(caller)
        if not person.password_hash:
            # Said plainly (the caller is this person: nothing to enumerate) and not counted as a failed attempt.
            raise failed_precondition("NO_LOCAL_PASSWORD", "you sign in through the identity provider and have no "
                                                           "platform password: change your password there")
        # Locked as at sign-in, nothing is checked: the current password's answer (BAD_CREDENTIALS, or TOTP_INVALID
        # once it is right) would otherwise go on telling whoever holds the session, the lock notwithstanding.
        self._refuse_locked(person.lock_until)
        problems = [FieldViolation(n, "is required") for n, v in (("current_password", current_password),
                                                                    ("totp_code", totp_code)) if not v]
        if error := pc.password_problem(new_password, person.username):
            problems.append(FieldViolation("new_password", error))
        elif pc.normalized_password(new_password) == pc.normalized_password(current_password):
            # A first password the administrator handed over, "changed" to itself, stayed known to them. Both
            # are the caller's input: refusing it says nothing of the password stored.
            problems.append(FieldViolation("new_password", "must differ from the current password"))
        if problems:
            raise invalid_argument(problems)
        if not await asyncio.to_thread(pc.verify_password, current_password, person.password_hash):
            await self._fail(person, "BAD_PASSWORD", CHANGE_PASSWORD)
            raise _refused("BAD_CREDENTIALS", "the current password is wrong")
        secret = self._totp_secret(person)
        step = pc.totp_step(secret, totp_code, person.totp_last_step)
        if step is None:
            await self._refuse_code(person, secret, totp_code, step, CHANGE_PASSWORD)
        renewed, sealed = self._renewed_totp(person)
        password_hash = await asyncio.to_thread(pc.hash_password, new_password)
        # The other sessions end; this one too (the console signs in again with the new password). Both factors
        # were just proved, as at a sign-in: the failures before count no more (a sign-in's success clears them).
        # The password is now the person's own: their next sign-in is a whole session (migration 014). A new
        # secret's codes start afresh (its code of this time step is no replay of the old secret's). The code's
        # step must still be unused when the change is made (a sign-in elsewhere may have used it meanwhile), and
        # the password and secret it was proved with still the person's (an administrator may have reset them).
        try:
            changed = await self._persons.update(
                person.id, "password_hash = $2, totp_last_step = $3, failed_attempts = 0, lock_until = NULL,"
                " password_change_required = false, totp_secret = $4, totp_handed_over = false",
                (password_hash, 0 if renewed else step, sealed or person.totp_secret),
                AdminEvent.by(caller, CHANGE_PASSWORD, person.id, {"totp_renewed": True} if renewed else None), RESET,
                unused_step=step, proved_with=(person.password_hash, person.totp_secret))
        except TotpStepUsed:
            await self._refuse_code(person, secret, totp_code, step, CHANGE_PASSWORD)
        except CredentialsReplaced:  # an administrator's reset meanwhile stands; the attempt is evidence, logged
            await self._persons.record_admin(AdminEvent.by(caller, CHANGE_PASSWORD, person.id,
                                                           result=CREDENTIALS_CHANGED))
            raise _refused(CREDENTIALS_CHANGED, "your password or authenticator was reset while you were changing "
                                                "your password: sign in again with the new one") from None
        if changed is not None:
            await self._events.system_changed(*changed[1])
        return pc.provisioning_uri(renewed, person.username) if renewed else ""

    def _renewed_totp(self, person: PersonRecord) -> tuple[str, str]:
        """A new TOTP secret and its sealed form when an administrator was shown the current one with the password
        being changed (totp_handed_over: an account stored before migration 019), ("", "") otherwise: a new
        password alone left them one factor known. A secret the person enrolled themselves (EnrolTotp: the
        administrator's creations and resets since) stays; renewed, it was replaced unconfirmed."""
        if not person.totp_handed_over:
            return "", ""
        if self._sealer is None:  # local accounts are created with the key; never keep a secret in the clear
            raise failed_precondition("LOCAL_ACCOUNTS_NEED_KEY", "the authenticator cannot be renewed without "
                                                                 "GOVSHARE_PERSON_SECRET_KEY: ask the administrator")
        secret = pc.new_totp_secret()
        return secret, self._sealer.seal(person.id, secret)

    def _totp_secret(self, person: PersonRecord) -> str:
        """The person's TOTP secret, opened; FAILED_PRECONDITION when the configured key cannot open it (the
        person cannot sign in until the key is restored or an administrator resets their TOTP)."""
        stored = person.totp_secret
        if not stored.startswith(person_secrets.PREFIX):
            return stored
        try:
            if self._sealer is None:
                raise SecretUnreadable("GOVSHARE_PERSON_SECRET_KEY is not set")
            return self._sealer.open(person.id, stored)
        except SecretUnreadable as exc:
            log.error("the TOTP secret of person %s cannot be opened: %s", person.id, exc)
            raise failed_precondition("TOTP_SECRET_UNREADABLE",
                                      "this account's second factor cannot be checked on this platform: ask an "
                                      "administrator to reset your TOTP (ResetPersonTotp)") from None

    async def _current(self, caller: Caller) -> PersonRecord:
        if not caller.is_person:
            raise ServiceError(grpc.StatusCode.PERMISSION_DENIED, "PERSON_ONLY",
                               "only a signed-in person has a session (this token is a system's)")
        return await self._directory.find(caller.person_id)

    def _refuse_unusable(self, person: PersonRecord) -> None:
        self._refuse_disabled(person)
        self._refuse_locked(person.lock_until)

    @staticmethod
    def _refuse_disabled(person: PersonRecord) -> None:
        if person.department_retired:
            raise _refused("DEPARTMENT_RETIRED", f"{person.department_retired}: its persons no longer sign in "
                                                 "(ask the administrator of the department that took over its duties)")
        if person.disabled:
            raise _refused("ACCOUNT_DISABLED", "this account is disabled: ask the authority's administrator")

    @staticmethod
    def _refuse_locked(lock_until: dt.datetime | None) -> None:
        if lock_until is not None and lock_until > dt.datetime.now(dt.UTC):
            until = lock_until.astimezone(dt.UTC).isoformat(timespec="seconds")
            raise _refused("ACCOUNT_LOCKED", f"too many failed sign-ins: this account is locked until {until} "
                                             "(or until the administrator unlocks it)", lock_expire_time=until)

    def _refuse_address_locked(self, lock_until: dt.datetime | None) -> None:
        """RESOURCE_EXHAUSTED while the client's address is locked, saying until when (RetryInfo too)."""
        if lock_until is None:
            return
        left = (lock_until - dt.datetime.now(dt.UTC)).total_seconds()
        if left <= 0:
            return
        until = lock_until.astimezone(dt.UTC).isoformat(timespec="seconds")
        raise ServiceError(grpc.StatusCode.RESOURCE_EXHAUSTED, "ADDRESS_LOCKED",
                           f"too many failed sign-ins from your network address, across accounts: sign-ins from it "
                           f"are refused until {until}: wait until then",
                           metadata={"lock_expire_time": until}, retry_after=float(int(left) + 1))

    async def _address_failed(self, client: str | None) -> None:
        """Counts a wrong password (or unknown name) against the client's address, when there is one."""
        if client is not None:
            await self._persons.record_address_failure(client, self._settings.signin_address_max_failures,
                                                       self._settings.signin_lock_seconds)

    @contextlib.asynccontextmanager
    async def _refusal_logged(self, person: PersonRecord, method: str) -> AsyncIterator[None]:
        """Logs a sign-in of ``person`` refused inside the block (ACCOUNT_DISABLED, ACCOUNT_LOCKED) as a failed
        sign-in, not counted toward the lock: a disabled person (who left, or was suspended) trying their password,
        or someone going on guessing a locked account's, is evidence as much as a wrong password is."""
        try:
            yield
        except ServiceError as refused:
            await self._persons.record_admin(AdminEvent.by(caller_of(person), "session.sign_in", person.id,
                                                           {"method": method}, result=refused.reason))
            raise

    async def _refuse_code(self, person: PersonRecord, secret: str, code: str, step: int | None,
                           action: str = "session.sign_in") -> NoReturn:
        """Refuses the TOTP code ``code`` not accepted: TOTP_REUSED, logged and not counted, when it is the code of
        a step already used (``step``, the step it matched, was used meanwhile by a concurrent sign-in, or it is the
        code of the last step used); TOTP_SUPERSEDED, logged and not counted alike, when it is the code of a step
        before the last used (which may never have been used; with ``step``, a concurrent sign-in used a later
        one); TOTP_INVALID, counted toward the lock, otherwise.
        A person typing the code they just signed in with again was refused as guessing, each time counted: five
        tries locked them out, and anyone who saw a code (and the password) could lock the account by replaying
        it. The replay is still refused: a code is used once."""
        if step is not None:  # used meanwhile: this code's step, or a later one (another device's code)
            last_step = (await self._directory.find(person.id)).totp_last_step
            passed = pc.totp_passed(secret, code, last_step) or pc.REUSED
        else:
            passed = pc.totp_passed(secret, code, person.totp_last_step)
        if passed == pc.REUSED:
            await self._persons.record_admin(AdminEvent.by(caller_of(person), action, person.id, result=TOTP_REUSED))
            raise _refused(TOTP_REUSED, "this authenticator code was already used (a code is accepted once): "
                                        "wait for the next code your authenticator shows and enter it")
        if passed == pc.SUPERSEDED:
            await self._persons.record_admin(AdminEvent.by(caller_of(person), action, person.id,
                                                           result=TOTP_SUPERSEDED))
            raise _refused(TOTP_SUPERSEDED, "a later authenticator code than this one was already accepted, and no "
                                            "code older than the last one accepted is taken: wait for the next "
                                            "code your authenticator shows and enter it (if this recurs, the clock "
                                            "of the device showing the codes is off: set it to the network time)")
        await self._fail(person, "BAD_TOTP", action)
        raise _refused("TOTP_INVALID", "the authenticator code is wrong or expired: enter the current code")

    async def _fail(self, person: PersonRecord, result: str, action: str = "session.sign_in") -> None:
        """Counts a failure toward the lock, logged under the action it was made in (a sign-in, or a signed-in
        person's password change: an auditor tracing guesses must know whether they came with a session)."""
        await self._persons.record_failure(
            person.id, self._settings.signin_max_failures, self._settings.signin_lock_seconds,
            AdminEvent.by(caller_of(person), action, person.id, result=result))

    def _issue(self, person: PersonRecord, session_end: int = 0) -> tuple[tokens.IssuedToken, int]:
        """A token for ``person`` (and the session's absolute end, epoch seconds)."""
        end = session_end or int(time.time()) + self._settings.session_max_seconds
        issued = tokens.issue_token(self._settings.token_private_key, caller_of(person),
                                    self._settings.session_ttl_seconds, not_before=person.not_before,
                                    session_end=end, zone=self._settings.zone)
        return issued, end
