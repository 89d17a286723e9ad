"""A pytest plugin: no log line of the test run may carry a 公民身份号码 or a 统一社会信用代码.

Every record any logger emits during the run (the in-process servers included) reaches a
handler on the root logger, at INFO and above (the level the services run at), whatever
the handlers pytest or the services install. The record's formatted message, its exception
text and its stack are searched for 18-character candidates whose check character python-stdnum
confirms (services.runtime.identifiers.personal_identifiers). A test during which such a line
was logged fails in its teardown, naming the logger and the line; a line logged outside any
test (session fixtures, background tasks after the last test) fails the session.

Registered by tests/conftest.py (``pytest_plugins``); tests/unit/test_log_scanner.py proves it
fails a run that logs one of the demo data's keys.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from services.runtime.identifiers import personal_identifiers, redact_identifiers

SCAN_LEVEL = logging.INFO


class PersonalDataLogScanner(logging.Handler):
    """Collects a description of every record that carries a personal identifier."""

    def __init__(self) -> None:
        super().__init__(level=SCAN_LEVEL)
        self.leaks: list[str] = []
        #: Leaks logged outside any test, reported when the session ends.
        self.outside: list[str] = []
        self._traceback = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logging module's problem, not a leak
            message = str(record.msg)
        texts = [message]
        if record.exc_text:
            texts.append(record.exc_text)
        elif record.exc_info:
            texts.append(self._traceback.formatException(record.exc_info))
        if record.stack_info:
            texts.append(record.stack_info)
        found = [identifier for text in texts for identifier in personal_identifiers(text)]
        if found:
            # The report itself shows the line redacted: test output ends up in CI logs too.
            self.leaks.append(f"{record.levelname} {record.name} ({record.pathname}:{record.lineno}): "
                              f"{len(found)} identifier(s) in {redact_identifiers(message)[:300]!r}")

    def take(self) -> list[str]:
        leaks, self.leaks = self.leaks, []
        return leaks


_KEY = pytest.StashKey[PersonalDataLogScanner]()


def pytest_configure(config: pytest.Config) -> None:
    scanner = PersonalDataLogScanner()
    config.stash[_KEY] = scanner
    root = logging.getLogger()
    root.addHandler(scanner)
    if root.getEffectiveLevel() > SCAN_LEVEL:
        root.setLevel(SCAN_LEVEL)


def pytest_unconfigure(config: pytest.Config) -> None:
    scanner = config.stash.get(_KEY, None)
    if scanner is not None:
        logging.getLogger().removeHandler(scanner)


@pytest.fixture(autouse=True)
def no_personal_data_in_logs(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails the test (in its teardown) when anything logged while it ran names a person or an entity."""
    scanner = request.config.stash[_KEY]
    scanner.outside.extend(scanner.take())
    yield
    leaks = scanner.take()
    if leaks:
        pytest.fail("personal data in the logs:\n" + "\n".join(leaks), pytrace=False)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    scanner = session.config.stash.get(_KEY, None)
    leaks = [*scanner.outside, *scanner.take()] if scanner is not None else []
    if leaks:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        text = "personal data logged outside any test:\n" + "\n".join(leaks)
        if reporter is not None:
            reporter.write_line(text, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
