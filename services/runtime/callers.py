"""Who is calling a platform service: a business system's bearer token, or another service's mesh identity.

Every service verifies the caller itself (DESIGN "Trust"): no service trusts an
identity header that it did not verify.

- A business system (or a person through the console) sends
  ``authorization: Bearer <token>``; the edge (Envoy) has already checked it, and
  the service checks it again, locally, with the platform's public keys
  (services.runtime.tokens.TokenVerifier: a repeated token is a dict lookup).
- Platform services calling each other (query → authorization, …) send the
  signed ``svc:<component>`` assertion of services.runtime.identity, under the
  key only platform processes hold. Such an assertion names a service, never a
  business system: a system's identity comes with its token or not at all.

A call carrying both, or an ``x-govshare-*`` identity entry beside a token, is
refused: the edge strips every client-sent ``x-govshare-*`` entry, so such a call
was not made by the edge nor by a platform service.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from services.runtime.errors import unauthenticated
from services.runtime.identity import ASSERTION_HEADER, SIGNATURE_HEADER, AssertionVerifier, Caller
from services.runtime.settings import Settings
from services.runtime.tokens import DEFAULT_ZONE, TokenVerifier

AUTHORIZATION_HEADER = "authorization"
_BEARER = "bearer "
_IDENTITY_PREFIX = "x-govshare-"
MISSING_TOKEN = ("missing bearer token: send 'authorization: Bearer <token>' obtained from "
                 "govshare.authorization.v1.TokenService/IssueToken")
MALFORMED = "malformed authorization header: expected exactly one 'authorization: Bearer <token>'"


def bearer_token(authorization: str | None) -> str:
    """The token of an ``authorization`` header value, or UNAUTHENTICATED saying what to send instead."""
    if authorization is None:
        raise unauthenticated(MISSING_TOKEN)
    if not authorization.startswith("Bearer ") and authorization[:len(_BEARER)].lower() != _BEARER:
        raise unauthenticated(MALFORMED)
    token = authorization[len(_BEARER):].strip()
    if not token or " " in token or "," in token or "\t" in token:
        raise unauthenticated(MALFORMED)
    return token


def _text(value: str | bytes) -> str:
    return value if isinstance(value, str) else value.decode(errors="replace")


class CallerVerifier(AssertionVerifier):
    """The verified caller of a call: a bearer token's system, or a signed platform service identity."""

    def __init__(self, internal_keys: bytes | Sequence[bytes], token_public_keys: str,
                 check: Callable[[Caller], None] | None = None, zone: str = DEFAULT_ZONE) -> None:
        super().__init__(internal_keys, check=check)
        #: With ``check`` (SystemStates.check), a token of a disabled system, or older than its system's last
        #: rotation, is refused even when it is cached.
        #: Tokens are of ``zone``'s platform: another zone's, signed with a copy of the same key, are refused.
        self._tokens = TokenVerifier(token_public_keys, check=check, zone=zone)

    def caller(self, metadata: Sequence[tuple[str, str | bytes]] | None, check: bool = True,
               password_change: bool = False) -> Caller:
        """The caller of a request, or ServiceError(UNAUTHENTICATED) saying what is wrong (``check`` False: its
        system's state is left to a ``recheck``; ``password_change``: see TokenVerifier.verify)."""
        authorization: str | None = None
        identity_headers = False
        for key, value in metadata or ():
            if key == AUTHORIZATION_HEADER:
                authorization = _text(value) if authorization is None else f"{authorization},{_text(value)}"
            elif key.startswith(_IDENTITY_PREFIX):
                identity_headers = True
        if authorization is not None:
            if identity_headers:
                raise unauthenticated("x-govshare-* identity entries beside a bearer token are refused: "
                                      "send the token alone")
            return self._tokens.verify(bearer_token(authorization), check, password_change)
        if not identity_headers:
            raise unauthenticated(MISSING_TOKEN)
        caller = super().caller(metadata, check)
        if not caller.is_service:
            raise unauthenticated("a business system's identity comes with its bearer token, not with "
                                  f"{ASSERTION_HEADER}/{SIGNATURE_HEADER} entries")
        return caller


def caller_verifier(settings: Settings, check: Callable[[Caller], None] | None = None) -> CallerVerifier:
    """The verifier of a service process: its internal key (mesh identities), the token public keys and, where
    the process keeps the systems' states, their check."""
    return CallerVerifier(settings.verifying_internal_keys, settings.token_public_key, check, settings.zone)
