"""Keeping processes alive: notice a death, restart with backoff, say so.

`govshare up` watches its service processes and embedded servers with it (Kubernetes' job in a cluster: a dead
process restarted, and a hung one, which answers no health check, killed and restarted), and
a service running several workers watches them with it, so one dead worker does not leave the service
silently running on fewer.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess

#: The first restart after RESTART_DELAY, doubling up to RESTART_DELAY_MAX while it keeps dying; a process
#: that stayed up STABLE_SECONDS starts again from RESTART_DELAY.
RESTART_DELAY = 0.5
RESTART_DELAY_MAX = 30.0
STABLE_SECONDS = 60.0
TICK_SECONDS = 0.3
#: The signal that stops a gRPC service at once, with no drain: `govshare up` sends it, instead of SIGTERM, to the
#: services of a start interrupted before its banner, whose address nobody but the launcher was given, so there is
#: no caller to give notice to. SIGTERM's drain (DRAIN_GRACE_SECONDS of notice, ~5 s) made a Ctrl-C while the
#: services started wait that long for each. Its default action, in a process not yet listening for it, ends the
#: process too.
STOP_AT_ONCE = signal.SIGUSR1


#: Linux's prctl option: the signal a process gets when the thread that started it dies.
_PR_SET_PDEATHSIG = 1


def _prctl() -> Callable[..., int] | None:
    """libc's prctl, resolved in the parent (the child between fork and exec only calls it), or None off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


_PRCTL = _prctl()


def child_setup(nice: int = 0) -> Callable[[], None]:
    """What a supervised child runs between fork and exec (``preexec_fn``): it gets SIGTERM when this process
    dies, runs at ``nice``, and in a process group of its own.

    The group: Ctrl-C in a terminal signals the whole foreground group at once, so Envoy ended the calls it
    carried while the services drained theirs, and the embedded Redis stopped under them. In its own group a
    child is signalled by the launcher only, which stops the edge first, once its calls are done.

    A launcher killed outright (``kill -9``, the OOM killer) used to leave its services, Envoy, the console and
    the embedded Redis running without a supervisor and holding the platform's ports, so the next
    ``govshare up`` stopped at "port … is already in use". The signal survives the exec (Envoy included); the
    embedded PostgreSQL is pg_ctl's daemon, not a child, and the next ``govshare up`` reuses it. Every spawn
    happens on the launcher's main thread, which lives as long as the launcher (the signal follows the thread
    that forked)."""
    parent, prctl = os.getpid(), _PRCTL

    def setup() -> None:
        if os.getpgrp() != os.getpid():  # not already a group's leader (start_new_session=True made it one)
            os.setpgid(0, 0)
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
            if os.getppid() != parent:  # the launcher died before the line above took effect
                os._exit(1)
        if nice:
            os.nice(nice)
    return setup


def describe_exit(status: int) -> str:
    """A process's end as people read it: "exited with status 1", "killed by SIGKILL"."""
    if status < 0:
        try:
            return f"killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"killed by signal {-status}"
    return f"exited with status {status}"


#: A process alive but answering none of its health checks for this long is hung (an event loop blocked, a
#: process stopped with SIGSTOP or in a debugger): it is killed and restarted, as a liveness probe does in a
#: cluster. Long by default, so that a process merely slow under load (health answered behind queued calls) is
#: never taken for hung; ``GOVSHARE_HUNG_SECONDS`` sets it (hung_seconds). Probes every PROBE_SECONDS, each
#: given PROBE_TIMEOUT_SECONDS, or more often for a shorter setting (probe_interval).
HUNG_SECONDS = 60.0
HUNG_SECONDS_VARIABLE = "GOVSHARE_HUNG_SECONDS"
#: The settings accepted: below a few seconds a process busy with one long call would be taken for hung.
HUNG_SECONDS_MIN, HUNG_SECONDS_MAX = 5.0, 3600.0
PROBE_SECONDS = 10.0
PROBE_TIMEOUT_SECONDS = 5.0
#: Probes within one hung period at least: a single late answer must not get a live process killed.
PROBES_PER_HUNG_PERIOD = 4


def hung_seconds_problem(env: Mapping[str, str]) -> str | None:
    """What is wrong with ``GOVSHARE_HUNG_SECONDS``, or None (checked by `govshare up` before it starts)."""
    raw = env.get(HUNG_SECONDS_VARIABLE, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not HUNG_SECONDS_MIN <= value <= HUNG_SECONDS_MAX:
        return (f"{HUNG_SECONDS_VARIABLE}={raw!r}: expected a number of seconds between {HUNG_SECONDS_MIN:g} and "
                f"{HUNG_SECONDS_MAX:g} (how long a process may answer no health check before it is restarted)")
    return None


def hung_seconds(env: Mapping[str, str]) -> float:
    """``GOVSHARE_HUNG_SECONDS`` (already checked by hung_seconds_problem), else HUNG_SECONDS."""
    raw = env.get(HUNG_SECONDS_VARIABLE, "").strip()
    return float(raw) if raw else HUNG_SECONDS


def probe_interval(hung_after: float) -> float:
    """How often to probe: every PROBE_SECONDS, or often enough for PROBES_PER_HUNG_PERIOD probes."""
    return min(PROBE_SECONDS, hung_after / PROBES_PER_HUNG_PERIOD)


def probe_timeout(hung_after: float) -> float:
    """How long one probe waits: PROBE_TIMEOUT_SECONDS, at most one probe interval (so probes do not pile up)."""
    return min(PROBE_TIMEOUT_SECONDS, probe_interval(hung_after))


class Liveness:
    """When a process last answered a health check, probed from a thread of its own: a hung process must not
    hang the launcher's loop, which restarts everything else."""

    def __init__(self, probe: Callable[[], bool], interval: float = PROBE_SECONDS) -> None:
        self._probe = probe
        self._interval = interval
        self._answered = time.monotonic()
        # A daemon: it probes for as long as the launcher lives, and ends with it.
        threading.Thread(target=self._run, name="liveness", daemon=True).start()

    def restarted(self) -> None:
        """A new process gets the full hung period before its silence counts (it may still be starting)."""
        self._answered = time.monotonic()

    def silent_for(self, now: float) -> float:
        return now - self._answered

    def _run(self) -> None:
        while True:
            time.sleep(self._interval)
            try:
                answered = self._probe()
            except Exception:  # a probe that fails in any way is a probe not answered
                answered = False
            if answered:
                self._answered = time.monotonic()


def ended_or_hung(ended: Callable[[], str | None], liveness: Liveness, kill: Callable[[], None],
                  hung_after: float = HUNG_SECONDS) -> Callable[[], str | None]:
    """A Watched.ended that also ends (kills) a process that stopped answering its health checks."""
    def check() -> str | None:
        how = ended()
        if how is not None or liveness.silent_for(time.monotonic()) < hung_after:
            return how
        kill()
        return f"answered no health check for {hung_after:.0f}s (hung): killed"
    return check


@dataclass
class Watched:
    """Something kept running: how to tell it stopped, how to start it again."""

    name: str
    #: None while it runs, else how it ended ("killed by SIGKILL").
    ended: Callable[[], str | None]
    restart: Callable[[], None]
    up_since: float = field(default_factory=time.monotonic)
    failures: int = 0
    due: float | None = None


class Supervisor:
    """Restarts whatever dies, with exponential backoff and a log line each time."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self._watched: list[Watched] = []
        self._log = log

    def watch(self, name: str, ended: Callable[[], str | None], restart: Callable[[], None]) -> None:
        self._watched.append(Watched(name, ended, restart))

    def tick(self, now: float) -> None:
        """Notices deaths and performs the restarts that are due; call it a few times a second."""
        for item in self._watched:
            if item.due is None:
                how = item.ended()
                if how is not None:
                    self._schedule(item, now, f"{item.name} {how}")
            elif now >= item.due:
                try:
                    item.restart()
                except Exception as exc:  # a failed restart is retried later, never fatal to the rest
                    self._schedule(item, now, f"{item.name} did not restart ({exc})")
                    continue
                item.due, item.up_since = None, now
                self._log(f"{item.name} restarted (restart {item.failures})")

    def _schedule(self, item: Watched, now: float, what: str) -> None:
        if item.due is None and now - item.up_since >= STABLE_SECONDS:
            item.failures = 0
        delay = min(RESTART_DELAY * 2 ** item.failures, RESTART_DELAY_MAX)
        item.failures += 1
        item.due = now + delay
        self._log(f"{what}; restarting in {delay:.1f}s (restart {item.failures})")


def run_workers(name: str, count: int, spawn: Callable[[], BaseProcess], log: Callable[[str], None],
                dead: Callable[[int], None] = lambda pid: None) -> None:
    """Runs ``count`` worker processes until SIGTERM/SIGINT/STOP_AT_ONCE (forwarded to them), restarting any that dies;
    ``dead`` is told the process id of each that died (what it leaves behind, such as its metrics, goes)."""
    workers = [spawn() for _ in range(count)]
    for process in workers:
        process.start()
    stopping = False

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for process in workers:
            if process.pid and process.exitcode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signum)

    def ended(index: int) -> str | None:
        status = workers[index].exitcode
        if status is None:
            return None
        if workers[index].pid:
            dead(workers[index].pid)
        return describe_exit(status)

    def replace(index: int) -> None:
        if stopping:
            return
        workers[index] = spawn()
        workers[index].start()

    for signum in (signal.SIGTERM, signal.SIGINT, STOP_AT_ONCE):
        signal.signal(signum, forward)
    supervisor = Supervisor(log)
    for index in range(count):
        supervisor.watch(f"{name} worker {index + 1}", lambda i=index: ended(i), lambda i=index: replace(i))
    while not stopping:
        supervisor.tick(time.monotonic())
        time.sleep(TICK_SECONDS)
    for process in workers:
        process.join()
