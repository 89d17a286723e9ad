"""Sign-in through the authorization service's public SessionService (the person's token comes back).

The console forwards what the person typed and keeps the token it gets: it verifies nothing itself and holds no
key, so it cannot mint a token for anyone. Every refusal is shown with the service's reason mapped to what the
person should do (wrong password, locked, missing or wrong TOTP code).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass

import grpc
from google.rpc import error_details_pb2

from console.errors import field_sentence
from console.sessions import Person
from govshare.authorization.v1 import directory_pb2, directory_pb2_grpc, persons_pb2, persons_pb2_grpc
from services.runtime.errors import details_of
from services.runtime.workdays import CHINA

#: Refusal reasons of SignIn (ErrorInfo.reason) and what the person reads.
SIGN_IN_MESSAGES = {
    "BAD_CREDENTIALS": "用户名或密码不正确，请重新输入。",
    "ACCOUNT_LOCKED": "连续登录失败次数过多，账号已被临时锁定，请稍后再试或联系管理员解锁。",
    "TOTP_REQUIRED": "请输入动态口令（身份验证器应用中的 6 位数字）。",
    # A code is accepted once: "type the code shown" sent a person back to the code just used (signing in again
    # within its 30 seconds, or changing the password right after signing in), now refused as TOTP_REUSED.
    "TOTP_INVALID": "动态口令不正确或已过期。如身份验证器显示的仍是您刚才登录或修改密码时输入的口令，"
                    "请等它显示下一个 6 位数字后再输入。",
    "TOTP_REUSED": "这个动态口令刚才已经使用过，每个口令只能使用一次：请等身份验证器显示下一个 6 位数字后再输入"
                   "（重复输入用过的口令不计入登录失败次数）。",
    # A code older than the last one accepted (a later code, from a device whose clock is ahead or a second
    # authenticator, signed in first): it may never have been used, so "刚才已经使用过" was false.
    "TOTP_SUPERSEDED": "平台已接受过比这个更新的动态口令（上次登录或修改密码时输入的口令更新），比它早的口令不再有效："
                       "请等身份验证器显示下一个 6 位数字后再输入（不计入登录失败次数）。如经常出现，请将显示口令的"
                       "手机或设备的时间设为自动同步网络时间。",
    "ACCOUNT_DISABLED": "账号已被停用，请联系管理员。",
    # Too many failed sign-ins from this browser's network address, across accounts (password spraying).
    "ADDRESS_LOCKED": "您所在网络地址的登录失败次数过多，暂时不能从这里登录，请稍后再试。",
    # RetireDepartment: a person of a department merged into another read 用户名或密码错误 (any UNAUTHENTICATED).
    "DEPARTMENT_RETIRED": "您所在的部门已撤销，其账号不能再登录。如您已转入承接其职责的部门，请联系共享主管部门的"
                          "管理员在该部门为您开设账号。",
    "CREDENTIALS_CHANGED": "登录过程中密码或动态口令已被重置，请使用新的密码或动态口令重新登录。",
    # An administrator's TOTP reset: the person enrols their own secret (EnrolTotp), shown on the sign-in page.
    "TOTP_ENROLMENT_REQUIRED": "请先绑定您自己的身份验证器（新开设的账号，或管理员重置了您的动态口令）。",
    "TOTP_ENROLLED": "您的身份验证器已经绑定，请输入它显示的 6 位动态口令登录。",
    # The stored secret opens under no GOVSHARE_PERSON_SECRET_KEY listed (a key dropped, a backup restored): no code
    # passes until it is reset, so "请稍后重试" sent the person round in circles.
    "TOTP_SECRET_UNREADABLE": "平台无法读取您账号的动态口令密钥（平台的密钥已更换），无法校验您输入的口令，重试也不能"
                              "登录：请联系管理员重置您的动态口令，再按提示重新绑定身份验证器。如管理员本人也无法登录，"
                              "请平台运维人员按部署文档将原密钥重新列入后重启授权服务。",
}
#: The sign-in page's words beside a new secret the person enrols (EnrolTotp's answer).
ENROL_TOTP = ("请先绑定您自己的身份验证器（新开设的账号，或管理员重置了您的动态口令）：在身份验证器应用中添加下方的"
              "密钥（仅您本人可见，管理员看不到），然后再次输入密码和它显示的 6 位动态口令完成登录。新的密钥在您用它"
              "登录成功后才生效；在此之前重新登录会生成新的密钥，原先添加的随之作废。")


@dataclass
class SignedIn:
    person: Person
    token: str
    expires_at: float


class SignInRefused(Exception):
    """A sign-in that did not happen: what the person reads, the field to correct, and the page's HTTP status
    (401 for the person's credentials; 503 when the platform did not answer, as every other page says an
    unavailable platform, so that a monitor or proxy does not count an outage as wrong passwords)."""

    def __init__(self, message: str, field: str = "", status: int = 401, reason: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status
        self.reason = reason  # the platform's (ErrorInfo.reason), for a refusal the console acts on


def role_names(person_pb) -> tuple[str, ...]:  # type: ignore[no-untyped-def]
    """The person's roles as enum names without their prefix (``DATA_OFFICER``…)."""
    field = person_pb.DESCRIPTOR.fields_by_name.get("roles")
    if field is None or field.enum_type is None:
        return tuple(str(r) for r in getattr(person_pb, "roles", ()))
    names = []
    for value in person_pb.roles:
        name = field.enum_type.values_by_number[value].name
        names.append(name.removeprefix("ROLE_").removeprefix("PERSON_ROLE_"))
    return tuple(names)


#: The browser's address, passed on at sign-in (services.authorization.sessions.SIGNIN_CLIENT_HEADER): the platform
#: counts failed sign-ins per client address, and every browser's reaches the edge from the console's.
SIGNIN_CLIENT_HEADER = "govshare-signin-client"


def _client(address: str) -> tuple[tuple[str, str], ...]:
    return ((SIGNIN_CLIENT_HEADER, address),) if address else ()


async def sign_in(channel: grpc.aio.Channel, username: str, password: str, totp_code: str,
                  deadline: float, client: str = "") -> SignedIn:
    """The person's token and who they are, or SignInRefused saying what to do. ``client``: the browser's address."""
    stub = persons_pb2_grpc.SessionServiceStub(channel)
    try:
        reply = await stub.SignIn(persons_pb2.SignInRequest(username=username, password=password,
                                                            totp_code=totp_code), metadata=_client(client),
                                  timeout=deadline)
    except grpc.aio.AioRpcError as error:
        raise _refusal(error) from None
    return await session_of(channel, reply.session, deadline)


async def enrol_totp(channel: grpc.aio.Channel, username: str, password: str, deadline: float,
                     client: str = "") -> str:
    """The provisioning URI of the authenticator secret a person whose TOTP an administrator reset enrols, or
    SignInRefused saying what to do (the password is checked as at a sign-in)."""
    stub = persons_pb2_grpc.SessionServiceStub(channel)
    try:
        reply = await stub.EnrolTotp(persons_pb2.EnrolTotpRequest(username=username, password=password),
                                     metadata=_client(client), timeout=deadline)
    except grpc.aio.AioRpcError as error:
        raise _refusal(error) from None
    return reply.totp_provisioning_uri


async def session_of(channel: grpc.aio.Channel, session: persons_pb2.Session, deadline: float) -> SignedIn:
    """What the console keeps of a platform session, however it was opened (password or OIDC): the person,
    their token, and their department's name."""
    signed = _signed_in(session)
    signed.person.department_name = await department_name(channel, signed.token, signed.person.department_code,
                                                          deadline)
    return signed


async def department_name(channel: grpc.aio.Channel, token: str, code: str, deadline: float) -> str:
    """The person's department's name, asked as the person (for the header and as a new entry's 提供方);
    empty if the directory does not answer: the name is a courtesy, the code is what the services use."""
    stub = directory_pb2_grpc.DirectoryServiceStub(channel)
    try:
        reply = await stub.GetDepartment(directory_pb2.GetDepartmentRequest(code=code),
                                         metadata=(("authorization", f"Bearer {token}"),), timeout=deadline)
    except grpc.aio.AioRpcError:
        return ""
    return reply.department.name


def _signed_in(session: persons_pb2.Session) -> SignedIn:
    person = session.person
    return SignedIn(
        person=Person(username=person.username, display_name=person.display_name or person.username,
                      department_code=person.department_code, roles=role_names(person),
                      password_change_required=person.password_change_required),
        token=session.token, expires_at=float(session.expire_time.ToSeconds()))


class SessionEnded(Exception):
    """The platform did not renew the session; ``reason``: its refusal's (PERSON_DISABLED, ROLES_CHANGED…)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def refresh(channel: grpc.aio.Channel, token: str, deadline: float) -> SignedIn:
    """A new token for the session ``token`` belongs to, or SessionEnded saying why the platform did not give it."""
    stub = persons_pb2_grpc.SessionServiceStub(channel)
    try:
        reply = await stub.RefreshSession(persons_pb2.RefreshSessionRequest(),
                                          metadata=(("authorization", f"Bearer {token}"),), timeout=deadline)
    except grpc.aio.AioRpcError as error:
        info, _ = details_of(error)
        raise SessionEnded(info.reason if info else "") from None
    return _signed_in(reply.session)


async def sign_out(channel: grpc.aio.Channel, token: str, deadline: float) -> None:
    """Ends the person's session on the platform too (its tokens are refused from now on); best effort."""
    stub = persons_pb2_grpc.SessionServiceStub(channel)
    with contextlib.suppress(grpc.aio.AioRpcError):
        await stub.SignOut(persons_pb2.SignOutRequest(), metadata=(("authorization", f"Bearer {token}"),),
                           timeout=deadline)


def _beijing(text: str) -> str:
    """The service's lock end (ISO 8601, UTC) in Beijing time to the second, or "" when it is not one: "请稍后再试"
    left a locked person guessing when "later" was (the service says it, to the second)."""
    try:
        until = dt.datetime.fromisoformat(text)
    except ValueError:
        return ""
    if until.tzinfo is None:
        return ""
    return until.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")


def locked_message(info: error_details_pb2.ErrorInfo) -> str:
    """What a person refused ACCOUNT_LOCKED reads, the end of the lock in Beijing time when the refusal says it
    (by password or through the identity provider: the lock refuses both)."""
    if until := _beijing(info.metadata.get("lock_expire_time", "")):
        return f"连续登录失败次数过多，账号已被临时锁定至 {until}（北京时间），届时可再试，或联系管理员解锁。"
    return SIGN_IN_MESSAGES["ACCOUNT_LOCKED"]


#: The sign-in page's labels of the fields a refusal may name.
_FIELD_LABELS = {"username": "用户名", "password": "密码", "totp_code": "动态口令"}


def _refusal(error: grpc.aio.AioRpcError) -> SignInRefused:
    code = error.code()
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return SignInRefused("登录服务暂时不可用，请稍后重试。", status=503)
    info, bad = details_of(error)
    reason = info.reason if info else ""
    if reason == "ACCOUNT_LOCKED":
        return SignInRefused(locked_message(info))
    if reason in SIGN_IN_MESSAGES:
        field = "totp_code" if reason.startswith("TOTP") else ""
        return SignInRefused(SIGN_IN_MESSAGES[reason], field, reason=reason)
    if bad is not None and bad.field_violations:
        violation = bad.field_violations[0]
        if violation.field == "totp_code":
            return SignInRefused(SIGN_IN_MESSAGES["TOTP_REQUIRED"], "totp_code")
        # In Chinese, the field as the page labels it: the service's field name and English words were shown as
        # they came (请检查“username”：must be …) to a person reading a Chinese page.
        label = _FIELD_LABELS.get(violation.field, "填写的内容")
        return SignInRefused(f"{label}：{field_sentence(violation.description)}", violation.field)
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return SignInRefused(SIGN_IN_MESSAGES["BAD_CREDENTIALS"])
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return SignInRefused(SIGN_IN_MESSAGES["ACCOUNT_LOCKED"] if "lock" in (error.details() or "").lower()
                             else "无法登录：" + (error.details() or ""))
    return SignInRefused("登录未完成，请稍后重试。")
