"""The benchmark's fast seeding of persons (loadtest/fast_persons.py) writes what the bulk loader writes.

The 10^8-person benchmark seeds its population inside PostgreSQL (INSERT … SELECT over generate_series) instead
of through the platform's bulk loader, and computes its keys with the generator's Python twin. Here, among the
real catalog, authorization, foundation and query services on a database of their own, the same persons are
seeded both ways: the rows are identical column by column, the Python twin's records pass the loader's own
validation, and Query answers a person seeded the fast way exactly as the same person loaded by the bulk loader.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio

from govshare.catalog.v1 import catalog_pb2 as cat
from govshare.common.v1 import common_pb2 as common
from loadtest.fast_persons import FastPersons, seed_population
from services.demo import POPULATION_ITEMS
from services.foundation.bulk import copy_dataset
from services.runtime.cache import FOUNDATION_ENDPOINT, RecordInvalidator, create_client
from services.runtime.embedded import EmbeddedServers
from services.runtime.settings import Settings
from tests.integration.test_query import ONLINE, WORK, Mesh, entry, publish, query, running_mesh

pytestmark = pytest.mark.integration

PERSONS = 300
SEED = 7
ASKED = (0, 1, 5, 150, 298, 299)
FAST_AS_OF = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
BULK_AS_OF = dt.datetime(2026, 1, 3, 3, 4, 5, tzinfo=dt.UTC)
COLUMNS = ("citizen_id, name, sex, ethnicity, birth_date, address, address_region_code, status,"
           " source_department_code")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def mesh(base_settings: Settings, embedded: EmbeddedServers) -> AsyncIterator[tuple[Mesh, str]]:
    """The four services on a database of their own, with an unconditional population resource."""
    async with running_mesh(base_settings, embedded) as world:
        code = f"101002/{world.rng.randrange(900000, 999990):06d}"
        await publish(world, entry(code, "人口基本信息（共享）", cat.CATEGORY_FOUNDATION, "人口", world.provider,
                                   POPULATION_ITEMS, "population", common.SHARE_TYPE_UNCONDITIONAL, [ONLINE]))
        yield world, code


async def _rows(url: str) -> list[tuple]:
    conn = await asyncpg.connect(url, server_settings={"search_path": "foundation"})
    try:
        return [tuple(r) for r in await conn.fetch(f"SELECT {COLUMNS}, as_of_time FROM population ORDER BY 1")]
    finally:
        await conn.close()


async def _answers(world: Mesh, code: str, keys: list[str]) -> list[tuple]:
    """What Query answers for each key: values (masked as the catalog says), masked items, provenance."""
    answers = []
    for key in keys:
        response = await query(world, world.other, code, key, WORK)
        answers.append((dict(response.values), list(response.masked_items),
                        response.provenance.provider_department_code, response.provenance.as_of_time.ToDatetime(
                            dt.UTC)))
    return answers


async def test_a_fast_seeded_person_is_stored_and_answered_as_the_bulk_loader_loads_it(
        mesh: tuple[Mesh, str]) -> None:
    world, code = mesh
    url = world.settings.database_url
    twin = FastPersons(SEED)
    keys = twin.citizen_ids([*ASKED])
    assert len(set(twin.citizen_ids(range(PERSONS)))) == PERSONS

    report = await seed_population(url, PERSONS, SEED, as_of=FAST_AS_OF)
    assert report.persons == PERSONS
    fast_rows = await _rows(url)
    fast = await _answers(world, code, keys)
    assert all(values["citizen_id"] for values, *_ in fast)  # found, every one
    assert {as_of for *_, as_of in fast} == {FAST_AS_OF}

    # The same persons through the platform's bulk loader, validated as LoadRecords validates.
    conn = await asyncpg.connect(url, server_settings={"search_path": "foundation,public"})
    try:
        await conn.execute("TRUNCATE population")
        loaded = await copy_dataset(conn, "population", world.provider.department_code,
                                    [twin.person(i) for i in range(PERSONS)], validate=True, as_of_time=BULK_AS_OF)
    finally:
        await conn.close()
    assert loaded == PERSONS
    bulk_rows = await _rows(url)
    assert [row[:-1] for row in fast_rows] == [row[:-1] for row in bulk_rows]
    assert len(fast_rows) == PERSONS

    # Query reads them afresh once the cached copies are dropped (the as-of time tells which load answered).
    client = create_client(world.settings.redis_url)
    invalidator = RecordInvalidator()
    invalidator.attach(client)
    try:
        await invalidator.dataset_changed(FOUNDATION_ENDPOINT, "population")
    finally:
        invalidator.attach(None)
        await client.aclose()
    bulk = await _answers(world, code, keys)
    for _ in range(100):
        if {as_of for *_, as_of in bulk} == {BULK_AS_OF}:
            break
        await asyncio.sleep(0.1)
        bulk = await _answers(world, code, keys)
    assert {as_of for *_, as_of in bulk} == {BULK_AS_OF}
    assert [answer[:-1] for answer in fast] == [answer[:-1] for answer in bulk]
