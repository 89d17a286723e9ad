"""Who may do what: the role checks every workflow starts with.

Callers come from the gateway's signed assertion (a business system on behalf of
its department) or from a platform service (``svc:<name>``, which acts with the
authority's rights). IssueToken is the only RPC an anonymous caller may reach.
"""

from __future__ import annotations

from services.runtime.errors import permission_denied, unauthenticated
from services.runtime.identity import Caller


def require_identified(caller: Caller) -> None:
    """Refuses the gateway's anonymous placeholder: every RPC but IssueToken needs a token."""
    if not caller.department_code and not caller.is_service:
        raise unauthenticated("a bearer token is required: get one with TokenService.IssueToken")


def require_authority(caller: Caller, action: str) -> None:
    require_identified(caller)
    if not caller.authority:
        raise permission_denied("AUTHORITY_ONLY", f"only the sharing authority (共享主管部门) may {action}")


def require_department(caller: Caller, department_code: str, action: str) -> None:
    """The caller's own department, or the authority."""
    require_identified(caller)
    if not caller.authority and caller.department_code != department_code:
        raise permission_denied("NOT_YOUR_DEPARTMENT",
                                f"only department {department_code} or the authority may {action}")


def require_service(caller: Caller) -> None:
    if not caller.is_service:
        raise permission_denied("SERVICE_ONLY", "this RPC is internal to the platform (platform services only)")
