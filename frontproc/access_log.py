"""The 前置机's own access log: one JSON line per call served, in a file the department keeps.

A file, not a table: the department's database is the department's, and the 前置机 reads it with an
account that needs no write right. Each line names the platform's audit id of the access the call served,
the calling department, system and purpose, the assertion id, the dataset, the operation and how many
records left, so the department can reconcile its log with the platform's audit (AuditService). Keys are
not written: they are personal data (ID numbers) and the audit id already ties the line to the platform's
record of the access. A call that failed once admitted (the database refused or went away, the platform's call
ended) leaves its line as well, ``outcome`` ``FAILED`` with the status the platform got: an export cut midway had
sent records.

A refused call (no assertion, a replayed, expired or misdirected one, another signer's, or over the rate limit)
leaves a line too, with ``outcome`` ``REFUSED``, the gRPC status, the refusal's words and the network peer it
came from (and, past the assertion check, who the assertion names): a call that reached the 前置机 without the
platform's assertion is the one the department most needs to see, and it came through no edge that logged it.
A refusal before the assertion was verified is written at most once a second for each peer host, status and kind
of refusal (``RefusalThrottle``): the refusals in between are counted in the next line's ``suppressed``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from logging.handlers import WatchedFileHandler
from pathlib import Path

from services.runtime.errors import ServiceError, dependency_unavailable, masked
from services.runtime.provider_assertions import VerifiedAssertion

log = logging.getLogger(__name__)
#: The dependency a call is UNAVAILABLE for while the access log cannot be written.
UNWRITABLE = "access log"
#: The outcome of a line for a refused call.
REFUSED = "REFUSED"
#: How much of a refused call's dataset name is written: the caller chose it, and it is not a served dataset.
MAX_DATASET = 64
#: What a refused call's line says of a dataset this 前置机 does not serve, asked by a call the platform did not sign.
NOT_SERVED_DATASET = "(not served here: withheld)"
#: An unverified refused call of one peer host, status and kind is written at most once in this many seconds.
REFUSAL_WINDOW_SECONDS = 1.0
#: How many (peer host, status, kind) a throttle follows at once; beyond it, like refusals share one count.
MAX_REFUSAL_KEYS = 4096
#: The key the refusals share while the throttle follows MAX_REFUSAL_KEYS others.
_OVERFLOW = ("(many peers)", "", "")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def _host(peer: str) -> str:
    """``ipv4:10.0.0.9`` of gRPC's ``ipv4:10.0.0.9:51000``: a flood opens a connection per call, each its own port."""
    return peer.rsplit(":", 1)[0] if peer.count(":") > 1 else peer


def _kind(reason: str) -> str:
    """A refusal's words before their details (``platform assertion is for another endpoint`` of ``... (audience):
    it names 'x'``): the details may be the caller's, and one kind is one line a second."""
    return re.split(r"[:(]", reason, maxsplit=1)[0].strip()[:MAX_DATASET]


@dataclass
class _Seen:
    written_at: float
    suppressed: int = 0


class RefusalThrottle:
    """Which unverified refusals get a line of their own: one a second per (peer host, status, kind), the rest
    counted.

    Anyone who can reach a 前置机 could make it write a line per call sent without a valid assertion, before any
    rate limit applies (the limit is taken after the assertion is verified), and fill its disk. The key has no
    caller-chosen text (a dataset, or the endpoint an assertion names, would make every call a new key: the kind
    is the refusal's words before any such detail, ``_kind``), and at most
    MAX_REFUSAL_KEYS are followed, so the lines written are bounded by the peers, not the calls. A call whose
    assertion was verified (refused over the rate limit) is the platform's, each with its own audit id, and is
    always written.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._seen: dict[tuple[str, str, str], _Seen] = {}

    def admit(self, key: tuple[str, str, str]) -> int | None:
        """None when this refusal is only counted; else how many like it were not written since the last line."""
        now = self._clock()
        if key not in self._seen and len(self._seen) >= MAX_REFUSAL_KEYS:
            self._forget_quiet(now)
            if len(self._seen) >= MAX_REFUSAL_KEYS:
                key = _OVERFLOW
        seen = self._seen.get(key)
        if seen is not None and now - seen.written_at < REFUSAL_WINDOW_SECONDS:
            seen.suppressed += 1
            return None
        self._seen[key] = _Seen(now)
        return seen.suppressed if seen is not None else 0

    def pending(self) -> list[tuple[tuple[str, str, str], int]]:
        """The counts not yet written (at close), and forget everything."""
        counts = [(key, seen.suppressed) for key, seen in self._seen.items() if seen.suppressed]
        self._seen.clear()
        return counts

    def _forget_quiet(self, now: float) -> None:
        """Keys whose second has passed with nothing counted: their next refusal is written as a new one."""
        for key in [key for key, seen in self._seen.items()
                    if not seen.suppressed and now - seen.written_at >= REFUSAL_WINDOW_SECONDS]:
            del self._seen[key]


class AccessLog:
    """Appends lines, flushed at once (a line is on disk when the answer leaves, or the call fails).

    A department rotates the file as it rotates its other logs (logrotate moves or removes it): the file is
    opened again at its path when the one held is no longer there, as the standard library's
    WatchedFileHandler does, whose check this uses. Written to the moved file, the lines after a rotation
    went to the archive; written to a removed one, they were lost.
    """

    def __init__(self, path: str, throttle: RefusalThrottle | None = None) -> None:
        self._path = Path(path)
        self._handler: WatchedFileHandler | None = None
        self._throttle = throttle or RefusalThrottle()
        #: Why the last line could not be written (None while lines are written): said once, until one is.
        self._failing: str | None = None

    def open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._handler = WatchedFileHandler(self._path, encoding="utf-8")

    def close(self) -> None:
        """Writes the refusals counted and not yet written (a flood's last second), then closes the file."""
        for (host, status, kind), count in self._throttle.pending():
            with contextlib.suppress(ServiceError):  # said when it could not be written
                self._append({"time": _now(), "audit_id": "", "department_code": "", "system_id": "",
                              "purpose": "", "assertion_id": "", "operation": "", "dataset": "", "keys": 0,
                              "records": 0, "outcome": REFUSED, "status": status, "peer": host,
                              "suppressed": count,
                              "reason": f"{kind}: refusals not written one by one before the 前置机 stopped"})
        if self._handler is not None:
            with contextlib.suppress(OSError, ValueError):  # a file that cannot be written: nothing more to do
                self._handler.close()
            self._handler = None

    def write(self, assertion: VerifiedAssertion, operation: str, dataset: str, keys: int, records: int,
              outcome: str = "OK", skipped: int = 0, status: str = "", reason: str = "") -> None:
        """A line for a call served; ``skipped``, the records an export left out, only when there were some;
        ``status`` and ``reason``, for a call that failed, what the platform got and why."""
        claims = assertion.claims
        line: dict[str, object] = {
            "time": _now(), "audit_id": claims.audit_id, "department_code": claims.department_code,
            "system_id": claims.system_id, "purpose": claims.purpose, "assertion_id": assertion.jti,
            "operation": operation, "dataset": dataset, "keys": keys, "records": records, "outcome": outcome}
        if skipped:
            line["skipped"] = skipped
        if status:
            line.update(status=status, reason=reason)
        self._append(line)

    def refused(self, operation: str, dataset: str, peer: str, error: ServiceError,
                assertion: VerifiedAssertion | None = None) -> None:
        """A line for a call refused before it was served: who (the peer; the assertion's names once it is
        verified), what it asked (operation and dataset, never a key) and why (status and the refusal's words, a
        公民身份号码 they quote masked as the platform's refusals are).

        Without a verified assertion, at most one a second per peer host, status and kind of refusal;
        ``suppressed`` counts the like refusals since that key's last line that were not written."""
        claims = assertion.claims if assertion is not None else None
        suppressed = 0 if claims else self._throttle.admit((_host(peer), error.code.name, _kind(error.message)))
        if suppressed is None:
            return
        line: dict[str, object] = {
            "time": _now(), "audit_id": claims.audit_id if claims else "",
            "department_code": claims.department_code if claims else "",
            "system_id": claims.system_id if claims else "", "purpose": claims.purpose if claims else "",
            "assertion_id": assertion.jti if assertion is not None else "", "operation": operation,
            "dataset": dataset[:MAX_DATASET], "keys": 0, "records": 0, "outcome": REFUSED,
            "status": error.code.name, "reason": masked(error.message), "peer": peer}
        if suppressed:
            line["suppressed"] = suppressed
        self._append(line)

    def _append(self, line: dict[str, object]) -> None:
        """Writes ``line``; UNAVAILABLE (dependency "access log") when it cannot be (see _unwritable)."""
        if self._handler is None:
            return
        # Not handler.emit: logging reports a failed write on stderr and goes on, and an answer must not leave
        # without its line.
        try:
            if self._failing is not None:
                # A fresh file object: the one that failed still held the line it could not write, which a later
                # write would have put in the file for a call that was refused.
                self._handler = WatchedFileHandler(self._path, encoding="utf-8")
            handler = self._handler
            handler.reopenIfNeeded()
            handler.stream.write(json.dumps(line, ensure_ascii=False) + "\n")
            handler.stream.flush()
        except OSError as error:
            raise self._unwritable(error) from error
        if self._failing is not None:
            self._failing = None
            log.info("the access log %s is written again: the platform's calls are served", self._path)

    def _unwritable(self, error: OSError) -> ServiceError:
        """The call's refusal when its line cannot be written (a full disk, a volume remounted read-only), said in
        the department's log once until a line is written again.

        The OSError went up as it was: the 前置机 logged each call as "network unavailable (OSError: [Errno 28] No
        space left on device)", the data officer looking for a network fault, and the line the failed file object
        still held was written with the next one that could be, for a call the platform had been refused."""
        if self._handler is not None and self._handler.stream is not None:
            with contextlib.suppress(OSError, ValueError):
                self._handler.stream.close()  # its buffer (the line not written) goes with it
        why = error.strerror or type(error).__name__
        if self._failing != why:
            self._failing = why
            log.error("the access log %s cannot be written (%s): the platform's calls are refused (UNAVAILABLE) "
                      "until it can, as none is answered without its line: free space on its volume, or make it "
                      "writable again (a volume remounted read-only?)", self._path, why)
        return dependency_unavailable(UNWRITABLE)


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
