"""Typed stubs of govshare/query/v1/dispute.proto (written by scripts/typed_stubs.py: do not edit)."""

from typing import Any

from govshare_client import calls

import grpc
import grpc.aio
import govshare_client.pb.query.v1.dispute_pb2 as _govshare_client_pb_query_v1_dispute_pb2

GRPC_GENERATED_VERSION: str
GRPC_VERSION: str


class DisputeServiceStub:
    """Disputed data (疑义、错误信息快速校核, DOMAIN §8)."""
    def __init__(self, channel: grpc.Channel) -> None: ...

    ReportDispute: calls.UnaryUnary[_govshare_client_pb_query_v1_dispute_pb2.ReportDisputeRequest, _govshare_client_pb_query_v1_dispute_pb2.ReportDisputeResponse]
    """A user department reports a record it doubts."""
    AnswerDispute: calls.UnaryUnary[_govshare_client_pb_query_v1_dispute_pb2.AnswerDisputeRequest, _govshare_client_pb_query_v1_dispute_pb2.AnswerDisputeResponse]
    """The provider answers: corrected, or confirmed as is."""
    GetDispute: calls.UnaryUnary[_govshare_client_pb_query_v1_dispute_pb2.GetDisputeRequest, _govshare_client_pb_query_v1_dispute_pb2.GetDisputeResponse]
    ListDisputes: calls.UnaryUnary[_govshare_client_pb_query_v1_dispute_pb2.ListDisputesRequest, _govshare_client_pb_query_v1_dispute_pb2.ListDisputesResponse]
    """Disputes the caller reported or must answer; the authority sees all."""


class DisputeServiceAsyncStub:
    """Disputed data (疑义、错误信息快速校核, DOMAIN §8)."""
    def __init__(self, channel: grpc.aio.Channel) -> None: ...

    ReportDispute: calls.AsyncUnaryUnary[_govshare_client_pb_query_v1_dispute_pb2.ReportDisputeRequest, _govshare_client_pb_query_v1_dispute_pb2.ReportDisputeResponse]
    """A user department reports a record it doubts."""
    AnswerDispute: calls.AsyncUnaryUnary[_govshare_client_pb_query_v1_dispute_pb2.AnswerDisputeRequest, _govshare_client_pb_query_v1_dispute_pb2.AnswerDisputeResponse]
    """The provider answers: corrected, or confirmed as is."""
    GetDispute: calls.AsyncUnaryUnary[_govshare_client_pb_query_v1_dispute_pb2.GetDisputeRequest, _govshare_client_pb_query_v1_dispute_pb2.GetDisputeResponse]
    ListDisputes: calls.AsyncUnaryUnary[_govshare_client_pb_query_v1_dispute_pb2.ListDisputesRequest, _govshare_client_pb_query_v1_dispute_pb2.ListDisputesResponse]
    """Disputes the caller reported or must answer; the authority sees all."""


class DisputeServiceServicer:
    def ReportDispute(self, request: _govshare_client_pb_query_v1_dispute_pb2.ReportDisputeRequest, context: Any) -> Any: ...
    def AnswerDispute(self, request: _govshare_client_pb_query_v1_dispute_pb2.AnswerDisputeRequest, context: Any) -> Any: ...
    def GetDispute(self, request: _govshare_client_pb_query_v1_dispute_pb2.GetDisputeRequest, context: Any) -> Any: ...
    def ListDisputes(self, request: _govshare_client_pb_query_v1_dispute_pb2.ListDisputesRequest, context: Any) -> Any: ...


def add_DisputeServiceServicer_to_server(servicer: DisputeServiceServicer, server: Any) -> None: ...


class DisputeService:
    ReportDispute: Any
    AnswerDispute: Any
    GetDispute: Any
    ListDisputes: Any
