"""Typed stubs of govshare/catalog/v1/catalog.proto (written by scripts/typed_stubs.py: do not edit)."""

from typing import Any

from govshare_client import calls

import grpc
import grpc.aio
import govshare_client.pb.catalog.v1.catalog_pb2 as _govshare_client_pb_catalog_v1_catalog_pb2

GRPC_GENERATED_VERSION: str
GRPC_VERSION: str


class CatalogServiceStub:
    """The government information resource catalog (DOMAIN §2)."""
    def __init__(self, channel: grpc.Channel) -> None: ...

    CreateEntry: calls.UnaryUnary[_govshare_client_pb_catalog_v1_catalog_pb2.CreateEntryRequest, _govshare_client_pb_catalog_v1_catalog_pb2.CreateEntryResponse]
    """Drafts a new entry in the caller's department (or any, for the authority)."""
    GetEntry: calls.UnaryUnary[_govshare_client_pb_catalog_v1_catalog_pb2.GetEntryRequest, _govshare_client_pb_catalog_v1_catalog_pb2.GetEntryResponse]
    """Returns the current (or a given) version of an entry."""
    ListEntries: calls.UnaryUnary[_govshare_client_pb_catalog_v1_catalog_pb2.ListEntriesRequest, _govshare_client_pb_catalog_v1_catalog_pb2.ListEntriesResponse]
    """Lists entries, filtered and paged."""
    SearchEntries: calls.UnaryUnary[_govshare_client_pb_catalog_v1_catalog_pb2.SearchEntriesRequest, _govshare_client_pb_catalog_v1_catalog_pb2.SearchEntriesResponse]
    """Full-text search in name and summary (Chinese text), with the list filters."""
    UpdateEntry: calls.UnaryUnary[_govshare_client_pb_catalog_v1_catalog_pb2.UpdateEntryRequest, _govshare_client_pb_catalog_v1_catalog_pb2.UpdateEntryResponse]
    """Updates a draft or returned entry; a published one gets a new draft version."""
    SubmitEntry: calls.UnaryUnary[_govshare_client_pb_catalog_v1_catalog_pb2.SubmitEntryRequest, _govshare_client_pb_catalog_v1_catalog_pb2.SubmitEntryResponse]
    """Provider submits a draft for review."""
    ReviewEntry: calls.UnaryUnary[_govshare_client_pb_catalog_v1_catalog_pb2.ReviewEntryRequest, _govshare_client_pb_catalog_v1_catalog_pb2.ReviewEntryResponse]
    """Authority publishes or returns (with a reason) a submitted entry."""
    RetireEntry: calls.UnaryUnary[_govshare_client_pb_catalog_v1_catalog_pb2.RetireEntryRequest, _govshare_client_pb_catalog_v1_catalog_pb2.RetireEntryResponse]
    """Retires a published entry; it stays readable for audit. An entry never published (a draft, in review or
    returned) is withdrawn the same way.
    """
    ListEntryVersions: calls.UnaryUnary[_govshare_client_pb_catalog_v1_catalog_pb2.ListEntryVersionsRequest, _govshare_client_pb_catalog_v1_catalog_pb2.ListEntryVersionsResponse]
    """Lists every version of an entry the caller may see, oldest first, a page at a time (an entry gains a
    version with each change over the years: not bounded by construction).
    """
    GetProjectStatus: calls.UnaryUnary[_govshare_client_pb_catalog_v1_catalog_pb2.GetProjectStatusRequest, _govshare_client_pb_catalog_v1_catalog_pb2.GetProjectStatusResponse]
    """Reports whether all of a government IT project's entries are published (R-CAT-5)."""
    ReportMandateChange: calls.UnaryUnary[_govshare_client_pb_catalog_v1_catalog_pb2.ReportMandateChangeRequest, _govshare_client_pb_catalog_v1_catalog_pb2.ReportMandateChangeResponse]
    """Records a legal or mandate change that obliges a department to update its catalog (R-CAT-3)."""
    ListOverdueUpdates: calls.UnaryUnary[_govshare_client_pb_catalog_v1_catalog_pb2.ListOverdueUpdatesRequest, _govshare_client_pb_catalog_v1_catalog_pb2.ListOverdueUpdatesResponse]
    """Lists departments whose catalog update is overdue, the longest overdue first, a page at a time: the
    authority every department's (or department_code's), a department its own.
    """


class CatalogServiceAsyncStub:
    """The government information resource catalog (DOMAIN §2)."""
    def __init__(self, channel: grpc.aio.Channel) -> None: ...

    CreateEntry: calls.AsyncUnaryUnary[_govshare_client_pb_catalog_v1_catalog_pb2.CreateEntryRequest, _govshare_client_pb_catalog_v1_catalog_pb2.CreateEntryResponse]
    """Drafts a new entry in the caller's department (or any, for the authority)."""
    GetEntry: calls.AsyncUnaryUnary[_govshare_client_pb_catalog_v1_catalog_pb2.GetEntryRequest, _govshare_client_pb_catalog_v1_catalog_pb2.GetEntryResponse]
    """Returns the current (or a given) version of an entry."""
    ListEntries: calls.AsyncUnaryUnary[_govshare_client_pb_catalog_v1_catalog_pb2.ListEntriesRequest, _govshare_client_pb_catalog_v1_catalog_pb2.ListEntriesResponse]
    """Lists entries, filtered and paged."""
    SearchEntries: calls.AsyncUnaryUnary[_govshare_client_pb_catalog_v1_catalog_pb2.SearchEntriesRequest, _govshare_client_pb_catalog_v1_catalog_pb2.SearchEntriesResponse]
    """Full-text search in name and summary (Chinese text), with the list filters."""
    UpdateEntry: calls.AsyncUnaryUnary[_govshare_client_pb_catalog_v1_catalog_pb2.UpdateEntryRequest, _govshare_client_pb_catalog_v1_catalog_pb2.UpdateEntryResponse]
    """Updates a draft or returned entry; a published one gets a new draft version."""
    SubmitEntry: calls.AsyncUnaryUnary[_govshare_client_pb_catalog_v1_catalog_pb2.SubmitEntryRequest, _govshare_client_pb_catalog_v1_catalog_pb2.SubmitEntryResponse]
    """Provider submits a draft for review."""
    ReviewEntry: calls.AsyncUnaryUnary[_govshare_client_pb_catalog_v1_catalog_pb2.ReviewEntryRequest, _govshare_client_pb_catalog_v1_catalog_pb2.ReviewEntryResponse]
    """Authority publishes or returns (with a reason) a submitted entry."""
    RetireEntry: calls.AsyncUnaryUnary[_govshare_client_pb_catalog_v1_catalog_pb2.RetireEntryRequest, _govshare_client_pb_catalog_v1_catalog_pb2.RetireEntryResponse]
    """Retires a published entry; it stays readable for audit. An entry never published (a draft, in review or
    returned) is withdrawn the same way.
    """
    ListEntryVersions: calls.AsyncUnaryUnary[_govshare_client_pb_catalog_v1_catalog_pb2.ListEntryVersionsRequest, _govshare_client_pb_catalog_v1_catalog_pb2.ListEntryVersionsResponse]
    """Lists every version of an entry the caller may see, oldest first, a page at a time (an entry gains a
    version with each change over the years: not bounded by construction).
    """
    GetProjectStatus: calls.AsyncUnaryUnary[_govshare_client_pb_catalog_v1_catalog_pb2.GetProjectStatusRequest, _govshare_client_pb_catalog_v1_catalog_pb2.GetProjectStatusResponse]
    """Reports whether all of a government IT project's entries are published (R-CAT-5)."""
    ReportMandateChange: calls.AsyncUnaryUnary[_govshare_client_pb_catalog_v1_catalog_pb2.ReportMandateChangeRequest, _govshare_client_pb_catalog_v1_catalog_pb2.ReportMandateChangeResponse]
    """Records a legal or mandate change that obliges a department to update its catalog (R-CAT-3)."""
    ListOverdueUpdates: calls.AsyncUnaryUnary[_govshare_client_pb_catalog_v1_catalog_pb2.ListOverdueUpdatesRequest, _govshare_client_pb_catalog_v1_catalog_pb2.ListOverdueUpdatesResponse]
    """Lists departments whose catalog update is overdue, the longest overdue first, a page at a time: the
    authority every department's (or department_code's), a department its own.
    """


class CatalogServiceServicer:
    def CreateEntry(self, request: _govshare_client_pb_catalog_v1_catalog_pb2.CreateEntryRequest, context: Any) -> Any: ...
    def GetEntry(self, request: _govshare_client_pb_catalog_v1_catalog_pb2.GetEntryRequest, context: Any) -> Any: ...
    def ListEntries(self, request: _govshare_client_pb_catalog_v1_catalog_pb2.ListEntriesRequest, context: Any) -> Any: ...
    def SearchEntries(self, request: _govshare_client_pb_catalog_v1_catalog_pb2.SearchEntriesRequest, context: Any) -> Any: ...
    def UpdateEntry(self, request: _govshare_client_pb_catalog_v1_catalog_pb2.UpdateEntryRequest, context: Any) -> Any: ...
    def SubmitEntry(self, request: _govshare_client_pb_catalog_v1_catalog_pb2.SubmitEntryRequest, context: Any) -> Any: ...
    def ReviewEntry(self, request: _govshare_client_pb_catalog_v1_catalog_pb2.ReviewEntryRequest, context: Any) -> Any: ...
    def RetireEntry(self, request: _govshare_client_pb_catalog_v1_catalog_pb2.RetireEntryRequest, context: Any) -> Any: ...
    def ListEntryVersions(self, request: _govshare_client_pb_catalog_v1_catalog_pb2.ListEntryVersionsRequest, context: Any) -> Any: ...
    def GetProjectStatus(self, request: _govshare_client_pb_catalog_v1_catalog_pb2.GetProjectStatusRequest, context: Any) -> Any: ...
    def ReportMandateChange(self, request: _govshare_client_pb_catalog_v1_catalog_pb2.ReportMandateChangeRequest, context: Any) -> Any: ...
    def ListOverdueUpdates(self, request: _govshare_client_pb_catalog_v1_catalog_pb2.ListOverdueUpdatesRequest, context: Any) -> Any: ...


def add_CatalogServiceServicer_to_server(servicer: CatalogServiceServicer, server: Any) -> None: ...


class CatalogService:
    CreateEntry: Any
    GetEntry: Any
    ListEntries: Any
    SearchEntries: Any
    UpdateEntry: Any
    SubmitEntry: Any
    ReviewEntry: Any
    RetireEntry: Any
    ListEntryVersions: Any
    GetProjectStatus: Any
    ReportMandateChange: Any
    ListOverdueUpdates: Any
