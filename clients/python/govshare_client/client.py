"""The synchronous client a business system uses to call the platform through its edge.

Every call made through a :class:`Client` — the convenience methods and the raw stubs alike — goes through
one interceptor that adds the bearer token (issued and renewed by :class:`TokenSource`), a default
deadline, retries where retrying is safe, and turns failures into :class:`GovshareError` subclasses. The
client speaks plain gRPC with ``authorization: Bearer <token>``: whichever edge is in front of the platform
(Envoy or any other gRPC proxy) is the same to it.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import re
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

import grpc

from govshare_client import _requests as build
from govshare_client._tokens import TokenSource
from govshare_client.errors import (
    OLD_SECRET,
    SECRET_ROTATED,
    TOKEN_PREDATES_DISABLE,
    DeadlineExceeded,
    GovshareError,
    Unauthenticated,
    Unavailable,
    error_from_status,
    failed_for_a_setting,
    from_rpc_error,
    refused_for_its_headers,
)
from govshare_client.pb.query.v1 import query_pb2, query_pb2_grpc
from govshare_client.results import (
    BatchQueryResult,
    ExportRow,
    ExportSummary,
    Purpose,
    QueryResult,
    VerifyResult,
)

#: Deadline of a unary call (all its attempts together) when the caller gives none.
DEFAULT_TIMEOUT = 10.0
#: Methods that need longer by default: a batch holds up to 1000 keys; a report (a year's, as PDF) takes as long as
#: the edge lets it (120 s, gateway.edge.LONG_CALL_TIMEOUT_SECONDS, as ``govshare report`` waits): at 10 s the SDK
#: gave up on a report the platform was still rendering, one a busy platform would have delivered.
#: An export (a server stream) may rightly take long, but not for ever: an hour, the longest the edge lets a stream
#: run (gateway.edge.STREAM_TIMEOUT_SECONDS), so a stream the edge would cut anyway is given up by the client too.
DEFAULT_TIMEOUTS: Mapping[str, float] = {"/govshare.query.v1.QueryService/BatchQuery": 30.0,
                                         "/govshare.supervision.v1.SupervisionService/GenerateReport": 120.0,
                                         "/govshare.query.v1.QueryService/Export": 3600.0}
#: How long a stream's reader waits for its next message before the stream is cancelled and DeadlineExceeded
#: raised. Without it, a platform that stalled mid-export (a hung backend, a connection silently dropped on the
#: way) left the business system's reader waiting for ever, or for the whole hour above. Generous: a provider's
#: page comes within seconds; ``idle_timeout=None`` turns it off.
DEFAULT_IDLE_TIMEOUT = 120.0
#: Reads that change nothing, so a call that may or may not have reached the platform can be made again.
#: (A retried query may count twice against a grant's quota if the first attempt was answered but its reply
#: was lost: the price of answering the desk instead of failing it.)
IDEMPOTENT_METHODS = frozenset({
    "/govshare.query.v1.QueryService/Query",
    "/govshare.query.v1.QueryService/BatchQuery",
    "/govshare.query.v1.QueryService/Verify",
})
IDEMPOTENT_PREFIXES = ("Get", "List", "Search")

#: Channel options given before the caller's (``options=``, which win). gRPC waits longer and longer between
#: attempts to reconnect (up to 120 s), and fails every call at once meanwhile: after a platform restart of a
#: minute, a client kept failing UNAVAILABLE for a quarter of a minute more. Capped, it reconnects within a
#: second of the edge's return, at the cost of one connection attempt a second while it is away.
#: Replies are taken up to 64 MiB, as the platform's own clients take them: gRPC's default of 4 MiB failed a
#: reply the platform had answered in full (a BatchQuery of 1000 records of about 5 KB each, the platform's
#: messages being up to 8 MiB) with RESOURCE_EXHAUSTED "Received message larger than max", which reads as the
#: rate limit, after the call had been made, audited and counted against the grant's quota.
CHANNEL_OPTIONS: tuple[tuple[str, Any], ...] = (("grpc.max_reconnect_backoff_ms", 1000),
                                                ("grpc.max_receive_message_length", 64 * 1024 * 1024))
#: The connection is pinged every KEEPALIVE_SECONDS, with calls or without, and given up when no answer comes within
#: KEEPALIVE_TIMEOUT_SECONDS, as the platform's own channels do (services/runtime/clients.py). Without pings, a
#: connection a firewall or NAT between the business system and the edge dropped without a word (an idle session
#: timing out, a failover) was never found dead: every call on it waited its whole deadline and raised
#: DeadlineExceeded, retried by nobody, for as long as the kernel kept the socket (for ever, where the far side still
#: acknowledged). The pings keep such an idle session alive too. gRPC's own pings (flow-control probes) wait
#: ``grpc.http2.ping_timeout_ms`` (60 s by default) for their answer, and no keepalive ping goes out while one waits:
#: it is held to the same timeout. ``grpc.http2.max_pings_without_data`` 0: an idle connection is pinged for as long
#: as it is idle, not twice (gRPC's default) and then never. The timeout is gRPC's (and Java's) default keepalive
#: timeout, 20 s, twice the platform's own in-cluster 10 s: a ping's answer may queue behind the data the edge is
#: sending on a slow link (an export over a county's line), and a connection given up then would cut the export.
KEEPALIVE_SECONDS = 30.0
KEEPALIVE_TIMEOUT_SECONDS = 20.0


def channel_options(options: Iterable[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """The options of a client's channel: :data:`CHANNEL_OPTIONS`, the keepalive, then the caller's (which win)."""
    keepalive = [("grpc.keepalive_time_ms", round(KEEPALIVE_SECONDS * 1000)),
                 ("grpc.keepalive_timeout_ms", round(KEEPALIVE_TIMEOUT_SECONDS * 1000)),
                 ("grpc.http2.ping_timeout_ms", round(KEEPALIVE_TIMEOUT_SECONDS * 1000)),
                 ("grpc.keepalive_permit_without_calls", 1),
                 ("grpc.http2.max_pings_without_data", 0)]
    return [*CHANNEL_OPTIONS, *keepalive, *options]

ENV_ENDPOINT = "GOVSHARE_ENDPOINT"
ENV_SYSTEM_ID = "GOVSHARE_SYSTEM_ID"
ENV_SECRET = "GOVSHARE_SYSTEM_SECRET"
ENV_ROOT_CA = "GOVSHARE_ROOT_CA"
ENV_PLAINTEXT = "GOVSHARE_PLAINTEXT"

Stub = TypeVar("Stub")


def is_idempotent(method: str, request: object = None) -> bool:
    """Whether ``method`` (``/package.Service/Method``) may be retried after UNAVAILABLE: a read, or a request
    that carries a ``request_id`` (AIP-155: the platform answers its repeat with what the first attempt made,
    such as ``SubmitApplicationRequest``)."""
    return (method in IDEMPOTENT_METHODS or method.rpartition("/")[2].startswith(IDEMPOTENT_PREFIXES)
            or bool(getattr(request, "request_id", "")))


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter for UNAVAILABLE on idempotent calls.

    Attempt n waits a random time in [0, min(max_backoff, initial_backoff * multiplier**(n-1))] — jitter
    spreads the retries of many clients after an outage instead of sending them back together — unless the
    platform sent a ``RetryInfo``, whose delay is then waited exactly. No retry starts that could not finish
    before the call's deadline.

    The defaults wait out an edge that is away for a few seconds (a restart, a rolling update of a single
    replica) within the default 10 s deadline: up to 7 pauses of at most 0.1, 0.2, 0.4, 0.8, 1.6, 2 and 2 s
    (8.1 s at most, half that on average). Four attempts gave up after about 0.4 s, and such a restart failed
    every call made during it.
    """

    max_attempts: int = 8
    initial_backoff: float = 0.1
    max_backoff: float = 2.0
    multiplier: float = 2.0

    def __post_init__(self) -> None:
        """Refused when made, not in an outage: a negative backoff was a ValueError from ``time.sleep`` at the
        first retry, and a multiplier below 1 shrank the pauses instead of spacing them out."""
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ValueError(f"max_attempts must be a whole number of attempts, at least 1, not {self.max_attempts!r}")
        for name in ("initial_backoff", "max_backoff", "multiplier"):
            value = getattr(self, name)
            lowest = 1.0 if name == "multiplier" else 0.0
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                    math.isfinite(value) and value >= lowest):
                raise ValueError(f"{name} must be a finite number of at least {lowest:g}, not {value!r}")

    def delay(self, attempt: int, error: GovshareError, rng: random.Random) -> float:
        """The pause after failed attempt ``attempt`` (from 1): the platform's ``retry_delay``, else jittered."""
        if error.retry_delay is not None:
            return error.retry_delay
        return rng.uniform(0, min(self.max_backoff, self.initial_backoff * self.multiplier ** (attempt - 1)))


class _CallDetails(NamedTuple):
    """grpc.ClientCallDetails with the token and the deadline filled in."""

    method: str
    timeout: float | None
    metadata: Sequence[tuple[str, str | bytes]] | None
    credentials: grpc.CallCredentials | None
    wait_for_ready: bool | None
    compression: grpc.Compression | None


class _ClientCallDetails(_CallDetails, grpc.ClientCallDetails):
    pass


def _with_token(details: grpc.ClientCallDetails, token: str, timeout: float | None) -> _ClientCallDetails:
    metadata = [(k, v) for k, v in (details.metadata or ()) if k != "authorization"]
    if token:  # none for IssueToken itself
        metadata.append(("authorization", f"Bearer {token}"))
    return _ClientCallDetails(details.method, timeout, metadata, details.credentials,
                              getattr(details, "wait_for_ready", None), getattr(details, "compression", None))


def _method_name(details: grpc.ClientCallDetails) -> str:
    method = details.method
    return method.decode() if isinstance(method, bytes) else method


RENEW = "renew"
#: The call that issues the token: sent without one, and its UNAUTHENTICATED (a wrong secret) is no token refused.
#: A raw stub's IssueToken (a system handing a token to its browser page) was sent with a token the client got
#: first, and its wrong secret taken for a refused token: sent again after a new one, each logged as a guess at
#: the system's secret; with AsyncClient its failure was gRPC's raw error, without a deadline.
ISSUE_TOKEN = "/govshare.authorization.v1.TokenService/IssueToken"

#: The ``reason`` of an UNAUTHENTICATED that refuses the bearer token itself: ``UNAUTHENTICATED`` from a service
#: (expired, signed by a key no longer published, of a system since disabled or whose secret was rotated) or from
#: the edge's own token check (none at all from an edge before its refusals carried an ErrorInfo). Any other
#: reason refuses something the request carries — SignIn's ``BAD_CREDENTIALS`` or ``TOTP_INVALID``,
#: ExchangeOidcToken's ``OIDC_TOKEN_INVALID`` —, which a new token does not change: repeating such a call counted a
#: person's wrong password twice (locked after three tries, not five). ``SECRET_ROTATED`` (issued before the
#: system's secret was rotated: a new token is tried once with the secret held, in case it is the new one) and
#: ``TOKEN_PREDATES_DISABLE`` (issued before a disable since lifted: a new token is accepted) are renewed too;
#: ``SYSTEM_DISABLED`` is not: no token is issued to a disabled system, and every call asking for one again would
#: spend the edge's IssueToken rate limit, shared by every system.
TOKEN_REFUSALS = frozenset({"", "UNAUTHENTICATED", SECRET_ROTATED, TOKEN_PREDATES_DISABLE})


#: The reasons of a RESOURCE_EXHAUSTED that an idempotent call is tried again after, as an UNAVAILABLE is: the replica
#: serving listings and searches has a full queue (HEAVY_READS_BUSY, services/runtime/admission.py), which refuses
#: the read before running it and asks for a retry after its RetryInfo (1 s). Raised at once, it ended a business
#: system's pages() loop half-way whenever other systems' listings filled that queue. Another RESOURCE_EXHAUSTED is
#: not retried: the rate limit (RATE_LIMITED) is the caller's to pace, and REPLY_TOO_LARGE answers the same again.
BUSY_REASONS = frozenset({"HEAVY_READS_BUSY"})


def retried_when_safe(error: GovshareError) -> bool:
    """Whether ``error`` is one an idempotent call is tried again after (with backoff, or its RetryInfo's delay)."""
    return error.code == grpc.StatusCode.UNAVAILABLE or (
        error.code == grpc.StatusCode.RESOURCE_EXHAUSTED and error.reason in BUSY_REASONS)


def refuses_the_token(error: GovshareError) -> bool:
    """Whether ``error`` is the platform refusing the token this client sent (a new one may be accepted)."""
    return error.code == grpc.StatusCode.UNAUTHENTICATED and error.reason in TOKEN_REFUSALS


class Attempts:
    """The attempts of one unary call under one deadline: what to do after each failure (shared by the sync
    and the asyncio client, so both follow the same rules)."""

    def __init__(self, method: str, timeout: float, policy: RetryPolicy, rng: random.Random,
                 request: object = None) -> None:
        self.deadline = time.monotonic() + timeout
        self._retryable = is_idempotent(method, request)
        #: Whether the call goes without a token (:data:`ISSUE_TOKEN`): none is asked for, none renewed.
        self.tokenless = method == ISSUE_TOKEN
        self._policy, self._rng = policy, rng
        self._attempt = 0
        self._refused: GovshareError | None = None  # the refusal that made this call renew its token

    def start(self) -> float:
        """Counts an attempt; the seconds it has left."""
        self._attempt += 1
        return self.deadline - time.monotonic()

    def left(self) -> float:
        """The seconds left to send the attempt with, once its token is in hand: getting it (a renewal, which
        may wait for TokenService up to the whole budget) counts against the deadline, or a call with a 2 s
        timeout could take 4 s. Never 0 or below, which gRPC takes as no deadline: a moment, and it expires."""
        return max(self.deadline - time.monotonic(), 0.001)

    def after(self, error: GovshareError, token: str) -> str | float | None:
        """:data:`RENEW` to repeat at once with a new token, a pause before the next attempt, or None: give up."""
        if refuses_the_token(error) and token and self._refused is None:
            # Refused at authentication, so not executed: safe to repeat once with a fresh token, whatever the
            # method (the token expired early by the platform's clock, or its signing key was rotated).
            self._refused = error
            return RENEW
        if (retried_when_safe(error) and self._retryable and self._attempt < self._policy.max_attempts
                and not refused_for_its_headers(error) and not failed_for_a_setting(error)):
            pause = self._policy.delay(self._attempt, error, self._rng)
            if time.monotonic() + pause < self.deadline:
                return pause
        return None

    def issuance_refused(self, error: Unauthenticated) -> Unauthenticated:
        """The error to raise when TokenService refuses this client's credentials.

        After the platform refused the held token, its words say why (the system's secret was rotated, the
        system disabled): they lead, since the issuance's own ("unknown system id or wrong secret") does not
        say that the secret this client holds is the old one.
        """
        return error if self._refused is None else refused_twice(self._refused, error)


def refused_twice(refused: GovshareError, error: Unauthenticated) -> Unauthenticated:
    """The platform's refusal of the held token (``refused``), followed by TokenService's of the secret; its reason
    TokenService's when that says more than a wrong secret (the system disabled meanwhile), else the platform's."""
    message = f"{refused.message}; a new token with the secret this client holds was refused too: {error.message}"
    if error.reason not in ("", "UNAUTHENTICATED"):
        return Unauthenticated(error.code, message, reason=error.reason, domain=error.domain, metadata=error.metadata)
    if refused.reason == SECRET_ROTATED:
        message += f" ({OLD_SECRET})"
    return Unauthenticated(error.code, message, reason=refused.reason, domain=refused.domain,
                           metadata=refused.metadata)


def renews_export(failure: GovshareError, started: bool, refused: GovshareError | None) -> bool:
    """Whether an export's failure is answered by one new token and a second try (both clients' ``_rows``): the
    platform refused the token before the first page, and this export has not been refused once already."""
    return refuses_the_token(failure) and not started and refused is None


#: The method of Client.export's stream, whose deadline ``timeouts=`` may give.
EXPORT_METHOD = "/govshare.query.v1.QueryService/Export"


def stream_failure(error: GovshareError, refused: Callable[[], None]) -> GovshareError:
    """A raw stub's stream's ``error``, once the token it refused (:func:`refuses_the_token`) is forgotten by
    ``refused()``. Kept, it stayed the client's token until its renewal was due (48 minutes of an hour's token): a
    business system exporting through ``stub.Export`` after the platform refused it (expired early by the platform's
    clock, a rotated signing key) had every later export refused the same, unary calls alone dropping it."""
    if refuses_the_token(error):
        refused()
    return error


def stream_timeout(method: str, given: float | None, per_method: Mapping[str, float]) -> float | None:
    """A stream's deadline: the caller's, else the one ``timeouts=`` (or :data:`DEFAULT_TIMEOUTS`) gives its
    method, else none. ``timeouts={".../Export": 600}`` was accepted, checked, and never applied: every export
    went on without a deadline."""
    given = build.timeout_of(given)
    return given if given is not None else per_method.get(method)


def stream_deadline(timeout: float | None) -> float | None:
    """The monotonic time a stream given ``timeout`` (None: no deadline) must end by."""
    return None if timeout is None else time.monotonic() + timeout


def time_left(deadline: float | None) -> float | None:
    """The seconds left until ``deadline`` (None: no deadline), never 0 or below, which gRPC takes as none."""
    return None if deadline is None else max(deadline - time.monotonic(), 0.001)


def token_budget(deadline: float | None, default: float) -> float:
    """How long a stream may wait for its token: what is left of its deadline, else the client's default. The
    wait counts against the stream's deadline as it does against a unary call's: an export given 1 s waited up
    to the client's 10 s for TokenService, then had its whole second besides."""
    left = time_left(deadline)
    return default if left is None else left


def idle_expired(seconds: float) -> DeadlineExceeded:
    """The error of a stream whose reader waited ``seconds`` (its ``idle_timeout``) for a message in vain."""
    return DeadlineExceeded(grpc.StatusCode.DEADLINE_EXCEEDED,
                            f"govshare client: no message from the platform for {seconds:g} s (idle_timeout): the "
                            f"stream was cancelled; the platform or the network on the way stalled")


def not_to_be_pickled(client: str) -> TypeError:
    """Why a client is not pickled nor copied: it holds a live connection and a token. Given to a process pool's
    task or to copy.copy, it failed with gRPC's "no default __reduce__ due to non-trivial __cinit__", naming neither
    the client nor what to do instead."""
    return TypeError(f"govshare client: {client} cannot be pickled or copied (it holds a connection to the platform "
                     f"and a token): make one in each process, e.g. in a process pool's initializer, and share it "
                     f"between that process's threads")


def refuse_if_closed(closed: bool, kind: str) -> None:
    """A call on a closed client is a ValueError saying so, before gRPC is asked: on a closed channel, a raw stub
    (or client.export's) made before close() crashed the process in gRPC (a segmentation fault, grpcio 1.85), and
    an AsyncClient closed before its first call waited for a token for ever."""
    if closed:
        raise ValueError(f"govshare client: this {kind} is closed (close(), or the end of its with block): make a "
                         f"new one")


def call_timeout(method: str, given: float | None, default: float, per_method: Mapping[str, float]) -> float:
    """The deadline of a call: the caller's (ValueError when it has passed before the call starts: 0 or below),
    else the method's default, else the client's."""
    given = build.timeout_of(given)
    return given if given is not None else per_method.get(method, default)


class _Failed(grpc.RpcError, grpc.Future, grpc.Call):
    """A unary call that ended in ``error``, as the outcome an interceptor hands back to gRPC.

    Raising the error from the interceptor instead reached a ``future()`` caller as gRPC's own failed outcome:
    ``code()`` INTERNAL and ``details()`` "Exception raised while intercepting the RPC", and ``result(timeout=5)``
    a TypeError. The blocking call raises ``error`` all the same (gRPC asks the outcome for its ``result()``).
    """

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self._error = error

    def result(self, timeout: float | None = None) -> Any:
        raise self._error

    def exception(self, timeout: float | None = None) -> Exception:
        return self._error

    def traceback(self, timeout: float | None = None) -> None:
        return None

    def add_done_callback(self, fn: Callable[[Any], None]) -> None:
        fn(self)

    def code(self) -> grpc.StatusCode:
        return self._error.code if isinstance(self._error, GovshareError) else grpc.StatusCode.UNKNOWN

    def details(self) -> str:
        return self._error.message if isinstance(self._error, GovshareError) else str(self._error)

    def initial_metadata(self) -> None:
        return None

    def trailing_metadata(self) -> None:
        return None

    def cancel(self) -> bool:
        return False

    def cancelled(self) -> bool:
        return False

    def running(self) -> bool:
        return False

    def done(self) -> bool:
        return True

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> None:
        return None

    def add_callback(self, callback: Callable[[], None]) -> bool:
        return False


class _Unary(NamedTuple):
    """One unary call as the interceptor got it: what each of its attempts is made from."""

    continuation: Callable[[Any, Any], Any]
    details: grpc.ClientCallDetails
    request: Any
    attempts: Attempts


class _Background(grpc.RpcError, grpc.Future, grpc.Call):
    """A call whose attempts go on in the background: a raw stub's ``future()`` call, handed back at once, and
    any call whose next attempt must wait a pause (a blocking call then waits for this future's result).

    Each attempt's end is handled in gRPC's callback thread; a retry after a pause (or a renewed token) is made
    from a thread of its own, so neither gRPC's thread nor a future()'s caller sleeps. ``cancel()`` stops the
    attempt under way and any to come.
    """

    def __init__(self, interceptor: _Interceptor, call: _Unary, outcome: Any, token: str,
                 pause: float = 0.0) -> None:
        """Follows ``outcome``, the attempt under way; or, when it is None, makes the next one after ``pause``."""
        super().__init__()
        self._interceptor, self._call = interceptor, call
        self._lock = threading.Condition()
        self._current = outcome
        self._final: Any = None  # the settled outcome: answered, or a _Failed
        self._cancelled = False
        self._callbacks: list[Callable[[Any], None]] = []
        if outcome is None:
            self._retry(pause)
        else:
            outcome.add_done_callback(lambda ended: self._ended(ended, token))

    def follow(self, outcome: Any, token: str) -> None:
        """The next attempt, under way."""
        with self._lock:
            self._current = outcome
            if self._cancelled:
                outcome.cancel()
                return
        outcome.add_done_callback(lambda ended: self._ended(ended, token))

    def _ended(self, outcome: Any, token: str) -> None:
        if self.cancelled():
            return
        try:
            error = self._interceptor.error_of(outcome)
        except Exception:  # a local failure (a closed Client): the outcome raises it as it is
            self._settle(outcome)
            return
        if error is None:
            self._settle(outcome)
            return
        step = self._interceptor.next_step(self._call, error, token)
        if step is None:
            self._settle(_Failed(self._interceptor.final(error)))
            return
        self._retry(step)

    def _retry(self, pause: float) -> None:
        threading.Thread(target=self._again, args=(pause,), daemon=True, name="govshare-retry").start()

    def _again(self, pause: float) -> None:
        self._interceptor.pause(pause)
        if self.cancelled():
            return
        try:
            outcome = self._interceptor.attempt(self._call, self)
        except Exception as failure:  # handed to whoever waits for the result
            outcome = _Failed(failure)
        if outcome is not self:
            self._settle(outcome)

    def _settle(self, final: Any) -> None:
        with self._lock:
            if self._final is not None or self._cancelled:
                return
            self._final = final
            self._lock.notify_all()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self)

    def _settled(self, timeout: float | None) -> Any:
        """The settled outcome, waiting up to ``timeout``; FutureCancelledError once cancelled."""
        with self._lock:
            if not self._lock.wait_for(lambda: self._final is not None or self._cancelled, timeout):
                raise grpc.FutureTimeoutError()
            if self._cancelled:
                raise grpc.FutureCancelledError()
            return self._final

    def result(self, timeout: float | None = None) -> Any:
        return self._settled(timeout).result()

    def exception(self, timeout: float | None = None) -> Exception | None:
        failure: Exception | None = self._settled(timeout).exception()
        return failure

    def traceback(self, timeout: float | None = None) -> Any:
        return self._settled(timeout).traceback()

    def add_done_callback(self, fn: Callable[[Any], None]) -> None:
        with self._lock:
            if self._final is None and not self._cancelled:
                self._callbacks.append(fn)
                return
        fn(self)

    def cancel(self) -> bool:
        with self._lock:
            if self._final is not None or self._cancelled:
                return False
            self._cancelled = True
            self._lock.notify_all()
            current, callbacks, self._callbacks = self._current, self._callbacks, []
        if current is not None:
            current.cancel()
        for callback in callbacks:
            callback(self)
        return True

    def cancelled(self) -> bool:
        with self._lock:
            return self._cancelled

    def running(self) -> bool:
        return not self.done()

    def done(self) -> bool:
        with self._lock:
            return self._final is not None or self._cancelled

    def is_active(self) -> bool:
        return not self.done()

    def time_remaining(self) -> float:
        return max(self._call.attempts.deadline - time.monotonic(), 0.0)

    def add_callback(self, callback: Callable[[], None]) -> bool:
        with self._lock:
            if self._final is not None or self._cancelled:
                return False
            self._callbacks.append(lambda _: callback())
            return True

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.CANCELLED if self.cancelled() else self._settled(None).code()

    def details(self) -> str:
        return "Locally cancelled by application!" if self.cancelled() else self._settled(None).details()

    def initial_metadata(self) -> Any:
        return None if self.cancelled() else self._settled(None).initial_metadata()

    def trailing_metadata(self) -> Any:
        return None if self.cancelled() else self._settled(None).trailing_metadata()


class _TypedStream:
    """A raw stub's server stream (``Export``) whose failure, before its first message or on the way, is raised
    as the GovshareError a unary call raises (``reason``, ``field_violations``, ``retry_delay``…), not as gRPC's
    raw error, whose details a caller had to decode itself (``from_rpc_error``). The call's other methods
    (``cancel()``, ``code()``, ``initial_metadata()``, ``trailing_metadata()``…) are the stream's own.

    A reader waiting ``idle_timeout`` seconds for the next message has the stream cancelled and DeadlineExceeded
    raised (a timer runs only while the reader waits: a reader slow with its rows is not cut).

    A failure that refuses the token the stream was sent with calls ``refused()``, so that the client's next call
    gets a new token (see :func:`refuses_the_token`)."""

    def __init__(self, call: Any, idle_timeout: float | None, refused: Callable[[], None] = lambda: None) -> None:
        self._call, self._idle_timeout, self._refused = call, idle_timeout, refused
        self._idled = False

    def __iter__(self) -> _TypedStream:
        return self

    def __next__(self) -> Any:
        watchdog = self._watch()
        try:
            return next(self._call)
        except grpc.RpcError as error:
            if self._idled and self._idle_timeout is not None:
                raise idle_expired(self._idle_timeout) from None
            raise stream_failure(from_rpc_error(error), self._refused) from None
        finally:
            if watchdog is not None:
                watchdog.cancel()

    def _watch(self) -> threading.Timer | None:
        """A timer cancelling the stream once the reader has waited ``idle_timeout`` (None: no timer)."""
        if self._idle_timeout is None:
            return None
        watchdog = threading.Timer(self._idle_timeout, self._expire)
        watchdog.daemon = True
        watchdog.start()
        return watchdog

    def _expire(self) -> None:
        self._idled = True
        self._call.cancel()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._call, name)


class _Interceptor(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Token, deadline, retries and error decoding for every call of one Client."""

    def __init__(self, tokens: TokenSource, timeout: float, timeouts: Mapping[str, float], retry: RetryPolicy,
                 sleep: Callable[[float], None] | None, rng: random.Random, idle_timeout: float | None) -> None:
        self._tokens, self._timeout, self._timeouts = tokens, timeout, dict(timeouts)
        self._idle_timeout = idle_timeout
        self._retry, self._sleep, self._rng = retry, sleep, rng
        self._closing = threading.Event()  # what a retry's pause waits on, so that close() ends it at once
        self.closed = False  # set by close(): every later call is refused before gRPC is asked

    def close(self) -> None:
        """Refuses every later call and ends every pause before a retry now: the call then ends CANCELLED."""
        self.closed = True
        self._closing.set()

    def intercept_unary_unary(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        refuse_if_closed(self.closed, "Client")
        method = _method_name(client_call_details)
        build.metadata_of(client_call_details.metadata)
        request = build.with_request_id(build.message_of(request, method))
        attempts = Attempts(method, call_timeout(method, client_call_details.timeout, self._timeout, self._timeouts),
                            self._retry, self._rng, request)
        return self.attempt(_Unary(continuation, client_call_details, request, attempts))

    def attempt(self, call: _Unary, background: _Background | None = None) -> Any:
        """Makes ``call``'s attempts until one is answered or it fails for good, and hands back that outcome.

        An attempt still under way is a ``future()`` call (whose continuation does not wait for the answer):
        it is handed back as a :class:`_Background` future that makes the next attempts itself when one fails.
        Waiting here instead made ``future()`` block for the whole call, so futures meant to run side by side
        ran one after the other, and none could be cancelled.
        """
        while True:
            if self.closed:  # during the pause before this attempt: the call ends as one under way when it closed
                return _Failed(self.final(GovshareError(grpc.StatusCode.CANCELLED, "Channel closed!")))
            remaining = call.attempts.start()
            try:
                token = "" if call.attempts.tokenless else self._tokens.token(remaining)
                outcome = call.continuation(_with_token(call.details, token, call.attempts.left()), call.request)
                if not outcome.done():
                    if background is None:
                        return _Background(self, call, outcome, token)
                    background.follow(outcome, token)
                    return background
                error = self.error_of(outcome)
            except Unavailable as unavailable:  # TokenService unreachable: as unavailable as the call itself
                token, error = "", unavailable
            except Unauthenticated as refused:  # TokenService refused the credentials: no attempt can succeed
                return _Failed(call.attempts.issuance_refused(refused))
            except GovshareError as failed:  # TokenService answered otherwise (out of time, its rate limit)
                return _Failed(self.final(failed))
            except ValueError:  # gRPC's "Cannot invoke RPC on closed channel!": the Client closed meanwhile
                if not self.closed:
                    raise
                return _Failed(self.final(GovshareError(grpc.StatusCode.CANCELLED, "Channel closed!")))
            if error is None:
                return outcome
            step = self.next_step(call, error, token)
            if step is None:
                return _Failed(self.final(error))
            if background is None and step > 0:
                # The pause is not taken here: a future() call whose attempt failed at once (the edge away: gRPC
                # fails a call without a connection before it returns) would sleep in the caller's thread.
                return _Background(self, call, None, token, pause=step)
            self.pause(step)

    def final(self, error: GovshareError) -> GovshareError:
        """The error a call that failed for good raises: ``error``, unless this Client's close() cut it, which gRPC
        reported as CANCELLED "Channel closed!", naming neither the client nor the close. A call waiting to be tried
        again when its Client closed raised gRPC's ValueError 'Cannot invoke RPC on closed channel!' instead, where
        a caller catching GovshareError (a worker thread while its process stops) had no handler; so did a call
        waiting for another thread's token, and one whose own issuance the close cut raised CANCELLED "Channel
        closed!"."""
        if self.closed and error.code == grpc.StatusCode.CANCELLED:
            return GovshareError(grpc.StatusCode.CANCELLED, "govshare client: the call was cancelled (its Client's "
                                                            "close(), or the end of its with block) before it was "
                                                            "answered")
        return error

    def next_step(self, call: _Unary, error: GovshareError, token: str) -> float | None:
        """After a failed attempt, the pause before the next one (0 to repeat it with a new token), or None."""
        step = call.attempts.after(error, token)
        if step == RENEW:
            self._tokens.invalidate(token)
            return 0.0
        return None if step is None else float(step)

    def pause(self, seconds: float) -> None:
        """Waits ``seconds`` before a retry. It waits on the close event, not in ``time.sleep``: a Client closed
        during a pause (RetryInfo may ask for many seconds) kept its caller blocked until the pause was over."""
        if seconds <= 0:
            return
        if self._sleep is None:
            self._closing.wait(seconds)
        else:
            self._sleep(seconds)

    def intercept_unary_stream(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        """Streams get the token, their deadline (:func:`stream_timeout`) and the client's ``idle_timeout``; they
        are not retried, since rows already delivered would come again. A failure met while iterating is raised
        as the GovshareError a unary call raises (:class:`_TypedStream`)."""
        refuse_if_closed(self.closed, "Client")
        method = _method_name(client_call_details)
        build.metadata_of(client_call_details.metadata)
        build.message_of(request, method)
        deadline = stream_deadline(stream_timeout(method, client_call_details.timeout, self._timeouts))
        token = self._tokens.token(token_budget(deadline, self._timeout))
        return _TypedStream(continuation(_with_token(client_call_details, token, time_left(deadline)), request),
                            self._idle_timeout, lambda: self._tokens.invalidate(token))

    @staticmethod
    def error_of(outcome: Any) -> GovshareError | None:
        """The call's failure as a GovshareError, None when it succeeded.

        Asked of ``outcome.exception()``, not of the outcome's type: a ``future()`` call's outcome is a gRPC
        rendezvous, an RpcError even when the call succeeded; and a local failure (a closed Client, a request
        that does not serialise) comes wrapped as an RpcError whose code is INTERNAL, so it is raised as the
        exception it is instead of as a platform error the platform never sent.
        """
        failure = outcome.exception()
        if failure is None:
            return None
        if isinstance(failure, grpc.RpcError) and failure is outcome:
            return error_from_status(outcome.code(), outcome.details() or "", outcome.trailing_metadata())
        raise failure


#: The quotes a configuration may keep around a value, as pairs (the platform's IssueToken reads its arguments
#: without them too: services/authorization/directory.py).
QUOTE_PAIRS = frozenset({'""', "''", "\u201c\u201d", "\u2018\u2019"})


def setting(value: str) -> str:
    """A setting as the client reads it: without the blanks and one pair of quotes around it.

    Docker's ``--env-file`` and ``kubectl create secret --from-env-file`` keep the quotes of ``VAR="…"``: the
    endpoint was then a host name in quotes, every call UNAVAILABLE "Domain name not found" retried to its
    deadline, and ``GOVSHARE_PLAINTEXT="1"`` a ValueError. No endpoint, system id, secret, flag or file name of the
    client's holds a quote at its ends."""
    value = value.strip()
    if len(value) >= 2 and value[0] + value[-1] in QUOTE_PAIRS:
        value = value[1:-1].strip()
    return value


def _env_flag(name: str) -> bool:
    """A yes/no variable; any other value is a ValueError naming it (``GOVSHARE_PLAINTEXT=y`` meant TLS, and
    every call then failed UNAVAILABLE in a TLS handshake error, retried to its deadline)."""
    raw = os.environ.get(name, "")
    value = setting(raw).lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"", "0", "false", "no", "off"}:
        return False
    raise ValueError(f"govshare client: {name}={raw!r}: expected 1 (no TLS: a platform on your own machine) or 0")


def _root_certificates(path: str) -> bytes:
    """The CA file ``GOVSHARE_ROOT_CA`` names, or a ValueError naming the variable: a missing file was a bare
    FileNotFoundError, and a file without a PEM certificate failed every call in the TLS handshake."""
    try:
        with open(path, "rb") as file:
            pem = file.read()
    except OSError as exc:
        raise ValueError(f"govshare client: {ENV_ROOT_CA}={path!r}: {exc.strerror or exc}; give the PEM file of "
                         f"the CA that signed the edge's certificate") from None
    return pem_of(pem, f"{ENV_ROOT_CA}={path!r}")


def pem_of(pem: object, source: str) -> bytes:
    """``pem``, which must be bytes holding a PEM certificate; ``source`` names where it came from.

    Given as ``root_certificates=``, bytes that held no certificate (a DER file, the wrong file) were taken as
    they were, and every call then failed UNAVAILABLE "Failed to create security handshaker", retried until its
    deadline; a str (the file's path, as ``GOVSHARE_ROOT_CA`` takes it, or the PEM as text) was gRPC's
    "expected certificate to be bytes", naming no argument.
    """
    if isinstance(pem, str):
        raise TypeError(f"govshare client: {source} must be the PEM file's bytes (open(path, 'rb').read()), not a "
                        f"str; or set {ENV_ROOT_CA} to the file's path")
    if not isinstance(pem, bytes):
        raise TypeError(f"govshare client: {source} must be the PEM file's bytes, not {type(pem).__name__}")
    if b"-----BEGIN CERTIFICATE-----" not in pem:
        raise ValueError(f"govshare client: {source} holds no PEM certificate (-----BEGIN CERTIFICATE-----): give "
                         f"the CA that signed the edge's certificate")
    return pem


_URL = re.compile(r"(?i)(?:https?|grpcs?)://([^/?#]*)")
#: A host (or a bracketed IPv6 address) and port followed by a path: gRPC's own targets (dns:///…, unix:/…) have
#: a scheme's colon, not a port, before their slash.
_WITH_PATH = re.compile(r"([^/:\s]+|\[[^\]]*\])(:[0-9]+)?(/.*)")


def endpoint_of(endpoint: str, argument: str) -> str:
    """The edge's ``host:port``; a URL, or a host:port with a path, is a ValueError saying what to give instead.

    `govshare up` prints the REST address (``http://host:port/``) beside the gRPC one, and gRPC would read
    such a URL as a host name: every call would fail UNAVAILABLE "Misformatted domain name", retried until
    its deadline, for a setting no retry can mend; so would ``grpc://`` and ``grpcs://``, as other gRPC tools
    write an address. TLS is chosen by ``plaintext``, never by a scheme (gRPC's own targets, ``dns:///…``,
    ``unix:…``, are left to gRPC).
    """
    url = _URL.match(endpoint)
    if url is not None:
        host_port = url.group(1) or "host:port"
        raise ValueError(f"{argument} {endpoint!r} is a URL: give the edge's host:port ({host_port}); TLS is the "
                         f"default, plaintext=True or {ENV_PLAINTEXT}=1 turns it off")
    with_path = _WITH_PATH.fullmatch(endpoint)
    if with_path is not None:
        # Copied from a URL without its scheme (127.0.0.1:50051/): gRPC's "Failed to parse port", UNAVAILABLE on
        # every call, retried to its deadline.
        host_port = with_path.group(1) + (with_path.group(2) or ":port")
        raise ValueError(f"{argument} {endpoint!r} has a path ({with_path.group(3)}), which a gRPC endpoint does "
                         f"not: give the edge's host:port ({host_port})")
    return endpoint


def _decoded(secret: str | bytes | None) -> str | None:
    """A secret given as bytes (read from a file), as text; bytes that are not UTF-8 are a ValueError naming it
    (they failed at the first call, in protobuf, naming no argument)."""
    if not isinstance(secret, bytes):
        return secret
    try:
        return secret.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("govshare client: secret: the bytes given are not UTF-8 text (the secret's file as "
                         "CreateSystem or RotateSystemSecret showed it)") from None


def connection_settings(endpoint: str | None, system_id: str | None, secret: str | bytes | None,
                        root_certificates: bytes | None,
                        plaintext: bool | None) -> tuple[str, str, str, grpc.ChannelCredentials | None]:
    """Endpoint, system id, secret and TLS credentials (None: plaintext), the environment filling the gaps.

    Each given one must be a str (a secret read from a file may be its UTF-8 bytes, which protobuf has always
    taken, and which the type hints now admit: ``Path(…).read_bytes()`` was a type checker's error): a system id of
    123 was protobuf's "bad argument type for built-in operation".
    """
    endpoint, system_id = build.text(endpoint, "endpoint"), build.text(system_id, "system_id")
    secret = build.text(_decoded(secret), "secret")
    given_endpoint = bool(endpoint)
    # Stripped: none holds whitespace, and a value read from a file (a mounted Kubernetes secret, a .env line)
    # often ends with a newline, which made the secret "wrong" and the endpoint a "Misformatted domain name".
    endpoint = setting(endpoint or os.environ.get(ENV_ENDPOINT, ""))
    system_id = setting(system_id or os.environ.get(ENV_SYSTEM_ID, ""))
    secret = setting(secret or os.environ.get(ENV_SECRET, ""))
    missing = [name for name, value in ((ENV_ENDPOINT, endpoint), (ENV_SYSTEM_ID, system_id), (ENV_SECRET, secret))
               if not value]
    if missing:
        raise ValueError(f"govshare client: give endpoint, system_id and secret, or set {', '.join(missing)}")
    endpoint = endpoint_of(endpoint, "endpoint" if given_endpoint else ENV_ENDPOINT)
    if plaintext is None:
        plaintext = _env_flag(ENV_PLAINTEXT)
    if plaintext:
        return endpoint, system_id, secret, None
    if root_certificates is not None:
        root_certificates = pem_of(root_certificates, "root_certificates")
    elif setting(os.environ.get(ENV_ROOT_CA, "")):
        root_certificates = _root_certificates(setting(os.environ[ENV_ROOT_CA]))
    return endpoint, system_id, secret, grpc.ssl_channel_credentials(root_certificates)


class HeldStream:
    """The stream an export is reading, which its ``close()`` cancels from any thread or task.

    ``close()`` closed the export's generator, which Python refuses while another thread is inside it (the reader,
    waiting for the next page): a shutdown hook or a supervisor closing an export another thread read raised
    ValueError 'generator already executing', and the reader went on waiting. Cancelling the stream instead is
    safe from anywhere (gRPC's ``cancel()``), and ends the reader's wait at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stream: Any = None
        self.closed = False

    def hold(self, stream: Any) -> None:
        """``stream`` is now the one read; cancelled at once when the export was closed meanwhile."""
        with self._lock:
            self._stream, closed = stream, self.closed
        if closed:
            stream.cancel()

    def close(self) -> None:
        """Marks the export closed and cancels its stream, if one is under way."""
        with self._lock:
            self.closed, stream = True, self._stream
        if stream is not None:
            stream.cancel()


#: How an export was closed when its client was: it was read on after the client's ``with`` block, or another thread
#: closed the client; the reader was told "Stream removed (Channel closed!)", or asyncio.CancelledError.
CLIENT_CLOSED = "its client's close(), or the end of its with block"


def closed_while_read(summary: ExportSummary, how: str) -> GovshareError:
    """The error the reader of an export gets when it was closed while being read (``how``: ``close()``, or
    :data:`CLIENT_CLOSED`)."""
    return summary._named(GovshareError(
        grpc.StatusCode.CANCELLED, f"govshare client: the export was closed ({how}) while it was being read: it is "
                                   f"not complete"))


class Export(ExportSummary, Iterator[ExportRow]):
    """The rows of :meth:`Client.export`, one :class:`ExportRow` at a time (``for row in client.export(…)``);
    once they are read, what the export said of itself (:class:`ExportSummary`)::

        export = client.export("101001/000001", purpose="administrative_basis", purpose_text="…")
        for row in export:
            ...
        if export.skipped_count:  # complete, but records its provider could not send were left out
            ...

    ``close()`` stops reading: the stream is cancelled (leaving the loop early leaves it to the garbage
    collector), and the export is not ``complete``. It may be called from another thread than the reader's, whose
    wait then ends with a GovshareError ``CANCELLED`` saying the export was closed.
    """

    def __init__(self, rows: Callable[[Export], Generator[ExportRow, None, None]]) -> None:
        """``rows(self)`` reads the stream, filling in this summary as it goes and holding it in ``_held``."""
        self._held = HeldStream()
        self._rows = rows(self)
        self._reader: int | None = None  # the thread that last asked for a row

    def __iter__(self) -> Export:
        return self

    def __next__(self) -> ExportRow:
        self._reader = threading.get_ident()
        return next(self._rows)

    def close(self) -> None:
        """Stops the export where it is (its stream cancelled), as leaving a ``with`` block does; from any thread.

        Closed by another thread than its reader's, the generator is left to the reader, whose next row is the
        CANCELLED error: closing it ended the reader's loop as if every row had come."""
        self._held.close()
        if self._reader not in (None, threading.get_ident()):
            return
        with contextlib.suppress(ValueError):  # a reader that started meanwhile: its wait ends with the stream
            self._rows.close()

    def __enter__(self) -> Export:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class Client:
    """A business system's connection to the platform.

    Arguments not given are read from the environment: ``GOVSHARE_ENDPOINT`` (``host:port`` of the edge),
    ``GOVSHARE_SYSTEM_ID``, ``GOVSHARE_SYSTEM_SECRET``, ``GOVSHARE_ROOT_CA`` (a PEM file of the CA that signed
    the edge's certificate, when it is not a public one) and ``GOVSHARE_PLAINTEXT=1`` (no TLS: only for a
    platform on your own machine, since the secret and the tokens would cross the network in clear).

    ``idle_timeout`` (seconds, default 120; None: none) bounds the wait for a stream's next message: a stream
    silent that long is cancelled and raises DeadlineExceeded, where a stalled platform hung its reader for ever.

    Thread-safe: share one Client per process; it holds one HTTP/2 connection and one token.
    """

    def __init__(self, endpoint: str | None = None, system_id: str | None = None, secret: str | bytes | None = None,
                 *, root_certificates: bytes | None = None, plaintext: bool | None = None,
                 timeout: float = DEFAULT_TIMEOUT, timeouts: Mapping[str, float] = DEFAULT_TIMEOUTS,
                 retry: RetryPolicy | None = None, options: Iterable[tuple[str, Any]] = (),
                 sleep: Callable[[float], None] | None = None,
                 idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT) -> None:
        endpoint, system_id, secret, credentials = connection_settings(endpoint, system_id, secret,
                                                                       root_certificates, plaintext)
        timeout, timeouts = build.timeout_of(timeout), build.timeouts_of(timeouts, DEFAULT_TIMEOUTS)
        idle = build.timeout_of(idle_timeout, "idle_timeout")
        options = channel_options(options)
        if credentials is None:
            self._base = grpc.insecure_channel(endpoint, options=options)
        else:
            self._base = grpc.secure_channel(endpoint, credentials, options=options)
        self._tokens = TokenSource(self._base, system_id, secret)
        self._timeout, self._timeouts = timeout, timeouts
        self._interceptor = interceptor = _Interceptor(self._tokens, timeout, timeouts, retry or RetryPolicy(), sleep,
                                                       random.Random(), idle)
        self.channel: grpc.Channel = grpc.intercept_channel(self._base, interceptor)
        self._stubs: dict[type, Any] = {}
        self._lock = threading.Lock()

    def stub(self, stub_class: Callable[[grpc.Channel], Stub]) -> Stub:
        """A raw stub (e.g. ``catalog_pb2_grpc.CatalogServiceStub`` from ``govshare_client.pb``) whose blocking
        calls carry the token, the default deadline and the retries, and raise GovshareError. Typed: each method
        takes its request message and answers its response message (see :mod:`govshare_client.calls`)."""
        refuse_if_closed(self._interceptor.closed, "Client")
        with self._lock:
            if stub_class not in self._stubs:
                self._stubs[stub_class] = stub_class(self.channel)  # type: ignore[index]
            return self._stubs[stub_class]  # type: ignore[index]

    def query(self, resource_code: str, key: str, items: Sequence[str] | None = None, *, purpose: Purpose | str,
              purpose_text: str = "", timeout: float | None = None) -> QueryResult:
        """One record's granted items (all of them when ``items`` is None), e.g.
        ``client.query("102001/000001", credit_code, purpose="work_reference", purpose_text="案号 2026-001")``."""
        request = build.query_request(resource_code, key, items, purpose, purpose_text)
        stub = self.stub(query_pb2_grpc.QueryServiceStub)
        return QueryResult.from_proto(stub.Query(request, timeout=timeout))

    def batch_query(self, resource_code: str, keys: Sequence[str], items: Sequence[str] | None = None, *,
                    purpose: Purpose | str, purpose_text: str = "",
                    timeout: float | None = None) -> BatchQueryResult:
        """Up to 1000 keys in one call, each answered on its own (a bad key has ``error``, not an exception)."""
        request = build.batch_query_request(resource_code, keys, items, purpose, purpose_text)
        stub = self.stub(query_pb2_grpc.QueryServiceStub)
        return BatchQueryResult.from_proto(stub.BatchQuery(request, timeout=timeout))

    def verify(self, resource_code: str, key: str, claims: Mapping[str, str], *,
               purpose: Purpose | str = Purpose.DATA_VERIFICATION, purpose_text: str = "",
               timeout: float | None = None) -> VerifyResult:
        """Whether each claimed value matches the record (核验): match / mismatch / no_record / no_value (the record
        holds none for the item), never the data."""
        request = build.verify_request(resource_code, key, claims, purpose, purpose_text)
        stub = self.stub(query_pb2_grpc.QueryServiceStub)
        return VerifyResult.from_proto(stub.Verify(request, timeout=timeout))

    def export(self, resource_code: str, items: Sequence[str] | None = None, *, purpose: Purpose | str,
               purpose_text: str = "", timeout: float | None = None) -> Export:
        """Every record of a resource your grant lets you download (批量下载), streamed row by row; a refusal
        or a failure mid-stream raises GovshareError. Not retried (rows already read would come again). Its
        deadline is ``timeout``, else the ``timeouts=`` entry of the Export method (an hour by default: a large
        export rightly takes long); a platform silent for the client's ``idle_timeout`` (120 s) between two pages
        raises DeadlineExceeded. Arguments that cannot mean
        anything raise here, at the call, not at the first row read. Once the rows are read, the
        :class:`Export` says whether the export was whole (``complete``), its ``row_count``, the
        ``skipped_count`` of records its provider could not send, and its ``audit_id``."""
        request = build.export_request(resource_code, items, purpose, purpose_text)
        timeout = stream_timeout(EXPORT_METHOD, timeout, self._timeouts)
        return Export(lambda summary: self._rows(request, timeout, summary))

    def _rows(self, request: query_pb2.ExportRequest, timeout: float | None,
              summary: Export) -> Generator[ExportRow, None, None]:
        """The export's rows, its closing message and headers read into ``summary``; a stream refused at
        authentication before its first page is repeated once with a new token, as a unary call is. Before, the
        refused token was kept, so every later export failed UNAUTHENTICATED too until the token's renewal time
        (up to 48 minutes for an hour's token)."""
        refuse_if_closed(self._interceptor.closed, "Client")
        stub = self.stub(query_pb2_grpc.QueryServiceStub)
        refused: GovshareError | None = None
        deadline = stream_deadline(timeout)  # the token's wait and a repeat with a new one count against it
        while True:
            started = False
            try:
                token = self._tokens.token(token_budget(deadline, self._timeout))  # the token the interceptor sends
            except Unauthenticated as issuance:  # TokenService refused the secret this client holds
                raise issuance if refused is None else refused_twice(refused, issuance) from None
            stream = stub.Export(request, timeout=time_left(deadline))
            summary._held.hold(stream)
            try:
                for page in stream:
                    if not started:
                        started = True
                        summary._read_headers(stream.initial_metadata())
                    summary._read(page)
                    for row in page.rows:
                        if summary._held.closed:  # by another thread or task: not the rest of the page either
                            raise closed_while_read(summary, "close()")
                        yield ExportRow.from_proto(row)
                return
            except grpc.RpcError as error:
                if summary._held.closed or self._interceptor.closed:
                    raise closed_while_read(summary, "close()" if summary._held.closed else CLIENT_CLOSED) from None
                failure = summary._named(from_rpc_error(error))
            finally:  # a caller who stopped reading (close(), a break) ends the stream now, not at collection
                stream.cancel()
            if not renews_export(failure, started, refused):
                raise failure from None
            self._tokens.invalidate(token)
            refused = failure

    def __reduce__(self) -> str | tuple[Any, ...]:
        """Refused, saying why (:func:`not_to_be_pickled`)."""
        raise not_to_be_pickled("a Client")

    def close(self) -> None:
        """Closes the connection: calls still under way, or waiting to be retried, end CANCELLED at once, and later
        calls raise ValueError."""
        self._interceptor.close()
        self._base.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
