"""Typed stubs of govshare/supervision/v1/supervision.proto (written by scripts/typed_stubs.py: do not edit)."""

from typing import Any

from govshare_client import calls

import grpc
import grpc.aio
import govshare_client.pb.supervision.v1.supervision_pb2 as _govshare_client_pb_supervision_v1_supervision_pb2

GRPC_GENERATED_VERSION: str
GRPC_VERSION: str


class SupervisionServiceStub:
    """Supervision and evaluation of departments (DOMAIN §11, Art. 16-18, 24; 003 Art. 33-36).
    Months are calendar months in China Standard Time (UTC+8).
    """
    def __init__(self, channel: grpc.Channel) -> None: ...

    ComputeSnapshots: calls.UnaryUnary[_govshare_client_pb_supervision_v1_supervision_pb2.ComputeSnapshotsRequest, _govshare_client_pb_supervision_v1_supervision_pb2.ComputeSnapshotsResponse]
    """Gathers every department's figures for a month from the services that own them, keeps them as that
    month's snapshots and detects the month's violations (replacing an earlier computation); authority only.
    """
    GetSnapshot: calls.UnaryUnary[_govshare_client_pb_supervision_v1_supervision_pb2.GetSnapshotRequest, _govshare_client_pb_supervision_v1_supervision_pb2.GetSnapshotResponse]
    """A department's snapshot of a month with its evaluation; the authority, or the department itself."""
    ListEvaluations: calls.UnaryUnary[_govshare_client_pb_supervision_v1_supervision_pb2.ListEvaluationsRequest, _govshare_client_pb_supervision_v1_supervision_pb2.ListEvaluationsResponse]
    """Every department's evaluation of a month, by department code; authority only."""
    ListViolations: calls.UnaryUnary[_govshare_client_pb_supervision_v1_supervision_pb2.ListViolationsRequest, _govshare_client_pb_supervision_v1_supervision_pb2.ListViolationsResponse]
    """The violations detected in a month (Art. 24) with their evidence; the authority sees all, a
    department its own.
    """
    GetEvaluationWeights: calls.UnaryUnary[_govshare_client_pb_supervision_v1_supervision_pb2.GetEvaluationWeightsRequest, _govshare_client_pb_supervision_v1_supervision_pb2.GetEvaluationWeightsResponse]
    """The weights of the evaluation's indicators in force this month."""
    UpdateEvaluationWeights: calls.UnaryUnary[_govshare_client_pb_supervision_v1_supervision_pb2.UpdateEvaluationWeightsRequest, _govshare_client_pb_supervision_v1_supervision_pb2.UpdateEvaluationWeightsResponse]
    """Changes weights of the evaluation's indicators from the current month (China Standard Time) on; authority
    only. Each month is evaluated under the weights in force in it: the months before keep theirs.
    """
    GenerateReport: calls.UnaryUnary[_govshare_client_pb_supervision_v1_supervision_pb2.GenerateReportRequest, _govshare_client_pb_supervision_v1_supervision_pb2.GenerateReportResponse]
    """A report in Chinese, as HTML, PDF or CSV, from the stored snapshots (R-SUP-2): the yearly sharing report of a
    department (the department, the authority) or of the platform (the authority), or the monthly usage
    feedback to a provider (the provider, the authority).
    """


class SupervisionServiceAsyncStub:
    """Supervision and evaluation of departments (DOMAIN §11, Art. 16-18, 24; 003 Art. 33-36).
    Months are calendar months in China Standard Time (UTC+8).
    """
    def __init__(self, channel: grpc.aio.Channel) -> None: ...

    ComputeSnapshots: calls.AsyncUnaryUnary[_govshare_client_pb_supervision_v1_supervision_pb2.ComputeSnapshotsRequest, _govshare_client_pb_supervision_v1_supervision_pb2.ComputeSnapshotsResponse]
    """Gathers every department's figures for a month from the services that own them, keeps them as that
    month's snapshots and detects the month's violations (replacing an earlier computation); authority only.
    """
    GetSnapshot: calls.AsyncUnaryUnary[_govshare_client_pb_supervision_v1_supervision_pb2.GetSnapshotRequest, _govshare_client_pb_supervision_v1_supervision_pb2.GetSnapshotResponse]
    """A department's snapshot of a month with its evaluation; the authority, or the department itself."""
    ListEvaluations: calls.AsyncUnaryUnary[_govshare_client_pb_supervision_v1_supervision_pb2.ListEvaluationsRequest, _govshare_client_pb_supervision_v1_supervision_pb2.ListEvaluationsResponse]
    """Every department's evaluation of a month, by department code; authority only."""
    ListViolations: calls.AsyncUnaryUnary[_govshare_client_pb_supervision_v1_supervision_pb2.ListViolationsRequest, _govshare_client_pb_supervision_v1_supervision_pb2.ListViolationsResponse]
    """The violations detected in a month (Art. 24) with their evidence; the authority sees all, a
    department its own.
    """
    GetEvaluationWeights: calls.AsyncUnaryUnary[_govshare_client_pb_supervision_v1_supervision_pb2.GetEvaluationWeightsRequest, _govshare_client_pb_supervision_v1_supervision_pb2.GetEvaluationWeightsResponse]
    """The weights of the evaluation's indicators in force this month."""
    UpdateEvaluationWeights: calls.AsyncUnaryUnary[_govshare_client_pb_supervision_v1_supervision_pb2.UpdateEvaluationWeightsRequest, _govshare_client_pb_supervision_v1_supervision_pb2.UpdateEvaluationWeightsResponse]
    """Changes weights of the evaluation's indicators from the current month (China Standard Time) on; authority
    only. Each month is evaluated under the weights in force in it: the months before keep theirs.
    """
    GenerateReport: calls.AsyncUnaryUnary[_govshare_client_pb_supervision_v1_supervision_pb2.GenerateReportRequest, _govshare_client_pb_supervision_v1_supervision_pb2.GenerateReportResponse]
    """A report in Chinese, as HTML, PDF or CSV, from the stored snapshots (R-SUP-2): the yearly sharing report of a
    department (the department, the authority) or of the platform (the authority), or the monthly usage
    feedback to a provider (the provider, the authority).
    """


class SupervisionServiceServicer:
    def ComputeSnapshots(self, request: _govshare_client_pb_supervision_v1_supervision_pb2.ComputeSnapshotsRequest, context: Any) -> Any: ...
    def GetSnapshot(self, request: _govshare_client_pb_supervision_v1_supervision_pb2.GetSnapshotRequest, context: Any) -> Any: ...
    def ListEvaluations(self, request: _govshare_client_pb_supervision_v1_supervision_pb2.ListEvaluationsRequest, context: Any) -> Any: ...
    def ListViolations(self, request: _govshare_client_pb_supervision_v1_supervision_pb2.ListViolationsRequest, context: Any) -> Any: ...
    def GetEvaluationWeights(self, request: _govshare_client_pb_supervision_v1_supervision_pb2.GetEvaluationWeightsRequest, context: Any) -> Any: ...
    def UpdateEvaluationWeights(self, request: _govshare_client_pb_supervision_v1_supervision_pb2.UpdateEvaluationWeightsRequest, context: Any) -> Any: ...
    def GenerateReport(self, request: _govshare_client_pb_supervision_v1_supervision_pb2.GenerateReportRequest, context: Any) -> Any: ...


def add_SupervisionServiceServicer_to_server(servicer: SupervisionServiceServicer, server: Any) -> None: ...


class SupervisionService:
    ComputeSnapshots: Any
    GetSnapshot: Any
    ListEvaluations: Any
    ListViolations: Any
    GetEvaluationWeights: Any
    UpdateEvaluationWeights: Any
    GenerateReport: Any
