"""Processes of a load test that stop when the process that started them dies, however it died (Linux).

A process killed outright (``kill -9``, the OOM killer, a supervisor's last resort) cannot pass a signal on, and the
processes it started ran on as orphans, loading the platform: Locust after ``loadtest.run``, and the workers of a
``--processes`` run after their master (until Locust's 60 s without the master's heartbeat, at the rate asked).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

#: Linux's prctl option that has the kernel send the calling process a signal when its parent dies.
PR_SET_PDEATHSIG = 1


def _prctl() -> Callable[..., int] | None:
    """libc's prctl, or None off Linux. Resolved on import, so that a child between fork and exec (Popen's
    preexec_fn) only calls it."""
    if not sys.platform.startswith("linux"):
        return None
    return ctypes.CDLL(None, use_errno=True).prctl  # type: ignore[no-any-return]


_PRCTL = _prctl()


def stop_with_parent(parent: int) -> None:
    """Has the kernel send this process SIGTERM when its parent dies (Locust stops as for Ctrl-C: the users stopped,
    the calls in flight waited for, its summary and files); sends it at once when ``parent``, the process that
    started this one, is gone already, since the kernel would then never send it. Nothing off Linux."""
    if _PRCTL is None:
        return
    _PRCTL(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)
