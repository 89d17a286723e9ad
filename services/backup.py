"""`govshare backup` and `govshare restore`: the platform's database to a file and back, with the embedded
PostgreSQL's own client programs.

The operator of `govshare up` has no PostgreSQL client of the embedded server's version: Debian's pg_dump 15
refuses the embedded PostgreSQL 16 ("server version mismatch"). pgserver ships pg_dump and pg_restore of its
server's version beside it, and these commands run those, on the database `govshare up` uses (the embedded one of
the data directory, or GOVSHARE_DATABASE_URL). A restore drops what Redis keeps of the newer state, as
docs/deploy.md says a restore must: the records query cached and the console's sessions.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import subprocess
from pathlib import Path
from typing import IO
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

from services.runtime.embedded import _require, _with_database, administer, create_database
from services.runtime.files import open_private

#: What Redis keeps that a restored database makes wrong: records newer than the restored foundation's (query's
#: record cache) and the console's sessions of persons the backup may not hold. Events and rate counters are not
#: state of the database.
NEWER_STATE_PATTERNS = ("rec2:*", "govshare:console:*")


class BackupFailed(RuntimeError):
    """pg_dump or pg_restore failed; the message is their own last words."""


class RestoredBeside(BackupFailed):
    """The restore is whole but could not take the database's name: it is left under the staging name."""


#: What a restore asks of the URL's role, said when PostgreSQL refuses it.
RESTORE_NEEDS_ROLE = ("a restore makes the backup's database beside the platform's and then gives it the "
                      "database's name, so the URL's role must have CREATEDB and own the database: restore as such "
                      "a role, or with pg_restore into an empty database as docs/deploy.md (Upgrade and rollback) "
                      "says")


def _refused(exc: Exception) -> BackupFailed:
    """PostgreSQL's refusal of a restore's administrative statement (or its absence) as BackupFailed: it ended
    `govshare restore` in an asyncpg traceback ('InsufficientPrivilegeError: permission denied to create
    database' for a role without CREATEDB, a managed server's usual grant)."""
    import asyncpg

    if isinstance(exc, asyncpg.InsufficientPrivilegeError):
        return BackupFailed(f"PostgreSQL refused: {exc}; {RESTORE_NEEDS_ROLE}")
    if isinstance(exc, asyncpg.PostgresError):
        return BackupFailed(f"PostgreSQL refused: {exc}")
    return BackupFailed(f"PostgreSQL did not answer: {exc}")


def _administration_failures() -> tuple[type[BaseException], ...]:
    """What a restore's administrative statements may meet: PostgreSQL's refusal, or no server to answer."""
    import asyncpg

    return asyncpg.PostgresError, asyncpg.InterfaceError, OSError


def postgres_program(name: str) -> Path:
    """The embedded PostgreSQL's own client program ``name`` (pg_dump, pg_restore), of the server's version
    (EmbeddedUnavailable, saying what to install, without the 'embedded' extra)."""
    _require("pgserver", "PostgreSQL's pg_dump and pg_restore", "GOVSHARE_DATABASE_URL")  # its import, quiet
    from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH) / name


def database_name(url: str) -> str:
    """The database a PostgreSQL URL connects to, as libpq and asyncpg read it: its path
    (postgresql://u@/db?host=/dir gives db), else its dbname parameter, else PGDATABASE, else the user's name (the
    URL's, PGUSER, the system's). A URL without a database was read as 'postgres': pg_dump backed up the user's
    database and the restore then replaced the database 'postgres' with it, leaving the platform's as it was."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    named = (unquote(parts.path.lstrip("/")) or query.get("dbname", [""])[0]
             or os.environ.get("PGDATABASE", ""))
    if named:
        return named
    return (unquote(parts.username or "") or query.get("user", [""])[0] or os.environ.get("PGUSER", "")
            or getpass.getuser())


def check_target(file: Path) -> None:
    """Refuses, before anything is dumped, a backup file that cannot be written: found at the end it was named by
    the hidden partial name the user never gave ('/x/backups.partial: Is a directory'), or, for an empty name, a
    ValueError traceback."""
    if not file.name:  # "" or "."
        raise BackupFailed("give the backup's file name, such as govshare-backup.dump")
    if file.is_dir():
        raise BackupFailed(f"{file} is a directory: give the backup's file name, such as "
                           f"{file / 'govshare-backup.dump'}")
    if not file.parent.is_dir():
        raise BackupFailed(f"{file}: no directory {file.parent}: make it first, or give another file name")


def dump(database_url: str, file: Path) -> None:
    """Writes the database to ``file`` in pg_dump's custom format (a consistent snapshot; services may run).

    The file holds every person's and entity's data and the persons' sealed secrets: it is its owner's only
    (0600; pg_dump would leave it as the umask says, readable by every user of the machine). It is written beside
    and renamed when whole, so a backup that fails leaves the last one of that name as it was."""
    check_target(file)
    partial = file.with_name(file.name + ".partial")
    try:
        with open_private(partial, "wb") as out:
            _run([str(postgres_program("pg_dump")), "--format=custom"], database_url, stdout=out)
        os.replace(partial, file)
    finally:
        partial.unlink(missing_ok=True)


def staging_name(name: str) -> str:
    """The database a restore of ``name`` is made in before it takes that name (within PostgreSQL's 63 bytes)."""
    suffix = "_govshare_restoring"
    return name.encode()[:63 - len(suffix)].decode(errors="ignore") + suffix


async def restore(database_url: str, file: Path) -> None:
    """Replaces the database with the one in ``file``, so nothing written after the backup (tables of a later
    migration included) survives. The caller checks ``file`` is there first; pg_restore reads its table of
    contents first, so a file that is no backup (another tool's) is refused before anything changes. The backup is
    restored into a new database beside (staging_name) which takes the database's name only once pg_restore has
    finished: a backup cut short after its table of contents (a copy interrupted, a full disk), which pg_restore
    finds only when it reaches the missing data, or a restore that fails or is interrupted midway, leaves the
    database as it was (and the next restore drops what was left beside)."""
    _run([str(postgres_program("pg_restore")), "--list", "--file=/dev/null", str(file)])  # a backup's header
    name = database_name(database_url)
    admin_url = _with_database(database_url, "template1")
    staging = staging_name(name)
    try:
        staging_url = await create_database(admin_url, staging)
    except _administration_failures() as exc:
        raise _refused(exc) from None
    try:
        _run([str(postgres_program("pg_restore")), "--exit-on-error", str(file)], staging_url)
    except BackupFailed:
        await _drop_database(admin_url, staging)
        raise
    await _replace_database(admin_url, staging, name)


async def _drop_database(admin_url: str, name: str) -> None:
    await administer(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _replace_database(admin_url: str, staging: str, name: str) -> None:
    """``staging`` under ``name``: the old database dropped (with anyone still connected to it) and the restored
    one renamed, one statement after the other. A drop refused (a role that does not own the database) leaves
    the database as it was and drops the staging one; a rename refused after the drop keeps the restored
    database under its staging name (RestoredBeside), the only copy left."""
    try:
        await administer(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except _administration_failures() as exc:
        with contextlib.suppress(*_administration_failures()):  # else the next restore drops it
            await _drop_database(admin_url, staging)
        raise _refused(exc) from None
    try:
        await administer(admin_url, f'ALTER DATABASE "{staging}" RENAME TO "{name}"')
    except _administration_failures() as exc:
        raise RestoredBeside(f"{_refused(exc)}; the database {name} was dropped and the backup is restored as "
                             f"the database {staging}: rename it to {name} (ALTER DATABASE)") from None


async def forget_newer_state(redis_url: str) -> int:
    """Deletes what Redis keeps of the state after the backup (NEWER_STATE_PATTERNS); returns how many keys."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(redis_url)
    deleted = 0
    try:
        for pattern in NEWER_STATE_PATTERNS:
            keys = [key async for key in client.scan_iter(match=pattern, count=1000)]
            for start in range(0, len(keys), 1000):
                deleted += await client.unlink(*keys[start:start + 1000])
    finally:
        await client.aclose()
    return deleted


def _run(command: list[str], database_url: str = "", stdout: IO | None = None) -> None:
    """Runs a PostgreSQL client program (on the database, when given); BackupFailed with what it wrote on stderr
    when it fails. The password goes in PGPASSWORD, not on the command line, where any user of the machine could
    read it."""
    environment = dict(os.environ)
    if database_url:
        parts = urlsplit(database_url)
        if parts.password is not None:
            environment["PGPASSWORD"] = unquote(parts.password)
            netloc = (parts.username or "") + "@" + parts.netloc.rpartition("@")[2]
            database_url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
        command = [*command, f"--dbname={database_url}"]
    done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=stdout or subprocess.DEVNULL,
                          stderr=subprocess.PIPE, env=environment, text=True)
    if done.returncode != 0:
        words = done.stderr.strip().splitlines()  # the program's own lines, "pg_restore: error: …"
        raise BackupFailed(words[-1] if words else f"{Path(command[0]).name}: exit {done.returncode}")
