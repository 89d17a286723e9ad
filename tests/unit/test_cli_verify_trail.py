"""`govshare audit verify-trail --wait` against a platform that fails some polls (a real gRPC server)."""

from __future__ import annotations

import subprocess
import sys
from concurrent import futures
from pathlib import Path

import grpc

from govshare.authorization.v1 import token_pb2, token_pb2_grpc
from govshare.query.v1 import audit_pb2

REPO = Path(__file__).resolve().parents[2]
JOB = "avj-0123456789abcdef"


class _Platform:
    """Answers as the platform does while a job runs and PostgreSQL restarts, then the first token expires: the job
    RUNNING, two polls UNAVAILABLE, one UNAUTHENTICATED for the first token, then the job ended INTACT."""

    def __init__(self) -> None:
        self.tokens = 0
        self.polls: list[str] = []

    def IssueToken(self, request, context):  # type: ignore[no-untyped-def]
        self.tokens += 1
        return token_pb2.IssueTokenResponse(token=f"t{self.tokens}")

    def start(self, request, context):  # type: ignore[no-untyped-def]
        return audit_pb2.StartAuditVerificationResponse(verification=audit_pb2.AuditVerification(
            id=JOB, records_verified=7, progress_percent=1, state=audit_pb2.AUDIT_VERIFICATION_STATE_RUNNING))

    def get(self, request, context):  # type: ignore[no-untyped-def]
        token = dict(context.invocation_metadata())["authorization"]
        self.polls.append(token)
        if len(self.polls) <= 2:
            context.abort(grpc.StatusCode.UNAVAILABLE,
                          "a dependency of the service (postgresql) is unavailable; retry with backoff")
        if token == "Bearer t1":
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "bearer token has expired")
        return audit_pb2.GetAuditVerificationResponse(verification=audit_pb2.AuditVerification(
            id=JOB, records_verified=70, progress_percent=100, state=audit_pb2.AUDIT_VERIFICATION_STATE_DONE,
            result=audit_pb2.AUDIT_VERIFICATION_RESULT_INTACT))


def test_a_wait_goes_on_through_an_outage_and_an_expired_token() -> None:
    """A poll answered UNAVAILABLE while PostgreSQL restarted (reproduced on govshare up: kill -9 of its PostgreSQL
    during a job) ended the wait with exit 1, which says the trail is not intact, while the job went on to the end;
    a job longer than the token's hour ended the same way UNAUTHENTICATED. The wait now polls on through the outage,
    said once, takes a new token once, and exits 0 on the intact trail."""
    platform = _Platform()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    token_pb2_grpc.add_TokenServiceServicer_to_server(platform, server)  # type: ignore[arg-type]
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("govshare.query.v1.AuditService", {
        "StartAuditVerification": grpc.unary_unary_rpc_method_handler(
            platform.start, request_deserializer=audit_pb2.StartAuditVerificationRequest.FromString,
            response_serializer=lambda response: response.SerializeToString()),
        "GetAuditVerification": grpc.unary_unary_rpc_method_handler(
            platform.get, request_deserializer=audit_pb2.GetAuditVerificationRequest.FromString,
            response_serializer=lambda response: response.SerializeToString())}),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "services.cli", "audit", "verify-trail", "--wait", "--gateway", f"127.0.0.1:{port}",
             "--system-id", "sys-0123456789abcdef", "--secret", "s"], capture_output=True, text=True, timeout=120,
            cwd=REPO)
    finally:
        server.stop(None)
    assert done.returncode == 0, done.stderr
    assert '"result": "AUDIT_VERIFICATION_RESULT_INTACT"' in done.stdout
    said = [line for line in done.stderr.splitlines() if not line.startswith("{")]
    assert said == [
        "govshare audit verify-trail: the platform did not answer (UNAVAILABLE: a dependency of the service "
        f"(postgresql) is unavailable; retry with backoff); job {JOB} goes on there, polled again every 2 s for up to "
        "300 s"], done.stderr
    assert platform.polls == ["Bearer t1", "Bearer t1", "Bearer t1", "Bearer t2"]
