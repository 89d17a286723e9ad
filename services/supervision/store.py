"""All SQL of the supervision service (schema ``supervision``, migrations in ./migrations)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import AsyncIterator, Mapping, Sequence

import asyncpg

from services.runtime import admin_events
from services.runtime.admin_events import AdminEvent
from services.runtime.figures import FigureRow
from services.supervision.months import Month
from services.supervision.snapshot import STOCKS, Figures
from services.supervision.violations import Violation


def _figures(code: str, document: str, name: str | None = None) -> Figures:
    return Figures(code, [FigureRow(code, row, dim, value) for row, dim, value in json.loads(document)], name or "")


class SupervisionStore:
    def __init__(self, pool: asyncpg.Pool | asyncpg.Connection, listing: asyncpg.Pool | None = None) -> None:
        """``listing`` (db.WorkPools, default ``pool``) serves ListEvaluations and ListViolations. ``pool`` is a
        connection in :meth:`one_reading`'s store, which reads only."""
        self._pool = pool
        self._listing = listing or pool

    @contextlib.asynccontextmanager
    async def one_reading(self, listing: bool = False) -> AsyncIterator[SupervisionStore]:
        """A store whose reads are one view of the database (a repeatable-read, read-only transaction), on a
        connection of the listing pool when ``listing``. A report, or a page of evaluations, reads the snapshots,
        violations, weights and compute times one after another: a computation of a month stored between two of
        them (the schedule's, every few minutes under `govshare up`, or a ComputeSnapshots) gave it one
        computation's figures beside another's violations and time."""
        pool = self._listing if listing else self._pool
        async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            yield SupervisionStore(conn)

    async def replace_month(self, month: Month, snapshots: Mapping[str, Figures], violations: list[Violation],
                            now: dt.datetime, event: AdminEvent | None = None) -> bool:
        """The month's snapshots and violations, replacing any earlier computation in one transaction; ``event``
        (who asked for it) goes to the administrative log's outbox in the same transaction. ``now`` is when the
        computation began gathering its figures: one begun before the computation stored (two at once, the
        schedule's and an administrator's, the slower begun first) changes nothing and returns False, else it had
        put figures older than those stored in their place, and moved the month's compute time back."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('govshare-supervision-month'), $1)",
                               month.year * 100 + month.month)
            if await conn.fetchval("SELECT compute_time > $2 FROM computed_months WHERE month = $1",
                                   month.first_day, now):
                return False
            kept = await _names_at_end(conn, month)
            await conn.execute("DELETE FROM snapshots WHERE month = $1", month.first_day)
            await conn.execute("DELETE FROM violations WHERE month = $1", month.first_day)
            await conn.executemany(
                "INSERT INTO snapshots (month, department_code, figures, compute_time, department_name, name_time)"
                " VALUES ($1, $2, $3, $4, $5, $6)",
                [(month.first_day, code, json.dumps([[r.name, r.dimension, r.value] for r in f.rows],
                                                    ensure_ascii=False), now, *kept.get(code, (f.name, now)))
                 for code, f in snapshots.items()])
            await conn.executemany(
                "INSERT INTO violations (id, month, department_code, rule, article, subject, evidence)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7)",
                [(v.id, month.first_day, v.department_code, v.rule, v.article, v.subject,
                  json.dumps(v.evidence, ensure_ascii=False, sort_keys=True)) for v in violations])
            await conn.execute(
                "INSERT INTO computed_months (month, compute_time) VALUES ($1, $2)"
                " ON CONFLICT (month) DO UPDATE SET compute_time = excluded.compute_time", month.first_day, now)
            if event is not None:
                await admin_events.record(conn, event)
        return True

    async def stocks_at_end(self, month: Month) -> dict[str, list[FigureRow]]:
        """The :data:`~services.supervision.snapshot.STOCKS` of each department's snapshot of ``month`` when it was
        computed once the month had ended (a recomputation keeps them, so they are those of its first computation
        after its end), by department (an empty list for one that had none); nothing for a month last computed
        before its end (the month in progress) or never."""
        rows = await self._pool.fetch(
            "SELECT department_code, (SELECT coalesce(jsonb_agg(f ORDER BY n), '[]'::jsonb)"
            " FROM jsonb_array_elements(figures) WITH ORDINALITY AS e(f, n) WHERE f->>0 = ANY($3::text[]))::text"
            " AS figures FROM snapshots WHERE month = $1 AND compute_time >= $2", month.first_day, month.end,
            list(STOCKS))
        return {row["department_code"]: _figures(row["department_code"], row["figures"]).rows for row in rows}

    async def snapshot(self, month: Month, department_code: str) -> tuple[Figures, dt.datetime] | None:
        row = await self._pool.fetchrow(
            "SELECT figures::text AS figures, compute_time, department_name FROM snapshots WHERE month = $1"
            " AND department_code = $2", month.first_day, department_code)
        return None if row is None else (_figures(department_code, row["figures"], row["department_name"]),
                                         row["compute_time"])

    async def has_snapshot(self, month: Month, department_code: str) -> bool:
        """Whether ``month`` was computed with ``department_code`` (without reading its figures)."""
        return bool(await self._listing.fetchval(
            "SELECT EXISTS (SELECT 1 FROM snapshots WHERE month = $1 AND department_code = $2)", month.first_day,
            department_code))

    async def snapshots(self, month: Month, after: str, limit: int) -> list[Figures]:
        """Snapshots of the month by department code, after ``after`` (keyset)."""
        rows = await self._listing.fetch(
            "SELECT department_code, figures::text AS figures, department_name FROM snapshots WHERE month = $1"
            " AND department_code > $2 ORDER BY department_code LIMIT $3", month.first_day, after, limit)
        return [_figures(row["department_code"], row["figures"], row["department_name"]) for row in rows]

    async def violation_counts(self, month: Month, departments: list[str]) -> dict[str, int]:
        rows = await self._listing.fetch(
            "SELECT department_code, count(*) AS n FROM violations WHERE month = $1"
            " AND department_code = ANY($2::text[]) GROUP BY 1", month.first_day, departments)
        return {row["department_code"]: row["n"] for row in rows}

    async def violations(self, month: Month, department_code: str, after: tuple[str, str] | None,
                         limit: int) -> list[Violation]:
        """The month's violations by (department, id), optionally of one department, after a keyset position."""
        last_department, last_id = after or ("", "")
        rows = await self._listing.fetch(
            "SELECT department_code, rule, subject, evidence::text AS evidence FROM violations WHERE month = $1"
            " AND ($2 = '' OR department_code = $2) AND (department_code, id) > ($3, $4)"
            " ORDER BY department_code, id LIMIT $5", month.first_day, department_code, last_department, last_id,
            limit)
        return [Violation(row["department_code"], month, row["rule"], row["subject"], json.loads(row["evidence"]))
                for row in rows]

    async def weights(self, month: Month) -> dict[str, float]:
        """The weights in force in ``month``: a month is evaluated under the weights of its time, not today's."""
        return (await self.weights_of([month]))[month]

    async def weights_of(self, months: Sequence[Month]) -> dict[Month, dict[str, float]]:
        """The weights in force in each of ``months`` (a report's year) from one read of the weightings (few: one per
        change of the weights)."""
        rows = await _weightings(self._pool, max(months))
        return {month: _in_force(rows, month) for month in months}

    async def record_admin(self, event: AdminEvent) -> None:
        """Writes ``event`` (a refused change) to the administrative log's outbox."""
        async with self._pool.acquire() as conn:
            await admin_events.record(conn, event)

    async def set_weights(self, weights: Mapping[str, float], month: Month, system_id: str, now: dt.datetime,
                          event: AdminEvent) -> dict[str, float] | None:
        """Sets ``weights`` from ``month`` on (the other indicators keep theirs; the months before keep the weights
        they were evaluated with) and returns every weight of ``month``; or changes nothing and returns None when
        every weight would then be 0. ``event`` goes to the administrative log's outbox in the same transaction: no
        change without its entry.

        The check and the write are one transaction holding a lock that two such transactions cannot share, so
        two administrators changing different weights at once cannot reach all zeros together."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("LOCK TABLE evaluation_weight_months IN SHARE ROW EXCLUSIVE MODE")
            merged = {**_in_force(await _weightings(conn, month), month), **weights}
            if not any(merged.values()):
                return None
            rows = [(name, value, now, system_id) for name, value in weights.items()]
            await conn.executemany(
                "INSERT INTO evaluation_weight_months (month, indicator, weight, update_time, updated_by)"
                " VALUES ($5, $1, $2, $3, $4) ON CONFLICT (month, indicator) DO UPDATE SET weight = EXCLUDED.weight,"
                " update_time = EXCLUDED.update_time, updated_by = EXCLUDED.updated_by",
                [(*row, month.first_day) for row in rows])
            await conn.executemany(
                "INSERT INTO evaluation_weights (indicator, weight, update_time, updated_by) VALUES ($1, $2, $3, $4)"
                " ON CONFLICT (indicator) DO UPDATE SET weight = EXCLUDED.weight,"
                " update_time = EXCLUDED.update_time, updated_by = EXCLUDED.updated_by", rows)
            await admin_events.record(conn, event)
        return dict(sorted(merged.items()))

    async def snapshots_between(self, first: Month, last: Month, department_code: str | None,
                                left_out: tuple[str, ...] = ()) -> dict[Month, dict[str, Figures]]:
        """Snapshots of the months first..last, of one department or (None) of all, by month and department, without
        the figures named in ``left_out``: a report's year of every department's snapshots is mostly rows it never
        reads (each system's every day), which were sent and parsed all the same."""
        args: list[object] = [first.first_day, last.first_day, *_department_arg(department_code)]
        figures = "figures"
        if left_out:
            args.append(list(left_out))
            figures = ("(SELECT coalesce(jsonb_agg(f ORDER BY n), '[]'::jsonb) FROM jsonb_array_elements(figures)"
                       f" WITH ORDINALITY AS e(f, n) WHERE NOT f->>0 = ANY(${len(args)}::text[]))")
        rows = await self._pool.fetch(
            f"SELECT month, department_code, department_name, {figures}::text AS figures FROM snapshots"
            f" WHERE month >= $1 AND month <= $2{_of_department(department_code, 3)}"
            " ORDER BY month, department_code", *args)
        found: dict[Month, dict[str, Figures]] = {}
        for row in rows:
            found.setdefault(Month.of_date(row["month"]), {})[row["department_code"]] = _figures(
                row["department_code"], row["figures"], row["department_name"])
        return found

    async def compute_times(self, first: Month, last: Month) -> dict[Month, dt.datetime]:
        """When each of the months first..last was computed, those computed while no department existed included: a
        report says which of its months were computed before they ended, and tells a month never computed from one
        that had no department to count."""
        rows = await self._pool.fetch(
            "SELECT month, compute_time AS computed FROM computed_months WHERE month >= $1 AND month <= $2"
            " ORDER BY month", first.first_day, last.first_day)
        return {Month.of_date(row["month"]): row["computed"] for row in rows}

    async def violations_between(self, first: Month, last: Month, department_code: str | None) -> list[Violation]:
        rows = await self._pool.fetch(
            "SELECT month, department_code, rule, subject, evidence::text AS evidence FROM violations"
            f" WHERE month >= $1 AND month <= $2{_of_department(department_code, 3)}"
            " ORDER BY month, department_code, id", first.first_day, last.first_day, *_department_arg(department_code))
        return [Violation(row["department_code"], Month.of_date(row["month"]), row["rule"], row["subject"],
                          json.loads(row["evidence"])) for row in rows]


def _of_department(department_code: str | None, position: int) -> str:
    """The condition on one department (parameter ``position``), or none for every department: written only when
    there is one, since the online pool's statements turn generic after five runs, and a generic plan of
    "$n IS NULL OR department_code = $n" cannot use the department's index (a scan of every snapshot)."""
    return "" if department_code is None else f" AND department_code = ${position}"


def _department_arg(department_code: str | None) -> tuple[str, ...]:
    return () if department_code is None else (department_code,)


async def _weightings(db: asyncpg.Pool | asyncpg.Connection, last: Month) -> list[asyncpg.Record]:
    """Every weight set for a month up to ``last``, the earliest month first."""
    return await db.fetch("SELECT month, indicator, weight FROM evaluation_weight_months WHERE month <= $1"
                          " ORDER BY month, indicator", last.first_day)


def _in_force(rows: Sequence[asyncpg.Record], month: Month) -> dict[str, float]:
    """Each indicator's weight in ``month``: that of the latest month not after it (``rows`` by month)."""
    found: dict[str, float] = {}
    for row in rows:
        if row["month"] <= month.first_day:
            found[row["indicator"]] = row["weight"]
    return dict(sorted(found.items()))


async def _names_at_end(conn: asyncpg.Connection, month: Month) -> dict[str, tuple[str, dt.datetime]]:
    """The departments' names kept for ``month`` that were read once it had ended, with when: a recomputation keeps
    them, so a department renamed (or merged) after the month is still named in it as it was then. The schedule
    recomputes last month all through this one; without this, its reports took the new name from the next day."""
    rows = await conn.fetch(
        "SELECT department_code, department_name, name_time FROM snapshots WHERE month = $1"
        " AND department_name IS NOT NULL AND name_time >= $2", month.first_day, month.end)
    return {row["department_code"]: (row["department_name"], row["name_time"]) for row in rows}
