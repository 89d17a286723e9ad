"""Metrics and traces of real gateway processes, configured by environment as in production.

Each test starts ``python -m gateway`` in front of the session's backends, calls it over a socket, stops it
with SIGTERM and reads what it exported: its Prometheus endpoint, the spans its console exporter printed,
or what an OTLP collector (a real HTTP or gRPC server in the test) received. The checks run in a thread:
the session's backends serve on the test's event loop, which must stay free.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
import pytest
from free_ports import free_port
from metrics_scrape import scrape
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from govshare.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from services.launcher import wait_until_serving
from services.runtime.identity import Caller
from services.runtime.keys import PlatformKeys
from services.runtime.tokens import issue_token
from tests.integration.conftest import Platform

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
#: Settings a catalog process needs to start that the tests below never reach.
UNUSED_SERVERS = {"GOVSHARE_DATABASE_URL": "postgresql://unused", "GOVSHARE_REDIS_URL": "redis://unused"}
GET_ENTRY = "/govshare.catalog.v1.CatalogService/GetEntry"



@dataclass
class Gateway:
    process: subprocess.Popen
    port: int
    keys: PlatformKeys

    def metadata(self, *extra: tuple[str, str]) -> tuple[tuple[str, str], ...]:
        token = issue_token(self.keys.token_private_key, Caller("sys-telemetry", "telemetry"), 600).token
        return (("authorization", f"Bearer {token}"), *extra)

    def stop(self) -> tuple[int, str, str]:
        """SIGTERM, then the exit status and everything the process printed."""
        self.process.send_signal(signal.SIGTERM)
        out, err = self.process.communicate(timeout=60)
        return self.process.returncode, out, err


@contextmanager
def gateway(platform: Platform, keys: PlatformKeys, **env: str) -> Iterator[Gateway]:
    """A real catalog process (the runtime every Python service shares) on the session's database and Redis,
    with ``env`` added to its environment. (The edge is Envoy: its telemetry is tested in test_gateway.)"""
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("GOVSHARE_", "OTEL_"))}
    environment.update({
        "GOVSHARE_LISTEN": f"127.0.0.1:{port}",
        "GOVSHARE_INTERNAL_KEY": platform.settings["catalog"].internal_key.decode(),
        "GOVSHARE_TOKEN_PUBLIC_KEY": keys.token_public_key,
        "GOVSHARE_DATABASE_URL": platform.settings["catalog"].database_url,
        "GOVSHARE_REDIS_URL": platform.settings["catalog"].redis_url,
        "GOVSHARE_DRAIN_GRACE_SECONDS": "0",
        **{f"GOVSHARE_{name.upper()}_TARGET": platform.port(name)
           for name in ("catalog", "authorization", "query", "foundation")},
        **env,
    })
    process = subprocess.Popen([sys.executable, "-m", "services.catalog"], cwd=ROOT, env=environment, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until_serving(port, process, timeout=60)
        yield Gateway(process, port, keys)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def get_entries(gw: Gateway, codes: list[str], *extra: tuple[str, str]) -> list[grpc.StatusCode]:
    """GetEntry for each code through the gateway; the status of each call."""
    results = []
    with grpc.insecure_channel(f"127.0.0.1:{gw.port}") as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        for code in codes:
            try:
                stub.GetEntry(catalog_pb2.GetEntryRequest(code=code), metadata=gw.metadata(*extra), timeout=10)
                results.append(grpc.StatusCode.OK)
            except grpc.RpcError as error:
                results.append(error.code())  # type: ignore[attr-defined]
    return results


# -- metrics ----------------------------------------------------------------------------------------------------

def rpc_samples(samples: dict, name: str, code: str) -> float:
    labels = (("code", code), ("method", "GetEntry"), ("service", "govshare.catalog.v1.CatalogService"))
    return samples.get((name, labels), 0.0)


async def test_a_service_counts_and_times_every_call_by_its_final_code(platform: Platform,
                                                                      keys: PlatformKeys) -> None:
    await asyncio.to_thread(_test_a_service_counts_and_times_every_call_by_its_final_code, platform, keys)


def _test_a_service_counts_and_times_every_call_by_its_final_code(platform: Platform, keys: PlatformKeys) -> None:
    published = next(iter(platform.credentials.resources.values()))
    metrics_port = free_port()
    with gateway(platform, keys, GOVSHARE_METRICS_PORT=str(metrics_port)) as gw:
        codes = get_entries(gw, [published, "109999/999999", published, "109999/999999"])
        assert codes == [grpc.StatusCode.OK, grpc.StatusCode.NOT_FOUND] * 2
        with grpc.insecure_channel(f"127.0.0.1:{gw.port}") as channel:  # methods nobody serves here
            for method in ("/govshare.authorization.v1.AuthorizationService/Check", "/no.Such/Method"):
                with pytest.raises(grpc.RpcError) as refused:
                    channel.unary_unary(method)(b"", metadata=gw.metadata(), timeout=10)
                assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED  # type: ignore[attr-defined]
        samples = scrape("127.0.0.1", metrics_port)
        gw.stop()
    for code, count in {"OK": 2, "NOT_FOUND": 2}.items():
        assert rpc_samples(samples, "govshare_rpc_total", code) == count, code
        assert rpc_samples(samples, "govshare_rpc_duration_seconds_count", code) == count, code
    unrouted = ("govshare_rpc_total", (("code", "UNIMPLEMENTED"), ("method", "unrouted"), ("service", "unrouted")))
    assert samples[unrouted] == 2
    # the process samples its event loop's lateness while it serves
    assert samples[("govshare_event_loop_lag_seconds_count", ())] > 0


async def test_metrics_listen_on_the_listen_host_only(platform: Platform, keys: PlatformKeys) -> None:
    await asyncio.to_thread(_test_metrics_listen_on_the_listen_host_only, platform, keys)


def _test_metrics_listen_on_the_listen_host_only(platform: Platform, keys: PlatformKeys) -> None:
    metrics_port = free_port()
    with gateway(platform, keys, GOVSHARE_METRICS_PORT=str(metrics_port)) as gw:
        assert scrape("127.0.0.1", metrics_port)  # GOVSHARE_LISTEN is 127.0.0.1:…
        with pytest.raises(urllib.error.URLError):  # another address of this machine is not served
            scrape("127.0.0.2", metrics_port)
        gw.stop()
    other = free_port()
    with gateway(platform, keys, GOVSHARE_METRICS_PORT=str(other), GOVSHARE_METRICS_HOST="127.0.0.2") as gw:
        assert scrape("127.0.0.2", other)
        gw.stop()


async def test_a_metrics_port_in_use_stops_the_process_with_one_message(platform: Platform, keys: PlatformKeys) -> None:
    await asyncio.to_thread(_test_a_metrics_port_in_use_stops_the_process_with_one_message, platform, keys)


def _test_a_metrics_port_in_use_stops_the_process_with_one_message(platform: Platform, keys: PlatformKeys) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        environment = {k: v for k, v in os.environ.items() if not k.startswith("GOVSHARE_")}
        environment.update({"GOVSHARE_LISTEN": "127.0.0.1:0", "GOVSHARE_METRICS_PORT": str(port),
                            "GOVSHARE_INTERNAL_KEY": "k" * 40, **UNUSED_SERVERS,
                            "GOVSHARE_TOKEN_PUBLIC_KEY": keys.token_public_key,
                            **{f"GOVSHARE_{n.upper()}_TARGET": "127.0.0.1:1"
                               for n in ("catalog", "authorization", "query", "foundation")}})
        done = subprocess.run([sys.executable, "-m", "services.catalog"], cwd=ROOT, env=environment,
                              capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert f"cannot serve metrics on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr


# -- traces -----------------------------------------------------------------------------------------------------

def console_spans(out: str) -> list[str]:
    """The names of the spans a console exporter printed (one JSON object per span)."""
    return [line.split('"name": ')[1].strip().strip('",') for line in out.splitlines()
            if line.startswith('    "name": ')]


async def test_the_console_exporter_is_used_when_asked(platform: Platform, keys: PlatformKeys) -> None:
    await asyncio.to_thread(_test_the_console_exporter_is_used_when_asked, platform, keys)


def _test_the_console_exporter_is_used_when_asked(platform: Platform, keys: PlatformKeys) -> None:
    with gateway(platform, keys, OTEL_TRACES_EXPORTER="console", OTEL_TRACES_SAMPLER="always_on") as gw:
        get_entries(gw, ["109999/999999"] * 3)
        status, out, _ = gw.stop()
    assert status == 0
    assert console_spans(out) == [GET_ENTRY] * 3


async def test_the_sampler_follows_the_environment(platform: Platform, keys: PlatformKeys) -> None:
    await asyncio.to_thread(_test_the_sampler_follows_the_environment, platform, keys)


def _test_the_sampler_follows_the_environment(platform: Platform, keys: PlatformKeys) -> None:
    with gateway(platform, keys, OTEL_TRACES_EXPORTER="console", OTEL_TRACES_SAMPLER="traceidratio",
                 OTEL_TRACES_SAMPLER_ARG="0") as gw:
        get_entries(gw, ["109999/999999"] * 3)
        _, out, _ = gw.stop()
    assert console_spans(out) == []


@pytest.mark.parametrize("variables", [
    {"OTEL_TRACES_EXPORTER": "zipkin"},
    {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"},
    {"OTEL_TRACES_SAMPLER_ARG": "1%"},
])
async def test_tracing_variables_are_validated_at_start(keys: PlatformKeys, variables: dict[str, str]) -> None:
    await asyncio.to_thread(_test_tracing_variables_are_validated_at_start, keys, variables)


def _test_tracing_variables_are_validated_at_start(keys: PlatformKeys, variables: dict[str, str]) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("GOVSHARE_", "OTEL_"))}
    environment.update({"GOVSHARE_INTERNAL_KEY": "k" * 40, **UNUSED_SERVERS,
                            "GOVSHARE_TOKEN_PUBLIC_KEY": keys.token_public_key,
                        **{f"GOVSHARE_{n.upper()}_TARGET": "127.0.0.1:1"
                           for n in ("catalog", "authorization", "query", "foundation")}, **variables})
    done = subprocess.run([sys.executable, "-m", "services.catalog"], cwd=ROOT, env=environment, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert next(iter(variables)) in done.stderr or list(variables)[-1] in done.stderr
    assert "Traceback" not in done.stderr


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()
        self.wfile.write(trace_service_pb2.ExportTraceServiceResponse().SerializeToString())

    def log_message(self, *_args: object) -> None:
        pass


def span_names(requests: list[trace_service_pb2.ExportTraceServiceRequest]) -> list[str]:
    return [span.name for request in requests for resource in request.resource_spans
            for scope in resource.scope_spans for span in scope.spans]


@pytest.mark.parametrize("protocol_variable", ["OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"])
async def test_otlp_over_http_when_the_protocol_says_so(platform: Platform, keys: PlatformKeys,
                                                   protocol_variable: str) -> None:
    await asyncio.to_thread(_test_otlp_over_http_when_the_protocol_says_so, platform, keys, protocol_variable)


def _test_otlp_over_http_when_the_protocol_says_so(platform: Platform, keys: PlatformKeys,
                                                   protocol_variable: str) -> None:
    handler = type("Collector", (_Collector,), {"received": []})
    collector = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    try:
        with gateway(platform, keys, OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{collector.server_port}",
                     OTEL_TRACES_SAMPLER="always_on", **{protocol_variable: "http/protobuf"}) as gw:
            get_entries(gw, ["109999/999999"] * 2)
            assert gw.stop()[0] == 0
    finally:
        collector.shutdown()
    assert {path for path, _ in handler.received} == {"/v1/traces"}
    requests = [trace_service_pb2.ExportTraceServiceRequest.FromString(body) for _, body in handler.received]
    assert span_names(requests) == [GET_ENTRY] * 2


class _GrpcCollector(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self.received: list[trace_service_pb2.ExportTraceServiceRequest] = []

    def Export(self, request, context):  # type: ignore[no-untyped-def]
        self.received.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()


async def test_otlp_over_grpc_by_default(platform: Platform, keys: PlatformKeys) -> None:
    await asyncio.to_thread(_test_otlp_over_grpc_by_default, platform, keys)


def _test_otlp_over_grpc_by_default(platform: Platform, keys: PlatformKeys) -> None:
    collector = _GrpcCollector()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(collector, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with gateway(platform, keys, OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{port}",
                     OTEL_TRACES_EXPORTER="otlp", OTEL_TRACES_SAMPLER="always_on") as gw:
            get_entries(gw, ["109999/999999"])
            assert gw.stop()[0] == 0
    finally:
        server.stop(0)
    assert span_names(collector.received) == [GET_ENTRY]
