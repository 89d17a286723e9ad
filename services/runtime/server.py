"""The one gRPC server every govshare process runs.

``start_server`` builds a grpc.aio server around a :class:`Component` (the
service's servicers and the resources they need), with the standard health
service (NOT_SERVING until the component's dependencies are ready and again
while draining), server reflection, rich error mapping, per-RPC metrics and
OpenTelemetry spans. ``serve`` is the process entry point: uvloop, settings
from the environment, worker processes sharing the port with SO_REUSEPORT, and
a graceful drain on SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf import message as protobuf_message
from google.protobuf.descriptor import Descriptor, FileDescriptor
from google.protobuf.internal.decoder import _DecodeVarint as _decode_varint
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.trace.status import Status, StatusCode

from services.runtime import db, telemetry, tls_renewal
from services.runtime.errors import (
    FieldViolation,
    ServiceError,
    dependency_failure,
    dependency_unavailable,
    describe,
    describe_outage,
    give_up_as_hung,
    internal_status,
    invalid_argument,
    statement_over_budget,
    text_not_storable,
    to_status,
    waiting_on,
)
from services.runtime.pagination import STREAM_DEADLINE, TokenScope, serving, token_key
from services.runtime.settings import Settings, SettingsError, load, tls_file_problems
from services.runtime.supervision import STOP_AT_ONCE
from services.runtime.tasks import cancel

log = logging.getLogger(__name__)

#: Request metadata a server takes. The edge accepts 60 KiB of request headers (Envoy's default, set in
#: gateway/edge.py) and forwards a REST call's path again in ``x-envoy-original-path``: with gRPC's own limits
#: (8 KiB soft, 16 KiB hard) a search URL of 9 KB the edge had accepted failed in the backend as
#: RESOURCE_EXHAUSTED (HTTP 429, read as a rate limit) instead of reaching the check that names the field.
#: gRPC counts each header 32 bytes more than its name and value, and the edge takes up to 1,000 headers
#: (gateway.edge.MAX_REQUEST_HEADERS): twice 60 KiB and 1,000 x 32 bytes are within 256 KiB.
MAX_METADATA_BYTES = 256 * 1024
#: The largest message a server takes (a LoadRecords of 5,000 long 法人单位 is refused above it, docs/api.md); the
#: edge converts replies up to this size to JSON (gateway/edge.py).
MAX_MESSAGE_BYTES = 8 * 1024 * 1024

# Keepalive and connection age let Kubernetes rebalance long-lived HTTP/2 connections: each connection's end makes
# the calling service's channel resolve this service's name again (services.runtime.clients), which is how it learns
# of pods added since.
SERVER_OPTIONS = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.max_connection_age_ms", 300_000),
    ("grpc.max_connection_age_grace_ms", 30_000),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_metadata_size", MAX_METADATA_BYTES),
    ("grpc.absolute_max_metadata_size", MAX_METADATA_BYTES),
    ("grpc.so_reuseport", 1),
]
#: How long a draining server lets the calls it has received finish (GOVSHARE_DRAIN_TIMEOUT_SECONDS).
DRAIN_TIMEOUT_SECONDS = 20.0
#: The health service name a liveness probe asks about (the chart's probes.liveness.service): SERVING for as long
#: as the process answers at all. The server's own status ("", and each service's) is readiness and follows the
#: database (watch_database): a liveness probe asking about it would have every pod restarted during a database
#: outage, which no restart mends.
LIVENESS_SERVICE = "liveness"
#: Readiness follows the database: SELECT 1 every DATABASE_CHECK_SECONDS, each given DATABASE_CHECK_TIMEOUT_SECONDS;
#: a failed check is checked again at once, on a new connection, and DATABASE_CHECK_FAILURES in a row say
#: NOT_SERVING (one slow answer under load, or a probe connection cut by itself, does not); the first answer says
#: SERVING again. A database that is gone (refusing connections, cutting them) is said within about a second, a hung
#: one within about five (each check waits 2 s for an answer: a loaded database is not taken for a gone one).
DATABASE_CHECK_SECONDS = 1.0
DATABASE_CHECK_TIMEOUT_SECONDS = 2.0
DATABASE_CHECK_FAILURES = 2


class Component(Protocol):
    """What a service provides to the shared server."""

    name: str
    #: Full names of the gRPC services it registers (for health and reflection).
    service_names: tuple[str, ...]
    # A component may also set ``edge = True`` (the gateway): its server then starts a new trace for every
    # call instead of continuing the caller's, so no client decides what is sampled; and ``cancel_at_once``, the
    # full names of the unary methods whose handlers reach PostgreSQL and Redis only through futures other tasks
    # resolve (so that, cancelled, they end at once): their time limit runs in the call's own task (see
    # _bounded_in_task).

    def register(self, server: grpc.aio.Server) -> None:
        """Adds the servicers to the server."""

    async def start(self) -> None:
        """Connects to dependencies; raises while they are not ready (start is retried)."""

    async def stop(self) -> None:
        """Closes pools and background tasks."""

    # A component may also define ``async def until_ready(self) -> None``, which returns once it can answer the
    # calls it takes (e.g. the business systems' states are loaded): health says NOT_SERVING until then, so
    # readiness probes and load balancers keep calls away from a process that would refuse them. And
    # ``database_probe``, a db.DatabaseProbe of a database other than GOVSHARE_DATABASE_URL's that health follows
    # (a 前置机's department database). And
    # ``async def write_problem(self, within: float) -> BaseException | None``: why the database, answering,
    # takes none of the writes every call needs (the query service's audit trail, its disk full), which health
    # follows as it follows the database (watch_database); the check must find out again by itself, with a
    # write of its own, when writes work again.


_TRACE_CONTEXT = TraceContextTextMapPropagator()
_ROOT = Context()
_STATUS_CODE_ATTRIBUTE = "rpc.grpc.status_code"
#: The service and method label of calls to methods nobody serves.
UNROUTED = "unrouted"


def _remote_parent(metadata: tuple[tuple[str, str | bytes], ...] | None) -> Context:
    """The caller's W3C trace context, or an empty context (the span is a root) when it sent none."""
    traceparent = tracestate = None
    for key, value in metadata or ():
        if key == "traceparent":
            traceparent = value
        elif key == "tracestate":
            tracestate = value
    if traceparent is None:
        return _ROOT
    carrier = {"traceparent": traceparent} if tracestate is None else \
        {"traceparent": traceparent, "tracestate": tracestate}
    return _TRACE_CONTEXT.extract(carrier, context=_ROOT)


class _ServerSpans:
    """One SERVER span per call, named like OpenTelemetry's gRPC instrumentation names it.

    OpenTelemetry's grpc.aio server interceptor wraps the servicer context in a proxy object and builds a
    span with a dozen attributes on every call, sampled or not (0.11–0.16 ms of CPU per call, see
    docs/performance.md). Here the parent is read straight from the metadata, the sampler decides, and
    attributes are only set on spans that record: an unsampled call costs a span id and two context-var
    writes. A span that does not record still carries the trace id, so logs and outgoing calls
    (``services.runtime.clients.call_metadata``) keep the trace and its sampling decision.

    At the edge (``trust_parent=False``, the gateway) the caller's trace context is not a parent: with
    parent-based sampling a client-sent ``traceparent`` with the sampled flag would make every call it sends
    sampled, so the edge starts a new trace sampled by its own ratio and keeps the client's span as a link.
    Behind the edge, every hop is parent-based: its caller is the platform.
    """

    __slots__ = ("_attributes", "_name", "_tracer", "_trust_parent")

    def __init__(self, method: str, service_name: str, method_name: str, trust_parent: bool = True) -> None:
        self._name = method
        self._attributes = {"rpc.system": "grpc", "rpc.service": service_name, "rpc.method": method_name,
                            _STATUS_CODE_ATTRIBUTE: grpc.StatusCode.OK.value[0]}
        self._tracer = trace.get_tracer(__name__)
        self._trust_parent = trust_parent

    def start(self, context: grpc.aio.ServicerContext) -> tuple[trace.Span, object]:
        """Starts the call's span and makes it current; returns it with the token that detaches it."""
        remote = _remote_parent(context.invocation_metadata())
        if self._trust_parent:
            span = self._tracer.start_span(self._name, context=remote, kind=SpanKind.SERVER,
                                           record_exception=False, set_status_on_exception=False)
        else:
            client = trace.get_current_span(remote).get_span_context()
            span = self._tracer.start_span(self._name, context=_ROOT, kind=SpanKind.SERVER,
                                           links=(trace.Link(client),) if client.is_valid else None,
                                           record_exception=False, set_status_on_exception=False)
        if span.is_recording():
            span.set_attributes(self._attributes)
        return span, self.current(span)

    @staticmethod
    def current(span: trace.Span) -> object:
        """Makes ``span`` current again (a stream between two of its replies); returns the detaching token."""
        return otel_context.attach(trace.set_span_in_context(span, _ROOT))

    @staticmethod
    def end(span: trace.Span, token: object, code: grpc.StatusCode | None = None, details: str = "") -> None:
        """Ends the span, recording a failure's status code (``token`` None: the span is not current)."""
        if token is not None:
            otel_context.detach(token)  # type: ignore[arg-type]
        if code is not None and code != grpc.StatusCode.OK and span.is_recording():
            span.set_attribute(_STATUS_CODE_ATTRIBUTE, code.value[0])
            span.set_status(Status(StatusCode.ERROR, f"{code.name}: {details}"))
        span.end()


class _CallMetrics:
    """Counts and times one method's calls by their final status code, whatever ended them: a reply, a
    domain error, a dependency down, an abort by the handler (the gateway's rate limit and relayed backend
    failures), a bug or a caller that went away. Metric children are bound once per code: ``labels()``
    hashes and locks on every call otherwise."""

    __slots__ = ("_children", "_method", "_service")

    def __init__(self, service_name: str, method_name: str) -> None:
        self._service = service_name
        self._method = method_name
        self._children: dict[grpc.StatusCode, tuple[object, object]] = {}
        self._bind(grpc.StatusCode.OK)

    def _bind(self, code: grpc.StatusCode) -> tuple[object, object]:
        children = self._children[code] = (
            telemetry.RPC_TOTAL.labels(self._service, self._method, code.name),
            telemetry.RPC_DURATION.labels(self._service, self._method, code.name))
        return children

    def record(self, code: grpc.StatusCode, started: float) -> None:
        children = self._children.get(code) or self._bind(code)
        children[0].inc()  # type: ignore[attr-defined]
        children[1].observe(time.perf_counter() - started)  # type: ignore[attr-defined]


#: What ``anext`` returns once a handler's stream has no more replies.
_END_OF_STREAM = object()


def bad_utf8_field(message_type: Descriptor, data: bytes, prefix: str = "") -> str | None:
    """The path (``entry.items[1].name``) of the first string field of ``data`` that is not valid UTF-8, read off
    the wire by ``message_type``; None when there is none or the bytes are not readable that far.

    protobuf's parser refuses such a message saying only "String field had bad UTF-8", which names nothing a
    client could fix (a text field its code filled from a GBK file, a byte array sent as a string)."""
    seen: dict[int, int] = {}
    position = 0
    try:
        while position < len(data):
            key, position = _decode_varint(data, position)
            number, wire_type = key >> 3, key & 7
            if wire_type == 0:
                _, position = _decode_varint(data, position)
            elif wire_type in (1, 5):
                position += 8 if wire_type == 1 else 4
            elif wire_type == 2:
                length, position = _decode_varint(data, position)
                chunk, position = data[position:position + length], position + length
                fld = message_type.fields_by_number.get(number)
                if fld is None:
                    continue
                index = seen[number] = seen.get(number, -1) + 1
                path = f"{prefix}{fld.name}" + (f"[{index}]" if fld.is_repeated else "")
                if fld.type == fld.TYPE_STRING:
                    chunk.decode("utf-8")
                elif fld.type == fld.TYPE_MESSAGE and (found := bad_utf8_field(fld.message_type, chunk, path + ".")):
                    return found
            else:
                return None  # groups: not in any proto3 message
    except UnicodeDecodeError:
        return path
    except (protobuf_message.DecodeError, IndexError):
        return None
    return None


def _aborted_code(context: grpc.aio.ServicerContext) -> grpc.StatusCode | None:
    """The status a handler ended the call with by aborting itself."""
    code = context.code()
    if isinstance(code, grpc.StatusCode) or code is None:
        return code
    return next((c for c in grpc.StatusCode if c.value[0] == code), grpc.StatusCode.UNKNOWN)


class _ErrorInterceptor(grpc.aio.ServerInterceptor):
    """Maps ServiceError to rich statuses and a dependency that is down to UNAVAILABLE, decodes requests so
    malformed bytes are INVALID_ARGUMENT, makes each call's trace span and counts and times every call."""

    def __init__(self, component: str, trust_parent: bool = True, internal_keys: tuple[bytes, ...] = (b"",),
                 dependency_wait: float = Settings.dependency_wait_seconds,
                 cancel_at_once: frozenset[str] = frozenset()) -> None:
        self._component = component
        self._cancel_at_once = cancel_at_once
        #: Page tokens are signed with the first internal key's and read with any's (a rotation's rollout).
        self._token_keys = tuple(token_key(key) for key in internal_keys)
        self._trust_parent = trust_parent
        self._dependency_wait = dependency_wait
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}
        # Calls to methods nobody serves (UNIMPLEMENTED, and the gateway's refusals of internal or unknown
        # methods) are counted under one label set: callers choose those names, so labelling by them would
        # let anyone grow the metrics without bound.
        self._unrouted = telemetry.RPC_TOTAL.labels(UNROUTED, UNROUTED, grpc.StatusCode.UNIMPLEMENTED.name)

    async def intercept_service(self, continuation, handler_call_details):  # type: ignore[no-untyped-def]
        method = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is not None:
            return wrapped
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_streaming:
            # Neither cached (a cache keyed by callers' names would grow without bound) nor timed.
            if not method.startswith("/grpc.reflection"):
                self._unrouted.inc()
            return handler
        wrapped = handler if method.startswith(("/grpc.health", "/grpc.reflection")) else self._wrap(method, handler)
        self._wrapped[method] = wrapped
        return wrapped

    def _failure(self, method: str, error: Exception) -> tuple[grpc.StatusCode, grpc.Status]:
        """The final code and rich status of a call whose handler raised ``error`` (called while handling it).

        A dependency that is down is UNAVAILABLE with a RetryInfo and one warning line: it is an outage
        to wait out, not a bug to debug, so no traceback. Anything else unexpected is INTERNAL with an
        incident id that finds its traceback in the log.
        """
        if isinstance(error, NotImplementedError):
            error = ServiceError(grpc.StatusCode.UNIMPLEMENTED, "UNIMPLEMENTED", f"{method} is not implemented")
        if not isinstance(error, ServiceError):
            error = statement_over_budget(error) or text_not_storable(error) or error
        if not isinstance(error, ServiceError):
            down = dependency_failure(error)
            if down is not None:
                dependency, cause = down
                log.warning("%s: %s unavailable (%s)", method, dependency, describe_outage(dependency, cause))
                error = dependency_unavailable(dependency)
        if isinstance(error, ServiceError):
            if error.code == grpc.StatusCode.UNAVAILABLE:
                telemetry.UNAVAILABLE.labels(error.reason, error.metadata.get("dependency", "")).inc()
            return error.code, to_status(error, self._component)
        incident = uuid.uuid4().hex[:12]
        log.exception("unexpected error in %s (incident %s)", method, incident)
        return grpc.StatusCode.INTERNAL, internal_status(self._component, incident)

    def _wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        service_name, _, method_name = method.lstrip("/").rpartition("/")
        scope = TokenScope(f"{service_name.rpartition('.')[2]}/{method_name}", self._token_keys[0],
                           self._token_keys[1:])
        decode = handler.request_deserializer
        metrics = _CallMetrics(service_name, method_name)
        record = metrics.record
        spans = _ServerSpans(method, service_name, method_name, self._trust_parent)
        start_span, end_span, current = spans.start, spans.end, spans.current
        detach = otel_context.detach
        failure = self._failure

        def parse(request: object) -> object:
            if decode is None or not isinstance(request, bytes):
                return request
            try:
                return decode(request)
            except (protobuf_message.DecodeError, ValueError, TypeError) as exc:
                message_type = getattr(getattr(decode, "__self__", None), "DESCRIPTOR", None)
                where = bad_utf8_field(message_type, request) if message_type is not None else None
                violation = FieldViolation(where, "is not valid UTF-8: send the text encoded as UTF-8") if where \
                    else FieldViolation("request", f"not a valid protobuf message: {exc}")
                raise invalid_argument([violation], reason="MALFORMED_REQUEST") from exc

        def ended(context: grpc.aio.ServicerContext, span: trace.Span, token: object, started: float,
                  default: grpc.StatusCode) -> None:
            """Accounts for a call the handler aborted itself, or that was cancelled (``default``)."""
            code = _aborted_code(context) or default
            end_span(span, token, code)
            record(code, started)

        async def fail(context: grpc.aio.ServicerContext, error: Exception, span: trace.Span, token: object,
                       started: float) -> None:
            """Ends the span and the call with the failure's rich status."""
            code, status = failure(method, error)
            end_span(span, token, code, status.details)
            record(code, started)
            await context.abort_with_status(status)

        if handler.unary_unary is not None:
            behavior = handler.unary_unary
            limit = self._dependency_wait
            bounded = _bounded_in_task if method in self._cancel_at_once else _bounded

            async def unary_unary(request, context):  # type: ignore[no-untyped-def]
                started = time.perf_counter()
                span, token = start_span(context)
                try:
                    message = parse(request)
                    # The call's own context: the page tokens it issues and reads are its, and its deadline
                    # (set before _bounded's task is made: the task runs in a copy of this context).
                    serving(scope, message, context)
                    response = await bounded(behavior(message, context), _answer_within(context, limit), method)
                except asyncio.CancelledError:
                    ended(context, span, token, started, grpc.StatusCode.CANCELLED)
                    raise
                except grpc.aio.AbortError:
                    ended(context, span, token, started, grpc.StatusCode.UNKNOWN)
                    raise
                except Exception as error:
                    await fail(context, error, span, token, started)
                end_span(span, token)
                record(grpc.StatusCode.OK, started)
                return response

            return grpc.unary_unary_rpc_method_handler(
                unary_unary, request_deserializer=None, response_serializer=handler.response_serializer)
        if handler.unary_stream is not None:
            stream_behavior = handler.unary_stream
            stream_limit = self._dependency_wait

            async def unary_stream(request, context):  # type: ignore[no-untyped-def]
                started = time.perf_counter()
                span, token = start_span(context)
                try:
                    message = parse(request)
                    serving(scope, message, context)
                    deadline = callers_deadline(context)
                    STREAM_DEADLINE.set(deadline)  # what waits on other services reads (callers_time)
                    stream = aiter(stream_behavior(message, context))
                    # Each reply is waited for as a unary call is: still waiting on PostgreSQL or Redis at its bound
                    # (an export's record, its first page), the stream ends UNAVAILABLE naming it; it ran to the
                    # caller's deadline, DEADLINE_EXCEEDED naming nothing (or to asyncpg's 30 s command timeout).
                    while (response := await _bounded_in_task(anext(stream, _END_OF_STREAM),
                                                              _answer_within(context, stream_limit, deadline),
                                                              method)
                           ) is not _END_OF_STREAM:
                        # The span is current while the handler runs, not across a yield: grpc closes a stream
                        # whose caller went away from another context, where this token cannot be reset (each
                        # cancelled export logged "Failed to detach context" with a traceback).
                        detach(token)  # type: ignore[arg-type]
                        token = None
                        yield response
                        token = current(span)
                except (asyncio.CancelledError, GeneratorExit):
                    ended(context, span, token, started, grpc.StatusCode.CANCELLED)
                    raise
                except grpc.aio.AbortError:
                    ended(context, span, token, started, grpc.StatusCode.UNKNOWN)
                    raise
                except Exception as error:
                    await fail(context, error, span, token, started)
                end_span(span, token)
                record(grpc.StatusCode.OK, started)

            return grpc.unary_stream_rpc_method_handler(
                unary_stream, request_deserializer=None, response_serializer=handler.response_serializer)
        return handler


#: How long before the caller's deadline a call that ran out of time is answered (at most this, and a tenth of
#: the time the caller gave): the answer must reach the caller before its own timer turns it DEADLINE_EXCEEDED.
ANSWER_MARGIN_SECONDS = 0.5


#: The least a dependency is waited for before it is called hung (UNAVAILABLE naming it) for want of the caller's
#: time: a healthy PostgreSQL or Redis answers within milliseconds, or tens of them under load.
HUNG_AFTER_SECONDS = 0.5


#: The caller's own ``grpc-timeout`` (its units), which the edge passes on under this name (gateway.edge's
#: _callers_timeout_copied): Envoy sends a backend the deadline it times itself in ``grpc-timeout``, for a stream
#: its hour-long cap, the caller's deadline being left to the caller and the backend.
CALLERS_TIMEOUT_HEADER = "govshare-caller-timeout"
_TIMEOUT_UNITS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}


def callers_deadline(context: grpc.aio.ServicerContext) -> float | None:
    """When (the event loop's clock) the caller's own deadline passes, as the edge passed it on; None without one.

    Read once per stream: through the edge, a stream's ``context.time_remaining()`` is the edge's hour-long cap,
    and an Export waiting on a hung PostgreSQL ran to the caller's deadline, DEADLINE_EXCEEDED naming nothing. A
    value that is not a grpc-timeout (1 to 8 digits and a unit) is ignored: the edge refuses such a call."""
    for key, value in context.invocation_metadata() or ():
        if key == CALLERS_TIMEOUT_HEADER and isinstance(value, str):
            digits, unit = value[:-1], value[-1:]
            if 0 < len(digits) <= 8 and digits.isascii() and digits.isdigit() and unit in _TIMEOUT_UNITS:
                return asyncio.get_running_loop().time() + int(digits) * _TIMEOUT_UNITS[unit]
    return None


def _answer_within(context: grpc.aio.ServicerContext, limit: float, deadline: float | None = None) -> float:
    """How long a unary call may wait on a dependency: ``limit`` (GOVSHARE_DEPENDENCY_WAIT_SECONDS), and never past
    the caller's deadline less a margin to answer in. A caller's deadline leaving less than HUNG_AFTER_SECONDS
    says nothing of the dependency: a Query sent with a 20 ms or 150 ms deadline, still waiting for its audit
    record's write (a few ms) when that margin came, was answered UNAVAILABLE "a dependency of the service
    (postgresql) is unavailable; retry with backoff" — a healthy database blamed, and the SDK retrying it — where
    its own deadline had passed. The limit is then past the caller's deadline, which ends the call first:
    DEADLINE_EXCEEDED, audited as a call whose caller went away. Constant time, on every unary call. ``deadline``:
    a stream's :func:`callers_deadline`, when its caller's is shorter than the one the call carries."""
    remaining = context.time_remaining()
    if deadline is not None:
        left = deadline - asyncio.get_running_loop().time()
        remaining = left if remaining is None else min(remaining, left)
    if remaining is None:
        return limit
    before_deadline = remaining - min(ANSWER_MARGIN_SECONDS, remaining / 10)
    if before_deadline >= limit:
        return limit
    if before_deadline < HUNG_AFTER_SECONDS:
        return max(remaining, 0.0) + ANSWER_MARGIN_SECONDS
    return before_deadline


#: Handlers that ran out of time, cancelled and finishing their cleanup after the call was answered (a reference
#: keeps each task alive until it ends).
_OUTLASTED: set[asyncio.Task] = set()


async def _bounded(handling: Coroutine[object, object, object], bound: float, method: str) -> object:
    """Runs a unary handler; one still waiting on PostgreSQL or Redis after ``bound`` seconds is answered
    UNAVAILABLE naming it, without waiting for the handler any longer.

    A call waiting on PostgreSQL or Redis that accepts connections but never answers (a stopped or wedged
    server, a full disk, a network that drops packets) waited for the caller's deadline, with no word of why:
    DEADLINE_EXCEEDED, which reads as the service being slow. Now it is UNAVAILABLE naming the dependency, as when
    it is down, a moment before the caller's deadline (or at the service's own limit, when the caller gives more).
    A handler busy with anything else (its own work, a call to another service, which has its own deadline) runs
    on as before, until it ends or the caller's deadline does (the edge then says which deadline passed). The
    handler runs in a task of its own so that the answer does not wait for its cancellation: cancelled, a
    statement's cleanup asks the hung server to cancel it and waits (asyncpg: up to its command timeout)."""
    task = asyncio.ensure_future(handling)
    try:
        try:
            async with asyncio.timeout(bound) as budget:
                return await asyncio.shield(task)
        except TimeoutError:
            if not budget.expired():
                raise  # the handler's own
        dependency = waiting_on(task)
        if dependency is None:
            return await asyncio.shield(task)
    except asyncio.CancelledError:
        task.cancel()  # the caller went away (or its deadline passed): so does its handler
        raise
    give_up_as_hung(task)
    task.cancel()
    _OUTLASTED.add(task)
    task.add_done_callback(_forget_outlasted)
    log.warning("%s: %s did not answer within %.1fs (hung): answered UNAVAILABLE", method, dependency, bound)
    raise dependency_unavailable(dependency)


async def _bounded_in_task(handling: Awaitable[object], bound: float, method: str) -> object:
    """:func:`_bounded` for a handler that ends at once when cancelled (a component's ``cancel_at_once``), and for
    each reply of a stream (whose generator cannot be advanced from another task): its
    limit is a timer in the call's own task, not a task of its own per call (13-16 µs of CPU per call, measured
    alone on uvloop; 1-4 % of a cached Query's, in alternated `python -m loadtest.bench --only hit` runs) for a
    cleanup such a handler does not have."""
    task = asyncio.current_task()
    hung: list[str] = []
    timer = asyncio.get_running_loop().call_later(bound, _cut_if_hung, handling, task, hung)
    try:
        return await handling
    except asyncio.CancelledError:
        if not hung:
            raise  # the caller went away, or its deadline passed
        task.uncancel()  # type: ignore[union-attr]
    finally:
        timer.cancel()
    log.warning("%s: %s did not answer within %.1fs (hung): answered UNAVAILABLE", method, hung[0], bound)
    raise dependency_unavailable(hung[0])


def _cut_if_hung(handling: Awaitable[object], task: asyncio.Task | None, hung: list[str]) -> None:
    """At the end of a call's time: cancels it when it is waiting on a dependency (named in ``hung``); a handler
    busy with anything else runs on, as under :func:`_bounded`."""
    dependency = waiting_on(handling)
    if dependency is not None and task is not None:
        hung.append(dependency)
        give_up_as_hung(task)
        task.cancel()


def _forget_outlasted(task: asyncio.Task) -> None:
    """Drops a cancelled handler once it ended, and its outcome: its caller was answered already."""
    _OUTLASTED.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved, or asyncio logs "exception was never retrieved"


class DrainingHealthServicer(health.aio.HealthServicer):
    """The standard health service, whose Watch streams end once the server stops taking calls.

    grpc's own Watch never returns, so an open stream (a client's health checking, a load balancer's
    probe) would hold the server's shutdown until the hard limit cancels it. Here every Watch ends, with
    OK, when the drain closes the listener: the watcher has seen NOT_SERVING by then (a Watch that starts
    later gets the current status, then ends).
    """

    def __init__(self) -> None:
        super().__init__()
        self._closed = asyncio.Event()

    async def Check(self, request, context):  # type: ignore[no-untyped-def]
        """As grpc's, but an unknown name's NOT_FOUND says what to ask instead (grpc's says nothing)."""
        status = self._server_status.get(request.service)
        if status is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no service named {request.service[:200]!r} here: "
                                "ask about '' (the whole server) or a service that server reflection lists")
        return health_pb2.HealthCheckResponse(status=status)

    async def Watch(self, request, context):  # type: ignore[no-untyped-def]
        if self._closed.is_set():
            await context.write(health_pb2.HealthCheckResponse(status=self._server_status.get(
                request.service, health_pb2.HealthCheckResponse.SERVICE_UNKNOWN)))
            return
        watching = asyncio.ensure_future(super().Watch(request, context))
        closing = asyncio.ensure_future(self._closed.wait())
        try:
            await asyncio.wait((watching, closing), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (watching, closing):
                task.cancel()
        if watching.done() and not watching.cancelled() and watching.exception() is not None:
            raise watching.exception()  # type: ignore[misc]

    def close_watches(self) -> None:
        """Ends every open Watch stream (and those started later, after their first answer)."""
        self._closed.set()


@dataclass
class RunningServer:
    """A started server: its port, and the way to drain and stop it."""

    server: grpc.aio.Server
    port: int
    component: Component
    health: DrainingHealthServicer
    health_server: grpc.aio.Server | None = None
    readiness: asyncio.Task | None = None

    async def stop(self, grace: float = DRAIN_TIMEOUT_SECONDS, notice: float = 0.0) -> None:
        """Drains the server the way Kubernetes expects, then closes its resources.

        1. Health says NOT_SERVING (readiness fails, client-side health checking and Watch streams see it).
        2. For ``notice`` seconds the server keeps taking and answering calls as before: load balancers and
           the endpoints controller need that long to stop sending here, and a call that arrives meanwhile
           is served, not refused (closing at once refused calls sent a few milliseconds after SIGTERM).
        3. Watch streams end, the listener closes (clients get GOAWAY and go elsewhere) and every call
           received so far runs to its end, for at most ``grace`` seconds, after which the rest are
           cancelled.
        4. The component closes its pools and background work (the query service's audit writer flushes).
        """
        telemetry.READY.set(0)
        await cancel(self.readiness)
        await self.health.enter_graceful_shutdown()
        if notice > 0:
            await asyncio.sleep(notice)
        self.health.close_watches()
        await self.server.stop(grace)
        if self.health_server is not None:
            await self.health_server.stop(0)
        await self.component.stop()


def _credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """mTLS for internal services; the gateway's clients authenticate by token, so a certificate is optional there."""
    if not settings.tls_enabled:
        return None
    return grpc.ssl_server_credentials(
        [(Path(settings.tls_key).read_bytes(), Path(settings.tls_cert).read_bytes())],
        root_certificates=Path(settings.tls_ca).read_bytes(),
        require_client_auth=settings.component != "gateway",
    )


class ListenError(RuntimeError):
    """A listen address gRPC could not bind; the message names its variable."""


@contextlib.contextmanager
def _binding(address: str, variable: str) -> Iterator[None]:
    """grpc's bind failure (an address of another host, a port no process may take) was a RuntimeError traceback,
    "Failed to bind to address …; set GRPC_VERBOSITY=debug", naming no setting."""
    try:
        yield
    except RuntimeError:
        raise ListenError(f"cannot listen on {address} ({variable}): {_bind_failure(address)}") from None


#: What the bind's error means for the operator, by errno.
_BIND_ADVICE = {
    errno.EADDRINUSE: "another process listens on that port: stop it, or give this one another port",
    errno.EADDRNOTAVAIL: "the address is not one of this host's",
    errno.EACCES: "this process may not take that port (below 1024, without the capability)",
}


def _bind_failure(address: str) -> str:
    """Why ``address`` cannot be bound, found by binding it once more with a plain socket: gRPC says only that it
    failed, and its own log line (add_port.cc, "Address already in use") is not in the one line the process ends
    with, so a port another process held was told as an address of another host."""
    exc = _bind_error(address)
    if exc is None:
        return "gRPC could not bind it (an address that is not this host's, or a port this process may not take)"
    if exc.errno in _BIND_ADVICE:
        return f"{exc.strerror} ({_BIND_ADVICE[exc.errno]})"
    return f"gRPC could not bind it ({exc.strerror or exc})"


def _bind_error(address: str, reuse_address: bool = False) -> OSError | None:
    """The error a plain socket gets binding ``address``; None when it binds (or the address is not host:port)."""
    host, _, port = address.rpartition(":")
    try:
        family, kind, proto, _, sockaddr = socket.getaddrinfo(host.strip("[]") or None, int(port),
                                                              type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        with socket.socket(family, kind, proto) as probe:
            if reuse_address:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(sockaddr)
    except OSError as exc:
        return exc
    except ValueError:
        return None
    return None


def require_unheld(address: str, variable: str) -> None:
    """ListenError when another process listens on ``address``.

    The workers of one service share its port (SO_REUSEPORT, in SERVER_OPTIONS), so gRPC binds a port that another
    process listening with that option holds: a second `govshare serve` given the port of one already running (a
    copy-pasted unit, a restart script that did not wait) started without a word, and the two split the calls,
    each half of them answered by a process of another version or configuration. Checked once, before the
    workers start, with a socket that shares nothing but a port's connections in TIME_WAIT after a restart."""
    exc = _bind_error(address, reuse_address=True)
    if exc is not None and exc.errno == errno.EADDRINUSE:
        raise ListenError(f"cannot listen on {address} ({variable}): {exc.strerror} "
                          f"({_BIND_ADVICE[errno.EADDRINUSE]})")


async def _start_health_server(address: str, servicer: DrainingHealthServicer) -> grpc.aio.Server:
    """A plaintext listener with only the health service: kubelet gRPC probes cannot present certificates."""
    server = grpc.aio.server(options=SERVER_OPTIONS)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    with _binding(address, "GOVSHARE_HEALTH_LISTEN"):
        server.add_insecure_port(address)
    await server.start()
    return server


async def _start_component(component: Component, attempts: int = 600) -> None:
    """Retries start until dependencies answer: a pod may start before its database."""
    for attempt in range(attempts):
        try:
            await component.start()
            return
        except Exception as exc:
            if attempt == attempts - 1:
                raise
            log.warning("%s: %s not ready (%s); retrying", component.name, _dependency_of(exc), exc)
            await asyncio.sleep(min(0.2 * (attempt + 1), 2.0))


#: The dependency a failed start waited for, by the package its error was raised in, and the setting naming it.
_DEPENDENCIES = (("asyncpg", "PostgreSQL (GOVSHARE_DATABASE_URL)"), ("redis", "Redis (GOVSHARE_REDIS_URL)"))


def _dependency_of(exc: BaseException) -> str:
    """Which dependency a failed start waited for. The drivers' errors do not say: asyncpg's refused connection is
    a bare "[Errno 111] Connect call failed ('10.0.5.10', 5432)" and redis-py's "Error 111 connecting to
    10.0.5.20:6379", so "dependencies not ready (…)" left the operator to guess from an address which of the two
    was down, and which variable to check. The package whose code raised it does say."""
    packages = {frame.f_globals.get("__name__", "").partition(".")[0]
                for frame, _ in traceback.walk_tb(exc.__traceback__)}
    for package, dependency in _DEPENDENCIES:
        if package in packages:
            return dependency
    return "dependencies"


def reflection_pool(service_names: Sequence[str]) -> descriptor_pool.DescriptorPool:
    """A descriptor pool of the files that define ``service_names`` and what they import, nothing else.

    Reflection answers a symbol or a file name from its pool: with the process's default pool, the edge's
    reflection, which lists only the public services, still described every internal one (AuthorizationService,
    ProviderService, ...) to whoever asked for it by name."""
    default = descriptor_pool.Default()
    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()

    def add(file: FileDescriptor) -> None:
        if file.name in added:
            return
        for dependency in file.dependencies:
            add(dependency)
        proto = descriptor_pb2.FileDescriptorProto()
        file.CopyToProto(proto)
        pool.AddSerializedFile(proto.SerializeToString())
        added.add(file.name)

    for name in service_names:
        add(default.FindServiceByName(name).file)
    return pool


async def start_server(settings: Settings, component: Component,
                       extra_interceptors: tuple[grpc.aio.ServerInterceptor, ...] = (),
                       credentials: grpc.ServerCredentials | None = None) -> RunningServer:
    """Builds, binds and starts the server; it says SERVING once the component has started. ``credentials``
    replace those of the settings' TLS files (the 前置机's follow renewals: frontproc/tls.py)."""
    # The edge (the gateway) does not let a client's trace context decide sampling (see _ServerSpans).
    edge = bool(getattr(component, "edge", False))
    server = grpc.aio.server(
        interceptors=[*extra_interceptors, _ErrorInterceptor(component.name, trust_parent=not edge,
                                                                cancel_at_once=getattr(component, "cancel_at_once",
                                                                                       frozenset()),
                                                                internal_keys=settings.verifying_internal_keys,
                                                                dependency_wait=settings.dependency_wait_seconds)],
        options=SERVER_OPTIONS,
    )
    component.register(server)
    health_servicer = DrainingHealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", *component.service_names):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    await health_servicer.set(LIVENESS_SERVICE, health_pb2.HealthCheckResponse.SERVING)
    for name in _serving_while_up(settings):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    if settings.reflection:
        # A component may list more than it serves (``reflected_services``): the one the edge sends reflection to
        # describes every public service.
        reflected = (*getattr(component, "reflected_services", component.service_names), reflection.SERVICE_NAME,
                     health.SERVICE_NAME)
        reflection.enable_server_reflection(reflected, server, pool=reflection_pool(reflected))
    credentials = credentials or _credentials(settings)
    with _binding(settings.listen, "GOVSHARE_LISTEN"):
        port = (server.add_secure_port(settings.listen, credentials) if credentials
                else server.add_insecure_port(settings.listen))
    await server.start()
    try:
        health_server = await _start_health_server(settings.health_listen, health_servicer) \
            if settings.health_listen else None
    except ListenError:
        await server.stop(None)  # else the started server is collected after the loop closed, with a traceback
        raise
    await _start_component(component)
    log.info("%s serving on port %d (zone %s)", component.name, port, settings.zone)
    ready = asyncio.ensure_future(_until_ready(component))
    await asyncio.wait({ready}, timeout=0.05)  # a ready component's wait ends in a turn or two of the loop
    # A component whose database is not the platform's (a 前置机's, its department's) gives its own probe.
    probe = getattr(component, "database_probe", None) or (
        db.DatabaseProbe(settings.database_url, component.name) if settings.database_url else None)
    if ready.done():
        ready.result()
        await _say_serving(component, health_servicer)
        readiness = asyncio.create_task(watch_database(probe, component, health_servicer), name="readiness") \
            if probe is not None else None
    else:
        # Expected while the authorization service starts (any order is allowed); if the states never load,
        # the loader's own warnings say so once its start-up grace is over.
        log.info("%s is not ready yet (the states of business systems are not loaded): health says "
                 "NOT_SERVING until they are", component.name)
        readiness = asyncio.create_task(_serving_once(ready, component, health_servicer, probe), name="readiness")
    return RunningServer(server=server, port=port, component=component, health=health_servicer,
                         health_server=health_server, readiness=readiness)


def _serving_while_up(settings: Settings) -> tuple[str, ...]:
    """The services besides the component's that server reflection lists, which answer whenever the process does:
    the health service itself and reflection. A health Check of grpc.health.v1.Health (a client checking that
    health is served, grpcurl's list followed by a Check of each name) was NOT_FOUND, its message saying to ask
    about a service that server reflection lists, which it is."""
    return (health.SERVICE_NAME, *((reflection.SERVICE_NAME,) if settings.reflection else ()))


async def _until_ready(component: Component) -> None:
    until_ready = getattr(component, "until_ready", None)
    if until_ready is not None:
        await until_ready()


async def _say_serving(component: Component, health_servicer: DrainingHealthServicer,
                       status: int = health_pb2.HealthCheckResponse.SERVING) -> None:
    for name in ("", *component.service_names):
        await health_servicer.set(name, status)
    telemetry.READY.set(1 if status == health_pb2.HealthCheckResponse.SERVING else 0)


async def _serving_once(ready: asyncio.Future, component: Component, health_servicer: DrainingHealthServicer,
                        probe: db.DatabaseProbe | None) -> None:
    """Health turns SERVING when a component that was not ready at start becomes ready (and then follows the
    database)."""
    try:
        await ready
    finally:
        ready.cancel()  # when the server stops first
    await _say_serving(component, health_servicer)
    log.info("%s is ready: health says SERVING", component.name)
    if probe is not None:
        await watch_database(probe, component, health_servicer)


async def watch_database(probe: db.DatabaseProbe, component: Component, health_servicer: DrainingHealthServicer,
                         interval: float = DATABASE_CHECK_SECONDS, within: float = DATABASE_CHECK_TIMEOUT_SECONDS,
                         failures: int = DATABASE_CHECK_FAILURES) -> None:
    """Keeps health NOT_SERVING while the database does not answer, SERVING again once it does (until cancelled,
    when the server drains).

    Health said SERVING through a database outage: the readiness probes and the edge's health checks kept
    sending calls to a process that could only refuse them, and an operator reading health saw nothing wrong.
    Now ``failures`` checks failed in a row (not one slow answer) turn it NOT_SERVING, with one warning naming
    the database's error; the first answer turns it SERVING again. Envoy's panic threshold still routes to a
    cluster that is all NOT_SERVING, so callers meet UNAVAILABLE naming the dependency, not "no healthy upstream";
    liveness asks about LIVENESS_SERVICE, which this leaves SERVING.

    A failed check is confirmed at once, not ``interval`` later: three checks two seconds apart said a killed
    PostgreSQL 6 s late (12 s for a hung one), all that time the readiness probes and the edge sending calls that
    could only fail. The confirmation opens a new connection, so a probe connection cut alone is no outage."""
    failed = 0
    try:
        while True:
            if not 0 < failed < failures:  # confirming a failure: at once
                await asyncio.sleep(interval)
            found = await _database_problem(probe, component, within)
            if found is None:
                if failed >= failures:
                    await _say_serving(component, health_servicer)
                    log.info("%s: postgresql answers again: health says SERVING", component.name)
                failed = 0
                continue
            failed += 1
            if failed == failures:
                await _say_serving(component, health_servicer, health_pb2.HealthCheckResponse.NOT_SERVING)
                what, problem = found
                why = f"no answer within {within:g}s" if isinstance(problem, TimeoutError) else describe(problem)
                log.warning("%s: postgresql %s %d checks in a row (%s): health says NOT_SERVING until it does",
                            component.name, what, failures, why)
    finally:
        probe.close()


async def _database_problem(probe: db.DatabaseProbe, component: Component,
                            within: float) -> tuple[str, BaseException] | None:
    """What a readiness check found wrong with the database (what it did not do, and why), or None: it did not
    answer, or, answering, took none of the component's writes (Component.write_problem)."""
    problem = await probe.problem(within)
    if problem is not None:
        return "did not answer", problem
    write_problem = getattr(component, "write_problem", None)
    if write_problem is not None and (problem := await write_problem(within)) is not None:
        return "took no writes for", problem
    return None


ComponentFactory = Callable[[Settings], Component]


def _freeze_startup_heap() -> None:
    """Moves everything alive after start-up out of the collector's reach.

    A service starts with hundreds of thousands of long-lived objects (protobuf descriptors, grpc,
    asyncpg, OpenTelemetry, python-stdnum's tables, the region table, warmed caches). Every full
    collection walks all of them: 30–80 ms during which the process answers nothing, measured as the
    p99 of the query path under load (docs/performance.md). Frozen, they are never scanned again;
    what the service allocates while serving is collected as before.
    """
    gc.collect()
    gc.freeze()


async def _run(settings: Settings, factory: ComponentFactory) -> None:
    running = await start_server(settings, factory(settings))
    _freeze_startup_heap()
    lag = asyncio.create_task(telemetry.watch_loop_lag(), name="loop-lag")
    stop = asyncio.Event()
    at_once = False

    def stop_at_once() -> None:
        nonlocal at_once
        at_once = True
        stop.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(STOP_AT_ONCE, stop_at_once)
    # Renewed mTLS files are read by a new process: this one drains and exits as on SIGTERM (tls_renewal).
    renewal = asyncio.create_task(tls_renewal.restart_when_renewed(
        tls_renewal.TlsFiles.of(settings), stop.set, settings.component), name="tls-renewal") \
        if settings.tls_enabled else None
    await stop.wait()
    if renewal is not None:
        await cancel(renewal)
    if at_once:
        # A start `govshare up` gave up (Ctrl-C before its banner): nobody else was given this address.
        log.info("%s stopping at once (its platform's start was interrupted)", settings.component)
        await running.stop(0)
    else:
        log.info("%s draining: NOT_SERVING, taking calls for %gs more, then finishing those received "
                 "(at most %gs)", settings.component, settings.drain_grace_seconds, settings.drain_timeout_seconds)
        await running.stop(settings.drain_timeout_seconds, notice=settings.drain_grace_seconds)
    await cancel(lag)
    log.info("%s stopped", settings.component)


def _worker(settings: Settings, factory: ComponentFactory) -> None:
    import uvloop

    telemetry.setup_logging(settings.log_level, settings.component)
    telemetry.setup_tracing(settings.component)
    try:
        uvloop.run(_run(settings, factory))
    except ListenError as exc:
        print(f"govshare {settings.component}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


#: How long the start's look at the credentials waits for each dependency (one down is waited for by the start).
_CREDENTIALS_CHECK_SECONDS = 5.0


async def refused_credentials(settings: Settings) -> str | None:
    """What PostgreSQL or Redis says of the configured credentials when it refuses them, else None.

    A start waits for its dependencies (_start_component: a pod may start before its database), and it waited so
    for a wrong password, a role or database that does not exist, a Redis user that does not exist: twenty
    minutes of "not ready … retrying" no wait could end, until the process gave up with a traceback. A refusal of
    the credentials is known before any wait: a dependency down or slow is left to the start as before."""
    import asyncpg
    import redis.exceptions

    from services.runtime.cache import create_client

    if settings.database_url:
        try:
            connection = await asyncpg.connect(dsn=settings.database_url, timeout=_CREDENTIALS_CHECK_SECONDS)
            await connection.close()
        except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError,
                asyncpg.InvalidCatalogNameError) as exc:
            return f"PostgreSQL refuses GOVSHARE_DATABASE_URL's credentials or database: {exc}"
        except Exception:  # down, slow or anything else: the start waits for it
            pass
    if settings.redis_url:
        client = create_client(settings.redis_url)
        try:
            await asyncio.wait_for(client.ping(), _CREDENTIALS_CHECK_SECONDS)
        except Exception as exc:  # redis-py raises the refusal as a ConnectionError caused by it
            if isinstance(exc, redis.exceptions.AuthenticationError) or \
                    isinstance(exc.__cause__, redis.exceptions.AuthenticationError):
                return f"Redis refuses GOVSHARE_REDIS_URL's credentials: {exc}"
        finally:
            await client.aclose()
    return None


def serve(component: str, factory: ComponentFactory) -> None:
    """Process entry: load settings (exit 2 with every problem listed), then run the workers."""
    try:
        settings = load(component)
    except SettingsError as exc:
        print(f"govshare {component}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if problems := tls_file_problems(settings):
        print(f"govshare {component}: invalid configuration:\n  - " + "\n  - ".join(problems), file=sys.stderr)
        raise SystemExit(2)
    if settings.metrics_port:
        try:
            _start_metrics(settings)
        except OSError as exc:
            print(f"govshare {component}: cannot serve metrics on {settings.metrics_address}:"
                  f"{settings.metrics_port} (GOVSHARE_METRICS_HOST, GOVSHARE_METRICS_PORT): {exc.strerror or exc}",
                  file=sys.stderr)
            raise SystemExit(2) from None
    try:
        require_unheld(settings.listen, "GOVSHARE_LISTEN")
        if settings.health_listen:
            require_unheld(settings.health_listen, "GOVSHARE_HEALTH_LISTEN")
    except ListenError as exc:
        print(f"govshare {component}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if refused := asyncio.run(refused_credentials(settings)):
        print(f"govshare {component}: {refused}: correct it (no wait will make it work)", file=sys.stderr)
        raise SystemExit(2)
    if settings.workers == 1:
        _worker(settings, factory)
        return
    from services.runtime.supervision import run_workers

    context = multiprocessing.get_context("spawn")
    # A dead worker is restarted (logged), so the service never runs on fewer workers without saying so.
    run_workers(component, settings.workers,
                lambda: context.Process(target=_worker, args=(settings, factory), daemon=False),
                lambda message: print(f"govshare {message}", file=sys.stderr, flush=True), _forget_metrics)


def _forget_metrics(pid: int) -> None:
    """Drops a dead worker's live gauges from the aggregated metrics (its counts stay in the totals)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def _start_metrics(settings: Settings) -> None:
    """Prometheus endpoint on the listen host (or GOVSHARE_METRICS_HOST), one port per process; with several
    workers, metrics are aggregated over their files."""
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    if settings.workers > 1:
        import tempfile

        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="govshare-metrics-"))
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        start_http_server(settings.metrics_port, addr=settings.metrics_address, registry=registry)
    else:
        start_http_server(settings.metrics_port, addr=settings.metrics_address)
