"""Issue 8 sweep: an attacker's view of the platform, through the gateway, with the demo's departments.

Each test is a hole found by trying: a department reading or doing what it is not entitled to, or bad
input that reached PostgreSQL and came back as INTERNAL. Every call goes client → gateway → service
over real sockets with real tokens, on real PostgreSQL and Redis (tests/integration/conftest.py).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import random
import uuid

import grpc
import pytest
from front_end import Describing, published_while_up, serving
from google.protobuf import field_mask_pb2, timestamp_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from govshare.authorization.v1 import (
    admin_log_pb2,
    admin_log_pb2_grpc,
    directory_pb2,
    directory_pb2_grpc,
    sharing_pb2,
    sharing_pb2_grpc,
)
from govshare.catalog.v1 import catalog_pb2 as cat
from govshare.catalog.v1 import catalog_pb2_grpc
from govshare.common.v1 import common_pb2 as common
from govshare.foundation.v1 import foundation_pb2, foundation_pb2_grpc
from govshare.query.v1 import audit_pb2, audit_pb2_grpc, dispute_pb2, dispute_pb2_grpc, query_pb2, query_pb2_grpc
from services.demo import POPULATION_ITEMS
from services.runtime.duties import ADMINISTRATOR, APPLICANT, APPROVER, AUDITOR, DATA_OFFICER, REVIEWER
from services.runtime.errors import details_of
from tests.integration.test_sharing_cycle import ENTITIES, NOT_SHARED, POPULATION, WORK, _keys

pytestmark = pytest.mark.integration


def _token(position: dict) -> str:
    """A page token as the platform encodes them (base64 JSON), with a position of the attacker's choice."""
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode()


async def _fails(call: object, code: grpc.StatusCode) -> tuple[str, list[str]]:
    """Awaits a call that must fail with ``code``; returns its ErrorInfo reason and the fields it names."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    assert caught.value.code() == code, caught.value.details()
    info, bad = details_of(caught.value)
    return (info.reason if info else ""), ([v.field for v in bad.field_violations] if bad else [])


# Tampered (time, id) page tokens: timestamps PostgreSQL cannot take, ids it cannot hold ------------------------

_TAMPERED_TIME_TOKENS = [
    # Valid ISO times whose UTC instant falls outside datetime's range (year 0 / year 10000).
    _token({"t": "0001-01-01T00:00:00+14:00", "i": str(uuid.uuid4())}),
    _token({"t": "9999-12-31T23:59:59-14:00", "i": str(uuid.uuid4())}),
]


@pytest.mark.parametrize("token", _TAMPERED_TIME_TOKENS, ids=["year-0", "year-10000"])
@pytest.mark.parametrize("system", ["civil", "authority"])
async def test_dispute_listing_refuses_tampered_page_tokens(platform, system: str, token: str) -> None:  # type: ignore[no-untyped-def]
    stub = dispute_pb2_grpc.DisputeServiceStub(platform.channel)
    call = stub.ListDisputes(dispute_pb2.ListDisputesRequest(page_token=token), metadata=platform.metadata(system),
                             timeout=10)
    assert await _fails(call, grpc.StatusCode.INVALID_ARGUMENT) == ("INVALID_ARGUMENT", ["page_token"])


@pytest.mark.parametrize("token", [
    *_TAMPERED_TIME_TOKENS,
    _token({"t": "2026-01-01T00:00:00+00:00", "i": "a\x00b"}),  # NUL: PostgreSQL text cannot hold it
    _token({"t": "2026-01-01T00:00:00+00:00", "i": "x" * 100_000}),
], ids=["year-0", "year-10000", "nul-id", "huge-id"])
@pytest.mark.parametrize("system", ["police", "authority"])
async def test_access_listing_refuses_tampered_page_tokens(platform, system: str, token: str) -> None:  # type: ignore[no-untyped-def]
    stub = audit_pb2_grpc.AuditServiceStub(platform.channel)
    call = stub.ListAccesses(audit_pb2.ListAccessesRequest(page_token=token), metadata=platform.metadata(system),
                             timeout=10)
    assert await _fails(call, grpc.StatusCode.INVALID_ARGUMENT) == ("INVALID_ARGUMENT", ["page_token"])


# Catalog: work in progress stays with its department and the authority --------------------------------------------


#: Where a department entry's 前置机 is, until _Catalog.publish gives it one that answers.
PLACEHOLDER = "127.0.0.1:9"


def _department_entry(platform, owner: str, **fields: object) -> cat.Entry:  # type: ignore[no-untyped-def]
    """A valid department resource of demo department ``owner``, served by its own 前置机, with a fresh code."""
    entry = cat.Entry(
        code=f"3{random.randrange(1, 100):02d}{random.randrange(1, 1000):03d}/{random.randrange(1, 10**6):06d}",
        name="执法案件办理信息", summary="案件编号、当事人与办理状态", category=cat.CATEGORY_DEPARTMENT,
        subject="行政执法", provider_department_code=platform.credentials.systems[owner]["department"],
        provider_name=platform.credentials.systems[owner]["name"], format_class=cat.FORMAT_CLASS_DATABASE,
        format_type="关系型数据库", items=POPULATION_ITEMS[:3], key_item="citizen_id",
        share_type=common.SHARE_TYPE_UNCONDITIONAL, share_methods=[common.SHARE_METHOD_ONLINE_QUERY],
        update_cycle=cat.UPDATE_CYCLE_DAILY, zone=common.ZONE_EXTRANET, secrecy=cat.SECRECY_NON_CLASSIFIED,
        endpoint=cat.ProviderEndpoint(target=PLACEHOLDER, dataset=f"{owner}_cases"))
    for name, value in fields.items():
        setattr(entry, name, value)
    return entry


class _Catalog:
    """CatalogService through the gateway, as the demo's systems call it."""

    def __init__(self, platform) -> None:  # type: ignore[no-untyped-def]
        self._platform = platform
        self._stub = catalog_pb2_grpc.CatalogServiceStub(platform.channel)

    def __call__(self, method: str, request: object, system: str):  # type: ignore[no-untyped-def]
        # A review is the authority's reviewer's decision (issue 12), not its system's; retiring a published
        # entry is a 编目员's.
        persons = {"ReviewEntry": REVIEWER, "RetireEntry": DATA_OFFICER}
        metadata = (self._platform.person(system, persons[method]) if method in persons
                    else self._platform.metadata(system))
        return getattr(self._stub, method)(request, metadata=metadata, timeout=10)

    async def publish(self, entry: cat.Entry, owner: str) -> cat.Entry:
        """Creates, submits and publishes ``entry``. One naming PLACEHOLDER gets a 前置机 that answers the catalog's
        check for its department while it is published (and is gone afterwards: these tests query none)."""
        if entry.endpoint.target != PLACEHOLDER:
            return await self._publish(entry, owner)

        async def at(target: str) -> cat.Entry:
            entry.endpoint.target = target
            return await self._publish(entry, owner)

        published, _ = await published_while_up(at, entry.provider_department_code,
                                                [item.machine_name for item in entry.items])
        return published

    async def _publish(self, entry: cat.Entry, owner: str) -> cat.Entry:
        await self("CreateEntry", cat.CreateEntryRequest(entry=entry), owner)
        await self("SubmitEntry", cat.SubmitEntryRequest(code=entry.code), owner)
        review = cat.ReviewEntryRequest(code=entry.code, decision=cat.REVIEW_DECISION_PUBLISH)
        return (await self("ReviewEntry", review, "authority")).entry


async def test_a_retired_entrys_unpublished_draft_stays_hidden_from_other_departments(platform) -> None:  # type: ignore[no-untyped-def]
    catalog = _Catalog(platform)
    published = await catalog.publish(_department_entry(platform, "police"), "police")
    # The police draft a revision nobody has reviewed, then retire the entry: the draft is closed with it.
    secret = "未经审核的修订稿甲乙"
    draft = cat.UpdateEntryRequest(entry=cat.Entry(code=published.code, name=secret),
                                   update_mask=field_mask_pb2.FieldMask(paths=["name"]))
    assert (await catalog("UpdateEntry", draft, "police")).entry.version == 2
    await catalog("RetireEntry", cat.RetireEntryRequest(code=published.code, reason="职能调整"), "police")

    # Another department reads the retired entry as published (R-CAT-3), never the draft that was never published.
    assert (await catalog("GetEntry", cat.GetEntryRequest(code=published.code), "civil")).entry.version == 1
    await _fails(catalog("GetEntry", cat.GetEntryRequest(code=published.code, version=2), "civil"),
                 grpc.StatusCode.NOT_FOUND)
    versions = await catalog("ListEntryVersions", cat.ListEntryVersionsRequest(code=published.code), "civil")
    assert [(v.version, v.state) for v in versions.versions] == [(1, cat.ENTRY_STATE_RETIRED)]
    retired = cat.EntryFilter(state=cat.ENTRY_STATE_RETIRED,
                              provider_department_code=published.provider_department_code)
    listed = await catalog("ListEntries", cat.ListEntriesRequest(filter=retired, page_size=1000), "civil")
    assert [(e.code, e.version) for e in listed.entries if e.code == published.code] == [(published.code, 1)]
    found = await catalog("SearchEntries", cat.SearchEntriesRequest(query=secret, filter=retired), "civil")
    assert not found.entries
    # Its own department and the authority still see both versions.
    for system in ("police", "authority"):
        versions = await catalog("ListEntryVersions", cat.ListEntryVersionsRequest(code=published.code), system)
        assert [v.version for v in versions.versions] == [1, 2]


async def test_project_status_names_other_departments_unpublished_entries_only_to_the_authority(platform) -> None:  # type: ignore[no-untyped-def]
    catalog = _Catalog(platform)
    project = f"XM-SWEEP-{uuid.uuid4().hex[:12]}"
    published = await catalog.publish(_department_entry(platform, "police", project_code=project), "police")
    draft = _department_entry(platform, "police", project_code=project)
    await catalog("CreateEntry", cat.CreateEntryRequest(entry=draft), "police")
    own = _department_entry(platform, "civil", project_code=project)
    await catalog("CreateEntry", cat.CreateEntryRequest(entry=own), "civil")

    def status(system: str):  # type: ignore[no-untyped-def]
        return catalog("GetProjectStatus", cat.GetProjectStatusRequest(project_code=project), system)

    # The project's completeness is what the RPC answers, for everyone: three entries, one published.
    for system in ("police", "civil", "social", "authority"):
        answer = await status(system)
        assert (answer.entry_count, answer.published_count, answer.all_published) == (3, 1, False), system
    # But a draft's code (like the draft itself) is shown to its department and the authority only.
    assert sorted((await status("authority")).unpublished_codes) == sorted([draft.code, own.code])
    assert list((await status("police")).unpublished_codes) == [draft.code]
    assert list((await status("civil")).unpublished_codes) == [own.code]
    assert not (await status("social")).unpublished_codes
    await _fails(catalog("GetEntry", cat.GetEntryRequest(code=draft.code), "social"), grpc.StatusCode.NOT_FOUND)
    assert published.state == cat.ENTRY_STATE_PUBLISHED


# Catalog endpoints: a department serving another department's data under its own terms -----------------------------
#
# Query once cached records by dataset name (rec:<dataset>:<key>), whatever endpoint an entry named: an entry of 民政
# with its own 前置机 and dataset "population" answered from the population cache (公安's conditional records,
# audited as 民政's), so the catalog refused any second endpoint on a dataset name. The cache now names the endpoint
# (services/runtime/cache.py): such an entry reads its own 前置机 and is published; what stays refused is reading
# another department's 前置机, or the foundation's dataset through the foundation's address spelled out.


def _population_lookalike(platform, owner: str, target: str, dataset: str = "population") -> cat.Entry:  # type: ignore[no-untyped-def]
    entry = _department_entry(platform, owner, name="低保对象人口信息")
    entry.ClearField("items")
    entry.items.extend(cat.DataItem(name=i.name, machine_name=i.machine_name, data_type=i.data_type,
                                    length=i.length, identifier=i.identifier) for i in POPULATION_ITEMS)
    entry.endpoint.CopyFrom(cat.ProviderEndpoint(target=target, dataset=dataset))
    return entry


async def test_a_department_cannot_submit_an_entry_reading_another_providers_dataset(platform) -> None:  # type: ignore[no-untyped-def]
    catalog = _Catalog(platform)
    target = platform.port("foundation")  # the foundation's population, past the authority's review of its sources
    entry = _population_lookalike(platform, "civil", target)
    await catalog("CreateEntry", cat.CreateEntryRequest(entry=entry), "civil")
    reason, _ = await _fails(catalog("SubmitEntry", cat.SubmitEntryRequest(code=entry.code), "civil"),
                             grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "ENDPOINT_IN_USE"
    # Nor does the authority make one: it can act for any department, but only the department itself names where
    # its data is read from.
    authority_entry = _population_lookalike(platform, "civil", target)
    reason, _ = await _fails(catalog("CreateEntry", cat.CreateEntryRequest(entry=authority_entry), "authority"),
                             grpc.StatusCode.PERMISSION_DENIED)
    assert reason == "NOT_ENDPOINT_OWNER"


async def test_a_department_names_its_own_frontprocs_dataset_as_another_provider_names_theirs(platform) -> None:  # type: ignore[no-untyped-def]
    """民政's own 前置机 serving a dataset called population was refused ENDPOINT_IN_USE (the foundation's entry reads
    population): a rule that only stood in for the record cache's keying by dataset name. It reads its own 前置机."""
    published = await _Catalog(platform).publish(_population_lookalike(platform, "civil", PLACEHOLDER), "civil")
    assert published.state == cat.ENTRY_STATE_PUBLISHED


async def test_review_refuses_an_endpoint_another_provider_published_meanwhile(platform) -> None:  # type: ignore[no-untyped-def]
    catalog = _Catalog(platform)
    dataset = f"sweep_{uuid.uuid4().hex[:10]}"
    social = platform.credentials.systems["social"]["department"]
    items = [item.machine_name for item in POPULATION_ITEMS]
    async with serving(Describing(social, items)) as first, serving(Describing(social, items)) as second:
        await _endpoint_taken_meanwhile(platform, catalog, dataset, first, second)


async def _endpoint_taken_meanwhile(platform, catalog: _Catalog, dataset: str, first: str, second: str) -> None:  # type: ignore[no-untyped-def]
    """``first`` and ``second``: two 前置机 of the social department, answering the catalog's check."""
    late = _population_lookalike(platform, "civil", first, dataset)
    await catalog("CreateEntry", cat.CreateEntryRequest(entry=late), "civil")
    await catalog("SubmitEntry", cat.SubmitEntryRequest(code=late.code), "civil")
    await catalog.publish(_population_lookalike(platform, "social", first, dataset), "social")
    review = cat.ReviewEntryRequest(code=late.code, decision=cat.REVIEW_DECISION_PUBLISH)
    reason, _ = await _fails(catalog("ReviewEntry", review, "authority"), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "ENDPOINT_IN_USE"
    # The same provider may serve several resources from its endpoint (e.g. a theme view of its own data), and
    # move them to a new address one by one.
    sibling = await catalog.publish(_population_lookalike(platform, "social", first, dataset), "social")
    assert sibling.state == cat.ENTRY_STATE_PUBLISHED
    moved = await catalog.publish(_population_lookalike(platform, "social", second, dataset), "social")
    assert moved.state == cat.ENTRY_STATE_PUBLISHED
    # Another department may not read social's 前置机 dataset even through the very same target.
    borrowed = _population_lookalike(platform, "civil", first, dataset)
    await catalog("CreateEntry", cat.CreateEntryRequest(entry=borrowed), "civil")
    reason, _ = await _fails(catalog("SubmitEntry", cat.SubmitEntryRequest(code=borrowed.code), "civil"),
                             grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "ENDPOINT_IN_USE"


async def test_a_providers_endpoint_is_shown_to_it_and_the_authority_only(platform) -> None:  # type: ignore[no-untyped-def]
    """The address of a department's 前置机 and its dataset are the platform's business, not other departments'."""
    catalog = _Catalog(platform)
    published = await catalog.publish(_department_entry(platform, "police", name="治安管理处罚信息"), "police")
    endpoint = published.endpoint
    assert endpoint.target and endpoint.dataset
    for system in ("police", "authority"):
        assert (await catalog("GetEntry", cat.GetEntryRequest(code=published.code), system)).entry.endpoint == endpoint
    code = published.code
    mine = cat.EntryFilter(provider_department_code=published.provider_department_code)
    reads = {
        "GetEntry": lambda: catalog("GetEntry", cat.GetEntryRequest(code=code), "civil"),
        "ListEntryVersions": lambda: catalog("ListEntryVersions", cat.ListEntryVersionsRequest(code=code), "civil"),
        "ListEntries": lambda: catalog("ListEntries", cat.ListEntriesRequest(filter=mine, page_size=1000), "civil"),
        "SearchEntries": lambda: catalog("SearchEntries", cat.SearchEntriesRequest(query="治安管理处罚", filter=mine),
                                         "civil"),
    }
    for name, read in reads.items():
        answer = await read()
        entries = [answer.entry] if name == "GetEntry" else list(getattr(answer, "versions", None) or answer.entries)
        shown = [e for e in entries if e.code == code]
        assert shown, name
        assert all(not e.HasField("endpoint") for e in shown), (name, [e.endpoint for e in shown])
        assert all(e.name == "治安管理处罚信息" for e in shown), name  # the rest of the entry is there


# Disputes: reported by the resource's users, not by anyone who names a record ---------------------------------------


def _report(platform, system: str, resource: str, key: str, item: str):  # type: ignore[no-untyped-def]
    stub = dispute_pb2_grpc.DisputeServiceStub(platform.channel)
    return stub.ReportDispute(dispute_pb2.ReportDisputeRequest(dispute=dispute_pb2.Dispute(
        resource_code=resource, key=key, item=item, claimed_value="王小明", evidence="户口簿")),
        metadata=platform.metadata(system), timeout=10)


async def test_only_a_department_that_may_read_an_item_disputes_it(platform) -> None:  # type: ignore[no-untyped-def]
    """A department with no right to a record could open a dispute on it: the record was flagged as disputed
    to everyone who queried it, and the provider, taking the reporter for a user, answered about the record
    (the answer is the reporter's to read)."""
    person = (await _keys(platform, "population", 5))[-1]  # one the other tests do not query
    # 户籍地址 of 人口基本信息 is conditional: social has no grant for it; 在侦案件 is not shared at all.
    reason, _ = await _fails(_report(platform, "social", POPULATION, person.key, "address"),
                             grpc.StatusCode.PERMISSION_DENIED)
    assert reason == "NOT_A_USER"
    reason, _ = await _fails(_report(platform, "social", NOT_SHARED, person.key, "name"),
                             grpc.StatusCode.PERMISSION_DENIED)
    assert reason == "NOT_A_USER"
    query = query_pb2_grpc.QueryServiceStub(platform.channel)
    answer = await query.Query(query_pb2.QueryRequest(resource_code=POPULATION, key=person.key, items=["name"],
                                                      purpose=WORK), metadata=platform.metadata("market"), timeout=10)
    assert not answer.provenance.disputed
    # 姓名 is a basic item, shared unconditionally (R-SHR-4): any department that reads it may dispute it.
    reported = (await _report(platform, "social", POPULATION, person.key, "name")).dispute
    assert reported.state == dispute_pb2.DISPUTE_STATE_OPEN


async def test_a_drafts_code_is_unknown_to_query_applications_and_disputes(platform) -> None:  # type: ignore[no-untyped-def]
    """The catalog hides another department's draft (NOT_FOUND), but the services that read it as the platform
    answered NOT_PUBLISHED for its code: any department could tell a draft's code from an unknown one."""
    catalog = _Catalog(platform)
    draft = _department_entry(platform, "civil", share_type=common.SHARE_TYPE_CONDITIONAL, share_condition="须审核")
    await catalog("CreateEntry", cat.CreateEntryRequest(entry=draft), "civil")
    unknown = _department_entry(platform, "civil").code
    query = query_pb2_grpc.QueryServiceStub(platform.channel)
    sharing = sharing_pb2_grpc.SharingServiceStub(platform.channel)
    expire = timestamp_pb2.Timestamp()
    expire.FromDatetime(dt.datetime.now(dt.UTC) + dt.timedelta(days=30))
    key = "11010519491231002X"

    def calls(code: str) -> dict[str, object]:
        md = platform.metadata("social")
        return {
            "Query": query.Query(query_pb2.QueryRequest(resource_code=code, key=key, items=["name"], purpose=WORK),
                                 metadata=md, timeout=10),
            "SubmitApplication": sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(
                application=sharing_pb2.Application(
                    resource_code=code, items=["name"], purposes=[common.PURPOSE_TYPE_WORK_REFERENCE], basis="职责",
                    requested_expire_time=expire, methods=[common.SHARE_METHOD_ONLINE_QUERY])),
                metadata=md, timeout=10),
            "ReportDispute": _report(platform, "social", code, key, "name"),
        }

    for name, call in calls(unknown).items():
        assert await _fails(call, grpc.StatusCode.NOT_FOUND), name
    for name, call in calls(draft.code).items():
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call  # type: ignore[misc]
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND, (name, caught.value.details())


async def test_a_department_granted_a_not_shared_resource_by_coordination_disputes_it(platform) -> None:  # type: ignore[no-untyped-def]
    """A not-shared entry may list no share method (its coordination grant says which): its grantee is a user."""
    catalog = _Catalog(platform)
    entry = _department_entry(platform, "police", share_type=common.SHARE_TYPE_NOT_SHARED,
                              legal_basis="《中华人民共和国治安管理处罚法》")
    entry.ClearField("share_methods")
    published = await catalog.publish(entry, "police")
    key = "11010519491231002X"
    reason, _ = await _fails(_report(platform, "social", published.code, key, "name"),
                             grpc.StatusCode.PERMISSION_DENIED)
    assert reason == "NOT_A_USER"

    sharing = sharing_pb2_grpc.SharingServiceStub(platform.channel)
    expire = timestamp_pb2.Timestamp()
    expire.FromDatetime(dt.datetime.now(dt.UTC) + dt.timedelta(days=30))
    application = (await sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(
        application=sharing_pb2.Application(
            resource_code=published.code, items=["name"], purposes=[common.PURPOSE_TYPE_ADMINISTRATIVE_BASIS],
            basis="联合执法", requested_expire_time=expire, methods=[common.SHARE_METHOD_ONLINE_QUERY])),
        metadata=platform.metadata("social"), timeout=10)).application
    assert application.state == sharing_pb2.APPLICATION_STATE_ESCALATED
    await sharing.RecordCoordinationDecision(sharing_pb2.RecordCoordinationDecisionRequest(
        id=application.id, grant=True, reason="市政府协调同意"), metadata=platform.person("authority", REVIEWER),
        timeout=10)
    for _ in range(100):  # the grant event reaches query's decision cache asynchronously
        try:
            reported = (await _report(platform, "social", published.code, key, "name")).dispute
            break
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.PERMISSION_DENIED, error.details()
            await asyncio.sleep(0.05)
    else:
        raise AssertionError("the coordinated grantee may not dispute the resource")
    assert reported.provider_department_code == published.provider_department_code


# Every listing, with page tokens shaped like the platform's own but holding what an attacker chose ---------------

_JSON_SCALARS = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False)
                 | st.text(max_size=40) | st.sampled_from(["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
                                                          "2026-01-01T00:00:00", "a\x00b", "101001/000001"]))
_POSITIONS = st.dictionaries(st.sampled_from(["k", "f", "t", "i", "after"]),
                             _JSON_SCALARS | st.lists(_JSON_SCALARS, max_size=4), max_size=5)
_LISTINGS = {
    "ListEntries": (catalog_pb2_grpc.CatalogServiceStub, cat.ListEntriesRequest),
    "SearchEntries": (catalog_pb2_grpc.CatalogServiceStub, lambda **kw: cat.SearchEntriesRequest(query="人口", **kw)),
    "ListDepartments": (directory_pb2_grpc.DirectoryServiceStub, directory_pb2.ListDepartmentsRequest),
    "ListSystems": (directory_pb2_grpc.DirectoryServiceStub, directory_pb2.ListSystemsRequest),
    "ListApplications": (sharing_pb2_grpc.SharingServiceStub, sharing_pb2.ListApplicationsRequest),
    "ListGrants": (sharing_pb2_grpc.SharingServiceStub, sharing_pb2.ListGrantsRequest),
    "ListDisputes": (dispute_pb2_grpc.DisputeServiceStub, dispute_pb2.ListDisputesRequest),
    "ListAccesses": (audit_pb2_grpc.AuditServiceStub, audit_pb2.ListAccessesRequest),
    "ExportAuditCheckpoints": (audit_pb2_grpc.AuditServiceStub, audit_pb2.ExportAuditCheckpointsRequest),
    "ListConflicts": (foundation_pb2_grpc.FoundationAdminServiceStub, foundation_pb2.ListConflictsRequest),
}


@pytest.mark.parametrize("method", sorted(_LISTINGS))
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(position=_POSITIONS, system=st.sampled_from(["civil", "authority"]))
async def test_tampered_page_tokens_never_fail_internally(platform, method: str, position: dict,  # type: ignore[no-untyped-def]
                                                          system: str) -> None:
    stub_type, request_type = _LISTINGS[method]
    call = getattr(stub_type(platform.channel), method)
    try:
        await call(request_type(page_token=_token(position)), metadata=platform.metadata(system), timeout=10)
    except grpc.aio.AioRpcError as error:
        assert error.code() not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN), (position, error.details())


_SOURCES = {
    "ListDepartments": (directory_pb2_grpc.DirectoryServiceStub, directory_pb2.ListDepartmentsRequest),
    "ListAdminEvents": (admin_log_pb2_grpc.AdminLogServiceStub, admin_log_pb2.ListAdminEventsRequest),
}


@pytest.mark.parametrize("source", sorted(_SOURCES))
async def test_a_page_token_of_another_listing_is_refused_naming_it(platform, source: str) -> None:  # type: ignore[no-untyped-def]
    """A listing took another listing's token as its own: ListSystems resumed after the department code that
    ListDepartments' token held, ListAccesses after the time and sequence of an administrative event, and
    answered a page (skipping rows) instead of saying the token was not its."""
    md = platform.metadata("authority")
    stub_type, request_type = _SOURCES[source]
    page = await getattr(stub_type(platform.channel), source)(request_type(page_size=1), metadata=md, timeout=10)
    assert page.next_page_token
    for method, (target_stub, target_request) in sorted(_LISTINGS.items()):
        if method == source:
            continue
        call = getattr(target_stub(platform.channel), method)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(target_request(page_token=page.next_page_token), metadata=md, timeout=10)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (method, caught.value.details())
        _, bad = details_of(caught.value)
        assert [v.field for v in bad.field_violations] == ["page_token"], method
        assert f"is a page token of {stub_type.__name__.removesuffix('Stub')}/{source}" in caught.value.details()
    # The listing's own token still resumes it.
    await getattr(stub_type(platform.channel), source)(request_type(page_size=1, page_token=page.next_page_token),
                                                       metadata=md, timeout=10)


# Every read RPC with every field drawn from what breaks databases: NUL, huge text, extreme numbers, unknown enums --

_NASTY_TEXT = (st.text(max_size=30) | st.sampled_from(["a\x00b", "x" * 100_000, "101001/000001", "11010519491231002X",
                                                        "population", "sys-" + "0" * 16, str(uuid.uuid4())]))
_NASTY_INT = st.integers(-(2**31), 2**31 - 1) | st.sampled_from([-1, 0, 2**31 - 1, -(2**31)])
_NASTY_INT64 = st.integers(-(2**63), 2**63 - 1)


def _message(descriptor, depth: int = 0) -> st.SearchStrategy:  # type: ignore[no-untyped-def]
    """Messages of ``descriptor`` whose every field may be set to an awkward value."""
    from google.protobuf import message_factory
    from google.protobuf.descriptor import FieldDescriptor as F

    cls = message_factory.GetMessageClass(descriptor)
    fields: dict[str, st.SearchStrategy] = {}
    for field in descriptor.fields:
        if field.type == F.TYPE_STRING:
            value = _NASTY_TEXT
        elif field.type in (F.TYPE_INT32, F.TYPE_SINT32, F.TYPE_ENUM):
            value = _NASTY_INT
        elif field.type in (F.TYPE_INT64, F.TYPE_SINT64):
            value = _NASTY_INT64
        elif field.type == F.TYPE_BOOL:
            value = st.booleans()
        elif field.type == F.TYPE_MESSAGE and field.message_type.full_name == "google.protobuf.Timestamp":
            value = st.builds(timestamp_pb2.Timestamp, seconds=st.integers(-(2**40), 2**40),
                              nanos=st.integers(-5, 2 * 10**9))
        elif field.type == F.TYPE_MESSAGE and depth < 2 and not field.message_type.GetOptions().map_entry:
            value = _message(field.message_type, depth + 1)
        else:
            continue
        if field.is_repeated:
            value = st.lists(value, max_size=3)
        fields[field.name] = value
    return st.fixed_dictionaries({}, optional=fields).map(lambda kw: cls(**kw))


_READS = {
    "govshare.catalog.v1.CatalogService": ("GetEntry", "ListEntries", "SearchEntries", "ListEntryVersions",
                                           "GetProjectStatus", "ListOverdueUpdates"),
    "govshare.authorization.v1.DirectoryService": ("GetDepartment", "ListDepartments", "GetSystem", "ListSystems"),
    "govshare.authorization.v1.SharingService": ("GetApplication", "ListApplications", "GetGrant", "ListGrants"),
    "govshare.query.v1.DisputeService": ("GetDispute", "ListDisputes"),
    "govshare.query.v1.AuditService": ("ListAccesses", "GetUsageSummary", "VerifyAuditChain",
                                       "ExportAuditCheckpoints"),
    "govshare.foundation.v1.FoundationAdminService": ("ListConflicts", "GetRecordHistory", "ListDatasets",
                                                      "ListSources"),
}


@pytest.mark.parametrize("path", [f"/{service}/{name}" for service, names in _READS.items() for name in names])
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), system=st.sampled_from(["civil", "police", "authority"]))
async def test_read_rpcs_with_awkward_fields_never_fail_internally(platform, path: str, data: st.DataObject,  # type: ignore[no-untyped-def]
                                                                   system: str) -> None:
    from google.protobuf import descriptor_pool

    service, name = path[1:].split("/")
    method = descriptor_pool.Default().FindServiceByName(service).FindMethodByName(name)
    request = data.draw(_message(method.input_type))
    call = platform.channel.unary_unary(path, request_serializer=lambda m: m.SerializeToString(),
                                        response_deserializer=lambda b: b)
    try:
        await call(request, metadata=platform.metadata(system), timeout=10)
    except grpc.aio.AioRpcError as error:
        assert error.code() not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN), (request, error.details())


async def _refused_to_person(platform, call, person_id: str, provider: str, resource: str) -> None:  # type: ignore[no-untyped-def]
    """``call`` is refused PERMISSION_DENIED SYSTEM_REQUIRED and its attempt is in the audit, naming the person."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        result = call()
        if hasattr(result, "__aiter__"):
            async for _ in result:
                pass
        else:
            await result
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED, caught.value.details()
    info, _ = details_of(caught.value)
    assert info is not None and info.reason == "SYSTEM_REQUIRED", caught.value.details()
    assert "business system" in caught.value.details()
    audit_id = info.metadata["audit_id"]
    listed = await audit_pb2_grpc.AuditServiceStub(platform.channel).ListAccesses(
        audit_pb2.ListAccessesRequest(resource_code=resource, page_size=50), metadata=platform.metadata(provider),
        timeout=10)
    record = next(a for a in listed.accesses if a.id == audit_id)
    assert record.system_id == person_id
    assert record.result == audit_pb2.ACCESS_RESULT_DENIED
    assert record.deny_reason == common.DENY_REASON_SYSTEM_REQUIRED


@pytest.mark.parametrize(("department", "role", "resource", "provider"), [
    ("police", APPLICANT, POPULATION, "police"),  # a 申请人 reading their own department's foundation records
    ("authority", ADMINISTRATOR, ENTITIES, "market"),  # the 管理员, who holds no deciding role
    ("authority", AUDITOR, POPULATION, "police"),  # the 审计员, who reads the audit, not citizens' records
])
async def test_a_persons_session_reads_no_records(platform, department: str, role: str, resource: str,  # type: ignore[no-untyped-def]
                                                  provider: str) -> None:
    """Query, BatchQuery, Verify and Export are a department's business systems' calls (DOMAIN §1): a person's
    console session token was answered like one, so any signed-in person (the authority's 管理员 and 审计员
    included) read citizens' records, masked or not as the department's grants said, outside every business
    system's controls. Each is refused SYSTEM_REQUIRED, the attempt audited with the person's id."""
    metadata = platform.person(department, role)
    person_id = json.loads(base64.urlsafe_b64decode(metadata[0][1].split(".")[1] + "==="))["sub"]
    key = (await _keys(platform, "population" if resource == POPULATION else "legal_entity", 1))[0].key
    query = query_pb2_grpc.QueryServiceStub(platform.channel)
    calls = [
        lambda: query.Query(query_pb2.QueryRequest(resource_code=resource, key=key, purpose=WORK),
                            metadata=metadata, timeout=10),
        lambda: query.BatchQuery(query_pb2.BatchQueryRequest(resource_code=resource, keys=[key], purpose=WORK),
                                 metadata=metadata, timeout=10),
        lambda: query.Verify(query_pb2.VerifyRequest(resource_code=resource, key=key, claims={"name": "王小明"},
                                                     purpose=WORK), metadata=metadata, timeout=10),
    ]
    if resource == ENTITIES:  # offered for batch download
        calls.append(lambda: query.Export(query_pb2.ExportRequest(resource_code=resource, purpose=WORK),
                                          metadata=metadata, timeout=10))
    for call in calls:
        await _refused_to_person(platform, call, person_id, provider, resource)


async def test_only_the_providers_data_officer_says_its_records_changed(platform) -> None:  # type: ignore[no-untyped-def]
    """NotifyRecordsChanged drops the named records (all_records: the whole dataset) from every replica's cache:
    it checked the department only, so any person of the provider (its 申请人, its 审批人) emptied the cache of
    its resources at will. Of the provider's persons, its 编目员 (who loads the data) sends it; systems (the
    前置机's) as before."""
    query = query_pb2_grpc.QueryServiceStub(platform.channel)
    key = (await _keys(platform, "population", 1))[0].key
    request = query_pb2.NotifyRecordsChangedRequest(resource_code=POPULATION, keys=[key])
    for role in (APPLICANT, APPROVER):
        reason, _ = await _fails(query.NotifyRecordsChanged(request, metadata=platform.person("police", role),
                                                            timeout=10), grpc.StatusCode.PERMISSION_DENIED)
        assert reason == "ROLE_REQUIRED"
    for metadata in (platform.person("police", DATA_OFFICER), platform.metadata("police")):
        answer = await query.NotifyRecordsChanged(request, metadata=metadata, timeout=10)
        assert answer.keys_dropped == 1
