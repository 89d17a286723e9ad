"""Benchmark: the access log at scale (issue 13; docs/capacity.md).

    python -m loadtest.audit_bench --rows 1000000      # embedded PostgreSQL in a temporary directory
    GOVSHARE_DATABASE_URL=postgresql://… python -m loadtest.audit_bench --rows 10000000

Bulk-inserts ``--rows`` audit rows spread over 12 months (loadtest/supervision_rows.py, COPY, every index of
migration 008 in place) into a fresh database, then times, in process against PostgreSQL (no gRPC, no edge):

* listing pages (50 records) newest first: unfiltered, by provider, resource, using department, and filters that
  match nothing — p50 and p95 over ``--samples`` calls each;
* GetUsageSummary's computation (services/query/figures.usage_summary) for a month and a year, the authority's
  and a provider's, once every settled day is rolled up (the roll-up of the 12 months is timed apart);
* the incremental verification of one checkpoint interval (``--interval`` records of a real hash chain, signed
  at both ends): one VerifyAuditChain page resumed from the first checkpoint;
* archiving the oldest month: signed file written, verified offline, partition dropped.

Prints one JSON object, with per-row figures (load µs per row, bytes per row) that extrapolate to 10^9 rows.
Run it alone on the machine: it measures the database, not a contended CPU.

    python -m loadtest.audit_bench --edge --rows 1000000

``--edge`` instead starts the platform (``govshare up``, loadtest/platform.py, in a temporary data directory),
bulk-inserts the rows into its access log (and a day's share of them into today, up to now), rolls up the
settled days, and times ListAccesses pages and GetUsageSummary through the edge (Envoy, the gateway port) with
the authority's real bearer token, one call at a time, as a client sees them.

    python -m loadtest.audit_bench --edge --rows 10000000 --data-dir /tmp/gsaudit10m

``--data-dir`` keeps the platform's data directory: a second run on it (the same day) skips the load and the
roll-up and times the calls again — the same rows for a before/after comparison (10^7 rows take ~9 minutes to
load). The directory is not removed: delete it when done (19 GB at 10^7 rows).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import grpc
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.protobuf import timestamp_pb2

from govshare.query.v1 import audit_pb2, audit_pb2_grpc
from loadtest.platform import Platform
from loadtest.stats import nearest_rank
from loadtest.supervision_rows import Shape, department_code, insert, rows
from services.arguments import positive
from services.query import archive, figures, verifications
from services.query.audit import COLUMNS, GENESIS, RECORD_FORMAT, chain_hash
from services.query.checkpoints import ChainAuditor, CheckpointSigner, CheckpointVerifier, Head, with_held
from services.query.store import AccessFilter, QueryStore
from services.runtime import db
from services.runtime.embedded import EmbeddedServers, create_database

CST = figures.CST


def _ms(samples: list[float]) -> dict[str, float]:
    return {"p50_ms": round(statistics.median(samples) * 1000, 2),
            "p95_ms": round(nearest_rank(samples, 0.95) * 1000, 2)}


async def _timed(work) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    began = time.perf_counter()
    result = await work
    return time.perf_counter() - began, result


async def _sampled(make, samples: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(samples):
        elapsed, _ = await _timed(make())
        times.append(elapsed)
    return _ms(times)


_HASH = COLUMNS.index("hash")


def _real_chain(count: int, start: dt.datetime, chain_id: str) -> list[tuple]:
    """``count`` rows of one real hash chain, a second apart, as the writer makes them."""
    out, head = [], GENESIS
    for seq in range(1, count + 1):
        values = (uuid.uuid4().hex, chain_id, seq, start + dt.timedelta(seconds=seq), "sys-bench0000",
                  department_code(100), "300000/000001", department_code(100), "Query", ["name"], f"key-{seq}", [],
                  "ADMINISTRATIVE_BASIS", "", "ANSWERED", "", "")
        grant = (RECORD_FORMAT, "")
        digest = chain_hash(head, (*values, *grant))
        out.append((*values, head, digest, *grant))
        head = digest
    return out


async def run(admin_url: str, count: int, interval: int, samples: int, archive_dir: Path) -> dict[str, object]:
    url = await create_database(admin_url, f"govshare_audit_{uuid.uuid4().hex[:8]}")
    await db.migrate_all(url)
    now = dt.datetime.now(CST)
    end = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    start = (end - dt.timedelta(days=365)).replace(day=1)
    result: dict[str, object] = {"rows": count, "from": start.date().isoformat(), "to": end.date().isoformat(),
                                 "cpus": os.cpu_count()}
    conn = await asyncpg.connect(url)
    try:
        began = time.perf_counter()
        written = await insert(conn, rows(count, start, end, Shape()))
        loaded = time.perf_counter() - began
        await conn.execute("ANALYZE query.access_log")
        size = await conn.fetchval("SELECT pg_total_relation_size('query.access_log') + coalesce((SELECT sum("
                                   "pg_total_relation_size(inhrelid)) FROM pg_inherits WHERE inhparent ="
                                   " 'query.access_log'::regclass), 0)")
    finally:
        await conn.close()
    size = int(size)
    result.update(load_seconds=round(loaded, 1), load_us_per_row=round(loaded / written * 1e6, 1),
                  bytes_per_row=round(size / written), access_log_bytes=size)
    pool = await db.create_pool(url, "query")
    store = QueryStore(pool)
    key = Ed25519PrivateKey.generate()
    signer = CheckpointSigner(key)
    try:
        provider, department, resource = department_code(100), department_code(101), "300000/000001"
        filters = {
            "none": AccessFilter(),
            "provider": AccessFilter(provider=provider),
            "resource": AccessFilter(resource_code=resource),
            "department": AccessFilter(department_code=department),
            "no_match_department": AccessFilter(department_code="NO-SUCH-DEPARTMENT"),
            "provider_no_match_resource": AccessFilter(provider=provider, resource_code="399999/000001"),
            "provider_department_last_month": AccessFilter(provider=provider, department_code=department,
                                                           start=end - dt.timedelta(days=31), end=end),
        }
        result["list_page_50"] = {name: await _sampled(lambda f=f: store.list_accesses(f, None, 51), samples)
                                  for name, f in filters.items()}
        days = [(start + dt.timedelta(days=n)) for n in range((end - start).days)]
        rolled, _ = await _timed(store.roll_up_days([(d.date(), d, d + dt.timedelta(days=1)) for d in days]))
        result["roll_up_12_months_seconds"] = round(rolled, 1)
        month = AccessFilter(start=end - dt.timedelta(days=30), end=end)
        year = AccessFilter(start=start, end=end)
        later = end + dt.timedelta(days=1)
        result["usage_summary"] = {
            "authority_month": await _sampled(lambda: figures.usage_summary(store, month, later), samples),
            "authority_year": await _sampled(lambda: figures.usage_summary(store, year, later), samples),
            "provider_year": await _sampled(lambda: figures.usage_summary(
                store, AccessFilter(provider=provider, start=start, end=end), later), samples),
        }
        # The day in progress: a day's share of the year's rows (count / 365) from this morning's midnight to now,
        # then summaries ending now (the day so far, and the year to now), as GetUsageSummary asks them.
        today = dt.datetime.now(CST).replace(hour=0, minute=0, second=0, microsecond=0)
        now_utc = dt.datetime.now(dt.UTC)
        conn = await asyncpg.connect(url, server_settings={"search_path": "query"})
        try:
            for month_of in {today.date().replace(day=1), end.date()}:
                await conn.fetchval("SELECT access_log_partition($1)", month_of)
            day_rows = await insert(conn, rows(max(1, count // 365), today, now_utc, Shape(), seed=11))
            await conn.execute("ANALYZE access_log")
        finally:
            await conn.close()
        so_far = AccessFilter(start=today)
        year_to_now = AccessFilter(start=start)
        first_call, _ = await _timed(figures.usage_summary(store, so_far, dt.datetime.now(dt.UTC)))
        result["usage_summary"].update({  # type: ignore[union-attr]
            "today_rows": day_rows,
            "authority_today_first_call_ms": round(first_call * 1000, 1),
            "authority_today": await _sampled(
                lambda: figures.usage_summary(store, so_far, dt.datetime.now(dt.UTC)), samples),
            "authority_year_to_now": await _sampled(
                lambda: figures.usage_summary(store, year_to_now, dt.datetime.now(dt.UTC)), samples),
        })
        # One checkpoint interval of a real chain, verified from the checkpoint before it.
        chain_id = "f" * 32
        chain = _real_chain(2 * interval, end - dt.timedelta(days=2), chain_id)
        await store.insert_accesses(chain)
        await store.release_audit_connection()
        signed = [signer.sign(Head(chain_id, seq, chain[seq - 1][_HASH]), now, False)
                  for seq in (interval, 2 * interval)]
        await store.insert_checkpoints(signed)
        auditor = ChainAuditor(CheckpointVerifier([key.public_key()]), resumable={(chain_id, interval)})
        verified, stopped = await _timed(verifications.verify_page(
            auditor, with_held(store.chain_entries(after=(chain_id, interval)), []), interval,
            CheckpointVerifier([key.public_key()])))
        (report,) = [r for r in auditor.finish() if r.chain_id == chain_id]
        result["verify_one_interval"] = {"records": report.records, "state": report.state,
                                         "seconds": round(verified, 3), "stopped_at": list(stopped or ())}
        # Archive the oldest month, verify its file offline, drop it.
        oldest = (await store.partitions())[0]
        archived, written_file = await _timed(archive.archive_partition(store, signer, key, oldest, archive_dir,
                                                                        dt.datetime.now(dt.UTC)))
        began = time.perf_counter()
        with written_file.path.open("rb") as lines:
            checked, problems = archive.verify_file(lines, [key.public_key()])
        offline = time.perf_counter() - began
        result["archive_month"] = {"partition": oldest, "records": written_file.rows,
                                   "archive_and_drop_seconds": round(archived, 1),
                                   "file_bytes": written_file.path.stat().st_size,
                                   "verify_offline_seconds": round(offline, 1), "verified": checked,
                                   # The bulk rows carry random hashes (loadtest/supervision_rows.py), so every
                                   # record is a chain problem; the file's own (signature, digest) must be none.
                                   "record_problems": sum(p.startswith("line ") for p in problems),
                                   "file_problems": [p for p in problems if not p.startswith("line ")],
                                   "still_listed": oldest in await store.partitions()}
    finally:
        await pool.close()
    return result


def _range(start: dt.datetime | None, end: dt.datetime | None = None) -> dict[str, object]:
    """The request fields of a time range."""
    fields: dict[str, object] = {}
    for name, value in (("start_time", start), ("end_time", end)):
        if value is not None:
            stamp = timestamp_pb2.Timestamp()
            stamp.FromDatetime(value.astimezone(dt.UTC))
            fields[name] = stamp
    return fields


#: The record of a finished load in a kept data directory (--data-dir): rows, and the day they were loaded.
LOADED_MARKER = "audit-bench-loaded.json"


async def run_edge(count: int, samples: int, data_dir: Path) -> dict[str, object]:
    """ListAccesses and GetUsageSummary through the edge of a real platform holding ``count`` rows."""
    now = dt.datetime.now(CST)
    end = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    start = (end - dt.timedelta(days=365)).replace(day=1)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    platform = await Platform(data_dir, persons=1000).start()
    result: dict[str, object] = {"rows": count, "through": "edge", "cpus": os.cpu_count()}
    marker = data_dir / LOADED_MARKER
    loaded = json.loads(marker.read_text(encoding="utf-8")) if marker.exists() else {}
    try:
        if loaded.get("rows") == count and loaded.get("day") == today.date().isoformat():
            result.update(loaded, reused=True)
        else:
            await _load_edge(platform, count, start, end, today, result)
            marker.write_text(json.dumps({key: result[key] for key in (
                "rows", "today_rows", "load_seconds", "roll_up_days_seconds")} | {"day": today.date().isoformat()}),
                encoding="utf-8")
        await _call_edge(platform, samples, start, end, today, result)
    finally:
        await platform.stop()
    return result


async def _load_edge(platform: Platform, count: int, start: dt.datetime, end: dt.datetime, today: dt.datetime,
                     result: dict[str, object]) -> None:
    """Bulk-inserts the rows into the platform's access log and rolls up the settled days."""
    conn = await asyncpg.connect(platform.database_url)
    try:
        began = time.perf_counter()
        written = await insert(conn, rows(count, start, end, Shape()))
        written_today = await insert(conn, rows(max(1, count // 365), today, dt.datetime.now(dt.UTC), Shape(),
                                                seed=11))
        result["load_seconds"] = round(time.perf_counter() - began, 1)
        await conn.execute("ANALYZE query.access_log")
    finally:
        await conn.close()
    result.update(rows=written, today_rows=written_today)
    pool = await db.create_pool(platform.database_url, "query")
    try:
        store = QueryStore(pool)
        days = [(start + dt.timedelta(days=n)) for n in range((today - start).days)]
        rolled, _ = await _timed(store.roll_up_days([(d.date(), d, d + dt.timedelta(days=1)) for d in days]))
        result["roll_up_days_seconds"] = round(rolled, 1)
    finally:
        await pool.close()


async def _call_edge(platform: Platform, samples: int, start: dt.datetime, end: dt.datetime, today: dt.datetime,
                     result: dict[str, object]) -> None:
    """Times the listings and summaries through the edge."""
    metadata = await platform.bearer("authority")
    department, resource = department_code(101), "300000/000001"
    async with grpc.aio.insecure_channel(platform.gateway) as channel:
        stub = audit_pb2_grpc.AuditServiceStub(channel)

        def listing(**fields: object):  # type: ignore[no-untyped-def]
            return lambda: stub.ListAccesses(audit_pb2.ListAccessesRequest(page_size=50, **fields),
                                             metadata=metadata, timeout=60)

        def summary(**fields: object):  # type: ignore[no-untyped-def]
            return lambda: stub.GetUsageSummary(audit_pb2.GetUsageSummaryRequest(**fields), metadata=metadata,
                                                timeout=60)

        calls = {
            "list_page_50": {
                "none": listing(),
                "resource": listing(resource_code=resource),
                "department": listing(department_code=department),
                "no_match_department": listing(department_code="NO-SUCH-DEPARTMENT"),
                "department_last_month": listing(department_code=department,
                                                 **_range(end - dt.timedelta(days=31), end)),
            },
            "usage_summary": {
                "authority_month": summary(**_range(end - dt.timedelta(days=30), end)),
                "authority_year": summary(**_range(start, end)),
                "authority_today": summary(**_range(today)),
                "authority_year_to_now": summary(**_range(start)),
                # Whole months, then the 16 days of a partial month (the daily usage sums), then today's hours:
                # what a year ending now reads late in a month, whatever day the benchmark runs.
                "authority_year_from_mid_month_to_now": summary(**_range(start + dt.timedelta(days=15))),
                "resource_year_to_now": summary(resource_code=resource, **_range(start)),
            },
        }
        for group, made in calls.items():
            for make in made.values():
                await make()  # the first call of each rolls up what it needs (hours, months): not sampled
            result[group] = {name: await _sampled(make, samples) for name, make in made.items()}
        result["usage_summary_rows_year"] = len((await calls["usage_summary"]["authority_year"]()).rows)


def build_parser() -> argparse.ArgumentParser:
    """Numbers that would measure nothing are refused here, before PostgreSQL starts and the rows load (minutes):
    0 rows divided the per-row figures by zero, 0 samples took the median of nothing, an interval of 0 had no record
    to sign a checkpoint at, each a traceback after the load."""
    parser = argparse.ArgumentParser(prog="python -m loadtest.audit_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=positive(int), default=1_000_000)
    parser.add_argument("--interval", type=positive(int), default=2_000, help="records in one checkpoint interval")
    parser.add_argument("--samples", type=positive(int), default=40)
    parser.add_argument("--edge", action="store_true", help="through the edge of a real `govshare up`")
    parser.add_argument("--data-dir", type=Path, help="with --edge: keep (or reuse) the platform's data directory")
    return parser


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.data_dir is not None and not args.edge:  # it was ignored: the rows went to a temporary directory
        parser.error("--data-dir keeps the platform of --edge; without --edge the rows go to a temporary database "
                     "(or GOVSHARE_DATABASE_URL's)")
    return args


def main() -> None:
    args = parse_arguments()
    external = os.environ.get("GOVSHARE_DATABASE_URL", "")
    with tempfile.TemporaryDirectory(prefix="govshare-audit-bench-") as tmp:
        if args.edge:
            print(json.dumps(asyncio.run(run_edge(args.rows, args.samples, args.data_dir or Path(tmp) / "platform"))))
            return
        if external:
            print(json.dumps(asyncio.run(run(external, args.rows, args.interval, args.samples, Path(tmp)))))
            return
        servers = EmbeddedServers(Path(tmp) / "servers").start(redis=False)
        try:
            print(json.dumps(asyncio.run(run(servers.database_url, args.rows, args.interval, args.samples,
                                             Path(tmp) / "archive"))))
        finally:
            servers.stop()


if __name__ == "__main__":
    main()
