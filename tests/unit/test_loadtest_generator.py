"""The benchmark's load generator: request files, result merging, and one real run against the echo server."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from loadtest.cpu import ProcessGroup
from loadtest.echo import METHOD, EchoProcess
from loadtest.generator import GeneratorResult, LoadSpec, combine, generate, read_requests, write_requests
from loadtest.phases import LoadOptions, Target, run_phase
from loadtest.stats import LatencyHistogram


def test_request_files_round_trip(tmp_path: Path) -> None:
    messages = [b"", b"\x00\x01", "公民身份号码".encode(), b"x" * 70_000]
    assert read_requests(write_requests(tmp_path / "r.bin", messages)) == messages


def test_an_empty_request_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no requests"):
        read_requests(write_requests(tmp_path / "r.bin", []))


def result(ok: int, latencies: list[float], errors: dict[str, int] | None = None, lag: float = 0.0) -> GeneratorResult:
    histogram, from_sending = LatencyHistogram(), LatencyHistogram()
    for latency in latencies:
        histogram.record(latency)
        from_sending.record(max(0.0, latency - lag))
    return GeneratorResult(mode="open", window=2.0, ok=ok, errors=Counter(errors or {}), latency=histogram,
                           sent_latency=from_sending, sent=ok, drawn=ok, distinct=ok, max_send_lag=lag,
                           target_rate=ok / 2.0)


def test_results_of_several_processes_combine() -> None:
    total = combine([result(3, [0.001, 0.002, 0.003], {"UNAVAILABLE": 1}, lag=0.004),
                     result(2, [0.010, 0.020], {"UNAVAILABLE": 2, "INTERNAL": 1}, lag=0.001)])
    assert total.ok == 5
    assert total.throughput == 2.5
    assert total.errors == {"UNAVAILABLE": 3, "INTERNAL": 1}
    assert total.latency.count == 5 and total.sent_latency.count == 5
    assert total.latency.maximum == 0.020
    assert total.sent_latency.maximum == pytest.approx(0.019)
    assert total.max_send_lag == 0.004
    assert total.target_rate == 2.5


def test_results_survive_the_trip_through_stdout() -> None:
    original = result(2, [0.003, 0.004], {"DEADLINE_EXCEEDED": 1})
    restored = GeneratorResult.from_dict(original.to_dict())
    assert restored.to_dict() == original.to_dict()
    assert restored.latency.percentile(50) == original.latency.percentile(50)


@pytest.mark.parametrize(("mode", "rate"), [("sideways", 0.0), ("open", 0.0)])
async def test_bad_modes_are_refused_before_connecting(mode: str, rate: float) -> None:
    with pytest.raises(ValueError):
        await generate(LoadSpec(target="127.0.0.1:1", method=METHOD, requests=[b"x"], mode=mode, rate=rate))


async def test_smoke_the_generator_against_the_bare_echo_server(tmp_path: Path) -> None:
    """The real generator process against the real echo process, for about a second."""
    echo = await EchoProcess.start()
    try:
        target = Target("echo", echo.address, METHOD, [b"\x0a\x03abc", b"\x0a\x03def"], ProcessGroup([echo.pid]))
        phase = await run_phase(target, LoadOptions(duration=1.0, warmup=0.3, concurrency=8, connections=2,
                                                    work_dir=tmp_path, spawn_lead=1.5))
    finally:
        await echo.stop()
    assert phase.result.errors == {}
    assert phase.result.ok > 0
    assert phase.throughput > 0
    latency = phase.result.latency
    assert 0 < latency.percentile(50) <= latency.percentile(99) <= latency.maximum
    assert phase.cpu_seconds > 0  # the echo server worked during the window, and it was counted
    assert set(phase.cpu_by_label) == {"echo"}


async def test_an_open_loop_run_times_each_call_from_its_due_time_and_from_its_sending(tmp_path: Path) -> None:
    """Open loop against the real echo: both clocks see every call, and sending never precedes the due time."""
    echo = await EchoProcess.start()
    try:
        target = Target("echo", echo.address, METHOD, [b"\x0a\x03abc"], ProcessGroup([echo.pid]))
        phase = await run_phase(target, LoadOptions(duration=1.0, warmup=0.3, connections=2, work_dir=tmp_path,
                                                    spawn_lead=1.5), mode="open", rate=200)
    finally:
        await echo.stop()
    due, sent = phase.result.latency, phase.result.sent_latency
    assert phase.result.errors == {} and due.count == sent.count > 0
    assert sent.percentile(50) <= due.percentile(50) and sent.percentile(99) <= due.percentile(99)
    assert sent.maximum <= due.maximum


def test_a_generator_that_exited_before_the_last_sample_still_has_its_cpu_counted() -> None:
    from loadtest.cpu import CpuSample
    from loadtest.generator import GeneratorResult
    from loadtest.phases import _phase_result, _Snapshot

    target = Target("echo", "127.0.0.1:1", METHOD, [b"x"], ProcessGroup([1]))
    before = _Snapshot(CpuSample({1: 10.0}, {1: "echo"}), CpuSample({2: 5.0}, {}), machine=100.0)
    after = _Snapshot(CpuSample({1: 14.0}, {1: "echo"}), CpuSample({}, {}), machine=109.0)  # generator 2 is gone
    result = GeneratorResult(mode="open", window=10.0, ok=1000, cpu_seconds=3.0)
    phase = _phase_result(target, "open", result, before, after)
    assert phase.generator_cpu_seconds == 3.0
    assert phase.foreign_cpu_seconds == 2.0  # 9 s busy: 4 the target's, 3 the generator's


async def test_the_generator_reports_its_own_cpu_in_the_window(tmp_path: Path) -> None:
    echo = await EchoProcess.start()
    try:
        target = Target("echo", echo.address, METHOD, [b"\x0a\x03abc"], ProcessGroup([echo.pid]))
        phase = await run_phase(target, LoadOptions(duration=1.0, warmup=0.3, connections=2, work_dir=tmp_path,
                                                    spawn_lead=1.5), mode="open", rate=200)
    finally:
        await echo.stop()
    assert phase.result.cpu_seconds is not None and phase.result.cpu_seconds > 0
    assert phase.generator_cpu_seconds == phase.result.cpu_seconds


async def test_a_target_that_takes_no_connection_stops_the_generator_naming_it() -> None:
    """A phase whose target is not there (the platform or the echo gone since the last phase): the generator stops
    once the window would have opened, instead of waiting for a connection for ever (and the benchmark with it)."""
    import asyncio
    import time

    from loadtest.generator import TargetUnreachable
    from tests.free_ports import free_port

    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    spec = LoadSpec(target=address, method=METHOD, requests=[b"x"], start_at=time.time(), warmup=0.5,
                    duration=0.5, timeout=1.0)
    with pytest.raises(TargetUnreachable, match=f"{address} did not accept a connection within 1.0 s"):
        await asyncio.wait_for(generate(spec), 20)


def test_the_generator_process_exits_1_saying_which_target_was_not_there(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.free_ports import free_port

    address = f"127.0.0.1:{free_port()}"
    requests = write_requests(tmp_path / "r.bin", [b"x"])
    finished = subprocess.run([sys.executable, "-m", "loadtest.generator", "--target", address, "--method", METHOD,
                               "--requests", str(requests), "--warmup", "0", "--duration", "0.5", "--timeout", "1"],
                              capture_output=True, text=True, timeout=30)
    assert finished.returncode == 1 and finished.stdout == ""
    assert f"generator: {address} did not accept a connection" in finished.stderr
    assert "Traceback" not in finished.stderr


async def test_each_phase_calls_with_a_token_of_its_own(tmp_path: Path) -> None:
    """A stand-in gateway whose tokens last 3 s (the platform's last an hour, a benchmark of several rounds longer):
    the open phase that follows a closed one still calls with a token the gateway accepts, taken as it starts,
    instead of the closed phase's, expired, which measured every call refused UNAUTHENTICATED."""
    import time

    import grpc

    from loadtest.bench import measure
    from tests.free_ports import free_port

    lifetime, issued = 3.0, {}
    seen: Counter[str] = Counter()

    async def renew() -> tuple[tuple[str, str], ...]:
        token = f"token-{len(issued)}"
        issued[token] = time.monotonic()
        return (("authorization", f"Bearer {token}"),)

    async def query(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        token = dict(context.invocation_metadata()).get("authorization", "").removeprefix("Bearer ")
        seen[token] += 1
        if token not in issued or time.monotonic() - issued[token] > lifetime:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "token expired")
        return b""

    server = grpc.aio.server()
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(
        "govshare.query.v1.QueryService", {"Query": grpc.unary_unary_rpc_method_handler(query)})])
    address = f"127.0.0.1:{free_port()}"
    server.add_insecure_port(address)
    await server.start()
    try:
        target = Target("hit", address, "/govshare.query.v1.QueryService/Query", [b""], ProcessGroup([]),
                        await renew(), renew_metadata=renew)
        measured = await measure(target, LoadOptions(duration=1.0, warmup=0.3, concurrency=4, connections=1,
                                                     work_dir=tmp_path, spawn_lead=1.0), "hit")
    finally:
        await server.stop(0)
    assert measured.open is not None
    assert measured.closed.result.errors == {} and measured.open.result.errors == {}
    assert measured.open.result.ok > 0 and len(seen) >= 2


async def test_a_phase_that_fails_keeps_the_phases_measured_before_it(tmp_path: Path, monkeypatch) -> None:
    """Two rounds of the echo phase; the second round's echo is gone before its generator connects (a target that
    died under load). The benchmark says it stopped and returns round 1's figures to report and save, instead of a
    traceback that took every phase measured before it along."""
    from loadtest import bench

    started: list[EchoProcess] = []
    real_start = EchoProcess.start

    async def start(cls: type[EchoProcess], wait_seconds: float = 30.0) -> EchoProcess:
        echo = await real_start(wait_seconds)
        started.append(echo)
        if len(started) == 2:
            await echo.stop()  # round 2: its port no longer answers
        return echo

    monkeypatch.setattr(EchoProcess, "start", classmethod(start))
    options = bench.BenchOptions(
        load=LoadOptions(duration=0.5, warmup=0.2, concurrency=2, connections=1, timeout=1.0, spawn_lead=1.0),
        persons=100, workers=1, phases=("echo",), cold_keys=10, data_dir=None, keep=False, baseline=None,
        startup_timeout=60, rounds=2)
    results = await bench.run(options)
    assert "generator failed against echo" in results["stopped"]
    assert "did not accept a connection" in results["stopped"]
    assert len(results["_rounds"]) == 1 and results["_measurements"]["echo"].closed.result.ok > 0
    assert results["measurements"]["echo"]["max_rate"] > 0
    bench.print_report(results)  # the report of what was measured prints
