"""The CLI stopped with Ctrl-C in the middle of a long command (`govshare migrate`, an export)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import pytest

_WAITS = """
import signal
# As from a terminal, set in the child itself (see _WITH_CTRL_C: a preexec_fn runs Python in a forked child of this
# process, whose gRPC threads then wrote 'epoll_ctl failed' into its stderr now and then).
signal.signal(signal.SIGINT, signal.default_int_handler)
import argparse
import time
import services.cli as cli

def build_parser():
    parser = argparse.ArgumentParser()
    parser.set_defaults(func=lambda args: [print("started", flush=True), time.sleep(60)], command="migrate")
    return parser

cli.build_parser = build_parser
cli.main([])
"""


@pytest.mark.parametrize("stop, status, said", [(signal.SIGINT, 130, "interrupted"),
                                                 (signal.SIGTERM, 143, "terminated")])
def test_ctrl_c_or_sigterm_ends_the_command_with_one_line(stop: signal.Signals, status: int, said: str) -> None:
    """It ended with a KeyboardInterrupt traceback on Ctrl-C, and on SIGTERM (a Job's deadline, `timeout`) at
    once, status -15, its cleanups (a .partial file removed, a transaction rolled back) never run."""
    # As from a terminal: a run of the tests started in the background by a shell without job control (`… &` in
    # a script, nohup) has SIGINT ignored, which the child would inherit, and Python then takes no Ctrl-C at all.
    process = subprocess.Popen([sys.executable, "-c", _WAITS], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.readline().strip() == b"started"
    process.send_signal(stop)
    error = process.stderr.read().decode()
    assert process.wait(timeout=60) == status
    assert [line for line in error.splitlines() if not _GRPC_LOG.match(line)] == [f"govshare migrate: {said}"], error


#: `python -m services.cli` taking Ctrl-C as from a terminal, set in the child itself: a preexec_fn runs Python
#: in the forked child of this process, whose gRPC server has threads, and gRPC's fork handlers then aborted the
#: child now and then (SIGABRT before its first line, after "epoll_wait error: Bad file descriptor").
_WITH_CTRL_C = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
                "sys.argv[0] = 'govshare'; runpy.run_module('services.cli', run_name='__main__')")
#: A line gRPC's C core writes to stderr itself ("E1204 11:49:52.172985   29519 ev_epoll1_linux.cc:373] …").
_GRPC_LOG = re.compile(r"[EWID]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ \S+:\d+\]")


class _Platform:
    """A real gRPC server answering as the platform does while a verification job runs: a token, and the job
    RUNNING whenever it is asked (what the command sees of a long trail)."""

    def IssueToken(self, request, context):  # type: ignore[no-untyped-def]
        from govshare.authorization.v1 import token_pb2

        return token_pb2.IssueTokenResponse(token="t")

    @staticmethod
    def job(answer):  # type: ignore[no-untyped-def]
        from govshare.query.v1 import audit_pb2

        running = audit_pb2.AuditVerification(id="avj-0123456789abcdef", records_verified=7, progress_percent=1,
                                              state=audit_pb2.AUDIT_VERIFICATION_STATE_RUNNING)
        return lambda request, context: answer(verification=running)


def test_ctrl_c_while_waiting_for_a_verification_says_the_job_goes_on() -> None:
    """`govshare audit verify-trail --wait` interrupted said only 'interrupted': the auditor took the job for
    cancelled, while it went on reading the whole trail on the platform. It now names the job and how to read or
    cancel it."""
    from concurrent import futures

    import grpc

    from govshare.authorization.v1 import token_pb2_grpc
    from govshare.query.v1 import audit_pb2

    platform = _Platform()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    token_pb2_grpc.add_TokenServiceServicer_to_server(platform, server)  # type: ignore[arg-type]
    answers = {"StartAuditVerification": (audit_pb2.StartAuditVerificationRequest,
                                          audit_pb2.StartAuditVerificationResponse),
               "GetAuditVerification": (audit_pb2.GetAuditVerificationRequest, audit_pb2.GetAuditVerificationResponse)}
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("govshare.query.v1.AuditService", {
        name: grpc.unary_unary_rpc_method_handler(
            platform.job(answer), request_deserializer=request.FromString,
            response_serializer=lambda response: response.SerializeToString())
        for name, (request, answer) in answers.items()}),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", _WITH_CTRL_C, "audit", "verify-trail", "--wait", "--gateway", f"127.0.0.1:{port}",
             "--system-id", "sys-0123456789abcdef", "--secret", "s"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert process.stderr is not None
        progress = process.stderr.readline().decode()
        while _GRPC_LOG.match(progress):  # gRPC's own log lines (epoll errors at exit…) are not the command's
            progress = process.stderr.readline().decode()
        assert '"id": "avj-0123456789abcdef"' in progress, progress
        process.send_signal(signal.SIGINT)
        said = process.stderr.read().decode()
        assert process.wait(timeout=60) == 130
    finally:
        server.stop(None)
    assert [line for line in said.splitlines() if not _GRPC_LOG.match(line)] == [
        "govshare audit verify-trail: job avj-0123456789abcdef goes on running on the platform: `govshare audit "
        "verify-trail --id avj-0123456789abcdef` reads it, with --cancel stops it",
        "govshare audit verify-trail: interrupted"], said


def test_sigterm_during_a_load_says_from_which_line_to_go_on(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`govshare load-records` stopped by SIGTERM (a Job's activeDeadlineSeconds, systemd, `timeout`, a shutdown)
    died where it stood: no word, exit -15, and the data officer could not tell which lines were in. SIGTERM now
    stops a one-shot command as Ctrl-C does (exit 143, 128 + SIGTERM): the load says what was sent and the
    --start-line that sends the rest, here while its second call is in flight (the platform holding it), which it
    says may have been loaded."""
    import threading
    from concurrent import futures

    import grpc

    from govshare.authorization.v1 import token_pb2_grpc
    from govshare.foundation.v1 import foundation_pb2

    calls: list[int] = []
    second = threading.Event()
    release = threading.Event()

    def load(request, context):  # type: ignore[no-untyped-def]
        calls.append(len(request.records))
        if len(calls) > 1:
            second.set()
            release.wait(60)  # the platform has not answered when SIGTERM comes
        return foundation_pb2.LoadRecordsResponse(accepted=len(request.records))

    path = tmp_path / "people.csv"
    path.write_text("citizen_id,name,sex,ethnicity,birth_date,status\n" + "".join(
        f"11010119491001{n:04d},张{n},男,汉族,1949-10-01,正常\n" for n in range(5_010)), encoding="utf-8")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    token_pb2_grpc.add_TokenServiceServicer_to_server(_Platform(), server)  # type: ignore[arg-type]
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "govshare.foundation.v1.FoundationAdminService", {"LoadRecords": grpc.unary_unary_rpc_method_handler(
            load, request_deserializer=foundation_pb2.LoadRecordsRequest.FromString,
            response_serializer=lambda response: response.SerializeToString())}),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "load-records", "population", str(path), "--gateway",
             f"127.0.0.1:{port}", "--system-id", "sys-0123456789abcdef", "--secret", "s"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert second.wait(60), "the second LoadRecords never came"
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        release.set()
        server.stop(None)
    said = [line for line in err.decode().splitlines() if not _GRPC_LOG.match(line)]
    assert process.returncode == 143, said
    # The second call was out: the platform may have loaded its lines (it said "nothing after line 5001 was").
    assert said == [f"govshare load-records: lines 2–5001 of {path} were sent (5000 loaded, 0 rejected); lines "
                    "5002–5011 were sent and the load stopped before the platform answered: it loaded all of them or "
                    "none (a call is one transaction); nothing after line 5011 was sent: run the command again with "
                    "--start-line 5002 (a record sent again as it was loaded is no new version)"], said
    assert calls == [5_000, 10] and out == b""



def test_a_load_stopped_during_its_first_call_says_the_call_may_be_loaded_and_a_refusal_that_nothing_was() -> None:
    """Stopped while its first call was out (Ctrl-C, SIGTERM, a deadline), the load said "nothing of FILE was
    loaded", of lines the platform may have loaded; a call the platform refused loaded nothing, as said."""
    from pathlib import Path

    from services.client import _LoadTally, _stopped_at

    path = Path("people.csv")
    tally = _LoadTally(in_flight=(2, 5001))
    assert _stopped_at(tally, path, unanswered=True) == (
        "govshare load-records: lines 2–5001 of people.csv were sent and the load stopped before the platform "
        "answered: it loaded all of them or none (a call is one transaction); nothing after line 5001 was sent: run "
        "the command again with --start-line 2 (a record sent again as it was loaded is no new version)")
    assert _stopped_at(tally, path, unanswered=False) == "govshare load-records: nothing of people.csv was loaded"


def test_a_load_stopped_while_writing_a_calls_rejections_counts_none_of_that_call() -> None:
    """Stopped while it wrote a call's rejections, the load had counted the call's loaded records already and said
    them loaded among the lines before it, naming the call as out besides: the counts move with the lines."""
    from types import SimpleNamespace

    from govshare.foundation.v1 import foundation_pb2
    from services.client import _load_batch, _LoadTally
    from services.record_files import FileRow
    from services.stopping import Terminated

    batch = [(FileRow(line, []), foundation_pb2.RecordInput()) for line in (7, 8)]
    answer = foundation_pb2.LoadRecordsResponse(accepted=1, conflicts=1, rejected=[
        foundation_pb2.RejectedRecord(index=1, reasons=["sex: a reason"])])
    stub = SimpleNamespace(LoadRecords=lambda request, metadata, timeout: answer)

    def stopped(row, reasons):  # type: ignore[no-untyped-def]
        raise Terminated

    tally = _LoadTally(accepted=5, first_line=2, last_line=6)
    with pytest.raises(Terminated):
        _load_batch(stub, [], "population", "", batch, tally, stopped, None)
    assert (tally.accepted, tally.conflicts, tally.rejected, tally.last_line, tally.in_flight) == (5, 0, 0, 6, (7, 8))
    _load_batch(stub, [], "population", "", batch, tally, lambda row, reasons: None, None)
    assert (tally.accepted, tally.conflicts, tally.rejected, tally.last_line, tally.in_flight) == (6, 1, 1, 8, (0, 0))
