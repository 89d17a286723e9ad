"""The 前置机's own access log: one JSON line per call served, in a file the department keeps.

A file, not a table: the department's database is the department's, and the 前置机 reads it with an
account that needs no write right. Each line names the platform's audit id of the access the call served,
the calling department, system and purpose, the assertion id, the dataset, the operation and how many
records left, so the department can reconcile its log with the platform's audit (AuditService). Keys are
not written: they are personal data (ID numbers) and the audit id already ties the line to the platform's
record of the access.
"""

from __future__ import annotations

import datetime as dt
import json
from logging.handlers import WatchedFileHandler
from pathlib import Path

from services.runtime.provider_assertions import VerifiedAssertion


class AccessLog:
    """Appends lines, flushed at once (a line is on disk when the answer leaves, or the call fails).

    A department rotates the file as it rotates its other logs (logrotate moves or removes it): the file is
    opened again at its path when the one held is no longer there, as the standard library's
    WatchedFileHandler does, whose check this uses. Written to the moved file, the lines after a rotation
    went to the archive; written to a removed one, they were lost.
    """

    def __init__(self, path: str) -> None:
        self._path = Path(path)
        self._handler: WatchedFileHandler | None = None

    def open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._handler = WatchedFileHandler(self._path, encoding="utf-8")

    def close(self) -> None:
        if self._handler is not None:
            self._handler.close()
            self._handler = None

    def write(self, assertion: VerifiedAssertion, operation: str, dataset: str, keys: int, records: int,
              outcome: str = "OK") -> None:
        handler = self._handler
        if handler is None:
            return
        claims = assertion.claims
        line = {"time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"), "audit_id": claims.audit_id,
                "department_code": claims.department_code, "system_id": claims.system_id,
                "purpose": claims.purpose, "assertion_id": assertion.jti, "operation": operation,
                "dataset": dataset, "keys": keys, "records": records, "outcome": outcome}
        # Not handler.emit: logging reports a failed write on stderr and goes on, and an answer must not leave
        # without its line.
        handler.reopenIfNeeded()
        handler.stream.write(json.dumps(line, ensure_ascii=False) + "\n")
        handler.stream.flush()


def read(path: str) -> list[dict]:
    """Every line of the log (for reconciliation and tests)."""
    file = Path(path)
    if not file.exists():
        return []
    return [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
