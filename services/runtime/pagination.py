"""Opaque page tokens (AIP-158) and page-size rules shared by every List RPC."""

from __future__ import annotations

import base64
import contextvars
import datetime as dt
import json
from collections.abc import Callable
from typing import TypeVar

from services.runtime.errors import FieldViolation, invalid_argument

RowId = TypeVar("RowId")
NOT_ISSUED = "is not a token returned by a previous call"
_NOT_OURS = NOT_ISSUED

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000

#: The listing (``Service/Method``) the current call serves, set by the server for every call. Its tokens name
#: it, so one listing's token is refused by another instead of resuming it at whatever position the other
#: listing makes of it (ListSystems took ListPersons' token and answered a page, silently skipping rows).
LISTING: contextvars.ContextVar[str] = contextvars.ContextVar("page_token_listing", default="")
_LISTING_KEY = "l"


def page_size_violations(requested: int, field: str = "page_size") -> list[FieldViolation]:
    """What is wrong with a requested page size, for RPCs that report it with their other violations."""
    return [FieldViolation(field, "must not be negative")] if requested < 0 else []


def page_size(requested: int, field: str = "page_size") -> int:
    """The effective page size: 0 means the default, negatives are bad input, large ones are capped."""
    violations = page_size_violations(requested, field)
    if violations:
        raise invalid_argument(violations)
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def encode_token(position: dict) -> str:
    """A token that resumes listing after ``position`` (e.g. the last row's sort key), naming the listing that
    issued it when a call is being served."""
    if listing := LISTING.get():
        position = {_LISTING_KEY: listing, **position}
    return base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode()


def decode_token(token: str, field: str = "page_token") -> dict | None:
    """The position a token encodes; None for the first page; INVALID_ARGUMENT for garbage."""
    if not token:
        return None
    try:
        position = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, UnicodeDecodeError):
        raise invalid_argument([FieldViolation(field, _NOT_OURS)]) from None
    if not isinstance(position, dict):
        raise invalid_argument([FieldViolation(field, _NOT_OURS)])
    issuer, listing = position.pop(_LISTING_KEY, None), LISTING.get()
    # A token naming no listing was made outside a call (or before tokens named theirs): it is read as before.
    if issuer is not None and listing and issuer != listing:
        raise invalid_argument([FieldViolation(field, f"is a page token of {str(issuer)[:80]}, not of {listing}: "
                                                      f"pass the next_page_token that {listing} returned")])
    return position


def time_keyset_token(time: dt.datetime, row_id: object) -> str:
    """A token resuming after the row with this (time, id): lists ordered newest first by time, then id."""
    return encode_token({"t": time.isoformat(), "i": str(row_id)})


def time_keyset_after(token: str, parse_id: Callable[[object], RowId],
                      field: str = "page_token") -> tuple[dt.datetime, RowId] | None:
    """The (time, id) a :func:`time_keyset_token` encodes; None for the first page; INVALID_ARGUMENT for a token
    that is not one (``parse_id`` raising ValueError rejects a malformed id)."""
    position = decode_token(token, field)
    if position is None:
        return None
    try:
        time, row_id = dt.datetime.fromisoformat(position["t"]), parse_id(position["i"])
        if time.tzinfo is None:
            raise ValueError("a naive time")
        # A tampered offset can put the instant outside datetime's range (year 0 or 10000): the driver
        # would fail converting it to UTC, so it is converted here, where that failure is bad input.
        time = time.astimezone(dt.UTC)
    except (KeyError, TypeError, ValueError, OverflowError):
        raise invalid_argument([FieldViolation(field, _NOT_OURS)]) from None
    return time, row_id


#: Longer than any row id the platform issues; a token claiming a longer one was not issued here.
MAX_TEXT_ID = 128


def text_id(value: object) -> str:
    """A row id kept as text (for :func:`time_keyset_after`): bounded and printable, since a tampered token's id
    goes to PostgreSQL, whose text cannot hold NUL."""
    if not isinstance(value, str):
        raise TypeError("the id is not text")
    if len(value) > MAX_TEXT_ID or not value.isprintable():
        raise ValueError("not an id the platform issues")
    return value


MAX_BIGINT = 2**63 - 1


def bigint_id(value: object) -> int:
    """A bigserial row id (for :func:`time_keyset_after`): a tampered token's id out of PostgreSQL's bigint range
    would fail in the driver as INTERNAL, so it is refused here as a token that was not issued."""
    row_id = int(value)  # type: ignore[call-overload]
    if isinstance(value, bool) or not 0 <= row_id <= MAX_BIGINT:
        raise ValueError("not an id the platform issues")
    return row_id
