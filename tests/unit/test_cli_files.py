"""The CLI given a file it cannot use: one line naming the file and why, exit 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.runtime.keys import public_pem


@pytest.fixture
def public_key(tmp_path: Path) -> Path:
    path = tmp_path / "public.pem"
    path.write_text(public_pem(Ed25519PrivateKey.generate()), encoding="utf-8")
    return path


def govshare(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "services.cli", *args], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize(("command", "why"), [
    (["verify-checkpoints", "{missing}"], "No such file or directory"),
    (["verify-checkpoints", "{directory}"], "Is a directory"),
    (["audit", "verify-archive", "{missing}"], "No such file or directory"),
    (["audit", "verify-archive", "{directory}"], "Is a directory"),
])
def test_an_unusable_input_file_is_named_in_one_line(command: list[str], why: str, tmp_path: Path,
                                                      public_key: Path) -> None:
    paths = {"missing": str(tmp_path / "no-such-file"), "directory": str(tmp_path)}
    args = [part.format(**paths) for part in command]
    result = govshare(*args, "--public-key", str(public_key))
    named = args[-1]
    errors = [line for line in result.stderr.splitlines() if "Warning" not in line and "user_runtime_dir" not in line]
    assert result.returncode == 2, result.stderr
    assert errors == [f"govshare {' '.join(command[:-1])}: {named}: {why}"], result.stderr
