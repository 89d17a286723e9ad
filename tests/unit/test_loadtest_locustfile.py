"""The Locust harness run as a load tester runs it (`locust -f loadtest/locustfile.py …`), in a subprocess (Locust
patches its process with gevent), against a stand-in gateway: a real gRPC server that issues a token, or refuses
the credentials, and answers every other call with an empty message."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from loadtest import workloads
from services.demo import DemoCredentials

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = ROOT / "loadtest" / "locustfile.py"


@pytest.fixture
def credentials(tmp_path: Path) -> Path:
    path = tmp_path / "demo-credentials.json"
    DemoCredentials(gateway="127.0.0.1:1", persons=10_000, seed=42,
                    systems={"social": {"system_id": "sys-abc", "secret": "s3cret"}},
                    resources={title: code for code, title in workloads.RESOURCE_TITLES.items()}).save(path)
    return path


def locust_command(credentials: Path, host: str, run_time: str) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--users", "2", "--spawn-rate", "2",
            "--run-time", run_time, "--credentials", str(credentials), "--host", host, "HotKeys"]


def locust(credentials: Path, host: str, run_time: str = "3s") -> subprocess.CompletedProcess[str]:
    return subprocess.run(locust_command(credentials, host, run_time), cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


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


def test_a_missing_credentials_file_stops_locust_with_one_line(tmp_path: Path) -> None:
    result = locust(tmp_path / "nope.json", "127.0.0.1:50051")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "nope.json does not exist" in result.stderr
