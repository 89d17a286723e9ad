"""Supervision's query figures from daily counts equal those from the access log itself (query migration 004).

On a database of its own (the shared platform's access log holds real hash chains that other tests verify), with
rows written the way query writes them (loadtest/supervision_rows.py): the month and its 28 days of history are
counted once into access_daily, then read from there, and every figure is the same as the full scan's.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import asyncpg
import pytest

from loadtest.supervision_rows import Shape, insert, rows
from services.query import figures
from services.query.audit import COLUMNS
from services.query.store import QueryStore
from services.runtime import db
from services.runtime.embedded import create_database
from services.supervision.months import Month

MONTH = Month(2026, 3)


@pytest.fixture(scope="module")
async def store(embedded):  # type: ignore[no-untyped-def]
    url = await create_database(embedded.database_url, f"govshare_daily_{uuid.uuid4().hex[:8]}")
    await db.migrate_all(url)
    conn = await asyncpg.connect(url)
    try:
        # 6,000 calls from 40 days before the month to 5 days after it, plus a lookup of the persons' view.
        written = await insert(conn, rows(6_000, MONTH.start - dt.timedelta(days=40),
                                          MONTH.end + dt.timedelta(days=5), Shape(departments=4, resources=5)))
        assert written == 6_000
        lookup = next(rows(1, MONTH.start + dt.timedelta(hours=3), MONTH.start + dt.timedelta(hours=4)))
        await insert(conn, iter([(uuid.uuid4().hex, *lookup[1:8], "SubjectLookup", *lookup[9:])]))
    finally:
        await conn.close()
    pool = await db.create_pool(url, "query")
    yield QueryStore(pool)
    await pool.close()


def _as_set(found: list) -> set:
    return {(f.department_code, f.name, f.dimension, f.value) for f in found}


async def test_daily_counts_give_the_same_figures_as_the_log(store: QueryStore) -> None:
    scanned = await figures.department_figures(store, MONTH.start, MONTH.end, now=MONTH.start)  # no whole day yet
    # Only the history before the month could be counted yet (its days had ended); none of the month's.
    assert await store._pool.fetchval("SELECT count(*) FROM access_days WHERE day >= $1", MONTH.first_day) == 0
    long_after = MONTH.end + dt.timedelta(days=30)
    rolled = await figures.department_figures(store, MONTH.start, MONTH.end, now=long_after)
    assert await store._pool.fetchval("SELECT count(*) FROM access_days") == 31 + figures.HISTORY_DAYS
    assert _as_set(rolled) == _as_set(scanned)
    in_month = await store._pool.fetchval(
        "SELECT count(*) FROM access_log WHERE time >= $1 AND time < $2 AND operation <> 'SubjectLookup'",
        MONTH.start, MONTH.end)
    assert sum(f.value for f in scanned if f.name == "queries.made" and not f.dimension) == in_month > 2_000
    # Counted once: asking again scans nothing and gives the same.
    assert await store.roll_up_days([(MONTH.first_day, MONTH.start, MONTH.start + dt.timedelta(days=1))]) == 0
    assert _as_set(await figures.department_figures(store, MONTH.start, MONTH.end, now=long_after)) == _as_set(scanned)


async def test_a_period_not_on_day_boundaries_mixes_days_and_edges(store: QueryStore) -> None:
    start, end = MONTH.start + dt.timedelta(hours=5), MONTH.start + dt.timedelta(days=3, hours=7)
    live = await figures.department_figures(store, start, end, now=start)
    mixed = await figures.department_figures(store, start, end, now=end + dt.timedelta(days=1))
    assert _as_set(mixed) == _as_set(live)


def test_whole_days_are_beijing_midnights_that_ended_an_hour_ago() -> None:
    now = dt.datetime(2026, 3, 10, 16, 30, tzinfo=dt.UTC)  # 00:30 on the 11th in Beijing
    first, last = figures.whole_days(MONTH.start, MONTH.end, now)  # type: ignore[misc]
    assert first == MONTH.start and last == dt.datetime(2026, 3, 10, tzinfo=figures.CST)
    assert figures.whole_days(MONTH.start, MONTH.start + dt.timedelta(hours=23), now) is None


async def test_a_dispute_reported_late_in_a_month_and_never_answered_counts_when_it_falls_due(
        store: QueryStore) -> None:
    """Reported on 28 March, due on 10 April, never answered: March counted it only if due before its end, April
    counts only April's disputes, so it was never counted against the provider (R-SUP-1, R-DSP-1)."""
    made, due = MONTH.start + dt.timedelta(days=27), MONTH.end + dt.timedelta(days=9)
    provider, reporter = "11110100MB0000998R", "11110100MB0000999T"
    await store._pool.execute(
        "INSERT INTO disputes (id, resource_code, key, item, claimed_value, evidence, reporter_department_code,"
        " reporter_system_id, provider_department_code, state, create_time, due_time)"
        " VALUES ($1, '301998/000001', 'k', 'name', 'v', 'e', $2, 'sys-r', $3, 'OPEN', $4, $5)",
        uuid.uuid4(), reporter, provider, made, due)

    def mine(found: list) -> dict[tuple[str, str], int]:
        return {(f.name, f.dimension): f.value for f in found if f.department_code == provider}

    # While it is not due yet it is only received; once past due (March recomputed in April), it counts.
    before = mine(await figures.department_figures(store, MONTH.start, MONTH.end, now=due - dt.timedelta(hours=1)))
    assert before[("disputes.received", "")] == 1 and ("disputes.unanswered_overdue", "") not in before
    after = mine(await figures.department_figures(store, MONTH.start, MONTH.end, now=due + dt.timedelta(hours=1)))
    assert after[("disputes.unanswered_overdue", "")] == 1
    assert after[("disputes.unanswered_overdue", "resource=301998/000001")] == 1


async def test_a_failure_counts_against_the_provider_only_when_it_was_the_providers(store: QueryStore) -> None:
    """Every FAILED call counted as the provider's failure (availability, DATA_NOT_PROVIDED): the platform's own
    foundation service down, or callers that gave up, marked the department down for what it could not help.
    The record keeps the cause; only its 前置机 not answering and its database not sending a record count, as do
    records from before causes were kept; the rest is ``queries.failed_other`` by reason.

    A BatchQuery answered in part (the keys at hand answered, the provider not answering the others) is ANSWERED
    with its failure's cause: it was counted nowhere, so a 前置机 that failed every batch with a cached key never
    lost availability. It counts as a failed call by the same rule; an ANSWERED record without a cause does not."""
    month = Month(2026, 6)
    template = next(rows(1, month.start + dt.timedelta(days=2), month.start + dt.timedelta(days=3)))
    result, reason = COLUMNS.index("result"), COLUMNS.index("deny_reason")
    causes = {("FAILED", "PROVIDER_UNAVAILABLE"): 2, ("FAILED", "RECORD_UNREADABLE"): 1, ("FAILED", ""): 1,
              ("FAILED", "FOUNDATION_UNAVAILABLE"): 4, ("FAILED", "CANCELLED"): 3,
              ("FAILED", "AUTHORIZATION_UNAVAILABLE"): 1, ("FAILED", "INTERNAL"): 1,
              ("ANSWERED", "PROVIDER_UNAVAILABLE"): 2, ("ANSWERED", "RECORD_UNREADABLE"): 1,
              ("ANSWERED", "FOUNDATION_UNAVAILABLE"): 1, ("ANSWERED", ""): 3}
    written = []
    for (outcome, cause), n in causes.items():
        for _ in range(n):
            row = list(template)
            row[0], row[COLUMNS.index("provider_department_code")] = uuid.uuid4().hex, "fail_p"
            row[result], row[reason] = outcome, cause
            written.append(tuple(row))
    async with store._pool.acquire() as conn:
        await insert(conn, iter(written))
    for now in (month.start + dt.timedelta(days=2), month.end + dt.timedelta(days=2)):  # from the log, then the days
        mine = {(f.name, f.dimension): f.value
                for f in await figures.department_figures(store, month.start, month.end, now=now)
                if f.department_code == "fail_p"}
        assert mine[("queries.served", "")] == 20
        assert mine[("queries.failed", "")] == 7, mine
        assert mine[("queries.failed_other", "")] == 10
        assert mine[("queries.failed_other", "reason=FOUNDATION_UNAVAILABLE")] == 5
        assert mine[("queries.failed_other", "reason=CANCELLED")] == 3
        # The batches answered in part that failed through the provider: answered once, as failed (supervision).
        assert mine[("queries.answered_in_part", "resource=" + template[COLUMNS.index("resource_code")])] == 3


async def test_an_audit_connection_the_server_closed_while_idle_is_replaced_before_a_batch(
        store: QueryStore) -> None:
    """After PostgreSQL restarted, the audit writer's own connection was dead: its next batch failed at once
    (InterfaceError), the calls waiting on it were refused AUDIT_UNAVAILABLE and the chain was broken off, though
    nothing had been sent. A connection closed while idle is replaced first, and the batch is written."""
    month = Month(2026, 7)  # a month of its own: the figures tests count theirs
    # The writer's rows have every column (RECORD_COLUMNS): the generator's, of a format-1 record's, as such.
    first, second = (tuple([uuid.uuid4().hex, *row[1:], 1, ""]) for row in rows(2, month.start, month.end))
    await store._pool.execute("SELECT query.access_log_partition($1)", month.first_day)
    await store.insert_accesses([first])
    pid = store._audit_connection.get_server_pid()
    await store._pool.execute("SELECT pg_terminate_backend($1)", pid)
    for _ in range(500):  # the client learns of the closed socket on the loop's next read
        if store.audit_connection_lost():
            break
        await asyncio.sleep(0.01)
    await store.insert_accesses([second])
    assert await store._pool.fetchval("SELECT count(*) FROM access_log WHERE id = ANY($1::text[])",
                                      [first[0], second[0]]) == 2
    await store.release_audit_connection()
