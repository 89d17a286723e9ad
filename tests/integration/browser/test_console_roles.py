# ruff: noqa: F401, F811 - the fixtures come from console_browser (a conftest.py here would shadow the integration one)
"""Each person sees the actions their roles can perform: a page or form of another role says so in Chinese
(403, nothing sent to a service), and is neither in the menu nor linked; the services check the roles again."""

from __future__ import annotations

import pytest
from console_browser import browser, console_server, context, create_person, login, login_demo, open_as, system_session

from console.sessions import COOKIE
from govshare.authorization.v1 import persons_pb2, persons_pb2_grpc

pytestmark = pytest.mark.integration

#: Pages a role may not use, by a role of a department (the pages' own roles are in console/app.py PAGES).
NOT_FOR = [
    ("AUDITOR", "authority", "/drafts/new", "编目员"), ("APPLICANT", "police", "/persons/new", "管理员"),
    ("DATA_OFFICER", "police", "/replies", "审批人"), ("APPROVER", "police", "/review", "审核员"),
    ("REVIEWER", "authority", "/apply?code=101001/000001", "申请人"), ("APPLICANT", "police", "/systems", "管理员"),
    # Whose the page is, not only what it does (此功能供查看、调整和撤销授权使用 named nobody).
    ("DATA_OFFICER", "police", "/grants", "此功能供提供部门的审批人和共享主管部门调整、撤销授权"),
    ("ADMINISTRATOR", "authority", "/disputes", "此功能供提供部门的审批人答复疑义、编目员处理数据冲突"),
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
                                                                                  "疑义与冲突", "审计", "监督"]
    await page.goto("/catalog/entry?code=101001/000001")
    assert await page.get_by_role("link", name="申请使用").count() == 0  # an 审计员 applies for nothing
    csrf = await page.locator("input[name=csrf_token]").first.get_attribute("value")
    posted = await page.request.post("/drafts/new", form={"csrf_token": csrf, "name": "审计员的目录"})
    assert posted.status == 403 and "编目员" in await posted.text()


@pytest.mark.parametrize(("change", "said"), [("disable", "已被停用"), ("roles", "角色已被管理员调整")])
async def test_a_person_disabled_or_re_roled_mid_session_is_told_so_not_that_it_expired(  # type: ignore[no-untyped-def]
        context, console_server, platform, change, said):
    username, totp = await create_person(platform, "police", persons_pb2.PERSON_ROLE_APPROVER)
    page = await login(context, username, "correct horse battery", totp.now())
    assert await page.locator(".flash").count() == 1, await page.content()
    stub, authority = persons_pb2_grpc.PersonServiceStub(platform.channel), platform.metadata("authority")
    found = await stub.ListPersons(persons_pb2.ListPersonsRequest(
        department_code=platform.credentials.systems["police"]["department"],
        role=persons_pb2.PERSON_ROLE_APPROVER, page_size=100), metadata=authority, timeout=10)
    person_id = next(p.id for p in found.persons if p.username == username)
    if change == "disable":
        await stub.DisablePerson(persons_pb2.DisablePersonRequest(id=person_id), metadata=authority, timeout=10)
    else:
        await stub.SetPersonRoles(persons_pb2.SetPersonRolesRequest(id=person_id, roles=[
            persons_pb2.PERSON_ROLE_AUDITOR]), metadata=authority, timeout=10)
    await page.goto("/grants")
    assert "/login?ended=" in page.url, page.url
    text = await page.locator("main").inner_text()
    assert said in text and "登录已过期" not in text, text
    if change == "disable":
        assert "联系共享主管部门的管理员" in text


@pytest.mark.parametrize(("change", "said"), [("disable", "已被停用"), ("roles", "角色已被管理员调整"),
                                              ("disable_at_renewal", "已被停用")])
async def test_a_form_sent_after_the_person_was_disabled_or_re_roled_keeps_what_was_typed(  # type: ignore[no-untyped-def]
        context, console_server, platform, change, said):
    """An 审批人 writing 撤销授权's reason while an administrator disabled them or changed their roles: the platform
    refused the form's call (or the renewal of the person's token, near its end, when the form was sent), the page
    was redirected to sign in, and the reason written was gone (a form sent after the console's own session ended
    already listed what was typed). The sign-in page says why and lists it."""
    username, totp = await create_person(platform, "police", persons_pb2.PERSON_ROLE_APPROVER)
    page = await login(context, username, "correct horse battery", totp.now())
    await page.goto("/grants")
    csrf = await page.locator("input[name=csrf_token]").first.get_attribute("value")
    if change == "disable_at_renewal":  # the token within a minute of its end: the console renews it first
        cookie = next(c["value"] for c in await context.cookies() if c["name"] == COOKIE)
        session, _ = console_server.console.sessions.get(cookie)
        assert session is not None
        session.token_expires_at = console_server.console.sessions.now() + 60
    stub, authority = persons_pb2_grpc.PersonServiceStub(platform.channel), platform.metadata("authority")
    found = await stub.ListPersons(persons_pb2.ListPersonsRequest(
        department_code=platform.credentials.systems["police"]["department"],
        role=persons_pb2.PERSON_ROLE_APPROVER, page_size=100), metadata=authority, timeout=10)
    person_id = next(p.id for p in found.persons if p.username == username)
    if change.startswith("disable"):
        await stub.DisablePerson(persons_pb2.DisablePersonRequest(id=person_id), metadata=authority, timeout=10)
    else:
        await stub.SetPersonRoles(persons_pb2.SetPersonRolesRequest(id=person_id, roles=[
            persons_pb2.PERSON_ROLE_AUDITOR]), metadata=authority, timeout=10)
    reason = "使用部门的低保审核职能已划转至区民政局，原授权不再需要"
    posted = await page.request.post("/grants", form={"csrf_token": csrf or "", "id": "grt-" + "0" * 32,
                                                      "action": "revoke", "reason": reason})
    text = await posted.text()
    assert posted.status == 401, (posted.status, text[-1500:])
    assert said in text and "您填写的内容列在下方" in text, text[-1500:]
    assert f">{reason}</textarea>" in text, text[-1500:]


async def test_an_approvers_audit_page_says_whose_the_administrative_log_is_in_chinese(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    page = await open_as(context, console_server, system_session(console_server, platform, "police", ("APPROVER",)))
    response = await page.goto("/audit")
    assert response.status == 200
    text = await page.locator("main").inner_text()
    assert "管理操作日志仅供共享主管部门的审计员查阅" in text and "only a" not in text, text


@pytest.mark.parametrize(("role", "system", "shown", "hidden"), [
    ("APPROVER", "police", ["待答复的申请", "待处理的疑义"], ["待审核的目录", "待解决的数据冲突"]),
    ("DATA_OFFICER", "police", ["退回修改的目录", "待解决的数据冲突"],
     ["待答复的申请", "待审核的目录", "待处理的疑义"]),
    ("AUDITOR", "authority", ["待处理的疑义"], ["待解决的数据冲突", "待审核的目录"]),
    ("APPLICANT", "police", ["逾期未获答复的申请", "申请使用"],
     ["待答复的申请", "待审核的目录", "没有需要在首页处理的待办事项"]),
])
async def test_the_home_page_lists_what_the_persons_roles_act_on(context, console_server, platform, role, system,  # type: ignore[no-untyped-def]
                                                                  shown, hidden):
    page = await open_as(context, console_server, system_session(console_server, platform, system, (role,)))
    await page.goto("/")
    text = await page.locator("main").inner_text()
    assert all(s in text for s in shown) and not any(h in text for h in hidden), text


async def test_an_administrator_is_not_offered_to_disable_themselves_and_is_told_why_in_chinese(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    username, totp = await create_person(platform, "authority", persons_pb2.PERSON_ROLE_ADMINISTRATOR)
    page = await login(context, username, "correct horse battery", totp.now())
    found = await persons_pb2_grpc.PersonServiceStub(platform.channel).ListPersons(persons_pb2.ListPersonsRequest(
        role=persons_pb2.PERSON_ROLE_ADMINISTRATOR, page_size=100), metadata=platform.metadata("authority"), timeout=10)
    me = next(p.id for p in found.persons if p.username == username)
    await page.goto(f"/persons/view?id={me}")
    assert await page.get_by_role("button", name="停用").count() == 0
    assert "不能停用自己的账号" in await page.locator("main").inner_text()
    csrf = await page.locator("input[name=csrf_token]").first.get_attribute("value")
    posted = await page.request.post("/persons/action", form={"csrf_token": csrf, "id": me, "action": "disable"})
    assert posted.status == 400 and "管理员不能停用自己的账号" in await posted.text()
    assert "cannot disable" not in await posted.text()
