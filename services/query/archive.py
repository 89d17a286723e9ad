"""Retention of the access log (issue 13): a month older than the authority keeps online is archived as a signed
file an auditor verifies offline, then its partition is dropped (docs/architecture.md, "The audit log at scale").

The file is JSON Lines: a header ``{"format": "govshare.audit.archive.v1", "partition": ..., "from": ...,
"to": ...}``, one line per record (the access log's columns, time in UTC ISO form, in chain and sequence order;
since query migration 023 with its record_format and grant_id, a line without them being a format-1 record),
and a trailer ``{"trailer": {"rows": n, "sha256": hex, "key_id": ..., "signature": base64}}``. The signature
(Ed25519, the audit signing key) covers the compact JSON ``["govshare.audit.archive.v1",partition,rows,sha256]``
where sha256 is that of every byte before the trailer. :func:`verify_file` checks the signature, the digest, and
that every record's hash is that of its content and links to the record before it (the first record of each
chain in the file links to the one before the file: the previous month's archive, or genesis).

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
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.query.audit import GENESIS, KNOWN_FORMATS, RECORD_COLUMNS, chain_hash, hashed_values, record_format
from services.query.checkpoints import CheckpointSigner
from services.query.figures import CST
from services.query.store import QueryStore
from services.runtime.checkpoints import Head, key_id
from services.runtime.files import open_private

T = TypeVar("T")

FORMAT = "govshare.audit.archive.v1"


def signed_bytes(partition: str, rows: int, digest: str) -> bytes:
    """What an archive's signature covers."""
    return json.dumps([FORMAT, partition, rows, digest], separators=(",", ":")).encode("ascii")


def _line(row: Mapping[str, object]) -> bytes:
    values = {name: row[name] for name in RECORD_COLUMNS}
    values["time"] = row["time"].astimezone(dt.UTC).isoformat(timespec="microseconds")  # type: ignore[union-attr]
    return json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


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
                     rows: AsyncIterator[Mapping[str, object]], key: Ed25519PrivateKey) -> Written:
    """Writes ``rows`` (in chain, sequence order) as a signed archive, atomically (a temporary file renamed once
    it is on disk)."""
    partial = path.with_name(path.name + ".partial")
    try:
        return await _write_partial(partial, path, partition, start, end, rows, key)
    except BaseException:
        # A file cut short (a full volume) is no archive; left there, it would hold the space the next pass needs.
        partial.unlink(missing_ok=True)
        raise


async def _write_partial(partial: Path, path: Path, partition: str, start: dt.datetime, end: dt.datetime,
                         rows: AsyncIterator[Mapping[str, object]], key: Ed25519PrivateKey) -> Written:
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


def verify_file(lines: Iterable[bytes], public_keys: Iterable[Ed25519PublicKey], named: str = "",
                heads: dict[str, tuple[int, str]] | None = None) -> tuple[int, list[str]]:
    """Checks an archive offline: signed by a trusted key, unaltered, and every record's chain intact within the
    file. Returns the number of records and every problem (none: the archive is good).

    ``named``: the partition the file's name says it holds (access_log_YYYYMM.jsonl). The signature covers the
    partition inside the file, not its name, so two months' files swapped (or one copied over another) each
    verify; the auditor checking "January" must be told the file holds another month.

    ``heads``: each chain's last (sequence, hash) in the months checked before this one, which its first record in
    this file must follow; updated with this file's (:func:`verify_files`)."""
    keys = {key_id(key): key for key in public_keys}
    digest, rows, problems = hashlib.sha256(), 0, []
    partition, trailer = "", None
    heads = {} if heads is None else heads
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
            if not isinstance(data, dict) or data.get("format") != FORMAT:
                return 0, [f"not a {FORMAT} file"]
            partition = str(data.get("partition", ""))
            continue
        rows += 1
        problem = _check_row(data, heads)
        if problem:
            problems.append(f"line {number}: {problem}")
    if named and partition != named:
        problems.append(f"the file is named for {named} but holds {partition or 'no partition'}"
                        " (renamed or swapped with another month's file)")
    if not ended:
        return rows, [*problems, "no trailer: the file was cut short"]
    if not isinstance(trailer, dict):
        # {"trailer": 5} ended verify-archive in a traceback (AttributeError), {"trailer": null} read as no trailer.
        return rows, [*problems, "the trailer is not the signed one (an object of rows, sha256, key_id and "
                                 "signature): the file was altered"]
    key = keys.get(trailer.get("key_id")) if isinstance(trailer.get("key_id"), str) else None
    if key is None:
        # Which key, and what to give: a month archived before an audit key rotation is signed by the retired key.
        problems.append(f"signed by key {str(trailer.get('key_id'))[:64]!r}, which is not a trusted audit key (none "
                        "of the public keys given: a month archived before a rotation of the audit signing key "
                        "needs the retired key's public half, audit-retired-public-keys)")
    else:
        try:
            key.verify(base64.b64decode(str(trailer.get("signature")), validate=True),
                       signed_bytes(partition, trailer.get("rows"), trailer.get("sha256")))  # type: ignore[arg-type]
        except (InvalidSignature, ValueError, TypeError):  # binascii.Error is a ValueError
            # A trusted key's trailer missing its rows or digest read as "not a trusted audit key".
            problems.append("the signature does not match the trailer")
    if trailer.get("sha256") != digest.hexdigest():
        problems.append("the records are not those the signature covers (digest differs)")
    if trailer.get("rows") != rows:
        problems.append(f"the trailer counts {trailer.get('rows')} records, the file holds {rows}")
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
    rows, problems, notes, previous = 0, [], [], ""
    for name, lines in files:
        named = name.removesuffix(".jsonl") if _ARCHIVE_NAME.fullmatch(name) else ""
        if previous and named and (gap := _months_between(previous, named)):
            notes.append(f"no file given for {', '.join(gap)} between {previous} and {named}: a chain running "
                         "through it is reported as not following on")
        counted, found = verify_file(lines, public_keys, named, heads)
        rows += counted
        problems += [f"{name}: {problem}" for problem in found] if len(files) > 1 else found
        previous = named or previous
    return rows, problems, notes


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
        return f"chain {chain_id}: expected record {last[0] + 1}, found {seq}"
    if last is not None and prev_hash != last[1]:
        return f"chain {chain_id} record {seq}: does not link to the previous record"
    if last is None and seq == 1 and prev_hash != GENESIS:
        return f"chain {chain_id} record 1: does not start from genesis"
    if record_format(row) not in KNOWN_FORMATS:
        return f"chain {chain_id} record {seq}: record format {record_format(row)} is not one this release knows"
    if chain_hash(prev_hash, values) != stored:
        return f"chain {chain_id} record {seq}: content does not match its hash"
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
