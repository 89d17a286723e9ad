"""OpenTelemetry tracing, Prometheus metrics and trace-aware logging.

Tracing is configured from the standard ``OTEL_*`` variables: the SDK reads the
sampler (``OTEL_TRACES_SAMPLER``, default here parent-based ratio) and the OTLP
exporter reads ``OTEL_EXPORTER_OTLP_ENDPOINT``; with no endpoint, spans are made
(so trace ids propagate and appear in logs) but not exported.
"""

from __future__ import annotations

import json
import logging
import os
import sys

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBasedTraceIdRatio
from prometheus_client import Counter, Gauge, Histogram

from services.runtime.identifiers import redact_identifiers

RPC_DURATION = Histogram(
    "govshare_rpc_duration_seconds", "Server-side duration of each RPC", ["service", "method"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
RPC_TOTAL = Counter("govshare_rpc_total", "RPCs handled, by status code", ["service", "method", "code"])
CACHE_LOOKUPS = Counter("govshare_cache_lookups_total", "Cache lookups by cache and outcome", ["cache", "outcome"])
AUDIT_BATCH = Histogram("govshare_audit_batch_size", "Audit records per group commit",
                        buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000))
READY = Gauge("govshare_ready", "1 when the process serves, 0 while starting or draining")

_configured = False


def setup_tracing(service_name: str, extra_processor: SpanProcessor | None = None) -> TracerProvider:
    """Installs the process's tracer provider once (later calls only add the extra processor)."""
    global _configured
    provider = trace.get_tracer_provider()
    if _configured and isinstance(provider, TracerProvider):
        if extra_processor is not None:
            provider.add_span_processor(extra_processor)
        return provider
    sampler = None
    if "OTEL_TRACES_SAMPLER" not in os.environ:
        sampler = ParentBasedTraceIdRatio(float(os.environ.get("OTEL_TRACES_SAMPLER_ARG", "0.01")))
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", f"govshare-{service_name}")})
    provider = TracerProvider(resource=resource, sampler=sampler) if sampler else TracerProvider(resource=resource)
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if extra_processor is not None:
        provider.add_span_processor(extra_processor)
    trace.set_tracer_provider(provider)
    _configured = True
    return provider


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
    handler.addFilter(TraceContextFilter())
    handler.addFilter(PersonalDataFilter())
    handler.setFormatter(JsonFormatter(component))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
