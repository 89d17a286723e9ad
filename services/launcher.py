"""`govshare up`: the whole platform on one machine.

Locks the data directory (one platform per directory), checks that its ports are
free, starts PostgreSQL and Redis from Python packages in the data directory
(unless ``GOVSHARE_DATABASE_URL`` / ``GOVSHARE_REDIS_URL`` point at real servers),
applies migrations, runs the six services as separate processes exactly as they
run in production (`govshare serve <component>`), waits until each reports SERVING
on the standard health service, seeds the demo on first start, writes where
everything is to the connection file the CLI reads (services/connection.py),
prints it, keeps every process and embedded server running (a dead one is
restarted with backoff, as Kubernetes does in a cluster, and a hung one, which
answers no health check for a minute, is killed and restarted), and stops everything
cleanly on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import errno
import json
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import grpc
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from grpc_health.v1 import health_pb2, health_pb2_grpc

from console.settings import SHARED_SETTINGS, ConsoleSettingsError, load_console_settings
from gateway.descriptors import descriptor_set_problems
from services.connection import Connection, DataDirLock, DataDirLocked, public_url
from services.runtime import settings
from services.runtime.db import migrate_all
from services.runtime.embedded import EmbeddedDidNotStart, EmbeddedServers, EmbeddedUnavailable
from services.runtime.errors import describe
from services.runtime.files import replace_private
from services.runtime.keys import PlatformKeys, bundle_public_key, generate_keys, private_pem
from services.runtime.provider_assertions import provider_public_keys
from services.runtime.supervision import (
    PROBE_TIMEOUT_SECONDS,
    STOP_AT_ONCE,
    Liveness,
    Supervisor,
    child_setup,
    describe_exit,
    ended_or_hung,
    hung_seconds,
    hung_seconds_problem,
    probe_interval,
    probe_timeout,
)
from services.runtime.variables import unread_variables

ORDER = ("catalog", "foundation", "authorization", "query", "supervision", "gateway")
OFFSETS = {"gateway": 0, "catalog": 1, "authorization": 2, "query": 3, "foundation": 4, "supervision": 5}
#: Listeners beside the services' gRPC ports: the web console (HTTP), the demo department's 前置机, Envoy's
#: admin (localhost) and the authorization service's JWKS.
EXTRA_OFFSETS = {"console": 6, "frontproc": 7, "edge admin": 8, "jwks": 9}
READY_TIMEOUT = 120.0
#: Synthetic persons a new data directory is seeded with when `govshare up --persons` is not given.
DEFAULT_PERSONS = 10_000
#: With ``--heavy-read-processes``: a process of catalog and one of query serving only what the edge routes to
#: them (gateway.routing.HEAVY_READS), on these offsets.
HEAVY_READ_OFFSETS = {"catalog": 10, "query": 11}
#: The ports one platform may take from ``--port N``: N to N+11.
PORT_BLOCK = max((*OFFSETS.values(), *EXTRA_OFFSETS.values(), *HEAVY_READ_OFFSETS.values())) + 1
#: Where Linux's ephemeral ports start (net.ipv4.ip_local_port_range: 32768-60999 by default): outgoing
#: connections take their local ports there, so a block chosen there may be held by a long-lived connection or
#: taken between the check and the bind (a loaded test run found 52006 taken for minutes).
EPHEMERAL_START = 32768


def free_port_base(count: int = PORT_BLOCK, start: int = 20000, stop: int = EPHEMERAL_START) -> int:
    """A port such that it and the next ``count - 1`` are free on 127.0.0.1, below the ephemeral range: for tests
    and benchmarks that start ``govshare up`` (or other listeners) beside other work."""
    for base in range(start, stop - count, max(count, 10)):
        sockets: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError(f"no {count} free ports in a row between {start} and {stop}")


@dataclasses.dataclass(frozen=True)
class HeavyReads:
    """Whether listings and searches get processes of their own, and their nice level (0: as the others).

    In a cluster they are other replicas (a Deployment of the same image) with their own CPU; on one machine
    a positive nice level emulates that: the kernel runs the Query path first when both want the CPU."""

    processes: bool = False
    nice: int = 0

    def ports(self, port_base: int) -> dict[str, int]:
        return {f"{c} heavy reads": port_base + o for c, o in HEAVY_READ_OFFSETS.items()} if self.processes else {}


def load_or_create_keys(path: Path) -> PlatformKeys:
    """The platform's keys for this data directory (created once, readable only by the owner).

    A data directory from before audit checkpoints or signed bundles gets those keys added, keeping the others.
    """
    try:
        stored = json.loads(path.read_bytes()) if path.exists() else {}
        if not isinstance(stored, dict) or not all(isinstance(value, str) for value in stored.values()):
            raise ValueError("not an object of keys")
    except ValueError as exc:  # json.JSONDecodeError and UnicodeDecodeError are ones
        # Never replaced by new keys here: the database holds the persons' TOTP secrets sealed with the old
        # person-secret key, and checkpoints and bundles signed with the old signing keys.
        raise SystemExit(f"govshare up: {path} is not the platform's keys ({exc}): put back the copy kept with "
                         "your backups (deleting it makes new keys, leaving every local account's TOTP secret "
                         "unreadable)") from None
    unknown = sorted(set(stored) - {field.name for field in dataclasses.fields(PlatformKeys)})
    if unknown:
        # Written by a newer govshare: starting would fail on them, and writing the file back without them would
        # lose keys that data of the newer release is sealed or signed with.
        raise SystemExit(f"govshare up: {path} holds keys this version of govshare does not know "
                         f"({', '.join(unknown)}): the data directory was used by a newer govshare. Start that "
                         "version again; going back to an older one on the same data directory is not supported.")
    keys = PlatformKeys(**stored) if stored else generate_keys()
    for name in ("audit_signing_key", "bundle_signing_key", "provider_signing_key"):
        if not getattr(keys, name):
            keys = dataclasses.replace(keys, **{name: private_pem(Ed25519PrivateKey.generate())})
    if not keys.person_secret_key:
        keys = dataclasses.replace(keys, person_secret_key=secrets.token_urlsafe(32))
    if keys.__dict__ != stored:
        replace_private(path, json.dumps(keys.__dict__))
    # The public half, for the intranet's GOVSHARE_BUNDLE_TRUSTED_KEYS (not a secret).
    path.with_name("bundle-public.pem").write_text(bundle_public_key(keys.bundle_signing_key), encoding="utf-8")
    # The public half a department's 前置机 trusts (platform_keys in its configuration; not a secret).
    path.with_name("provider-public.pem").write_text(provider_public_keys(keys.provider_signing_key),
                                                     encoding="utf-8")
    return keys


#: The listeners the banner names by "localhost" (console_url): a browser may resolve it to ::1 first, so another
#: program listening there on the port (a development server bound to localhost) would be what the link opens,
#: while the console listens on 127.0.0.1 beside it.
LOCALHOST_NAMED = ("console",)


def _first_taken(ports: dict[str, int]) -> tuple[str, int] | None:
    """The first of ``ports`` (by number) another program holds, with its name, or None."""
    for name, port in sorted(ports.items(), key=lambda item: item[1]):
        if _taken(socket.AF_INET, "127.0.0.1", port):
            return name, port
        if name in LOCALHOST_NAMED and _taken(socket.AF_INET6, "::1", port):
            return f"{name}, on ::1, where a browser opening http://localhost:{port}/ may go", port
    return None


def _taken(family: socket.AddressFamily, host: str, port: int) -> bool:
    """Whether another program listens on ``host``'s ``port`` (a machine without that address: no)."""
    try:
        sock = socket.socket(family)
    except OSError:  # no IPv6 in this kernel
        return False
    with sock:
        # As the servers will (gRPC sets it): connections of a platform stopped a moment ago, left in TIME_WAIT, do
        # not count as taken; a listening socket does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.errno != errno.EADDRNOTAVAIL  # no such address here (IPv6 loopback off)
    return False


def check_ports_free(ports: dict[str, int], port_base: int) -> None:
    """Stops with one line naming the first port another program holds, and the setting that moves it (before
    anything is started): ``--port`` for the platform's own ports, ``GOVSHARE_METRICS_PORT`` for the metrics
    endpoints.

    The message said "govshare uses N to N+9" whatever it used: with --heavy-read-processes it takes N+10 and
    N+11 too, so someone moving the block by that advice could land on a taken port again. And the metrics
    ports were not checked at all: a taken one stopped its service at start, over and over, with "service on
    port … exited" and nothing naming GOVSHARE_METRICS_PORT."""
    if (taken := _first_taken(ports)) is not None:
        name, port = taken
        raise SystemExit(
            f"govshare up: port {port} ({name}) is already in use — stop the program listening there or choose "
            f"other ports with --port N (govshare uses N to N+{max(ports.values()) - port_base}; now {port_base})"
            f"{_free_block_hint(max(ports.values()) - port_base + 1)}")
    metrics = _metrics_ports(ports, port_base)
    if metrics and (taken := _first_taken(metrics)) is not None:
        name, port = taken
        base = int(os.environ["GOVSHARE_METRICS_PORT"])
        raise SystemExit(
            f"govshare up: port {port} ({name}) is already in use — stop the program listening there or choose "
            f"another base with GOVSHARE_METRICS_PORT=B (the services' metrics take B to "
            f"B+{max(metrics.values()) - base}; now {base})")


def _free_block_hint(count: int) -> str:
    """": --port N is free now" for a block of ``count`` free ports below the ephemeral range, or "" when none is: with
    the default block taken (50051 is gRPC's own example port, which other programs and tutorials take), a
    newcomer was told to choose an N, and tried one after the other until one started."""
    try:
        return f": --port {free_port_base(count)} is free now"
    except RuntimeError:
        return ""


def _metrics_ports(ports: dict[str, int], port_base: int) -> dict[str, int]:
    """The metrics port each service process of ``ports`` will bind (GOVSHARE_METRICS_PORT; empty when it is
    off, or not a base check_settings accepts: it says so)."""
    if _metrics_base_problems():
        return {}
    offsets = {**OFFSETS, **{name: ports[name] - port_base for name in ports if name.endswith(" heavy reads")}}
    metrics = {}
    for name, offset in offsets.items():
        if port := metrics_environment(name.removesuffix(" heavy reads"), offset).get("GOVSHARE_METRICS_PORT"):
            metrics[f"{name} metrics"] = int(port)
    return metrics


def check_settings(ports: dict[str, int], zone: str, workers: int | None) -> None:
    """Stops with one message naming every bad ``GOVSHARE_*`` setting before anything starts: the processes
    would each refuse it (exit status 2) only once the embedded servers run, one after the other, and a bad
    metrics base would be reported as the port of one process (base + its offset), not the value set. A GOVSHARE_*
    variable nothing reads (GOVSHARE_WORKERS misspelt) is said, with the name it is closest to: it was ignored without a
    word, the setting left at its default."""
    problems = _metrics_base_problems()
    if hung := hung_seconds_problem(os.environ):
        problems.append(hung)
    if descriptors := os.environ.get("GOVSHARE_DESCRIPTOR_SET", "").strip():
        problems.extend(descriptor_set_problems(descriptors))  # the edge would stop on it, restarted forever
    keys = generate_keys()
    database_url = os.environ.get("GOVSHARE_DATABASE_URL", "") or "postgresql://check@127.0.0.1/check"
    redis_url = os.environ.get("GOVSHARE_REDIS_URL", "") or "redis://127.0.0.1:6379/0"
    for component in ORDER:
        env = service_environment(component, ports, database_url, redis_url, keys, zone, workers)
        if problems:
            env.pop("GOVSHARE_METRICS_PORT", None)
        problems.extend(p for p in settings.problems(component, env) if p not in problems)
    try:
        load_console_settings(console_environment(ports, redis_url))
    except ConsoleSettingsError as exc:
        problems.append(f"the console: {exc}")
    if problems:
        print("govshare up: invalid configuration:\n  - " + "\n  - ".join(problems), file=sys.stderr)
        raise SystemExit(2)
    for line in unread_variables(os.environ):
        # A warning, not a refusal: a misspelt setting stays at its default, which the platform runs with.
        _log(line)


def _metrics_base_problems() -> list[str]:
    raw = os.environ.get("GOVSHARE_METRICS_PORT", "").strip()
    highest = max((*OFFSETS.values(), *HEAVY_READ_OFFSETS.values()))
    if raw and not (raw.isdigit() and int(raw) + highest <= 65535):
        return [f"GOVSHARE_METRICS_PORT={raw!r}: expected 0 (off) or a base port up to {65535 - highest} "
                f"(each process takes base + its offset, up to +{highest})"]
    return []


def service_environment(component: str, ports: dict[str, int], database_url: str, redis_url: str,
                        keys: PlatformKeys, zone: str, workers: int | None) -> dict[str, str]:
    """The environment one service process gets (what the Helm chart sets in a cluster).

    ``workers`` is `govshare up --workers`; None (the flag not given) leaves ``GOVSHARE_WORKERS`` as set, for the
    service to use and check: the launcher wrote 1 over it, so a value set there was ignored, a typo'd one
    included."""
    env = dict(os.environ)
    env.update({
        "GOVSHARE_ZONE": zone,
        "GOVSHARE_LISTEN": f"127.0.0.1:{ports[component]}",
        "GOVSHARE_DATABASE_URL": database_url,
        "GOVSHARE_REDIS_URL": redis_url,
        "GOVSHARE_INTERNAL_KEY": keys.internal_key,
        "GOVSHARE_TOKEN_PUBLIC_KEY": keys.token_public_key,
        "OTEL_SERVICE_NAME": f"govshare-{component}",
        **{f"GOVSHARE_{name.upper()}_TARGET": f"127.0.0.1:{ports[name]}" for name in OFFSETS if name != "gateway"},
    })
    if workers is not None:
        env["GOVSHARE_WORKERS"] = str(workers)
    if component == "authorization":
        env["GOVSHARE_TOKEN_PRIVATE_KEY"] = keys.token_private_key
        env["GOVSHARE_JWKS_LISTEN"] = f"127.0.0.1:{ports['jwks']}"
        env["GOVSHARE_PERSON_SECRET_KEY"] = keys.person_secret_key
    if component == "gateway":
        # The edge is Envoy (gateway.envoy_process): it fetches the token keys from the authorization service.
        env["GOVSHARE_JWKS_URL"] = f"http://127.0.0.1:{ports['jwks']}/.well-known/jwks.json"
        env["GOVSHARE_EDGE_ADMIN"] = f"127.0.0.1:{ports['edge admin']}"
    if component == "query":
        env["GOVSHARE_AUDIT_SIGNING_KEY"] = keys.audit_signing_key
    if component in ("query", "catalog"):
        # Query signs its calls to departments' 前置机 with it, catalog its endpoint checks (nothing else).
        env["GOVSHARE_PROVIDER_SIGNING_KEY"] = keys.provider_signing_key
    env.update(metrics_environment(component))
    return env


def metrics_environment(component: str, offset: int | None = None) -> dict[str, str]:
    """One Prometheus port per process: under `govshare up`, ``GOVSHARE_METRICS_PORT`` is a base and each
    service gets base + its port offset (gateway +0, catalog +1, …), as its gRPC port is; six processes
    binding the same port would stop the platform."""
    base = os.environ.get("GOVSHARE_METRICS_PORT", "").strip()
    if not base.isdigit() or int(base) == 0:
        return {}
    return {"GOVSHARE_METRICS_PORT": str(int(base) + (OFFSETS[component] if offset is None else offset))}


def console_environment(ports: dict[str, int], redis_url: str = "") -> dict[str, str]:
    """The console's environment: where it listens, the edge it calls as the signed-in person and the Redis
    its sessions live in (so a console the supervisor restarts keeps everyone signed in), and the platform's
    settings it reads too (its log level, its call timeout: SHARED_SETTINGS). Nothing else: it gets no key and no
    database (it could not act as anyone but the person signed in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVSHARE_") or k in SHARED_SETTINGS}
    if redis_url:
        env["GOVSHARE_CONSOLE_REDIS_URL"] = redis_url
    env.update({k: v for k, v in os.environ.items() if k.startswith("GOVSHARE_CONSOLE_")})
    # Where it listens and the edge it calls are the launcher's, as each service's GOVSHARE_LISTEN and targets
    # are: taken from the environment (exported for a `govshare serve console` in the same shell), the launcher
    # waited two minutes on port N+6 for a console listening elsewhere, then stopped ("did not answer"), and a
    # console given another platform's edge signed persons in to that platform.
    env.update({"GOVSHARE_CONSOLE_LISTEN": f"127.0.0.1:{ports['console']}",
                "GOVSHARE_CONSOLE_GATEWAY": f"127.0.0.1:{ports['gateway']}"})
    return env


def console_url(ports: dict[str, int]) -> str:
    """Where a browser opens the console: localhost, a secure context, so the Secure session cookie is kept
    over plain HTTP on this machine."""
    return f"http://localhost:{ports['console']}/"


def wait_until_answering(url: str, process: subprocess.Popen, timeout: float = READY_TIMEOUT) -> None:
    """Polls an HTTP health URL until it answers 200; fails fast if the process died, or if the answer came from
    another program holding the port (see wait_until_serving)."""
    import urllib.error
    import urllib.parse
    import urllib.request

    port = urllib.parse.urlsplit(url).port or 80
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the console exited with status {process.returncode}")
        with contextlib.suppress(OSError, urllib.error.URLError), urllib.request.urlopen(url, timeout=1) as answer:
            if answer.status == 200:
                _require_own_listener(port, process, "console")
                return
        time.sleep(0.2)
    raise SystemExit(f"the console at {url} did not answer in {timeout:.0f}s")


def wait_until_serving(port: int, process: subprocess.Popen, timeout: float = READY_TIMEOUT,
                       name: str = "") -> None:
    """Polls the standard health service until SERVING; fails fast if the process died, or if the SERVING came
    from another program.

    A program that took the port between check_ports_free and the service's bind (another `govshare up`, a test
    server) answered SERVING here while the service printed "cannot listen … Address already in use" and exited:
    `govshare up` took that program for its own service and seeded the demo against a foreign platform, ending in
    a traceback (UNAUTHENTICATED "unknown system id or wrong secret"). A SERVING now counts only when ``process``
    (or a process it started) holds the listening socket."""
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"service on port {port} exited with status {process.returncode}")
            with contextlib.suppress(grpc.RpcError):
                if stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status == \
                        health_pb2.HealthCheckResponse.SERVING:
                    _require_own_listener(port, process, name)
                    return
            time.sleep(0.2)
    raise SystemExit(f"service on port {port} did not become ready in {timeout:.0f}s")


#: How long a service whose port another program answers on is given to say so itself ("cannot listen …").
OWN_LINE_SECONDS = 5.0


def _require_own_listener(port: int, process: subprocess.Popen, name: str) -> None:
    """Stops in one line naming ``port`` when what answered there is another program's listener, not
    ``process``'s: ours could not bind it (it says so and exits) and the platform would be that program's."""
    if _holds_listener(process.pid, port) is not False:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=OWN_LINE_SECONDS)  # its own "cannot listen" line, printed before ours
    label = f" ({name})" if name else ""
    raise SystemExit(
        f"govshare up: port {port}{label} was taken by another program while govshare started, and that program "
        f"answers there — stop the program listening on {port} (another govshare up?) or choose other ports with "
        "--port N, then start again")


def _holds_listener(pid: int, port: int) -> bool | None:
    """Whether process ``pid`` or one of its descendants holds a socket listening on TCP ``port``; None where
    /proc does not tell (not Linux)."""
    listeners = _listening_inodes(port)
    if listeners is None:
        return None
    for process in _process_tree(pid):
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{process}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{process}/fd/{fd}") in listeners:
                        return True
    return False


def _listening_inodes(port: int) -> set[str] | None:
    """The sockets listening on TCP ``port`` (any address), as /proc/PID/fd links name them."""
    inodes: set[str] = set()
    found = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        found = True
        for line in lines:
            fields = line.split()
            # local_address is ADDRESS:PORT in hex; state 0A is LISTEN; the inode is the tenth field.
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rpartition(":")[2], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    return inodes if found else None


def _process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (a service's workers)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                children.setdefault(int(stat.rpartition(")")[2].split()[1]), []).append(int(entry))
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        tree.append(current)
        pending.extend(children.get(current, ()))
    return tree


def _log(message: str) -> None:
    print(f"govshare up: {message}", file=sys.stderr, flush=True)


def check_servers(database_url: str, redis_url: str) -> None:
    """Migrates the database and pings Redis, or stops with one line saying which server is out of reach
    (the URL without its password): a configured server that is down is the operator's to fix."""
    import asyncpg
    import redis

    try:
        asyncio.run(migrate_all(database_url))
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise SystemExit(f"govshare up: cannot use the database at {public_url(database_url)} "
                         f"(GOVSHARE_DATABASE_URL): {type(exc).__name__}: {exc}") from None
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=5, socket_timeout=5)
    try:
        client.ping()
    except (OSError, redis.RedisError) as exc:
        raise SystemExit(f"govshare up: cannot reach Redis at {public_url(redis_url)} (GOVSHARE_REDIS_URL): "
                         f"{type(exc).__name__}: {exc}") from None
    finally:
        client.close()


def _process_ended(processes: dict[str, subprocess.Popen], name: str) -> Callable[[], str | None]:
    def ended() -> str | None:
        status = processes[name].poll()
        return None if status is None else describe_exit(status)
    return ended


def _grpc_probe(port: int) -> Callable[[], bool]:
    """Any answer of the standard health service, NOT_SERVING included (starting, draining), is a live process."""
    timeout = probe_timeout(hung_seconds(os.environ))

    def probe() -> bool:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=timeout)
        return True
    return probe


def _http_probe(url: str) -> Callable[[], bool]:
    """Any HTTP answer (Envoy's /ready says 503 while it starts or drains) is a live process."""
    import urllib.error
    import urllib.request
    timeout = probe_timeout(hung_seconds(os.environ))

    def probe() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=timeout):
                return True
        except urllib.error.HTTPError:
            return True
    return probe


def _keep_alive(supervisor: Supervisor, processes: dict[str, subprocess.Popen], name: str,
                probe: Callable[[], bool], spawn: Callable[[], None]) -> None:
    """Restarts ``name`` when it dies, and when it stops answering ``probe`` (killed first: hung, it would
    never drain), for GOVSHARE_HUNG_SECONDS."""
    hung_after = hung_seconds(os.environ)
    liveness = Liveness(probe, probe_interval(hung_after))

    def kill() -> None:
        processes[name].kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            processes[name].wait(5)

    def restart() -> None:
        spawn()
        liveness.restarted()
    supervisor.watch(name, ended_or_hung(_process_ended(processes, name), liveness, kill, hung_after), restart)


def edge_restart_command(env: dict[str, str]) -> list[str] | None:
    """Envoy's own command line to restart ``govshare up``'s edge with the configuration its first start rendered
    into ``GOVSHARE_EDGE_CONFIG_DIR``, else None (nothing rendered there: start it as ``govshare serve gateway``).

    The configuration depends only on the code and the environment, both the same for the life of ``govshare up``
    (a change of either is a new ``govshare up``, which renders again), so rendering it again at each restart
    only delayed the edge: the Python start (importing the services' runtime, ~0.7 s of CPU) took 3 to 8 s on a
    loaded machine, during which every caller's connection was refused."""
    directory = env.get("GOVSHARE_EDGE_CONFIG_DIR", "").strip()
    config = Path(directory) / "envoy.json" if directory else None
    if config is None or not config.is_file():
        return None
    from gateway.envoy_process import envoy_arguments  # the edge's own (the launcher's other services never need it)

    try:
        return envoy_arguments(config, settings.load("gateway", env))
    except (SystemExit, settings.SettingsError):  # said by `govshare serve gateway`, not by stopping govshare up
        return None


def forget_edge_config(env: dict[str, str]) -> None:
    """Removes the configuration an earlier ``govshare up`` rendered, before the edge's first start renders this
    one's: a first start that stopped before rendering must not leave a restart an older configuration."""
    directory = env.get("GOVSHARE_EDGE_CONFIG_DIR", "").strip()
    if directory:
        (Path(directory) / "envoy.json").unlink(missing_ok=True)


#: How long the edge must carry no call, once draining, before ``govshare up`` stops it.
EDGE_QUIET_SECONDS = 0.5


def _drain_grace() -> float:
    """The edge's drain period, as its Envoy was started with (``GOVSHARE_DRAIN_GRACE_SECONDS``, checked with the
    other settings before anything started)."""
    return float(os.environ.get("GOVSHARE_DRAIN_GRACE_SECONDS") or settings.Settings.drain_grace_seconds)


def _drain_edge(admin: str, grace: float) -> None:
    """Lets the calls the edge carries finish before it is stopped: Envoy ends them at SIGTERM, and a stop under
    load answered some callers with a closed connection instead of their reply.

    The edge's listeners drain (``drain_listeners?graceful``: HTTP/2 connections get GOAWAY, HTTP/1 answers
    ``Connection: close``, for ``grace`` seconds, Envoy's --drain-time-s) and then close; what is still in
    flight then has up to ``grace`` seconds more. It ends as soon as the edge has carried no call for
    EDGE_QUIET_SECONDS (at once, for an idle platform). The services behind it are stopped only after."""
    import urllib.request

    def active() -> int:
        url = f"http://{admin}/stats?filter=^http%5C.edge%5C.downstream_rq_active$"
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_SECONDS) as answer:
            return sum(int(line.rpartition(":")[2]) for line in answer.read().decode().splitlines() if ":" in line)

    try:
        urllib.request.urlopen(urllib.request.Request(f"http://{admin}/drain_listeners?graceful", method="POST"),
                               timeout=PROBE_TIMEOUT_SECONDS).close()
        deadline, quiet_since = time.monotonic() + 2 * grace, None
        while time.monotonic() < deadline:
            now = time.monotonic()
            quiet_since = (quiet_since or now) if not active() else None
            if quiet_since is not None and now - quiet_since >= EDGE_QUIET_SECONDS:
                return
            time.sleep(0.1)
    except (OSError, ValueError):
        return  # the edge is not answering (gone, hung): SIGTERM it as before


def _stop(processes: dict[str, subprocess.Popen], edge_admin: str = "", grace: float = 0.0,
          at_once: bool = False) -> None:
    """Stops the edge first, once its calls are done (``edge_admin``), then every other process.

    ``at_once``: the start was interrupted before the banner, so nobody but the launcher was given an address: no
    drain of the edge, and the gRPC services get STOP_AT_ONCE instead of SIGTERM, whose notice they would wait out
    (DRAIN_GRACE_SECONDS each) for callers there are none of."""
    edge = processes.get("gateway")
    if edge_admin and edge is not None and edge.poll() is None:
        if not at_once:
            _drain_edge(edge_admin, grace)
        edge.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            edge.wait(grace + 5)
    for name, process in processes.items():
        if process.poll() is None:
            process.send_signal(STOP_AT_ONCE if at_once and _is_grpc_service(name) else signal.SIGTERM)
    deadline = time.monotonic() + 25
    for process in processes.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(max(0.1, deadline - time.monotonic()))
        if process.poll() is None:
            process.kill()


def _is_grpc_service(name: str) -> bool:
    """Whether ``name`` (a key of the launcher's processes) is a service run by services.runtime.server (a backend
    or another replica of one), which takes STOP_AT_ONCE; the edge (Envoy), the console and the 前置机 do not."""
    return name.removesuffix(" heavy reads") in ORDER and name != "gateway"


def _compute_seeded_month(ports: dict[str, int], keys: PlatformKeys) -> None:
    """The current month's supervision computed once the demo is seeded, as `govshare supervise --months current`
    does. The supervision process computes it on its own 20 s after its start, then hourly: a seeding still under
    way then (a large --persons, a slow machine) was counted half done, its resources published and their data
    not loaded yet, and the 监督 page and the reports showed the demo's providers violating Art. 24 (未向共享平台及时
    提供共享信息) for the first hour. A computation begun later replaces one begun earlier, never the reverse
    (SupervisionStore.replace_month). A failure is said and left to the schedule: the platform is up."""
    from services.supervision.months import Month
    from services.supervision.schedule import Unreachable, compute, settings_from

    # The environment's GOVSHARE_TLS_* too, as the services and `govshare supervise` read them.
    settings_of = settings_from({**os.environ, "GOVSHARE_SUPERVISION_TARGET": f"127.0.0.1:{ports['supervision']}",
                                 "GOVSHARE_INTERNAL_KEY": keys.internal_key})
    month = Month.of(dt.datetime.now(dt.UTC))
    try:
        asyncio.run(compute(settings_of, [month]))
    except (grpc.aio.AioRpcError, Unreachable, OSError) as exc:
        _log(f"the supervision of {month.label()} was not computed after seeding ({describe(exc)}): the supervision"
             " process computes it on its schedule (GOVSHARE_SUPERVISION_SNAPSHOT_SECONDS)")


def _start_demo_frontproc(data_dir: Path, ports: dict[str, int], connection: Connection, keys: PlatformKeys,
                          credentials_path: Path, processes: dict[str, subprocess.Popen],
                          supervisor: Supervisor, sessions: dict[str, tuple[tuple, float]]) -> None:
    """The demo department's 前置机 (市人力资源和社会保障局, 社会保险参保信息) over a database of its own on the same
    PostgreSQL server, in its own process like any department's, registered in the catalog on first start
    (with ``sessions``, the persons the seeding signed in, so the reviewer is not signed in a second time)."""
    from frontproc import demo as dept
    from services.demo import DemoCredentials

    demo = json.loads(credentials_path.read_text(encoding="utf-8"))
    systems = demo["systems"]
    endpoint = f"127.0.0.1:{ports['frontproc']}"
    department_url = asyncio.run(dept.ensure_database(connection.database_url))
    asyncio.run(dept.prepare_database(department_url, min(demo.get("persons", 0) or dept.DEMO_ENROLMENTS,
                                                          dept.DEMO_ENROLMENTS), demo.get("seed", 42)))
    config = dept.set_up(data_dir / "frontproc", department_url, endpoint,
                         provider_public_keys(keys.provider_signing_key), connection.gateway,
                         systems["social"]["system_id"], systems["social"]["secret"])

    def spawn() -> None:
        processes["frontproc"] = subprocess.Popen([sys.executable, "-m", "services.cli", "frontproc", "--config",
                                                   str(config)], env=dict(os.environ), preexec_fn=child_setup())

    spawn()
    wait_until_serving(ports["frontproc"], processes["frontproc"], name="frontproc")
    _keep_alive(supervisor, processes, "frontproc", _grpc_probe(ports["frontproc"]), spawn)
    credentials = DemoCredentials.load(credentials_path)
    credentials.sessions.update(sessions)
    asyncio.run(dept.register_demo(connection.gateway, credentials, endpoint))
    if dept.RESOURCE_CODE not in credentials.resources.values():
        credentials.resources["社会保险参保信息"] = dept.RESOURCE_CODE
        credentials.save(credentials_path)


def _print_banner(connection: Connection, credentials_path: Path, started: float, console: str = "") -> None:
    data = json.loads(credentials_path.read_text(encoding="utf-8"))
    gateway = connection.gateway
    print(f"\ngovshare is up in {time.monotonic() - started:.1f}s — gateway at {gateway}"
          + (f", console at {console}" if console else "") + "\n")
    print(f"  gRPC      {gateway}  (gRPC-Web on the same address)")
    if console:
        print(f"  console   {console}  (the web console, in Chinese: sign in as a demo person below)")
    print(f"  REST      http://{gateway}/  (HTTP/JSON, e.g. POST http://{gateway}/v1/resources/{{code}}:query;"
          f" the OpenAPI document: http://{gateway}/openapi.yaml)")
    print(f"  zone      {connection.zone}")
    print(f"  database  {public_url(connection.database_url)}")
    print(f"  redis     {public_url(connection.redis_url)}")
    # The command looks for .govshare in the directory it runs in: run from the data directory itself, it found
    # nothing ("no credentials: … run `govshare up` first"), which is what "run it from this directory" said.
    default = connection.data_dir == (Path.cwd() / ".govshare").resolve()
    where = (f"run it from {connection.data_dir.parent}, the directory holding .govshare, or set GOVSHARE_DATA_DIR"
             if default else "set GOVSHARE_DATA_DIR to this directory, or pass --data-dir")
    print(f"  data      {connection.data_dir} (the govshare command reads {connection.path.name} there: {where})\n")
    print("demo business systems (secrets are in " + str(credentials_path) + "):")
    for key, system in data["systems"].items():
        print(f"  {key:10s} {system['system_id']:24s} {system['name']}")
    accounts = data.get("accounts", {})
    if accounts:
        from services.authorization.persons import ROLE_LABELS

        names = {system["department"]: system["name"] for system in data["systems"].values()}
        password = next(iter(accounts.values()))["password"]
        print(f"\ndemo persons (password {password}; the second factor: `govshare totp <username>`):")
        for username, account in accounts.items():
            roles = "、".join(ROLE_LABELS.get(role, role) for role in account["roles"])
            print(f"  {username:20s} {account['display_name']}  {roles}  {names.get(account['department_code'], '')}")
    print("\ndemo resources:")
    for name, code in data["resources"].items():
        print(f"  {code}  {name}")
    from services.demo import demo_entries
    from services.foundation.synthetic import citizen_id_of, credit_code_of, person

    seed = data.get("seed", 42)
    someone, citizen = person(0, seed), citizen_id_of(0, seed)
    population = next(e for e in demo_entries() if e.code == "101001/000001")
    basic = [item.machine_name for item in population.items if item.basic]
    restricted = next(item.machine_name for item in population.items if not item.basic)
    print("\ntry (in another terminal, after `. .venv/bin/activate`):")
    if not default:
        # Quoted for the shell: a directory with a space or a '$' ran as another command, or another directory.
        print(f"  export GOVSHARE_DATA_DIR={shlex.quote(str(connection.data_dir))}")
    print(f"  govshare query 102001/000001 {credit_code_of(0, seed)}    # unconditional; legal_representative masked")
    if not data.get("persons"):
        # Examples by a citizen's ID would all answer RECORD_NOT_FOUND: say why instead of printing them.
        print("  (no citizens were loaded (--persons 0), so there is no ID number to query by: start on a new data "
              "directory with --persons 1 or more for the examples by ID number)")
    else:
        print(f"  govshare query 101001/000001 {citizen}    # conditional: the basic items ({', '.join(basic)}) only")
        print(f"  govshare query 101001/000001 {citizen} --items {','.join(basic)},{restricted}"
              "    # refused: NOT_GRANTED (needs an approved application)")
        print(f"  govshare verify 101001/000001 {citizen} name={someone['name']}")
        print(f"  govshare query 202001/000001 {citizen} --system civil    # from the 人社局's 前置机: refused until "
              "granted (docs/frontproc.md)")
    print("Ctrl-C stops everything.\n", flush=True)


def run_platform(data_dir: Path, port_base: int = 50051, persons: int | None = None, zone: str = "extranet",
                 workers: int | None = None, heavy_reads: HeavyReads = HeavyReads()) -> None:
    """Runs the platform in the foreground until interrupted (``persons``: None, the default population)."""
    data_dir = data_dir.resolve()
    if data_dir.exists() and not data_dir.is_dir():
        raise SystemExit(f"govshare up: the data directory {data_dir} is a file: give a directory with --data-dir or "
                         "GOVSHARE_DATA_DIR (it is made if it does not exist)")
    _make_writable_data_dir(data_dir)
    try:
        with DataDirLock(data_dir):
            _run_locked(data_dir, port_base, persons, zone, workers, heavy_reads)
    except DataDirLocked as exc:
        raise SystemExit(f"govshare up: {exc}") from None
    except (EmbeddedUnavailable, EmbeddedDidNotStart) as exc:
        raise SystemExit(f"govshare up: {exc}") from None
    except Exception as exc:
        if (full := _no_room_left(exc, data_dir)) is None:
            raise
        raise SystemExit(f"govshare up: {full}") from None


def _no_room_left(error: BaseException, data_dir: Path) -> str | None:
    """One line saying which disk is full and what to do, when ``error`` (or what it was raised from) is a full
    disk: PostgreSQL's DiskFullError, or an OSError ENOSPC or EDQUOT; else None.

    A disk that filled while the platform started (the embedded PostgreSQL's files grow as the demo is seeded, and
    as the demo 前置机's database is made) ended `govshare up` in a screenful of asyncpg traceback after "stopping…",
    ending "DiskFullError: could not extend file "base/5/16509": No space left on device", nothing saying which disk
    or that a new start seeds again where this one stopped."""
    import asyncpg

    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, asyncpg.exceptions.DiskFullError):
            where = ("its server's disk (GOVSHARE_DATABASE_URL) is full: free room there"
                     if os.environ.get("GOVSHARE_DATABASE_URL") else
                     f"the embedded one keeps its files in {data_dir / 'pg'}: free room on that disk (df -h "
                     f"{shlex.quote(str(data_dir))}) or give --data-dir a directory on another disk")
            return (f"PostgreSQL has no room left to write ({describe(current)}); {where}, then start again (a "
                    "start that stopped while seeding the demo seeds it again)")
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            where = current.filename or data_dir
            return (f"no room left to write {where} ({current.strerror}): free room on that disk (df -h "
                    f"{shlex.quote(str(data_dir))}) or give --data-dir a directory on another disk, then start "
                    "again")
        pending.extend(linked for linked in (current.__cause__, current.__context__) if linked is not None)
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
    return None


def _make_writable_data_dir(data_dir: Path) -> None:
    """Makes ``data_dir``, or stops saying it cannot be written and what to give instead: a directory on a
    read-only filesystem, or under a file, stopped `up` with the bare 'PATH: Read-only file system'."""
    advice = "give a directory this user can write with --data-dir or GOVSHARE_DATA_DIR"
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SystemExit(f"govshare up: cannot make the data directory {data_dir} ({exc.strerror or exc}): "
                         f"{advice}") from None
    if not os.access(data_dir, os.W_OK | os.X_OK):  # EROFS for root too
        raise SystemExit(f"govshare up: cannot write the data directory {data_dir} (read-only, or not this user's): "
                         f"{advice}")


def _stored_credentials(path: Path):  # type: ignore[no-untyped-def]
    """The demo credentials an earlier start wrote, or None; read before anything starts. A file cut short or
    edited by hand ended `govshare up`, once every service had started, in a JSONDecodeError or TypeError
    traceback."""
    from services.demo import DemoCredentials

    if not path.exists():
        return None
    try:
        return DemoCredentials.load(path)
    except (ValueError, TypeError) as exc:  # not JSON (nor UTF-8), or not an object of its fields
        raise SystemExit(f"govshare up: {path} is not the demo credentials file it wrote ({exc}): put back the copy "
                         "kept with your backups, or move it away to seed the demo again (every demo system gets a "
                         "new secret; every demo person's password and TOTP secret reset)") from None


def _run_locked(data_dir: Path, port_base: int, persons: int | None, zone: str, workers: int | None,
                heavy_reads: HeavyReads = HeavyReads()) -> None:
    """The platform's life, while this process holds the data directory's lock."""
    from services.demo import DemoCredentials, add_missing_persons, seed_demo

    started = time.monotonic()
    stored_credentials = _stored_credentials(data_dir / "demo-credentials.json")
    if persons is not None and stored_credentials is not None and stored_credentials.persons != persons:
        # The population is loaded on the first start only: `govshare up --persons 1000000` on a seeded data
        # directory started with the 10,000 it had, saying nothing, and its user measured or searched those.
        _log(f"--persons {persons} is loaded on a data directory's first start only: {data_dir} keeps the "
             f"{stored_credentials.persons} persons it was seeded with (give a new --data-dir for {persons})")
    persons = DEFAULT_PERSONS if persons is None else persons
    ports = {name: port_base + offset for name, offset in (*OFFSETS.items(), *EXTRA_OFFSETS.items())}
    ports.update(heavy_reads.ports(port_base))
    check_ports_free(ports, port_base)
    check_settings(ports, zone, workers)
    database_url = os.environ.get("GOVSHARE_DATABASE_URL", "")
    redis_url = os.environ.get("GOVSHARE_REDIS_URL", "")
    embedded = EmbeddedServers(data_dir)
    processes: dict[str, subprocess.Popen] = {}
    connection = Connection(data_dir=data_dir, gateway=f"127.0.0.1:{ports['gateway']}", zone=zone, pid=os.getpid())
    stopping = False
    starting = True

    def interrupt(_signum: int, _frame: object) -> None:
        # While starting, the launcher waits minutes at a time (a service not ready, up to READY_TIMEOUT each; the
        # seeding): a signal that only set the flag was obeyed once the banner was printed. It stops at once now.
        nonlocal stopping
        stopping = True
        if starting:
            raise SystemExit("govshare up: interrupted while starting")

    # SIGHUP too: the terminal `govshare up` runs in closed, or the ssh session it was started from dropped. Its
    # default ended the launcher on the spot: the edge not drained, connection.json left naming a platform gone,
    # the embedded PostgreSQL left running with no `govshare up` on its data directory.
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, interrupt)
    try:
        embedded.start(postgres=not database_url, redis=not redis_url)
        connection.database_url = database_url or embedded.database_url
        connection.redis_url = redis_url or embedded.redis_url
        keys = load_or_create_keys(data_dir / "keys.json")
        check_servers(connection.database_url, connection.redis_url)
        supervisor = Supervisor(_log)
        for name in ("postgresql", "redis"):
            supervisor.watch(f"embedded {name}", lambda n=name: embedded.dead().get(n),
                             lambda n=name: embedded.restart(n))

        def spawn(name: str) -> None:
            component = name.removesuffix(" heavy reads")
            env = service_environment(component, ports, connection.database_url, connection.redis_url, keys,
                                      zone, workers)
            if name != component:  # another replica of the service, on its own port (and its own metrics port)
                env["GOVSHARE_LISTEN"] = f"127.0.0.1:{ports[name]}"
                env.update(metrics_environment(component, HEAVY_READ_OFFSETS[component]))
            if component == "gateway":
                # Each (re)start of the edge rewrites one directory instead of leaving another in /tmp.
                env.setdefault("GOVSHARE_EDGE_CONFIG_DIR", str(connection.data_dir / "edge"))
                env.update({f"GOVSHARE_{c.upper()}_HEAVY_READ_TARGET": f"127.0.0.1:{ports[f'{c} heavy reads']}"
                            for c in HEAVY_READ_OFFSETS if f"{c} heavy reads" in ports})
            nice = heavy_reads.nice if name != component else 0
            command = [sys.executable, "-m", "services.cli", "serve", component]
            if component == "gateway" and name in processes:  # a restart: Envoy again, on what it was given
                command = edge_restart_command(env) or command
            elif component == "gateway":
                forget_edge_config(env)
            processes[name] = subprocess.Popen(command, env=env, preexec_fn=child_setup(nice))

        # The backends first, the gateway once they serve: its channels then connect at the first attempt,
        # instead of failing calls while they wait out a reconnection backoff right after the banner.
        backends = (*(c for c in ORDER if c != "gateway"), *heavy_reads.ports(port_base))
        edge = ("gateway",)
        for group in (backends, edge):
            for component in group:
                spawn(component)
            for component in group:
                wait_until_serving(ports[component], processes[component], name=component)
                probe = (_http_probe(f"http://127.0.0.1:{ports['edge admin']}/ready") if component == "gateway"
                         else _grpc_probe(ports[component]))
                _keep_alive(supervisor, processes, component, probe, lambda c=component: spawn(c))
        # The console last: it only calls the edge (as the person signed in), and holds no key or database URL
        # (Redis for its sessions only).
        def spawn_console() -> None:
            processes["console"] = subprocess.Popen([sys.executable, "-m", "services.cli", "serve", "console"],
                                                    env=console_environment(ports, connection.redis_url),
                                                    preexec_fn=child_setup())

        spawn_console()
        wait_until_answering(f"http://127.0.0.1:{ports['console']}/healthz", processes["console"])
        _keep_alive(supervisor, processes, "console", _http_probe(f"http://127.0.0.1:{ports['console']}/healthz"),
                    spawn_console)
        credentials_path = data_dir / "demo-credentials.json"
        sessions: dict[str, tuple[tuple, float]] = {}
        seeded = not credentials_path.exists()
        if seeded:
            print(f"seeding demo data ({persons} persons)…", flush=True)
            credentials = asyncio.run(seed_demo(connection.gateway, connection.database_url, persons=persons))
            credentials.save(credentials_path)
            sessions = credentials.sessions
        else:
            credentials = stored_credentials or DemoCredentials.load(credentials_path)
            changed = asyncio.run(add_missing_persons(connection.gateway, credentials))
            if changed:
                print(f"added the demo persons to {credentials_path}", flush=True)
                sessions = credentials.sessions
            if credentials.gateway != connection.gateway:
                # Started again with another --port: the file kept the first start's gateway, which `govshare
                # query --credentials FILE` (no platform on its data directory) and the load tools call.
                credentials.gateway = connection.gateway
                changed = True
            if changed:
                credentials.save(credentials_path)
        _start_demo_frontproc(data_dir, ports, connection, keys, credentials_path, processes, supervisor, sessions)
        if seeded:  # its 前置机's resource (published just now) counted too
            _compute_seeded_month(ports, keys)
        connection.save()
        _print_banner(connection, credentials_path, started, console_url(ports))
        starting = False
        while not stopping:
            supervisor.tick(time.monotonic())
            time.sleep(0.3)
    finally:
        interrupted_start, starting = starting, False  # a second signal while stopping does not cut the stop short
        with contextlib.suppress(OSError):  # a terminal that hung up (SIGHUP) takes no more output: EIO
            print("stopping…", flush=True)
        connection.remove()
        _stop(processes, f"127.0.0.1:{ports['edge admin']}", _drain_grace(), at_once=interrupted_start)
        embedded.stop()
