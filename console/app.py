"""The console's web application: Starlette, Jinja2 templates, security headers, sessions and CSRF.

Every page is rendered on the server; the only script is /static/console.js (each form sent once, the catalog
form's checks as you type), so the Content-Security-Policy allows scripts, styles and images from the console
itself and nothing else — no inline script, no inline style, no other origin, no framing.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hmac
import json
import logging
import secrets
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf import timestamp_pb2
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from console import labels
from console.backend import Services
from console.errors import SENDING
from console.names import Names, watch_changes
from console.sessions import COOKIE, RedisSessionStore, Session, SessionStore, SessionSync
from console.settings import ConsoleSettings
from govshare.authorization.v1 import sharing_pb2
from govshare.supervision.v1 import supervision_pb2
from services.runtime import tls_renewal
from services.runtime.identifiers import mask_citizen_ids, mask_mobile_numbers
from services.runtime.masking import Masker
from services.runtime.tasks import cancel
from services.runtime.workdays import (
    CHINA,
    first_calendar_year,
    is_working_day,
    last_day_in_force,
    term_end_text,
)
from services.supervision.evaluation import weight_text, weights_total

HERE = Path(__file__).parent
#: Scripts, styles, images, forms and connections: the console's own origin only; never framed.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}
#: The pre-sign-in cookie whose value the sign-in form must echo (login CSRF, double submit).
LOGIN_COOKIE = "govshare_console_login"
#: How often an open page asks for the person's 待办 counts again (console/todo.py): a new matter shows within it.
TODO_POLL_SECONDS = 30
#: A token this close to its expiry is renewed before the request uses it (RefreshSession).
REFRESH_BEFORE_SECONDS = 300
log = logging.getLogger("govshare.console")


class SecurityHeaders:
    """Adds the CSP and its companions to every response, and no-store to every page (they show work data)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith(("/static/", "/fonts/"))

        async def with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


class Unexpected:
    """An unexpected error is a Chinese 500 page, logged by its type and path only: re-raised (as Starlette's
    ServerErrorMiddleware does), uvicorn would log the exception's message, which may quote what was typed —
    an ID number, a name."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as exc:  # the last resort: a page, never a trace
            if started:
                log.error("page failed after its answer began: %s %s (%s)", scope.get("method"), scope.get("path"),
                          type(exc).__name__)
                return
            response = await server_error(Request(scope), exc)
            await response(scope, receive, send)


class Console:
    """What every page handler needs: settings, the services, the sessions and the templates."""

    def __init__(self, settings: ConsoleSettings, services: Services, sessions: SessionStore) -> None:
        self.settings = settings
        self.services = services
        self.sessions = sessions
        #: Department and resource names beside their codes (console/names.py: a small per-process cache).
        self.names = Names(services)
        self.templates = Environment(loader=FileSystemLoader(HERE / "templates"),
                                     autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
        self.templates.globals.update(labels=labels, when=when, day=day, until=until, until_day=until_day,
                                      actor=actor, percent=percent, calls=calls, indicator_rate=indicator_rate,
                                      source=source, provider_answers=provider_answers, access_result=access_result,
                                      declared_purpose=declared_purpose, admin_result=admin_result,
                                      usage_total=usage_total, weights_total=weights_total,
                                      weight_text=weight_text, provisional_said=provisional_note)

    # -- responses ---------------------------------------------------------------------------------------------

    def page(self, request: Request, template: str, status: int = 200, session: Session | None = None,
             **context: Any) -> HTMLResponse:
        session = session if session is not None else request.scope.get("console.session")
        flash = ""
        if session is not None and session.flash:
            flash, session.flash = session.flash, ""
        html = self.templates.get_template(template).render(
            request=request, session=session, person=session.person if session else None,
            csrf=session.csrf if session else "", flash=flash, errors=context.pop("errors", {}),
            nav=navigation(session), current=request.url.path, todo_poll=TODO_POLL_SECONDS,
            may=lambda path, method="GET": may(session, path, method),
            holds=lambda *roles: holds(session, roles), **context)
        return HTMLResponse(html, status_code=status)

    def set_cookie(self, response: Response, session_id: str) -> None:
        response.set_cookie(COOKIE, session_id, httponly=True, secure=self.settings.secure_cookie,
                            samesite="strict", path="/")

    async def refresh(self, session: Session) -> str | None:
        """Swaps the session's token for a fresh one (RefreshSession): None, or why the platform ended the session
        (the reason of its refusal, see ``login_redirect``)."""
        from console.signin import SessionEnded, refresh

        try:
            renewed = await refresh(self.services.channel, session.token, self.settings.call_timeout_seconds)
        except SessionEnded as ended:
            return ended.reason
        session.token, session.token_expires_at = renewed.token, renewed.expires_at
        return None

    # -- sessions and CSRF -------------------------------------------------------------------------------------

    def session_of(self, request: Request) -> tuple[Session | None, bool]:
        return self.sessions.get(request.cookies.get(COOKIE))

    async def checked_form(self, request: Request, session: Session) -> FormData | None:
        """The POSTed form if it carries the session's CSRF token, else None (the caller answers 403)."""
        form = await request.form()
        sent = str(form.get("csrf_token", ""))
        if not sent or not same_secret(sent, session.csrf):
            return None
        return form


def same_secret(sent: str, expected: str) -> bool:
    """``sent == expected`` in constant time, for any text a browser sends (compare_digest raises TypeError on
    non-ASCII strings: a forged token in Chinese would be a 500, not a refusal)."""
    return hmac.compare_digest(sent.encode(), expected.encode())


#: What a form that carries a file is told: no page of the console uploads one.
NO_FILES = "控制台的表单不接受文件，操作未执行：请回到页面，用页面上的表单填写后重新提交。"


def text_only(form: FormData) -> bool:
    """Whether every value of the form is text: a multipart post may carry a file under any name, which the pages
    would put in a request field (a TypeError, a 500 page) or show as the upload's repr."""
    return all(isinstance(value, str) for _, value in form.multi_items())


Handler = Callable[[Console, Request, Session], Awaitable[Response]]
#: Where ``signed_in`` keeps the form a POST sent, checked (its CSRF token, text only), for a refusal to show.
FORM_SENT = "console.form"


#: The pages of a person who signed in with a password an administrator set (PASSWORD_CHANGE_REQUIRED).
FIRST_PASSWORD_PATHS = frozenset({"/password", "/logout"})
#: What they read on 修改密码.
FIRST_PASSWORD = "您的密码由管理员设置，管理员知道它：请先设置只有您自己知道的新密码，修改前不能办理其他事项。"


def signed_in(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A route that needs a live session (else the sign-in page, saying the session expired if it did), for
    POST the session's CSRF token (else 403 saying to reload the page), and a role its page (``PAGES``) lets use
    (else 403 saying which roles it needs and whom to ask)."""

    async def endpoint(request: Request) -> Response:
        console: Console = request.app.state.console
        session, expired = console.session_of(request)
        if session is None:
            # A cookie whose session the store no longer holds was a sign-in that ended without a sign-out (the
            # embedded Redis restarted empty, an in-memory store's console restarted): said, like an expiry.
            ended = expired or bool(request.cookies.get(COOKIE))
            if ended and request.method == "POST":
                return await ended_post(console, request)
            return login_redirect(ended)
        request.scope["console.session"] = session
        SENDING.set(request.method == "POST")  # how a platform that did not answer is said (console.errors)
        if session.person.password_change_required and request.url.path not in FIRST_PASSWORD_PATHS:
            # The platform refuses everything else to this session: each page would say so, 修改密码 does it.
            return RedirectResponse("/password", status_code=303)
        if session.token_expires_at - console.sessions.now() < REFRESH_BEFORE_SECONDS \
                and (ended := await console.refresh(session)) is not None:
            console.sessions.end(session.id)
            return await sign_in_again(console, request, login_redirect(True, ended))
        if request.method == "POST":
            form = await console.checked_form(request, session)
            if form is None:
                return await stale_form(console, request)
            if not text_only(form):
                return console.page(request, "refused.html", status=400, title="请求有误", message=NO_FILES)
            request.scope[FORM_SENT] = form  # what a refusal page shows of it (pages._refused)
        if (refused := _refused_page(console, request, session)) is not None:
            return refused
        response = await handler(console, request, session)
        # The platform ended the sign-in while the form was being filled in (the roles changed, the account
        # disabled, the session revoked): redirected to sign in, the reason or text written was gone.
        return await sign_in_again(console, request, response) if request.method == "POST" else response

    endpoint.__name__ = handler.__name__
    return endpoint


#: A form's inputs that hold no text the person typed (tokens, the object's id, buttons, boxes and choices).
_NOT_TYPED = frozenset({"csrf_token", "id", "code", "decision", "action", "kind", "expire_date_shown", "items",
                        "purposes", "methods", "share_methods", "roles", "corrected", "adopt", "local", "password",
                        "current_password", "new_password", "new_password_again", "totp_code",
                        "category", "format_class", "update_cycle", "share_type", "zone", "secrecy",
                        "open_to_public", "return_reason", "etag", "request_id", "confirmed"})
#: What the sign-in page says to a form sent after the sign-in ended.
ENDED_POST = "登录已过期，您刚才提交的操作未执行。您填写的内容列在下方，请先复制保存，重新登录后回到该页面重新提交。"


def typed_texts(form: FormData) -> list[str]:
    """The text a person typed in a form that was not carried out, to be shown for copying."""
    return [value for name, value in form.multi_items()
            if isinstance(value, str) and name not in _NOT_TYPED and not name.endswith(
                ("_shown", ".data_type", ".identifier", ".basic", ".sensitive")) and value.strip()]


async def ended_post(console: Console, request: Request) -> Response:
    """The sign-in page for a form sent after its session ended (left open past the idle time, the console's
    sessions lost), with the text that was typed in it, to copy: redirected to sign in, the post and the
    reason, answer or description written in it were gone."""
    try:
        form = await request.form()
    except HTTPException:  # a body Starlette cannot read: nothing to keep
        return login_redirect(True)
    return login_page(console, request, message=ENDED_POST, status=401, kept=typed_texts(form))


#: What the sign-in page adds for a form the platform refused because it ended the sign-in (``ended_message``).
KEEP_TYPED = "您填写的内容列在下方，请先复制保存，重新登录后回到该页面重新提交。"


def ended_message(response: Response) -> str:
    """What the sign-in page says to a form whose page answered with ``login_redirect(True, …)``, the platform
    having refused the person's token (why it ended, and that what was typed is listed below), else ""."""
    location = response.headers.get("location", "") if isinstance(response, RedirectResponse) else ""
    path, _, query = location.partition("?")
    if path != "/login":
        return ""
    said = urllib.parse.parse_qs(query)
    if ended := said.get("ended", [""])[0]:
        return f"{ENDED_MESSAGES.get(ended, EXPIRED)}{KEEP_TYPED}"
    return ENDED_POST if said.get("expired") else ""


async def sign_in_again(console: Console, request: Request, response: Response) -> Response:
    """``response``, or, when it sends a form holding typed text to sign in again (``ended_message``), the sign-in
    page saying why and listing that text to copy."""
    if request.method != "POST" or not (message := ended_message(response)):
        return response
    try:
        form = await request.form()
    except HTTPException:  # a body Starlette cannot read: nothing to keep
        return response
    if not (kept := typed_texts(form)):
        return response
    return login_page(console, request, message=message, status=401, kept=kept)


#: What a form without the session's CSRF token is told: with none, it is no form of the console's pages.
NO_CSRF = "表单缺少有效的安全令牌（CSRF），操作未执行。请返回并刷新页面后重新提交。"
#: With another token, it is a page opened under an earlier sign-in of this browser (its idle time ran out and the
#: person signed in again in another tab, or someone signed in there since).
EARLIER_SIGN_IN = ("此页面是在本浏览器重新登录之前打开的（如在其他标签页重新登录过），表单已随原来的登录失效，"
                   "操作未执行。您填写的内容列在下方，请先复制保存，再刷新页面，核对当前登录的账号后重新填写提交。")


async def stale_form(console: Console, request: Request) -> Response:
    """403 for a form whose CSRF token is not the session's. One carrying another token was opened before the
    browser signed in again: it was told only that its token was missing and to go back and reload, and what was
    typed in it (an application's purpose and basis, a reason) was gone, the page coming back empty. It is shown
    to copy, as for a form sent after the sign-in ended."""
    form = await request.form()
    if not str(form.get("csrf_token", "")):
        return console.page(request, "refused.html", status=403, title="表单已失效", message=NO_CSRF)
    return console.page(request, "refused.html", status=403, title="表单已失效", message=EARLIER_SIGN_IN,
                        kept=typed_texts(form))


#: Why a sign-in ended, by the reason the platform refused its token with (services.runtime.system_states): the
#: sign-in page's ``ended`` parameter. Any other reason (the token expired, signed out elsewhere) is an expiry.
ENDED_BY = {"PERSON_DISABLED": "disabled", "ACCOUNT_DISABLED": "disabled", "ROLES_CHANGED": "roles",
            "CREDENTIALS_RESET": "reset",
            # 修改密码 refused because an administrator reset the person's password or TOTP meanwhile: the change was
            # not made and the reset ended every session, this one too (it said 登录已过期).
            "CREDENTIALS_CHANGED": "reset"}
#: What the sign-in page says for each: a disabled person was told 登录已过期, signed in again and only then read
#: that the account was disabled, without whom to ask; a person whose roles changed thought their session timed out.
ENDED_MESSAGES = {
    "disabled": "您的账号已被停用，当前登录已失效，您刚才的操作未执行。如需继续使用，请联系共享主管部门的管理员"
                "（人员管理）核实并启用账号。",
    "roles": "您的角色已被管理员调整，当前登录已失效，您刚才的操作未执行。请重新登录，按调整后的角色继续使用。",
    "reset": "管理员已重置您的密码、动态口令或统一身份认证绑定，当前登录已失效，您刚才的操作未执行。请使用管理员"
             "告知的新密码或动态口令重新登录（原密码已不能使用，反复输入会计入登录失败次数并锁定账号）。",
}
EXPIRED = "登录已过期，请重新登录。"


def login_redirect(expired: bool, reason: str = "") -> RedirectResponse:
    """To the sign-in page; ``expired``: saying the sign-in ended, and why when the platform's ``reason`` says it
    (the account disabled, the roles changed)."""
    if not expired:
        return RedirectResponse("/login", status_code=303)
    ended = ENDED_BY.get(reason)
    return RedirectResponse(f"/login?ended={ended}" if ended else "/login?expired=1", status_code=303)


@dataclass(frozen=True)
class Use:
    """Who may use a page: persons holding one of ``roles`` open it, those holding one of ``send`` (when it is
    narrower) also send its forms; ``what`` is what the page is for, said to a person who may not use it."""

    roles: frozenset[str]
    what: str
    send: frozenset[str] | None = None


_OFFICER = Use(frozenset({"DATA_OFFICER"}), "部门编目员编写、修改和提交本部门的资源目录")
_ADMIN = Use(frozenset({"ADMINISTRATOR"}), "共享主管部门的管理员管理人员、部门和业务系统")
#: 职能变更: a department's 编目员 reports one (the authority's for any department) and sees its own department's
#: updates past due; the authority's 审核员, who reviews the catalogs, follows every department's.
_MANDATES = Use(frozenset({"DATA_OFFICER", "REVIEWER"}), "部门编目员报告职能变更、共享主管部门查看逾期未更新的目录",
                send=frozenset({"DATA_OFFICER"}))
#: The pages that need a role, by path (display and a first refusal: every service checks the roles again). A page
#: showed its forms to anyone who typed its address — /drafts/new to an 审计员, /persons/new to a 申请人 —, and the
#: form filled in was then refused in the service's English. Pages not listed (首页, 目录, an application's page,
#: 修改密码) are anyone's: what they show is the service's answer for the person.
PAGES: dict[str, Use] = {
    "/drafts": _OFFICER, "/drafts/new": _OFFICER, "/drafts/edit": _OFFICER, "/drafts/submit": _OFFICER,
    "/drafts/retire": _OFFICER,
    "/review": Use(frozenset({"REVIEWER"}), "共享主管部门的审核员审核各部门提交的目录"),
    "/mandates": _MANDATES,
    "/apply": Use(frozenset({"APPLICANT"}), "部门申请人申请使用其他部门的资源"),
    "/applications": Use(frozenset({"APPLICANT"}), "部门申请人查看本部门提出的申请"),
    "/applications/escalate": Use(frozenset({"APPLICANT"}), "使用部门的申请人提请共享主管部门协调"),
    "/applications/withdraw": Use(frozenset({"APPLICANT"}), "使用部门的申请人撤回尚未办结的申请"),
    "/replies": Use(frozenset({"APPROVER"}), "提供部门的审批人答复其他部门的申请"),
    "/replies/decided": Use(frozenset({"APPROVER"}), "提供部门的审批人查看本部门已办理的申请"),
    "/applications/overdue": Use(frozenset({"REVIEWER", "AUDITOR"}),
                                 "共享主管部门的审核员和审计员查看逾期未答复的申请"),
    # The provider's 审批人 and the auditors follow an escalated application; the authority's 审核员 decides it.
    "/coordination": Use(frozenset({"REVIEWER", "APPROVER", "AUDITOR"}), "共享主管部门的审核员协调提请的申请",
                         send=frozenset({"REVIEWER"})),
    # ``what`` names who, as the others do: 此功能供查看、调整和撤销授权使用 said to no one whose it was.
    "/grants": Use(frozenset({"APPROVER", "APPLICANT", "AUDITOR", "REVIEWER"}),
                   "提供部门的审批人和共享主管部门调整、撤销授权，使用部门的申请人查看本部门获得的授权",
                   send=frozenset({"APPROVER", "REVIEWER"})),
    # The provider's 审批人 answers disputes, the authoritative source's 编目员 resolves conflicts; the reporter's
    # 申请人 reports a record it finds wrong there and follows the answer to the disputes its department reported
    # (ListDisputes lists them that side only).
    "/disputes": Use(frozenset({"APPROVER", "REVIEWER", "AUDITOR", "DATA_OFFICER", "APPLICANT"}),
                     "提供部门的审批人答复疑义、编目员处理数据冲突，使用部门的申请人报告疑义",
                     send=frozenset({"APPROVER", "DATA_OFFICER", "APPLICANT"})),
    "/audit": Use(frozenset({"AUDITOR", "APPROVER", "DATA_OFFICER"}), "查看本部门资源的使用记录和管理日志"),
    "/supervision": Use(frozenset({"AUDITOR", "REVIEWER", "ADMINISTRATOR"}), "查看各部门的监督评估结果"),
    "/supervision/report": Use(frozenset({"AUDITOR", "REVIEWER", "ADMINISTRATOR"}), "下载监督报告"),
    "/supervision/export": Use(frozenset({"AUDITOR", "REVIEWER", "ADMINISTRATOR"}), "导出监督评估结果和违规情况"),
    "/persons": _ADMIN, "/persons/new": _ADMIN, "/persons/view": _ADMIN, "/persons/action": _ADMIN,
    "/persons/roles": _ADMIN, "/departments": _ADMIN, "/departments/rename": _ADMIN,
    "/departments/retire": _ADMIN, "/systems": _ADMIN,
}
#: The menu, in order: each entry is shown to the persons who may open its page.
MENU = [("/drafts", "编目"), ("/review", "审核"), ("/mandates", "职能变更"), ("/applications", "申请"),
        ("/replies", "答复"), ("/coordination", "协调"), ("/grants", "授权"), ("/disputes", "疑义与冲突"),
        ("/audit", "审计"), ("/supervision", "监督"), ("/persons", "人员"), ("/departments", "部门"),
        ("/systems", "业务系统")]


def holds(session: Session | None, roles: Iterable[str]) -> bool:
    """Whether the session's person holds one of ``roles``; a session without roles (a system's token) holds them
    all: every page offers it everything and lets the services refuse."""
    if session is None:
        return False
    return not session.person.roles or bool(set(session.person.roles) & set(roles))


def may(session: Session | None, path: str, method: str = "GET") -> bool:
    """Whether the session's person may open the page at ``path`` (``method`` POST: send its forms)."""
    use = PAGES.get(path)
    if use is None:
        return session is not None
    return holds(session, use.send if method == "POST" and use.send is not None else use.roles)


def role_list(roles: Iterable[str]) -> str:
    """Roles in Chinese, as a person reads them (“编目员或审批人”)."""
    return "或".join(labels.ROLE.get(r, r) for r in sorted(roles, key=list(labels.ROLE).index)) or "无"


def not_yours(console: Console, request: Request, session: Session, roles: Iterable[str], what: str) -> Response:
    """The page a person gets for a page or a form their roles do not let them use: what it is for, the roles it
    needs, theirs, and whom to ask (403; nothing is sent to a service)."""
    held = "、".join(labels.ROLE.get(r, r) for r in session.person.roles)
    message = (f"此功能供{what}使用，需要{role_list(roles)}角色；您当前的角色（{held}）无权使用，操作未执行。"
               "如工作需要，请联系共享主管部门的管理员调整您的角色。")
    return console.page(request, "refused.html", status=403, title="无权使用此功能", message=message)


def _refused_page(console: Console, request: Request, session: Session) -> Response | None:
    """``not_yours`` for a request whose page the person may not use, else None."""
    path, method = request.url.path, request.method
    if may(session, path, method):
        return None
    use = PAGES[path]
    return not_yours(console, request, session, use.send if method == "POST" and use.send else use.roles, use.what)


def navigation(session: Session | None) -> list[tuple[str, str]]:
    """The menu for the person's roles (display only: each service checks the person's rights again)."""
    if session is None:
        return []
    return [("/", "首页"), ("/catalog", "目录")] + [(path, name) for path, name in MENU if may(session, path)]


# -- template helpers ------------------------------------------------------------------------------------------

def when(ts: timestamp_pb2.Timestamp | None) -> str:
    """A protobuf time in Beijing time, to the second ("" when unset): to the minute, two accesses a second apart
    read alike on 审计 and a lock ending at 14:50:37 said 锁定至 14:50. A time past 9999-12-31 23:59:59 Beijing
    time (a grant stored before the services refused such ends) has no Beijing date: it is shown in UTC, saying
    so, rather than failing the whole page."""
    if ts is None or (ts.seconds == 0 and ts.nanos == 0):
        return ""
    utc = ts.ToDatetime(tzinfo=dt.UTC)
    try:
        return utc.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")
    except OverflowError:
        return utc.strftime("%Y-%m-%d %H:%M:%S UTC")


def _details(event: Any) -> dict[str, Any]:
    """An administrative log entry's details, {} when unreadable (the page shows the entry still)."""
    try:
        details = json.loads(event.details_json or "{}")
    except ValueError:
        return {}
    return details if isinstance(details, dict) else {}


def actor(event: Any) -> str:
    """Who made an administrative log entry: the person's name at the time (kept in the entry's details by the
    service that logged it), else the system's or person's id."""
    name = _details(event).get("actor_display_name", "")
    return f"{name}（{event.actor_system_id}）" if name else event.actor_system_id


def admin_result(event: Any) -> str:
    """An administrative log entry's result as 审计 says it; a sign-in that bound the person to their IdP account
    (details.oidc_bound, their first through it) says so and which account: the authority's 审计员 (who reads this
    log) tracing a later 统一身份认证账号与绑定账号不一致 looks for when, and to what, the person was bound."""
    result = labels.ADMIN_RESULT.get(event.result, event.result)
    details = _details(event)
    bound = details.get("oidc_bound")
    if isinstance(bound, dict) and bound.get("subject"):
        result += f"（首次登录，已绑定统一身份认证账号 {bound['subject']}）"
    elif event.action == "person.reset_idp_binding" and details.get("reason"):
        result += f"（原绑定账号 {details.get('subject', '')}；原因：{details['reason']}）"
    elif event.action == "person.unlock" and "locked_until" in details:
        result += f"（{_lifted(details)}）"
    elif event.action == "session.lock" and isinstance(failure := details.get("failure"), str):
        # The failure that locked the account (person_store.record_failure): a wrong code after wrong passwords
        # means the password was found.
        during = "修改密码时" if details.get("during") == "session.change_password" else "登录时"
        result += f"（{during}{labels.ADMIN_RESULT.get(failure, failure).removeprefix('失败：')}）"
    elif event.action == "token.issue" and details.get("previous_secret") is True:
        # A token of the secret a system's own rotation replaced (directory.issue_token): an auditor after a leak
        # must see that the old secret was still used, and when.
        result += "（使用自行轮换前的原密钥：新密钥尚未使用）"
    return result


def _lifted(details: dict[str, Any]) -> str:
    """What an unlock lifted, as 审计 says it (services.authorization.persons._lifted): the lock and its end in
    Beijing time, the failures counted, or nothing."""
    until = details.get("locked_until")
    if isinstance(until, str):
        try:
            ended = dt.datetime.fromisoformat(until).astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")
        except ValueError:
            ended = until
        return f"解除了至 {ended} 的锁定"
    failures = details.get("failed_attempts") or 0
    return f"账号未锁定，清除了 {failures} 次登录失败" if failures else "账号未锁定，无需解除"


def usage_total(row: Any) -> int:
    """A 资源使用统计 row's accesses of every outcome: what the listing holds for its resource, department and
    purpose over the same days."""
    return sum(getattr(row, field) for field in labels.USAGE_OUTCOMES)


def access_result(access: Any) -> str:
    """An access's result as the 审计 page says it; a refusal's with its reason. An export's is how it ended and
    how far it got (its closing record): a download its caller cancelled after one page said it failed, as if
    nothing had left, and one under way or whose replica stopped said it was answered, as if every row had."""
    result = labels.ACCESS_RESULT.get(access.result, "")
    # A refusal DenyReason has no value for (a system that is no portal asking whose accesses a person's record had)
    # comes with its reason in failure_reason: it was said 拒绝 alone, like no other refusal.
    denied = (labels.DENY_REASON.get(access.deny_reason, "") or labels.DENIED_OTHER.get(access.failure_reason, "")
              if access.result == labels.DENIED_RESULT else "")
    if access.result == labels.NOT_FOUND_RESULT:  # a miss (无记录), or a resource that does not exist
        return labels.NOT_FOUND.get(access.failure_reason, result)
    if access.operation != "Export" and access.result == labels.ANSWERED_RESULT and access.failure_reason:
        # A BatchQuery answered in part: the provider did not answer some keys (or could not send their records).
        why = labels.EXPORT_STOPPED.get(access.failure_reason, access.failure_reason)
        return f"{result}（部分键未应答：{why}）"
    if access.operation != "Export" or (not access.HasField("end_time") and access.result != labels.ANSWERED_RESULT):
        return f"{result}（{denied}）" if denied else result  # not an export, or one refused before any row left
    if not access.HasField("end_time"):
        return "已准许，未记录结束（可能仍在下载，或服务中断）"
    if access.failure_reason == labels.EXPORT_INTERRUPTED:  # closed for it by another process: nothing counted
        return "下载中断（承担下载的平台服务进程异常停止）：已发送行数未知"
    sent = f"已发送 {access.rows_sent} 行（{access.pages_sent} 页）"
    if access.result == labels.ANSWERED_RESULT:
        return f"已完整下载：{sent}"
    # An export its system's disable or secret rotation cut on the way is DENIED with that reason.
    why = labels.EXPORT_STOPPED.get(access.failure_reason, "") or denied or result
    return f"下载中止（{why}）：{sent}"


_MASKER = Masker()


def declared_purpose(text: str) -> str:
    """A reading department's declared purpose as the 审计 page shows it: every 公民身份号码 in it masked by the
    citizen_id rule (110105********002X), as the persons' view masks it. The page shows no access's key (who,
    when and why is its point), but departments write the case in the purpose ('低保家庭核查 户主<ID number>'),
    and the page showed that number whole to every 审计员, 审批人 and 编目员 of the provider. An application's 用途说明
    is shown so too (答复, 协调, 申请详情). A mobile number in it ('电话13812345678') is masked by the phone rule, as
    the persons' view masks it: the page showed it whole after the persons' view had stopped doing so."""
    masked = mask_citizen_ids(text, lambda number: _MASKER.mask(number, "citizen_id"))
    return mask_mobile_numbers(masked, lambda number: _MASKER.mask(number, "phone"))


def source(endpoint: Any) -> str:
    """Where query reads an entry's records (shown to its provider and the authority, as the services return it).

    The authority's review is what decides which department may catalog a dataset of the platform's foundation
    service (services/catalog/lifecycle.py ``require_own_endpoint``): without this line a reviewer published an
    entry of one department reading another's foundation dataset (人口, ``population``) under its own, looser
    share terms without being shown that it did."""
    if endpoint.target:
        return f"部门前置机 {endpoint.target} · 数据集 {endpoint.dataset}"
    return f"平台基础库 · 数据集 {endpoint.dataset}（基础库数据：发布后按本目录的共享条件提供）"


def provider_answers(application: sharing_pb2.Application) -> bool:
    """Whether the provider was to answer the application by its reply_due_time: one for a not-shared resource, or
    for a resource of the applicant's own department, goes to the authority as it is made (escalated in the same
    step) and the provider never answers it, yet its page and the 申请 list showed a 答复期限 for it, the date the
    confirmation had just said no reply would come by."""
    made = application.history[1] if len(application.history) > 1 else None
    return not (made is not None and made.action == "ESCALATED" and made.time == application.create_time)


def day(ts: timestamp_pb2.Timestamp | None) -> str:
    return when(ts)[:10]


def until(ts: timestamp_pb2.Timestamp | None) -> str:
    """A term's end (有效期至, 期限) as the services' history says it: the last day in force, or the time to the
    second when it ends within a day. ``day`` showed an end at midnight Beijing (2027-01-01T00:00:00+08:00) as
    2027-01-01, a day on which the grant serves nothing. An end without a Beijing date is shown as ``when`` does."""
    if ts is None or (ts.seconds == 0 and ts.nanos == 0):
        return ""
    try:
        return term_end_text(ts.ToDatetime(tzinfo=dt.UTC))
    except OverflowError:
        return day(ts)


def until_day(ts: timestamp_pb2.Timestamp | None) -> str:
    """The date a 有效期至 input shows for a term's end: its last day in force (see ``until``)."""
    if ts is None or (ts.seconds == 0 and ts.nanos == 0):
        return ""
    try:
        return last_day_in_force(ts.ToDatetime(tzinfo=dt.UTC)).isoformat()
    except OverflowError:
        return day(ts)


def calls(quota: int) -> str:
    """A call quota as people read it: 0 is no limit (docs/api.md: "0 means unlimited"), not "0 次"."""
    return f"{quota} 次" if quota else "不限"


def percent(rate: float) -> str:
    """A rate as a percentage to one decimal, as the reports print it, and never 100% or 0% unless it is: rounded
    to a whole percent, a service that failed 1 call in 250 read 100%, as one that never failed."""
    text = f"{100.0 * rate:.1f}"
    if text == "100.0" and rate < 1:
        text = "99.9"
    elif text == "0.0" and rate > 0:
        text = "0.1"
    return f"{text}%"


def indicator_rate(indicator: supervision_pb2.Indicator | None) -> str:
    """An indicator's rate, or "—" when nothing was due (0 of 0): the evaluation counts that as fully met, so as
    not to mark a department down for it, but "100.0%" told the authority that 0 of 0 replies were on time."""
    if indicator is None or not indicator.denominator:
        return "—"
    return percent(indicator.rate)


#: How a provisional due date was counted (services/runtime/workdays.py's fallback), so a date after 春节 is not
#: read as a count through it.
_COUNTED_WEEKDAYS = "按周一至周五计算，已扣除元旦、清明、劳动节、国庆节和除夕、春节、端午、中秋的法定假日"


def before_calendar(due_day: str) -> bool:
    """Whether a due date (YYYY-MM-DD) falls before the first year the statutory calendar covers."""
    return due_day[:4].isdigit() and int(due_day[:4]) < first_calendar_year()


def provisional_note(due_day: str, short: bool = False) -> str:
    """Why a due date (YYYY-MM-DD) is provisional, in brackets. A year later than the calendar's: its arrangement is
    not published yet and the date may move when it is. A year before the first the calendar covers (a 职能变更
    dated 2003): its arrangement was published long ago but the platform does not have it, so the date is counted
    on weekdays for good; it said "2003 年节假日安排尚未公布…届时可能调整", which is false and promised a change
    that never comes."""
    year, first = due_day[:4], first_calendar_year()
    if before_calendar(due_day):
        if short:
            return f"（{year} 年早于平台节假日日历覆盖的年份，按周一至周五计算）"
        return (f"（{year} 年早于平台节假日日历覆盖的年份（{first} 年起），无法按当年的放假和调休安排计算工作日："
                f"此期限{_COUNTED_WEEKDAYS}，仅供参考，不会再调整）")
    if short:
        return f"（暂定：{year} 年节假日安排未知，按周一至周五计算）"
    return (f"（暂定：{year} 年节假日安排尚未公布，{_COUNTED_WEEKDAYS}；其余放假和调休以公布的安排为准，"
            "届时可能调整）")


def working_days_left(due: timestamp_pb2.Timestamp, today: dt.date | None = None) -> int:
    """Working days from today (not counted) to the due day (counted): 0 on the due day. Once it has passed, minus
    the working days since it (the due day not counted, today counted): a Saturday or a holiday straight after the
    due day is 0, late by no working day yet, which the pages show as 已逾期 alone (the service's ``overdue``).
    Counting the due day instead said 已逾期 1 个工作日 on the Saturday after a Friday due day, and the same again
    on the Monday."""
    today = today or dt.datetime.now(CHINA).date()
    due_day = due.ToDatetime(tzinfo=dt.UTC).astimezone(CHINA).date()
    if due_day < today:
        return -sum(1 for n in range(1, (today - due_day).days + 1) if is_working_day(due_day + dt.timedelta(n)))
    return sum(1 for n in range(1, (due_day - today).days + 1) if is_working_day(today + dt.timedelta(n)))


def days_in_force(end: timestamp_pb2.Timestamp, today: dt.date | None = None) -> int:
    """Calendar days from today to a term's last day in force (``until``): 0 on that day (今天到期), as a grant's
    end is a date, not a working-day deadline."""
    today = today or dt.datetime.now(CHINA).date()
    return (last_day_in_force(end.ToDatetime(tzinfo=dt.UTC)) - today).days


# -- sign-in -----------------------------------------------------------------------------------------------------

async def login_form(request: Request) -> Response:
    console: Console = request.app.state.console
    ended = request.query_params.get("ended", "")
    message = ENDED_MESSAGES.get(ended) or (EXPIRED if request.query_params.get("expired") or ended else "")
    if request.query_params.get("password_changed"):
        from console.password import CHANGED

        message = CHANGED
    return login_page(console, request, message=message)


def login_page(console: Console, request: Request, message: str = "", field: str = "", username: str = "",
               status: int = 200, kept: list[str] | None = None, enrolment: str = "") -> Response:
    """The sign-in page; ``kept``: what was typed in a form sent after the sign-in ended, shown to be copied;
    ``enrolment``: the provisioning URI of the authenticator secret the person enrols (shown to them alone, this
    once: never in a URL, a session or a log)."""
    from console.admin import totp_secret

    nonce = secrets.token_urlsafe(24)
    response = console.page(request, "login.html", status=status, title="登录", login_csrf=nonce, message=message,
                            field=field, username=username, oidc=console.settings.oidc_enabled,
                            oidc_name=console.settings.oidc_display_name, kept=kept or [], enrolment=enrolment,
                            enrolment_secret=totp_secret(enrolment) if enrolment else "")
    response.set_cookie(LOGIN_COOKIE, nonce, httponly=True, secure=console.settings.secure_cookie,
                        samesite="strict", path="/login")
    return response


def browser_address(console: Console, request: Request) -> str:
    """The browser's address as the console learns it: the last value of GOVSHARE_CONSOLE_CLIENT_ADDRESS_HEADER
    (the one the console's own proxy added; a browser's own values come before it) when set, else the socket's
    peer; "" when there is none. The platform counts failed sign-ins per address and believes this one from the
    console alone (GOVSHARE_SIGNIN_FORWARDERS)."""
    if name := console.settings.client_address_header:
        values = [v.strip() for v in ",".join(request.headers.getlist(name)).split(",") if v.strip()]
        return values[-1] if values else ""
    return request.client.host if request.client else ""


async def login_submit(request: Request) -> Response:
    from console.signin import SignInRefused, sign_in

    console: Console = request.app.state.console
    form = await request.form()
    username = str(form.get("username", "")).strip()
    sent, expected = str(form.get("csrf_token", "")), request.cookies.get(LOGIN_COOKIE, "")
    if not sent or not expected or not same_secret(sent, expected):
        return login_page(console, request, status=403, username=username,
                          message="登录表单缺少有效的安全令牌（CSRF），请刷新页面后重新登录。")
    problems = {name: text for name, text in (("username", "请输入用户名。"), ("password", "请输入密码。"))
                if not str(form.get(name, "")).strip()}
    if problems:
        field, message = next(iter(problems.items()))
        return login_page(console, request, message=message, field=field, username=username, status=400)
    try:
        signed = await sign_in(console.services.channel, username, str(form.get("password", "")),
                               str(form.get("totp_code", "")).strip(), console.settings.call_timeout_seconds,
                               browser_address(console, request))
    except SignInRefused as refused:
        if refused.reason == "TOTP_ENROLMENT_REQUIRED":
            return await _enrolment(console, request, username, str(form.get("password", "")))
        if refused.status == 503:
            # The platform's failure: an operator reading this during an outage must not see refused credentials.
            log.warning("sign-in not done: the platform did not answer (the edge or the authorization service)")
        else:
            log.info("sign-in refused: %s", refused.field or "credentials")
        return login_page(console, request, message=refused.message, field=refused.field, username=username,
                          status=refused.status)
    session = console.sessions.create(signed.person, signed.token, signed.expires_at)
    session.flash = f"欢迎，{signed.person.display_name}。"
    response = RedirectResponse("/", status_code=303)
    console.set_cookie(response, session.id)
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


async def _enrolment(console: Console, request: Request, username: str, password: str) -> Response:
    """The sign-in page with a new authenticator secret of the person's own, after an administrator reset their
    TOTP: they add it, then sign in with its code (which makes it count). The password, right, was checked again
    by EnrolTotp; it is typed once more with the code, not kept in the page."""
    from console.signin import ENROL_TOTP, SignInRefused, enrol_totp

    try:
        uri = await enrol_totp(console.services.channel, username, password, console.settings.call_timeout_seconds,
                               browser_address(console, request))
    except SignInRefused as refused:
        return login_page(console, request, message=refused.message, field=refused.field, username=username,
                          status=refused.status)
    log.info("sign-in: the person enrols a new authenticator")
    return login_page(console, request, message=ENROL_TOTP, field="totp_code", username=username, enrolment=uri)


@signed_in
async def logout(console: Console, request: Request, session: Session) -> Response:
    from console.oidc import signed_out
    from console.signin import sign_out

    await sign_out(console.services.channel, session.token, console.settings.call_timeout_seconds)
    console.sessions.end(session.id)
    response = signed_out(console, request, session)
    response.delete_cookie(COOKIE, path="/")
    return response


#: What a person is told when the address or the method is not one of the console's (Starlette's own answers are
#: a bare English "Not Found" / "Method Not Allowed").
_HTTP_PROBLEMS = {
    400: ("请求有误", "提交的表单无法读取（格式不正确或字段过多），操作未执行：请回到页面，用页面上的表单重新提交。"),
    404: ("页面不存在", "没有这个页面：请检查地址，或从上方菜单进入。"),
    405: ("请求方式不正确", "此地址不接受这种请求方式：请从页面上的按钮或表单操作，不要直接输入地址。"),
}


async def http_problem(request: Request, exc: Exception) -> Response:
    """A Chinese page for the console's own 4xx answers (unknown page, wrong method, a form body Starlette cannot
    parse: too many fields, a multipart without its boundary), not a bare English line."""
    console: Console = request.app.state.console
    status = getattr(exc, "status_code", 400)
    title, message = _HTTP_PROBLEMS.get(status, ("请求有误", "请求无法处理：请返回后重新操作。"))
    headers = getattr(exc, "headers", None) or {}
    response = console.page(request, "refused.html", status=status, title=title, message=message)
    response.headers.update(headers)  # 405 keeps its Allow header
    return response


async def server_error(request: Request, exc: Exception) -> Response:
    """The last resort: a page that says nothing was revealed and what to do, and a log line without the
    exception's message (it may quote what was typed, e.g. an ID number)."""
    log.error("page failed: %s %s (%s)", request.method, request.url.path, type(exc).__name__)
    console: Console = request.app.state.console
    return console.page(request, "refused.html", status=500, title="操作未完成",
                        message="处理请求时出现意外错误，操作可能未完成：请刷新页面确认后重试；如仍出现，请联系平台管理员。")


async def healthz(_request: Request) -> Response:
    return Response("ok", media_type="text/plain")


async def font(_request: Request) -> Response:
    """Noto Sans SC (SIL OFL, from the pylopdf-fonts-zh-cn wheel the PDF reports already use), for browsers on
    machines without a Chinese font: the stylesheet names local fonts first, so most never fetch it."""
    from pylopdf_fonts_zh_cn import sans_path

    return FileResponse(sans_path(), media_type="font/otf", headers={"cache-control": "public, max-age=604800"})


def session_store(settings: ConsoleSettings, clock: Callable[[], float] = time.time) -> SessionStore:
    """Redis when the console has a Redis URL (sessions shared by replicas, kept across restarts), else memory.
    The client connects on first use, in the running loop (nothing is opened at import)."""
    if not settings.redis_url:
        return SessionStore(settings.session_idle_seconds, clock)
    from services.runtime.cache import create_client

    return RedisSessionStore(create_client(settings.redis_url), settings.session_idle_seconds, clock)


def _restart_when_renewed(settings: ConsoleSettings, restart: Callable[[], None] | None) -> asyncio.Task[None] | None:
    """uvicorn reads the console's certificate once: on a renewal ``restart`` stops the console as SIGTERM would
    (uvicorn finishes the requests under way) and its container starts again with the new files
    (services.runtime.tls_renewal)."""
    if not settings.tls_cert or restart is None:
        return None
    files = tls_renewal.TlsFiles(settings.tls_cert, settings.tls_key, settings.gateway_ca)
    return asyncio.create_task(tls_renewal.restart_when_renewed(files, restart, "console"), name="tls-renewal")


def create_app(settings: ConsoleSettings, clock: Callable[[], float] = time.time,
               restart: Callable[[], None] | None = None) -> Starlette:
    """The console as an ASGI application (uvicorn serves it; tests start it on port 0). ``restart`` stops the
    server that serves it: called when its TLS certificate is renewed."""
    from console import oidc, pages, password, todo

    services = Services(settings.gateway, settings.call_timeout_seconds, settings.gateway_ca)
    sessions = session_store(settings, clock)
    console = Console(settings, services, sessions)
    routes = [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login_submit, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/fonts/NotoSansSC-Regular.otf", font, methods=["GET"]),
        *pages.routes(),
        *oidc.routes(),
        *password.routes(),
        *todo.routes(),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        renewal = _restart_when_renewed(settings, restart)
        changes = watch_changes(console.names, settings.redis_url) if settings.redis_url else None
        yield
        if renewal is not None:
            await cancel(renewal)
        if changes is not None:
            await changes.stop()
        await services.close()
        await sessions.close()

    app = Starlette(routes=routes, middleware=[Middleware(SecurityHeaders), Middleware(Unexpected),
                                         Middleware(SessionSync, store=sessions)],
                    lifespan=lifespan,
                    exception_handlers={HTTPException: http_problem})
    app.state.console = console
    app.state.oidc_pending = oidc.pending_sign_ins(sessions, clock)
    return app
