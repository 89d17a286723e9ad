# ruff: noqa: F401, F811 - the fixtures come from console_browser (a conftest.py here would shadow the integration one)
"""The console tried as an outside tester does, with plain HTTP over the real platform: odd numbers in query
strings and forms, unknown pages, wrong methods. Every answer is a Chinese page that says what to fix (4xx),
never a 500 or a bare English line."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from html import unescape

import grpc
import pytest
from console_browser import (
    apply_for_population,
    browser,
    confirming,
    console_server,
    context,
    login_demo,
    open_as,
    page_listing,
    serving,
    submitted_social_entry,
    system_session,
)
from free_ports import free_port
from starlette.requests import Request
from starlette.routing import Route

from console.app import create_app
from console.sessions import COOKIE, Person
from console.settings import ConsoleSettings
from govshare.query.v1 import dispute_pb2, dispute_pb2_grpc
from govshare.supervision.v1 import supervision_pb2, supervision_pb2_grpc
from services.foundation.synthetic import citizen_id_of
from services.runtime import excel_csv
from services.runtime.workdays import CHINA

pytestmark = pytest.mark.integration

#: Digits that ``str.isdigit`` accepts but ``int`` does not, and numbers no int32 holds.
ODD_NUMBERS = ["²", "①", "99999999999", "9" * 5000]
#: Quotas are int64: these are not one.
ODD_QUOTAS = ["²", "①", "-1", "1e3", "9" * 20, "9" * 5000]


@contextlib.asynccontextmanager
async def _console_through(platform, handler: Callable[[grpc.aio.Channel], grpc.GenericRpcHandler]):  # type: ignore[no-untyped-def]
    """A console of its own whose calls pass through a gRPC proxy in front of the platform's edge, the proxy's
    methods those ``handler`` (given the channel to the edge) serves: (the app, its URL)."""
    upstream = grpc.aio.insecure_channel(platform.gateway)
    proxy = grpc.aio.server()
    proxy.add_generic_rpc_handlers((handler(upstream),))
    port = proxy.add_insecure_port("127.0.0.1:0")
    await proxy.start()
    app = create_app(ConsoleSettings(listen="127.0.0.1:0", gateway=f"127.0.0.1:{port}"))
    try:
        async with serving(app) as url:
            yield app, url
    finally:
        await proxy.stop(None)
        await upstream.close()


def _as(session) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"cookie": f"{COOKIE}={session.id}"}


def _person_session(console_server, platform, system: str, role: str):  # type: ignore[no-untyped-def]
    """A console session holding the token of a person of demo department ``system`` with ``role`` (for the
    decisions only a person makes: review, apply)."""
    token = dict(platform.person(system, role))["authorization"].removeprefix("Bearer ")
    person = Person(username=f"{system}.{role.lower()}", display_name=role,
                    department_code=platform.credentials.systems[system]["department"], roles=(role,))
    return console_server.console.sessions.create(person, token, time.time() + 600)


async def _new_department(platform, name: str) -> str:  # type: ignore[no-untyped-def]
    """A department no other test uses, early in code order (among those the forms' lists offer), named ``name``
    and the last five characters of its code; its code."""
    import random

    from stdnum.cn import uscc

    from govshare.authorization.v1 import directory_pb2, directory_pb2_grpc

    body = "1111010000" + "".join(random.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(7))
    code = body + uscc.calc_check_digit(body)
    await directory_pb2_grpc.DirectoryServiceStub(platform.channel).CreateDepartment(
        directory_pb2.CreateDepartmentRequest(department=directory_pb2.Department(
            code=code, name=f"{name}{code[-5:]}", level=directory_pb2.ADMINISTRATIVE_LEVEL_MUNICIPAL,
            region_code="110100")), metadata=platform.metadata("authority"), timeout=10)
    return code


async def test_odd_numbers_in_query_strings_are_ignored_not_a_500(context, console_server, platform):  # type: ignore[no-untyped-def]
    session = system_session(console_server, platform, "authority")
    for odd in ODD_NUMBERS:
        for path in (f"/catalog?category={odd}", f"/catalog?zone={odd}&update_cycle={odd}",
                     f"/catalog/entry?code=101001/000001&version={odd}", f"/persons?role={odd}"):
            answer = await context.request.get(path, headers=_as(session))
            assert answer.status == 200, (path[:80], answer.status, (await answer.text())[:300])
        # A period is what the supervisor asks to see: one that is none is said so beside the year, not replaced.
        answer = await context.request.get(f"/supervision?year={odd}&month={odd}", headers=_as(session))
        assert answer.status == 400 and 'id="year-error"' in await answer.text(), (odd[:20], answer.status)
    # Full-width digits typed with a Chinese input method mean the digits they show.
    answer = await context.request.get("/catalog/entry?code=101001/000001&version=１", headers=_as(session))
    assert answer.status == 200 and "人口基本信息" in await answer.text()


async def test_an_odd_quota_is_shown_beside_its_field_not_a_500(context, console_server, platform):  # type: ignore[no-untyped-def]
    session = system_session(console_server, platform, "police")
    for odd in ODD_QUOTAS:
        answer = await context.request.post("/grants", headers=_as(session), form={
            "csrf_token": session.csrf, "id": "g-unknown", "action": "update", "quota": odd})
        text = await answer.text()
        assert answer.status == 400, (odd[:20], answer.status, text[:300])
        assert "调用上限请填写" in text
        answer = await context.request.post("/replies", headers=_as(session), form={
            "csrf_token": session.csrf, "id": "a-unknown", "decision": "approve", "quota": odd})
        assert answer.status == 400 and "调用上限请填写" in await answer.text()
    answer = await context.request.post("/disputes", headers=_as(session), form={
        "csrf_token": session.csrf, "kind": "conflict", "id": "²", "note": "x"})
    assert answer.status < 500, (await answer.text())[:300]


@pytest.mark.parametrize(("path", "form"), [
    ("/review", {"code": "101001/000001", "decision": "", "reason": "理由"}),
    ("/review", {"code": "101001/000001", "decision": "PUBLISH", "reason": "理由"}),
    ("/replies", {"id": "a-unknown", "decision": "reject", "reason": "理由"}),
    ("/coordination", {"id": "a-unknown", "decision": "yes", "reason": "理由"}),
    ("/grants", {"id": "g-unknown", "action": "adjust", "reason": "理由"}),
    ("/disputes", {"id": "1", "kind": "other", "answer": "已核实"}),
    ("/systems", {"id": "sys-0000000000000000", "action": "rotate"}),
])
async def test_a_post_no_button_of_the_page_sends_is_refused_not_taken_for_one(  # type: ignore[no-untyped-def]
        context, console_server, platform, path: str, form: dict[str, str]) -> None:
    """Each page took any decision but its first button's for its second (an entry returned, an application
    refused, a system enabled) when a post carried no value, or one no button sends."""
    session = system_session(console_server, platform, "authority")
    answer = await context.request.post(path, headers=_as(session), form={"csrf_token": session.csrf, **form})
    text = await answer.text()
    assert answer.status == 400, (path, answer.status, text[:300])
    assert "未知的操作" in text


async def test_a_coordination_decisions_malformed_date_is_refused_not_dropped(context, console_server, platform):  # type: ignore[no-untyped-def]
    """The coordination form's "有效期至" that is no date was dropped and the decision recorded with the
    default term (the reply and grant forms refuse it): now it is refused before any call, saying how to write it."""
    session = system_session(console_server, platform, "authority", roles=("REVIEWER",))
    answer = await context.request.post("/coordination", headers=_as(session), form={
        "csrf_token": session.csrf, "id": "a-unknown", "decision": "grant", "reason": "准予",
        "expire_date": "2026-13-45"})
    text = await answer.text()
    assert answer.status == 400, (answer.status, text[-600:])
    assert "请按 年-月-日 填写有效期截止日期" in text


@pytest.mark.parametrize(("path", "form"), [
    ("/grants", {"id": "g-unknown", "action": "update"}),
    ("/replies", {"id": "a-unknown", "decision": "approve"}),
    ("/drafts/new", {"code": "101001/000099"}),
])
async def test_a_form_that_carries_a_file_is_refused_not_a_500(  # type: ignore[no-untyped-def]
        context, console_server, platform, path: str, form: dict[str, str]) -> None:
    """A multipart post with a file where a page reads text (the grant's or reply's 信息项, an entry's name): it
    went into the request's field, a TypeError and a 500 page, or showed as the upload's repr."""
    session = system_session(console_server, platform, "police")
    upload = {"name": "a.txt", "mimeType": "text/plain", "buffer": b"citizen_id"}
    answer = await context.request.post(path, headers=_as(session), multipart={
        "csrf_token": session.csrf, **form, "items": upload, "name": upload})
    text = await answer.text()
    assert answer.status == 400, (answer.status, text[-600:])
    assert "不接受文件" in text and "UploadFile" not in text


@pytest.mark.parametrize(("body", "content_type"), [
    ("&".join(f"f{n}=x" for n in range(1001)), "application/x-www-form-urlencoded"),
    ("abc", "multipart/form-data"),
])
async def test_a_form_body_that_cannot_be_read_is_a_chinese_page(  # type: ignore[no-untyped-def]
        context, console_server, platform, body: str, content_type: str) -> None:
    """More fields than Starlette reads, or a multipart body without its boundary: the answer was Starlette's
    bare English line ("Too many fields. Maximum number of fields is 1000.", "Missing boundary in multipart.")."""
    session = system_session(console_server, platform, "police")
    for path in ("/grants", "/login"):
        answer = await context.request.post(path, headers={**_as(session), "content-type": content_type},
                                            data=body)
        text = await answer.text()
        assert answer.status == 400, (path, answer.status, text[-600:])
        assert "提交的表单无法读取" in text and "Maximum" not in text and "boundary" not in text, text[-600:]
        assert answer.headers["content-type"].startswith("text/html")


async def test_an_application_for_an_item_the_resource_lacks_says_so_beside_the_items(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """A 信息项 the entry no longer has (the page was open while a new version dropped it): the service names
    application.items[2], the page said "fix the fields as their hints say" and showed no hint anywhere."""
    session = _person_session(console_server, platform, "social", "APPLICANT")
    answer = await _post(context, "/apply?code=101001/000001", session, {
        "items": ["citizen_id", "name", "nation"], "purposes": "1",
        "basis": "《社会救助暂行办法》", "methods": "1"})
    text = await answer.text()
    assert answer.status == 400, (answer.status, text[-600:])
    assert 'id="items-error"' in text and "nation" in text, text[-1500:]


async def test_an_application_unanswered_past_its_due_day_can_be_escalated(  # type: ignore[no-untyped-def]
        context, console_server, platform, database_url):
    """R-APP-3: the service escalates a refused application or one unanswered past its due day; the page
    offered the escalation form for a refused one only, so an applicant the provider never answered could not."""
    import asyncpg

    from govshare.authorization.v1 import sharing_pb2, sharing_pb2_grpc

    sharing = sharing_pb2_grpc.SharingServiceStub(platform.channel)
    application = sharing_pb2.Application(resource_code="101001/000001", items=["citizen_id", "name", "sex"],
                                          purposes=[1], basis="《社会救助暂行办法》", methods=[1])
    application.requested_expire_time.FromSeconds(int(time.time()) + 365 * 86400)
    submitted = await sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(application=application),
        metadata=platform.person("social", "APPLICANT"), timeout=10)
    app_id = submitted.application.id
    conn = await asyncpg.connect(database_url)
    try:  # time passes: the reply was due yesterday
        await conn.execute('UPDATE "authorization".applications SET reply_due_time = now() - interval \'1 day\' '
                           "WHERE id = $1", app_id)
    finally:
        await conn.close()
    page = await open_as(context, console_server, _person_session(console_server, platform, "social", "APPLICANT"))
    await page.goto(f"/applications/view?id={app_id}")
    assert "已逾期" in await page.content()
    # Unanswered past its due day is ground enough (the service says so in the history): the form asked the browser
    # to refuse an empty reason, and the applicant had to invent one.
    await page.get_by_role("button", name="提请共享主管部门协调").click()
    assert f"已提请共享主管部门协调申请 {app_id}" in await page.locator(".flash").inner_text(timeout=5000)
    assert "提供部门逾期未答复（答复期限" in await page.locator("ol.history").inner_text()


async def test_a_refused_applications_page_offers_the_escalation_to_the_applicant_only(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """A refused application's page offered 提请共享主管部门协调 to whoever opened it: the provider's 审批人 who
    refused it and the authority's 审核员 were shown the applicant's form, every press of which was refused."""
    from govshare.authorization.v1 import sharing_pb2, sharing_pb2_grpc

    sharing = sharing_pb2_grpc.SharingServiceStub(platform.channel)
    application = sharing_pb2.Application(resource_code="101001/000001", items=["citizen_id", "name", "sex"],
                                          purposes=[1], basis="《社会救助暂行办法》", methods=[1])
    application.requested_expire_time.FromSeconds(int(time.time()) + 365 * 86400)
    app_id = (await sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(application=application),
                                              metadata=platform.metadata("social"), timeout=10)).application.id
    await sharing.ReplyApplication(sharing_pb2.ReplyApplicationRequest(
        id=app_id, decision=sharing_pb2.REPLY_DECISION_REFUSE, reason="暂不具备条件"),
        metadata=platform.person("police", "APPROVER"), timeout=10)
    for system, role, offered in (("social", "APPLICANT", True), ("police", "APPROVER", False),
                                  ("authority", "REVIEWER", False)):
        answer = await context.request.get(f"/applications/view?id={app_id}", headers=_as(
            _person_session(console_server, platform, system, role)))
        text = await answer.text()
        assert answer.status == 200 and "暂不具备条件" in text, (role, answer.status)
        assert ('action="/applications/escalate"' in text) == offered, (role, text[text.index("<main"):][-800:])


async def test_a_reason_written_in_lines_is_shown_in_its_lines(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """A 审批人 refused in numbered lines (1. … 2. …, typed or pasted into the reason's textarea, as the service keeps
    it): the applicant's page, the application's history and the provider's 已办理 ran them together into one line,
    "…如下： 1. 用途与信息项不符； 2. 缺少依据文件。". Free text people wrote keeps its line breaks where shown."""
    from govshare.authorization.v1 import sharing_pb2, sharing_pb2_grpc

    sharing = sharing_pb2_grpc.SharingServiceStub(platform.channel)
    application = sharing_pb2.Application(resource_code="101001/000001", items=["citizen_id", "name"],
                                          purposes=[1], basis="《社会救助暂行办法》", methods=[1])
    application.requested_expire_time.FromSeconds(int(time.time()) + 365 * 86400)
    app_id = (await sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(application=application),
                                              metadata=platform.metadata("social"), timeout=10)).application.id
    reason = "理由如下：\n1. 用途与信息项不符；\n2. 缺少依据文件。"
    await sharing.ReplyApplication(sharing_pb2.ReplyApplicationRequest(
        id=app_id, decision=sharing_pb2.REPLY_DECISION_REFUSE, reason=reason),
        metadata=platform.person("police", "APPROVER"), timeout=10)
    page = await open_as(context, console_server, _person_session(console_server, platform, "social", "APPLICANT"))
    await page.goto(f"/applications/view?id={app_id}")
    shown = await page.locator("main").inner_text()  # as rendered: collapsed white space is one space
    assert f"答复理由\n{reason}" in shown, shown
    assert shown.count(reason) == 2, shown  # and the history's 答复不予共享 step
    assert "不符； 2." not in shown


async def test_a_dispute_key_or_value_pasted_with_what_cannot_be_in_it_is_said_in_chinese(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """报告疑义 with the 公民身份号码 pasted as letters print it (352324 19471102 5472) or from a web page (a zero-width
    space in it), or the correct value pasted with a line break: the field said 此项不符合要求，请修改后重新提交
    (平台说明：holds a space after its first 6 characters: give the code without spaces, …), in English. Each is
    said in Chinese, naming where."""
    session = _person_session(console_server, platform, "social", "APPLICANT")
    citizen = citizen_id_of(3, platform.credentials.seed)
    for field, form, said in (
            ("key", {"key": f"{citizen[:6]} {citizen[6:14]} {citizen[14:]}"},
             "第 6 位之后有空格：请去掉空格，将 18 位连续填写。"),
            ("key", {"key": f"{citizen[:3]}\u200b{citizen[3:]}"}, "第 4 个字符处有看不见的字符（U+200B"),
            ("claimed_value", {"claimed_value": "王\n小明"},
             "第 2 个字符是换行符或制表符（U+000A）：此项须写在一行内")):
        answer = await _post(context, "/disputes", session, {
            "kind": "report", "resource_code": "101001/000001", "key": citizen, "item": "姓名",
            "claimed_value": "王小明", "evidence": "户口簿", **form})
        text = unescape(await answer.text())
        beside = re.search(rf'<span class="field-error" id="{field}-error">([^<]*)</span>', text)
        assert answer.status == 400 and beside is not None, (field, answer.status, text[-1500:])
        assert said in beside.group(1) and not re.search(r"[A-Za-z]{4,}", beside.group(1)), beside.group(1)


async def test_a_basis_summary_and_conditions_written_in_lines_are_shown_in_their_lines(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """申请使用's 法律或职责依据 and 编目's 摘要, 共享条件, 共享依据 and 开放条件 are textareas, and a person lists
    laws there one a line (1. 《…》第…条 2. …): the application's page and 答复 ran the basis together into one line,
    the entry's page each of the entry's texts, "1. 《社会救助暂行办法》第十一条； 2. 本局“三定”方案。"."""
    import uuid

    from frontproc import demo as dept
    from govshare.catalog.v1 import catalog_pb2 as cat
    from govshare.catalog.v1 import catalog_pb2_grpc

    basis = "依据如下：\n1. 《社会救助暂行办法》第十一条；\n2. 本局“三定”方案。"
    app_id = await apply_for_population(platform, "social", basis)
    page = await open_as(context, console_server, _person_session(console_server, platform, "social", "APPLICANT"))
    await page.goto(f"/applications/view?id={app_id}")
    assert f"依据\n{basis}" in await page.locator("main").inner_text()  # as rendered
    approver = await open_as(context, console_server, _person_session(console_server, platform, "police", "APPROVER"))
    await page_listing(approver, "/replies", app_id)
    assert basis in await approver.locator("section", has_text=app_id).inner_text()

    entry = dept.social_insurance_entry("")
    entry.code = f"202001/{uuid.uuid4().int % 10**6:06d}"
    entry.endpoint.dataset = f"si_{uuid.uuid4().hex[:8]}"
    entry.summary = "参保人员的：\n1. 险种和参保状态；\n2. 参保单位与缴费基数。"
    entry.share_condition = "须同时满足：\n1. 法定职责范围内；\n2. 经市人社局审核同意。"
    entry.legal_basis = "1. 《社会保险法》第七十四条；\n2. 《社会保险经办条例》第二十条。"
    entry.open_to_public, entry.open_condition = True, "仅开放：\n1. 参保状态；\n2. 参保日期。"
    await catalog_pb2_grpc.CatalogServiceStub(platform.channel).CreateEntry(
        cat.CreateEntryRequest(entry=entry), metadata=platform.metadata("social"), timeout=10)
    officer = await open_as(context, console_server, system_session(console_server, platform, "social"))
    await officer.goto(f"/catalog/entry?code={urllib.parse.quote(entry.code, safe='')}")
    shown = await officer.locator("main").inner_text()
    for said in (f"信息资源摘要\n{entry.summary}", f"有条件共享：{entry.share_condition}",
                 f"共享依据\n{entry.legal_basis}", f"向社会开放：{entry.open_condition}"):
        assert said in shown, (said, shown)


async def test_the_applicant_withdraws_an_undecided_application_from_its_page(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """An application made by mistake could neither be edited nor withdrawn: it waited on 答复 for the provider
    to refuse it or let it fall overdue. Its page now offers 撤回申请 to the applicant (asking first), and the
    withdrawn application leaves the provider's list."""
    app_id = await apply_for_population(platform, "social")
    approver = _person_session(console_server, platform, "police", "APPROVER")
    shown = await (await context.request.get(f"/applications/view?id={app_id}", headers=_as(approver))).text()
    assert 'action="/applications/withdraw"' not in shown
    page = await open_as(context, console_server, _person_session(console_server, platform, "social", "APPLICANT"))
    await page.goto(f"/applications/view?id={app_id}")
    await page.get_by_label("撤回理由（可不填）").fill("信息项勾选有误")
    page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.get_by_role("button", name="撤回申请").click()
    await page.wait_for_url(f"**/applications/view?id={app_id}")
    assert f"已撤回申请 {app_id}" in await page.locator(".flash").inner_text()
    main = await page.locator("main").inner_text()
    assert "已撤回" in main and "撤回申请 · " in main and "信息项勾选有误" in main, main
    assert await page.get_by_role("button", name="撤回申请").count() == 0
    replies = await (await context.request.get("/replies", headers=_as(approver))).text()
    assert app_id not in replies


async def test_a_replys_quota_says_what_blank_means_there_and_is_read_with_its_unit(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """A 调用上限 that was no number was refused saying （0 表示不限） on every form: on 答复, where 0 or a blank keeps
    the quota applied for (a reply may only lower it), an approver told so typed 0 to grant calls without limit and
    granted the 500 applied for. Each form says what a blank means there; 300次, with its unit, is 300."""
    from govshare.authorization.v1 import sharing_pb2, sharing_pb2_grpc

    sharing = sharing_pb2_grpc.SharingServiceStub(platform.channel)
    application = sharing_pb2.Application(resource_code="101001/000001", items=["citizen_id", "name", "sex"],
                                          purposes=[1], basis="《社会救助暂行办法》", methods=[1], quota=500)
    application.requested_expire_time.FromSeconds(int(time.time()) + 365 * 86400)
    app_id = (await sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(application=application),
                                              metadata=platform.metadata("social"), timeout=10)).application.id
    session = _person_session(console_server, platform, "police", "APPROVER")
    refused = await _post(context, "/replies", session, {"id": app_id, "decision": "approve",
                                                          "items": ["name", "sex"], "quota": "五百"})
    said = re.search(r'<span class="field-error" id="quota-error">([^<]*)</span>', await refused.text())
    assert refused.status == 400 and said is not None, refused.status
    assert "不填则按申请的上限" in said.group(1) and "0 表示不限" not in said.group(1), said.group(1)
    applicant = _person_session(console_server, platform, "social", "APPLICANT")
    blank = await (await context.request.get("/apply?code=101001/000001", headers=_as(applicant))).text()
    asked = await _post(context, "/apply?code=101001/000001", applicant, {
        "items": ["name"], "purposes": "1", "basis": "《社会救助暂行办法》", "methods": "1", "quota": "五百",
        "expire_date": (dt.date.today() + dt.timedelta(days=90)).isoformat(),
        "request_id": re.search(r'name="request_id" value="([^"]+)"', blank).group(1)})
    assert "0 或不填表示不限" in await asked.text()
    answer = await _post(context, "/replies", session, {"id": app_id, "decision": "approve",
                                                         "items": ["name", "sex"], "quota": "300次"}, max_redirects=0)
    assert answer.status == 303, (answer.status, (await answer.text())[-600:])
    assert (await _grant_of(platform, app_id)).quota == 300


async def test_the_home_page_says_when_a_list_holds_more_than_it_shows(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """首页's 待答复的申请 showed the ten due soonest (a page) and nothing else: a 审批人 with twelve due took those ten
    for all, the two due last waiting unseen until they were near their day. A list holding more says so and where
    all of them are."""
    from govshare.authorization.v1 import sharing_pb2, sharing_pb2_grpc

    sharing = sharing_pb2_grpc.SharingServiceStub(platform.channel)
    made = []
    for _ in range(console_server.console.settings.page_size + 1):
        application = sharing_pb2.Application(resource_code="101001/000001", items=["name"], purposes=[1],
                                              basis="《社会救助暂行办法》", methods=[1])
        application.requested_expire_time.FromSeconds(int(time.time()) + 365 * 86400)
        made.append((await sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(
            application=application), metadata=platform.metadata("social"), timeout=10)).application.id)
    try:
        home = await (await context.request.get("/", headers=_as(
            _person_session(console_server, platform, "police", "APPROVER")))).text()
    finally:  # withdrawn: the tests after this one find their own on 答复's first page
        for app_id in made:
            await sharing.WithdrawApplication(sharing_pb2.WithdrawApplicationRequest(id=app_id, reason="测试完毕"),
                                              metadata=platform.person("social", "APPLICANT"), timeout=10)
    section = home[home.index('id="h-replies"'):].split("</section>", 1)[0]
    size = console_server.console.settings.page_size
    assert section.count('<a href="/applications/view?id=') == size, section
    assert f"以上只列出答复期限最早的 {size} 件，还有更多：全部请在“答复”中查看。" in section, section


async def test_an_escalation_of_an_application_answered_meanwhile_says_who_answered_it(  # type: ignore[no-untyped-def]
        context, console_server, platform, database_url):
    """The applicant opened an application left unanswered past its due day and pressed 提请共享主管部门协调 after the
    provider had answered it late: the page said "当前状态不允许此操作：application app-… is APPROVED: only refused
    applications, or ones unanswered past their due time, can be escalated", in English, not who answered it."""
    import asyncpg

    from govshare.authorization.v1 import sharing_pb2, sharing_pb2_grpc

    sharing = sharing_pb2_grpc.SharingServiceStub(platform.channel)
    application = sharing_pb2.Application(resource_code="101001/000001", items=["citizen_id", "name", "sex"],
                                          purposes=[1], basis="《社会救助暂行办法》", methods=[1])
    application.requested_expire_time.FromSeconds(int(time.time()) + 365 * 86400)
    app_id = (await sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(application=application),
                                              metadata=platform.metadata("social"), timeout=10)).application.id
    conn = await asyncpg.connect(database_url)
    try:  # time passes: the reply was due yesterday
        await conn.execute('UPDATE "authorization".applications SET reply_due_time = now() - interval \'1 day\' '
                           "WHERE id = $1", app_id)
    finally:
        await conn.close()
    session = _person_session(console_server, platform, "social", "APPLICANT")
    shown = await (await context.request.get(f"/applications/view?id={app_id}", headers=_as(session))).text()
    assert 'action="/applications/escalate"' in shown
    await sharing.ReplyApplication(sharing_pb2.ReplyApplicationRequest(
        id=app_id, decision=sharing_pb2.REPLY_DECISION_APPROVE), metadata=platform.person("police", "APPROVER"),
        timeout=10)
    answer = await _post(context, "/applications/escalate", session, {"id": app_id, "reason": "逾期未答复"})
    text = await answer.text()
    main = text[text.index("<main"):]
    assert answer.status == 409 and "同意共享申请" in main and "现为“已同意”" in main, main[:800]
    assert "is APPROVED" not in main


async def test_an_unlimited_quota_is_not_offered_as_zero_calls_on_the_reply_form(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """d8e37b3 made a quota of 0 read 不限 wherever it is shown, but the 答复 form's 调用次数上限 input still came
    filled with 0 for an application asking no limit: an approver read that the applicant had asked for no call at
    all. It is now empty, saying 不限; a limited request's number is there as before."""
    from govshare.authorization.v1 import sharing_pb2, sharing_pb2_grpc

    sharing = sharing_pb2_grpc.SharingServiceStub(platform.channel)
    made = []
    for quota in (0, 1000):
        application = sharing_pb2.Application(resource_code="101001/000001", items=["citizen_id", "name", "sex"],
                                              purposes=[1], basis="《社会救助暂行办法》", methods=[1], quota=quota)
        application.requested_expire_time.FromSeconds(int(time.time()) + 365 * 86400)
        made.append((await sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(application=application),
                                                     metadata=platform.metadata("social"), timeout=10)).application.id)
    session = _person_session(console_server, platform, "police", "APPROVER")
    replies = await (await context.request.get("/replies", headers=_as(session))).text()
    cards = {app_id: replies[replies.index(app_id):].split("</section>", 1)[0] for app_id in made}
    assert re.search(r'name="quota" inputmode="numeric" placeholder="不限" value=""', cards[made[0]]), cards[made[0]]
    assert re.search(r'name="quota" [^>]*value="1000"', cards[made[1]]), cards[made[1]]
    answer = await _post(context, "/replies", session, {"id": made[0], "decision": "approve",
                                                          "items": ["name", "sex"], "quota": ""}, max_redirects=0)
    assert answer.status == 303, (answer.status, (await answer.text())[-600:])
    after = await (await context.request.get(answer.headers["location"], headers=_as(session))).text()
    assert f"已同意申请 {made[0]}" in after and "调用上限 不限" in after


async def test_an_application_form_posted_twice_applies_once(  # type: ignore[no-untyped-def]
        context, console_server, platform) -> None:
    """A double click, the back button or a retry after a lost reply posted the same form again, and each post
    made another application for the provider to answer. Each form shown carries its own request_id now."""
    session = _person_session(console_server, platform, "social", "APPLICANT")
    blank = await (await context.request.get("/apply?code=101001/000001", headers=_as(session))).text()
    request_id = re.search(r'<input type="hidden" name="request_id" value="([0-9a-f-]{36})">', blank).group(1)
    form = {"items": ["citizen_id", "name"], "purposes": "1", "basis": "《社会救助暂行办法》", "methods": "1",
            "expire_date": (dt.date.today() + dt.timedelta(days=90)).isoformat(),
            "request_id": request_id}
    made = [await _post(context, "/apply?code=101001/000001", session, form, max_redirects=0) for _ in range(2)]
    assert [answer.status for answer in made] == [303, 303], [(await answer.text())[-800:] for answer in made]
    assert made[0].headers["location"] == made[1].headers["location"], "the second post made a second application"
    # Back to the form already sent, changed, and sent again: not a second application, and said so in Chinese.
    changed = await _post(context, "/apply?code=101001/000001", session, {**form, "purpose_text": "另一项业务"},
                          max_redirects=0)
    text = await changed.text()
    assert changed.status >= 400 and "此申请表已经提交过" in text, (changed.status, text[-800:])
    first = made[0].headers["location"].rsplit("=", 1)[-1]  # the application the form made, named in Chinese
    assert f"（已提交的申请：{first}）。" in text and "was already used" not in text, text[-800:]
    again = await (await context.request.get("/apply?code=101001/000001", headers=_as(session))).text()
    assert request_id not in again, "every form shown gets its own request_id"


class _LosesAReply(grpc.GenericRpcHandler):
    """Between the console and the edge: every call passed on as it is, but the first answer of ``method`` is lost
    after the platform made it (the console is told UNAVAILABLE, as when the connection drops on the way back)."""

    def __init__(self, channel: grpc.aio.Channel, method: str) -> None:
        self.channel, self.method, self.lost = channel, method, 0

    def service(self, details):  # type: ignore[no-untyped-def]
        method = details.method

        async def passed_on(request: bytes, context) -> bytes:  # type: ignore[no-untyped-def]
            metadata = [(k, v) for k, v in context.invocation_metadata() if k == "authorization"]
            try:
                answer = await self.channel.unary_unary(method)(request, metadata=metadata, timeout=10)
            except grpc.aio.AioRpcError as refused:
                await context.abort(refused.code(), refused.details(), refused.trailing_metadata())
            if method == self.method and not self.lost:
                self.lost += 1
                await context.abort(grpc.StatusCode.UNAVAILABLE, "connection reset on the way back")
            return answer

        return grpc.unary_unary_rpc_method_handler(passed_on)


async def test_an_application_whose_answer_was_lost_is_sent_again_from_the_form_kept_and_made_once(  # type: ignore[no-untyped-def]
        browser, platform) -> None:
    """The application was made but its answer lost on the way back (UNAVAILABLE, or a timeout): the page said only
    平台服务…请稍后重试, the form and its request_id gone. The applicant filled in a new form, a new request_id,
    and the provider had two applications to answer. The form now comes back as it was sent, request_id and all,
    saying the application may have been made: sent again, it names the application the first sending made."""
    from govshare.authorization.v1 import sharing_pb2, sharing_pb2_grpc

    purpose = f"窗口受理 {time.time_ns()}"
    loses = "/govshare.authorization.v1.SharingService/SubmitApplication"
    async with _console_through(platform, lambda upstream: _LosesAReply(upstream, loses)) as (app, url):
        session = _person_session(app.state, platform, "social", "APPLICANT")
        ctx = await browser.new_context(base_url=url, locale="zh-CN")
        await ctx.add_cookies([{"name": COOKIE, "value": session.id, "url": url, "httpOnly": True,
                                "secure": True, "sameSite": "Strict"}])
        page = await ctx.new_page()
        await page.goto("/apply?code=101001/000001")
        request_id = await page.locator("input[name=request_id]").input_value()
        await page.get_by_label("民族", exact=True).check()
        await page.get_by_label("业务协同").check()
        await page.locator("[name=purpose_text]").fill(purpose)
        await page.locator("[name=basis]").fill("《社会救助暂行办法》")
        await page.get_by_label("联机查询").check()
        await page.locator("[name=expire_date]").fill((dt.date.today() + dt.timedelta(days=90)).isoformat())
        await page.get_by_role("button", name="提交申请").click()
        await page.wait_for_load_state()
        said = await page.locator("main").inner_text()
        assert "申请可能未提交" in said and "同一张申请表只会提交一次" in said, said
        assert await page.locator("input[name=request_id]").input_value() == request_id
        assert await page.locator("[name=purpose_text]").input_value() == purpose
        await page.get_by_role("button", name="提交申请").click()  # again, as the page says
        await page.wait_for_url("**/applications/view?id=*")
        shown = page.url.rsplit("=", 1)[-1]
        await ctx.close()
    made, token = [], ""
    while True:  # every page: other tests' applications of the 人社局 come before or after
        listed = await sharing_pb2_grpc.SharingServiceStub(platform.channel).ListApplications(
            sharing_pb2.ListApplicationsRequest(role=sharing_pb2.APPLICATION_ROLE_APPLICANT, page_size=100,
                                                page_token=token), metadata=platform.metadata("social"), timeout=10)
        made += [a.id for a in listed.applications if a.purpose_text == purpose]
        if not (token := listed.next_page_token):
            break
    assert made == [shown]


async def test_an_application_form_sent_again_after_the_back_button_in_a_browser_applies_once(  # type: ignore[no-untyped-def]
        context, console_server, platform) -> None:
    """In Chromium, the applicant sent 申请使用, pressed the back button and sent the form again (the browser filled
    its fields in as they were): a second application was made for the provider to answer. Every page is no-store,
    so the back button fetches the form again, with a new request_id in it. The request_id sent is kept in that
    history entry and put back, so the second sending returns the first application; the form opened anew from
    its link has a request_id of its own."""
    page = await open_as(context, console_server, _person_session(console_server, platform, "social", "APPLICANT"))
    await page.goto("/apply?code=101001/000001")
    fresh = await page.locator("input[name=request_id]").input_value()
    await page.get_by_label("民族", exact=True).check()
    await page.get_by_label("业务协同").check()
    await page.locator("[name=basis]").fill("《社会救助暂行办法》")
    await page.get_by_label("联机查询").check()
    await page.locator("[name=expire_date]").fill((dt.date.today() + dt.timedelta(days=90)).isoformat())
    await page.get_by_role("button", name="提交申请").click()
    await page.wait_for_url("**/applications/view?id=*")
    first = page.url.rsplit("=", 1)[-1]
    # The due day itself is in time (until its 23:59:59), which "应在 <day> 前答复" left in doubt.
    flash = await page.locator(".flash").inner_text()
    assert re.search(r"提供部门应在 \d{4}-\d{2}-\d{2}（含当日[^）]*）前答复。", flash), flash
    await page.go_back()
    assert await page.locator("input[name=request_id]").input_value() == fresh
    assert await page.get_by_label("民族", exact=True).is_checked()  # the browser's own restoring, as a person sees
    await page.get_by_role("button", name="提交申请").click()
    await page.wait_for_url("**/applications/view?id=*")
    assert page.url.rsplit("=", 1)[-1] == first, "the form sent again after the back button made a second application"
    await page.goto("/apply?code=101001/000001")
    assert await page.locator("input[name=request_id]").input_value() not in ("", fresh)


async def test_an_application_form_sent_again_after_its_application_was_withdrawn_says_it_is_withdrawn(  # type: ignore[no-untyped-def]
        context, console_server, platform) -> None:
    """The applicant withdrew an application, went back to the form it was made with and sent it again to file it
    anew: the form's request_id returned the withdrawn application, and the page said "已提交申请 app-…，提供部门应在
    … 前答复" of an application nobody would answer. It now says the form was sent before, the application is
    withdrawn, and to open the form again."""
    from govshare.authorization.v1 import sharing_pb2, sharing_pb2_grpc

    session = _person_session(console_server, platform, "social", "APPLICANT")
    blank = await (await context.request.get("/apply?code=101001/000001", headers=_as(session))).text()
    request_id = re.search(r'<input type="hidden" name="request_id" value="([0-9a-f-]{36})">', blank).group(1)
    form = {"items": ["citizen_id", "name"], "purposes": "1", "basis": "《社会救助暂行办法》", "methods": "1",
            "expire_date": (dt.date.today() + dt.timedelta(days=90)).isoformat(), "request_id": request_id}
    made = await _post(context, "/apply?code=101001/000001", session, form, max_redirects=0)
    assert made.status == 303, (await made.text())[-800:]
    app_id = made.headers["location"].rsplit("=", 1)[-1]
    await sharing_pb2_grpc.SharingServiceStub(platform.channel).WithdrawApplication(
        sharing_pb2.WithdrawApplicationRequest(id=app_id, reason="稍后重新申请"),
        metadata=platform.person("social", "APPLICANT"), timeout=10)
    again = await _post(context, "/apply?code=101001/000001", session, form, max_redirects=0)
    text = await again.text()
    main = text[text.index("<main"):]
    assert again.status == 409, (again.status, main[:800])
    said = re.search(r'<div class="problem" role="alert">(.*?)</div>', main).group(1)
    assert "此申请表已于" in said and f"（申请 {app_id}）" in said, said
    assert "撤回申请" in said and "现为“已撤回”" in said, said
    assert "应在" not in said and 'href="/apply?code=101001%2F000001"' in main, main[:800]


@pytest.mark.parametrize("expire_date", ["", "2027-02-30"])
async def test_an_applications_missing_or_malformed_term_is_said_beside_its_input(  # type: ignore[no-untyped-def]
        context, console_server, platform, expire_date: str) -> None:
    """The service requires an application's term (requested_expire_time): the input was not marked required
    and its hint was a loose line under it, not tied to the input (no aria-invalid, no aria-describedby)."""
    session = _person_session(console_server, platform, "social", "APPLICANT")
    blank = await context.request.get("/apply?code=101001/000001", headers=_as(session))
    assert re.search(r'<input id="f-expire_date" name="expire_date" type="date" value="" required', await blank.text())
    answer = await context.request.post("/apply?code=101001/000001", headers=_as(session), form={
        "csrf_token": session.csrf, "items": ["citizen_id", "name"], "purposes": "1", "basis": "《社会救助暂行办法》",
        "methods": "1", "expire_date": expire_date})
    text = await answer.text()
    assert answer.status == 400, (answer.status, text[-600:])
    assert 'aria-invalid="true" aria-describedby="expire_date-error"' in text and 'id="expire_date-error"' in text


async def test_an_application_with_no_item_checked_is_refused_beside_the_items_not_made_for_every_item(  # type: ignore[no-untyped-def]
        context, console_server, platform) -> None:
    """申请的信息项 with no box checked was sent as no items, which the service reads as every item of the resource:
    an applicant who forgot to tick them applied for all of 人口基本信息 (住址, 民族, … the sensitive ones too),
    against the minimum-necessary rule, and the provider was asked to grant it all."""
    from govshare.authorization.v1 import sharing_pb2, sharing_pb2_grpc

    session = _person_session(console_server, platform, "social", "APPLICANT")
    purpose = f"未勾选信息项 {time.time_ns()}"
    answer = await _post(context, "/apply?code=101001/000001", session, {
        "purposes": "1", "purpose_text": purpose, "basis": "《社会救助暂行办法》", "methods": "1",
        "expire_date": (dt.date.today() + dt.timedelta(days=90)).isoformat()}, max_redirects=0)
    text = await answer.text()
    assert answer.status == 400 and 'id="items-error"' in text and "请勾选需要使用的信息项" in text, (
        answer.status, text[-800:])
    listed = await sharing_pb2_grpc.SharingServiceStub(platform.channel).ListApplications(
        sharing_pb2.ListApplicationsRequest(role=sharing_pb2.APPLICATION_ROLE_APPLICANT, page_size=500),
        metadata=platform.metadata("social"), timeout=10)
    assert not [a.id for a in listed.applications if a.purpose_text == purpose]


async def _published_then_changed(platform):  # type: ignore[no-untyped-def]
    """A 人社局 entry published, then changed: its new version is a draft named "…（第二版）"."""
    import uuid

    from google.protobuf import field_mask_pb2

    from frontproc import demo as dept
    from govshare.catalog.v1 import catalog_pb2 as cat
    from govshare.catalog.v1 import catalog_pb2_grpc

    catalog = catalog_pb2_grpc.CatalogServiceStub(platform.channel)
    social = platform.metadata("social")
    entry = dept.social_insurance_entry("")
    entry.code = f"202001/{uuid.uuid4().int % 10**6:06d}"
    entry.endpoint.dataset = f"si_{uuid.uuid4().hex[:8]}"
    await catalog.CreateEntry(cat.CreateEntryRequest(entry=entry), metadata=social, timeout=10)
    await catalog.SubmitEntry(cat.SubmitEntryRequest(code=entry.code), metadata=social, timeout=10)
    await catalog.ReviewEntry(cat.ReviewEntryRequest(code=entry.code, decision=cat.REVIEW_DECISION_PUBLISH),
                              metadata=platform.person("authority", "REVIEWER"), timeout=10)
    entry.name = "社会保险参保信息（第二版）"
    await catalog.UpdateEntry(cat.UpdateEntryRequest(entry=entry, update_mask=field_mask_pb2.FieldMask(paths=["*"])),
                              metadata=social, timeout=10)
    return entry


async def test_a_new_draft_version_of_a_published_entry_is_listed_for_submission(  # type: ignore[no-untyped-def]
        context, console_server, platform) -> None:
    """编目 listed the department's entries by their current version — the published one — and kept the drafts:
    a published entry's new draft version never showed, so its 提交审核 button was nowhere; and 修改 opened the
    published text, which saving wrote over the draft."""
    entry = await _published_then_changed(platform)
    page = await open_as(context, console_server, system_session(console_server, platform, "social"))
    await page.goto("/drafts")
    row = page.locator("tr", has_text=entry.code)
    assert "社会保险参保信息（第二版）" in await row.inner_text() and "草稿" in await row.inner_text()
    await row.get_by_role("link", name="修改").click()  # the draft's text, not the published version's
    assert await page.locator("[name=name]").input_value() == "社会保险参保信息（第二版）"
    await page.goto("/drafts")
    await row.get_by_role("button", name="提交审核").click()
    assert f"已提交审核：{entry.code}" in await page.locator(".flash").inner_text()
    assert "待审核" in await page.locator("tr", has_text=entry.code).inner_text()


async def test_modify_on_a_published_entrys_page_opens_its_draft_and_an_entry_not_to_edit_offers_no_form(  # type: ignore[no-untyped-def]
        context, console_server, platform) -> None:
    """目录's 修改 on a published entry's page opened the published text once a new draft version of it existed:
    the officer's draft changes were not in the form, and 保存 was refused as 已被他人修改 (the etag was the
    published version's), the same link leading to the same refusal. It now opens the draft. A version in review,
    or another department's entry (typed as an address), is said so without the form that saving would refuse."""
    from govshare.catalog.v1 import catalog_pb2 as cat
    from govshare.catalog.v1 import catalog_pb2_grpc

    entry = await _published_then_changed(platform)
    quoted = urllib.parse.quote(entry.code, safe="")
    page = await open_as(context, console_server, _person_session(console_server, platform, "social", "DATA_OFFICER"))
    await page.goto(f"/catalog/entry?code={quoted}")
    await page.get_by_role("link", name="修改（生成新版本", exact=False).click()
    assert await page.locator("[name=name]").input_value() == "社会保险参保信息（第二版）"
    await page.locator("[name=format_type]").fill("PostgreSQL 16")
    await page.get_by_role("button", name="保存草稿").click()
    assert f"已保存 {entry.code}《社会保险参保信息（第二版）》的修改" in await page.locator(".flash").inner_text()

    police = _person_session(console_server, platform, "police", "DATA_OFFICER")
    answer = await context.request.get(f"/drafts/edit?code={quoted}", headers=_as(police))
    text = unescape(await answer.text())
    assert answer.status == 403 and 'id="entry-form"' not in text, (answer.status, text[-800:])
    assert f"目录 {entry.code}《社会保险参保信息》由市人力资源和社会保障局提供，只能由该部门的编目员修改" in text

    await catalog_pb2_grpc.CatalogServiceStub(platform.channel).SubmitEntry(
        cat.SubmitEntryRequest(code=entry.code), metadata=platform.metadata("social"), timeout=10)
    answer = await page.goto(f"/drafts/edit?code={quoted}")
    assert answer is not None and answer.status == 409
    assert await page.locator("#entry-form").count() == 0
    said = await page.locator(".problem").inner_text()
    assert f"目录 {entry.code}《社会保险参保信息（第二版）》的第 2 版已提交审核" in said


async def test_the_authoritys_officer_is_told_a_departments_entry_is_not_theirs_before_filling_its_form(  # type: ignore[no-untyped-def]
        context, console_server, platform) -> None:
    """编目 修改 typed as an address by the authority's 编目员 for a 人社局 draft showed the form (the console took the
    authority for one that edits any entry), and its 保存 was refused: a person edits only their own department's
    entries (the catalog's NOT_YOUR_DEPARTMENT), the authority's too, so what was typed was lost. The page says
    whose the entry is, without the form, as it does to another department's 编目员."""
    import uuid

    from frontproc import demo as dept
    from govshare.catalog.v1 import catalog_pb2 as cat
    from govshare.catalog.v1 import catalog_pb2_grpc

    catalog = catalog_pb2_grpc.CatalogServiceStub(platform.channel)
    entry = dept.social_insurance_entry("")
    entry.code = f"202001/{uuid.uuid4().int % 10**6:06d}"
    entry.endpoint.dataset = f"si_{uuid.uuid4().hex[:8]}"
    await catalog.CreateEntry(cat.CreateEntryRequest(entry=entry), metadata=platform.metadata("social"), timeout=10)
    officer = _person_session(console_server, platform, "authority", "DATA_OFFICER")
    answer = await context.request.get(f"/drafts/edit?code={urllib.parse.quote(entry.code, safe='')}",
                                       headers=_as(officer))
    text = unescape(await answer.text())
    assert answer.status == 403 and 'id="entry-form"' not in text, (answer.status, text[-800:])
    assert f"目录 {entry.code}《社会保险参保信息》由市人力资源和社会保障局提供，只能由该部门的编目员修改" in text


async def test_an_officer_retires_a_published_entry_and_withdraws_a_draft(  # type: ignore[no-untyped-def]
        context, console_server, platform) -> None:
    """R-CAT-3's last step had no page: a published entry's page offered its 编目员 neither a new version nor 撤销,
    and 编目 no way to withdraw a first draft made by mistake; only the API could. Both are now on the pages."""
    import uuid

    from frontproc import demo as dept
    from govshare.catalog.v1 import catalog_pb2 as cat
    from govshare.catalog.v1 import catalog_pb2_grpc

    catalog = catalog_pb2_grpc.CatalogServiceStub(platform.channel)
    social = platform.metadata("social")
    published, draft = dept.social_insurance_entry(""), dept.social_insurance_entry("")
    for entry in (published, draft):
        entry.code = f"202001/{uuid.uuid4().int % 10**6:06d}"
        entry.endpoint.dataset = f"si_{uuid.uuid4().hex[:8]}"
        await catalog.CreateEntry(cat.CreateEntryRequest(entry=entry), metadata=social, timeout=10)
    await catalog.SubmitEntry(cat.SubmitEntryRequest(code=published.code), metadata=social, timeout=10)
    await catalog.ReviewEntry(cat.ReviewEntryRequest(code=published.code, decision=cat.REVIEW_DECISION_PUBLISH),
                              metadata=platform.person("authority", "REVIEWER"), timeout=10)
    # Retiring a published entry is a person's decision (its 编目员's): a business system's token is refused.
    page = await open_as(context, console_server, _person_session(console_server, platform, "social", "DATA_OFFICER"))
    await page.goto(f"/catalog/entry?code={urllib.parse.quote(published.code, safe='')}")
    assert await page.get_by_role("link", name="修改（生成新版本", exact=False).count() == 1
    await page.locator("#retire-reason").fill("职能划转至市医保局")
    # Neither can be taken back (撤销 ends every grant of the entry, 撤回 voids the draft): each asks first, naming
    # what it ends, and a click on the wrong button (提交审核's neighbour) is cancelled; it did it at once.
    dismissed: list[str] = []

    async def dismiss(dialog) -> None:  # type: ignore[no-untyped-def]
        dismissed.append(dialog.message)
        await dialog.dismiss()

    page.once("dialog", dismiss)
    await page.get_by_role("button", name="撤销目录").click()
    await page.goto("/drafts")
    page.once("dialog", dismiss)
    await page.locator("tr", has_text=draft.code).get_by_role("button", name=f"撤回《{draft.name}》").click()
    assert len(dismissed) == 2, dismissed
    assert "其全部授权随之终止" in dismissed[0] and draft.code in dismissed[1], dismissed
    for entry in (published, draft):
        got = await catalog.GetEntry(cat.GetEntryRequest(code=entry.code), metadata=social, timeout=10)
        assert got.entry.state != cat.ENTRY_STATE_RETIRED, entry.code
    confirming(page)
    await page.goto(f"/catalog/entry?code={urllib.parse.quote(published.code, safe='')}")
    await page.locator("#retire-reason").fill("职能划转至市医保局")
    await page.get_by_role("button", name="撤销目录").click()
    assert f"已撤销目录 {published.code}" in await page.locator(".flash").inner_text()
    await page.goto("/drafts")
    await page.locator("tr", has_text=draft.code).get_by_role("button", name=f"撤回《{draft.name}》").click()
    assert f"已撤回 {draft.code}" in await page.locator(".flash").inner_text()
    for entry in (published, draft):
        got = await catalog.GetEntry(cat.GetEntryRequest(code=entry.code), metadata=social, timeout=10)
        assert got.entry.state == cat.ENTRY_STATE_RETIRED


async def test_a_draft_saved_over_another_officers_change_is_refused_not_overwritten(  # type: ignore[no-untyped-def]
        browser, context, console_server, platform) -> None:
    """修改 sends every field: of two officers with the same draft open, the second's 保存 silently put back what
    the first had just changed. The form carries the version's etag: the second save is refused (409), saying so."""
    from govshare.catalog.v1 import catalog_pb2 as cat
    from govshare.catalog.v1 import catalog_pb2_grpc

    entry = await _published_then_changed(platform)
    other = await browser.new_context(base_url=console_server.url, locale="zh-CN")
    try:
        first = await open_as(context, console_server, system_session(console_server, platform, "social"))
        second = await open_as(other, console_server, system_session(console_server, platform, "social"))
        for page in (first, second):
            await page.goto(f"/drafts/edit?code={entry.code}&version=2")
        await first.locator("[name=name]").fill("社会保险参保信息（甲改）")
        await first.get_by_role("button", name="保存").click()
        assert "已保存" in await first.locator(".flash").inner_text()
        await second.locator("[name=summary]").fill("乙改的摘要")
        async with second.expect_response(lambda r: "/drafts/edit" in r.url and r.request.method == "POST") as answer:
            await second.get_by_role("button", name="保存").click()
        assert (await answer.value).status == 409
        assert "已被他人修改" in await second.locator("main").inner_text()
    finally:
        await other.close()
    kept = await catalog_pb2_grpc.CatalogServiceStub(platform.channel).GetEntry(
        cat.GetEntryRequest(code=entry.code, version=2), metadata=platform.metadata("social"), timeout=10)
    assert (kept.entry.name, kept.entry.summary) == ("社会保险参保信息（甲改）", entry.summary)


async def test_a_new_draft_whose_code_another_officer_took_meanwhile_is_a_conflict(  # type: ignore[no-untyped-def]
        context, console_server, platform) -> None:
    """Two officers saving a new draft with one code at once: the second's answer was 400, as if the form were
    wrong; the code is taken (ALREADY_EXISTS), a conflict: 409, as the REST edge answers it."""
    import uuid

    session = system_session(console_server, platform, "police")
    form = {"csrf_token": session.csrf, "code": f"101001/{uuid.uuid4().int % 10**6:06d}", "name": "重复代码",
            "category": "1", "subject": "人口", "format_class": "3", "update_cycle": "2", "share_type": "1",
            "share_methods": "1", "zone": "1", "secrecy": "1", "key_item": "citizen_id",
            "endpoint.dataset": f"dup_{uuid.uuid4().hex[:8]}", "items[0].name": "公民身份号码",
            "items[0].machine_name": "citizen_id", "items[0].data_type": "1", "items[0].length": "18",
            "items[0].basic": "on", "items[0].identifier": "1"}
    answers = await asyncio.gather(*(context.request.post("/drafts/new", headers=_as(session), form=form,
                                                          max_redirects=0) for _ in range(2)))
    assert sorted(a.status for a in answers) == [303, 409], [(a.status, (await a.text())[-600:]) for a in answers]
    refused = next(a for a in answers if a.status == 409)
    said = await refused.text()
    assert f"信息资源代码 {form['code']} 已被另一条目录使用" in said and "already exists" not in said


async def _unconditional_foundation_entry(form, name: str) -> None:  # type: ignore[no-untyped-def]
    """The entry form's fields of a 人口 entry shared unconditionally by online query, but its code and items."""
    await form.locator("[name=name]").fill(name)
    await form.locator("[name=subject]").fill("人口")
    await form.locator("[name=format_class]").select_option(label="数据库")
    await form.locator("[name=update_cycle]").select_option(label="每日")
    await form.locator("[name=share_type]").select_option(label="无条件共享")
    await form.get_by_label("联机查询").check()


async def test_a_new_drafts_code_typed_full_width_is_saved_as_the_code_it_shows(  # type: ignore[no-untyped-def]
        context, console_server, platform) -> None:
    """新建目录's 信息资源代码 typed with a Chinese input method (full-width digits and slash) was said to be of the
    wrong form (格式应为 类(1位,1-3)…, the form it has) as it was typed, and refused by the catalog if sent: it is the
    code it shows, as on 审计 and 疑义. So are 关联资源代码."""
    import uuid

    number = f"{uuid.uuid4().int % 10**6:06d}"
    code = f"101001/{number}"
    wide = code.translate(str.maketrans("0123456789/", "０１２３４５６７８９／"))
    page = await open_as(context, console_server, system_session(console_server, platform, "police"))
    await page.goto("/drafts/new")
    form = page.locator("#entry-form")
    await form.locator("[name=category]").select_option(label="基础")
    await form.locator("[name=code]").fill(wide)
    await form.locator("[name=code]").blur()
    assert await form.locator("[name=code] ~ .live-error").inner_text() == ""
    # A summary is counted in characters, as the catalog counts them: 𠮷 (beyond the BMP) is one, not two.
    for summary, said in (("𠮷" * 256, ""), ("𠮷" * 257, "摘要不超过 256 个字，现在 257 个字。")):
        await form.locator("[name=summary]").fill(summary)
        await form.locator("[name=summary]").blur()
        assert await form.locator("[name=summary] ~ .live-error").inner_text() == said
    await form.locator("[name=summary]").fill("")
    # So is the name: the field's maxlength (UTF-16 units) kept 50 of 100 such characters.
    for name, said in (("𠮷" * 100, ""), ("𠮷" * 101, "名称不超过 100 个字，现在 101 个字。")):
        await form.locator("[name=name]").fill(name)
        await form.locator("[name=name]").blur()
        assert (await form.locator("[name=name]").input_value(),
                await form.locator("[name=name] ~ .live-error").inner_text()) == (name, said)
    await _unconditional_foundation_entry(form, "全角代码的目录")
    await form.locator("[name=related_codes]").fill("１０１００１／００００１")  # one digit short: still said wrong
    await form.locator("[name=related_codes]").blur()
    assert "１０１００１／００００１" in await form.locator("[name=related_codes] ~ .live-error").inner_text()
    await form.locator("[name=related_codes]").fill("１０１００１／０００００１，103001/000001")
    await form.locator("[name='endpoint.dataset']").fill(f"wide_{uuid.uuid4().hex[:8]}")
    await form.locator("[name=key_item]").fill("citizen_id")
    await form.locator("[name='items[0].name']").fill("公民身份号码")
    await form.locator("[name='items[0].machine_name']").fill("citizen_id")
    await form.locator("[name='items[0].data_type']").select_option("1")
    await form.locator("[name='items[0].length']").fill("18")
    await form.locator("[name='items[0].basic']").check()
    await form.locator("[name='items[0].identifier']").select_option("1")
    await form.get_by_role("button", name="保存草稿").click()
    assert f"已保存草稿 {code}《全角代码的目录》" in await page.locator(".flash").inner_text()
    await page.goto(f"/drafts/edit?code={urllib.parse.quote(code, safe='')}")
    assert await page.locator("[name=related_codes]").input_value() == "101001/000001, 103001/000001"


async def test_a_new_entry_of_more_items_than_the_rows_shown_is_written_at_once(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """新建目录 offered 8 item rows and no way to add one: an entry of more items (人口 has more) was saved with its
    first 8, then reopened for two more rows at a time. 增加一行信息项 adds an empty row, numbered on, whose item is
    saved with the others."""
    import uuid

    from govshare.catalog.v1 import catalog_pb2 as cat
    from govshare.catalog.v1 import catalog_pb2_grpc

    code = f"101001/{uuid.uuid4().int % 10**6:06d}"
    page = await open_as(context, console_server, system_session(console_server, platform, "police"))
    await page.goto("/drafts/new")
    form = page.locator("#entry-form")
    rows = form.locator("table.items tbody tr")
    assert await rows.count() == 8
    await form.get_by_role("button", name="增加一行信息项").click()
    await form.get_by_role("button", name="增加一行信息项").click()
    assert await rows.count() == 10
    assert await form.get_by_label("第10项名称").count() == 1
    await form.locator("[name=category]").select_option(label="基础")
    await form.locator("[name=code]").fill(code)
    await _unconditional_foundation_entry(form, "十项的目录")
    await form.locator("[name='endpoint.dataset']").fill(f"rows_{uuid.uuid4().hex[:8]}")
    await form.locator("[name=key_item]").fill("citizen_id")
    for row in range(10):
        await form.get_by_label(f"第{row + 1}项名称").fill("公民身份号码" if row == 0 else f"信息项{row + 1}")
        await form.get_by_label(f"第{row + 1}项英文名").fill("citizen_id" if row == 0 else f"item_{row + 1}")
        await form.get_by_label(f"第{row + 1}项数据类型").select_option("1")
        await form.get_by_label(f"第{row + 1}项长度").fill("18")
    await form.get_by_label("第10项英文名").fill("Item 10")  # checked as typed in the added row too
    await form.get_by_label("第10项英文名").blur()
    assert "英文名用小写字母" in await form.locator("[name='items[9].machine_name'] ~ .live-error").inner_text()
    await form.get_by_label("第10项英文名").fill("item_10")
    await form.get_by_label("第1项为基础项").check()
    await form.get_by_label("第1项键类型").select_option("1")
    await form.get_by_role("button", name="保存草稿").click()
    assert f"已保存草稿 {code}《十项的目录》" in await page.locator(".flash").inner_text()
    got = await catalog_pb2_grpc.CatalogServiceStub(platform.channel).GetEntry(
        cat.GetEntryRequest(code=code), metadata=platform.metadata("police"), timeout=10)
    assert [i.machine_name for i in got.entry.items][-2:] == ["item_9", "item_10"]


async def test_a_draft_is_saved_under_the_departments_name_now_not_the_one_read_at_sign_in(  # type: ignore[no-untyped-def]
        context, console_server, platform) -> None:
    """The console read the person's department name once, at sign-in, and wrote it into every entry they saved as
    its 提供方: a 编目员 signed in before their department was renamed (RenameDepartment, 机构改革) saved drafts, and
    once published the catalogue, under the old name. The name is now the directory's at the time of saving."""
    import uuid

    from govshare.authorization.v1 import directory_pb2, directory_pb2_grpc
    from govshare.catalog.v1 import catalog_pb2 as cat
    from govshare.catalog.v1 import catalog_pb2_grpc

    session = system_session(console_server, platform, "police")
    session.person.department_name = "市公安局（机构改革前）"  # as read at a sign-in before a rename
    code = f"101001/{uuid.uuid4().int % 10**6:06d}"
    answer = await context.request.post("/drafts/new", headers=_as(session), max_redirects=0, form={
        "csrf_token": session.csrf, "code": code, "name": "更名后的目录", "category": "1", "subject": "人口",
        "format_class": "3", "update_cycle": "2", "share_type": "1", "share_methods": "1", "zone": "1",
        "secrecy": "1", "key_item": "citizen_id", "endpoint.dataset": f"renamed_{uuid.uuid4().hex[:8]}",
        "items[0].name": "公民身份号码", "items[0].machine_name": "citizen_id", "items[0].data_type": "1",
        "items[0].length": "18", "items[0].basic": "on", "items[0].identifier": "1"})
    assert answer.status == 303, (await answer.text())[-600:]
    department = platform.credentials.systems["police"]["department"]
    now = (await directory_pb2_grpc.DirectoryServiceStub(platform.channel).GetDepartment(
        directory_pb2.GetDepartmentRequest(code=department), metadata=platform.metadata("police"), timeout=10))
    saved = await catalog_pb2_grpc.CatalogServiceStub(platform.channel).GetEntry(
        cat.GetEntryRequest(code=code, version=1), metadata=platform.metadata("police"), timeout=10)
    assert saved.entry.provider_name == now.department.name != "市公安局（机构改革前）"


async def test_the_authoritys_administrator_renames_a_department_on_the_departments_page(  # type: ignore[no-untyped-def]
        context, console_server, platform) -> None:
    """部门 was read-only: a department renamed in a 机构改革 could only be renamed in the database. The authority's
    管理员 now renames it there (RenameDepartment), told that what was recorded keeps the old name; a department's
    own 管理员 is offered no form, and one posted anyway is refused in Chinese."""
    import random

    from stdnum.cn import uscc

    from govshare.authorization.v1 import directory_pb2, directory_pb2_grpc

    body = "11110100" + "".join(random.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(9))
    code = body + uscc.calc_check_digit(body)
    new = f"市社会服务局{code[-5:]}"  # the session's database is shared: a name no other test gives
    directory = directory_pb2_grpc.DirectoryServiceStub(platform.channel)
    await directory.CreateDepartment(directory_pb2.CreateDepartmentRequest(department=directory_pb2.Department(
        code=code, name="市民政局", level=directory_pb2.ADMINISTRATIVE_LEVEL_MUNICIPAL, region_code="110100")),
        metadata=platform.metadata("authority"), timeout=10)
    administrator = _person_session(console_server, platform, "authority", "ADMINISTRATOR")
    page = await (await context.request.get("/departments", headers=_as(administrator))).text()
    assert 'action="/departments/rename"' in page and "此前的监督评估、报告和管理日志保留原名称" in page
    assert (await console_server.console.names.departments(administrator.token, [code]))[code] == "市民政局"

    empty = await _post(context, "/departments/rename", administrator, {"code": code, "name": " "})
    said = re.findall(r'<div class="problem" role="alert">([^<]*)</div>', await empty.text())
    assert empty.status == 400 and said and not re.search(r"[A-Za-z]{4,}", said[0].replace(code, "")), said
    done = await _post(context, "/departments/rename", administrator, {"code": code, "name": new},
                       max_redirects=0)
    assert done.status == 303 and done.headers["location"] == "/departments", await done.text()
    shown = await (await context.request.get("/departments", headers=_as(administrator))).text()
    assert f"部门 {code} 现名为“{new}”。此前的监督评估、报告和管理日志保留当时的名称。" in shown
    got = await directory.GetDepartment(directory_pb2.GetDepartmentRequest(code=code),
                                        metadata=platform.metadata("authority"), timeout=10)
    assert got.department.name == new
    assert (await console_server.console.names.departments(administrator.token, [code]))[code] == new

    police = platform.credentials.systems["police"]["department"]
    taken = await _post(context, "/departments/rename", administrator, {"code": police, "name": new})
    said = re.findall(r'<div class="problem" role="alert">([^<]*)</div>', await taken.text())
    assert taken.status == 409, said
    assert said == [f"部门 {police} 未更名为“{new}”：已有另一个部门使用这一名称，两个部门同名将无从区分，"
                    "请核对新名称。"], said

    theirs = _person_session(console_server, platform, "police", "ADMINISTRATOR")
    page = await (await context.request.get("/departments", headers=_as(theirs))).text()
    assert 'action="/departments/rename"' not in page
    refused = await _post(context, "/departments/rename", theirs, {"code": code, "name": "市民政局"})
    text = await refused.text()
    assert refused.status == 403 and "共享主管部门" in text, text[-800:]


async def test_a_refused_rename_keeps_the_name_typed_in_the_departments_form(  # type: ignore[no-untyped-def]
        context, console_server, platform) -> None:
    """A 部门更名 refused (a name another department holds, a name of spaces) showed a page saying only why, with a
    link back to 部门: the name the administrator had typed, a long 机构改革 name among them, was gone. 部门 comes
    back, on the page the form was on, with the name as typed in that department's form, why beside it, and the
    keyboard's focus there; a rename then accepted is made."""
    code = await _new_department(platform, "市民政局")
    page = await open_as(context, console_server,
                         _person_session(console_server, platform, "authority", "ADMINISTRATOR"))
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.goto("/departments")
    box = page.get_by_label(f"市民政局{code[-5:]}的新名称")
    while await box.count() == 0:
        await page.get_by_role("link", name="下一页").click()
    taken = "市大数据管理局"  # the authority's own name
    await box.fill(taken)
    await page.get_by_role("button", name=f"更名市民政局{code[-5:]}").click()
    await page.wait_for_load_state()
    assert await box.input_value() == taken
    assert await box.get_attribute("aria-invalid") == "true"
    assert "已有另一个部门使用这一名称" in await page.locator("#name-error").inner_text()
    assert await box.evaluate("el => el === document.activeElement")
    assert (await page.title()).startswith("提交未成功：")
    assert taken in await page.locator('div.problem[role="alert"]').inner_text()
    # Another department's box holds nothing it was not given.
    assert await page.locator("input[name=name][value]").count() == 1

    spaces = "\u3000 \u3000"  # full-width spaces pasted: no name
    await box.fill(spaces)
    await page.get_by_role("button", name=f"更名市民政局{code[-5:]}").click()
    await page.wait_for_load_state()
    assert await box.input_value() == spaces and await box.get_attribute("aria-invalid") == "true"
    said = await page.locator("#name-error").inner_text()
    assert said and not re.search(r"[A-Za-z]{4,}", said), said

    new = f"市社会服务局{code[-5:]}"
    await box.fill(new)
    await page.get_by_role("button", name=f"更名市民政局{code[-5:]}").click()
    assert f"部门 {code} 现名为“{new}”" in await page.locator(".flash").inner_text()


async def _department_row(context, session, code: str) -> str:  # type: ignore[no-untyped-def]
    """The 部门 page's row of department ``code``, following 下一页 as the administrator would."""
    path = "/departments"
    for _ in range(50):
        page = await (await context.request.get(path, headers=_as(session))).text()
        if row := re.search(rf"<tr>\s*<td>[^<]*</td>\s*<td>{code}</td>.*?</tr>", page, re.DOTALL):
            return row.group(0)
        following = re.search(r'<a href="(\?page_token=[^"]+)">下一页</a>', page)
        assert following is not None, f"department {code} is on no page"
        path = "/departments" + unescape(following.group(1))
    raise AssertionError(f"department {code} is on none of 50 pages")


async def test_the_authoritys_administrator_retires_a_department_on_the_departments_page(  # type: ignore[no-untyped-def]
        context, console_server, platform) -> None:
    """机构改革: a department merged into another is retired on 部门 (RetireDepartment), with a confirmation; what still
    blocks it is said in Chinese with how many and what to do first; once retired its row says 已撤销 and into which
    department, and offers no 撤销 again."""
    import random

    from stdnum.cn import uscc

    from govshare.authorization.v1 import directory_pb2, directory_pb2_grpc

    def new_code() -> str:  # early in code order: among the departments the forms' lists offer
        body = "1111010000" + "".join(random.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(7))
        return body + uscc.calc_check_digit(body)

    code, successor = new_code(), new_code()
    directory = directory_pb2_grpc.DirectoryServiceStub(platform.channel)
    for each, name in ((code, f"市民政局{code[-5:]}"), (successor, f"市社会服务局{successor[-5:]}")):
        await directory.CreateDepartment(directory_pb2.CreateDepartmentRequest(department=directory_pb2.Department(
            code=each, name=name, level=directory_pb2.ADMINISTRATIVE_LEVEL_MUNICIPAL, region_code="110100")),
            metadata=platform.metadata("authority"), timeout=10)
    system = await directory.CreateSystem(directory_pb2.CreateSystemRequest(system=directory_pb2.System(
        department_code=code, name="低保审核系统")), metadata=platform.metadata("authority"), timeout=10)
    administrator = _person_session(console_server, platform, "authority", "ADMINISTRATOR")
    row = await _department_row(context, administrator, code)
    assert 'action="/departments/retire"' in row and "撤销不能恢复" in row and "<td>在用</td>" in row, row

    blocked = await _post(context, "/departments/retire", administrator, {"code": code, "merged_into": successor})
    said = re.findall(r'<div class="problem" role="alert">([^<]*)</div>', await blocked.text())
    assert blocked.status == 409 and said == [
        f"部门 {code} 未撤销（并入 {successor}）：该部门仍有1 个启用中的业务系统（请先在“业务系统”页停用）。"
        "请先逐项办结，再撤销该部门。"], said
    # What was typed is kept in the department's form, why beside it (a page saying only why lost it).
    blocked_row = await blocked.text()
    assert re.search(rf'name="merged_into"[^>]*value="{successor}"[^>]*aria-invalid="true"', blocked_row)
    assert 'id="merged_into-error"' in blocked_row
    await directory.DisableSystem(directory_pb2.DisableSystemRequest(id=system.system.id),
                                  metadata=platform.metadata("authority"), timeout=10)
    done = await _post(context, "/departments/retire", administrator, {"code": code, "merged_into": successor},
                       max_redirects=0)
    assert done.status == 303 and done.headers["location"] == "/departments", await done.text()
    shown = await (await context.request.get("/departments", headers=_as(administrator))).text()
    assert f"已撤销部门 市民政局{code[-5:]}（{code}），职责并入部门 {successor}。" in shown
    row = await _department_row(context, administrator, code)
    assert "已撤销（" in row and f"职责并入 市社会服务局{successor[-5:]}）" in row, row
    assert 'action="/departments/retire"' not in row and "<td>在用</td>" not in row

    # 新建人员 no longer offers it (CreatePerson would refuse it); the persons' filter names it 已撤销.
    offered = await (await context.request.get("/persons/new", headers=_as(administrator))).text()
    assert f'value="{successor}"' in offered and f'value="{code}"' not in offered
    filters = await (await context.request.get("/persons", headers=_as(administrator))).text()
    assert re.search(rf'value="{code}"[^>]*>市民政局{code[-5:]}（已撤销）<', filters), filters[-2000:]

    again = await _post(context, "/departments/retire", administrator, {"code": code})
    said = re.findall(r'<div class="problem" role="alert">([^<]*)</div>', await again.text())
    assert again.status == 409 and len(said) == 1 and said[0].startswith(f"部门 {code} 未撤销：部门 {code} 已于 "), said
    assert f"职责已并入部门 {successor}" in said[0], said
    assert not re.search(r"[A-Za-z]{4,}", said[0].replace(code, "").replace(successor, "")), said


@pytest.mark.parametrize("length", ["十八", "-1", "1e3", "99999999999"])
async def test_a_data_items_length_that_is_no_number_is_refused_beside_it_not_dropped(  # type: ignore[no-untyped-def]
        context, console_server, platform, length: str) -> None:
    """An item's 长度 typed as no whole number was read as 0 and the draft saved without it, silently."""
    session = system_session(console_server, platform, "police")
    answer = await context.request.post("/drafts/new", headers=_as(session), form={
        "csrf_token": session.csrf, "code": "101001/000098", "name": "长度", "category": "1", "subject": "人口",
        "format_class": "3", "update_cycle": "2", "share_type": "1", "share_methods": "1", "zone": "1",
        "secrecy": "1", "key_item": "citizen_id", "endpoint.dataset": "length_probe",
        "items[0].name": "公民身份号码", "items[0].machine_name": "citizen_id", "items[0].data_type": "1",
        "items[0].length": length, "items[0].basic": "on", "items[0].identifier": "1"})
    text = await answer.text()
    assert answer.status == 400, (answer.status, text[-600:])
    assert 'id="items-0-length-error"' in text and "长度请填写" in text, text[-1500:]


async def test_the_reviewer_opens_the_submitted_version_not_the_published_one(  # type: ignore[no-untyped-def]
        context, console_server, platform) -> None:
    """审核's 查看全部字段 (and the home page's list) opened the entry's published version: the reviewer read the
    text in force, not the changed version submitted for review."""
    from govshare.catalog.v1 import catalog_pb2 as cat
    from govshare.catalog.v1 import catalog_pb2_grpc

    entry = await _published_then_changed(platform)
    await catalog_pb2_grpc.CatalogServiceStub(platform.channel).SubmitEntry(
        cat.SubmitEntryRequest(code=entry.code), metadata=platform.metadata("social"), timeout=10)
    page = await open_as(context, console_server, _person_session(console_server, platform, "authority", "REVIEWER"))
    await page.goto("/review")
    await page.locator("section.card", has_text=entry.code).get_by_role("link", name="查看全部字段").click()
    assert "（第 2 版，待审核）" in await page.locator("main").inner_text()
    assert "社会保险参保信息（第二版）" in await page.locator("h1").inner_text()


async def test_a_review_from_a_page_shown_before_the_entry_changed_is_refused(  # type: ignore[no-untyped-def]
        context, console_server, platform) -> None:
    """Reviewer A opened 审核; the entry was returned by reviewer B, edited in place and submitted again (its
    version number unchanged); A's 通过 published the new content, which A never saw. The page now sends the etag
    it showed: the review is refused beside the entry, the list shown again holds the new content, and the entry
    stays submitted."""
    import re

    from google.protobuf import field_mask_pb2

    from console.pages import CHANGED_SINCE_REVIEW_OPENED, PUBLISH_WITH_A_REASON
    from govshare.catalog.v1 import catalog_pb2 as cat
    from govshare.catalog.v1 import catalog_pb2_grpc

    catalog = catalog_pb2_grpc.CatalogServiceStub(platform.channel)
    social, reviewer = platform.metadata("social"), platform.person("authority", "REVIEWER")
    entry = await _published_then_changed(platform)
    await catalog.SubmitEntry(cat.SubmitEntryRequest(code=entry.code), metadata=social, timeout=10)
    session = _person_session(console_server, platform, "authority", "REVIEWER")
    shown = await (await context.request.get("/review", headers=_as(session))).text()
    form = re.search(f'name="code" value="{re.escape(entry.code)}"><input type="hidden" name="etag" value="([^"]+)"',
                     shown)
    assert form is not None, shown[:2000]
    # 发布 pressed with a return reason typed publishes nothing: which was meant is asked, the reason kept.
    answer = await context.request.post("/review", headers=_as(session), form={
        "csrf_token": session.csrf, "code": entry.code, "decision": "publish", "reason": "摘要未写明更新周期",
        "etag": form.group(1)})
    text = await answer.text()
    assert answer.status == 400 and PUBLISH_WITH_A_REASON in text and "摘要未写明更新周期" in text, text[:2000]
    await catalog.ReviewEntry(cat.ReviewEntryRequest(code=entry.code, decision=cat.REVIEW_DECISION_RETURN,
                                                     reason="请补充摘要"), metadata=reviewer, timeout=10)
    entry.name = "社会保险参保信息（第二版，退回后修改）"
    await catalog.UpdateEntry(cat.UpdateEntryRequest(entry=entry, update_mask=field_mask_pb2.FieldMask(paths=["name"])),
                              metadata=social, timeout=10)
    await catalog.SubmitEntry(cat.SubmitEntryRequest(code=entry.code), metadata=social, timeout=10)
    answer = await context.request.post("/review", headers=_as(session), form={
        "csrf_token": session.csrf, "code": entry.code, "decision": "publish", "reason": "",
        "etag": form.group(1)})
    text = await answer.text()
    assert answer.status == 400 and CHANGED_SINCE_REVIEW_OPENED in text, text[:2000]
    assert "社会保险参保信息（第二版，退回后修改）" in text
    latest = await catalog.GetEntry(cat.GetEntryRequest(code=entry.code, version=2), metadata=social, timeout=10)
    assert latest.entry.state == cat.ENTRY_STATE_SUBMITTED
    # Another 审核员 publishes it while the page is open: the 退回 pressed then is said not done, and why (it read
    # 没有待审核的目录 alone, 400), its reason kept to copy.
    await catalog.ReviewEntry(cat.ReviewEntryRequest(code=entry.code, decision=cat.REVIEW_DECISION_PUBLISH),
                              metadata=platform.person("authority", "REVIEWER"), timeout=10)
    answer = await context.request.post("/review", headers=_as(session), form={
        "csrf_token": session.csrf, "code": entry.code, "decision": "return", "reason": "请补充更新周期的说明",
        "etag": latest.entry.etag})
    text = await answer.text()
    assert answer.status == 409 and "已不在待审核的目录中：您的审核未办理" in text, (answer.status, text[:3000])
    assert "现为“已发布”" in text and "请补充更新周期的说明" in text


async def test_an_unknown_page_or_a_wrong_method_is_a_chinese_page(context, console_server, platform):  # type: ignore[no-untyped-def]
    session = system_session(console_server, platform, "civil")
    answer = await context.request.get("/no-such-page", headers=_as(session))
    assert answer.status == 404 and "页面不存在" in await answer.text()
    assert answer.headers["content-security-policy"].startswith("default-src 'none'")
    answer = await context.request.get("/drafts/submit", headers=_as(session))  # a POST-only action
    assert answer.status == 405 and "请求方式不正确" in await answer.text()
    assert "POST" in answer.headers["allow"]
    answer = await context.request.get("/no-such-page")  # not signed in: the same page, without a menu
    assert answer.status == 404 and "页面不存在" in await answer.text()


async def test_single_sign_on_not_enabled_is_said_on_the_sign_in_page(context, console_server, platform):  # type: ignore[no-untyped-def]
    """/oidc/start on a console without OIDC answered one bare text line (no page, no way on): it is the sign-in
    page saying to sign in with the password."""
    answer = await context.request.get("/oidc/start")
    text = await answer.text()
    assert answer.status == 404 and answer.headers["content-type"].startswith("text/html"), text[:300]
    assert "统一身份认证登录未启用" in text and 'name="password"' in text


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


async def test_the_console_process_signs_a_person_in(browser, platform, tmp_path):  # type: ignore[no-untyped-def]
    """The console as `govshare up` and the chart start it (``python -m console``, uvicorn's own event loop),
    not inside the test's loop: a channel made before uvicorn's loop runs made every sign-in a 500."""
    port = free_port()
    env = {"GOVSHARE_CONSOLE_LISTEN": f"127.0.0.1:{port}", "GOVSHARE_CONSOLE_GATEWAY": platform.gateway,
           "PATH": "/usr/bin:/bin"}
    log = tmp_path / "console.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(sys.executable, "-m", "console", env=env,
                                                       stdout=subprocess.DEVNULL, stderr=out)
    try:
        for _ in range(200):
            if await asyncio.to_thread(_answers, f"http://127.0.0.1:{port}/healthz") or process.returncode is not None:
                break
            await asyncio.sleep(0.1)
        assert process.returncode is None, "the console process exited"
        ctx = await browser.new_context(base_url=f"http://localhost:{port}", locale="zh-CN")
        try:
            page = await login_demo(ctx, platform, "police.approver")
            assert "李审批" in await page.locator(".flash").inner_text()
            response = await page.goto("/replies")
            assert response.status == 200
        finally:
            await ctx.close()
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 10)
    # Its log is JSON lines like every other process's (uvicorn's own lines included): it was plain text.
    lines = log.read_text(encoding="utf-8").splitlines()
    entries = [json.loads(line) for line in lines]
    assert {entry["component"] for entry in entries} == {"console"}
    assert any(entry["logger"].startswith("uvicorn") for entry in entries), lines


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A platform that accepts the connection and never answers (a stopped process: calls time out)."""
    await reader.read()
    writer.close()


@pytest.mark.parametrize("platform_state", ["refusing", "silent"])
async def test_pages_say_the_platform_is_temporarily_unavailable(context, platform_state):  # type: ignore[no-untyped-def]
    """Every page over a platform that is down (nothing listens: UNAVAILABLE) or stopped (it never answers:
    DEADLINE_EXCEEDED) is a 503 that says so — the home page too, which showed "nothing waits for you"."""
    silent = await asyncio.start_server(_silent, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    if platform_state == "refusing":
        silent.close()
        await silent.wait_closed()
    app = create_app(ConsoleSettings(listen="127.0.0.1:0", gateway=f"127.0.0.1:{port}", call_timeout_seconds=1.0))
    try:
        async with serving(app) as url:
            session = app.state.console.sessions.create(
                Person(username="probe", display_name="探测", department_code="11110100MB00000027",
                       roles=("DATA_OFFICER", "REVIEWER", "AUDITOR", "APPLICANT", "APPROVER")), "a-token",
                4_000_000_000.0)
            # 审计's resource named by its name: the name could not be looked up, which was said as no code (400).
            for path in ("/", "/catalog", "/catalog?q=人口", "/drafts", "/review", "/audit", "/disputes",
                         "/supervision", "/audit?department=市民政局", "/audit?resource=人口基本信息"):
                answer = await context.request.get(url + path, headers=_as(session))
                text = await answer.text()
                assert answer.status == 503, (path, answer.status, text[-600:])
                # A page that only reads says its data could not be loaded and to refresh: it said 您的操作可能未完成
                # (or 未完成), and the person went looking for something they might have changed.
                assert "数据未能加载" in text and "刷新页面重试" in text and "操作未完成" not in text \
                    and "操作可能未完成" not in text, \
                    (path, text[-1500:])
            assert 'value="人口基本信息"' in text and "资源代码应为" not in text, text[-1500:]
            # A change reported meanwhile: the page said only 平台服务…, and the 变更内容 typed was lost.
            answer = await context.request.post(url + "/mandates", headers=_as(session), form={
                "csrf_token": session.csrf, "description": "机构改革，承接原市工商局市场主体登记职能"})
            text = await answer.text()
            assert answer.status == 503 and "平台服务" in text, (answer.status, text[-800:])
            assert ">机构改革，承接原市工商局市场主体登记职能</textarea>" in text, text[-1500:]
            # A dispute reported meanwhile: the same, its evidence lost.
            answer = await context.request.post(url + "/disputes", headers=_as(session), form={
                "csrf_token": session.csrf, "kind": "report", "resource_code": "101001/000001",
                "key": "11010519491231002X", "item": "姓名", "claimed_value": "张三", "evidence": "户口簿原件"})
            text = await answer.text()
            assert answer.status == 503 and "平台服务" in text, (answer.status, text[-800:])
            assert ">户口簿原件</textarea>" in text and 'value="张三"' in text, text[-1500:]
            # A reply's reason to the applicant, a revocation's, a return's: the refusal page said 请稍后重试 and the
            # text written was gone. It is shown to copy.
            for path, form, written in (
                    ("/replies", {"id": "app-" + "0" * 32, "decision": "refuse"},
                     "所申请的联系电话超出低保审核所需，请删去该项后重新申请"),
                    ("/grants", {"id": "grt-" + "0" * 32, "action": "revoke"}, "使用部门的低保审核职能已划转至民政局"),
                    ("/review", {"code": "101001/000001", "decision": "return"}, "摘要未写明数据的更新周期，请补充")):
                answer = await context.request.post(url + path, headers=_as(session), form={
                    "csrf_token": session.csrf, **form, "reason": written})
                text = await answer.text()
                assert answer.status == 503 and "平台服务" in text, (path, answer.status, text[-800:])
                # A decision sent is said unfinished (or perhaps so), not as a page whose data could not be loaded.
                assert "操作未完成" in text or "操作可能未完成" in text, (path, text.split("<main")[-1])
                assert "数据未能加载" not in text, (path, text.split("<main")[-1])
                assert f"readonly rows=\"3\" aria-label=\"未提交的内容 1\">{written}</textarea>" in text, \
                    (path, text[-1500:])
    finally:
        silent.close()


class _FailsOne(grpc.GenericRpcHandler):
    """Between the console and the edge: every call passed on as it is, but ``method`` answered UNAVAILABLE (one
    service of the mesh not answering one kind of call: a catalog replica, a hung query)."""

    def __init__(self, channel: grpc.aio.Channel, method: str) -> None:
        self.channel, self.method = channel, method

    def service(self, details):  # type: ignore[no-untyped-def]
        method = details.method

        async def passed_on(request: bytes, context) -> bytes:  # type: ignore[no-untyped-def]
            if method == self.method:
                await context.abort(grpc.StatusCode.UNAVAILABLE, "no answer")
            metadata = [(k, v) for k, v in context.invocation_metadata() if k == "authorization"]
            try:
                return await self.channel.unary_unary(method)(request, metadata=metadata, timeout=10)
            except grpc.aio.AioRpcError as refused:
                await context.abort(refused.code(), refused.details(), refused.trailing_metadata())

        return grpc.unary_unary_rpc_method_handler(passed_on)


async def test_the_review_page_says_when_an_entrys_returns_could_not_be_read(context, platform):  # type: ignore[no-untyped-def]
    """审核 lists the submitted entries (ListEntries), then reads each one's returns and the published version it
    changes (GetEntry). When that read was not answered the card showed neither, as of a version never returned and
    changing nothing: the 审核员 published it without reading what had been asked of it. The card now says they
    could not be read, and to refresh before deciding."""
    await submitted_social_entry(platform)  # a card at least, whose GetEntry fails
    failing = "/govshare.catalog.v1.CatalogService/GetEntry"
    async with _console_through(platform, lambda upstream: _FailsOne(upstream, failing)) as (app, url):
        session = _person_session(app.state, platform, "authority", "REVIEWER")
        page = await context.request.get(f"{url}/review", headers=_as(session))
        text = unescape(await page.text())
        assert page.status == 200, text[-1500:]
        cards = text.split('<section class="card"')[1:]
        assert cards and all("退回记录或与已发布版本的比较暂时无法读取" in card for card in cards), text[-3000:]


async def test_a_refused_action_without_a_form_says_which_value_is_wrong(context, console_server, platform):  # type: ignore[no-untyped-def]
    """Submitting an entry by a code that is no code: the refusal page has no field to show the service's reason
    beside, so it says it (it said "fix the fields as their hints say", and showed no field)."""
    session = system_session(console_server, platform, "police")
    answer = await context.request.post("/drafts/submit", headers=_as(session),
                                        form={"csrf_token": session.csrf, "code": "😀"})
    text = await answer.text()
    assert answer.status == 400, text[-600:]
    assert "提交的内容有误：" in text and "请按字段旁的提示" not in text


@pytest.mark.parametrize(("method", "path", "form", "back"), [
    ("GET", "/applications/view?id=a-unknown", {}, "/applications"),
    ("GET", "/catalog/entry?code=bad", {}, "/catalog"),
    ("GET", "/apply?code=bad", {}, "/catalog"),
    ("GET", "/drafts/edit?code=bad", {}, "/drafts"),
    ("POST", "/drafts/submit", {"code": "bad"}, "/drafts"),
    ("POST", "/applications/escalate", {"id": "a-unknown", "reason": "逾期"}, "/applications"),
    ("POST", "/persons/action", {"id": "p-unknown", "action": "unlock"}, "/persons"),
])
async def test_a_refusals_back_link_leads_to_a_page_that_answers(  # type: ignore[no-untyped-def]
        context, console_server, platform, method, path, form, back):
    """"返回" on a refusal led to the refused address without its id (another refusal) or, for a POST-only
    action, to a 405 "wrong request method" page: it leads to the list the object was reached from."""
    session = system_session(console_server, platform, "authority")
    if method == "GET":
        answer = await context.request.get(path, headers=_as(session))
    else:
        answer = await context.request.post(path, headers=_as(session), form={"csrf_token": session.csrf, **form})
    text = await answer.text()
    assert 400 <= answer.status < 500, (answer.status, text[-600:])
    assert f'<a href="{back}">返回</a>' in text, text[-600:]
    assert (await context.request.get(back, headers=_as(session))).status == 200


@pytest.mark.parametrize("path", ["/catalog?page_token=garbage", "/review?page_token=%E4%BC%AA",
                                  "/grants?page_token=AAAA", "/audit?page_token=x"])
async def test_a_garbage_page_token_says_to_start_from_the_first_page(context, console_server, platform, path):  # type: ignore[no-untyped-def]
    """A stale, forged or foreign page link: the person cannot fix a field they cannot see (the page said "fix
    the fields as their hints say", with a 200 on the catalog), so the page says to start again from page one."""
    session = system_session(console_server, platform, "authority")
    answer = await context.request.get(path, headers=_as(session))
    text = await answer.text()
    assert answer.status == 400, (answer.status, text[-600:])
    assert "分页链接无效或已过期" in text and "请按字段旁的提示" not in text


@pytest.mark.parametrize(("path", "nothing"), [("/disputes?c_token=garbage", "没有需要您处理的数据冲突"),
                                             ("/catalog/entry?code=101001/000001&v_token=garbage", "&amp;version=1\"")])
async def test_a_second_list_that_is_refused_says_so_not_that_it_is_empty(  # type: ignore[no-untyped-def]
        context, console_server, platform, path, nothing):
    """The conflicts under the disputes and an entry's versions: their refusal (a stale page link here; the
    foundation service or the catalog down alike) was dropped, and the section said there was nothing."""
    session = system_session(console_server, platform, "authority")
    answer = await context.request.get(path, headers=_as(session))
    text = await answer.text()
    assert answer.status == 200, (answer.status, text[-600:])
    assert "分页链接无效或已过期" in text and nothing not in text, text[-1500:]


@pytest.mark.parametrize(("path", "system", "nothing"), [
    ("/catalog?page_token=garbage", "civil", "没有符合条件的资源"),
    ("/audit?page_token=garbage", "civil", "没有使用记录"),
    ("/disputes?page_token=garbage", "civil", "没有疑义"),
])
async def test_a_refused_list_does_not_also_say_it_is_empty(  # type: ignore[no-untyped-def]
        context, console_server, platform, path, system, nothing):
    """Beside the refusal ("only the sharing authority may list every department's evaluation", a stale page
    link) the page also said there was nothing — no evaluation this month, no resource, no record."""
    session = system_session(console_server, platform, system)
    answer = await context.request.get(path, headers=_as(session))
    text = await answer.text()
    assert answer.status in (400, 403), (answer.status, text[-600:])
    assert 'class="problem"' in text and nothing not in text, text[-1500:]


async def test_a_departments_auditor_sees_its_own_evaluation_on_the_supervision_page(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """The menu offers 监督 to every 审计员, and every department's list is the authority's: a department's 审计员
    opening it was told only 您的角色或部门无权执行此操作. It now shows the department's own evaluation, and no
    other's."""
    today = dt.datetime.now(CHINA).date()
    await supervision_pb2_grpc.SupervisionServiceStub(platform.channel).ComputeSnapshots(
        supervision_pb2.ComputeSnapshotsRequest(year=today.year, month=today.month),
        metadata=platform.metadata("authority"), timeout=60)
    session = system_session(console_server, platform, "police", roles=("AUDITOR",))
    answer = await context.request.get(f"/supervision?year={today.year}&month={today.month}", headers=_as(session))
    text = await answer.text()
    assert answer.status == 200, (answer.status, text[-600:])
    assert 'class="problem"' not in text and "此处为本部门的评估结果" in text, text[-1500:]
    # The evaluations table's rows only: the violations table below it names the department too, once per
    # violation other tests left (CI's order gave police one).
    evaluations = text.split('<table id="evaluations">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr><td>(.*?)</td>", evaluations)
    assert rows == ["市公安局"], rows


async def _violations_listed(context, headers: dict[str, str], period: str) -> str:  # type: ignore[no-untyped-def]
    """The 违规情况 of the 监督 page of ``period``, every page of them, following their 下一页 as the supervisor would:
    they are listed by department code, 20 a page, and the violations of the departments other tests made
    (test_catalog.py's, when it ran first) may come before a demo department's."""
    path, listed = period, []
    for _ in range(50):
        page = await (await context.request.get(path, headers=headers)).text()
        section = page.split("<h2>违规情况</h2>", 1)[1]
        listed.append(section)
        pager = section.split('aria-label="违规情况分页"', 1)[1].split("</nav>", 1)[0]
        following = re.search(r'<a href="(\?[^"]+)">下一页</a>', pager)
        if following is None:
            return "".join(listed)
        path = "/supervision" + unescape(following.group(1))
    raise AssertionError(f"the violations of {period} run past 50 pages")


async def test_the_supervision_page_lists_the_months_violations_in_chinese(  # type: ignore[no-untyped-def]
        context, console_server, platform, database_url):
    """The page showed how many violations each department had, and nowhere which: the authority had to generate
    the yearly report to read one. Each is listed with its rule, article, subject and evidence in Chinese; a
    department sees its own."""
    import asyncpg

    from services.supervision.months import Month
    from services.supervision.violations import ARTICLES, Violation

    today = dt.datetime.now(CHINA).date()
    stub = supervision_pb2_grpc.SupervisionServiceStub(platform.channel)
    compute = supervision_pb2.ComputeSnapshotsRequest(year=today.year, month=today.month)
    await stub.ComputeSnapshots(compute, metadata=platform.metadata("authority"), timeout=60)
    police, market = (platform.credentials.systems[s]["department"] for s in ("police", "market"))
    # The system is named as the reports name it (the page and the export said 业务系统：sys-… alone).
    system = platform.credentials.systems["market"]["system_id"]
    named = f"业务系统：市场主体登记系统（{system}）"
    month = Month(today.year, today.month)
    found = [Violation(police, month, supervision_pb2.VIOLATION_RULE_DATA_NOT_PROVIDED,
                       "resource:101001/000001:endpoint",
                       {"resource": "101001/000001", "failed_calls": "3", "calls": "4", "failure_rate": "0.750"}),
             Violation(market, month, supervision_pb2.VIOLATION_RULE_PURPOSE_NOT_GRANTED,
                       f"system:{system}:resource:101001/000001:purpose:WORK_REFERENCE",
                       {"system": system, "resource": "101001/000001", "purpose": "WORK_REFERENCE",
                        "refused_calls": "2"})]
    conn = await asyncpg.connect(database_url)
    try:
        await conn.executemany(
            "INSERT INTO supervision.violations (id, month, department_code, rule, article, subject, evidence)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            [(v.id, month.first_day, v.department_code, v.rule, ARTICLES[v.rule], v.subject, json.dumps(v.evidence))
             for v in found])
        period = f"/supervision?year={today.year}&month={today.month}"
        authority = _as(system_session(console_server, platform, "authority", roles=("AUDITOR",)))
        listed = await _violations_listed(context, authority, period)
        for expected in ("市公安局", "未向共享平台及时提供共享信息", "资源：101001/000001；服务接口",
                         "资源代码：101001/000001；调用次数：4；失败调用次数：3；失败率：75.0%", "市市场监督管理局",
                         "超出授权用途使用共享信息", "用途：工作参考", f"{named}；资源：101001/000001"):
            assert expected in listed, (expected, listed[:2000])
        exported = await context.request.get(f"/supervision/export?what=violations&year={today.year}"
                                             f"&month={today.month}", headers=authority)
        assert named in (await exported.body()).decode("utf-8-sig")
        own_listed = await _violations_listed(context, _as(system_session(
            console_server, platform, "police", roles=("AUDITOR",))), period)
        assert "未向共享平台及时提供共享信息" in own_listed and "超出授权用途使用共享信息" not in own_listed
    finally:
        await conn.close()
        await stub.ComputeSnapshots(compute, metadata=platform.metadata("authority"), timeout=60)


async def _supervision_page_listing(context, session, period: str, code: str) -> str:  # type: ignore[no-untyped-def]
    """The 监督 page of ``period`` whose evaluations list department ``code``, following the evaluations' 下一页 as
    the supervisor would: they are listed by code, 20 a page, and the departments other tests made (test_catalog.py's,
    when it ran first) may come before it."""
    path = period
    for _ in range(50):
        page = await (await context.request.get(path, headers=_as(session))).text()
        evaluations = page.split('<table id="evaluations">', 1)[1].split("</table>", 1)[0]
        if f"department={code}&amp;" in evaluations:
            return page
        pager = page.split('aria-label="评估结果分页"', 1)[1].split("</nav>", 1)[0]
        following = re.search(r'<a href="(\?[^"]+)">下一页</a>', pager)
        assert following is not None, f"department {code} is on no page of {period}"
        path = "/supervision" + unescape(following.group(1))
    raise AssertionError(f"department {code} is on none of 50 pages of {period}")


async def test_the_supervision_page_offers_the_reports_as_downloads(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """The yearly report (Art. 18) and the monthly feedback came from the API or `govshare report` only: a
    supervisor at the console could read the month's scores but not take the report away. The page links them,
    the platform's for the authority, a department's own for it; another department's is refused. The authority's
    supervisors had no link to a department's reports (the report it sends that department, R-SUP-2): each
    department's row links its yearly report and its month's feedback."""
    today = dt.datetime.now(CHINA).date()
    await supervision_pb2_grpc.SupervisionServiceStub(platform.channel).ComputeSnapshots(
        supervision_pb2.ComputeSnapshotsRequest(year=today.year, month=today.month),
        metadata=platform.metadata("authority"), timeout=60)
    period = f"/supervision?year={today.year}&month={today.month}"
    authority = system_session(console_server, platform, "authority", roles=("AUDITOR",))
    police = platform.credentials.systems["police"]["department"]
    page = await _supervision_page_listing(context, authority, period, police)
    every = [unescape(link) for link in re.findall(r'href="(/supervision/report\?[^"]+)"', page)]
    links = [link for link in every if "department=" not in link]
    assert links == [f"/supervision/report?kind=yearly&year={today.year}&format={f}" for f in ("html", "pdf", "csv")]
    rows = [link for link in every if f"department={police}" in link]
    assert rows == [f"/supervision/report?kind=yearly&year={today.year}&department={police}&format=pdf",
                    f"/supervision/report?kind=monthly&year={today.year}&month={today.month}&department={police}"
                    "&format=pdf"], every
    for link, title in zip(rows, ("共享情况报告", "共享信息使用情况反馈"), strict=True):
        report = await context.request.get(link.replace("format=pdf", "format=html"), headers=_as(authority))
        assert report.status == 200 and title in await report.text()
    answer = await context.request.get(links[1], headers=_as(authority))
    assert answer.status == 200 and answer.headers["content-type"] == "application/pdf"
    assert answer.headers["content-disposition"] == f'attachment; filename="yearly-{today.year}-platform.pdf"'
    assert (await answer.body()).startswith(b"%PDF-")
    table = await context.request.get(links[2], headers=_as(authority))  # for Excel: a byte order mark, CRLF
    assert table.status == 200 and table.headers["content-type"] == "text/csv; charset=utf-8"
    assert table.headers["content-disposition"] == f'attachment; filename="yearly-{today.year}-platform.csv"'
    body = await table.body()
    assert body.startswith(b"\xef\xbb\xbf") and "一、总体情况\r\n".encode() in body

    own = system_session(console_server, platform, "police", roles=("AUDITOR",))
    page = await (await context.request.get(period, headers=_as(own))).text()
    links = [unescape(link) for link in re.findall(r'href="(/supervision/report\?[^"]+)"', page)]
    assert len(links) == 6 and all(f"department={police}" in link for link in links), links
    feedback = await context.request.get(links[3], headers=_as(own))
    assert feedback.status == 200 and "共享信息使用情况反馈" in await feedback.text()
    other = await context.request.get(f"/supervision/report?kind=yearly&year={today.year}&format=html",
                                      headers=_as(own))
    assert other.status == 403
    broken = await context.request.get("/supervision/report?kind=weekly&year=2026&format=html", headers=_as(own))
    assert broken.status == 400 and "报告链接不完整或有误" in await broken.text()


async def test_a_report_download_waits_as_long_as_a_report_takes(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """The console called GenerateReport within its 5 s call timeout: a yearly PDF takes 2 to 3 s on the demo
    platform and more on a busy one, so the download ended on the 503 'platform timed out' page where `govshare
    report` (and the edge, since 0d05003) waits 120 s."""
    from services.supervision.report_client import TIMEOUT_SECONDS

    services = console_server.console.services
    stub = services.supervision
    original = stub.GenerateReport
    waited: list[float] = []

    def recording(request, **kwargs):  # type: ignore[no-untyped-def]
        waited.append(kwargs["timeout"])
        return original(request, **kwargs)

    stub.GenerateReport = recording
    try:
        today = dt.datetime.now(CHINA).date()
        answer = await context.request.get(f"/supervision/report?kind=yearly&year={today.year}&format=html",
                                           headers=_as(system_session(console_server, platform, "authority",
                                                                      roles=("AUDITOR",))))
        assert answer.status == 200
    finally:
        stub.GenerateReport = original
    assert waited == [TIMEOUT_SECONDS] and services.timeout < TIMEOUT_SECONDS


async def test_the_months_evaluations_and_violations_export_as_csv_for_excel(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """The page showed them a page at a time: a supervisor who wanted them in a spreadsheet copied them off the
    screen. Both export whole, with Chinese headers, as UTF-8 with the byte order mark Excel needs."""
    import csv
    import io

    today = dt.datetime.now(CHINA).date()
    await supervision_pb2_grpc.SupervisionServiceStub(platform.channel).ComputeSnapshots(
        supervision_pb2.ComputeSnapshotsRequest(year=today.year, month=today.month),
        metadata=platform.metadata("authority"), timeout=60)
    authority = system_session(console_server, platform, "authority", roles=("AUDITOR",))
    page = await (await context.request.get(f"/supervision?year={today.year}&month={today.month}",
                                            headers=_as(authority))).text()
    links = [unescape(link) for link in re.findall(r'href="(/supervision/export\?[^"]+)"', page)]
    assert links == [f"/supervision/export?what={what}&year={today.year}&month={today.month}"
                     for what in ("evaluations", "violations")]
    answer = await context.request.get(links[0], headers=_as(authority))
    assert answer.status == 200 and answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.headers["content-disposition"] == \
        f'attachment; filename="evaluations-{today.year}-{today.month:02d}.csv"'
    body = await answer.body()
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:3] == ["部门代码", "部门名称", "综合评分"] and rows[0][-3] == "违规数"
    # The month in progress: each row says until when it counts, and that the month had not ended (the export
    # read as the whole month's scores).
    assert rows[0][-2:] == ["数据截至（北京时间）", "阶段性数据（计算时该月未结束）"]
    until = dt.datetime.strptime(rows[1][-2], "%Y-%m-%d %H:%M").replace(tzinfo=CHINA)
    assert until.date() == today and {row[-1] for row in rows[1:]} == {"是"}
    police = platform.credentials.systems["police"]["department"]
    assert [police, "市公安局"] in [row[:2] for row in rows[1:]]
    listed = (await supervision_pb2_grpc.SupervisionServiceStub(platform.channel).ListEvaluations(
        supervision_pb2.ListEvaluationsRequest(year=today.year, month=today.month, page_size=1000),
        metadata=platform.metadata("authority"), timeout=10)).evaluations
    # A code of digits alone (other tests make such departments) comes after a tab, so Excel keeps it as text.
    assert [row[0] for row in rows[1:]] == [excel_csv.cell(e.department_code) for e in listed]
    violations = await context.request.get(links[1], headers=_as(authority))
    assert violations.status == 200
    header = next(csv.reader(io.StringIO((await violations.body()).decode("utf-8-sig"))))
    assert header == ["部门代码", "部门名称", "违规类型", "依据", "对象", "证据"]
    own = await context.request.get(links[0], headers=_as(system_session(console_server, platform, "police",
                                                                         roles=("AUDITOR",))))
    own_rows = list(csv.reader(io.StringIO((await own.body()).decode("utf-8-sig"))))
    assert [row[0] for row in own_rows[1:]] == [police]


@pytest.mark.parametrize("query", ["q=" + "人" * 5000, "provider=not-a-credit-code"])
async def test_a_refused_catalog_filter_is_shown_beside_its_input(context, console_server, platform, query):  # type: ignore[no-untyped-def]
    """The service names filter.provider_department_code or query; the inputs are provider and q: the page said
    "fix the fields as their hints say" and showed no hint."""
    session = system_session(console_server, platform, "civil")
    answer = await context.request.get(f"/catalog?{query}", headers=_as(session))
    text = await answer.text()
    assert answer.status == 400, (answer.status, text[-600:])
    name = query.split("=", 1)[0]
    assert f'id="{name}-error"' in text, text[-1500:]


@pytest.mark.parametrize(("path", "name"), [("/audit?resource=%3Cb%3E", "resource"),
                                          ("/audit?system=%3Cb%3Esys", "system"),
                                          ("/supervision?year=1999", "year"), ("/supervision?year=99999", "year"),
                                          ("/supervision?year=2026&month=13", "month"),
                                          ("/supervision?year=2026&month=0", "month"),
                                          ("/supervision?year=abc&month=1", "year")])
async def test_a_refused_audit_or_supervision_filter_is_shown_beside_its_input(  # type: ignore[no-untyped-def]
        context, console_server, platform, path, name):
    """The audit page's resource code and the supervision page's year: the service names the field, the page
    said "fix the fields as their hints say" and showed no hint beside any input."""
    session = system_session(console_server, platform, "authority", roles=("AUDITOR",))
    answer = await context.request.get(path, headers=_as(session))
    text = await answer.text()
    assert answer.status == 400, (answer.status, text[-600:])
    assert f'id="{name}-error"' in text and f'aria-describedby="{name}-error"' in text, text[-1500:]
    assert "<b>" not in text


async def test_the_audit_pages_resource_code_typed_full_width_lists_that_resource(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """资源代码 typed with a Chinese input method (full-width digits and slash) was refused with the service's
    English hint ("give a resource code such as 101001/000001…"); it now lists that resource, and a code that is
    none (nor the name of one) is said in Chinese beside the input."""
    session = system_session(console_server, platform, "authority", roles=("AUDITOR",))
    answer = await context.request.get("/audit?resource=１０１００１／０００００１", headers=_as(session))
    text = await answer.text()
    assert answer.status == 200, (answer.status, text[-1500:])
    assert 'name="resource" value="101001/000001"' in text and 'id="resource-error"' not in text
    answer = await context.request.get("/audit?resource=人口基本信息表", headers=_as(session))
    text = await answer.text()
    assert answer.status == 400 and 'id="resource-error"' in text, (answer.status, text[-1500:])
    assert "资源代码应为分类码" in text and "give a resource code" not in text, text[-1500:]


async def test_the_audit_page_says_another_departments_resource_is_not_listed_not_that_nobody_used_it(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """A department's 审计员 typing another department's resource code read 所选期间没有使用记录 and 没有使用记录 (the
    service lists the caller's department's resources only) of a resource the other department's systems use
    every day. It is said beside 资源代码 whose resource it is and that the page lists the department's own; the
    department's own resource lists, and the authority's auditor still lists any."""
    import grpc

    from govshare.common.v1 import common_pb2
    from govshare.query.v1 import query_pb2, query_pb2_grpc

    purpose = common_pb2.Purpose(type=common_pb2.PURPOSE_TYPE_WORK_REFERENCE, text="审计范围")
    with contextlib.suppress(grpc.aio.AioRpcError):  # answered or refused, it is on record
        await query_pb2_grpc.QueryServiceStub(platform.channel).Query(query_pb2.QueryRequest(
            resource_code="102001/000001", key="91350100M000100Y8X", items=["name"], purpose=purpose),
            metadata=platform.metadata("social"), timeout=10)
    police = system_session(console_server, platform, "police", roles=("AUDITOR",))
    answer = await context.request.get("/audit?resource=102001/000001", headers=_as(police))
    text = unescape(await answer.text())
    assert answer.status == 400 and 'id="resource-error"' in text, (answer.status, text[-1500:])
    assert "资源 102001/000001 由市市场监督管理局提供：本页只列本部门提供的资源的使用记录" in text
    assert "没有使用记录" not in text
    answer = await context.request.get("/audit?resource=101001/000001", headers=_as(police))
    assert answer.status == 200 and 'id="resource-error"' not in await answer.text()
    authority = system_session(console_server, platform, "authority", roles=("AUDITOR",))
    answer = await context.request.get("/audit?resource=102001/000001", headers=_as(authority))
    text = await answer.text()
    assert answer.status == 200 and 'id="resource-error"' not in text and "没有使用记录" not in text, text[-1500:]
    # The authority's 编目员 lists the accesses to the authority's own resources only, as the service answers it.
    officer = system_session(console_server, platform, "authority", roles=("DATA_OFFICER",))
    answer = await context.request.get("/audit?resource=102001/000001", headers=_as(officer))
    text = unescape(await answer.text())
    assert answer.status == 400 and "资源 102001/000001 由市市场监督管理局提供" in text, (answer.status, text[-1500:])


async def test_the_first_and_last_days_a_date_input_takes_are_bounds_not_a_500(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """审计's 截止日期 9999-12-31 (typed for "no end") was a 500 page: the day after it, the exclusive end, is no date;
    起始日期 0001-01-01 too (its Beijing midnight is before the first instant a Timestamp holds), and so was a 职能变更
    dated 0001-01-01. Such a bound bounds nothing; the change's date is refused beside its input as too early."""
    session = system_session(console_server, platform, "authority", roles=("AUDITOR",))
    answer = await context.request.get("/audit?resource=101001/000001&from=0001-01-01&to=9999-12-31",
                                       headers=_as(session))
    text = await answer.text()
    assert answer.status == 200, (answer.status, text[-1500:])
    assert 'value="0001-01-01"' in text and 'value="9999-12-31"' in text and 'id="to-error"' not in text
    officer = system_session(console_server, platform, "police", roles=("DATA_OFFICER",))
    answer = await context.request.post("/mandates", headers=_as(officer), form={
        "csrf_token": officer.csrf, "description": "机构改革", "change_date": "0001-01-01"})
    text = unescape(await answer.text())
    assert answer.status == 400 and 'id="change_date-error"' in text, (answer.status, text[-1500:])
    assert "不能早于" in text


async def test_the_audit_pages_dates_are_read_as_written_or_refused_quoting_them(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """审计's dates in a link edited by hand (or typed in a browser whose date input is a text box): 2026-W05 was
    read as Monday 26 January and 20260131 as the 31st while the date inputs, which show YYYY-MM-DD alone, were
    blank, so the accesses listed were filtered by a day the page did not show; 2026/1/31 and 2026年1月31日 were
    refused. Dates as people write them, full-width too, are read and shown as the inputs write them; anything else
    is refused beside its input quoting what was sent, and a day that does not exist is said to be none."""
    page = await open_as(context, console_server,
                         system_session(console_server, platform, "authority", roles=("AUDITOR",)))
    from_box, to_box = page.get_by_label("起始日期（北京时间）"), page.get_by_label("截止日期（含当日）")
    today = dt.datetime.now(CHINA).date()

    async def accesses() -> str:  # the page's accesses and their summary (viewing it adds to 管理操作日志 below)
        shown = await page.locator("main").inner_text()
        return shown[:shown.index("管理操作日志")]

    await page.goto(f"/audit?from={today.isoformat()}&to={today.isoformat()}")
    listed = await accesses()
    full_width = str.maketrans("0123456789-", "０１２３４５６７８９－")
    for written in (f"{today.year}/{today.month}/{today.day}", f"{today.year}年{today.month}月{today.day}日",
                    today.strftime("%Y%m%d"), today.isoformat().translate(full_width)):
        answer = await page.goto(f"/audit?from={urllib.parse.quote(written)}&to={urllib.parse.quote(written)}")
        assert answer is not None and answer.status == 200, (written, answer and answer.status)
        assert (await from_box.input_value(), await to_box.input_value()) == (today.isoformat(),) * 2, written
        assert await accesses() == listed, written
    for sent, said in (("2026-W05", "无法识别日期“2026-W05”"), ("2026-W05-6", "无法识别日期“2026-W05-6”"),
                       ("2026-02-30", "2026 年 2 月 30 日不是实有的日期")):
        answer = await page.goto(f"/audit?from={sent}")
        assert answer is not None and answer.status == 400, (sent, answer and answer.status)
        assert said in await page.locator("#from-error").inner_text(), sent
        assert await page.locator("table caption", has_text="资源使用记录").count() == 0, sent


async def test_a_resource_code_typed_as_the_catalogs_keyword_opens_its_entry(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """目录's 关键词 holding a resource code (copied from a letter, a grant, an access record) said 没有符合条件的资源
    of a published resource: the search reads names, summaries and item names. It opens the entry, full-width
    digits and slash too."""
    session = system_session(console_server, platform, "social")
    for typed in ("101001/000001", " １０１００１／０００００１ "):
        answer = await context.request.get(f"/catalog?q={urllib.parse.quote(typed)}", headers=_as(session),
                                           max_redirects=0)
        assert answer.status == 303, (typed, answer.status)
        assert answer.headers["location"] == "/catalog/entry?code=101001%2F000001"
    answer = await context.request.get("/catalog/entry?code=101001%2F000001", headers=_as(session))
    assert answer.status == 200 and "人口基本信息" in await answer.text()


async def test_the_supervision_pages_month_is_said_in_chinese_and_the_month_in_progress_as_such(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """A month not begun and a year out of range read "the month has not begun" and "must be between 2000 and 2100"
    beside the inputs, in English; the month in progress showed its scores as if final."""
    session = system_session(console_server, platform, "authority", roles=("AUDITOR",))
    today = dt.datetime.now(CHINA).date()
    coming = (today.replace(day=28) + dt.timedelta(days=7)).replace(day=1)
    answer = await context.request.get(f"/supervision?year={coming.year}&month={coming.month}", headers=_as(session))
    text = await answer.text()
    assert answer.status == 400, (answer.status, text[-600:])
    assert f"{coming.year}年{coming.month}月尚未开始" in text and 'id="month-error"' in text, text[-1500:]
    assert "has not begun" not in text
    answer = await context.request.get("/supervision?year=1999", headers=_as(session))
    text = await answer.text()
    assert answer.status == 400 and "年份须在 2000 至 2100 之间" in text and "must be between" not in text, text[-1500:]
    # A month never computed (the service refuses its empty lists) reads as a month without evaluations yet.
    answer = await context.request.get("/supervision?year=2001&month=3", headers=_as(session))
    text = await answer.text()
    assert answer.status == 200 and "2001年3月还没有评估结果" in text and 'class="problem"' not in text, text[-1500:]
    await supervision_pb2_grpc.SupervisionServiceStub(platform.channel).ComputeSnapshots(
        supervision_pb2.ComputeSnapshotsRequest(year=today.year, month=today.month),
        metadata=platform.metadata("authority"), timeout=60)
    answer = await context.request.get(f"/supervision?year={today.year}&month={today.month}", headers=_as(session))
    text = await answer.text()
    assert answer.status == 200 and f"{today.year}年{today.month}月尚未结束" in text, text[-1500:]
    last = today.replace(day=1) - dt.timedelta(days=1)
    answer = await context.request.get(f"/supervision?year={last.year}&month={last.month}", headers=_as(session))
    assert "尚未结束" not in await answer.text()


async def test_the_supervision_pages_year_and_month_typed_with_their_units_are_read(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """监督's fields are labelled 年 and 月: a supervisor typing 2026年 and 11月 was told 年份须在 2000 至 2100 之间,
    of 2026, and a year typed 2026-11 the same. The units are read; a year that is no number asks for its digits."""
    session = system_session(console_server, platform, "authority", roles=("AUDITOR",))
    for year, month in (("2001年", "3月"), ("２００１年", "３ 月"), (" 2001 年 ", "03月")):  # a month never computed
        answer = await context.request.get(f"/supervision?year={urllib.parse.quote(year)}"
                                           f"&month={urllib.parse.quote(month)}", headers=_as(session))
        text = await answer.text()
        assert answer.status == 200 and "2001年3月还没有评估结果" in text, (year, month, answer.status, text[-1200:])
        assert 'name="year" inputmode="numeric" value="2001"' in text and 'value="3"' in text
    for year in ("2026-11", "二〇二六"):
        answer = await context.request.get(f"/supervision?year={urllib.parse.quote(year)}&month=3",
                                           headers=_as(session))
        text = unescape(await answer.text())
        said = re.search(r'<span class="field-error" id="year-error">([^<]*)</span>', text)
        assert answer.status == 400 and said is not None, (year, answer.status)
        assert said.group(1).startswith("年份请填写 4 位数字") and "之间" not in said.group(1), said.group(1)


async def test_publishing_an_entry_whose_endpoint_does_not_answer_says_so_not_that_the_platform_is_down(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """The catalog refuses to publish an entry whose department 前置机 does not answer (UNAVAILABLE,
    ENDPOINT_UNAVAILABLE): the reviewer was told "the platform is temporarily unavailable, retry later" (503),
    which no retry mends; the page says the department's endpoint does not answer, and which one."""
    import uuid

    from frontproc import demo as dept
    from govshare.catalog.v1 import catalog_pb2 as cat
    from govshare.catalog.v1 import catalog_pb2_grpc

    catalog = catalog_pb2_grpc.CatalogServiceStub(platform.channel)
    target = f"127.0.0.1:{free_port()}"
    entry = dept.social_insurance_entry(target)
    entry.code = f"202001/{uuid.uuid4().int % 10**6:06d}"
    entry.endpoint.dataset = f"si_{uuid.uuid4().hex[:8]}"
    await catalog.CreateEntry(cat.CreateEntryRequest(entry=entry), metadata=platform.metadata("social"), timeout=10)
    await catalog.SubmitEntry(cat.SubmitEntryRequest(code=entry.code), metadata=platform.metadata("social"),
                              timeout=10)
    session = _person_session(console_server, platform, "authority", "REVIEWER")
    answer = await context.request.post("/review", headers=_as(session), form={
        "csrf_token": session.csrf, "code": entry.code, "decision": "publish"})
    text = await answer.text()
    assert answer.status == 502, (answer.status, text[-600:])
    assert "前置机接口无法连接" in text and target in text and "平台服务暂时不可用" not in text


async def test_an_unexpected_error_is_a_chinese_page_and_its_text_stays_out_of_the_logs(context, caplog):  # type: ignore[no-untyped-def]
    """A page that fails for a reason nobody foresaw (an exception quoting what was typed): a Chinese 500 page
    under the CSP, and no log line — the console's nor uvicorn's — carries the exception's text."""
    citizen_id = "342322194911060454"

    async def boom(_request: Request) -> None:
        raise ValueError(f"invalid literal for int() with base 10: {citizen_id!r}")

    app = create_app(ConsoleSettings(listen="127.0.0.1:0", gateway="127.0.0.1:9"))
    app.router.routes.insert(0, Route("/boom", boom))
    # log_config=None: uvicorn's loggers propagate, so caplog sees what uvicorn would print
    async with serving(app, log_config=None, log_level=None, access_log=True) as url:
        with caplog.at_level(logging.DEBUG):
            answer = await context.request.get(url + "/boom")
        text = await answer.text()
        assert answer.status == 500 and "意外错误" in text and citizen_id not in text
        assert answer.headers["content-security-policy"].startswith("default-src 'none'")
        assert [r for r in caplog.records if r.name == "govshare.console" and "ValueError" in r.getMessage()]
        logged = "\n".join(r.getMessage() + str(r.exc_info) for r in caplog.records)
        assert citizen_id not in logged


async def _report_name_dispute(platform, citizen: int) -> str:  # type: ignore[no-untyped-def]
    """社保's dispute of a citizen's name in 人口基础信息 (each test its own citizen: one dispute per record stays
    open until answered); its id."""
    reported = await dispute_pb2_grpc.DisputeServiceStub(platform.channel).ReportDispute(
        dispute_pb2.ReportDisputeRequest(dispute=dispute_pb2.Dispute(
            resource_code="101001/000001", key=citizen_id_of(citizen, platform.credentials.seed), item="name",
            claimed_value="李小红", evidence="户口簿原件")),
        metadata=platform.metadata("social"), timeout=10)
    return reported.dispute.id


async def test_a_dispute_is_answered_from_the_providers_page_only(context, console_server, platform):  # type: ignore[no-untyped-def]
    """The reporter's approver saw an answer form on its own report, which the service could only refuse."""
    dispute_id = await _report_name_dispute(platform, 7)
    pages = {}
    for system in ("social", "police"):
        session = _person_session(console_server, platform, system, "APPROVER")
        answer = await context.request.get("/disputes", headers=_as(session))
        assert answer.status == 200
        text = await answer.text()
        pages[system] = text[text.index(f"疑义 {dispute_id}"):].split("</section>", 1)[0]
    assert "答复疑义" not in pages["social"] and "待提供部门" in pages["social"]
    assert "市公安局" in pages["social"]
    assert "答复疑义" in pages["police"]


async def test_the_using_departments_applicant_reports_a_dispute_on_the_disputes_page(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """疑义 offered no way to report a dispute: a 申请人 who found a record wrong had to call ReportDispute. The page
    now has a report form for the 申请人 (the role the service lets report); refusals are said in Chinese beside
    their inputs with what was typed kept, the 信息项 may be typed by its Chinese name, and the new dispute is
    named after and listed."""
    key = citizen_id_of(850, platform.credentials.seed)
    applicant = _person_session(console_server, platform, "social", "APPLICANT")
    page = await (await context.request.get("/disputes", headers=_as(applicant))).text()
    assert "报告疑义数据" in page and 'name="claimed_value"' in page
    approver = _person_session(console_server, platform, "police", "APPROVER")
    assert "报告疑义数据" not in await (await context.request.get("/disputes", headers=_as(approver))).text()
    typed = {"kind": "report", "resource_code": "101001/000001", "key": key[:-1] + ("0" if key[-1] != "0" else "1"),
             "item": "姓名", "claimed_value": " ", "evidence": "户口簿原件"}
    answer = await _post(context, "/disputes", applicant, typed)
    text = await answer.text()
    assert answer.status == 400 and "疑义未报告" in text, text[-1500:]
    assert 'id="key-error">公民身份号码的校验位不正确' in text, text[-2500:]
    assert 'id="claimed_value-error">此项必填' in text and "户口簿原件</textarea>" in text, text[-2500:]
    assert f'value="{typed["key"]}"' in text and 'value="姓名"' in text
    answer = await _post(context, "/disputes", applicant, {**typed, "resource_code": "101001/999999", "key": key,
                                                             "claimed_value": "李小红"})
    text = await answer.text()
    assert answer.status == 400 and 'id="resource_code-error">没有这一信息资源代码的资源' in text, text[-2500:]
    answer = await _post(context, "/disputes", applicant, {**typed, "key": key, "claimed_value": "李小红"},
                         max_redirects=0)
    assert answer.status == 303, await answer.text()
    text = await (await context.request.get("/disputes", headers=_as(applicant))).text()
    reported = re.search(r"已报告疑义 ([0-9a-f-]{36})，待提供部门市公安局校核答复。", text)
    assert reported, text[:3000]
    card = _card(text, f"\">疑义 {reported.group(1)} · ")
    assert "待校核" in card and "李小红" in card and "姓名" in card
    again = await _post(context, "/disputes", applicant, {**typed, "key": key, "claimed_value": "李小红"})
    assert again.status == 400 and 'id="key-error">本部门对这条记录的这一信息项已有疑义尚未答复' in await again.text()


async def test_a_dispute_reported_with_a_full_width_resource_code_is_reported(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """报告疑义's 信息资源代码 typed with a Chinese input method (１０１００１／０００００１) was refused as no
    published resource, though the record's key typed the same way is taken: it is the code it shows."""
    applicant = _person_session(console_server, platform, "social", "APPLICANT")
    typed = {"kind": "report", "resource_code": "１０１００１／０００００１",
             "key": citizen_id_of(851, platform.credentials.seed), "item": "姓名", "claimed_value": "李小红",
             "evidence": "户口簿原件"}
    answer = await _post(context, "/disputes", applicant, typed, max_redirects=0)
    assert answer.status == 303, (answer.status, (await answer.text())[-2500:])
    text = await (await context.request.get("/disputes", headers=_as(applicant))).text()
    reported = re.search(r"已报告疑义 ([0-9a-f-]{36})，待提供部门市公安局校核答复。", text)
    assert reported, text[:3000]
    assert "101001/000001" in _card(text, f"\">疑义 {reported.group(1)} · ")


async def test_the_authority_sees_a_dispute_without_the_persons_number_or_values(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """The authority's persons (its 审计员 too) read every citizen's 公民身份号码, the claimed name and the evidence
    on 疑义与冲突, where a query of the record shows the authority both masked. Now the card shows them masked
    and says the free text is the reporter's and the provider's alone; the provider's page still shows them."""
    dispute_id = await _report_name_dispute(platform, 11)
    key = citizen_id_of(11, platform.credentials.seed)
    cards = {}
    for system, role in (("authority", "AUDITOR"), ("police", "APPROVER")):
        answer = await context.request.get("/disputes", headers=_as(_person_session(console_server, platform,
                                                                                    system, role)))
        assert answer.status == 200
        text = await answer.text()
        cards[system] = text[text.index(f"疑义 {dispute_id}"):].split("</section>", 1)[0]
    assert key not in cards["authority"] and f"{key[:6]}{'*' * 8}{key[-4:]}" in cards["authority"]
    assert "李小红" not in cards["authority"] and "户口簿原件" not in cards["authority"]
    assert "李**" in cards["authority"] and "仅报告部门和提供部门可见" in cards["authority"]
    assert key in cards["police"] and "李小红" in cards["police"] and "户口簿原件" in cards["police"]
    # The conflicts are not the auditor's (ListConflicts refuses them): the page says whose they are, in Chinese.
    auditors = await (await context.request.get("/disputes", headers=_as(_person_session(
        console_server, platform, "authority", "AUDITOR")))).text()
    assert "数据冲突仅供来源部门的编目员、审批人和共享主管部门的审核员查阅" in auditors and "only a" not in auditors


async def test_untouched_end_dates_keep_the_requested_or_granted_end(context, console_server, platform):  # type: ignore[no-untyped-def]
    """A system applies through the API for a term ending at 00:00 UTC. The reply and coordination forms show
    that end by its date and sent it back as 23:59:59 Beijing time of that date, later than requested: pressing
    同意 or 准予共享 without touching the date was refused ("is later than requested"). Saving a grant's new quota
    likewise moved its end to the end of that day. Now the date as shown keeps the end as it is."""
    from govshare.authorization.v1 import sharing_pb2, sharing_pb2_grpc

    sharing = sharing_pb2_grpc.SharingServiceStub(platform.channel)
    end = (dt.datetime.now(dt.UTC) + dt.timedelta(days=200)).replace(hour=0, minute=0, second=0, microsecond=0)

    async def submitted() -> str:
        application = sharing_pb2.Application(resource_code="101001/000001", items=["citizen_id", "name", "sex"],
                                              purposes=[1], basis="《社会救助暂行办法》", methods=[1], quota=100)
        application.requested_expire_time.FromDatetime(end)
        answer = await sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(application=application),
                                                 metadata=platform.metadata("social"), timeout=10)
        return answer.application.id

    async def grant_of(app_id: str) -> sharing_pb2.Grant:
        got = await sharing.GetApplication(sharing_pb2.GetApplicationRequest(id=app_id),
                                           metadata=platform.metadata("social"), timeout=10)
        assert got.application.grant_id, got.application
        return (await sharing.GetGrant(sharing_pb2.GetGrantRequest(id=got.application.grant_id),
                                       metadata=platform.metadata("social"), timeout=10)).grant

    approved, coordinated = await submitted(), await submitted()
    await sharing.ReplyApplication(sharing_pb2.ReplyApplicationRequest(
        id=coordinated, decision=sharing_pb2.REPLY_DECISION_REFUSE, reason="暂不具备条件"),
        metadata=platform.person("police", "APPROVER"), timeout=10)
    await sharing.EscalateApplication(sharing_pb2.EscalateApplicationRequest(id=coordinated, reason="业务确需"),
                                      metadata=platform.metadata("social"), timeout=10)

    approver = await open_as(context, console_server, _person_session(console_server, platform, "police", "APPROVER"))
    await approver.goto("/replies")
    await approver.locator("section", has_text=approved).get_by_role("button", name="同意").click()
    assert f"已同意申请 {approved}" in await approver.locator(".flash").inner_text(), await approver.content()
    grant = await grant_of(approved)
    assert grant.expire_time.ToDatetime(tzinfo=dt.UTC) == end

    await approver.goto("/grants")
    card = approver.locator("section", has_text=grant.id)
    await card.get_by_label("调用上限").fill("50")
    await card.get_by_role("button", name="保存调整").click()
    assert f"已调整授权 {grant.id}" in await approver.locator(".flash").inner_text(), await approver.content()
    adjusted = await grant_of(approved)
    assert adjusted.quota == 50 and adjusted.expire_time.ToDatetime(tzinfo=dt.UTC) == end

    reviewer = await open_as(context, console_server,
                             _person_session(console_server, platform, "authority", "REVIEWER"))
    await reviewer.goto("/coordination")
    card = reviewer.locator("section", has_text=coordinated)
    await card.get_by_label("协调意见").fill("业务确需，准予")
    await card.get_by_role("button", name="准予共享").click()
    assert f"申请 {coordinated} 准予共享" in await reviewer.locator(".flash").inner_text(), await reviewer.content()
    assert (await grant_of(coordinated)).expire_time.ToDatetime(tzinfo=dt.UTC) == end


async def test_the_grants_page_offers_each_person_only_what_they_may_do(context, console_server, platform):  # type: ignore[no-untyped-def]
    """Every grant carried 保存调整 and 撤销授权 for everyone who could see it: the holder's 申请人 and 审批人, the
    auditors, and the provider's 审批人 on a grant the authority's coordination gave, and the service refused
    each of them. Now the provider's 审批人 adjusts and revokes its own grants, the authority's 审核员 (who now
    has the page in the menu) revokes a coordinated one, and an expired grant says 已过期, not 有效."""
    from govshare.authorization.v1 import sharing_pb2, sharing_pb2_grpc

    sharing = sharing_pb2_grpc.SharingServiceStub(platform.channel)
    approver = platform.person("police", "APPROVER")

    async def submitted(seconds: int) -> str:
        application = sharing_pb2.Application(resource_code="101001/000001", items=["citizen_id", "name", "sex"],
                                              purposes=[1], basis="《社会救助暂行办法》", methods=[1])
        application.requested_expire_time.FromSeconds(int(time.time()) + seconds)
        answer = await sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(application=application),
                                                 metadata=platform.metadata("social"), timeout=10)
        return answer.application.id

    replied = await sharing.ReplyApplication(sharing_pb2.ReplyApplicationRequest(
        id=await submitted(365 * 86400), decision=sharing_pb2.REPLY_DECISION_APPROVE), metadata=approver, timeout=10)
    approved = replied.grant.id
    replied = await sharing.ReplyApplication(sharing_pb2.ReplyApplicationRequest(
        id=await submitted(5), decision=sharing_pb2.REPLY_DECISION_APPROVE), metadata=approver, timeout=10)
    expired, expire_time = replied.grant.id, replied.grant.expire_time.ToSeconds()
    refused = await submitted(365 * 86400)
    await sharing.ReplyApplication(sharing_pb2.ReplyApplicationRequest(
        id=refused, decision=sharing_pb2.REPLY_DECISION_REFUSE, reason="暂不具备条件"), metadata=approver, timeout=10)
    await sharing.EscalateApplication(sharing_pb2.EscalateApplicationRequest(id=refused, reason="业务确需"),
                                      metadata=platform.metadata("social"), timeout=10)
    decided = await sharing.RecordCoordinationDecision(sharing_pb2.RecordCoordinationDecisionRequest(
        id=refused, grant=True, reason="准予"), metadata=platform.person("authority", "REVIEWER"), timeout=10)
    coordinated = decided.grant.id
    await asyncio.sleep(max(0.0, expire_time - time.time()) + 0.5)  # the short grant's end passes

    async def cards(system: str, role: str) -> dict[str, str]:
        answer = await context.request.get("/grants", headers=_as(_person_session(console_server, platform,
                                                                                   system, role)))
        assert answer.status == 200, (system, role, answer.status)
        text = await answer.text()
        return {grant: text[text.index(f"授权 {grant}"):].split("</section>", 1)[0]
                for grant in (approved, expired, coordinated)}

    def offers(card: str) -> tuple[bool, bool]:
        return "保存调整" in card, "撤销授权</button>" in card

    police = await cards("police", "APPROVER")
    assert offers(police[approved]) == (True, True)
    assert offers(police[coordinated]) == (True, False)  # adjusts it, the authority revokes it
    assert "已过期" in police[expired] and offers(police[expired]) == (True, True)  # it may still be renewed
    for system, role in (("social", "APPLICANT"), ("social", "APPROVER"), ("authority", "AUDITOR")):
        assert {offers(card) for card in (await cards(system, role)).values()} == {(False, False)}, (system, role)
    reviewer = await cards("authority", "REVIEWER")
    assert offers(reviewer[approved]) == (False, False)
    assert offers(reviewer[coordinated]) == (False, True)


async def test_a_reply_due_in_a_year_without_its_holiday_arrangement_says_it_is_provisional(  # type: ignore[no-untyped-def]
        context, console_server, platform, database_url):
    """An application made after mid-December falls due in January, in a year whose 春节 and 调休 are not yet in
    the calendar: the service says reply_due_time_provisional, and the home page said （暂定）, but the applicant's
    list and page and the provider's 答复 page showed the date as if it were certain."""
    import asyncpg

    from govshare.authorization.v1 import sharing_pb2, sharing_pb2_grpc

    sharing = sharing_pb2_grpc.SharingServiceStub(platform.channel)
    application = sharing_pb2.Application(resource_code="101001/000001", items=["citizen_id", "name", "sex"],
                                          purposes=[1], basis="《社会救助暂行办法》", methods=[1])
    application.requested_expire_time.FromSeconds(int(time.time()) + 365 * 86400)
    submitted = await sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(application=application),
                                                metadata=platform.metadata("social"), timeout=10)
    app_id = submitted.application.id
    conn = await asyncpg.connect(database_url)
    try:  # counted Monday to Friday: a year chinese-calendar does not cover
        await conn.execute("UPDATE \"authorization\".applications SET reply_due_time = "
                           "'2099-01-16 23:59:59+08' WHERE id = $1", app_id)
    finally:
        await conn.close()
    applicant = _as(_person_session(console_server, platform, "social", "APPLICANT"))
    listed = await (await context.request.get("/applications", headers=applicant)).text()
    assert "2099-01-16（暂定）" in listed[listed.index(app_id):].split("</tr>", 1)[0]
    shown = await (await context.request.get(f"/applications/view?id={app_id}", headers=applicant)).text()
    assert "2099-01-16（暂定：2099 年节假日安排尚未公布" in shown
    replies = await (await context.request.get("/replies", headers=_as(
        _person_session(console_server, platform, "police", "APPROVER")))).text()
    assert "答复期限 2099-01-16（暂定）" in replies[replies.index(f"申请 {app_id}"):].split("</section>", 1)[0]


async def test_a_dispute_due_in_a_year_without_its_holiday_arrangement_says_it_is_provisional(  # type: ignore[no-untyped-def]
        context, console_server, platform, database_url):
    """A dispute reported after mid-December is due in January, counted Monday to Friday: the service says
    due_time_provisional, as it does of a reply deadline, but 疑义与冲突 and the home page showed the date as
    certain (the reply deadlines said （暂定）)."""
    import asyncpg

    dispute_id = await _report_name_dispute(platform, 9)
    conn = await asyncpg.connect(database_url)
    try:  # counted Monday to Friday: a year chinese-calendar does not cover
        await conn.execute("UPDATE query.disputes SET due_time = '2099-01-16 23:59:59+08' WHERE id = $1", dispute_id)
    finally:
        await conn.close()
    provider = _as(_person_session(console_server, platform, "police", "APPROVER"))
    listed = await (await context.request.get("/disputes", headers=provider)).text()
    card = listed[listed.index(f"疑义 {dispute_id}"):].split("</section>", 1)[0]
    assert "期限 2099-01-16（暂定：2099 年节假日安排尚未公布" in card, card
    home = await (await context.request.get("/", headers=provider)).text()
    assert "期限 2099-01-16（暂定）" in home[home.index(dispute_id):].split("</li>", 1)[0]


async def test_an_unlimited_quota_reads_unlimited_not_zero_calls(context, console_server, platform):  # type: ignore[no-untyped-def]
    """A quota of 0 means no limit (docs/api.md), yet the application's page said "/ 0", the grant "调用上限 0" and
    the approval's confirmation "调用上限 0 次": to the people reading them, no call at all."""
    from govshare.authorization.v1 import sharing_pb2, sharing_pb2_grpc

    sharing = sharing_pb2_grpc.SharingServiceStub(platform.channel)
    application = sharing_pb2.Application(resource_code="101001/000001", items=["citizen_id", "name", "sex"],
                                          purposes=[1], basis="《社会救助暂行办法》", methods=[1], quota=0)
    application.requested_expire_time.FromSeconds(int(time.time()) + 365 * 86400)
    submitted = await sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(application=application),
                                                metadata=platform.metadata("social"), timeout=10)
    app_id = submitted.application.id
    shown = await (await context.request.get(f"/applications/view?id={app_id}", headers=_as(
        _person_session(console_server, platform, "social", "APPLICANT")))).text()
    assert re.search(r"<dt>申请的有效期至 / 调用次数上限</dt><dd>[0-9-]+( [0-9:]+)? / 不限</dd>", shown), shown[-2000:]
    approver = _person_session(console_server, platform, "police", "APPROVER")
    page = await open_as(context, console_server, approver)
    await page.goto("/replies")
    await page.locator("section", has_text=app_id).get_by_role("button", name="同意").click()
    flash = await page.locator(".flash").inner_text()
    assert f"已同意申请 {app_id}" in flash and "调用上限 不限" in flash and "0 次" not in flash, flash
    grant_id = flash.split("授权 ")[1].split("，")[0]
    await page.goto("/grants")
    assert "调用上限 不限" in await page.locator("section", has_text=grant_id).inner_text()


async def test_approving_with_every_item_unchecked_is_refused_not_taken_for_all(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """The service reads an approval's empty item list as "as requested": an approver who unchecked every 信息项
    and pressed 同意 (or a reviewer 准予共享) granted every requested item. Now the page asks for at least one."""
    from govshare.authorization.v1 import sharing_pb2, sharing_pb2_grpc

    sharing = sharing_pb2_grpc.SharingServiceStub(platform.channel)

    async def submitted() -> str:
        application = sharing_pb2.Application(resource_code="101001/000001", items=["citizen_id", "name", "sex"],
                                              purposes=[1], basis="《社会救助暂行办法》", methods=[1])
        application.requested_expire_time.FromSeconds(int(time.time()) + 365 * 86400)
        answer = await sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(application=application),
                                                 metadata=platform.metadata("social"), timeout=10)
        return answer.application.id

    async def state(app_id: str) -> int:
        got = await sharing.GetApplication(sharing_pb2.GetApplicationRequest(id=app_id),
                                           metadata=platform.metadata("social"), timeout=10)
        return got.application.state

    replied, escalated = await submitted(), await submitted()
    await sharing.ReplyApplication(sharing_pb2.ReplyApplicationRequest(
        id=escalated, decision=sharing_pb2.REPLY_DECISION_REFUSE, reason="暂不具备条件"),
        metadata=platform.person("police", "APPROVER"), timeout=10)
    await sharing.EscalateApplication(sharing_pb2.EscalateApplicationRequest(id=escalated, reason="业务确需"),
                                      metadata=platform.metadata("social"), timeout=10)
    for system, role, path, app_id, button, says in (
            ("police", "APPROVER", "/replies", replied, "同意", "请至少勾选一个同意的信息项"),
            ("authority", "REVIEWER", "/coordination", escalated, "准予共享", "请至少勾选一个准予的信息项")):
        page = await open_as(context, console_server, _person_session(console_server, platform, system, role))
        await page.goto(path)
        card = page.locator("section", has_text=app_id)
        for box in await card.locator("input[name=items]").all():
            await box.uncheck()
        if path == "/coordination":
            await card.get_by_label("协调意见").fill("准予")
        await card.get_by_role("button", name=button).click()
        assert says in await page.locator("main").inner_text(), await page.content()
        await page.close()
    assert await state(replied) == sharing_pb2.APPLICATION_STATE_SUBMITTED
    assert await state(escalated) == sharing_pb2.APPLICATION_STATE_ESCALATED


async def test_applying_for_a_not_shared_resource_says_it_went_to_the_authority(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """A not-shared resource's application goes straight to the authority (ESCALATED): the confirmation said the
    provider would answer by its due day, which the provider never does."""
    page = await open_as(context, console_server, _person_session(console_server, platform, "social", "APPLICANT"))
    await page.goto("/apply?code=301001/000001")
    await page.locator("[name=items][value=name]").check()
    await page.get_by_label("行政依据").check()
    await page.locator("[name=basis]").fill("《社会救助暂行办法》")
    await page.get_by_label("联机查询").check()
    await page.locator("[name=expire_date]").fill((dt.date.today() + dt.timedelta(days=90)).isoformat())
    await page.get_by_role("button", name="提交申请").click()
    flash = await page.locator(".flash").inner_text()
    assert "已提请共享主管部门协调" in flash and "请等待共享主管部门的协调决定" in flash, flash
    assert "提供部门应在" not in flash
    # Nor do its page, where the confirmation leads, and the 申请 list give it a reply deadline.
    facts = await page.locator("dl.facts").inner_text()
    assert "无：提交时已提请共享主管部门协调，提供部门不答复" in facts, facts
    assert not re.search(r"答复期限\s*\d{4}-", facts), facts
    app_id = page.url.rsplit("=", 1)[-1]
    await page.goto("/applications")
    row = await page.locator("tr", has_text=app_id).inner_text()
    assert "无（共享主管部门协调）" in row and not re.search(r"\d{4}-\d\d-\d\d", row), row


async def test_an_unconditional_resource_is_not_offered_an_application_and_a_not_shared_one_is(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """An unconditional (无条件共享) resource's page offered 申请使用 and its whole form, every submission of which
    the service refused NO_APPLICATION_NEEDED, shown as "当前状态不允许此操作：resource … is shared
    unconditionally …" in English; a not-shared one, whose application goes to the authority (R-APP-3), had no
    way to the form but its URL."""
    session = _person_session(console_server, platform, "social", "APPLICANT")
    entry = await (await context.request.get("/catalog/entry?code=102001/000001", headers=_as(session))).text()
    assert "无需申请" in entry and 'href="/apply?' not in entry, entry[entry.index("<main"):][:1500]
    for method in ("GET", "POST"):
        answer = (await context.request.get("/apply?code=102001/000001", headers=_as(session)) if method == "GET"
                  else await _post(context, "/apply?code=102001/000001", session, {
                      "items": ["name"], "purposes": "1", "basis": "《社会救助暂行办法》", "methods": "1",
                      "expire_date": (dt.date.today() + dt.timedelta(days=90)).isoformat()}))
        text = await answer.text()
        main = text[text.index("<main"):]
        assert answer.status == 409 and "无条件共享，无需申请" in main, (method, answer.status, main[:800])
        assert "提交申请" not in main and "shared unconditionally" not in main, main[:800]
    not_shared = await (await context.request.get("/catalog/entry?code=301001/000001", headers=_as(session))).text()
    assert 'href="/apply?code=301001/000001"' in not_shared and "直接提交共享主管部门协调" in not_shared


async def test_an_applications_methods_and_systems_are_shown_to_whom_decides_it(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """What an application asks includes how the data is used (联机查询 or 部门批量下载, a whole dataset) and which
    of the department's systems may use it; neither 答复, 申请详情 nor 授权 showed either, so an approver approved a
    batch download not knowing it was asked for, and a grant's holder could not see which use it allows."""
    from govshare.authorization.v1 import sharing_pb2, sharing_pb2_grpc

    sharing = sharing_pb2_grpc.SharingServiceStub(platform.channel)
    system_id = platform.credentials.systems["social"]["system_id"]
    application = sharing_pb2.Application(resource_code="101001/000001", items=["citizen_id", "name", "sex"],
                                          purposes=[1], basis="《社会救助暂行办法》", methods=[1, 4],
                                          system_ids=[system_id])
    application.requested_expire_time.FromSeconds(int(time.time()) + 365 * 86400)
    app_id = (await sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(application=application),
                                              metadata=platform.metadata("social"), timeout=10)).application.id
    shown = f"联机查询、部门批量下载 · 限定业务系统 {system_id}"
    replies = await (await context.request.get("/replies", headers=_as(
        _person_session(console_server, platform, "police", "APPROVER")))).text()
    card = replies[replies.index(app_id):].split("</section>", 1)[0]
    assert f"使用方式 {shown}" in card, card[:1200]
    page = await (await context.request.get(f"/applications/view?id={app_id}", headers=_as(
        _person_session(console_server, platform, "social", "APPLICANT")))).text()
    assert shown in page, page[page.index("<main"):][:1500]
    grant = (await sharing.ReplyApplication(sharing_pb2.ReplyApplicationRequest(
        id=app_id, decision=sharing_pb2.REPLY_DECISION_APPROVE, items=["sex"]),
        metadata=platform.person("police", "APPROVER"), timeout=10)).grant
    grants = await (await context.request.get("/grants", headers=_as(
        _person_session(console_server, platform, "social", "APPLICANT")))).text()
    assert f"使用方式 {shown}" in grants[grants.index(grant.id):].split("</section>", 1)[0]


async def test_the_reviewers_home_page_lists_the_applications_awaiting_coordination(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """首页 is "what waits for me": the authority's 审核员 saw entries to review but not the escalated applications
    only they decide (a refused one the applicant escalated, a not-shared request), and the approvers' home
    page shows no such list."""
    from govshare.authorization.v1 import sharing_pb2, sharing_pb2_grpc

    application = sharing_pb2.Application(resource_code="301001/000001", items=["citizen_id", "name"], purposes=[1],
                                          basis="《社会救助暂行办法》", methods=[1])
    application.requested_expire_time.FromSeconds(int(time.time()) + 365 * 86400)
    submitted = await sharing_pb2_grpc.SharingServiceStub(platform.channel).SubmitApplication(
        sharing_pb2.SubmitApplicationRequest(application=application), metadata=platform.metadata("social"),
        timeout=10)
    app_id = submitted.application.id
    reviewer = await (await context.request.get("/", headers=_as(
        _person_session(console_server, platform, "authority", "REVIEWER")))).text()
    listed = reviewer[reviewer.index("待协调的申请"):].split("</section>", 1)[0]
    assert app_id in listed and "去协调" in listed, listed
    approver = await (await context.request.get("/", headers=_as(
        _person_session(console_server, platform, "police", "APPROVER")))).text()
    assert "待协调的申请" not in approver


async def test_the_reviewers_home_page_lists_the_applications_left_unanswered_past_their_due_day(  # type: ignore[no-untyped-def]
        context, console_server, platform, database_url):
    """R-APP-2: overdue replies are visible to the authority, which steps in when a provider is late. The
    console's home page of the authority's 审核员 listed none (only 监督's figures counted them); an approver's
    home page has no such list (its own late ones are red in 待答复的申请)."""
    import asyncpg

    from govshare.authorization.v1 import sharing_pb2, sharing_pb2_grpc

    application = sharing_pb2.Application(resource_code="101001/000001", items=["citizen_id", "name", "sex"],
                                          purposes=[1], basis="《社会救助暂行办法》", methods=[1])
    application.requested_expire_time.FromSeconds(int(time.time()) + 365 * 86400)
    app_id = (await sharing_pb2_grpc.SharingServiceStub(platform.channel).SubmitApplication(
        sharing_pb2.SubmitApplicationRequest(application=application), metadata=platform.metadata("social"),
        timeout=10)).application.id
    conn = await asyncpg.connect(database_url)
    try:  # time passes: the reply was due a week ago
        await conn.execute('UPDATE "authorization".applications SET reply_due_time = now() - interval \'7 days\' '
                           "WHERE id = $1", app_id)
    finally:
        await conn.close()
    reviewer = await (await context.request.get("/", headers=_as(
        _person_session(console_server, platform, "authority", "REVIEWER")))).text()
    listed = reviewer[reviewer.index("逾期未答复的申请"):].split("</section>", 1)[0]
    assert app_id in listed and "已逾期" in listed and "市公安局" in listed, listed
    approver = await (await context.request.get("/", headers=_as(
        _person_session(console_server, platform, "police", "APPROVER")))).text()
    assert "逾期未答复的申请" not in approver


async def test_the_applicants_home_page_lists_its_applications_left_unanswered_past_their_due_day(  # type: ignore[no-untyped-def]
        context, console_server, platform, database_url):
    """R-APP-3: an application the provider leaves unanswered past its due day is the applicant's to escalate (or
    to withdraw); the applicant's home page said nothing waited for them, and 我的申请 marked it among all the
    others. Another department's late applications are not theirs."""
    import asyncpg

    from govshare.authorization.v1 import sharing_pb2, sharing_pb2_grpc

    application = sharing_pb2.Application(resource_code="101001/000001", items=["citizen_id", "name", "sex"],
                                          purposes=[1], basis="《社会救助暂行办法》", methods=[1])
    application.requested_expire_time.FromSeconds(int(time.time()) + 365 * 86400)
    sharing = sharing_pb2_grpc.SharingServiceStub(platform.channel)
    ours, theirs = [(await sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(application=application),
                                                     metadata=platform.metadata(system), timeout=10)).application.id
                    for system in ("social", "civil")]
    conn = await asyncpg.connect(database_url)
    try:  # time passes: both replies were due a week ago
        await conn.execute('UPDATE "authorization".applications SET reply_due_time = now() - interval \'7 days\' '
                           "WHERE id = ANY($1::text[])", [ours, theirs])
    finally:
        await conn.close()
    home = await (await context.request.get("/", headers=_as(
        _person_session(console_server, platform, "social", "APPLICANT")))).text()
    listed = home[home.index("逾期未获答复的申请"):].split("</section>", 1)[0]
    assert f'href="/applications/view?id={ours}"' in listed and "已逾期" in listed and "市公安局" in listed, listed
    assert theirs not in listed and "提请共享主管部门协调" in listed
    approver = await (await context.request.get("/", headers=_as(
        _person_session(console_server, platform, "police", "APPROVER")))).text()
    assert "逾期未获答复的申请" not in approver


async def test_the_services_reasons_are_shown_beside_their_fields_in_chinese(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """The services word their field violations in English for developers ("must be at most 100 characters, got
    10000", "is required: one of …"); the console showed those words beside the fields of a Chinese form. Each
    now reads as a Chinese sentence, what was typed is kept (and shown as text), and the page is a 400."""
    session = system_session(console_server, platform, "police")
    answer = await context.request.post("/drafts/new", headers=_as(session), form={
        "csrf_token": session.csrf, "code": "101001/000097", "name": "名" * 10000, "category": "1",
        "subject": "人口", "summary": "<script>alert(1)</script>\t粘贴的\n两行", "share_type": "1",
        "share_methods": "1", "zone": "1", "secrecy": "1", "key_item": "citizen_id",
        "endpoint.dataset": "chinese_probe", "items[0].name": "。", "items[0].machine_name": "citizen_id",
        "items[0].data_type": "1", "items[0].length": "18", "items[0].basic": "on"})
    text = await answer.text()
    assert answer.status == 400, (answer.status, text[-600:])
    errors = dict(re.findall(r'<span class="field-error" id="([^"]+)-error">([^<]*)</span>', text))
    assert errors["name"].startswith("不能超过 100 个字"), errors
    assert errors["format_class"] == errors["update_cycle"] == "此项必填，请选择或填写。", errors
    assert errors["items-0-name"] == "没有文字或数字，请填写要显示的名称。", errors
    assert errors["key_item"] == "查询键信息项须选择键类型。", errors
    assert not [e for e in errors.values() if re.search(r"[A-Za-z]{4,}", e)], errors
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "<script>alert" not in text
    assert "名" * 10000 in text  # the name typed is kept to be shortened, not lost


def _card(text: str, marker: str) -> str:
    """The card (section) of a list page that names ``marker``."""
    return text[text.index(marker):].split("</section>", 1)[0]


async def _grant_of(platform, app_id: str):  # type: ignore[no-untyped-def]
    """The grant application ``app_id`` was given, as the applicant (social) reads it."""
    from govshare.authorization.v1 import sharing_pb2, sharing_pb2_grpc

    sharing = sharing_pb2_grpc.SharingServiceStub(platform.channel)
    got = await sharing.GetApplication(sharing_pb2.GetApplicationRequest(id=app_id),
                                       metadata=platform.metadata("social"), timeout=10)
    return (await sharing.GetGrant(sharing_pb2.GetGrantRequest(id=got.application.grant_id),
                                   metadata=platform.metadata("social"), timeout=10)).grant


async def _post(context, path: str, session, form: dict[str, object], **options):  # type: ignore[no-untyped-def]
    """``form`` posted as a browser does, a list as the same name repeated (checkboxes); Playwright's own
    ``form=`` sends a list as its Python text."""
    headers = {**_as(session), "content-type": "application/x-www-form-urlencoded"}
    return await context.request.post(path, headers=headers, **options,
                                      data=urllib.parse.urlencode({"csrf_token": session.csrf, **form}, doseq=True))


async def test_the_coordination_page_shows_why_it_was_escalated_and_offers_its_form_to_the_reviewer_only(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """协调 showed the provider's refusal reason only: not the applicant's reason for escalating (what the 审核员
    decides on), nor what was asked; it had no 调用次数上限, so a coordination grant always carried the quota asked
    for; and it offered its 准予共享/不予共享 form to every person reaching it by URL (the provider's 审批人 saw
    their department's escalated applications with buttons the service refused)."""
    from govshare.authorization.v1 import sharing_pb2, sharing_pb2_grpc

    sharing = sharing_pb2_grpc.SharingServiceStub(platform.channel)
    application = sharing_pb2.Application(resource_code="101001/000001", items=["citizen_id", "name", "sex"],
                                          purposes=[1], basis="《社会救助暂行办法》", methods=[1], quota=1000)
    application.requested_expire_time.FromSeconds(int(time.time()) + 365 * 86400)
    app_id = (await sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(application=application),
                                              metadata=platform.metadata("social"), timeout=10)).application.id
    await sharing.ReplyApplication(sharing_pb2.ReplyApplicationRequest(
        id=app_id, decision=sharing_pb2.REPLY_DECISION_REFUSE, reason="暂不具备条件"),
        metadata=platform.person("police", "APPROVER"), timeout=10)
    await sharing.EscalateApplication(sharing_pb2.EscalateApplicationRequest(
        id=app_id, reason="低保审核须核对性别<b>急需</b>"), metadata=platform.metadata("social"), timeout=10)

    reviewer = _person_session(console_server, platform, "authority", "REVIEWER")
    card = _card(await (await context.request.get("/coordination", headers=_as(reviewer))).text(), app_id)
    assert "暂不具备条件" in card and "低保审核须核对性别&lt;b&gt;急需&lt;/b&gt;" in card, card
    assert "《社会救助暂行办法》" in card and "1000 次" in card and 'name="quota"' in card, card
    approver = _person_session(console_server, platform, "police", "APPROVER")
    card = _card(await (await context.request.get("/coordination", headers=_as(approver))).text(), app_id)
    assert 'name="decision"' not in card and "由共享主管部门的审核员作出" in card, card

    answer = await _post(context, "/coordination", reviewer, {
        "id": app_id, "decision": "grant", "items": ["citizen_id", "name", "sex"], "reason": "准予", "quota": "２00"},
        max_redirects=0)
    assert answer.status == 303, (answer.status, (await answer.text())[-600:])
    assert (await _grant_of(platform, app_id)).quota == 200


async def test_不予共享_from_a_form_whose_items_are_checked_refuses_the_application(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """答复 and 协调 show every item applied for checked, with the quota and end applied for, and 不予共享 posts the
    same form: a refusal carrying items, a quota or an end is refused by the service (there is no partial refusal),
    so the console sends a refusal without them. 不予共享 with the items left checked and a quota typed refuses."""
    from govshare.authorization.v1 import sharing_pb2, sharing_pb2_grpc

    sharing = sharing_pb2_grpc.SharingServiceStub(platform.channel)
    application = sharing_pb2.Application(resource_code="101001/000001", items=["citizen_id", "name", "sex"],
                                          purposes=[1], basis="《社会救助暂行办法》", methods=[1], quota=50)
    application.requested_expire_time.FromSeconds(int(time.time()) + 365 * 86400)
    made = [(await sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(application=application),
                                             metadata=platform.metadata("social"), timeout=10)).application.id
            for _ in range(2)]
    form = {"items": ["citizen_id", "name", "sex"], "quota": "20", "expire_date": "2099-01-01",
            "expire_date_shown": "2098-01-01", "decision": "refuse", "reason": "不符合条件"}
    approver = _person_session(console_server, platform, "police", "APPROVER")
    answer = await _post(context, "/replies", approver, {"id": made[0], **form}, max_redirects=0)
    assert answer.status == 303, (answer.status, (await answer.text())[-600:])
    answer = await _post(context, "/replies", approver, {"id": made[1], **form, "reason": "另案不予"},
                         max_redirects=0)
    assert answer.status == 303, (answer.status, (await answer.text())[-600:])
    await sharing.EscalateApplication(sharing_pb2.EscalateApplicationRequest(id=made[1], reason="依法履职所需，请协调"),
                                      metadata=platform.metadata("social"), timeout=10)
    reviewer = _person_session(console_server, platform, "authority", "REVIEWER")
    answer = await _post(context, "/coordination", reviewer, {"id": made[1], **form}, max_redirects=0)
    assert answer.status == 303, (answer.status, (await answer.text())[-600:])
    states = [(await sharing.GetApplication(sharing_pb2.GetApplicationRequest(id=app_id),
                                            metadata=platform.metadata("social"), timeout=10)).application.state
              for app_id in made]
    assert states == [sharing_pb2.APPLICATION_STATE_REFUSED, sharing_pb2.APPLICATION_STATE_COORDINATED_REFUSED]


async def test_a_reply_to_an_application_another_approver_answered_meanwhile_says_who_and_how(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """Two approvers with 答复 open on one application: the first approves, the second's refusal was a page saying
    "当前状态不允许此操作：application app-… is APPROVED: it cannot be replied to now". It says in Chinese who
    answered it, when and how, and that this reply was not sent; nothing changes."""
    from govshare.authorization.v1 import sharing_pb2, sharing_pb2_grpc

    sharing = sharing_pb2_grpc.SharingServiceStub(platform.channel)
    application = sharing_pb2.Application(resource_code="101001/000001", items=["citizen_id", "name", "sex"],
                                          purposes=[1], basis="《社会救助暂行办法》", methods=[1])
    application.requested_expire_time.FromSeconds(int(time.time()) + 365 * 86400)
    app_id = (await sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(application=application),
                                              metadata=platform.metadata("social"), timeout=10)).application.id
    first = _person_session(console_server, platform, "police", "APPROVER")
    second = _person_session(console_server, platform, "police", "APPROVER")
    answer = await _post(context, "/replies", first, {"id": app_id, "decision": "approve",
                                                      "items": ["citizen_id", "name", "sex"]}, max_redirects=0)
    assert answer.status == 303, (answer.status, (await answer.text())[-600:])
    answer = await _post(context, "/replies", second, {"id": app_id, "decision": "refuse", "reason": "不符合条件"})
    text = await answer.text()
    main = text[text.index("<main"):]
    assert answer.status == 409, (answer.status, main[:600])
    assert f"申请 {app_id} 已由" in main and "同意共享申请" in main and "您的答复未提交" in main, main[:600]
    assert "cannot be replied" not in main, main[:600]
    got = await sharing.GetApplication(sharing_pb2.GetApplicationRequest(id=app_id),
                                       metadata=platform.metadata("social"), timeout=10)
    assert got.application.state == sharing_pb2.APPLICATION_STATE_APPROVED


async def test_a_grant_adjusted_meanwhile_by_another_approver_is_not_overwritten(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """Two approvers with the 授权 page open: the second to save replaced the first's adjustment, each told it was
    saved. The form carries the grant's etag now; the second is refused, saying who changed the grant (it said so
    in English: "grant grt-… was changed since you read it (now at policy version 2): nothing was changed; …", on a
    page of its own), and the page shows the grant as it is now to adjust again."""
    from govshare.authorization.v1 import sharing_pb2, sharing_pb2_grpc

    sharing = sharing_pb2_grpc.SharingServiceStub(platform.channel)
    application = sharing_pb2.Application(resource_code="101001/000001", items=["citizen_id", "name", "sex"],
                                          purposes=[1], basis="《社会救助暂行办法》", methods=[1], quota=500)
    application.requested_expire_time.FromSeconds(int(time.time()) + 365 * 86400)
    made = await sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(application=application),
                                           metadata=platform.metadata("social"), timeout=10)
    grant = (await sharing.ReplyApplication(sharing_pb2.ReplyApplicationRequest(
        id=made.application.id, decision=sharing_pb2.REPLY_DECISION_APPROVE),
        metadata=platform.person("police", "APPROVER"), timeout=10)).grant
    approver = _person_session(console_server, platform, "police", "APPROVER")
    page = await (await context.request.get(f"/grants?id={grant.id}", headers=_as(approver))).text()
    etag = re.search(r'name="etag" value="([0-9a-f]+)"', _card(page, f"授权 {grant.id}")).group(1)
    day = re.search(r'name="expire_date_shown" value="([0-9-]+)"', _card(page, f"授权 {grant.id}")).group(1)

    def form(quota: str) -> dict[str, object]:
        return {"id": grant.id, "action": "update", "etag": etag, "items": ["citizen_id", "name", "sex"],
                "quota": quota, "expire_date": day, "expire_date_shown": day}

    first = await _post(context, "/grants", approver, form("100"), max_redirects=0)
    assert first.status == 303, (await first.text())[-800:]
    second = await _post(context, "/grants", approver, form("200"))
    text = await second.text()
    assert second.status == 409 and "您打开页面后，授权已由 测试审批人（市公安局）调整，您的调整未保存" in text, \
        (second.status, text[-800:])
    assert "was changed since" not in text
    assert re.search(r'name="quota" [^>]*value="100"', _card(text, f"授权 {grant.id}"))  # as it is now
    now = await sharing.GetGrant(sharing_pb2.GetGrantRequest(id=grant.id), metadata=platform.metadata("police"),
                                 timeout=10)
    assert now.grant.quota == 100


async def test_a_grant_revoked_meanwhile_says_who_revoked_it_and_why(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """Two approvers with 授权 open: once the first revoked the grant, the second's adjustment or revocation was a
    page saying "当前状态不允许此操作：grant grt-… is revoked: a revoked grant is final" (or "… was revoked
    meanwhile"). It says in Chinese who revoked it, why, and that a revoked grant is final."""
    from govshare.authorization.v1 import sharing_pb2, sharing_pb2_grpc

    sharing = sharing_pb2_grpc.SharingServiceStub(platform.channel)
    application = sharing_pb2.Application(resource_code="101001/000001", items=["citizen_id", "name", "sex"],
                                          purposes=[1], basis="《社会救助暂行办法》", methods=[1], quota=500)
    application.requested_expire_time.FromSeconds(int(time.time()) + 365 * 86400)
    made = await sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(application=application),
                                           metadata=platform.metadata("social"), timeout=10)
    grant = (await sharing.ReplyApplication(sharing_pb2.ReplyApplicationRequest(
        id=made.application.id, decision=sharing_pb2.REPLY_DECISION_APPROVE),
        metadata=platform.person("police", "APPROVER"), timeout=10)).grant
    first = _person_session(console_server, platform, "police", "APPROVER")
    second = _person_session(console_server, platform, "police", "APPROVER")
    answer = await _post(context, "/grants", first, {"id": grant.id, "action": "revoke", "reason": "业务已办结"},
                         max_redirects=0)
    assert answer.status == 303, (answer.status, (await answer.text())[-600:])
    for form in ({"action": "update", "items": ["citizen_id", "name"], "quota": "100"},
                 {"action": "revoke", "reason": "不再需要"}):
        answer = await _post(context, "/grants", second, {"id": grant.id, **form})
        text = await answer.text()
        main = text[text.index("<main"):]
        assert answer.status == 409, (answer.status, main[:600])
        assert f"授权 {grant.id} 已由 测试审批人（市公安局）撤销（理由：业务已办结）" in main, main[:600]
        assert "revoked" not in main and "撤销的授权不能再调整或撤销" in main, main[:600]


async def test_a_refused_decision_comes_back_as_it_was_typed(context, console_server, platform):  # type: ignore[no-untyped-def]
    """A refused reply, coordination decision, escalation, grant change or dispute answer showed its form drawn
    from the object again: the reason typed (here over the services' 2,000 characters) was gone, every item was
    checked again and the quota and date typed were replaced. Each now comes back as it was sent, the error
    beside its field."""
    from govshare.authorization.v1 import sharing_pb2, sharing_pb2_grpc

    sharing = sharing_pb2_grpc.SharingServiceStub(platform.channel)
    application = sharing_pb2.Application(resource_code="101001/000001", items=["citizen_id", "name", "sex"],
                                          purposes=[1], basis="《社会救助暂行办法》", methods=[1], quota=500)
    application.requested_expire_time.FromSeconds(int(time.time()) + 365 * 86400)
    replied, refused = [(await sharing.SubmitApplication(
        sharing_pb2.SubmitApplicationRequest(application=application), metadata=platform.metadata("social"),
        timeout=10)).application.id for _ in range(2)]
    await sharing.ReplyApplication(sharing_pb2.ReplyApplicationRequest(
        id=refused, decision=sharing_pb2.REPLY_DECISION_REFUSE, reason="暂不具备条件"),
        metadata=platform.person("police", "APPROVER"), timeout=10)
    long_reason = "<b>理由</b>\t粘贴\n" + "很" * 2100
    escaped = "&lt;b&gt;理由&lt;/b&gt;\t粘贴\n" + "很" * 2100

    approver = _person_session(console_server, platform, "police", "APPROVER")
    answer = await _post(context, "/replies", approver, {
        "id": replied, "decision": "approve", "items": ["citizen_id", "sex"],
        "quota": "一千", "expire_date": "2030-01-01", "expire_date_shown": "x", "reason": "按申请同意"})
    card = _card(await answer.text(), f"申请 {replied} ·")
    assert answer.status == 400 and 'id="quota-error"' in card, card
    assert 'value="一千"' in card and 'value="2030-01-01"' in card and ">按申请同意</textarea>" in card, card
    assert re.search(r'value="name"(?! checked)>', card) and re.search(r'value="sex" checked>', card), card
    answer = await _post(context, "/replies", approver, {"id": replied, "decision": "refuse", "reason": long_reason})
    card = _card(await answer.text(), f"申请 {replied} ·")
    assert answer.status == 400 and f">{escaped}</textarea>" in card, card[-800:]
    assert re.search(r'id="reason-error">不能超过 2000 个字', card), card[-800:]

    applicant = _person_session(console_server, platform, "social", "APPLICANT")
    answer = await _post(context, "/applications/escalate", applicant, {"id": refused, "reason": long_reason})
    text = await answer.text()
    assert answer.status == 400 and f">{escaped}</textarea>" in text, text[-800:]
    assert re.search(r'id="reason-error">不能超过 2000 个字', text), text[-800:]
    await sharing.EscalateApplication(sharing_pb2.EscalateApplicationRequest(id=refused, reason="业务确需"),
                                      metadata=platform.metadata("social"), timeout=10)

    reviewer = _person_session(console_server, platform, "authority", "REVIEWER")
    answer = await _post(context, "/coordination", reviewer, {
        "id": refused, "decision": "grant", "items": ["name"],
        "expire_date": "2030-01-01", "expire_date_shown": "x", "reason": long_reason})
    card = _card(await answer.text(), f"申请 {refused} ·")
    assert answer.status == 400 and f">{escaped}</textarea>" in card, card[-800:]
    assert re.search(r'id="reason-error">不能超过 2000 个字', card), card[-800:]
    assert re.search(r'value="citizen_id"(?! checked)>', card) and re.search(r'value="name" checked>', card), card

    approved = await sharing.ReplyApplication(sharing_pb2.ReplyApplicationRequest(
        id=replied, decision=sharing_pb2.REPLY_DECISION_APPROVE, items=["citizen_id", "sex"]),
        metadata=platform.person("police", "APPROVER"), timeout=10)
    grant_id = approved.grant.id
    answer = await _post(context, "/grants", approver, {"id": grant_id, "action": "revoke", "reason": long_reason})
    card = _card(await answer.text(), f"授权 {grant_id} ·")
    assert answer.status == 400 and 'id="reason-error">不能超过 2000 个字' in card, card[-800:]
    assert f'name="reason" required value="{escaped}"' in card, card[-800:]

    dispute_id = await _report_name_dispute(platform, 13)
    answer = await _post(context, "/disputes", approver, {"kind": "dispute", "id": dispute_id, "corrected": "yes",
                                                          "answer": "已核实" * 1400})
    card = _card(await answer.text(), f"疑义 {dispute_id}")
    assert answer.status == 400 and 'id="answer-error">不能超过 4000 个字' in card, card[-800:]
    assert f">{'已核实' * 1400}</textarea>" in card and 'value="yes" checked' in card, card[-800:]


async def test_a_double_click_on_submit_sends_the_form_once(context, console_server, platform):  # type: ignore[no-untyped-def]
    """A double click on 提交申请 (as many people click every button) while the answer was slow to come posted
    the form twice: two applications, the provider asked twice. The console's script now sends a form once per
    page view."""
    from govshare.authorization.v1 import sharing_pb2, sharing_pb2_grpc

    async def count() -> int:
        listed = await sharing_pb2_grpc.SharingServiceStub(platform.channel).ListApplications(
            sharing_pb2.ListApplicationsRequest(role=sharing_pb2.APPLICATION_ROLE_APPLICANT, page_size=500),
            metadata=platform.metadata("social"), timeout=10)
        return sum(1 for a in listed.applications if a.purpose_text == purpose)

    purpose = f"双击测试 {time.time_ns()}"
    page = await open_as(context, console_server, _person_session(console_server, platform, "social", "APPLICANT"))
    await page.goto("/apply?code=101001/000001")
    await page.get_by_label("性别").check()
    await page.get_by_label("行政依据").check()
    await page.locator("[name=purpose_text]").fill(purpose)
    await page.locator("[name=basis]").fill("《社会救助暂行办法》")
    await page.get_by_label("联机查询").check()
    await page.locator("[name=expire_date]").fill((dt.date.today() + dt.timedelta(days=90)).isoformat())
    sent = []

    async def slow_network(route):  # type: ignore[no-untyped-def]
        if route.request.method != "POST":
            await route.continue_()
            return
        sent.append(route.request.method)
        answer = await route.fetch(max_redirects=0)  # the console has the post
        await asyncio.sleep(0.5)  # and its answer takes a while to come back, as on a busy network
        with contextlib.suppress(Exception):  # the browser may have dropped this post for another by now
            await route.fulfill(response=answer)

    await page.route(lambda url: "/apply" in url, slow_network)
    button = page.get_by_role("button", name="提交申请")
    await button.scroll_into_view_if_needed()
    box = await button.bounding_box()
    await page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    await asyncio.sleep(0.15)  # a person's second click, while the first post is on its way
    await page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(100):  # (the second post, when sent, aborts the first page's navigation: no wait_for_url)
        if "/applications/view" in page.url:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1)
    assert "/applications/view" in page.url, page.url
    assert await count() == 1, sent


async def test_the_reviewer_is_shown_which_dataset_an_entry_in_review_reads(context, console_server, platform):  # type: ignore[no-untyped-def]
    """A department may catalog an entry over a foundation dataset of another department (the 市场监管局 over
    人口, ``population``, with every item basic and unconditionally shared); the authority's review is what stops
    it (services/catalog/lifecycle.py ``require_own_endpoint``). Neither 审核 nor the entry's page showed the
    reviewer where the entry reads its records, so it was published, and every department read the 公安局's
    conditional items through it. Both pages say it now; a department that is neither provider nor authority
    still sees no endpoint (the services withhold it)."""
    import uuid

    from govshare.catalog.v1 import catalog_pb2 as cat
    from govshare.catalog.v1 import catalog_pb2_grpc

    catalog = catalog_pb2_grpc.CatalogServiceStub(platform.channel)
    population = (await catalog.GetEntry(cat.GetEntryRequest(code="101001/000001"),
                                         metadata=platform.metadata("police"), timeout=10)).entry
    entry = cat.Entry()
    entry.CopyFrom(population)
    for name in ("state", "version", "publish_time", "create_time", "update_time", "submitted_by", "reviewed_by",
                 "etag", "provider_name"):
        entry.ClearField(name)
    entry.code = f"207{uuid.uuid4().int % 999 + 1:03d}/{uuid.uuid4().int % 10**6:06d}"  # 项 07: 信用体系
    entry.name, entry.category, entry.subject = "市场主体相关人员信息", cat.CATEGORY_THEME, "信用体系"
    entry.provider_department_code = platform.credentials.systems["market"]["department"]
    for item in entry.items:
        item.basic = True
    assert entry.endpoint.dataset == "population" and not entry.endpoint.target
    await catalog.CreateEntry(cat.CreateEntryRequest(entry=entry), metadata=platform.metadata("market"), timeout=10)
    await catalog.SubmitEntry(cat.SubmitEntryRequest(code=entry.code), metadata=platform.metadata("market"),
                              timeout=10)

    reviewer = _person_session(console_server, platform, "authority", "REVIEWER")
    queue = await (await context.request.get("/review", headers=_as(reviewer))).text()
    card = queue[queue.index(entry.code):]
    card = card[:card.index("</section>")]
    assert "数据来源：平台基础库 · 数据集 population" in card, card
    shown = await (await context.request.get(f"/catalog/entry?code={urllib.parse.quote(entry.code)}&version=1",
                                             headers=_as(reviewer))).text()
    assert "<dt>数据来源</dt><dd>平台基础库 · 数据集 population" in shown, shown[-2000:]

    civil = system_session(console_server, platform, "civil")
    published = await (await context.request.get("/catalog/entry?code=101001/000001", headers=_as(civil))).text()
    assert "人口基本信息" in published and "数据来源" not in published and "population" not in published


async def test_an_entrys_provider_is_the_department_directorys_name_not_the_typed_one(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """provider_name is the provider's own typed text: the 市场监管局 submitted an entry 人口基本信息 whose
    provider_name read 市公安局, and 审核, the entry's page and (once published) the catalog showed 市公安局 as its
    provider, the reviewer and every applicant deceived about whose 前置机 would receive their keys. The pages now
    show the directory's name of provider_department_code, and a typed name that differs beside it."""
    import uuid

    from govshare.catalog.v1 import catalog_pb2 as cat
    from govshare.catalog.v1 import catalog_pb2_grpc

    catalog = catalog_pb2_grpc.CatalogServiceStub(platform.channel)
    entry = cat.Entry()
    entry.CopyFrom((await catalog.GetEntry(cat.GetEntryRequest(code="102001/000001"),
                                           metadata=platform.metadata("market"), timeout=10)).entry)
    for name in ("state", "version", "publish_time", "create_time", "update_time", "submitted_by", "reviewed_by",
                 "etag"):
        entry.ClearField(name)
    entry.code = f"207{uuid.uuid4().int % 999 + 1:03d}/{uuid.uuid4().int % 10**6:06d}"  # 项 07: 信用体系
    entry.name, entry.category, entry.subject = "人口基本信息", cat.CATEGORY_THEME, "信用体系"
    entry.provider_name = "市公安局"
    await catalog.CreateEntry(cat.CreateEntryRequest(entry=entry), metadata=platform.metadata("market"), timeout=10)
    await catalog.SubmitEntry(cat.SubmitEntryRequest(code=entry.code), metadata=platform.metadata("market"),
                              timeout=10)
    reviewer = _person_session(console_server, platform, "authority", "REVIEWER")
    queue = await (await context.request.get("/review", headers=_as(reviewer))).text()
    card = queue[queue.index(entry.code):]
    card = card[:card.index("</section>")]
    shown = await (await context.request.get(f"/catalog/entry?code={urllib.parse.quote(entry.code)}&version=1",
                                             headers=_as(reviewer))).text()
    for page in (card, shown):
        assert "市市场监督管理局（填报名称“市公安局”与部门名录不符）" in page, page[-2000:]


async def test_a_departments_auditors_audit_page_does_not_ask_for_the_administrative_log(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """The 审计 page asked for the administrative log for every 审计员, and a department's was refused
    AUTHORITY_ONLY: since refused reads of the log are logged, each visit of a department's 审计员 wrote a refusal
    to it. The page now knows the department is not the authority and says whose the log is without asking."""
    from caller_metadata import person_of

    from govshare.authorization.v1 import admin_log_pb2, admin_log_pb2_grpc
    from services.runtime.identity import Caller

    police = platform.credentials.systems["police"]
    auditor = person_of(Caller(police["system_id"], police["department"]), "AUDITOR").system_id
    answer = await context.request.get("/audit", headers=_as(_person_session(console_server, platform, "police",
                                                                               "AUDITOR")))
    assert answer.status == 200 and "管理操作日志仅供共享主管部门的审计员查阅" in await answer.text()
    listed = await admin_log_pb2_grpc.AdminLogServiceStub(platform.channel).ListAdminEvents(
        admin_log_pb2.ListAdminEventsRequest(action="admin_log.list", page_size=1000),
        metadata=platform.metadata("authority"), timeout=10)
    assert auditor not in {e.actor_system_id for e in listed.events}


async def test_the_approver_finds_the_applications_already_dealt_with_by_state(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """答复 lists only the applications waiting for a reply: once one was refused, approved or withdrawn, the
    provider's 审批人 had no page to find it again and say who decided it, when and on what grounds. 已办理的申请
    lists them, newest first, filtered by state, each with its deciding step."""
    from govshare.authorization.v1 import sharing_pb2, sharing_pb2_grpc

    sharing = sharing_pb2_grpc.SharingServiceStub(platform.channel)
    made = []
    for _ in range(2):
        application = sharing_pb2.Application(resource_code="101001/000001", items=["citizen_id", "name"],
                                              purposes=[1], basis="《社会救助暂行办法》", methods=[1])
        application.requested_expire_time.FromSeconds(int(time.time()) + 365 * 86400)
        made.append((await sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(application=application),
                                                     metadata=platform.metadata("social"), timeout=10)).application.id)
    refused, withdrawn = made
    await sharing.ReplyApplication(sharing_pb2.ReplyApplicationRequest(
        id=refused, decision=sharing_pb2.REPLY_DECISION_REFUSE, reason="用途与履职依据不符，请补充依据后重新申请"),
        metadata=platform.person("police", "APPROVER"), timeout=10)
    await sharing.EscalateApplication(sharing_pb2.EscalateApplicationRequest(id=refused, reason="我局负有审核职责"),
                                      metadata=platform.person("social", "APPLICANT"), timeout=10)
    await sharing.WithdrawApplication(sharing_pb2.WithdrawApplicationRequest(id=withdrawn, reason="勾选有误"),
                                      metadata=platform.person("social", "APPLICANT"), timeout=10)
    approver = _person_session(console_server, platform, "police", "APPROVER")
    assert 'href="/replies/decided"' in await (await context.request.get("/replies", headers=_as(approver))).text()
    page = await open_as(context, console_server, approver)
    await page.goto("/replies/decided")
    await page.get_by_label("办理状态").select_option(label="已提请协调")
    await page.get_by_role("button", name="查询").click()
    await page.wait_for_url("**/replies/decided?state=escalated")
    row = await page.locator("tr", has_text=refused).inner_text()  # the provider's refusal, then the escalation
    assert re.search(r"答复不予共享 · .*（市公安局） · .* · 用途与履职依据不符.*\n+"
                     r"提请协调 · .* · 我局负有审核职责", row), row
    assert await page.locator("tr", has_text=withdrawn).count() == 0
    listed = await (await context.request.get("/replies/decided?state=withdrawn", headers=_as(approver))).text()
    row = listed[listed.index(f">{withdrawn}<"):].split("</tr>", 1)[0]
    assert "已撤回" in row and "撤回申请" in row and "勾选有误" in row and refused not in listed, row
    every = await (await context.request.get("/replies/decided", headers=_as(approver))).text()
    assert refused in every and withdrawn in every
    wrong = await context.request.get("/replies/decided?state=bogus", headers=_as(approver))
    assert wrong.status == 400 and "请从列表中选择办理状态" in await wrong.text()
    applicant = _person_session(console_server, platform, "social", "APPLICANT")
    assert (await context.request.get("/replies/decided", headers=_as(applicant))).status == 403


async def test_a_refused_link_says_what_is_wrong_with_it_in_chinese(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """A link cut short, a bookmark or a typed address: the page said "提交的内容有误：此项必填，请选择或填写。" of
    an address with no id (no form was sent, no 此项 shown), and quoted the service's English for one that is no id
    ("'bad' is not a well-formed application id: …"), no application ("application 'app-…' not found") or no
    department code ("统一社会信用代码 has an invalid check character")."""
    approver = _person_session(console_server, platform, "police", "APPROVER")

    async def main(path: str, status: int) -> str:
        answer = await context.request.get(path, headers=_as(approver))
        text = await answer.text()
        shown = unescape(re.sub(r"<[^>]+>", " ", text[text.index("<main"):]))
        assert answer.status == status, (answer.status, shown[:600])
        return shown

    assert "打开的链接不完整或有误，请从列表或页面上的链接重新打开：缺少编号。" in await main("/applications/view", 400)
    shown = await main("/applications/view?id=bad", 400)
    assert "编号有误：“bad”不是平台给出的编号（编号以 app- 开头）" in shown and "well-formed" not in shown, shown[:600]
    missing = "app-" + "0" * 32
    shown = await main(f"/applications/view?id={missing}", 404)
    assert f"未找到要操作的对象，它可能已被删除或您无权查看：申请 {missing}" in shown and "not found" not in shown
    shown = await main("/catalog/entry?code=999999/999999", 400)
    assert "资源代码有误：须为信息资源代码" in shown and "classification" not in shown, shown[:600]
    admin = system_session(console_server, platform, "authority", roles=("ADMINISTRATOR",))
    listed = await (await context.request.get("/systems?department=11110100MB00000099", headers=_as(admin))).text()
    assert "统一社会信用代码的校验位不正确" in listed and "check character" not in listed


async def test_the_replies_page_lists_the_application_waiting_longest_first(  # type: ignore[no-untyped-def]
        context, console_server, platform, database_url):
    """答复 and the home page listed the newest applications first: with more waiting than a page holds, the
    approver found the ones due soonest (or already late) on the last page, and the home page never showed them."""
    import asyncpg

    from govshare.authorization.v1 import sharing_pb2, sharing_pb2_grpc

    sharing = sharing_pb2_grpc.SharingServiceStub(platform.channel)
    made = []
    for _ in range(2):
        application = sharing_pb2.Application(resource_code="101001/000001", items=["citizen_id", "name"],
                                              purposes=[1], basis="《社会救助暂行办法》", methods=[1])
        application.requested_expire_time.FromSeconds(int(time.time()) + 365 * 86400)
        made.append((await sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(application=application),
                                                     metadata=platform.metadata("social"), timeout=10)).application.id)
    conn = await asyncpg.connect(database_url)
    try:  # the first made has waited longest: due long ago
        await conn.execute('UPDATE "authorization".applications SET reply_due_time = now() - interval \'60 days\' '
                           "WHERE id = $1", made[0])
    finally:
        await conn.close()
    approver = _as(_person_session(console_server, platform, "police", "APPROVER"))
    replies = await (await context.request.get("/replies", headers=approver)).text()
    first = re.search(r'<h2 id="a-1">申请 (app-[0-9a-f]+)', replies)
    assert first is not None and first.group(1) == made[0], replies[replies.index("<main"):][:800]
    home = await (await context.request.get("/", headers=approver)).text()
    assert made[0] in home and (made[1] not in home or home.index(made[0]) < home.index(made[1]))


async def test_a_refusal_for_the_department_or_the_role_is_said_in_chinese(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """An approver opening, from a link passed on, an application between two other departments read
    "您的角色或部门无权执行此操作：only the applicant, the provider and the authority see an application", and one
    answering it "…：only a 审批人 (APPROVER) of department 11110100MB0000005G may reply to applications"."""
    from govshare.authorization.v1 import sharing_pb2, sharing_pb2_grpc

    application = sharing_pb2.Application(resource_code="105001/000001", items=["licence_number", "status"],
                                          purposes=[1], basis="《政务服务法》", methods=[1])
    application.requested_expire_time.FromSeconds(int(time.time()) + 365 * 86400)
    app_id = (await sharing_pb2_grpc.SharingServiceStub(platform.channel).SubmitApplication(
        sharing_pb2.SubmitApplicationRequest(application=application), metadata=platform.metadata("social"),
        timeout=10)).application.id
    services = platform.credentials.systems["services"]["department"]
    approver = _person_session(console_server, platform, "police", "APPROVER")

    async def main(answer) -> str:  # type: ignore[no-untyped-def]
        text = await answer.text()
        return unescape(re.sub(r"<[^>]+>", " ", text[text.index("<main"):]))

    shown = await main(await context.request.get(f"/applications/view?id={app_id}", headers=_as(approver)))
    assert "此事项与您的部门无关：只有使用部门、提供部门和共享主管部门可以查看和办理。" in shown, shown[:600]
    shown = await main(await _post(context, "/replies", approver, {"id": app_id, "decision": "refuse",
                                                                    "reason": "不符合条件"}))
    # The department by its name (a rename elsewhere in the run may have changed which), never its code.
    named = re.search(r"此事项属于(\S+)，须由该部门的审批人办理，您的部门无权办理。", shown)
    assert named is not None and services not in named[1], shown[:600]
    assert "only" not in shown and "may reply" not in shown


async def test_a_report_or_export_link_that_is_wrong_says_why_in_chinese(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """A report or export link edited, bookmarked or typed: the page said '提交的内容有误：此项不符合要求，请修改后
    重新提交（平台说明：the year has not begun）' (or 'must be between 2000 and 2100', 'name the provider department',
    '统一社会信用代码 has an invalid check character, or leave it empty …'), an export of a month never computed
    '当前状态不允许此操作：2001-01 has not been computed yet: ComputeSnapshots …', and 返回 led to the link itself."""
    authority = system_session(console_server, platform, "authority", roles=("AUDITOR",))
    next_year = dt.datetime.now(CHINA).year + 1
    cases = [(f"/supervision/report?kind=yearly&year={next_year}&format=csv", 400,
              "年份有误：该年尚未开始，还没有数据。"),
             ("/supervision/report?kind=yearly&year=1999&format=html", 400, "年份有误：须在 2000 至 2100 之间。"),
             ("/supervision/report?kind=monthly&year=2026&month=1&format=csv", 400, "部门代码有误：请指明部门"),
             ("/supervision/report?kind=yearly&year=2026&format=csv&department=11110100MB00000099", 400,
              "部门代码有误：统一社会信用代码的校验位不正确"),
             ("/supervision/export?what=evaluations&year=2001&month=1", 409,
              "2001年1月还没有评估结果（每月数据统计后生成），没有可导出的内容。")]
    for path, status, said in cases:
        answer = await context.request.get(path, headers=_as(authority))
        text = await answer.text()
        shown = unescape(re.sub(r"<[^>]+>", " ", text[text.index("<main"):]))
        assert answer.status == status and said in shown, (path, answer.status, shown[:600])
        assert not re.search(r"[a-z]{3,} [a-z]{3,}", shown), (path, shown[:600])  # no English sentence
        assert '<a href="/supervision">返回</a>' in text, (path, text[-400:])


async def test_a_refused_reply_to_an_application_beyond_the_first_page_comes_back_with_its_form(  # type: ignore[no-untyped-def]
        context, console_server, platform, database_url):
    """The reply form posts to 答复's first page: a reply refused beside its fields (no reason for a refusal) to an
    application on a later page came back as the first page, without that application's card, so the error and
    the reason typed were nowhere to be seen. The refused application's card now heads the page."""
    import asyncpg

    from govshare.authorization.v1 import sharing_pb2, sharing_pb2_grpc

    sharing = sharing_pb2_grpc.SharingServiceStub(platform.channel)
    made = []
    for _ in range(console_server.console.settings.page_size + 1):
        application = sharing_pb2.Application(resource_code="101001/000001", items=["citizen_id", "name"],
                                              purposes=[1], basis="《社会救助暂行办法》", methods=[1])
        application.requested_expire_time.FromSeconds(int(time.time()) + 365 * 86400)
        made.append((await sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(application=application),
                                                     metadata=platform.metadata("social"), timeout=10)).application.id)
    late = made[-1]
    conn = await asyncpg.connect(database_url)
    try:  # due last of all: on the last page
        await conn.execute('UPDATE "authorization".applications SET reply_due_time = now() + interval \'3 years\' '
                           "WHERE id = $1", late)
    finally:
        await conn.close()
    approver = _person_session(console_server, platform, "police", "APPROVER")
    first = await (await context.request.get("/replies", headers=_as(approver))).text()
    assert late not in first
    answer = await _post(context, "/replies", approver, {"id": late, "decision": "refuse", "reason": "",
                                                          "items": ["citizen_id"]})
    text = await answer.text()
    assert answer.status == 400 and f"申请 {late} 未答复" in text, text[-800:]
    card = _card(text, f'<h2 id="a-1">申请 {late}')
    assert 'id="reason-error">不予共享时必须说明理由' in card, card[-800:]


async def test_a_refused_review_of_an_entry_beyond_the_first_page_comes_back_with_its_form(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """The review form posts to 审核's first page: 退回修改 without a reason (or a review of a version changed since)
    for an entry on a later page came back as the first page, 400, without that entry's card: the error and the
    reason typed were nowhere to be seen, and the reviewer could not tell whether anything was done. The refused
    entry's card now heads the page with its error."""
    import uuid

    from frontproc import demo as dept
    from govshare.catalog.v1 import catalog_pb2 as cat
    from govshare.catalog.v1 import catalog_pb2_grpc

    catalog = catalog_pb2_grpc.CatalogServiceStub(platform.channel)
    social = platform.metadata("social")
    made = []
    for _ in range(console_server.console.settings.page_size + 1):
        entry = dept.social_insurance_entry("")
        entry.code = f"202001/{uuid.uuid4().int % 10**6:06d}"
        entry.endpoint.dataset = f"si_{uuid.uuid4().hex[:8]}"
        await catalog.CreateEntry(cat.CreateEntryRequest(entry=entry), metadata=social, timeout=10)
        made.append((await catalog.SubmitEntry(cat.SubmitEntryRequest(code=entry.code), metadata=social,
                                               timeout=10)).entry)
    reviewer = _person_session(console_server, platform, "authority", "REVIEWER")
    first = await (await context.request.get("/review", headers=_as(reviewer))).text()
    later = next(e for e in made if f"{e.code}《" not in first)
    answer = await _post(context, "/review", reviewer, {"code": later.code, "etag": later.etag, "decision": "return",
                                                        "reason": "  "})
    text = unescape(await answer.text())
    assert answer.status == 400, (answer.status, text[-800:])
    card = _card(text, f"{later.code}《")
    assert "退回时必须填写退回理由" in card, text[-1500:]
    got = await catalog.GetEntry(cat.GetEntryRequest(code=later.code, version=later.version), metadata=social,
                                 timeout=10)
    assert got.entry.state == cat.ENTRY_STATE_SUBMITTED


async def test_a_refused_answer_to_a_dispute_beyond_the_first_page_comes_back_with_its_form(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """The answer form posts to 疑义与冲突's first page: an answer refused beside its field (sent empty) to a dispute
    of a later page came back as the first page, without that dispute's card, its choice lost and the error a
    banner naming nothing. The refused dispute's card now heads the page, as it was sent, the banner naming it."""
    disputes = dispute_pb2_grpc.DisputeServiceStub(platform.channel)
    made = [(await disputes.ReportDispute(dispute_pb2.ReportDisputeRequest(dispute=dispute_pb2.Dispute(
        resource_code="101001/000001", key=citizen_id_of(600 + i, platform.credentials.seed), item="name",
        claimed_value="李小红", evidence="户口簿原件")), metadata=platform.metadata("social"), timeout=10)).dispute.id
        for i in range(console_server.console.settings.page_size + 1)]
    approver = _person_session(console_server, platform, "police", "APPROVER")
    assert f"疑义 {made[0]}" not in await (await context.request.get("/disputes", headers=_as(approver))).text()
    answer = await _post(context, "/disputes", approver, {"kind": "dispute", "id": made[0], "corrected": "yes",
                                                           "answer": " "})
    text = await answer.text()
    assert answer.status == 400 and f"疑义 {made[0]} 未答复：请填写校核结果" in text, text[-800:]
    card = _card(text, f'<h3 id="d-1">疑义 {made[0]}')
    assert 'value="yes" checked' in card and "答复疑义" in card, card[-800:]


async def test_the_audit_page_lists_and_counts_the_using_department_asked_for(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """The 审计 page filtered by resource and days only: an auditor asked which calls one department made (a
    department named in a complaint, or in supervision's violations) paged through every department's. Its
    使用部门 (a 统一社会信用代码, the departments the summary counts offered as choices) filters the listing
    (ListAccesses' department_code) and the counts; a code that is none is said beside it, in Chinese."""
    import grpc

    from govshare.common.v1 import common_pb2
    from govshare.query.v1 import query_pb2, query_pb2_grpc

    stub = query_pb2_grpc.QueryServiceStub(platform.channel)
    purpose = common_pb2.Purpose(type=common_pb2.PURPOSE_TYPE_WORK_REFERENCE, text="审计筛选")
    for system in ("social", "civil"):
        with contextlib.suppress(grpc.aio.AioRpcError):  # answered or refused, each is on record
            await stub.Query(query_pb2.QueryRequest(resource_code="102001/000001", key="91350100M000100Y8X",
                                                    items=["name"], purpose=purpose),
                             metadata=platform.metadata(system), timeout=10)
    session = system_session(console_server, platform, "authority")
    shown: dict[str, set[str]] = {}
    for system in ("social", "civil"):
        code = platform.credentials.systems[system]["department"]
        answer = await context.request.get(f"/audit?department={code}", headers=_as(session))
        text = await answer.text()
        assert answer.status == 200 and f'value="{code}"' in text, text[-1500:]
        assert f'<option value="{code}">' in text  # offered among the departments counted
        counted, listed = text.split("资源使用统计", 1)[1].split("资源使用记录", 1)
        listed = listed.split("管理操作日志", 1)[0]
        users = set(re.findall(r"<tr><td>[^<]*</td><td>([^<]*)</td>", listed))
        assert len(users) == 1, users
        assert set(re.findall(r"<tr><td>[^<]*</td><td>([^<]*)</td>", counted)) == users
        shown[system] = users
    assert shown["social"] != shown["civil"]
    # Typed in lower case and full width (a Chinese input method), as ListAccesses reads it: the counts are that
    # department's too (they said 所选期间没有使用记录 beside its listed accesses).
    code = platform.credentials.systems["social"]["department"]
    typed = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in code.lower())
    answer = await context.request.get(f"/audit?department={urllib.parse.quote(typed)}", headers=_as(session))
    text = await answer.text()
    assert answer.status == 200 and f'value="{code}"' in text, text[-1500:]
    counted, listed = text.split("资源使用统计", 1)[1].split("资源使用记录", 1)
    listed = listed.split("管理操作日志", 1)[0]
    assert set(re.findall(r"<tr><td>[^<]*</td><td>([^<]*)</td>", counted)) == shown["social"], counted[:1500]
    assert set(re.findall(r"<tr><td>[^<]*</td><td>([^<]*)</td>", listed)) == shown["social"]
    wrong = await context.request.get("/audit?department=91350100M000100Y8", headers=_as(session))
    text = await wrong.text()
    said = re.search(r'id="department-error"[^>]*>([^<]*)<', text)
    assert wrong.status == 400 and said and "统一社会信用代码" in said[1] and "must" not in said[1], text[-1500:]
    # By its name, as the page shows the department beside each access (it was refused as no code): read as the
    # code it names, the listing and counts that department's; a name several hold, or none, said beside it.
    (name,) = shown["social"]
    answer = await context.request.get(f"/audit?department={urllib.parse.quote(name)}", headers=_as(session))
    text = await answer.text()
    assert answer.status == 200 and f'value="{code}"' in text, text[-1500:]
    counted, listed = text.split("资源使用统计", 1)[1].split("资源使用记录", 1)
    assert set(re.findall(r"<tr><td>[^<]*</td><td>([^<]*)</td>", listed.split("管理操作日志", 1)[0])) == {name}
    assert set(re.findall(r"<tr><td>[^<]*</td><td>([^<]*)</td>", counted)) == {name}
    for typed, told in (("市", "名称含“市”的部门有 "), ("并无此局", "没有名称为或含有“并无此局”的部门")):
        answer = await context.request.get(f"/audit?department={urllib.parse.quote(typed)}", headers=_as(session))
        text = unescape(await answer.text())
        said = re.search(r'id="department-error"[^>]*>([^<]*)<', text)
        assert answer.status == 400 and said and told in said[1], text[-1500:]
        assert f'value="{typed}"' in text  # kept as typed, to correct


async def test_the_audit_page_lists_the_outcome_asked_for(context, console_server, platform):  # type: ignore[no-untyped-def]
    """An auditor counting a department's refusals or failures (资源使用统计 says how many) could not list them:
    the page listed every outcome, newest first, and a month's few refusals hid among its answers. Its 结果
    (ListAccesses' new result filter) lists one outcome, kept selected and in the page links; an outcome the
    select does not offer lists every one, as an odd page number does."""
    import grpc

    from govshare.common.v1 import common_pb2
    from govshare.query.v1 import query_pb2, query_pb2_grpc

    stub = query_pb2_grpc.QueryServiceStub(platform.channel)
    purpose = common_pb2.Purpose(type=common_pb2.PURPOSE_TYPE_WORK_REFERENCE, text="审计筛选")
    # A malformed key (无效请求), and a valid one asked by a system without a grant or with one (拒绝 or 已应答).
    for system, resource, key in (("social", "102001/000001", "bad"),
                                  ("civil", "101001/000001", citizen_id_of(12, platform.credentials.seed))):
        with contextlib.suppress(grpc.aio.AioRpcError):  # answered or refused, each is on record
            await stub.Query(query_pb2.QueryRequest(resource_code=resource, key=key, items=["name"],
                                                    purpose=purpose),
                             metadata=platform.metadata(system), timeout=10)
    session = system_session(console_server, platform, "authority")
    every = await context.request.get("/audit", headers=_as(session))
    mixed = set(re.findall(r"<td>([^<]*)</td></tr>", (await every.text()).split("资源使用记录", 1)[1]
                           .split("管理操作日志", 1)[0]))
    assert len(mixed) > 1, mixed  # the unfiltered page shows several outcomes
    listed_some = False
    for value, label in ((3, "拒绝"), (4, "无效请求")):
        answer = await context.request.get(f"/audit?result={value}", headers=_as(session))
        text = await answer.text()
        assert answer.status == 200 and f'<option value="{value}" selected>' in text, text[-1500:]
        listing = text.split("资源使用记录", 1)[1].split("管理操作日志", 1)[0]
        results = re.findall(r"<td>([^<]*)</td></tr>", listing)
        # A refusal is said with its reason (拒绝（未获授权）), as access_result says it.
        assert all(result == label or result.startswith(f"{label}（") for result in results), results
        listed_some = listed_some or bool(results)
    assert listed_some
    odd = await context.request.get("/audit?result=9", headers=_as(session))
    assert odd.status == 200 and 'value="" selected' not in await odd.text()
    # 系统标识: one system's calls alone (ListAccesses' system_id), each row's system linking to them.
    social = platform.credentials.systems["social"]["system_id"]
    answer = await context.request.get(f"/audit?system={social}", headers=_as(session))
    text = await answer.text()
    assert answer.status == 200 and f'name="system" value="{social}"' in text, text[-1500:]
    listing = text.split("资源使用记录", 1)[1].split("管理操作日志", 1)[0]
    assert set(re.findall(r'<a href="/audit\?system=([^"]*)"', listing)) == {social}, listing[-1500:]


async def test_the_audit_pages_two_pagers_each_keep_the_page_the_other_list_is_on(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """审计 pages two lists, the accesses and the 管理操作日志: 下一页 of one took the other back to its first
    page, so an auditor reading the log's third page beside an access's lost the access page they compared."""
    import html

    import grpc

    from govshare.common.v1 import common_pb2
    from govshare.query.v1 import query_pb2, query_pb2_grpc

    stub = query_pb2_grpc.QueryServiceStub(platform.channel)
    purpose = common_pb2.Purpose(type=common_pb2.PURPOSE_TYPE_WORK_REFERENCE, text="两个分页")
    for _ in range(2 * console_server.console.settings.page_size + 1):  # more accesses than two pages show
        with contextlib.suppress(grpc.aio.AioRpcError):  # answered or refused, each is on record
            await stub.Query(query_pb2.QueryRequest(resource_code="102001/000001", key="91350100M000100Y8X",
                                                    items=["name"], purpose=purpose),
                             metadata=platform.metadata("social"), timeout=10)
    session = system_session(console_server, platform, "authority")

    def link(text: str, of: str) -> str:
        nav = text.split(f'aria-label="{of}分页"', 1)[1].split("</nav>", 1)[0]
        found = re.search(r'href="\?([^"]*)"', nav)
        assert found, nav
        return html.unescape(found[1])

    first = await (await context.request.get("/audit", headers=_as(session))).text()
    on_page_two = link(first, "资源使用记录")
    access_token = urllib.parse.parse_qs(on_page_two)["page_token"][0]
    second = await (await context.request.get(f"/audit?{on_page_two}", headers=_as(session))).text()
    events_link = urllib.parse.parse_qs(link(second, "管理操作日志"))
    assert events_link["page_token"] == [access_token] and events_link["e_token"]
    third = await (await context.request.get(f"/audit?{urllib.parse.urlencode(events_link, doseq=True)}",
                                             headers=_as(session))).text()
    assert third.split("资源使用记录（", 1)[1].split("</table>", 1)[0] == \
        second.split("资源使用记录（", 1)[1].split("</table>", 1)[0]  # the accesses stay on their page
    assert urllib.parse.parse_qs(link(third, "资源使用记录"))["e_token"] == events_link["e_token"]


async def test_a_reply_sent_from_a_later_page_of_replies_comes_back_to_that_page(  # type: ignore[no-untyped-def]
        context, console_server, platform):
    """答复 (审核, 协调, 授权 alike) came back to its first page after every decision: a 审批人 working through the
    second page paged on again after each card to find the one after it."""
    import grpc

    from govshare.authorization.v1 import sharing_pb2, sharing_pb2_grpc

    sharing = sharing_pb2_grpc.SharingServiceStub(platform.channel)
    made = []
    for _ in range(console_server.console.settings.page_size + 2):  # at least two beyond the first page
        application = sharing_pb2.Application(resource_code="101001/000001", items=["name"], purposes=[1],
                                              basis="《社会救助暂行办法》", methods=[1])
        application.requested_expire_time.FromSeconds(int(time.time()) + 365 * 86400)
        made.append((await sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(
            application=application), metadata=platform.metadata("social"), timeout=10)).application.id)
    page = await open_as(context, console_server, _person_session(console_server, platform, "police", "APPROVER"))
    try:
        await page.goto("/replies")
        while True:  # a later page holding one of these and another card, which stays once it is answered
            cards = await page.locator("section.card h2").all_inner_texts()
            mine = [app_id for app_id in made if any(app_id in card for card in cards)]
            if "page_token=" in page.url and mine and len(cards) > 1:
                break
            await page.get_by_role("link", name="下一页").click()
            await page.wait_for_load_state()
        shown = page.url
        card = page.locator("section.card", has_text=mine[0])
        await card.locator("textarea[name=reason]").fill("测试：非本部门职责")
        await card.get_by_role("button", name="不予共享").click()
        await page.wait_for_load_state()
        assert page.url == shown
        assert f"已答复申请 {mine[0]}：不予共享" in await page.locator(".flash").inner_text()
        assert await page.locator("section.card", has_text=mine[0]).count() == 0
    finally:  # withdrawn: the tests after this one find their own on 答复's first page
        for app_id in made:
            with contextlib.suppress(grpc.aio.AioRpcError):  # the one refused above cannot be
                await sharing.WithdrawApplication(sharing_pb2.WithdrawApplicationRequest(id=app_id, reason="测试完毕"),
                                                  metadata=platform.person("social", "APPLICANT"), timeout=10)


async def test_a_rename_after_another_administrators_rename_is_said_not_overwritten(  # type: ignore[no-untyped-def]
        context, console_server, platform) -> None:
    """Two 管理员 renaming one department from 部门 pages opened together: each was told 现名为 its name, and the
    later silently replaced the earlier. The later is refused, saying the name the other gave, its typed name kept;
    sent again from the page as it now is, it is made."""
    from govshare.authorization.v1 import directory_pb2, directory_pb2_grpc

    code = await _new_department(platform, "市民政局")
    old, theirs, mine = f"市民政局{code[-5:]}", f"市社会服务局{code[-5:]}", f"市民政服务中心{code[-5:]}"
    directory = directory_pb2_grpc.DirectoryServiceStub(platform.channel)
    page = await open_as(context, console_server,
                         _person_session(console_server, platform, "authority", "ADMINISTRATOR"))
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.goto("/departments")
    box = page.get_by_label(f"{old}的新名称")
    while await box.count() == 0:
        await page.get_by_role("link", name="下一页").click()
    await directory.RenameDepartment(directory_pb2.RenameDepartmentRequest(code=code, name=theirs),
                                     metadata=platform.person("authority", "ADMINISTRATOR"), timeout=10)  # the other
    await box.fill(mine)
    await page.get_by_role("button", name=f"更名{old}").click()
    await page.wait_for_load_state()
    said = await page.locator('div.problem[role="alert"]').inner_text()
    assert f"已由他人更名为“{theirs}”" in said and mine in said, said
    box = page.get_by_label(f"{theirs}的新名称")  # the page as it is now
    assert await box.input_value() == mine
    await page.get_by_role("button", name=f"更名{theirs}").click()
    await page.wait_for_load_state()
    assert f"部门 {code} 现名为“{mine}”" in await page.locator(".flash").inner_text()


async def test_every_overdue_application_is_listed_for_the_authority_longest_overdue_first(  # type: ignore[no-untyped-def]
        context, console_server, platform, database_url):
    """首页 listed the ten applications overdue longest and 监督 counted them by department: a 审核员 following up
    on the others found them on no page. 逾期未答复的申请 lists every one, longest overdue first, page by page; an
    auditor of a department opens it too, a 申请人 is told whose page it is."""
    import asyncpg

    from govshare.authorization.v1 import sharing_pb2, sharing_pb2_grpc

    sharing = sharing_pb2_grpc.SharingServiceStub(platform.channel)
    made = []
    for _ in range(2):
        application = sharing_pb2.Application(resource_code="101001/000001", items=["name"], purposes=[1],
                                              basis="《社会救助暂行办法》", methods=[1])
        application.requested_expire_time.FromSeconds(int(time.time()) + 365 * 86400)
        made.append((await sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(
            application=application), metadata=platform.metadata("social"), timeout=10)).application.id)
    conn = await asyncpg.connect(database_url)
    try:  # time passes: the first was due three weeks ago, the second yesterday
        for app_id, days in zip(made, (21, 1), strict=True):
            await conn.execute('UPDATE "authorization".applications SET reply_due_time = now() - $2::interval '
                               "WHERE id = $1", app_id, dt.timedelta(days=days))
    finally:
        await conn.close()
    page = await open_as(context, console_server, _person_session(console_server, platform, "authority", "REVIEWER"))
    try:
        await page.goto("/applications/overdue")
        rows: list[str] = []
        while True:
            rows += await page.locator("table tbody tr").all_inner_texts()
            if not await page.get_by_role("link", name="下一页").count():
                break
            await page.get_by_role("link", name="下一页").click()
            await page.wait_for_load_state()
        order = [next(i for i, row in enumerate(rows) if app_id in row) for app_id in made]
        assert order[0] < order[1], rows  # longest overdue first
        assert "已逾期" in rows[order[0]] and "个工作日" in rows[order[0]], rows[order[0]]
        refused = await context.request.get("/applications/overdue", headers=_as(
            _person_session(console_server, platform, "social", "APPLICANT")))
        assert refused.status == 403 and "逾期未答复的申请" in await refused.text()
    finally:
        for app_id in made:
            with contextlib.suppress(Exception):
                await sharing.WithdrawApplication(sharing_pb2.WithdrawApplicationRequest(id=app_id, reason="测试完毕"),
                                                  metadata=platform.person("social", "APPLICANT"), timeout=10)


async def test_the_audit_pages_resource_may_be_named_by_its_name(context, console_server, platform):  # type: ignore[no-untyped-def]
    """审计's 资源代码 filled in with the resource's name, as 目录 and the use records show it, was refused as no
    信息资源代码: the auditor went to 目录 to copy the code. The one entry of that name in use (published or
    retired: a draft's or a submitted one's code names no access) is listed, its code shown in the input; several
    of one name are listed by code to choose; a name no entry has is said so beside the input."""
    import uuid

    from govshare.catalog.v1 import catalog_pb2 as cat
    from govshare.catalog.v1 import catalog_pb2_grpc

    catalog = catalog_pb2_grpc.CatalogServiceStub(platform.channel)
    name = f"按名审计{uuid.uuid4().hex[:6]}"

    async def entry_named(publish: bool) -> str:
        entry = cat.Entry()
        entry.CopyFrom((await catalog.GetEntry(cat.GetEntryRequest(code="102001/000001"),
                                               metadata=platform.metadata("market"), timeout=10)).entry)
        for field in ("state", "version", "publish_time", "create_time", "update_time", "submitted_by",
                      "reviewed_by", "etag"):
            entry.ClearField(field)
        entry.code = f"207{uuid.uuid4().int % 999 + 1:03d}/{uuid.uuid4().int % 10**6:06d}"  # 项 07: 信用体系
        entry.name, entry.category, entry.subject = name, cat.CATEGORY_THEME, "信用体系"
        await catalog.CreateEntry(cat.CreateEntryRequest(entry=entry), metadata=platform.metadata("market"),
                                  timeout=10)
        await catalog.SubmitEntry(cat.SubmitEntryRequest(code=entry.code), metadata=platform.metadata("market"),
                                  timeout=10)
        if publish:
            await catalog.ReviewEntry(cat.ReviewEntryRequest(code=entry.code, decision=cat.REVIEW_DECISION_PUBLISH),
                                      metadata=platform.person("authority", "REVIEWER"), timeout=10)
        return entry.code

    published = await entry_named(publish=True)
    await entry_named(publish=False)  # in review: no access names it
    session = system_session(console_server, platform, "authority")

    async def audit_of(typed: str) -> tuple[int, str]:
        answer = await context.request.get(f"/audit?resource={urllib.parse.quote(typed)}", headers=_as(session))
        return answer.status, await answer.text()

    status, text = await audit_of(f" {name} ")
    assert status == 200, re.findall(r'id="resource-error"[^>]*>([^<]*)<', text)
    assert re.search(rf'name="resource"[^>]*value="{re.escape(published)}"', text)
    status, text = await audit_of(f"{name}表")
    said = re.search(r'id="resource-error"[^>]*>([^<]*)<', text)
    assert status == 400 and said and f"没有名为“{name}表”的资源目录" in said[1], said
    other = await entry_named(publish=True)
    status, text = await audit_of(name)
    said = re.search(r'id="resource-error"[^>]*>([^<]*)<', text)
    assert status == 400 and said and f"名为“{name}”的资源目录有 2 个" in said[1], said
    assert published in said[1] and other in said[1]
