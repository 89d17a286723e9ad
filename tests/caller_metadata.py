"""Call metadata for a caller in tests that call a backend directly (not through the edge).

A business system is identified by its bearer token (as the edge forwards it), a
platform service by its signed mesh assertion: what services.runtime.callers accepts.
"""

from __future__ import annotations

import hashlib

from services.runtime.duties import LABELS
from services.runtime.identity import PERSON_PREFIX, AssertionSigner, Caller
from services.runtime.tokens import DEFAULT_ZONE, issue_token


def person_of(caller: Caller, role: str) -> Caller:
    """A person of ``caller``'s department holding ``role`` (the same one for the same department and role):
    decisions (reviews, replies, coordination, dispute answers, grant changes) are persons' (issue 12)."""
    digest = hashlib.sha256(f"{caller.department_code}|{role}".encode()).hexdigest()[:16]
    return Caller(f"{PERSON_PREFIX}{digest}", caller.department_code, authority=caller.authority,
                  display_name=f"测试{LABELS[role]}", roles=(role,))


class CallerMetadata:
    """``metadata(caller)``: a token for a system or a person (one per caller, reused), an assertion for
    ``svc:*``."""

    def __init__(self, internal_key: bytes, token_private_key: str, ttl_seconds: int = 3600,
                 zone: str = DEFAULT_ZONE) -> None:
        self._assertions = AssertionSigner(internal_key)
        self._private_key = token_private_key
        self._ttl = ttl_seconds
        self._zone = zone  # a token is of one zone's platform (its audience)
        self._tokens: dict[Caller, tuple[tuple[str, str], ...]] = {}

    @classmethod
    def of(cls, settings: object) -> CallerMetadata:
        """From a Settings (its internal key, token private key and zone: the services it calls verify in it)."""
        return cls(settings.internal_key, settings.token_private_key,  # type: ignore[attr-defined]
                   zone=settings.zone)  # type: ignore[attr-defined]

    def metadata(self, caller: Caller) -> tuple[tuple[str, str], ...]:
        if caller.is_service:
            return self._assertions.metadata(caller)
        if caller not in self._tokens:
            token = issue_token(self._private_key, caller, self._ttl, zone=self._zone).token
            self._tokens[caller] = (("authorization", f"Bearer {token}"),)
        return self._tokens[caller]
