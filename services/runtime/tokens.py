"""Bearer tokens for business systems: EdDSA-signed JWTs.

The authorization service signs them with the platform's private key; the gateway
verifies them locally with the public key (no call per request) and remembers
verified tokens until they expire. A remembered token is still refused once its
system is disabled or its secret rotated: the verifier asks the systems' states
(services.runtime.system_states) on every call, a dict lookup.

``iat`` is whole seconds and a reset's "not before" is rounded up to the next
whole second, so a token issued after a rotation in the same second as it gets
``iat = not_before`` (see :func:`issue_token`) and is accepted, while every token
issued before the reset has a smaller ``iat`` and is refused.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import jwt

from services.runtime.errors import unauthenticated
from services.runtime.identity import Caller

ISSUER = "govshare-authorization"
AUDIENCE = "govshare-gateway"
ALGORITHM = "EdDSA"


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: float


#: Clock skew tolerated on ``iat`` (a token issued right after a reset may carry the reset's next second).
IAT_LEEWAY_SECONDS = 5


def issue_token(private_key_pem: str, caller: Caller, ttl_seconds: int, not_before: int = 0) -> IssuedToken:
    """A signed token asserting ``caller`` for ``ttl_seconds``; its ``iat`` is never below ``not_before``
    (the system's last reset), so a token issued right after a rotation is accepted."""
    now = max(int(time.time()), not_before)
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": caller.system_id,
        "dept": caller.department_code,
        "authority": caller.authority,
        "iat": now,
        "exp": now + ttl_seconds,
        "jti": uuid.uuid4().hex,
    }
    return IssuedToken(jwt.encode(claims, private_key_pem, algorithm=ALGORITHM), float(now + ttl_seconds))


class TokenVerifier:
    """Verifies tokens locally; a verified token is cached until its expiry."""

    def __init__(self, public_key_pem: str, max_cached: int = 200_000,
                 check: Callable[[Caller], None] | None = None) -> None:
        self._key = public_key_pem
        self._cache: dict[str, tuple[float, Caller]] = {}
        self._max = max_cached
        #: Refuses callers of disabled or rotated systems (SystemStates.check), cached tokens included.
        self._check = check

    def verify(self, token: str) -> Caller:
        """The caller a token asserts, or ServiceError(UNAUTHENTICATED) saying what is wrong with it."""
        caller = self._verified(token)
        if self._check is not None:
            self._check(caller)
        return caller

    def _verified(self, token: str) -> Caller:
        cached = self._cache.get(token)
        now = time.time()
        if cached is not None:
            if cached[0] > now:
                return cached[1]
            del self._cache[token]
        try:
            claims = jwt.decode(token, self._key, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=ISSUER,
                                options={"require": ["exp", "sub", "iat"], "verify_iat": False})
            issued_at = int(claims["iat"])
        except jwt.ExpiredSignatureError:
            raise unauthenticated("bearer token has expired: request a new one with TokenService.IssueToken") from None
        except jwt.InvalidTokenError as exc:
            raise unauthenticated(f"bearer token is invalid ({exc})") from None
        except (TypeError, ValueError, OverflowError):
            raise unauthenticated("bearer token is invalid (iat is not a number of seconds)") from None
        if issued_at > now + IAT_LEEWAY_SECONDS:
            raise unauthenticated("bearer token is invalid (issued in the future)")
        caller = Caller(system_id=str(claims["sub"]), department_code=str(claims.get("dept", "")),
                        authority=bool(claims.get("authority", False)), issued_at=issued_at)
        if len(self._cache) >= self._max:
            self._cache.clear()
        self._cache[token] = (float(claims["exp"]), caller)
        return caller

    def forget(self, token: str) -> None:
        self._cache.pop(token, None)
