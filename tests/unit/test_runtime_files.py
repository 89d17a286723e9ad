"""Private files are private from the moment they exist."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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


#: Run in a process whose files may not grow past 200 bytes (RLIMIT_FSIZE: a write past it fails EFBIG, as on a
#: full disk or a quota), after the imports.
FULL_DISK = """
import json, resource, signal, sys
from pathlib import Path
from services.demo import DemoCredentials
from services.launcher import load_or_create_keys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (200, 200))
try:
    if sys.argv[1] == "keys":
        load_or_create_keys(Path(sys.argv[2]))
    else:
        DemoCredentials(gateway="127.0.0.1:1", systems={"authority": {"system_id": "sys-2", "secret": "n" * 400}}
                        ).save(Path(sys.argv[2]))
except OSError as exc:
    print(exc.strerror)
"""


@pytest.mark.parametrize("kind", ["keys", "credentials"])
def test_a_file_rewritten_on_a_full_disk_keeps_what_it_held(kind: str, tmp_path: Path) -> None:
    """keys.json (rewritten when `govshare up` adds a key an older data directory lacks) and demo-credentials.json
    (rewritten by `govshare seed` and `govshare up`) were truncated and written in place: a write that failed (a
    full disk, a quota, a Ctrl-C) left them empty or cut short, and with them every key of the platform (the
    persons' TOTP secrets are sealed with one) or the only record of the demo systems' secrets."""
    import json
    import subprocess
    import sys

    from services.demo import DemoCredentials
    from services.runtime.keys import generate_keys

    path = tmp_path / ("keys.json" if kind == "keys" else "demo-credentials.json")
    if kind == "keys":
        stored = generate_keys().__dict__
        del stored["person_secret_key"]  # an older data directory's: `up` adds it and writes the file again
        path.write_text(json.dumps(stored), encoding="utf-8")
    else:
        DemoCredentials(gateway="127.0.0.1:1", systems={"authority": {"system_id": "sys-1", "secret": "old"}}
                        ).save(path)
    before = path.read_bytes()
    done = subprocess.run([sys.executable, "-c", FULL_DISK, kind, str(path)], capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert done.stdout.strip() == "File too large", done.stdout + done.stderr
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no partial file left beside it
