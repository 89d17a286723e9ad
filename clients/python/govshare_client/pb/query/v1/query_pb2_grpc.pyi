"""Typed stubs of govshare/query/v1/query.proto (written by scripts/typed_stubs.py: do not edit)."""

from typing import Any

from govshare_client import calls

import grpc
import grpc.aio
import govshare_client.pb.query.v1.query_pb2 as _govshare_client_pb_query_v1_query_pb2

GRPC_GENERATED_VERSION: str
GRPC_VERSION: str


class QueryServiceStub:
    """Online query (联机查询), verification (核验) and batch download (DOMAIN §5)."""
    def __init__(self, channel: grpc.Channel) -> None: ...

    Query: calls.UnaryUnary[_govshare_client_pb_query_v1_query_pb2.QueryRequest, _govshare_client_pb_query_v1_query_pb2.QueryResponse]
    BatchQuery: calls.UnaryUnary[_govshare_client_pb_query_v1_query_pb2.BatchQueryRequest, _govshare_client_pb_query_v1_query_pb2.BatchQueryResponse]
    Verify: calls.UnaryUnary[_govshare_client_pb_query_v1_query_pb2.VerifyRequest, _govshare_client_pb_query_v1_query_pb2.VerifyResponse]
    Export: calls.UnaryStream[_govshare_client_pb_query_v1_query_pb2.ExportRequest, _govshare_client_pb_query_v1_query_pb2.ExportResponse]
    """Streams an authorised resource; needs a grant with batch download."""
    NotifyRecordsChanged: calls.UnaryUnary[_govshare_client_pb_query_v1_query_pb2.NotifyRecordsChangedRequest, _govshare_client_pb_query_v1_query_pb2.NotifyRecordsChangedResponse]
    """The provider department says records of its resource changed (some keys, or all of them): every query
    replica drops its copies, so the next query reads the provider again. Only the resource's provider
    department may call it (a department's 前置机 does, with that department's system token).
    """


class QueryServiceAsyncStub:
    """Online query (联机查询), verification (核验) and batch download (DOMAIN §5)."""
    def __init__(self, channel: grpc.aio.Channel) -> None: ...

    Query: calls.AsyncUnaryUnary[_govshare_client_pb_query_v1_query_pb2.QueryRequest, _govshare_client_pb_query_v1_query_pb2.QueryResponse]
    BatchQuery: calls.AsyncUnaryUnary[_govshare_client_pb_query_v1_query_pb2.BatchQueryRequest, _govshare_client_pb_query_v1_query_pb2.BatchQueryResponse]
    Verify: calls.AsyncUnaryUnary[_govshare_client_pb_query_v1_query_pb2.VerifyRequest, _govshare_client_pb_query_v1_query_pb2.VerifyResponse]
    Export: calls.AsyncUnaryStream[_govshare_client_pb_query_v1_query_pb2.ExportRequest, _govshare_client_pb_query_v1_query_pb2.ExportResponse]
    """Streams an authorised resource; needs a grant with batch download."""
    NotifyRecordsChanged: calls.AsyncUnaryUnary[_govshare_client_pb_query_v1_query_pb2.NotifyRecordsChangedRequest, _govshare_client_pb_query_v1_query_pb2.NotifyRecordsChangedResponse]
    """The provider department says records of its resource changed (some keys, or all of them): every query
    replica drops its copies, so the next query reads the provider again. Only the resource's provider
    department may call it (a department's 前置机 does, with that department's system token).
    """


class QueryServiceServicer:
    def Query(self, request: _govshare_client_pb_query_v1_query_pb2.QueryRequest, context: Any) -> Any: ...
    def BatchQuery(self, request: _govshare_client_pb_query_v1_query_pb2.BatchQueryRequest, context: Any) -> Any: ...
    def Verify(self, request: _govshare_client_pb_query_v1_query_pb2.VerifyRequest, context: Any) -> Any: ...
    def Export(self, request: _govshare_client_pb_query_v1_query_pb2.ExportRequest, context: Any) -> Any: ...
    def NotifyRecordsChanged(self, request: _govshare_client_pb_query_v1_query_pb2.NotifyRecordsChangedRequest, context: Any) -> Any: ...


def add_QueryServiceServicer_to_server(servicer: QueryServiceServicer, server: Any) -> None: ...


class QueryService:
    Query: Any
    BatchQuery: Any
    Verify: Any
    Export: Any
    NotifyRecordsChanged: Any
