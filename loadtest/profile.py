"""Profiles the platform's processes under benchmark load with py-spy.

    python -m loadtest.profile [--phase hit|miss|batch] [--seconds 15] [--rate CALLS_PER_S] [--persons N] [--out DIR]

starts the platform as the benchmark does, loads it with the same generator, records every
service process with ``py-spy record`` (collapsed stacks and a speedscope file per process, under
``--out``), and prints, per process, the functions holding the most CPU samples: by themselves
("self") and with what they call ("total"). py-spy is a separate tool (``pip install py-spy``);
recording needs permission to read another process's memory (root, or ptrace allowed).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
from collections import Counter
from pathlib import Path

from loadtest import workloads
from loadtest.bench import DEFAULT_PERSONS, batch_requests, cold_requests, hot_requests
from loadtest.cpu import all_stats, command_line, role_of
from loadtest.phases import LoadOptions, Target, start_generator_background
from loadtest.platform import SERVICES, Platform
from services.arguments import non_negative, positive

TOP = 25


def parse_collapsed(text: str) -> Counter[tuple[str, ...]]:
    """Stacks (root first) and their sample counts from py-spy's raw (collapsed) output."""
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks[tuple(stack.split(";"))] += int(count)
    return stacks


Shares = list[tuple[str, float]]


def hottest(stacks: Counter[tuple[str, ...]], top: int = TOP) -> tuple[Shares, Shares]:
    """The frames with the largest share of samples: as the leaf (self) and anywhere on the stack (total)."""
    total = sum(stacks.values()) or 1
    leaf: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for stack, count in stacks.items():
        if stack:
            leaf[stack[-1]] += count
        for frame in set(stack):
            inclusive[frame] += count
    return ([(frame, n / total) for frame, n in leaf.most_common(top)],
            [(frame, n / total) for frame, n in inclusive.most_common(top)])


def service_processes(platform: Platform) -> dict[int, str]:
    """The platform's Python service processes (and their workers) by pid."""
    stats = all_stats()
    group = platform.process_group()
    members = group.members(stats)
    found = {}
    for pid in members:
        role = role_of(command_line(pid))
        parent_role = role_of(command_line(stats[pid].ppid)) if stats[pid].ppid in stats else None
        if role in SERVICES:
            found[pid] = role
        elif role is None and parent_role in SERVICES:
            found[pid] = f"{parent_role}-worker"
    return found


async def record(pid: int, seconds: float, out: Path, name: str) -> Path:
    raw = out / f"{name}-{pid}.txt"
    process = await asyncio.create_subprocess_exec(
        "py-spy", "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "250", "--nonblocking",
        "--format", "raw", "--output", str(raw), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"py-spy failed on {name} ({pid}): {err.decode(errors='replace')}")
    return raw


def report(name: str, raw: Path) -> str:
    stacks = parse_collapsed(raw.read_text(encoding="utf-8", errors="replace"))
    self_time, total_time = hottest(stacks)
    lines = [f"== {name}: {sum(stacks.values())} samples ({raw})", "  self:"]
    lines += [f"    {share:6.1%}  {frame}" for frame, share in self_time]
    lines.append("  total:")
    lines += [f"    {share:6.1%}  {frame}" for frame, share in total_time]
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> None:
    if shutil.which("py-spy") is None:
        raise SystemExit("py-spy is not on PATH (pip install py-spy)")
    work = Path(tempfile.mkdtemp(prefix="gsprof-"))
    out = Path(args.out)
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    platform = Platform(args.data_dir or work / "platform", persons=args.persons, workers=args.workers)
    try:
        await platform.start(wait_seconds=3600)
        assert platform.credentials is not None
        persons, seed = platform.credentials.persons, platform.credentials.seed
        metadata = await platform.bearer("social")
        method, requests = {
            "hit": (workloads.QUERY_METHOD, lambda: hot_requests(persons, seed)),
            "miss": (workloads.QUERY_METHOD, lambda: cold_requests(persons, seed, persons)),
            "batch": (workloads.BATCH_QUERY_METHOD, lambda: batch_requests(persons, seed, min(persons, 20_000))),
        }[args.phase]
        options = LoadOptions(warmup=0, duration=args.seconds + 10, concurrency=args.concurrency, work_dir=work)
        load = await start_generator_background(
            Target(args.phase, platform.gateway, method, requests(), platform.process_group(), metadata), options,
            rate=args.rate)
        await asyncio.sleep(6)
        processes = service_processes(platform)
        raws = await asyncio.gather(*(record(pid, args.seconds, out, name) for pid, name in processes.items()))
        for process in load:
            process.terminate()
        await asyncio.gather(*(process.wait() for process in load))
        for (_pid, name), raw in zip(processes.items(), raws, strict=True):
            print(report(name, raw), flush=True)
    finally:
        await platform.stop()
        shutil.rmtree(work, ignore_errors=True)


def build_parser() -> argparse.ArgumentParser:
    """The options, each number checked before the platform starts and seeds (minutes at a large population)."""
    parser = argparse.ArgumentParser(prog="python -m loadtest.profile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phase", choices=["hit", "miss", "batch"], default="hit")
    parser.add_argument("--seconds", type=positive(float), default=15.0)
    parser.add_argument("--concurrency", type=positive(int), default=64, help="closed loop: calls in flight")
    parser.add_argument("--rate", type=non_negative(float), default=0.0,
                        help="open loop at this many calls per second instead of the closed loop (the benchmark's "
                             "p99 phase: per-call costs that batching hides at 64 in flight show here)")
    parser.add_argument("--persons", type=positive(int), default=DEFAULT_PERSONS)
    parser.add_argument("--workers", type=positive(int), default=1)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "profiles"))
    return parser


def main(argv: list[str] | None = None) -> None:
    asyncio.run(run(build_parser().parse_args(argv)))


if __name__ == "__main__":
    main()
