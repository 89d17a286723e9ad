"""The 前置机's own access log: one JSON line per call served, in a file the department keeps.

A file, not a table: the department's database is the department's, and the 前置机 reads it with an
account that needs no write right. Each line names the platform's audit id of the access the call served,
the calling department, system and purpose, the assertion id, the dataset, the operation and how many
records left, so the department can reconcile its log with the platform's audit (AuditService). Keys are
not written: they are personal data (ID numbers) and the audit id already ties the line to the platform's
record of the access.

A refused call (no assertion, a replayed, expired or misdirected one, another signer's, or over the rate limit)
leaves a line too, with ``outcome`` ``REFUSED``, the gRPC status, the refusal's words and the network peer it
came from (and, past the assertion check, who the assertion names): a call that reached the 前置机 without the
platform's assertion is the one the department most needs to see, and it came through no edge that logged it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from logging.handlers import WatchedFileHandler
from pathlib import Path

from services.runtime.errors import ServiceError
from services.runtime.provider_assertions import VerifiedAssertion

#: The outcome of a line for a refused call.
REFUSED = "REFUSED"
#: How much of a refused call's dataset name is written: the caller chose it, and it is not a served dataset.
MAX_DATASET = 64


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


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
        claims = assertion.claims
        self._append({"time": _now(), "audit_id": claims.audit_id, "department_code": claims.department_code,
                      "system_id": claims.system_id, "purpose": claims.purpose, "assertion_id": assertion.jti,
                      "operation": operation, "dataset": dataset, "keys": keys, "records": records,
                      "outcome": outcome})

    def refused(self, operation: str, dataset: str, peer: str, error: ServiceError,
                assertion: VerifiedAssertion | None = None) -> None:
        """A line for a call refused before it was served: who (the peer; the assertion's names once it is
        verified), what it asked (operation and dataset, never a key) and why (status and the refusal's words)."""
        claims = assertion.claims if assertion is not None else None
        self._append({"time": _now(), "audit_id": claims.audit_id if claims else "",
                      "department_code": claims.department_code if claims else "",
                      "system_id": claims.system_id if claims else "", "purpose": claims.purpose if claims else "",
                      "assertion_id": assertion.jti if assertion is not None else "", "operation": operation,
                      "dataset": dataset[:MAX_DATASET], "keys": 0, "records": 0, "outcome": REFUSED,
                      "status": error.code.name, "reason": error.message, "peer": peer})

    def _append(self, line: dict[str, object]) -> None:
        handler = self._handler
        if handler is None:
            return
        # Not handler.emit: logging reports a failed write on stderr and goes on, and an answer must not leave
        # without its line.
        handler.reopenIfNeeded()
        handler.stream.write(json.dumps(line, ensure_ascii=False) + "\n")
        handler.stream.flush()


def write_problem(path: str) -> str | None:
    """Why the 前置机 could not write its access log at ``path``, or None; looked at without writing anything.

    Found at start, so that a path the 前置机 cannot write (a directory, a read-only mount such as the
    configuration's in a container, a directory of another user) stops it with the field's line: the server
    would otherwise retry opening it forever, saying only "dependencies not ready".
    """
    file = Path(path)
    if file.is_dir():
        return f"{file} is a directory: give a file name in it"
    if file.exists():
        return None if os.access(file, os.W_OK) else f"cannot write {file} ({_denied(file)})"
    parent = file.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        return f"cannot create {file}: {parent} is not a directory"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot create {file} in {parent} ({_denied(parent)})"
    return None


def _denied(path: Path) -> str:
    """Read-only file system or permission denied: what os.access's refusal was."""
    try:
        read_only = bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    return "read-only file system: give a path on a writable volume" if read_only else "permission denied"


def read(path: str) -> list[dict]:
    """Every line of the log (for reconciliation and tests)."""
    file = Path(path)
    if not file.exists():
        return []
    return [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
