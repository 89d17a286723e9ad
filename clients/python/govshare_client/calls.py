"""The types of a raw stub's methods, which the stubs' generated ``*_pb2_grpc.pyi`` name.

grpcio ships no types, so the stubs protoc writes were untyped: ``client.stub(CatalogServiceStub).GetEntry(req)``
was ``Any`` to mypy and pyright, a misspelt field of its answer passed the checker and failed at run time, and
an editor offered no completion. Each method of a stub is now one of these, with its request and response
messages: ``UnaryUnary[GetEntryRequest, GetEntryResponse]``. The ``…AsyncStub`` twin of every stub (the same
class at run time) types the calls of :class:`govshare_client.AsyncClient`, whose methods answer awaitables.
Only for type checkers: nothing here runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Generator, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    import grpc

Request = TypeVar("Request", contravariant=True)
Response = TypeVar("Response", covariant=True)
Answer = TypeVar("Answer", covariant=True)
Metadata = Sequence[tuple[str, str | bytes]]


class Future(Protocol[Answer]):
    """What ``future()`` answers (a ``grpc.Future``): the call going on in the background."""

    def result(self, timeout: float | None = None) -> Answer: ...
    def exception(self, timeout: float | None = None) -> BaseException | None: ...
    def done(self) -> bool: ...
    def cancel(self) -> bool: ...
    def cancelled(self) -> bool: ...
    def running(self) -> bool: ...
    def add_done_callback(self, fn: Callable[[Any], None]) -> None: ...


class Call(Protocol):
    """What a finished or running call tells besides its answer (``grpc.Call``): its status and its headers.

    The platform names a call's access record in a header (``x-govshare-audit-id``, an export's before its first
    row); these were missing from the types, so a checker refused ``stream.initial_metadata()`` or
    ``stream.code()``, which docs/api.md tells a raw stub's caller to use and which work at run time.
    """

    def code(self) -> grpc.StatusCode: ...
    def details(self) -> str: ...
    def initial_metadata(self) -> Metadata: ...
    def trailing_metadata(self) -> Metadata: ...
    def is_active(self) -> bool: ...
    def time_remaining(self) -> float | None: ...


class UnaryUnary(Protocol[Request, Response]):
    """A blocking call with one request and one response (``grpc.UnaryUnaryMultiCallable``)."""

    def __call__(self, request: Request, timeout: float | None = None, metadata: Metadata | None = None,
                 credentials: Any = None, wait_for_ready: bool | None = None,
                 compression: Any = None) -> Response: ...

    def with_call(self, request: Request, timeout: float | None = None, metadata: Metadata | None = None,
                  credentials: Any = None, wait_for_ready: bool | None = None,
                  compression: Any = None) -> tuple[Response, Call]: ...

    def future(self, request: Request, timeout: float | None = None, metadata: Metadata | None = None,
               credentials: Any = None, wait_for_ready: bool | None = None,
               compression: Any = None) -> Future[Response]: ...


class Stream(Call, Protocol[Answer]):
    """The responses of a server-streaming call, read by iterating; ``cancel()`` stops it; its status and headers
    as any call's."""

    def __iter__(self) -> Iterator[Answer]: ...
    def __next__(self) -> Answer: ...
    def cancel(self) -> bool: ...


class UnaryStream(Protocol[Request, Response]):
    """A blocking call with one request and a stream of responses (``grpc.UnaryStreamMultiCallable``)."""

    def __call__(self, request: Request, timeout: float | None = None, metadata: Metadata | None = None,
                 credentials: Any = None, wait_for_ready: bool | None = None,
                 compression: Any = None) -> Stream[Response]: ...


class AsyncCallInfo(Protocol):
    """What a ``grpc.aio`` call tells besides its answer, each awaited: its status and its headers (see
    :class:`Call`)."""

    async def code(self) -> grpc.StatusCode: ...
    async def details(self) -> str: ...
    async def initial_metadata(self) -> grpc.aio.Metadata: ...
    async def trailing_metadata(self) -> grpc.aio.Metadata: ...
    def cancel(self) -> bool: ...


class AsyncCall(AsyncCallInfo, Protocol[Answer]):
    """A ``grpc.aio.UnaryUnaryCall``: awaited, its response."""

    def __await__(self) -> Generator[Any, None, Answer]: ...


class AsyncUnaryUnary(Protocol[Request, Response]):
    """The asyncio call with one request and one response (``grpc.aio.UnaryUnaryMultiCallable``)."""

    def __call__(self, request: Request, *, timeout: float | None = None, metadata: Metadata | None = None,
                 credentials: Any = None, wait_for_ready: bool | None = None,
                 compression: Any = None) -> AsyncCall[Response]: ...


class AsyncStream(AsyncCallInfo, Protocol[Answer]):
    """A ``grpc.aio.UnaryStreamCall``: its responses by ``async for``."""

    def __aiter__(self) -> AsyncIterator[Answer]: ...


class AsyncUnaryStream(Protocol[Request, Response]):
    """The asyncio call with one request and a stream of responses (``grpc.aio.UnaryStreamMultiCallable``)."""

    def __call__(self, request: Request, *, timeout: float | None = None, metadata: Metadata | None = None,
                 credentials: Any = None, wait_for_ready: bool | None = None,
                 compression: Any = None) -> AsyncStream[Response]: ...
