"""Disputed data (疑义数据, DOMAIN §8): reports, answers, visibility, and the open-dispute flags.

A user department reports a record it doubts; the provider department checks it
and answers (corrected at the source, or confirmed as is) within the configured
working days. While any dispute about a record is open, every query answer for
that record says so (R-DSP-2): each query process keeps the set of disputed
records in memory, loaded at start and kept current by DISPUTES_CHANGED events,
so flagging costs no round trip.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from services.query.keys import key_error, normalize_key
from services.query.resources import Resource
from services.runtime.actors import Actor
from services.runtime.admin_events import AdminEvent
from services.runtime.errors import FieldViolation, reason_violation, text_violation
from services.runtime.identity import Caller
from services.runtime.workdays import add_working_days

OPEN = "OPEN"
CORRECTED = "CORRECTED"
CONFIRMED = "CONFIRMED"

MAX_VALUE = 1000
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

    def answerable_by(self, caller: Caller) -> bool:
        """Only the provider answers (it answers for its data, Art. 13; R-DSP-1): the authority sees open and
        overdue disputes and presses the provider, it does not vouch for another department's records."""
        return caller.department_code == self.provider_department_code


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
        violations.append(FieldViolation("dispute.item", f"{item!r} is not an item of {resource.code}"))
    for violation in (text_violation("dispute.claimed_value", claimed_value, MAX_VALUE, True),
                      text_violation("dispute.evidence", evidence, MAX_EVIDENCE, False)):
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
        id=uuid.uuid4(), resource_code=resource.code, key=normalize_key(resource.key_kind, key), item=item,
        claimed_value=claimed_value, evidence=evidence, reporter_department_code=caller.department_code,
        reporter_system_id=caller.system_id, provider_department_code=resource.provider_department_code,
        state=OPEN, answer="", create_time=now, due_time=add_working_days(now, working_days), answer_time=None,
        reporter_display_name=caller.display_name)


def dispute_event(caller: Caller, action: str, d: Dispute, time: dt.datetime) -> AdminEvent:
    """A dispute step for the administrative log: the dispute by its id, the resource, the item's name and the
    departments; never the record's key (a person's or an entity's number), the values or the free text."""
    return dataclasses.replace(AdminEvent.by(caller, action, str(d.id), {
        "resource_code": d.resource_code, "item": d.item, "reporter_department_code": d.reporter_department_code,
        "provider_department_code": d.provider_department_code}), time=time)


class OpenDisputes:
    """The records (resource code, key) with at least one open dispute."""

    def __init__(self) -> None:
        self._open: set[tuple[str, str]] = set()
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
        for resource_code, key, is_open in replay:
            self.mark(resource_code, key, is_open)

    def abandon_load(self) -> None:
        self._loading = None

    def mark(self, resource_code: str, key: str, is_open: bool) -> None:
        if self._loading is not None:
            self._loading.append((resource_code, key, is_open))
        if is_open:
            self._open.add((resource_code, key))
        else:
            self._open.discard((resource_code, key))

    def on_event(self, payload: Mapping) -> None:
        """Handler for DISPUTES_CHANGED ({"resource_code", "key", "open"})."""
        resource_code, key = payload.get("resource_code"), payload.get("key")
        if isinstance(resource_code, str) and isinstance(key, str):
            self.mark(resource_code, key, bool(payload.get("open")))
