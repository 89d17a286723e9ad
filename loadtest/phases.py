"""One measured phase: generator processes against one target, CPU sampled over the same window.

Every generator process is told the same wall-clock start; they warm up, then
measure for ``duration`` seconds. This process samples the target's CPU at the
two ends of that window, so calls and CPU seconds cover the same interval.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from loadtest.cpu import CpuSample, ProcessGroup, cpu_seconds_between, machine_busy_seconds
from loadtest.generator import GeneratorResult, combine, write_requests

SPAWN_LEAD_SECONDS = 3.0


@dataclass
class Target:
    """Something to load: where, which method, which pre-serialized requests, whose CPU counts."""

    name: str
    address: str
    method: str
    requests: Sequence[bytes]
    group: ProcessGroup
    metadata: tuple[tuple[str, str], ...] = ()
    #: BatchQuery answers many records per call.
    records_per_call: int = 1
    #: Run before each phase (e.g. flush the record cache so a miss phase misses).
    prepare: Callable[[], Awaitable[object]] | None = None
    #: Fresh call metadata for each phase (a new token), in place of ``metadata``: a token taken once at the
    #: start expired during a long run (``--rounds``, ``--repeat``; an hour by default), and every later phase
    #: measured the platform refusing it UNAUTHENTICATED, read as the platform's throughput and p99.
    renew_metadata: Callable[[], Awaitable[tuple[tuple[str, str], ...]]] | None = None


@dataclass
class LoadOptions:
    duration: float = 10.0
    #: The open-loop (p99) phases' window, when it differs from ``duration`` (LoadOptions.window).
    open_duration: float | None = None
    warmup: float = 2.0
    concurrency: int = 64
    connections: int = 4
    processes: int = 1
    timeout: float = 5.0
    work_dir: Path = Path("/tmp")
    #: Time the generator processes get to start (import grpc, connect) before the agreed start.
    spawn_lead: float = SPAWN_LEAD_SECONDS

    def window(self, mode: str) -> float:
        """Measured seconds of a phase in ``mode``: a p99 needs more calls than a rate does (see bench.py)."""
        return self.open_duration if mode == "open" and self.open_duration else self.duration


@dataclass
class PhaseResult:
    """What one phase measured."""

    target: str
    mode: str
    result: GeneratorResult
    cpu_seconds: float
    cpu_by_label: dict[str, float] = field(default_factory=dict)
    records_per_call: int = 1
    #: CPU seconds of the generator processes in the window.
    generator_cpu_seconds: float = 0.0
    #: CPU seconds the rest of the machine spent in the window (other work competing for the cores).
    foreign_cpu_seconds: float = 0.0
    #: Seconds the target's threads waited for a core in the window, by role, and the generators'.
    wait_by_label: dict[str, float] = field(default_factory=dict)
    generator_wait_seconds: float = 0.0

    @property
    def throughput(self) -> float:
        return self.result.throughput

    @property
    def records_per_second(self) -> float:
        return self.throughput * self.records_per_call

    @property
    def cpu_per_call(self) -> float:
        return self.cpu_seconds / self.result.ok if self.result.ok else float("nan")

    @property
    def repeated_keys(self) -> bool:
        """The request list ran out and started over (a miss phase then partly measured hits)."""
        return self.result.drawn > self.result.distinct

    def percentile_ms(self, p: float) -> float | None:
        """The phase's percentile in ms with its failed calls ranked slowest, as the verdicts count them (None when
        nothing was counted, or when the rank falls among the failures). The results file gave the answered calls'
        alone, so a phase whose slowest calls failed showed a p99 its verdict did not use."""
        result = self.result
        failed = sum(result.errors.values())
        if not result.latency.count and not failed:
            return None
        value = result.latency.percentile(p, unanswered=failed) * 1e3
        return None if math.isinf(value) else value

    def summary(self) -> dict[str, object]:
        latency = self.result.latency
        ok = self.result.ok
        return {"target": self.target, "mode": self.mode, "calls": ok, "errors": dict(self.result.errors),
                "throughput": self.throughput, "records_per_second": self.records_per_second,
                "target_rate": self.result.target_rate,
                "p50_ms": self.percentile_ms(50), "p99_ms": self.percentile_ms(99),
                "answered_p99_ms": latency.percentile(99) * 1e3 if latency.count else None,
                "max_ms": latency.maximum * 1e3, "cpu_seconds": self.cpu_seconds,
                "cpu_per_call_ms": self.cpu_per_call * 1e3 if ok else None, "cpu_by_label": self.cpu_by_label,
                "repeated_keys": self.repeated_keys, "max_send_lag_ms": self.result.max_send_lag * 1e3,
                "generator_cpu_seconds": self.generator_cpu_seconds, "foreign_cpu_seconds": self.foreign_cpu_seconds,
                "wait_by_label": self.wait_by_label, "generator_wait_seconds": self.generator_wait_seconds}


def _generator_command(target: Target, request_file: Path, options: LoadOptions, mode: str, rate: float,
                       start_at: float, index: int) -> list[str]:
    processes = options.processes
    command = [sys.executable, "-m", "loadtest.generator", "--target", target.address, "--method", target.method,
               "--requests", str(request_file), "--mode", mode, "--connections", str(options.connections),
               "--start-at", repr(start_at), "--warmup", repr(options.warmup), "--duration", repr(options.window(mode)),
               "--timeout", repr(options.timeout), "--offset", str(index), "--stride", str(processes)]
    if mode == "open":
        command += ["--rate", repr(rate / processes)]
    else:
        command += ["--concurrency", str(max(1, options.concurrency // processes))]
    for key, value in target.metadata:
        command += ["--metadata", f"{key}={value}"]
    return command


async def _sleep_until(wall_time: float) -> None:
    await asyncio.sleep(max(0.0, wall_time - time.time()))


async def run_phase(target: Target, options: LoadOptions, mode: str = "closed", rate: float = 0.0) -> PhaseResult:
    """Runs the generators once against ``target`` and returns calls, latencies and CPU of the window."""
    if target.prepare is not None:
        await target.prepare()
    if target.renew_metadata is not None:
        target = replace(target, metadata=await target.renew_metadata())
    request_file = write_requests(options.work_dir / f"{target.name}.requests", target.requests)
    start_at = time.time() + options.spawn_lead
    processes = [await asyncio.create_subprocess_exec(
        *_generator_command(target, request_file, options, mode, rate, start_at, index),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE) for index in range(options.processes)]
    outputs = asyncio.gather(*(process.communicate() for process in processes))
    generators = ProcessGroup([process.pid for process in processes])
    await _sleep_until(start_at + options.warmup)
    before = await asyncio.to_thread(_Snapshot.take, target.group, generators)
    await _sleep_until(start_at + options.warmup + options.window(mode))
    after = await asyncio.to_thread(_Snapshot.take, target.group, generators)
    results = []
    for process, (out, err) in zip(processes, await outputs, strict=True):
        if process.returncode != 0:
            raise RuntimeError(f"generator failed against {target.name}:\n{err.decode(errors='replace')[-3000:]}")
        results.append(GeneratorResult.from_dict(json.loads(out)))
    return _phase_result(target, mode, combine(results), before, after)


@dataclass(frozen=True)
class _Snapshot:
    """CPU of the target, of the generators and of the whole machine at one instant."""

    target: CpuSample
    generators: CpuSample
    machine: float

    @classmethod
    def take(cls, target: ProcessGroup, generators: ProcessGroup) -> _Snapshot:
        return cls(target.sample(), generators.sample(), machine_busy_seconds())


def _phase_result(target: Target, mode: str, result: GeneratorResult, before: _Snapshot,
                  after: _Snapshot) -> PhaseResult:
    cpu = cpu_seconds_between(before.target, after.target)
    # The generators' own figure when they sent one: a generator that finished its window and exited before the
    # sample at the window's end is missing from it (its CPU then read as 0, and was counted as "others").
    generator_cpu = result.cpu_seconds if result.cpu_seconds is not None else \
        cpu_seconds_between(before.generators, after.generators)
    return PhaseResult(target=target.name, mode=mode, result=result, cpu_seconds=cpu,
                       cpu_by_label=after.target.by_label_since(before.target),
                       records_per_call=target.records_per_call, generator_cpu_seconds=generator_cpu,
                       foreign_cpu_seconds=max(0.0, after.machine - before.machine - cpu - generator_cpu),
                       wait_by_label=after.target.waits_by_label_since(before.target),
                       generator_wait_seconds=result.wait_seconds if result.wait_seconds is not None else
                       sum(after.generators.waits_by_label_since(before.generators).values()))


async def start_generator_background(target: Target, options: LoadOptions, rate: float = 0.0
                                     ) -> list[asyncio.subprocess.Process]:
    """Load that nobody measures (the revocation test runs under it; the profiler records under it): closed loop,
    or open loop at ``rate`` calls per second when one is given."""
    request_file = write_requests(options.work_dir / f"{target.name}.background.requests", target.requests)
    start_at = time.time() + options.spawn_lead
    mode = "open" if rate > 0 else "closed"
    return [await asyncio.create_subprocess_exec(
        *_generator_command(target, request_file, options, mode, rate, start_at, index),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE) for index in range(options.processes)]
