"""``python -m console`` (and ``govshare serve console``): the web console, served by uvicorn.

A bad setting stops it at once with one message (exit status 2), as every govshare process does.
"""

from __future__ import annotations

import sys

import uvicorn

from console.app import create_app
from console.settings import ConsoleSettingsError, load_console_settings
from services.runtime.telemetry import setup_logging


def main() -> None:
    try:
        settings = load_console_settings()
    except ConsoleSettingsError as exc:
        print(f"govshare console: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    # JSON lines with the trace id, identifiers redacted, like every other govshare process (a log collector
    # parsed every service's lines but the console's plain text). uvicorn's own loggers propagate to these
    # (log_config=None: uvicorn configures nothing of its own).
    setup_logging(settings.log_level, "console")
    # uvicorn's access log prints every URL; the console puts nothing personal in URLs, but query strings of
    # catalog searches are still the person's business: keep access lines out.
    # A factory, called by uvicorn inside the event loop it serves on: the app's gRPC channel belongs to the loop
    # it is made in, and one made here (before uvicorn's loop exists) failed every call, the sign-in first.
    # The server is made here, not by uvicorn.run, so that a renewed certificate can stop it as SIGTERM would
    # (should_exit): the container then starts the console again with the new files (exit status 0).
    server = uvicorn.Server(uvicorn.Config(
        lambda: create_app(settings, restart=lambda: setattr(server, "should_exit", True)), factory=True,
        host=settings.host, port=settings.port, access_log=False, ssl_certfile=settings.tls_cert or None,
        ssl_keyfile=settings.tls_key or None, proxy_headers=False, server_header=False, log_config=None,
        log_level=settings.log_level.lower()))
    server.run()
    if not server.started:
        raise SystemExit(3)  # uvicorn.run's exit status when the server could not start (a port in use)


if __name__ == "__main__":
    main()
