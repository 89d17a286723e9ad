"""The operator's holiday file (GOVSHARE_HOLIDAYS_FILE): a year's notice entered before chinese-calendar has it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from console.settings import ConsoleSettingsError, load_console_settings
from services.launcher import console_environment
from services.runtime import settings, workdays

#: A 2027 as a notice would give it (an example for the tests, not the State Council's): 春节 5-12 Feb off,
#: Sunday 14 and Saturday 20 Feb working days.
NOTICE_2027 = """\
# 国务院办公厅关于2027年部分节假日安排的通知
[2027]
holidays = ["2027-01-01..2027-01-03", "2027-02-05..2027-02-12", "2027-04-03..2027-04-05",
            "2027-05-01..2027-05-05", 2027-06-09, "2027-09-15", "2027-10-01..2027-10-07"]
workdays = ["2027-02-14", "2027-02-20", "2027-09-26"]
"""


def _entered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> str:
    path = tmp_path / "holidays.toml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv(workdays.HOLIDAYS_FILE_ENV, str(path))
    return str(path)


def test_a_year_the_operator_entered_is_counted_as_its_notice_says(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """An application filed on Friday 29 Jan 2027 was due, Monday to Friday, on 12 Feb (春节) and provisional; with
    the notice entered it is due on 19 Feb (4 days before 春节, the 调休 Sunday, 5 after), not provisional, and a
    due date stored provisional is counted again so at start."""
    filed = dt.datetime(2027, 1, 29, 10, 0, tzinfo=workdays.CHINA)
    stored = workdays.add_working_days(filed, 10)
    assert stored.date() == dt.date(2027, 2, 12) and workdays.provisional(stored)
    _entered(tmp_path, monkeypatch, NOTICE_2027)
    assert workdays.calendar_covers(dt.date(2027, 2, 5))
    assert not workdays.is_working_day(dt.date(2027, 2, 8)) and workdays.is_working_day(dt.date(2027, 2, 14))
    due = workdays.add_working_days(filed, 10)
    assert due.date() == dt.date(2027, 2, 19) and not workdays.provisional(due)
    assert workdays.recount(filed, stored, 10) == (due, 10, False)
    # The years the file does not give are chinese-calendar's as before.
    assert workdays.is_working_day(dt.date(2026, 10, 10)) and not workdays.calendar_covers(dt.date(2028, 1, 3))


@pytest.mark.parametrize(("text", "problem"), [
    (NOTICE_2027.replace('"2027-09-26"', '"2027-09-26", "2027-02-08"'), "2027-02-08 is given twice: in holidays and"),
    (NOTICE_2027.replace('"2027-09-15"', '"2027-09-15", "2027-09-15"'), "holidays: 2027-09-15 is given twice"),
    (NOTICE_2027.replace('"2027-09-26"', '"2027-09-27"'), "2027-09-27 is given as a 调休 working day but is a weekday"),
    (NOTICE_2027.replace('workdays = ["2027-02-14", "2027-02-20", "2027-09-26"]\n', ""),
     "the year is half given: workdays missing"),
    (NOTICE_2027.replace('"2027-10-01..2027-10-07"', '"2027-10-05..2027-10-07"'),
     "the year is half given: 国庆节 (2027-10-01, 2027-10-02, 2027-10-03) is not among its holidays"),
    (NOTICE_2027.replace('"2027-04-03..2027-04-05",', ""), "清明节 (2027-04-05) is not among its holidays"),
    (NOTICE_2027.replace('"2027-09-15"', '"2028-09-15"'), "holidays: 2028-09-15 is not in 2027"),
    (NOTICE_2027.replace('"2027-09-15"', '"2027-9-15"'), "'2027-9-15' is not a date (YYYY-MM-DD)"),
    (NOTICE_2027.replace("workdays =", "workday ="), "'workday' is not a key of a year"),
    ("[2027\n", "not a TOML file"),
])
def test_a_holiday_file_entered_wrong_stops_the_start_saying_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  text: str, problem: str) -> None:
    """Each process that counts deadlines (the services, the console) checks the file at start and names the
    problem; the year is not used in part."""
    path = _entered(tmp_path, monkeypatch, text)
    found = settings.problems("catalog", {workdays.HOLIDAYS_FILE_ENV: path})
    assert any(problem in p and path in p for p in found), found
    with pytest.raises(ConsoleSettingsError, match="GOVSHARE_HOLIDAYS_FILE"):
        load_console_settings({workdays.HOLIDAYS_FILE_ENV: path, "GOVSHARE_CONSOLE_SESSION_SECRET": "x" * 40})


def test_a_holiday_file_entered_right_raises_no_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file is checked as the processes get it: `govshare up` passes it to the console too (working days left)."""
    path = _entered(tmp_path, monkeypatch, NOTICE_2027)
    assert console_environment({"console": 8080, "gateway": 50051})[workdays.HOLIDAYS_FILE_ENV] == path
    assert not [p for p in settings.problems("catalog", {workdays.HOLIDAYS_FILE_ENV: path}) if "HOLIDAYS" in p]
    missing = settings.problems("catalog", {workdays.HOLIDAYS_FILE_ENV: str(tmp_path / "none.toml")})
    assert any("cannot be read" in p for p in missing), missing
