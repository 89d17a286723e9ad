"""The client SDK's token, deadline, retry and error handling, against a real gRPC server on a socket.

The server here is a test double of the platform's edge (TokenService plus a scripted QueryService and
CatalogService): it lets each test decide what the platform answers — UNAVAILABLE twice, a RetryInfo, an
expired token — and records what the client really sent over the wire.
"""

from __future__ import annotations

import ast
import asyncio
import base64
import contextlib
import copy
import json
import os
import pickle
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from tls_certificates import tls_pair

import govshare_client
from govshare_client import (
    AsyncClient,
    Client,
    DeadlineExceeded,
    GovshareError,
    InvalidArgument,
    PermissionDenied,
    Purpose,
    ResourceExhausted,
    RetryPolicy,
    Unauthenticated,
    Unavailable,
    VerifyOutcome,
    VerifyResult,
    async_pages,
    pages,
)
from govshare_client._tokens import TokenSource
from govshare_client.pb.authorization.v1 import sharing_pb2, sharing_pb2_grpc
from govshare_client.pb.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from govshare_client.pb.common.v1 import common_pb2
from govshare_client.pb.query.v1 import query_pb2, query_pb2_grpc

Behaviour = Callable[[grpc.ServicerContext], None]


def _pack(message) -> any_pb2.Any:  # type: ignore[no-untyped-def]
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def fail(code: int, message: str, reason: str = "", retry_after: float | None = None,
         violations: tuple[tuple[str, str], ...] = (), **metadata: str) -> Behaviour:
    """A behaviour aborting the call with a rich google.rpc.Status, as the platform's services do."""
    details = []
    if reason:
        details.append(_pack(error_details_pb2.ErrorInfo(reason=reason, domain="query.govshare", metadata=metadata)))
    if violations:
        details.append(_pack(error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=f, description=d) for f, d in violations])))
    if retry_after is not None:
        seconds = int(retry_after)
        details.append(_pack(error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(
            seconds=seconds, nanos=int((retry_after - seconds) * 1e9)))))
    status = rpc_status.to_status(status_pb2.Status(code=code, message=message, details=details))

    def behave(context: grpc.ServicerContext) -> None:
        context.abort_with_status(status)

    return behave


def unavailable(retry_after: float | None = None) -> Behaviour:
    return fail(code_pb2.UNAVAILABLE, "backend down", retry_after=retry_after)


def _jwt(lifetime: float) -> str:
    """A token shaped like the platform's (header.claims.signature) with the given lifetime."""
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    now = time.time()
    return f"{part({'alg': 'EdDSA'})}.{part({'iat': int(now), 'exp': int(now + lifetime), 'n': now})}.c2ln"


@dataclass
class Call:
    method: str
    token: str
    time_remaining: float | None
    at: float
    request_id: str = ""


@dataclass
class FakeEdge:
    """Scripted platform edge: ``script[method]`` is consumed one behaviour per call, then calls succeed."""

    lifetime: float = 3600.0
    secret: str = "s3cret"
    issued: list[str] = field(default_factory=list)
    #: Each IssueToken received: the secret it sent, and whether it carried a bearer token.
    issuances: list[tuple[str, bool]] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    script: dict[str, list[Behaviour]] = field(default_factory=dict)
    refused_tokens: set[str] = field(default_factory=set)
    refuse_every_token: bool = False
    #: Values a query answers besides its usual ones (to make a reply as large as a test needs).
    extra_values: dict[str, str] = field(default_factory=dict)
    #: The records an export's closing message says its provider could not send.
    export_skipped: int = 0
    #: A page token ListEntries answers on every page, as a broken listing would.
    list_entries_stuck: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def issue(self, request, context):  # type: ignore[no-untyped-def]
        from govshare_client.pb.authorization.v1 import token_pb2

        with self.lock:
            self.issuances.append((request.secret, "authorization" in dict(context.invocation_metadata())))
            behaviour = self.script.get("IssueToken", []).pop(0) if self.script.get("IssueToken") else None
        if behaviour is not None:
            behaviour(context)
        if request.secret != self.secret:
            fail(code_pb2.UNAUTHENTICATED, "unknown system or wrong secret", "UNAUTHENTICATED")(context)
        time.sleep(0.01)  # an issuance takes a moment: concurrent callers must still share one
        token = _jwt(self.lifetime)
        with self.lock:
            self.issued.append(token)
        response = token_pb2.IssueTokenResponse(token=token)
        response.expire_time.FromSeconds(int(time.time() + self.lifetime))
        return response

    def _enter(self, method: str, context: grpc.ServicerContext, request_id: str = "") -> None:
        token = dict(context.invocation_metadata()).get("authorization", "").removeprefix("Bearer ")
        with self.lock:
            self.calls.append(Call(method, token, context.time_remaining(), time.monotonic(), request_id))
            behaviour = self.script.get(method, []).pop(0) if self.script.get(method) else None
        if self.refuse_every_token or token in self.refused_tokens or token not in self.issued:
            fail(code_pb2.UNAUTHENTICATED, "bearer token has expired", "UNAUTHENTICATED")(context)
        if behaviour is not None:
            behaviour(context)

    def query(self, request, context):  # type: ignore[no-untyped-def]
        self._enter("Query", context)
        response = query_pb2.QueryResponse(values={"name": "某某公司", **self.extra_values},
                                           masked_items=["legal_representative"], audit_id="a-1")
        response.provenance.provider_department_code = "11110100MB0000003X"
        response.provenance.as_of_time.FromSeconds(1_700_000_000)
        return response

    def batch_query(self, request, context):  # type: ignore[no-untyped-def]
        self._enter("BatchQuery", context)
        return query_pb2.BatchQueryResponse(results=[
            query_pb2.BatchQueryResult(key=k, found=k != "bad", error="bad key" if k == "bad" else "")
            for k in request.keys], audit_id="a-2")

    def verify(self, request, context):  # type: ignore[no-untyped-def]
        self._enter("Verify", context)
        return query_pb2.VerifyResponse(outcomes={"name": query_pb2.VERIFY_OUTCOME_MATCH,
                                                  "sex": query_pb2.VERIFY_OUTCOME_MISMATCH})

    def export(self, request, context):  # type: ignore[no-untyped-def]
        self._enter("Export", context)
        for keys in (["k1", "k2"], ["k3"]):
            if keys == ["k3"]:  # after the first page: ``script["Export midway"]`` fails the stream there
                with self.lock:
                    midway = self.script.get("Export midway", []).pop(0) if self.script.get("Export midway") else None
                if midway is not None:
                    midway(context)
            if keys == ["k1", "k2"]:  # the export's access record, named before its first row as the platform does
                context.send_initial_metadata((("x-govshare-audit-id", "a-9"),))
            yield query_pb2.ExportResponse(rows=[query_pb2.ExportRow(key=k, values={"name": k}, disputed=k == "k3")
                                                 for k in keys])
        # The closing message: whole, 3 rows sent, and records the provider could not send.
        yield query_pb2.ExportResponse(complete=True, row_count=3, skipped_count=self.export_skipped)

    def get_entry(self, request, context):  # type: ignore[no-untyped-def]
        self._enter("GetEntry", context)
        return catalog_pb2.GetEntryResponse(entry=catalog_pb2.Entry(code=request.code))

    def list_entries(self, request, context):  # type: ignore[no-untyped-def]
        """Five entries of the requested subject, ``page_size`` a page; a page token is the next offset, or
        ``list_entries_stuck`` sent back every time (a listing that never ends)."""
        self._enter("ListEntries", context)
        start = int(request.page_token or 0)
        codes = [f"{request.filter.subject}-{i}" for i in range(5)][start:start + request.page_size]
        following = self.list_entries_stuck or (str(start + request.page_size) if start + request.page_size < 5
                                                else "")
        return catalog_pb2.ListEntriesResponse(entries=[catalog_pb2.Entry(code=c) for c in codes],
                                               next_page_token=following)

    def create_entry(self, request, context):  # type: ignore[no-untyped-def]
        self._enter("CreateEntry", context)
        return catalog_pb2.CreateEntryResponse(entry=request.entry)

    def submit_application(self, request, context):  # type: ignore[no-untyped-def]
        self._enter("SubmitApplication", context, request.request_id)
        return sharing_pb2.SubmitApplicationResponse(application=request.application)

    def sign_in(self, request, context):  # type: ignore[no-untyped-def]
        """SessionService.SignIn as the platform answers a wrong password: the system's token is good, the
        person's password is not (each such attempt counts toward locking the account)."""
        from govshare_client.pb.authorization.v1 import persons_pb2

        self._enter("SignIn", context)
        fail(code_pb2.UNAUTHENTICATED, "unknown username or wrong password", "BAD_CREDENTIALS")(context)
        return persons_pb2.SignInResponse()

    def handlers(self) -> list[grpc.GenericRpcHandler]:
        from govshare_client.pb.authorization.v1 import persons_pb2, token_pb2

        def unary(fn, request_type, response_type):  # type: ignore[no-untyped-def]
            return grpc.unary_unary_rpc_method_handler(fn, request_deserializer=request_type.FromString,
                                                       response_serializer=response_type.SerializeToString)
        return [
            grpc.method_handlers_generic_handler("govshare.authorization.v1.TokenService", {
                "IssueToken": unary(self.issue, token_pb2.IssueTokenRequest, token_pb2.IssueTokenResponse)}),
            grpc.method_handlers_generic_handler("govshare.query.v1.QueryService", {
                "Query": unary(self.query, query_pb2.QueryRequest, query_pb2.QueryResponse),
                "BatchQuery": unary(self.batch_query, query_pb2.BatchQueryRequest, query_pb2.BatchQueryResponse),
                "Verify": unary(self.verify, query_pb2.VerifyRequest, query_pb2.VerifyResponse),
                "Export": grpc.unary_stream_rpc_method_handler(
                    self.export, request_deserializer=query_pb2.ExportRequest.FromString,
                    response_serializer=query_pb2.ExportResponse.SerializeToString)}),
            grpc.method_handlers_generic_handler("govshare.authorization.v1.SessionService", {
                "SignIn": unary(self.sign_in, persons_pb2.SignInRequest, persons_pb2.SignInResponse)}),
            grpc.method_handlers_generic_handler("govshare.catalog.v1.CatalogService", {
                "GetEntry": unary(self.get_entry, catalog_pb2.GetEntryRequest, catalog_pb2.GetEntryResponse),
                "ListEntries": unary(self.list_entries, catalog_pb2.ListEntriesRequest,
                                     catalog_pb2.ListEntriesResponse),
                "CreateEntry": unary(self.create_entry, catalog_pb2.CreateEntryRequest,
                                     catalog_pb2.CreateEntryResponse)}),
            grpc.method_handlers_generic_handler("govshare.authorization.v1.SharingService", {
                "SubmitApplication": unary(self.submit_application, sharing_pb2.SubmitApplicationRequest,
                                           sharing_pb2.SubmitApplicationResponse)}),
        ]

    def attempts(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]


@pytest.fixture
def edge() -> Iterator[tuple[FakeEdge, str]]:
    fake = FakeEdge()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    server.add_generic_rpc_handlers(fake.handlers())
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield fake, f"127.0.0.1:{port}"
    server.stop(0)


class SleepRecorder:
    """Sleeps for real (the server sees the real gaps) and remembers every pause the client chose."""

    def __init__(self) -> None:
        self.pauses: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)
        time.sleep(seconds)


def make_client(address: str, **kwargs) -> Client:  # type: ignore[no-untyped-def]
    return Client(address, "sys-1", "s3cret", plaintext=True, **kwargs)


def test_query_sends_the_token_and_returns_plain_values(edge: tuple[FakeEdge, str]) -> None:
    fake, address = edge
    with make_client(address) as client:
        answer = client.query("102001/000001", "91110000600037341L", ["name"], purpose=Purpose.WORK_REFERENCE)
    assert answer.values == {"name": "某某公司"}
    assert answer.masked_items == ["legal_representative"]
    assert answer.provenance.provider_department_code == "11110100MB0000003X"
    assert answer.provenance.as_of_time is not None and answer.provenance.as_of_time.timestamp() == 1_700_000_000
    assert [c.token for c in fake.calls] == fake.issued


def test_batch_and_verify_return_plain_results(edge: tuple[FakeEdge, str]) -> None:
    _, address = edge
    with make_client(address) as client:
        batch = client.batch_query("102001/000001", ["k1", "bad"], purpose="work_reference")
        verified = client.verify("101001/000001", "k1", {"name": "张三", "sex": "男"})
    assert [(i.key, i.found, i.error) for i in batch.items] == [("k1", True, ""), ("bad", False, "bad key")]
    assert verified.outcomes == {"name": VerifyOutcome.MATCH, "sex": VerifyOutcome.MISMATCH}


def test_every_call_gets_a_default_deadline(edge: tuple[FakeEdge, str]) -> None:
    fake, address = edge
    with make_client(address, timeout=7.0) as client:
        client.query("c", "k", purpose="work_reference")
        client.batch_query("c", ["k"], purpose="work_reference")
        client.query("c", "k", purpose="work_reference", timeout=3.0)
    query, batch, explicit = fake.calls
    # (the grpc-timeout header rounds the deadline up a little: hence the slack of 0.5 s)
    assert query.time_remaining is not None and 0 < query.time_remaining <= 7.5
    assert batch.time_remaining is not None and 7.5 < batch.time_remaining <= 30.5  # BatchQuery's own default
    assert explicit.time_remaining is not None and 0 < explicit.time_remaining <= 3.5


def test_a_deadline_as_good_as_none_is_kept_not_failed_at_once(edge: tuple[FakeEdge, str]) -> None:
    """grpcio fails a call whose deadline lies centuries ahead with DEADLINE_EXCEEDED before sending it: a
    timeout of 1e12 seconds (or sys.maxsize) is held to about 31 years instead."""
    fake, address = edge
    with make_client(address, timeout=float(sys.maxsize)) as client:
        client.query("c", "k", purpose="work_reference")
        client.query("c", "k", purpose="work_reference", timeout=1e12)
    assert [c.method for c in fake.calls] == ["Query", "Query"]
    # (the grpc-timeout header holds at most 8 digits: the server sees about three years)
    assert all(c.time_remaining is not None and c.time_remaining > 1e7 for c in fake.calls)


def test_one_token_is_shared_by_many_threads(edge: tuple[FakeEdge, str]) -> None:
    fake, address = edge
    with make_client(address) as client, futures.ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: client.query("c", "k", purpose="work_reference"), range(32)))
    assert len(fake.issued) == 1
    assert {c.token for c in fake.calls} == set(fake.issued)


def test_a_token_is_renewed_before_it_expires(edge: tuple[FakeEdge, str]) -> None:
    """A token is renewed once 80% of its lifetime (read from its own iat/exp) has passed, not at expiry."""
    fake, address = edge
    now = [1000.0]
    with grpc.insecure_channel(address) as channel:
        tokens = TokenSource(channel, "sys-1", "s3cret", clock=lambda: now[0])
        first = tokens.token(5)
        now[0] += 0.79 * 3600
        assert tokens.token(5) == first
        now[0] += 0.02 * 3600  # 81% of the hour gone: still valid for 11 minutes, but due
        second = tokens.token(5)
    assert second != first
    assert fake.issued == [first, second]


def test_a_token_due_for_renewal_serves_until_expiry_while_the_platform_is_unreachable(
        edge: tuple[FakeEdge, str]) -> None:
    fake, address = edge
    now = [1000.0]
    with grpc.insecure_channel(address) as channel:
        tokens = TokenSource(channel, "sys-1", "s3cret", clock=lambda: now[0])
        first = tokens.token(5)
        fake.script["IssueToken"] = [unavailable(), unavailable()]
        now[0] += 0.9 * 3600  # due, not expired: the renewal fails, the held token still serves
        assert tokens.token(5) == first
        now[0] += 0.11 * 3600  # expired: no token to fall back on
        with pytest.raises(Unavailable):
            tokens.token(5)
        assert tokens.token(5) != first  # the platform is back
    assert len(fake.issued) == 2


def _hanging_issuance(fake: FakeEdge) -> tuple[threading.Event, threading.Event]:
    """IssueToken hangs until the second event is set (a TokenService whose database stopped answering); the
    first is set once the client's issuance has arrived."""
    arrived, release = threading.Event(), threading.Event()

    def hang(context: grpc.ServicerContext) -> None:
        arrived.set()
        release.wait(30)

    fake.script["IssueToken"] = [hang]
    return arrived, release


def test_a_call_refused_its_token_while_another_renews_it_stops_at_its_own_deadline(
        edge: tuple[FakeEdge, str]) -> None:
    """A call refused its token (the platform's key rotated) forgot it under the lock the renewing thread holds
    while it waits for TokenService: with TokenService hung, a query of 1 s waited there for the other's issuance,
    a minute here (an export's, up to an hour), whatever its own deadline. It now ends at its own deadline,
    DeadlineExceeded, while the other still waits."""
    fake, address = edge
    client = make_client(address)
    client.query("c", "k", purpose="work_reference")  # the token both calls are sent with
    held, release_held = threading.Event(), threading.Event()

    def held_then_refused(context: grpc.ServicerContext) -> None:
        held.set()
        release_held.wait(30)
        fail(code_pb2.UNAUTHENTICATED, "bearer token has expired", "UNAUTHENTICATED")(context)

    fake.script["Query"] = [held_then_refused, fail(code_pb2.UNAUTHENTICATED, "bearer token has expired",
                                                    "UNAUTHENTICATED")]
    arrived, release = _hanging_issuance(fake)
    outcomes: dict[str, object] = {}

    def query(name: str, timeout: float) -> None:
        try:
            outcomes[name] = client.query("c", "k", purpose="work_reference", timeout=timeout).audit_id
        except GovshareError as error:
            outcomes[name] = error

    short = threading.Thread(target=query, args=("short", 2.0))
    short.start()
    assert held.wait(10)  # sent with the token, held at the edge
    renewing = threading.Thread(target=query, args=("renewing", 60.0))
    renewing.start()
    try:
        assert arrived.wait(10)  # refused, it renews: TokenService hangs
        release_held.set()  # the short call is refused the same token now
        short.join(30)
        assert not short.is_alive(), "the short call waited for the other's issuance"
        # (its deadline passed waiting for the token, or, on a machine slow to get here, already at the edge)
        assert isinstance(outcomes["short"], DeadlineExceeded), outcomes
        assert renewing.is_alive()
    finally:
        release.set()
        release_held.set()
        renewing.join(30)
        short.join(30)
        client.close()
    assert outcomes["renewing"] == "a-1"


def test_a_call_waiting_for_another_calls_token_stops_at_its_own_deadline(edge: tuple[FakeEdge, str]) -> None:
    """While one thread's IssueToken hung, every other thread of the client waited for it without a bound and
    then made its own attempt, whatever its deadline: with a 1 s timeout, the fifth of five calls returned after
    5 s (a web service's pool of threads, each with 10 s, after minutes). A call's deadline now covers that wait."""
    fake, address = edge
    arrived, release = _hanging_issuance(fake)
    safety = threading.Timer(10, release.set)  # the old client waited for the first issuance, whatever the test
    safety.start()
    with make_client(address) as client, futures.ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(client.query, "c", "k", purpose="work_reference", timeout=30)
        assert arrived.wait(10)
        try:
            with pytest.raises(DeadlineExceeded) as raised:
                client.query("c", "k", purpose="work_reference", timeout=0.2)
        finally:
            release.set()
            safety.cancel()
        assert first.result().values == {"name": "某某公司"}  # the issuance under way was not disturbed
    assert "waiting for TokenService.IssueToken" in raised.value.message
    assert len(fake.attempts("Query")) == 1  # the late call was never sent, with or without a token


async def test_an_async_call_waiting_for_another_tasks_token_stops_at_its_own_deadline(
        edge: tuple[FakeEdge, str]) -> None:
    """The asyncio client waited on its token lock without a bound too."""
    fake, address = edge
    arrived, release = _hanging_issuance(fake)
    async with make_async_client(address) as client:
        first = asyncio.ensure_future(client.query("c", "k", purpose="work_reference", timeout=30))
        assert await asyncio.to_thread(arrived.wait, 10)
        late = asyncio.ensure_future(client.query("c", "k", purpose="work_reference", timeout=0.2))
        try:
            done, _ = await asyncio.wait({late}, timeout=10)
        finally:
            release.set()
        assert late in done and isinstance(late.exception(), DeadlineExceeded)
        assert (await first).values == {"name": "某某公司"}
    assert "waiting for TokenService.IssueToken" in late.exception().message  # type: ignore[union-attr]


def test_a_renewal_over_the_rate_limit_keeps_the_held_token_until_it_expires(edge: tuple[FakeEdge, str]) -> None:
    """Every IssueToken shares one rate-limit bucket at the edge, whatever the system: a renewal refused
    RESOURCE_EXHAUSTED failed the call, though the held token had minutes left."""
    fake, address = edge
    now = [1000.0]
    with grpc.insecure_channel(address) as channel:
        tokens = TokenSource(channel, "sys-1", "s3cret", clock=lambda: now[0])
        first = tokens.token(5)
        fake.script["IssueToken"] = [fail(code_pb2.RESOURCE_EXHAUSTED, "rate limited", "RATE_LIMITED",
                                          retry_after=1.0)] * 2
        now[0] += 0.9 * 3600  # due for renewal, valid for six more minutes
        assert tokens.token(5) == first
        now[0] += 0.11 * 3600  # expired: nothing to fall back on, the refusal is the caller's
        with pytest.raises(ResourceExhausted):
            tokens.token(5)
    assert fake.issued == [first]


async def test_the_time_a_renewal_takes_counts_against_the_calls_deadline(edge: tuple[FakeEdge, str]) -> None:
    """The call was sent with the budget it had before its token was renewed: a renewal that took 1 s of a
    1.5 s timeout left the call 1.5 s more (with TokenService hung, a call took twice its deadline)."""
    fake, address = edge

    def slow(context: grpc.ServicerContext) -> None:
        time.sleep(1.0)

    with make_client(address) as client:
        client.query("c", "k", purpose="work_reference")
        fake.script["IssueToken"] = [slow]
        client._tokens._renew_at = client._tokens._expires_at = 0.0  # expired: no call goes without a new one
        client.query("c", "k", purpose="work_reference", timeout=1.5)
    async with make_async_client(address) as aclient:
        await aclient.query("c", "k", purpose="work_reference")
        fake.script["IssueToken"] = [slow]
        aclient._tokens._renew_at = aclient._tokens._expires_at = 0.0
        await aclient.query("c", "k", purpose="work_reference", timeout=1.5)
    renewed = [fake.attempts("Query")[1], fake.attempts("Query")[3]]
    # what was left of the 1.5 s after the 1 s renewal (gRPC's timeout header rounds it up a little)
    assert all(c.time_remaining is not None and c.time_remaining < 1.0 for c in renewed), renewed
    assert len(fake.issued) == 4


async def test_a_renewal_that_hangs_does_not_cost_a_call_holding_a_valid_token_its_deadline(
        edge: tuple[FakeEdge, str]) -> None:
    """A renewal is due at 80 % of the token's lifetime, and optional until it expires. Against a TokenService
    that hung, the renewing call waited its whole budget for it and then had no time left for itself
    (DEADLINE_EXCEEDED with a valid token in hand), and the next call tried again, one after the other."""
    fake, address = edge
    release = threading.Event()
    try:
        with make_client(address) as client:
            client.query("c", "k", purpose="work_reference")
            arrived, release = _hanging_issuance(fake)
            client._tokens._renew_at = 0.0  # due for renewal, valid for a while yet
            assert client.query("c", "k", purpose="work_reference", timeout=5).values == {"name": "某某公司"}
            client.query("c", "k", purpose="work_reference", timeout=5)  # no second renewal attempt at once
        assert arrived.is_set()
        async with make_async_client(address) as aclient:
            await aclient.query("c", "k", purpose="work_reference")
            fake.script["IssueToken"] = [lambda context: release.wait(30)]
            aclient._tokens._renew_at = 0.0
            assert (await aclient.query("c", "k", purpose="work_reference", timeout=5)).values == {"name": "某某公司"}
            await aclient.query("c", "k", purpose="work_reference", timeout=5)
        issued = list(fake.issued)  # (the hung issuances, released below, add theirs after the calls)
    finally:
        release.set()
    assert len(issued) == 2  # each client's first token; the hung renewals gave none
    assert len(fake.attempts("Query")) == 6


def test_an_expired_token_is_renewed_once_and_the_call_retried(edge: tuple[FakeEdge, str]) -> None:
    fake, address = edge
    with make_client(address) as client:
        client.query("c", "k", purpose="work_reference")
        fake.refused_tokens.add(fake.issued[0])  # the platform now says it has expired
        client.stub(catalog_pb2_grpc.CatalogServiceStub).CreateEntry(
            catalog_pb2.CreateEntryRequest(entry=catalog_pb2.Entry(code="1/1")))
    assert len(fake.issued) == 2
    assert [c.token for c in fake.attempts("CreateEntry")] == fake.issued  # refused once, then the new token


def test_a_refused_token_is_not_retried_forever(edge: tuple[FakeEdge, str]) -> None:
    fake, address = edge
    fake.refuse_every_token = True
    with make_client(address) as client, pytest.raises(Unauthenticated) as raised:
        client.query("c", "k", purpose="work_reference")
    assert len(fake.attempts("Query")) == 2
    assert raised.value.reason == "UNAUTHENTICATED"


async def test_a_refusal_of_something_else_than_the_token_is_not_repeated_with_a_new_one(
        edge: tuple[FakeEdge, str]) -> None:
    """SignIn refuses a wrong password UNAUTHENTICATED (BAD_CREDENTIALS) while the system's token is good: the
    client took every UNAUTHENTICATED for a refused token, so it dropped a valid token, issued another and sent
    the wrong password again, and a person was locked out after three wrong passwords instead of five."""
    from govshare_client.pb.authorization.v1 import persons_pb2, persons_pb2_grpc

    fake, address = edge
    wrong = persons_pb2.SignInRequest(username="zhang.san", password="wrong", totp_code="123456")
    with make_client(address) as client, pytest.raises(Unauthenticated) as raised:
        client.stub(persons_pb2_grpc.SessionServiceStub).SignIn(wrong)
    assert raised.value.reason == "BAD_CREDENTIALS"
    async with make_async_client(address) as aclient:
        with pytest.raises(Unauthenticated) as araised:
            await aclient.stub(persons_pb2_grpc.SessionServiceStub).SignIn(wrong)
    assert araised.value.reason == "BAD_CREDENTIALS"
    assert len(fake.attempts("SignIn")) == 2  # one each, not two each
    assert len(fake.issued) == 2  # one token per client: the good one was not dropped


async def test_an_export_refused_for_its_token_is_renewed_once_and_later_exports_use_the_new_one(
        edge: tuple[FakeEdge, str]) -> None:
    """The platform refuses the held token (expired early by its clock, a rotated signing key): the export was
    raised UNAUTHENTICATED and the refused token kept, so every later export failed the same way until the
    token's renewal time (48 minutes for an hour's token). Refused before its first row, it was not executed:
    it is repeated once with a new token, as a unary call is."""
    fake, address = edge
    with make_client(address) as client:
        client.query("c", "k", purpose="work_reference")
        fake.refused_tokens.add(fake.issued[0])
        rows = list(client.export("102001/000001", purpose="work_reference"))
        first = [row.key for row in rows]
        assert [row.disputed for row in rows] == [False, False, True], "an export row says its record is disputed"
        second = [row.key for row in client.export("102001/000001", purpose="work_reference")]
        fake.refuse_every_token = True
        with pytest.raises(Unauthenticated):
            list(client.export("102001/000001", purpose="work_reference"))
    assert first == second == ["k1", "k2", "k3"]
    assert len(fake.issued) == 3
    assert [c.token for c in fake.attempts("Export")] == [fake.issued[0], fake.issued[1], fake.issued[1],
                                                           fake.issued[1], fake.issued[2]]
    fake.refuse_every_token, fake.issued, fake.calls = False, [], []
    async with make_async_client(address) as aclient:
        await aclient.query("c", "k", purpose="work_reference")
        fake.refused_tokens.add(fake.issued[0])
        afirst = [row.key async for row in aclient.export("102001/000001", purpose="work_reference")]
        asecond = [row.key async for row in aclient.export("102001/000001", purpose="work_reference")]
    assert afirst == asecond == ["k1", "k2", "k3"]
    assert [c.token for c in fake.attempts("Export")] == [fake.issued[0], fake.issued[1], fake.issued[1]]


ROTATED = "this token was issued before the secret of system sys-1 was rotated: request a new one with the new secret"
DISABLED = "system sys-1 was disabled: its tokens are no longer accepted"


async def test_each_reason_a_systems_token_is_refused_gets_its_own_answer(edge: tuple[FakeEdge, str]) -> None:
    """SECRET_ROTATED and TOKEN_PREDATES_DISABLE are renewed once, as an expired token is (the secret held may be
    the new one; a disable lifted since lets a new token through); SYSTEM_DISABLED is raised at once, saying whom to
    ask, and IssueToken is not asked again for a while: a program retrying in a loop spent the edge's IssueToken
    rate limit, shared by every system, for a token no system disabled gets."""
    from govshare_client import SECRET_ROTATED, SYSTEM_DISABLED, TOKEN_PREDATES_DISABLE

    fake, address = edge
    with make_client(address) as client:
        for reason in (SECRET_ROTATED, TOKEN_PREDATES_DISABLE):
            fake.script["Query"] = [fail(code_pb2.UNAUTHENTICATED, "refused", reason)]
            client.query("c", "k", purpose="work_reference")
        assert len(fake.issued) == 3 and len(fake.attempts("Query")) == 4  # each refusal: one new token, one repeat
        fake.script["Query"] = [fail(code_pb2.UNAUTHENTICATED, DISABLED, SYSTEM_DISABLED)]
        with pytest.raises(Unauthenticated) as disabled:
            client.query("c", "k", purpose="work_reference")
    assert len(fake.issued) == 3 and len(fake.attempts("Query")) == 5  # raised at once, no new token asked for
    assert disabled.value.reason == SYSTEM_DISABLED
    assert disabled.value.message.startswith(DISABLED) and "EnableSystem" in disabled.value.message
    assert "管理员" in disabled.value.message

    refusal = fail(code_pb2.UNAUTHENTICATED, "system sys-1 is disabled: the authority may enable it again",
                   SYSTEM_DISABLED)
    fake.script["IssueToken"] = [refusal] * 4
    with make_client(address) as client:
        for _ in range(3):
            with pytest.raises(Unauthenticated) as refused:
                client.query("c", "k", purpose="work_reference")
            assert refused.value.reason == SYSTEM_DISABLED and "EnableSystem" in refused.value.message
    async with make_async_client(address) as aclient:
        for _ in range(3):
            with pytest.raises(Unauthenticated) as arefused:
                await aclient.query("c", "k", purpose="work_reference")
            assert arefused.value.reason == SYSTEM_DISABLED
    assert len(fake.script["IssueToken"]) == 2  # asked once by each client, not once per call
    assert len(fake.attempts("Query")) == 5


async def test_a_token_refused_for_a_rotated_secret_says_so_when_the_old_secret_fails_too(
        edge: tuple[FakeEdge, str]) -> None:
    """The platform refuses the held token saying the secret was rotated; the client renews with the secret it
    holds, which TokenService refuses. The caller was told only "unknown system or wrong secret": the
    platform's reason, which says what to do, is now in the error too, first."""
    from govshare_client.errors import OLD_SECRET, SECRET_ROTATED

    fake, address = edge
    said = (f"{ROTATED}; a new token with the secret this client holds was refused too: unknown system or wrong "
            f"secret ({OLD_SECRET})")
    with make_client(address) as client:
        client.query("c", "k", purpose="work_reference")
        fake.secret = "rotated"
        fake.script["Query"] = [fail(code_pb2.UNAUTHENTICATED, ROTATED, SECRET_ROTATED)]
        with pytest.raises(Unauthenticated) as raised:
            client.query("c", "k", purpose="work_reference")
        fake.secret = "s3cret"
        client.query("c", "k", purpose="work_reference")
        fake.secret = "rotated"
        fake.script["Export"] = [fail(code_pb2.UNAUTHENTICATED, ROTATED, SECRET_ROTATED)]
        with pytest.raises(Unauthenticated) as exported:
            list(client.export("c", purpose="work_reference"))
    assert raised.value.message == said and raised.value.reason == SECRET_ROTATED
    assert exported.value.message == said
    async with make_async_client(address) as aclient:
        fake.secret = "s3cret"
        await aclient.query("c", "k", purpose="work_reference")
        fake.secret = "rotated"
        fake.script["Query"] = [fail(code_pb2.UNAUTHENTICATED, ROTATED, SECRET_ROTATED)]
        with pytest.raises(Unauthenticated) as araised:
            await aclient.query("c", "k", purpose="work_reference")
    assert araised.value.message == said


def test_a_wrong_secret_is_unauthenticated_without_calling(edge: tuple[FakeEdge, str]) -> None:
    fake, address = edge
    with Client(address, "sys-1", "wrong", plaintext=True) as client, pytest.raises(Unauthenticated):
        client.query("c", "k", purpose="work_reference")
    assert fake.calls == []


def test_unavailable_is_retried_on_idempotent_calls_with_jittered_backoff(edge: tuple[FakeEdge, str]) -> None:
    fake, address = edge
    fake.script["Query"] = [unavailable(), unavailable()]
    fake.script["GetEntry"] = [unavailable()]
    sleep = SleepRecorder()
    policy = RetryPolicy(max_attempts=4, initial_backoff=0.05, multiplier=2.0)
    with make_client(address, retry=policy, sleep=sleep) as client:
        assert client.query("c", "k", purpose="work_reference").values == {"name": "某某公司"}
        entry = client.stub(catalog_pb2_grpc.CatalogServiceStub).GetEntry(catalog_pb2.GetEntryRequest(code="1/1"))
    assert entry.entry.code == "1/1"
    assert len(fake.attempts("Query")) == 3 and len(fake.attempts("GetEntry")) == 2
    assert len(sleep.pauses) == 3
    assert 0 <= sleep.pauses[0] <= 0.05 and 0 <= sleep.pauses[1] <= 0.1 and 0 <= sleep.pauses[2] <= 0.05


def test_the_default_retries_wait_out_an_edge_away_for_seconds(edge: tuple[FakeEdge, str]) -> None:
    """Four attempts, 0.1 s doubling, gave up about 0.4 s into an outage: a query made while the edge restarted
    (a few seconds) failed although its deadline was 10 s. Now up to eight attempts, pauses capped at 2 s."""
    fake, address = edge
    fake.script["Query"] = [unavailable()] * 6
    sleep = SleepRecorder()
    with make_client(address, sleep=sleep) as client:
        assert client.query("c", "k", purpose="work_reference").values == {"name": "某某公司"}
    assert len(fake.attempts("Query")) == 7 and len(sleep.pauses) == 6
    assert all(0 <= pause <= min(2.0, 0.1 * 2 ** n) for n, pause in enumerate(sleep.pauses)), sleep.pauses


def test_an_edge_closing_the_connection_over_the_headers_is_not_retried_and_says_so(
        edge: tuple[FakeEdge, str]) -> None:
    """Metadata over the edge's 60 KiB makes Envoy close the connection with HTTP/2's COMPRESSION_ERROR, which gRPC
    reports as UNAVAILABLE '… GOAWAY received; Error code: 9; …' (seen against govshare up, each attempt a second
    long): the client retried it, sent the same headers eight times and raised, at the end of the 10 s deadline,
    DEADLINE_EXCEEDED 'Deadline Exceeded', saying nothing of the headers. It is raised at once, saying what to do;
    any other UNAVAILABLE is still retried."""
    fake, address = edge
    goaway = ("Stream removed (recvmsg:Connection reset by peer (104) (GOAWAY received; Error code: 9; Debug Text: "
              "))")
    fake.script["Query"] = [fail(code_pb2.UNAVAILABLE, goaway)] * 3
    sleep = SleepRecorder()
    with make_client(address, sleep=sleep) as client, pytest.raises(Unavailable) as raised:
        client.query("c", "k", purpose="work_reference")
    assert len(fake.attempts("Query")) == 1 and sleep.pauses == []
    assert raised.value.message == (f"{goaway} (the edge closed the connection over this call's request headers, "
                                    "more than it takes (60 KiB, the metadata and the token included): sending them "
                                    "again fails the same way; send less in metadata)")


def test_a_stream_the_edge_reset_is_unavailable_saying_so_and_a_read_is_retried(edge: tuple[FakeEdge, str]) -> None:
    """Envoy resets a stream whose service went away after the call began (an export after its first page, live on
    govshare up with the query service killed): gRPC reported INTERNAL "Stream removed (RST_STREAM (Received
    RST_STREAM with error code 2))", read as the platform's bug, with nothing saying to try again, and a read so cut
    was not retried. It is now Unavailable saying what happened: an export raises it, a Query is made again."""
    fake, address = edge
    words = "Stream removed (RST_STREAM (Received RST_STREAM with error code 2))"

    def reset(context: grpc.ServicerContext) -> None:
        context.abort(grpc.StatusCode.INTERNAL, words)  # gRPC's words, no status details: as a reset stream reads

    sleep = SleepRecorder()
    with make_client(address, sleep=sleep) as client:
        fake.script["Export midway"] = [reset]
        with pytest.raises(Unavailable, match=r"the edge reset the stream: .* an export read again") as cut:
            list(client.export("c", purpose="work_reference"))
        assert cut.value.code == grpc.StatusCode.UNAVAILABLE and cut.value.message.startswith(words)
        fake.script["Query"] = [reset]
        assert client.query("c", "k", purpose="work_reference").values == {"name": "某某公司"}
        assert len(fake.attempts("Query")) == 2 and len(sleep.pauses) == 1
        fake.script["CreateEntry"] = [reset]
        with pytest.raises(Unavailable):  # a write so cut is not made again
            client.stub(catalog_pb2_grpc.CatalogServiceStub).CreateEntry(
                catalog_pb2.CreateEntryRequest(entry=catalog_pb2.Entry(code="1/1")))
        assert len(fake.attempts("CreateEntry")) == 1


def test_retries_stop_after_max_attempts(edge: tuple[FakeEdge, str]) -> None:
    fake, address = edge
    fake.script["Verify"] = [unavailable()] * 10
    sleep = SleepRecorder()
    with make_client(address, retry=RetryPolicy(max_attempts=3, initial_backoff=0.01), sleep=sleep) as client, \
            pytest.raises(Unavailable):
        client.verify("c", "k", {"name": "x"})
    assert len(fake.attempts("Verify")) == 3 and len(sleep.pauses) == 2


def test_unavailable_is_never_retried_on_a_non_idempotent_call(edge: tuple[FakeEdge, str]) -> None:
    fake, address = edge
    fake.script["CreateEntry"] = [unavailable()]
    with make_client(address, sleep=SleepRecorder()) as client, pytest.raises(Unavailable):
        client.stub(catalog_pb2_grpc.CatalogServiceStub).CreateEntry(
            catalog_pb2.CreateEntryRequest(entry=catalog_pb2.Entry(code="1/1")))
    assert len(fake.attempts("CreateEntry")) == 1


def test_a_request_carrying_a_request_id_is_retried_after_unavailable(edge: tuple[FakeEdge, str]) -> None:
    """AIP-155: the platform answers a repeated request_id with what the first attempt made, so a submission
    that carries one is as safe to repeat as a read."""
    fake, address = edge
    fake.script["SubmitApplication"] = [unavailable(), unavailable()]
    application = sharing_pb2.Application(resource_code="101001/000001")
    with make_client(address, sleep=SleepRecorder()) as client:
        stub = client.stub(sharing_pb2_grpc.SharingServiceStub)
        stub.SubmitApplication(sharing_pb2.SubmitApplicationRequest(
            application=application, request_id="0f8e4c2a-5b7d-4e1f-9a3c-2d6b8e0f1a4c"))
    assert [c.request_id for c in fake.attempts("SubmitApplication")] == ["0f8e4c2a-5b7d-4e1f-9a3c-2d6b8e0f1a4c"] * 3


async def test_a_request_whose_request_id_is_left_empty_gets_one_the_same_on_every_attempt(
        edge: tuple[FakeEdge, str]) -> None:
    """An empty request_id left a SubmitApplication whose reply was lost to an outage raised UNAVAILABLE untried:
    the caller could not know whether it was made, and submitting again gave the provider two applications. As
    AIP-155 asks of client libraries, the client fills it (one UUID per call, kept across its attempts)."""
    fake, address = edge
    fake.script["SubmitApplication"] = [unavailable(), unavailable()]
    request = sharing_pb2.SubmitApplicationRequest(application=sharing_pb2.Application(resource_code="101001/000001"))
    with make_client(address, sleep=SleepRecorder()) as client:
        client.stub(sharing_pb2_grpc.SharingServiceStub).SubmitApplication(request)
        client.stub(sharing_pb2_grpc.SharingServiceStub).SubmitApplication(request)
    async with AsyncClient(address, "sys-1", "s3cret", plaintext=True, sleep=_no_pause) as aclient:
        await aclient.stub(sharing_pb2_grpc.SharingServiceAsyncStub).SubmitApplication(request)
    keys = [c.request_id for c in fake.attempts("SubmitApplication")]
    assert len(keys) == 5 and keys[0] and keys[0] == keys[1] == keys[2]  # retried, under one key
    assert len({keys[0], keys[3], keys[4]}) == 3  # each call a key of its own
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", keys[0])
    assert request.request_id == ""  # the caller's message is left as it was


async def _no_pause(seconds: float) -> None:
    """The asyncio client's sleep, without the wait."""


def test_retry_info_sets_the_pause(edge: tuple[FakeEdge, str]) -> None:
    fake, address = edge
    fake.script["Query"] = [unavailable(retry_after=0.3)]
    sleep = SleepRecorder()
    with make_client(address, sleep=sleep) as client:
        client.query("c", "k", purpose="work_reference")
    first, second = fake.attempts("Query")
    assert sleep.pauses == [pytest.approx(0.3)]
    assert second.at - first.at >= 0.3  # the platform really was left alone that long


async def test_a_listing_refused_because_its_replica_is_busy_is_tried_again_after_its_retry_info(
        edge: tuple[FakeEdge, str]) -> None:
    """A listing or search refused RESOURCE_EXHAUSTED HEAVY_READS_BUSY (the replica that serves them has a full queue;
    the read was not run, and the platform asks for a retry after its RetryInfo) was raised at once: a business
    system's pages() loop ended half-way, its entries read so far lost, whenever other systems' listings filled the
    queue. It is now tried again after the RetryInfo's delay, as an UNAVAILABLE is, with either client; the rate
    limit is still not."""
    fake, address = edge
    busy = fail(code_pb2.RESOURCE_EXHAUSTED, "too many listings and searches", "HEAVY_READS_BUSY", retry_after=0.2)
    request = catalog_pb2.ListEntriesRequest(filter=catalog_pb2.EntryFilter(subject="人口"), page_size=2)
    sleep = SleepRecorder()
    with make_client(address, sleep=sleep) as client:
        stub = client.stub(catalog_pb2_grpc.CatalogServiceStub)
        first = stub.ListEntries(request)
        fake.script["ListEntries"] = [busy, busy]
        listed = [e.code for page in pages(stub.ListEntries, request) for e in page.entries]
    assert listed == ["人口-0", "人口-1", "人口-2", "人口-3", "人口-4"] and first.next_page_token == "2"
    assert sleep.pauses == [pytest.approx(0.2), pytest.approx(0.2)]
    pauses = AsyncSleepRecorder()
    async with make_async_client(address, sleep=pauses) as aclient:
        fake.script["ListEntries"] = [busy]
        answer = await aclient.stub(catalog_pb2_grpc.CatalogServiceAsyncStub).ListEntries(request)
    assert [e.code for e in answer.entries] == ["人口-0", "人口-1"] and pauses.pauses == [pytest.approx(0.2)]


def test_no_retry_is_started_that_the_deadline_would_cut(edge: tuple[FakeEdge, str]) -> None:
    fake, address = edge
    fake.script["Query"] = [unavailable(retry_after=30)]
    sleep = SleepRecorder()
    with make_client(address, sleep=sleep) as client, pytest.raises(Unavailable) as raised:
        client.query("c", "k", purpose="work_reference", timeout=2)
    assert sleep.pauses == [] and len(fake.attempts("Query")) == 1
    assert raised.value.retry_delay == pytest.approx(30)


async def test_a_reply_larger_than_grpcs_default_4_mib_is_received(edge: tuple[FakeEdge, str]) -> None:
    """The platform's messages go up to 8 MiB (a BatchQuery of 1000 records of 5 KB): the client refused any
    reply over gRPC's default 4 MiB as RESOURCE_EXHAUSTED, after the platform had answered (and audited) it."""
    fake, address = edge
    fake.extra_values["business_scope"] = "经营范围" * (5 * 1024 * 1024 // 12)  # 5 MiB in UTF-8
    with make_client(address) as client:
        answer = client.query("c", "k", purpose="work_reference")
    async with make_async_client(address) as aclient:
        aanswer = await aclient.query("c", "k", purpose="work_reference")
    assert answer.values["business_scope"] == aanswer.values["business_scope"] == fake.extra_values["business_scope"]


def test_errors_expose_reason_metadata_and_field_violations(edge: tuple[FakeEdge, str]) -> None:
    fake, address = edge
    fake.script["Query"] = [
        fail(code_pb2.PERMISSION_DENIED, "no grant", "NOT_GRANTED", resource_code="101001/000001"),
        fail(code_pb2.INVALID_ARGUMENT, "key: wrong check character", "INVALID_ARGUMENT",
             violations=(("key", "wrong check character"), ("purpose.type", "required"))),
        fail(code_pb2.RESOURCE_EXHAUSTED, "rate limit", "RATE_LIMITED", retry_after=1.5),
    ]
    with make_client(address, sleep=SleepRecorder()) as client:
        with pytest.raises(PermissionDenied) as denied:
            client.query("c", "k", purpose="work_reference")
        with pytest.raises(InvalidArgument) as invalid:
            client.query("c", "k", purpose="work_reference")
        with pytest.raises(ResourceExhausted) as limited:
            client.query("c", "k", purpose="work_reference")
    assert denied.value.reason == "NOT_GRANTED" and denied.value.code == grpc.StatusCode.PERMISSION_DENIED
    assert denied.value.metadata == {"resource_code": "101001/000001"}
    assert denied.value.domain == "query.govshare"
    assert invalid.value.field_violations == [("key", "wrong check character"), ("purpose.type", "required")]
    assert limited.value.retry_delay == pytest.approx(1.5)
    assert len(fake.attempts("Query")) == 3  # RESOURCE_EXHAUSTED is the caller's to pace, not retried here
    assert isinstance(denied.value, GovshareError) and isinstance(denied.value, grpc.RpcError)


async def test_a_raw_stubs_stream_raises_the_typed_errors_a_unary_call_raises(edge: tuple[FakeEdge, str]) -> None:
    """A raw stub's Export failing (refused before its first page, or cut on the way) raised gRPC's raw error,
    whose reason and field violations the caller had to decode itself with from_rpc_error, while every unary
    call raises the typed GovshareError. Streams raise the same, sync and async; the call's own methods remain."""
    fake, address = edge
    request = query_pb2.ExportRequest(resource_code="c", purpose=common_pb2.Purpose(
        type=common_pb2.PURPOSE_TYPE_WORK_REFERENCE))
    refusal = fail(code_pb2.INVALID_ARGUMENT, "items[0]: not an item", "INVALID_ARGUMENT",
                   violations=(("items[0]", "not an item"),))
    midway = fail(code_pb2.UNAVAILABLE, "provider gone", "PROVIDER_UNAVAILABLE", retry_after=2.0)
    with make_client(address) as client:
        stub = client.stub(query_pb2_grpc.QueryServiceStub)
        fake.script["Export"] = [refusal]
        with pytest.raises(InvalidArgument) as invalid:
            list(stub.Export(request))
        fake.script["Export midway"] = [midway]
        stream = stub.Export(request)
        first = next(stream)
        with pytest.raises(Unavailable) as cut:
            next(stream)
        assert stream.code() == grpc.StatusCode.UNAVAILABLE
    assert invalid.value.field_violations == [("items[0]", "not an item")]
    assert [row.key for row in first.rows] == ["k1", "k2"]
    assert (cut.value.reason, cut.value.retry_delay) == ("PROVIDER_UNAVAILABLE", 2.0)
    async with make_async_client(address) as aclient:
        astub = aclient.stub(query_pb2_grpc.QueryServiceAsyncStub)
        fake.script["Export"] = [refusal]
        with pytest.raises(InvalidArgument) as ainvalid:
            [page async for page in astub.Export(request)]
        fake.script["Export midway"] = [midway]
        call = astub.Export(request)
        pages = []
        with pytest.raises(Unavailable) as acut:
            async for page in call:
                pages.append(page)
        assert await call.code() == grpc.StatusCode.UNAVAILABLE
    assert ainvalid.value.field_violations == [("items[0]", "not an item")]
    assert len(pages) == 1 and acut.value.reason == "PROVIDER_UNAVAILABLE"


async def test_a_raw_stubs_stream_refused_its_token_has_the_next_call_get_a_new_one(
        edge: tuple[FakeEdge, str]) -> None:
    """A raw stub's Export refused at authentication (the token expired early by the platform's clock, its signing
    key rotated) left the client holding the refused token: every later raw Export was refused the same until the
    token's renewal fell due, 48 minutes of an hour's token. The stream's refusal is raised, and the next call,
    sync or async, goes with a new token; a refusal of something else keeps the token."""
    fake, address = edge
    request = query_pb2.ExportRequest(resource_code="c")
    with make_client(address) as client:
        stub = client.stub(query_pb2_grpc.QueryServiceStub)
        fake.script["Export"] = [fail(code_pb2.INVALID_ARGUMENT, "items[0]: not an item", "INVALID_ARGUMENT")]
        with pytest.raises(InvalidArgument):
            list(stub.Export(request))
        fake.refused_tokens.add(fake.issued[-1])
        with pytest.raises(Unauthenticated):
            list(stub.Export(request))
        assert len(list(stub.Export(request))) == 3
    assert len(fake.issued) == 2  # the INVALID_ARGUMENT kept the first token
    async with make_async_client(address) as aclient:
        astub = aclient.stub(query_pb2_grpc.QueryServiceAsyncStub)
        assert len([page async for page in astub.Export(request)]) == 3
        fake.refused_tokens.add(fake.issued[-1])
        with pytest.raises(Unauthenticated):
            [page async for page in astub.Export(request)]
        assert len([page async for page in astub.Export(request)]) == 3
    assert len(fake.issued) == 4
    assert [call.token for call in fake.attempts("Export")][-1] == fake.issued[-1]


async def test_an_export_says_whether_it_was_whole_and_how_many_records_were_left_out(
        edge: tuple[FakeEdge, str]) -> None:
    """client.export yielded the rows only: the stream's closing message (complete, row_count, skipped_count) and
    the x-govshare-audit-id header were dropped, so a business system could not tell an export holding every
    record from one whose provider left records out, nor name its access record. The Export (sync and async)
    says them once read; an export cut on the way, or closed before its end, is not complete."""
    fake, address = edge
    fake.export_skipped = 2
    midway = fail(code_pb2.UNAVAILABLE, "provider gone", "PROVIDER_UNAVAILABLE")
    with make_client(address) as client:
        export = client.export("c", purpose="work_reference")
        keys = [row.key for row in export]
        fake.script["Export midway"] = [midway]
        cut = client.export("c", purpose="work_reference")
        with pytest.raises(Unavailable):
            for _ in cut:
                pass
        with client.export("c", purpose="work_reference") as closed:
            next(closed)
    assert keys == ["k1", "k2", "k3"]
    assert (export.complete, export.row_count, export.skipped_count, export.audit_id) == (True, 3, 2, "a-9")
    assert (cut.complete, cut.skipped_count, cut.audit_id) == (False, 0, "a-9")
    assert not closed.complete
    async with make_async_client(address) as aclient:
        aexport = aclient.export("c", purpose="work_reference")
        akeys = [row.key async for row in aexport]
        fake.script["Export midway"] = [midway]
        acut = aclient.export("c", purpose="work_reference")
        with pytest.raises(Unavailable):
            async for _ in acut:
                pass
        async with aclient.export("c", purpose="work_reference") as aclosed:
            await anext(aclosed)
    assert akeys == ["k1", "k2", "k3"]
    assert (aexport.complete, aexport.row_count, aexport.skipped_count, aexport.audit_id) == (True, 3, 2, "a-9")
    assert (acut.complete, acut.audit_id) == (False, "a-9") and not aclosed.complete


async def test_a_streams_wait_for_its_token_counts_against_its_deadline(edge: tuple[FakeEdge, str]) -> None:
    """An export (client.export or a raw stub's Export) given a deadline waited for its token up to the client's
    default 10 s, and then had its whole deadline besides: with TokenService slow (2 s here), an export given
    0.5 s answered after 2.5 s. A unary call counts the wait against its deadline; a stream now does too."""
    fake, address = edge
    request = query_pb2.ExportRequest(resource_code="c", purpose=common_pb2.Purpose(
        type=common_pb2.PURPOSE_TYPE_WORK_REFERENCE))

    def slow(context: grpc.ServicerContext) -> None:
        time.sleep(2)

    waited = []
    for export in (lambda c: list(c.export("c", purpose="work_reference", timeout=0.5)),
                   lambda c: list(c.stub(query_pb2_grpc.QueryServiceStub).Export(request, timeout=0.5))):
        fake.script["IssueToken"] = [slow]
        with make_client(address) as client:
            started = time.monotonic()
            with pytest.raises(DeadlineExceeded):
                export(client)
            waited.append(time.monotonic() - started)
    for raw in (False, True):
        fake.script["IssueToken"] = [slow]
        async with make_async_client(address) as aclient:
            stream = (aclient.stub(query_pb2_grpc.QueryServiceAsyncStub).Export(request, timeout=0.5) if raw
                      else aclient.export("c", purpose="work_reference", timeout=0.5))
            started = time.monotonic()
            with pytest.raises(DeadlineExceeded):
                [page async for page in stream]
            waited.append(time.monotonic() - started)
    assert max(waited) < 1.5, waited


def test_a_wrong_address_is_said_to_be_one_naming_the_setting() -> None:
    """A business system given the wrong address got gRPC's words alone: "Connection refused", "Domain name not
    found", an HTTP/1 server's "Trying to connect an http1.x server", or, from a gRPC server that is not the edge
    (a service's own port), "UNIMPLEMENTED: Method not found!", naming no setting. Each now says what is wrong
    and to give the edge's host:port in endpoint= or GOVSHARE_ENDPOINT."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        refused = f"127.0.0.1:{closed.getsockname()[1]}"  # nothing listens once closed
    http1 = socket.socket()
    http1.bind(("127.0.0.1", 0))
    http1.listen()

    def answer_http1() -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = http1.accept()
                with connection:
                    connection.recv(1024)
                    connection.sendall(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")

    threading.Thread(target=answer_http1, daemon=True).start()
    other = grpc.server(futures.ThreadPoolExecutor(max_workers=2))  # a gRPC server serving nothing of the edge's
    other_port = other.add_insecure_port("127.0.0.1:0")
    other.start()
    said = {}
    try:
        for name, address in (("refused", refused), ("unknown host", "no-such-host.invalid:50051"),
                              ("http1", f"127.0.0.1:{http1.getsockname()[1]}"),
                              ("not the edge", f"127.0.0.1:{other_port}")):
            with make_client(address, timeout=0.5) as client, pytest.raises(GovshareError) as raised:
                client.query("c", "k", purpose="work_reference")
            said[name] = raised.value.message
    finally:
        other.stop(0)
        http1.close()
    assert "is that the edge's host:port (endpoint= or GOVSHARE_ENDPOINT)?" in said["refused"], said
    assert "check the edge's host name in endpoint= or GOVSHARE_ENDPOINT" in said["unknown host"], said
    assert "an HTTP/1 server answers there, not the platform's gRPC edge" in said["http1"], said
    assert "so it is not the platform's edge" in said["not the edge"], said


async def test_an_error_names_the_access_record_of_its_call_an_export_cut_here_too(
        edge: tuple[FakeEdge, str]) -> None:
    """A refused query names its access record in ErrorInfo's metadata (error.audit_id reads it). An export ended
    by the caller's deadline (or a cancellation, the network) carries no trailers, so its error named no access
    record, although the platform had named the export's before the first row: the desk had nothing to quote.
    It now carries the export's audit_id, sync and async."""
    fake, address = edge
    fake.script["Query"] = [fail(code_pb2.PERMISSION_DENIED, "not granted", "NOT_GRANTED", audit_id="a-7")]

    def stall(context: grpc.ServicerContext) -> None:
        time.sleep(1.5)

    with make_client(address) as client:
        with pytest.raises(PermissionDenied) as refused:
            client.query("c", "k", purpose="work_reference")
        fake.script["Export midway"] = [stall]
        with pytest.raises(DeadlineExceeded) as cut:
            for _ in client.export("c", purpose="work_reference", timeout=0.5):
                pass
    assert refused.value.audit_id == "a-7"
    assert cut.value.audit_id == "a-9" and cut.value.metadata == {"audit_id": "a-9"}
    async with make_async_client(address) as aclient:
        fake.script["Export midway"] = [stall]
        with pytest.raises(DeadlineExceeded) as acut:
            async for _ in aclient.export("c", purpose="work_reference", timeout=0.5):
                pass
    assert acut.value.audit_id == "a-9"


async def test_a_deadline_timeouts_gives_the_export_method_applies_to_exports(edge: tuple[FakeEdge, str]) -> None:
    """Client(timeouts={".../Export": seconds}) was accepted and checked, and never applied: streams took the
    caller's timeout= only, so every export went on without a deadline. It now bounds client.export and a raw
    stub's Export (sync and async) when the call gives none; a call's own timeout= still wins."""
    fake, address = edge
    timeouts = {"/govshare.query.v1.QueryService/Export": 0.3}
    request = query_pb2.ExportRequest(resource_code="c", purpose=common_pb2.Purpose(
        type=common_pb2.PURPOSE_TYPE_WORK_REFERENCE))

    def stall(context: grpc.ServicerContext) -> None:
        time.sleep(0.7)

    with make_client(address, timeouts=timeouts) as client:
        for export in (lambda: list(client.export("c", purpose="work_reference")),
                       lambda: list(client.stub(query_pb2_grpc.QueryServiceStub).Export(request))):
            fake.script["Export midway"] = [stall]
            with pytest.raises(DeadlineExceeded):
                export()
        fake.script["Export midway"] = [stall]
        assert len(list(client.export("c", purpose="work_reference", timeout=5))) == 3
    async with make_async_client(address, timeouts=timeouts) as aclient:
        fake.script["Export midway"] = [stall]
        with pytest.raises(DeadlineExceeded):
            [row async for row in aclient.export("c", purpose="work_reference")]
        fake.script["Export midway"] = [stall]
        with pytest.raises(DeadlineExceeded):
            [page async for page in aclient.stub(query_pb2_grpc.QueryServiceAsyncStub).Export(request)]


async def test_an_export_the_platform_stalls_ends_at_the_idle_timeout(edge: tuple[FakeEdge, str]) -> None:
    """A stream had no deadline unless the caller gave one: a platform stalled mid-export (a hung backend, a dropped
    connection) left the reader waiting for ever. A stream silent for the client's idle_timeout is now cancelled
    and raises DeadlineExceeded saying so (client.export and a raw stub, sync and async), a reader slow with its
    rows is not cut, and an export's total deadline defaults to the edge's hour."""
    fake, address = edge
    request = query_pb2.ExportRequest(resource_code="c", purpose=common_pb2.Purpose(
        type=common_pb2.PURPOSE_TYPE_WORK_REFERENCE))

    def stall(context: grpc.ServicerContext) -> None:
        time.sleep(0.8)

    def read_slowly(client: Client) -> list[str]:
        keys = []
        for row in client.export("c", purpose="work_reference"):
            time.sleep(0.4)  # longer than idle_timeout, spent on the rows: not the platform's silence
            keys.append(row.key)
        return keys

    assert govshare_client.client.DEFAULT_TIMEOUTS["/govshare.query.v1.QueryService/Export"] == 3600
    assert govshare_client.client.DEFAULT_IDLE_TIMEOUT == 120
    with make_client(address, idle_timeout=0.3) as client:
        for export in (lambda: list(client.export("c", purpose="work_reference")),
                       lambda: list(client.stub(query_pb2_grpc.QueryServiceStub).Export(request))):
            fake.script["Export midway"] = [stall]
            with pytest.raises(DeadlineExceeded, match=r"no message from the platform for 0\.3 s \(idle_timeout\)"):
                export()
        assert read_slowly(client) == ["k1", "k2", "k3"]
    async with make_async_client(address, idle_timeout=0.3) as aclient:
        fake.script["Export midway"] = [stall]
        with pytest.raises(DeadlineExceeded, match=r"idle_timeout"):
            [row async for row in aclient.export("c", purpose="work_reference")]
        fake.script["Export midway"] = [stall]
        with pytest.raises(DeadlineExceeded, match=r"idle_timeout"):
            [page async for page in aclient.stub(query_pb2_grpc.QueryServiceAsyncStub).Export(request)]
        assert len([row async for row in aclient.export("c", purpose="work_reference")]) == 3


async def test_an_export_closed_from_another_thread_or_task_stops_its_reader(edge: tuple[FakeEdge, str]) -> None:
    """Export.close() from another thread than the one reading (a shutdown hook, a supervisor giving up) raised
    ValueError 'generator already executing' and left the reader waiting; AsyncExport.aclose() from another task
    raised RuntimeError 'aclose(): asynchronous generator is already running'. It now cancels the stream: the
    reader's wait ends at once with a CANCELLED GovshareError saying the export was closed, not complete."""
    fake, address = edge

    def stall(context: grpc.ServicerContext) -> None:
        time.sleep(1.5)

    def close_from_another_thread(client: Client) -> None:
        export, outcome, reading = client.export("c", purpose="work_reference"), [], threading.Event()

        def read() -> None:
            try:
                for row in export:
                    outcome.append(row.key)
                    reading.set()
            except GovshareError as error:
                outcome.append(error)

        reader = threading.Thread(target=read)
        reader.start()
        assert reading.wait(5)  # the first page read; the reader now waits for the stalled second
        time.sleep(0.1)
        started = time.monotonic()
        export.close()
        reader.join(5)
        assert time.monotonic() - started < 0.5
        *keys, error = outcome
        assert keys == ["k1", "k2"] and isinstance(error, GovshareError)
        assert error.code == grpc.StatusCode.CANCELLED and "closed (close())" in error.message
        assert error.audit_id == "a-9" and not export.complete and list(export) == []
        export.close()  # again: nothing to do

    with make_client(address) as client:
        fake.script["Export midway"] = [stall]
        close_from_another_thread(client)
    async with make_async_client(address) as aclient:
        fake.script["Export midway"] = [stall]
        aexport, aoutcome = aclient.export("c", purpose="work_reference"), []

        async def aread() -> None:
            try:
                aoutcome.extend([row.key async for row in aexport])
            except GovshareError as error:
                aoutcome.append(error)

        task = asyncio.create_task(aread())
        await asyncio.sleep(0.4)
        started = time.monotonic()
        await aexport.aclose()
        await asyncio.wait_for(task, 5)
        assert time.monotonic() - started < 0.5
        assert len(aoutcome) == 1 and isinstance(aoutcome[0], GovshareError)
        assert aoutcome[0].code == grpc.StatusCode.CANCELLED and "closed (aclose())" in aoutcome[0].message
        assert not aexport.complete


def test_an_export_closed_by_another_thread_yields_no_further_row_of_its_page(edge: tuple[FakeEdge, str]) -> None:
    """Closed by another thread while its reader was busy with a row, an export went on handing the reader the rest
    of the page it held (up to a page of the platform's, a thousand rows) after close() had returned, and only
    failed at the next page. The reader's next row is now the CANCELLED error."""
    _, address = edge
    with make_client(address) as client:
        export = client.export("c", purpose="work_reference")
        rows, closed, outcome = iter(export), threading.Event(), []

        def read() -> None:
            try:
                outcome.append(next(rows).key)
                closed.wait(5)  # busy with its first row while another thread closes the export
                outcome.extend(row.key for row in rows)
            except GovshareError as error:
                outcome.append(error.code)

        reader = threading.Thread(target=read)
        reader.start()
        while not outcome:
            time.sleep(0.01)
        export.close()
        closed.set()
        reader.join(5)
    assert outcome == ["k1", grpc.StatusCode.CANCELLED]


async def test_an_export_closed_by_another_task_yields_no_further_row_of_its_page(edge: tuple[FakeEdge, str]) -> None:
    """As its sync twin: an AsyncExport closed by another task while its reader was busy with a row (aclose() closed
    the generator, and the reader's loop ended as if every row had come) hands the reader the CANCELLED error."""
    _, address = edge
    async with make_async_client(address) as aclient:
        export, outcome = aclient.export("c", purpose="work_reference"), []
        first, closed = asyncio.Event(), asyncio.Event()

        async def read() -> None:
            try:
                outcome.append((await anext(export)).key)
                first.set()
                await closed.wait()
                outcome.extend([row.key async for row in export])
            except GovshareError as error:
                outcome.append(error.code)

        reader = asyncio.create_task(read())
        await asyncio.wait_for(first.wait(), 5)
        await export.aclose()
        closed.set()
        await asyncio.wait_for(reader, 5)
    assert outcome == ["k1", grpc.StatusCode.CANCELLED]


def test_a_call_under_way_when_its_client_closes_says_so(edge: tuple[FakeEdge, str]) -> None:
    """Client.close() from another thread while a query was under way (a blocking call, or a future()'s) raised
    gRPC's CANCELLED "Channel closed!", naming neither the client nor the close. It now says its Client's close()
    cancelled it."""
    fake, address = edge

    def stall(context: grpc.ServicerContext) -> None:
        time.sleep(1.0)

    client, outcome = make_client(address), []
    fake.script["Query"] = [stall, stall]

    def query() -> None:
        try:
            client.query("c", "k", purpose="work_reference")
        except GovshareError as error:
            outcome.append(error)

    asking = threading.Thread(target=query)
    asking.start()
    pending = client.stub(query_pb2_grpc.QueryServiceStub).Query.future(query_pb2.QueryRequest(
        resource_code="c", key="k", purpose=common_pb2.Purpose(type=common_pb2.PURPOSE_TYPE_WORK_REFERENCE)))
    while len(fake.attempts("Query")) < 2:
        time.sleep(0.01)
    client.close()
    asking.join(5)
    with pytest.raises(GovshareError) as cut:
        pending.result(5)
    for error in (outcome[0], cut.value):
        assert error.code == grpc.StatusCode.CANCELLED
        assert error.message == ("govshare client: the call was cancelled (its Client's close(), or the end of its "
                                 "with block) before it was answered")


async def test_an_async_call_under_way_when_its_client_closes_raises_cancelled_not_cancelled_error(
        edge: tuple[FakeEdge, str]) -> None:
    """AsyncClient.close() from another task (a shutdown hook) while a query was under way made that query's
    awaiting task raise asyncio.CancelledError, as if the task itself had been cancelled (a TaskGroup then cancels
    its siblings; a `except Exception` misses it), where docs/api.md says calls under way end CANCELLED and the sync
    client raises a GovshareError. It is now a GovshareError CANCELLED saying so; a task cancelled itself still
    gets CancelledError."""
    fake, address = edge

    def stall(context: grpc.ServicerContext) -> None:
        time.sleep(1.0)

    async with make_async_client(address) as aclient:
        fake.script["Query"] = [stall]
        query = asyncio.create_task(aclient.query("c", "k", purpose="work_reference"))
        while not fake.attempts("Query"):  # noqa: ASYNC110 (the fake edge is in threads: nothing to await)
            await asyncio.sleep(0.01)
        await aclient.close()
        with pytest.raises(GovshareError, match=r"cancelled \(its cancel\(\), or its AsyncClient's close") as cut:
            await query
        assert cut.value.code == grpc.StatusCode.CANCELLED
    async with make_async_client(address) as aclient:
        fake.script["Query"] = [stall]
        with pytest.raises(TimeoutError):  # its own task cancelled (by wait_for): CancelledError inside, as before
            await asyncio.wait_for(aclient.query("c", "k", purpose="work_reference"), 0.3)


#: A refusal after which a query waits a second before it is tried again (the edge away, a dependency down).
_DOWN_FOR_A_SECOND = fail(code_pb2.UNAVAILABLE, "down", "DEPENDENCY_UNAVAILABLE", retry_after=1.0)


def _closed_while_waiting_to_retry(fake: FakeEdge, client: Client, down: Behaviour,
                                   wait: float) -> tuple[bool, list[Exception]]:
    """A query refused ``down`` waits before it is tried again, and ``client`` is closed meanwhile: whether its
    caller was still blocked ``wait`` seconds after the close, and what the query raised."""
    outcome: list[Exception] = []
    client.query("c", "k", purpose="work_reference")
    fake.script["Query"] = [down]

    def query() -> None:
        try:
            client.query("c", "k", purpose="work_reference")
        except Exception as error:
            outcome.append(error)

    asking = threading.Thread(target=query)
    asking.start()
    while len(fake.attempts("Query")) < 2:
        time.sleep(0.01)
    client.close()
    asking.join(wait)
    return asking.is_alive(), outcome


def test_a_call_waiting_to_be_retried_when_its_client_closes_ends_cancelled_saying_so(
        edge: tuple[FakeEdge, str]) -> None:
    """A query refused UNAVAILABLE waits before it is tried again; its Client closed then (a shutdown hook, the end of
    a with block in another thread), it raised gRPC's ValueError 'Cannot invoke RPC on closed channel!', which a
    worker catching GovshareError did not handle. It now ends CANCELLED saying the Client's close() cut it, as a call
    under way does."""
    fake, address = edge
    _, outcome = _closed_while_waiting_to_retry(fake, make_client(address), _DOWN_FOR_A_SECOND, 5)
    assert isinstance(outcome[0], GovshareError), repr(outcome[0])
    assert outcome[0].code == grpc.StatusCode.CANCELLED
    assert "its Client's close()" in outcome[0].message


def test_a_client_closed_during_a_long_retry_pause_ends_its_call_at_once(edge: tuple[FakeEdge, str]) -> None:
    """The platform asks for 30 s before a retry (RetryInfo); the Client closed meanwhile (a shutdown), its caller
    stayed blocked in ``time.sleep`` for the rest of the pause before the call ended CANCELLED. The pause now waits
    on the close: the caller is free as soon as close() returns (the join below would wait out the 30 s otherwise)."""
    fake, address = edge
    down = fail(code_pb2.UNAVAILABLE, "down", "DEPENDENCY_UNAVAILABLE", retry_after=30.0)
    blocked, outcome = _closed_while_waiting_to_retry(fake, make_client(address, timeout=120.0), down, 20)
    assert not blocked, "the call still waited out its retry pause after close()"
    assert isinstance(outcome[0], GovshareError) and outcome[0].code == grpc.StatusCode.CANCELLED, outcome


def test_calls_waiting_for_a_token_when_their_client_closes_end_cancelled_saying_so(edge: tuple[FakeEdge, str]) -> None:
    """Two threads' first queries wait for the client's token while TokenService hangs; the Client closed then (a
    shutdown), the one whose issuance the close cut raised CANCELLED "Channel closed!", naming neither the client nor
    the close, and the one waiting for the other's token gRPC's ValueError 'Cannot invoke RPC on closed channel!'.
    Both now end CANCELLED saying the Client's close() cut them."""
    fake, address = edge
    arrived, release = _hanging_issuance(fake)
    client, outcome = make_client(address), []

    def query() -> None:
        try:
            client.query("c", "k", purpose="work_reference")
        except Exception as error:
            outcome.append(error)

    asking = [threading.Thread(target=query) for _ in range(2)]
    for thread in asking:
        thread.start()
    assert arrived.wait(5)
    client.close()
    for thread in asking:
        thread.join(5)
    release.set()
    assert [type(error) for error in outcome] == [GovshareError, GovshareError], outcome
    for error in outcome:
        assert error.code == grpc.StatusCode.CANCELLED and "its Client's close()" in error.message, error


async def test_an_async_call_waiting_to_be_retried_when_its_client_closes_ends_cancelled_not_cancelled_error(
        edge: tuple[FakeEdge, str]) -> None:
    """As the sync client's: closed during the pause before a retry, the AsyncClient's query raised
    asyncio.CancelledError, as if the awaiting task had been cancelled itself (docs/api.md says it does not)."""
    fake, address = edge
    async with make_async_client(address) as aclient:
        await aclient.query("c", "k", purpose="work_reference")
        fake.script["Query"] = [_DOWN_FOR_A_SECOND]
        waiting = asyncio.create_task(aclient.query("c", "k", purpose="work_reference"))
        while len(fake.attempts("Query")) < 2:  # noqa: ASYNC110 (the fake edge is in threads: nothing to await)
            await asyncio.sleep(0.01)
        await aclient.close()
        with pytest.raises(GovshareError, match=r"cancelled \(its cancel\(\), or its AsyncClient's close") as cut:
            await waiting
        assert cut.value.code == grpc.StatusCode.CANCELLED


async def test_an_export_read_on_after_its_client_closed_says_so(edge: tuple[FakeEdge, str]) -> None:
    """An export read on after its client's with block (or a close() from another thread) was told gRPC's "Stream
    removed (Channel closed!)", and an AsyncClient's reader got asyncio.CancelledError, ending its task. Both now
    get a GovshareError CANCELLED saying the export was closed by its client's close() and is not complete."""
    _, address = edge
    with make_client(address) as client:
        export = client.export("c", purpose="work_reference")
        assert next(export).key == "k1"
    with pytest.raises(GovshareError, match=r"closed \(its client's close\(\), or the end of its with block\)") as cut:
        list(export)
    assert cut.value.code == grpc.StatusCode.CANCELLED and cut.value.audit_id == "a-9" and not export.complete
    async with make_async_client(address) as aclient:
        aexport = aclient.export("c", purpose="work_reference")
        assert (await anext(aexport)).key == "k1"
    with pytest.raises(GovshareError, match=r"closed \(its client's close\(\)") as acut:
        [row async for row in aexport]
    assert acut.value.code == grpc.StatusCode.CANCELLED and not aexport.complete


async def test_a_client_given_to_pickle_or_copy_says_to_make_one_per_process(edge: tuple[FakeEdge, str]) -> None:
    """A Client given to a ProcessPoolExecutor's task, or to copy.copy, failed with gRPC's "no default __reduce__
    due to non-trivial __cinit__", naming neither the client nor what to do. It is now a TypeError saying to make
    one in each process, and never quoting the secret."""
    _, address = edge
    with make_client(address) as client:
        for attempt in (lambda: pickle.dumps(client), lambda: copy.copy(client), lambda: copy.deepcopy(client)):
            with pytest.raises(TypeError, match=r"a Client cannot be pickled or copied .* make one in each") as no:
                attempt()
            assert "s3cret" not in str(no.value)
    async with make_async_client(address) as aclient:
        with pytest.raises(TypeError, match="an AsyncClient cannot be pickled"):
            pickle.dumps(aclient)


async def test_pages_reads_every_page_of_a_listing_with_its_filters(edge: tuple[FakeEdge, str]) -> None:
    """The SDK had no paging helper: each business system wrote the page_token loop of every List* call itself
    (and one forgetting the filters, or stopping at the first page, read the wrong or too few entries). pages()
    and async_pages() read every page, the filters and page_size sent with each token, the caller's request left
    as it was; a listing answering the same token again is stopped, not read for ever."""
    fake, address = edge
    request = catalog_pb2.ListEntriesRequest(filter=catalog_pb2.EntryFilter(subject="人口"), page_size=2)
    with make_client(address) as client:
        listed = [[e.code for e in page.entries]
                  for page in pages(client.stub(catalog_pb2_grpc.CatalogServiceStub).ListEntries, request)]
        fake.list_entries_stuck = "2"
        with pytest.raises(RuntimeError, match="answered page token '2' a second time"):
            list(pages(client.stub(catalog_pb2_grpc.CatalogServiceStub).ListEntries, request))
        fake.list_entries_stuck = ""
    assert listed == [["人口-0", "人口-1"], ["人口-2", "人口-3"], ["人口-4"]]
    assert request.page_token == ""
    async with make_async_client(address) as aclient:
        alisted = [e.code async for page in async_pages(
            aclient.stub(catalog_pb2_grpc.CatalogServiceAsyncStub).ListEntries, request) for e in page.entries]
    assert alisted == [code for page in listed for code in page]


#: A business system's calls after closing its clients, each printing what it raised (run in a process of its own:
#: on the old code the first export crashed the interpreter, and the asyncio client's first call hung).
AFTER_CLOSE = """
import asyncio, sys
from govshare_client import AsyncClient, Client
from govshare_client.pb.query.v1 import query_pb2, query_pb2_grpc

def said(call):
    try:
        call()
    except ValueError as error:
        print(error, flush=True)

client = Client(sys.argv[1], "sys-1", "s3cret", plaintext=True)
client.query("c", "k", purpose="work_reference")
held = client.stub(query_pb2_grpc.QueryServiceStub)
client.close()
said(lambda: client.query("c", "k", purpose="work_reference"))
said(lambda: list(client.export("c", purpose="work_reference")))
said(lambda: list(held.Export(query_pb2.ExportRequest(resource_code="c"))))

async def main():
    unused = AsyncClient(sys.argv[1], "sys-1", "s3cret", plaintext=True)
    await unused.close()
    try:
        await asyncio.wait_for(unused.query("c", "k", purpose="work_reference"), 5)
    except ValueError as error:
        print(error, flush=True)
    try:
        await asyncio.wait_for(unused.export("c", purpose="work_reference").__anext__(), 5)
    except ValueError as error:
        print(error, flush=True)

asyncio.run(main())
print("survived", flush=True)
"""


def test_a_call_on_a_closed_client_raises_value_error_not_a_crash_or_a_hang(edge: tuple[FakeEdge, str]) -> None:
    """docs/api.md: after close(), later calls raise ValueError. An export, or a raw stub made before close(), on
    the closed channel crashed the business system's process in gRPC (a segmentation fault in
    _get_registered_call_handle, grpcio 1.85), and an AsyncClient closed before its first call hung for ever making
    its stub. Each is now refused before gRPC is asked, naming the closed client."""
    _, address = edge
    sdk = Path(govshare_client.__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", AFTER_CLOSE, address], capture_output=True, text=True, timeout=60,
                          env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(sdk)}, check=False)
    closed = ("govshare client: this Client is closed (close(), or the end of its with block): make a new one\n" * 3
              + "govshare client: this AsyncClient is closed (close(), or the end of its with block): make a new one\n"
              * 2)
    assert (done.returncode, done.stdout) == (0, closed + "survived\n"), done.stderr[-2000:]


def test_an_edit_over_another_change_raises_aborted(edge: tuple[FakeEdge, str]) -> None:
    """UpdateEntry and SetPersonRoles with a stale etag are ABORTED (ETAG_MISMATCH): read again and redo. The
    SDK had a class for every other status the platform documents, so this one came as a bare GovshareError
    that a business system could not catch on its own."""
    from govshare_client import Aborted

    fake, address = edge
    fake.script["CreateEntry"] = [fail(code_pb2.ABORTED, "entry 1/1 was changed since you read it", "ETAG_MISMATCH")]
    with make_client(address) as client, pytest.raises(Aborted) as raised:
        client.stub(catalog_pb2_grpc.CatalogServiceStub).CreateEntry(
            catalog_pb2.CreateEntryRequest(entry=catalog_pb2.Entry(code="1/1")))
    assert raised.value.reason == "ETAG_MISMATCH" and raised.value.code == grpc.StatusCode.ABORTED
    assert len(fake.attempts("CreateEntry")) == 1


def _raise_invalid_argument(key: str) -> None:
    """A process pool's task (module level, so it pickles) failing as a client call does."""
    raise InvalidArgument(grpc.StatusCode.INVALID_ARGUMENT, f"key: {key} has a wrong check character",
                          reason="INVALID_ARGUMENT", domain="query.govshare", metadata={"audit_id": "a-9"},
                          field_violations=[("key", "wrong check character")], retry_delay=None)


def test_errors_pickle_whole_so_a_process_pool_hands_them_back() -> None:
    """A worker's exception is pickled back to the parent: unpickling it failed (the constructor's other
    arguments were missing), which broke the pool and lost every other task's answer."""
    error = ResourceExhausted(grpc.StatusCode.RESOURCE_EXHAUSTED, "slow down", reason="RATE_LIMITED",
                              metadata={"system": "sys-1"}, retry_delay=1.5)
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is ResourceExhausted and again.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert (again.message, again.reason, again.metadata, again.retry_delay) == (
        "slow down", "RATE_LIMITED", {"system": "sys-1"}, 1.5)
    assert str(copy.copy(error)) == str(error)
    with futures.ProcessPoolExecutor(max_workers=1) as pool:
        failing, fine = pool.submit(_raise_invalid_argument, "k1"), pool.submit(abs, -1)
        with pytest.raises(InvalidArgument) as refused:
            failing.result(timeout=60)
        assert fine.result(timeout=60) == 1
    assert refused.value.field_violations == [("key", "wrong check character")]
    assert refused.value.metadata == {"audit_id": "a-9"} and refused.value.domain == "query.govshare"


def test_an_unreachable_edge_is_unavailable() -> None:
    with make_client("127.0.0.1:1", retry=RetryPolicy(max_attempts=2, initial_backoff=0.01),
                     sleep=SleepRecorder()) as client, pytest.raises(Unavailable):
        client.query("c", "k", purpose="work_reference", timeout=5)


def test_a_client_reconnects_within_a_second_or_two_of_the_edges_return() -> None:
    """gRPC spaces its reconnection attempts ever wider (1 s, 1.6 s, 2.6 s, … up to 120 s) and fails every call
    at once in between: a client whose edge was away for 10 s went on failing UNAVAILABLE for about 6 s more
    (a minute's restart: a quarter of a minute more), however often it called."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with make_client(f"127.0.0.1:{port}", retry=RetryPolicy(max_attempts=1)) as client:
        away_until = time.monotonic() + 9.5
        while time.monotonic() < away_until:  # the edge is away; the business system keeps calling
            with pytest.raises(Unavailable):
                client.query("c", "k", purpose="work_reference", timeout=1)
            time.sleep(0.1)
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        server.add_generic_rpc_handlers(FakeEdge().handlers())
        server.add_insecure_port(f"127.0.0.1:{port}")
        server.start()
        try:
            back = time.monotonic()
            while True:
                try:
                    client.query("c", "k", purpose="work_reference", timeout=1)
                    break
                except Unavailable:
                    assert time.monotonic() - back < 2.5, "still UNAVAILABLE 2.5 s after the edge came back"
                    time.sleep(0.1)
        finally:
            server.stop(0)


def _docs_plain_grpc_channel(endpoint: str) -> grpc.Channel:
    """The channel docs/api.md's Calling makes for a client of the generated stubs without the SDK (its
    ``channel = …`` evaluated as printed), to ``endpoint`` by the GOVSHARE_ENDPOINT it reads."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text(encoding="utf-8")
    match = re.search(r"```python\n(.*?)```", text.split("\n## Calling\n", 1)[1], re.DOTALL)
    assert match, "no python block under ## Calling in docs/api.md"
    made = next(node.value for node in ast.parse(match[1]).body if isinstance(node, ast.Assign)
                and [getattr(target, "id", "") for target in node.targets] == ["channel"])
    environ = {**os.environ, "GOVSHARE_ENDPOINT": endpoint}
    return eval(compile(ast.Expression(made), "docs/api.md", "eval"),  # the docs' own line
                {"grpc": grpc, "os": type("os", (), {"environ": environ})})


def test_the_docs_plain_grpc_channel_reaches_a_restarted_edge_within_a_second_or_so() -> None:
    """A client of the generated stubs (no SDK) made its channel as docs/api.md's Calling prints it, with gRPC's
    default reconnection backoff (attempts at about 1, 2.6, 5.2, 9.4 s, then up to 120 s apart): an edge back
    after 5.6 s was reached only at the attempt of about 9.4 s, every call failing UNAVAILABLE at once until then,
    though the SDK's channel (grpc.max_reconnect_backoff_ms 1000) reached it within a second."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    channel = _docs_plain_grpc_channel(f"127.0.0.1:{port}")
    call = channel.unary_unary("/govshare.catalog.v1.CatalogService/GetEntry")
    try:
        away_until = time.monotonic() + 5.6
        while time.monotonic() < away_until:  # the edge is away; the business system keeps calling
            with pytest.raises(grpc.RpcError):
                call(b"", timeout=1)
            time.sleep(0.1)
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), handlers=[grpc.method_handlers_generic_handler(
            "govshare.catalog.v1.CatalogService",
            {"GetEntry": grpc.unary_unary_rpc_method_handler(lambda request, context: b"")})])
        server.add_insecure_port(f"127.0.0.1:{port}")
        server.start()
        try:
            back = time.monotonic()
            while True:
                try:
                    call(b"", timeout=1)
                    break
                except grpc.RpcError as error:
                    assert error.code() == grpc.StatusCode.UNAVAILABLE
                    assert time.monotonic() - back < 1.5, "still UNAVAILABLE 1.5 s after the edge came back"
                    time.sleep(0.05)
        finally:
            server.stop(0)
    finally:
        channel.close()


def test_a_raw_stubs_future_call_answers_like_a_blocking_one(edge: tuple[FakeEdge, str]) -> None:
    """A future's outcome is a gRPC rendezvous, an RpcError even when the call succeeded: a success must not
    be raised as a GovshareError with code OK."""
    fake, address = edge
    fake.script["GetEntry"] = [fail(code_pb2.NOT_FOUND, "no such entry", "RESOURCE_NOT_FOUND")]
    with make_client(address) as client:
        get_entry = client.stub(catalog_pb2_grpc.CatalogServiceStub).GetEntry
        failed = get_entry.future(catalog_pb2.GetEntryRequest(code="101001/000001"))
        with pytest.raises(GovshareError) as missing:
            failed.result(timeout=5)  # (grpc's own failed outcome took no timeout keyword: a TypeError)
        answer = get_entry.future(catalog_pb2.GetEntryRequest(code="101001/000001")).result(timeout=5)
    assert missing.value.code == grpc.StatusCode.NOT_FOUND and missing.value.reason == "RESOURCE_NOT_FOUND"
    # Not gRPC's INTERNAL "Exception raised while intercepting the RPC": the platform's status.
    assert (failed.code(), failed.details(), failed.exception()) == (
        grpc.StatusCode.NOT_FOUND, "no such entry", missing.value)
    assert answer.entry.code == "101001/000001"


def slow(seconds: float) -> Behaviour:
    """A behaviour answering only after ``seconds`` (a platform under load)."""
    return lambda context: time.sleep(seconds)


def test_a_raw_stubs_future_call_returns_at_once_retries_in_the_background_and_cancels(
        edge: tuple[FakeEdge, str]) -> None:
    """``future()`` waited for the whole call, retries included, before returning: futures meant to run side by
    side ran one after the other (two slow calls took twice as long), and none could be cancelled."""
    fake, address = edge
    fake.script["GetEntry"] = [slow(0.4), unavailable(), slow(0.4)]
    recorder = SleepRecorder()
    with make_client(address, sleep=recorder) as client:
        client.query("c", "k", purpose="work_reference")  # the token is in hand
        get_entry = client.stub(catalog_pb2_grpc.CatalogServiceStub).GetEntry
        started = time.monotonic()
        first = get_entry.future(catalog_pb2.GetEntryRequest(code="101001/000001"))
        retried = get_entry.future(catalog_pb2.GetEntryRequest(code="102001/000001"))
        returned = time.monotonic() - started
        assert not retried.done()
        answers = [first.result(timeout=5).entry.code, retried.result(timeout=5).entry.code]
        both = time.monotonic() - started
        attempts = len(fake.attempts("GetEntry"))
        fake.script["GetEntry"] = [slow(2)]
        cancelled = get_entry.future(catalog_pb2.GetEntryRequest(code="101001/000001"))
        assert cancelled.cancel() and cancelled.cancelled() and cancelled.done()
        with pytest.raises(grpc.FutureCancelledError):
            cancelled.result(timeout=1)
    assert returned < 0.2, returned
    assert answers == ["101001/000001", "102001/000001"]
    assert both < 0.75, both  # side by side: 0.4 s each, not 0.8 s one after the other
    assert attempts == 3 and len(recorder.pauses) == 1  # the UNAVAILABLE one was retried


def test_a_future_call_with_the_edge_away_returns_at_once_and_retries_in_the_background() -> None:
    """With no edge to connect to, gRPC fails an attempt before ``future()`` returns, and the pauses between the
    retries were slept in the caller's thread: ``future()`` blocked for all of them."""
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        time.sleep(0.2)

    with make_client("127.0.0.1:1", sleep=sleep) as client:  # nothing listens there
        started = time.monotonic()
        pending = client.stub(catalog_pb2_grpc.CatalogServiceStub).GetEntry.future(
            catalog_pb2.GetEntryRequest(code="101001/000001"), timeout=5)
        returned = time.monotonic() - started
        with pytest.raises(Unavailable):
            pending.result(timeout=5)
    assert returned < 0.15, returned
    assert len(pauses) == 7  # retried all the same: eight attempts


@pytest.mark.parametrize("request_", ["101001/000001", None, {"code": "101001/000001"}])
async def test_a_raw_stubs_request_that_is_not_a_message_is_a_type_error(edge: tuple[FakeEdge, str],
                                                                         request_: object) -> None:
    """Before, the blocking client raised an INTERNAL GovshareError ("Exception serializing request!") and
    the asyncio client sent an empty request, answered as if every field were missing."""
    fake, address = edge
    said = "the request of /govshare.catalog.v1.CatalogService/GetEntry must be a protobuf message"
    with make_client(address) as client, pytest.raises(TypeError, match=said):
        client.stub(catalog_pb2_grpc.CatalogServiceStub).GetEntry(request_)
    with make_client(address) as client, pytest.raises(TypeError, match=r"the request of .*/Export must be"):
        next(iter(client.stub(query_pb2_grpc.QueryServiceStub).Export(request_)))
    async with AsyncClient(address, "sys-1", "s3cret", plaintext=True) as aclient:
        with pytest.raises(TypeError, match=said):
            await aclient.stub(catalog_pb2_grpc.CatalogServiceStub).GetEntry(request_)
        with pytest.raises(TypeError, match=r"the request of .*/Export must be"):
            async for _ in aclient.stub(query_pb2_grpc.QueryServiceStub).Export(request_):
                pass
    assert fake.attempts("GetEntry") == []


@pytest.mark.parametrize(("metadata", "said"), [
    ([("X-Request-Id", "r-1")], "metadata key 'X-Request-Id' must be written in lower case ('x-request-id')"),
    ([("x-operator", "张三")], "metadata 'x-operator': its value holds '张' (position 0), which gRPC metadata "
                               "cannot carry"),
    ([("x request", "1")], "metadata key 'x request' holds ' ', which a gRPC metadata key cannot"),
    ([("x-note", "a\nb")], "metadata 'x-note': its value holds '\\n' (position 1)"),
])
async def test_metadata_grpc_cannot_carry_is_a_value_error_naming_it_not_internal(
        edge: tuple[FakeEdge, str], metadata: list[tuple[str, str]], said: str) -> None:
    """A business system's own metadata written as an HTTP header (X-Request-Id), or carrying an operator's name
    (张三) or a line break, was raised GovshareError INTERNAL "Invalid metadata", gRPC's words, as if the platform
    had failed, and named neither the entry nor what to send: it is a ValueError naming both, before a call."""
    fake, address = edge
    request = catalog_pb2.GetEntryRequest(code="101001/000001")
    with make_client(address) as client:
        with pytest.raises(ValueError, match=re.escape(said)):
            client.stub(catalog_pb2_grpc.CatalogServiceStub).GetEntry(request, metadata=metadata)
        with pytest.raises(ValueError, match=re.escape(said)):
            next(iter(client.stub(query_pb2_grpc.QueryServiceStub).Export(query_pb2.ExportRequest(),
                                                                          metadata=metadata)))
        assert client.stub(catalog_pb2_grpc.CatalogServiceStub).GetEntry(
            request, metadata=[("x-request-id", "r-1"), ("x-trace-bin", "张三".encode())]).entry.code  # these pass
    async with AsyncClient(address, "sys-1", "s3cret", plaintext=True) as aclient:
        with pytest.raises(ValueError, match=re.escape(said)):
            await aclient.stub(catalog_pb2_grpc.CatalogServiceAsyncStub).GetEntry(request, metadata=metadata)
        with pytest.raises(ValueError, match=re.escape(said)):
            async for _ in aclient.stub(query_pb2_grpc.QueryServiceAsyncStub).Export(query_pb2.ExportRequest(),
                                                                                    metadata=metadata):
                pass
    assert len(fake.attempts("GetEntry")) == 1  # the one that passed


@pytest.mark.parametrize("call_first", [False, True], ids=["no-token-yet", "token-held"])
def test_a_closed_client_says_so_not_internal(edge: tuple[FakeEdge, str], call_first: bool) -> None:
    """A call on a closed Client is the caller's mistake, said as such (a ValueError), not an INTERNAL status
    ("Exception raised while intercepting the RPC") the platform never sent."""
    _, address = edge
    client = make_client(address)
    if call_first:
        client.query("c", "k", purpose="work_reference")
    client.close()
    with pytest.raises(ValueError, match="this Client is closed"):
        client.query("c", "k", purpose="work_reference")


def test_a_verify_outcome_this_sdk_does_not_know_is_unspecified_not_an_error() -> None:
    """A platform newer than the SDK may answer an outcome the SDK's enum lacks: VerifyResult.from_proto raised
    ValueError ("Enum VerifyOutcome has no name defined for value 7") and the whole answer was lost, the verification
    already made, audited and counted. The item is now UNSPECIFIED (neither match nor mismatch), the others kept."""
    answer = query_pb2.VerifyResponse(outcomes={"name": query_pb2.VERIFY_OUTCOME_MATCH, "sex": 7}, audit_id="a-3")
    result = VerifyResult.from_proto(answer)
    assert result.outcomes == {"name": VerifyOutcome.MATCH, "sex": VerifyOutcome.UNSPECIFIED}
    assert result.audit_id == "a-3"


def test_every_verify_outcome_of_the_platform_has_its_sdk_name() -> None:
    """Each outcome the platform answers is one the SDK names (无值, VERIFY_OUTCOME_NO_VALUE, included), none read as
    UNSPECIFIED."""
    for name, number in query_pb2.VerifyOutcome.items():
        if number:
            assert VerifyOutcome.of(number).name == name.removeprefix("VERIFY_OUTCOME_"), name


def test_purpose_names_map_to_the_proto_enum() -> None:
    assert Purpose("administrative_basis").to_proto("x") == common_pb2.Purpose(
        type=common_pb2.PURPOSE_TYPE_ADMINISTRATIVE_BASIS, text="x")
    with pytest.raises(ValueError):
        Purpose("curiosity")


#: Arguments Python lets through that cannot mean anything, and what the client says of each.
_ODD_ARGUMENTS = [
    ("query", {"items": "name"}, TypeError, "items must be a list of strings, e.g. ['name'], not one str"),
    ("query", {"items": ["name", None]}, TypeError, "items[1] must be a str, not NoneType"),
    ("query", {"key": 110101}, TypeError, "key must be a str, not int"),
    ("query", {"purpose": "curiosity"}, ValueError, "purpose 'curiosity' is not one of administrative_basis,"),
    ("query", {"purpose_text": 2026}, TypeError, "purpose_text must be a str, not int"),
    ("query", {"timeout": 0}, ValueError, "timeout must be a positive, finite number of seconds, not 0"),
    ("query", {"timeout": float("nan")}, ValueError, "timeout must be a positive, finite number of seconds"),
    ("batch_query", {"keys": "110101199003077777"}, TypeError, "keys must be a list of strings"),
    ("verify", {"claims": {"registered_capital": 200}}, TypeError, "claims['registered_capital'] must be a str"),
    ("verify", {"claims": ["name"]}, TypeError, "claims must be a mapping of item name to claimed value"),
    ("export", {"items": b"name"}, TypeError, "items must be a list of strings"),
    # Text decoded from bytes that were not UTF-8 (a GBK file read with errors="surrogateescape", a command-line
    # argument): protobuf's bare UnicodeEncodeError named no argument.
    ("query", {"key": "3423\udcb3"}, ValueError, "key holds '\\udcb3' at position 4, not a character"),
    ("query", {"purpose_text": "\udcd5\udcc5"}, ValueError, "purpose_text holds '\\udcd5' at position 0"),
    ("batch_query", {"keys": ["k", "\udcb3"]}, ValueError, "keys[1] holds '\\udcb3' at position 0"),
    ("verify", {"claims": {"name": "\udcd5\udcc5"}}, ValueError, "claims['name'] holds '\\udcd5' at position 0"),
    ("export", {"resource_code": "\udcb3"}, ValueError, "resource_code holds '\\udcb3' at position 0"),
    # Asked for no items, the platform answers every item the grant allows (an empty list is "all" on the wire).
    ("query", {"items": []}, ValueError, "items is empty, which the platform reads as every item your grant"),
    ("batch_query", {"items": ()}, ValueError, "items is empty"),
    ("export", {"items": iter([])}, ValueError, "items is empty"),
]


def _call_arguments(method: str, odd: dict[str, object]) -> dict[str, object]:
    arguments: dict[str, object] = {"resource_code": "102001/000001", "purpose": "work_reference"}
    arguments.update({"query": {"key": "k"}, "batch_query": {"keys": ["k"]}, "verify": {"key": "k", "claims": {}},
                      "export": {}}[method])
    return {**arguments, **odd}


@pytest.mark.parametrize(("method", "odd", "error", "said"), _ODD_ARGUMENTS)
def test_arguments_that_cannot_mean_anything_are_refused_before_sending(method: str, odd: dict[str, object],
                                                                         error: type, said: str) -> None:
    """``items="name"`` went out as the items n, a, m, e; ``[None]`` and a claim of 200 raised protobuf's "bad
    argument type for built-in operation"; a timeout of 0 was a DEADLINE_EXCEEDED. Nothing is sent here: the
    endpoint listens nowhere."""
    with make_client("127.0.0.1:1") as client, pytest.raises(error) as refused:
        getattr(client, method)(**_call_arguments(method, odd))  # an export's too, before its first row is read
    assert said in str(refused.value)


@pytest.mark.parametrize(("method", "odd"), [
    ("batch_query", {"keys": "342322194911060454"}),
    ("verify", {"claims": {"citizen_id": 342322194911060454}}),
    ("verify", {"claims": {"phone": 13800138000.0}}),
    ("query", {"key": "name", "items": "342322194911060454"}),  # the key and the items swapped
    ("query", {"purpose": "低保审核 342322194911060454"}),  # the purpose's text where the purpose goes
])
def test_an_argument_refused_never_repeats_a_key_or_a_claimed_value(method: str, odd: dict[str, object]) -> None:
    """The refusal of a batch's keys given as one string, or of a claim given as a number, repeated the value as an
    example of what to send ("e.g. ['342322194911060454']"): an ID number or a phone number in the business system's
    logs and tracebacks, which the platform never writes into its own refusals. It says what to write instead
    without the value."""
    with make_client("127.0.0.1:1") as client, pytest.raises((TypeError, ValueError)) as refused:
        getattr(client, method)(**_call_arguments(method, odd))
    assert not re.search(r"3423221949|13800138", str(refused.value)), str(refused.value)
    assert re.search(r"(keys|items) must be a list of strings, e\.g\. \[(key|item)\]|must be a str|purpose is not one",
                     str(refused.value))


@pytest.mark.parametrize(("method", "odd", "error", "said"), _ODD_ARGUMENTS)
async def test_the_async_client_refuses_the_same_arguments(method: str, odd: dict[str, object], error: type,
                                                           said: str) -> None:
    client = AsyncClient("127.0.0.1:1", "sys-1", "secret", plaintext=True)
    try:
        with pytest.raises(error) as refused:
            call = getattr(client, method)(**_call_arguments(method, odd))  # an export raises at the call
            await call
        assert said in str(refused.value)
    finally:
        await client.close()


def test_a_raw_stubs_deadline_that_has_passed_is_refused_too() -> None:
    """The check is in the interceptor every call goes through, not only in the convenience methods."""
    with make_client("127.0.0.1:1") as client, pytest.raises(ValueError, match="timeout must be a positive"):
        client.stub(catalog_pb2_grpc.CatalogServiceStub).GetEntry(catalog_pb2.GetEntryRequest(code="x"), timeout=0)


@pytest.mark.parametrize("timeout", [0, -5, float("inf")])
def test_a_client_default_deadline_that_has_passed_is_refused(timeout: float) -> None:
    with pytest.raises(ValueError, match="timeout must be a positive"):
        Client("127.0.0.1:1", "sys-1", "secret", plaintext=True, timeout=timeout)
    with pytest.raises(ValueError, match=r"timeouts\['/govshare.query.v1.QueryService/Query'\] must be a positive"):
        Client("127.0.0.1:1", "sys-1", "secret", plaintext=True,
               timeouts={"/govshare.query.v1.QueryService/Query": timeout})


@pytest.mark.parametrize("method", ["BatchQuery", "QueryService/BatchQuery", "govshare.query.v1.QueryService.Query"])
async def test_a_per_method_deadline_not_named_by_its_method_path_is_refused(method: str) -> None:
    """``timeouts={"BatchQuery": 120}`` was accepted and never used: no call's method is called that."""
    said = f"timeouts: '{method}' is not a method path: give /package.Service/Method"
    with pytest.raises(ValueError, match=re.escape(said)):
        Client("127.0.0.1:1", "sys-1", "secret", plaintext=True, timeouts={method: 120})
    with pytest.raises(ValueError, match=re.escape(said)):
        AsyncClient("127.0.0.1:1", "sys-1", "secret", plaintext=True, timeouts={method: 120})


def test_a_per_method_deadline_keeps_the_other_methods_defaults(edge: tuple[FakeEdge, str]) -> None:
    """Giving Query's deadline dropped BatchQuery's own 30 s: a batch of 1000 keys then had the client's 10 s."""
    fake, address = edge
    with make_client(address, timeouts={"/govshare.query.v1.QueryService/Query": 3.0}) as client:
        client.query("c", "k", purpose="work_reference")
        client.batch_query("c", ["k"], purpose="work_reference")
    query, batch = fake.calls
    assert query.time_remaining is not None and 0 < query.time_remaining <= 3.5
    assert batch.time_remaining is not None and 10.5 < batch.time_remaining <= 30.5


@pytest.mark.parametrize("url", ["http://127.0.0.1:50051/", "HTTPS://edge.gov.cn:443",
                                 # as other gRPC tools write an address (grpcurl-like, OpenTelemetry's)
                                 "grpc://127.0.0.1:50051", "grpcs://edge.gov.cn:443"])
def test_an_endpoint_written_as_a_url_is_refused_naming_host_and_port(url: str,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The REST address `govshare up` prints is a URL; given as the gRPC endpoint it failed every call
    UNAVAILABLE ("Misformatted domain name") after retrying to the deadline."""
    host_port = url.split("//")[1].rstrip("/")
    with pytest.raises(ValueError, match=f"endpoint '{url}' is a URL: give the edge's host:port \\({host_port}\\)"):
        Client(url, "sys-1", "secret", plaintext=True)
    monkeypatch.setenv("GOVSHARE_ENDPOINT", url)
    with pytest.raises(ValueError, match=f"GOVSHARE_ENDPOINT '{url}' is a URL"):
        Client(None, "sys-1", "secret", plaintext=True)
    with pytest.raises(ValueError, match=f"GOVSHARE_ENDPOINT '{url}' is a URL"):
        AsyncClient(None, "sys-1", "secret", plaintext=True)


@pytest.mark.parametrize(("endpoint", "host_port"), [("127.0.0.1:50051/", "127.0.0.1:50051"),
                                                      ("edge.gov.cn:443/v1/entries", "edge.gov.cn:443"),
                                                      ("[::1]:50051/", "[::1]:50051"),
                                                      ("edge.gov.cn/", "edge.gov.cn:port")])
def test_an_endpoint_with_a_path_is_refused_naming_host_and_port(endpoint: str, host_port: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """An address copied from a URL without its scheme (the REST address `govshare up` prints ends in /) was
    accepted, and every call then failed UNAVAILABLE "errors resolving 127.0.0.1:50051/: Failed to parse port",
    retried to its deadline, as if the platform were down. gRPC's own targets (dns:///…, unix:…) still pass."""
    with pytest.raises(ValueError, match=re.escape(f"endpoint '{endpoint}' has a path") + ".*" + re.escape(
            f"give the edge's host:port ({host_port})")):
        Client(endpoint, "sys-1", "secret", plaintext=True)
    monkeypatch.setenv("GOVSHARE_ENDPOINT", endpoint)
    with pytest.raises(ValueError, match=re.escape(f"GOVSHARE_ENDPOINT '{endpoint}' has a path")):
        AsyncClient(None, "sys-1", "secret", plaintext=True)
    for target in ("dns:///127.0.0.1:50051", "unix:/tmp/edge.sock", "unix:///tmp/edge.sock", "127.0.0.1:50051"):
        Client(target, "sys-1", "secret", plaintext=True).close()


@pytest.mark.parametrize(("setting", "said"), [
    ({"initial_backoff": -0.5}, "initial_backoff must be a finite number of at least 0, not -0.5"),
    ({"max_backoff": float("nan")}, "max_backoff must be a finite number of at least 0, not nan"),
    ({"multiplier": 0.5}, "multiplier must be a finite number of at least 1, not 0.5"),
    ({"max_attempts": 0}, "max_attempts must be a whole number of attempts, at least 1, not 0"),
    ({"max_attempts": 2.5}, "max_attempts must be a whole number of attempts, at least 1, not 2.5"),
])
def test_a_retry_policy_that_cannot_work_is_refused_when_made(setting: dict[str, float], said: str) -> None:
    """A negative backoff was accepted and raised ValueError from time.sleep at the first retry, in an outage."""
    with pytest.raises(ValueError, match=re.escape(said)):
        RetryPolicy(**setting)  # type: ignore[arg-type]


@pytest.mark.parametrize(("setting", "said"), [
    ({"system_id": 123}, "system_id must be a str, not int"),
    ({"endpoint": ("127.0.0.1", 50051)}, "endpoint must be a str, not tuple"),
    ({"secret": 42}, "secret must be a str, not int"),
])
def test_settings_of_the_wrong_type_are_named(setting: dict[str, object], said: str) -> None:
    """Before: protobuf's "bad argument type for built-in operation", or re's "expected string"."""
    arguments: dict[str, object] = {"endpoint": "127.0.0.1:1", "system_id": "sys-1", "secret": "s", **setting}
    with pytest.raises(TypeError, match=re.escape(said)):
        Client(**arguments, plaintext=True)  # type: ignore[arg-type]


def test_missing_settings_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GOVSHARE_ENDPOINT", "GOVSHARE_SYSTEM_ID", "GOVSHARE_SYSTEM_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GOVSHARE_ENDPOINT", "127.0.0.1:1")
    with pytest.raises(ValueError, match="GOVSHARE_SYSTEM_ID, GOVSHARE_SYSTEM_SECRET"):
        Client()


@pytest.mark.parametrize(("env", "said"), [
    ({"GOVSHARE_PLAINTEXT": "y"}, "GOVSHARE_PLAINTEXT='y': expected 1 (no TLS: a platform on your own machine) or 0"),
    ({"GOVSHARE_ROOT_CA": "/nonexistent/ca.pem"},
     "GOVSHARE_ROOT_CA='/nonexistent/ca.pem': No such file or directory; give the PEM file of the CA"),
    ({"GOVSHARE_ROOT_CA": __file__}, "holds no PEM certificate"),
])
def test_a_wrong_plaintext_or_root_ca_setting_is_named(env: dict[str, str], said: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """GOVSHARE_PLAINTEXT=y silently meant TLS (every call UNAVAILABLE in a handshake error, retried to its
    deadline); a GOVSHARE_ROOT_CA that is no file was a bare FileNotFoundError, one without a certificate failed
    every call in the handshake."""
    monkeypatch.delenv("GOVSHARE_PLAINTEXT", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=re.escape(said)):
        Client("127.0.0.1:1", "sys-1", "s")
    monkeypatch.setenv("GOVSHARE_PLAINTEXT", "off")
    if "GOVSHARE_ROOT_CA" not in env:
        Client("127.0.0.1:1", "sys-1", "s").close()


@pytest.mark.parametrize(("given", "error", "said"), [
    (b"\x30\x82\x01\x0a", ValueError, "root_certificates holds no PEM certificate"),  # a DER file's bytes
    ("/etc/govshare/ca.pem", TypeError, "root_certificates must be the PEM file's bytes (open(path, 'rb').read())"),
    (Path(__file__), TypeError, "root_certificates must be the PEM file's bytes, not "),
])
def test_a_root_certificates_argument_that_holds_no_pem_is_named(given: object, error: type[Exception],
                                                                 said: str) -> None:
    """As GOVSHARE_ROOT_CA is checked: bytes without a certificate were taken, and every call failed UNAVAILABLE
    "Failed to create security handshaker", retried to its deadline; a path given as a str was gRPC's "expected
    certificate to be bytes", naming no argument."""
    with pytest.raises(error, match=re.escape(said)):
        Client("127.0.0.1:1", "sys-1", "s", root_certificates=given)  # type: ignore[arg-type]


def test_a_secret_given_as_bytes_that_are_not_utf8_is_refused_naming_it() -> None:
    """A secret may be given as its file's bytes (the hints now say so: ``str | bytes``); bytes that are not UTF-8
    were taken, and the first call failed in protobuf naming no argument."""
    with pytest.raises(ValueError, match="secret: the bytes given are not UTF-8"):
        Client("127.0.0.1:1", "sys-1", b"s3cr\xe9t", plaintext=True)


def test_settings_read_from_files_with_their_newline_still_work(edge: tuple[FakeEdge, str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A secret read from a file (a mounted Kubernetes secret, ``open(...).read()``) ends with a newline: it was
    refused as "unknown system id or wrong secret", and an endpoint with a space was a "Misformatted domain
    name", retried to the deadline. None of them can hold whitespace."""
    fake, address = edge
    with Client(f" {address}\n", "sys-1\n", b"s3cret\n", plaintext=True) as client:
        assert client.query("c", "k", purpose="work_reference").audit_id == "a-1"
    monkeypatch.setenv("GOVSHARE_ENDPOINT", f"{address} ")
    monkeypatch.setenv("GOVSHARE_SYSTEM_ID", " sys-1")
    monkeypatch.setenv("GOVSHARE_SYSTEM_SECRET", "s3cret\r\n")
    with Client(plaintext=True) as client:
        assert client.query("c", "k", purpose="work_reference").audit_id == "a-1"
    assert len(fake.issued) == 2


def test_settings_in_quotes_as_env_files_keep_them_still_work(edge: tuple[FakeEdge, str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Docker's --env-file and ``kubectl create secret --from-env-file`` keep the quotes of ``VAR="…"``: the
    endpoint was a host name in quotes (every call UNAVAILABLE "Domain name not found", retried to its deadline),
    ``GOVSHARE_PLAINTEXT="1"`` a ValueError, and the secret sent with its quotes. None of them holds a quote at its
    ends; the client and the platform's IssueToken read them without."""
    fake, address = edge
    monkeypatch.setenv("GOVSHARE_ENDPOINT", f'"{address}"')
    monkeypatch.setenv("GOVSHARE_SYSTEM_ID", "'sys-1'")
    monkeypatch.setenv("GOVSHARE_SYSTEM_SECRET", '"s3cret"\n')
    monkeypatch.setenv("GOVSHARE_PLAINTEXT", '"1"')
    with Client(timeout=2) as client:
        assert client.query("c", "k", purpose="work_reference").audit_id == "a-1"
    with Client(f"\u201c{address}\u201d", '"sys-1"', b"'s3cret'", plaintext=True, timeout=2) as client:
        assert client.query("c", "k", purpose="work_reference").audit_id == "a-1"
    assert len(fake.issued) == 2


def test_settings_come_from_the_environment(edge: tuple[FakeEdge, str], monkeypatch: pytest.MonkeyPatch) -> None:
    fake, address = edge
    monkeypatch.setenv("GOVSHARE_ENDPOINT", address)
    monkeypatch.setenv("GOVSHARE_SYSTEM_ID", "sys-1")
    monkeypatch.setenv("GOVSHARE_SYSTEM_SECRET", "s3cret")
    monkeypatch.setenv("GOVSHARE_PLAINTEXT", "1")
    with Client() as client:
        client.query("c", "k", purpose="work_reference")
    assert len(fake.attempts("Query")) == 1


class AsyncSleepRecorder:
    def __init__(self) -> None:
        self.pauses: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)
        await asyncio.sleep(seconds)


def test_an_async_client_made_outside_a_running_loop_is_refused_saying_where_to_make_it(
        edge: tuple[FakeEdge, str]) -> None:
    """Made at import time and used under asyncio.run, its first call failed with "got Future attached to a
    different loop" (grpc.aio binds the channel to the loop of its making)."""
    _, address = edge
    with pytest.raises(RuntimeError, match="make the AsyncClient inside the event loop that uses it"):
        make_async_client(address)

    async def made_inside() -> str:
        async with make_async_client(address) as client:
            return (await client.query("c", "k", purpose="work_reference")).audit_id

    assert asyncio.run(made_inside()) == "a-1"


def test_an_async_client_called_from_another_event_loop_is_refused_saying_so(edge: tuple[FakeEdge, str]) -> None:
    """Kept from one event loop and called under another, its call failed with asyncio's "Event loop is closed"
    (the loop of an earlier asyncio.run) or "… attached to a different loop" (another loop still open), naming
    neither the client nor what to do; an export alike, at its first row, and a raw stub kept from the client's
    loop (AsyncClient.stub checked the loop only when asked for the stub)."""
    _, address = edge
    first = asyncio.new_event_loop()
    clients: list[AsyncClient] = []

    async def make() -> str:
        clients.append(make_async_client(address))
        return (await clients[0].query("c", "k", purpose="work_reference")).audit_id

    async def query_elsewhere() -> None:
        await clients[0].query("c", "k", purpose="work_reference")

    async def export_elsewhere() -> None:
        async for _ in clients[0].export("c", purpose="work_reference"):
            pass

    async def kept_stub_elsewhere() -> None:  # a raw stub got in the client's loop and kept (a fixture's)
        await stubs[0].GetEntry(catalog_pb2.GetEntryRequest(code="1/1"))

    async def kept_stream_elsewhere() -> None:
        async for _ in stubs[1].Export(query_pb2.ExportRequest(resource_code="c")):
            pass

    async def keep_stubs() -> None:
        stubs.extend([clients[0].stub(catalog_pb2_grpc.CatalogServiceAsyncStub),
                      clients[0].stub(query_pb2_grpc.QueryServiceAsyncStub)])
        assert (await stubs[0].GetEntry(catalog_pb2.GetEntryRequest(code="1/1"))).entry.code == "1/1"

    stubs: list[Any] = []
    elsewhere_calls = (query_elsewhere, export_elsewhere, kept_stub_elsewhere, kept_stream_elsewhere)
    try:
        assert first.run_until_complete(make()) == "a-1"
        first.run_until_complete(keep_stubs())
        for elsewhere in elsewhere_calls:
            with pytest.raises(RuntimeError, match="belongs to the event loop it was made in, which is another one"):
                asyncio.run(elsewhere())
    finally:
        first.close()  # as asyncio.run ends its loop, the client left open in it
    for elsewhere in elsewhere_calls:
        with pytest.raises(RuntimeError, match=r"which has ended .*make one AsyncClient in each event loop"):
            asyncio.run(elsewhere())


def make_async_client(address: str, **kwargs) -> AsyncClient:  # type: ignore[no-untyped-def]
    return AsyncClient(address, "sys-1", "s3cret", plaintext=True, **kwargs)


async def test_async_client_shares_one_token_and_returns_plain_values(edge: tuple[FakeEdge, str]) -> None:
    fake, address = edge
    async with make_async_client(address) as client:
        answers = await asyncio.gather(*(client.query("c", "k", purpose="work_reference") for _ in range(20)))
        verified = await client.verify("c", "k", {"name": "张三"})
    assert {a.values["name"] for a in answers} == {"某某公司"}
    assert verified.outcomes["name"] == VerifyOutcome.MATCH
    assert len(fake.issued) == 1 and {c.token for c in fake.calls} == set(fake.issued)
    assert all(c.time_remaining is not None and c.time_remaining <= 10.5 for c in fake.calls)


async def test_async_client_retries_idempotent_calls_only_honouring_retry_info(edge: tuple[FakeEdge, str]) -> None:
    fake, address = edge
    fake.script["Query"] = [unavailable(retry_after=0.2), unavailable()]
    fake.script["CreateEntry"] = [unavailable()]
    sleep = AsyncSleepRecorder()
    async with make_async_client(address, sleep=sleep, retry=RetryPolicy(initial_backoff=0.05)) as client:
        await client.query("c", "k", purpose="work_reference")
        with pytest.raises(Unavailable):
            await client.stub(catalog_pb2_grpc.CatalogServiceStub).CreateEntry(
                catalog_pb2.CreateEntryRequest(entry=catalog_pb2.Entry(code="1/1")))
    assert len(fake.attempts("Query")) == 3 and len(fake.attempts("CreateEntry")) == 1
    assert sleep.pauses[0] == pytest.approx(0.2) and 0 <= sleep.pauses[1] <= 0.1


async def test_async_client_renews_a_refused_token_once_and_decodes_errors(edge: tuple[FakeEdge, str]) -> None:
    fake, address = edge
    async with make_async_client(address) as client:
        await client.query("c", "k", purpose="work_reference")
        fake.refused_tokens.add(fake.issued[0])
        await client.query("c", "k", purpose="work_reference")
        fake.script["Query"] = [fail(code_pb2.INVALID_ARGUMENT, "key: bad", "INVALID_ARGUMENT",
                                     violations=(("key", "bad check character"),))]
        with pytest.raises(InvalidArgument) as invalid:
            await client.query("c", "k", purpose="work_reference")
    assert len(fake.issued) == 2
    assert invalid.value.field_violations == [("key", "bad check character")]


async def test_a_raw_issue_token_goes_without_a_token_once_and_raises_the_typed_error(
        edge: tuple[FakeEdge, str]) -> None:
    """A system handing a token to its browser page calls IssueToken through the client's raw stub. The client first
    got a token of its own to send with it, and took the answer to a wrong secret (UNAUTHENTICATED) for its token
    refused: a new token, then IssueToken sent again, each a guess at the system's secret in the platform's log. With
    AsyncClient the failure was gRPC's raw AioRpcError, not the GovshareError every other call raises. It now goes
    without a token, once, and raises Unauthenticated with either client."""
    from govshare_client.pb.authorization.v1 import token_pb2, token_pb2_grpc

    fake, address = edge
    wrong = token_pb2.IssueTokenRequest(system_id="sys-1", secret="not-it")
    with make_client(address) as client:
        stub = client.stub(token_pb2_grpc.TokenServiceStub)
        with pytest.raises(Unauthenticated):
            stub.IssueToken(wrong)
        assert stub.IssueToken(token_pb2.IssueTokenRequest(system_id="sys-1", secret="s3cret")).token
    assert fake.issuances == [("not-it", False), ("s3cret", False)]
    fake.issuances.clear()
    async with make_async_client(address) as aclient:
        astub = aclient.stub(token_pb2_grpc.TokenServiceAsyncStub)
        with pytest.raises(Unauthenticated):
            await astub.IssueToken(wrong)
        await aclient.query("c", "k", purpose="work_reference")  # the client's own token, as before
    assert fake.issuances == [("not-it", False), ("s3cret", False)]


def test_tls_with_a_private_root_ca(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """The edge's certificate is trusted through GOVSHARE_ROOT_CA; without it, or in plaintext, no call goes. A
    certificate of another name than the one dialled said only gRPC's "Hostname Verification Check failed", after
    about 3 s of retries: it now says to dial the certificate's name, at once, as an untrusted one does."""
    ca, certificate, key = tls_pair()
    fake = FakeEdge()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers(fake.handlers())
    port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(key, certificate)]))
    server.start()
    try:
        (tmp_path / "ca.pem").write_bytes(ca)
        monkeypatch.setenv("GOVSHARE_ROOT_CA", str(tmp_path / "ca.pem"))
        with Client(f"127.0.0.1:{port}", "sys-1", "s3cret") as client:
            assert client.query("c", "k", purpose="work_reference").values == {"name": "某某公司"}
        sleep = SleepRecorder()
        other_name = [("grpc.ssl_target_name_override", "edge.other.example")]  # as dialling an alias of the edge
        with Client(f"127.0.0.1:{port}", "sys-1", "s3cret", options=other_name, sleep=sleep) as client, \
                pytest.raises(Unavailable) as misnamed:
            client.query("c", "k", purpose="work_reference", timeout=30)
        assert ("the edge's certificate is not issued for the host this client dials: give endpoint= or "
                "GOVSHARE_ENDPOINT the host name the certificate names") in misnamed.value.message
        monkeypatch.delenv("GOVSHARE_ROOT_CA")
        with Client(f"127.0.0.1:{port}", "sys-1", "s3cret", sleep=sleep) as client, \
                pytest.raises(Unavailable) as untrusted:
            client.query("c", "k", purpose="work_reference", timeout=30)  # the system roots do not know edge-ca
        assert "give root_certificates= or set GOVSHARE_ROOT_CA to the PEM file of the CA" in untrusted.value.message
        assert sleep.pauses == []  # neither is retried: the next attempt meets the same certificate
        assert "out of its validity" not in untrusted.value.message
        quick = RetryPolicy(max_attempts=1)
        with Client(f"127.0.0.1:{port}", "sys-1", "s3cret", plaintext=True, retry=quick) as client, \
                pytest.raises(Unavailable):
            client.query("c", "k", purpose="work_reference", timeout=5)
        assert len(fake.issued) == 1  # the secret went only over the verified connection
    finally:
        server.stop(0)


def test_an_expired_edge_certificate_says_so_not_to_give_a_ca() -> None:
    """An edge whose certificate had expired (or a machine whose clock is wrong) was told "this client does not
    trust the edge's certificate: give root_certificates= or set GOVSHARE_ROOT_CA", the words of any failed
    verification: the business system's developer looked for another CA file, which cannot mend it."""
    ca, certificate, key = tls_pair(expired=True)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers(FakeEdge().handlers())
    port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(key, certificate)]))
    server.start()
    try:
        with Client(f"127.0.0.1:{port}", "sys-1", "s3cret", root_certificates=ca) as client, \
                pytest.raises(Unavailable) as expired:
            client.query("c", "k", purpose="work_reference", timeout=30)
    finally:
        server.stop(0)
    assert expired.value.message.endswith(
        "(the edge's certificate is out of its validity by this machine's clock: if the clock is right, ask the "
        "platform's operator to renew the edge's certificate; root_certificates= cannot mend it)")
    assert "GOVSHARE_ROOT_CA" not in expired.value.message


async def test_tls_against_a_plaintext_edge_says_to_turn_it_off_at_once(edge: tuple[FakeEdge, str]) -> None:
    """TLS is the default and `govshare up`'s edge is plaintext: the client said only "Tls handshake failed
    (TSI_PROTOCOL_FAILURE): SSL_ERROR_SSL: … WRONG_VERSION_NUMBER", not which setting to change. It then said
    so only after retrying the handshake with the default policy (about 3 s of pauses), which no retry mends:
    the sync and the async client now raise it without a pause."""
    fake, address = edge
    sleep = SleepRecorder()
    with Client(address, "sys-1", "s3cret", sleep=sleep) as client, pytest.raises(Unavailable) as raised:
        client.query("c", "k", purpose="work_reference", timeout=30)
    async_pauses: list[float] = []

    async def async_sleep(seconds: float) -> None:
        async_pauses.append(seconds)
        await asyncio.sleep(seconds)

    async with AsyncClient(address, "sys-1", "s3cret", sleep=async_sleep) as aclient:
        with pytest.raises(Unavailable) as async_raised:
            await aclient.query("c", "k", purpose="work_reference", timeout=30)
    for error in (raised.value, async_raised.value):
        assert error.message.endswith("(the edge does not speak TLS: for a platform on your own machine give "
                                      "plaintext=True or set GOVSHARE_PLAINTEXT=1)")
    assert sleep.pauses == [] and async_pauses == []
    assert fake.issued == []


def test_every_public_call_of_the_sdk_says_what_it_does() -> None:
    """``help(AsyncClient.query)``, ``help(Client.close)``, ``help(QueryResult.from_proto)`` showed only a
    signature: every public class and method the package exports has a docstring."""
    import inspect

    import govshare_client

    undocumented = []
    for name in govshare_client.__all__:
        exported = getattr(govshare_client, name)
        if not inspect.getdoc(exported):
            undocumented.append(name)
        if inspect.isclass(exported) and not issubclass(exported, BaseException):
            undocumented += [f"{name}.{member}" for member, value in vars(exported).items()
                             if not member.startswith("_") and callable(getattr(exported, member))
                             and not inspect.getdoc(getattr(exported, member))]
    assert undocumented == []


async def test_pages_of_a_listing_that_does_not_page_says_so_before_calling_it() -> None:
    """pages() of ListDatasets (which answers every dataset at once) yielded the one answer, then raised a bare
    ``AttributeError: next_page_token``; it now refuses the request before any call, saying to call it once."""
    from govshare_client.pb.foundation.v1 import foundation_pb2

    calls: list[object] = []

    def method(request: object, timeout: float | None = None) -> object:
        calls.append(request)
        return foundation_pb2.ListDatasetsResponse()

    async def async_method(request: object, timeout: float | None = None) -> object:  # noqa: ASYNC109 (the gRPC deadline)
        return method(request, timeout)

    with pytest.raises(TypeError, match=r"ListDatasetsRequest has no page_token: .* call the method once"):
        list(pages(method, foundation_pb2.ListDatasetsRequest()))  # type: ignore[type-var]
    with pytest.raises(TypeError, match="does not page"):
        [page async for page in async_pages(async_method, foundation_pb2.ListDatasetsRequest())]  # type: ignore[type-var]
    assert calls == []
    assert len(list(pages(lambda r, timeout=None: catalog_pb2.ListEntriesResponse(),  # a paged listing still pages
                          catalog_pb2.ListEntriesRequest()))) == 1
