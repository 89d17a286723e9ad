"""Server-side sessions: a random id in the cookie, the person's token and CSRF token on the server.

Two stores with one interface. ``SessionStore`` keeps sessions in the process's memory: enough for one console
(``govshare up`` without Redis, the tests); a restart asks people to sign in again. ``RedisSessionStore`` keeps
them in Redis (``GOVSHARE_CONSOLE_REDIS_URL``, else the platform's ``GOVSHARE_REDIS_URL``), so a session survives
a console restart and is honoured by every replica (no sessionAffinity needed, docs/deploy.md).

In Redis a session is stored under a name derived from its id and encrypted (AES-GCM) with a key derived from
its id: the id exists only in the person's cookie, so what Redis holds — the person's token among it — is
unreadable and unfindable without that cookie, and the console still holds no secret of its own.

The handlers keep the synchronous interface (``create``/``get``/``end``): ``SessionSync``, an ASGI middleware,
loads the cookie's session from Redis before the request and writes back what the request created, touched or
ended before the response leaves (so a redirect to another replica finds it).
"""

from __future__ import annotations

import base64
import contextvars
import dataclasses
import json
import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from redis.exceptions import RedisError
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The cookie that carries the session id (nothing else is kept in the browser).
COOKIE = "govshare_console"
#: Redis key prefix of the console's sessions (a Redis ACL user for the console can be limited to it).
REDIS_PREFIX = "govshare:console:session:"
log = logging.getLogger("govshare.console")


@dataclass
class Person:
    """Who is signed in, as the sign-in answer described them (display only: the services decide)."""

    username: str
    display_name: str
    department_code: str
    department_name: str = ""
    roles: tuple[str, ...] = ()
    #: Signed in with a password an administrator set: the services refuse everything but setting one's own
    #: (PASSWORD_CHANGE_REQUIRED), so every page leads to 修改密码 (console.app.signed_in).
    password_change_required: bool = False


@dataclass
class Session:
    id: str
    person: Person
    #: The person's bearer token from SignIn: every call the console makes for this session carries it.
    token: str
    #: When the token expires (epoch seconds): the session never outlives it.
    token_expires_at: float
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    last_seen: float = field(default_factory=time.time)
    #: One message for the next page ("已提交…"), shown once.
    flash: str = ""
    #: How the person signed in: "password" (local account) or "oidc" (the IdP: no platform password to change).
    method: str = "password"


class SessionStoreUnavailable(Exception):
    """The session store (Redis) did not answer: the request cannot know who is signed in."""


class SessionStore:
    """Sessions by id, expiring after ``idle_seconds`` without a request or when the person's token expires."""

    def __init__(self, idle_seconds: int, clock: Callable[[], float] = time.time) -> None:
        self._sessions: dict[str, Session] = {}
        self._idle = idle_seconds
        self._clock = clock

    def now(self) -> float:
        return self._clock()

    def create(self, person: Person, token: str, token_expires_at: float) -> Session:
        self._sweep()
        session = Session(id=secrets.token_urlsafe(32), person=person, token=token,
                          token_expires_at=token_expires_at, last_seen=self._clock())
        self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None, touch: bool = True) -> tuple[Session | None, bool]:
        """The live session for ``session_id`` and False, or None and whether one existed but has expired.

        ``touch=False`` reads it without starting its idle time again: what the page asks on its own (the 待办
        counts it polls) must not keep a console left open unattended signed in for good."""
        if not session_id:
            return None, False
        session = self._sessions.get(session_id)
        if session is None:
            return None, False
        now = self._clock()
        if now - session.last_seen > self._idle or now >= session.token_expires_at:
            del self._sessions[session_id]
            return None, True
        if touch:
            session.last_seen = now
        return session, False

    def end(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    def _sweep(self) -> None:
        now = self._clock()
        for key in [k for k, s in self._sessions.items()
                    if now - s.last_seen > self._idle or now >= s.token_expires_at]:
            del self._sessions[key]

    # -- the hooks SessionSync calls around each request (nothing to do in memory) ---------------------------

    async def begin(self, session_id: str | None) -> object:
        return None

    async def flush(self) -> None:
        return None

    def finish(self, token: object) -> None:
        return None

    async def close(self) -> None:
        return None


@dataclass
class _Request:
    """What one request did to sessions: written back (or deleted) by ``flush``."""

    touched: dict[str, Session] = field(default_factory=dict)
    ended: set[str] = field(default_factory=set)


def derive_key(secret_id: str, purpose: bytes) -> bytes:
    """A 32-byte key for ``purpose`` from a random id only the browser holds (the console keeps no secret)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"govshare console session " + purpose).derive(secret_id.encode())


def redis_key(session_id: str) -> str:
    """Where a session is kept: a name derived from its id (the id itself is never written to Redis)."""
    return REDIS_PREFIX + derive_key(session_id, b"name").hex()


def seal(session: Session) -> bytes:
    """The session as AES-GCM ciphertext under a key derived from its id (bound to its Redis key)."""
    fields = dataclasses.asdict(session)
    del fields["id"]
    nonce = os.urandom(12)
    sealed = AESGCM(derive_key(session.id, b"key")).encrypt(nonce, json.dumps(fields).encode(),
                                                         redis_key(session.id).encode())
    return base64.b64encode(nonce + sealed)


def unseal(session_id: str, value: bytes) -> Session | None:
    """The session ``seal`` wrote for ``session_id``, or None if the value is not one (tampered, foreign)."""
    try:
        raw = base64.b64decode(value)
        plain = AESGCM(derive_key(session_id, b"key")).decrypt(raw[:12], raw[12:], redis_key(session_id).encode())
        fields: dict[str, Any] = json.loads(plain)
        person = _person(fields.pop("person"))
        return Session(id=session_id, person=person, **fields)
    except (InvalidTag, ValueError, TypeError, KeyError):
        return None


def _person(fields: dict[str, Any]) -> Person:
    return Person(**{**fields, "roles": tuple(fields.get("roles", ()))})


class RedisSessionStore(SessionStore):
    """Sessions in Redis, shared by every console process; the in-memory map only holds the sessions of the
    requests in flight (loaded by ``begin``, written back by ``flush``, dropped by ``finish``)."""

    def __init__(self, client: Any, idle_seconds: int, clock: Callable[[], float] = time.time) -> None:
        super().__init__(idle_seconds, clock)
        self._redis = client
        self._request: contextvars.ContextVar[_Request | None] = contextvars.ContextVar("console_sessions",
                                                                                        default=None)

    @property
    def client(self) -> Any:
        """The Redis client (the OIDC sign-ins in flight are kept beside the sessions)."""
        return self._redis

    def create(self, person: Person, token: str, token_expires_at: float) -> Session:
        session = super().create(person, token, token_expires_at)
        self._touch(session)
        return session

    def get(self, session_id: str | None, touch: bool = True) -> tuple[Session | None, bool]:
        session, expired = super().get(session_id, touch)
        if session is not None and touch:
            self._touch(session)  # last_seen moved: the idle time starts again on every replica
        elif expired and session_id:
            self._end(session_id)
        return session, expired

    def end(self, session_id: str) -> None:
        super().end(session_id)
        self._end(session_id)

    def _touch(self, session: Session) -> None:
        if (current := self._request.get()) is not None:
            current.touched[session.id] = session

    def _end(self, session_id: str) -> None:
        if (current := self._request.get()) is not None:
            current.touched.pop(session_id, None)
            current.ended.add(session_id)

    async def begin(self, session_id: str | None) -> object:
        """Loads the cookie's session (as it is now: another replica may have changed or ended it)."""
        token = self._request.set(_Request())
        if session_id:
            try:
                value = await self._redis.get(redis_key(session_id))
            except RedisError as error:
                self._request.reset(token)
                raise SessionStoreUnavailable(str(error)) from None
            session = unseal(session_id, value) if value is not None else None
            if session is None:
                self._sessions.pop(session_id, None)
            else:
                self._sessions[session_id] = session
        return token

    async def flush(self) -> None:
        """Writes back the sessions this request created or touched and deletes those it ended, each expiring
        in Redis when it would in memory (idle time or the person's token, whichever comes first)."""
        current = self._request.get()
        if current is None:
            return
        now = self._clock()
        try:
            for session_id, session in current.touched.items():
                ttl = int(min(session.last_seen + self._idle, session.token_expires_at) - now) + 1
                if ttl > 0:
                    await self._redis.set(redis_key(session_id), seal(session), ex=ttl)
            if current.ended:
                await self._redis.delete(*(redis_key(s) for s in current.ended))
        except RedisError as error:
            raise SessionStoreUnavailable(str(error)) from None
        current.touched.clear()
        current.ended.clear()

    def finish(self, token: object) -> None:
        """Drops this request's sessions from memory (Redis has them) and ends its bookkeeping."""
        current = self._request.get()
        if current is not None:
            for session_id in [*current.touched, *current.ended]:
                self._sessions.pop(session_id, None)
        if isinstance(token, contextvars.Token):
            self._request.reset(token)

    async def close(self) -> None:
        await self._redis.aclose()


UNAVAILABLE_PAGE = ("<!doctype html><html lang=\"zh-CN\"><meta charset=\"utf-8\"><title>暂时不可用</title>"
                    "<main><h1>登录服务暂时不可用</h1><p>会话存储暂时无法访问，您的操作未执行。请稍后刷新页面重试。</p>"
                    "</main></html>").encode()


class SessionSync:
    """ASGI middleware: the store's ``begin`` before a request and ``flush`` before its response starts; a
    store that does not answer gives a 503 page saying to try again (never a 500)."""

    def __init__(self, app: ASGIApp, store: SessionStore) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(("/static/", "/fonts/", "/healthz")):
            await self.app(scope, receive, send)
            return
        try:
            token = await self.store.begin(HTTPConnection(scope).cookies.get(COOKIE))
        except SessionStoreUnavailable as error:
            _say_unavailable(error)
            await _unavailable(send)
            return
        failed = False

        async def flushing(message: Message) -> None:
            nonlocal failed
            if message["type"] == "http.response.start":
                try:
                    await self.store.flush()
                except SessionStoreUnavailable as error:
                    _say_unavailable(error)
                    failed = True
                    await _unavailable(send)
                    return
            if not failed:
                await send(message)

        try:
            await self.app(scope, receive, flushing)
        finally:
            self.store.finish(token)


def _say_unavailable(error: SessionStoreUnavailable) -> None:
    """The log line of a request answered 503 for the session store, with Redis's words: "unavailable" alone
    said the same of a Redis down, one full (OOM under maxmemory), and an ACL refusing the console's user a
    command, which call for different hands."""
    log.warning("session store unavailable (Redis: %s): the request was answered 503", error)


async def _unavailable(send: Send) -> None:
    await send({"type": "http.response.start", "status": 503,
                "headers": [(b"content-type", b"text/html; charset=utf-8"), (b"retry-after", b"5"),
                            (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": UNAVAILABLE_PAGE})
