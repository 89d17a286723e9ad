# ruff: noqa: F401, F811 - the fixtures come from console_browser (a conftest.py here would shadow the integration one)
"""Signing in to the console through the province's OpenID Connect provider, in Chromium, over the real platform.

The IdP is tests/integration/oidc_idp.py's (JWKS, authorization and token endpoints with PKCE, end-session).
The console under test is configured for it and calls the platform through an edge of its own whose
authorization service trusts that IdP (the shared platform's does not: test_oidc.py checks it says so); the other
services are the shared platform's. So the whole production path runs: browser → console → IdP → console → edge →
ExchangeOidcToken (signature checked against the IdP's JWKS) → the person's session → the home page.
"""

from __future__ import annotations

import asyncio
import socket
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from console_browser import (
    axe_violations,
    browser,
    console_server,
    context,
    open_as,
    serving,
    shot,
    system_session,
)
from envoy_edge import Edge, edge_settings
from oidc_idp import AUDIENCE, Idp, running_idp
from starlette.applications import Starlette

from console.app import create_app
from console.oidc import PENDING_COOKIE
from console.sessions import COOKIE
from console.settings import ConsoleSettings
from govshare.authorization.v1 import persons_pb2, persons_pb2_grpc
from services.authorization.component import create_component
from services.runtime.server import start_server

pytestmark = pytest.mark.integration
IDP_NAME = "省统一身份认证平台"


@dataclass
class OidcConsole:
    url: str
    app: Starlette
    idp: Idp
    gateway: str


def console_settings(idp: Idp, gateway: str, **overrides: object) -> ConsoleSettings:
    settings = dict(listen="127.0.0.1:0", gateway=gateway, oidc_authorize_url=idp.authorize_url,
                    oidc_token_url=idp.token_url, oidc_client_id=AUDIENCE, oidc_display_name=IDP_NAME,
                    oidc_logout_url=idp.logout_url)
    return ConsoleSettings(**{**settings, **overrides})  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def idp() -> Iterator[Idp]:
    with running_idp() as provider:
        yield provider


@pytest.fixture(scope="module")
async def oidc_console(platform, base_settings, idp: Idp) -> AsyncIterator[OidcConsole]:  # type: ignore[no-untyped-def]
    settings = platform.settings["authorization"].with_overrides(
        listen="127.0.0.1:0", jwks_listen="127.0.0.1:0", oidc_issuer=idp.issuer, oidc_jwks_url=idp.jwks_url,
        oidc_audience=AUDIENCE)
    authorization = await start_server(settings, create_component(settings))
    # As tests/integration/conftest.py's start_edge (not imported: ``conftest`` may name another directory's).
    servers = {**platform.servers, "authorization": authorization}
    targets = {f"{name}_target": f"127.0.0.1:{server.port}" for name, server in servers.items()}
    jwks_port = authorization.component.jwks.port  # type: ignore[attr-defined]
    edge = await Edge(edge_settings(base_settings, targets, jwks_port)).start()
    try:
        app = create_app(console_settings(idp, edge.address))
        async with serving(app) as url:
            yield OidcConsole(url=url, app=app, idp=idp, gateway=edge.address)
    finally:
        edge.stop()
        await authorization.stop(0)


@pytest.fixture
async def browsing(browser, oidc_console: OidcConsole):  # type: ignore[no-untyped-def]
    """A fresh browser profile for the OIDC console."""
    ctx = await browser.new_context(base_url=oidc_console.url, locale="zh-CN", viewport={"width": 1366, "height": 800})
    yield ctx
    await ctx.close()


async def sso_person(platform) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """A new OpenID Connect-only person (no local password) of the police department: username, name."""
    username = f"sso.{uuid.uuid4().hex[:8]}"
    name = f"统一{username[-4:]}"
    await persons_pb2_grpc.PersonServiceStub(platform.channel).CreatePerson(persons_pb2.CreatePersonRequest(
        person=persons_pb2.Person(username=username, display_name=name,
                                  department_code=platform.credentials.systems["police"]["department"],
                                  roles=[persons_pb2.PERSON_ROLE_APPROVER])),
        metadata=platform.metadata("authority"), timeout=10)
    return username, name


async def callback_url(context, idp: Idp) -> str:  # type: ignore[no-untyped-def]
    """Starts a sign-in in ``context`` (its pre-sign-in cookie set by the console's answer) and returns the URL
    the IdP would send the browser back to, without going there: the code is not redeemed yet."""
    page = await context.new_page()
    seen: list[str] = []

    async def hold(route) -> None:  # type: ignore[no-untyped-def]
        answer = await route.fetch(max_redirects=0)
        seen.append(answer.headers["location"])
        await route.fulfill(status=200, body="held", content_type="text/plain",
                            headers={"set-cookie": answer.headers["set-cookie"]})

    await page.route("**/oidc/start", hold)
    await page.goto("/oidc/start")
    await page.close()
    assert seen[0].startswith(idp.authorize_url)
    assert any(c["name"] == PENDING_COOKIE for c in await context.cookies())
    return await asyncio.to_thread(_location, seen[0])


def _location(url: str) -> str:
    """Where the IdP's sign-in form for the authorization request ``url`` redirects to (posted as the browser
    would, the redirect not followed)."""
    class Stop(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    parts = urlsplit(url)
    form = parts.query.encode()
    try:
        urllib.request.build_opener(Stop()).open(parts._replace(query="").geturl(), data=form, timeout=10)
    except urllib.error.HTTPError as redirect:
        assert redirect.code == 302
        return redirect.headers["Location"]
    raise AssertionError("the IdP did not redirect")


async def through_idp(page):  # type: ignore[no-untyped-def]
    """From the IdP's sign-in page (where the console sent ``page``) back to the console, its button pressed:
    the response of the console's callback."""
    async with page.expect_navigation() as navigation:
        await page.get_by_role("button", name="登录").click()
    return await navigation.value


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return parts._replace(query=urlencode(query)).geturl()


async def test_a_person_signs_in_through_the_idp_lands_on_the_home_page_and_signs_out_of_both(
        browsing, oidc_console: OidcConsole, console_server, platform) -> None:  # type: ignore[no-untyped-def]
    idp = oidc_console.idp
    username, name = await sso_person(platform)
    idp.user = username
    page = await browsing.new_page()
    await page.goto("/login")
    button = page.get_by_role("link", name="使用统一身份认证登录")
    assert IDP_NAME in await page.locator(".sso").inner_text()
    assert not await axe_violations(page)
    await shot(page, console_server, "70_oidc_login")
    # Keyboard only: Tab from the last field of the password form reaches the button; Enter follows it.
    await page.get_by_label("动态口令").focus()
    for _ in range(3):
        await page.keyboard.press("Tab")
        if await button.evaluate("b => b === document.activeElement"):
            break
    assert await button.evaluate("b => b === document.activeElement"), "the button is not keyboard reachable"
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{idp.authorize_url}?**")
    # The IdP's page sends the browser back: a cross-site navigation, after which the console's SameSite=Strict
    # session cookie must still reach the home page (hence the console's page that moves on, not a redirect).
    await through_idp(page)
    await page.wait_for_url(f"{oidc_console.url}/")
    assert await page.locator("h1").inner_text() == "首页"
    assert f"欢迎，{name}。" == await page.locator(".flash").inner_text()
    assert name in await page.locator(".who").inner_text() and "审批人" in await page.locator(".who").inner_text()
    cookies = {c["name"]: c for c in await browsing.cookies()}
    assert cookies[COOKIE]["httpOnly"] and cookies[COOKIE]["secure"] and cookies[COOKIE]["sameSite"] == "Strict"
    assert PENDING_COOKIE not in cookies  # the pending sign-in is spent
    assert not idp.refusals
    await shot(page, console_server, "71_oidc_home")
    # The console session is the person's platform session: the menu's pages answer as the person.
    await page.get_by_role("link", name="授权").click()
    assert await page.locator("h1").inner_text() == "授权"
    # Signing out ends the platform session and the IdP's (its end-session endpoint).
    await page.get_by_role("button", name="退出").click()
    await page.wait_for_url(f"{oidc_console.url}/login")
    (logout,) = idp.logouts
    assert logout["client_id"] == AUDIENCE and logout["post_logout_redirect_uri"] == f"{oidc_console.url}/login"
    assert "id_token_hint" not in logout  # the ID token never goes through the browser
    await page.goto("/grants")
    assert page.url.endswith("/login")


async def test_a_callback_whose_state_does_not_match_is_refused_and_signs_nobody_in(
        browsing, oidc_console: OidcConsole, console_server, platform) -> None:  # type: ignore[no-untyped-def]
    idp = oidc_console.idp
    idp.user, _ = await sso_person(platform)
    back = await callback_url(browsing, idp)
    page = await browsing.new_page()
    response = await page.goto(with_query(back, state="forged-" + uuid.uuid4().hex))
    assert response.status == 400
    assert "state 不匹配" in await page.get_by_role("alert").inner_text()
    await shot(page, console_server, "72_oidc_state_mismatch")
    # The pending sign-in was spent by the refusal: the genuine answer replayed now is refused too.
    response = await page.goto(back)
    assert response.status == 400 and "登录请求已失效" in await page.get_by_role("alert").inner_text()
    assert not any(c["name"] == COOKIE for c in await browsing.cookies())
    # A callback in a browser that never started a sign-in is refused the same way.
    fresh = await page.context.browser.new_context(base_url=oidc_console.url)
    try:
        stray = await fresh.new_page()
        response = await stray.goto(back)
        assert response.status == 400 and "登录请求已失效" in await stray.get_by_role("alert").inner_text()
    finally:
        await fresh.close()


async def test_a_code_issued_to_another_sign_in_fails_pkce_at_the_idp_and_the_page_says_so(
        browser, browsing, oidc_console: OidcConsole, console_server, platform) -> None:  # type: ignore[no-untyped-def]
    """Code injection: a code obtained in someone else's browser, pasted into one's own sign-in (own state): the
    console sends its own PKCE verifier, which is not the one the code was issued for, and the IdP refuses."""
    idp = oidc_console.idp
    idp.user, _ = await sso_person(platform)
    victim = await browser.new_context(base_url=oidc_console.url)
    try:
        stolen = parse_qs(urlsplit(await callback_url(victim, idp)).query)["code"][0]
    finally:
        await victim.close()
    own = await callback_url(browsing, idp)
    page = await browsing.new_page()
    response = await page.goto(with_query(own, code=stolen))
    assert response.status == 401
    assert "与本次登录的校验码（PKCE）不符" in await page.get_by_role("alert").inner_text()
    assert idp.refusals[-1] == "invalid_grant"
    assert not any(c["name"] == COOKIE for c in await browsing.cookies())
    await shot(page, console_server, "73_oidc_pkce_refused")


async def test_an_id_token_of_another_sign_in_is_refused_by_its_nonce(browsing, oidc_console: OidcConsole,  # type: ignore[no-untyped-def]
                                                                      platform) -> None:
    """A genuine, validly signed ID token (the platform would accept it) replayed from another sign-in: its nonce
    is not this sign-in's, so the console refuses it before asking the platform."""
    idp = oidc_console.idp
    idp.user, _ = await sso_person(platform)
    idp.substitute = idp.id_token(idp.user, nonce="the nonce of another sign-in")
    try:
        page = await browsing.new_page()
        await page.goto("/oidc/start")
        response = await through_idp(page)
    finally:
        idp.substitute = None
    assert response.status == 401
    assert "nonce 不匹配" in await page.get_by_role("alert").inner_text()
    assert not any(c["name"] == COOKIE for c in await browsing.cookies())


async def test_a_person_who_declines_at_the_idp_is_told_so(browsing, oidc_console: OidcConsole) -> None:  # type: ignore[no-untyped-def]
    oidc_console.idp.user = None
    page = await browsing.new_page()
    await page.goto("/oidc/start")
    response = await through_idp(page)
    assert page.url.startswith(f"{oidc_console.url}/oidc/callback?") and response.status == 401
    assert "取消了登录" in await page.get_by_role("alert").inner_text()
    assert await page.get_by_role("link", name="使用统一身份认证登录").count() == 1  # to try again


async def test_an_idp_username_with_no_platform_account_is_told_to_ask_for_one(
        browsing, oidc_console: OidcConsole) -> None:  # type: ignore[no-untyped-def]
    oidc_console.idp.user = f"stranger.{uuid.uuid4().hex[:8]}"
    page = await browsing.new_page()
    await page.goto("/oidc/start")
    await through_idp(page)
    assert "本平台没有您的账号，请联系管理员开通" in await page.get_by_role("alert").inner_text()


async def test_a_token_endpoint_out_of_reach_is_said_plainly(browser, oidc_console: OidcConsole,  # type: ignore[no-untyped-def]
                                                            console_server, platform) -> None:
    """The console cannot reach the IdP's token endpoint (a port nothing listens on): not a 500, not a refusal
    of the person, but "统一身份认证服务暂时不可用"."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    idp = oidc_console.idp
    idp.user, _ = await sso_person(platform)
    app = create_app(console_settings(idp, oidc_console.gateway,
                                      oidc_token_url=f"http://127.0.0.1:{dead}/token", call_timeout_seconds=2))
    async with serving(app) as url:
        context = await browser.new_context(base_url=url, locale="zh-CN")
        try:
            page = await context.new_page()
            await page.goto("/oidc/start")
            response = await through_idp(page)
            assert page.url.startswith(f"{url}/oidc/callback?") and response.status == 503
            assert "统一身份认证服务暂时不可用" in await page.get_by_role("alert").inner_text()
            await shot(page, console_server, "74_oidc_unavailable")
        finally:
            await context.close()


async def test_tokens_sent_with_non_ascii_characters_are_refused_not_a_server_error(  # type: ignore[no-untyped-def]
        browsing, oidc_console: OidcConsole, console_server, platform) -> None:
    """The state, the sign-in form's CSRF token and a session form's CSRF token are compared in constant time;
    one typed or forged with Chinese characters is a mismatch like any other (400/403), never a 500."""
    back = await callback_url(browsing, oidc_console.idp)
    page = await browsing.new_page()
    response = await page.goto(with_query(back, state="状态"))
    assert response.status == 400 and "state 不匹配" in await page.get_by_role("alert").inner_text()
    await page.goto("/login")
    response = await page.request.post("/login", form={"csrf_token": "令牌", "username": "someone",
                                                        "password": "whatever", "totp_code": "123456"})
    assert response.status == 403 and "安全令牌" in await response.text()
    signed = await open_as(browsing, console_server, system_session(console_server, platform, "police"))
    await signed.goto(f"{console_server.url}/drafts/new")
    response = await signed.request.post(f"{console_server.url}/drafts/submit",
                                         form={"csrf_token": "令牌", "code": "101001/000001"})
    assert response.status == 403


async def test_a_sign_in_started_on_one_console_finishes_on_another_over_redis(  # type: ignore[no-untyped-def]
        browser, oidc_console: OidcConsole, platform) -> None:
    """Replicas share no memory and the Service has no affinity when sessions are in Redis: the IdP may send
    the browser back to another replica than the one that started the sign-in, and that one must finish it."""
    idp = oidc_console.idp
    idp.user, name = await sso_person(platform)
    redis_url = platform.settings["authorization"].redis_url
    first = create_app(console_settings(idp, oidc_console.gateway, redis_url=redis_url))
    second = create_app(console_settings(idp, oidc_console.gateway, redis_url=redis_url))
    async with serving(first) as first_url, serving(second) as second_url:
        context = await browser.new_context(base_url=first_url, locale="zh-CN")
        try:
            back = await callback_url(context, idp)
            assert back.startswith(f"{first_url}/oidc/callback?")
            page = await context.new_page()
            # Cookies do not tell ports apart: the pre-sign-in cookie reaches the other console as it would
            # reach another replica behind one host name.
            await page.goto(second_url + back.removeprefix(first_url))
            await page.wait_for_url(f"{second_url}/")
            assert name in await page.locator(".who").inner_text()
            # Taken once, whichever replica took it.
            await page.goto(back)
            assert "登录请求已失效" in await page.get_by_role("alert").inner_text()
        finally:
            await context.close()
