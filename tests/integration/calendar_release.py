"""A chinese-calendar release that knows 2099 and 2100, for the tests of provisional deadlines counted again."""

from __future__ import annotations

import datetime as dt

import chinese_calendar
import pytest


def publish_2100(monkeypatch: pytest.MonkeyPatch) -> None:
    """Installs, in place of chinese-calendar's is_workday, a release that also knows 2099 and 2100 (1-7 Jan 2100
    off, Monday to Friday otherwise), as a newer package would once the State Council publishes those years."""
    real = chinese_calendar.is_workday

    def published(day: dt.date) -> bool:
        if day.year < 2099:
            return bool(real(day))
        if day.year > 2100:
            raise NotImplementedError
        return day.weekday() < 5 and not (day.year == 2100 and day.month == 1 and day.day <= 7)

    monkeypatch.setattr(chinese_calendar, "is_workday", published)
