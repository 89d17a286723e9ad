"""govshare.catalog.v1.CatalogService: protobuf ↔ domain mapping, nothing else."""

from __future__ import annotations

from collections.abc import Callable

import grpc

from govshare.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from services.catalog.catalog import Catalog
from services.catalog.model import DataItem, Endpoint, Entry, EntryFilter, Highlight, MandateChange, Page
from services.runtime.actors import actor_pb
from services.runtime.admission import HeavyReadGate
from services.runtime.identity import AssertionVerifier
from services.runtime.timestamps import from_timestamp, to_timestamp
from services.runtime.workdays import provisional


def entry_from_proto(message: catalog_pb2.Entry) -> Entry:
    """The domain form of a request's entry; output-only fields are left out."""
    return Entry(
        code=message.code, name=message.name, summary=message.summary, category=message.category,
        subject=message.subject, provider_department_code=message.provider_department_code,
        provider_name=message.provider_name, format_class=message.format_class, format_type=message.format_type,
        items=[DataItem(name=i.name, machine_name=i.machine_name, data_type=i.data_type, length=i.length,
                        sensitive=i.sensitive, mask_rule=i.mask_rule, basic=i.basic, identifier=i.identifier)
               for i in message.items],
        key_item=message.key_item, share_type=message.share_type, share_condition=message.share_condition,
        share_methods=list(message.share_methods), legal_basis=message.legal_basis,
        open_to_public=message.open_to_public, open_condition=message.open_condition,
        update_cycle=message.update_cycle, related_codes=list(message.related_codes), zone=message.zone,
        secrecy=message.secrecy, endpoint=Endpoint(target=message.endpoint.target, dataset=message.endpoint.dataset),
        project_code=message.project_code,
    )


def entry_to_proto(entry: Entry) -> catalog_pb2.Entry:
    return catalog_pb2.Entry(
        code=entry.code, name=entry.name, summary=entry.summary, category=entry.category, subject=entry.subject,
        provider_department_code=entry.provider_department_code, provider_name=entry.provider_name,
        format_class=entry.format_class, format_type=entry.format_type,
        items=[catalog_pb2.DataItem(name=i.name, machine_name=i.machine_name, data_type=i.data_type,
                                    length=i.length, sensitive=i.sensitive, mask_rule=i.mask_rule, basic=i.basic,
                                    identifier=i.identifier, listed_since=to_timestamp(i.listed_since))
               for i in entry.items],
        key_item=entry.key_item, share_type=entry.share_type, share_condition=entry.share_condition,
        share_methods=entry.share_methods, legal_basis=entry.legal_basis, open_to_public=entry.open_to_public,
        open_condition=entry.open_condition, update_cycle=entry.update_cycle,
        publish_time=to_timestamp(entry.publish_time), related_codes=entry.related_codes, zone=entry.zone,
        secrecy=entry.secrecy, state=entry.state, version=entry.version,
        # An entry always names a dataset; none means the caller is not shown the endpoint (lifecycle.shown_to).
        endpoint=catalog_pb2.ProviderEndpoint(target=entry.endpoint.target, dataset=entry.endpoint.dataset)
        if entry.endpoint.dataset else None,
        project_code=entry.project_code, return_reason=entry.return_reason,
        create_time=to_timestamp(entry.create_time), update_time=to_timestamp(entry.update_time),
        submitted_by=actor_pb(entry.submitted_by), reviewed_by=actor_pb(entry.reviewed_by), etag=entry.etag,
        retire_reason=entry.retire_reason,
        returns=[catalog_pb2.EntryReturn(reason=r.reason, time=to_timestamp(r.time),
                                         returned_by=actor_pb(r.returned_by)) for r in entry.returns],
    )


def filter_from_proto(message: catalog_pb2.EntryFilter) -> EntryFilter:
    return EntryFilter(
        provider_department_code=message.provider_department_code, category=message.category,
        share_type=message.share_type, zone=message.zone, state=message.state, update_cycle=message.update_cycle,
        subject=message.subject, project_code=message.project_code)


def _overdue_to_proto(change: MandateChange) -> catalog_pb2.OverdueUpdate:
    return catalog_pb2.OverdueUpdate(
        department_code=change.department_code, description=change.description,
        change_time=to_timestamp(change.change_time), due_time=to_timestamp(change.due_time),
        due_time_provisional=provisional(change.due_time))


def _highlight_to_proto(code: str, highlight: Highlight) -> catalog_pb2.SearchHighlight:
    return catalog_pb2.SearchHighlight(
        code=code, name=[catalog_pb2.TextRange(start=start, end=end) for start, end in highlight.name],
        summary=[catalog_pb2.TextRange(start=start, end=end) for start, end in highlight.summary])


def _entries(page: Page) -> list[catalog_pb2.Entry]:
    return [entry_to_proto(entry) for entry in page.entries]


class CatalogServicer(catalog_pb2_grpc.CatalogServiceServicer):
    """CatalogService. Its heavy reads (ListEntries, SearchEntries) pass the process's admission gate
    (services/runtime/admission.py) after the caller is verified."""

    def __init__(self, catalog: Callable[[], Catalog], verifier: AssertionVerifier,
                 heavy: HeavyReadGate | None = None) -> None:
        self._catalog = catalog
        self._verifier = verifier
        self._heavy = heavy or HeavyReadGate(0, 0)

    async def CreateEntry(self, request: catalog_pb2.CreateEntryRequest,
                          context: grpc.aio.ServicerContext) -> catalog_pb2.CreateEntryResponse:
        caller = self._verifier.from_context(context)
        entry = await self._catalog().create(caller, entry_from_proto(request.entry))
        return catalog_pb2.CreateEntryResponse(entry=entry_to_proto(entry))

    async def GetEntry(self, request: catalog_pb2.GetEntryRequest,
                       context: grpc.aio.ServicerContext) -> catalog_pb2.GetEntryResponse:
        caller = self._verifier.from_context(context)
        entry = await self._catalog().get(caller, request.code, request.version)
        return catalog_pb2.GetEntryResponse(entry=entry_to_proto(entry))

    async def ListEntries(self, request: catalog_pb2.ListEntriesRequest,
                          context: grpc.aio.ServicerContext) -> catalog_pb2.ListEntriesResponse:
        caller = self._verifier.from_context(context)
        async with self._heavy.admitted():
            page = await self._catalog().list_entries(caller, filter_from_proto(request.filter), request.page_size,
                                                      request.page_token)
            return catalog_pb2.ListEntriesResponse(entries=_entries(page), next_page_token=page.next_page_token)

    async def SearchEntries(self, request: catalog_pb2.SearchEntriesRequest,
                            context: grpc.aio.ServicerContext) -> catalog_pb2.SearchEntriesResponse:
        caller = self._verifier.from_context(context)
        async with self._heavy.admitted():
            page = await self._catalog().search_entries(caller, request.query, filter_from_proto(request.filter),
                                                        request.page_size, request.page_token)
            return catalog_pb2.SearchEntriesResponse(
                entries=_entries(page), next_page_token=page.next_page_token,
                highlights=[_highlight_to_proto(entry.code, highlight)
                            for entry, highlight in zip(page.entries, page.highlights, strict=True)])

    async def UpdateEntry(self, request: catalog_pb2.UpdateEntryRequest,
                          context: grpc.aio.ServicerContext) -> catalog_pb2.UpdateEntryResponse:
        caller = self._verifier.from_context(context)
        entry = await self._catalog().update(caller, entry_from_proto(request.entry), list(request.update_mask.paths),
                                             etag=request.entry.etag)
        return catalog_pb2.UpdateEntryResponse(entry=entry_to_proto(entry))

    async def SubmitEntry(self, request: catalog_pb2.SubmitEntryRequest,
                          context: grpc.aio.ServicerContext) -> catalog_pb2.SubmitEntryResponse:
        caller = self._verifier.from_context(context)
        entry = await self._catalog().submit(caller, request.code)
        return catalog_pb2.SubmitEntryResponse(entry=entry_to_proto(entry))

    async def ReviewEntry(self, request: catalog_pb2.ReviewEntryRequest,
                          context: grpc.aio.ServicerContext) -> catalog_pb2.ReviewEntryResponse:
        caller = self._verifier.from_context(context)
        entry = await self._catalog().review(caller, request.code, request.decision, request.reason, request.etag)
        return catalog_pb2.ReviewEntryResponse(entry=entry_to_proto(entry))

    async def RetireEntry(self, request: catalog_pb2.RetireEntryRequest,
                          context: grpc.aio.ServicerContext) -> catalog_pb2.RetireEntryResponse:
        caller = self._verifier.from_context(context)
        entry = await self._catalog().retire(caller, request.code, request.reason)
        return catalog_pb2.RetireEntryResponse(entry=entry_to_proto(entry))

    async def ListEntryVersions(self, request: catalog_pb2.ListEntryVersionsRequest,
                                context: grpc.aio.ServicerContext) -> catalog_pb2.ListEntryVersionsResponse:
        caller = self._verifier.from_context(context)
        page = await self._catalog().versions(caller, request.code, request.page_size, request.page_token)
        return catalog_pb2.ListEntryVersionsResponse(versions=_entries(page), next_page_token=page.next_page_token)

    async def GetProjectStatus(self, request: catalog_pb2.GetProjectStatusRequest,
                               context: grpc.aio.ServicerContext) -> catalog_pb2.GetProjectStatusResponse:
        caller = self._verifier.from_context(context)
        status = await self._catalog().project_status(caller, request.project_code)
        return catalog_pb2.GetProjectStatusResponse(
            project_code=status.project_code, entry_count=status.entry_count,
            published_count=status.published_count, all_published=status.all_published,
            unpublished_codes=status.unpublished_codes)

    async def ReportMandateChange(self, request: catalog_pb2.ReportMandateChangeRequest,
                                  context: grpc.aio.ServicerContext) -> catalog_pb2.ReportMandateChangeResponse:
        caller = self._verifier.from_context(context)
        # An out-of-range timestamp is the caller's error (INVALID_ARGUMENT), raised by from_timestamp.
        change_time = from_timestamp(request.change_time, "change_time") if request.HasField("change_time") else None
        due = await self._catalog().report_mandate_change(caller, request.department_code, request.description,
                                                        change_time)
        return catalog_pb2.ReportMandateChangeResponse(due_time=to_timestamp(due),
                                                       due_time_provisional=provisional(due))

    async def ListOverdueUpdates(self, request: catalog_pb2.ListOverdueUpdatesRequest,
                                 context: grpc.aio.ServicerContext) -> catalog_pb2.ListOverdueUpdatesResponse:
        caller = self._verifier.from_context(context)
        changes, token = await self._catalog().overdue(caller, request.page_size, request.page_token,
                                                        request.department_code)
        return catalog_pb2.ListOverdueUpdatesResponse(updates=[_overdue_to_proto(c) for c in changes],
                                                      next_page_token=token)
