"""The console's pages: each lists with pages, each action says what it did, each refusal what to fix.

Handlers map a form to one request, make the call as the person (Services.call with the session's token) and
render the answer; a refused call shows the page again with the service's reasons (console.errors). Nothing
personal goes in a URL: ID-number lookups and every change are POSTs, lists page with opaque page tokens.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import unicodedata
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import grpc
from google.protobuf import field_mask_pb2, timestamp_pb2
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from console import charts, forms, labels
from console.app import (
    FORM_SENT,
    Console,
    before_calendar,
    calls,
    day,
    days_in_force,
    holds,
    indicator_rate,
    login_redirect,
    not_yours,
    provisional_note,
    signed_in,
    typed_texts,
    until,
    when,
    working_days_left,
)
from console.errors import (
    DEPARTMENT_UNAVAILABLE,
    PAGE_TOKEN_REFUSED,
    REASON_SENTENCES,
    REQUIRED,
    Problem,
    department_refused,
    problem_of,
    reads,
)
from console.names import Resource
from console.sessions import Person, Session
from console.versions import version_changes
from govshare.authorization.v1 import admin_log_pb2, directory_pb2, directory_pb2_grpc, sharing_pb2
from govshare.catalog.v1 import catalog_pb2
from govshare.common.v1 import common_pb2
from govshare.foundation.v1 import foundation_pb2
from govshare.query.v1 import audit_pb2, dispute_pb2
from govshare.supervision.v1 import supervision_pb2
from services.runtime.excel_csv import csv_bytes
from services.runtime.identifiers import told_apart
from services.runtime.workdays import CHINA
from services.supervision.months import MAX_YEAR, MIN_YEAR
from services.supervision.report_client import TIMEOUT_SECONDS as REPORT_TIMEOUT_SECONDS
from services.supervision.reports import INDICATORS, RULES, evidence_text, subject_text

log = logging.getLogger("govshare.console")
#: ListApplications' order for the lists of applications waiting for someone: the one waiting longest first (newest
#: first, a provider with more waiting than a page holds found the most urgent on the last page).
BY_DUE = "reply_due_time"
#: ListDisputes' order for the earliest answer deadline first.
DISPUTES_BY_DUE = "due_time"
#: A grant in force ending within this many days is 即将到期 (首页 lists it, the menu counts it): its holder's new
#: application may wait the provider's 10 working days (some two weeks) and a coordination more, so a month ahead
#: leaves room to apply again, and the provider to extend it.
GRANT_NOTICE_DAYS = 30
#: How far back 首页 tells the authority's 审核员 of the coordinated grants a provider adjusted.
COORDINATION_ADJUSTED_DAYS = 30
#: Who acts on a grant ending soon, by side: the provider's 审批人 may extend it, the holder's 申请人 applies again.
GRANT_SIDES = (("APPROVER", sharing_pb2.APPLICATION_ROLE_PROVIDER),
               ("APPLICANT", sharing_pb2.APPLICATION_ROLE_APPLICANT))


async def _call(console: Console, session: Session, method: Any, request: Any, wait_seconds: float = 0.0
                ) -> tuple[Any, Problem | None]:
    """The answer, or the Problem the service refused it with (never raises for a gRPC error)."""
    try:
        return await console.services.call(session.token, method, request, wait_seconds), None
    except grpc.aio.AioRpcError as error:
        # A refusal naming the department whose matter it is said its 统一社会信用代码 (此事项属于部门
        # 11110100MB00000027…): a person knows 市公安局, not its code.
        names = await console.names.departments(session.token, [department_refused(error)])
        path = method._method.decode() if hasattr(method, "_method") else ""
        problem = problem_of(error, names, reading=reads(path))
        log.info("call refused: %s %s", path, error.code())
        return None, problem


async def _item_names(console: Console, session: Session, codes: Any) -> dict[str, dict[str, str]]:
    """Each resource's data items by machine name → Chinese name (from its catalog entry, through the names
    cache), for display; a resource the person may not read keeps its machine names."""
    return {code: resource.items for code, resource in
            (await console.names.resources(session.token, codes)).items()}


async def _names(console: Console, session: Session, departments: Any = (), resources: Any = ()) -> dict[str, Any]:
    """The names the templates show beside codes (``m.dept`` and ``m.res``): department code → name and
    resource code → name, looked up as the person through console/names.py's cache."""
    found = await console.names.resources(session.token, resources)
    return {"dept_names": await console.names.departments(session.token, departments),
            "res_names": {code: resource.name for code, resource in found.items()}}


def _named(names: dict[str, dict[str, str]], code: str, items: Any) -> str:
    return "、".join(names.get(code, {}).get(i, i) for i in items)


def _expired(problem: Problem | None) -> bool:
    return problem is not None and problem.code == grpc.StatusCode.UNAUTHENTICATED


def _ended(problem: Problem | None) -> RedirectResponse:
    """To the sign-in page, saying why the platform refused the person's token (the account disabled, the roles
    changed), or that the sign-in expired."""
    return login_redirect(True, problem.reason if problem is not None else "")


def _done(session: Session, message: str, to: str) -> RedirectResponse:
    """Post/redirect/get: the next page shows what was done, once."""
    session.flash = message
    return RedirectResponse(to, status_code=303)


def _refused(console: Console, request: Request, problem: Problem) -> Response:
    """The page of an action refused or not done, with ``返回`` to its list. A form's refusal shows what was typed
    in it, to copy: 答复's reason to the applicant, 撤销授权's, 协调's, 退回's, a dispute's answer were gone when
    the platform did not answer (平台服务暂时不可用…请稍后重试: the retry began with an empty form) or another
    person acted first."""
    if _expired(problem):
        return _ended(problem)
    sent = request.scope.get(FORM_SENT) if request.method == "POST" else None
    message = problem.message
    if problem.fields and message != PAGE_TOKEN_REFUSED and request.method == "GET":
        message = _link_problem(problem.fields)
    elif problem.fields and message != PAGE_TOKEN_REFUSED:  # this page has no form to show them beside: say them
        message = "提交的内容有误：" + "；".join(problem.fields.values())
    # A page opened (GET) does nothing: its title said 操作未完成 above "数据未能加载", as if something were undone.
    title = "操作未完成" if request.method == "POST" else "页面未能显示"
    return console.page(request, "refused.html", status=_status(problem), title=title,
                        message=message, back=_BACK.get(request.url.path, request.url.path),
                        kept=typed_texts(sent) if sent is not None else [])


#: What a page's address names (its query string), as a refused link's page says it.
_LINK_FIELDS = {"id": "编号", "code": "资源代码", "resource_code": "资源代码", "department_code": "部门代码",
                "year": "年份", "month": "月份"}


def _link_problem(fields: dict[str, str]) -> str:
    """A refused address (an id or a code missing from it or not one: a link cut short, a bookmark, a typed URL):
    which part, and to open it again from its list. It said "提交的内容有误：此项必填，请选择或填写。", as if a form
    had been sent, without saying which 此项."""
    parts = [f"缺少{_LINK_FIELDS.get(name, '参数')}。" if sentence == REQUIRED else
             f"{_LINK_FIELDS.get(name, '参数')}有误：{sentence}" for name, sentence in fields.items()]
    return "打开的链接不完整或有误，请从列表或页面上的链接重新打开：" + "".join(parts)


#: Where a refusal's "返回" leads from a page about one object or a POST-only action: the list it was reached
#: from. Its own path again (without the object's id) was another refusal, or a 405 for a POST-only action.
_BACK = {"/catalog/entry": "/catalog", "/apply": "/catalog", "/drafts/new": "/drafts", "/drafts/edit": "/drafts",
         "/drafts/submit": "/drafts", "/drafts/retire": "/drafts", "/applications/view": "/applications",
         "/applications/escalate": "/applications", "/applications/withdraw": "/applications",
         "/persons/view": "/persons", "/persons/new": "/persons",
         "/supervision/report": "/supervision", "/supervision/export": "/supervision",
         "/persons/action": "/persons", "/persons/roles": "/persons", "/departments/rename": "/departments",
         "/departments/retire": "/departments"}


#: The platform's failures, not the person's: the page says the service is temporarily unavailable (503).
_PLATFORM_DOWN = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def _status(problem: Problem) -> int:
    if problem.reason in DEPARTMENT_UNAVAILABLE:
        return 502  # a department's system behind the platform did not answer: the platform itself is up
    if problem.code in _PLATFORM_DOWN:
        return 503
    return {grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.PERMISSION_DENIED: 403,
            grpc.StatusCode.NOT_FOUND: 404, grpc.StatusCode.FAILED_PRECONDITION: 409, grpc.StatusCode.ABORTED: 409,
            # Taken by someone else (two people creating one code or username at once): a conflict, as the
            # REST edge answers it, not a form to correct.
            grpc.StatusCode.ALREADY_EXISTS: 409,
            }.get(problem.code, 400)  # type: ignore[arg-type]


def _status_of(problem: Problem | None) -> int:
    """A listing page's status: 200, or the refusal's when its list could not be read (shown in its box)."""
    return _status(problem) if problem is not None else 200


def _down(*problems: Problem | None) -> Problem | None:
    """The first of several calls' problems that is the platform being down (the home page's lists)."""
    return next((p for p in problems if p is not None and p.code in _PLATFORM_DOWN), None)


#: A step on an application refused because it is no longer where the page showed it (services/authorization
#: sharing.py): another 审批人 or 审核员 answered it meanwhile, or the applicant escalated or withdrew it (and, for
#: the applicant's own steps, the provider answered it or a colleague escalated it first).
_ANSWERED_MEANWHILE = frozenset({"WRONG_STATE", "STATE_CHANGED", "NOT_WITHDRAWABLE", "NOT_ESCALATABLE"})
_DECISIONS = frozenset({"APPROVED", "REFUSED", "ESCALATED", "COORDINATED_GRANTED", "COORDINATED_REFUSED",
                        "WITHDRAWN", "CLOSED"})


async def _answered_meanwhile(console: Console, session: Session, app_id: str, problem: Problem,
                              what: str) -> Problem:
    """``problem`` as the person who pressed the button needs it when someone else decided the application first:
    what it is now, by whom and when (two approvers with 答复 open, the second was told in English that
    "application app-… is APPROVED: it cannot be replied to now"). Any other refusal is returned as it is."""
    if problem.reason not in _ANSWERED_MEANWHILE:
        return problem
    got, other = await _call(console, session, console.services.sharing.GetApplication,
                             sharing_pb2.GetApplicationRequest(id=app_id))
    a = got.application if other is None else None
    # The step that moved it (a grant's later adjustments are in its history too).
    step = next((h for h in reversed(a.history) if h.action in _DECISIONS), None) if a is not None else None
    if a is None or step is None:
        return problem
    departments = await console.names.departments(session.token, [step.actor_department_code])
    by = step.actor_display_name or step.actor_system_id
    department = departments.get(step.actor_department_code, step.actor_department_code)
    return Problem(f"申请 {a.id} 已由 {by}（{department}）于 {when(step.time)} "
                   f"{labels.APPLICATION_EVENT.get(step.action, step.action)}，现为“"
                   f"{labels.APPLICATION_STATE.get(a.state, '')}”：您的{what}未提交。请打开申请查看办理过程。",
                   code=problem.code, reason=problem.reason)


Fetch = Callable[[Console, Session, str], Awaitable[Any]]


async def _with_target(console: Console, session: Session, listed: list[Any], target: str, fetch: Fetch,
                       key: str = "id") -> list[Any]:
    """A list page shown again after a decision on ``target`` (the listed objects' ``key``) was refused beside its
    fields: ``target`` first when the page's list does not hold it. The form posts to the list's first page, so a
    reply to an application on a later page (or one the first page no longer holds) came back without its card,
    its reason typed and its error nowhere to be seen."""
    if not target or any(getattr(item, key) == target for item in listed):
        return listed
    found = await fetch(console, session, target)
    return [found, *listed] if found is not None else listed


def _pending_application(state: int) -> Fetch:
    """The application ``target`` while it is in ``state`` (else None: decided meanwhile, no form to show)."""

    async def fetch(console: Console, session: Session, target: str) -> Any:
        got, _problem = await _call(console, session, console.services.sharing.GetApplication,
                                    sharing_pb2.GetApplicationRequest(id=target))
        return got.application if got is not None and got.application.state == state else None
    return fetch


async def _grant_of(console: Console, session: Session, target: str) -> Any:
    got, _problem = await _call(console, session, console.services.sharing.GetGrant,
                                sharing_pb2.GetGrantRequest(id=target))
    return got.grant if got is not None else None


async def _open_dispute(console: Console, session: Session, target: str) -> Any:
    """The dispute ``target`` while it is still open (else None: answered meanwhile, no form to show)."""
    got, _problem = await _call(console, session, console.services.disputes.GetDispute,
                                dispute_pb2.GetDisputeRequest(id=target))
    return got.dispute if got is not None and got.dispute.state == dispute_pb2.DISPUTE_STATE_OPEN else None


def _page_token(request: Request) -> str:
    return request.query_params.get("page_token", "")


def _this_page(path: str, request: Request) -> str:
    """``path`` at the page a decision was sent from (its page_token): one taken on 答复's second page (审核, 协调,
    授权 alike) came back to the first, and the person paged on again to find the card after the one decided."""
    token = _page_token(request)
    return f"{path}?page_token={urllib.parse.quote(token, safe='')}" if token else path


def _emptied(request: Request, listed: Sequence[Any]) -> RedirectResponse | None:
    """To the first page when a later one has nothing left on it (its last card decided, here or by another
    person): "没有待答复的申请" there, while the first page held some, said the queue was empty."""
    if request.method == "GET" and _page_token(request) and not listed:
        return RedirectResponse(request.url.path, status_code=303)
    return None


def _text(form: FormData, name: str) -> str:
    return str(form.get(name, "")).strip()


def _typed(form: FormData, *names: str) -> dict[str, Any]:
    """What was typed in a decision form (its text fields ``names`` and the 信息项 checked), to show that form
    again as it was sent when the decision is refused: the lists' forms are drawn from the objects' own values, so
    a refused reply or coordination decision came back with the reason typed gone and every item checked again."""
    return {name: str(form.get(name, "")) for name in names} | {"items": form.getlist("items")}


#: What a page says to a post whose button value is none of its buttons'.
UNKNOWN_ACTION = "未知的操作，请回到页面，用页面上的按钮重新操作。"


def _choice(form: FormData, name: str, *values: str) -> str:
    """Which of the page's buttons ``name`` was pressed, or "" for none of them (a post no button of the page
    sends: scripted, forged or from an older page), which the caller refuses instead of taking the value it
    tests last for granted, as these pages did (any decision but "publish" returned an entry)."""
    value = _text(form, name)
    return value if value in values else ""


def _unknown_action(console: Console, request: Request) -> Response:
    return _refused(console, request, Problem(UNKNOWN_ACTION, code=grpc.StatusCode.INVALID_ARGUMENT))


def _quota(form: FormData) -> int | None:
    """The quota typed (full-width digits too, 1000次 with its unit), None when blank or not a whole number an int64
    holds."""
    return forms.number(forms.unit_removed(_text(form, "quota"), "次"), forms.INT64_MAX)


#: What 0 (or a blank 调用上限) means on each form that has one: an application's is no limit, while a reply's or a
#: coordination decision's keeps the quota applied for (ReplyApplicationRequest.quota: "0 keeps the request's"), so
#: the sentence "0 表示不限" there told an approver that 0 grants calls without limit, when it grants those applied for.
QUOTA_ZERO = {"apply": "0 或不填表示不限", "decision": "不填则按申请的上限", "grant": "不填则不变，0 表示不限"}


def _quota_error(form: FormData, field: str, zero: str) -> dict[str, str]:
    """The quota's violation when something was typed that is not a quota (else nothing); ``zero``: QUOTA_ZERO's
    key of the form."""
    if _text(form, "quota") and _quota(form) is None:
        return {field: f"调用上限请填写不超过 9223372036854775807 的非负整数（{QUOTA_ZERO[zero]}）。"}
    return {}


#: What a page says to a 有效期至 that is no date.
MALFORMED_END = "请按 年-月-日 填写有效期截止日期。"


def _changed_end(form: FormData) -> tuple[timestamp_pb2.Timestamp | None, bool]:
    """The end a decision form's 有效期至 sets (23:59:59 Beijing time of its date), and whether it is malformed.

    The form shows the request's (or the grant's) own end by its date, and that end may be any time of the day
    (a system applying through the API says 00:00 UTC): sent back as the day's 23:59:59 it was later than
    requested, so an untouched reply or coordination form was refused as a widening and saving a grant's quota
    lengthened it. The date the form was shown with (``expire_date_shown``) therefore sends nothing, keeping
    the end as it is."""
    text = _text(form, "expire_date")
    if not text or text == _text(form, "expire_date_shown"):
        return None, False
    end = forms.end_of_day(text)
    return end, end is None


# -- 首页 ------------------------------------------------------------------------------------------------------

@signed_in
async def home(console: Console, request: Request, session: Session) -> Response:
    """What waits for me: replies due (red when ≤ N working days), entries to review, escalated applications to
    coordinate (the authority's 审核员), disputes, conflicts."""
    s = console.services
    size = console.settings.page_size
    # Each list to the roles that act on it (as PAGES says): a 审批人 read 待审核的目录 and 待解决的数据冲突, an
    # 申请人 or a 管理员 four lists that were never theirs, each "没有…", as if checked and empty.
    show_replies, show_reviews = holds(session, ("APPROVER",)), holds(session, ("REVIEWER",))
    show_disputes = holds(session, ("APPROVER", "REVIEWER", "AUDITOR"))
    # Conflicts are read by who decides about records (ListConflicts' CONFLICT_READERS): an 审计员's home page asked
    # for them, was refused, and the refusal went to the administrative log at every visit.
    show_conflicts = holds(session, ("DATA_OFFICER", "REVIEWER"))
    # Every list at once: asked in turn, each waiting its whole timeout when a service hung, 首页 took the sum of
    # them (a 审核员's three SharingService lists, 15 s with the authorization service stopped), beyond what a
    # proxy in front of the console waits. The comments say why each list is there.
    show_mine = holds(session, ("APPLICANT",))
    show_ending = holds(session, [role for role, _ in GRANT_SIDES])
    show_returned = holds(session, ("DATA_OFFICER",))

    def asked(shown: bool, method: Any, request: Any) -> Awaitable[tuple[Any, Problem | None]]:
        return _call(console, session, method, request) if shown else _not_asked()

    (replies, p1), (reviews, p2), (disputes, p3), (conflicts, p4), (escalated, p5), (late, p6), (mine, p7), \
        (ending, p8), (returned, p9), (adjusted, p10) = await asyncio.gather(
            asked(show_replies, s.sharing.ListApplications, sharing_pb2.ListApplicationsRequest(
                role=sharing_pb2.APPLICATION_ROLE_PROVIDER, state=sharing_pb2.APPLICATION_STATE_SUBMITTED,
                page_size=size, order_by=BY_DUE)),
            asked(show_reviews, s.catalog.ListEntries, catalog_pb2.ListEntriesRequest(
                filter=catalog_pb2.EntryFilter(state=catalog_pb2.ENTRY_STATE_SUBMITTED), page_size=size)),
            # Due soonest first, as the applications: newest first, a department with more open disputes than a
            # page holds never saw on its home page the ones waiting longest, the overdue ones among them.
            asked(show_disputes, s.disputes.ListDisputes, dispute_pb2.ListDisputesRequest(
                state=dispute_pb2.DISPUTE_STATE_OPEN, page_size=size, order_by=DISPUTES_BY_DUE)),
            asked(show_conflicts, s.foundation.ListConflicts, foundation_pb2.ListConflictsRequest(
                state=foundation_pb2.CONFLICT_STATE_OPEN, page_size=size)),
            asked(show_reviews, s.sharing.ListApplications, sharing_pb2.ListApplicationsRequest(
                state=sharing_pb2.APPLICATION_STATE_ESCALATED, page_size=size)),
            # R-APP-2: overdue replies are visible to the authority, which steps in when a provider is late (every
            # department's, as the authority lists them); its home page listed none, only 监督's figures counted them.
            asked(show_reviews, s.sharing.ListApplications, sharing_pb2.ListApplicationsRequest(
                overdue_only=True, page_size=size, order_by=BY_DUE)),
            # The applicant's own left unanswered past their due day: theirs to escalate (R-APP-3) or withdraw,
            # which nothing told them (their home page said nothing waited for them; 我的申请 marked them among all).
            asked(show_mine, s.sharing.ListApplications, sharing_pb2.ListApplicationsRequest(
                role=sharing_pb2.APPLICATION_ROLE_APPLICANT, overdue_only=True, page_size=size, order_by=BY_DUE)),
            # Grants ending soon: the menu counted them (console/todo.py), nothing listed which, nor how long each had.
            _grants_ending(console, session) if show_ending else _none_ending(),
            # The department's entries returned by the 审核员: the 编目员's to rework, with the reason (console/todo).
            asked(show_returned, s.catalog.ListEntries, own_returned(session, size)),
            # Grants the authority's coordination gave that their provider narrowed since: the reason was kept in the
            # application's history and the administrative log alone, where the 审核员 who decided never looked.
            asked(show_reviews, s.sharing.ListGrants, coordination_adjusted(size)))
    # A service that is down must not look like "nothing waits for you": say so, with a 503.
    down = _down(p1, p2, p3, p4, p5, p6, p7, p8, p9, p10)
    if (ended := next((p for p in (p1, p2, p3, p4, p5, p6, p7, p8, p9, p10) if _expired(p)), None)) is not None:
        return _ended(ended)
    changed = list(adjusted.grants) if adjusted else []
    due = [(a, working_days_left(a.reply_due_time)) for a in (replies.applications if replies else [])]
    coordinate = list(escalated.applications) if escalated else []
    overdue = [(a, working_days_left(a.reply_due_time)) for a in (late.applications if late else [])]
    unanswered = [(a, working_days_left(a.reply_due_time)) for a in (mine.applications if mine else [])]
    # With the working days left, as the applications: a dispute due in a day read like one due in a week, and
    # one a day late like one a month late (已逾期 alone).
    shown_disputes = [(d, working_days_left(d.due_time)) for d in
                      awaiting_answer(disputes.disputes if disputes else [], session.person.department_code)]
    names = await _names(console, session, [a.applicant_department_code for a, _ in due] +
                         [c for a in coordinate for c in (a.applicant_department_code, a.provider_department_code)] +
                         [c for a, _ in overdue for c in (a.applicant_department_code, a.provider_department_code)] +
                         [a.provider_department_code for a, _ in unanswered] +
                         [e.provider_department_code for e in (reviews.entries if reviews and show_reviews else [])] +
                         [g.department_code for g, _ in ending] +
                         [c for g in changed for c in (g.department_code, g.changed_by.department_code)],
                         [a.resource_code for a, _ in due] + [a.resource_code for a in coordinate] +
                         [a.resource_code for a, _ in overdue] + [d.resource_code for d, _ in shown_disputes] +
                         [a.resource_code for a, _ in unanswered] + [g.resource_code for g, _ in ending] +
                         [g.resource_code for g in changed])
    # 即将到期的授权 told every provider's 审批人 they may extend these: not one the authority's coordination gave.
    fixed = given_by_coordination([g for g, _ in ending],
                                  await console.names.resources(session.token, [g.resource_code for g, _ in ending]))
    return console.page(request, "home.html", status=_status_of(down), title="首页", due=due, **names, problem=down,
                        item_names=await _item_names(console, session, [d.resource_code for d, _ in shown_disputes]),
                        warn=console.settings.deadline_warning_working_days,
                        reviews=reviews.entries if reviews and show_reviews else [],
                        show_coordination=show_reviews, coordinate=coordinate, overdue=overdue,
                        adjusted=changed, adjusted_days=COORDINATION_ADJUSTED_DAYS,
                        show_mine=show_mine, unanswered=unanswered,
                        show_replies=show_replies, show_reviews=show_reviews, show_disputes=show_disputes,
                        show_conflicts=show_conflicts, show_ending=show_ending, ending=ending,
                        show_returned=show_returned, returned=returned.entries if returned else [],
                        by_coordination=fixed,
                        notice_days=GRANT_NOTICE_DAYS, more=_more(replies=replies, reviews=reviews,
                                                                  coordinate=escalated, overdue=late, unanswered=mine,
                                                                  adjusted=adjusted),
                        disputes=shown_disputes, conflicts=conflicts.conflicts if conflicts else [])


async def _not_asked() -> tuple[None, None]:
    """A list of 首页 the person's roles do not act on: nothing asked."""
    return None, None


async def _none_ending() -> tuple[list[tuple[Any, int]], None]:
    """即将到期的授权 of a person on neither side of a grant: nothing asked."""
    return [], None


def _more(**answers: Any) -> dict[str, bool]:
    """Which of 首页's lists hold one page only of more (the answer has a next page): the page showed the first ten
    waiting replies, reviews or escalations and nothing else, so a 审批人 with twelve due took those ten for all."""
    return {name: bool(answer is not None and answer.next_page_token) for name, answer in answers.items()}


def own_returned(session: Session, page_size: int) -> catalog_pb2.ListEntriesRequest:
    """The person's department's entries the authority's 审核员 returned (退回修改): the 编目员's to rework and submit
    again, which only 编目's list showed; the menu counted nothing and 首页 said only 没有待解决的冲突."""
    return catalog_pb2.ListEntriesRequest(filter=catalog_pb2.EntryFilter(
        provider_department_code=session.person.department_code, state=catalog_pb2.ENTRY_STATE_RETURNED),
        page_size=page_size)


def coordination_adjusted(page_size: int) -> sharing_pb2.ListGrantsRequest:
    """ListGrants for the coordinated grants their provider adjusted within ``COORDINATION_ADJUSTED_DAYS``, newest
    first: what the authority's 审核员 is told on 首页."""
    since = timestamp_pb2.Timestamp()
    since.FromDatetime(dt.datetime.now(dt.UTC) - dt.timedelta(days=COORDINATION_ADJUSTED_DAYS))
    return sharing_pb2.ListGrantsRequest(provider_adjusted_after=since, page_size=page_size)


def grants_ending(role: int, page_size: int) -> sharing_pb2.ListGrantsRequest:
    """ListGrants for one side's grants in force ending within ``GRANT_NOTICE_DAYS``."""
    before = timestamp_pb2.Timestamp()
    before.FromDatetime(dt.datetime.now(dt.UTC) + dt.timedelta(days=GRANT_NOTICE_DAYS))
    return sharing_pb2.ListGrantsRequest(role=role, expire_before=before, page_size=page_size)


async def _grants_ending(console: Console, session: Session) -> tuple[list[tuple[Any, int]], Problem | None]:
    """The grants ending soon on each side the person acts on, the soonest first, with the days left."""
    found: list[Any] = []
    for role, side in GRANT_SIDES:
        if not holds(session, (role,)):
            continue
        answer, problem = await _call(console, session, console.services.sharing.ListGrants,
                                      grants_ending(side, console.settings.page_size))
        if problem is not None:
            return [], problem
        found += answer.grants
    found.sort(key=lambda g: (g.expire_time.seconds, g.id))
    return [(g, days_in_force(g.expire_time)) for g in found], None


def awaiting_answer(disputes: Iterable[Any], department_code: str) -> list[Any]:
    """The open disputes that wait on ``department_code`` or that it oversees: not those it reported itself, which
    its persons read (73a312e) but only the provider answers: 首页 told a reporting 审批人 to handle them."""
    return [d for d in disputes if d.reporter_department_code != department_code]


# -- 目录 ------------------------------------------------------------------------------------------------------

def _filter_of(params: Any) -> catalog_pb2.EntryFilter:
    def number(name: str) -> int:
        return forms.number(params.get(name, "")) or 0
    return catalog_pb2.EntryFilter(category=number("category"), share_type=number("share_type"),
                                   update_cycle=number("update_cycle"), zone=number("zone"),
                                   provider_department_code=str(params.get("provider", "")).strip())


@signed_in
async def catalog(console: Console, request: Request, session: Session) -> Response:
    q = request.query_params.get("q", "").strip()
    if forms.RESOURCE_CODE.fullmatch(code := forms.typed_code(q)):
        # A resource code typed as the keyword (from a letter, a grant, an access record) opens its entry: the
        # search reads names, summaries and item names only, and said 没有符合条件的资源 of a resource that exists.
        return RedirectResponse(f"/catalog/entry?code={urllib.parse.quote(code, safe='')}", status_code=303)
    entry_filter = _filter_of(request.query_params)
    entry_filter.state = catalog_pb2.ENTRY_STATE_PUBLISHED
    if q:
        answer, problem = await _call(console, session, console.services.catalog.SearchEntries,
                                      catalog_pb2.SearchEntriesRequest(query=q, filter=entry_filter,
                                                                       page_size=console.settings.page_size,
                                                                       page_token=_page_token(request)))
    else:
        answer, problem = await _call(console, session, console.services.catalog.ListEntries,
                                      catalog_pb2.ListEntriesRequest(filter=entry_filter,
                                                                     page_size=console.settings.page_size,
                                                                     page_token=_page_token(request)))
    if _expired(problem):
        return _ended(problem)
    params = {k: v for k, v in request.query_params.items() if k != "page_token"}
    shown = answer.entries if answer else []
    return console.page(request, "catalog.html", status=_status_of(problem), title="目录",
                        **await _names(console, session, [e.provider_department_code for e in shown]),
                        entries=shown,
                        next_token=answer.next_page_token if answer else "", params=params, q=q,
                        problem=problem, errors=_catalog_errors(problem))


#: The catalog's query-string inputs by the request field the service names in its violations.
_CATALOG_INPUTS = {"query": "q", "provider_department_code": "provider"}


def _catalog_errors(problem: Problem | None) -> dict[str, str]:
    """Violations beside the catalog's filter inputs (named q and provider, not as the request's fields)."""
    return _input_errors(problem, _CATALOG_INPUTS, "filter.")


def _input_errors(problem: Problem | None, inputs: dict[str, str], prefix: str = "") -> dict[str, str]:
    """Violations keyed by the name of the input they concern (``inputs`` maps the request's field to the input
    where the names differ): the page says "fix the fields as their hints say", so each hint must be beside its
    input."""
    if problem is None:
        return {}
    return {inputs.get(name, name): text for name, text in forms.field_errors(problem.fields, prefix).items()}


@signed_in
async def entry(console: Console, request: Request, session: Session) -> Response:
    code = request.query_params.get("code", "")
    version = request.query_params.get("version", "")
    got, problem = await _call(console, session, console.services.catalog.GetEntry, catalog_pb2.GetEntryRequest(
        code=code, version=forms.number(version) or 0))
    if problem:
        return _refused(console, request, problem)
    # A refused version list is said in its section (it showed no versions: a stale v_token, the catalog down).
    versions, versions_problem = await _call(console, session, console.services.catalog.ListEntryVersions,
                                             catalog_pb2.ListEntryVersionsRequest(
                                                 code=code, page_size=console.settings.page_size,
                                                 page_token=request.query_params.get("v_token", "")))
    params = {k: v for k, v in request.query_params.items() if k != "v_token"}
    return console.page(request, "entry.html", status=_status_of(_down(versions_problem)), title=got.entry.name,
                        entry=got.entry, versions_problem=versions_problem,
                        **await _names(console, session, [got.entry.provider_department_code]),
                        versions=versions.versions if versions else [],
                        versions_next=versions.next_page_token if versions else "", params=params)


# -- 编目 ------------------------------------------------------------------------------------------------------

#: The states of the entries being worked on, each listed with its own page token (returned first: they wait
#: for the department).
_WORKING = {"r_token": catalog_pb2.ENTRY_STATE_RETURNED, "d_token": catalog_pb2.ENTRY_STATE_DRAFT,
            "s_token": catalog_pb2.ENTRY_STATE_SUBMITTED}


@signed_in
async def drafts(console: Console, request: Request, session: Session) -> Response:
    """My department's entries being worked on: drafts, returned and submitted ones, each state listed by itself.

    Listed without a state, an entry is its current version — the published one once published — so a new draft
    version of a published entry never showed (nor could be submitted), and a page of published entries showed
    "no drafts". A later page carries the tokens of the states that have more; a state without one is done."""
    paging = any(key in request.query_params for key in _WORKING)
    entries, more = [], {}
    for key, state in _WORKING.items():
        token = request.query_params.get(key, "")
        if paging and not token:
            continue
        answer, problem = await _call(console, session, console.services.catalog.ListEntries,
                                      catalog_pb2.ListEntriesRequest(
                                          filter=catalog_pb2.EntryFilter(
                                              provider_department_code=session.person.department_code,
                                              state=state),
                                          page_size=console.settings.page_size, page_token=token))
        if problem:
            return _refused(console, request, problem)
        entries += answer.entries
        if answer.next_page_token:
            more[key] = answer.next_page_token
    return console.page(request, "drafts.html", title="编目", entries=entries, more=more)


def _entry_form(console: Console, request: Request, values: dict[str, object], editing: str = "",
                problem: Problem | None = None, status: int = 200) -> Response:
    return console.page(request, "entry_form.html", status=status, title="编辑目录" if editing else "新建目录",
                        values=values, editing=editing, rows=range(forms.item_rows(values)), problem=problem,
                        errors=forms.field_errors(problem.fields, "entry.") if problem else {})


def _typed_wrong(form: FormData) -> tuple[None, Problem] | None:
    """The entry form's refusal before any call when a length typed is no number (else nothing)."""
    fields = forms.length_violations(form)
    if not fields:
        return None
    return None, Problem(_INVALID, fields=fields, code=grpc.StatusCode.INVALID_ARGUMENT)


#: What a form refused for its fields says above them (the service's sentence for INVALID_ARGUMENT).
_INVALID = "请按字段旁的提示修改后重新提交。"


async def _provider_name(console: Console, session: Session) -> str:
    """The 提供方 an entry the person saves is written with: their department's name in the directory now, not the
    one read at their sign-in (a department renamed since would publish entries under its old name); the
    sign-in's when the directory does not answer."""
    code = session.person.department_code
    return (await console.names.departments(session.token, [code])).get(code) or session.person.department_name


@signed_in
async def draft_new(console: Console, request: Request, session: Session) -> Response:
    if request.method == "GET":
        return _entry_form(console, request, {"secrecy": catalog_pb2.SECRECY_NON_CLASSIFIED,
                                              "zone": common_pb2.ZONE_EXTRANET})
    form = await request.form()
    new = forms.entry_from_form(form, session.person.department_code, await _provider_name(console, session))
    created, problem = _typed_wrong(form) or await _call(console, session, console.services.catalog.CreateEntry,
                                                          catalog_pb2.CreateEntryRequest(entry=new))
    if problem:
        if _expired(problem):
            return _ended(problem)
        return _entry_form(console, request, dict(form.multi_items()) | {"share_methods": form.getlist(
            "share_methods")}, problem=problem, status=_status(problem))
    return _done(session, f"已保存草稿 {created.entry.code}《{created.entry.name}》。检查无误后点击“提交审核”。",
                 "/drafts")


@signed_in
async def draft_edit(console: Console, request: Request, session: Session) -> Response:
    code = request.query_params.get("code", "")
    if request.method == "GET":
        # The version being worked on (编目 links to it): without one, GetEntry answers the published version,
        # and a new draft of a published entry was edited from (and saved over with) the published text.
        version = forms.number(request.query_params.get("version", "")) or 0
        got, problem = await _working_version(console, session, code, version)
        if problem:
            return _refused(console, request, problem)
        if (closed := await _not_editable(console, request, session, got.entry)) is not None:
            return closed
        return _entry_form(console, request, forms.form_of_entry(got.entry), editing=code)
    form = await request.form()
    changed = forms.entry_from_form(form, session.person.department_code, await _provider_name(console, session))
    changed.code, changed.etag = code, _text(form, "etag")
    updated, problem = _typed_wrong(form) or await _call(
        console, session, console.services.catalog.UpdateEntry,
        catalog_pb2.UpdateEntryRequest(entry=changed, update_mask=field_mask_pb2.FieldMask(paths=["*"])))
    if problem:
        if _expired(problem):
            return _ended(problem)
        values = dict(form.multi_items()) | {"share_methods": form.getlist("share_methods"), "code": code}
        return _entry_form(console, request, values, editing=code, problem=problem, status=_status(problem))
    return _done(session, f"已保存 {updated.entry.code}《{updated.entry.name}》的修改。", "/drafts")


async def _working_version(console: Console, session: Session, code: str, version: int
                           ) -> tuple[Any, Problem | None]:
    """The version 修改 opens (and 审核 shows again): the one asked for, else the one being worked on. Without a
    version (目录's 修改 on a published entry's page) GetEntry answers the published version; once a new draft of
    it existed, the form showed the published text, without the draft's changes, and saving it was refused as
    changed by someone else (the etag was the published version's), the same link leading to the same refusal. A
    published version N has at most one version after it, N+1, which its provider (and the authority) may read."""
    got, problem = await _call(console, session, console.services.catalog.GetEntry,
                               catalog_pb2.GetEntryRequest(code=code, version=version))
    if problem or version or got.entry.state != catalog_pb2.ENTRY_STATE_PUBLISHED:
        return got, problem
    pending, pending_problem = await _call(console, session, console.services.catalog.GetEntry,
                                           catalog_pb2.GetEntryRequest(code=code, version=got.entry.version + 1))
    if pending_problem is None:
        return pending, None
    # None after it (or not shown to this person: another department, said by _not_editable).
    return (got, None) if pending_problem.code == grpc.StatusCode.NOT_FOUND else (None, pending_problem)


#: Why a version cannot be edited, by its state (the catalog edits a draft or returned version in place and makes
#: a new version of a published one): the form was shown, filled in, and its 保存 refused.
_NOT_EDITABLE = {
    catalog_pb2.ENTRY_STATE_SUBMITTED: "已提交审核，正等待共享主管部门审核，审核期间不能修改："
                                       "审核退回后可按退回理由修改，发布后可在目录页点击“修改”生成新版本。",
    catalog_pb2.ENTRY_STATE_RETIRED: "已撤销，不能再修改：各版本仍可查阅。如需重新提供该资源，请新建目录。",
    catalog_pb2.ENTRY_STATE_SUPERSEDED: "已被新版本取代，不能修改：请从“编目”或目录页打开现行版本修改。",
}


async def _not_editable(console: Console, request: Request, session: Session, entry: Any) -> Response | None:
    """The page saying why ``entry`` cannot be edited by this person, without the form, or None when it can: a
    person edits only their own department's entries, and only a draft, returned or published version. Another
    department's 编目员 typing the address was shown the form (its data source blank: other departments are not
    shown it) and told only on saving that the entry was not theirs. The authority's 编目员 too: the catalog lets a
    person edit their own department's entries only (duties.require_role, NOT_YOUR_DEPARTMENT), the authority's
    persons included (its systems catalogue for departments, not through this console)."""
    provider = entry.provider_department_code
    if provider != session.person.department_code:
        name = (await console.names.departments(session.token, [provider])).get(provider) or provider
        return console.page(request, "refused.html", status=403, title="无权修改此目录",
                            message=f"目录 {entry.code}《{entry.name}》由{name}提供，只能由该部门的编目员修改，"
                                    "您的部门无权修改。如发现目录内容有误，请联系提供部门。",
                            back=f"/catalog/entry?code={urllib.parse.quote(entry.code, safe='')}")
    if (why := _NOT_EDITABLE.get(entry.state)) is None:
        return None
    return console.page(request, "refused.html", status=409, title="目录当前不能修改",
                        message=f"目录 {entry.code}《{entry.name}》的第 {entry.version} 版{why}", back="/drafts")


@signed_in
async def draft_submit(console: Console, request: Request, session: Session) -> Response:
    form = await request.form()
    code = _text(form, "code")
    submitted, problem = await _call(console, session, console.services.catalog.SubmitEntry,
                                     catalog_pb2.SubmitEntryRequest(code=code))
    if problem:
        return _refused(console, request, problem)
    return _done(session, f"已提交审核：{code}《{submitted.entry.name}》，等待共享主管部门审核。", "/drafts")


@signed_in
async def draft_retire(console: Console, request: Request, session: Session) -> Response:
    """撤销 (RetireEntry): a published entry's 编目员 closes it (its versions stay readable, it can no longer be
    applied for or used), or withdraws a first version never published. R-CAT-3's last step had no page: a
    department whose duty moved elsewhere could not retire its entries, nor withdraw a draft made by mistake,
    without calling the API."""
    form = await request.form()
    code = _text(form, "code")
    retired, problem = await _call(console, session, console.services.catalog.RetireEntry,
                                   catalog_pb2.RetireEntryRequest(code=code, reason=_text(form, "reason")))
    if problem:
        return _refused(console, request, problem)
    entry = retired.entry
    if entry.publish_time.seconds:
        return _done(session, f"已撤销目录 {code}《{entry.name}》：各版本仍可查阅，不能再申请和使用。", "/drafts")
    return _done(session, f"已撤回 {code}《{entry.name}》：该目录未发布，已作废。", "/drafts")


# -- 职能变更 ---------------------------------------------------------------------------------------------------

#: What the 职能变更 form says of a change date that is no date, or one not yet come (the service's hint is English).
MALFORMED_CHANGE_DATE = "请按 年-月-日 填写变更日期，例如 2026-01-31。"
FUTURE_CHANGE_DATE = "变更日期不能晚于今天（北京时间）：请在职能变更发生后报告。"
#: What it says beside the department's code when the platform's directory holds no department of that code.
UNKNOWN_MANDATE_DEPARTMENT = "平台的部门名录中没有该统一社会信用代码的部门：请核对代码（各部门的代码见“部门”页）。"


@signed_in
async def mandates(console: Console, request: Request, session: Session) -> Response:
    """职能变更 (R-CAT-3): a department's 编目员 reports a legal or mandate change, which makes its catalogue update
    due within the configured working days, and the authority sees the updates past due, longest overdue first.
    Both were API-only (ReportMandateChange, ListOverdueUpdates): an officer could not report a change, nor the
    authority see who had not updated their catalogue, without calling the platform."""
    if request.method == "POST":
        return await _report_mandate_change(console, request, session)
    return await _mandates_page(console, request, session, {"department_code": session.person.department_code})


async def _mandates_page(console: Console, request: Request, session: Session, values: dict[str, str],
                         errors: dict[str, str] | None = None, problem: Problem | None = None,
                         status: int = 200) -> Response:
    """The page: the report form (for a 编目员) and the overdue updates: every department's for the authority's
    persons, their own department's for another department's 编目员, who makes them (and whose 待办 counts them:
    the list had been the authority's only, so an officer learned their update was late from the authority)."""
    authority = await console.names.is_authority(session.token, session.person.department_code)
    overdue, overdue_problem = None, None
    if authority or holds(session, {"DATA_OFFICER"}):
        overdue, overdue_problem = await _call(console, session, console.services.catalog.ListOverdueUpdates,
                                               catalog_pb2.ListOverdueUpdatesRequest(
                                                   page_size=console.settings.page_size,
                                                   page_token=_page_token(request)))
        if _expired(overdue_problem):
            return _ended(overdue_problem)
    updates = list(overdue.updates) if overdue else []
    if not authority:  # the form's department is the person's own, whatever a post sent back
        values = {**values, "department_code": session.person.department_code}
    return console.page(request, "mandates.html", status=status if status != 200 else _status_of(overdue_problem),
                        title="职能变更", reports=holds(session, {"DATA_OFFICER"}), authority=bool(authority),
                        overdue_shown=overdue is not None or overdue_problem is not None,
                        values=values, errors=errors or {}, problem=problem, updates=updates,
                        next_token=overdue.next_page_token if overdue else "", overdue_problem=overdue_problem,
                        **await _names(console, session,
                                       [u.department_code for u in updates] + [session.person.department_code]))


async def _report_mandate_change(console: Console, request: Request, session: Session) -> Response:
    """ReportMandateChange from the form; the page again with the hints beside the fields when refused for them."""
    form = await request.form()
    values = {name: _text(form, name) for name in ("department_code", "description", "change_date")}
    report = catalog_pb2.ReportMandateChangeRequest(department_code=values["department_code"].upper(),
                                                    description=values["description"])
    errors: dict[str, str] = {}
    if values["change_date"]:  # blank: the change is today's, as the service takes it
        changed = forms.day_of(values["change_date"])
        if changed is None:
            errors["change_date"] = MALFORMED_CHANGE_DATE
        elif changed > dt.datetime.now(CHINA).date():
            errors["change_date"] = FUTURE_CHANGE_DATE
        else:
            report.change_time.CopyFrom(forms.start_of_day(changed))
    answer = None
    if not errors:
        answer, problem = await _call(console, session, console.services.catalog.ReportMandateChange, report)
        errors = _mandate_department_error(problem) or _input_errors(problem, {"change_time": "change_date"})
        if problem and not errors and problem.code in _PLATFORM_DOWN:
            # The platform did not answer: the form comes back as typed (the refusal page lost the 变更内容).
            return await _mandates_page(console, request, session, values, {}, problem, status=_status(problem))
        if problem and not errors:
            return _refused(console, request, problem)
    if errors or answer is None:
        return await _mandates_page(console, request, session, values, errors,
                                    Problem("请按字段旁的提示修改后重新提交。"), status=400)
    code = report.department_code
    name = (await console.names.departments(session.token, [code])).get(code) or code
    # 含当日, as an application's reply: "应在 <day> 前" left in doubt whether the day itself was still in time.
    provisional = "（含当日）"
    if answer.due_time_provisional and before_calendar(day(answer.due_time)):  # a change dated before 2004
        provisional += provisional_note(day(answer.due_time), short=True)
    elif answer.due_time_provisional:
        provisional = (f"（含当日；暂定：{day(answer.due_time)[:4]} 年节假日安排尚未公布，按周一至周五计算，"
                       "公布后可能调整）")
    if day(answer.due_time) < dt.datetime.now(CHINA).date().isoformat():
        # A change reported late (dated weeks back): "应在 <a day gone by> 前更新" told the officer of a deadline
        # already missed as if it were still to be met.
        return _done(session, f"已报告{name}的职能变更。按变更日期计算，该部门应在 {day(answer.due_time)}{provisional}"
                              "前更新资源目录，该期限已过：变更后该部门如未新建、修改、提交或撤销任何资源目录，即列为"
                              "逾期未更新（见下方列表），计入监督评估，请尽快更新。", "/mandates")
    return _done(session, f"已报告{name}的职能变更：该部门应在 {day(answer.due_time)}{provisional}前更新资源目录"
                          "（新建、修改、提交或撤销受影响的目录）。", "/mandates")


def _mandate_department_error(problem: Problem | None) -> dict[str, str]:
    """The department's code refused as no department (NOT_FOUND) or a retired one (DEPARTMENT_RETIRED, said in
    Chinese from its metadata by problem_of), beside the field it concerns: a whole-page refusal left the form
    and what was typed behind, and a bare 未找到要操作的对象 did not say the code was the thing to correct."""
    if problem is None:
        return {}
    if problem.code == grpc.StatusCode.NOT_FOUND:
        return {"department_code": UNKNOWN_MANDATE_DEPARTMENT}
    if problem.reason == "DEPARTMENT_RETIRED":
        return {"department_code": f"{problem.message}如其职责已转入其他部门，请为承接职责的部门报告。"}
    return {}


# -- 审核 ------------------------------------------------------------------------------------------------------

#: A review refused because the entry changed after the 审核 page was shown (the catalog's ETAG_MISMATCH).
CHANGED_SINCE_REVIEW_OPENED = ("您打开审核页后，该目录已被修改（如经退回、修改后重新提交），本次审核未办理："
                               "请核对下方的现有内容后再审核。")

#: 发布 pressed with a return reason typed: which was meant is asked, nothing is done.
PUBLISH_WITH_A_REASON = ("已填写退回理由，本次未发布：要退回请点击“退回修改”；要发布，请先清空退回理由再点击“发布”。")


@signed_in
async def review(console: Console, request: Request, session: Session) -> Response:
    if request.method == "POST":
        form = await request.form()
        code, reason = _text(form, "code"), _text(form, "reason")
        decision = _choice(form, "decision", "publish", "return")
        if not decision:
            return _unknown_action(console, request)
        typed = {code: str(form.get("reason", ""))}
        if decision == "return" and not reason:
            return await _review_list(console, request, session, {code: "退回时必须填写退回理由，说明需要如何修改。"},
                                      typed)
        if decision == "publish" and reason:
            # The one box is the return's reason: a reviewer who wrote what must be reworked and pressed 发布 (the
            # first button) published the entry, every grant reading it at once, and the reason was dropped.
            return await _review_list(console, request, session, {code: PUBLISH_WITH_A_REASON}, typed)
        answer, problem = await _call(console, session, console.services.catalog.ReviewEntry,
                                      catalog_pb2.ReviewEntryRequest(
                                          code=code, reason=reason, etag=_text(form, "etag"),
                                          decision=catalog_pb2.REVIEW_DECISION_PUBLISH if decision == "publish"
                                          else catalog_pb2.REVIEW_DECISION_RETURN))
        if problem is not None and problem.reason == "ETAG_MISMATCH":
            if (reviewed := await _reviewed_meanwhile(console, session, code, problem)) is not None:
                return _refused(console, request, reviewed)
            # Returned, edited and submitted again since the page was shown (its version number unchanged): the
            # list shown again holds what is there now.
            return await _review_list(console, request, session, {code: CHANGED_SINCE_REVIEW_OPENED}, typed)
        if problem:
            if problem.fields:
                return await _review_list(console, request, session, {code: "；".join(problem.fields.values())},
                                          typed)
            return _refused(console, request, problem)
        done = "已发布" if decision == "publish" else f"已退回（理由：{reason}）"
        return _done(session, f"{done}：{code}《{answer.entry.name}》。", _this_page("/review", request))
    return await _review_list(console, request, session, {})


async def _reviewed_meanwhile(console: Console, session: Session, code: str, problem: Problem) -> Problem | None:
    """What a review refused as changed meanwhile (ETAG_MISMATCH) is told when the entry is in review no more: another
    审核员 published or returned it (or its provider withdrew it) while the page was open. The list shown again
    held no card for it, so the reviewer read 没有待审核的目录 alone (400): nothing said their 发布 or 退回 was not
    done, nor why, and the 退回理由 typed was gone. None while it is still in review (the list shows it as it is)."""
    got, other = await _working_version(console, session, code, 0)
    if other is not None or got is None or got.entry.state == catalog_pb2.ENTRY_STATE_SUBMITTED:
        return None
    entry = got.entry
    by = entry.reviewed_by.display_name or entry.reviewed_by.id
    at = entry.publish_time if entry.state == catalog_pb2.ENTRY_STATE_PUBLISHED else \
        entry.returns[-1].time if entry.returns else entry.update_time
    reviewed = f"已由 {by} 于 {when(at)} 审核，" if by and entry.state in (
        catalog_pb2.ENTRY_STATE_PUBLISHED, catalog_pb2.ENTRY_STATE_RETURNED) else ""
    return Problem(f"您打开审核页后，目录 {code}《{entry.name}》第 {entry.version} 版{reviewed}现为“"
                   f"{labels.ENTRY_STATE.get(entry.state, '')}”，已不在待审核的目录中：您的审核未办理。"
                   "请在“目录”中打开该目录查看其当前内容和状态。", code=problem.code, reason=problem.reason)


async def _review_list(console: Console, request: Request, session: Session, errors: dict[str, str],
                       typed: dict[str, str] | None = None) -> Response:
    """The entries to review; ``errors`` and ``typed`` (the reason typed) by the entry's code."""
    answer, problem = await _call(console, session, console.services.catalog.ListEntries,
                                  catalog_pb2.ListEntriesRequest(
                                      filter=catalog_pb2.EntryFilter(state=catalog_pb2.ENTRY_STATE_SUBMITTED),
                                      page_size=console.settings.page_size, page_token=_page_token(request)))
    if problem:
        return _refused(console, request, problem)
    if first := _emptied(request, answer.entries):
        return first
    entries = await _with_target(console, session, list(answer.entries), next(iter(errors), ""), _in_review, "code")
    return console.page(request, "review.html", status=400 if errors else 200, title="审核",
                        **await _names(console, session, [e.provider_department_code for e in entries]),
                        entries=entries, next_token=answer.next_page_token, errors=errors, typed=typed or {},
                        changes=await _review_changes(console, session, entries),
                        returns=await _review_returns(console, session, entries), unread=UNREAD,
                        unread_said=UNREAD_SAID)


async def _in_review(console: Console, session: Session, code: str) -> Any:
    """The version of entry ``code`` in review, as it is now (else None: reviewed meanwhile, no form to show)."""
    got, _problem = await _working_version(console, session, code, 0)
    return got.entry if got is not None and got.entry.state == catalog_pb2.ENTRY_STATE_SUBMITTED else None


async def _review_returns(console: Console, session: Session, entries: Any) -> dict[str, list[Any]]:
    """Of each submitted version returned before: its returns (Entry.returns: reason, time, reviewer), by code. A
    listing carries none, and a version submitted again shows no return_reason, so the 审核员 published or returned it
    again without reading what had been asked of it; GetEntry of the version has them (an entry it cannot read is
    shown without)."""
    returns: dict[str, list[Any]] = {}
    for entry in entries:
        got, problem = await _call(console, session, console.services.catalog.GetEntry,
                                   catalog_pb2.GetEntryRequest(code=entry.code, version=entry.version))
        if problem is None and got.entry.returns:
            returns[entry.code] = list(got.entry.returns)
        elif problem is not None and problem.code in _PLATFORM_DOWN:
            returns[entry.code] = [UNREAD]
    return returns


#: What 审核 shows of an entry whose return history or published version (the comparison) could not be read: the
#: catalog did not answer GetEntry while it listed the entry. The card showed neither, as of a version never returned
#: nor changing a published one, and the 审核员 published it without reading what had been asked of it or changed.
UNREAD = object()
UNREAD_SAID = ("此目录的退回记录或与已发布版本的比较暂时无法读取（平台服务未响应）：请稍后刷新页面，看过后再发布或"
               "退回。")


async def _review_changes(console: Console, session: Session, entries: Any) -> dict[str, tuple[int, list[str]]]:
    """Of each submitted new version of a published entry: the published version's number and what the new one
    changes (console/versions.py), by code. Existing grants read whatever is published; without these lines the
    reviewer published a version that unmasked an item or widened the share type shown only the new version."""
    changes: dict[str, tuple[int, list[str]]] = {}
    for entry in entries:
        if entry.version <= 1:
            continue
        got, problem = await _call(console, session, console.services.catalog.GetEntry,
                                   catalog_pb2.GetEntryRequest(code=entry.code))
        if problem is None and got.entry.version != entry.version and got.entry.publish_time.seconds:
            changes[entry.code] = (got.entry.version, version_changes(got.entry, entry))
        elif problem is not None and problem.code in _PLATFORM_DOWN:
            changes[entry.code] = UNREAD  # type: ignore[assignment]
    return changes


# -- 申请 ------------------------------------------------------------------------------------------------------

@signed_in
async def apply(console: Console, request: Request, session: Session) -> Response:
    code = request.query_params.get("code", "")
    got, problem = await _call(console, session, console.services.catalog.GetEntry,
                               catalog_pb2.GetEntryRequest(code=code))
    if problem:
        return _refused(console, request, problem)
    if got.entry.share_type == common_pb2.SHARE_TYPE_UNCONDITIONAL:
        # The service refuses every application for it (NO_APPLICATION_NEEDED): the form was shown and filled in,
        # then refused in English after "当前状态不允许此操作".
        return console.page(request, "refused.html", status=409, title="无需申请",
                            message=REASON_SENTENCES["NO_APPLICATION_NEEDED"] + "。",
                            back=f"/catalog/entry?code={urllib.parse.quote(code, safe='')}")
    if request.method == "GET":
        # One request_id per form shown: the form posted twice (a double click, the back button, a retry after a
        # lost reply) returns the application the first post made instead of applying twice.
        return console.page(request, "apply.html", title="申请使用", entry=got.entry,
                            values={"request_id": str(uuid.uuid4())}, problem=None,
                            **await _names(console, session, [got.entry.provider_department_code]))
    form = await request.form()
    application = sharing_pb2.Application(
        resource_code=code, items=form.getlist("items"),
        purposes=[n for p in form.getlist("purposes") if (n := forms.number(p))],
        purpose_text=_text(form, "purpose_text"), basis=_text(form, "basis"),
        methods=[n for m in form.getlist("methods") if (n := forms.number(m))],
        quota=_quota(form) or 0)
    expire = forms.end_of_day(_text(form, "expire_date"))
    errors: dict[str, str] = _quota_error(form, "quota", "apply")
    if not application.items:  # the service reads no items as "every item of the resource", sensitive ones too
        errors["items"] = "请勾选需要使用的信息项（按最小必要原则，只勾选业务确需的）。"
    if expire is not None:
        application.requested_expire_time.CopyFrom(expire)
    elif _text(form, "expire_date"):
        errors["expire_date"] = MALFORMED_END
    answer = None
    if not errors:
        answer, problem = await _call(console, session, console.services.sharing.SubmitApplication,
                                      sharing_pb2.SubmitApplicationRequest(application=application,
                                                                           request_id=_text(form, "request_id")))
        lost = problem is not None and problem.code in _PLATFORM_DOWN
        if problem and not problem.fields and not lost:
            return _refused(console, request, problem)
        if problem and not lost:
            errors = _input_errors(problem, {"requested_expire_time": "expire_date"}, "application.")
        if lost:
            # The reply lost (a timeout: the application may have been made) or the platform down: the form is
            # kept with its request_id, so sending it again returns the application made, if one was. The refusal
            # page lost both, and the applicant, told to retry, filled in a new form and applied twice.
            said = Problem(APPLY_NOT_ANSWERED[problem.code] + APPLY_AGAIN, code=problem.code)
            return await _apply_form(console, request, session, got.entry, form, {}, said, _status(said))
    if errors:
        return await _apply_form(console, request, session, got.entry, form, errors,
                                 Problem("请按字段旁的提示修改后重新提交。"), 400)
    created = answer.application
    if (step := _moved_on(created)) is not None:
        return console.page(request, "refused.html", status=409, title="申请表已提交过",
                            message=f"此申请表已于 {when(created.create_time)} 提交过（申请 {created.id}），该申请已于 "
                                    f"{when(step.time)} {labels.APPLICATION_EVENT.get(step.action, step.action)}，现为“"
                                    f"{labels.APPLICATION_STATE.get(created.state, '')}”：同一张申请表不会再次提交。"
                                    "如需重新申请，请重新打开申请页面填写。",
                            back=f"/apply?code={urllib.parse.quote(code, safe='')}")
    if created.state == sharing_pb2.APPLICATION_STATE_ESCALATED:
        # A not-shared resource, or one the applicant's own department provides: the authority decides it, and the
        # provider never answers (its approvers may not), so no reply is to be awaited by any date.
        return _done(session, f"已提交申请 {created.id}（{code}）：{created.history[-1].note}。提供部门不答复此申请，"
                              "请等待共享主管部门的协调决定。", f"/applications/view?id={created.id}")
    # 含当日: a reply on the due day is on time (until its 23:59:59), which "应在 <day> 前" left in doubt.
    provisional = "；暂定：当年节假日安排尚未公布" if created.reply_due_time_provisional else ""
    return _done(session, f"已提交申请 {created.id}（{code}），提供部门应在 {day(created.reply_due_time)}（含当日"
                          f"{provisional}）前答复。", f"/applications/view?id={created.id}")


#: 申请使用 sent while the platform did not answer, said above the form kept as it was sent.
APPLY_NOT_ANSWERED = {
    grpc.StatusCode.DEADLINE_EXCEEDED: "平台服务响应超时，不能确定申请是否已提交。",
    grpc.StatusCode.UNAVAILABLE: "平台服务暂时不可用，申请可能未提交。",
}
#: What the applicant does then: the same form sent again applies at most once (its request_id).
APPLY_AGAIN = "下方保留了您填写的申请表：请稍后再次点击“提交申请”，同一张申请表只会提交一次，如已提交将显示其申请编号。"


async def _apply_form(console: Console, request: Request, session: Session, entry: Any, form: FormData,
                      errors: dict[str, str], problem: Problem, status: int) -> Response:
    """申请使用's form as it was sent (its request_id too: sent again, it makes no second application)."""
    values = {"items": form.getlist("items"), "purposes": form.getlist("purposes"),
              "methods": form.getlist("methods"), **{k: _text(form, k) for k in
                                                     ("purpose_text", "basis", "quota", "expire_date",
                                                      "request_id")}}
    return console.page(request, "apply.html", status=status, title="申请使用", entry=entry, values=values,
                        errors=errors, problem=problem,
                        **await _names(console, session, [entry.provider_department_code]))


def _moved_on(application: sharing_pb2.Application) -> sharing_pb2.ApplicationEvent | None:
    """The step that took an application on since it was submitted (withdrawn, answered, escalated later), or
    None while it is as submitted. An application form posted again (the back button) returns the application it
    made (its request_id): withdrawn meanwhile, the page said "已提交申请 …，提供部门应在 … 前答复" of an
    application nobody would answer, and the applicant, who meant to file it again, waited for a reply."""
    last = application.history[-1] if application.history else None
    if last is None or last.action == "SUBMITTED" or last.time == application.create_time:
        return None  # a not-shared or own resource's application is escalated as it is made
    return last


@signed_in
async def applications(console: Console, request: Request, session: Session) -> Response:
    answer, problem = await _call(console, session, console.services.sharing.ListApplications,
                                  sharing_pb2.ListApplicationsRequest(
                                      role=sharing_pb2.APPLICATION_ROLE_APPLICANT,
                                      page_size=console.settings.page_size, page_token=_page_token(request)))
    if problem:
        return _refused(console, request, problem)
    return console.page(request, "applications.html", title="我的申请", applications=answer.applications,
                        next_token=answer.next_page_token,
                        **await _names(console, session, [a.provider_department_code for a in answer.applications],
                                       [a.resource_code for a in answer.applications]))


@signed_in
async def application_view(console: Console, request: Request, session: Session) -> Response:
    return await _application_page(console, request, session, request.query_params.get("id", ""))


async def _application_page(console: Console, request: Request, session: Session, app_id: str,
                            errors: dict[str, str] | None = None, typed: dict[str, Any] | None = None) -> Response:
    """An application and its history; a refused escalation shows its reason as typed, its error beside it."""
    got, problem = await _call(console, session, console.services.sharing.GetApplication,
                               sharing_pb2.GetApplicationRequest(id=app_id))
    if problem:
        return _refused(console, request, problem)
    a = got.application
    roles = set(session.person.roles)
    resource = (await console.names.resources(session.token, [a.resource_code])).get(a.resource_code, Resource())
    return console.page(request, "application.html", status=400 if errors else 200, title="申请详情", application=a,
                        errors=errors or {}, typed=typed or {}, grant=await _granted(console, session, a.grant_id),
                        retired=_retired_for_applicant(a, resource) or _term_ended_for_applicant(a),
                        # Display only (the service decides again): the applicant department's 申请人 escalates; the
                        # provider's 审批人 and the authority reading a refused application were offered the form too.
                        may_escalate=(not roles or "APPLICANT" in roles)
                        and session.person.department_code == a.applicant_department_code,
                        names=await _item_names(console, session, [a.resource_code]),
                        **await _names(console, session, [a.applicant_department_code, a.provider_department_code,
                                                          *(h.actor_department_code for h in a.history)],
                                       [a.resource_code]))


def _retired_for_applicant(application: sharing_pb2.Application, resource: Resource) -> str:
    """What the application's page says of a resource retired since it was made, or "": no escalation can get its
    use granted any more (the service refuses it, RESOURCE_RETIRED), yet the page offered 提请共享主管部门协调 on a
    refusal or an overdue application; one still undecided is withdrawn instead."""
    if resource.state != catalog_pb2.ENTRY_STATE_RETIRED:
        return ""
    # a grant it gave reads 已终止; a final decision or a withdrawal needs nothing more
    return _never_granted_now(application, "该资源目录已撤销", "对现有的资源目录")


def _term_ended_for_applicant(application: sharing_pb2.Application, now: dt.datetime | None = None) -> str:
    """What the application's page says once the period applied for has ended, or "": no approval nor coordination can
    grant it any more (the service refuses its escalation, TERM_ENDED), yet the page offered 提请共享主管部门协调 on a
    refusal or an overdue application; one still undecided is withdrawn instead (its form stays offered)."""
    end = application.requested_expire_time
    if not (end.seconds or end.nanos) or end.ToDatetime(tzinfo=dt.UTC) > (now or dt.datetime.now(dt.UTC)):
        return ""
    # a grant it gave has its own term; a final decision or a withdrawal needs nothing more
    return _never_granted_now(application, "所申请的有效期已届满", "按所需的有效期")


def _never_granted_now(application: sharing_pb2.Application, cause: str, apply_again: str) -> str:
    """What an application's page says when ``cause`` leaves it nothing any decision could grant: withdraw it while
    undecided, the refusal stands once refused (no escalation can change it), and how to apply again; "" in any
    other state."""
    if application.state in (sharing_pb2.APPLICATION_STATE_SUBMITTED, sharing_pb2.APPLICATION_STATE_ESCALATED):
        return f"{cause}，此申请已不能获准（提请协调也不能）：请撤回此申请；如仍需要，请{apply_again}重新申请。"
    if application.state == sharing_pb2.APPLICATION_STATE_REFUSED:
        return f"{cause}，提请协调也不能获准，提供部门的答复即为最终结果；如仍需要，请{apply_again}重新申请。"
    return ""


async def _granted(console: Console, session: Session, grant_id: str) -> sharing_pb2.Grant | None:
    """The grant an application was answered with, as it stands now (an approval may narrow the request, the
    provider adjust it later): the page showed only what was applied for, so a grant approved with a quota of 99999
    read 不限. None without a grant, or when the person may not read it (GetGrant decides, as /grants does)."""
    if not grant_id:
        return None
    got, problem = await _call(console, session, console.services.sharing.GetGrant,
                               sharing_pb2.GetGrantRequest(id=grant_id))
    return None if problem else got.grant


@signed_in
async def escalate(console: Console, request: Request, session: Session) -> Response:
    form = await request.form()
    app_id, reason = _text(form, "id"), _text(form, "reason")
    _answer, problem = await _call(console, session, console.services.sharing.EscalateApplication,
                                   sharing_pb2.EscalateApplicationRequest(id=app_id, reason=reason))
    if problem and problem.fields and set(problem.fields) <= {"reason"}:
        return await _application_page(console, request, session, app_id, forms.field_errors(problem.fields),
                                        _typed(form, "reason"))
    if problem:
        return _refused(console, request, await _answered_meanwhile(console, session, app_id, problem, "提请协调"))
    return _done(session, f"已提请共享主管部门协调申请 {app_id}。", f"/applications/view?id={app_id}")


@signed_in
async def withdraw(console: Console, request: Request, session: Session) -> Response:
    form = await request.form()
    app_id, reason = _text(form, "id"), _text(form, "reason")
    _answer, problem = await _call(console, session, console.services.sharing.WithdrawApplication,
                                   sharing_pb2.WithdrawApplicationRequest(id=app_id, reason=reason))
    if problem:
        return _refused(console, request, await _answered_meanwhile(console, session, app_id, problem, "撤回"))
    return _done(session, f"已撤回申请 {app_id}：提供部门和共享主管部门不再办理。如需修改申请内容，请重新申请。",
                 f"/applications/view?id={app_id}")


# -- 答复 ------------------------------------------------------------------------------------------------------

@signed_in
async def replies(console: Console, request: Request, session: Session) -> Response:
    errors: dict[str, str] = {}
    target, typed = "", {}
    if request.method == "POST":
        form = await request.form()
        target, typed = _text(form, "id"), _typed(form, "reason", "quota", "expire_date")
        decision, reason = _choice(form, "decision", "approve", "refuse"), _text(form, "reason")
        if not decision:
            return _unknown_action(console, request)
        if decision == "refuse" and not reason:
            errors["reason"] = "不予共享时必须说明理由，理由将告知使用部门。"
        reply = sharing_pb2.ReplyApplicationRequest(id=target, reason=reason,
                                                    decision=sharing_pb2.REPLY_DECISION_REFUSE)
        if decision == "approve":
            # A refusal sends no scope: the form's items (checked as applied for), quota and end are an approval's,
            # and the service refuses a refusal that carries them (there is no partial refusal).
            if not form.getlist("items"):  # the service reads no items as "all requested"
                errors["items"] = "请至少勾选一个同意的信息项；都不同意请填写理由后点击“不予共享”。"
            errors |= _quota_error(form, "quota", "decision")
            reply = sharing_pb2.ReplyApplicationRequest(id=target, reason=reason, items=form.getlist("items"),
                                                        decision=sharing_pb2.REPLY_DECISION_APPROVE,
                                                        quota=_quota(form) or 0)
            expire, malformed = _changed_end(form)
            if expire is not None:
                reply.expire_time.CopyFrom(expire)
            elif malformed:
                errors["expire_time"] = MALFORMED_END
        if not errors:
            answer, problem = await _call(console, session, console.services.sharing.ReplyApplication, reply)
            if problem and not problem.fields:
                return _refused(console, request, await _answered_meanwhile(console, session, target, problem, "答复"))
            if problem:
                errors = forms.field_errors(problem.fields)
            else:
                if decision == "approve":
                    grant = answer.grant
                    names = await _item_names(console, session, [grant.resource_code])
                    message = (f"已同意申请 {target}：授权 {grant.id}，"
                               f"信息项 {_named(names, grant.resource_code, grant.items)}，"
                               f"有效期至 {until(grant.expire_time)}，调用上限 {calls(grant.quota)}。")
                else:
                    message = f"已答复申请 {target}：不予共享，理由已告知使用部门。"
                return _done(session, message, _this_page("/replies", request))
    answer, problem = await _call(console, session, console.services.sharing.ListApplications,
                                  sharing_pb2.ListApplicationsRequest(
                                      role=sharing_pb2.APPLICATION_ROLE_PROVIDER,
                                      state=sharing_pb2.APPLICATION_STATE_SUBMITTED, order_by=BY_DUE,
                                      page_size=console.settings.page_size, page_token=_page_token(request)))
    if problem:
        return _refused(console, request, problem)
    if first := _emptied(request, answer.applications):
        return first
    shown = await _with_target(console, session, list(answer.applications), target if errors else "",
                               _pending_application(sharing_pb2.APPLICATION_STATE_SUBMITTED))
    resources = await console.names.resources(session.token, [a.resource_code for a in shown])
    return console.page(request, "replies.html", status=400 if errors else 200, title="答复",
                        closed={a.id: why for a in shown if (why := closed_to_approval(resources[a.resource_code]))},
                        ended=ended_with_resource(shown, resources),
                        **await _names(console, session, [a.applicant_department_code for a in shown],
                                       [a.resource_code for a in shown]),
                        names=await _item_names(console, session, [a.resource_code for a in shown]),
                        applications=[(a, working_days_left(a.reply_due_time)) for a in shown],
                        warn=console.settings.deadline_warning_working_days,
                        next_token=answer.next_page_token, errors=errors, target=target, typed=typed)


@signed_in
async def overdue_applications(console: Console, request: Request, session: Session) -> Response:
    """Every application left unanswered past its due day, longest overdue first (R-APP-2: the authority steps in
    when a provider is late). 首页 listed the ten longest overdue and 监督 counted them by department: the others
    were on no page, and the 审核员 following up on them had only the counts."""
    answer, problem = await _call(console, session, console.services.sharing.ListApplications,
                                  sharing_pb2.ListApplicationsRequest(overdue_only=True, order_by=BY_DUE,
                                                                      page_size=console.settings.page_size,
                                                                      page_token=_page_token(request)))
    if _expired(problem):
        return _ended(problem)
    shown = list(answer.applications) if answer else []
    if first := _emptied(request, shown):
        return first
    return console.page(request, "overdue.html", status=_status_of(problem), title="逾期未答复的申请",
                        problem=problem, overdue=[(a, working_days_left(a.reply_due_time)) for a in shown],
                        next_token=answer.next_page_token if answer else "",
                        **await _names(console, session,
                                       [c for a in shown for c in (a.applicant_department_code,
                                                                    a.provider_department_code)],
                                       [a.resource_code for a in shown]))


#: The 已办理 page's state filter (the query string's ``state``): "" is every application the department received.
DECIDED_STATES = {"approved": sharing_pb2.APPLICATION_STATE_APPROVED, "refused": sharing_pb2.APPLICATION_STATE_REFUSED,
                  "escalated": sharing_pb2.APPLICATION_STATE_ESCALATED,
                  "coordinated_granted": sharing_pb2.APPLICATION_STATE_COORDINATED_GRANTED,
                  "coordinated_refused": sharing_pb2.APPLICATION_STATE_COORDINATED_REFUSED,
                  "withdrawn": sharing_pb2.APPLICATION_STATE_WITHDRAWN,
                  "closed": sharing_pb2.APPLICATION_STATE_CLOSED,
                  "submitted": sharing_pb2.APPLICATION_STATE_SUBMITTED}


@signed_in
async def replies_decided(console: Console, request: Request, session: Session) -> Response:
    """The provider's applications already dealt with, newest first, by state: who decided each (the 审批人, the
    authority coordinating, the applicant withdrawing), when and why. 答复 lists only those waiting, so once an
    application was answered the 审批人 could not find it again to say what was decided, by whom, on what grounds."""
    state = request.query_params.get("state", "")
    if state not in DECIDED_STATES and state != "":
        return console.page(request, "decided.html", status=400, title="已办理的申请", state=state, rows=[],
                            states=DECIDED_STATES, next_token="", problem=None,
                            errors={"state": "请从列表中选择办理状态。"})
    answer, problem = await _call(console, session, console.services.sharing.ListApplications,
                                  sharing_pb2.ListApplicationsRequest(
                                      role=sharing_pb2.APPLICATION_ROLE_PROVIDER, state=DECIDED_STATES.get(state, 0),
                                      page_size=console.settings.page_size, page_token=_page_token(request)))
    if _expired(problem):
        return _ended(problem)
    shown = list(answer.applications) if answer else []
    rows = [(a, _decisions(a)) for a in shown]
    return console.page(request, "decided.html", status=_status_of(problem), title="已办理的申请", state=state,
                        states=DECIDED_STATES, rows=rows, problem=problem,
                        next_token=answer.next_page_token if answer else "",
                        **await _names(console, session,
                                       [a.applicant_department_code for a in shown]
                                       + [step.actor_department_code for _, steps in rows for step in steps],
                                       [a.resource_code for a in shown]))


def _decisions(application: sharing_pb2.Application) -> list[sharing_pb2.ApplicationEvent]:
    """The steps that decided ``application``, in order (the provider's reply, the escalation, the authority's
    decision, a withdrawal; none while it waits for its reply): a refusal coordinated later is still the
    provider's, by whom and why."""
    return [h for h in application.history if h.action in _DECISIONS]


# -- 协调 ------------------------------------------------------------------------------------------------------

@signed_in
async def coordination(console: Console, request: Request, session: Session) -> Response:
    errors: dict[str, str] = {}
    app_id, typed = "", {}
    if request.method == "POST":
        form = await request.form()
        app_id, reason = _text(form, "id"), _text(form, "reason")
        typed = _typed(form, "reason", "expire_date", "quota")
        decision = _choice(form, "decision", "grant", "refuse")
        if not decision:
            return _unknown_action(console, request)
        grant = decision == "grant"
        expire, malformed = _changed_end(form) if grant else (None, False)
        if not reason:
            errors["reason"] = "请填写协调意见（理由）。"
        if grant and not form.getlist("items"):  # the service reads no items as "all requested"
            errors["items"] = "请至少勾选一个准予的信息项；都不准予请点击“不予共享”。"
        if malformed:  # not dropped: the grant would get the default term
            errors["expire_time"] = MALFORMED_END
        if grant:
            errors |= _quota_error(form, "quota", "decision")
        if not errors:
            # A final refusal sends no scope (the form's items are checked as applied for): the service refuses one
            # that carries any, there being no partial refusal.
            decision = sharing_pb2.RecordCoordinationDecisionRequest(id=app_id, grant=grant, reason=reason)
            if grant:
                decision.items.extend(form.getlist("items"))
                decision.quota = _quota(form) or 0
            if expire is not None:
                decision.expire_time.CopyFrom(expire)
            _answer, problem = await _call(console, session, console.services.sharing.RecordCoordinationDecision,
                                           decision)
            if problem and not problem.fields:
                return _refused(console, request,
                                await _answered_meanwhile(console, session, app_id, problem, "协调决定"))
            if problem:
                errors = forms.field_errors(problem.fields)
            else:
                return _done(session, f"已记录协调决定：申请 {app_id} {'准予' if grant else '不予'}共享。",
                             _this_page("/coordination", request))
    answer, problem = await _call(console, session, console.services.sharing.ListApplications,
                                  sharing_pb2.ListApplicationsRequest(
                                      state=sharing_pb2.APPLICATION_STATE_ESCALATED,
                                      page_size=console.settings.page_size, page_token=_page_token(request)))
    if problem:
        return _refused(console, request, problem)
    if first := _emptied(request, answer.applications):
        return first
    roles = set(session.person.roles)
    shown = await _with_target(console, session, list(answer.applications), app_id if errors else "",
                               _pending_application(sharing_pb2.APPLICATION_STATE_ESCALATED))
    resources = await console.names.resources(session.token, [a.resource_code for a in shown])
    return console.page(request, "coordination.html", status=400 if errors else 200, title="协调",
                        closed={a.id: why for a in shown
                                if (why := closed_to_coordination(resources[a.resource_code]))},
                        ended=ended_with_resource(shown, resources),
                        **await _names(console, session,
                                       [c for a in shown for c in (a.applicant_department_code,
                                                                    a.provider_department_code)],
                                       [a.resource_code for a in shown]),
                        names=await _item_names(console, session, [a.resource_code for a in shown]),
                        applications=shown, next_token=answer.next_page_token, errors=errors,
                        target=app_id, typed=typed, escalations={a.id: _escalation(a) for a in shown},
                        # Display only (the service decides again): the authority's 审核员 records the decision; the
                        # departments' persons reaching this page see their escalated applications, not forms
                        # every button of which was refused. A session without roles (a system's) is offered it.
                        may_decide=not roles or "REVIEWER" in roles)


def _escalation(application: sharing_pb2.Application) -> sharing_pb2.ApplicationEvent | None:
    """The step that took ``application`` to the authority (the applicant's reason, or a not-shared or own
    resource's request noted so): what the 审核员 coordinates on, which the page did not show."""
    return next((h for h in reversed(application.history) if h.action == "ESCALATED"), None)


# -- 授权 ------------------------------------------------------------------------------------------------------

@signed_in
async def grant_view(console: Console, request: Request, session: Session) -> Response:
    """A grant named by an access on the 审计 page, shown as the application it answers: the application's page
    says who applied and for what, who approved and the conditions of the reply, and names the grant (GetGrant
    decides who may read it, as /grants does)."""
    return await _grant_application(console, request, session, request.query_params.get("id", "").strip())


async def _grant_application(console: Console, request: Request, session: Session, grant_id: str) -> Response:
    """A redirect to the page of the application ``grant_id`` answers (/grants for one without), or the refusal."""
    got, problem = await _call(console, session, console.services.sharing.GetGrant,
                               sharing_pb2.GetGrantRequest(id=grant_id))
    if problem:
        return _refused(console, request, problem)
    application = got.grant.application_id
    return RedirectResponse(f"/applications/view?id={urllib.parse.quote(application)}" if application else "/grants",
                            status_code=303)


@signed_in
async def grants(console: Console, request: Request, session: Session) -> Response:
    errors: dict[str, str] = {}
    grant_id, typed, conflict = "", {}, False
    if request.method == "POST":
        form = await request.form()
        grant_id, action, reason = _text(form, "id"), _choice(form, "action", "update", "revoke"), _text(form, "reason")
        typed = _typed(form, "action", "reason", "quota", "expire_date")
        if not action:
            return _unknown_action(console, request)
        if action == "revoke":
            if not reason:
                errors["reason"] = "撤销授权时必须填写理由。"
            else:
                _answer, problem = await _call(console, session, console.services.sharing.RevokeGrant,
                                               sharing_pb2.RevokeGrantRequest(id=grant_id, reason=reason))
                if problem and not problem.fields:
                    return _refused(console, request, await _grant_revoked_meanwhile(console, session, grant_id,
                                                                                    problem, "撤销"))
                if problem:
                    errors = forms.field_errors(problem.fields)
                else:
                    return _done(session, f"已撤销授权 {grant_id}，立即生效：对方系统的查询将被拒绝。",
                                 _this_page("/grants", request))
        else:
            # The grant as this page showed it: an adjustment saved meanwhile by another person is not overwritten.
            patch = sharing_pb2.Grant(id=grant_id, items=form.getlist("items"), etag=_text(form, "etag"))
            paths = ["items"]
            errors = _quota_error(form, "quota", "grant")
            if (quota := _quota(form)) is not None:
                patch.quota, paths = quota, [*paths, "quota"]
            expire, malformed = _changed_end(form)
            if expire is not None:
                patch.expire_time.CopyFrom(expire)
                paths.append("expire_time")
            elif malformed:
                errors["expire_time"] = MALFORMED_END
            answer, problem = (None, None) if errors else await _call(
                console, session, console.services.sharing.UpdateGrant,
                sharing_pb2.UpdateGrantRequest(grant=patch, update_mask=field_mask_pb2.FieldMask(paths=paths),
                                               reason=reason))
            if problem is not None and problem.reason == "ETAG_MISMATCH":
                errors, typed, problem = {"etag": await _grant_changed_meanwhile(console, session, grant_id)}, {}, None
                conflict = True
            if problem and not problem.fields:
                return _refused(console, request, await _grant_revoked_meanwhile(console, session, grant_id,
                                                                                problem, "调整"))
            if problem:
                errors = forms.field_errors(problem.fields, "grant.")
            elif not errors:
                names = await _item_names(console, session, [answer.grant.resource_code])
                # The end too: an approver who moved only 有效期至 was confirmed the items and quota, not the date.
                return _done(session, f"已调整授权 {grant_id}：信息项 "
                                      f"{_named(names, answer.grant.resource_code, answer.grant.items)}，"
                                      f"有效期至 {until(answer.grant.expire_time)}，"
                                      f"调用上限 {calls(answer.grant.quota)}。", _this_page("/grants", request))
    answer, problem = await _call(console, session, console.services.sharing.ListGrants,
                                  sharing_pb2.ListGrantsRequest(page_size=console.settings.page_size,
                                                                page_token=_page_token(request)))
    if problem:
        return _refused(console, request, problem)
    if first := _emptied(request, answer.grants):
        return first
    shown = await _with_target(console, session, list(answer.grants), grant_id if errors else "", _grant_of)
    resources = await console.names.resources(session.token, [g.resource_code for g in shown])
    return console.page(request, "grants.html", status=409 if conflict else 400 if errors else 200, title="授权",
                        **await _names(console, session, [g.department_code for g in shown],
                                       [g.resource_code for g in shown]),
                        names=await _item_names(console, session, [g.resource_code for g in shown]),
                        actions={g.id: _grant_actions(session.person, g, resources[g.resource_code].provider,
                                                      resources[g.resource_code].state
                                                      == catalog_pb2.ENTRY_STATE_RETIRED)
                                 for g in shown},
                        coordinated={g.id for g in shown if coordinated_grant(g, resources[g.resource_code].provider)},
                        unusable={g.id: why for g in shown
                                  if (why := unusable_grant(g, resources[g.resource_code]))},
                        grants=shown, next_token=answer.next_page_token, errors=errors, target=grant_id,
                        typed=typed)


async def _grant_changed_meanwhile(console: Console, session: Session, grant_id: str) -> str:
    """What the approver is told when another person adjusted the grant after the page was shown (ETAG_MISMATCH):
    who, and that the form now shows the grant as it is. The page said "该记录已被他人修改…：grant grt-… was changed
    since you read it (now at policy version 6): nothing was changed; read the grant again and redo your
    adjustment", in English, on a page of its own."""
    got, _problem = await _call(console, session, console.services.sharing.GetGrant,
                                sharing_pb2.GetGrantRequest(id=grant_id))
    by = got.grant.changed_by if got is not None else None
    if by is None or not by.id:
        return "您打开页面后，授权已被他人调整，您的调整未保存：下方已是最新内容，请核对后重新调整。"
    department = (await console.names.departments(session.token, [by.department_code])).get(by.department_code,
                                                                                              by.department_code)
    return (f"您打开页面后，授权已由 {by.display_name or by.id}（{department}）调整，您的调整未保存："
            "下方已是最新内容，请核对后重新调整。")


async def _grant_revoked_meanwhile(console: Console, session: Session, grant_id: str, problem: Problem,
                                   what: str) -> Problem:
    """``problem`` as the person who pressed 撤销 or 调整 needs it when the grant was revoked after the page was
    shown (GRANT_REVOKED: another 审批人, or the authority): who revoked it and why, and that a revoked grant is
    final. The page said "当前状态不允许此操作：grant grt-… is revoked: a revoked grant is final", in English. An
    adjustment refused NOT_PUBLISHED (the resource retired since) is said of the grant, not as an approval's. Any
    other refusal is returned as it is."""
    if problem.reason == "NOT_PUBLISHED":  # its resource retired since the page was shown
        return Problem(f"授权 {grant_id} 的资源目录已撤销，此授权已随之终止，您的{what}未提交：终止的授权不能再调整，"
                       "使用部门如仍需使用，须对现有目录重新申请。", code=problem.code, reason=problem.reason)
    if problem.reason != "GRANT_REVOKED":
        return problem
    got, _problem = await _call(console, session, console.services.sharing.GetGrant,
                                sharing_pb2.GetGrantRequest(id=grant_id))
    grant = got.grant if got is not None else None
    if grant is None or grant.state != sharing_pb2.GRANT_STATE_REVOKED:
        return problem
    by = ""
    if grant.changed_by.id:
        departments = await console.names.departments(session.token, [grant.changed_by.department_code])
        department = departments.get(grant.changed_by.department_code, grant.changed_by.department_code)
        by = f"由 {grant.changed_by.display_name or grant.changed_by.id}（{department}）"
    why = f"（理由：{grant.revoke_reason}）" if grant.revoke_reason else ""
    return Problem(f"授权 {grant.id} 已{by}撤销{why}，您的{what}未提交：撤销的授权不能再调整或撤销，"
                   "使用部门如仍需使用，须重新申请。", code=problem.code, reason=problem.reason)


def closed_to_approval(resource: Resource) -> str:
    """Why the provider can no longer approve an application for ``resource``, only refuse it, or "": retired or
    made 不予共享 since it was made. 答复 offered 同意 as for any other, and the approver who filled in the form
    learnt only from the refusal (NOT_PUBLISHED, NOT_SHARED_NOW) what the page knew (the resource as the catalog
    has it now, through the names cache: the service decides again)."""
    if resource.state == catalog_pb2.ENTRY_STATE_RETIRED:  # closed with it: nothing to answer, not even 不予共享
        return REASON_SENTENCES["APPLICATION_CLOSED"] + "。"
    if resource.share_type == common_pb2.SHARE_TYPE_NOT_SHARED:
        return REASON_SENTENCES["NOT_SHARED_NOW"] + "。"
    return ""


def ended_with_resource(applications: list[sharing_pb2.Application], resources: Mapping[str, Resource]) -> set[str]:
    """The applications whose resource the catalog shows retired: closed with it (APPLICATION_CLOSED), so 答复 and
    协调 show their card without a form. The cards said so and still offered 不予共享, which the service refuses
    APPLICATION_CLOSED: the 审批人 or 审核员 who wrote a reason and pressed it was told 您的操作未完成."""
    return {a.id for a in applications if resources[a.resource_code].state == catalog_pb2.ENTRY_STATE_RETIRED}


def closed_to_coordination(resource: Resource) -> str:
    """Why the authority's coordination can no longer grant an escalated application for ``resource``, only refuse
    it, or "": retired since (a not-shared one is what coordination opens). 协调 offered 准予共享 as for any other,
    and the 审核员 who chose the items, the term and the quota learnt only from the refusal (NOT_PUBLISHED, whose
    sentence speaks to the provider) that they could only refuse."""
    if resource.state == catalog_pb2.ENTRY_STATE_RETIRED:
        # Closed with it (APPLICATION_CLOSED): telling the 审核员 to refuse it had the refusal refused.
        return REASON_SENTENCES["APPLICATION_CLOSED"] + "。"
    return ""


def unusable_grant(grant: sharing_pb2.Grant, resource: Resource) -> str:
    """Why an active grant lets nothing through now although it is in force, or "": its resource was made
    不予共享 since (only a grant the authority's coordination gave opens such a resource: the provider's is not
    read) or retired, or every item it was made for was dropped from the catalog since (lapsed_items, none left).
    /grants said 有效 of it while every query under it was refused NOT_SHARED, NOT_PUBLISHED or GRANT_LAPSED.
    One its resource's retirement ended is said 已终止 by its state, and why here."""
    if grant.state == sharing_pb2.GRANT_STATE_ENDED or (grant.state == sharing_pb2.GRANT_STATE_ACTIVE
                                                         and resource.state == catalog_pb2.ENTRY_STATE_RETIRED):
        return "该资源目录已撤销，此授权已随之终止，不能再使用，也不能延长；使用部门如仍需使用，须对现有目录重新申请。"
    if grant.state != sharing_pb2.GRANT_STATE_ACTIVE:  # an expired or revoked one is said so by its state
        return ""
    coordinated = bool(resource.provider and grant.granted_by.department_code
                       and grant.granted_by.department_code != resource.provider)
    if resource.share_type == common_pb2.SHARE_TYPE_NOT_SHARED and not coordinated:
        return ("该资源已调整为不予共享，提供部门的授权不再生效，查询将被拒绝；确需使用的，"
                "请重新申请，由共享主管部门协调。")
    if grant.lapsed_items and not grant.items:
        return (f"本授权的信息项（{'、'.join(grant.lapsed_items)}）均已在授权后从该资源目录中删除（其中重新加入的，"
                "含义可能已不同），本授权已不覆盖任何信息项，按本授权的查询将被拒绝（授权已失效），也不计入调用次数；"
                "使用部门如仍需使用，须按现有目录重新申请。")
    return ""


def given_by_coordination(grants: list[sharing_pb2.Grant], resources: Mapping[str, Resource]) -> set[str]:
    """The ``grants`` the authority's coordination decision gave (coordinated_grant): their provider can narrow them
    but not extend them (UpdateGrant refuses a later expire_time), so 首页 does not offer their extension."""
    return {g.id for g in grants if coordinated_grant(g, resources[g.resource_code].provider)}


def coordinated_grant(grant: sharing_pb2.Grant, provider: str) -> bool:
    """Whether the authority's coordination decision gave ``grant`` (granted by a person outside its provider): only
    the authority revokes it, and its provider's narrowing says why (调整理由 required)."""
    granted_by = grant.granted_by.department_code
    return bool(provider and granted_by and granted_by != provider)


def _grant_actions(person: Person, grant: sharing_pb2.Grant, provider: str,
                   retired: bool = False) -> tuple[bool, bool]:
    """Whether the page offers ``person`` 保存调整 and 撤销授权 on ``grant`` (display only: the service decides
    again). As docs/api.md's separation of duties says: the provider's 审批人 adjusts and revokes; a grant the
    authority's coordination decision gave (granted by a person outside the provider) only the authority's
    审核员 revokes; the holder's persons and the auditors read it. Both forms were on every grant for everyone,
    and each refused what it offered. A session without roles (a system's) is offered both, as every page
    offers it everything and lets the service refuse."""
    roles = set(person.roles)
    # An expired grant may still be extended (its expire_time adjusted) or revoked; an ended one only revoked.
    if grant.state not in (sharing_pb2.GRANT_STATE_ACTIVE, sharing_pb2.GRANT_STATE_EXPIRED,
                           sharing_pb2.GRANT_STATE_ENDED):
        return False, False
    retired = retired or grant.state == sharing_pb2.GRANT_STATE_ENDED
    # One whose every item lapsed has no item for 调整信息项 to keep: the service refuses an adjustment without items
    # (revoke it instead), so only 撤销 is offered.
    # Nor one of a retired resource: retiring it ended the grant for good, and the service refuses its adjustment.
    adjustable = bool(grant.items or not grant.lapsed_items) and not retired
    if not roles:
        return adjustable, True
    coordinated = coordinated_grant(grant, provider)
    # Nor an expired one the authority's coordination gave: its provider may narrow it, not extend it (the service
    # refuses a later expire_time, grants.beyond_coordination), and narrowing what has ended changes nothing.
    adjustable = adjustable and not (coordinated and grant.state == sharing_pb2.GRANT_STATE_EXPIRED)
    provider_approver = "APPROVER" in roles and (not provider or person.department_code == provider)
    return (provider_approver and adjustable,
            (provider_approver and not coordinated) or ("REVIEWER" in roles and coordinated))


# -- 疑义与冲突 --------------------------------------------------------------------------------------------------

#: Who answers each of 疑义与冲突's forms: the provider's 审批人 a dispute, the authoritative source's 编目员 a
#: conflict (services/query/dispute_servicer.py, services/foundation/loading.py).
_RESOLVES = {"dispute": (("APPROVER",), "提供部门的审批人答复疑义数据"),
             "conflict": (("DATA_OFFICER",), "权威来源部门的编目员解决数据冲突"),
             "report": (("APPLICANT",), "使用部门的申请人报告疑义数据")}
#: The report form's inputs, each the ReportDispute field of its name (dispute.<name>).
REPORT_FIELDS = ("resource_code", "key", "item", "claimed_value", "evidence")
#: ReportDispute's refusals of what was typed that are no field violation, said beside the input they concern
#: (errors.REASON_SENTENCES' NOT_PUBLISHED speaks of applications).
_REPORT_REFUSALS = {
    "RESOURCE_NOT_FOUND": ("resource_code", "没有这一信息资源代码的资源，请核对后重新填写（如 101001/000001）。"),
    "NOT_PUBLISHED": ("resource_code", "该资源目录未发布或已撤销，不能对其数据报告疑义。"),
    "NOT_A_USER": ("item", "本部门目前无权使用该资源的这一信息项：只有可使用它的部门才能报告其数据有误，"
                           "请核对信息项，或先申请使用。"),
    "OPEN_DISPUTE_EXISTS": ("key", "本部门对这条记录的这一信息项已有疑义尚未答复，提供部门答复后才能再次报告，"
                                   "请在下方列表中跟进。"),
}


async def _report_dispute(console: Console, session: Session, typed: dict[str, Any]
                          ) -> tuple[Any, dict[str, str], Problem | None]:
    """Reports the dispute typed in 疑义's report form: the new dispute, else what to say beside each input (the
    service's field violations and the refusals of _REPORT_REFUSALS) or, for any other refusal, the Problem.
    The 信息项 may be typed as its Chinese name, which the catalog entry turns into the machine name it is."""
    code = forms.typed_code(typed["resource_code"])
    items = (await _item_names(console, session, [code])).get(code, {}) if code else {}
    item = typed["item"].strip()
    machine = next((name for name, shown in items.items() if item in (name, shown)), item)
    reported, problem = await _call(console, session, console.services.disputes.ReportDispute,
                                    dispute_pb2.ReportDisputeRequest(dispute=dispute_pb2.Dispute(
                                        resource_code=code, key=typed["key"].strip(), item=machine,
                                        claimed_value=typed["claimed_value"].strip(),
                                        evidence=typed["evidence"].strip())))
    if problem is None:
        return reported.dispute, {}, None
    if problem.fields:
        return None, forms.field_errors(problem.fields, "dispute."), None
    if problem.reason in _REPORT_REFUSALS:
        name, sentence = _REPORT_REFUSALS[problem.reason]
        return None, {name: sentence}, None
    return None, {}, problem


@signed_in
async def disputes(console: Console, request: Request, session: Session) -> Response:
    errors: dict[str, str] = {}
    kind, target, typed = "", "", {}
    report_down: Problem | None = None  # a report the platform did not answer: its form comes back as typed
    if request.method == "POST":
        form = await request.form()
        kind, target = _choice(form, "kind", "dispute", "conflict", "report"), _text(form, "id")
        typed = _typed(form, "corrected", "answer", "adopt", "note", *REPORT_FIELDS)
        if not kind:
            return _unknown_action(console, request)
        if not holds(session, _RESOLVES[kind][0]):
            return not_yours(console, request, session, *_RESOLVES[kind])
        if kind == "report":
            reported, errors, refused = await _report_dispute(console, session, typed)
            if refused is not None and refused.code in _PLATFORM_DOWN:
                report_down = refused  # the refusal page lost the key, the value and the evidence typed
            elif refused is not None:
                return _refused(console, request, refused)
            if reported is not None:
                provider = reported.provider_department_code
                named = (await console.names.departments(session.token, [provider])).get(provider) or provider
                return _done(session, f"已报告疑义 {reported.id}，待提供部门{named}校核答复。", "/disputes")
        elif kind == "dispute":
            text = _text(form, "answer")
            if not text:
                errors["answer"] = "请填写校核结果（答复内容将告知报告部门）。"
            else:
                _a, problem = await _call(console, session, console.services.disputes.AnswerDispute,
                                          dispute_pb2.AnswerDisputeRequest(
                                              id=target, corrected=_text(form, "corrected") == "yes", answer=text))
                if problem and not problem.fields:
                    return _refused(console, request, problem)
                if problem:
                    errors = forms.field_errors(problem.fields)
                else:
                    return _done(session, f"已答复疑义 {target}。", "/disputes")
        else:
            _a, problem = await _call(console, session, console.services.foundation.ResolveConflict,
                                      foundation_pb2.ResolveConflictRequest(
                                          id=forms.number(target, forms.INT64_MAX) or 0,
                                          adopt_other_value=_text(form, "adopt") == "yes",
                                          note=_text(form, "note")))
            if problem and not problem.fields:
                return _refused(console, request, problem)
            if problem:
                errors = forms.field_errors(problem.fields)
            else:
                return _done(session, f"已处理冲突 {target}。", "/disputes")
    listed, problem = await _call(console, session, console.services.disputes.ListDisputes,
                                  dispute_pb2.ListDisputesRequest(page_size=console.settings.page_size,
                                                                  page_token=_page_token(request)))
    if _expired(problem):
        return _ended(problem)
    problem = report_down or problem
    # The conflicts' own refusal is said in their section: "no conflicts for you" hid a foundation service that
    # was down (with a 200) or a stale c_token link.
    shown = await _with_target(console, session, list(listed.disputes) if listed else [],
                               target if errors and kind == "dispute" else "", _open_dispute)
    show_conflicts = holds(session, CONFLICTS_SHOWN)
    conflicts, conflicts_problem = (await _conflicts(console, request, session) if show_conflicts
                                    else (None, None))
    status = 400 if errors else _status_of(problem or _down(conflicts_problem))
    return console.page(request, "disputes.html", status=status, title="疑义与冲突" if show_conflicts else "疑义",
                        show_conflicts=show_conflicts,
                        item_names=await _item_names(console, session, [d.resource_code for d in shown]),
                        **await _names(console, session,
                                       [d.reporter_department_code for d in shown]
                                       + [d.provider_department_code for d in shown]
                                       + [c.other_source_department_code for c in
                                          (conflicts.conflicts if conflicts else [])],
                                       [d.resource_code for d in shown]),
                        disputes=shown,
                        next_token=listed.next_page_token if listed else "",
                        conflicts=conflicts.conflicts if conflicts else [],
                        conflicts_next=conflicts.next_page_token if conflicts else "",
                        conflicts_token=_conflicts_token(request), errors=errors,
                        problem=problem, conflicts_problem=conflicts_problem, kind=kind, target=target, typed=typed)


#: What 疑义与冲突 says in place of the conflicts to a person who may not read them (services/foundation/servicer.py
#: CONFLICT_READERS): each names a record and shows its values, unmasked.
CONFLICTS_DECIDERS_ONLY = ("数据冲突仅供来源部门的编目员、审批人和共享主管部门的审核员查阅（冲突含记录的原始值）；"
                           "您的角色无需处理数据冲突。")
CONFLICT_READERS = ("DATA_OFFICER", "APPROVER", "REVIEWER")
#: Who 疑义与冲突 shows its conflicts section to: their readers, and the 审计员, told whose they are. A 申请人 follows
#: their department's reports there and has nothing to do with conflicts: the section is not theirs to see.
CONFLICTS_SHOWN = (*CONFLICT_READERS, "AUDITOR")


def _conflicts_token(request: Request) -> str:
    """The page of conflicts shown: its form posts back to it, so an answer refused beside its field comes back
    with its row (there is no GetConflict to fetch a conflict of another page, as _open_dispute does a dispute)."""
    return request.query_params.get("c_token", "")


async def _conflicts(console: Console, request: Request, session: Session) -> tuple[Any, Problem | None]:
    """The page of conflicts for a person who may read them, else no call and a sentence saying whose they are
    (the service's refusal in English was shown to an 审计员 otherwise)."""
    if not holds(session, CONFLICT_READERS):
        return None, Problem(CONFLICTS_DECIDERS_ONLY, code=grpc.StatusCode.PERMISSION_DENIED)
    return await _call(console, session, console.services.foundation.ListConflicts,
                       foundation_pb2.ListConflictsRequest(page_size=console.settings.page_size,
                                                           page_token=_conflicts_token(request)))


# -- 审计 ------------------------------------------------------------------------------------------------------

#: What 审计 says in place of the administrative log to a person who may not read it (the service's refusal was
#: shown as it is: "您的角色或部门无权执行此操作：only a 审计员 (AUDITOR) may read the administrative log (you hold
#: 审批人 (APPROVER))", to every 审批人 and 编目员 on their own 审计 page).
ADMIN_LOG_AUDITORS_ONLY = "管理操作日志仅供共享主管部门的审计员查阅；本部门资源的使用情况见上方的使用记录。"


async def _admin_events(console: Console, request: Request, session: Session) -> tuple[Any, Problem | None]:
    """The administrative log's page for the authority's 审计员 (services/authorization/admin_log.py: nobody else
    reads it), else no call and a sentence saying whose it is."""
    auditors_only = Problem(ADMIN_LOG_AUDITORS_ONLY, code=grpc.StatusCode.PERMISSION_DENIED)
    if not holds(session, ("AUDITOR",)):
        return None, auditors_only
    # A department's 审计员 is not asked for: the refusal (AUTHORITY_ONLY) went to the log at every visit.
    if await console.names.is_authority(session.token, session.person.department_code) is False:
        return None, auditors_only
    events, problem = await _call(console, session, console.services.admin_log.ListAdminEvents,
                                  admin_log_pb2.ListAdminEventsRequest(
                                      page_size=console.settings.page_size,
                                      page_token=request.query_params.get("e_token", "")))
    if problem is not None and problem.code == grpc.StatusCode.PERMISSION_DENIED:
        return None, auditors_only  # a department's own 审计员: the log is the authority's
    return events, problem


async def _usage_summary(console: Console, session: Session, resource: str,
                         times: dict[str, Any]) -> tuple[audit_pb2.GetUsageSummaryResponse | None, Problem | None]:
    """The 审计 page's 资源使用统计 over the listing's resource and days: how many accesses of each outcome per
    resource, using department and purpose, so that an auditor reads the listing's totals without counting its
    pages (GetUsageSummary, read by the same roles as ListAccesses)."""
    return await _call(console, session, console.services.audit.GetUsageSummary,
                       audit_pb2.GetUsageSummaryRequest(resource_code=resource, **times))


async def _others_resource(console: Console, session: Session, code: str) -> dict[str, str]:
    """资源代码 naming a resource another department provides, said beside the input to a department's person:
    ListAccesses lists the accesses of the caller's department's resources only, so the page answered 所选期间没有
    使用记录 and 没有使用记录 — nobody had used it, the reader took it — of a resource used every day. The
    authority's 审计员 lists every department's; its 审批人 and 编目员, the authority's own resources (ListAccesses).
    A session without a person's roles holds a system's token, which ListAccesses answers as the authority's 审计员."""
    roles = session.person.roles
    if not code or ((not roles or "AUDITOR" in roles) and await console.names.is_authority(
            session.token, session.person.department_code) is not False):
        return {}
    provider = (await console.names.resources(session.token, [code]))[code].provider
    if not provider or provider == session.person.department_code:
        return {}
    name = (await console.names.departments(session.token, [provider])).get(provider) or provider
    return {"resource": f"资源 {code} 由{name}提供：本页只列本部门提供的资源的使用记录，该资源的使用情况由提供部门"
                        "查看。请填写本部门的资源代码，或留空列出本部门全部资源。"}


#: The entries whose code an access may name: published, or retired since (a draft or one in review was never used).
_USED_STATES = (catalog_pb2.ENTRY_STATE_PUBLISHED, catalog_pb2.ENTRY_STATE_RETIRED)
#: Pages of 100 search results read for a name at most (names holding it whole come first).
_NAME_PAGES = 5


async def _resource_named(console: Console, session: Session,
                          typed: str) -> tuple[str, dict[str, str], Problem | None]:
    """资源代码 filled in with a resource's name (人口基本信息, as 目录 and the use records show it): the code of the
    one entry of that name that has been in use (published, or retired since), or why not beside the input. The
    name was refused as no 信息资源代码, and the auditor went to 目录 to copy the code of the name they had.

    The third value is the search's problem when the name could not be looked up (the catalog down, the session
    ended): it was said beside the input as no code, a 400 telling the auditor to fix a name nothing was wrong with."""
    name = unicodedata.normalize("NFKC", typed.strip())
    named: list[catalog_pb2.Entry] = []
    token = ""
    for _ in range(_NAME_PAGES):
        answer, problem = await _call(console, session, console.services.catalog.SearchEntries,
                                      catalog_pb2.SearchEntriesRequest(query=name, page_size=100, page_token=token))
        if problem is not None and (_expired(problem) or problem.code in _PLATFORM_DOWN):
            return "", {}, problem
        if problem is not None or answer is None:
            return "", {}, None
        # Best first: the entries holding the name whole in theirs come before any other, so the first entry
        # whose name does not hold it ends the search.
        names = [unicodedata.normalize("NFKC", e.name.strip()) for e in answer.entries]
        named += [e for e, shown in zip(answer.entries, names, strict=True)
                  if shown == name and e.state in _USED_STATES]
        token = answer.next_page_token
        if not token or any(name not in shown for shown in names):
            break
    if len(named) == 1:
        return named[0].code, {}, None
    if named:
        return "", {"resource": f"名为“{typed.strip()}”的资源目录有 {len(named)} 个（"
                                + "、".join(e.code for e in named) + "）：请填写其中一个的资源代码。"}, None
    return "", {"resource": f"没有名为“{typed.strip()}”的资源目录。资源代码应为分类码、“/”、顺序码，如 101001/000001"
                            "（见“目录”页）；留空则不限资源。"}, None


#: Pages of 1,000 departments read for a name at most (a province's departments fit in one).
_DEPARTMENT_PAGES = 5
#: The departments a name matches that are said beside the input, at most.
_DEPARTMENTS_SAID = 10


def _names_a_department(typed: str) -> bool:
    """Whether 使用部门 was filled in with a name (市民政局), not a code: a 统一社会信用代码 is ASCII digits and
    capitals once read as the service reads it (full width is read as ASCII first)."""
    return any(c.isalpha() and not c.isascii() for c in unicodedata.normalize("NFKC", typed))


async def _department_named(console: Console, session: Session,
                            typed: str) -> tuple[str, dict[str, str], Problem | None]:
    """使用部门 filled in with a department's name, as the page shows it beside each access: the code of the one
    department of that name, or, none named so exactly, of the one whose name holds it (民政 for 市民政局); else why
    not beside the input. The name was refused as no 统一社会信用代码 (“应为 18 位…”), and the auditor, who reads
    departments by name, had to find the code elsewhere. The third value is the directory's problem when it could
    not be read (down, the session ended): said as such, not as a name nothing was wrong with."""
    name = unicodedata.normalize("NFKC", typed.strip())
    directory = directory_pb2_grpc.DirectoryServiceStub(console.services.channel)
    departments: list[directory_pb2.Department] = []
    token = ""
    for _ in range(_DEPARTMENT_PAGES):
        answer, problem = await _call(console, session, directory.ListDepartments,
                                      directory_pb2.ListDepartmentsRequest(page_size=1000, page_token=token))
        if problem is not None:
            return "", {}, problem
        departments += answer.departments
        token = answer.next_page_token
        if not token:
            break
    shown = {d.code: unicodedata.normalize("NFKC", d.name.strip()) for d in departments}
    named = [d for d in departments if shown[d.code] == name] or [d for d in departments if name in shown[d.code]]
    if len(named) == 1:
        return named[0].code, {}, None
    if named:
        listed = "、".join(f"{d.name}（{d.code}）" for d in named[:_DEPARTMENTS_SAID])
        more = "等" if len(named) > _DEPARTMENTS_SAID else ""
        return "", {"department": f"名称含“{typed.strip()}”的部门有 {len(named)} 个：{listed}{more}。请填写其中"
                                  "一个的全称或统一社会信用代码。"}, None
    return "", {"department": f"没有名称为或含有“{typed.strip()}”的部门。使用部门请填写部门名称或 18 位统一社会信用"
                              "代码（可从输入框的下拉列表中选择）；留空则不限使用部门。"}, None


@signed_in
async def audit(console: Console, request: Request, session: Session) -> Response:
    """Who used my department's resources, when and why (the key is not shown: who/when/why is the point)."""
    typed_resource = request.query_params.get("resource", "")
    resource, wrong = forms.resource_filter(typed_resource)
    unnamed: Problem | None = None  # the name typed could not be looked up: the page says why, the name kept
    if wrong and any(character.isalpha() for character in typed_resource):  # a name, not a code mistyped
        code, said, unnamed = await _resource_named(console, session, typed_resource)
        resource, wrong = (code, {}) if code else (resource, {} if unnamed else said or wrong)
    typed_department = request.query_params.get("department", "")
    department = forms.department_filter(typed_department)
    if _names_a_department(typed_department):
        code, said, undepartmented = await _department_named(console, session, typed_department)
        wrong.update(said)
        unnamed = unnamed or undepartmented
        # Resolved, the input shows the code it named (the links keep it); else the name as typed, to correct.
        department = code or typed_department.strip()
    # An outcome the select does not offer (an edited link) lists every outcome, as an odd page number does.
    result = forms.number(request.query_params.get("result", "")) or 0
    result = result if result in labels.ACCESS_RESULT else 0
    # As the date inputs show it: 2026/1/31 in an edited link filtered by a day the inputs left blank.
    period = {name: forms.day_text(request.query_params.get(name, "")) for name in ("from", "to")}
    grant = request.query_params.get("grant", "").strip()
    system = request.query_params.get("system", "").strip()
    # A reason the select does not offer (an edited link) lists every access, as an unknown outcome does.
    reason = forms.number(request.query_params.get("reason", "")) or 0
    reason = reason if reason in labels.DENY_REASON else 0
    times, wrong_period = forms.audit_period(period["from"], period["to"])
    wrong.update(wrong_period)
    wrong.update(forms.grant_id_error(grant))
    wrong.update(forms.system_id_error(system))
    wrong.update(forms.reason_error(reason, result, labels.DENIED_RESULT, labels.ACCESS_RESULT[labels.DENIED_RESULT]))
    if not wrong and unnamed is None:
        wrong.update(await _others_resource(console, session, resource))
    accesses: audit_pb2.ListAccessesResponse | None = None
    problem: Problem | None = unnamed
    if wrong:  # said beside the dates before any call: the service's end_time hints are in English
        problem = Problem(_INVALID, fields=wrong, code=grpc.StatusCode.INVALID_ARGUMENT)
    elif unnamed is None:
        accesses, problem = await _call(console, session, console.services.audit.ListAccesses,
                                        audit_pb2.ListAccessesRequest(resource_code=resource,
                                                                      department_code=department, result=result,
                                                                      grant_id=grant, system_id=system,
                                                                      deny_reason=reason, **times,
                                                                      page_size=console.settings.page_size,
                                                                      page_token=_page_token(request)))
    if _expired(problem):
        return _ended(problem)
    # Counted only for a listing shown: a refused one (a wrong resource or page link) says why once.
    usage, usage_problem = await _usage_summary(console, session, resource, times) if problem is None \
        else (None, None)
    events, events_problem = await _admin_events(console, request, session)
    shown = accesses.accesses if accesses else []
    # The summary counts every using department (GetUsageSummary has no such filter): the page shows the one
    # asked for, and offers the others as the filter's choices.
    usage_rows = [u for u in (usage.rows if usage else []) if not department or u.department_code == department]
    users = sorted({u.department_code for u in (usage.rows if usage else [])})
    filters = {k: v for k, v in {"resource": resource, "department": department, "result": str(result or ""),
                                 "grant": grant, "system": system, "reason": str(reason or ""),
                                 **period}.items() if v}
    return console.page(request, "audit.html", status=_status_of(problem), title="审计", resource=resource,
                        department=department, users=users, result=result, period=period, grant=grant,
                        system=system, reason=reason,
                        filters=filters,
                        item_names=await _item_names(console, session, [a.resource_code for a in shown]),
                        **await _names(console, session,
                                       [a.department_code for a in shown]
                                       + [e.actor_department_code for e in (events.events if events else [])]
                                       + users,
                                       [a.resource_code for a in shown] + [u.resource_code for u in usage_rows]),
                        accesses=accesses.accesses if accesses else [],
                        usage=usage_rows, usage_problem=usage_problem,
                        next_token=accesses.next_page_token if accesses else "", problem=problem,
                        errors=_input_errors(problem, {"resource_code": "resource", "department_code": "department",
                                                       "start_time": "from", "end_time": "to",
                                                       "grant_id": "grant", "system_id": "system",
                                                       "deny_reason": "reason"}),
                        events=events.events if events else [],
                        events_next=events.next_page_token if events else "",
                        events_problem=events_problem, **_pager_positions(request, filters))


def _pager_positions(request: Request, filters: dict[str, str]) -> dict[str, dict[str, str]]:
    """The links of 审计's two pagers, each keeping the page the other list is on: 下一页 of the 管理操作日志
    took the access list back to its first page, and the other way round."""
    accesses, events = _page_token(request), request.query_params.get("e_token", "")
    return {"access_pager": {**filters, **({"e_token": events} if events else {})},
            "events_pager": {**filters, **({"page_token": accesses} if accesses else {})}}


# -- 监督 ------------------------------------------------------------------------------------------------------

def _period_problem(year: int | None, month: int | None, today: dt.date) -> Problem | None:
    """The 监督 page's year and month said wrong, in Chinese beside the field, before any call: the service's
    "must be between 2000 and 2100" and "the month has not begun" were shown as they are, in English. A month
    that is none (13, 0, "②") or a year that is no number was replaced by the current one without a word, so the
    supervisor read this month's scores as those of the month they had typed."""
    if year is None:  # "2026-11" or 二〇二六: no number, which a range would not tell
        fields = {"year": f"年份请填写 4 位数字，如 {today.year}。"}
    elif not MIN_YEAR <= year <= MAX_YEAR:
        fields = {"year": f"年份须在 {MIN_YEAR} 至 {MAX_YEAR} 之间。"}
    elif month is None or not 1 <= month <= 12:
        fields = {"month": "月份须为 1 至 12 之间的整数。"}
    elif (year, month) > (today.year, today.month):
        fields = {"month": f"{year}年{month}月尚未开始（今天是 {today.year}年{today.month}月{today.day}日，北京时间），"
                           "还没有数据。"}
    else:
        return None
    return Problem(_INVALID, fields=fields, code=grpc.StatusCode.INVALID_ARGUMENT)


async def _own_evaluation(console: Console, session: Session, year: int, month: int
                          ) -> tuple[list[supervision_pb2.Evaluation], Problem | None, dt.datetime | None]:
    """A department's own evaluation of the month, for its persons, and when it was computed: the menu offers 监督
    to every 审计员, and every department's list is the authority's alone, so a department's 审计员 was shown only
    您的角色或部门无权执行此操作. A month not computed yet is no refusal (the page says there is no evaluation yet)."""
    answer, problem = await _call(console, session, console.services.supervision.GetSnapshot,
                                  supervision_pb2.GetSnapshotRequest(department_code=session.person.department_code,
                                                                     year=year, month=month))
    if problem is not None and problem.reason == "SNAPSHOT_NOT_FOUND":
        return [], None, None
    if problem is not None and problem.reason == "NOT_A_MONTH_OF_THE_DEPARTMENT":
        return [], Problem(f"计算{year}年{month}月监督快照时本部门尚未加入共享平台，该月没有本部门的评估结果。",
                           code=problem.code, reason=problem.reason), None
    if answer is None:
        return [], problem, None
    return [answer.snapshot.evaluation], problem, _computed(answer.snapshot)


def _computed(message: Any) -> dt.datetime | None:
    """A ListEvaluationsResponse's or Snapshot's compute_time (None when not said)."""
    return message.compute_time.ToDatetime(dt.UTC) if message.HasField("compute_time") else None


def _month_end(year: int, month: int) -> dt.datetime:
    """The first instant after the month, in Beijing."""
    return dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=CHINA)


def _figures_until(year: int, month: int, computed: dt.datetime | None, today: dt.date) -> str:
    """What the month's scores count when they were computed before it ended: the page said of a month in progress
    only that its scores were of 最近一次统计（每日）, not when that was, and nothing of a past month whose last
    computation ran before its end (the schedule stopped, a platform down at the month's turn): its scores read as
    the whole month's. The reports say both (services/supervision/reports.py)."""
    if computed is None or computed >= _month_end(year, month):
        return ""
    at = f"{computed.astimezone(CHINA):%Y-%m-%d %H:%M}（北京时间）"
    if (year, month) == (today.year, today.month):
        return f"{year}年{month}月尚未结束：评分按截至{at}的数据计算，为阶段性结果。"
    return f"{year}年{month}月的监督快照计算于{at}，早于月末：评分只计入截至该时间的数据，重新计算该月后为全月结果。"


@signed_in
async def supervision(console: Console, request: Request, session: Session) -> Response:
    today = dt.datetime.now(CHINA).date()
    year_raw, month_raw = request.query_params.get("year", ""), request.query_params.get("month", "")
    # 2026年 and 11月, as the fields' labels 年 and 月 invite: the year was refused 年份须在 2000 至 2100 之间.
    typed_year = forms.number(forms.unit_removed(year_raw, "年")) if year_raw.strip() else today.year
    typed_month = forms.number(forms.unit_removed(month_raw, "月")) if month_raw.strip() else today.month
    answer, problem = None, _period_problem(typed_year, typed_month, today)
    # The inputs keep what was typed (cut short) when it is no year or month, beside its hint.
    year = typed_year if typed_year is not None else year_raw.strip()[:16]
    month = typed_month if typed_month is not None else month_raw.strip()[:16]
    if problem is None and typed_year is not None and typed_month is not None:
        answer, problem = await _call(console, session, console.services.supervision.ListEvaluations,
                                      supervision_pb2.ListEvaluationsRequest(year=typed_year, month=typed_month,
                                                                             page_size=console.settings.page_size,
                                                                             page_token=_page_token(request)))
    evaluations = list(answer.evaluations) if answer else []
    computed = _computed(answer) if answer else None
    own = problem is not None and problem.reason == "AUTHORITY_ONLY" and typed_year is not None \
        and typed_month is not None
    if own:
        evaluations, problem, computed = await _own_evaluation(console, session, typed_year, typed_month)
    if _expired(problem):
        return _ended(problem)
    if problem is not None and problem.reason == "MONTH_NOT_COMPUTED":
        problem = None  # the page says the month has no evaluation yet (每月数据统计后生成): not a refusal
    absent = ""
    if problem is not None and problem.reason == "NOT_A_MONTH_OF_THE_DEPARTMENT":
        absent, problem = problem.message, None  # no refusal either: a month before the department joined
    violations, violations_problem = await _violations(console, session, request, evaluations)
    listed = list(violations.violations) if violations else []
    systems = await _violation_systems(console, session, listed)
    names = await _names(console, session, [e.department_code for e in evaluations]
                         + [v.department_code for v in listed])
    names["dept_names"] = named_then(names["dept_names"], evaluations)
    # Bars labelled by the department's name (its code's last six characters when the name is not known).
    bars = [(names["dept_names"].get(e.department_code) or e.department_code[-6:], e.score) for e in evaluations]
    chart = charts.bar_chart(bars, maximum=100, title=f"{year}年{month}月各部门综合评分") if evaluations else ""
    return console.page(request, "supervision.html", status=_status_of(problem or _down(violations_problem)),
                        title="监督", year=year, month=month,
                        evaluations=evaluations, own=own, **names, chart=chart,
                        until=_figures_until(typed_year, typed_month, computed, today) if evaluations else "",
                        no_department=answer is not None and not evaluations, absent=absent,
                        next_token=answer.next_page_token if answer else "", problem=problem,
                        indicator_names=INDICATORS, errors=_input_errors(problem, {}),
                        violations=[_violation_row(v, systems) for v in listed],
                        violations_next=violations.next_page_token if violations else "",
                        violations_problem=violations_problem)


#: The reports the 监督 page offers (kind in the link → ReportKind, format → ReportFormat).
_REPORT_KINDS = {"yearly": supervision_pb2.REPORT_KIND_YEARLY, "monthly": supervision_pb2.REPORT_KIND_MONTHLY_FEEDBACK}
_REPORT_FORMATS = {"html": supervision_pb2.REPORT_FORMAT_HTML, "pdf": supervision_pb2.REPORT_FORMAT_PDF,
                   "csv": supervision_pb2.REPORT_FORMAT_CSV}


@signed_in
async def supervision_report(console: Console, request: Request, session: Session) -> Response:
    """A report (R-SUP-2) as a download: the yearly report (the platform's, or a department's) or a month's usage
    feedback, HTML, PDF or CSV for Excel. The reports were to be had from the API or `govshare report` only: a
    supervisor at the console read the month's scores and could not take the report the rules ask for (Art. 18)
    with them."""
    params = request.query_params
    year, month = forms.number(params.get("year", "")), forms.number(params.get("month", "") or "0")
    kind, report_format = _REPORT_KINDS.get(params.get("kind", "")), _REPORT_FORMATS.get(params.get("format", ""))
    if year is None or month is None or kind is None or report_format is None:
        return console.page(request, "refused.html", status=400, title="请求有误", back="/supervision",
                            message="报告链接不完整或有误，请从“监督”页面的报告链接下载。")
    answer, problem = await _call(console, session, console.services.supervision.GenerateReport,
                                  supervision_pb2.GenerateReportRequest(
                                      kind=kind, year=year, month=month if kind != _REPORT_KINDS["yearly"] else 0,
                                      department_code=params.get("department", ""), format=report_format),
                                  REPORT_TIMEOUT_SECONDS)
    if problem is not None:
        return _refused(console, request, problem)
    return Response(answer.content, media_type=answer.content_type,
                    headers={"Content-Disposition": f'attachment; filename="{answer.file_name}"'})


@signed_in
async def supervision_export(console: Console, request: Request, session: Session) -> Response:
    """The month's evaluations or violations, every page, as a CSV file for Excel (services/runtime/excel_csv.py: a
    byte order mark, Chinese headers, names never read as formulas): the page showed them a page at a time, and a
    supervisor who wanted them in a spreadsheet copied them off the screen."""
    params = request.query_params
    year, month = forms.number(params.get("year", "")), forms.number(params.get("month", ""))
    what = params.get("what", "")
    problem = _period_problem(year, month, dt.datetime.now(CHINA).date())
    if problem is not None or what not in ("evaluations", "violations") or year is None or month is None:
        return console.page(request, "refused.html", status=400, title="请求有误", back="/supervision",
                            message="导出链接不完整或有误，请从“监督”页面的导出链接下载。")
    if what == "evaluations":
        header, rows, problem = await _evaluation_table(console, session, year, month)
    else:
        header, rows, problem = await _violation_table(console, session, year, month)
    if problem is not None and problem.reason == "MONTH_NOT_COMPUTED":  # a bookmark, a typed address
        problem = Problem(f"{year}年{month}月还没有评估结果（每月数据统计后生成），没有可导出的内容。",
                          code=problem.code, reason=problem.reason)
    if problem is not None:
        return _refused(console, request, problem)
    return Response(csv_bytes(header, rows), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{what}-{year}-{month:02d}.csv"'})


async def _every_page(console: Console, session: Session, method: Any, request: Any, field: str,
                      answers: list[Any] | None = None) -> tuple[list[Any], Problem | None]:
    """Every item of a listing, page after page (the service's largest pages); each page's answer appended to
    ``answers`` when given (what the listing says beside its items)."""
    found: list[Any] = []
    while True:
        answer, problem = await _call(console, session, method, request)
        if problem is not None:
            return found, problem
        if answers is not None:
            answers.append(answer)
        found.extend(getattr(answer, field))
        if not answer.next_page_token:
            return found, None
        request.page_token = answer.next_page_token


def named_then(today: dict[str, str], evaluations: list[Any]) -> dict[str, str]:
    """Departments named as they were in the evaluations' month (Evaluation.department_name), today's name beside
    when it is another: a month's page and export named a department renamed or merged since by today's name, which
    the supervisor could not match with that month's documents. A month computed before names were kept: today's.
    Two departments of one name (the 民政局 of two districts) are told apart (identifiers.told_apart): the page's
    chart and tables, and the exports' name column, showed two 民政局 no reader could tell apart."""
    names = dict(today)
    for evaluation in evaluations:
        then, now = evaluation.department_name, today.get(evaluation.department_code, "")
        if then:
            names[evaluation.department_code] = f"{then}（现名：{now}）" if now and now != then else then
    return told_apart(names)


async def _month_evaluations(console: Console, session: Session, year: int, month: int
                             ) -> tuple[list[Any], Problem | None, dt.datetime | None]:
    """Every evaluation of the month the person may see (every department's for the authority, its own for a
    department), and when the month was computed."""
    answers: list[Any] = []
    evaluations, problem = await _every_page(
        console, session, console.services.supervision.ListEvaluations,
        supervision_pb2.ListEvaluationsRequest(year=year, month=month, page_size=1000), "evaluations", answers)
    if problem is not None and problem.reason == "AUTHORITY_ONLY":
        return await _own_evaluation(console, session, year, month)
    return evaluations, problem, _computed(answers[0]) if answers else None


async def _evaluation_table(console: Console, session: Session, year: int, month: int
                            ) -> tuple[list[str], list[list[object]], Problem | None]:
    """The month's evaluations as the export's table, its indicators named as supervision's reports name them:
    a supervisor lays the two side by side."""
    evaluations, problem, computed = await _month_evaluations(console, session, year, month)
    names = named_then(await console.names.departments(session.token, [e.department_code for e in evaluations]),
                       evaluations)
    # Until when each row counts: a month in progress, or one last computed before its end, exported without it
    # read as the whole month's scores (the page says it since the month's compute_time, the reports too).
    until = f"{computed.astimezone(CHINA):%Y-%m-%d %H:%M}" if computed is not None else ""
    partial = "是" if computed is not None and computed < _month_end(year, month) else "否"
    header = ["部门代码", "部门名称", "综合评分", *INDICATORS.values(), "违规数", "数据截至（北京时间）",
              "阶段性数据（计算时该月未结束）"]
    rows: list[list[object]] = []
    for e in evaluations:
        found = {i.name: i for i in e.indicators}
        rows.append([e.department_code, names.get(e.department_code, ""), f"{e.score:.2f}",
                     *(indicator_rate(found.get(name)) for name in INDICATORS), e.violations, until, partial])
    return header, rows, problem


async def _violation_table(console: Console, session: Session, year: int, month: int
                           ) -> tuple[list[str], list[list[object]], Problem | None]:
    violations, problem = await _every_page(
        console, session, console.services.supervision.ListViolations,
        supervision_pb2.ListViolationsRequest(year=year, month=month, page_size=1000), "violations")
    # The names of the month are its evaluations' (a department's own, or every department's for the authority).
    evaluations = (await _month_evaluations(console, session, year, month))[0] if violations else []
    names = named_then(await console.names.departments(session.token, [v.department_code for v in violations]),
                       evaluations)
    systems = await _violation_systems(console, session, violations)
    header = ["部门代码", "部门名称", "违规类型", "依据", "对象", "证据"]
    rows: list[list[object]] = [
        [v.department_code, names.get(v.department_code, ""), *(_violation_row(v, systems)[key] for key in
                                                               ("rule", "article", "subject", "evidence"))]
        for v in violations]
    return header, rows, problem


async def _violations(console: Console, session: Session, request: Request, evaluations: list[Any]
                      ) -> tuple[Any, Problem | None]:
    """The month's violations (Art. 24) under its evaluations, each with its article and evidence: the page showed
    only how many each department had, and where they were said was the yearly report alone. The authority sees
    every department's, a department its own (the service decides); only asked once the month has evaluations."""
    if not evaluations:
        return None, None
    first = evaluations[0]
    return await _call(console, session, console.services.supervision.ListViolations,
                       supervision_pb2.ListViolationsRequest(year=first.year, month=first.month,
                                                             page_size=console.settings.page_size,
                                                             page_token=request.query_params.get("v_token", "")))


async def _violation_systems(console: Console, session: Session, violations: list[Any]) -> dict[str, str]:
    """The names of the business systems the violations are about (a use beyond purpose, a burst of calls)."""
    return await console.names.systems(session.token, [v.evidence.get("system", "") for v in violations])


def _violation_row(violation: supervision_pb2.Violation, systems: dict[str, str]) -> dict[str, str]:
    """A violation as the yearly report says it: its rule, article, subject and evidence in Chinese, its business
    system by name beside its id (the page and the export said 业务系统：sys-… alone, which told the supervisor
    nothing, where the report of the same month names it)."""
    return {"department_code": violation.department_code, "rule": RULES.get(violation.rule, str(violation.rule)),
            "article": violation.article, "subject": subject_text(violation.subject, systems),
            "evidence": evidence_text(violation.evidence, systems)}


def routes() -> list[Route]:
    from console import admin  # imports this module's helpers

    return [*admin.routes(),
        Route("/", home, methods=["GET"]),
        Route("/catalog", catalog, methods=["GET"]),
        Route("/catalog/entry", entry, methods=["GET"]),
        Route("/drafts", drafts, methods=["GET"]),
        Route("/drafts/new", draft_new, methods=["GET", "POST"]),
        Route("/drafts/edit", draft_edit, methods=["GET", "POST"]),
        Route("/drafts/submit", draft_submit, methods=["POST"]),
        Route("/drafts/retire", draft_retire, methods=["POST"]),
        Route("/review", review, methods=["GET", "POST"]),
        Route("/mandates", mandates, methods=["GET", "POST"]),
        Route("/apply", apply, methods=["GET", "POST"]),
        Route("/applications", applications, methods=["GET"]),
        Route("/applications/view", application_view, methods=["GET"]),
        Route("/applications/escalate", escalate, methods=["POST"]),
        Route("/applications/withdraw", withdraw, methods=["POST"]),
        Route("/replies", replies, methods=["GET", "POST"]),
        Route("/replies/decided", replies_decided, methods=["GET"]),
        Route("/applications/overdue", overdue_applications, methods=["GET"]),
        Route("/coordination", coordination, methods=["GET", "POST"]),
        Route("/grants", grants, methods=["GET", "POST"]),
        Route("/grants/view", grant_view, methods=["GET"]),
        Route("/disputes", disputes, methods=["GET", "POST"]),
        Route("/audit", audit, methods=["GET"]),
        Route("/supervision", supervision, methods=["GET"]),
        Route("/supervision/report", supervision_report, methods=["GET"]),
        Route("/supervision/export", supervision_export, methods=["GET"]),
    ]
