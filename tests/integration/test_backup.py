"""`govshare backup` and `govshare restore`, run as the README prints them, on the session's servers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis

from services.backup import staging_name
from services.runtime.embedded import EmbeddedServers, create_database

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"<!-- not runnable against a running platform: tests/integration/test_backup.py.*?-->\s*"
                   r"```sh\n(.*?)```", re.S)


def _readme_commands() -> list[str]:
    """The README's backup block's commands, as printed."""
    (block,) = BLOCK.findall((ROOT / "README.md").read_text(encoding="utf-8"))
    return [line for line in block.splitlines() if line.strip() and not line.startswith("#")]


def _shell(command: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """``command`` in bash, as a user would type it, with the venv on PATH and this checkout's code first on the
    path (the venv's `govshare` imports the checkout it was installed from, which a worktree's run is not)."""
    path = os.pathsep.join(part for part in (str(ROOT), os.environ.get("PYTHONPATH", "")) if part)
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                   "PYTHONPATH": path, **env}
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=environment, capture_output=True, text=True,
                          timeout=60, check=False)

async def _execute(url: str, statements: str) -> None:
    """``statements`` run on a connection of their own to ``url``."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(statements)
    finally:
        await conn.close()


async def _fetchval(url: str, query: str, *args: object) -> object:
    """The one value ``query`` answers, on a connection of its own to ``url``."""
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()


async def _database(embedded: EmbeddedServers, statements: str) -> str:
    """A database of its own for one test, holding what ``statements`` make; its URL."""
    url = await create_database(embedded.database_url, f"govshare_backup_{uuid.uuid4().hex[:8]}")
    await _execute(url, statements)
    return url


async def test_the_readmes_backup_and_restore_bring_back_the_database_and_forget_redis_newer_state(
        embedded: EmbeddedServers, redis_url: str, tmp_path: Path) -> None:
    """A backup, then changes (a row, a table of a later migration, the cache and a console session in Redis),
    then the restore: the database as it was backed up, and Redis without the state newer than it."""
    url = await _database(embedded, "CREATE SCHEMA catalog; CREATE TABLE catalog.entries (code text PRIMARY KEY);"
                                    "INSERT INTO catalog.entries VALUES ('101001/000001')")
    backup, restore = _readme_commands()
    done = _shell(backup, tmp_path, GOVSHARE_DATABASE_URL=url)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "govshare-backup.dump").stat().st_size > 0

    await _execute(url, "INSERT INTO catalog.entries VALUES ('102001/000001');"
                        "CREATE TABLE catalog.later (id int)")
    client = aioredis.from_url(redis_url)
    tag = uuid.uuid4().hex[:8]
    await client.set(f"rec2:{tag}", "newer record")
    await client.set(f"govshare:console:session:{tag}", "a person the backup may not hold")
    await client.set(f"govshare:kept:{tag}", "not state of the database")
    try:
        done = _shell(restore, tmp_path, GOVSHARE_DATABASE_URL=url, GOVSHARE_REDIS_URL=redis_url)
        assert done.returncode == 0, done.stderr
        assert "keys of the newer state deleted" in done.stdout, done.stdout
        assert await client.exists(f"rec2:{tag}", f"govshare:console:session:{tag}") == 0
        assert await client.exists(f"govshare:kept:{tag}") == 1
    finally:
        await client.delete(f"govshare:kept:{tag}")
        await client.aclose()
    conn = await asyncpg.connect(url)
    try:
        assert [row["code"] for row in await conn.fetch("SELECT code FROM catalog.entries")] == ["101001/000001"]
        assert await conn.fetchval("SELECT to_regclass('catalog.later')") is None
    finally:
        await conn.close()


def test_a_backup_of_the_embedded_database_uses_the_embedded_servers_own_pg_dump(
        embedded: EmbeddedServers, tmp_path: Path) -> None:
    """With no GOVSHARE_DATABASE_URL, `govshare backup --data-dir` dumps the embedded PostgreSQL of the data
    directory (the session's, running: joined, and left running), which an older pg_dump refuses."""
    if os.environ.get("GOVSHARE_TEST_DATABASE_URL"):
        return  # the session has no embedded PostgreSQL
    environment = {key: value for key, value in os.environ.items() if key != "GOVSHARE_DATABASE_URL"}
    done = subprocess.run([sys.executable, "-m", "services.cli", "backup", "--data-dir", str(embedded.data_dir),
                           str(tmp_path / "embedded.dump")], env=environment, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "embedded.dump").read_bytes().startswith(b"PGDMP")
    assert embedded.dead() == {}


def test_a_restore_into_a_data_directory_without_the_platforms_keys_is_refused(tmp_path: Path) -> None:
    """Restored into a new data directory (a new machine), the database was opened by `govshare up` with new keys:
    every person's TOTP secret unreadable ('9 that no listed key opens'), and the demo seeded a second time over
    it. The restore now asks for the old directory's keys.json and demo-credentials.json first, starting nothing."""
    (tmp_path / "backup.dump").write_bytes(b"PGDMP")
    environment = {key: value for key, value in os.environ.items() if key != "GOVSHARE_DATABASE_URL"}
    done = subprocess.run([sys.executable, "-m", "services.cli", "restore", "--data-dir", str(tmp_path / "new"),
                           str(tmp_path / "backup.dump")], env=environment, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 1
    assert "has no keys.json nor demo-credentials.json: copy those of the data directory the backup was taken " \
           "from into it first" in done.stderr, done.stderr
    assert not (tmp_path / "new" / "pg").exists()


async def test_a_restore_from_a_file_that_is_no_backup_leaves_the_database_as_it_was(
        embedded: EmbeddedServers, tmp_path: Path) -> None:
    """`govshare restore` of a truncated or wrong file dropped the database before pg_restore found the file
    unreadable, leaving the platform with an empty database and no backup. The file is read first now."""
    url = await create_database(embedded.database_url, f"govshare_backup_{uuid.uuid4().hex[:8]}")
    await _execute(url, "CREATE TABLE kept (id int); INSERT INTO kept VALUES (1)")
    (tmp_path / "govshare-backup.dump").write_bytes(b"PGDMP\x01")  # cut short
    done = _shell(_readme_commands()[1], tmp_path, GOVSHARE_DATABASE_URL=url)
    assert done.returncode == 1
    assert done.stderr.startswith("govshare restore: pg_restore: error:"), done.stderr
    assert await _fetchval(url, "SELECT count(*) FROM kept") == 1


async def test_a_restore_from_a_backup_cut_short_in_its_data_leaves_the_database_as_it_was(
        embedded: EmbeddedServers, tmp_path: Path) -> None:
    """A backup cut short after its table of contents (a copy interrupted, a full disk) passed the check of its
    header; the database was dropped, pg_restore stopped at the missing data ("could not read from input file: end
    of file"), and the platform was left with half a database: the tables restored before that point, empty ones
    after it. The backup is now restored beside and takes the database's name only when whole."""
    url = await _database(embedded, "CREATE TABLE kept (id int, filler text); "
                                    "INSERT INTO kept SELECT n, md5(n::text) FROM generate_series(1, 20000) AS n")
    backup, restore = _readme_commands()
    done = _shell(backup, tmp_path, GOVSHARE_DATABASE_URL=url)
    assert done.returncode == 0, done.stderr
    written = tmp_path / "govshare-backup.dump"
    whole = written.read_bytes()
    written.write_bytes(whole[:len(whole) * 2 // 3])
    await _execute(url, "INSERT INTO kept VALUES (0, 'written after the backup')")
    done = _shell(restore, tmp_path, GOVSHARE_DATABASE_URL=url)
    assert done.returncode == 1
    assert done.stderr.startswith("govshare restore: pg_restore: error:"), done.stderr
    conn = await asyncpg.connect(url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM kept") == 20001
        assert not await conn.fetchval("SELECT count(*) FROM pg_database WHERE datname LIKE '%_govshare_restoring'")
    finally:
        await conn.close()
    written.write_bytes(whole)  # the whole backup restores, over what was left as it was
    done = _shell(restore, tmp_path, GOVSHARE_DATABASE_URL=url)
    assert done.returncode == 0, done.stderr
    assert await _fetchval(url, "SELECT count(*) FROM kept") == 20000


async def test_a_backup_is_its_owners_only_and_one_that_fails_keeps_the_last(
        embedded: EmbeddedServers, tmp_path: Path) -> None:
    """pg_dump left the backup as the umask said (0644): every user of the machine could read the whole population
    register in it. And a backup that failed (the server gone midway) had already emptied the last one of its
    name. The backup is 0600 now, written beside and renamed when whole."""
    url = await create_database(embedded.database_url, f"govshare_backup_{uuid.uuid4().hex[:8]}")
    backup = _readme_commands()[0]
    done = _shell(backup, tmp_path, GOVSHARE_DATABASE_URL=url)
    assert done.returncode == 0, done.stderr
    written = tmp_path / "govshare-backup.dump"
    assert written.stat().st_mode & 0o777 == 0o600
    last = written.read_bytes()
    done = _shell(backup, tmp_path, GOVSHARE_DATABASE_URL=url.replace("govshare_backup_", "no_such_database_"))
    assert done.returncode == 1
    assert "no_such_database_" in done.stderr and "does not exist" in done.stderr, done.stderr
    assert written.read_bytes() == last
    assert os.listdir(tmp_path) == ["govshare-backup.dump"]  # no partial file left


def _as_role(url: str, role: str) -> str:
    """``url`` (the session's server) connecting as ``role``, without a password (its socket trusts)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit((parts.scheme, f"{role}@{parts.netloc.rpartition('@')[2]}", parts.path, parts.query,
                       parts.fragment))


async def test_a_restore_by_a_role_that_may_not_create_databases_says_so_and_leaves_the_database(
        embedded: EmbeddedServers, tmp_path: Path) -> None:
    """On a PostgreSQL of the operator's (a managed server's usual grant: the platform's role owns its database
    and may not create others), `govshare restore` ended in an asyncpg traceback, InsufficientPrivilegeError
    'permission denied to create database', naming neither the restore's need nor another way. It now says the
    role needs CREATEDB and points at pg_restore into an empty database; the database is as it was."""
    role = f"govshare_owner_{uuid.uuid4().hex[:8]}"
    name = f"govshare_backup_{uuid.uuid4().hex[:8]}"
    await _execute(embedded.database_url, f'CREATE ROLE "{role}" LOGIN NOCREATEDB')
    await _execute(embedded.database_url, f'CREATE DATABASE "{name}" OWNER "{role}"')
    url = _as_role(_with_name(embedded.database_url, name), role)
    await _execute(url, "CREATE TABLE kept (id int); INSERT INTO kept VALUES (1)")
    backup, restore = _readme_commands()
    done = _shell(backup, tmp_path, GOVSHARE_DATABASE_URL=url)
    assert done.returncode == 0, done.stderr
    await _execute(url, "INSERT INTO kept VALUES (2)")
    done = _shell(restore, tmp_path, GOVSHARE_DATABASE_URL=url)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("govshare restore: PostgreSQL refused: permission denied to create database; "
                                  "a restore makes the backup's database beside"), done.stderr
    assert "must have CREATEDB" in done.stderr and "nothing was restored" in done.stderr
    assert await _fetchval(url, "SELECT count(*) FROM kept") == 2


async def test_a_restore_by_a_role_that_does_not_own_the_database_leaves_no_copy_beside(
        embedded: EmbeddedServers, tmp_path: Path) -> None:
    """A role that may create databases but does not own the platform's (another role made it) restored the whole
    backup beside, was refused the drop ('must be owner of database'), and left that copy, every person's data,
    in a database nobody knew of (the next restore alone dropped it). The copy is dropped now, and the refusal
    says what the restore needs; the database is as it was."""
    role = f"govshare_creator_{uuid.uuid4().hex[:8]}"
    name = f"govshare_backup_{uuid.uuid4().hex[:8]}"
    await _execute(embedded.database_url, f'CREATE ROLE "{role}" LOGIN CREATEDB')
    await _execute(embedded.database_url, f'CREATE DATABASE "{name}"')
    await _execute(_with_name(embedded.database_url, name),
                   f'CREATE TABLE kept (id int); INSERT INTO kept VALUES (1); ALTER TABLE kept OWNER TO "{role}"')
    url = _as_role(_with_name(embedded.database_url, name), role)
    backup, restore = _readme_commands()
    done = _shell(backup, tmp_path, GOVSHARE_DATABASE_URL=url)
    assert done.returncode == 0, done.stderr
    done = _shell(restore, tmp_path, GOVSHARE_DATABASE_URL=url)
    assert done.returncode == 1
    assert done.stderr.startswith(f"govshare restore: PostgreSQL refused: must be owner of database {name}; "
                                  "a restore makes the backup's database beside"), done.stderr
    conn = await asyncpg.connect(embedded.database_url)
    try:
        assert not await conn.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", staging_name(name))
    finally:
        await conn.close()
    assert await _fetchval(url, "SELECT count(*) FROM kept") == 1


async def test_a_url_without_a_database_restores_the_users_database_not_postgres(
        embedded: EmbeddedServers, tmp_path: Path) -> None:
    """GOVSHARE_DATABASE_URL without a database (postgresql://govshare@db/) connects, as libpq and asyncpg do, to
    the database of the user's name: pg_dump backed it up, and the restore read the URL as the database
    'postgres', replacing that one with it (here refused: the role does not own 'postgres') and leaving the
    platform's database as it was. It now restores the user's database."""
    role = f"govshare_user_{uuid.uuid4().hex[:8]}"
    await _execute(embedded.database_url, f'CREATE ROLE "{role}" LOGIN CREATEDB')
    await _execute(embedded.database_url, f'CREATE DATABASE "{role}" OWNER "{role}"')
    url = _as_role(_with_name(embedded.database_url, ""), role)
    assert await _fetchval(url, "SELECT current_database()") == role
    await _execute(url, "CREATE TABLE kept (id int); INSERT INTO kept VALUES (1)")
    backup, restore = _readme_commands()
    done = _shell(backup, tmp_path, GOVSHARE_DATABASE_URL=url)
    assert done.returncode == 0, done.stderr
    await _execute(url, "INSERT INTO kept VALUES (2)")
    done = _shell(restore, tmp_path, GOVSHARE_DATABASE_URL=url)
    assert done.returncode == 0, done.stderr
    assert f"database {role} restored from govshare-backup.dump" in done.stdout
    assert await _fetchval(url, "SELECT count(*) FROM kept") == 1


def _with_name(url: str, name: str) -> str:
    from services.runtime.embedded import _with_database

    return _with_database(url, name)
