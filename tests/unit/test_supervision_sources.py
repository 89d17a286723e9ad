"""What supervision says when a service it gathers figures from refuses, over a real gRPC server."""

from __future__ import annotations

import grpc
import pytest

from govshare.query.v1 import figures_pb2, figures_pb2_grpc
from services.runtime.errors import ServiceError
from services.runtime.identity import AssertionSigner, service_caller
from services.supervision.sources import FigureSources


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
