"""The contracts: generated code matches the protos, and buf lint passes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _buf() -> str | None:
    local = ROOT / "tools" / "node_modules" / ".bin" / "buf"
    return str(local) if local.exists() else shutil.which("buf")


def test_generated_code_is_fresh() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_protos.py"), "--check"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_buf_lint_passes() -> None:
    buf = _buf()
    if buf is None:
        if os.environ.get("CI"):
            pytest.fail("buf is not installed: run `npm install --prefix tools` (the CI script does)")
        pytest.skip("buf not installed (npm install --prefix tools)")
    result = subprocess.run([buf, "lint"], cwd=ROOT / "protos", capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_buf_lint_detects_a_violation(tmp_path: Path) -> None:
    """The lint step is real: a proto breaking the style guide fails it."""
    buf = _buf()
    if buf is None:
        pytest.skip("buf not installed (npm install --prefix tools)")
    module = tmp_path / "govshare" / "bad" / "v1"
    module.mkdir(parents=True)
    shutil.copyfile(ROOT / "protos" / "buf.yaml", tmp_path / "buf.yaml")
    (module / "bad.proto").write_text(
        'syntax = "proto3";\npackage govshare.bad.v1;\nenum Colour { RED = 0; }\n'
        "service Paint { rpc Mix(Colour2) returns (Colour2); }\nmessage Colour2 {}\n"
    )
    result = subprocess.run([buf, "lint"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "ENUM_ZERO_VALUE_SUFFIX" in result.stdout or "UNSPECIFIED" in result.stdout
