"""The catalog's figures for supervision (services/catalog/figures.py), from a store's rows."""

from __future__ import annotations

import asyncio
import datetime as dt

from services.catalog.figures import department_figures

DEPT = "11110100MB0000006K"
UTC = dt.UTC


class _Rows:
    """The two reads department_figures makes, answering rows as PostgreSQL does (timestamps in UTC)."""

    def __init__(self, changes: list[dict]) -> None:
        self._changes = changes

    async def published_resources(self, end: dt.datetime) -> list[dict]:
        return []

    async def mandate_changes_due(self, start: dt.datetime, end: dt.datetime) -> list[dict]:
        return self._changes


def test_an_overdue_updates_due_date_is_the_day_in_beijing() -> None:
    """The evidence of an overdue catalogue update named its due date as the UTC date: a change due at 00:00 on
    2026-03-02 in Beijing (16:00 UTC the day before) was said due on 2026-03-01 in the violation and the reports."""
    due = dt.datetime(2026, 3, 1, 16, 0, tzinfo=UTC)  # 2026-03-02 00:00 China Standard Time
    store = _Rows([{"id": 7, "department_code": DEPT, "due_time": due, "work_time": None}])
    rows = asyncio.run(department_figures(store, dt.datetime(2026, 3, 1, tzinfo=UTC),  # type: ignore[arg-type]
                                          dt.datetime(2026, 4, 1, tzinfo=UTC), dt.datetime(2026, 4, 2, tzinfo=UTC)))
    [overdue] = [row for row in rows if row.name == "catalog.update_overdue"]
    assert "2026-03-02" in overdue.dimension and "2026-03-01" not in overdue.dimension
