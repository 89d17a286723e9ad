"""What supervision says when a service it gathers figures from refuses, over a real gRPC server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import grpc
import pytest

from govshare.authorization.v1 import directory_pb2_grpc
from govshare.catalog.v1 import figures_pb2_grpc as catalog_figures_pb2_grpc
from govshare.query.v1 import figures_pb2, figures_pb2_grpc
from govshare.supervision.v1 import supervision_pb2, supervision_pb2_grpc
from services.runtime.errors import ServiceError
from services.runtime.identity import AssertionSigner, service_caller
from services.runtime.pagination import serving
from services.runtime.tasks import cancel
from services.supervision.component import SupervisionComponent
from services.supervision.months import Month
from services.supervision.sources import FigureSources
from services.supervision.supervision import Supervision


class _DatabaseDown(figures_pb2_grpc.AuditFiguresServiceServicer):
    """The query service's figures while its PostgreSQL is down, as it answers then."""

    async def ListDepartmentFigures(self, request, context):  # type: ignore[no-untyped-def]
        await context.abort(grpc.StatusCode.UNAVAILABLE, "the database (PostgreSQL) is unavailable: retry later")


@contextlib.asynccontextmanager
async def _sources_over(add: Callable[[Any, grpc.aio.Server], None], servicer: Any
                        ) -> AsyncIterator[tuple[FigureSources, grpc.aio.Channel]]:
    """FigureSources whose every service is ``servicer``, served over a real socket, and the channel to it."""
    server = grpc.aio.server()
    add(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield FigureSources({name: channel for name in ("catalog", "authorization", "query", "foundation")},
                                AssertionSigner(b"k" * 32), service_caller("supervision")), channel
    finally:
        await server.stop(0)


async def test_a_services_refusal_is_passed_on_in_its_own_words() -> None:
    """`govshare supervise` with PostgreSQL killed said 'the query service could not give its figures
    (UNAVAILABLE)', blaming the query service for a database that had stopped (found by ops19): the service's
    own words now follow its status."""
    async with _sources_over(figures_pb2_grpc.add_AuditFiguresServiceServicer_to_server, _DatabaseDown()) as (
            sources, channel):
        with pytest.raises(ServiceError) as refused:
            await sources._figures("query", figures_pb2_grpc.AuditFiguresServiceStub(channel).ListDepartmentFigures,
                                   figures_pb2.ListDepartmentFiguresRequest())
    assert (refused.value.code, refused.value.reason) == (grpc.StatusCode.UNAVAILABLE, "DEPENDENCY_UNAVAILABLE")
    assert refused.value.message == ("the query service could not give its figures (UNAVAILABLE: the database "
                                     "(PostgreSQL) is unavailable: retry later)")
    # Named as the runtime names a failed outgoing call (docs/api.md's metadata.dependency), so the refusal is
    # counted in govshare_unavailable_total{dependency="service"}, not under an empty dependency.
    assert refused.value.metadata == {"dependency": "service"}


class _DirectoryDown(directory_pb2_grpc.DirectoryServiceServicer):
    """The authorization service's directory while its PostgreSQL is down."""

    async def ListDepartments(self, request, context):  # type: ignore[no-untyped-def]
        await context.abort(grpc.StatusCode.UNAVAILABLE, "the database (PostgreSQL) is unavailable: retry later")

    async def ListSystems(self, request, context):  # type: ignore[no-untyped-def]
        await context.abort(grpc.StatusCode.UNAVAILABLE, "the database (PostgreSQL) is unavailable: retry later")


async def test_a_directory_that_does_not_answer_is_said_to_list_nothing_not_to_give_no_figures() -> None:
    """A yearly report, a snapshot or a department's violations asked for with the authorization service's database
    down was refused 'the authorization service could not give its figures': the supervisor had asked for no
    figures of it (the report reads the directory's departments and business systems), and an operator looked for a
    failed figures call. Each says what the directory could not do."""
    async with _sources_over(directory_pb2_grpc.add_DirectoryServiceServicer_to_server, _DirectoryDown()) as (
            sources, _):
        refusals = []
        for read in (sources.departments, sources.joined, sources.systems):
            with pytest.raises(ServiceError) as refused:
                await read()
            refusals.append((refused.value.code, refused.value.reason, refused.value.message))
            assert refused.value.metadata == {"dependency": "service"}
    said = "(UNAVAILABLE: the database (PostgreSQL) is unavailable: retry later)"
    assert refusals == [
        (grpc.StatusCode.UNAVAILABLE, "DEPENDENCY_UNAVAILABLE", f"the authorization service could not list the "
                                                                f"departments {said}")] * 2 + [
        (grpc.StatusCode.UNAVAILABLE, "DEPENDENCY_UNAVAILABLE", f"the authorization service could not list the "
                                                                f"business systems {said}")]


class _Hung(directory_pb2_grpc.DirectoryServiceServicer, catalog_figures_pb2_grpc.CatalogFiguresServiceServicer):
    """The authorization service's directory, or the catalog's figures, stopped (SIGSTOP): the call is accepted
    and never answered."""

    def __init__(self) -> None:
        self.released = asyncio.Event()

    async def _never(self, context) -> None:  # type: ignore[no-untyped-def]
        await self.released.wait()
        await context.abort(grpc.StatusCode.CANCELLED, "released at the test's end")

    async def ListDepartments(self, request, context):  # type: ignore[no-untyped-def]
        await self._never(context)

    async def ListDepartmentFigures(self, request, context):  # type: ignore[no-untyped-def]
        await self._never(context)


class _ReadsOtherServices(supervision_pb2_grpc.SupervisionServiceServicer):
    """Supervision calls served as the runtime serves them (the call's context, its deadline, is the call being
    served): ListViolations of a named department asks the directory whether it exists, ComputeSnapshots gathers
    the month's figures."""

    def __init__(self, sources: FigureSources) -> None:
        self._sources = sources

    async def _within(self, reading, request, context) -> None:  # type: ignore[no-untyped-def]
        serving(None, request, context)  # type: ignore[arg-type]
        try:
            await reading
        except ServiceError as refused:
            await context.abort(refused.code, refused.message)

    async def ListViolations(self, request, context):  # type: ignore[no-untyped-def]
        await self._within(self._sources.departments(), request, context)
        return supervision_pb2.ListViolationsResponse()

    async def ComputeSnapshots(self, request, context):  # type: ignore[no-untyped-def]
        await self._within(self._sources.gather(Month(2026, 11)), request, context)
        return supervision_pb2.ComputeSnapshotsResponse()


@pytest.mark.parametrize(("rpc", "request_", "said"), [
    ("ListViolations", supervision_pb2.ListViolationsRequest(year=2026, month=11),
     "the authorization service could not list the departments"),
    ("ComputeSnapshots", supervision_pb2.ComputeSnapshotsRequest(year=2026, month=11),
     "the catalog service could not give its figures")])
async def test_a_hung_service_is_unavailable_naming_it_within_the_callers_deadline(rpc: str, request_: object,
                                                                                  said: str) -> None:
    """With the authorization service hung, a report, a department's violations or a snapshot not found waited for
    the directory's list of departments as long as for a month's figures (five minutes), and a ComputeSnapshots
    for a hung service's figures that long: the edge cut the call at its deadline, DEADLINE_EXCEEDED 'with the
    supervision service not having answered' (seen on a platform with the authorization process stopped), and the
    supervisor was told nothing of the service that hung. Each is read within the caller's time, and the call
    answered UNAVAILABLE naming it."""
    hung = _Hung()
    services = grpc.aio.server()
    directory_pb2_grpc.add_DirectoryServiceServicer_to_server(hung, services)
    catalog_figures_pb2_grpc.add_CatalogFiguresServiceServicer_to_server(hung, services)
    services_port = services.add_insecure_port("127.0.0.1:0")
    await services.start()
    supervision = grpc.aio.server()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{services_port}") as channel:
            sources = FigureSources({name: channel for name in ("catalog", "authorization", "query", "foundation")},
                                    AssertionSigner(b"k" * 32), service_caller("supervision"))
            supervision_pb2_grpc.add_SupervisionServiceServicer_to_server(_ReadsOtherServices(sources), supervision)
            port = supervision.add_insecure_port("127.0.0.1:0")
            await supervision.start()
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as caller:
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    # 2.5 s: the refusal leaves callers_time's whole margin (0.5 s) before the deadline, as in service.
                    await getattr(supervision_pb2_grpc.SupervisionServiceStub(caller), rpc)(request_, timeout=2.5)
    finally:
        hung.released.set()
        await supervision.stop(0)
        await services.stop(0)
    assert (refused.value.code(), refused.value.details()) == (
        grpc.StatusCode.UNAVAILABLE, f"{said} within this call's deadline: it did not answer")


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


class _ClosedOnce:
    """The workflows as a pooled connection the server ended (pg_terminate_backend, a DBA closing the database)
    leaves the first computation: asyncpg's InternalClientError (services/runtime/errors.py, dependency_failure),
    then computations that go through; ``again`` is set at the third (the next round)."""

    def __init__(self) -> None:
        self.calls = 0
        self.again = asyncio.Event()

    async def compute(self, caller, month) -> None:  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.calls == 1:
            raise asyncpg.exceptions.InternalClientError("cannot switch to state 12; another operation (2) is in "
                                                         "progress")
        if self.calls >= 3:
            self.again.set()


async def test_the_schedule_goes_on_after_postgresql_ended_a_pooled_connection() -> None:
    """Only ServiceError, PostgresError and OSError were caught: asyncpg's InternalClientError on a connection the
    server had ended (or an InterfaceError on a closed one) ended the schedule's task, and no month was computed
    again until the process restarted, without a word."""
    component = SupervisionComponent.__new__(SupervisionComponent)
    workflows = _ClosedOnce()
    component._supervision = workflows  # type: ignore[assignment]
    schedule = asyncio.create_task(component._periodic(0.001))
    again = asyncio.create_task(workflows.again.wait())
    try:
        await asyncio.wait({schedule, again}, return_when=asyncio.FIRST_COMPLETED)
        assert workflows.again.is_set(), schedule.exception() if schedule.done() else "schedule still running"
    finally:
        await cancel(schedule)
        await cancel(again)
