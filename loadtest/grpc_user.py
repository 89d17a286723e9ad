"""gRPC users for Locust, in the pattern Locust documents for gRPC.

grpc is patched to cooperate with gevent (``grpc.experimental.gevent.init_gevent``,
before any channel exists), each user owns one channel, and a client
interceptor reports every call to Locust through ``environment.events.request``
— its response time, its response size, and, when it did not end as expected,
a failure named by its gRPC status (with the ErrorInfo reason, e.g.
``PERMISSION_DENIED NOT_SHARED``, the HTTP status that came instead of a
gRPC one, e.g. ``UNAVAILABLE HTTP 429``, or ``UNAVAILABLE no connection`` when
no server was reached), so Locust's failure table counts calls by status; an
answered call whose reply is not what its keys call for (a batch's keys not
found, a verification's wrong outcome) is a failure ``WRONG_ANSWER``.
The response times are those of the calls that ended as expected (and of calls
that ran out their deadline): a failed call's time is left out
(``TIMED_FAILURES``), so fast refusals cannot pull the percentiles down. A call
still in flight when its user is killed (the end of a run whose stop timeout is
over) is a failure too, ``NOT_ANSWERED``.

Calls carry their statistics name, the status they expect, what their reply must
hold and the time they were due in ``x-loadtest-*`` metadata entries that the
interceptor reads and removes before the call leaves the process.
"""

from __future__ import annotations

import collections
import re
import time
from collections.abc import Callable
from typing import Any

import grpc
import grpc.experimental.gevent as grpc_gevent
from gevent import GreenletExit
from google.protobuf.message import DecodeError, Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status
from locust import User
from locust.env import Environment
from locust.exception import StopTest

from loadtest.call_labels import (
    ANSWER_HEADER,
    DUE_HEADER,
    EXPECT_HEADER,
    NAME_HEADER,
    NOT_ANSWERED,
    CallNotAnswered,
    GrpcStatusFailure,
    WrongAnswer,
    answer_problem,
    as_expected,
    grpc_target,
    root_certificates,
    split_labels,
    uses_tls,
)

__all__ = ["ANSWER_HEADER", "DUE_HEADER", "EXPECT_HEADER", "NAME_HEADER", "GrpcUser", "LocustInterceptor"]

# Patch grpc so that blocking calls yield to other greenlets instead of blocking the process.
grpc_gevent.init_gevent()


class _CallDetails(collections.namedtuple(
        "_CallDetails", ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression")),
        grpc.ClientCallDetails):
    pass


def rich_status(call: Any) -> status_pb2.Status | None:
    """The google.rpc.Status a failed call carried, if any and if readable. grpc_status raises ValueError when its code
    or message is not the call's (a proxy on the way that rewrote grpc-message, or answered for the platform), and a
    DecodeError when it is no Status: the interceptor and the user then raised too, and the call was reported as a
    user's exception, not as a failed call with its status. Such a call is known by its status code alone."""
    try:
        return rpc_status.from_call(call)  # type: ignore[no-any-return]
    except (ValueError, DecodeError):
        return None


def _detail(status: status_pb2.Status | None, kind: type[Message]) -> Any:
    """The first detail of type ``kind`` a status carries, or None."""
    for detail in status.details if status is not None else ():
        if detail.Is(kind.DESCRIPTOR):
            found = kind()
            detail.Unpack(found)
            return found
    return None


#: How gRPC words a reply that carried an HTTP status and no gRPC one: something other than the platform answered
#: (a load balancer, a WAF, a proxy before the gateway, another server), and gRPC made up a code from the HTTP status
#: (429, 502, 503, 504: UNAVAILABLE; 401: UNAUTHENTICATED; 403: PERMISSION_DENIED; 404: UNIMPLEMENTED; others: UNKNOWN).
_HTTP_STATUS = re.compile(r"Received http2 header with status: (\d{3})")


def http_status_of(call: Any) -> int | None:
    """The HTTP status a failed call was answered with instead of a gRPC status, or None (the platform's answer)."""
    match = _HTTP_STATUS.search(call.details() or "")
    return int(match[1]) if match else None


#: How gRPC words a call that reached no server: no connection could be made (refused, a TLS handshake that failed:
#: "failed to connect to all addresses; last error: …") or the name does not resolve (worded so by its resolvers,
#: old and new). No server answered it: the platform is down, or not at that address.
_NO_CONNECTION = re.compile(r"^(?:failed to connect to all addresses|DNS resolution failed|errors resolving)")
#: A failure's reason, in its name, for such a call: ``UNAVAILABLE no connection``.
NO_CONNECTION = "no connection"


def no_connection(call: Any) -> bool:
    """Whether a failed call reached no server (``_NO_CONNECTION``), as against an UNAVAILABLE a server answered."""
    return call.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED) and bool(
        _NO_CONNECTION.match(call.details() or ""))


def status_of(call: Any) -> tuple[str, str]:
    """The call's status name and, for a failure, the ErrorInfo reason the server gave, ``HTTP <status>`` when no
    gRPC server answered, or ``no connection`` when none was reached: a load balancer's 429 read as UNAVAILABLE, an
    outage, a WAF's 403 as PERMISSION_DENIED, the platform's refusal, and 413, 500 and the like all as one UNKNOWN;
    and a platform gone during the run (its connection refused) was "UNAVAILABLE", as a service draining is."""
    code = call.code()
    if code == grpc.StatusCode.OK:
        return "OK", ""
    info = _detail(rich_status(call), error_details_pb2.ErrorInfo)
    if info is not None:
        return code.name, info.reason
    http = http_status_of(call)
    if http is not None:
        return code.name, f"HTTP {http}"
    return code.name, NO_CONNECTION if no_connection(call) else ""


def retry_delay_of(call: Any) -> float | None:
    """The seconds a failed call's google.rpc.RetryInfo asks to wait before calling again, or None."""
    retry = _detail(rich_status(call), error_details_pb2.RetryInfo)
    return retry.retry_delay.ToTimedelta().total_seconds() if retry is not None else None


#: Failures whose time is a latency the caller waited through (the call's deadline), kept in the response times.
#: Every other failure is counted (in # reqs, # fails and the failure table, by status) but not timed: a gateway
#: that answers UNAVAILABLE, RESOURCE_EXHAUSTED or UNAUTHENTICATED in a millisecond made a third of a run's calls
#: fail and the run's median *drop*, an outage reading as a faster platform.
TIMED_FAILURES = frozenset({"DEADLINE_EXCEEDED"})


class LocustInterceptor(grpc.UnaryUnaryClientInterceptor):
    """Fires Locust's request event for every unary call made on the channel."""

    def __init__(self, environment: Environment) -> None:
        self.env = environment

    def intercept_unary_unary(self, continuation: Callable, client_call_details: grpc.ClientCallDetails,
                              request: Any) -> Any:
        labels, metadata = split_labels(client_call_details.metadata)
        details = _CallDetails(client_call_details.method, client_call_details.timeout, metadata,
                               client_call_details.credentials, client_call_details.wait_for_ready,
                               client_call_details.compression)
        started = float(labels[DUE_HEADER]) if DUE_HEADER in labels else time.perf_counter()
        method = client_call_details.method
        name = labels.get(NAME_HEADER) or (method.decode() if isinstance(method, bytes) else method)
        try:
            call = continuation(details, request)
            status, reason = status_of(call)  # waits (cooperatively) for the call to end
        except GreenletExit:  # its user was killed: the call was sent and is not answered
            self._not_answered(name, started)
            raise
        elapsed = (time.perf_counter() - started) * 1000
        expected = labels.get(EXPECT_HEADER, "OK")
        failure: Exception | None = None
        if not as_expected(expected, status, reason):
            failure = GrpcStatusFailure(status, reason, expected)
        elif status == "OK" and (problem := answer_problem(labels.get(ANSWER_HEADER, ""), request, call.result())):
            failure = WrongAnswer(problem)
        self.env.events.request.fire(
            request_type="grpc",
            name=name,
            response_time=None if failure is not None and status not in TIMED_FAILURES else elapsed,
            response_length=call.result().ByteSize() if status == "OK" else 0,
            response=call,
            context={"status": status, "reason": reason, "elapsed_ms": elapsed},
            exception=failure,
        )
        return call

    def _not_answered(self, name: str, started: float) -> None:
        """A call cut off in flight, when its user was stopped for good (Locust kills the users at the run's end,
        once the calls in flight have had ``--stop-timeout``): counted as a failure, untimed, not dropped — the calls
        a platform hung on at the end of a run were its only sign of it, and the run read as a clean one."""
        elapsed = (time.perf_counter() - started) * 1000
        self.env.events.request.fire(
            request_type="grpc", name=name, response_time=None, response_length=0, response=None,
            context={"status": NOT_ANSWERED, "elapsed_ms": elapsed}, exception=CallNotAnswered())


class GrpcUser(User):
    """A Locust user with its own gRPC channel, every call reported by the interceptor."""

    abstract = True

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        if not self.host:
            raise StopTest("no gateway address: pass --host HOST:PORT (or start `govshare up`, whose credentials "
                              "file names it)")
        try:
            target = grpc_target(self.host)
            roots = root_certificates() if uses_tls(self.host) else None
        except ValueError as exc:  # typed into the web UI's form: Locust logs StopTest's one line and stops the run
            raise StopTest(f"host {exc}") from None
        channel = (grpc.secure_channel(target, grpc.ssl_channel_credentials(roots)) if uses_tls(self.host)
                   else grpc.insecure_channel(target))
        self._channel = grpc.intercept_channel(channel, LocustInterceptor(environment))

    @property
    def channel(self) -> grpc.Channel:
        return self._channel

    def on_stop(self) -> None:
        self._channel.close()
