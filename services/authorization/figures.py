"""Authorization's figures of every department over a period (R-SUP-1, R-APP-2), for supervision.

* ``applications.received`` (provider) / ``applications.made`` (applicant): submitted in the period;
* of those received: ``applications.replied_on_time`` / ``applications.replied_late`` (the provider's first
  approval or refusal against the reply deadline), ``applications.unreplied_overdue`` (never answered by the
  provider and past due when counted: still waiting, escalated or withdrawn by the applicant once overdue, or
  closed by its resource's retirement once overdue; one closed by the retirement before its due time is neither),
  ``applications.approved``, ``applications.refused`` in total and by ``reason`` (its first 60 characters);
* ``grants.held`` (holder) / ``grants.given`` (provider): grants active and unexpired at the period's end, of a
  resource not retired by then (retiring an entry ends every grant of it for good).

A not-shared request goes to the authority, not to the provider: it counts as received but never as late.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Awaitable, Callable

from services.authorization.applications import SUBMITTED
from services.authorization.store import Store
from services.runtime.figures import FigureRow, dimension

REASON_CHARACTERS = 60
#: When a resource's catalog entry was retired, None while it is not (EntryLookup.retired_at).
RetiredAt = Callable[[str], Awaitable[dt.datetime | None]]


def reason_label(text: str) -> str:
    """A refusal reason fit for a dimension value (no separators, bounded)."""
    cleaned = " ".join(text.replace(";", "；").replace("=", "＝").split())
    return cleaned[:REASON_CHARACTERS] or "（未说明）"


def unanswered_by_provider(state: int, reply_due_time: dt.datetime, escalate_time: dt.datetime | None) -> bool:
    """An application the provider left without a reply (the caller checks that it is past due): still waiting,
    or taken to the authority (or withdrawn, or closed by its resource's retirement) after its due time went by.
    The applicant's escalation ends the wait but not the provider's failure to answer (it was counted neither late
    nor unanswered); one withdrawn or closed before its due time was no longer the provider's to answer. A
    not-shared request, escalated when it was made, was never the provider's to answer."""
    return state == SUBMITTED or (escalate_time is not None and escalate_time > reply_due_time)


async def department_figures(store: Store, start: dt.datetime, end: dt.datetime, now: dt.datetime,
                             retired_at: RetiredAt) -> list[FigureRow]:
    """Every department's application and grant figures over [start, end); ``retired_at`` says when a resource was
    retired, asked once per resource holding grants."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for app in await store.applications_created(start, end):
        provider = app["provider_department_code"]
        counts[(app["applicant_department_code"], "applications.made", "")] += 1
        counts[(provider, "applications.received", "")] += 1
        reply = app["reply_time"]
        if reply is not None:
            timely = reply <= app["reply_due_time"]
            counts[(provider, "applications.replied_on_time" if timely else "applications.replied_late", "")] += 1
            if app["reply_action"] == "REFUSED":
                counts[(provider, "applications.refused", "")] += 1
                counts[(provider, "applications.refused", dimension(reason=reason_label(app["reply_note"])))] += 1
            else:
                counts[(provider, "applications.approved", "")] += 1
        elif app["reply_due_time"] < now and unanswered_by_provider(app["state"], app["reply_due_time"],
                                                                    app["escalate_time"]):
            # Past due when counted, not at the period's end: one made late in a month falls due in the next,
            # whose figures count only the applications made in it, so it was never counted unanswered.
            counts[(provider, "applications.unreplied_overdue", "")] += 1
    at = min(end, now)
    for grant in await store.grants_in_force(at):
        # A grant of a resource retired by then was ended with it (docs/api.md: for good), though stored ACTIVE:
        # counted, a department held its grants on a resource nobody could query, month after month.
        if (retired := await retired_at(grant["resource_code"])) is not None and retired <= at:
            continue
        counts[(grant["department_code"], "grants.held", "")] += grant["n"]
        counts[(grant["provider_department_code"], "grants.given", "")] += grant["n"]
    return [FigureRow(department, name, dim, value) for (department, name, dim), value in counts.items()]
