"""How long a revocation takes to reach every query replica, under load.

Query replicas cache decisions in process; a revocation publishes an event that
each replica applies (DESIGN "Decisions"). To see *every* replica, probes talk to
the query service directly over many separate connections (SO_REUSEPORT spreads
connections over the worker processes, so with 8 connections per worker a
given worker is missed with probability below 0.04%), signing the caller's identity as
the gateway would, and a few more go through the gateway itself. Each probe
first queries until the grant's decision is cached, then keeps querying; the
propagation time is the last probe's first refusal after RevokeGrant returned.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import grpc

from services.runtime.errors import details_of

PROBE_INTERVAL_SECONDS = 0.005
WARM_SECONDS = 1.5
GIVE_UP_SECONDS = 40.0


@dataclass
class Probe:
    """One connection asking the same question over and over."""

    name: str
    target: str
    metadata: tuple[tuple[str, str], ...]
    answered: int = 0
    refused_before_revocation: int = 0
    first_refusal: float | None = None
    refusal: str = ""
    #: Answers after a refusal: a replica that forgot the revocation again.
    answers_after_refusal: int = 0


@dataclass
class RevocationResult:
    propagation_seconds: float | None
    revoke_call_seconds: float
    probes: list[Probe] = field(default_factory=list)

    @property
    def every_probe_refused(self) -> bool:
        return all(probe.first_refusal is not None for probe in self.probes)

    def summary(self) -> dict[str, object]:
        return {"propagation_seconds": self.propagation_seconds, "revoke_call_seconds": self.revoke_call_seconds,
                "every_probe_refused": self.every_probe_refused,
                "probes": [{"name": p.name, "answered": p.answered, "refusal": p.refusal,
                            "refused_before_revocation": p.refused_before_revocation,
                            "answers_after_refusal": p.answers_after_refusal} for p in self.probes]}


def _refusal_reason(error: grpc.aio.AioRpcError) -> str:
    info, _ = details_of(error)
    return f"{error.code().name}/{info.reason}" if info is not None else error.code().name


async def _run_probe(probe: Probe, request: bytes, method: str, revoked: asyncio.Event,
                     stop: asyncio.Event) -> None:
    options = [("grpc.use_local_subchannel_pool", 1)]
    async with grpc.aio.insecure_channel(probe.target, options=options) as channel:
        call = channel.unary_unary(method)
        while not stop.is_set():
            try:
                await call(request, metadata=probe.metadata, timeout=5)
            except grpc.aio.AioRpcError as error:
                if error.code() != grpc.StatusCode.PERMISSION_DENIED:
                    raise
                if not revoked.is_set():
                    probe.refused_before_revocation += 1
                elif probe.first_refusal is None:
                    probe.first_refusal = time.perf_counter()
                    probe.refusal = _refusal_reason(error)
            else:
                probe.answered += 1
                if probe.first_refusal is not None:
                    probe.answers_after_refusal += 1
            if revoked.is_set() and probe.first_refusal is not None and \
                    time.perf_counter() - probe.first_refusal > 0.5:
                return  # refused, and stayed refused for half a second
            await asyncio.sleep(PROBE_INTERVAL_SECONDS)


async def measure_revocation(probes: list[Probe], request: bytes, method: str,
                             revoke: Callable[[], Awaitable[object]]) -> RevocationResult:
    """Warms every probe, revokes, and waits until every probe has been refused (or gives up)."""
    revoked, stop = asyncio.Event(), asyncio.Event()
    tasks = [asyncio.ensure_future(_run_probe(probe, request, method, revoked, stop))
             for probe in probes]
    await asyncio.sleep(WARM_SECONDS)
    not_warm = [probe.name for probe in probes if probe.answered == 0]
    if not_warm:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise RuntimeError(f"probes {', '.join(not_warm)} were never answered before the revocation: the grant "
                           f"did not take effect")
    sent = time.perf_counter()
    await revoke()
    returned = time.perf_counter()
    revoked.set()
    done, pending = await asyncio.wait(tasks, timeout=GIVE_UP_SECONDS)
    stop.set()
    await asyncio.gather(*pending, return_exceptions=True)
    for task in done:
        if task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
    refusals = [probe.first_refusal for probe in probes]
    propagation = None if any(r is None for r in refusals) else max(0.0, max(refusals) - returned)  # type: ignore
    return RevocationResult(propagation_seconds=propagation, revoke_call_seconds=returned - sent, probes=probes)
