"""The pure rules of applications and grants: reply deadlines on the statutory calendar, narrowing
only (never widening), the draft checks and grant adjustments (R-APP-1, R-APP-2, R-APP-4)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from govshare.catalog.v1 import catalog_pb2 as cat
from govshare.common.v1 import common_pb2 as common
from services.authorization import applications as apps
from services.authorization.applications import Application, Draft, Terms
from services.authorization.grants import Grant, GrantUpdate, change_note, changes
from services.authorization.sharing import Sharing
from services.runtime.workdays import CHINA

ONLINE = common.SHARE_METHOD_ONLINE_QUERY
DOWNLOAD = common.SHARE_METHOD_BATCH_DOWNLOAD
ADMIN = common.PURPOSE_TYPE_ADMINISTRATIVE_BASIS
WORK = common.PURPOSE_TYPE_WORK_REFERENCE
NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def _beijing(year: int, month: int, day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=CHINA)


def _end_of(year: int, month: int, day: int) -> dt.datetime:
    return dt.datetime.combine(dt.date(year, month, day), dt.time.max, tzinfo=CHINA)


# Reply deadlines (R-APP-2): 10 working days, not counting the day of submission, on the statutory calendar.

def test_due_date_skips_national_day_and_counts_the_adjusted_saturday() -> None:
    # Submitted Tue 29 Sep 2026. Working days: 30 Sep, then 1-7 Oct are holidays, 8 and 9 Oct, Sat 10 Oct (调休),
    # 12-16 Oct, and the tenth is Mon 19 Oct.
    assert apps.reply_due(_beijing(2026, 9, 29), 10) == _end_of(2026, 10, 19)


def test_due_date_counts_the_adjusted_sunday_before_mid_autumn() -> None:
    # Submitted Fri 18 Sep 2026: Sun 20 Sep is a working day (调休), Fri 25 Sep (中秋) is not.
    # 20, 21, 22, 23, 24, 28, 29, 30 Sep, 8, 9 Oct.
    assert apps.reply_due(_beijing(2026, 9, 18), 10) == _end_of(2026, 10, 9)


def test_due_date_from_a_submission_during_the_holiday() -> None:
    # Submitted on National Day itself: the count starts on 8 Oct.
    assert apps.reply_due(_beijing(2026, 10, 1), 3) == _end_of(2026, 10, 10)


def test_due_date_is_configurable() -> None:
    assert apps.reply_due(_beijing(2026, 9, 29), 15) == _end_of(2026, 10, 26)


def test_a_reply_in_the_last_second_of_its_due_day_is_on_time() -> None:
    """The deadline was 23:59:59.000 of the due day: a reply at 23:59:59.5 was overdue and counted late."""
    due = apps.reply_due(_beijing(2026, 9, 29), 10)
    last_second = dt.datetime(2026, 10, 19, 23, 59, 59, 500_000, tzinfo=CHINA)
    assert last_second <= due < dt.datetime(2026, 10, 20, tzinfo=CHINA)
    application = dataclasses.replace(_application(), reply_due_time=due)
    assert not application.overdue(last_second) and application.overdue(dt.datetime(2026, 10, 20, tzinfo=CHINA))


def test_due_date_uses_the_beijing_day_of_a_late_utc_submission() -> None:
    # 17:30 UTC on Mon 28 Sep is already Tue 29 Sep in Beijing.
    late = dt.datetime(2026, 9, 28, 17, 30, tzinfo=dt.UTC)
    assert apps.reply_due(late, 10) == _end_of(2026, 10, 19)


def _application(**changes: object) -> Application:
    fields: dict[str, object] = dict(
        id="app-" + "a" * 32, applicant_department_code="A", provider_department_code="P",
        resource_code="101001/000001", system_ids=(), items=("name", "birth_date", "address"),
        purposes=(ADMIN, WORK), purpose_text="", basis="法定职责", requested_expire_time=NOW + dt.timedelta(days=90),
        methods=(ONLINE,), quota=1000, state=apps.SUBMITTED, reply_due_time=NOW + dt.timedelta(days=14),
        create_time=NOW)
    fields.update(changes)
    return Application(**fields)  # type: ignore[arg-type]


def test_overdue_only_while_unanswered_past_the_due_time() -> None:
    application = _application()
    assert not application.overdue(NOW)
    assert application.overdue(NOW + dt.timedelta(days=15))
    assert not _application(state=apps.REFUSED).overdue(NOW + dt.timedelta(days=15))


# Narrowing (R-APP-2): fewer items, a shorter period, a lower quota, fewer purposes; never more.

def test_approval_without_terms_grants_the_request() -> None:
    scope = apps.narrow(_application(), Terms(), NOW)
    assert not scope.problems
    assert scope.items == ("name", "birth_date", "address")
    assert scope.purposes == (ADMIN, WORK) and scope.quota == 1000
    assert scope.expire_time == NOW + dt.timedelta(days=90)


def test_approval_narrows() -> None:
    terms = Terms(items=("name", "address"), unmasked_items=("address",), expire_time=NOW + dt.timedelta(days=30),
                  quota=10, purposes=(ADMIN,))
    scope = apps.narrow(_application(), terms, NOW)
    assert not scope.problems
    assert (scope.items, scope.unmasked_items, scope.purposes, scope.quota) == (
        ("name", "address"), ("address",), (ADMIN,), 10)
    assert scope.expire_time == NOW + dt.timedelta(days=30)


def test_approval_never_widens_and_names_every_field() -> None:
    terms = Terms(items=("name", "status"), unmasked_items=("birth_date",),
                  expire_time=NOW + dt.timedelta(days=365), quota=5000,
                  purposes=(common.PURPOSE_TYPE_DATA_VERIFICATION,))
    scope = apps.narrow(_application(), terms, NOW)
    assert {p.field for p in scope.problems} == {"items[1]", "unmasked_items[0]", "expire_time", "quota",
                                                 "purposes[0]"}


def test_a_quota_is_a_narrowing_of_an_unlimited_request() -> None:
    assert not apps.narrow(_application(quota=0), Terms(quota=50), NOW).problems


def test_approval_after_the_requested_period_ended_is_refused() -> None:
    late = _application(requested_expire_time=NOW - dt.timedelta(days=1))
    assert [p.field for p in apps.narrow(late, Terms(), NOW).problems] == ["expire_time"]


def test_an_application_whose_term_has_ended_is_to_be_refused_whatever_end_is_chosen() -> None:
    """Approving an application whose requested term ended while it waited was refused "is already past" (the
    console: 已经过去，请填写今天以后的日期。), and the later date the approver then chose "is later than requested"
    (不能晚于申请的期限。): no date could pass, and neither said that the application can only be refused."""
    from console.errors import field_sentence

    late = _application(requested_expire_time=_end_of(2026, 2, 27))
    for terms in (Terms(), Terms(expire_time=NOW + dt.timedelta(days=30)), Terms(expire_time=NOW - dt.timedelta(1))):
        problems = apps.narrow(late, terms, NOW).problems
        assert [p.field for p in problems] == ["expire_time"]
        assert field_sentence(problems[0].description) == \
            "申请的有效期（至 2026-02-27）已过，不能再同意或准予：请选择不予共享并说明理由，使用部门可重新申请。"
    # An application still in its term, given an end already past: a later end, within the request, will do.
    typed = apps.narrow(_application(), Terms(expire_time=NOW - dt.timedelta(days=1)), NOW).problems
    assert field_sentence(typed[0].description) == \
        "所填的有效期截止日期已经过去：请填写今天至 2026-05-31 17:00:00（申请的有效期）之间的日期。"
    assert "refuse" not in typed[0].description


def test_basic_items_alone_are_refused_in_whole_words_and_said_in_chinese_on_the_console() -> None:
    """A grant of a foundation resource's basic items alone gives nothing (R-SHR-4). Said with nothing else to
    grant or unmask, the service's text read "gives nothing; , or refuse"; and 答复, 协调 and 授权 showed it in
    English, offering unmasking, which the console cannot do. Both now say what to do."""
    from console.errors import field_sentence

    entry = cat.Entry(code="101001/000009", category=cat.CATEGORY_FOUNDATION, items=[
        cat.DataItem(machine_name="citizen_id", basic=True, sensitive=True),
        cat.DataItem(machine_name="code", basic=True), cat.DataItem(machine_name="status")])
    said = apps.basic_only_problems(("citizen_id",), (), entry, ("citizen_id", "status"))
    assert [(p.field, p.description) for p in said] == [("items", (
        "citizen_id is a basic item, which every department gets without a grant (R-SHR-4): granting only it gives "
        "nothing; also grant status, or unmask citizen_id (unmasked_items), or refuse"))]
    assert field_sentence(said[0].description) == ("citizen_id 是基础信息项，各部门无需授权即可使用：只授予这些信息项，"
                                                   "等于什么也没有授权。请同时勾选申请的其他信息项（status），或填写理由后点击"
                                                   "“不予共享”。")
    assert not apps.basic_only_problems(("citizen_id",), ("citizen_id",), entry, ("citizen_id",))  # unmasked: serves
    assert not apps.basic_only_problems(("code", "status"), (), entry, ("code", "status"))
    alone = apps.basic_only_problems(("code",), (), entry, ("code",), "grant.items", "revoke the grant")
    assert [p.description for p in alone] == ["code is a basic item, which every department gets without a grant "
                                              "(R-SHR-4): granting only it gives nothing; revoke the grant"]
    assert field_sentence(alone[0].description).endswith("等于什么也没有授权。请撤销授权。")
    draft = Draft(applicant_department_code="", resource_code=entry.code, items=("code",), methods=())
    asked = apps.entry_problems(draft, entry)
    assert [p.field for p in asked] == ["application.items"]
    assert field_sentence(asked[0].description) == (
        "code 是基础信息项，各部门无需授权即可直接查询（不脱敏），无需申请；请只申请业务确需的其他信息项。")
    assert not apps.entry_problems(dataclasses.replace(draft, items=("code", "citizen_id")), entry)


def test_an_end_later_than_requested_is_refused_naming_the_requested_end() -> None:
    """The 答复 form refused shows the date typed: 不能晚于申请的有效期。 left the approver to guess the latest date
    allowed (the requested one, shown nowhere on the refused form), and the service's own text gave it in UTC ISO
    form, eight hours early for a Beijing reader."""
    from console.errors import field_sentence

    application = _application(requested_expire_time=_end_of(2026, 12, 31))
    problems = apps.narrow(application, Terms(expire_time=_end_of(2027, 1, 1)), NOW).problems
    assert [p.field for p in problems] == ["expire_time"]
    assert "requested until 2026-12-31" in problems[0].description
    assert field_sentence(problems[0].description) == \
        "不能晚于申请的有效期（至 2026-12-31）：同意或准予时只能缩短有效期，请填写该日或之前的日期。"


# Drafts (R-APP-1).

def _entry() -> cat.Entry:
    return cat.Entry(code="101001/000001", items=[cat.DataItem(machine_name=n) for n in ("name", "birth_date")],
                     share_type=common.SHARE_TYPE_CONDITIONAL, share_methods=[ONLINE])


def test_a_complete_draft_has_no_problems() -> None:
    draft = Draft(applicant_department_code="", resource_code="101001/000001", items=("name",), purposes=(ADMIN,),
                  basis="《社会救助暂行办法》", requested_expire_time=NOW + dt.timedelta(days=1), methods=(ONLINE,))
    assert apps.draft_problems(draft, NOW) == []
    assert apps.entry_problems(draft, _entry()) == []


def test_every_problem_of_a_draft_is_named() -> None:
    draft = Draft(applicant_department_code="", resource_code="人口", items=("Name", "name", "name"),
                  purposes=(common.PURPOSE_TYPE_UNSPECIFIED,), basis=" ", requested_expire_time=NOW,
                  methods=(), quota=-1, system_ids=("nope",), purpose_text="\x00")
    fields = {p.field for p in apps.draft_problems(draft, NOW)}
    assert fields == {"application.resource_code", "application.items[0]", "application.items[2]",
                      "application.purposes[0]", "application.basis", "application.requested_expire_time",
                      "application.methods", "application.quota", "application.system_ids[0]",
                      "application.purpose_text"}


def test_draft_items_and_methods_must_be_the_entrys() -> None:
    draft = Draft(applicant_department_code="", resource_code="101001/000001", items=("name", "salary"),
                  methods=(ONLINE, DOWNLOAD))
    assert [p.field for p in apps.entry_problems(draft, _entry())] == ["application.items[1]",
                                                                       "application.methods[1]"]


# Grant adjustments (003 Art. 11).

def _grant() -> Grant:
    return Grant(id="grt-" + "a" * 32, application_id="app-" + "a" * 32, department_code="A",
                 provider_department_code="P", resource_code="101001/000001", system_ids=(),
                 items=("name", "birth_date"), unmasked_items=("name",), purposes=(ADMIN,), methods=(ONLINE,),
                 expire_time=NOW + dt.timedelta(days=30), quota=0)


def test_grant_update_changes_only_the_masked_fields() -> None:
    update = GrantUpdate(paths=("quota", "items"), items=("birth_date",), quota=7, purposes=(WORK,))
    changed, problems = changes(_grant(), update, _entry(), NOW)
    assert not problems
    # Dropping "name" from the items drops its unmasking too.
    assert changed == {"items": ("birth_date",), "unmasked_items": (), "quota": 7}


@pytest.mark.parametrize(("update", "fields"), [
    (GrantUpdate(paths=()), {"update_mask"}),
    (GrantUpdate(paths=("state",)), {"update_mask.paths[0]"}),
    (GrantUpdate(paths=("items",), items=()), {"grant.items"}),
    (GrantUpdate(paths=("items",), items=("salary",)), {"grant.items[0]"}),
    (GrantUpdate(paths=("unmasked_items",), unmasked_items=("address",)), {"grant.unmasked_items[0]"}),
    (GrantUpdate(paths=("methods",), methods=(DOWNLOAD,)), {"grant.methods[0]"}),
    (GrantUpdate(paths=("purposes",), purposes=()), {"grant.purposes"}),
    (GrantUpdate(paths=("expire_time",), expire_time=NOW), {"grant.expire_time"}),
    (GrantUpdate(paths=("expire_time",)), {"grant.expire_time"}),
    (GrantUpdate(paths=("quota",), quota=-1), {"grant.quota"}),
    (GrantUpdate(paths=("system_ids",), system_ids=("x",)), {"grant.system_ids[0]"}),
])
def test_grant_update_problems_are_named(update: GrantUpdate, fields: set[str]) -> None:
    _, problems = changes(_grant(), update, _entry(), NOW)
    assert {p.field for p in problems} == fields


def test_a_reply_due_in_a_year_without_a_published_calendar_is_marked_provisional() -> None:
    from services.authorization.servicer import _application_pb

    known = _application_pb(_application(), NOW)
    beyond = _application_pb(_application(reply_due_time=dt.datetime(2099, 1, 16, 15, 59, 59, tzinfo=dt.UTC)), NOW)
    assert not known.reply_due_time_provisional
    assert beyond.reply_due_time_provisional


@pytest.mark.parametrize("basis", ["。", "-", "……", "\u200b", "？！"])
def test_a_basis_of_punctuation_only_is_no_basis(basis: str) -> None:
    draft = Draft(applicant_department_code="", resource_code="101001/000001", items=("name",), purposes=(ADMIN,),
                  basis=basis, requested_expire_time=NOW + dt.timedelta(days=1), methods=(ONLINE,))
    problems = apps.draft_problems(draft, NOW)
    assert [p.field for p in problems] == ["application.basis"]
    assert "state the legal or duty basis" in problems[0].description


#: One second past 9999-12-31 23:59:59 Beijing time: a valid protobuf time that no Beijing date can show.
PAST_BEIJING = dt.datetime(9999, 12, 31, 16, 0, tzinfo=dt.UTC)


def test_a_term_beijing_time_cannot_show_is_refused_where_it_is_set() -> None:
    """An end after 9999-12-31 23:59:59 Beijing time (16:00 UTC and later) was taken: the approval narrowing
    to it wrote its date into the history and failed INTERNAL (OverflowError), and the console's pages that show
    such a grant or application answered 500."""
    draft = Draft(applicant_department_code="", resource_code="101001/000001", items=("name",), purposes=(ADMIN,),
                  basis="《社会救助暂行办法》", requested_expire_time=PAST_BEIJING, methods=(ONLINE,))
    assert [p.field for p in apps.draft_problems(draft, NOW)] == ["application.requested_expire_time"]
    application = _application(requested_expire_time=dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC))
    scope = apps.narrow(application, Terms(expire_time=PAST_BEIJING), NOW)
    assert [p.field for p in scope.problems] == ["expire_time"]
    assert "9999-12-31 23:59:59 Beijing time" in scope.problems[0].description
    _, problems = changes(_grant(), GrantUpdate(paths=("expire_time",), expire_time=PAST_BEIJING), _entry(), NOW)
    assert [p.field for p in problems] == ["grant.expire_time"]
    last = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=CHINA)  # the console's 有效期至 9999-12-31
    assert not apps.draft_problems(dataclasses.replace(draft, requested_expire_time=last), NOW)


def test_the_approval_note_names_the_last_day_a_narrowed_term_is_in_force() -> None:
    """An approval narrowing the end to 2027-01-01T00:00:00+08:00 (2026-12-31T16:00:00Z) noted "期限至 2027-01-01":
    the grant serves nothing on 1 January. An end within a day is noted to the second."""
    application = _application(requested_expire_time=_end_of(2027, 6, 30))
    midnight = dt.datetime(2026, 12, 31, 16, 0, tzinfo=dt.UTC)
    note = Sharing._approval_note(application, apps.narrow(application, Terms(expire_time=midnight), NOW), "")
    assert note == "同意范围有调整：有效期至 2026-12-31"
    console_end = apps.narrow(application, Terms(expire_time=_end_of(2026, 12, 31)), NOW)
    assert Sharing._approval_note(application, console_end, "") == "同意范围有调整：有效期至 2026-12-31"
    morning = apps.narrow(application, Terms(expire_time=_beijing(2027, 1, 4)), NOW)
    assert Sharing._approval_note(application, morning, "") == "同意范围有调整：有效期至 2027-01-04 10:00:00"


def test_the_history_says_narrowed_purposes_and_grant_changes_in_chinese() -> None:
    """An approval narrowing the purposes noted "用途 PURPOSE_TYPE_ADMINISTRATIVE_BASIS", and a grant's adjustment
    "changed expire_time, quota": the application's history on the console, read by both departments' staff."""
    application = _application()
    scope = apps.narrow(application, Terms(purposes=(ADMIN,)), NOW)
    assert Sharing._approval_note(application, scope, "") == "同意范围有调整：用途 行政依据"
    end = dt.datetime(2027, 3, 31, 23, 59, 59, tzinfo=CHINA)
    changed, problems = changes(_grant(), GrantUpdate(paths=("quota", "expire_time", "methods"), quota=200,
                                                      expire_time=end, methods=(ONLINE,)), _entry(), NOW)
    assert not problems
    assert change_note(changed) == "授权范围调整为：使用方式 联机查询；有效期至 2027-03-31；调用上限 200"
    assert change_note({"quota": 0, "system_ids": ()}) == "授权范围调整为：调用上限 不限；业务系统 本部门全部系统"


def test_the_history_names_narrowed_items_as_the_catalog_does() -> None:
    """An approval of fewer items than applied for was noted 同意范围有调整：信息项 citizen_id、name, and a grant's
    adjustment 授权范围调整为：信息项 name；不脱敏 name: machine names in the Chinese history the applicant's and the
    provider's staff read on the application's page, beside the items applied for named 公民身份号码、姓名. The
    notes name the items as the catalog entry does; an item it has no name for (or no entry) by machine name."""
    from services.authorization.entries import display_names

    entry = cat.Entry(code="101001/000001", items=[cat.DataItem(machine_name="name", name="姓名"),
                                                   cat.DataItem(machine_name="birth_date", name="出生日期")])
    names = display_names(entry)
    application = _application()
    scope = apps.narrow(application, Terms(items=("name",), unmasked_items=("name",)), NOW)
    assert Sharing._approval_note(application, scope, "仅限低保审核", names) == \
        "同意范围有调整：信息项 姓名；不脱敏 姓名。仅限低保审核"
    assert change_note({"items": ("name", "sex"), "unmasked_items": ()}, names) == \
        "授权范围调整为：信息项 姓名、sex；不脱敏 无"
    assert display_names(None) == {}
