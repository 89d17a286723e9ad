"""A service is ready only when it can answer: health says NOT_SERVING while it would refuse every token.

A process that starts while the authorization service does not answer cannot load the business systems'
states, so it refuses every token-bearing call UNAVAILABLE (fail closed). Its health must say so, or a
Kubernetes readiness probe and the edge's health checks send it calls it can only refuse; it turns SERVING by
itself once the states load.
"""

from __future__ import annotations

import asyncio

import grpc
import pytest
from free_ports import free_port
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.authorization.component import create_component as create_authorization
from services.catalog.component import create_component as create_catalog
from services.runtime.server import start_server
from services.runtime.settings import Settings

pytestmark = pytest.mark.asyncio


async def _health(port: int) -> int:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        return reply.status


async def _until_serving(port: int, bound: float = 60.0) -> int:
    """Watches the health until SERVING (bounded: the states' reload backs off to 5 s between attempts)."""
    status = health_pb2.HealthCheckResponse.UNKNOWN
    async with asyncio.timeout(bound), grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        async for reply in health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest()):
            status = reply.status
            if status == health_pb2.HealthCheckResponse.SERVING:
                break
    return status


async def test_a_service_whose_states_cannot_load_is_not_serving_until_they_do(base_settings: Settings) -> None:
    authorization_port, catalog_port = free_port(), free_port()
    targets = {"authorization_target": f"127.0.0.1:{authorization_port}",
               "catalog_target": f"127.0.0.1:{catalog_port}"}
    catalog_settings = base_settings.with_overrides(component="catalog", **targets)
    catalog = await start_server(catalog_settings.with_overrides(listen=f"127.0.0.1:{catalog_port}"),
                                 create_catalog(catalog_settings))
    authorization = None
    try:
        assert await _health(catalog.port) == health_pb2.HealthCheckResponse.NOT_SERVING

        own = base_settings.with_overrides(component="authorization", jwks_listen="127.0.0.1:0", **targets)
        authorization = await start_server(own.with_overrides(listen=f"127.0.0.1:{authorization_port}"),
                                           create_authorization(own))
        assert await _until_serving(catalog.port) == health_pb2.HealthCheckResponse.SERVING
    finally:
        await catalog.stop(grace=1)
        if authorization is not None:
            await authorization.stop(grace=1)


async def test_a_service_that_loads_its_states_at_start_is_serving_when_start_returns(
        base_settings: Settings) -> None:
    authorization_port = free_port()
    own = base_settings.with_overrides(component="authorization", jwks_listen="127.0.0.1:0",
                                       authorization_target=f"127.0.0.1:{authorization_port}")
    authorization = await start_server(own.with_overrides(listen=f"127.0.0.1:{authorization_port}"),
                                       create_authorization(own))
    try:
        assert await _health(authorization.port) == health_pb2.HealthCheckResponse.SERVING
    finally:
        await authorization.stop(grace=1)
