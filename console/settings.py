"""The console's settings, read once from ``GOVSHARE_CONSOLE_*`` environment variables (docs/configuration.md).

Like every govshare process it validates all of them at start and stops with one message listing every problem.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from services.runtime import workdays
from services.runtime.pagination import MAX_PAGE_SIZE
from services.runtime.settings import address_problem, parse_bool, parse_sentinels, redis_url_problem

#: The platform-wide settings the console reads besides its own GOVSHARE_CONSOLE_* (docs/configuration.md):
#: `govshare up` passes these on to it, and no other (it holds no key, no database URL).
SHARED_SETTINGS = ("GOVSHARE_CALL_TIMEOUT_SECONDS", "GOVSHARE_LOG_LEVEL", "GOVSHARE_HOLIDAYS_FILE")


class ConsoleSettingsError(Exception):
    """The environment does not describe a runnable console."""


@dataclass(frozen=True)
class ConsoleSettings:
    #: host:port the console's HTTP server listens on.
    listen: str = "127.0.0.1:8080"
    #: host:port of the edge (Envoy) the console calls the public services through.
    gateway: str = ""
    #: A session ends this long after its last request (and never outlives the person's token).
    session_idle_seconds: int = 1800
    #: Deadline of each call the console makes to a service.
    call_timeout_seconds: float = 5.0
    #: Rows per page of every list.
    page_size: int = 20
    #: Reply deadlines this close (working days) or closer are shown in red on the home page.
    deadline_warning_working_days: int = 2
    #: The Secure attribute on the session cookie. Only off for plain-HTTP development on a non-localhost name.
    secure_cookie: bool = True
    #: PEM CA file that verifies the edge's certificate (the mesh CA under mTLS); empty: plaintext to the edge.
    gateway_ca: str = ""
    #: PEM files for HTTPS served by the console itself (both or neither; else TLS ends at the edge/ingress).
    tls_cert: str = ""
    tls_key: str = ""
    #: Redis for the sessions (shared by every replica, kept across restarts); empty: in this process's memory.
    redis_url: str = ""
    #: OpenID Connect sign-in (console/oidc.py): the IdP's authorization and token endpoints and the console's
    #: client id there (a public client: PKCE, no secret). Empty authorize URL: no OIDC button.
    oidc_authorize_url: str = ""
    oidc_token_url: str = ""
    oidc_client_id: str = ""
    #: Where the IdP sends the browser back (registered at the IdP); empty: derived from the request's host.
    oidc_redirect_url: str = ""
    #: The IdP's name as people know it, shown under the button (e.g. 省统一身份认证平台).
    oidc_display_name: str = ""
    #: The IdP's end-session endpoint: signing out of the console also ends the IdP's session when set.
    oidc_logout_url: str = ""
    #: GOVSHARE_LOG_LEVEL, as every other process reads it.
    log_level: str = "INFO"
    #: The request header in which the console's own proxy (an ingress, nginx) gives the browser's address
    #: (X-Forwarded-For, X-Real-IP: its last value, the one that proxy added), passed on at sign-in so that failed
    #: sign-ins count against the browser's address; empty: the socket's peer (the console faces browsers).
    client_address_header: str = ""

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_authorize_url)

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])


def _int(env: Mapping[str, str], name: str, default: int, low: int, problems: list[str],
         high: int = 2**31 - 1) -> int:
    """A whole number in [low, high]; the default bound is what a protobuf int32 holds (a page size over it
    failed every list page), and isdecimal, not isdigit, which also passes '²' that int() refuses."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdecimal() or not low <= int(raw) <= high:
        problems.append(f"{name} must be a whole number from {low} to {high} (got {raw!r})")
        return default
    return int(raw)


#: GOVSHARE_CONSOLE_OIDC_* settings: the field of each, and whether it must be an http(s) URL.
_OIDC = {"AUTHORIZE_URL": ("oidc_authorize_url", True), "TOKEN_URL": ("oidc_token_url", True),
         "CLIENT_ID": ("oidc_client_id", False), "REDIRECT_URL": ("oidc_redirect_url", True),
         "DISPLAY_NAME": ("oidc_display_name", False), "LOGOUT_URL": ("oidc_logout_url", True)}


def _oidc(env: Mapping[str, str], problems: list[str]) -> dict[str, str]:
    """The OIDC settings: the authorize URL, token URL and client id together (or none), each URL http(s)."""
    values = {field: env.get(f"GOVSHARE_CONSOLE_OIDC_{name}", "").strip() for name, (field, _) in _OIDC.items()}
    for name, (field, is_url) in _OIDC.items():
        if is_url and values[field] and urlsplit(values[field]).scheme not in ("http", "https"):
            problems.append(f"GOVSHARE_CONSOLE_OIDC_{name} must be an http(s) URL (got {values[field]!r})")
    required = ("AUTHORIZE_URL", "TOKEN_URL", "CLIENT_ID")
    if any(values[_OIDC[n][0]] for n in _OIDC) and not all(values[_OIDC[n][0]] for n in required):
        problems.append("GOVSHARE_CONSOLE_OIDC_AUTHORIZE_URL, _TOKEN_URL and _CLIENT_ID go together: set all "
                        "three for OpenID Connect sign-in, or none")
    return values


def _redis_url(env: Mapping[str, str]) -> tuple[str, str]:
    """The sessions' Redis URL and the variable it came from: GOVSHARE_CONSOLE_REDIS_URL, else GOVSHARE_REDIS_URL."""
    for name in ("GOVSHARE_CONSOLE_REDIS_URL", "GOVSHARE_REDIS_URL"):
        if url := env.get(name, "").strip():
            return url, name
    return "", ""


def load_console_settings(env: Mapping[str, str] | None = None) -> ConsoleSettings:
    """Settings from ``env`` (default: the process environment), or ConsoleSettingsError naming every problem."""
    env = os.environ if env is None else env
    problems: list[str] = []
    listen = env.get("GOVSHARE_CONSOLE_LISTEN", "").strip() or ConsoleSettings.listen
    # The services' check (services.runtime.settings): uvicorn took a port over 65535 modulo 65536 and said it
    # ran on the port it was given.
    if problem := address_problem(listen):
        problems.append(f"GOVSHARE_CONSOLE_LISTEN must be host:port: {problem}")
    gateway = env.get("GOVSHARE_CONSOLE_GATEWAY", "").strip()
    if not gateway or address_problem(gateway):
        problems.append(f"GOVSHARE_CONSOLE_GATEWAY must be the edge's host:port (e.g. 127.0.0.1:50051), got "
                        f"{gateway!r}")
    timeout_raw = env.get("GOVSHARE_CALL_TIMEOUT_SECONDS", "").strip()
    timeout = ConsoleSettings.call_timeout_seconds
    if timeout_raw:
        try:
            timeout = float(timeout_raw)
            if not (timeout > 0 and math.isfinite(timeout)):  # nan and inf are floats too
                raise ValueError
        except ValueError:
            problems.append(f"GOVSHARE_CALL_TIMEOUT_SECONDS must be a positive number (got {timeout_raw!r})")
    # The words every process takes (services.runtime.settings): "0" or "off", which GOVSHARE_REFLECTION takes,
    # stopped the console at start.
    secure_cookie = parse_bool("GOVSHARE_CONSOLE_SECURE_COOKIE",
                               env.get("GOVSHARE_CONSOLE_SECURE_COOKIE", "").strip() or "true", problems)
    tls_cert = env.get("GOVSHARE_CONSOLE_TLS_CERT", "").strip()
    tls_key = env.get("GOVSHARE_CONSOLE_TLS_KEY", "").strip()
    if bool(tls_cert) != bool(tls_key):
        problems.append("GOVSHARE_CONSOLE_TLS_CERT and GOVSHARE_CONSOLE_TLS_KEY go together (both or neither)")
    gateway_ca = env.get("GOVSHARE_CONSOLE_GATEWAY_CA", "").strip()
    for name, path in (("GOVSHARE_CONSOLE_GATEWAY_CA", gateway_ca), ("GOVSHARE_CONSOLE_TLS_CERT", tls_cert),
                       ("GOVSHARE_CONSOLE_TLS_KEY", tls_key)):
        if path and not os.path.isfile(path):
            problems.append(f"{name}: no such file {path}")
    if holidays_file := env.get(workdays.HOLIDAYS_FILE_ENV, "").strip():  # the console counts working days left
        problems.extend(workdays.holidays_file_problems(holidays_file))
    oidc = _oidc(env, problems)
    log_level = env.get("GOVSHARE_LOG_LEVEL", "").strip().upper() or ConsoleSettings.log_level
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        problems.append(f"GOVSHARE_LOG_LEVEL={log_level!r}: expected DEBUG, INFO, WARNING or ERROR")
    redis_url, redis_name = _redis_url(env)
    if redis_url and (problem := redis_url_problem(redis_url)):
        # Named, never shown (it may hold a password): redis-py's ValueError traceback stopped the console at start.
        problems.append(f"{redis_name}: {problem}")
    # The platform's Redis under Sentinel (docs/capacity.md §5): the sessions follow its primary, as every service's
    # clients do; without this the console kept them in memory (no URL beside the sentinels) or called the host of
    # a URL that gives only the password and database.
    sentinel: dict[str, object] = {"redis_url": redis_url}
    parse_sentinels(env, sentinel, problems)
    redis_url = str(sentinel["redis_url"])
    settings = ConsoleSettings(
        log_level=log_level,
        listen=listen, gateway=gateway, gateway_ca=gateway_ca,
        session_idle_seconds=_int(env, "GOVSHARE_CONSOLE_SESSION_IDLE_SECONDS", 1800, 60, problems),
        call_timeout_seconds=timeout,
        page_size=_int(env, "GOVSHARE_CONSOLE_PAGE_SIZE", 20, 1, problems, MAX_PAGE_SIZE),
        deadline_warning_working_days=_int(env, "GOVSHARE_CONSOLE_DEADLINE_WARNING_DAYS", 2, 0, problems),
        secure_cookie=secure_cookie, tls_cert=tls_cert, tls_key=tls_key,
        redis_url=redis_url,
        client_address_header=env.get("GOVSHARE_CONSOLE_CLIENT_ADDRESS_HEADER", "").strip().lower(),
        **oidc)
    if problems:
        raise ConsoleSettingsError("; ".join(problems))
    return settings
