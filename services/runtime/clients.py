"""Channels to other govshare services (and to provider endpoints).

Every channel uses mTLS when the process has certificates, keeps connections
alive, and retries calls that failed with UNAVAILABLE — only for methods declared
idempotent, since a retried non-idempotent call could apply twice.

Trace context travels in each call's metadata (``call_metadata``), next to the
caller's signed identity, rather than through OpenTelemetry's client interceptor:
grpc.aio runs an intercepted call in a task of its own with an ``asyncio.wait``
(0.1–0.2 ms of CPU per call, see docs/performance.md), and cancelling the caller
does not cancel that task's RPC. The callee's server span (services.runtime.server)
is the child of the caller's current span, which is all a client span would add.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import grpc
from opentelemetry import trace

from services.runtime.identity import AssertionSigner, Caller
from services.runtime.settings import Settings

MetadataEntries = tuple[tuple[str, str], ...]
#: The metadata keys of W3C trace context.
TRACE_KEYS = frozenset({"traceparent", "tracestate"})

CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.enable_retries", 1),
    # Mesh peers restart (rolling updates, `govshare up` starting everything at once): reconnect within
    # ~0.1 s of a peer coming back rather than after gRPC's default 1 s, growing to at most 2 s while it is down.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
]


def retry_config(idempotent_services: Iterable[str]) -> str:
    """A service config that retries UNAVAILABLE for every method of the given services."""
    return json.dumps({
        "methodConfig": [{
            "name": [{"service": name} for name in idempotent_services],
            "retryPolicy": {
                "maxAttempts": 3,
                "initialBackoff": "0.02s",
                "maxBackoff": "0.2s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }]
    })


def trace_metadata() -> MetadataEntries:
    """The current span's W3C ``traceparent`` (and ``tracestate``), or nothing outside any trace.

    An unsampled span is propagated too, with its sampled flag off, so the callee keeps the decision
    (a parent-based sampler drops the trace everywhere) instead of sampling it anew.
    """
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return ()
    traceparent = f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-{span_context.trace_flags:02x}"
    if span_context.trace_state:
        return (("traceparent", traceparent), ("tracestate", span_context.trace_state.to_header()))
    return (("traceparent", traceparent),)


def call_metadata(signer: AssertionSigner, caller: Caller) -> MetadataEntries:
    """The metadata of a call to another govshare service: ``caller``'s signed identity and the trace context."""
    return (*signer.metadata(caller), *trace_metadata())


def open_channel(target: str, settings: Settings, idempotent_services: Iterable[str] = ()) -> grpc.aio.Channel:
    """An aio channel to ``target`` (host:port), secured with the process's mTLS certificates if any."""
    options = [*CHANNEL_OPTIONS]
    services = list(idempotent_services)
    if services:
        options.append(("grpc.service_config", retry_config(services)))
    if settings.tls_enabled:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=Path(settings.tls_ca).read_bytes(),
            private_key=Path(settings.tls_key).read_bytes(),
            certificate_chain=Path(settings.tls_cert).read_bytes(),
        )
        return grpc.aio.secure_channel(target, credentials, options=options)
    return grpc.aio.insecure_channel(target, options=options)
