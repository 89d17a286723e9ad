"""Opaque page tokens (AIP-158) and page-size rules shared by every List RPC."""

from __future__ import annotations

import base64
import json

from services.runtime.errors import FieldViolation, invalid_argument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


def page_size(requested: int, field: str = "page_size") -> int:
    """The effective page size: 0 means the default, negatives are bad input, large ones are capped."""
    if requested < 0:
        raise invalid_argument([FieldViolation(field, "must not be negative")])
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def encode_token(position: dict) -> str:
    """A token that resumes listing after ``position`` (e.g. the last row's sort key)."""
    return base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode()


def decode_token(token: str, field: str = "page_token") -> dict | None:
    """The position a token encodes; None for the first page; INVALID_ARGUMENT for garbage."""
    if not token:
        return None
    try:
        position = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, UnicodeDecodeError):
        raise invalid_argument([FieldViolation(field, "is not a token returned by a previous call")]) from None
    if not isinstance(position, dict):
        raise invalid_argument([FieldViolation(field, "is not a token returned by a previous call")])
    return position
