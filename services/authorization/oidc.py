"""OpenID Connect sign-in: verifying the province's IdP's ID tokens ourselves (ExchangeOidcToken).

The IdP (Keycloak in docs/configuration.md) signs ID tokens with keys it publishes as a JWKS. The service
fetches that JWKS (``IdpKeys``: kept for ``JWKS_CACHE_SECONDS``, fetched again at once for a ``kid`` it does not
hold, so the IdP's key rotation needs nothing here, and a key the IdP withdrew is refused from the next fetch on),
and checks the signature, the issuer, the audience (the console's client id) and the authorized party (``azp``:
a token the IdP issued to another of its clients is refused, even when its audiences name ours), the expiry and
the time of issue; the configured claim (``preferred_username`` by default, or ``sub``) names
the person, and the token's ``iss`` and ``sub`` the IdP account the person is bound to at their first sign-in
(the username claim alone is no stable identifier). Only asymmetric algorithms are accepted: a token "signed"
with ``none`` or with an HMAC over the public key never passes.

An ID token signs in once: the verified token is named (``VerifiedIdToken.token_id``) for the sessions to refuse
it a second time (OIDC_TOKEN_REPLAYED) until it expires, so one leaked from a browser, a log or a proxy is worth
nothing once the console has exchanged it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc
import jwt

from services.runtime.errors import ServiceError
from services.runtime.settings import Settings
from services.runtime.tokens import shown_kid

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
LEEWAY_SECONDS = 30
JWKS_TIMEOUT_SECONDS = 5
JWKS_CACHE_SECONDS = 300
#: A token naming a key the service does not hold fetches the JWKS again at once, but at most once in this many
#: seconds: a flood of tokens with made-up ``kid``s costs the IdP one request per interval, not one each.
JWKS_REFETCH_SECONDS = 10
#: How long a used ID token is remembered past the end of its acceptance (exp + leeway): the database's clock,
#: which prunes it, may run ahead of this service's, which accepts it.
USED_MARGIN_SECONDS = 300
#: The last second a date holds (9999-12-31T23:59:59Z): an ``exp`` beyond is remembered until then.
_LAST_SECOND = 253402300799


@dataclass(frozen=True)
class VerifiedIdToken:
    """What a verified ID token says: who, and how to recognise the token when it comes again."""

    username: str
    #: The IdP account (OpenID Connect Core §5.7: the only stable identifier of an end user is iss and sub
    #: together): a person is bound to it at their first sign-in (migration 016).
    issuer: str
    subject: str
    #: sha256 of the ``jti``, or of the signed header and claims for a token without one (never of the whole
    #: token: an ECDSA signature can be rewritten into another valid one, and the base64 of a signature read
    #: leniently takes characters that change nothing).
    token_id: str
    #: Until when the token must be remembered as used (after, the verifier refuses it as expired anyway).
    keep_until: dt.datetime


def token_id(id_token: str, claims: dict[str, object]) -> str:
    """The name a used ID token is remembered by (``VerifiedIdToken.token_id``)."""
    jti = claims.get("jti")
    if isinstance(jti, str) and jti:
        return hashlib.sha256(f"jti:{jti}".encode()).hexdigest()
    signed = id_token.rsplit(".", 1)[0]
    return hashlib.sha256(f"jws:{signed}".encode()).hexdigest()


def _seconds_from_now(id_token: str, *claims: str) -> int | None:
    """How far the latest of the token's time ``claims`` is from this service's clock (positive: ahead), None when
    it holds none. Read once PyJWT has checked the signature (it checks the times after it)."""
    body = jwt.decode(id_token, options={"verify_signature": False})
    times = [value for name in claims if isinstance(value := body.get(name), int | float)]
    return round(max(times) - time.time()) if times else None


def _expired(id_token: str) -> str:
    """Why an expired token was refused, saying by how much: an IdP whose clock is behind the platform's makes
    every token arrive expired, and "expired" alone sent the person to sign in again, in vain."""
    late = _seconds_from_now(id_token, "exp")
    ago = f" {-late} s ago" if late is not None else ""
    return (f"expired{ago}, past the {LEEWAY_SECONDS} s of clock drift allowed: if every sign-in is refused so, the "
            "identity provider's clock is behind this service's; synchronise both (NTP)")


def _ahead(id_token: str) -> str:
    """Why a token issued "in the future" (``iat`` or ``nbf`` ahead of this service's clock) was refused: the IdP's
    clock is ahead. Said as PyJWT's class name (ImmatureSignatureError), the operator had to look it up."""
    ahead = _seconds_from_now(id_token, "iat", "nbf")
    by = f" {ahead} s" if ahead is not None else ""
    return (f"not yet valid: issued{by} ahead of this service's clock, past the {LEEWAY_SECONDS} s of drift allowed: "
            "the identity provider's clock is ahead of this service's; synchronise both (NTP)")


def _invalid(why: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.UNAUTHENTICATED, "OIDC_TOKEN_INVALID",
                        f"the identity provider's ID token was refused ({why}): sign in at the provider again")


class IdpKeys:
    """The IdP's signing keys by ``kid``, as its JWKS last published them.

    PyJWT's PyJWKClient did this with two flaws for a rotation: a key it had once matched stayed in its per-key
    LRU cache for the life of the process (a key the IdP withdrew, compromised or retired, kept signing people
    in), and an unknown ``kid`` fetched the JWKS again only 30 s after any fetch (its cooldown), so a key the IdP
    rotated to just after a fetch was refused. Here the keys are the last fetch's only: fetched when older than
    ``JWKS_CACHE_SECONDS``, and at once for a ``kid`` not among them, at most once per ``JWKS_REFETCH_SECONDS``.
    """

    def __init__(self, jwks_url: str, clock: Callable[[], float] = time.monotonic) -> None:
        # PyJWKClient fetches and parses only: its JWK Set cache is off, the caching is this class's.
        self._client = jwt.PyJWKClient(jwks_url, cache_jwk_set=False, timeout=JWKS_TIMEOUT_SECONDS)
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched: float | None = None
        self._refetched: float | None = None
        self._lock = threading.Lock()

    def key(self, kid: str) -> jwt.PyJWK:
        """The key ``kid`` names; OIDC_TOKEN_INVALID naming it when the IdP does not publish it;
        PyJWKClientConnectionError when the JWKS cannot be fetched."""
        with self._lock:  # one fetch at a time: concurrent misses wait for it and see its keys
            now = self._clock()
            if self._fetched is None or now - self._fetched >= JWKS_CACHE_SECONDS:
                self._fetch(now)
            elif kid not in self._keys and (self._refetched is None or now - self._refetched >= JWKS_REFETCH_SECONDS):
                self._refetched = now
                self._fetch(now)
            key = self._keys.get(kid)
            age = now - (self._fetched or now)
        if key is None:
            raise _invalid(f"it names key {shown_kid(kid)}, which the provider's JWKS does not publish (as fetched "
                           f"{age:.0f} s ago; an unknown key fetches it again at most every {JWKS_REFETCH_SECONDS} s)")
        return key

    def _fetch(self, now: float) -> None:
        self._keys = {key.key_id: key for key in self._client.get_signing_keys() if key.key_id}
        self._fetched = now


class OidcVerifier:
    def __init__(self, issuer: str, jwks_url: str, audience: str, username_claim: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._issuer = issuer
        self._audience = audience
        self._claim = username_claim
        self._jwks = IdpKeys(jwks_url, clock)

    @classmethod
    def from_settings(cls, settings: Settings) -> OidcVerifier | None:
        if not settings.oidc_issuer:
            return None
        return cls(settings.oidc_issuer, settings.oidc_jwks_url, settings.oidc_audience,
                   settings.oidc_username_claim)

    def _another_party(self, claims: dict[str, object]) -> str:
        """Why a token naming our client among its audiences was issued to another (OpenID Connect Core 3.1.3.7,
        4-5), "" when it was not. PyJWT checks only that ``aud`` holds ours: a token the IdP issued to another of
        its applications (Keycloak's access token of a client with an audience mapper to ours, ``azp`` naming that
        client) signed its holder in as the person, so any application of the realm that received a person's
        token could act as them here."""
        party = claims.get("azp")
        if party is not None and party != self._audience:
            return f"it was issued to client {str(party)[:80]!r}, not to {self._audience!r} (azp)"
        audiences = claims.get("aud")
        if party is None and isinstance(audiences, list) and len(audiences) > 1:
            return "it names several audiences and no authorized party (azp) saying which client it was issued to"
        return ""

    async def verify(self, id_token: str) -> VerifiedIdToken:
        """The verified token's username claim and name, or UNAUTHENTICATED (OIDC_TOKEN_INVALID) saying why;
        UNAVAILABLE when the IdP's keys cannot be fetched."""
        return await asyncio.to_thread(self._verify, id_token)

    def _verify(self, id_token: str) -> VerifiedIdToken:
        try:
            kid = jwt.get_unverified_header(id_token).get("kid")
            if not isinstance(kid, str) or not kid:
                raise _invalid("it names no signing key (kid)")
            key = self._jwks.key(kid)
        except jwt.PyJWKClientConnectionError:
            raise ServiceError(grpc.StatusCode.UNAVAILABLE, "OIDC_PROVIDER_UNAVAILABLE",
                               "the identity provider's keys could not be fetched; retry shortly",
                               retry_after=2.0) from None
        except (jwt.PyJWKClientError, jwt.PyJWKSetError, jwt.InvalidTokenError) as exc:
            raise _invalid(f"no usable key: {type(exc).__name__}") from None
        try:
            claims = jwt.decode(id_token, key, algorithms=list(ALGORITHMS), audience=self._audience,
                                issuer=self._issuer, leeway=LEEWAY_SECONDS,
                                options={"require": ["exp", "iat", "iss", "aud", "sub"]})
        except jwt.ExpiredSignatureError:
            raise _invalid(_expired(id_token)) from None
        except jwt.ImmatureSignatureError:
            raise _invalid(_ahead(id_token)) from None
        except jwt.InvalidAudienceError:
            raise _invalid("wrong audience") from None
        except jwt.InvalidIssuerError:
            raise _invalid("wrong issuer") from None
        except jwt.InvalidSignatureError:
            raise _invalid("bad signature") from None
        except jwt.InvalidTokenError as exc:
            raise _invalid(type(exc).__name__) from None
        if why := self._another_party(claims):
            raise _invalid(why)
        value = claims.get(self._claim)
        if not isinstance(value, str) or not value:
            raise _invalid(f"no {self._claim} claim")
        expires = min(int(claims["exp"]) + LEEWAY_SECONDS + USED_MARGIN_SECONDS, _LAST_SECOND)
        return VerifiedIdToken(value, str(claims["iss"]), str(claims["sub"]), token_id(id_token, claims),
                               dt.datetime.fromtimestamp(expires, dt.UTC))
