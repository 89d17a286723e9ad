"""Server-side sessions: a random id in the cookie, the person's token and CSRF token here, in memory.

Why in memory: the console has no database (DESIGN.md: "console — sessions only"), and a session is worth no more
than the person's token it holds, which expires within the hour anyway. A restarted console asks people to sign
in again; with several replicas the Service keeps a browser on one (sessionAffinity, docs/deploy.md).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

#: The cookie that carries the session id (nothing else is kept in the browser).
COOKIE = "govshare_console"


@dataclass
class Person:
    """Who is signed in, as the sign-in answer described them (display only: the services decide)."""

    username: str
    display_name: str
    department_code: str
    department_name: str = ""
    roles: tuple[str, ...] = ()


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

    def get(self, session_id: str | None) -> tuple[Session | None, bool]:
        """The live session for ``session_id`` and False, or None and whether one existed but has expired."""
        if not session_id:
            return None, False
        session = self._sessions.get(session_id)
        if session is None:
            return None, False
        now = self._clock()
        if now - session.last_seen > self._idle or now >= session.token_expires_at:
            del self._sessions[session_id]
            return None, True
        session.last_seen = now
        return session, False

    def end(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    def _sweep(self) -> None:
        now = self._clock()
        for key in [k for k, s in self._sessions.items()
                    if now - s.last_seen > self._idle or now >= s.token_expires_at]:
            del self._sessions[key]
