"""services.runtime.duties: which person may take which decision (issue 12), and that systems keep theirs."""

from __future__ import annotations

import grpc
import pytest

from services.runtime import duties
from services.runtime.duties import ADMINISTRATOR, APPROVER, AUDITOR, REVIEWER
from services.runtime.errors import ServiceError
from services.runtime.identity import Caller, service_caller

POLICE = "11110100MB00000022"


def person(*roles: str, department: str = POLICE, authority: bool = False) -> Caller:
    return Caller("psn-0123456789abcdef", department, authority=authority, display_name="李审批", roles=roles)


def refusal(check, *args: object) -> ServiceError:  # type: ignore[no-untyped-def]
    with pytest.raises(ServiceError) as caught:
        check(*args)
    assert caught.value.code == grpc.StatusCode.PERMISSION_DENIED
    return caught.value


def test_a_person_needs_the_role_and_its_department() -> None:
    duties.require_role(person(APPROVER), APPROVER, "reply", POLICE)
    missing = refusal(duties.require_role, person(AUDITOR), APPROVER, "reply to applications", POLICE)
    assert missing.reason == "ROLE_REQUIRED" and "审批人 (APPROVER)" in missing.message
    assert "审计员 (AUDITOR)" in missing.message and missing.metadata["required_role"] == APPROVER
    elsewhere = refusal(duties.require_role, person(APPROVER, department="11110100MB0000003A"), APPROVER, "reply",
                        POLICE)
    assert elsewhere.reason == "NOT_YOUR_DEPARTMENT" and POLICE in elsewhere.message


def test_the_authoritys_roles_count_only_at_the_authority() -> None:
    duties.require_role(person(REVIEWER, authority=True), REVIEWER, "review")
    assert refusal(duties.require_role, person(REVIEWER), REVIEWER, "review").reason == "ROLE_REQUIRED"
    assert refusal(duties.require_role, person(ADMINISTRATOR, authority=True), REVIEWER, "review").reason == \
        "ROLE_REQUIRED"


def test_systems_keep_their_rights_but_not_a_persons_decisions() -> None:
    system = Caller("sys-0123456789", POLICE)
    duties.require_role(system, APPROVER, "draft")
    refused = refusal(duties.require_person, system, APPROVER, "reply to applications", POLICE)
    assert refused.reason == "PERSON_REQUIRED" and "审批人 (APPROVER)" in refused.message
    duties.require_person(service_caller("query"), APPROVER, "reply")  # the platform itself is never refused
    duties.require_person(person(APPROVER), APPROVER, "reply", POLICE)


def test_a_departments_system_administers_nothing_but_the_platform_and_the_authoritys_administrator_do() -> None:
    """A department's business system passed every administrator's check (systems keep their department's rights),
    so one leaked secret registered systems of its department and rotated its siblings' secrets. Administering the
    directory is the authority's 管理员's, or the platform's (its services, the authority's provisioning system)."""
    refused = refusal(duties.require_administrator, Caller("sys-0123456789", POLICE), "register systems",
                      "a business system may rotate its own secret only")
    assert refused.reason == "ADMINISTRATOR_ONLY" and refused.metadata["required_role"] == ADMINISTRATOR
    assert "authority's 管理员 (ADMINISTRATOR)" in refused.message and "its own secret" in refused.message
    assert refusal(duties.require_administrator, person(APPROVER, authority=True), "register systems"
                   ).reason == "ROLE_REQUIRED"
    assert refusal(duties.require_administrator, person(ADMINISTRATOR), "register systems").reason == "ROLE_REQUIRED"
    duties.require_administrator(person(ADMINISTRATOR, authority=True), "register systems")
    duties.require_administrator(Caller("sys-authority0", POLICE, authority=True), "register systems")
    duties.require_administrator(service_caller("authorization"), "register systems")
