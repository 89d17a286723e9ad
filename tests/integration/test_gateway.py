"""The gateway over real sockets, in front of a real backend server.

The backend is a runtime server (start_server, so the same error and tracing
interceptors as every service) around test servicers built on the generated
base classes: they verify the signed caller like every service does and echo
what they saw, so the tests can tell exactly what crossed the gateway. The full
platform path (gateway → real catalog, query, …) is tested elsewhere; this tests
the proxy in isolation.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator

import grpc
import pytest
import pytest_asyncio
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from gateway.component import create_component
from gateway.routing import PUBLIC_SERVICES
from govshare.authorization.v1 import authorization_pb2, authorization_pb2_grpc, token_pb2, token_pb2_grpc
from govshare.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from govshare.provider.v1 import provider_pb2
from govshare.query.v1 import query_pb2, query_pb2_grpc
from services.runtime import telemetry
from services.runtime.errors import FieldViolation, details_of, failed_precondition, invalid_argument
from services.runtime.identity import AssertionSigner, AssertionVerifier, Caller
from services.runtime.keys import PlatformKeys, generate_keys
from services.runtime.server import RunningServer, start_server
from services.runtime.settings import Settings
from services.runtime.tokens import issue_token

pytestmark = pytest.mark.integration

module_fixture = pytest_asyncio.fixture(scope="module", loop_scope="session")

GET_ENTRY = "/govshare.catalog.v1.CatalogService/GetEntry"
LIST_ENTRIES = "/govshare.catalog.v1.CatalogService/ListEntries"
EXPORT = "/govshare.query.v1.QueryService/Export"
ISSUE_TOKEN = "/govshare.authorization.v1.TokenService/IssueToken"
FAILING_CODE = "test/reject"
HANGING_CODE = "test/hang"
FAIL_ITEM = "fail-here"
HANG_ITEM = "hang-here"


# -- the backend double ---------------------------------------------------------------------------------------


class Probe:
    """What the backend observed that a reply cannot carry."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = asyncio.Event()

    def reset(self) -> None:
        self.started.clear()
        self.cancelled.clear()

    async def hang(self) -> None:
        """Waits until the call is cancelled, and records that it was."""
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise


class EchoCatalog(catalog_pb2_grpc.CatalogServiceServicer):
    """GetEntry echoes the verified caller and deadline; ListEntries reports every metadata entry received."""

    def __init__(self, verifier: AssertionVerifier, probe: Probe) -> None:
        self._verifier = verifier
        self._probe = probe

    async def GetEntry(self, request, context):  # type: ignore[no-untyped-def]
        caller = self._verifier.from_context(context)
        if request.code == FAILING_CODE:
            raise invalid_argument([FieldViolation("code", "is rejected by the test backend"),
                                    FieldViolation("version", "must be positive")], reason="TEST_REJECTED")
        if request.code == HANGING_CODE:
            await self._probe.hang()
        remaining = context.time_remaining()
        await context.send_initial_metadata((("x-backend-initial", "hello"),))
        context.set_trailing_metadata((("x-backend-trailing", "bye"),))
        return catalog_pb2.GetEntryResponse(entry=catalog_pb2.Entry(
            code=request.code,
            name=caller.system_id,
            provider_department_code=caller.department_code,
            summary="no deadline" if remaining is None else repr(remaining),
        ))

    async def ListEntries(self, request, context):  # type: ignore[no-untyped-def]
        self._verifier.from_context(context)
        return catalog_pb2.ListEntriesResponse(entries=[
            catalog_pb2.Entry(code=key, name=value if isinstance(value, str) else value.hex())
            for key, value in context.invocation_metadata()
        ])


class EchoQuery(query_pb2_grpc.QueryServiceServicer):
    """Export streams one row per requested item, naming the caller; FAIL_ITEM fails mid-stream, HANG_ITEM hangs."""

    def __init__(self, verifier: AssertionVerifier, probe: Probe) -> None:
        self._verifier = verifier
        self._probe = probe

    async def Export(self, request, context):  # type: ignore[no-untyped-def]
        caller = self._verifier.from_context(context)
        for item in request.items:
            if item == FAIL_ITEM:
                raise failed_precondition("TEST_STOPPED", "the test backend stopped mid-stream")
            if item == HANG_ITEM:
                await self._probe.hang()
            yield query_pb2.ExportResponse(rows=[query_pb2.ExportRow(key=item, values={"system_id": caller.system_id})])


class EchoToken(token_pb2_grpc.TokenServiceServicer):
    """IssueToken answers with the caller the gateway asserted and the system the request names."""

    def __init__(self, verifier: AssertionVerifier) -> None:
        self._verifier = verifier

    async def IssueToken(self, request, context):  # type: ignore[no-untyped-def]
        caller = self._verifier.from_context(context)
        return token_pb2.IssueTokenResponse(token=f"{caller.system_id}|{request.system_id}")


class EchoAuthorization(authorization_pb2_grpc.AuthorizationServiceServicer):
    """ListSystemStates: no system is restricted (the gateway loads the states before it accepts tokens)."""

    def __init__(self, verifier: AssertionVerifier) -> None:
        self._verifier = verifier

    async def ListSystemStates(self, request, context):  # type: ignore[no-untyped-def]
        self._verifier.from_context(context)
        return authorization_pb2.ListSystemStatesResponse()


class BackendDouble:
    name = "catalog"
    service_names = ("govshare.catalog.v1.CatalogService", "govshare.query.v1.QueryService",
                     "govshare.authorization.v1.TokenService", "govshare.authorization.v1.AuthorizationService")

    def __init__(self, settings: Settings) -> None:
        verifier = AssertionVerifier(settings.internal_key)
        self.probe = Probe()
        self._catalog = EchoCatalog(verifier, self.probe)
        self._query = EchoQuery(verifier, self.probe)
        self._token = EchoToken(verifier)
        self._authorization = EchoAuthorization(verifier)

    def register(self, server: grpc.aio.Server) -> None:
        authorization_pb2_grpc.add_AuthorizationServiceServicer_to_server(self._authorization, server)
        catalog_pb2_grpc.add_CatalogServiceServicer_to_server(self._catalog, server)
        query_pb2_grpc.add_QueryServiceServicer_to_server(self._query, server)
        token_pb2_grpc.add_TokenServiceServicer_to_server(self._token, server)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


# -- fixtures ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    """Every span this process finishes while the module runs (both servers live here: both sides of a hop)."""
    exporter = InMemorySpanExporter()
    with pytest.MonkeyPatch.context() as env:
        # Used only if nothing configured tracing before; the test sends a sampled parent either way.
        env.setenv("OTEL_TRACES_SAMPLER", "parentbased_always_on")
        telemetry.setup_tracing("gateway-test", extra_processor=SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()  # later modules' spans are not kept


@pytest.fixture(scope="module")
def settings_base(keys: PlatformKeys, redis_url: str) -> Settings:
    """The gateway needs no PostgreSQL: keys, targets and Redis (the systems' state events) are all it reads."""
    return Settings(component="gateway", listen="127.0.0.1:0", internal_key=keys.internal_key.encode(),
                    token_public_key=keys.token_public_key, token_private_key=keys.token_private_key,
                    redis_url=redis_url)


@module_fixture
async def backend(settings_base: Settings, spans: InMemorySpanExporter) -> AsyncIterator[RunningServer]:
    running = await start_server(settings_base.with_overrides(component="catalog"), BackendDouble(settings_base))
    yield running
    await running.stop(0)


def gateway_settings(base: Settings, backend_port: int, **overrides: object) -> Settings:
    target = f"127.0.0.1:{backend_port}"
    return base.with_overrides(catalog_target=target, authorization_target=target, query_target=target,
                               foundation_target=target, supervision_target=target, call_timeout_seconds=5.0,
                               **overrides)


@module_fixture
async def gateway(settings_base: Settings, backend: RunningServer) -> AsyncIterator[RunningServer]:
    settings = gateway_settings(settings_base, backend.port)
    running = await start_server(settings, create_component(settings))
    yield running
    await running.stop(0)


@module_fixture
async def channel(gateway: RunningServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}") as opened:
        yield opened


@module_fixture
async def limited_channel(settings_base: Settings, backend: RunningServer) -> AsyncIterator[grpc.aio.Channel]:
    """A gateway allowing bursts of 3 calls and then almost nothing."""
    settings = gateway_settings(settings_base, backend.port, rate_limit_per_second=0.001, rate_limit_burst=3)
    running = await start_server(settings, create_component(settings))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as opened:
        yield opened
    await running.stop(0)


def caller(department: str = "") -> Caller:
    return Caller(system_id=f"sys-{uuid.uuid4().hex[:10]}", department_code=department or uuid.uuid4().hex[:12])


def bearer(keys: PlatformKeys, who: Caller, ttl: int = 600) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {issue_token(keys.token_private_key, who, ttl).token}"),)


def get_entry(channel: grpc.aio.Channel) -> grpc.aio.UnaryUnaryMultiCallable:
    return catalog_pb2_grpc.CatalogServiceStub(channel).GetEntry


async def failure(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call  # type: ignore[misc]
    return raised.value


# -- authentication ---------------------------------------------------------------------------------------------


async def test_a_call_without_a_token_is_told_how_to_get_one(channel: grpc.aio.Channel) -> None:
    error = await failure(get_entry(channel)(catalog_pb2.GetEntryRequest(code="x")))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "missing bearer token" in error.details()
    assert "authorization: Bearer <token>" in error.details()
    assert "govshare.authorization.v1.TokenService/IssueToken" in error.details()
    info, _ = details_of(error)
    assert info is not None and info.domain == "gateway.govshare"


@pytest.mark.parametrize("header", ["Basic dXNlcjpwdw==", "Bearer", "Bearer two tokens", "token-without-scheme"])
async def test_a_malformed_authorization_header_is_unauthenticated(channel: grpc.aio.Channel, header: str) -> None:
    error = await failure(get_entry(channel)(catalog_pb2.GetEntryRequest(code="x"),
                                             metadata=(("authorization", header),)))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "malformed authorization header" in error.details()


async def test_two_authorization_headers_are_refused(channel: grpc.aio.Channel, keys: PlatformKeys) -> None:
    metadata = bearer(keys, caller()) + bearer(keys, caller())
    error = await failure(get_entry(channel)(catalog_pb2.GetEntryRequest(code="x"), metadata=metadata))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "exactly one" in error.details()


async def test_a_token_signed_by_another_key_is_unauthenticated(channel: grpc.aio.Channel) -> None:
    forged = issue_token(generate_keys().token_private_key, caller(), 600).token
    error = await failure(get_entry(channel)(catalog_pb2.GetEntryRequest(code="x"),
                                             metadata=(("authorization", f"Bearer {forged}"),)))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "bearer token is invalid" in error.details()


async def test_garbage_in_place_of_a_token_is_unauthenticated(channel: grpc.aio.Channel) -> None:
    error = await failure(get_entry(channel)(catalog_pb2.GetEntryRequest(code="x"),
                                             metadata=(("authorization", "Bearer not.a.jwt"),)))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "bearer token is invalid" in error.details()


async def test_an_expired_token_is_unauthenticated(channel: grpc.aio.Channel, keys: PlatformKeys) -> None:
    error = await failure(get_entry(channel)(catalog_pb2.GetEntryRequest(code="x"),
                                             metadata=bearer(keys, caller(), ttl=-10)))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "expired" in error.details()


async def test_a_valid_token_reaches_the_backend_as_the_verified_caller(
        channel: grpc.aio.Channel, keys: PlatformKeys) -> None:
    who = caller()
    reply = await get_entry(channel)(catalog_pb2.GetEntryRequest(code="101001/000001"), metadata=bearer(keys, who))
    assert reply.entry.code == "101001/000001"
    assert reply.entry.name == who.system_id
    assert reply.entry.provider_department_code == who.department_code


async def test_issue_token_passes_without_a_token_as_anonymous(channel: grpc.aio.Channel) -> None:
    stub = token_pb2_grpc.TokenServiceStub(channel)
    reply = await stub.IssueToken(token_pb2.IssueTokenRequest(system_id="sys-1", secret="s"))
    assert reply.token == "anonymous|sys-1"


# -- metadata ---------------------------------------------------------------------------------------------------


async def test_identity_headers_from_the_client_are_replaced_by_the_verified_identity(
        channel: grpc.aio.Channel, keys: PlatformKeys) -> None:
    who = caller()
    forged = AssertionSigner(b"not the platform key, but well-formed 0123456789").metadata(
        Caller("sys-admin", "000000000000", True))
    metadata = (*bearer(keys, who), *forged, ("x-govshare-anything", "x"), ("x-request-id", "r-1"),
                ("x-blob-bin", b"\x00\xff"))
    reply = await catalog_pb2_grpc.CatalogServiceStub(channel).ListEntries(
        catalog_pb2.ListEntriesRequest(), metadata=metadata)
    seen = [(entry.code, entry.name) for entry in reply.entries]
    keys_seen = [key for key, _ in seen]
    assert keys_seen.count("x-govshare-caller") == 1
    assert keys_seen.count("x-govshare-caller-sig") == 1
    assert "x-govshare-anything" not in keys_seen
    assert "authorization" not in keys_seen
    assertion = dict(seen)["x-govshare-caller"]
    assert f"|{who.system_id}|{who.department_code}|0|" in assertion
    assert ("x-request-id", "r-1") in seen
    assert ("x-blob-bin", "00ff") in seen


async def test_forged_identity_is_stripped_and_the_token_identity_wins(
        channel: grpc.aio.Channel, keys: PlatformKeys, settings_base: Settings) -> None:
    # Even an assertion signed with the real key is not the client's to send.
    who = caller()
    forged = AssertionSigner(settings_base.internal_key).metadata(Caller("sys-admin", "000000000000", True))
    reply = await get_entry(channel)(catalog_pb2.GetEntryRequest(code="x"), metadata=(*forged, *bearer(keys, who)))
    assert reply.entry.name == who.system_id
    assert reply.entry.provider_department_code == who.department_code


async def test_the_backend_refuses_an_identity_sent_around_the_gateway(backend: RunningServer) -> None:
    forged = AssertionSigner(b"a key that is not the platform's internal key").metadata(caller())
    async with grpc.aio.insecure_channel(f"127.0.0.1:{backend.port}") as direct:
        error = await failure(get_entry(direct)(catalog_pb2.GetEntryRequest(code="x"), metadata=forged))
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "signature is invalid" in error.details()
        error = await failure(get_entry(direct)(catalog_pb2.GetEntryRequest(code="x")))
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_the_backends_initial_and_trailing_metadata_are_relayed(
        channel: grpc.aio.Channel, keys: PlatformKeys) -> None:
    call = get_entry(channel)(catalog_pb2.GetEntryRequest(code="x"), metadata=bearer(keys, caller()))
    await call
    assert ("x-backend-initial", "hello") in tuple(await call.initial_metadata())
    assert ("x-backend-trailing", "bye") in tuple(await call.trailing_metadata())


# -- routing ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method, request_message, service", [
    ("/govshare.provider.v1.ProviderService/Lookup", provider_pb2.LookupRequest(), "ProviderService"),
    ("/govshare.authorization.v1.AuthorizationService/Check", authorization_pb2.CheckRequest(),
     "AuthorizationService"),
])
async def test_internal_services_are_not_reachable(channel: grpc.aio.Channel, keys: PlatformKeys, method: str,
                                                   request_message: object, service: str) -> None:
    call = channel.unary_unary(method)(request_message.SerializeToString(),  # type: ignore[attr-defined]
                                       metadata=bearer(keys, caller()))
    error = await failure(call)
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED
    assert f"{service} is internal and not served by the gateway" in error.details()
    info, _ = details_of(error)
    assert info is not None and info.reason == "INTERNAL_SERVICE"


@pytest.mark.parametrize("method, reason", [
    ("/govshare.catalog.v1.CatalogService/DropEverything", "UNKNOWN_METHOD"),
    ("/no.such.v1.Service/Call", "UNKNOWN_SERVICE"),
])
async def test_unknown_methods_are_unimplemented_with_a_reason(channel: grpc.aio.Channel, method: str,
                                                               reason: str) -> None:
    error = await failure(channel.unary_unary(method)(b""))
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED
    info, _ = details_of(error)
    assert info is not None and info.reason == reason


async def test_a_refused_method_is_refused_whatever_the_call_shape(channel: grpc.aio.Channel) -> None:
    method = "/govshare.provider.v1.ProviderService/Export"

    async def requests() -> AsyncIterator[bytes]:
        yield b""

    for call in (channel.unary_stream(method)(b""), channel.stream_unary(method)(requests()),
                 channel.stream_stream(method)(requests())):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            if isinstance(call, grpc.aio.UnaryUnaryCall | grpc.aio.StreamUnaryCall):
                await call
            else:
                async for _ in call:
                    pass
        assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_health_reports_serving(channel: grpc.aio.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", *PUBLIC_SERVICES):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_reflection_lists_the_public_services_only(channel: grpc.aio.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)

    async def ask() -> AsyncIterator[reflection_pb2.ServerReflectionRequest]:
        yield reflection_pb2.ServerReflectionRequest(list_services="")

    async for reply in stub.ServerReflectionInfo(ask()):
        listed = {service.name for service in reply.list_services_response.service}
    assert set(PUBLIC_SERVICES) <= listed
    assert not listed & {"govshare.provider.v1.ProviderService", "govshare.authorization.v1.AuthorizationService"}


# -- errors, streaming, deadlines --------------------------------------------------------------------------------


async def test_rich_errors_from_the_backend_arrive_intact(channel: grpc.aio.Channel, keys: PlatformKeys) -> None:
    error = await failure(get_entry(channel)(catalog_pb2.GetEntryRequest(code=FAILING_CODE),
                                             metadata=bearer(keys, caller())))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    info, bad = details_of(error)
    assert info is not None and (info.reason, info.domain) == ("TEST_REJECTED", "catalog.govshare")
    assert bad is not None
    assert [(v.field, v.description) for v in bad.field_violations] == [
        ("code", "is rejected by the test backend"), ("version", "must be positive")]
    assert error.details() == "code: is rejected by the test backend; version: must be positive"


async def test_malformed_request_bytes_are_the_backends_invalid_argument(
        channel: grpc.aio.Channel, keys: PlatformKeys) -> None:
    error = await failure(channel.unary_unary(GET_ENTRY)(b"\xff\xff\xff", metadata=bearer(keys, caller())))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    info, _ = details_of(error)
    assert info is not None and info.reason == "MALFORMED_REQUEST"


async def test_server_streaming_is_relayed_message_by_message(channel: grpc.aio.Channel, keys: PlatformKeys) -> None:
    who = caller()
    stream = query_pb2_grpc.QueryServiceStub(channel).Export(
        query_pb2.ExportRequest(resource_code="r", items=["a", "b", "c"]), metadata=bearer(keys, who))
    rows = [row async for reply in stream for row in reply.rows]
    assert [row.key for row in rows] == ["a", "b", "c"]
    assert {row.values["system_id"] for row in rows} == {who.system_id}


async def test_a_stream_failing_midway_relays_the_rows_then_the_rich_error(
        channel: grpc.aio.Channel, keys: PlatformKeys) -> None:
    stream = query_pb2_grpc.QueryServiceStub(channel).Export(
        query_pb2.ExportRequest(resource_code="r", items=["a", FAIL_ITEM, "c"]), metadata=bearer(keys, caller()))
    keys_received = []
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        async for reply in stream:
            keys_received.extend(row.key for row in reply.rows)
    assert keys_received == ["a"]
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    info, _ = details_of(raised.value)
    assert info is not None and info.reason == "TEST_STOPPED"


async def test_the_clients_deadline_is_the_backends_deadline(channel: grpc.aio.Channel, keys: PlatformKeys) -> None:
    # The gateway's default is 5 s: a backend seeing more than that got the client's 60 s deadline
    # (gRPC rounds a deadline up on the wire, hence a little more than 60 s at most).
    reply = await get_entry(channel)(catalog_pb2.GetEntryRequest(code="x"), metadata=bearer(keys, caller()),
                                     timeout=60)
    assert 5.0 < float(reply.entry.summary) <= 61.0


async def test_without_a_client_deadline_the_default_applies(channel: grpc.aio.Channel, keys: PlatformKeys) -> None:
    reply = await get_entry(channel)(catalog_pb2.GetEntryRequest(code="x"), metadata=bearer(keys, caller()))
    assert 0.0 < float(reply.entry.summary) <= 6.0


async def test_an_expired_deadline_cancels_the_backend_call(
        channel: grpc.aio.Channel, keys: PlatformKeys, backend: RunningServer) -> None:
    probe = backend.component.probe  # type: ignore[attr-defined]
    probe.reset()
    error = await failure(get_entry(channel)(catalog_pb2.GetEntryRequest(code=HANGING_CODE),
                                             metadata=bearer(keys, caller()), timeout=0.3))
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await asyncio.wait_for(probe.cancelled.wait(), timeout=10)


async def test_a_client_giving_up_cancels_the_backend_call(
        channel: grpc.aio.Channel, keys: PlatformKeys, backend: RunningServer) -> None:
    probe = backend.component.probe  # type: ignore[attr-defined]
    probe.reset()
    call = get_entry(channel)(catalog_pb2.GetEntryRequest(code=HANGING_CODE), metadata=bearer(keys, caller()))
    await asyncio.wait_for(probe.started.wait(), timeout=10)
    call.cancel()
    await asyncio.wait_for(probe.cancelled.wait(), timeout=10)


async def test_a_client_leaving_a_stream_cancels_the_backend_stream(
        channel: grpc.aio.Channel, keys: PlatformKeys, backend: RunningServer) -> None:
    probe = backend.component.probe  # type: ignore[attr-defined]
    probe.reset()
    stream = query_pb2_grpc.QueryServiceStub(channel).Export(
        query_pb2.ExportRequest(resource_code="r", items=["a", HANG_ITEM]), metadata=bearer(keys, caller()))
    first = await stream.read()
    assert [row.key for row in first.rows] == ["a"]
    await asyncio.wait_for(probe.started.wait(), timeout=10)
    stream.cancel()
    await asyncio.wait_for(probe.cancelled.wait(), timeout=10)


async def test_an_unreachable_backend_is_unavailable_without_leaking_its_address(
        settings_base: Settings, backend: RunningServer, keys: PlatformKeys) -> None:
    # Nothing listens on port 1. (Authorization stays reachable: without the systems' states no token passes.)
    settings = gateway_settings(settings_base, backend.port).with_overrides(catalog_target="127.0.0.1:1")
    running = await start_server(settings, create_component(settings))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as opened:
            error = await failure(get_entry(opened)(catalog_pb2.GetEntryRequest(code="x"),
                                                    metadata=bearer(keys, caller()), timeout=10))
    finally:
        await running.stop(0)
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "catalog service is unavailable" in error.details()
    assert "127.0.0.1" not in error.details()


# -- rate limits ------------------------------------------------------------------------------------------------


async def test_a_system_over_its_rate_limit_is_resource_exhausted(
        limited_channel: grpc.aio.Channel, keys: PlatformKeys) -> None:
    who, other = caller(), caller()
    for _ in range(3):
        await get_entry(limited_channel)(catalog_pb2.GetEntryRequest(code="x"), metadata=bearer(keys, who))
    error = await failure(get_entry(limited_channel)(catalog_pb2.GetEntryRequest(code="x"),
                                                     metadata=bearer(keys, who)))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "0.001 calls per second" in error.details() and "bursts of 3" in error.details()
    status = rpc_status.from_call(error)
    assert status is not None
    retry = error_details_pb2.RetryInfo()
    assert any(detail.Unpack(retry) for detail in status.details if detail.Is(retry.DESCRIPTOR))
    assert retry.retry_delay.seconds > 0
    info, _ = details_of(error)
    assert info is not None and info.reason == "RATE_LIMITED" and info.metadata["system_id"] == who.system_id
    # Another system has its own bucket.
    await get_entry(limited_channel)(catalog_pb2.GetEntryRequest(code="x"), metadata=bearer(keys, other))


# -- tracing ----------------------------------------------------------------------------------------------------


async def test_one_trace_spans_the_gateway_and_the_backend_linked_to_the_clients(
        channel: grpc.aio.Channel, keys: PlatformKeys, spans: InMemorySpanExporter) -> None:
    client_trace_id, client_span_id = secrets.token_hex(16), secrets.token_hex(8)
    metadata = (*bearer(keys, caller()), ("traceparent", f"00-{client_trace_id}-{client_span_id}-01"))
    await get_entry(channel)(catalog_pb2.GetEntryRequest(code="x"), metadata=metadata)

    def linking() -> list[ReadableSpan]:
        return [span for span in spans.get_finished_spans()
                if any(format(link.context.span_id, "016x") == client_span_id for link in span.links)]

    for _ in range(200):  # the spans may end just after the reply reached us
        if linking():
            break
        await asyncio.sleep(0.01)
    [gateway_span] = linking()
    # The edge starts its own trace (a client cannot choose what is sampled) and links the client's span.
    assert gateway_span.parent is None
    assert format(gateway_span.context.trace_id, "032x") != client_trace_id
    assert format(gateway_span.links[0].context.trace_id, "032x") == client_trace_id

    def in_trace() -> list[ReadableSpan]:
        return [span for span in spans.get_finished_spans() if span.context.trace_id == gateway_span.context.trace_id]

    for _ in range(200):
        if len(in_trace()) >= 2:
            break
        await asyncio.sleep(0.01)
    trace = in_trace()
    assert [span.kind for span in trace] == [SpanKind.SERVER, SpanKind.SERVER]
    assert {span.name for span in trace} == {GET_ENTRY}
    backend_span = next(span for span in trace if span is not gateway_span)
    assert backend_span.parent.span_id == gateway_span.context.span_id


async def test_the_clients_trace_headers_are_not_forwarded_beside_the_gateways(
        channel: grpc.aio.Channel, keys: PlatformKeys) -> None:
    trace_id = secrets.token_hex(16)
    metadata = (*bearer(keys, caller()), ("traceparent", f"00-{trace_id}-{secrets.token_hex(8)}-01"))
    reply = await catalog_pb2_grpc.CatalogServiceStub(channel).ListEntries(
        catalog_pb2.ListEntriesRequest(), metadata=metadata)
    traceparents = [entry.name for entry in reply.entries if entry.code == "traceparent"]
    assert len(traceparents) == 1
    assert traceparents[0].split("-")[1] != trace_id  # the gateway's own trace, not the client's


# -- fuzz -------------------------------------------------------------------------------------------------------

_PATH_TEXT = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=30)
_METHODS = st.one_of(
    st.sampled_from([GET_ENTRY, LIST_ENTRIES, EXPORT, ISSUE_TOKEN, "/govshare.provider.v1.ProviderService/Lookup",
                     "/govshare.authorization.v1.AuthorizationService/Check"]),
    st.builds(lambda service, name: f"/{service}/{name}", _PATH_TEXT, _PATH_TEXT),
    _PATH_TEXT,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=_METHODS, body=st.binary(max_size=200), authenticated=st.booleans())
async def test_random_calls_never_fail_internally(channel: grpc.aio.Channel, keys: PlatformKeys, method: str,
                                                  body: bytes, authenticated: bool) -> None:
    metadata = bearer(keys, Caller("sys-fuzz", "fuzz")) if authenticated else ()
    try:
        if method == EXPORT:
            async for _ in channel.unary_stream(method)(body, metadata=metadata, timeout=10):
                pass
        else:
            await channel.unary_unary(method)(body, metadata=metadata, timeout=10)
    except grpc.aio.AioRpcError as error:
        assert error.code() not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN), (method, error)
