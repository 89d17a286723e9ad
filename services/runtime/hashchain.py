"""Hash chains over stored rows: ``hash = sha256(prev_hash || canonical(fields))``, from a genesis hash.

Shared so that every tamper-evident log of the platform (the administrative log
today; the access audit uses the same construction) links and checks rows the
same way. A chain is checked in order: it starts at seq 1 from :data:`GENESIS`,
continues without gaps, each row names its predecessor's hash, and each row's
hash is that of its own content, so an edited, removed or inserted row is found.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence

GENESIS = "0" * 64
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode


def _plain(value: object) -> object:
    """Times as UTC ISO text with microseconds (what PostgreSQL keeps), everything else as is."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat(timespec="microseconds")
    return value


def canonical(fields: Sequence[object]) -> bytes:
    """The bytes a row's hash covers: its hashed fields, in a fixed order, as compact JSON."""
    return _ENCODE([_plain(value) for value in fields]).encode()


def chain_hash(prev_hash: str, fields: Sequence[object]) -> str:
    """The hash of a row whose predecessor's hash is ``prev_hash`` (hex text)."""
    return hashlib.sha256(prev_hash.encode() + canonical(fields)).hexdigest()


class ChainChecker:
    """Checks rows of one chain, fed in seq order; :meth:`check` says why a row breaks the chain."""

    def __init__(self) -> None:
        self.checked = 0
        self._seq = 0
        self._prev = GENESIS

    @property
    def head(self) -> str:
        """The hash of the last row checked (GENESIS before any)."""
        return self._prev

    def check(self, seq: int, prev_hash: str, stored_hash: str, fields: Sequence[object]) -> str | None:
        """Why the row breaks the chain, or None (the checker then moves past it)."""
        self.checked += 1
        self._seq += 1
        if seq != self._seq:
            return f"row {self._seq} is missing (found {seq} next): rows were removed or inserted"
        if prev_hash != self._prev:
            return f"row {seq} does not link to the row before it"
        if chain_hash(self._prev, fields) != stored_hash:
            return f"row {seq}: its content does not match its hash (it was changed)"
        self._prev = stored_hash
        return None
