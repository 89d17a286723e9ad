# ruff: noqa: F401, F811 - the fixtures come from console_browser (a conftest.py here would shadow the integration one)
"""The authority administrator's pages in Chromium over the real platform: an administrator creates a person,
who signs in with the password shown once and enrols their own authenticator; the administrator sees the lock
that failed sign-ins cause and lifts it, changes the roles after a confirmation step, and disables the person,
whose sign-in is then refused plainly. Departments and business systems are listed; a person who is no
administrator gets the service's refusal on the page, not an error. axe-core on every new page; screenshots 50-59."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import urllib.parse

import asyncpg
import pyotp
import pytest
from console_browser import (
    axe_violations,
    browser,
    confirming,
    console_server,
    context,
    create_person,
    dump,
    login,
    shot,
)
from google.protobuf import timestamp_pb2
from totp_steps import previous_step_code

from govshare.authorization.v1 import (
    admin_log_pb2,
    admin_log_pb2_grpc,
    directory_pb2,
    directory_pb2_grpc,
    persons_pb2,
    persons_pb2_grpc,
    sharing_pb2,
    sharing_pb2_grpc,
)
from govshare.common.v1 import common_pb2
from services.runtime.duties import APPLICANT

pytestmark = pytest.mark.integration
PASSWORD = "correct horse battery"


async def _accessible(page) -> None:  # type: ignore[no-untyped-def]
    violations = await axe_violations(page)
    assert violations == [], dump(violations)


async def _new_context(browser, console_server):  # type: ignore[no-untyped-def]
    return await browser.new_context(base_url=console_server.url, locale="zh-CN",
                                     viewport={"width": 1366, "height": 800})


async def test_the_administrator_creates_locks_unlocks_re_roles_and_disables_a_person(
        browser, console_server, platform):  # type: ignore[no-untyped-def]
    admin_name, admin_totp = await create_person(platform, "authority", persons_pb2.PERSON_ROLE_ADMINISTRATOR,
                                                 password=PASSWORD)
    admin_ctx, person_ctx = await _new_context(browser, console_server), await _new_context(browser, console_server)
    try:
        admin = await login(admin_ctx, admin_name, PASSWORD, admin_totp.now())
        menu = await admin.get_by_role("navigation", name="主菜单").inner_text()
        assert "人员" in menu and "部门" in menu and "业务系统" in menu

        # -- create a person with the approver role; the secrets are shown once -----------------------------
        await admin.goto("/persons/new")
        await _accessible(admin)
        username = f"p{int(time.time() * 1000) % 10**10}"
        await admin.get_by_label("用户名").fill(username)
        await admin.get_by_label("显示名称").fill("陈审批")
        await admin.get_by_label("所属部门").select_option(label="市公安局")
        await admin.get_by_label("审批人").check()
        await shot(admin, console_server, "51_person_new")
        await admin.get_by_role("button", name="创建人员").click()
        await admin.wait_for_load_state()
        assert await admin.locator(".flash").count() == 1, await admin.locator("main").inner_text()
        assert f"已创建人员 陈审批（{username}）" in await admin.locator(".flash").inner_text()
        password = await admin.locator("#initial-password").inner_text()
        # No TOTP secret for the administrator (they could produce the person's codes): the person enrols their own.
        assert await admin.locator("#totp-secret").count() == 0 and len(password) >= 12
        assert "自行绑定身份验证器" in await admin.locator("main").inner_text()
        assert password not in admin.url
        await _accessible(admin)
        await shot(admin, console_server, "52_person_created_secrets_once")
        await admin.get_by_role("link", name="查看此人员").click()
        person_url = admin.url
        assert "审批人" in await admin.locator(".facts").first.inner_text()

        # -- the new person signs in with the password shown, enrols their own authenticator at the sign-in
        # page, and must set a password of their own first (the administrator knows the one shown: until then
        # every page leads to 修改密码)
        person = await login(person_ctx, username, password)
        assert "请先绑定您自己的身份验证器" in await person.get_by_role("alert").inner_text()
        totp = pyotp.TOTP(await person.locator("#totp-secret").inner_text())
        await person.get_by_label("密码").fill(password)
        await person.get_by_label("动态口令").fill(await previous_step_code(totp))
        await person.get_by_label("动态口令").press("Enter")
        await person.wait_for_load_state()
        assert await person.locator(".flash").count() == 1, (person.url, await person.locator("main").inner_text())
        assert "欢迎，陈审批" in await person.locator(".flash").inner_text()
        assert person.url.endswith("/password"), person.url
        assert "管理员知道它" in await person.get_by_role("status").last.inner_text()
        await person.goto("/persons")
        assert person.url.endswith("/password"), person.url
        await person.locator("#f-current_password").fill(password)
        password = "only chen knows this one"
        await person.locator("#f-new_password").fill(password)
        await person.locator("#f-new_password_again").fill(password)
        await person.locator("#f-totp_code").fill(totp.now())
        await person.get_by_role("button", name="修改密码").click()
        await person.wait_for_load_state()
        # The authenticator is the person's own (enrolled above): the change keeps it, and signs them out.
        assert await person.locator("#totp-secret").count() == 0
        assert "/login" in person.url, person.url

        # -- failed sign-ins lock the account; the administrator sees it and unlocks ------------------------
        guesser = await _new_context(browser, console_server)
        for _ in range(5):
            await (await login(guesser, username, "not the password", totp.now())).close()
        locked = await login(guesser, username, password, totp.now())
        assert "账号已被临时锁定" in await locked.get_by_role("alert").inner_text()
        await guesser.close()
        await admin.goto(person_url)
        assert "锁定至" in await admin.locator(".facts").inner_text()
        await _accessible(admin)
        await shot(admin, console_server, "53_person_locked")
        await admin.get_by_role("button", name="解锁").click()
        assert f"已解锁 陈审批（{username}）" in await admin.locator(".flash").inner_text()
        assert await admin.get_by_role("button", name="解锁").count() == 0
        again = await _new_context(browser, console_server)
        signed = await login(again, username, password, totp.at(time.time() + 30))
        assert "欢迎" in await signed.locator(".flash").inner_text(), await signed.content()
        # -- with their own password: their pages; the services decide, a non-administrator gets the refusal ----
        assert "审批人" in await signed.locator(".who").inner_text()
        assert "人员" not in await signed.get_by_role("navigation", name="主菜单").inner_text()
        response = await signed.goto("/persons")
        assert response.status == 403
        assert "无权" in await signed.get_by_role("alert").inner_text()
        await shot(signed, console_server, "57_persons_refused_to_non_admin")
        await again.close()

        # -- roles change after a confirmation step -------------------------------------------------------------
        await admin.get_by_label("申请人").check()
        await admin.get_by_role("button", name="下一步：确认修改").click()
        confirm = await admin.locator(".facts").inner_text()
        assert "审批人、申请人" in confirm
        await _accessible(admin)
        await shot(admin, console_server, "54_person_roles_confirm")
        await admin.get_by_role("button", name="确认修改角色").click()
        assert "的角色改为：审批人、申请人" in await admin.locator(".flash").inner_text()

        # -- disabled: the person's sign-in is refused plainly ------------------------------------------------
        await admin.get_by_role("button", name="停用").click()  # asked first; cancelled, nothing is done
        assert "正常" in await admin.locator(".facts").inner_text()
        asked = confirming(admin)
        await admin.get_by_role("button", name="停用").click()
        assert asked == [f"确定停用 陈审批（{username}）？停用后此人不能再登录，现有登录立即失效。"]
        assert f"已停用 陈审批（{username}）" in await admin.locator(".flash").inner_text()
        assert "已停用" in await admin.locator(".facts").inner_text()
        refused = await login(person_ctx, username, password)
        assert await refused.get_by_role("alert").inner_text() == "账号已被停用，请联系管理员。"

        # -- the list filters by department, role and state, on the service ----------------------------------
        await admin.goto("/persons")
        await admin.get_by_label("部门").select_option(label="市公安局")
        await admin.get_by_label("角色").select_option(label="审批人")
        await admin.get_by_label("状态").select_option(label="已停用")
        await admin.get_by_role("button", name="筛选").click()
        rows = await admin.locator("tbody").inner_text()
        assert username in rows and "市公安局" in rows and "police.approver" not in rows
        await _accessible(admin)
        await shot(admin, console_server, "50_persons_list_filtered")
    finally:
        await admin_ctx.close()
        await person_ctx.close()


async def test_password_and_totp_resets_show_the_new_secret_once(context, console_server, platform):  # type: ignore[no-untyped-def]
    admin_name, admin_totp = await create_person(platform, "authority", persons_pb2.PERSON_ROLE_ADMINISTRATOR,
                                                 password=PASSWORD)
    target, _ = await create_person(platform, "civil", persons_pb2.PERSON_ROLE_APPLICANT, password=PASSWORD)
    admin = await login(context, admin_name, PASSWORD, admin_totp.now())
    await admin.goto(f"/persons?state={persons_pb2.PERSON_STATE_ACTIVE}")
    while await admin.get_by_role("link", name=f"测试{target[-4:]}").count() == 0:
        await admin.get_by_role("link", name="下一页").click()
    await admin.get_by_role("link", name=f"测试{target[-4:]}").click()
    view = admin.url
    confirming(admin)
    await admin.get_by_role("button", name="重置密码").click()
    new_password = await admin.locator("#initial-password").inner_text()
    assert "已重置" in await admin.locator(".flash").inner_text() and new_password != PASSWORD
    await admin.goto(view)
    await admin.get_by_role("button", name="重置动态口令").click()
    # The administrator is shown no TOTP secret (they could produce the person's codes for good): the person
    # enrols their own at the sign-in page, and it counts once a code of it signs them in.
    assert "自行绑定新的身份验证器" in await admin.locator(".flash").inner_text()
    assert await admin.locator("#totp-secret").count() == 0
    await _accessible(admin)
    await shot(admin, console_server, "55_person_totp_reset")
    await admin.goto(view)  # and the person's page says the person has not enrolled one yet
    assert "尚未绑定身份验证器" in await admin.locator("main").inner_text()
    await context.clear_cookies()
    page = await login(context, target, new_password)
    assert "请先绑定您自己的身份验证器" in await page.get_by_role("alert").inner_text()
    secret = await page.locator("#totp-secret").inner_text()
    assert secret and (await page.locator("#totp-uri").inner_text()).startswith("otpauth://")
    await _accessible(page)
    await shot(page, console_server, "56_login_totp_enrolment")
    await page.get_by_label("密码").fill(new_password)
    await page.get_by_label("动态口令").fill(pyotp.TOTP(secret).now())
    await page.get_by_label("动态口令").press("Enter")
    await page.wait_for_load_state()
    assert "欢迎" in await page.locator(".flash").inner_text(), await page.content()


async def test_the_administrator_undoes_a_persons_idp_binding_with_a_reason(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """A person whose IdP account was re-created was refused 统一身份认证账号与绑定账号不一致 for good, and the
    person's page neither said to which account they were bound nor offered a way out: it now shows the binding and
    解除统一身份认证绑定 with a required reason (asked for again, beside its input, when left blank), which the
    log keeps."""
    admin_name, admin_totp = await create_person(platform, "authority", persons_pb2.PERSON_ROLE_ADMINISTRATOR,
                                                 password=PASSWORD)
    target, _ = await create_person(platform, "civil", persons_pb2.PERSON_ROLE_APPLICANT, password=PASSWORD)
    connection = await asyncpg.connect(platform.settings["authorization"].database_url,
                                       server_settings={"search_path": "authorization"})
    try:
        person_id = await connection.fetchval(
            "UPDATE persons SET oidc_issuer = 'https://idp.example/realms/gov', oidc_subject = 'old-sub'"
            " WHERE username = $1 RETURNING id", target)
    finally:
        await connection.close()
    admin = await login(context, admin_name, PASSWORD, admin_totp.now())
    await admin.goto(f"/persons/view?id={person_id}")
    assert "已绑定 old-sub（https://idp.example/realms/gov）" in await admin.locator("main").inner_text()
    await _accessible(admin)
    asked = confirming(admin)
    await admin.get_by_label("解除统一身份认证绑定的原因（必填，记入管理操作日志）").fill("　")
    await admin.get_by_role("button", name="解除统一身份认证绑定").click()
    await admin.wait_for_load_state()
    assert "请填写解除绑定的原因" in await admin.locator(".field-error").inner_text()
    await admin.get_by_label("解除统一身份认证绑定的原因（必填，记入管理操作日志）").fill("统一身份认证账号已重建")
    await admin.get_by_role("button", name="解除统一身份认证绑定").click()
    await admin.wait_for_load_state()
    assert "old-sub" in asked[-1]
    assert "已解除" in await admin.locator(".flash").inner_text()
    assert "未绑定" in await admin.locator("main").inner_text()
    assert await admin.get_by_role("button", name="解除统一身份认证绑定").count() == 0
    events = (await admin_log_pb2_grpc.AdminLogServiceStub(platform.channel).ListAdminEvents(
        admin_log_pb2.ListAdminEventsRequest(action="person.reset_idp_binding", page_size=1000),
        metadata=platform.metadata("authority"), timeout=10)).events
    details = [json.loads(e.details_json) for e in events if e.target == person_id]
    assert [d["reason"] for d in details] == ["统一身份认证账号已重建"] and details[0]["subject"] == "old-sub"


async def test_departments_and_systems_are_listed_and_a_system_disabled_and_enabled(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    admin_name, admin_totp = await create_person(platform, "authority", persons_pb2.PERSON_ROLE_ADMINISTRATOR,
                                                 password=PASSWORD)
    admin = await login(context, admin_name, PASSWORD, admin_totp.now())
    for department in ("市公安局", "市大数据管理局（共享主管部门）"):
        await admin.goto("/departments")
        # Departments other tests create can list before the demo's (found on page 1 only when this file ran
        # before those that create them): page on to each.
        while department not in await admin.locator("tbody").inner_text():
            await admin.get_by_role("link", name="下一页").click()
    await _accessible(admin)
    await shot(admin, console_server, "56_departments")
    # A system of its own (disabling a demo system would cut the tokens other tests hold).
    name = f"测试系统{int(time.time() * 1000) % 10**8}"
    created = await directory_pb2_grpc.DirectoryServiceStub(platform.channel).CreateSystem(
        directory_pb2.CreateSystemRequest(system=directory_pb2.System(
            name=name, department_code=platform.credentials.systems["civil"]["department"])),
        metadata=platform.metadata("authority"), timeout=10)
    await admin.goto("/departments")
    # Departments other tests create can list before it: page on to it, as the systems below.
    while await admin.get_by_role("link", name="查看市民政局的业务系统").count() == 0:
        await admin.get_by_role("link", name="下一页").click()
    await admin.get_by_role("link", name="查看市民政局的业务系统").click()
    while await admin.get_by_role("button", name=f"停用{name}").count() == 0:
        await admin.get_by_role("link", name="下一页").click()
    assert "低保审核系统" in await admin.locator("tbody").inner_text() or "page_token" in admin.url
    assert "市民政局" in await admin.locator("tbody").inner_text()
    confirming(admin)
    await admin.get_by_role("button", name=f"停用{name}").click()
    assert f"已停用业务系统 {name}" in await admin.locator(".flash").inner_text()
    await _accessible(admin)
    await shot(admin, console_server, "58_systems")
    # An action no button sends is refused; it used to enable the system.
    token = await admin.locator("input[name=csrf_token]").first.get_attribute("value")
    forged = await admin.request.post("/systems", form={"csrf_token": token or "", "id": created.system.id,
                                                        "action": "rotate"})
    assert forged.status == 400 and "未知的操作" in await forged.text()
    await admin.reload()
    assert await admin.get_by_role("button", name=f"启用{name}").count() == 1  # still disabled
    await admin.get_by_role("button", name=f"启用{name}").click()
    assert f"已启用业务系统 {name}" in await admin.locator(".flash").inner_text()
    assert await admin.get_by_role("button", name=f"停用{name}").count() == 1


async def _civil_approver(stub: persons_pb2_grpc.PersonServiceStub, platform) -> persons_pb2.Person:  # type: ignore[no-untyped-def]
    """A 审批人 of the civil affairs department, created by the authority's system: whose roles a test changes."""
    return (await stub.CreatePerson(persons_pb2.CreatePersonRequest(person=persons_pb2.Person(
        username=f"u{time.time_ns() % 10**10}", display_name="某审批", roles=[persons_pb2.PERSON_ROLE_APPROVER],
        department_code=platform.credentials.systems["civil"]["department"])),
        metadata=platform.metadata("authority"), timeout=10)).person


async def _administrator_on_an_approver(context, platform):  # type: ignore[no-untyped-def]
    """An administrator of the authority signed in, on the page of a new approver of the civil department; the
    person service's stub and that approver."""
    admin_name, admin_totp = await create_person(platform, "authority", persons_pb2.PERSON_ROLE_ADMINISTRATOR,
                                                 password=PASSWORD)
    stub = persons_pb2_grpc.PersonServiceStub(platform.channel)
    target = await _civil_approver(stub, platform)
    admin = await login(context, admin_name, PASSWORD, admin_totp.now())
    await admin.goto(f"/persons/view?id={target.id}")
    return admin, stub, target


async def test_a_role_value_the_console_does_not_offer_is_refused_not_dropped(context, console_server, platform):  # type: ignore[no-untyped-def]
    """The role form's values were read as numbers and anything else dropped: a value no checkbox sends (or too
    large for a role) confirmed the change with the other roles, leaving the person with none."""
    admin, stub, target = await _administrator_on_an_approver(context, platform)
    token = await admin.locator("input[name=csrf_token]").first.get_attribute("value")
    for value in ("99999999999", "审批人"):
        forged = await admin.request.post("/persons/roles", form={"csrf_token": token or "", "id": target.id,
                                                                  "roles": value, "confirmed": "yes"})
        assert forged.status == 400, value
        assert "未知的角色" in await forged.text()
    kept = await stub.GetPerson(persons_pb2.GetPersonRequest(id=target.id), metadata=platform.metadata("authority"),
                                timeout=10)
    assert list(kept.person.roles) == [persons_pb2.PERSON_ROLE_APPROVER]
    # 新建人员 too: the service's English ("unknown role numbers [0]") was shown beside the roles.
    forged = await admin.request.post("/persons/new", form={
        "csrf_token": token or "", "username": f"u{time.time_ns() % 10**10}", "display_name": "某编目",
        "department_code": platform.credentials.systems["civil"]["department"], "roles": "审批人", "local": "yes"})
    said = await forged.text()
    assert forged.status == 400 and "未知的角色：审批人" in said and "unknown" not in said, said[-1500:]


async def test_a_role_change_over_another_administrators_is_refused_with_the_roles_as_they_are_now(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """修改角色 sent no version: of two administrators with the same person's page open, the second replaced the
    first's change with a choice made before it. The form now carries the person's etag: at the confirmation step,
    or at the change itself, a change made meanwhile sends the administrator back to the page (409), roles as now."""
    admin_name, admin_totp = await create_person(platform, "authority", persons_pb2.PERSON_ROLE_ADMINISTRATOR,
                                                 password=PASSWORD)
    stub = persons_pb2_grpc.PersonServiceStub(platform.channel)
    target = await _civil_approver(stub, platform)

    async def meanwhile(role: int) -> None:
        await stub.SetPersonRoles(persons_pb2.SetPersonRolesRequest(id=target.id, roles=[role]),
                                  metadata=platform.metadata("authority"), timeout=10)

    admin = await login(context, admin_name, PASSWORD, admin_totp.now())
    await admin.goto(f"/persons/view?id={target.id}")
    await admin.get_by_label("申请人").check()
    await meanwhile(persons_pb2.PERSON_ROLE_DATA_OFFICER)  # before the confirmation step
    async with admin.expect_response("**/persons/roles") as answer:
        await admin.get_by_role("button", name="下一步：确认修改").click()
    assert (await answer.value).status == 409
    assert "已被其他管理员修改" in await admin.locator("#roles-error").inner_text()
    assert await admin.get_by_label("编目员").is_checked() and not await admin.get_by_label("审批人").is_checked()
    await admin.get_by_label("申请人").check()
    await admin.get_by_role("button", name="下一步：确认修改").click()
    await meanwhile(persons_pb2.PERSON_ROLE_APPROVER)  # between the confirmation step and the change
    async with admin.expect_response("**/persons/roles") as answer:
        await admin.get_by_role("button", name="确认修改角色").click()
    assert (await answer.value).status == 409
    assert "本次修改未生效" in await admin.locator("#roles-error").inner_text()
    kept = await stub.GetPerson(persons_pb2.GetPersonRequest(id=target.id), metadata=platform.metadata("authority"),
                                timeout=10)
    assert list(kept.person.roles) == [persons_pb2.PERSON_ROLE_APPROVER]
    await _accessible(admin)


async def test_a_role_change_sent_again_says_it_is_made_not_that_another_administrator_changed_it(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """The confirmation of 修改角色 sent a second time (the back button, a refresh) carries the version the first one
    replaced: the page said 此人的角色已被其他管理员修改……本次修改未生效, and the administrator, whose change had been
    made, looked for another administrator and did it again. It now says the roles already are those chosen."""
    admin, stub, target = await _administrator_on_an_approver(context, platform)
    await admin.get_by_label("申请人").check()
    await admin.get_by_role("button", name="下一步：确认修改").click()
    form = {name: await admin.locator(f"form[action='/persons/roles'] input[name={name}]").first.get_attribute("value")
            or "" for name in ("csrf_token", "id", "etag", "confirmed")}
    roles = [str(persons_pb2.PERSON_ROLE_APPROVER), str(persons_pb2.PERSON_ROLE_APPLICANT)]
    body = urllib.parse.urlencode([*form.items(), *(("roles", r) for r in roles)])
    headers = {"content-type": "application/x-www-form-urlencoded"}
    first = await admin.request.post("/persons/roles", data=body, headers=headers)
    assert first.status == 200 and "已将 某审批 的角色改为" in await first.text()
    again = await admin.request.post("/persons/roles", data=body, headers=headers)
    text = await again.text()
    assert again.status == 200, (again.status, text[-1500:])
    assert "与您这次选择的相同" in text and "已被其他管理员修改" not in text, text[-1500:]
    kept = await stub.GetPerson(persons_pb2.GetPersonRequest(id=target.id), metadata=platform.metadata("authority"),
                                timeout=10)
    assert sorted(kept.person.roles) == [persons_pb2.PERSON_ROLE_APPROVER, persons_pb2.PERSON_ROLE_APPLICANT]


async def test_a_refused_person_form_says_beside_each_field_what_to_fix(context, console_server, platform):  # type: ignore[no-untyped-def]
    admin_name, admin_totp = await create_person(platform, "authority", persons_pb2.PERSON_ROLE_ADMINISTRATOR,
                                                 password=PASSWORD)
    admin = await login(context, admin_name, PASSWORD, admin_totp.now())
    await admin.goto("/persons/new")
    await admin.get_by_label("用户名").fill("Not Valid!")
    await admin.get_by_label("显示名称").fill("错误示例")
    await admin.get_by_label("所属部门").select_option(label="市公安局")
    await admin.get_by_label("审核员").check()  # the authority's only
    async with admin.expect_response("**/persons/new") as answer:
        await admin.get_by_role("button", name="创建人员").click()
    assert (await answer.value).status == 400
    assert "请按字段旁的提示修改" in await admin.get_by_role("alert").first.inner_text()
    assert await admin.get_by_label("用户名").get_attribute("aria-invalid") == "true"
    assert "3-64" in await admin.locator("#username-error").inner_text()
    assert "共享主管部门" in await admin.locator("#roles-error").inner_text()
    assert await admin.get_by_label("显示名称").input_value() == "错误示例"  # what was typed is kept
    assert await admin.get_by_label("审核员").is_checked()
    await _accessible(admin)


async def test_home_and_lists_show_department_and_resource_names_looked_up_once(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    expire = timestamp_pb2.Timestamp()
    expire.FromDatetime(dt.datetime.now(dt.UTC) + dt.timedelta(days=30))
    await sharing_pb2_grpc.SharingServiceStub(platform.channel).SubmitApplication(
        sharing_pb2.SubmitApplicationRequest(application=sharing_pb2.Application(
            resource_code="101001/000001", items=["citizen_id", "name"],
            purposes=[common_pb2.PURPOSE_TYPE_ADMINISTRATIVE_BASIS], purpose_text="低保审核",
            basis="《社会救助暂行办法》", requested_expire_time=expire,
            methods=[common_pb2.SHARE_METHOD_ONLINE_QUERY], quota=10)),
        metadata=platform.person("civil", APPLICANT), timeout=10)
    username, totp = await create_person(platform, "police", persons_pb2.PERSON_ROLE_APPROVER, password=PASSWORD)
    page = await login(context, username, PASSWORD, totp.now())
    rows = page.locator("section", has_text="待答复的申请").locator("tbody tr")
    assert await rows.count() > 0
    credit_code = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{18}$")
    for n in range(await rows.count()):
        cells = rows.nth(n).locator("td")
        assert "《人口基本信息》" in await cells.nth(1).inner_text()
        department = (await cells.nth(2).inner_text()).strip()
        assert department and not credit_code.match(department), department
    assert "市民政局" in " ".join(await rows.all_inner_texts())
    await shot(page, console_server, "59_home_with_names")
    before = console_server.console.names.lookups
    await page.reload()
    await page.goto("/replies")
    assert "使用部门 市民政局" in await page.locator("main").inner_text()
    assert console_server.console.names.lookups == before  # names came from the cache


async def test_an_administrators_action_without_its_csrf_token_is_refused(context, console_server, platform):  # type: ignore[no-untyped-def]
    admin_name, admin_totp = await create_person(platform, "authority", persons_pb2.PERSON_ROLE_ADMINISTRATOR,
                                                 password=PASSWORD)
    target, _ = await create_person(platform, "civil", persons_pb2.PERSON_ROLE_APPLICANT, password=PASSWORD)
    admin = await login(context, admin_name, PASSWORD, admin_totp.now())
    for path, form in (("/persons/action", {"id": "psn-0000000000000000", "action": "disable"}),
                       ("/persons/roles", {"id": "psn-0000000000000000", "roles": "2", "confirmed": "yes"}),
                       ("/persons/new", {"username": target + "x", "display_name": "某人", "local": "yes"}),
                       ("/systems", {"id": "sys-0000000000000000", "action": "disable"})):
        response = await admin.request.post(path, form=form)
        assert response.status == 403, path
        assert "安全令牌" in await response.text()
