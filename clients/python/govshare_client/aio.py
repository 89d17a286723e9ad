"""The asyncio client: the same calls, rules and errors as :class:`govshare_client.Client`, for grpc.aio.

    async with AsyncClient() as client:
        answer = await client.query("102001/000001", key, purpose="work_reference")
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import grpc

from govshare_client import _requests as build
from govshare_client._tokens import AsyncTokenSource
from govshare_client.client import (
    CLIENT_CLOSED,
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_TIMEOUT,
    DEFAULT_TIMEOUTS,
    EXPORT_METHOD,
    RENEW,
    Attempts,
    HeldStream,
    RetryPolicy,
    call_timeout,
    channel_options,
    closed_while_read,
    connection_settings,
    idle_expired,
    not_to_be_pickled,
    refuse_if_closed,
    refused_twice,
    renews_export,
    stream_deadline,
    stream_failure,
    stream_timeout,
    time_left,
    token_budget,
)
from govshare_client.errors import GovshareError, Unauthenticated, Unavailable, error_from_status, from_rpc_error
from govshare_client.pb.query.v1 import query_pb2, query_pb2_grpc
from govshare_client.results import (
    BatchQueryResult,
    ExportRow,
    ExportSummary,
    Purpose,
    QueryResult,
    VerifyResult,
)

Stub = TypeVar("Stub")


def _details(details: grpc.aio.ClientCallDetails, token: str, timeout: float | None) -> grpc.aio.ClientCallDetails:
    metadata = grpc.aio.Metadata(*[(k, v) for k, v in (details.metadata or ()) if k != "authorization"])
    if token:  # none for IssueToken itself
        metadata.add("authorization", f"Bearer {token}")
    return grpc.aio.ClientCallDetails(details.method, timeout, metadata, details.credentials, details.wait_for_ready)


def _method_name(details: grpc.aio.ClientCallDetails) -> str:
    method = details.method
    return method.decode() if isinstance(method, bytes) else method


class _Interceptor(grpc.aio.UnaryUnaryClientInterceptor):
    def __init__(self, timeout: float, timeouts: Mapping[str, float], retry: RetryPolicy,
                 sleep: Callable[[float], Any], rng: random.Random, idle_timeout: float | None) -> None:
        self.tokens: AsyncTokenSource | None = None
        self.idle_timeout = idle_timeout
        self.closed = False  # set by AsyncClient.close(): every later call is refused before gRPC is asked
        self.timeout, self.timeouts, self._retry, self._sleep, self._rng = timeout, dict(timeouts), retry, sleep, rng

    async def intercept_unary_unary(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        refuse_if_closed(self.closed, "AsyncClient")
        method = _method_name(client_call_details)
        build.metadata_of(client_call_details.metadata)
        request = build.with_request_id(build.message_of(request, method))
        if self.tokens is None:  # (only while the AsyncClient is being made)
            return await continuation(client_call_details, request)
        attempts = Attempts(method, call_timeout(method, client_call_details.timeout, self.timeout, self.timeouts),
                            self._retry, self._rng, request)
        while True:
            remaining = attempts.start()
            try:
                token = "" if attempts.tokenless else await self.tokens.token(remaining)
                call = await continuation(_details(client_call_details, token, attempts.left()), request)
                code = await call.code()
                error = None if code == grpc.StatusCode.OK else error_from_status(
                    code, await call.details() or "", await call.trailing_metadata())
            except Unavailable as unavailable:
                token, error = "", unavailable
            except Unauthenticated as refused:
                raise attempts.issuance_refused(refused) from None
            except asyncio.CancelledError:
                if not self.closed:  # (grpc.aio cancels this interceptor's own task when the channel closes)
                    raise
                raise cancelled_call("before it was answered") from None
            if error is None:
                return call
            step = attempts.after(error, token)
            if step is None:
                raise error
            if step == RENEW:
                self.tokens.invalidate(token)
            else:
                await self._pause(float(step))

    async def _pause(self, seconds: float) -> None:
        """The pause before a call's next attempt. The AsyncClient closed meanwhile, the call ends CANCELLED as one
        under way does: grpc.aio cancels this interceptor's task, and the asyncio.CancelledError of the pause reached
        the caller as if its own task had been cancelled (or, the pause over, the next attempt met a closed channel)."""
        try:
            await self._sleep(seconds)
        except asyncio.CancelledError:
            if not self.closed:
                raise
            raise cancelled_call("before it was answered") from None
        if self.closed:
            raise cancelled_call("before it was answered")


def _cancelled_elsewhere() -> bool:
    """Whether a call's wait ended in asyncio.CancelledError because the call was cancelled (``cancel()``, an
    export's ``aclose()`` or the AsyncClient's ``close()`` from another task), not the waiting task. grpc.aio raises
    CancelledError in the waiter either way, which ended the waiting task as if it had been cancelled itself, where
    the sync client raises a CANCELLED error the caller can handle."""
    task = asyncio.current_task()
    return task is None or not task.cancelling()


def cancelled_call(when: str) -> GovshareError:
    """The error of a call another task cancelled (``when``: where the call was)."""
    return GovshareError(grpc.StatusCode.CANCELLED, f"govshare client: the call was cancelled (its cancel(), or its "
                                                    f"AsyncClient's close()) {when}")


async def _typed(call: Any, idle_timeout: float | None, refused: Callable[[], None]) -> AsyncIterator[Any]:
    """A stream's responses, its failure (before its first message or on the way) raised as the GovshareError a
    unary call raises, not as gRPC's raw AioRpcError (grpc.aio keeps the call's other methods, ``code()``,
    ``cancel()``…, the stream's own). A wait of ``idle_timeout`` for the next message cancels the stream and
    raises DeadlineExceeded (a stalled platform held the reader for ever). A refused token is forgotten
    (``refused()``: see :func:`govshare_client.client.stream_failure`)."""
    while True:
        try:
            response = await asyncio.wait_for(call.read(), idle_timeout)
        except TimeoutError:
            call.cancel()
            raise idle_expired(idle_timeout or 0.0) from None
        except grpc.RpcError as error:
            raise stream_failure(from_rpc_error(error), refused) from None
        except asyncio.CancelledError:
            if not _cancelled_elsewhere():
                raise
            raise cancelled_call("while its stream was being read") from None
        if response is grpc.aio.EOF:
            return
        yield response


class _OwnLoopStub:
    """A raw stub whose every call is refused from another event loop than its AsyncClient's, saying so
    (:func:`_require_own_loop`). :meth:`AsyncClient.stub` checked only when the stub was asked for: a business
    system keeping the stub it got (a fixture, a module global) and calling it under a later ``asyncio.run`` met
    asyncio's "Event loop is closed" or "… attached to a different loop", and an ``InterceptedCall.__del__``
    AttributeError on stderr, naming neither the client nor what to do. Everything else is the stub's own."""

    def __init__(self, stub: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._stub, self._loop = stub, loop

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._stub, name)
        if not callable(method):
            return method
        loop = self._loop

        def call(*args: Any, **kwargs: Any) -> Any:
            _require_own_loop(loop)
            return method(*args, **kwargs)

        call.__name__, call.__doc__ = name, method.__doc__
        setattr(self, name, call)  # made once per method: the next call finds it without __getattr__
        return call

    def __repr__(self) -> str:
        return repr(self._stub)


class _StreamInterceptor(grpc.aio.UnaryStreamClientInterceptor):
    """Token only (see the sync client): streams are not retried; a failure met while iterating is raised as the
    GovshareError a unary call raises. A separate object, because a grpc.aio channel files each interceptor under
    the first call kind it implements."""

    def __init__(self, unary: _Interceptor) -> None:
        self._unary = unary

    async def intercept_unary_stream(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        assert self._unary.tokens is not None
        refuse_if_closed(self._unary.closed, "AsyncClient")
        method = _method_name(client_call_details)
        build.metadata_of(client_call_details.metadata)
        build.message_of(request, method)
        deadline = stream_deadline(stream_timeout(method, client_call_details.timeout, self._unary.timeouts))
        token = await self._unary.tokens.token(token_budget(deadline, self._unary.timeout))
        tokens = self._unary.tokens
        return _typed(await continuation(_details(client_call_details, token, time_left(deadline)), request),
                      self._unary.idle_timeout, lambda: tokens.invalidate(token))


def _require_running_loop() -> None:
    """grpc.aio binds a channel to the event loop running when it is made (or to a default one outside any):
    an AsyncClient made at import time and used under ``asyncio.run`` failed its first call with "got Future
    attached to a different loop". Made outside a running loop, it is refused here, saying where to make it."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError("make the AsyncClient inside the event loop that uses it, in a coroutine (`async with "
                           "AsyncClient() as client:`, or your framework's startup hook): its gRPC channel belongs to "
                           "the loop running when it is made; outside asyncio, use govshare_client.Client") from None


def _require_own_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Refuses a call from another event loop than ``loop``, the one the AsyncClient was made in, saying so.

    A client kept from one ``asyncio.run`` (a test's, a script's first step) and called under the next failed with
    asyncio's "Event loop is closed", and one shared between two threads' loops with "Task … got Future … attached
    to a different loop": words naming neither the client nor what to do. Outside any running loop there is nothing
    to compare (a stub fetched at setup), and grpc.aio's own error stands."""
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        return
    if running is not loop:
        ended = "has ended (an earlier asyncio.run?)" if loop.is_closed() else "is another one than this call's"
        raise RuntimeError(f"this AsyncClient belongs to the event loop it was made in, which {ended}: make one "
                           "AsyncClient in each event loop that calls the platform (its gRPC channel belongs to "
                           "its loop), or share one govshare_client.Client between threads")


class AsyncExport(ExportSummary, AsyncIterator[ExportRow]):
    """The rows of :meth:`AsyncClient.export` (``async for row in client.export(…)``); once they are read, what
    the export said of itself (``complete``, ``row_count``, ``skipped_count``, ``audit_id``: see
    :class:`govshare_client.results.ExportSummary`). ``await aclose()`` stops reading, its stream cancelled; from
    another task than the reader's too, whose wait then ends with a GovshareError ``CANCELLED``."""

    def __init__(self, rows: Callable[[AsyncExport], AsyncGenerator[ExportRow, None]]) -> None:
        """``rows(self)`` reads the stream, filling in this summary as it goes and holding it in ``_held``."""
        self._held = HeldStream()
        self._rows = rows(self)
        self._reader: asyncio.Task[Any] | None = None  # the task that last asked for a row

    def __aiter__(self) -> AsyncExport:
        return self

    async def __anext__(self) -> ExportRow:
        self._reader = asyncio.current_task()
        return await anext(self._rows)

    async def aclose(self) -> None:
        """Stops the export where it is (its stream cancelled), as leaving an ``async with`` block does. From
        another task than the reader's, closing the generator was RuntimeError 'aclose(): asynchronous generator is
        already running' and the reader went on waiting: the stream is cancelled instead, ending its wait, and the
        generator left to the reader, whose next row is the CANCELLED error."""
        self._held.close()
        if self._reader not in (None, asyncio.current_task()):  # another task reads it: its next row is the error
            return
        if not getattr(self._rows, "ag_running", False):
            await self._rows.aclose()

    async def __aenter__(self) -> AsyncExport:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class AsyncClient:
    """The asyncio variant of :class:`govshare_client.Client` (same arguments and environment variables)."""

    def __init__(self, endpoint: str | None = None, system_id: str | None = None, secret: str | bytes | None = None,
                 *, root_certificates: bytes | None = None, plaintext: bool | None = None,
                 timeout: float = DEFAULT_TIMEOUT, timeouts: Mapping[str, float] = DEFAULT_TIMEOUTS,
                 retry: RetryPolicy | None = None, options: Iterable[tuple[str, Any]] = (),
                 sleep: Callable[[float], Any] = asyncio.sleep,
                 idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT) -> None:
        endpoint, system_id, secret, credentials = connection_settings(endpoint, system_id, secret,
                                                                       root_certificates, plaintext)
        timeout, timeouts = build.timeout_of(timeout), build.timeouts_of(timeouts, DEFAULT_TIMEOUTS)
        idle = build.timeout_of(idle_timeout, "idle_timeout")
        _require_running_loop()
        self._loop = asyncio.get_running_loop()
        interceptor = _Interceptor(timeout, timeouts, retry or RetryPolicy(), sleep, random.Random(), idle)
        self._interceptor = interceptor
        interceptors = [interceptor, _StreamInterceptor(interceptor)]
        options = channel_options(options)
        if credentials is None:
            self.channel = grpc.aio.insecure_channel(endpoint, options=options, interceptors=interceptors)
        else:
            self.channel = grpc.aio.secure_channel(endpoint, credentials, options=options,
                                                   interceptors=interceptors)
        interceptor.tokens = self._tokens = AsyncTokenSource(self.channel, system_id, secret)
        self._timeout, self._timeouts = timeout, timeouts
        self._stubs: dict[Any, Any] = {}

    def stub(self, stub_class: Callable[[grpc.aio.Channel], Stub]) -> Stub:
        """A raw stub whose calls carry the token, the default deadline and the retries, and raise GovshareError.

        Give the stub's ``…AsyncStub`` name (``catalog_pb2_grpc.CatalogServiceAsyncStub``): the same class as
        ``…Stub``, typed for asyncio, so a type checker knows ``await stub.GetEntry(request)`` is a
        ``GetEntryResponse``; under the ``…Stub`` name it takes the calls for blocking ones."""
        refuse_if_closed(self._interceptor.closed, "AsyncClient")  # a stub made on a closed channel hung for ever
        _require_own_loop(self._loop)
        if stub_class not in self._stubs:
            self._stubs[stub_class] = _OwnLoopStub(stub_class(self.channel), self._loop)
        return self._stubs[stub_class]  # type: ignore[no-any-return]

    async def query(self, resource_code: str, key: str, items: Sequence[str] | None = None, *,
                    purpose: Purpose | str, purpose_text: str = "",
                    timeout: float | None = None) -> QueryResult:  # noqa: ASYNC109 (the gRPC deadline)
        """One record's granted items (all of them when ``items`` is None), as :meth:`govshare_client.Client.query`."""
        request = build.query_request(resource_code, key, items, purpose, purpose_text)
        stub = self.stub(query_pb2_grpc.QueryServiceAsyncStub)
        return QueryResult.from_proto(await stub.Query(request, timeout=timeout))

    async def batch_query(self, resource_code: str, keys: Sequence[str], items: Sequence[str] | None = None, *,
                          purpose: Purpose | str, purpose_text: str = "",
                          timeout: float | None = None) -> BatchQueryResult:  # noqa: ASYNC109 (the gRPC deadline)
        """Up to 1000 keys in one call, each answered on its own, as :meth:`govshare_client.Client.batch_query`."""
        request = build.batch_query_request(resource_code, keys, items, purpose, purpose_text)
        stub = self.stub(query_pb2_grpc.QueryServiceAsyncStub)
        return BatchQueryResult.from_proto(await stub.BatchQuery(request, timeout=timeout))

    async def verify(self, resource_code: str, key: str, claims: Mapping[str, str], *,
                     purpose: Purpose | str = Purpose.DATA_VERIFICATION, purpose_text: str = "",
                     timeout: float | None = None) -> VerifyResult:  # noqa: ASYNC109 (the gRPC deadline)
        """Whether each claimed value matches the record (核验), as :meth:`govshare_client.Client.verify`."""
        request = build.verify_request(resource_code, key, claims, purpose, purpose_text)
        stub = self.stub(query_pb2_grpc.QueryServiceAsyncStub)
        return VerifyResult.from_proto(await stub.Verify(request, timeout=timeout))

    def export(self, resource_code: str, items: Sequence[str] | None = None, *, purpose: Purpose | str,
               purpose_text: str = "", timeout: float | None = None) -> AsyncExport:
        """As :meth:`govshare_client.Client.export`, as an async iterator (``async for row in client.export(…)``)
        saying, once read, whether the export was whole (:class:`govshare_client.results.ExportSummary`);
        arguments that cannot mean anything raise at the call."""
        request = build.export_request(resource_code, items, purpose, purpose_text)
        timeout = stream_timeout(EXPORT_METHOD, timeout, self._timeouts)
        return AsyncExport(lambda summary: self._rows(request, timeout, summary))

    async def _rows(self, request: query_pb2.ExportRequest, timeout: float | None,  # noqa: ASYNC109 (the gRPC deadline)
                    summary: AsyncExport) -> AsyncGenerator[ExportRow, None]:
        """As the sync client's: the closing message and headers read into ``summary``; refused at
        authentication before its first page, repeated once with a new token (the refused one was kept, and
        every later export failed UNAUTHENTICATED too)."""
        refuse_if_closed(self._interceptor.closed, "AsyncClient")
        stub = self.stub(query_pb2_grpc.QueryServiceAsyncStub)
        refused: GovshareError | None = None
        deadline = stream_deadline(timeout)  # the token's wait and a repeat with a new one count against it
        while True:
            started = False
            try:
                token = await self._tokens.token(token_budget(deadline, self._timeout))  # the one the interceptor sends
            except Unauthenticated as issuance:  # TokenService refused the secret this client holds
                raise issuance if refused is None else refused_twice(refused, issuance) from None
            stream = stub.Export(request, timeout=time_left(deadline))
            summary._held.hold(stream)
            try:
                async for page in stream:
                    if not started:
                        started = True
                        summary._read_headers(await stream.initial_metadata())
                    summary._read(page)
                    for row in page.rows:
                        if summary._held.closed:  # by another thread or task: not the rest of the page either
                            raise closed_while_read(summary, "aclose()")
                        yield ExportRow.from_proto(row)
                return
            except grpc.RpcError as error:
                if summary._held.closed or self._interceptor.closed:
                    raise closed_while_read(summary, "aclose()" if summary._held.closed else CLIENT_CLOSED) from None
                failure = summary._named(from_rpc_error(error))
            finally:  # a caller who stopped reading (aclose(), a break) ends the stream now
                stream.cancel()
            if not renews_export(failure, started, refused):
                raise failure from None
            self._tokens.invalidate(token)
            refused = failure

    def __reduce__(self) -> str | tuple[Any, ...]:
        """Refused, saying why (:func:`govshare_client.client.not_to_be_pickled`)."""
        raise not_to_be_pickled("an AsyncClient")

    async def close(self) -> None:
        """Closes the connection: calls still under way end CANCELLED, and later calls raise ValueError."""
        self._interceptor.closed = True
        await self.channel.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


__all__ = ["AsyncClient", "GovshareError"]
