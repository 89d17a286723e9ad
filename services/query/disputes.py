"""Disputed data (疑义数据, DOMAIN §8): reports, answers, visibility, and the open-dispute flags.

A user department reports a record it doubts; the provider department checks it
and answers (corrected at the source, or confirmed as is) within the configured
working days. While any dispute about a record is open, every query answer for
that record says so (R-DSP-2): each query process keeps the set of disputed
records in memory, loaded at start and kept current by DISPUTES_CHANGED events,
so flagging costs no round trip. A record is flagged whichever resource it is read through: a dispute
reported through one resource flags the same record (the same dataset at the same provider endpoint) read
through another (a theme resource over a foundation dataset).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass

from services.query.keys import key_error
from services.query.resources import Resource, not_an_item
from services.runtime import duties
from services.runtime.actors import Actor
from services.runtime.admin_events import AdminEvent
from services.runtime.duties import APPLICANT, APPROVER, AUDITOR, DATA_OFFICER, REVIEWER
from services.runtime.errors import (
    FieldViolation,
    ServiceError,
    invisible_character,
    reason_violation,
    text_violation,
)
from services.runtime.identity import Caller
from services.runtime.masking import Masker
from services.runtime.workdays import add_working_days

OPEN = "OPEN"
CORRECTED = "CORRECTED"
CONFIRMED = "CONFIRMED"

MAX_VALUE = 1000
#: The persons who read a dispute, by their department's part in it (R-DSP-1). The reporter's 申请人, who
#: reported it and follows the answer, its 审批人, who follows its department's reports on the console's 疑义 page
#: (a 申请人 has no such page), and its 审计员; the provider's 审批人, who answers it, its 编目员, who
#: corrects the record, and its 审计员; the authority's 审核员, who sees open and overdue disputes and presses
#: the provider, and its 审计员. The key is a person's 公民身份号码 and the evidence quotes them: a 申请人 of the
#: provider or a 管理员 (who administers, decides nothing) has no use for them.
REPORTER_READERS = (APPLICANT, APPROVER, AUDITOR)
PROVIDER_READERS = (APPROVER, DATA_OFFICER, AUDITOR)
AUTHORITY_READERS = (REVIEWER, AUDITOR)
MAX_EVIDENCE = 4000
MAX_ANSWER = 4000


@dataclass(frozen=True, slots=True)
class Dispute:
    id: uuid.UUID
    resource_code: str
    key: str
    item: str
    claimed_value: str
    evidence: str
    reporter_department_code: str
    reporter_system_id: str
    provider_department_code: str
    state: str
    answer: str
    create_time: dt.datetime
    due_time: dt.datetime
    answer_time: dt.datetime | None
    #: The persons (issue 12): the reporter's display name, and who answered for the provider.
    reporter_display_name: str = ""
    answer_system_id: str = ""
    answer_display_name: str = ""
    answer_department_code: str = ""
    #: The working days ``due_time`` was counted with, so that a deadline counted without its year's calendar is
    #: counted again once the calendar has it (workdays.recount); None when not kept.
    due_working_days: int | None = None

    @property
    def reported_by(self) -> Actor:
        return Actor(self.reporter_system_id, self.reporter_display_name, self.reporter_department_code)

    @property
    def answered_by(self) -> Actor:
        return Actor(self.answer_system_id, self.answer_display_name, self.answer_department_code)

    def overdue(self, now: dt.datetime) -> bool:
        """Unanswered past its due time, or answered after it (both count against the provider)."""
        return (self.answer_time or now) > self.due_time

    def visible_to(self, caller: Caller) -> bool:
        """The reporter, the provider and the authority see a dispute."""
        return caller.authority or caller.department_code in (self.reporter_department_code,
                                                              self.provider_department_code)

    def parties_read_by(self, readers: Readers) -> bool:
        """Whether ``readers`` (the caller's reading rights, :func:`readers_of`) cover this dispute."""
        return readers.everyone or readers.department in (
            (self.reporter_department_code,) * readers.reporter + (self.provider_department_code,) * readers.provider)

    def answerable_by(self, caller: Caller) -> bool:
        """Only the provider answers (it answers for its data, Art. 13; R-DSP-1): the authority sees open and
        overdue disputes and presses the provider, it does not vouch for another department's records."""
        return caller.department_code == self.provider_department_code


@dataclass(frozen=True, slots=True)
class Readers:
    """Which disputes a caller reads: their department's as reporter, as provider, or (authority) everyone's."""
    department: str
    reporter: bool
    provider: bool
    everyone: bool


def readers_of(caller: Caller) -> Readers:
    """The disputes ``caller`` may read; PERMISSION_DENIED ROLE_REQUIRED for a person whose roles read none.

    A system reads its department's disputes on both sides, and the authority's every one, as before; a person
    only the sides their roles serve (REPORTER_READERS, PROVIDER_READERS, AUTHORITY_READERS): any person of a
    department read every dispute it reported or was reported about, each with the key and evidence whole."""
    if not caller.is_person:
        return Readers(caller.department_code, True, True, caller.authority)
    readers = Readers(caller.department_code, any(map(caller.has_role, REPORTER_READERS)),
                      any(map(caller.has_role, PROVIDER_READERS)),
                      caller.authority and any(map(caller.has_role, AUTHORITY_READERS)))
    if not (readers.reporter or readers.provider or readers.everyone):
        wanted = dict.fromkeys((*REPORTER_READERS, *PROVIDER_READERS, *(AUTHORITY_READERS if caller.authority
                                                                           else ())))
        duties.require_role(caller, wanted, "read disputes")
    return readers


def roles_reading(d: Dispute, caller: Caller) -> tuple[str, ...]:
    """The roles that read ``d`` from the caller's department: its side's in the dispute, else the authority's."""
    if caller.department_code == d.provider_department_code:
        return PROVIDER_READERS
    if caller.department_code == d.reporter_department_code:
        return REPORTER_READERS
    return AUTHORITY_READERS


def seen_by(d: Dispute, caller: Caller, resource: Resource | None, masker: Masker) -> Dispute:
    """The dispute as ``caller`` may see it (R-SEC-4, R-USE-2: the minimum).

    The reporter's department wrote the key and the value, and the provider's holds the record: they see it
    whole. The authority sees every dispute to oversee it (open, overdue, answered on time: R-DSP-1) and needs
    neither the person's number nor the value: it saw them whole, unaudited, where a query of the same record
    answers it masked. Now the key and the claimed value are masked by the catalog's rules (the key item's when
    it is sensitive, the disputed item's when it is), everything when the entry is unknown, and the free text
    that may quote them (evidence, answer) is withheld.
    """
    if caller.department_code in (d.reporter_department_code, d.provider_department_code):
        return d
    key_rule: str | None = "full"
    value_rule: str | None = "full"
    if resource is not None:
        key_rule = resource.key_mask
        item = next((i for i in resource.entry.items if i.machine_name == d.item), None)
        if item is not None:
            value_rule = (item.mask_rule or "full") if item.sensitive else None
    return dataclasses.replace(
        d, key=masker.mask(d.key, key_rule) if key_rule else d.key,
        claimed_value=masker.mask(d.claimed_value, value_rule) if value_rule else d.claimed_value,
        evidence="", answer="")


def report_violations(resource: Resource, key: str, item: str, claimed_value: str,
                      evidence: str) -> list[FieldViolation]:
    """Every problem of a dispute report about ``resource`` (the key is already normalised)."""
    violations: list[FieldViolation] = []
    problem = key_error(resource.key_kind, key)
    if problem is not None:
        violations.append(FieldViolation("dispute.key", problem))
    if not item:
        violations.append(FieldViolation("dispute.item", "is required"))
    elif item not in resource.items:
        violations.append(FieldViolation("dispute.item", not_an_item(item, resource)))
    claimed = text_violation("dispute.claimed_value", claimed_value, MAX_VALUE, True, own_invisible_check=True)
    if claimed is None and (problem := invisible_character(claimed_value)) is not None:
        # As a Verify claim's (docs/api.md): the value the provider is asked to check, and may correct its record
        # to, shown on one line to it and the authority; a zero-width space or a direction mark copied with it from
        # a web page is no part of any value (a long text belongs in the evidence, which may take lines).
        claimed = FieldViolation("dispute.claimed_value", problem)
    for violation in (claimed, text_violation("dispute.evidence", evidence, MAX_EVIDENCE, False)):
        if violation is not None:
            violations.append(violation)
    return violations


def answer_violations(answer: str) -> list[FieldViolation]:
    violation = reason_violation("answer", answer, MAX_ANSWER, "say what was checked and what was found")
    return [violation] if violation is not None else []


def new_dispute(resource: Resource, caller: Caller, key: str, item: str, claimed_value: str, evidence: str,
                now: dt.datetime, working_days: int) -> Dispute:
    """An open dispute, due the configured number of working days after today."""
    return Dispute(
        id=uuid.uuid4(), resource_code=resource.code, key=resource.key(key), item=item,
        claimed_value=claimed_value, evidence=evidence, reporter_department_code=caller.department_code,
        reporter_system_id=caller.system_id, provider_department_code=resource.provider_department_code,
        state=OPEN, answer="", create_time=now, due_time=add_working_days(now, working_days), answer_time=None,
        reporter_display_name=caller.display_name, due_working_days=working_days)


def dispute_event(caller: Caller, action: str, d: Dispute, time: dt.datetime) -> AdminEvent:
    """A dispute step for the administrative log: the dispute by its id, the resource, the item's name and the
    departments; never the record's key (a person's or an entity's number), the values or the free text."""
    return dataclasses.replace(AdminEvent.by(caller, action, str(d.id), {
        "resource_code": d.resource_code, "item": d.item, "reporter_department_code": d.reporter_department_code,
        "provider_department_code": d.provider_department_code}), time=time)


_NO_RESOURCES: frozenset[str] = frozenset()


class OpenDisputes:
    """The records (resource code, key) with at least one open dispute."""

    def __init__(self) -> None:
        self._open: set[tuple[str, str]] = set()
        #: The same records by key: the resources through which each key is disputed.
        self._by_key: dict[str, set[str]] = {}
        # Events that arrive while a snapshot loads are replayed over it, so none is lost.
        self._loading: list[tuple[str, str, bool]] | None = None

    def __contains__(self, record: tuple[str, str]) -> bool:
        return record in self._open

    def __len__(self) -> int:
        return len(self._open)

    def begin_load(self) -> None:
        self._loading = []

    def finish_load(self, snapshot: Iterable[tuple[str, str]]) -> None:
        """Replaces the set by a snapshot read after :meth:`begin_load`, then replays events since."""
        replay, self._loading = self._loading or [], None
        self._open = set(snapshot)
        self._by_key = {}
        for resource_code, key in self._open:
            self._by_key.setdefault(key, set()).add(resource_code)
        for resource_code, key, is_open in replay:
            self.mark(resource_code, key, is_open)

    def abandon_load(self) -> None:
        self._loading = None

    def mark(self, resource_code: str, key: str, is_open: bool) -> None:
        if self._loading is not None:
            self._loading.append((resource_code, key, is_open))
        if is_open:
            self._open.add((resource_code, key))
            self._by_key.setdefault(key, set()).add(resource_code)
        else:
            self._open.discard((resource_code, key))
            codes = self._by_key.get(key)
            if codes is not None:
                codes.discard(resource_code)
                if not codes:
                    del self._by_key[key]

    def resources_of(self, key: str) -> frozenset[str]:
        """The resources through which the record keyed ``key`` has an open dispute: a copy, since events may
        change the set while a caller awaits the catalog; none (no copy made) for almost every key."""
        codes = self._by_key.get(key)
        return frozenset(codes) if codes else _NO_RESOURCES

    def on_event(self, payload: Mapping) -> None:
        """Handler for DISPUTES_CHANGED ({"resource_code", "key", "open"})."""
        resource_code, key = payload.get("resource_code"), payload.get("key")
        if isinstance(resource_code, str) and isinstance(key, str):
            self.mark(resource_code, key, bool(payload.get("open")))


async def disputed_keys(open_disputes: OpenDisputes, resolve: Callable[[str], Awaitable[Resource | None]],
                        resource: Resource, keys: Iterable[str]) -> set[str]:
    """The keys whose record read through ``resource`` has an open dispute: reported through this resource, or
    through another over the same dataset at the same endpoint (it is the same record; R-DSP-2 flags the record,
    not one resource's view of it). ``resolve`` is the catalog's cached lookup of a resource code."""
    flagged: set[str] = set()
    for key in keys:
        codes = open_disputes.resources_of(key)
        if not codes:
            continue
        if resource.code in codes:
            flagged.add(key)
            continue
        if not resource.dataset:
            continue
        for code in codes:
            try:
                other = await resolve(code)
            except ServiceError:  # the catalog unreachable for another resource: answer, flagged by this one only
                continue
            if other is not None and (other.target, other.dataset) == (resource.target, resource.dataset):
                flagged.add(key)
                break
    return flagged
