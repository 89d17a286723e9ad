"""The hand-built peer: the service a department would write instead of using the platform.

One process, grpc.aio on uvloop, serving the platform's own ``QueryService/Query``
method (so the benchmark sends it the very requests it sends the platform): it
parses the request, does one asyncpg point lookup of the key in the same
PostgreSQL and the same ``foundation.population`` table the platform's provider
reads, and returns the requested items. No authentication, authorization, audit,
cache, masking or tracing: whatever the platform spends beyond this per call is
the price of those.

    GOVSHARE_DATABASE_URL=postgresql://… python -m loadtest.peer [--port 0]
        prints "listening on <port>" when ready (the URL is read from the environment,
        not the command line, where every process of the machine could read it)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys

import asyncpg
import grpc
import uvloop

from govshare.query.v1 import query_pb2
from loadtest.echo import EchoProcess

SERVICE = "govshare.query.v1.QueryService"
METHOD = f"/{SERVICE}/Query"
#: The items a department's own population service would return, as text (dates in ISO form).
ITEMS = ("citizen_id", "name", "sex", "ethnicity", "birth_date", "address", "address_region_code", "status")
LOOKUP = ("SELECT citizen_id, name, sex, ethnicity, birth_date::text AS birth_date, address, address_region_code, "
          "status FROM foundation.population WHERE citizen_id = $1")
POOL_SIZE = 10
DATABASE_URL_VARIABLE = "GOVSHARE_DATABASE_URL"


class PopulationLookup:
    """The whole service: one primary-key lookup per call."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def query(self, request: query_pb2.QueryRequest, context: grpc.aio.ServicerContext
                    ) -> query_pb2.QueryResponse:
        row = await self._pool.fetchrow(LOOKUP, request.key)
        if row is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such person")
        wanted = request.items or ITEMS
        return query_pb2.QueryResponse(values={item: row[item] for item in wanted
                                               if item in ITEMS and row[item] is not None})


def peer_handler(lookup: PopulationLookup) -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler(SERVICE, {"Query": grpc.unary_unary_rpc_method_handler(
        lookup.query, request_deserializer=query_pb2.QueryRequest.FromString,
        response_serializer=query_pb2.QueryResponse.SerializeToString)})


async def start_peer(database_url: str, host: str = "127.0.0.1", port: int = 0
                     ) -> tuple[grpc.aio.Server, asyncpg.Pool, int]:
    """The peer serving on ``host:port`` (0: a free port): the server, its pool, and the bound port."""
    pool = await asyncpg.create_pool(database_url, min_size=POOL_SIZE, max_size=POOL_SIZE)
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers((peer_handler(PopulationLookup(pool)),))
    bound = server.add_insecure_port(f"{host}:{port}")
    await server.start()
    return server, pool, bound


async def serve(database_url: str, host: str = "127.0.0.1", port: int = 0) -> None:
    server, pool, bound = await start_peer(database_url, host, port)
    print(f"listening on {bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(0)
    await pool.close()


class PeerProcess(EchoProcess):
    """The peer as a child process (the benchmark counts its CPU, and PostgreSQL's, apart)."""

    @classmethod
    async def start(cls, wait_seconds: float = 30.0, database_url: str = "") -> PeerProcess:  # type: ignore[override]
        environment = {**os.environ, DATABASE_URL_VARIABLE: database_url}
        process = await asyncio.create_subprocess_exec(sys.executable, "-m", "loadtest.peer", "--port", "0",
                                                       stdout=asyncio.subprocess.PIPE, env=environment)
        assert process.stdout is not None
        try:
            line = await asyncio.wait_for(process.stdout.readline(), wait_seconds)
        except TimeoutError:
            line = b""
        if not line.startswith(b"listening on "):
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            raise RuntimeError(f"the hand-built peer did not start (said {line!r})")
        return cls(process, int(line.split()[-1]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtest.peer", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed on start)")
    args = parser.parse_args(argv)
    database_url = os.environ.get(DATABASE_URL_VARIABLE, "")
    if not database_url:
        raise SystemExit(f"set {DATABASE_URL_VARIABLE} to the PostgreSQL holding foundation.population")
    uvloop.run(serve(database_url, args.host, args.port))
    sys.exit(0)


if __name__ == "__main__":
    main()
