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
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from loadtest.supervision_rows import Shape, department_code, insert, rows
from services.query import archive, figures, verifications
from services.query.audit import GENESIS, chain_hash
from services.query.checkpoints import ChainAuditor, CheckpointSigner, CheckpointVerifier, Head, with_held
from services.query.store import AccessFilter, QueryStore
from services.runtime import db
from services.runtime.embedded import EmbeddedServers, create_database

CST = figures.CST


def _ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_ms": round(statistics.median(ordered) * 1000, 2),
            "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000, 2)}


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


def _real_chain(count: int, start: dt.datetime, chain_id: str) -> list[tuple]:
    """``count`` rows of one real hash chain, a second apart, as the writer makes them."""
    out, head = [], GENESIS
    for seq in range(1, count + 1):
        values = (uuid.uuid4().hex, chain_id, seq, start + dt.timedelta(seconds=seq), "sys-bench0000",
                  department_code(100), "300000/000001", department_code(100), "Query", ["name"], f"key-{seq}", [],
                  "ADMINISTRATIVE_BASIS", "", "ANSWERED", "", "")
        digest = chain_hash(head, values)
        out.append((*values, head, digest))
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
        # One checkpoint interval of a real chain, verified from the checkpoint before it.
        chain_id = "f" * 32
        chain = _real_chain(2 * interval, end - dt.timedelta(days=2), chain_id)
        await store.insert_accesses(chain)
        await store.release_audit_connection()
        signed = [signer.sign(Head(chain_id, seq, chain[seq - 1][-1]), now, False) for seq in (interval, 2 * interval)]
        await store.insert_checkpoints(signed)
        auditor = ChainAuditor(CheckpointVerifier([key.public_key()]))
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--interval", type=int, default=2_000, help="records in one checkpoint interval")
    parser.add_argument("--samples", type=int, default=40)
    args = parser.parse_args()
    external = os.environ.get("GOVSHARE_DATABASE_URL", "")
    with tempfile.TemporaryDirectory(prefix="govshare-audit-bench-") as tmp:
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
