"""Bearer tokens for business systems: EdDSA-signed JWTs.

The authorization service signs them with the platform's private key; the gateway
verifies them locally with the public key (no call per request) and remembers
verified tokens until they expire.
"""

from __future__ import annotations

import time
import uuid
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


def issue_token(private_key_pem: str, caller: Caller, ttl_seconds: int) -> IssuedToken:
    """A signed token asserting ``caller`` for ``ttl_seconds``."""
    now = int(time.time())
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

    def __init__(self, public_key_pem: str, max_cached: int = 200_000) -> None:
        self._key = public_key_pem
        self._cache: dict[str, tuple[float, Caller]] = {}
        self._max = max_cached

    def verify(self, token: str) -> Caller:
        """The caller a token asserts, or ServiceError(UNAUTHENTICATED) saying what is wrong with it."""
        cached = self._cache.get(token)
        now = time.time()
        if cached is not None:
            if cached[0] > now:
                return cached[1]
            del self._cache[token]
        try:
            claims = jwt.decode(token, self._key, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=ISSUER,
                                options={"require": ["exp", "sub", "iat"]})
        except jwt.ExpiredSignatureError:
            raise unauthenticated("bearer token has expired: request a new one with TokenService.IssueToken") from None
        except jwt.InvalidTokenError as exc:
            raise unauthenticated(f"bearer token is invalid ({exc})") from None
        caller = Caller(system_id=str(claims["sub"]), department_code=str(claims.get("dept", "")),
                        authority=bool(claims.get("authority", False)))
        if len(self._cache) >= self._max:
            self._cache.clear()
        self._cache[token] = (float(claims["exp"]), caller)
        return caller

    def forget(self, token: str) -> None:
        self._cache.pop(token, None)
