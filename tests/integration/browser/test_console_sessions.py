# ruff: noqa: F401, F811 - the fixtures come from console_browser (a conftest.py here would shadow the integration one)
"""Console sessions in Redis (GOVSHARE_CONSOLE_REDIS_URL / GOVSHARE_REDIS_URL): a session created by one console
process is honoured by another over the same real Redis, survives a restart of the first, and a sign-out on
either ends it on both. What Redis holds is neither the cookie's id nor the person's token in clear."""

from __future__ import annotations

import contextlib
import socket

import pytest
import redis.asyncio as aioredis
from console_browser import browser, create_person, serving

from console.app import create_app
from console.sessions import COOKIE, REDIS_PREFIX
from console.settings import ConsoleSettings
from govshare.authorization.v1 import persons_pb2

pytestmark = pytest.mark.integration
PASSWORD = "correct horse battery"


def running_console(gateway: str, redis_url: str) -> contextlib.AbstractAsyncContextManager[str]:
    """A console (its own app, store and Redis client, as another process would have) on a real port."""
    return serving(create_app(ConsoleSettings(listen="127.0.0.1:0", gateway=gateway, redis_url=redis_url)))


async def test_a_session_is_honoured_by_another_console_and_survives_a_restart(browser, platform):  # type: ignore[no-untyped-def]
    redis_url = platform.settings["authorization"].redis_url
    username, totp = await create_person(platform, "police", persons_pb2.PERSON_ROLE_APPROVER, password=PASSWORD)
    context = await browser.new_context(locale="zh-CN")
    try:
        async with running_console(platform.gateway, redis_url) as second:
            async with running_console(platform.gateway, redis_url) as first:
                page = await context.new_page()
                await page.goto(f"{first}/login")
                await page.get_by_label("用户名").fill(username)
                await page.get_by_label("密码").fill(PASSWORD)
                await page.get_by_label("动态口令").fill(totp.now())
                await page.get_by_label("动态口令").press("Enter")
                await page.wait_for_load_state()
                assert "欢迎" in await page.locator(".flash").inner_text(), await page.content()
            # The first console is gone; the second never saw the sign-in.
            response = await page.goto(f"{second}/grants")
            assert response.status == 200 and page.url.endswith("/grants"), page.url
            assert "审批人" in await page.locator(".who").inner_text()

            # What Redis holds: neither the cookie's id nor the token, under a name derived from the id.
            session_id = next(c["value"] for c in await context.cookies() if c["name"] == COOKIE)
            client = aioredis.from_url(redis_url)
            try:
                keys = [k async for k in client.scan_iter(match=f"{REDIS_PREFIX}*")]
                values = [await client.get(k) for k in keys]
                assert keys and all(session_id.encode() not in k for k in keys)
                assert all(session_id.encode() not in v and username.encode() not in v for v in values)
            finally:
                await client.aclose()

            # A restarted first console honours it too, with the same CSRF token; signing out there ends it on
            # the second.
            async with running_console(platform.gateway, redis_url) as restarted:
                await page.goto(f"{restarted}/")
                assert "审批人" in await page.locator(".who").inner_text()
                await page.get_by_role("button", name="退出").click()
                await page.wait_for_url("**/login")
            await page.goto(f"{second}/grants")
            assert page.url.endswith("/login"), page.url
    finally:
        await context.close()


async def test_without_redis_a_session_stays_in_its_own_console(browser, platform):  # type: ignore[no-untyped-def]
    """The in-memory store (no Redis configured) is kept: another console does not know the session."""
    username, totp = await create_person(platform, "police", persons_pb2.PERSON_ROLE_APPROVER, password=PASSWORD)
    context = await browser.new_context(locale="zh-CN")
    try:
        async with running_console(platform.gateway, "") as first, running_console(platform.gateway, "") as second:
            page = await context.new_page()
            await page.goto(f"{first}/login")
            await page.get_by_label("用户名").fill(username)
            await page.get_by_label("密码").fill(PASSWORD)
            await page.get_by_label("动态口令").fill(totp.now())
            await page.get_by_label("动态口令").press("Enter")
            await page.wait_for_load_state()
            assert "欢迎" in await page.locator(".flash").inner_text()
            await page.goto(f"{second}/grants")
            assert page.url.endswith("/login?expired=1")  # as a restarted console's person is told
            await page.goto(f"{first}/grants")
            assert page.url.endswith("/grants")
    finally:
        await context.close()


async def test_a_session_store_out_of_reach_is_said_plainly_not_as_an_error(browser, platform):  # type: ignore[no-untyped-def]
    """Redis down: the sign-in and every page answer 503 saying to try again, never a 500 or a signed-out page."""
    username, totp = await create_person(platform, "police", persons_pb2.PERSON_ROLE_APPROVER, password=PASSWORD)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    context = await browser.new_context(locale="zh-CN")
    try:
        async with running_console(platform.gateway, f"redis://127.0.0.1:{dead}/0") as url:
            page = await context.new_page()
            await page.goto(f"{url}/login")  # no cookie yet: nothing to load
            await page.get_by_label("用户名").fill(username)
            await page.get_by_label("密码").fill(PASSWORD)
            await page.get_by_label("动态口令").fill(totp.now())
            async with page.expect_response(f"{url}/login") as answer:
                await page.get_by_label("动态口令").press("Enter")
            assert (await answer.value).status == 503
            assert "请稍后刷新页面重试" in await page.locator("main").inner_text()
            assert not any(c["name"] == COOKIE for c in await context.cookies())
            await context.add_cookies([{"name": COOKIE, "value": "x" * 43, "url": url}])
            response = await page.goto(f"{url}/grants")
            assert response.status == 503
            assert response.headers["content-security-policy"].startswith("default-src 'none'")
    finally:
        await context.close()


async def test_a_session_lost_with_redis_sends_the_person_to_sign_in_saying_why(browser, platform):  # type: ignore[no-untyped-def]
    """`govshare up`'s embedded Redis keeps nothing across a restart (a cache and an event bus), so killing it
    ended every console session; the next page was the bare sign-in page, a silent sign-out. It now says the
    sign-in has ended, as after an expiry."""
    redis_url = platform.settings["authorization"].redis_url
    username, totp = await create_person(platform, "police", persons_pb2.PERSON_ROLE_APPROVER, password=PASSWORD)
    context = await browser.new_context(locale="zh-CN")
    client = aioredis.from_url(redis_url)
    try:
        others = {k async for k in client.scan_iter(match=f"{REDIS_PREFIX}*")}
        async with running_console(platform.gateway, redis_url) as url:
            page = await context.new_page()
            await page.goto(f"{url}/login")
            await page.get_by_label("用户名").fill(username)
            await page.get_by_label("密码").fill(PASSWORD)
            await page.get_by_label("动态口令").fill(totp.now())
            await page.get_by_label("动态口令").press("Enter")
            await page.wait_for_load_state()
            assert "欢迎" in await page.locator(".flash").inner_text(), await page.content()
            # What a restarted Redis holds of this session: nothing (other tests' sessions are left alone).
            ours = {k async for k in client.scan_iter(match=f"{REDIS_PREFIX}*")} - others
            assert ours
            await client.delete(*ours)
            await page.goto(f"{url}/grants")
            assert page.url.endswith("/login?expired=1"), page.url
            assert await page.get_by_role("alert").inner_text() == "登录已过期，请重新登录。"
    finally:
        await client.aclose()
        await context.close()
