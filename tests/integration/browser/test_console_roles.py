# ruff: noqa: F401, F811 - the fixtures come from console_browser (a conftest.py here would shadow the integration one)
"""Each person sees the actions their roles can perform: a page or form of another role says so in Chinese
(403, nothing sent to a service), and is neither in the menu nor linked; the services check the roles again."""

from __future__ import annotations

import pytest
from console_browser import browser, console_server, context, login_demo, open_as, system_session

pytestmark = pytest.mark.integration

#: Pages a role may not use, by a role of a department (the pages' own roles are in console/app.py PAGES).
NOT_FOR = [
    ("AUDITOR", "authority", "/drafts/new", "编目员"), ("APPLICANT", "police", "/persons/new", "管理员"),
    ("DATA_OFFICER", "police", "/replies", "审批人"), ("APPROVER", "police", "/review", "审核员"),
    ("REVIEWER", "authority", "/apply?code=101001/000001", "申请人"), ("APPLICANT", "police", "/systems", "管理员"),
]


@pytest.mark.parametrize(("role", "system", "path", "needed"), NOT_FOR)
async def test_a_page_of_another_role_says_so_without_its_form(context, console_server, platform, role, system, path,  # type: ignore[no-untyped-def]
                                                                needed):
    page = await open_as(context, console_server, system_session(console_server, platform, system, (role,)))
    response = await page.goto(path)
    assert response.status == 403, await page.content()
    assert await page.locator("h1").inner_text() == "无权使用此功能"
    text = await page.locator(".problem").inner_text()
    assert needed in text and "联系共享主管部门的管理员" in text, text
    assert await page.locator("main form").count() == 0
    menu = [link.split("?")[0] for link in await page.locator("nav a").evaluate_all("as => as.map(a => a.pathname)")]
    assert path.split("?")[0] not in menu


async def test_a_persons_menu_and_links_follow_their_roles_and_a_form_posted_around_them_is_refused(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    page = await login_demo(context, platform, "authority.auditor")
    assert [await a.inner_text() for a in await page.locator("nav a").all()] == ["首页", "目录", "协调", "授权",
                                                                                  "异议与冲突", "审计", "监督"]
    await page.goto("/catalog/entry?code=101001/000001")
    assert await page.get_by_role("link", name="申请使用").count() == 0  # an 审计员 applies for nothing
    csrf = await page.locator("input[name=csrf_token]").first.get_attribute("value")
    posted = await page.request.post("/drafts/new", form={"csrf_token": csrf, "name": "审计员的目录"})
    assert posted.status == 403 and "编目员" in await posted.text()

