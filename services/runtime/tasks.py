"""Background tasks: the one way every component stops the loops it started."""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)

#: How long a cancelled task has to end before it is cancelled again. A cancellation can be lost inside a
#: library: redis-py's pub/sub reconnect retries on TimeoutError, and Python 3.11's asyncio.timeout turns a
#: cancellation that coincides with its deadline into one. The subscriber then went on listening and the
#: component's stop waited forever (seen in tests, after a Redis restart, on a loaded machine).
RECANCEL_SECONDS = 2.0


async def cancel(task: asyncio.Task | None) -> None:
    """Cancels ``task`` and waits until it has ended, so a stopped component leaves nothing running behind it.

    The task is cancelled again every RECANCEL_SECONDS while it runs on. An error it ended with reaches the
    caller (as awaiting it would); a cancellation of the caller itself is not swallowed.
    """
    if task is None:
        return
    task.cancel()
    while not (await asyncio.wait({task}, timeout=RECANCEL_SECONDS))[0]:
        log.warning("task %s did not end when cancelled; cancelling it again", task.get_name())
        task.cancel()
    if not task.cancelled():
        task.result()
