"""The hand-built peer behind a bare Envoy: the price of the edge hop alone, with nothing the platform adds.

The platform's every call passes through Envoy (issue 9 made Envoy its one edge); the peer's do not. This
baseline puts the same Envoy binary, with the same worker count and HTTP/2 upstream, in front of the peer,
routing every path to it and doing nothing else (no token check, rate limit, transcoding, tracing or access
log), so the benchmark can tell what the hop itself does to throughput, CPU and the paced p99 on this
machine, apart from what the platform's own work does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import tempfile
from pathlib import Path

from gateway.envoy_process import envoy_binary
from loadtest.echo import EchoProcess


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _address(port: int) -> dict[str, object]:
    return {"socket_address": {"address": "127.0.0.1", "port_value": port}}


def bootstrap(listen_port: int, upstream_port: int, admin_port: int) -> dict[str, object]:
    """A listener routing everything to one HTTP/2 upstream: the least an edge can do."""
    manager = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
                 "HttpConnectionManager",
        "stat_prefix": "peer_edge", "codec_type": "AUTO",
        "http2_protocol_options": {"max_concurrent_streams": 1024},
        "route_config": {"virtual_hosts": [{"name": "peer", "domains": ["*"], "routes": [
            {"match": {"prefix": "/"}, "route": {"cluster": "peer", "timeout": "30s"}}]}]},
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
    }
    http2 = {"@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
             "explicit_http_config": {"http2_protocol_options": {}}}
    return {
        "admin": {"address": _address(admin_port)},
        "static_resources": {
            "listeners": [{"name": "peer_edge", "address": _address(listen_port), "filter_chains": [
                {"filters": [{"name": "envoy.filters.network.http_connection_manager",
                              "typed_config": manager}]}]}],
            "clusters": [{"name": "peer", "type": "STATIC", "connect_timeout": "1s",
                          "typed_extension_protocol_options": {
                              "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": http2},
                          "load_assignment": {"cluster_name": "peer", "endpoints": [
                              {"lb_endpoints": [{"endpoint": {"address": _address(upstream_port)}}]}]}}],
        },
    }


class BareEnvoy(EchoProcess):
    """Envoy in front of ``upstream_port``, as a child process whose CPU the benchmark counts (an EchoProcess:
    the same address, pid and SIGTERM-then-kill stop)."""

    def __init__(self, process: asyncio.subprocess.Process, port: int, directory: Path) -> None:
        super().__init__(process, port)
        self._directory = directory

    @classmethod
    async def start(cls, upstream_port: int, workers: int = 1,  # type: ignore[override]
                    wait_seconds: float = 30.0) -> BareEnvoy:
        directory = Path(tempfile.mkdtemp(prefix="gs-peer-edge-"))
        port = free_port()
        config = directory / "envoy.json"
        config.write_text(json.dumps(bootstrap(port, upstream_port, free_port())), encoding="utf-8")
        process = await asyncio.create_subprocess_exec(
            envoy_binary(), "--config-path", str(config), "--concurrency", str(workers),
            "--disable-hot-restart", "--log-level", "warn",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        edge = cls(process, port, directory)
        try:
            await edge._wait_listening(wait_seconds)
        except BaseException:
            await edge.stop()
            raise
        return edge

    async def _wait_listening(self, wait_seconds: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        while loop.time() < deadline:
            if self.process.returncode is not None:
                raise RuntimeError(f"Envoy in front of the peer exited with {self.process.returncode}")
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"Envoy in front of the peer did not listen within {wait_seconds:.0f} s")

    async def stop(self) -> None:
        await super().stop()
        for path in self._directory.iterdir():
            path.unlink()
        self._directory.rmdir()
