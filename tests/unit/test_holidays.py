"""The operator's holiday file (GOVSHARE_HOLIDAYS_FILE): a year's notice entered before chinese-calendar has it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import chinese_calendar
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
    stored = dt.datetime.combine(dt.date(2027, 2, 12), dt.time.max, tzinfo=workdays.CHINA)  # as counted before
    assert workdays.provisional(stored)
    _entered(tmp_path, monkeypatch, NOTICE_2027)
    assert workdays.calendar_covers(dt.date(2027, 2, 5))
    assert not workdays.is_working_day(dt.date(2027, 2, 8)) and workdays.is_working_day(dt.date(2027, 2, 14))
    due = workdays.add_working_days(filed, 10)
    assert due.date() == dt.date(2027, 2, 19) and not workdays.provisional(due)
    assert workdays.recount(filed, stored, 10) == (due, 10, False)
    # The years the file does not give are chinese-calendar's as before.
    assert workdays.is_working_day(dt.date(2026, 10, 10)) and not workdays.calendar_covers(dt.date(2028, 1, 3))


def test_a_notice_beginning_yuandan_in_the_december_before_its_year_is_entered_as_it_reads(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A notice may begin 元旦 in the December before its year (the notice for 2019 gave 2018-12-30..2019-01-01 off and
    Saturday 2018-12-29 a working day). Entered so, the whole file was refused ("2026-12-31 is not in 2027"), every
    process stopped at start, and entering the December under [2026] meant giving that whole year again. Those days
    are counted as the notice says, over the year before's calendar; a day of another month before it is refused."""
    notice = NOTICE_2027.replace('"2027-01-01..2027-01-03"', '"2026-12-31..2027-01-03"').replace(
        'workdays = ["2027-02-14"', 'workdays = ["2026-12-26", "2027-02-14"')
    path = _entered(tmp_path, monkeypatch, notice)
    assert workdays.holidays_file_problems(path) == []
    assert not workdays.is_working_day(dt.date(2026, 12, 31))  # a Thursday chinese-calendar's 2026 counts working
    assert workdays.is_working_day(dt.date(2026, 12, 26))  # a Saturday made a working day
    assert workdays.is_working_day(dt.date(2026, 12, 30)) and not workdays.is_working_day(dt.date(2026, 12, 27))
    # Filed on Wednesday 23 December 2026: the 26th counts, the 31st does not; due on Thursday 7 January.
    due = workdays.add_working_days(dt.datetime(2026, 12, 23, 23, 59, tzinfo=workdays.CHINA), 10)
    assert due.date() == dt.date(2027, 1, 7) and not workdays.provisional(due)
    elsewhere = NOTICE_2027.replace('"2027-09-26"', '"2027-09-26", "2026-11-28"')
    found = workdays.holidays_file_problems(_entered(tmp_path, monkeypatch, elsewhere))
    assert any("workdays: 2026-11-28 is not in 2027" in p for p in found), found


@pytest.mark.parametrize(("text", "problem"), [
    (NOTICE_2027.replace('"2027-09-26"', '"2027-09-26", "2027-02-08"'), "2027-02-08 is given twice: in holidays and"),
    (NOTICE_2027.replace('"2027-09-15"', '"2027-09-15", "2027-09-15"'), "holidays: 2027-09-15 is given twice"),
    (NOTICE_2027.replace('"2027-09-26"', '"2027-09-27"'), "2027-09-27 is given as a 调休 working day but is a weekday"),
    (NOTICE_2027.replace('workdays = ["2027-02-14", "2027-02-20", "2027-09-26"]\n', ""),
     "the year is half given: workdays missing"),
    (NOTICE_2027.replace('"2027-10-01..2027-10-07"', '"2027-10-05..2027-10-07"'),
     "the year is half given: 国庆节 (2027-10-01, 2027-10-02, 2027-10-03) is not among its holidays"),
    (NOTICE_2027.replace('"2027-04-03..2027-04-05",', ""), "清明节 (2027-04-05) is not among its holidays"),
    (NOTICE_2027.replace("2027-06-09, ", ""), "the year is half given: 端午节 (2027-06-09) is not among its holidays"),
    (NOTICE_2027.replace('"2027-02-05..2027-02-12"', '"2027-02-06..2027-02-12"'),
     "the year is half given: 除夕 (2027-02-05) is not among its holidays"),
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


def test_a_provisional_count_skips_the_statutory_lunar_holidays() -> None:
    """With no arrangement for 2027 (no release, no file), an application filed on Friday 29 Jan 2027 was due
    Monday to Friday on 12 Feb, though 除夕 (5 Feb) and 初一-初三 (6-8 Feb) are statutory whatever the notice says:
    it is due on 16 Feb, still provisional (the 调休 are not known). 端午 and 中秋 are skipped too; the dates are
    those the lunar calendar gives, as chinese-calendar has them for the years it knows."""
    filed = dt.datetime(2027, 1, 29, 10, 0, tzinfo=workdays.CHINA)
    due = workdays.add_working_days(filed, 10)
    assert due.date() == dt.date(2027, 2, 16) and workdays.provisional(due)
    for day in (dt.date(2027, 2, 5), dt.date(2027, 2, 8), dt.date(2027, 6, 9), dt.date(2027, 9, 15),
                dt.date(2099, 1, 20), dt.date(2100, 2, 8)):  # 除夕, 初三, 端午, 中秋; 除夕 of 2099 and 2100
        assert not workdays.is_working_day(day), day
    assert workdays.is_working_day(dt.date(2027, 2, 9)) and workdays.is_working_day(dt.date(2027, 6, 10))
    for year in (2025, 2026):  # the conversion agrees with the published years
        for day, name in workdays.statutory_holidays(year).items():
            assert not chinese_calendar.is_workday(day), (day, name)
    assert {"除夕", "春节", "端午节", "中秋节"} <= set(workdays.statutory_holidays(2027).values())
    # Beyond the lunar tables (2100) only the Gregorian dates are known, as before.
    assert set(workdays.statutory_holidays(2101).values()) == {"元旦", "劳动节", "国庆节"}


def test_the_start_log_says_which_calendar_counts_each_year(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator who entered a notice and restarted reads in the services' start log which years the file gives
    (and the release's), not only the chinese-calendar version: the one place saying the entry was taken."""
    monkeypatch.delenv(workdays.HOLIDAYS_FILE_ENV, raising=False)
    plain = workdays.calendar_description()
    assert f"chinese-calendar {chinese_calendar.__version__} (2004-2026)" in plain and "HOLIDAYS_FILE" not in plain
    assert "provisional after 2026" in plain
    path = _entered(tmp_path, monkeypatch, NOTICE_2027)
    assert f"GOVSHARE_HOLIDAYS_FILE {path} (2027)" in workdays.calendar_description()
    assert "provisional after 2027" in workdays.calendar_description()


def test_a_year_corrected_in_the_file_moves_the_deadlines_counted_on_it(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A deadline counted on a year the operator entered wrong (春节 typed as ending on 11 Feb 2027) was stored as
    certain, and a start recounted only provisional ones: after the correction and a restart it stayed on the
    wrong day. Counted again on the corrected year it moves, the start log says how many (no more: no ids), and a
    deadline the correction does not touch is not written again."""
    filed = dt.datetime(2027, 1, 29, 10, 0, tzinfo=workdays.CHINA)
    later = dt.datetime(2027, 3, 1, 10, 0, tzinfo=workdays.CHINA)
    (tmp_path / "first").mkdir()
    (tmp_path / "fixed").mkdir()
    _entered(tmp_path / "first", monkeypatch, NOTICE_2027.replace('"2027-02-05..2027-02-12"',
                                                                  '"2027-02-05..2027-02-11"'))
    rows = [(key, start, workdays.add_working_days(start, 5), 5, False)
            for key, start in (("crossing 春节", filed), ("after it", later))]
    assert rows[0][2].date() == dt.date(2027, 2, 12)
    assert workdays.moved_dues(rows) == []  # the calendar they were counted on
    _entered(tmp_path / "fixed", monkeypatch, NOTICE_2027)  # corrected, and the processes restarted
    moved = workdays.moved_dues(rows)
    assert [(key, due.date(), days, still) for key, _was, due, days, still in moved] == [
        ("crossing 春节", dt.date(2027, 2, 14), 5, False)]
    recounted = workdays.recounted(rows, moved)
    assert recounted == workdays.Recounted(corrected=1)
    report = recounted.report("dispute deadlines")
    assert report is not None and report.startswith("dispute deadlines: 1 open ones counted on a year's calendar "
                                                    "corrected since (GOVSHARE_HOLIDAYS_FILE or chinese-calendar)")
    assert "GOVSHARE_HOLIDAYS_FILE" in report and "(2027)" in report  # which calendar counted them now
    assert workdays.Recounted().report("dispute deadlines") is None


def test_a_year_removed_from_the_file_counts_its_deadlines_monday_to_friday_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A deadline counted on a year the file gave (29 Jan 2027 + 10: 19 Feb), the year then removed before a release
    has it: counted again, it stayed on the file's 19 Feb, only flagged provisional, and the console's note said it
    was counted Monday to Friday, which it was not. It is now counted Monday to Friday less the statutory holidays
    (16 Feb), as a deadline made then is."""
    filed = dt.datetime(2027, 1, 29, 10, 0, tzinfo=workdays.CHINA)
    _entered(tmp_path, monkeypatch, NOTICE_2027)
    due = workdays.add_working_days(filed, 10)
    assert due.date() == dt.date(2027, 2, 19)
    monkeypatch.delenv(workdays.HOLIDAYS_FILE_ENV)  # the year removed, the processes restarted
    moved = workdays.moved_dues([("application", filed, due, 10, False)])
    assert [(new.date(), days, still) for _key, _was, new, days, still in moved] == [(dt.date(2027, 2, 16), 10, True)]
    assert workdays.add_working_days(filed, 10) == moved[0][2]  # as one made now
    # One stored provisional, counted Monday to Friday, stays where it is (the start's shortcut).
    assert workdays.moved_dues([("application", filed, moved[0][2], 10, True)]) == []
