"""The banner `govshare up` prints: its example commands must answer on the data it loaded."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from services.connection import Connection
from services.demo import DemoCredentials
from services.foundation.synthetic import citizen_id_of, credit_code_of
from services.launcher import _print_banner


def _banner(tmp_path: Path, capsys: pytest.CaptureFixture[str], persons: int) -> str:
    credentials = DemoCredentials(gateway="127.0.0.1:50051", persons=persons,
                                  systems={"civil": {"system_id": "sys-0123456789abcdef", "secret": "s",
                                                     "department": "111101000MB00000072", "name": "市民政局"}},
                                  resources={"人口基本信息": "101001/000001"})
    credentials.save(tmp_path / "demo-credentials.json")
    connection = Connection(data_dir=tmp_path, gateway="127.0.0.1:50051", zone="extranet", pid=os.getpid(),
                            database_url="postgresql://govshare:pg-pass-9f3@127.0.0.1/govshare")
    _print_banner(connection, tmp_path / "demo-credentials.json", time.monotonic())
    return capsys.readouterr().out


def test_the_banner_offers_queries_by_a_loaded_citizens_id_number(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    banner = _banner(tmp_path, capsys, persons=10)
    assert f"govshare query 101001/000001 {citizen_id_of(0, 42)}" in banner
    assert f"govshare query 102001/000001 {credit_code_of(0, 42)}" in banner
    assert "pg-pass-9f3" not in banner  # the database URL's password


def test_without_citizens_the_banner_says_why_instead_of_queries_that_find_nobody(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`govshare up --persons 0` printed queries by an ID number that no record has (RECORD_NOT_FOUND)."""
    banner = _banner(tmp_path, capsys, persons=0)
    assert citizen_id_of(0, 42) not in banner
    assert "no citizens were loaded (--persons 0)" in banner
    assert f"govshare query 102001/000001 {credit_code_of(0, 42)}" in banner  # companies are loaded regardless


def test_the_banner_says_where_the_command_finds_the_platform(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The data line said "run it from this directory" beside the data directory; run from there, the command
    looked for .govshare inside it and answered "no credentials: … run `govshare up` first". With the default
    data directory it is the directory holding .govshare to run from; with another, GOVSHARE_DATA_DIR."""
    (tmp_path / ".govshare").mkdir()
    monkeypatch.chdir(tmp_path)
    banner = _banner(tmp_path.resolve() / ".govshare", capsys, persons=1)
    (data,) = [line for line in banner.splitlines() if line.startswith("  data ")]
    assert "this directory" not in data
    assert f"run it from {tmp_path.resolve()}, the directory holding .govshare" in data
    assert "export GOVSHARE_DATA_DIR" not in banner
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    banner = _banner(elsewhere, capsys, persons=1)
    (data,) = [line for line in banner.splitlines() if line.startswith("  data ")]
    assert data.endswith("(the govshare command reads connection.json there: set GOVSHARE_DATA_DIR to this "
                         "directory, or pass --data-dir)")
    assert f"  export GOVSHARE_DATA_DIR={elsewhere}" in banner


@pytest.mark.parametrize("name", ["my data", "数据 $HOME (1)", "it's"])
def test_the_banners_export_line_sets_the_data_directory_when_pasted_into_a_shell(
        name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`export GOVSHARE_DATA_DIR=/srv/my data` exported /srv/my (and failed on 'data'); a '$' or a '(' made it
    another directory or a syntax error. The line is quoted for the shell now."""
    import subprocess

    data_dir = tmp_path / name
    data_dir.mkdir()
    (line,) = [line for line in _banner(data_dir, capsys, persons=1).splitlines() if "export GOVSHARE_DATA_DIR" in line]
    shell = subprocess.run(["bash", "-c", f'{line.strip()} && printf %s "$GOVSHARE_DATA_DIR"'],
                           capture_output=True, text=True, timeout=30)
    assert shell.returncode == 0, shell.stderr
    assert shell.stdout == str(data_dir)
