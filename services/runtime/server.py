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
import gc
import logging
import multiprocessing
import os
import signal
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import grpc
from google.protobuf import message as protobuf_message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.trace.status import Status, StatusCode

from services.runtime import telemetry
from services.runtime.errors import FieldViolation, ServiceError, internal_status, invalid_argument, to_status
from services.runtime.settings import Settings, SettingsError, load

log = logging.getLogger(__name__)

# Keepalive and connection age let Kubernetes rebalance long-lived HTTP/2 connections.
SERVER_OPTIONS = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.max_connection_age_ms", 300_000),
    ("grpc.max_connection_age_grace_ms", 30_000),
    ("grpc.max_receive_message_length", 8 * 1024 * 1024),
    ("grpc.so_reuseport", 1),
]
DRAIN_SECONDS = 20.0


class Component(Protocol):
    """What a service provides to the shared server."""

    name: str
    #: Full names of the gRPC services it registers (for health and reflection).
    service_names: tuple[str, ...]

    def register(self, server: grpc.aio.Server) -> None:
        """Adds the servicers to the server."""

    async def start(self) -> None:
        """Connects to dependencies; raises while they are not ready (start is retried)."""

    async def stop(self) -> None:
        """Closes pools and background tasks."""


_TRACE_CONTEXT = TraceContextTextMapPropagator()
_ROOT = Context()
_STATUS_CODE_ATTRIBUTE = "rpc.grpc.status_code"


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
    """

    __slots__ = ("_attributes", "_name", "_tracer")

    def __init__(self, method: str, service_name: str, method_name: str) -> None:
        self._name = method
        self._attributes = {"rpc.system": "grpc", "rpc.service": service_name, "rpc.method": method_name,
                            _STATUS_CODE_ATTRIBUTE: grpc.StatusCode.OK.value[0]}
        self._tracer = trace.get_tracer(__name__)

    def start(self, context: grpc.aio.ServicerContext) -> tuple[trace.Span, object]:
        """Starts the call's span and makes it current; returns it with the token that detaches it."""
        span = self._tracer.start_span(self._name, context=_remote_parent(context.invocation_metadata()),
                                       kind=SpanKind.SERVER, record_exception=False, set_status_on_exception=False)
        if span.is_recording():
            span.set_attributes(self._attributes)
        return span, otel_context.attach(trace.set_span_in_context(span, _ROOT))

    @staticmethod
    def end(span: trace.Span, token: object, code: grpc.StatusCode | None = None, details: str = "") -> None:
        """Ends the span, recording a failure's status code."""
        otel_context.detach(token)  # type: ignore[arg-type]
        if code is not None and code != grpc.StatusCode.OK and span.is_recording():
            span.set_attribute(_STATUS_CODE_ATTRIBUTE, code.value[0])
            span.set_status(Status(StatusCode.ERROR, f"{code.name}: {details}"))
        span.end()


def _aborted_code(context: grpc.aio.ServicerContext) -> grpc.StatusCode | None:
    """The status a handler ended the call with by aborting itself."""
    code = context.code()
    if isinstance(code, grpc.StatusCode) or code is None:
        return code
    return next((c for c in grpc.StatusCode if c.value[0] == code), grpc.StatusCode.UNKNOWN)


class _ErrorInterceptor(grpc.aio.ServerInterceptor):
    """Maps ServiceError to rich statuses, decodes requests so malformed bytes are INVALID_ARGUMENT,
    makes each call's trace span and records per-RPC metrics."""

    def __init__(self, component: str) -> None:
        self._component = component
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(self, continuation, handler_call_details):  # type: ignore[no-untyped-def]
        method = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is not None:
            return wrapped
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_streaming:
            # Unknown methods (UNIMPLEMENTED) and refusal handlers are neither cached nor measured:
            # callers choose the names, and a cache keyed by them would grow without bound.
            return handler
        wrapped = handler if method.startswith(("/grpc.health", "/grpc.reflection")) else self._wrap(method, handler)
        self._wrapped[method] = wrapped
        return wrapped

    def _wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        service_name, _, method_name = method.lstrip("/").rpartition("/")
        decode = handler.request_deserializer
        component = self._component
        # Metric children are bound once per method: ``labels()`` hashes and locks on every call otherwise.
        duration = telemetry.RPC_DURATION.labels(service_name, method_name)
        succeeded = telemetry.RPC_TOTAL.labels(service_name, method_name, "OK")
        failures: dict[str, object] = {}
        spans = _ServerSpans(method, service_name, method_name)
        start_span, end_span = spans.start, spans.end

        def count_failure(code: grpc.StatusCode) -> None:
            counter = failures.get(code.name)
            if counter is None:
                counter = failures[code.name] = telemetry.RPC_TOTAL.labels(service_name, method_name, code.name)
            counter.inc()  # type: ignore[attr-defined]

        def parse(request: object) -> object:
            if decode is None or not isinstance(request, bytes):
                return request
            try:
                return decode(request)
            except (protobuf_message.DecodeError, ValueError, TypeError) as exc:
                raise invalid_argument([FieldViolation("request", f"not a valid protobuf message: {exc}")],
                                       reason="MALFORMED_REQUEST") from exc

        async def fail(context: grpc.aio.ServicerContext, error: Exception, span: trace.Span, token: object) -> None:
            """Ends the span with the failure's status, then the call with the failure's rich status."""
            if isinstance(error, NotImplementedError):
                error = ServiceError(grpc.StatusCode.UNIMPLEMENTED, "UNIMPLEMENTED", f"{method} is not implemented")
            if isinstance(error, ServiceError):
                count_failure(error.code)
                end_span(span, token, error.code, error.reason)
                await context.abort_with_status(to_status(error, component))
            incident = uuid.uuid4().hex[:12]
            log.exception("unexpected error in %s (incident %s)", method, incident)
            count_failure(grpc.StatusCode.INTERNAL)
            end_span(span, token, grpc.StatusCode.INTERNAL, f"incident {incident}")
            await context.abort_with_status(internal_status(component, incident))

        if handler.unary_unary is not None:
            behavior = handler.unary_unary

            async def unary_unary(request, context):  # type: ignore[no-untyped-def]
                start = time.perf_counter()
                span, token = start_span(context)
                try:
                    response = await behavior(parse(request), context)
                except (asyncio.CancelledError, grpc.aio.AbortError):
                    end_span(span, token, _aborted_code(context) or grpc.StatusCode.CANCELLED)
                    raise
                except Exception as error:
                    await fail(context, error, span, token)
                end_span(span, token)
                duration.observe(time.perf_counter() - start)
                succeeded.inc()
                return response

            return grpc.unary_unary_rpc_method_handler(
                unary_unary, request_deserializer=None, response_serializer=handler.response_serializer)
        if handler.unary_stream is not None:
            stream_behavior = handler.unary_stream

            async def unary_stream(request, context):  # type: ignore[no-untyped-def]
                start = time.perf_counter()
                span, token = start_span(context)
                try:
                    async for response in stream_behavior(parse(request), context):
                        yield response
                except (asyncio.CancelledError, grpc.aio.AbortError, GeneratorExit):
                    end_span(span, token, _aborted_code(context) or grpc.StatusCode.CANCELLED)
                    raise
                except Exception as error:
                    await fail(context, error, span, token)
                end_span(span, token)
                duration.observe(time.perf_counter() - start)
                succeeded.inc()

            return grpc.unary_stream_rpc_method_handler(
                unary_stream, request_deserializer=None, response_serializer=handler.response_serializer)
        return handler


@dataclass
class RunningServer:
    """A started server: its port, and the way to drain and stop it."""

    server: grpc.aio.Server
    port: int
    component: Component
    health: health.aio.HealthServicer
    health_server: grpc.aio.Server | None = None

    async def stop(self, grace: float = DRAIN_SECONDS) -> None:
        """Says NOT_SERVING, stops taking calls, lets running ones finish, then closes resources."""
        telemetry.READY.set(0)
        await self.health.enter_graceful_shutdown()
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


async def _start_health_server(address: str, servicer: health.aio.HealthServicer) -> grpc.aio.Server:
    """A plaintext listener with only the health service: kubelet gRPC probes cannot present certificates."""
    server = grpc.aio.server(options=SERVER_OPTIONS)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
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
            log.warning("%s: dependencies not ready (%s); retrying", component.name, exc)
            await asyncio.sleep(min(0.2 * (attempt + 1), 2.0))


async def start_server(settings: Settings, component: Component,
                       extra_interceptors: tuple[grpc.aio.ServerInterceptor, ...] = ()) -> RunningServer:
    """Builds, binds and starts the server; it says SERVING once the component has started."""
    server = grpc.aio.server(
        interceptors=[*extra_interceptors, _ErrorInterceptor(component.name)],
        options=SERVER_OPTIONS,
    )
    component.register(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", *component.service_names):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    if settings.reflection:
        reflection.enable_server_reflection((*component.service_names, reflection.SERVICE_NAME,
                                             health.SERVICE_NAME), server)
    credentials = _credentials(settings)
    port = (server.add_secure_port(settings.listen, credentials) if credentials
            else server.add_insecure_port(settings.listen))
    await server.start()
    health_server = await _start_health_server(settings.health_listen, health_servicer) \
        if settings.health_listen else None
    await _start_component(component)
    for name in ("", *component.service_names):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    telemetry.READY.set(1)
    log.info("%s serving on port %d (zone %s)", component.name, port, settings.zone)
    return RunningServer(server=server, port=port, component=component, health=health_servicer,
                         health_server=health_server)


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
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("%s draining", settings.component)
    await running.stop()


def _worker(settings: Settings, factory: ComponentFactory) -> None:
    import uvloop

    telemetry.setup_logging(settings.log_level, settings.component)
    telemetry.setup_tracing(settings.component)
    uvloop.run(_run(settings, factory))


def serve(component: str, factory: ComponentFactory) -> None:
    """Process entry: load settings (exit 2 with every problem listed), then run the workers."""
    try:
        settings = load(component)
    except SettingsError as exc:
        print(f"govshare {component}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if settings.metrics_port:
        _start_metrics(settings)
    if settings.workers == 1:
        _worker(settings, factory)
        return
    from services.runtime.supervision import run_workers

    context = multiprocessing.get_context("spawn")
    # A dead worker is restarted (logged), so the service never runs on fewer workers without saying so.
    run_workers(component, settings.workers,
                lambda: context.Process(target=_worker, args=(settings, factory), daemon=False),
                lambda message: print(f"govshare {message}", file=sys.stderr, flush=True))


def _start_metrics(settings: Settings) -> None:
    """Prometheus endpoint; with several workers, metrics are aggregated over their files."""
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    if settings.workers > 1:
        import tempfile

        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="govshare-metrics-"))
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        start_http_server(settings.metrics_port, registry=registry)
    else:
        start_http_server(settings.metrics_port)
