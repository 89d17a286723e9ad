"""The shared server over a real socket: health, reflection, rich errors, malformed input, drain."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
import pytest
from free_ports import free_port
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from prometheus_client import REGISTRY

from govshare.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from govshare.query.v1 import query_pb2, query_pb2_grpc
from services.runtime.errors import FieldViolation, details_of, invalid_argument, unavailable
from services.runtime.server import (
    LIVENESS_SERVICE,
    DrainingHealthServicer,
    RunningServer,
    start_server,
    watch_database,
)
from services.runtime.settings import Settings

SERVICE = "govshare.catalog.v1.CatalogService"


class _Servicer(catalog_pb2_grpc.CatalogServiceServicer):
    """Answers GetEntry by code: 'bad' raises a domain error, 'boom' an unexpected one."""

    async def GetEntry(self, request, context):  # type: ignore[no-untyped-def]
        if request.code == "bad":
            raise invalid_argument([FieldViolation("code", "is malformed"), FieldViolation("version", "negative")])
        if request.code == "boom":
            raise RuntimeError("secret detail that must not leak")
        return catalog_pb2.GetEntryResponse(entry=catalog_pb2.Entry(code=request.code))


class _Component:
    name = "catalog"
    service_names = (SERVICE,)

    def __init__(self) -> None:
        self.ready = asyncio.Event()
        self.stopped = False

    def register(self, server: grpc.aio.Server) -> None:
        catalog_pb2_grpc.add_CatalogServiceServicer_to_server(_Servicer(), server)

    async def start(self) -> None:
        await self.ready.wait()

    async def stop(self) -> None:
        self.stopped = True


@pytest.fixture
def settings() -> Settings:
    return Settings(component="catalog", internal_key=b"k" * 40, listen="127.0.0.1:0")


@contextlib.asynccontextmanager
async def _serving(settings: Settings, servicer: object, add: Callable[[object, grpc.aio.Server], None] | None = None,
                   service: str = SERVICE,
                   cancel_at_once: frozenset[str] = frozenset()) -> AsyncIterator[RunningServer]:
    """A ready server whose one servicer is ``servicer`` (registered with ``add``, CatalogService's by default),
    stopped at the end."""

    class _One(_Component):
        service_names = (service,)

        def register(self, server: grpc.aio.Server) -> None:
            (add or catalog_pb2_grpc.add_CatalogServiceServicer_to_server)(servicer, server)

    component = _One()
    component.cancel_at_once = cancel_at_once  # type: ignore[attr-defined]
    component.ready.set()
    running = await start_server(settings, component)
    try:
        yield running
    finally:
        await running.stop(0)


async def _health(port: int, service: str = "") -> int:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        response = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=5)
        return response.status


class _Database:
    """A DatabaseProbe answering as told in advance (None: answered; an exception: did not), which notes the
    readiness health said before each check."""

    def __init__(self, health: DrainingHealthServicer, answers: list[BaseException | None]) -> None:
        self._health = health
        self._answers = answers
        self.seen: list[int] = []
        self.done = asyncio.Event()

    async def problem(self, within: float) -> BaseException | None:
        self.seen.append((await self._health.Check(health_pb2.HealthCheckRequest(), None)).status)
        if not self._answers:
            self.done.set()
            await asyncio.Event().wait()  # until the watch is cancelled
        return self._answers.pop(0)

    def close(self) -> None:
        pass


async def test_a_database_that_does_not_answer_is_said_so(caplog: pytest.LogCaptureFixture) -> None:
    """A hung database's checks time out: the warning said "(TimeoutError)", which names no time and reads as a
    bug; it says how long each check waited."""
    health = DrainingHealthServicer()
    database = _Database(health, [TimeoutError()] * 2)
    watch = asyncio.create_task(watch_database(database, _Component(), health, interval=0,  # type: ignore[arg-type]
                                               within=2.0))
    await asyncio.wait_for(database.done.wait(), 10)
    watch.cancel()
    assert "catalog: postgresql did not answer 2 checks in a row (no answer within 2s): health says NOT_SERVING" \
        in caplog.text


async def test_readiness_follows_the_database_without_flapping_on_one_slow_answer() -> None:
    """Health said SERVING through a database outage. Now two failed checks in a row say NOT_SERVING, one does
    not (a slow answer under load, a probe connection cut alone), and the first answer after says SERVING again;
    liveness stays SERVING throughout (a database outage is not mended by a restart)."""
    health = DrainingHealthServicer()
    component = _Component()
    for name in ("", SERVICE, LIVENESS_SERVICE):
        await health.set(name, health_pb2.HealthCheckResponse.SERVING)
    down = ConnectionRefusedError("connection refused")
    database = _Database(health, [down, None, down, None, down, down, None, down, down, down, None])
    watch = asyncio.create_task(watch_database(database, component, health, interval=0))  # type: ignore[arg-type]
    await asyncio.wait_for(database.done.wait(), 10)
    watch.cancel()
    serving, not_serving = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING
    assert database.seen == [serving] * 6 + [not_serving] + [serving] * 2 + [not_serving, not_serving, serving]
    live = await health.Check(health_pb2.HealthCheckRequest(service=LIVENESS_SERVICE), None)
    assert live.status == serving


async def test_health_is_not_serving_until_dependencies_are_ready(settings: Settings) -> None:
    component = _Component()
    port = free_port()
    starting = asyncio.create_task(start_server(settings.with_overrides(listen=f"127.0.0.1:{port}"), component))
    status = None
    for _ in range(200):  # the server answers health checks while the component waits for its dependencies
        await asyncio.sleep(0.01)
        try:
            status = await _health(port, SERVICE)
            break
        except grpc.aio.AioRpcError:
            continue
    assert status == health_pb2.HealthCheckResponse.NOT_SERVING
    assert not starting.done()
    # What the chart's startup and liveness probes ask: the process answers, however long it waits.
    assert await _health(port, LIVENESS_SERVICE) == health_pb2.HealthCheckResponse.SERVING
    # The health service, which server reflection lists, answers for itself (it was NOT_FOUND).
    assert await _health(port, "grpc.health.v1.Health") == health_pb2.HealthCheckResponse.SERVING
    component.ready.set()
    running = await starting
    assert await _health(port) == health_pb2.HealthCheckResponse.SERVING
    assert await _health(port, SERVICE) == health_pb2.HealthCheckResponse.SERVING
    await running.stop(0)
    assert component.stopped


async def test_rich_errors_malformed_requests_and_internal_errors(settings: Settings) -> None:
    component = _Component()
    component.ready.set()
    running = await start_server(settings, component)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = catalog_pb2_grpc.CatalogServiceStub(channel)
            assert (await stub.GetEntry(catalog_pb2.GetEntryRequest(code="ok"))).entry.code == "ok"

            with pytest.raises(grpc.aio.AioRpcError) as bad:
                await stub.GetEntry(catalog_pb2.GetEntryRequest(code="bad"))
            assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            info, request = details_of(bad.value)
            assert info is not None and info.domain == "catalog.govshare"
            assert request is not None and [v.field for v in request.field_violations] == ["code", "version"]

            with pytest.raises(grpc.aio.AioRpcError) as boom:
                await stub.GetEntry(catalog_pb2.GetEntryRequest(code="boom"))
            assert boom.value.code() == grpc.StatusCode.INTERNAL
            assert "secret detail" not in boom.value.details() and "incident" in boom.value.details()

            raw = channel.unary_unary(f"/{SERVICE}/GetEntry")
            with pytest.raises(grpc.aio.AioRpcError) as malformed:
                await raw(b"\xff\xff\xff\xff")
            assert malformed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert details_of(malformed.value)[0].reason == "MALFORMED_REQUEST"
    finally:
        await running.stop(0)


async def test_a_string_field_that_is_not_utf8_is_named(settings: Settings) -> None:
    """A request whose text is not UTF-8 (a field filled from a GBK file, bytes sent as a string) was refused with
    protobuf's own words only, "request: not a valid protobuf message: Error parsing message with type
    'govshare.catalog.v1.CreateEntryRequest': String field had bad UTF-8", naming no field to fix. The violation
    names the field, nested and indexed (entry.items[1].name), as a field check does."""
    component = _Component()
    component.ready.set()
    running = await start_server(settings, component)
    items = [catalog_pb2.DataItem(name="a"), catalog_pb2.DataItem(name="b")]
    entry = catalog_pb2.Entry(code="101001/000001", items=items)
    good = catalog_pb2.CreateEntryRequest(entry=entry).SerializeToString()
    bad = good.replace(b"\x0a\x01b", b"\x0a\x01\xff")  # items[1].name (DataItem field 1): one byte, not UTF-8
    assert bad != good
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as malformed:
                await channel.unary_unary(f"/{SERVICE}/CreateEntry")(bad)
            assert malformed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            info, request = details_of(malformed.value)
            assert info is not None and info.reason == "MALFORMED_REQUEST"
            assert request is not None and [(v.field, v.description) for v in request.field_violations] == [
                ("entry.items[1].name", "is not valid UTF-8: send the text encoded as UTF-8")]
            assert malformed.value.details() == (
                "entry.items[1].name: is not valid UTF-8: send the text encoded as UTF-8")
    finally:
        await running.stop(0)


async def test_reflection_lists_the_services_and_can_be_turned_off(settings: Settings) -> None:
    for enabled in (True, False):
        component = _Component()
        component.ready.set()
        running = await start_server(settings.with_overrides(reflection=enabled), component)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
                stub = reflection_pb2_grpc.ServerReflectionStub(channel)
                request = reflection_pb2.ServerReflectionRequest(list_services="")
                if enabled:
                    async for response in stub.ServerReflectionInfo(iter([request])):
                        names = {s.name for s in response.list_services_response.service}
                        assert SERVICE in names
                        break
                else:
                    with pytest.raises(grpc.aio.AioRpcError) as off:
                        async for _ in stub.ServerReflectionInfo(iter([request])):
                            pass
                    assert off.value.code() == grpc.StatusCode.UNIMPLEMENTED
        finally:
            await running.stop(0)


async def test_plaintext_health_listener_for_probes(settings: Settings) -> None:
    component = _Component()
    component.ready.set()
    health_port = free_port()
    running = await start_server(settings.with_overrides(health_listen=f"127.0.0.1:{health_port}"), component)
    try:
        assert await _health(health_port, SERVICE) == health_pb2.HealthCheckResponse.SERVING
        async with grpc.aio.insecure_channel(f"127.0.0.1:{health_port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as only_health:
                await catalog_pb2_grpc.CatalogServiceStub(channel).GetEntry(catalog_pb2.GetEntryRequest(code="x"))
            assert only_health.value.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        await running.stop(0)


async def test_a_request_with_thousands_of_problems_still_gets_its_invalid_argument(settings: Settings) -> None:
    class _Noisy(_Servicer):
        async def GetEntry(self, request, context):  # type: ignore[no-untyped-def]
            raise invalid_argument([FieldViolation(f"items[{i}].name" + "x" * 500, "y" * 1000)
                                    for i in range(5000)])

    async with _serving(settings, _Noisy()) as running:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as bad:
                await catalog_pb2_grpc.CatalogServiceStub(channel).GetEntry(catalog_pb2.GetEntryRequest(code="x"))
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        _, request = details_of(bad.value)
        violations = request.field_violations
        assert 1 < len(violations) <= 25 and violations[0].field.startswith("items[0].name")
        listed = len(violations) - 1
        assert violations[-1].description == f"{5000 - listed} more problems not listed"
        assert "more: see the BadRequest details" in bad.value.details()


def test_the_startup_heap_is_frozen_and_later_garbage_still_collected() -> None:
    """A serving process never walks its start-up objects again, but cycles made while serving are freed."""
    import gc
    import weakref

    from services.runtime.server import _freeze_startup_heap

    class Node:
        pass

    try:
        _freeze_startup_heap()
        assert gc.get_freeze_count() > 1000
        node = Node()
        node.self = node  # a reference cycle: only the collector frees it
        alive = weakref.ref(node)
        del node
        gc.collect()
        assert alive() is None
    finally:
        gc.unfreeze()


class _Dependent(_Servicer):
    """GetEntry reaches a real dependency that is down, or fails with a bug that merely looks like one."""

    def __init__(self, closed_port: int) -> None:
        self._port = closed_port

    async def GetEntry(self, request, context):  # type: ignore[no-untyped-def]
        import asyncpg
        import redis.asyncio as aioredis

        if request.code == "postgresql":
            await asyncpg.connect(f"postgresql://u@127.0.0.1:{self._port}/db", timeout=5)
        if request.code == "socket":
            # A database reached through its Unix socket (host=/run/postgresql), not there: the server stopped.
            await asyncpg.connect(f"postgresql://u@/db?host=/nonexistent-{self._port}&port=5432", timeout=5)
        if request.code == "redis":
            async with aioredis.from_url(f"redis://127.0.0.1:{self._port}") as client:
                await client.get("x")
        if request.code == "cleanup":
            try:
                await asyncpg.connect(f"postgresql://u@127.0.0.1:{self._port}/db", timeout=5)
            finally:
                raise RuntimeError("cleanup failed too")  # a cleanup error raised while the outage is handled
        if request.code == "terminated":
            # What a statement on a pooled connection the server has just terminated may meet (asyncpg).
            raise asyncpg.exceptions.InternalClientError("cannot switch to state 12; another operation (2) is in "
                                                         "progress")
        if request.code == "audit":
            raise unavailable("AUDIT_UNAVAILABLE", "the access could not be recorded, so it was not answered")
        if request.code == "interface":
            raise asyncpg.InterfaceError("cannot perform operation: another operation is in progress")
        if request.code == "nul":
            # What asyncpg raises when a parameter holds U+0000 (PostgreSQL text cannot).
            raise asyncpg.exceptions.CharacterNotInRepertoireError('invalid byte sequence for encoding "UTF8": 0x00')
        return await super().GetEntry(request, context)


def _unavailable_count(reason: str, dependency: str) -> float:
    return REGISTRY.get_sample_value("govshare_unavailable_total", {"reason": reason, "dependency": dependency}) or 0.0


async def test_a_dependency_that_is_down_is_unavailable_with_a_retry_hint_and_one_log_line(
        settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    from services.runtime.errors import retry_info_of

    async with _serving(settings, _Dependent(free_port())) as running, \
            grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        for dependency in ("postgresql", "socket", "redis", "cleanup", "terminated"):
            named = "redis" if dependency == "redis" else "postgresql"
            before = _unavailable_count("DEPENDENCY_UNAVAILABLE", named)
            caplog.clear()
            with pytest.raises(grpc.aio.AioRpcError) as down:
                await stub.GetEntry(catalog_pb2.GetEntryRequest(code=dependency))
            assert down.value.code() == grpc.StatusCode.UNAVAILABLE, dependency
            info, _ = details_of(down.value)
            assert info.reason == "DEPENDENCY_UNAVAILABLE"
            assert info.metadata["dependency"] == named
            # The metrics say what is down, not only that calls failed.
            assert _unavailable_count("DEPENDENCY_UNAVAILABLE", named) == before + 1, dependency
            assert retry_info_of(down.value).retry_delay.seconds == 1
            assert "127.0.0.1" not in down.value.details()
            [record] = [r for r in caplog.records if r.name == "services.runtime.server"]
            assert record.levelname == "WARNING" and record.exc_info is None
            # A socket not there was logged "FileNotFoundError: [Errno 2] No such file or directory": a file of the
            # service's own missing, to the operator reading it.
            assert ("FileNotFoundError" in record.getMessage()) is False, record.getMessage()
            if dependency == "socket":
                assert "postgresql unavailable (no PostgreSQL socket there: the URL's host=<directory> and port name " \
                       "a server's socket (.s.PGSQL.<port>), and none is in it" in record.getMessage()
        # A service's own UNAVAILABLE is counted by its reason (the audit trail cannot be written, here).
        before = _unavailable_count("AUDIT_UNAVAILABLE", "")
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.GetEntry(catalog_pb2.GetEntryRequest(code="audit"))
        assert _unavailable_count("AUDIT_UNAVAILABLE", "") == before + 1
        # An InterfaceError that is not about a closed connection is a bug: INTERNAL, with its traceback.
        caplog.clear()
        with pytest.raises(grpc.aio.AioRpcError) as bug:
            await stub.GetEntry(catalog_pb2.GetEntryRequest(code="interface"))
        assert bug.value.code() == grpc.StatusCode.INTERNAL
        assert [r.exc_info is not None for r in caplog.records if r.name == "services.runtime.server"] == [True]
        # Text PostgreSQL cannot hold is the caller's to fix, wherever a field escaped its own check.
        caplog.clear()
        with pytest.raises(grpc.aio.AioRpcError) as nul:
            await stub.GetEntry(catalog_pb2.GetEntryRequest(code="nul"))
        assert nul.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "contains a NUL character (U+0000)" in nul.value.details()
        assert not [r for r in caplog.records if r.name == "services.runtime.server"]


class _Streaming(query_pb2_grpc.QueryServiceServicer):
    """Export: pages until the caller goes away."""

    async def Export(self, request, context):  # type: ignore[no-untyped-def]
        page = 0
        while True:
            page += 1
            yield query_pb2.ExportResponse(rows=[query_pb2.ExportRow(key=f"k{page}")])
            await asyncio.sleep(0.001)


async def test_a_stream_the_caller_cancels_ends_quietly(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    """Each export a caller stopped reading logged an ERROR with a traceback ("Failed to detach context": the
    stream's span was made current across its yields, and grpc closes a cancelled stream from another
    context)."""

    async with _serving(settings, _Streaming(), query_pb2_grpc.add_QueryServiceServicer_to_server,
                        "govshare.query.v1.QueryService") as running:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = query_pb2_grpc.QueryServiceStub(channel)
            for _ in range(10):
                call = stub.Export(query_pb2.ExportRequest(resource_code="102001/000001"))
                async for _page in call:
                    break
                call.cancel()
            pages = []
            call = stub.Export(query_pb2.ExportRequest())
            async for page in call:
                pages.append(page)
                if len(pages) == 3:
                    break
            call.cancel()
            assert [p.rows[0].key for p in pages] == ["k1", "k2", "k3"]  # the server still streams
        await asyncio.sleep(0.2)  # the cancelled streams are closed by the server meanwhile
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


def test_a_missing_tls_file_stops_the_process_naming_its_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A missing mTLS key said only "govshare serve: /etc/govshare/tls/tls.key: No such file or directory"."""
    from services.runtime.keys import generate_keys
    from services.runtime.server import serve

    (tmp_path / "tls.crt").write_text("cert")
    (tmp_path / "ca.crt").write_text("ca")
    for name, value in {"GOVSHARE_INTERNAL_KEY": "k" * 40, "GOVSHARE_DATABASE_URL": "postgresql://x/y",
                        "GOVSHARE_REDIS_URL": "redis://r:6379/0", "GOVSHARE_AUTHORIZATION_TARGET": "a:50051",
                        "GOVSHARE_TOKEN_PUBLIC_KEY": generate_keys().token_public_key,
                        "GOVSHARE_TLS_CERT": str(tmp_path / "tls.crt"), "GOVSHARE_TLS_KEY": str(tmp_path / "tls.key"),
                        "GOVSHARE_TLS_CA": str(tmp_path / "ca.crt"), "GOVSHARE_METRICS_PORT": "0"}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as info:
        serve("foundation", lambda _settings: pytest.fail("the process must not start"))
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"GOVSHARE_TLS_KEY: no such file {tmp_path / 'tls.key'}" in err
    assert "GOVSHARE_TLS_CERT" not in err and "GOVSHARE_TLS_CA" not in err


class _HangingServicer(catalog_pb2_grpc.CatalogServiceServicer):
    """GetEntry waits on what its code names, at ``port`` (a server that accepts connections and never answers):
    'postgresql' connecting, 'redis' reading a key, 'work' on nothing but itself."""

    def __init__(self, port: int) -> None:
        self._port = port

    async def GetEntry(self, request, context):  # type: ignore[no-untyped-def]
        import asyncpg
        import redis.asyncio

        if request.code == "postgresql":
            await asyncpg.connect(f"postgresql://govshare@127.0.0.1:{self._port}/govshare", timeout=60)
        elif request.code == "redis":
            await redis.asyncio.Redis(host="127.0.0.1", port=self._port).get("record")
        else:
            await asyncio.sleep(60)
        return catalog_pb2.GetEntryResponse()


@pytest.mark.parametrize("in_task", [False, True], ids=["task-per-call", "cancel-at-once"])
async def test_a_hung_dependency_is_unavailable_naming_it_before_the_callers_deadline(settings: Settings,
                                                                                      in_task: bool) -> None:
    """PostgreSQL or Redis accepting the connection and never answering: the call waited until the caller's deadline
    and ended DEADLINE_EXCEEDED (or, with a long deadline, for as long as the client libraries' own minute). Now it
    is UNAVAILABLE naming the dependency, at the service's own limit (GOVSHARE_DEPENDENCY_WAIT_SECONDS) or a moment
    before the caller's deadline, whichever comes first; a handler busy with anything else is left to its deadline.
    The same for a method a component lists as cancel_at_once (the query path's), whose limit is a timer in the
    call's own task instead of a task per call."""
    connections: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)  # and never a byte back

    silent = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    lean = frozenset({f"/{SERVICE}/GetEntry"}) if in_task else frozenset()
    async with _serving(settings.with_overrides(dependency_wait_seconds=1.0), _HangingServicer(port),
                        cancel_at_once=lean) as running, \
            grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        for code, deadline, within in (("postgresql", 30.0, 5.0), ("redis", 30.0, 5.0), ("redis", 0.8, 0.8)):
            started = asyncio.get_running_loop().time()
            with pytest.raises(grpc.aio.AioRpcError) as hung:
                await stub.GetEntry(catalog_pb2.GetEntryRequest(code=code), timeout=deadline)
            assert asyncio.get_running_loop().time() - started < within
            assert hung.value.code() == grpc.StatusCode.UNAVAILABLE, (code, deadline, hung.value)
            info, _ = details_of(hung.value)
            assert info is not None and info.reason == "DEPENDENCY_UNAVAILABLE" and info.metadata["dependency"] == code
            assert f"({code}) is unavailable" in (hung.value.details() or "")
        # A deadline too short to judge a dependency by (a Query sent with 150 ms, waiting for its audit write
        # when the margin before it came): the caller's deadline ends it, DEADLINE_EXCEEDED, not UNAVAILABLE
        # blaming the database.
        for code in ("postgresql", "redis"):
            with pytest.raises(grpc.aio.AioRpcError) as short:
                await stub.GetEntry(catalog_pb2.GetEntryRequest(code=code), timeout=0.15)
            assert short.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED, (code, short.value)
        # A handler busy with its own work runs on, as before, until the caller's deadline ends it.
        started = asyncio.get_running_loop().time()
        with pytest.raises(grpc.aio.AioRpcError) as busy:
            await stub.GetEntry(catalog_pb2.GetEntryRequest(code="work"), timeout=2)
        assert busy.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert asyncio.get_running_loop().time() - started >= 1.9
    silent.close()
    for writer in connections:
        writer.close()


class _Closed:
    """A component whose start connects, as a service's does, to ``connect``'s dependency at a closed port."""

    def __init__(self, connect: Callable[[str], object], port: int) -> None:
        self.name, self._connect, self._port = "catalog", connect, port

    async def start(self) -> None:
        await self._connect(f"127.0.0.1:{self._port}")


async def _asyncpg_to(address: str) -> None:
    import asyncpg

    await asyncpg.connect(f"postgresql://govshare@{address}/govshare", timeout=5)


async def _redis_to(address: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.from_url(f"redis://{address}/0")
    try:
        await client.ping()
    finally:
        await client.aclose()


@pytest.mark.parametrize(("connect", "named"), [(_asyncpg_to, "PostgreSQL (GOVSHARE_DATABASE_URL)"),
                                                (_redis_to, "Redis (GOVSHARE_REDIS_URL)")])
async def test_a_start_waiting_for_a_dependency_names_it_and_its_setting(
        connect: Callable[[str], object], named: str, caplog: pytest.LogCaptureFixture) -> None:
    """With PostgreSQL or Redis down a service logged "catalog: dependencies not ready ([Errno 111] Connect call
    failed ('127.0.0.1', 5432)); retrying" for either, the driver's words naming neither: the operator guessed
    from an address which was down and which variable to check."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    from services.runtime.server import _start_component

    port = free_port()
    with caplog.at_level(logging.WARNING, logger="services.runtime.server"), \
            pytest.raises((OSError, RedisConnectionError)):
        await _start_component(_Closed(connect, port), attempts=2)
    (line,) = [r.getMessage() for r in caplog.records if "not ready" in r.getMessage()]
    assert line.startswith(f"catalog: {named} not ready (") and line.endswith("; retrying"), line
    assert str(port) in line


async def test_credentials_no_wait_can_mend_are_refused_before_the_start_waits(
        database_url: str, redis_url: str) -> None:
    """A role or database that does not exist (a wrong password likewise, where the server checks one) or a
    Redis user it does not know: the start waited twenty minutes of "not ready … retrying" for what no wait
    mends, then gave up with a traceback. It is said at once; a dependency merely down is left to the start."""
    from urllib.parse import urlsplit, urlunsplit

    from services.runtime.server import refused_credentials

    parts = urlsplit(database_url)
    no_database = urlunsplit(parts._replace(path="/no_such_database"))
    no_role = urlunsplit(parts._replace(netloc=f"no_such_role@{parts.netloc.rpartition('@')[2]}"))
    redis = urlsplit(redis_url)
    wrong_user = urlunsplit(redis._replace(netloc=f"no_such_user:wrong@{redis.netloc}"))
    fine = Settings(database_url=database_url, redis_url=redis_url)
    assert await refused_credentials(fine) is None
    said = await refused_credentials(Settings(database_url=no_database, redis_url=redis_url))
    assert said is not None and said.startswith("PostgreSQL refuses GOVSHARE_DATABASE_URL's credentials or "
                                                "database: ") and "no_such_database" in said, said
    said = await refused_credentials(Settings(database_url=no_role, redis_url=redis_url))
    assert said is not None and "no_such_role" in said, said
    said = await refused_credentials(Settings(database_url=database_url, redis_url=wrong_user))
    assert said is not None and said.startswith("Redis refuses GOVSHARE_REDIS_URL's credentials: "), said
    assert "wrong" not in said.replace("WRONGPASS", "")  # the password is not repeated
    down = Settings(database_url=f"postgresql://x@127.0.0.1:{free_port()}/x", redis_url=f"redis://127.0.0.1:{free_port()}")
    assert await refused_credentials(down) is None  # down: the start waits for it, as before
