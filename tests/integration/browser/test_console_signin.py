# ruff: noqa: F401, F811 - the fixtures come from console_browser (a conftest.py here would shadow the integration one)
"""Signing in to the console in Chromium: password + TOTP, and every refusal said plainly (wrong password,
locked account, missing TOTP code, expired session, a form without its CSRF token); the cookie and headers that
keep the session safe."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import socket
import time
from dataclasses import dataclass

import pytest
import uvicorn
from console_browser import browser, console_server, context, create_person, login, open_as, shot, system_session
from totp_steps import previous_step_code

from console.app import create_app
from console.sessions import COOKIE, Person
from console.settings import ConsoleSettings
from govshare.authorization.v1 import persons_pb2
from services.runtime.workdays import CHINA

pytestmark = pytest.mark.integration
PASSWORD = "correct horse battery"


async def test_a_person_signs_in_with_password_and_totp_and_the_session_cookie_is_locked_down(
        context, console_server, platform):  # type: ignore[no-untyped-def]
    username, totp = await create_person(platform, "police", persons_pb2.PERSON_ROLE_APPROVER)
    page = await context.new_page()
    response = await page.goto("/login")
    headers = response.headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "'unsafe-inline'" not in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY" and headers["cache-control"] == "no-store"
    await shot(page, console_server, "01_login")
    page = await login(context, username, PASSWORD, totp.now())
    assert "欢迎" in await page.locator(".flash").inner_text()
    assert "审批人" in await page.locator(".who").inner_text()
    cookie = next(c for c in await context.cookies() if c["name"] == COOKIE)
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
    assert username not in page.url and "password" not in page.url
    await shot(page, console_server, "02_home_approver")


async def test_a_totp_code_typed_in_full_width_digits_signs_in(context, platform):  # type: ignore[no-untyped-def]
    """A Chinese input method types １２３４５６: the service reads it as 123456, and the form (novalidate) sends
    it as typed; its pattern takes full-width digits too, so the field is not styled as invalid meanwhile."""
    username, totp = await create_person(platform, "police", persons_pb2.PERSON_ROLE_APPROVER)
    full_width = totp.now().translate({code: code + 0xFEE0 for code in range(0x30, 0x3A)})
    page = await login(context, username, PASSWORD, full_width)
    assert "欢迎" in await page.locator(".flash").inner_text()


async def test_a_totp_code_typed_as_the_authenticator_groups_it_signs_in(context, platform):  # type: ignore[no-untyped-def]
    """Authenticator apps show the code as 123 456: typed so, the field (maxlength 6) cut it to 123 45, sent as a
    wrong code and counted toward the lock. The field takes the seven characters and the service reads the code."""
    username, totp = await create_person(platform, "police", persons_pb2.PERSON_ROLE_APPROVER)
    code = totp.now()
    page = await login(context, username, PASSWORD, f"{code[:3]} {code[3:]}")
    assert "欢迎" in await page.locator(".flash").inner_text(), await page.locator("main").inner_text()


async def test_a_username_typed_in_full_width_signs_in(context, platform):  # type: ignore[no-untyped-def]
    """A Chinese input method in full-width mode types the username as ｕ１２３．．．: the code typed so was read,
    the username was refused as 用户名或密码不正确, and the person, sure of both, tried again until locked out."""
    username, totp = await create_person(platform, "police", persons_pb2.PERSON_ROLE_APPROVER)
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in username.upper())
    page = await login(context, full_width, PASSWORD, totp.now())
    assert "欢迎" in await page.locator(".flash").inner_text(), await page.locator("main").inner_text()


async def test_a_wrong_password_is_refused_without_saying_whether_the_account_exists(context, platform):  # type: ignore[no-untyped-def]
    username, totp = await create_person(platform, "police", persons_pb2.PERSON_ROLE_APPROVER)
    wrong = await login(context, username, "not the password", totp.now())
    unknown = await login(context, "nobody-" + username, "not the password", totp.now())
    for page in (wrong, unknown):
        assert await page.get_by_role("alert").inner_text() == "用户名或密码不正确，请重新输入。"
        assert page.url.endswith("/login")


async def test_a_missing_totp_code_is_asked_for(context, console_server, platform):  # type: ignore[no-untyped-def]
    username, _totp = await create_person(platform, "police", persons_pb2.PERSON_ROLE_APPROVER)
    page = await login(context, username, PASSWORD)
    assert "请输入动态口令" in await page.get_by_role("alert").inner_text()
    assert await page.get_by_label("用户名").input_value() == username  # kept: only the code is missing
    await shot(page, console_server, "03_login_totp_missing")


async def test_repeated_failures_lock_the_account_and_the_page_says_so(context, console_server, platform):  # type: ignore[no-untyped-def]
    username, totp = await create_person(platform, "police", persons_pb2.PERSON_ROLE_APPROVER)
    for _ in range(platform.settings["authorization"].signin_max_failures):
        await login(context, username, "wrong", totp.now())
    page = await login(context, username, PASSWORD, totp.now())  # even the right password now
    alert = await page.get_by_role("alert").inner_text()
    # Until when, in Beijing time to the second (it said only "请稍后再试": the service names the time).
    until = re.search(r"账号已被临时锁定至 (\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})（北京时间）", alert)
    assert until is not None, alert
    lock = platform.settings["authorization"].signin_lock_seconds
    ends = dt.datetime.strptime(until.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=CHINA)
    assert abs((ends - dt.datetime.now(CHINA)).total_seconds() - lock) < 30, (alert, lock)
    await shot(page, console_server, "04_login_locked")


async def test_an_expired_session_sends_the_person_to_sign_in_again_saying_why(context, console_server,  # type: ignore[no-untyped-def]
                                                                               platform):
    page = await open_as(context, console_server, system_session(console_server, platform, "police"))
    await page.goto("/grants")
    assert await page.locator("h1").inner_text() == "授权"
    console_server.clock.offset += console_server.console.settings.session_idle_seconds + 1
    try:
        await page.goto("/grants")
    finally:
        console_server.clock.offset = 0
    assert page.url.endswith("/login?expired=1")
    assert await page.get_by_role("alert").inner_text() == "登录已过期，请重新登录。"
    await shot(page, console_server, "05_session_expired")


async def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(context, console_server, platform):  # type: ignore[no-untyped-def]
    page = await open_as(context, console_server, system_session(console_server, platform, "police"))
    await page.goto("/drafts/new")
    await page.locator("#entry-form input[name=csrf_token]").evaluate("e => e.remove()")
    await page.locator("#entry-form").evaluate("f => f.submit()")  # bypasses the page's own checks
    await page.wait_for_load_state()
    assert "缺少有效的安全令牌" in await page.get_by_role("alert").inner_text()
    await shot(page, console_server, "06_csrf_missing")
    # A token from another session is as good as none.
    other = system_session(console_server, platform, "police")
    response = await page.request.post("/drafts/submit", form={"csrf_token": other.csrf, "code": "101001/000001"})
    assert response.status == 403


async def test_the_sign_in_form_needs_its_own_csrf_token(context, platform):  # type: ignore[no-untyped-def]
    username, totp = await create_person(platform, "police", persons_pb2.PERSON_ROLE_APPROVER)
    page = await context.new_page()
    response = await page.request.post("/login", form={"username": username, "password": PASSWORD,
                                                        "totp_code": totp.now()})
    assert response.status == 403
    assert "安全令牌" in await response.text()
    assert not any(c["name"] == COOKIE for c in await context.cookies())


async def test_a_platform_out_of_reach_is_said_plainly_not_as_a_wrong_password(browser, platform, caplog):  # type: ignore[no-untyped-def]
    """A console whose edge is down (a port nothing listens on) says the platform is unavailable, to the person
    and in its log."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    app = create_app(ConsoleSettings(listen="127.0.0.1:0", gateway=f"127.0.0.1:{dead}", call_timeout_seconds=2))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.05)
        url = f"http://localhost:{server.servers[0].sockets[0].getsockname()[1]}"
        context = await browser.new_context(base_url=url, locale="zh-CN")
        page = await login(context, "police.approver", "whatever", "123456")
        assert await page.get_by_role("alert").inner_text() == "登录服务暂时不可用，请稍后重试。"
        # The platform's failure, not the person's: 503 as every other page says it, not 401 (a wrong password).
        response = await page.request.post("/login", form={
            "username": "police.approver", "password": "whatever", "totp_code": "123456",
            "csrf_token": await page.locator("input[name=csrf_token]").input_value()})
        assert (response.status, "登录服务暂时不可用" in await response.text()) == (503, True)
        # The operator reading the console's log during the outage is not told of refused credentials.
        signins = [r.getMessage() for r in caplog.records
                   if r.name == "govshare.console" and "sign-in" in r.getMessage()]
        assert signins and all("credentials" not in m and "did not answer" in m for m in signins), signins
        session = app.state.console.sessions.create(Person("p", "测试", "11110100MB00000027"), "t", time.time() + 600)
        page = await open_as(context, ConsoleAt(url), session)
        response = await page.goto("/grants")
        assert response.status == 503
        assert "平台服务暂时不可用，数据未能加载：请稍后刷新页面重试" in await page.get_by_role("alert").inner_text()
        await context.close()
    finally:
        server.should_exit = True
        await task


@dataclass
class ConsoleAt:
    url: str


async def test_a_form_sent_after_the_session_expired_keeps_what_was_typed(context, console_server, platform):  # type: ignore[no-untyped-def]
    """A form left open past the session's idle time and then sent was answered with a redirect to sign in: the
    purpose and basis typed were gone. The sign-in page now says the action was not done and shows the text
    typed (as text), to copy before signing in again."""
    page = await open_as(context, console_server, system_session(console_server, platform, "social"))
    await page.goto("/apply?code=101001/000001")
    # 用途说明 is one line (an application's purpose_text is read as a query's purpose.text); 依据 takes line breaks.
    purpose = "<script>document.title='x'</script>窗口受理\t2026-001 第二项"
    basis = "《社会救助暂行办法》第十条\n第二款"
    await page.locator("[name=purpose_text]").fill(purpose)
    await page.locator("[name=basis]").fill(basis)
    console_server.clock.offset += console_server.console.settings.session_idle_seconds + 1
    try:
        async with page.expect_response(lambda r: "/apply" in r.url and r.request.method == "POST") as answer:
            await page.get_by_role("button", name="提交申请").click()
    finally:
        console_server.clock.offset = 0
    assert (await answer.value).status == 401
    assert "操作未执行" in await page.get_by_role("alert").inner_text()
    kept = [await box.input_value() for box in await page.get_by_role("textbox", name="未提交的内容").all()]
    assert purpose in kept and basis in kept, kept
    assert await page.title() != "x"
    assert await page.get_by_label("用户名").count() == 1


async def test_a_form_opened_before_signing_in_again_keeps_what_was_typed(context, console_server, platform):  # type: ignore[no-untyped-def]
    """A form left open past the idle time, its person signed in again in another tab and came back to send it: the
    form carried the ended sign-in's CSRF token, and the answer was 表单缺少有效的安全令牌（CSRF）…请返回并刷新页面后
    重新提交, the purpose and basis typed gone (the page, never cached, comes back empty). The page now says the
    form was opened before the person signed in again, that nothing was done, and shows the text typed, to copy."""
    page = await open_as(context, console_server, system_session(console_server, platform, "social"))
    await page.goto("/apply?code=101001/000001")
    await page.locator("[name=purpose_text]").fill("窗口受理 2026-002")
    await page.locator("[name=basis]").fill("《社会救助暂行办法》第十一条")
    # Signing in again (in another tab) gives the browser the new sign-in's cookie.
    again = system_session(console_server, platform, "social")
    await context.add_cookies([{"name": COOKIE, "value": again.id, "url": console_server.url, "httpOnly": True,
                                "secure": True, "sameSite": "Strict"}])
    async with page.expect_response(lambda r: "/apply" in r.url and r.request.method == "POST") as answer:
        await page.get_by_role("button", name="提交申请").click()
    assert (await answer.value).status == 403
    said = await page.get_by_role("alert").inner_text()
    assert "此页面是在本浏览器重新登录之前打开的" in said and "操作未执行" in said, said
    kept = [await box.input_value() for box in await page.get_by_role("textbox", name="未提交的内容").all()]
    assert "窗口受理 2026-002" in kept and "《社会救助暂行办法》第十一条" in kept, kept
    # A form without any token (not the console's) is refused as before, nothing shown back.
    answer = await context.request.post("/apply?code=101001/000001", form={"purpose_text": "伪造"})
    assert answer.status == 403 and "伪造" not in await answer.text()


async def test_a_person_changes_their_own_password_and_signs_in_again_with_it(context, console_server,  # type: ignore[no-untyped-def]
                                                                             platform):
    """The administrator hands a new account's first password over and asks the person to change it after the
    first sign-in: the console had no page to do it. 修改密码 asks the current password, the new one twice and a
    TOTP code, says what is wrong beside the field (never showing what was typed again), and ends the sessions."""
    username, totp = await create_person(platform, "police", persons_pb2.PERSON_ROLE_APPLICANT)
    # Three codes are proved in turn (the sign-in, the change, the sign-in with the new password), each of a later
    # step than the last: the previous step's, this one's and the next's (the service allows a step of drift
    # either side) need no wait. Should this step end before the first is checked, it is refused and the sign-in
    # takes this step's code; the last sign-in then waits for the next step.
    page = await login(context, username, PASSWORD, await previous_step_code(totp))
    signed_in_a_step_back = await page.locator(".flash").count() == 1
    if not signed_in_a_step_back:
        await page.close()
        page = await login(context, username, PASSWORD, totp.now())
    await page.locator(".who").get_by_role("link", name="修改密码").click()
    await page.wait_for_url("**/password")

    async def change(current: str, new: str, again: str, code: str) -> None:
        await page.locator("#f-current_password").fill(current)
        await page.locator("#f-new_password").fill(new)
        await page.locator("#f-new_password_again").fill(again)
        await page.locator("#f-totp_code").fill(code)
        await page.get_by_role("button", name="修改密码").click()
        await page.wait_for_load_state()

    await change(PASSWORD, "a new long password", "a new long passw0rd", totp.now())
    assert "两次输入的新密码不一致" in await page.locator("#new_password_again-error").inner_text()
    await change("not the password", "a new long password", "a new long password", totp.now())
    assert "当前密码不正确" in await page.locator("#current_password-error").inner_text()
    assert await page.locator("#f-current_password").input_value() == ""  # nothing typed is shown again
    assert "not the password" not in await page.content()
    await change(PASSWORD, "aaaaaaaaaaaa", "aaaaaaaaaaaa", totp.now())
    assert "至少要用 5 个不同的字符" in await page.locator("#new_password-error").inner_text()

    # A code counts once: this step's, or, if the sign-in used it, the next step's, as the authenticator shows it
    # a moment later (the service allows that drift).
    await change(PASSWORD, "a new long password", "a new long password",
                 totp.now() if signed_in_a_step_back else totp.at(time.time() + 30))
    assert page.url.endswith("/login?password_changed=1"), page.url
    assert "密码已修改" in await page.locator("main").inner_text()
    await page.goto("/")
    assert page.url.endswith("/login"), page.url  # this session ended with the others
    if not signed_in_a_step_back:  # a code after the one the change used: the next step's once this one has passed
        await asyncio.sleep(30 - time.time() % 30 + 1)
    old = await login(context, username, PASSWORD, totp.at(time.time() + 30))
    assert "用户名或密码不正确" in await old.locator("main").inner_text()
    new = await login(context, username, "a new long password", totp.at(time.time() + 30))
    assert "欢迎" in await new.locator(".flash").inner_text(), await new.content()
