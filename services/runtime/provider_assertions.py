"""The assertion the platform sends with every call to a department's provider endpoint (its 前置机).

A department's 前置机 must never hold ``GOVSHARE_INTERNAL_KEY`` (whoever holds it can speak as any platform
service), so it cannot verify the mesh's HMAC assertions. Instead query signs, per call, a short-lived EdDSA
JWT with a key of its own that signs nothing else (``GOVSHARE_PROVIDER_SIGNING_KEY``; the catalog holds it
too, for its endpoint check). Its public half is given to every department (``govshare up`` writes
``provider-public.pem``; :func:`provider_jwks` gives the JWKS form), so a 前置机 verifies with public keys only.

Claims: ``iss`` the platform, ``aud`` the endpoint (the target named in the catalog entry, so an assertion
captured by one 前置机 is refused by every other), ``dept``/``sub`` the calling department and system,
``purpose`` and ``audit_id`` of the access the call serves (so the department's access log can be reconciled
with the platform's audit), ``jti`` unique, ``iat``/``exp`` a few seconds apart. The verifier refuses a ``jti``
it has already seen until that assertion has expired, so a captured assertion cannot be replayed.
"""

from __future__ import annotations

import contextvars
import logging
import os
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass

import jwt

from services.runtime.errors import unauthenticated
from services.runtime.keys import ed25519_private_key, ed25519_public_keys
from services.runtime.tokens import ALGORITHM, jwks, key_id, shown_kid

ASSERTION_HEADER = "x-govshare-provider-assertion"
ISSUER = "govshare-platform"
#: Lifetime of one assertion: long enough for a call under its deadline, too short to be worth stealing.
TTL_SECONDS = 30
LEEWAY_SECONDS = 5
#: Seen ids kept at most (each for its assertion's life): a flood cannot exhaust memory.
MAX_SEEN = 1_000_000
#: How often, at most, a verifier looks whether its keys file (a 前置机's platform.pem) changed.
KEYS_FILE_CHECK_SECONDS = 1.0

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """Which access a provider call serves: who asked, why, and the platform's audit id of it."""

    department_code: str = ""
    system_id: str = ""
    purpose: str = ""
    audit_id: str = ""


#: The access the current task serves (set by the query servicer before it reads records).
CURRENT_ACCESS: contextvars.ContextVar[AccessClaims | None] = contextvars.ContextVar("provider_access",
                                                                                      default=None)


@dataclass(frozen=True, slots=True)
class VerifiedAssertion:
    """What a verified assertion says (the 前置机 logs it beside what it served)."""

    jti: str
    claims: AccessClaims
    expires_at: int


class ProviderAssertionSigner:
    """Signs one assertion per provider call (never cached: each carries its own ``jti``)."""

    def __init__(self, private_key_pem: str, ttl_seconds: int = TTL_SECONDS) -> None:
        self._key = ed25519_private_key(private_key_pem)
        self._kid = key_id(self._key.public_key())
        self._ttl = ttl_seconds

    def metadata(self, audience: str, access: AccessClaims | None = None) -> tuple[tuple[str, str], ...]:
        """The metadata entry carrying a fresh assertion for a call to ``audience``."""
        access = access or CURRENT_ACCESS.get() or AccessClaims()
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": audience, "sub": access.system_id, "dept": access.department_code,
                  "purpose": access.purpose, "audit_id": access.audit_id, "jti": uuid.uuid4().hex,
                  "iat": now, "exp": now + self._ttl}
        return ((ASSERTION_HEADER, jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self._kid})),)


def provider_public_keys(private_key_pem: str) -> str:
    """The PEM public key a 前置机 is configured with to trust ``private_key_pem``."""
    from services.runtime.keys import public_pem

    return public_pem(ed25519_private_key(private_key_pem))


def provider_jwks(public_keys_pem: str) -> dict[str, list[dict[str, str]]]:
    """The provider-assertion keys as a JWKS (RFC 7517), the form a 前置机 can fetch."""
    return jwks(public_keys_pem)


class ProviderAssertionVerifier:
    """Verifies the platform's assertions at one endpoint: signature, issuer, audience, expiry, no replay."""

    def __init__(self, public_keys_pem: str, audience: str, clock=time.time, keys_file: str = "") -> None:
        self._keys = {key_id(key): key for key in ed25519_public_keys(public_keys_pem)}
        #: The file the keys were read from (a 前置机's platform.pem), read again once it changes: a department
        #: adds the platform's new key, or drops the retired one, without restarting (a 前置机 that kept the keys
        #: it started with refused every call once the platform signed with its new key, and went on trusting a
        #: retired one).
        self._keys_file = keys_file
        self._keys_stamp = _file_stamp(keys_file) if keys_file else None
        self._keys_checked = time.monotonic()
        self._audience = audience
        self._clock = clock
        self._seen: OrderedDict[str, int] = OrderedDict()
        #: Assertions issued before this verifier existed are refused: the ids seen before a restart are gone,
        #: so one captured then could otherwise be used again for the rest of its life (the leeway allows for
        #: clocks a little apart; the platform signs a new assertion for every call, retries included).
        self._since = int(clock()) - LEEWAY_SECONDS

    def verify(self, metadata) -> VerifiedAssertion:
        """The verified assertion of a call, or ServiceError(UNAUTHENTICATED) saying what is wrong."""
        if self._keys_file:
            self._reread_keys()
        token = None
        for key, value in metadata or ():
            if key == ASSERTION_HEADER:
                token = value if isinstance(value, str) else value.decode()
        if not token:
            raise unauthenticated("only the platform calls this endpoint: the call carries no platform assertion")
        claims = self._claims(token)
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise unauthenticated("platform assertion is invalid (no jti)")
        now = int(self._clock())
        self._forget_expired(now)
        if jti in self._seen:
            raise unauthenticated("platform assertion was already used (replay refused)")
        if int(claims["iat"]) < self._since:
            # By how much: a call sent just before a restart is seconds early; every call of the platform refused so
            # for a while after a start is this machine's clock ahead of the platform's.
            raise unauthenticated(f"platform assertion was issued before this endpoint started (replay refused: "
                                  f"issued {self._since + LEEWAY_SECONDS - int(claims['iat'])} s before the start "
                                  "by this endpoint's clock)")
        expires = int(claims["exp"])
        self._seen[jti] = expires + LEEWAY_SECONDS
        if len(self._seen) > MAX_SEEN:
            self._seen.popitem(last=False)
        access = AccessClaims(department_code=str(claims.get("dept", "")), system_id=str(claims.get("sub", "")),
                              purpose=str(claims.get("purpose", "")), audit_id=str(claims.get("audit_id", "")))
        return VerifiedAssertion(jti=jti, claims=access, expires_at=expires)

    def _reread_keys(self) -> None:
        """Trusts the keys of the keys file once it changed (looked at most every KEYS_FILE_CHECK_SECONDS: one
        stat). A file that cannot be used (half written, a wrong key) leaves the keys trusted so far, saying so."""
        now = time.monotonic()
        if now - self._keys_checked < KEYS_FILE_CHECK_SECONDS:
            return
        self._keys_checked = now
        stamp = _file_stamp(self._keys_file)
        if stamp == self._keys_stamp:
            return
        self._keys_stamp = stamp
        try:
            with open(self._keys_file, encoding="utf-8-sig") as file:
                keys = {key_id(key): key for key in ed25519_public_keys(file.read())}
        except (OSError, ValueError) as exc:
            log.error("the platform's keys file %s changed but cannot be used (%s): the %d key(s) trusted so far "
                      "stay trusted until it is fixed", self._keys_file, exc, len(self._keys))
            return
        if keys.keys() != self._keys.keys():
            log.info("the platform's keys file %s changed: trusting %s now (was %s)", self._keys_file,
                     ", ".join(sorted(keys)), ", ".join(sorted(self._keys)))
        self._keys = keys

    def _forget_expired(self, now: int) -> None:
        """Ids leave once their assertion has expired (an expired assertion is refused anyway). Assertions
        arrive roughly in expiry order, so the oldest are at the front."""
        while self._seen:
            _jti, expires = next(iter(self._seen.items()))
            if expires >= now:
                return
            self._seen.popitem(last=False)

    def _claims(self, token: str) -> dict:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.InvalidTokenError:
            raise unauthenticated("platform assertion is malformed (not a JWT)") from None
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            # Both kids: the data officer compares them with provider-public.pem's after the platform's rotation.
            raise unauthenticated(f"platform assertion is signed by a key this endpoint does not trust (kid "
                                  f"{shown_kid(kid)}; it trusts {', '.join(sorted(self._keys)) or 'none'})")
        try:
            return jwt.decode(token, key, algorithms=[ALGORITHM], audience=self._audience, issuer=ISSUER,
                              leeway=LEEWAY_SECONDS, options={"require": ["exp", "iat", "jti", "aud"]})
        except jwt.ExpiredSignatureError:
            raise unauthenticated("platform assertion has expired") from None
        except jwt.ImmatureSignatureError:
            # Issued later than this endpoint's clock says it is now, by more than the leeway: this machine's clock is
            # behind the platform's. It was "platform assertion is invalid (ImmatureSignatureError)", which the
            # 前置机's log took for a call not from the platform, and every call of the platform was refused so.
            issued = jwt.decode(token, key, algorithms=[ALGORITHM], options={
                "verify_aud": False, "verify_exp": False, "verify_iat": False, "verify_nbf": False}).get("iat")
            ahead = f" {float(issued) - time.time():.0f} s" if isinstance(issued, int | float) else ""
            raise unauthenticated(f"platform assertion is not valid yet (issued{ahead} ahead of this endpoint's "
                                  "clock)") from None
        except jwt.InvalidAudienceError:
            # The signature is the platform's: the target it names is what the catalog entry registers, which the
            # department's ``endpoint`` must be for its 前置机 to take the platform's calls.
            named = jwt.decode(token, key, algorithms=[ALGORITHM], options={"verify_aud": False,
                                                                            "verify_exp": False}).get("aud")
            raise unauthenticated(f"platform assertion is for another endpoint (audience): it names {named!r}, "
                                  f"this endpoint is {self._audience!r}") from None
        except jwt.InvalidTokenError as exc:
            raise unauthenticated(f"platform assertion is invalid ({type(exc).__name__})") from None


def _file_stamp(path: str) -> tuple[int, int, int] | None:
    """What tells a changed file (a ConfigMap's swapped link included: stat follows it), None when unreadable."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_ino, status.st_mtime_ns, status.st_size
