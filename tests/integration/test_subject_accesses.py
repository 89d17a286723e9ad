"""The persons' view (★, 个人信息保护法 Art. 44-45): a portal system lists who accessed a person's or an entity's
records; accesses under a confidential grant stay withheld until its release time; only a system the authority
granted the portal role may ask; every lookup is audited. Through the gateway and the real services."""

from __future__ import annotations

import asyncio
import datetime as dt

import asyncpg
import grpc
import pytest
from caller_metadata import person_of
from front_end import FrontEndProcessor, foundation_records, front_end, own_records, serving
from google.protobuf import field_mask_pb2, timestamp_pb2

from govshare.authorization.v1 import (
    directory_pb2,
    directory_pb2_grpc,
    roles_pb2,
    roles_pb2_grpc,
    sharing_pb2,
    sharing_pb2_grpc,
)
from govshare.catalog.v1 import catalog_pb2 as cat
from govshare.catalog.v1 import catalog_pb2_grpc
from govshare.common.v1 import common_pb2 as common
from govshare.query.v1 import audit_pb2, audit_pb2_grpc, query_pb2, query_pb2_grpc
from services.demo import ENTITY_ITEMS, POPULATION_ITEMS, REGION, DemoDepartment, _entry
from services.foundation.synthetic import citizen_id_of, credit_code_of
from services.query.audit import keys_digest
from services.runtime.duties import APPROVER, REVIEWER
from services.runtime.errors import details_of
from services.runtime.identity import Caller
from services.runtime.tokens import issue_token
from services.runtime.workdays import CHINA

PORTAL = DemoDepartment("sub_portal", "测试政务服务门户管理局", "政务服务门户", 911)
PROVIDER = DemoDepartment("sub_provider", "测试人口信息提供局", "前置机", 912)
USER = DemoDepartment("sub_user", "测试社会救助局", "救助审核系统", 913)
INVESTIGATOR = DemoDepartment("sub_investigator", "测试稽查局", "稽查系统", 914)
PEOPLE, ENTITIES = "301911/000001", "301911/000002"
ADMIN = common.Purpose(type=common.PURPOSE_TYPE_ADMINISTRATIVE_BASIS, text="低保资格审核")
INVESTIGATION = common.Purpose(type=common.PURPOSE_TYPE_ADMINISTRATIVE_BASIS, text="案件核查")
ASKED = common.Purpose(type=common.PURPOSE_TYPE_BUSINESS_COLLABORATION, text="个人信息查阅申请")


def _stamp(moment: dt.datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def _reason(error: grpc.aio.AioRpcError) -> str:
    info, _ = details_of(error)
    return info.reason if info else ""


class Parties:
    def __init__(self, platform) -> None:  # type: ignore[no-untyped-def]
        self.platform = platform
        self.systems: dict[str, str] = {}
        channel = platform.channel
        self.directory = directory_pb2_grpc.DirectoryServiceStub(channel)
        self.roles = roles_pb2_grpc.RoleServiceStub(channel)
        self.catalog = catalog_pb2_grpc.CatalogServiceStub(channel)
        self.sharing = sharing_pb2_grpc.SharingServiceStub(channel)
        self.query = query_pb2_grpc.QueryServiceStub(channel)
        self.audit = audit_pb2_grpc.AuditServiceStub(channel)

    entity_front_end: FrontEndProcessor

    def md(self, who: str, role: str = "") -> tuple[tuple[str, str], ...]:
        """A system's token, or with ``role`` a person's of its department (decisions are persons', issue 12)."""
        if who == "authority":
            return self.platform.person("authority", role) if role else self.platform.metadata("authority")
        department = next(d for d in (PORTAL, PROVIDER, USER, INVESTIGATOR) if who.startswith(d.key))
        settings = self.platform.settings["authorization"]
        caller = Caller(self.systems[who], department.code)
        token = issue_token(settings.token_private_key, person_of(caller, role) if role else caller, 600).token
        return (("authorization", f"Bearer {token}"),)

    async def system(self, department: DemoDepartment, key: str) -> None:
        created = await self.directory.CreateSystem(directory_pb2.CreateSystemRequest(system=directory_pb2.System(
            department_code=department.code, name=key)), metadata=self.md("authority"), timeout=10)
        self.systems[key] = created.system.id

    async def lookup(self, who: str, **subject: str) -> audit_pb2.ListSubjectAccessesResponse:
        return await self.audit.ListSubjectAccesses(audit_pb2.ListSubjectAccessesRequest(purpose=ASKED, **subject),
                                                    metadata=self.md(who), timeout=10)

    async def granted(self, who: str) -> sharing_pb2.Grant:
        department = next(d for d in (USER, INVESTIGATOR) if who.startswith(d.key))
        submitted = await self.sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(
            application=sharing_pb2.Application(
                resource_code=PEOPLE, items=["citizen_id", "name", "birth_date"],
                purposes=[common.PURPOSE_TYPE_ADMINISTRATIVE_BASIS], purpose_text="依法履职",
                basis="《社会救助暂行办法》", methods=[common.SHARE_METHOD_ONLINE_QUERY], quota=100,
                requested_expire_time=_stamp(dt.datetime.now(dt.UTC) + dt.timedelta(days=30)))),
            metadata=self.md(who), timeout=10)
        assert submitted.application.applicant_department_code == department.code
        replied = await self.sharing.ReplyApplication(sharing_pb2.ReplyApplicationRequest(
            id=submitted.application.id, decision=sharing_pb2.REPLY_DECISION_APPROVE),
            metadata=self.md("sub_provider", APPROVER), timeout=10)
        return replied.grant


@pytest.fixture(scope="module")
async def world(platform):  # type: ignore[no-untyped-def]
    people = own_records(await foundation_records(platform, "population", 3), "citizen_id",
                         [citizen_id_of(9_100_000 + n) for n in range(3)])
    entities = own_records(await foundation_records(platform, "legal_entity", 2), "credit_code",
                           [credit_code_of(9_100_000 + n) for n in range(2)])
    served = [item.machine_name for item in (*POPULATION_ITEMS, *ENTITY_ITEMS)]
    # The entities' resource is exported (a front end exports all it holds): it has a front end of its own.
    entity_front_end = FrontEndProcessor(entities, PROVIDER.code, served)
    async with front_end(people, PROVIDER.code, served) as endpoint, serving(entity_front_end) as entity_endpoint:
        parties = Parties(platform)
        parties.entity_front_end = entity_front_end
        for department in (PORTAL, PROVIDER, USER, INVESTIGATOR):
            await parties.directory.CreateDepartment(directory_pb2.CreateDepartmentRequest(
                department=directory_pb2.Department(code=department.code, name=department.name, region_code=REGION,
                                                    level=directory_pb2.ADMINISTRATIVE_LEVEL_MUNICIPAL)),
                metadata=parties.md("authority"), timeout=10)
        for department, key in ((PORTAL, "sub_portal"), (PORTAL, "sub_portal_other"), (PROVIDER, "sub_provider"),
                                (USER, "sub_user"), (INVESTIGATOR, "sub_investigator")):
            await parties.system(department, key)
        await parties.roles.GrantSystemRole(roles_pb2.GrantSystemRoleRequest(
            system_id=parties.systems["sub_portal"], role=roles_pb2.SYSTEM_ROLE_SUBJECT_ACCESS_PORTAL),
            metadata=parties.md("authority"), timeout=10)
        for code, name, items, dataset, share in (
                (PEOPLE, "测试人口信息", POPULATION_ITEMS, "sub_people", common.SHARE_TYPE_CONDITIONAL),
                (ENTITIES, "测试法人信息", ENTITY_ITEMS, "sub_entities", common.SHARE_TYPE_UNCONDITIONAL)):
            methods = [common.SHARE_METHOD_ONLINE_QUERY]
            if share == common.SHARE_TYPE_UNCONDITIONAL:  # exported by test_an_export_is_listed_for_each_record_it_sent
                methods.append(common.SHARE_METHOD_BATCH_DOWNLOAD)
            entry = _entry(code, name, "测试用。", cat.CATEGORY_DEPARTMENT, "测试", PROVIDER, items, dataset, share,
                           methods, condition="经提供部门同意" if share == common.SHARE_TYPE_CONDITIONAL else "")
            entry.endpoint.target = entity_endpoint if code == ENTITIES else endpoint
            await parties.catalog.CreateEntry(cat.CreateEntryRequest(entry=entry), metadata=parties.md("sub_provider"),
                                              timeout=10)
            await parties.catalog.SubmitEntry(cat.SubmitEntryRequest(code=code), metadata=parties.md("sub_provider"),
                                              timeout=10)
            await parties.catalog.ReviewEntry(cat.ReviewEntryRequest(code=code,
                                                                     decision=cat.REVIEW_DECISION_PUBLISH),
                                              metadata=parties.md("authority", REVIEWER), timeout=10)
        await parties.granted("sub_user")
        investigation = await parties.granted("sub_investigator")
        yield parties, people, entities, investigation


async def test_a_persons_accesses_are_listed_exactly_and_a_confidential_grant_waits_for_its_release(world) -> None:  # type: ignore[no-untyped-def]
    parties, people, _, investigation = world
    person, neighbour, _ = (r.key for r in people)
    # An investigation: the provider marks the investigator's grant confidential for a few seconds.
    release = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=4)
    marked = await parties.sharing.SetGrantConfidentiality(sharing_pb2.SetGrantConfidentialityRequest(
        grant_id=investigation.id, confidential=True, release_time=_stamp(release), reason="在办案件"),
        metadata=parties.md("sub_provider", APPROVER), timeout=10)
    assert marked.grant.confidential and marked.grant.release_time.ToDatetime(tzinfo=dt.UTC) == release

    single = await parties.query.Query(query_pb2.QueryRequest(resource_code=PEOPLE, key=person, purpose=ADMIN,
                                                              items=["name", "birth_date"]),
                                       metadata=parties.md("sub_user"), timeout=10)
    batch = await parties.query.BatchQuery(query_pb2.BatchQueryRequest(resource_code=PEOPLE, keys=[neighbour, person],
                                                                       purpose=ADMIN, items=["name"]),
                                           metadata=parties.md("sub_user"), timeout=10)
    with pytest.raises(grpc.aio.AioRpcError) as refused:  # a purpose the grant does not hold: listed as denied
        await parties.query.Query(query_pb2.QueryRequest(
            resource_code=PEOPLE, key=person, purpose=common.Purpose(type=common.PURPOSE_TYPE_WORK_REFERENCE),
            items=["birth_date"]), metadata=parties.md("sub_user"), timeout=10)
    assert _reason(refused.value) == "PURPOSE_NOT_GRANTED"
    secret = await parties.query.Query(query_pb2.QueryRequest(resource_code=PEOPLE, key=person, purpose=INVESTIGATION),
                                       metadata=parties.md("sub_investigator"), timeout=10)
    await parties.query.Query(query_pb2.QueryRequest(resource_code=PEOPLE, key=neighbour, purpose=ADMIN),
                              metadata=parties.md("sub_user"), timeout=10)

    seen = await parties.lookup("sub_portal", citizen_id=person)
    user_system = parties.systems["sub_user"]
    rows = [(a.department_code, a.system_id, a.resource_code, a.operation, a.purpose, a.result) for a in seen.accesses]
    assert rows == [
        (USER.code, user_system, PEOPLE, "Query", common.PURPOSE_TYPE_WORK_REFERENCE, audit_pb2.ACCESS_RESULT_DENIED),
        (USER.code, user_system, PEOPLE, "BatchQuery", common.PURPOSE_TYPE_ADMINISTRATIVE_BASIS,
         audit_pb2.ACCESS_RESULT_ANSWERED),
        (USER.code, user_system, PEOPLE, "Query", common.PURPOSE_TYPE_ADMINISTRATIVE_BASIS,
         audit_pb2.ACCESS_RESULT_ANSWERED),
    ]
    assert seen.accesses[2].id == single.audit_id and seen.accesses[2].purpose_text == ADMIN.text
    assert sorted(seen.accesses[2].items) == ["birth_date", "name"]
    assert seen.accesses[2].provider_department_code == PROVIDER.code
    assert batch.audit_id == seen.accesses[1].id
    # Paging by one gives the same rows.
    paged, token = [], ""
    while True:
        page = await parties.audit.ListSubjectAccesses(audit_pb2.ListSubjectAccessesRequest(
            citizen_id=person, purpose=ASKED, page_size=1, page_token=token), metadata=parties.md("sub_portal"),
            timeout=10)
        paged.extend(a.id for a in page.accesses)
        token = page.next_page_token
        if not token:
            break
    assert paged == [a.id for a in seen.accesses]

    # After the release time the investigator's access appears like any other (bounded poll on the clock).
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        after = await parties.lookup("sub_portal", citizen_id=person)
        if len(after.accesses) == 4 or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.5)
    assert after.accesses[0].id == secret.audit_id
    assert (after.accesses[0].department_code, after.accesses[0].system_id) == (
        INVESTIGATOR.code, parties.systems["sub_investigator"])
    assert [a.id for a in after.accesses[1:]] == [a.id for a in seen.accesses]


async def test_an_entitys_accesses_by_credit_code(world) -> None:  # type: ignore[no-untyped-def]
    parties, _, entities, _ = world
    entity = entities[0].key
    answered = await parties.query.Query(query_pb2.QueryRequest(resource_code=ENTITIES, key=entity, purpose=ADMIN),
                                         metadata=parties.md("sub_user"), timeout=10)
    seen = await parties.lookup("sub_portal", credit_code=entity)
    assert [(a.id, a.department_code, a.resource_code) for a in seen.accesses] == [
        (answered.audit_id, USER.code, ENTITIES)]
    # (An export of the dataset, another test's, is every entity's access.)
    assert [a for a in (await parties.lookup("sub_portal", credit_code=entities[1].key)).accesses
            if a.operation != "Export"] == []
    # What a Chinese input method types (full-width forms, a lower-case letter) names the same entity, as in a query.
    typed = entity.lower().translate({code: code + 0xFEE0 for code in range(0x21, 0x7F)})
    assert [a.id for a in (await parties.lookup("sub_portal", credit_code=f" {typed}\u3000")).accesses] == [
        answered.audit_id]


async def test_only_a_portal_the_authority_named_may_look_and_every_lookup_is_audited(world) -> None:  # type: ignore[no-untyped-def]
    parties, people, _, _ = world
    person = people[2].key
    for who in ("sub_portal_other", "sub_user", "authority"):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await parties.lookup(who, citizen_id=person)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert _reason(refused.value) == "NOT_A_SUBJECT_ACCESS_PORTAL"
    with pytest.raises(grpc.aio.AioRpcError) as not_authority:
        await parties.roles.GrantSystemRole(roles_pb2.GrantSystemRoleRequest(
            system_id=parties.systems["sub_portal_other"], role=roles_pb2.SYSTEM_ROLE_SUBJECT_ACCESS_PORTAL),
            metadata=parties.md("sub_portal"), timeout=10)
    assert not_authority.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await parties.lookup("sub_portal", citizen_id="110105194912310021")
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in details_of(bad.value)[1].field_violations] == ["citizen_id"]

    looked = await parties.lookup("sub_portal", citizen_id=person)
    logged = await parties.audit.ListAccesses(audit_pb2.ListAccessesRequest(department_code=PORTAL.code),
                                              metadata=parties.md("authority"), timeout=10)
    lookups = [a for a in logged.accesses if a.operation == "SubjectLookup"]
    assert looked.lookup_audit_id in {a.id for a in lookups}
    mine = next(a for a in lookups if a.id == looked.lookup_audit_id)
    assert (mine.system_id, mine.key, mine.purpose, mine.result) == (
        parties.systems["sub_portal"], person, common.PURPOSE_TYPE_BUSINESS_COLLABORATION,
        audit_pb2.ACCESS_RESULT_ANSWERED)
    # Each refusal is listed with why: DenyReason has no value for a system that is no portal, and the lookup it
    # tried was listed DENIED with no reason at all (deny_reason unset, failure_reason empty).
    refused_lookups = {(a.system_id, a.result, a.deny_reason, a.failure_reason) for a in lookups}
    assert (parties.systems["sub_portal_other"], audit_pb2.ACCESS_RESULT_DENIED, 0,
            "NOT_A_SUBJECT_ACCESS_PORTAL") in refused_lookups

    # A role taken back stops the next lookup at once.
    await parties.roles.RevokeSystemRole(roles_pb2.RevokeSystemRoleRequest(
        system_id=parties.systems["sub_portal"], role=roles_pb2.SYSTEM_ROLE_SUBJECT_ACCESS_PORTAL),
        metadata=parties.md("authority"), timeout=10)
    try:
        with pytest.raises(grpc.aio.AioRpcError) as revoked:
            await parties.lookup("sub_portal", citizen_id=person)
        assert revoked.value.code() == grpc.StatusCode.PERMISSION_DENIED
    finally:
        await parties.roles.GrantSystemRole(roles_pb2.GrantSystemRoleRequest(
            system_id=parties.systems["sub_portal"], role=roles_pb2.SYSTEM_ROLE_SUBJECT_ACCESS_PORTAL),
            metadata=parties.md("authority"), timeout=10)


async def test_only_the_provider_or_the_authority_marks_a_grant_confidential(world) -> None:  # type: ignore[no-untyped-def]
    parties, _, _, investigation = world
    later = _stamp(dt.datetime.now(dt.UTC) + dt.timedelta(days=30))
    with pytest.raises(grpc.aio.AioRpcError) as holder:
        await parties.sharing.SetGrantConfidentiality(sharing_pb2.SetGrantConfidentialityRequest(
            grant_id=investigation.id, confidential=True, release_time=later, reason="x"),
            metadata=parties.md("sub_investigator", APPROVER), timeout=10)
    assert holder.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # A department with no part in the grant is told what GetGrant tells it (it was NOT_FOUND here).
    with pytest.raises(grpc.aio.AioRpcError) as stranger:
        await parties.sharing.SetGrantConfidentiality(sharing_pb2.SetGrantConfidentialityRequest(
            grant_id=investigation.id, confidential=True, release_time=later, reason="x"),
            metadata=parties.md("sub_portal", APPROVER), timeout=10)
    assert stranger.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert details_of(stranger.value)[0].reason == "NOT_INVOLVED"
    with pytest.raises(grpc.aio.AioRpcError) as past:
        await parties.sharing.SetGrantConfidentiality(sharing_pb2.SetGrantConfidentialityRequest(
            grant_id=investigation.id, confidential=True, reason="x",
            release_time=_stamp(dt.datetime.now(dt.UTC) - dt.timedelta(days=1))),
            metadata=parties.md("authority", REVIEWER), timeout=10)
    assert [v.field for v in details_of(past.value)[1].field_violations] == ["release_time"]
    with pytest.raises(grpc.aio.AioRpcError) as no_reason:  # punctuation is no reason (it was taken as one)
        await parties.sharing.SetGrantConfidentiality(sharing_pb2.SetGrantConfidentialityRequest(
            grant_id=investigation.id, confidential=True, reason="。", release_time=later),
            metadata=parties.md("authority", REVIEWER), timeout=10)
    assert [v.field for v in details_of(no_reason.value)[1].field_violations] == ["reason"]


async def test_a_revoked_confidential_grant_withholds_nothing_after_its_revocation(world) -> None:  # type: ignore[no-untyped-def]
    parties, people, _, _ = world
    person = people[2].key
    # A second investigation grant, confidential, then revoked; the investigator keeps its other grant.
    closed = await parties.granted("sub_investigator")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    await parties.sharing.SetGrantConfidentiality(sharing_pb2.SetGrantConfidentialityRequest(
        grant_id=closed.id, confidential=True, release_time=_stamp(later), reason="在办案件"),
        metadata=parties.md("sub_provider", APPROVER), timeout=10)
    # The grant's history says the release in Beijing time (as its 有效期至 reads), not the UTC instant.
    history = (await parties.sharing.GetApplication(sharing_pb2.GetApplicationRequest(id=closed.application_id),
                                                    metadata=parties.md("sub_provider", APPROVER),
                                                    timeout=10)).application.history
    assert [e.note for e in history if e.action == "GRANT_CONFIDENTIALITY"] == [
        f"保密至 {later.astimezone(CHINA):%Y-%m-%d %H:%M:%S}（北京时间）：在办案件"]
    await parties.sharing.RevokeGrant(sharing_pb2.RevokeGrantRequest(id=closed.id, reason="案件办结"),
                                      metadata=parties.md("sub_provider", APPROVER), timeout=10)
    # After the revocation, an access under the investigator's other grant, which is not confidential now.
    answered = await parties.query.Query(query_pb2.QueryRequest(resource_code=PEOPLE, key=person, purpose=ADMIN),
                                         metadata=parties.md("sub_investigator"), timeout=10)
    # The revoked grant's release moved later: its window still ends at the revocation (its update_time moved).
    await parties.sharing.SetGrantConfidentiality(sharing_pb2.SetGrantConfidentialityRequest(
        grant_id=closed.id, confidential=True, release_time=_stamp(later + dt.timedelta(days=30)),
        reason="案件移送"), metadata=parties.md("sub_provider", APPROVER), timeout=10)
    seen = await parties.lookup("sub_portal", citizen_id=person)
    assert answered.audit_id in [a.id for a in seen.accesses]


async def test_a_confidential_grant_narrowed_to_other_systems_still_withholds_what_it_covered(world) -> None:  # type: ignore[no-untyped-def]
    parties, people, _, _ = world
    person = people[1].key
    await parties.system(INVESTIGATOR, "sub_investigator_desk")
    secret = await parties.granted("sub_investigator")  # every system of the department
    await parties.sharing.SetGrantConfidentiality(sharing_pb2.SetGrantConfidentialityRequest(
        grant_id=secret.id, confidential=True, release_time=_stamp(dt.datetime.now(dt.UTC) + dt.timedelta(days=30)),
        reason="在办案件"), metadata=parties.md("sub_provider", APPROVER), timeout=10)
    answered = await parties.query.Query(query_pb2.QueryRequest(resource_code=PEOPLE, key=person,
                                                                purpose=INVESTIGATION),
                                         metadata=parties.md("sub_investigator"), timeout=10)
    assert answered.audit_id not in [a.id for a in (await parties.lookup("sub_portal", citizen_id=person)).accesses]
    # The provider narrows the grant to the department's other system: what it covered stays withheld.
    await parties.sharing.UpdateGrant(sharing_pb2.UpdateGrantRequest(
        grant=sharing_pb2.Grant(id=secret.id, system_ids=[parties.systems["sub_investigator_desk"]]),
        update_mask=field_mask_pb2.FieldMask(paths=["system_ids"])),
        metadata=parties.md("sub_provider", APPROVER), timeout=10)
    assert answered.audit_id not in [a.id for a in (await parties.lookup("sub_portal", citizen_id=person)).accesses]


async def test_a_refused_call_is_listed_whatever_form_its_key_was_typed_in(world) -> None:  # type: ignore[no-untyped-def]
    """A call refused for bad input is the person's as an answered one is, its key read the same way: one typed
    blank-padded or in full-width forms (an input method's) was recorded as typed and missing from the view,
    while the same call with the ASCII key was listed."""
    parties, people, _, _ = world
    person = people[1].key
    typed = " " + person[:6].translate({code: code + 0xFEE0 for code in range(0x21, 0x7F)}) + person[6:] + "\u3000"
    no_purpose = common.Purpose()
    refused = []
    for call in (parties.query.Query(query_pb2.QueryRequest(resource_code=PEOPLE, key=typed, purpose=no_purpose),
                                     metadata=parties.md("sub_user"), timeout=10),
                 parties.query.Verify(query_pb2.VerifyRequest(resource_code=PEOPLE, key=typed, claims={"name": "王"},
                                                              purpose=no_purpose),
                                      metadata=parties.md("sub_user"), timeout=10),
                 parties.query.BatchQuery(query_pb2.BatchQueryRequest(resource_code=PEOPLE, keys=[typed],
                                                                      purpose=no_purpose),
                                          metadata=parties.md("sub_user"), timeout=10)):
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await call
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        info, _ = details_of(error.value)
        refused.append(info.metadata["audit_id"])
    listed = {a.id: a for a in (await parties.lookup("sub_portal", citizen_id=person)).accesses}
    assert [(listed[i].operation, listed[i].result) for i in refused if i in listed] == [
        ("Query", audit_pb2.ACCESS_RESULT_INVALID), ("Verify", audit_pb2.ACCESS_RESULT_INVALID),
        ("BatchQuery", audit_pb2.ACCESS_RESULT_INVALID)]


async def test_an_export_is_listed_for_each_record_it_sent(world) -> None:  # type: ignore[no-untyped-def]
    """An export's access row holds no key: the persons' view listed queries, batches and verifications of a
    person's record, and never the export (a whole dataset downloaded) that sent it."""
    parties, _, entities, _ = world
    call = parties.query.Export(query_pb2.ExportRequest(resource_code=ENTITIES, items=["credit_code", "name"],
                                                        purpose=ADMIN), metadata=parties.md("sub_user"), timeout=10)
    sent = [row.key async for page in call for row in page.rows]
    audit_id = dict(await call.initial_metadata())["x-govshare-audit-id"]
    assert sorted(sent) == sorted(entity.key for entity in entities)
    for entity in entities:
        seen = [(a.id, a.operation, a.department_code, a.resource_code, tuple(a.items))
                for a in (await parties.lookup("sub_portal", credit_code=entity.key)).accesses]
        assert seen[0] == (audit_id, "Export", USER.code, ENTITIES, ("credit_code", "name"))
    # Its closing record vouches for the keys kept (outside the hash chain), which verification compares.
    conn = await asyncpg.connect(parties.platform.settings["query"].database_url,
                                 server_settings={"search_path": "query"})
    try:
        closing = await conn.fetchval("SELECT keys FROM access_log WHERE operation = 'ExportEnd' AND key = $1",
                                      audit_id)
        kept = [r["key"] for r in await conn.fetch("SELECT key FROM access_export_keys WHERE access_id = $1",
                                                   audit_id)]
    finally:
        await conn.close()
    assert sorted(kept) == sorted(sent)
    assert closing == [str(len(sent)), "1", *map(str, keys_digest(sent))]


async def test_an_export_cancelled_midway_is_recorded_as_it_ended(world) -> None:  # type: ignore[no-untyped-def]
    """An export is recorded ANSWERED before its first row leaves: one its caller cancelled after the first page
    looked whole in the access log, in the persons' view (of every entity, its row sent or not) and in the usage
    figures supervision reads. Its closing record now says it was cancelled and what left; a whole one says so."""
    parties, _, entities, _ = world
    front = parties.entity_front_end
    authority = parties.md("authority", "AUDITOR")

    async def answered() -> int:
        summary = await parties.audit.GetUsageSummary(audit_pb2.GetUsageSummaryRequest(resource_code=ENTITIES),
                                                      metadata=authority, timeout=10)
        return sum(row.answered for row in summary.rows if row.department_code == USER.code)

    async def ended(audit_id: str) -> audit_pb2.AccessRecord:
        for _ in range(100):  # the closing record of a cancelled export is written without its caller waiting
            listed = await parties.audit.ListAccesses(audit_pb2.ListAccessesRequest(
                resource_code=ENTITIES, department_code=USER.code), metadata=authority, timeout=10)
            record = next(a for a in listed.accesses if a.id == audit_id)
            if record.HasField("end_time"):
                return record
            await asyncio.sleep(0.05)
        raise AssertionError(f"export {audit_id} never ended")

    before = await answered()
    front.page_size, front.hold_after = 1, 1
    try:
        call = parties.query.Export(query_pb2.ExportRequest(resource_code=ENTITIES, items=["credit_code"],
                                                            purpose=ADMIN), metadata=parties.md("sub_user"),
                                    timeout=10)
        first = await call.read()
        call.cancel()
        audit_id = dict(await call.initial_metadata())["x-govshare-audit-id"]
    finally:
        front.page_size = front.hold_after = None
    cancelled = await ended(audit_id)
    assert (cancelled.operation, cancelled.result, cancelled.failure_reason, cancelled.rows_sent,
            cancelled.pages_sent) == ("Export", audit_pb2.ACCESS_RESULT_FAILED, "CANCELLED", 1, 1)
    assert cancelled.end_time.ToDatetime() >= cancelled.time.ToDatetime()
    sent = entities[0].key
    assert [row.key for row in first.rows] == [sent]
    listed = {a.id: a.result for a in (await parties.lookup("sub_portal", credit_code=sent)).accesses}
    assert listed[audit_id] == audit_pb2.ACCESS_RESULT_FAILED
    assert audit_id not in [a.id for a in (await parties.lookup("sub_portal", credit_code=entities[1].key)).accesses]
    assert await answered() == before
    # A whole export: answered, every row and page said; counted once (its closing record is not an access).
    whole = parties.query.Export(query_pb2.ExportRequest(resource_code=ENTITIES, purpose=ADMIN),
                                 metadata=parties.md("sub_user"), timeout=10)
    assert [row.key async for page in whole for row in page.rows]
    record = await ended(dict(await whole.initial_metadata())["x-govshare-audit-id"])
    assert (record.result, record.failure_reason, record.rows_sent, record.pages_sent) == (
        audit_pb2.ACCESS_RESULT_ANSWERED, "", len(entities), 1)
    assert await answered() == before + 1
    listed_all = await parties.audit.ListAccesses(audit_pb2.ListAccessesRequest(resource_code=ENTITIES),
                                                  metadata=authority, timeout=10)
    assert "ExportEnd" not in {a.operation for a in listed_all.accesses}


async def test_another_persons_number_in_a_declared_purpose_is_masked(world) -> None:  # type: ignore[no-untyped-def]
    """A reading department's purpose text is its own free text: a family member was shown, in full, the
    公民身份号码 and the mobile number of the applicant whose 低保 case the department named (an entity's credit
    code is public)."""
    parties, people, entities, _ = world
    person, applicant = people[2].key, people[0].key
    typed = applicant.translate({code: code + 0xFEE0 for code in range(0x30, 0x3A)})  # full width, as often typed
    # The applicant's mobile number too, whole, grouped 3-4-4, in full width or after China's +86 (a contact list's
    # +8613612345678 went out whole); a longer number (a 文号, an account) is none.
    text = (f"低保家庭核查 户主{applicant} 另{typed[:6]} {typed[6:14]} {typed[14:]} 单位{entities[0].key} "
            "电话13812345678、139-1234-5678、１３７１２３４５６７８、+8613612345678 文号2026013812345678")
    answered = await parties.query.Query(query_pb2.QueryRequest(
        resource_code=PEOPLE, key=person, items=["name"], purpose=common.Purpose(
            type=common.PURPOSE_TYPE_ADMINISTRATIVE_BASIS, text=text)), metadata=parties.md("sub_user"), timeout=10)
    seen = {a.id: a for a in (await parties.lookup("sub_portal", citizen_id=person)).accesses}
    masked = f"{applicant[:6]}********{applicant[-4:]}"
    assert seen[answered.audit_id].purpose_text == (
        f"低保家庭核查 户主{masked} 另{masked} 单位{entities[0].key} "
        "电话138****5678、139****5678、137****5678、+86136****5678 文号2026013812345678")


async def test_a_first_generation_number_names_the_person_and_the_attempts_made_with_it(world) -> None:  # type: ignore[no-untyped-def]
    """A portal that knows a person by their old 15-digit number was refused, and a query a department tried with
    that number (refused, recorded with it) was never listed to the person under their 18-character number."""
    parties, people, _, _ = world
    person = people[2].key
    old = person[:6] + person[8:17]
    assert person[6:8] == "19"
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await parties.query.Query(query_pb2.QueryRequest(resource_code=PEOPLE, key=old, purpose=ADMIN),
                                  metadata=parties.md("sub_user"), timeout=10)
    info, _ = details_of(error.value)
    attempt = info.metadata["audit_id"]
    answered = await parties.query.Query(query_pb2.QueryRequest(resource_code=PEOPLE, key=person, purpose=ADMIN),
                                         metadata=parties.md("sub_user"), timeout=10)
    by_new = [(a.id, a.result) for a in (await parties.lookup("sub_portal", citizen_id=person)).accesses]
    by_old = await parties.lookup("sub_portal", citizen_id=old)
    assert [(a.id, a.result) for a in by_old.accesses] == by_new
    # A portal's page 2 naming the person in another form than its page 1 (the old number, then the new one as an
    # input method types it: full-width, a lower-case x) continues the same listing.
    typed = person.lower().translate({code: code + 0xFEE0 for code in range(0x21, 0x7F)})
    pages, token = [], ""
    for form in (old, typed, f" {person.lower()}"):
        page = await parties.audit.ListSubjectAccesses(audit_pb2.ListSubjectAccessesRequest(
            citizen_id=form, purpose=ASKED, page_size=1, page_token=token), metadata=parties.md("sub_portal"),
            timeout=10)
        pages += [(a.id, a.result) for a in page.accesses]
        token = page.next_page_token
        if not token:
            break
    assert pages == by_new[:3] and len(pages) >= 2
    assert by_new[:2] == [(answered.audit_id, audit_pb2.ACCESS_RESULT_ANSWERED),
                          (attempt, audit_pb2.ACCESS_RESULT_INVALID)]
