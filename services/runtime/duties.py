"""Separation of duties (issue 12): the person roles each decision needs, checked by every service itself.

A person's token carries their roles (services.runtime.tokens); the services, not the console, decide:

- only a 编目员 (DATA_OFFICER) of the provider drafts, submits and retires its catalog entries and loads its data;
- only the authority's 审核员 (REVIEWER) reviews (publishes or returns) entries and coordinates escalations;
- only the provider's 审批人 (APPROVER) replies to applications, answers disputes, adjusts and revokes grants,
  and nobody approves an application made by their own department;
- only a 申请人 (APPLICANT) applies (and escalates, and reports disputed data);
- an 审计员 (AUDITOR) reads (audit, evaluations, reports) and changes nothing: no write needs that role;
- the authority's 管理员 (ADMINISTRATOR) administers departments, systems, persons and roles, and holds no
  deciding role (services.authorization.persons refuses the combination).

Business systems (machine use) keep the rights their department has, except for the decisions a person
must take and be answerable for (R-SEC-1 责任认定): :func:`require_person` refuses a system's token there; and
except administering the directory (systems, persons, roles): :func:`require_administrator` refuses a department's
system, whose one leaked secret would otherwise mint new systems and rotate away its siblings' secrets.
Platform services (``svc:*``) pass: they act for the platform, never for a department's decision.
"""

from __future__ import annotations

from collections.abc import Iterable

from services.runtime.errors import permission_denied
from services.runtime.identity import Caller

DATA_OFFICER = "DATA_OFFICER"
APPROVER = "APPROVER"
APPLICANT = "APPLICANT"
REVIEWER = "REVIEWER"
AUDITOR = "AUDITOR"
ADMINISTRATOR = "ADMINISTRATOR"
LABELS = {DATA_OFFICER: "编目员", APPROVER: "审批人", APPLICANT: "申请人", REVIEWER: "审核员", AUDITOR: "审计员",
          ADMINISTRATOR: "管理员"}
#: Roles only the authority's persons may hold.
AUTHORITY_ROLES = frozenset({REVIEWER, ADMINISTRATOR})


def _named(role: str) -> str:
    return f"{LABELS[role]} ({role})"


def _needs(roles: Iterable[str]) -> str:
    return " or ".join(_named(role) for role in roles)


def require_role(caller: Caller, roles: str | Iterable[str], action: str, department: str = "") -> None:
    """A person must hold one of ``roles`` (and, with ``department``, belong to it, or to the authority for
    the authority's roles); PERMISSION_DENIED naming the role needed. Systems and services pass: their
    department's rights are checked by the workflow as before."""
    if not caller.is_person:
        return
    wanted = (roles,) if isinstance(roles, str) else tuple(roles)
    if not any(caller.has_role(role) for role in wanted):
        held = ", ".join(_named(r) for r in caller.roles if r in LABELS) or "no role"
        raise permission_denied("ROLE_REQUIRED", f"only a {_needs(wanted)} may {action} (you hold {held})",
                                required_role=",".join(wanted))
    if any(caller.has_role(role) and role in AUTHORITY_ROLES for role in wanted) and not caller.authority:
        raise permission_denied("ROLE_REQUIRED", f"only the authority's {_needs(wanted)} may {action}",
                                required_role=",".join(wanted))
    if department and caller.department_code != department:
        raise permission_denied("NOT_YOUR_DEPARTMENT",
                                f"only a {_needs(wanted)} of department {department} may {action}",
                                required_role=",".join(wanted), department_code=department)


def require_person(caller: Caller, roles: str | Iterable[str], action: str, department: str = "") -> None:
    """A decision a person takes and answers for (R-SEC-1): a system's token is refused (PERSON_REQUIRED),
    a person needs one of ``roles`` (see :func:`require_role`)."""
    wanted = (roles,) if isinstance(roles, str) else tuple(roles)
    if not caller.is_person and not caller.is_service:
        raise permission_denied("PERSON_REQUIRED",
                                f"to {action} is a person's decision: call with the session token of a "
                                f"{_needs(wanted)} (SessionService.SignIn), not a business system's token",
                                required_role=",".join(wanted))
    require_role(caller, wanted, action, department)


def require_administrator(caller: Caller, action: str, instead: str = "") -> None:
    """Administering the directory (systems, persons, roles) is the authority's 管理员's (a person, R-SEC-1), or the
    platform's: its services and the authority's own systems, which provision the directory (the bootstrap system, a
    directory sync). A department's business system is refused ADMINISTRATOR_ONLY: it would otherwise take over
    every system of its department with one leaked secret. ``instead`` says what such a system may do instead."""
    if caller.is_person:
        require_role(caller, ADMINISTRATOR, action)
        return
    if caller.is_service or caller.authority:
        return
    raise permission_denied("ADMINISTRATOR_ONLY",
                            f"only the authority's {_named(ADMINISTRATOR)} may {action}, signed in "
                            f"(SessionService.SignIn), not a department's business system"
                            + (f": {instead}" if instead else ""),
                            required_role=ADMINISTRATOR)
