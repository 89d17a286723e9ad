"""Who is calling: the bearer token a client sends, checked locally, and the metadata it may pass on.

A client proves its identity with ``authorization: Bearer <token>``, a token the
authorization service signed (TokenService.IssueToken). The gateway verifies it
with the platform's public key — no call per request, and verified tokens are
remembered until they expire (services.runtime.tokens.TokenVerifier). Whatever a
client says about identity itself is dropped: every ``x-govshare-*`` entry, since
only the gateway may assert a caller to the services behind it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from services.runtime.errors import unauthenticated
from services.runtime.identity import Caller
from services.runtime.tokens import TokenVerifier

AUTHORIZATION_HEADER = "authorization"
#: What IssueToken is forwarded as: its request carries the system's secret, which the backend checks.
ANONYMOUS = Caller("anonymous", "", False)

MetadataEntry = tuple[str, str | bytes]

# Entries never forwarded: identity the gateway alone asserts, the credential itself, names reserved by gRPC,
# and the client's user agent (the gateway's channel sends its own).
_DROPPED_PREFIXES = ("x-govshare-", "grpc-")
DROPPED_KEYS = frozenset({AUTHORIZATION_HEADER, "user-agent"})
_BEARER = "bearer "
_MISSING_TOKEN = ("missing bearer token: send 'authorization: Bearer <token>' obtained from "
                  "govshare.authorization.v1.TokenService/IssueToken")
_MALFORMED = "malformed authorization header: expected exactly one 'authorization: Bearer <token>'"


class Inbound(NamedTuple):
    """A client's metadata, split into its credential and what may travel on to the backend."""

    authorization: str | None
    forwarded: tuple[MetadataEntry, ...]


def inbound(metadata: Iterable[MetadataEntry] | None, dropped_keys: frozenset[str] = DROPPED_KEYS) -> Inbound:
    """One pass over the client's metadata, leaving out ``dropped_keys`` and every ``x-govshare-*`` entry
    (repeated authorization headers are joined, so they read as malformed)."""
    authorization: str | None = None
    forwarded: list[MetadataEntry] | None = None
    for key, value in metadata or ():
        if key == AUTHORIZATION_HEADER:
            text = value if isinstance(value, str) else value.decode(errors="replace")
            authorization = text if authorization is None else f"{authorization},{text}"
        elif key in dropped_keys or key.startswith(_DROPPED_PREFIXES):
            continue
        elif forwarded is None:
            forwarded = [(key, value)]
        else:
            forwarded.append((key, value))
    return Inbound(authorization, tuple(forwarded) if forwarded else ())


def bearer_token(authorization: str | None) -> str:
    """The token of an ``authorization`` header value, or UNAUTHENTICATED saying what to send instead."""
    if authorization is None:
        raise unauthenticated(_MISSING_TOKEN)
    if not authorization.startswith("Bearer ") and authorization[:len(_BEARER)].lower() != _BEARER:
        raise unauthenticated(_MALFORMED)
    token = authorization[len(_BEARER):].strip()
    if not token or " " in token or "," in token or "\t" in token:
        raise unauthenticated(_MALFORMED)
    return token


class Authenticator:
    """Turns an ``authorization`` header into a verified Caller."""

    def __init__(self, verifier: TokenVerifier) -> None:
        self._verifier = verifier

    def caller(self, authorization: str | None) -> Caller:
        """The caller the token asserts, or ServiceError(UNAUTHENTICATED) with the reason (missing, malformed,
        bad signature, expired)."""
        return self._verifier.verify(bearer_token(authorization))
