"""Raw-bytes forwarding: every public call, authenticated and limited, relayed to its backend unparsed.

The gateway is on every call, so the work per call is a handful of dict lookups:
the request and reply stay bytes (no deserializer on either side), the handler of
each method and the callable of its backend channel are built once, a token's
verification and a caller's signed assertion are cached, and nothing is logged.

Replies come back as the backend sent them: the status code, the message, the
trailing metadata (with ``grpc-status-details-bin``, so ErrorInfo and BadRequest
reach the client intact) and the initial metadata.

Trace context: the runtime's server makes the gateway's span (a child of the
client's ``traceparent``) current for the handler, and the handler puts it in the
outgoing metadata (services.runtime.clients.call_metadata), so the backend's span
is its child in the same trace. The client's own ``traceparent``/``tracestate`` are
replaced by the gateway's; other entries (``baggage`` among them) pass unchanged.
The backend channels carry no OpenTelemetry client interceptor: a client span
per call would only repeat the server span, and grpc.aio runs interceptors in a
task of their own per call, whose cancellation does not reach the RPC — a client
that gave up would leave the backend working until the deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, NoReturn

import grpc

from gateway.authentication import ANONYMOUS, DROPPED_KEYS, Authenticator, inbound
from gateway.limits import RateLimiter
from gateway.routing import Backend, Route, RoutingTable, split_method
from services.runtime.clients import TRACE_KEYS, call_metadata
from services.runtime.errors import ServiceError, to_status
from services.runtime.identity import AssertionSigner

#: A server-streaming call with no client deadline (a batch download) may run this long.
STREAM_TIMEOUT_SECONDS = 3600.0
_COMPONENT = "gateway"


def _not_connected(*_args: object, **_kwargs: object) -> NoReturn:
    raise ServiceError(grpc.StatusCode.UNAVAILABLE, "GATEWAY_STARTING",
                       "the gateway is not connected to its backends yet; retry shortly")


def _not_deployed(*_args: object, **_kwargs: object) -> NoReturn:
    raise ServiceError(grpc.StatusCode.UNAVAILABLE, "SERVICE_NOT_DEPLOYED",
                       "this service is not deployed behind this gateway")


class _Endpoint:
    """One public method: its route and, once connected, the raw-bytes callable on its backend channel."""

    __slots__ = ("call", "route")

    def __init__(self, route: Route) -> None:
        self.route = route
        self.call: Callable[..., Any] = _not_connected


class Proxy(grpc.GenericRpcHandler):
    """Method handlers for every public method, and a refusal for anything else."""

    def __init__(self, table: RoutingTable, authenticator: Authenticator, limiter: RateLimiter,
                 signer: AssertionSigner, call_timeout: float,
                 stream_timeout: float = STREAM_TIMEOUT_SECONDS) -> None:
        self._table = table
        self._authenticator = authenticator
        self._limiter = limiter
        self._signer = signer
        self._call_timeout = call_timeout
        self._stream_timeout = max(stream_timeout, call_timeout)
        # The client's own trace headers are replaced by the gateway's, never sent twice.
        self._dropped = DROPPED_KEYS | TRACE_KEYS
        self._endpoints = {route.method: _Endpoint(route) for route in table}
        self._handlers = {method: self._handler(endpoint) for method, endpoint in self._endpoints.items()}

    # -- wiring ---------------------------------------------------------------------------------------------

    def method_handlers(self) -> dict[str, dict[str, grpc.RpcMethodHandler]]:
        """Handlers by service and method name, for ``server.add_registered_method_handlers``."""
        by_service: dict[str, dict[str, grpc.RpcMethodHandler]] = {}
        for method, endpoint in self._endpoints.items():
            by_service.setdefault(endpoint.route.service, {})[endpoint.route.name] = self._handlers[method]
        return by_service

    def connect(self, channels: Mapping[Backend, grpc.aio.Channel]) -> None:
        """Binds every method to its backend's channel (one raw-bytes callable per method, made once)."""
        for method, endpoint in self._endpoints.items():
            channel = channels.get(endpoint.route.backend)
            if channel is None:  # an optional backend this gateway was not given
                endpoint.call = _not_deployed
                continue
            open_call = channel.unary_stream if endpoint.route.server_streaming else channel.unary_unary
            endpoint.call = open_call(method, request_serializer=None, response_deserializer=None,
                                      _registered_method=True)

    def disconnect(self) -> None:
        for endpoint in self._endpoints.values():
            endpoint.call = _not_connected

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        """The handler for a method path; anything not public is refused with UNIMPLEMENTED saying why."""
        method = handler_call_details.method  # type: ignore[attr-defined]
        handler = self._handlers.get(method)
        if handler is not None:
            return handler
        if split_method(method) is None:
            return None  # not a /service/method path: gRPC answers UNIMPLEMENTED itself
        return _refusal(to_status(self._table.refusal(method), _COMPONENT))

    # -- the hot path ---------------------------------------------------------------------------------------

    async def _open(self, endpoint: _Endpoint, request: bytes, context: grpc.aio.ServicerContext,
                    default_timeout: float) -> Any:
        """Authenticates and rate-limits the call, then starts it on the backend (under the client's deadline,
        else ``default_timeout``) with the signed caller, the client's other entries and trace context."""
        route = endpoint.route
        authorization, forwarded = inbound(context.invocation_metadata(), self._dropped)
        if route.anonymous:
            caller = ANONYMOUS
            key = f"anonymous@{context.peer().rpartition(':')[0]}"
        else:
            caller = self._authenticator.caller(authorization)
            key = caller.system_id
        wait = self._limiter.acquire(key)
        if wait:
            await context.abort_with_status(self._limiter.exhausted(key, wait))
        remaining = context.time_remaining()
        return endpoint.call(request, metadata=(*call_metadata(self._signer, caller), *forwarded),
                             timeout=default_timeout if remaining is None else remaining)

    def _handler(self, endpoint: _Endpoint) -> grpc.RpcMethodHandler:
        if endpoint.route.server_streaming:
            return grpc.unary_stream_rpc_method_handler(self._streaming(endpoint))
        return grpc.unary_unary_rpc_method_handler(self._unary(endpoint))

    def _unary(self, endpoint: _Endpoint) -> Callable[[bytes, grpc.aio.ServicerContext], Any]:
        route = endpoint.route
        open_call = self._open
        default_timeout = self._call_timeout

        async def forward(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            call = await open_call(endpoint, request, context, default_timeout)
            try:
                response = await call
            except grpc.aio.AioRpcError as error:
                await _relay_failure(route, context, error)
            except asyncio.CancelledError:
                call.cancel()  # the client went away: so does the backend call
                raise
            await _relay_metadata(call, context)
            return response

        return forward

    def _streaming(self, endpoint: _Endpoint) -> Callable[[bytes, grpc.aio.ServicerContext], AsyncIterator[bytes]]:
        route = endpoint.route
        open_call = self._open
        default_timeout = self._stream_timeout

        async def forward(request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
            call = await open_call(endpoint, request, context, default_timeout)
            try:
                initial = await call.initial_metadata()
                if initial:
                    await context.send_initial_metadata(tuple(initial))
                async for message in call:
                    yield message
                trailing = await call.trailing_metadata()
            except grpc.aio.AioRpcError as error:
                await _relay_failure(route, context, error)
            finally:
                call.cancel()  # a no-op once the call ended; stops the backend if the client went away
            if trailing:
                context.set_trailing_metadata(tuple(trailing))

        return forward


async def _relay_metadata(call: grpc.aio.UnaryUnaryCall, context: grpc.aio.ServicerContext) -> None:
    """Passes on whatever metadata the backend sent with a successful reply (usually none)."""
    initial = await call.initial_metadata()
    if initial:
        await context.send_initial_metadata(tuple(initial))
    trailing = await call.trailing_metadata()
    if trailing:
        context.set_trailing_metadata(tuple(trailing))


async def _relay_failure(route: Route, context: grpc.aio.ServicerContext, error: grpc.aio.AioRpcError) -> NoReturn:
    """Ends the call with the backend's own status, so its rich details are not re-wrapped.

    A bare UNAVAILABLE (no rich details) comes from the channel, not from a govshare service, and its
    message names internal addresses: the client gets a plain statement of which service is down instead.
    """
    trailing = tuple(error.trailing_metadata() or ())
    if error.code() == grpc.StatusCode.UNAVAILABLE and not trailing:
        raise ServiceError(grpc.StatusCode.UNAVAILABLE, "BACKEND_UNAVAILABLE",
                           f"the {route.backend} service is unavailable; retry with backoff") from None
    await context.abort(error.code(), error.details() or "", trailing)
    raise AssertionError("unreachable: abort raises")


def _refusal(status: grpc.Status) -> grpc.RpcMethodHandler:
    """A handler that ends any call, whatever its cardinality, with ``status``."""

    async def refuse(requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        await context.abort_with_status(status)
        yield b""  # never reached: the yield makes this the async generator a stream handler must be

    return grpc.stream_stream_rpc_method_handler(refuse)
