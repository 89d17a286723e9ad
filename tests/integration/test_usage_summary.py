"""GetUsageSummary against a direct count over the access log (issue 13), through the real query service.

The summary adds up pre-aggregated parts — whole months (access_usage_monthly), the days around them
(access_usage_daily, query migration 012), settled hours (access_usage_hourly) and the access log's rest — so
every boundary between two kinds of part is a place to lose or count twice a record. Here a database of its own
holds a few thousand accesses over the last three months (several systems per department, every result, deny
reasons, purposes, lookups of the persons' view, which are not use), written before the services start, as
records of the past are (the upkeep sums the settled days and hours at start). Each summary is compared with a
count over the log itself, for ranges ending now, at a month boundary, in the middle of a day, and across month
changes.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import grpc
import pytest
import pytest_asyncio
from caller_metadata import CallerMetadata
from google.protobuf import timestamp_pb2

from govshare.common.v1 import common_pb2 as common
from govshare.query.v1 import audit_pb2, audit_pb2_grpc
from services.authorization.component import create_component as create_authorization
from services.catalog.component import create_component as create_catalog
from services.foundation.component import create_component as create_foundation
from services.query import audit
from services.query.component import create_component as create_query
from services.query.figures import CST
from services.query.store import QueryStore
from services.runtime import db
from services.runtime.embedded import EmbeddedServers, create_database
from services.runtime.identity import Caller
from services.runtime.server import RunningServer, start_server
from services.runtime.settings import Settings

pytestmark = pytest.mark.integration

RECORDS = 4000
DAYS = 95
DEPARTMENTS = ("11100000000000101X", "11100000000000102X", "11100000000000103X", "11100000000000104X")
PROVIDERS = {"11100000000000201X": ("101001/000001", "101001/000002"),
             "11100000000000202X": ("102001/000001", "102001/000002", "102001/000003")}
PURPOSES = ("ADMINISTRATIVE_BASIS", "WORK_REFERENCE", "DATA_VERIFICATION")
RESULTS = (audit.ANSWERED,) * 5 + (audit.DENIED,) * 2 + (audit.NOT_FOUND, audit.INVALID, audit.FAILED)
DENY_REASONS = ("NOT_GRANTED", "PURPOSE_NOT_GRANTED", "EXPIRED")
OPERATIONS = ("Query",) * 6 + ("BatchQuery", "Verify", "SubjectLookup")
#: A summary row's counts, in UsageRow's order.
OUTCOMES = (audit.ANSWERED, audit.DENIED, audit.NOT_FOUND, audit.INVALID, audit.FAILED)


@dataclass
class Summaries:
    server: RunningServer
    channel: grpc.aio.Channel
    metadata: tuple[tuple[str, str], ...]
    database_url: str

    @property
    def audit(self) -> audit_pb2_grpc.AuditServiceStub:
        return audit_pb2_grpc.AuditServiceStub(self.channel)


def _records(now: dt.datetime, rng: random.Random) -> list[tuple]:
    """Accesses over the last DAYS days up to a minute ago, denser in the last hours and around the two latest
    month changes (where the parts meet)."""
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    previous = (month - dt.timedelta(days=1)).replace(day=1)
    span = (DAYS * 86400) - 60
    times = [now - dt.timedelta(seconds=60 + rng.random() * span) for _ in range(RECORDS)]
    times += [now - dt.timedelta(seconds=60 + rng.random() * 3 * 3600) for _ in range(300)]
    for change in (month, previous):
        times += [t for t in (change + dt.timedelta(seconds=rng.uniform(-36 * 3600, 36 * 3600)) for _ in range(300))
                  if t < now - dt.timedelta(seconds=60)]
    chain = uuid.uuid4().hex
    rows = []
    for seq, time in enumerate(sorted(times), 1):
        department = rng.choice(DEPARTMENTS)
        provider = rng.choice(list(PROVIDERS))
        result = rng.choice(RESULTS)
        rows.append((uuid.uuid4().hex, chain, seq, time, f"sys-{department[-5:-1]}-{rng.randrange(3)}", department,
                     rng.choice(PROVIDERS[provider]), provider, rng.choice(OPERATIONS), ["name"], f"key-{seq}", [],
                     rng.choice(PURPOSES), "", result, rng.choice(DENY_REASONS) if result == audit.DENIED else "", "",
                     audit.GENESIS, audit.GENESIS))
    return rows


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def summaries(base_settings: Settings, embedded: EmbeddedServers) -> AsyncIterator[Summaries]:
    """The four services on a database of their own whose access log holds _records, written before they start."""
    database_url = await create_database(embedded.database_url, f"govshare_usage_{uuid.uuid4().hex[:8]}")
    await db.migrate_all(database_url)
    now = dt.datetime.now(CST)
    rows = _records(now, random.Random(uuid.uuid4().int))
    pool = await db.create_pool(database_url, "query")
    try:
        store = QueryStore(pool)
        for month in sorted({row[3].astimezone(CST).date().replace(day=1) for row in rows}):
            await store.ensure_partition(month)
        async with pool.acquire() as conn:
            await conn.copy_records_to_table("access_log", records=rows, columns=audit.COLUMNS)
    finally:
        await pool.close()
    settings = base_settings.with_overrides(database_url=database_url)
    servers: dict[str, RunningServer] = {}
    targets: dict[str, str] = {}
    try:
        for name, factory in (("catalog", create_catalog), ("foundation", create_foundation),
                              ("authorization", create_authorization), ("query", create_query)):
            own = settings.with_overrides(component=name, **targets)
            servers[name] = await start_server(own, factory(own))
            targets[f"{name}_target"] = f"127.0.0.1:{servers[name].port}"
        channel = grpc.aio.insecure_channel(targets["query_target"])
        authority = Caller("sys-authority", "11100000000000001X", authority=True)
        yield Summaries(servers["query"], channel, CallerMetadata.of(settings).metadata(authority), database_url)
        await channel.close()
    finally:
        for server in reversed(list(servers.values())):
            await server.stop(0)


def _timestamp(moment: dt.datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment.astimezone(dt.UTC))
    return stamp


async def _summary(world: Summaries, start: dt.datetime | None, end: dt.datetime | None,
                   resource_code: str = "") -> list[tuple]:
    request = audit_pb2.GetUsageSummaryRequest(resource_code=resource_code)
    if start is not None:
        request.start_time.CopyFrom(_timestamp(start))
    if end is not None:
        request.end_time.CopyFrom(_timestamp(end))
    response = await world.audit.GetUsageSummary(request, metadata=world.metadata, timeout=30)
    return [(row.resource_code, row.department_code, common.PurposeType.Name(row.purpose).removeprefix(
        "PURPOSE_TYPE_"), row.answered, row.denied, row.not_found, row.invalid, row.failed) for row in response.rows]


async def _counted(world: Summaries, start: dt.datetime | None, end: dt.datetime | None,
                   resource_code: str = "") -> list[tuple]:
    """The same figures counted over the access log itself: every access ListAccesses lists, by outcome (the
    persons' view lookups, no use of a resource, left out)."""
    conn = await asyncpg.connect(world.database_url, server_settings={"search_path": "query"})
    try:
        outcomes = ", ".join(f"count(*) FILTER (WHERE result = '{result}')" for result in OUTCOMES)
        rows = await conn.fetch(
            f"SELECT resource_code, department_code, purpose, {outcomes} FROM access_log"
            " WHERE ($1::timestamptz IS NULL OR time >= $1) AND ($2::timestamptz IS NULL OR time < $2)"
            " AND ($3 = '' OR resource_code = $3) AND operation <> 'SubjectLookup'"
            " GROUP BY 1, 2, 3"
            ' ORDER BY resource_code COLLATE "C", department_code COLLATE "C", purpose COLLATE "C"',
            start, end, resource_code)
    finally:
        await conn.close()
    return [tuple(row) for row in rows]


def _ranges(now: dt.datetime) -> dict[str, tuple[dt.datetime | None, dt.datetime | None]]:
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    previous = (month - dt.timedelta(days=1)).replace(day=1)
    earlier = (previous - dt.timedelta(days=1)).replace(day=1)
    latest = now - dt.timedelta(minutes=2)
    return {
        "everything, ending now": (None, None),
        "from a mid-day 80 days ago to now": (now - dt.timedelta(days=80, hours=3, minutes=17), None),
        "this month and the last to now, from their first midnight": (previous, None),
        "a month ago to now": (now - dt.timedelta(days=30, minutes=41), None),
        "ending at this month's boundary": (now - dt.timedelta(days=80, minutes=5), month),
        "the previous whole month": (previous, month),
        "ending in the middle of a day": (earlier + dt.timedelta(days=9, hours=6, minutes=3),
                                          min(latest, now - dt.timedelta(days=2)).replace(hour=13, minute=27)),
        "across this month's change": (month - dt.timedelta(days=3, hours=-10),
                                       min(latest, month + dt.timedelta(days=2, hours=15))),
        "across the previous month's change": (previous - dt.timedelta(days=2, hours=6, minutes=30),
                                               previous + dt.timedelta(days=3, hours=4, minutes=11)),
        "the last three hours": (now - dt.timedelta(hours=3, minutes=7), None),
    }


async def test_every_summary_equals_a_count_over_the_log(summaries: Summaries) -> None:
    now = dt.datetime.now(CST)
    compared = 0
    for name, (start, end) in _ranges(now).items():
        if start is not None and end is not None and end <= start:
            continue  # early in a month, "across this month's change" may end before it starts
        expected = await _counted(summaries, start, end)
        assert expected, name  # every range holds accesses
        assert await _summary(summaries, start, end) == expected, name
        compared += 1
    assert compared >= 9


async def test_a_resource_summary_equals_a_count_over_the_log(summaries: Summaries) -> None:
    now = dt.datetime.now(CST)
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    for resource in ("101001/000002", "102001/000003"):
        for start, end in ((now - dt.timedelta(days=70, hours=5), None),
                           (month - dt.timedelta(days=40, minutes=3), month)):
            expected = await _counted(summaries, start, end, resource)
            assert expected
            assert await _summary(summaries, start, end, resource) == expected, (resource, start, end)


async def test_a_period_reaching_past_the_data_is_cut_to_it(summaries: Summaries) -> None:
    """Year 1 to 9999 is a valid request: it must answer what the log holds, and a period wholly beyond the data
    nothing, never INTERNAL (dates near 9999 overflowed) or DEADLINE_EXCEEDED (every month and hour since year 1
    was enumerated)."""
    earliest = dt.datetime(1, 1, 1, tzinfo=dt.UTC)
    latest = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
    everything = await _counted(summaries, None, None)
    assert everything
    assert await _summary(summaries, earliest, latest) == everything
    assert await _summary(summaries, earliest, None) == everything
    assert await _summary(summaries, latest - dt.timedelta(minutes=30), latest) == []
    assert await _summary(summaries, earliest, earliest + dt.timedelta(hours=10)) == []


async def test_a_window_that_ends_where_it_starts_is_refused(summaries: Summaries) -> None:
    """A window includes start_time and ends before end_time, so equal times select nothing: answered, an empty
    summary or page read as "no accesses then" (ListAdminEvents already refused it). ListAccesses, GetUsageSummary
    and the persons' view share the check; the first two are asked here."""
    moment = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    for start, end in ((moment, moment), (moment, moment - dt.timedelta(seconds=1))):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _summary(summaries, start, end)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "end_time: must be after start_time" in refused.value.details()
        request = audit_pb2.ListAccessesRequest()
        request.start_time.CopyFrom(_timestamp(start))
        request.end_time.CopyFrom(_timestamp(end))
        with pytest.raises(grpc.aio.AioRpcError) as listed:
            await summaries.audit.ListAccesses(request, metadata=summaries.metadata, timeout=30)
        assert listed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "end_time: must be after start_time" in listed.value.details()
    assert await _summary(summaries, moment, moment + dt.timedelta(microseconds=1)) == await _counted(
        summaries, moment, moment + dt.timedelta(microseconds=1))
