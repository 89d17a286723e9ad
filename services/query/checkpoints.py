"""The access audit's signed checkpoints (R-SEC-3): the shared construction of services.runtime.checkpoints
under the access audit's own context, with the access log's row checker.

Every query process signs its chain's head with the audit signing key at a fixed
interval and, closing the chain, when it stops (docs/architecture.md, "Audit
checkpoints"). The signature covers ``["govshare.audit.checkpoint.v1",chain_id,
sequence,hash,time,final]`` (docs/api.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Container, Iterable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.query.audit import ChainChecker
from services.runtime import checkpoints as _shared
from services.runtime.checkpoints import (  # noqa: F401 - the access audit's vocabulary, shared
    BROKEN,
    INTACT,
    TRUNCATED,
    VANISHED,
    ChainReport,
    Checkpoint,
    Checkpointer,
    Entry,
    Forged,
    Head,
    format_time,
    from_json,
    key_id,
    parse_time,
    public_pem,
    to_json,
    verify_export,
    with_held,
)

CONTEXT = "govshare.audit.checkpoint.v1"


def signed_bytes(chain_id: str, seq: int, hash_: str, time: dt.datetime, final: bool) -> bytes:
    """What an access audit checkpoint's signature covers."""
    return _shared.signed_bytes(CONTEXT, chain_id, seq, hash_, time, final)


class CheckpointSigner(_shared.CheckpointSigner):
    """Signs access audit chain heads with the audit signing key."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        super().__init__(private_key, CONTEXT)


class CheckpointVerifier(_shared.CheckpointVerifier):
    """Checks access audit checkpoints against the trusted audit keys."""

    def __init__(self, public_keys: Iterable[Ed25519PublicKey],
                 trusted: str = "audit key (query trusts GOVSHARE_AUDIT_SIGNING_KEY's public half and "
                                "GOVSHARE_AUDIT_RETIRED_PUBLIC_KEYS: a key retired without being listed there, or "
                                "not the platform's)") -> None:
        super().__init__(public_keys, CONTEXT, trusted)


class ChainAuditor(_shared.ChainAuditor):
    """Judges the access log's chains (rows checked by the access log's own hashing). ``resumable``: the heads a
    chain may resume after without its earlier records (QueryStore.archive_anchors, and where an earlier page
    ended); by default none, so a chain missing its first records is broken."""

    def __init__(self, verifier: _shared.CheckpointVerifier,
                 resumable: Container[tuple[str, int]] = frozenset()) -> None:
        super().__init__(verifier, ChainChecker(), resumable)
