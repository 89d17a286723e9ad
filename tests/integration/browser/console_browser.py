"""Fixtures and helpers of the console's browser tests (imported by each test module: a conftest.py here would
shadow tests/integration/conftest.py, which other tests import as ``conftest``).

The console in a real browser: Debian's Chromium driven by Playwright, over the real platform.

The console runs in this process's event loop (uvicorn on a real socket) in front of the platform fixture's
edge; the browser talks HTTP to it exactly as a person's would. No browser is downloaded: Playwright drives
/usr/bin/chromium (`apt-get install chromium`; scripts/setup.sh installs it when it can).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyotp
import pytest
import uvicorn
from starlette.applications import Starlette

from console.app import Console, create_app
from console.sessions import COOKIE, Person, Session
from console.settings import ConsoleSettings
from govshare.authorization.v1 import persons_pb2, persons_pb2_grpc
from services.runtime.identity import Caller
from services.runtime.tokens import issue_token

CHROMIUM = os.environ.get("GOVSHARE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"
AXE = Path(__file__).resolve().parents[3] / "tools" / "node_modules" / "axe-core" / "axe.min.js"


class Clock:
    """The console's clock, moved by tests (an expired session without waiting for it)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass
class RunningConsole:
    app: Starlette
    url: str
    clock: Clock
    screenshots: Path = field(default=SCREENSHOTS)

    @property
    def console(self) -> Console:
        return self.app.state.console


@pytest.fixture(scope="session")
async def console_server(platform) -> AsyncIterator[RunningConsole]:  # type: ignore[no-untyped-def]
    clock = Clock()
    app = create_app(ConsoleSettings(listen="127.0.0.1:0", gateway=platform.gateway, page_size=10), clock=clock)
    async with serving(app) as url:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        yield RunningConsole(app=app, url=url, clock=clock)


@contextlib.asynccontextmanager
async def serving(app: Starlette, **config: object) -> AsyncIterator[str]:
    """``app`` on a real socket (uvicorn in this event loop) until the block ends: its http://localhost URL.
    ``config``: uvicorn.Config's other arguments (e.g. ``log_config=None`` so that caplog sees its loggers)."""
    options: dict[str, object] = {"log_level": "warning", "access_log": False, "lifespan": "on", **config}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, **options))  # type: ignore[arg-type]
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.05)
        assert server.started, "the console did not start"
        # localhost, not 127.0.0.1: Chromium keeps Secure cookies from http://localhost (a secure context).
        yield f"http://localhost:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[object]:
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240 - once per session, before the browser starts
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


@pytest.fixture
async def context(browser, console_server):  # type: ignore[no-untyped-def]
    """A fresh browser profile (no cookies) per test, at a laptop's size, in Chinese."""
    ctx = await browser.new_context(base_url=console_server.url, locale="zh-CN",
                                    viewport={"width": 1366, "height": 800})
    yield ctx
    await ctx.close()


def system_session(console_server: RunningConsole, platform, system: str,  # type: ignore[no-untyped-def]
                   roles: tuple[str, ...] = ()) -> Session:
    """A console session holding a demo system's token (for pages that need no person-only decision)."""
    entry = platform.credentials.systems[system]
    caller = Caller(entry["system_id"], entry["department"], authority=system == "authority")
    issued = issue_token(platform.settings["authorization"].token_private_key, caller, 600)
    person = Person(username=system, display_name=entry.get("name", system), department_code=entry["department"],
                    roles=roles)
    return console_server.console.sessions.create(person, issued.token, issued.expires_at)


async def open_as(context, console_server: RunningConsole, session: Session):  # type: ignore[no-untyped-def]
    """A page of ``context`` whose cookie is ``session``'s."""
    await context.add_cookies([{"name": COOKIE, "value": session.id, "url": console_server.url,
                                "httpOnly": True, "secure": True, "sameSite": "Strict"}])
    return await context.new_page()


async def axe_violations(page) -> list[dict]:  # type: ignore[no-untyped-def]
    """Serious and critical axe-core violations of the page (axe injected by evaluation: the CSP forbids
    inline scripts, and evaluation is the browser's debugging channel, not the page's)."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: npm install --prefix tools")
    await page.evaluate(AXE.read_text(encoding="utf-8"))
    result = await page.evaluate("""async () => {
        const tags = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
        const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                       nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
    }""")
    return [v for v in result if v["impact"] in ("serious", "critical")]


def confirming(page) -> list[str]:  # type: ignore[no-untyped-def]
    """Accepts the page's confirmation dialogs from now on, keeping what each asked: Playwright cancels a dialog
    nobody answers, and console.js asks before an action that cannot be taken back (停用, 重置, 撤销授权)."""
    asked: list[str] = []

    async def accept(dialog) -> None:  # type: ignore[no-untyped-def]
        asked.append(dialog.message)
        await dialog.accept()

    page.on("dialog", accept)
    return asked


async def shot(page, console_server: RunningConsole, name: str) -> None:  # type: ignore[no-untyped-def]
    await page.screenshot(path=str(console_server.screenshots / f"{name}.png"), full_page=True)


def dump(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, indent=1)


Factory = Callable[..., Session]


async def create_person(platform, department: str, *roles: int,  # type: ignore[no-untyped-def]
                        password: str = "correct horse battery") -> tuple[str, pyotp.TOTP]:
    """A new person of a demo department (created by the authority's system): username and TOTP."""
    username = f"u{uuid.uuid4().hex[:10]}"
    response = await persons_pb2_grpc.PersonServiceStub(platform.channel).CreatePerson(
        persons_pb2.CreatePersonRequest(
            person=persons_pb2.Person(username=username, display_name=f"测试{username[-4:]}",
                                      department_code=platform.credentials.systems[department]["department"],
                                      roles=list(roles)), password=password),
        metadata=platform.metadata("authority"), timeout=10)
    return username, pyotp.parse_uri(response.totp_provisioning_uri)


async def apply_for_population(platform, system: str, basis: str = "《社会救助暂行办法》") -> str:  # type: ignore[no-untyped-def]
    """An application of demo department ``system``'s system for 人口基本信息 (市公安局 provides it) of three items,
    for a year: its id."""
    from govshare.authorization.v1 import sharing_pb2, sharing_pb2_grpc

    application = sharing_pb2.Application(resource_code="101001/000001", items=["citizen_id", "name", "sex"],
                                          purposes=[1], basis=basis, methods=[1])
    application.requested_expire_time.FromSeconds(int(time.time()) + 365 * 86400)
    return (await sharing_pb2_grpc.SharingServiceStub(platform.channel).SubmitApplication(
        sharing_pb2.SubmitApplicationRequest(application=application), metadata=platform.metadata(system),
        timeout=10)).application.id


async def submitted_social_entry(platform):  # type: ignore[no-untyped-def]
    """A new entry of the 人社局's 社会保险 resource (a code and a dataset of its own), created and submitted for
    review by its system: the entry, as sent."""
    from frontproc import demo as dept
    from govshare.catalog.v1 import catalog_pb2 as cat
    from govshare.catalog.v1 import catalog_pb2_grpc

    catalog = catalog_pb2_grpc.CatalogServiceStub(platform.channel)
    entry = dept.social_insurance_entry("")
    entry.code = f"202001/{uuid.uuid4().int % 10**6:06d}"
    entry.endpoint.dataset = f"si_{uuid.uuid4().hex[:8]}"
    await catalog.CreateEntry(cat.CreateEntryRequest(entry=entry), metadata=platform.metadata("social"), timeout=10)
    await catalog.SubmitEntry(cat.SubmitEntryRequest(code=entry.code), metadata=platform.metadata("social"),
                              timeout=10)
    return entry


async def login(context, username: str, password: str, code: str = ""):  # type: ignore[no-untyped-def]
    """Signs in through the sign-in page as a person would (keyboard: fields in order, Enter submits)."""
    page = await context.new_page()
    await page.goto("/login")
    await page.get_by_label("用户名").fill(username)
    await page.get_by_label("密码").fill(password)
    if code:
        await page.get_by_label("动态口令").fill(code)
    await page.get_by_label("动态口令").press("Enter")
    await page.wait_for_load_state()
    return page


async def login_demo(context, platform, username: str):  # type: ignore[no-untyped-def]
    """Signs in as a demo account (services/demo.py) with its password and current TOTP code."""
    account = platform.credentials.accounts[username]
    totp = pyotp.TOTP(str(account["totp_secret"]))
    page = await login(context, username, str(account["password"]), totp.now())
    if await page.locator(".flash").count() == 0:
        # This step's code was used already (the demo seeding signs some persons in; a code is accepted once):
        # the next step's code, as an authenticator shows it a moment later (the service allows that drift).
        await page.close()
        page = await login(context, username, str(account["password"]), totp.at(time.time() + 30))
    assert await page.locator(".flash").count() == 1, await page.content()
    return page


async def page_listing(page, path: str, text: str) -> None:  # type: ignore[no-untyped-def]
    """Opens the list at ``path`` and follows its 下一页 until a card holds ``text``. The lists of work waiting
    (审核, 答复, 授权) show the longest-waiting first, and on the shared test platform the work other tests left comes
    before a test's own, which is then on a later page (test_console_probe leaves eleven applications and several
    entries in review)."""
    await page.goto(path)
    while not await page.locator("section", has_text=text).count():
        await page.get_by_role("link", name="下一页").click()
        await page.wait_for_load_state()
