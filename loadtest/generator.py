"""The lean load generator the benchmark drives every target with.

Locust (gevent, one greenlet per user, Python-level stats per call) tops out at a
few thousand calls per second per core: against a fast server it measures
itself. This generator does as little per call as grpc.aio allows: requests
are serialized once beforehand and sent as bytes through ``channel.unary_unary``
with no serializer, on uvloop, with many calls in flight on a few HTTP/2
connections; a call costs one histogram increment. The same generator, with the
same settings, drives the bare echo server and the platform, so their ratio
compares servers, not clients.

Two modes:

* ``closed``: ``concurrency`` calls always in flight; measures the maximum sustained rate.
* ``open``: calls sent at a constant ``rate`` whatever the server does; each latency is measured
  from the time the call was *due*, so queueing in a slow server shows in the percentiles. The same
  calls are also timed from the moment the generator actually sent them (``sent_latency``): on a
  machine the generator shares with the server, the difference is the generator's own lateness.

Several generator processes can share a run (``--processes`` in the benchmark): they agree on a
wall-clock start (``--start-at``), take every ``stride``-th request from the request file so that a
list of distinct keys is not repeated, and print histograms that merge exactly.

    python -m loadtest.generator --target HOST:PORT --method /pkg.Service/Method --requests FILE ...
prints one JSON object (see :class:`GeneratorResult`) on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import struct
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from loadtest.cpu import run_queue_wait
from loadtest.schedule import ConstantRate
from loadtest.stats import LatencyHistogram

_LENGTH = struct.Struct(">I")


def write_requests(path: Path, messages: Sequence[bytes]) -> Path:
    """Stores pre-serialized requests, each prefixed with its 4-byte big-endian length."""
    with path.open("wb") as out:
        for message in messages:
            out.write(_LENGTH.pack(len(message)))
            out.write(message)
    return path


def read_requests(path: Path) -> list[bytes]:
    data = path.read_bytes()
    messages, offset = [], 0
    while offset < len(data):
        (length,) = _LENGTH.unpack_from(data, offset)
        offset += _LENGTH.size
        messages.append(data[offset:offset + length])
        offset += length
    if not messages:
        raise ValueError(f"{path} holds no requests")
    return messages


@dataclass
class LoadSpec:
    """What one generator process does."""

    target: str
    method: str
    requests: list[bytes]
    metadata: tuple[tuple[str, str], ...] = ()
    mode: str = "closed"
    concurrency: int = 64
    rate: float = 0.0
    connections: int = 4
    start_at: float = 0.0
    warmup: float = 1.0
    duration: float = 5.0
    timeout: float = 5.0
    offset: int = 0
    stride: int = 1
    max_in_flight: int = 20_000


@dataclass
class GeneratorResult:
    """Calls completed inside the measured window, and their latencies."""

    mode: str
    window: float
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    #: The same calls timed from when they were sent rather than due (equal in closed loop).
    sent_latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    sent: int = 0
    #: Requests taken from the list, over the whole run; more than its length means keys repeated.
    drawn: int = 0
    distinct: int = 0
    #: Open loop: how far behind schedule the generator itself fell (its own saturation).
    max_send_lag: float = 0.0
    target_rate: float = 0.0
    #: How late after the agreed start this process began sending (beyond the warm-up, the window is short).
    late_start: float = 0.0
    #: This process's own CPU seconds in the window (None when not measured). Read by the process itself: it
    #: may have exited before the benchmark's own sample at the window's end, which would then miss it.
    cpu_seconds: float | None = None
    #: Seconds this process's threads waited for a core in the window (None when not measured), read likewise.
    wait_seconds: float | None = None

    @property
    def throughput(self) -> float:
        return self.ok / self.window if self.window else 0.0

    def to_dict(self) -> dict[str, object]:
        return {"mode": self.mode, "window": self.window, "ok": self.ok, "errors": dict(self.errors),
                "latency": self.latency.to_dict(), "sent_latency": self.sent_latency.to_dict(),
                "sent": self.sent, "drawn": self.drawn,
                "distinct": self.distinct, "max_send_lag": self.max_send_lag, "target_rate": self.target_rate,
                "late_start": self.late_start, "cpu_seconds": self.cpu_seconds, "wait_seconds": self.wait_seconds}

    @classmethod
    def from_dict(cls, data: dict) -> GeneratorResult:
        return cls(mode=data["mode"], window=data["window"], ok=data["ok"], errors=Counter(data["errors"]),
                   latency=LatencyHistogram.from_dict(data["latency"]),
                   sent_latency=LatencyHistogram.from_dict(data.get("sent_latency", data["latency"])),
                   sent=data["sent"], drawn=data["drawn"],
                   distinct=data["distinct"], max_send_lag=data["max_send_lag"], target_rate=data["target_rate"],
                   late_start=data.get("late_start", 0.0), cpu_seconds=data.get("cpu_seconds"),
                   wait_seconds=data.get("wait_seconds"))


def combine(results: Sequence[GeneratorResult]) -> GeneratorResult:
    """One result for the processes of one run (same window, summed counts, merged histograms)."""
    total = GeneratorResult(mode=results[0].mode, window=max(r.window for r in results))
    for result in results:
        total.ok += result.ok
        total.errors.update(result.errors)
        total.latency.merge(result.latency)
        total.sent_latency.merge(result.sent_latency)
        total.sent += result.sent
        total.drawn += result.drawn
        total.distinct += result.distinct
        total.max_send_lag = max(total.max_send_lag, result.max_send_lag)
        total.target_rate += result.target_rate
        total.late_start = max(total.late_start, result.late_start)
    own = [result.cpu_seconds for result in results]
    total.cpu_seconds = None if None in own else sum(own)  # type: ignore[arg-type]
    waits = [result.wait_seconds for result in results]
    total.wait_seconds = None if None in waits else sum(waits)  # type: ignore[arg-type]
    return total


class TargetUnreachable(Exception):
    """The target took no connection before the measured window would have opened."""


class _Run:
    """One process's run: channels, the request cursor, the window and the tallies."""

    def __init__(self, spec: LoadSpec) -> None:
        self.spec = spec
        # Separate subchannel pools make each channel its own TCP connection.
        self.channels = [grpc.aio.insecure_channel(spec.target, options=[("grpc.use_local_subchannel_pool", 1)])
                         for _ in range(spec.connections)]
        self.calls = [channel.unary_unary(spec.method) for channel in self.channels]
        self.metadata = spec.metadata or None
        self.cursor = spec.offset
        self.drawn = 0
        start = spec.start_at or time.time()
        # Wall-clock instants (shared by every process) turned into this process's perf_counter.
        shift = time.time() - time.perf_counter()
        self.begin = start - shift
        self.measure_from = self.begin + spec.warmup
        self.end = self.measure_from + spec.duration
        self.result = GeneratorResult(mode=spec.mode, window=spec.duration,
                                      distinct=len(range(spec.offset, len(spec.requests), spec.stride)))

    def next_request(self) -> bytes:
        requests = self.spec.requests
        request = requests[self.cursor % len(requests)]
        self.cursor += self.spec.stride
        self.drawn += 1
        return request

    async def call(self, slot: int, due: float | None = None) -> None:
        """One call; counted if it completes inside the window (latency from ``due`` when given)."""
        request = self.next_request()
        issued = time.perf_counter()
        started = issued if due is None else due
        code = "OK"
        try:
            await self.calls[slot % len(self.calls)](request, metadata=self.metadata, timeout=self.spec.timeout)
        except grpc.aio.AioRpcError as error:
            code = error.code().name
        finished = time.perf_counter()
        if self.measure_from <= finished < self.end:
            if code == "OK":
                self.result.ok += 1
                self.result.latency.record(finished - started)
                self.result.sent_latency.record(finished - issued)
            else:
                self.result.errors[code] += 1

    async def closed_loop(self) -> None:
        async def worker(slot: int) -> None:
            while time.perf_counter() < self.end:
                await self.call(slot)

        await asyncio.gather(*(worker(slot) for slot in range(self.spec.concurrency)))

    async def open_loop(self) -> None:
        schedule = ConstantRate(self.spec.rate, self.begin)
        in_flight: set[asyncio.Task] = set()
        room = asyncio.Event()
        room.set()
        sent = 0

        def finished(task: asyncio.Task) -> None:
            in_flight.discard(task)
            room.set()

        while (now := time.perf_counter()) < self.end:
            for _ in range(schedule.due(now) - sent):
                if len(in_flight) >= self.spec.max_in_flight:
                    room.clear()
                    await room.wait()
                due = schedule.send_time(sent)
                lag = time.perf_counter() - due
                if due >= self.measure_from and lag > self.result.max_send_lag:
                    self.result.max_send_lag = lag
                task = asyncio.ensure_future(self.call(sent, due))
                task.add_done_callback(finished)
                in_flight.add(task)
                sent += 1
            await asyncio.sleep(max(0.0, schedule.send_time(sent) - time.perf_counter()))
        self.result.sent = schedule.count_between(self.measure_from, self.end)
        self.result.target_rate = self.spec.rate
        if in_flight:
            await asyncio.wait(in_flight, timeout=self.spec.timeout + 1)

    async def run(self) -> GeneratorResult:
        await self._connect()
        self.result.late_start = max(0.0, time.perf_counter() - self.begin)
        await asyncio.sleep(max(0.0, self.begin - time.perf_counter()))
        marks = self._mark_cpu()
        try:
            if self.spec.mode == "open":
                await self.open_loop()
            else:
                await self.closed_loop()
        finally:
            await asyncio.gather(*(channel.close() for channel in self.channels))
        self.result.drawn = self.drawn
        if "from" in marks and "end" not in marks:
            # The loops end on time.perf_counter(), the timer on the event loop's clock: the loop may see the
            # window over before the end mark's timer ran (and the channels closed without yielding long enough).
            # The window is over by then: take the mark now (a CI run read no CPU for the generator at all).
            marks["end"] = marks_now()
        if "from" in marks and "end" in marks:
            self.result.cpu_seconds = marks["end"][0] - marks["from"][0]
            self.result.wait_seconds = marks["end"][1] - marks["from"][1]
        return self.result

    async def _connect(self) -> None:
        """Every channel connected, by the time the window opens (or within the call timeout, if that is later).

        channel_ready waits for ever: a target that was not there (the platform or the echo process gone since
        the last phase, a wrong address) kept the generator, and the benchmark waiting for its output, hanging
        with no word. It now stops, naming the target, and the benchmark reports the generator failed."""
        now = time.perf_counter()
        limit = max(self.measure_from - now, self.spec.timeout)
        try:
            await asyncio.wait_for(asyncio.gather(*(channel.channel_ready() for channel in self.channels)), limit)
        except TimeoutError:
            states = sorted({channel.get_state().name for channel in self.channels})
            await asyncio.gather(*(channel.close() for channel in self.channels))
            raise TargetUnreachable(f"{self.spec.target} did not accept a connection within {limit:.1f} s "
                                    f"(channel {', '.join(states)}): is the server there?") from None

    def _mark_cpu(self) -> dict[str, tuple[float, float]]:
        """This process's CPU time and its wait for a core (every thread's) when the window opens and closes."""
        marks: dict[str, tuple[float, float]] = {}

        def mark(name: str) -> None:
            marks.setdefault(name, marks_now())

        loop = asyncio.get_running_loop()
        for name, instant in (("from", self.measure_from), ("end", self.end)):
            loop.call_later(max(0.0, instant - time.perf_counter()), mark, name)
        return marks


def marks_now() -> tuple[float, float]:
    """This process's CPU time and its wait for a core (every thread's), now."""
    return time.process_time(), run_queue_wait(os.getpid())


async def generate(spec: LoadSpec) -> GeneratorResult:
    """Runs one generator in the current event loop (the benchmark runs it in its own process)."""
    if spec.mode not in ("closed", "open"):
        raise ValueError(f"mode {spec.mode!r}: expected closed or open")
    if spec.mode == "open" and spec.rate <= 0:
        raise ValueError("open loop needs a positive rate")
    return await _Run(spec).run()


def _parse_metadata(pairs: list[str]) -> tuple[tuple[str, str], ...]:
    metadata = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--metadata {pair!r}: expected key=value")
        metadata.append((key.strip().lower(), value))
    return tuple(metadata)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m loadtest.generator", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", required=True, help="host:port")
    parser.add_argument("--method", required=True, help="full method name, /package.Service/Method")
    parser.add_argument("--requests", required=True, type=Path, help="file of length-prefixed request bytes")
    parser.add_argument("--metadata", action="append", default=[], help="key=value, repeatable")
    parser.add_argument("--mode", choices=["closed", "open"], default="closed")
    parser.add_argument("--concurrency", type=int, default=64, help="closed loop: calls in flight")
    parser.add_argument("--rate", type=float, default=0.0, help="open loop: calls per second")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--start-at", type=float, default=0.0, help="wall-clock start (epoch seconds)")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--offset", type=int, default=0)
    parser.add_argument("--stride", type=int, default=1)
    return parser


def main(argv: list[str] | None = None) -> None:
    import uvloop

    args = build_parser().parse_args(argv)
    spec = LoadSpec(target=args.target, method=args.method, requests=read_requests(args.requests),
                    metadata=_parse_metadata(args.metadata), mode=args.mode, concurrency=args.concurrency,
                    rate=args.rate, connections=args.connections, start_at=args.start_at, warmup=args.warmup,
                    duration=args.duration, timeout=args.timeout, offset=args.offset, stride=args.stride)
    # The request list and grpc's modules stay for the whole run: frozen, a full collection never walks them, so
    # the generator does not stall its own calls (and inflate the latencies it measures) while it collects.
    gc.collect()
    gc.freeze()
    try:
        result = uvloop.run(generate(spec))
    except TargetUnreachable as exc:
        raise SystemExit(f"generator: {exc}") from None
    json.dump(result.to_dict(), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
