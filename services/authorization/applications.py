"""Applications for conditional resources and their life cycle (R-APP-1..5).

An application moves SUBMITTED → APPROVED | REFUSED by the provider; a refused
one (or a not-shared request, which starts there) is ESCALATED to the authority,
whose coordination decision ends it COORDINATED_GRANTED or COORDINATED_REFUSED. Until
someone decides it (SUBMITTED or ESCALATED), the applicant may end it WITHDRAWN; the
retirement of the resource applied for ends it CLOSED, since nobody can grant its use any more.
An approval may narrow the request (fewer items or purposes, a shorter period, a
lower quota) but never widen it. This module holds the pure rules; the
workflow that stores and announces them is services.authorization.sharing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

from govshare.authorization.v1 import sharing_pb2
from govshare.catalog.v1 import catalog_pb2
from govshare.common.v1 import common_pb2
from services.authorization.entries import item_names, listed_after, offered_methods
from services.authorization.validation import (
    ITEM_NAME,
    METHODS,
    PURPOSES,
    TEXT_MAX,
    enum_list_problems,
    item_list_problems,
    resource_code_problem,
    system_id_problems,
    text_problem,
    unique,
)
from services.runtime.actors import Actor
from services.runtime.catalog_client import basic_items
from services.runtime.errors import FieldViolation, one_line_violation, reason_violation
from services.runtime.workdays import add_working_days, end_problem, term_end_text

SUBMITTED = sharing_pb2.APPLICATION_STATE_SUBMITTED
APPROVED = sharing_pb2.APPLICATION_STATE_APPROVED
REFUSED = sharing_pb2.APPLICATION_STATE_REFUSED
ESCALATED = sharing_pb2.APPLICATION_STATE_ESCALATED
COORDINATED_GRANTED = sharing_pb2.APPLICATION_STATE_COORDINATED_GRANTED
COORDINATED_REFUSED = sharing_pb2.APPLICATION_STATE_COORDINATED_REFUSED
WITHDRAWN = sharing_pb2.APPLICATION_STATE_WITHDRAWN
CLOSED = sharing_pb2.APPLICATION_STATE_CLOSED
#: The history's step of an application its resource's retirement closed.
CLOSED_EVENT = "CLOSED"
#: Who took that step, as the history shows it (the platform, not a person: its id read svc:authorization).
PLATFORM_NAME = "共享平台"
#: The states in which nobody has decided an application yet, so its applicant may still withdraw it.
UNDECIDED = (SUBMITTED, ESCALATED)
#: The history's steps that are the provider's reply, and the authority's coordination decision.
REPLIES = frozenset({"APPROVED", "REFUSED"})
COORDINATIONS = frozenset({"COORDINATED_GRANTED", "COORDINATED_REFUSED"})
#: The applicant's steps asking for access: whoever took one does not coordinate the application.
REQUESTS = frozenset({"SUBMITTED", "ESCALATED"})
STATES = frozenset(v for v in sharing_pb2.ApplicationState.values() if v != sharing_pb2.APPLICATION_STATE_UNSPECIFIED)
#: An application naming no items. It was made for every item of the resource, sensitive ones included, which the
#: provider's 审批人 was asked to approve: more than a use needs (个人信息保护法 Art. 6, 最小必要), and not what the
#: department chose (a list a program left empty, a field a generated client misnamed). The console refused it in its
#: own form only.
NO_ITEMS = ("name each item your use needs (最小必要): an application asks for the items it lists, none for all of "
            "them")


def retirement_note(day: dt.date, retire_reason: str) -> str:
    """The CLOSED step's note, read by both departments' staff: when and why the resource was retired, and what the
    applicant does if the need remains."""
    why = f"（{retire_reason.strip()}）" if retire_reason.strip() else ""
    return (f"所申请的资源目录已于 {day.isoformat()} 撤销{why}，提供部门和共享主管部门都不能再准予使用，"
            "申请随之终止，无需答复；如仍需要，请对现有的资源目录重新申请")


@dataclass(frozen=True)
class ApplicationEvent:
    """One step of an application's history (R-APP-5)."""

    action: str
    actor_department_code: str
    actor_system_id: str
    note: str
    time: dt.datetime
    #: The person's display name when a person took the step (``actor_system_id`` is then their id).
    actor_display_name: str = ""

    @property
    def actor(self) -> Actor:
        return Actor(self.actor_system_id, self.actor_display_name, self.actor_department_code)


@dataclass(frozen=True)
class Draft:
    """What a user department asks for; ``problems`` carries what mapping from the wire already found."""

    applicant_department_code: str
    resource_code: str
    system_ids: tuple[str, ...] = ()
    items: tuple[str, ...] = ()
    purposes: tuple[int, ...] = ()
    purpose_text: str = ""
    basis: str = ""
    requested_expire_time: dt.datetime | None = None
    methods: tuple[int, ...] = ()
    quota: int = 0
    problems: tuple[FieldViolation, ...] = ()
    # The caller's idempotency key (AIP-155) and a digest of the application as sent: a repeat is recognised
    # by the key, and told apart from a different application under the same key by the digest.
    request_id: str = ""
    fingerprint: bytes = b""


@dataclass(frozen=True)
class Application:
    id: str
    applicant_department_code: str
    provider_department_code: str
    resource_code: str
    system_ids: tuple[str, ...]
    items: tuple[str, ...]
    purposes: tuple[int, ...]
    purpose_text: str
    basis: str
    requested_expire_time: dt.datetime
    methods: tuple[int, ...]
    quota: int
    state: int
    reply_due_time: dt.datetime
    create_time: dt.datetime
    #: The provider's reply's reason, and the authority's coordination decision's (each its own).
    reply_reason: str = ""
    grant_id: str = ""
    coordination_reason: str = ""
    history: tuple[ApplicationEvent, ...] = ()
    #: The working days ``reply_due_time`` was counted with, kept so that a deadline counted without its year's
    #: calendar is counted again once the calendar has it (workdays.moved_dues); None when not kept.
    reply_working_days: int | None = None

    def overdue(self, now: dt.datetime) -> bool:
        """Unanswered past the reply deadline (computed when read, so it is never stale)."""
        return self.state == SUBMITTED and now > self.reply_due_time

    def decided_by(self, actions: frozenset[str]) -> Actor:
        """Who took the last of the history's steps among ``actions`` (nobody yet: an empty Actor)."""
        return next((event.actor for event in reversed(self.history) if event.action in actions), Actor())

    @property
    def replied_by(self) -> Actor:
        return self.decided_by(REPLIES)

    @property
    def coordinated_by(self) -> Actor:
        return self.decided_by(COORDINATIONS)

    def involves(self, department_code: str) -> bool:
        return department_code in (self.applicant_department_code, self.provider_department_code)


@dataclass(frozen=True)
class Terms:
    """An approval's or coordination decision's narrowing of the request; empty fields keep the request's."""

    items: tuple[str, ...] = ()
    unmasked_items: tuple[str, ...] = ()
    expire_time: dt.datetime | None = None
    quota: int = 0
    purposes: tuple[int, ...] = ()
    problems: tuple[FieldViolation, ...] = ()


@dataclass(frozen=True)
class Scope:
    """What a grant allows: who (systems), what (items), why, how, until when, how many calls."""

    system_ids: tuple[str, ...]
    items: tuple[str, ...]
    unmasked_items: tuple[str, ...]
    purposes: tuple[int, ...]
    methods: tuple[int, ...]
    expire_time: dt.datetime
    quota: int
    problems: list[FieldViolation] = field(default_factory=list)


def reply_due(submitted: dt.datetime, working_days: int) -> dt.datetime:
    """The provider's reply deadline: ``working_days`` statutory working days after submission (R-APP-2)."""
    return add_working_days(submitted, working_days)


@dataclass(frozen=True)
class StoredDue:
    """A reply deadline as stored: counted ``working_days`` after ``create_time`` (None: stored before the count
    was kept), and whether its year's calendar was unknown then (None: not known)."""

    application_id: str
    create_time: dt.datetime
    reply_due_time: dt.datetime
    working_days: int | None
    provisional: bool | None = None


def draft_problems(draft: Draft, now: dt.datetime) -> list[FieldViolation]:
    """Everything wrong with a draft that can be seen without its catalog entry."""
    problems = list(draft.problems)
    if error := resource_code_problem(draft.resource_code):
        problems.append(FieldViolation("application.resource_code", error))
    problems += system_id_problems("application.system_ids", draft.system_ids)
    if not draft.items:
        problems.append(FieldViolation("application.items", NO_ITEMS))
    problems += item_list_problems("application.items", draft.items)
    problems += enum_list_problems("application.purposes", draft.purposes, PURPOSES, "purpose")
    problems += enum_list_problems("application.methods", draft.methods, METHODS, "share method")
    if violation := reason_violation("application.basis", draft.basis, TEXT_MAX, "state the legal or duty basis"):
        problems.append(violation)
    if error := text_problem(draft.purpose_text, own_invisible_check=True):
        problems.append(FieldViolation("application.purpose_text", error))
    elif violation := one_line_violation("application.purpose_text", draft.purpose_text):
        problems.append(violation)
    if draft.requested_expire_time is None:
        if not any(p.field == "application.requested_expire_time" for p in problems):
            problems.append(FieldViolation("application.requested_expire_time", "is required"))
    elif draft.requested_expire_time <= now:
        problems.append(FieldViolation("application.requested_expire_time", "must be in the future"))
    elif error := end_problem(draft.requested_expire_time):
        problems.append(FieldViolation("application.requested_expire_time", error))
    if draft.quota < 0:
        problems.append(FieldViolation("application.quota", "must not be negative (0 means unlimited)"))
    return problems


def entry_problems(draft: Draft, entry: catalog_pb2.Entry) -> list[FieldViolation]:
    """What the draft asks that the resource does not have or offer (malformed values are reported
    by draft_problems already)."""
    problems: list[FieldViolation] = []
    known = set(item_names(entry))
    for index, item in enumerate(draft.items):
        if ITEM_NAME.fullmatch(item) and item not in known:
            problems.append(FieldViolation(f"application.items[{index}]", f"{item} is not an item of resource "
                                           f"{entry.code}"))
    problems += _free_items_problems(draft.items, entry, known)
    offered = offered_methods(entry)
    # Named as the proto spells them: a caller that sent a number (methods: [2]) learnt neither which method that
    # was nor which to ask for from "is not shared by this method".
    offers = ", ".join(common_pb2.ShareMethod.Name(m) for m in sorted(offered)) or "none"
    for index, method in enumerate(draft.methods):
        if method in METHODS and method not in offered:
            problems.append(FieldViolation(f"application.methods[{index}]",
                                           f"resource {entry.code} is not shared by "
                                           f"{common_pb2.ShareMethod.Name(method)} (it offers {offers})"))
    return problems


def _free_items_problems(items: tuple[str, ...], entry: catalog_pb2.Entry, known: set[str]) -> list[FieldViolation]:
    """An application for basic items alone (R-SHR-4) none of which the catalog masks: every department gets them,
    whole, without a grant, so no approval could give it anything (basic_only_problems refuses one, and an
    unmasking has nothing to unmask). It waited for a provider who could only refuse it, counted as unanswered
    meanwhile. Basic items it masks may be applied for: a grant may answer them unmasked."""
    basic = basic_items(entry)
    if not items or not known.issuperset(items) or not basic.issuperset(items):
        return []
    if any(item.sensitive for item in entry.items if item.machine_name in items):
        return []
    named = f"{', '.join(items)} {'is a basic item' if len(items) == 1 else 'are basic items'}"
    return [FieldViolation("application.items", f"{named}, which every department gets whole without a grant "
                           f"(R-SHR-4): query {'it' if len(items) == 1 else 'them'} directly, no application is "
                           "needed; apply only for the other items your use needs")]


def scope_entry_problems(scope: Scope, entry: catalog_pb2.Entry,
                         applied: dt.datetime | None = None) -> list[FieldViolation]:
    """Granted items the resource no longer has: a version published since the application dropped them, and
    a grant must not name what the catalog does not (the approver narrows the items instead). Nor one dropped and
    added back since the application was made (``applied``; DataItem.listed_since later): the applicant asked for the
    item as it was then, which may mean something else now, and its grant would cover it as it is now."""
    known = set(item_names(entry))
    relisted = listed_after(entry, applied)
    return [FieldViolation("items", f"{item} is no longer an item of resource {entry.code} (version {entry.version}): "
                           "approve only items it has, naming them in items")
            for item in scope.items if item not in known] + \
        [FieldViolation("items", f"{item} was dropped from resource {entry.code} and added back since the application "
                        "was made (it may mean something else now): approve only the other items, naming them in "
                        "items; the applicant applies again for it")
         for item in scope.items if item in relisted]


def basic_only_problems(items: tuple[str, ...], unmasked: tuple[str, ...], entry: catalog_pb2.Entry,
                        applied: tuple[str, ...], field: str = "items",
                        otherwise: str = "refuse") -> list[FieldViolation]:
    """The problem of a grant scope (an approval's, a coordination grant's, an adjustment's) of a foundation
    resource's basic items alone (R-SHR-4: every department gets them without a grant) unmasking none that the
    catalog masks: such a grant gives its holder nothing, yet it was stored and answered APPROVED (or ACTIVE), the
    applicant believing it had the use it applied for and the provider's 审批人 that it had granted one
    (decisions.by_items then answers no call under it). Said with what to do instead: grant an item ``applied`` for
    beyond them, unmask a masked one, or ``otherwise``."""
    basic = basic_items(entry)
    if not basic or not items or not basic.issuperset(items):
        return []
    masked = {item.machine_name for item in entry.items if item.sensitive}
    if masked.intersection(unmasked):
        return []
    others = [item for item in applied if item not in basic]
    unmaskable = [item for item in items if item in masked]
    instead = [f"also grant {', '.join(others)}"] if others else []
    if unmaskable:
        instead.append(f"unmask {', '.join(unmaskable)} (unmasked_items)")
    instead.append(otherwise)
    named = f"{', '.join(items)} {'is a basic item' if len(items) == 1 else 'are basic items'}"
    return [FieldViolation(field, f"{named}, which every department gets without a grant (R-SHR-4): granting only "
                           f"{'it' if len(items) == 1 else 'them'} gives nothing; {', or '.join(instead)}")]


def offered(scope: Scope, entry: catalog_pb2.Entry) -> Scope:
    """``scope`` with the share methods ``entry`` still offers: an approval gives the methods applied for, which a
    version published since may no longer offer (every call by such a method is refused METHOD_NOT_GRANTED, though the
    grant named it). The caller refuses a scope left with none (the approver cannot choose methods)."""
    still = offered_methods(entry)
    return replace(scope, methods=tuple(m for m in scope.methods if m in still))


def refusal_problems(terms: Terms, approve: str) -> list[FieldViolation]:
    """The scope fields a refusal carries, each a problem: a refusal refuses the whole application and grants
    nothing, yet one sent with items (a provider who meant to refuse "only these"), an end or a quota was stored as
    a refusal of everything, the fields silently dropped, and the applicant told nothing of what the provider
    meant. There is no partial refusal: ``approve`` names the decision that grants some items only (the others left
    out are refused, the reason saying why)."""
    given = {"items": bool(terms.items), "unmasked_items": bool(terms.unmasked_items),
             "expire_time": terms.expire_time is not None or any(p.field == "expire_time" for p in terms.problems),
             "quota": terms.quota != 0, "purposes": bool(terms.purposes)}
    return [FieldViolation(name, f"a refusal refuses the whole application and takes no {name}: to refuse part "
                           f"of it, {approve} naming what you grant (the rest is refused) and say why in reason")
            for name, set_ in given.items() if set_]


def narrow(application: Application, terms: Terms, now: dt.datetime) -> Scope:
    """The grant scope an approval gives: the request, narrowed by ``terms``; widening is a problem."""
    only_narrow = "an approval may only narrow the items"
    problems = list(terms.problems)
    problems += item_list_problems("items", terms.items, application.items, f"requested: {only_narrow}")
    items = terms.items or application.items
    problems += item_list_problems("unmasked_items", terms.unmasked_items, items, f"granted: {only_narrow}")
    requested_purposes = set(application.purposes)
    problems += enum_list_problems("purposes", terms.purposes, PURPOSES, "purpose", required=False)
    for index, purpose in enumerate(terms.purposes):
        if purpose in PURPOSES and purpose not in requested_purposes:
            problems.append(FieldViolation(f"purposes[{index}]",
                                           "was not requested: an approval may only narrow the purposes"))
    expire_time = terms.expire_time or application.requested_expire_time
    if application.requested_expire_time <= now:
        # No end can be approved: a later one widens the request, an earlier one is past too. Said as "the end is
        # past", the approver was sent to choose a later date, then refused it as later than requested.
        problems.append(FieldViolation("expire_time", "the requested term has ended (requested until "
                                       f"{term_end_text(application.requested_expire_time)}): no end can be approved "
                                       "any more; refuse the application, the applicant may apply again"))
    elif terms.expire_time is not None and terms.expire_time > application.requested_expire_time:
        # The requested end as 有效期至 reads it (Beijing): the approver's form, refused, shows the date typed, and
        # the console said only 不能晚于申请的有效期, the requested end nowhere on it; the UTC ISO time read 8 h early.
        problems.append(FieldViolation("expire_time", "is later than requested: an approval may only shorten the "
                                       f"period (requested until {term_end_text(application.requested_expire_time)})"))
    elif expire_time <= now:
        problems.append(FieldViolation("expire_time", "is already past: choose an end after now, at most the "
                                       f"requested {term_end_text(application.requested_expire_time)}"))
    elif error := end_problem(expire_time):
        problems.append(FieldViolation("expire_time", error))
    quota = terms.quota or application.quota
    if terms.quota < 0:
        problems.append(FieldViolation("quota", "must not be negative (0 keeps the request's)"))
    elif application.quota and terms.quota > application.quota:
        problems.append(FieldViolation("quota", f"is above the requested {application.quota}: "
                                       "an approval may only lower it"))
    return Scope(system_ids=application.system_ids, items=items, unmasked_items=terms.unmasked_items,
                 purposes=unique(terms.purposes) or application.purposes, methods=application.methods,
                 expire_time=expire_time, quota=max(quota, 0), problems=problems)
