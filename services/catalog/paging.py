"""Keyset page tokens for ListEntries and SearchEntries (AIP-158).

A token holds the sort key of the last entry of its page and a fingerprint of the
request it belongs to: resuming with different filters or a different query would
skip or repeat entries, so such a token is refused as INVALID_ARGUMENT, as is
anything that was not produced here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

from services.catalog.rules import CODE_PATTERN
from services.runtime.errors import FieldViolation, invalid_argument
from services.runtime.pagination import decode_token, encode_token

MAX_INT32 = 2**31 - 1


def fingerprint(*parts: object) -> str:
    """A short digest of what a listing depends on (filters, query terms)."""
    plain = [dataclasses.asdict(p) if dataclasses.is_dataclass(p) and not isinstance(p, type) else p for p in parts]
    return hashlib.sha256(json.dumps(plain, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def encode(key: tuple[int | str, ...], request_fingerprint: str) -> str:
    return encode_token({"k": list(key), "f": request_fingerprint})


def decode(token: str, request_fingerprint: str, shape: tuple[type, ...], field: str = "page_token",
           older: tuple[tuple[type, ...], ...] = ()) -> tuple | None:
    """The sort key a token resumes after (None for the first page), checked against ``shape`` or one of the
    ``older`` shapes a previous release gave its tokens (a walk begun before an upgrade goes on)."""
    position = decode_token(token, field)
    if position is None:
        return None
    key = position.get("k")
    if position.get("f") != request_fingerprint:
        raise invalid_argument([FieldViolation(field, "belongs to a request with other filters or query: "
                                                      "start again without a page token")])
    if not isinstance(key, list) or not any(len(key) == len(kinds) and all(map(_fits, key, kinds))
                                            for kinds in (shape, *older)):
        raise invalid_argument([FieldViolation(field, "is not a token returned by a previous call")])
    return tuple(key)


def _fits(value: object, kind: type) -> bool:
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_INT32
    return isinstance(value, str) and CODE_PATTERN.fullmatch(value) is not None
