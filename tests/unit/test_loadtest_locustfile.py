"""The Locust harness run as a load tester runs it (`locust -f loadtest/locustfile.py …`), in a subprocess (Locust
patches its process with gevent), against a stand-in gateway: a real gRPC server that issues a token, or refuses
the credentials, and answers every other call with an empty message."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import itertools
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest
from free_ports import free_port
from google.protobuf import timestamp_pb2
from tls_certificates import tls_pair

from govshare.authorization.v1 import token_pb2
from govshare.query.v1 import query_pb2
from loadtest import workloads
from services.demo import DemoCredentials
from services.runtime.errors import ServiceError, to_status

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = ROOT / "loadtest" / "locustfile.py"


def _record(request: bytes) -> bytes:
    """A Query's reply holding the record of the key asked for (its key item), as the platform answers."""
    return query_pb2.QueryResponse(values={"citizen_id": query_pb2.QueryRequest.FromString(request).key}
                                   ).SerializeToString()


class _Gateway(grpc.GenericRpcHandler):
    """IssueToken issues a token (or refuses with ``refuse``), Query answers the key's record; any other method
    answers an empty message."""

    def __init__(self, refuse: grpc.StatusCode | None) -> None:
        self.refuse = refuse

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        if details.method.endswith("/IssueToken"):
            return grpc.unary_unary_rpc_method_handler(self._issue)
        if details.method.endswith("/Query"):
            return grpc.unary_unary_rpc_method_handler(lambda request, context: _record(request))
        return grpc.unary_unary_rpc_method_handler(lambda request, context: b"")

    def _issue(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        if self.refuse is not None:
            context.abort(self.refuse, "unknown system id or wrong secret")
        return token_pb2.IssueTokenResponse(token="t").SerializeToString()


@contextmanager
def gateway(port: int, refuse: grpc.StatusCode | None = None) -> Iterator[None]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), handlers=[_Gateway(refuse)])
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    try:
        yield
    finally:
        server.stop(grace=None)


@pytest.fixture
def credentials(tmp_path: Path) -> Path:
    path = tmp_path / "demo-credentials.json"
    DemoCredentials(gateway="127.0.0.1:1", persons=10_000, seed=42,
                    systems={"social": {"system_id": "sys-abc", "secret": "s3cret"}},
                    resources={title: code for code, title in workloads.RESOURCE_TITLES.items()}).save(path)
    return path


def locust_command(credentials: Path, host: str, run_time: str, *extra: str, user_class: str = "HotKeys") -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--users", "2", "--spawn-rate", "2",
            "--run-time", run_time, "--credentials", str(credentials), "--host", host, *extra, user_class]


def locust(credentials: Path, host: str, run_time: str = "3s", *extra: str,
           user_class: str = "HotKeys") -> subprocess.CompletedProcess[str]:
    return subprocess.run(locust_command(credentials, host, run_time, *extra, user_class=user_class), cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def requests(output: str, name: str) -> tuple[int, int]:
    """(calls, failures) of a name in the last statistics table Locust printed."""
    rows = re.findall(rf"grpc\s+{re.escape(name)}\s+(\d+)\s+(\d+)\(", output)
    return (int(rows[-1][0]), int(rows[-1][1])) if rows else (0, 0)


def test_a_host_without_a_port_stops_locust_with_one_line(credentials: Path) -> None:
    result = locust(credentials, "127.0.0.1")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "'127.0.0.1' is not HOST:PORT" in result.stderr
    assert requests(result.stderr, "IssueToken") == (0, 0)  # no call went to port 443


def test_a_host_typed_without_a_port_in_the_web_ui_stops_the_run() -> None:
    """The form's host reaches the users only: Locust logs a StopTest's one line (also in the UI's log tab) and
    stops the run, where a LocustError was a traceback in the terminal and an empty page."""
    script = """
from locust.env import Environment
from locust.exception import StopTest
from loadtest.grpc_user import GrpcUser

class User(GrpcUser):
    host = "127.0.0.1"

try:
    User(Environment(user_classes=[User]))
except StopTest as stop:
    print("StopTest:", stop)
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert "StopTest: host '127.0.0.1' is not HOST:PORT" in result.stdout, result.stderr


def test_a_missing_credentials_file_stops_locust_with_one_line(tmp_path: Path) -> None:
    result = locust(tmp_path / "nope.json", "127.0.0.1:50051")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "nope.json does not exist" in result.stderr


def test_constant_rate_without_a_rate_stops_with_one_line(credentials: Path) -> None:
    """It ran its whole time sending nothing, after a traceback per user, and exited 0."""
    result = locust(credentials, "127.0.0.1:50051", "3s", user_class="ConstantRate")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "ConstantRate needs --rate" in result.stderr


@pytest.mark.parametrize("option", ["--rate", "--pace"])
def test_a_negative_rate_or_pace_is_refused(credentials: Path, option: str) -> None:
    result = locust(credentials, "127.0.0.1:50051", "3s", option, "-5")
    assert result.returncode == 2
    assert f"argument {option}: must be at least 0, got -5" in result.stderr


def test_a_platform_down_at_start_is_waited_for(credentials: Path, tmp_path: Path) -> None:
    """With --wait-for-platform, no traceback per user: IssueToken's UNAVAILABLE is counted, logged once, tried
    again, and the calls start when the gateway comes up."""
    port = free_port()
    log = tmp_path / "locust.log"
    with log.open("w") as output:
        process = subprocess.Popen(locust_command(credentials, f"127.0.0.1:{port}", "8s", "--wait-for-platform", "30"),
                                   cwd=ROOT, stderr=output, stdout=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while "IssueToken" not in log.read_text() and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(1.5)  # a retry or two while the gateway is still down
            with gateway(port):
                process.wait(timeout=30)
        finally:
            process.kill()
    stderr = log.read_text()
    assert "Traceback" not in stderr
    assert stderr.count("IssueToken failed: UNAVAILABLE") == 1
    issued, failed = requests(stderr, "IssueToken")
    assert failed >= 2 and issued == failed + 1  # tried again until the token came, then not again
    calls, failures = requests(stderr, "Query person (hot)")
    assert calls > 0 and failures == 0


@contextmanager
def silent_listener(port: int) -> Iterator[None]:
    """A port whose TCP connections are accepted (by the kernel's backlog) and never answered."""
    with socket.create_server(("127.0.0.1", port)):
        yield


@pytest.mark.parametrize(("listening", "extra", "said"), [
    (False, (), "UNAVAILABLE"),
    (True, (), "DEADLINE_EXCEEDED"),
    (False, ("--wait-for-platform", "2"), "waited 2s) failed UNAVAILABLE")])
def test_a_host_out_of_reach_stops_the_run_at_its_first_issue_token(credentials: Path, listening: bool,
                                                                    extra: tuple[str, ...], said: str) -> None:
    """A --host where no platform answers (a typo, the platform not started, a listener that never speaks) ran the
    whole run time making no call, and exited 1 after one line (a 3 s run against a silent listener took 17 s):
    the first IssueToken that cannot reach the platform stops the run, in one line saying what was tried and what
    to check, unless --wait-for-platform asks to wait for it (and then once that time is over)."""
    port = free_port()
    with silent_listener(port) if listening else contextlib.nullcontext():
        started = time.monotonic()
        result = locust(credentials, f"127.0.0.1:{port}", "30s", *extra)
        elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    line = next(line for line in result.stderr.splitlines() if "could not reach the platform" in line)
    assert f"IssueToken to 127.0.0.1:{port} (plaintext" in line and said in line
    assert "--wait-for-platform" in line and "--host" in line
    assert elapsed < 15, result.stderr[-2000:]  # not its 30 s
    calls, failures = requests(result.stderr, "IssueToken")
    assert calls == failures and (calls == 1 if not extra else calls >= 2)


def test_refused_credentials_stop_the_run_with_one_line(credentials: Path) -> None:
    port = free_port()
    with gateway(port, refuse=grpc.StatusCode.UNAUTHENTICATED):
        started = time.monotonic()
        result = locust(credentials, f"127.0.0.1:{port}", "30s")
        elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"refused system 'social' (sys-abc) of {credentials}: UNAUTHENTICATED" in result.stderr
    assert elapsed < 20  # stopped, not left idle for its 30 s
    assert requests(result.stderr, "IssueToken") == (1, 1)


def test_an_address_that_serves_no_issue_token_stops_the_run_with_one_line(credentials: Path) -> None:
    """A service's own port or another server answers IssueToken UNIMPLEMENTED: it was tried again every second, and
    the run went on to its end making no call, as if the platform were only starting."""
    port = free_port()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))  # no service: every method UNIMPLEMENTED
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    try:
        started = time.monotonic()
        result = locust(credentials, f"127.0.0.1:{port}", "30s")
        elapsed = time.monotonic() - started
    finally:
        server.stop(grace=None)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "the address called serves no IssueToken: UNIMPLEMENTED" in result.stderr
    assert elapsed < 20
    assert requests(result.stderr, "IssueToken") == (1, 1)


def _with_root_ca(path: Path) -> dict[str, str]:
    return {**os.environ, "GOVSHARE_ROOT_CA": str(path)}


def test_a_gateway_named_https_is_called_with_tls(credentials: Path, tmp_path: Path) -> None:
    """A cluster's gateway is reached through its TLS Ingress. --host https://… was taken, its scheme dropped, and
    the gateway called in plaintext: every IssueToken failed UNAVAILABLE, the run made no call. It is now called with
    TLS, its certificate checked against the CA GOVSHARE_ROOT_CA names, as the SDK does."""
    ca, certificate, key = tls_pair()
    (tmp_path / "ca.pem").write_bytes(ca)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), handlers=[_Gateway(None)])
    port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(key, certificate)]))
    server.start()
    try:
        result = subprocess.run(locust_command(credentials, f"https://127.0.0.1:{port}", "2s"), cwd=ROOT, text=True,
                                capture_output=True, timeout=60, env=_with_root_ca(tmp_path / "ca.pem"))
    finally:
        server.stop(grace=None)
    assert requests(result.stderr, "IssueToken") == (1, 0), result.stderr[-2000:]
    calls, failures = requests(result.stderr, "Query person (hot)")
    assert calls > 0 and failures == 0, result.stderr[-2000:]


def test_a_root_ca_file_that_holds_no_certificate_stops_the_run_with_one_line(credentials: Path,
                                                                               tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not a certificate")
    result = subprocess.run(locust_command(credentials, "https://localhost:1", "2s"), cwd=ROOT, text=True,
                            capture_output=True, timeout=60, env=_with_root_ca(tmp_path / "ca.pem"))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert f"GOVSHARE_ROOT_CA={tmp_path / 'ca.pem'} holds no PEM certificate" in result.stderr


def _frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    """An HTTP/2 frame (RFC 9113 §4.1)."""
    return struct.pack(">I", len(payload))[1:] + bytes((kind, flags)) + struct.pack(">I", stream) + payload


def _answer_http_status(connection: socket.socket, status: int) -> None:
    """Speaks just enough HTTP/2 to answer every request with ``status`` and no gRPC status, as a load balancer, a WAF
    or a proxy before the gateway does: SETTINGS acknowledged, each HEADERS answered by :status alone, stream ended."""
    received = b""

    def read(size: int) -> bytes:
        nonlocal received
        while len(received) < size:
            if not (chunk := connection.recv(65536)):
                raise EOFError
            received += chunk
        taken, received = received[:size], received[size:]
        return taken

    with connection, contextlib.suppress(EOFError, OSError):
        read(24)  # the client's preface
        connection.sendall(_frame(4, 0, 0))  # SETTINGS
        while True:
            header = read(9)
            kind, flags, stream = header[3], header[4], int.from_bytes(header[5:], "big") & 0x7FFFFFFF
            read(int.from_bytes(header[:3], "big"))
            if kind == 4 and not flags & 1:  # SETTINGS: acknowledged
                connection.sendall(_frame(4, 1, 0))
            elif kind == 1:  # HEADERS: :status (HPACK literal, the static table's :status name), END_STREAM|END_HEADERS
                connection.sendall(_frame(1, 0x5, stream, b"\x08\x03" + str(status).encode()))


@contextmanager
def http_status_server(port: int, status: int) -> Iterator[None]:
    listener = socket.create_server(("127.0.0.1", port))

    def accept() -> None:
        with contextlib.suppress(OSError):  # closed at the end
            while True:
                threading.Thread(target=_answer_http_status, args=(listener.accept()[0], status), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield
    finally:
        listener.close()


@pytest.mark.parametrize(("status", "code", "stops"), [(403, "PERMISSION_DENIED", True), (429, "UNAVAILABLE", False)])
def test_an_http_status_in_place_of_a_grpc_one_is_named_as_such(credentials: Path, status: int, code: str,
                                                               stops: bool) -> None:
    """A reply with an HTTP status and no gRPC one comes from whatever stands before the platform or in its place (a
    load balancer, a WAF, a proxy). gRPC makes up a code from it, and the harness named the failure by that code
    alone: a WAF's 403 to IssueToken stopped the run saying the platform refused the system's credentials, a load
    balancer's 429 counted as UNAVAILABLE like an outage, 413 and 500 as one UNKNOWN. The failure now says the HTTP
    status, and a refusal by HTTP status stops the run saying it is not the platform's."""
    port = free_port()
    with http_status_server(port, status):
        result = locust(credentials, f"127.0.0.1:{port}", "2s")
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    failure = rf"\d+\s+grpc IssueToken: {code} HTTP {status}\s*$"  # the error report's row
    assert re.search(failure, result.stderr, re.MULTILINE), result.stderr[-2000:]
    assert "refused system" not in result.stderr
    if stops:
        assert f"answered IssueToken with HTTP {status}, not a gRPC status" in result.stderr
        assert requests(result.stderr, "IssueToken") == (1, 1)


def _logged_at(output: str, message: str) -> dt.datetime:
    line = next(line for line in output.splitlines() if message in line)
    return dt.datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f")


def test_the_run_lasts_its_run_time(credentials: Path) -> None:
    """Computing the keys (seconds) must not be taken off the run: Locust arms its timer right after."""
    port = free_port()
    with gateway(port):
        result = locust(credentials, f"127.0.0.1:{port}", "4s")
    ran = _logged_at(result.stderr, "--run-time limit reached") - _logged_at(result.stderr, "Run time limit set")
    assert ran.total_seconds() == pytest.approx(4, abs=0.5)
    assert requests(result.stderr, "Query person (hot)")[0] > 0


def test_the_csv_files_hold_every_call_the_summary_counts(credentials: Path, tmp_path: Path) -> None:
    """Locust's writer wrote them every second, not at the end: the last second's calls were missing from the
    tables, and the last row of the history lagged as far behind the totals printed."""
    port = free_port()
    with gateway(port):
        result = locust(credentials, f"127.0.0.1:{port}", "3s", "--csv", str(tmp_path / "run"))
    with (tmp_path / "run_stats.csv").open(newline="") as file:
        counted = {row["Name"]: int(row["Request Count"]) for row in csv.DictReader(file)}
    calls, _ = requests(result.stderr, "Query person (hot)")
    assert calls > 0
    assert counted["Query person (hot)"] == calls
    with (tmp_path / "run_stats_history.csv").open(newline="") as file:
        history = [row for row in csv.DictReader(file) if row["Name"] == "Aggregated"]
    assert int(history[-1]["Total Request Count"]) == counted["Aggregated"] == calls + 1  # and IssueToken
    seconds = [int(row["Timestamp"]) for row in history]
    assert seconds == sorted(set(seconds))  # one row a second still


class _ExpiringTokens(grpc.GenericRpcHandler):
    """Issues numbered tokens valid for ``lifetime`` seconds (stated in expire_time, as the platform does) and
    refuses a call whose token has expired, or has been revoked (``revoke_after`` calls made with it), with
    UNAUTHENTICATED. Only the first token is revoked."""

    def __init__(self, lifetime: float, revoke_after: int = 0, issue_delay: float = 0.0,
                 refuse_all: bool = False) -> None:
        self.lifetime = lifetime
        self.refuse_all = refuse_all
        self.revoke_after = revoke_after
        self.issue_delay = issue_delay
        self.expires: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.lock = threading.Lock()

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        if details.method.endswith("/IssueToken"):
            return grpc.unary_unary_rpc_method_handler(self._issue)
        return grpc.unary_unary_rpc_method_handler(self._answer)

    def _issue(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        time.sleep(self.issue_delay)
        with self.lock:
            token = f"t{len(self.expires) + 1}"
            self.expires[token] = time.time() + self.lifetime
        expire = timestamp_pb2.Timestamp()
        expire.FromSeconds(int(self.expires[token]))
        return token_pb2.IssueTokenResponse(token=token, expire_time=expire).SerializeToString()

    def _answer(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        token = dict(context.invocation_metadata()).get("authorization", "").removeprefix("Bearer ")
        with self.lock:
            self.calls[token] = self.calls.get(token, 0) + 1
            revoked = token == "t1" and self.revoke_after and self.calls[token] > self.revoke_after
        if token not in self.expires or time.time() >= self.expires[token] or revoked or self.refuse_all:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "bearer token has expired: renew it")
        return _record(request)


def _run_against(handler: grpc.GenericRpcHandler, credentials: Path, run_time: str, *extra: str) -> str:
    port = free_port()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), handlers=[handler])
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    try:
        return locust(credentials, f"127.0.0.1:{port}", run_time, *extra).stderr
    finally:
        server.stop(grace=None)


def test_a_token_is_renewed_before_the_platform_s_lifetime_ends(credentials: Path) -> None:
    """It was renewed every 30 minutes whatever the platform issued it for (GOVSHARE_TOKEN_TTL_SECONDS goes down
    to a minute): once it expired, every call of the run failed UNAUTHENTICATED."""
    handler = _ExpiringTokens(lifetime=3)
    stderr = _run_against(handler, credentials, "8s")
    assert len(handler.expires) >= 2, stderr
    calls, failures = requests(stderr, "Query person (hot)")
    assert calls > 0 and failures == 0, stderr


def test_a_token_the_platform_refuses_is_renewed_at_once(credentials: Path) -> None:
    """A token refused before its time (revoked, the platform restarted with new keys) was sent until its
    renewal time 30 minutes later: the calls that met the refusal count as failures, the next ones renew it."""
    handler = _ExpiringTokens(lifetime=3600, revoke_after=50)
    stderr = _run_against(handler, credentials, "5s")
    assert len(handler.expires) == 2, stderr
    calls, failures = requests(stderr, "Query person (hot)")
    assert calls > 150 and 0 < failures < 10, stderr


class _Answering(_Gateway):
    """The stand-in gateway, saying when it has answered ``calls`` queries (``answered``)."""

    def __init__(self, calls: int) -> None:
        super().__init__(None)
        self.left = itertools.count(calls, -1)
        self.answered = threading.Event()

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        if details.method.endswith("/Query") and next(self.left) <= 1:
            self.answered.set()
        return super().service(details)


def test_calls_to_a_platform_gone_during_the_run_say_they_reached_no_server(credentials: Path) -> None:
    """The platform stopped during the run (its connection refused): every call failed "UNAVAILABLE", the name of
    an UNAVAILABLE a server answers (a service draining, the edge with no backend), so the failure table did not
    say that no platform was there any more. gRPC's own "failed to connect to all addresses" is now named
    "UNAVAILABLE no connection", as an HTTP status in place of a gRPC one is named."""
    handler = _Answering(calls=50)
    port = free_port()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), handlers=[handler])
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    threading.Thread(target=lambda: (handler.answered.wait(30), server.stop(grace=None)), daemon=True).start()
    try:
        result = locust(credentials, f"127.0.0.1:{port}", "5s")
    finally:
        server.stop(grace=None)
    assert "Traceback" not in result.stderr, result.stderr
    calls, failed = requests(result.stderr, "Query person (hot)")
    failures = failures_by_error(result.stderr, "Query person (hot)")
    assert calls > failed > 0 and failures.get("UNAVAILABLE no connection", 0) >= failed - 2, result.stderr  # the
    # calls in flight when it stopped aside


class _HalfDown(grpc.GenericRpcHandler):
    """Issues a token; answers every other call after ``delay`` seconds and fails the others at once, UNAVAILABLE
    (a service killed behind the edge)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.calls = itertools.count()

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        if details.method.endswith("/IssueToken"):
            return grpc.unary_unary_rpc_method_handler(
                lambda request, context: token_pb2.IssueTokenResponse(token="t").SerializeToString())
        return grpc.unary_unary_rpc_method_handler(self._answer)

    def _answer(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        if next(self.calls) % 2:
            context.abort(grpc.StatusCode.UNAVAILABLE, "no healthy upstream")
        time.sleep(self.delay)
        return _record(request)


def test_fast_failures_do_not_pull_the_response_times_down(credentials: Path, tmp_path: Path) -> None:
    """Every failed call's time went into the response times: half the calls refused UNAVAILABLE in a millisecond
    halved the median of a platform whose answers all took 50 ms. They are counted, as failures, not timed."""
    port = free_port()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), handlers=[_HalfDown(0.05)])
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    try:
        result = locust(credentials, f"127.0.0.1:{port}", "3s", "--csv", str(tmp_path / "run"))
    finally:
        server.stop(grace=None)
    with (tmp_path / "run_stats.csv").open(newline="") as file:
        row = next(row for row in csv.DictReader(file) if row["Name"] == "Query person (hot)")
    calls, failures = int(row["Request Count"]), int(row["Failure Count"])
    assert calls > 0 and failures >= calls // 2 - 2, result.stderr  # every failure counted
    assert float(row["Min Response Time"]) >= 50, result.stderr
    assert float(row["50%"]) >= 50, result.stderr
    assert "UNAVAILABLE" in result.stderr


class _RateLimited(grpc.GenericRpcHandler):
    """Issues a token and refuses every other call at once, RESOURCE_EXHAUSTED RATE_LIMITED with a RetryInfo of
    ``retry_after`` seconds, as the edge refuses a system over its rate."""

    def __init__(self, retry_after: float, rewritten: bool = False) -> None:
        self.status = to_status(ServiceError(grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED", "rate limit exceeded",
                                             retry_after=retry_after), "edge")
        if rewritten:  # the message rewritten on the way, the details not: they no longer match
            self.status = self.status._replace(details="rate limited by the proxy")
        self.calls = itertools.count()

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        if details.method.endswith("/IssueToken"):
            return grpc.unary_unary_rpc_method_handler(
                lambda request, context: token_pb2.IssueTokenResponse(token="t").SerializeToString())
        return grpc.unary_unary_rpc_method_handler(self._refuse)

    def _refuse(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        next(self.calls)
        context.abort_with_status(self.status)
        return b""


def test_a_closed_loop_user_waits_as_the_platform_s_refusal_asks(credentials: Path) -> None:
    """Refused at once, a user resent at once: thousands of refusals a second, the storm measuring the refusal
    path. It waits the RetryInfo's delay, as a business system with the SDK does, and each refusal is counted."""
    handler = _RateLimited(retry_after=0.5)
    stderr = _run_against(handler, credentials, "3s")
    calls, failures = requests(stderr, "Query person (hot)")
    assert 2 <= calls <= 2 * (3 / 0.5 + 2), stderr  # 2 users, one call every half second each
    assert failures == calls == next(handler.calls), stderr
    assert "RESOURCE_EXHAUSTED RATE_LIMITED" in stderr
    assert "NOT_ANSWERED" not in stderr  # the run's end, as long as the pauses, cut no call off
    assert re.search(r"closed-loop users paused \d+ times", stderr), stderr


def test_the_pauses_said_are_the_ones_waited(credentials: Path) -> None:
    """The line at the end added up the pauses the refusals asked for, the last ones too, which the run's end cut
    short: 2 users asked for 2 s pauses in a 3 s run were said to have paused 8 s (4 pauses of 2 s), more than the
    6 s the run lasted for both. A pause counts for the time waited."""
    stderr = _run_against(_RateLimited(retry_after=2.0), credentials, "3s")
    said = re.search(r"closed-loop users paused (\d+) times, ([\d.]+) s in all", stderr)
    assert said is not None, stderr
    assert int(said[1]) >= 2 and 2 * 2.0 <= float(said[2]) <= 2 * 3.0 + 0.3, stderr  # 2 users, 3 s each at most


def test_a_refusal_whose_details_do_not_match_its_status_is_counted(credentials: Path) -> None:
    """grpc_status raises ValueError when a call's rich status is not its own (a proxy rewrote grpc-message): the
    interceptor raised it, and every such call was a user's exception, none a failed call with its status."""
    handler = _RateLimited(retry_after=0.5, rewritten=True)
    stderr = _run_against(handler, credentials, "3s")
    calls, failures = requests(stderr, "Query person (hot)")
    assert calls > 0 and failures == calls == next(handler.calls), stderr
    assert "Traceback" not in stderr and "ValueError" not in stderr
    assert re.search(r"\d+\s+grpc Query person \(hot\): RESOURCE_EXHAUSTED\s*$", stderr, re.MULTILINE), stderr


def test_constant_rate_counts_the_calls_it_could_not_send(credentials: Path) -> None:
    """Open loop, IssueToken failing: the calls due were dropped unreported, and the run showed IssueToken's one
    failure a second beside a lower req/s. Each is a failure of its own name, NOT_SENT."""
    port = free_port()
    with gateway(port, refuse=grpc.StatusCode.UNAVAILABLE):
        result = locust(credentials, f"127.0.0.1:{port}", "4s", "--rate", "20", "--scenario", "hot",
                        user_class="ConstantRate")
    assert "Traceback" not in result.stderr
    calls, failures = requests(result.stderr, "Query person (hot)")
    assert calls > 0 and failures == calls, result.stderr
    assert "NOT_SENT: no token (IssueToken fails)" in result.stderr


def test_a_call_that_waits_for_its_token_is_timed_with_the_wait(credentials: Path, tmp_path: Path) -> None:
    """Closed loop: a call was timed from when it left, after the user had renewed the token (or waited while
    another user renewed it), so a TokenService taking half a second showed in no query's time."""
    handler = _ExpiringTokens(lifetime=3, issue_delay=0.5)
    stderr = _run_against(handler, credentials, "5s", "--csv", str(tmp_path / "run"))
    assert len(handler.expires) >= 2, stderr  # renewed during the run, not only before it
    with (tmp_path / "run_stats.csv").open(newline="") as file:
        row = next(row for row in csv.DictReader(file) if row["Name"] == "Query person (hot)")
    assert int(row["Failure Count"]) == 0, stderr
    assert float(row["Max Response Time"]) >= 500, stderr


def test_tokens_refused_as_soon_as_issued_are_not_renewed_on_every_call(credentials: Path) -> None:
    """A token the edge refuses however new (it trusts another signing key): the harness renewed it after every
    refused call, an IssueToken per call into the bucket all systems' IssueToken calls share. At most one a
    second now; the calls still count as failures."""
    handler = _ExpiringTokens(lifetime=3600, refuse_all=True)
    stderr = _run_against(handler, credentials, "4s")
    calls, failures = requests(stderr, "Query person (hot)")
    assert calls > 0 and failures == calls, stderr
    assert len(handler.expires) <= 7, stderr  # one at the start, then one a second at most (4 s and the ramp)


class _DisabledAWhile(grpc.GenericRpcHandler):
    """The platform as it answers a system disabled ``disabled_from`` seconds after its first token (0: before the
    run) and enabled again at ``enabled_at`` (None: never): while disabled, IssueToken and every call are refused
    UNAUTHENTICATED SYSTEM_DISABLED; once enabled, a token issued before is refused TOKEN_PREDATES_DISABLE and a new
    one accepted. Tokens live ``lifetime`` seconds (then UNAUTHENTICATED, the reason of an expired token)."""

    #: The reason and message of IssueToken's refusal, and of a call's, while disabled.
    ISSUE_REFUSAL = ("SYSTEM_DISABLED", "system sys-abc is disabled: the authority may enable it again")
    CALL_REFUSAL = ("SYSTEM_DISABLED", "system sys-abc was disabled: its tokens are no longer accepted")

    def __init__(self, disabled_from: float, enabled_at: float | None = None, lifetime: float = 3600) -> None:
        self.disabled_from, self.enabled_at, self.lifetime = disabled_from, enabled_at, lifetime
        self.start = time.monotonic() if disabled_from <= 0 else None
        self.tokens: dict[str, float] = {}  # token -> when it was issued
        self.issue_refused: list[float] = []  # when IssueToken was refused
        self.answered_once_enabled = 0
        self.lock = threading.Lock()

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        if details.method.endswith("/IssueToken"):
            return grpc.unary_unary_rpc_method_handler(self._issue)
        return grpc.unary_unary_rpc_method_handler(self._answer)

    def _now(self) -> float:
        return time.monotonic() - self.start if self.start is not None else 0.0

    def _disabled(self, at: float) -> bool:
        return self.start is not None and at >= self.disabled_from and (self.enabled_at is None or at < self.enabled_at)

    @staticmethod
    def _refuse(context: grpc.ServicerContext, reason: str, message: str) -> None:
        context.abort_with_status(to_status(ServiceError(grpc.StatusCode.UNAUTHENTICATED, reason, message), "edge"))

    def _issue(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        with self.lock:
            at = self._now()
            if self._disabled(at):
                self.issue_refused.append(at)
            else:
                self.start = self.start if self.start is not None else time.monotonic()
                token = f"t{len(self.tokens) + 1}"
                self.tokens[token] = self._now()
        if self._disabled(at):
            self._refuse(context, *self.ISSUE_REFUSAL)
        expire = timestamp_pb2.Timestamp()
        expire.FromSeconds(int(time.time() + self.lifetime))
        return token_pb2.IssueTokenResponse(token=token, expire_time=expire).SerializeToString()

    def _answer(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        token = dict(context.invocation_metadata()).get("authorization", "").removeprefix("Bearer ")
        at = self._now()
        issued = self.tokens.get(token)
        if issued is None or at >= issued + self.lifetime:
            self._refuse(context, "UNAUTHENTICATED", "bearer token has expired: renew it")
        if self._disabled(at):
            self._refuse(context, *self.CALL_REFUSAL)
        if self.enabled_at is not None and at >= self.enabled_at:
            if issued < self.enabled_at:
                self._refuse(context, "TOKEN_PREDATES_DISABLE", "this token was issued before system sys-abc was "
                             "disabled: request a new one with TokenService.IssueToken")
            with self.lock:
                self.answered_once_enabled += 1
        return _record(request)


def failures_by_error(output: str, name: str) -> dict[str, int]:
    """Locust's error report of the run: occurrences by error, for the calls of ``name``."""
    return {error.strip(): int(count) for count, error in
            re.findall(rf"^(\d+)\s+grpc {re.escape(name)}: (.+?)\s*$", output, re.MULTILINE)}


def test_a_system_disabled_during_the_run_is_counted_by_reason_and_its_token_not_renewed(credentials: Path) -> None:
    """SYSTEM_DISABLED is no refusal of the token: the harness asked IssueToken again after it (into the rate limit
    every system's IssueToken shares), took the refusal for wrong credentials ("check --credentials") and never
    renewed again, so once the system was enabled every call of the rest of the run failed TOKEN_PREDATES_DISABLE.
    Now the disabled calls are counted by their reason with no IssueToken, and the first TOKEN_PREDATES_DISABLE after
    the enable renews the token: the run calls again."""
    handler = _DisabledAWhile(disabled_from=1.0, enabled_at=3.0)
    stderr = _run_against(handler, credentials, "6s")
    assert "Traceback" not in stderr and "check --credentials" not in stderr, stderr
    assert handler.issue_refused == [], stderr  # not asked while disabled
    assert len(handler.tokens) == 2, stderr  # the first, and one once enabled
    failures = failures_by_error(stderr, "Query person (hot)")
    assert failures.get("UNAUTHENTICATED SYSTEM_DISABLED", 0) > 0, stderr
    assert 0 < failures.get("UNAUTHENTICATED TOKEN_PREDATES_DISABLE", 0) <= 4, stderr  # each user's first, at most
    assert handler.answered_once_enabled > 50, stderr
    _, failed = requests(stderr, "Query person (hot)")
    assert failed == sum(failures.values()), stderr


@pytest.mark.parametrize("disabled_from", [0.0, 1.0], ids=["before the run", "at its renewal"])
def test_an_issue_token_refused_because_the_system_is_disabled_says_so(credentials: Path,
                                                                      disabled_from: float) -> None:
    """IssueToken refused SYSTEM_DISABLED was read as wrong credentials: "check --credentials and --system", of a
    file that held the right secret. Before the run the run stops saying the system is disabled and who enables
    it; at a renewal during the run the token held is sent on (its calls counted SYSTEM_DISABLED), and IssueToken is
    not asked again for DISABLED_RECHECK_SECONDS."""
    handler = _DisabledAWhile(disabled_from=disabled_from, lifetime=2)  # renewed 1.6 s in, while disabled
    started = time.monotonic()
    port = free_port()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), handlers=[handler])
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    try:
        result = locust(credentials, f"127.0.0.1:{port}", "5s" if disabled_from else "30s")
    finally:
        server.stop(grace=None)
    stderr = result.stderr
    assert result.returncode == 1 and "Traceback" not in stderr, stderr
    assert "check --credentials" not in stderr, stderr
    assert "system 'social' (sys-abc)" in stderr and "SYSTEM_DISABLED" in stderr, stderr
    assert "the authority's 管理员 enables it again (DirectoryService.EnableSystem" in stderr, stderr
    assert len(handler.issue_refused) == 1, stderr  # asked once, not every second
    if not disabled_from:
        assert time.monotonic() - started < 20, stderr  # stopped, not its 30 s
        assert "give --system another system of the file" in stderr, stderr
        assert requests(stderr, "IssueToken") == (1, 1)
        return
    assert "IssueToken is asked again every 30s" in stderr, stderr
    failures = failures_by_error(stderr, "Query person (hot)")
    assert failures.get("UNAUTHENTICATED SYSTEM_DISABLED", 0) > 0, stderr


class _RotatedDuringTheRun(_DisabledAWhile):
    """The system's secret rotated ``disabled_from`` seconds after its first token: every call's token is refused
    SECRET_ROTATED, and IssueToken refuses the secret the file holds as any wrong secret."""

    ISSUE_REFUSAL = ("UNAUTHENTICATED", "unknown system id or wrong secret")
    CALL_REFUSAL = ("SECRET_ROTATED", "this token was issued before the secret of system sys-abc was rotated: request "
                    "a new one with TokenService.IssueToken and the new secret")


@pytest.mark.parametrize("user_class", ["HotKeys", "ConstantRate"])
def test_credentials_refused_during_the_run_stop_it_saying_the_secret_was_replaced(credentials: Path,
                                                                                   user_class: str) -> None:
    """A secret rotated during the run: the renewal's refusal was said as "check --credentials", and the run went on
    to its end sending every call with the token the platform refuses (live: 2,051 calls refused SECRET_ROTATED in
    7 s of 2 users, each an access refused in the platform's log), as if it might still make one. It stops at the
    refusal, saying the file's secret was replaced."""
    handler = _RotatedDuringTheRun(disabled_from=1.0)
    extra = ("--rate", "20", "--scenario", "hot") if user_class == "ConstantRate" else ()
    port = free_port()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), handlers=[handler])
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    try:
        started = time.monotonic()
        result = locust(credentials, f"127.0.0.1:{port}", "30s", *extra, user_class=user_class)
        elapsed = time.monotonic() - started
    finally:
        server.stop(grace=None)
    stderr = result.stderr
    assert result.returncode == 1 and "Traceback" not in stderr, stderr
    assert elapsed < 20, stderr  # stopped, not its 30 s
    assert (f"the secret of system 'social' (sys-abc) in {credentials} was replaced during the run" in stderr
            and "write the new secret into the file" in stderr), stderr
    assert requests(stderr, "IssueToken") == (2, 1), stderr
    assert failures_by_error(stderr, "Query person (hot)").get("UNAUTHENTICATED SECRET_ROTATED", 0) > 0, stderr


def test_a_run_in_several_processes_makes_its_calls(credentials: Path) -> None:
    """docs/performance.md's `--processes -1`: each worker computes the demo's keys after connecting, its event loop
    held for seconds, and the master, counting it missing after 3 s without a heartbeat, ended the run with no call
    made (and exit status 0)."""
    port = free_port()
    with gateway(port):
        result = subprocess.run(locust_command(credentials, f"127.0.0.1:{port}", "4s", "--processes", "2"), cwd=ROOT,
                                capture_output=True, text=True, timeout=120)
    assert "went missing" not in result.stderr, result.stderr[-2000:]
    assert requests(result.stderr, "Query person (hot)")[0] > 0, result.stderr[-2000:]
    assert result.returncode == 0, result.stderr[-2000:]


def test_workers_started_on_their_own_share_the_rate_among_all_the_users(credentials: Path) -> None:
    """Locust sends a worker the master's own options but not its --users, so a worker started on its own
    (`locust -f loadtest/locustfile.py --worker ConstantRate --rate 10`) shared --rate among its own --users (none:
    1) and each of its users sent the whole rate: 4 users asked for 10 calls/s in all sent 40 (~120 calls in 4 s)."""
    port, master_port = free_port(), free_port()
    common = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--credentials", str(credentials),
              "--rate", "10", "--scenario", "hot"]
    with gateway(port):
        worker = subprocess.Popen([*common, "--worker", "--master-port", str(master_port), "ConstantRate"], cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            master = subprocess.run([*common, "--master", "--master-bind-port", str(master_port), "--expect-workers",
                                     "1", "--headless", "--users", "4", "--spawn-rate", "4", "--run-time", "4s",
                                     "--host", f"127.0.0.1:{port}", "ConstantRate"],
                                    cwd=ROOT, capture_output=True, text=True, timeout=90)
            worker.wait(timeout=30)
        finally:
            worker.kill()
    calls, failures = requests(master.stderr, "Query person (hot)")
    assert 0 < calls <= 10 * 4 + 5 and failures == 0, master.stderr[-2000:]  # 10 calls/s for 4 s, the ramp in them


@pytest.mark.parametrize(("extra", "user_class"), [(("--users", "0"), "HotKeys"),
                                                   (("--rate", "0.001"), "ConstantRate")])
def test_a_run_that_made_no_call_exits_1_saying_so(credentials: Path, extra: tuple[str, ...], user_class: str) -> None:
    """An empty table and exit status 0 read as a clean run to a script; so did IssueToken's one call alone (no call
    of a rate of one in 1,000 s falls due in 2 s)."""
    port = free_port()
    with gateway(port):
        result = locust(credentials, f"127.0.0.1:{port}", "2s", *extra, user_class=user_class)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "the run made no call" in result.stderr


def test_an_open_loop_run_at_a_low_rate_ends_at_its_run_time(credentials: Path) -> None:
    """A ConstantRate user slept until its next call was due (100 s at 0.01 calls/s) whatever the run's end: the run
    waited out its 11 s stop timeout, then killed the users."""
    port = free_port()
    with gateway(port):
        result = locust(credentials, f"127.0.0.1:{port}", "2s", "--rate", "0.02", user_class="ConstantRate")
    stopping = _logged_at(result.stderr, "Shutting down") - _logged_at(result.stderr, "--run-time limit reached")
    assert stopping.total_seconds() < 2, result.stderr[-2000:]
    assert "Not all users finished" not in result.stderr


def test_ctrl_c_reaches_locusts_main_greenlet_wherever_it_comes() -> None:
    """Python raises KeyboardInterrupt in whichever greenlet runs when the signal comes, and Locust's table printer
    catches it and ends: a Ctrl-C that came while the table printed was lost and the run went on. Here a greenlet
    that swallows it, as the printer does, is running when it comes; Locust's main greenlet must still get it."""
    script = """
import os, signal, gevent
from loadtest import locustfile

locustfile._ctrl_c_stops_the_run()

def printer():  # as locust.stats.stats_printer
    try:
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(100_000):
            pass
    except KeyboardInterrupt:
        print("swallowed by the printer")

gevent.spawn(printer)
try:
    gevent.sleep(5)
    print("main: not stopped")
except KeyboardInterrupt:
    print("main: stopped")
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.stdout.splitlines() == ["main: stopped"], result.stdout + result.stderr[-2000:]


def _children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _running(pid: int) -> bool:
    """Whether a process is alive, not yet ended (an orphan that has exited may wait a moment to be reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_the_workers_of_a_run_in_several_processes_stop_when_their_master_is_killed(credentials: Path) -> None:
    """A --processes run's master killed outright (kill -9, the OOM killer) left its forked workers calling the
    platform for Locust's 60 s without a heartbeat of the master, reporting to no one: here both still ran 15 s
    after the kill. The kernel now sends them SIGTERM when their master dies."""
    port = free_port()
    workers: list[int] = []
    with gateway(port):
        process = subprocess.Popen(locust_command(credentials, f"127.0.0.1:{port}", "60s", "--processes", "2"),
                                   cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            assert process.stdout is not None
            for line in process.stdout:  # the master prints its table every 2 s
                if re.search(r"Query person \(hot\)\s+[1-9]", line):
                    break
            workers = _children(process.pid)
            assert len(workers) == 2
            process.kill()
            process.wait(timeout=10)
            deadline = time.monotonic() + 8  # their stop: the calls in flight (none here) and the quit
            while any(_running(worker) for worker in workers) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not [worker for worker in workers if _running(worker)]
        finally:
            process.kill()
            for worker in workers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker, signal.SIGKILL)


@pytest.mark.parametrize("stop", ["ctrl-c", "sigterm", "sigkill"])
def test_stopping_loadtest_run_stops_locust_with_its_results(credentials: Path, tmp_path: Path, stop: str) -> None:
    """SIGTERM ended loadtest.run alone: Locust, orphaned, went on loading the platform to the end of its --duration.
    Ctrl-C (the terminal's, to the process group) printed run.py's KeyboardInterrupt traceback, and Python killed
    Locust a quarter of a second into its shutdown. Either now stops Locust as Ctrl-C does, and waits for it. A
    SIGKILL (kill -9, the OOM killer), which run.py cannot pass on, left Locust an orphan too: the kernel now sends
    it SIGTERM when run.py dies."""
    port = free_port()
    command = [sys.executable, "-m", "loadtest.run", "--credentials", str(credentials), "--host", f"127.0.0.1:{port}",
               "--users", "1", "--duration", "60s", "--scenario", "hot", "--out", str(tmp_path), "--name", "run"]
    children: list[int] = []
    with gateway(port):
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   start_new_session=True)  # a process group of its own, as a terminal's job
        try:
            assert process.stdout is not None
            lines = []
            for line in process.stdout:  # Locust prints its table every 2 s
                lines.append(line)
                if re.search(r"Query person \(hot\)\s+[1-9]", line):
                    break
            children = _children(process.pid)
            assert children, "".join(lines)
            if stop == "ctrl-c":
                os.killpg(process.pid, signal.SIGINT)
            elif stop == "sigkill":
                process.kill()
            else:
                process.terminate()
            output = "".join(lines) + process.communicate(timeout=20)[0]
        finally:
            process.kill()
            for child in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)
    assert process.returncode == (-signal.SIGKILL if stop == "sigkill" else 0), output[-2000:]
    assert "Traceback" not in output
    assert not [child for child in children if _running(child)]
    assert "Query person (hot)" in (tmp_path / "run.html").read_text()
    with (tmp_path / "run_stats.csv").open(newline="") as file:
        assert int(next(row for row in csv.DictReader(file) if row["Name"] == "Query person (hot)")["Request Count"])


def test_a_run_stopped_by_sigterm_writes_its_html_report(credentials: Path, tmp_path: Path) -> None:
    """Locust writes --html after its main loop ends, not when SIGTERM stops it (as loadtest.run and a cancelled CI
    job stop it): such a run left its CSV files and no report."""
    port = free_port()
    report = tmp_path / "run.html"
    report.write_text("a previous run's report")
    with gateway(port):
        process = subprocess.Popen(locust_command(credentials, f"127.0.0.1:{port}", "60s", "--html", str(report)),
                                   cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            assert process.stderr is not None
            for line in process.stderr:
                if re.search(r"Query person \(hot\)\s+[1-9]", line):
                    break
            process.terminate()
            stderr = process.communicate(timeout=20)[1]
        finally:
            process.kill()
    assert process.returncode == 0, stderr[-2000:]
    assert "Query person (hot)" in report.read_text()


class _Slow(grpc.GenericRpcHandler):
    """Issues a token; answers every other call after ``delay`` seconds, counting the calls it was sent."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.received = 0
        self.lock = threading.Lock()

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        if details.method.endswith("/IssueToken"):
            return grpc.unary_unary_rpc_method_handler(
                lambda request, context: token_pb2.IssueTokenResponse(token="t").SerializeToString())
        return grpc.unary_unary_rpc_method_handler(self._answer)

    def _answer(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        with self.lock:
            self.received += 1
        time.sleep(self.delay)
        return _record(request)


@pytest.mark.parametrize("loop", ["closed", "open"])
def test_the_calls_in_flight_when_the_run_ends_are_counted(credentials: Path, tmp_path: Path, loop: str) -> None:
    """Locust killed the users at the run's end and their calls in flight were never counted: a platform that hung
    in a run's last seconds showed no failure at all. Each call sent now has its outcome in the statistics."""
    handler = _Slow(2.0)  # a call of each user is in flight at the end of the 3 s
    port = free_port()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), handlers=[handler])
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    extra = ("--rate", "4", "--scenario", "hot") if loop == "open" else ()
    try:
        result = locust(credentials, f"127.0.0.1:{port}", "3s", "--csv", str(tmp_path / "run"), *extra,
                        user_class="ConstantRate" if loop == "open" else "HotKeys")
    finally:
        server.stop(grace=None)
    with (tmp_path / "run_stats.csv").open(newline="") as file:
        row = next(row for row in csv.DictReader(file) if row["Name"] == "Query person (hot)")
    assert handler.received > 0, result.stderr[-2000:]
    assert int(row["Request Count"]) == handler.received, result.stderr[-2000:]
    assert int(row["Failure Count"]) == 0, result.stderr[-2000:]


def test_a_call_cut_off_in_flight_is_a_failure() -> None:
    """A call still in flight when Locust kills its user (the stop timeout over: the platform hangs) is counted as a
    failure, NOT_ANSWERED, not dropped."""
    script = """
import gevent
from locust.env import Environment
from loadtest.grpc_user import LocustInterceptor

environment = Environment()
fired = []
environment.events.request.add_listener(lambda **event: fired.append(event))
details = type("Details", (), {"method": "/govshare.query.v1.QueryService/Query", "timeout": 10, "metadata": [
    ("x-loadtest-name", "Query person (hot)")], "credentials": None, "wait_for_ready": None, "compression": None})()
call = gevent.spawn(LocustInterceptor(environment).intercept_unary_unary, lambda *args: gevent.sleep(60), details, b"")
gevent.sleep(0.1)
call.kill()
[event] = fired
print(event["name"], event["response_time"], repr(event["exception"]))
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "Query person (hot) None NOT_ANSWERED: in flight when the run stopped", \
        result.stderr[-2000:]


def test_a_batch_answered_without_its_keys_is_a_failure(credentials: Path) -> None:
    """The stand-in answers every BatchQuery OK with no result: none of its 100 keys found. That counted as a
    success (only the status was read), where each of those keys' Query fails NOT_FOUND."""
    port = free_port()
    with gateway(port):
        result = locust(credentials, f"127.0.0.1:{port}", "2s", user_class="Batch")
    calls, failures = requests(result.stderr, "BatchQuery (100 keys)")
    assert calls > 0 and failures == calls, result.stderr[-2000:]
    assert "WRONG_ANSWER: keys of the seeded population not found" in result.stderr


@pytest.mark.parametrize(("classes", "extra", "message"), [
    ((), (), "name the user class to run: HotKeys"),
    (("Mix",), ("--rate", "50"), "--rate is the open loop's: name ConstantRate with it (Mix would ignore it"),
])
def test_user_classes_that_cannot_run_what_is_asked_stop_with_one_line(
        credentials: Path, classes: tuple[str, ...], extra: tuple[str, ...], message: str) -> None:
    """No class named: Locust ran all six at once (a blend no scenario describes); --rate with a closed-loop class:
    ignored, the run a closed loop without a word."""
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--users", "2", "--run-time", "2s",
               "--credentials", str(credentials), "--host", "127.0.0.1:1", *extra, *classes]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert message in result.stderr
