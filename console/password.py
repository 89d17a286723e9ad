"""修改密码: a person with a local account replaces their own password (SessionService.ChangePassword).

The administrator hands a new account's first password over (console/admin.py shows it once and asks the person
to change it after the first sign-in), and a reset the same way: without this page the person had no way in the
console to put a password only they know in its place. ChangePassword asks the current password and a TOTP code,
and ends every session of the person, this one too: the person signs in again with the new password. A person
signed in through the IdP has no platform password: the page says to change it there.

The first change of a password an administrator set also gives the person a new TOTP secret (the administrator
was shown the old one with the password): the page shows it once, as the administrator's page showed the first,
and the person adds it to their authenticator before signing in again.

What is typed here is never shown again (the form comes back empty), nor put in a session, a URL or a log line.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from console.admin import totp_secret
from console.app import COOKIE, FIRST_PASSWORD, Console, signed_in
from console.errors import Problem
from console.pages import _call, _expired, _refused, _status
from console.sessions import Session
from console.signin import SIGN_IN_MESSAGES, _beijing
from govshare.authorization.v1 import persons_pb2, persons_pb2_grpc

FIELDS = ("current_password", "new_password", "new_password_again", "totp_code")
#: ChangePassword's refusals about what was typed: beside the field (its UNAUTHENTICATED is no ended session).
TYPED_WRONG = {
    "BAD_CREDENTIALS": ("current_password", "当前密码不正确，请重新输入。"),
    "TOTP_INVALID": ("totp_code", SIGN_IN_MESSAGES["TOTP_INVALID"]),
    "TOTP_REUSED": ("totp_code", SIGN_IN_MESSAGES["TOTP_REUSED"]),
    "TOTP_SUPERSEDED": ("totp_code", SIGN_IN_MESSAGES["TOTP_SUPERSEDED"]),
}
#: ChangePassword refused while the account is locked (too many wrong passwords or codes, here or at sign-in):
#: nothing is checked until the lock ends, as at sign-in. Its UNAUTHENTICATED is no ended session either.
LOCKED = "连续输入错误次数过多，账号已被临时锁定{until}，锁定期间不能修改密码：请届时再试，或联系管理员解锁。"
_LOCK_END = re.compile(r"locked until (\S+)")
OIDC_ONLY = "您通过统一身份认证登录，本平台没有您的密码：请在统一身份认证平台修改密码。"
#: What the sign-in page says after a change (console.app.login_form, ``?password_changed=1``).
CHANGED = ("密码已修改。为安全起见，您在各处的登录都已结束：请用新密码重新登录"
           "（动态口令请等身份验证器显示下一个 6 位数字）。")
#: Said on the form of a password an administrator set: the change renews the TOTP secret too.
RENEWS_TOTP = "修改后平台会为您生成新的动态口令密钥（只显示一次），请准备好身份验证器应用。"
#: Said with the new TOTP secret after that change (password_totp.html).
TOTP_RENEWED = ("密码已修改，您的动态口令密钥也已更换：管理员知道原来的密钥，原密钥从现在起不再有效。"
                "请在身份验证器应用中添加下面的新密钥，然后用新密码和新的动态口令重新登录。")


def _form(console: Console, request: Request, errors: dict[str, str] | None = None, status: int = 200) -> Response:
    session: Session = request.scope["console.session"]
    first = session.person.password_change_required
    return console.page(request, "password.html", status=status, title="修改密码", errors=errors or {},
                        first_password=FIRST_PASSWORD if first else "", renews_totp=RENEWS_TOTP if first else "")


@signed_in
async def password(console: Console, request: Request, session: Session) -> Response:
    if session.method == "oidc":
        return console.page(request, "refused.html", status=409, title="修改密码", message=OIDC_ONLY, back="/")
    if request.method == "GET":
        return _form(console, request)
    form = await request.form()
    typed = {name: str(form.get(name, "")) for name in FIELDS}
    errors = {name: "此项必填，请填写。" for name in FIELDS if not typed[name].strip()}
    if not errors and typed["new_password"] != typed["new_password_again"]:
        errors["new_password_again"] = "两次输入的新密码不一致，请重新输入。"
    if errors:
        return _form(console, request, errors, 400)
    stub = persons_pb2_grpc.SessionServiceStub(console.services.channel)
    changed, problem = await _call(console, session, stub.ChangePassword, persons_pb2.ChangePasswordRequest(
        current_password=typed["current_password"], new_password=typed["new_password"],
        totp_code=typed["totp_code"].strip()))
    if problem is not None:
        return _refusal(console, request, problem)
    # The platform ended every session of the person, this one's token too: the console's session ends with it.
    console.sessions.end(session.id)
    response = _totp_renewed(console, request, changed.totp_provisioning_uri) if changed.totp_provisioning_uri \
        else RedirectResponse("/login?password_changed=1", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def _totp_renewed(console: Console, request: Request, uri: str) -> Response:
    """The new TOTP secret, shown this once (no-store, like every page; never in a URL, a session or a log), on a
    page of the signed-out console: the session just ended."""
    request.scope["console.session"] = None
    return console.page(request, "password_totp.html", title="密码已修改", message=TOTP_RENEWED, uri=uri,
                        secret=totp_secret(uri))


def _refusal(console: Console, request: Request, problem: Problem) -> Response:
    if problem.reason in TYPED_WRONG:
        field, sentence = TYPED_WRONG[problem.reason]
        return _form(console, request, {field: sentence}, 400)
    if problem.reason == "ACCOUNT_LOCKED":
        end = _LOCK_END.search(problem.message)
        until = _beijing(end.group(1)) if end else ""
        return console.page(request, "refused.html", status=403, title="修改密码",
                            message=LOCKED.format(until=f"至 {until}（北京时间）" if until else ""), back="/")
    if problem.reason == "NO_LOCAL_PASSWORD":
        return console.page(request, "refused.html", status=409, title="修改密码", message=OIDC_ONLY, back="/")
    if problem.fields and not _expired(problem):
        return _form(console, request, problem.fields, _status(problem))
    return _refused(console, request, problem)


def routes() -> list[Route]:
    return [Route("/password", password, methods=["GET", "POST"])]
