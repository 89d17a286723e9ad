"""The edge in tests: Envoy from the pinned wheel, configured by gateway.edge, over real sockets.

Envoy listens on port 0; its admin endpoint (also port 0) says which port it got.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from gateway.envoy_process import envoy_arguments, with_descriptor_set, write_config
from services.runtime.settings import Settings

READY_TIMEOUT = 60.0


@dataclass
class Edge:
    """One Envoy process: its configuration, log and listening ports."""

    settings: Settings
    #: Its configuration, descriptor set and log; removed when it stops.
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="govshare-test-edge-")))
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None
    stopped_log: str = ""
    admin: str = ""
    port: int = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.workdir / "envoy.log"

    async def start(self) -> Edge:
        """Starts Envoy and waits until it serves and every backend passed its health check (the event loop
        keeps running meanwhile: backends in this process answer Envoy's health checks)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.settings = with_descriptor_set(self.settings, self.workdir)
        config = write_config(self.settings, self.workdir, self.env)  # with TLS, the SDS files beside it
        admin_file = self.workdir / "admin-address"
        admin_file.unlink(missing_ok=True)
        arguments = [*envoy_arguments(config, self.settings), "--admin-address-path", str(admin_file)]
        self.process = self._spawn(arguments)
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"envoy exited with {self.process.returncode}:\n{self.log.read_text()[-4000:]}")
            if admin_file.exists() and admin_file.read_text().strip() and self._ready() and self._healthy():
                self.port = self._listener_port("edge")
                return self
            await asyncio.sleep(0.1)
        log = self.log.read_text()[-4000:]
        self.stop()  # the test fails here, before any teardown that would stop it: no Envoy left running
        raise RuntimeError(f"envoy not ready in {READY_TIMEOUT}s:\n{log}")

    def _spawn(self, arguments: list[str]) -> subprocess.Popen:
        with self.log.open("ab") as log:
            return subprocess.Popen(arguments, stdout=log, stderr=subprocess.STDOUT)

    def admin_get(self, path: str) -> str:
        with urllib.request.urlopen(f"http://{self.admin}{path}", timeout=5) as response:
            return response.read().decode()

    def _ready(self) -> bool:
        self.admin = (self.workdir / "admin-address").read_text().strip()
        try:
            return self.admin_get("/ready").strip() == "LIVE"
        except OSError:
            return False

    def _healthy(self) -> bool:
        """Every backend host passed its health check (``/clusters`` lists failures under health_flags)."""
        clusters = self.admin_get("/clusters")
        return "health_flags::healthy" in clusters and "failed_active_hc" not in clusters \
            and "pending_active_hc" not in clusters

    def _listener_port(self, name: str) -> int:
        listeners = json.loads(self.admin_get("/listeners?format=json"))["listener_statuses"]
        status = next(item for item in listeners if item["name"] == name)
        return int(status["local_address"]["socket_address"]["port_value"])

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self.log.exists():
            self.stopped_log = self.log.read_text(errors="replace")
        shutil.rmtree(self.workdir, ignore_errors=True)

    def log_text(self) -> str:
        """Envoy's output so far; once stopped (its access log flushed on the way out), all of it."""
        return self.log.read_text(errors="replace") if self.log.exists() else self.stopped_log


def edge_settings(base: Settings, targets: dict[str, str], jwks_port: int, **overrides: object) -> Settings:
    """The gateway's settings in front of backends at ``targets`` (``<name>_target`` → host:port)."""
    return base.with_overrides(component="gateway", listen="127.0.0.1:0", edge_admin="127.0.0.1:0",
                               jwks_url=f"http://127.0.0.1:{jwks_port}/.well-known/jwks.json", metrics_port=0,
                               **targets, **overrides)
