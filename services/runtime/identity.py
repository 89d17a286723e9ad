"""Caller identity inside the mesh: the ``svc:<component>`` assertions platform services sign.

Services that call each other (query → authorization, catalog → authorization, …)
send a *signed internal assertion*: two metadata entries, the assertion and its
HMAC-SHA256 under ``GOVSHARE_INTERNAL_KEY``, a key only the platform's own
processes hold. A business system's identity is never an assertion: it is its
bearer token, which every service verifies itself (services.runtime.callers,
which refuses an assertion naming anything but a platform service).

The assertion can carry the ``iat`` of a token, so a service that keeps the
systems' states (services.runtime.system_states) can refuse, itself, a token
issued before its system was disabled or rotated.
"""
from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import grpc

from services.runtime import pagination
from services.runtime.errors import unauthenticated

ASSERTION_HEADER = "x-govshare-caller"
SIGNATURE_HEADER = "x-govshare-caller-sig"
# Assertions older than this are refused, which bounds the replay of a leaked one.
MAX_ASSERTION_AGE_SECONDS = 300
SERVICE_PREFIX = "svc:"
#: Persons' ids (the subject of a person's token): the officials who sign in to the console (issue 12).
PERSON_PREFIX = "psn-"
_VERSION = "v2"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: a business system on behalf of its department, a person (an official signed in through
    the console, acting as themselves for their department), or a platform service.

    A person's id is ``system_id`` (``psn-...``): every place that records the caller's id records the person.
    """

    system_id: str
    department_code: str
    authority: bool = False
    #: ``iat`` of the bearer token the identity was verified from (epoch seconds; 0 without a token). Not
    #: part of equality: it tells which credential, not who.
    issued_at: int = field(default=0, compare=False)
    #: A person's display name (empty for a system or a service): recorded beside their id on their decisions.
    display_name: str = ""
    #: A person's roles, as govshare.authorization.v1.PersonRole names without the prefix (``APPROVER``...).
    roles: tuple[str, ...] = ()
    #: A person signed in with a password an administrator set: only setting their own is allowed
    #: (services.runtime.tokens.TokenVerifier.verify refuses everything else PASSWORD_CHANGE_REQUIRED).
    password_change_required: bool = field(default=False, compare=False)

    @property
    def is_service(self) -> bool:
        return self.system_id.startswith(SERVICE_PREFIX)

    @property
    def is_person(self) -> bool:
        return self.system_id.startswith(PERSON_PREFIX)

    @property
    def person_id(self) -> str:
        """The person's id, or '' when the caller is a system or a service."""
        return self.system_id if self.is_person else ""

    def has_role(self, role: str) -> bool:
        return role in self.roles


def service_caller(component: str) -> Caller:
    """The identity a platform service uses when it calls another one."""
    return Caller(system_id=f"{SERVICE_PREFIX}{component}", department_code="", authority=True)


class AssertionSigner:
    """Signs caller identities; re-signs at most once a minute per caller to keep the hot path cheap."""

    def __init__(self, key: bytes, refresh_seconds: float = 60.0) -> None:
        self._key = key
        self._refresh = refresh_seconds
        self._cache: dict[tuple[Caller, int], tuple[float, tuple[tuple[str, str], tuple[str, str]]]] = {}

    def metadata(self, caller: Caller) -> tuple[tuple[str, str], tuple[str, str]]:
        """The two metadata entries that carry ``caller`` to an internal service."""
        now = time.time()
        key = (caller, caller.issued_at)
        cached = self._cache.get(key)
        if cached is not None and now - cached[0] < self._refresh:
            return cached[1]
        assertion = "|".join(
            (_VERSION, caller.system_id, caller.department_code, "1" if caller.authority else "0", str(int(now)),
             str(caller.issued_at))
        )
        signature = hmac.new(self._key, assertion.encode(), hashlib.sha256).hexdigest()
        entries = ((ASSERTION_HEADER, assertion), (SIGNATURE_HEADER, signature))
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[key] = (now, entries)
        return entries


class AssertionVerifier:
    """Verifies signed assertions; verified ones are remembered until they age out.

    With ``check`` (services.runtime.system_states.SystemStates.check), every call is also refused when
    its system was disabled or its token predates the system's last rotation, even with an assertion the
    verifier has already seen.
    """

    def __init__(self, keys: bytes | Sequence[bytes], check: Callable[[Caller], None] | None = None) -> None:
        #: Every key an identity may be signed with: during a rotation of GOVSHARE_INTERNAL_KEY the pods of the
        #: old key and of the new one run side by side, each signing with its first key (Settings.internal_key).
        self._keys = (keys,) if isinstance(keys, bytes) else tuple(keys)
        self._check = check
        self._verified: dict[tuple[str, str], tuple[int, Caller]] = {}

    def caller(self, metadata: Sequence[tuple[str, str | bytes]] | None, check: bool = True,
               password_change: bool = False) -> Caller:
        """The verified caller of a request, or ServiceError(UNAUTHENTICATED) saying what is wrong. ``check``
        False: the identity only, the system's state left to a :meth:`recheck` by the caller (the query service
        audits a disabled system's attempt before refusing it). ``password_change``: a person who must set their
        own password first is let through (a mesh assertion names no person: nothing to let through here)."""
        assertion = signature = None
        for key, value in metadata or ():
            if key == ASSERTION_HEADER:
                assertion = value if isinstance(value, str) else value.decode()
            elif key == SIGNATURE_HEADER:
                signature = value if isinstance(value, str) else value.decode()
        if assertion is None or signature is None:
            raise unauthenticated("incomplete caller identity: a platform service sends both signed entries")
        now = int(time.time())
        cached = self._verified.get((assertion, signature))
        if cached is not None and now - cached[0] <= MAX_ASSERTION_AGE_SECONDS:
            caller = cached[1]
        else:
            caller = self._verify(assertion, signature, now)
        if check and self._check is not None:
            self._check(caller)
        return caller

    def _verify(self, assertion: str, signature: str, now: int) -> Caller:
        if not any(hmac.compare_digest(hmac.new(key, assertion.encode(), hashlib.sha256).hexdigest(), signature)
                   for key in self._keys):
            raise unauthenticated("caller identity signature is invalid: only platform services sign identities")
        parts = assertion.split("|")
        if len(parts) != 6 or parts[0] != _VERSION or not parts[4].isdigit() or not parts[5].isdigit():
            raise unauthenticated("caller identity assertion is malformed")
        issued = int(parts[4])
        if abs(now - issued) > MAX_ASSERTION_AGE_SECONDS:
            raise unauthenticated("caller identity assertion has expired")
        caller = Caller(system_id=parts[1], department_code=parts[2], authority=parts[3] == "1",
                        issued_at=int(parts[5]))
        if len(self._verified) > 100_000:
            self._verified.clear()
        self._verified[(assertion, signature)] = (issued, caller)
        return caller

    def recheck(self, caller: Caller) -> None:
        """Refuses ``caller`` again if its system was disabled or rotated since the call began (for long streams:
        a batch download must not outlive its system's access)."""
        if self._check is not None:
            self._check(caller)

    def from_context(self, context: grpc.aio.ServicerContext, check: bool = True,
                     password_change: bool = False) -> Caller:
        """The verified caller of the current RPC (``check``, ``password_change``: as for :meth:`caller`); the
        call's page tokens are issued to it and read for it only (pagination.verified)."""
        caller = self.caller(context.invocation_metadata(), check, password_change)
        pagination.verified(caller.system_id)
        return caller
