"""Where a running `govshare up` is: its lock and its connection file in the data directory.

`govshare up` holds an exclusive ``flock`` on ``<data dir>/up.lock`` for the platform's whole life, so a
second `govshare up` on the same directory is refused instead of sharing (and, on stop, killing) the
first one's embedded servers. While it runs it keeps ``<data dir>/connection.json`` (mode 0600: it may hold
a database password) with the gateway, database and Redis URLs and the zone; every other `govshare`
command reads it by default, so `govshare export-bundle` or `govshare query` work against the embedded
servers without anyone reading code. The file is removed on stop; one left behind by a killed platform is
recognised as stale because nobody holds the lock any more.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from services.runtime.files import open_private

LOCK_FILE = "up.lock"
CONNECTION_FILE = "connection.json"
DEFAULT_DATA_DIR = ".govshare"


def data_dir_of_environment() -> str:
    """GOVSHARE_DATA_DIR as every other variable is read (trimmed; empty is unset), else ``.govshare``. Taken as
    it was, an empty value (``export GOVSHARE_DATA_DIR=``) was the current directory, where `govshare up` then
    made its database and keys, and a value with a trailing space was a directory of that name."""
    return os.environ.get("GOVSHARE_DATA_DIR", "").strip() or DEFAULT_DATA_DIR


class DataDirLocked(Exception):
    """Another `govshare up` runs on this data directory."""


class DataDirLock:
    """The exclusive lock a platform holds on its data directory (released when the process ends)."""

    def __init__(self, data_dir: Path) -> None:
        self._path = data_dir / LOCK_FILE
        self._fd: int | None = None

    def __enter__(self) -> DataDirLock:
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise DataDirLocked(
                f"{self._path.parent} is in use by another `govshare up` (pid {holder}): stop that one first, "
                "or give this one its own --data-dir") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the lock
            self._fd = None


def platform_running(data_dir: Path) -> bool:
    """Whether a `govshare up` holds the data directory's lock right now."""
    try:
        fd = os.open(data_dir / LOCK_FILE, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


@dataclass
class Connection:
    """How to reach a running platform (what `govshare up` prints and writes)."""

    data_dir: Path
    gateway: str
    zone: str
    pid: int
    database_url: str = ""
    redis_url: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.data_dir / CONNECTION_FILE

    def save(self) -> None:
        """Writes the file with mode 0600 from the start (it may hold a password), replacing it atomically."""
        partial = self.path.with_suffix(".partial")
        with open_private(partial) as out:
            json.dump({**asdict(self), "data_dir": str(self.data_dir)}, out, indent=2)
        os.replace(partial, self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def running_connection(data_dir: Path) -> Connection | None:
    """The connection of the platform running on ``data_dir``, or None (none running, or a stale file)."""
    path = data_dir / CONNECTION_FILE
    if not path.exists() or not platform_running(data_dir):
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return Connection(**{**data, "data_dir": Path(data["data_dir"])})


def public_url(url: str) -> str:
    """``url`` without its password, for banners and messages.

    The host and port are kept as written: rebuilt from ``hostname``, an IPv6 server lost its brackets
    (postgresql://govshare:***@fd00::10:5432/govshare, no URL any tool reads), and its name its capitals."""
    parts = urlsplit(url)
    query = "&".join(_without_secret(parameter) for parameter in parts.query.split("&")) if parts.query else ""
    if not parts.password and query == parts.query:
        return url
    netloc = parts.netloc
    if parts.password:
        credentials, _, host = parts.netloc.rpartition("@")
        netloc = f"{credentials.partition(':')[0]}:***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


#: URL parameters that hold a secret (libpq's and asyncpg's): ``postgresql://fqj@db/hrss?password=…`` is a URL
#: the drivers take as well as one with the password before the host.
_SECRET_PARAMETERS = frozenset({"password", "sslpassword"})


def _without_secret(parameter: str) -> str:
    """A URL's ``name=value`` parameter, its value hidden when it is a secret (the rest as written).

    A department's database URL written with its password as a parameter (libpq's form, which asyncpg takes) was
    shown whole: in --check's "does not answer" line and in the 前置机's log, every second while it waited for
    its database at start."""
    name, equals, value = parameter.partition("=")
    return f"{name}=***" if equals and value and unquote(name).lower() in _SECRET_PARAMETERS else parameter
