# ruff: noqa
from __future__ import annotations

import datetime as dt
import re
from html import unescape
import pytest
from console_browser import browser, console_server, context, open_as, system_session
from test_console_probe import _person_session, _as, _post

pytestmark = pytest.mark.integration


async def test_probe(context, console_server, platform):  # type: ignore[no-untyped-def]
    app = _person_session(console_server, platform, "social", "APPLICANT")
    exp = (dt.date.today() + dt.timedelta(days=90)).isoformat()
    base = {"items": ["citizen_id", "name"], "purposes": "1", "basis": "《社会救助暂行办法》", "methods": "1", "expire_date": exp}
    for q in ("1000次", "不限", "1万", "0", " 1,000 次"):
        r = await _post(context, "/apply?code=101001/000001", app, {**base, "quota": q, "request_id": ""}, max_redirects=0)
        t = unescape(await r.text())
        said = re.findall(r'class="(?:problem|field-error)"[^>]*>([^<]*)<', t)
        print("QUOTA", repr(q), r.status, said[:3])
