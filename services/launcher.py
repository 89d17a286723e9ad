"""`govshare up`: the whole platform on one machine.

Starts PostgreSQL and Redis from Python packages in the data directory (unless
``GOVSHARE_DATABASE_URL`` / ``GOVSHARE_REDIS_URL`` point at real servers), applies
migrations, runs the five services as separate processes exactly as they run in
production (`govshare serve <component>`), waits until each reports SERVING on
the standard health service, seeds the demo on first start, prints the gateway
address and demo credentials, and stops everything cleanly on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.runtime.db import migrate_all
from services.runtime.embedded import EmbeddedServers
from services.runtime.keys import PlatformKeys, generate_keys, private_pem

ORDER = ("catalog", "foundation", "authorization", "query", "supervision", "gateway")
OFFSETS = {"gateway": 0, "catalog": 1, "authorization": 2, "query": 3, "foundation": 4, "supervision": 5}
READY_TIMEOUT = 120.0


def load_or_create_keys(path: Path) -> PlatformKeys:
    """The platform's keys for this data directory (created once, readable only by the owner)."""
    if path.exists():
        keys = PlatformKeys(**json.loads(path.read_text(encoding="utf-8")))
        if keys.audit_signing_key:
            return keys
        # A data directory from before audit checkpoints: add their key, keep the others.
        keys = dataclasses.replace(keys, audit_signing_key=private_pem(Ed25519PrivateKey.generate()))
    else:
        keys = generate_keys()
    path.write_text(json.dumps(keys.__dict__), encoding="utf-8")
    os.chmod(path, 0o600)
    return keys


def service_environment(component: str, ports: dict[str, int], database_url: str, redis_url: str,
                        keys: PlatformKeys, zone: str, workers: int) -> dict[str, str]:
    """The environment one service process gets (what the Helm chart sets in a cluster)."""
    env = dict(os.environ)
    env.update({
        "GOVSHARE_ZONE": zone,
        "GOVSHARE_LISTEN": f"127.0.0.1:{ports[component]}",
        "GOVSHARE_DATABASE_URL": database_url,
        "GOVSHARE_REDIS_URL": redis_url,
        "GOVSHARE_INTERNAL_KEY": keys.internal_key,
        "GOVSHARE_TOKEN_PUBLIC_KEY": keys.token_public_key,
        "GOVSHARE_WORKERS": str(workers),
        "OTEL_SERVICE_NAME": f"govshare-{component}",
        **{f"GOVSHARE_{name.upper()}_TARGET": f"127.0.0.1:{port}" for name, port in ports.items()
           if name != "gateway"},
    })
    if component == "authorization":
        env["GOVSHARE_TOKEN_PRIVATE_KEY"] = keys.token_private_key
    if component == "query":
        env["GOVSHARE_AUDIT_SIGNING_KEY"] = keys.audit_signing_key
    return env


def wait_until_serving(port: int, process: subprocess.Popen, timeout: float = READY_TIMEOUT) -> None:
    """Polls the standard health service until SERVING; fails fast if the process died."""
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"service on port {port} exited with status {process.returncode}")
            with contextlib.suppress(grpc.RpcError):
                if stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status == \
                        health_pb2.HealthCheckResponse.SERVING:
                    return
            time.sleep(0.2)
    raise SystemExit(f"service on port {port} did not become ready in {timeout:.0f}s")


def _stop(processes: dict[str, subprocess.Popen]) -> None:
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 25
    for process in processes.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(max(0.1, deadline - time.monotonic()))
        if process.poll() is None:
            process.kill()


def _print_banner(gateway: str, credentials_path: Path, started: float) -> None:
    data = json.loads(credentials_path.read_text(encoding="utf-8"))
    print(f"\ngovshare is up in {time.monotonic() - started:.1f}s — gateway at {gateway}\n")
    print("demo business systems (secrets are in " + str(credentials_path) + "):")
    for key, system in data["systems"].items():
        print(f"  {key:10s} {system['system_id']:24s} {system['name']}")
    print("\ndemo resources:")
    for name, code in data["resources"].items():
        print(f"  {code}  {name}")
    from services.foundation.synthetic import citizen_id_of, credit_code_of, person

    seed = data.get("seed", 42)
    someone = person(0, seed)
    print("\ntry (in another terminal, after `. .venv/bin/activate`):")
    print(f"  govshare query 102001/000001 {credit_code_of(0, seed)}")
    print(f"  govshare query 101001/000001 {citizen_id_of(0, seed)} --items citizen_id,name")
    print(f"  govshare query 101001/000001 {citizen_id_of(0, seed)}        # refused: NOT_GRANTED")
    print(f"  govshare verify 101001/000001 {citizen_id_of(0, seed)} name={someone['name']}")
    print("Ctrl-C stops everything.\n", flush=True)


def run_platform(data_dir: Path, port_base: int = 50051, persons: int = 10_000, zone: str = "extranet",
                 workers: int = 1) -> None:
    """Runs the platform in the foreground until interrupted."""
    from services.demo import seed_demo

    started = time.monotonic()
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    database_url = os.environ.get("GOVSHARE_DATABASE_URL", "")
    redis_url = os.environ.get("GOVSHARE_REDIS_URL", "")
    embedded = EmbeddedServers(data_dir).start(postgres=not database_url, redis=not redis_url)
    database_url = database_url or embedded.database_url
    redis_url = redis_url or embedded.redis_url
    keys = load_or_create_keys(data_dir / "keys.json")
    asyncio.run(migrate_all(database_url))
    ports = {name: port_base + offset for name, offset in OFFSETS.items()}
    processes: dict[str, subprocess.Popen] = {}
    stopping = False

    def interrupt(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    try:
        # The backends first, the gateway once they serve: its channels then connect at the first attempt,
        # instead of failing calls while they wait out a reconnection backoff right after the banner.
        backends, edge = tuple(c for c in ORDER if c != "gateway"), ("gateway",)
        for group in (backends, edge):
            for component in group:
                processes[component] = subprocess.Popen(
                    [sys.executable, "-m", "services.cli", "serve", component],
                    env=service_environment(component, ports, database_url, redis_url, keys, zone, workers))
            for component in group:
                wait_until_serving(ports[component], processes[component])
        gateway = f"127.0.0.1:{ports['gateway']}"
        credentials_path = data_dir / "demo-credentials.json"
        if not credentials_path.exists():
            print(f"seeding demo data ({persons} persons)…", flush=True)
            credentials = asyncio.run(seed_demo(gateway, database_url, persons=persons))
            credentials.save(credentials_path)
        _print_banner(gateway, credentials_path, started)
        while not stopping:
            for component, process in processes.items():
                if process.poll() is not None:
                    print(f"{component} exited with status {process.returncode}; stopping", file=sys.stderr)
                    stopping = True
            time.sleep(0.3)
    finally:
        print("stopping…", flush=True)
        _stop(processes)
        embedded.stop()
