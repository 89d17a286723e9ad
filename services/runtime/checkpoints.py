"""Signed checkpoints of hash chains' heads, and the verdict on each chain (R-SEC-3).

Shared by every tamper-evident log of the platform: the access audit (query,
``services.query.checkpoints``) and the administrative log (authorization). Each
signs under its own *context* string, so a checkpoint of one log can never pass
for one of the other, even where one key signed both.

The access log's hash chain is unkeyed: whoever can write the table can delete a
chain's last rows, or a whole chain, or rewrite its tail and recompute the hashes,
and the chain still verifies. So every query process signs the head of its chain
(chain id, sequence, hash) with the audit signing key (Ed25519) at a fixed
interval and when it stops, and keeps these checkpoints in their own table,
``audit_checkpoints``. A checkpoint is a promise that the chain reached that
record with that hash: a chain that now ends before a checkpoint's sequence, or
whose record there has another hash, was truncated (or its tail rewritten); a
chain with checkpoints and no rows vanished; a checkpoint whose signature fails
was forged or altered. Exported checkpoints (ExportAuditCheckpoints) let an
auditor keep them off the platform and check them with the public key alone.

The signature covers :func:`signed_bytes`: the compact JSON array
``[context,chain_id,sequence,hash,time,final]`` in ASCII (context e.g.
``"govshare.audit.checkpoint.v1"``),
time as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC, microseconds), final as true/false.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import hashlib
import inspect
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Container, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.runtime.identifiers import personal_identifiers
from services.runtime.tasks import cancel

log = logging.getLogger(__name__)

_CHAIN_ID = re.compile(r"[0-9a-f]{32}")
_HASH = re.compile(r"[0-9a-f]{64}")

INTACT = "INTACT"
TRUNCATED = "TRUNCATED"
VANISHED = "VANISHED"
#: A record in the chain was altered, inserted or removed (the rows themselves do not link).
BROKEN = "BROKEN"


@dataclass(frozen=True, slots=True)
class Head:
    """Where a chain stands: its last durable record's sequence and hash (what a checkpoint signs)."""

    chain_id: str
    seq: int
    hash: str


class RowChecker(Protocol):
    """Checks a log's rows, fed in (chain id, sequence) order: each log knows what its rows hash."""

    checked: int

    def check(self, row: Mapping[str, object]) -> str | None:
        """Why ``row`` breaks its chain, or None."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed chain head. ``final``: the process closed the chain (graceful stop); no record may follow."""

    chain_id: str
    seq: int
    hash: str
    time: dt.datetime
    final: bool
    key_id: str
    signature: bytes

    def describe(self) -> str:
        """How a report names the checkpoint (no personal data: ids, numbers and a time)."""
        kind = "final checkpoint" if self.final else "checkpoint"
        return f"{kind} of record {self.seq} at {format_time(self.time)}"


def format_time(time: dt.datetime) -> str:
    """The signed form of a checkpoint's time: UTC, microseconds, ``Z``."""
    return time.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


#: A name as the writer gives one: a chain's (32 hex), a process's access id (<12 hex>-<10 hex>), a record
#: id (a uuid's hex), a month's partition, a signing key's id (its JWK thumbprint, 43 base64url characters); or a
#: short plain name (a test's, a hand-made chain's) with no run of digits a person's number could hide in.
_HEX_FORM = re.compile(r"[0-9a-f]{32}|[0-9a-f]{12}-[0-9a-f]{10}")
_OTHER_FORM = re.compile(r"access_log_[0-9]{6}|[A-Za-z0-9_-]{43}|(?!.*[0-9]{6})[0-9a-z][0-9a-z_.-]{0,39}")
#: A run of digits as long as a mobile number's: not in a name of the writer's but for its hex ones.
_NUMBER_RUN = re.compile(r"[0-9]{11}")


def shown_name(value: object) -> str:
    """A chain id, access id, partition or key id read from a stored record or an archived file, as a verification's
    problem names it: as it is when it has the writer's form, else only described. What a verification reads may
    have been altered to anything (a long text, a person's 公民身份号码 or telephone number), and its problem lines go
    to the auditor's terminal, the job's detail and the logs, which must never repeat personal data."""
    if isinstance(value, str) and not personal_identifiers(value) and (
            _HEX_FORM.fullmatch(value) or (_OTHER_FORM.fullmatch(value) and not _NUMBER_RUN.search(value))):
        return value
    kind = f"a text of {len(value)} characters" if isinstance(value, str) else f"a value of type {type(value).__name__}"
    return f"<not shown: {kind}, not of the writer's form>"


def parse_time(text: str) -> dt.datetime:
    """Inverse of :func:`format_time` (ValueError for anything else)."""
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)


def signed_bytes(context: str, chain_id: str, seq: int, hash_: str, time: dt.datetime, final: bool) -> bytes:
    """The canonical encoding a checkpoint's signature covers (documented in docs/api.md); ``context`` names
    the log, so a checkpoint signed for one log never verifies as one of another."""
    return json.dumps([context, chain_id, seq, hash_, format_time(time), final], ensure_ascii=True,
                      separators=(",", ":")).encode("ascii")


def key_id(public_key: Ed25519PublicKey) -> str:
    """The RFC 7638 JWK thumbprint of an Ed25519 public key (base64url, no padding)."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    jwk = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw)}, separators=(",", ":"))
    return _b64url(hashlib.sha256(jwk.encode()).digest())


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


class CheckpointSigner:
    """Signs chain heads of one log (``context``) with that log's signing key."""

    def __init__(self, private_key: Ed25519PrivateKey, context: str) -> None:
        self._key = private_key
        self.context = context
        self.public_key = private_key.public_key()
        self.key_id = key_id(self.public_key)

    def sign(self, head: Head, time: dt.datetime, final: bool) -> Checkpoint:
        signature = self._key.sign(signed_bytes(self.context, head.chain_id, head.seq, head.hash, time, final))
        return Checkpoint(head.chain_id, head.seq, head.hash, time, final, self.key_id, signature)


class CheckpointVerifier:
    """Checks checkpoint signatures against the keys the verifier trusts (never against the stored key id alone)."""

    def __init__(self, public_keys: Iterable[Ed25519PublicKey], context: str, trusted: str = "audit key") -> None:
        self._keys = {key_id(key): key for key in public_keys}
        self.context = context
        #: What a key must be to be trusted, and where the trusted ones are listed: after a rotation, a checkpoint
        #: of a key retired without being listed reads as forged, and the reader is to know which list to fix.
        self.trusted = trusted

    def problem(self, checkpoint: Checkpoint) -> str | None:
        """Why ``checkpoint`` is not one the platform signed, or None."""
        key = self._keys.get(checkpoint.key_id)
        if key is None:
            return f"signed by key {shown_name(checkpoint.key_id)!r}, which is not a trusted {self.trusted}"
        if not (_CHAIN_ID.fullmatch(checkpoint.chain_id) and _HASH.fullmatch(checkpoint.hash)
                and checkpoint.seq > 0):
            return "malformed chain id, sequence or hash"
        try:
            key.verify(checkpoint.signature, signed_bytes(self.context, checkpoint.chain_id, checkpoint.seq,
                                                          checkpoint.hash, checkpoint.time, checkpoint.final))
        except InvalidSignature:
            return "the signature does not match the checkpoint"
        return None


# --- the verdict on each chain ------------------------------------------------------------------

@dataclass(slots=True)
class ChainReport:
    """What verification found about one chain."""

    chain_id: str
    state: str = INTACT
    records: int = 0
    last_seq: int = 0
    #: The last valid checkpoint the chain still matches (before the first it does not).
    matched: Checkpoint | None = None
    #: The first valid checkpoint the chain does not match.
    unmatched: Checkpoint | None = None
    #: A final checkpoint matched and no record follows it.
    closed: bool = False
    first_bad_id: str = ""
    detail: str = ""
    _final: Checkpoint | None = field(default=None, repr=False)
    #: The valid checkpoint of the highest sequence: how far the chain was signed.
    _highest: Checkpoint | None = field(default=None, repr=False)
    _row_problem: str = field(default="", repr=False)
    _last_hash: str = field(default="", repr=False)
    _unmatched_why: str = field(default="", repr=False)
    #: Valid checkpoints met before the chain's first record: one of them may be the head it resumes from.
    _before: list[Checkpoint] = field(default_factory=list, repr=False)
    #: The sequence of the signed head the rows resume after (0: the chain starts at its first record).
    resumed_after: int = 0

    @property
    def unsigned_records(self) -> int:
        """Records after the last matching checkpoint: no signature vouches for them (yet)."""
        return max(0, self.last_seq - (self.matched.seq if self.matched is not None else 0))


@dataclass(frozen=True, slots=True)
class Forged:
    checkpoint: Checkpoint
    reason: str


class ChainAuditor:
    """Judges every chain from its rows and checkpoints, fed in (chain id, sequence) order, a row before a
    checkpoint of the same sequence.

    Checkpoints whose signature fails are reported as forged and otherwise ignored: they prove nothing.

    ``resumable``: the (chain id, sequence) of the signed heads a chain may resume after when its earlier records
    are not among the rows (where an earlier page of the verification ended, and the heads an archive signed
    for the records it dropped); None: any signed head. A periodic checkpoint is no such head: deleting a
    chain's first records up to one must be reported, not read as an archive.
    """

    def __init__(self, verifier: CheckpointVerifier, rows: RowChecker,
                 resumable: Container[tuple[str, int]] | None = None) -> None:
        self._verifier = verifier
        self._rows = rows
        self._resumable = resumable
        self.reports: list[ChainReport] = []
        self.forged: list[Forged] = []
        self._current: ChainReport | None = None

    @property
    def records_checked(self) -> int:
        return self._rows.checked

    def _chain(self, chain_id: str) -> ChainReport:
        current = self._current
        if current is None or current.chain_id != chain_id:
            if current is not None:
                self._judge(current)
            current = self._current = ChainReport(chain_id)
            self.reports.append(current)
        return current

    def row(self, row: Mapping[str, object]) -> None:
        report = self._chain(str(row["chain_id"]))
        if not report.records and report._before:
            self._start_after_checkpoints(report, row)
        problem = self._rows.check(row)
        report.records += 1
        report.last_seq, report._last_hash = int(row["seq"]), str(row["hash"])  # type: ignore[call-overload]
        if problem is None and report._final is not None and report._final.seq < report.last_seq:
            problem = (f"chain {shown_name(report.chain_id)} record {report.last_seq}: follows the chain's "
                       f"{report._final.describe()}")
        if problem is not None and not report.first_bad_id:
            report.first_bad_id, report._row_problem = str(row["id"]), problem

    def _start_after_checkpoints(self, report: ChainReport, row: Mapping[str, object]) -> None:
        """The chain's first record follows checkpoints: if the last of them signs the record just before it,
        with the hash it links to, and is a head the chain may resume from (``resumable``), the chain resumes
        there (an earlier page verified what came before, or those months were archived: docs/architecture.md);
        otherwise they are judged as usual (the records before are missing)."""
        before, report._before = report._before, []
        anchor = before[-1]
        resume = getattr(self._rows, "resume", None)
        if resume is not None and not anchor.final and anchor.seq == int(row["seq"]) - 1 \
                and anchor.hash == row["prev_hash"] and (  # type: ignore[call-overload]
                    self._resumable is None or (anchor.chain_id, anchor.seq) in self._resumable):
            resume(report.chain_id, anchor.seq, anchor.hash)
            report.matched, report.resumed_after, report._highest = anchor, anchor.seq, anchor
            return
        for checkpoint in before:
            self._judge_checkpoint(report, checkpoint)

    def resumable_at(self, checkpoint: Checkpoint) -> bool:
        """Whether ``checkpoint`` (just fed) is a valid one of the chain being read that its last record read
        has the hash of: a verification's page may end there, as the next page resumes after it only if the record
        after it links to its hash. A checkpoint a rewritten tail does not match is no such head; one past records
        missing earlier in the chain is (the rows from there on link to it)."""
        report = self._current
        return (report is not None and report.chain_id == checkpoint.chain_id and report.records > 0
                and report.last_seq == checkpoint.seq and report._last_hash == checkpoint.hash
                and self._verifier.problem(checkpoint) is None)

    def checkpoint(self, checkpoint: Checkpoint) -> None:
        problem = self._verifier.problem(checkpoint)
        if problem is not None:
            self.forged.append(Forged(checkpoint, problem))
            return
        report = self._chain(checkpoint.chain_id)
        if not report.records:
            report._before.append(checkpoint)
            return
        self._judge_checkpoint(report, checkpoint)

    def _judge_checkpoint(self, report: ChainReport, checkpoint: Checkpoint) -> None:
        if checkpoint.final:
            report._final = checkpoint
        if report._highest is None or report._highest.seq <= checkpoint.seq:
            report._highest = checkpoint
        if report.unmatched is not None:
            return
        if report.records and report.last_seq == checkpoint.seq and report._last_hash == checkpoint.hash:
            report.matched = checkpoint
        else:
            report.unmatched = checkpoint
            report._unmatched_why = (f"record {checkpoint.seq} does not have the hash of its "
                                     f"{checkpoint.describe()}" if report.last_seq == checkpoint.seq
                                     else f"record {checkpoint.seq} of its {checkpoint.describe()} is missing")

    def finish(self) -> list[ChainReport]:
        if self._current is not None:
            self._judge(self._current)
            self._current = None
        return self.reports

    def _judge(self, report: ChainReport) -> None:
        before, report._before = report._before, []
        for checkpoint in before:  # a chain with checkpoints and no records
            self._judge_checkpoint(report, checkpoint)
        matched = report.matched.describe() if report.matched is not None else "no checkpoint"
        missing = report.unmatched
        if missing is not None and not report.records:
            report.state = VANISHED
            highest = report._highest or missing
            report.detail = (f"chain {shown_name(report.chain_id)}: no records left, but it was signed up to "
                             f"record {highest.seq} ({highest.describe()})")
        elif missing is not None and (report.last_seq < missing.seq or not report._row_problem):
            # Cut at the end, or the tail rewritten with recomputed hashes (the rows still link).
            report.state = TRUNCATED
            why = (f"ends at record {report.last_seq}, but its {missing.describe()} says it reached {missing.seq}"
                   if report.last_seq < missing.seq else f"was rewritten: {report._unmatched_why}")
            report.detail = f"chain {shown_name(report.chain_id)} {why}; it still matches {matched}"
        elif report._row_problem:
            report.state = BROKEN
            tail = f"; {report._unmatched_why}" if missing is not None else ""
            report.detail = f"{report._row_problem}{tail}; it still matches {matched}"
        else:
            report.state = INTACT
            final = report._final
            report.closed = final is not None and final.seq == report.last_seq
            unsigned = f", {report.unsigned_records} records after it unsigned" if report.unsigned_records else ""
            report.detail = (f"chain {shown_name(report.chain_id)}: {report.records} records, "
                             f"{'closed by' if report.closed else 'signed up to'} {matched}{unsigned}")


# --- the periodic checkpoint -----------------------------------------------------------------------

WriteCheckpoints = Callable[[list[Checkpoint]], Awaitable[None]]
#: The current chain's head and abandoned chains' heads: in memory (query's writer) or read from the database.
Heads = Callable[[], tuple[Head | None, list[Head]] | Awaitable[tuple[Head | None, list[Head]]]]


class Checkpointer:
    """Signs and stores the heads of this process's chains: every ``interval`` seconds, on demand, and at stop.

    ``heads`` gives the current chain's head and those of chains the writer abandoned after a failed write
    (their rows up to that head are durable); ``forget`` drops abandoned chains once they are checkpointed.
    A head is signed again only when it moved. ``close_at_stop``: the stop signs a *final* checkpoint (a
    process's own chain ends with it); a log whose one chain outlives the process signs an ordinary one.
    On a crash the last periodic checkpoint stands, so at most
    ``interval`` seconds of records can be cut from a chain's end unnoticed.
    """

    def __init__(self, signer: CheckpointSigner, heads: Heads, forget: Callable[[list[Head]], None],
                 write: WriteCheckpoints, interval: float,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC), close_at_stop: bool = True
                 ) -> None:
        self.signer = signer
        self._heads = heads
        self._forget = forget
        self._write = write
        self._interval = interval
        self._clock = clock
        self._close_at_stop = close_at_stop
        self._signed: dict[str, int] = {}
        self._lock = asyncio.Lock()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="audit-checkpointer")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.checkpoint()
            except Exception as exc:
                log.error("%s checkpoint failed (%s); retrying in %ss", self.signer.context, type(exc).__name__,
                          self._interval)

    async def checkpoint(self, final: bool = False) -> list[Checkpoint]:
        """Signs and stores every head that moved (``final``: the current chain ends here); returns them."""
        async with self._lock:
            heads = self._heads()
            current, abandoned = await heads if inspect.isawaitable(heads) else heads
            now = self._clock()
            signed = [self.signer.sign(head, now, False) for head in abandoned
                      if head.seq > self._signed.get(head.chain_id, 0)]
            if current is not None and current.seq > 0 and (final or current.seq > self._signed.get(
                    current.chain_id, 0)):
                signed.append(self.signer.sign(current, now, final))
            if signed:
                await self._write(signed)
            for checkpoint in signed:
                self._signed[checkpoint.chain_id] = checkpoint.seq
            self._forget(abandoned)
            for head in abandoned:
                self._signed.pop(head.chain_id, None)
            return signed

    async def stop(self) -> None:
        """Stops the timer and signs the current head, final if the chain closes with the process (call after
        the writer stopped)."""
        await cancel(self._task)
        self._task = None
        await self.checkpoint(final=self._close_at_stop)


Entry = tuple[Mapping[str, object] | None, Checkpoint | None]


async def with_held(entries: AsyncIterator[Entry], held: Iterable[Checkpoint]) -> AsyncIterator[Entry]:
    """``entries`` (chain by chain, by sequence) with an auditor's own checkpoints merged in where they belong,
    so that checkpoints deleted from the platform still count; held ones of chains with no entries come last."""
    by_chain: dict[str, list[Checkpoint]] = {}
    for checkpoint in sorted(held, key=lambda c: (c.chain_id, -c.seq)):
        by_chain.setdefault(checkpoint.chain_id, []).append(checkpoint)  # last first: pop() is the lowest
    chain: str | None = None
    pending: list[Checkpoint] = []
    async for row, checkpoint in entries:
        if row is not None:
            chain_id, seq, before = str(row["chain_id"]), int(row["seq"]), False  # type: ignore[call-overload]
        else:
            assert checkpoint is not None
            chain_id, seq, before = checkpoint.chain_id, checkpoint.seq, True
        if chain_id != chain:
            while pending:
                yield None, pending.pop()
            chain, pending = chain_id, by_chain.pop(chain_id, [])
        # Held checkpoints follow the row of their sequence, like stored ones.
        while pending and (pending[-1].seq < seq or (before and pending[-1].seq == seq)):
            yield None, pending.pop()
        yield row, checkpoint
    while pending:
        yield None, pending.pop()
    for chain_id in sorted(by_chain):
        for checkpoint in reversed(by_chain[chain_id]):
            yield None, checkpoint


# --- the export file an auditor keeps (JSON Lines) --------------------------------------------------

def to_json(checkpoint: Checkpoint) -> dict[str, object]:
    """One line of an export file: the signed fields as signed (time in its signed form), signature base64."""
    return {"chain_id": checkpoint.chain_id, "sequence": checkpoint.seq, "hash": checkpoint.hash,
            "time": format_time(checkpoint.time), "final": checkpoint.final, "key_id": checkpoint.key_id,
            "signature": base64.b64encode(checkpoint.signature).decode()}


def from_json(data: Mapping[str, object]) -> Checkpoint:
    """Inverse of :func:`to_json`; ValueError naming what is missing or malformed."""
    try:
        seq, final = data["sequence"], data["final"]
        if type(seq) is not int or type(final) is not bool:
            raise ValueError("sequence must be an integer and final a boolean")
        try:
            time = parse_time(str(data["time"]))
        except ValueError:  # strptime's words repeat the text, which may be anything the file was altered to
            raise ValueError("time is not a checkpoint's time (YYYY-MM-DDTHH:MM:SS.ffffffZ)") from None
        return Checkpoint(chain_id=str(data["chain_id"]), seq=seq, hash=str(data["hash"]), time=time, final=final,
                          key_id=str(data["key_id"]),
                          signature=base64.b64decode(str(data["signature"]), validate=True))
    except KeyError as exc:
        raise ValueError(f"missing field {exc.args[0]!r}") from None
    except (TypeError, binascii.Error) as exc:
        raise ValueError(str(exc)) from None


def verify_export(lines: Iterable[str | bytes], verifier: CheckpointVerifier,
                  misplaced: Callable[[Checkpoint], str | None] = lambda _: None) -> tuple[int, list[str]]:
    """Checks an export file offline: every line a checkpoint signed by a trusted key, and no two checkpoints
    of one chain contradicting each other. Returns the number of good checkpoints and every problem. ``lines``
    as read from the file, bytes or text: a line of bytes that is not UTF-8 is a problem of that line.
    ``misplaced``: why a checkpoint is not one of the log being verified (another log's chain), or None; said
    instead of its signature failing, which would read as an altered file."""
    good, problems = 0, []
    seen: dict[tuple[str, int], str] = {}
    finals: dict[str, int] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            checkpoint = from_json(json.loads(line))
        except (ValueError, RecursionError) as exc:  # RecursionError: nested deeper than the JSON parser goes
            problems.append(f"line {number}: not a checkpoint ({exc})")
            continue
        problem = misplaced(checkpoint) or verifier.problem(checkpoint)
        named = f"line {number}: chain {shown_name(checkpoint.chain_id)} record {checkpoint.seq}"
        if problem is not None:
            problems.append(f"{named}: {problem}")
            continue
        earlier = seen.setdefault((checkpoint.chain_id, checkpoint.seq), checkpoint.hash)
        if earlier != checkpoint.hash:
            problems.append(f"{named}: two signed checkpoints with different hashes")
        if checkpoint.final:
            finals[checkpoint.chain_id] = checkpoint.seq
        good += 1
    for (chain_id, seq) in seen:
        if seq > finals.get(chain_id, seq):
            problems.append(f"chain {shown_name(chain_id)}: a checkpoint of record {seq} follows its final checkpoint")
    return good, problems
