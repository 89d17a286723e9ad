"""Separation of duties (issue 12), refused by the services themselves: each role calling an RPC it must not
call gets PERMISSION_DENIED naming the role it needs; decisions need a person; the person is recorded on
every decision, in the RPC's answer and in the administrative log.

Over the real platform, through the edge (tests/integration/conftest.py); persons' tokens are signed as
SessionService signs them (test_persons.py signs persons in for real).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import grpc
import pytest
from caller_metadata import person_of
from google.protobuf import field_mask_pb2, timestamp_pb2

from govshare.authorization.v1 import (
    admin_log_pb2,
    admin_log_pb2_grpc,
    directory_pb2,
    directory_pb2_grpc,
    persons_pb2,
    persons_pb2_grpc,
    roles_pb2,
    sharing_pb2,
    sharing_pb2_grpc,
)
from govshare.catalog.v1 import catalog_pb2 as cat
from govshare.catalog.v1 import catalog_pb2_grpc
from govshare.common.v1 import common_pb2 as common
from govshare.foundation.v1 import foundation_pb2
from govshare.query.v1 import audit_pb2, audit_pb2_grpc, dispute_pb2, dispute_pb2_grpc, query_pb2, query_pb2_grpc
from govshare.supervision.v1 import supervision_pb2
from services.demo import demo_entries
from services.runtime.duties import ADMINISTRATOR, APPLICANT, APPROVER, AUDITOR, DATA_OFFICER, LABELS, REVIEWER
from services.runtime.errors import details_of
from services.runtime.identity import Caller
from services.runtime.tokens import issue_token

pytestmark = pytest.mark.integration

POPULATION = "101001/000001"  # conditional, provided by police
#: Every role at the department where it may exist: the authority holds REVIEWER and ADMINISTRATOR.
EVERYONE = [("police", DATA_OFFICER), ("police", APPROVER), ("police", APPLICANT), ("police", AUDITOR),
            ("authority", REVIEWER), ("authority", ADMINISTRATOR), ("authority", AUDITOR)]


def _except(*allowed: tuple[str, str]) -> list[tuple[str, str]]:
    return [who for who in EVERYONE if who not in allowed]


async def _denied(call, needed: str) -> str:  # type: ignore[no-untyped-def]
    """Awaits ``call``: PERMISSION_DENIED whose message names the role ``needed`` (its label and its name)."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED, caught.value.details()
    message = caught.value.details() or ""
    assert f"{LABELS[needed]} ({needed})" in message, message
    info, _ = details_of(caught.value)
    return info.reason if info is not None else ""


def _application(items: list[str]) -> sharing_pb2.Application:
    expire = timestamp_pb2.Timestamp()
    expire.FromDatetime(dt.datetime.now(dt.UTC) + dt.timedelta(days=90))
    return sharing_pb2.Application(
        resource_code=POPULATION, items=items, purposes=[common.PURPOSE_TYPE_ADMINISTRATIVE_BASIS],
        purpose_text="低保资格审核", basis="《社会救助暂行办法》第十一条", requested_expire_time=expire,
        methods=[common.SHARE_METHOD_ONLINE_QUERY], quota=100)


async def test_catalog_drafts_are_the_providers_data_officers_and_reviews_the_authoritys_reviewer(platform) -> None:  # type: ignore[no-untyped-def]
    catalog = catalog_pb2_grpc.CatalogServiceStub(platform.channel)
    template = next(e for e in demo_entries() if e.code == POPULATION)
    entry = cat.Entry()
    entry.CopyFrom(template)
    entry.code, entry.name = "101001/000077", "人口迁移信息"
    entry.endpoint.dataset = "population_duties"
    for department, role in _except(("police", DATA_OFFICER)):
        await _denied(catalog.CreateEntry(cat.CreateEntryRequest(entry=entry),
                                          metadata=platform.person(department, role), timeout=10), DATA_OFFICER)
    # The data officer of another department may not draft the police's entries either.
    reason = await _denied(catalog.CreateEntry(cat.CreateEntryRequest(entry=entry),
                                               metadata=platform.person("social", DATA_OFFICER), timeout=10),
                           DATA_OFFICER)
    assert reason == "NOT_YOUR_DEPARTMENT"
    officer = platform.person("police", DATA_OFFICER)
    await catalog.CreateEntry(cat.CreateEntryRequest(entry=entry), metadata=officer, timeout=10)
    submitted = await catalog.SubmitEntry(cat.SubmitEntryRequest(code=entry.code), metadata=officer, timeout=10)
    assert submitted.entry.submitted_by.display_name == "测试编目员"

    review = cat.ReviewEntryRequest(code=entry.code, decision=cat.REVIEW_DECISION_RETURN, reason="摘要不完整")
    for department, role in _except(("authority", REVIEWER)):
        await _denied(catalog.ReviewEntry(review, metadata=platform.person(department, role), timeout=10), REVIEWER)
    # A system's token no longer reviews: a review is a person's decision (R-SEC-1).
    assert await _denied(catalog.ReviewEntry(review, metadata=platform.metadata("authority"), timeout=10),
                         REVIEWER) == "PERSON_REQUIRED"
    returned = await catalog.ReviewEntry(review, metadata=platform.person("authority", REVIEWER), timeout=10)
    assert returned.entry.state == cat.ENTRY_STATE_RETURNED
    assert returned.entry.reviewed_by.display_name == "测试审核员"
    assert returned.entry.reviewed_by.id.startswith("psn-")


async def test_applications_are_the_applicants_and_replies_the_providers_approvers(platform) -> None:  # type: ignore[no-untyped-def]
    sharing = sharing_pb2_grpc.SharingServiceStub(platform.channel)
    items = ["citizen_id", "name", "birth_date"]
    for department, role in [("social", DATA_OFFICER), ("social", APPROVER), ("social", AUDITOR)]:
        await _denied(sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(application=_application(items)),
                                                metadata=platform.person(department, role), timeout=10), APPLICANT)
    application = (await sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(
        application=_application(items)), metadata=platform.person("social", APPLICANT), timeout=10)).application

    approve = sharing_pb2.ReplyApplicationRequest(id=application.id, decision=sharing_pb2.REPLY_DECISION_APPROVE,
                                                  items=["name", "birth_date"])
    for department, role in _except(("police", APPROVER)):
        await _denied(sharing.ReplyApplication(approve, metadata=platform.person(department, role), timeout=10),
                      APPROVER)
    assert await _denied(sharing.ReplyApplication(approve, metadata=platform.person("social", APPROVER), timeout=10),
                         APPROVER) == "NOT_YOUR_DEPARTMENT"
    assert await _denied(sharing.ReplyApplication(approve, metadata=platform.metadata("police"), timeout=10),
                         APPROVER) == "PERSON_REQUIRED"
    replied = await sharing.ReplyApplication(approve, metadata=platform.person("police", APPROVER), timeout=10)
    assert replied.application.replied_by.display_name == "测试审批人"
    assert replied.application.history[-1].actor_display_name == "测试审批人"
    assert replied.grant.granted_by.id == replied.application.replied_by.id

    adjust = sharing_pb2.UpdateGrantRequest(grant=sharing_pb2.Grant(id=replied.grant.id, quota=50),
                                            update_mask=field_mask_pb2.FieldMask(paths=["quota"]))
    for department, role in _except(("police", APPROVER)):
        await _denied(sharing.UpdateGrant(adjust, metadata=platform.person(department, role), timeout=10), APPROVER)
    adjusted = await sharing.UpdateGrant(adjust, metadata=platform.person("police", APPROVER), timeout=10)
    assert adjusted.grant.quota == 50 and adjusted.grant.changed_by.display_name == "测试审批人"
    release = timestamp_pb2.Timestamp()
    release.FromDatetime(dt.datetime.now(dt.UTC) + dt.timedelta(days=7))
    secret = sharing_pb2.SetGrantConfidentialityRequest(grant_id=replied.grant.id, confidential=True,
                                                        release_time=release, reason="在办案件")
    for department, role in _except(("police", APPROVER), ("authority", REVIEWER)):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await sharing.SetGrantConfidentiality(secret, metadata=platform.person(department, role), timeout=10)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED, (department, role)

    revoke = sharing_pb2.RevokeGrantRequest(id=replied.grant.id, reason="项目结束")
    for department, role in _except(("police", APPROVER)):
        await _denied(sharing.RevokeGrant(revoke, metadata=platform.person(department, role), timeout=10), APPROVER)
    await _denied(sharing.RevokeGrant(revoke, metadata=platform.person("social", APPROVER), timeout=10), APPROVER)
    revoked = await sharing.RevokeGrant(revoke, metadata=platform.person("police", APPROVER), timeout=10)
    assert revoked.grant.changed_by.display_name == "测试审批人"

    # The auditor reads the administrative log: both decisions name the person.
    log = admin_log_pb2_grpc.AdminLogServiceStub(platform.channel)
    await _denied(log.ListAdminEvents(admin_log_pb2.ListAdminEventsRequest(),
                                      metadata=platform.person("authority", ADMINISTRATOR), timeout=10), AUDITOR)
    events = (await log.ListAdminEvents(admin_log_pb2.ListAdminEventsRequest(
        actor_department_code=application.provider_department_code, page_size=1000),
        metadata=platform.person("authority", AUDITOR), timeout=10)).events
    # (the refused attempts above are entries of the same actions and targets, result the refusal's reason)
    mine = {e.action: e for e in events if e.target in (application.id, replied.grant.id) and e.result == "OK"}
    for action in ("sharing.approved", "sharing.grant_revoked"):
        assert mine[action].actor_system_id == replied.application.replied_by.id
        assert json.loads(mine[action].details_json)["actor_display_name"] == "测试审批人"


async def test_nobody_approves_their_own_departments_application(platform) -> None:  # type: ignore[no-untyped-def]
    """Police applies for police's own resource: even police's approver cannot reply to it."""
    sharing = sharing_pb2_grpc.SharingServiceStub(platform.channel)
    application = (await sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(
        application=_application(["citizen_id", "status"])), metadata=platform.person("police", APPLICANT),
        timeout=10)).application
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sharing.ReplyApplication(sharing_pb2.ReplyApplicationRequest(
            id=application.id, decision=sharing_pb2.REPLY_DECISION_APPROVE),
            metadata=platform.person("police", APPROVER), timeout=10)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    info, _ = details_of(caught.value)
    assert info is not None and info.reason == "OWN_APPLICATION"


async def test_coordination_is_the_authoritys_reviewer_and_administration_its_administrator(platform) -> None:  # type: ignore[no-untyped-def]
    sharing = sharing_pb2_grpc.SharingServiceStub(platform.channel)
    decide = sharing_pb2.RecordCoordinationDecisionRequest(id="app-" + "0" * 32, grant=False, reason="不予共享")
    for department, role in _except(("authority", REVIEWER)):
        await _denied(sharing.RecordCoordinationDecision(decide, metadata=platform.person(department, role),
                                                         timeout=10), REVIEWER)
    directory = directory_pb2_grpc.DirectoryServiceStub(platform.channel)
    department = directory_pb2.Department(code="11110100MB99999990", name="市测试局",
                                          level=directory_pb2.ADMINISTRATIVE_LEVEL_MUNICIPAL, region_code="110100")
    persons = persons_pb2_grpc.PersonServiceStub(platform.channel)
    for who, role in _except(("authority", ADMINISTRATOR)):
        await _denied(directory.CreateDepartment(directory_pb2.CreateDepartmentRequest(department=department),
                                                 metadata=platform.person(who, role), timeout=10), ADMINISTRATOR)
        await _denied(persons.ListPersons(persons_pb2.ListPersonsRequest(), metadata=platform.person(who, role),
                                          timeout=10), ADMINISTRATOR)
    listed = await persons.ListPersons(persons_pb2.ListPersonsRequest(),
                                       metadata=platform.person("authority", ADMINISTRATOR), timeout=10)
    assert any(p.username == "authority.reviewer" for p in listed.persons)


def _req(module, name: str, **fields: object):  # type: ignore[no-untyped-def]
    return getattr(module, name)(**fields)


#: Methods whose role is checked before anything is looked up: (method, request, the role it needs, who may).
ROLE_FIRST = [
    ("/govshare.foundation.v1.FoundationAdminService/LoadRecords",
     lambda: _req(foundation_pb2, "LoadRecordsRequest", dataset="population"), DATA_OFFICER,
     [("police", DATA_OFFICER)]),
    ("/govshare.foundation.v1.FoundationAdminService/RegisterSource",
     lambda: _req(foundation_pb2, "RegisterSourceRequest", dataset="licence"), ADMINISTRATOR,
     [("authority", ADMINISTRATOR)]),
    ("/govshare.foundation.v1.FoundationAdminService/RetireSource",
     lambda: _req(foundation_pb2, "RetireSourceRequest", dataset="licence"), ADMINISTRATOR,
     [("authority", ADMINISTRATOR)]),
    ("/govshare.foundation.v1.FoundationAdminService/DesignateAuthoritativeSource",
     lambda: _req(foundation_pb2, "DesignateAuthoritativeSourceRequest", dataset="licence"), ADMINISTRATOR,
     [("authority", ADMINISTRATOR)]),
    ("/govshare.supervision.v1.SupervisionService/UpdateEvaluationWeights",
     lambda: _req(supervision_pb2, "UpdateEvaluationWeightsRequest"), ADMINISTRATOR, [("authority", ADMINISTRATOR)]),
    ("/govshare.authorization.v1.RoleService/GrantSystemRole",
     lambda: _req(roles_pb2, "GrantSystemRoleRequest", system_id="sys-0000000000000000"), ADMINISTRATOR,
     [("authority", ADMINISTRATOR)]),
    ("/govshare.authorization.v1.AdminLogService/VerifyAdminLog",
     lambda: _req(admin_log_pb2, "VerifyAdminLogRequest"), AUDITOR, [("authority", AUDITOR), ("police", AUDITOR)]),
    ("/govshare.query.v1.AuditService/VerifyAuditChain",
     lambda: _req(audit_pb2, "VerifyAuditChainRequest"), AUDITOR, [("authority", AUDITOR), ("police", AUDITOR)]),
    ("/govshare.query.v1.AuditService/ExportAuditCheckpoints",
     lambda: _req(audit_pb2, "ExportAuditCheckpointsRequest"), AUDITOR, [("authority", AUDITOR), ("police", AUDITOR)]),
    *[(f"/govshare.query.v1.AuditService/{verb}AuditVerification{suffix}",
       lambda verb=verb, suffix=suffix: _req(audit_pb2, f"{verb}AuditVerification{suffix}Request"), AUDITOR,
       [("authority", AUDITOR), ("police", AUDITOR)])
      for verb, suffix in (("Start", ""), ("Get", ""), ("List", "s"), ("Cancel", ""))],
    # R-USE-4: the figures are the provider's oversight, read by who reads its access log.
    ("/govshare.query.v1.AuditService/GetUsageSummary", lambda: _req(audit_pb2, "GetUsageSummaryRequest"), AUDITOR,
     [("police", AUDITOR), ("police", APPROVER), ("police", DATA_OFFICER), ("authority", AUDITOR)]),
    # R-DSP-1: a department's disputes are its 申请人's (who report), its 审批人's and 编目员's (who answer and
    # correct), its 审计员's; every department's the authority's 审核员's and 审计员's.
    ("/govshare.query.v1.DisputeService/ListDisputes", lambda: _req(dispute_pb2, "ListDisputesRequest"), REVIEWER,
     _except(("authority", ADMINISTRATOR))),
    ("/govshare.query.v1.DisputeService/GetDispute",
     lambda: _req(dispute_pb2, "GetDisputeRequest", id="00000000-0000-4000-8000-000000000000"), REVIEWER,
     _except(("authority", ADMINISTRATOR))),
]


@pytest.mark.parametrize(("method", "request_of", "needed", "allowed"), ROLE_FIRST,
                         ids=[m.rpartition("/")[2] for m, *_ in ROLE_FIRST])
async def test_each_role_that_may_not_is_refused_naming_the_role(platform, method: str, request_of,  # type: ignore[no-untyped-def]
                                                                 needed: str, allowed: list[tuple[str, str]]) -> None:
    call = platform.channel.unary_unary(method, request_serializer=lambda m: m.SerializeToString(),
                                        response_deserializer=lambda raw: raw)
    for department, role in _except(*allowed):
        await _denied(call(request_of(), metadata=platform.person(department, role), timeout=30), needed)


async def test_who_may_not_manage_systems_learns_nothing_of_which_system_ids_exist(platform) -> None:  # type: ignore[no-untyped-def]
    """A person without the administrator's role is refused for the role, whether the system id exists or not
    (it was NOT_FOUND for an unknown id and PERMISSION_DENIED for a known one)."""
    directory = directory_pb2_grpc.DirectoryServiceStub(platform.channel)
    known = platform.credentials.systems["police"]["system_id"]
    for system_id in (known, "sys-0000000000000000"):
        for person in (platform.person("police", APPROVER), platform.person("authority", AUDITOR)):
            await _denied(directory.DisableSystem(directory_pb2.DisableSystemRequest(id=system_id),
                                                  metadata=person, timeout=10), ADMINISTRATOR)
            await _denied(directory.RotateSystemSecret(directory_pb2.RotateSystemSecretRequest(id=system_id),
                                                       metadata=person, timeout=10), ADMINISTRATOR)


async def test_a_refused_read_of_disputes_or_usage_figures_is_logged(platform) -> None:  # type: ignore[no-untyped-def]
    """Who was refused the disputes (each a person's number and evidence) or a department's usage figures is in the
    administrative log, the reason as its result."""
    entry = platform.credentials.systems["authority"]
    administrator = person_of(Caller(entry["system_id"], entry["department"], authority=True), ADMINISTRATOR)
    disputes = dispute_pb2_grpc.DisputeServiceStub(platform.channel)
    audit = audit_pb2_grpc.AuditServiceStub(platform.channel)
    metadata = platform.person("authority", ADMINISTRATOR)
    before = len(await _refusals_of(platform, administrator, 0))
    for call in (disputes.ListDisputes(dispute_pb2.ListDisputesRequest(), metadata=metadata, timeout=10),
                 audit.GetUsageSummary(audit_pb2.GetUsageSummaryRequest(resource_code=POPULATION),
                                       metadata=metadata, timeout=10)):
        assert await _denied(call, AUDITOR) == "ROLE_REQUIRED"
    refused = {(e.action, e.target, e.result) for e in await _refusals_of(platform, administrator, before + 2)}
    assert {("audit.usage_summary", POPULATION, "ROLE_REQUIRED"), ("dispute.read", "*", "ROLE_REQUIRED")} <= refused


async def test_the_authoritys_approver_and_data_officer_read_the_accesses_to_its_own_resources_only(platform) -> None:  # type: ignore[no-untyped-def]
    """The whole platform's access log (whom every department looked up, by 公民身份号码 and 统一社会信用代码) is the
    authority's 审计员's: the authority's 审批人 and 编目员 answer for the resources the authority provides, as another
    department's do for theirs, and read those accesses only. They read every department's, as its 审计员 does."""
    entities = "102001/000001"  # unconditional, provided by the market regulator, not by the authority
    social = platform.credentials.systems["social"]["system_id"]
    since = timestamp_pb2.Timestamp()
    since.FromDatetime(dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    query = query_pb2_grpc.QueryServiceStub(platform.channel)
    with pytest.raises(grpc.aio.AioRpcError):  # no such entity: refused NOT_FOUND, and recorded all the same
        await query.Query(query_pb2.QueryRequest(
            resource_code=entities, key="91110000600037341L", items=["name"],
            purpose=common.Purpose(type=common.PURPOSE_TYPE_WORK_REFERENCE, text="窗口受理")),
            metadata=platform.metadata("social"), timeout=10)
    audit = audit_pb2_grpc.AuditServiceStub(platform.channel)
    listing = audit_pb2.ListAccessesRequest(system_id=social, resource_code=entities, start_time=since)
    summary = audit_pb2.GetUsageSummaryRequest(resource_code=entities, start_time=since)
    auditor = platform.person("authority", AUDITOR)
    assert (await audit.ListAccesses(listing, metadata=auditor, timeout=10)).accesses
    assert (await audit.GetUsageSummary(summary, metadata=auditor, timeout=10)).rows
    for role in (APPROVER, DATA_OFFICER):
        person = platform.person("authority", role)
        assert not (await audit.ListAccesses(listing, metadata=person, timeout=10)).accesses, role
        assert not (await audit.GetUsageSummary(summary, metadata=person, timeout=10)).rows, role


async def _refusals_of(platform, person: Caller, count: int) -> list[admin_log_pb2.AdminEvent]:  # type: ignore[no-untyped-def]
    """The administrative log's refusals of ``person`` once it holds ``count`` of them (the services' relays
    deliver at once after a commit; 10 s of slack for a loaded machine), as the authority's 审计员 reads them."""
    log = admin_log_pb2_grpc.AdminLogServiceStub(platform.channel)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while True:
        events = (await log.ListAdminEvents(admin_log_pb2.ListAdminEventsRequest(
            actor_department_code=person.department_code, page_size=1000),
            metadata=platform.person("authority", AUDITOR), timeout=10)).events
        found = [e for e in events if e.actor_system_id == person.system_id and e.result != "OK"]
        if len(found) >= count or loop.time() > deadline:
            return found
        await asyncio.sleep(0.05)


async def test_nobody_reviews_the_entry_they_submitted(platform) -> None:  # type: ignore[no-untyped-def]
    """The authority's person holding 编目员 and 审核员 (the roles may be held together) submits an entry of the
    authority's own: they may not publish or return it themselves (OWN_SUBMISSION, in the administrative log);
    another 审核员 may."""
    catalog = catalog_pb2_grpc.CatalogServiceStub(platform.channel)
    authority = platform.credentials.systems["authority"]
    both = Caller("psn-0fficer0reviewer", authority["department"], authority=True, display_name="编目兼审核",
                  roles=(DATA_OFFICER, REVIEWER))
    metadata = (("authorization",
                 f"Bearer {issue_token(platform.settings['authorization'].token_private_key, both, 600).token}"),)
    entry = cat.Entry()
    entry.CopyFrom(next(e for e in demo_entries() if e.code == POPULATION))
    entry.code, entry.name = "101001/000078", "共享平台接入信息"
    entry.provider_department_code = authority["department"]
    entry.endpoint.dataset = "authority_own_duties"
    await catalog.CreateEntry(cat.CreateEntryRequest(entry=entry), metadata=metadata, timeout=10)
    await catalog.SubmitEntry(cat.SubmitEntryRequest(code=entry.code), metadata=metadata, timeout=10)
    for decision in (cat.REVIEW_DECISION_PUBLISH, cat.REVIEW_DECISION_RETURN):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await catalog.ReviewEntry(cat.ReviewEntryRequest(code=entry.code, decision=decision, reason="自审"),
                                      metadata=metadata, timeout=10)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED, caught.value.details()
        info, _ = details_of(caught.value)
        assert info is not None and info.reason == "OWN_SUBMISSION", caught.value.details()
        assert "another 审核员" in (caught.value.details() or "")
    refused = await _refusals_of(platform, both, 2)
    assert sorted((e.action, e.target) for e in refused) == [("catalog.publish", entry.code),
                                                             ("catalog.return", entry.code)]
    returned = await catalog.ReviewEntry(cat.ReviewEntryRequest(code=entry.code, decision=cat.REVIEW_DECISION_RETURN,
                                                                reason="请补充摘要"),
                                         metadata=platform.person("authority", REVIEWER), timeout=10)
    assert returned.entry.state == cat.ENTRY_STATE_RETURNED
    # Reworked by the same person and submitted by another 编目员: still their own work, not theirs to review.
    await catalog.UpdateEntry(cat.UpdateEntryRequest(entry=cat.Entry(code=entry.code, summary="共享平台接入单位信息"),
                                                     update_mask=field_mask_pb2.FieldMask(paths=["summary"])),
                              metadata=metadata, timeout=10)
    await catalog.SubmitEntry(cat.SubmitEntryRequest(code=entry.code),
                              metadata=platform.person("authority", DATA_OFFICER), timeout=10)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await catalog.ReviewEntry(cat.ReviewEntryRequest(code=entry.code, decision=cat.REVIEW_DECISION_PUBLISH),
                                  metadata=metadata, timeout=10)
    info, _ = details_of(caught.value)
    assert info is not None and info.reason == "OWN_SUBMISSION", caught.value.details()


async def test_nobody_coordinates_the_application_they_made(platform) -> None:  # type: ignore[no-untyped-def]
    """The authority's person holding 申请人 and 审核员 applies for a resource not shared (escalated at once): they may
    not record the coordination decision on it themselves (OWN_ESCALATION, in the administrative log); another
    审核员 may."""
    sharing = sharing_pb2_grpc.SharingServiceStub(platform.channel)
    authority = platform.credentials.systems["authority"]
    both = Caller("psn-app1icant0reviewer", authority["department"], authority=True, display_name="申请兼审核",
                  roles=(APPLICANT, REVIEWER))
    metadata = (("authorization",
                 f"Bearer {issue_token(platform.settings['authorization'].token_private_key, both, 600).token}"),)
    draft = _application(["citizen_id"])
    draft.resource_code = "301001/000001"  # 不予共享
    application = (await sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(application=draft),
                                                   metadata=metadata, timeout=10)).application
    assert application.state == sharing_pb2.APPLICATION_STATE_ESCALATED
    decide = sharing_pb2.RecordCoordinationDecisionRequest(id=application.id, grant=True, reason="专项整治需要")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sharing.RecordCoordinationDecision(decide, metadata=metadata, timeout=10)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED, caught.value.details()
    info, _ = details_of(caught.value)
    assert info is not None and info.reason == "OWN_ESCALATION", caught.value.details()
    assert "another 审核员" in (caught.value.details() or "")
    refused = await _refusals_of(platform, both, 1)
    assert [(e.action, e.target, e.result) for e in refused] == [("sharing.coordinated_granted", application.id,
                                                                  "OWN_ESCALATION")]
    decide.grant, decide.reason = False, "涉密，不予共享"
    decided = await sharing.RecordCoordinationDecision(decide, metadata=platform.person("authority", REVIEWER),
                                                       timeout=10)
    assert decided.application.state == sharing_pb2.APPLICATION_STATE_COORDINATED_REFUSED
