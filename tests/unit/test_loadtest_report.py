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
    assert len(results) == 10  # no revocation or scale check unless measured


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


def with_peer(peer_calls: int, peer_cpu_seconds: float, peer_p99: float) -> dict[str, Measurement]:
    """The measurements above with a hand-built peer: ``peer_calls`` in the 10 s closed window, and an open-loop
    phase whose p99 is ``peer_p99`` seconds."""
    measured = measurements()
    measured["peer"] = Measurement("peer", phase("peer", peer_calls, peer_cpu_seconds),
                                   phase("peer", peer_calls * 7 // 10, 1.0, (0.0005,) * 98 + (peer_p99,) * 2,
                                         mode="open"))
    return measured


def test_the_issue_9_targets_against_the_hand_built_peer() -> None:
    # Peer: 2,000 calls/s at 1.0 ms CPU per call, p99 1.2 ms at 70% of its max. Hit: 1,600/s at 1.5 ms, p99 2 ms;
    # miss: 900/s, p99 30 ms.
    results = by_name(checks(with_peer(20_000, 20.0, 0.0012)))
    hit_rate = results["Query cache-hit throughput / hand-built peer"]
    assert hit_rate.measured == 1600 / 2000 and hit_rate.verdict == "PASS"  # 0.8 >= 0.7
    hit_cpu = results["Query cache-hit CPU per call / hand-built peer's"]
    assert hit_cpu.measured == 1.5 / 1.0 and hit_cpu.at_most and hit_cpu.verdict == "PASS"  # at the limit
    miss_rate = results["Query cache-miss throughput / hand-built peer"]
    assert miss_rate.measured == 900 / 2000 and miss_rate.verdict == "PASS"  # exactly 0.45
    hit_p99 = results["Query cache-hit p99 / hand-built peer's (each at 70% of its max)"]
    assert math.isclose(hit_p99.measured, 2 / 1.2, rel_tol=0.05) and hit_p99.verdict == "PASS"
    miss_p99 = results["Query cache-miss p99 / hand-built peer's (each at 70% of its max)"]
    assert math.isclose(miss_p99.measured, 30 / 1.2, rel_tol=0.05) and miss_p99.verdict == "FAIL"


def test_a_faster_leaner_peer_fails_the_platform() -> None:
    # Peer: 2,400 calls/s at 0.9 ms, p99 0.9 ms: hit 0.67x (< 0.7), CPU 1.67x (> 1.5), miss 0.375x, hit p99 2.2x.
    results = by_name(checks(with_peer(24_000, 21.6, 0.0009)))
    for name in ("Query cache-hit throughput / hand-built peer", "Query cache-hit CPU per call / hand-built peer's",
                 "Query cache-miss throughput / hand-built peer",
                 "Query cache-hit p99 / hand-built peer's (each at 70% of its max)"):
        assert results[name].verdict == "FAIL", name


def test_peer_targets_are_not_judged_without_the_peer_or_its_latency() -> None:
    results = by_name(checks(measurements()))
    assert all(check.verdict == "n/a" for name, check in results.items() if "peer" in name)
    no_open = with_peer(20_000, 20.0, 0.0012)
    no_open["peer"].open = None
    results = by_name(checks(no_open))
    assert results["Query cache-hit throughput / hand-built peer"].verdict == "PASS"
    assert results["Query cache-hit p99 / hand-built peer's (each at 70% of its max)"].verdict == "n/a"


def test_the_printed_report_shows_the_peer_ratios() -> None:
    text = table(with_peer(20_000, 20.0, 0.0012))
    header, _rule, *rows = text.splitlines()
    assert "rate/peer" in header and "CPU/peer" in header and "p99/peer" in header
    hit = next(row for row in rows if row.startswith("hit "))
    assert "0.80" in hit and "1.50" in hit  # throughput and CPU per call against the peer's
    lines = verdicts(checks(with_peer(20_000, 20.0, 0.0012))).splitlines()
    assert "  [PASS] Query cache-hit throughput / hand-built peer: 0.800 × (target ≥ 0.7 ×)" in lines


def test_the_open_loop_phases_show_their_cpu_growth_and_how_busy_the_machine_was() -> None:
    from loadtest.report import open_loop_load

    shown = measurements()
    shown["hit"].open.generator_cpu_seconds = 3.0  # type: ignore[union-attr]
    shown["hit"].open.foreign_cpu_seconds = 5.0  # type: ignore[union-attr]
    text = open_loop_load(shown)
    # hit: 24 s / 16,000 calls closed = 1.500 ms, 17 s / 11,200 open = 1.518 ms; 17 s of CPU in a 10 s window.
    assert "hit" in text and "1.500 → 1.518 (+1%)" in text
    assert "cores: target 1.70, generator 0.30, others 0.50" in text
    assert "batch" not in text  # no open-loop phase
    assert open_loop_load({"batch": shown["batch"]}) == ""


def test_rounds_are_judged_by_the_median_of_their_ratios() -> None:
    from loadtest.report import median_checks

    # Three rounds whose peer p99 moves (1.2, 0.6, 1.2 ms) under the same hit p99 (2 ms): 1.67x, 3.33x, 1.67x.
    rounds = [checks(with_peer(20_000, 20.0, p99)) for p99 in (0.0012, 0.0006, 0.0012)]
    name = "Query cache-hit p99 / hand-built peer's (each at 70% of its max)"
    assert by_name(rounds[1])[name].verdict == "FAIL"
    combined = by_name(median_checks(rounds))
    hit_p99 = combined[name]
    assert hit_p99.verdict == "PASS" and math.isclose(hit_p99.measured, 2 / 1.2, rel_tol=0.05)
    assert len(hit_p99.per_round) == 3 and math.isclose(hit_p99.per_round[1], 2 / 0.6, rel_tol=0.05)
    assert combined["Query cache-hit throughput / hand-built peer"].measured == 0.8
    line = next(line for line in verdicts(list(combined.values())).splitlines() if name in line)
    assert "the median of 3 rounds (" in line and "[PASS]" in line
    # Every round's figure is kept; one round is its own verdict, unchanged.
    assert combined["BatchQuery records per second (100 keys/call)"].per_round == (25_000.0,) * 3
    assert median_checks(rounds[:1]) == rounds[0]


def test_a_target_measured_in_some_rounds_only_takes_the_median_of_those() -> None:
    from loadtest.report import median_checks

    measured = [Check("x", value, 2.0, "×", at_most=True) for value in (None, 3.0, 1.0)]
    (combined,) = median_checks([[check] for check in measured])
    assert combined.measured == 2.0 and combined.verdict == "PASS" and combined.per_round == (None, 3.0, 1.0)
    (unmeasured,) = median_checks([[Check("x", None, 2.0, "×")], [Check("x", None, 2.0, "×")]])
    assert unmeasured.verdict == "n/a"


def failing(name: str, answered: int, errors: dict[str, int], latency: float = 0.002) -> PhaseResult:
    """An open-loop phase with ``answered`` calls of ``latency`` seconds and ``errors`` failed calls."""
    opened = phase(name, answered, 1.0, (latency,) * answered, mode="open")
    opened.result.errors.update(errors)
    return opened


def test_an_open_loop_whose_slowest_calls_failed_does_not_meet_the_p99_target() -> None:
    # The hit path answers 1,000 calls in 2 ms and 15 calls ran into their deadline: the 99th percentile of the
    # calls asked for is among those that got no answer, and the 2 ms of the answered ones is no p99 of the load.
    measured = measurements()
    measured["hit"].open = failing("hit", 1_000, {"DEADLINE_EXCEEDED": 15})
    check = by_name(checks(measured))["Query cache-hit p99 at 70% of max rate"]
    assert check.measured == math.inf and check.verdict == "FAIL"
    line = next(line for line in verdicts(checks(measured)).splitlines() if check.name in line)
    assert line.startswith("  [FAIL]") and "15 of 1,015 calls failed (DEADLINE_EXCEEDED 15)" in line
    # Fewer failures than 1%: the p99 is an answered call's, and the failures are said beside it.
    measured["hit"].open = failing("hit", 1_000, {"RESOURCE_EXHAUSTED": 5})
    check = by_name(checks(measured))["Query cache-hit p99 at 70% of max rate"]
    assert math.isclose(check.measured, 2.0, rel_tol=0.02) and check.verdict == "PASS"
    assert "5 of 1,005 calls failed (RESOURCE_EXHAUSTED 5)" in check.note
    # Every call failed: not "n/a" (unmeasured) but failed.
    measured["miss"].open = failing("miss", 0, {"UNAVAILABLE": 40})
    check = by_name(checks(measured))["Query cache-miss p99 at 70% of max rate"]
    assert check.verdict == "FAIL" and "40 of 40 calls failed" in check.note


def test_a_peer_whose_p99_fell_among_its_failures_passes_no_ratio() -> None:
    measured = with_peer(20_000, 20.0, 0.0012)
    measured["peer"].open = failing("peer", 1_000, {"DEADLINE_EXCEEDED": 20}, latency=0.0005)
    results = by_name(checks(measured))
    hit_p99 = results["Query cache-hit p99 / hand-built peer's (each at 70% of its max)"]
    assert hit_p99.verdict == "n/a" and "peer: 20 of 1,020 calls failed" in hit_p99.note
    measured = with_peer(20_000, 20.0, 0.0012)
    measured["hit"].open = failing("hit", 1_000, {"DEADLINE_EXCEEDED": 20})
    hit_p99 = by_name(checks(measured))["Query cache-hit p99 / hand-built peer's (each at 70% of its max)"]
    assert hit_p99.verdict == "FAIL" and hit_p99.note.startswith("hit: 20 of 1,020 calls failed")


def _refuse_constant(name: str) -> float:
    raise AssertionError(f"{name} in a results file: not JSON")


def test_the_results_file_is_strict_json_and_no_run_overwrites_another(tmp_path, monkeypatch) -> None:
    import json

    from loadtest import bench

    monkeypatch.setattr(bench, "RESULTS_DIR", tmp_path / "results")
    measured = with_peer(20_000, 20.0, 0.0012)
    measured["hit"].open = failing("hit", 1_000, {"DEADLINE_EXCEEDED": 20})  # its p99 is inf
    measured["miss"].closed = phase("miss", 0, 1.0)  # nothing answered: its CPU per call is NaN
    verdict = checks(measured, revocation_seconds=None, revocation_measured=True)
    results = {"measurements": {name: m.summary() for name, m in measured.items()},
               "checks": [check.summary() for check in verdict], "_checks": verdict}
    first, second = bench.save(results), bench.save(results)
    assert first != second and first.exists() and second.exists()
    assert sorted(path.name for path in (tmp_path / "results").iterdir()) == sorted([first.name, second.name])
    saved = json.loads(first.read_text(encoding="utf-8"), parse_constant=_refuse_constant)
    assert saved["measurements"]["hit"]["p99_ms"] is None
    by_check = {check["name"]: check for check in saved["checks"]}
    assert by_check["Query cache-hit p99 at 70% of max rate"]["measured"] is None
    assert by_check["Query cache-hit p99 at 70% of max rate"]["verdict"] == "FAIL"
    assert by_check["revocation reaches every query replica, under load"]["verdict"] == "FAIL"


def test_a_baseline_whose_p50_is_no_latency_is_not_compared_with(tmp_path) -> None:
    import json

    from loadtest.bench import _scale_ratio

    measured = measurements()  # hit p50 2 ms, miss 3 ms
    for reference in (float("inf"), None):  # an older file's Infinity, a newer one's null: failed calls
        baseline = tmp_path / "baseline.json"
        baseline.write_text(json.dumps({"persons": 10, "measurements": {"hit": {"p50_ms": reference}}}),
                            encoding="utf-8")
        assert _scale_ratio(measured, 1_000, baseline) is None  # not 2 ms / inf = 0, a PASS
    baseline.write_text(json.dumps({"persons": 10, "measurements": {"hit": {"p50_ms": 1.0}}}), encoding="utf-8")
    assert math.isclose(_scale_ratio(measured, 1_000, baseline), 2.0, rel_tol=0.02)
    measured["hit"].open = failing("hit", 10, {"UNAVAILABLE": 20})  # most calls failed: the p50 is a failure's
    assert _scale_ratio(measured, 1_000, baseline) == math.inf


def test_the_scale_ratio_is_the_worse_path_measured_whichever_was_not(tmp_path) -> None:
    import json

    from loadtest.bench import _scale_ratio

    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps({"persons": 10, "measurements": {"hit": {"p50_ms": 1.0},
                                                                    "miss": {"p50_ms": 1.0}}}), encoding="utf-8")
    measured = measurements()  # hit p50 2 ms, miss 3 ms
    measured["hit"].open = None  # the hit path answered nothing in its closed loop: no latency phase
    assert math.isclose(_scale_ratio(measured, 1_000, baseline), 3.0, rel_tol=0.02)  # the miss path's, a FAIL
    measured["miss"].open = None
    assert math.isnan(_scale_ratio(measured, 1_000, baseline))  # n/a, as before


def test_repeat_keeps_a_run_without_failed_calls_before_a_quieter_one_with_them() -> None:
    """``--repeat`` kept the run least disturbed by other processes even when its calls had failed: the figures of a
    platform that was refusing calls stood for the target. A run without failures is kept first; among runs that all
    had failures, still the quietest."""
    from loadtest.bench import least_disturbed

    quiet_failing, busy_clean, busier_failing = (phase("hit", 1_000, 1.0) for _ in range(3))
    quiet_failing.result.errors["UNAVAILABLE"] = 3
    busier_failing.result.errors["UNAVAILABLE"] = 1
    for run, foreign in ((quiet_failing, 0.1), (busy_clean, 2.0), (busier_failing, 3.0)):
        run.foreign_cpu_seconds = foreign
    assert least_disturbed([quiet_failing, busy_clean, busier_failing]) is busy_clean
    assert least_disturbed([busier_failing, quiet_failing]) is quiet_failing


def test_a_phase_in_the_results_file_counts_its_failed_calls_as_slowest() -> None:
    """The per-phase p50/p99 of the results file were the answered calls' alone, where the verdicts rank failed
    calls slowest: a phase whose slowest 2 % failed showed a p99 of its fast answers. The phase's figures now count
    them as the verdicts do (null when the rank falls among the failures); the answered calls' p99 is kept, named."""
    clean = phase("hit", 1_000, 1.0, (0.002,) * 99 + (0.014,), mode="open")
    assert clean.summary()["p99_ms"] == clean.summary()["answered_p99_ms"]
    failing = phase("hit", 1_000, 1.0, (0.002,) * 99 + (0.014,), mode="open")
    failing.result.errors["DEADLINE_EXCEEDED"] = 3  # 3 of 103 counted calls: the p99's rank is among them
    summary = failing.summary()
    assert summary["p99_ms"] is None and summary["answered_p99_ms"] is not None
    assert summary["p50_ms"] is not None and summary["p50_ms"] < 3
