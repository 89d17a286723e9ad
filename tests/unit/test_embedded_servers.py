"""The embedded servers' packages, as `govshare up` and the tests load them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_loading_pgserver_without_a_desktop_session_prints_nothing() -> None:
    """In a container, in CI or under `su`, XDG_RUNTIME_DIR is unset and pgserver's import made platformdirs warn
    about it (falling back to /tmp/runtime-UID, which serves): the first lines a newcomer's `scripts/up` printed."""
    env = {name: value for name, value in os.environ.items() if name != "XDG_RUNTIME_DIR"}
    done = subprocess.run([sys.executable, "-W", "always", "-c",
                           "from services.runtime.embedded import _require; _require('pgserver', 'PostgreSQL', 'X')"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr
