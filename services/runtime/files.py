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
