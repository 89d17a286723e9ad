"""OpenTelemetry tracing, Prometheus metrics and trace-aware logging.

Tracing follows the SDK's own environment configuration: ``OTEL_TRACES_EXPORTER``
(``none``, ``console``, ``otlp`` or any installed exporter entry point, comma-separated),
``otlp`` meaning gRPC or HTTP by ``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`` /
``OTEL_EXPORTER_OTLP_PROTOCOL`` (``grpc``, ``http/protobuf``) as the SDK's
auto-configuration resolves it, each exporter reading its own ``OTEL_EXPORTER_*``
variables; the sampler from ``OTEL_TRACES_SAMPLER`` / ``OTEL_TRACES_SAMPLER_ARG``
(default here: parent-based 1 % ratio). Left unset, the exporter is ``otlp`` when an
OTLP endpoint is configured, else none: spans are still made, so trace ids propagate
and appear in logs. ``tracing_problems`` checks all of it at start-up, so a typo stops
the process instead of silently sampling everything or exporting nowhere.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Mapping
from importlib.metadata import entry_points
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBasedTraceIdRatio
from prometheus_client import Counter, Gauge, Histogram

from services.runtime.errors import dependency_failure, describe
from services.runtime.identifiers import redact_identifiers

RPC_DURATION = Histogram(
    "govshare_rpc_duration_seconds", "Server-side duration of each RPC, by final status code",
    ["service", "method", "code"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
RPC_TOTAL = Counter("govshare_rpc_total", "RPCs handled, by status code", ["service", "method", "code"])
CACHE_LOOKUPS = Counter("govshare_cache_lookups_total", "Cache lookups by cache and outcome", ["cache", "outcome"])
AUDIT_BATCH = Histogram("govshare_audit_batch_size", "Audit records per group commit",
                        buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000))
#: How long an answered call waited for its audit record to be durable: the audit trail's share of a Query's
#: latency (the writer's linger and the group commit), which no other figure shows apart.
AUDIT_WAIT = Histogram("govshare_audit_wait_seconds", "Time from queueing an access record to it being durable",
                       buckets=(0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 1))
#: How late the event loop wakes a timer: the time every call in the process waited behind one callback that
#: held the loop (a long computation, a blocking call, the collector). A service answers nothing meanwhile, so
#: this is the floor of its tail latency that no handler timing shows.
LOOP_LAG = Histogram("govshare_event_loop_lag_seconds", "How late the event loop ran a timer due now",
                     buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
#: How often the loop's lateness is sampled: 20 wake-ups a second cost ~0.1 % of a core.
LOOP_LAG_INTERVAL_SECONDS = 0.05
#: With several workers (GOVSHARE_WORKERS) the endpoint aggregates their files: the least of the live workers'
#: values, so one sample without labels as with one worker, 0 while any worker starts or drains. In the default
#: mode ('all') it was one sample per worker labelled by pid, and a killed worker's last value (1) stayed
#: there, beside its replacement's, as long as the service ran.
READY = Gauge("govshare_ready", "1 when the process serves, 0 while starting or draining",
              multiprocess_mode="livemin")
#: What the UNAVAILABLE calls were refused for: their ErrorInfo reason (AUDIT_UNAVAILABLE, PROVIDER_UNAVAILABLE,
#: STARTING…) and, for DEPENDENCY_UNAVAILABLE, the dependency (postgresql, redis, service, network). The rpc
#: counts say how many calls failed, not that the audit trail cannot be written or that Redis is down. Both label
#: sets are the platform's own constants, never a caller's words.
UNAVAILABLE = Counter("govshare_unavailable_total", "Calls answered UNAVAILABLE, by reason and dependency down",
                      ["reason", "dependency"])

_configured = False

DEFAULT_SAMPLING_RATIO = 0.01
_EXPORTER_GROUP = "opentelemetry_traces_exporter"
_SAMPLER_GROUP = "opentelemetry_traces_sampler"
#: The exporter entry point ``otlp`` stands for, by protocol (as opentelemetry.sdk._configuration maps it).
OTLP_EXPORTERS = {"grpc": "otlp_proto_grpc", "http/protobuf": "otlp_proto_http"}
_RATIO_SAMPLERS = frozenset({"traceidratio", "parentbased_traceidratio"})
_PROTOCOL_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")


def _otlp_protocol(env: Mapping[str, str]) -> str:
    return next((env[name].strip() for name in _PROTOCOL_VARIABLES if env.get(name, "").strip()), "grpc")


def exporter_names(env: Mapping[str, str]) -> list[str]:
    """The span exporters (entry points of ``opentelemetry_traces_exporter``) the environment asks for."""
    raw = env.get("OTEL_TRACES_EXPORTER")
    if raw is None:
        configured = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        raw = "otlp" if configured else "none"
    names = []
    for name in (part.strip() for part in raw.split(",")):
        if name in ("", "none"):
            continue
        if name == "otlp":
            protocol = _otlp_protocol(env)
            name = OTLP_EXPORTERS.get(protocol, f"otlp over {protocol}")
        names.append(name)
    return names


def collector_port(endpoint: str, protocol: str) -> int:
    """The port an OTLP endpoint is reached on, as the services' exporters reach it; the edge uses the same.

    An endpoint that names its port is reached there. One that does not: the http/protobuf exporter takes it as the
    URL it is (80 for http, 443 for https), and the gRPC exporter hands gRPC the host alone, which dials 443. The
    edge dialled the OTLP ports instead (4318, 4317), so with one endpoint the edge's spans and the services' went
    to two different ports, one of them nobody's. ``ValueError`` for a port that is no number in range."""
    parts = urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
    if parts.port is not None:
        return parts.port
    if protocol == "http/protobuf":
        return 443 if parts.scheme == "https" else 80
    return 443


_ENDPOINT_VARIABLES = (("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"),
                       ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL"))


def _endpoint_problems(env: Mapping[str, str]) -> list[str]:
    """The OTLP endpoints, each named with its variable when no exporter could send there.

    They were not checked: a typo'd scheme, a port out of range or a URL without a host started every service
    as if tracing were on, and the exporter failed on a background thread at every batch (or never said a word,
    the spans dropped), while the edge's renderer stopped on the port with a ValueError traceback. The
    http/protobuf exporter needs a scheme; the gRPC one takes host:port too (as the edge does)."""
    problems = []
    for name, protocol_name in _ENDPOINT_VARIABLES:
        endpoint = env.get(name, "").strip()
        if not endpoint:
            continue
        protocol = env.get(protocol_name, "").strip() or _otlp_protocol(env)
        parts = urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
        try:
            port = parts.port
        except ValueError:
            port = -1
        if "://" in endpoint and parts.scheme not in ("http", "https"):
            what = f"the scheme must be http or https, not {parts.scheme!r}"
        elif "://" not in endpoint and protocol == "http/protobuf":
            what = "the http/protobuf exporter needs a URL (http:// or https://)"
        elif not parts.hostname:
            what = "no host"
        elif port == -1:
            what = "the port must be a number between 0 and 65535"
        else:
            continue
        problems.append(f"{name}={endpoint!r}: {what} (e.g. http://otel-collector:4317)")
    return problems


def tracing_problems(env: Mapping[str, str]) -> list[str]:
    """Every reason the ``OTEL_*`` tracing variables cannot be followed (checked with the settings at start)."""
    problems = _endpoint_problems(env)
    for name in _PROTOCOL_VARIABLES:
        protocol = env.get(name, "").strip()
        if protocol and protocol not in OTLP_EXPORTERS:
            problems.append(f"{name}={protocol!r}: expected grpc or http/protobuf")
    exporters = {point.name for point in entry_points(group=_EXPORTER_GROUP)}
    for name in exporter_names(env):
        if name not in exporters and not name.startswith("otlp over"):
            problems.append(f"OTEL_TRACES_EXPORTER: no span exporter {name!r} is installed "
                            f"(expected none, console, otlp or one of {', '.join(sorted(exporters))})")
    sampler = env.get("OTEL_TRACES_SAMPLER", "").strip().lower()
    if sampler and sampler not in {point.name for point in entry_points(group=_SAMPLER_GROUP)}:
        problems.append(f"OTEL_TRACES_SAMPLER={sampler!r}: not a known sampler (e.g. parentbased_traceidratio, "
                        "parentbased_always_on, always_off)")
    raw = env.get("OTEL_TRACES_SAMPLER_ARG")
    if raw is not None and (not sampler or sampler in _RATIO_SAMPLERS):
        # The SDK samples everything when the ratio does not parse: a typo must not do that.
        try:
            ratio = float(raw)
        except ValueError:
            ratio = -1.0
        if not 0.0 <= ratio <= 1.0:
            problems.append(f"OTEL_TRACES_SAMPLER_ARG={raw!r}: expected a sampling ratio between 0 and 1")
    return problems


def _exporter(name: str) -> object:
    (point,) = entry_points(group=_EXPORTER_GROUP, name=name)
    return point.load()()


def setup_tracing(service_name: str, extra_processor: SpanProcessor | None = None) -> TracerProvider:
    """Installs the process's tracer provider once (later calls only add the extra processor)."""
    global _configured
    provider = trace.get_tracer_provider()
    if _configured and isinstance(provider, TracerProvider):
        if extra_processor is not None:
            provider.add_span_processor(extra_processor)
        return provider
    sampler = None  # with OTEL_TRACES_SAMPLER set, the SDK builds the sampler from it (and its argument)
    if "OTEL_TRACES_SAMPLER" not in os.environ:
        sampler = ParentBasedTraceIdRatio(float(os.environ.get("OTEL_TRACES_SAMPLER_ARG", DEFAULT_SAMPLING_RATIO)))
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", f"govshare-{service_name}")})
    provider = TracerProvider(resource=resource, sampler=sampler)
    for name in exporter_names(os.environ):
        provider.add_span_processor(BatchSpanProcessor(_exporter(name)))  # type: ignore[arg-type]
    if extra_processor is not None:
        provider.add_span_processor(extra_processor)
    trace.set_tracer_provider(provider)
    _configured = True
    return provider


class DependencyTracebackFilter(logging.Filter):
    """Shortens a record whose exception says a dependency is down to one line (its type and message).

    PostgreSQL restarting or Redis unreachable is an outage to wait out, not a bug to debug: a traceback
    per failed call (or per reconnection attempt of asyncpg's pool) would bury the log. Unexpected errors
    keep their traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is not None:
            down = dependency_failure(error)
            if down is not None:
                record.msg = f"{record.getMessage()} ({down[0]} unavailable: {describe(down[1])})"
                record.args = None
                record.exc_info = record.exc_text = None
        return True


_SHORTENER = DependencyTracebackFilter()
#: Libraries that log their own reconnection failures with a traceback.
DEPENDENCY_LOGGERS = ("asyncpg.pool", "redis")


def shorten_dependency_tracebacks() -> None:
    """Installs the filter on the libraries' loggers (idempotent), so every handler gets one line."""
    for name in DEPENDENCY_LOGGERS:
        logger = logging.getLogger(name)
        if _SHORTENER not in logger.filters:
            logger.addFilter(_SHORTENER)


class TraceContextFilter(logging.Filter):
    """Adds the current trace id to every log record, so logs join traces."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        record.trace_id = format(context.trace_id, "032x") if context.trace_id else "-"
        return True


class PersonalDataFilter(logging.Filter):
    """Redacts every 公民身份号码 and 统一社会信用代码 from a record's message and exception text.

    The platform's own log calls name no person or entity (tests scan every line they produce);
    this is the second line for text the code does not choose: an exception a driver or a library
    raised quoting a value it was given, logged with its traceback as an incident.
    """

    _traceback = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_identifiers(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._traceback.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_identifiers(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_identifiers(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, so log collectors parse fields instead of guessing."""

    def __init__(self, component: str) -> None:
        super().__init__()
        self._component = component

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "component": self._component,
            "logger": record.name,
            "trace_id": getattr(record, "trace_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_text or record.exc_info:
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: str, component: str) -> None:
    """Structured single-line logs on stderr carrying the trace id; secrets and personal identifiers are
    never logged."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_SHORTENER)
    handler.addFilter(TraceContextFilter())
    handler.addFilter(PersonalDataFilter())
    handler.setFormatter(JsonFormatter(component))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


async def watch_loop_lag(interval: float = LOOP_LAG_INTERVAL_SECONDS) -> None:
    """Samples the event loop's lateness into ``govshare_event_loop_lag_seconds`` until cancelled.

    A timer due in ``interval`` that runs later waited for whatever held the loop; a stall shorter than the
    interval is seen when it overlaps a wake-up, so the histogram's tail counts the stalls, in proportion.
    """
    while True:
        # time.monotonic, not loop.time(): uvloop's clock is cached per turn at millisecond resolution.
        due = time.monotonic() + interval
        await asyncio.sleep(interval)
        LOOP_LAG.observe(max(0.0, time.monotonic() - due))
