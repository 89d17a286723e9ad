"""Benchmark: supervision's query figures over a month of 10^7 audit rows (issue 11; docs/performance.md).

    python -m loadtest.supervision_bench --rows 10000000        # embedded PostgreSQL in a temporary directory
    GOVSHARE_DATABASE_URL=postgresql://… python -m loadtest.supervision_bench   # a server of your own (a new
                                                                                # database is created on it)

Bulk-inserts the rows as query writes them (loadtest/supervision_rows.py) into a fresh database, then times:

* ``scan``: the month's counts straight from the access log (what figures cost without daily counts);
* ``first``: the month's figures the first time (every whole day of the month and of its 28-day history is
  counted into access_daily: one scan of the month, once);
* ``again``: the same figures again (read from the daily counts: the steady state, since the schedule
  computes every day).

Prints one JSON object. Run it alone on the machine: it measures the database, not a contended CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

from loadtest.supervision_rows import Shape, insert, rows
from services.arguments import positive
from services.query import figures
from services.query.store import QueryStore
from services.runtime import db
from services.runtime.embedded import EmbeddedServers, administer, create_database
from services.supervision.months import Month

LOAD_WITHOUT = (
    "ALTER TABLE query.access_log DROP CONSTRAINT access_log_pkey",
    "DROP INDEX query.access_log_chain_seq",
    "DROP INDEX query.access_log_provider_time",
    "DROP INDEX query.access_log_resource_time",
    "DROP INDEX query.access_log_key_time",
    "DROP INDEX query.access_log_batch_keys",
    "DROP INDEX query.access_log_department_time",
    "DROP INDEX query.access_log_provider_department_time",
    "DROP INDEX query.access_log_provider_resource_time",
    "DROP INDEX query.access_log_resource_department_time",
)


async def _timed(work) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    began = time.perf_counter()
    result = await work
    return time.perf_counter() - began, result


async def run(admin_url: str, count: int, month: Month) -> dict[str, object]:
    """The figures of ``count`` rows of ``month`` in a database of its own on ``admin_url``'s server, dropped
    after: on a server of the operator's (GOVSHARE_DATABASE_URL) each run left a govshare_bench_* database of
    10^7 rows behind."""
    name = f"govshare_bench_{uuid.uuid4().hex[:8]}"
    url = await create_database(admin_url, name)
    try:
        return await _measure(url, count, month)
    finally:
        await administer(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _measure(url: str, count: int, month: Month) -> dict[str, object]:
    await db.migrate_all(url)
    conn = await asyncpg.connect(url)
    began = time.perf_counter()
    try:
        # A bulk load, not the hot path: the indexes the figures do not read are dropped first (the random
        # uuid primary key alone would make the load take an hour); access_log_time, which they do, stays.
        for statement in LOAD_WITHOUT:
            await conn.execute(statement)
        written = await insert(conn, rows(count, month.start, month.end, Shape()))
        await conn.execute("ANALYZE query.access_log")
        size = await conn.fetchval(  # a partitioned table's own size is 0: its partitions hold the rows
            "SELECT pg_size_pretty(sum(pg_total_relation_size(inhrelid))) FROM pg_inherits"
            " WHERE inhparent = 'query.access_log'::regclass")
    finally:
        await conn.close()
    loaded = time.perf_counter() - began
    pool = await db.create_pool(url, "query")
    try:
        store = QueryStore(pool)
        later = month.end + dt.timedelta(days=1)
        scan, counted = await _timed(store.access_counts(month.start, month.end))
        first, found = await _timed(figures.department_figures(store, month.start, month.end, later))
        again, repeated = await _timed(figures.department_figures(store, month.start, month.end, later))
        assert set(found) == set(repeated)
        daily_rows = await pool.fetchval("SELECT count(*) FROM access_daily")
    finally:
        await pool.close()
    return {"rows": written, "month": month.label(), "load_seconds": round(loaded, 1), "access_log_size": size,
            "scan_seconds": round(scan, 2), "scan_groups": len(counted), "first_seconds": round(first, 2),
            "again_seconds": round(again, 3), "figures": len(found), "access_daily_rows": daily_rows,
            "cpus": os.cpu_count()}


def _month(text: str) -> Month:
    """YYYY-MM, checked before PostgreSQL starts (a mistyped month was a ValueError traceback)."""
    year, dash, month = text.strip().partition("-")
    if not (dash and year.isdigit() and month.isdigit() and 1 <= int(month) <= 12 and int(year) >= 1):
        raise argparse.ArgumentTypeError(f"expected YYYY-MM, got {text!r}")
    return Month(int(year), int(month))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m loadtest.supervision_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=positive(int), default=10_000_000)
    parser.add_argument("--month", type=_month, default=_month("2026-10"), help="YYYY-MM")
    return parser


def main() -> None:
    args = build_parser().parse_args()
    year, month = args.month.year, args.month.month
    external = os.environ.get("GOVSHARE_DATABASE_URL", "")
    if external:
        print(json.dumps(asyncio.run(run(external, args.rows, Month(year, month)))))
        return
    with tempfile.TemporaryDirectory(prefix="govshare-bench-") as tmp:
        servers = EmbeddedServers(Path(tmp)).start(redis=False)
        try:
            print(json.dumps(asyncio.run(run(servers.database_url, args.rows, Month(year, month)))))
        finally:
            servers.stop()


if __name__ == "__main__":
    main()
