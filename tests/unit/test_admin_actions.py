"""The administrative log's actions (services/runtime/admin_actions.py) are every action the services write, so
that ListAdminEvents refuses a misspelt filter rather than a real one."""

from __future__ import annotations

import re
from pathlib import Path

from services.authorization import grants
from services.catalog.store import ADMIN_ACTIONS as CATALOG_STEPS
from services.runtime.admin_actions import ACTION_FORM, ACTIONS, action_problem

SERVICES = Path(__file__).resolve().parents[2] / "services"
NAMESPACES = sorted({action.split(".", 1)[0] for action in ACTIONS})
LITERAL = re.compile(r"\"((?:" + "|".join(NAMESPACES) + r")\.[a-z_.]+)\"")
#: Literals of those namespaces that are no action: request fields named in violations, figures, copy steps.
NOT_ACTIONS = frozenset({
    "catalog.entries.copy", "catalog.entry_versions.copy", "catalog.resource", "catalog.resources",
    "catalog.update_overdue", "catalog.updates_due", "catalog.updates_on_time", "catalog.updates_overdue",
    "dispute.claimed_value", "dispute.evidence", "dispute.item", "dispute.key", "dispute.resource_code",
    "person.department_code", "person.display_name", "person.roles", "person.username",
})


def _written() -> set[str]:
    """Every action literal in services/, and the actions made from a step's name."""
    found = {m.group(1) for path in SERVICES.rglob("*.py") for m in LITERAL.finditer(path.read_text("utf-8"))}
    sharing = (SERVICES / "authorization" / "sharing.py").read_text("utf-8")
    steps = set(re.findall(r"_event\(caller, \"([A-Z_]+)\"", sharing)) | {grants.REVOKED_EVENT, grants.UPDATED_EVENT}
    return (found - NOT_ACTIONS) | {f"sharing.{s.lower()}" for s in steps} | {f"catalog.{s}" for s in CATALOG_STEPS}


def test_every_action_the_services_write_is_listed() -> None:
    written = _written()
    assert len(written) > 50, written  # the scan found the services' actions
    assert written - ACTIONS == set(), "add these to services/runtime/admin_actions.ACTIONS"
    assert ACTIONS - written == set(), "no service writes these any more"
    assert all(ACTION_FORM.fullmatch(action) for action in ACTIONS)


def test_a_misspelt_action_names_the_one_meant_and_those_of_its_service() -> None:
    assert action_problem("person.unlock", recorded=False) is None
    assert action_problem("vendor.custom_step", recorded=True) is None  # written by a newer release: in the log
    for misspelt in ("person.unlok", "Person.unlock", "person.un\u200block", "person.unlock。", "ｐｅｒｓｏｎ.unlock"):
        said = action_problem(misspelt, recorded=False)
        assert said is not None and ": did you mean person.unlock? person's actions: create, " in said, said
        assert len(said) <= 200, said  # a violation's text is cut there
    assert action_problem("approved", recorded=False) == (
        "is not an action (service.step, lower case ASCII): did you mean sharing.approved?")  # its list is too long
    assert action_problem("nothing", recorded=False) == (
        "is not an action (service.step, lower case ASCII); the services: admin_log, audit, bundle, catalog, "
        "directory, dispute, foundation, person, query, roles, session, sharing, supervision, token")
    said = action_problem("sharing.frobnicated", recorded=False)
    assert said is not None and "did you mean" not in said and "sharing's actions: approved, " in said
    assert all(len(action_problem(f"{service}.x", recorded=False) or "") <= 200 for service in NAMESPACES)
