"""When a department may be retired (RetireDepartment, 机构改革), and what the refusals say.

A department merged into another or abolished is retired, never deleted: what it did stays recorded under its
code. It may be retired only once nothing of it is live, since a live grant, an open application or an enabled
system of a department nobody answers for would go on acting in its name. The refusal names every blocker and its
count, in the order the authority's administrator has to clear them (the persons last: they do the clearing).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING

import grpc

from services.authorization.applications import UNDECIDED
from services.runtime.errors import ServiceError, failed_precondition, not_found
from services.runtime.workdays import CHINA

if TYPE_CHECKING:
    from services.authorization.directory import Department

#: Applications still waiting for a decision: neither side may go while one is open.
OPEN_APPLICATION_STATES = UNDECIDED

#: (count's name, reason, what it is, what to do first), in the order they are to be cleared.
BLOCKERS = (
    ("published_entries", "DEPARTMENT_HAS_PUBLISHED_ENTRIES", "published catalogue entries",
     "retire them with RetireEntry; the department taking over publishes its own"),
    ("entries_in_review", "DEPARTMENT_HAS_ENTRIES_IN_REVIEW", "catalogue entries in review",
     "have the authority's reviewer return them with ReviewEntry"),
    ("live_grants", "DEPARTMENT_HAS_LIVE_GRANTS", "live grants as provider or consumer",
     "revoke them with RevokeGrant"),
    ("open_applications", "DEPARTMENT_HAS_OPEN_APPLICATIONS", "open applications", "have them decided or withdrawn"),
    ("open_disputes", "DEPARTMENT_HAS_OPEN_DISPUTES", "open disputes about its data",
     "have its approver answer them with AnswerDispute"),
    ("enabled_systems", "DEPARTMENT_HAS_ENABLED_SYSTEMS", "enabled business systems",
     "disable them with DisableSystem"),
    ("active_persons", "DEPARTMENT_HAS_ACTIVE_PERSONS", "active persons", "disable them with DisablePerson"),
)


def retired_sentence(code: str, retire_time: dt.datetime | None, merged_into: str) -> str:
    """"department … was retired on <day>[, merged into …]": what every refusal because of it says."""
    into = f", merged into {merged_into}" if merged_into else ""
    when = retire_time.astimezone(CHINA).date().isoformat() if retire_time else "?"
    return f"department {code} was retired on {when}{into}"


def retired_error(department: Department) -> ServiceError:
    """The refusal of anything done in the name of a retired department, naming when and into what (the metadata
    too, for the console to say it in Chinese)."""
    when = department.retire_time.astimezone(CHINA).date().isoformat() if department.retire_time else ""
    return ServiceError(grpc.StatusCode.FAILED_PRECONDITION, "DEPARTMENT_RETIRED",
                        retired_sentence(department.code, department.retire_time, department.merged_into),
                        metadata={"department_code": department.code, "retire_date": when,
                                  "merged_into": department.merged_into})


def require_in_service(department: Department) -> None:
    """Refuses what would give a retired department a system, a person, an enabled account or an application."""
    if department.retire_time is not None:
        raise retired_error(department)


def require_retirable(department: Department) -> None:
    """Refuses the authority (the platform would have no operator) and a department retired already."""
    if department.authority:
        raise failed_precondition("AUTHORITY_DEPARTMENT", f"department {department.code} is the platform's "
                                  "authority (共享主管部门) and cannot be retired")
    if department.retire_time is not None:
        raise retired_error(department)


def require_successor(code: str, into: Department | None, merged_into: str) -> None:
    """Refuses a ``merged_into`` that is the department itself, unknown, or retired."""
    if merged_into == code:
        raise failed_precondition("MERGED_INTO_ITSELF", "a department is not merged into itself")
    if into is None:
        raise not_found(f"department {merged_into} (merged_into)")
    if into.retire_time is not None:
        error = retired_error(into)
        raise ServiceError(grpc.StatusCode.FAILED_PRECONDITION, "MERGED_INTO_RETIRED",
                           f"cannot merge into a retired department: {error.message}",
                           metadata={"merged_into": merged_into})


def require_nothing_live(code: str, counts: Mapping[str, int]) -> None:
    """FAILED_PRECONDITION while any count is not zero: the first blocker's reason, every blocker and its count in
    the message and the metadata (the console says them in Chinese), with what to do about each."""
    live = [(name, reason, what, todo) for name, reason, what, todo in BLOCKERS if counts.get(name, 0)]
    if not live:
        return
    parts = [f"{what}: {counts[name]} ({todo})" for name, _, what, todo in live]
    raise ServiceError(grpc.StatusCode.FAILED_PRECONDITION, live[0][1],
                       f"department {code} cannot be retired yet, it still has " + "; ".join(parts)
                       + ". Clear them first, then retire it",
                       metadata={name: str(counts[name]) for name, *_ in live})
