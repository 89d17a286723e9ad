"""Every main page of the console renders in Chromium over the real platform, in Chinese, with no serious
accessibility violation (axe-core, WCAG 2.1 AA), under the strict CSP, at a laptop's and a tablet's size."""

from __future__ import annotations

import pytest
from conftest import axe_violations, dump, open_as, shot, system_session

PAGES = [
    ("/", "首页", "authority"), ("/catalog", "目录", "civil"),
    ("/catalog/entry?code=101001/000001", "人口基本信息", "civil"),
    ("/drafts", "编目", "police"), ("/drafts/new", "新建目录", "police"), ("/review", "审核", "authority"),
    ("/applications", "我的申请", "civil"), ("/replies", "答复", "police"), ("/coordination", "协调", "authority"),
    ("/grants", "授权", "police"), ("/disputes", "异议与冲突", "police"), ("/audit", "审计", "authority"),
    ("/supervision", "监督", "authority"),
]


@pytest.mark.parametrize(("path", "heading", "system"), PAGES)
async def test_page_renders_accessibly(context, console_server, platform, path, heading, system):  # type: ignore[no-untyped-def]
    page = await open_as(context, console_server, system_session(console_server, platform, system))
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    response = await page.goto(path)
    assert response.status == 200, await page.content()
    assert heading in await page.locator("h1").inner_text()
    assert await page.locator("html").get_attribute("lang") == "zh-CN"
    violations = await axe_violations(page)
    assert violations == [], dump(violations)
    assert blocked == []
    await shot(page, console_server, "page" + path.replace("/", "_").split("?")[0])
    await page.set_viewport_size({"width": 820, "height": 1180})  # a tablet, portrait
    violations = await axe_violations(page)
    assert violations == [], dump(violations)
