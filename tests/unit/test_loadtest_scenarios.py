"""The Locust scenarios' calls, the labels they carry to the interceptor, and the one-command runner."""

from __future__ import annotations

import argparse
import importlib
import random
import sys
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
from google.protobuf import descriptor_pool
from stdnum.cn import ric, uscc

from govshare.common.v1 import common_pb2
from govshare.query.v1 import query_pb2
from loadtest import workloads
from loadtest.call_labels import (
    DUE_HEADER,
    EXPECT_HEADER,
    NAME_HEADER,
    GrpcStatusFailure,
    WrongAnswer,
    answer_problem,
    as_expected,
    grpc_target,
    split_labels,
)
from loadtest.run import USER_CLASSES, build_parser, locust_command
from loadtest.scenarios import (
    SCENARIOS,
    KeySpace,
    WeightedActions,
    batch_query,
    cold_query,
    entity_query,
    hot_query,
    refused_conditional,
    verify_name,
)
from services.foundation.synthetic import citizen_id_of

RESOURCES = {"人口基本信息": "101001/000001", "法人单位基本信息": "102001/000001",
             "在侦案件涉案人员信息": "301001/000001"}


@pytest.fixture(scope="module")
def keys() -> KeySpace:
    return KeySpace(persons=5000, seed=42, resources=RESOURCES, rng=random.Random(9))


def test_every_scenario_builds_well_formed_calls(keys: KeySpace) -> None:
    for name, actions in SCENARIOS.items():
        for action in actions:
            call = action(keys)
            assert call.method in workloads.RESPONSE_TYPES, name
            assert call.request.IsInitialized()
            # The request is the message the method takes (a mismatch would only show as a server-side error).
            service, _, method = call.method[1:].rpartition("/")
            descriptor = descriptor_pool.Default().FindServiceByName(service).methods_by_name[method]
            assert call.request.DESCRIPTOR is descriptor.input_type, (name, call.method)
            assert workloads.RESPONSE_TYPES[call.method].DESCRIPTOR is descriptor.output_type
            assert call.request.resource_code in RESOURCES.values()
            assert call.request.purpose.type != common_pb2.PURPOSE_TYPE_UNSPECIFIED  # R-USE-1
            assert call.name and call.expect in ("OK", "PERMISSION_DENIED NOT_SHARED", "PERMISSION_DENIED NOT_GRANTED")


def test_hot_keys_come_from_the_seeded_population(keys: KeySpace) -> None:
    population = {citizen_id_of(i, 42) for i in range(5000)}
    hot = [keys.hot_person() for _ in range(2000)]
    assert set(hot) <= population
    assert Counter(hot).most_common(1)[0][1] > 2000 / 20  # skewed: the top key alone takes a large share
    assert {keys.cold_person() for _ in range(200)} <= population
    assert all(uscc.is_valid(keys.entity()) for _ in range(20))


def test_absent_persons_are_valid_numbers_of_nobody_loaded(keys: KeySpace) -> None:
    population = {citizen_id_of(i, 42) for i in range(5000)}
    for _ in range(50):
        key = keys.absent_person()
        assert ric.is_valid(key) and key not in population


def test_the_mix_holds_refusals_that_succeed_only_when_refused(keys: KeySpace) -> None:
    mix = SCENARIOS["mix"]
    refusals = [action(keys) for action in mix if action(keys).expect != "OK"]
    assert {(call.request.resource_code, call.expect) for call in refusals} == {
        ("101001/000001", "PERMISSION_DENIED NOT_GRANTED"), ("301001/000001", "PERMISSION_DENIED NOT_SHARED")}
    conditional = refused_conditional(keys)
    assert set(conditional.request.items) - set(workloads.BASIC_PERSON_ITEMS)  # asks beyond the basic items
    refused_share = sum(weight for action, weight in mix.items() if action(keys).expect != "OK") / sum(mix.values())
    assert 0 < refused_share < 0.2


def test_verification_claims_are_mostly_true_some_wrong_some_absent(keys: KeySpace) -> None:
    true_names = dict(keys.verify_pool)
    outcomes = Counter()
    for _ in range(2000):
        request = verify_name(keys).request
        claimed = request.claims["name"]
        outcomes["absent" if request.key not in true_names else
                 "match" if true_names[request.key] == claimed else "mismatch"] += 1
    assert outcomes["match"] > outcomes["mismatch"] > outcomes["absent"] > 0


def test_a_verification_expects_the_outcome_its_claim_calls_for(keys: KeySpace) -> None:
    """A Verify is answered OK whatever it finds: a platform (or credentials of another population) that held none
    of the keys answered 库无 to every claim, and the run counted no failure."""
    true_names = dict(keys.verify_pool)
    for _ in range(200):
        call = verify_name(keys)
        request = call.request
        expected = ("NO_RECORD" if request.key not in true_names else
                    "MATCH" if true_names[request.key] == request.claims["name"] else "MISMATCH")
        reply = query_pb2.VerifyResponse(outcomes={"name": query_pb2.VerifyOutcome.Value(f"VERIFY_OUTCOME_{expected}")})
        assert answer_problem(call.answer, request, reply) == ""
        if expected != "NO_RECORD":
            absent = query_pb2.VerifyResponse(outcomes={"name": query_pb2.VERIFY_OUTCOME_NO_RECORD})
            assert answer_problem(call.answer, request, absent) == f"name NO_RECORD, expected {expected}"


def test_a_batch_expects_every_key_found(keys: KeySpace) -> None:
    """A BatchQuery is answered OK with found: false for keys nobody holds; the batch's keys are the seeded
    population's, so one not found is a wrong answer (the same key's Query fails NOT_FOUND)."""
    call = batch_query(keys)
    found = [query_pb2.BatchQueryResult(key=key, found=True, values={"citizen_id": key}) for key in call.request.keys]
    assert answer_problem(call.answer, call.request, query_pb2.BatchQueryResponse(results=found)) == ""
    for wrong in ([*found[:-1], query_pb2.BatchQueryResult(key=found[-1].key, found=False)],
                  [*found[:-1], query_pb2.BatchQueryResult(key=found[-1].key, found=True, error="invalid key")],
                  found[:-1], []):
        problem = answer_problem(call.answer, call.request, query_pb2.BatchQueryResponse(results=wrong))
        assert problem == "keys of the seeded population not found"
    assert repr(WrongAnswer(problem)) == "WRONG_ANSWER: keys of the seeded population not found"


def test_a_query_expects_the_record_of_its_key(keys: KeySpace) -> None:
    """A Query answered OK with another key's record (a cache or a provider mixing keys up: another person's data)
    counted as a success: only the status was read. Its key item must be the key asked for, read through the
    platform's mask."""
    for action, item in ((hot_query, "citizen_id"), (cold_query, "citizen_id"), (entity_query, "credit_code")):
        call = action(keys)
        key = call.request.key
        masked = key[:6] + "*" * (len(key) - 10) + key[-4:]
        other = key[:-1] + ("0" if key[-1] != "0" else "1")
        for shown in (key, masked, key.lower()):
            assert answer_problem(call.answer, call.request, query_pb2.QueryResponse(values={item: shown})) == "", shown
        for shown in (other, other[:6] + "*" * (len(key) - 10) + other[-4:], key[:-1]):
            reply = query_pb2.QueryResponse(values={item: shown})
            assert answer_problem(call.answer, call.request, reply) == f"{item} of another record", shown
        assert answer_problem(call.answer, call.request, query_pb2.QueryResponse()) == f"{item} not in the reply"


def test_a_batch_expects_each_key_answered_with_its_own_record(keys: KeySpace) -> None:
    """Every key found, but one answered with another key's record: counted as a success."""
    call = batch_query(keys)
    found = [query_pb2.BatchQueryResult(key=key, found=True, values={"citizen_id": key[:6] + "*" * 8 + key[-4:]})
             for key in call.request.keys]
    assert answer_problem(call.answer, call.request, query_pb2.BatchQueryResponse(results=found)) == ""
    other = next(result.key for result in found if result.key != found[-1].key)  # drawn uniformly, keys may repeat
    swapped = [*found[:-1], query_pb2.BatchQueryResult(key=found[-1].key, found=True, values={"citizen_id": other})]
    problem = answer_problem(call.answer, call.request, query_pb2.BatchQueryResponse(results=swapped))
    assert problem == "citizen_id of another record"


def test_batches_hold_one_hundred_keys(keys: KeySpace) -> None:
    request = batch_query(keys).request
    assert len(request.keys) == 100 and request.resource_code == "101001/000001"


def test_weighted_actions_keep_the_proportions() -> None:
    def a(_: KeySpace) -> None: ...
    def b(_: KeySpace) -> None: ...
    draw = WeightedActions({a: 3, b: 1}, rng=random.Random(4))
    counts = Counter(draw() for _ in range(40_000))
    assert counts[a] / counts[b] == pytest.approx(3, rel=0.05)
    with pytest.raises(ValueError):
        WeightedActions({a: 0})


def test_labels_are_taken_off_before_the_call_leaves() -> None:
    labels, sent = split_labels([("authorization", "Bearer t"), (NAME_HEADER, "Query person (hot)"),
                                 (EXPECT_HEADER, "PERMISSION_DENIED"), (DUE_HEADER, "12.5")])
    assert sent == [("authorization", "Bearer t")]
    assert labels == {NAME_HEADER: "Query person (hot)", EXPECT_HEADER: "PERMISSION_DENIED", DUE_HEADER: "12.5"}
    assert split_labels(None) == ({}, [])


def test_a_refusal_for_another_reason_than_expected_is_a_failure() -> None:
    assert as_expected("PERMISSION_DENIED NOT_SHARED", "PERMISSION_DENIED", "NOT_SHARED")
    assert not as_expected("PERMISSION_DENIED NOT_SHARED", "PERMISSION_DENIED", "SYSTEM_SUSPENDED")
    assert not as_expected("PERMISSION_DENIED NOT_SHARED", "OK", "")
    assert as_expected("OK", "OK", "") and not as_expected("OK", "UNAVAILABLE", "")


def test_failures_are_named_by_status() -> None:
    assert repr(GrpcStatusFailure("UNAVAILABLE")) == "UNAVAILABLE"
    assert repr(GrpcStatusFailure("PERMISSION_DENIED", "NOT_GRANTED")) == "PERMISSION_DENIED NOT_GRANTED"
    assert str(GrpcStatusFailure("OK", expected="PERMISSION_DENIED")) == "OK (expected PERMISSION_DENIED)"
    assert repr(GrpcStatusFailure("UNAUTHENTICATED", "UNAUTHENTICATED")) == "UNAUTHENTICATED"  # said once


@pytest.mark.parametrize(("given", "target"), [("127.0.0.1:50051", "127.0.0.1:50051"),
                                               ("grpc://gw.example:443/", "gw.example:443"),
                                               ("http://10.0.0.5:50051", "10.0.0.5:50051")])
def test_host_forms(given: str, target: str) -> None:
    assert grpc_target(given) == target


@pytest.mark.parametrize("given", ["127.0.0.1", "gw.example", "grpc://gw.example/", "127.0.0.1:", "gw:https",
                                   "gw:0", "gw:70000", ":50051"])
def test_a_host_without_a_usable_port_is_refused(given: str, capsys: pytest.CaptureFixture[str]) -> None:
    """gRPC would dial port 443 and fail every call of the run UNAVAILABLE."""
    with pytest.raises(ValueError, match="is not HOST:PORT"):
        grpc_target(given)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--host", given])
    assert f"argument --host: {given!r} is not HOST:PORT" in capsys.readouterr().err


def test_run_names_an_out_directory_it_cannot_make(tmp_path: Path) -> None:
    from loadtest.run import main
    from services.demo import DemoCredentials

    credentials = tmp_path / "c.json"
    DemoCredentials(gateway="127.0.0.1:50051", persons=10, systems={"social": {"system_id": "s", "secret": "x"}}
                    ).save(credentials)
    taken = tmp_path / "results"
    taken.write_text("a file", encoding="utf-8")
    with pytest.raises(SystemExit, match=f"--out {taken}: File exists: give a directory"):
        main(["--credentials", str(credentials), "--out", str(taken)])


def test_run_builds_a_headless_locust_command(tmp_path: Path) -> None:
    args = build_parser().parse_args(["--scenario", "hot", "--users", "20", "--duration", "30s",
                                      "--credentials", str(tmp_path / "c.json"), "--out", str(tmp_path),
                                      "--name", "run1"])
    command = locust_command(args, ["--loglevel", "WARNING"])
    assert command[:3] == [sys.executable, "-m", "locust"]
    assert command[-1] == USER_CLASSES["hot"] == "HotKeys"
    for flag, value in (("--users", "20"), ("--run-time", "30s"), ("--csv", str(tmp_path / "run1")),
                        ("--html", str(tmp_path / "run1.html")), ("--scenario", "hot")):
        assert command[command.index(flag) + 1] == value
    assert "--headless" in command and "--loglevel" in command and "--host" not in command


def test_run_with_a_rate_is_open_loop_against_the_given_host(tmp_path: Path) -> None:
    args = build_parser().parse_args(["--scenario", "mix", "--rate", "800", "--host", "10.0.0.5:50051",
                                      "--out", str(tmp_path)])
    command = locust_command(args, [])
    assert command[-1] == "ConstantRate"
    assert command[command.index("--rate") + 1] == "800.0"
    assert command[command.index("--host") + 1] == "10.0.0.5:50051"
    assert "--wait-for-platform" not in command  # the first IssueToken not reaching it stops the run


def test_run_passes_on_how_long_to_wait_for_a_platform_still_starting(tmp_path: Path) -> None:
    args = build_parser().parse_args(["--wait-for-platform", "45", "--out", str(tmp_path)])
    command = locust_command(args, [])
    assert command[command.index("--wait-for-platform") + 1] == "45.0"


def _bench_parser() -> argparse.ArgumentParser:
    from loadtest.bench import build_parser as bench_parser

    return bench_parser()


def _parser_of(module: str) -> argparse.ArgumentParser:
    """The argument parser of loadtest.<module>."""
    return importlib.import_module(f"loadtest.{module}").build_parser()


@pytest.mark.parametrize("parser, arguments, says", [
    # loadtest.run: Locust ran a --duration of 0s until stopped, a --rate of 0 or below as a closed loop or one
    # call, and answered --users 0 with an error about --spawn-rate.
    (build_parser, ["--users", "0"], "--users: must be more than 0"),
    (build_parser, ["--users", "many"], "--users: 'many' is not a whole number"),
    (build_parser, ["--rate", "0"], "--rate: must be more than 0"),
    (build_parser, ["--rate", "-5"], "--rate: must be more than 0"),
    (build_parser, ["--rate", "nan"], "--rate: must be more than 0"),
    (build_parser, ["--pace", "-1"], "--pace: must be more than 0"),
    (build_parser, ["--rate", "5", "--pace", "2"], "--pace: not allowed with argument --rate"),
    (build_parser, ["--spawn-rate", "0"], "--spawn-rate: must be more than 0"),
    (build_parser, ["--duration", "0s"], "--duration: must be longer than 0"),
    (build_parser, ["--duration", "abc"], "--duration: 'abc' is not a duration"),
    (build_parser, ["--processes", "0"], "--processes: must be -1 (one per core) or at least 1"),
    # loadtest.bench: refused before the platform starts (minutes at 10^7 persons), not by a division by zero.
    (_bench_parser, ["--rounds", "0"], "--rounds: must be more than 0"),
    (_bench_parser, ["--duration", "0"], "--duration: must be more than 0"),
    (_bench_parser, ["--open-duration", "-5"], "--open-duration: must be more than 0"),
    (_bench_parser, ["--concurrency", "0"], "--concurrency: must be more than 0"),
    (_bench_parser, ["--warmup", "-1"], "--warmup: must be at least 0"),
    (_bench_parser, ["--persons", "inf"], "--persons: 'inf' is not a whole number"),
    (_bench_parser, ["--duration", "inf"], "--duration: must be more than 0"),
    # --baseline was first read after the whole run (an hour at 10^7 persons), then a traceback, nothing saved.
    (_bench_parser, ["--baseline", "/nonexistent/bench-1.json"], "--baseline: /nonexistent/bench-1.json: No such file"),
    (_bench_parser, ["--baseline", str(Path(__file__))], "is not a benchmark's results file"),
    # The other load tools: each started a platform (or PostgreSQL, and filled it) before it failed or measured
    # nothing, or ended in a traceback.
    (partial(_parser_of, "breakdown"), ["--rate", "0"], "--rate: must be more than 0"),
    (partial(_parser_of, "breakdown"), ["--seconds", "0"], "--seconds: must be more than 0"),
    (partial(_parser_of, "breakdown"), ["--repeat", "0"], "--repeat: must be more than 0"),
    (partial(_parser_of, "breakdown"), ["--env", "GOVSHARE_AUDIT_LINGER_MS"], "--env: expected NAME=VALUE"),
    (partial(_parser_of, "breakdown"), ["--variant", "sideways"], "--variant: 'sideways' is neither NAME=VALUE"),
    (partial(_parser_of, "profile"), ["--seconds", "0"], "--seconds: must be more than 0"),
    (partial(_parser_of, "profile"), ["--rate", "-5"], "--rate: must be at least 0"),
    (partial(_parser_of, "profile"), ["--workers", "0"], "--workers: must be more than 0"),
    (partial(_parser_of, "layers"), ["--duration", "0"], "--duration: must be more than 0"),
    (partial(_parser_of, "layers"), ["--only", "bare,proxi"], "--only: proxi: choose from bare"),
    (partial(_parser_of, "paging_bench"), ["--repeat", "0"], "--repeat: must be more than 0"),
    (partial(_parser_of, "paging_bench"), ["--seconds", "-1"], "--seconds: must be more than 0"),
    (partial(_parser_of, "search_bench"), ["--rounds", "0"], "--rounds: must be more than 0"),
    (partial(_parser_of, "search_bench"), ["--sizes", "10000,1m"], "--sizes: '1m' is not a whole number"),
    (partial(_parser_of, "supervision_bench"), ["--rows", "0"], "--rows: must be more than 0"),
    (partial(_parser_of, "supervision_bench"), ["--month", "2026-13"], "--month: expected YYYY-MM"),
])
def test_the_load_tools_refuse_numbers_that_would_measure_nothing(
        parser: Callable[[], argparse.ArgumentParser], arguments: list[str], says: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as refused:
        parser().parse_args(arguments)
    assert refused.value.code == 2
    assert says in capsys.readouterr().err


@pytest.mark.parametrize("duration", ["20", "20s", "3m", "2h", "1h20m", "3h30m10s"])
def test_run_takes_locusts_durations(duration: str) -> None:
    assert build_parser().parse_args(["--duration", duration]).duration == duration


@pytest.mark.parametrize("only", ["", ",", " , "])
def test_bench_needs_at_least_one_phase(only: str) -> None:
    from loadtest.bench import options_from

    with pytest.raises(SystemExit, match="--only: name at least one phase"):
        options_from(_bench_parser().parse_args(["--only", only]))


def test_the_open_loop_window_can_be_longer_than_the_closed_loops() -> None:
    from loadtest.bench import build_parser, options_from

    longer = options_from(build_parser().parse_args(["--open-duration", "30"])).load
    assert (longer.window("closed"), longer.window("open")) == (10.0, 30.0)
    same = options_from(build_parser().parse_args([])).load
    assert (same.window("closed"), same.window("open")) == (10.0, 10.0)
    quick = options_from(build_parser().parse_args(["--quick", "--open-duration", "30"])).load
    assert (quick.window("closed"), quick.window("open")) == (3.0, 3.0)


def test_every_benchmark_command_the_docs_print_parses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """performance.md's `python -m loadtest.bench …` lines are what engineers copy: each names real options and
    phases (a renamed flag or phase fails here, not in someone's terminal)."""
    import json
    import re
    import shlex

    from loadtest.bench import build_parser, options_from

    doc = (Path(__file__).resolve().parents[2] / "docs" / "performance.md").read_text(encoding="utf-8")
    commands = re.findall(r"^python -m loadtest\.bench([^#\n]*)", doc, re.M)
    assert len(commands) >= 8
    # --baseline is read as it is parsed: the reader's own results file, here a minimal one where the docs say.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "loadtest" / "results").mkdir(parents=True)
    (tmp_path / "loadtest" / "results" / "placeholder.json").write_text(
        json.dumps({"persons": 50_000, "measurements": {}}), encoding="utf-8")
    for command in commands:
        # <10k run>: a file of the reader's own; "...": the rest of their command
        words = [word for word in shlex.split(re.sub(r"<[^>]*>", "placeholder", command)) if word != "..."]
        bench = options_from(build_parser().parse_args(words))
        assert bench.phases, command
    rounds = options_from(build_parser().parse_args(["--only", "peer,peer-edge,hit", "--rounds", "3"]))
    assert rounds.rounds == 3 and rounds.phases == ("peer", "peer-edge", "hit")


def test_every_load_tool_command_capacity_md_prints_parses() -> None:
    """docs/capacity.md's `python -m loadtest.…` commands are what an engineer copies to redo a figure: each names
    real options of its tool (audit_bench and summary_ab took any int, and summary_ab any path, until they failed
    after loading the rows)."""
    import re
    import shlex

    from loadtest import audit_bench, bench, summary_ab

    root = Path(__file__).resolve().parents[2]
    doc = (root / "docs" / "capacity.md").read_text(encoding="utf-8")
    commands = re.findall(r"python -m loadtest\.(\w+)([^`]*)`", doc)
    assert {tool for tool, _ in commands} == {"bench", "audit_bench", "summary_ab"}
    for tool, rest in commands:
        # <a checkout of …>: this one stands in; --rows N: the prose's own number
        words = ["1000" if word == "N" else word for word in shlex.split(re.sub(r"<[^>]*>", str(root), rest))]
        if tool == "bench":
            assert bench.options_from(bench.build_parser().parse_args(words)).phases
        elif tool == "audit_bench":
            assert audit_bench.parse_arguments(words).rows > 0
        else:
            assert summary_ab.build_parser().parse_args(words).samples > 0


@pytest.mark.parametrize(("tool", "argv", "message"), [
    ("audit_bench", ["--rows", "0"], "argument --rows: must be more than 0, got 0"),
    ("audit_bench", ["--samples", "-1"], "argument --samples: must be more than 0, got -1"),
    ("audit_bench", ["--interval", "0"], "argument --interval: must be more than 0, got 0"),
    ("audit_bench", ["--data-dir", "/tmp/x"], "--data-dir keeps the platform of --edge"),
    ("summary_ab", ["--old-tree", "/nonexistent", "--rows", "10"], "/nonexistent holds no services/query/store.py"),
    ("summary_ab", ["--old-tree", ".", "--samples", "0"], "argument --samples: must be more than 0, got 0"),
])
def test_the_audit_tools_refuse_what_would_fail_after_loading_the_rows(
        tool: str, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    from loadtest import audit_bench, summary_ab

    parse = audit_bench.parse_arguments if tool == "audit_bench" else summary_ab.build_parser().parse_args
    with pytest.raises(SystemExit) as exit_:
        parse(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


async def test_the_supervision_bench_drops_the_database_it_filled(embedded) -> None:  # type: ignore[no-untyped-def]
    """supervision_bench fills a database of its own with a month of audit rows (10^7 by default): on the operator's
    server (GOVSHARE_DATABASE_URL) each run left it behind. It is dropped once the figures are taken."""
    import asyncpg

    from loadtest.supervision_bench import run
    from services.supervision.months import Month

    figures = await run(embedded.database_url, 200, Month(2026, 10))
    assert figures["rows"] == 200
    conn = await asyncpg.connect(embedded.database_url)
    try:
        left = await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE 'govshare_bench_%'")
    finally:
        await conn.close()
    assert left == []


def test_runs_of_one_scenario_started_in_the_same_second_keep_their_files_apart(tmp_path: Path) -> None:
    """The results' default name was the scenario and the second the run started: two runs started together wrote
    the same files, the later's over the earlier's. Each run now claims its own name (its report's file)."""
    args = build_parser().parse_args(["--scenario", "hot", "--out", str(tmp_path)])
    commands = [locust_command(args, []) for _ in range(3)]
    prefixes = [command[command.index("--csv") + 1] for command in commands]
    assert len(set(prefixes)) == 3, prefixes
    assert all(Path(f"{prefix}.html").exists() for prefix in prefixes)  # claimed until Locust writes its report
