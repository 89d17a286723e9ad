"""Background tasks: the one way every component stops the loops it started."""

from __future__ import annotations

import asyncio
import contextlib


async def cancel(task: asyncio.Task | None) -> None:
    """Cancels ``task`` and waits until it has ended, so a stopped component leaves nothing running behind it."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
