"""`govshare up` as a newcomer runs it: five processes on embedded servers, a served query, a clean Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.foundation.synthetic import credit_code_of

ROOT = Path(__file__).resolve().parents[2]


def _free_port_block(size: int = 5) -> int:
    """A base port with ``size`` free ports after it."""
    for base in range(52000, 60000, 10):
        try:
            for port in range(base, base + size):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free port block")


def _wait_for_banner(process: subprocess.Popen, log: Path, timeout: float = 180) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(encoding="utf-8", errors="replace")
        if "Ctrl-C stops everything" in text:
            return text
        if process.poll() is not None:
            pytest.fail(f"govshare up exited with {process.returncode}:\n{text[-3000:]}")
        time.sleep(0.5)
    pytest.fail("govshare up did not come up in time:\n" + log.read_text(encoding="utf-8")[-3000:])


def test_up_serves_a_query_and_stops_cleanly(tmp_path: Path) -> None:
    base = _free_port_block()
    data_dir = Path(f"/tmp/govshare-up-{os.getpid()}")  # short: PostgreSQL's socket path has a length limit
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVSHARE_")}
    log = tmp_path / "up.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "up", "--data-dir", str(data_dir), "--port", str(base),
             "--persons", "200"], cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        banner = _wait_for_banner(process, log)
        assert f"gateway at 127.0.0.1:{base}" in banner
        credentials = data_dir / "demo-credentials.json"
        assert oct(credentials.stat().st_mode & 0o777) == "0o600"
        assert (data_dir / "keys.json").stat().st_mode & 0o077 == 0
        query = subprocess.run(
            [sys.executable, "-m", "services.cli", "query", "102001/000001", credit_code_of(0),
             "--items", "credit_code,name,legal_representative", "--credentials", str(credentials)],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False)
        assert query.returncode == 0, query.stderr
        answer = json.loads(query.stdout)
        assert answer["values"]["credit_code"] == credit_code_of(0)
        assert answer["maskedItems"] == ["legal_representative"]

        refused = subprocess.run(
            [sys.executable, "-m", "services.cli", "query", "101001/000001", "110105194912310021",
             "--credentials", str(credentials)], cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=60, check=False)
        assert refused.returncode == 1
        assert json.loads(refused.stderr)["violations"][0]["field"] == "key"
        # No secret reaches the log.
        secrets = json.loads(credentials.read_text())["systems"]
        text = log.read_text(encoding="utf-8")
        assert not any(system["secret"] in text for system in secrets.values())
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        subprocess.run(["rm", "-rf", str(data_dir)], check=False)
    assert process.returncode == 0, log.read_text(encoding="utf-8")[-2000:]
    children = subprocess.run(["pgrep", "-f", f"--data-dir {data_dir}"], capture_output=True, text=True, check=False)
    assert children.stdout.strip() == ""
