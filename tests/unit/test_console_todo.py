"""The console's 待办 counts without a platform: who gets which kinds, what a service down and an ended session
answer, and that asking for them keeps no session alive (the counts with a platform and a browser are in
tests/integration/browser/test_console_pages.py)."""

from __future__ import annotations

import asyncio
import json
import socket

import grpc
from starlette.applications import Starlette
from starlette.requests import Request

from console import todo
from console.app import COOKIE, create_app
from console.sessions import Person, Session
from console.settings import ConsoleSettings
from govshare.authorization.v1 import sharing_pb2, sharing_pb2_grpc
from govshare.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from govshare.foundation.v1 import foundation_pb2, foundation_pb2_grpc
from govshare.query.v1 import dispute_pb2, dispute_pb2_grpc

POLICE = "11110100MB00000027"


def _nowhere() -> str:
    """An address nothing listens on (a port taken and released): every call there fails UNAVAILABLE at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


async def _get(app: Starlette, session_id: str) -> tuple[int, dict[str, object]]:
    """GET /todo with ``session_id``'s cookie: its status and JSON."""
    response = await todo.todo(_request(app, "/todo", session_id))
    return response.status_code, json.loads(bytes(response.body))


def _request(app: Starlette, path: str, session_id: str, session: Session | None = None) -> Request:
    scope = {"type": "http", "method": "GET", "path": path, "query_string": b"", "app": app,
             "headers": [(b"cookie", f"{COOKIE}={session_id}".encode())], "console.session": session}
    return Request(scope)


def _person(*roles: str) -> Person:
    return Person(username="u", display_name="测试", department_code=POLICE, roles=roles)


async def test_each_role_is_counted_only_what_it_acts_on() -> None:
    app = create_app(ConsoleSettings(listen="127.0.0.1:0", gateway=_nowhere()))
    sessions = app.state.console.sessions

    def paths(*roles: str) -> list[tuple[str, str]]:
        session = sessions.create(_person(*roles), "t", sessions.now() + 600)
        return [(k.path, k.label) for k in todo.kinds_of(session)]

    assert paths("APPROVER") == [("/replies", "待答复的申请"), ("/grants", "即将到期的授权（本部门提供）"),
                                 ("/disputes", "待处理的疑义")]
    assert paths("APPLICANT") == [("/applications", "逾期未获答复的申请"), ("/grants", "即将到期的授权（本部门使用）")]
    assert [p for p, _ in paths("REVIEWER")] == ["/review", "/coordination", "/mandates", "/disputes", "/disputes"]
    # A department's 编目员 makes its catalogue updates: those past due are counted, asked for by its own code, and
    # reworks its entries the authority returned (its own department's, returned ones only).
    assert paths("DATA_OFFICER") == [("/mandates", "本部门逾期未更新的目录"), ("/drafts", "退回修改的目录"),
                                     ("/disputes", "待解决的数据冲突")]
    officer = sessions.create(_person("DATA_OFFICER"), "t", sessions.now() + 600)
    assert [k.request(officer).department_code for k in todo.kinds_of(officer) if k.path == "/mandates"] == [POLICE]
    returned = [k.request(officer).filter for k in todo.kinds_of(officer) if k.path == "/drafts"]
    assert [(f.provider_department_code, f.state) for f in returned] == [(POLICE, 4)]  # ENTRY_STATE_RETURNED
    # An 审计员 reads disputes and applications but answers none, an 管理员 handles no matter: nothing is asked.
    assert paths("AUDITOR") == [] and paths("ADMINISTRATOR") == []


async def test_a_service_down_is_a_503_notice_and_an_ended_session_a_401() -> None:
    now = [1_000.0]
    app = create_app(ConsoleSettings(listen="127.0.0.1:0", gateway=_nowhere(), call_timeout_seconds=2,
                                     secure_cookie=False, session_idle_seconds=600), clock=lambda: now[0])
    sessions = app.state.console.sessions
    approver = sessions.create(_person("APPROVER"), "t", 10_000.0)
    auditor = sessions.create(_person("AUDITOR"), "t", 10_000.0)
    assert await _get(app, approver.id) == (503, {"kinds": [], "notice": todo.DOWN})
    # Nothing to count, nothing asked: not a notice about a service it never needed.
    assert await _get(app, auditor.id) == (200, {"kinds": [], "notice": ""})
    assert await _get(app, "forged") == (401, {"kinds": [], "notice": todo.ENDED})
    # Every page's menu carries a badge per entry, filled by console.js from /todo, and the notice's place.
    page = app.state.console.page(_request(app, "/grants", auditor.id, auditor), "refused.html", title="t",
                                  message="m").body.decode()
    assert 'data-todo-poll="30"' in page and 'data-todo="/"' in page and 'data-todo="/grants"' in page
    assert 'id="todo-notice"' in page


async def test_asking_for_the_counts_does_not_keep_an_unattended_session_signed_in() -> None:
    now = [1_000.0]
    app = create_app(ConsoleSettings(listen="127.0.0.1:0", gateway=_nowhere(), secure_cookie=False,
                                     session_idle_seconds=600), clock=lambda: now[0])
    sessions = app.state.console.sessions
    session = sessions.create(_person("AUDITOR"), "t", 10_000.0)
    for _ in range(3):  # the page open and polling for 15 minutes, nobody at it
        now[0] += 300
        status, _ = await _get(app, session.id)
    # Idle since 1,000: signed out after its 600 s as without the poll, the poll told so.
    assert status == 401 and sessions.get(session.id) == (None, False)


def test_a_sign_in_the_platform_ended_says_why_not_that_it_expired() -> None:
    """An administrator changing the roles of a person whose page was open (disabling them, resetting their
    credentials): the next count was refused ROLES_CHANGED and the menu said 登录已过期 (seen on a demo platform
    after 调整角色), which the person took for the idle time; the next page said the roles had changed."""
    import grpc

    from console.errors import Problem

    def notice(reason: str) -> tuple[int, str]:
        response = todo._answer([], [Problem("登录已失效", code=grpc.StatusCode.UNAUTHENTICATED, reason=reason)])
        return response.status_code, json.loads(bytes(response.body))["notice"]

    assert notice("ROLES_CHANGED") == (401, todo.ENDED_BECAUSE["roles"])
    assert notice("PERSON_DISABLED") == (401, todo.ENDED_BECAUSE["disabled"])
    assert notice("CREDENTIALS_RESET") == (401, todo.ENDED_BECAUSE["reset"])
    assert notice("TOKEN_EXPIRED") == (401, todo.ENDED)


class _Waiting(sharing_pb2_grpc.SharingServiceServicer):
    """A SharingService that answers its lists only once ``together`` of them are being asked at the same time:
    asked one after another, each waits for its caller's deadline."""

    def __init__(self, together: int) -> None:
        self.together, self.in_flight, self.most = together, 0, 0
        self.arrived = asyncio.Event()

    async def _wait(self) -> None:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        if self.in_flight >= self.together:
            self.arrived.set()
        try:
            await self.arrived.wait()
        finally:
            self.in_flight -= 1

    async def ListApplications(self, request, context):  # type: ignore[no-untyped-def]
        await self._wait()
        return sharing_pb2.ListApplicationsResponse()

    async def ListGrants(self, request, context):  # type: ignore[no-untyped-def]
        await self._wait()
        return sharing_pb2.ListGrantsResponse()


class _Empty(catalog_pb2_grpc.CatalogServiceServicer, dispute_pb2_grpc.DisputeServiceServicer,
             foundation_pb2_grpc.FoundationAdminServiceServicer):
    """The other lists 首页 asks for, each empty."""

    async def ListEntries(self, request, context):  # type: ignore[no-untyped-def]
        return catalog_pb2.ListEntriesResponse()

    async def ListDisputes(self, request, context):  # type: ignore[no-untyped-def]
        return dispute_pb2.ListDisputesResponse()

    async def ListConflicts(self, request, context):  # type: ignore[no-untyped-def]
        return foundation_pb2.ListConflictsResponse()


async def test_the_home_page_asks_for_its_lists_at_once() -> None:
    """首页 asked for each of its lists in turn: with the authorization service hung, each waited its whole call
    timeout, and a 审核员's page (待协调, 逾期未答复, 提供部门调整过的协调授权: three SharingService lists) took
    15 s to say the service did not answer (seen on a demo platform), beyond what a proxy in front of the console
    waits. It asks for them at once: the three are in flight together."""
    from console import pages

    sharing, empty = _Waiting(together=3), _Empty()
    server = grpc.aio.server()
    sharing_pb2_grpc.add_SharingServiceServicer_to_server(sharing, server)
    catalog_pb2_grpc.add_CatalogServiceServicer_to_server(empty, server)
    dispute_pb2_grpc.add_DisputeServiceServicer_to_server(empty, server)
    foundation_pb2_grpc.add_FoundationAdminServiceServicer_to_server(empty, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    app = create_app(ConsoleSettings(listen="127.0.0.1:0", gateway=f"127.0.0.1:{port}", call_timeout_seconds=5,
                                     secure_cookie=False))
    try:
        sessions = app.state.console.sessions
        reviewer = sessions.create(_person("REVIEWER"), "t", sessions.now() + 3_600)
        response = await pages.home(_request(app, "/", reviewer.id))
    finally:
        sharing.arrived.set()
        await app.state.console.services.close()
        await server.stop(0)
    assert sharing.most == 3
    assert response.status_code == 200, bytes(response.body).decode()[-1500:]
