"""The access audit trail (R-SEC-3): group-committed, hash-chained, never skipped.

Every Query, BatchQuery, Verify and Export call that passed authentication gets
exactly one record, whatever its outcome, and its reply leaves only after the
record is durable. Records of concurrent calls are queued and written together
(one atomic, pipelined INSERT per batch of at most ``audit_batch_max`` records),
which is what makes auditing every call affordable. An idle writer writes at once:
the records that queue while a write is in flight form the next batch, so batches
grow with the load by themselves and a lone call never waits for company it will
not get. ``audit_flush_ms`` (default 0) makes an idle writer wait that long for
company before writing. Under load (records queued during the last write) the next
batch lingers ``audit_linger_ms`` (default 3) from its first record, or until it is
full: a write costs one statement and one commit whatever its size, so bigger
batches under load save CPU in this process and in PostgreSQL, for a few
milliseconds of a loaded call's latency. Either way no reply leaves before its
record is durable.

Each writer (one per query process) keeps its own hash chain: a chain id chosen
at start, a sequence number, and ``hash = sha256(prev_hash || canonical(row))``.
Replicas never contend for a chain head, and editing, inserting or deleting a
row breaks the chain where it happened. After a failed write the outcome is
unknown (the commit may have happened), so the writer starts a new chain rather
than guess. The hash is unkeyed: deleting a chain's last rows, or all of it,
leaves nothing to break, so the heads are signed apart (services.query.checkpoints);
``heads()`` gives them, the abandoned chains' included.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import itertools
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc

from services.runtime.checkpoints import Head, shown_name
from services.runtime.errors import ServiceError, dependency_failure, invisible_character, one_line
from services.runtime.identifiers import mask_citizen_ids, mask_mobile_numbers
from services.runtime.masking import Masker
from services.runtime.telemetry import AUDIT_BATCH, AUDIT_WAIT

log = logging.getLogger(__name__)
#: A Query call that ran out of time awaiting its record's durability waited on the writer's statement
#: (services.runtime.errors.waiting_on): PostgreSQL.
WAITS_ON = "postgresql"

GENESIS = "0" * 64

ANSWERED = "ANSWERED"
NOT_FOUND = "NOT_FOUND"
DENIED = "DENIED"
INVALID = "INVALID"
#: The platform could not answer (a dependency failed, the call was cancelled, or a bug).
FAILED = "FAILED"

# Why a FAILED call failed, kept in the row's reason column (``deny_reason``, a DENIED row's refusal reason) so
# that supervision counts against a provider only the failures that were its own (services.query.figures).
# Besides these, a ServiceError's own reason is kept (PROVIDER_UNAVAILABLE, RECORD_UNREADABLE,
# AUTHORIZATION_UNAVAILABLE, ...).
#: The platform's own foundation data service did not answer (the department runs no endpoint for it).
FOUNDATION_UNAVAILABLE = "FOUNDATION_UNAVAILABLE"
#: The caller went away, or its deadline passed, before the answer (or came before its provider's: answered
#: PROVIDER_UNAVAILABLE just before it: services.runtime.callers_time).
CANCELLED = "CANCELLED"
#: An error that is not a ServiceError: a bug.
INTERNAL = "INTERNAL"
#: A DENIED row's reason when the caller's token was refused again during the call (its system disabled, or its
#: secret rotated, since the token was issued): DenyReason CREDENTIALS_REVOKED.
CREDENTIALS_REVOKED = "CREDENTIALS_REVOKED"
#: An export's closing record written for it by another process (or the same one started again) when the process
#: serving it stopped without saying how it ended (crashed, killed, its node lost: its writer's lease ran out,
#: services/query/interruptions.py). How many rows had left is unknown: its keys are empty.
INTERRUPTED = "INTERRUPTED"

#: The operation of an export's closing record. An export is recorded before its first row leaves (ANSWERED: it
#: was admitted), so that record cannot say how it ended; when the stream ends (whole, cancelled by its caller,
#: failed or refused midway) a second record, chained like every other, says so: its ``key`` is the opening
#: record's id, its result and reason the export's outcome, its ``keys`` the rows and pages that left
#: ([rows, pages], as text, then the count and digest of the persons' keys it sent when known: SentKeys). The
#: readers (the access log's view ``access_outcomes``: ListAccesses, the persons' view, the figures supervision
#: reads) show the opening record with that outcome and count no closing record
#: apart. An export without one has not ended, or its replica stopped before it could say.
EXPORT_END = "ExportEnd"
#: The operation of the record a writer whose last write failed writes to learn whether PostgreSQL takes its
#: records again (AuditWriter.write_problem, which health follows). It is no access: no reader shows or counts it
#: (access_outcomes leaves it out), but it stays in the chain, where it says when the trail was written again.
AUDIT_PROBE = "AuditProbe"

# The columns of a format-1 record (written before records named their grant), in the table's order; every one
# but the last two is covered by its hash.
COLUMNS = ("id", "chain_id", "seq", "time", "system_id", "department_code", "resource_code",
           "provider_department_code", "operation", "items", "key", "keys", "purpose", "purpose_text",
           "result", "deny_reason", "trace_id", "prev_hash", "hash")
HASHED = COLUMNS[:-2]
#: The record (and hash-chain) format this release writes. Format 2 (query migration 023) adds the grant the
#: access was answered under: its hash covers HASHED, then the format, then grant_id, so a record cannot be passed
#: off as another format (its hash would not match). Records of format 1 were hashed over HASHED alone and still
#: verify: every reader of a chain (the verifier, the archive's) takes both.
RECORD_FORMAT = 2
KNOWN_FORMATS = (1, 2)
#: Every column of a stored record, in the table's order (the writer's rows; what chain readers select).
RECORD_COLUMNS = (*COLUMNS, "record_format", "grant_id")

# Request text is stored bounded, and without NUL (which PostgreSQL text cannot hold: one such
# value would fail the whole batch). The writer cleans every row, whatever its caller did.
MAX_TEXT = 256
MAX_LIST = 1000

Row = tuple
_TIME = HASHED.index("time")
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

_RESULT_OF_CODE = {
    grpc.StatusCode.INVALID_ARGUMENT: INVALID,
    grpc.StatusCode.NOT_FOUND: NOT_FOUND,
    grpc.StatusCode.PERMISSION_DENIED: DENIED,
}


def clean(text: str, limit: int = MAX_TEXT) -> str:
    """``text`` as it can be stored: at most ``limit`` characters, NUL replaced."""
    if len(text) > limit:
        text = text[:limit] + "…"
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def clean_list(values: Sequence[str], limit: int = MAX_LIST) -> list[str]:
    return [clean(value) for value in values[:limit]]


_MASKER = Masker()


def as_named(text: str) -> str:
    """A caller's text as a record keeps it where it need name no person: a resource code, an item name (both
    whatever the caller sent when the call was refused for them), a purpose text refused. One line, each character
    nobody sees in one (a line break, an escape) written U+FFFD as NUL is, and every 公民身份号码 and mobile number
    in it masked (110105********002X, 138****5678). A call refused INVALID kept an ID number sent as the resource
    code or as an item name, and a purpose text's line breaks, whole: the access list showed a person's number
    other than the record's key to every reader of it (and to the persons' view), a record over several lines."""
    masked = mask_citizen_ids(one_line(text), lambda number: _MASKER.mask(number, "citizen_id"))
    return mask_mobile_numbers(masked, lambda number: _MASKER.mask(number, "phone"))


def recorded_purpose(text: str) -> str:
    """The declared purpose as the record keeps it: whole when the call could declare it (it is evidence, masked
    where it is shown), else (refused as no one line of visible text, or too long) ``as_named``."""
    if len(text) <= MAX_TEXT and invisible_character(text) is None:
        return clean(text)
    return clean(as_named(text))


@dataclass(slots=True)
class Access:
    """One audited call: who asked what, and how it ended."""

    operation: str
    system_id: str
    department_code: str
    resource_code: str
    key: str
    keys: list[str]
    items: list[str]
    purpose: str
    purpose_text: str
    trace_id: str
    time: dt.datetime
    provider_department_code: str = ""
    result: str = FAILED
    deny_reason: str = ""
    id: str = ""
    future: asyncio.Future | None = field(default=None, repr=False)
    #: The grant the decision allowing the call named (the one its quota counted against when it has one); "" when
    #: no grant allowed it: an unconditional resource, only a conditional one's basic items, or a refusal.
    grant_id: str = ""
    #: (grant id, calls) the call counted against a grant's quota: given back when the call fails unanswered (not
    #: stored: the record says how the call ended).
    counted: tuple[str, int] | None = field(default=None, repr=False)

    def fail(self, error: BaseException) -> None:
        """Records the outcome of a call that ended with ``error``: a refusal's reason, and a failure's cause."""
        if isinstance(error, ServiceError) and error.code == grpc.StatusCode.UNAUTHENTICATED:
            # An audited call's caller was authenticated: refused so, its credentials were revoked meanwhile (a
            # download under way whose system was disabled), a refusal like the one at its start, not a failure.
            self.result, self.deny_reason = DENIED, CREDENTIALS_REVOKED
        elif isinstance(error, ServiceError):
            self.result = _RESULT_OF_CODE.get(error.code, FAILED)
            if self.result in (DENIED, FAILED, NOT_FOUND):  # NOT_FOUND: a record missed, or no such resource
                self.deny_reason = error.reason
        else:
            self.result, self.deny_reason = FAILED, INTERNAL

    def cancelled(self) -> None:
        """Records a call its caller went away from (or whose deadline passed) before the answer."""
        self.result, self.deny_reason = FAILED, CANCELLED


#: The keys an export sent are summed as numbers modulo this (an additive multiset hash: order-free, so that neither
#: the export nor a verifier has to sort millions of keys, and kept as it grows, a page at a time). 2048 bits, each
#: key's number drawn from SHAKE-256 (as LtHash does): a sum of 256-bit SHA-256 values could be forged with a
#: generalised birthday search (Wagner's k-tree: about 2^31 work with 2^15 made-up rows against a 256-bit sum),
#: letting someone who can write the table swap a person's key row for rows that sum the same.
_KEY_SUM_BITS = 2048
_KEY_SUM_MODULUS = 1 << _KEY_SUM_BITS


def _key_value(key: str) -> int:
    return int.from_bytes(hashlib.shake_256(key.encode()).digest(_KEY_SUM_BITS // 8), "big")


class SentKeys:
    """What an export's closing record vouches for of the persons' keys it sent (the rows of access_export_keys,
    which are outside the hash chain): how many distinct keys, and a digest of the sum of their SHAKE-256 values
    modulo 2^2048.
    Verification computes the same of the rows kept and reports an export whose rows were altered, removed or
    added since (ChainChecker). Only the keys the table took are added (a key sent twice is kept once).

    ``uncertain`` while a page's keys are being written: an export that ended then (its caller gone, the write
    failed) cannot know whether the table took them, and its closing record vouches for nothing rather than for
    a sum that may be wrong."""

    def __init__(self) -> None:
        self.count = 0
        self._sum = 0
        self.uncertain = False

    def add(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.count += 1
            self._sum = (self._sum + _key_value(key)) % _KEY_SUM_MODULUS

    @property
    def digest(self) -> str:
        """SHA-256 of the sum, as the closing record carries it (64 hex digits, not the sum's 512)."""
        return hashlib.sha256(self._sum.to_bytes(_KEY_SUM_BITS // 8, "big")).hexdigest()

    def vouched(self) -> tuple[int, str] | None:
        return None if self.uncertain else (self.count, self.digest)


@dataclass(slots=True)
class ExportKeys:
    """Persons' keys an export sent (access_export_keys), as a month's archive holds them after its records
    (services/query/archive.py), a line ``{"export_keys": {"access_id": ..., "keys": [...]}}`` each: the persons'
    view's rows, which the partition's drop takes away, and which the export's closing record vouches for."""

    access_id: str
    keys: list[str]


def keys_digest(keys: Iterable[str]) -> tuple[int, str]:
    """(count, digest) of stored export keys, as SentKeys sums those an export sent."""
    summed = SentKeys()
    summed.add(keys)
    return summed.count, summed.digest


def export_end(opening: Access, rows: int, pages: int, error: BaseException | None,
               sent_keys: SentKeys | None = None) -> Access:
    """The closing record of the export ``opening`` after ``rows`` rows in ``pages`` pages left: ANSWERED when
    it was whole (``error`` None), else the outcome ``error`` gives (a caller gone: FAILED CANCELLED). Its keys are
    [rows, pages], followed by the count and digest of the persons' keys the export sent (``sent_keys``) when they
    are known."""
    vouched = sent_keys.vouched() if sent_keys is not None else None
    counts = [str(rows), str(pages)] + ([str(vouched[0]), vouched[1]] if vouched is not None else [])
    closing = Access(operation=EXPORT_END, system_id=opening.system_id, department_code=opening.department_code,
                     resource_code=opening.resource_code, key=opening.id, keys=counts,
                     items=opening.items, purpose=opening.purpose, purpose_text=opening.purpose_text,
                     trace_id=opening.trace_id, time=dt.datetime.now(dt.UTC),
                     provider_department_code=opening.provider_department_code, result=ANSWERED,
                     grant_id=opening.grant_id)
    if isinstance(error, asyncio.CancelledError | GeneratorExit):
        closing.cancelled()
    elif error is not None:
        closing.fail(error)
    return closing


def export_interrupted(opening: Mapping[str, Any]) -> Access:
    """The closing record of the export whose stored opening record is ``opening``, its process gone before it
    could write one: FAILED INTERRUPTED, no rows or pages said (they are not known: its keys say ["", ""]), and the
    count and digest of the persons' keys kept for it (``opening["kept_export_keys"]``, read under its lease's lock:
    all it will ever keep, QueryStore.close_lapsed_exports), which it vouches for as any closing record does."""
    kept = opening.get("kept_export_keys")
    keys = ["", "", str(kept[0]), str(kept[1])] if kept is not None else []
    return Access(operation=EXPORT_END, system_id=opening["system_id"], department_code=opening["department_code"],
                  resource_code=opening["resource_code"], key=opening["id"], keys=keys, items=list(opening["items"]),
                  purpose=opening["purpose"], purpose_text=opening["purpose_text"], trace_id=opening["trace_id"],
                  time=dt.datetime.now(dt.UTC), provider_department_code=opening["provider_department_code"],
                  result=FAILED, deny_reason=INTERRUPTED, grant_id=opening.get("grant_id") or "")


def probe_access() -> Access:
    """A record written only to prove the trail takes records again (AUDIT_PROBE)."""
    return Access(operation=AUDIT_PROBE, system_id="", department_code="", resource_code="", key="", keys=[],
                  items=[], purpose="", purpose_text="", trace_id="", time=dt.datetime.now(dt.UTC), result=ANSWERED)


def sent_counts(keys: Sequence[str] | None) -> tuple[int, int] | None:
    """The (rows, pages) a closing record says left, or None for a record without one (an INTERRUPTED one's
    are not known)."""
    if not keys or len(keys) not in (2, 4) or not (str(keys[0]).isdigit() and str(keys[1]).isdigit()):
        return None
    return int(keys[0]), int(keys[1])


def vouched_keys(row: Mapping[str, Any]) -> tuple[int, str] | None:
    """The (count, digest) of the persons' keys an export's closing record says it sent (SentKeys), or None for
    any other record and for a closing record that says none (written before it did, its export interrupted before
    they were read under its lease's lock, or its last page's keys not known to be kept)."""
    keys = row["keys"]
    if row["operation"] != EXPORT_END or not isinstance(keys, list | tuple) or len(keys) != 4 \
            or not str(keys[2]).isdigit():  # not the writer's: its hash says so, this must not fail on it first
        return None
    return int(keys[2]), str(keys[3])


def export_keys_problem(row: Mapping[str, Any]) -> str | None:
    """Why the export keys kept for the export a closing record ends are not those it vouches for, or None.
    ``row["kept_export_keys"]``: their (count, digest) as stored now, set by the reader (QueryStore's chain
    entries) when the export's opening record is in the log (None, or absent: not checked here)."""
    kept = row.get("kept_export_keys")
    vouched = vouched_keys(row) if kept is not None else None
    if vouched is None or tuple(kept) == vouched:
        return None
    return (f"chain {shown_name(row['chain_id'])} record {row['seq']}: the persons' keys kept for export "
            f"{shown_name(row['key'])} are not "
            f"those its closing record says it sent ({kept[0]} kept, {vouched[0]} sent; access_export_keys was "
            "altered)")


def canonical(values: Sequence[object]) -> bytes:
    """The serialization a record's hash covers: the HASHED columns as compact JSON, time in UTC ISO form."""
    fields = list(values)
    fields[_TIME] = values[_TIME].astimezone(dt.UTC).isoformat(timespec="microseconds")  # type: ignore[union-attr]
    return _ENCODE(fields).encode()


def chain_hash(prev_hash: str, values: Sequence[object]) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical(values)).hexdigest()


def record_format(row: Mapping[str, object]) -> object:
    """A stored row's format: 1 for a row read or built without the column (written before format 2)."""
    return row.get("record_format", 1)


def hashed_values(row: Mapping[str, object]) -> list[object]:
    """A stored row's hashed values, in hash order, as its format hashes them (RECORD_FORMAT)."""
    values = [row[name] for name in HASHED]
    if record_format(row) != 1:
        values += [row["record_format"], row["grant_id"]]
    return values


class ChainChecker:
    """Checks stored rows, fed in (chain_id, seq) order, against their chains.

    A chain must start at seq 1 from the genesis hash, continue without gaps, link each
    row to its predecessor's hash, and each row's hash must be that of its content.
    """

    def __init__(self) -> None:
        self.checked = 0
        self.chains = 0
        self._chain: object = None
        self._seq = 0
        self._prev = GENESIS

    def resume(self, chain_id: str, seq: int, hash_: str) -> None:
        """Continues ``chain_id`` after its record ``seq`` of hash ``hash_`` (a signed checkpoint's): the records
        before it are verified already (an earlier page) or archived, and the next must link to it."""
        self._chain, self._seq, self._prev = chain_id, seq, hash_
        self.chains += 1

    def check(self, row: Mapping[str, object]) -> str | None:
        """Why ``row`` breaks its chain, or None."""
        self.checked += 1
        if row["chain_id"] != self._chain:
            self._chain, self._seq, self._prev = row["chain_id"], 0, GENESIS
            self.chains += 1
        self._seq += 1
        if row["seq"] != self._seq:
            return (f"chain {shown_name(row['chain_id'])}: expected record {self._seq}, found {row['seq']} "
                    f"(records are missing or were inserted)")
        if row["prev_hash"] != self._prev:
            return f"chain {shown_name(row['chain_id'])} record {row['seq']}: does not link to the previous record"
        if record_format(row) not in KNOWN_FORMATS:
            return (f"chain {shown_name(row['chain_id'])} record {row['seq']}: record format {record_format(row)} "
                    f"is not one this release knows ({', '.join(map(str, KNOWN_FORMATS))})")
        if chain_hash(self._prev, hashed_values(row)) != row["hash"]:
            return f"chain {shown_name(row['chain_id'])} record {row['seq']}: content does not match its hash"
        self._prev = row["hash"]  # type: ignore[assignment]
        return export_keys_problem(row)


WriteBatch = Callable[[list[Row]], Awaitable[None]]


def _not_recorded(error: BaseException) -> ServiceError:
    """What the calls of a batch that could not be written are told: AUDIT_UNAVAILABLE, naming PostgreSQL (in the
    message and metadata.dependency, as DEPENDENCY_UNAVAILABLE does) when the write failed because it is down or
    refuses connections. A caller (and the govshare_unavailable_total metric) read only "the access could not be
    recorded" while PostgreSQL refused every new connection ("too many clients") or was stopped, though the same
    outage, met by a lookup, is named postgresql."""
    down = dependency_failure(error)
    if down is None:
        return ServiceError(grpc.StatusCode.UNAVAILABLE, "AUDIT_UNAVAILABLE",
                            "the access could not be recorded, so it was not answered")
    dependency = down[0]
    return ServiceError(grpc.StatusCode.UNAVAILABLE, "AUDIT_UNAVAILABLE",
                        f"the access could not be recorded, so it was not answered: the audit trail's database "
                        f"({dependency}) is unavailable; retry with backoff", metadata={"dependency": dependency})


class AuditWriteFailed(Exception):
    """Why a batch could not be written, named by the error's class and SQLSTATE only: a driver's message may
    quote a value of the rows (a key), which no log line may hold."""

    @classmethod
    def of(cls, error: BaseException) -> AuditWriteFailed:
        sqlstate = getattr(error, "sqlstate", "") or ""
        return cls(type(error).__name__ + (f" {sqlstate}" if sqlstate else ""))


def _consume(future: asyncio.Future) -> None:
    """Retrieves a detached future's outcome (the writer has logged any failure)."""
    if not future.cancelled():
        future.exception()


class AuditWriter:
    """Queues access records and writes them in batches, resolving each caller once it is durable."""

    def __init__(self, write_batch: WriteBatch, flush_ms: float, batch_max: int, linger_ms: float = 0.0) -> None:
        self._write_batch = write_batch
        self._flush_seconds = flush_ms / 1000.0
        self._linger_seconds = linger_ms / 1000.0
        self._batch_max = batch_max
        self._pending: list[Access] = []
        self._first_pending_at = 0.0
        self._has_pending = asyncio.Event()
        self._full = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._closing = False
        self._ids = itertools.count(1)
        self._id_prefix = secrets.token_hex(6) + "-"
        self.chain_id = ""
        self._chains = itertools.count()
        self._seq = 0
        self._head = GENESIS
        self._abandoned: list[Head] = []
        #: Why the last batch could not be written (None once one is): every call is refused meanwhile.
        self._failure: AuditWriteFailed | None = None
        #: When the lease the process's exports begin under was taken (services/query/interruptions.py sets it at
        #: each renewal): an export writes its persons' keys under that lease only (QueryStore.record_export_keys).
        self.lease_taken: dt.datetime | None = None

    def start(self) -> None:
        self._new_chain()
        self._closing = False
        self._task = asyncio.create_task(self._run(), name="audit-writer")

    def heads(self) -> tuple[Head | None, list[Head]]:
        """The current chain's durable head, and those of chains abandoned since they were last forgotten."""
        current = Head(self.chain_id, self._seq, self._head) if self.chain_id else None
        return current, list(self._abandoned)

    def forget(self, heads: Sequence[Head]) -> None:
        """Drops abandoned chains' heads once they are checkpointed."""
        done = set(heads)
        self._abandoned = [head for head in self._abandoned if head not in done]

    def _new_chain(self) -> None:
        if self._seq > 0:
            # Its records up to the head are durable: the checkpointer still signs where it ended.
            self._abandoned.append(Head(self.chain_id, self._seq, self._head))
        # Its number first (8 hex digits), then 96 random bits: a later chain's name sorts after an earlier's, so
        # a lease renewal carrying the name of before never replaces the new one (QueryStore.hold_writer).
        self.chain_id = f"{next(self._chains):08x}{secrets.token_hex(12)}"
        self._seq = 0
        self._head = GENESIS

    @property
    def name(self) -> str:
        """This process's writer, as every access id it gives starts (``<name>-``): the name its lease is held
        under (services/query/interruptions.py)."""
        return self._id_prefix[:-1]

    def new_id(self) -> str:
        """A fresh access id of this process (given before the call reads records, so that a department's
        前置机 is told which access it serves)."""
        return f"{self._id_prefix}{next(self._ids):010x}"

    def submit(self, access: Access) -> asyncio.Future:
        """Queues ``access`` (assigning its id); the future resolves once it is durable."""
        if self._task is None or self._closing:
            raise ServiceError(grpc.StatusCode.UNAVAILABLE, "AUDIT_UNAVAILABLE",
                               "the audit trail is not accepting records")
        loop = asyncio.get_running_loop()
        if not access.id:
            access.id = self.new_id()
        access.future = loop.create_future()
        if not self._pending:
            self._first_pending_at = loop.time()
            self._has_pending.set()
        self._pending.append(access)
        if len(self._pending) >= self._batch_max:
            self._full.set()
        return access.future

    def submit_detached(self, access: Access) -> None:
        """Queues ``access`` for a caller that will not wait (it was cancelled); never raises."""
        try:
            future = self.submit(access)
        except ServiceError:
            log.error("access %s of %s could not be queued for the audit trail", access.operation,
                      access.system_id)
            return
        future.add_done_callback(_consume)

    def withdraw(self, access: Access) -> bool:
        """Marks ``access`` not answered (FAILED, CANCELLED) while it still waits in the queue, when the call waiting
        on it ended before its answer left (its deadline, or the bound on a slow PostgreSQL answered it UNAVAILABLE).
        Its record had said ANSWERED, with the items it would have released, though the caller got none of them.
        An access already in the batch being written keeps its result: its row may be durable already."""
        if not any(queued is access for queued in self._pending):
            return False
        access.cancelled()
        return True

    async def record(self, access: Access) -> str:
        """Writes ``access`` and returns its id; UNAVAILABLE when it could not be made durable."""
        started = time.perf_counter()
        await self.submit(access)
        AUDIT_WAIT.observe(time.perf_counter() - started)
        return access.id

    async def write_problem(self, within: float) -> BaseException | None:
        """None while the trail takes records; after a failed write, whether it takes one again: a probe record
        (AUDIT_PROBE) is written, and the write's failure, or its time running out, is the answer.

        Health follows this (services.runtime.server.watch_database): with PostgreSQL answering reads but taking
        no writes (its disk full), every call was refused AUDIT_UNAVAILABLE while health said SERVING, and load
        balancers kept sending callers there. A replica said NOT_SERVING gets no calls, so no call's record would
        ever say the trail works again: the probe does, and the first one written (or any call's batch) says
        SERVING again. It runs only while writes fail, so a healthy trail holds no probe records."""
        if self._failure is None:
            return None
        try:
            async with asyncio.timeout(within):
                await self.record(probe_access())
        except Exception as exc:  # the write's failure (AUDIT_UNAVAILABLE), or no answer in time
            return self._failure if isinstance(exc, ServiceError) and self._failure is not None else exc
        return None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        queued_during_write = False
        while True:
            await self._has_pending.wait()
            if not self._pending:
                if self._closing:
                    return
                self._has_pending.clear()
                continue
            # Under load (records queued during the last write) the next batch may linger for company: the
            # cost of a write is per statement and per commit, not per row (docs/performance.md).
            hold = self._linger_seconds if queued_during_write else self._flush_seconds
            wait = self._first_pending_at + hold - loop.time()
            if wait > 0 and not self._closing and len(self._pending) < self._batch_max:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._full.wait()
            batch = self._pending[:self._batch_max]
            del self._pending[:self._batch_max]
            self._full.clear()
            if self._pending:
                self._first_pending_at = loop.time()
            elif not self._closing:
                self._has_pending.clear()
            await self._flush(batch)
            queued_during_write = bool(self._pending)

    async def _flush(self, batch: list[Access]) -> None:
        try:
            rows, seq, head = self._chain_rows(batch)
            await self._write_batch(rows)
        except Exception as exc:
            self._failure = AuditWriteFailed.of(exc)
            records = f"{len(batch)} record" + ("" if len(batch) == 1 else "s")
            log.error("audit write of %s failed (%s); starting a new chain", records, self._failure)
            self._new_chain()
            error = _not_recorded(exc)
            for access in batch:
                if access.future is not None and not access.future.done():
                    access.future.set_exception(error)
            return
        self._seq, self._head = seq, head
        self._failure = None
        AUDIT_BATCH.observe(len(batch))
        for access in batch:
            if access.future is not None and not access.future.done():
                access.future.set_result(None)

    def _chain_rows(self, batch: list[Access]) -> tuple[list[Row], int, str]:
        """The batch's rows chained after the current head, and the head they lead to."""
        rows: list[Row] = []
        seq, head = self._seq, self._head
        for a in batch:
            seq += 1
            values = (a.id, self.chain_id, seq, a.time, clean(a.system_id), clean(a.department_code),
                      clean(as_named(a.resource_code)), clean(a.provider_department_code), a.operation,
                      clean_list([as_named(item) for item in a.items[:MAX_LIST]]),
                      clean(a.key), clean_list(a.keys), a.purpose, recorded_purpose(a.purpose_text), a.result,
                      clean(a.deny_reason), a.trace_id)
            grant = (RECORD_FORMAT, clean(a.grant_id))
            digest = chain_hash(head, (*values, *grant))
            rows.append((*values, head, digest, *grant))
            head = digest
        return rows, seq, head

    async def stop(self) -> None:
        """Writes everything queued, then stops; later submissions are refused."""
        if self._task is None:
            return
        self._closing = True
        self._full.set()
        self._has_pending.set()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
