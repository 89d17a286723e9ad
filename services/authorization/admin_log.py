"""The administrative log (DESIGN: authorization owns it): who changed what on the platform.

Authorization appends its own actions in the transaction of the action (see the
store). Catalog and foundation deliver theirs from their outboxes through the
internal AppendEvents (services.runtime.admin_events), idempotent by event id; the
recording service is the caller's verified service identity, never a request field.
Only the authority reads the log (ListAdminEvents) and checks its chain
(VerifyAdminLog, services.runtime.hashchain).

The chain hash is unkeyed, so on its own it cannot show that the log's last rows,
or all of it, were deleted. Authorization therefore signs the log's head (the
shared construction of services.runtime.checkpoints, under this log's own context)
at a fixed interval and when it stops, keeps the checkpoints in their own table,
and lets the authority export them to keep off the platform (ExportAdminLogCheckpoints).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from services.authorization.roles import require_authority, require_service
from services.runtime import checkpoints, duties, hashchain, pagination
from services.runtime.admin_actions import ACTIONS, action_problem
from services.runtime.admin_events import AdminEvent, refusals_logged
from services.runtime.duties import AUDITOR
from services.runtime.errors import FieldViolation, invalid_argument, text_violation
from services.runtime.identifiers import credit_code_error
from services.runtime.identity import SERVICE_PREFIX, Caller

if TYPE_CHECKING:
    from services.authorization.store import Store

#: What the log's checkpoints sign under: never valid as a checkpoint of another log (the access audit's).
CONTEXT = "govshare.admin_log.checkpoint.v1"
#: The keys the log's checkpoints verify with, as a refusal names them: the token signing keys, current and retired
#: (a checkpoint of a key retired without being listed in GOVSHARE_TOKEN_RETIRED_PUBLIC_KEYS reads as forged).
TRUSTED_KEYS = ("token signing key (authorization trusts GOVSHARE_TOKEN_PUBLIC_KEY and "
                "GOVSHARE_TOKEN_RETIRED_PUBLIC_KEYS: a key retired without being listed in the latter, or not the "
                "platform's)")
#: The log is one chain: its fixed id in the signed encoding and in export files.
CHAIN_ID = "ad" * 16
MAX_EVENTS_PER_APPEND = 1000
#: Checkpoints an auditor may bring to one verification (about a year's at the default interval).
MAX_HELD_CHECKPOINTS = 100_000
MAX_REPORTED_FORGED = 1_000
_MAX_TEXT = 256
#: What a row's hash covers, in order (then the previous row's hash links it into the chain).
HASHED_FIELDS = ("seq", "event_id", "time", "service", "actor_system_id", "actor_department_code", "action",
                 "target", "details", "result")


def typed_department_code(value: str) -> str:
    """A department filter as the 审计员 typed it, read as the code it names: a Chinese input method's full-width
    characters (NFKC) and 〇 for zero, lower case, blanks around it. ListAccesses reads its department filter so;
    the administrative log refused ９１１１…, 〇 or a lower-case m ("character 9 is the lower-case letter m") of a
    code it holds, and a page token issued for one form was refused for another."""
    if not value.isascii():
        value = unicodedata.normalize("NFKC", value).replace("〇", "0")
    return value.strip().upper()


@dataclass(frozen=True)
class AdminLogFilter:
    """Which entries a list shows; None fields do not filter."""

    actor_department_code: str | None = None
    action: str | None = None
    start_time: dt.datetime | None = None
    end_time: dt.datetime | None = None


@dataclass(frozen=True)
class LogEntry:
    """One row of the log as stored: the event, where it sits in the chain, and its hashes."""

    seq: int
    event_id: str
    time: dt.datetime
    service: str
    actor_system_id: str
    actor_department_code: str
    action: str
    target: str
    #: The details as the canonical JSON text the hash covers.
    details: str
    result: str
    prev_hash: str
    hash: str

    def hashed_fields(self) -> list[object]:
        return [getattr(self, name) for name in HASHED_FIELDS]


@dataclass(frozen=True)
class Verification:
    intact: bool
    checked: int
    first_broken_seq: int = 0
    problem: str = ""
    head_hash: str = hashchain.GENESIS
    #: INTACT, TRUNCATED, VANISHED or BROKEN (services.runtime.checkpoints).
    state: str = checkpoints.INTACT
    #: The last checkpoint the log still matches.
    matched: checkpoints.Checkpoint | None = None
    #: Rows after it: no signature vouches for them (yet).
    unsigned: int = 0
    forged: list[checkpoints.Forged] = field(default_factory=list)


class LogRows:
    """Checks the log's rows for the shared chain verdict (rows as ``Store.admin_log_chain`` yields them)."""

    def __init__(self) -> None:
        self._chain = hashchain.ChainChecker()
        self.first_problem: tuple[int, str] | None = None

    @property
    def checked(self) -> int:
        return self._chain.checked

    @property
    def head(self) -> str:
        return self._chain.head

    def check(self, row: Mapping[str, object]) -> str | None:
        entry = row["entry"]
        assert isinstance(entry, LogEntry)
        if self.first_problem is not None:  # the chain is broken before: later rows cannot link
            self._chain.checked += 1
            return None
        problem = self._chain.check(entry.seq, entry.prev_hash, entry.hash, entry.hashed_fields())
        if problem is not None:
            self.first_problem = (entry.seq, problem)
        return problem


def event_problems(events: Sequence[AdminEvent]) -> list[FieldViolation]:
    """What makes delivered events unusable (the relay sends what its service recorded)."""
    problems: list[FieldViolation] = []
    if len(events) > MAX_EVENTS_PER_APPEND:
        problems.append(FieldViolation("events", f"at most {MAX_EVENTS_PER_APPEND} per call"))
    for index, event in enumerate(events[:MAX_EVENTS_PER_APPEND]):
        for name in ("event_id", "action"):
            value = getattr(event, name)
            if not value or len(value) > _MAX_TEXT:
                problems.append(FieldViolation(f"events[{index}].{'id' if name == 'event_id' else name}",
                                               f"is required, at most {_MAX_TEXT} characters"))
    return problems


class AdminLog:
    def __init__(self, store: Store, signer: checkpoints.CheckpointSigner,
                 verifier: checkpoints.CheckpointVerifier) -> None:
        self._store = store
        self.signer = signer
        self._verifier = verifier

    async def _require_auditor(self, caller: Caller, action: str, what: str) -> None:
        """The authority's 审计员 only; a refusal is itself an entry (``action`` on the log, the reason as its
        result): a department's system or person probing the authority's log left no trace, while every refused
        decision and history read does (R-SEC-3)."""
        async with refusals_logged(self._store.record_admin, caller, action, "admin_log"):
            duties.require_role(caller, AUDITOR, what)
            require_authority(caller, what)

    async def append(self, caller: Caller, events: Sequence[AdminEvent]) -> int:
        """Appends a service's delivered events; how many were new (a redelivery appends none)."""
        require_service(caller)
        if problems := event_problems(events):
            raise invalid_argument(problems)
        return await self._store.append_events(caller.system_id.removeprefix(SERVICE_PREFIX), events)

    async def list(self, caller: Caller, where: AdminLogFilter, size: int,
                   token: str) -> tuple[list[LogEntry], str]:
        await self._require_auditor(caller, "admin_log.list", "read the administrative log")
        problems = pagination.page_size_violations(size)
        if where.actor_department_code and (error := credit_code_error(where.actor_department_code)):
            problems.append(FieldViolation("actor_department_code", error))
        if where.action and (violation := text_violation("action", where.action, _MAX_TEXT, own_invisible_check=True)):
            problems.append(violation)
        elif where.action and (problem := action_problem(where.action, where.action not in ACTIONS and
                                                         await self._store.admin_action_recorded(where.action))):
            problems.append(FieldViolation("action", problem))
        if where.start_time and where.end_time and where.end_time <= where.start_time:
            problems.append(FieldViolation("end_time", "must be after start_time"))
        if problems:
            raise invalid_argument(problems)
        limit = pagination.page_size(size)
        after = pagination.time_keyset_after(token, pagination.bigint_id)
        entries = await self._store.list_admin_events(where, after, limit + 1)
        more = len(entries) > limit
        entries = entries[:limit]
        return entries, pagination.time_keyset_token(entries[-1].time, entries[-1].seq) if more else ""

    async def verify(self, caller: Caller, held: Iterable[checkpoints.Checkpoint] = (),
                     problems: Sequence[FieldViolation] = ()) -> Verification:
        """Walks the chain from its first row against its signed checkpoints (stored, and ``held``: the
        auditor's own copies, so deleted ones still count; ``problems``: what is wrong with them, refused after
        the caller is known to be the authority): a changed or inserted row breaks it; rows cut from
        its end (or all of them) are reported as truncation (vanishing) naming the last checkpoint it matches."""
        await self._require_auditor(caller, "admin_log.verify", "verify the administrative log")
        held, problems = list(held), list(problems)
        if len(held) > MAX_HELD_CHECKPOINTS:
            problems.append(FieldViolation("checkpoints", f"at most {MAX_HELD_CHECKPOINTS} per verification"))
        if problems:
            raise invalid_argument(problems)
        rows = LogRows()
        auditor = checkpoints.ChainAuditor(self._verifier, rows)
        async with contextlib.aclosing(checkpoints.with_held(self._store.admin_log_chain(), held)) as entries:
            async for row, checkpoint in entries:
                if row is not None:
                    auditor.row(row)
                if checkpoint is not None:
                    auditor.checkpoint(checkpoint)
        report = next(iter(auditor.finish()), None) or checkpoints.ChainReport(CHAIN_ID)
        seq, problem = rows.first_problem or (0, "")
        if report.state != checkpoints.INTACT:
            problem = f"{problem}; {report.detail}" if problem and problem not in report.detail else report.detail
        elif auditor.forged:
            problem = f"{len(auditor.forged)} checkpoints fail their signature"
        return Verification(intact=report.state == checkpoints.INTACT and not auditor.forged,
                            checked=rows.checked, first_broken_seq=seq, problem=problem,
                            head_hash=rows.head, state=report.state, matched=report.matched,
                            unsigned=report.unsigned_records, forged=auditor.forged[:MAX_REPORTED_FORGED])

    async def export_checkpoints(self, caller: Caller, size: int,
                                 token: str) -> tuple[list[checkpoints.Checkpoint], str]:
        """The log's signed checkpoints, oldest first, for the authority to keep off the platform."""
        await self._require_auditor(caller, "admin_log.export_checkpoints",
                                    "export the administrative log's checkpoints")
        if problems := pagination.page_size_violations(size):
            raise invalid_argument(problems)
        limit = pagination.page_size(size)
        after = pagination.time_keyset_after(token, pagination.bigint_id)
        found = await self._store.list_admin_checkpoints(after, limit + 1)
        more = len(found) > limit
        found = found[:limit]
        return found, pagination.time_keyset_token(found[-1].time, found[-1].seq) if more else ""
