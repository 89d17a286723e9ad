"""Retention of the access log (issue 13): a month older than the authority keeps online is archived as a signed
file an auditor verifies offline, then its partition is dropped (docs/architecture.md, "The audit log at scale").

The file is JSON Lines: a header ``{"format": "govshare.audit.archive.v2", "partition": ..., "from": ...,
"to": ...}``, one line per record (the access log's columns, time in UTC ISO form, in chain and sequence order;
since query migration 023 with its record_format and grant_id, a line without them being a format-1 record),
then the persons' keys the month's exports sent (ExportKeys lines), and a trailer ``{"trailer": {"rows": n,
"sha256": hex, "key_id": ..., "signature": base64}}``. The signature (Ed25519, the audit signing key) covers the
compact JSON ``["govshare.audit.archive.v2",partition,rows,sha256]`` where sha256 is that of every byte before the
trailer. A v1 file (an earlier release's) has no keys lines and is signed with its own name. :func:`verify_file`
checks the signature, the digest, that every record's hash is that of its content and links to the record before
it (the first record of each chain in the file links to the one before the file: the previous month's archive, or
genesis), and that each export's keys are those its closing record vouches for.

Before the partition is dropped, the head each chain reached in it is signed as an ordinary checkpoint, so the
records that remain verify from there (services.runtime.checkpoints.ChainAuditor), and chains that ended in the
month are registered as archived, so verification does not report them vanished.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.query.audit import (
    GENESIS,
    KNOWN_FORMATS,
    RECORD_COLUMNS,
    ExportKeys,
    SentKeys,
    chain_hash,
    hashed_values,
    record_format,
    shown_name,
    vouched_keys,
)
from services.query.checkpoints import CheckpointSigner
from services.query.figures import CST
from services.query.store import QueryStore
from services.runtime.checkpoints import Head, key_id
from services.runtime.files import open_private

T = TypeVar("T")

#: The format this release writes: v1's, with the persons' keys the month's exports sent after the records.
FORMAT = "govshare.audit.archive.v2"
#: Format 1: records only (the keys the month's exports sent were dropped with it, unarchived).
FORMAT_V1 = "govshare.audit.archive.v1"
FORMATS = (FORMAT_V1, FORMAT)


def signed_bytes(partition: str, rows: int, digest: str, format_: str = FORMAT) -> bytes:
    """What an archive's signature covers."""
    return json.dumps([format_, partition, rows, digest], separators=(",", ":")).encode("ascii")


def _line(row: Mapping[str, object]) -> bytes:
    values = {name: row[name] for name in RECORD_COLUMNS}
    values["time"] = row["time"].astimezone(dt.UTC).isoformat(timespec="microseconds")  # type: ignore[union-attr]
    return json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def _keys_line(keys: ExportKeys) -> bytes:
    return json.dumps({"export_keys": {"access_id": keys.access_id, "keys": keys.keys}}, ensure_ascii=False,
                      separators=(",", ":")).encode() + b"\n"


@dataclass
class Written:
    """What an archive file holds: its path, record count, digest, and where each chain stood at its last record."""

    path: Path
    rows: int
    sha256: str
    heads: dict[str, Head]


class ArchiveNotWritten(Exception):
    """The archive of a month could not be written to its directory (a full volume, one the process may not write):
    nothing was dropped."""

    def __init__(self, partition: str, directory: Path, cause: OSError) -> None:
        super().__init__(f"{partition}: {cause}")
        self.partition = partition
        self.directory = directory
        self.cause = cause


async def write_file(path: Path, partition: str, start: dt.datetime, end: dt.datetime,
                     rows: AsyncIterator[Mapping[str, object] | ExportKeys], key: Ed25519PrivateKey) -> Written:
    """Writes ``rows`` (records in chain, sequence order, then the keys the month's exports sent) as a signed
    archive, atomically (a temporary file renamed once it is on disk)."""
    partial = path.with_name(path.name + ".partial")
    try:
        return await _write_partial(partial, path, partition, start, end, rows, key)
    except BaseException:
        # A file cut short (a full volume) is no archive; left there, it would hold the space the next pass needs.
        partial.unlink(missing_ok=True)
        raise


async def _write_partial(partial: Path, path: Path, partition: str, start: dt.datetime, end: dt.datetime,
                         rows: AsyncIterator[Mapping[str, object] | ExportKeys], key: Ed25519PrivateKey) -> Written:
    """write_file's work: the archive written to ``partial``, then renamed to ``path``. Every operation on the file
    goes through _on_disk; the rows are read from the database in between, whose errors are not the file's."""
    digest, count, heads = hashlib.sha256(), 0, {}
    directory = path.parent
    # Owner-only from the moment it exists: every line names whom an access was about (a 公民身份号码) and who
    # read the record; opened as any file, it took the umask's mode (0644), readable by anyone on the machine.
    out = _on_disk(partition, directory, open_private, partial, "wb")
    try:
        header = json.dumps({"format": FORMAT, "partition": partition, "from": start.isoformat(),
                             "to": end.isoformat()}, separators=(",", ":")).encode() + b"\n"
        digest.update(header)
        _on_disk(partition, directory, out.write, header)
        async for row in rows:
            if isinstance(row, ExportKeys):
                line = _keys_line(row)
                digest.update(line)
                _on_disk(partition, directory, out.write, line)
                continue
            line = _line(row)
            digest.update(line)
            _on_disk(partition, directory, out.write, line)
            count += 1
            chain_id = str(row["chain_id"])
            heads[chain_id] = Head(chain_id, int(row["seq"]), str(row["hash"]))  # type: ignore[call-overload]
        signature = key.sign(signed_bytes(partition, count, digest.hexdigest()))
        trailer = {"trailer": {"rows": count, "sha256": digest.hexdigest(), "key_id": key_id(key.public_key()),
                               "signature": base64.b64encode(signature).decode()}}
        _on_disk(partition, directory, out.write, json.dumps(trailer, separators=(",", ":")).encode() + b"\n")
        _on_disk(partition, directory, _sync, out)
    finally:
        # Written and synced, it closes with nothing to write; after a failed write, closing tries the buffer again
        # and fails the same way, which would hide the first error.
        with contextlib.suppress(OSError):
            out.close()
    _on_disk(partition, directory, partial.replace, path)
    # The rename is on disk only once the directory is: the partition is dropped next, and a crash of the node
    # before the file system wrote the directory back would leave neither the month's rows nor their file.
    _on_disk(partition, directory, _sync_directory, directory)
    return Written(path, count, digest.hexdigest(), heads)


def _sync(out: IO[bytes]) -> None:
    out.flush()
    os.fsync(out.fileno())


def _sync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _on_disk(partition: str, directory: Path, operation: Callable[..., T], *args: object) -> T:
    """``operation(*args)`` on the archive's file or directory, its OSError raised as ArchiveNotWritten: the file
    system's refusal (a full volume), told apart from the database's connection failing, which is an OSError too."""
    try:
        return operation(*args)
    except OSError as exc:
        raise ArchiveNotWritten(partition, directory, exc) from exc


@dataclass
class ExportTally:
    """What the months checked so far say of their exports: the opening records held, the keys held for each
    export (its ExportKeys lines) and what each closing record vouches for, with the file it is in. An export's
    opening record (and so its keys) and its closing record may be in two months; they are compared once every
    month given has been read (:meth:`problems`)."""

    openings: set[str] = field(default_factory=set)
    kept: dict[str, SentKeys] = field(default_factory=dict)
    vouched: dict[str, tuple[int, str, str]] = field(default_factory=dict)

    def problems(self) -> list[str]:
        """Every export held whole (its opening record and its closing one among the months read) whose keys
        held are not those its closing record vouches for. Names exports, never a key."""
        found = []
        for access_id, (count, digest, name) in self.vouched.items():
            if access_id not in self.openings:
                continue  # its month not given: its keys are not either
            kept = self.kept.get(access_id, SentKeys())
            if (kept.count, kept.digest) != (count, digest):
                found.append(f"{name}export {shown_name(access_id)}: the persons' keys the archive holds are not "
                             f"those its closing record says it sent ({kept.count} held, {count} sent)")
        return found


def _tally_keys(data: Mapping[str, object], tally: ExportTally) -> str | None:
    """Adds an export-keys line to ``tally``; why it is not one, or None."""
    entry = data.get("export_keys")
    access_id = entry.get("access_id") if isinstance(entry, dict) else None
    keys = entry.get("keys") if isinstance(entry, dict) else None
    if not isinstance(access_id, str) or not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        return "not an export's keys (an object of access_id and keys)"
    tally.kept.setdefault(access_id, SentKeys()).add(keys)
    return None


def _tally_record(data: Mapping[str, object], tally: ExportTally, prefix: str) -> None:
    """Notes an export's opening record, or what a closing record vouches for, of a record whose chain checked."""
    if data.get("operation") == "Export":
        tally.openings.add(str(data["id"]))
    elif (vouched := vouched_keys(data)) is not None:
        tally.vouched[str(data["key"])] = (*vouched, prefix)


def verify_file(lines: Iterable[bytes], public_keys: Iterable[Ed25519PublicKey], named: str = "",
                heads: dict[str, tuple[int, str]] | None = None, exports: ExportTally | None = None,
                prefix: str = "") -> tuple[int, list[str]]:
    """Checks an archive offline: signed by a trusted key, unaltered, and every record's chain intact within the
    file. Returns the number of records and every problem (none: the archive is good).

    ``named``: the partition the file's name says it holds (access_log_YYYYMM.jsonl). The signature covers the
    partition inside the file, not its name, so two months' files swapped (or one copied over another) each
    verify; the auditor checking "January" must be told the file holds another month.

    ``heads``: each chain's last (sequence, hash) in the months checked before this one, which its first record in
    this file must follow; updated with this file's (:func:`verify_files`).

    ``exports``: the exports of the months checked with this one (:func:`verify_files`), updated with this file's
    and judged by the caller; None: this file's are judged here (an export's keys, held with its opening record,
    against its closing record, when both are in the file). ``prefix`` goes before each export's problem."""
    keys = {key_id(key): key for key in public_keys}
    digest, rows, problems = hashlib.sha256(), 0, []
    partition, trailer, format_ = "", None, FORMAT
    heads = {} if heads is None else heads
    tally = ExportTally() if exports is None else exports
    ended = False  # the trailer was read
    for number, line in enumerate(lines, 1):
        if ended:
            # Nothing the signature covers follows the trailer: a line here (a record made up and appended to a
            # month's file, say) was added after the file was signed, and was ignored: the file verified clean.
            if line.strip():
                problems.append(f"line {number}: follows the trailer, so the signature does not cover it (added "
                                "after the file was signed)")
            continue
        try:
            data = json.loads(line)
        except (ValueError, RecursionError):  # RecursionError: arrays nested deeper than the parser goes
            problems.append(f"line {number}: not JSON")
            digest.update(line)
            continue
        if isinstance(data, dict) and "trailer" in data:
            trailer, ended = data["trailer"], True
            continue
        digest.update(line)
        if number == 1:
            if not isinstance(data, dict) or data.get("format") not in FORMATS:
                return 0, [f"not a {' or '.join(FORMATS)} file"]
            partition, format_ = str(data.get("partition", "")), str(data["format"])
            continue
        if format_ != FORMAT_V1 and isinstance(data, dict) and "export_keys" in data:
            if (problem := _tally_keys(data, tally)) is not None:
                problems.append(f"line {number}: {problem}")
            continue
        rows += 1
        problem = _check_row(data, heads)
        if problem:
            problems.append(f"line {number}: {problem}")
        else:
            _tally_record(data, tally, prefix)  # type: ignore[arg-type]
    if named and partition != named:
        held = shown_name(partition) if partition else "no partition"
        problems.append(f"the file is named for {named} but holds {held} (renamed or swapped with another month's "
                        "file)")
    if not ended:
        return rows, [*problems, "no trailer: the file was cut short"]
    if not isinstance(trailer, dict):
        # {"trailer": 5} ended verify-archive in a traceback (AttributeError), {"trailer": null} read as no trailer.
        return rows, [*problems, "the trailer is not the signed one (an object of rows, sha256, key_id and "
                                 "signature): the file was altered"]
    key = keys.get(trailer.get("key_id")) if isinstance(trailer.get("key_id"), str) else None
    if key is None:
        # Which key, and what to give: a month archived before an audit key rotation is signed by the retired key.
        problems.append(f"signed by key {shown_name(trailer.get('key_id'))!r}, which is not a trusted audit key (none "
                        "of the public keys given: a month archived before a rotation of the audit signing key "
                        "needs the retired key's public half, audit-retired-public-keys)")
    else:
        try:
            key.verify(base64.b64decode(str(trailer.get("signature")), validate=True),
                       signed_bytes(partition, trailer.get("rows"), trailer.get("sha256"),  # type: ignore[arg-type]
                                    format_))
        except (InvalidSignature, ValueError, TypeError):  # binascii.Error is a ValueError
            # A trusted key's trailer missing its rows or digest read as "not a trusted audit key".
            problems.append("the signature does not match the trailer")
    if trailer.get("sha256") != digest.hexdigest():
        problems.append("the records are not those the signature covers (digest differs)")
    if trailer.get("rows") != rows:
        problems.append(f"the trailer counts {_shown_count(trailer.get('rows'))} records, the file holds {rows}")
    if exports is None:
        problems += tally.problems()
    return rows, problems


def verify_files(files: Sequence[tuple[str, Iterable[bytes]]], public_keys: Sequence[Ed25519PublicKey]
                 ) -> tuple[int, list[str], list[str]]:
    """Checks several archived months as :func:`verify_file` does each, in the order given (oldest first), and
    that each chain's first record in a month follows its last in the months before: one file at a time, a month's
    file whose first records linked to nothing before it (records cut from the end of the month before, or a month
    made up) verified clean. ``files``: (name, lines) pairs. Returns the records, every problem (each named by its
    file when there are several) and notes: months missing between the files given, whose chains cannot be
    followed across."""
    heads: dict[str, tuple[int, str]] = {}
    exports = ExportTally()
    rows, problems, notes, previous = 0, [], [], ""
    for name, lines in files:
        named = name.removesuffix(".jsonl") if _ARCHIVE_NAME.fullmatch(name) else ""
        if previous and named and (gap := _months_between(previous, named)):
            notes.append(f"no file given for {', '.join(gap)} between {previous} and {named}: a chain running "
                         "through it is reported as not following on")
        counted, found = verify_file(lines, public_keys, named, heads, exports,
                                     f"{name}: " if len(files) > 1 else "")
        rows += counted
        problems += [f"{name}: {problem}" for problem in found] if len(files) > 1 else found
        previous = named or previous
    # An export's keys are with its opening record's month, its closing record may be in the next one.
    return rows, problems + exports.problems(), notes


_ARCHIVE_NAME = re.compile(r"access_log_\d{6}\.jsonl")


def _months_between(earlier: str, later: str) -> list[str]:
    """The partitions (access_log_YYYYMM) strictly between two."""
    months, month = [], month_bounds(earlier)[1]
    end = month_bounds(later)[0]
    while month < end:
        months.append(f"access_log_{month:%Y%m}")
        month = month_bounds(f"access_log_{month:%Y%m}")[1]
    return months


def _utc(text: str) -> dt.datetime:
    """A record's time as the writer stores it (UTC ISO form, with its offset), in UTC; ValueError for one without
    an offset (read in the verifying machine's own zone, its hash held or not by where the auditor sat), and
    OverflowError for one whose UTC instant is no date (9999-12-31T23:59:59-14:00 ended verify-archive in a
    traceback)."""
    time = dt.datetime.fromisoformat(text)
    if time.tzinfo is None:
        raise ValueError("a record's time has its offset")
    return time.astimezone(dt.UTC)


def _shown_count(rows: object) -> str:
    """A trailer's record count as a problem names it: a number as it is, anything else (altered) only described."""
    return str(rows) if rows is None or type(rows) is int else shown_name(rows)


def _check_row(data: object, heads: dict[str, tuple[int, str]]) -> str | None:
    """Why an archived record breaks its chain within the file, or None."""
    try:
        # A line of an archive written before records had a format (query migration 023) has neither record_format
        # nor grant_id: format 1, verified as it was hashed.
        row = dict(data)  # type: ignore[call-overload]
        row["time"] = _utc(row["time"])
        values = hashed_values(row)
        chain_id, seq, prev_hash, stored = row["chain_id"], row["seq"], row["prev_hash"], row["hash"]
    except (KeyError, TypeError, ValueError, OverflowError):
        return "not an access record"
    if not all(isinstance(value, str) for value in (chain_id, prev_hash, stored)) or type(seq) is not int \
            or type(row.get("record_format", 1)) is not int:
        # The writer's chain ids and hashes are text and its sequences and formats integers: a line altered to hold
        # a list or an object there ended verify-archive in a traceback (unhashable type; a chain's first record of
        # the month linking to a number: no attribute 'encode'), telling the auditor nothing of the file; a format
        # of true passed for format 1.
        return "not an access record"
    last = heads.get(chain_id)
    if last is not None and seq != last[0] + 1:
        return f"chain {shown_name(chain_id)}: expected record {last[0] + 1}, found {seq}"
    if last is not None and prev_hash != last[1]:
        return f"chain {shown_name(chain_id)} record {seq}: does not link to the previous record"
    if last is None and seq == 1 and prev_hash != GENESIS:
        return f"chain {shown_name(chain_id)} record 1: does not start from genesis"
    if record_format(row) not in KNOWN_FORMATS:
        return (f"chain {shown_name(chain_id)} record {seq}: record format {record_format(row)} is not one this "
                "release knows")
    if chain_hash(prev_hash, values) != stored:
        return f"chain {shown_name(chain_id)} record {seq}: content does not match its hash"
    heads[chain_id] = (seq, stored)
    return None


async def archive_partition(store: QueryStore, signer: CheckpointSigner, key: Ed25519PrivateKey, name: str,
                            directory: Path, now: dt.datetime) -> Written:
    """Archives the partition ``name`` (access_log_YYYYMM) into ``directory`` and drops it.

    Its days are counted into the daily counts first (summaries and figures keep them), the file is on disk
    before anything is dropped, and the chains' heads in the month are signed, the chains that ended in it
    registered, and the partition dropped in one transaction.
    """
    start, end = month_bounds(name)
    days = [start + dt.timedelta(days=n) for n in range((end - start).days)]
    await store.roll_up_days([(day.date(), day, day + dt.timedelta(days=1)) for day in days])
    await asyncio.to_thread(_on_disk, name, directory, directory.mkdir, 0o777, True, True)
    written = await write_file(directory / f"{name}.jsonl", name, start, end, store.partition_rows(name), key)
    anchors = [signer.sign(head, now, False) for head in written.heads.values()]
    await store.drop_archived_partition(name, anchors, str(written.path), written.rows, written.sha256, now)
    return written


def month_bounds(name: str) -> tuple[dt.datetime, dt.datetime]:
    """The first instants (CST) of the partition's month and of the next."""
    month = dt.datetime.strptime(name.removeprefix("access_log_"), "%Y%m").replace(tzinfo=CST)
    following = (month + dt.timedelta(days=32)).replace(day=1)
    return month, following
