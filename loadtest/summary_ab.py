"""Same-run A/B of GetUsageSummary's computation (docs/capacity.md §4.3): another checkout's
services/query/figures.py and store.py ("before") against this one's ("after"), interleaved call by call on one
database, so that both sides see the same machine.

    git worktree add /tmp/old e1ef6da
    python -m loadtest.summary_ab --old-tree /tmp/old --rows 1000000 --samples 60

Prints one JSON object: p50/p95 of each side for the authority's year, year to now and today so far (a day's
share of the rows from midnight to now). The year's rows of both sides are checked equal.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib.util
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import ModuleType

import asyncpg

from loadtest.audit_bench import _ms
from loadtest.supervision_rows import Shape, insert, rows
from services.arguments import positive
from services.query import figures as new_figures
from services.query.store import AccessFilter, QueryStore
from services.runtime import db
from services.runtime.embedded import EmbeddedServers, create_database

CST = new_figures.CST


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_old(tree: Path) -> tuple[ModuleType, ModuleType]:
    """The other checkout's store and figures, the latter bound to the former."""
    old = tree / "services" / "query"
    old_store = _load("old_store", old / "store.py")
    saved = sys.modules["services.query.store"]
    sys.modules["services.query.store"] = old_store
    try:
        return old_store, _load("old_figures", old / "figures.py")
    finally:
        sys.modules["services.query.store"] = saved


async def _time(call) -> float:  # type: ignore[no-untyped-def]
    began = time.perf_counter()
    await call
    return time.perf_counter() - began


async def run(url: str, count: int, samples: int, tree: Path) -> dict[str, object]:
    old_store, old_figures = load_old(tree)
    await db.migrate_all(url)
    now = dt.datetime.now(CST)
    end = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    start = (end - dt.timedelta(days=365)).replace(day=1)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    conn = await asyncpg.connect(url)
    try:
        await insert(conn, rows(count, start, end, Shape()))
        await insert(conn, rows(max(1, count // 365), today, dt.datetime.now(dt.UTC), Shape(), seed=11))
        await conn.execute("ANALYZE query.access_log")
    finally:
        await conn.close()
    pool = await db.create_pool(url, "query")
    try:
        new, old = QueryStore(pool), old_store.QueryStore(pool)
        days = [(start + dt.timedelta(days=k)) for k in range((today - start).days)]
        await new.roll_up_days([(d.date(), d, d + dt.timedelta(days=1)) for d in days])
        later = end + dt.timedelta(days=1)
        cases = {"authority_year": (AccessFilter(start=start, end=end), lambda: later),
                 "authority_year_to_now": (AccessFilter(start=start), lambda: dt.datetime.now(dt.UTC)),
                 "authority_today": (AccessFilter(start=today), lambda: dt.datetime.now(dt.UTC))}
        out: dict[str, object] = {"rows": count}
        for name, (scope, clock) in cases.items():
            before = await old_figures.usage_summary(old, scope, clock())
            after = await new_figures.usage_summary(new, scope, clock())
            if name == "authority_year":  # a fixed period: both sides must agree
                assert [dict(r) for r in before] == after
            old_times, new_times = [], []
            for _ in range(samples):
                old_times.append(await _time(old_figures.usage_summary(old, scope, clock())))
                new_times.append(await _time(new_figures.usage_summary(new, scope, clock())))
            out[name] = {"before": _ms(old_times), "after": _ms(new_times), "groups": len(after)}
        return out
    finally:
        await pool.close()


def _checkout(text: str) -> Path:
    """A checkout holding the two files compared, checked before PostgreSQL starts and the rows load (a path
    mistyped was a FileNotFoundError traceback after them)."""
    tree = Path(text)
    missing = [name for name in ("store.py", "figures.py") if not (tree / "services" / "query" / name).is_file()]
    if missing:
        raise argparse.ArgumentTypeError(f"{text} holds no services/query/{' or '.join(missing)}: give a checkout "
                                         f"of govshare (git worktree add /tmp/old <commit>)")
    return tree


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m loadtest.summary_ab", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old-tree", type=_checkout, required=True, help="the checkout to compare with")
    parser.add_argument("--rows", type=positive(int), default=1_000_000)
    parser.add_argument("--samples", type=positive(int), default=60)
    return parser


def main() -> None:
    args = build_parser().parse_args()
    with tempfile.TemporaryDirectory(prefix="govshare-summary-ab-") as tmp:
        servers = EmbeddedServers(Path(tmp) / "servers").start(redis=False)
        try:
            async def measured() -> dict[str, object]:
                url = await create_database(servers.database_url, f"govshare_ab_{uuid.uuid4().hex[:8]}")
                return await run(url, args.rows, args.samples, args.old_tree)
            print(json.dumps(asyncio.run(measured())))
        finally:
            servers.stop()


if __name__ == "__main__":
    main()
