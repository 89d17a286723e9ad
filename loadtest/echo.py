"""The bare gRPC echo server: the physical limit of one Python gRPC hop.

One process, grpc.aio on uvloop, one generic handler that returns the request
bytes as they came (no serializer, no protobuf work, no interceptors). Whatever
the platform spends beyond this per call is its own doing.

    python -m loadtest.echo [--port 0]      prints "listening on <port>" when ready
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

import grpc
import uvloop

SERVICE = "govshare.loadtest.v1.Echo"
METHOD = f"/{SERVICE}/Echo"


async def _echo(request: bytes, _context: grpc.aio.ServicerContext) -> bytes:
    return request


def echo_handler() -> grpc.GenericRpcHandler:
    """Request and response stay bytes: with no (de)serializer, grpc hands the raw payload through."""
    return grpc.method_handlers_generic_handler(SERVICE, {"Echo": grpc.unary_unary_rpc_method_handler(_echo)})


async def serve(host: str = "127.0.0.1", port: int = 0) -> None:
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers((echo_handler(),))
    bound = server.add_insecure_port(f"{host}:{port}")
    await server.start()
    print(f"listening on {bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(0)


class EchoProcess:
    """The echo server as a child process (what the benchmark measures: its own process, its own CPU)."""

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.port = port

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    @classmethod
    async def start(cls, wait_seconds: float = 30.0) -> EchoProcess:
        process = await asyncio.create_subprocess_exec(sys.executable, "-m", "loadtest.echo", "--port", "0",
                                                       stdout=asyncio.subprocess.PIPE)
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), wait_seconds)
        if not line.startswith(b"listening on "):
            process.kill()
            raise RuntimeError(f"the echo server did not start (said {line!r})")
        return cls(process, int(line.split()[-1]))

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtest.echo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed on start)")
    args = parser.parse_args(argv)
    uvloop.run(serve(args.host, args.port))
    sys.exit(0)


if __name__ == "__main__":
    main()
