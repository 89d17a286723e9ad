"""Working-day arithmetic on China's statutory holiday calendar.

Reply deadlines (R-APP-2), catalog update due dates (R-CAT-3) and dispute
deadlines count working days: weekdays that are not statutory holidays, plus the
weekend days made working days by 调休. The calendar comes from chinese-calendar,
which covers the years the State Council has published; beyond them the
arithmetic falls back to Monday-Friday and says so, since no one can know a
holiday arrangement before it is announced.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import chinese_calendar

CHINA = ZoneInfo("Asia/Shanghai")


def is_working_day(day: dt.date) -> bool:
    """True on statutory working days (调休 Saturdays included), Mon-Fri beyond the known calendar."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return day.weekday() < 5


def calendar_covers(day: dt.date) -> bool:
    """Whether the statutory calendar for ``day``'s year is known (else deadlines are provisional)."""
    try:
        chinese_calendar.is_workday(day)
    except NotImplementedError:
        return False
    return True


def provisional(due: dt.datetime) -> bool:
    """Whether a deadline was counted without its year's statutory calendar (Monday to Friday), so callers
    can be told it may move when the State Council publishes that year's arrangement."""
    return not calendar_covers(due.astimezone(CHINA).date())


def add_working_days(start: dt.datetime, days: int) -> dt.datetime:
    """The end of the ``days``-th working day after ``start`` (Beijing time), as an aware datetime.

    The day of submission does not count (Art. 12: "10个工作日内予以答复" counts from the next day).
    """
    local = start.astimezone(CHINA).date()
    counted = 0
    while counted < days:
        local += dt.timedelta(days=1)
        if is_working_day(local):
            counted += 1
    return dt.datetime.combine(local, dt.time(23, 59, 59), tzinfo=CHINA)
