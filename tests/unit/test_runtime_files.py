"""Private files are private from the moment they exist."""

from __future__ import annotations

import os
from pathlib import Path

from services.runtime.files import open_private


def test_a_private_file_is_0600_before_anything_is_written(tmp_path: Path) -> None:
    path = tmp_path / "secret.json"
    previous = os.umask(0)  # the most permissive umask: the mode must not come from it
    try:
        with open_private(path) as out:
            assert oct(path.stat().st_mode & 0o777) == "0o600"
            out.write("{}")
    finally:
        os.umask(previous)
    assert path.read_text(encoding="utf-8") == "{}"


def test_an_existing_file_is_tightened_and_truncated(tmp_path: Path) -> None:
    path = tmp_path / "bundle.tar.gz"
    path.write_bytes(b"old contents that are longer")
    path.chmod(0o644)
    with open_private(path, "wb") as out:
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        out.write(b"new")
    assert path.read_bytes() == b"new"
