"""CPU accounting from /proc (loadtest.cpu)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from loadtest.cpu import (
    CLOCK_TICKS,
    ProcessGroup,
    ProcStat,
    cpu_seconds_between,
    descendants,
    label_processes,
    parse_machine_stat,
    parse_stat,
    read_stat,
    role_of,
    run_queue_wait,
)


def stat_line(pid: int, comm: str, ppid: int, utime: int, stime: int, cutime: int = 0, cstime: int = 0) -> str:
    """A /proc/<pid>/stat line in the kernel's format (fields after stime abbreviated to plausible values)."""
    return (f"{pid} ({comm}) S {ppid} {pid} {pid} 0 -1 4194560 1000 0 0 0 {utime} {stime} {cutime} {cstime} "
            f"20 0 3 0 12345 567890 1234 18446744073709551615 1 1 0 0 0 0 0 16781312 16386 0 0 0 17 1 0 0 0 0 0")


def test_parse_stat_reads_ppid_and_times() -> None:
    stat = parse_stat(stat_line(4242, "python", 1, utime=250, stime=50, cutime=7, cstime=3))
    assert stat == ProcStat(pid=4242, comm="python", ppid=1, utime=250, stime=50, cutime=7, cstime=3)
    assert stat.seconds == pytest.approx(300 / CLOCK_TICKS)


def test_parse_stat_survives_spaces_and_parentheses_in_the_command_name() -> None:
    stat = parse_stat(stat_line(7, "postgres: a (b) c", 3, utime=11, stime=22))
    assert (stat.comm, stat.ppid, stat.utime, stat.stime) == ("postgres: a (b) c", 3, 11, 22)


def test_machine_stat_counts_busy_time_only() -> None:
    line = "cpu  1000 50 300 90000 400 10 20 5 0 0"
    assert parse_machine_stat(line) == pytest.approx((1000 + 50 + 300 + 10 + 20 + 5) / CLOCK_TICKS)


def _stats(*rows: tuple[int, int]) -> dict[int, ProcStat]:
    return {pid: ProcStat(pid, f"p{pid}", ppid, 0, 0, 0, 0) for pid, ppid in rows}


def test_descendants_follow_the_tree_below_the_roots_only() -> None:
    stats = _stats((1, 0), (10, 1), (11, 10), (12, 11), (20, 1), (21, 20))
    assert descendants([10], stats) == {10, 11, 12}
    assert descendants([10, 21], stats) == {10, 11, 12, 21}
    assert descendants([99], stats) == set()


def fake_proc(root: Path, processes: dict[int, tuple[str, int, int, int, str]]) -> Path:
    """A /proc-like tree: pid -> (comm, ppid, utime, stime, cmdline)."""
    for pid, (comm, ppid, utime, stime, cmdline) in processes.items():
        (root / str(pid)).mkdir(parents=True)
        (root / str(pid) / "stat").write_text(stat_line(pid, comm, ppid, utime, stime))
        (root / str(pid) / "cmdline").write_bytes(cmdline.replace(" ", "\0").encode())
    (root / "self").mkdir()
    return root


def test_process_group_finds_daemonized_servers_by_marker_and_labels_roles(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, {
        1: ("init", 0, 0, 0, "/sbin/init"),
        100: ("python", 1, 10, 5, "python -m services.cli up --data-dir /tmp/d"),
        101: ("python", 100, 300, 100, "python -m services.cli serve gateway"),
        102: ("python", 100, 200, 50, "python -m services.cli serve query"),
        103: ("python", 102, 400, 100, "python -c from multiprocessing.spawn import spawn_main"),
        200: ("postgres", 1, 80, 20, "/x/bin/postgres -D /tmp/d/pg -k /tmp/d/pg"),
        201: ("postgres", 200, 30, 10, "postgres: postgres db [local] idle"),
        300: ("redis-server", 1, 15, 5, "/x/bin/redis-server unixsocket:/tmp/r/redis.socket"),
        400: ("python", 1, 999, 999, "python unrelated.py"),
    })
    from loadtest import cpu

    group = ProcessGroup([100], markers=["/tmp/d/pg", "/tmp/r/redis.socket"],
                         cmdline=lambda pid: cpu.command_line(pid, proc))
    sample = group.sample(proc)
    assert set(sample.seconds) == {100, 101, 102, 103, 200, 201, 300}
    assert sample.labels == {100: "launcher", 101: "gateway", 102: "query", 103: "query", 200: "postgres",
                             201: "postgres", 300: "redis"}
    assert sample.seconds[103] == pytest.approx(500 / CLOCK_TICKS)


def test_work_between_samples_is_summed_per_process_and_per_role() -> None:
    from loadtest.cpu import CpuSample

    before = CpuSample(seconds={1: 1.0, 2: 5.0}, labels={1: "gateway", 2: "query"})
    after = CpuSample(seconds={1: 1.5, 2: 6.0, 3: 0.25}, labels={1: "gateway", 2: "query", 3: "query"})
    assert after.since(before) == {1: 0.5, 2: 1.0, 3: 0.25}
    assert cpu_seconds_between(before, after) == pytest.approx(1.75)
    assert after.by_label_since(before) == {"gateway": 0.5, "query": 1.25}


@pytest.mark.parametrize(("cmdline", "role"), [
    ("python -m services.cli serve foundation", "foundation"),
    ("/v/bin/python3 /v/bin/govshare serve catalog", "catalog"),
    ("python -m loadtest.echo --port 0", "echo"),
    ("/venv/bin/python -m loadtest.peer --port 0", "peer"),
    ("/v/bin/python -m services.cli frontproc --config /d/frontproc/dept.yaml", "frontproc"),
    ("/v/lib/python3.11/site-packages/envoy/_bin/envoy --config-path /tmp/e/envoy.json --concurrency 1", "edge"),
    ("python -c from multiprocessing.resource_tracker import main", None),
])
def test_roles_from_command_lines(cmdline: str, role: str | None) -> None:
    assert role_of(cmdline) == role


def test_helpers_inherit_the_role_of_their_parent() -> None:
    stats = _stats((1, 0), (5, 1), (6, 5))
    cmdlines = {1: "/sbin/init", 5: "python -m services.cli serve authorization", 6: "python -c spawn"}
    assert label_processes([5, 6, 1], stats, cmdlines.__getitem__) == {5: "authorization", 6: "authorization",
                                                                       1: "p1"}


def test_reading_this_process_sees_its_own_cpu_grow() -> None:
    before = read_stat(os.getpid())
    deadline = time.process_time() + 0.1
    while time.process_time() < deadline:
        pass
    after = read_stat(os.getpid())
    assert before is not None and after is not None
    assert after.ppid == os.getppid()
    assert after.seconds > before.seconds
    assert read_stat(2 ** 22 + 12345) is None  # no such process


def test_run_queue_wait_sums_every_thread_and_ignores_a_process_gone(tmp_path: Path) -> None:
    for tid, line in ((40, "900000 2500000000 17"), (41, "100 500000000 3"), (42, "garbage")):
        task = tmp_path / "40" / "task" / str(tid)
        task.mkdir(parents=True)
        (task / "schedstat").write_text(line + "\n")
    assert run_queue_wait(40, tmp_path) == pytest.approx(3.0)
    assert run_queue_wait(41, tmp_path) == 0.0


def test_waits_between_samples_are_summed_per_role() -> None:
    from loadtest.cpu import CpuSample

    before = CpuSample(seconds={}, labels={1: "edge", 2: "query"}, waits={1: 0.5, 2: 1.0})
    after = CpuSample(seconds={}, labels={1: "edge", 2: "query", 3: "query"}, waits={1: 0.75, 2: 1.5, 3: 0.25})
    assert after.waits_by_label_since(before) == {"edge": 0.25, "query": 0.75}


def test_processes_that_outnumber_the_cores_are_seen_waiting_for_one() -> None:
    """More busy processes than cores: some of them must have queued for a core, and the reading says so."""
    import subprocess
    import sys

    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range((os.cpu_count() or 1) + 1)]
    try:
        time.sleep(0.5)
        waits = [run_queue_wait(process.pid) for process in busy]
    finally:
        for process in busy:
            process.kill()
            process.wait()
    assert max(waits) > 0.0, waits


def test_a_child_that_ended_between_two_samples_is_counted_in_the_parent_that_reaped_it() -> None:
    """A process of the group that started a short-lived child (a PostgreSQL backend for one connection, a Redis
    save) and reaped it between two samples: the child's CPU was in neither sample, so it was lost from the group and
    counted as the machine's other work ("others"). It is now read from the parent's cutime/cstime."""
    import subprocess
    import sys

    burn = "import time\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass"
    parent = subprocess.Popen([sys.executable, "-c", "import subprocess, sys\nsys.stdin.readline()\n"
                               f"subprocess.run([sys.executable, '-c', {burn!r}], check=True)\n"
                               "print('reaped', flush=True)\nsys.stdin.readline()"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        group = ProcessGroup([parent.pid])
        before = group.sample()
        assert parent.stdin is not None and parent.stdout is not None
        parent.stdin.write("go\n")
        parent.stdin.flush()
        assert parent.stdout.readline().strip() == "reaped"
        after = group.sample()
    finally:
        parent.communicate("end\n", timeout=30)
    assert cpu_seconds_between(before, after) >= 0.35  # the child's 0.4 s of CPU (clock ticks: 0.01 s each)


def test_a_process_that_ended_counts_minus_what_it_had_spent_before() -> None:
    """Its whole time moved into its parent's cutime when reaped: only what it spent after the first sample is
    the window's. One still running but no longer found a member is left out, not counted as ended."""
    from loadtest.cpu import CpuSample

    before = CpuSample(seconds={1: 1.0, 2: 3.0, 3: 2.0}, labels={1: "db", 2: "db", 3: "db"})
    after = CpuSample(seconds={1: 1.0 + 3.5}, labels={1: "db"}, running=frozenset({1, 3}))
    assert after.since(before) == {1: 3.5, 2: -3.0}
    assert cpu_seconds_between(before, after) == pytest.approx(0.5)
