"""Channels to other govshare services (and to provider endpoints).

Every channel uses mTLS when the process has certificates, keeps connections
alive, and retries calls that failed with UNAVAILABLE — only for methods declared
idempotent, since a retried non-idempotent call could apply twice.

Every channel balances its calls over all the addresses its target's name resolves to (gRPC's ``dns``
resolver and its ``round_robin`` policy, one connection per address): in Kubernetes a service dials the
callee's headless ``<component>-ready`` Service, one address per ready pod. gRPC's default (``pick_first``) kept one
HTTP/2 connection, so every call of a replica went to one pod until the server's ``max_connection_age``
(services.runtime.server) closed it, and pods added by a scale-up got no internal calls meanwhile. The name is
resolved again whenever one of those connections ends (that age, a pod stopping, a failed connect), at most
every RESOLVE_MIN_INTERVAL_MS: so a new pod gets its share within one connection age.

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
from services.runtime.settings import TARGET_SCHEMES, Settings

MetadataEntries = tuple[tuple[str, str], ...]
#: The metadata keys of W3C trace context.
TRACE_KEYS = frozenset({"traceparent", "tracestate"})

#: How long a ping to a peer waits for its answer before the connection is given up (a peer pod gone without a word:
#: its node lost, a network partition), and the calls on it fail over to the target's other addresses.
PING_TIMEOUT_MS = 10_000
CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", PING_TIMEOUT_MS),
    # gRPC's own pings (flow-control probes after data) wait this long for their answer, 60 s by default, and no
    # keepalive ping goes out while one waits: a connection whose peer vanished was given up after a minute, not
    # after the keepalive's 10 s, every call on it meanwhile waiting its deadline out. Measured with a proxy that
    # drops every byte: 60.1 s without it, the keepalive's timeout with it.
    ("grpc.http2.ping_timeout_ms", PING_TIMEOUT_MS),
    # Pinged for as long as it is idle, not twice (gRPC's default) and then never.
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.enable_retries", 1),
    # Mesh peers restart (rolling updates, `govshare up` starting everything at once): reconnect within
    # ~0.1 s of a peer coming back rather than after gRPC's default 1 s, growing to at most 2 s while it is down.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
    # How soon the name may be resolved again once a connection ends (gRPC's default, 30 s, would leave a rolling
    # update's new pods unknown, and calls failing on the old ones' addresses, for up to half a minute).
    ("grpc.dns_min_time_between_resolutions_ms", 5_000),
]
#: The balancing policy of every channel: each call to the next ready address of the target's name.
LOAD_BALANCING = [{"round_robin": {}}]


def dial_target(target: str) -> str:
    """The URI a channel dials for ``target``: host:port through the ``dns`` resolver, so that every address of
    the name is known to the balancing policy (and resolved again); a target with a scheme is kept."""
    if target.startswith(TARGET_SCHEMES):
        return target
    return f"dns:///{target}"


def service_config(idempotent_services: Iterable[str]) -> str:
    """A channel's service config: round-robin balancing, and UNAVAILABLE retried for every method of the given
    services."""
    config: dict[str, object] = {"loadBalancingConfig": LOAD_BALANCING}
    services = list(idempotent_services)
    if services:
        config["methodConfig"] = [{
            "name": [{"service": name} for name in services],
            "retryPolicy": {
                "maxAttempts": 3,
                "initialBackoff": "0.02s",
                "maxBackoff": "0.2s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }]
    return json.dumps(config)


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
    """An aio channel to ``target`` (host:port, or a gRPC URI such as ``ipv4:a:1,b:2``), secured with the
    process's mTLS certificates if any, balancing its calls over every address of the target's name.

    Under mTLS the callee's certificate must name the host dialled (gRPC checks it against the target's host),
    so the chart's certificates name each component's headless ``-ready`` Service as well as its Service.
    """
    options = [*CHANNEL_OPTIONS, ("grpc.service_config", service_config(idempotent_services))]
    target = dial_target(target)
    if settings.tls_enabled:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=Path(settings.tls_ca).read_bytes(),
            private_key=Path(settings.tls_key).read_bytes(),
            certificate_chain=Path(settings.tls_cert).read_bytes(),
        )
        return grpc.aio.secure_channel(target, credentials, options=options)
    return grpc.aio.insecure_channel(target, options=options)
