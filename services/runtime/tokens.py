"""Bearer tokens for business systems: EdDSA-signed JWTs.

The authorization service signs them with the platform's private key and
publishes the public keys as a JWKS (RFC 7517), which the edge (Envoy's
jwt_authn) fetches. Every service verifies the token it receives itself,
locally with the same public keys (no call per request), and remembers verified
tokens until they expire, so a repeated token costs a dict lookup.

Rotation: ``GOVSHARE_TOKEN_PUBLIC_KEY`` may hold several PEM keys, the current
one and the previous one. Tokens carry the ``kid`` of the key that signed them,
and a token signed by any listed key verifies, so the signing key can change
without refusing a token issued a moment before.

A remembered token is still refused once its system is disabled or its secret
rotated: the verifier asks the systems' states (services.runtime.system_states)
on every call, a dict lookup. ``iat`` is whole seconds and a reset's "not before"
is rounded up to the next whole second, so a token issued after a rotation in the
same second as it gets ``iat = not_before`` (see :func:`issue_token`) and is
accepted, while every token issued before the reset has a smaller ``iat`` and is
refused.

Persons (issue 12) get tokens of the same kind from SessionService: the subject
is the person (``psn-...``), ``name`` their display name, ``roles`` their
PersonRole names and ``sx`` the end of their session (RefreshSession never goes
beyond it). Persons' disables, sign-outs and role changes restrict their tokens
through the same states as systems'.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import grpc
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from services.runtime.errors import ServiceError, unauthenticated, unavailable
from services.runtime.identity import PERSON_PREFIX, SERVICE_PREFIX, Caller
from services.runtime.keys import ed25519_private_key, ed25519_public_keys

ISSUER = "govshare-authorization"
#: The audience of every token before zones were bound: accepted only of a token issued before the verifying
#: process started (see :class:`TokenVerifier`), so the tokens held across an upgrade are not refused at once.
LEGACY_AUDIENCE = "govshare-gateway"
#: The zone a token is issued for and verified in when none is given (Settings.zone's default).
DEFAULT_ZONE = "extranet"
ALGORITHM = "EdDSA"
#: Clock skew tolerated on ``exp`` (and ``iat``): tight, since every platform host keeps time.
LEEWAY_SECONDS = 5
_RENEW = "request a new one with govshare.authorization.v1.TokenService/IssueToken"
#: An expired person token: the console signs the person in again.
SESSION_EXPIRED = "SESSION_EXPIRED"
PASSWORD_CHANGE_REQUIRED = "PASSWORD_CHANGE_REQUIRED"
#: Clock skew tolerated on ``iat`` (a token issued right after a reset may carry the reset's next second).
IAT_LEEWAY_SECONDS = 5
#: The reason of a token the platform signed refused because it says it was issued later than this host's now:
#: the hosts' clocks disagree (the platform's fault, not the caller's).
CLOCK_SKEW = "CLOCK_SKEW"
#: How often a service says in its log that it refuses the platform's tokens for its clock, while it does.
SKEW_LOG_INTERVAL_SECONDS = 60.0

log = logging.getLogger(__name__)


def audience(zone: str) -> str:
    """The audience of the tokens the platform of ``zone`` issues and accepts (``govshare-gateway.intranet``).

    Every token named ``govshare-gateway`` alone: an intranet installed with a copy of the extranet's signing key
    (a restore, a key shared "for now") accepted every extranet token, a business system of the internet side
    reaching the intranet's data. Bound to the zone, such a token is refused, naming the zone it was issued for."""
    return f"{LEGACY_AUDIENCE}.{zone}"


def _zone_of(aud: object) -> str | None:
    """The zone a token's ``aud`` names (``govshare-gateway.<zone>``), or None when it names none."""
    names = aud if isinstance(aud, list) else [aud]
    prefix = f"{LEGACY_AUDIENCE}."
    return next((name[len(prefix):] for name in names if isinstance(name, str) and name.startswith(prefix)), None)


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: float


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    """The key's RFC 7638 JWK thumbprint: the same id wherever the key is listed."""
    canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": _b64url(_raw(key))}, separators=(",", ":"),
                           sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def shown_kid(kid: object) -> str:
    """A ``kid`` from a token's header as a refusal quotes it: the caller wrote it, so quoted and cut short."""
    text = repr(kid)
    return text if len(text) <= 66 else f"{text[:63]}..."


def jwks(public_keys_pem: str) -> dict[str, list[dict[str, str]]]:
    """The JSON Web Key Set of every Ed25519 public key in ``public_keys_pem`` (what the edge verifies with)."""
    return {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": _b64url(_raw(key)), "kid": key_id(key), "alg": ALGORITHM,
                      "use": "sig"} for key in ed25519_public_keys(public_keys_pem)]}


def issue_token(private_key_pem: str, caller: Caller, ttl_seconds: int, not_before: int = 0,
                session_end: int = 0, zone: str = DEFAULT_ZONE) -> IssuedToken:
    """A signed token asserting ``caller`` for ``ttl_seconds`` in ``zone`` (its audience), naming its signing key
    (``kid``); its ``iat`` is never below ``not_before`` (the system's last reset), so a token issued right after
    a rotation is accepted.

    For a person, the token also carries their display name, roles and ``session_end`` (epoch seconds, the
    session's absolute end, which the token never outlives)."""
    now = max(int(time.time()), not_before)
    expires = now + ttl_seconds
    claims: dict[str, object] = {
        "iss": ISSUER,
        "aud": audience(zone),
        "sub": caller.system_id,
        "dept": caller.department_code,
        "authority": caller.authority,
        "iat": now,
        "exp": expires,
        "jti": uuid.uuid4().hex,
    }
    if caller.is_person:
        expires = min(expires, session_end) if session_end else expires
        claims.update(exp=expires, name=caller.display_name, roles=list(caller.roles), sx=session_end or expires)
        if caller.password_change_required:
            claims["pcr"] = True
    private = ed25519_private_key(private_key_pem)
    token = jwt.encode(claims, private, algorithm=ALGORITHM, headers={"kid": key_id(private.public_key())})
    return IssuedToken(token, float(expires))


def _claim(claims: dict[str, object], name: str, kind: type[object], default: object, what: str) -> object:
    """The claim ``name`` when it is a ``kind`` (``default`` when absent), else UNAUTHENTICATED naming it.

    A claim was read with bool() and str(): an ``authority`` of "false" or 1 counted as the authority's rights,
    a ``dept`` of 123 became department "123". Only the platform signs tokens, so such a token is a signing
    mistake or a stolen key: it is refused, saying which claim is malformed, never guessed at."""
    value = claims.get(name, default)
    # bool is an int: a claim of true must not pass as a number, nor 1 as a boolean.
    if type(value) is not kind:
        raise unauthenticated(f"bearer token is invalid (its {name} claim is not {what})")
    return value


def _person_claims(subject: str, claims: dict[str, object]) -> dict[str, object]:
    """A person's display name and roles from their token's claims (nothing for a system's token)."""
    if not subject.startswith(PERSON_PREFIX):
        return {}
    roles = claims.get("roles")
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise unauthenticated("bearer token is invalid (a person's roles are not a list of names)")
    return {"display_name": _claim(claims, "name", str, "", "a string"), "roles": tuple(roles),
            "password_change_required": _claim(claims, "pcr", bool, False, "a boolean") is True}


def _expired(token: str) -> ServiceError:
    """UNAUTHENTICATED for an expired token: SESSION_EXPIRED for a person's (sign in again), else renew."""
    try:
        subject = str(jwt.decode(token, options={"verify_signature": False}).get("sub", ""))
    except jwt.InvalidTokenError:
        subject = ""
    if subject.startswith(PERSON_PREFIX):
        return ServiceError(grpc.StatusCode.UNAUTHENTICATED, SESSION_EXPIRED,
                            "your session has expired: sign in again (SessionService.SignIn)")
    return unauthenticated(f"bearer token has expired: {_RENEW}")


class TokenVerifier:
    """Verifies tokens locally against the platform's public keys; a verified token is cached until its expiry."""

    def __init__(self, public_keys_pem: str, max_cached: int = 200_000,
                 check: Callable[[Caller], None] | None = None, zone: str = DEFAULT_ZONE) -> None:
        self._zone = zone
        #: A token of LEGACY_AUDIENCE is accepted only when issued before this (whole seconds): one held across
        #: the upgrade lives out its hour, while one a platform of the earlier version issues later is refused.
        self._legacy_before = int(time.time())
        self._keys = {key_id(key): key for key in ed25519_public_keys(public_keys_pem)}
        self._cache: dict[str, tuple[float, Caller]] = {}
        self._max = max_cached
        #: Refuses callers of disabled or rotated systems (SystemStates.check), cached tokens included.
        self._check = check
        #: When (time.monotonic) the log last said this host's clock lags the tokens' issuer; None: never.
        self._skew_said: float | None = None

    def verify(self, token: str, check: bool = True, password_change: bool = False) -> Caller:
        """The caller a token asserts, or ServiceError(UNAUTHENTICATED) saying what is wrong with it (``check``
        False: its system's state is not checked; the caller rechecks it).

        A person signed in with a password an administrator set (the ``pcr`` claim) is PERMISSION_DENIED
        PASSWORD_CHANGE_REQUIRED, except where ``password_change`` lets them through (the session's own calls:
        ChangePassword, GetCurrentPerson, RefreshSession, SignOut). Checked here, in every service, so that no
        call the administrator who knows the password could make in the person's name is left out."""
        caller = self._verified(token)
        if caller.password_change_required and not password_change:
            raise ServiceError(grpc.StatusCode.PERMISSION_DENIED, PASSWORD_CHANGE_REQUIRED,
                               "set your own password first (SessionService.ChangePassword): the one you signed in "
                               "with was set by an administrator, who knows it; then sign in again")
        if check and self._check is not None:
            self._check(caller)
        return caller

    def _verified(self, token: str) -> Caller:
        cached = self._cache.get(token)
        now = time.time()
        if cached is not None:
            if cached[0] > now:
                return cached[1]
            del self._cache[token]
        claims = self._claims(token)
        try:
            issued_at = int(claims["iat"])  # type: ignore[call-overload]
        except (TypeError, ValueError, OverflowError):
            raise unauthenticated("bearer token is invalid (iat is not a number of seconds)") from None
        if issued_at > now + IAT_LEEWAY_SECONDS:
            raise self._issued_ahead(issued_at - now)
        subject = str(_claim(claims, "sub", str, "", "a string"))
        if subject.startswith(SERVICE_PREFIX):
            raise unauthenticated("bearer token is invalid (a token never names a platform service)")
        self._check_audience(claims.get("aud"), issued_at)
        caller = Caller(system_id=subject, department_code=str(_claim(claims, "dept", str, "", "a string")),
                        authority=_claim(claims, "authority", bool, False, "a boolean") is True,
                        issued_at=issued_at, **_person_claims(subject, claims))
        if len(self._cache) >= self._max:
            self._cache.clear()
        self._cache[token] = (float(claims["exp"]) + LEEWAY_SECONDS, caller)
        return caller

    def _claims(self, token: str) -> dict[str, object]:
        """The verified claims, or UNAUTHENTICATED naming the failure: malformed, unknown key, bad signature,
        expired, wrong audience or issuer, missing claim."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.InvalidTokenError:
            raise unauthenticated("bearer token is malformed (not a JWT)") from None
        keys = [self._keys[kid]] if kid in self._keys else [] if kid is not None else list(self._keys.values())
        if not keys:
            raise self._unknown_key(kid)
        failure: jwt.InvalidTokenError | None = None
        for key in keys:
            try:
                return jwt.decode(token, key, algorithms=[ALGORITHM], audience=[audience(self._zone),
                                                                                 LEGACY_AUDIENCE], issuer=ISSUER,
                                  leeway=LEEWAY_SECONDS,
                                  options={"require": ["exp", "sub", "iat"], "verify_iat": False})
            except jwt.InvalidSignatureError as exc:
                failure = exc
            except jwt.ExpiredSignatureError:
                raise _expired(token) from None
            except jwt.InvalidAudienceError:
                raise self._wrong_audience(token) from None
            except jwt.InvalidIssuerError:
                raise unauthenticated(f"bearer token has the wrong issuer (expected {ISSUER})") from None
            except jwt.InvalidTokenError as exc:
                raise unauthenticated(f"bearer token is invalid ({exc})") from None
        raise unauthenticated("bearer token signature is invalid: it was not signed by the platform") from failure

    def _wrong_audience(self, token: str) -> ServiceError:
        """UNAUTHENTICATED for a token of another audience: naming the zone it was issued for when it names one."""
        try:
            zone = _zone_of(jwt.decode(token, options={"verify_signature": False}).get("aud"))
        except jwt.InvalidTokenError:
            zone = None
        if zone is not None:
            return self._other_zone(zone)
        return unauthenticated(f"bearer token has the wrong audience (expected {audience(self._zone)})")

    def _other_zone(self, zone: str) -> ServiceError:
        """UNAUTHENTICATED for a token the platform of another zone issued (signed with a copy of the same key)."""
        return unauthenticated(f"bearer token was issued for the {shown_kid(zone)} zone, and this is the "
                               f"{self._zone} zone's platform: request a token from this zone's "
                               "govshare.authorization.v1.TokenService/IssueToken")

    def _check_audience(self, aud: object, issued_at: int) -> None:
        """Refuses a token of LEGACY_AUDIENCE issued once this process ran (``aud`` passed the signature check):
        a platform of the earlier version, whichever its zone, issued it."""
        zone = _zone_of(aud)
        if zone == self._zone or (zone is None and issued_at < self._legacy_before):
            return
        if zone is not None:
            raise self._other_zone(zone)
        raise unauthenticated(f"bearer token names no zone (audience {LEGACY_AUDIENCE} alone, of a platform of an "
                              f"earlier version) and was issued after this service started; this is the "
                              f"{self._zone} zone's platform: {_RENEW}")

    def _issued_ahead(self, seconds: float) -> ServiceError:
        """UNAVAILABLE CLOCK_SKEW for a token whose signature verified (the platform issued it) and whose ``iat`` is
        ``seconds`` ahead of this host's clock, said in the log once a minute.

        Only the platform signs tokens, so such a token means this host's clock lags the authorization service's:
        refused UNAUTHENTICATED "issued in the future", every call reaching this host failed as if its credentials
        were wrong (the SDK asked for a new token, which was refused alike; the console signed the person out),
        and nothing in the log told the operator. Another replica, or this one once its clock is corrected, answers
        the same call: the caller is told to retry, the operator to correct the hosts' time."""
        now = time.monotonic()
        if self._skew_said is None or now - self._skew_said >= SKEW_LOG_INTERVAL_SECONDS:
            self._skew_said = now
            log.warning("refusing bearer tokens issued ahead of this host's clock (one by %.0f s, more than the %d s "
                        "tolerated): this host's clock lags the authorization service's; correct the time of the "
                        "platform's hosts (NTP). Said once a minute while it lasts", seconds, IAT_LEEWAY_SECONDS)
        return unavailable(CLOCK_SKEW, f"the bearer token was issued {seconds:.0f} s ahead of this service's clock "
                           f"(more than the {IAT_LEEWAY_SECONDS} s tolerated): the platform's hosts disagree on the "
                           "time, which its operators correct; retry with backoff")

    def _unknown_key(self, kid: object) -> ServiceError:
        """UNAUTHENTICATED naming the token's key and the keys this service holds (the JWKS publishes them all):
        after a key rotation, an operator reading a caller's report tells a retired key's token (refused for
        good) from a new key's refused by a service not yet restarted with it, which the bare "a key the platform
        does not publish" said alike, and wrongly of the new key."""
        return unauthenticated(f"bearer token is signed by a key this service does not verify with (kid "
                               f"{shown_kid(kid)}; it verifies with {', '.join(sorted(self._keys))}): a token of a "
                               f"retired key is refused for good, {_RENEW}")

    def forget(self, token: str) -> None:
        self._cache.pop(token, None)
