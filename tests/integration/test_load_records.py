"""`govshare load-records`: a source department's CSV file loaded through the edge, as a data officer runs it.

LoadRecords alone left every department to write a program for each load, and the file a department has is
Excel's "CSV", in GBK on Chinese Windows. The command reads UTF-8 or GBK, sends the records in calls the platform
takes, keeps the good ones, names every bad one by its line (and writes them, reasons first, to correct and load
again), and says from which line to go on when the platform stops answering.
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import os
import subprocess
import sys
import uuid
from pathlib import Path

import grpc
import pytest
from stdnum.cn import ric

from govshare.foundation.v1 import foundation_pb2 as pb
from govshare.foundation.v1 import foundation_pb2_grpc
from services.runtime.duties import DATA_OFFICER

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
HEADER = "citizen_id,name,sex,ethnicity,birth_date,status,as_of_time"
#: The command run from this tree, its generated protos too (an editable install may name another checkout's).
_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join((str(ROOT), str(ROOT / "protos")))}


#: The numbers given out in this run: two tests drawing the same birth date and sex were given the same person one
#: time in fifty, the second test then finding the first one's stored record (its load refused as older).
_ISSUED: set[str] = set()


def _citizen_id(birth: str, male: bool) -> str:
    """A valid 公民身份号码 of Beijing 东城区 born on ``birth`` (YYYYMMDD), fresh for each test run and never given
    twice in one."""
    while True:
        serial = f"{uuid.uuid4().int % 500 * 2 + (1 if male else 0):03d}"
        body = f"110101{birth}{serial}"
        number = body + ric.calc_check_digit(body + "0")  # stdnum takes the number with a check character
        if number not in _ISSUED:
            _ISSUED.add(number)
            return number


def _load(platform, *args: str) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    police = platform.credentials.systems["police"]
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "load-records", *args, "--gateway", platform.gateway,
         "--system-id", police["system_id"], "--secret", police["secret"]],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=_ENV)


def _without_addresses(path: Path, loaded: int) -> str:
    """What the command says of a file of HEADER's columns, which has none of the population's address items."""
    return (f"govshare load-records: {path} has no column of address, address_region_code: the {loaded} record"
            f"{'s' * (loaded != 1)} loaded are without them, whatever they held before (a load gives each record "
            "whole): to keep them, load a file with them")


async def _history(platform, citizen_id: str) -> list[pb.RecordVersion]:  # type: ignore[no-untyped-def]
    admin = foundation_pb2_grpc.FoundationAdminServiceStub(platform.channel)
    return list((await admin.GetRecordHistory(pb.GetRecordHistoryRequest(dataset="population", key=citizen_id),
                                              metadata=platform.person("police", DATA_OFFICER), timeout=10)).versions)


async def test_a_gbk_file_is_loaded_keeping_the_good_records_and_naming_each_bad_one(  # type: ignore[no-untyped-def]
        platform, tmp_path) -> None:
    good = [_citizen_id("19800101", True), _citizen_id("19851231", False), _citizen_id("19900615", True)]
    right = _citizen_id("19700101", True)
    wrong_digit = right[:-1] + ("0" if right[-1] != "0" else "1")
    lines = [HEADER,
             f"{good[0]},张三,男,汉族,1980-01-01,正常,2026-11-30",
             f"{wrong_digit},李四,男,汉族,1970-01-01,正常,",
             f"{good[1]},王芳,女,满族,1985-12-31,正常,",
             f"{good[2]},赵强,男,汉族,1990-06-15,正常",  # a value short
             "",
             f"{good[2]},赵强,男,汉族,1990-06-15,正常,2026-11-30T08:00:00"]
    path = tmp_path / "人口.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("gbk"))  # as Excel on Chinese Windows saves it
    rejected = tmp_path / "rejected.csv"

    done = await asyncio.to_thread(_load, platform, "population", str(path), "--rejected", str(rejected))

    assert done.returncode == 1, done.stderr
    assert done.stdout == (f"population: 3 records loaded from {path} (read as GB18030), 2 rejected, "
                           "0 disagreeing with the authoritative source\n"), done.stderr
    said = done.stderr.splitlines()
    assert said[0].startswith("line 3: citizen_id: ") and wrong_digit not in done.stderr, said
    assert said[1] == "line 5: 6 values where the first line names 7 columns", said
    kept = list(csv.reader(rejected.read_text(encoding="gb18030").splitlines()))
    assert kept[0] == ["line", "reasons", *HEADER.split(",")]
    assert [(row[0], row[2], row[3]) for row in kept[1:]] == [("3", wrong_digit, "李四"), ("5", good[2], "赵强")]
    for citizen_id, name in zip(good, ["张三", "王芳", "赵强"], strict=True):
        (version,) = await _history(platform, citizen_id)
        assert version.values["name"] == name  # read as the Chinese it is, not mojibake
    (first,) = await _history(platform, good[0])
    assert first.as_of_time.ToJsonString() == "2026-11-29T16:00:00Z"  # a day in Beijing time


async def test_a_file_the_command_cannot_use_sends_nothing_and_says_what_to_fix(platform, tmp_path) -> None:  # type: ignore[no-untyped-def]
    person = _citizen_id("19750505", False)
    headers = tmp_path / "headers.csv"
    headers.write_text(f"公民身份号码,name,sex,birth_date,status\n{person},钱敏,女,1975-05-05,正常\n",
                       encoding="utf-8-sig")
    done = await asyncio.to_thread(_load, platform, "population", str(headers))
    assert done.returncode == 2 and done.stdout == ""
    assert "'公民身份号码' is not an item of population" in done.stderr
    assert "no column of the required items citizen_id, ethnicity" in done.stderr

    mixed = tmp_path / "mixed.csv"
    mixed.write_bytes(f"{HEADER}\n{person},钱敏,女,汉族,1975-05-05,正常,\n".encode() + "孙丽".encode("gbk") + b"\n")
    done = await asyncio.to_thread(_load, platform, "population", str(mixed), "--encoding", "utf-8")
    assert done.returncode == 2 and "line 3 is not UTF-8: pass --encoding gb18030" in done.stderr, done.stderr

    done = await asyncio.to_thread(_load, platform, "populations", str(mixed))
    assert done.returncode == 2 and "unknown dataset 'populations'" in done.stderr
    with pytest.raises(grpc.aio.AioRpcError) as caught:  # nothing was sent
        await _history(platform, person)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_load_the_platform_refuses_says_from_which_line_to_go_on(platform, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A department that is not the dataset's source: refused before any record is in, and said so."""
    path = tmp_path / "regions.csv"
    path.write_text("region_code,name,level\n110101,东城区,区县\n", encoding="utf-8")
    civil = platform.credentials.systems["civil"]
    done = await asyncio.to_thread(subprocess.run, [
        sys.executable, "-m", "services.cli", "load-records", "region", str(path), "--gateway", platform.gateway,
        "--system-id", civil["system_id"], "--secret", civil["secret"]],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=_ENV)
    assert done.returncode == 1
    assert '"reason": "NOT_A_SOURCE"' in done.stderr
    assert f"nothing of {path} was loaded" in done.stderr


async def test_a_load_goes_on_from_the_line_it_is_told(platform, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """--start-line: the records before it are not sent again (a load that stopped says which line to give)."""
    first, second = _citizen_id("19660202", True), _citizen_id("19670303", False)
    path = tmp_path / "rest.csv"
    path.write_text(f"{HEADER}\n{first},周一,男,汉族,1966-02-02,正常,\n{second},吴二,女,汉族,1967-03-03,正常,\n",
                    encoding="utf-8")
    done = await asyncio.to_thread(_load, platform, "population", str(path), "--start-line", "3")
    assert (done.returncode, done.stdout) == (0, f"population: 1 record loaded from {path}, 0 rejected, "
                                                 "0 disagreeing with the authoritative source\n"), done.stderr
    assert [v.values["name"] for v in await _history(platform, second)] == ["吴二"]
    with pytest.raises(grpc.aio.AioRpcError):
        await _history(platform, first)


async def test_a_value_too_long_for_csv_is_its_records_rejection_and_the_rest_is_loaded(  # type: ignore[no-untyped-def]
        platform, tmp_path) -> None:
    """A cell past csv's field limit (a pasted document, a broken quote swallowing the rest of the file) is found
    only when its line is read, mid-load: it ended the command with a traceback, then with exit 2 'cannot be read
    after line 1' (the line sent last, not the bad one), the records read with it and every one after it not sent.
    It is that record's rejection, named by its line; the records before and after it are loaded."""
    person, after = _citizen_id("19580808", True), _citizen_id("19590909", False)
    path, rejected = tmp_path / "long.csv", tmp_path / "rejected.csv"
    long_line = f'"{"长" * 200_000}",x,男,汉族,1958-08-08,正常,'
    path.write_text(f"{HEADER}\n{person},郑八,男,汉族,1958-08-08,正常,\n{long_line}\n"
                    f"{after},王九,女,汉族,1959-09-09,正常,\n", encoding="utf-8")
    done = await asyncio.to_thread(_load, platform, "population", str(path), "--rejected", str(rejected))
    assert "Traceback" not in done.stderr, done.stderr
    assert (done.returncode, done.stdout) == (1, f"population: 2 records loaded from {path}, 1 rejected, "
                                                 "0 disagreeing with the authoritative source\n"), done.stderr
    reason = ("the line cannot be read as CSV (field larger than field limit (131072)): a value longer than any item "
              "takes, or a double quote opened and not closed that takes in the lines after it: fix it and load it "
              "again")
    assert f"line 3: {reason}\n" in done.stderr
    assert list(csv.reader(rejected.read_text(encoding="utf-8-sig").splitlines()))[1] == ["3", reason]
    assert [v.values["name"] for v in await _history(platform, person)] == ["郑八"]
    assert [v.values["name"] for v in await _history(platform, after)] == ["王九"]


async def test_a_file_whose_lines_end_with_empty_columns_is_loaded_as_excel_wrote_it(  # type: ignore[no-untyped-def]
        platform, tmp_path) -> None:
    """Excel writes a column for every column of the sheet's used range: cells once formatted or cleared right of
    the data leave a first line and records ending with commas, some lines with more than others. Such a file was
    refused whole ("'', '' are not items …; named twice"), and a record with one comma more than the first line
    rejected for its count of values. Columns without a name are no columns while they hold nothing; a value
    under one is that record's rejection, saying so."""
    people = [_citizen_id("19610101", True), _citizen_id("19620202", False), _citizen_id("19630303", True)]
    lines = [f"{HEADER},,",
             f"{people[0]},冯一,男,汉族,1961-01-01,正常,,,",  # one comma more than the first line
             f"{people[1]},陈二,女,汉族,1962-02-02,正常,",  # as many as the named columns
             f"{people[2]},褚三,男,汉族,1963-03-03,正常,,备注,"]
    path = tmp_path / "excel.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("gbk"))
    done = await asyncio.to_thread(_load, platform, "population", str(path))
    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith(f"population: 2 records loaded from {path}"), done.stdout + done.stderr
    assert done.stderr.splitlines() == ["line 4: column 8 holds a value but has no name in the first line: name its "
                                        "item there, or empty the column", _without_addresses(path, 2)]
    for citizen_id, name in zip(people[:2], ["冯一", "陈二"], strict=True):
        assert [version.values["name"] for version in await _history(platform, citizen_id)] == [name]


async def test_the_first_line_of_a_file_joined_to_another_is_said_to_be_no_record(  # type: ignore[no-untyped-def]
        platform, tmp_path) -> None:
    """Two exports joined into one (copy /b a.csv+b.csv): the second's first line, BOM and all, was rejected as a
    record whose every value was wrong ("citizen_id: … must have 18 characters, got 10; sex: 'sex' is not in its
    code table; …"); one naming the columns in another order said nothing of it, and the lines after it were read in
    the first line's order (a name as an address and an address as a name would have been loaded so). They are read
    in the order it names."""
    people = [_citizen_id("19660606", True), _citizen_id("19670707", False), _citizen_id("19680808", True)]
    names = "citizen_id,name,sex,ethnicity,birth_date,status"
    path = tmp_path / "joined.csv"
    path.write_text(f"\ufeff{names}\r\n{people[0]},沈六,男,汉族,1966-06-06,正常\r\n"
                    f"\ufeff{names}\r\n{people[1]},韩七,女,汉族,1967-07-07,正常\r\n"
                    f"name,citizen_id,sex,ethnicity,birth_date,status\r\n杨八,{people[2]},男,汉族,1968-08-08,正常\r\n",
                    encoding="utf-8")
    done = await asyncio.to_thread(_load, platform, "population", str(path))
    assert (done.returncode, done.stdout) == (1, f"population: 3 records loaded from {path}, 2 rejected, "
                                                 "0 disagreeing with the authoritative source\n"), done.stderr
    said = ("the line names the columns, as a first line does (another file's first line: files joined?): it is no "
            "record")
    assert done.stderr.splitlines()[:2] == [
        f"line 3: {said}; delete it",
        f"line 5: {said}; the lines after it are read in its order of the columns, and written to --rejected in "
        "line 1's order"], done.stderr
    for citizen_id, name in zip(people, ["沈六", "韩七", "杨八"], strict=True):
        assert [version.values["name"] for version in await _history(platform, citizen_id)] == [name]


async def test_a_header_typed_in_full_width_or_with_a_hidden_character_names_the_items_it_shows(  # type: ignore[no-untyped-def]
        platform, tmp_path) -> None:
    """A first line typed with a Chinese input method (ｎａｍｅ, ｃｉｔｉｚｅｎ＿ｉｄ) or holding a zero-width space
    copied from a document was refused as naming no item, quoting a name that looked right; a name differing from
    an item's only by case or a blank for an underscore was refused without the item meant."""
    person = _citizen_id("19640404", False)
    path = tmp_path / "typed.csv"
    path.write_text("ｃｉｔｉｚｅｎ＿ｉｄ,ｎａｍｅ,sex\u200b,\u3000ethnicity,birth_date,status\n"
                    f"{person},卫四,女,汉族,1964-04-04,正常\n", encoding="utf-8-sig")
    done = await asyncio.to_thread(_load, platform, "population", str(path))
    assert done.returncode == 0, done.stderr
    assert [version.values["name"] for version in await _history(platform, person)] == ["卫四"]

    path.write_text(f"citizen_id,name,Sex,ethnicity,Birth Date,status\n{person},卫四,女,汉族,1964-04-04,正常\n",
                    encoding="utf-8-sig")
    done = await asyncio.to_thread(_load, platform, "population", str(path))
    assert done.returncode == 2
    assert "'Sex' (did you mean sex?), 'Birth Date' (did you mean birth_date?) are not items of population" \
           in done.stderr, done.stderr

    # Names separated by full-width commas (the input method left on) or tabs (a tab-separated export) are one
    # column: it was refused as "'citizen_id,name,sex,…' is not an item", its full-width commas shown as commas.
    path.write_text(f"citizen_id，name，sex，ethnicity，birth_date，status\n{person},卫四,女,汉族,1964-04-04,正常\n",
                    encoding="utf-8-sig")
    done = await asyncio.to_thread(_load, platform, "population", str(path))
    assert done.returncode == 2
    assert ("'citizen_id，name，sex，ethnicity，birth_date，status' (its names are separated by full-width commas (，, "
            "typed with a Chinese input method): type them as commas (,)) is not an item of population") \
        in done.stderr, done.stderr
    # So is a record: it was rejected "1 values where the first line names 6 columns", saying nothing of why.
    path.write_text(f"citizen_id,name,sex,ethnicity,birth_date,status\n{person}，卫四，女，汉族，1964-04-04，正常\n",
                    encoding="utf-8-sig")
    done = await asyncio.to_thread(_load, platform, "population", str(path))
    assert done.returncode == 1
    assert done.stderr.startswith(
        "line 2: 1 value where the first line names 6 columns: its values are separated by full-width commas (，, "
        "typed with a Chinese input method): type them as commas (,)\n"), done.stderr


async def test_a_start_line_past_the_last_record_sends_nothing_and_says_so(platform, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """--start-line 30 for a file of three records (a digit too many, or the line another file's load stopped at)
    loaded nothing and ended 'population: 0 records loaded …', exit 0, as if the rest of the file were in; so did a
    file of no record."""
    person = _citizen_id("19650505", True)
    path = tmp_path / "short.csv"
    path.write_text(f"{HEADER}\n{person},蒋五,男,汉族,1965-05-05,正常,\n\n", encoding="utf-8")
    done = await asyncio.to_thread(_load, platform, "population", str(path), "--start-line", "30")
    assert (done.returncode, done.stdout) == (2, ""), done.stderr
    assert f"--start-line 30 is past the last record of {path}, which begins on line 2: nothing was sent" \
           in done.stderr
    # A file of the column names alone (an export that selected nothing, blank lines after its names) ended
    # 'population: 0 records loaded', exit 0: the department's script reported the load done.
    header_only = tmp_path / "header.csv"
    header_only.write_text(f"{HEADER}\r\n,,,,,,\r\n\r\n", encoding="utf-8")
    done = await asyncio.to_thread(_load, platform, "population", str(header_only))
    assert (done.returncode, done.stdout) == (2, ""), done.stderr
    assert done.stderr == (f"govshare load-records: {header_only} holds no record, only the line naming the columns: "
                           "nothing was sent (an export that selected nothing? check the query or filter it was made "
                           "with)\n")


async def test_a_file_mixing_utf8_and_gbk_lines_is_said_to_mix_them(platform, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A GBK export appended to a UTF-8 one was refused 'neither UTF-8 nor GB18030/GBK (line 2): save it as CSV
    UTF-8', naming a UTF-8 line the officer's editor showed as right, and nothing of the mix; with Excel's BOM
    first, 'begins as UTF-8 but line 3 is not UTF-8' said nothing of what to do."""
    first, second = _citizen_id("19660606", True), _citizen_id("19670707", False)
    path = tmp_path / "appended.csv"
    utf8 = f"{HEADER}\r\n{first},沈六,男,汉族,1966-06-06,正常,\r\n".encode()
    gbk = f"{second},韩七,女,汉族,1967-07-07,正常,\r\n".encode("gbk")
    for data, said in ((utf8 + gbk, "line 3 is not UTF-8 (GBK?) and line 2 is not GBK (UTF-8?): its lines are in "
                                    "two encodings"),
                       (codecs.BOM_UTF8 + utf8 + gbk, "line 3 is not UTF-8 (GBK?): its lines are in two encodings")):
        path.write_bytes(data)
        done = await asyncio.to_thread(_load, platform, "population", str(path))
        assert done.returncode == 2 and said in done.stderr, done.stderr
        assert "save the whole file in one, as CSV UTF-8, or load its parts apart" in done.stderr


async def test_a_person_given_twice_in_a_file_is_the_later_lines_rejection_naming_the_first(  # type: ignore[no-untyped-def]
        platform, tmp_path) -> None:
    """The platform rejected the second record of a key 'citizen_id: 1101…X repeats record 0 of this load': the
    公民身份号码 in full on the terminal (the command prints no other) and a position in the call, not a line of
    the file. The lower-case x is the same person."""
    person, other = _citizen_id("19680808", True), _citizen_id("19690909", False)
    path = tmp_path / "twice.csv"
    path.write_text(f"{HEADER}\n{person},杨八,男,汉族,1968-08-08,正常,\n{other},朱九,女,汉族,1969-09-09,正常,\n"
                    f"{person.lower()},杨捌,男,汉族,1968-08-08,正常,\n", encoding="utf-8")
    done = await asyncio.to_thread(_load, platform, "population", str(path))
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines() == ["line 4: citizen_id: repeats line 2 of the file", _without_addresses(path, 2)]
    assert [version.values["name"] for version in await _history(platform, person)] == ["杨八"]


async def test_a_record_corrected_below_its_rejected_line_is_loaded_not_refused_as_a_repeat(  # type: ignore[no-untyped-def]
        platform, tmp_path) -> None:
    """A data officer who finds a record rejected adds the corrected record below it in the same file, and loads the
    file again: the corrected line was refused 'repeats line 2 of the file', a line the platform had not loaded, and
    the person stayed without a record. A repeat is of a line the platform took; a rejected one is no record."""
    person, other = _citizen_id("19730505", False), _citizen_id("19740606", True)
    path = tmp_path / "corrected.csv"
    path.write_text(f"{HEADER}\n{person},周五,男,汉族,1973-05-05,正常,\n{other},吴六,男,汉族,1974-06-06,正常,\n"
                    f"{person},周五,女,汉族,1973-05-05,正常,\n{person},周伍,女,汉族,1973-05-05,正常,\n",
                    encoding="utf-8")
    done = await asyncio.to_thread(_load, platform, "population", str(path))
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert lines[0].startswith("line 2: sex: 男 differs"), done.stderr
    assert lines[1:] == ["line 5: citizen_id: repeats line 4 of the file", _without_addresses(path, 2)]
    assert [(v.values["name"], v.values["sex"]) for v in await _history(platform, person)] == [("周五", "女")]


async def _history_or_none(platform, citizen_id: str) -> list[pb.RecordVersion]:  # type: ignore[no-untyped-def]
    """_history, or [] when the platform holds no record of ``citizen_id``."""
    try:
        return await _history(platform, citizen_id)
    except grpc.aio.AioRpcError as error:
        if error.code() != grpc.StatusCode.NOT_FOUND:
            raise
        return []


async def test_a_quote_left_open_is_said_with_the_lines_its_record_took_in(  # type: ignore[no-untyped-def]
        platform, tmp_path) -> None:
    """A quote opened and not closed (a name typed "郑七) takes the lines after it into that value, up to the next
    quote: the record was sent with lines 2 to 4 as its name and line 4's other values, and rejected 'name: must be
    at most 64 characters; birth_date: 1977-03-03 differs from the date in citizen_id', while lines 3 and 4's
    persons were neither loaded nor rejected, nothing saying where they went. The record is rejected without being
    sent, saying which lines it ran over and why."""
    a, b, c = _citizen_id("19750101", True), _citizen_id("19760202", True), _citizen_id("19770303", True)
    path = tmp_path / "breaks.csv"
    path.write_text(f"{HEADER}\n{a},\"郑七,男,汉族,1975-01-01,正常,\n{b},王八,男,汉族,1976-02-02,正常,\n"
                    f"{c},\"李九,男,汉族,1977-03-03,正常,\n", encoding="utf-8")
    done = await asyncio.to_thread(_load, platform, "population", str(path))
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stderr.splitlines()[0] == (
        "line 2: the record runs from line 2 to line 4 (a value holds line breaks: a double quote opened and not "
        "closed takes in the lines after it as part of that value, and they are not read as records): close the "
        "quote, or remove the line breaks"), done.stderr
    assert not await _history_or_none(platform, a)  # (its name holding lines 2 to 4 was sent before)


async def test_a_cell_typed_on_two_lines_is_said_so_naming_its_item(  # type: ignore[no-untyped-def]
        platform, tmp_path) -> None:
    """A value typed with Alt+Enter in a spreadsheet cell (欧阳⏎修) leaves it between quotes, closed: the record was
    rejected as a double quote opened and not closed, which the officer looked for and did not find, and nothing
    named the item. It is said to be a line break in that item's value; the records after it load."""
    a, b = _citizen_id("19780404", True), _citizen_id("19790505", True)
    path = tmp_path / "cell.csv"
    path.write_text(f"{HEADER}\n{a},\"欧阳\n修\",男,汉族,1978-04-04,正常,\n{b},钱一,男,汉族,1979-05-05,正常,\n",
                    encoding="utf-8")
    done = await asyncio.to_thread(_load, platform, "population", str(path))
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stderr.splitlines()[0] == (
        "line 2: the record runs from line 2 to line 3: the value of name holds a line break (a cell typed on two "
        "lines, Alt+Enter in a spreadsheet), which no item takes: remove it"), done.stderr
    assert await _history_or_none(platform, b) and not await _history_or_none(platform, a)


async def test_a_load_resumed_from_a_line_rejects_a_repeat_of_a_key_sent_before_that_line(  # type: ignore[no-untyped-def]
        platform, tmp_path) -> None:
    """A load that stopped after line 2 is resumed with --start-line 3, as its message says: the lines before it
    were read but not their keys, so line 4, the person of line 2 again, was loaded over what line 2 had loaded
    (exit 0), where the whole file loaded at once rejects it as repeating line 2."""
    person, other = _citizen_id("19710303", True), _citizen_id("19720404", False)
    path = tmp_path / "resumed.csv"
    path.write_text(f"{HEADER}\n{person},钱三,男,汉族,1971-03-03,正常,\n{other},孙四,女,汉族,1972-04-04,正常,\n"
                    f"{person},钱叁,男,汉族,1971-03-03,正常,\n", encoding="utf-8")
    done = await asyncio.to_thread(_load, platform, "population", str(path), "--start-line", "3")
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stderr.splitlines() == ["line 4: citizen_id: repeats line 2 of the file", _without_addresses(path, 1)]
    assert done.stdout == (f"population: 1 record loaded from {path}, 1 rejected, "
                           "0 disagreeing with the authoritative source\n")
    assert [v.values["name"] for v in await _history(platform, other)] == ["孙四"]
    with pytest.raises(grpc.aio.AioRpcError):  # line 2 was not sent by this run, and line 4 was not loaded
        await _history(platform, person)


async def test_a_file_without_an_optional_items_column_says_the_records_loaded_are_without_it(  # type: ignore[no-untyped-def]
        platform, tmp_path) -> None:
    """A load gives a record whole: an export of the required columns alone loaded over records that had an address
    left every one without it, and the command said only 'N records loaded'. It now names the columns the file
    lacks and what became of the records' values of them."""
    person = _citizen_id("19730505", True)
    path = tmp_path / "full.csv"
    path.write_text(f"{HEADER},address,address_region_code\n{person},李五,男,汉族,1973-05-05,正常,,北京市东城区东华门街道1号,"
                    "110101\n", encoding="utf-8")
    done = await asyncio.to_thread(_load, platform, "population", str(path))
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    narrow = tmp_path / "required-only.csv"
    narrow.write_text(f"{HEADER}\n{person},李五,男,汉族,1973-05-05,正常,\n", encoding="utf-8")
    done = await asyncio.to_thread(_load, platform, "population", str(narrow))
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [_without_addresses(narrow, 1)]
    versions = await _history(platform, person)
    assert ["address" in version.values for version in versions] == [False, True]  # as the command said


async def test_an_as_of_time_as_a_spreadsheet_writes_it_is_that_time(platform, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Excel in a Chinese locale writes a date-time column as 2026/11/30 8:00: every record of such a file was
    rejected "as_of_time: '2026/11/30 8:00' is not a time", though the dates beside it are read in that form."""
    first, second = _citizen_id("19700808", False), _citizen_id("19710909", True)
    path = tmp_path / "excel-times.csv"
    path.write_bytes((f"{HEADER}\r\n{first},秦十,女,汉族,1970/8/8,正常,2026/11/30 8:00\r\n"
                      f"{second},尤十一,男,汉族,1971/9/9,正常,2026年11月29日\r\n").encode("gbk"))
    done = await asyncio.to_thread(_load, platform, "population", str(path))
    assert done.returncode == 0, done.stderr
    (version,) = await _history(platform, first)
    assert version.as_of_time.ToJsonString() == "2026-11-30T00:00:00Z"  # 08:00 in Beijing
    (version,) = await _history(platform, second)
    assert version.as_of_time.ToJsonString() == "2026-11-28T16:00:00Z"


async def test_rejections_asked_for_in_the_file_being_loaded_are_refused_and_the_file_kept(  # type: ignore[no-untyped-def]
        platform, tmp_path) -> None:
    """--rejected people.csv given the file being loaded (a name typed twice, or a link to it) opened it for
    writing before a record was read: the officer's file was emptied to the rejections' header and nothing
    loaded."""
    person = _citizen_id("19720202", True)
    path = tmp_path / "people.csv"
    text = f"{HEADER}\n{person},许十二,男,汉族,1972-02-02,正常,\n"
    path.write_text(text, encoding="utf-8")
    (tmp_path / "link.csv").symlink_to(path)
    for named in (str(path), str(tmp_path / "link.csv"), f"{tmp_path}/../{tmp_path.name}/people.csv"):
        done = await asyncio.to_thread(_load, platform, "population", str(path), "--rejected", named)
        assert (done.returncode, done.stdout) == (2, ""), done.stderr
        assert f"--rejected {named} is the file being loaded, which it would overwrite" in done.stderr
        assert path.read_text(encoding="utf-8") == text
    with pytest.raises(grpc.aio.AioRpcError):
        await _history(platform, person)


def test_records_sent_after_the_authority_designated_another_source_are_said_to_be_only_cross_checked(
        tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The authority designates another source of population while a file of 5,010 records loads in two calls (a
    stand-in platform answers the second as the service then does: accepted, kept for cross-checking). The command
    said '5010 records loaded', exit 0, and the officer took the last 10 for the records; it now says which lines
    went no further than the cross-check, and from which line to load them again."""
    from concurrent import futures

    from govshare.authorization.v1 import token_pb2, token_pb2_grpc

    class Tokens(token_pb2_grpc.TokenServiceServicer):
        def IssueToken(self, request, context):  # type: ignore[no-untyped-def]
            return token_pb2.IssueTokenResponse(token="t")

    calls: list[int] = []

    def load(request, context):  # type: ignore[no-untyped-def]
        calls.append(len(request.records))
        return pb.LoadRecordsResponse(accepted=len(request.records), kept_for_cross_checking=len(calls) > 1)

    path = tmp_path / "people.csv"
    path.write_text("citizen_id,name,sex,ethnicity,birth_date,status\n" + "".join(
        f"11010119491001{n:04d},张{n},男,汉族,1949-10-01,正常\n" for n in range(5_010)), encoding="utf-8")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    token_pb2_grpc.add_TokenServiceServicer_to_server(Tokens(), server)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "govshare.foundation.v1.FoundationAdminService", {"LoadRecords": grpc.unary_unary_rpc_method_handler(
            load, request_deserializer=pb.LoadRecordsRequest.FromString,
            response_serializer=lambda response: response.SerializeToString())}),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "services.cli", "load-records", "population", str(path), "--gateway",
             f"127.0.0.1:{port}", "--system-id", "sys-0123456789abcdef", "--secret", "s"],
            cwd=ROOT, capture_output=True, text=True, timeout=120, env=_ENV)
    finally:
        server.stop(None)
    assert calls == [5_000, 10] and done.returncode == 0, done.stderr
    assert f"population: 5010 records loaded from {path}" in done.stdout
    assert ("govshare load-records: the authoritative source of population changed during the load: 10 of the 5010 "
            "records loaded (lines 5002–5011) were sent while your department was not it, and were only kept to be "
            "cross-checked against its records, not made the records: load them again with --start-line 5002 "
            "while your department is its authoritative source") in done.stderr, done.stderr


async def test_a_file_of_rejected_records_corrected_is_loaded_as_the_command_wrote_it(  # type: ignore[no-untyped-def]
        platform, tmp_path) -> None:
    """--rejected writes the rejected records, their line and reasons first, "to correct and load again"; loaded
    again as written it was refused whole, "'line', 'reasons' are not items of population" (exit 2): the officer
    had to delete two columns first. They are read as what they are, and a file rejected again keeps one pair."""
    good, fixed = _citizen_id("19610101", True), _citizen_id("19620202", False)
    path = tmp_path / "people.csv"
    path.write_bytes(f"{HEADER}\r\n{good},冯一,男,汉族,1961-01-01,正常,\r\n{fixed},陈二,男,汉族,1962-02-02,正常,\r\n"
                     .encode("gbk"))
    rejected, again = tmp_path / "rejected.csv", tmp_path / "again.csv"
    done = await asyncio.to_thread(_load, platform, "population", str(path), "--rejected", str(rejected))
    assert done.returncode == 1 and done.stderr.startswith("line 3: sex: 男 differs"), done.stderr

    done = await asyncio.to_thread(_load, platform, "population", str(rejected), "--rejected", str(again))
    assert done.returncode == 1 and done.stderr.startswith("line 2: sex: 男 differs"), done.stderr
    assert rejected.read_text(encoding="gb18030").splitlines()[0] == f"line,reasons,{HEADER}"
    assert again.read_text(encoding="gb18030").splitlines()[0] == f"line,reasons,{HEADER}"  # not line,reasons twice

    rejected.write_bytes(rejected.read_bytes().replace("陈二,男".encode("gbk"), "陈二,女".encode("gbk")))
    done = await asyncio.to_thread(_load, platform, "population", str(rejected))
    assert (done.returncode, done.stdout) == (0, f"population: 1 record loaded from {rejected} (read as GB18030), "
                                                 "0 rejected, 0 disagreeing with the authoritative source\n"), \
        done.stderr
    assert [(v.values["name"], v.values["sex"]) for v in await _history(platform, fixed)] == [("陈二", "女")]


async def test_a_record_older_than_the_stored_one_is_rejected_saying_both_times_in_beijing_time(  # type: ignore[no-untyped-def]
        platform, tmp_path) -> None:
    """A file's as_of_time of 2020-05-31 12:30 (Beijing time, as the officer writes it) older than an earlier
    file's 2020-06-01 was rejected 'as_of_time: 2020-05-31T04:30:00+00:00 is older than the stored values
    (2020-05-31T16:00:00+00:00)': in UTC, times the officer had written nowhere, the stored one on another day."""
    person = _citizen_id("19640404", False)
    path = tmp_path / "people.csv"
    path.write_text(f"{HEADER}\n{person},褚四,女,汉族,1964-04-04,正常,2020-06-01\n", encoding="utf-8")
    assert (await asyncio.to_thread(_load, platform, "population", str(path))).returncode == 0
    path.write_text(f"{HEADER}\n{person},褚四,女,汉族,1964-04-04,迁出,2020/5/31 12:30\n", encoding="utf-8")
    done = await asyncio.to_thread(_load, platform, "population", str(path))
    assert done.returncode == 1
    assert done.stderr.splitlines()[0] == (
        "line 2: as_of_time: 2020-05-31 12:30:00+08:00 is older than the stored values (as of 2020-06-01 "
        "00:00:00+08:00), which are kept: values as of that time or later replace them"), done.stderr
    assert [v.values["status"] for v in await _history(platform, person)] == ["正常"]


async def test_an_as_of_time_in_the_future_is_said_as_the_file_wrote_it(platform, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """An as_of_time typed 2999-11-30 (a year mistyped) was rejected as '2999-11-29T16:00:00+00:00 is in the
    future', a day the officer had not written."""
    person = _citizen_id("19650505", True)
    path = tmp_path / "people.csv"
    path.write_text(f"{HEADER}\n{person},卫五,男,汉族,1965-05-05,正常,2999-11-30\n", encoding="utf-8")
    done = await asyncio.to_thread(_load, platform, "population", str(path))
    assert done.returncode == 1
    assert done.stderr == "line 2: as_of_time: 2999-11-30 00:00:00+08:00 is in the future\n", done.stderr
    # A database's time for none (.NET's 0001-01-01 00:00:00) ended the command in a traceback (OverflowError), the
    # records read with it not sent.
    path.write_text(f"{HEADER}\n{person},卫五,男,汉族,1965-05-05,正常,0001-01-01 00:00:00\n", encoding="utf-8")
    done = await asyncio.to_thread(_load, platform, "population", str(path))
    assert done.returncode == 1
    assert done.stderr == ("line 2: as_of_time: 0001-01-01 00:00:00 is before 1900 (a database's time for none?): "
                           "leave the cell empty to have the record as of its load\n"), done.stderr


async def test_an_as_of_time_of_a_summer_of_1986_1991_is_that_time_in_utc_plus_8(  # type: ignore[no-untyped-def]
        platform, tmp_path) -> None:
    """Beijing time is UTC+8, as the platform says it: read as Asia/Shanghai, whose history has summer time in
    1986-1991, a file's 1988-06-01 was stored as 1988-05-31T15:00:00Z, 23:00 the day before as the platform says it."""
    person = _citizen_id("19670707", True)
    path = tmp_path / "people.csv"
    path.write_text(f"{HEADER}\n{person},沈七,男,汉族,1967-07-07,正常,1988-06-01\n", encoding="utf-8")
    assert (await asyncio.to_thread(_load, platform, "population", str(path))).returncode == 0
    (version,) = await _history(platform, person)
    assert version.as_of_time.ToJsonString() == "1988-05-31T16:00:00Z"


async def test_a_load_resumed_with_the_same_rejected_file_keeps_the_rejections_of_the_lines_before(  # type: ignore[no-untyped-def]
        platform, tmp_path) -> None:
    """A load that stops says 'run the command again with --start-line N'; run so with the same --rejected, the
    file was emptied, and the rejections of the lines sent before the stop were lost but for the 20 shown. The
    rejections before line N are kept, those from N on are the new load's (once each)."""
    first, good, last = (_citizen_id("19680808", False), _citizen_id("19690909", True),
                         _citizen_id("19700110", False))
    path = tmp_path / "people.csv"
    path.write_bytes((f"{HEADER}\r\n{first},韩一,男,汉族,1968-08-08,正常,\r\n{good},杨二,男,汉族,1969-09-09,正常,\r\n"
                      f"{last},朱三,男,汉族,1970-01-10,正常,\r\n").encode("gbk"))
    rejected = tmp_path / "rejected.csv"
    assert (await asyncio.to_thread(_load, platform, "population", str(path), "--rejected", str(rejected))
            ).returncode == 1
    done = await asyncio.to_thread(_load, platform, "population", str(path), "--rejected", str(rejected),
                                   "--start-line", "3")
    assert done.returncode == 1 and done.stderr.startswith("line 4: sex: 男 differs"), done.stderr
    kept = list(csv.reader(rejected.read_text(encoding="gb18030").splitlines()))
    assert kept[0] == ["line", "reasons", *HEADER.split(",")]
    assert [(row[0], row[2]) for row in kept[1:]] == [("2", first), ("4", last)]


async def test_blank_lines_above_the_column_names_are_skipped(platform, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A sheet whose first rows were left empty (Excel writes them as commas) was refused whole, 'the first line
    must name the items of each column: no column of the required items citizen_id, name, …', the names being
    there on line 3. Blank lines before them are skipped, as between records, and the lines keep their numbers."""
    good, bad = _citizen_id("19710211", True), _citizen_id("19720312", False)
    path = tmp_path / "people.csv"
    path.write_text(f",,,,,,\n\n{HEADER}\n{good},秦一,男,汉族,1971-02-11,正常,\n{bad},尤二,男,汉族,1972-03-12,正常,\n",
                    encoding="utf-8")
    done = await asyncio.to_thread(_load, platform, "population", str(path))
    assert done.returncode == 1 and done.stderr.startswith("line 5: sex: 男 differs"), done.stderr
    assert done.stdout.startswith(f"population: 1 record loaded from {path}, 1 rejected"), done.stderr


async def test_a_code_written_as_excels_formula_of_a_text_is_that_text(platform, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Department systems export an 18-digit code as ="110101…" so that Excel shows it as text, not 1.10101E+17:
    sent as written, every record of such a file was rejected 'citizen_id: 公民身份号码 must have 18 characters,
    got 21'. The cell is the text it shows (its quotes doubled inside a quoted field too)."""
    first, second = _citizen_id("19730413", True), _citizen_id("19740514", False)
    path = tmp_path / "people.csv"
    path.write_text(f'{HEADER}\n="{first}",许一,男,汉族,1973-04-13,正常,\n"=""{second}""",何二,女,汉族,="1974-05-14",正常,\n',
                    encoding="utf-8")
    done = await asyncio.to_thread(_load, platform, "population", str(path))
    assert done.returncode == 0 and done.stdout.startswith(f"population: 2 records loaded from {path}, 0 rejected"), \
        done.stderr
    assert [v.values["name"] for v in await _history(platform, second)] == ["何二"]
