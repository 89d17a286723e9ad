"""The embedded servers' packages, as `govshare up` and the tests load them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.runtime import embedded
from services.runtime.embedded import EmbeddedDidNotStart, EmbeddedServers

ROOT = Path(__file__).resolve().parents[2]


def test_loading_pgserver_without_a_desktop_session_prints_nothing() -> None:
    """In a container, in CI or under `su`, XDG_RUNTIME_DIR is unset and pgserver's import made platformdirs warn
    about it (falling back to /tmp/runtime-UID, which serves): the first lines a newcomer's `scripts/up` printed."""
    env = {name: value for name, value in os.environ.items() if name != "XDG_RUNTIME_DIR"}
    done = subprocess.run([sys.executable, "-W", "always", "-c",
                           "from services.runtime.embedded import _require; _require('pgserver', 'PostgreSQL', 'X')"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr


def _damaged(root: Path) -> Path:
    """A data directory whose PostgreSQL cannot start: a cluster's version file without the cluster."""
    pgdata = root / "pg"
    pgdata.mkdir(parents=True)
    (pgdata / "PG_VERSION").write_text("16\n")
    return pgdata


def test_a_postgresql_that_cannot_start_is_one_line_with_its_own_words(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    """pgserver logged the whole server log at ERROR and raised pg_ctl's CalledProcessError, which `govshare up`
    printed as a traceback; on a full disk the log's last line was a bare timestamp. Now EmbeddedDidNotStart says
    in one line what PostgreSQL wrote, or that its disk is full, and where its log is."""
    pgdata = _damaged(tmp_path / "damaged")
    with pytest.raises(EmbeddedDidNotStart) as failed:
        EmbeddedServers(pgdata.parent).start(redis=False)
    message = str(failed.value)
    assert "\n" not in message and message.startswith("the embedded PostgreSQL did not start: "), message
    assert "postgresql.conf" in message and f"(its log: {pgdata / 'log'})" in message, message
    assert not [record for record in caplog.records if record.name.startswith("pgserver")]

    pgdata = _damaged(tmp_path / "full")
    monkeypatch.setattr(embedded.shutil, "disk_usage", lambda _path: shutil._ntuple_diskusage(100, 100, 0))
    with pytest.raises(EmbeddedDidNotStart, match=f"no space left on the disk of {pgdata} \\(0 bytes free\\)"):
        EmbeddedServers(pgdata.parent).start(redis=False)


@pytest.mark.parametrize("name", ["My Projects", "x$HOME(1)"])
def test_a_data_directory_whose_path_the_shell_would_split_is_refused_saying_what_to_do(name: str) -> None:
    """A repository cloned into "~/My Projects" (./scripts/up keeps .govshare there) started no PostgreSQL, and
    `govshare up` said only 'the embedded PostgreSQL did not start: Try "postgres --help" for more information.':
    pg_ctl runs postgres through the shell with the socket directory, the data directory's path, unquoted."""
    data_dir = Path(f"/tmp/govshare-embedded-{os.getpid()}/{name}")  # short: the path is the socket's
    try:
        with pytest.raises(EmbeddedDidNotStart) as refused:
            EmbeddedServers(data_dir).start(redis=False)
        message = str(refused.value)
        assert f"cannot run in {data_dir / 'pg'}: its path holds" in message, message
        assert "--data-dir" in message and "GOVSHARE_DATABASE_URL" in message, message
    finally:
        shutil.rmtree(data_dir.parent, ignore_errors=True)


def test_a_postgresql_that_cannot_restart_is_one_line_too(caplog: pytest.LogCaptureFixture) -> None:
    """`govshare up`'s supervisor retries a dead PostgreSQL's restart with backoff: each failed attempt logged
    pgserver's dump of the whole (growing) server log; now its line names what PostgreSQL wrote."""
    data_dir = Path(f"/tmp/govshare-embedded-{os.getpid()}")  # short: PostgreSQL's socket path has a length limit
    servers = EmbeddedServers(data_dir).start(redis=False)
    try:
        subprocess.run(["kill", "-9", str(servers.postgres_pid)], check=True)
        while not servers.dead():
            time.sleep(0.05)
        (data_dir / "pg" / "postgresql.conf").rename(data_dir / "pg" / "postgresql.conf.gone")
        caplog.clear()
        with pytest.raises(EmbeddedDidNotStart, match=r"postgresql\.conf") as failed:
            servers.restart("postgresql")
        assert "\n" not in str(failed.value)
        assert not [record for record in caplog.records if record.name.startswith("pgserver")]
        (data_dir / "pg" / "postgresql.conf.gone").rename(data_dir / "pg" / "postgresql.conf")
        servers.restart("postgresql")
        assert not servers.dead()
    finally:
        servers.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_postgresql_left_by_a_launcher_killed_outright_stops_with_the_next_one() -> None:
    """pgserver stops its server when the last process that started or reused it exits, counting them in the data
    directory's ``.handle_pids.json``. A `govshare up` killed outright (``kill -9``, the OOM killer) stayed listed
    there for ever: the next `govshare up` reused the running server as it should, but its Ctrl-C then left
    PostgreSQL running (another "holder" was still listed), and so did every later one. The dead holder is now
    forgotten when the server is reused, so the stop after it stops PostgreSQL."""
    data_dir = Path(f"/tmp/govshare-embedded-k{os.getpid()}")  # short: PostgreSQL's socket path has a length limit
    launcher = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; "
         "from services.runtime.embedded import EmbeddedServers; "
         "EmbeddedServers(Path(sys.argv[1])).start(redis=False); print('started', flush=True); time.sleep(600)",
         str(data_dir)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    servers: EmbeddedServers | None = None
    pid = 0
    try:
        assert launcher.stdout is not None and launcher.stdout.readline().strip() == "started"
        launcher.kill()  # its PostgreSQL is pg_ctl's daemon, not its child: it goes on running
        launcher.wait()
        servers = EmbeddedServers(data_dir).start(redis=False)
        pid = int((data_dir / "pg" / "postmaster.pid").read_text().split()[0])
        servers.stop()
        servers = None
        deadline = time.monotonic() + 10  # pg_ctl's wait ends when the pid file goes, a moment before the process
        while _running(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _running(pid), "the embedded PostgreSQL outlived the launcher that stopped it"
    finally:
        if launcher.poll() is None:
            launcher.kill()
        if servers is not None:
            servers.stop()
        if pid and _running(pid):
            os.kill(pid, 9)
        shutil.rmtree(data_dir, ignore_errors=True)


def test_a_lock_file_naming_a_pid_another_program_has_since_is_not_taken_for_the_server() -> None:
    """A PostgreSQL that did not stop (the machine or container restarted, the server killed) leaves its
    postmaster.pid; once its pid is another program's, pgserver took that program for the server: `govshare up`
    stopped at "cannot use the database … ConnectionRefusedError" on every start, and its stop sent that program
    pg_ctl's SIGTERM, then SIGKILL. The stale lock file is removed: PostgreSQL starts, the program lives on."""
    data_dir = Path(f"/tmp/govshare-embedded-p{os.getpid()}")  # short: PostgreSQL's socket path has a length limit
    servers = EmbeddedServers(data_dir).start(redis=False)
    other = subprocess.Popen(["sleep", "600"])
    try:
        subprocess.run(["kill", "-9", str(servers.postgres_pid)], check=True)
        while not servers.dead():
            time.sleep(0.05)
        servers.stop()
        lock = data_dir / "pg" / "postmaster.pid"
        lines = lock.read_text(encoding="utf-8").split("\n")
        lock.write_text("\n".join([str(other.pid), *lines[1:]]), encoding="utf-8")  # its pid, reused
        servers = EmbeddedServers(data_dir).start(redis=False)
        assert servers.postgres_pid != other.pid
        assert subprocess.run([sys.executable, "-c", "import asyncio, sys, asyncpg; "
                               "asyncio.run(asyncpg.connect(sys.argv[1], timeout=10))", servers.database_url],
                              capture_output=True, text=True, timeout=60).returncode == 0
        servers.stop()
        assert other.poll() is None, "the program holding the stale pid was ended"
    finally:
        servers.stop()
        other.kill()
        other.wait()
        shutil.rmtree(data_dir, ignore_errors=True)


def test_a_url_naming_its_database_by_a_dbname_parameter_is_pointed_at_another_without_it() -> None:
    """A restore connects to template1 and then to its staging copy by rewriting the URL's database: a URL naming
    it by ``?dbname=`` kept the parameter, which libpq takes over the path, so both connections named the live
    database. The parameter goes; the others stay as written."""
    from services.runtime.embedded import _with_database

    assert _with_database("postgresql://u@h/?dbname=govshare&sslmode=require", "template1") == \
        "postgresql://u@h/template1?sslmode=require"
    assert _with_database("postgresql://u@/db?host=/run/pg", "template1") == "postgresql://u@/template1?host=/run/pg"
