# ruff: noqa: F401, F811 - the fixtures come from console_browser (a conftest.py here would shadow the integration one)
"""A department's page calling the platform with gRPC-Web from a real browser (Chromium), as docs/api.md tells a
front-end developer to: the edge admits the origins of GOVSHARE_CORS_ORIGINS, and a page there reads every
answer — a reply, a backend's error with its details, and the edge's own refusals — while a page of another
origin reads nothing."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import pytest
from console_browser import browser, serving
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from govshare.common.v1 import common_pb2
from govshare.query.v1 import query_pb2

pytestmark = pytest.mark.integration

QUERY = "/govshare.query.v1.QueryService/Query"

#: The page: a gRPC-Web call written out as a client library makes it (fetch, a framed message, the trailers as
#: a last frame or, for a trailers-only answer, as headers).
PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>部门页面</title></head><body>
<script>
function frame(message) {
  const body = new Uint8Array(5 + message.length);
  new DataView(body.buffer).setUint32(1, message.length);
  body.set(message, 5);
  return body;
}
async function grpcWeb(url, message, headers) {
  const bytes = Uint8Array.from(atob(message), c => c.charCodeAt(0));
  try {
    const answer = await fetch(url, {method: 'POST', body: frame(bytes), headers: Object.assign(
      {'content-type': 'application/grpc-web+proto', 'x-grpc-web': '1'}, headers)});
    const body = new Uint8Array(await answer.arrayBuffer());
    let trailers = '';
    for (let at = 0; at + 5 <= body.length;) {
      const length = new DataView(body.buffer).getUint32(at + 1);
      if (body[at] & 0x80) trailers = new TextDecoder().decode(body.slice(at + 5, at + 5 + length));
      at += 5 + length;
    }
    const status = answer.headers.get('grpc-status') ?? (/grpc-status:\\s*(\\d+)/.exec(trailers) || [])[1];
    return {status: status === undefined ? null : Number(status),
            message: decodeURIComponent(answer.headers.get('grpc-message') ?? ''),
            details: answer.headers.get('grpc-status-details-bin') !== null};
  } catch (error) {
    return {error: String(error)};
  }
}
</script></body></html>"""


@pytest.fixture(scope="module")
async def pages() -> AsyncIterator[tuple[str, str]]:
    """The page at two origins: the one the edge admits, and another."""
    app = Starlette(routes=[Route("/", lambda request: HTMLResponse(PAGE))])
    async with serving(app) as allowed, serving(app) as other:
        yield allowed, other


@pytest.fixture(scope="module")
async def edge(platform, base_settings, pages):  # type: ignore[no-untyped-def]
    from conftest import start_edge  # the integration fixtures' helper (tests/integration/conftest.py)

    edge = await start_edge(base_settings, platform.servers, cors_origins=(pages[0],))
    yield edge
    edge.stop()


def _query(key: str) -> str:
    purpose = common_pb2.Purpose(type=common_pb2.PURPOSE_TYPE_WORK_REFERENCE, text="窗口受理 2026-001")
    request = query_pb2.QueryRequest(resource_code="102001/000001", key=key, items=["name"], purpose=purpose)
    return base64.b64encode(request.SerializeToString()).decode()


async def _call(browser, page_url: str, url: str, message: str, headers: dict[str, str]) -> dict:  # type: ignore[no-untyped-def]
    page = await browser.new_page()
    try:
        await page.goto(page_url)
        return await page.evaluate("([url, message, headers]) => grpcWeb(url, message, headers)",
                                   [url, message, headers])
    finally:
        await page.close()


async def test_a_page_of_an_allowed_origin_reads_the_edges_own_refusals(browser, platform, edge, pages):  # type: ignore[no-untyped-def]
    """The edge's own refusals are direct responses, which Envoy's CORS filter skips: a page of an allowed origin
    sending a malformed grpc-timeout, a body without a message or an unknown method saw only "Failed to fetch"
    (the browser hid the answer: no Access-Control-Allow-Origin), never the status and the words saying what to
    fix, and an unknown method's preflight was a 404, so the browser did not even send the call."""
    allowed, other = pages
    base = f"http://{edge.address}"
    token = dict(platform.metadata("civil"))
    good = _query("924103023250193249")
    answered = await _call(browser, allowed, base + QUERY, good, token)
    assert answered == {"status": 0, "message": "", "details": False}, answered
    refused = await _call(browser, allowed, base + QUERY, _query("9241"), token)
    assert refused["status"] == 3 and refused["details"] and "18" in refused["message"], refused

    deadline = await _call(browser, allowed, base + QUERY, good, {**token, "grpc-timeout": "10s"})
    assert deadline["status"] == 3 and "grpc-timeout: not a deadline" in deadline["message"], deadline
    unknown = await _call(browser, allowed, base + "/govshare.query.v1.QueryService/Nope", good, token)
    assert unknown["status"] == 12 and "has no such method" in unknown["message"], unknown
    service = await _call(browser, allowed, base + "/govshare.nope.v1.Nope/Get", good, token)
    assert service["status"] == 12 and "unknown service" in service["message"], service
    # Refused before the route's answer (no token): the token check's reply, marked too.
    tokenless = await _call(browser, allowed, base + "/govshare.query.v1.QueryService/Nope", good, {})
    assert tokenless["status"] == 16 and "Jwt is missing" in tokenless["message"], tokenless

    # Another origin reads nothing, neither an answer nor a refusal.
    for headers in (token, {**token, "grpc-timeout": "10s"}):
        hidden = await _call(browser, other, base + QUERY, good, headers)
        assert "error" in hidden, hidden
