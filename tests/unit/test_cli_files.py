"""The CLI given a file it cannot use: one line naming the file and why, exit 2, never a traceback."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.runtime.keys import public_pem


@pytest.fixture
def public_key(tmp_path: Path) -> Path:
    path = tmp_path / "public.pem"
    path.write_text(public_pem(Ed25519PrivateKey.generate()), encoding="utf-8")
    return path


def govshare(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "services.cli", *args], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize(("command", "why"), [
    (["verify-checkpoints", "{missing}"], "No such file or directory"),
    (["verify-checkpoints", "{directory}"], "Is a directory"),
    (["audit", "verify-archive", "{missing}"], "No such file or directory"),
    (["audit", "verify-archive", "{directory}"], "Is a directory"),
])
def test_an_unusable_input_file_is_named_in_one_line(command: list[str], why: str, tmp_path: Path,
                                                      public_key: Path) -> None:
    paths = {"missing": str(tmp_path / "no-such-file"), "directory": str(tmp_path)}
    args = [part.format(**paths) for part in command]
    result = govshare(*args, "--public-key", str(public_key))
    named = args[-1]
    errors = [line for line in result.stderr.splitlines() if "Warning" not in line and "user_runtime_dir" not in line]
    assert result.returncode == 2, result.stderr
    assert errors == [f"govshare {' '.join(command[:-1])}: {named}: {why}"], result.stderr


def test_a_checkpoint_export_with_bytes_that_are_not_utf8_names_the_line(tmp_path: Path) -> None:
    """An export file damaged on its way (a byte flipped, a copy through a tool of another encoding) ended
    `govshare verify-checkpoints` in a UnicodeDecodeError traceback that named no line and verified nothing. The
    damaged line is now a problem like any other line that is no checkpoint; the others are still verified."""
    from services.query.audit import Head
    from services.query.checkpoints import CheckpointSigner, to_json

    private = Ed25519PrivateKey.generate()
    signer = CheckpointSigner(private)
    key = tmp_path / "audit.pub.pem"
    key.write_text(public_pem(private), encoding="utf-8")
    time = dt.datetime(2026, 11, 30, 14, tzinfo=dt.UTC)
    lines = [json.dumps(to_json(signer.sign(Head("a" * 32, seq, f"{seq:064x}"), time, False))).encode()
             for seq in (1, 2, 3)]
    lines[1] = lines[1].replace(b'"chain_id"', b'"chain\xff_id"')
    export = tmp_path / "checkpoints.jsonl"
    export.write_bytes(b"\n".join(lines) + b"\n")
    result = govshare("verify-checkpoints", str(export), "--public-key", str(key))
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout) == {"verified": 2, "problems": 1}
    (problem,) = [line for line in result.stderr.splitlines() if line.startswith("line ")]
    assert problem.startswith("line 2: not a checkpoint ("), result.stderr
    assert "can't decode byte 0xff" in problem, result.stderr


def test_a_line_nested_deeper_than_the_json_parser_goes_is_a_problem_of_that_line(tmp_path: Path,
                                                                                    public_key: Path) -> None:
    """A line of arrays nested 100 000 deep (a damaged or hostile file) ended verify-checkpoints, verify-archive
    and verify-trail --checkpoints in a RecursionError traceback that named no line: it is a line that is no
    checkpoint (no record), as any line that is not JSON is."""
    from services.client import latest_kept_checkpoints, run_verify_archive, run_verify_checkpoints

    nested = b"[" * 100_000 + b"\n"
    damaged = tmp_path / "access_log_202501.jsonl"
    damaged.write_bytes(b'{"format":"govshare.audit.archive.v1","partition":"access_log_202501"}\n' + nested)
    assert run_verify_archive(damaged, [public_key]) == 1
    assert run_verify_checkpoints(damaged, [public_key]) == 1
    kept = tmp_path / "kept.jsonl"
    kept.write_bytes(nested)
    with pytest.raises(ValueError, match=r"kept.jsonl:1: not a checkpoint line \(maximum recursion depth"):
        latest_kept_checkpoints(kept)
    # An export to that file keeps the line as it is, as any line that is no checkpoint.
    from services.client import _earlier_export
    assert list(_earlier_export(kept, "access").values()) == [[nested.decode().strip()]]


def test_an_export_of_checkpoints_that_fails_leaves_the_kept_export_as_it_was(tmp_path: Path) -> None:
    """`govshare export-checkpoints --out FILE` truncated FILE before it asked for a token: an auditor refreshing
    the export they keep (what verify-trail --checkpoints compares the trail with) lost it to a wrong secret, a
    platform that was down or a Ctrl-C, and was left an empty or half-written file. The export is now written
    beside and renamed when whole."""
    kept = tmp_path / "kept.jsonl"
    kept.write_text('{"the": "auditor\'s earlier export"}\n', encoding="utf-8")
    (tmp_path / "kept.jsonl.pub.pem").write_text("the key it was checked with\n", encoding="utf-8")
    before = {path.name: path.read_text(encoding="utf-8") for path in tmp_path.iterdir()}
    result = govshare("export-checkpoints", "--out", str(kept), "--gateway", "127.0.0.1:1", "--system-id",
                      "sys-0000000000000000", "--secret", "not-reachable", "--data-dir", str(tmp_path))
    assert result.returncode == 1, result.stderr
    assert '"status": "UNAVAILABLE"' in result.stderr, result.stderr
    assert {path.name: path.read_text(encoding="utf-8") for path in tmp_path.iterdir()} == before


@pytest.mark.parametrize(("out", "why"), [("{directory}", "Is a directory"),
                                          ("{directory}/no-such-dir/kept.jsonl", "No such file or directory")])
def test_an_export_of_checkpoints_to_where_it_cannot_be_written_names_the_file_given(
        out: str, why: str, tmp_path: Path) -> None:
    named = out.format(directory=tmp_path)
    result = govshare("export-checkpoints", "--out", named, "--gateway", "127.0.0.1:1", "--system-id",
                      "sys-0000000000000000", "--secret", "not-reachable", "--data-dir", str(tmp_path))
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"govshare export-checkpoints: {named}: {why}"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("given", "says"), [
    ("{tmp}", "{tmp} is a directory: give the backup's file name, such as {tmp}/govshare-backup.dump"),
    ("", "give the backup's file name, such as govshare-backup.dump"),
    ("{tmp}/no-such-dir/b.dump", "{tmp}/no-such-dir/b.dump: no directory {tmp}/no-such-dir: make it first"),
])
def test_a_backup_file_that_cannot_be_written_is_named_as_given_before_anything_starts(
        given: str, says: str, tmp_path: Path) -> None:
    """`govshare backup DIR` or a file in a directory that does not exist was found only once pg_dump had run,
    and named by the hidden name the user never gave ('…/b.dump.partial: No such file or directory'); an empty
    name was a ValueError traceback. Refused first now, before the embedded server is started (the data directory
    here has none, and GOVSHARE_DATABASE_URL names no server)."""
    import os

    env = {**os.environ, "GOVSHARE_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    result = subprocess.run([sys.executable, "-m", "services.cli", "backup", given.format(tmp=tmp_path)],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip() == "govshare backup: " + says.format(tmp=tmp_path) + (
        ", or give another file name" if "no directory" in says else ""), result.stderr


@pytest.mark.parametrize("command", [["verify-checkpoints"], ["audit", "verify-archive"]])
@pytest.mark.parametrize(("content", "why"), [(b"not a key\n", "no PEM public key found"),
                                              (None, "No such file or directory")])
def test_a_public_key_file_that_is_not_one_is_named_among_several(
        command: list[str], content: bytes | None, why: str, tmp_path: Path, public_key: Path) -> None:
    """Given several --public-key files (one per key after a rotation), the command said "public key: no PEM
    public key found" without saying which file, under a prefix that was not the command's."""
    other = tmp_path / "retired.pem"
    if content is not None:
        other.write_bytes(content)
    checked = tmp_path / "access_log_202501.jsonl"
    checked.write_text("", encoding="utf-8")
    result = govshare(*command, str(checked), "--public-key", str(public_key), "--public-key", str(other))
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"govshare {' '.join(command)}: --public-key {other}: {why}"


def test_a_refused_report_leaves_no_directory_behind(tmp_path: Path) -> None:
    """`govshare report … --out DIR` made DIR before its first call: a report refused (a wrong secret, the
    platform down) left an empty directory, or a tree of them for a mistyped --out. DIR is made when the first
    file arrives now; each file is written beside under a hidden name and renamed when whole."""
    out = tmp_path / "reports" / "2026"
    result = govshare("report", "yearly", "--year", "2026", "--out", str(out), "--gateway", "127.0.0.1:1",
                      "--system-id", "sys-0000000000000000", "--secret", "not-reachable")
    assert result.returncode == 1, result.stderr
    assert '"status": "UNAVAILABLE"' in result.stderr, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_export_of_the_other_log_is_named_as_such_not_called_altered(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """The two logs' exports are files of one form. Given the administrative log's for the access audit's,
    verify-checkpoints said every signature failed (an altered file) and `audit verify-trail --checkpoints`
    started a job that ended BROKEN on a 'forged' checkpoint, as if the trail had been tampered with."""
    from services.authorization import admin_log
    from services.client import latest_kept_checkpoints, run_verify_checkpoints
    from services.runtime.checkpoints import CheckpointSigner, Head, to_json

    key = Ed25519PrivateKey.generate()
    public = tmp_path / "token.pub.pem"
    public.write_text(public_pem(key), encoding="utf-8")
    time = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    exports = {}
    for log, context, chain_id in (("admin", admin_log.CONTEXT, admin_log.CHAIN_ID),
                                   ("access", "govshare.audit.checkpoint.v1", "a" * 32)):
        signed = CheckpointSigner(key, context).sign(Head(chain_id, 7, "b" * 64), time, False)
        exports[log] = tmp_path / f"{log}.jsonl"
        exports[log].write_text(json.dumps(to_json(signed)) + "\n", encoding="utf-8")
        assert run_verify_checkpoints(exports[log], [public], log=log) == 0
    capsys.readouterr()

    assert run_verify_checkpoints(exports["admin"], [public], log="access") == 1
    assert "line 1: chain " + admin_log.CHAIN_ID + " record 7: a checkpoint of the administrative log, not of the " \
        "access audit" in capsys.readouterr().err
    assert run_verify_checkpoints(exports["access"], [public], log="admin") == 1
    assert "not a checkpoint of the administrative log" in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"admin.jsonl:1: a checkpoint of the administrative log .*not of the "
                                         r"access audit the job verifies"):
        latest_kept_checkpoints(exports["admin"])
    assert [c.chain_id for c in latest_kept_checkpoints(exports["access"])] == ["a" * 32]



@pytest.mark.parametrize("command", [["audit", "verify-admin-log"], ["audit", "verify-trail", "--wait"]])
@pytest.mark.parametrize("content", ["", "\n  \n"])
def test_a_kept_checkpoints_file_holding_none_is_said_to_compare_nothing(
        command: list[str], content: str, tmp_path: Path) -> None:
    """An auditor's kept export that held no checkpoint (a copy that failed, or an export made before the platform
    had signed one) was read as no checkpoints without a word: `govshare audit verify-admin-log --checkpoints`
    verified the log against the platform's checkpoints alone and printed INTACT, exit 0, which the auditor read as
    the log matching their copy. The command now says before its call that the file compares nothing (the
    gateway here answers nothing: the call that follows fails, as it would without the file)."""
    kept = tmp_path / "kept.jsonl"
    kept.write_text(content, encoding="utf-8")
    result = govshare(*command, "--checkpoints", str(kept), "--gateway", "127.0.0.1:9", "--system-id", "sys-0000",
                      "--secret", "x")
    assert "Traceback" not in result.stderr, result.stderr
    said = (f"govshare {command[0]} {command[1]}: --checkpoints {kept} holds no checkpoint, so nothing of yours is "
            "compared: the log is verified against the platform's own checkpoints alone (an export made before the "
            "platform signed one is empty; export again later and keep that)")
    assert said in result.stderr.splitlines(), result.stderr


def test_load_records_takes_gbk_by_the_name_the_help_gives_it(tmp_path: Path) -> None:
    """The help and the docs call Excel's Chinese CSV GBK; `--encoding gbk` was refused "one of auto, utf-8,
    gb18030". GBK (and GB2312, cp936) are read as GB18030, which holds them; a name of no encoding is still refused."""
    from services.record_files import FileProblem, file_encoding

    sheet = tmp_path / "gbk.csv"
    sheet.write_bytes("citizen_id,name\n110105194912310021,钱敏\n".encode("gbk"))
    assert {file_encoding(sheet, name) for name in ("gbk", "GBK", "gb2312", "cp936", "gb18030")} == {"gb18030"}
    with pytest.raises(FileProblem, match="gbk and gb2312 are read as gb18030"):
        file_encoding(sheet, "big5")


def test_a_line_short_of_a_value_whose_address_holds_a_full_width_comma_is_not_said_to_be_so_separated(
        tmp_path: Path) -> None:
    """A record typed with full-width commas is said to be so separated; one short of a value whose address holds a
    full-width comma (北京市东城区，东四街道) is not: it was told to type its commas as commas."""
    from services.foundation.datasets import DATASETS
    from services.record_files import rows_of

    sheet = tmp_path / "people.csv"
    sheet.write_text("citizen_id,name,sex,ethnicity,birth_date,address,status\n"
                     "110105194912310021,钱敏,女,汉族,1949-12-31,北京市东城区，东四街道\n"
                     "110105194912310021，钱敏，女，汉族，1949-12-31，北京市东城区，正常\n", encoding="utf-8")
    _header, rows = rows_of(sheet, "utf-8-sig", DATASETS["population"])
    assert [row.problem for row in rows] == [
        "6 values where the first line names 7 columns",
        "1 value where the first line names 7 columns: its values are separated by full-width commas (，, typed "
        "with a Chinese input method): type them as commas (,)"]


def test_the_records_after_a_line_naming_the_columns_in_another_order_are_read_in_its_order(tmp_path: Path) -> None:
    """Two exports joined, the second's columns in another order: its records were read in the first line's order.
    They are read in the order its first line names, and kept (for --rejected) in the first line's."""
    from services.foundation.datasets import DATASETS
    from services.record_files import rows_of

    sheet = tmp_path / "joined.csv"
    sheet.write_text("citizen_id,name,sex,ethnicity,birth_date,address,status\n"
                     "name,citizen_id,sex,ethnicity,birth_date,status,address\n"
                     "钱三,110105194912310021,女,汉族,1949-12-31,正常,上海市\n"
                     "钱四,110105194912310021,女\n", encoding="utf-8")
    _header, rows = rows_of(sheet, "utf-8-sig", DATASETS["population"])
    _names, third, fourth = rows
    assert third.values == {"citizen_id": "110105194912310021", "name": "钱三", "sex": "女", "ethnicity": "汉族",
                            "birth_date": "1949-12-31", "address": "上海市", "status": "正常"}
    assert third.cells == ["110105194912310021", "钱三", "女", "汉族", "1949-12-31", "上海市", "正常"]
    assert (fourth.cells, fourth.problem) == (["110105194912310021", "钱四", "女", "", "", "", ""],
                                              "3 values where line 2 names 7 columns")
    # The file --rejected writes of it holds the records in line 1's order, after the line naming them otherwise:
    # loaded again, they are read in line 1's order.
    rejected = tmp_path / "rejected.csv"
    rejected.write_text("line,reasons,citizen_id,name,sex,ethnicity,birth_date,address,status\n"
                        "2,no record,name,citizen_id,sex,ethnicity,birth_date,status,address\n"
                        "3,a reason,110105194912310021,钱三,女,汉族,1949-12-31,上海市,正常\n", encoding="utf-8")
    _header, rows = rows_of(rejected, "utf-8-sig", DATASETS["population"])
    assert [row.values.get("name") for row in rows] == [None, "钱三"]


def test_a_joined_files_first_line_naming_an_item_the_first_line_does_not_is_no_record(tmp_path: Path) -> None:
    """Two exports joined, the second with a column the first has not (address_region_code): its first line was
    read as a record, and its records in line 1's columns, an address_region_code loaded as the address line 1
    names there. The line is said to name the columns; a record after it holding a value of that item is rejected
    (loaded without it, it would lose it), one without is read by the names of its line."""
    from services.foundation.datasets import DATASETS
    from services.record_files import rows_of

    sheet = tmp_path / "joined.csv"
    sheet.write_text("citizen_id,name,sex,ethnicity,birth_date,status,address\n"
                     "citizen_id,name,sex,ethnicity,birth_date,status,address_region_code,address\n"
                     "110105194912310021,钱三,女,汉族,1949-12-31,正常,110105,朝阳区\n"
                     "110105194912310030,钱四,女,汉族,1949-12-31,正常,,东城区\n", encoding="utf-8")
    _header, rows = rows_of(sheet, "utf-8-sig", DATASETS["population"])
    names, third, fourth = rows
    assert names.problem == (
        "the line names the columns, as a first line does (another file's first line: files joined?): it is no "
        "record; it names address_region_code, which the first line does not: a record after it holding a value of "
        "it is rejected (loaded without it, the record would lose it: a load gives each record whole): load those "
        "lines as a file of their own; the lines after it are read in its order of the columns, and written to "
        "--rejected in line 1's order")
    assert third.problem == ("address_region_code: line 2 names it and the first line does not: loaded without it, "
                             "the record would lose it: load the lines after line 2 as a file of their own")
    assert third.cells == ["110105194912310021", "钱三", "女", "汉族", "1949-12-31", "正常", "朝阳区", "110105"]
    assert (fourth.problem, fourth.values["address"]) == ("", "东城区")
    assert "address_region_code" not in fourth.values


def test_an_as_of_time_on_a_day_the_calendar_has_not_is_said_to_be_no_such_date(tmp_path: Path) -> None:
    """An as_of_time of 2026-11-31 was rejected "'2026-11-31' is not a time (e.g. 2026-11-30 or …)", of a cell in
    the very form the example gives; the officer looked for what was wrong with its form. It is said to be no real
    calendar date, as a date item's is; a cell of no date is still said not to be a time."""
    from services.foundation.datasets import DATASETS
    from services.record_files import rows_of

    sheet = tmp_path / "people.csv"
    sheet.write_text("citizen_id,name,sex,ethnicity,birth_date,status,as_of_time\n"
                     "110105194912310021,钱敏,女,汉族,1949-12-31,正常,2026-11-31\n"
                     "110105194912310021,钱敏,女,汉族,1949-12-31,正常,2026/2/29 8:00\n"
                     "110105194912310021,钱敏,女,汉族,1949-12-31,正常,昨天\n"
                     "110105194912310021,钱敏,女,汉族,1949-12-31,正常,2026-11-30 25:00\n", encoding="utf-8")
    _header, rows = rows_of(sheet, "utf-8-sig", DATASETS["population"])
    assert [row.problem for row in rows] == [
        "as_of_time: 2026-11-31 is not a real calendar date", "as_of_time: 2026-02-29 is not a real calendar date",
        "as_of_time: '昨天' is not a time (e.g. 2026-11-30 or 2026-11-30T08:00:00+08:00)",
        "as_of_time: '2026-11-30 25:00' is not a time (e.g. 2026-11-30 or 2026-11-30T08:00:00+08:00)"]


def test_a_file_without_its_column_names_is_said_to_begin_with_a_record_quoting_none_of_it(tmp_path: Path) -> None:
    """A department's export without its column names (a database tool's default) was refused quoting its first
    record as names ("'110105194912310021', '钱敏', … are not items of population"): a person's 公民身份号码 and
    name on the terminal and in the log of the job that ran the load. It is said to begin with a record, naming the
    items to put above it and quoting nothing of it; names that are no items are still quoted."""
    from services.foundation.datasets import DATASETS
    from services.record_files import FileProblem, rows_of

    sheet = tmp_path / "people.csv"
    sheet.write_text("110105194912310021,钱敏,女,汉族,1949-12-31,正常\n", encoding="utf-8")
    with pytest.raises(FileProblem) as refused:
        rows_of(sheet, "utf-8-sig", DATASETS["population"])
    assert str(refused.value) == (
        "the first line is a record, not the names of the columns (a file exported without them?): add a first line "
        "naming the item of each column, in the order of its values, as ListDatasets names them (citizen_id,name,"
        "sex,ethnicity,birth_date,address,address_region_code,status; and as_of_time)")
    sheet.write_text("公民身份号码,姓名\n110105194912310021,钱敏\n", encoding="utf-8")
    with pytest.raises(FileProblem, match="'公民身份号码', '姓名' are not items of population"):
        rows_of(sheet, "utf-8-sig", DATASETS["population"])


def test_an_as_of_column_named_with_capitals_or_hyphens_is_refused_naming_the_column_meant(tmp_path: Path) -> None:
    """A header's "Birth Date" is refused naming birth_date; its "As Of Time" (or as-of-time) was refused naming
    nothing meant, the officer left to find the column's name in a list of items."""
    from services.foundation.datasets import DATASETS
    from services.record_files import FileProblem, rows_of

    sheet = tmp_path / "people.csv"
    for name in ("As Of Time", "as-of-time"):
        sheet.write_text(f"citizen_id,name,sex,ethnicity,birth_date,status,{name}\n", encoding="utf-8")
        with pytest.raises(FileProblem, match=f"'{name}' \\(did you mean as_of_time\\?\\) is not an item"):
            rows_of(sheet, "utf-8-sig", DATASETS["population"])


def test_a_joined_files_first_line_without_a_column_of_line_1_says_its_records_are_loaded_without_it(
        tmp_path: Path) -> None:
    """Two exports joined, the second without the address column and in another order: its records were loaded
    without an address, each losing the one it held, and nothing said so (a file without the column is said to)."""
    from services.foundation.datasets import DATASETS
    from services.record_files import rows_of

    sheet = tmp_path / "joined.csv"
    sheet.write_text("citizen_id,name,sex,ethnicity,birth_date,address,status,as_of_time\n"
                     "name,citizen_id,sex,ethnicity,birth_date,status\n"
                     "钱三,110105194912310021,女,汉族,1949-12-31,正常\n", encoding="utf-8")
    _header, rows = rows_of(sheet, "utf-8-sig", DATASETS["population"])
    names, record = rows
    assert names.problem == (
        "the line names the columns, as a first line does (another file's first line: files joined?): it is no "
        "record; it has no column of address: the records after it are loaded without it, whatever they held before "
        "(a load gives each record whole); the lines after it are read in its order of the columns, and written to "
        "--rejected in line 1's order")
    assert (record.problem, record.values["name"], "address" in record.values) == ("", "钱三", False)
    # Line 1's columns but the last, in its order: its records were rejected a value short of line 1's.
    sheet.write_text("citizen_id,name,sex,ethnicity,birth_date,status,address\n"
                     "citizen_id,name,sex,ethnicity,birth_date,status\n"
                     "110105194912310021,钱三,女,汉族,1949-12-31,正常\n", encoding="utf-8")
    _header, rows = rows_of(sheet, "utf-8-sig", DATASETS["population"])
    names, record = rows
    assert "it has no column of address: the records after it are loaded without it" in names.problem
    assert (record.problem, record.values["status"], "address" in record.values) == ("", "正常", False)


def test_an_excel_workbook_or_a_utf16_file_given_for_the_csv_is_said_to_be_what_it_is(tmp_path: Path) -> None:
    """The workbook itself (.xlsx, or an old .xls) or Excel's 'Unicode text' given for the CSV file was refused
    "neither UTF-8 nor GB18030/GBK (line 1)", as a text file in another encoding; it is said to be what it is,
    whatever --encoding says."""
    import zipfile

    from services.record_files import FileProblem, file_encoding

    workbook = tmp_path / "people.xlsx"
    with zipfile.ZipFile(workbook, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>" * 1000)
    old = tmp_path / "people.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(range(256)) * 4)
    unicode_text = tmp_path / "people.txt"
    unicode_text.write_text("citizen_id\tname\n110105194912310021\t钱敏\n", encoding="utf-16")
    save = ": save it as CSV UTF-8 (in Excel: 另存为, 'CSV UTF-8 (逗号分隔)')"
    for path, said, encoding in ((workbook, "is an Excel workbook (.xlsx) or another zip archive, not a CSV file",
                                  "auto"),
                                 (old, "is an Excel 97-2003 workbook (.xls), not a CSV file", "gbk"),
                                 (unicode_text, "is in UTF-16 (Excel's 'Unicode text'), which is not read", "auto")):
        with pytest.raises(FileProblem) as refused:
            file_encoding(path, encoding)
        assert str(refused.value) == f"{path} {said}{save}"


def test_a_report_from_a_platform_older_than_also_formats_says_which_formats_it_did_not_answer(
        tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """`govshare report --format html,pdf` asks once, the PDF in also_formats. A platform older than that field
    ignores it and answers the HTML alone: the command would write it and exit 0, the PDF missing without a word.
    It writes what came, names what did not and how to get it, and exits 1."""
    from concurrent import futures

    import grpc

    from govshare.authorization.v1 import token_pb2
    from govshare.supervision.v1 import supervision_pb2
    from services.supervision.report_client import run_report

    def token(request: token_pb2.IssueTokenRequest, context: object) -> token_pb2.IssueTokenResponse:
        return token_pb2.IssueTokenResponse(token="t")

    def report(request: supervision_pb2.GenerateReportRequest, context: object
               ) -> supervision_pb2.GenerateReportResponse:  # as before also_formats: the one format asked
        return supervision_pb2.GenerateReportResponse(content=b"<html></html>", content_type="text/html",
                                                      file_name="yearly-2026-platform.html")

    def unary(function, request_type):  # type: ignore[no-untyped-def]
        return grpc.unary_unary_rpc_method_handler(function, request_deserializer=request_type.FromString,
                                                   response_serializer=lambda message: message.SerializeToString())

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((
        grpc.method_handlers_generic_handler("govshare.authorization.v1.TokenService",
                                             {"IssueToken": unary(token, token_pb2.IssueTokenRequest)}),
        grpc.method_handlers_generic_handler("govshare.supervision.v1.SupervisionService",
                                             {"GenerateReport": unary(report, supervision_pb2.GenerateReportRequest)})))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        status = run_report(f"127.0.0.1:{port}", "sys-0000000000000000", "s", kind="yearly", year=2026, month=0,
                            department="", formats=["html", "pdf", "csv"], out=tmp_path)
    finally:
        server.stop(None)
    assert status == 1
    assert [p.name for p in tmp_path.iterdir()] == ["yearly-2026-platform.html"]
    said = capsys.readouterr().err
    assert "the platform answered only html" in said and "--format pdf,csv" in said, said


@pytest.mark.parametrize(("given", "why"), [("{missing}", "No such file or directory"),
                                             ("{directory}", "Is a directory")])
def test_a_records_file_that_cannot_be_read_is_named_as_the_other_commands_name_theirs(
        given: str, why: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`govshare load-records population people.csv` with no such file said "[Errno 2] No such file or directory:
    'people.csv'", Python's words, where every other command says "FILE: why". Nothing is sent (127.0.0.1:1)."""
    from services.client import run_load_records

    path = given.format(missing=tmp_path / "people.csv", directory=tmp_path)
    assert run_load_records("127.0.0.1:1", "sys-1", "s", dataset="population", path=Path(path)) == 2
    assert capsys.readouterr().err == f"govshare load-records: {path}: {why}\n"
