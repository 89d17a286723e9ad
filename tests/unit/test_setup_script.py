"""scripts/setup.sh, which both README commands start with: once installed, it installs nothing again until
pyproject.toml changes (the install is editable: code changes need no reinstall)."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: The extras scripts/test installs, so this run finds them installed (the suite runs after it).
TEST_EXTRAS = "test,embedded,load"


def _setup() -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "scripts/setup.sh", TEST_EXTRAS], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


def test_an_installed_checkout_is_not_installed_again() -> None:
    """Each `scripts/up` ran pip again (~7 s) and printed setuptools' warning box about editable installs."""
    first = _setup()  # under scripts/test it is installed already; run alone, this may install
    assert first.returncode == 0, first.stderr
    stamp = ROOT / ".venv" / f".govshare-installed-{TEST_EXTRAS}"
    assert stamp.read_text().strip() == hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    again = _setup()
    assert again.returncode == 0, again.stderr
    assert again.stdout == "" and again.stderr == "", (again.stdout, again.stderr)  # pip did not run
