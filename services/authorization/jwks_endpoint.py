"""The platform's token keys as a JWKS document over HTTP, for the edge (Envoy's jwt_authn ``remote_jwks``).

A deliberately small HTTP/1.1 responder on its own listener (``GOVSHARE_JWKS_LISTEN``):
it answers ``GET /.well-known/jwks.json`` with the public keys of
``GOVSHARE_TOKEN_PUBLIC_KEY`` (the current signing key and, during a rotation,
the previous one, so the two overlap) and nothing else. Public keys are not
secret; under mTLS the listener uses the process's certificates, so the edge
knows the keys came from the platform.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from pathlib import Path

from services.runtime.settings import Settings
from services.runtime.tokens import jwks

PATH = "/.well-known/jwks.json"
#: How long a client may cache the keys (the edge refetches on its own schedule, see gateway.edge).
MAX_AGE_SECONDS = 300
_READ_TIMEOUT = 5.0


def _response(status: str, body: bytes, content_type: str = "application/json") -> bytes:
    head = (f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {len(body)}\r\n"
            f"cache-control: public, max-age={MAX_AGE_SECONDS}\r\nconnection: close\r\n\r\n")
    return head.encode() + body


class JwksEndpoint:
    """Serves the JWKS on ``listen`` (host:port; port 0 picks one, see :attr:`port`)."""

    def __init__(self, settings: Settings) -> None:
        self._listen = settings.jwks_listen
        self._document = _response("200 OK", json.dumps(jwks(settings.token_public_key)).encode())
        self._not_found = _response("404 Not Found", b'{"error":"not found: the JWKS is at ' + PATH.encode() + b'"}')
        self._tls = _tls_context(settings) if settings.tls_enabled else None
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            return 0
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        if not self._listen or self._server is not None:
            return
        host, _, port = self._listen.rpartition(":")
        # Every worker process of the service listens on the same port (SO_REUSEPORT, as their gRPC servers
        # do) and serves the same keys: otherwise the second worker could never bind it and never served.
        self._server = await asyncio.start_server(self._answer, host.strip("[]"), int(port), ssl=self._tls,
                                                  reuse_address=True, reuse_port=True)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            with contextlib.suppress(Exception):
                await server.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(_READ_TIMEOUT):
                request = await reader.readuntil(b"\r\n\r\n")
            method, _, rest = request.partition(b" ")
            target = rest.partition(b" ")[0].partition(b"?")[0]
            writer.write(self._document if method == b"GET" and target == PATH.encode()
                         else self._not_found)
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()


def _tls_context(settings: Settings) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=settings.tls_ca)
    context.load_cert_chain(Path(settings.tls_cert), Path(settings.tls_key))
    context.verify_mode = ssl.CERT_REQUIRED
    return context
