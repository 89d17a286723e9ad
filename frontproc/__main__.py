"""``python -m frontproc --config dept.yaml`` (also ``govshare frontproc``): check the configuration, then serve."""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import signal
import socket
import sys
from collections.abc import Sequence

import asyncpg

from frontproc.component import create_component, server_settings
from frontproc.config import ConfigError, FrontprocConfig, load
from frontproc.register import endpoint_problems, read_entry
from frontproc.store import CONNECT_TIMEOUT_SECONDS, CheckTimeout, check_resources
from frontproc.tls import RenewingCertificate
from govshare.catalog.v1 import catalog_pb2 as cat
from services.connection import public_url
from services.runtime import telemetry
from services.runtime.errors import dependency_failure, describe_outage
from services.runtime.server import start_server
from services.runtime.tls_renewal import TlsFiles

log = logging.getLogger("frontproc")

#: How long start-up waits for the department database before it gives up with a message (``--check`` does
#: not wait: it answers whether the database answers now).
DATABASE_WAIT_SECONDS = 60.0
#: Refusals waiting cannot fix (a wrong password or user, a database that does not exist): reported at once.
_REFUSALS = (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError,
             asyncpg.InvalidCatalogNameError)


class DatabaseUnreachable(Exception):
    """The department database did not answer, or refused the connection (the message says which, and where)."""


class CannotListen(Exception):
    """An address of the configuration this machine cannot listen on now (the message names the field)."""


def listen_problem(address: str) -> str | None:
    """Why this machine cannot listen on ``address`` (host:port) now, or None.

    gRPC binds with SO_REUSEPORT (the platform's services share a port between workers): a second 前置机 started
    on the port of one still running shared the platform's calls with it without a word, and a host that is not
    this machine's or does not resolve ended in gRPC's "Failed to bind" traceback. A plain bind says which.
    """
    host, _, port = address.rpartition(":")
    try:
        family, kind, proto, _, where = socket.getaddrinfo(host.strip("[]") or None, int(port),
                                                           type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        return f"cannot listen on {address}: {host} does not resolve ({exc.strerror})"
    with socket.socket(family, kind, proto) as sock:
        # As gRPC does: connections of a 前置机 stopped a moment ago, left in TIME_WAIT, do not hold the port.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(where)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (f"cannot listen on {address}: the port is in use (a 前置机 still running?): stop the "
                        "program listening there or choose another port")
            return f"cannot listen on {address} ({exc.strerror}: is {host} an address of this machine?)"
    return None


def _check_listen(config: FrontprocConfig) -> None:
    """CannotListen naming the first field whose address cannot be listened on (before anything is started)."""
    for name, address in (("listen", config.listen), ("health_listen", config.health_listen)):
        if address and (problem := listen_problem(address)):
            raise CannotListen(f"{config.path}: {name}: {problem}")


def _serve_metrics(config: FrontprocConfig) -> None:
    """Prometheus /metrics while serving; not for --check, which a data officer runs beside the 前置机 that holds
    the port (it ended in "Address already in use" there, as did a port another program holds, as a traceback)."""
    settings = server_settings(config)
    if not settings.metrics_port:
        return
    from services.runtime.server import _start_metrics

    try:
        _start_metrics(settings)
    except OSError as exc:
        raise CannotListen(f"{config.path}: metrics_port: cannot listen on {settings.metrics_address}:"
                           f"{settings.metrics_port} ({exc.strerror})") from None


def _why(error: BaseException) -> str:
    """The reason in a line, without the URL's password (asyncpg's messages name host, port, user, database)."""
    if isinstance(error, TimeoutError):
        return f"no answer within {CONNECT_TIMEOUT_SECONDS:g} s"
    if isinstance(error, FileNotFoundError):
        # A socket URL (host=/run/postgresql): "FileNotFoundError: [Errno 2] No such file or directory" read as a
        # file of the configuration missing.
        return describe_outage("postgresql", error)
    text = " ".join(str(error).split())[:200]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


async def connect(config: FrontprocConfig, wait_seconds: float) -> asyncpg.Connection:
    """A connection to the department database, retrying for ``wait_seconds`` (saying so in the log) while it
    does not answer; a refusal, or the wait running out, is DatabaseUnreachable naming the database."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    where = public_url(config.database_url)
    while True:
        try:
            return await asyncpg.connect(config.database_url, timeout=CONNECT_TIMEOUT_SECONDS)
        except asyncpg.ClientConfigurationError as exc:
            # A parameter of the URL the driver does not take (``?sslmode=bogus``): the file is to fix.
            raise ConfigError(f"{config.path}: database: the PostgreSQL driver refuses the URL ({_why(exc)})") \
                from None
        except _REFUSALS as exc:
            raise DatabaseUnreachable(f"{config.path}: the department database {where} refused the "
                                      f"connection ({_why(exc)})") from None
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            left = deadline - loop.time()
            if left < 1.0:
                raise DatabaseUnreachable(f"{config.path}: the department database {where} does not answer "
                                          f"({_why(exc)})") from None
            log.warning("the department database %s does not answer (%s); trying again for %.0f s", where,
                        _why(exc), left)
            await asyncio.sleep(1.0)


async def check(config: FrontprocConfig, wait_seconds: float = 0.0,
                entries: Sequence[tuple[str, cat.Entry]] = ()) -> None:
    """Every resource's SQL against the department database (ConfigError naming the line), and against the
    catalog ``entries`` (file, entry) the resources are registered by."""
    connection = await connect(config, wait_seconds)
    try:
        await check_resources(config, connection, entries)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        # The database restarting (or its host going away) while the check ran: a traceback ("InterfaceError:
        # connection is closed"), or, met while a statement was prepared, the configuration said to be invalid.
        if dependency_failure(exc) is None and not isinstance(exc, asyncpg.InterfaceError):
            raise
        connection.terminate()
        raise DatabaseUnreachable(f"{config.path}: the department database {public_url(config.database_url)} "
                                  f"stopped answering during the check ({_why(exc)}): run it again once the "
                                  "database answers") from None
    else:
        await connection.close()


async def run(config: FrontprocConfig) -> None:
    _check_listen(config)
    await check(config, DATABASE_WAIT_SECONDS)
    settings = server_settings(config)
    renewing = RenewingCertificate(TlsFiles.of(settings)).credentials() if settings.tls_enabled else None
    # The signals are taken before the server starts: taken after the "serving" line, a SIGTERM or SIGHUP sent on
    # seeing it (a supervisor, a test, an officer's script) found Python's default and ended the process undrained.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, _hung_up, config, stop)
    running = await start_server(settings, create_component(config), credentials=renewing)
    print(f"govshare frontproc: {config.department_name or config.department_code} serving "
          f"{', '.join(config.resources)} on port {running.port}", flush=True)
    await stop.wait()
    await running.stop(5.0)


def _hung_up(config: FrontprocConfig, stop: asyncio.Event) -> None:
    """SIGHUP (a terminal closed, or ``kill -HUP`` sent as a reload): drains and stops as on SIGTERM, saying why.

    Python's default for SIGHUP ended the process at once: the platform's calls in progress were cut (it took the
    endpoint for one that does not answer and rested it) and health never said NOT_SERVING. The configuration
    is read at start only, a changed dept.yaml taking a restart; the files that change in service (the platform's
    keys, database.url_file, secret_file, the TLS files) are read again by themselves."""
    log.warning("SIGHUP: draining and stopping, as on SIGTERM: %s is read at start only, so start the 前置机 "
                "again to apply a change to it (the public_keys_file, url_file, secret_file and TLS files are read "
                "again by themselves, with no signal)", config.path)
    stop.set()


def _plain_lines() -> None:
    """--check's warnings as lines an officer reads and copies from, not the log's JSON.

    In JSON, the advice's SQL came with every quote escaped (CREATE UNIQUE INDEX ON \\"mz\\".\\"dibao\\" …):
    pasted into psql as printed, it failed. The log's filters (personal numbers redacted) stay."""
    for handler in logging.getLogger().handlers:
        handler.setFormatter(logging.Formatter("govshare frontproc: %(levelname)s: %(message)s"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="govshare frontproc", description="Run a department's 前置机.")
    parser.add_argument("--config", required=True, help="the configuration file (YAML, see docs/frontproc.md)")
    parser.add_argument("--check", action="store_true", help="check the configuration and the SQL, then exit")
    parser.add_argument("--entry", action="append", default=[], metavar="ENTRY.json",
                        help="with --check: a catalog entry of a resource (as submit-entry takes it), checked "
                             "against the configuration and the columns")
    args = parser.parse_args(argv)
    if args.entry and not args.check:
        parser.error("--entry goes with --check")
    try:
        config = load(args.config)
        entries = [(path, read_entry(path)) for path in args.entry]
        if problems := [f"{path}: {problem}" for path, entry in entries
                        for problem in endpoint_problems(config, entry)]:
            raise ConfigError("the entries do not match the configuration:\n  - " + "\n  - ".join(problems))
    except ConfigError as exc:
        print(f"govshare frontproc: {exc}", file=sys.stderr)
        return 2
    telemetry.setup_logging("INFO", "frontproc")
    if args.check:
        _plain_lines()
    import uvloop

    try:
        if args.check:
            uvloop.run(check(config, entries=entries))
            count = len(config.resources)
            print(f"govshare frontproc: {args.config} is valid ({count} resource{'s' * (count != 1)})")
            return 0
        _serve_metrics(config)
        uvloop.run(run(config))
    except ConfigError as exc:
        print(f"govshare frontproc: {exc}", file=sys.stderr)
        return 2
    except (DatabaseUnreachable, CannotListen, CheckTimeout) as exc:
        print(f"govshare frontproc: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
