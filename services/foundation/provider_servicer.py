"""govshare.provider.v1.ProviderService for the foundation datasets: how query reads records.

Only platform services call it (query, on a record-cache miss), so it sits on the hot
path of an online query: Lookup is one primary-key probe with a prepared statement and a
direct row -> Record mapping, nothing else. A key that cannot name a record (empty,
oversized, control characters) is simply absent, as in a batch. A key is read in the form a
load stores it (validation.stored_key: full width as ASCII, the codes' letters upper case); a
record is answered under its stored key.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from govshare.provider.v1 import provider_pb2 as pb
from govshare.provider.v1 import provider_pb2_grpc
from services.foundation.datasets import DATASETS, find_dataset
from services.foundation.store import FoundationStore, StoredRecord
from services.foundation.validation import stored_key
from services.runtime.errors import FieldViolation, invalid_argument, permission_denied
from services.runtime.identifiers import MAX_TEXT_KEY
from services.runtime.identity import AssertionVerifier, Caller
from services.runtime.pagination import page_size_violations
from services.runtime.timestamps import to_timestamp

MAX_BATCH_KEYS = 1000
DEFAULT_EXPORT_PAGE = 500
MAX_EXPORT_PAGE = 5000


def _record(record: StoredRecord) -> pb.Record:
    return pb.Record(key=record.key, values=record.values, source_department_code=record.source_department_code,
                     as_of_time=to_timestamp(record.as_of_time))


def _usable(key: str) -> bool:
    """Whether ``key`` could be a stored key (and so is safe to send to PostgreSQL)."""
    return 0 < len(key) <= MAX_TEXT_KEY and key.isprintable()


def _require_service(caller: Caller) -> None:
    if not caller.is_service:
        raise permission_denied("SERVICE_ONLY", "ProviderService is internal to the platform (platform services only)")


class ProviderServicer(provider_pb2_grpc.ProviderServiceServicer):
    def __init__(self, verifier: AssertionVerifier, store: FoundationStore) -> None:
        self._verifier = verifier
        self._store = store

    async def Lookup(self, request: pb.LookupRequest, context: grpc.aio.ServicerContext) -> pb.LookupResponse:
        _require_service(self._verifier.from_context(context))
        dataset = DATASETS.get(request.dataset)
        if dataset is None or not request.key:
            violations: list[FieldViolation] = []
            find_dataset(request.dataset, violations)
            if not request.key:
                violations.append(FieldViolation("key", "required"))
            raise invalid_argument(violations)
        if not _usable(request.key):
            return pb.LookupResponse(found=False)
        record = await self._store.lookup(dataset.name, stored_key(dataset.key_item, request.key))
        if record is None:
            return pb.LookupResponse(found=False)
        return pb.LookupResponse(found=True, record=_record(record))

    async def BatchLookup(self, request: pb.BatchLookupRequest, context: grpc.aio.ServicerContext
                          ) -> pb.BatchLookupResponse:
        _require_service(self._verifier.from_context(context))
        violations: list[FieldViolation] = []
        dataset = find_dataset(request.dataset, violations)
        if len(request.keys) > MAX_BATCH_KEYS:
            violations.append(FieldViolation("keys", f"at most {MAX_BATCH_KEYS} per call, got {len(request.keys)}"))
        if violations or dataset is None:
            raise invalid_argument(violations)
        keys = list({stored_key(dataset.key_item, key) for key in request.keys if _usable(key)})
        if not keys:
            return pb.BatchLookupResponse()
        records = await self._store.batch_lookup(dataset.name, keys)
        return pb.BatchLookupResponse(records=[_record(r) for r in records])

    async def Describe(self, request: pb.DescribeRequest, context: grpc.aio.ServicerContext) -> pb.DescribeResponse:
        """The items of a foundation dataset; no single department (its records come from several sources)."""
        _require_service(self._verifier.from_context(context))
        dataset = DATASETS.get(request.dataset)
        if dataset is None:
            return pb.DescribeResponse(serves=False)
        return pb.DescribeResponse(serves=True, items=list(dataset.item_order), key_kind=dataset.key_item)

    async def Export(self, request: pb.ExportRequest, context: grpc.aio.ServicerContext
                     ) -> AsyncIterator[pb.ExportResponse]:
        """Keyset pages in key order: each page is one indexed query, no snapshot held between pages."""
        _require_service(self._verifier.from_context(context))
        violations: list[FieldViolation] = []
        dataset = find_dataset(request.dataset, violations)
        violations.extend(page_size_violations(request.page_size))
        if violations or dataset is None:
            raise invalid_argument(violations)
        size = min(request.page_size or DEFAULT_EXPORT_PAGE, MAX_EXPORT_PAGE)
        after = ""
        while True:
            page = await self._store.page(dataset.name, after, size)
            if page:
                yield pb.ExportResponse(records=[_record(r) for r in page])
            if len(page) < size:
                return
            after = page[-1].key
