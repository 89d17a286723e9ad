"""ReportMandateChange names a department the directory holds in service: a code with a right check digit that is
no department, or a department retired (机构改革), gets no catalogue update due (R-CAT-3), on the platform as
deployed (the catalog asks the authorization service's directory)."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from types import SimpleNamespace

import grpc
import pytest
from google.protobuf import timestamp_pb2
from stdnum.cn import uscc

from govshare.authorization.v1 import directory_pb2, directory_pb2_grpc
from govshare.catalog.v1 import catalog_pb2 as cat
from govshare.catalog.v1 import catalog_pb2_grpc
from govshare.common.v1 import common_pb2 as common
from services.demo import POPULATION_ITEMS, _entry
from services.runtime.duties import REVIEWER
from services.runtime.errors import details_of

_CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def _credit_code() -> str:
    """A well-formed 统一社会信用代码 (its check digit right) that no test registers unless it says so."""
    body = "11110000" + "".join(random.choice(_CREDIT_CHARS) for _ in range(9))
    return body + uscc.calc_check_digit(body)


async def _refused(call: object, code: grpc.StatusCode) -> tuple[str, str, dict[str, str]]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    assert caught.value.code() == code, caught.value.details()
    info, _ = details_of(caught.value)
    return (info.reason if info else ""), caught.value.details(), dict(info.metadata) if info else {}


async def _department_to_retire(platform) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """A new department (its code) and the demo department it is to be merged into."""
    gone, successor = _credit_code(), platform.credentials.systems["civil"]["department"]
    await directory_pb2_grpc.DirectoryServiceStub(platform.channel).CreateDepartment(
        directory_pb2.CreateDepartmentRequest(department=directory_pb2.Department(
            code=gone, name=f"撤并局{gone[-5:]}", level=directory_pb2.ADMINISTRATIVE_LEVEL_MUNICIPAL,
            region_code="110100")), metadata=platform.metadata("authority"), timeout=10)
    return gone, successor


def _entry_of(department: str) -> cat.Entry:
    """A department resource's draft, of a fresh code, provided by ``department``."""
    code = f"301{random.randrange(100, 1000)}/{random.randrange(1, 10**6):06d}"
    return _entry(code, "撤并局业务信息", "撤并局的业务办理信息。", cat.CATEGORY_DEPARTMENT, "社区治理",
                  SimpleNamespace(code=department, name="撤并局"), POPULATION_ITEMS, f"gone_{code[-6:]}",
                  common.SHARE_TYPE_UNCONDITIONAL, [common.SHARE_METHOD_ONLINE_QUERY])


async def test_a_mandate_change_of_no_department_or_a_retired_one_is_refused(platform) -> None:  # type: ignore[no-untyped-def]
    catalog = catalog_pb2_grpc.CatalogServiceStub(platform.channel)
    directory = directory_pb2_grpc.DirectoryServiceStub(platform.channel)
    authority = platform.metadata("authority")

    def report(code: str) -> object:
        return catalog.ReportMandateChange(cat.ReportMandateChangeRequest(department_code=code,
                                                                          description="机构改革职能调整"),
                                           metadata=authority, timeout=10)

    nobody = _credit_code()
    reason, message, _ = await _refused(report(nobody), grpc.StatusCode.NOT_FOUND)
    assert reason == "NOT_FOUND" and nobody in message

    gone, successor = _credit_code(), platform.credentials.systems["civil"]["department"]
    await directory.CreateDepartment(directory_pb2.CreateDepartmentRequest(department=directory_pb2.Department(
        code=gone, name=f"撤并局{gone[-5:]}", level=directory_pb2.ADMINISTRATIVE_LEVEL_MUNICIPAL,
        region_code="110100")), metadata=authority, timeout=10)
    await report(gone)  # in service: its update falls due
    await directory.RetireDepartment(directory_pb2.RetireDepartmentRequest(code=gone, merged_into=successor),
                                     metadata=authority, timeout=10)
    reason, message, metadata = await _refused(report(gone), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "DEPARTMENT_RETIRED" and f"department {gone} was retired on " in message
    assert (metadata["department_code"], metadata["merged_into"]) == (gone, successor)

    overdue = await catalog.ListOverdueUpdates(cat.ListOverdueUpdatesRequest(page_size=1000), metadata=authority,
                                               timeout=10)
    assert nobody not in {update.department_code for update in overdue.updates}


async def test_a_retired_departments_overdue_update_leaves_the_overdue_list(platform) -> None:  # type: ignore[no-untyped-def]
    """A department retired with its catalogue update overdue (it had no entry to retire, which would have been its
    catalogue work) stayed at the top of ListOverdueUpdates for ever, though nobody could do the update any more:
    once retired, it is no longer listed (its duties' update is the successor's, reported as a change of its own)."""
    catalog = catalog_pb2_grpc.CatalogServiceStub(platform.channel)
    directory = directory_pb2_grpc.DirectoryServiceStub(platform.channel)
    authority = platform.metadata("authority")
    gone = _credit_code()
    await directory.CreateDepartment(directory_pb2.CreateDepartmentRequest(department=directory_pb2.Department(
        code=gone, name=f"撤并局{gone[-5:]}", level=directory_pb2.ADMINISTRATIVE_LEVEL_MUNICIPAL,
        region_code="110100")), metadata=authority, timeout=10)
    changed = timestamp_pb2.Timestamp()
    changed.FromDatetime(dt.datetime.now(dt.UTC) - dt.timedelta(days=60))  # 15 working days are long past
    await catalog.ReportMandateChange(cat.ReportMandateChangeRequest(department_code=gone, description="职能划转",
                                                                     change_time=changed),
                                      metadata=authority, timeout=10)

    async def overdue() -> set[str]:
        codes: set[str] = set()
        token = ""
        while True:
            page = await catalog.ListOverdueUpdates(cat.ListOverdueUpdatesRequest(page_size=1000, page_token=token),
                                                    metadata=authority, timeout=10)
            codes.update(update.department_code for update in page.updates)
            if not (token := page.next_page_token):
                return codes

    assert gone in await overdue()
    await directory.RetireDepartment(directory_pb2.RetireDepartmentRequest(
        code=gone, merged_into=platform.credentials.systems["civil"]["department"]), metadata=authority, timeout=10)
    assert gone not in await overdue()


async def test_no_entry_is_drafted_or_submitted_for_a_retired_department(platform) -> None:  # type: ignore[no-untyped-def]
    """The authority catalogues for departments (a bulk cataloguing system acts for them): it drafted and submitted an
    entry of a department retired in a 机构改革, which its reviewer could then publish, a resource nobody answers for
    (applications for it refused DEPARTMENT_RETIRED). A draft, and a submission of a draft left from before the
    retirement (drafts do not block it), are FAILED_PRECONDITION DEPARTMENT_RETIRED, naming the department."""
    catalog = catalog_pb2_grpc.CatalogServiceStub(platform.channel)
    directory = directory_pb2_grpc.DirectoryServiceStub(platform.channel)
    authority = platform.metadata("authority")
    gone, successor = await _department_to_retire(platform)
    left = (await catalog.CreateEntry(cat.CreateEntryRequest(entry=_entry_of(gone)), metadata=authority,
                                      timeout=10)).entry
    await directory.RetireDepartment(directory_pb2.RetireDepartmentRequest(code=gone, merged_into=successor),
                                     metadata=authority, timeout=10)
    for call in (catalog.SubmitEntry(cat.SubmitEntryRequest(code=left.code), metadata=authority, timeout=10),
                 catalog.CreateEntry(cat.CreateEntryRequest(entry=_entry_of(gone)), metadata=authority, timeout=10)):
        reason, message, metadata = await _refused(call, grpc.StatusCode.FAILED_PRECONDITION)
        assert reason == "DEPARTMENT_RETIRED" and f"department {gone} was retired on " in message, message
        assert metadata["merged_into"] == successor
    kept = await catalog.GetEntry(cat.GetEntryRequest(code=left.code), metadata=authority, timeout=10)
    assert kept.entry.state == cat.ENTRY_STATE_DRAFT


async def test_an_entry_submitted_while_the_directory_was_down_is_not_published_for_a_retired_department(
        platform) -> None:  # type: ignore[no-untyped-def]
    """Drafting and submitting go on while the authorization service's directory does not answer (cataloguing keeps
    working with authorization down, as its log's outbox does), so a draft of a retired department can be submitted
    then; its publication, which makes the resource real, asks the directory always and is refused
    DEPARTMENT_RETIRED (UNAVAILABLE while the directory does not answer)."""
    catalog = catalog_pb2_grpc.CatalogServiceStub(platform.channel)
    directory = directory_pb2_grpc.DirectoryServiceStub(platform.channel)
    authority = platform.metadata("authority")
    gone, successor = await _department_to_retire(platform)
    draft = _entry_of(gone)
    code = draft.code
    await catalog.CreateEntry(cat.CreateEntryRequest(entry=draft), metadata=authority, timeout=10)
    await directory.RetireDepartment(directory_pb2.RetireDepartmentRequest(code=gone, merged_into=successor),
                                     metadata=authority, timeout=10)
    publish = cat.ReviewEntryRequest(code=code, decision=cat.REVIEW_DECISION_PUBLISH)
    async with platform.authorization_down():
        submitted = await catalog.SubmitEntry(cat.SubmitEntryRequest(code=code), metadata=authority, timeout=10)
        assert submitted.entry.state == cat.ENTRY_STATE_SUBMITTED
        reason, _, _ = await _refused(catalog.ReviewEntry(publish, metadata=platform.person("authority", REVIEWER),
                                                          timeout=10), grpc.StatusCode.UNAVAILABLE)
        assert reason == "DIRECTORY_UNAVAILABLE"
    for _ in range(100):  # the catalog's channel to the directory reconnects (gRPC's backoff) after the restart
        call = catalog.ReviewEntry(publish, metadata=platform.person("authority", REVIEWER), timeout=10)
        try:
            reason, message, _ = await _refused(call, grpc.StatusCode.FAILED_PRECONDITION)
            break
        except AssertionError:
            await asyncio.sleep(0.1)
    assert reason == "DEPARTMENT_RETIRED" and gone in message, message
