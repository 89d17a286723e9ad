"""Typed stubs of govshare/foundation/v1/foundation.proto (written by scripts/typed_stubs.py: do not edit)."""

from typing import Any

from govshare_client import calls

import grpc
import grpc.aio
import govshare_client.pb.foundation.v1.foundation_pb2 as _govshare_client_pb_foundation_v1_foundation_pb2

GRPC_GENERATED_VERSION: str
GRPC_VERSION: str


class FoundationAdminServiceStub:
    """Loading and curating the four foundation databases (DOMAIN §7)."""
    def __init__(self, channel: grpc.Channel) -> None: ...

    LoadRecords: calls.UnaryUnary[_govshare_client_pb_foundation_v1_foundation_pb2.LoadRecordsRequest, _govshare_client_pb_foundation_v1_foundation_pb2.LoadRecordsResponse]
    """Loads records of one dataset from one source; bad records are rejected one by one."""
    ListConflicts: calls.UnaryUnary[_govshare_client_pb_foundation_v1_foundation_pb2.ListConflictsRequest, _govshare_client_pb_foundation_v1_foundation_pb2.ListConflictsResponse]
    """Lists recorded disagreements between sources (多元校核)."""
    ResolveConflict: calls.UnaryUnary[_govshare_client_pb_foundation_v1_foundation_pb2.ResolveConflictRequest, _govshare_client_pb_foundation_v1_foundation_pb2.ResolveConflictResponse]
    """The authoritative source of the conflict's item resolves it."""
    GetRecordHistory: calls.UnaryUnary[_govshare_client_pb_foundation_v1_foundation_pb2.GetRecordHistoryRequest, _govshare_client_pb_foundation_v1_foundation_pb2.GetRecordHistoryResponse]
    """Past values of one record, a page at a time."""
    ListDatasets: calls.UnaryUnary[_govshare_client_pb_foundation_v1_foundation_pb2.ListDatasetsRequest, _govshare_client_pb_foundation_v1_foundation_pb2.ListDatasetsResponse]
    """Datasets and their authoritative source departments."""
    RegisterSource: calls.UnaryUnary[_govshare_client_pb_foundation_v1_foundation_pb2.RegisterSourceRequest, _govshare_client_pb_foundation_v1_foundation_pb2.RegisterSourceResponse]
    """The authority registers a department as a source of a dataset: only registered sources load (R-FND-2)."""
    RetireSource: calls.UnaryUnary[_govshare_client_pb_foundation_v1_foundation_pb2.RetireSourceRequest, _govshare_client_pb_foundation_v1_foundation_pb2.RetireSourceResponse]
    """The authority retires a source that no longer provides the dataset: it loads nothing more, its kept values
    are no longer cross-checked and its open conflicts are closed (SOURCE_RETIRED); its history is kept. The
    authoritative source of the dataset or of an item is not retired (designate another first).
    """
    DesignateAuthoritativeSource: calls.UnaryUnary[_govshare_client_pb_foundation_v1_foundation_pb2.DesignateAuthoritativeSourceRequest, _govshare_client_pb_foundation_v1_foundation_pb2.DesignateAuthoritativeSourceResponse]
    """The authority designates the authoritative source of a dataset, or of one of its items (一数一源)."""
    ListSources: calls.UnaryUnary[_govshare_client_pb_foundation_v1_foundation_pb2.ListSourcesRequest, _govshare_client_pb_foundation_v1_foundation_pb2.ListSourcesResponse]
    """A dataset's sources, authoritative sources and the history of their designation."""


class FoundationAdminServiceAsyncStub:
    """Loading and curating the four foundation databases (DOMAIN §7)."""
    def __init__(self, channel: grpc.aio.Channel) -> None: ...

    LoadRecords: calls.AsyncUnaryUnary[_govshare_client_pb_foundation_v1_foundation_pb2.LoadRecordsRequest, _govshare_client_pb_foundation_v1_foundation_pb2.LoadRecordsResponse]
    """Loads records of one dataset from one source; bad records are rejected one by one."""
    ListConflicts: calls.AsyncUnaryUnary[_govshare_client_pb_foundation_v1_foundation_pb2.ListConflictsRequest, _govshare_client_pb_foundation_v1_foundation_pb2.ListConflictsResponse]
    """Lists recorded disagreements between sources (多元校核)."""
    ResolveConflict: calls.AsyncUnaryUnary[_govshare_client_pb_foundation_v1_foundation_pb2.ResolveConflictRequest, _govshare_client_pb_foundation_v1_foundation_pb2.ResolveConflictResponse]
    """The authoritative source of the conflict's item resolves it."""
    GetRecordHistory: calls.AsyncUnaryUnary[_govshare_client_pb_foundation_v1_foundation_pb2.GetRecordHistoryRequest, _govshare_client_pb_foundation_v1_foundation_pb2.GetRecordHistoryResponse]
    """Past values of one record, a page at a time."""
    ListDatasets: calls.AsyncUnaryUnary[_govshare_client_pb_foundation_v1_foundation_pb2.ListDatasetsRequest, _govshare_client_pb_foundation_v1_foundation_pb2.ListDatasetsResponse]
    """Datasets and their authoritative source departments."""
    RegisterSource: calls.AsyncUnaryUnary[_govshare_client_pb_foundation_v1_foundation_pb2.RegisterSourceRequest, _govshare_client_pb_foundation_v1_foundation_pb2.RegisterSourceResponse]
    """The authority registers a department as a source of a dataset: only registered sources load (R-FND-2)."""
    RetireSource: calls.AsyncUnaryUnary[_govshare_client_pb_foundation_v1_foundation_pb2.RetireSourceRequest, _govshare_client_pb_foundation_v1_foundation_pb2.RetireSourceResponse]
    """The authority retires a source that no longer provides the dataset: it loads nothing more, its kept values
    are no longer cross-checked and its open conflicts are closed (SOURCE_RETIRED); its history is kept. The
    authoritative source of the dataset or of an item is not retired (designate another first).
    """
    DesignateAuthoritativeSource: calls.AsyncUnaryUnary[_govshare_client_pb_foundation_v1_foundation_pb2.DesignateAuthoritativeSourceRequest, _govshare_client_pb_foundation_v1_foundation_pb2.DesignateAuthoritativeSourceResponse]
    """The authority designates the authoritative source of a dataset, or of one of its items (一数一源)."""
    ListSources: calls.AsyncUnaryUnary[_govshare_client_pb_foundation_v1_foundation_pb2.ListSourcesRequest, _govshare_client_pb_foundation_v1_foundation_pb2.ListSourcesResponse]
    """A dataset's sources, authoritative sources and the history of their designation."""


class FoundationAdminServiceServicer:
    def LoadRecords(self, request: _govshare_client_pb_foundation_v1_foundation_pb2.LoadRecordsRequest, context: Any) -> Any: ...
    def ListConflicts(self, request: _govshare_client_pb_foundation_v1_foundation_pb2.ListConflictsRequest, context: Any) -> Any: ...
    def ResolveConflict(self, request: _govshare_client_pb_foundation_v1_foundation_pb2.ResolveConflictRequest, context: Any) -> Any: ...
    def GetRecordHistory(self, request: _govshare_client_pb_foundation_v1_foundation_pb2.GetRecordHistoryRequest, context: Any) -> Any: ...
    def ListDatasets(self, request: _govshare_client_pb_foundation_v1_foundation_pb2.ListDatasetsRequest, context: Any) -> Any: ...
    def RegisterSource(self, request: _govshare_client_pb_foundation_v1_foundation_pb2.RegisterSourceRequest, context: Any) -> Any: ...
    def RetireSource(self, request: _govshare_client_pb_foundation_v1_foundation_pb2.RetireSourceRequest, context: Any) -> Any: ...
    def DesignateAuthoritativeSource(self, request: _govshare_client_pb_foundation_v1_foundation_pb2.DesignateAuthoritativeSourceRequest, context: Any) -> Any: ...
    def ListSources(self, request: _govshare_client_pb_foundation_v1_foundation_pb2.ListSourcesRequest, context: Any) -> Any: ...


def add_FoundationAdminServiceServicer_to_server(servicer: FoundationAdminServiceServicer, server: Any) -> None: ...


class FoundationAdminService:
    LoadRecords: Any
    ListConflicts: Any
    ResolveConflict: Any
    GetRecordHistory: Any
    ListDatasets: Any
    RegisterSource: Any
    RetireSource: Any
    DesignateAuthoritativeSource: Any
    ListSources: Any
