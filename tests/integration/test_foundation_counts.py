"""Record counts at national size: ListDatasets' and supervision's dataset figures read the planner's estimates
for large tables instead of counting them (counting 10^8 persons read 17 GB and took 23 s per computation)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio

from services.foundation import store as foundation_store
from services.foundation.figures import department_figures
from services.foundation.store import FoundationStore
from services.runtime import db
from services.runtime.embedded import create_database

NOW = dt.datetime(2026, 11, 15, tzinfo=dt.UTC)
PERSONS = 20_000
STALE = 5_000  # the oldest persons: as of 400 days before NOW, the rest 10 days before


@pytest_asyncio.fixture(loop_scope="session")
async def store(embedded) -> AsyncIterator[FoundationStore]:  # type: ignore[no-untyped-def]
    url = await create_database(embedded.database_url, f"govshare_counts_{uuid.uuid4().hex[:8]}")
    await db.migrate(url, "foundation")
    pool = await db.create_pool(url, "foundation")
    await pool.execute("UPDATE datasets SET authoritative_department_code = '11110100MB00000027'"
                       " WHERE name = 'population'")
    await pool.execute(
        "INSERT INTO population (citizen_id, name, sex, ethnicity, birth_date, status, source_department_code,"
        " as_of_time) SELECT lpad(n::text, 18, '0'), 'x', '1', '01', date '1980-01-01', '1', '11110100MB00000027',"
        " $1::timestamptz - CASE WHEN n <= $2 THEN interval '400 days' ELSE interval '10 days' END"
        " FROM generate_series(1, $3) AS n", NOW, STALE, PERSONS)
    # Autovacuum must not refresh the statistics behind the tests' backs (they compare them with the rows).
    await pool.execute("ALTER TABLE population SET (autovacuum_enabled = false)")
    await pool.execute("ANALYZE population")
    found = FoundationStore()
    found.attach(pool)
    yield found
    await pool.close()


def _figures(rows) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {row.name: row.value for row in rows if "population" in row.dimension}


async def test_a_small_table_is_counted_exactly(store: FoundationStore) -> None:
    figures = _figures(await department_figures(store, {"population": 365 * 86400}, NOW, NOW, NOW))
    assert figures == {"datasets.records": PERSONS, "datasets.stale_records": STALE}


async def test_a_large_table_is_estimated_without_reading_it(store: FoundationStore,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Half the stale persons are deleted after the statistics were taken: a count would see 2,500 stale of
    17,500, the estimates still say about 5,000 of 20,000 — which is what the figures must show."""
    monkeypatch.setattr(foundation_store, "EXACT_COUNT_BELOW", 1_000)  # 20,000 persons count as large here
    await store.pool.execute("DELETE FROM population WHERE citizen_id <= lpad($1::text, 18, '0')", str(STALE // 2))
    figures = _figures(await department_figures(store, {"population": 365 * 86400}, NOW, NOW, NOW))
    [info] = [info for info in await store.datasets() if info.name == "population"]
    assert figures["datasets.records"] == info.record_count == pytest.approx(PERSONS, rel=0.02)
    assert figures["datasets.stale_records"] == pytest.approx(STALE, rel=0.1)


async def test_statistics_not_yet_gathered_mean_an_exact_count(store: FoundationStore) -> None:
    """A table never analysed has no estimate (reltuples -1): it is counted, however EXACT_COUNT_BELOW is set."""
    connection: asyncpg.Connection
    async with store.pool.acquire() as connection:
        estimate = await connection.fetchval("SELECT reltuples FROM pg_class WHERE oid = to_regclass('licence')")
    assert estimate < 0
    [info] = [info for info in await store.datasets() if info.name == "licence"]
    assert info.record_count == 0
