"""Where a paced call's latency goes: the generator's view against the edge's and the query process's.

    python -m loadtest.breakdown [--phase hit|miss] [--rate CALLS_PER_S] [--seconds 10] [--env NAME=VALUE ...]
                                 [--variant direct] [--variant NAME=VALUE[,NAME=VALUE]] [--repeat N]

starts the platform as the benchmark does (Prometheus metrics on, one port per process), loads it with the
benchmark's generator in open loop at ``--rate`` (the p99 phases' regime), and prints, for the same window:

- the generator's latency from each call's due time and from when it was sent (p50, p90, p99);
- Envoy's ``downstream_rq_time`` (the whole call as the edge sees it) and the query cluster's
  ``upstream_rq_time`` (from the request leaving Envoy to the reply's end arriving), from Envoy's admin
  ``/stats`` over its last flush interval (5 s);
- the query process's own handler time (``govshare_rpc_duration_seconds``, from the server interceptor's
  start to the reply being handed to grpc), the part of it spent waiting for the audit record to be durable
  (``govshare_audit_wait_seconds``) and the audit batch sizes, as histogram deltas over the window;
- CPU per call by process and the cores busy (the benchmark's accounting).

The gaps between these layers say which stage waits: generator → edge (the client's own lateness and the
downstream connection), edge → query (Envoy's upstream connection, grpc core and the poller thread handing
the call to the event loop), and the handler itself (token, decision, record, audit wait). ``--env`` passes
settings to every platform process (``--env GOVSHARE_AUDIT_LINGER_MS=0``), to compare one change at a time;
each ``--variant`` runs in turns with the base on a platform of its own. The variant ``direct`` sends the same
calls, with the same token, straight to the query process instead of through Envoy (every backend verifies
the token itself), which prices the edge hop in latency as the benchmark prices it in CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from loadtest import workloads
from loadtest.bench import DEFAULT_PERSONS, _prime, cold_requests, hot_requests
from loadtest.phases import LoadOptions, PhaseResult, Target, run_phase
from loadtest.platform import Platform
from services.arguments import non_negative, positive
from services.launcher import OFFSETS, free_port_base

ENVOY_HISTOGRAMS = ("http.edge.downstream_rq_time", "cluster.query.upstream_rq_time")
QUANTILES = (50.0, 90.0, 99.0, 100.0)
DIRECT = "direct"


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as reply:
        return reply.read().decode()


def envoy_quantiles(admin: str) -> dict[str, dict[float, float]]:
    """The interval quantiles (ms) of the edge's histograms over Envoy's last stats flush."""
    data = json.loads(_get(f"http://{admin}/stats?format=json&filter=rq_time$"))
    found: dict[str, dict[float, float]] = {}
    for entry in data.get("stats", []):
        histograms = entry.get("histograms")
        if not isinstance(histograms, dict):
            continue
        supported = histograms.get("supported_quantiles", [])
        for computed in histograms.get("computed_quantiles", []):
            if computed["name"] in ENVOY_HISTOGRAMS:
                values = [value.get("interval") for value in computed["values"]]
                found[computed["name"]] = {q: v for q, v in zip(supported, values, strict=True)
                                           if q in QUANTILES and v is not None}
    return found


def prometheus_histograms(url: str, names: tuple[str, ...], by: str = "") -> dict[str, dict[float, float]]:
    """Cumulative bucket counts (``le`` → count) of the named histograms, summed over their label sets (or
    apart by the label ``by``, keyed ``name:value``)."""
    buckets: dict[str, dict[float, float]] = {name: {} for name in names}
    for line in _get(url).splitlines():
        for name in names:
            if line.startswith(f"{name}_bucket{{"):
                labels, _, value = line.rpartition(" ")
                upper = labels.split('le="', 1)[1].split('"', 1)[0]
                bound = float("inf") if upper == "+Inf" else float(upper)
                key = name
                marker = by + '="'
                if by and marker in labels:
                    key = name + ":" + labels.split(marker, 1)[1].split('"', 1)[0]
                buckets.setdefault(key, {})
                buckets[key][bound] = buckets[key].get(bound, 0.0) + float(value)
    return buckets


def bucket_quantile(before: Mapping[float, float], after: Mapping[float, float], quantile: float) -> str:
    """The bucket holding ``quantile`` of the observations between two snapshots ("≤ bound")."""
    deltas = sorted((bound, after[bound] - before.get(bound, 0.0)) for bound in after)
    total = deltas[-1][1] if deltas else 0.0
    if total <= 0:
        return "-"
    for bound, count in deltas:
        if count >= total * quantile / 100:
            return f"≤{bound * 1e3:g}" if bound != float("inf") else ">max"
    return ">max"


def _count_over(before: Mapping[float, float], after: Mapping[float, float], bound: float) -> float:
    """Observations above ``bound`` (a bucket bound) in the window."""
    total = after.get(float("inf"), 0.0) - before.get(float("inf"), 0.0)
    return total - (after.get(bound, 0.0) - before.get(bound, 0.0))


def bucket_mean(before: Mapping[float, float], after: Mapping[float, float], sums: tuple[float, float]) -> float:
    count = after.get(float("inf"), 0.0) - before.get(float("inf"), 0.0)
    return (sums[1] - sums[0]) / count if count else 0.0


def prometheus_sum(url: str, name: str) -> float:
    total = 0.0
    for line in _get(url).splitlines():
        if line.startswith(f"{name}_sum"):
            total += float(line.rpartition(" ")[2])
    return total


async def sample_envoy(admin: str, every: float, until: float, into: list[dict[str, dict[float, float]]]) -> None:
    loop = asyncio.get_running_loop()
    while loop.time() < until:
        await asyncio.sleep(every)
        into.append(await asyncio.to_thread(envoy_quantiles, admin))


def _line(label: str, values: Mapping[float, object]) -> str:
    return f"  {label:<44}" + "  ".join(f"p{q:g} {values.get(q, '-')!s:>8}" for q in QUANTILES)


async def run(args: argparse.Namespace) -> None:
    """Each configuration (the base, then each ``--variant`` on top of it) on a platform of its own, in turns,
    ``--repeat`` rounds: A/B/A/B on one shared data directory, so the machine's drift falls on both alike."""
    work = Path(tempfile.mkdtemp(prefix="gsbreak-"))
    base = dict(pair.split("=", 1) for pair in args.env)
    configurations = [("base", base)] + [(variant, {**base, **_settings(variant)}) for variant in args.variant]
    summary: list[str] = []
    try:
        for attempt in range(args.repeat):
            for label, environment in configurations:
                summary.append(await measure_once(args, work, label, environment, attempt))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print("\nconfiguration              gen p50 / p99 ms   envoy upstream p50 ms   handler mean   batch   "
          "CPU ms/call   cores others")
    print("\n".join(summary))


def _settings(variant: str) -> dict[str, str]:
    """A variant's settings: ``NAME=VALUE`` pairs, and ``direct`` (kept as a marker, not passed on)."""
    settings: dict[str, str] = {}
    for part in filter(None, (piece.strip() for piece in variant.split(","))):
        name, equals, value = part.partition("=")
        if not equals and name != DIRECT:
            raise SystemExit(f"--variant: {part!r} is neither NAME=VALUE nor {DIRECT!r}")
        settings[name] = value if equals else "1"
    return settings


async def measure_once(args: argparse.Namespace, work: Path, label: str, extra: dict[str, str], attempt: int) -> str:
    metrics_base = free_port_base(start=26000)
    direct = extra.get(DIRECT) == "1"
    environment = {"GOVSHARE_METRICS_PORT": str(metrics_base),
                   **{name: value for name, value in extra.items() if name != DIRECT}}
    platform = Platform(work / "platform", persons=args.persons, extra_environment=environment)
    query_metrics = f"http://127.0.0.1:{metrics_base + OFFSETS['query']}/metrics"
    try:
        await platform.start(wait_seconds=3600)
        assert platform.credentials is not None
        persons, seed = platform.credentials.persons, platform.credentials.seed
        metadata = await platform.bearer("social")
        address = f"127.0.0.1:{platform.port_base + OFFSETS['query']}" if direct else platform.gateway
        if args.phase == "hit":
            requests = hot_requests(persons, seed)
            await _prime(platform, metadata, requests, workloads.QUERY_METHOD)
            target = Target("hit", address, workloads.QUERY_METHOD, requests, platform.process_group(),
                            metadata)
        else:
            requests = cold_requests(persons, seed, persons)
            target = Target("miss", address, workloads.QUERY_METHOD, requests, platform.process_group(),
                            metadata, prepare=lambda: platform.flush_record_cache("population"))
        options = LoadOptions(duration=args.seconds, warmup=args.warmup, work_dir=work)
        admin = f"127.0.0.1:{platform.port_base + 8}"
        names = ("govshare_rpc_duration_seconds", "govshare_audit_batch_size", "govshare_audit_wait_seconds",
                 "govshare_event_loop_lag_seconds")
        before = await asyncio.to_thread(prometheus_histograms, query_metrics, names)
        sums_before = [await asyncio.to_thread(prometheus_sum, query_metrics, name) for name in names]
        samples: list[dict[str, dict[float, float]]] = []
        loop = asyncio.get_running_loop()
        start = loop.time() + options.spawn_lead + options.warmup
        sampler = asyncio.ensure_future(sample_envoy(admin, 5.0, start + args.seconds, samples))
        phase: PhaseResult = await run_phase(target, options, "open", rate=args.rate)
        sampler.cancel()
        after = await asyncio.to_thread(prometheus_histograms, query_metrics, names)
        sums_after = [await asyncio.to_thread(prometheus_sum, query_metrics, name) for name in names]
        return report(label, attempt, args, phase, samples, before, after, sums_before, sums_after)
    finally:
        await platform.stop()


Histograms = dict[str, dict[float, float]]


def report(label: str, attempt: int, args: argparse.Namespace, phase: PhaseResult, samples: list[Histograms],
           before: Histograms, after: Histograms, sums_before: list[float], sums_after: list[float]) -> str:
    """Prints one run's breakdown; returns its line of the summary."""
    result = phase.result
    calls = max(1, result.ok)
    print(f"\n== {args.phase} at {args.rate:,.0f}/s, {label}, round {attempt + 1}: "
          f"{result.ok} ok, errors {dict(result.errors)}, {result.throughput:,.0f}/s", flush=True)
    print(_line("generator, from due time (ms)", {q: f"{result.latency.percentile(q) * 1e3:.2f}" for q in QUANTILES}))
    print(_line("generator, from send (ms)", {q: f"{result.sent_latency.percentile(q) * 1e3:.2f}"
                                              for q in QUANTILES}))
    for index, sample in enumerate(samples):
        for name in ENVOY_HISTOGRAMS:
            if name in sample:
                print(_line(f"envoy {name.split('.', 2)[-1]} [{index}] (ms)",
                            {q: f"{v:.2f}" for q, v in sample[name].items()}))
    rpc = "govshare_rpc_duration_seconds"
    print(_line("query handler, bucket (ms)", {q: bucket_quantile(before[rpc], after[rpc], q) for q in QUANTILES})
          + f"  mean {bucket_mean(before[rpc], after[rpc], (sums_before[0], sums_after[0])) * 1e3:.2f}")
    batch = "govshare_audit_batch_size"
    mean = bucket_mean(before[batch], after[batch], (sums_before[1], sums_after[1]))
    print(f"  audit batch size: mean {mean:.2f}, p50 {bucket_quantile(before[batch], after[batch], 50)}, "
          f"p90 {bucket_quantile(before[batch], after[batch], 90)} (bucket bounds ×1000)")
    window = result.window
    print(f"  CPU ms/call {phase.cpu_seconds / calls * 1e3:.3f}: "
          + ", ".join(f"{label} {seconds / calls * 1e3:.3f}" for label, seconds in sorted(phase.cpu_by_label.items()))
          + f"; cores: target {phase.cpu_seconds / window:.2f}, generator {phase.generator_cpu_seconds / window:.2f}, "
          f"others {phase.foreign_cpu_seconds / window:.2f}", flush=True)
    wait = "govshare_audit_wait_seconds"
    print(_line("query audit wait, bucket (ms)", {q: bucket_quantile(before[wait], after[wait], q) for q in QUANTILES})
          + f"  mean {bucket_mean(before[wait], after[wait], (sums_before[2], sums_after[2])) * 1e3:.2f}")
    lag = "govshare_event_loop_lag_seconds"
    print(_line("query event-loop lag, bucket (ms)", {q: bucket_quantile(before[lag], after[lag], q)
                                                       for q in QUANTILES})
          + f"  samples over 10 ms: {_count_over(before[lag], after[lag], 0.01):.0f}")
    upstream = [sample[ENVOY_HISTOGRAMS[1]].get(50.0, 0.0) for sample in samples if ENVOY_HISTOGRAMS[1] in sample]
    handler = bucket_mean(before[rpc], after[rpc], (sums_before[0], sums_after[0])) * 1e3
    return (f"{label[-26:]:<26} {result.latency.percentile(50) * 1e3:8.2f} / {result.latency.percentile(99) * 1e3:7.2f}"
            f"   {'/'.join(f'{u:.1f}' for u in upstream):>20}   {handler:10.2f}   {mean:5.2f}   "
            f"{phase.cpu_seconds / calls * 1e3:10.3f}   {phase.foreign_cpu_seconds / window:6.2f}"
            f"{'  errors ' + str(dict(result.errors)) if result.errors else ''}")


def _setting(text: str) -> str:
    """An ``--env`` pair, checked before any platform starts (a pair without '=' was a ValueError traceback)."""
    name, equals, _value = text.partition("=")
    if not equals or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return text


def _variant(text: str) -> str:
    """A ``--variant``, checked as argparse checks any argument (a usage error, exit 2)."""
    try:
        _settings(text)
    except SystemExit as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--variant: ")) from None
    return text


def build_parser() -> argparse.ArgumentParser:
    """The options, each number checked before the platform starts: a --rate of 0 or below started it, seeded it
    and then failed in the generator ('open loop needs a positive rate'); --seconds or --repeat 0 measured
    nothing and printed an empty table."""
    parser = argparse.ArgumentParser(prog="python -m loadtest.breakdown", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phase", choices=["hit", "miss"], default="hit")
    parser.add_argument("--rate", type=positive(float), default=1700.0)
    parser.add_argument("--seconds", type=positive(float), default=10.0)
    parser.add_argument("--warmup", type=non_negative(float), default=2.0)
    parser.add_argument("--repeat", type=positive(int), default=1)
    parser.add_argument("--persons", type=positive(int), default=DEFAULT_PERSONS)
    parser.add_argument("--env", type=_setting, action="append", default=[],
                        help="NAME=VALUE for every platform process")
    parser.add_argument("--variant", type=_variant, action="append", default=[],
                        help="NAME=VALUE[,NAME=VALUE]: a configuration run in turns with the base")
    parser.add_argument("--keep", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> None:
    asyncio.run(run(build_parser().parse_args(argv)))

if __name__ == "__main__":
    main()
