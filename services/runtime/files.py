"""Files only their owner may read (keys, credentials, connection settings, data bundles)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO


def open_private(path: Path, mode: str = "w", encoding: str | None = "utf-8") -> IO:
    """Opens ``path`` for writing, truncated, with mode 0600 from the moment it exists.

    Writing first and chmod-ing after leaves a window in which the file has the umask's mode (usually
    0644): anyone on the machine could read a secret then. An older file of that name keeps its inode, so
    its mode is tightened too.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, mode, encoding=None if "b" in mode else encoding)


def replace_private(path: Path, text: str) -> None:
    """Writes ``text`` to ``path`` (0600) whole or not at all: under a hidden ``.<name>.partial`` beside it, flushed
    to disk, then renamed over it. Truncating ``path`` and writing into it lost what it held when the write failed
    (a full disk, a quota, a Ctrl-C): the platform's keys.json (every person's TOTP secret is sealed with a key in
    it) or the demo credentials (the only record of the demo systems' secrets)."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        with open_private(partial) as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
