"""The sharing workflow: applications, replies, escalation, coordination and grants (R-APP-1..5).

Each step checks who may take it, validates the request against the
application and the catalog entry, stores the step with its history event, and
announces grant changes so that the query path applies them at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable, Mapping

import grpc

from govshare.authorization.v1 import sharing_pb2
from govshare.catalog.v1 import catalog_pb2
from govshare.common.v1 import common_pb2
from services.authorization import applications as apps
from services.authorization import grants as grant_rules
from services.authorization.applications import Application, ApplicationEvent, Draft, Terms
from services.authorization.decisions import in_force
from services.authorization.directory import still_theirs
from services.authorization.entries import EntryLookup, classified, display_names, offered_methods
from services.authorization.grants import Grant, GrantsEnding, GrantUpdate
from services.authorization.policy_events import PolicyEvents
from services.authorization.roles import require_authority, require_identified
from services.authorization.store import ApplicationFilter, GrantFilter, Store
from services.authorization.validation import (
    APPLICATION_ID,
    GRANT_ID,
    METHOD_LABELS,
    PURPOSE_LABELS,
    SYSTEM_ID,
    TEXT_MAX,
    find_by_id,
    page_after,
    page_of,
    resource_code_problem,
    text_problem,
)
from services.runtime import duties, pagination, workdays
from services.runtime.actors import Actor, actor_of
from services.runtime.admin_events import ACTOR_DISPLAY_NAME, AdminEvent, refusals_logged
from services.runtime.duties import APPLICANT, APPROVER, REVIEWER
from services.runtime.enums import ShortNames
from services.runtime.errors import (
    FieldViolation,
    ServiceError,
    failed_precondition,
    invalid_argument,
    not_found,
    permission_denied,
    reason_violation,
)
from services.runtime.identity import Caller, service_caller
from services.runtime.settings import Settings
from services.runtime.workdays import term_end_text

APPROVE = sharing_pb2.REPLY_DECISION_APPROVE
REFUSE = sharing_pb2.REPLY_DECISION_REFUSE
ROLES = frozenset(sharing_pb2.ApplicationRole.values())
Clock = Callable[[], dt.datetime]
_APPLICATION_STATES = ShortNames(sharing_pb2.ApplicationState)
_ENTRY_STATES = ShortNames(catalog_pb2.EntryState)


def _as_it_stands(grant: Grant, entry: catalog_pb2.Entry) -> Grant:
    """``grant`` as it applies to ``entry`` now (decisions.in_force), ended when the entry is retired."""
    shown = in_force(grant, entry)
    if entry.state == catalog_pb2.ENTRY_STATE_RETIRED:
        return dataclasses.replace(shown, ended=True)
    return shown


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)



#: ListApplications' order_by for the earliest reply deadline first.
BY_DUE = "reply_due_time"


class Sharing:
    def __init__(self, store: Store, entries: EntryLookup, events: PolicyEvents, settings: Settings,
                 clock: Clock = utc_now) -> None:
        self._store = store
        self._entries = entries
        self._events = events
        self._settings = settings
        self._clock = clock

    def now(self) -> dt.datetime:
        return self._clock()

    # Applications

    async def submit(self, caller: Caller, draft: Draft) -> Application:
        """A user department applies for a conditional resource; a not-shared one goes straight to the
        authority for coordination (R-SHR-3, R-APP-3)."""
        require_identified(caller)
        if not caller.department_code:
            raise permission_denied("DEPARTMENT_ONLY", "applications are made by a department's business system")
        # A person without the 申请人 role applying is logged (no application exists: no target), as a refused
        # reply is.
        async with refusals_logged(self._store.record_admin, caller, "sharing.submitted", ""):
            duties.require_role(caller, APPLICANT, "apply for resources")
        if draft.request_id and not draft.problems and (earlier := await self._repeated(caller, draft)):
            return earlier
        now = self.now()
        problems = apps.draft_problems(draft, now)
        if draft.applicant_department_code not in ("", caller.department_code):
            problems.append(FieldViolation("application.applicant_department_code",
                                           "must be empty or your own department: departments apply for themselves"))
        if resource_code_problem(draft.resource_code):
            raise invalid_argument(problems)
        entry = await self._published_entry(draft.resource_code)
        problems += apps.entry_problems(draft, entry)
        problems += await self._foreign_systems("application.system_ids", caller.department_code, draft.system_ids)
        if problems:
            raise invalid_argument(problems)
        application = self._new_application(caller, draft, entry, now)
        details = {"resource_code": application.resource_code,
                   "provider_department_code": application.provider_department_code,
                   "items": len(application.items)}
        stored = await self._store.insert_application(
            application, admin=[self._admin(event, application.id, details) for event in application.history],
            request=(draft.request_id, draft.fingerprint) if draft.request_id else None)
        if stored is not None:
            return stored
        # A request with the same request_id was stored between the check above and this insert.
        earlier = await self._repeated(caller, draft)
        if earlier is None:
            raise RuntimeError("an application's request_id conflicted, yet no application holds it")
        return earlier

    async def _repeated(self, caller: Caller, draft: Draft) -> Application | None:
        """The application an earlier request with the draft's request_id made, when the draft is that request
        sent again: a retry after a lost reply, or the console's form posted twice, must not apply twice."""
        found = await self._store.application_by_request(caller.department_code, draft.request_id)
        if found is None:
            return None
        application, fingerprint = found
        if fingerprint != draft.fingerprint:
            raise ServiceError(grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_REUSED",
                               f"request_id {draft.request_id} was already used for application {application.id}, "
                               "which asked for something else: make a new request_id for a new application")
        return application

    async def _published_entry(self, code: str) -> catalog_pb2.Entry:
        entry = await self._entries.get(code)
        if entry is None:
            raise not_found(f"resource {code}")
        if entry.state != catalog_pb2.ENTRY_STATE_PUBLISHED:
            raise failed_precondition("NOT_PUBLISHED", f"resource {code} is not published: it cannot be applied for")
        if self._settings.zone != "intranet" and classified(entry):
            raise failed_precondition("WRONG_ZONE", f"resource {code} is classified (涉密): apply on the intranet "
                                      "platform")
        if entry.share_type == common_pb2.SHARE_TYPE_UNCONDITIONAL:
            raise failed_precondition("NO_APPLICATION_NEEDED", f"resource {code} is shared unconditionally "
                                      "(无条件共享): no application is needed, query it directly")
        return entry

    async def _grantable_entry(self, application: Application) -> catalog_pb2.Entry:
        """The resource an approval or a coordination grant opens, as the catalog has it now: retired (or gone)
        since the application was made, its use can no longer be granted, only refused."""
        code = application.resource_code
        entry = await self._entries.get(code)
        if entry is not None and entry.state == catalog_pb2.ENTRY_STATE_RETIRED:
            # Retired since the application was read (it is closed where it is read): closed now, and said so, not
            # "refuse the application", which its closing then refused.
            self._require_open(await self._close(application, entry), "decided")
        if entry is None or entry.state != catalog_pb2.ENTRY_STATE_PUBLISHED:
            state = "no longer in the catalog" if entry is None else f"{_ENTRY_STATES.name(entry.state)} now"
            raise failed_precondition("NOT_PUBLISHED", f"resource {code} is {state}: its use can no longer be "
                                      "granted; refuse the application, saying so")
        return entry

    async def _adjustable_entry(self, grant: Grant) -> catalog_pb2.Entry:
        """The resource ``grant`` opens, as the catalog has it now, while the grant can still be adjusted (its items
        and methods are checked against it, the note names its items). Retiring an entry ends every grant of it for
        good (a retired entry is never published again): an extension or a wider scope of such a grant was saved and
        answered ACTIVE, the provider's 审批人 believing the holder served again while every query under it was
        refused NOT_PUBLISHED."""
        entry = await self._entries.get(grant.resource_code)
        if entry is None:
            raise not_found(f"resource {grant.resource_code}")
        if entry.state == catalog_pb2.ENTRY_STATE_RETIRED:
            raise failed_precondition("NOT_PUBLISHED", f"resource {grant.resource_code} is retired: retiring it ended "
                                      f"grant {grant.id} for good, so it can no longer be adjusted (nothing is "
                                      "served under it); a use still needed is a new application for a resource "
                                      "the catalog publishes")
        if entry.share_type == common_pb2.SHARE_TYPE_NOT_SHARED and not grant.coordinated:
            # A provider's grant is not read while its resource is not shared (only a coordination decision opens
            # it, Art. 12): an extension or a wider scope was saved and answered ACTIVE while every query under the
            # grant was refused NOT_SHARED. It serves again, and can be adjusted again, once a version shares it.
            raise failed_precondition("NOT_SHARED_NOW", f"resource {grant.resource_code} is not shared (不予共享) "
                                      f"since version {entry.version}: grant {grant.id}, a provider's, serves "
                                      "nothing while it is, so it is not adjusted; revoke it if the use has ended, "
                                      "or adjust it once a version of the resource shares it again")
        return entry

    async def _foreign_systems(self, field: str, department_code: str, ids: tuple[str, ...]) -> list[FieldViolation]:
        """Problems for the listed systems that are not the department's own."""
        if not ids or not all(SYSTEM_ID.fullmatch(i) for i in ids):
            return []
        own = await self._store.systems_of(department_code, ids)
        return [FieldViolation(f"{field}[{index}]", f"{system_id} is not a system of department {department_code}")
                for index, system_id in enumerate(ids) if system_id not in own]

    def _new_application(self, caller: Caller, draft: Draft, entry: catalog_pb2.Entry,
                         now: dt.datetime) -> Application:
        not_shared = entry.share_type != common_pb2.SHARE_TYPE_CONDITIONAL
        # The provider's own approvers may not answer their own department's application (OWN_APPLICATION):
        # left SUBMITTED it could only go overdue, counted against the department; the authority decides it.
        own = entry.provider_department_code == caller.department_code
        history = [self._event(caller, "SUBMITTED", "", now)]
        if not_shared:
            history.append(self._event(caller, "ESCALATED", "该资源不予共享，已提请共享主管部门协调（第十二条）", now))
        elif own:
            history.append(self._event(caller, "ESCALATED", "申请本部门提供的资源，本部门不能自行审批，"
                                       "已提请共享主管部门协调", now))
        assert draft.requested_expire_time is not None
        return Application(
            id=f"app-{uuid.uuid4().hex}", applicant_department_code=caller.department_code,
            provider_department_code=entry.provider_department_code, resource_code=entry.code,
            system_ids=draft.system_ids, items=draft.items,
            purposes=apps.unique(draft.purposes), purpose_text=draft.purpose_text, basis=draft.basis,
            requested_expire_time=draft.requested_expire_time, methods=apps.unique(draft.methods),
            quota=draft.quota, state=apps.ESCALATED if not_shared or own else apps.SUBMITTED,
            reply_due_time=apps.reply_due(now, self._settings.reply_working_days), create_time=now,
            history=tuple(history), reply_working_days=self._settings.reply_working_days)

    async def recount_dues(self) -> workdays.Recounted:
        """Counts again, on the calendar installed now (workdays.moved_dues), every reply deadline counted without
        its year's statutory calendar (or stored before it was known whether it was) and every one still awaiting
        its reply; returns how many moved, of each kind. Run at start: a new chinese-calendar release comes with a
        new build, and a year's notice entered in the holiday file (or corrected there) with a restart; until then a
        provisional deadline is the best count there is (the API and the console say （暂定）), and one counted on a
        year entered wrong is counted again on the corrected year."""
        rows = [(stored, stored.create_time, stored.reply_due_time, stored.working_days, stored.provisional)
                for stored in await self._store.reply_dues_to_recount()]
        # Only what changed is written: a deadline still unknown, already counted, is left as stored.
        dues = workdays.moved_dues(rows)
        if dues:
            await self._store.set_reply_dues([(stored, due, days, still) for stored, _was, due, days, still in dues])
        return workdays.recounted(rows, dues)

    async def get_application(self, caller: Caller, application_id: str) -> Application:
        require_identified(caller)
        application = await self._find_application(application_id)
        if not caller.authority and not application.involves(caller.department_code):
            raise permission_denied("NOT_INVOLVED", "only the applicant, the provider and the authority see an "
                                    "application")
        return application

    async def list_applications(self, caller: Caller, role: int, state: int, overdue_only: bool, size: int,
                                token: str, order_by: str = "") -> tuple[list[Application], str]:
        """Newest first, or by reply deadline (``order_by`` "reply_due_time"): newest first, a provider with more
        applications waiting than a page holds found the ones waiting longest, the most urgent, on the last page."""
        require_identified(caller)
        problems = []
        if role not in ROLES:
            problems.append(FieldViolation("role", "must be APPLICANT, PROVIDER or unset"))
        if state and state not in apps.STATES:
            problems.append(FieldViolation("state", "is not an application state"))
        if order_by not in ("", BY_DUE):
            problems.append(FieldViolation("order_by", f"must be empty (newest first) or {BY_DUE!r}"))
        if problems:
            raise invalid_argument(problems)
        limit = pagination.page_size(size)
        where = self._application_filter(caller, role, state or None, self.now() if overdue_only else None)
        if order_by == BY_DUE:
            rows = await self._store.list_applications_by_due(
                where, pagination.time_keyset_after(token, pagination.bigint_id), limit + 1)
            more = len(rows) > limit
            found = [a for _, a in rows[:limit]]
            next_token = pagination.time_keyset_token(*rows[limit - 1][0]) if more else ""
        else:
            found, next_token = page_of(await self._store.list_applications(where, page_after(token, int), limit + 1),
                                        limit)
        shown = await self._closed_if_retired(found)
        if where.state is not None or where.overdue_at is not None:
            # One its resource's retirement closed just now is no longer in the state asked for (waiting, overdue):
            # left out, as ListGrants leaves out a grant the retirement ended. The page may hold fewer than asked.
            shown = [a for a, was in zip(shown, found, strict=True) if a.state == was.state]
        return shown, next_token

    @staticmethod
    def _application_filter(caller: Caller, role: int, state: int | None,
                            overdue_at: dt.datetime | None) -> ApplicationFilter:
        department = caller.department_code
        if role == sharing_pb2.APPLICATION_ROLE_APPLICANT:
            return ApplicationFilter(applicant=department, state=state, overdue_at=overdue_at)
        if role == sharing_pb2.APPLICATION_ROLE_PROVIDER:
            return ApplicationFilter(provider=department, state=state, overdue_at=overdue_at)
        return ApplicationFilter(either=None if caller.authority else department, state=state, overdue_at=overdue_at)

    async def reply(self, caller: Caller, application_id: str, decision: int, reason: str,
                    terms: Terms) -> tuple[Application, Grant | None]:
        """The provider approves (possibly narrowing) or refuses with a reason (R-APP-2)."""
        require_identified(caller)
        application = await self._find_application(application_id)
        step = "sharing.approved" if decision == APPROVE else "sharing.refused"
        async with refusals_logged(self._store.record_admin, caller, step, application.id):
            duties.require_person(caller, APPROVER, "reply to applications", application.provider_department_code)
            if not caller.authority and caller.department_code != application.provider_department_code:
                raise permission_denied("NOT_PROVIDER", f"only the provider {application.provider_department_code} "
                                        "or the authority may reply to this application")
            if caller.department_code == application.applicant_department_code:
                raise permission_denied("OWN_APPLICATION", "nobody approves or refuses an application made by their "
                                        "own department (separation of duties)")
        # A decision that opens (or refuses) access to data is made with a session still its person's: the row is
        # read, as for an administrator's change (directory.still_theirs), since the verifier learns of a sign-out,
        # a disable or a change of roles only from an event that may be late or lost (Redis away).
        await still_theirs(self._store, caller, step, application.id)
        self._expect_state(application, (apps.SUBMITTED,), "replied to")
        problems: list[FieldViolation] = []
        if decision not in (APPROVE, REFUSE):
            problems.append(FieldViolation("decision", "must be APPROVE or REFUSE"))
        problems += self._reason_problems(reason, required=decision == REFUSE, why="when refusing, state why")
        if decision == REFUSE:
            problems += apps.refusal_problems(terms, "approve (decision APPROVE)")
        now = self.now()
        if decision != APPROVE:
            if problems:
                raise invalid_argument(problems)
            event = self._event(caller, "REFUSED", reason, now)
            return await self._move(application, apps.REFUSED, event, reason)
        entry = await self._grantable_entry(application)
        if entry.share_type == common_pb2.SHARE_TYPE_NOT_SHARED:
            # Made not-shared (不予共享) since the application: a provider's grant is not read for such a resource
            # (only a coordination decision opens it, Art. 12), so approving made an "approved" application and an
            # active grant under which every query was refused NOT_SHARED.
            raise failed_precondition("NOT_SHARED_NOW", f"resource {entry.code} is not shared (不予共享) since "
                                      f"version {entry.version}: a provider's approval cannot open it; refuse the "
                                      "application, saying so (the applicant may then ask the authority to "
                                      "coordinate)")
        scope = self._offered(application, apps.narrow(application, terms, now), entry)
        problems += scope.problems + apps.scope_entry_problems(scope, entry, application.create_time)
        problems += apps.basic_only_problems(scope.items, scope.unmasked_items, entry, application.items)
        if problems:
            raise invalid_argument(problems)
        grant = self._new_grant(application, scope, now, coordinated=False, granted_by=actor_of(caller))
        event = self._event(caller, "APPROVED", self._approval_note(application, scope, reason,
                                                                    display_names(entry)), now)
        return await self._move(application, apps.APPROVED, event, reason, grant)

    @staticmethod
    def _offered(application: Application, scope: apps.Scope, entry: catalog_pb2.Entry) -> apps.Scope:
        """``scope`` with the methods the resource still offers (applications.offered); FAILED_PRECONDITION when it
        offers none of those applied for, as an approval cannot choose others: the application is refused."""
        kept = apps.offered(scope, entry)
        if not kept.methods:
            asked = ", ".join(common_pb2.ShareMethod.Name(m) for m in application.methods)
            offers = ", ".join(common_pb2.ShareMethod.Name(m) for m in sorted(offered_methods(entry))) or "none"
            raise failed_precondition("METHOD_NOT_OFFERED", f"resource {entry.code} no longer offers {asked}, the "
                                      f"share method applied for (version {entry.version} offers {offers}): its use "
                                      "can no longer be granted; refuse the application, saying so (the applicant "
                                      "may apply again for a method it offers)")
        return kept

    async def escalate(self, caller: Caller, application_id: str, reason: str) -> Application:
        """The applicant takes a refused (or unanswered, overdue) application to the authority (R-APP-3)."""
        require_identified(caller)
        application = await self._find_application(application_id)
        async with refusals_logged(self._store.record_admin, caller, "sharing.escalated", application.id):
            if caller.department_code != application.applicant_department_code:
                raise permission_denied("NOT_APPLICANT", "only the applicant may escalate an application")
            duties.require_role(caller, APPLICANT, "escalate applications")
        now = self.now()
        self._require_open(application, "escalated")
        if not (application.state == apps.REFUSED or application.overdue(now)):
            raise failed_precondition("NOT_ESCALATABLE", f"application {application.id} is "
                                      f"{self._state_name(application.state)}: only refused applications, or ones "
                                      "unanswered past their due time, can be escalated")
        refused = application.state == apps.REFUSED
        await self._require_coordinable(application, refused)
        self._require_term_open(application, refused, now)
        # A refusal states its reason (R-APP-2); asking the authority to overrule it must answer that reason, or the
        # 审核员 coordinates on the provider's word alone. An application left unanswered is its own ground.
        if problems := self._reason_problems(reason, required=refused, why="when escalating a refusal, say why the "
                                             "authority should grant what the provider refused"):
            raise invalid_argument(problems)
        if not refused and not reason.strip():
            reason = f"提供部门逾期未答复（答复期限 {term_end_text(application.reply_due_time)}）"
        event = self._event(caller, "ESCALATED", reason, now)
        # Only from the state it was checked in: from either, an escalation of an overdue application crossing the
        # provider's late refusal escalated the refusal without the reason its escalation must give.
        moved, _ = await self._move(application, apps.ESCALATED, event, None, from_states=(application.state,))
        return moved

    async def _require_coordinable(self, application: Application, refused: bool) -> None:
        """FAILED_PRECONDITION RESOURCE_RETIRED when the resource applied for is retired: the authority's
        coordination can only refuse then (_grantable_entry), and the applicant escalated and waited for a decision
        that could not grant anything. Said with what to do instead: a refusal stands, an unanswered application is
        withdrawn."""
        entry = await self._entries.get(application.resource_code)
        if entry is None or entry.state != catalog_pb2.ENTRY_STATE_RETIRED:
            return
        instead = ("the refusal stands" if refused else
                   "withdraw the application (WithdrawApplication), which its provider can no longer approve")
        day = entry.update_time.ToDatetime(tzinfo=dt.UTC).astimezone(workdays.CHINA).date()
        raise failed_precondition("RESOURCE_RETIRED", f"resource {entry.code} was retired on {day}: the authority's "
                                  "coordination could no longer grant its use, so there is nothing to escalate; "
                                  f"{instead}, and apply for a resource the catalog publishes if the need remains")

    @staticmethod
    def _require_term_open(application: Application, refused: bool, now: dt.datetime) -> None:
        """FAILED_PRECONDITION TERM_ENDED when the period applied for has ended: the authority's coordination can
        then only refuse (applications.narrow: no end can be approved any more), and the applicant escalated a
        refusal, or an application left unanswered, and waited for a decision that could grant nothing, the
        authority's 审核员 left to write the refusal. Said with what to do instead, as for a retired resource."""
        if application.requested_expire_time > now:
            return
        instead = ("the refusal stands" if refused else
                   "withdraw the application (WithdrawApplication), which its provider can no longer approve either")
        raise failed_precondition("TERM_ENDED", f"application {application.id} asked for use until "
                                  f"{term_end_text(application.requested_expire_time)} (Beijing time), which has "
                                  "passed: the authority's coordination could no longer grant it, so there is "
                                  f"nothing to escalate; {instead}, and apply again for the period still needed")

    async def withdraw(self, caller: Caller, application_id: str, reason: str) -> Application:
        """The applicant ends an application nobody has decided yet: one made by mistake (the wrong items, the wrong
        resource) or no longer needed was left for the provider to refuse or to let fall overdue, counted against
        it, and an application cannot be edited: it is withdrawn and made again."""
        require_identified(caller)
        application = await self._find_application(application_id)
        async with refusals_logged(self._store.record_admin, caller, "sharing.withdrawn", application.id):
            if caller.department_code != application.applicant_department_code:
                raise permission_denied("NOT_APPLICANT", "only the applicant may withdraw an application")
            duties.require_role(caller, APPLICANT, "withdraw applications")
        self._require_open(application, "withdrawn")
        if application.state not in apps.UNDECIDED:
            raise failed_precondition("NOT_WITHDRAWABLE", f"application {application.id} is "
                                      f"{self._state_name(application.state)}: only an application nobody has "
                                      "decided yet (SUBMITTED or ESCALATED) can be withdrawn; a grant it gave ends "
                                      "by revocation")
        if problems := self._reason_problems(reason, required=False):
            raise invalid_argument(problems)
        event = self._event(caller, "WITHDRAWN", reason, self.now())
        moved, _ = await self._move(application, apps.WITHDRAWN, event, None, from_states=apps.UNDECIDED)
        return moved

    async def coordinate(self, caller: Caller, application_id: str, grant_access: bool, reason: str,
                         terms: Terms) -> tuple[Application, Grant | None]:
        """The authority's coordination decision on an escalated application (Art. 12)."""
        step = "sharing.coordinated_granted" if grant_access else "sharing.coordinated_refused"
        # Checked before the lookup (nobody else learns which ids exist): the target is the id if it has the form.
        target = application_id if APPLICATION_ID.fullmatch(application_id) else ""
        async with refusals_logged(self._store.record_admin, caller, step, target):
            duties.require_person(caller, REVIEWER, "record coordination decisions")
            require_authority(caller, "record coordination decisions")
        application = await self._find_application(application_id)
        async with refusals_logged(self._store.record_admin, caller, step, application.id):
            self._refuse_own_escalation(caller, application)
        await still_theirs(self._store, caller, step, application.id)  # as a reply's
        self._expect_state(application, (apps.ESCALATED,), "coordinated")
        now = self.now()
        problems = self._reason_problems(reason, required=not grant_access, why="a final refusal must say why")
        if not grant_access:
            problems += apps.refusal_problems(terms, "decide grant: true")
            if problems:
                raise invalid_argument(problems)
            event = self._event(caller, "COORDINATED_REFUSED", reason, now)
            # The reason is the authority's: the provider's reply keeps its own (reply_reason).
            return await self._move(application, apps.COORDINATED_REFUSED, event, None,
                                    from_states=(apps.ESCALATED,), coordination_reason=reason)
        entry = await self._grantable_entry(application)
        scope = self._offered(application, apps.narrow(application, terms, now), entry)
        problems += scope.problems + apps.scope_entry_problems(scope, entry, application.create_time)
        problems += apps.basic_only_problems(scope.items, scope.unmasked_items, entry, application.items)
        if problems:
            raise invalid_argument(problems)
        grant = self._new_grant(application, scope, now, coordinated=True, granted_by=actor_of(caller))
        event = self._event(caller, "COORDINATED_GRANTED",
                            self._approval_note(application, scope, reason, display_names(entry)), now)
        return await self._move(application, apps.COORDINATED_GRANTED, event, None, grant,
                                from_states=(apps.ESCALATED,), coordination_reason=reason)

    @staticmethod
    def _refuse_own_escalation(caller: Caller, application: Application) -> None:
        """The person who made or escalated an application does not decide it (separation of duties, as
        OWN_APPLICATION for a provider's 审批人): the authority's persons may hold 申请人 and 审核员 together, and
        one of them applied for what a department refused or does not share and granted it to themselves."""
        mine = [e.action for e in application.history if caller.is_person and e.actor_system_id == caller.person_id
                and e.action in apps.REQUESTS]
        if mine:
            raise permission_denied("OWN_ESCALATION", f"you {'escalated' if 'ESCALATED' in mine else 'made'} "
                                    f"application {application.id}: another 审核员 (REVIEWER) of the authority must "
                                    "record its coordination decision (separation of duties)",
                                    application_id=application.id)

    async def _move(self, application: Application, state: int, event: ApplicationEvent, reason: str | None,
                    grant: Grant | None = None, from_states: tuple[int, ...] = (apps.SUBMITTED,),
                    coordination_reason: str | None = None) -> tuple[Application, Grant | None]:
        moved = await self._store.transition(application.id, from_states, state, event, reason, grant,
                                             coordination_reason=coordination_reason,
                                             admin=self._admin(event, application.id, {
                                                 "resource_code": application.resource_code,
                                                 "applicant_department_code": application.applicant_department_code,
                                                 "grant_id": grant.id if grant else ""}))
        if moved is None:
            raise failed_precondition("STATE_CHANGED", f"application {application.id} was decided or withdrawn "
                                      "meanwhile: read it again")
        if moved[1] is not None:
            await self._events.grant_changed(moved[1])
        return moved

    @staticmethod
    def _new_grant(application: Application, scope: apps.Scope, now: dt.datetime, coordinated: bool,
                   granted_by: Actor) -> Grant:
        return Grant(id=f"grt-{uuid.uuid4().hex}", application_id=application.id,
                     department_code=application.applicant_department_code,
                     provider_department_code=application.provider_department_code,
                     resource_code=application.resource_code, system_ids=scope.system_ids, items=scope.items,
                     unmasked_items=scope.unmasked_items, purposes=scope.purposes, methods=scope.methods,
                     expire_time=scope.expire_time, quota=scope.quota, coordinated=coordinated, create_time=now,
                     granted_by=granted_by)

    @staticmethod
    def _approval_note(application: Application, scope: apps.Scope, reason: str,
                       items: Mapping[str, str] | None = None) -> str:
        """What the approval changed from the request, for the history (read by the departments' staff, in
        Chinese: items by their catalog names, ``items`` (entries.display_names), as the console shows the items
        applied for — the applicant read 同意范围有调整：信息项 citizen_id、name —, purposes by their Chinese names:
        "PURPOSE_TYPE_WORK_REFERENCE" is no word of theirs)."""
        items = items or {}
        narrowed = []
        # As sets: the items applied for, named in another order, are the request, not a narrowing of it.
        if set(scope.items) != set(application.items):
            narrowed.append(f"信息项 {'、'.join(items.get(i, i) for i in scope.items)}")
        if set(scope.purposes) != set(application.purposes):
            narrowed.append("用途 " + "、".join(PURPOSE_LABELS.get(p, str(p)) for p in scope.purposes))
        if set(scope.methods) != set(application.methods):  # a method the resource no longer offers (apps.offered)
            narrowed.append("使用方式 " + "、".join(METHOD_LABELS.get(m, str(m)) for m in scope.methods))
        if scope.expire_time != application.requested_expire_time:
            narrowed.append(f"有效期至 {term_end_text(scope.expire_time)}")
        if scope.quota != application.quota:
            narrowed.append(f"调用上限 {scope.quota}")
        if scope.unmasked_items:
            narrowed.append(f"不脱敏 {'、'.join(items.get(i, i) for i in scope.unmasked_items)}")
        note = f"同意范围有调整：{'；'.join(narrowed)}" if narrowed else "按申请范围同意"
        return f"{note}。{reason}" if reason.strip() else note

    async def _find_application(self, application_id: str) -> Application:
        """The application as it stands: closed first if its resource was retired before anyone decided it."""
        found = await find_by_id(application_id, APPLICATION_ID, self._store.get_application, "application")
        return (await self._closed_if_retired([found]))[0]

    async def _closed_if_retired(self, applications: list[Application]) -> list[Application]:
        """``applications`` with each one nobody has decided yet whose resource is retired closed (CLOSED), as
        stored. Retiring an entry ends every grant of it for good and nobody can grant its use any more, yet such an
        application stayed SUBMITTED for ever: listed as the provider's to answer, counted as unanswered (supervision's
        applications.unreplied_overdue, month after month), and the applicant learnt nothing until someone refused it.
        The catalog tells of a retirement by an event that may be lost, so it is checked where an application is
        read (one cached entry per resource) and before the figures are counted (close_retired)."""
        codes = sorted({a.resource_code for a in applications if a.state in apps.UNDECIDED})
        if not codes:
            return applications
        entries = dict(zip(codes, await asyncio.gather(*(self._entry_if_known(code) for code in codes)), strict=True))
        shown = []
        for application in applications:
            entry = entries.get(application.resource_code)
            if application.state in apps.UNDECIDED and entry is not None \
                    and entry.state == catalog_pb2.ENTRY_STATE_RETIRED:
                application = await self._close(application, entry)
            shown.append(application)
        return shown

    async def _entry_if_known(self, code: str) -> catalog_pb2.Entry | None:
        """The entry, or None while the catalog cannot be asked (not cached): an application is then read as stored,
        as it was before its resource's retirement was looked for, rather than its reading failing UNAVAILABLE (the
        step that needs the entry, an approval, still says so); it is closed when next read."""
        try:
            return await self._entries.get(code)
        except ServiceError as error:
            if error.code != grpc.StatusCode.UNAVAILABLE:
                raise
            return None

    async def close_retired(self) -> int:
        """Closes every undecided application of a retired resource; returns how many (run before the figures are
        counted, so that no retired resource's application is counted as waiting for its provider). Every resource
        is tried (sweep_retired); then the first failure is raised, since the figures and a department's retirement
        must not count on a sweep that missed some."""
        closed, failed = await self.sweep_retired()
        if failed:
            raise next(iter(failed.values()))
        return closed

    async def sweep_retired(self) -> tuple[int, dict[str, Exception]]:
        """Closes every undecided application of a retired resource, resource by resource: how many were closed,
        and the resources that could not be done now with their failure. The sweep stopped at the first resource
        whose entry or applications could not be read (the catalog timing out on that one entry, an error on one
        transition), and every resource after it in code order kept its applications SUBMITTED until the next
        sweep, the next (re)subscription, which a healthy platform may not have for days."""
        closed, failed = 0, {}
        for code in await self._store.undecided_resources():
            try:
                closed += await self.close_retired_of(code)
            except Exception as exc:  # one resource's failure is reported, never the sweep's end
                failed[code] = exc
        return closed, failed

    async def close_retired_of(self, code: str) -> int:
        """Closes resource ``code``'s undecided applications if it is retired; returns how many. Run when the
        catalog's change event for it arrives, so that one nobody reads since is CLOSED in ListApplications' state
        filter and in the applicant's list, not SUBMITTED until somebody opens it. Idempotent: one closed or decided
        meanwhile is left as it is."""
        entry = await self._entries.get(code)
        if entry is None or entry.state != catalog_pb2.ENTRY_STATE_RETIRED:
            return 0
        closed = 0
        for application in await self._store.undecided_of(code):
            closed += (await self._close(application, entry)).state == apps.CLOSED
        return closed

    async def _close(self, application: Application, entry: catalog_pb2.Entry) -> Application:
        """Closes ``application`` for its resource's retirement: the step is dated when the resource was retired
        (the figures judge by it whether the provider had let the reply fall due first), names the day and the
        catalogue's reason, and goes to the administrative log as the platform's (sharing.closed). One decided or
        closed meanwhile by someone else is returned as it is now."""
        retired = entry.update_time.ToDatetime(tzinfo=dt.UTC)
        at = max([retired, *(event.time for event in application.history)])
        platform = service_caller("authorization")
        event = ApplicationEvent(action=apps.CLOSED_EVENT, actor_department_code=application.provider_department_code,
                                 actor_system_id=platform.system_id, actor_display_name=apps.PLATFORM_NAME, time=at,
                                 note=apps.retirement_note(retired.astimezone(workdays.CHINA).date(),
                                                           entry.retire_reason))
        admin = dataclasses.replace(self._admin(event, application.id, {
            "resource_code": application.resource_code,
            "applicant_department_code": application.applicant_department_code, "grant_id": ""}), time=self.now())
        moved = await self._store.transition(application.id, apps.UNDECIDED, apps.CLOSED, event, admin=admin)
        if moved is not None:
            return moved[0]
        again = await self._store.get_application(application.id)
        assert again is not None  # applications are never deleted
        return again

    @staticmethod
    def _require_open(application: Application, action: str) -> None:
        """FAILED_PRECONDITION APPLICATION_CLOSED for a step on an application its resource's retirement closed,
        saying so and what to do instead (not the bare WRONG_STATE of one decided by somebody)."""
        if application.state != apps.CLOSED:
            return
        day = application.history[-1].time.astimezone(workdays.CHINA).date() if application.history else "?"
        raise failed_precondition("APPLICATION_CLOSED", f"application {application.id} was closed when resource "
                                  f"{application.resource_code} was retired ({day}): it cannot be {action}, since "
                                  "nobody can grant a retired resource's use; apply for a resource the catalog "
                                  "publishes if the need remains")

    def _expect_state(self, application: Application, states: tuple[int, ...], action: str) -> None:
        self._require_open(application, action)
        if application.state not in states:
            raise failed_precondition("WRONG_STATE", f"application {application.id} is "
                                      f"{self._state_name(application.state)}: it cannot be {action} now")

    @staticmethod
    def _state_name(state: int) -> str:
        return _APPLICATION_STATES.name(state)

    @staticmethod
    def _reason_problems(reason: str, required: bool, why: str = "") -> list[FieldViolation]:
        """A reason's problems; a required one must say something (a refusal of "。" tells nobody why)."""
        if required:
            violation = reason_violation("reason", reason, TEXT_MAX, why or "state the reason")
            return [violation] if violation is not None else []
        error = text_problem(reason)
        return [FieldViolation("reason", error)] if error is not None else []

    @staticmethod
    def _admin(event: ApplicationEvent, target: str, details: dict[str, object]) -> AdminEvent:
        """The administrative-log entry of an application or grant step (free-text notes stay out of it; the
        person who took it is named)."""
        if event.actor_display_name:
            details = {**details, ACTOR_DISPLAY_NAME: event.actor_display_name}
        return AdminEvent(action=f"sharing.{event.action.lower()}", target=target,
                          actor_system_id=event.actor_system_id, actor_department_code=event.actor_department_code,
                          details=details, time=event.time)

    @staticmethod
    def _event(caller: Caller, action: str, note: str, now: dt.datetime) -> ApplicationEvent:
        return ApplicationEvent(action=action, actor_department_code=caller.department_code,
                                actor_system_id=caller.system_id, note=note, time=now,
                                actor_display_name=caller.display_name)

    # Grants

    async def get_grant(self, caller: Caller, grant_id: str) -> Grant:
        require_identified(caller)
        grant = await self._find_grant(grant_id)
        if not grant.visible_to(caller):
            raise permission_denied("NOT_INVOLVED", "only the grantee, the provider and the authority see a grant")
        return (await self.in_force([grant]))[0]

    async def in_force(self, grants: list[Grant]) -> list[Grant]:
        """``grants`` as they apply now (decisions.in_force): an item the catalog dropped since a grant was made (added
        back or not) is not answered under it, so it is shown in lapsed_items, not among its items, lest the provider
        and the holder see a grant that says more than it does; one whose entry is retired is ``ended`` (read
        GRANT_STATE_ENDED), since the retirement ended it for good. One entry read per resource (the cached
        entries)."""
        codes = sorted({grant.resource_code for grant in grants})
        entries = dict(zip(codes, await asyncio.gather(*(self._entries.get(code) for code in codes)), strict=True))
        return [grant if (entry := entries[grant.resource_code]) is None else _as_it_stands(grant, entry)
                for grant in grants]

    async def list_grants(self, caller: Caller, resource_code: str, state: int, size: int,
                          token: str, ending: GrantsEnding | None = None) -> tuple[list[Grant], str]:
        """Newest first; ``ending`` narrows them to one side of the caller's department and to those in force
        that end before a time (the console's 待办: the grants ending soon, counted in one call)."""
        require_identified(caller)
        ending = ending or GrantsEnding()
        problems = list(ending.problems)
        if resource_code and (error := resource_code_problem(resource_code)):
            problems.append(FieldViolation("resource_code", error))
        if state and state not in grant_rules.STATES:
            problems.append(FieldViolation("state", "must be ACTIVE, EXPIRED, ENDED, REVOKED or unset"))
        if ending.role not in ROLES:
            problems.append(FieldViolation("role", "must be APPLICANT, PROVIDER or unset"))
        if ending.before is not None and state not in (0, sharing_pb2.GRANT_STATE_ACTIVE):
            problems.append(FieldViolation("expire_before", "lists grants in force: state must be ACTIVE or unset"))
        if problems:
            raise invalid_argument(problems)
        limit = pagination.page_size(size)
        if ending.before is not None:
            state = grant_rules.ACTIVE
        where = self._grant_filter(caller, ending, resource_code or None, state or None)
        found, next_token = page_of(await self._store.list_grants(where, page_after(token, int), limit + 1), limit)
        shown = await self.in_force(found)
        if state:
            # Read in the state asked for, which the retirement decides (the grants ending soon, 首页's, leave out
            # those it ended, which its holder was told to apply for again and its provider to extend). A page may
            # then hold fewer than asked; its token goes on from the rows read.
            shown = [grant for grant in shown if grant.state_at(where.now) == state]
        return shown, next_token

    def _grant_filter(self, caller: Caller, ending: GrantsEnding, resource_code: str | None,
                      state: int | None) -> GrantFilter:
        """As ``_application_filter``: a side is the caller's department's (the authority's too), no side every
        grant the caller may see."""
        department, role = caller.department_code, ending.role
        return GrantFilter(visible_to=None if role or caller.authority else department, resource_code=resource_code,
                           state=state, now=self._clock(), expire_before=ending.before,
                           provider_adjusted_after=ending.adjusted_after,
                           holder=department if role == sharing_pb2.APPLICATION_ROLE_APPLICANT else None,
                           provider=department if role == sharing_pb2.APPLICATION_ROLE_PROVIDER else None)

    async def update_grant(self, caller: Caller, grant_id: str, update: GrantUpdate) -> Grant:
        """The provider adjusts a grant's scope (003 Art. 11), within what the resource offers."""
        grant = await self._managed_grant(caller, grant_id, "adjust", "grant.id")
        grant_rules.require_etag(grant, update.etag)
        entry = await self._adjustable_entry(grant)
        now = self.now()
        changed, problems = grant_rules.changes(grant, update, entry, now)
        if changed.keys() & {"items", "purposes", "methods", "system_ids"}:
            problems += grant_rules.beyond_request(changed, await self._find_application(grant.application_id))
        if grant.coordinated:
            problems += grant_rules.beyond_coordination(grant, changed)
            if not caller.authority:
                # The authority decided how far this use goes (Art. 12): its provider narrowing it (to one call, to
                # tomorrow) said nothing to anyone; it now says why, in the history the authority reads.
                problems += self._reason_problems(update.reason, required=True, why=(
                    "say why a grant the authority's coordination decision gave is narrowed: the authority reads it "
                    "in the grant's history"))
        elif update.reason:
            problems += self._reason_problems(update.reason, required=False)
        if "system_ids" in changed:
            problems += await self._foreign_systems("grant.system_ids", grant.department_code, update.system_ids)
        if problems:
            raise invalid_argument(problems)
        # Against the grant as shown (its items in force): the 授权 form sends those, its lapsed items not among them.
        shown = (await self.in_force([grant]))[0]
        if not (changed := grant_rules.made(shown, changed)):
            return shown  # nothing to change: no new version, no step in the history
        if changed.keys() & {"items", "unmasked_items"} and (problems := apps.basic_only_problems(
                changed.get("items", shown.items), changed.get("unmasked_items", shown.unmasked_items), entry,
                (await self._find_application(grant.application_id)).items, "grant.items",
                "revoke the grant" if not grant.coordinated else "ask the authority to revoke it")):
            # Narrowed to what every department gets: a grant under which nothing is answered, left ACTIVE.
            raise invalid_argument(problems)
        note = grant_rules.change_note(changed, display_names(entry))
        if update.reason.strip():
            note = f"{note}（理由：{update.reason.strip()}）"
        event = self._event(caller, grant_rules.UPDATED_EVENT, note, now)
        details = self._grant_details(grant, changed)
        if grant.coordinated:  # the authority's staff find the adjustments of their decisions in the log
            details["coordinated"] = True
        admin = self._admin(event, grant.id, details)
        updated = await self._store.update_grant(grant.id, changed, event, admin=admin,
                                                 version=grant.policy_version if update.etag else None)
        if updated is None and update.etag and (now_grant := await self._find_grant(grant.id)).state == \
                grant_rules.ACTIVE:
            raise grant_rules.etag_mismatch(now_grant)  # adjusted by someone else since it was read above
        return await self._changed(grant, updated)

    async def revoke_grant(self, caller: Caller, grant_id: str, reason: str) -> Grant:
        """Revokes a grant; query drops decisions resting on it as soon as the event arrives (R-APP-4)."""
        grant = await self._managed_grant(caller, grant_id, "revoke")
        if problems := self._reason_problems(reason, required=True, why="say why the grant is revoked"):
            raise invalid_argument(problems)
        # The answer shows the grant as in force, which reads its resource's entry: read before the revocation, so
        # that with the catalog down (the entry not cached) the call is refused having changed nothing, as
        # UpdateGrant is, rather than revoking and then answering UNAVAILABLE (a caller told to retry found the
        # grant revoked, GRANT_REVOKED, and the console had said 您的操作未完成).
        await self.in_force([grant])
        event = self._event(caller, grant_rules.REVOKED_EVENT, reason, self.now())
        admin = self._admin(event, grant.id, self._grant_details(grant, {}))
        return await self._changed(grant, await self._store.update_grant(grant.id, {}, event, revoke_reason=reason,
                                                                         admin=admin))

    @staticmethod
    def _grant_details(grant: Grant, changed: dict[str, object]) -> dict[str, object]:
        return {"resource_code": grant.resource_code, "department_code": grant.department_code,
                "changed": sorted(changed)}

    async def _managed_grant(self, caller: Caller, grant_id: str, action: str, field: str = "id") -> Grant:
        require_identified(caller)
        grant = await self._find_grant(grant_id, field)
        step = grant_rules.REVOKED_EVENT if action == "revoke" else grant_rules.UPDATED_EVENT
        async with refusals_logged(self._store.record_admin, caller, f"sharing.{step.lower()}", grant.id):
            if grant.coordinated and action == "revoke":
                # The authority's coordination decision (Art. 12) opened it over the provider's refusal or a
                # not-shared type: the provider revoking it at once would make the decision void, so revoking it
                # is the authority's (the provider still adjusts its scope as needs change, 003 Art. 11).
                duties.require_person(caller, REVIEWER, "revoke grants given by a coordination decision")
                require_authority(caller, f"revoke grant {grant.id}: it was given by the authority's coordination "
                                  "decision (Art. 12), which only the authority undoes; ask the 共享主管部门")
            else:
                duties.require_person(caller, APPROVER, f"{action} grants", grant.provider_department_code)
                if not caller.authority and caller.department_code != grant.provider_department_code:
                    raise permission_denied("NOT_PROVIDER", f"only the provider {grant.provider_department_code} or "
                                            f"the authority may {action} this grant")
        await still_theirs(self._store, caller, f"sharing.{step.lower()}", grant.id)  # as a reply's
        return self._active(grant)

    @staticmethod
    def _active(grant: Grant) -> Grant:
        if grant.state != grant_rules.ACTIVE:
            raise failed_precondition("GRANT_REVOKED", f"grant {grant.id} is revoked: a revoked grant is final")
        return grant

    async def _changed(self, before: Grant, after: Grant | None) -> Grant:
        if after is None:
            raise failed_precondition("GRANT_REVOKED", f"grant {before.id} was revoked meanwhile")
        await self._events.grant_changed(after)
        return (await self.in_force([after]))[0]

    async def _find_grant(self, grant_id: str, field: str = "id") -> Grant:
        return await find_by_id(grant_id, GRANT_ID, self._store.get_grant, "grant", field)

