"""The operator's holiday file (GOVSHARE_HOLIDAYS_FILE): the State Council's notice of a year's holidays, entered
before a chinese-calendar release publishes it.

The notice (国务院办公厅关于某年部分节假日安排的通知) is published each November; chinese-calendar releases follow
weeks or months later, and until one is installed every deadline in that year is counted Monday to Friday
(provisional). The file lets the operator enter the notice as it is read: for each year, the days off and the
weekend days made working days (调休). A TOML file, one table per year::

    [2027]
    holidays = ["2027-01-01", "2027-02-05..2027-02-11", "2027-04-05", ...]
    workdays = ["2027-02-14", "2027-02-20"]

A notice may begin 元旦 in the December before its year (国办发明电〔2018〕15号, for 2019: 2018-12-30..2019-01-01 off,
Saturday 2018-12-29 a working day); its table gives those days too, and they are counted as it says, over the
year before's calendar (workdays.is_working_day).

A year is taken whole or not at all: the file is checked when a process starts, and every problem is said at once
(a date twice, a weekday given as a 调休 working day, a year half given), since a year entered wrong would count
every deadline in it wrong without anyone seeing it.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

#: The keys of a year's table: both are required (a notice with no 调休 gives ``workdays = []``).
KEYS = ("holidays", "workdays")
_WEEKDAYS = "一二三四五六日"


@dataclass(frozen=True)
class Arrangement:
    """One year's arrangement as the notice gives it: the days off and the 调休 working days."""

    holidays: frozenset[dt.date]
    workdays: frozenset[dt.date]

    @property
    def named(self) -> frozenset[dt.date]:
        """Every day the notice names, off or working."""
        return self.holidays | self.workdays

    def is_working_day(self, day: dt.date) -> bool:
        """A 调休 working day, or a weekday not off."""
        return day in self.workdays or (day.weekday() < 5 and day not in self.holidays)


def read(path: str, statutory: Callable[[int], Mapping[dt.date, str]]) -> tuple[dict[int, Arrangement], list[str]]:
    """The arrangements ``path`` gives by year and every problem found in it (the arrangements are to be used only
    when there is none). ``statutory(year)`` names the holidays the law fixes that year: each must be among the
    year's holidays, else the year was entered in part."""
    try:
        with open(path, "rb") as file:
            document = tomllib.load(file)
    except OSError as exc:
        return {}, [f"GOVSHARE_HOLIDAYS_FILE={path!r}: cannot be read ({exc.strerror or exc})"]
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        return {}, [f"GOVSHARE_HOLIDAYS_FILE={path!r}: not a TOML file ({exc})"]
    arrangements: dict[int, Arrangement] = {}
    problems: list[str] = []
    for key, table in document.items():
        year_problems: list[str] = []
        arrangement = _year(key, table, statutory, year_problems)
        problems.extend(f"GOVSHARE_HOLIDAYS_FILE {path}: [{key}] {p}" for p in year_problems)
        if arrangement is not None and not year_problems:
            arrangements[int(key)] = arrangement
    return arrangements, problems


def _year(key: str, table: object, statutory: Callable[[int], Mapping[dt.date, str]],
          problems: list[str]) -> Arrangement | None:
    """One year's table read and checked; None when it cannot be read at all."""
    if not (key.isascii() and key.isdigit() and len(key) == 4):
        problems.append("is not a year: give one table per year, e.g. [2027]")
        return None
    if not isinstance(table, dict):
        problems.append("must be a table with holidays = [...] and workdays = [...]")
        return None
    year = int(key)
    for unknown in sorted(set(table) - set(KEYS)):
        problems.append(f"{unknown!r} is not a key of a year: expected holidays and workdays")
    missing = [k for k in KEYS if k not in table]
    if missing:
        problems.append(f"the year is half given: {' and '.join(missing)} missing (give both as the notice does; "
                        "workdays = [] if it names no 调休 working day)")
        return None
    holidays = _days(year, "holidays", table["holidays"], problems)
    workdays = _days(year, "workdays", table["workdays"], problems)
    for day in sorted(set(holidays) & set(workdays)):
        problems.append(f"{day} is given twice: in holidays and in workdays")
    for day in sorted(workdays):
        if day.weekday() < 5:
            problems.append(f"{day} is given as a 调休 working day but is a weekday (星期{_WEEKDAYS[day.weekday()]}), "
                            "a working day anyway: workdays lists the weekend days the notice makes working days")
    missing_by_name: dict[str, list[str]] = {}
    for day, name in sorted(statutory(year).items()):
        if day not in holidays:
            missing_by_name.setdefault(name, []).append(day.isoformat())
    for name, days in missing_by_name.items():
        problems.append(f"the year is half given: {name} ({', '.join(days)}) is not among its holidays")
    return Arrangement(frozenset(holidays), frozenset(workdays))


def _days(year: int, key: str, entries: object, problems: list[str]) -> list[dt.date]:
    """The dates an entry list gives (dates, ``YYYY-MM-DD`` or ``YYYY-MM-DD..YYYY-MM-DD``), each once."""
    if not isinstance(entries, list):
        problems.append(f"{key} must be a list of dates")
        return []
    days: list[dt.date] = []
    for entry in entries:
        for day in _entry_days(key, entry, problems):
            if day.year != year and not in_december_before(day, year):
                problems.append(f"{key}: {day} is not in {year} (nor in the December before it, where a notice's "
                                "元旦 may begin)")
            elif day in days:
                problems.append(f"{key}: {day} is given twice")
            else:
                days.append(day)
    return days


def in_december_before(day: dt.date, year: int) -> bool:
    """Whether ``day`` is in the December before ``year``, where that year's notice may begin 元旦 (days off, and a
    调休 working day before them)."""
    return day.year == year - 1 and day.month == 12


def _entry_days(key: str, entry: object, problems: list[str]) -> list[dt.date]:
    """The days of one entry: a date (TOML's or a string) or a range of dates, both ends included."""
    if isinstance(entry, dt.date) and not isinstance(entry, dt.datetime):
        return [entry]
    text = entry.strip() if isinstance(entry, str) else ""
    first, sep, last = text.partition("..")
    try:
        start = dt.date.fromisoformat(first.strip())
        end = dt.date.fromisoformat(last.strip()) if sep else start
    except ValueError:
        problems.append(f"{key}: {entry!r} is not a date (YYYY-MM-DD) or a range of dates (YYYY-MM-DD..YYYY-MM-DD)")
        return []
    if end < start:
        problems.append(f"{key}: {entry!r} ends before it starts")
        return []
    return [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]
