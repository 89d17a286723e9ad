"""The benchmark's verdicts: ratios to the bare hop and each target's PASS/FAIL (loadtest.report)."""

from __future__ import annotations

import math
from collections import Counter

from loadtest.generator import GeneratorResult
from loadtest.phases import PhaseResult
from loadtest.report import Check, Measurement, checks, table, verdicts
from loadtest.stats import LatencyHistogram


def phase(name: str, calls: int, cpu_seconds: float, latencies: tuple[float, ...] = (0.001,),
          records_per_call: int = 1, mode: str = "closed") -> PhaseResult:
    histogram = LatencyHistogram()
    for latency in latencies:
        histogram.record(latency)
    result = GeneratorResult(mode=mode, window=10.0, ok=calls, errors=Counter(), latency=histogram,
                             target_rate=calls / 10.0)
    return PhaseResult(target=name, mode=mode, result=result, cpu_seconds=cpu_seconds,
                       cpu_by_label={name: cpu_seconds}, records_per_call=records_per_call)


def measurements() -> dict[str, Measurement]:
    return {
        "echo": Measurement("echo", phase("echo", 30_000, 12.0), phase("echo", 21_000, 8.0, mode="open")),
        "hit": Measurement("hit", phase("hit", 16_000, 24.0), phase("hit", 11_200, 17.0, (0.002,) * 99 + (0.014,),
                                                                     mode="open")),
        "miss": Measurement("miss", phase("miss", 9_000, 20.0), phase("miss", 6_300, 14.0, (0.003,) * 98 +
                                                                      (0.030, 0.031), mode="open")),
        "batch": Measurement("batch", phase("batch", 2_500, 20.0, records_per_call=100)),
    }


def by_name(results: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in results}


def test_ratios_and_verdicts_against_the_issue_targets() -> None:
    results = by_name(checks(measurements(), revocation_seconds=0.2, revocation_measured=True,
                             scale_p50_ratio=1.3))
    hit = results["Query cache-hit throughput / bare echo"]
    assert hit.measured == 1600 / 3000 and hit.verdict == "PASS"
    miss = results["Query cache-miss throughput / bare echo"]
    assert miss.measured == 900 / 3000 and miss.verdict == "FAIL"  # 0.30 < 0.33
    assert results["Query cache-hit p99 at 70% of max rate"].verdict == "PASS"
    assert results["Query cache-miss p99 at 70% of max rate"].verdict == "FAIL"
    assert results["BatchQuery records per second (100 keys/call)"].measured == 25_000
    assert results["BatchQuery records per second (100 keys/call)"].verdict == "FAIL"
    assert results["revocation reaches every query replica, under load"].verdict == "PASS"
    assert results["Query p50, large population / demo population"].verdict == "FAIL"


def test_unmeasured_targets_are_neither_passed_nor_failed() -> None:
    only_echo = {"echo": measurements()["echo"]}
    results = checks(only_echo)
    assert {check.verdict for check in results} == {"n/a"}
    assert len(results) == 5  # no revocation or scale check unless measured


def test_a_revocation_that_never_arrived_fails() -> None:
    results = by_name(checks(measurements(), revocation_seconds=None, revocation_measured=True))
    check = results["revocation reaches every query replica, under load"]
    assert check.measured == math.inf and check.verdict == "FAIL"


def test_cpu_per_call_and_records_per_second() -> None:
    measured = measurements()
    assert measured["hit"].cpu_per_call_ms == 24.0 / 16_000 * 1e3
    assert measured["batch"].closed.records_per_second == 25_000
    assert measured["hit"].p99_ms < 15 < measured["miss"].p99_ms


def test_the_printed_report_names_every_target_and_ratio() -> None:
    measured = measurements()
    text = table(measured)
    assert "echo" in text and "batch" in text
    assert "0.53" in text  # hit throughput / bare
    assert "3.75" in text  # hit CPU per call / bare: 1.5 ms against 0.4 ms
    lines = verdicts(checks(measured)).splitlines()
    assert lines[0] == "targets:"
    assert any(line.startswith("  [PASS] Query cache-hit throughput") for line in lines)
    assert any(line.startswith("  [FAIL] Query cache-miss throughput") for line in lines)
