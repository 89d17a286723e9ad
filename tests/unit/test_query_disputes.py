"""Dispute rules: visibility, who answers, overdue, and the in-process open-dispute flags."""

from __future__ import annotations

import datetime as dt

from govshare.catalog.v1 import catalog_pb2
from govshare.common.v1 import common_pb2
from services.query import disputes
from services.query.disputes import OpenDisputes, new_dispute, report_violations
from services.query.resources import Resource
from services.runtime.errors import unavailable
from services.runtime.identity import Caller

PROVIDER = "11100000000013127D"
REPORTER = "91110000600037341L"


def resource() -> Resource:
    entry = catalog_pb2.Entry(
        code="101001/000001", provider_department_code=PROVIDER, key_item="citizen_id",
        state=catalog_pb2.ENTRY_STATE_PUBLISHED, zone=common_pb2.ZONE_EXTRANET,
        endpoint=catalog_pb2.ProviderEndpoint(dataset="population"),
        items=[catalog_pb2.DataItem(machine_name="citizen_id", identifier=catalog_pb2.IDENTIFIER_KIND_CITIZEN_ID),
               catalog_pb2.DataItem(machine_name="name")])
    return Resource.of(entry, "extranet", "foundation:1")


def test_a_report_is_validated_field_by_field() -> None:
    fields = {v.field for v in report_violations(resource(), "123", "height", "", "x" * 5000)}
    assert fields == {"dispute.key", "dispute.item", "dispute.claimed_value", "dispute.evidence"}
    assert report_violations(resource(), "11010519491231002X", "name", "张三", "户口簿") == []


def test_a_reports_item_written_in_camel_case_or_by_its_catalog_name_is_refused_naming_the_machine_name() -> None:
    """ReportDispute refused "citizenId" (as a Java or .NET JSON library writes a field) and "姓名" (the name the
    catalog shows) with "'citizenId' is not an item of 101001/000001" only, where Query, BatchQuery and Verify name
    the machine name meant; a long item was repeated whole. It is the query path's refusal now."""
    entry = resource().entry
    entry.items[1].name = "姓名"
    meant = Resource.of(entry, "extranet", "foundation:1")
    hint = ": items are named by their machine name, here "
    for item, machine_name in (("citizenId", "citizen_id"), ("姓名", "name")):
        [violation] = report_violations(meant, "11010519491231002X", item, "张三", "户口簿")
        assert (violation.field, violation.description) == (
            "dispute.item", f"'{item}' is not an item of 101001/000001{hint}'{machine_name}'")
    [violation] = report_violations(meant, "11010519491231002X", "x" * 1000, "张三", "户口簿")
    assert violation.description == f"'{'x' * 64}…' is not an item of 101001/000001"


def test_a_claimed_value_holding_a_character_nobody_sees_is_refused_as_a_verify_claim_is() -> None:
    """A dispute claimed "2\u200b00" for 注册资本 (a zero-width space copied with it from a web page) or a name
    ending in a right-to-left override, and was stored so: the provider read 200 on one line and could correct its
    record to a value holding the invisible character, where Verify refuses such a claim. It is refused naming the
    character and where; a full-width space is text, and the evidence may take lines."""
    for value, said in (("2\u200b00", "character 2 is U+200B (ZERO WIDTH SPACE): remove it"),
                        ("张三\u202e", "character 3 is U+202E (RIGHT-TO-LEFT OVERRIDE): remove it"),
                        ("张\n三", "character 2 is U+000A (a control character): write it on one line")):
        [violation] = report_violations(resource(), "11010519491231002X", "name", value, "户口簿")
        assert (violation.field, violation.description) == ("dispute.claimed_value", said)
    assert report_violations(resource(), "11010519491231002X", "name", "张\u3000三", "户口簿\n第2页") == []


def test_a_new_dispute_is_open_due_in_working_days_and_normalised() -> None:
    now = dt.datetime(2024, 9, 27, 10, 0, tzinfo=dt.UTC)  # a Friday before the National Day holiday
    d = new_dispute(resource(), Caller("sys-r", REPORTER), "11010519491231002x", "name", "张三", "", now, 5)
    assert d.state == disputes.OPEN and d.key == "11010519491231002X"
    assert d.provider_department_code == PROVIDER and d.reporter_department_code == REPORTER
    # 9-29 (a 调休 Sunday) and 9-30 count, 10-1..10-7 do not: the fifth working day is 10-10.
    assert d.due_time.date() == dt.date(2024, 10, 10)
    assert not d.overdue(now)
    assert d.overdue(d.due_time + dt.timedelta(seconds=1))


def test_visibility_and_who_answers() -> None:
    d = new_dispute(resource(), Caller("sys-r", REPORTER), "11010519491231002X", "name", "张三", "",
                    dt.datetime.now(dt.UTC), 5)
    reporter, provider = Caller("sys-r", REPORTER), Caller("sys-p", PROVIDER)
    other, authority = Caller("sys-o", "12100000000000000X"), Caller("sys-a", "11100000000000000X", True)
    assert d.visible_to(reporter) and d.visible_to(provider) and d.visible_to(authority)
    assert not d.visible_to(other)
    assert d.answerable_by(provider) and not d.answerable_by(authority)
    assert not d.answerable_by(reporter)


def test_open_disputes_follow_events() -> None:
    flags = OpenDisputes()
    flags.on_event({"resource_code": "101001/000001", "key": "K", "open": True})
    assert ("101001/000001", "K") in flags
    flags.on_event({"resource_code": "101001/000001", "key": "K", "open": False})
    assert ("101001/000001", "K") not in flags
    flags.on_event({"resource_code": 5, "key": None, "open": True})  # malformed events are ignored
    assert len(flags) == 0


def test_events_during_a_reload_are_replayed_over_the_snapshot() -> None:
    flags = OpenDisputes()
    flags.begin_load()
    flags.on_event({"resource_code": "R", "key": "closed-meanwhile", "open": False})
    flags.on_event({"resource_code": "R", "key": "opened-meanwhile", "open": True})
    flags.finish_load([("R", "closed-meanwhile"), ("R", "old")])
    assert ("R", "closed-meanwhile") not in flags
    assert ("R", "opened-meanwhile") in flags and ("R", "old") in flags


def _over(code: str, dataset: str, target: str = "") -> Resource:
    entry = catalog_pb2.Entry(code=code, provider_department_code=PROVIDER, key_item="credit_code",
                              endpoint=catalog_pb2.ProviderEndpoint(dataset=dataset, target=target))
    return Resource.of(entry, "extranet", "foundation:1")


async def test_a_record_is_flagged_through_every_resource_over_its_dataset() -> None:
    views = {r.code: r for r in (_over("102001/000001", "legal_entity"), _over("201001/000001", "legal_entity"),
                                 _over("109001/000001", "other"), _over("110001/000001", "legal_entity", "fp:1"))}

    async def resolve(code: str) -> Resource | None:
        if code == "999999/000001":
            raise unavailable("CATALOG_UNAVAILABLE", "down")
        return views.get(code)

    flags = OpenDisputes()
    flags.finish_load([("102001/000001", "K"), ("999999/000001", "L")])  # after a reload, as after an event

    async def flagged(code: str) -> set[str]:
        return await disputes.disputed_keys(flags, resolve, views[code], ["K", "L", "M"])

    assert await flagged("102001/000001") == {"K"}
    assert await flagged("201001/000001") == {"K"}  # the same dataset at the same endpoint: the same record
    assert await flagged("109001/000001") == set()  # another dataset
    assert await flagged("110001/000001") == set()  # the same dataset name at another endpoint
    flags.mark("102001/000001", "K", False)
    assert await flagged("201001/000001") == set() and flags.resources_of("K") == frozenset()


def test_a_dispute_due_in_a_year_without_a_published_calendar_is_marked_provisional() -> None:
    from services.query.dispute_servicer import to_proto

    reporter = Caller("sys-r", REPORTER)
    known = new_dispute(resource(), reporter, "11010519491231002X", "name", "张三", "",
                        dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC), 5)
    beyond = new_dispute(resource(), reporter, "11010519491231002X", "name", "张三", "",
                         dt.datetime(2099, 1, 5, 9, 0, tzinfo=dt.UTC), 5)
    assert not to_proto(known, known.create_time).due_time_provisional
    assert to_proto(beyond, beyond.create_time).due_time_provisional


def test_an_answer_must_say_what_was_found() -> None:
    assert disputes.answer_violations("已核实，户籍信息无误") == []
    for answer in ("", "  ", "。", "-", "\u200b\u200b"):
        assert [v.field for v in disputes.answer_violations(answer)] == ["answer"], answer
