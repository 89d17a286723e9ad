"""A small synchronous client for trying the platform by hand (`govshare query`, `govshare verify`), a data
officer's file of foundation records (`govshare load-records`), and the auditor's checkpoint export and offline
verification (`govshare export-checkpoints`, `verify-checkpoints`)."""

from __future__ import annotations

import csv
import datetime as dt
import errno
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from google.protobuf import json_format

from govshare.authorization.v1 import admin_log_pb2, admin_log_pb2_grpc, token_pb2, token_pb2_grpc
from govshare.common.v1 import common_pb2
from govshare.foundation.v1 import foundation_pb2, foundation_pb2_grpc
from govshare.query.v1 import audit_pb2, audit_pb2_grpc, query_pb2, query_pb2_grpc
from services.runtime.errors import details_of
from services.stopping import exit_status

PURPOSES = {
    "administrative_basis": common_pb2.PURPOSE_TYPE_ADMINISTRATIVE_BASIS,
    "work_reference": common_pb2.PURPOSE_TYPE_WORK_REFERENCE,
    "data_verification": common_pb2.PURPOSE_TYPE_DATA_VERIFICATION,
    "business_collaboration": common_pb2.PURPOSE_TYPE_BUSINESS_COLLABORATION,
}


def issue_token(channel: grpc.Channel, system_id: str, secret: str) -> str:
    return token_pb2_grpc.TokenServiceStub(channel).IssueToken(
        token_pb2.IssueTokenRequest(system_id=system_id, secret=secret), timeout=10).token


def bearer(channel: grpc.Channel, system_id: str, secret: str) -> tuple[tuple[str, str], ...]:
    """The call metadata of a new token for the system (IssueToken through ``channel``)."""
    return (("authorization", f"Bearer {issue_token(channel, system_id, secret)}"),)


def print_error(error: grpc.RpcError) -> None:
    """The status, reason and every field violation, as a caller needs them to fix the request."""
    info, bad = details_of(error)
    out = {"status": error.code().name, "message": error.details()}
    if info is not None:
        out["reason"] = info.reason
        out["domain"] = info.domain
    if bad is not None:
        out["violations"] = [{"field": v.field, "description": v.description} for v in bad.field_violations]
    if error.code() == grpc.StatusCode.UNAVAILABLE and "failed to connect" in (error.details() or ""):
        out["hint"] = NOTHING_LISTENS
    print(json.dumps(out, ensure_ascii=False, indent=2), file=sys.stderr)


#: What a command whose gateway refused the connection says beside gRPC's words. With the platform stopped (or
#: another data directory's running), `govshare query` called the gateway its demo credentials name and printed
#: only "failed to connect to all addresses; … Connection refused": the newcomer who had stopped `govshare up`, or
#: started it with --data-dir, read it as the platform failing.
NOTHING_LISTENS = ("nothing listens at the gateway's address: start the platform (`govshare up`), or point the "
                   "command at the one running: its data directory with --data-dir or GOVSHARE_DATA_DIR (its "
                   "banner prints it), or --gateway")


#: A reply may be as large as any message of the platform (services.runtime.server.MAX_MESSAGE_BYTES, 8 MiB, and
#: its frame): gRPC's default of 4 MiB made `govshare query` of a 前置机's record of 5 MB end in "Received message
#: larger than max", a record every other caller received.
CHANNEL_OPTIONS = [("grpc.max_receive_message_length", 8 * 1024 * 1024 + 64 * 1024)]


def _call(gateway: str, system_id: str, secret: str, call) -> int:  # type: ignore[no-untyped-def]
    with grpc.insecure_channel(gateway, options=CHANNEL_OPTIONS) as channel:
        try:
            response = call(query_pb2_grpc.QueryServiceStub(channel), bearer(channel, system_id, secret))
        except grpc.RpcError as error:
            print_error(error)
            return 1
    print(json.dumps(json_format.MessageToDict(response), ensure_ascii=False, indent=2))
    return 0


def run_query(gateway: str, system_id: str, secret: str, *, resource: str, key: str, items: list[str],
              purpose: str, purpose_text: str) -> int:
    request = query_pb2.QueryRequest(resource_code=resource, key=key, items=items,
                                     purpose=common_pb2.Purpose(type=PURPOSES[purpose], text=purpose_text))
    return _call(gateway, system_id, secret, lambda stub, md: stub.Query(request, metadata=md, timeout=10))


def run_verify(gateway: str, system_id: str, secret: str, *, resource: str, key: str, claims: dict[str, str],
               purpose: str, purpose_text: str) -> int:
    request = query_pb2.VerifyRequest(resource_code=resource, key=key, claims=claims,
                                      purpose=common_pb2.Purpose(type=PURPOSES[purpose], text=purpose_text))
    return _call(gateway, system_id, secret, lambda stub, md: stub.Verify(request, metadata=md, timeout=10))


def _checkpoint_pages(channel: grpc.Channel, md: tuple[tuple[str, str], ...], log: str):  # type: ignore[no-untyped-def]
    """Every page of signed checkpoints of ``log`` ("access" or "admin"): (checkpoints, key id, public key)."""
    from services.authorization.admin_log import CHAIN_ID
    from services.runtime.checkpoints import Checkpoint

    token = ""
    while True:
        if log == "admin":
            page = admin_log_pb2_grpc.AdminLogServiceStub(channel).ExportAdminLogCheckpoints(
                admin_log_pb2.ExportAdminLogCheckpointsRequest(page_size=1000, page_token=token), metadata=md,
                timeout=30)
            found = [Checkpoint(CHAIN_ID, c.sequence, c.hash, c.time.ToDatetime(tzinfo=dt.UTC), False, c.key_id,
                                c.signature) for c in page.checkpoints]
        else:
            page = audit_pb2_grpc.AuditServiceStub(channel).ExportAuditCheckpoints(
                audit_pb2.ExportAuditCheckpointsRequest(page_size=1000, page_token=token), metadata=md, timeout=30)
            found = [Checkpoint(c.chain_id, c.sequence, c.hash, c.time.ToDatetime(tzinfo=dt.UTC), c.final,
                                c.key_id, c.signature) for c in page.checkpoints]
        yield found, page.key_id, page.public_key_pem
        token = page.next_page_token
        if not token:
            return


def run_export_checkpoints(gateway: str, system_id: str, secret: str, *, out: Path, log: str = "access") -> int:
    """Writes every signed checkpoint of the access audit (or, ``log="admin"``, of the administrative log) to
    ``out`` (JSON Lines), and the platform's public key beside it (``out`` + ``.pub.pem``) for comparison with
    the one the operator handed over out of band."""
    from services.runtime.checkpoints import to_json

    if out.is_dir():  # found only at the rename otherwise, after every page was fetched
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(out))
    try:
        earlier = _earlier_export(out, log)
    except (OSError, ValueError) as exc:
        print(f"govshare export-checkpoints: {out}: {exc}", file=sys.stderr)
        return 2
    # Written beside and renamed when whole: the auditor's kept export of that name (what a later verify-trail
    # --checkpoints compares the trail with) stays as it was when the export is refused, fails or is cut short.
    partial, public_partial = (out.with_name(f".{out.name}{suffix}.partial") for suffix in ("", ".pub.pem"))
    written, key_id, public_pem = 0, "", ""
    kept_from_before: list[str] = []
    try:
        try:
            file = partial.open("w", encoding="utf-8")
        except OSError as exc:  # named as the file the user gave, not the hidden one
            raise type(exc)(exc.errno, exc.strerror, str(out)) from None
        with grpc.insecure_channel(gateway) as channel, file:
            try:
                md = bearer(channel, system_id, secret)
                for found, page_key_id, page_public_pem in _checkpoint_pages(channel, md, log):
                    for checkpoint in found:
                        file.write(json.dumps(to_json(checkpoint)) + "\n")
                        earlier.pop((checkpoint.chain_id, checkpoint.seq, checkpoint.hash), None)
                        written += 1
                    key_id, public_pem = page_key_id, page_public_pem
                kept_from_before = [line for lines in earlier.values() for line in lines]
                for line in kept_from_before:  # what the file held that the platform no longer has
                    file.write(line + "\n")
            except grpc.RpcError as error:
                print_error(error)
                return 1
        public_partial.write_text(public_pem, encoding="utf-8")
        os.replace(public_partial, f"{out}.pub.pem")
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
        public_partial.unlink(missing_ok=True)
    summary: dict[str, object] = {"checkpoints": written, "file": str(out), "key_id": key_id}
    if kept_from_before:
        summary["kept_from_before"] = len(kept_from_before)
        print(f"govshare export-checkpoints: {len(kept_from_before)} lines of {out} are not on the platform any "
              "more (the platform deletes no checkpoint): kept in the file; verify with them (`govshare audit "
              "verify-trail --checkpoints`, VerifyAdminLog) to see what they reveal", file=sys.stderr)
    print(json.dumps(summary))
    return 0


def _earlier_export(out: Path, log: str) -> dict[tuple[str, int, str], list[str]]:
    """The lines of an export ``out`` already holds, by the head each signs (chain id, sequence, hash): each is
    kept unless the new export signs that head again (as it does, final, for a chain closed at a stop since: the
    final checkpoint replaces the periodic one of the same head). An auditor exports to the same file month after
    month: replacing it with what the platform has now dropped, from the auditor's own copy, every checkpoint
    deleted on the platform meanwhile, which that copy is kept to reveal. A line that is no checkpoint is kept as
    it is; a file of the other log is refused (ValueError), never mixed into this one."""
    from services.runtime.checkpoints import from_json, to_json

    if not out.is_file():  # none yet (or no file to keep: a device, which reading could block on)
        return {}
    earlier: dict[tuple[str, int, str], list[str]] = {}
    for number, raw in enumerate(out.read_bytes().splitlines(), start=1):
        text = raw.decode("utf-8", errors="replace").strip()
        if not text:
            continue
        try:
            checkpoint = from_json(json.loads(text))
        except (ValueError, RecursionError):  # RecursionError: nested deeper than the JSON parser goes
            earlier[("", number, text)] = [text]
            continue
        if why := other_log(checkpoint.chain_id, log):
            raise ValueError(f"line {number}: {why.split(' (')[0]}; give another --out (the file is left as it is)")
        lines = earlier.setdefault((checkpoint.chain_id, checkpoint.seq, checkpoint.hash), [])
        if (line := json.dumps(to_json(checkpoint))) not in lines:
            lines.append(line)
    return earlier


#: How often `govshare audit verify-trail --wait` asks how a job is doing.
VERIFICATION_POLL_SECONDS = 2.0


def other_log(chain_id: str, log: str) -> str | None:
    """Why a checkpoint of chain ``chain_id`` is not one of ``log`` ("access" or "admin"), or None. The two logs'
    exports are files of one form, told apart by the administrative log's fixed chain id: checked against the
    other log's context, every signature fails, and an auditor who gave one for the other was told the file was
    altered (verify-checkpoints) or the trail broken (verify-trail --checkpoints)."""
    from services.authorization.admin_log import CHAIN_ID

    if log == "admin" and chain_id != CHAIN_ID:
        return "not a checkpoint of the administrative log (an access audit export? verify it without --log admin)"
    if log != "admin" and chain_id == CHAIN_ID:
        return ("a checkpoint of the administrative log, not of the access audit (an export of "
                "`govshare export-checkpoints --log admin`: verify it with --log admin)")
    return None


def _latest_kept(path: Path, log: str) -> list:  # list[services.runtime.checkpoints.Checkpoint]
    """The latest checkpoint of each chain in an export file the auditor kept (JSON Lines) of ``log`` ("access"
    or "admin"). The latest is enough for a verification: a chain that reaches it with its hash holds every
    earlier one too. A line of the other log's export is refused naming it (its signatures would all fail). A file
    holding none (empty: a copy that failed, or an export made before the platform signed a checkpoint) is said to
    compare nothing: the verification's INTACT read as if the log matched the auditor's copy."""
    from services.runtime.checkpoints import from_json

    latest: dict[str, object] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            checkpoint = from_json(json.loads(line))
        except (ValueError, RecursionError) as exc:  # json.JSONDecodeError is a ValueError; RecursionError: arrays
            # nested deeper than the parser goes ended verify-trail --checkpoints in a traceback
            raise ValueError(f"{path}:{number}: not a checkpoint line ({exc})") from None
        if other_log(checkpoint.chain_id, log):
            raise ValueError(f"{path}:{number}: " + (
                "not a checkpoint of the administrative log (an export of the access audit: `govshare audit "
                "verify-trail --checkpoints` takes it)" if log == "admin" else
                "a checkpoint of the administrative log (an export of `govshare export-checkpoints --log admin`), "
                "not of the access audit the job verifies"))
        if checkpoint.chain_id not in latest or checkpoint.seq > latest[checkpoint.chain_id].seq:  # type: ignore[attr-defined]
            latest[checkpoint.chain_id] = checkpoint
    if not latest:
        command = "audit verify-admin-log" if log == "admin" else "audit verify-trail"
        print(f"govshare {command}: --checkpoints {path} holds no checkpoint, so nothing of yours is compared: the "
              "log is verified against the platform's own checkpoints alone (an export made before the platform "
              "signed one is empty; export again later and keep that)", file=sys.stderr)
    return list(latest.values())


def latest_kept_checkpoints(path: Path) -> list[audit_pb2.AuditCheckpoint]:
    """The latest checkpoint of each chain of the access audit in an export file the auditor kept."""
    from services.query.audit_servicer import checkpoint_to_proto

    return [checkpoint_to_proto(checkpoint) for checkpoint in _latest_kept(path, "access")]


def run_verify_admin_log(gateway: str, system_id: str, secret: str, *, kept: Path | None = None) -> int:
    """Walks the administrative log's chain against its signed checkpoints (AdminLogService.VerifyAdminLog) and
    prints the answer as JSON; exit 0 when the log is intact, 1 when it is not. ``kept``: an export file the
    auditor kept (`govshare export-checkpoints --log admin`), whose latest checkpoint the platform also checks,
    so a tail cut together with the checkpoints that knew it is found."""
    from services.runtime.timestamps import to_timestamp

    try:
        held = [admin_log_pb2.AdminLogCheckpoint(
            sequence=c.seq, hash=c.hash, time=to_timestamp(c.time), key_id=c.key_id, signature=c.signature)
            for c in _latest_kept(kept, "admin")] if kept is not None else []
    except (OSError, ValueError) as exc:
        print(f"govshare audit verify-admin-log: --checkpoints: {exc}", file=sys.stderr)
        return 2

    with grpc.insecure_channel(gateway, options=CHANNEL_OPTIONS) as channel:
        try:
            md = bearer(channel, system_id, secret)
            answer = admin_log_pb2_grpc.AdminLogServiceStub(channel).VerifyAdminLog(
                admin_log_pb2.VerifyAdminLogRequest(checkpoints=held), metadata=md, timeout=300)
        except grpc.RpcError as error:
            print_error(error)
            return 1
    print(json.dumps(json_format.MessageToDict(answer), ensure_ascii=False, indent=2))
    return 0 if answer.state == admin_log_pb2.ADMIN_LOG_STATE_INTACT else 1


#: How long `audit verify-trail --wait` polls on through a platform that does not answer (PostgreSQL restarting, the
#: edge or a query replica restarted) before it stops waiting; the job itself goes on meanwhile.
VERIFICATION_OUTAGE_SECONDS = 300.0
_PASSING = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


def _goes_on(job_id: str) -> None:
    """Says that the job goes on without the command: stopping the wait is not cancelling the job."""
    print(f"govshare audit verify-trail: job {job_id} goes on running on the platform: `govshare audit verify-trail "
          f"--id {job_id}` reads it, with --cancel stops it", file=sys.stderr)


def _waited(stub: audit_pb2_grpc.AuditServiceStub, job: audit_pb2.AuditVerification,
            fresh_metadata: Callable[[], tuple[tuple[str, str], ...]], md: tuple[tuple[str, str], ...]
            ) -> audit_pb2.AuditVerification:
    """Polls ``job`` until it ends (_polled). Ctrl-C stops the waiting, not the job: said, or the auditor takes it
    for cancelled. Caught around the whole wait: caught around the poll alone, a Ctrl-C landing as a progress
    line was printed ended the command with 'interrupted' only (test_cli_interrupt's test failed 3 runs in 6)."""
    try:
        return _polled(stub, job, fresh_metadata, md)
    except KeyboardInterrupt:
        _goes_on(job.id)
        raise


def _polled(stub: audit_pb2_grpc.AuditServiceStub, job: audit_pb2.AuditVerification,
            fresh_metadata: Callable[[], tuple[tuple[str, str], ...]], md: tuple[tuple[str, str], ...]
            ) -> audit_pb2.AuditVerification:
    """Polls ``job`` until it ends, printing its progress. The job runs on the platform for as long as the trail
    takes, and the wait ended at the first poll that failed: a poll answered UNAVAILABLE while PostgreSQL
    restarted (the job going on) exited 1, which says the trail is not intact. Such a poll (UNAVAILABLE,
    DEADLINE_EXCEEDED) is said once and polled again, for up to VERIFICATION_OUTAGE_SECONDS; one refused
    UNAUTHENTICATED (the token, issued at the start, expired during a job longer than its lifetime) takes a
    new token once."""
    import time

    down_since: float | None = None
    renewed = False
    metadata: tuple[tuple[str, str], ...] | None = md
    while job.state == audit_pb2.AUDIT_VERIFICATION_STATE_RUNNING:
        print(json.dumps({"id": job.id, "records_verified": job.records_verified,
                          "progress_percent": job.progress_percent}), file=sys.stderr)
        try:
            time.sleep(VERIFICATION_POLL_SECONDS)
            if metadata is None:  # a new token, asked in the poll: an outage meanwhile is waited out alike
                metadata = fresh_metadata()
            job = stub.GetAuditVerification(audit_pb2.GetAuditVerificationRequest(id=job.id), metadata=metadata,
                                            timeout=30).verification
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.UNAUTHENTICATED and not renewed:
                metadata, renewed = None, True
                continue
            now = time.monotonic()
            if error.code() not in _PASSING or (down_since is not None
                                                and now - down_since >= VERIFICATION_OUTAGE_SECONDS):
                raise
            if down_since is None:
                down_since = now
                print(f"govshare audit verify-trail: the platform did not answer ({error.code().name}: "
                      f"{error.details()}); job {job.id} goes on there, polled again every "
                      f"{VERIFICATION_POLL_SECONDS:g} s for up to {VERIFICATION_OUTAGE_SECONDS:g} s", file=sys.stderr)
            continue
        down_since, renewed = None, False
    return job


def run_verify_trail(gateway: str, system_id: str, secret: str, *, job_id: str = "", cancel: bool = False,
                     wait: bool = False, resume_token: str = "", page_size: int = 0, kept: Path | None = None) -> int:
    """Starts a full verification of the access audit trail (a background job, AuditService.
    StartAuditVerification), or reads (``job_id``) or cancels one; prints the job as JSON. With ``wait`` it
    polls until the job ends and exits 0 when the trail is intact, 1 when it is not (or the job was cancelled); a job
    read after it ended (``job_id``) exits so too, one still running 0, and a cancel that took 0.
    ``kept``: an export file the auditor kept, whose latest checkpoint of each chain the job checks too."""
    try:
        held = latest_kept_checkpoints(kept) if kept is not None else []
    except (OSError, ValueError) as exc:
        print(f"govshare audit verify-trail: --checkpoints: {exc}", file=sys.stderr)
        return 2

    with grpc.insecure_channel(gateway) as channel:
        stub = audit_pb2_grpc.AuditServiceStub(channel)
        started: audit_pb2.AuditVerification | None = None  # the job as first read, when --wait stops early
        try:
            md = bearer(channel, system_id, secret)
            if cancel:
                job = stub.CancelAuditVerification(audit_pb2.CancelAuditVerificationRequest(id=job_id), metadata=md,
                                                   timeout=30).verification
            elif job_id:
                job = stub.GetAuditVerification(audit_pb2.GetAuditVerificationRequest(id=job_id), metadata=md,
                                                timeout=30).verification
            else:
                job = stub.StartAuditVerification(audit_pb2.StartAuditVerificationRequest(
                    resume_token=resume_token, page_size=page_size, checkpoints=held), metadata=md,
                    timeout=30).verification
            if wait:
                started = job
                job = _waited(stub, job, lambda: bearer(channel, system_id, secret), md)
        except grpc.RpcError as error:
            print_error(error)
            if wait and started is not None and started.state == audit_pb2.AUDIT_VERIFICATION_STATE_RUNNING:
                _goes_on(started.id)
            return 1
    print(json.dumps(json_format.MessageToDict(job), ensure_ascii=False, indent=2))
    if not cancel and (wait or job.state != audit_pb2.AUDIT_VERIFICATION_STATE_RUNNING):
        # A job read after it ended (--id) says its finding by the exit status too: a script checking later the job
        # it started read exit 0 of a BROKEN trail. One still running is 0: nothing is found yet.
        return 0 if job.result == audit_pb2.AUDIT_VERIFICATION_RESULT_INTACT else 1
    return 0


def _public_keys(paths: list[Path], command: str) -> list | None:
    """The Ed25519 public keys of the --public-key files, or None once it has said which file is not one (given
    several, "public key: no PEM public key found" did not say which)."""
    from services.runtime.keys import ed25519_public_keys

    keys = []
    for path in paths:
        try:
            keys += ed25519_public_keys(path.read_text(encoding="utf-8"))
        except OSError as exc:
            print(f"govshare {command}: --public-key {path}: {exc.strerror or exc}", file=sys.stderr)
            return None
        except ValueError as exc:  # UnicodeDecodeError is one
            print(f"govshare {command}: --public-key {path}: {exc}", file=sys.stderr)
            return None
    return keys


def run_verify_checkpoints(path: Path, public_key_paths: list[Path], log: str = "access") -> int:
    """Offline: every checkpoint in an export file signed by one of the given public keys (exit 0), or why not.
    ``log`` says whose checkpoints they are (each log signs under its own context)."""
    from services.authorization import admin_log
    from services.query import checkpoints as access
    from services.runtime.checkpoints import CheckpointVerifier, verify_export
    keys = _public_keys(public_key_paths, "verify-checkpoints")
    if keys is None:
        return 2
    context = admin_log.CONTEXT if log == "admin" else access.CONTEXT
    with path.open("rb") as lines:  # bytes: a line that is not UTF-8 is that line's problem (verify_export)
        named = "token signing key" if log == "admin" else "audit key"
        good, problems = verify_export(lines, CheckpointVerifier(keys, context, f"{named} (none of the --public-key "
                                                                              "files given)"),
                                       lambda checkpoint: other_log(checkpoint.chain_id, log))
    for problem in problems:
        print(problem, file=sys.stderr)
    print(json.dumps({"verified": good, "problems": len(problems)}))
    return 1 if problems else 0


def run_verify_archive(paths: Path | Sequence[Path], public_key_paths: list[Path]) -> int:
    """Offline: archived months of the access log (services/query/archive.py) each signed by one of the given audit
    public keys, unaltered, their chains intact within each and, given several, from one month to the next (exit 0),
    or every reason why not (exit 1). Months named access_log_YYYYMM.jsonl are taken oldest first."""
    from services.query.archive import verify_files
    keys = _public_keys(public_key_paths, "audit verify-archive")
    if keys is None:
        return 2
    paths = [paths] if isinstance(paths, Path) else list(paths)
    if all(re.fullmatch(r"access_log_\d{6}\.jsonl", path.name) for path in paths):
        paths.sort(key=lambda path: path.name)
    with ExitStack() as files:
        try:
            opened = [(path.name, files.enter_context(path.open("rb"))) for path in paths]
        except OSError as exc:
            print(f"govshare audit verify-archive: {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        rows, problems, notes = verify_files(opened, keys)
    for line in (*problems, *(f"note: {note}" for note in notes)):
        print(line, file=sys.stderr)
    print(json.dumps({"records": rows, "problems": len(problems), "files": len(paths)}))
    return 1 if problems else 0


#: Rejections printed to stderr; the others are counted (and kept whole with --rejected).
_REJECTIONS_SHOWN = 20
#: A LoadRecords call stays well inside the platform's message limit (8 MiB) whatever the records hold.
_LOAD_CALL_BYTES = 4 * 1024 * 1024


@dataclass
class _LoadTally:
    """What a load has done so far, to say where it stopped if it stops."""

    accepted: int = 0
    rejected: int = 0
    conflicts: int = 0
    first_line: int = 0
    last_line: int = 0
    shown: int = 0
    #: The line the file's last record read begins on, sent or not (0: the file holds none).
    last_record: int = 0
    #: Records accepted while the department was not the dataset's authoritative source (kept to be cross-checked,
    #: not made the records), and the first and last lines of the calls that sent them.
    kept: int = 0
    kept_lines: tuple[int, int] = (0, 0)
    #: The lines of the last call's batch that were rejected (a key of theirs may be given again below them).
    batch_rejected: set[int] = field(default_factory=set)
    #: The first and last lines of the call sent whose answer has not been taken in yet ((0, 0): none).
    in_flight: tuple[int, int] = (0, 0)


def _file_problem_said(problem: Exception) -> str:
    """A file that cannot be read named as every other command names it, "FILE: why": an OSError's own text,
    "[Errno 2] No such file or directory: 'people.csv'", was what a department's officer read."""
    if isinstance(problem, OSError) and problem.filename is not None:
        return f"{problem.filename}: {problem.strerror or problem}"
    return str(problem)


def run_load_records(gateway: str, system_id: str, secret: str, *, dataset: str, path: Path, encoding: str = "auto",
                     source: str = "", rejected_path: Path | None = None, start_line: int = 0) -> int:
    """Loads a department's CSV file of ``dataset`` records (services.record_files) through LoadRecords, as many
    records a call as a call takes: 0 when every record was accepted, 1 when some were rejected (each said by its
    line, and written with its reasons to ``rejected_path``) or the platform refused or did not answer (saying
    from which line to run again), 2 for a file or argument it cannot use (nothing sent)."""
    from services.foundation.datasets import DATASETS
    from services.record_files import FileProblem, file_encoding, rows_of

    definition = DATASETS.get(dataset)
    if definition is None:
        print(f"govshare load-records: unknown dataset {dataset!r}: one of {', '.join(DATASETS)}", file=sys.stderr)
        return 2
    if rejected_path is not None and _same_file(path, rejected_path):
        # Opened for writing first, it was emptied before a record was read: the officer's file lost, nothing loaded.
        print(f"govshare load-records: --rejected {rejected_path} is the file being loaded, which it would "
              "overwrite: give another name (rejected.csv)", file=sys.stderr)
        return 2
    try:
        codec = file_encoding(path, encoding)
        header, rows = rows_of(path, codec, definition)
    except (FileProblem, OSError, csv.Error) as problem:
        print(f"govshare load-records: {_file_problem_said(problem)}", file=sys.stderr)
        return 2
    tally = _LoadTally()
    with _rejection_writer(rejected_path, codec, header, start_line) as reject, \
            grpc.insecure_channel(gateway, options=CHANNEL_OPTIONS) as channel:
        stub = foundation_pb2_grpc.FoundationAdminServiceStub(channel)
        try:
            for batch in _load_batches(rows, start_line, tally, definition.key_item):
                _load_batch(stub, bearer(channel, system_id, secret), dataset, source, batch, tally, reject,
                            rejected_path)
        except grpc.RpcError as error:
            print_error(error)
            print(_stopped_at(tally, path, error.code() in _OUTCOME_UNKNOWN), file=sys.stderr)
            return 1
        except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM (services/stopping.py)
            print(_stopped_at(tally, path, True), file=sys.stderr)
            return exit_status(stop)
    if not tally.last_record:
        # An export that selected nothing (a filter of the wrong month, a query of an emptied table) ended
        # 'population: 0 records loaded … 0 rejected', exit 0, the load a script reports as done.
        print(f"govshare load-records: {path} holds no record, only the line naming the columns: nothing was sent "
              "(an export that selected nothing? check the query or filter it was made with)", file=sys.stderr)
        return 2
    if tally.last_record < start_line:
        # A --start-line past the end (a digit too many, copied from another file's message) loaded nothing and
        # ended as a load of no record would, exit 0: the officer took the rest of the file for loaded.
        print(f"govshare load-records: --start-line {start_line} is past the last record of {path}, which begins on "
              f"line {tally.last_record}: nothing was sent (is it the line the stopped load named, of this file?)",
              file=sys.stderr)
        return 2
    read_as = "" if codec == "utf-8-sig" else f" (read as {codec.upper()})"
    print(f"{dataset}: {tally.accepted} record{'s' * (tally.accepted != 1)} loaded from {path}{read_as}, "
          f"{tally.rejected} rejected, {tally.conflicts} disagreeing with the authoritative source")
    if tally.rejected > tally.shown:
        kept = f": every one in {rejected_path}" if rejected_path else ": pass --rejected FILE to keep them all"
        print(f"… and {tally.rejected - tally.shown} more rejected{kept}", file=sys.stderr)
    if tally.kept:
        print(_kept_for_cross_checking(tally, dataset), file=sys.stderr)
    if tally.accepted and (absent := [item.name for item in definition.items if item.name not in header]):
        print(_without_columns(path, absent, tally.accepted), file=sys.stderr)
    return 1 if tally.rejected else 0


def _without_columns(path: Path, absent: list[str], accepted: int) -> str:
    """What a file without a column of some (optional) items did to the records loaded: a load gives a record whole,
    so each of them now has none of those items, whatever it held before. An export of the required columns alone
    emptied every record's address without a word, the data officer taking the other values for untouched."""
    them = "it" if len(absent) == 1 else "them"
    return (f"govshare load-records: {path} has no column of {', '.join(absent)}: the {accepted} record"
            f"{'s' * (accepted != 1)} loaded are without {them}, whatever they held before (a load gives each "
            f"record whole): to keep {them}, load a file with {them}")


def _kept_for_cross_checking(tally: _LoadTally, dataset: str) -> str:
    """What became of the records a department that was not the dataset's authoritative source sent: kept to be
    cross-checked, not the records. "N records loaded" alone read as the records loaded, and a load during which
    the authority designated another source (a file of 10^6 lines takes a while) said nothing of the calls after
    the change, whose records went no further than the cross-check."""
    first, last = tally.kept_lines
    if tally.kept == tally.accepted:
        return (f"govshare load-records: your department is not the authoritative source of {dataset}: the "
                f"{tally.kept} record{'s' * (tally.kept != 1)} loaded were kept to be cross-checked against its "
                "records (多元校核), not made the records (but for the items the authority designated to your "
                "department)")
    return (f"govshare load-records: the authoritative source of {dataset} changed during the load: {tally.kept} of "
            f"the {tally.accepted} records loaded (lines {first}–{last}) were sent while your department was not "
            "it, and were only kept to be cross-checked against its records, not made the records: load them again "
            f"with --start-line {first} while your department is its authoritative source (ListSources says which "
            "department is)")


def _same_file(path: Path, other: Path) -> bool:
    """Whether ``other`` names ``path`` (the same name, a link to it, or a path written otherwise)."""
    try:
        return other.exists() and os.path.samefile(path, other)
    except OSError:
        return False


def _load_batches(rows, start_line: int, tally: _LoadTally, key_item: str):  # type: ignore[no-untyped-def]
    """The file's records from ``start_line`` on, in batches a LoadRecords call takes (count and size).

    A key given on two lines is the later line's rejection naming the first, whichever calls they fall in: in one
    call the platform rejected it as 'repeats record #0 of this load', a position in the call, not a line; in two,
    the later record was loaded over the first without a word. The lines before ``start_line`` count too (read for
    their keys, not sent): a load resumed after a stop loaded the later line over the one the stopped load had
    sent, which the whole file loaded at once rejects."""
    from services.foundation.loading import MAX_RECORDS
    from services.foundation.validation import stored_key

    batch: list = []
    size = 0
    first_line: dict[str, int] = {}
    #: The keys the batch being gathered gives first, by line: whether their line stands is known once it is sent.
    pending: dict[str, int] = {}
    for row in rows:
        tally.last_record = row.line
        key = "" if row.problem else stored_key(key_item, row.values.get(key_item, ""))
        if row.line < start_line:
            # Read, not sent: a load resumed with --start-line after a stop sent these lines before, so a later
            # line of one of their keys repeats it as it would have in the load that stopped.
            if key:
                first_line.setdefault(key, row.line)
            continue
        message = foundation_pb2.RecordInput(values=row.values)
        if row.as_of is not None:
            message.as_of_time.FromDatetime(row.as_of.astimezone(dt.UTC))
        if batch and (len(batch) == MAX_RECORDS or size + message.ByteSize() > _LOAD_CALL_BYTES or key in pending):
            # A key the batch gives already: its first line is sent before this one is judged a repeat of it.
            yield batch
            _forget_rejected(first_line, pending, tally)
            batch, size = [], 0
        if key and (earlier := first_line.setdefault(key, row.line)) != row.line:
            row.problem = f"{key_item}: repeats line {earlier} of the file"
        elif key:
            pending[key] = row.line
        batch.append((row, message))
        size += message.ByteSize() + 8
    if batch:
        yield batch


def _forget_rejected(first_line: dict[str, int], pending: dict[str, int], tally: _LoadTally) -> None:
    """Forgets the keys of the batch just sent whose line was rejected, and empties ``pending``.

    A rejected line is no record: the data officer who adds the corrected record below it in the same file (as the
    rejection asks) had it refused 'repeats line N of the file', a line the platform had not loaded."""
    for key, line in pending.items():
        if line in tally.batch_rejected:
            del first_line[key]
    pending.clear()


def _load_batch(stub, md, dataset: str, source: str, batch: list, tally: _LoadTally,  # type: ignore[no-untyped-def]
                reject: Callable, rejected_path: Path | None) -> None:
    """One LoadRecords call of the batch's records the file itself does not get wrong; every rejection reported.
    The tally takes the call in once its rejections are written: a load stopped before then names the call as
    out, and the --start-line it gives sends it again."""
    sent = [(row, message) for row, message in batch if not row.problem]
    reasons: dict[int, list[str]] = {row.line: [row.problem] for row, _ in batch if row.problem}
    answer = foundation_pb2.LoadRecordsResponse()
    if sent:
        tally.in_flight = (batch[0][0].line, batch[-1][0].line)
        answer = stub.LoadRecords(foundation_pb2.LoadRecordsRequest(
            dataset=dataset, source_department_code=source, records=[message for _, message in sent]),
            metadata=md, timeout=120)
        for rejected in answer.rejected:
            reasons[sent[rejected.index][0].line] = list(rejected.reasons)
    for row, _ in batch:
        if row.line in reasons:
            reject(row, reasons[row.line])
            if tally.shown < _REJECTIONS_SHOWN:
                tally.shown += 1
                print(f"line {row.line}: {'; '.join(reasons[row.line])}", file=sys.stderr)
    tally.accepted += answer.accepted
    tally.conflicts += answer.conflicts
    if answer.kept_for_cross_checking and answer.accepted:
        tally.kept += answer.accepted
        tally.kept_lines = (tally.kept_lines[0] or sent[0][0].line, sent[-1][0].line)
    tally.rejected += len(reasons)
    tally.batch_rejected = set(reasons)
    tally.first_line = tally.first_line or batch[0][0].line
    tally.last_line = batch[-1][0].line
    tally.in_flight = (0, 0)


#: A call's failures after which the platform may have loaded its records (it went away, or the deadline ran out,
#: after it had taken them), as against a refusal, after which it has not.
_OUTCOME_UNKNOWN = frozenset({grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE,
                              grpc.StatusCode.CANCELLED, grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL})


def _stopped_at(tally: _LoadTally, path: Path, unanswered: bool = False) -> str:
    """Where a load that stopped stands: what is in, and the --start-line that sends the rest. ``unanswered``: the
    load stopped with a call sent whose answer it did not take in (Ctrl-C, SIGTERM, a deadline, a dependency gone).

    Stopped so, it said "nothing after line 5001 was [sent]" (or "nothing of FILE was loaded") while the call of
    lines 5002–5011 was out: the platform may have loaded them, all or none (a call is one transaction), and the
    officer who checked found records the command had said were not sent."""
    first, last = tally.in_flight if unanswered else (0, 0)
    done = (f"lines {tally.first_line}–{tally.last_line} of {path} were sent ({tally.accepted} loaded, "
            f"{tally.rejected} rejected)" if tally.last_line else "")
    if not first:
        if not done:
            return f"govshare load-records: nothing of {path} was loaded"
        return (f"govshare load-records: {done}; nothing after line {tally.last_line} was: run the command again "
                f"with --start-line {tally.last_line + 1}")
    return (f"govshare load-records: {done + '; ' if done else ''}lines {first}–{last}{'' if done else f' of {path}'} "
            "were sent and the load stopped before the platform answered: it loaded all of them or none (a call is "
            f"one transaction); nothing after line {last} was sent: run the command again with --start-line {first} "
            "(a record sent again as it was loaded is no new version)")


@contextmanager
def _rejection_writer(path: Path | None, codec: str, header: list[str],  # type: ignore[no-untyped-def]
                      start_line: int = 1):
    """Writes each rejected record to ``path`` as the file had it, its line and reasons first, in the file's
    encoding (Excel opens it as it opened the file); a no-op without a path. Loaded again, the file's records are
    read after those two columns (services.record_files.REJECTION_COLUMNS).

    A load resumed with ``--start-line`` keeps the rejections ``path`` holds of the lines before it (those of the
    load that stopped, of the same columns): the command the stopped load printed, run with the same --rejected,
    emptied the file, and the rejections of every line sent before the stop were lost but for the 20 shown."""
    from services.record_files import REJECTION_COLUMNS

    if path is None:
        yield lambda row, reasons: None
        return
    columns = [*REJECTION_COLUMNS, *header]
    earlier = _rejections_before(path, codec, columns, start_line)
    with open(path, "w", encoding=codec, newline="") as file:
        writer = csv.writer(file)
        writer.writerows([columns, *earlier])
        yield lambda row, reasons: writer.writerow([row.line, "; ".join(reasons), *row.cells])


def _rejections_before(path: Path, codec: str, columns: list[str], start_line: int) -> list[list[str]]:
    """The rows of an earlier file of rejections at ``path`` whose line is before ``start_line``: none unless it
    has ``columns`` (another load's rejections are replaced, as before)."""
    if start_line <= 1:
        return []
    try:
        with open(path, encoding=codec, newline="") as file:
            rows = list(csv.reader(file))
    except (OSError, UnicodeDecodeError, csv.Error):
        return []
    if not rows or rows[0] != columns:
        return []
    return [row for row in rows[1:] if row and row[0].isdigit() and int(row[0]) < start_line]
