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
    shutil.copytree(ROOT / "protos" / "third_party", tmp_path / "third_party")
    (module / "bad.proto").write_text(
        'syntax = "proto3";\npackage govshare.bad.v1;\nenum Colour { RED = 0; }\n'
        "service Paint { rpc Mix(Colour2) returns (Colour2); }\nmessage Colour2 {}\n"
    )
    result = subprocess.run([buf, "lint"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "ENUM_ZERO_VALUE_SUFFIX" in result.stdout or "UNSPECIFIED" in result.stdout


def test_the_freshness_check_covers_the_descriptor_set_openapi_and_vendored_protos(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hand-edited openapi.yaml, descriptor set or vendored google/api proto is reported stale."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import gen_protos

    protos = tmp_path / "protos"
    shutil.copytree(ROOT / "protos", protos, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(gen_protos, "PROTOS", protos)
    monkeypatch.setattr(gen_protos, "DESCRIPTOR_SET", protos / gen_protos.DESCRIPTOR_SET.name)
    monkeypatch.setattr(gen_protos, "OPENAPI", protos / "govshare" / gen_protos.OPENAPI.name)
    monkeypatch.setattr(gen_protos, "THIRD_PARTY", protos / "third_party")
    assert gen_protos.stale_files() == []
    with (protos / "govshare" / "openapi.yaml").open("a") as edited:
        edited.write("# edited by hand\n")
    (protos / "govshare.binpb").write_bytes((protos / "govshare.binpb").read_bytes()[:-1])
    (protos / "third_party" / "google" / "api" / "http.proto").unlink()
    assert gen_protos.stale_files() == ["govshare.binpb", "govshare/openapi.yaml",
                                        "third_party/google/api/http.proto"]
