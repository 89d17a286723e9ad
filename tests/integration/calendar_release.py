"""Calendars for the tests of stored deadlines counted again at start: a chinese-calendar release that knows 2099
and 2100, and the operator's holiday file entering 2027 wrong, then corrected."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import chinese_calendar
import pytest

#: 2027 as the State Council's notice gives it (春节 5-12 Feb, 调休 Sunday 14 and Saturday 20 Feb).
NOTICE_2027 = """\
[2027]
holidays = ["2027-01-01..2027-01-03", "2027-02-05..2027-02-12", "2027-04-03..2027-04-05",
            "2027-05-01..2027-05-05", "2027-06-09", "2027-09-15", "2027-10-01..2027-10-07"]
workdays = ["2027-02-14", "2027-02-20", "2027-09-26"]
"""
#: The same notice with 春节 typed as ending on Thursday 11 Feb: Friday 12 Feb counted a working day.
NOTICE_2027_MISTYPED = NOTICE_2027.replace('"2027-02-05..2027-02-12"', '"2027-02-05..2027-02-11"')
#: Friday 29 Jan 2027, 10:00 in Beijing: a count from it crosses 春节.
FILED_2027 = dt.datetime(2027, 1, 29, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


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


def enter_2027(monkeypatch: pytest.MonkeyPatch, directory: Path, text: str) -> None:
    """Starts the processes with ``text`` as their holiday file (GOVSHARE_HOLIDAYS_FILE), as the operator's restart
    does: a file of its own each time, since a process reads a path once."""
    path = directory / f"holidays-{len(list(directory.glob('holidays-*.toml')))}.toml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("GOVSHARE_HOLIDAYS_FILE", str(path))
