"""Typed stubs of govshare/authorization/v1/admin_log.proto (written by scripts/typed_stubs.py: do not edit)."""

from typing import Any

from govshare_client import calls

import grpc
import grpc.aio
import govshare_client.pb.authorization.v1.admin_log_pb2 as _govshare_client_pb_authorization_v1_admin_log_pb2

GRPC_GENERATED_VERSION: str
GRPC_VERSION: str


class AdminLogServiceStub:
    """The administrative log (authority only): directory changes, token issuance, secret rotation, grant
    changes, catalog reviews, dataset loads, source designation, conflict resolution, one hash chain.
    """
    def __init__(self, channel: grpc.Channel) -> None: ...

    ListAdminEvents: calls.UnaryUnary[_govshare_client_pb_authorization_v1_admin_log_pb2.ListAdminEventsRequest, _govshare_client_pb_authorization_v1_admin_log_pb2.ListAdminEventsResponse]
    """Lists entries newest first, filtered by actor department, action and time range."""
    VerifyAdminLog: calls.UnaryUnary[_govshare_client_pb_authorization_v1_admin_log_pb2.VerifyAdminLogRequest, _govshare_client_pb_authorization_v1_admin_log_pb2.VerifyAdminLogResponse]
    """Walks the whole chain against its signed checkpoints: reports the first row that breaks it (changed,
    removed or inserted), and rows cut from its end, or the whole log deleted, naming the last checkpoint
    it still matches.
    """
    ExportAdminLogCheckpoints: calls.UnaryUnary[_govshare_client_pb_authorization_v1_admin_log_pb2.ExportAdminLogCheckpointsRequest, _govshare_client_pb_authorization_v1_admin_log_pb2.ExportAdminLogCheckpointsResponse]
    """Pages through the log's signed checkpoints, oldest first, with the public key that verifies them, so
    the authority can keep them off the platform and bring them back to VerifyAdminLog.
    """


class AdminLogServiceAsyncStub:
    """The administrative log (authority only): directory changes, token issuance, secret rotation, grant
    changes, catalog reviews, dataset loads, source designation, conflict resolution, one hash chain.
    """
    def __init__(self, channel: grpc.aio.Channel) -> None: ...

    ListAdminEvents: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_admin_log_pb2.ListAdminEventsRequest, _govshare_client_pb_authorization_v1_admin_log_pb2.ListAdminEventsResponse]
    """Lists entries newest first, filtered by actor department, action and time range."""
    VerifyAdminLog: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_admin_log_pb2.VerifyAdminLogRequest, _govshare_client_pb_authorization_v1_admin_log_pb2.VerifyAdminLogResponse]
    """Walks the whole chain against its signed checkpoints: reports the first row that breaks it (changed,
    removed or inserted), and rows cut from its end, or the whole log deleted, naming the last checkpoint
    it still matches.
    """
    ExportAdminLogCheckpoints: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_admin_log_pb2.ExportAdminLogCheckpointsRequest, _govshare_client_pb_authorization_v1_admin_log_pb2.ExportAdminLogCheckpointsResponse]
    """Pages through the log's signed checkpoints, oldest first, with the public key that verifies them, so
    the authority can keep them off the platform and bring them back to VerifyAdminLog.
    """


class AdminLogServiceServicer:
    def ListAdminEvents(self, request: _govshare_client_pb_authorization_v1_admin_log_pb2.ListAdminEventsRequest, context: Any) -> Any: ...
    def VerifyAdminLog(self, request: _govshare_client_pb_authorization_v1_admin_log_pb2.VerifyAdminLogRequest, context: Any) -> Any: ...
    def ExportAdminLogCheckpoints(self, request: _govshare_client_pb_authorization_v1_admin_log_pb2.ExportAdminLogCheckpointsRequest, context: Any) -> Any: ...


def add_AdminLogServiceServicer_to_server(servicer: AdminLogServiceServicer, server: Any) -> None: ...


class AdminLogService:
    ListAdminEvents: Any
    VerifyAdminLog: Any
    ExportAdminLogCheckpoints: Any
