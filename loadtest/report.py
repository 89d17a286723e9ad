"""The benchmark's verdict: a table, the ratios to the bare hop and to the hand-built peer, and each target met
or not."""

from __future__ import annotations

import math
import os
import statistics
from dataclasses import dataclass

from loadtest.phases import PhaseResult

HIT_SHARE_TARGET = 0.50
MISS_SHARE_TARGET = 0.33
P99_TARGET_MS = 15.0
BATCH_RECORDS_TARGET = 30_000.0
REVOCATION_TARGET_SECONDS = 1.0
SCALE_P50_TARGET = 1.25
# Issue 9: against the service a department would hand-build (loadtest.peer), measured in the same run.
HIT_PEER_SHARE_TARGET = 0.70
HIT_PEER_CPU_TARGET = 1.5
MISS_PEER_SHARE_TARGET = 0.45
P99_PEER_TARGET = 2.0


@dataclass
class Measurement:
    """A target's closed-loop (maximum rate, CPU) and open-loop (latency at 70% of it) phases."""

    label: str
    closed: PhaseResult
    open: PhaseResult | None = None

    @property
    def max_rate(self) -> float:
        return self.closed.throughput

    @property
    def p50_ms(self) -> float:
        """Median latency at 70% of the maximum rate (closed-loop latencies only measure the queue it keeps)."""
        return self._open_percentile(50)

    @property
    def p99_ms(self) -> float:
        return self._open_percentile(99)

    @property
    def p99_sent_ms(self) -> float:
        """The p99 of the same calls timed from when they were sent, not due: what is left without the
        generator's own lateness (the verdict uses ``p99_ms``)."""
        return self._open_percentile(99, sent=True)

    def _open_percentile(self, p: float, sent: bool = False) -> float:
        """The open loop's percentile over every call counted in its window, the failed ones (no answer: an
        error status or the deadline) ranked slowest: infinite when the percentile falls among them. The
        latencies of the answered calls alone would pass a server that fails its slowest calls."""
        if self.open is None:
            return math.nan
        result = self.open.result
        failed = sum(result.errors.values())
        if not result.latency.count and not failed:
            return math.nan
        histogram = result.sent_latency if sent else result.latency
        return histogram.percentile(p, unanswered=failed) * 1e3

    @property
    def open_failures(self) -> str:
        """The open loop's failed calls, said beside a percentile they count in ('' when none failed)."""
        if self.open is None or not self.open.result.errors:
            return ""
        result = self.open.result
        failed = sum(result.errors.values())
        codes = ", ".join(f"{code} {count:,}" for code, count in result.errors.most_common())
        return f"{failed:,} of {failed + result.ok:,} calls failed ({codes}), counted as slowest"

    @property
    def cpu_per_call_ms(self) -> float:
        return self.closed.cpu_per_call * 1e3

    @property
    def generator_cpu_per_call_ms(self) -> float:
        calls = self.closed.result.ok
        return self.closed.generator_cpu_seconds * 1e3 / calls if calls else math.nan

    @property
    def foreign_share(self) -> float:
        """How much of the machine unrelated processes took while the maximum rate was measured."""
        capacity = self.closed.result.window * (os.cpu_count() or 1)
        return self.closed.foreign_cpu_seconds / capacity if capacity else 0.0

    def summary(self) -> dict[str, object]:
        return {"label": self.label, "max_rate": self.max_rate, "p50_ms": finite(self.p50_ms),
                "p99_ms": finite(self.p99_ms), "p99_sent_ms": finite(self.p99_sent_ms),
                "cpu_per_call_ms": finite(self.cpu_per_call_ms),
                "records_per_second": self.closed.records_per_second,
                "closed": self.closed.summary(), "open": self.open.summary() if self.open else None}


@dataclass
class Check:
    """One target of the issue: what was measured against what was asked (passed None: not measured)."""

    name: str
    measured: float | None
    threshold: float
    unit: str
    at_most: bool = False
    #: With ``--rounds``: each round's figure, of which ``measured`` is the median.
    per_round: tuple[float | None, ...] = ()
    #: What the figure should be read with (e.g. the open loop's failed calls a p99 counts).
    note: str = ""

    @property
    def passed(self) -> bool | None:
        if self.measured is None or math.isnan(self.measured):
            return None
        return self.measured <= self.threshold if self.at_most else self.measured >= self.threshold

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "FAIL", None: "n/a"}[self.passed]

    def summary(self) -> dict[str, object]:
        return {"name": self.name, "measured": self.measured, "threshold": self.threshold, "unit": self.unit,
                "at_most": self.at_most, "verdict": self.verdict, "per_round": list(self.per_round),
                "note": self.note}


def finite(value: float) -> float | None:
    """JSON has no NaN: an unmeasured figure is null."""
    return None if math.isnan(value) else value


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan


def checks(measurements: dict[str, Measurement], revocation_seconds: float | None = None,
           revocation_measured: bool = False, scale_p50_ratio: float | None = None) -> list[Check]:
    """The issue's targets, each against what this run measured."""
    echo, hit, miss = measurements.get("echo"), measurements.get("hit"), measurements.get("miss")
    batch, peer = measurements.get("batch"), measurements.get("peer")
    result = [
        Check("Query cache-hit throughput / bare echo", ratio(hit.max_rate, echo.max_rate) if hit and echo
              else None, HIT_SHARE_TARGET, "×"),
        Check("Query cache-miss throughput / bare echo", ratio(miss.max_rate, echo.max_rate) if miss and echo
              else None, MISS_SHARE_TARGET, "×"),
        Check("Query cache-hit p99 at 70% of max rate", hit.p99_ms if hit and hit.open else None, P99_TARGET_MS,
              "ms", at_most=True, note=hit.open_failures if hit else ""),
        Check("Query cache-miss p99 at 70% of max rate", miss.p99_ms if miss and miss.open else None,
              P99_TARGET_MS, "ms", at_most=True, note=miss.open_failures if miss else ""),
        Check("BatchQuery records per second (100 keys/call)", batch.closed.records_per_second if batch else None,
              BATCH_RECORDS_TARGET, "records/s"),
        *peer_checks(hit, miss, peer),
    ]
    if revocation_measured:
        result.append(Check("revocation reaches every query replica, under load",
                            math.inf if revocation_seconds is None else revocation_seconds,
                            REVOCATION_TARGET_SECONDS, "s", at_most=True))
    if scale_p50_ratio is not None:
        result.append(Check("Query p50, large population / demo population", scale_p50_ratio, SCALE_P50_TARGET,
                            "×", at_most=True))
    return result


def median_checks(rounds: list[list[Check]]) -> list[Check]:
    """One verdict per target from several rounds: the median of the rounds that measured it. A p99 ratio on a
    shared machine moves several-fold between runs minutes apart (docs/performance.md); the median of ratios
    each taken within one round is the figure that does not depend on which minute a phase fell in."""
    if len(rounds) == 1:
        return rounds[0]
    combined = []
    for same in zip(*rounds, strict=True):
        values = tuple(check.measured for check in same)
        measured = [value for value in values if value is not None and not math.isnan(value)]
        first = same[0]
        notes = [f"round {number}: {check.note}" for number, check in enumerate(same, start=1) if check.note]
        combined.append(Check(first.name, statistics.median(measured) if measured else None, first.threshold,
                              first.unit, first.at_most, per_round=values, note="; ".join(notes)))
    return combined


def peer_checks(hit: Measurement | None, miss: Measurement | None, peer: Measurement | None) -> list[Check]:
    """Issue 9's targets: the platform against the hand-built peer, each side at its own maximum (throughput,
    CPU per call) or at 70% of it (p99)."""
    def p99_ratio(measurement: Measurement | None) -> float | None:
        if measurement is None or measurement.open is None or peer is None or peer.open is None:
            return None
        if math.isinf(peer.p99_ms):  # the peer's own p99 fell among its failed calls: nothing to compare with
            return math.nan
        return ratio(measurement.p99_ms, peer.p99_ms)

    return [
        Check("Query cache-hit throughput / hand-built peer", ratio(hit.max_rate, peer.max_rate) if hit and peer
              else None, HIT_PEER_SHARE_TARGET, "×"),
        Check("Query cache-hit CPU per call / hand-built peer's", ratio(hit.cpu_per_call_ms, peer.cpu_per_call_ms)
              if hit and peer else None, HIT_PEER_CPU_TARGET, "×", at_most=True),
        Check("Query cache-miss throughput / hand-built peer", ratio(miss.max_rate, peer.max_rate) if miss and peer
              else None, MISS_PEER_SHARE_TARGET, "×"),
        Check("Query cache-hit p99 / hand-built peer's (each at 70% of its max)", p99_ratio(hit), P99_PEER_TARGET,
              "×", at_most=True, note=_failures_of(hit, peer)),
        Check("Query cache-miss p99 / hand-built peer's (each at 70% of its max)", p99_ratio(miss),
              P99_PEER_TARGET, "×", at_most=True, note=_failures_of(miss, peer)),
    ]


def _failures_of(*measurements: Measurement | None) -> str:
    """The open-loop failures of each side of a ratio, named by its label."""
    return "; ".join(f"{measurement.label}: {measurement.open_failures}" for measurement in measurements
                     if measurement is not None and measurement.open_failures)


def _cell(value: float, digits: int = 2) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:,.{digits}f}"


def table(measurements: dict[str, Measurement]) -> str:
    """The figures, one line per target, with the ratios to the bare echo and to the hand-built peer."""
    echo, peer = measurements.get("echo"), measurements.get("peer")
    header = (f"{'':34s} {'max calls/s':>12s} {'records/s':>11s} {'open rate':>10s} {'p50 ms':>8s} {'p99 ms':>8s}"
              f" {'p99 sent':>9s} {'CPU ms/call':>12s} {'rate/bare':>10s} {'CPU/bare':>9s} {'rate/peer':>10s}"
              f" {'CPU/peer':>9s} {'p99/peer':>9s} {'gen ms/call':>12s} {'others':>7s}")
    lines = [header, "-" * len(header)]
    for measurement in measurements.values():
        open_rate = measurement.open.result.target_rate if measurement.open else math.nan
        lines.append(
            f"{measurement.label:34s} {_cell(measurement.max_rate, 0):>12s} "
            f"{_cell(measurement.closed.records_per_second, 0):>11s} {_cell(open_rate, 0):>10s} "
            f"{_cell(measurement.p50_ms):>8s} {_cell(measurement.p99_ms):>8s} {_cell(measurement.p99_sent_ms):>9s} "
            f"{_cell(measurement.cpu_per_call_ms, 3):>12s} "
            f"{_cell(ratio(measurement.max_rate, echo.max_rate) if echo else math.nan):>10s} "
            f"{_cell(ratio(measurement.cpu_per_call_ms, echo.cpu_per_call_ms) if echo else math.nan):>9s} "
            f"{_cell(ratio(measurement.max_rate, peer.max_rate) if peer else math.nan):>10s} "
            f"{_cell(ratio(measurement.cpu_per_call_ms, peer.cpu_per_call_ms) if peer else math.nan):>9s} "
            f"{_cell(ratio(measurement.p99_ms, peer.p99_ms) if peer else math.nan):>9s} "
            f"{_cell(measurement.generator_cpu_per_call_ms, 3):>12s} {measurement.foreign_share:>6.0%}")
    lines.append("(max calls/s and CPU: closed loop; p50/p99: open loop at the open rate, timed from each call's due "
                 "time; p99 sent: the same calls timed from when the generator sent them, the difference being its "
                 "own lateness; peer: the hand-built grpc.aio + asyncpg service; gen: the load generator's own "
                 "CPU; others: share of the machine's CPU used by "
                 "unrelated processes in the closed-loop window)")
    return "\n".join(lines)


def cpu_breakdown(measurements: dict[str, Measurement]) -> str:
    """CPU ms per call by process role: where each call's CPU goes."""
    lines = []
    for measurement in measurements.values():
        calls = measurement.closed.result.ok
        if not calls:
            continue
        parts = sorted(measurement.closed.cpu_by_label.items(), key=lambda item: -item[1])
        shown = ", ".join(f"{label} {seconds * 1e3 / calls:.3f}" for label, seconds in parts if seconds > 0)
        lines.append(f"  {measurement.label:32s} {shown}")
    return "CPU ms per call by process:\n" + "\n".join(lines)


def _cores(phase: PhaseResult, seconds: float) -> float:
    return seconds / phase.result.window if phase.result.window else math.nan


def open_loop_load(measurements: dict[str, Measurement]) -> str:
    """What each open-loop (p99) phase cost, beside its closed-loop maximum: CPU ms per call in both (the
    closed loop's 64 calls in flight share batches, wake-ups and writes that a paced load pays call by call),
    by process, and how many of the machine's cores the target, the generator and unrelated processes used
    while the percentiles were measured. A p99 ratio means little unless both sides ran equally loaded."""
    lines = ["Open loop (the p99 phases): CPU ms per call closed → open, and cores busy in the open window:"]
    for measurement in measurements.values():
        opened, closed = measurement.open, measurement.closed
        if opened is None or not opened.result.ok or not closed.result.ok:
            continue
        calls = opened.result.ok
        growth = ratio(opened.cpu_per_call, closed.cpu_per_call) - 1
        parts = sorted(opened.cpu_by_label.items(), key=lambda item: -item[1])
        shown = ", ".join(f"{label} {seconds * 1e3 / calls:.3f}" for label, seconds in parts
                          if seconds * 1e3 / calls >= 0.001)
        target, generator = _cores(opened, opened.cpu_seconds), _cores(opened, opened.generator_cpu_seconds)
        others = _cores(opened, opened.foreign_cpu_seconds)
        lines.append(
            f"  {measurement.label:32s} {closed.cpu_per_call * 1e3:.3f} → {opened.cpu_per_call * 1e3:.3f} "
            f"({growth:+.0%}); cores: target {target:.2f}, generator {generator:.2f}, others {others:.2f} "
            f"of {os.cpu_count() or 1}; {shown}")
        if opened.wait_by_label:
            lines.append(f"  {'':32s} {_waits(opened)}")
    return "\n".join(lines) if len(lines) > 1 else ""


def _waits(phase: PhaseResult) -> str:
    """The open window's run-queue wait per call: how long the call's hand-offs queued for a core."""
    calls = phase.result.ok
    parts = sorted(phase.wait_by_label.items(), key=lambda item: -item[1])
    shown = ", ".join(f"{label} {seconds * 1e3 / calls:.3f}" for label, seconds in parts
                      if seconds * 1e3 / calls >= 0.001)
    return (f"waiting for a core, ms per call: target {sum(phase.wait_by_label.values()) * 1e3 / calls:.3f} "
            f"({shown}), generator {phase.generator_wait_seconds * 1e3 / calls:.3f}")


def verdicts(results: list[Check]) -> str:
    lines = ["targets:"]
    for check in results:
        comparison = "≤" if check.at_most else "≥"
        measured = "not measured" if check.measured is None else f"{check.measured:,.3f} {check.unit}"
        if check.measured is not None and len(check.per_round) > 1:
            shown = ", ".join("-" if value is None else f"{value:,.3f}" for value in check.per_round)
            measured = f"{measured}, the median of {len(check.per_round)} rounds ({shown})"
        if check.note:
            measured = f"{measured}; {check.note}"
        lines.append(f"  [{check.verdict:4s}] {check.name}: {measured} (target {comparison} "
                     f"{check.threshold:,} {check.unit})")
    return "\n".join(lines)
