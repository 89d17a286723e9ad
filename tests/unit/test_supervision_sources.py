"""What supervision says when a service it gathers figures from refuses, over a real gRPC server."""

from __future__ import annotations

import asyncio
import logging

import grpc
import pytest

from govshare.catalog.v1 import figures_pb2_grpc as catalog_figures_pb2_grpc
from govshare.query.v1 import figures_pb2, figures_pb2_grpc
from services.runtime.errors import ServiceError
from services.runtime.identity import AssertionSigner, service_caller
from services.runtime.tasks import cancel
from services.supervision.component import SupervisionComponent
from services.supervision.sources import FigureSources
from services.supervision.supervision import Supervision


class _DatabaseDown(figures_pb2_grpc.AuditFiguresServiceServicer):
    """The query service's figures while its PostgreSQL is down, as it answers then."""

    async def ListDepartmentFigures(self, request, context):  # type: ignore[no-untyped-def]
        await context.abort(grpc.StatusCode.UNAVAILABLE, "the database (PostgreSQL) is unavailable: retry later")


async def test_a_services_refusal_is_passed_on_in_its_own_words() -> None:
    """`govshare supervise` with PostgreSQL killed said 'the query service could not give its figures
    (UNAVAILABLE)', blaming the query service for a database that had stopped (found by ops19): the service's
    own words now follow its status."""
    server = grpc.aio.server()
    figures_pb2_grpc.add_AuditFiguresServiceServicer_to_server(_DatabaseDown(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            sources = FigureSources({name: channel for name in ("catalog", "authorization", "query", "foundation")},
                                    AssertionSigner(b"k" * 32), service_caller("supervision"))
            with pytest.raises(ServiceError) as refused:
                await sources._figures("query", figures_pb2_grpc.AuditFiguresServiceStub(channel).ListDepartmentFigures,
                                       figures_pb2.ListDepartmentFiguresRequest())
    finally:
        await server.stop(0)
    assert (refused.value.code, refused.value.reason) == (grpc.StatusCode.UNAVAILABLE, "DEPENDENCY_UNAVAILABLE")
    assert refused.value.message == ("the query service could not give its figures (UNAVAILABLE: the database "
                                     "(PostgreSQL) is unavailable: retry later)")


class _CatalogDatabaseDown(catalog_figures_pb2_grpc.CatalogFiguresServiceServicer):
    """The catalog's figures while its PostgreSQL is down."""

    async def ListDepartmentFigures(self, request, context):  # type: ignore[no-untyped-def]
        await context.abort(grpc.StatusCode.UNAVAILABLE, "the database (PostgreSQL) is unavailable: retry later")


class _Warned(logging.Handler):
    """The schedule's first warning, and an event set when it comes."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []
        self.came = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
        self.came.set()


async def test_the_schedule_says_what_failed_in_the_services_own_words() -> None:
    """Under `govshare up` the supervision process computes the months itself: with a service's database down it
    logged 'scheduled supervision of 2026-12 failed: ServiceError' every few minutes, naming neither the service
    nor the cause that `govshare supervise` prints."""
    server = grpc.aio.server()
    catalog_figures_pb2_grpc.add_CatalogFiguresServiceServicer_to_server(_CatalogDatabaseDown(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    warned = _Warned()
    logger = logging.getLogger("services.supervision.component")
    logger.addHandler(warned)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            sources = FigureSources({name: channel for name in ("catalog", "authorization", "query", "foundation")},
                                    AssertionSigner(b"k" * 32), service_caller("supervision"))
            component = SupervisionComponent.__new__(SupervisionComponent)
            component._supervision = Supervision(None, sources)  # type: ignore[arg-type]  # fails before the store
            schedule = asyncio.create_task(component._periodic(0.001))
            try:
                await warned.came.wait()
            finally:
                await cancel(schedule)
    finally:
        logger.removeHandler(warned)
        await server.stop(0)
    assert warned.messages[0].endswith("failed (ServiceError: UNAVAILABLE DEPENDENCY_UNAVAILABLE: the catalog service "
                                       "could not give its figures (UNAVAILABLE: the database (PostgreSQL) is "
                                       "unavailable: retry later))"), warned.messages[0]
