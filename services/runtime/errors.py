"""Domain errors and their mapping to rich gRPC statuses (google.rpc.Status).

Domain and store code raise :class:`ServiceError`; the server's error interceptor
turns it into a status carrying an ``ErrorInfo`` (UPPER_SNAKE reason, the service
as domain) and, for bad input, one ``BadRequest`` listing every field violation,
so a caller can fix every problem of a request in one round trip.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import inspect
import unicodedata
import weakref
from collections.abc import Awaitable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import asyncpg
import grpc
import redis.exceptions
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from services.runtime.identifiers import mask_citizen_ids
from services.runtime.masking import Masker

DOMAIN_SUFFIX = "govshare"
#: What an UNAVAILABLE tells a caller to wait before retrying (google.rpc.RetryInfo), unless it says otherwise.
RETRY_AFTER_SECONDS = 1.0


@dataclass
class FieldViolation:
    """One problem with one request field (``field`` is a dotted path, e.g. ``entry.items[2].name``)."""

    field: str
    description: str


#: Letters drawn as nothing: the Hangul fillers (U+115F, U+1160, U+3164 and its half-width U+FFA0) are letters to
#: Unicode (Lo), so a name or a reason of nothing but ㅤ counted as saying something and was shown as a blank.
BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")


def says_something(text: str) -> bool:
    """Whether free text holds a letter or a digit: a refusal, a return or an answer of "。", "-", a zero-width
    space or a Hangul filler is no reason anyone can act on, so where a reason is required it must say something."""
    return any(unicodedata.category(character)[0] in "LN" and character not in BLANK_LETTERS for character in text)


def reason_violation(field: str, value: str, limit: int, why: str) -> FieldViolation | None:
    """A reason that is required: bounded, free of NUL, saying something (``why`` tells what to write), and free of
    invisible formatting characters (:func:`hidden_formatting`; a reason of nothing but a zero-width space is told
    to say something, which is what it lacks)."""
    if (violation := text_violation(field, value, limit, required=True, own_invisible_check=True)) is not None:
        if violation.description == "is required":
            violation.description = f"is required: {why}"
        return violation
    if not says_something(value):
        return FieldViolation(field, f"holds no word, only punctuation or symbols: {why}")
    if (problem := hidden_formatting(value)) is not None:
        return FieldViolation(field, f"{HIDDEN_FORMATTING}: {problem}")
    return None


def text_violation(field: str, value: str, limit: int, required: bool = False,
                   own_invisible_check: bool = False) -> FieldViolation | None:
    """Free text a caller sends to be stored: bounded (refused, not cut, so what is stored is what was sent), free
    of NUL, which PostgreSQL text cannot hold (it would fail in the database as INTERNAL), and of the invisible
    formatting and control characters :func:`hidden_formatting` names, unless the caller checks what nobody sees
    in its own words after this (``own_invisible_check``: a one-line text, an action's name)."""
    if required and not value.strip():
        return FieldViolation(field, "is required")
    if len(value) > limit:
        return FieldViolation(field, f"must be at most {limit} characters, got {len(value)}")
    if "\x00" in value:
        return FieldViolation(field, "must not contain NUL characters")
    if not own_invisible_check and (problem := hidden_formatting(value)) is not None:
        return FieldViolation(field, f"{HIDDEN_FORMATTING}: {problem}")
    return None


#: What a refusal of :func:`hidden_formatting` says first (console/errors.py says it in Chinese).
HIDDEN_FORMATTING = "must not contain invisible formatting or control characters"

#: How free text of several lines is laid out: a line break (LF; CRLF as a browser's form sends it) and a tab.
_LAYOUT = frozenset("\t\n\r")


def hidden_formatting(text: str) -> str | None:
    """Where free text holds a character that shows nothing itself but changes what is shown or matched: a
    direction override or isolate (U+202A–U+202E, U+2066–U+2069: 审核<U+202E>1000-6202 is shown as 审核2026-0001, the
    "Trojan Source" trick, to the provider, the authority and in the audit trail), a direction mark, a zero-width
    space, joiner or word joiner, a soft hyphen, a byte-order mark, an escape or another control character. Which
    one, where and what to do; None when it holds none. Line breaks and tabs lay out text of several lines and are
    kept; a full-width space (U+3000) and every CJK character are visible and taken. The text itself is not quoted
    (it may name a person)."""
    if text.isprintable():
        return None
    for position, character in enumerate(text, 1):
        if character in _LAYOUT:
            continue
        category = unicodedata.category(character)
        if category in ("Cc", "Cf"):
            name = unicodedata.name(character, "a control character" if category == "Cc" else category)
            return f"character {position} is U+{ord(character):04X} ({name}): remove it"
    return None


#: Unicode categories of characters nobody sees in a line of text: controls (a line break, a tab, an escape),
#: formatting characters (a zero-width space, a right-to-left override) and the line and paragraph separators.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


def invisible_character(text: str) -> str | None:
    """Where ``text`` holds a character nobody sees in one line (a line break, a tab, an escape, a zero-width space,
    a right-to-left override), which and what to do; None when it holds none. A full-width space is visible and
    taken. The text itself is not quoted (it may name a person). ``str.isprintable`` answers most texts at C speed;
    only one it refuses (a full-width space is not "printable" to it) is read character by character."""
    if text.isprintable():
        return None
    for position, character in enumerate(text, 1):
        category = unicodedata.category(character)
        if category in _INVISIBLE_CATEGORIES:
            name = unicodedata.name(character, "a control character" if category == "Cc" else category)
            breaks = character in "\t\n\r\v\f\x85" or category in ("Zl", "Zp")
            advice = "write it on one line" if breaks else "remove it"
            return f"character {position} is U+{ord(character):04X} ({name}): {advice}"
    return None


def one_line(text: str) -> str:
    """``text`` with each character nobody sees in one line (invisible_character's) written U+FFFD, as a record
    shown on one line holds it."""
    if text.isprintable():
        return text
    return "".join("\ufffd" if unicodedata.category(c) in _INVISIBLE_CATEGORIES else c for c in text)


def written_otherwise(name: str) -> tuple[str, str] | None:
    """``name`` as it was most likely meant, and why it differs, when it holds a character nobody sees (a
    zero-width space, a direction mark, a tab, copied with it from a document or a web page) or is written in
    full-width forms (ｂｉｒｔｈ_ｄａｔｅ, typed with a Chinese input method); None when it is as plain as it looks.
    A refusal naming ``'birth​_date'`` shows a name that looks right: this says what is wrong with it."""
    if (hidden := invisible_character(name)) is not None:
        plain = "".join(c for c in name if unicodedata.category(c) not in _INVISIBLE_CATEGORIES)
        return unicodedata.normalize("NFKC", plain), f"it holds a character nobody sees: {hidden}"
    plain = unicodedata.normalize("NFKC", name)
    if plain != name:
        return plain, "it is written in full-width characters (全角)"
    return None


def one_line_violation(field: str, text: str) -> FieldViolation | None:
    """A text shown as one line (a declared purpose: in the access list, its CSV, an application's card, a
    terminal) holding a character nobody sees there, said on ``field``; None when it holds none. Query's
    purpose.text and an application's purpose_text are read by the same rule, so a text an application was
    accepted with is one its queries may declare."""
    if (problem := invisible_character(text)) is None:
        return None
    return FieldViolation(field, f"must be one line of visible text: {problem}")


def one_line_break(text: str) -> str:
    """``text`` with each line break written as one LF. A browser submits a textarea's line breaks as CRLF (the HTML
    form encoding), while the console's own count (console.js) and a business system's API call write LF: free
    text of several lines (a catalog entry's summary, a mandate change's description, a dispute's evidence or
    answer) is stored and counted so, or a text the form counted within its limit was refused as longer (each line
    break twice), and the same text sent from the console and from the API was two texts."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


@dataclass
class ServiceError(Exception):
    """An expected failure with the status, reason and message the caller should see."""

    code: grpc.StatusCode
    reason: str
    message: str
    violations: list[FieldViolation] = field(default_factory=list)
    metadata: Mapping[str, str] = field(default_factory=dict)
    #: Seconds the caller should wait before retrying, sent as google.rpc.RetryInfo (None: no hint).
    retry_after: float | None = None

    def __post_init__(self) -> None:
        # Every UNAVAILABLE tells the caller when to come back, whoever raised it.
        if self.code == grpc.StatusCode.UNAVAILABLE and self.retry_after is None:
            self.retry_after = RETRY_AFTER_SECONDS

    def __str__(self) -> str:
        return f"{self.code.name} {self.reason}: {self.message}"


# Errors travel in gRPC trailers, which clients refuse past 8 KiB (and the message is percent-encoded:
# a Chinese character takes 9 bytes). A request with thousands of bad values must still get its
# INVALID_ARGUMENT, so the violations, their texts and the message are bounded.
MAX_VIOLATIONS = 25
MAX_VIOLATION_TEXT = 200
MAX_DETAIL_BYTES = 3000
MESSAGE_VIOLATIONS = 3


def _bounded(text: str) -> str:
    return text if len(text) <= MAX_VIOLATION_TEXT else text[:MAX_VIOLATION_TEXT - 1] + "…"


def _within_budget(violations: Iterable[FieldViolation]) -> list[FieldViolation]:
    """The first violations that fit the trailer budget, and one more saying how many were left out."""
    kept: list[FieldViolation] = []
    size = 0
    pending = [FieldViolation(_bounded(v.field), _bounded(v.description)) for v in violations]
    for index, violation in enumerate(pending):
        size += len(violation.field.encode()) + len(violation.description.encode()) + 8
        if len(kept) == MAX_VIOLATIONS - 1 or size > MAX_DETAIL_BYTES:
            left = len(pending) - index
            if left == 1 and size <= MAX_DETAIL_BYTES:
                kept.append(violation)
            else:
                kept.append(FieldViolation("request", f"{left} more problems not listed"))
            break
        kept.append(violation)
    return kept


def invalid_argument(violations: Iterable[FieldViolation], reason: str = "INVALID_ARGUMENT") -> ServiceError:
    """Bad input: INVALID_ARGUMENT with every violation in BadRequest (as many as a trailer holds, and how
    many more), the first few of them in the message."""
    items = _within_budget(violations)
    message = "; ".join(f"{v.field}: {v.description}" for v in items[:MESSAGE_VIOLATIONS]) or "invalid request"
    if len(items) > MESSAGE_VIOLATIONS:
        message += f" (and {len(items) - MESSAGE_VIOLATIONS} more: see the BadRequest details)"
    return ServiceError(grpc.StatusCode.INVALID_ARGUMENT, reason, message, items)


def not_found(what: str, reason: str = "NOT_FOUND") -> ServiceError:
    return ServiceError(grpc.StatusCode.NOT_FOUND, reason, f"{what} not found")


def permission_denied(reason: str, message: str, **metadata: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.PERMISSION_DENIED, reason, message, metadata=metadata)


def failed_precondition(reason: str, message: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.FAILED_PRECONDITION, reason, message)


def already_exists(what: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.ALREADY_EXISTS, "ALREADY_EXISTS", f"{what} already exists")


def unauthenticated(message: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED", message)


def unavailable(reason: str, message: str, retry_after: float = RETRY_AFTER_SECONDS,
                **metadata: str) -> ServiceError:
    """A dependency (a database, Redis, another service) is down: UNAVAILABLE with a RetryInfo hint."""
    return ServiceError(grpc.StatusCode.UNAVAILABLE, reason, message, metadata=metadata, retry_after=retry_after)


# PostgreSQL classes 08 (connection exception), 53 (insufficient resources: too many connections, disk full)
# and 57 (operator intervention: shutdown, cannot connect now, cancelled) say the server is down or
# overloaded, never that the request was wrong.
_POSTGRES_DOWN = (asyncpg.exceptions.PostgresConnectionError, asyncpg.exceptions.OperatorInterventionError,
                  asyncpg.exceptions.InsufficientResourcesError)
_REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
_CHANNEL_DOWN = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


def _causes(error: BaseException, depth: int = 8) -> Iterator[BaseException]:
    """``error``, what it was raised from or while handling, and the members of exception groups."""
    seen: set[int] = set()
    pending = [error]
    while pending and len(seen) < depth:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        for linked in (current.__context__, current.__cause__):
            if linked is not None:
                pending.append(linked)


def dependency_failure(error: BaseException) -> tuple[str, BaseException] | None:
    """Which dependency ``error`` says is down or unreachable (``postgresql``, ``redis``, ``service``,
    ``network``) and the exception that says so, or None when it is not a dependency failure.

    A dependency that is down is UNAVAILABLE, never INTERNAL, wherever it surfaces: asyncpg's connection,
    shutdown and resource errors, an ``InterfaceError`` on a closed connection or a closing pool, a pool
    acquisition timeout (``TimeoutError``), a refused or reset socket (``OSError``), Redis connection errors
    and timeouts, and an outgoing gRPC call that failed UNAVAILABLE or DEADLINE_EXCEEDED. The error's
    cause and context are looked at too, since cleanup code often raises while handling the real failure.

    Whatever the server answers while a connection is being opened is the database refusing the service, not
    a fault of the call: e.g. 55000 "database … is not currently accepting connections" (a DBA's ``ALTER
    DATABASE … ALLOW_CONNECTIONS false`` for maintenance) or a password changed under the service (28P01).
    The same SQLSTATEs raised by a statement stay INTERNAL: there they are a bug. The warning logged names
    the server's words, so an operator can tell an outage from a misconfiguration.
    """
    for current in _causes(error):
        if isinstance(current, _POSTGRES_DOWN):
            return "postgresql", current
        if isinstance(current, asyncpg.PostgresError) and "asyncpg.connect_utils" in _modules(current):
            return "postgresql", current
        if isinstance(current, asyncpg.exceptions.InterfaceError) and "clos" in str(current):
            return "postgresql", current
        if isinstance(current, asyncpg.exceptions.InternalClientError) and "cannot switch to state" in str(current):
            # A pooled connection the server ended (pg_terminate_backend, a DBA closing the database) while
            # asyncpg was still reading the server's FATAL message: the next statement on it finds the protocol
            # busy ("cannot switch to state 12; another operation (2) is in progress"). The pool replaces it.
            return "postgresql", current
        if isinstance(current, _REDIS_DOWN):
            return "redis", current
        if isinstance(current, grpc.aio.AioRpcError) and current.code() in _CHANNEL_DOWN:
            return "service", current
        if isinstance(current, OSError):
            return _raised_in(current), current
    return None


#: What a missing Unix socket of PostgreSQL means: asyncpg raises it as a bare FileNotFoundError ("[Errno 2] No
#: such file or directory", no file named), which reads as a file of the service's own configuration missing.
#: (redis-py says it in a ConnectionError of its own, naming the socket.)
_NO_POSTGRES_SOCKET = ("no PostgreSQL socket there: the URL's host=<directory> and port name a server's socket "
                       "(.s.PGSQL.<port>), and none is in it (is the server started, the directory and port right?)")


def describe_outage(dependency: str, cause: BaseException) -> str:
    """One line naming why ``dependency`` (as dependency_failure names it) could not be reached: describe's, but a
    PostgreSQL socket that is not there said as such."""
    if isinstance(cause, FileNotFoundError) and dependency == "postgresql":
        return _NO_POSTGRES_SOCKET
    return describe(cause)


def statement_over_budget(error: BaseException) -> ServiceError | None:
    """FAILED_PRECONDITION when ``error`` is (or was raised from) a statement cancelled by its budget.

    A listing or search that would walk too many rows is the request's doing, not an outage: the caller is
    told to narrow the filter (or to page with a smaller page size), not to retry the same request, and it
    never sees INTERNAL. SQLSTATE 57014 (``QueryCanceledError``) is the statement_timeout of the listing and
    search pools (db.WorkPools), or a cancel request (an operator's ``pg_cancel_backend``): either way the
    statement ran longer than it was allowed. It is matched by class, not by message, since the server's
    messages may be translated (lc_messages); a shutdown (57P01) or a connection loss stays a dependency failure.
    """
    for current in _causes(error):
        if isinstance(current, asyncpg.exceptions.QueryCanceledError):
            return failed_precondition(
                "STATEMENT_OVER_BUDGET",
                "the request would read more rows than one call may: narrow the filter or use a smaller page_size")
    return None


#: What PostgreSQL says of text it cannot hold: 22021 (a NUL character) and 22P05 (no equivalent in its encoding).
_UNSTORABLE_TEXT = (asyncpg.exceptions.CharacterNotInRepertoireError,
                    asyncpg.exceptions.UntranslatableCharacterError)


def text_not_storable(error: BaseException) -> ServiceError | None:
    """INVALID_ARGUMENT when ``error`` is PostgreSQL refusing a text the caller sent (a NUL character).

    Text that is stored is checked field by field before it gets there (:func:`text_violation`); this is the
    net for a field that is not (a listing's filter, say), so the caller is told what to fix, not INTERNAL.
    """
    for current in _causes(error):
        if isinstance(current, _UNSTORABLE_TEXT):
            return invalid_argument([FieldViolation("request", "a text field contains a NUL character (U+0000), "
                                                               "which no text field may hold: remove it")])
    return None


def _modules(error: BaseException) -> list[str]:
    """The modules ``error``'s traceback went through, outermost first."""
    modules = []
    frame = error.__traceback__
    while frame is not None:
        modules.append(frame.tb_frame.f_globals.get("__name__", ""))
        frame = frame.tb_next
    return modules


def _raised_in(error: BaseException) -> str:
    """The client library a socket error came from (a missing unix socket is a FileNotFoundError), by the
    modules its traceback went through; ``network`` when none of them is known."""
    origin = "network"
    for module in _modules(error):
        if module.startswith("asyncpg"):
            origin = "postgresql"
        elif module.startswith("redis"):
            origin = "redis"
    return origin


#: A module whose coroutines wait on a dependency without its client library's frames under them (the query
#: service's audit trail: a call awaits a future the writer's statement resolves) says which in this global: the
#: dependency's name, or a function of the suspended frame naming it or None (the heavy-read gate: a call waiting
#: for a slot waits on whatever the calls holding the slots wait on).
WAITS_ON = "WAITS_ON"


#: The awaitables an ``async for`` (``__anext__``/``asend``), an ``async with`` over an asynccontextmanager
#: (``__aexit__`` throws into its generator) and ``anext()`` hand to their caller. They have no frame and no
#: attribute leading on to the async generator they drive, which their references hold.
_ASYNC_GENERATOR_STEPS = frozenset({"async_generator_asend", "async_generator_athrow", "anext_awaitable"})


def _driven_generator(awaited: object) -> object | None:
    """The async generator (or coroutine) an ``async_generator_asend``/``athrow``/``anext_awaitable`` drives, found
    among the objects it refers to (an ``anext_awaitable`` holds the step its generator's ``__anext__`` gave);
    None for any other awaitable."""
    for _ in range(4):  # anext_awaitable -> async_generator_asend -> the generator
        if type(awaited).__name__ not in _ASYNC_GENERATOR_STEPS:
            return None
        referents = gc.get_referents(awaited)
        driven = next((r for r in referents if inspect.isasyncgen(r) or inspect.iscoroutine(r)), None)
        if driven is not None:
            return driven
        awaited = next((r for r in referents if type(r).__name__ in _ASYNC_GENERATOR_STEPS), None)
    return None


def waiting_on(task: asyncio.Task | Awaitable[object]) -> str | None:
    """The dependency (``postgresql``, ``redis``) ``task`` is suspended waiting on, by the modules of the coroutines
    it is suspended in (following the tasks it awaits, and the async generators an ``async for`` or an
    ``async with`` over an asynccontextmanager waits in), innermost known one first; None when none is known (its
    own work, a call to another service, which has its own deadline).

    The chain of awaits stopped at an async generator's step, which has no frame: a handler waiting on a hung
    PostgreSQL inside one (a refused read logged in an asynccontextmanager's exit, a verification reading a chain
    with ``async for``) was taken for busy with its own work and left to the caller's deadline, DEADLINE_EXCEEDED
    naming nothing. Called when a call's time is up, never on the way of one answered in time."""
    origin = None
    awaited: object = task.get_coro() if isinstance(task, asyncio.Task) else task
    for _ in range(256):  # a chain of awaits is finite; the bound only keeps a cycle from looping forever
        if isinstance(awaited, asyncio.Task):
            awaited = awaited.get_coro()
        awaited = _driven_generator(awaited) or awaited
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None) \
            or getattr(awaited, "ag_frame", None)
        if frame is None:
            break
        module = frame.f_globals.get("__name__", "")
        if module.startswith("asyncpg"):
            origin = "postgresql"
        elif module.startswith("redis"):
            origin = "redis"
        elif waits_on := frame.f_globals.get(WAITS_ON):
            origin = (waits_on(frame) if callable(waits_on) else waits_on) or origin
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None) \
            or getattr(awaited, "ag_await", None)
    return origin


#: The tasks of calls given up as hung on a dependency (answered UNAVAILABLE naming it, and cancelled) whose
#: cleanup has not ended yet.
_GIVEN_UP: weakref.WeakSet[asyncio.Task] = weakref.WeakSet()


def give_up_as_hung(task: asyncio.Task) -> None:
    """Marks ``task`` as a call given up because it waited on a hung dependency, before it is cancelled."""
    _GIVEN_UP.add(task)


def given_up_as_hung(task: asyncio.Task | None) -> bool:
    """Whether ``task`` runs a call given up as hung: what it spent waiting was not work (the heavy-read gate does
    not charge it to the reads' share of time)."""
    return task is not None and task in _GIVEN_UP


def dependency_unavailable(dependency: str) -> ServiceError:
    """The status a caller gets when ``dependency`` is down; it names no address, host or query."""
    return unavailable("DEPENDENCY_UNAVAILABLE", f"a dependency of the service ({dependency}) is unavailable; "
                       "retry with backoff", dependency=dependency)


def describe(error: BaseException, limit: int = 200) -> str:
    """One bounded line naming an exception, for a warning without a traceback. A failed call is its status
    and message ("UNAVAILABLE: failed to connect…"): grpc's own text of it is a multi-line dump whose first
    200 characters said little more than "<AioRpcError of RPC that terminated with"."""
    if isinstance(error, grpc.RpcError) and callable(getattr(error, "code", None)):
        code = error.code()  # type: ignore[attr-defined]
        text = f"{getattr(code, 'name', code)}: {error.details() or ''}"  # type: ignore[attr-defined]
        name = "gRPC call failed"
    else:
        text, name = str(error), type(error).__name__
    text = text.replace("\n", " ")
    if len(text) > limit:
        text = text[:limit - 1] + "…"
    return f"{name}: {text}" if text else name


def _pack(detail: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(detail)  # type: ignore[arg-type]
    return packed


def retry_info(seconds: float) -> error_details_pb2.RetryInfo:
    """A google.rpc.RetryInfo asking the caller to wait ``seconds`` (at least a millisecond)."""
    seconds = max(seconds, 0.001)
    return error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(
        seconds=int(seconds), nanos=int((seconds % 1) * 1e9)))


def to_status(error: ServiceError, service: str) -> grpc.Status:
    """The grpc.Status (with rich details in trailing metadata) for a ServiceError."""
    return rpc_status.to_status(status_of(error, service))


@functools.cache
def _citizen_id_masker() -> Masker:
    return Masker()


def masked(text: str) -> str:
    """``text`` with every 公民身份号码 in it masked by the citizen_id rule (342322********0454).

    A refusal quotes the caller's value ("id: '342322194911060454' is not a well-formed person id"), and a
    status does not stay with its caller: its message is the span's status, the console shows it to whoever
    is signed in, a client or the edge logs it. The value is the caller's own, who knows it; a masked one
    still says which of their values it was."""
    return mask_citizen_ids(text, lambda number: _citizen_id_masker().mask(number, "citizen_id"))


def status_of(error: ServiceError, service: str) -> status_pb2.Status:
    """The google.rpc.Status of a ServiceError: its ErrorInfo (domain ``<service>.govshare``), BadRequest and
    RetryInfo. (The edge renders one into Envoy's own replies, which no Python code sends.) This is the one exit
    of every refusal, so every 公民身份号码 its texts quote is masked here (see :func:`masked`), a violation's
    field too: a map's entry is named by its key (claims["…"]), which a caller may have written a number into."""
    details: list[any_pb2.Any] = []
    info = error_details_pb2.ErrorInfo(
        reason=error.reason, domain=f"{service}.{DOMAIN_SUFFIX}",
        metadata={key: masked(value) for key, value in error.metadata.items()}
    )
    packed = any_pb2.Any()
    packed.Pack(info)
    details.append(packed)
    if error.violations:
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=masked(v.field), description=masked(v.description))
                for v in error.violations
            ]
        )
        packed = any_pb2.Any()
        packed.Pack(bad)
        details.append(packed)
    if error.retry_after is not None:
        details.append(_pack(retry_info(error.retry_after)))
    return status_pb2.Status(code=error.code.value[0], message=masked(error.message), details=details)


def internal_status(service: str, incident: str) -> grpc.Status:
    """A generic INTERNAL status that leaks nothing but an incident id to find the log line."""
    info = error_details_pb2.ErrorInfo(reason="INTERNAL", domain=f"{service}.{DOMAIN_SUFFIX}",
                                       metadata={"incident": incident})
    packed = any_pb2.Any()
    packed.Pack(info)
    status = status_pb2.Status(code=code_pb2.INTERNAL, message=f"internal error (incident {incident})",
                               details=[packed])
    return rpc_status.to_status(status)


def retry_info_of(error: grpc.RpcError) -> error_details_pb2.RetryInfo | None:
    """The RetryInfo a failed call carried, if any."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            return info
    return None


def details_of(error: grpc.RpcError) -> tuple[error_details_pb2.ErrorInfo | None, error_details_pb2.BadRequest | None]:
    """The ErrorInfo and BadRequest a failed call carried, for clients and tests."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    info = bad = None
    if status is None:
        return None, None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
    return info, bad
