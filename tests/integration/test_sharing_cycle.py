"""The sharing cycle end to end, through the gateway, as business systems live it.

Every call here goes client → gateway → service(s) over real sockets, with real tokens, on real
PostgreSQL and Redis, against the seeded demo (services/demo.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import urllib.error
import urllib.request
import uuid

import asyncpg
import grpc
import pytest
from caller_metadata import CallerMetadata
from google.protobuf import field_mask_pb2, timestamp_pb2
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway.edge import WITHHELD_PATH
from govshare.authorization.v1 import (
    authorization_pb2,
    authorization_pb2_grpc,
    directory_pb2,
    directory_pb2_grpc,
    sharing_pb2,
    sharing_pb2_grpc,
)
from govshare.common.v1 import common_pb2 as common
from govshare.provider.v1 import provider_pb2, provider_pb2_grpc
from govshare.query.v1 import audit_pb2, audit_pb2_grpc, query_pb2, query_pb2_grpc
from services.runtime.duties import APPROVER, REVIEWER
from services.runtime.errors import details_of
from services.runtime.identity import service_caller

POPULATION = "101001/000001"  # conditional; citizen_id and name are basic (unconditional) items
ENTITIES = "102001/000001"  # unconditional, online + batch download
PLACES = "103002/000001"  # unconditional, online only
NOT_SHARED = "301001/000001"
WORK = common.Purpose(type=common.PURPOSE_TYPE_WORK_REFERENCE, text="窗口业务办理")
ADMIN = common.Purpose(type=common.PURPOSE_TYPE_ADMINISTRATIVE_BASIS, text="低保资格审核 2026-0001")


async def _keys(platform, dataset: str, count: int = 5) -> list[provider_pb2.Record]:  # type: ignore[no-untyped-def]
    """Records that exist, read through the provider contract as the query service would."""
    signer = CallerMetadata.of(platform.settings["query"])
    async with grpc.aio.insecure_channel(platform.port("foundation")) as channel:
        stub = provider_pb2_grpc.ProviderServiceStub(channel)
        async for page in stub.Export(provider_pb2.ExportRequest(dataset=dataset, page_size=count),
                                      metadata=signer.metadata(service_caller("query"))):
            return list(page.records)[:count]
    raise AssertionError(f"no {dataset} records")


def _reason(error: grpc.aio.AioRpcError) -> str:
    info, _ = details_of(error)
    return info.reason if info else ""


def _query(platform, system: str, resource: str, key: str, purpose=WORK, items=()):  # type: ignore[no-untyped-def]
    stub = query_pb2_grpc.QueryServiceStub(platform.channel)
    return stub.Query(query_pb2.QueryRequest(resource_code=resource, key=key, items=list(items), purpose=purpose),
                      metadata=platform.metadata(system), timeout=10)


async def test_unconditional_query_is_answered_with_provenance(platform) -> None:  # type: ignore[no-untyped-def]
    (record, *_) = await _keys(platform, "legal_entity")
    response = await _query(platform, "social", ENTITIES, record.key)
    assert response.values["credit_code"] == record.key
    assert response.values["name"] == record.values["name"]
    # 法定代表人 is personal information: masked by its rule, and said so.
    assert "legal_representative" in response.masked_items
    assert response.values["legal_representative"] != record.values["legal_representative"]
    assert response.provenance.provider_department_code == platform.credentials.systems["market"]["department"]
    assert response.provenance.as_of_time.seconds > 0
    assert response.audit_id


async def test_conditional_cycle_apply_approve_narrow_and_purpose(platform) -> None:  # type: ignore[no-untyped-def]
    (person, *_) = await _keys(platform, "population")
    wanted = ["citizen_id", "name", "birth_date", "address_region_code", "status"]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _query(platform, "civil", POPULATION, person.key, ADMIN, wanted)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert _reason(refused.value) == "NOT_GRANTED"

    # Basic items of a foundation database are shared unconditionally (R-SHR-4).
    basic = await _query(platform, "civil", POPULATION, person.key, ADMIN, ["citizen_id", "name"])
    assert set(basic.values) == {"citizen_id", "name"}

    sharing = sharing_pb2_grpc.SharingServiceStub(platform.channel)
    expire = timestamp_pb2.Timestamp()
    expire.FromDatetime(dt.datetime.now(dt.UTC) + dt.timedelta(days=90))
    submitted = await sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(
        application=sharing_pb2.Application(
        resource_code=POPULATION, items=wanted, purposes=[common.PURPOSE_TYPE_ADMINISTRATIVE_BASIS],
        purpose_text="低保资格审核", basis="《社会救助暂行办法》第十一条", requested_expire_time=expire,
        methods=[common.SHARE_METHOD_ONLINE_QUERY], quota=1000)), metadata=platform.metadata("civil"), timeout=10)
    application = submitted.application
    assert application.state == sharing_pb2.APPLICATION_STATE_SUBMITTED
    assert application.reply_due_time.seconds > application.create_time.seconds

    # The provider approves fewer items than asked (no address_region_code).
    narrowed = ["citizen_id", "name", "birth_date", "status"]
    replied = await sharing.ReplyApplication(sharing_pb2.ReplyApplicationRequest(
        id=application.id, decision=sharing_pb2.REPLY_DECISION_APPROVE, items=narrowed),
        metadata=platform.person("police", APPROVER), timeout=10)
    assert replied.application.state == sharing_pb2.APPLICATION_STATE_APPROVED
    assert sorted(replied.grant.items) == sorted(narrowed)

    answered = await _query(platform, "civil", POPULATION, person.key, ADMIN)
    assert set(answered.values) <= set(narrowed) | {"citizen_id", "name"}
    assert answered.values["birth_date"] == person.values["birth_date"]
    assert "address_region_code" not in answered.values

    with pytest.raises(grpc.aio.AioRpcError) as item_refused:
        await _query(platform, "civil", POPULATION, person.key, ADMIN, ["address_region_code"])
    assert _reason(item_refused.value) == "ITEM_NOT_GRANTED"

    with pytest.raises(grpc.aio.AioRpcError) as purpose_refused:
        await _query(platform, "civil", POPULATION, person.key, WORK, ["birth_date"])
    assert _reason(purpose_refused.value) == "PURPOSE_NOT_GRANTED"

    # Revocation takes effect on the very next query (the decision was cached just above).
    await sharing.RevokeGrant(sharing_pb2.RevokeGrantRequest(id=replied.grant.id, reason="项目结束"),
                              metadata=platform.person("police", APPROVER), timeout=10)
    with pytest.raises(grpc.aio.AioRpcError) as revoked:
        await _query(platform, "civil", POPULATION, person.key, ADMIN, ["birth_date"])
    assert revoked.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert _reason(revoked.value) == "REVOKED"


async def test_refusal_needs_a_reason(platform) -> None:  # type: ignore[no-untyped-def]
    sharing = sharing_pb2_grpc.SharingServiceStub(platform.channel)
    expire = timestamp_pb2.Timestamp()
    expire.FromDatetime(dt.datetime.now(dt.UTC) + dt.timedelta(days=30))
    submitted = await sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(
        application=sharing_pb2.Application(
        resource_code=POPULATION, items=["status"], purposes=[common.PURPOSE_TYPE_WORK_REFERENCE],
        basis="工作需要", requested_expire_time=expire, methods=[common.SHARE_METHOD_ONLINE_QUERY])),
        metadata=platform.metadata("social"), timeout=10)
    with pytest.raises(grpc.aio.AioRpcError) as no_reason:
        await sharing.ReplyApplication(sharing_pb2.ReplyApplicationRequest(
            id=submitted.application.id, decision=sharing_pb2.REPLY_DECISION_REFUSE),
            metadata=platform.person("police", APPROVER), timeout=10)
    assert no_reason.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    refused = await sharing.ReplyApplication(sharing_pb2.ReplyApplicationRequest(
        id=submitted.application.id, decision=sharing_pb2.REPLY_DECISION_REFUSE, reason="超出法定职责范围"),
        metadata=platform.person("police", APPROVER), timeout=10)
    assert refused.application.state == sharing_pb2.APPLICATION_STATE_REFUSED
    assert refused.application.reply_reason == "超出法定职责范围"


@pytest.mark.parametrize("empty", ["。", "-", "\u3000\u200b"])
async def test_a_refusal_or_revocation_of_punctuation_only_is_refused(platform, empty: str) -> None:  # type: ignore[no-untyped-def]
    """A decision against a department must tell it why: "。" is no reason (R-APP-2), for a refusal, a
    revocation and the authority's final refusal alike."""
    sharing = sharing_pb2_grpc.SharingServiceStub(platform.channel)
    expire = timestamp_pb2.Timestamp()
    expire.FromDatetime(dt.datetime.now(dt.UTC) + dt.timedelta(days=30))

    async def submit(resource: str, items: list[str]) -> sharing_pb2.Application:
        submitted = await sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(
            application=sharing_pb2.Application(
            resource_code=resource, items=items, purposes=[common.PURPOSE_TYPE_WORK_REFERENCE],
            basis="工作需要", requested_expire_time=expire, methods=[common.SHARE_METHOD_ONLINE_QUERY])),
            metadata=platform.metadata("social"), timeout=10)
        return submitted.application

    async def invalid(call) -> list[str]:  # type: ignore[no-untyped-def]
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        _, bad = details_of(caught.value)
        return [v.field for v in bad.field_violations] if bad else []

    approver = platform.person("police", APPROVER)
    application = await submit(POPULATION, ["status"])
    assert await invalid(sharing.ReplyApplication(sharing_pb2.ReplyApplicationRequest(
        id=application.id, decision=sharing_pb2.REPLY_DECISION_REFUSE, reason=empty),
        metadata=approver, timeout=10)) == ["reason"]
    approved = await sharing.ReplyApplication(sharing_pb2.ReplyApplicationRequest(
        id=application.id, decision=sharing_pb2.REPLY_DECISION_APPROVE), metadata=approver, timeout=10)
    assert await invalid(sharing.RevokeGrant(sharing_pb2.RevokeGrantRequest(id=approved.grant.id, reason=empty),
                                             metadata=approver, timeout=10)) == ["reason"]
    grant = await sharing.GetGrant(sharing_pb2.GetGrantRequest(id=approved.grant.id),
                                   metadata=platform.metadata("social"), timeout=10)
    assert grant.grant.state == sharing_pb2.GRANT_STATE_ACTIVE

    escalated = await submit(NOT_SHARED, ["name"])
    assert escalated.state == sharing_pb2.APPLICATION_STATE_ESCALATED
    assert await invalid(sharing.RecordCoordinationDecision(sharing_pb2.RecordCoordinationDecisionRequest(
        id=escalated.id, grant=False, reason=empty), metadata=platform.person("authority", REVIEWER),
        timeout=10)) == ["reason"]


async def test_a_refusal_carrying_a_scope_is_refused_naming_each_field_and_saying_to_approve_instead(  # type: ignore[no-untyped-def]
        platform) -> None:
    """A refusal refuses the whole application: one sent with items (a provider who meant to refuse "only
    address_region_code"), an end, a quota, unmasked items or purposes was stored as a refusal of everything, the
    fields dropped in silence. Each is now INVALID_ARGUMENT on its field, saying there is no partial refusal and to
    approve naming the items granted instead; nothing is decided, and a refusal without them is taken."""
    sharing = sharing_pb2_grpc.SharingServiceStub(platform.channel)
    expire = timestamp_pb2.Timestamp()
    expire.FromDatetime(dt.datetime.now(dt.UTC) + dt.timedelta(days=30))
    shorter = timestamp_pb2.Timestamp()
    shorter.FromDatetime(dt.datetime.now(dt.UTC) + dt.timedelta(days=10))

    async def submit(resource: str) -> sharing_pb2.Application:
        submitted = await sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(
            application=sharing_pb2.Application(
            resource_code=resource, items=["name", "status"] if resource == POPULATION else ["name"],
            purposes=[common.PURPOSE_TYPE_WORK_REFERENCE], basis="工作需要", requested_expire_time=expire,
            methods=[common.SHARE_METHOD_ONLINE_QUERY], quota=100)), metadata=platform.metadata("social"), timeout=10)
        return submitted.application

    async def invalid(call) -> dict[str, str]:  # type: ignore[no-untyped-def]
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
        _, bad = details_of(caught.value)
        return {v.field: v.description for v in bad.field_violations} if bad else {}

    approver = platform.person("police", APPROVER)
    application = await submit(POPULATION)
    said = await invalid(sharing.ReplyApplication(sharing_pb2.ReplyApplicationRequest(
        id=application.id, decision=sharing_pb2.REPLY_DECISION_REFUSE, reason="住址不予提供", items=["status"],
        expire_time=shorter, quota=5), metadata=approver, timeout=10))
    assert set(said) == {"items", "expire_time", "quota"}, said
    assert "whole application" in said["items"] and "decision APPROVE" in said["items"], said
    assert all(text.endswith("say why in reason") for text in said.values()), said  # whole, not cut at 200
    got = await sharing.GetApplication(sharing_pb2.GetApplicationRequest(id=application.id),
                                       metadata=platform.metadata("social"), timeout=10)
    assert got.application.state == sharing_pb2.APPLICATION_STATE_SUBMITTED
    refused = await sharing.ReplyApplication(sharing_pb2.ReplyApplicationRequest(
        id=application.id, decision=sharing_pb2.REPLY_DECISION_REFUSE, reason="住址不予提供"),
        metadata=approver, timeout=10)
    assert refused.application.state == sharing_pb2.APPLICATION_STATE_REFUSED

    reviewer = platform.person("authority", REVIEWER)
    escalated = await submit(NOT_SHARED)
    said = await invalid(sharing.RecordCoordinationDecision(sharing_pb2.RecordCoordinationDecisionRequest(
        id=escalated.id, grant=False, reason="不符合第十二条", items=["name"], unmasked_items=["name"],
        purposes=[common.PURPOSE_TYPE_WORK_REFERENCE]), metadata=reviewer, timeout=10))
    assert set(said) == {"items", "unmasked_items", "purposes"}, said
    assert "decide grant: true" in said["purposes"], said
    assert all(text.endswith("say why in reason") for text in said.values()), said
    decided = await sharing.RecordCoordinationDecision(sharing_pb2.RecordCoordinationDecisionRequest(
        id=escalated.id, grant=False, reason="不符合第十二条"), metadata=reviewer, timeout=10)
    assert decided.application.state == sharing_pb2.APPLICATION_STATE_COORDINATED_REFUSED


async def test_an_approval_of_basic_items_alone_is_refused_saying_what_to_grant_instead(  # type: ignore[no-untyped-def]
        platform) -> None:
    """citizen_id and name are the population resource's basic items, which every department gets without a grant
    (R-SHR-4). An approval (or the authority's coordination grant) narrowed to them alone, unmasking neither, gave
    a grant under which nothing is ever answered, stored and answered APPROVED: the applicant believed it had its
    use and the provider that it had granted one. It is INVALID_ARGUMENT on items, naming them, the conditional
    item applied for and that they may be unmasked instead; nothing is decided."""
    sharing = sharing_pb2_grpc.SharingServiceStub(platform.channel)
    expire = timestamp_pb2.Timestamp()
    expire.FromDatetime(dt.datetime.now(dt.UTC) + dt.timedelta(days=30))
    submitted = await sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(
        application=sharing_pb2.Application(
        resource_code=POPULATION, items=["citizen_id", "name", "status"], purposes=[common.PURPOSE_TYPE_WORK_REFERENCE],
        basis="工作需要", requested_expire_time=expire, methods=[common.SHARE_METHOD_ONLINE_QUERY])),
        metadata=platform.metadata("social"), timeout=10)
    app_id = submitted.application.id

    async def said(call) -> str:  # type: ignore[no-untyped-def]
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
        _, bad = details_of(caught.value)
        assert bad is not None and [v.field for v in bad.field_violations] == ["items"], bad
        return bad.field_violations[0].description

    approver = platform.person("police", APPROVER)
    message = await said(sharing.ReplyApplication(sharing_pb2.ReplyApplicationRequest(
        id=app_id, decision=sharing_pb2.REPLY_DECISION_APPROVE, items=["citizen_id", "name"]),
        metadata=approver, timeout=10))
    assert message == ("citizen_id, name are basic items, which every department gets without a grant (R-SHR-4): "
                       "granting only them gives nothing; also grant status, or unmask citizen_id, name "
                       "(unmasked_items), or refuse"), message
    await sharing.ReplyApplication(sharing_pb2.ReplyApplicationRequest(
        id=app_id, decision=sharing_pb2.REPLY_DECISION_REFUSE, reason="状态信息不予提供"),
        metadata=approver, timeout=10)
    await sharing.EscalateApplication(sharing_pb2.EscalateApplicationRequest(id=app_id, reason="依法履职需要"),
                                      metadata=platform.metadata("social"), timeout=10)
    reviewer = platform.person("authority", REVIEWER)
    message = await said(sharing.RecordCoordinationDecision(sharing_pb2.RecordCoordinationDecisionRequest(
        id=app_id, grant=True, reason="准予", items=["name"]), metadata=reviewer, timeout=10))
    assert message.startswith("name is a basic item") and message.endswith("also grant status, or unmask name "
                                                                           "(unmasked_items), or refuse"), message
    decided = await sharing.RecordCoordinationDecision(sharing_pb2.RecordCoordinationDecisionRequest(
        id=app_id, grant=False, reason="不符合第十二条"), metadata=reviewer, timeout=10)
    assert decided.application.state == sharing_pb2.APPLICATION_STATE_COORDINATED_REFUSED


async def test_a_grant_narrowed_to_basic_items_alone_is_refused_saying_to_revoke_it_instead(  # type: ignore[no-untyped-def]
        platform) -> None:
    """As an approval of them alone: a provider's adjustment of a grant to its basic items (name) left it ACTIVE
    under which nothing is answered, the holder reading a grant it still had. INVALID_ARGUMENT on grant.items,
    saying to revoke it instead; the grant is unchanged."""
    sharing = sharing_pb2_grpc.SharingServiceStub(platform.channel)
    expire = timestamp_pb2.Timestamp()
    expire.FromDatetime(dt.datetime.now(dt.UTC) + dt.timedelta(days=30))
    submitted = await sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(
        application=sharing_pb2.Application(
        resource_code=POPULATION, items=["name", "status"], purposes=[common.PURPOSE_TYPE_WORK_REFERENCE],
        basis="工作需要", requested_expire_time=expire, methods=[common.SHARE_METHOD_ONLINE_QUERY])),
        metadata=platform.metadata("social"), timeout=10)
    approver = platform.person("police", APPROVER)
    grant = (await sharing.ReplyApplication(sharing_pb2.ReplyApplicationRequest(
        id=submitted.application.id, decision=sharing_pb2.REPLY_DECISION_APPROVE), metadata=approver,
        timeout=10)).grant
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sharing.UpdateGrant(sharing_pb2.UpdateGrantRequest(
            grant=sharing_pb2.Grant(id=grant.id, items=["name"]),
            update_mask=field_mask_pb2.FieldMask(paths=["items"])), metadata=approver, timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    _, bad = details_of(caught.value)
    assert bad is not None and [(v.field, v.description) for v in bad.field_violations] == [(
        "grant.items", "name is a basic item, which every department gets without a grant (R-SHR-4): granting only it "
        "gives nothing; also grant status, or unmask name (unmasked_items), or revoke the grant")], bad
    kept = await sharing.GetGrant(sharing_pb2.GetGrantRequest(id=grant.id), metadata=approver, timeout=10)
    assert sorted(kept.grant.items) == ["name", "status"]
    await sharing.RevokeGrant(sharing_pb2.RevokeGrantRequest(id=grant.id, reason="测试结束"), metadata=approver,
                              timeout=10)


async def test_not_shared_resource_is_refused(platform) -> None:  # type: ignore[no-untyped-def]
    (person, *_) = await _keys(platform, "population")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _query(platform, "social", NOT_SHARED, person.key)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert _reason(refused.value) == "NOT_SHARED"


async def test_verification_never_returns_data(platform) -> None:  # type: ignore[no-untyped-def]
    (person, *_) = await _keys(platform, "population")
    stub = query_pb2_grpc.QueryServiceStub(platform.channel)
    purpose = common.Purpose(type=common.PURPOSE_TYPE_DATA_VERIFICATION, text="身份核验")
    response = await stub.Verify(query_pb2.VerifyRequest(
        resource_code=POPULATION, key=person.key, claims={"name": person.values["name"], "citizen_id": person.key},
        purpose=purpose), metadata=platform.metadata("social"), timeout=10)
    assert dict(response.outcomes) == {"name": query_pb2.VERIFY_OUTCOME_MATCH,
                                       "citizen_id": query_pb2.VERIFY_OUTCOME_MATCH}
    wrong = await stub.Verify(query_pb2.VerifyRequest(
        resource_code=POPULATION, key=person.key, claims={"name": person.values["name"] + "某"}, purpose=purpose),
        metadata=platform.metadata("social"), timeout=10)
    assert wrong.outcomes["name"] == query_pb2.VERIFY_OUTCOME_MISMATCH
    assert person.values["name"] not in str(wrong)
    missing = await stub.Verify(query_pb2.VerifyRequest(
        resource_code=POPULATION, key="11010519491231002X", claims={"name": "张三"}, purpose=purpose),
        metadata=platform.metadata("social"), timeout=10)
    assert missing.outcomes["name"] == query_pb2.VERIFY_OUTCOME_NO_RECORD


async def test_batch_query_answers_every_key(platform) -> None:  # type: ignore[no-untyped-def]
    records = await _keys(platform, "legal_entity", 5)
    keys = [r.key for r in records] + ["91110000600037341L", "not-a-credit-code"]
    stub = query_pb2_grpc.QueryServiceStub(platform.channel)
    response = await stub.BatchQuery(query_pb2.BatchQueryRequest(
        resource_code=ENTITIES, keys=keys, items=["credit_code", "name"], purpose=WORK),
        metadata=platform.metadata("social"), timeout=10)
    by_key = {r.key: r for r in response.results}
    for record in records:
        assert by_key[record.key].found and by_key[record.key].values["name"] == record.values["name"]
    assert not by_key["91110000600037341L"].found and not by_key["91110000600037341L"].error
    assert by_key["not-a-credit-code"].error


async def test_export_allowed_and_refused(platform) -> None:  # type: ignore[no-untyped-def]
    stub = query_pb2_grpc.QueryServiceStub(platform.channel)
    rows = []
    async for page in stub.Export(query_pb2.ExportRequest(resource_code=ENTITIES, items=["credit_code", "name"],
                                                          purpose=WORK), metadata=platform.metadata("social")):
        rows.extend(page.rows)
    # Every seeded entity (other tests of the session may add more), each once, with only the asked items.
    keys = [r.key for r in rows]
    assert len(keys) == len(set(keys)) >= 200
    assert all(set(r.values) == {"credit_code", "name"} for r in rows)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        async for _ in stub.Export(query_pb2.ExportRequest(resource_code=PLACES, purpose=WORK),
                                   metadata=platform.metadata("social")):
            pass
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert _reason(refused.value) == "METHOD_NOT_GRANTED"


async def test_invalid_id_number_names_the_field(platform) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as invalid:
        await _query(platform, "social", POPULATION, "110105194912310021", items=["citizen_id"])
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    _, bad = details_of(invalid.value)
    assert bad is not None and [v.field for v in bad.field_violations] == ["key"]
    assert "check" in bad.field_violations[0].description


async def test_missing_purpose_is_invalid(platform) -> None:  # type: ignore[no-untyped-def]
    (record, *_) = await _keys(platform, "legal_entity")
    with pytest.raises(grpc.aio.AioRpcError) as invalid:
        await _query(platform, "social", ENTITIES, record.key, purpose=common.Purpose())
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    _, bad = details_of(invalid.value)
    assert bad is not None and "purpose.type" in [v.field for v in bad.field_violations]


async def test_no_credentials_is_unauthenticated(platform) -> None:  # type: ignore[no-untyped-def]
    stub = query_pb2_grpc.QueryServiceStub(platform.channel)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.Query(query_pb2.QueryRequest(resource_code=ENTITIES, key="91110000600037341L", purpose=WORK),
                         timeout=10)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "bearer token" in refused.value.details()


async def test_forged_identity_straight_to_internal_services_is_refused(platform) -> None:  # type: ignore[no-untyped-def]
    forged = (("x-govshare-caller", f"v1|svc:query||1|{int(dt.datetime.now().timestamp())}"),
              ("x-govshare-caller-sig", "0" * 64))
    async with grpc.aio.insecure_channel(platform.port("authorization")) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await authorization_pb2_grpc.AuthorizationServiceStub(channel).Check(
                authorization_pb2.CheckRequest(system_id="x", department_code="y", resource_code=ENTITIES),
                metadata=forged, timeout=10)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    async with grpc.aio.insecure_channel(platform.port("query")) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await query_pb2_grpc.QueryServiceStub(channel).Query(
                query_pb2.QueryRequest(resource_code=ENTITIES, key="91110000600037341L", purpose=WORK),
                metadata=forged, timeout=10)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # And the internal services are not reachable through the gateway at all.
    with pytest.raises(grpc.aio.AioRpcError) as hidden:
        await authorization_pb2_grpc.AuthorizationServiceStub(platform.channel).Check(
            authorization_pb2.CheckRequest(resource_code=ENTITIES), metadata=platform.metadata("social"), timeout=10)
    assert hidden.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def _new_system(platform) -> str:  # type: ignore[no-untyped-def]
    """A fresh department with one system, so its audit records can be counted exactly."""
    from stdnum.cn import uscc

    body = f"11110100MC{uuid.uuid4().int % 10**7:07d}"
    code = body + uscc.calc_check_digit(body)
    directory = directory_pb2_grpc.DirectoryServiceStub(platform.channel)
    authority = platform.metadata("authority")
    await directory.CreateDepartment(directory_pb2.CreateDepartmentRequest(department=directory_pb2.Department(
        code=code, name=f"审计测试局{code[-4:]}", level=directory_pb2.ADMINISTRATIVE_LEVEL_MUNICIPAL,
        region_code="110100")), metadata=authority, timeout=10)
    created = await directory.CreateSystem(directory_pb2.CreateSystemRequest(system=directory_pb2.System(
        department_code=code, name="审计测试系统")), metadata=authority, timeout=10)
    platform.credentials.systems[code] = {"system_id": created.system.id, "secret": created.secret,
                                          "department": code, "name": "审计测试局"}
    return code


async def test_every_query_has_exactly_one_audit_record_and_the_chain_verifies(platform) -> None:  # type: ignore[no-untyped-def]
    department = await _new_system(platform)
    (entity, *_) = await _keys(platform, "legal_entity")
    (person, *_) = await _keys(platform, "population")
    answered = await _query(platform, department, ENTITIES, entity.key)
    for resource, item in ((NOT_SHARED, "name"), (POPULATION, "birth_date")):
        with pytest.raises(grpc.aio.AioRpcError):
            await _query(platform, department, resource, person.key, ADMIN, [item])
    with pytest.raises(grpc.aio.AioRpcError):
        await _query(platform, department, ENTITIES, "91110000600037341L")  # no such record

    audit = audit_pb2_grpc.AuditServiceStub(platform.channel)
    listed = await audit.ListAccesses(audit_pb2.ListAccessesRequest(department_code=department, page_size=100),
                                      metadata=platform.metadata("authority"), timeout=10)
    results = sorted(audit_pb2.AccessResult.Name(a.result) for a in listed.accesses)
    assert results == ["ACCESS_RESULT_ANSWERED", "ACCESS_RESULT_DENIED", "ACCESS_RESULT_DENIED",
                       "ACCESS_RESULT_NOT_FOUND"]
    assert answered.audit_id in {a.id for a in listed.accesses}
    denied = {a.resource_code: a.deny_reason for a in listed.accesses if a.result == audit_pb2.ACCESS_RESULT_DENIED}
    assert denied == {NOT_SHARED: common.DENY_REASON_NOT_SHARED, POPULATION: common.DENY_REASON_NOT_GRANTED}

    # The provider sees accesses to its own resources (R-USE-4), not others'.
    mine = await audit.ListAccesses(audit_pb2.ListAccessesRequest(department_code=department, page_size=100),
                                    metadata=platform.metadata("market"), timeout=10)
    assert {a.resource_code for a in mine.accesses} == {ENTITIES}

    verified = await audit.VerifyAuditChain(audit_pb2.VerifyAuditChainRequest(),
                                            metadata=platform.metadata("authority"), timeout=30)
    assert verified.intact and verified.records_checked >= 4

    conn = await asyncpg.connect(platform.settings["query"].database_url)
    try:
        table = await conn.fetchval(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = 'query' "
            "AND column_name = 'prev_hash' LIMIT 1")
        column = "purpose_text" if await conn.fetchval(
            "SELECT 1 FROM information_schema.columns WHERE table_schema='query' AND table_name=$1 "
            "AND column_name='purpose_text'", table) else "key"
        await conn.execute(f"UPDATE query.{table} SET {column} = {column} || ' (altered)' WHERE id = "
                           f"(SELECT id FROM query.{table} ORDER BY id DESC LIMIT 1 OFFSET 1)")
    finally:
        await conn.close()
    broken = await audit.VerifyAuditChain(audit_pb2.VerifyAuditChainRequest(),
                                          metadata=platform.metadata("authority"), timeout=30)
    assert not broken.intact and broken.first_bad_id
    # Leave the chain as other tests expect it: repair the row.
    conn = await asyncpg.connect(platform.settings["query"].database_url)
    try:
        await conn.execute(f"UPDATE query.{table} SET {column} = replace({column}, ' (altered)', '')")
    finally:
        await conn.close()


def _get(url: str, user_agent: str) -> int:
    request = urllib.request.Request(url, headers={"user-agent": user_agent})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


async def test_the_edges_spans_name_a_method_and_no_path_a_caller_typed(platform) -> None:  # type: ignore[no-untyped-def]
    """Envoy tagged each of its spans with the URL as sent (http.url, and a gRPC call's path in grpc.path): a REST URL
    no rule maps (/v1/resources/<ID>/records), a path no method has (/govshare.query.v1.QueryService/<ID>) and a
    query string (a search's words: a phone number, a name) went whole to the trace collector, which the access
    log withholds. A span names the method a call was routed to, and "(not a method: withheld)" otherwise."""
    agent, number, phone = f"span-probe-{uuid.uuid4().hex}", "342322194911060454", "13812345678"
    base = f"http://{platform.edge.address}"
    search = "/govshare.catalog.v1.CatalogService/SearchEntries"
    for path in (f"/v1/resources/{number}/records", f"/govshare.query.v1.QueryService/{number}",
                 f"/v1/entries:search?query={phone}"):
        await asyncio.to_thread(_get, base + path, agent)

    def ours() -> list[dict[str, str]]:
        spans = [{a.key: a.value.string_value for a in span.attributes} for span in platform.edge_spans.spans]
        return [tags for tags in spans if tags.get("user_agent") == agent]

    for _ in range(200):  # Envoy exports its spans in batches
        if len(ours()) == 3:
            break
        await asyncio.sleep(0.1)
    spans = ours()
    assert len(spans) == 3, spans
    assert not [tags for tags in spans if number in str(tags) or phone in str(tags)], spans
    assert sorted(tags["http.url"] for tags in spans) == sorted([WITHHELD_PATH] * 2 + [search]), spans


async def test_one_trace_spans_the_edge_query_and_backends(platform, span_exporter: InMemorySpanExporter) -> None:  # type: ignore[no-untyped-def]
    person = (await _keys(platform, "population", 8))[7]  # a record no other test reads: not cached yet
    department = await _new_system(platform)  # a fresh system: no decision cached yet
    span_exporter.clear()
    forced = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"  # a client's sampled trace context
    await query_pb2_grpc.QueryServiceStub(platform.channel).Query(
        query_pb2.QueryRequest(resource_code=POPULATION, key=person.key, items=["citizen_id", "name"], purpose=WORK),
        metadata=(*platform.metadata(department), ("traceparent", forced)), timeout=10)
    spans = span_exporter.get_finished_spans()
    # The query server's span is the child of the edge's: Envoy started the trace, not the client.
    query = next(s for s in spans if s.name.endswith("QueryService/Query"))
    assert query.parent is not None and query.parent.is_remote
    assert query.context.trace_id != int(forced.split("-")[1], 16)
    names = [s.name for s in spans if s.context.trace_id == query.context.trace_id]
    assert any("AuthorizationService/Check" in n for n in names), names
    assert any("ProviderService/Lookup" in n for n in names), names
    # Envoy exports its span of the same trace, whose id is the query span's parent (bounded wait: it batches).
    trace_id, parent_id = query.context.trace_id.to_bytes(16, "big"), query.parent.span_id.to_bytes(8, "big")
    for _ in range(200):
        if any(s.trace_id == trace_id and s.span_id == parent_id for s in platform.edge_spans.spans):
            break
        await asyncio.sleep(0.1)
    assert any(s.trace_id == trace_id and s.span_id == parent_id for s in platform.edge_spans.spans)
