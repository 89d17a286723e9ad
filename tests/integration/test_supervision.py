"""Supervision over a realistic month (DOMAIN §11, R-SUP-1, R-SUP-3), through the gateway and the real services.

Three departments of their own (so the other tests' traffic in the shared platform does not touch the figures
checked here): P provides two resources, U uses them, Q keeps its catalog up to date and does nothing else.
In the month: P's catalog update after a mandate change is overdue, Q's is on time; U applies three times (one
approved on time, one refused late, one left unanswered past due); U's system queries with the granted
purpose, with a purpose not granted, and a resource whose endpoint is down; U disputes two records (one
answered, one left past due); three place records are older than their declared monthly cycle.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import re
import sys
from dataclasses import replace

import asyncpg
import grpc
import pytest
from caller_metadata import person_of
from front_end import foundation_records, front_end, own_records, published_while_up
from google.protobuf import timestamp_pb2
from pypdf import PdfReader

from govshare.authorization.v1 import directory_pb2, directory_pb2_grpc, sharing_pb2, sharing_pb2_grpc
from govshare.catalog.v1 import catalog_pb2 as cat
from govshare.catalog.v1 import catalog_pb2_grpc
from govshare.common.v1 import common_pb2 as common
from govshare.provider.v1 import provider_pb2
from govshare.query.v1 import dispute_pb2, dispute_pb2_grpc, query_pb2, query_pb2_grpc
from govshare.supervision.v1 import supervision_pb2 as sup
from govshare.supervision.v1 import supervision_pb2_grpc
from services.demo import AUTHORITY, POPULATION_ITEMS, REGION, DemoDepartment, _entry
from services.foundation.synthetic import citizen_id_of
from services.runtime.db import create_pool
from services.runtime.duties import ADMINISTRATOR, APPLICANT, APPROVER, AUDITOR, DATA_OFFICER, REVIEWER
from services.runtime.errors import details_of
from services.runtime.figures import FigureRow, dimension
from services.runtime.identity import AssertionSigner, Caller, service_caller
from services.runtime.pagination import encode_token
from services.runtime.tokens import issue_token
from services.supervision.document import Paragraph, Table
from services.supervision.evaluation import evaluate
from services.supervision.months import Month
from services.supervision.reports import UNREAD
from services.supervision.snapshot import Figures
from services.supervision.sources import Membership
from services.supervision.store import SupervisionStore
from services.supervision.supervision import Supervision
from services.supervision.violations import Violation

ADMIN = common.Purpose(type=common.PURPOSE_TYPE_ADMINISTRATIVE_BASIS, text="低保资格审核")
WORK = common.Purpose(type=common.PURPOSE_TYPE_WORK_REFERENCE, text="窗口业务参考")
P = DemoDepartment("sup_p", "测试人口信息提供局", "提供系统", 901)
U = DemoDepartment("sup_u", "测试低保审核局", "审核系统", 902)
Q = DemoDepartment("sup_q", "测试守规局", "守规系统", 903)
R1, R2 = "301901/000001", "301901/000002"
DOWN = "127.0.0.1:9"  # nothing listens there (Q's draft names it; P's down 前置机 answered once, see _run_month)
REFUSAL = "申请用途与职责不符"


def _reason(error: grpc.aio.AioRpcError) -> str:
    info, _ = details_of(error)
    return info.reason if info else ""


def _stamp(moment: dt.datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


class World:
    """The scenario's parties and stubs."""

    def __init__(self, platform) -> None:  # type: ignore[no-untyped-def]
        self.platform = platform
        self.systems: dict[str, str] = {}
        self.secrets: dict[str, str] = {}
        self.endpoint = ""
        #: Where P's second 前置机 answered the catalog's check before it went down.
        self.down = ""
        channel = platform.channel
        self.directory = directory_pb2_grpc.DirectoryServiceStub(channel)
        self.catalog = catalog_pb2_grpc.CatalogServiceStub(channel)
        self.sharing = sharing_pb2_grpc.SharingServiceStub(channel)
        self.query = query_pb2_grpc.QueryServiceStub(channel)
        self.disputes = dispute_pb2_grpc.DisputeServiceStub(channel)
        self.supervision = supervision_pb2_grpc.SupervisionServiceStub(channel)
        self.database_url = platform.settings["query"].database_url

    def md(self, who: DemoDepartment | str, role: str = "") -> tuple[tuple[str, str], ...]:
        """A system's token, or with ``role`` a person's of its department (decisions are persons', issue 12)."""
        if who == "authority":
            return self.platform.person("authority", role) if role else self.platform.metadata("authority")
        assert isinstance(who, DemoDepartment)
        settings = self.platform.settings["authorization"]
        caller = Caller(self.systems[who.key], who.code)
        token = issue_token(settings.token_private_key, person_of(caller, role) if role else caller, 600).token
        return (("authorization", f"Bearer {token}"),)

    async def sql(self, statement: str, *args: object) -> None:
        conn = await asyncpg.connect(self.database_url)
        try:
            await conn.execute(statement, *args)
        finally:
            await conn.close()


async def _apply(w: World, purpose: int) -> sharing_pb2.Application:
    response = await w.sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(
        application=sharing_pb2.Application(
            resource_code=R1, items=["citizen_id", "name", "birth_date"], purposes=[purpose],
            purpose_text="低保资格审核", basis="《社会救助暂行办法》第十一条",
            requested_expire_time=_stamp(dt.datetime.now(dt.UTC) + dt.timedelta(days=90)),
            methods=[common.SHARE_METHOD_ONLINE_QUERY], quota=1000)), metadata=w.md(U), timeout=10)
    return response.application


async def _run_month(platform, endpoint: str, records: list[provider_pb2.Record]  # type: ignore[no-untyped-def]
                     ) -> tuple[World, Month, dict[str, object]]:
    w = World(platform)
    month = Month.of(dt.datetime.now(dt.UTC))
    authority = w.md("authority")
    w.endpoint = endpoint
    for department in (P, U, Q):
        await w.directory.CreateDepartment(directory_pb2.CreateDepartmentRequest(department=directory_pb2.Department(
            code=department.code, name=department.name, level=directory_pb2.ADMINISTRATIVE_LEVEL_MUNICIPAL,
            region_code=REGION)), metadata=authority, timeout=10)
        created = await w.directory.CreateSystem(directory_pb2.CreateSystemRequest(system=directory_pb2.System(
            department_code=department.code, name=department.system_name)), metadata=authority, timeout=10)
        w.systems[department.key] = created.system.id
        w.secrets[department.key] = created.secret

    # P catalogs a conditional resource served by its own 前置机, and an unconditional one whose 前置机 is down.
    conditional = _entry(R1, "测试人口核验信息", "测试用人口核验信息。", cat.CATEGORY_DEPARTMENT, "人口核验", P,
                         POPULATION_ITEMS, "sup_people", common.SHARE_TYPE_CONDITIONAL,
                         [common.SHARE_METHOD_ONLINE_QUERY], condition="经提供部门审核同意")
    conditional.endpoint.target = endpoint
    down = _entry(R2, "测试前置机人口信息", "测试用前置机人口信息。", cat.CATEGORY_DEPARTMENT, "人口核验", P,
                  POPULATION_ITEMS[:2], "sup_archive", common.SHARE_TYPE_UNCONDITIONAL,
                  [common.SHARE_METHOD_ONLINE_QUERY])

    async def publish(entry: cat.Entry) -> None:
        await w.catalog.CreateEntry(cat.CreateEntryRequest(entry=entry), metadata=w.md(P), timeout=10)
        await w.catalog.SubmitEntry(cat.SubmitEntryRequest(code=entry.code), metadata=w.md(P), timeout=10)
        await w.catalog.ReviewEntry(cat.ReviewEntryRequest(code=entry.code, decision=cat.REVIEW_DECISION_PUBLISH),
                                    metadata=w.md("authority", REVIEWER), timeout=10)

    async def publish_down(target: str) -> None:
        down.endpoint.target = target
        await publish(down)

    await publish(conditional)
    # The second 前置机 answers the catalog's check when the entry is published, and is down from then on.
    _, w.down = await published_while_up(publish_down, P.code, [item.machine_name for item in down.items])

    # Mandate changes: P does no catalog work after its change (overdue); Q drafts an entry after its (on time).
    now = dt.datetime.now(dt.UTC)
    await w.catalog.ReportMandateChange(cat.ReportMandateChangeRequest(
        department_code=P.code, description="职能调整", change_time=_stamp(now)), metadata=w.md(P), timeout=10)
    await w.catalog.ReportMandateChange(cat.ReportMandateChangeRequest(
        department_code=Q.code, description="职能调整", change_time=_stamp(now)), metadata=w.md(Q), timeout=10)
    q_entry = _entry("301903/000001", "测试守规资源", "测试用。", cat.CATEGORY_DEPARTMENT, "测试", Q,
                     POPULATION_ITEMS[:2], "sup_q_people", common.SHARE_TYPE_UNCONDITIONAL,
                     [common.SHARE_METHOD_ONLINE_QUERY])
    q_entry.endpoint.target = DOWN
    await w.catalog.CreateEntry(cat.CreateEntryRequest(entry=q_entry), metadata=w.md(Q), timeout=10)
    # Both changes fall due now (15 working days pass in a test by moving the due date).
    await w.sql("UPDATE catalog.mandate_changes SET due_time = now() WHERE department_code = ANY($1::text[])",
                [P.code, Q.code])

    # Applications: approved on time; refused after its deadline; left unanswered past its deadline.
    approved = await _apply(w, common.PURPOSE_TYPE_ADMINISTRATIVE_BASIS)
    await w.sharing.ReplyApplication(sharing_pb2.ReplyApplicationRequest(
        id=approved.id, decision=sharing_pb2.REPLY_DECISION_APPROVE), metadata=w.md(P, APPROVER), timeout=10)
    late = await _apply(w, common.PURPOSE_TYPE_WORK_REFERENCE)
    pending = await _apply(w, common.PURPOSE_TYPE_DATA_VERIFICATION)
    await w.sql("UPDATE \"authorization\".applications SET reply_due_time = now() - interval '1 second' "
                "WHERE id = ANY($1::text[])", [late.id, pending.id])
    await w.sharing.ReplyApplication(sharing_pb2.ReplyApplicationRequest(
        id=late.id, decision=sharing_pb2.REPLY_DECISION_REFUSE, reason=REFUSAL), metadata=w.md(P, APPROVER),
        timeout=10)

    # Queries: three with the granted purpose, two with one the grant does not hold, three to a down endpoint.
    keys = [record.key for record in records]
    for key in keys[:3]:
        await w.query.Query(query_pb2.QueryRequest(resource_code=R1, key=key, purpose=ADMIN), metadata=w.md(U),
                            timeout=10)
    for key in keys[:2]:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await w.query.Query(query_pb2.QueryRequest(resource_code=R1, key=key, items=["birth_date"],
                                                       purpose=WORK), metadata=w.md(U), timeout=10)
        assert _reason(refused.value) == "PURPOSE_NOT_GRANTED"
    for key in keys[3:]:  # keys nobody read yet: no cached copy can answer for the endpoint
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await w.query.Query(query_pb2.QueryRequest(resource_code=R2, key=key, purpose=ADMIN), metadata=w.md(U),
                                timeout=20)
        assert failed.value.code() == grpc.StatusCode.UNAVAILABLE

    # Disputes: one answered in time, one left past its deadline.
    disputes = []
    for key in keys[:2]:
        reported = await w.disputes.ReportDispute(dispute_pb2.ReportDisputeRequest(dispute=dispute_pb2.Dispute(
            resource_code=R1, key=key, item="name", claimed_value="张三", evidence="户口簿")),
            metadata=w.md(U), timeout=10)
        disputes.append(reported.dispute.id)
    await w.disputes.AnswerDispute(dispute_pb2.AnswerDisputeRequest(id=disputes[0], corrected=False,
                                                                    answer="经核实无误"), metadata=w.md(P, APPROVER),
                                   timeout=10)
    await w.sql("UPDATE query.disputes SET due_time = now() - interval '1 second' WHERE id = $1::uuid", disputes[1])

    # A stale dataset: three place records older than the monthly cycle the place resource declares.
    await w.sql("UPDATE foundation.place SET as_of_time = as_of_time - interval '40 days' "
                "WHERE place_code IN (SELECT place_code FROM foundation.place ORDER BY place_code LIMIT 3)")

    computed = await w.supervision.ComputeSnapshots(sup.ComputeSnapshotsRequest(year=month.year, month=month.month),
                                                    metadata=authority, timeout=120)
    assert computed.departments >= 3
    return w, month, {"keys": keys}


@pytest.fixture(scope="module")
async def month_run(platform):  # type: ignore[no-untyped-def]
    records = own_records(await foundation_records(platform, "population", 6), "citizen_id",
                          [citizen_id_of(9_000_000 + n) for n in range(6)])
    async with front_end(records[:3], P.code, [item.machine_name for item in POPULATION_ITEMS]) as endpoint:
        yield await _run_month(platform, endpoint, records)


async def _figures(w: World, month: Month, department: DemoDepartment) -> dict[tuple[str, str], int]:
    snapshot = (await w.supervision.GetSnapshot(sup.GetSnapshotRequest(
        department_code=department.code, year=month.year, month=month.month), metadata=w.md("authority"),
        timeout=10)).snapshot
    return {(f.name, f.dimension): f.value for f in snapshot.figures}


async def test_every_figure_of_the_provider(month_run) -> None:  # type: ignore[no-untyped-def]
    w, month, _ = month_run
    figures = await _figures(w, month, P)
    change_id = next(dim for name, dim in figures if name == "catalog.update_overdue")
    assert change_id.startswith("change=") and ";due=" in change_id
    assert figures == {
        ("catalog.resources", ""): 2,
        ("catalog.resources", "share_type=CONDITIONAL"): 1,
        ("catalog.resources", "share_type=UNCONDITIONAL"): 1,
        ("catalog.resources", "category=DEPARTMENT"): 2,
        ("catalog.resource", f"cycle=DAILY;dataset=sup_people;resource={R1};target={w.endpoint}"): 1,
        ("catalog.resource", f"cycle=DAILY;dataset=sup_archive;resource={R2};target={w.down}"): 1,
        ("catalog.updates_due", ""): 1,
        ("catalog.updates_overdue", ""): 1,
        ("catalog.update_overdue", change_id): 1,
        ("applications.received", ""): 3,
        ("applications.replied_on_time", ""): 1,
        ("applications.replied_late", ""): 1,
        ("applications.unreplied_overdue", ""): 1,
        ("applications.approved", ""): 1,
        ("applications.refused", ""): 1,
        ("applications.refused", f"reason={REFUSAL}"): 1,
        ("grants.given", ""): 1,
        ("queries.served", ""): 8,
        ("queries.served", f"purpose=ADMINISTRATIVE_BASIS;resource={R1}"): 3,
        ("queries.served", f"purpose=WORK_REFERENCE;resource={R1}"): 2,
        ("queries.served", f"purpose=ADMINISTRATIVE_BASIS;resource={R2}"): 3,
        ("queries.served_to", f"department={U.code};purpose=ADMINISTRATIVE_BASIS;resource={R1};result=ANSWERED"): 3,
        ("queries.served_to", f"department={U.code};purpose=WORK_REFERENCE;resource={R1};result=DENIED"): 2,
        ("queries.served_to", f"department={U.code};purpose=ADMINISTRATIVE_BASIS;resource={R2};result=FAILED"): 3,
        ("queries.failed", ""): 3,
        ("queries.failed", f"resource={R2}"): 3,
        ("disputes.received", ""): 2,
        ("disputes.received", f"department={U.code};resource={R1}"): 2,
        ("disputes.answered_on_time", ""): 1,
        ("disputes.unanswered_overdue", ""): 1,
        ("disputes.unanswered_overdue", f"resource={R1}"): 1,
    }


async def test_every_figure_of_the_user_and_of_the_quiet_department(month_run) -> None:  # type: ignore[no-untyped-def]
    w, month, _ = month_run
    today = dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=8))).date().isoformat()
    system = w.systems[U.key]
    assert await _figures(w, month, U) == {
        ("applications.made", ""): 3,
        ("grants.held", ""): 1,
        ("queries.made", ""): 8,
        ("queries.made", "result=ANSWERED"): 3,
        ("queries.made", "result=DENIED"): 2,
        ("queries.made", "result=FAILED"): 3,
        ("queries.denied", "reason=PURPOSE_NOT_GRANTED"): 2,
        ("queries.purpose_not_granted", f"purpose=WORK_REFERENCE;resource={R1};system={system}"): 2,
        ("queries.system_daily", f"day={today};system={system}"): 8,
        ("disputes.reported", ""): 2,
    }
    assert await _figures(w, month, Q) == {("catalog.updates_due", ""): 1, ("catalog.updates_on_time", ""): 1}


async def test_violations_with_evidence_and_nothing_else(month_run) -> None:  # type: ignore[no-untyped-def]
    w, month, _ = month_run
    found = []
    token = ""
    while True:
        page = await w.supervision.ListViolations(sup.ListViolationsRequest(
            year=month.year, month=month.month, page_size=2, page_token=token), metadata=w.md("authority"),
            timeout=10)
        found.extend(page.violations)
        token = page.next_page_token
        if not token:
            break
    assert len({v.id for v in found}) == len(found)
    ours = {(v.department_code, v.rule, v.subject): dict(v.evidence) for v in found
            if v.department_code in (P.code, U.code, Q.code)}
    change = next(s for (_, rule, s) in ours if rule == sup.VIOLATION_RULE_CATALOG_NOT_UPDATED)
    system = w.systems[U.key]
    assert ours == {
        (P.code, sup.VIOLATION_RULE_CATALOG_NOT_UPDATED, change): {
            "change": change.removeprefix("mandate_change:"), "due": ours[(P.code, 1, change)]["due"]},
        (P.code, sup.VIOLATION_RULE_DATA_NOT_PROVIDED, f"resource:{R2}:endpoint"): {
            "resource": R2, "failed_calls": "3", "calls": "3", "failure_rate": "1.000"},
        (P.code, sup.VIOLATION_RULE_DATA_UNUSABLE, f"resource:{R1}:disputes"): {
            "resource": R1, "disputes_unanswered_overdue": "1"},
        (U.code, sup.VIOLATION_RULE_PURPOSE_NOT_GRANTED,
         f"system:{system}:resource:{R1}:purpose:WORK_REFERENCE"): {
            "system": system, "resource": R1, "purpose": "WORK_REFERENCE", "refused_calls": "2"},
    }
    stale = [v for v in found if v.subject == "dataset:place"]
    assert len(stale) == 1 and stale[0].evidence["stale_records"] == "3"
    assert stale[0].rule == sup.VIOLATION_RULE_DATA_UNUSABLE and "第二十四条" in stale[0].article
    # A department sees its own violations only.
    own = await w.supervision.ListViolations(sup.ListViolationsRequest(year=month.year, month=month.month),
                                             metadata=w.md(U), timeout=10)
    assert {v.department_code for v in own.violations} == {U.code}
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await w.supervision.ListViolations(sup.ListViolationsRequest(
            year=month.year, month=month.month, department_code=P.code), metadata=w.md(U), timeout=10)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_evaluation_follows_the_authoritys_weights(month_run) -> None:  # type: ignore[no-untyped-def]
    w, month, _ = month_run
    request = sup.GetSnapshotRequest(department_code=P.code, year=month.year, month=month.month)
    evaluation = (await w.supervision.GetSnapshot(request, metadata=w.md(P), timeout=10)).snapshot.evaluation
    rates = {i.name: (i.numerator, i.denominator) for i in evaluation.indicators}
    assert rates == {"catalog_on_time": (0, 1), "reply_on_time": (1, 3), "dispute_on_time": (1, 2),
                     "availability": (3, 6), "freshness": (0, 0), "purpose_compliance": (0, 0)}
    assert evaluation.violations == 3
    assert evaluation.score == pytest.approx(round((20 * 0 + 20 / 3 + 15 * 0.5 + 15 * 0.5 + 15 + 15), 2))

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await w.supervision.UpdateEvaluationWeights(sup.UpdateEvaluationWeightsRequest(
            weights=[sup.Weight(indicator="catalog_on_time", weight=0)]), metadata=w.md(P), timeout=10)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # The weights rescore every department: a decision of the authority's 管理员, a person named in the log. The
    # authority's business system changed them, logged under no one who answers for it.
    admin = w.md("authority", ADMINISTRATOR)
    with pytest.raises(grpc.aio.AioRpcError) as system:
        await w.supervision.UpdateEvaluationWeights(sup.UpdateEvaluationWeightsRequest(
            weights=[sup.Weight(indicator="catalog_on_time", weight=0)]), metadata=w.md("authority"), timeout=10)
    assert system.value.code() == grpc.StatusCode.PERMISSION_DENIED
    info, _ = details_of(system.value)
    assert (info.reason, info.metadata["required_role"]) == ("PERSON_REQUIRED", ADMINISTRATOR)
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await w.supervision.UpdateEvaluationWeights(sup.UpdateEvaluationWeightsRequest(
            weights=[sup.Weight(indicator="speed", weight=500)]), metadata=admin, timeout=10)
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    _, bad_request = details_of(bad.value)
    assert {v.field for v in bad_request.field_violations} == {"weights[0].indicator", "weights[0].weight"}
    # An indicator listed twice is refused at its second entry (not the last silently kept), and weights that
    # would all be 0 are refused: every department would score 100 whatever it did.
    with pytest.raises(grpc.aio.AioRpcError) as twice:
        await w.supervision.UpdateEvaluationWeights(sup.UpdateEvaluationWeightsRequest(weights=[
            sup.Weight(indicator="availability", weight=10), sup.Weight(indicator="speed", weight=1),
            sup.Weight(indicator="availability", weight=90)]), metadata=admin, timeout=10)
    _, bad_request = details_of(twice.value)
    assert {(v.field, v.description) for v in bad_request.field_violations} >= {
        ("weights[2].indicator", "availability is listed twice")}
    assert {v.field for v in bad_request.field_violations} == {"weights[1].indicator", "weights[2].indicator"}
    current = (await w.supervision.GetEvaluationWeights(sup.GetEvaluationWeightsRequest(), metadata=admin,
                                                         timeout=10)).weights
    with pytest.raises(grpc.aio.AioRpcError) as nothing:
        await w.supervision.UpdateEvaluationWeights(sup.UpdateEvaluationWeightsRequest(weights=[
            sup.Weight(indicator=weight.indicator, weight=0) for weight in current]), metadata=admin,
            timeout=10)
    assert nothing.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "at least one indicator must weigh more than 0" in nothing.value.details()
    after = (await w.supervision.GetEvaluationWeights(sup.GetEvaluationWeightsRequest(), metadata=admin,
                                                       timeout=10)).weights
    assert list(after) == list(current)  # nothing was changed

    # Two administrators zeroing different halves at the same moment: one is refused, never both applied.
    halves = [list(current)[:3], list(current)[3:]]
    outcomes = await asyncio.gather(*(w.supervision.UpdateEvaluationWeights(sup.UpdateEvaluationWeightsRequest(
        weights=[sup.Weight(indicator=weight.indicator, weight=0) for weight in half]), metadata=admin,
        timeout=10) for half in halves), return_exceptions=True)
    refusals = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(refusals) == 1 and refusals[0].code() == grpc.StatusCode.INVALID_ARGUMENT, outcomes
    assert any(weight.weight for weight in (await w.supervision.GetEvaluationWeights(
        sup.GetEvaluationWeightsRequest(), metadata=admin, timeout=10)).weights)
    await w.supervision.UpdateEvaluationWeights(sup.UpdateEvaluationWeightsRequest(weights=list(current)),
                                                metadata=admin, timeout=10)

    await w.supervision.UpdateEvaluationWeights(sup.UpdateEvaluationWeightsRequest(
        weights=[sup.Weight(indicator="catalog_on_time", weight=0)]), metadata=admin, timeout=10)
    try:
        reweighted = (await w.supervision.GetSnapshot(request, metadata=w.md(P), timeout=10)).snapshot.evaluation
        assert reweighted.score == pytest.approx(round(100 * (20 / 3 + 7.5 + 7.5 + 15 + 15) / 80, 2))
    finally:
        await w.supervision.UpdateEvaluationWeights(sup.UpdateEvaluationWeightsRequest(
            weights=[sup.Weight(indicator="catalog_on_time", weight=20)]), metadata=admin, timeout=10)


async def test_evaluations_are_listed_by_keyset_pages(month_run) -> None:  # type: ignore[no-untyped-def]
    w, month, _ = month_run
    codes, token, names = [], "", {}
    while True:
        page = await w.supervision.ListEvaluations(sup.ListEvaluationsRequest(
            year=month.year, month=month.month, page_size=2, page_token=token), metadata=w.md("authority"),
            timeout=10)
        codes.extend(e.department_code for e in page.evaluations)
        names.update((e.department_code, e.department_name) for e in page.evaluations)
        # When the month (in progress) was computed: its scores count what happened until then.
        assert month.start < page.compute_time.ToDatetime(dt.UTC) <= dt.datetime.now(dt.UTC)
        token = page.next_page_token
        if not token:
            break
    assert codes == sorted(set(codes)) and {P.code, U.code, Q.code} <= set(codes)
    # Each named as the month's snapshot keeps it (the console shows that name, today's beside it if another).
    assert (names[P.code], names[Q.code]) == (P.name, Q.name)
    snapshot = await w.supervision.GetSnapshot(sup.GetSnapshotRequest(department_code=U.code, year=month.year,
                                                                      month=month.month), metadata=w.md(U), timeout=10)
    assert snapshot.snapshot.evaluation.department_name == U.name
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await w.supervision.ListEvaluations(sup.ListEvaluationsRequest(year=month.year, month=month.month),
                                            metadata=w.md(U), timeout=10)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize(("rpc", "position"), [
    ("ListEvaluations", {"d": "\ud800"}), ("ListEvaluations", {"d": 7}), ("ListEvaluations", {"d": "x" * 200}),
    ("ListViolations", {"d": "\ud800", "i": "x"}), ("ListViolations", {"d": P.code, "i": "\udfff"}),
    ("ListViolations", {"d": P.code, "i": 7})])
async def test_a_tampered_page_token_is_refused_naming_it(month_run, rpc: str, position: dict) -> None:  # type: ignore[no-untyped-def]
    """A token carrying a lone surrogate (valid JSON, not text PostgreSQL can take) failed in the driver: INTERNAL
    for the authority's ListEvaluations and ListViolations."""
    w, month, _ = month_run
    request = getattr(sup, f"{rpc}Request")(year=month.year, month=month.month, page_token=encode_token(position))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await getattr(w.supervision, rpc)(request, metadata=w.md("authority"), timeout=10)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()
    _, bad = details_of(refused.value)
    assert [v.field for v in bad.field_violations] == ["page_token"]


async def test_a_month_that_has_not_begun_is_said_so_not_listed_empty(month_run) -> None:  # type: ignore[no-untyped-def]
    """ComputeSnapshots and GenerateReport refuse a month that has not begun; ListViolations answered an empty
    list for it (no violations), ListEvaluations too, and GetSnapshot NOT_FOUND as if it were not computed yet."""
    w, month, _ = month_run
    ahead = month.next().next()
    for call in (w.supervision.ListViolations(sup.ListViolationsRequest(year=ahead.year, month=ahead.month),
                                              metadata=w.md(U), timeout=10),
                 w.supervision.ListEvaluations(sup.ListEvaluationsRequest(year=ahead.year, month=ahead.month),
                                               metadata=w.md("authority"), timeout=10),
                 w.supervision.GetSnapshot(sup.GetSnapshotRequest(
                     year=ahead.year, month=ahead.month, department_code=P.code), metadata=w.md(P), timeout=10)):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()
        _, bad = details_of(refused.value)
        assert [(v.field, v.description) for v in bad.field_violations] == [("month", "the month has not begun")]


async def test_a_month_never_computed_is_said_so_not_listed_empty(month_run) -> None:  # type: ignore[no-untyped-def]
    """A past month the schedule never computed (here one from before the platform) answered ListViolations and
    ListEvaluations with empty lists, which read as "no violations" and "nobody evaluated"; it is
    FAILED_PRECONDITION MONTH_NOT_COMPUTED naming the month and how to compute it."""
    w, _, _ = month_run
    never = Month(2001, 3)
    for call in (w.supervision.ListViolations(sup.ListViolationsRequest(year=never.year, month=never.month),
                                              metadata=w.md(U), timeout=10),
                 w.supervision.ListViolations(sup.ListViolationsRequest(year=never.year, month=never.month,
                                                                        department_code=P.code),
                                              metadata=w.md("authority"), timeout=10),
                 w.supervision.ListEvaluations(sup.ListEvaluationsRequest(year=never.year, month=never.month),
                                               metadata=w.md("authority"), timeout=10)):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION, refused.value.details()
        assert _reason(refused.value) == "MONTH_NOT_COMPUTED"
        assert "2001-03" in refused.value.details() and "govshare supervise --months 2001-03" in refused.value.details()


async def test_recomputing_a_month_gives_the_same_figures(month_run) -> None:  # type: ignore[no-untyped-def]
    w, month, _ = month_run
    before = {d.key: await _figures(w, month, d) for d in (P, U, Q)}
    await w.supervision.ComputeSnapshots(sup.ComputeSnapshotsRequest(year=month.year, month=month.month),
                                         metadata=w.md("authority"), timeout=120)
    assert {d.key: await _figures(w, month, d) for d in (P, U, Q)} == before


async def test_only_the_authority_computes_and_departments_read_their_own(month_run) -> None:  # type: ignore[no-untyped-def]
    w, month, _ = month_run
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await w.supervision.ComputeSnapshots(sup.ComputeSnapshotsRequest(year=month.year, month=month.month),
                                             metadata=w.md(P), timeout=10)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as other:
        await w.supervision.GetSnapshot(sup.GetSnapshotRequest(department_code=P.code, year=month.year,
                                                               month=month.month), metadata=w.md(U), timeout=10)
    assert other.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await w.supervision.ComputeSnapshots(sup.ComputeSnapshotsRequest(year=month.year, month=13),
                                             metadata=w.md("authority"), timeout=10)
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    _, bad_request = details_of(bad.value)
    assert [v.field for v in bad_request.field_violations] == ["month"]


async def test_the_authoritys_persons_without_a_supervising_role_see_no_other_department(  # type: ignore[no-untyped-def]
        month_run) -> None:
    """Supervision is the authority's 审计员, 审核员 and 管理员's: its 申请人 or 编目员 (the authority is a department
    that applies and catalogs too) read every department's scores, violations and reports through the API."""
    w, month, _ = month_run
    period = {"year": month.year, "month": month.month}
    reads = [("ListViolations", sup.ListViolationsRequest(**period)),
             ("ListEvaluations", sup.ListEvaluationsRequest(**period)),
             ("ListViolations", sup.ListViolationsRequest(department_code=P.code, **period)),
             ("GetSnapshot", sup.GetSnapshotRequest(department_code=P.code, **period)),
             ("GenerateReport", sup.GenerateReportRequest(kind=sup.REPORT_KIND_YEARLY, year=month.year,
                                                          format=sup.REPORT_FORMAT_HTML)),
             ("GenerateReport", sup.GenerateReportRequest(kind=sup.REPORT_KIND_MONTHLY_FEEDBACK, department_code=P.code,
                                                          format=sup.REPORT_FORMAT_HTML, **period))]
    for role in (APPLICANT, DATA_OFFICER):
        for method, request in reads[1:]:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await getattr(w.supervision, method)(request, metadata=w.md("authority", role), timeout=30)
            assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED, (role, method)
            assert _reason(refused.value) == "ROLE_REQUIRED"
        # Naming no department, they list the authority's own violations, as every department's persons do theirs
        # (they were refused ROLE_REQUIRED, though naming their own department was allowed).
        own = await w.supervision.ListViolations(sup.ListViolationsRequest(**period),
                                                 metadata=w.md("authority", role), timeout=30)
        assert {v.department_code for v in own.violations} <= {AUTHORITY.code}, role
    for role in (AUDITOR, REVIEWER, ADMINISTRATOR):
        for method, request in reads[:4]:
            await getattr(w.supervision, method)(request, metadata=w.md("authority", role), timeout=30)
    # The department's own figures stay open to any of its persons.
    await w.supervision.GetSnapshot(sup.GetSnapshotRequest(department_code=P.code, **period),
                                    metadata=w.md(P, DATA_OFFICER), timeout=10)


async def test_figures_services_are_internal(month_run) -> None:  # type: ignore[no-untyped-def]
    """A department cannot reach the owning services' figures: not through the gateway, not directly."""
    w, month, _ = month_run
    from govshare.query.v1 import figures_pb2, figures_pb2_grpc
    request = figures_pb2.ListDepartmentFiguresRequest(start_time=_stamp(month.start), end_time=_stamp(month.end))
    with pytest.raises(grpc.aio.AioRpcError) as routed:
        await figures_pb2_grpc.AuditFiguresServiceStub(w.platform.channel).ListDepartmentFigures(
            request, metadata=w.md(U), timeout=10)
    assert routed.value.code() == grpc.StatusCode.UNIMPLEMENTED
    signer = AssertionSigner(w.platform.settings["query"].internal_key)
    async with grpc.aio.insecure_channel(w.platform.port("query")) as channel:
        stub = figures_pb2_grpc.AuditFiguresServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as direct:
            await stub.ListDepartmentFigures(request, metadata=signer.metadata(Caller(w.systems[U.key], U.code)),
                                             timeout=10)
        assert direct.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.aio.AioRpcError) as backwards:
            await stub.ListDepartmentFigures(figures_pb2.ListDepartmentFiguresRequest(
                start_time=_stamp(month.end), end_time=_stamp(month.start)),
                metadata=signer.metadata(service_caller("supervision")), timeout=10)
        assert backwards.value.code() == grpc.StatusCode.INVALID_ARGUMENT


# ---- reports (R-SUP-2) --------------------------------------------------------------------------------------


def _pdf_text(content: bytes) -> str:
    """The PDF's text through its ToUnicode map (what copy-paste and search get), whitespace removed.

    fpdf2 writes two-byte glyph codes under an embedded encoding CMap; pypdf reads the codes a byte at a time
    and yields a NUL before each character it maps, which is dropped with the whitespace."""
    reader = PdfReader(io.BytesIO(content))
    return "".join("".join(page.extract_text().replace("\x00", "").split()) for page in reader.pages)


def _pdf_fonts(content: bytes) -> set[str]:
    reader = PdfReader(io.BytesIO(content))
    fonts = set()
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            fonts.add(str(font.get_object()["/BaseFont"]))
    return fonts


async def _report(w: World, who, kind: int, fmt: int, year: int, month: int = 0,  # type: ignore[no-untyped-def]
                  department: str = "") -> sup.GenerateReportResponse:
    return await w.supervision.GenerateReport(sup.GenerateReportRequest(
        kind=kind, year=year, month=month, department_code=department, format=fmt), metadata=w.md(who), timeout=60)


async def test_yearly_report_of_a_department_in_html_and_pdf(month_run) -> None:  # type: ignore[no-untyped-def]
    w, month, _ = month_run
    html = await _report(w, P, sup.REPORT_KIND_YEARLY, sup.REPORT_FORMAT_HTML, month.year, department=P.code)
    assert html.content_type == "text/html; charset=utf-8"
    assert html.file_name == f"yearly-{month.year}-{P.code}.html"
    page = html.content.decode("utf-8")
    title = f"{month.year}年度政务信息资源共享情况报告"
    for expected in (title, f"{P.name}（{P.code}）", "<td>资源被调用次数</td><td class=\"n\">8</td>",
                     "<td>资源调用失败次数</td><td class=\"n\">3</td>", "<td>收到共享申请</td><td class=\"n\">3</td>",
                     "<td>未按期更新目录（含逾期更新）</td><td class=\"n\">1</td>", "<svg", "按月资源被调用次数",
                     "<td>有条件共享</td><td class=\"n\">1</td>", "未按要求更新政务信息资源目录",
                     "未向共享平台及时提供共享信息", f"资源：{R2}；服务接口"):
        assert expected in page, expected

    pdf = await _report(w, P, sup.REPORT_KIND_YEARLY, sup.REPORT_FORMAT_PDF, month.year, department=P.code)
    assert pdf.content_type == "application/pdf" and pdf.content.startswith(b"%PDF-")
    text = _pdf_text(pdf.content)
    for expected in (title, f"报告对象：{P.name}（{P.code}）", "一、总体情况", "资源被调用次数8", "资源调用失败次数3",
                     "收到共享申请3", "按时答复申请1", "逾期答复申请1", "逾期未答复申请1",
                     "未按期更新目录（含逾期更新）1",
                     "收到疑义数据2", "发现违规3", "目录更新01", "申请答复13", "疑义答复12", "有条件共享1",
                     "无条件共享1", "未按要求更新政务信息资源目录", "违规情况"):
        assert expected in text, expected
    # The Chinese is real text set in the embedded font, not boxes: the font is Noto Sans SC, subset.
    assert any(font.endswith("NotoSansSC") or "NotoSansSC" in font for font in _pdf_fonts(pdf.content))


async def test_a_report_in_several_formats_is_one_reading_of_the_snapshots(month_run) -> None:  # type: ignore[no-untyped-def]
    """`govshare report --format html,pdf` asked for each format apart: a month recomputed between the two calls
    (the hourly schedule, a 管理员's recomputation) gave an HTML and a PDF of two generation times and two sets of
    figures. also_formats answers every format of one reading in one call; a format named twice is refused."""
    w, month, _ = month_run
    response = await w.supervision.GenerateReport(sup.GenerateReportRequest(
        kind=sup.REPORT_KIND_YEARLY, year=month.year, department_code=P.code, format=sup.REPORT_FORMAT_HTML,
        also_formats=[sup.REPORT_FORMAT_PDF, sup.REPORT_FORMAT_CSV]), metadata=w.md(P), timeout=60)
    assert [response.file_name, *(f.file_name for f in response.also)] == [
        f"yearly-{month.year}-{P.code}.{extension}" for extension in ("html", "pdf", "csv")]
    assert [f.content_type for f in response.also] == ["application/pdf", "text/csv; charset=utf-8"]
    html, pdf, csv = (response.content.decode("utf-8"), _pdf_text(response.also[0].content),
                      response.also[1].content.decode("utf-8-sig"))
    generated = re.search(r"生成时间：([0-9-]+ [0-9:]+)", html)
    assert generated is not None
    assert f"生成时间：{generated.group(1)}" in csv
    assert "生成时间：" + generated.group(1).replace(" ", "") in pdf.replace(" ", "")
    assert "资源被调用次数8" in pdf
    for twice in ([sup.REPORT_FORMAT_HTML], [sup.REPORT_FORMAT_PDF, sup.REPORT_FORMAT_PDF]):
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await w.supervision.GenerateReport(sup.GenerateReportRequest(
                kind=sup.REPORT_KIND_YEARLY, year=month.year, department_code=P.code, format=sup.REPORT_FORMAT_HTML,
                also_formats=twice), metadata=w.md(P), timeout=60)
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        _, bad_request = details_of(bad.value)
        assert [v.field for v in bad_request.field_violations] == [f"also_formats[{len(twice) - 1}]"]
        assert "is asked for already" in bad_request.field_violations[0].description


async def test_a_reports_violation_names_the_business_system(month_run) -> None:  # type: ignore[no-untyped-def]
    w, month, _ = month_run
    page = (await _report(w, U, sup.REPORT_KIND_YEARLY, sup.REPORT_FORMAT_HTML, month.year,
                          department=U.code)).content.decode("utf-8")
    assert f"业务系统：{U.system_name}（{w.systems[U.key]}）" in page


async def test_yearly_report_of_the_platform(month_run) -> None:  # type: ignore[no-untyped-def]
    w, month, _ = month_run
    pdf = await _report(w, "authority", sup.REPORT_KIND_YEARLY, sup.REPORT_FORMAT_PDF, month.year)
    text = _pdf_text(pdf.content)
    assert f"{month.year}年度政务信息资源共享情况报告" in text and "报告对象：全平台" in text
    assert "五、部门评价" in text and f"{Q.name}（{Q.code}）" in text
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _report(w, P, sup.REPORT_KIND_YEARLY, sup.REPORT_FORMAT_HTML, month.year)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as other:
        await _report(w, U, sup.REPORT_KIND_YEARLY, sup.REPORT_FORMAT_HTML, month.year, department=P.code)
    assert other.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as unknown:  # the authority may ask of any code: it is named back
        await _report(w, "authority", sup.REPORT_KIND_YEARLY, sup.REPORT_FORMAT_HTML, month.year,
                      department="11110100MB9999999Y")
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    assert unknown.value.details() == "department '11110100MB9999999Y' not found"


async def test_a_yearly_report_naming_a_month_is_refused(month_run) -> None:  # type: ignore[no-untyped-def]
    """A month on a yearly report was ignored: the caller got the whole year back as if it were that month's."""
    w, month, _ = month_run
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await _report(w, P, sup.REPORT_KIND_YEARLY, sup.REPORT_FORMAT_HTML, month.year, month.month, P.code)
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    _, bad_request = details_of(bad.value)
    assert [v.field for v in bad_request.field_violations] == ["month"]


async def test_a_malformed_department_code_is_the_callers_slip_to_fix(month_run) -> None:  # type: ignore[no-untyped-def]
    """A department code that is no 统一社会信用代码 was answered as a department without violations (an empty list)
    or one the platform does not know (NOT_FOUND): the caller learnt nothing of the typo."""
    w, month, _ = month_run
    bad = P.code[:-1] + ("0" if P.code[-1] != "0" else "1")  # the check character broken
    calls = [
        w.supervision.ListViolations(sup.ListViolationsRequest(year=month.year, month=month.month,
                                                               department_code=bad), metadata=w.md("authority")),
        w.supervision.GetSnapshot(sup.GetSnapshotRequest(department_code="x", year=month.year, month=month.month),
                                  metadata=w.md("authority")),
        _report(w, "authority", sup.REPORT_KIND_YEARLY, sup.REPORT_FORMAT_HTML, month.year, department=bad),
        _report(w, "authority", sup.REPORT_KIND_MONTHLY_FEEDBACK, sup.REPORT_FORMAT_HTML, month.year, month.month,
                "1234"),
    ]
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()
        _, bad_request = details_of(refused.value)
        assert [v.field for v in bad_request.field_violations] == ["department_code"]
    with pytest.raises(grpc.aio.AioRpcError) as unnamed:
        await w.supervision.GetSnapshot(sup.GetSnapshotRequest(year=month.year, month=month.month),
                                        metadata=w.md("authority"))
    assert unnamed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    listed = await w.supervision.ListViolations(sup.ListViolationsRequest(
        year=month.year, month=month.month, department_code=P.code), metadata=w.md("authority"))
    assert listed.violations


async def test_a_department_the_platform_does_not_know_is_not_found_not_an_empty_list(  # type: ignore[no-untyped-def]
        month_run) -> None:
    """A well-formed code of no department (the check character right) listed no violations, as a department that
    broke no rule, and its snapshot was SNAPSHOT_NOT_FOUND, as if the month were not computed yet; the yearly
    report of the same code said DEPARTMENT_NOT_FOUND."""
    w, month, _ = month_run
    unknown = "11110100MB9999999Y"
    calls = [
        w.supervision.ListViolations(sup.ListViolationsRequest(year=month.year, month=month.month,
                                                               department_code=unknown), metadata=w.md("authority")),
        w.supervision.GetSnapshot(sup.GetSnapshotRequest(department_code=unknown, year=month.year, month=month.month),
                                  metadata=w.md("authority")),
    ]
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND, refused.value.details()
        assert _reason(refused.value) == "DEPARTMENT_NOT_FOUND"
        assert refused.value.details() == f"department '{unknown}' not found"
    # A known department's month not computed yet is still said so (2003-05: no test computes it; test_paging.py
    # stores 2001-01, which makes that month one the department had no part in).
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await w.supervision.GetSnapshot(sup.GetSnapshotRequest(department_code=P.code, year=2003, month=5),
                                        metadata=w.md("authority"))
    assert _reason(missing.value) == "SNAPSHOT_NOT_FOUND"


async def test_a_department_created_after_a_month_has_no_part_in_it(month_run) -> None:  # type: ignore[no-untyped-def]
    """The schedule recomputes last month all through this one: a department created this month was listed in
    last month's evaluations with 100 (nothing was due of it), which raised its mean in the yearly ranking."""
    w, month, _ = month_run
    newcomer = DemoDepartment("sup_new", "测试新设局", "新设系统", 904)
    await w.directory.CreateDepartment(directory_pb2.CreateDepartmentRequest(department=directory_pb2.Department(
        code=newcomer.code, name=newcomer.name, level=directory_pb2.ADMINISTRATIVE_LEVEL_MUNICIPAL,
        region_code=REGION)), metadata=w.md("authority"), timeout=10)
    previous = month.previous()
    await w.supervision.ComputeSnapshots(sup.ComputeSnapshotsRequest(year=previous.year, month=previous.month),
                                         metadata=w.md("authority"), timeout=120)
    listed = await w.supervision.ListEvaluations(sup.ListEvaluationsRequest(
        year=previous.year, month=previous.month, page_size=1000), metadata=w.md("authority"), timeout=10)
    assert newcomer.code not in [e.department_code for e in listed.evaluations]
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await w.supervision.GetSnapshot(sup.GetSnapshotRequest(
            department_code=newcomer.code, year=previous.year, month=previous.month), metadata=w.md("authority"))
    # Computed without it, for good: not SNAPSHOT_NOT_FOUND, which reads as "not computed yet" (the console said
    # 还没有评估结果（每月数据统计后生成） to its persons of every month before it joined).
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert _reason(missing.value) == "NOT_A_MONTH_OF_THE_DEPARTMENT" and "had not joined" in missing.value.details()
    # Nor its violations: an empty list read as "it broke no rule that month".
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await w.supervision.ListViolations(sup.ListViolationsRequest(
            department_code=newcomer.code, year=previous.year, month=previous.month), metadata=w.md("authority"))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert _reason(missing.value) == "NOT_A_MONTH_OF_THE_DEPARTMENT" and "had not joined" in missing.value.details()
    # This month, computed (by the fixture) before it was created, is not over: the next computation counts it.
    with pytest.raises(grpc.aio.AioRpcError) as pending:
        await w.supervision.GetSnapshot(sup.GetSnapshotRequest(
            department_code=newcomer.code, year=month.year, month=month.month), metadata=w.md("authority"))
    assert _reason(pending.value) == "SNAPSHOT_NOT_FOUND"
    # Its own month, the one it was created in, is evaluated (an empty snapshot: no activity yet).
    await w.supervision.ComputeSnapshots(sup.ComputeSnapshotsRequest(year=month.year, month=month.month),
                                         metadata=w.md("authority"), timeout=120)
    snapshot = await w.supervision.GetSnapshot(sup.GetSnapshotRequest(
        department_code=newcomer.code, year=month.year, month=month.month), metadata=w.md("authority"), timeout=10)
    assert snapshot.snapshot.department_code == newcomer.code


async def test_a_months_snapshots_keep_the_names_its_departments_had_once_it_ended(platform) -> None:  # type: ignore[no-untyped-def]
    """The schedule recomputes last month all through this one: a department renamed (or merged) on the 2nd was
    named by its new name in last month's reports from then on. A recomputation keeps a name read once the month
    had ended; one read before (the month in progress) is read again. A month of its own, removed after."""
    month, code = Month(2002, 2), "11110100MB0000009X"
    pool = await create_pool(platform.settings["supervision"].database_url, "supervision", min_size=1, max_size=2)
    store = SupervisionStore(pool)
    during, after, later = (month.start + dt.timedelta(days=3), month.end + dt.timedelta(minutes=5),
                            month.end + dt.timedelta(days=2))
    try:
        await store.replace_month(month, {code: Figures(code, [], "市民政局")}, [], during)
        await store.replace_month(month, {code: Figures(code, [], "市社会事务局")}, [], after)
        await store.replace_month(month, {code: Figures(code, [], "市社会服务局")}, [], later)
        found, computed = await store.snapshot(month, code) or (Figures(code), None)
        assert (found.name, computed) == ("市社会事务局", later)
        assert (await store.snapshots_between(month, month, code))[month][code].name == "市社会事务局"
    finally:
        async with pool.acquire() as conn:
            await conn.execute("DELETE FROM snapshots WHERE month = $1", month.first_day)
            await conn.execute("DELETE FROM computed_months WHERE month = $1", month.first_day)
        await pool.close()


async def test_a_computation_begun_before_the_one_stored_does_not_replace_it(platform) -> None:  # type: ignore[no-untyped-def]
    """Two computations of a month at once (the schedule's and an administrator's ComputeSnapshots), the slower
    begun first: stored last, the older figures replaced the newer, and the month's compute time went back (a month
    computed after its end read as computed before it, its reports 阶段性). The one begun first now changes nothing
    and says so. A month of its own, removed after."""
    month, code = Month(2002, 9), "11110100MB0000009X"
    pool = await create_pool(platform.settings["supervision"].database_url, "supervision", min_size=1, max_size=2)
    store = SupervisionStore(pool)
    first, second = month.end - dt.timedelta(minutes=1), month.end + dt.timedelta(minutes=1)
    newer = [FigureRow(code, "queries.made", "", 7)]
    try:
        stored = await store.replace_month(month, {code: Figures(code, newer, "市民政局")}, [], second)
        left = await store.replace_month(month, {code: Figures(code, [], "市民政局")}, [], first)
        found, computed = await store.snapshot(month, code) or (Figures(code), None)
        assert (found.total("queries.made"), computed) == (7, second)
        assert await store.compute_times(month, month) == {month: second}
        assert (stored, left) == (True, False)
        assert await store.replace_month(month, {code: Figures(code, [], "市民政局")}, [], second)  # the same time
    finally:
        async with pool.acquire() as conn:
            await conn.execute("DELETE FROM snapshots WHERE month = $1", month.first_day)
            await conn.execute("DELETE FROM computed_months WHERE month = $1", month.first_day)
        await pool.close()


async def test_a_month_over_keeps_the_records_its_departments_held_once_it_ended(platform) -> None:  # type: ignore[no-untyped-def]
    """The schedule recomputes last month all through this one, and the foundation service counts the records held
    when asked: a dataset left stale all through a month and refreshed on the 2nd of the next lost that month's
    DATA_UNUSABLE violation and its 数据更新及时率 at the next recomputation (the department undid its finding by
    acting after the month). A recomputation keeps the records counted once the month had ended; those counted
    while it was in progress are counted again. A month of its own, removed after."""
    month, code = Month(2002, 8), "11110100MB0000009X"
    pool = await create_pool(platform.settings["supervision"].database_url, "supervision", min_size=1, max_size=2)
    store = SupervisionStore(pool)
    now = month.start + dt.timedelta(days=3)
    sources = _Held({code: "市人口管理局"})
    supervision = Supervision(store, sources, clock=lambda: now)  # type: ignore[arg-type]

    def held(records: int, stale: int) -> None:
        sources.rows = [FigureRow(code, "datasets.records", dimension(dataset="population"), records),
                        FigureRow(code, "datasets.stale_records", dimension(dataset="population"), stale)]

    async def found() -> tuple[tuple[int, int], list[str]]:
        figures = (await store.snapshot(month, code) or (Figures(code), None))[0]
        freshness = next(i for i in evaluate(figures, {"freshness": 1.0}, 0).indicators if i.name == "freshness")
        listed = await store.violations(month, code, None, 10)
        return (freshness.numerator, freshness.denominator), [v.subject for v in listed]

    try:
        held(100, 10)
        await supervision.compute(service_caller("supervision"), month)  # in progress: counted again later
        now = month.end + dt.timedelta(hours=1)
        held(100, 40)
        await supervision.compute(service_caller("supervision"), month)
        assert await found() == ((60, 100), ["dataset:population"])
        now = month.end + dt.timedelta(days=2)
        held(120, 0)  # refreshed, and more loaded, after the month
        await supervision.compute(service_caller("supervision"), month)
        assert await found() == ((60, 100), ["dataset:population"])
    finally:
        async with pool.acquire() as conn:
            for table in ("snapshots", "violations", "computed_months"):
                await conn.execute(f"DELETE FROM {table} WHERE month = $1", month.first_day)
        await pool.close()


class _Held:
    """The figure sources as compute reads them, for a department of a test's own: the rows set last."""

    def __init__(self, names: dict[str, str]) -> None:
        self._names = names
        self.rows: list[FigureRow] = []

    async def gather(self, month: Month) -> list[FigureRow]:
        return list(self.rows)

    async def joined(self) -> dict[str, Membership]:
        return {code: Membership(name, dt.datetime(2000, 1, 1, tzinfo=dt.UTC)) for code, name in self._names.items()}


class _Directory:
    """The sources a month's reading and reports ask of the directory, for a department of a test's own."""

    def __init__(self, names: dict[str, str]) -> None:
        self._names = names

    async def departments(self) -> dict[str, str]:
        return self._names

    async def joined(self) -> dict[str, Membership]:
        return {code: Membership(name, dt.datetime(2000, 1, 1, tzinfo=dt.UTC)) for code, name in self._names.items()}

    async def systems(self) -> dict[str, str]:
        return {}


async def test_a_change_of_the_weights_leaves_the_months_before_as_they_were_evaluated(platform) -> None:  # type: ignore[no-untyped-def]
    """A month's evaluation was scored under today's weights: the authority changing them in June rewrote April's
    published score and ranking (80.00 read 100.00 after catalog_on_time was set to 0). A change applies from the
    month it is made in; the months before keep the weights they were evaluated with, and the reports say which
    weights each month used. Months of their own, removed after (and the weights set back)."""
    april, june, code = Month(2002, 4), Month(2002, 6), "11110100MB00000115"
    pool = await create_pool(platform.settings["supervision"].database_url, "supervision", min_size=1, max_size=2)
    store = SupervisionStore(pool)
    now = june.start + dt.timedelta(days=9)
    supervision = Supervision(store, _Directory({code: "市民政局"}), clock=lambda: now)  # type: ignore[arg-type]
    authority = Caller("psn-weights-test", code, authority=True, display_name="测试管理员",
                       roles=(ADMINISTRATOR, REVIEWER))
    overdue = [FigureRow(code, "catalog.updates_due", "", 1)]
    before = await pool.fetchval("SELECT weight FROM evaluation_weights WHERE indicator = 'catalog_on_time'")
    try:
        for month in (april, june):
            await store.replace_month(month, {code: Figures(code, overdue, "市民政局")}, [], month.end)
        assert (await supervision.snapshot(authority, code, april))[2].score == 80.0
        await supervision.update_weights(authority, [("catalog_on_time", 0.0)])

        assert (await supervision.snapshot(authority, code, april))[2].score == 80.0
        assert [e.score for e in (await supervision.evaluations(authority, april, "", 10))[0]
                if e.department_code == code] == [80.0]
        assert (await supervision.snapshot(authority, code, june))[2].score == 100.0
        assert (await supervision.weights(authority))["catalog_on_time"] == 0.0
        report = await supervision.yearly_report(authority, 2002, code)
        trend = next(b for b in report.blocks if isinstance(b, Table) and b.header[0] == "月份")
        assert [(row[0], row[3]) for row in trend.rows if row[3] != "—"] == [("4月", "80.00"), ("6月", "100.00")]
        said = [b.text for b in report.blocks if isinstance(b, Paragraph) and "权重" in b.text]
        assert said == ["评分按各月适用的评价权重计算，期间权重有调整：4月为目录更新按时率20、申请答复按时率20、"
                        "疑义答复按时率15、服务可用率15、数据更新及时率15、按授权用途使用率15；6月为目录更新按时率0、"
                        "申请答复按时率20、疑义答复按时率15、服务可用率15、数据更新及时率15、按授权用途使用率15。"
                        "权重合计不为100：评分为各指标比率按权重的加权平均，折算为百分制（100 × Σ权重×比率 ÷ Σ权重）。"]
    finally:
        async with pool.acquire() as conn:
            for table in ("snapshots", "computed_months"):
                await conn.execute(f"DELETE FROM {table} WHERE month = ANY($1::date[])",
                                   [april.first_day, june.first_day])
            if await conn.fetchval("SELECT to_regclass('evaluation_weight_months') IS NOT NULL"):
                await conn.execute("DELETE FROM evaluation_weight_months WHERE month = $1", june.first_day)
            await conn.execute("UPDATE evaluation_weights SET weight = $1 WHERE indicator = 'catalog_on_time'", before)
        await pool.close()


async def test_a_report_is_one_reading_of_a_months_computation(platform, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A report read the month's snapshots, then its violations and compute time, each on its own: a computation
    stored in between (the schedule's, every few minutes under `govshare up`) gave the yearly report one
    computation's figures beside the next one's violations, and the monthly feedback of a month computed before its
    end those figures without saying they stop there. Here a computation is stored right after the report has read
    the snapshots; the report is the earlier computation's, whole. A month of its own."""
    month, code = Month(2002, 10), "11110100MB00000115"
    pool = await create_pool(platform.settings["supervision"].database_url, "supervision", min_size=1, max_size=2)
    store = SupervisionStore(pool)
    supervision = Supervision(store, _Directory({code: "市民政局"}), clock=lambda: month.end + dt.timedelta(days=9))  # type: ignore[arg-type]
    authority = Caller("psn-reading-test", code, authority=True, display_name="测试审计员", roles=(AUDITOR,))

    async def compute(served: int, dataset: str, at: dt.datetime) -> None:
        assert await store.replace_month(
            month, {code: Figures(code, [FigureRow(code, "queries.served", "", served)], "市民政局")},
            [Violation(code, month, sup.VIOLATION_RULE_DATA_UNUSABLE, f"dataset:{dataset}",
                       {"dataset": dataset, "stale_records": "1", "records": "1"})], at)

    read = SupervisionStore.snapshots_between
    meanwhile: list[tuple[int, str, dt.datetime]] = []

    async def then_computed(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        found = await read(self, *args, **kwargs)
        await compute(*meanwhile.pop())
        return found

    monkeypatch.setattr(SupervisionStore, "snapshots_between", then_computed)
    try:
        await compute(5, "population", month.end + dt.timedelta(days=1))
        meanwhile.append((7, "licence", month.end + dt.timedelta(days=2)))
        yearly = await supervision.yearly_report(authority, 2002, code)
        trend = next(b for b in yearly.blocks if isinstance(b, Table) and b.header[0] == "月份")
        assert [row[1] for row in trend.rows if row[1] != "—"] == ["5"]
        violations = next(b for b in yearly.blocks[yearly.blocks.index(next(
            b for b in yearly.blocks if getattr(b, "text", "") == "五、违规情况")):] if isinstance(b, Table))
        assert [row[4] for row in violations.rows] == ["数据集：population"]

        async with pool.acquire() as conn:
            await conn.execute("DELETE FROM computed_months WHERE month = $1", month.first_day)
        await compute(5, "population", month.end - dt.timedelta(days=1))  # before the month's end
        meanwhile.append((7, "licence", month.end + dt.timedelta(days=3)))
        said = [b.text for b in (await supervision.monthly_feedback(authority, month, code)).blocks
                if isinstance(b, Paragraph)]
        assert any("早于月末" in text for text in said), said
        assert not meanwhile
    finally:
        async with pool.acquire() as conn:
            for table in ("snapshots", "violations", "computed_months"):
                await conn.execute(f"DELETE FROM {table} WHERE month = $1", month.first_day)
        await pool.close()


async def test_a_page_of_evaluations_and_a_snapshot_are_one_reading_of_a_months_computation(  # type: ignore[no-untyped-def]
        platform, monkeypatch) -> None:
    """ListEvaluations read the month's compute time, its snapshots and their violations' counts each on its own: a
    computation stored in between gave the 监督 page a department's score beside the next computation's count of
    violations, under the earlier one's time (阶段性, the month computed before its end, when it no longer was);
    GetSnapshot read the figures and then the count the same way. A month of its own."""
    month, code = Month(2002, 11), "11110100MB00000115"
    pool = await create_pool(platform.settings["supervision"].database_url, "supervision", min_size=1, max_size=2)
    store = SupervisionStore(pool)
    supervision = Supervision(store, _Directory({code: "市民政局"}), clock=lambda: month.end + dt.timedelta(days=9))  # type: ignore[arg-type]
    authority = Caller("psn-reading-test", code, authority=True, display_name="测试审计员", roles=(AUDITOR,))
    found = Violation(code, month, sup.VIOLATION_RULE_DATA_UNUSABLE, "dataset:population",
                      {"dataset": "population", "stale_records": "1", "records": "1"})
    listed = SupervisionStore.snapshots

    async def then_computed(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        read = await listed(self, *args, **kwargs)
        assert await store.replace_month(month, {code: Figures(code, [], "市民政局")}, [found, replace(
            found, subject="dataset:licence")], month.end + dt.timedelta(days=1))
        return read

    monkeypatch.setattr(SupervisionStore, "snapshots", then_computed)
    one = SupervisionStore.snapshot

    async def then_computed_again(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        read = await one(self, *args, **kwargs)
        assert await store.replace_month(month, {code: Figures(code, [], "市民政局")}, [found, replace(
            found, subject="dataset:licence")], month.end + dt.timedelta(days=2))
        return read

    monkeypatch.setattr(SupervisionStore, "snapshot", then_computed_again)
    try:
        assert await store.replace_month(month, {code: Figures(code, [], "市民政局")}, [],
                                         month.end - dt.timedelta(days=1))
        evaluations, computed = await supervision.evaluations(authority, month, "", 10)
        assert [(e.department_code, e.violations) for e in evaluations] == [(code, 0)]
        assert computed == month.end - dt.timedelta(days=1)
        async with pool.acquire() as conn:
            await conn.execute("DELETE FROM violations WHERE month = $1", month.first_day)
        _, computed, evaluation = await supervision.snapshot(authority, code, month)
        assert (computed, evaluation.violations) == (month.end + dt.timedelta(days=1), 0)
    finally:
        async with pool.acquire() as conn:
            for table in ("snapshots", "violations", "computed_months"):
                await conn.execute(f"DELETE FROM {table} WHERE month = $1", month.first_day)
        await pool.close()


async def test_a_reports_snapshots_come_without_the_figures_no_report_reads(platform) -> None:  # type: ignore[no-untyped-def]
    """A report's year of snapshots was read whole: each system's calls of every day (burst detection's history,
    most of a snapshot's rows under a large audit trail) were sent and parsed for nothing (108 MB of 16.5 at 250
    departments). They are left out, the rest in order, of one department or of all. A month of its own."""
    month, codes = Month(2002, 3), ["11110100MB0000009X", "11110100MB0000010P"]
    pool = await create_pool(platform.settings["supervision"].database_url, "supervision", min_size=1, max_size=2)
    store = SupervisionStore(pool)
    rows = [FigureRow(codes[0], "queries.made", "", 4),
            FigureRow(codes[0], "queries.system_daily", "day=2002-03-01&system=sys-1", 4),
            FigureRow(codes[0], "queries.served_to", "department=x&purpose=p&resource=r&result=ANSWERED", 4)]
    try:
        await store.replace_month(month, {codes[0]: Figures(codes[0], rows), codes[1]: Figures(codes[1])}, [],
                                  month.end)
        every = await store.snapshots_between(month, month, None, UNREAD)
        assert sorted(every[month]) == codes
        assert every[month][codes[0]].rows == [rows[0], rows[2]]
        assert (await store.snapshots_between(month, month, codes[0]))[month][codes[0]].rows == rows
        assert list((await store.snapshots_between(month, month, codes[1], UNREAD))[month]) == [codes[1]]
    finally:
        async with pool.acquire() as conn:
            await conn.execute("DELETE FROM snapshots WHERE month = $1", month.first_day)
            await conn.execute("DELETE FROM computed_months WHERE month = $1", month.first_day)
        await pool.close()


async def test_monthly_feedback_tells_the_provider_who_used_what(month_run) -> None:  # type: ignore[no-untyped-def]
    w, month, _ = month_run
    html = (await _report(w, P, sup.REPORT_KIND_MONTHLY_FEEDBACK, sup.REPORT_FORMAT_HTML, month.year, month.month,
                          P.code)).content.decode("utf-8")
    row = (f"<tr><td>{R1}</td><td>{U.name}（{U.code}）</td><td>行政依据</td><td class=\"n\">3</td>"
           f"<td class=\"n\">0</td><td class=\"n\">0</td></tr>")
    assert row in html
    assert (f"<tr><td>{R1}</td><td>{U.name}（{U.code}）</td><td>工作参考</td><td class=\"n\">0</td>"
            f"<td class=\"n\">2</td><td class=\"n\">0</td></tr>") in html
    assert (f"<tr><td>{R2}</td><td>{U.name}（{U.code}）</td><td>行政依据</td><td class=\"n\">0</td>"
            f"<td class=\"n\">0</td><td class=\"n\">3</td></tr>") in html
    assert f"<tr><td>{R1}</td><td>{U.name}（{U.code}）</td><td class=\"n\">2</td></tr>" in html

    pdf = await _report(w, P, sup.REPORT_KIND_MONTHLY_FEEDBACK, sup.REPORT_FORMAT_PDF, month.year, month.month,
                        P.code)
    assert pdf.file_name == f"feedback-{month.label()}-{P.code}.pdf"
    text = _pdf_text(pdf.content)
    for expected in (f"{month.year}年{month.month}月共享信息使用情况反馈", f"致：{P.name}（{P.code}）",
                     "资源被调用次数8", "使用部门数1", "其中已应答3", "其中拒绝2", "其中失败3", "收到疑义数据2",
                     "各使用部门调用次数", "调用用途分布", "三、疑义数据"):
        assert expected in text, expected
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _report(w, U, sup.REPORT_KIND_MONTHLY_FEEDBACK, sup.REPORT_FORMAT_PDF, month.year, month.month,
                      P.code)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await _report(w, P, sup.REPORT_KIND_MONTHLY_FEEDBACK, 0, month.year, 13, P.code)
    _, bad_request = details_of(bad.value)
    assert {v.field for v in bad_request.field_violations} == {"format"}


async def test_govshare_report_writes_html_and_pdf(month_run, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The command a department's officer runs: the same RPC, files on disk."""
    w, month, _ = month_run
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli", "report", "yearly", "--year", str(month.year),
        "--department", P.code, "--out", str(tmp_path), "--gateway", w.platform.gateway,
        "--system-id", w.systems[P.key], "--secret", w.secrets[P.key],
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == [f"yearly-{month.year}-{P.code}.html", f"yearly-{month.year}-{P.code}.pdf"]
    assert "资源被调用次数8" in _pdf_text((tmp_path / files[1]).read_bytes())
    # Both files of one reading (one GenerateReport call): the same generation time.
    generated = re.search(r"生成时间：([0-9-]+ [0-9:]+)", (tmp_path / files[0]).read_text("utf-8"))
    assert generated is not None
    assert ("生成时间：" + generated.group(1).replace(" ", "")
            in _pdf_text((tmp_path / files[1]).read_bytes()).replace(" ", ""))


async def test_an_edge_without_supervision_serves_the_rest(platform, base_settings) -> None:  # type: ignore[no-untyped-def]
    """Supervision is optional behind the edge (a deployment that has not added it keeps working): Envoy answers
    its methods UNAVAILABLE itself, saying the service is not deployed, and routes everything else."""
    from conftest import start_edge

    without = {name: server for name, server in platform.servers.items() if name != "supervision"}
    edge = await start_edge(base_settings, without)
    try:
        async with grpc.aio.insecure_channel(edge.address) as channel:
            md = platform.metadata("authority")
            with pytest.raises(grpc.aio.AioRpcError) as missing:
                await supervision_pb2_grpc.SupervisionServiceStub(channel).GetEvaluationWeights(
                    sup.GetEvaluationWeightsRequest(), metadata=md, timeout=10)
            assert missing.value.code() == grpc.StatusCode.UNAVAILABLE
            assert missing.value.details() == ("govshare.supervision.v1.SupervisionService is not deployed here "
                                               "(GOVSHARE_SUPERVISION_TARGET is not set)")
            listed = await directory_pb2_grpc.DirectoryServiceStub(channel).ListDepartments(
                directory_pb2.ListDepartmentsRequest(), metadata=md, timeout=10)
            assert listed.departments
    finally:
        edge.stop()
