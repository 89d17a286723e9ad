"""A department's own 前置机 for the tests: a real ProviderService on a socket, serving records from memory.

Before publishing an entry naming it, the catalog asks it what it serves (Describe): it says it serves any
dataset, for the department and with the items it was given (``department``, ``items``).
tests/integration/test_frontproc.py runs the real one (``python -m frontproc``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import TypeVar

import grpc

from govshare.provider.v1 import provider_pb2, provider_pb2_grpc
from services.runtime.identity import AssertionSigner, service_caller

T = TypeVar("T")


class Describing(provider_pb2_grpc.ProviderServiceServicer):
    """Answers only Describe: enough for the catalog to publish an entry naming it."""

    def __init__(self, department: str, items: Iterable[str]) -> None:
        self.department = department
        self.items = list(items)

    async def Describe(self, request, context):  # type: ignore[no-untyped-def]
        return provider_pb2.DescribeResponse(serves=True, department_code=self.department, items=self.items)


class FrontEndProcessor(Describing):
    def __init__(self, records: list[provider_pb2.Record], department: str = "", items: Iterable[str] = (),
                 skipped: int = 0) -> None:
        super().__init__(department, items)
        self.records = {record.key: record for record in records}
        #: Export's page size when set (else the caller's), and after how many pages it stops sending and waits
        #: for its caller to go away: an export cut midway.
        self.page_size: int | None = None
        self.hold_after: int | None = None
        #: Records its database holds but cannot send: its export's first page says it left them out.
        self.skipped = skipped

    async def Lookup(self, request, context):  # type: ignore[no-untyped-def]
        record = self.records.get(request.key)
        return provider_pb2.LookupResponse(found=record is not None, record=record)

    async def BatchLookup(self, request, context):  # type: ignore[no-untyped-def]
        return provider_pb2.BatchLookupResponse(records=[self.records[k] for k in request.keys if k in self.records])

    async def Export(self, request, context):  # type: ignore[no-untyped-def]
        """Every record it holds, whatever the dataset: give an exported resource a front end of its own."""
        records = list(self.records.values())
        size = self.page_size or request.page_size or 500
        for page, start in enumerate(range(0, len(records), size)):
            if page == self.hold_after:
                await asyncio.Future()  # until the call is cancelled
            yield provider_pb2.ExportResponse(records=records[start:start + size], skipped=self.skipped * (not start))


@asynccontextmanager
async def serving(servicer: provider_pb2_grpc.ProviderServiceServicer) -> AsyncIterator[str]:
    """Runs ``servicer`` on 127.0.0.1; yields the target. Once left, nothing answers there: a 前置机 that went
    down."""
    server = grpc.aio.server()
    provider_pb2_grpc.add_ProviderServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(0)


def front_end(records: list[provider_pb2.Record], department: str = "", items: Iterable[str] = ()):  # type: ignore[no-untyped-def]
    """Serves ``records`` on 127.0.0.1 as ``department``'s 前置机 (``items``: what Describe says it has)."""
    return serving(FrontEndProcessor(records, department, items))


async def published_while_up(publish: Callable[[str], Awaitable[T]], department: str,
                             items: Iterable[str]) -> tuple[T, str]:
    """Publishes an entry naming a department endpoint that answered the catalog's check, then went down: what
    ``publish(target)`` returned, and the target, where nothing answers any more."""
    async with serving(Describing(department, items)) as target:
        published = await publish(target)
    return published, target


async def foundation_records(platform, dataset: str, count: int) -> list[provider_pb2.Record]:  # type: ignore[no-untyped-def]
    """Valid records (the foundation's synthetic data) for a department's 前置机 to serve as its own."""
    signer = AssertionSigner(platform.settings["query"].internal_key)
    async with grpc.aio.insecure_channel(platform.port("foundation")) as channel:
        stub = provider_pb2_grpc.ProviderServiceStub(channel)
        async for page in stub.Export(provider_pb2.ExportRequest(dataset=dataset, page_size=count),
                                      metadata=signer.metadata(service_caller("query"))):
            return list(page.records)[:count]
    raise AssertionError(f"no {dataset} records")


def own_records(template: list[provider_pb2.Record], key_item: str, keys: list[str]) -> list[provider_pb2.Record]:
    """Records under ``keys`` that no other test queries (values copied from ``template``, the key replaced), so
    an exact listing of a key's accesses is not disturbed by the other tests sharing the platform."""
    made = []
    for index, key in enumerate(keys):
        base = template[index % len(template)]
        made.append(provider_pb2.Record(key=key, values={**base.values, key_item: key},
                                        source_department_code=base.source_department_code,
                                        as_of_time=base.as_of_time))
    return made
