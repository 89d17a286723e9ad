"""A service with several worker processes keeps all of them: a dead worker is restarted and logged."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from free_ports import free_port
from metrics_scrape import scrape

from services.runtime.keys import PlatformKeys

ROOT = Path(__file__).resolve().parents[2]
#: Each test stops its service with SIGTERM once checked: no caller to let go of, so no NOT_SERVING notice (5 s by
#: default, every worker waiting it out before it exits).
NO_DRAIN_GRACE = {"GOVSHARE_DRAIN_GRACE_SECONDS": "0"}



def _workers(parent: int) -> set[int]:
    """The parent's worker processes (multiprocessing's spawned children, not its resource tracker)."""
    found = subprocess.run(["pgrep", "-P", str(parent), "-f", "spawn_main"], capture_output=True, text=True,
                           check=False).stdout.split()
    return {int(pid) for pid in found}


def _eventually(check: Callable[[], bool], what: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 120  # a bound on waiting, not a performance threshold
    while time.monotonic() < deadline:
        if check():
            return
        if process.poll() is not None:
            pytest.fail(f"the service exited ({process.returncode}) waiting for {what}:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}:\n{log.read_text()[-3000:]}")


@pytest.mark.integration
def test_a_dead_worker_is_restarted(database_url: str, redis_url: str, keys: PlatformKeys, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVSHARE_")}
    env.update({"GOVSHARE_ZONE": "extranet", "GOVSHARE_LISTEN": f"127.0.0.1:{free_port()}",
                "GOVSHARE_DATABASE_URL": database_url, "GOVSHARE_REDIS_URL": redis_url,
                "GOVSHARE_INTERNAL_KEY": keys.internal_key, "GOVSHARE_TOKEN_PUBLIC_KEY": keys.token_public_key,
                "GOVSHARE_WORKERS": "2", **NO_DRAIN_GRACE,
                # Where catalog delivers its administrative events (nothing listens: they wait in its outbox).
                "GOVSHARE_AUTHORIZATION_TARGET": f"127.0.0.1:{free_port()}"})
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "-m", "services.cli", "serve", "catalog"], cwd=ROOT, env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        _eventually(lambda: len(_workers(process.pid)) == 2, "two workers", process, log)
        before = _workers(process.pid)
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        _eventually(lambda: "killed by SIGKILL; restarting in" in log.read_text(), "the restart log line", process,
                    log)
        _eventually(lambda: len(_workers(process.pid)) == 2 and victim not in _workers(process.pid),
                    "a replacement worker", process, log)
        assert "catalog worker" in log.read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert _workers(process.pid) == set()


@pytest.mark.integration
def test_every_authorization_worker_serves_beside_the_jwks_listener(database_url: str, redis_url: str,
                                                                    keys: PlatformKeys, tmp_path: Path) -> None:
    """Workers share the JWKS port as they share the gRPC one: before, the second worker could not bind it and
    retried forever, never serving (so `govshare up --workers 2` never finished seeding)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVSHARE_")}
    env.update({"GOVSHARE_ZONE": "extranet", "GOVSHARE_LISTEN": f"127.0.0.1:{free_port()}",
                "GOVSHARE_DATABASE_URL": database_url, "GOVSHARE_REDIS_URL": redis_url,
                "GOVSHARE_INTERNAL_KEY": keys.internal_key, "GOVSHARE_TOKEN_PUBLIC_KEY": keys.token_public_key,
                "GOVSHARE_TOKEN_PRIVATE_KEY": keys.token_private_key,
                "GOVSHARE_JWKS_LISTEN": f"127.0.0.1:{free_port()}", "GOVSHARE_WORKERS": "2", **NO_DRAIN_GRACE,
                "GOVSHARE_CATALOG_TARGET": f"127.0.0.1:{free_port()}"})
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "-m", "services.cli", "serve", "authorization"], cwd=ROOT,
                                   env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _eventually(lambda: log.read_text().count("authorization serving on port") == 2, "both workers serving",
                    process, log)
        assert "address already in use" not in log.read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            raise


@pytest.mark.integration
def test_readiness_of_several_workers_is_one_sample_that_forgets_a_dead_worker(
        database_url: str, redis_url: str, keys: PlatformKeys, tmp_path: Path) -> None:
    """With GOVSHARE_WORKERS=2, govshare_ready was one sample per worker labelled by pid (not the one sample of a
    single process the dashboards and alerts read), and a worker killed left its last value, 1, beside its
    replacement's for as long as the service ran. It is now the least of the live workers', without labels."""
    metrics = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVSHARE_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update({"GOVSHARE_ZONE": "extranet", "GOVSHARE_LISTEN": f"127.0.0.1:{free_port()}",
                "GOVSHARE_DATABASE_URL": database_url, "GOVSHARE_REDIS_URL": redis_url,
                "GOVSHARE_INTERNAL_KEY": keys.internal_key, "GOVSHARE_TOKEN_PUBLIC_KEY": keys.token_public_key,
                "GOVSHARE_TOKEN_PRIVATE_KEY": keys.token_private_key,
                "GOVSHARE_WORKERS": "2", **NO_DRAIN_GRACE, "GOVSHARE_METRICS_PORT": str(metrics),
                "GOVSHARE_CATALOG_TARGET": f"127.0.0.1:{free_port()}"})
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "-m", "services.cli", "serve", "authorization"], cwd=ROOT, env=env,
                                   stdout=out, stderr=subprocess.STDOUT)

    def ready() -> dict:
        return {labels: value for (name, labels), value in scrape("127.0.0.1", metrics).items()
                if name == "govshare_ready"}

    try:
        _eventually(lambda: log.read_text().count("authorization serving on port") == 2, "both workers serving",
                    process, log)
        _eventually(lambda: ready() == {(): 1.0}, "one sample, ready", process, log)
        victim = min(_workers(process.pid))
        os.kill(victim, signal.SIGKILL)
        _eventually(lambda: log.read_text().count("authorization serving on port") == 3, "the replacement serving",
                    process, log)
        _eventually(lambda: victim not in _workers(process.pid), "the victim gone", process, log)
        assert ready() == {(): 1.0}, ready()
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
