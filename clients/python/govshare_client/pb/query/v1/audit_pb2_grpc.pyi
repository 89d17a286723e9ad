"""Typed stubs of govshare/query/v1/audit.proto (written by scripts/typed_stubs.py: do not edit)."""

from typing import Any

from govshare_client import calls

import grpc
import grpc.aio
import govshare_client.pb.query.v1.audit_pb2 as _govshare_client_pb_query_v1_audit_pb2

GRPC_GENERATED_VERSION: str
GRPC_VERSION: str


class AuditServiceStub:
    """The access audit trail (R-SEC-3, R-USE-4)."""
    def __init__(self, channel: grpc.Channel) -> None: ...

    ListAccesses: calls.UnaryUnary[_govshare_client_pb_query_v1_audit_pb2.ListAccessesRequest, _govshare_client_pb_query_v1_audit_pb2.ListAccessesResponse]
    """Accesses to the caller's department's resources (the authority's auditors and systems: any department's)."""
    GetUsageSummary: calls.UnaryUnary[_govshare_client_pb_query_v1_audit_pb2.GetUsageSummaryRequest, _govshare_client_pb_query_v1_audit_pb2.GetUsageSummaryResponse]
    """Per resource: which departments queried, how often, for which purposes."""
    VerifyAuditChain: calls.UnaryUnary[_govshare_client_pb_query_v1_audit_pb2.VerifyAuditChainRequest, _govshare_client_pb_query_v1_audit_pb2.VerifyAuditChainResponse]
    """Recomputes every hash chain and checks it against the signed checkpoints of its head; authority only."""
    StartAuditVerification: calls.UnaryUnary[_govshare_client_pb_query_v1_audit_pb2.StartAuditVerificationRequest, _govshare_client_pb_query_v1_audit_pb2.StartAuditVerificationResponse]
    """Starts a full verification of the trail as a long-running job (AIP-151) and returns it at once, RUNNING:
    the query service verifies it in the background, page by page from the signed checkpoints, and resumes it
    from its saved position after a restart or on another replica. Poll it with GetAuditVerification.
    Authority's auditors only; recorded in the administrative log.
    """
    GetAuditVerification: calls.UnaryUnary[_govshare_client_pb_query_v1_audit_pb2.GetAuditVerificationRequest, _govshare_client_pb_query_v1_audit_pb2.GetAuditVerificationResponse]
    """A verification job: its state, progress and, once DONE, its result."""
    ListAuditVerifications: calls.UnaryUnary[_govshare_client_pb_query_v1_audit_pb2.ListAuditVerificationsRequest, _govshare_client_pb_query_v1_audit_pb2.ListAuditVerificationsResponse]
    """Verification jobs, newest first."""
    CancelAuditVerification: calls.UnaryUnary[_govshare_client_pb_query_v1_audit_pb2.CancelAuditVerificationRequest, _govshare_client_pb_query_v1_audit_pb2.CancelAuditVerificationResponse]
    """Stops a RUNNING job (it ends CANCELLED; what it verified is kept); a job that has ended is returned as it
    is. Recorded in the administrative log.
    """
    ExportAuditCheckpoints: calls.UnaryUnary[_govshare_client_pb_query_v1_audit_pb2.ExportAuditCheckpointsRequest, _govshare_client_pb_query_v1_audit_pb2.ExportAuditCheckpointsResponse]
    """The signed checkpoints of the chains' heads, oldest first, for an auditor to keep off the platform and
    verify with the public key alone (docs/api.md); authority only.
    """
    ListSubjectAccesses: calls.UnaryUnary[_govshare_client_pb_query_v1_audit_pb2.ListSubjectAccessesRequest, _govshare_client_pb_query_v1_audit_pb2.ListSubjectAccessesResponse]
    """The persons' view (个人信息保护法 Art. 44-45): the accesses to the records of a person (公民身份号码) or a
    legal entity (统一社会信用代码), for a portal system holding SYSTEM_ROLE_SUBJECT_ACCESS_PORTAL on behalf of
    the person or entity it has identified. Accesses under a confidential grant are withheld until its release
    time. Every lookup is itself audited.
    """


class AuditServiceAsyncStub:
    """The access audit trail (R-SEC-3, R-USE-4)."""
    def __init__(self, channel: grpc.aio.Channel) -> None: ...

    ListAccesses: calls.AsyncUnaryUnary[_govshare_client_pb_query_v1_audit_pb2.ListAccessesRequest, _govshare_client_pb_query_v1_audit_pb2.ListAccessesResponse]
    """Accesses to the caller's department's resources (the authority's auditors and systems: any department's)."""
    GetUsageSummary: calls.AsyncUnaryUnary[_govshare_client_pb_query_v1_audit_pb2.GetUsageSummaryRequest, _govshare_client_pb_query_v1_audit_pb2.GetUsageSummaryResponse]
    """Per resource: which departments queried, how often, for which purposes."""
    VerifyAuditChain: calls.AsyncUnaryUnary[_govshare_client_pb_query_v1_audit_pb2.VerifyAuditChainRequest, _govshare_client_pb_query_v1_audit_pb2.VerifyAuditChainResponse]
    """Recomputes every hash chain and checks it against the signed checkpoints of its head; authority only."""
    StartAuditVerification: calls.AsyncUnaryUnary[_govshare_client_pb_query_v1_audit_pb2.StartAuditVerificationRequest, _govshare_client_pb_query_v1_audit_pb2.StartAuditVerificationResponse]
    """Starts a full verification of the trail as a long-running job (AIP-151) and returns it at once, RUNNING:
    the query service verifies it in the background, page by page from the signed checkpoints, and resumes it
    from its saved position after a restart or on another replica. Poll it with GetAuditVerification.
    Authority's auditors only; recorded in the administrative log.
    """
    GetAuditVerification: calls.AsyncUnaryUnary[_govshare_client_pb_query_v1_audit_pb2.GetAuditVerificationRequest, _govshare_client_pb_query_v1_audit_pb2.GetAuditVerificationResponse]
    """A verification job: its state, progress and, once DONE, its result."""
    ListAuditVerifications: calls.AsyncUnaryUnary[_govshare_client_pb_query_v1_audit_pb2.ListAuditVerificationsRequest, _govshare_client_pb_query_v1_audit_pb2.ListAuditVerificationsResponse]
    """Verification jobs, newest first."""
    CancelAuditVerification: calls.AsyncUnaryUnary[_govshare_client_pb_query_v1_audit_pb2.CancelAuditVerificationRequest, _govshare_client_pb_query_v1_audit_pb2.CancelAuditVerificationResponse]
    """Stops a RUNNING job (it ends CANCELLED; what it verified is kept); a job that has ended is returned as it
    is. Recorded in the administrative log.
    """
    ExportAuditCheckpoints: calls.AsyncUnaryUnary[_govshare_client_pb_query_v1_audit_pb2.ExportAuditCheckpointsRequest, _govshare_client_pb_query_v1_audit_pb2.ExportAuditCheckpointsResponse]
    """The signed checkpoints of the chains' heads, oldest first, for an auditor to keep off the platform and
    verify with the public key alone (docs/api.md); authority only.
    """
    ListSubjectAccesses: calls.AsyncUnaryUnary[_govshare_client_pb_query_v1_audit_pb2.ListSubjectAccessesRequest, _govshare_client_pb_query_v1_audit_pb2.ListSubjectAccessesResponse]
    """The persons' view (个人信息保护法 Art. 44-45): the accesses to the records of a person (公民身份号码) or a
    legal entity (统一社会信用代码), for a portal system holding SYSTEM_ROLE_SUBJECT_ACCESS_PORTAL on behalf of
    the person or entity it has identified. Accesses under a confidential grant are withheld until its release
    time. Every lookup is itself audited.
    """


class AuditServiceServicer:
    def ListAccesses(self, request: _govshare_client_pb_query_v1_audit_pb2.ListAccessesRequest, context: Any) -> Any: ...
    def GetUsageSummary(self, request: _govshare_client_pb_query_v1_audit_pb2.GetUsageSummaryRequest, context: Any) -> Any: ...
    def VerifyAuditChain(self, request: _govshare_client_pb_query_v1_audit_pb2.VerifyAuditChainRequest, context: Any) -> Any: ...
    def StartAuditVerification(self, request: _govshare_client_pb_query_v1_audit_pb2.StartAuditVerificationRequest, context: Any) -> Any: ...
    def GetAuditVerification(self, request: _govshare_client_pb_query_v1_audit_pb2.GetAuditVerificationRequest, context: Any) -> Any: ...
    def ListAuditVerifications(self, request: _govshare_client_pb_query_v1_audit_pb2.ListAuditVerificationsRequest, context: Any) -> Any: ...
    def CancelAuditVerification(self, request: _govshare_client_pb_query_v1_audit_pb2.CancelAuditVerificationRequest, context: Any) -> Any: ...
    def ExportAuditCheckpoints(self, request: _govshare_client_pb_query_v1_audit_pb2.ExportAuditCheckpointsRequest, context: Any) -> Any: ...
    def ListSubjectAccesses(self, request: _govshare_client_pb_query_v1_audit_pb2.ListSubjectAccessesRequest, context: Any) -> Any: ...


def add_AuditServiceServicer_to_server(servicer: AuditServiceServicer, server: Any) -> None: ...


class AuditService:
    ListAccesses: Any
    GetUsageSummary: Any
    VerifyAuditChain: Any
    StartAuditVerification: Any
    GetAuditVerification: Any
    ListAuditVerifications: Any
    CancelAuditVerification: Any
    ExportAuditCheckpoints: Any
    ListSubjectAccesses: Any
