"""A test phase that runs far too long says where it is stuck, then fails the run instead of stalling it.

The suite's async tests and fixtures share one event loop (pytest-asyncio, session scope), so a wait that never
ends (a server that does not stop, a pool that waits for a connection nobody releases) stalls the whole run with
no output: CI then hits its own limit and prints nothing useful. This watchdog, a thread beside the loop, times
every phase (setup, call, teardown) of every test:

- after ``GOVSHARE_TEST_HANG_DUMP_SECONDS`` (default 180) it prints, past pytest's capture, the stack of every thread
  and of every task of the session's loop: which ``await`` each one is parked on;
- after ``GOVSHARE_TEST_HANG_KILL_SECONDS`` (default 600) it prints them again and ends the process (exit 70),
  so the run fails in minutes with the place named, not after CI's limit with nothing.

No test takes a minute; the bounds are for hangs, not a measure of speed.
"""

from __future__ import annotations

import asyncio
import faulthandler
import inspect
import os
import sys
import threading
import time
from collections.abc import Generator, Iterator
from typing import TextIO

import pytest

EXIT_CODE = 70  # EX_SOFTWARE
REPORT_SECONDS = 20.0


def _seconds(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


class _Watch:
    """One phase being timed."""

    def __init__(self, item: pytest.Item, phase: str, loop: asyncio.AbstractEventLoop | None) -> None:
        self.nodeid, self.phase, self.loop = item.nodeid, phase, loop
        self.capture = item.config.pluginmanager.getplugin("capturemanager")
        self.started = time.monotonic()
        self.done = threading.Event()

    def run(self, dump_after: float, kill_after: float) -> None:
        if self.done.wait(dump_after):
            return
        self.report("still running")
        if self.done.wait(max(kill_after - dump_after, 0.0)):
            return
        self.report("hung: ending the test run")
        os._exit(EXIT_CODE)

    def report(self, what: str) -> None:
        """Prints in a thread of its own, bounded: a report must not be what keeps a hung run from ending."""
        printer = threading.Thread(target=self._report, args=(what,), name="hang-report", daemon=True)
        printer.start()
        printer.join(REPORT_SECONDS)

    def _report(self, what: str) -> None:
        """Prints past pytest's capture (which holds file descriptor 2 while a test runs)."""
        if self.capture is None:
            self._print(what)
            return
        with self.capture.global_and_fixture_disabled():
            self._print(what)

    def _print(self, what: str) -> None:
        err = sys.stderr
        print(f"\n==== {self.nodeid} ({self.phase}) {what} after {time.monotonic() - self.started:.0f} s ====",
              file=err, flush=True)
        faulthandler.dump_traceback(file=err, all_threads=True)
        if self.loop is None or self.loop.is_closed():
            return
        # The tasks are read on the loop's own thread (they are not safe to walk from this one); a loop that
        # does not answer is blocked in the main thread's stack above.
        printed = threading.Event()
        self.loop.call_soon_threadsafe(_print_tasks, err, printed)
        if not printed.wait(REPORT_SECONDS / 2):
            print("---- the event loop did not answer: it is blocked (the main thread's stack above) ----", file=err)
        err.flush()


def _print_tasks(err: TextIO, printed: threading.Event) -> None:
    """Each task of the running loop and the ``await`` it is parked on (grpc's Cython coroutines show no frames)."""
    try:
        tasks = asyncio.all_tasks()
        print(f"---- {len(tasks)} tasks of the event loop ----", file=err)
        for task in tasks:
            print(f"task {task.get_name()}: {task.get_coro()!r}", file=err)
            if inspect.iscoroutine(task.get_coro()):
                task.print_stack(limit=12, file=err)
        err.flush()
    finally:
        printed.set()


_loop: asyncio.AbstractEventLoop | None = None


@pytest.fixture(scope="session", autouse=True)
async def _watched_loop() -> None:
    """Remembers the session's event loop, whose tasks a report lists."""
    global _loop
    _loop = asyncio.get_running_loop()


def _watched(item: pytest.Item, phase: str) -> Generator[None, object, object]:
    watch = _Watch(item, phase, _loop)
    thread = threading.Thread(target=watch.run, name="hang-watch", daemon=True,
                              args=(_seconds("GOVSHARE_TEST_HANG_DUMP_SECONDS", 180.0),
                                    _seconds("GOVSHARE_TEST_HANG_KILL_SECONDS", 600.0)))
    thread.start()
    try:
        return (yield)
    finally:
        watch.done.set()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    return (yield from _watched(item, "setup"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    return (yield from _watched(item, "call"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    return (yield from _watched(item, "teardown"))
