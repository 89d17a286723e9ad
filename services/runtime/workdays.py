"""Working-day arithmetic on China's statutory holiday calendar.

Reply deadlines (R-APP-2), catalog update due dates (R-CAT-3) and dispute
deadlines count working days: weekdays that are not statutory holidays, plus the
weekend days made working days by 调休. The calendar comes from chinese-calendar,
which covers the years the State Council had published at its release, and from
the operator's holiday file (GOVSHARE_HOLIDAYS_FILE, services/runtime/holidays.py),
where a year's notice is entered before a release has it; a year the file gives
is counted as the file says. Beyond both the arithmetic falls back to
Monday-Friday less the holidays on dates the law fixes, and says so, since no one
can know a year's arrangement before it is announced. The fallback skips the
holidays the law names on lunar dates too (除夕, 春节 初一–初三, 端午, 中秋: borax's
lunar calendar, 1900–2100), so a provisional deadline does not fall inside 春节.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar
from zoneinfo import ZoneInfo

import chinese_calendar
from borax.calendars.lunardate import InvalidLunarDateError, LunarDate

from services.runtime import holidays

K = TypeVar("K")

CHINA = ZoneInfo("Asia/Shanghai")
#: The last instant a Beijing date can name (9999-12-31 23:59:59 Beijing, 15:59:59 UTC): a later end of a grant is a
#: valid protobuf time but no date anyone can be shown, and converting it to Beijing time overflows.
LATEST_BEIJING = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=CHINA)


#: The holidays the law fixes on Gregorian dates (《全国年节及纪念日放假办法》, as revised in 2024): 元旦, 劳动节 and
#: 国庆节. They are known before any year's arrangement is published, so a provisional deadline skips them.
FIXED_HOLIDAYS = frozenset({(1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3)})
_FIXED_NAMES = {1: "元旦", 5: "劳动节", 10: "国庆节"}
#: Where the operator enters a year's notice before chinese-calendar has it (docs/configuration.md).
HOLIDAYS_FILE_ENV = "GOVSHARE_HOLIDAYS_FILE"


class HolidaysFileError(RuntimeError):
    """The holiday file cannot be used (the settings check at start says why first)."""


#: The holidays the law names on lunar dates (month, day, name); 除夕 is the eve of 初一, counted from it.
LUNAR_HOLIDAYS = ((1, 1, "春节"), (1, 2, "春节"), (1, 3, "春节"), (5, 5, "端午节"), (8, 15, "中秋节"))


def statutory_holidays(year: int) -> dict[dt.date, str]:
    """The holidays of ``year`` the law fixes and the platform can date without the year's notice, by name: those
    on Gregorian dates, 清明 (a solar term) and the lunar ones. Every notice gives them (a year entered without one
    is incomplete), and a deadline counted without the notice skips them."""
    return dict(_statutory(year))


@functools.cache
def _statutory(year: int) -> dict[dt.date, str]:
    """statutory_holidays, computed once per year (the fallback asks for every day it counts)."""
    days = {dt.date(year, month, day): _FIXED_NAMES[month] for month, day in FIXED_HOLIDAYS}
    for day in (dt.date(year, 4, 4), dt.date(year, 4, 5), dt.date(year, 4, 6)):
        if _qingming(day):
            days[day] = "清明节"
    days.update(_lunar_holidays(year))
    return days


def _lunar_holidays(year: int) -> dict[dt.date, str]:
    """除夕, 春节 初一–初三, 端午 and 中秋 of the lunar year beginning in ``year`` (all within it), or none beyond
    the lunar tables (after 2100: a deadline there skips the Gregorian dates only)."""
    try:
        days = {LunarDate(year, month, day).to_solar_date(): name for month, day, name in LUNAR_HOLIDAYS}
    except InvalidLunarDateError:
        return {}
    days[LunarDate(year, 1, 1).to_solar_date() - dt.timedelta(days=1)] = "除夕"
    return days


def holidays_file_problems(path: str) -> list[str]:
    """Every problem of the holiday file at ``path``: the settings check of every process that counts deadlines."""
    return holidays.read(path, statutory_holidays)[1]


def calendar_description() -> str:
    """Which calendar counts which years, for the services' start log: the chinese-calendar release and its years,
    the holiday file and the years it gives, and from when deadlines are provisional. An operator who entered a
    notice and restarted reads here that it was taken."""
    known = sorted({day.year for day in chinese_calendar.constants.holidays})
    text = f"chinese-calendar {chinese_calendar.__version__} ({known[0]}-{known[-1]})"
    entered = sorted(_entered())
    if entered:
        path = os.environ.get(HOLIDAYS_FILE_ENV, "").strip()
        text += f", GOVSHARE_HOLIDAYS_FILE {path} ({', '.join(map(str, entered))})"
    last = known[-1]
    while last + 1 in entered:
        last += 1
    return f"{text}; provisional after {last} (Monday to Friday less the statutory holidays)"


def _entered() -> Mapping[int, holidays.Arrangement]:
    """The years the operator's holiday file gives (none when GOVSHARE_HOLIDAYS_FILE is unset)."""
    return _entered_in(os.environ.get(HOLIDAYS_FILE_ENV, "").strip())


@functools.cache
def _entered_in(path: str) -> Mapping[int, holidays.Arrangement]:
    """The file read once per process (it is read at start: an edit takes effect, and is recounted, on restart)."""
    if not path:
        return {}
    arrangements, problems = holidays.read(path, statutory_holidays)
    if problems:
        raise HolidaysFileError("; ".join(problems))
    return arrangements


def end_problem(end: dt.datetime) -> str | None:
    """Why ``end`` cannot be the end of a term (an application's, a grant's), or None: it must be a time Beijing's
    calendar can show, so the history, the console and the reports can say until when."""
    if end > LATEST_BEIJING:
        return "must be at most 9999-12-31 23:59:59 Beijing time (9999-12-31T15:59:59Z)"
    return None


def last_day_in_force(end: dt.datetime) -> dt.date:
    """The last Beijing date on which a term ending at ``end`` is in force (a grant is live while its end is
    later than now): an end at midnight Beijing (``2027-01-01T00:00:00+08:00``, i.e. ``2026-12-31T16:00:00Z``, as a
    system applying through the API writes it) serves nothing on that date, so its last day is the one before."""
    return (end - dt.timedelta(microseconds=1)).astimezone(CHINA).date()


def term_end_text(end: dt.datetime) -> str:
    """A term's end as 有效期至 reads it: the last day in force when the end closes a Beijing day (23:59:59, as the
    console sets it, or the next midnight), else the date and time to the second — the date alone would promise the
    whole day. The history, the console and its confirmations all say it this way, so they agree."""
    local = end.astimezone(CHINA)
    if local.time() >= dt.time(23, 59, 59) or local.time() == dt.time(0):
        return last_day_in_force(end).isoformat()
    return local.strftime("%Y-%m-%d %H:%M:%S")


def is_working_day(day: dt.date) -> bool:
    """True on statutory working days (调休 Saturdays included). Beyond the known calendar: Monday to Friday
    except the holidays whose dates the law fixes (元旦, 劳动节, 清明, 国庆节); a deadline there was counted onto
    1 January or 1 October, and one filed late in January into 春节. The lunar holidays (除夕, 春节 初一–初三,
    端午, 中秋) are dated by the lunar calendar; the rest of each holiday and the 调休 wait for the published
    arrangement. A year the operator's holiday file gives is counted as it says, before (and over) chinese-calendar."""
    if day.month == 12 and (after := _entered().get(day.year + 1)) is not None and day in after.named:
        # The next year's notice begins 元旦 in this December (as the notice for 2019 did, 2018-12-29..31): later
        # than this year's calendar, and the only one that knows it.
        return after.is_working_day(day)
    if (entered := _entered().get(day.year)) is not None:
        return entered.is_working_day(day)
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return day.weekday() < 5 and day not in _statutory(day.year)


def _qingming(day: dt.date) -> bool:
    """清明 is a solar term: computed, not announced (by chinese-calendar up to 2100; later years never)."""
    if day.month != 4:
        return False
    try:
        return any(name == "清明" for _, name in chinese_calendar.get_solar_terms(day, day))
    except NotImplementedError:
        return False


def calendar_covers(day: dt.date) -> bool:
    """Whether the statutory calendar for ``day``'s year is known (else deadlines are provisional): by
    chinese-calendar or by the operator's holiday file."""
    if day.year in _entered():
        return True
    try:
        chinese_calendar.is_workday(day)
    except NotImplementedError:
        return False
    return True


def first_calendar_year() -> int:
    """The first year the statutory calendar covers (chinese-calendar's first, 2004, or an earlier one the operator's
    holiday file gives). A deadline in an earlier year is counted Monday to Friday as one beyond its last is, but
    its arrangement was published long ago and will never come: it is not "not yet published"."""
    known = min(day.year for day in chinese_calendar.constants.holidays)
    return min([known, *_entered()])


def provisional(due: dt.datetime) -> bool:
    """Whether a deadline was counted without its year's statutory calendar (Monday to Friday), so callers
    can be told it may move when the State Council publishes that year's arrangement."""
    return not calendar_covers(due.astimezone(CHINA).date())


def working_days_between(start: dt.datetime, end: dt.datetime,
                         is_working: Callable[[dt.date], bool] = is_working_day) -> int:
    """How many working days ``add_working_days`` counts from ``start`` to ``end`` on the calendar as it is now:
    the number a deadline stored without it was counted with (its inverse while the calendar is unchanged)."""
    first, last = start.astimezone(CHINA).date(), end.astimezone(CHINA).date()
    return sum(1 for n in range(1, (last - first).days + 1) if is_working(first + dt.timedelta(n)))


def recount(start: dt.datetime, due: dt.datetime, working_days: int | None,
            is_working: Callable[[dt.date], bool] = is_working_day,
            covers: Callable[[dt.date], bool] = calendar_covers,
            count: Callable[[dt.datetime, int], dt.datetime] | None = None,
            counted_without: bool = True) -> tuple[dt.datetime, int | None, bool]:
    """A stored deadline counted ``working_days`` after ``start`` (None: stored before the count was kept), counted
    again on the calendar installed now: the deadline, the count and whether it is still provisional. A deadline in
    a year chinese-calendar did not cover was counted Monday to Friday; once a release covering that year is
    installed, the same count ends elsewhere (春节, 调休). A deadline counted on a year's calendar that has been
    corrected since (the holiday file's year entered wrong, or a release correcting a year) ends elsewhere too. One
    stored without its count stands unless it is still provisional (then the count it was made with is taken from
    it, to count it again later). ``count`` adds working days (add_working_days on ``is_working`` unless given:
    count_memo's for a pass). ``counted_without`` is False for a deadline stored as counted on its year's calendar:
    if that year is no longer known (removed from the holiday file before a release has it), it is counted again
    Monday to Friday, not left on the days of a calendar no longer in force."""
    if working_days is None:
        if covers(due.astimezone(CHINA).date()):  # nothing says it was counted without its year
            return due, None, False
        working_days = working_days_between(start, due, is_working)
    if counted_without and not covers(start.astimezone(CHINA).date() + dt.timedelta(days=1)):
        # Not one day of the count is known yet (the calendar covers whole years from the first on, so the first
        # day unknown means all after it are): counted again, it ends where it did. Every start of every replica
        # recounts the provisional deadlines, and counting each again day by day made a start take minutes on a
        # database holding many deadlines years ahead; only those a newer calendar can move are counted.
        return due, working_days, True
    recounted = count(start, working_days) if count else add_working_days(start, working_days, is_working)
    return recounted, working_days, not covers(recounted.astimezone(CHINA).date())


@dataclass(frozen=True)
class Recounted:
    """What a start's recount of stored deadlines moved: those counted without their year's calendar, now known,
    and open ones counted on a year's calendar corrected since (the operator's holiday file fixed, or a
    chinese-calendar release correcting a year). Counts only: the log says how many, never whose."""

    provisional: int = 0
    corrected: int = 0

    def __bool__(self) -> bool:
        return bool(self.provisional or self.corrected)

    def report(self, what: str) -> str | None:
        """The start log's line for ``what`` (e.g. "reply deadlines"), or None when nothing moved."""
        parts = []
        if self.provisional:
            parts.append(f"{self.provisional} counted without their year's holiday calendar counted again on the "
                         "calendar known now")
        if self.corrected:
            parts.append(f"{self.corrected} open ones counted on a year's calendar corrected since "
                         f"({HOLIDAYS_FILE_ENV} or chinese-calendar) counted again and moved")
        return f"{what}: {'; '.join(parts)}: {calendar_description()}" if parts else None


def moved_dues(rows: Iterable[tuple[K, dt.datetime, dt.datetime, int | None, bool | None]]
               ) -> list[tuple[K, dt.datetime, dt.datetime, int | None, bool]]:
    """Stored deadlines, each ``(id, start, due, working days, stored as provisional)``, counted again on the
    calendar installed now (recount, over one day_memo and one covers_memo): ``(id, stored due, due, working days,
    still provisional)`` of those whose date, count or flag the new count changes. Only those are to be written: a
    deadline still unknown, already counted, is left as stored (each store's start-up recount of its deadlines,
    written under ``due_time = stored due`` so that one another replica moved first is left alone). Each start
    passes every open deadline here, not only the provisional ones (a year's calendar may have been corrected
    since they were counted); measured for 10^5 deadlines of 5 to 15 working days spread over a year, on a shared
    2-core machine: 24 s with day_memo alone, 7.8 s with covers_memo, 0.85 s with count_memo too."""
    working, covers = day_memo(), covers_memo()
    count = count_memo(working)
    moved = []
    for key, start, due, days, was_provisional in rows:
        new_due, new_days, still = recount(start, due, days, working, covers, count, was_provisional is not False)
        if new_due != due or new_days != days or still is not was_provisional:
            moved.append((key, due, new_due, new_days, still))
    return moved


def recounted(rows: Iterable[tuple[K, dt.datetime, dt.datetime, int | None, bool | None]],
              moved: Iterable[tuple[K, dt.datetime, dt.datetime, int | None, bool]]) -> Recounted:
    """How many of ``moved`` (moved_dues of ``rows``) moved their date, told apart by how they had been stored:
    provisional (or not known to be), or counted on the calendar of their years (which has been corrected since)."""
    certain = {row[0] for row in rows if row[4] is False}
    dates = [key for key, was, due, _days, _still in moved if due != was]
    corrected = sum(1 for key in dates if key in certain)
    return Recounted(provisional=len(dates) - corrected, corrected=corrected)


def day_memo() -> Callable[[dt.date], bool]:
    """is_working_day remembered for one pass over many deadlines (a start's recount): their days overlap, and
    each unknown day goes through the fallback's solar-term computation. Per pass, not per process, so a calendar
    patched or upgraded between passes is read afresh."""
    return functools.cache(is_working_day)


def covers_memo() -> Callable[[dt.date], bool]:
    """calendar_covers remembered by year for one pass (the calendar covers whole years): chinese-calendar checks
    each date against the range of its whole table (min and max of every date it knows, at each call). Per pass,
    as day_memo."""
    by_year = functools.cache(lambda year: calendar_covers(dt.date(year, 1, 1)))
    return lambda day: by_year(day.year)


def count_memo(is_working: Callable[[dt.date], bool]) -> Callable[[dt.datetime, int], dt.datetime]:
    """add_working_days remembered by Beijing date and count for one pass: a start recounting every open deadline
    meets the same few hundred (day, count) pairs many times over. Per pass, as day_memo."""
    by_day = functools.cache(lambda day, days: add_working_days(dt.datetime.combine(day, dt.time(12), CHINA), days,
                                                                is_working))
    return lambda start, days: by_day(start.astimezone(CHINA).date(), days)


def add_working_days(start: dt.datetime, days: int,
                     is_working: Callable[[dt.date], bool] = is_working_day) -> dt.datetime:
    """The end of the ``days``-th working day after ``start`` (Beijing time), as an aware datetime.

    The day of submission does not count (Art. 12: "10个工作日内予以答复" counts from the next day). The end is the
    day's last microsecond (what PostgreSQL and datetime hold), not 23:59:59: a reply at 23:59:59.5 on its due day
    is on time, and `now > due` reads late only once the day is over.
    """
    local = start.astimezone(CHINA).date()
    counted = 0
    while counted < days:
        local += dt.timedelta(days=1)
        if is_working(local):
            counted += 1
    return dt.datetime.combine(local, dt.time.max, tzinfo=CHINA)
