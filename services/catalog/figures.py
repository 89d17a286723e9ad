"""The catalog's figures of every provider department over a period (R-SUP-1, R-CAT-3), for supervision.

* ``catalog.resources``: resources published at the period's end, in total and by ``share_type`` and ``category``;
* ``catalog.resource``: one per published resource (value 1), naming its dataset, endpoint target and update
  cycle, so supervision can ask the data's owner about freshness and find resources with no data;
* ``catalog.updates_due`` / ``catalog.updates_on_time`` / ``catalog.updates_overdue``: mandate changes due in
  the period (or reported in it, already past due: store.mandate_changes_due) and whether the department's
  catalog work came by the due date (Art. 8: 15 working days);
  ``catalog.update_overdue`` names each overdue change (``change`` id, ``due`` date) as evidence.

A change due in the period but not yet due now is neither on time nor overdue yet.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

from services.catalog.model import Category, ShareType, UpdateCycle, label
from services.catalog.store import CatalogStore
from services.runtime.figures import FigureRow, dimension
from services.runtime.workdays import CHINA


async def department_figures(store: CatalogStore, start: dt.datetime, end: dt.datetime,
                             now: dt.datetime) -> list[FigureRow]:
    """Every provider department's catalog figures over [start, end)."""
    rows: list[FigureRow] = []
    counts: Counter[tuple[str, str]] = Counter()
    for resource in await store.published_resources(end):
        department = resource["provider_department_code"]
        counts[(department, "")] += 1
        counts[(department, dimension(share_type=label(ShareType, resource["share_type"])))] += 1
        counts[(department, dimension(category=label(Category, resource["category"])))] += 1
        rows.append(FigureRow(department, "catalog.resource", dimension(
            resource=resource["code"], dataset=resource["endpoint_dataset"], target=resource["endpoint_target"],
            cycle=label(UpdateCycle, resource["update_cycle"])), 1))
    rows.extend(FigureRow(department, "catalog.resources", dim, value) for (department, dim), value in counts.items())
    updates: Counter[tuple[str, str]] = Counter()
    for change in await store.mandate_changes_due(start, end):
        department, due, work = change["department_code"], change["due_time"], change["work_time"]
        if work is not None and work <= due:
            updates[(department, "catalog.updates_on_time")] += 1
        elif due <= now:
            updates[(department, "catalog.updates_overdue")] += 1
            rows.append(FigureRow(department, "catalog.update_overdue",
                                  dimension(change=change["id"], due=_day(due)), 1))
        else:
            continue
        updates[(department, "catalog.updates_due")] += 1
    rows.extend(FigureRow(department, name, "", value) for (department, name), value in updates.items())
    return rows


def _day(moment: dt.datetime) -> str:
    """The China Standard Time date of ``moment``, as the reports print it: PostgreSQL answers timestamps in UTC,
    whose date is the day before for a moment before 08:00 in Beijing (a due time at the start of a day)."""
    return moment.astimezone(CHINA).date().isoformat()
