"""``python -m frontproc --config dept.yaml`` (also ``govshare frontproc``): check the configuration, then serve."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

import asyncpg

from frontproc.component import create_component, server_settings
from frontproc.config import ConfigError, FrontprocConfig, load
from frontproc.store import check_resources
from services.runtime import telemetry
from services.runtime.server import start_server

#: How long start-up waits for the department database before it gives up with a message.
DATABASE_WAIT_SECONDS = 60.0


async def check(config: FrontprocConfig) -> None:
    """Every resource's SQL against the department database (ConfigError naming the line)."""
    deadline = asyncio.get_running_loop().time() + DATABASE_WAIT_SECONDS
    while True:
        try:
            connection = await asyncpg.connect(config.database_url, timeout=5)
            break
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            if asyncio.get_running_loop().time() > deadline:
                raise ConfigError(f"{config.path}: the department database does not answer "
                                  f"({type(exc).__name__})") from None
            await asyncio.sleep(1.0)
    try:
        await check_resources(config, connection)
    finally:
        await connection.close()


async def run(config: FrontprocConfig) -> None:
    await check(config)
    running = await start_server(server_settings(config), create_component(config))
    print(f"govshare frontproc: {config.department_name or config.department_code} serving "
          f"{', '.join(config.resources)} on port {running.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await running.stop(5.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="govshare frontproc", description="Run a department's 前置机.")
    parser.add_argument("--config", required=True, help="the configuration file (YAML, see docs/frontproc.md)")
    parser.add_argument("--check", action="store_true", help="check the configuration and the SQL, then exit")
    args = parser.parse_args(argv)
    try:
        config = load(args.config)
    except ConfigError as exc:
        print(f"govshare frontproc: {exc}", file=sys.stderr)
        return 2
    telemetry.setup_logging("INFO", "frontproc")
    settings = server_settings(config)
    if settings.metrics_port:
        from services.runtime.server import _start_metrics

        _start_metrics(settings)
    import uvloop

    try:
        if args.check:
            uvloop.run(check(config))
            print(f"govshare frontproc: {args.config} is valid ({len(config.resources)} resources)")
            return 0
        uvloop.run(run(config))
    except ConfigError as exc:
        print(f"govshare frontproc: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
