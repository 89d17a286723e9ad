# ruff: noqa: F401, F811 - the fixtures come from console_browser (a conftest.py here would shadow the integration one)
"""The decisions beside the main scenario, in Chromium, by new persons of each role: a refusal needs its reason
(said beside the field), the applicant escalates, the authority's reviewer coordinates and grants, the provider's
approver adjusts the grant; every action confirms what it did."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg
import pytest
from console_browser import browser, console_server, context, create_person, login, page_listing, shot

from govshare.authorization.v1 import persons_pb2
from govshare.query.v1 import dispute_pb2, dispute_pb2_grpc
from services.foundation.synthetic import citizen_id_of
from services.runtime.workdays import CHINA

pytestmark = pytest.mark.integration
PASSWORD = "correct horse battery"
POPULATION = "101001/000001"  # police's, conditional


async def test_refuse_escalate_coordinate_and_adjust(browser, console_server, platform):  # type: ignore[no-untyped-def]
    contexts = []

    async def person(department: str, role: int):  # type: ignore[no-untyped-def]
        username, totp = await create_person(platform, department, role, password=PASSWORD)
        context = await browser.new_context(base_url=console_server.url, locale="zh-CN",
                                            viewport={"width": 1024, "height": 1366})  # a tablet
        contexts.append(context)
        page = await login(context, username, PASSWORD, totp.now())
        assert await page.locator(".flash").count() == 1, await page.content()
        return page

    try:
        applicant = await person("social", persons_pb2.PERSON_ROLE_APPLICANT)
        await applicant.goto(f"/apply?code={POPULATION}")
        await applicant.get_by_label("民族", exact=True).check()
        await applicant.get_by_label("业务协同").check()
        await applicant.locator("[name=basis]").fill("《社会救助暂行办法》")
        await applicant.get_by_label("联机查询").check()
        await applicant.locator("[name=expire_date]").fill((dt.date.today() + dt.timedelta(days=90)).isoformat())
        await applicant.locator("[name=quota]").fill("200")
        await applicant.get_by_role("button", name="提交申请").click()
        assert "已提交申请" in await applicant.locator(".flash").inner_text()
        application_id = applicant.url.split("id=")[1]

        approver = await person("police", persons_pb2.PERSON_ROLE_APPROVER)
        await page_listing(approver, "/replies", application_id)
        card = approver.locator("section", has_text=application_id)
        await card.get_by_role("button", name="不予共享").click()
        card = approver.locator("section", has_text=application_id)
        assert "不予共享时必须说明理由" in await card.locator(".field-error").inner_text()
        assert await card.get_by_label("理由（不予共享时必填）").get_attribute("aria-invalid") == "true"
        await shot(approver, console_server, "40_reply_refuse_needs_reason")
        await card.get_by_label("理由（不予共享时必填）").fill("民族信息不属于低保审核所需")
        await card.get_by_role("button", name="不予共享").click()
        assert f"已答复申请 {application_id}：不予共享" in await approver.locator(".flash").inner_text()

        await applicant.goto(f"/applications/view?id={application_id}")
        assert "答复不予共享" in await applicant.locator(".facts").inner_text()
        await applicant.get_by_label("提请协调的理由").fill("少数民族低保政策需要核实民族信息")
        await applicant.get_by_role("button", name="提请共享主管部门协调").click()
        assert "已提请共享主管部门协调" in await applicant.locator(".flash").inner_text()

        reviewer = await person("authority", persons_pb2.PERSON_ROLE_REVIEWER)
        await reviewer.goto("/coordination")
        card = reviewer.locator("section", has_text=application_id)
        await card.get_by_label("协调意见").fill("依据少数民族低保政策，准予使用民族信息")
        await card.get_by_role("button", name="准予共享").click()
        assert f"已记录协调决定：申请 {application_id} 准予共享" in await reviewer.locator(".flash").inner_text()
        await shot(reviewer, console_server, "41_coordination_granted")

        await applicant.goto(f"/applications/view?id={application_id}")
        facts = await applicant.locator(".facts").inner_text()
        assert "协调后准予" in facts
        grant_id = facts.split("授权")[-1].strip().split()[0]

        await approver.goto("/grants")
        card = approver.locator("section", has_text=grant_id)
        await card.get_by_label("调用上限").fill("50")
        # The confirmation says the end as well: moved alone, it was confirmed the items and the quota only.
        end = (dt.datetime.now(CHINA).date() + dt.timedelta(days=30)).isoformat()
        await card.get_by_label("有效期至").fill(end)
        # A grant the coordination decision gave: its provider says why it narrows it (required, kept in the history).
        await card.get_by_label("调整理由").fill("按实际业务量设定调用上限")
        await card.get_by_role("button", name="保存调整").click()
        flash = await approver.locator(".flash").inner_text()
        assert f"已调整授权 {grant_id}" in flash and "调用上限 50 次" in flash
        assert f"有效期至 {end}" in flash, flash
        await shot(approver, console_server, "42_grant_adjusted")
        # The authority is told on its 审核员's 首页, with the way to the reason: it was in the history and the log
        # alone, and the 审核员 whose decision was narrowed learnt nothing.
        await reviewer.goto("/")
        told = reviewer.locator("section", has_text="提供部门调整过的协调授权")
        assert grant_id in await told.inner_text(), await told.inner_text()
        assert await told.get_by_role("link", name="办理过程").first.get_attribute("href") == \
            f"/applications/view?id={application_id}"
        # The application's page shows the grant as it stands beside what was applied for (it showed only the
        # request, 90 days and 200 calls, of a grant adjusted to 30 days and 50).
        await applicant.goto(f"/applications/view?id={application_id}")
        facts = await applicant.locator(".facts").inner_text()
        assert "申请的有效期至 / 调用次数上限" in facts and "200 次" in facts
        assert "批准的信息项\n民族" in facts, facts
        assert f"批准的有效期至 / 调用次数上限\n{end} / 50 次" in facts, facts
    finally:
        for context in contexts:
            await context.close()


async def test_the_providers_approver_answers_a_dispute_and_is_named_on_it(  # type: ignore[no-untyped-def]
        browser, console_server, platform, database_url):
    reported = await dispute_pb2_grpc.DisputeServiceStub(platform.channel).ReportDispute(
        dispute_pb2.ReportDisputeRequest(dispute=dispute_pb2.Dispute(
            resource_code=POPULATION, key=citizen_id_of(1, platform.credentials.seed), item="name",
            claimed_value="王小明", evidence="户口簿原件")),
        metadata=platform.metadata("social"), timeout=10)
    dispute_id = reported.dispute.id
    conn = await asyncpg.connect(database_url)
    try:  # time passes: the answer was due yesterday (首页 lists the open disputes due first, the late ones first)
        await conn.execute("UPDATE query.disputes SET due_time = now() - interval '1 day' WHERE id = $1",
                           uuid.UUID(dispute_id))
    finally:
        await conn.close()
    username, totp = await create_person(platform, "police", persons_pb2.PERSON_ROLE_APPROVER, password=PASSWORD)
    context = await browser.new_context(base_url=console_server.url, locale="zh-CN")
    try:
        page = await login(context, username, PASSWORD, totp.now())
        await page.goto("/")
        listed = await page.locator("section", has_text="待处理的疑义").inner_text()
        assert dispute_id in listed and "已逾期" in listed, listed
        await page.goto("/disputes")
        card = page.locator("section.card", has_text=dispute_id)
        await card.get_by_label("经校核无误").check()
        await card.get_by_label("答复").fill("经核对户籍档案，登记姓名无误")
        await card.get_by_role("button", name="答复疑义").click()
        assert f"已答复疑义 {dispute_id}" in await page.locator(".flash").inner_text()
        card = page.locator("section.card", has_text=dispute_id)
        text = await card.inner_text()
        assert "经校核无误" in text and "经核对户籍档案" in text and "测试" in text  # the approver's name
        assert "信息项 姓名" in text  # the disputed item by its catalogued name, not `name`
        await shot(page, console_server, "43_dispute_answered")
    finally:
        await context.close()
