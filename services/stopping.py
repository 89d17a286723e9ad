"""How a one-shot `govshare` command (load-records, migrate, backup, export-bundle…) is stopped: by Ctrl-C or by
SIGTERM alike.

SIGTERM is how everything but a terminal stops a command: a Job's activeDeadlineSeconds and a node drain, systemd,
`timeout`, a shutdown. Python's default ends the process on the spot (status -15), so a load stopped so said
nothing of which lines were in, a backup left its .partial file, an export its hidden bundle. Raised as
``Terminated``, a KeyboardInterrupt, SIGTERM runs the paths Ctrl-C runs (what was done and how to go on, the
cleanups in ``finally``) and ends with 143 (128 + SIGTERM), as a shell reports a command ended by it.
"""

from __future__ import annotations

import signal
from types import FrameType

#: Exit statuses as a shell reports a command ended by the signal (128 + its number).
INTERRUPTED = 128 + signal.SIGINT
TERMINATED = 128 + signal.SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the command stands, as Ctrl-C raises KeyboardInterrupt."""


def _raise_terminated(_signum: int, _frame: FrameType | None) -> None:
    raise Terminated


def stop_on_sigterm() -> None:
    """From now on SIGTERM raises Terminated in the main thread (servers install their own drain instead)."""
    signal.signal(signal.SIGTERM, _raise_terminated)


def exit_status(stop: KeyboardInterrupt) -> int:
    """130 for Ctrl-C, 143 for SIGTERM."""
    return TERMINATED if isinstance(stop, Terminated) else INTERRUPTED


def said(stop: KeyboardInterrupt) -> str:
    """The word for how the command was stopped."""
    return "terminated" if isinstance(stop, Terminated) else "interrupted"
