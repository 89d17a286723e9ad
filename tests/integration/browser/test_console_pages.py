# ruff: noqa: F401, F811 - the fixtures come from console_browser (a conftest.py here would shadow the integration one)
"""Every main page of the console renders in Chromium over the real platform, in Chinese, with no serious
accessibility violation (axe-core, WCAG 2.1 AA), under the strict CSP, at a laptop's and a tablet's size."""

from __future__ import annotations

import datetime as dt
import random
import re

import pytest
from console_browser import (
    axe_violations,
    browser,
    console_server,
    context,
    dump,
    open_as,
    shot,
    submitted_social_entry,
    system_session,
)
from google.protobuf import timestamp_pb2

from console import todo
from govshare.authorization.v1 import sharing_pb2, sharing_pb2_grpc
from govshare.common.v1 import common_pb2
from govshare.supervision.v1 import supervision_pb2, supervision_pb2_grpc
from services.runtime.duties import APPROVER
from services.runtime.workdays import CHINA

pytestmark = pytest.mark.integration

PAGES = [
    ("/", "首页", "authority"), ("/catalog", "目录", "civil"),
    ("/catalog/entry?code=101001/000001", "人口基本信息", "civil"),
    ("/drafts", "编目", "police"), ("/drafts/new", "新建目录", "police"), ("/review", "审核", "authority"),
    ("/mandates", "职能变更", "authority"),
    ("/applications", "我的申请", "civil"), ("/replies", "答复", "police"),
    ("/replies/decided", "已办理的申请", "police"), ("/coordination", "协调", "authority"),
    ("/applications/overdue", "逾期未答复的申请", "authority"),
    ("/grants", "授权", "police"), ("/disputes", "疑义与冲突", "police"), ("/audit", "审计", "authority"),
    ("/supervision", "监督", "authority"), ("/persons", "人员", "authority"), ("/persons/new", "新建人员", "authority"),
    ("/departments", "部门", "authority"), ("/systems", "业务系统", "authority"),
]


@pytest.mark.parametrize(("path", "heading", "system"), PAGES)
async def test_page_renders_accessibly(context, console_server, platform, path, heading, system):  # type: ignore[no-untyped-def]
    page = await open_as(context, console_server, system_session(console_server, platform, system))
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    response = await page.goto(path)
    assert response.status == 200, await page.content()
    assert heading in await page.locator("h1").inner_text()
    assert await page.locator("html").get_attribute("lang") == "zh-CN"
    violations = await axe_violations(page)
    assert violations == [], dump(violations)
    assert blocked == []
    await shot(page, console_server, "page" + path.replace("/", "_").split("?")[0])
    await page.set_viewport_size({"width": 768, "height": 1024})  # a tablet, portrait
    violations = await axe_violations(page)
    assert violations == [], dump(violations)
    # A wide table (ids, eight columns) wraps in its cells: the page never scrolls sideways, its menu out of sight.
    assert await page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")


async def test_an_officer_reports_a_mandate_change_and_the_authority_sees_the_overdue_updates(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """ReportMandateChange and ListOverdueUpdates (R-CAT-3) were API-only: no page reported a mandate change, nor
    showed which catalogue updates were past due. A department's 编目员 reports one on 职能变更 (their own department
    only, the due date said back) and sees their own department's updates past due; the authority's page lists every
    department's, a due date counted without its year's calendar marked 暂定."""
    from stdnum.cn import uscc

    from govshare.authorization.v1 import directory_pb2, directory_pb2_grpc
    from govshare.catalog.v1 import catalog_pb2, catalog_pb2_grpc

    body = "11110000" + f"{random.randrange(10**9):09d}"
    late = body + uscc.calc_check_digit(body)  # a department no other test uses, in the directory
    late_name = f"迟更局{late[-5:]}"
    await directory_pb2_grpc.DirectoryServiceStub(platform.channel).CreateDepartment(
        directory_pb2.CreateDepartmentRequest(department=directory_pb2.Department(
            code=late, name=late_name, level=directory_pb2.ADMINISTRATIVE_LEVEL_MUNICIPAL,
            region_code="110100")), metadata=platform.metadata("authority"), timeout=10)
    changed = timestamp_pb2.Timestamp()
    changed.FromDatetime(dt.datetime(2003, 6, 2, 2, 0, tzinfo=dt.UTC))  # chinese-calendar knows no 2003
    await catalog_pb2_grpc.CatalogServiceStub(platform.channel).ReportMandateChange(
        catalog_pb2.ReportMandateChangeRequest(department_code=late, description="机构改革：职能划入",
                                               change_time=changed),
        metadata=platform.metadata("authority"), timeout=10)

    page = await open_as(context, console_server, system_session(console_server, platform, "police",
                                                                 ("DATA_OFFICER",)))
    await page.goto("/mandates")
    # Another department's 编目员 sees its own updates past due only, none of the authority's list.
    assert await page.get_by_role("heading", name="本部门逾期未更新的资源目录").count() == 1
    assert await page.locator("#overdue tbody tr", has_text=late_name).count() == 0
    assert await page.locator("input[name=department_code]").get_attribute("type") == "hidden"
    assert await page.get_by_label("变更内容").get_attribute("maxlength") == "2000"  # the catalog's MAX_LONG_TEXT
    await page.get_by_label("变更日期（北京时间）").fill(f"{dt.datetime.now(CHINA).year + 1}-01-05")
    await page.get_by_role("button", name="报告职能变更").click()
    assert "变更日期不能晚于今天" in await page.locator("#change_date-error").inner_text()
    assert await page.get_by_label("变更内容").input_value() == ""  # kept as typed (nothing), the hint beside it
    await page.get_by_label("变更内容").fill("机构改革，承接市场主体登记职能")
    await page.get_by_label("变更日期（北京时间）").fill("")
    await page.get_by_role("button", name="报告职能变更").click()
    flash = await page.locator(".flash").inner_text()
    assert flash.startswith("已报告") and "（含当日）前更新资源目录" in flash, flash  # the due day is in time

    page = await open_as(context, console_server, system_session(console_server, platform, "authority",
                                                                 ("DATA_OFFICER",)))
    await page.goto("/mandates")
    row = page.locator("#overdue tbody tr", has_text=late_name)
    # 2003 is before the calendar's first year: its arrangement was published long ago and is not coming (the row
    # said 2003 年节假日安排未知 beside 暂定, as of a year not published yet).
    said = await row.inner_text()
    assert "机构改革：职能划入" in said and "2003 年早于平台节假日日历覆盖的年份，按周一至周五计算" in said, said
    assert "暂定" not in said and "未知" not in said, said
    assert await axe_violations(page) == []

    # A code with a right check digit that is no department, then a retired one: said beside the field, the
    # form kept as typed.
    def fresh_code() -> str:
        body = "11110000" + f"{random.randrange(10**9):09d}"
        return body + uscc.calc_check_digit(body)

    nobody, gone = fresh_code(), fresh_code()
    directory = directory_pb2_grpc.DirectoryServiceStub(platform.channel)
    await directory.CreateDepartment(directory_pb2.CreateDepartmentRequest(department=directory_pb2.Department(
        code=gone, name=f"撤并局{gone[-5:]}", level=directory_pb2.ADMINISTRATIVE_LEVEL_MUNICIPAL,
        region_code="110100")), metadata=platform.metadata("authority"), timeout=10)
    await directory.RetireDepartment(directory_pb2.RetireDepartmentRequest(code=gone, merged_into=late),
                                     metadata=platform.metadata("authority"), timeout=10)
    # A code pasted with a space before it (copied from a document) was cut to 18 characters by the field's
    # maxlength, the space kept and the check character lost: "现为 17 位" of a code that was whole.
    for code, said in ((nobody, "平台的部门名录中没有该统一社会信用代码的部门"),
                       (f" {nobody}", "平台的部门名录中没有该统一社会信用代码的部门"),
                       (gone, f"部门 {gone} 已于 ")):
        await page.get_by_label("部门统一社会信用代码").fill(code)
        await page.get_by_label("变更内容").fill("机构改革，职能调整")
        await page.get_by_role("button", name="报告职能变更").click()
        assert said in await page.locator("#department_code-error").inner_text()
        assert await page.get_by_label("部门统一社会信用代码").input_value() == code.strip()  # kept, trimmed
        assert await page.get_by_label("变更内容").input_value() == "机构改革，职能调整"
    assert "请为承接职责的部门报告" in await page.locator("#department_code-error").inner_text()
    denied = await open_as(context, console_server, system_session(console_server, platform, "police",
                                                                   ("APPLICANT",)))
    assert (await denied.goto("/mandates")).status == 403


async def test_a_mandate_change_reported_after_its_update_was_due_says_the_due_day_has_passed(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """A change reported late (dated two months back) was confirmed as 该部门应在 <a day gone by> 前更新资源目录, a
    deadline already missed told as one still to meet, the overdue list below then listing it. The confirmation now
    says the due day has passed and what makes the change overdue; one reported on its day still says the day."""
    from stdnum.cn import uscc

    from govshare.authorization.v1 import directory_pb2, directory_pb2_grpc

    body = "11110000" + f"{random.randrange(10**9):09d}"
    code = body + uscc.calc_check_digit(body)
    name = f"晚报局{code[-5:]}"
    await directory_pb2_grpc.DirectoryServiceStub(platform.channel).CreateDepartment(
        directory_pb2.CreateDepartmentRequest(department=directory_pb2.Department(
            code=code, name=name, level=directory_pb2.ADMINISTRATIVE_LEVEL_MUNICIPAL, region_code="110100")),
        metadata=platform.metadata("authority"), timeout=10)
    page = await open_as(context, console_server, system_session(console_server, platform, "authority",
                                                                 ("DATA_OFFICER",)))
    await page.goto("/mandates")
    await page.get_by_label("部门统一社会信用代码").fill(code)
    await page.get_by_label("变更内容").fill("机构改革，职能划入（补报）")
    await page.get_by_label("变更日期（北京时间）").fill((dt.datetime.now(CHINA).date()
                                                     - dt.timedelta(days=60)).isoformat())
    await page.get_by_role("button", name="报告职能变更").click()
    flash = await page.locator(".flash").inner_text()
    assert f"已报告{name}的职能变更。按变更日期计算" in flash and "前更新资源目录，该期限已过" in flash, flash
    assert await page.locator("#overdue tbody tr", has_text=name).count() == 1
    await page.get_by_label("部门统一社会信用代码").fill(code)
    await page.get_by_label("变更内容").fill("机构改革，职能划出")
    await page.get_by_role("button", name="报告职能变更").click()
    flash = await page.locator(".flash").inner_text()
    assert flash.startswith(f"已报告{name}的职能变更：该部门应在 ") and "已过" not in flash, flash
    # Dated before the years the holiday calendar covers: counted on weekdays, said so, not "not yet published".
    await page.get_by_label("部门统一社会信用代码").fill(code)
    await page.get_by_label("变更内容").fill("机构改革，职能划入（2003 年）")
    await page.get_by_label("变更日期（北京时间）").fill("2003-03-03")
    await page.get_by_role("button", name="报告职能变更").click()
    flash = await page.locator(".flash").inner_text()
    assert ("（含当日）（2003 年早于平台节假日日历覆盖的年份，按周一至周五计算）前更新资源目录，该期限已过"
            in flash), flash
    assert "尚未公布" not in flash and "可能调整" not in flash, flash


async def test_supervision_draws_the_evaluations_as_an_svg_chart(context, console_server, platform):  # type: ignore[no-untyped-def]
    today = dt.datetime.now(CHINA).date()
    await supervision_pb2_grpc.SupervisionServiceStub(platform.channel).ComputeSnapshots(
        supervision_pb2.ComputeSnapshotsRequest(year=today.year, month=today.month),
        metadata=platform.metadata("authority"), timeout=60)
    page = await open_as(context, console_server, system_session(console_server, platform, "authority"))
    await page.goto(f"/supervision?year={today.year}&month={today.month}")
    # The evaluations are listed by department code, 20 a page: the departments other tests made (test_catalog.py's,
    # when it ran first) may come before police's, whose page is then reached by 下一页, as a supervisor would.
    while not await page.locator("#evaluations tbody td", has_text="市公安局").count():
        await page.get_by_role("navigation", name="评估结果分页").get_by_role("link", name="下一页").click()
        await page.wait_for_load_state()
    chart = page.locator("svg.chart")
    assert await chart.get_attribute("role") == "img"
    assert await chart.locator("rect.chart-bar").count() == await page.locator("#evaluations tbody tr").count() > 0
    # Bars are labelled with the departments' names, as the table beside them is (not their codes' tails).
    labels = await chart.locator("text.chart-label").all_text_contents()
    assert "市公安局" in labels, labels
    assert await axe_violations(page) == []
    await shot(page, console_server, "30_supervision_chart")
    # Printed, the month's evaluations are the page's content alone: no menu, filters, pager or button on paper,
    # the table's heading row repeated on each sheet.
    screen_only = ["header.top", "form.filters", "button >> nth=0"]
    assert [await page.locator(s).is_visible() for s in screen_only] == [True, True, True]
    await page.emulate_media(media="print")
    assert [await page.locator(s).is_visible() for s in screen_only] == [False, False, False]
    assert await page.locator("#evaluations").is_visible() and await chart.is_visible()
    assert await page.evaluate("getComputedStyle(document.querySelector('#evaluations thead')).display") \
        == "table-header-group"
    pdf = await page.pdf(format="A4", landscape=True)
    assert pdf.startswith(b"%PDF")
    (console_server.screenshots / "30_supervision_printed.pdf").write_bytes(pdf)
    await page.emulate_media(media="screen")


async def test_the_console_is_usable_with_the_keyboard_alone(context, console_server, platform):  # type: ignore[no-untyped-def]
    page = await open_as(context, console_server, system_session(console_server, platform, "civil"))
    await page.goto("/")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == "跳到正文"
    await page.keyboard.press("Tab")  # then the menu, in reading order
    assert await page.evaluate("document.activeElement.getAttribute('href')") == "/"
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.getAttribute('href')") == "/catalog"
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/catalog")
    await page.get_by_label("关键词").focus()
    await page.keyboard.type("人口")
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/catalog?q=*")
    assert "人口基本信息" in await page.locator("table").inner_text()
    outline = await page.evaluate("""() => { const a = document.querySelector('tbody a'); a.focus();
        return getComputedStyle(a).outlineStyle; }""")
    assert outline == "solid"  # the focus is always visible


async def test_an_entrys_versions_are_paged_with_a_link_to_the_next_page(context, console_server, platform,  # type: ignore[no-untyped-def]
                                                                          database_url):
    """An entry changed 25 times (its versions written with COPY): the entry page lists the first 10 (the
    console's page size) and a 下一页 link to the next 10 (before: every version of the entry on one page)."""
    import json
    import random

    import asyncpg

    from govshare.catalog.v1 import catalog_pb2 as cat

    police = platform.credentials.systems["police"]["department"]
    code = f"3{random.randrange(10**8):08d}/000001"
    now = dt.datetime.now(dt.UTC)
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            await conn.execute("INSERT INTO catalog.entries (code, provider_department_code, latest_version, "
                               "public_version, create_time) VALUES ($1, $2, 25, 25, $3)", code, police, now)
            await conn.copy_records_to_table("entry_versions", schema_name="catalog", columns=[
                "code", "version", "state", "name", "summary", "category", "subject", "provider_department_code",
                "provider_name", "format_class", "format_type", "items", "key_item", "share_type",
                "share_condition", "share_methods", "legal_basis", "open_to_public", "open_condition",
                "update_cycle", "related_codes", "zone", "secrecy", "endpoint_target", "endpoint_dataset",
                "project_code", "return_reason", "publish_time", "create_time", "update_time", "search_name",
                "search_text", "search_grams"],
                records=[(code, v, int(cat.ENTRY_STATE_PUBLISHED), "多版本条目", "摘要", int(cat.CATEGORY_THEME),
                          "人口", police, "公安厅", int(cat.FORMAT_CLASS_DATABASE), "JSON", json.dumps([]),
                          "citizen_id", 1, "", [1], "", False, "", int(cat.UPDATE_CYCLE_DAILY), [], 1,
                          int(cat.SECRECY_NON_CLASSIFIED), "", "", "", "", now, now, now, "多版本条目",
                          "多版本条目\n摘要", ["多", "版"]) for v in range(1, 26)])
    finally:
        await conn.close()
    page = await open_as(context, console_server, system_session(console_server, platform, "police"))
    response = await page.goto(f"/catalog/entry?code={code}")
    assert response.status == 200, await page.content()
    versions = page.locator("a[href*='&version=']")
    assert [await a.inner_text() for a in await versions.all()] == [f"第 {v} 版" for v in range(1, 11)]
    await page.locator("a", has_text="下一页").click()
    await page.wait_for_url("**v_token=**")
    assert [await a.inner_text() for a in await versions.all()] == [f"第 {v} 版" for v in range(11, 21)]


async def test_the_menu_counts_what_waits_on_the_person_and_updates_without_a_reload(  # type: ignore[no-untyped-def]
        browser, context, console_server, platform):
    """A provider's 审批人 reads on every page how many applications wait for their reply (beside 答复, and in all
    beside 首页), and a new one within the poll's 30 s, without a reload; another department's 审批人 is told
    nothing of it. A page opened at 授权 shows it as 首页 does."""
    sharing = sharing_pb2_grpc.SharingServiceStub(platform.channel)
    police = await open_as(context, console_server, system_session(console_server, platform, "police", ("APPROVER",)))
    other = await browser.new_context(base_url=console_server.url, locale="zh-CN")  # a cookie of its own
    civil = await open_as(other, console_server, system_session(console_server, platform, "civil", ("APPROVER",)))

    async def opened(page, path: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
        await page.clock.install()
        async with page.expect_response("**/todo") as answered:
            await page.goto(path)
        assert (await answered.value).status == 200
        return await menu_counts(page, after=0)

    async def polled(page) -> dict[str, int]:  # type: ignore[no-untyped-def]
        shown = await answers_shown(page)
        async with page.expect_response("**/todo") as answered:
            await page.clock.fast_forward(31_000)  # the poll's 30 s, no reload
        assert (await answered.value).status == 200
        return await menu_counts(page, after=shown)

    before, civil_before = await opened(police, "/grants"), await opened(civil, "/grants")
    expire = timestamp_pb2.Timestamp()
    expire.FromDatetime(dt.datetime.now(dt.UTC) + dt.timedelta(days=30))
    application = sharing_pb2.Application(
        resource_code="101001/000001", items=["status"], purposes=[common_pb2.PURPOSE_TYPE_WORK_REFERENCE],
        basis="工作需要", requested_expire_time=expire, methods=[common_pb2.SHARE_METHOD_ONLINE_QUERY])
    submitted = await sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(application=application),
                                                metadata=platform.metadata("social"), timeout=10)
    after = await polled(police)
    assert after["/replies"] == before.get("/replies", 0) + 1 and after["/"] == before.get("/", 0) + 1, (before, after)
    # An entry with nothing waiting shows no badge, nor an empty space for one.
    assert await police.locator('.todo-count[data-todo="/catalog"]').evaluate("e => e.offsetWidth") == 0
    badge = police.locator('.todo-count[data-todo="/replies"]')
    assert "待答复的申请" in (await badge.get_attribute("title") or "")
    # Read as 答复，N 项待办 and 首页，N 项待办: 首页's name no longer lists the kinds, so it does not also answer to
    # 授权 or 答复 (get_by_role("link", name="授权") found two links once a grant was ending).
    named = re.compile(rf"^答复\s*，{after['/replies']} 项待办$")  # Chromium puts a space before the badge
    assert await police.get_by_role("link", name=named).count() == 1
    assert await police.get_by_role("link", name="答复").count() == 1
    await shot(police, console_server, "86_todo_counts_in_the_menu")
    assert await polled(civil) == civil_before  # 市民政局's 审批人 learns nothing of 市公安局's work
    await sharing.WithdrawApplication(sharing_pb2.WithdrawApplicationRequest(id=submitted.application.id),
                                      metadata=platform.metadata("social"), timeout=10)
    assert (await polled(police)).get("/replies", 0) == before.get("/replies", 0)
    await other.close()
    # A grant ending within 30 days: counted beside 授权 and listed on 首页 with the days it has left.
    expire.FromDatetime(dt.datetime.now(dt.UTC) + dt.timedelta(days=12))
    application.requested_expire_time.CopyFrom(expire)
    submitted = await sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(application=application),
                                                metadata=platform.metadata("social"), timeout=10)
    approver = platform.person("police", APPROVER)
    grant = (await sharing.ReplyApplication(sharing_pb2.ReplyApplicationRequest(
        id=submitted.application.id, decision=sharing_pb2.REPLY_DECISION_APPROVE), metadata=approver,
        timeout=10)).grant
    try:
        assert (await polled(police))["/grants"] == before.get("/grants", 0) + 1
        await police.goto("/")
        row = police.locator("section", has_text="即将到期的授权").locator("tr", has_text=grant.id)
        assert "剩余 12 天" in await row.inner_text() or "剩余 11 天" in await row.inner_text()
    finally:
        await sharing.RevokeGrant(sharing_pb2.RevokeGrantRequest(id=grant.id, reason="测试结束"), metadata=approver,
                                  timeout=10)
    # A service that cannot count (console/todo.py answers 503, tests/unit/test_console_todo.py) is said under the
    # menu, the page as it was.
    await police.route("**/todo", lambda route: route.fulfill(status=503, json={"kinds": [], "notice": todo.DOWN}))
    await police.clock.fast_forward(31_000)
    await police.locator("#todo-notice").wait_for()
    assert await police.locator("#todo-notice").inner_text() == todo.DOWN
    assert await police.locator("h1").inner_text() == "首页"


async def test_an_entry_returned_by_the_reviewer_waits_on_the_officers_home_page_and_menu(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """An entry the authority's 审核员 returned (退回修改) is the 编目员's to rework and submit again, but only 编目's
    list showed it: the menu counted nothing and 首页 said only 没有待解决的冲突, so the officer learnt of it when
    they next opened 编目. 首页 now lists it with the reason and who returned it, linking to its form, and the menu
    counts it beside 编目. The form and 审核 showed return_reason alone, none once the version was submitted again:
    they list every return (Entry.returns) with its time and reviewer."""
    from govshare.catalog.v1 import catalog_pb2 as cat
    from govshare.catalog.v1 import catalog_pb2_grpc

    catalog = catalog_pb2_grpc.CatalogServiceStub(platform.channel)
    entry = await submitted_social_entry(platform)
    await catalog.ReviewEntry(cat.ReviewEntryRequest(code=entry.code, decision=cat.REVIEW_DECISION_RETURN,
                                                     reason="摘要须写明参保范围（全市职工）"),
                              metadata=platform.person("authority", "REVIEWER"), timeout=10)
    page = await open_as(context, console_server, system_session(console_server, platform, "social",
                                                                 ("DATA_OFFICER",)))
    async with page.expect_response("**/todo") as answered:
        await page.goto("/")
    assert (await answered.value).status == 200
    assert (await menu_counts(page, after=0)).get("/drafts", 0) >= 1
    badge = page.locator('.todo-count[data-todo="/drafts"]')
    assert "退回修改的目录" in (await badge.get_attribute("title") or "")
    row = page.locator("tr", has_text=entry.code)
    assert "摘要须写明参保范围（全市职工）" in await row.inner_text()
    await row.get_by_role("link").click()
    assert await page.locator("#return-reason").inner_text() == "摘要须写明参保范围（全市职工）"
    # Every return stays readable, with when and by whom (Entry.returns; return_reason is the latest alone, and
    # only while the version is returned): on the form reworking it, and on 审核 once it is submitted again.
    history = await page.locator("#returns").inner_text()
    assert "第 1 次" in history and "摘要须写明参保范围（全市职工）" in history, history
    await catalog.SubmitEntry(cat.SubmitEntryRequest(code=entry.code), metadata=platform.metadata("social"),
                              timeout=10)
    reviewer = await open_as(context, console_server, system_session(console_server, platform, "authority",
                                                                     ("REVIEWER",)))
    await reviewer.goto("/review")
    card = reviewer.locator("section.card", has_text=entry.code)
    while await card.count() == 0:  # the entries other tests submitted can list before it, by code: page on
        await reviewer.get_by_role("link", name="下一页").click()
    shown = await card.locator("table").inner_text()
    assert "退回记录（共 1 次）" in shown and "摘要须写明参保范围（全市职工）" in shown, shown


async def answers_shown(page) -> int:  # type: ignore[no-untyped-def]
    """How many /todo answers console.js has shown on the page (its nav's data-todo-shown)."""
    return int(await page.locator("nav[data-todo-poll]").get_attribute("data-todo-shown") or 0)


async def menu_counts(page, after: int) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """The counts the menu shows once it has shown an answer after the ``after``-th, by its entries' paths (a hidden
    badge is no count). A /todo response has arrived before console.js shows it: read at once, the badges could
    still be the previous answer's."""
    await page.wait_for_function(
        "n => Number(document.querySelector('nav[data-todo-poll]').getAttribute('data-todo-shown') || 0) > n",
        arg=after, polling=50)
    shown = await page.eval_on_selector_all(".todo-count:not([hidden])", """els => els.map(e =>
        [e.getAttribute('data-todo'), e.querySelector('[aria-hidden]').textContent])""")
    return {path: int(text.rstrip("+")) for path, text in shown}
