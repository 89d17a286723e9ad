"""The connection file of `govshare up` and what the banner prints of it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.connection import Connection, DataDirLock, DataDirLocked, platform_running, public_url, running_connection


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://govshare:s3cret@db.example:5432/govshare?sslmode=verify-full",
     "postgresql://govshare:***@db.example:5432/govshare?sslmode=verify-full"),
    ("rediss://:s3cret@redis.example:6379/0", "rediss://:***@redis.example:6379/0"),
    ("postgresql://postgres:@/postgres?host=/tmp/x/pg", "postgresql://postgres:@/postgres?host=/tmp/x/pg"),
    ("unix:///tmp/x/redis.sock", "unix:///tmp/x/redis.sock"),
    # An IPv6 server keeps its brackets (they were dropped: fd00::10:5432, no URL), a user its percent-encoding.
    ("postgresql://govshare:s3cret@[fd00::10]:5432/govshare", "postgresql://govshare:***@[fd00::10]:5432/govshare"),
    ("redis://:s3cret@[::1]/0", "redis://:***@[::1]/0"),
    ("postgresql://gov%40share:s%3Acret@DB.example/govshare", "postgresql://gov%40share:***@DB.example/govshare"),
    # The password as a parameter (libpq's form, which asyncpg takes) was shown whole.
    ("postgresql://fqj@db.example/hrss?password=s3cret&sslmode=require",
     "postgresql://fqj@db.example/hrss?password=***&sslmode=require"),
    ("postgresql://fqj:s3cret@db.example/hrss?sslmode=verify-full&sslpassword=k3y&host=/tmp/x",
     "postgresql://fqj:***@db.example/hrss?sslmode=verify-full&sslpassword=***&host=/tmp/x"),
])
def test_urls_are_shown_without_their_password(url: str, shown: str) -> None:
    assert public_url(url) == shown


def test_the_connection_is_read_only_while_its_platform_holds_the_lock(tmp_path: Path) -> None:
    connection = Connection(data_dir=tmp_path, gateway="127.0.0.1:50051", zone="extranet", pid=os.getpid(),
                            database_url="postgresql://u:p@h/db", redis_url="redis://h")
    with DataDirLock(tmp_path):
        connection.save()
        assert oct(connection.path.stat().st_mode & 0o777) == "0o600"
        assert platform_running(tmp_path)
        assert running_connection(tmp_path) == connection
        with pytest.raises(DataDirLocked, match=f"pid {os.getpid()}"), DataDirLock(tmp_path):
            pass
    # A file left behind by a platform that is gone (killed: nobody holds the lock) is not used.
    assert connection.path.exists()
    assert running_connection(tmp_path) is None
