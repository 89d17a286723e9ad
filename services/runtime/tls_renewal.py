"""Restarting on renewed certificates: a process reads its mTLS files once, so it drains and restarts to use new ones.

grpc reads a server's certificate and a channel's client certificate when they are made, and the mesh's are made
once, at start. cert-manager renews a certificate before it expires (the chart: at day 75 of 90) and the kubelet
swaps the mounted files, but a process that kept the old ones failed every call between services from the old
certificate's expiry on. Each process now notices the files changed, checks that the new ones load (a broken
renewal must not stop a process that still works), waits a random part of ``SPREAD_SECONDS`` so that the replicas
of a service (which all see the new files within the kubelet's sync period) do not restart together, and then
stops as on SIGTERM: NOT_SERVING, the drain, exit. Kubernetes starts the container again (a worker of a
multi-worker process is started again by its parent), and the new process reads the new files.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from services.runtime.settings import Settings

log = logging.getLogger(__name__)

#: How often the files are compared with those the process started with.
CHECK_SECONDS = 60.0
#: The restart waits a random time up to this after the change is seen (a renewal leaves 15 days before expiry).
SPREAD_SECONDS = 600.0


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """The files a process serves and calls with: its certificate and key, and the CA it trusts ('' for none)."""

    cert: str
    key: str
    ca: str = ""

    @classmethod
    def of(cls, settings: Settings) -> TlsFiles:
        return cls(settings.tls_cert, settings.tls_key, settings.tls_ca)


def fingerprint(files: TlsFiles) -> str | None:
    """A digest of the files as they are now; None while one cannot be read."""
    digest = hashlib.sha256()
    try:
        for path in (files.cert, files.key, files.ca):
            digest.update(Path(path).read_bytes() if path else b"")
            digest.update(b"\0")
    except OSError:
        return None
    return digest.hexdigest()


def load_problem(files: TlsFiles) -> str | None:
    """Why the files as they are now would not serve (a key not of the certificate, a CA that is not PEM), or None:
    loaded as the new process would, before this one gives up working ones for them."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(files.cert, files.key)
        if files.ca:
            context.load_verify_locations(cafile=files.ca)
    except (OSError, ssl.SSLError, ValueError) as exc:
        return str(exc) or type(exc).__name__
    return None


async def restart_when_renewed(files: TlsFiles, restart: Callable[[], None], component: str) -> None:
    """Calls ``restart`` once the TLS files differ from those at start and load; runs until then (or cancelled)."""
    started = fingerprint(files)
    refused: str | None = None
    while True:
        await asyncio.sleep(CHECK_SECONDS)
        now = fingerprint(files)
        if now is None or now in (started, refused):
            continue  # unchanged, mid-swap, or a renewal already found broken
        if problem := load_problem(files):
            refused = now
            log.error("%s: the TLS files changed but do not load (%s): still serving with the certificate read at "
                      "start; fix %s", component, problem, ", ".join(path for path in (files.cert, files.key, files.ca)
                                                                     if path))
            continue
        delay = random.uniform(0.0, SPREAD_SECONDS)
        log.warning("%s: the TLS certificate was renewed: restarting in %.0f s to use it (a drain, as on SIGTERM)",
                    component, delay)
        await asyncio.sleep(delay)
        restart()
        return
