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

from services.runtime.errors import failed_precondition, permission_denied
from services.runtime.identity import Caller

# govshare.foundation.v1.DesignationAction
REGISTER_SOURCE, DESIGNATE_DATASET, DESIGNATE_ITEM = 1, 2, 3


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
    """What ListSources shows of one dataset."""

    dataset: str
    authority: str | None
    item_authorities: Mapping[str, str]
    sources: list[SourceInfo]
    designations: list[DesignationRecord]


def is_authority(caller: Caller) -> bool:
    """The authority's own systems and persons (not platform services, which act for nobody's department)."""
    return caller.authority and not caller.is_service and bool(caller.department_code)


def require_authority(caller: Caller, what: str) -> None:
    if not is_authority(caller):
        raise permission_denied("AUTHORITY_ONLY", f"only the authority (共享主管部门) {what}")


def sees_authoritative_value(caller: Caller, item_authority: str | None) -> bool:
    """Whether ``caller`` may see the authoritative side of a conflict on an item whose source is ``item_authority``."""
    return caller.authority or (bool(caller.department_code) and caller.department_code == item_authority)
