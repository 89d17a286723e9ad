"""The bearer token of one business system: issued by TokenService.IssueToken, renewed before it expires."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import Callable

import grpc

from govshare_client.errors import (
    SYSTEM_DISABLED,
    DeadlineExceeded,
    GovshareError,
    ResourceExhausted,
    Unavailable,
    from_rpc_error,
    issuance_error,
)
from govshare_client.pb.authorization.v1 import token_pb2, token_pb2_grpc

#: Renew when less than this share of a token's lifetime is left (an hour's token: after 48 minutes), so a
#: call never leaves with a token that expires on the way, and a briefly unreachable TokenService has minutes
#: of slack before any call needs a new token.
RENEW_AT_REMAINING = 0.2

#: Failures of a renewal after which the held token serves on while it has not expired: TokenService down or
#: slow, or over the edge's rate limit — which all IssueToken calls share, whatever the system, so another
#: system's burst of issuances failed this client's calls while its token had minutes left.
_RENEWAL_CAN_WAIT = (Unavailable, DeadlineExceeded, ResourceExhausted)
#: While the held token is still valid, a renewal waits for TokenService at most this long of the call's budget,
#: and after one that failed the next is tried no sooner than RENEWAL_RETRY seconds later. A renewal is optional
#: until the token expires: waiting the whole budget for a TokenService that hung (its database stopped) cost the
#: renewing call its deadline although it held a valid token, and the next caller then tried again, so one call
#: after the other failed for nothing for as long as the outage lasted.
RENEWAL_PATIENCE = 1.0
RENEWAL_RETRY = 5.0
#: Seconds an IssueToken refused SYSTEM_DISABLED is raised again without asking: the system gets no token until a
#: person enables it, and a program retrying in a loop sent one IssueToken per call, spending the edge's IssueToken
#: rate limit that every system shares. A system enabled again gets its token this long after at most.
DISABLED_RECHECK = 30.0


class _Disabled:
    """The last IssueToken refused because the system is disabled, raised again until :data:`DISABLED_RECHECK`."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._refusal: GovshareError | None = None
        self._until = 0.0

    def raise_if_held(self) -> None:
        if self._refusal is not None and self._clock() < self._until:
            raise self._refusal

    def note(self, error: GovshareError) -> GovshareError:
        """Keeps ``error`` when it says the system is disabled; ``error``."""
        if error.reason == SYSTEM_DISABLED:
            self._refusal, self._until = error, self._clock() + DISABLED_RECHECK
        return error


def _lifetime(token: str, expire_time: float, now: float) -> float:
    """Seconds the token is valid for, from its own ``iat`` and ``exp`` claims when it has them.

    Reading the lifetime from the token (both stamps written by the platform's clock) keeps renewal right
    when this machine's clock is off; the claims are only read, never trusted for anything else.
    """
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"]) - float(claims["iat"])
    except (IndexError, ValueError, KeyError, TypeError):
        return expire_time - now


def _no_token_in_time(timeout: float) -> DeadlineExceeded:
    """The error of a call whose deadline passed while another call was getting the token it needs."""
    return DeadlineExceeded(grpc.StatusCode.DEADLINE_EXCEEDED,
                            f"no token within the call's deadline ({timeout:.3g} s): another call of this client "
                            f"is still waiting for TokenService.IssueToken")


class TokenSource:
    """Thread-safe: many threads share one token, and only one of them renews it when it is due.

    While one thread renews, the others go on with the held token as long as it has not expired; and when a
    renewal fails because the platform is unreachable, the held token serves until it expires — the slack
    that renewing early buys.
    """

    def __init__(self, channel: grpc.Channel, system_id: str, secret: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._stub = token_pb2_grpc.TokenServiceStub(channel)
        self._request = token_pb2.IssueTokenRequest(system_id=system_id, secret=secret)
        self._clock = clock
        self._lock = threading.Lock()
        self._token = ""
        self._renew_at = 0.0
        self._expires_at = 0.0
        self._disabled = _Disabled(clock)

    def token(self, timeout: float) -> str:
        """The current token, first issuing a new one if none is held or the held one is due for renewal.

        ``timeout`` is the caller's whole budget, the wait for another thread's issuance included: waiting
        without a bound, a call with a 1 s deadline returned after 5 s when four others were queued before it
        on a TokenService that did not answer (each issuance taking its caller's whole deadline in turn).
        """
        started = time.monotonic()
        token, now = self._token, self._clock()
        if token and now < self._renew_at:
            return token
        if not self._lock.acquire(blocking=False):
            if token and now < self._expires_at:
                return token  # another thread is renewing; this token is still good
            if not self._lock.acquire(timeout=max(timeout, 0.0)):
                raise _no_token_in_time(timeout)
        try:
            if self._token and self._clock() < self._renew_at:
                return self._token
            return self._renew(timeout - (time.monotonic() - started))
        finally:
            self._lock.release()

    def invalidate(self, token: str) -> None:
        """Forgets ``token`` (refused by the platform), so the next call issues a new one; a token another
        thread has already renewed stays.

        Not under the lock: a thread renewing holds it while it waits for TokenService (up to its whole budget, an
        export's an hour), and a call refused meanwhile waited there, past its own deadline, to forget a token the
        renewal replaces anyway; it now goes on to :meth:`token`, which waits only as long as its deadline lets it.
        A renewal finishing at the same moment may be forgotten too, which costs one issuance more."""
        if self._token == token:
            self._token, self._renew_at, self._expires_at = "", 0.0, 0.0

    def _renew(self, timeout: float) -> str:
        optional = bool(self._token) and self._clock() < self._expires_at
        try:
            return self._issue(min(timeout, RENEWAL_PATIENCE) if optional else timeout)
        except _RENEWAL_CAN_WAIT:
            if self._token and self._clock() < self._expires_at:
                self._renew_at = min(self._clock() + RENEWAL_RETRY, self._expires_at)
                return self._token
            raise

    def _issue(self, timeout: float) -> str:
        self._disabled.raise_if_held()
        started = self._clock()
        try:
            response = self._stub.IssueToken(self._request, timeout=max(timeout, 0.001))
        except grpc.RpcError as error:
            raise self._disabled.note(issuance_error(from_rpc_error(error))) from None
        lifetime = max(_lifetime(response.token, response.expire_time.ToSeconds(), time.time()), 0.0)
        self._token = response.token
        self._renew_at = started + lifetime * (1 - RENEW_AT_REMAINING)
        self._expires_at = started + lifetime
        return self._token


class AsyncTokenSource:
    """The asyncio twin of :class:`TokenSource` (one renewal at a time; a due but valid token keeps serving)."""

    def __init__(self, channel: grpc.aio.Channel, system_id: str, secret: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._stub = token_pb2_grpc.TokenServiceStub(channel)
        self._request = token_pb2.IssueTokenRequest(system_id=system_id, secret=secret)
        self._clock = clock
        self._lock = asyncio.Lock()
        self._token = ""
        self._renew_at = 0.0
        self._expires_at = 0.0
        self._disabled = _Disabled(clock)

    async def token(self, budget: float) -> str:
        """As TokenSource.token; ``budget``: the seconds an issuance may take (the gRPC deadline)."""
        token, now = self._token, self._clock()
        if token and now < self._renew_at:
            return token
        if self._lock.locked() and token and now < self._expires_at:
            return token
        started = time.monotonic()
        try:  # the wait for another task's issuance counts against this call's budget (see TokenSource.token)
            await asyncio.wait_for(self._lock.acquire(), max(budget, 0.0))
        except TimeoutError:
            raise _no_token_in_time(budget) from None
        try:
            if self._token and self._clock() < self._renew_at:
                return self._token
            budget -= time.monotonic() - started
            optional = bool(self._token) and self._clock() < self._expires_at  # see RENEWAL_PATIENCE
            try:
                return await self._issue(min(budget, RENEWAL_PATIENCE) if optional else budget)
            except _RENEWAL_CAN_WAIT:
                if self._token and self._clock() < self._expires_at:
                    self._renew_at = min(self._clock() + RENEWAL_RETRY, self._expires_at)
                    return self._token
                raise
        finally:
            self._lock.release()

    def invalidate(self, token: str) -> None:
        if self._token == token:
            self._token, self._renew_at, self._expires_at = "", 0.0, 0.0

    async def _issue(self, budget: float) -> str:
        self._disabled.raise_if_held()
        started = self._clock()
        try:
            response = await self._stub.IssueToken(self._request, timeout=max(budget, 0.001))
        except grpc.RpcError as error:
            raise self._disabled.note(issuance_error(from_rpc_error(error))) from None
        lifetime = max(_lifetime(response.token, response.expire_time.ToSeconds(), time.time()), 0.0)
        self._token = response.token
        self._renew_at = started + lifetime * (1 - RENEW_AT_REMAINING)
        self._expires_at = started + lifetime
        return self._token
