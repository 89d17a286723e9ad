"""Channels to other govshare services (and to provider endpoints).

Every channel carries trace context (OpenTelemetry client interceptor), uses
mTLS when the process has certificates, keeps connections alive, and retries
calls that failed with UNAVAILABLE — only for methods declared idempotent,
since a retried non-idempotent call could apply twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import grpc
from opentelemetry.instrumentation.grpc import aio_client_interceptors

from services.runtime.settings import Settings

CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.enable_retries", 1),
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


def open_channel(target: str, settings: Settings, idempotent_services: Iterable[str] = (),
                 traced: bool = True) -> grpc.aio.Channel:
    """An aio channel to ``target`` (host:port), secured with the process's mTLS certificates if any."""
    options = [*CHANNEL_OPTIONS]
    services = list(idempotent_services)
    if services:
        options.append(("grpc.service_config", retry_config(services)))
    interceptors = aio_client_interceptors() if traced else None
    if settings.tls_enabled:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=Path(settings.tls_ca).read_bytes(),
            private_key=Path(settings.tls_key).read_bytes(),
            certificate_chain=Path(settings.tls_cert).read_bytes(),
        )
        return grpc.aio.secure_channel(target, credentials, options=options, interceptors=interceptors)
    return grpc.aio.insecure_channel(target, options=options, interceptors=interceptors)
