"""The foundation service over a real server, PostgreSQL and Redis.

The module gets its own database: which department is authoritative for a dataset is
global state (一数一源), and the tests here designate it freely (through the authority's
RPCs, as the platform does) without touching the session database that other modules seed.
"""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import json
import uuid
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime, timedelta

import asyncpg
import grpc
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from caller_metadata import CallerMetadata
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stdnum.cn import uscc

from govshare.foundation.v1 import foundation_pb2 as pb
from govshare.foundation.v1 import foundation_pb2_grpc
from govshare.provider.v1 import provider_pb2 as ppb
from govshare.provider.v1 import provider_pb2_grpc
from services.foundation import synthetic
from services.foundation.bulk import BulkLoadError, LoadProgress, ProgressPrinter, copy_dataset
from services.foundation.component import create_component
from services.foundation.datasets import DATASETS
from services.runtime import db
from services.runtime.cache import FOUNDATION_ENDPOINT, RECORDS_CHANGED, record_cache_key
from services.runtime.embedded import EmbeddedServers, create_database
from services.runtime.errors import details_of
from services.runtime.identity import Caller, service_caller
from services.runtime.server import RunningServer, start_server
from services.runtime.settings import Settings

pytestmark = pytest.mark.integration
module_fixture = pytest_asyncio.fixture(scope="module", loop_scope="session")

SEED = 2024
_indexes = itertools.count()  # every test draws fresh synthetic records: no two tests share a key


def department(serial: int) -> str:
    body = f"11110000MB{serial:07d}"
    return body + uscc.calc_check_digit(body)


AUTHORITY = Caller("sys-authority", department(1), authority=True)
POLICE = Caller("sys-police", department(2))  # authoritative for population
MARKET = Caller("sys-market", department(3))  # ... legal entities
RESOURCES = Caller("sys-resources", department(4))  # ... places (regions: designated by their own test)
SERVICES = Caller("sys-services", department(5))  # ... licences
CIVIL = Caller("sys-civil", department(7))  # another registered source of population and licence data
SOCIAL = Caller("sys-social", department(6))  # another registered source of population data
OUTSIDER = Caller("sys-outsider", department(8))  # a department no dataset has as a source
QUERY = service_caller("query")
DESIGNATED = (("population", POLICE), ("legal_entity", MARKET), ("place", RESOURCES), ("licence", SERVICES))
REGISTERED = (("population", CIVIL), ("population", SOCIAL), ("licence", CIVIL))


def fresh_persons(count: int) -> list[dict[str, str]]:
    return [synthetic.person(next(_indexes), SEED) for _ in range(count)]


def stamp(value: datetime) -> Timestamp:
    result = Timestamp()
    result.FromDatetime(value)
    return result


def rows(*records: dict[str, str], as_of: datetime | None = None) -> list[pb.RecordInput]:
    return [pb.RecordInput(values=r, as_of_time=stamp(as_of) if as_of else None) for r in records]


@module_fixture
async def foundation_db(embedded: EmbeddedServers) -> AsyncIterator[str]:
    name = f"govshare_foundation_{uuid.uuid4().hex[:8]}"
    url = await create_database(embedded.database_url, name)
    await db.migrate(url, "foundation")
    yield url
    conn = await asyncpg.connect(embedded.database_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@module_fixture
async def pool(foundation_db: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await db.create_pool(foundation_db, "foundation")
    yield pool
    await pool.close()


@module_fixture
async def server(base_settings: Settings, foundation_db: str, pool: asyncpg.Pool) -> AsyncIterator[RunningServer]:
    settings = base_settings.with_overrides(component="foundation", database_url=foundation_db)
    running = await start_server(settings, create_component(settings))
    yield running
    await running.stop(0)


@module_fixture
async def channel(server: RunningServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield channel


@pytest.fixture(scope="module")
def signer(base_settings: Settings) -> CallerMetadata:
    return CallerMetadata.of(base_settings)


@pytest.fixture(scope="module")
def admin(channel: grpc.aio.Channel) -> foundation_pb2_grpc.FoundationAdminServiceStub:
    return foundation_pb2_grpc.FoundationAdminServiceStub(channel)


@pytest.fixture(scope="module")
def provider(channel: grpc.aio.Channel) -> provider_pb2_grpc.ProviderServiceStub:
    return provider_pb2_grpc.ProviderServiceStub(channel)


class Calls:
    """The RPCs as a given caller makes them through the gateway (signed assertion metadata)."""

    def __init__(self, admin: foundation_pb2_grpc.FoundationAdminServiceStub,
                 provider: provider_pb2_grpc.ProviderServiceStub, signer: CallerMetadata) -> None:
        self.admin, self.provider, self.signer = admin, provider, signer

    async def load(self, caller: Caller, dataset: str, records: list[pb.RecordInput],
                   source: str = "") -> pb.LoadRecordsResponse:
        return await self.admin.LoadRecords(
            pb.LoadRecordsRequest(dataset=dataset, records=records, source_department_code=source),
            metadata=self.signer.metadata(caller))

    async def lookup(self, dataset: str, key: str) -> ppb.LookupResponse:
        return await self.provider.Lookup(ppb.LookupRequest(dataset=dataset, key=key),
                                          metadata=self.signer.metadata(QUERY))

    async def conflicts(self, caller: Caller, dataset: str = "population", state: int = pb.CONFLICT_STATE_OPEN,
                        key: str | None = None) -> list[pb.Conflict]:
        found, token = [], ""
        while True:
            page = await self.admin.ListConflicts(
                pb.ListConflictsRequest(dataset=dataset, state=state, page_size=100, page_token=token),
                metadata=self.signer.metadata(caller))
            found += [c for c in page.conflicts if key is None or c.key == key]
            token = page.next_page_token
            if not token:
                return found

    async def resolve(self, caller: Caller, conflict_id: int, adopt: bool, note: str = "") -> pb.Conflict:
        response = await self.admin.ResolveConflict(
            pb.ResolveConflictRequest(id=conflict_id, adopt_other_value=adopt, note=note),
            metadata=self.signer.metadata(caller))
        return response.conflict

    async def history(self, caller: Caller, dataset: str, key: str) -> list[pb.RecordVersion]:
        response = await self.admin.GetRecordHistory(pb.GetRecordHistoryRequest(dataset=dataset, key=key),
                                                     metadata=self.signer.metadata(caller))
        return list(response.versions)

    async def designate(self, caller: Caller, dataset: str, source: Caller, item: str = "") -> pb.DatasetSources:
        response = await self.admin.DesignateAuthoritativeSource(pb.DesignateAuthoritativeSourceRequest(
            dataset=dataset, item=item, department_code=source.department_code), metadata=self.signer.metadata(caller))
        return response.sources

    async def register(self, caller: Caller, dataset: str, source: Caller) -> pb.DatasetSources:
        response = await self.admin.RegisterSource(pb.RegisterSourceRequest(
            dataset=dataset, department_code=source.department_code), metadata=self.signer.metadata(caller))
        return response.sources

    async def sources(self, caller: Caller, dataset: str) -> pb.DatasetSources:
        response = await self.admin.ListSources(pb.ListSourcesRequest(dataset=dataset),
                                                metadata=self.signer.metadata(caller))
        return response.sources


@module_fixture
async def calls(admin: foundation_pb2_grpc.FoundationAdminServiceStub, provider: provider_pb2_grpc.ProviderServiceStub,
                signer: CallerMetadata) -> Calls:
    """The RPCs, once the authority has designated the module's sources (nobody is authoritative by loading)."""
    calls = Calls(admin, provider, signer)
    for dataset, source in DESIGNATED:
        await calls.designate(AUTHORITY, dataset, source)
    for dataset, source in REGISTERED:
        await calls.register(AUTHORITY, dataset, source)
    return calls


async def fails(call: Awaitable[object], code: grpc.StatusCode) -> tuple[str, set[str]]:
    """Awaits a call that must fail with ``code``; returns its ErrorInfo reason and violated fields."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == code, caught.value.details()
    info, bad = details_of(caught.value)
    return (info.reason if info else ""), {v.field for v in bad.field_violations} if bad else set()


# ---- loads ---------------------------------------------------------------------------------------------------------


async def test_a_load_keeps_the_good_records_and_names_every_bad_one(calls: Calls) -> None:
    good = fresh_persons(3)
    bad_check, bad_sex, unknown_item, missing_name = fresh_persons(4)
    bad_check = {**bad_check, "citizen_id": bad_check["citizen_id"][:17] + (
        "0" if bad_check["citizen_id"][17] != "0" else "1")}
    bad_sex = {**bad_sex, "sex": "女" if bad_sex["sex"] == "男" else "男"}
    unknown_item = {**unknown_item, "phone": "13800000000"}
    missing_name = {k: v for k, v in missing_name.items() if k != "name"}
    response = await calls.load(POLICE, "population", rows(good[0], bad_check, good[1], bad_sex, unknown_item,
                                                           good[2], missing_name))
    assert response.accepted == 3
    rejected = {r.index: r for r in response.rejected}
    assert sorted(rejected) == [1, 3, 4, 6]
    assert rejected[1].key == bad_check["citizen_id"] and "check character" in rejected[1].reasons[0]
    assert rejected[3].reasons[0].startswith("sex: ")
    assert rejected[4].reasons[0].startswith("phone: unknown item")
    assert list(rejected[6].reasons) == ["name: required"]
    for record in good:
        found = await calls.lookup("population", record["citizen_id"])
        assert found.found and dict(found.record.values) == record
        assert found.record.source_department_code == POLICE.department_code
    assert not (await calls.lookup("population", bad_sex["citizen_id"])).found


async def test_an_as_of_time_of_the_greatest_timestamp_is_its_records_rejection(calls: Calls) -> None:
    """9999-12-31T23:59:59Z, the greatest Timestamp (a system's time for "never"), has no Beijing time: the load was
    answered INTERNAL (OverflowError saying the rejection), the good record with it refused too."""
    good, never = fresh_persons(2)
    answer = await calls.load(POLICE, "population", [
        *rows(good), *rows(never, as_of=datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC))])
    assert answer.accepted == 1
    assert [(r.index, list(r.reasons)) for r in answer.rejected] == [
        (1, ["as_of_time: 9999-12-31 23:59:59+00:00 is in the future"])]



async def test_a_name_holding_a_rare_character_of_a_recent_cjk_extension_is_loaded_and_a_made_one_is_named(
        calls: Calls) -> None:
    """Names hold rare characters: 𠮷 (Extension B), and those Unicode encoded lately for people's and places'
    names, U+2EBF0 (Extension I, 15.1) and U+31350 (Extension H, 15.0), which Python 3.11's Unicode 14.0 does not
    know: the record was refused "name: … character 1 is U+2EBF0 (Cn): remove it", the person left out of the
    population database unless their name was changed. A private-use character (造字, a department's own font) is
    still refused, saying to write the standard character instead of to remove it."""
    recent, ideograph_b, made = fresh_persons(3)
    recent["name"] = "\U0002ebf0\U00031350·买买提"
    ideograph_b["name"] = "\U00020bb7大明"
    made["name"] = "张\ue3a1"
    response = await calls.load(POLICE, "population", rows(recent, ideograph_b, made))
    assert response.accepted == 2, list(response.rejected)
    assert [r.index for r in response.rejected] == [2]
    reason = response.rejected[0].reasons[0]
    assert reason.startswith("name: must contain only printable characters: character 2 is U+E3A1 (a private-use "
                             "character") and "remove it" not in reason and "张" not in reason, reason
    for record in (recent, ideograph_b):
        found = await calls.lookup("population", record["citizen_id"])
        assert found.found and found.record.values["name"] == record["name"]


async def test_a_collective_whose_code_begins_with_its_registering_authoritys_letter_is_loaded_and_found(
        calls: Calls) -> None:
    """GB 32100 lets the registering authority's code (character 1) and the category (character 2) be letters:
    a 村集体经济组织 registered by the 农业农村 department holds N2…, others Y…. python-stdnum asks for digits there,
    and the record was rejected "credit_code: 统一社会信用代码 must use the characters 0-9 and ABCDEFGHJKLMNPQRTUWXY",
    which it does. It is loaded and found; a letter among the region code's digits (characters 3 to 8) is named."""
    collective, other, misplaced = (synthetic.entity(next(_indexes), SEED) for _ in range(3))
    collective["credit_code"] = department(9).replace("11", "N2", 1)[:17]
    collective["credit_code"] += uscc.calc_check_digit(collective["credit_code"])
    collective["entity_type"] = "农村集体经济组织"
    other["credit_code"] = "Y1" + other["credit_code"][2:17]
    other["credit_code"] += uscc.calc_check_digit(other["credit_code"])
    body = misplaced["credit_code"][:2] + "B" + misplaced["credit_code"][3:17]
    misplaced["credit_code"] = body + uscc.calc_check_digit(body)
    response = await calls.load(MARKET, "legal_entity", rows(collective, other, misplaced))
    assert response.accepted == 2, list(response.rejected)
    assert [list(r.reasons) for r in response.rejected] == [[
        "credit_code: 统一社会信用代码 must have digits at characters 3 to 8 (the registering authority's region "
        "code): character 3 is the letter B, which it cannot hold there (the digit 8?)"]]
    for record in (collective, other):
        found = await calls.lookup("legal_entity", record["credit_code"])
        assert found.found and found.record.values["entity_type"] == record["entity_type"]

async def test_a_file_under_chinese_column_headers_is_rejected_row_by_row_in_a_reply_a_client_takes(
        calls: Calls) -> None:
    """5,000 rows (the most a call takes) keyed 公民身份号码, 姓名, … instead of the items' names: every row is
    rejected, naming its unknown items, in a reply under a gRPC client's default 4 MiB (it was 5.8 MB, and the
    client got RESOURCE_EXHAUSTED instead of the report)."""
    headers = {"citizen_id": "公民身份号码", "name": "姓名", "sex": "性别", "ethnicity": "民族",
               "birth_date": "出生日期", "address": "住址", "address_region_code": "住址行政区划代码",
               "status": "人口状态"}
    people = fresh_persons(5000)
    response = await calls.load(POLICE, "population", rows(*({headers[i]: v for i, v in p.items() if i in headers}
                                                             for p in people)))
    assert response.accepted == 0 and len(response.rejected) == 5000
    reasons = list(response.rejected[4999].reasons)
    assert reasons[0].startswith("人口状态: unknown item (this dataset has citizen_id, name, ")
    assert "公民身份号码: unknown item" in reasons and "citizen_id: required" in reasons
    assert response.ByteSize() < 4 * 1024 * 1024



async def test_a_long_value_in_the_wrong_column_is_quoted_in_part_in_a_reply_a_client_takes(calls: Calls) -> None:
    """A value pasted into the wrong column (1,000 characters under 性别) was quoted whole in its reason: 1,500 such
    records, a 4.5 MB call the server takes, were answered in more than a gRPC client's default 4 MiB, and the
    business system got RESOURCE_EXHAUSTED of a load that had been committed (the good record in it loaded). The
    reason quotes the value's first characters and says its length."""
    people = fresh_persons(1500)
    for person in people[1:]:
        person["sex"] = "男" * 1000
    response = await calls.load(POLICE, "population", rows(*people))
    assert response.accepted == 1 and len(response.rejected) == 1499
    assert list(response.rejected[0].reasons) == [
        f"sex: '{'男' * 30}'… (1,000 characters) is not in its code table: did you mean 男? (expected 男/女)"]
async def test_a_non_authoritative_source_never_overwrites_and_its_disagreements_become_conflicts(
        calls: Calls) -> None:
    (record,) = fresh_persons(1)
    await calls.load(POLICE, "population", rows(record))
    other = {**record, "name": record["name"] + "某", "address": "北京市东城区另一条路9号"}
    response = await calls.load(CIVIL, "population", rows(other))
    assert (response.accepted, response.conflicts, list(response.rejected)) == (1, 2, [])
    found = await calls.lookup("population", record["citizen_id"])
    assert dict(found.record.values) == record
    assert found.record.source_department_code == POLICE.department_code

    conflicts = await calls.conflicts(AUTHORITY, key=record["citizen_id"])
    assert {(c.item, c.authoritative_value, c.other_value) for c in conflicts} == {
        ("name", record["name"], other["name"]), ("address", record["address"], other["address"])}
    assert {c.other_source_department_code for c in conflicts} == {CIVIL.department_code}
    assert all(c.state == pb.CONFLICT_STATE_OPEN and c.dataset == "population" for c in conflicts)
    assert len(await calls.conflicts(POLICE, key=record["citizen_id"])) == 2  # the authoritative source
    assert len(await calls.conflicts(CIVIL, key=record["citizen_id"])) == 2  # the source that disagreed
    assert await calls.conflicts(SOCIAL, key=record["citizen_id"]) == []  # nobody else

    again = await calls.load(CIVIL, "population", rows(other))
    assert again.conflicts == 2
    assert len(await calls.conflicts(AUTHORITY, key=record["citizen_id"])) == 2  # updated, not duplicated


async def test_a_minority_name_whose_dot_two_sources_typed_otherwise_is_no_conflict(calls: Calls) -> None:
    """The police typed 阿依古丽·买买提 (U+00B7), the civil affairs system 阿依古丽•买买提 (a bullet): a conflict on
    the name, about nothing, which the police had to resolve and supervision counted open. The 间隔号 is U+00B7
    however it was typed between two Chinese characters."""
    (record,) = fresh_persons(1)
    await calls.load(POLICE, "population", rows({**record, "name": "阿依古丽·买买提"}))
    response = await calls.load(CIVIL, "population", rows({**record, "name": "阿依古丽•买买提"}))
    assert (response.accepted, response.conflicts) == (1, 0)
    assert await calls.conflicts(AUTHORITY, key=record["citizen_id"]) == []
    await calls.load(POLICE, "population", rows({**record, "name": "阿依古丽.买买提"}))
    found = (await calls.lookup("population", record["citizen_id"])).record
    assert found.values["name"] == "阿依古丽·买买提"
    assert len(await calls.history(POLICE, "population", record["citizen_id"])) == 1  # no new version


async def test_resolving_conflicts_by_keeping_or_adopting(calls: Calls, pool: asyncpg.Pool) -> None:
    (record,) = fresh_persons(1)
    key = record["citizen_id"]
    await calls.load(POLICE, "population", rows(record))
    other = {**record, "name": record["name"] + "某", "address": "北京市西城区新街口1号"}
    await calls.load(CIVIL, "population", rows(other))
    by_item = {c.item: c for c in await calls.conflicts(AUTHORITY, key=key)}

    # A department the conflict is none of the business of does not learn that it exists.
    await fails(calls.resolve(SOCIAL, by_item["address"].id, True), grpc.StatusCode.NOT_FOUND)
    reason, _ = await fails(calls.resolve(CIVIL, by_item["address"].id, True), grpc.StatusCode.PERMISSION_DENIED)
    assert reason == "NOT_AUTHORITATIVE_SOURCE"

    adopted = await calls.resolve(POLICE, by_item["address"].id, adopt=True)
    assert adopted.state == pb.CONFLICT_STATE_RESOLVED and adopted.resolution.startswith("ADOPT_OTHER_VALUE")
    current = (await calls.lookup("population", key)).record
    assert current.values["address"] == other["address"] and current.values["name"] == record["name"]
    versions = await calls.history(POLICE, "population", key)
    assert [v.values["address"] for v in versions] == [other["address"], record["address"]]

    reason, _ = await fails(calls.resolve(AUTHORITY, by_item["name"].id, False), grpc.StatusCode.PERMISSION_DENIED)
    assert reason == "NOT_AUTHORITATIVE_SOURCE"  # the authority designates sources, it does not pick values
    # Both refusals are in the administrative log's outbox, with who tried (they left no trace before).
    refused = await pool.fetch(
        "SELECT target, actor_department_code, result FROM admin_outbox WHERE action = 'foundation.resolve_conflict'"
        " AND result <> 'OK' AND target = ANY($1::text[]) ORDER BY id",
        [f"conflict/{by_item['address'].id}", f"conflict/{by_item['name'].id}"])
    assert [tuple(r) for r in refused] == [
        (f"conflict/{by_item['address'].id}", CIVIL.department_code, "NOT_AUTHORITATIVE_SOURCE"),
        (f"conflict/{by_item['name'].id}", AUTHORITY.department_code, "NOT_AUTHORITATIVE_SOURCE")]
    kept = await calls.resolve(POLICE, by_item["name"].id, adopt=False, note="以户籍底册为准")
    assert kept.resolution == "KEEP_AUTHORITATIVE_VALUE: 以户籍底册为准"
    assert (kept.authoritative_value, kept.authoritative_department_code) == (record["name"], POLICE.department_code)
    assert not kept.authoritative_value_withheld
    assert (await calls.lookup("population", key)).record.values["name"] == record["name"]

    reason, _ = await fails(calls.resolve(POLICE, by_item["name"].id, True), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "CONFLICT_RESOLVED"
    await fails(calls.resolve(POLICE, 10**12, True), grpc.StatusCode.NOT_FOUND)

    # The other source says the same again: the address now agrees and the name was dismissed.
    assert (await calls.load(CIVIL, "population", rows(other))).conflicts == 0
    assert await calls.conflicts(AUTHORITY, key=key) == []


async def test_a_note_typed_in_chinese_with_a_full_width_space_or_lines_from_windows_is_taken(calls: Calls) -> None:
    """A note was refused 'must not contain control characters' for a full-width space (全角空格, typed between a
    Chinese note's phrases) and for the CR of a Windows client's line breaks; a zero-width space is still refused,
    named."""
    (record,) = fresh_persons(1)
    key = record["citizen_id"]
    await calls.load(POLICE, "population", rows(record))
    other = {**record, "name": record["name"] + "某", "address": "北京市西城区新街口3号"}
    assert (await calls.load(CIVIL, "population", rows(other))).conflicts == 2
    by_item = {c.item: c for c in await calls.conflicts(POLICE, key=key)}
    kept = await calls.resolve(POLICE, by_item["name"].id, adopt=False, note="以户籍底册为准　见附件")
    assert kept.resolution == "KEEP_AUTHORITATIVE_VALUE: 以户籍底册为准　见附件"
    _, fields = await fails(calls.resolve(POLICE, by_item["address"].id, False, note="以户籍\u200b底册为准"),
                            grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == {"note"}
    kept = await calls.resolve(POLICE, by_item["address"].id, adopt=False, note="核实经过：\r\n1. 调阅户籍底册\r\n")
    assert kept.resolution == "KEEP_AUTHORITATIVE_VALUE: 核实经过：\n1. 调阅户籍底册"


async def test_a_resolution_sent_again_is_answered_as_made_and_another_decision_says_how_it_was_decided(
        calls: Calls, pool: asyncpg.Pool) -> None:
    """The 编目员 whose answer was lost (or whose form went twice) sent the same decision again and was refused
    'conflict N is already resolved', saying neither that it was their own decision nor what it was. The same
    decision by the same caller is answered as it was made (nothing written again, nothing logged twice); another
    decision is refused naming the resolution and the department that made it."""
    (record,) = fresh_persons(1)
    key = record["citizen_id"]
    await calls.load(POLICE, "population", rows(record))
    await calls.load(CIVIL, "population", rows({**record, "address": "北京市西城区新街口4号"}))
    (conflict,) = await calls.conflicts(POLICE, key=key)
    kept = await calls.resolve(POLICE, conflict.id, adopt=False, note="以户籍底册为准")
    again = await calls.resolve(POLICE, conflict.id, adopt=False, note="以户籍底册为准")
    assert again == kept
    logged = await pool.fetchval("SELECT count(*) FROM admin_outbox WHERE action = 'foundation.resolve_conflict' "
                                 "AND target = $1 AND result = 'OK'", f"conflict/{conflict.id}")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await calls.resolve(POLICE, conflict.id, adopt=True)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert refused.value.details() == (
        f"conflict {conflict.id} was resolved already (KEEP_AUTHORITATIVE_VALUE, by department "
        f"{POLICE.department_code}): ListConflicts with state CONFLICT_STATE_RESOLVED shows how")
    assert logged == 1  # the resolution, once (this module's outbox is not relayed)


async def test_a_licence_number_typed_in_full_width_is_the_record_of_its_ascii_form(calls: Calls) -> None:
    """Loaded in full width, the licence is stored under its ASCII number; looked up (one key or a batch) or its
    history read in either form, the same record is found; loaded again in ASCII, it is that record's new version."""
    (holder,) = fresh_persons(1)
    number = f"JSZ{uuid.uuid4().hex[:12].upper()}"
    wide = number.translate({code: code + 0xFEE0 for code in range(0x21, 0x7F)})
    licence = {"licence_number": wide, "licence_type": "机动车驾驶证", "holder_id": holder["citizen_id"],
               "holder_name": holder["name"], "issuing_authority": "北京市公安局交通警察支队",
               "issue_date": "2015-03-01", "valid_until": "2021-03-01", "status": "过期"}
    assert (await calls.load(SERVICES, "licence", rows(licence))).accepted == 1
    for typed in (number, wide):
        found = await calls.lookup("licence", typed)
        assert found.found and found.record.key == number
    batch = await calls.provider.BatchLookup(ppb.BatchLookupRequest(dataset="licence", keys=[wide]),
                                             metadata=calls.signer.metadata(QUERY))
    assert [r.key for r in batch.records] == [number]
    await calls.load(SERVICES, "licence", rows({**licence, "licence_number": number, "status": "注销"}))
    assert [v.values["status"] for v in await calls.history(SERVICES, "licence", wide)] == ["注销", "过期"]


async def test_a_load_extracted_before_an_adoption_is_not_refused_as_older_than_it(calls: Calls) -> None:
    """Adopting the other source's value wrote the record as of the moment of the resolution, so the police's
    next daily load, extracted that morning before the 编目员 resolved the conflict (but after everything the police
    had loaded), was refused whole for that person as 'older than the stored values', its corrections of every other
    item with it. An adoption keeps the record's as-of time: it changes one item, it asserts nothing newer."""
    (record,) = fresh_persons(1)
    key = record["citizen_id"]
    now = datetime.now(UTC)
    await calls.load(POLICE, "population", rows(record, as_of=now - timedelta(hours=3)))
    other = {**record, "address": "北京市西城区新街口5号"}
    assert (await calls.load(CIVIL, "population", rows(other, as_of=now - timedelta(hours=2)))).conflicts == 1
    (conflict,) = await calls.conflicts(POLICE, key=key)
    await calls.resolve(POLICE, conflict.id, adopt=True)
    extracted = {**other, "status": "迁出" if record["status"] != "迁出" else "正常"}
    response = await calls.load(POLICE, "population", rows(extracted, as_of=now - timedelta(hours=1)))
    assert (response.accepted, list(response.rejected)) == (1, [])
    found = (await calls.lookup("population", key)).record
    assert dict(found.values) == extracted
    assert found.as_of_time.ToDatetime(tzinfo=UTC) == now - timedelta(hours=1)


async def test_adopting_a_value_that_would_make_the_record_invalid_is_refused(calls: Calls) -> None:
    (holder,) = fresh_persons(1)
    licence = {"licence_number": f"JSZ{uuid.uuid4().hex[:12]}", "licence_type": "机动车驾驶证",
               "holder_id": holder["citizen_id"], "holder_name": holder["name"],
               "issuing_authority": "北京市公安局交通警察支队", "issue_date": "2015-03-01",
               "valid_until": "2021-03-01", "status": "过期"}
    renewed = {**licence, "issue_date": "2021-06-01", "valid_until": "2027-06-01", "status": "有效"}
    await calls.load(SERVICES, "licence", rows(licence))
    assert (await calls.load(CIVIL, "licence", rows(renewed))).conflicts == 3
    by_item = {c.item: c for c in await calls.conflicts(SERVICES, "licence", key=licence["licence_number"])}
    reason, _ = await fails(calls.resolve(SERVICES, by_item["issue_date"].id, adopt=True),
                            grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "ADOPTION_INVALID"  # valid_until 2021-03-01 would precede the issue date
    await calls.resolve(SERVICES, by_item["valid_until"].id, adopt=True)
    await calls.resolve(SERVICES, by_item["issue_date"].id, adopt=True)
    current = (await calls.lookup("licence", licence["licence_number"])).record
    assert (current.values["issue_date"], current.values["valid_until"]) == ("2021-06-01", "2027-06-01")
    assert current.source_department_code == SERVICES.department_code


async def test_an_authoritative_change_closes_conflicts_that_now_agree(calls: Calls) -> None:
    (record,) = fresh_persons(1)
    await calls.load(POLICE, "population", rows(record))
    other = {**record, "address": "北京市海淀区中关村大街1号"}
    assert (await calls.load(CIVIL, "population", rows(other))).conflicts == 1
    assert (await calls.load(POLICE, "population", rows(other))).conflicts == 0
    assert await calls.conflicts(AUTHORITY, key=record["citizen_id"]) == []
    closed = await calls.conflicts(AUTHORITY, state=pb.CONFLICT_STATE_RESOLVED, key=record["citizen_id"])
    assert [c.resolution for c in closed] == ["VALUES_AGREE"]


async def test_a_conflict_on_a_value_its_source_no_longer_gives_is_closed_not_left_to_adopt(calls: Calls) -> None:
    """The other source's next load leaves the item empty (its latest values are kept whole): the conflict it had
    raised stayed open, the police asked to keep or adopt an address nobody asserted any more (adopting wrote it
    into the record) and supervision counted it open. It is closed VALUE_WITHDRAWN; given again, it is raised
    again."""
    (record,) = fresh_persons(1)
    key = record["citizen_id"]
    await calls.load(POLICE, "population", rows(record))
    other = {**record, "address": "北京市西城区新街口2号"}
    assert (await calls.load(CIVIL, "population", rows(other))).conflicts == 1
    (raised,) = await calls.conflicts(POLICE, key=key)
    without = {item: value for item, value in other.items() if item != "address"}
    assert (await calls.load(CIVIL, "population", rows(without))).accepted == 1
    assert await calls.conflicts(AUTHORITY, key=key) == []
    (closed,) = await calls.conflicts(AUTHORITY, state=pb.CONFLICT_STATE_RESOLVED, key=key)
    assert (closed.id, closed.item, closed.resolution) == (raised.id, "address", "VALUE_WITHDRAWN")
    reason, _ = await fails(calls.resolve(POLICE, raised.id, adopt=True), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "CONFLICT_RESOLVED"
    assert (await calls.lookup("population", key)).record.values.get("address", "") == record.get("address", "")
    assert (await calls.load(CIVIL, "population", rows(other))).conflicts == 1  # said again: disagreeing again


async def test_other_sources_values_are_cross_checked_when_the_authoritative_record_arrives(calls: Calls) -> None:
    (record,) = fresh_persons(1)
    other = {**record, "status": "迁出" if record["status"] != "迁出" else "正常"}
    assert (await calls.load(CIVIL, "population", rows(other))).conflicts == 0  # nothing to disagree with yet
    assert not (await calls.lookup("population", record["citizen_id"])).found
    assert (await calls.load(POLICE, "population", rows(record))).conflicts == 1
    (conflict,) = await calls.conflicts(POLICE, key=record["citizen_id"])
    assert (conflict.item, conflict.authoritative_value, conflict.other_value) == (
        "status", record["status"], other["status"])


async def test_history_keeps_every_superseded_version(calls: Calls) -> None:
    (record,) = fresh_persons(1)
    key = record["citizen_id"]
    await calls.load(POLICE, "population", rows(record))
    moved = {**record, "address": "天津市和平区南京路100号", "address_region_code": "120101"}
    await calls.load(POLICE, "population", rows(moved))
    await calls.load(POLICE, "population", rows(moved))  # re-asserted unchanged: no new version
    versions = await calls.history(POLICE, "population", key)
    assert [dict(v.values) for v in versions] == [moved, record]
    assert versions[0].recorded_time.ToDatetime() >= versions[1].recorded_time.ToDatetime()
    assert len(await calls.history(AUTHORITY, "population", key.lower())) == 2
    typed = key.translate({code: code + 0xFEE0 for code in range(0x21, 0x7F)})  # a Chinese input method's
    assert len(await calls.history(AUTHORITY, "population", f"{typed}\u3000")) == 2
    reason, _ = await fails(calls.history(CIVIL, "population", key), grpc.StatusCode.PERMISSION_DENIED)
    assert reason == "NOT_AUTHORITATIVE_SOURCE"
    (unknown,) = fresh_persons(1)
    await fails(calls.history(POLICE, "population", unknown["citizen_id"]), grpc.StatusCode.NOT_FOUND)


async def test_a_records_whole_history_is_read_a_page_at_a_time(calls: Calls, pool: asyncpg.Pool) -> None:
    """The answer held the current version and the newest 1,000 superseded ones, and said nothing of the older:
    a record changed daily for three years lost its first versions without a word, though the call is documented
    as a record's every version. It pages now, newest first, the current version first on the first page."""
    (record,) = fresh_persons(1)
    key = record["citizen_id"]
    await calls.load(POLICE, "population", rows(record))
    # 1,001 superseded versions, the oldest written first (as loads write them), v1 the newest.
    await pool.execute(
        "INSERT INTO record_history (dataset, key, item_values, source_department_code, as_of_time, recorded_time) "
        "SELECT 'population', $1, jsonb_build_object('citizen_id', $1::text, 'name', 'v' || n), $2, "
        "now() - make_interval(days => n), now() - make_interval(days => n) "
        "FROM generate_series(1, 1001) AS n ORDER BY n DESC", key, POLICE.department_code)

    async def page(size: int, token: str = "", typed: str = key) -> pb.GetRecordHistoryResponse:
        return await calls.admin.GetRecordHistory(
            pb.GetRecordHistoryRequest(dataset="population", key=typed, page_size=size, page_token=token),
            metadata=calls.signer.metadata(POLICE))

    names, token, pages = [], "", 0
    while True:
        answer = await page(1000, token)
        names += [v.values["name"] for v in answer.versions]
        pages += 1
        if not (token := answer.next_page_token):
            break
    assert (pages, names) == (2, [record["name"], *(f"v{n}" for n in range(1, 1002))])
    first = await page(0)  # the default page: 50, and a token for the rest
    assert len(first.versions) == 50 and first.next_page_token
    single = await page(1)
    assert [v.values["name"] for v in single.versions] == [record["name"]]
    assert [v.values["name"] for v in (await page(2, single.next_page_token)).versions] == ["v1", "v2"]
    reason, bad = await fails(page(2, single.next_page_token[:-2]), grpc.StatusCode.INVALID_ARGUMENT)
    assert bad == {"page_token"}
    (other,) = fresh_persons(1)
    reason, bad = await fails(page(2, single.next_page_token, other["citizen_id"]), grpc.StatusCode.INVALID_ARGUMENT)
    assert (reason, bad) == ("PAGE_TOKEN_MISMATCH", {"page_token"})  # another record's history


async def test_an_older_assertion_does_not_turn_the_clock_back(calls: Calls) -> None:
    (record,) = fresh_persons(1)
    now = datetime.now(UTC)
    await calls.load(POLICE, "population", rows(record, as_of=now - timedelta(hours=1)))
    older = {**record, "status": "迁出" if record["status"] != "迁出" else "正常"}
    response = await calls.load(POLICE, "population", rows(older, as_of=now - timedelta(hours=2)))
    assert response.accepted == 0 and "older than the stored values" in response.rejected[0].reasons[0]
    found = (await calls.lookup("population", record["citizen_id"])).record
    assert found.values["status"] == record["status"]
    assert found.as_of_time.ToDatetime(tzinfo=UTC) == now - timedelta(hours=1)


async def test_a_later_record_of_a_key_whose_first_was_older_than_the_stored_one_is_judged_on_its_own(
        calls: Calls) -> None:
    """One call of [K as of T0, K as of T2] with K stored as of T1: the first is older than the stored values and
    rejected so; the second was rejected as a repeat of it (a record that was no record), and K's values of T2 went
    nowhere. It is judged on its own against T1 and kept; a third of K after it is still a repeat of it. So for a
    cross-checking source's kept values too."""
    now = datetime.now(UTC)
    for caller in (POLICE, CIVIL):
        (record,) = fresh_persons(1)
        await calls.load(POLICE, "population", rows(record, as_of=now - timedelta(hours=3)))
        if caller is CIVIL:
            await calls.load(CIVIL, "population", rows(record, as_of=now - timedelta(hours=2)))
        older, newer = ({**record, "address": f"北京市东城区{street}"} for street in ("东四街道", "朝阳门街道"))
        response = await calls.load(caller, "population", [*rows(older, as_of=now - timedelta(hours=4)),
                                                           *rows(newer, newer, as_of=now - timedelta(hours=1))])
        assert response.accepted == 1, (caller, response)
        assert response.rejected[0].index == 0 and "older than the stored values" in response.rejected[0].reasons[0]
        assert [(r.index, list(r.reasons)) for r in response.rejected[1:]] == [
            (2, ["citizen_id: repeats record #1 of this load"])]
        if caller is POLICE:
            found = (await calls.lookup("population", record["citizen_id"])).record
            assert (found.values["address"], found.as_of_time.ToDatetime(tzinfo=UTC)) == (
                newer["address"], now - timedelta(hours=1))
        else:  # kept to be cross-checked: its address raised against the record's
            (conflict,) = await calls.conflicts(CIVIL, key=record["citizen_id"])
            assert (conflict.item, conflict.other_value) == ("address", newer["address"])


async def test_a_later_record_of_a_key_whose_first_an_item_sources_value_does_not_fit_is_judged_on_its_own(
        calls: Calls) -> None:
    """One call of [L, L'] where the item source's valid_until does not fit L (issued after it) but fits L': L was
    rejected so, and L' as a repeat of it, a record that was no record. L' is judged on its own and loaded; so
    is the item source's own L' after an L whose valid_until does not fit the record."""
    # Held by an organisation: a person's licence may be issued within 30 days of their birth (early, below).
    licence = {k: v for k, v in synthetic.licence(next(_indexes), SEED, persons=0).items() if k != "valid_until"}
    issued = datetime.fromisoformat(licence["issue_date"])
    until = (issued + timedelta(days=30)).date().isoformat()
    await calls.load(SERVICES, "licence", rows(licence))
    await calls.load(CIVIL, "licence", rows({**licence, "valid_until": until}))
    await calls.designate(AUTHORITY, "licence", CIVIL, item="valid_until")
    try:
        late = {**licence, "issue_date": (issued + timedelta(days=31)).date().isoformat()}
        renamed = {**licence, "holder_name": licence["holder_name"] + "（更名）"}
        response = await calls.load(SERVICES, "licence", rows(late, renamed))
        assert [(r.index, list(r.reasons)) for r in response.rejected] == [
            (0, ["valid_until: the value of its authoritative source does not fit the record's other items"])]
        assert response.accepted == 1
        found = (await calls.lookup("licence", licence["licence_number"])).record
        assert (found.values["holder_name"], found.values["valid_until"]) == (renamed["holder_name"], until)
        # The item's source itself: its valid_until before the record's issue_date does not fit, its next one does.
        early = {**licence, "issue_date": (issued - timedelta(days=30)).date().isoformat(),
                 "valid_until": (issued - timedelta(days=1)).date().isoformat()}
        later = {**licence, "valid_until": (issued + timedelta(days=60)).date().isoformat()}
        response = await calls.load(CIVIL, "licence", rows(early, later))
        assert [(r.index, list(r.reasons)) for r in response.rejected] == [
            (0, ["valid_until: the value of its authoritative source does not fit the record's other items"])]
        found = (await calls.lookup("licence", licence["licence_number"])).record
        assert found.values["valid_until"] == later["valid_until"]
    finally:
        await calls.designate(AUTHORITY, "licence", SERVICES, item="valid_until")


async def test_a_dataset_without_an_authoritative_source_refuses_every_load(calls: Calls, pool: asyncpg.Pool,
                                                                          signer: CallerMetadata) -> None:
    """No "first loader wins": until the authority designates the source, nobody loads, not even a source."""
    listed = {d.name: d for d in (await calls.admin.ListDatasets(
        pb.ListDatasetsRequest(), metadata=signer.metadata(SOCIAL))).datasets}
    assert listed["region"].authoritative_department_code == ""
    regions = [r for r in synthetic.regions() if r["region_code"].startswith("11")][:5]
    await calls.register(AUTHORITY, "region", RESOURCES)
    reason, _ = await fails(calls.load(RESOURCES, "region", rows(*regions)), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "NO_AUTHORITATIVE_SOURCE"
    reason, _ = await fails(calls.load(AUTHORITY, "region", rows(*regions), source=RESOURCES.department_code),
                            grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "NO_AUTHORITATIVE_SOURCE"
    with pytest.raises(PermissionError, match="no authoritative source"):
        await copy_dataset(pool, "region", RESOURCES.department_code, regions)
    assert not (await calls.lookup("region", regions[0]["region_code"])).found
    listed = {d.name: d for d in (await calls.admin.ListDatasets(
        pb.ListDatasetsRequest(), metadata=signer.metadata(SOCIAL))).datasets}
    assert listed["region"].authoritative_department_code == ""

    await calls.designate(AUTHORITY, "region", RESOURCES)
    assert (await calls.load(RESOURCES, "region", rows(*regions))).accepted == 5
    renamed = {**regions[0], "name": "北京"}
    reason, _ = await fails(calls.load(SOCIAL, "region", rows(renamed)), grpc.StatusCode.PERMISSION_DENIED)
    assert reason == "NOT_A_SOURCE"  # a source of population is not a source of regions
    assert (await calls.lookup("region", regions[0]["region_code"])).record.values["name"] == regions[0]["name"]


async def test_the_authority_loads_on_behalf_of_a_department(calls: Calls) -> None:
    (record,) = fresh_persons(1)
    response = await calls.load(AUTHORITY, "population", rows(record), source=POLICE.department_code)
    assert response.accepted == 1
    found = await calls.lookup("population", record["citizen_id"])
    assert found.record.source_department_code == POLICE.department_code


# ---- sources and their designation (一数一源) ------------------------------------------------------------------


async def test_a_department_that_is_not_a_registered_source_loads_nothing_and_reads_nothing(calls: Calls) -> None:
    """A dummy row for somebody's 公民身份号码 must not become a way to read their record back."""
    (record,) = fresh_persons(1)
    await calls.load(POLICE, "population", rows(record))
    dummy = {**record, "name": "某某", "address": "某地",
             "ethnicity": "汉族" if record["ethnicity"] != "汉族" else "回族"}
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await calls.load(OUTSIDER, "population", rows(dummy))
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert details_of(caught.value)[0].reason == "NOT_A_SOURCE"
    assert "RegisterSource" in caught.value.details() and record["name"] not in caught.value.details()
    reason, _ = await fails(calls.load(AUTHORITY, "population", rows(dummy), source=OUTSIDER.department_code),
                            grpc.StatusCode.PERMISSION_DENIED)
    assert reason == "NOT_A_SOURCE"  # the authority cannot load in the name of a department that is no source
    reason, _ = await fails(calls.load(OUTSIDER, "population", []), grpc.StatusCode.PERMISSION_DENIED)
    assert reason == "NOT_A_SOURCE"  # refused whatever the rows

    assert await calls.conflicts(OUTSIDER, key=record["citizen_id"]) == []
    assert await calls.conflicts(AUTHORITY, key=record["citizen_id"]) == []  # nothing was kept
    assert dict((await calls.lookup("population", record["citizen_id"])).record.values) == record


async def test_a_non_authoritative_source_sees_its_own_values_and_never_the_authoritative_ones(calls: Calls) -> None:
    (record,) = fresh_persons(1)
    key = record["citizen_id"]
    await calls.load(POLICE, "population", rows(record))
    dummy = {**record, "name": "某某", "address": "某地某号",
             "status": "死亡" if record["status"] != "死亡" else "正常",
             "ethnicity": "汉族" if record["ethnicity"] != "汉族" else "回族"}
    assert (await calls.load(CIVIL, "population", rows(dummy))).conflicts == 4

    mine = await calls.conflicts(CIVIL, key=key)
    assert {(c.item, c.other_value) for c in mine} == {
        ("name", "某某"), ("address", "某地某号"), ("status", dummy["status"]), ("ethnicity", dummy["ethnicity"])}
    assert all(c.authoritative_value == "" and c.authoritative_value_withheld for c in mine)
    assert all(c.authoritative_department_code == POLICE.department_code for c in mine)
    shown = b"".join(c.SerializeToString() for c in mine)
    for item in ("name", "address", "status", "ethnicity"):
        assert record[item].encode() not in shown, item

    for viewer in (POLICE, AUTHORITY):  # the authoritative source and the authority see both sides
        both = {c.item: c for c in await calls.conflicts(viewer, key=key)}
        assert {item: (c.authoritative_value, c.other_value) for item, c in both.items()} == {
            item: (record[item], dummy[item]) for item in ("name", "address", "status", "ethnicity")}
        assert not any(c.authoritative_value_withheld for c in both.values())


async def test_only_the_authority_registers_and_designates_sources_and_every_designation_is_kept(
        calls: Calls, signer: CallerMetadata) -> None:
    for caller in (POLICE, CIVIL, QUERY):
        reason, _ = await fails(calls.designate(caller, "population", CIVIL), grpc.StatusCode.PERMISSION_DENIED)
        assert reason == "AUTHORITY_ONLY"
        reason, _ = await fails(calls.designate(caller, "population", CIVIL, item="status"),
                                grpc.StatusCode.PERMISSION_DENIED)
        assert reason == "AUTHORITY_ONLY"
        reason, _ = await fails(calls.register(caller, "population", OUTSIDER), grpc.StatusCode.PERMISSION_DENIED)
        assert reason == "AUTHORITY_ONLY"
    reason, _ = await fails(calls.sources(OUTSIDER, "population"), grpc.StatusCode.PERMISSION_DENIED)
    assert reason == "AUTHORITY_ONLY"

    listed = await calls.sources(CIVIL, "population")  # a source sees who the others are
    assert listed.authoritative_department_code == POLICE.department_code
    assert {s.department_code for s in listed.sources} >= {POLICE.department_code, CIVIL.department_code,
                                                            SOCIAL.department_code}
    assert OUTSIDER.department_code not in {s.department_code for s in listed.sources}
    designated = [d for d in listed.designations if d.action == pb.DESIGNATION_ACTION_DESIGNATE_DATASET]
    assert designated[-1].department_code == POLICE.department_code
    assert (designated[-1].actor_system_id, designated[-1].actor_department_code) == (
        AUTHORITY.system_id, AUTHORITY.department_code)
    assert designated[-1].create_time.seconds > 0
    registered = {d.department_code for d in listed.designations
                  if d.action == pb.DESIGNATION_ACTION_REGISTER_SOURCE}
    assert {CIVIL.department_code, SOCIAL.department_code} <= registered

    again = await calls.designate(AUTHORITY, "population", POLICE)  # already so: nothing new is recorded
    assert [d.id for d in again.designations] == [d.id for d in listed.designations]

    _, fields = await fails(calls.admin.DesignateAuthoritativeSource(pb.DesignateAuthoritativeSourceRequest(
        dataset="people", department_code="not-a-code"), metadata=signer.metadata(AUTHORITY)),
        grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == {"dataset", "department_code"}
    _, fields = await fails(calls.admin.DesignateAuthoritativeSource(pb.DesignateAuthoritativeSourceRequest(
        dataset="population", item="citizen_id"), metadata=signer.metadata(AUTHORITY)),
        grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == {"item", "department_code"}  # the key has no source of its own
    _, fields = await fails(calls.admin.RegisterSource(pb.RegisterSourceRequest(dataset="population"),
                                                       metadata=signer.metadata(AUTHORITY)),
                            grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == {"department_code"}


async def test_an_item_designated_to_its_own_source_takes_that_sources_value(calls: Calls) -> None:
    """一数一源 per item: legal entities' 登记状态 comes from another department than the rest of the record."""
    sources = await calls.designate(AUTHORITY, "legal_entity", SOCIAL, item="status")
    assert [(i.item, i.department_code) for i in sources.item_authorities] == [("status", SOCIAL.department_code)]
    assert sources.designations[0].action == pb.DESIGNATION_ACTION_DESIGNATE_ITEM
    assert (sources.designations[0].item, sources.designations[0].previous_department_code) == ("status", "")
    entity = synthetic.entity(next(_indexes), SEED)
    key = entity["credit_code"]
    entity = {**entity, "status": "存续"}
    await calls.load(MARKET, "legal_entity", rows(entity))

    theirs = {**entity, "status": "吊销", "name": entity["name"] + "分公司"}
    assert (await calls.load(SOCIAL, "legal_entity", rows(theirs))).conflicts == 2
    current = (await calls.lookup("legal_entity", key)).record
    assert (current.values["status"], current.values["name"]) == ("吊销", entity["name"])

    by_viewer = {viewer: {c.item: c for c in await calls.conflicts(viewer, "legal_entity", key=key)}
                 for viewer in (MARKET, SOCIAL, AUTHORITY)}
    name, status = by_viewer[AUTHORITY]["name"], by_viewer[AUTHORITY]["status"]
    assert (name.other_source_department_code, name.authoritative_department_code) == (
        SOCIAL.department_code, MARKET.department_code)
    assert (status.authoritative_value, status.other_value, status.other_source_department_code,
            status.authoritative_department_code) == ("吊销", "存续", MARKET.department_code, SOCIAL.department_code)
    # Each side sees the authoritative value of the items it is the source of, and only its own value of the others.
    assert by_viewer[MARKET]["name"].authoritative_value == entity["name"]
    assert by_viewer[MARKET]["status"].authoritative_value_withheld
    assert by_viewer[MARKET]["status"].other_value == "存续"
    assert by_viewer[SOCIAL]["status"].authoritative_value == "吊销"
    assert by_viewer[SOCIAL]["name"].authoritative_value_withheld

    moved = {**entity, "address": "北京市朝阳区建国路1号"}  # the dataset's source reloads with its own status
    assert (await calls.load(MARKET, "legal_entity", rows(moved))).accepted == 1
    current = (await calls.lookup("legal_entity", key)).record
    assert (current.values["status"], current.values["address"]) == ("吊销", moved["address"])

    reason, _ = await fails(calls.resolve(MARKET, status.id, adopt=True), grpc.StatusCode.PERMISSION_DENIED)
    assert reason == "NOT_AUTHORITATIVE_SOURCE"
    reason, _ = await fails(calls.resolve(SOCIAL, name.id, adopt=True), grpc.StatusCode.PERMISSION_DENIED)
    assert reason == "NOT_AUTHORITATIVE_SOURCE"
    await calls.resolve(MARKET, name.id, adopt=False)
    adopted = await calls.resolve(SOCIAL, status.id, adopt=True, note="以登记机关为准")
    assert adopted.resolution.startswith("ADOPT_OTHER_VALUE")
    assert (await calls.lookup("legal_entity", key)).record.values["status"] == "存续"
    await calls.load(MARKET, "legal_entity", rows({**moved, "status": "存续"}))  # the adoption stands
    assert (await calls.lookup("legal_entity", key)).record.values["status"] == "存续"
    left = await calls.conflicts(AUTHORITY, "legal_entity", key=key)  # only the social's now outdated address
    assert [(c.item, c.other_source_department_code) for c in left] == [("address", SOCIAL.department_code)]


async def test_an_item_sources_load_does_not_make_the_dataset_sources_next_load_stale(calls: Calls) -> None:
    """Each source's values are as old as its own last load says. The item source's load (status, as of an hour
    ago) moved the whole record's as_of_time to its own, so the dataset's source's next load, extracted two hours
    ago and newer than everything it had loaded, was refused whole: "as_of_time: … is older than the stored
    values", its corrections of every other item with it."""
    await calls.designate(AUTHORITY, "legal_entity", SOCIAL, item="status")
    now = datetime.now(UTC)
    entity = {**synthetic.entity(next(_indexes), SEED), "status": "存续"}
    key = entity["credit_code"]
    assert (await calls.load(MARKET, "legal_entity", rows(entity, as_of=now - timedelta(hours=3)))).accepted == 1
    revoked = {**entity, "status": "吊销"}
    assert (await calls.load(SOCIAL, "legal_entity", rows(revoked, as_of=now - timedelta(hours=1)))).accepted == 1
    renamed = {**entity, "name": entity["name"] + "（更名）"}
    loaded = await calls.load(MARKET, "legal_entity", rows(renamed, as_of=now - timedelta(hours=2)))
    assert (loaded.accepted, list(loaded.rejected)) == (1, []), loaded
    current = (await calls.lookup("legal_entity", key)).record
    assert (current.values["name"], current.values["status"]) == (renamed["name"], "吊销")
    stale = await calls.load(SOCIAL, "legal_entity", rows(entity, as_of=now - timedelta(hours=2)))
    assert "older than the stored values" in stale.rejected[0].reasons[0]  # its own clock still counts


async def test_an_item_source_that_loads_first_sets_the_item_once_the_record_exists(calls: Calls) -> None:
    await calls.designate(AUTHORITY, "legal_entity", SOCIAL, item="status")
    entity = {**synthetic.entity(next(_indexes), SEED), "status": "在业"}
    key = entity["credit_code"]
    assert (await calls.load(SOCIAL, "legal_entity", rows({**entity, "status": "注销"}))).accepted == 1
    assert not (await calls.lookup("legal_entity", key)).found  # only the dataset's source creates records
    await calls.load(MARKET, "legal_entity", rows(entity))
    assert (await calls.lookup("legal_entity", key)).record.values["status"] == "注销"
    (conflict,) = await calls.conflicts(SOCIAL, "legal_entity", key=key)
    assert (conflict.item, conflict.authoritative_value, conflict.other_value) == ("status", "注销", "在业")


async def test_a_new_designation_takes_over_and_the_former_source_becomes_a_cross_checking_one(
        calls: Calls) -> None:
    (place,) = [synthetic.place(next(_indexes), SEED)]
    key = place["place_code"]
    await calls.load(RESOURCES, "place", rows(place))
    changed = await calls.designate(AUTHORITY, "place", SERVICES)
    try:
        latest = changed.designations[0]
        assert (latest.action, latest.department_code, latest.previous_department_code, latest.actor_system_id) == (
            pb.DESIGNATION_ACTION_DESIGNATE_DATASET, SERVICES.department_code, RESOURCES.department_code,
            AUTHORITY.system_id)
        assert RESOURCES.department_code in {s.department_code for s in changed.sources}  # still a source
        moved = {**place, "address": place["address"] + "（新址）"}
        assert (await calls.load(RESOURCES, "place", rows(moved))).conflicts == 1
        assert (await calls.lookup("place", key)).record.values["address"] == place["address"]
        assert (await calls.load(SERVICES, "place", rows(moved))).accepted == 1
        assert (await calls.lookup("place", key)).record.values["address"] == moved["address"]
    finally:
        await calls.designate(AUTHORITY, "place", RESOURCES)


async def test_a_load_says_whether_its_records_were_only_kept_for_cross_checking(calls: Calls) -> None:
    """The answer to a load did not say whether the records became the records or were only kept to be
    cross-checked: a source whose designation the authority changed between two calls of one load could not tell
    which calls counted."""
    place = synthetic.place(next(_indexes), SEED)
    first = await calls.load(RESOURCES, "place", rows(place))
    assert (first.accepted, first.kept_for_cross_checking) == (1, False)
    await calls.designate(AUTHORITY, "place", SERVICES)
    try:
        moved = {**place, "address": place["address"] + "（新址）"}
        second = await calls.load(RESOURCES, "place", rows(moved))
        assert (second.accepted, second.kept_for_cross_checking) == (1, True)
        assert (await calls.lookup("place", place["place_code"])).record.values["address"] == place["address"]
    finally:
        await calls.designate(AUTHORITY, "place", RESOURCES)


async def test_a_newly_designated_sources_first_load_is_not_held_to_the_former_sources_as_of_times(
        calls: Calls) -> None:
    """Designated after the former source's last load, the new source loads its extract of two hours ago: each record
    was refused 'older than the stored values', values it never stored (the former source's, an hour ago), so its
    whole first load was refused. Its own earlier assertion still counts."""
    now = datetime.now(UTC)
    place = synthetic.place(next(_indexes), SEED)
    key = place["place_code"]
    await calls.load(RESOURCES, "place", rows(place, as_of=now - timedelta(hours=1)))
    await calls.designate(AUTHORITY, "place", SERVICES)
    try:
        moved = {**place, "address": place["address"] + "（新址）"}
        loaded = await calls.load(SERVICES, "place", rows(moved, as_of=now - timedelta(hours=2)))
        assert (loaded.accepted, list(loaded.rejected)) == (1, []), loaded
        found = (await calls.lookup("place", key)).record
        assert (found.values["address"], found.source_department_code) == (moved["address"], SERVICES.department_code)
        older = await calls.load(SERVICES, "place", rows(place, as_of=now - timedelta(hours=3)))
        assert "older than the stored values" in older.rejected[0].reasons[0]  # its own clock still counts
    finally:
        await calls.designate(AUTHORITY, "place", RESOURCES)


async def test_a_source_designated_authoritative_no_longer_disagrees_with_itself(calls: Calls) -> None:
    """A conflict a source raised is closed when the authority designates that source for the item: it is then
    the item's authoritative source and has nobody to disagree with. Left open, nobody could decide it (the former
    source may not; the new one would be asked to keep or adopt its own value), no later load closed it, and it
    counted as a conflict left open in the month's supervision."""
    place = synthetic.place(next(_indexes), SEED)
    key = place["place_code"]
    await calls.register(AUTHORITY, "place", SERVICES)
    await calls.load(RESOURCES, "place", rows(place))
    moved = {**place, "address": place["address"] + "（新址）", "kind": "地块" if place["kind"] == "地址" else "地址"}
    assert (await calls.load(SERVICES, "place", rows(moved))).conflicts == 2
    await calls.designate(AUTHORITY, "place", SERVICES, item="kind")
    try:
        (kind,) = [c for c in await calls.conflicts(AUTHORITY, "place", state=0, key=key) if c.item == "kind"]
        assert (kind.state, kind.resolution) == (pb.CONFLICT_STATE_RESOLVED, "SOURCE_DESIGNATED"), kind
        (address,) = await calls.conflicts(AUTHORITY, "place", key=key)  # the dataset's source still decides this
        assert address.item == "address"
        await calls.designate(AUTHORITY, "place", SERVICES)
        assert not await calls.conflicts(AUTHORITY, "place", key=key)
    finally:
        await calls.designate(AUTHORITY, "place", RESOURCES)
        await calls.designate(AUTHORITY, "place", RESOURCES, item="kind")


async def test_a_designated_sources_values_are_the_records_at_once(calls: Calls) -> None:
    """一数一源: once the authority designates a source for an item, the value that source asserted is the record's
    (with the former one in history), not only after the source's next load, which may never come."""
    (person,) = fresh_persons(1)
    key = person["citizen_id"]
    await calls.load(POLICE, "population", rows(person))
    renamed = {**person, "name": person["name"] + "新", "address": person["address"] + "（新址）"}
    assert (await calls.load(CIVIL, "population", rows(renamed))).conflicts == 2
    await calls.designate(AUTHORITY, "population", CIVIL, item="name")
    try:
        current = (await calls.lookup("population", key)).record
        assert (current.values["name"], current.values["address"]) == (renamed["name"], person["address"])
        assert current.source_department_code == CIVIL.department_code
        assert [v.values["name"] for v in await calls.history(POLICE, "population", key)] == [
            renamed["name"], person["name"]]
        (address,) = await calls.conflicts(AUTHORITY, key=key)  # the name's is closed, the address's stays
        assert address.item == "address"
    finally:
        await calls.designate(AUTHORITY, "population", POLICE, item="name")


async def test_a_source_that_stops_providing_is_retired_with_its_history_kept(calls: Calls) -> None:
    """A department that no longer provides a dataset is retired: it loads nothing more, the conflicts it raised
    are closed and its kept values no longer raise new ones, while the records, their history and the
    registration and retirement (who, when) stay on record. An authoritative source is not retired."""
    retiring = Caller("sys-retiring", department(9))
    (person,) = fresh_persons(1)
    key = person["citizen_id"]
    await calls.register(AUTHORITY, "population", retiring)
    await calls.load(POLICE, "population", rows(person))
    assert (await calls.load(retiring, "population", rows({**person, "name": "旧名"}))).conflicts == 1

    def retire(who: Caller, caller: Caller = AUTHORITY) -> Awaitable[pb.RetireSourceResponse]:
        return calls.admin.RetireSource(pb.RetireSourceRequest(
            dataset="population", department_code=who.department_code), metadata=calls.signer.metadata(caller))

    sources = (await retire(retiring)).sources
    assert retiring.department_code not in {s.department_code for s in sources.sources}
    latest = sources.designations[0]
    assert (latest.action, latest.department_code, latest.actor_system_id) == (
        pb.DESIGNATION_ACTION_RETIRE_SOURCE, retiring.department_code, AUTHORITY.system_id)
    (closed,) = await calls.conflicts(AUTHORITY, state=0, key=key)
    assert (closed.state, closed.resolution) == (pb.CONFLICT_STATE_RESOLVED, "SOURCE_RETIRED")
    reason, _ = await fails(calls.load(retiring, "population", rows(person)), grpc.StatusCode.PERMISSION_DENIED)
    assert reason == "NOT_A_SOURCE"
    # The authoritative source's next load is not held against the retired source's kept values.
    assert (await calls.load(POLICE, "population", rows({**person, "address": person["address"] + "2号"}))
            ).conflicts == 0
    assert len(await calls.history(POLICE, "population", key)) == 2
    assert (await fails(retire(retiring), grpc.StatusCode.NOT_FOUND))[0] == "SOURCE_NOT_FOUND"
    assert (await fails(retire(POLICE), grpc.StatusCode.FAILED_PRECONDITION))[0] == "SOURCE_IS_AUTHORITATIVE"
    assert (await fails(retire(CIVIL, POLICE), grpc.StatusCode.PERMISSION_DENIED))[0] == "AUTHORITY_ONLY"


async def test_the_demo_designates_its_sources_and_the_gateway_serves_the_new_rpcs(platform) -> None:  # type: ignore[no-untyped-def]
    """Through the gateway, on the seeded platform: the authority designated the demo's sources, and a
    department that is not a source cannot load a dummy row for an existing person."""
    admin = foundation_pb2_grpc.FoundationAdminServiceStub(platform.channel)
    systems = platform.credentials.systems
    listed = (await admin.ListSources(pb.ListSourcesRequest(dataset="population"),
                                      metadata=platform.metadata("authority"), timeout=10)).sources
    assert listed.authoritative_department_code == systems["police"]["department"]
    (designated,) = [d for d in listed.designations if d.action == pb.DESIGNATION_ACTION_DESIGNATE_DATASET]
    assert (designated.actor_system_id, designated.actor_department_code) == (
        systems["authority"]["system_id"], systems["authority"]["department"])

    person = synthetic.person(0, platform.credentials.seed)  # loaded by the demo
    dummy = {**person, "name": "某某"}
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await admin.LoadRecords(pb.LoadRecordsRequest(dataset="population", records=rows(dummy)),
                                metadata=platform.metadata("civil"), timeout=10)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert details_of(caught.value)[0].reason == "NOT_A_SOURCE"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await admin.DesignateAuthoritativeSource(pb.DesignateAuthoritativeSourceRequest(
            dataset="population", department_code=systems["civil"]["department"]),
            metadata=platform.metadata("civil"), timeout=10)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


# ---- the provider contract -----------------------------------------------------------------------------------------


async def test_lookup_batch_lookup_and_export(calls: Calls, signer: CallerMetadata, pool: asyncpg.Pool) -> None:
    places = [synthetic.place(next(_indexes), SEED) for _ in range(25)]
    assert (await calls.load(RESOURCES, "place", rows(*places))).accepted == 25
    by_key = {p["place_code"]: p for p in places}

    found = await calls.lookup("place", places[0]["place_code"])
    assert found.found and dict(found.record.values) == places[0] and found.record.key == places[0]["place_code"]
    assert found.record.as_of_time.seconds > 0
    assert not (await calls.lookup("place", "NOSUCHPLACE")).found
    assert not (await calls.lookup("place", "bad\x00key")).found

    wanted = [p["place_code"] for p in places[:10]]
    batch = await calls.provider.BatchLookup(
        ppb.BatchLookupRequest(dataset="place", keys=[*wanted, "NOSUCHPLACE", "", wanted[0]]),
        metadata=signer.metadata(QUERY))
    assert sorted(r.key for r in batch.records) == sorted(wanted)
    assert all(dict(r.values) == by_key[r.key] for r in batch.records)

    pages = [list(page.records) async for page in calls.provider.Export(
        ppb.ExportRequest(dataset="place", page_size=7), metadata=signer.metadata(QUERY))]
    exported = [r.key for page in pages for r in page]
    assert all(len(page) <= 7 for page in pages) and len(pages) >= 4
    assert exported == sorted(exported) and len(set(exported)) == len(exported)
    assert set(by_key) <= set(exported)
    assert len(exported) == await pool.fetchval("SELECT count(*) FROM place")
    assert all(dict(r.values) == by_key[r.key] for page in pages for r in page if r.key in by_key)


async def test_the_provider_service_is_for_platform_services_only(calls: Calls, signer: CallerMetadata) -> None:
    department = signer.metadata(POLICE)
    for call in (calls.provider.Lookup(ppb.LookupRequest(dataset="population", key="11010519491231002X"),
                                       metadata=department),
                 calls.provider.BatchLookup(ppb.BatchLookupRequest(dataset="population", keys=["x"]),
                                            metadata=department)):
        reason, _ = await fails(call, grpc.StatusCode.PERMISSION_DENIED)
        assert reason == "SERVICE_ONLY"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in calls.provider.Export(ppb.ExportRequest(dataset="population"), metadata=department):
            pass
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    await fails(calls.provider.Lookup(ppb.LookupRequest(dataset="population", key="x")),
                grpc.StatusCode.UNAUTHENTICATED)


async def test_a_load_drops_cached_records_and_announces_the_change(calls: Calls,
                                                                    redis_client: aioredis.Redis) -> None:
    (record,) = fresh_persons(1)
    key = record["citizen_id"]
    cache_key = record_cache_key(FOUNDATION_ENDPOINT, "population", key)
    await calls.load(POLICE, "population", rows(record))
    await redis_client.set(cache_key, b"stale")
    async with redis_client.pubsub() as pubsub:
        await pubsub.subscribe(RECORDS_CHANGED)
        assert (await pubsub.get_message(timeout=5))["type"] == "subscribe"
        changed = {**record, "status": "死亡" if record["status"] != "死亡" else "正常"}
        await calls.load(CIVIL, "population", rows(changed))
        assert await redis_client.exists(cache_key) == 1  # another source changes nothing
        await calls.load(POLICE, "population", rows(changed))
        assert await redis_client.exists(cache_key) == 0
        event = await _next_event(pubsub, key)
    assert event["endpoint"] == FOUNDATION_ENDPOINT and event["dataset"] == "population" and key in event["keys"]


async def _next_event(pubsub: aioredis.client.PubSub, key: str) -> dict:
    async with asyncio.timeout(10):
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
            if message is not None:
                event = json.loads(message["data"])
                if key in event.get("keys", []):
                    return event


async def test_list_datasets_counts_records(calls: Calls, signer: CallerMetadata, pool: asyncpg.Pool) -> None:
    listed = (await calls.admin.ListDatasets(pb.ListDatasetsRequest(), metadata=signer.metadata(CIVIL))).datasets
    assert [d.name for d in listed] == list(DATASETS)
    for entry in listed:
        assert entry.key_item == DATASETS[entry.name].key_item
        assert entry.record_count == await pool.fetchval(f"SELECT count(*) FROM {entry.name}")
    assert {d.name: d.authoritative_department_code for d in listed}["population"] == POLICE.department_code


# ---- bulk loading --------------------------------------------------------------------------------------------------


async def test_copy_dataset_bulk_loads_persons_that_lookup_finds(calls: Calls, pool: asyncpg.Pool) -> None:
    persons = fresh_persons(3000)
    assert await copy_dataset(pool, "population", POLICE.department_code, persons, batch_size=1000) == 3000
    for record in (persons[0], persons[1500], persons[-1]):
        found = await calls.lookup("population", record["citizen_id"])
        assert found.found and dict(found.record.values) == record

    moved = [{**p, "address": "上海市黄浦区南京东路1号", "address_region_code": "310101"} for p in persons[:100]]
    assert await copy_dataset(pool, "population", POLICE.department_code, moved) == 100  # existing keys: merged
    versions = await calls.history(POLICE, "population", persons[0]["citizen_id"])
    assert [dict(v.values) for v in versions] == [moved[0], persons[0]]

    with pytest.raises(PermissionError):
        await copy_dataset(pool, "population", CIVIL.department_code, fresh_persons(1))


async def test_copy_dataset_reports_bad_records_after_loading_the_good_ones(calls: Calls, pool: asyncpg.Pool) -> None:
    good, bad = fresh_persons(2)
    bad = {**bad, "ethnicity": "火星族"}
    with pytest.raises(BulkLoadError) as caught:
        await copy_dataset(pool, "population", POLICE.department_code, [good, bad, good])
    assert caught.value.loaded == 1
    assert [(r.index, r.key) for r in caught.value.rejected] == [(1, bad["citizen_id"]), (2, good["citizen_id"])]
    # The message is what gets printed or logged: records by position, no ID number.
    assert "#1: " in str(caught.value) and bad["citizen_id"] not in str(caught.value)
    assert good["citizen_id"] not in str(caught.value)
    assert (await calls.lookup("population", good["citizen_id"])).found


async def test_copy_dataset_rejects_a_key_an_earlier_batch_loaded(calls: Calls, pool: asyncpg.Pool) -> None:
    """A key repeated across batches is the later record's rejection naming the first, as within one batch:
    the first record stays as loaded, not overwritten by the second and both counted as loaded."""
    first, second, third = fresh_persons(3)
    again = {**first, "name": "重复者"}
    with pytest.raises(BulkLoadError) as caught:
        await copy_dataset(pool, "population", POLICE.department_code, [first, second, third, again], batch_size=2)
    assert caught.value.loaded == 3
    assert [(r.index, r.key, r.reasons) for r in caught.value.rejected] == [
        (3, first["citizen_id"], ("citizen_id: repeats record #0 of this load",))]
    assert dict((await calls.lookup("population", first["citizen_id"])).record.values) == first
    assert len(await calls.history(POLICE, "population", first["citizen_id"])) == 1  # the current version only
    # A key whose first record was rejected is not a repeat: its later, good record is loaded.
    bad, good = fresh_persons(2)
    with pytest.raises(BulkLoadError) as caught:
        await copy_dataset(pool, "population", POLICE.department_code,
                           [{**bad, "ethnicity": "火星族"}, good, bad], batch_size=2)
    assert caught.value.loaded == 2 and [r.index for r in caught.value.rejected] == [0]


async def test_copy_dataset_of_a_csv_file_rejects_its_bad_lines_and_loads_the_rest(calls: Calls,
                                                                                 pool: asyncpg.Pool) -> None:
    """A CSV file read with csv.DictReader: a line cut short (a line break in a value not in quotes) was a
    record of None values, which stopped the load in its reading thread, the batches after it never loaded and
    nothing reported; so did a line over csv's field limit. Each is now that record's rejection, and the load goes
    on. A file that is not UTF-8, whose reader cannot go on, stops the load saying so."""
    persons = fresh_persons(5)
    lines = [",".join(persons[0]), *(",".join(p.values()) for p in persons)]
    lines[2] = ",".join(list(persons[1].values())[:4])  # persons[1], cut after its fourth value
    lines[4] = lines[4] + "，" * 200_000  # persons[3], a line over csv's field limit (an export gone wrong)
    with pytest.raises(BulkLoadError) as caught:
        await copy_dataset(pool, "population", POLICE.department_code,
                           csv.DictReader(io.StringIO("\ufeff" + "\r\n".join(lines) + "\r\n", newline="")),
                           batch_size=2)
    assert caught.value.loaded == 3
    assert [r.index for r in caught.value.rejected] == [1, 3]
    assert caught.value.rejected[0].reasons[0].startswith("the line ends before the columns birth_date")
    assert caught.value.rejected[1].reasons == (
        "the line could not be read as CSV (field larger than field limit (131072)); fix it and load it again",)
    assert persons[1]["name"] not in str(caught.value)
    assert (await calls.lookup("population", persons[4]["citizen_id"])).found
    with pytest.raises(ValueError, match=r"the file is not UTF-8 \(met reading on from record #0: nothing from"):
        await copy_dataset(pool, "population", POLICE.department_code, csv.DictReader(io.TextIOWrapper(io.BytesIO(
            "\r\n".join(lines[:2]).encode() + "\r\n张三".encode("gbk")), encoding="utf-8", newline="")))


async def test_copy_dataset_of_a_csv_file_names_each_bad_record_by_its_line(calls: Calls, pool: asyncpg.Pool) -> None:
    """A rejection named the record by its position in the load alone, counted from 0 (#3): not the line a data
    officer looks for in the file, with the header before it, the empty lines csv skips and a value that spans two
    lines between quotes. Read from a CSV reader, a record is named by its line too, the one it ends on, and so is
    the earlier record a repeated key repeats, in its batch or an earlier one."""
    persons = fresh_persons(5)
    wrong = {**persons[1], "citizen_id": persons[1]["citizen_id"][:-1] + ("1" if persons[1]["citizen_id"][-1] == "0"
                                                                          else "0")}
    broken = {**persons[2], "address": "第一行\n第二行"}

    def line(person: dict[str, str]) -> str:
        return ",".join(f'"{value}"' for value in person.values())

    text = "\r\n".join([
        ",".join(persons[0]),  # line 1: the header
        line(persons[0]),  # line 2: #0
        "",  # line 3: empty, skipped by csv
        line(wrong),  # line 4: #1, a wrong check character
        line(broken),  # lines 5-6: #2, a line break in its address, between quotes
        line(persons[3]),  # line 7: #3
        line(persons[0]),  # line 8: #4, repeats #0 (an earlier batch)
        line(persons[4]),  # line 9: #5
        line(persons[4]),  # line 10: #6, repeats #5 (the same batch)
    ]) + "\r\n"
    with pytest.raises(BulkLoadError) as caught:
        await copy_dataset(pool, "population", POLICE.department_code,
                           csv.DictReader(io.StringIO(text, newline="")), batch_size=4)
    assert caught.value.loaded == 3
    assert [(r.index, r.line) for r in caught.value.rejected] == [(1, 4), (2, 6), (4, 8), (6, 10)]
    assert caught.value.rejected[2].reasons == ("citizen_id: repeats record #0 (line 2) of this load",)
    assert caught.value.rejected[3].reasons == ("citizen_id: repeats record #5 (line 9) of this load",)
    message = str(caught.value)
    assert "#1 (line 4): citizen_id: 公民身份号码 has an invalid check character" in message, message
    # Between quotes, closed: a line break typed in the cell (it was said to be a quote left open).
    assert "#2 (line 6): the record runs from line 5 to line 6: the value of address holds a line break (a cell " \
           "typed on two lines, Alt+Enter in a spreadsheet), which no item takes: remove it" in message
    assert wrong["citizen_id"] not in message
    # Records that come from no file are named by their position, as before.
    with pytest.raises(BulkLoadError) as caught:
        await copy_dataset(pool, "population", POLICE.department_code, [wrong])
    assert caught.value.rejected[0].line == 0 and "#0: citizen_id" in str(caught.value)


async def test_a_quote_left_open_in_a_csv_file_is_said_to_take_in_the_lines_after_it(calls: Calls,
                                                                                    pool: asyncpg.Pool) -> None:
    """A double quote opened by mistake and never closed (a name typed "张三) makes csv read every line after it, up
    to the next quote, as that value: those records were neither loaded nor rejected, and the one rejection said
    only that the address held a line break. It says now which lines the record took in, and why."""
    persons = fresh_persons(5)
    lines = [",".join(persons[0]), *(",".join(p.values()) for p in persons)]
    lines[2] = lines[2].replace(persons[1]["address"], '"' + persons[1]["address"])  # #1, line 3: opened, not closed
    with pytest.raises(BulkLoadError) as caught:
        await copy_dataset(pool, "population", POLICE.department_code,
                           csv.DictReader(io.StringIO("\r\n".join(lines) + "\r\n", newline="")), batch_size=2)
    assert caught.value.loaded == 1
    (rejected,) = caught.value.rejected
    assert (rejected.index, rejected.line) == (1, 6)
    assert rejected.reasons[0].startswith("the record runs from line 3 to line 6 (a value holds line breaks: a "
                                          "double quote opened and not closed takes in the lines after it")
    assert persons[2]["name"] not in str(caught.value) and persons[1]["citizen_id"] not in str(caught.value)
    assert not (await calls.lookup("population", persons[4]["citizen_id"])).found  # taken in, not loaded: said


async def test_copy_dataset_of_a_csv_file_whose_header_names_a_column_twice_loads_nothing_saying_which(
        calls: Calls, pool: asyncpg.Pool) -> None:
    """csv.DictReader keeps the last of two columns of one name: a file whose header said name twice (another
    column relabelled name) loaded every record with that column's value, and nothing said so. The load stops
    before anything is written, naming the item and its columns; a column named twice that is no item is not named
    (a file without a header row has a record's values there)."""
    person, other = fresh_persons(2)
    header = [*person, "name"]
    text = "\r\n".join([",".join(header), ",".join([*person.values(), "户主某"])]) + "\r\n"
    with pytest.raises(ValueError, match=r"the file's header names a column twice \(name in columns 2, 9\): a CSV "
                                         r"reader keeps only the last of them.*\(nothing was loaded\)$"):
        await copy_dataset(pool, "population", POLICE.department_code, csv.DictReader(io.StringIO(text, newline="")))
    assert not (await calls.lookup("population", person["citizen_id"])).found
    values = list(other.values())
    headless = "\r\n".join([",".join([*values, "某甲", "某甲"]), ",".join(values)]) + "\r\n"
    with pytest.raises(ValueError) as caught:
        await copy_dataset(pool, "population", POLICE.department_code,
                           csv.DictReader(io.StringIO(headless, newline="")))
    assert "(a name in columns 9, 10)" in str(caught.value) and "某甲" not in str(caught.value)
    # Without validation (trusted generated records) and from a list, nothing is checked, as before.
    assert await copy_dataset(pool, "population", POLICE.department_code, [person]) == 1


async def test_copy_dataset_reports_progress_after_every_batch_and_keeps_going_past_bad_records(
        calls: Calls, pool: asyncpg.Pool) -> None:
    persons = fresh_persons(2500)
    persons[1200] = {**persons[1200], "ethnicity": "火星族"}
    reports: list[LoadProgress] = []
    with pytest.raises(BulkLoadError) as caught:
        await copy_dataset(pool, "population", POLICE.department_code, persons, batch_size=1000, total=2500,
                           progress=reports.append)
    assert caught.value.loaded == 2499
    assert [(r.read, r.loaded, r.rejected, r.done) for r in reports] == [
        (1000, 1000, 0, False), (2000, 1999, 1, False), (2500, 2499, 1, False), (2500, 2499, 1, True)]
    assert all(r.total == 2500 and r.dataset == "population" and r.rate > 0 for r in reports)
    middle = reports[1]
    assert middle.eta_seconds == pytest.approx(500 / middle.rate)
    assert reports[-1].eta_seconds == 0
    assert (await calls.lookup("population", persons[-1]["citizen_id"])).found  # the rest of the load went in


async def test_progress_printer_writes_counts_rate_and_eta_lines_at_its_interval(pool: asyncpg.Pool) -> None:
    every, stream = io.StringIO(), io.StringIO()
    persons = fresh_persons(3000)
    await copy_dataset(pool, "population", POLICE.department_code, persons[:1500], batch_size=500, total=1500,
                       progress=ProgressPrinter(every, interval=0))
    lines = every.getvalue().splitlines()
    assert len(lines) == 4  # three batches and the end
    assert lines[0].startswith("population: 500 / 1,500 records read (33.3%), 500 loaded, 0 rejected, ")
    assert "records/s" in lines[0] and "ETA 0:" in lines[0]
    assert lines[-1].startswith("population: 1,500 / 1,500 records read (100.0%)") and lines[-1].endswith("done")
    assert all(p["citizen_id"] not in every.getvalue() for p in persons)  # counts only: no personal data

    # A long interval: the first report and the last, nothing in between.
    await copy_dataset(pool, "population", POLICE.department_code, persons[1500:], batch_size=500,
                       progress=ProgressPrinter(stream, interval=3600))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("population: 500 records read, 500 loaded") and lines[0].endswith("ETA unknown")
    assert lines[1].startswith("population: 1,500 records read, 1,500 loaded") and lines[1].endswith("done")


# ---- bad input -----------------------------------------------------------------------------------------------------


async def test_bad_requests_name_every_field(calls: Calls, signer: CallerMetadata) -> None:
    service = signer.metadata(QUERY)
    too_many = [pb.RecordInput(values={"citizen_id": "x"})] * 5001
    _, fields = await fails(calls.load(POLICE, "people", too_many), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == {"dataset", "records"}
    _, fields = await fails(calls.load(AUTHORITY, "population", [], source="not-a-code"),
                            grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == {"source_department_code"}
    _, fields = await fails(calls.load(QUERY, "population", []), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == {"source_department_code"}
    reason, _ = await fails(calls.load(POLICE, "population", [], source=CIVIL.department_code),
                            grpc.StatusCode.PERMISSION_DENIED)
    assert reason == "NOT_YOUR_DEPARTMENT"
    # A source loading nothing (over REST: a misspelled "records", dropped by the transcoder) is told so; it was
    # answered {"accepted": 0} as if its file had been taken.
    _, fields = await fails(calls.load(POLICE, "population", []), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == {"records"}

    _, fields = await fails(calls.admin.ListConflicts(
        pb.ListConflictsRequest(dataset="people", state=9, page_size=-1, page_token="!!"),
        metadata=signer.metadata(AUTHORITY)), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == {"dataset", "state", "page_size", "page_token"}
    _, fields = await fails(calls.resolve(POLICE, 0, True, note="\x07"), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == {"id", "note"}
    _, fields = await fails(calls.history(POLICE, "", ""), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == {"dataset", "key"}
    _, fields = await fails(calls.history(POLICE, "population", "110105194912310021"),
                            grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == {"key"}

    _, fields = await fails(calls.provider.Lookup(ppb.LookupRequest(dataset="people", key=""), metadata=service),
                            grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == {"dataset", "key"}
    _, fields = await fails(calls.provider.BatchLookup(
        ppb.BatchLookupRequest(dataset="population", keys=["k"] * 1001), metadata=service),
        grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == {"keys"}
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in calls.provider.Export(ppb.ExportRequest(dataset="people", page_size=-1), metadata=service):
            pass
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in details_of(caught.value)[1].field_violations} == {"dataset", "page_size"}


async def test_list_conflicts_pages_through_everything(calls: Calls) -> None:
    records = fresh_persons(5)
    await calls.load(POLICE, "population", rows(*records))
    await calls.load(SOCIAL, "population", rows(*({**r, "status": "注销"} for r in records)))
    seen, token, pages = [], "", 0
    while True:
        page = await calls.admin.ListConflicts(
            pb.ListConflictsRequest(dataset="population", state=pb.CONFLICT_STATE_OPEN, page_size=2,
                                    page_token=token), metadata=calls.signer.metadata(SOCIAL))
        seen += [c.id for c in page.conflicts]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == len(set(seen)) == 5 and seen == sorted(seen) and pages == 3


# ---- fuzzing -------------------------------------------------------------------------------------------------------

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
_edge_texts = st.sampled_from(["", " ", "\x00", "a\x00b", "11010519491231002X", "11010519491231002x", "x" * 65,
                               "-1", "1e309", "2024-02-30", "9" * 30, "ＡＢＣ", "🙂"])
_strings = st.one_of(_edge_texts, _text)
_datasets = st.one_of(st.sampled_from([*DATASETS, *DATASETS, "", "people"]), _text)
_items = st.one_of(st.sampled_from([i.name for d in DATASETS.values() for i in d.items]), _text)
_values = st.one_of(
    st.dictionaries(_items, _strings, max_size=6),
    # a valid record with one item replaced: reaches the database whenever the replacement is valid too
    st.builds(lambda i, item, value: {**synthetic.person(i, 99), item: value}, st.integers(0, 10**6), _items,
              _strings))
_records = st.lists(st.builds(
    lambda values, seconds, nanos, present: pb.RecordInput(
        values=values, as_of_time=Timestamp(seconds=seconds, nanos=nanos) if present else None),
    _values, st.one_of(st.integers(-(2**63), 2**63 - 1), st.integers(1_600_000_000, 1_800_000_000)),
    st.one_of(st.just(0), st.integers(-(2**31), 2**31 - 1)), st.booleans()), max_size=4)
_callers = st.sampled_from([AUTHORITY, POLICE, CIVIL, QUERY])


def _fuzz(port: int, signer: CallerMetadata) -> None:
    """Arbitrary request fields never surface as INTERNAL or UNKNOWN (run in a thread with a blocking client)."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        admin = foundation_pb2_grpc.FoundationAdminServiceStub(channel)
        provider = provider_pb2_grpc.ProviderServiceStub(channel)

        @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
        @given(caller=_callers, dataset=_datasets, source=st.one_of(st.just(""), _strings), records=_records,
               key=_strings, keys=st.lists(_strings, max_size=5))
        def check(caller: Caller, dataset: str, source: str, records: list[pb.RecordInput], key: str,
                  keys: list[str]) -> None:
            metadata = signer.metadata(caller)
            for call in (lambda: admin.LoadRecords(pb.LoadRecordsRequest(
                             dataset=dataset, source_department_code=source, records=records), metadata=metadata),
                         lambda: provider.Lookup(ppb.LookupRequest(dataset=dataset, key=key), metadata=metadata),
                         lambda: provider.BatchLookup(ppb.BatchLookupRequest(dataset=dataset, keys=keys),
                                                      metadata=metadata),
                         lambda: admin.GetRecordHistory(pb.GetRecordHistoryRequest(dataset=dataset, key=key),
                                                        metadata=metadata),
                         lambda: admin.DesignateAuthoritativeSource(pb.DesignateAuthoritativeSourceRequest(
                             dataset=dataset, item=key, department_code=source), metadata=metadata),
                         lambda: admin.RegisterSource(pb.RegisterSourceRequest(
                             dataset=dataset, department_code=source), metadata=metadata),
                         lambda: admin.ListSources(pb.ListSourcesRequest(dataset=dataset), metadata=metadata)):
                try:
                    call()
                except grpc.RpcError as error:
                    assert error.code() not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN), error

        check()


async def test_fuzzed_requests_never_fail_internally(server: RunningServer, signer: CallerMetadata) -> None:
    await asyncio.to_thread(_fuzz, server.port, signer)
