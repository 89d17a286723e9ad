"""OpenID Connect sign-in in the console: the authorization-code flow with PKCE (S256), as a public client.

Why a public client: the console must hold no secret that lets it act as anyone (issue 12). It has no client
secret at the IdP; PKCE binds each authorization code to a verifier only the console instance that asked for it
knows, so a code stolen from a redirect is worthless elsewhere. The ID token it gets is not trusted here: the
console only checks that its nonce is the one it sent (so a token from another sign-in cannot be slipped in),
and hands it to the authorization service's ``ExchangeOidcToken``, which verifies its signature against the
IdP's keys, its issuer, audience and expiry, and returns the person's platform session — the same kind of session
the password sign-in gives, and the console keeps it the same way.

The flow: ``GET /oidc/start`` keeps a random state, nonce and PKCE verifier server-side under a random id in a
short-lived pre-sign-in cookie (SameSite=Lax: it must come back on the IdP's cross-site redirect), and sends the
browser to the IdP; ``GET /oidc/callback?code&state`` takes that entry (once), checks the state, redeems the code
at the token endpoint, checks the nonce, exchanges the ID token and opens the session. Every failure is a page
saying what happened and what to do, never a 500. The button on the sign-in page is a link, not a form: CSP
``form-action 'self'`` would block a form's redirect to the IdP.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import json
import logging
import os
import re
import secrets
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import grpc
import jwt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from console.app import Console, login_page, same_secret
from console.sessions import RedisSessionStore, Session, SessionStore, derive_key
from console.signin import SIGN_IN_MESSAGES, SignedIn, locked_message, session_of
from govshare.authorization.v1 import persons_pb2, persons_pb2_grpc
from services.runtime.errors import details_of

#: The pre-sign-in cookie: the id of the pending sign-in (state, nonce, verifier stay on the server).
PENDING_COOKIE = "govshare_console_oidc"
#: A sign-in not back from the IdP within this long is forgotten (the person starts again).
PENDING_SECONDS = 600
#: At most this many pending sign-ins are kept (the oldest go first): a flood of /oidc/start cannot fill memory.
PENDING_MAX = 10_000
#: Where pending sign-ins are kept in Redis (beside the sessions, under names derived from the cookie's id).
PENDING_REDIS_PREFIX = "govshare:console:oidc:"
#: The sessions' Redis cannot be reached (starting or finishing a sign-in needs it).
STORE_UNAVAILABLE = "控制台暂时无法保存登录状态，请稍后重试。"
#: The largest token endpoint answer read (an ID token is a few kilobytes).
MAX_TOKEN_RESPONSE = 256 * 1024
SCOPE = "openid profile"
UNAVAILABLE = "统一身份认证服务暂时不可用，请稍后重试，或使用用户名和密码登录。"
#: The IdP's ``error`` parameter (RFC 6749 4.1.2.1, OIDC Core 3.1.2.6) and what the person reads.
IDP_ERRORS = {
    "access_denied": "您在统一身份认证中取消了登录，或没有使用本平台的权限。",
    "login_required": "统一身份认证要求重新登录，请再试一次。",
    "temporarily_unavailable": UNAVAILABLE,
    "server_error": UNAVAILABLE,
}
#: ExchangeOidcToken's refusals of a token the IdP itself issued to this console (the flow's code and nonce checked)
#: that say the platform's and the IdP's configuration disagree: signing keys (a rotation), audience, issuer, clocks.
#: The console's log keeps the platform's words, which the person is not shown.
CONFIGURATION_REFUSALS = ("OIDC_TOKEN_INVALID", "OIDC_PROVIDER_UNAVAILABLE")
#: ExchangeOidcToken's refusal reasons and what the person reads.
EXCHANGE_MESSAGES = {
    "UNKNOWN_PERSON": "统一身份认证已确认您的身份，但本平台没有您的账号，请联系管理员开通。",
    "OIDC_TOKEN_INVALID": ("统一身份认证的登录凭据未通过平台校验，请重新登录；"
                           "如仍不能登录，请联系管理员（控制台日志记有原因）。"),
    "LOCAL_ACCOUNT": ("您在本平台的账号使用平台密码和动态口令登录，不能通过统一身份认证登录："
                      "请在登录页输入用户名、密码和动态口令。"),
    "OIDC_TOKEN_REPLAYED": "该统一身份认证登录凭据已使用过（每个凭据只能登录一次），请重新登录。",
    "OIDC_SUBJECT_MISMATCH": ("您在统一身份认证使用的账号与本平台该用户首次登录时绑定的账号不一致，不能登录："
                              "请确认使用本人的统一身份认证账号，或联系管理员核实。"),
    "OIDC_NOT_CONFIGURED": "平台未启用统一身份认证登录，请使用用户名和密码登录。",
    "OIDC_PROVIDER_UNAVAILABLE": UNAVAILABLE,
    "ACCOUNT_DISABLED": SIGN_IN_MESSAGES["ACCOUNT_DISABLED"],
    "DEPARTMENT_RETIRED": SIGN_IN_MESSAGES["DEPARTMENT_RETIRED"],
}
log = logging.getLogger("govshare.console")


class OidcRefused(Exception):
    """The sign-in cannot go on: ``message`` for the person, ``status`` for the page."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Pending:
    """A sign-in sent to the IdP: what must come back with it (state, nonce) and the PKCE verifier."""

    state: str
    nonce: str
    verifier: str
    redirect_uri: str
    started: float

    @property
    def challenge(self) -> str:
        """The S256 code challenge of the verifier (RFC 7636 4.2)."""
        digest = hashlib.sha256(self.verifier.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class PendingSignIns:
    """Pending sign-ins by a random id (the pre-sign-in cookie's value), each taken at most once, in this
    process's memory (the console without Redis: one replica)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._pending: OrderedDict[str, Pending] = OrderedDict()
        self._clock = clock

    def _new(self, redirect_uri: str) -> tuple[str, Pending]:
        # 64 random bytes: an 86-character verifier, within RFC 7636's 43..128.
        pending = Pending(state=secrets.token_urlsafe(32), nonce=secrets.token_urlsafe(32),
                          verifier=secrets.token_urlsafe(64), redirect_uri=redirect_uri, started=self._clock())
        return secrets.token_urlsafe(32), pending

    def _fresh(self, pending: Pending | None) -> Pending | None:
        return pending if pending is not None and self._clock() - pending.started <= PENDING_SECONDS else None

    async def start(self, redirect_uri: str) -> tuple[str, Pending]:
        now = self._clock()
        while self._pending and (len(self._pending) >= PENDING_MAX
                                 or now - next(iter(self._pending.values())).started > PENDING_SECONDS):
            self._pending.popitem(last=False)
        key, pending = self._new(redirect_uri)
        self._pending[key] = pending
        return key, pending

    async def take(self, key: str | None) -> Pending | None:
        """The pending sign-in of ``key``, forgotten from now on; None if unknown or too old."""
        return self._fresh(self._pending.pop(key, None) if key else None)


class RedisPendingSignIns(PendingSignIns):
    """Pending sign-ins in the sessions' Redis, so the IdP may send the browser back to any replica (the
    Service has no session affinity then). Kept as the sessions are: under a name derived from the cookie's id,
    sealed with a key derived from it, expiring with the pending time; taken once (GET and DELETE in one
    transaction, so two replicas cannot both take it)."""

    def __init__(self, client: Any, clock: Callable[[], float]) -> None:
        super().__init__(clock)
        self._redis = client

    @staticmethod
    def _name(key: str) -> str:
        return f"{PENDING_REDIS_PREFIX}{derive_key(key, b'oidc name').hex()}"

    async def start(self, redirect_uri: str) -> tuple[str, Pending]:
        key, pending = self._new(redirect_uri)
        nonce = os.urandom(12)
        sealed = AESGCM(derive_key(key, b"oidc key")).encrypt(
            nonce, json.dumps(dataclasses.asdict(pending)).encode(), self._name(key).encode())
        try:
            await self._redis.set(self._name(key), base64.b64encode(nonce + sealed), ex=PENDING_SECONDS)
        except RedisError:
            raise OidcRefused(STORE_UNAVAILABLE, 503) from None
        return key, pending

    async def take(self, key: str | None) -> Pending | None:
        if not key:
            return None
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                value, _deleted = await pipe.get(self._name(key)).delete(self._name(key)).execute()
        except RedisError:
            raise OidcRefused(STORE_UNAVAILABLE, 503) from None
        if value is None:
            return None
        try:
            raw = base64.b64decode(value)
            plain = AESGCM(derive_key(key, b"oidc key")).decrypt(raw[:12], raw[12:], self._name(key).encode())
            return self._fresh(Pending(**json.loads(plain)))
        except (InvalidTag, ValueError, TypeError):
            return None


def pending_sign_ins(sessions: SessionStore, clock: Callable[[], float]) -> PendingSignIns:
    """Beside the sessions: in Redis when they are (any replica finishes a sign-in), else in memory."""
    if isinstance(sessions, RedisSessionStore):
        return RedisPendingSignIns(sessions.client, clock)
    return PendingSignIns(clock)


def pending_of(request: Request) -> PendingSignIns:
    return request.app.state.oidc_pending


def redirect_uri(console: Console, request: Request) -> str:
    """Where the IdP sends the browser back: the setting, else this console's own /oidc/callback as reached."""
    return console.settings.oidc_redirect_url or str(request.url_for("oidc_callback"))


async def start(request: Request) -> Response:
    """Sends the browser to the IdP's authorization endpoint with a fresh state, nonce and PKCE challenge."""
    console: Console = request.app.state.console
    settings = console.settings
    if not settings.oidc_enabled:
        # The sign-in page saying so (a bare text line was a dead end): the person signs in with a password.
        return login_page(console, request, message="统一身份认证登录未启用，请使用用户名和密码登录。", status=404)
    try:
        key, pending = await pending_of(request).start(redirect_uri(console, request))
    except OidcRefused as refused:
        return login_page(console, request, message=refused.message, status=refused.status)
    query = urlencode({"response_type": "code", "client_id": settings.oidc_client_id, "scope": SCOPE,
                       "redirect_uri": pending.redirect_uri, "state": pending.state, "nonce": pending.nonce,
                       "code_challenge": pending.challenge, "code_challenge_method": "S256"})
    separator = "&" if urlsplit(settings.oidc_authorize_url).query else "?"
    response = RedirectResponse(f"{settings.oidc_authorize_url}{separator}{query}", status_code=303)
    response.set_cookie(PENDING_COOKIE, key, max_age=PENDING_SECONDS, httponly=True,
                        secure=settings.secure_cookie, samesite="lax", path="/oidc")
    return response


async def callback(request: Request) -> Response:
    """The IdP's answer: a session and the home page, or the sign-in page saying what went wrong."""
    console: Console = request.app.state.console
    try:
        pending = await pending_of(request).take(request.cookies.get(PENDING_COOKIE))
        if not console.settings.oidc_enabled:
            raise OidcRefused("统一身份认证登录未启用，请使用用户名和密码登录。", 404)
        signed = await _complete(console, request, pending)
    except OidcRefused as refused:
        log.info("OIDC sign-in refused (%s)", refused.status)
        response = login_page(console, request, message=refused.message, status=refused.status)
        response.delete_cookie(PENDING_COOKIE, path="/oidc")
        return response
    session = console.sessions.create(signed.person, signed.token, signed.expires_at)
    session.method = "oidc"
    session.flash = f"欢迎，{signed.person.display_name}。"
    # A page that moves on to "/", not a redirect: this request came from the IdP (cross-site), and a browser
    # does not send the SameSite=Strict session cookie on a redirect chain that began cross-site.
    # Rendered without the session: its welcome is for the home page.
    response = console.page(request, "oidc_continue.html", title="登录成功")
    response.headers["refresh"] = "0; url=/"
    console.set_cookie(response, session.id)
    response.delete_cookie(PENDING_COOKIE, path="/oidc")
    return response


async def _complete(console: Console, request: Request, pending: Pending | None) -> SignedIn:
    """The checks and calls of a callback, in order; OidcRefused at the first that fails."""
    params = request.query_params
    if pending is None:
        raise OidcRefused("登录请求已失效（超过 10 分钟或已使用过），请重新点击“使用统一身份认证登录”。")
    if not same_secret(params.get("state", ""), pending.state):
        raise OidcRefused("登录请求校验失败（state 不匹配），可能是页面已过期或链接被篡改，请重新登录。")
    error = params.get("error", "")
    if error:
        shown = error if re.fullmatch(r"[a-z_]{1,40}", error) else "unknown"
        raise OidcRefused(IDP_ERRORS.get(shown, f"统一身份认证未完成登录（{shown}），请重新登录。"), 401)
    code = params.get("code", "")
    if not code:
        raise OidcRefused("统一身份认证的应答缺少授权码，请重新登录。")
    id_token = await redeem(console, code, pending)
    nonce = _claims(id_token).get("nonce")
    if not isinstance(nonce, str) or not same_secret(nonce, pending.nonce):
        raise OidcRefused("统一身份认证的登录凭据与本次登录不符（nonce 不匹配），请重新登录。", 401)
    return await exchange(console, id_token)


async def redeem(console: Console, code: str, pending: Pending) -> str:
    """The ID token the token endpoint gives for ``code`` and the PKCE verifier (no client secret)."""
    settings = console.settings
    fields = {"grant_type": "authorization_code", "code": code, "redirect_uri": pending.redirect_uri,
              "client_id": settings.oidc_client_id, "code_verifier": pending.verifier}
    status, body = await asyncio.to_thread(_post_form, settings.oidc_token_url, fields,
                                           settings.call_timeout_seconds)
    if status >= 500:
        raise OidcRefused(UNAVAILABLE, 503)
    if status != 200:
        error = str(body.get("error", ""))
        log.info("OIDC token endpoint refused the code: HTTP %s %s", status, error[:40])
        if error in ("invalid_client", "unauthorized_client"):
            raise OidcRefused("统一身份认证不认可本控制台的客户端配置，请联系管理员检查 OIDC 客户端设置。", 401)
        raise OidcRefused("统一身份认证拒绝了本次登录：授权码无效、已使用，或与本次登录的校验码（PKCE）不符。"
                          "请重新登录。", 401)
    id_token = body.get("id_token")
    if not isinstance(id_token, str) or not id_token:
        raise OidcRefused("统一身份认证没有返回身份令牌（ID token），请联系管理员检查客户端的 openid 范围。", 502)
    return id_token


def _post_form(url: str, fields: dict[str, str], timeout: float) -> tuple[int, dict[str, Any]]:
    """POSTs a form and reads a JSON answer (HTTP status, body); OidcRefused(503) when the IdP is out of
    reach. Redirects are not followed: the code goes to the configured endpoint and nowhere else."""
    request = urllib.request.Request(url, data=urlencode(fields).encode("ascii"), method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"})
    opener = urllib.request.build_opener(_NoRedirect())
    try:
        with opener.open(request, timeout=timeout) as answer:
            status, raw = answer.status, answer.read(MAX_TOKEN_RESPONSE)
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read(MAX_TOKEN_RESPONSE)
    except (urllib.error.URLError, OSError, ValueError):
        raise OidcRefused(UNAVAILABLE, 503) from None
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    if status == 200 and not body:
        raise OidcRefused(UNAVAILABLE, 503)
    return status, body


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _claims(id_token: str) -> dict[str, Any]:
    """The ID token's claims, unverified: only the nonce is read here (ExchangeOidcToken verifies the rest)."""
    try:
        claims = jwt.decode(id_token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        raise OidcRefused("统一身份认证返回的身份令牌无法解析，请重新登录。", 502) from None
    return claims if isinstance(claims, dict) else {}


async def exchange(console: Console, id_token: str) -> SignedIn:
    """The person's platform session for ``id_token`` (SessionService.ExchangeOidcToken, through the edge)."""
    channel, deadline = console.services.channel, console.settings.call_timeout_seconds
    stub = persons_pb2_grpc.SessionServiceStub(channel)
    try:
        reply = await stub.ExchangeOidcToken(persons_pb2.ExchangeOidcTokenRequest(id_token=id_token),
                                             timeout=deadline)
    except grpc.aio.AioRpcError as error:
        raise _exchange_refusal(error) from None
    return await session_of(channel, reply.session, deadline)


def _exchange_refusal(error: grpc.aio.AioRpcError) -> OidcRefused:
    info, _ = details_of(error)
    reason = info.reason if info else ""
    if reason in CONFIGURATION_REFUSALS:
        # The person reads a sentence; whoever runs the platform needs why (which key, which claim) to fix it.
        log.warning("ExchangeOidcToken refused the identity provider's ID token (%s): %s", reason,
                    (error.details() or "")[:300])
    if info is not None and reason == "ACCOUNT_LOCKED":  # a person with a password too, locked by its guesses
        return OidcRefused(locked_message(info), 401)
    if reason in EXCHANGE_MESSAGES:
        status = 503 if reason == "OIDC_PROVIDER_UNAVAILABLE" else 401
        return OidcRefused(EXCHANGE_MESSAGES[reason], status)
    if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return OidcRefused("登录服务暂时不可用，请稍后重试。", 503)
    if error.code() == grpc.StatusCode.PERMISSION_DENIED:
        return OidcRefused(SIGN_IN_MESSAGES["ACCOUNT_LOCKED"], 403)
    return OidcRefused("登录未完成，请稍后重试。", 401)


def signed_out(console: Console, request: Request, session: Session) -> Response:
    """Where the browser goes once the console and platform sessions are ended: the sign-in page or, for an
    OIDC session when the IdP's end-session endpoint is configured, the IdP's sign-out first (else the next
    "使用统一身份认证登录" would sign the person straight back in).

    No ``id_token_hint``: the ID token never reaches the browser (in a URL it would sit in the history, and
    ExchangeOidcToken would take it until it expires); the IdP may then ask the person to confirm. The IdP is
    reached by a page that moves on (Refresh), not a redirect: CSP ``form-action 'self'`` forbids a form's
    redirect to another origin."""
    settings = console.settings
    if session.method != "oidc" or not settings.oidc_logout_url:
        return RedirectResponse("/login", status_code=303)
    back = (urljoin(settings.oidc_redirect_url, "/login") if settings.oidc_redirect_url
            else str(request.url_for("login_form")))
    query = urlencode({"client_id": settings.oidc_client_id, "post_logout_redirect_uri": back})
    separator = "&" if urlsplit(settings.oidc_logout_url).query else "?"
    target = f"{settings.oidc_logout_url}{separator}{query}"
    request.scope.pop("console.session", None)  # signed out: the page shows no menu
    response = console.page(request, "oidc_logout.html", title="正在退出", target=target)
    response.headers["refresh"] = f"0; url={target}"
    return response


def routes() -> list[Route]:
    return [Route("/oidc/start", start, methods=["GET"]),
            Route("/oidc/callback", callback, methods=["GET"], name="oidc_callback")]
