"""Numbers on the govshare command line are checked by argparse, before anything starts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.cli import build_parser
from services.launcher import PORT_BLOCK


@pytest.mark.parametrize("arguments, says", [
    (["up", "--port", "70000"], "N must be at most"),
    # N+9 a port no more (N+10 and N+11 are --heavy-read-processes', asked by _up: test_launcher_settings.py).
    (["up", "--port", str(65536 - (PORT_BLOCK - 2) + 1)], "N must be at most"),
    (["up", "--port", "0"], "must be at least 1"),
    (["up", "--port", "-1"], "must be at least 1"),
    (["up", "--port", "http"], "'http' is not a whole number"),
    (["up", "--persons", "-5"], "must be at least 0"),
    (["up", "--workers", "0"], "must be at least 1"),
    (["up", "--workers", "65"], "must be at most 64"),
    (["up", "--heavy-read-processes", "--heavy-read-nice", "-5"], "must be at least 0"),
    (["up", "--heavy-read-processes", "--heavy-read-nice", "20"], "must be at most 19"),
    (["seed", "--entities", "-1"], "must be at least 0"),
    (["audit", "verify-trail", "--page-size", "-1"], "must be at least 0"),
])
def test_numbers_that_could_not_work_are_refused_with_the_option_named(
        arguments: list[str], says: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``up --port 70000`` (or a base whose block passes 65535) ended in an OverflowError traceback from the
    port check; a port of 0 made every service take a random port the edge could not know."""
    with pytest.raises(SystemExit) as refused:
        build_parser().parse_args(arguments)
    assert refused.value.code == 2
    error = capsys.readouterr().err
    assert f"argument {arguments[-2]}" in error and says in error, error


@pytest.mark.parametrize("arguments", [
    ["report", "yearly", "--year", "2026", "--out", ""],
    ["export-checkpoints", "--out", " "],
    ["export-bundle", "--out", ""],
    ["import-bundle", "--in", ""],
    ["restore", ""],
    ["render-edge", "--out", ""],
    ["verify-checkpoints", "c.jsonl", "--public-key", ""],
    ["frontproc", "--config", ""],
    ["notify-changes", "--resource", "r", "--config", ""],
    ["load-records", "population", ""],
    ["load-records", "population", "p.csv", "--rejected", ""],
    ["submit-entry", "--config", "c.yaml", "--entry", ""],
    ["audit", "verify-archive", "access_log_202611.jsonl", "--public-key", ""],
])
def test_an_empty_file_or_directory_is_refused_before_anything_starts(
        arguments: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """`--out "$DIR"` with DIR unset wrote a yearly report's files among the current directory's; the other
    commands failed on "" only after reaching the platform (or wrote nothing, saying so of a path nobody typed)."""
    with pytest.raises(SystemExit) as refused:
        build_parser().parse_args(arguments)
    assert refused.value.code == 2
    error = capsys.readouterr().err
    assert "empty: give a file or directory" in error and (
        f"argument {arguments[-2]}" in error if arguments[-2].startswith("--") else "argument " in error), error


def test_a_nice_level_without_the_processes_it_applies_to_is_refused_before_anything_starts(
        tmp_path: Path) -> None:
    """``up --heavy-read-nice 10`` without ``--heavy-read-processes`` started the platform with every process at
    the usual priority, saying nothing: the benchmark's run believed its listings ran lower."""
    from services.cli import main

    with pytest.raises(SystemExit) as refused:
        main(["up", "--data-dir", str(tmp_path / "data"), "--heavy-read-nice", "10"])
    assert "add --heavy-read-processes, or drop --heavy-read-nice" in str(refused.value.code)
    assert not (tmp_path / "data").exists()


def test_the_most_workers_a_service_takes_are_taken() -> None:
    from services.runtime.settings import MAX_WORKERS

    assert build_parser().parse_args(["up", "--workers", str(MAX_WORKERS)]).workers == MAX_WORKERS


def test_the_highest_port_base_whose_block_fits_is_taken() -> None:
    highest = 65536 - PORT_BLOCK
    assert build_parser().parse_args(["up", "--port", str(highest)]).port == highest


def test_seeding_a_seeded_platform_again_is_refused_unless_asked(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    """`govshare seed` over `govshare up`'s data directory added a second set of demo systems, gave the authority a
    new secret, reset every demo person's TOTP secret and rewrote the credentials file, silently. Nothing is
    contacted before the refusal (no platform runs here)."""
    from services.cli import main

    credentials = tmp_path / "demo-credentials.json"
    credentials.write_text("{}", encoding="utf-8")
    with pytest.raises(SystemExit) as refused:
        main(["seed", "--credentials", str(credentials), "--gateway", "127.0.0.1:1"])
    assert "exists: this platform has its demo data already" in str(refused.value.code)
    assert "--again" in str(refused.value.code)
    assert credentials.read_text(encoding="utf-8") == "{}"
    assert build_parser().parse_args(["seed", "--again"]).again


@pytest.mark.parametrize("claims, says", [
    (["name"], "claim 'name': expected item=value"),
    (["name=武文辉", "name=王五"], "claim 'name=王五': name is claimed twice; claim each item once"),
])
def test_a_verify_claim_that_is_not_one_value_per_item_is_refused_before_any_call(
        claims: list[str], says: str) -> None:
    """``verify … name=a name=b`` verified only the last claim, silently. Nothing is contacted before the refusal."""
    from services.cli import main

    with pytest.raises(SystemExit) as refused:
        main(["verify", "101001/000001", "342322194911060454", *claims, "--gateway", "127.0.0.1:1",
              "--system-id", "s", "--secret", "x"])
    assert refused.value.code == says


def test_a_yearly_report_refuses_a_month_it_would_ignore() -> None:
    """``report yearly --year 2026 --month 3`` wrote the whole year's report as if no month had been given."""
    from services.cli import main

    with pytest.raises(SystemExit) as refused:
        main(["report", "yearly", "--year", "2026", "--month", "3", "--gateway", "127.0.0.1:1", "--system-id", "s",
              "--secret", "x"])
    assert "covers a whole year: drop --month" in str(refused.value.code)


@pytest.mark.parametrize("gateway", ["http://127.0.0.1:50051/", "http://127.0.0.1:50051", "127.0.0.1",
                                     "127.0.0.1:99999"])
def test_a_gateway_that_is_not_host_port_is_refused_before_any_call(gateway: str) -> None:
    """``query … --gateway http://127.0.0.1:50051/`` (the REST base URL the banner prints) answered UNAVAILABLE
    "Misformatted domain name" as if the platform were down. Nothing is contacted before the refusal."""
    from services.cli import main

    with pytest.raises(SystemExit) as refused:
        main(["query", "102001/000001", "924103023250193249", "--gateway", gateway, "--system-id", "sys-1",
              "--secret", "s"])
    said = str(refused.value.code)
    assert said.startswith("--gateway: ") and "give the edge's gRPC host:port (e.g. 127.0.0.1:50051)" in said


def test_up_takes_the_zone_from_the_environment_as_the_services_do(monkeypatch: pytest.MonkeyPatch) -> None:
    """GOVSHARE_ZONE=Intranet started `govshare up` with the zone 'Intranet' in its banner and connection.json
    (the services lower-case it; `--zone Intranet` is refused)."""
    monkeypatch.setenv("GOVSHARE_ZONE", " Intranet ")
    assert build_parser().parse_args(["up"]).zone == "intranet"
    monkeypatch.setenv("GOVSHARE_ZONE", "")
    assert build_parser().parse_args(["up"]).zone == "extranet"


def _demo_credentials(directory) -> None:  # type: ignore[no-untyped-def]
    (directory / "demo-credentials.json").write_text(
        '{"gateway": "127.0.0.1:1", "systems": {"social": {"system_id": "sys-demo", "secret": "demo-secret"}}}',
        encoding="utf-8")


def test_the_sdks_credential_variables_are_taken_as_a_pair(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """docs/api.md has a developer export GOVSHARE_SYSTEM_ID and GOVSHARE_SYSTEM_SECRET for the SDK; the command
    read the secret alone and paired it with the demo 人社局 system's id, so README's `govshare query …` answered
    UNAUTHENTICATED "unknown system id or wrong secret" (reproduced on `govshare up` with 民政局's pair
    exported). Both are read now, and half a pair is refused naming what is missing."""
    from services.cli import _call_args

    _demo_credentials(tmp_path)
    monkeypatch.setenv("GOVSHARE_SYSTEM_ID", "sys-mine")
    monkeypatch.setenv("GOVSHARE_SYSTEM_SECRET", "my-secret")
    args = build_parser().parse_args(["query", "102001/000001", "k", "--data-dir", str(tmp_path),
                                      "--gateway", "127.0.0.1:2"])
    assert _call_args(args) == ("127.0.0.1:2", "sys-mine", "my-secret")
    monkeypatch.delenv("GOVSHARE_SYSTEM_ID")
    args = build_parser().parse_args(["query", "102001/000001", "k", "--data-dir", str(tmp_path)])
    with pytest.raises(SystemExit) as refused:
        _call_args(args)
    assert str(refused.value.code).startswith("a secret without its system id")
    monkeypatch.delenv("GOVSHARE_SYSTEM_SECRET")
    args = build_parser().parse_args(["query", "102001/000001", "k", "--data-dir", str(tmp_path)])
    assert _call_args(args) == ("127.0.0.1:1", "sys-demo", "demo-secret")  # neither: the demo system, as before


@pytest.mark.parametrize("content, says", [
    (b"", "not a demo credentials file of `govshare up` (Expecting value"),
    (b'{"gateway": "127.0.0.1:1", "systems": {', "not a demo credentials file of `govshare up` (Expecting"),
    (b'{"gateway": "\xff"}', "not a demo credentials file of `govshare up` ('utf-8' codec can't decode"),
    (b"[]", "not a demo credentials file of `govshare up` (a JSON object)"),
    (b'{"gateway": "127.0.0.1:1"}', "its systems are not `govshare up`'s demo systems"),
    (b'{"systems": {"social": "sys-1"}}', "its systems are not `govshare up`'s demo systems"),
])
@pytest.mark.parametrize("command", [["query", "102001/000001", "k"], ["totp", "police.officer"]])
def test_a_credentials_file_that_is_not_the_demos_is_named_in_one_line(
        command: list[str], content: bytes, says: str, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """--credentials given another file (the connection.json beside it, a key), or demo-credentials.json cut
    short by a full disk or edited by hand, ended `govshare query` (verify, report, export-checkpoints,
    verify-trail) and `govshare totp` in a JSONDecodeError, UnicodeDecodeError or KeyError traceback."""
    from services.cli import main

    monkeypatch.delenv("GOVSHARE_SYSTEM_ID", raising=False)
    monkeypatch.delenv("GOVSHARE_SYSTEM_SECRET", raising=False)
    credentials = tmp_path / "demo-credentials.json"
    credentials.write_bytes(content)
    if command[0] == "totp" and "systems" in says:  # totp reads the accounts, not the systems
        says = "unknown demo person 'police.officer'"
    with pytest.raises(SystemExit) as refused:
        main([*command, "--credentials", str(credentials), "--data-dir", str(tmp_path)])
    message = str(refused.value.code)
    assert says in message, message
    assert "\n" not in message


def test_credential_flags_are_trimmed_as_their_variables_are(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """GOVSHARE_SYSTEM_ID and GOVSHARE_SYSTEM_SECRET were trimmed (and the SDK trims its arguments), --system-id,
    --secret and --gateway not: an id or secret pasted with a space around it was UNAUTHENTICATED "unknown system
    id or wrong secret", a gateway so "expected host:port", and flags of spaces alone were sent as credentials."""
    from services.cli import _call_args

    _demo_credentials(tmp_path)
    monkeypatch.delenv("GOVSHARE_SYSTEM_ID", raising=False)
    monkeypatch.delenv("GOVSHARE_SYSTEM_SECRET", raising=False)
    args = build_parser().parse_args(["query", "102001/000001", "k", "--data-dir", str(tmp_path), "--gateway",
                                      " 127.0.0.1:2\t", "--system-id", " sys-mine ", "--secret=my-secret\n"])
    assert _call_args(args) == ("127.0.0.1:2", "sys-mine", "my-secret")
    args = build_parser().parse_args(["query", "102001/000001", "k", "--data-dir", str(tmp_path),
                                      "--system-id", "  ", "--secret", " "])
    assert _call_args(args) == ("127.0.0.1:1", "sys-demo", "demo-secret")  # none given: the demo system
    args = build_parser().parse_args(["query", "102001/000001", "k", "--data-dir", str(tmp_path),
                                      "--system-id", "sys-mine", "--secret", " "])
    with pytest.raises(SystemExit) as refused:
        _call_args(args)
    assert str(refused.value.code).startswith("a system id without its secret")


@pytest.mark.parametrize("arguments, attribute, value", [
    (["query", "101001/000001", "k", "--purpose-text", "-紧急核查"], "purpose_text", "-紧急核查"),
    (["verify", "101001/000001", "k", "name=x", "--purpose-text", "-x"], "purpose_text", "-x"),
    (["notify-changes", "--config", "c.yaml", "--resource", "r", "--key", "-A01", "--key", "-B02"], "key",
     ["-A01", "-B02"]),
    (["query", "101001/000001", "k", "--system-id", "sys-1", "--secret", "-Xy_3"], "secret", "-Xy_3"),
    (["report", "yearly", "--year", "2026", "--department", "-1", "--out", "-reports"], "out", "-reports"),
    (["audit", "verify-trail", "--id", "-x", "--checkpoints", "-kept.jsonl"], "checkpoints", "-kept.jsonl"),
    (["frontproc", "--config", "-dept.yaml"], "config", "-dept.yaml"),
    (["query", "--", "101001/000001", "-k"], "key", "-k"),  # after --, argparse's own rule
])
def test_an_options_value_may_begin_with_a_dash(arguments: list[str], attribute: str, value: object) -> None:
    """argparse took a word beginning with '-' after an option for another option: `--purpose-text -紧急核查`,
    a text key `--key -A01` and an older secret `--secret -Xy…` were refused "expected one argument", and only
    --option=VALUE got them through."""
    assert getattr(build_parser().parse_args(arguments), attribute) == value


def test_an_option_followed_by_another_option_still_lacks_its_value(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as refused:
        build_parser().parse_args(["query", "101001/000001", "k", "--secret", "--gateway", "127.0.0.1:1"])
    assert refused.value.code == 2
    assert "argument --secret: expected one argument" in capsys.readouterr().err


def test_the_frontproc_command_hands_on_a_config_path_beginning_with_a_dash(
        tmp_path, monkeypatch, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    """`govshare frontproc` passed its --config on to the 前置机's own parser as two words, which refused one
    beginning with '-' even when given as --config=-dept.yaml."""
    from services.cli import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as ended:
        main(["frontproc", "--check", "--config=-dept.yaml"])
    assert ended.value.code == 2
    assert "govshare frontproc: -dept.yaml: cannot read the configuration (No such file" in capsys.readouterr().err


@pytest.mark.parametrize("where, says", [
    ("{tmp}/no-such-dir/demo-credentials.json", "cannot write {tmp}/no-such-dir/demo-credentials.json (No such file"),
    ("{tmp}", "{tmp} is a directory: give the file to write"),
])
def test_seeding_refuses_a_credentials_file_it_could_not_write_before_it_seeds(
        where: str, says: str, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """`govshare seed --again --credentials PATH` made a second set of demo systems, gave the authority's system a
    new secret and reset every demo person's password and TOTP secret, and only then failed to write PATH (a
    directory that does not exist): the new secrets were lost, and the data directory's credentials file no longer
    signed anyone in. PATH is checked first: nothing is contacted (the gateway and database here do not exist)."""
    from services.cli import main

    monkeypatch.setenv("GOVSHARE_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    path = where.format(tmp=tmp_path)
    with pytest.raises(SystemExit) as refused:
        main(["seed", "--again", "--credentials", path, "--gateway", "127.0.0.1:1", "--data-dir", str(tmp_path)])
    message = str(refused.value.code)
    assert message.startswith("--credentials: " + says.format(tmp=tmp_path)), message


@pytest.mark.parametrize("value, data_dir", [("", ".govshare"), ("   ", ".govshare"),
                                             (" /srv/govshare \n", "/srv/govshare"), ("/srv/数据", "/srv/数据")])
def test_govshare_data_dir_is_read_as_the_other_variables_are(value: str, data_dir: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """GOVSHARE_DATA_DIR was taken as it was: empty (`export GOVSHARE_DATA_DIR=`), it was the current directory,
    into which `govshare up` put its database, keys and credentials (and every other command looked for them
    there); with a space or newline around it, a directory of that name. Trimmed and empty-as-unset now, as
    GOVSHARE_ZONE and the credential variables are."""
    from loadtest.credentials import DEFAULT_PATH, default_path

    monkeypatch.setenv("GOVSHARE_DATA_DIR", value)
    for command in (["up"], ["totp", "someone"], ["query", "101001/000001", "k"], ["backup", "f"]):
        assert build_parser().parse_args(command).data_dir == data_dir, command
    assert default_path() == (DEFAULT_PATH if data_dir == ".govshare" else Path(data_dir) / "demo-credentials.json")


def test_supervise_says_which_service_it_could_not_reach_instead_of_waiting_silently(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`govshare supervise` with GOVSHARE_SUPERVISION_TARGET naming a service that was not running (or a typo)
    waited for it as long as for a month's computation, 15 minutes, printing nothing, then said
    DEADLINE_EXCEEDED. It waits CONNECT_TIMEOUT_SECONDS (60 s; shortened here) for a connection and names the
    address it could not reach. (The computation's own timeout is shortened too, so the old code ends.)"""
    from services.supervision import schedule
    from tests.free_ports import free_port

    monkeypatch.setattr(schedule, "CONNECT_TIMEOUT_SECONDS", 0.5, raising=False)
    monkeypatch.setattr(schedule, "COMPUTE_TIMEOUT_SECONDS", 3.0)
    target = f"127.0.0.1:{free_port()}"
    env = {"GOVSHARE_SUPERVISION_TARGET": target, "GOVSHARE_INTERNAL_KEY": "k" * 43}
    assert schedule.main("previous", env) == 1
    said = capsys.readouterr()
    assert f"govshare supervise: the supervision service at {target} did not answer within" in said.out + said.err


@pytest.mark.parametrize("months", ["2026-13", "", "0-05", "99999-01", "1999-12"])
def test_supervise_writes_its_refusals_to_stderr(months: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`govshare supervise` printed its refusals on stdout, where its computed months go: run as
    `govshare supervise > months.txt` (or read by a script) the error went into the file and the terminal said
    nothing."""
    from services.supervision import schedule

    env = {"GOVSHARE_SUPERVISION_TARGET": "127.0.0.1:1", "GOVSHARE_INTERNAL_KEY": "k" * 43}
    assert schedule.main(months, env) == 2
    said = capsys.readouterr()
    assert said.out == ""
    assert said.err.startswith("govshare supervise: ")
    if months[:1].isdigit() and months != "2026-13":
        assert "the year must be between 2000 and 2100" in said.err


@pytest.mark.parametrize("arguments, says", [
    (["--cancel"], "--cancel needs --id, the job to cancel"),
    (["--id", "job-1", "--checkpoints", "kept.jsonl"], "--checkpoints shape a new job, not job job-1"),
    (["--id", "job-1", "--wait", "--page-size", "10", "--resume-token", "t"],
     "--resume-token, --page-size shape a new job, not job job-1"),
])
def test_verify_trail_refuses_flags_it_would_ignore_before_any_call(arguments: list[str], says: str) -> None:
    """`verify-trail --id JOB --checkpoints kept.jsonl` showed job JOB, which had never seen the kept checkpoints,
    as INTACT (exit 0 with --wait): the auditor took the trail to match their copy. `--cancel` without --id asked
    the platform to cancel a job of id "". Nothing is contacted before the refusal (127.0.0.1:1 listens to none)."""
    from services.cli import main

    with pytest.raises(SystemExit) as refused:
        main(["audit", "verify-trail", *arguments, "--gateway", "127.0.0.1:1", "--system-id", "sys-1",
              "--secret", "s"])
    assert str(refused.value.code) == f"govshare audit verify-trail: {says}" + (
        ": drop --id to start one with them" if "new job" in says else "")


def test_every_argument_of_every_command_says_what_it_takes() -> None:
    """`--help` listed 22 arguments bare: export-bundle's --out and import-bundle's --in, export-checkpoints' --out
    (not saying it writes FILE.pub.pem beside it), every --gateway (not saying where it is taken from otherwise),
    --purpose (whose default differs between query and verify), seed's numbers, report's kind and --year, the
    files verify-checkpoints and verify-archive take."""
    import argparse

    bare = []

    def walk(parser: argparse.ArgumentParser, name: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for command, subparser in action.choices.items():
                    walk(subparser, f"{name} {command}")
            elif not action.help and not isinstance(action, argparse._HelpAction):
                bare.append(f"{name} {'/'.join(action.option_strings) or action.dest}")

    walk(build_parser(), "govshare")
    assert bare == []


@pytest.mark.parametrize("ahead", [1, 12])
def test_supervise_refuses_a_month_not_begun_before_connecting(ahead: int, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """`govshare supervise --months 2027-11` (a slip of the year for 2026-11) passed the command's own check, then
    waited for the supervision service and exited 1, a failed run, on its INVALID_ARGUMENT "the month has not begun"
    (or after the wait when the service was not there): a month that has not begun is a usage error, exit 2, said
    before any call (127.0.0.1:1 listens to none)."""
    import datetime as dt

    from services.supervision import schedule
    from services.supervision.months import Month

    monkeypatch.setattr(schedule, "CONNECT_TIMEOUT_SECONDS", 0.5)
    current = Month.of(dt.datetime.now(dt.UTC))
    later = current
    for _ in range(ahead):
        later = later.next()
    env = {"GOVSHARE_SUPERVISION_TARGET": "127.0.0.1:1", "GOVSHARE_INTERNAL_KEY": "k" * 43}
    assert schedule.main(f"previous,{later.label()}", env) == 2
    said = capsys.readouterr()
    assert said.out == ""
    assert said.err == (f"govshare supervise: '{later.label()}': {later.label()} has not begun (this month is "
                        f"{current.label()}, Beijing time)\n")
    assert schedule.months_named(f"current,{current.label()}", dt.datetime.now(dt.UTC)) == [current, current]


def test_supervise_names_a_month_written_with_a_superscript_digit_not_a_traceback_message(
        capsys: pytest.CaptureFixture[str]) -> None:
    """A superscript ² is a digit to str.isdigit but not to int(): --months 2026-1² printed int()'s "invalid literal
    for int() with base 10" instead of what the command takes."""
    from services.supervision import schedule

    env = {"GOVSHARE_SUPERVISION_TARGET": "127.0.0.1:1", "GOVSHARE_INTERNAL_KEY": "k" * 43}
    assert schedule.main("2026-1\u00b2", env) == 2
    assert capsys.readouterr().err == "govshare supervise: '2026-1²': expected previous, current or YYYY-MM\n"


@pytest.mark.parametrize("command", [["query", "102001/000001", "k"], ["totp", "police.officer"],
                                     ["report", "yearly", "--year", "2026"]])
def test_a_command_run_away_from_the_data_directory_says_where_it_looked_and_how_to_point_it_there(
        command: list[str], tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """./scripts/up runs `govshare up` from the repository's root; `govshare query` typed in another directory
    answered "no credentials: … run `govshare up` first (it writes .govshare/demo-credentials.json)", though the
    platform was running, and `govshare totp` "no demo credentials at .govshare/…: run `govshare up` first". They
    name the file looked for in full and the flag and variable that point at the data directory."""
    from services.cli import main

    for variable in ("GOVSHARE_DATA_DIR", "GOVSHARE_SYSTEM_ID", "GOVSHARE_SYSTEM_SECRET"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as refused:
        main(command)
    message = str(refused.value.code)
    assert str(tmp_path.resolve() / ".govshare" / "demo-credentials.json") in message, message
    assert "--data-dir" in message and "GOVSHARE_DATA_DIR" in message, message


def test_up_says_which_ports_it_takes_as_the_launcher_takes_them(capsys: pytest.CaptureFixture[str]) -> None:
    """`govshare up --help` said the services, console, 前置机, Envoy's admin and the JWKS use N+1 to N+11: they take
    N+1 to N+9 (README: "N…N+9, and N+10, N+11 with --heavy-read-processes"); N+10 and N+11 only with that flag."""
    with pytest.raises(SystemExit):
        build_parser().parse_args(["up", "--help"])
    text = "".join(capsys.readouterr().out.split())  # argparse wraps it, at blanks and hyphens
    assert "useN+1toN+9,--heavy-read-processesN+10andN+11too" in text, text


@pytest.mark.parametrize("arguments, keyword, given", [
    (["report", "yearly", "--year", "2026", "--format", "html, pdf"], "formats", ["html", "pdf"]),
    (["report", "yearly", "--year", "2026", "--format", "csv,csv"], "formats", ["csv"]),
    (["query", "101001/000001", "342322194911060454", "--items", "citizen_id, name,"], "items", ["citizen_id", "name"]),
])
def test_a_comma_separated_flag_is_read_with_blanks_after_its_commas(
        arguments: list[str], keyword: str, given: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The refusal of a bad --format listed "html, pdf, csv"; written so, --format "html, pdf" was refused, and
    --items "citizen_id, name" was the platform's INVALID_ARGUMENT "' name' is not an item". csv,csv wrote and
    listed one file twice."""
    from services import cli, client
    from services.supervision import report_client

    calls: list[dict] = []

    def called(*_args, **kwargs) -> int:  # type: ignore[no-untyped-def]
        calls.append(kwargs)
        return 0

    monkeypatch.setattr(report_client, "run_report", called)
    monkeypatch.setattr(client, "run_query", called)
    with pytest.raises(SystemExit) as ended:
        cli.main([*arguments, "--gateway", "127.0.0.1:1", "--system-id", "s", "--secret", "x"])
    assert ended.value.code == 0, ended.value.code
    assert calls[0][keyword] == given


@pytest.mark.parametrize("command", [["query", "102001/000001", "924103023250193249"],
                                     ["verify", "101001/000001", "342322194911060454", "name=武文辉"]])
def test_a_gateway_nothing_listens_at_is_told_to_start_or_point_at_the_platform(
        command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """With the platform stopped (or another data directory's running), `govshare query` called the gateway its
    demo credentials named and printed gRPC's "failed to connect to all addresses; … Connection refused" alone:
    the newcomer read it as the platform failing. Its answer says what to do (a real refused connection here)."""
    import json

    from services.cli import main
    from tests.free_ports import free_port

    with pytest.raises(SystemExit) as done:
        main([*command, "--gateway", f"127.0.0.1:{free_port()}", "--system-id", "sys-x", "--secret", "s"])
    assert done.value.code == 1
    said = json.loads(capsys.readouterr().err)
    assert said["status"] == "UNAVAILABLE" and "failed to connect" in said["message"], said
    assert said["hint"].startswith("nothing listens at the gateway's address: start the platform (`govshare up`)")
    assert "--data-dir or GOVSHARE_DATA_DIR" in said["hint"], said


def test_the_overview_of_govshare_help_names_every_command() -> None:
    """`govshare --help`'s overview, the list a newcomer reads to learn what the command does, left out
    `load-records` (how a source department loads its CSV records) and `audit verify-admin-log`: they showed only in
    argparse's bare list below it, with no usage line. Every command and audit subcommand is named in the overview
    as `govshare NAME`."""
    import argparse

    parser = build_parser()
    overview = parser.description or ""
    named = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command, subparser in action.choices.items():
                named.append(command)
                for inner in subparser._actions:
                    if isinstance(inner, argparse._SubParsersAction):
                        named.extend(f"{command} {sub}" for sub in inner.choices)
    # a line of the overview: `govshare NAME …`, or `govshare OTHER … / NAME …` (query / verify, backup / restore)
    missing = [name for name in named
               if not re.search(rf"^ *govshare ([^\n]*/ )?{re.escape(name)}(?![\w-])", overview, re.MULTILINE)]
    assert missing == []


def test_every_commands_own_help_says_what_it_does() -> None:
    """`govshare up --help` (and every other command's --help) printed a usage line and its options but never what
    the command does: argparse shows a subcommand's help only in its parent's list. Each command's --help now
    opens with that line."""
    import argparse

    silent = []

    def walk(parser: argparse.ArgumentParser) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for listed in action._choices_actions:
                    command = action.choices[listed.dest]
                    if " ".join(listed.help.split()) not in " ".join(command.format_help().split()):
                        silent.append(command.prog)
                    walk(command)

    walk(build_parser())
    assert silent == []


@pytest.mark.parametrize("arguments, command, unknown", [
    (["up", "--prot", "39000"], "govshare up", "--prot 39000"),
    (["query", "102001/000001", "924103023250193249", "--itmes", "name"], "govshare query", "--itmes name"),
    (["audit", "verify-trail", "--bogus"], "govshare audit verify-trail", "--bogus"),
])
def test_a_word_a_command_does_not_know_is_refused_under_that_commands_usage(
        arguments: list[str], command: str, unknown: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`govshare up --prot 39000` (a typo) was refused by `govshare` itself, under the usage of all 21 commands,
    not of `up` whose options the user needed to see. The command that was given refuses the word, with its own
    usage, exit 2."""
    with pytest.raises(SystemExit) as refused:
        build_parser().parse_args(arguments)
    assert refused.value.code == 2
    said = capsys.readouterr().err
    assert said.startswith(f"usage: {command} ")
    assert said.endswith(f"{command}: error: unrecognized arguments: {unknown}\n")


def test_every_option_says_the_value_it_takes_when_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """`govshare up --help` did not say which port the platform takes without --port (50051), nor query's, report's
    or load-records' --system which demo system each calls as (social, authority, police: not the same one), nor
    report's --out where the files go (reports/), nor --log and --start-line theirs. An option whose default is a
    value names it in its help, beside the word "default"."""
    import argparse

    for variable in ("GOVSHARE_ZONE", "GOVSHARE_DATA_DIR", "GOVSHARE_SYSTEM_ID", "GOVSHARE_SYSTEM_SECRET"):
        monkeypatch.delenv(variable, raising=False)  # the defaults as a newcomer's shell has them
    unsaid = []

    def walk(parser: argparse.ArgumentParser, name: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for command, subparser in action.choices.items():
                    walk(subparser, f"{name} {command}")
            elif action.option_strings and action.default not in (None, False, "", 0, [], argparse.SUPPRESS):
                said = parser._get_formatter()._expand_help(action) if action.help else ""
                if "default" not in said or str(action.default) not in said:
                    unsaid.append(f"{name} {action.option_strings[-1]} (default {action.default})")

    walk(build_parser(), "govshare")
    assert unsaid == []


@pytest.mark.parametrize("arguments", [["up"], ["backup", "b.dump"], ["totp", "social.approver"]])
@pytest.mark.parametrize("given", ["", " "])
def test_an_empty_data_dir_is_refused_not_taken_for_the_current_directory(
        arguments: list[str], given: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`govshare up --data-dir "$DIR"` with DIR unset ran the platform in the current directory: its database (pg/),
    keys.json, demo credentials, edge/ and frontproc/ landed among the user's files (checked by hand in /tmp), as an
    empty GOVSHARE_DATA_DIR once did. The option is refused, exit 2, before anything is made."""
    with pytest.raises(SystemExit) as refused:
        build_parser().parse_args([*arguments, "--data-dir", given])
    assert refused.value.code == 2
    assert "argument --data-dir: empty: give a directory" in capsys.readouterr().err


def test_a_data_dir_is_trimmed_as_govshare_data_dir_is() -> None:
    assert build_parser().parse_args(["up", "--data-dir", " /srv/govshare "]).data_dir == "/srv/govshare"


def test_seeding_where_no_platform_runs_says_so_not_that_credentials_cannot_be_written(
        tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """`govshare seed --data-dir DIR` with no `govshare up` on DIR (a mistyped directory, one not made yet) said
    "--credentials: cannot write DIR/demo-credentials.json (No such file or directory)": an option the user never
    gave, and not the reason. It says that no `govshare up` runs there, and how to point at one."""
    from services.cli import main

    monkeypatch.delenv("GOVSHARE_DATABASE_URL", raising=False)
    missing = tmp_path / "no-platform"
    with pytest.raises(SystemExit) as refused:
        main(["seed", "--data-dir", str(missing)])
    assert str(refused.value.code) == (f"GOVSHARE_DATABASE_URL is not set and no `govshare up` is running on "
                                       f"{missing} (pass --data-dir or set GOVSHARE_DATA_DIR to its data directory)")
    assert not missing.exists()


@pytest.mark.parametrize("arguments, word", [(["--version"], "--version"), (["--port", "39000", "up"], "--port")])
def test_an_option_before_the_command_is_named_not_taken_for_a_missing_command(
        arguments: list[str], word: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`govshare --version`, or `govshare --port 39000 up` (the option before the command), was told "the following
    arguments are required: command": argparse looks for the command before it looks at the word. The word is
    named, and where the command goes."""
    with pytest.raises(SystemExit) as refused:
        build_parser().parse_args(arguments)
    assert refused.value.code == 2
    assert capsys.readouterr().err.endswith(f"govshare: error: unrecognized arguments: {word}: the command comes "
                                            "first (govshare up, govshare query …; govshare --help lists them), "
                                            "then its options\n")


@pytest.mark.parametrize("arguments", [["--help"], ["--he"], ["-h"]])
def test_govshare_help_is_still_help(arguments: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as helped:
        build_parser().parse_args(arguments)
    assert helped.value.code == 0
    assert "govshare load-records DATASET FILE" in capsys.readouterr().out
