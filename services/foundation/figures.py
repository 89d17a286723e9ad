"""The foundation service's figures over a period (R-SUP-1, R-FND-2, R-USE-3), for supervision.

* ``datasets.records`` by ``dataset`` (the dataset's authoritative source): how many records it holds;
* ``datasets.stale_records`` by ``dataset``: records whose as-of time is older than the longest age the
  request allows for that dataset (supervision derives it from the update cycle the catalog declares), judged
  at the period's end (or now, for a period not over yet);
* ``conflicts.raised`` / ``conflicts.resolved`` in the period and ``conflicts.open`` at its end, by the
  department that must settle them (the item's authoritative source).
"""

from __future__ import annotations

import datetime as dt

from services.foundation.datasets import DATASETS
from services.foundation.store import FoundationStore
from services.runtime.figures import FigureRow, dimension


async def department_figures(store: FoundationStore, cycles: dict[str, int], end: dt.datetime,
                             start: dt.datetime, now: dt.datetime) -> list[FigureRow]:
    """Dataset and conflict figures; ``cycles`` maps a dataset to its longest allowed record age (seconds)."""
    rows: list[FigureRow] = []
    judged_at = min(end, now)
    for name in DATASETS:
        max_age = cycles.get(name)
        stale_before = judged_at - dt.timedelta(seconds=max_age) if max_age is not None else None
        found = await store.dataset_freshness(name, stale_before)
        if not found["authority"]:
            continue
        rows.append(FigureRow(found["authority"], "datasets.records", dimension(dataset=name), found["records"]))
        if stale_before is not None:
            rows.append(FigureRow(found["authority"], "datasets.stale_records", dimension(dataset=name),
                                  found["stale"]))
    for row in await store.conflict_counts(start, end):
        if not row["department_code"]:
            continue
        for name in ("raised", "resolved", "open"):
            rows.append(FigureRow(row["department_code"], f"conflicts.{name}", "", row[name]))
    return rows
