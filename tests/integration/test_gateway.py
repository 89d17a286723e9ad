"""The edge (Envoy, configured by gateway.edge) over real sockets, in front of a real backend server.

The backend is a runtime server (start_server, so the same error and tracing
interceptors as every service) around test servicers built on the generated
base classes: they verify the caller like every service does (the forwarded
bearer token) and echo what they saw, so the tests can tell exactly what
crossed the edge. The full platform path (edge → real catalog, query, …) is
tested elsewhere (test_sharing_cycle, test_edge_platform).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import gzip
import http.client
import ipaddress
import json
import os
import secrets
import shutil
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import jwt
import pytest
import pytest_asyncio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from envoy_edge import Edge
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from gateway.edge import BODY_CHECK_BYTES, SMALL_MESSAGE_BYTES, VERIFY_MESSAGE_BYTES, WITHHELD_PATH
from govshare.authorization.v1 import authorization_pb2, token_pb2, token_pb2_grpc
from govshare.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from govshare.provider.v1 import provider_pb2
from govshare.query.v1 import audit_pb2, audit_pb2_grpc, query_pb2, query_pb2_grpc
from services.authorization.jwks_endpoint import JwksEndpoint
from services.runtime.callers import CallerVerifier, caller_verifier
from services.runtime.errors import (
    FieldViolation,
    ServiceError,
    details_of,
    failed_precondition,
    invalid_argument,
    unavailable,
)
from services.runtime.identity import AssertionSigner, Caller, service_caller
from services.runtime.keys import PlatformKeys, ed25519_private_key, generate_keys
from services.runtime.server import MAX_MESSAGE_BYTES, RunningServer, start_server
from services.runtime.settings import Settings
from services.runtime.tokens import (
    ALGORITHM,
    DEFAULT_ZONE,
    ISSUER,
    LEEWAY_SECONDS,
    LEGACY_AUDIENCE,
    audience,
    issue_token,
    key_id,
)

pytestmark = pytest.mark.integration

module_fixture = pytest_asyncio.fixture(scope="module", loop_scope="session")

GET_ENTRY = "/govshare.catalog.v1.CatalogService/GetEntry"
LIST_ENTRIES = "/govshare.catalog.v1.CatalogService/ListEntries"
EXPORT = "/govshare.query.v1.QueryService/Export"
ISSUE_TOKEN = "/govshare.authorization.v1.TokenService/IssueToken"
FAILING_CODE = "test/reject"
HANGING_CODE = "test/hang"
TOO_LARGE_CODE = "test/too-large"
UNAVAILABLE_CODE = "test/unavailable"
CANCELLED_ONCE_CODE = "test/cancelled-once"
REVOKED_CODE = "test/revoked"  # GetEntry refuses the caller's token, as a service does one revoked (SYSTEM_DISABLED)
REFUSED_SYSTEM = "sys-refused"  # IssueToken refuses the secret, as the authorization service a wrong one
FAIL_ITEM = "fail-here"
HANG_ITEM = "hang-here"


# -- the backend double ---------------------------------------------------------------------------------------


class Probe:
    """What the backend observed that a reply cannot carry."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = asyncio.Event()
        #: The codes under CANCELLED_ONCE_CODE answered CANCELLED once, and their second calls in progress.
        self.cancelled_once: set[str] = set()
        self.tried_again: list[str] = []
        self.tried_again_together = 1

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

    def __init__(self, verifier: CallerVerifier, probe: Probe) -> None:
        self._verifier = verifier
        self._probe = probe

    async def GetEntry(self, request, context):  # type: ignore[no-untyped-def]
        caller = self._verifier.from_context(context)
        if request.code == FAILING_CODE:
            raise invalid_argument([FieldViolation("code", "is rejected by the test backend"),
                                    FieldViolation("version", "must be positive")], reason="TEST_REJECTED")
        if request.code == TOO_LARGE_CODE:
            raise ServiceError(grpc.StatusCode.RESOURCE_EXHAUSTED, "REPLY_TOO_LARGE",
                               "the answer would be 9.0 MiB, more than one reply carries: ask for less")
        if request.code == UNAVAILABLE_CODE:
            raise unavailable("DEPENDENCY_UNAVAILABLE", "postgresql is unavailable", retry_after=1.5)
        if request.code == REVOKED_CODE:
            raise ServiceError(grpc.StatusCode.UNAUTHENTICATED, "SYSTEM_DISABLED", "the calling system is disabled")
        if request.code.startswith(CANCELLED_ONCE_CODE):
            if request.code not in self._probe.cancelled_once:  # as a stopping grpc server ends a call not started
                self._probe.cancelled_once.add(request.code)
                await context.abort(grpc.StatusCode.CANCELLED, "CANCELLED")
            self._probe.tried_again.append(request.code)
            for _ in range(60):  # held until the expected number are tried again at once (3 s at most)
                if len(self._probe.tried_again) >= self._probe.tried_again_together:
                    break
                await asyncio.sleep(0.05)
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


    async def ReportMandateChange(self, request, context):  # type: ignore[no-untyped-def]
        """Answers the change_time it received as due_time: the time a REST body's change_time became."""
        self._verifier.from_context(context)
        return catalog_pb2.ReportMandateChangeResponse(due_time=request.change_time)


class EchoAudit(audit_pb2_grpc.AuditServiceServicer):
    """ListAccesses answers the start_time and end_time it received, as next_page_token ("start|end")."""

    def __init__(self, verifier: CallerVerifier) -> None:
        self._verifier = verifier

    async def ListAccesses(self, request, context):  # type: ignore[no-untyped-def]
        self._verifier.from_context(context)
        return audit_pb2.ListAccessesResponse(
            next_page_token=f"{request.start_time.ToJsonString()}|{request.end_time.ToJsonString()}")


class EchoQuery(query_pb2_grpc.QueryServiceServicer):
    """Export streams one row per requested item, naming the caller; FAIL_ITEM fails mid-stream, HANG_ITEM hangs."""

    def __init__(self, verifier: CallerVerifier, probe: Probe) -> None:
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
    """IssueToken answers with the authorization header it received (none: the edge lets it through without)."""

    async def IssueToken(self, request, context):  # type: ignore[no-untyped-def]
        received = dict(context.invocation_metadata()).get("authorization", "none")
        if request.system_id == REFUSED_SYSTEM:
            raise ServiceError(grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED", "unknown system id or wrong secret")
        return token_pb2.IssueTokenResponse(token=f"{received}|{request.system_id}")


class BackendDouble:
    name = "catalog"
    service_names = ("govshare.catalog.v1.CatalogService", "govshare.query.v1.QueryService",
                     "govshare.query.v1.AuditService", "govshare.authorization.v1.TokenService")

    def __init__(self, settings: Settings) -> None:
        verifier = caller_verifier(settings)
        self.probe = Probe()
        self._catalog = EchoCatalog(verifier, self.probe)
        self._query = EchoQuery(verifier, self.probe)
        self._audit = EchoAudit(verifier)
        self._token = EchoToken()

    def register(self, server: grpc.aio.Server) -> None:
        catalog_pb2_grpc.add_CatalogServiceServicer_to_server(self._catalog, server)
        query_pb2_grpc.add_QueryServiceServicer_to_server(self._query, server)
        audit_pb2_grpc.add_AuditServiceServicer_to_server(self._audit, server)
        token_pb2_grpc.add_TokenServiceServicer_to_server(self._token, server)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


# -- fixtures ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def settings_base(keys: PlatformKeys) -> Settings:
    """The edge needs neither PostgreSQL nor Redis: keys and targets are all it and the double read."""
    return Settings(component="catalog", listen="127.0.0.1:0", internal_key=keys.internal_key.encode(),
                    token_public_key=keys.token_public_key, token_private_key=keys.token_private_key)


@module_fixture
async def backend(settings_base: Settings) -> AsyncIterator[RunningServer]:
    running = await start_server(settings_base, BackendDouble(settings_base))
    yield running
    await running.stop(0)


@module_fixture
async def jwks(settings_base: Settings) -> AsyncIterator[JwksEndpoint]:
    """The platform's keys as the authorization service publishes them."""
    endpoint = JwksEndpoint(settings_base.with_overrides(jwks_listen="127.0.0.1:0"))
    await endpoint.start()
    yield endpoint
    await endpoint.stop()


def edge_settings(base: Settings, backend_port: int, jwks_port: int, **overrides: object) -> Settings:
    target = f"127.0.0.1:{backend_port}"
    return base.with_overrides(component="gateway", edge_admin="127.0.0.1:0", catalog_target=target,
                               authorization_target=target, query_target=target, foundation_target=target,
                               supervision_target=target,
                               jwks_url=f"http://127.0.0.1:{jwks_port}/.well-known/jwks.json",
                               call_timeout_seconds=5.0, **overrides)


async def start_edge(settings: Settings) -> Edge:
    return await Edge(settings).start()


@module_fixture
async def edge(settings_base: Settings, backend: RunningServer, jwks: JwksEndpoint) -> AsyncIterator[Edge]:
    running = await start_edge(edge_settings(settings_base, backend.port, jwks.port))
    yield running
    running.stop()


@module_fixture
async def channel(edge: Edge) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(edge.address) as opened:
        yield opened


@module_fixture
async def limited_channel(settings_base: Settings, backend: RunningServer,
                          jwks: JwksEndpoint) -> AsyncIterator[grpc.aio.Channel]:
    """An edge allowing bursts of 3 calls per system and then almost nothing."""
    running = await start_edge(edge_settings(settings_base, backend.port, jwks.port, rate_limit_per_second=0.001,
                                             rate_limit_burst=3))
    async with grpc.aio.insecure_channel(running.address) as opened:
        yield opened
    running.stop()


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


# -- authentication: the edge refuses, saying which failure ------------------------------------------------------


def token(keys: PlatformKeys, who: Caller, signing_key: str = "", **claims: object) -> str:
    """A token like the platform's (naming the platform key's ``kid``), with some claims replaced, or signed
    by ``signing_key`` instead."""
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": audience(DEFAULT_ZONE), "sub": who.system_id, "dept": who.department_code,
               "authority": False, "iat": now, "exp": now + 600, **claims}
    platform = ed25519_private_key(keys.token_private_key)
    private = ed25519_private_key(signing_key) if signing_key else platform
    return jwt.encode(payload, private, algorithm=ALGORITHM, headers={"kid": key_id(platform.public_key())})


async def refusal(channel: grpc.aio.Channel, metadata: tuple[tuple[str, str], ...]) -> str:
    error = await failure(get_entry(channel)(catalog_pb2.GetEntryRequest(code="x"), metadata=metadata))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    return error.details()


async def test_a_call_without_a_token_is_told_how_to_get_one(channel: grpc.aio.Channel) -> None:
    message = await refusal(channel, ())
    assert "Jwt is missing" in message
    assert "authorization: Bearer <token>" in message
    assert "govshare.authorization.v1.TokenService/IssueToken" in message


async def test_a_token_signed_by_another_key_is_a_bad_signature(channel: grpc.aio.Channel, keys: PlatformKeys) -> None:
    forged = token(keys, caller(), signing_key=generate_keys().token_private_key)
    assert "Jwt verification fails" in await refusal(channel, (("authorization", f"Bearer {forged}"),))
    unknown_key = issue_token(generate_keys().token_private_key, caller(), 600).token
    assert "Jwks doesn't have key" in await refusal(channel, (("authorization", f"Bearer {unknown_key}"),))


async def test_a_running_edge_takes_a_key_authorization_publishes_and_keeps_its_keys_while_the_jwks_is_down(
        settings_base: Settings, backend: RunningServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Envoy fetches no JWKS on an unknown kid: a running edge took a new key only at its next fetch, every 300 s,
    so after the leaked-key runbook's restart of authorization with the new key alone every edge refused the new
    key's tokens for up to 5 minutes. The edge now fetches in the background every JWKS_CACHE_SECONDS (10 s;
    1 s here): it takes the new key within that, and a fetch that fails (authorization restarting) keeps the keys
    it had, so no token is refused for want of them."""
    import gateway.edge

    monkeypatch.setattr(gateway.edge, "JWKS_CACHE_SECONDS", 1)
    published = JwksEndpoint(settings_base.with_overrides(jwks_listen="127.0.0.1:0"))
    await published.start()
    port = published.port
    running = await start_edge(edge_settings(settings_base, backend.port, port))
    new = generate_keys()
    try:
        await published.stop()  # authorization restarted with the new key alone
        published = JwksEndpoint(settings_base.with_overrides(jwks_listen=f"127.0.0.1:{port}",
                                                              token_public_key=new.token_public_key))
        await published.start()
        async with grpc.aio.insecure_channel(running.address) as channel:
            async def edge_refuses(token: str) -> bool:
                """Whether the edge refuses the token (the double behind it knows the old key only)."""
                return "Jwks doesn't have key" in await refusal(channel, (("authorization", f"Bearer {token}"),))

            deadline = time.monotonic() + 5
            while await edge_refuses(issue_token(new.token_private_key, caller(), 600).token):
                assert time.monotonic() < deadline, "the edge did not take the published key"
                await asyncio.sleep(0.2)
            await published.stop()  # authorization down: the edge's fetches fail
            for _ in range(3):
                await asyncio.sleep(0.8)
                assert not await edge_refuses(issue_token(new.token_private_key, caller(), 600).token)
    finally:
        running.stop()
        await published.stop()


async def test_an_expired_token_says_expired(channel: grpc.aio.Channel, keys: PlatformKeys) -> None:
    expired = token(keys, caller(), exp=int(time.time()) - 60)
    assert "Jwt is expired" in await refusal(channel, (("authorization", f"Bearer {expired}"),))


async def test_a_token_accepted_once_is_refused_once_it_expires(channel: grpc.aio.Channel,
                                                                 keys: PlatformKeys) -> None:
    """Envoy caches verified tokens (and so does every backend): a cached token still stops at its expiry."""
    short = bearer(keys, caller(), ttl=1)
    await get_entry(channel)(catalog_pb2.GetEntryRequest(code="x"), metadata=short)  # verified, now cached
    deadline = time.monotonic() + LEEWAY_SECONDS + 30
    while True:
        try:
            await get_entry(channel)(catalog_pb2.GetEntryRequest(code="x"), metadata=short)
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.UNAUTHENTICATED
            assert "expired" in error.details().lower()
            return
        assert time.monotonic() < deadline, "an expired token was still accepted"
        await asyncio.sleep(0.5)


async def test_a_token_for_another_audience_says_so(channel: grpc.aio.Channel, keys: PlatformKeys) -> None:
    other = token(keys, caller(), aud="some-other-service")
    assert "Audiences in Jwt are not allowed" in await refusal(channel, (("authorization", f"Bearer {other}"),))


async def test_a_token_of_another_zones_platform_is_refused_naming_the_zone(
        channel: grpc.aio.Channel, backend: RunningServer, keys: PlatformKeys, edge: Edge) -> None:
    """Every token's audience was govshare-gateway in both zones: an intranet installed with a copy of the
    extranet's signing key accepted the extranet's tokens, at the edge and in every backend. The audience names the
    zone (govshare-gateway.extranet): the edge (of the extranet here) refuses the intranet's tokens saying which
    zone it takes, and a backend reached around it names the zone the token was issued for."""
    intranet = issue_token(keys.token_private_key, caller(), 600, zone="intranet").token
    refused = await refusal(channel, (("authorization", f"Bearer {intranet}"),))
    assert "Audiences in Jwt are not allowed (this edge is the extranet zone's" in refused
    assert "audience govshare-gateway.extranet" in refused
    status, body = await asyncio.to_thread(_rest_body, edge, "/v1/entries/x", {"authorization": f"Bearer {intranet}"})
    assert status == 401 and "this edge is the extranet zone's" in str(body["message"]), body
    await get_entry(channel)(catalog_pb2.GetEntryRequest(code="x"), metadata=bearer(keys, caller()))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{backend.port}") as direct:
        error = await failure(get_entry(direct)(catalog_pb2.GetEntryRequest(code="x"),
                                                metadata=(("authorization", f"Bearer {intranet}"),)))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "issued for the 'intranet' zone, and this is the extranet zone's platform" in error.details()


async def test_a_token_of_the_earlier_audience_is_accepted_only_when_issued_before_the_upgrade(
        channel: grpc.aio.Channel, keys: PlatformKeys) -> None:
    """The upgrade: a token issued before it names govshare-gateway alone, and lives out its hour (a business
    system's calls and a person's session go on); one issued after the backend started with zones, by a platform
    of the earlier version (of either zone), is refused by the backend, which the edge lets through."""
    now = int(time.time())
    held = token(keys, caller(), aud=LEGACY_AUDIENCE, iat=now - 86400)
    await get_entry(channel)(catalog_pb2.GetEntryRequest(code="x"), metadata=(("authorization", f"Bearer {held}"),))
    later = token(keys, caller(), aud=LEGACY_AUDIENCE)
    refused = await refusal(channel, (("authorization", f"Bearer {later}"),))
    assert "names no zone (audience govshare-gateway alone" in refused
    assert "issued after this service started; this is the extranet zone's platform" in refused


@pytest.mark.parametrize("header", ["Bearer not.a.jwt", "Bearer", "Basic dXNlcjpwdw=="])
async def test_garbage_in_place_of_a_token_is_unauthenticated(channel: grpc.aio.Channel, header: str) -> None:
    assert "bearer token refused" in await refusal(channel, (("authorization", header),))


async def test_two_authorization_headers_are_refused_saying_so(channel: grpc.aio.Channel, keys: PlatformKeys,
                                                                edge: Edge) -> None:
    """Envoy joins two authorization headers with a comma: the refusal said "Jwt signature is an invalid Base64url
    encoded" (or "Jwt header ..."), naming a part of the joined text instead of the second header."""
    valid = ("authorization", f"Bearer {token(keys, caller())}")
    other = ("authorization", "Bearer abc")
    for metadata in ((valid, other), (other, valid), (valid, valid)):
        assert "more than one authorization header" in await refusal(channel, metadata)
    status, body = await asyncio.to_thread(_rest_body, edge, "/v1/entries/x",
                                           {"authorization": f"{valid[1]},{valid[1]}"})
    assert status == 401 and "more than one authorization header" in str(body["message"]), body
    assert "more than one" not in await refusal(channel, (("authorization", "Bearer not.a.jwt"),))


@pytest.mark.parametrize("scheme", ["Token ", "JWT ", "Basic ", ""])
async def test_a_token_under_another_scheme_or_alone_is_refused_saying_so_not_missing(
        channel: grpc.aio.Channel, keys: PlatformKeys, edge: Edge, scheme: str) -> None:
    """A token sent as "authorization: Token <jwt>" (Django REST framework's scheme), "JWT <jwt>", under Basic, or
    alone was refused "Jwt is missing": the caller, who had sent its token, looked for why the header went
    missing (a proxy dropping it). The refusal says the header holds no bearer token; without the header the
    words are as before."""
    sent = f"{scheme}{token(keys, caller())}"
    said = await refusal(channel, (("authorization", sent),))
    assert said.startswith("bearer token refused: the authorization header holds no bearer token"), said
    assert "Bearer <token>" in said, said
    status, body = await asyncio.to_thread(_rest_body, edge, "/v1/entries/x", {"authorization": sent})
    assert (status, body["message"]) == (401, said), body
    assert "Jwt is missing" in await refusal(channel, ())


@pytest.mark.parametrize("quote", ['"', "'"])
async def test_a_token_sent_in_quotes_is_refused_saying_to_send_it_bare(
        channel: grpc.aio.Channel, keys: PlatformKeys, edge: Edge, quote: str) -> None:
    """A REST client that took the token out of IssueToken's JSON as JSON (Jackson's JsonNode.toString(), .NET's
    JsonElement.GetRawText()) sends it with its quotes, 'Bearer "eyJ…"': refused "Jwt signature is an invalid
    Base64url encoded" (or the header), the developer looked for a fault in a token the platform had just issued.
    The refusal says the token is in quotes and to send it bare."""
    sent = f"Bearer {quote}{token(keys, caller())}{quote}"
    said = await refusal(channel, (("authorization", sent),))
    assert said.startswith("bearer token refused: the token is written in quotes"), said
    status, body = await asyncio.to_thread(_rest_body, edge, "/v1/entries/x", {"authorization": sent})
    assert (status, body["message"]) == (401, said), body
    assert "quotes" not in await refusal(channel, (("authorization", "Bearer not.a.jwt"),))


@pytest.mark.parametrize("sent", ["Bearer undefined", "Bearer null", "bearer None", "Bearer "])
async def test_a_token_left_unset_is_refused_saying_so(
        channel: grpc.aio.Channel, edge: Edge, sent: str) -> None:
    """A page's fetch with `Bearer ${token}` before the token came (undefined), a Java or Python client formatting a
    null or None: refused "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections", and
    "Bearer " alone "its scheme is not Bearer, or the token is there alone", which it was not. Each says the token
    sent is empty or the name of nothing."""
    said = await refusal(channel, (("authorization", sent),))
    assert said.startswith("bearer token refused: the token after Bearer is empty or a word for nothing (null, "
                           "undefined, None)"), said
    status, body = await asyncio.to_thread(_rest_body, edge, "/v1/entries/x", {"authorization": sent})
    assert (status, body["message"]) == (401, said), body


async def test_a_valid_token_reaches_the_backend_which_verifies_it_again(
        channel: grpc.aio.Channel, keys: PlatformKeys) -> None:
    who = caller()
    reply = await get_entry(channel)(catalog_pb2.GetEntryRequest(code="101001/000001"), metadata=bearer(keys, who))
    assert reply.entry.code == "101001/000001"
    assert reply.entry.name == who.system_id
    assert reply.entry.provider_department_code == who.department_code


@pytest.mark.parametrize("scheme", ["bearer", "BEARER"])
async def test_the_scheme_is_case_insensitive_as_http_says(channel: grpc.aio.Channel, keys: PlatformKeys,
                                                           scheme: str) -> None:
    """RFC 9110 §11.1: a client sending "bearer <token>" was told "Jwt is missing" by the edge (Envoy matches
    the prefix as written), while every backend took it."""
    who = caller()
    token_text = dict(bearer(keys, who))["authorization"].removeprefix("Bearer ")
    reply = await get_entry(channel)(catalog_pb2.GetEntryRequest(code="101001/000001"),
                                     metadata=(("authorization", f"{scheme} {token_text}"),))
    assert reply.entry.name == who.system_id


@pytest.mark.parametrize("scheme", ["bEaReR", "BeArEr"])
async def test_a_scheme_in_mixed_case_is_refused_saying_how_to_write_it(
        channel: grpc.aio.Channel, edge: Edge, keys: PlatformKeys, scheme: str) -> None:
    """'bEaReR <token>' (any case is the same scheme by RFC 9110, but the edge reads the three usual spellings) was
    refused "the authorization header holds no bearer token (its scheme is not Bearer…)" of a token sent. It now
    says the scheme is in mixed case and how to write it, over gRPC and REST."""
    token_text = dict(bearer(keys, caller()))["authorization"].removeprefix("Bearer ")
    sent = f"{scheme} {token_text}"
    said = await refusal(channel, (("authorization", sent),))
    assert said.startswith("bearer token refused: the scheme is written in mixed case"), said
    assert "write the scheme Bearer" in said
    status, body = await asyncio.to_thread(_rest_body, edge, "/v1/entries/x", {"authorization": sent})
    assert (status, body["message"]) == (401, said), body


async def test_issue_token_passes_without_a_token(channel: grpc.aio.Channel) -> None:
    stub = token_pb2_grpc.TokenServiceStub(channel)
    reply = await stub.IssueToken(token_pb2.IssueTokenRequest(system_id="sys-1", secret="s"))
    assert reply.token == "none|sys-1"


# -- identity headers: stripped at the edge, refused at the backend ----------------------------------------------


async def test_identity_headers_from_the_client_are_stripped_and_the_token_forwarded(
        channel: grpc.aio.Channel, keys: PlatformKeys, settings_base: Settings) -> None:
    who = caller()
    # Even an assertion signed with the real key is not the client's to send.
    forged = AssertionSigner(settings_base.internal_key).metadata(service_caller("query"))
    metadata = (*bearer(keys, who), *forged, ("x-govshare-anything", "x"), ("x-request-id", "r-1"),
                ("x-blob-bin", b"\x00\xff"), ("govshare-caller-timeout", "1S"))
    reply = await catalog_pb2_grpc.CatalogServiceStub(channel).ListEntries(
        catalog_pb2.ListEntriesRequest(), metadata=metadata)
    seen = [(entry.code, entry.name) for entry in reply.entries]
    keys_seen = [key for key, _ in seen]
    # The caller's deadline is copied for the backend only from a grpc-timeout the call carries: none here, and the
    # client's own value under that name is dropped; with a deadline, one copy, the edge's.
    assert "govshare-caller-timeout" not in keys_seen, seen
    timed = await catalog_pb2_grpc.CatalogServiceStub(channel).ListEntries(
        catalog_pb2.ListEntriesRequest(), metadata=metadata, timeout=30)
    copies = [entry.name for entry in timed.entries if entry.code == "govshare-caller-timeout"]
    assert len(copies) == 1 and copies[0] != "1S", copies
    assert not [key for key in keys_seen if key.startswith("x-govshare-")]
    assert keys_seen.count("authorization") == 1  # forwarded: the backend verifies it itself
    # Binary metadata is dropped: the services read none, and one that is not base64 failed calls that were not
    # its own (test_a_header_the_backends_cannot_parse_fails_no_call).
    assert not [key for key in keys_seen if key.endswith("-bin")]


async def test_the_backend_refuses_an_identity_sent_around_the_edge(
        backend: RunningServer, keys: PlatformKeys, settings_base: Settings) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{backend.port}") as direct:
        async def refused(metadata: tuple[tuple[str, str], ...]) -> str:
            error = await failure(get_entry(direct)(catalog_pb2.GetEntryRequest(code="x"), metadata=metadata))
            assert error.code() == grpc.StatusCode.UNAUTHENTICATED
            return error.details()

        # A forged token, each way it can be wrong.
        forged = issue_token(generate_keys().token_private_key, caller(), 600).token
        assert "signed by a key this service does not verify with (kid '" in await refused(
            (("authorization", f"Bearer {forged}"),))
        bad_signature = token(keys, caller(), signing_key=generate_keys().token_private_key)
        assert "signature is invalid" in await refused((("authorization", f"Bearer {bad_signature}"),))
        assert "expired" in await refused(
            (("authorization", f"Bearer {token(keys, caller(), exp=int(time.time()) - 60)}"),))
        assert "wrong audience" in await refused((("authorization", f"Bearer {token(keys, caller(), aud='x')}"),))
        assert "missing bearer token" in await refused(())
        # A forged identity header: signed with another key, a business system signed with the real key, and
        # an identity header beside a valid token.
        other = AssertionSigner(b"a key that is not the platform's internal key").metadata(service_caller("query"))
        assert "signature is invalid" in await refused(other)
        real = AssertionSigner(settings_base.internal_key).metadata(caller())
        assert "comes with its bearer token" in await refused(real)
        assert "beside a bearer token" in await refused((*bearer(keys, caller()), ("x-govshare-caller", "x")))


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
    for metadata in (bearer(keys, caller()), ()):
        call = channel.unary_unary(method)(request_message.SerializeToString(),  # type: ignore[attr-defined]
                                           metadata=metadata)
        error = await failure(call)
        assert error.code() == grpc.StatusCode.UNIMPLEMENTED
        assert f"{service} is internal and not served by the edge" in error.details()


@pytest.mark.parametrize("method, message", [
    ("/govshare.catalog.v1.CatalogService/DropEverything", "has no such method"),
    ("/no.such.v1.Service/Call", "unknown service"),
])
async def test_unknown_methods_are_unimplemented_with_a_reason(channel: grpc.aio.Channel, keys: PlatformKeys,
                                                               method: str, message: str) -> None:
    error = await failure(channel.unary_unary(method)(b"", metadata=bearer(keys, caller())))
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED
    assert message in error.details()


#: What a gRPC(-Web) call whose method path sits under a prefix is told.
UNDER_A_PREFIX = ("the method's path has a prefix before /govshare.: a gRPC or gRPC-Web method's path is "
                  "/package.Service/Method from the root (/govshare.catalog.v1.CatalogService/GetEntry)")


@pytest.mark.parametrize("prefix", ["/v1", "/api", "/grpc/web"])
async def test_a_grpc_call_whose_method_path_has_a_prefix_is_told_to_drop_it(
        channel: grpc.aio.Channel, keys: PlatformKeys, edge: Edge, prefix: str) -> None:
    """A gRPC-Web client given the REST base URL (http://host:port/v1, as govshare up prints it beside the REST
    operations) or a reverse proxy's path prefix (/api, /grpc/web) as its host calls /v1/govshare.catalog.v1.
    CatalogService/GetEntry: under /v1/ it reached the edge's companion and came back UNIMPLEMENTED "Method not
    found!", gRPC's words, without details; elsewhere "unknown service: the edge serves govshare.catalog.v1.
    CatalogService, …", naming the very service called. Both say the path has a prefix and what the path is."""
    path = f"{prefix}/govshare.catalog.v1.CatalogService/GetEntry"
    error = await failure(channel.unary_unary(path)(b"", metadata=bearer(keys, caller())))
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED
    assert error.details().startswith(UNDER_A_PREFIX), error.details()
    status, headers = await asyncio.to_thread(_grpc_web, edge, "POST", path, b"\0\0\0\0\0",
                                              dict(bearer(keys, caller())))
    assert (status, headers["grpc-status"]) == (200, "12"), headers
    assert headers["grpc-message"].startswith(UNDER_A_PREFIX), headers
    # A path of no service of the platform's is unknown, as before.
    unknown = channel.unary_unary(f"{prefix}/no.such.v1.Service/Call")
    error = await failure(unknown(b"", metadata=bearer(keys, caller())))
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED and UNDER_A_PREFIX not in error.details()


REST_URL_CALLED_AS_GRPC = "a gRPC or gRPC-Web call sent to a REST URL: a REST URL (/v1/...) takes a JSON body"


async def test_a_grpc_or_grpc_web_call_to_a_rest_url_is_told_what_each_takes(
        channel: grpc.aio.Channel, keys: PlatformKeys, edge: Edge) -> None:
    """A client mixing REST and gRPC-Web (the REST URL with a gRPC-Web content type, or the REST URL given a
    gRPC-Web client as the method) was told "Method not found!" for a POST, "a gRPC call is an HTTP POST" for a
    GET and "the request holds no message" for an empty body: none said the URL and the content type do not go
    together. Each is UNIMPLEMENTED saying what a REST URL takes and where a gRPC call goes."""
    url = "/v1/resources/101001%2F000001:query"
    token = dict(bearer(keys, caller()))
    for verb, body in (("POST", b"\0\0\0\0\0"), ("POST", b""), ("GET", b"")):
        status, headers = await asyncio.to_thread(_grpc_web, edge, verb, url, body, token)
        assert (status, headers.get("grpc-status")) == (200, "12"), (verb, body, headers)
        assert headers["grpc-message"].startswith(REST_URL_CALLED_AS_GRPC), (verb, body, headers)
    error = await failure(channel.unary_unary(url)(b"", metadata=bearer(keys, caller())))
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED and error.details().startswith(REST_URL_CALLED_AS_GRPC)
    # The REST call itself, and a method's path under /v1 (UNDER_A_PREFIX's), are answered as before.
    status, _, content = await asyncio.to_thread(_rest_raw, edge, "GET", "/v1/entries/101001%2F000001", b"", token)
    assert status == 200, content
    status, headers = await asyncio.to_thread(_grpc_web, edge, "POST", f"/v1{GET_ENTRY}", b"\0\0\0\0\0", token)
    assert headers["grpc-message"].startswith(UNDER_A_PREFIX), headers


async def test_health_reports_serving(channel: grpc.aio.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    reply = await health.Check(health_pb2.HealthCheckRequest(service=""))
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def _grpc_web_body(edge: Edge, path: str, body: bytes) -> tuple[dict[str, str], bytes]:
    request = urllib.request.Request(f"http://{edge.address}{path}", data=body, method="POST",
                                     headers={"content-type": "application/grpc-web+proto", "x-grpc-web": "1"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return {k.lower(): v for k, v in error.headers.items()}, error.read()


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
    # The edge's default is 5 s: a backend seeing more than that got the client's 60 s deadline.
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


async def test_a_streams_deadline_passing_after_its_first_rows_is_deadline_exceeded_not_internal(
        channel: grpc.aio.Channel, keys: PlatformKeys, backend: RunningServer) -> None:
    """The edge timed a stream's deadline too, and when its timer fired first, after rows had gone out, it could
    only reset the stream: the client read INTERNAL "RST_STREAM with error code 2" (one export in a few). The
    race is the client's and the edge's timers, so it is run a number of times."""
    probe = backend.component.probe  # type: ignore[attr-defined]
    codes = []
    for _ in range(12):
        probe.reset()
        stream = query_pb2_grpc.QueryServiceStub(channel).Export(
            query_pb2.ExportRequest(resource_code="r", items=["a", HANG_ITEM]), metadata=bearer(keys, caller()),
            timeout=0.3)
        first = await stream.read()
        assert [row.key for row in first.rows] == ["a"]
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stream.read()
        codes.append(raised.value.code())
        await asyncio.wait_for(probe.cancelled.wait(), timeout=10)
    assert set(codes) == {grpc.StatusCode.DEADLINE_EXCEEDED}, codes


#: What a backend's gRPC library says when the deadline the edge passed on ends a call before the edge's own timer.
_BACKENDS_OWN_WORDS = "Deadline Exceeded"


async def test_a_call_past_the_edges_limit_says_which_deadline_passed(channel: grpc.aio.Channel, keys: PlatformKeys,
                                                                       edge: Edge) -> None:
    """A call without a deadline that ran past the edge's limit was told "downstream duration timeout".

    The edge passes its limit on to the backend as the call's deadline, so two timers end the call: the edge's
    (its words, checked here) and, on a loaded machine now and then first, the backend's gRPC library's (its own
    "Deadline Exceeded", which the edge passes through: CI met it once). The status is DEADLINE_EXCEEDED either
    way; the edge's words are checked whenever the edge's timer ended the call."""
    error = await failure(get_entry(channel)(catalog_pb2.GetEntryRequest(code=HANGING_CODE),
                                             metadata=bearer(keys, caller())))
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    if error.details() != _BACKENDS_OWN_WORDS:
        assert "the call ran past its deadline" in (error.details() or ""), error.details()
        assert "5 s for a call" in (error.details() or ""), error.details()
    status, body = await asyncio.to_thread(_rest_body, edge, f"/v1/entries/{HANGING_CODE.replace('/', '%2F')}",
                                           dict(bearer(keys, caller())))
    assert status == 504 and body["code"] == grpc.StatusCode.DEADLINE_EXCEEDED.value[0], body
    if body["message"] != _BACKENDS_OWN_WORDS:
        assert "the call ran past its deadline" in str(body["message"]), body


async def test_a_call_with_a_deadline_under_the_edges_margin_is_still_sent(
        channel: grpc.aio.Channel, keys: PlatformKeys) -> None:
    """The edge ends a unary call a margin before its grpc-timeout (edge.DEADLINE_MARGIN_SECONDS) to name a hung
    service. With a 50 ms margin on every call, a 50 ms call the backend answers in a few was ended by Envoy at once
    (DEADLINE_EXCEEDED) or reset (INTERNAL) in 7 of 12 tries; a deadline under 100 ms is now kept whole. A loaded
    machine may take longer than 50 ms now and then, hence most, not all, answered; INTERNAL never."""
    metadata = bearer(keys, caller())
    await get_entry(channel)(catalog_pb2.GetEntryRequest(code="x"), metadata=metadata)  # the token verified once
    outcomes = []
    for _ in range(8):
        try:
            await get_entry(channel)(catalog_pb2.GetEntryRequest(code="x"), metadata=metadata, timeout=0.05)
            outcomes.append("answered")
        except grpc.aio.AioRpcError as error:
            outcomes.append(error.code().name)
    assert "INTERNAL" not in outcomes and outcomes.count("answered") >= 6, outcomes


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


# -- rate limits ------------------------------------------------------------------------------------------------


async def test_a_system_over_its_rate_limit_is_resource_exhausted(
        limited_channel: grpc.aio.Channel, keys: PlatformKeys) -> None:
    who, other = caller(), caller()
    for _ in range(3):
        await get_entry(limited_channel)(catalog_pb2.GetEntryRequest(code="x"), metadata=bearer(keys, who))
    error = await failure(get_entry(limited_channel)(catalog_pb2.GetEntryRequest(code="x"),
                                                     metadata=bearer(keys, who)))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "rate limit" in error.details()
    # As api.md says: reason RATE_LIMITED, and a RetryInfo of the bucket's refill interval (1/rate here).
    rich = rpc_status.from_call(error)
    assert rich is not None
    info, retry = error_details_pb2.ErrorInfo(), error_details_pb2.RetryInfo()
    assert [detail.Unpack(info) or detail.Unpack(retry) for detail in rich.details] == [True, True]
    assert (info.reason, info.domain) == ("RATE_LIMITED", "edge.govshare")
    assert retry.retry_delay.seconds == 1000
    # Another system has its own bucket.
    await get_entry(limited_channel)(catalog_pb2.GetEntryRequest(code="x"), metadata=bearer(keys, other))


# -- observability -----------------------------------------------------------------------------------------------


async def test_the_clients_trace_context_is_replaced_at_the_edge(channel: grpc.aio.Channel, keys: PlatformKeys) -> None:
    trace_id = secrets.token_hex(16)
    metadata = (*bearer(keys, caller()), ("traceparent", f"00-{trace_id}-{secrets.token_hex(8)}-01"))
    reply = await catalog_pb2_grpc.CatalogServiceStub(channel).ListEntries(
        catalog_pb2.ListEntriesRequest(), metadata=metadata)
    traceparents = [entry.name for entry in reply.entries if entry.code == "traceparent"]
    assert all(trace_id not in value for value in traceparents)


async def test_calls_are_counted_by_method_and_status(channel: grpc.aio.Channel, keys: PlatformKeys,
                                                      edge: Edge) -> None:
    await get_entry(channel)(catalog_pb2.GetEntryRequest(code="x"), metadata=bearer(keys, caller()))
    await failure(get_entry(channel)(catalog_pb2.GetEntryRequest(code=FAILING_CODE), metadata=bearer(keys, caller())))
    stats = await asyncio.to_thread(edge.admin_get, "/stats?filter=grpc.*GetEntry")
    assert "CatalogService.GetEntry.0:" in stats  # OK
    assert "CatalogService.GetEntry.3:" in stats  # INVALID_ARGUMENT


async def test_prometheus_labels_name_the_service_method_and_status(channel: grpc.aio.Channel, keys: PlatformKeys,
                                                                    edge: Edge) -> None:
    """Envoy's default tag extraction reads a gRPC service name without dots: for
    `cluster.catalog.grpc.govshare.catalog.v1.CatalogService.GetEntry.0` the edge's /metrics said
    `envoy_cluster_grpc_v1_CatalogService_GetEntry_0{envoy_grpc_bridge_service="govshare",
    envoy_grpc_bridge_method="catalog"}`: a metric name per method and status, and labels naming neither, so no
    query could sum calls by method or status. The edge now extracts `grpc_service`, `grpc_method` and
    `grpc_status` itself."""
    await get_entry(channel)(catalog_pb2.GetEntryRequest(code="x"), metadata=bearer(keys, caller()))
    await failure(get_entry(channel)(catalog_pb2.GetEntryRequest(code=FAILING_CODE), metadata=bearer(keys, caller())))
    await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())  # a method not allow-listed
    text = await asyncio.to_thread(edge.admin_get, "/stats/prometheus")
    calls = {(sample.labels.get("grpc_service"), sample.labels.get("grpc_method"), sample.labels.get("grpc_status"))
             for family in text_string_to_metric_families(text) for sample in family.samples
             if family.name == "envoy_cluster_grpc" and "grpc_status" in sample.labels}  # `_total` is a counter's
    for status in ("0", "3"):  # OK, INVALID_ARGUMENT
        assert ("govshare.catalog.v1.CatalogService", "GetEntry", status) in calls, calls
    assert "CatalogService_GetEntry" not in text
    assert "envoy_cluster_grpc_0{" not in text  # the status of the others is a label too


def _refused(edge: Edge) -> dict[tuple[str, str], float]:
    """The edge's own refusals as Prometheus reads them: envoy_edge_refused{method, grpc_status}."""
    text = edge.admin_get("/stats/prometheus")
    return {(sample.labels["method"], sample.labels["grpc_status"]): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples
            if family.name == "envoy_edge_refused"}


async def test_the_edge_starts_without_a_deprecation_warning(edge: Edge) -> None:
    """Every start of the edge logged four warnings, "Deprecated field: type
    envoy.extensions.access_loggers.stats.v3.Config Using deprecated option '…stat_prefix'…", one per refusal
    counter: an on-call reading `govshare up`'s output or the gateway pod's log saw a start that is not quiet
    (docs/architecture.md: a start logs no warning) and a field Envoy says it will remove, taking
    envoy_edge_refused with it. The counters name their prefix in stats_scope, as Envoy asks."""
    assert "Deprecated field" not in edge.log_text()
    assert "stat_prefix" not in edge.log_text()


async def test_every_call_the_edge_refuses_itself_is_counted_by_method_and_status(
        edge: Edge, keys: PlatformKeys, channel: grpc.aio.Channel) -> None:
    """Calls the edge refused before any backend (no token, a bad one, an unknown method, a malformed grpc-timeout, a
    message over its method's limit; over REST a URL no rule maps, a wrong verb, an unknown query parameter,
    malformed JSON) were in envoy_http_downstream_rq_4xx alone, by no method or status: envoy_cluster_grpc counts
    only the calls routed to a cluster, so an alert on failed calls by method saw none of them. Each is counted in
    envoy_edge_refused{method, grpc_status}, by its method or "unknown" for a path no method has; a backend's
    answer and a successful call are not."""
    token = dict(bearer(keys, caller()))
    json_token = {**token, "content-type": "application/json"}
    unknown_method = channel.unary_unary("/govshare.catalog.v1.CatalogService/NoSuchMethod")
    over = catalog_pb2.GetEntryRequest(code="x" * (SMALL_MESSAGE_BYTES + 1))
    frame = b"\x00" + len(small := catalog_pb2.GetEntryRequest(code="x").SerializeToString()).to_bytes(4, "big")
    refusals: list[tuple[str, object, tuple[str, str]]] = [
        ("no token", lambda: failure(get_entry(channel)(catalog_pb2.GetEntryRequest(code="x"))),
         (GET_ENTRY, "16")),
        ("bad token", lambda: failure(get_entry(channel)(catalog_pb2.GetEntryRequest(code="x"),
                                                         metadata=(("authorization", "Bearer not-a-token"),))),
         (GET_ENTRY, "16")),
        ("unknown method", lambda: failure(unknown_method(b"", metadata=bearer(keys, caller()))), ("unknown", "12")),
        ("message too large", lambda: failure(get_entry(channel)(over, metadata=bearer(keys, caller()))),
         (GET_ENTRY, "8")),
        ("malformed grpc-timeout", lambda: asyncio.to_thread(_grpc_web, edge, "POST", GET_ENTRY, frame + small,
                                                             {**token, "grpc-timeout": "garbage"}),
         (GET_ENTRY, "3")),
        ("REST URL no rule maps", lambda: asyncio.to_thread(_rest_raw, edge, "GET", "/v1/no/such/thing", b"", token),
         ("unknown", "5")),
        ("REST wrong verb", lambda: asyncio.to_thread(_rest_raw, edge, "GET", "/v1/resources/101001%2F000001:query",
                                                      b"", token), ("unknown", "12")),
        ("REST unknown query parameter", lambda: asyncio.to_thread(
            _rest_raw, edge, "GET", "/v1/entries/101001%2F000001?nosuch=1", b"", token), ("unknown", "3")),
        ("REST malformed JSON", lambda: asyncio.to_thread(
            _rest_raw, edge, "POST", "/v1/resources/101001%2F000001:query", b"{not json", json_token),
         ("unknown", "3")),
    ]
    answered = [("a success", lambda: get_entry(channel)(catalog_pb2.GetEntryRequest(code="x"),
                                                       metadata=bearer(keys, caller())), None),
                ("the backend's refusal", lambda: failure(get_entry(channel)(
                    catalog_pb2.GetEntryRequest(code=FAILING_CODE), metadata=bearer(keys, caller()))), None)]
    for what, call, counted in [*refusals, *answered]:
        before = await asyncio.to_thread(_refused, edge)
        await call()  # type: ignore[operator]
        after = await asyncio.to_thread(_refused, edge)
        moved = {key: value - before.get(key, 0) for key, value in after.items() if value != before.get(key, 0)}
        assert moved == ({counted: 1} if counted else {}), (what, moved)


#: Requests Envoy's HTTP/1.1 codec refuses, with what their answer's grpc-status says and the access log's details.
CODEC_REFUSALS = [
    (b"GET /v1/entries/x HTTP/1.1\r\nhost: edge\r\nx_request_id: 1\r\nconnection: close\r\n\r\n", "3",
     "http1.unexpected_underscore"),
    (b"GET /v1/entries/x HTTP/1.1\r\nhost: edge\r\nx-big: " + b"x" * 70_000 + b"\r\nconnection: close\r\n\r\n",
     "8", "http1.headers_too_large"),
    (b"GET /v1/entries/x HTTP/1.1\r\nconnection: close\r\n\r\n", "3", "missing_host_header"),
]


@pytest.mark.parametrize(("request_bytes", "status", "details"), CODEC_REFUSALS)
async def test_a_request_the_http_codec_refuses_is_logged_and_counted_with_the_status_it_is_answered(
        edge: Edge, request_bytes: bytes, status: str, details: str) -> None:
    """A request whose header was over the size limit (431) or named with an underscore (400) was answered with a
    google.rpc.Status but neither logged nor counted: the codec refused it before its headers were read whole, and
    the log's and the counter's filters matched :path, which it has none of. One without Host (400) was counted
    in envoy_edge_refused{grpc_status=""}, an empty label, though its answer says INVALID_ARGUMENT: the status
    formatter reads nothing of a request that is not gRPC. Each is logged (its path withheld) and counted under
    method "unknown" and the status its answer carries."""
    def logged() -> int:
        return sum(1 for line in _access_log_lines(edge) if line.get("details") == details)

    before, lines = await asyncio.to_thread(_refused, edge), logged()
    answer = await asyncio.to_thread(_http_10, edge, request_bytes)
    assert f"grpc-status: {status}\r\n".encode() in answer.partition(b"\r\n\r\n")[0], answer[:300]
    moved: dict[tuple[str, str], float] = {}
    for _ in range(100):  # the access log and the counter are written as the stream ends, beside the answer
        after = await asyncio.to_thread(_refused, edge)
        moved = {key: value - before.get(key, 0) for key, value in after.items() if value != before.get(key, 0)}
        if moved and logged() > lines:
            break
        await asyncio.sleep(0.1)
    assert moved == {("unknown", status): 1}, moved
    assert logged() == lines + 1


async def test_grpc_web_calls_are_labelled_by_service_method_and_status(
        settings_base: Settings, backend: RunningServer, jwks: JwksEndpoint, keys: PlatformKeys) -> None:
    """grpc_stats counts a gRPC-Web call under cluster.<cluster>.grpc-web.<service>.<method>.<status>, which the
    tag rules (written for .grpc.) did not read: /metrics said
    envoy_cluster_grpc_web_govshare_catalog_v1_CatalogService_GetEntry_0{envoy_cluster_name="catalog"}, a metric
    name per method and status, so the console's calls were in no sum by method or status."""
    edge = await start_edge(edge_settings(settings_base, backend.port, jwks.port))
    message = catalog_pb2.GetEntryRequest(code="x").SerializeToString()
    frame = b"\x00" + len(message).to_bytes(4, "big") + message
    try:
        await asyncio.to_thread(_grpc_web, edge, "POST", GET_ENTRY, frame, dict(bearer(keys, caller())))
        text = await asyncio.to_thread(edge.admin_get, "/stats/prometheus")
    finally:
        edge.stop()
    calls = {(family.name, sample.labels.get("grpc_service"), sample.labels.get("grpc_method"),
              sample.labels.get("grpc_status")) for family in text_string_to_metric_families(text)
             for sample in family.samples if "grpc_status" in sample.labels}
    assert ("envoy_cluster_grpc_web", "govshare.catalog.v1.CatalogService", "GetEntry", "0") in calls, calls
    assert "CatalogService_GetEntry" not in text


def _log_entries(edge: Edge) -> list[dict]:
    """Every line Envoy wrote: JSON, its access log's and its own (which name a logger)."""
    return [json.loads(line) for line in edge.log_text().splitlines() if line.strip()]


def _access_log_lines(edge: Edge) -> list[dict]:
    return [entry for entry in _log_entries(edge) if "logger" not in entry]


async def test_envoys_own_log_is_json_with_the_services_fields(settings_base: Settings, backend: RunningServer,
                                                                jwks: JwksEndpoint) -> None:
    """One collector parses every process: Envoy's own lines were its bracketed text."""
    edge = await start_edge(edge_settings(settings_base, backend.port, jwks.port, log_level="DEBUG"))
    edge.stop()
    own = [entry for entry in _log_entries(edge) if "logger" in entry]
    assert own, edge.log_text()[-2000:]
    assert {entry["component"] for entry in own} == {"gateway"}
    assert all(entry["logger"].startswith("envoy.") and entry["level"] and "time" in entry for entry in own)


async def test_access_logs_are_json_without_tokens(settings_base: Settings, backend: RunningServer,
                                                  jwks: JwksEndpoint, keys: PlatformKeys) -> None:
    edge = await start_edge(edge_settings(settings_base, backend.port, jwks.port, edge_access_log_percent=100.0))
    metadata = bearer(keys, caller())
    try:
        async with grpc.aio.insecure_channel(edge.address) as channel:
            await get_entry(channel)(catalog_pb2.GetEntryRequest(code="x"), metadata=metadata)
    finally:
        edge.stop()  # Envoy flushes its log on the way out
    log = edge.log_text()
    lines = _access_log_lines(edge)
    assert any(line.get("path") == GET_ENTRY and line.get("grpc_status") == 0 for line in lines), lines[-3:]
    secret = metadata[0][1].split()[1]
    assert secret.split(".")[1] not in log and secret.split(".")[2] not in log


async def test_every_failed_call_is_logged_and_successes_only_as_sampled(
        settings_base: Settings, backend: RunningServer, jwks: JwksEndpoint, keys: PlatformKeys) -> None:
    """GOVSHARE_EDGE_ACCESS_LOG_PERCENT=0: no successful call is logged, every failure is (whichever part
    refused it: the backend, the token check, the route table)."""
    edge = await start_edge(edge_settings(settings_base, backend.port, jwks.port, edge_access_log_percent=0.0))
    metadata = bearer(keys, caller())
    try:
        async with grpc.aio.insecure_channel(edge.address) as channel:
            for _ in range(20):
                await get_entry(channel)(catalog_pb2.GetEntryRequest(code="x"), metadata=metadata)
            await failure(get_entry(channel)(catalog_pb2.GetEntryRequest(code=FAILING_CODE), metadata=metadata))
            await failure(get_entry(channel)(catalog_pb2.GetEntryRequest(code="x")))
            await failure(channel.unary_unary("/govshare.catalog.v1.CatalogService/NoSuchMethod")(
                b"", metadata=metadata))
    finally:
        edge.stop()
    statuses = sorted((line["path"], line["grpc_status"]) for line in _access_log_lines(edge))
    assert statuses == sorted([(GET_ENTRY, grpc.StatusCode.INVALID_ARGUMENT.value[0]),
                               (GET_ENTRY, grpc.StatusCode.UNAUTHENTICATED.value[0]),
                               # a method no service has is the caller's text: logged, its path withheld
                               (WITHHELD_PATH, grpc.StatusCode.UNIMPLEMENTED.value[0])]), statuses


@pytest.mark.parametrize("percent", [100.0, 0.0])
async def test_a_grpc_web_call_is_logged_with_its_grpc_status(
        settings_base: Settings, backend: RunningServer, jwks: JwksEndpoint, keys: PlatformKeys,
        percent: float) -> None:
    """The gRPC-Web filter writes the backend's status into the reply's body (a trailers frame), where the
    access log cannot read it: every gRPC-Web call was logged grpc_status 2 (UNKNOWN), guessed from HTTP 200,
    so a successful one was logged (as a failure) whatever the sampling and a refused one said nothing of why.
    A gRPC-Web call is logged with its own status, as a gRPC call is, sampled as one, and without its token."""
    edge = await start_edge(edge_settings(settings_base, backend.port, jwks.port, edge_access_log_percent=percent))
    token = dict(bearer(keys, caller()))

    def frame(code: str) -> bytes:
        message = catalog_pb2.GetEntryRequest(code=code).SerializeToString()
        return b"\x00" + len(message).to_bytes(4, "big") + message

    try:
        for code in ("x", FAILING_CODE):
            await asyncio.to_thread(_grpc_web, edge, "POST", GET_ENTRY, frame(code), token)
        await asyncio.to_thread(_grpc_web, edge, "POST", GET_ENTRY, frame("x"), {})  # refused at the edge
        async with grpc.aio.insecure_channel(edge.address) as channel:  # a gRPC call, logged as before
            await get_entry(channel)(catalog_pb2.GetEntryRequest(code="x"), metadata=bearer(keys, caller()))
    finally:
        edge.stop()
    logged = [(line["path"], line["protocol"], line["grpc_status"]) for line in _access_log_lines(edge)]
    failed = [(GET_ENTRY, "HTTP/1.1", grpc.StatusCode.INVALID_ARGUMENT.value[0]),
              (GET_ENTRY, "HTTP/1.1", grpc.StatusCode.UNAUTHENTICATED.value[0])]
    ok = [(GET_ENTRY, "HTTP/1.1", 0), *failed, (GET_ENTRY, "HTTP/2", 0)]
    assert logged == (ok if percent == 100 else failed), logged
    secret = token["authorization"].split()[1]
    assert secret.split(".")[1] not in edge.log_text() and secret.split(".")[2] not in edge.log_text()


def _rest_status(edge: Edge, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(f"http://{edge.address}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


def _hang_up_midway(edge: Edge, authorization: str) -> None:
    """A chunked REST body whose client closes the connection after its first chunk."""
    host, port = edge.address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall((
            "POST /v1/resources/101001%2F000001:export HTTP/1.1\r\nhost: edge\r\ncontent-type: application/json\r\n"
            f"authorization: {authorization}\r\ntransfer-encoding: chunked\r\n\r\n5\r\n{{\"ke\r\n").encode())


async def test_a_rest_call_is_logged_with_its_grpc_status_not_one_guessed_from_http(
        settings_base: Settings, backend: RunningServer, jwks: JwksEndpoint, keys: PlatformKeys) -> None:
    """The transcoder answers a backend's INVALID_ARGUMENT as HTTP 400 and drops its grpc-status: the log read
    400 as INTERNAL (and 404 as UNIMPLEMENTED, 429 as UNAVAILABLE). Refused by the backend, by the token check, by
    the edge's checks of a body or its size, or by the route table, a REST call is logged with the status its JSON
    body gives, once; a successful one is not logged (0 %)."""
    edge = await start_edge(edge_settings(settings_base, backend.port, jwks.port, edge_access_log_percent=0.0,
                                          rate_limit_per_second=0.01, rate_limit_burst=2))
    token = dict(bearer(keys, caller()))
    try:
        # A body its client stopped sending (it hung up midway) was no refusal: nothing to log as one.
        await asyncio.to_thread(_hang_up_midway, edge, token["authorization"])
        rejected = await asyncio.to_thread(_rest_status, edge, f"/v1/entries/{FAILING_CODE.replace('/', '%2F')}",
                                           token)
        anonymous = await asyncio.to_thread(_rest_status, edge, "/v1/entries/x", {})
        await asyncio.to_thread(_rest_status, edge, "/v1/entries/x", token)  # the burst's second call
        limited_status, limited_headers, limited_body = await asyncio.to_thread(
            _rest_answer, edge, "/v1/entries/x", token)
        limited = limited_status, limited_body
        unmapped = await asyncio.to_thread(_rest_status, edge, "/v1/noSuchCollection", token)
        # Refused before they were gRPC calls: a URL sent with another method, an unknown query parameter, a
        # CORS preflight from an origin the edge does not admit.
        other_method = await asyncio.to_thread(_rest_raw, edge, "PUT", "/v1/entries", b"{}",
                                               {**token, "content-type": "application/json"})
        unknown_parameter = await asyncio.to_thread(_rest_status, edge, "/v1/entries?access_token=x", token)
        preflight = await asyncio.to_thread(_rest_raw, edge, "OPTIONS", "/v1/entries", b"", {
            "origin": "https://elsewhere.example", "access-control-request-method": "GET"})
        too_large = await asyncio.to_thread(_chunked_past_the_check, edge, token["authorization"])
        misspelt = await asyncio.to_thread(_rest_raw, edge, "POST", "/v1/tokens", b'{"systemI": "a"}',
                                           {"content-type": "application/json"})
        await asyncio.to_thread(_rest_raw, edge, "POST", "/v1/tokens", b'{"systemId": "a"}',  # OK: not logged
                                {"content-type": "application/json"})
        refused = await asyncio.to_thread(_refused, edge)
    finally:
        edge.stop()
    # Each refusal the edge made itself is counted too, by its method (or "unknown", refused before it was one)
    # and the status the log gives; neither the backend's refusal nor the call hung up midway is.
    assert refused == {("unknown", "3"): 2, (GET_ENTRY, "16"): 1, ("unknown", "7"): 1, ("unknown", "5"): 1,
                       ("unknown", "12"): 1, ("unknown", "8"): 1, (GET_ENTRY, "8"): 1}, refused
    assert [status for status, _ in (rejected, anonymous, limited, unmapped)] == [400, 401, 429, 404]
    assert too_large.startswith(b"HTTP/1.1 413 ") and misspelt[0] == 400, (too_large[:300], misspelt)
    assert (other_method[0], unknown_parameter[0], preflight[0]) == (405, 400, 403), (other_method, preflight)
    # The RetryInfo's delay in Retry-After too, which HTTP clients' retry policies read (not the JSON body).
    assert {name.lower(): value for name, value in limited_headers.items()}.get("retry-after") == "100"
    assert [(d["@type"].rsplit(".", 1)[-1], d.get("reason", d.get("retryDelay")))  # type: ignore[union-attr]
            for d in limited[1]["details"]] == [("ErrorInfo", "RATE_LIMITED"), ("RetryInfo", "100s")], limited
    assert _UPSTREAM_STATUS_HEADER not in {name.lower() for name in rejected[1]}  # the copy stays inside the edge
    logged = sorted(((line["http_status"], line["grpc_status"]) for line in _access_log_lines(edge)),
                    key=lambda logged: (logged[0], -1 if logged[1] is None else logged[1]))
    # A call the edge refused before it was a gRPC call (a URL no rule maps, a URL sent with another method, an
    # unknown query parameter, a refused preflight; a misspelt field, a chunked body past what the edge holds) was
    # logged grpc_status null, as if it had not failed: it is logged with the code its JSON body gives. A client
    # that hung up midway got no answer, and none is logged (it was logged RESOURCE_EXHAUSTED, as a 413).
    assert logged == [(0, None),
                      (400, grpc.StatusCode.INVALID_ARGUMENT.value[0]),
                      (400, grpc.StatusCode.INVALID_ARGUMENT.value[0]),
                      (400, grpc.StatusCode.INVALID_ARGUMENT.value[0]),
                      (401, grpc.StatusCode.UNAUTHENTICATED.value[0]),
                      (403, grpc.StatusCode.PERMISSION_DENIED.value[0]),
                      (404, grpc.StatusCode.NOT_FOUND.value[0]),
                      (405, grpc.StatusCode.UNIMPLEMENTED.value[0]),
                      (413, grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]),
                      (429, grpc.StatusCode.RESOURCE_EXHAUSTED.value[0])], logged


async def test_a_url_no_rule_maps_is_logged_without_its_path_which_may_hold_an_id_number(
        settings_base: Settings, backend: RunningServer, jwks: JwksEndpoint, keys: PlatformKeys) -> None:
    """A caller who types a wrong URL may put a person's ID number in it (``/v1/resources/<ID>/records``): the log
    withholds any path that is not a method's, and still logs a method's path, a mapped REST call's included."""
    edge = await start_edge(edge_settings(settings_base, backend.port, jwks.port, edge_access_log_percent=100.0))
    token = dict(bearer(keys, caller()))
    citizen_id = "11010519491231002X"
    try:
        unmapped = await asyncio.to_thread(_rest_status, edge, f"/v1/resources/{citizen_id}/records", token)
        digits = await asyncio.to_thread(_rest_status, edge, f"/{citizen_id}/Get", token)
        # A method name is the caller's text too: the shape of one (/package.Service/Method) is no safe path.
        method_shaped = await asyncio.to_thread(_rest_status, edge, f"/govshare.query.v1.QueryService/Z{citizen_id}",
                                                token)
        mapped = await asyncio.to_thread(_rest_status, edge, "/v1/entries/x", token)
    finally:
        edge.stop()
    assert [unmapped[0], mapped[0]] == [404, 200] and digits[0] != 200 and method_shaped[0] != 200
    assert citizen_id not in edge.log_text()
    paths = [line["path"] for line in _access_log_lines(edge)]
    assert paths.count(WITHHELD_PATH) == 3 and paths.count(GET_ENTRY) == 1, paths  # each call logged once


async def test_a_rest_call_refused_for_its_token_is_not_answered_with_its_url(edge: Edge) -> None:
    """The 401's WWW-Authenticate named the request's whole URL as its realm, query string included: an ID number
    typed where a code goes came back in a response header, which a client's or a proxy's log keeps, though the
    edge repeats a URL nowhere else. The realm is the platform's name; the challenge still says a token is needed,
    and error="invalid_token" for one refused."""
    citizen_id = "11010519491231002X"
    answers = [await asyncio.to_thread(_rest_raw, edge, "GET", f"/v1/entries/{citizen_id}?version=1", b"", headers)
               for headers in ({}, {"authorization": "Bearer x.y.z"})]
    assert [(status, headers.get("www-authenticate")) for status, headers, _ in answers] == [
        (401, 'Bearer realm="govshare"'), (401, 'Bearer realm="govshare", error="invalid_token"')], answers
    assert all(citizen_id not in str(headers) + content.decode() for _, headers, content in answers), answers


async def test_a_rest_answer_is_marked_for_no_cache_to_keep(edge: Edge, keys: PlatformKeys) -> None:
    """A REST answer may hold personal data (ListAccesses' record keys, a person's name, a GetEntry's reviewer),
    and came back with no Cache-Control: a browser page calling a GET through CORS (GOVSHARE_CORS_ORIGINS) had
    its answers written to the browser's disk cache, on a shared office computer too, though the edge keeps such
    data out of URLs for that reason. Every REST answer says ``no-store``: a successful GET, a POST's answer and a
    refusal, the edge's own and a service's."""
    token = dict(bearer(keys, caller()))
    json_body = {"content-type": "application/json"}
    read = await asyncio.to_thread(_rest_raw, edge, "GET", "/v1/entries/101001%2F000001", b"", token)
    head = await asyncio.to_thread(_rest_raw, edge, "HEAD", "/v1/entries/101001%2F000001", b"", token)
    issued = await asyncio.to_thread(_rest_raw, edge, "POST", "/v1/tokens", b'{"systemId": "s", "secret": "x"}',
                                     json_body)
    exported = await asyncio.to_thread(_rest_raw, edge, "POST", "/v1/resources/101001%2F000001:export",
                                       b'{"items": ["a"]}', {**token, **json_body})
    refused = await asyncio.to_thread(_rest_raw, edge, "POST", "/v1/resources/101001%2F000001:query",
                                      b'{"key": "k"}', {**token, **json_body})
    misspelt = await asyncio.to_thread(_rest_raw, edge, "POST", "/v1/resources/101001%2F000001:query",
                                       b'{"kye": "k"}', {**token, **json_body})
    unsigned = await asyncio.to_thread(_rest_raw, edge, "GET", "/v1/entries/101001%2F000001")
    unmapped = await asyncio.to_thread(_rest_raw, edge, "GET", "/v1/noSuchCollection", b"", token)
    other_verb = await asyncio.to_thread(_rest_raw, edge, "GET", "/v1/resources/101001%2F000001:query", b"", token)
    form = await asyncio.to_thread(_rest_raw, edge, "POST", "/v1/tokens", b"systemId=s&secret=x",
                                   {"content-type": "application/x-www-form-urlencoded"})
    answers = {"GET": read, "HEAD": head, "POST": issued, "Export": exported, "service": refused,
               "edge": misspelt, "token": unsigned, "URL": unmapped, "verb": other_verb, "form": form}
    assert [(name, answer[0]) for name, answer in answers.items()] == [
        ("GET", 200), ("HEAD", 200), ("POST", 200), ("Export", 200), ("service", 501), ("edge", 400),
        ("token", 401), ("URL", 404), ("verb", 405), ("form", 415)], answers
    assert {name: answer[1].get("cache-control") for name, answer in answers.items()} == dict.fromkeys(
        answers, "no-store"), answers


async def test_a_services_rest_401_carries_the_challenge_http_requires(edge: Edge, keys: PlatformKeys) -> None:
    """A 401 must carry WWW-Authenticate (RFC 9110 15.5.2). The edge's own had it, but a service's UNAUTHENTICATED
    (a token the service refused, its system disabled or its secret rotated; IssueToken's wrong secret) came as a
    401 without one: Java's HttpClient, built with an Authenticator (as for an office's authenticating proxy),
    then threw 'WWW-Authenticate header missing for response code 401' and the JSON saying why was lost. A refused
    token is challenged as the edge challenges one (error="invalid_token"), a call made without one (IssueToken)
    plainly; the body is the service's."""
    token = dict(bearer(keys, caller()))
    path = f"/v1/entries/{urllib.parse.quote(REVOKED_CODE, safe='')}"
    revoked = await asyncio.to_thread(_rest_raw, edge, "GET", path, b"", token)
    secret = await asyncio.to_thread(_rest_raw, edge, "POST", "/v1/tokens",
                                     json.dumps({"systemId": REFUSED_SYSTEM, "secret": "x"}).encode(),
                                     {"content-type": "application/json"})
    assert [(status, headers.get("www-authenticate")) for status, headers, _ in (revoked, secret)] == [
        (401, 'Bearer realm="govshare", error="invalid_token"'), (401, 'Bearer realm="govshare"')], (revoked, secret)
    assert json.loads(revoked[2])["details"][0]["reason"] == "SYSTEM_DISABLED", revoked
    assert json.loads(secret[2])["message"] == "unknown system id or wrong secret", secret


def _edge_info(reason: str) -> dict[str, object]:
    """The ErrorInfo of an edge's own refusal."""
    return {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "edge.govshare",
            "metadata": {}}


_UPSTREAM_STATUS_HEADER = "x-govshare-upstream-grpc-status"


def _rest_body(edge: Edge, path: str, headers: dict[str, str]) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(f"http://{edge.address}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _rest_answer(edge: Edge, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], dict[str, object]]:
    request = urllib.request.Request(f"http://{edge.address}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def _rest_send(edge: Edge, verb: str, path: str, body: dict[str, object],
               headers: dict[str, str]) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(f"http://{edge.address}{path}", data=json.dumps(body).encode(), method=verb,
                                     headers={**headers, "content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def test_a_rest_body_naming_another_object_than_its_url_is_refused(edge: Edge, keys: PlatformKeys) -> None:
    """PATCH /v1/entries/A with "code": "B" in the body changed B: the body's value overrode the URL's. It is a
    400 at the edge naming both values; the same value in both places goes through."""
    token = dict(bearer(keys, caller()))
    status, body = await asyncio.to_thread(_rest_send, edge, "PATCH", "/v1/entries/101001%2F000001?updateMask=name",
                                           {"code": "102001/000001", "name": "人口"}, token)
    assert status == 400 and body["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0], body
    assert '"101001/000001" of the field code is conflicting with the value "102001/000001"' in str(body["message"])
    status, body = await asyncio.to_thread(_rest_send, edge, "POST", "/v1/entries/101001%2F000001:submit",
                                           {"code": "101001/000001"}, token)
    assert status != 400, body


async def test_a_rest_body_naming_another_object_than_its_url_under_the_camel_case_name_is_refused(
        edge: Edge, keys: PlatformKeys) -> None:
    """POST /v1/resources/A:query with "resourceCode": "B" in the body answered about A without a word: the
    transcoder's collision check compares the body's names as written, so it caught resource_code but not the
    lowerCamelCase name a Java or .NET JSON library writes. It is a 400 at the edge naming the field, without the
    values; the URL's own value under that name, and the proto name (the transcoder's own refusal), behave as before."""
    token = {**dict(bearer(keys, caller())), "content-type": "application/json"}
    url, purpose = "/v1/resources/101001%2F000001:query", '"purpose": {"type": "PURPOSE_TYPE_WORK_REFERENCE"}'
    status, _, content = await asyncio.to_thread(_rest_raw, edge, "POST", url, (
        f'{{"resourceCode": "102001/000001", "key": "k", {purpose}}}').encode(), token)
    body = json.loads(content)
    assert status == 400 and body["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0], body
    assert body["message"] == ("resourceCode: differs from the {resource_code} the URL gives (the edge does not "
                               "repeat the values): the URL names the object; drop the field from the body, or "
                               "give it the URL's value"), body
    assert body["details"][1]["fieldViolations"][0]["field"] == "resourceCode", body
    assert b"102001" not in content
    status, _, content = await asyncio.to_thread(_rest_raw, edge, "POST", url, (
        f'{{"resource_code": "102001/000001", "key": "k", {purpose}}}').encode(), token)
    assert status == 400 and "of the field resource_code is conflicting" in json.loads(content)["message"], content
    for same in ("101001/000001", "101001\\u002f000001"):
        status, _, content = await asyncio.to_thread(_rest_raw, edge, "POST", url, (
            f'{{"key": "k", {purpose}, "resourceCode": "{same}"}}').encode(), token)
        assert status != 400, content


async def test_a_rest_query_parameter_without_a_value_or_a_name_is_refused(edge: Edge, keys: PlatformKeys) -> None:
    """The transcoder skipped a query parameter without "=" or without a name, silently, though it refuses an
    unknown one with a value: GET /v1/applications?overdueOnly listed every application, not the overdue ones,
    and ?pagesize passed where ?pagesize=5 is a 400. Each is refused naming what to write; parameters with
    values (a page token's "=" padding included) and empty segments ("&&", a trailing "&") pass."""
    token = dict(bearer(keys, caller()))
    for path in ("/v1/entries?pagesize", "/v1/entries?=5", "/v1/entries?pageSize=5&overdue",
                 "/v1/entries/101001%2F000001?version", "/v1/entries/101001%2F000001?version=1&=2"):
        status, answer = await asyncio.to_thread(_rest_body, edge, path, token)
        assert status == 400 and answer["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0], (path, answer)
        assert answer["message"] == ("a query parameter has no value or no name (?overdueOnly, ?=5): write each as "
                                     "name=value (overdueOnly=true), with the names /openapi.yaml gives"), answer
    for path in ("/v1/entries/101001%2F000001?version=1", "/v1/entries/101001%2F000001?version=1&&",
                 "/v1/entries/101001%2F000001?", "/v1/entries/101001%2F000001"):
        status, answer = await asyncio.to_thread(_rest_body, edge, path, token)
        assert status == 200 and answer["entry"]["code"] == "101001/000001", (path, answer)  # type: ignore[index]


async def test_a_rest_query_parameter_repeating_a_url_field_is_refused(edge: Edge, keys: PlatformKeys,
                                                                      channel: grpc.aio.Channel) -> None:
    """GET /v1/entries/A?code=B read B, and PATCH /v1/entries/A?entry.code=B changed B: the transcoder let the
    query parameter override the URL. Refused at the edge, in the field's every spelling; the same call without
    the parameter, and the method over gRPC, pass."""
    token = dict(bearer(keys, caller()))
    refusals = [await asyncio.to_thread(_rest_body, edge, path, token) for path in (
        "/v1/entries/101001%2F000001?code=102001%2F000001", "/v1/projects/P1/status?projectCode=P2",
        "/v1/projects/P1/status?project_code=P2")]
    refusals.append(await asyncio.to_thread(_rest_send, edge, "PATCH", "/v1/entries/101001%2F000001?updateMask=name"
                                            "&entry.code=102001%2F000001", {"name": "人口"}, token))
    for status, answer in refusals:
        assert status == 400 and answer["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0], answer
        assert "a query parameter repeats {" in str(answer["message"]), answer
        assert "which the URL gives: the URL names the object; drop the parameter" in str(answer["message"])
    assert "repeats {entry.code}" in str(refusals[-1][1]["message"])
    status, answer = await asyncio.to_thread(_rest_body, edge, "/v1/entries/101001%2F000001", token)
    assert status == 200 and answer["entry"]["code"] == "101001/000001", answer  # type: ignore[index]
    entry = await get_entry(channel)(catalog_pb2.GetEntryRequest(code="101001/000001"), metadata=bearer(keys, caller()))
    assert entry.entry.code == "101001/000001"


async def test_a_rest_query_parameter_given_twice_is_refused_unless_it_is_a_list(edge: Edge,
                                                                                keys: PlatformKeys) -> None:
    """GET /v1/entries?pageSize=1&pageSize=2 answered a page of one of them, without a word: a client building its
    URL from a default and a user's choice did not know which it got. A parameter that holds one value, given twice
    in any spelling, is refused naming it (the refusal named every parameter of the call that takes one value, ten
    of ListEntries', and left the caller to find the one given twice); different parameters pass."""
    token = dict(bearer(keys, caller()))
    for path, named in (("/v1/entries?pageSize=1&pageSize=2", "pageSize"),
                        ("/v1/entries?page_size=1&pageToken=t&pageSize=2", "pageSize"),
                        ("/v1/entries?filter.category=CATEGORY_THEME&filter.category=CATEGORY_FOUNDATION",
                         "filter.category"),
                        ("/v1/entries?pageSize=1&filter.provider_department_code=a&filter.providerDepartmentCode=b",
                         "filter.providerDepartmentCode"),
                        ("/v1/entries/101001%2F000001?version=1&version=2", "version")):
        status, answer = await asyncio.to_thread(_rest_body, edge, path, token)
        assert status == 400 and answer["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0], (path, answer)
        assert answer["message"] == ("a query parameter is given more than once, which only a list may be: "
                                     f"{named} takes one value; send it once"), (path, answer)
    for path in ("/v1/entries?pageSize=1&pageToken=pageSize", "/v1/entries/101001%2F000001?version=2"):
        status, answer = await asyncio.to_thread(_rest_body, edge, path, token)
        assert status == 200, (path, answer)


async def test_a_call_taking_its_fields_in_the_body_refuses_a_query_string(edge: Edge, keys: PlatformKeys) -> None:
    """POST /v1/resources/X:query?key=<ID number> answered the query and POST /v1/tokens?secret=… issued a token:
    the transcoder read the parameter as the field it names, though openapi.yaml declares no query parameter there
    and a key or a secret in a URL stays in proxies' logs. Refused at the edge in every spelling, before the
    backend; the same calls with the fields in the body pass."""
    token = dict(bearer(keys, caller()))
    query = "/v1/resources/101001%2F000001:query"
    refusals = [await asyncio.to_thread(_rest_send, edge, "POST", f"{query}?key=11010519491231002X", {}, token),
                await asyncio.to_thread(_rest_send, edge, "POST", f"{query}?resourceCode=102001%2F000001",
                                        {"key": "k"}, token),
                await asyncio.to_thread(_rest_send, edge, "POST", "/v1/tokens?secret=s3cret",
                                        {"systemId": "sys-1"}, {}),
                await asyncio.to_thread(_rest_send, edge, "POST", "/v1/tokens?system_id=sys-1&secret=s3cret", {}, {})]
    for status, answer in refusals:
        assert status == 400 and answer["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0], answer
        assert str(answer["message"]).startswith("this call takes no query parameter: every field goes in the JSON "
                                                 "body"), answer
    status, answer = await asyncio.to_thread(_rest_send, edge, "POST", "/v1/tokens",
                                             {"systemId": "sys-1", "secret": "s3cret"}, {})
    assert status == 200 and answer["token"] == "none|sys-1", answer


def _rest_raw(edge: Edge, verb: str, path: str, body: bytes = b"",
              headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(f"http://{edge.address}{path}", data=body or None, method=verb,
                                     headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


async def test_a_rest_url_sent_with_another_method_is_405_naming_the_method_it_takes(
        edge: Edge, keys: PlatformKeys) -> None:
    """GET on /v1/resources/X:query (a POST) was 404 "Could not resolve … to a method", as if the URL were wrong:
    it is 405 with Allow and a JSON google.rpc.Status naming the URL's methods. A URL no rule has stays 404; the
    OpenAPI document answers HEAD as GET does."""
    token = dict(bearer(keys, caller()))
    cases = [("GET", "/v1/resources/101001%2F000001:query", "POST"),
             ("PUT", "/v1/entries", "POST, GET, HEAD"),
             ("DELETE", "/v1/entries/101001%2F000001", "GET, HEAD, PATCH"),
             ("GET", "/v1/entries/101001%2F000001:submit?x=1", "POST"),
             ("POST", "/openapi.yaml", "GET, HEAD")]
    for verb, path, allowed in cases:
        status, headers, body = await asyncio.to_thread(_rest_raw, edge, verb, path, b"{}" if verb != "GET" else b"",
                                                        {**token, "content-type": "application/json"})
        answer = json.loads(body)
        assert (status, headers.get("allow")) == (405, allowed), (verb, path, status, headers, body)
        assert answer["code"] == grpc.StatusCode.UNIMPLEMENTED.value[0], answer
        assert f"takes {allowed.replace(', ', ' or ')}, not {verb}: send it so" in answer["message"], answer
    status, _, body = await asyncio.to_thread(_rest_raw, edge, "GET", "/v1/entrys", b"", token)
    assert status == 404 and json.loads(body)["code"] == grpc.StatusCode.NOT_FOUND.value[0], body
    status, headers, _ = await asyncio.to_thread(_rest_raw, edge, "HEAD", "/openapi.yaml")
    assert status == 200 and headers["content-type"].startswith("application/yaml"), (status, headers)


async def test_a_rest_url_with_an_extra_slash_is_404_saying_to_drop_it(edge: Edge, keys: PlatformKeys) -> None:
    """/v1/tokens/ or /v1/resources/X/:query (a trailing slash, two in a row), which /openapi.yaml gives no URL of,
    reached the operation past every check of its body: {"systemI": "a"} to /v1/tokens/ issued a token without a
    word (/v1/tokens refuses it naming the field), and a GET's body to /v1/entries/ was read as its request. Each is
    404 as a URL no rule maps, saying to drop the slash, the URL not repeated; a slash in the query string is no
    path's."""
    token = dict(bearer(keys, caller()))
    message = ("no operation has this URL: it ends in a slash, or holds two slashes in a row or one before a custom "
               "method's ':', which no operation's URL does (the edge does not repeat it): drop the extra slash "
               "(/v1/entries, not /v1/entries/); each operation's method and URL are in /openapi.yaml")
    expected = {"code": grpc.StatusCode.NOT_FOUND.value[0], "message": message, "details": [_edge_info("NOT_FOUND")]}
    json_body = {"content-type": "application/json"}
    for verb, path, body, headers in (
            ("POST", "/v1/tokens/", b'{"systemI": "a"}', json_body),
            ("GET", "/v1/entries/?pageSize=2", b"", token),
            ("GET", "/v1/entries/", b'{"filter": {"category": "CATEGORY_THEME"}}', {**token, **json_body}),
            ("GET", "/v1/entries//101001%2F000001", b"", token),
            ("POST", "/v1/resources/101001%2F000001/:query", b'{"key": "k", "itmes": []}', {**token, **json_body})):
        status, _, content = await asyncio.to_thread(_rest_raw, edge, verb, path, body, headers)
        assert (status, json.loads(content)) == (404, expected), (verb, path, content)
    status, _, content = await asyncio.to_thread(_rest_raw, edge, "HEAD", "/v1/entries/", b"", token)
    assert (status, content) == (404, b""), content
    status, _, content = await asyncio.to_thread(_rest_raw, edge, "GET", "/v1/entries?pageToken=a/", b"", token)
    assert status != 404, content


async def test_head_on_a_rest_url_that_takes_get_answers_as_get_without_the_body(edge: Edge,
                                                                                 keys: PlatformKeys) -> None:
    """HEAD on GET /v1/entries/{code} was 405 (the transcoder has no rule for HEAD), though HTTP has every GET URL
    answer HEAD (RFC 9110 9.3.2) and clients use it to check that a resource exists. It answers as the GET does,
    status and headers, content-length included, without the body; HEAD on a URL with no GET stays 405."""
    token = dict(bearer(keys, caller()))
    status, headers, content = await asyncio.to_thread(_rest_raw, edge, "HEAD", "/v1/entries/101001%2F000001", b"",
                                                       token)
    assert (status, headers["content-type"], content) == (200, "application/json", b""), (status, headers)
    assert int(headers["content-length"]) > 0, headers
    # (the double's entry holds the call's remaining time, so compare an answer that does not change: its refusal)
    path = "/v1/entries/" + FAILING_CODE.replace("/", "%2F")
    got, got_headers, body = await asyncio.to_thread(_rest_raw, edge, "GET", path, b"", token)
    status, headers, content = await asyncio.to_thread(_rest_raw, edge, "HEAD", path, b"", token)
    assert (status, content) == (got, b"") and got == 400, (status, headers, content)
    assert headers["content-length"] == got_headers["content-length"] == str(len(body)), (headers, got_headers)
    status, headers, _ = await asyncio.to_thread(_rest_raw, edge, "HEAD", "/v1/resources/101001%2F000001:query",
                                                 b"", token)
    assert (status, headers.get("allow")) == (405, "POST"), (status, headers)


async def test_a_rest_url_no_rule_maps_is_404_without_the_url(edge: Edge, keys: PlatformKeys) -> None:
    """The transcoder's 404 was "Could not resolve /v1/resources/<an ID number>/records to a method.": the caller's
    path, which the edge's access log withholds for that reason, came back in the error. It says where the URLs are
    and how a resource code is written, without the URL. So is the root, the REST base URL `govshare up` prints,
    which was told to drop a slash too many (as /v1/entries/ is)."""
    for path in ("/v1/resources/342322194911060454/records", "/v1/resources/101001/000001:query", "/v2/entries", "/",
                 "/?x=1"):
        status, _, body = await asyncio.to_thread(_rest_raw, edge, "GET", path, b"", dict(bearer(keys, caller())))
        assert (status, json.loads(body)) == (404, {
            "code": grpc.StatusCode.NOT_FOUND.value[0], "details": [_edge_info("NOT_FOUND")], "message": (
                "no operation has this URL (the edge does not repeat it): each operation's method and URL are in "
                "/openapi.yaml; a resource code is one path segment, its / written %2F "
                "(/v1/resources/101001%2F000001:query)")}), (path, body)


async def test_a_rest_url_with_its_methods_colon_percent_encoded_is_told_to_write_it_as_is(
        edge: Edge, keys: PlatformKeys) -> None:
    """A client that percent-encoded the whole last segment, the custom method's ':' with the code (quote(code +
    ':submit', safe=''), URLEncoder.encode on both), was told of a method it did not mean: POST
    /v1/entries/101001%2F000001%3Asubmit was 405 '/v1/entries/{code} takes GET or HEAD or PATCH, not POST', and
    …%3Aquery 404 'no operation has this URL'. Either is 404 saying the ':' goes as it is."""
    token = {**dict(bearer(keys, caller())), "content-type": "application/json"}
    for path in ("/v1/entries/101001%2F000001%3Asubmit", "/v1/resources/101001%2F000001%3aquery",
                 "/v1/systems/sys-1%3ArotateSecret?x=1"):
        status, _, body = await asyncio.to_thread(_rest_raw, edge, "POST", path, b"{}", token)
        answer = json.loads(body)
        assert (status, answer["code"]) == (404, grpc.StatusCode.NOT_FOUND.value[0]), (path, body)
        assert answer["message"].startswith("no operation has this URL: its last segment holds %3A, the ':' that "
                                            "begins a custom method (:query, :submit) percent-encoded"), answer


async def test_a_rest_url_with_a_percent_that_begins_no_escape_is_refused_naming_where(
        edge: Edge, keys: PlatformKeys) -> None:
    """A '%' not followed by two hexadecimal digits (%zz, a lone or cut one) was kept as it was by the transcoder:
    /v1/entries/101001%zz000001 reached the catalog as that code, refused as no code's shape, and
    ?filter.subject=%zz searched for the text "%zz" and answered an empty page without a word. It is 400 at the edge
    naming the URL's variable or the query parameter (as a BadRequest's field), without the value; a URL encoded
    right, Chinese included, passes."""
    token = {**dict(bearer(keys, caller())), "content-type": "application/json"}
    citizen_id = "110105194912310%2X"
    cases = [("GET", "/v1/entries/101001%zz000001", "the URL's {code} ", "code"),
             ("GET", f"/v1/entries/{citizen_id}", "the URL's {code} ", "code"),
             ("POST", "/v1/resources/101001%2F00000%:query", "the URL's {resource_code} ", "resource_code"),
             ("GET", "/v1/entries?pageSize=2&filter.subject=%zz", "the query parameter filter.subject ",
              "filter.subject"),
             ("GET", "/v1/entries?pageToken=ab%2", "the query parameter pageToken ", "pageToken")]
    for verb, path, named, field in cases:
        status, _, body = await asyncio.to_thread(_rest_raw, edge, verb, path, b'{"key": "k"}' if verb == "POST"
                                                  else b"", token)
        answer = json.loads(body)
        assert (status, answer.get("code")) == (400, grpc.StatusCode.INVALID_ARGUMENT.value[0]), (path, body)
        assert answer["message"].startswith(f"{named}holds a '%' that begins no percent-encoded byte"), answer
        assert answer["details"][1]["fieldViolations"][0]["field"] == field, answer
        assert "zz" not in body.decode() and "194912310" not in body.decode(), body
    for path in ("/v1/entries/101001%2F000001", "/v1/entries?filter.subject=%E4%BA%BA%E5%8F%A3&pageSize=2"):
        status, _, body = await asyncio.to_thread(_rest_raw, edge, "GET", path, b"", token)
        assert status == 200, (path, body)


async def test_a_rest_query_parameter_whose_name_is_percent_encoded_is_refused(edge: Edge, keys: PlatformKeys) -> None:
    """The transcoder decodes a parameter's name, and the edge's routes check the names as written: GET
    /v1/entries/A?c%6Fde=B read B where the URL names A (?code=B is refused), and ?page%53ize=1&pageSize=2 kept one
    of the two without a word. A name written percent-encoded is 400 naming it decoded (when it has a field's
    shape); values stay percent-encoded as before."""
    token = dict(bearer(keys, caller()))
    for path, field in (("/v1/entries/101001%2F000001?c%6Fde=102001%2F000001", "code"),
                        ("/v1/entries?page%53ize=1&pageSize=2", "pageSize"),
                        ("/v1/entries?pageSize=1&%31%32=3", None)):
        status, _, body = await asyncio.to_thread(_rest_raw, edge, "GET", path, b"", token)
        answer = json.loads(body)
        assert (status, answer.get("code")) == (400, grpc.StatusCode.INVALID_ARGUMENT.value[0]), (path, body)
        assert answer["message"].startswith("a query parameter's name is percent-encoded"), answer
        violations = [d for d in answer["details"] if d["@type"].endswith("BadRequest")]
        assert [v["field"] for d in violations for v in d["fieldViolations"]] == ([field] if field else []), answer
    status, _, body = await asyncio.to_thread(_rest_raw, edge, "GET", "/v1/entries?filter.subject=%E4%BA%BA", b"",
                                              token)
    assert status == 200, body


def _http_10(edge: Edge, request: bytes) -> bytes:
    """One exchange over a raw socket (HTTP/1.0, or a request the edge answers by closing): the answer, read
    until the edge closes the connection."""
    host, port = edge.address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


async def test_an_http_1_0_rest_call_is_answered(edge: Edge) -> None:
    """An HTTP/1.0 request (nginx's proxy_pass by default) was Envoy's plain-text "426 Upgrade Required"."""
    body = json.dumps({"systemId": "sys-1", "secret": "s3cret"}).encode()
    answer = await asyncio.to_thread(_http_10, edge, b"POST /v1/tokens HTTP/1.0\r\nHost: edge\r\ncontent-type: "
                                     b"application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
    head, _, content = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200"), answer
    assert json.loads(content)["token"] == "none|sys-1", answer
    # HTTP/1.0 has no Host header to send (it came in HTTP/1.1): such a call was 400 with an empty message.
    answer = await asyncio.to_thread(_http_10, edge, b"POST /v1/tokens HTTP/1.0\r\ncontent-type: application/json"
                                     b"\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
    assert answer.startswith(b"HTTP/1.0 200"), answer


async def test_a_compressed_rest_body_is_415_saying_to_send_it_uncompressed(edge: Edge) -> None:
    """A gzip body (content-encoding: gzip) was 400 "Encountered non UTF-8 code points" followed by the compressed
    bytes, never naming the encoding: it is 415 saying so and what to send instead. The same body uncompressed,
    and one that says content-encoding: identity, pass."""
    text = json.dumps({"systemId": "市民政局", "secret": "s3cret"}, ensure_ascii=False).encode()
    status, _, body = await asyncio.to_thread(_rest_raw, edge, "POST", "/v1/tokens", gzip.compress(text),
                                              {"content-type": "application/json", "content-encoding": "gzip"})
    answer = json.loads(body)
    assert status == 415 and answer["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0], body
    assert answer["message"] == ("the body is compressed (content-encoding: gzip), which the edge does not undo: "
                                 "send the JSON body uncompressed, without content-encoding"), answer
    for headers in ({}, {"content-encoding": "identity"}):
        status, _, body = await asyncio.to_thread(_rest_raw, edge, "POST", "/v1/tokens", text,
                                                  {"content-type": "application/json", **headers})
        assert status == 200 and json.loads(body)["token"] == "none|市民政局", body



async def test_a_rest_body_declaring_a_content_encoding_is_checked_or_refused_never_passed_unchecked(
        edge: Edge) -> None:
    """The edge's checks of a body stepped aside for any content-encoding, and the transcoder read the bytes as JSON
    whatever the header said: {"systemI": ...} sent with content-encoding: identity (which says the body is not
    compressed) or gzip issued a token without a word, as a misspelt "itmes" asked for every item. identity is
    checked as no encoding; any other is 415 before the body is read."""
    misspelt = json.dumps({"systemI": "sys-1", "secret": "s3cret"}).encode()
    for encoding in ("identity", "IDENTITY", "identity, identity"):
        status, _, body = await asyncio.to_thread(_rest_raw, edge, "POST", "/v1/tokens", misspelt,
                                                  {"content-type": "application/json", "content-encoding": encoding})
        assert status == 400 and json.loads(body)["message"].startswith("systemI: not a field of "), (encoding, body)
    for encoding in ("gzip", "br", "identity, gzip"):
        status, _, body = await asyncio.to_thread(_rest_raw, edge, "POST", "/v1/tokens", misspelt,
                                                  {"content-type": "application/json", "content-encoding": encoding})
        assert status == 415 and json.loads(body)["message"] == (
            f"the body is compressed (content-encoding: {encoding}), which the edge does not undo: send the JSON body "
            "uncompressed, without content-encoding"), (encoding, body)


async def test_a_rest_body_declared_in_another_charset_than_utf_8_is_415_saying_to_send_utf_8(edge: Edge) -> None:
    """A body a client declares in another charset was read as UTF-8 all the same: GBK bytes that happen to be valid
    UTF-8 went on as other characters (系统 as ϵͳ: live on govshare up, IssueToken's 'unknown system id'), and
    Apache HttpClient's StringEntity without a content type (text/plain; charset=ISO-8859-1) had written every
    Chinese character as '?', which went on as '?'. Either is 415 saying the edge reads UTF-8 only; charset=utf-8,
    in any spelling, or none, passes."""
    text = {"systemId": "市民政局", "secret": "s3cret"}
    refused = [("application/json; charset=GBK", json.dumps(text, ensure_ascii=False).encode("gbk"), "GBK"),
               ("text/plain; charset=ISO-8859-1",
                json.dumps(text, ensure_ascii=False).encode("latin-1", errors="replace"), "ISO-8859-1"),
               ('application/json;charset="gb2312"', json.dumps(text).encode(), "gb2312")]
    for content_type, body, charset in refused:
        status, _, answer = await asyncio.to_thread(_rest_raw, edge, "POST", "/v1/tokens", body,
                                                    {"content-type": content_type})
        status_json = json.loads(answer)
        assert (status, status_json["code"]) == (415, grpc.StatusCode.INVALID_ARGUMENT.value[0]), answer
        assert status_json["message"].startswith(f"the body is declared in charset {charset}, and the edge reads "
                                                 "JSON in UTF-8 only"), status_json
    utf8 = json.dumps(text, ensure_ascii=False).encode()
    for content_type in ("application/json; charset=utf-8", "application/json;charset=UTF8",
                         'application/json; charset="UTF-8"', "application/json"):
        status, _, answer = await asyncio.to_thread(_rest_raw, edge, "POST", "/v1/tokens", utf8,
                                                    {"content-type": content_type})
        assert status == 200 and json.loads(answer)["token"] == "none|市民政局", (content_type, answer)


async def test_a_rest_body_sent_as_an_html_form_is_415_saying_to_send_json(edge: Edge) -> None:
    """A form's body (application/x-www-form-urlencoded, systemId=...&secret=..., or multipart/form-data) was read
    as JSON all the same and refused "the body is not valid JSON: Unexpected token", nothing saying that the edge
    takes no form. Either is 415 saying to send a JSON object with content-type application/json; a JSON body sent
    with the form's type (curl -d without -H) passes as it did."""
    multipart = (b'--b\r\ncontent-disposition: form-data; name="systemId"\r\n\r\n\xe5\xb8\x82\r\n--b--\r\n')
    for content_type, body in (("application/x-www-form-urlencoded", b"systemId=%E5%B8%82&secret=s3cret"),
                               ("Application/X-WWW-Form-Urlencoded; charset=utf-8", b"systemId=x"),
                               ("multipart/form-data; boundary=b", multipart)):
        status, _, answer = await asyncio.to_thread(_rest_raw, edge, "POST", "/v1/tokens", body,
                                                    {"content-type": content_type})
        media = content_type.lower().partition(";")[0]
        message = (f"the body is sent as an HTML form (content-type {media}), and the edge reads JSON only: send the "
                   'call\'s fields as one JSON object, {"name": value, ...}, with content-type: application/json '
                   "(/openapi.yaml gives each call's body)")
        assert (status, json.loads(answer)) == (415, {"code": grpc.StatusCode.INVALID_ARGUMENT.value[0],
                                                      "message": message,
                                                      "details": [_edge_info("INVALID_ARGUMENT")]}), answer
    status, _, answer = await asyncio.to_thread(_rest_raw, edge, "POST", "/v1/tokens",
                                                b' {"systemId": "x", "secret": "s3cret"}',
                                                {"content-type": "application/x-www-form-urlencoded"})
    assert status == 200 and json.loads(answer)["token"] == "none|x", answer


async def test_a_rest_body_beginning_with_a_byte_order_mark_is_read_without_it(edge: Edge) -> None:
    """A body saved as "UTF-8 with BOM" (Notepad, Windows PowerShell's Out-File) was 400 "the body is not valid
    JSON: Expected a value", nothing saying what was wrong with a body that looked right. The edge drops the mark
    (RFC 8259 lets a parser ignore it); the body is then read and checked as any other."""
    text = json.dumps({"systemId": "市民政局", "secret": "s3cret"}, ensure_ascii=False, indent=1).encode()
    status, _, body = await asyncio.to_thread(_rest_raw, edge, "POST", "/v1/tokens", b"\xef\xbb\xbf" + text,
                                              {"content-type": "application/json"})
    assert status == 200 and json.loads(body)["token"] == "none|市民政局", body
    status, _, body = await asyncio.to_thread(_rest_raw, edge, "POST", "/v1/tokens",
                                              b'\xef\xbb\xbf{"systemId": "sys-1", "secert": "s"}',
                                              {"content-type": "application/json"})
    assert status == 400 and "secert" in json.loads(body)["message"], body


async def _drained(stream: grpc.aio.UnaryStreamCall) -> None:
    async for _ in stream:
        pass


async def test_a_message_over_the_limit_is_413_over_rest_and_resource_exhausted_over_grpc(
        edge: Edge, keys: PlatformKeys, channel: grpc.aio.Channel) -> None:
    """A REST body over the services' 8 MiB was the backend's RESOURCE_EXHAUSTED as HTTP 429, which REST clients'
    retry policies resend (the same body, refused the same way): it is 413, a JSON google.rpc.Status saying the
    limit and what to do, with an ErrorInfo. A gRPC caller keeps gRPC's RESOURCE_EXHAUSTED naming the limit. (An
    Export's request, a list of items, has no limit of its own at the edge: a token's or an entry's has, far
    less, see test_a_message_over_what_its_method_can_need_is_refused_at_the_edge_naming_the_limit.)"""
    body = json.dumps({"items": ["x" * MAX_MESSAGE_BYTES]}).encode()
    status, headers, content = await asyncio.to_thread(_rest_raw, edge, "POST", "/v1/resources/101001%2F000001:export",
                                                       body, {**dict(bearer(keys, caller())),
                                                              "content-type": "application/json"})
    answer = json.loads(content)
    assert status == 413 and headers["content-type"] == "application/json", (status, headers, content[:300])
    assert answer["code"] == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0], answer
    assert answer["message"].startswith("the request is over the 8 MiB (8,388,608 bytes) a call's message may be ("
                                        f"{MAX_MESSAGE_BYTES + 20} bytes): it is refused whatever it holds"), answer
    assert answer["details"] == [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "MESSAGE_TOO_LARGE",
                                  "domain": "edge.govshare", "metadata": {"limit_bytes": str(MAX_MESSAGE_BYTES)}}]
    export = channel.unary_stream("/govshare.query.v1.QueryService/Export",
                                  request_serializer=query_pb2.ExportRequest.SerializeToString,
                                  response_deserializer=query_pb2.ExportResponse.FromString)
    error = await failure(_drained(export(query_pb2.ExportRequest(items=["x" * MAX_MESSAGE_BYTES]),
                                          metadata=bearer(keys, caller()))))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and str(MAX_MESSAGE_BYTES) in error.details(), error


async def test_a_rest_body_larger_than_the_edge_checks_is_413_not_passed_on_unchecked(edge: Edge,
                                                                                    keys: PlatformKeys) -> None:
    """A REST body over the 16 MiB the edge reads to check its field names went on unchecked, on the belief that
    its message was over the services' 8 MiB whatever it held; but JSON indented, or with its Chinese as \\u escapes
    (Python's json.dumps by default), is more than twice its message: {"itmes": [...], <indentation>} was answered
    as an export of every item, the misspelt field dropped without a word. It is 413 RESOURCE_EXHAUSTED
    BODY_TOO_LARGE saying how to send the JSON smaller, on its headers (a client waiting for 100 Continue, as
    curl and .NET do for a large body, sends none of it)."""
    start, size = b'{"itmes": ["name"], ', BODY_CHECK_BYTES + 64  # the rest: indentation, then the purpose
    token = bearer(keys, caller())[0][1]
    answer_bytes = await asyncio.to_thread(_http_10, edge, (
        "POST /v1/resources/101001%2F000001:export HTTP/1.1\r\nhost: edge\r\ncontent-type: application/json\r\n"
        f"authorization: {token}\r\nexpect: 100-continue\r\ncontent-length: {size}\r\n\r\n").encode() + start)
    head, _, content = answer_bytes.removeprefix(b"HTTP/1.1 100 Continue\r\n\r\n").partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 ") and b"content-type: application/json" in head.lower(), answer_bytes[:600]
    answer = json.loads(content)
    assert answer["code"] == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0], answer
    assert answer["message"].startswith(f"the request's JSON is {size} bytes, more than the 16 MiB "
                                        "(16,777,216 bytes) the edge reads of a body"), answer
    assert "ensure_ascii=False" in answer["message"], answer
    assert answer["details"] == [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "BODY_TOO_LARGE",
                                  "domain": "edge.govshare", "metadata": {"limit_bytes": str(BODY_CHECK_BYTES)}}]


def _chunked_past_the_check(edge: Edge, authorization: str) -> bytes:
    """The edge's answer to a chunked REST body (no content-length) one byte past what the edge holds to check."""
    size = BODY_CHECK_BYTES + 1
    start = b'{"items": ["name"], '
    return _http_10(edge, (
        "POST /v1/resources/101001%2F000001:export HTTP/1.1\r\nhost: edge\r\ncontent-type: application/json\r\n"
        f"authorization: {authorization}\r\ntransfer-encoding: chunked\r\n\r\n{size:x}\r\n"
    ).encode() + start + b" " * (size - len(start)))


async def test_a_rest_body_without_a_length_growing_past_what_the_edge_checks_is_told_so(edge: Edge,
                                                                                        keys: PlatformKeys) -> None:
    """A chunked body (no content-length) past the 16 MiB the edge holds to check it was Envoy's "Payload Too
    Large", RESOURCE_EXHAUSTED without a limit or what to do. It says both, ErrorInfo BODY_TOO_LARGE as a body
    declared that large."""
    answer_bytes = await asyncio.to_thread(_chunked_past_the_check, edge, bearer(keys, caller())[0][1])
    head, _, content = answer_bytes.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 "), answer_bytes[:600]
    answer = json.loads(content)
    assert answer["code"] == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0], answer
    assert answer["message"].startswith("the request's JSON grew past the 16 MiB (16,777,216 bytes) the edge reads "
                                        "of a body (it came without a content-length)"), answer
    assert answer["details"] == [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "BODY_TOO_LARGE",
                                  "domain": "edge.govshare", "metadata": {"limit_bytes": str(BODY_CHECK_BYTES)}}]


async def test_an_answer_too_large_for_one_reply_is_413_over_rest_not_a_429_to_retry(
        edge: Edge, keys: PlatformKeys, channel: grpc.aio.Channel) -> None:
    """A BatchQuery whose answer would not fit one reply is RESOURCE_EXHAUSTED REPLY_TOO_LARGE, "not retried: the
    same call gets the same answer" (docs/api.md), yet REST answered it 429, which retry policies resend. It is 413
    over REST, its words and details kept; gRPC callers keep RESOURCE_EXHAUSTED."""
    path = "/v1/entries/" + TOO_LARGE_CODE.replace("/", "%2F")
    status, headers, content = await asyncio.to_thread(_rest_raw, edge, "GET", path, b"",
                                                       dict(bearer(keys, caller())))
    answer = json.loads(content)
    assert status == 413 and answer["code"] == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0], (status, answer)
    assert answer["message"].endswith("ask for less") and "retry-after" not in headers, (answer, headers)
    assert answer["details"][0]["reason"] == "REPLY_TOO_LARGE", answer
    error = await failure(get_entry(channel)(catalog_pb2.GetEntryRequest(code=TOO_LARGE_CODE),
                                             metadata=bearer(keys, caller())))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error


async def test_a_services_own_retry_delay_is_also_retry_after_over_rest(edge: Edge, keys: PlatformKeys) -> None:
    """A service's UNAVAILABLE (a database down) carried when to retry only in its RetryInfo, in the JSON body,
    which Java's and .NET's retry policies do not read; they read Retry-After, which the edge's own 429 and 503
    send. The same delay is Retry-After, in whole seconds rounded up, the body unchanged."""
    path = "/v1/entries/" + UNAVAILABLE_CODE.replace("/", "%2F")
    status, headers, content = await asyncio.to_thread(_rest_raw, edge, "GET", path, b"",
                                                       dict(bearer(keys, caller())))
    answer = json.loads(content)
    assert (status, headers.get("retry-after")) == (503, "2"), (status, headers, answer)
    assert {detail["@type"].rpartition(".")[2]: detail for detail in answer["details"]}["RetryInfo"] == {
        "@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1.500s"}, answer


SECRET = "s3cret-342322194911060454"


@pytest.mark.parametrize(("body", "message"), [
    (f'{{"systemId": "sys-1", "secret": {SECRET}}}',
     'the body is not valid JSON: Unexpected token, after the field "secret" (the edge does not repeat the body\'s '
     "text); send the body as RFC 8259 JSON in UTF-8"),
    (f"systemId=sys-1&secret={SECRET}",
     "the body is not valid JSON: Unexpected token (the edge does not repeat the body's text); send the body as "
     "RFC 8259 JSON in UTF-8"),
    (f'{{"systemId": "sys-1", "secret": "{SECRET}"',
     "the body is not valid JSON: Unexpected end of string. Expected , or } after key:value pair (the edge does not "
     "repeat the body's text); send the body as RFC 8259 JSON in UTF-8"),
    (f'{{"systemId": {SECRET.split("-")[1]}}}', "systemId: not a JSON string (the edge does not repeat the value)"),
    (f'{{"systemId": {{"id": "{SECRET}"}}}}',
     "systemId: an object where a single value goes: send the field's one value (/openapi.yaml gives each field's "
     "type)"),
])
async def test_a_rest_body_the_transcoder_cannot_read_is_refused_without_its_values(edge: Edge, body: str,
                                                                                   message: str) -> None:
    """The transcoder's words for a body it could not read quoted the body around the fault ("...\"secret\":
    s3cret-…}" and a caret) or the value it refused ("invalid value 342322194911060454 for type TYPE_STRING"): a
    secret or an ID number came back in the error, into the caller's logs and proxies. The refusal says what is
    wrong and where, without the caller's text."""
    status, headers, content = await asyncio.to_thread(_rest_raw, edge, "POST", "/v1/tokens", body.encode(),
                                                       {"content-type": "application/json"})
    assert status == 400 and headers["content-type"] == "application/json", (status, headers, content)
    answer = json.loads(content)
    assert (answer["code"], answer["message"]) == (grpc.StatusCode.INVALID_ARGUMENT.value[0], message), content
    assert b"342322194911060454" not in content and "x-govshare-transcode-failure" not in headers
    # A refusal naming a field carries it as the services' do (ErrorInfo, BadRequest); the others name none.
    field, _, description = message.partition(": ")
    assert answer["details"] == ([_edge_info("INVALID_ARGUMENT")] if " " in field else [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "INVALID_ARGUMENT", "domain": "edge.govshare",
         "metadata": {}},
        {"@type": "type.googleapis.com/google.rpc.BadRequest",
         "fieldViolations": [{"field": field, "description": description, "reason": ""}]}]), answer


@pytest.mark.parametrize("body", ["[]", "null", '"s3cret"', "42"])
async def test_a_rest_body_that_is_json_but_not_an_object_is_told_to_send_one(edge: Edge, body: str) -> None:
    """A JSON array, string, number or null as the body was ": Root element must be a message.": an empty field
    name and a protobuf word. It says the body must be one object of the request's fields."""
    status, _, content = await asyncio.to_thread(_rest_raw, edge, "POST", "/v1/tokens", body.encode(),
                                                 {"content-type": "application/json"})
    assert (status, json.loads(content)) == (400, {
        "code": grpc.StatusCode.INVALID_ARGUMENT.value[0], "details": [_edge_info("INVALID_ARGUMENT")], "message": (
            'the body is not a JSON object: send the request\'s fields as one object, {"name": value, ...}, not an '
            "array, a string or null (/openapi.yaml gives each call's body)")}), content
    status, _, content = await asyncio.to_thread(_rest_raw, edge, "POST", "/v1/tokens",
                                                 b'{"systemId": ["sys-1"], "secret": "s"}',
                                                 {"content-type": "application/json"})
    assert (status, json.loads(content)["message"]) == (400, "systemId: a list ([...]) where a single value goes: "
                                                        "send the field's one value (/openapi.yaml gives each "
                                                        "field's type)"), content


async def test_an_unknown_rest_query_parameter_is_named_only_when_it_has_a_fields_shape(edge: Edge,
                                                                                     keys: PlatformKeys) -> None:
    """An unknown parameter was 'Could not find field "<its name>" in the type "…ListEntriesRequest".': a name
    that is an ID number (?342322194911060454=1, a client writing a key where a name goes) came back as it was.
    A name with a field's shape is the BadRequest's field, as a service names a field it refuses."""
    token = dict(bearer(keys, caller()))
    status, answer = await asyncio.to_thread(_rest_body, edge, "/v1/entries?342322194911060454=1", token)
    assert (status, answer["message"]) == (400, (
        "a query parameter is not one this call takes (the edge repeats only a name a field may have): its "
        "parameters are in /openapi.yaml, nested fields dotted (filter.category)")), answer
    assert answer["details"] == [_edge_info("INVALID_ARGUMENT")], answer
    status, answer = await asyncio.to_thread(_rest_body, edge, "/v1/entries?pagesize=5", token)
    assert status == 400 and str(answer["message"]).startswith('the query parameter "pagesize" is not one'), answer
    # Named, it is the BadRequest's field too, as a service's refusal names a field (details were empty).
    assert answer["details"] == [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "INVALID_ARGUMENT", "domain": "edge.govshare",
         "metadata": {}},
        {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [{
            "field": "pagesize", "description": "not a query parameter this call takes: its parameters are in "
            "/openapi.yaml", "reason": ""}]}], answer
    # A nested one is named as it was sent (the transcoder's words name its last segment only, "categry").
    status, answer = await asyncio.to_thread(_rest_body, edge, "/v1/entries?pageSize=2&filter.categry=X", token)
    assert status == 400 and str(answer["message"]).startswith('the query parameter "filter.categry" is not one')
    assert answer["details"][1]["fieldViolations"][0]["field"] == "filter.categry", answer  # type: ignore[index]
    # A bearer token sent in the URL (RFC 6750's ?access_token=, which API tools offer) is told where a token goes,
    # without the token (a GET's; a call whose fields all go in its body refuses any query string).
    secret = token["authorization"].split()[1]
    status, _, content = await asyncio.to_thread(_rest_raw, edge, "GET", f"/v1/entries?access_token={secret}")
    assert status == 400 and json.loads(content)["message"] == (
        'the query parameter "access_token" is not one this call takes: a bearer token goes in the Authorization '
        "header (Authorization: Bearer <token>), never in a URL, which proxies, browser histories and logs keep; "
        "this one was sent in a URL: get a new one to use"), content
    assert secret.split(".")[2].encode() not in content, content


def _unknown_body_field(field: str, description: str) -> dict[str, object]:
    return {"code": grpc.StatusCode.INVALID_ARGUMENT.value[0], "message": f"{field}: {description}", "details": [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "INVALID_ARGUMENT", "domain": "edge.govshare",
         "metadata": {}},
        {"@type": "type.googleapis.com/google.rpc.BadRequest",
         "fieldViolations": [{"field": field, "description": description, "reason": ""}]}]}


async def test_a_rest_body_naming_a_field_its_message_does_not_have_is_refused_naming_it(edge: Edge,
                                                                                      keys: PlatformKeys) -> None:
    """The transcoder dropped a body's unknown field without a word: {"itmes": [...]} asked a query for every item
    the grant allows, {"purpose": {"txet": ...}} for no purpose text. Each is 400 naming the field (a BadRequest, as
    the services' refusals), nested fields and list elements by their path, a name that may be an ID number not
    repeated; names the transcoder reads (camelCase, proto names, escapes), a map's keys and any value pass."""
    token = dict(bearer(keys, caller()))
    query = "/v1/resources/101001%2F000001:query"
    refused = [
        ("POST", "/v1/tokens", '{"systemId": "sys-1", "secert": "s"}', "secert",
         "not a field of IssueTokenRequest, and the transcoder would drop it without a word: check its spelling; its "
         "fields are systemId, secret (/openapi.yaml gives every call's body)"),
        ("POST", query, '{"key": "k", "purpose": {"type": "PURPOSE_TYPE_WORK_REFERENCE", "txet": "x"}}',
         "purpose.txet", "not a field of Purpose, and the transcoder would drop it without a word: check its "
         "spelling; its fields are type, text (/openapi.yaml gives every call's body)"),
        ("POST", "/v1/datasets/population/records:load",
         '{"records": [{"values": {"name": "x"}}, {"values": {}, "asOf": "2026-01-01T00:00:00Z"}]}',
         "records[1].asOf", "not a field of RecordInput, and the transcoder would drop it without a word: check its "
         "spelling; its fields are values, asOfTime (/openapi.yaml gives every call's body)"),
        ("PATCH", "/v1/entries/101001%2F000001?updateMask=name", '{"name": "人口", "nmae": "x"}', "nmae",
         "not a field of Entry, and the transcoder would drop it without a word: check its spelling; its fields are "),
        ("POST", query, '{"key": "k", "342322194911060454": "x"}', "body",
         "holds a name that is not a field of QueryRequest (the edge repeats only a name a field may have): its "
         "fields are resourceCode, key, items, purpose (/openapi.yaml gives every call's body)"),
    ]
    for verb, path, body, field, description in refused:
        status, headers, content = await asyncio.to_thread(_rest_raw, edge, verb, path, body.encode(),
                                                           {**token, "content-type": "application/json"})
        answer = json.loads(content)
        assert (status, headers["content-type"]) == (400, "application/json"), (path, status, content)
        if description.endswith("are "):  # an Entry's fields are many: their list is checked to start with the first
            assert answer["message"].startswith(f"{field}: {description}code, "), answer
            continue
        assert answer == _unknown_body_field(field, description), answer
        assert b"342322194911060454" not in content
    passed = [
        ("POST", "/v1/tokens", '{"system_id": "sys-1", "\\u0073ecret": "s"}'),
        ("POST", query, '{"resource_code": "101001/000001", "key": "k", "items": ["a", "b"], "purpose": '
                        '{"type": 1, "text": "} \\"txet\\": {"}}'),
        ("POST", "/v1/datasets/population/records:load",
         '{"records": [{"values": {"anything": "x", "itmes": "y"}, "as_of_time": "2026-01-01T00:00:00Z"}]}'),
    ]
    for verb, path, body in passed:
        status, _, content = await asyncio.to_thread(_rest_raw, edge, verb, path, body.encode(),
                                                     {**token, "content-type": "application/json"})
        assert status != 400, (path, body, content)


async def test_a_rest_get_with_a_body_is_refused_saying_its_fields_go_in_the_query_string(
        edge: Edge, keys: PlatformKeys) -> None:
    """A GET's rule has no body, and openapi.yaml gives its fields as query parameters, but the transcoder read a
    GET's JSON body as the request all the same, unchecked: {"pageSiz": 2} (misspelt) was dropped without a word,
    {"filter": {"category": "CATEGORY_THEME"}} filtered, and a code in the body other than the URL's was refused
    in the transcoder's words quoting both values ('The binding value "101001/000001" of the field code is
    conflicting with the value "…" in the body.'; live on govshare up). A GET (or HEAD) with a body is 400 saying
    its fields go in the query string; an empty body, or an empty object a client library always sends, passes."""
    token = dict(bearer(keys, caller()))
    json_body = {**token, "content-type": "application/json"}
    refused = [("GET", "/v1/entries", b'{"pageSiz": 2}'),
               ("GET", "/v1/entries?pageSize=1", b'{"filter": {"category": "CATEGORY_THEME"}}'),
               ("GET", "/v1/entries/101001%2F000001", b'{"code": "342322194911060454"}'),
               ("HEAD", "/v1/entries/101001%2F000001", b'{"code": "102001/000001"}')]
    for verb, path, body in refused:
        status, _, content = await asyncio.to_thread(_rest_raw, edge, verb, path, body, json_body)
        assert status == 400, (verb, path, status, content)
        if verb == "HEAD":
            continue
        answer = json.loads(content)
        assert answer["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0], answer
        assert answer["message"].startswith("a GET takes no body: "), answer
        assert "query string" in answer["message"] and b"342322194911060454" not in content, answer
    passed = [("GET", "/v1/entries/101001%2F000001", b"{}"), ("GET", "/v1/entries/101001%2F000001", b" { }\n"),
              ("GET", "/v1/entries/101001%2F000001", b"")]
    for verb, path, body in passed:
        status, _, content = await asyncio.to_thread(_rest_raw, edge, verb, path, body, json_body)
        assert status == 200, (path, body, content)


async def test_a_rest_body_giving_a_field_twice_is_refused_naming_it(edge: Edge, keys: PlatformKeys) -> None:
    """{"items": ["name"], "items": ["status"]}, or resourceCode beside resource_code, was transcoded with one of
    the values, silently: the caller did not know which question was answered. Each is 400 naming the field (by
    both names when they differ); one name per field passes, and a map's key given twice is refused naming the
    key (test_a_rest_map_key_given_twice_is_named_as_the_service_names_it_and_not_repeated)."""
    token = {**dict(bearer(keys, caller())), "content-type": "application/json"}
    query = "/v1/resources/101001%2F000001:query"
    purpose = '"purpose": {"type": "PURPOSE_TYPE_WORK_REFERENCE", "text": "x"}'
    twice = ": the transcoder would keep one of the values without a word; give it once"
    for body, field, description in [
            (f'{{"key": "k", "items": ["name"], {purpose}, "items": ["status"]}}', "items",
             "given twice in one object" + twice),
            (f'{{"resource_code": "101001/000001", "key": "k", "resourceCode": "101001/000001", {purpose}}}',
             "resourceCode", "given twice in one object (as resource_code and resourceCode)" + twice),
            ('{"key": "k", "purpose": {"type": 1, "text": "x", "text": "y"}}', "purpose.text",
             "given twice in one object" + twice)]:
        status, _, content = await asyncio.to_thread(_rest_raw, edge, "POST", query, body.encode(), token)
        assert (status, json.loads(content)) == (400, _unknown_body_field(field, description)), content
    status, _, content = await asyncio.to_thread(_rest_raw, edge, "POST", query, (
        f'{{"resource_code": "101001/000001", "key": "k", "items": ["name"], {purpose}}}').encode(), token)
    assert status != 400, content
    status, _, content = await asyncio.to_thread(_rest_raw, edge, "POST", "/v1/datasets/population/records:load",
                                                 b'{"records": [{"values": {"name": "a", "name": "b"}}]}', token)
    assert status == 400 and json.loads(content)["message"].startswith(
        'records[0].values["name"]: given twice in one map'), content


async def test_a_query_parameter_written_into_the_body_is_refused_saying_it_goes_in_the_url(
        edge: Edge, keys: PlatformKeys) -> None:
    """PATCH /v1/grants/G with {"quota": "10", "updateMask": "quota"}, and POST /v1/applications with "requestId" in
    the body, were refused "updateMask: not a field of Grant …; its fields are id, applicationId, …": true, but the
    caller read the list of the body's fields for one that is not among them. The refusal says it is a query
    parameter of the call and how to send it; a body field misspelt is refused as before."""
    token = {**dict(bearer(keys, caller())), "content-type": "application/json"}
    for verb, url, body, field, parameter, message in (
            ("PATCH", "/v1/grants/grt-1", '{"quota": "10", "updateMask": "quota"}', "updateMask", "updateMask",
             "Grant"),
            ("PATCH", "/v1/entries/101001%2F000001", '{"name": "人口", "update_mask": "name"}', "update_mask",
             "updateMask", "Entry"),
            ("POST", "/v1/applications", '{"resourceCode": "101001/000001", "requestId": "0f8e4c2a"}', "requestId",
             "requestId", "Application")):
        status, _, content = await asyncio.to_thread(_rest_raw, edge, verb, url, body.encode(), token)
        description = (f"not a field of the body (a {message}): it is a query parameter of this call, sent in the "
                       f"URL (?{parameter}=...), as /openapi.yaml gives it")
        assert (status, json.loads(content)) == (400, _unknown_body_field(field, description)), content
    status, _, content = await asyncio.to_thread(_rest_raw, edge, "PATCH", "/v1/grants/grt-1?updateMask=quota",
                                                 b'{"quota": "10", "qouta": "5"}', token)
    assert status == 400 and json.loads(content)["message"].startswith("qouta: not a field of Grant, "), content


async def test_a_rest_list_holding_null_or_a_list_is_refused_naming_the_element(edge: Edge,
                                                                               keys: PlatformKeys) -> None:
    """The transcoder dropped a null element of a list and flattened a list inside a list, without a word: a
    BatchQuery of ["A", null, "B"] (a Java list with a missing ID number) was a call of two keys, whose results,
    answered in the order given, no longer lined up with the caller's three rows; "items": [null] asked for every
    item. Each is refused at the edge naming the element; lists of values, and null for a whole field, pass."""
    token = {**dict(bearer(keys, caller())), "content-type": "application/json"}
    purpose = '"purpose": {"type": "PURPOSE_TYPE_WORK_REFERENCE"}'
    null = "null in a list, which the transcoder would drop without a word (the elements after it moving up one "\
        "place): give the element a value, or leave it out"
    nested = "a list inside a list, which the transcoder would flatten without a word: send one list of values"
    for url, body, field, description in (
            ("/v1/resources/101001%2F000001:batchQuery", f'{{"keys": ["a", null, "b"], {purpose}}}', "keys[1]", null),
            ("/v1/resources/101001%2F000001:batchQuery", f'{{"keys": [ "a",\n  null], {purpose}}}', "keys[1]", null),
            ("/v1/resources/101001%2F000001:query", f'{{"key": "k", "items": [null], {purpose}}}', "items[0]", null),
            ("/v1/resources/101001%2F000001:query", f'{{"key": "k", "items": [["name"]], {purpose}}}', "items[0]",
             nested),
            ("/v1/datasets/population/records:load", '{"records": [{"values": {"name": "a"}}, null]}', "records[1]",
             null)):
        status, _, content = await asyncio.to_thread(_rest_raw, edge, "POST", url, body.encode(), token)
        assert (status, json.loads(content)) == (400, _unknown_body_field(field, description)), content
    status, _, content = await asyncio.to_thread(_rest_raw, edge, "POST", "/v1/resources/101001%2F000001:query",
                                                 f'{{"key": [null], {purpose}}}'.encode(), token)
    assert (status, json.loads(content)["message"]) == (400, "key: a list ([...]) where a single value goes: send "
                                                        "the field's one value (/openapi.yaml gives each field's "
                                                        "type)"), content  # a single field given a list, named
    for body in (f'{{"keys": ["a", "null", "b"], {purpose}}}', f'{{"keys": null, "items": ["a"], {purpose}}}'):
        status, _, content = await asyncio.to_thread(_rest_raw, edge, "POST",
                                                     "/v1/resources/101001%2F000001:batchQuery", body.encode(), token)
        assert status != 400, content


async def test_a_rest_empty_list_that_a_service_reads_as_the_widest_answer_is_refused(edge: Edge,
                                                                                       keys: PlatformKeys) -> None:
    """proto3 sends an empty list as no list, and a query reads no items as every item the caller may have: a REST
    caller's "items": [] (a form whose boxes were all unticked) was answered with every item, an approval's
    "purposes": [] kept every requested purpose. Each such field's empty list is refused at the edge naming it and
    what leaving it out means; a list with values, null, and an update's empty list (the way to clear it) pass."""
    token = {**dict(bearer(keys, caller())), "content-type": "application/json"}
    purpose = '"purpose": {"type": "PURPOSE_TYPE_WORK_REFERENCE"}'
    every_item = "every item the caller may have"
    for url, body, field, means in (
            ("/v1/resources/101001%2F000001:query", f'{{"key": "k", "items": [], {purpose}}}', "items", every_item),
            ("/v1/resources/101001%2F000001:batchQuery", f'{{"keys": ["k"], "items": [ \n ], {purpose}}}', "items",
             every_item),
            ("/v1/resources/101001%2F000001:export", f'{{{purpose}, "items": []}}', "items", every_item),
            ("/v1/applications/app-1:reply", '{"decision": "REPLY_DECISION_APPROVE", "purposes": []}', "purposes",
             "the purposes the application requested"),
            ("/v1/applications/app-1:recordCoordinationDecision", '{"grant": true, "items": []}', "items",
             "the items the application requested"),
            ("/v1/applications", '{"resourceCode": "101001/000001", "system_ids": []}', "system_ids",
             "every system of the department")):
        status, _, content = await asyncio.to_thread(_rest_raw, edge, "POST", url, body.encode(), token)
        description = (f"an empty list, which reaches the service as no list at all, and it would answer for {means}: "
                       "leave the field out to mean that, or list the ones wanted")
        assert (status, json.loads(content)) == (400, _unknown_body_field(field, description)), (url, content)
    for verb, url, body in (
            ("POST", "/v1/resources/101001%2F000001:query", f'{{"key": "k", "items": ["name"], {purpose}}}'),
            ("POST", "/v1/resources/101001%2F000001:query", f'{{"key": "k", "items": null, {purpose}}}'),
            ("POST", "/v1/resources/101001%2F000001:batchQuery", f'{{"keys": [], {purpose}}}'),
            ("PATCH", "/v1/grants/grt-1?updateMask=systemIds", '{"systemIds": []}')):
        status, _, content = await asyncio.to_thread(_rest_raw, edge, verb, url, body.encode(), token)
        assert status != 400, (url, content)


async def test_a_rest_enum_number_the_enum_has_not_is_refused_naming_the_field(edge: Edge, keys: PlatformKeys) -> None:
    """The transcoder wrote a JSON number into an enum field as it was, one the enum has not as well: {"purpose":
    {"type": 99}} reached the query service with a purpose no service knows, where "99" or an unknown name was
    refused. A number that is none of the enum's is refused at the edge naming the field (or the list's element)
    and the enum's names, not the number; the enum's numbers, 0 among them, pass."""
    token = {**dict(bearer(keys, caller())), "content-type": "application/json"}
    query = "/v1/resources/101001%2F000001:query"
    purposes = ("PURPOSE_TYPE_ADMINISTRATIVE_BASIS, PURPOSE_TYPE_WORK_REFERENCE, PURPOSE_TYPE_DATA_VERIFICATION, "
                "PURPOSE_TYPE_BUSINESS_COLLABORATION")
    for url, body, field, enum, names in (
            (query, '{"key": "k", "purpose": {"type": 99}}', "purpose.type", "PurposeType", purposes),
            (query, '{"key": "k", "purpose": {"type":-1 }}', "purpose.type", "PurposeType", purposes),
            ("/v1/applications/app-1:reply", '{"decision": 7}', "decision", "ReplyDecision",
             "REPLY_DECISION_APPROVE, REPLY_DECISION_REFUSE"),
            ("/v1/applications/app-1:reply", '{"decision": 1, "purposes": [1, 42]}', "purposes[1]", "PurposeType",
             purposes)):
        status, _, content = await asyncio.to_thread(_rest_raw, edge, "POST", url, body.encode(), token)
        description = f"a number that is none of {enum}'s values (the edge does not repeat it): send one of {names}"
        assert (status, json.loads(content)) == (400, _unknown_body_field(field, description)), (url, content)
    for url, body in ((query, '{"key": "k", "purpose": {"type": 2}}'), (query, '{"key": "k", "purpose": {"type": 0}}'),
                      ("/v1/applications/app-1:reply", '{"decision": 1, "purposes": [1, 4]}')):
        status, _, content = await asyncio.to_thread(_rest_raw, edge, "POST", url, body.encode(), token)
        assert status != 400, (url, content)


async def test_a_rest_lists_element_of_the_wrong_type_is_refused_naming_its_place(edge: Edge,
                                                                                   keys: PlatformKeys) -> None:
    """The transcoder named a list's element of the wrong type by a wrong place: "keys": ["A", 5] was "keys[0]: not a
    JSON string", "items": ["name", "status", true] items[0], "purposes": ["PURPOSE_TYPE_WORK_REFERENCE", "BAD"]
    purposes[0], so a caller of a BatchQuery of 200 keys looked for the fault in the first. The element is named by
    its place (from 0, as the edge names a null or an object in a list), the value not repeated; an enum's names,
    its numbers as strings and a single field's wrong value are refused as before."""
    token = {**dict(bearer(keys, caller())), "content-type": "application/json"}
    purposes = ("not one of PURPOSE_TYPE_ADMINISTRATIVE_BASIS, PURPOSE_TYPE_WORK_REFERENCE, "
                "PURPOSE_TYPE_DATA_VERIFICATION, PURPOSE_TYPE_BUSINESS_COLLABORATION (or its number) (the edge does "
                "not repeat the value)")
    string = "not a JSON string (the edge does not repeat the value)"
    reply = "/v1/applications/app-1:reply"
    for url, body, field, description in (
            ("/v1/resources/101001%2F000001:batchQuery", '{"keys": ["A", 342322194911060454]}', "keys[1]", string),
            ("/v1/resources/101001%2F000001:query", '{"key": "k", "items": ["name", "status", true]}', "items[2]",
             string),
            (reply, '{"decision": 1, "purposes": ["PURPOSE_TYPE_WORK_REFERENCE", "BAD"]}', "purposes[1]", purposes),
            (reply, '{"decision": 1, "purposes": [2, "3", false]}', "purposes[2]", purposes),
            ("/v1/resources/101001%2F000001:query", '{"key": "k", "purpose": {"type": "purpose_type_x"}}',
             "purpose.type", purposes),
            ("/v1/resources/101001%2F000001:query", '{"key": 5}', "key", string)):
        status, _, content = await asyncio.to_thread(_rest_raw, edge, "POST", url, body.encode(), token)
        assert (status, json.loads(content)) == (400, _unknown_body_field(field, description)), (body, content)
        assert b"342322194911060454" not in content, content
    # Two commas in a row are no element of the wrong type: the transcoder's refusal says what it is.
    status, _, content = await asyncio.to_thread(_rest_raw, edge, "POST", "/v1/resources/101001%2F000001:query",
                                                 b'{"key": "k", "items": ["name", , "status"]}', token)
    assert status == 400 and json.loads(content)["message"].startswith("the body is not valid JSON: "), content
    for url, body in ((reply, '{"decision": 1, "purposes": ["PURPOSE_TYPE_WORK_REFERENCE", "2", 0, '
                              '"PURPOSE_TYPE_UNSPECIFIED"]}'),
                      ("/v1/resources/101001%2F000001:query", '{"key": "k", "items": ["name", "status"]}')):
        status, _, content = await asyncio.to_thread(_rest_raw, edge, "POST", url, body.encode(), token)
        assert status != 400, (url, content)


async def test_a_rest_body_in_json_the_transcoder_reads_loosely_is_refused_naming_where(edge: Edge,
                                                                                         keys: PlatformKeys) -> None:
    """The transcoder reads names without quotes, single quotes and a comma before a closing bracket, which RFC 8259
    does not allow and the edge's checks could not read: they stepped aside, and {key: ..., itmes: ["name"]}, or a
    trailing comma before a misspelt field, asked for every item the grant allows without a word ("items":
    ["name",] was even "items[1]: not a JSON string"). Each is 400 naming the object or list holding it and what
    is wrong, the body's text not repeated; RFC 8259 JSON passes."""
    token = {**dict(bearer(keys, caller())), "content-type": "application/json"}
    query = "/v1/resources/101001%2F000001:query"
    quotes = "a name or a string in single quotes, where JSON writes double quotes"
    for body, field, words in (
            ('{key: "k", itmes: ["name"]}', "body", "a name without quotes, where JSON writes it in double quotes"),
            ("{'key': 'k', 'itmes': ['name']}", "body", quotes),
            ('{"key": \'342322194911060454\', "itmes": ["name"]}', "key", quotes),
            ('{"key": "k", "purpose": {"text": "x",}, "itmes": ["name"]}', "purpose", "a comma before the closing }"),
            ('{"key": "k", "items": ["name",]}', "items", "a comma before the closing ]"),
            ('{"key": "k", "items": ["name"],}', "body", "a comma before the closing }")):
        status, _, content = await asyncio.to_thread(_rest_raw, edge, "POST", query, body.encode(), token)
        description = (f"not valid JSON (RFC 8259): {words}, which the transcoder would read loosely, past the edge's "
                       "checks of the body (the edge does not repeat the body's text); send the body as RFC 8259 JSON")
        assert (status, json.loads(content)) == (400, _unknown_body_field(field, description)), (body, content)
        assert b"342322194911060454" not in content, content
    for body in ('{"key": "k\'s", "items": ["name"]}', '{ "key" : "k" , "items" : [ "name" , "status" ] }'):
        status, _, content = await asyncio.to_thread(_rest_raw, edge, "POST", query, body.encode(), token)
        assert status != 400, (body, content)


async def test_a_rest_field_given_a_value_of_another_shape_is_refused_naming_the_field(edge: Edge,
                                                                                      keys: PlatformKeys) -> None:
    """A field given a list or an object where its type takes another shape was refused in the transcoder's words,
    which named the message holding the field, or nothing, or called a list a single value: {"purpose": {"text":
    {}}} was "purpose: not a valid text as /openapi.yaml writes it", {"purpose": {"text": []}} "purpose: Proto field
    is not repeating, cannot start list.", {"purpose": []} named no field, {"items": {}} was "items: an object where
    a single value goes" (items is a list) and {"items": ["a", {}]} "items: not a valid items". Each is refused at
    the edge naming the field (or the element) as sent and the shape it takes; the right shapes, and null, pass."""
    token = {**dict(bearer(keys, caller())), "content-type": "application/json"}
    query, entries = "/v1/resources/101001%2F000001:query", "/v1/entries"
    purpose = '"purpose": {"type": "PURPOSE_TYPE_WORK_REFERENCE"}'
    value = "a single value goes: send the field's one value (/openapi.yaml gives each field's type)"
    single_for_list = ("a single value where a list goes: send the values as a list, [value, ...] (/openapi.yaml "
                       "gives each field's type)")
    for url, body, field, description in (
            (query, '{"key": "k", "purpose": {"type": "PURPOSE_TYPE_WORK_REFERENCE", "text": {}}}', "purpose.text",
             f"an object where {value}"),
            (query, '{"key": "k", "purpose": {"type": "PURPOSE_TYPE_WORK_REFERENCE", "text": ["a"]}}',
             "purpose.text", f"a list ([...]) where {value}"),
            (query, '{"key": "k", "purpose": {"type": {"name": "PURPOSE_TYPE_WORK_REFERENCE"}}}', "purpose.type",
             f"an object where {value}"),
            (query, '{"key": "k", "purpose": [{"type": "PURPOSE_TYPE_WORK_REFERENCE"}]}', "purpose",
             "a list ([...]) where one object goes: send the field's one {...} (/openapi.yaml gives each field's "
             "type)"),
            (query, f'{{"key": "k", "items": {{"name": true}}, {purpose}}}', "items",
             "an object where a list of values goes: send the values as a list, [value, ...] (/openapi.yaml gives "
             "each field's type)"),
            (query, f'{{"key": "k", "items": ["name", {{"x": 1}}], {purpose}}}', "items[1]",
             "an object in a list of values: send each element as a single value (/openapi.yaml gives each field's "
             "type)"),
            (entries, '{"code": "c", "items": [{"name": "n", "sensitive": [true]}]}', "items[0].sensitive",
             f"a list ([...]) where {value}"),
            # A single value where a list goes was read as a list of that one value, without a word.
            (query, f'{{"key": "k", "items": "name", {purpose}}}', "items", single_for_list),
            (query, f'{{"key": "k", "items": 5, {purpose}}}', "items", single_for_list),
            (entries, '{"code": "c", "items": {"name": "n"}}', "items",
             "one object where a list of objects goes: send them as a list, [{...}, ...] (/openapi.yaml gives each "
             "field's type)")):
        status, _, content = await asyncio.to_thread(_rest_raw, edge, "POST", url, body.encode(), token)
        assert (status, json.loads(content)) == (400, _unknown_body_field(field, description)), (body, content)
    for body in (f'{{"key": "k", "items": ["name"], {purpose}}}', '{"key": "k", "items": null, "purpose": null}',
                 '{"key": "k", "purpose": null, "items":null}'):
        status, _, content = await asyncio.to_thread(_rest_raw, edge, "POST", query, body.encode(), token)
        assert status != 400, content


async def test_a_rest_query_parameter_of_the_wrong_type_is_refused_without_its_value(edge: Edge,
                                                                                    keys: PlatformKeys) -> None:
    """``?pageSize=<an ID number>x`` came back "page_size: invalid value \"…\" for type TYPE_INT32"."""
    status, answer = await asyncio.to_thread(_rest_body, edge, "/v1/entries?pageSize=342322194911060454x",
                                             dict(bearer(keys, caller())))
    assert (status, answer["message"]) == (400, "pageSize: not a 32-bit integer (the edge does not repeat the value)")
    assert answer["details"][1]["fieldViolations"][0]["field"] == "pageSize", answer  # type: ignore[index]
    status, answer = await asyncio.to_thread(_rest_body, edge, "/v1/adminEvents?startTime=2026-01-01T08:00:00+08:00",
                                             dict(bearer(keys, caller())))
    assert status == 400 and answer["message"] == (
        "startTime: not an RFC 3339 time (2026-03-01T08:00:00Z; in a URL an offset's + is written %2B, a + being a "
        "space) (the edge does not repeat the value)"), answer
    status, answer = await asyncio.to_thread(_rest_body, edge, "/v1/entries?filter.category=342322194911060454",
                                             dict(bearer(keys, caller())))
    # An enum says the names it takes (it said "not a valid govshare.catalog.v1.Category as /openapi.yaml writes it").
    assert status == 400 and answer["message"] == (
        "filter.category: not one of CATEGORY_FOUNDATION, CATEGORY_THEME, CATEGORY_DEPARTMENT (or its number) (the "
        "edge does not repeat the value)"), answer
    status, _, content = await asyncio.to_thread(_rest_raw, edge, "POST", "/v1/resources/101001%2F000001:query", (
        b'{"key": "k", "purpose": {"type": "WORK_REFERENCE"}}'), {**dict(bearer(keys, caller())),
                                                                  "content-type": "application/json"})
    assert status == 400 and json.loads(content)["message"].startswith(
        "purpose.type: not one of PURPOSE_TYPE_ADMINISTRATIVE_BASIS, PURPOSE_TYPE_WORK_REFERENCE, "), content


async def test_a_type_error_the_transcoder_finds_names_the_field_as_json_does(edge: Edge, keys: PlatformKeys) -> None:
    """The edge's own checks name a body's field as written (changeTime, asOfTime), the transcoder's type errors
    named it by its proto name (change_time, records[0].as_of_time): a REST caller read two spellings of one
    body's fields. Both now name it as /openapi.yaml does, in the message and the BadRequest."""
    token = {**dict(bearer(keys, caller())), "content-type": "application/json"}
    time_words = ("not an RFC 3339 time (2026-03-01T08:00:00Z; in a URL an offset's + is written %2B, a + being a "
                  "space) (the edge does not repeat the value)")
    for url, body, field, words in (
            ("/v1/mandateChanges", '{"description": "d", "changeTime": 342322194911060454}', "changeTime", time_words),
            ("/v1/mandateChanges", '{"change_time": true}', "changeTime", time_words),
            ("/v1/datasets/population/records:load", '{"records": [{"values": {}}, {"asOfTime": 5}]}',
             "records[1].asOfTime", time_words),
            # A body that is one field of the request (POST /v1/entries' entry) is named as its own fields, as the
            # edge's other checks and /openapi.yaml's body schema name them (it was entry.items[0].sensitive).
            ("/v1/entries", '{"code": "c", "items": [{"name": "n", "listedSince": "x"}]}', "items[0].listedSince",
             time_words)):
        status, _, content = await asyncio.to_thread(_rest_raw, edge, "POST", url, body.encode(), token)
        assert (status, json.loads(content)) == (400, _unknown_body_field(field, words)), (body, content)


async def test_an_rfc_3339_time_with_a_lower_case_t_or_z_is_read_as_written_in_upper_case(
        edge: Edge, keys: PlatformKeys) -> None:
    """RFC 3339 (5.6) allows the T and the Z of a time in lower case, and some libraries write them so; the
    transcoder reads them only in upper case, and refused "2026-03-01t08:00:00z" as not an RFC 3339 time, in a body
    as in a query string. The edge writes them in upper case before it transcodes: the service receives the time."""
    token = {**dict(bearer(keys, caller())), "content-type": "application/json"}
    status, answer = await asyncio.to_thread(
        _rest_body, edge, "/v1/accesses?startTime=2026-03-01t08:00:00z&end_time=2026-03-02t08:00:00.5%2B08:00", token)
    assert (status, answer.get("nextPageToken")) == (200, "2026-03-01T08:00:00Z|2026-03-02T00:00:00.500Z"), answer
    for body in ('{"description": "t z", "changeTime": "2026-03-01t08:00:00z"}',
                 '{"change_time": "2026-03-01t16:00:00+08:00", "description": "z"}'):
        status, _, content = await asyncio.to_thread(_rest_raw, edge, "POST", "/v1/mandateChanges", body.encode(),
                                                     token)
        assert (status, json.loads(content).get("dueTime")) == (200, "2026-03-01T08:00:00Z"), (body, content)
    # What is not a time is refused as before, named.
    status, answer = await asyncio.to_thread(_rest_body, edge, "/v1/accesses?startTime=2026-03-01x08:00:00z", token)
    assert (status, answer["details"][1]["fieldViolations"][0]["field"]) == (400, "startTime"), answer  # type: ignore[index]


async def test_a_rest_object_given_one_value_is_refused_saying_how_an_object_is_written(edge: Edge,
                                                                                       keys: PlatformKeys) -> None:
    """?filter=x was "filter: not a valid govshare.catalog.v1.EntryFilter as /openapi.yaml writes it", which said
    neither that filter is an object nor that a query string gives its fields dotted; "purpose": "x" in a body was
    refused alike. The query string's refusal says to give the fields dotted, the body's to send an object."""
    token = dict(bearer(keys, caller()))
    for url in ("/v1/entries?filter=x", "/v1/entries?pageSize=3&filter=x&filter.category=CATEGORY_THEME"):
        status, answer = await asyncio.to_thread(_rest_body, edge, url, token)
        description = ("an object, given one value: in a query string give each of its fields on its own, dotted "
                       "(?filter.<field>=...; /openapi.yaml lists them)")
        assert (status, answer) == (400, _unknown_body_field("filter", description)), (url, answer)
    status, _, content = await asyncio.to_thread(_rest_raw, edge, "POST", "/v1/resources/101001%2F000001:query",
                                                 b'{"key": "k", "purpose": "x"}',
                                                 {**token, "content-type": "application/json"})
    description = 'an object, given one value: send its fields as one JSON object, {"<field>": ...} (/openapi.yaml ' \
        'gives them)'
    assert (status, json.loads(content)) == (400, _unknown_body_field("purpose", description)), content


def _rest_export_raw(edge: Edge, items: list[str], authorization: str) -> tuple[bytes, bytes, dict[str, str]]:
    """A REST Export over HTTP/1.1 on a raw socket: the head, the body (chunks joined) and the trailers."""
    body = json.dumps({"items": items}).encode()
    request = (f"POST /v1/resources/x:export HTTP/1.1\r\nhost: edge\r\nauthorization: {authorization}\r\n"
               f"content-type: application/json\r\nconnection: close\r\ncontent-length: {len(body)}\r\n\r\n")
    host, port = edge.address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request.encode() + body)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, rest = answer.partition(b"\r\n\r\n")
    content = b""
    while True:
        size, _, rest = rest.partition(b"\r\n")
        if int(size, 16) == 0:
            break
        content, rest = content + rest[:int(size, 16)], rest[int(size, 16) + 2:]
    trailers = dict(line.split(": ", 1) for line in rest.decode().split("\r\n") if ": " in line)
    return head, content, trailers


async def test_a_rest_export_cut_short_ends_with_its_status_in_the_trailers(edge: Edge, keys: PlatformKeys) -> None:
    """A REST Export the backend ends with an error after its first rows was a 200 whose body, a well-closed JSON
    array of the rows sent, looked like the whole export: the error was dropped (HTTP/1.1 carried no trailers).
    The answer now ends with the stream's grpc-status, grpc-message and details as HTTP trailers (a complete
    export: grpc-status 0), which .NET's TrailingHeaders and OkHttp's trailers() read."""
    authorization = dict(bearer(keys, caller()))["authorization"]
    head, content, trailers = await asyncio.to_thread(_rest_export_raw, edge, ["a", FAIL_ITEM], authorization)
    assert head.startswith(b"HTTP/1.1 200") and [row["rows"][0]["key"] for row in json.loads(content)] == ["a"]
    assert trailers["grpc-status"] == str(grpc.StatusCode.FAILED_PRECONDITION.value[0]), (head, trailers)
    assert trailers["grpc-message"] == "the test backend stopped mid-stream", trailers
    assert "grpc-status-details-bin" in trailers, trailers
    head, content, trailers = await asyncio.to_thread(_rest_export_raw, edge, ["a", "b"], authorization)
    assert len(json.loads(content)) == 2 and trailers["grpc-status"] == "0", (head, content, trailers)


async def test_a_rest_body_shorter_than_its_content_length_is_told_so_as_json(edge: Edge, keys: PlatformKeys) -> None:
    """A body that never arrives whole (content-length 100, 8 bytes sent) was answered at the edge's deadline with
    a plain-text 408 "downstream duration timeout": it is a JSON google.rpc.Status, DEADLINE_EXCEEDED, saying the
    request did not arrive whole."""
    authorization = dict(bearer(keys, caller()))["authorization"]
    request = (f"POST /v1/entries/x:submit HTTP/1.1\r\nhost: edge\r\nauthorization: {authorization}\r\n"
               "content-type: application/json\r\ncontent-length: 100\r\n\r\n{\"code\":").encode()
    answer = await asyncio.to_thread(_http_10, edge, request)  # read until the edge closes the connection
    head, _, content = answer.partition(b"\r\n\r\n")
    # The backend holds the same deadline (the edge passes it on with the call's headers), and on a loaded machine
    # its timer may end the call first: 504 and gRPC's own "Deadline Exceeded". Either way a JSON status,
    # DEADLINE_EXCEEDED; the edge's words when its timer ended it.
    assert head.startswith((b"HTTP/1.1 408", b"HTTP/1.1 504")) and b"application/json" in head, answer
    status = json.loads(content)
    assert status["code"] == grpc.StatusCode.DEADLINE_EXCEEDED.value[0], status
    if head.startswith(b"HTTP/1.1 408"):
        assert status["message"].startswith("the request did not arrive whole before its deadline (the grpc-timeout "
                                            "it was sent with, else the edge's 5 s): its body was shorter"), status


#: Envoy's HTTP/1.1 codec's refusal of a header line without a colon, and of a URL's raw non-ASCII text (which was
#: told only of headers and methods).
CODEC_ERROR = ("the request is not valid HTTP/1.1 (a header line without a colon, a character a method or a header "
               "may not hold, or a URL holding a space or text other than ASCII, which a URL writes percent-encoded "
               "as UTF-8: 人口 as %E4%BA%BA%E5%8F%A3): check what the client sends")


@pytest.mark.parametrize(("request_bytes", "message"), [
    (b"GET /v1/entries/x HTTP/1.1\r\nhost: edge\r\nx_request_id: 1\r\nconnection: close\r\n\r\n",
     "a request header's name holds an underscore, which the edge refuses (proxies drop or merge such headers): "
     "write it with hyphens (x-request-id, not x_request_id)"),
    (b"GET /v1/entries/x HTTP/1.1\r\nconnection: close\r\n\r\n",
     "the request has no Host header, which HTTP/1.1 requires: send one"),
    (b"GET /v1/entries/x HTTP/1.1\r\nhost: edge\r\nno colon here\r\nconnection: close\r\n\r\n", CODEC_ERROR),
    ("GET /v1/entries?filter.subject=人口 HTTP/1.1\r\nhost: edge\r\nconnection: close\r\n\r\n".encode(),
     CODEC_ERROR),
    (b"GET /v1/entries/x HTTP/1.1\r\nhost: edge\r\nuser-agent: a\x7fb\r\nconnection: close\r\n\r\n",
     "a request header's value holds a control character (DEL, or one below a space other than a tab), which HTTP "
     "does not allow in a header: send text, a binary value in base64"),
    (b"GET /v1/entries/x HTTP/1.1\r\nhost: edge\r\nx-note: a\x01b\r\nconnection: close\r\n\r\n",
     "a request header's value holds a control character (DEL, or one below a space other than a tab), which HTTP "
     "does not allow in a header: send text, a binary value in base64"),
    (b"QUERY /v1/datasets HTTP/1.1\r\nhost: edge\r\nconnection: close\r\n\r\n",
     "the request uses HTTP's QUERY method without a content-type, which the edge refuses; no operation takes "
     "QUERY: send the method /openapi.yaml gives the URL (GET, POST or PATCH)"),
    (b"POST /v1/tokens HTTP/1.1\r\nhost: edge\r\ntransfer-encoding: gzip, chunked\r\nconnection: close\r\n\r\n"
     b"0\r\n\r\n",
     "the request's transfer-encoding is not one the edge reads: send the body as it is, with content-length, or "
     "with transfer-encoding: chunked alone"),
    (b"POST /v1/tokens HTTP/1.1\r\nhost: edge\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n"
     b"connection: close\r\n\r\n0\r\n\r\n",
     "the request has both content-length and transfer-encoding: chunked, which HTTP/1.1 does not allow (the body's "
     "end would be read two ways): send one of them"),
    (b"GET /v1/entries#top HTTP/1.1\r\nhost: edge\r\nconnection: close\r\n\r\n",
     "the request's path holds a fragment (#…), which a client keeps to itself and the edge refuses: send the path "
     "and query alone, a # in a value percent-encoded as %23"),
    (b"OPTIONS * HTTP/1.1\r\nhost: edge\r\nconnection: close\r\n\r\n",
     "the request's target is not a path beginning with / (OPTIONS * asks the server as a whole, which the edge does "
     "not answer): send each call to its URL, as /openapi.yaml gives it"),
    # An upgrade the edge does not make (a WebSocket client's): Envoy's 403 read as a refused token, 401 'bearer token
    # refused: ; send ...', with no reason, though the token was good.
    (b"GET /v1/entries/x HTTP/1.1\r\nhost: edge\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\r\n",
     "the request asks to upgrade its connection (an upgrade header, as a WebSocket client sends), which the edge "
     "does not: it answers gRPC, gRPC-Web and REST as HTTP/1.1 or HTTP/2 requests; send it without the headers "
     "connection: upgrade and upgrade"),
])
async def test_a_request_envoys_http_codec_refuses_is_told_what_to_fix(edge: Edge, request_bytes: bytes,
                                                                        message: str) -> None:
    """A header named with an underscore, an HTTP/1.1 request without Host, a header line without a colon, a
    QUERY request without a content-type (an empty message, found by schemathesis) or a transfer-encoding other
    than chunked was "Bad Request", an empty message or a plain-text "501 Not Implemented": each is a 400 JSON
    google.rpc.Status saying what is wrong and what to send."""
    answer = await asyncio.to_thread(_http_10, edge, request_bytes)
    head, _, content = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and b"application/json" in head, answer
    assert json.loads(content) == {"code": grpc.StatusCode.INVALID_ARGUMENT.value[0], "details": [
                                   _edge_info("INVALID_ARGUMENT")],
                                   "message": message}, answer


async def test_headers_over_the_limit_are_refused_saying_so(edge: Edge, keys: PlatformKeys,
                                                          channel: grpc.aio.Channel) -> None:
    """Over REST, Envoy's 431 was a plain-text "Request Header Fields Too Large": it is a JSON google.rpc.Status
    naming the limit. Over HTTP/2 Envoy ends that connection (GOAWAY): the call fails UNAVAILABLE, never
    INTERNAL, and the edge serves the next connection."""
    token = dict(bearer(keys, caller()))
    status, body = await asyncio.to_thread(_rest_body, edge, "/v1/entries/x", {**token, "x-big": "x" * 70_000})
    assert status == 431 and body["code"] == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0], body
    assert "request headers over 60 KiB" in str(body["message"]), body
    async with grpc.aio.insecure_channel(edge.address) as own:
        error = await failure(get_entry(own)(catalog_pb2.GetEntryRequest(code="x"),
                                             metadata=(*bearer(keys, caller()), ("x-big", "x" * 70_000))))
    assert error.code() == grpc.StatusCode.UNAVAILABLE, error
    await get_entry(channel)(catalog_pb2.GetEntryRequest(code="x"), metadata=bearer(keys, caller()))


async def test_many_headers_within_the_size_limit_reach_the_service(edge: Edge, keys: PlatformKeys,
                                                                   channel: grpc.aio.Channel) -> None:
    """Envoy takes 100 request headers by default, counting gRPC's own (:path, te, content-type, grpc-timeout,
    user-agent, authorization…): a business system sending some 92 metadata entries (its tracing baggage, its own
    correlation headers), a few KiB in all, had its call reset at the edge, INTERNAL 'Received RST_STREAM with
    error code 2', and a REST call the 431 that names the 60 KiB size limit it was far within. As many headers as
    the documented count reach the service, over gRPC and over REST."""
    from gateway.edge import MAX_REQUEST_HEADERS

    many = tuple((f"x-correlation-{index}", "v") for index in range(MAX_REQUEST_HEADERS - 20))
    token = bearer(keys, caller())
    answered = await get_entry(channel)(catalog_pb2.GetEntryRequest(code="x"), metadata=(*token, *many))
    assert answered.entry.code == "x", answered
    status, body = await asyncio.to_thread(_rest_body, edge, "/v1/entries/x", {**dict(token), **dict(many)})
    assert status == 200, body
    too_many = {f"x-correlation-{index}": "v" for index in range(MAX_REQUEST_HEADERS + 1)}
    status, body = await asyncio.to_thread(_rest_body, edge, "/v1/entries/x", {**dict(token), **too_many})
    assert status == 431 and f"or more than {MAX_REQUEST_HEADERS} of them" in str(body["message"]), body


def _grpc_web(edge: Edge, verb: str, path: str, body: bytes, headers: dict[str, str],
              content_type: str = "application/grpc-web+proto") -> tuple[int, dict[str, str]]:
    """A gRPC-Web call over HTTP/1.1 with any HTTP method: its status and headers (where a trailers-only answer
    puts grpc-status and grpc-message)."""
    request = urllib.request.Request(f"http://{edge.address}{path}", data=body or None, method=verb,
                                     headers={**headers, "content-type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
            return response.status, {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}


async def test_a_grpc_web_call_gets_the_status_a_grpc_call_gets_for_the_edges_own_refusals(
        settings_base: Settings, backend: RunningServer, jwks: JwksEndpoint, keys: PlatformKeys) -> None:
    """A gRPC-Web call (a browser page's) past its grpc-timeout was UNAVAILABLE, with the words of a deadline,
    and one over the rate limit UNAVAILABLE too, without its RetryInfo: the gRPC-Web filter derived the status
    from the HTTP one of the edge's reply (504, 429), where a gRPC call got DEADLINE_EXCEEDED and
    RESOURCE_EXHAUSTED. A client retries UNAVAILABLE at once, which is wrong for both."""
    edge = await start_edge(edge_settings(settings_base, backend.port, jwks.port, rate_limit_per_second=0.001,
                                          rate_limit_burst=2))
    frame = b"\x00" + len(request := catalog_pb2.GetEntryRequest(code=HANGING_CODE).SerializeToString()).to_bytes(
        4, "big")
    path, token = "/govshare.catalog.v1.CatalogService/GetEntry", dict(bearer(keys, caller()))
    try:
        _, late = await asyncio.to_thread(_grpc_web, edge, "POST", path, frame + request,
                                          {**token, "grpc-timeout": "200m"})
        await asyncio.to_thread(_grpc_web, edge, "POST", path, frame + request, {**token, "grpc-timeout": "1m"})
        _, limited = await asyncio.to_thread(_grpc_web, edge, "POST", path, frame + request, token)
    finally:
        edge.stop()
    assert late.get("grpc-status") == str(grpc.StatusCode.DEADLINE_EXCEEDED.value[0]), late
    assert limited.get("grpc-status") == str(grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]), limited
    assert "rate limit exceeded" in limited.get("grpc-message", ""), limited
    details = status_pb2.Status.FromString(base64.b64decode(limited["grpc-status-details-bin"] + "=="))
    assert details.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0], details


async def test_a_grpc_web_call_refused_at_the_edge_is_a_trailers_only_answer_with_its_words(
        edge: Edge, keys: PlatformKeys) -> None:
    """A gRPC-Web call without a token, with an expired one, to a method that does not exist or to an internal
    service was answered HTTP 401 or 404 with grpc-status and grpc-message as headers: grpc-web's and Connect's
    browser clients read any 4xx as "Http response at 400 or 500 level" (a 404 as NOT_FOUND, not UNIMPLEMENTED)
    and drop the words saying what to send. Each is HTTP 200 with the status and the words, as a gRPC call gets."""
    frame = b"\x00\x00\x00\x00\x00"
    expired = token(keys, caller(), exp=int(time.time()) - 60)
    hint = "send 'authorization: Bearer <token>' obtained from govshare.authorization.v1.TokenService/IssueToken"
    cases = [
        ("/govshare.catalog.v1.CatalogService/GetEntry", {}, grpc.StatusCode.UNAUTHENTICATED,
         f"bearer token refused: Jwt is missing; {hint}"),
        ("/govshare.catalog.v1.CatalogService/GetEntry", {"authorization": f"Bearer {expired}"},
         grpc.StatusCode.UNAUTHENTICATED, f"bearer token refused: Jwt is expired; {hint}"),
        ("/govshare.catalog.v1.CatalogService/Nope", dict(bearer(keys, caller())), grpc.StatusCode.UNIMPLEMENTED,
         "govshare.catalog.v1.CatalogService has no such method"),
        ("/govshare.authorization.v1.AuthorizationService/Check", dict(bearer(keys, caller())),
         grpc.StatusCode.UNIMPLEMENTED, "govshare.authorization.v1.AuthorizationService is internal and not served "
         "by the edge"),
    ]
    for path, headers, code, message in cases:
        status, answer = await asyncio.to_thread(_grpc_web, edge, "POST", path, frame, headers)
        assert (status, answer.get("grpc-status")) == (200, str(code.value[0])), (path, status, answer)
        assert answer.get("grpc-message", "").startswith(message), (path, answer)
    status, answer, body = await asyncio.to_thread(_rest_raw, edge, "GET", "/v1/entries")  # REST keeps its 401
    assert status == 401 and json.loads(body)["message"].startswith("bearer token refused: Jwt is missing"), body


async def test_the_edges_own_refusals_carry_an_error_info_as_the_services_do(
        edge: Edge, keys: PlatformKeys, channel: grpc.aio.Channel) -> None:
    """A REST call without a token, with a verb its URL does not take, or to no URL, and a gRPC call to a method
    that does not exist, were answered with "details": [] (no grpc-status-details-bin over gRPC): a client
    branching on the ErrorInfo's reason, as docs/api.md tells it to (and the SDK's GovshareError.reason), found
    none. Each carries an ErrorInfo, its reason the code's name, its domain edge.govshare."""
    for verb, path, status, reason in [("GET", "/v1/entries", 401, "UNAUTHENTICATED"),
                                       ("DELETE", "/v1/entries", 405, "UNIMPLEMENTED"),
                                       ("GET", "/v1/nothing", 404, "NOT_FOUND")]:
        got, _, content = await asyncio.to_thread(_rest_raw, edge, verb, path)
        assert (got, json.loads(content)["details"]) == (status, [_edge_info(reason)]), (path, content)
    error = await failure(channel.unary_unary("/govshare.catalog.v1.CatalogService/Nope")(
        b"", metadata=bearer(keys, caller())))
    details = dict(error.trailing_metadata() or ()).get("grpc-status-details-bin")
    info = error_details_pb2.ErrorInfo()
    status_pb2.Status.FromString(details).details[0].Unpack(info)  # type: ignore[arg-type]
    assert (error.code(), info.reason, info.domain) == (grpc.StatusCode.UNIMPLEMENTED, "UNIMPLEMENTED",
                                                       "edge.govshare"), error


def _grpc_web_from(edge: Edge, source: str, path: str, headers: dict[str, str]) -> str:
    """The grpc-status of an empty gRPC-Web call to ``path`` sent from the local address ``source``."""
    host, port = edge.address.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=10, source_address=(source, 0))
    try:
        connection.request("POST", path, body=b"\x00\x00\x00\x00\x00",
                           headers={**headers, "content-type": "application/grpc-web+proto"})
        response = connection.getresponse()
        response.read()
        return response.getheader("grpc-status") or ""
    finally:
        connection.close()


async def test_calls_without_a_token_are_limited_per_client_address_not_in_one_bucket_for_all(
        settings_base: Settings, backend: RunningServer, jwks: JwksEndpoint, keys: PlatformKeys) -> None:
    """Calls without a token (IssueToken, SignIn) shared one bucket: one client calling IssueToken in a loop left
    every business system unable to get or renew its token. Each client address has its own now; a system with a
    token keeps its own bucket. So does a call that carries an authorization header no one verifies (IssueToken's
    is not: an HTTP client sending its last token with every request, or a flood with "Bearer x"), which fell into
    the one bucket every such caller shared, a flood from one address refusing the renewals of all."""
    edge = await start_edge(edge_settings(settings_base, backend.port, jwks.port, rate_limit_per_second=0.001,
                                          rate_limit_burst=2))
    path = "/govshare.authorization.v1.TokenService/IssueToken"
    limited = str(grpc.StatusCode.RESOURCE_EXHAUSTED.value[0])
    token = dict(bearer(keys, caller()))
    try:
        flood = [await asyncio.to_thread(_grpc_web_from, edge, "127.0.0.1", path, {}) for _ in range(3)]
        other = await asyncio.to_thread(_grpc_web_from, edge, "127.0.0.2", path, {})
        with_token = await asyncio.to_thread(_grpc_web_from, edge, "127.0.0.1", "/govshare.catalog.v1.CatalogService/"
                                             "GetEntry", token)
        flood_with_header = [await asyncio.to_thread(_grpc_web_from, edge, "127.0.0.3", path,
                                                     {"authorization": "Bearer x"}) for _ in range(3)]
        renewal = await asyncio.to_thread(_grpc_web_from, edge, "127.0.0.4", path, token)
    finally:
        edge.stop()
    assert flood[:2] != [limited, limited] and flood[2] == limited, flood
    assert other != limited and with_token != limited, (other, with_token)
    assert flood_with_header[:2] != [limited, limited] and flood_with_header[2] == limited, flood_with_header
    assert renewal != limited, renewal


@pytest.mark.parametrize("verb", ["GET", "PUT", "DELETE", "PATCH"])
async def test_a_grpc_call_not_sent_as_a_post_is_unimplemented_saying_so(edge: Edge, keys: PlatformKeys,
                                                                          verb: str) -> None:
    """A gRPC(-Web) call sent with GET or PUT reached the backend, which reset it: UNAVAILABLE "the service that
    answers this method is unavailable (down or restarting)" with a RetryInfo, so clients retried a call that
    could never work (DELETE: INTERNAL "Error parsing ':method' metadata"). The edge now says to POST it."""
    frame = b"\x00" + len(request := catalog_pb2.GetEntryRequest(code="x").SerializeToString()).to_bytes(4, "big")
    path, token = "/govshare.catalog.v1.CatalogService/GetEntry", dict(bearer(keys, caller()))
    _, headers = await asyncio.to_thread(_grpc_web, edge, verb, path, frame + request, token)
    assert headers.get("grpc-status") == str(grpc.StatusCode.UNIMPLEMENTED.value[0]), headers
    assert "a gRPC call is an HTTP POST" in headers.get("grpc-message", ""), headers
    _, headers = await asyncio.to_thread(_grpc_web, edge, "POST", path, frame + request, token)
    assert headers.get("grpc-status") not in (str(grpc.StatusCode.UNIMPLEMENTED.value[0]),
                                              str(grpc.StatusCode.UNAVAILABLE.value[0])), headers


@pytest.mark.parametrize("deadline", ["garbage", "5", "123456789S", "-1S", "1.5S", "10s", "5 S"])
async def test_a_malformed_grpc_timeout_is_invalid_argument_saying_how_to_write_one(edge: Edge, keys: PlatformKeys,
                                                                                    deadline: str) -> None:
    """Envoy forwarded a grpc-timeout it could not read, and the backend's gRPC library failed the call as
    INTERNAL "Error parsing 'grpc-timeout' metadata"."""
    frame = b"\x00" + len(request := catalog_pb2.GetEntryRequest(code="x").SerializeToString()).to_bytes(4, "big")
    path, token = "/govshare.catalog.v1.CatalogService/GetEntry", dict(bearer(keys, caller()))
    _, headers = await asyncio.to_thread(_grpc_web, edge, "POST", path, frame + request,
                                         {**token, "grpc-timeout": deadline})
    assert headers.get("grpc-status") == str(grpc.StatusCode.INVALID_ARGUMENT.value[0]), headers
    assert "grpc-timeout: not a deadline" in headers.get("grpc-message", ""), headers
    _, headers = await asyncio.to_thread(_grpc_web, edge, "POST", path, frame + request,
                                         {**token, "grpc-timeout": "2500m"})
    assert headers.get("grpc-status") != str(grpc.StatusCode.INVALID_ARGUMENT.value[0]), headers


@pytest.mark.parametrize("deadline", ["0S", "0m", "00000000n"])
async def test_a_grpc_timeout_of_zero_is_deadline_exceeded_saying_zero_is_no_time_not_no_deadline(
        edge: Edge, keys: PlatformKeys, deadline: str) -> None:
    """A call sent with a grpc-timeout of zero (a hand-made client taking zero for "no deadline") met the edge's
    stream timer set to zero, and was told it "ran past its deadline with the catalog service not having
    answered … or retry later", naming a service it never reached. It is told that zero leaves no time, over
    gRPC-Web and REST alike."""
    frame = b"\x00" + len(request := catalog_pb2.GetEntryRequest(code="x").SerializeToString()).to_bytes(4, "big")
    path, token = "/govshare.catalog.v1.CatalogService/GetEntry", dict(bearer(keys, caller()))
    status, headers = await asyncio.to_thread(_grpc_web, edge, "POST", path, frame + request,
                                              {**token, "grpc-timeout": deadline})
    assert (status, headers.get("grpc-status")) == (200, str(grpc.StatusCode.DEADLINE_EXCEEDED.value[0])), headers
    assert "zero is not 'no deadline'" in headers.get("grpc-message", "") \
        and "catalog" not in headers["grpc-message"], headers
    status, body = await asyncio.to_thread(_rest_body, edge, "/v1/entries/x", {**token, "grpc-timeout": deadline})
    assert (status, body["code"], body["message"]) == (504, 4, headers["grpc-message"]), body
    status, body = await asyncio.to_thread(_rest_body, edge, "/v1/entries/x", {**token, "grpc-timeout": "05S"})
    assert status == 200, body  # a leading zero is a deadline still


@pytest.mark.parametrize("body", [b"", b"\x00", b"\x00\x00\x00\x00"])
async def test_a_call_without_a_whole_message_frame_is_refused_at_once(edge: Edge, keys: PlatformKeys,
                                                                       body: bytes) -> None:
    """The backend's gRPC library never answers a unary call that ends without a message: an empty gRPC-Web
    body hung for the edge's 5 s and came back UNAVAILABLE "downstream duration timeout"."""
    path, token = "/govshare.catalog.v1.CatalogService/GetEntry", dict(bearer(keys, caller()))
    started = time.monotonic()
    _, headers = await asyncio.to_thread(_grpc_web, edge, "POST", path, body, token)
    assert headers.get("grpc-status") == str(grpc.StatusCode.INVALID_ARGUMENT.value[0]), headers
    assert "the request holds no message" in headers.get("grpc-message", ""), headers
    assert time.monotonic() - started < 2
    _, headers = await asyncio.to_thread(_grpc_web, edge, "POST", path, b"\x00" * 5, token)
    assert headers.get("grpc-status") != str(grpc.StatusCode.INVALID_ARGUMENT.value[0]), headers


@pytest.mark.parametrize("encoding", ["snappy", "GZIP", "gzip, deflate", ""])
async def test_an_unknown_grpc_encoding_is_unimplemented_and_spoils_no_other_call(
        settings_base: Settings, backend: RunningServer, jwks: JwksEndpoint, keys: PlatformKeys,
        encoding: str) -> None:
    """A grpc-encoding the backend's gRPC library does not know was forwarded: that call failed INTERNAL "Error
    parsing 'grpc-encoding' metadata", and the edge's connection to the backend was left unable to read the next
    new grpc-encoding, so every other client's compressed call (a gRPC client's gzip or deflate) failed INTERNAL
    too, until the connection was closed. A fresh edge: the old code spoils its connections."""
    edge = await start_edge(edge_settings(settings_base, backend.port, jwks.port))
    frame = b"\x00" + len(request := catalog_pb2.GetEntryRequest(code="x").SerializeToString()).to_bytes(4, "big")
    path, token = "/govshare.catalog.v1.CatalogService/GetEntry", dict(bearer(keys, caller()))
    try:
        _, headers = await asyncio.to_thread(_grpc_web, edge, "POST", path, frame + request,
                                             {**token, "grpc-encoding": encoding})
        assert headers.get("grpc-status") == str(grpc.StatusCode.UNIMPLEMENTED.value[0]), headers
        assert "grpc-encoding: " in headers.get("grpc-message", ""), headers
        assert headers.get("grpc-accept-encoding") == "identity,deflate,gzip", headers
        async with grpc.aio.insecure_channel(edge.address) as opened:
            for compression in (grpc.Compression.Gzip, grpc.Compression.Deflate):
                await get_entry(opened)(catalog_pb2.GetEntryRequest(code="x"), metadata=bearer(keys, caller()),
                                        compression=compression, timeout=10)
    finally:
        edge.stop()


async def test_a_header_the_backends_cannot_parse_fails_no_call(
        settings_base: Settings, backend: RunningServer, jwks: JwksEndpoint, keys: PlatformKeys) -> None:
    """A binary header (``-bin``) that is not base64, or a gRPC header of the library's own with a value it cannot
    read, was forwarded: the backend's gRPC library failed the call INTERNAL "Error parsing 'x-trace-bin'
    metadata", and the edge's connection to it could then read no new value of that header: the next callers
    sending it, correctly, failed the same way until the connection closed. The services read none of them; the
    edge drops them. A fresh edge: the old code spoils its connections."""
    edge = await start_edge(edge_settings(settings_base, backend.port, jwks.port))
    frame = b"\x00" + len(request := catalog_pb2.GetEntryRequest(code="x").SerializeToString()).to_bytes(4, "big")
    path, token = "/govshare.catalog.v1.CatalogService/GetEntry", dict(bearer(keys, caller()))
    sent = [{"x-trace-bin": "!!"}, {"x-trace-bin": "AAAA"}, {"grpc-trace-bin": "@@"}, {"grpc-trace-bin": "AAAB"},
            {"grpc-previous-rpc-attempts": "x"}, {"grpc-previous-rpc-attempts": "1"},
            {"grpc-retry-pushback-ms": "x"}, {"grpc-internal-encoding-request": "snappy"}, {"grpc-status": "x"}]
    try:
        for headers in sent:
            _, answered = await asyncio.to_thread(_grpc_web, edge, "POST", path, frame + request,
                                                  {**token, **headers})
            assert answered.get("grpc-status") is None, (headers, answered)  # a reply with a message: OK
    finally:
        edge.stop()


@pytest.mark.parametrize("headers", [{"grpc-encoding": "snappy"}, {"grpc-encoding": "gzip"},
                                     {"grpc-encoding": "deflate", "grpc-accept-encoding": "gzip"}])
async def test_a_rest_call_with_a_grpc_encoding_header_is_answered_as_without_it(
        settings_base: Settings, backend: RunningServer, jwks: JwksEndpoint, keys: PlatformKeys,
        headers: dict[str, str]) -> None:
    """A REST body is JSON, which the transcoder writes into an uncompressed gRPC message; a grpc-encoding header
    the client sent (a library's default, a proxy's) was passed on to the backend all the same, whose gRPC library
    failed the call HTTP 500 INTERNAL "Error parsing 'grpc-encoding' metadata" (snappy) and spoiled the edge's
    connection for other callers' compressed gRPC calls. The edge drops the header from a REST call (a known
    encoding passed, the message being uncompressed: it still does). A fresh edge: the old code spoils its
    connections."""
    edge = await start_edge(edge_settings(settings_base, backend.port, jwks.port))
    try:
        status, body = await asyncio.to_thread(_rest_body, edge, "/v1/entries/x",
                                               {**dict(bearer(keys, caller())), **headers})
        assert status == 200, body
        async with grpc.aio.insecure_channel(edge.address) as opened:
            await get_entry(opened)(catalog_pb2.GetEntryRequest(code="x"), metadata=bearer(keys, caller()),
                                    compression=grpc.Compression.Gzip, timeout=10)
    finally:
        edge.stop()


@pytest.mark.parametrize("content_type", ["application/grpc-web+json", "application/grpc-web-text+json",
                                          "application/grpc+json"])
async def test_a_grpc_web_call_with_json_messages_is_unimplemented_saying_what_to_send(
        edge: Edge, keys: PlatformKeys, content_type: str) -> None:
    """gRPC-Web's JSON form is served by no backend: the REST transcoder took the call for a REST URL and
    answered HTTP 404 in plain text, "Could not resolve /govshare.catalog.v1.CatalogService/GetEntry to a
    method.", which a gRPC-Web client reads as "Http response at 400 or 500 level", for a method that exists.
    gRPC's (application/grpc+json) reached the backend, which answered INVALID_ARGUMENT "not a valid protobuf
    message", as if the JSON were at fault."""
    path, token = "/govshare.catalog.v1.CatalogService/GetEntry", {**dict(bearer(keys, caller())), "te": "trailers"}
    body = b'{"code":"x"}'
    status, headers = await asyncio.to_thread(_grpc_web, edge, "POST", path, b"\x00" + len(body).to_bytes(4, "big")
                                              + body, token, content_type)
    assert (status, headers.get("grpc-status")) == (200, str(grpc.StatusCode.UNIMPLEMENTED.value[0])), headers
    assert "application/grpc-web+proto" in headers.get("grpc-message", ""), headers


@pytest.mark.parametrize(("content_type", "body"), [
    ("application/grpc-web+proto; charset=utf-8", "frame"), ("Application/grpc-web+proto", "frame"),
    ("APPLICATION/GRPC-WEB;charset=UTF-8", "frame"), ("application/grpc-web-text; charset=utf-8", "base64"),
    ("Application/Grpc-Web-Text+Proto", "base64"), ("application/grpc; charset=utf-8", "frame"),
    ("Application/gRPC", "frame")])
async def test_a_grpc_content_type_in_another_case_or_with_a_charset_is_served(edge: Edge, keys: PlatformKeys,
                                                                               content_type: str, body: str) -> None:
    """Media types are case-insensitive and may carry parameters, as a page's fetch or a Java or .NET HTTP client
    writes them, but the gRPC-Web filter compared the content type exactly and the transcoder took the call for a
    REST URL: HTTP 404 in plain text "Could not resolve /govshare.catalog.v1.CatalogService/GetEntry to a
    method." for a method that exists."""
    frame = b"\x00" + len(request := catalog_pb2.GetEntryRequest(code="x").SerializeToString()).to_bytes(4, "big")
    sent = frame + request if body == "frame" else base64.b64encode(frame + request)
    path, token = "/govshare.catalog.v1.CatalogService/GetEntry", dict(bearer(keys, caller()))
    status, headers = await asyncio.to_thread(_grpc_web, edge, "POST", path, sent, {**token, "te": "trailers"},
                                              content_type)
    assert (status, headers.get("grpc-status")) == (200, None), headers  # a reply with a message: answered
    status, headers = await asyncio.to_thread(_grpc_web, edge, "POST", path, sent,
                                              {**token, "te": "trailers", "grpc-timeout": "soon"}, content_type)
    assert headers.get("grpc-status") == str(grpc.StatusCode.INVALID_ARGUMENT.value[0]), headers  # routed as gRPC
    status, headers = await asyncio.to_thread(_grpc_web, edge, "POST", path, sent, token,
                                              "Application/grpc-web+JSON; charset=utf-8")
    assert headers.get("grpc-status") == str(grpc.StatusCode.UNIMPLEMENTED.value[0]), headers


@pytest.mark.parametrize(("verb", "content_type"), [("POST", "application/proto"), ("POST", "application/json"),
                                                     ("POST", "application/octet-stream"), ("GET", "")])
async def test_a_methods_path_without_a_grpc_content_type_is_told_how_to_call_it(
        edge: Edge, keys: PlatformKeys, verb: str, content_type: str) -> None:
    """A page using Connect's default transport (the Connect protocol: application/proto or application/json at the
    method's path), a hand-made POST of application/octet-stream or a GET of the method's path was answered 404
    "no operation has this URL", as if the path were misspelt. It is 415 saying to call it as gRPC or gRPC-Web (a
    Connect client: createGrpcWebTransport) or at its REST URL; a path that is no service's is 404 as before."""
    frame = b"\x00" + len(request := catalog_pb2.GetEntryRequest(code="x").SerializeToString()).to_bytes(4, "big")
    headers = {**dict(bearer(keys, caller())), **({"content-type": content_type} if content_type else {})}
    status, _, body = await asyncio.to_thread(_rest_raw, edge, verb, GET_ENTRY, frame + request if verb == "POST"
                                              else b"", headers)
    answer = json.loads(body)
    assert (status, answer["code"]) == (415, grpc.StatusCode.UNIMPLEMENTED.value[0]), answer
    assert "application/grpc-web+proto" in answer["message"] and "createGrpcWebTransport" in answer["message"]
    status, _, body = await asyncio.to_thread(_rest_raw, edge, verb, "/govshare.nothing.v1.X/Y", b"", headers)
    assert status == 404 and json.loads(body)["code"] == grpc.StatusCode.NOT_FOUND.value[0], body


@pytest.mark.parametrize("te", [None, "gzip", "deflate, chunked"])
async def test_a_grpc_call_without_te_trailers_is_invalid_argument_saying_to_send_it(edge: Edge, keys: PlatformKeys,
                                                                                   te: str | None) -> None:
    """A gRPC call without ``te: trailers`` (curl's, a hand-made client's over HTTP/1.1 or h2c) was reset by the
    backend's gRPC library, which the edge answered UNAVAILABLE "the … service is unavailable (down or
    restarting): retry with backoff" with a RetryInfo: the caller retried a call that could never pass."""
    frame = b"\x00" + len(request := catalog_pb2.GetEntryRequest(code="x").SerializeToString()).to_bytes(4, "big")
    path, token = "/govshare.catalog.v1.CatalogService/GetEntry", dict(bearer(keys, caller()))
    sent = {**token, **({"te": te} if te else {})}
    status, headers = await asyncio.to_thread(_grpc_web, edge, "POST", path, frame + request, sent, "application/grpc")
    assert (status, headers.get("grpc-status")) == (200, str(grpc.StatusCode.INVALID_ARGUMENT.value[0])), headers
    assert "te: trailers" in headers.get("grpc-message", ""), headers
    _, headers = await asyncio.to_thread(_grpc_web, edge, "POST", path, frame + request, {**token, "te": "trailers"},
                                         "application/grpc")
    assert headers.get("grpc-status") != str(grpc.StatusCode.INVALID_ARGUMENT.value[0]), headers


@pytest.mark.parametrize("body", [b"!!!!!!!!", b"AAAAAAU", b"AAAAAA==AAAAAA==", b"AAAA\nAAAA", b"\x00\x00\x00\x00\x05"])
async def test_a_grpc_web_text_body_that_is_not_base64_is_invalid_argument_saying_so(edge: Edge, keys: PlatformKeys,
                                                                                     body: bytes) -> None:
    """The gRPC-Web filter refuses a text-mode body it cannot decode with HTTP 400, which the edge answered as
    a request that is no method: UNIMPLEMENTED "not a gRPC method path: expected /package.Service/Method" for
    the very path of a method, so the page's author looked for a typo in the path."""
    path, token = "/govshare.catalog.v1.CatalogService/GetEntry", dict(bearer(keys, caller()))
    status, headers = await asyncio.to_thread(_grpc_web, edge, "POST", path, body, token,
                                              "application/grpc-web-text")
    assert (status, headers.get("grpc-status")) == (200, str(grpc.StatusCode.INVALID_ARGUMENT.value[0])), headers
    assert "not base64" in headers.get("grpc-message", ""), headers
    frame = b"\x00" + len(request := catalog_pb2.GetEntryRequest(code="x").SerializeToString()).to_bytes(4, "big")
    _, headers = await asyncio.to_thread(_grpc_web, edge, "POST", path, base64.b64encode(frame + request), token,
                                         "application/grpc-web-text")
    assert headers.get("grpc-status") != str(grpc.StatusCode.INVALID_ARGUMENT.value[0]), headers


async def test_a_backend_gone_is_unavailable_with_the_details_every_unavailable_carries(
        settings_base: Settings, jwks: JwksEndpoint, keys: PlatformKeys) -> None:
    """Envoy's own words were "upstream connect error or disconnect/reset before headers. retried and the
    latest reset reason: remote connection failure" (or "no healthy upstream"), with no ErrorInfo and no
    RetryInfo, which docs/api.md promises with every UNAVAILABLE. Over gRPC and over REST, a call whose backend
    went away now gets both, and a message saying what to do, that grpcio-status accepts as the status's own."""
    gone = await start_server(settings_base, BackendDouble(settings_base))
    edge = await start_edge(edge_settings(settings_base, gone.port, jwks.port))
    metadata = bearer(keys, caller())
    try:
        await gone.stop(0)
        async with grpc.aio.insecure_channel(edge.address) as channel:
            error = await failure(get_entry(channel)(catalog_pb2.GetEntryRequest(code="x"), metadata=metadata))
        status, body = await asyncio.to_thread(_rest_body, edge, "/v1/entries/x", dict(metadata))
    finally:
        edge.stop()
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "retry with backoff" in error.details() and "upstream" not in error.details(), error.details()
    rich = rpc_status.from_call(error)  # raises when the details' code or message differ from the call's
    assert rich is not None and rich.message == error.details()
    kinds = {detail.type_url.rsplit(".", 1)[-1] for detail in rich.details}
    assert kinds == {"ErrorInfo", "RetryInfo"}, kinds
    assert status == 503 and body["code"] == grpc.StatusCode.UNAVAILABLE.value[0], body
    assert body["message"] == error.details()
    info = next(d for d in body["details"] if d["@type"].endswith("ErrorInfo"))  # type: ignore[union-attr]
    assert (info["reason"], info["domain"]) == ("BACKEND_UNAVAILABLE", "edge.govshare"), body
    assert any(d["@type"].endswith("RetryInfo") and d["retryDelay"] == "1s" for d in body["details"]), body  # type: ignore[union-attr]


async def test_calls_a_stopping_backend_cancelled_are_tried_again_not_passed_on_as_cancelled(
        backend: RunningServer, channel: grpc.aio.Channel, keys: PlatformKeys) -> None:
    """A grpc server that stops (a service's drain, once its grace is over) ends the calls it had received but not
    yet started with CANCELLED 'CANCELLED', and the edge passed that on: live on govshare up, a SIGTERM to the query
    or the catalog service under calls gave 2 callers of some 2,000 CANCELLED, a status that says the caller itself
    gave up (the SDK does not retry it), where the others read the edge's UNAVAILABLE naming the service. The call
    never reached the service's code, so the edge now tries it again once, as it does a call refused before it went
    out: to another replica, or, the service gone, the UNAVAILABLE naming it. A stopping server cancels its queued
    calls together, and Envoy allows 3 retries at once per cluster by default: the others were passed on CANCELLED
    (flag UO); 8 cancelled at once are all tried again."""
    probe = backend.component.probe  # type: ignore[attr-defined]
    probe.cancelled_once.clear()
    probe.tried_again.clear()
    probe.tried_again_together = 8
    metadata = bearer(keys, caller())
    codes = [f"{CANCELLED_ONCE_CODE}/{n}" for n in range(probe.tried_again_together)]
    replies = await asyncio.gather(*(get_entry(channel)(catalog_pb2.GetEntryRequest(code=code), metadata=metadata,
                                                        timeout=10) for code in codes), return_exceptions=True)
    outcomes = [reply.code().name if isinstance(reply, grpc.aio.AioRpcError) else reply.entry.code  # type: ignore[union-attr]
                for reply in replies]
    assert outcomes == codes
    assert sorted(probe.tried_again) == sorted(codes)


async def test_a_backend_gone_is_named_in_the_message_and_the_error_info(
        settings_base: Settings, jwks: JwksEndpoint, keys: PlatformKeys) -> None:
    """An operator breaking one process at a time saw every caller told only "the service that answers this
    method is unavailable", whichever it was: a Query whose query service was down read as GetEntry's would with
    catalog down. The message and ErrorInfo's ``dependency`` now name the backend (REST too), still in a status
    grpcio-status accepts as the call's own."""
    gone = await start_server(settings_base, BackendDouble(settings_base))
    edge = await start_edge(edge_settings(settings_base, gone.port, jwks.port))
    metadata = bearer(keys, caller())
    try:
        await gone.stop(0)
        async with grpc.aio.insecure_channel(edge.address) as channel:
            catalog = await failure(get_entry(channel)(catalog_pb2.GetEntryRequest(code="x"), metadata=metadata))
            query = await failure(query_pb2_grpc.QueryServiceStub(channel).Query(
                query_pb2.QueryRequest(resource_code="x", key="k"), metadata=metadata))
        status, body = await asyncio.to_thread(_rest_body, edge, "/v1/entries/x", dict(metadata))
    finally:
        edge.stop()
    for error, backend in ((catalog, "catalog"), (query, "query")):
        assert error.code() == grpc.StatusCode.UNAVAILABLE, error
        assert error.details().startswith(f"the {backend} service is unavailable (down or restarting)"), error
        rich = rpc_status.from_call(error)  # raises when the details' code or message differ from the call's
        assert rich is not None and rich.message == error.details()
        info, _ = details_of(error)
        assert info is not None and (info.reason, info.metadata["dependency"]) == ("BACKEND_UNAVAILABLE", backend)
    assert status == 503 and body["message"] == catalog.details(), body
    info = next(d for d in body["details"] if d["@type"].endswith("ErrorInfo"))  # type: ignore[union-attr]
    assert info["metadata"] == {"dependency": "catalog"}, body


async def _catalog_health(edge: Edge) -> str:
    clusters = await asyncio.to_thread(edge.admin_get, "/clusters")
    return next(line for line in clusters.splitlines() if line.startswith("catalog::") and "::health_flags::" in line)


async def test_the_edge_takes_a_killed_backend_out_within_two_seconds(
        settings_base: Settings, jwks: JwksEndpoint) -> None:
    """The edge checked its backends every 2 s and took one out after three failed checks: a killed backend
    stayed in the rotation 4 to 6 s (one no call had used yet, checked every 5 s, up to 10 s), its share of the
    calls failing meanwhile. It is asked every second and out after two failures."""
    gone = await start_server(settings_base, BackendDouble(settings_base))
    edge = await start_edge(edge_settings(settings_base, gone.port, jwks.port))
    try:
        started = time.monotonic()
        await gone.stop(0)
        while "failed_active_hc" not in await _catalog_health(edge):
            assert time.monotonic() - started < 10, "the edge never took the killed backend out"
            await asyncio.sleep(0.05)
        assert time.monotonic() - started < 3.5  # 4 to 6 s before (10 to 15 s for a cluster no call had used)
    finally:
        edge.stop()


# -- fuzz -------------------------------------------------------------------------------------------------------

_PATH_TEXT = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=30)
#: Paths with their leading slash, as a gRPC client sends them: the edge routes each (a method it serves, a service
#: it does not, a path no method has) and answers it on the connection it came on.
_ROUTED_METHODS = st.one_of(
    st.sampled_from([GET_ENTRY, LIST_ENTRIES, EXPORT, ISSUE_TOKEN, "/govshare.provider.v1.ProviderService/Lookup",
                     "/govshare.authorization.v1.AuthorizationService/Check"]),
    st.builds(lambda service, name: f"/{service}/{name}", _PATH_TEXT, _PATH_TEXT),
    _PATH_TEXT.map(lambda text: f"/{text}"),
)
#: Paths without it (the empty one too): Envoy's HTTP/2 codec refuses such a request by closing its connection,
#: and answers it only when it has closed (its delayed close, 1 s later), failing the next call sent on it too.
_BARE_PATHS = _PATH_TEXT.filter(lambda text: not text.startswith("/"))


async def _never_fails_internally(channel: grpc.aio.Channel, keys: PlatformKeys, method: str, body: bytes,
                                  authenticated: bool) -> None:
    metadata = bearer(keys, Caller("sys-fuzz", "fuzz")) if authenticated else ()
    try:
        if method == EXPORT:
            async for _ in channel.unary_stream(method)(body, metadata=metadata, timeout=10):
                pass
        else:
            await channel.unary_unary(method)(body, metadata=metadata, timeout=10)
    except grpc.aio.AioRpcError as error:
        assert error.code() not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN), (method, error)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=_ROUTED_METHODS, body=st.binary(max_size=200), authenticated=st.booleans())
async def test_random_calls_never_fail_internally(channel: grpc.aio.Channel, keys: PlatformKeys, method: str,
                                                  body: bytes, authenticated: bool) -> None:
    await _never_fails_internally(channel, keys, method, body, authenticated)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(calls=st.lists(st.tuples(_BARE_PATHS, st.binary(max_size=200), st.booleans()), min_size=1, max_size=10))
async def test_random_calls_to_paths_without_a_slash_never_fail_internally(
        edge: Edge, keys: PlatformKeys, calls: list[tuple[str, bytes, bool]]) -> None:
    """Each call on a connection of its own, all at once: each is answered after the edge's delayed close (a second
    each, one after another, was most of the fuzz's time), and none fails the next call by closing its connection."""

    async def alone(method: str, body: bytes, authenticated: bool) -> None:
        async with grpc.aio.insecure_channel(edge.address) as own:
            await _never_fails_internally(own, keys, method, body, authenticated)

    await asyncio.gather(*(alone(*call) for call in calls))


# -- browsers ---------------------------------------------------------------------------------------------------


def _preflight(address: str, origin: str) -> tuple[int, dict[str, str]]:
    headers = {"origin": origin, "access-control-request-method": "POST",
               "access-control-request-headers": "authorization,content-type,x-grpc-web"}
    request = urllib.request.Request(f"http://{address}{GET_ENTRY}", method="OPTIONS", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}


async def test_cors_admits_the_configured_origins_only(settings_base: Settings, backend: RunningServer,
                                                       jwks: JwksEndpoint) -> None:
    edge = await start_edge(edge_settings(settings_base, backend.port, jwks.port,
                                          cors_origins=("https://console.example.gov.cn",)))
    try:
        status, headers = await asyncio.to_thread(_preflight, edge.address, "https://console.example.gov.cn")
        assert status == 200
        assert headers["access-control-allow-origin"] == "https://console.example.gov.cn"
        allowed = {name.strip() for name in headers["access-control-allow-headers"].split(",")}
        # What OpenTelemetry's web instrumentation and request libraries add: the browser refused calls with them.
        assert {"authorization", "traceparent", "tracestate", "baggage", "x-request-id"} <= allowed, allowed
        assert "grpc-status" in headers["access-control-expose-headers"]
        _, headers = await asyncio.to_thread(_preflight, edge.address, "https://elsewhere.example")
        assert "access-control-allow-origin" not in headers
    finally:
        edge.stop()


def _browser_rest(address: str, verb: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(f"http://{address}{path}", method=verb, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


async def test_cors_admits_the_configured_origins_to_rest_too(settings_base: Settings, backend: RunningServer,
                                                              jwks: JwksEndpoint, keys: PlatformKeys) -> None:
    """GOVSHARE_CORS_ORIGINS admits browsers to REST as to gRPC-Web. A REST URL met Envoy's catch-all direct
    response before the transcoder mapped it, and the CORS filter ignores such routes: an allowed origin's
    preflight was the transcoder's 404, and its calls came back without Access-Control-Allow-Origin."""
    origin = "https://console.example.gov.cn"
    edge = await start_edge(edge_settings(settings_base, backend.port, jwks.port, cors_origins=(origin,)))
    path = "/v1/entries/101001%2F000001"
    preflight = {"access-control-request-method": "PATCH",
                 "access-control-request-headers": "authorization,content-type"}
    try:
        allowed = await asyncio.to_thread(_browser_rest, edge.address, "OPTIONS", path, {"origin": origin, **preflight})
        other = await asyncio.to_thread(_browser_rest, edge.address, "OPTIONS", path,
                                        {"origin": "https://elsewhere.example", **preflight})
        token = dict(bearer(keys, caller()))
        read = await asyncio.to_thread(_browser_rest, edge.address, "GET", path, {"origin": origin, **token})
        refused = await asyncio.to_thread(_browser_rest, edge.address, "GET", path, {"origin": origin})
        unmapped = await asyncio.to_thread(_browser_rest, edge.address, "GET", "/v1/noSuchCollection",
                                           {"origin": origin, **token})
        plain = await asyncio.to_thread(_browser_rest, edge.address, "GET", path, token)
        document = await asyncio.to_thread(_browser_rest, edge.address, "GET", "/openapi.yaml", {"origin": origin})
    finally:
        edge.stop()
    # The public document a Swagger UI on an allowed origin loads: a direct response, which the CORS filter skips.
    assert document[0] == 200 and document[1]["access-control-allow-origin"] == "*", document[:2]
    assert allowed[0] == 200 and allowed[1]["access-control-allow-origin"] == origin, allowed
    assert "PATCH" in allowed[1]["access-control-allow-methods"]
    assert "access-control-allow-origin" not in other[1], other
    assert read[0] == 200 and read[1]["access-control-allow-origin"] == origin, read
    assert json.loads(read[2])["entry"]["code"] == "101001/000001"
    # The browser may read a refusal's JSON too, and an unknown URL is still the transcoder's 404.
    assert refused[0] == 401 and refused[1]["access-control-allow-origin"] == origin, refused
    assert unmapped[0] == 404 and json.loads(unmapped[2])["code"] == grpc.StatusCode.NOT_FOUND.value[0], unmapped
    assert plain[0] == 200 and "access-control-allow-origin" not in plain[1], plain


async def test_a_preflight_from_an_origin_not_admitted_is_told_so_not_how_to_call(
        settings_base: Settings, backend: RunningServer, jwks: JwksEndpoint, edge: Edge) -> None:
    """A page on an origin GOVSHARE_CORS_ORIGINS does not list (the console moved to a new host name, a developer's
    http://localhost:5173) sees its browser's preflight fail, and its devtools showed the edge's answer to a call:
    415 'this is a gRPC method's path, called without a gRPC content type: send it as gRPC…' for a gRPC-Web call
    sent as gRPC-Web, and 405 '/v1/entries takes POST or GET or HEAD, not OPTIONS: send it so' for a REST URL, where
    the method was the browser's to choose. It is 403, naming the origin and the setting, and still marks nothing
    for the page to read."""
    origin = "https://console.example.gov.cn"
    admitting = await start_edge(edge_settings(settings_base, backend.port, jwks.port, cors_origins=(origin,)))
    grpc_web = {"access-control-request-method": "POST",
                "access-control-request-headers": "content-type,x-grpc-web,authorization"}
    rest = {"access-control-request-method": "GET", "access-control-request-headers": "authorization"}
    elsewhere = "http://localhost:5173"
    try:
        answers = [await asyncio.to_thread(_browser_rest, running.address, "OPTIONS", path,
                                           {"origin": elsewhere, **preflight})
                   for running in (admitting, edge)
                   for path, preflight in ((GET_ENTRY, grpc_web), ("/v1/entries", rest))]
        allowed = await asyncio.to_thread(_browser_rest, admitting.address, "OPTIONS", GET_ENTRY,
                                          {"origin": origin, **grpc_web})
        not_preflight = await asyncio.to_thread(_browser_rest, edge.address, "OPTIONS", "/v1/entries", {})
    finally:
        admitting.stop()
    for status, headers, body in answers:
        assert status == 403, (status, body)
        assert "access-control-allow-origin" not in headers
        refusal = json.loads(body)
        assert refusal["code"] == grpc.StatusCode.PERMISSION_DENIED.value[0], refusal
        assert refusal["details"][0]["reason"] == "ORIGIN_NOT_ADMITTED", refusal
        assert elsewhere in refusal["message"] and "GOVSHARE_CORS_ORIGINS" in refusal["message"], refusal
    assert all("admits no origin" in json.loads(body)["message"] for _, _, body in answers[2:])  # none listed
    assert allowed[0] == 200 and allowed[1]["access-control-allow-origin"] == origin, allowed
    assert not_preflight[0] == 405, not_preflight  # an OPTIONS no browser sent is the method refused, as before


# -- mTLS: the chart's mesh identity at the edge ------------------------------------------------------------------


def _certificate(common: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
                 signer: ec.EllipticCurvePrivateKey, *, ca: bool) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer if not ca else subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=1)).not_valid_after(now + dt.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return builder.sign(signer, hashes.SHA256())


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class MountedSecret:
    """A directory as the kubelet keeps a mounted Secret: ``tls.crt`` → ``..data/tls.crt``, ``..data`` → a dated
    directory; an update writes a new dated directory and renames a new ``..data`` link over the old one."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir()
        self.generation = 0

    def write(self, files: dict[str, bytes]) -> None:
        self.generation += 1
        dated = self.directory / f"..2026_12_02_00_00_{self.generation:02d}"
        dated.mkdir()
        for name, content in files.items():
            (dated / name).write_bytes(content)
        link = self.directory / "..data_tmp"
        link.symlink_to(dated.name)
        old = os.readlink(self.directory / "..data") if (self.directory / "..data").is_symlink() else None
        os.rename(link, self.directory / "..data")
        for name in files:
            if not (self.directory / name).is_symlink():
                (self.directory / name).symlink_to(f"..data/{name}")
        if old is not None:
            shutil.rmtree(self.directory / old)

    def path(self, name: str) -> str:
        return str(self.directory / name)


@dataclass
class Mesh:
    """A mesh CA, a backend serving mTLS with its certificate, and the edge's certificate files (as mounted)."""

    ca: x509.Certificate
    ca_key: ec.EllipticCurvePrivateKey
    backend: RunningServer
    secret: MountedSecret

    def issue(self, common: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        return _certificate(common, key, self.ca.subject, self.ca_key, ca=False), key

    def mount(self, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        self.secret.write({"tls.crt": _pem(certificate), "tls.key": _key_pem(key), "ca.crt": _pem(self.ca)})

    def edge_settings(self, settings_base: Settings, jwks: JwksEndpoint) -> Settings:
        return edge_settings(settings_base, self.backend.port, jwks.port, tls_cert=self.secret.path("tls.crt"),
                             tls_key=self.secret.path("tls.key"), tls_ca=self.secret.path("ca.crt"))

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(root_certificates=_pem(self.ca))


@pytest_asyncio.fixture(loop_scope="session")
async def mesh(settings_base: Settings, tmp_path: Path) -> AsyncIterator[Mesh]:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("govshare-ca", ca_key, x509.Name([]), ca_key, ca=True)
    backend_key = ec.generate_private_key(ec.SECP256R1())
    backend_files = MountedSecret(tmp_path / "backend-tls")
    backend_files.write({"tls.crt": _pem(_certificate("backend", backend_key, ca.subject, ca_key, ca=False)),
                         "tls.key": _key_pem(backend_key), "ca.crt": _pem(ca)})
    backend = await start_server(settings_base.with_overrides(
        tls_cert=backend_files.path("tls.crt"), tls_key=backend_files.path("tls.key"),
        tls_ca=backend_files.path("ca.crt")), BackendDouble(settings_base))
    yield Mesh(ca, ca_key, backend, MountedSecret(tmp_path / "edge-tls"))
    await backend.stop(0)


async def test_under_mtls_the_backends_pass_the_edges_health_checks(
        settings_base: Settings, jwks: JwksEndpoint, keys: PlatformKeys, mesh: Mesh) -> None:
    """The chart's mTLS: a gRPC server closed the edge's health-check connections (no ALPN), so every backend
    was ``failed_active_hc`` and called only in Envoy's panic mode. start() waits for every backend healthy."""
    mesh.mount(*mesh.issue("edge"))
    edge = await start_edge(mesh.edge_settings(settings_base, jwks))
    try:
        assert "failed_active_hc" not in edge.admin_get("/clusters")
        async with grpc.aio.secure_channel(edge.address, mesh.credentials()) as channel:
            await get_entry(channel)(catalog_pb2.GetEntryRequest(code="x"), metadata=bearer(keys, caller()),
                                     timeout=10)
    finally:
        edge.stop()


class _UncheckedEdge(Edge):
    """An edge whose start does not wait for its backends to pass their health checks (they are to fail them)."""

    def _healthy(self) -> bool:
        return True


async def test_the_edge_refuses_a_backend_whose_certificate_names_another_service(
        settings_base: Settings, jwks: JwksEndpoint, keys: PlatformKeys, mesh: Mesh, tmp_path: Path) -> None:
    """The edge checked the backends' certificates against the mesh CA alone: every pod of a release holds one of
    that CA, so a pod answering at the catalog's address (a compromised foundation pod, an endpoint or DNS pointed
    at it) was taken for the catalog and sent every caller's request and bearer token. Each backend's cluster now
    requires the certificate to name the host it dialled (127.0.0.1 here; the chart's -pods Service names, which
    each component's Certificate carries): a backend of the mesh CA under another name gets no call."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "govshare-foundation")])
    now = dt.datetime.now(dt.UTC)
    impostor_certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(mesh.ca.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("govshare-foundation")]), critical=False)
        .sign(mesh.ca_key, hashes.SHA256()))
    files = MountedSecret(tmp_path / "impostor-tls")
    files.write({"tls.crt": _pem(impostor_certificate), "tls.key": _key_pem(key), "ca.crt": _pem(mesh.ca)})
    impostor = await start_server(settings_base.with_overrides(
        tls_cert=files.path("tls.crt"), tls_key=files.path("tls.key"), tls_ca=files.path("ca.crt")),
        BackendDouble(settings_base))
    mesh.mount(*mesh.issue("edge"))
    edge = await _UncheckedEdge(edge_settings(
        settings_base, impostor.port, jwks.port, tls_cert=mesh.secret.path("tls.crt"),
        tls_key=mesh.secret.path("tls.key"), tls_ca=mesh.secret.path("ca.crt"))).start()
    try:
        async with grpc.aio.secure_channel(edge.address, mesh.credentials()) as channel:
            refused = await failure(get_entry(channel)(catalog_pb2.GetEntryRequest(code="x"),
                                                       metadata=bearer(keys, caller()), timeout=10))
        stats = dict(line.split(": ", 1) for line in edge.admin_get("/stats?filter=fail_verify_san").splitlines())
    finally:
        edge.stop()
        await impostor.stop(0)
    assert refused.code() == grpc.StatusCode.UNAVAILABLE, refused
    info, _ = details_of(refused)
    assert info is not None and (info.reason, info.metadata["dependency"]) == ("BACKEND_UNAVAILABLE", "catalog")
    assert int(stats["cluster.catalog.ssl.fail_verify_san"]) >= 1, stats


def _served_certificate(address: str) -> x509.Certificate:
    """The certificate the edge presents on a new TLS connection (not verified: only compared)."""
    host, port = address.rsplit(":", 1)
    return x509.load_pem_x509_certificate(ssl.get_server_certificate((host, int(port)), timeout=5).encode())


async def test_the_edge_uses_a_renewed_certificate_without_a_restart(
        settings_base: Settings, jwks: JwksEndpoint, keys: PlatformKeys, mesh: Mesh) -> None:
    """cert-manager renews the mesh certificate in its Secret and the kubelet swaps the mounted files; Envoy
    kept the certificate it started with (static ``filename``s) until a restart, so about 90 days after an edge
    started every call to the backends failed. Now a new connection gets the renewed one within seconds, from
    the same Envoy, and the backends' clusters present it too."""
    certificate_a, key_a = mesh.issue("edge-a")
    certificate_b, key_b = mesh.issue("edge-b")
    mesh.mount(certificate_a, key_a)
    edge = await start_edge(mesh.edge_settings(settings_base, jwks))
    request = catalog_pb2.GetEntryRequest(code="x")
    try:
        served = await asyncio.to_thread(_served_certificate, edge.address)
        assert served.serial_number == certificate_a.serial_number

        mesh.mount(certificate_b, key_b)  # a new dated directory, ..data renamed onto it, the old one removed
        for _ in range(50):  # up to 10 s
            served = await asyncio.to_thread(_served_certificate, edge.address)
            if served.serial_number == certificate_b.serial_number:
                break
            await asyncio.sleep(0.2)
        assert served.serial_number == certificate_b.serial_number, "the edge still presents the old certificate"
        assert edge.process is not None and edge.process.poll() is None  # the same Envoy: no restart
        # Every TLS context, the backends' clusters' included, holds the renewed certificate; calls go on.
        contexts = json.loads(edge.admin_get("/certs"))["certificates"]
        serials = {int(chain["serial_number"], 16) for context in contexts for chain in context["cert_chain"]}
        assert serials == {certificate_b.serial_number}
        async with grpc.aio.secure_channel(edge.address, mesh.credentials()) as channel:
            await get_entry(channel)(request, metadata=bearer(keys, caller()), timeout=10)
    finally:
        edge.stop()


async def test_a_rest_claim_that_is_not_a_string_is_named_as_the_service_names_it(edge: Edge,
                                                                                   keys: PlatformKeys) -> None:
    """A Verify claim sent as a JSON number (a Java system's Integer, a date as 19491106) was refused naming
    "claims[1].value", its place in the body, where the query service names a claim by its item (claims["name"]);
    a list or an object was named no better. Each is refused naming claims["<item>"], in the message and the
    BadRequest, as the service does; a key that is not shaped as a name is not repeated."""
    token = {**dict(bearer(keys, caller())), "content-type": "application/json"}
    verify = "/v1/resources/101001%2F000001:verify"
    purpose = '"purpose": {"type": "PURPOSE_TYPE_WORK_REFERENCE", "text": "x"}'
    for claims, field in [('{"name": "张三", "birthDate": 19491106}', 'claims["birthDate"]'),
                          ('{"name": true}', 'claims["name"]'), ('{"name": ["张三"]}', 'claims["name"]'),
                          ('{"name": {"a": "b"}}', 'claims["name"]')]:
        status, _, content = await asyncio.to_thread(_rest_raw, edge, "POST", verify, (
            f'{{"key": "k", {purpose}, "claims": {claims}}}').encode(), token)
        answer = json.loads(content)
        assert (status, answer["message"]) == (
            400, f"{field}: not a JSON string (the edge does not repeat the value)"), content
        assert answer["details"][1]["fieldViolations"][0]["field"] == field, answer
    status, _, content = await asyncio.to_thread(_rest_raw, edge, "POST", verify, (
        f'{{"key": "k", {purpose}, "claims": {{"342322194911060454": 1}}}}').encode(), token)
    assert status == 400 and b"342322194911060454" not in content, content
    status, _, content = await asyncio.to_thread(_rest_raw, edge, "POST", "/v1/datasets/population/records:load",
                                                 b'{"records": [{"values": {"name": "a"}}, {"values": {"age": 7}}]}',
                                                 token)
    assert json.loads(content)["message"] == (
        'records[1].values["age"]: not a JSON string (the edge does not repeat the value)'), content


async def test_a_rest_map_key_given_twice_is_named_as_the_service_names_it_and_not_repeated(
        edge: Edge, keys: PlatformKeys) -> None:
    """A claim given twice ({"claims": {"name": "张三", "name": "李四"}}, as a program that writes a map's entries
    itself may) was refused with the transcoder's words, "claims[0]: Repeated map key: 'name' is already set.":
    the claim named by no place the services use, and a key that was an ID number (a claim keyed by the record's
    key by mistake) repeated whole, into the caller's logs and proxies, where the edge never repeats a value. It
    is refused as the services name a claim, claims["name"], and a key not shaped as a name is not repeated."""
    token = {**dict(bearer(keys, caller())), "content-type": "application/json"}
    verify = "/v1/resources/101001%2F000001:verify"
    purpose = '"purpose": {"type": "PURPOSE_TYPE_WORK_REFERENCE", "text": "x"}'
    for claims, field in [('{"name": "张三", "sex": "男", "name": "李四"}', 'claims["name"]'),
                          ('{"342322194911060454": "张三", "342322194911060454": "李四"}', "claims[…]")]:
        status, _, content = await asyncio.to_thread(_rest_raw, edge, "POST", verify, (
            f'{{"key": "k", {purpose}, "claims": {claims}}}').encode(), token)
        answer = json.loads(content)
        assert status == 400 and answer["message"].startswith(f"{field}: given twice in one map"), content
        assert answer["details"][1]["fieldViolations"][0]["field"] == field, answer
        assert b"342322194911060454" not in content, content
    status, _, content = await asyncio.to_thread(_rest_raw, edge, "POST", "/v1/datasets/population/records:load",
                                                 b'{"records": [{"values": {"age": "7"}}, '
                                                 b'{"values": {"age": "7", "age": "8"}}]}', token)
    assert json.loads(content)["message"].startswith('records[1].values["age"]: given twice in one map'), content


async def test_a_message_over_what_its_method_can_need_is_refused_at_the_edge_naming_the_limit(
        edge: Edge, keys: PlatformKeys) -> None:
    """There was no per-method limit at the edge: an 8 MiB Verify (or a GetEntry padded with 8 MiB of unknown
    fields) crossed it and was read whole by a service before being refused. A Verify is held to what 500 claims
    of 1,024 characters take, a method whose request holds no list to 256 KiB: past it, RESOURCE_EXHAUSTED
    (REST: 413) MESSAGE_TOO_LARGE naming the limit; the largest valid Verify and a plain GetEntry still go on."""
    metadata = bearer(keys, caller())
    verify_limit, small_limit = f"{VERIFY_MESSAGE_BYTES:,} bytes", f"{SMALL_MESSAGE_BYTES:,} bytes"
    largest = query_pb2.VerifyRequest(resource_code="101001/000001", key="k",
                                      claims={f"item_{n:03d}": "𠮷" * 1024 for n in range(500)})
    over = query_pb2.VerifyRequest(resource_code="101001/000001", key="k", claims={"name": "x" * 3_000_000})
    padded = catalog_pb2.GetEntryRequest(code="x" * (SMALL_MESSAGE_BYTES + 1)).SerializeToString()
    async with grpc.aio.insecure_channel(edge.address) as channel:
        verify = channel.unary_unary("/govshare.query.v1.QueryService/Verify",
                                     request_serializer=query_pb2.VerifyRequest.SerializeToString,
                                     response_deserializer=query_pb2.VerifyResponse.FromString)
        refused = await failure(verify(over, metadata=metadata, timeout=30))
        assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and verify_limit in refused.details(), refused
        rich, info = rpc_status.from_call(refused), error_details_pb2.ErrorInfo()
        assert rich is not None and rich.details[0].Unpack(info) and info.reason == "MESSAGE_TOO_LARGE", rich
        # The largest Verify the query service takes goes on to it (the test backend has no Verify).
        assert (await failure(verify(largest, metadata=metadata, timeout=30))).code() == grpc.StatusCode.UNIMPLEMENTED
        raw = channel.unary_unary(GET_ENTRY)
        refused = await failure(raw(padded, metadata=metadata, timeout=30))
        assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and small_limit in refused.details(), refused
        answer = await get_entry(channel)(catalog_pb2.GetEntryRequest(code="x"), metadata=metadata, timeout=30)
        assert answer.entry.code == "x"
    body = json.dumps({"key": "k", "claims": {"name": "x" * 3_000_000}}).encode()
    status, _, content = await asyncio.to_thread(_rest_raw, edge, "POST", "/v1/resources/101001%2F000001:verify",
                                                 body, {**dict(metadata), "content-type": "application/json"})
    answer = json.loads(content)
    assert (status, answer["code"]) == (413, grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]), content[:300]
    assert verify_limit in answer["message"] and answer["details"][0]["reason"] == "MESSAGE_TOO_LARGE", answer
