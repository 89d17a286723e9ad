"""What each layer of the query path costs, one layer at a time.

    python -m loadtest.layers [--duration 5] [--only bare,otel,runtime,proxy,proxy-traced,redis]

The benchmark says how far the platform is from the bare hop; this says where
the difference goes. Each variant is the bare echo server plus exactly one of
the things the platform's processes add, driven by the benchmark's generator;
the CPU milliseconds per call of the variant minus those of ``bare`` is that
layer's price:

* ``otel``          OpenTelemetry's grpc.aio server interceptor (1% sampling, no exporter)
* ``runtime``       the echo as a govshare component in services.runtime.server.start_server
                    (its own server spans, error mapping, per-RPC metrics, health, reflection)
* ``proxy``         a raw-bytes forwarding hop in front of the echo (what the gateway does, minus its logic)
* ``proxy-traced``  the same hop on a channel with OpenTelemetry's client interceptors (which the runtime dropped)
* ``redis``         one GET on the runtime's Redis client per call (the record-cache hit)
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
from pathlib import Path

import grpc

from loadtest import workloads
from loadtest.cpu import ProcessGroup
from loadtest.echo import METHOD, SERVICE, echo_handler
from loadtest.phases import LoadOptions, Target, run_phase
from services.arguments import positive

VARIANTS = ("bare", "otel", "runtime", "proxy", "proxy-traced", "redis")
#: A request of the size of the benchmark's cache-hit Query.
PAYLOAD = workloads.person_query("432501194911060455").SerializeToString()


class _EchoComponent:
    """The echo as a govshare component, so the runtime's server wraps it exactly as it wraps a service."""

    name = "echo"
    service_names = (SERVICE,)

    def register(self, server: grpc.aio.Server) -> None:
        server.add_generic_rpc_handlers((echo_handler(),))

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


def _forwarding_handler(call: grpc.aio.UnaryUnaryMultiCallable) -> grpc.GenericRpcHandler:
    async def forward(request: bytes, _context: grpc.aio.ServicerContext) -> bytes:
        return await call(request, timeout=5)

    return grpc.method_handlers_generic_handler(SERVICE, {"Echo": grpc.unary_unary_rpc_method_handler(forward)})


async def _serve_variant(variant: str, backend: str, redis_url: str) -> None:
    """Runs one variant until SIGTERM; prints "listening on <port>" when ready."""
    from services.runtime import telemetry

    telemetry.setup_tracing("layers")
    if variant == "runtime":
        from services.runtime.server import start_server
        from services.runtime.settings import Settings

        running = await start_server(Settings(component="catalog", listen="127.0.0.1:0"), _EchoComponent())
        server, port = running.server, running.port
    else:
        interceptors = []
        if variant == "otel":
            from opentelemetry.instrumentation.grpc import aio_server_interceptor

            interceptors.append(aio_server_interceptor())
        server = grpc.aio.server(interceptors=interceptors or None)
        if variant in ("proxy", "proxy-traced"):
            from services.runtime.clients import open_channel
            from services.runtime.settings import Settings

            if variant == "proxy-traced":  # the OpenTelemetry client interceptors the runtime no longer uses
                from opentelemetry.instrumentation.grpc import aio_client_interceptors

                channel = grpc.aio.insecure_channel(backend, interceptors=aio_client_interceptors())
            else:
                channel = open_channel(backend, Settings())
            server.add_generic_rpc_handlers((_forwarding_handler(channel.unary_unary(METHOD)),))
        elif variant == "redis":
            from services.runtime.cache import create_client

            client = create_client(redis_url)

            async def lookup(request: bytes, _context: grpc.aio.ServicerContext) -> bytes:
                await client.get("rec:layers:probe")
                return request

            server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
                SERVICE, {"Echo": grpc.unary_unary_rpc_method_handler(lookup)}),))
        else:
            server.add_generic_rpc_handlers((echo_handler(),))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
    print(f"listening on {port}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.stop(0)


async def _start(variant: str, backend: str = "", redis_url: str = "") -> tuple[asyncio.subprocess.Process, int]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "loadtest.layers", "--serve", variant, "--backend", backend, "--redis-url", redis_url,
        stdout=asyncio.subprocess.PIPE)
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 60)
    if not line.startswith(b"listening on "):
        process.kill()
        raise RuntimeError(f"variant {variant} did not start")
    return process, int(line.split()[-1])


async def measure(variant: str, options: LoadOptions, redis_url: str) -> tuple[float, float]:
    """Calls per second and server-side CPU ms per call of one variant (its processes only)."""
    processes = []
    try:
        if variant.startswith("proxy"):
            echo, echo_port = await _start("bare")
            processes.append(echo)
            front, port = await _start(variant, backend=f"127.0.0.1:{echo_port}")
            processes.append(front)
        else:
            server, port = await _start(variant, redis_url=redis_url)
            processes.append(server)
        target = Target(variant, f"127.0.0.1:{port}", METHOD, [PAYLOAD], ProcessGroup([p.pid for p in processes]))
        phase = await run_phase(target, options)
        return phase.throughput, phase.cpu_per_call * 1e3
    finally:
        for process in processes:
            process.terminate()
            await process.wait()


async def run(variants: list[str], duration: float) -> dict[str, tuple[float, float]]:
    from services.runtime.embedded import EmbeddedServers

    work = Path(tempfile.mkdtemp(prefix="gslayers-"))
    options = LoadOptions(duration=duration, warmup=1.0, work_dir=work)
    embedded = EmbeddedServers(work).start(postgres=False, redis=True) if "redis" in variants else None
    results: dict[str, tuple[float, float]] = {}
    try:
        for variant in variants:
            results[variant] = await measure(variant, options, embedded.redis_url if embedded else "")
            rate, cpu = results[variant]
            extra = f"  (+{cpu - results['bare'][1]:.3f} over bare)" if "bare" in results and variant != "bare" else ""
            print(f"{variant:14s} {rate:8,.0f} calls/s   {cpu:.3f} CPU ms/call{extra}", flush=True)
    finally:
        if embedded is not None:
            embedded.stop()
    return results


def _variants(text: str) -> list[str]:
    """--only's names, each one of VARIANTS (checked before any server starts)."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in VARIANTS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"{', '.join(unknown) or 'no variant'}: choose from {', '.join(VARIANTS)}")
    return names


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m loadtest.layers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=positive(float), default=5.0)
    parser.add_argument("--only", type=_variants, default=list(VARIANTS))
    parser.add_argument("--serve", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--backend", default="", help=argparse.SUPPRESS)
    parser.add_argument("--redis-url", default="", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.serve:
        import uvloop

        uvloop.run(_serve_variant(args.serve, args.backend, args.redis_url))
        return
    variants = list(args.only)
    if variants and variants[0] != "bare":
        variants.insert(0, "bare")
    asyncio.run(run(variants, args.duration))


if __name__ == "__main__":
    main()
