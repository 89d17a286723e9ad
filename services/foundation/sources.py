"""Who may load a dataset and whose values count (一数一源、多元校核, R-FND-2).

The authority (共享主管部门) registers the sources of each dataset and designates its
authoritative source, and where the data calls for it the authoritative source of single
items (an item designation overrides the dataset's for that item). Nobody becomes
authoritative by loading first: a dataset without a designated authoritative source
accepts no load, and a department that is not a registered source loads nothing.

A conflict shows the authoritative value only to the item's authoritative source and to
the authority: the other source sees its own value and that the two differ, never the
authoritative one (otherwise loading a dummy row would read back anybody's record).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from services.runtime import pagination
from services.runtime.errors import FieldViolation, failed_precondition, invalid_argument, permission_denied
from services.runtime.identity import Caller

# govshare.foundation.v1.DesignationAction
REGISTER_SOURCE, DESIGNATE_DATASET, DESIGNATE_ITEM, RETIRE_SOURCE = 1, 2, 3, 4


@dataclass(frozen=True, slots=True)
class Designation:
    """The current sources of one dataset: read under the dataset lock by every writer."""

    dataset: str
    #: Authoritative for every item without an item designation; None until designated.
    authority: str | None
    #: item -> its authoritative source, where it is not the dataset's.
    item_authorities: Mapping[str, str] = field(default_factory=dict)
    sources: frozenset[str] = frozenset()

    def authority_of(self, item: str) -> str | None:
        """The one department whose value of ``item`` is authoritative."""
        return self.item_authorities.get(item, self.authority)

    def owned_items(self, department: str) -> frozenset[str]:
        """Items whose authoritative source ``department`` is designated (per item) and the dataset's is not."""
        return frozenset(item for item, owner in self.item_authorities.items()
                         if owner == department and owner != self.authority)

    def overridden_items(self) -> dict[str, str]:
        """Items whose authoritative source is not the dataset's: item -> that source."""
        return {item: owner for item, owner in self.item_authorities.items() if owner != self.authority}

    def is_source(self, department: str) -> bool:
        return bool(department) and (department in self.sources or department == self.authority
                                     or department in self.item_authorities.values())

    def is_authoritative(self, department: str) -> bool:
        """Whether ``department`` is the dataset's authoritative source or an item's."""
        return department == self.authority or department in self.item_authorities.values()

    def check_load(self, department: str) -> None:
        """Refuses a load from a department the authority did not register, or while nobody is authoritative."""
        if not self.is_source(department):
            raise permission_denied(
                "NOT_A_SOURCE",
                f"department {department or '(none)'} is not a registered source of {self.dataset}: the authority "
                "must register it (FoundationAdminService.RegisterSource) before it loads")
        if self.authority is None:
            raise failed_precondition(
                "NO_AUTHORITATIVE_SOURCE",
                f"{self.dataset} has no authoritative source: the authority must designate one "
                "(FoundationAdminService.DesignateAuthoritativeSource) before any load")


@dataclass(frozen=True, slots=True)
class DesignationRecord:
    """One registration or designation, with who made it and when."""

    id: int
    action: int
    item: str
    department_code: str
    previous_department_code: str
    actor_system_id: str
    actor_department_code: str
    create_time: datetime


@dataclass(frozen=True, slots=True)
class SourceInfo:
    department_code: str
    register_time: datetime


@dataclass(frozen=True, slots=True)
class DatasetSources:
    """What ListSources shows of one dataset (a page of its sources and of its designations)."""

    dataset: str
    authority: str | None
    item_authorities: Mapping[str, str]
    sources: list[SourceInfo]
    designations: list[DesignationRecord]
    #: Where the next page resumes; None after the last page.
    next_position: SourcesPosition | None = None


@dataclass(frozen=True, slots=True)
class SourcesPosition:
    """Where a page of ListSources resumes, in each of the two lists it walks: the registered sources in
    (register_time, department_code) order and the designations newest first. A list that ended stays ended
    while the other goes on (the item designations, one per item of the dataset at most, are on every page)."""

    source: tuple[datetime, str] | None = None
    designation: int | None = None
    sources_done: bool = False
    designations_done: bool = False

    def token(self) -> str:
        source = "end" if self.sources_done else (
            [self.source[0].isoformat(), self.source[1]] if self.source else None)
        designation = "end" if self.designations_done else self.designation
        return pagination.encode_token({"s": source, "d": designation})

    @classmethod
    def of(cls, token: str) -> SourcesPosition:
        """The position a token encodes (the start for ""); INVALID_ARGUMENT for one that was not issued."""
        position = pagination.decode_token(token)
        if position is None:
            return cls()
        try:
            source, designation = position["s"], position["d"]
            after_source = None
            if source not in (None, "end"):
                time, code = source
                after_source = (_aware(datetime.fromisoformat(time)), pagination.text_id(code))
            before = None if designation in (None, "end") else pagination.bigint_id(designation)
        except (KeyError, TypeError, ValueError, OverflowError):
            raise invalid_argument([FieldViolation("page_token", pagination.NOT_ISSUED)]) from None
        return cls(after_source, before, source == "end", designation == "end")


def _aware(time: datetime) -> datetime:
    if time.tzinfo is None:
        raise ValueError("a naive time")
    return time


def is_authority(caller: Caller) -> bool:
    """The authority's own systems and persons (not platform services, which act for nobody's department)."""
    return caller.authority and not caller.is_service and bool(caller.department_code)


def require_authority(caller: Caller, what: str) -> None:
    if not is_authority(caller):
        raise permission_denied("AUTHORITY_ONLY", f"only the authority (共享主管部门) {what}")


def sees_authoritative_value(caller: Caller, item_authority: str | None) -> bool:
    """Whether ``caller`` may see the authoritative side of a conflict on an item whose source is ``item_authority``."""
    return caller.authority or (bool(caller.department_code) and caller.department_code == item_authority)
