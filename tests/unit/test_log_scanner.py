"""The log scanner (tests/log_scanner.py) catches the demo data's keys, and fails a run that logs one.

Also the production side: the services' log handler redacts identifiers from text the code did
not choose (an exception quoting a value).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import textwrap
from pathlib import Path

import pytest
from log_scanner import PersonalDataLogScanner

from services.foundation.synthetic import citizen_id_of, credit_code_of
from services.runtime.identifiers import personal_identifiers, redact_identifiers
from services.runtime.telemetry import JsonFormatter, PersonalDataFilter

DEMO_KEYS = [citizen_id_of(i) for i in range(20)] + [credit_code_of(i) for i in range(20)]
CLEAN = [
    "trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7",
    "hash " + "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "region 110105, resource 101001/000001, port 50051, 1701234567890123456 ns",
    "grant 3f2b1c4e-8d7a-4b6e-9c1d-2e3f4a5b6c7d used 12 of 100",
]


def test_every_demo_key_is_found_and_redacted() -> None:
    for key in DEMO_KEYS:
        line = f"could not announce the change of rec:population:{key} (ConnectionError)"
        assert personal_identifiers(line) == [key]
        assert key not in redact_identifiers(line)
    # A lower-case check character is still the person's number.
    lower = next(key for key in (citizen_id_of(i) for i in range(200)) if key.endswith("X")).lower()
    assert personal_identifiers(f"key={lower}") == [lower]


def test_every_form_a_number_is_typed_in_is_found_and_redacted() -> None:
    """Only an 18-character run with a right check character was redacted: a number mistyped in its last digit
    (a person's all the same), typed in groups, in full width from a Chinese keyboard, or a credit code in lower
    case went to the log whole."""
    key, code = DEMO_KEYS[3], DEMO_KEYS[-2]
    wrong_check = key[:17] + ("1" if key[17] != "1" else "2")
    full_width = key.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789X"})
    for written in (wrong_check, f"{key[:6]} {key[6:14]} {key[14:]}", f"{key[:6]}-{key[6:14]}-{key[14:]}",
                    full_width, code.lower()):
        line = f"could not read the record of {written} (DataError)"
        assert personal_identifiers(line) == [written]
        assert redact_identifiers(line) == "could not read the record of [redacted] (DataError)"


def test_lines_without_identifiers_are_left_alone() -> None:
    for line in CLEAN:
        assert personal_identifiers(line) == []
        assert redact_identifiers(line) == line


def test_the_scanner_catches_a_planted_line_its_arguments_and_exception_text() -> None:
    scanner = PersonalDataLogScanner()
    logger = logging.getLogger("tests.planted")
    logger.addHandler(scanner)
    logger.propagate = False
    try:
        for line in CLEAN:
            logger.warning(line)
        assert scanner.take() == []
        logger.warning("dispute change of %s %s not announced", "101001/000001", DEMO_KEYS[0])
        try:
            raise KeyError(DEMO_KEYS[-1])
        except KeyError:
            logger.exception("unexpected error")
        leaks = scanner.take()
        assert len(leaks) == 2
        assert all(key not in leak for leak in leaks for key in DEMO_KEYS)  # the report redacts too
    finally:
        logger.removeHandler(scanner)
        logger.propagate = True


def test_a_run_that_logs_a_demo_key_fails(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """The plugin end to end, in a separate pytest process (so this run's own scanner sees nothing)."""
    pytester.makepyfile(test_planted=textwrap.dedent(f"""
        import logging

        def test_logs_a_key():
            logging.getLogger("services.query.dispute_servicer").warning(
                "could not announce the dispute change of %s", {DEMO_KEYS[3]!r})

        def test_logs_a_credit_code_in_an_exception():
            try:
                raise ValueError("invalid input for query argument $1: {DEMO_KEYS[-3]}")
            except ValueError:
                logging.getLogger("services.query.audit").exception("audit write failed")

        def test_logs_nothing_personal():
            logging.getLogger("services.query.records").warning("record cache unavailable (%s)", "timeout")
    """))
    tests = Path(__file__).resolve().parent.parent
    paths = [str(tests), str(tests.parent), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))
    result = pytester.runpytest_subprocess("-p", "log_scanner", "-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, errors=2)
    result.stdout.fnmatch_lines(["personal data in the logs:",
                                 "WARNING services.query.dispute_servicer *: 1 identifier(s) in "
                                 "'could not announce the dispute change of [[]redacted]'"])


def test_the_service_log_handler_redacts_messages_and_exceptions() -> None:
    record = logging.LogRecord("services.query", logging.ERROR, __file__, 1, "lookup of %s failed", (DEMO_KEYS[1],),
                               None)
    try:
        raise KeyError(DEMO_KEYS[2])
    except KeyError:
        record.exc_info = sys.exc_info()
    assert PersonalDataFilter().filter(record)
    line = JsonFormatter("query").format(record)
    entry = json.loads(line)
    assert "[redacted]" in entry["message"] and "[redacted]" in entry["exception"]
    assert all(key not in line for key in DEMO_KEYS)
