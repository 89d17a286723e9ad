"""Every action the platform writes to the administrative log, by service.

ListAdminEvents filters by action, matched exactly: a misspelt one (``person.unlok``, ``Sharing.approved``, one with
a zero-width space copied from a page) answered an empty page, which an auditor reads as "it never happened". The
authorization service refuses an action that is neither here nor in the log (a service of a newer release may write
one this list lacks: the log's own rows are the last word), naming the actions of its service. An action is added
here with the code that writes it; tests/unit/test_admin_actions.py finds every action literal in services/ and
fails on one missing.
"""

from __future__ import annotations

import difflib
import re
import unicodedata

#: The form of every action: the service, a dot, the step (lower snake, possibly with a further dotted part).
ACTION_FORM = re.compile(r"[a-z][a-z_]*(?:\.[a-z][a-z_]*)+")

ACTIONS: frozenset[str] = frozenset({
    # administrative log and access-log audit (reads and refusals)
    "admin_log.list", "admin_log.verify", "admin_log.export_checkpoints",
    "audit.list_accesses", "audit.usage_summary", "audit.verify_chain", "audit.export_checkpoints",
    "audit.verification.start", "audit.verification.read", "audit.verification.cancel",
    # bundles
    "bundle.export", "bundle.import",
    # catalog (store.ADMIN_ACTIONS, the review's steps, mandate changes)
    "catalog.create", "catalog.update", "catalog.submit", "catalog.publish", "catalog.return", "catalog.retire",
    "catalog.report_mandate_change",
    # directory and system roles
    "directory.bootstrap_authority", "directory.create_department", "directory.rename_department",
    "directory.retire_department", "directory.create_system", "directory.enable_system", "directory.disable_system",
    "directory.rotate_system_secret", "roles.grant_system_role", "roles.revoke_system_role", "token.issue",
    # disputes
    "dispute.report", "dispute.read", "dispute.confirmed", "dispute.corrected",
    # foundation data
    "foundation.register_source", "foundation.designate_source", "foundation.designate_item_source",
    "foundation.retire_source", "foundation.load_records", "foundation.read_history", "foundation.list_conflicts",
    "foundation.resolve_conflict",
    # persons and sessions
    "person.create", "person.read", "person.list", "person.enable", "person.disable", "person.set_roles",
    "person.unlock", "person.reset_password", "person.reset_totp", "person.reset_idp_binding",
    "session.sign_in", "session.sign_out", "session.lock", "session.address_lock", "session.change_password",
    "session.enrol_totp",
    # query
    "query.notify_records_changed",
    # sharing: an application's and a grant's steps (sharing._admin: sharing.<event action, lower case>)
    "sharing.submitted", "sharing.escalated", "sharing.approved", "sharing.refused", "sharing.withdrawn",
    "sharing.coordinated_granted", "sharing.coordinated_refused", "sharing.grant_updated", "sharing.grant_revoked",
    "sharing.grant_confidentiality",
    # supervision
    "supervision.compute_snapshots", "supervision.update_weights",
})


def action_problem(action: str, recorded: bool) -> str | None:
    """Why ``action`` can name no event of the log (``recorded``: whether a row of the log has it), or None. The
    answer says the action meant, when one is near (a letter off, a capital, a zero-width space, no service), and
    the steps of its service or the services, so the caller can pick it (within a violation's 200 characters)."""
    if action in ACTIONS or recorded:
        return None
    if ACTION_FORM.fullmatch(action):
        said = "is no action the platform records"
    else:
        said = "is not an action (service.step, lower case ASCII)"
    meant = _meant(action)
    if meant is not None:
        said += f": did you mean {meant}?"
    service = (meant or action).split(".", 1)[0]
    steps = sorted(a.split(".", 1)[1] for a in ACTIONS if a.split(".", 1)[0] == service)
    listed = (f"{service}'s actions: {', '.join(steps)}" if steps else
              f"the services: {', '.join(sorted({a.split('.', 1)[0] for a in ACTIONS}))}")
    # A violation's text is cut at 200 characters: the action meant, when there is one, is what must be read.
    return f"{said} {listed}" if meant is not None and len(said) + len(listed) < 200 else \
        said if meant is not None else f"{said}; {listed}"


def _meant(action: str) -> str | None:
    """The listed action ``action`` was most likely meant to be: itself without invisible characters, in lower case
    and half-width, a letter or two off, or a step without its service (``approved``)."""
    plain = "".join(c for c in unicodedata.normalize("NFKC", action) if unicodedata.category(c)[0] not in "CZ")
    plain = plain.lower().strip(".。")
    if plain in ACTIONS:
        return plain
    if "." not in plain:
        bare = [a for a in ACTIONS if a.split(".", 1)[1] == plain]
        if len(bare) == 1:
            return bare[0]
    close = difflib.get_close_matches(plain, sorted(ACTIONS), n=1, cutoff=0.85)
    return close[0] if close else None
