"""The query service among the real catalog, authorization and foundation services.

Four real gRPC servers on real sockets, real PostgreSQL and Redis. The test acts as
the gateway: it signs caller assertions for the departments' business systems. The
catalog entries are created and published through CatalogService, the records loaded
through FoundationAdminService.LoadRecords, and grants made through SharingService, so
every answer below comes from the same paths production uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
import grpc
import pytest
import pytest_asyncio
from caller_metadata import CallerMetadata, person_of
from front_end import front_end
from google.protobuf import field_mask_pb2, timestamp_pb2
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY
from stdnum.cn import ric, uscc

from govshare.authorization.v1 import sharing_pb2, sharing_pb2_grpc
from govshare.catalog.v1 import catalog_pb2 as cat
from govshare.catalog.v1 import catalog_pb2_grpc
from govshare.common.v1 import common_pb2 as common
from govshare.foundation.v1 import foundation_pb2, foundation_pb2_grpc
from govshare.provider.v1 import provider_pb2
from govshare.query.v1 import (
    audit_pb2,
    audit_pb2_grpc,
    dispute_pb2,
    dispute_pb2_grpc,
    query_pb2,
    query_pb2_grpc,
)
from services.authorization.component import create_component as create_authorization
from services.catalog import rules as catalog_rules
from services.catalog.component import create_component as create_catalog
from services.demo import ENTITY_ITEMS, POPULATION_ITEMS
from services.foundation.component import create_component as create_foundation
from services.query.component import create_component as create_query
from services.query.servicer import MAX_CLAIM_LENGTH, MAX_ITEMS
from services.runtime import db
from services.runtime.cache import FOUNDATION_ENDPOINT, record_cache_key
from services.runtime.duties import ADMINISTRATOR, APPLICANT, APPROVER, AUDITOR, DATA_OFFICER, REVIEWER
from services.runtime.embedded import EmbeddedServers, create_database
from services.runtime.errors import details_of
from services.runtime.identity import Caller
from services.runtime.server import RunningServer, start_server
from services.runtime.settings import Settings

pytestmark = pytest.mark.integration

ONLINE = common.SHARE_METHOD_ONLINE_QUERY
DOWNLOAD = common.SHARE_METHOD_BATCH_DOWNLOAD
ADMIN = common.Purpose(type=common.PURPOSE_TYPE_ADMINISTRATIVE_BASIS, text="低保资格审核 2026-0001")
WORK = common.Purpose(type=common.PURPOSE_TYPE_WORK_REFERENCE, text="窗口业务办理")
CHECK = common.Purpose(type=common.PURPOSE_TYPE_DATA_VERIFICATION, text="身份核验")


def credit_code(rng: random.Random) -> str:
    body = f"1111{rng.randrange(10**4):04d}MB{rng.randrange(10**7):07d}"
    return body + uscc.calc_check_digit(body)


def citizen_id(rng: random.Random) -> str:
    birth = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(18000))
    body = f"110105{birth:%Y%m%d}{rng.randrange(1000):03d}"
    return body + ric.calc_check_digit(body + "0")


@dataclass
class Mesh:
    """The four running services and the world the tests act in."""

    servers: dict[str, RunningServer]
    settings: Settings
    channels: dict[str, grpc.aio.Channel]
    signer: CallerMetadata
    authority: Caller
    provider: Caller
    market: Caller
    user: Caller
    other: Caller
    codes: dict[str, str]
    persons: dict[str, dict[str, str]] = field(default_factory=dict)
    entities: dict[str, dict[str, str]] = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.Random)

    def md(self, caller: Caller) -> tuple[tuple[str, str], tuple[str, str]]:
        return self.signer.metadata(caller)

    @property
    def query(self) -> query_pb2_grpc.QueryServiceStub:
        return query_pb2_grpc.QueryServiceStub(self.channels["query"])

    @property
    def disputes(self) -> dispute_pb2_grpc.DisputeServiceStub:
        return dispute_pb2_grpc.DisputeServiceStub(self.channels["query"])

    @property
    def audit(self) -> audit_pb2_grpc.AuditServiceStub:
        return audit_pb2_grpc.AuditServiceStub(self.channels["query"])

    @property
    def sharing(self) -> sharing_pb2_grpc.SharingServiceStub:
        return sharing_pb2_grpc.SharingServiceStub(self.channels["authorization"])

    def department(self, name: str) -> Caller:
        """A fresh department's business system (departments are identified by their signed caller)."""
        return Caller(f"sys-{name}-{uuid.uuid4().hex[:6]}", credit_code(self.rng))


def entry(code: str, name: str, category: int, subject: str, provider: Caller, items: list[cat.DataItem],
          dataset: str, share_type: int, methods: list[int], **extra: str) -> cat.Entry:
    return cat.Entry(
        code=code, name=name, summary=f"{name}（测试）", category=category, subject=subject,
        provider_department_code=provider.department_code, provider_name="测试提供部门",
        format_class=cat.FORMAT_CLASS_DATABASE, format_type="关系型数据库", items=items,
        key_item=items[0].machine_name, share_type=share_type, share_methods=methods,
        update_cycle=cat.UPDATE_CYCLE_DAILY, zone=common.ZONE_EXTRANET, secrecy=cat.SECRECY_NON_CLASSIFIED,
        endpoint=cat.ProviderEndpoint(target="", dataset=dataset), **extra)


async def publish(mesh: Mesh, new: cat.Entry, by: Caller | None = None) -> None:
    """Creates and submits ``new`` as ``by`` (the authority unless said: an entry naming a department's own endpoint
    is its provider's to create), and publishes it as the authority's 审核员."""
    catalog = catalog_pb2_grpc.CatalogServiceStub(mesh.channels["catalog"])
    md = mesh.md(by or mesh.authority)
    await catalog.CreateEntry(cat.CreateEntryRequest(entry=new), metadata=md, timeout=10)
    await catalog.SubmitEntry(cat.SubmitEntryRequest(code=new.code), metadata=md, timeout=10)
    await catalog.ReviewEntry(cat.ReviewEntryRequest(code=new.code, decision=cat.REVIEW_DECISION_PUBLISH),
                              metadata=mesh.md(person_of(mesh.authority, REVIEWER)), timeout=10)


async def load(mesh: Mesh, dataset: str, rows: list[dict[str, str]], source: Caller) -> None:
    """Loads rows as the dataset's authoritative source, which the authority designates first."""
    admin = foundation_pb2_grpc.FoundationAdminServiceStub(mesh.channels["foundation"])
    md = mesh.md(mesh.authority)
    await admin.DesignateAuthoritativeSource(foundation_pb2.DesignateAuthoritativeSourceRequest(
        dataset=dataset, department_code=source.department_code), metadata=md, timeout=10)
    loaded = await admin.LoadRecords(foundation_pb2.LoadRecordsRequest(
        dataset=dataset, records=[foundation_pb2.RecordInput(values=row) for row in rows]),
        metadata=mesh.md(source), timeout=30)
    assert not loaded.rejected, loaded.rejected
    assert loaded.accepted == len(rows)


def person(key: str, rng: random.Random) -> dict[str, str]:
    return {"citizen_id": key, "name": rng.choice(["张三丰", "李四光", "王五常", "赵六合"]),
            "sex": "男" if int(key[16]) % 2 else "女", "ethnicity": "汉族",
            "birth_date": f"{key[6:10]}-{key[10:12]}-{key[12:14]}", "address": "北京市朝阳区建国路88号",
            "address_region_code": "110105", "status": "正常"}


def company(key: str) -> dict[str, str]:
    return {"credit_code": key, "name": f"测试科技有限公司{key[-6:]}", "entity_type": "有限责任公司",
            "legal_representative": "欧阳明月", "registered_capital": "100", "established_date": "2010-05-20",
            "address": "北京市海淀区中关村大街1号", "registration_authority": "北京市海淀区市场监督管理局",
            "status": "存续"}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def mesh(base_settings: Settings, embedded: EmbeddedServers) -> AsyncIterator[Mesh]:
    """The four services on a database of their own: the foundation datasets and the catalog are
    platform-wide, so this module's records and entries stay out of other modules' counts."""
    async with running_mesh(base_settings, embedded) as world:
        yield world


@contextlib.asynccontextmanager
async def running_mesh(base_settings: Settings, embedded: EmbeddedServers) -> AsyncIterator[Mesh]:
    """The four services, seeded, on a fresh database (and on the Redis ``base_settings`` names)."""
    database_url = await create_database(embedded.database_url, f"govshare_query_{uuid.uuid4().hex[:8]}")
    await db.migrate_all(database_url)
    base_settings = base_settings.with_overrides(database_url=database_url)
    servers: dict[str, RunningServer] = {}
    targets: dict[str, str] = {}
    try:
        for name, factory in (("catalog", create_catalog), ("foundation", create_foundation),
                              ("authorization", create_authorization), ("query", create_query)):
            own = base_settings.with_overrides(component=name, **targets)
            servers[name] = await start_server(own, factory(own))
            targets[f"{name}_target"] = f"127.0.0.1:{servers[name].port}"
        channels = {name: grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") for name, server in servers.items()}
        rng = random.Random(uuid.uuid4().int)
        seq = rng.randrange(900000, 999990)
        codes = {"population": f"101001/{seq:06d}", "entities": f"102001/{seq:06d}",
                 "credit": f"207001/{seq:06d}", "secret": f"301001/{seq:06d}"}
        world = Mesh(servers=servers, settings=base_settings, channels=channels,
                     signer=CallerMetadata.of(base_settings),
                     authority=Caller("sys-authority", credit_code(rng), authority=True),
                     provider=Caller("sys-police", credit_code(rng)), market=Caller("sys-market", credit_code(rng)),
                     user=Caller("sys-civil", credit_code(rng)), other=Caller("sys-social", credit_code(rng)),
                     codes=codes, rng=rng)
        await publish(world, entry(codes["population"], "人口基本信息", cat.CATEGORY_FOUNDATION, "人口",
                                   world.provider, POPULATION_ITEMS, "population", common.SHARE_TYPE_CONDITIONAL,
                                   [ONLINE, DOWNLOAD], share_condition="用于法定职责范围内的业务办理"))
        await publish(world, entry(codes["entities"], "法人单位基本信息", cat.CATEGORY_FOUNDATION, "法人单位",
                                   world.market, ENTITY_ITEMS, "legal_entity", common.SHARE_TYPE_UNCONDITIONAL,
                                   [ONLINE, DOWNLOAD]))
        await publish(world, entry(codes["credit"], "企业信用基础信息", cat.CATEGORY_THEME, "信用体系", world.market,
                                   ENTITY_ITEMS[:4], "legal_entity", common.SHARE_TYPE_UNCONDITIONAL, [ONLINE]))
        await publish(world, entry(codes["secret"], "在侦案件涉案人员信息", cat.CATEGORY_DEPARTMENT, "刑事侦查",
                                   world.provider, POPULATION_ITEMS[:2], "population", common.SHARE_TYPE_NOT_SHARED,
                                   [ONLINE], legal_basis="《中华人民共和国刑事诉讼法》关于侦查秘密的规定"))
        while len(world.persons) < 6 or not any(key.endswith("X") for key in world.persons):
            key = citizen_id(rng)
            world.persons[key] = person(key, rng)
        for _ in range(4):
            key = credit_code(rng)
            world.entities[key] = company(key)
        await load(world, "population", list(world.persons.values()), world.provider)
        await load(world, "legal_entity", list(world.entities.values()), world.market)
        yield world
        for channel in channels.values():
            await channel.close()
    finally:
        for server in reversed(list(servers.values())):
            await server.stop(0)


def reason(error: grpc.aio.AioRpcError) -> str:
    info, _ = details_of(error)
    return info.reason if info is not None else ""


def fields(error: grpc.aio.AioRpcError) -> set[str]:
    _, bad = details_of(error)
    return {v.field for v in bad.field_violations} if bad is not None else set()


def audit_id_of(error: grpc.aio.AioRpcError) -> str:
    info, _ = details_of(error)
    return info.metadata["audit_id"] if info is not None else ""


async def query(mesh: Mesh, caller: Caller, code: str, key: str, purpose: common.Purpose = WORK,
                items: list[str] | tuple[str, ...] = ()) -> query_pb2.QueryResponse:
    return await mesh.query.Query(query_pb2.QueryRequest(resource_code=code, key=key, items=list(items),
                                                         purpose=purpose), metadata=mesh.md(caller), timeout=10)


async def approved(mesh: Mesh, user: Caller, code: str, items: list[str], *, quota: int = 0,
                   unmasked: list[str] | None = None, purposes: list[int] | None = None,
                   methods: list[int] | None = None) -> sharing_pb2.Grant:
    """The grant of ``user``'s application for ``items`` of ``code`` (online query unless ``methods`` say, 30
    days), approved by the provider's approver as asked, with ``unmasked`` items whole."""
    expire = timestamp_pb2.Timestamp()
    expire.FromDatetime(dt.datetime.now(dt.UTC) + dt.timedelta(days=30))
    submitted = await mesh.sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(
        application=sharing_pb2.Application(
            resource_code=code, items=items, purposes=purposes or [common.PURPOSE_TYPE_WORK_REFERENCE],
            purpose_text="窗口办件", basis="职责", requested_expire_time=expire, methods=methods or [ONLINE],
            quota=quota)),
        metadata=mesh.md(user), timeout=10)
    replied = await mesh.sharing.ReplyApplication(sharing_pb2.ReplyApplicationRequest(
        id=submitted.application.id, decision=sharing_pb2.REPLY_DECISION_APPROVE, unmasked_items=unmasked or []),
        metadata=mesh.md(person_of(mesh.provider, APPROVER)), timeout=10)
    return replied.grant


async def refused(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await call  # type: ignore[misc]
    return failure.value


# --- online query ------------------------------------------------------------------------------

async def test_unconditional_query_is_answered_masked_with_provenance(mesh: Mesh) -> None:
    key, record = next(iter(mesh.entities.items()))
    response = await query(mesh, mesh.other, mesh.codes["entities"], key)
    assert response.values["credit_code"] == key
    assert response.values["name"] == record["name"]
    assert response.values["registered_capital"] == "100"
    # 法定代表人 is personal information: masked by its rule, and said so.
    assert list(response.masked_items) == ["legal_representative"]
    assert response.values["legal_representative"] == "欧***"
    assert response.provenance.provider_department_code == mesh.market.department_code
    assert response.provenance.as_of_time.seconds > 0
    assert not response.provenance.disputed
    assert response.audit_id


async def test_only_the_requested_items_are_returned(mesh: Mesh) -> None:
    key = next(iter(mesh.entities))
    response = await query(mesh, mesh.other, mesh.codes["entities"], key.lower(), items=["name", "status"])
    assert set(response.values) == {"name", "status"}
    assert list(response.masked_items) == []


async def test_conditional_resource_cycle_refuse_approve_narrow_purpose_revoke(mesh: Mesh) -> None:
    user = mesh.department("applicant")
    key, record = next(iter(mesh.persons.items()))
    code = mesh.codes["population"]
    wanted = ["citizen_id", "name", "birth_date", "address", "status"]
    refusal = await refused(query(mesh, user, code, key, ADMIN, ["birth_date", "status"]))
    assert refusal.code() == grpc.StatusCode.PERMISSION_DENIED
    assert reason(refusal) == "NOT_GRANTED"
    assert audit_id_of(refusal)

    # The basic items of a foundation database are shared unconditionally (R-SHR-4).
    basic = await query(mesh, user, code, key, ADMIN, ["citizen_id", "name"])
    assert set(basic.values) == {"citizen_id", "name"}
    assert basic.values["citizen_id"] == key[:6] + "*" * 8 + key[-4:]

    expire = timestamp_pb2.Timestamp()
    expire.FromDatetime(dt.datetime.now(dt.UTC) + dt.timedelta(days=90))
    submitted = await mesh.sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(
        application=sharing_pb2.Application(
            resource_code=code, items=wanted, purposes=[common.PURPOSE_TYPE_ADMINISTRATIVE_BASIS],
            purpose_text="低保资格审核", basis="《社会救助暂行办法》第十一条", requested_expire_time=expire,
            methods=[ONLINE], quota=0)), metadata=mesh.md(user), timeout=10)
    narrowed = ["citizen_id", "name", "birth_date", "status"]
    replied = await mesh.sharing.ReplyApplication(sharing_pb2.ReplyApplicationRequest(
        id=submitted.application.id, decision=sharing_pb2.REPLY_DECISION_APPROVE, items=narrowed),
        metadata=mesh.md(person_of(mesh.provider, APPROVER)), timeout=10)
    assert replied.application.state == sharing_pb2.APPLICATION_STATE_APPROVED

    # The decision cached above (NOT_GRANTED) was dropped by the grant event: answered now.
    answered = await query(mesh, user, code, key, ADMIN, ["birth_date", "status"])
    assert dict(answered.values) == {"birth_date": record["birth_date"], "status": "正常"}
    everything = await query(mesh, user, code, key, ADMIN)
    assert set(everything.values) == set(narrowed)
    assert set(everything.masked_items) == {"citizen_id", "name"}

    item_refusal = await refused(query(mesh, user, code, key, ADMIN, ["birth_date", "address"]))
    assert reason(item_refusal) == "ITEM_NOT_GRANTED"
    # Which items no grant holds, for a program to narrow its request by (the message says it to a person).
    assert details_of(item_refusal)[0].metadata["denied_items"] == "address"
    purpose_refusal = await refused(query(mesh, user, code, key, WORK, ["birth_date"]))
    assert reason(purpose_refusal) == "PURPOSE_NOT_GRANTED"

    # Revocation takes effect on the very next query, though the decision was just cached.
    await mesh.sharing.RevokeGrant(sharing_pb2.RevokeGrantRequest(id=replied.grant.id, reason="职责调整"),
                                   metadata=mesh.md(person_of(mesh.provider, APPROVER)), timeout=10)
    revoked = await refused(query(mesh, user, code, key, ADMIN, ["birth_date", "status"]))
    assert revoked.code() == grpc.StatusCode.PERMISSION_DENIED
    assert reason(revoked) == "REVOKED"
    assert f"your grant {replied.grant.id} for resource {code} was revoked (职责调整)" in str(revoked.details())


async def test_a_grant_quota_is_counted_and_enforced(mesh: Mesh) -> None:
    user = mesh.department("quota")
    key = list(mesh.persons)[1]
    code = mesh.codes["population"]
    await approved(mesh, user, code, ["birth_date"], quota=2)
    await query(mesh, user, code, key, WORK, ["birth_date"])
    # A BatchQuery counts each key: two keys with one call left are refused saying one is left, not "used up".
    batch = await refused(mesh.query.BatchQuery(query_pb2.BatchQueryRequest(
        resource_code=code, keys=list(mesh.persons)[1:3], items=["birth_date"], purpose=WORK),
        metadata=mesh.md(user), timeout=10))
    assert reason(batch) == "QUOTA_EXHAUSTED"
    grant = details_of(batch)[0].metadata
    assert (grant["quota"], grant["quota_left"]) == ("2", "1")
    assert "this call counts 2 keys and grant " in str(batch.details())
    assert "allows 2 calls in all (a BatchQuery counts each of its keys; the quota counts over the grant's whole " \
           "term and does not reset) with 1 left: ask for at most 1 key, or ask the provider department to raise " \
           "the quota (SharingService.UpdateGrant)" in str(batch.details())
    await query(mesh, user, code, key, WORK, ["birth_date"])
    exhausted = await refused(query(mesh, user, code, key, WORK, ["birth_date"]))
    assert reason(exhausted) == "QUOTA_EXHAUSTED"
    assert details_of(exhausted)[0].metadata["quota_left"] == "0"
    assert "and every one is used: ask the provider department to raise the quota" in str(exhausted.details())


async def test_the_calls_a_grant_served_before_it_had_a_quota_count_against_the_quota_set_later(mesh: Mesh) -> None:
    """A grant without a quota served three calls (a Query, and a BatchQuery of two keys); its provider then set it
    a quota of 4 (UpdateGrant narrows a grant so). Only calls made with a quota were counted, so the grant served 4
    more: the quota counts the calls of the grant's whole term, so it serves one."""
    user = mesh.department("quota-later")
    keys = list(mesh.persons)[1:3]
    code = mesh.codes["population"]
    grant = await approved(mesh, user, code, ["birth_date"])
    await query(mesh, user, code, keys[0], WORK, ["birth_date"])
    await mesh.query.BatchQuery(query_pb2.BatchQueryRequest(resource_code=code, keys=keys, items=["birth_date"],
                                                            purpose=WORK), metadata=mesh.md(user), timeout=10)
    await mesh.sharing.UpdateGrant(sharing_pb2.UpdateGrantRequest(
        grant=sharing_pb2.Grant(id=grant.id, quota=4), update_mask=field_mask_pb2.FieldMask(paths=["quota"])),
        metadata=mesh.md(person_of(mesh.provider, APPROVER)), timeout=10)
    answered = 0
    while answered < 10:  # a call made before the query service heard of the quota counts all the same
        try:
            await query(mesh, user, code, keys[0], WORK, ["birth_date"])
        except grpc.aio.AioRpcError as error:
            assert reason(error) == "QUOTA_EXHAUSTED", error.details()
            assert details_of(error)[0].metadata["quota_left"] == "0"
            break
        answered += 1
    assert answered == 1


async def test_a_verification_of_basic_items_spends_no_quota_of_a_grant_unmasking_them(mesh: Mesh) -> None:
    """A grant unmasking a basic item (the whole 姓名) answers a query of that item alone, and counts it. A
    verification of it answers match or not, which every department may ask without a grant (R-SHR-4): it was
    answered under the grant too and spent its quota, so a department verifying names used up the grant it had
    applied for to read them, and its queries were refused QUOTA_EXHAUSTED."""
    user = mesh.department("verify-unmasked")
    key = list(mesh.persons)[3]
    code = mesh.codes["population"]
    grant = await approved(mesh, user, code, ["name"], quota=2, unmasked=["name"],
                           purposes=[common.PURPOSE_TYPE_WORK_REFERENCE, common.PURPOSE_TYPE_DATA_VERIFICATION])
    name = mesh.persons[key]["name"]
    verified = [await mesh.query.Verify(query_pb2.VerifyRequest(
        resource_code=code, key=key, claims={"name": name}, purpose=CHECK), metadata=mesh.md(user), timeout=10)
        for _ in range(3)]
    assert {v.outcomes["name"] for v in verified} == {query_pb2.VERIFY_OUTCOME_MATCH}
    answered = [await query(mesh, user, code, key, WORK, ["name"]) for _ in range(2)]
    assert {a.values["name"] for a in answered} == {name}  # whole, under the grant
    listed = await mesh.audit.ListAccesses(audit_pb2.ListAccessesRequest(department_code=user.department_code),
                                           metadata=mesh.md(mesh.authority), timeout=10)
    by_id = {a.id: a.grant_id for a in listed.accesses}
    assert [by_id[v.audit_id] for v in verified] == ["", "", ""]
    assert [by_id[a.audit_id] for a in answered] == [grant.id] * 2
    # Its quota used up, the department still gets what every department gets without a grant: the name masked.
    masked = await query(mesh, user, code, key, WORK, ["name"])
    assert masked.values["name"] != name and "name" in masked.masked_items
    listed = await mesh.audit.ListAccesses(audit_pb2.ListAccessesRequest(department_code=user.department_code),
                                           metadata=mesh.md(mesh.authority), timeout=10)
    assert {a.id: a.grant_id for a in listed.accesses}[masked.audit_id] == ""


async def test_each_access_names_the_grant_it_was_answered_under_and_a_grants_accesses_are_listed(
        mesh: Mesh) -> None:
    """An auditor checking a conditional sharing goes from an access to its grant (and so to the application, its
    approver and conditions) and lists what was read under one grant before revoking it: the access records named
    no grant. An access to an unconditional resource names none (its basis is the catalog entry)."""
    user = mesh.department("grant-audit")
    key = list(mesh.persons)[2]
    code = mesh.codes["population"]
    expire = timestamp_pb2.Timestamp()
    expire.FromDatetime(dt.datetime.now(dt.UTC) + dt.timedelta(days=30))
    submitted = await mesh.sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(
        application=sharing_pb2.Application(
            resource_code=code, items=["birth_date"], purposes=[common.PURPOSE_TYPE_WORK_REFERENCE],
            purpose_text="窗口办件", basis="职责", requested_expire_time=expire, methods=[ONLINE])),
        metadata=mesh.md(user), timeout=10)
    replied = await mesh.sharing.ReplyApplication(sharing_pb2.ReplyApplicationRequest(
        id=submitted.application.id, decision=sharing_pb2.REPLY_DECISION_APPROVE),
        metadata=mesh.md(person_of(mesh.provider, APPROVER)), timeout=10)
    grant_id = replied.grant.id
    granted = [(await query(mesh, user, code, key, WORK, ["birth_date"])).audit_id for _ in range(2)]
    unconditional = await query(mesh, user, mesh.codes["entities"], next(iter(mesh.entities)), WORK, ["name"])
    denied = audit_id_of(await refused(query(mesh, user, code, key, WORK, ["address"])))
    listed = await mesh.audit.ListAccesses(audit_pb2.ListAccessesRequest(department_code=user.department_code),
                                           metadata=mesh.md(mesh.authority), timeout=10)
    assert {a.id: a.grant_id for a in listed.accesses} == {
        granted[0]: grant_id, granted[1]: grant_id, unconditional.audit_id: "", denied: ""}
    under = await mesh.audit.ListAccesses(audit_pb2.ListAccessesRequest(grant_id=grant_id),
                                          metadata=mesh.md(person_of(mesh.provider, AUDITOR)), timeout=10)
    assert [a.id for a in under.accesses] == granted[::-1]
    malformed = await refused(mesh.audit.ListAccesses(audit_pb2.ListAccessesRequest(grant_id="app-1"),
                                                      metadata=mesh.md(mesh.authority), timeout=10))
    assert malformed.code() == grpc.StatusCode.INVALID_ARGUMENT and fields(malformed) == {"grant_id"}


async def test_a_department_that_applied_again_after_its_quota_ran_out_is_served_by_its_new_grant(
        mesh: Mesh) -> None:
    """Query counts quotas, the decision picks a grant by items and term: the wider grant, used up, was picked for
    every call, so the grant applied for again was never reached and every call was refused QUOTA_EXHAUSTED."""
    user = mesh.department("quota-again")
    key = list(mesh.persons)[2]
    code = mesh.codes["population"]

    async def granted(items: list[str], quota: int, days: int) -> str:
        expire = timestamp_pb2.Timestamp()
        expire.FromDatetime(dt.datetime.now(dt.UTC) + dt.timedelta(days=days))
        submitted = await mesh.sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(
            application=sharing_pb2.Application(
                resource_code=code, items=items, purposes=[common.PURPOSE_TYPE_WORK_REFERENCE],
                purpose_text="窗口办件", basis="职责", requested_expire_time=expire, methods=[ONLINE], quota=quota)),
            metadata=mesh.md(user), timeout=10)
        replied = await mesh.sharing.ReplyApplication(sharing_pb2.ReplyApplicationRequest(
            id=submitted.application.id, decision=sharing_pb2.REPLY_DECISION_APPROVE),
            metadata=mesh.md(person_of(mesh.provider, APPROVER)), timeout=10)
        return replied.grant.id

    old = await granted(["birth_date", "status"], quota=1, days=60)
    await query(mesh, user, code, key, WORK, ["birth_date"])
    used_up = await refused(query(mesh, user, code, key, WORK, ["birth_date"]))
    assert reason(used_up) == "QUOTA_EXHAUSTED"

    new = await granted(["birth_date"], quota=2, days=30)  # applied for again, as the refusal advises
    for _ in range(2):
        answered = await query(mesh, user, code, key, WORK, ["birth_date"])
        assert set(answered.values) == {"birth_date"}
    # Both used up: the refusal names both grants, in the message and the metadata, the first refusal and the
    # next (answered from the decision kept, which stands in for the old grant) alike.
    for _ in range(2):
        both = await refused(query(mesh, user, code, key, WORK, ["birth_date"]))
        assert reason(both) == "QUOTA_EXHAUSTED"
        metadata = details_of(both)[0].metadata
        assert metadata["quota_left"] == "0"
        assert (metadata["grant_ids"], metadata["quotas"], metadata["quotas_left"]) == (f"{old},{new}", "1,2", "0,0")
        assert f"none of the 2 grants of your department that cover it has the calls: grant {old} allows 1 calls " \
               f"in all, 0 left; grant {new} allows 2 calls in all, 0 left" in str(both.details())
    # The items only the used-up grant holds stay refused as used up, not answered by the other grant.
    status = await refused(query(mesh, user, code, key, WORK, ["birth_date", "status"]))
    assert reason(status) == "QUOTA_EXHAUSTED"


async def _republished(mesh: Mesh, code: str, items: list[cat.DataItem]) -> None:
    """The provider's catalogue update of ``code`` to ``items``, published."""
    catalog = catalog_pb2_grpc.CatalogServiceStub(mesh.channels["catalog"])
    await catalog.UpdateEntry(cat.UpdateEntryRequest(entry=cat.Entry(code=code, items=items),
                                                     update_mask=field_mask_pb2.FieldMask(paths=["items"])),
                              metadata=mesh.md(mesh.provider), timeout=10)
    await catalog.SubmitEntry(cat.SubmitEntryRequest(code=code), metadata=mesh.md(mesh.provider), timeout=10)
    await catalog.ReviewEntry(cat.ReviewEntryRequest(code=code, decision=cat.REVIEW_DECISION_PUBLISH),
                              metadata=mesh.md(person_of(mesh.authority, REVIEWER)), timeout=10)


async def _asked_until(call: Callable[[], Awaitable[object]], done: Callable[[object], bool]) -> object:
    """``call``'s outcome (its answer or its error) once ``done`` says query has the catalog's change (its event
    drops the entries and decisions in milliseconds; bounded at about three seconds)."""
    for _ in range(300):
        try:
            outcome: object = await call()
        except grpc.aio.AioRpcError as error:
            outcome = error
        if done(outcome):
            return outcome
        await asyncio.sleep(0.01)
    raise AssertionError(f"query did not see the catalogue update: {outcome}")


def unknown(outcome: object) -> bool:
    """The item asked for is no item of the resource (INVALID_ARGUMENT): the catalogue update that dropped it seen."""
    return isinstance(outcome, grpc.aio.AioRpcError) and outcome.code() == grpc.StatusCode.INVALID_ARGUMENT


async def _granted_one_item(mesh: Mesh, user: Caller, number: int, item: str,
                            *also: str) -> tuple[str, list[cat.DataItem], sharing_pb2.Grant]:
    """A conditional population resource of its own (the ``number``-th after the module's, with basic items
    citizen_id and name, birth_date and status), and ``user``'s grant for ``item`` alone (and ``also``; 100
    calls)."""
    code = f"101001/{int(mesh.codes['population'][-6:]) + number:06d}"
    items = [i for i in POPULATION_ITEMS if i.machine_name in ("citizen_id", "name", "birth_date", "status")]
    await publish(mesh, entry(code, f"人口信息（{item}）", cat.CATEGORY_FOUNDATION, "人口", mesh.provider, items,
                              "population", common.SHARE_TYPE_CONDITIONAL, [ONLINE],
                              share_condition="用于法定职责范围内的业务办理"))
    expire = timestamp_pb2.Timestamp()
    expire.FromDatetime(dt.datetime.now(dt.UTC) + dt.timedelta(days=30))
    submitted = await mesh.sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(
        application=sharing_pb2.Application(
            resource_code=code, items=[item, *also], purposes=[common.PURPOSE_TYPE_WORK_REFERENCE],
            purpose_text="窗口办件", basis="职责", requested_expire_time=expire, methods=[ONLINE], quota=100)),
        metadata=mesh.md(user), timeout=10)
    grant = (await mesh.sharing.ReplyApplication(sharing_pb2.ReplyApplicationRequest(
        id=submitted.application.id, decision=sharing_pb2.REPLY_DECISION_APPROVE),
        metadata=mesh.md(person_of(mesh.provider, APPROVER)), timeout=10)).grant
    return code, items, grant


async def test_a_grant_whose_every_item_was_dropped_and_added_back_is_refused_and_counts_nothing(
        mesh: Mesh) -> None:
    """A grant for birth_date alone, whose birth_date a catalogue update dropped and a later one added back, covers
    nothing, yet it still served: a Query naming no items was answered with the basic items under it (its id in the
    access record, the call counted against its quota), and one naming birth_date was refused ITEM_NOT_GRANTED as if
    another grant might cover it. It is refused GRANT_LAPSED, audited so, and counts nothing."""
    user = mesh.department("lapsed")
    key = list(mesh.persons)[3]
    code, items, grant = await _granted_one_item(mesh, user, 1, "birth_date")
    assert set((await query(mesh, user, code, key, WORK)).values) == {"citizen_id", "name", "birth_date"}

    def birth_date() -> Awaitable[query_pb2.QueryResponse]:
        return query(mesh, user, code, key, WORK, ["birth_date"])

    await _republished(mesh, code, [i for i in items if i.machine_name != "birth_date"])
    await _asked_until(birth_date, unknown)
    await _republished(mesh, code, items)
    lapsed = await _asked_until(birth_date, lambda outcome: not unknown(outcome))
    assert isinstance(lapsed, grpc.aio.AioRpcError), lapsed
    assert lapsed.code() == grpc.StatusCode.PERMISSION_DENIED and reason(lapsed) == "GRANT_LAPSED", lapsed
    assert f"every item of your grant {grant.id} for resource {code} (birth_date) was dropped from the catalog " \
           "after the grant was made" in str(lapsed.details())
    assert details_of(lapsed)[0].metadata["denied_items"] == "birth_date"
    # Naming no items: the basic items every department gets (R-SHR-4), not under the grant, nothing counted.
    basic = await query(mesh, user, code, key, WORK)
    assert set(basic.values) == {"citizen_id", "name"}
    batch = await mesh.query.BatchQuery(query_pb2.BatchQueryRequest(resource_code=code, keys=[key], purpose=WORK),
                                        metadata=mesh.md(user), timeout=10)
    assert set(batch.results[0].values) == {"citizen_id", "name"}
    verified = await refused(mesh.query.Verify(query_pb2.VerifyRequest(
        resource_code=code, key=key, claims={"birth_date": mesh.persons[key]["birth_date"]}, purpose=CHECK),
        metadata=mesh.md(user), timeout=10))
    assert reason(verified) == "GRANT_LAPSED"
    listed = await mesh.audit.ListAccesses(audit_pb2.ListAccessesRequest(department_code=user.department_code),
                                           metadata=mesh.md(mesh.authority), timeout=10)
    by_id = {a.id: a for a in listed.accesses}
    for refusal in (lapsed, verified):
        record = by_id[audit_id_of(refusal)]
        assert (record.result, record.deny_reason) == (audit_pb2.ACCESS_RESULT_DENIED,
                                                       common.DENY_REASON_GRANT_LAPSED)
    assert (by_id[basic.audit_id].grant_id, by_id[batch.audit_id].grant_id) == ("", "")
    # Nothing after the catalogue update is under the grant (so nothing of it counted against its quota).
    under = await mesh.audit.ListAccesses(audit_pb2.ListAccessesRequest(grant_id=grant.id),
                                          metadata=mesh.md(mesh.authority), timeout=10)
    assert not {basic.audit_id, batch.audit_id}.intersection(a.id for a in under.accesses)


async def test_a_grant_whose_every_item_the_catalog_dropped_serves_nothing_and_says_so(mesh: Mesh) -> None:
    """A catalogue update dropped status, the one item a grant was made for: the grant covers nothing, yet GetGrant
    still listed status among its items and a Query naming no items was answered with the basic items under it (its
    id in the access record, the call counted against its quota). The grant shows status in lapsed_items, and the
    basic items are answered as to any department, nothing under the grant."""
    user = mesh.department("dropped")
    key = list(mesh.persons)[4]
    code, items, grant = await _granted_one_item(mesh, user, 2, "status")
    assert set((await query(mesh, user, code, key, WORK)).values) == {"citizen_id", "name", "status"}
    await _republished(mesh, code, [i for i in items if i.machine_name != "status"])
    await _asked_until(lambda: query(mesh, user, code, key, WORK, ["status"]), unknown)
    shown = (await mesh.sharing.GetGrant(sharing_pb2.GetGrantRequest(id=grant.id), metadata=mesh.md(user),
                                         timeout=10)).grant
    assert (list(shown.items), list(shown.lapsed_items)) == ([], ["status"]), shown
    basic = await query(mesh, user, code, key, WORK)
    assert set(basic.values) == {"citizen_id", "name"}
    listed = await mesh.audit.ListAccesses(audit_pb2.ListAccessesRequest(department_code=user.department_code),
                                           metadata=mesh.md(mesh.authority), timeout=10)
    assert next(a for a in listed.accesses if a.id == basic.audit_id).grant_id == ""
    refusal = await refused(query(mesh, user, code, key, WORK, ["birth_date"]))
    assert reason(refusal) == "GRANT_LAPSED" and f"grant {grant.id}" in str(refusal.details())


async def test_an_item_the_catalog_masks_from_now_on_is_masked_whichever_service_hears_it_first(
        mesh: Mesh, monkeypatch: pytest.MonkeyPatch) -> None:
    """A catalogue update marks status sensitive (masked in full). Query and authorization each drop the entry when
    they hear its change event: query heard it first, dropped its decisions and asked again, and authorization, which
    had not heard it yet, decided on the version before, status unmasked; query kept that decision for its TTL and
    the value went out whole. Here authorization never hears it (its entry copy lives its minute): query asks for a
    decision on the version it answers with, and status comes back masked."""
    user = mesh.department("masked-later")
    key = list(mesh.persons)[5]
    code, items, _ = await _granted_one_item(mesh, user, 4, "status")
    status = mesh.persons[key]["status"]
    assert (await query(mesh, user, code, key, WORK, ["status"])).values["status"] == status
    monkeypatch.setattr(mesh.servers["authorization"].component._entries._cache, "on_event",  # type: ignore[attr-defined]
                        lambda _payload: None)
    masked = [cat.DataItem(**{**{f.name: getattr(i, f.name) for f, _ in i.ListFields()}, "sensitive": True,
                              "mask_rule": "full"}) if i.machine_name == "status" else i for i in items]
    await _republished(mesh, code, masked)
    answered = await _asked_until(lambda: query(mesh, user, code, key, WORK, ["status"]),
                                  lambda outcome: isinstance(outcome, query_pb2.QueryResponse)
                                  and "status" in outcome.masked_items)
    assert isinstance(answered, query_pb2.QueryResponse) and answered.values["status"] == "*" * len(status)


async def test_a_resource_asked_of_before_it_was_published_is_answered_once_query_has_it(
        mesh: Mesh, monkeypatch: pytest.MonkeyPatch) -> None:
    """A business system applied for a resource announced but not yet published: authorization, asked of its code,
    kept "no such entry" for its copy's minute. Query heard the publish event, answered with the entry, and
    authorization, not having heard it, refused NOT_FOUND a resource the catalog lists, for that minute. Here
    authorization never hears it: query's Check names the version it answers with, and authorization asks again."""
    user = mesh.department("announced")
    code = f"101001/{int(mesh.codes['population'][-6:]) + 5:06d}"
    items = [i for i in POPULATION_ITEMS if i.machine_name in ("citizen_id", "name", "status")]
    catalog = catalog_pb2_grpc.CatalogServiceStub(mesh.channels["catalog"])
    await catalog.CreateEntry(cat.CreateEntryRequest(entry=entry(
        code, "人口信息（待发布）", cat.CATEGORY_FOUNDATION, "人口", mesh.provider, items, "population",
        common.SHARE_TYPE_CONDITIONAL, [ONLINE], share_condition="用于法定职责范围内的业务办理")),
        metadata=mesh.md(mesh.authority), timeout=10)
    await catalog.SubmitEntry(cat.SubmitEntryRequest(code=code), metadata=mesh.md(mesh.authority), timeout=10)
    early = await refused(mesh.sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(
        application=sharing_pb2.Application(resource_code=code, items=["status"], purposes=[
            common.PURPOSE_TYPE_WORK_REFERENCE], purpose_text="窗口办件", basis="职责", methods=[ONLINE], quota=10)),
        metadata=mesh.md(user), timeout=10))
    assert early.code() == grpc.StatusCode.NOT_FOUND, early
    monkeypatch.setattr(mesh.servers["authorization"].component._entries._cache, "on_event",  # type: ignore[attr-defined]
                        lambda _payload: None)
    await catalog.ReviewEntry(cat.ReviewEntryRequest(code=code, decision=cat.REVIEW_DECISION_PUBLISH),
                              metadata=mesh.md(person_of(mesh.authority, REVIEWER)), timeout=10)
    key = list(mesh.persons)[5]
    answered = await query(mesh, user, code, key, WORK)
    assert set(answered.values) == {"citizen_id", "name"}, answered


async def test_a_query_naming_no_items_is_not_counted_against_a_grant_of_basic_items_alone(mesh: Mesh) -> None:
    """A grant of name alone (a basic item: its other item, birth_date, dropped from the catalog since; an approval
    of basic items alone is refused) gives nothing any department does not get: a Query naming no items was
    answered under it, its id in the access record and the call counted against its quota."""
    user = mesh.department("basic-grant")
    key = list(mesh.persons)[5]
    code, items, grant = await _granted_one_item(mesh, user, 3, "name", "birth_date")
    await _republished(mesh, code, [i for i in items if i.machine_name != "birth_date"])
    # Seen by query once birth_date is no item (asked by another department: not answered under the grant).
    await _asked_until(lambda: query(mesh, mesh.other, code, key, WORK, ["birth_date"]), unknown)
    for _ in range(2):
        answered = await query(mesh, user, code, key, WORK)
        assert set(answered.values) == {"citizen_id", "name"}
    under = await mesh.audit.ListAccesses(audit_pb2.ListAccessesRequest(grant_id=grant.id),
                                          metadata=mesh.md(mesh.authority), timeout=10)
    assert not under.accesses, [a.id for a in under.accesses]


async def test_an_application_for_basic_items_alone_that_nothing_masks_is_refused_saying_to_query_them(
        mesh: Mesh) -> None:
    """status, a basic item of this resource that the catalog does not mask, is answered whole to every department
    without a grant (R-SHR-4): an application for it alone was stored SUBMITTED for a provider who could grant
    nothing by approving it, counted unanswered meanwhile. It is INVALID_ARGUMENT on application.items, saying to
    query it directly; one for it with a masked basic item (citizen_id, to have it whole) is still made."""
    code = f"101001/{int(mesh.codes['population'][-6:]) + 6:06d}"
    items = [cat.DataItem(), cat.DataItem(), cat.DataItem()]
    for copy, name in zip(items, ("citizen_id", "status", "birth_date"), strict=True):
        copy.CopyFrom(next(i for i in POPULATION_ITEMS if i.machine_name == name))
    items[1].basic = True
    await publish(mesh, entry(code, "人口信息（状态）", cat.CATEGORY_FOUNDATION, "人口", mesh.provider, items,
                              "population", common.SHARE_TYPE_CONDITIONAL, [ONLINE],
                              share_condition="用于法定职责范围内的业务办理"))
    expire = timestamp_pb2.Timestamp()
    expire.FromDatetime(dt.datetime.now(dt.UTC) + dt.timedelta(days=30))

    def submit(asked: list[str]) -> Awaitable[sharing_pb2.SubmitApplicationResponse]:
        return mesh.sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(application=sharing_pb2.Application(
            resource_code=code, items=asked, purposes=[common.PURPOSE_TYPE_WORK_REFERENCE], purpose_text="窗口办件",
            basis="职责", requested_expire_time=expire, methods=[ONLINE])), metadata=mesh.md(mesh.user), timeout=10)

    invalid = await refused(submit(["status"]))
    assert invalid.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [(v.field, v.description) for v in details_of(invalid)[1].field_violations] == [(
        "application.items", "status is a basic item, which every department gets whole without a grant (R-SHR-4): "
        "query it directly, no application is needed; apply only for the other items your use needs")]
    made = await submit(["citizen_id", "status"])
    assert made.application.state == sharing_pb2.APPLICATION_STATE_SUBMITTED
    await mesh.sharing.WithdrawApplication(sharing_pb2.WithdrawApplicationRequest(id=made.application.id),
                                           metadata=mesh.md(mesh.user), timeout=10)


async def test_not_shared_resource_is_refused(mesh: Mesh) -> None:
    key = next(iter(mesh.persons))
    refusal = await refused(query(mesh, mesh.user, mesh.codes["secret"], key, ADMIN, ["name"]))
    assert refusal.code() == grpc.StatusCode.PERMISSION_DENIED
    assert reason(refusal) == "NOT_SHARED"


async def test_bad_input_names_every_field(mesh: Mesh) -> None:
    bad_check = next(iter(mesh.persons))[:17] + ("0" if next(iter(mesh.persons))[17] != "0" else "1")
    invalid = await refused(query(mesh, mesh.user, mesh.codes["population"], bad_check, ADMIN))
    assert invalid.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fields(invalid) == {"key"}

    several = await refused(query(mesh, mesh.user, mesh.codes["population"], "123",
                                  common.Purpose(text="no class"), ["name", "height"]))
    assert fields(several) == {"purpose.type", "key", "items[1]"}

    # A list joined into one text is said to name several items, each named (it was "… is not an item" alone).
    joined = await refused(query(mesh, mesh.user, mesh.codes["population"], next(iter(mesh.persons)), ADMIN,
                                 ["name、citizen_id"]))
    assert fields(joined) == {"items[0]"}
    assert "it names 2 items in one; give each as an item of its own: name, citizen_id" in joined.details()

    garbage = await refused(query(mesh, mesh.user, "not a code", "x"))
    assert fields(garbage) == {"resource_code"}


async def test_a_resource_code_percent_encoded_twice_is_refused_saying_so(mesh: Mesh) -> None:
    """A REST client that encoded the URL twice (Spring's UriComponentsBuilder encoding 101001%2F000001 again:
    101001%252F000001) reached the query service with "101001%2F000001" and was told only "give a resource code such
    as 101001/000001", which it believed it had sent. The refusal says the / came as %2F and to encode once; any
    other malformed code is refused as before."""
    code = mesh.codes["population"]
    for sent in (code.replace("/", "%2F"), code.replace("/", "%2f")):
        twice = await refused(query(mesh, mesh.user, sent, next(iter(mesh.persons)), ADMIN))
        assert twice.code() == grpc.StatusCode.INVALID_ARGUMENT and fields(twice) == {"resource_code"}
        assert twice.details() == (
            "resource_code: give a resource code such as 101001/000001 (classification/sequence): its / came as %2F: "
            "your client encoded the URL twice (%252F); encode it once")
    garbage = await refused(query(mesh, mesh.user, "not%2Fa code", "x", ADMIN))
    assert garbage.details() == "resource_code: give a resource code such as 101001/000001 (classification/sequence)"


async def test_a_resource_code_with_a_blank_or_in_full_width_forms_is_refused_saying_so(mesh: Mesh) -> None:
    """A code read from a configuration file with a blank after it, or typed with a Chinese input method in
    full-width forms (１０１００１／０００００１), was refused only "give a resource code such as 101001/000001", which
    the caller believed it sent. The refusal says which; the code as sent is checked, as before."""
    code = mesh.codes["population"]
    key = next(iter(mesh.persons))
    for sent in (f"{code} ", f" {code}", f"{code}\n"):
        blank = await refused(query(mesh, mesh.user, sent, key, ADMIN))
        assert blank.code() == grpc.StatusCode.INVALID_ARGUMENT and fields(blank) == {"resource_code"}
        assert blank.details().endswith(": it has a blank before or after it: send the code alone"), blank.details()
    wide = "".join(chr(ord(c) + 0xFEE0) for c in code)
    full = await refused(query(mesh, mesh.user, wide, key, ADMIN))
    assert full.details().endswith(": it is written in full-width characters (全角): write its digits and / in "
                                   "ASCII (半角)"), full.details()


async def test_a_purpose_text_the_audit_record_cannot_hold_whole_is_refused_not_cut(mesh: Mesh) -> None:
    """The declared purpose is evidence: what the caller declared must be what the access record keeps."""
    caller = mesh.department("declares-at-length")
    key = next(iter(mesh.entities))
    code = mesh.codes["entities"]
    longest = common.Purpose(type=WORK.type, text="依" * 256)
    answered = await query(mesh, caller, code, key, longest, ["name"])
    listed = await mesh.audit.ListAccesses(audit_pb2.ListAccessesRequest(department_code=caller.department_code),
                                           metadata=mesh.md(mesh.authority), timeout=10)
    assert [(a.id, a.purpose_text) for a in listed.accesses] == [(answered.audit_id, longest.text)]
    too_long = await refused(query(mesh, caller, code, key, common.Purpose(type=WORK.type, text="依" * 257),
                                   ["name"]))
    assert too_long.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fields(too_long) == {"purpose.text"}
    assert "at most 256 characters, got 257" in too_long.details()
    nul = await refused(query(mesh, caller, code, key, common.Purpose(type=WORK.type, text="a\x00b"), ["name"]))
    assert fields(nul) == {"purpose.text"}


async def test_a_refused_calls_record_names_no_person_but_by_its_key_and_on_one_line(mesh: Mesh) -> None:
    """A call refused INVALID kept what it sent whole: a 公民身份号码 sent as the resource code or as an item name
    (a caller's fields shifted by one), and a purpose text with a line break and a person's number in it, were in
    the access list (and the persons' view) as sent, a person other than the record's key named whole, a record
    over two lines. Each is kept masked, on one line; the key is kept, and a purpose a call could declare is kept
    whole (it is evidence, masked where it is shown)."""
    caller = mesh.department("refused-on-record")
    key = next(iter(mesh.persons))
    code = mesh.codes["population"]
    number, masked = "11010519491231002X", "110105********002X"
    sent = [(code, ADMIN, [number, "name"]), (number, ADMIN, ["name"]),
            (code, common.Purpose(type=WORK.type, text=f"核查\n户主{number} 电话13812345678"), ["name"])]
    ids = [audit_id_of(await refused(query(mesh, caller, *call[:1], key, *call[1:]))) for call in sent]
    listed = await mesh.audit.ListAccesses(audit_pb2.ListAccessesRequest(department_code=caller.department_code),
                                           metadata=mesh.md(mesh.authority), timeout=10)
    held = {a.id: (a.resource_code, list(a.items), a.purpose_text, a.key) for a in listed.accesses}
    assert [held[i] for i in ids] == [
        (code, [masked, "name"], ADMIN.text, key), (masked, ["name"], ADMIN.text, key),
        (code, ["name"], f"核查\ufffd户主{masked} 电话138****5678", key)], held
    assert number not in str(listed)


async def test_a_verify_refusing_claims_names_them_in_one_order_every_time(mesh: Mesh) -> None:
    """Claims are a map, which has no order (each process iterates it its own way): a Verify claiming 30 items the
    resource does not have was refused naming its claims in another order at every call, and which 24 the trailer
    held changed with it. They are named by item name."""
    claims = {f"item{index:02d}": "x" for index in random.sample(range(30), 30)}
    refusal = await refused(mesh.query.Verify(query_pb2.VerifyRequest(
        resource_code=mesh.codes["population"], key=next(iter(mesh.persons)), claims=claims, purpose=CHECK),
        metadata=mesh.md(mesh.user), timeout=10))
    named = [violation.field for violation in details_of(refusal)[1].field_violations]
    assert named == sorted(named) and named[0] == 'claims["item00"]', named


async def test_a_known_prefecture_with_an_unknown_county_is_invalid_not_internal(mesh: Mesh) -> None:
    """python-stdnum fails with KeyError('county') on 110199…: the caller must hear which field to fix."""
    unknown_county = "110199199001011232"
    invalid = await refused(query(mesh, mesh.user, mesh.codes["population"], unknown_county, ADMIN, ["name"]))
    assert invalid.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fields(invalid) == {"key"}
    verify = await refused(mesh.query.Verify(query_pb2.VerifyRequest(
        resource_code=mesh.codes["population"], key=unknown_county, claims={"name": "张三"}, purpose=CHECK),
        metadata=mesh.md(mesh.user), timeout=10))
    assert verify.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fields(verify) == {"key"}
    dispute = await refused(mesh.disputes.ReportDispute(dispute_pb2.ReportDisputeRequest(dispute=dispute_pb2.Dispute(
        resource_code=mesh.codes["population"], key=unknown_county, item="name", claimed_value="张三")),
        metadata=mesh.md(mesh.user), timeout=10))
    assert dispute.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fields(dispute) == {"dispute.key"}


async def test_a_load_rejects_an_unknown_county_and_keeps_the_good_records(mesh: Mesh) -> None:
    admin = foundation_pb2_grpc.FoundationAdminServiceStub(mesh.channels["foundation"])
    good = citizen_id(mesh.rng)
    bad = person("110199199001011232", mesh.rng)
    loaded = await admin.LoadRecords(foundation_pb2.LoadRecordsRequest(
        dataset="population", source_department_code=mesh.provider.department_code,
        records=[foundation_pb2.RecordInput(values=bad), foundation_pb2.RecordInput(values=person(good, mesh.rng))]),
        metadata=mesh.md(mesh.authority), timeout=30)
    assert loaded.accepted == 1
    assert [r.index for r in loaded.rejected] == [0]
    assert any("citizen_id" in reason for reason in loaded.rejected[0].reasons)


async def test_unknown_resource_and_missing_record_are_not_found(mesh: Mesh) -> None:
    unknown = await refused(query(mesh, mesh.user, "109999/999999", "x"))
    assert unknown.code() == grpc.StatusCode.NOT_FOUND
    assert reason(unknown) == "RESOURCE_NOT_FOUND"
    absent = citizen_id(mesh.rng)
    missing = await refused(query(mesh, mesh.user, mesh.codes["population"], absent, ADMIN, ["name"]))
    assert missing.code() == grpc.StatusCode.NOT_FOUND
    assert reason(missing) == "RECORD_NOT_FOUND"


# --- batch, verification, export -------------------------------------------------------------

async def test_batch_query_answers_each_key(mesh: Mesh) -> None:
    found = list(mesh.entities)[:2]
    absent = credit_code(mesh.rng)
    keys = [found[0], "123", absent, found[1], found[0]]
    response = await mesh.query.BatchQuery(query_pb2.BatchQueryRequest(
        resource_code=mesh.codes["entities"], keys=keys, items=["name", "legal_representative"], purpose=WORK),
        metadata=mesh.md(mesh.other), timeout=10)
    assert [r.key for r in response.results] == keys
    assert [r.found for r in response.results] == [True, False, False, True, True]
    assert response.results[1].error and not response.results[2].error
    assert response.results[0].values["name"] == mesh.entities[found[0]]["name"]
    assert response.results[3].values["legal_representative"] == "欧***"
    assert response.results[0].provenance.provider_department_code == mesh.market.department_code
    assert list(response.masked_items) == ["legal_representative"]
    assert response.audit_id


async def test_one_key_python_stdnum_chokes_on_does_not_fail_the_batch(mesh: Mesh) -> None:
    """The contract: an invalid key's entry carries its error, the other keys are still answered (and audited)."""
    caller = mesh.department("batch-invalid")
    found = list(mesh.persons)[:2]
    keys = [found[0], "110199199001011232", found[1]]
    response = await mesh.query.BatchQuery(query_pb2.BatchQueryRequest(
        resource_code=mesh.codes["population"], keys=keys, items=["name"], purpose=ADMIN),
        metadata=mesh.md(caller), timeout=10)
    assert [r.key for r in response.results] == keys
    assert [r.found for r in response.results] == [True, False, True]
    assert [bool(r.error) for r in response.results] == [False, True, False]
    assert response.results[2].values["name"][0] == mesh.persons[found[1]]["name"][0]  # masked by its rule
    listed = await mesh.audit.ListAccesses(audit_pb2.ListAccessesRequest(department_code=caller.department_code),
                                           metadata=mesh.md(mesh.authority), timeout=10)
    assert [(a.id, a.result) for a in listed.accesses] == [(response.audit_id, audit_pb2.ACCESS_RESULT_ANSWERED)]


def provider_calls() -> dict[str, float]:
    """ProviderService calls the foundation has answered in this process, by method."""
    return {method: REGISTRY.get_sample_value("govshare_rpc_total", {
        "service": "govshare.provider.v1.ProviderService", "method": method, "code": "OK"}) or 0.0
        for method in ("Lookup", "BatchLookup")}


async def test_concurrent_misses_reach_the_provider_in_few_calls(mesh: Mesh) -> None:
    """Twelve queries of records nobody has read yet: their misses share provider calls (BatchLookup)."""
    rows = [company(credit_code(mesh.rng)) for _ in range(12)]
    await load(mesh, "legal_entity", rows, mesh.market)
    before = provider_calls()
    answers = await asyncio.gather(*(query(mesh, mesh.other, mesh.codes["entities"], row["credit_code"],
                                           items=["name"]) for row in rows))
    assert [answer.values["name"] for answer in answers] == [row["name"] for row in rows]
    after = provider_calls()
    calls = {method: after[method] - before[method] for method in after}
    assert calls["BatchLookup"] >= 1 and sum(calls.values()) <= 6, calls


async def test_batch_query_limits_its_size(mesh: Mesh) -> None:
    too_many = await refused(mesh.query.BatchQuery(query_pb2.BatchQueryRequest(
        resource_code=mesh.codes["entities"], keys=[next(iter(mesh.entities))] * 1001, purpose=WORK),
        metadata=mesh.md(mesh.other), timeout=10))
    assert too_many.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fields(too_many) == {"keys"}
    # How many it sent (1001 of one key: duplicates count) and what to do, not the limit alone.
    assert "this call sends 1001: send them in calls of at most 1000" in too_many.details()


async def test_verification_answers_match_mismatch_no_record_never_values(mesh: Mesh) -> None:
    key, record = next(iter(mesh.entities.items()))
    verified = await mesh.query.Verify(query_pb2.VerifyRequest(
        resource_code=mesh.codes["entities"], key=key,
        claims={"name": f" {record['name']} ", "legal_representative": "张冒名", "credit_code": f"{key}\t"},
        purpose=CHECK), metadata=mesh.md(mesh.other), timeout=10)
    assert dict(verified.outcomes) == {"name": query_pb2.VERIFY_OUTCOME_MATCH,
                                       "legal_representative": query_pb2.VERIFY_OUTCOME_MISMATCH,
                                       "credit_code": query_pb2.VERIFY_OUTCOME_MATCH}
    assert record["name"] not in str(verified)
    assert verified.provenance.provider_department_code == mesh.market.department_code
    nobody = await mesh.query.Verify(query_pb2.VerifyRequest(
        resource_code=mesh.codes["entities"], key=credit_code(mesh.rng), claims={"name": "谁"}, purpose=CHECK),
        metadata=mesh.md(mesh.other), timeout=10)
    assert dict(nobody.outcomes) == {"name": query_pb2.VERIFY_OUTCOME_NO_RECORD}


async def test_verification_compares_a_numeric_item_as_a_number(mesh: Mesh) -> None:
    """注册资本 (货币型) 100.00 copied off a business licence is the record's 100: 一致, not 不一致; and so is the
    same amount in 元 (1000000元 of 注册资本(万元))."""
    key = next(iter(mesh.entities))
    verified = await mesh.query.Verify(query_pb2.VerifyRequest(
        resource_code=mesh.codes["entities"], key=key, claims={"registered_capital": "100.00", "name": "100.00"},
        purpose=CHECK), metadata=mesh.md(mesh.other), timeout=10)
    assert dict(verified.outcomes) == {"registered_capital": query_pb2.VERIFY_OUTCOME_MATCH,
                                       "name": query_pb2.VERIFY_OUTCOME_MISMATCH}
    for claimed, outcome in (("1000000元", query_pb2.VERIFY_OUTCOME_MATCH),
                             ("人民币1,000,000.00元", query_pb2.VERIFY_OUTCOME_MATCH),
                             ("100元", query_pb2.VERIFY_OUTCOME_MISMATCH)):
        # 注册资本(万元) claimed in 元, as a 验资报告 or a bank statement gives it: the same amount is 一致.
        in_yuan = await mesh.query.Verify(query_pb2.VerifyRequest(
            resource_code=mesh.codes["entities"], key=key, claims={"registered_capital": claimed}, purpose=CHECK),
            metadata=mesh.md(mesh.other), timeout=10)
        assert dict(in_yuan.outcomes) == {"registered_capital": outcome}, claimed


async def test_verification_of_an_item_the_record_holds_no_value_for_is_no_value(mesh: Mesh) -> None:
    """A company loaded without 注册资本 (an optional item): a claim of it was 不一致, as if the licence the desk holds
    contradicted the record, when the record says nothing of it. It is 无值 (NO_VALUE); the other claims as before,
    and the answer holds no value."""
    row = company(credit_code(mesh.rng))
    del row["registered_capital"]
    await load(mesh, "legal_entity", [row], mesh.market)
    verified = await mesh.query.Verify(query_pb2.VerifyRequest(
        resource_code=mesh.codes["entities"], key=row["credit_code"],
        claims={"registered_capital": "100", "name": row["name"], "legal_representative": "张冒名"},
        purpose=CHECK), metadata=mesh.md(mesh.other), timeout=10)
    assert dict(verified.outcomes) == {"registered_capital": query_pb2.VERIFY_OUTCOME_NO_VALUE,
                                       "name": query_pb2.VERIFY_OUTCOME_MATCH,
                                       "legal_representative": query_pb2.VERIFY_OUTCOME_MISMATCH}
    assert row["name"] not in str(verified)


async def test_verification_of_an_ethnic_group_copied_off_the_id_card_is_a_match(mesh: Mesh) -> None:
    """The 居民身份证 prints 民族 汉; the population record (the catalog's item 民族) holds 汉族, as the foundation's
    loader requires: a desk verifying the card's 汉 was told 不一致. It is 一致; another group still is not."""
    user = mesh.department("verify-ethnicity")
    code = mesh.codes["population"]
    await approved(mesh, user, code, ["ethnicity"], purposes=[common.PURPOSE_TYPE_DATA_VERIFICATION])
    key = next(k for k, r in mesh.persons.items() if r["ethnicity"] == "汉族")
    outcomes = [dict((await mesh.query.Verify(query_pb2.VerifyRequest(
        resource_code=code, key=key, claims={"ethnicity": claimed}, purpose=CHECK), metadata=mesh.md(user),
        timeout=10)).outcomes) for claimed in ("汉", "汉族", "回")]
    assert outcomes == [{"ethnicity": query_pb2.VERIFY_OUTCOME_MATCH}, {"ethnicity": query_pb2.VERIFY_OUTCOME_MATCH},
                        {"ethnicity": query_pb2.VERIFY_OUTCOME_MISMATCH}]


async def test_verification_of_sex_and_ethnic_group_by_their_national_code_numbers(mesh: Mesh) -> None:
    """A calling system whose database holds 性别 as GB/T 2261.1's 1/2 and 民族 as GB/T 3304's 01-56 claimed 1 and
    01 of a 汉族 man: both 不一致; so was the standard's name of the sex, 男性. Each is read as the value it numbers
    or names; the other sex's number or name still is not."""
    user = mesh.department("verify-codes")
    code = mesh.codes["population"]
    await approved(mesh, user, code, ["sex", "ethnicity"], purposes=[common.PURPOSE_TYPE_DATA_VERIFICATION])
    key, record = next((k, r) for k, r in mesh.persons.items() if r["ethnicity"] == "汉族")
    number, other = ("1", "2") if record["sex"] == "男" else ("2", "1")
    named, other_named = ("男性", "女性") if record["sex"] == "男" else ("女性", "男性")  # the standard's names
    outcomes = [dict((await mesh.query.Verify(query_pb2.VerifyRequest(
        resource_code=code, key=key, claims={"sex": sex, "ethnicity": "01"}, purpose=CHECK), metadata=mesh.md(user),
        timeout=10)).outcomes) for sex in (number, other, named, other_named)]
    assert outcomes == [{"sex": query_pb2.VERIFY_OUTCOME_MATCH, "ethnicity": query_pb2.VERIFY_OUTCOME_MATCH},
                        {"sex": query_pb2.VERIFY_OUTCOME_MISMATCH, "ethnicity": query_pb2.VERIFY_OUTCOME_MATCH}] * 2


async def test_verification_of_a_phone_number_grouped_otherwise_is_a_match(mesh: Mesh) -> None:
    """A department's 前置机 shares 联系电话, which its catalog entry masks by the phone rule. A desk claims the number
    as a form prints it (138 1234 5678, 138-1234-5678, +86 138…): it was 不一致 of the record's 13812345678, a blank
    between digits counting. It is 一致; another number, or the same grouping of another item, is not. So is a number
    the entry does not mask, named a 电话 (it was 不一致: the phone rule, which marked a phone item, masks only)."""
    code = f"202001/{mesh.rng.randrange(1, 10**6):06d}"
    items = [cat.DataItem(name="受理编号", machine_name="case_no", data_type=cat.DATA_TYPE_CHARACTER, length=20,
                          identifier=cat.IDENTIFIER_KIND_TEXT),
             cat.DataItem(name="联系电话", machine_name="contact_phone", data_type=cat.DATA_TYPE_CHARACTER, length=20,
                          sensitive=True, mask_rule="phone"),
             cat.DataItem(name="备注", machine_name="remark", data_type=cat.DATA_TYPE_CHARACTER, length=20),
             cat.DataItem(name="受理窗口电话", machine_name="office_phone", data_type=cat.DATA_TYPE_CHARACTER,
                          length=20)]
    record = provider_pb2.Record(key="SL-0001", values={"case_no": "SL-0001", "contact_phone": "13812345678",
                                                        "remark": "13812345678", "office_phone": "0571-87654321"})
    async with front_end([record], mesh.provider.department_code, [item.machine_name for item in items]) as target:
        new = entry(code, "社会救助申请联系信息", cat.CATEGORY_THEME, "社会保障", mesh.provider, items, "cases",
                    common.SHARE_TYPE_UNCONDITIONAL, [ONLINE])
        new.endpoint.target = target
        await publish(mesh, new, by=mesh.provider)
        claims = ["138 1234 5678", "138-1234-5678", "+86 138 1234 5678", "13812345679"]
        outcomes = [(await mesh.query.Verify(query_pb2.VerifyRequest(
            resource_code=code, key="SL-0001", claims={"contact_phone": claimed, "remark": claimed}, purpose=CHECK),
            metadata=mesh.md(mesh.other), timeout=10)).outcomes for claimed in claims]
    assert [item["contact_phone"] for item in outcomes] == [query_pb2.VERIFY_OUTCOME_MATCH] * 3 + [
        query_pb2.VERIFY_OUTCOME_MISMATCH]
    assert {item["remark"] for item in outcomes} == {query_pb2.VERIFY_OUTCOME_MISMATCH}
    # A number the catalog does not mask (the window's public line, no mask rule allowed) is read so by its name.
    office = [(await mesh.query.Verify(query_pb2.VerifyRequest(
        resource_code=code, key="SL-0001", claims={"office_phone": claimed}, purpose=CHECK),
        metadata=mesh.md(mesh.other), timeout=10)).outcomes["office_phone"]
        for claimed in ("(0571) 8765 4321", "0571 8765 4322")]
    assert office == [query_pb2.VERIFY_OUTCOME_MATCH, query_pb2.VERIFY_OUTCOME_MISMATCH]


async def test_a_verification_refuses_a_claim_too_long_to_be_a_value_before_reading_it(mesh: Mesh) -> None:
    """A claim of megabytes (a Verify fits in 8 MiB) was normalised and read as a date before the decision, holding
    the query process for seconds, every other call waiting: one over MAX_CLAIM_LENGTH is refused naming the limit;
    one at the limit is compared."""
    key = next(iter(mesh.entities))

    def claiming(value: str) -> Awaitable[query_pb2.VerifyResponse]:
        return mesh.query.Verify(query_pb2.VerifyRequest(
            resource_code=mesh.codes["entities"], key=key, claims={"established_date": value}, purpose=CHECK),
            metadata=mesh.md(mesh.other), timeout=10)

    at_limit = await claiming("2010年 " * (MAX_CLAIM_LENGTH // 6) + "5" * (MAX_CLAIM_LENGTH % 6))
    assert dict(at_limit.outcomes) == {"established_date": query_pb2.VERIFY_OUTCOME_MISMATCH}
    too_long = await refused(claiming("2010年 " * (MAX_CLAIM_LENGTH // 6 + 1)))
    assert too_long.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fields(too_long) == {'claims["established_date"]'}
    assert f"claim at most {MAX_CLAIM_LENGTH} characters" in str(too_long.details())


async def test_a_call_naming_more_items_than_any_entry_has_is_refused_unread(mesh: Mesh) -> None:
    """Each item a call names that the entry lacks was told apart (the item meant), one by one: 400,000 of them
    (``x`` repeated, 1.2 MB) held the query process for seconds before any decision, every other call waiting.
    More than the catalog lets an entry have (MAX_ITEMS) are refused as one violation; as many are read as before."""
    assert MAX_ITEMS == catalog_rules.MAX_ITEMS
    key = next(iter(mesh.entities))
    code = mesh.codes["entities"]
    answered = await query(mesh, mesh.other, code, key, WORK, ["name"] * MAX_ITEMS)
    assert set(answered.values) == {"name"}
    calls = {"items": [mesh.query.Query(query_pb2.QueryRequest(
                 resource_code=code, key=key, items=["x"] * (MAX_ITEMS + 1), purpose=WORK),
                 metadata=mesh.md(mesh.other), timeout=10),
             mesh.query.BatchQuery(query_pb2.BatchQueryRequest(
                 resource_code=code, keys=[key], items=["x"] * (MAX_ITEMS + 1), purpose=WORK),
                 metadata=mesh.md(mesh.other), timeout=10)],
             "claims": [mesh.query.Verify(query_pb2.VerifyRequest(
                 resource_code=code, key=key, claims={f"x{i}": "1" for i in range(MAX_ITEMS + 1)}, purpose=CHECK),
                 metadata=mesh.md(mesh.other), timeout=10)]}
    for named, made in calls.items():
        for call in made:
            error = await refused(call)
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert fields(error) == {named}, error.details()
            assert f"at most {MAX_ITEMS} items" in str(error.details())


async def test_a_verify_of_more_claims_than_any_entry_has_is_refused_read_no_further(mesh: Mesh) -> None:
    """Protobuf reads a map entry by entry: a Verify of 400,000 claims held the query process 1.5 s in reading
    alone before it was refused for its count. More than MAX_ITEMS entries are refused having read MAX_ITEMS of
    them; the count is of the entries sent, so a claim repeated 20,000 times (read by protobuf as one, the last)
    is refused as 20,000 claims, where it was read whole and answered."""
    key = next(iter(mesh.entities))
    code = mesh.codes["entities"]
    many = 20_000
    head = query_pb2.VerifyRequest(resource_code=code, key=key, purpose=CHECK).SerializeToString()
    repeated = head + query_pb2.VerifyRequest(claims={"name": mesh.entities[key]["name"]}).SerializeToString() * many
    distinct = query_pb2.VerifyRequest(resource_code=code, key=key, purpose=CHECK,
                                       claims={f"x{i}": "1" for i in range(many)}).SerializeToString()
    verify = mesh.channels["query"].unary_unary("/govshare.query.v1.QueryService/Verify",
                                                request_serializer=lambda raw: raw,
                                                response_deserializer=query_pb2.VerifyResponse.FromString)
    for raw in (repeated, distinct):
        error = await refused(verify(raw, metadata=mesh.md(mesh.other), timeout=10))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
        assert fields(error) == {"claims"}, error.details()
        assert f"at most {MAX_ITEMS} items (no entry has more); this call claims {many}" in str(error.details())
    small = head + query_pb2.VerifyRequest(claims={"name": mesh.entities[key]["name"]}).SerializeToString() * 2
    answered = await verify(small, metadata=mesh.md(mesh.other), timeout=10)
    assert dict(answered.outcomes) == {"name": query_pb2.VERIFY_OUTCOME_MATCH}
    # A claim not in UTF-8 (a GBK name) is named, as a generated deserializer's refusal names it.
    gbk = head + b"\x1a\x0a\x0a\x04name\x12\x02\xd5\xc5"
    error = await refused(verify(gbk, metadata=mesh.md(mesh.other), timeout=10))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert fields(error) == {"claims[0].value"}, error.details()


async def test_verification_compares_a_date_item_as_a_date(mesh: Mesh) -> None:
    """成立日期 copied off a business licence as 2010年5月20日 (or typed 2010年5月20号, as the day is said) is the
    record's 2010-05-20: 一致, not 不一致; another date, or a text item holding the same characters, is still
    不一致."""
    key = next(iter(mesh.entities))
    for written in ("2010年5月20日", "2010/05/20", "20100520", " ２０１０年０５月２０日 ", "2010年5月20号"):
        verified = await mesh.query.Verify(query_pb2.VerifyRequest(
            resource_code=mesh.codes["entities"], key=key, claims={"established_date": written},
            purpose=CHECK), metadata=mesh.md(mesh.other), timeout=10)
        assert dict(verified.outcomes) == {"established_date": query_pb2.VERIFY_OUTCOME_MATCH}, written
    verified = await mesh.query.Verify(query_pb2.VerifyRequest(
        resource_code=mesh.codes["entities"], key=key, claims={"established_date": "2010年5月21日", "name": "20100520"},
        purpose=CHECK), metadata=mesh.md(mesh.other), timeout=10)
    assert dict(verified.outcomes) == {"established_date": query_pb2.VERIFY_OUTCOME_MISMATCH,
                                       "name": query_pb2.VERIFY_OUTCOME_MISMATCH}


async def test_verification_of_a_credit_code_in_lower_case_is_a_match(mesh: Mesh) -> None:
    """A desk types 统一社会信用代码 ``…MB…`` as ``…mb…``: the key finds the record, and the claim of the same code
    is 一致, not 不一致 (its letters are upper case by standard); another code is still 不一致."""
    key = next(iter(mesh.entities))
    assert key != key.lower()
    verified = await mesh.query.Verify(query_pb2.VerifyRequest(
        resource_code=mesh.codes["entities"], key=key.lower(), claims={"credit_code": f" {key.lower()} "},
        purpose=CHECK), metadata=mesh.md(mesh.other), timeout=10)
    assert dict(verified.outcomes) == {"credit_code": query_pb2.VERIFY_OUTCOME_MATCH}
    other = next(k for k in mesh.entities if k != key)
    verified = await mesh.query.Verify(query_pb2.VerifyRequest(
        resource_code=mesh.codes["entities"], key=key,
        claims={"credit_code": other.lower(), "name": "测试科技有限公司"}, purpose=CHECK),
        metadata=mesh.md(mesh.other), timeout=10)
    assert dict(verified.outcomes) == {"credit_code": query_pb2.VERIFY_OUTCOME_MISMATCH,
                                       "name": query_pb2.VERIFY_OUTCOME_MISMATCH}


async def test_verification_of_a_registration_status_in_the_publicity_systems_words_is_a_match(mesh: Mesh) -> None:
    """企业信用信息公示系统 prints 存续 as 存续（在营、开业、在册）, and older licences say 在营: a desk copying either
    was told 不一致 of the record's 存续. Each is now 一致; another status (吊销，未注销, 注销) is still 不一致."""
    key = next(iter(mesh.entities))
    assert mesh.entities[key]["status"] == "存续"
    outcomes = [dict((await mesh.query.Verify(query_pb2.VerifyRequest(
        resource_code=mesh.codes["entities"], key=key, claims={"status": claimed}, purpose=CHECK),
        metadata=mesh.md(mesh.other), timeout=10)).outcomes)["status"]
        for claimed in ("存续（在营、开业、在册）", "在营", "开业", " 存续 ", "吊销，未注销", "注销", "在业")]
    assert outcomes == [query_pb2.VERIFY_OUTCOME_MATCH] * 4 + [query_pb2.VERIFY_OUTCOME_MISMATCH] * 3


async def test_verification_refuses_a_claim_that_is_no_value_of_its_item_type(mesh: Mesh) -> None:
    """A claimed 统一社会信用代码 with a wrong check character, a 成立日期 of 30 February or written with its year
    last (05/09/2015), or a 注册资本 in words is INVALID_ARGUMENT naming the claim, not 不一致: the desk mistyped
    it, the record was never compared; a 15-digit 公民身份号码 claim is still compared."""
    key = next(iter(mesh.entities))
    wrong_check = key[:-1] + next(c for c in "0123456789ABCDEFGHJKLMNPQRTUWXY" if c != key[-1])
    error = await refused(mesh.query.Verify(query_pb2.VerifyRequest(
        resource_code=mesh.codes["entities"], key=key, purpose=CHECK,
        claims={"credit_code": wrong_check, "established_date": "2010年2月30日", "registered_capital": "贰佰万元整",
                "name": "2010年2月30日"}), metadata=mesh.md(mesh.other), timeout=10))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fields(error) == {'claims["credit_code"]', 'claims["established_date"]', 'claims["registered_capital"]'}
    assert "check character" in error.details() and wrong_check not in error.details()
    year_last = await refused(mesh.query.Verify(query_pb2.VerifyRequest(
        resource_code=mesh.codes["entities"], key=key, purpose=CHECK, claims={"established_date": "05/09/2015"}),
        metadata=mesh.md(mesh.other), timeout=10))
    assert year_last.code() == grpc.StatusCode.INVALID_ARGUMENT and fields(year_last) == {'claims["established_date"]'}
    assert "year first" in year_last.details()
    person = next(k for k in mesh.persons if k[6:8] == "19")
    verified = await mesh.query.Verify(query_pb2.VerifyRequest(
        resource_code=mesh.codes["population"], key=person, claims={"citizen_id": person[:6] + person[8:17]},
        purpose=CHECK), metadata=mesh.md(mesh.other), timeout=10)
    assert dict(verified.outcomes) == {"citizen_id": query_pb2.VERIFY_OUTCOME_MATCH}


async def test_verification_of_a_person_by_basic_items_and_refusal_beyond(mesh: Mesh) -> None:
    key, record = next((k, r) for k, r in mesh.persons.items() if k.endswith("X"))
    verified = await mesh.query.Verify(query_pb2.VerifyRequest(
        resource_code=mesh.codes["population"], key=key, claims={"name": record["name"], "citizen_id": key.lower()},
        purpose=CHECK), metadata=mesh.md(mesh.other), timeout=10)
    assert set(verified.outcomes.values()) == {query_pb2.VERIFY_OUTCOME_MATCH}
    beyond = await refused(mesh.query.Verify(query_pb2.VerifyRequest(
        resource_code=mesh.codes["population"], key=key, claims={"birth_date": record["birth_date"]},
        purpose=CHECK), metadata=mesh.md(mesh.other), timeout=10))
    assert beyond.code() == grpc.StatusCode.PERMISSION_DENIED
    bad = await refused(mesh.query.Verify(query_pb2.VerifyRequest(
        resource_code=mesh.codes["population"], key=key, claims={"height": "180"}, purpose=CHECK),
        metadata=mesh.md(mesh.other), timeout=10))
    assert fields(bad) == {'claims["height"]'}


async def test_export_streams_projected_masked_rows(mesh: Mesh) -> None:
    call = mesh.query.Export(query_pb2.ExportRequest(
        resource_code=mesh.codes["entities"], items=["credit_code", "legal_representative"], purpose=WORK),
        metadata=mesh.md(mesh.other), timeout=30)
    pages = [page async for page in call]
    rows = {row.key: row for page in pages for row in page.rows}
    audit_id = dict(await call.initial_metadata()).get("x-govshare-audit-id")
    assert audit_id
    # The body says the export is whole (a REST client may not see the trailers' grpc-status): the last message
    # only, with the number of rows sent.
    assert [page.complete for page in pages] == [False] * (len(pages) - 1) + [True]
    assert pages[-1].row_count == sum(len(page.rows) for page in pages) and not pages[-1].rows
    assert set(mesh.entities) <= set(rows)
    for key in mesh.entities:
        assert dict(rows[key].values) == {"credit_code": key, "legal_representative": "欧***"}
        assert rows[key].as_of_time.seconds > 0
    assert all(set(row.values) <= {"credit_code", "legal_representative"} for row in rows.values())


async def test_an_export_row_key_is_masked_as_the_key_item_is(mesh: Mesh) -> None:
    """A row's key is the key item's value (公民身份号码): it came back whole beside its masked citizen_id, so an
    export without a grant listed every ID number of the resource in clear."""
    user = mesh.department("exporter")
    for items in ([], ["name"]):
        call = mesh.query.Export(query_pb2.ExportRequest(resource_code=mesh.codes["population"], items=items,
                                                         purpose=WORK), metadata=mesh.md(user), timeout=30)
        rows = [row async for page in call for row in page.rows]
        assert len(rows) >= len(mesh.persons)
        assert not {row.key for row in rows} & set(mesh.persons)
        for row in rows:
            assert row.key == row.key[:6] + "*" * 8 + row.key[-4:]
            assert row.values.get("citizen_id", row.key) == row.key
    # The rule hides exactly the birth date's eight digits: beside a birth date granted in clear, the key (and the
    # citizen_id item) gave the number whole, read side by side. They keep the region alone then.
    dated = mesh.department("dated-exporter")
    await approved(mesh, dated, mesh.codes["population"], ["birth_date"], methods=[DOWNLOAD])
    call = mesh.query.Export(query_pb2.ExportRequest(resource_code=mesh.codes["population"],
                                                     items=["citizen_id", "birth_date"], purpose=WORK),
                             metadata=mesh.md(dated), timeout=30)
    rows = [row async for page in call for row in page.rows]
    assert len(rows) >= len(mesh.persons) and all(row.values["birth_date"] for row in rows)
    for row in rows:
        assert row.key == row.key[:6] + "*" * 12 and row.values["citizen_id"] == row.key, row


async def test_an_export_row_says_its_record_is_disputed(mesh: Mesh) -> None:
    """R-DSP-2: while a dispute is open, answers for the record say so. A query's provenance did; an export's
    rows carried no such mark, so a batch download used the value in doubt as any other. Now the row of a
    disputed record is flagged, the others are not, and the flag goes once the dispute is answered."""
    key = list(mesh.persons)[5]
    code = mesh.codes["population"]
    user = mesh.department("downloader")

    async def flags() -> dict[str, bool]:
        call = mesh.query.Export(query_pb2.ExportRequest(resource_code=code, items=["citizen_id", "name"],
                                                         purpose=WORK), metadata=mesh.md(user), timeout=30)
        masked = {k[:6] + "*" * 8 + k[-4:]: k for k in mesh.persons}
        return {masked[row.key]: row.disputed async for page in call for row in page.rows if row.key in masked}

    reported = await mesh.disputes.ReportDispute(dispute_pb2.ReportDisputeRequest(dispute=dispute_pb2.Dispute(
        resource_code=code, key=key, item="name", claimed_value="赵六和", evidence="户口簿")),
        metadata=mesh.md(user), timeout=10)
    during = await flags()
    assert during[key] and not during[next(iter(mesh.persons))]
    await mesh.disputes.AnswerDispute(dispute_pb2.AnswerDisputeRequest(id=reported.dispute.id, answer="姓名无误"),
                                      metadata=mesh.md(person_of(mesh.provider, APPROVER)), timeout=10)
    assert not (await flags())[key]


async def test_export_needs_the_batch_download_method(mesh: Mesh) -> None:
    call = mesh.query.Export(query_pb2.ExportRequest(resource_code=mesh.codes["credit"], purpose=WORK),
                             metadata=mesh.md(mesh.other), timeout=30)
    refusal = await refused(call.read())
    assert refusal.code() == grpc.StatusCode.PERMISSION_DENIED
    assert reason(refusal) == "METHOD_NOT_GRANTED"


async def test_a_provider_that_cannot_serve_is_named_not_by_its_address_and_costs_no_quota(
        base_settings: Settings, embedded: EmbeddedServers) -> None:
    """The provider stops answering once the export is recorded: the caller was told "the provider endpoint
    127.0.0.1:… could not be reached", an internal address (a failed Query names the department and the
    resource), with no audit id. Now it is told as a failed Query is, how far the export got, and its audit id.
    A Query then failing the same way is audited FAILED with its cause, the platform's foundation service (not
    the department's: supervision does not count it against the department's availability).

    And a call it fails is given back to its grant's quota: it was counted before the record was read and kept,
    so every retry of a call the provider could not answer (the SDK retries UNAVAILABLE up to eight times) used up
    the quota with nothing answered.

    A BatchQuery holding a key already in the record cache failed whole with the others: that key is answered, each
    other told (its error) that the platform's service did not answer, and given back to the quota."""
    async with running_mesh(base_settings, embedded) as world:
        user = world.department("quota-unanswered")
        code = world.codes["population"]
        expire = timestamp_pb2.Timestamp()
        expire.FromDatetime(dt.datetime.now(dt.UTC) + dt.timedelta(days=30))
        submitted = await world.sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(
            application=sharing_pb2.Application(
                resource_code=code, items=["birth_date"], purposes=[common.PURPOSE_TYPE_WORK_REFERENCE],
                purpose_text="窗口办件", basis="职责", requested_expire_time=expire, methods=[ONLINE], quota=1)),
            metadata=world.md(user), timeout=10)
        await world.sharing.ReplyApplication(sharing_pb2.ReplyApplicationRequest(
            id=submitted.application.id, decision=sharing_pb2.REPLY_DECISION_APPROVE),
            metadata=world.md(person_of(world.provider, APPROVER)), timeout=10)
        batcher = world.department("batch-unanswered")
        await approved(world, batcher, code, ["birth_date"], quota=3)
        at_hand, other = list(world.persons)[2:4]

        def batch(*keys: str) -> Awaitable[query_pb2.BatchQueryResponse]:
            return world.query.BatchQuery(query_pb2.BatchQueryRequest(
                resource_code=code, keys=list(keys), items=["birth_date"], purpose=WORK),
                metadata=world.md(batcher), timeout=10)

        assert (await batch(at_hand)).results[0].found  # 1 of 3 calls; its record is cached
        await world.servers["foundation"].stop(0)
        for key in list(world.persons)[:2]:  # the second is counted only if the first was given back
            unanswered = await refused(query(world, user, code, key, WORK, ["birth_date"]))
            assert reason(unanswered) == "PROVIDER_UNAVAILABLE", unanswered.details()
        answered_in_part = await batch(at_hand, other)  # 3 of 3, the unanswered key given back
        partial, partial_id = answered_in_part.results, answered_in_part.audit_id
        assert partial[0].found and partial[0].values["birth_date"] == world.persons[at_hand]["birth_date"]
        assert not partial[1].found and partial[1].error.startswith(
            f"the platform's foundation data service does not answer for resource {code}"), partial[1]
        assert "127.0.0.1" not in partial[1].error and other not in partial[1].error
        whole = await batch(at_hand)
        assert whole.results[0].found  # fits the quota only with the unanswered key given back
        call = world.query.Export(query_pb2.ExportRequest(resource_code=world.codes["entities"], purpose=WORK),
                                  metadata=world.md(world.other), timeout=30)
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            [row async for page in call for row in page.rows]
        audit_id = dict(await call.initial_metadata()).get("x-govshare-audit-id")
        with pytest.raises(grpc.aio.AioRpcError) as queried:
            await world.query.Query(query_pb2.QueryRequest(resource_code=world.codes["entities"],
                                                           key=next(iter(world.entities)), purpose=WORK),
                                    metadata=world.md(world.other), timeout=30)
        listed = await world.audit.ListAccesses(audit_pb2.ListAccessesRequest(
            department_code=world.other.department_code), metadata=world.md(world.authority), timeout=10)
        batches = await world.audit.ListAccesses(audit_pb2.ListAccessesRequest(
            department_code=batcher.department_code), metadata=world.md(world.authority), timeout=10)
    record = next(r for r in listed.accesses if r.id == audit_id_of(queried.value))
    assert record.result == audit_pb2.ACCESS_RESULT_FAILED and record.failure_reason == "FOUNDATION_UNAVAILABLE"
    assert not record.deny_reason
    # The batch answered in part says so in its record, with the cause a Query of its other key keeps (the
    # platform's service here: not counted against the department); the one answered whole keeps none.
    outcomes = {r.id: (r.result, r.failure_reason) for r in batches.accesses}
    assert outcomes[partial_id] == (audit_pb2.ACCESS_RESULT_ANSWERED, "FOUNDATION_UNAVAILABLE"), outcomes
    assert outcomes[whole.audit_id] == (audit_pb2.ACCESS_RESULT_ANSWERED, "")
    assert failure.value.code() == grpc.StatusCode.UNAVAILABLE and reason(failure.value) == "PROVIDER_UNAVAILABLE"
    message = failure.value.details()
    assert world.market.department_code in message and world.codes["entities"] in message, message
    assert "127.0.0.1" not in message and "after 0 rows" in message
    assert audit_id and audit_id_of(failure.value) == audit_id


# --- disputes ---------------------------------------------------------------------------------

async def test_a_dispute_flags_the_record_while_open(mesh: Mesh) -> None:
    key = list(mesh.persons)[2]
    code = mesh.codes["population"]
    reporter = mesh.department("reporter")
    before = await query(mesh, reporter, code, key, ADMIN, ["name"])
    assert not before.provenance.disputed
    reported = await mesh.disputes.ReportDispute(dispute_pb2.ReportDisputeRequest(dispute=dispute_pb2.Dispute(
        resource_code=code, key=key.lower(), item="name", claimed_value="张三峰", evidence="户口簿第2页")),
        metadata=mesh.md(reporter), timeout=10)
    dispute = reported.dispute
    assert dispute.state == dispute_pb2.DISPUTE_STATE_OPEN
    assert dispute.key == key and dispute.provider_department_code == mesh.provider.department_code
    assert dispute.reporter_department_code == reporter.department_code
    assert dispute.due_time.seconds > dispute.create_time.seconds and not dispute.overdue
    assert (await query(mesh, reporter, code, key, ADMIN, ["name"])).provenance.disputed
    assert (await query(mesh, mesh.other, code, key, WORK, ["citizen_id"])).provenance.disputed
    # The same department reporting the same item of the record again while it is open (a retry, a colleague)
    # is told of the open one: it counted twice against the provider, which answers the item once.
    again_reported = [mesh.disputes.ReportDispute(dispute_pb2.ReportDisputeRequest(dispute=dispute_pb2.Dispute(
        resource_code=code, key=key, item="name", claimed_value=value)), metadata=mesh.md(reporter), timeout=10)
        for value in ("张三丰", "张三风")]
    for duplicate in await asyncio.gather(*(refused(call) for call in again_reported)):
        assert duplicate.code() == grpc.StatusCode.ALREADY_EXISTS and reason(duplicate) == "OPEN_DISPUTE_EXISTS"
        assert dispute.id in duplicate.details()
    other_item = await mesh.disputes.ReportDispute(dispute_pb2.ReportDisputeRequest(dispute=dispute_pb2.Dispute(
        resource_code=code, key=key, item="citizen_id", claimed_value=key)), metadata=mesh.md(reporter), timeout=10)
    assert other_item.dispute.id != dispute.id
    await mesh.disputes.AnswerDispute(dispute_pb2.AnswerDisputeRequest(id=other_item.dispute.id, answer="号码无误"),
                                      metadata=mesh.md(person_of(mesh.provider, APPROVER)), timeout=10)

    hidden = await refused(mesh.disputes.GetDispute(dispute_pb2.GetDisputeRequest(id=dispute.id),
                                                    metadata=mesh.md(mesh.other), timeout=10))
    assert hidden.code() == grpc.StatusCode.NOT_FOUND
    not_yours = await refused(mesh.disputes.AnswerDispute(dispute_pb2.AnswerDisputeRequest(
        id=dispute.id, answer="已核实"), metadata=mesh.md(reporter), timeout=10))
    assert not_yours.code() == grpc.StatusCode.PERMISSION_DENIED
    listed = await mesh.disputes.ListDisputes(dispute_pb2.ListDisputesRequest(state=dispute_pb2.DISPUTE_STATE_OPEN),
                                              metadata=mesh.md(mesh.provider), timeout=10)
    assert dispute.id in {d.id for d in listed.disputes}
    no_answer = await refused(mesh.disputes.AnswerDispute(dispute_pb2.AnswerDisputeRequest(id=dispute.id),
                                                          metadata=mesh.md(mesh.provider), timeout=10))
    assert fields(no_answer) == {"answer"}

    answered = await mesh.disputes.AnswerDispute(dispute_pb2.AnswerDisputeRequest(
        id=dispute.id, corrected=False, answer="经核查户籍档案，登记姓名无误"),
        metadata=mesh.md(person_of(mesh.provider, APPROVER)), timeout=10)
    assert answered.dispute.answered_by.display_name == "测试审批人"
    assert answered.dispute.state == dispute_pb2.DISPUTE_STATE_CONFIRMED
    assert answered.dispute.answer_time.seconds > 0
    assert not (await query(mesh, reporter, code, key, ADMIN, ["name"])).provenance.disputed
    seen = await mesh.disputes.GetDispute(dispute_pb2.GetDisputeRequest(id=dispute.id),
                                          metadata=mesh.md(reporter), timeout=10)
    assert seen.dispute.answer == "经核查户籍档案，登记姓名无误"
    again = await refused(mesh.disputes.AnswerDispute(dispute_pb2.AnswerDisputeRequest(
        id=dispute.id, answer="再答"), metadata=mesh.md(person_of(mesh.provider, APPROVER)), timeout=10))
    assert again.code() == grpc.StatusCode.FAILED_PRECONDITION
    reopened = await mesh.disputes.ReportDispute(dispute_pb2.ReportDisputeRequest(dispute=dispute_pb2.Dispute(
        resource_code=code, key=key, item="name", claimed_value="张三丰", evidence="户口簿第3页")),
        metadata=mesh.md(reporter), timeout=10)
    assert reopened.dispute.id != dispute.id  # answered: the item may be disputed again


async def test_the_authority_sees_a_dispute_without_the_persons_number_or_values(mesh: Mesh) -> None:
    """The authority oversees every dispute; it got the record's 公民身份号码, the claimed name, the evidence and
    the provider's answer whole, unaudited, where a query of the same record answers it masked. It now sees them
    masked by the catalog's rules, without the free text; the reporter and the provider still see them whole."""
    key = list(mesh.persons)[4]
    code = mesh.codes["population"]
    reporter = mesh.department("overseen")
    await query(mesh, reporter, code, key, ADMIN, ["name"])  # the reporter reads the item it disputes
    reported = await mesh.disputes.ReportDispute(dispute_pb2.ReportDisputeRequest(dispute=dispute_pb2.Dispute(
        resource_code=code, key=key, item="name", claimed_value="欧阳娜娜", evidence="户口簿第2页：欧阳娜娜")),
        metadata=mesh.md(reporter), timeout=10)
    await mesh.disputes.AnswerDispute(dispute_pb2.AnswerDisputeRequest(
        id=reported.dispute.id, corrected=True, answer="已更正为欧阳娜娜"),
        metadata=mesh.md(person_of(mesh.provider, APPROVER)), timeout=10)
    got = (await mesh.disputes.GetDispute(dispute_pb2.GetDisputeRequest(id=reported.dispute.id),
                                          metadata=mesh.md(mesh.authority), timeout=10)).dispute
    listed = await mesh.disputes.ListDisputes(dispute_pb2.ListDisputesRequest(page_size=1000),
                                              metadata=mesh.md(mesh.authority), timeout=10)
    for seen in (got, next(d for d in listed.disputes if d.id == reported.dispute.id)):
        assert seen.key == key[:6] + "*" * 8 + key[-4:] and seen.claimed_value == "欧***"
        assert seen.evidence == "" and seen.answer == ""
        assert seen.state == dispute_pb2.DISPUTE_STATE_CORRECTED and seen.item == "name"
        assert seen.answered_by.display_name == "测试审批人"
    for party in (reporter, mesh.provider):
        whole = (await mesh.disputes.GetDispute(dispute_pb2.GetDisputeRequest(id=reported.dispute.id),
                                                metadata=mesh.md(party), timeout=10)).dispute
        assert (whole.key, whole.claimed_value, whole.evidence, whole.answer) == (
            key, "欧阳娜娜", "户口簿第2页：欧阳娜娜", "已更正为欧阳娜娜")


async def test_a_disputes_text_of_several_lines_is_kept_with_lf_and_one_of_hidden_characters_refused(
        mesh: Mesh) -> None:
    """The console's 疑义 boxes (证据, 答复) send their line breaks as CRLF, as a browser's form does: the evidence and
    the answer were stored with them, each line break counted twice against their limits (console.js counts it
    once), and read back unlike the same text sent through the API. They are kept with LF. An evidence or an answer
    holding a right-to-left override showed the other party another text than the one stored: refused naming the
    field and the character. Blanks around them (`" 登记无误 "`, a full-width space typed with a Chinese input method)
    were stored as sent, where every other free text is trimmed: they are trimmed."""
    key = list(mesh.persons)[4]
    code = mesh.codes["population"]
    reporter = mesh.department("lines")
    approver = mesh.md(person_of(mesh.provider, APPROVER))
    await query(mesh, reporter, code, key, ADMIN, ["name"])
    overridden = await refused(mesh.disputes.ReportDispute(dispute_pb2.ReportDisputeRequest(
        dispute=dispute_pb2.Dispute(resource_code=code, key=key, item="name", claimed_value="欧阳娜娜",
                                    evidence="户口簿第\u202e页2")), metadata=mesh.md(reporter), timeout=10))
    assert overridden.code() == grpc.StatusCode.INVALID_ARGUMENT and fields(overridden) == {"dispute.evidence"}
    assert "character 5 is U+202E (RIGHT-TO-LEFT OVERRIDE)" in overridden.details(), overridden.details()
    evidence = " 户口簿第2页\r\n派出所证明\u3000"
    reported = (await mesh.disputes.ReportDispute(dispute_pb2.ReportDisputeRequest(dispute=dispute_pb2.Dispute(
        resource_code=code, key=key, item="name", claimed_value="欧阳娜娜", evidence=evidence)),
        metadata=mesh.md(reporter), timeout=10)).dispute
    assert reported.evidence == "户口簿第2页\n派出所证明"
    overridden = await refused(mesh.disputes.AnswerDispute(dispute_pb2.AnswerDisputeRequest(
        id=reported.id, answer="经核查\u2066登记无误"), metadata=approver, timeout=10))
    assert overridden.code() == grpc.StatusCode.INVALID_ARGUMENT and fields(overridden) == {"answer"}
    assert "character 4 is U+2066 (LEFT-TO-RIGHT ISOLATE)" in overridden.details(), overridden.details()
    await mesh.disputes.AnswerDispute(dispute_pb2.AnswerDisputeRequest(
        id=reported.id, answer=" 经核查：\r\n1. 户籍档案\r\n2. 登记无误 \r\n"), metadata=approver, timeout=10)
    seen = (await mesh.disputes.GetDispute(dispute_pb2.GetDisputeRequest(id=reported.id),
                                           metadata=mesh.md(reporter), timeout=10)).dispute
    assert (seen.evidence, seen.answer) == ("户口簿第2页\n派出所证明", "经核查：\n1. 户籍档案\n2. 登记无误")


async def test_a_dispute_is_read_by_the_persons_whose_work_it_is(mesh: Mesh) -> None:
    """Any person of the reporter's or the provider's department read its disputes, the key and the evidence
    whole: now the reporter's 申请人, 审批人 and 审计员, the provider's 审批人, 编目员 and 审计员, and the authority's
    审核员 and 审计员 (masked) read it; the provider's 申请人, the reporter's 编目员 and the authority's 管理员 are
    refused for the role (PERMISSION_DENIED ROLE_REQUIRED naming the roles), and none of them lists it (the two
    list their side's disputes, the 管理员 none)."""
    key = list(mesh.persons)[3]
    code = mesh.codes["population"]
    reporter = mesh.department("roles")
    await query(mesh, reporter, code, key, ADMIN, ["name"])
    reported = (await mesh.disputes.ReportDispute(dispute_pb2.ReportDisputeRequest(dispute=dispute_pb2.Dispute(
        resource_code=code, key=key, item="name", claimed_value="李四", evidence="户口簿第1页")),
        metadata=mesh.md(person_of(reporter, APPLICANT)), timeout=10)).dispute
    readers = [(reporter, APPLICANT), (reporter, APPROVER), (reporter, AUDITOR), (mesh.provider, APPROVER),
               (mesh.provider, DATA_OFFICER), (mesh.provider, AUDITOR), (mesh.authority, REVIEWER),
               (mesh.authority, AUDITOR)]
    for department, role in readers:
        md = mesh.md(person_of(department, role))
        got = await mesh.disputes.GetDispute(dispute_pb2.GetDisputeRequest(id=reported.id), metadata=md, timeout=10)
        assert got.dispute.id == reported.id, role
        listed = await mesh.disputes.ListDisputes(dispute_pb2.ListDisputesRequest(page_size=1000), metadata=md,
                                                  timeout=10)
        assert reported.id in {d.id for d in listed.disputes}, (department, role)
    for department, role, needed in ((mesh.provider, APPLICANT, "审批人 (APPROVER)"),
                                     (reporter, DATA_OFFICER, "申请人 (APPLICANT)"),
                                     (mesh.authority, ADMINISTRATOR, "审核员 (REVIEWER)")):
        md = mesh.md(person_of(department, role))
        denied = await refused(mesh.disputes.GetDispute(dispute_pb2.GetDisputeRequest(id=reported.id), metadata=md,
                                                        timeout=10))
        assert denied.code() == grpc.StatusCode.PERMISSION_DENIED and reason(denied) == "ROLE_REQUIRED", role
        assert needed in (denied.details() or ""), denied.details()
        if role != ADMINISTRATOR:  # lists its side's disputes only: the provider's 申请人 those it reported
            listed = await mesh.disputes.ListDisputes(dispute_pb2.ListDisputesRequest(page_size=1000), metadata=md,
                                                      timeout=10)
            assert reported.id not in {d.id for d in listed.disputes}
        else:
            denied = await refused(mesh.disputes.ListDisputes(dispute_pb2.ListDisputesRequest(), metadata=md,
                                                              timeout=10))
            assert denied.code() == grpc.StatusCode.PERMISSION_DENIED and reason(denied) == "ROLE_REQUIRED", role


async def test_a_corrected_dispute_drops_the_cached_record(mesh: Mesh, redis_client) -> None:  # type: ignore[no-untyped-def]
    key = list(mesh.persons)[3]
    code = mesh.codes["population"]
    await query(mesh, mesh.user, code, key, ADMIN, ["name"])
    assert await redis_client.exists(record_cache_key(FOUNDATION_ENDPOINT, "population", key))
    reported = await mesh.disputes.ReportDispute(dispute_pb2.ReportDisputeRequest(dispute=dispute_pb2.Dispute(
        resource_code=code, key=key, item="name", claimed_value="李四")), metadata=mesh.md(mesh.user), timeout=10)
    answered = await mesh.disputes.AnswerDispute(dispute_pb2.AnswerDisputeRequest(
        id=reported.dispute.id, corrected=True, answer="已在源头更正"),
        metadata=mesh.md(person_of(mesh.provider, APPROVER)), timeout=10)
    assert answered.dispute.state == dispute_pb2.DISPUTE_STATE_CORRECTED
    assert not await redis_client.exists(record_cache_key(FOUNDATION_ENDPOINT, "population", key))
    listed = await mesh.disputes.ListDisputes(dispute_pb2.ListDisputesRequest(
        state=dispute_pb2.DISPUTE_STATE_CORRECTED, page_size=1), metadata=mesh.md(mesh.user), timeout=10)
    assert [d.id for d in listed.disputes] == [reported.dispute.id]


async def _once_the_catalog_answers(rpc, request, metadata):  # type: ignore[no-untyped-def]
    """``rpc``'s answer once the query service reaches the restarted catalog: its channel, having seen the catalog
    go, dials again after a back-off of up to 2 s (services/runtime/clients.py), and a call within it is refused
    UNAVAILABLE, as it should be. Each refusal also shows that nothing was stored (the next call is not told the
    dispute was already answered)."""
    for _ in range(40):
        try:
            return await rpc(request, metadata=metadata, timeout=10)
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.UNAVAILABLE:
                raise
            await asyncio.sleep(0.25)
    return await rpc(request, metadata=metadata, timeout=10)


async def test_a_correction_the_catalog_cannot_place_leaves_the_dispute_open_to_answer_again(  # type: ignore[no-untyped-def]
        mesh: Mesh, redis_client) -> None:
    """A corrected answer drops the record's cached copies, found through the dispute's resource. With the catalog
    not answering (and the entry no longer cached), the answer was stored and the call then failed UNAVAILABLE:
    the 审批人 retried and was told the dispute was already answered, and the record's copies (the value just
    corrected) stayed cached. The answer is now refused before it is stored, and given again once the catalog
    answers it is the answer, the copies dropped."""
    key = list(mesh.persons)[4]
    code = mesh.codes["population"]
    await query(mesh, mesh.user, code, key, ADMIN, ["name"])
    assert await redis_client.exists(record_cache_key(FOUNDATION_ENDPOINT, "population", key))
    reported = await mesh.disputes.ReportDispute(dispute_pb2.ReportDisputeRequest(dispute=dispute_pb2.Dispute(
        resource_code=code, key=key, item="name", claimed_value="王五")), metadata=mesh.md(mesh.user), timeout=10)
    approver = mesh.md(person_of(mesh.provider, APPROVER))
    answer = dispute_pb2.AnswerDisputeRequest(id=reported.dispute.id, corrected=True, answer="已在源头更正姓名")
    port = mesh.servers["catalog"].port
    await mesh.servers["catalog"].stop(0)
    try:
        mesh.servers["query"].component._deps.resources.invalidate()  # type: ignore[attr-defined]
        down = await refused(mesh.disputes.AnswerDispute(answer, metadata=approver, timeout=10))
        assert down.code() == grpc.StatusCode.UNAVAILABLE, down.details()
        still = await mesh.disputes.GetDispute(dispute_pb2.GetDisputeRequest(id=reported.dispute.id),
                                               metadata=mesh.md(mesh.user), timeout=10)
        assert still.dispute.state == dispute_pb2.DISPUTE_STATE_OPEN
    finally:
        own = mesh.settings.with_overrides(component="catalog", listen=f"127.0.0.1:{port}")
        mesh.servers["catalog"] = await start_server(own, create_catalog(own))
    answered = await _once_the_catalog_answers(mesh.disputes.AnswerDispute, answer, approver)
    assert answered.dispute.state == dispute_pb2.DISPUTE_STATE_CORRECTED
    assert not await redis_client.exists(record_cache_key(FOUNDATION_ENDPOINT, "population", key))


async def test_a_dispute_flags_the_record_through_every_resource_over_its_dataset(mesh: Mesh) -> None:
    key = list(mesh.entities)[3]
    entities, credit = mesh.codes["entities"], mesh.codes["credit"]  # both over legal_entity
    reported = await mesh.disputes.ReportDispute(dispute_pb2.ReportDisputeRequest(dispute=dispute_pb2.Dispute(
        resource_code=entities, key=key, item="name", claimed_value="某某有限公司")), metadata=mesh.md(mesh.other),
        timeout=10)
    assert (await query(mesh, mesh.user, entities, key)).provenance.disputed
    assert (await query(mesh, mesh.user, credit, key)).provenance.disputed
    batch = await mesh.query.BatchQuery(query_pb2.BatchQueryRequest(
        resource_code=credit, keys=[key, list(mesh.entities)[2]], purpose=WORK), metadata=mesh.md(mesh.user),
        timeout=10)
    assert [r.provenance.disputed for r in batch.results] == [True, False]
    verified = await mesh.query.Verify(query_pb2.VerifyRequest(resource_code=credit, key=key, claims={"name": "x"},
                                                               purpose=CHECK), metadata=mesh.md(mesh.user), timeout=10)
    assert verified.provenance.disputed
    await mesh.disputes.AnswerDispute(dispute_pb2.AnswerDisputeRequest(id=reported.dispute.id, answer="登记名称无误"),
                                      metadata=mesh.md(person_of(mesh.market, APPROVER)), timeout=10)
    assert not (await query(mesh, mesh.user, credit, key)).provenance.disputed


async def test_disputes_list_by_answer_deadline_earliest_first(mesh: Mesh) -> None:
    """ListDisputes listed newest first only: a department with more open disputes than a page holds found those
    waiting longest, due first or already overdue, on the last page, and the console's 首页 (its first page) never
    showed them. order_by "due_time" lists the earliest deadline first, paged; any other order is refused."""
    code = mesh.codes["population"]
    reporter = mesh.department("due-order")
    keys = list(mesh.persons)[:3]
    for key in keys:
        await query(mesh, reporter, code, key, ADMIN, ["name"])
    made = [(await mesh.disputes.ReportDispute(dispute_pb2.ReportDisputeRequest(dispute=dispute_pb2.Dispute(
        resource_code=code, key=key, item="name", claimed_value="王五")), metadata=mesh.md(reporter),
        timeout=10)).dispute for key in keys]
    now = dt.datetime.now(dt.UTC)
    dues = {made[0].id: now + dt.timedelta(days=30), made[1].id: now - dt.timedelta(days=20),
            made[2].id: now - dt.timedelta(days=19)}
    conn = await asyncpg.connect(mesh.settings.database_url)
    try:
        for dispute_id, due in dues.items():
            await conn.execute("UPDATE query.disputes SET due_time = $2 WHERE id = $1", uuid.UUID(dispute_id), due)
    finally:
        await conn.close()
    request = dispute_pb2.ListDisputesRequest(state=dispute_pb2.DISPUTE_STATE_OPEN, order_by="due_time",
                                              page_size=2)
    first = await mesh.disputes.ListDisputes(request, metadata=mesh.md(reporter), timeout=10)
    assert [d.id for d in first.disputes] == [made[1].id, made[2].id] and first.next_page_token
    assert all(d.overdue for d in first.disputes)
    request.page_token = first.next_page_token
    rest = await mesh.disputes.ListDisputes(request, metadata=mesh.md(reporter), timeout=10)
    assert [d.id for d in rest.disputes] == [made[0].id] and not rest.next_page_token
    newest = await mesh.disputes.ListDisputes(dispute_pb2.ListDisputesRequest(page_size=1),
                                              metadata=mesh.md(reporter), timeout=10)
    assert [d.id for d in newest.disputes] == [made[2].id]  # the default order is unchanged
    wrong = await refused(mesh.disputes.ListDisputes(dispute_pb2.ListDisputesRequest(order_by="create_time"),
                                                     metadata=mesh.md(reporter), timeout=10))
    assert wrong.code() == grpc.StatusCode.INVALID_ARGUMENT and fields(wrong) == {"order_by"}


async def test_a_dispute_report_is_validated(mesh: Mesh) -> None:
    bad = await refused(mesh.disputes.ReportDispute(dispute_pb2.ReportDisputeRequest(dispute=dispute_pb2.Dispute(
        resource_code=mesh.codes["population"], key="123", item="height")), metadata=mesh.md(mesh.user), timeout=10))
    assert fields(bad) == {"dispute.key", "dispute.item", "dispute.claimed_value"}


# --- the audit trail --------------------------------------------------------------------------

async def test_every_call_has_exactly_one_audit_record_and_the_chain_verifies(mesh: Mesh) -> None:
    # An id of the directory's form (sys- and lower-case letters and digits), as ListAccesses' system filter takes.
    caller = Caller(f"sys-audited{uuid.uuid4().hex[:8]}", mesh.department("audited").department_code)
    key = next(iter(mesh.entities))
    person_key = next(iter(mesh.persons))
    expected: dict[str, tuple[int, int]] = {}  # audit id -> (result, deny reason)
    answered = await query(mesh, caller, mesh.codes["entities"], key, WORK, ["name"])
    expected[answered.audit_id] = (audit_pb2.ACCESS_RESULT_ANSWERED, 0)
    denied = await refused(query(mesh, caller, mesh.codes["secret"], person_key, ADMIN, ["name"]))
    expected[audit_id_of(denied)] = (audit_pb2.ACCESS_RESULT_DENIED, common.DENY_REASON_NOT_SHARED)
    invalid = await refused(query(mesh, caller, mesh.codes["entities"], "not-a-credit-code", WORK))
    expected[audit_id_of(invalid)] = (audit_pb2.ACCESS_RESULT_INVALID, 0)
    missing = await refused(query(mesh, caller, mesh.codes["entities"], credit_code(mesh.rng), WORK))
    expected[audit_id_of(missing)] = (audit_pb2.ACCESS_RESULT_NOT_FOUND, 0)
    batch = await mesh.query.BatchQuery(query_pb2.BatchQueryRequest(
        resource_code=mesh.codes["entities"], keys=[key, "bad"], purpose=WORK), metadata=mesh.md(caller), timeout=10)
    expected[batch.audit_id] = (audit_pb2.ACCESS_RESULT_ANSWERED, 0)

    listed = await mesh.audit.ListAccesses(audit_pb2.ListAccessesRequest(department_code=caller.department_code),
                                           metadata=mesh.md(mesh.authority), timeout=10)
    assert sorted(a.id for a in listed.accesses) == sorted(expected)
    by_id = {a.id: a for a in listed.accesses}
    assert {i: (a.result, a.deny_reason) for i, a in by_id.items()} == expected
    first = by_id[answered.audit_id]
    assert (first.system_id, first.operation, first.key, list(first.items)) == (caller.system_id, "Query", key,
                                                                                 ["name"])
    assert first.purpose == common.PURPOSE_TYPE_WORK_REFERENCE and first.purpose_text == WORK.text
    assert first.provider_department_code == mesh.market.department_code
    assert by_id[batch.audit_id].key == "2" and by_id[batch.audit_id].operation == "BatchQuery"
    # One outcome listed alone (the result filter); one this build does not know is refused naming the field.
    for result in (audit_pb2.ACCESS_RESULT_NOT_FOUND, audit_pb2.ACCESS_RESULT_ANSWERED):
        one = await mesh.audit.ListAccesses(audit_pb2.ListAccessesRequest(
            department_code=caller.department_code, result=result), metadata=mesh.md(mesh.authority), timeout=10)
        assert sorted(a.id for a in one.accesses) == sorted(i for i, (r, _) in expected.items() if r == result)
    unknown = await refused(mesh.audit.ListAccesses(audit_pb2.ListAccessesRequest(result=99),  # type: ignore[arg-type]
                                                    metadata=mesh.md(mesh.authority), timeout=10))
    assert unknown.code() == grpc.StatusCode.INVALID_ARGUMENT and "result" in str(unknown.details())
    # One caller's accesses (every department's, as an investigator of a leaked secret asks), and those refused for
    # one reason; a malformed system id or a reason this build does not know is refused naming the field.
    of_system = await mesh.audit.ListAccesses(audit_pb2.ListAccessesRequest(system_id=caller.system_id),
                                              metadata=mesh.md(mesh.authority), timeout=10)
    assert sorted(a.id for a in of_system.accesses) == sorted(expected)
    other = await mesh.audit.ListAccesses(audit_pb2.ListAccessesRequest(
        department_code=caller.department_code, system_id=mesh.user.system_id), metadata=mesh.md(mesh.authority),
        timeout=10)
    assert list(other.accesses) == []
    for deny_reason in (common.DENY_REASON_NOT_SHARED, common.DENY_REASON_NOT_GRANTED):
        refusals = await mesh.audit.ListAccesses(audit_pb2.ListAccessesRequest(
            system_id=caller.system_id, deny_reason=deny_reason), metadata=mesh.md(mesh.authority), timeout=10)
        assert [a.id for a in refusals.accesses] == [i for i, (_, d) in expected.items() if d == deny_reason]
    malformed = await refused(mesh.audit.ListAccesses(audit_pb2.ListAccessesRequest(
        system_id="sys-' OR 1=1", deny_reason=99), metadata=mesh.md(mesh.authority), timeout=10))  # type: ignore[arg-type]
    assert malformed.code() == grpc.StatusCode.INVALID_ARGUMENT and fields(malformed) == {"system_id", "deny_reason"}
    assert "sys-" in malformed.details() and "CREDENTIALS_REVOKED" in malformed.details()
    # A reason with another outcome could match nothing: refused, not an empty page that reads as "none".
    for result in (audit_pb2.ACCESS_RESULT_ANSWERED, audit_pb2.ACCESS_RESULT_NOT_FOUND):
        never = await refused(mesh.audit.ListAccesses(audit_pb2.ListAccessesRequest(
            result=result, deny_reason=common.DENY_REASON_NOT_GRANTED), metadata=mesh.md(mesh.authority), timeout=10))
        assert never.code() == grpc.StatusCode.INVALID_ARGUMENT and fields(never) == {"deny_reason"}
        assert "ACCESS_RESULT_DENIED" in never.details(), never.details()
    refused_for = await mesh.audit.ListAccesses(audit_pb2.ListAccessesRequest(
        system_id=caller.system_id, result=audit_pb2.ACCESS_RESULT_DENIED, deny_reason=common.DENY_REASON_NOT_GRANTED),
        metadata=mesh.md(mesh.authority), timeout=10)
    assert [a.id for a in refused_for.accesses] == [i for i, (_, d) in expected.items()
                                                    if d == common.DENY_REASON_NOT_GRANTED]

    # The provider sees the accesses to its resources, not the others'.
    as_market = await mesh.audit.ListAccesses(audit_pb2.ListAccessesRequest(
        department_code=caller.department_code), metadata=mesh.md(mesh.market), timeout=10)
    assert {a.id for a in as_market.accesses} == expected.keys() - {audit_id_of(denied)}
    summary = await mesh.audit.GetUsageSummary(audit_pb2.GetUsageSummaryRequest(
        resource_code=mesh.codes["secret"]), metadata=mesh.md(mesh.provider), timeout=10)
    mine = [row for row in summary.rows if row.department_code == caller.department_code]
    assert [(row.purpose, row.answered, row.denied) for row in mine] == [(common.PURPOSE_TYPE_ADMINISTRATIVE_BASIS,
                                                                         0, 1)]
    not_authority = await refused(mesh.audit.VerifyAuditChain(audit_pb2.VerifyAuditChainRequest(),
                                                              metadata=mesh.md(mesh.provider), timeout=10))
    assert not_authority.code() == grpc.StatusCode.PERMISSION_DENIED

    intact = await mesh.audit.VerifyAuditChain(audit_pb2.VerifyAuditChainRequest(),
                                               metadata=mesh.md(mesh.authority), timeout=30)
    assert intact.intact, intact.detail
    assert intact.records_checked >= len(expected)

    conn = await asyncpg.connect(mesh.settings.database_url, server_settings={"search_path": "query"})
    try:
        await conn.execute("UPDATE access_log SET result = 'DENIED' WHERE id = $1", answered.audit_id)
        tampered = await mesh.audit.VerifyAuditChain(audit_pb2.VerifyAuditChainRequest(),
                                                     metadata=mesh.md(mesh.authority), timeout=30)
    finally:
        await conn.execute("UPDATE access_log SET result = 'ANSWERED' WHERE id = $1", answered.audit_id)
        await conn.close()
    assert not tampered.intact
    assert tampered.first_bad_id == answered.audit_id


#: ASCII digits and capitals as a Chinese input method types them in 全角 mode.
FULL_WIDTH = str.maketrans({c: chr(ord(c) + 0xFEE0) for c in "0123456789ABCDEFGHJKLMNPQRTUWXY"})


async def test_listing_accesses_pages_and_filters(mesh: Mesh) -> None:
    caller = mesh.department("paged")
    while caller.department_code.isdigit():  # a code with a letter, whose case the filter below changes
        caller = mesh.department("paged")
    key = next(iter(mesh.entities))
    ids = [(await query(mesh, caller, mesh.codes["entities"], key, WORK, ["name"])).audit_id for _ in range(5)]
    seen: list[str] = []
    token = ""
    while True:
        page = await mesh.audit.ListAccesses(audit_pb2.ListAccessesRequest(
            department_code=caller.department_code, page_size=2, page_token=token),
            metadata=mesh.md(mesh.market), timeout=10)
        seen += [a.id for a in page.accesses]
        token = page.next_page_token
        if not token:
            break
    assert seen == list(reversed(ids))
    # The department's code typed in lower case or in full width (an input method's 全角) names the department, as a
    # query's key does: it was refused "the letter …, which it cannot hold there" of letters the code holds.
    for typed in (caller.department_code.lower(), f" {caller.department_code.translate(FULL_WIDTH)} "):
        listed = await mesh.audit.ListAccesses(audit_pb2.ListAccessesRequest(department_code=typed, page_size=10),
                                               metadata=mesh.md(mesh.market), timeout=10)
        assert [a.id for a in listed.accesses] == list(reversed(ids)), typed
    bad = await refused(mesh.audit.ListAccesses(audit_pb2.ListAccessesRequest(page_token="garbage!"),
                                                metadata=mesh.md(mesh.market), timeout=10))
    assert fields(bad) == {"page_token"}
    # A malformed filter could match nothing; an empty page would read as "nobody used it".
    malformed = await refused(mesh.audit.ListAccesses(audit_pb2.ListAccessesRequest(
        resource_code="人口/1", department_code=caller.department_code[:-1] + "I"),
        metadata=mesh.md(mesh.market), timeout=10))
    assert malformed.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fields(malformed) == {"resource_code", "department_code"}
    assert "101001/000001" in malformed.details() and "统一社会信用代码" in malformed.details()
    summary = await refused(mesh.audit.GetUsageSummary(audit_pb2.GetUsageSummaryRequest(resource_code="x"),
                                                       metadata=mesh.md(mesh.market), timeout=10))
    assert fields(summary) == {"resource_code"}


async def test_calls_without_identity_are_refused(mesh: Mesh) -> None:
    refusal = await refused(mesh.query.Query(query_pb2.QueryRequest(resource_code=mesh.codes["entities"]),
                                             timeout=10))
    assert refusal.code() == grpc.StatusCode.UNAUTHENTICATED


# --- fuzz -------------------------------------------------------------------------------------

ITEM_NAMES = [i.machine_name for i in POPULATION_ITEMS + ENTITY_ITEMS]
EXPECTED_CODES = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED}


def fuzz_requests(mesh_codes: list[str], keys: list[str]) -> st.SearchStrategy:
    codes = st.sampled_from(mesh_codes) | st.text(max_size=20)
    key = st.sampled_from(keys) | st.text(max_size=30)
    items = st.lists(st.sampled_from(ITEM_NAMES) | st.text(max_size=8), max_size=4)
    purpose = st.builds(common.Purpose, type=st.integers(-3, 8), text=st.text(max_size=40))
    return st.tuples(codes, key, st.lists(key, max_size=5), items, purpose,
                     st.dictionaries(st.sampled_from(ITEM_NAMES) | st.text(max_size=8), st.text(max_size=10),
                                     max_size=3))


@hypothesis_settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
async def test_fuzzed_requests_never_fail_internally(mesh: Mesh, data: st.DataObject) -> None:
    codes, keys = list(mesh.codes.values()), [*mesh.persons, *mesh.entities]
    code, key, batch, items, purpose, claims = data.draw(fuzz_requests(codes, keys))
    md = mesh.md(mesh.other)
    calls = [
        mesh.query.Query(query_pb2.QueryRequest(resource_code=code, key=key, items=items, purpose=purpose),
                         metadata=md, timeout=10),
        mesh.query.BatchQuery(query_pb2.BatchQueryRequest(resource_code=code, keys=batch, items=items,
                                                          purpose=purpose), metadata=md, timeout=10),
        mesh.query.Verify(query_pb2.VerifyRequest(resource_code=code, key=key, claims=claims, purpose=purpose),
                          metadata=md, timeout=10),
    ]
    for call in calls:
        try:
            await call
        except grpc.aio.AioRpcError as error:
            assert error.code() in EXPECTED_CODES, (error.code(), error.details())


STAMPS = st.builds(timestamp_pb2.Timestamp, seconds=st.integers(-(2**40), 2**40), nanos=st.integers(-5, 2 * 10**9))
TEXT = st.text(max_size=80)


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
async def test_fuzzed_dispute_and_audit_requests_never_fail_internally(mesh: Mesh, data: st.DataObject) -> None:
    codes = list(mesh.codes.values())
    caller = data.draw(st.sampled_from([mesh.user, mesh.provider, mesh.authority, Caller("svc:x", "", True)]))
    md = mesh.md(caller)
    time_fields = st.fixed_dictionaries({}, optional={"start_time": STAMPS, "end_time": STAMPS})
    # Valid reports may be drawn: their keys are not the loaded records, which other tests expect undisputed.
    dispute = st.builds(dispute_pb2.Dispute, resource_code=st.sampled_from(codes) | TEXT,
                        key=st.just("11010519491231002X") | TEXT, item=st.sampled_from(ITEM_NAMES) | TEXT,
                        claimed_value=TEXT, evidence=TEXT)
    calls = [
        mesh.audit.ListAccesses(audit_pb2.ListAccessesRequest(
            resource_code=data.draw(st.sampled_from(codes) | TEXT), department_code=data.draw(TEXT),
            page_size=data.draw(st.integers(-5, 5000)), page_token=data.draw(TEXT), **data.draw(time_fields)),
            metadata=md, timeout=10),
        mesh.audit.GetUsageSummary(audit_pb2.GetUsageSummaryRequest(
            resource_code=data.draw(TEXT), **data.draw(time_fields)), metadata=md, timeout=10),
        mesh.disputes.ReportDispute(dispute_pb2.ReportDisputeRequest(dispute=data.draw(dispute)), metadata=md,
                                    timeout=10),
        mesh.disputes.AnswerDispute(dispute_pb2.AnswerDisputeRequest(
            id=data.draw(st.uuids().map(str) | TEXT), corrected=data.draw(st.booleans()), answer=data.draw(TEXT)),
            metadata=md, timeout=10),
        mesh.disputes.GetDispute(dispute_pb2.GetDisputeRequest(id=data.draw(st.uuids().map(str) | TEXT)),
                                 metadata=md, timeout=10),
        mesh.disputes.ListDisputes(dispute_pb2.ListDisputesRequest(
            state=data.draw(st.integers(-2, 6)), overdue_only=data.draw(st.booleans()),
            page_size=data.draw(st.integers(-5, 5000)), page_token=data.draw(TEXT)), metadata=md, timeout=10),
    ]
    for call in calls:
        try:
            await call
        except grpc.aio.AioRpcError as error:
            # ALREADY_EXISTS: a valid report drawn twice while the first is open (OPEN_DISPUTE_EXISTS).
            assert error.code() in EXPECTED_CODES | {grpc.StatusCode.FAILED_PRECONDITION,
                                                     grpc.StatusCode.ALREADY_EXISTS}, (error.code(), error.details())


async def test_a_provisional_dispute_deadline_is_counted_again_once_the_calendar_has_its_year(  # type: ignore[no-untyped-def]
        mesh: Mesh, monkeypatch) -> None:
    """A dispute reported on Friday 25 Dec 2099 is due five working days later in 2100, a year chinese-calendar does
    not cover: counted Monday to Friday (less 元旦), due Monday 4 Jan, provisional. It was stored so and never
    counted again: with a calendar that knows 2100 (here 1-7 Jan off) the dispute still said 4 Jan, no longer
    provisional, and was overdue from the 5th. The query service now counts such deadlines again at start (due 8
    Jan)."""
    from calendar_release import publish_2100

    from services.query.store import QueryStore
    from services.runtime import workdays

    key = next(iter(mesh.persons))  # a department of its own reports it
    reporter = mesh.department("recounted")
    await query(mesh, reporter, mesh.codes["population"], key, ADMIN, ["name"])
    reported = await mesh.disputes.ReportDispute(dispute_pb2.ReportDisputeRequest(dispute=dispute_pb2.Dispute(
        resource_code=mesh.codes["population"], key=key, item="name", claimed_value="张三丰", evidence="户口簿")),
        metadata=mesh.md(reporter), timeout=10)
    made = dt.datetime(2099, 12, 25, 10, 0, tzinfo=workdays.CHINA)
    counted = workdays.add_working_days(made, 5)
    assert counted.date() == dt.date(2100, 1, 4) and workdays.provisional(counted)
    pool = await asyncpg.create_pool(mesh.settings.database_url, min_size=1, max_size=2,
                                     server_settings={"search_path": "query"})
    try:
        await pool.execute("UPDATE disputes SET create_time = $2, due_time = $3, due_working_days = 5,"
                           " due_provisional = true WHERE id = $1", uuid.UUID(reported.dispute.id), made, counted)
        store = QueryStore(pool)
        assert (await store.recount_dues()).provisional == 0  # 2100 still unknown: nothing moves
        publish_2100(monkeypatch)  # a release that knows 2099 and 2100: 1-7 Jan 2100 off
        assert (await store.recount_dues()).provisional == 1
        assert not await store.recount_dues()
    finally:
        await pool.close()
    got = (await mesh.disputes.GetDispute(dispute_pb2.GetDisputeRequest(id=reported.dispute.id),
                                          metadata=mesh.md(reporter), timeout=10)).dispute
    due = got.due_time.ToDatetime(tzinfo=dt.UTC).astimezone(workdays.CHINA)
    assert due.date() == dt.date(2100, 1, 8) and not got.due_time_provisional, due


async def test_an_open_dispute_deadline_is_counted_again_once_its_years_holiday_file_is_corrected(  # type: ignore[no-untyped-def]
        mesh: Mesh, monkeypatch, tmp_path) -> None:
    """The operator entered 2027's notice (GOVSHARE_HOLIDAYS_FILE) with 春节 ending on Thursday 11 Feb: a dispute
    reported on Friday 29 Jan 2027 was due five working days later on Friday 12 Feb (a holiday), not provisional.
    Restarted with the corrected file, the start recounted only provisional deadlines: the dispute stayed due on 12
    Feb, overdue from the 13th in the middle of 春节. The query service now counts every open deadline again at
    start (due Sunday 14 Feb, the 调休 working day); one already answered keeps the deadline it was answered by."""
    from calendar_release import FILED_2027, NOTICE_2027, NOTICE_2027_MISTYPED, enter_2027

    from services.query.store import QueryStore
    from services.runtime import workdays

    code, (open_key, answered_key) = mesh.codes["population"], list(mesh.persons)[4:6]
    reporter = mesh.department("corrected-calendar")
    reported = []
    for key in (open_key, answered_key):
        await query(mesh, reporter, code, key, ADMIN, ["name"])
        reported.append((await mesh.disputes.ReportDispute(dispute_pb2.ReportDisputeRequest(
            dispute=dispute_pb2.Dispute(resource_code=code, key=key, item="name", claimed_value="司马光")),
            metadata=mesh.md(reporter), timeout=10)).dispute.id)
    approver = mesh.md(person_of(mesh.provider, APPROVER))
    await mesh.disputes.AnswerDispute(dispute_pb2.AnswerDisputeRequest(id=reported[1], answer="登记姓名无误"),
                                      metadata=approver, timeout=10)
    enter_2027(monkeypatch, tmp_path, NOTICE_2027_MISTYPED)
    counted = workdays.add_working_days(FILED_2027, 5)
    assert counted.date() == dt.date(2027, 2, 12) and not workdays.provisional(counted)
    pool = await asyncpg.create_pool(mesh.settings.database_url, min_size=1, max_size=2,
                                     server_settings={"search_path": "query"})
    try:
        await pool.execute("UPDATE disputes SET create_time = $2, due_time = $3, due_working_days = 5,"
                           " due_provisional = false WHERE id = ANY($1::uuid[])",
                           [uuid.UUID(d) for d in reported], FILED_2027, counted)
        store = QueryStore(pool)
        await store.recount_dues()  # the calendar they were counted on: they do not move (other tests' may)
        assert set(await pool.fetchval("SELECT array_agg(due_time) FROM disputes WHERE id = ANY($1::uuid[])",
                                       [uuid.UUID(d) for d in reported])) == {counted}
        enter_2027(monkeypatch, tmp_path, NOTICE_2027)  # the operator corrects the file and restarts
        assert (await store.recount_dues()).corrected == 1
        assert not await store.recount_dues()
    finally:
        await pool.close()
    dues = []
    for dispute_id in reported:
        got = (await mesh.disputes.GetDispute(dispute_pb2.GetDisputeRequest(id=dispute_id),
                                              metadata=mesh.md(reporter), timeout=10)).dispute
        dues.append((got.due_time.ToDatetime(tzinfo=dt.UTC).astimezone(workdays.CHINA).date(),
                     got.due_time_provisional))
    assert dues == [(dt.date(2027, 2, 14), False), (dt.date(2027, 2, 12), False)]
    await mesh.disputes.AnswerDispute(dispute_pb2.AnswerDisputeRequest(id=reported[0], answer="登记姓名无误"),
                                      metadata=approver, timeout=10)  # the key free for other tests' disputes

