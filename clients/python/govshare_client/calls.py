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
from typing import Any, Protocol, TypeVar

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


class UnaryUnary(Protocol[Request, Response]):
    """A blocking call with one request and one response (``grpc.UnaryUnaryMultiCallable``)."""

    def __call__(self, request: Request, timeout: float | None = None, metadata: Metadata | None = None,
                 credentials: Any = None, wait_for_ready: bool | None = None,
                 compression: Any = None) -> Response: ...

    def with_call(self, request: Request, timeout: float | None = None, metadata: Metadata | None = None,
                  credentials: Any = None, wait_for_ready: bool | None = None,
                  compression: Any = None) -> tuple[Response, Any]: ...

    def future(self, request: Request, timeout: float | None = None, metadata: Metadata | None = None,
               credentials: Any = None, wait_for_ready: bool | None = None,
               compression: Any = None) -> Future[Response]: ...


class Stream(Protocol[Answer]):
    """The responses of a server-streaming call, read by iterating; ``cancel()`` stops it."""

    def __iter__(self) -> Iterator[Answer]: ...
    def __next__(self) -> Answer: ...
    def cancel(self) -> bool: ...


class UnaryStream(Protocol[Request, Response]):
    """A blocking call with one request and a stream of responses (``grpc.UnaryStreamMultiCallable``)."""

    def __call__(self, request: Request, timeout: float | None = None, metadata: Metadata | None = None,
                 credentials: Any = None, wait_for_ready: bool | None = None,
                 compression: Any = None) -> Stream[Response]: ...


class AsyncCall(Protocol[Answer]):
    """A ``grpc.aio.UnaryUnaryCall``: awaited, its response."""

    def __await__(self) -> Generator[Any, None, Answer]: ...
    def cancel(self) -> bool: ...


class AsyncUnaryUnary(Protocol[Request, Response]):
    """The asyncio call with one request and one response (``grpc.aio.UnaryUnaryMultiCallable``)."""

    def __call__(self, request: Request, *, timeout: float | None = None, metadata: Metadata | None = None,
                 credentials: Any = None, wait_for_ready: bool | None = None,
                 compression: Any = None) -> AsyncCall[Response]: ...


class AsyncStream(Protocol[Answer]):
    """A ``grpc.aio.UnaryStreamCall``: its responses by ``async for``."""

    def __aiter__(self) -> AsyncIterator[Answer]: ...
    def cancel(self) -> bool: ...


class AsyncUnaryStream(Protocol[Request, Response]):
    """The asyncio call with one request and a stream of responses (``grpc.aio.UnaryStreamMultiCallable``)."""

    def __call__(self, request: Request, *, timeout: float | None = None, metadata: Metadata | None = None,
                 credentials: Any = None, wait_for_ready: bool | None = None,
                 compression: Any = None) -> AsyncStream[Response]: ...
