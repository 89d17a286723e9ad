"""Opaque page tokens (AIP-158) and page-size rules shared by every List RPC."""

from __future__ import annotations

import asyncio
import base64
import contextvars
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from services.runtime.errors import FieldViolation, invalid_argument

RowId = TypeVar("RowId")
NOT_ISSUED = "is not a token returned by a previous call"
_NOT_OURS = NOT_ISSUED

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000

#: What a token is bound to and signed with: a call's listing (``Service/Method``), and the key of the platform.
@dataclass(frozen=True, slots=True)
class TokenScope:
    """The listing a server method serves and the key its tokens are signed with (one per method, built once)."""

    listing: str
    key: bytes
    #: Keys of GOVSHARE_INTERNAL_KEY's previous keys during its rotation: their tokens are still read, so a listing
    #: paged across the rollout that changes the signing key goes on (tokens are issued with ``key`` only).
    previous: tuple[bytes, ...] = ()


#: The call being served (its scope, its request and its grpc context), set by the server for every call. The
#: context tells the caller's time to what reads it on a slow path only (time_remaining: a query waiting for a
#: provider). Its tokens name its listing, so one listing's token is refused by another instead of resuming it at
#: whatever position the other listing makes of it (ListSystems took ListPersons' token and answered a page,
#: silently skipping rows); they are bound to the request's filters and order, so a token used with other filters
#: is refused instead of answering a page of the old listing; and they are signed, so an edited token is refused
#: before its position is read.
CALL: contextvars.ContextVar[tuple[TokenScope, Any, Any] | None] = contextvars.ContextVar("page_token_call",
                                                                                          default=None)
_LISTING_KEY = "l"
_BINDING_KEY = "b"
_CALLER_KEY = "w"
#: The request fields a token does not depend on (AIP-158: a caller may change the page size between pages).
_UNBOUND_FIELDS = ("page_size", "page_token")
_MAC_BYTES = 16
OTHER_REQUEST = "belongs to a request with other filters or order: start again without a page token"
OTHER_CALLER = ("was issued to another caller (a link or a token passed on): page with the tokens your own calls "
                "return, starting again without a page token")
#: The caller the call being served was verified as (``verified``); "" before that, or outside a call.
_CALLER: contextvars.ContextVar[str] = contextvars.ContextVar("page_token_caller", default="")


def token_key(internal_key: bytes) -> bytes:
    """The key page tokens are signed with, derived from the platform's internal key (the same in every replica of
    every service, so any replica resumes another's token; during a rotation, TokenScope.previous reads the
    tokens of the keys listed after the first)."""
    return hmac.new(internal_key, b"govshare page tokens v1", hashlib.sha256).digest()


def serving(scope: TokenScope, request: object, context: Any = None) -> contextvars.Token:
    """Makes ``request`` of ``scope`` the call the tokens issued and read from here on belong to; ``context``, its
    grpc context (one tuple as before: a call pays nothing more for it). Its caller is not known until verified."""
    _CALLER.set("")
    return CALL.set((scope, request, context))


#: The caller's own deadline of the stream being served (the event loop's clock), when the edge passed it on
#: (services.runtime.server.callers_deadline): its context's deadline is then the edge's hour-long cap. Set by the
#: server for streams only; read by :func:`time_remaining`, on slow paths only.
STREAM_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("stream_deadline", default=None)


def time_remaining() -> float | None:
    """Seconds left before the deadline of the call being served; None when it has none, or outside a call."""
    call = CALL.get()
    context = call[2] if call is not None else None
    remaining = context.time_remaining() if context is not None else None
    deadline = STREAM_DEADLINE.get()
    if deadline is None:
        return remaining
    left = deadline - asyncio.get_running_loop().time()
    return left if remaining is None else min(remaining, left)


def bind_tokens_to(request: object) -> None:
    """Binds the tokens the call being served issues and reads from here on to ``request`` in place of the request
    received: a listing whose filter may be written in several forms that name one thing (a 公民身份号码 with x or X,
    in full-width digits, or its 15-digit form) binds the form it reads, so that a page token issued for one form
    resumes the same listing given another. Outside a call, nothing."""
    call = CALL.get()
    if call is not None:
        CALL.set((call[0], request, call[2]))


def _binding(key: bytes, request: object) -> str:
    """A digest of what a listing depends on: the request without its page size and token. Keyed, since tokens
    travel in URLs and logs and a request may hold a 公民身份号码 (ListSubjectAccesses): a plain hash of so few
    possible values would give it back to whoever tried them all."""
    descriptor = getattr(request, "DESCRIPTOR", None)
    if descriptor is None:
        return ""
    bound = type(request)()
    bound.CopyFrom(request)  # type: ignore[attr-defined]
    for name in _UNBOUND_FIELDS:
        if name in descriptor.fields_by_name:
            bound.ClearField(name)
    return hmac.new(key, bound.SerializeToString(deterministic=True), hashlib.sha256).hexdigest()[:16]


def verified(caller_id: str) -> None:
    """Tells the tokens of the call being served whom they are issued to and read for: the verifier calls it with
    the caller it verified (a system's or a person's id). Each call is served in its own task, so this names that
    call's caller only."""
    _CALLER.set(caller_id)


def _caller_binding(key: bytes) -> str | None:
    """A digest of the caller a token is issued to (None: no verified caller, as in a test or tool). A token is a
    position in the caller's own listing: another caller's rows are not those, so a token passed on (a console
    link sent to a colleague of another department, a token kept by a shared job) resumed the other's listing at
    its position, skipping the rows before it without a word (another department's page after a page-3 token of
    ListApplications was empty, though it had an application)."""
    caller = _CALLER.get()
    return _mac(key, f"caller:{caller}") if caller else None


def _mac(key: bytes, payload: str) -> str:
    digest = hmac.new(key, payload.encode(), hashlib.sha256).digest()[:_MAC_BYTES]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def page_size_violations(requested: int, field: str = "page_size") -> list[FieldViolation]:
    """What is wrong with a requested page size, for RPCs that report it with their other violations."""
    return [FieldViolation(field, "must not be negative")] if requested < 0 else []


def page_size(requested: int, field: str = "page_size") -> int:
    """The effective page size: 0 means the default, negatives are bad input, large ones are capped."""
    violations = page_size_violations(requested, field)
    if violations:
        raise invalid_argument(violations)
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def encode_token(position: dict, listing: str | None = None) -> str:
    """A token that resumes listing after ``position`` (e.g. the last row's sort key). Issued in a call, it names
    the call's listing (or ``listing``, for a token another method reads, such as a job's resume token), is bound
    to the call's request (not when ``listing`` is given) and is signed."""
    call = CALL.get()
    if call is None:
        return _b64(position)
    scope, request, _ = call
    header = {_LISTING_KEY: listing} if listing else {_LISTING_KEY: scope.listing,
                                                      _BINDING_KEY: _binding(scope.key, request)}
    if not listing and (caller := _caller_binding(scope.key)) is not None:
        header[_CALLER_KEY] = caller
    payload = _b64({**header, **position})
    return f"{payload}.{_mac(scope.key, payload)}"


def _b64(position: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode()


def decode_token(token: str, field: str = "page_token", listing: str | None = None) -> dict | None:
    """The position a token encodes; None for the first page; INVALID_ARGUMENT for a token this listing did not
    issue (garbage, edited, another listing's, or ``listing``'s when given) or issued for other filters."""
    if not token:
        return None
    call = CALL.get()
    payload = token
    key = b""
    if call is not None:
        payload, _, mac = token.rpartition(".")
        key = next((key for key in (call[0].key, *call[0].previous)
                    if payload and hmac.compare_digest(mac.encode(), _mac(key, payload).encode())), b"")
        if not key:
            raise invalid_argument([FieldViolation(field, _NOT_OURS)])
    try:
        position = json.loads(base64.urlsafe_b64decode(payload.encode()))
    except (ValueError, UnicodeDecodeError):
        raise invalid_argument([FieldViolation(field, _NOT_OURS)]) from None
    if not isinstance(position, dict):
        raise invalid_argument([FieldViolation(field, _NOT_OURS)])
    issuer, binding = position.pop(_LISTING_KEY, None), position.pop(_BINDING_KEY, None)
    issued_to = position.pop(_CALLER_KEY, None)
    if call is None:  # outside a call (tests, tools): read as it is
        return position
    scope, request, _ = call
    expected = listing or scope.listing
    if issuer != expected:
        raise invalid_argument([FieldViolation(field, f"is a page token of {str(issuer)[:80]}, not of {expected}: "
                                                      f"pass the next_page_token that {expected} returned")])
    # A token issued before tokens named their caller (a listing paged across the upgrade) names none: read it.
    if listing is None and issued_to is not None and issued_to != _caller_binding(key):
        raise invalid_argument([FieldViolation(field, OTHER_CALLER)], reason="PAGE_TOKEN_MISMATCH")
    if listing is None and binding != _binding(key, request):
        raise invalid_argument([FieldViolation(field, OTHER_REQUEST)], reason="PAGE_TOKEN_MISMATCH")
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
