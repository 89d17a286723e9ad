"""CPU time of process trees, from /proc.

Throughput on a shared 2-core machine depends on who else runs; CPU seconds per
call do not, so the benchmark reports both. A "platform" is every process it
started (services, their worker processes, PostgreSQL, Redis): their utime +
stime, and the cutime + cstime of the children they reaped, are read before and
after the measured window and the difference is divided by the calls answered in
it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class ProcStat:
    """The fields of one /proc/<pid>/stat line that CPU accounting needs."""

    pid: int
    comm: str
    ppid: int
    utime: int
    stime: int
    cutime: int
    cstime: int

    @property
    def seconds(self) -> float:
        """CPU seconds of the process itself (user + system)."""
        return (self.utime + self.stime) / CLOCK_TICKS

    @property
    def with_children(self) -> float:
        """CPU seconds of the process and of the children it has reaped (cutime + cstime): a short-lived child (a
        PostgreSQL backend or autovacuum worker, a Redis save) that ended between two samples is counted in its
        parent, where it was lost before and its CPU ascribed to the machine's other work."""
        return (self.utime + self.stime + self.cutime + self.cstime) / CLOCK_TICKS


def parse_stat(line: str) -> ProcStat:
    """Parses a /proc/<pid>/stat line.

    The command name sits in parentheses and may itself hold spaces and parentheses,
    so the fields are split after the *last* closing parenthesis (proc(5))."""
    open_paren, close_paren = line.index("("), line.rindex(")")
    pid = int(line[:open_paren])
    comm = line[open_paren + 1:close_paren]
    fields = line[close_paren + 2:].split()
    # fields[0] is field 3 (state) in proc(5) numbering, so field n is fields[n - 3].
    return ProcStat(pid=pid, comm=comm, ppid=int(fields[1]), utime=int(fields[11]), stime=int(fields[12]),
                    cutime=int(fields[13]), cstime=int(fields[14]))


def read_stat(pid: int, proc: Path = PROC) -> ProcStat | None:
    """The process's stat, or None if it has exited."""
    try:
        return parse_stat((proc / str(pid) / "stat").read_text())
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return None


def all_stats(proc: Path = PROC) -> dict[int, ProcStat]:
    stats = {}
    for entry in proc.iterdir():
        if entry.name.isdigit() and (stat := read_stat(int(entry.name), proc)) is not None:
            stats[stat.pid] = stat
    return stats


def descendants(roots: Iterable[int], stats: dict[int, ProcStat]) -> set[int]:
    """``roots`` and every live process below them."""
    children: dict[int, list[int]] = {}
    for stat in stats.values():
        children.setdefault(stat.ppid, []).append(stat.pid)
    found: set[int] = set()
    pending = [pid for pid in roots if pid in stats]
    while pending:
        pid = pending.pop()
        if pid not in found:
            found.add(pid)
            pending.extend(children.get(pid, ()))
    return found


def run_queue_wait(pid: int, proc: Path = PROC) -> float:
    """Seconds the process's threads have spent runnable but waiting for a core (the 2nd field of each
    ``/proc/<pid>/task/<tid>/schedstat``, summed); 0 if it exited.

    CPU seconds say how much work a call costs; this says how long its hand-offs queued for a core, which is
    where a paced call's tail goes when several processes share two cores."""
    waited = 0
    try:
        tasks = list((proc / str(pid) / "task").iterdir())
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return 0.0
    for task in tasks:
        try:
            fields = (task / "schedstat").read_text().split()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if len(fields) >= 2:
            waited += int(fields[1])
    return waited / 1e9


def command_line(pid: int, proc: Path = PROC) -> str:
    try:
        return (proc / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return ""


def role_of(cmdline: str) -> str | None:
    """What a process is, from its command line; None for helpers (worker processes, trackers) that
    belong to whatever started them."""
    words = cmdline.split()
    if "serve" in words and words.index("serve") + 1 < len(words):
        return words[words.index("serve") + 1]
    if words and words[0].rsplit("/", 1)[-1] == "envoy":
        return "edge"  # `govshare serve gateway` execs Envoy, so its command line is Envoy's own
    if "redis-server" in cmdline:
        return "redis"
    if "postgres" in cmdline:
        return "postgres"
    for module, role in (("services.cli up", "launcher"), ("services.cli frontproc", "frontproc"),
                         ("loadtest.echo", "echo"), ("loadtest.peer", "peer")):
        if module in cmdline:
            return role
    return None


def label_processes(pids: Iterable[int], stats: dict[int, ProcStat],
                    cmdline: Callable[[int], str]) -> dict[int, str]:
    """Each process's role, inherited from the nearest ancestor that has one (else its command name)."""
    labels: dict[int, str] = {}
    for pid in pids:
        current: int | None = pid
        while current is not None and current in stats:
            role = role_of(cmdline(current))
            if role is not None:
                labels[pid] = role
                break
            current = stats[current].ppid or None
        labels.setdefault(pid, stats[pid].comm)
    return labels


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds per process at one moment; differences of two samples give the work done between them."""

    seconds: dict[int, float]
    labels: dict[int, str]
    #: Seconds each process's threads waited for a core (:func:`run_queue_wait`).
    waits: dict[int, float] = field(default_factory=dict)
    #: Every process running on the machine at the sample, members or not.
    running: frozenset[int] = frozenset()

    def since(self, earlier: CpuSample) -> dict[int, float]:
        """CPU seconds each process spent after ``earlier``, its reaped children's included. A process born in
        between counts whole; one that ended counts minus what it had spent before, since its whole time is now in
        the parent that reaped it (one still running that is no longer found a member is left out, as before)."""
        ended = {pid for pid in earlier.seconds.keys() - self.seconds.keys() if pid not in self.running}
        spent = {pid: value - earlier.seconds.get(pid, 0.0) for pid, value in self.seconds.items()}
        spent.update({pid: -earlier.seconds[pid] for pid in ended})
        return spent

    def by_label_since(self, earlier: CpuSample) -> dict[str, float]:
        return self._by_label(self.since(earlier), earlier)

    def waits_by_label_since(self, earlier: CpuSample) -> dict[str, float]:
        """Seconds waited for a core after ``earlier``, by role."""
        return self._by_label({pid: value - earlier.waits.get(pid, 0.0) for pid, value in self.waits.items()},
                              earlier)

    def _by_label(self, values: dict[int, float], earlier: CpuSample) -> dict[str, float]:
        totals: dict[str, float] = {}
        for pid, value in values.items():
            label = self.labels.get(pid) or earlier.labels.get(pid) or str(pid)
            totals[label] = totals.get(label, 0.0) + value
        return totals


class ProcessGroup:
    """The processes that make up one system under test.

    Members are found afresh at every sample: the descendants of ``roots`` (worker processes are
    spawned after start), plus the trees of processes whose command line mentions one of ``markers``
    (PostgreSQL daemonizes away from its parent, but its command line names its data directory)."""

    def __init__(self, roots: Iterable[int], markers: Iterable[str] = (),
                 cmdline: Callable[[int], str] = command_line) -> None:
        self.roots = list(roots)
        self.markers = [m for m in markers if m]
        self._cmdline = cmdline

    def members(self, stats: dict[int, ProcStat]) -> set[int]:
        roots = set(self.roots)
        if self.markers:
            roots.update(pid for pid in stats if any(m in self._cmdline(pid) for m in self.markers))
        return descendants(roots, stats)

    def sample(self, proc: Path = PROC) -> CpuSample:
        stats = all_stats(proc)
        pids = self.members(stats)
        return CpuSample(seconds={pid: stats[pid].with_children for pid in pids},
                         labels=label_processes(pids, stats, self._cmdline),
                         waits={pid: run_queue_wait(pid, proc) for pid in pids}, running=frozenset(stats))


def cpu_seconds_between(before: CpuSample, after: CpuSample) -> float:
    return sum(after.since(before).values())


def machine_busy_seconds(proc: Path = PROC) -> float:
    """CPU seconds every CPU of the machine has been busy since boot (the first line of /proc/stat)."""
    return parse_machine_stat((proc / "stat").read_text().splitlines()[0])


def parse_machine_stat(line: str) -> float:
    """Busy seconds from the aggregate ``cpu`` line: user, nice, system, irq, softirq and steal (not idle or
    iowait; guest time is already inside user)."""
    fields = [int(value) for value in line.split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS
