"""Which business systems' tokens are refused: disabled systems, and tokens older than a rotation or a disable.

A token is a signed, self-contained statement valid until it expires (an hour),
so disabling a system or rotating its secret must reach every place that accepts
tokens: the gateway's verifier (and its cache of verified tokens) and the services
that take the gateway's assertion and cache decisions per system (query). Each of
them keeps a :class:`SystemStates`: per restricted system, the disabled flag and a
"not valid before" time (tokens whose ``iat`` is earlier are refused), with a
version that orders changes.

The states come from the authorization service (the only owner of systems):
loaded in full at start (``AuthorizationService.ListSystemStates``), applied from
``govshare.systems.changed`` events as they happen (within milliseconds on every
replica), loaded again after each event-stream reconnection (events may have been
missed) and every ``refresh_seconds`` (an event lost while connected). Until the
first load succeeds the holder fails closed: token-bearing calls get UNAVAILABLE,
never a pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass

import grpc

from govshare.authorization.v1 import authorization_pb2, authorization_pb2_grpc
from services.runtime import pagination
from services.runtime.clients import call_metadata
from services.runtime.errors import ServiceError
from services.runtime.identity import PERSON_PREFIX, AssertionSigner, Caller
from services.runtime.tasks import cancel

log = logging.getLogger(__name__)

DISABLED = "DISABLED"
ROTATED = "ROTATED"
#: Services start in any order (a chart's pods, `govshare up`'s processes): for this long after start, a load
#: that fails because the authorization service is not up yet is expected and logged at INFO, not WARNING.
STARTUP_GRACE_SECONDS = 15.0
REFRESH_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class SystemState:
    """What decides whether a system's token is still accepted."""

    disabled: bool
    #: Epoch seconds: tokens issued (``iat``) earlier are refused.
    not_before: int
    #: Why ``not_before`` last moved: DISABLED or ROTATED.
    reason: str
    version: int


Loader = Callable[[], Awaitable[Iterable[tuple[str, SystemState]]]]
Listener = Callable[[str], None]


#: Why a person's token is refused (ErrorInfo.reason), so that the console can tell them: their account was
#: disabled, their roles changed (sign in again to act with the new ones), or the session ended otherwise (signed
#: out, password or TOTP reset). Each was UNAUTHENTICATED "UNAUTHENTICATED", and the console said 登录已过期 to a
#: person whose account had been disabled, who signed in again and was then told only that the account was.
PERSON_DISABLED = "PERSON_DISABLED"
ROLES_CHANGED = "ROLES_CHANGED"
#: An administrator reset the person's password, TOTP secret or IdP binding (not the person's own sign-out or
#: password change, SESSION_ENDED): told as "登录已过期", the person signed in again with the old password, which
#: counted toward their lock, instead of asking for the new one.
CREDENTIALS_RESET = "CREDENTIALS_RESET"
SESSION_ENDED = "SESSION_ENDED"
#: Why a business system's token is refused, so that its program can act on it without reading the message: all
#: three were UNAUTHENTICATED "UNAUTHENTICATED", as an expired token is, and a client could not tell "get a new
#: token" from "the secret it holds is dead" or "stop and call the authority". SYSTEM_DISABLED: the system is
#: disabled (no token helps; the authority's administrator may enable it). SECRET_ROTATED: issued before its secret
#: was rotated (a new token needs the new secret). TOKEN_PREDATES_DISABLE: issued before a disable since lifted (a
#: new token with the same secret is accepted).
SYSTEM_DISABLED = "SYSTEM_DISABLED"
SECRET_ROTATED = "SECRET_ROTATED"
TOKEN_PREDATES_DISABLE = "TOKEN_PREDATES_DISABLE"


def _disabled_message(system_id: str) -> str:
    """What a disabled system's token is told: that it is refused, and what to do, which no retry and no new token
    mends. "its tokens are no longer accepted" alone left a program of its own (curl, Java, .NET: the SDK adds the
    advice itself) asking IssueToken for a new token, refused in turn, and retrying both, when the one way back is
    the authority's 管理员 enabling the system (as docs/api.md's table and the person's PERSON_DISABLED say)."""
    return (f"system {system_id} was disabled: its tokens are no longer accepted, and no new one is issued until the "
            "authority's 管理员 (ADMINISTRATOR) enables it again (DirectoryService.EnableSystem): ask them, retrying "
            "does not help")


def _refusal(system_id: str, state: SystemState) -> ServiceError:
    """UNAUTHENTICATED for a token ``state`` no longer accepts, its reason saying why: a system's whether it is
    disabled, its secret was rotated or the token predates a disable since lifted; a person's why their session
    ended."""
    if system_id.startswith(PERSON_PREFIX):
        if state.disabled:
            return ServiceError(grpc.StatusCode.UNAUTHENTICATED, PERSON_DISABLED,
                                f"person {system_id} was disabled: their sessions are no longer accepted; the "
                                "authority's administrator may enable them again")
        if state.reason == ROLES_CHANGED:
            return ServiceError(grpc.StatusCode.UNAUTHENTICATED, ROLES_CHANGED,
                                "this session ended: the person's roles were changed; sign in again with "
                                "SessionService.SignIn to act with the new roles")
        if state.reason == DISABLED:
            # Enabled again since: the session ended with the disable. Said as the person's own sign-out, the person
            # (or the administrator they asked) looked for who had signed them out or changed their password.
            return ServiceError(grpc.StatusCode.UNAUTHENTICATED, SESSION_ENDED,
                                f"this session ended when person {system_id} was disabled (they have been enabled "
                                "again since): sign in again with SessionService.SignIn, or through the identity "
                                "provider")
        if state.reason == CREDENTIALS_RESET:
            return ServiceError(grpc.StatusCode.UNAUTHENTICATED, CREDENTIALS_RESET,
                                "this session ended: an administrator reset the person's password, TOTP secret or "
                                "IdP binding; sign in again with the new ones the administrator gives "
                                "(SessionService.SignIn), or through the identity provider")
        return ServiceError(grpc.StatusCode.UNAUTHENTICATED, SESSION_ENDED,
                            "this session ended (the person signed out, or changed their password): sign in again "
                            "with SessionService.SignIn, or through the identity provider")
    if state.disabled:
        return ServiceError(grpc.StatusCode.UNAUTHENTICATED, SYSTEM_DISABLED, _disabled_message(system_id))
    if state.reason == DISABLED:
        return ServiceError(grpc.StatusCode.UNAUTHENTICATED, TOKEN_PREDATES_DISABLE,
                            f"this token was issued before system {system_id} was disabled: request a new one with "
                            "TokenService.IssueToken")
    return ServiceError(grpc.StatusCode.UNAUTHENTICATED, SECRET_ROTATED,
                        f"this token was issued before the secret of system {system_id} was rotated: request a new "
                        "one with TokenService.IssueToken and the new secret")


def refuse_ended(caller: Caller, state: SystemState | None) -> None:
    """Refuses ``caller``'s token (UNAUTHENTICATED saying why) when ``state``, its system's or person's, no longer
    accepts it: disabled, or issued before their last reset. The verifiers' check, and RefreshSession's against
    the person's row (which must not wait for the event that brings the state here)."""
    if state is not None and (state.disabled or caller.issued_at < state.not_before):
        raise _refusal(caller.system_id, state)


class SystemStates:
    """The restricted systems, kept current by events and reloads; :meth:`check` refuses their tokens."""

    def __init__(self, load: Loader, refresh_seconds: float = REFRESH_SECONDS) -> None:
        self._load = load
        self._refresh = refresh_seconds
        self._states: dict[str, SystemState] = {}
        self._listeners: list[Listener] = []
        self._wake = asyncio.Event()
        self._first = asyncio.Event()
        self._loaded = asyncio.Event()  # set by the first load that succeeds, never cleared
        self._task: asyncio.Task | None = None

    # -- the hot path ---------------------------------------------------------------------------------------

    def check(self, caller: Caller) -> None:
        """Refuses a caller whose system is disabled or whose token predates the system's last reset
        (UNAUTHENTICATED saying which), or anyone while the states are not loaded yet (UNAVAILABLE)."""
        if not self._loaded.is_set():
            if caller.is_service or not caller.department_code:
                return  # platform services and the anonymous IssueToken placeholder carry no token
            raise ServiceError(grpc.StatusCode.UNAVAILABLE, "SYSTEM_STATES_LOADING",
                               "the states of business systems are not loaded yet; retry shortly")
        refuse_ended(caller, self._states.get(caller.system_id))

    # -- keeping current ------------------------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        return self._loaded.is_set()

    def add_listener(self, listener: Listener) -> None:
        """Calls ``listener(system_id)`` whenever a system's state changes (e.g. to drop cached decisions)."""
        self._listeners.append(listener)

    def apply(self, system_id: str, state: SystemState) -> bool:
        """Keeps ``state`` unless a newer one is known; True when it was kept."""
        current = self._states.get(system_id)
        if current is not None and current.version >= state.version:
            return False
        self._states[system_id] = state
        for listener in self._listeners:
            listener(system_id)
        return True

    def on_event(self, payload: Mapping) -> None:
        """Handler for services.runtime.cache.SYSTEMS_CHANGED."""
        try:
            system_id = str(payload["system_id"])
            state = SystemState(disabled=bool(payload["disabled"]), not_before=int(payload["not_before"]),
                                reason=str(payload.get("reason", "")), version=int(payload["version"]))
        except (KeyError, TypeError, ValueError):
            log.warning("ignored a malformed system state event")
            return
        self.apply(system_id, state)

    def resync(self) -> None:
        """After an event-stream (re)connection: events may have been missed, so load everything again."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="system-states")

    async def first_attempt(self) -> bool:
        """Waits for the first load attempt to end (callers bound the wait); False if no load has succeeded."""
        await self._first.wait()
        return self._loaded.is_set()

    async def wait_loaded(self) -> None:
        """Returns once a load has succeeded: until then the holder refuses every token, so the process is not
        ready (its health says NOT_SERVING, see services.runtime.server)."""
        await self._loaded.wait()

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None

    async def load_now(self) -> None:
        """One full load (events that arrived meanwhile with newer versions win)."""
        for system_id, state in await self._load():
            self.apply(system_id, state)
        self._loaded.set()
        self._first.set()

    async def _run(self) -> None:
        delay = 0.1
        started = time.monotonic()
        while True:
            self._wake.clear()
            try:
                await self.load_now()
                delay = 0.1
                wait = self._refresh
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                why = exc.code().name if isinstance(exc, grpc.aio.AioRpcError) else type(exc).__name__
                starting = not self._loaded.is_set() and time.monotonic() - started < STARTUP_GRACE_SECONDS
                log.log(logging.INFO if starting else logging.WARNING,
                        "could not load the states of business systems (%s)%s; retrying in %.1fs", why,
                        ": the authorization service may still be starting" if starting else "", delay)
                wait, delay = delay, min(delay * 2, 5.0)
                self._first.set()  # the first attempt is over: whoever waits for it goes on, failing closed
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()


def authorization_loader(channel: grpc.aio.Channel, signer: AssertionSigner, identity: Caller,
                         timeout: float) -> Loader:
    """Loads the states from AuthorizationService.ListSystemStates, calling as the platform service ``identity``."""
    stub = authorization_pb2_grpc.AuthorizationServiceStub(channel)

    async def load() -> list[tuple[str, SystemState]]:
        """Every page, following the tokens (the list is paged: thousands of systems at national size); a
        state that changes meanwhile also arrives as an event, and the newest version wins."""
        states: list[tuple[str, SystemState]] = []
        token = ""
        while True:
            response = await stub.ListSystemStates(
                authorization_pb2.ListSystemStatesRequest(page_size=pagination.MAX_PAGE_SIZE, page_token=token),
                timeout=timeout, metadata=call_metadata(signer, identity))
            states += [(s.system_id, SystemState(disabled=s.disabled, not_before=s.not_before_time.seconds,
                                                 reason=s.not_before_reason, version=s.version))
                       for s in response.states]
            token = response.next_page_token
            if not token:
                return states

    return load
