"""待办: how many matters wait on the signed-in person, per kind, beside the menu entry that handles them.

A provider's 审批人 had to open 答复 to learn an application waited for their reply (10 working days), 疑义与冲突
to learn a dispute was open, or 授权 to learn a grant would end soon; the authority's 审核员 likewise for 审核, 协调
and 职能变更, and a department's 编目员 for its own catalogue updates past due (职能变更). Every page now shows the
count beside each of those entries (console.js asks ``/todo`` when the page opens and again every
``TODO_POLL_SECONDS`` while it is shown), and 首页 lists the matters themselves.

Why a poll and not the Redis events the console subscribes to (console/names.py): those say a department was
renamed or a catalog entry changed, not that an application was submitted, escalated or answered, nor a dispute
reported; and pushing them would hold a connection per open tab. One ``/todo`` every 30 s is one List call per kind
the person's roles act on (a page of at most ``COUNT_PAGE``, said "100+" beyond), made as the person: each service
answers for the person's department only, so a count never tells anything about another department's work.

Asking for the counts does not start the session's idle time again (``SessionStore.get(touch=False)``): a console
left open unattended still signs out after the idle time, and the counts stop then (401).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from console.app import COOKIE, ENDED_BY, Console, holds
from console.backend import Services
from console.errors import Problem
from console.pages import _call, _down, _expired, awaiting_answer, grants_ending, own_returned
from console.sessions import Session, SessionStoreUnavailable
from govshare.authorization.v1 import sharing_pb2
from govshare.catalog.v1 import catalog_pb2
from govshare.foundation.v1 import foundation_pb2
from govshare.query.v1 import dispute_pb2

#: One page per kind; a count of more than this is said "100+" (the list itself pages on its own page).
COUNT_PAGE = 100
#: What the menu says when a service could not count (the page itself keeps working).
DOWN = "部分待办暂时无法统计（平台服务暂时不可用），数量可能不全，稍后会自动重试。"
#: What it says once the session ended (the poll does not keep it alive).
ENDED = "登录已过期，待办数量不再更新，请重新登录。"
#: What it says when the platform ended the sign-in for a reason of its own (console.app.ENDED_BY): an administrator
#: who disabled the person, changed their roles or reset their credentials while the page was open left it saying
#: 登录已过期 in the menu, which the person took for the idle time and not for the change it was.
ENDED_BECAUSE = {
    "disabled": "您的账号已被停用，当前登录已失效，待办数量不再更新。如需继续使用，请联系共享主管部门的管理员"
                "（人员管理）核实并启用账号。",
    "roles": "您的角色已被管理员调整，当前登录已失效，待办数量不再更新：请重新登录，按调整后的角色继续使用。",
    "reset": "管理员已重置您的密码、动态口令或统一身份认证绑定，当前登录已失效，待办数量不再更新：请使用管理员"
             "告知的新密码或动态口令重新登录。",
}


@dataclass(frozen=True)
class Kind:
    """One kind of matter: the menu entry that handles it, who acts on it, and the one List call that finds it."""

    path: str
    label: str
    roles: frozenset[str]
    method: Callable[[Services], Any]
    #: The request, for the person's session (a count of their own department's matters names it).
    request: Callable[[Session], Any]
    #: The matters the answer holds that wait on the person's department.
    waiting: Callable[[Any, Session], list[Any]]


def _grants_ending(role: int) -> sharing_pb2.ListGrantsRequest:
    return grants_ending(role, COUNT_PAGE)


def _own_overdue_updates(session: Session) -> catalog_pb2.ListOverdueUpdatesRequest:
    """The person's department's catalogue updates past due: named, since the authority's 编目员 would otherwise
    be answered every department's (what its 审核员 counts as 逾期未更新的目录)."""
    return catalog_pb2.ListOverdueUpdatesRequest(page_size=COUNT_PAGE, department_code=session.person.department_code)


def _awaiting_answer(answer: Any, session: Session) -> list[Any]:
    return awaiting_answer(answer.disputes, session.person.department_code)


#: The kinds, as 首页 lists them, each to the roles that act on it (not who may only read it: an 审计员 reads the
#: disputes but answers none).
KINDS = (
    Kind("/replies", "待答复的申请", frozenset({"APPROVER"}), lambda s: s.sharing.ListApplications,
         lambda _: sharing_pb2.ListApplicationsRequest(role=sharing_pb2.APPLICATION_ROLE_PROVIDER,
                                                       state=sharing_pb2.APPLICATION_STATE_SUBMITTED,
                                                       page_size=COUNT_PAGE),
         lambda answer, _: list(answer.applications)),
    Kind("/applications", "逾期未获答复的申请", frozenset({"APPLICANT"}), lambda s: s.sharing.ListApplications,
         lambda _: sharing_pb2.ListApplicationsRequest(role=sharing_pb2.APPLICATION_ROLE_APPLICANT, overdue_only=True,
                                                       page_size=COUNT_PAGE),
         lambda answer, _: list(answer.applications)),
    Kind("/grants", "即将到期的授权（本部门使用）", frozenset({"APPLICANT"}), lambda s: s.sharing.ListGrants,
         lambda _: _grants_ending(sharing_pb2.APPLICATION_ROLE_APPLICANT), lambda answer, _: list(answer.grants)),
    Kind("/grants", "即将到期的授权（本部门提供）", frozenset({"APPROVER"}), lambda s: s.sharing.ListGrants,
         lambda _: _grants_ending(sharing_pb2.APPLICATION_ROLE_PROVIDER), lambda answer, _: list(answer.grants)),
    Kind("/review", "待审核的目录", frozenset({"REVIEWER"}), lambda s: s.catalog.ListEntries,
         lambda _: catalog_pb2.ListEntriesRequest(
             filter=catalog_pb2.EntryFilter(state=catalog_pb2.ENTRY_STATE_SUBMITTED), page_size=COUNT_PAGE),
         lambda answer, _: list(answer.entries)),
    Kind("/coordination", "待协调的申请", frozenset({"REVIEWER"}), lambda s: s.sharing.ListApplications,
         lambda _: sharing_pb2.ListApplicationsRequest(state=sharing_pb2.APPLICATION_STATE_ESCALATED,
                                                       page_size=COUNT_PAGE),
         lambda answer, _: list(answer.applications)),
    Kind("/mandates", "逾期未更新的目录", frozenset({"REVIEWER"}), lambda s: s.catalog.ListOverdueUpdates,
         lambda _: catalog_pb2.ListOverdueUpdatesRequest(page_size=COUNT_PAGE),
         lambda answer, _: list(answer.updates)),
    Kind("/mandates", "本部门逾期未更新的目录", frozenset({"DATA_OFFICER"}), lambda s: s.catalog.ListOverdueUpdates,
         _own_overdue_updates, lambda answer, _: list(answer.updates)),
    Kind("/drafts", "退回修改的目录", frozenset({"DATA_OFFICER"}), lambda s: s.catalog.ListEntries,
         lambda session: own_returned(session, COUNT_PAGE), lambda answer, _: list(answer.entries)),
    Kind("/disputes", "待处理的疑义", frozenset({"APPROVER", "REVIEWER"}), lambda s: s.disputes.ListDisputes,
         lambda _: dispute_pb2.ListDisputesRequest(state=dispute_pb2.DISPUTE_STATE_OPEN, page_size=COUNT_PAGE),
         _awaiting_answer),
    Kind("/disputes", "待解决的数据冲突", frozenset({"DATA_OFFICER", "REVIEWER"}),
         lambda s: s.foundation.ListConflicts,
         lambda _: foundation_pb2.ListConflictsRequest(state=foundation_pb2.CONFLICT_STATE_OPEN, page_size=COUNT_PAGE),
         lambda answer, _: list(answer.conflicts)),
)


def kinds_of(session: Session) -> list[Kind]:
    """The kinds the person's roles act on (none for a role that acts on nothing: no call is made)."""
    return [kind for kind in KINDS if holds(session, kind.roles)]


async def _count(console: Console, session: Session, kind: Kind) -> tuple[dict[str, Any] | None, Problem | None]:
    answer, problem = await _call(console, session, kind.method(console.services), kind.request(session))
    if problem is not None:
        return None, problem
    waiting = kind.waiting(answer, session)
    return {"path": kind.path, "label": kind.label, "count": len(waiting),
            "more": bool(answer.next_page_token)}, None


async def counts(console: Console, session: Session) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Each kind's count for the person (the calls made at once), and the problems of those that failed."""
    results = await asyncio.gather(*(_count(console, session, kind) for kind in kinds_of(session)))
    return [c for c, _ in results if c is not None], [p for _, p in results if p is not None]


def _answer(counted: Iterable[dict[str, Any]], problems: list[Problem]) -> JSONResponse:
    if (ended := next((p for p in problems if _expired(p)), None)) is not None:
        return JSONResponse({"kinds": [], "notice": ENDED_BECAUSE.get(ENDED_BY.get(ended.reason, ""), ENDED)},
                            status_code=401)
    # A service that is down must not look like "nothing waits for you": the counts answered, and a notice (503).
    down = _down(*problems)
    return JSONResponse({"kinds": list(counted), "notice": DOWN if down is not None else ""},
                        status_code=503 if down is not None else 200)


async def todo(request: Request) -> Response:
    """The person's 待办 counts as JSON, for console.js: {kinds: [{path, label, count, more}], notice}."""
    console: Console = request.app.state.console
    try:
        session, _ = console.sessions.get(request.cookies.get(COOKIE), touch=False)
    except SessionStoreUnavailable:
        return JSONResponse({"kinds": [], "notice": DOWN}, status_code=503)
    if session is None or session.person.password_change_required:
        return JSONResponse({"kinds": [], "notice": ENDED if session is None else ""},
                            status_code=401 if session is None else 200)
    return _answer(*await counts(console, session))


def routes() -> list[Route]:
    return [Route("/todo", todo, methods=["GET"])]
