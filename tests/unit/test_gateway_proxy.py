"""The proxy's dispatch: public methods get their forwarding handler, everything else a refusal."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
import pytest

from gateway.authentication import Authenticator
from gateway.component import create_component
from gateway.limits import RateLimiter
from gateway.proxy import Proxy
from gateway.routing import PUBLIC_SERVICES, RoutingTable
from services.runtime.errors import ServiceError
from services.runtime.identity import AssertionSigner
from services.runtime.keys import PlatformKeys
from services.runtime.settings import Settings
from services.runtime.tokens import TokenVerifier


@dataclass
class Details:
    method: str


@pytest.fixture(scope="module")
def proxy(keys: PlatformKeys) -> Proxy:
    return Proxy(RoutingTable.from_descriptors(), Authenticator(TokenVerifier(keys.token_public_key)),
                 RateLimiter(10.0, 10), AssertionSigner(keys.internal_key.encode()), call_timeout=5.0)


def test_public_methods_are_registered_by_service_with_their_cardinality(proxy: Proxy) -> None:
    handlers = proxy.method_handlers()
    assert set(handlers) == set(PUBLIC_SERVICES)
    export = handlers["govshare.query.v1.QueryService"]["Export"]
    query = handlers["govshare.query.v1.QueryService"]["Query"]
    assert export.unary_stream is not None and export.unary_unary is None
    assert query.unary_unary is not None and query.unary_stream is None
    # Raw bytes both ways: nothing is parsed.
    assert all(handler.request_deserializer is None and handler.response_serializer is None
               for methods in handlers.values() for handler in methods.values())


def test_the_generic_handler_serves_public_methods_too(proxy: Proxy) -> None:
    handler = proxy.service(Details("/govshare.catalog.v1.CatalogService/GetEntry"))  # type: ignore[arg-type]
    assert handler is proxy.method_handlers()["govshare.catalog.v1.CatalogService"]["GetEntry"]


@pytest.mark.parametrize("method", ["/govshare.provider.v1.ProviderService/Lookup", "/x.Y/Z",
                                    "/govshare.catalog.v1.CatalogService/Nope"])
def test_other_methods_get_a_refusal_that_accepts_any_call_shape(proxy: Proxy, method: str) -> None:
    handler = proxy.service(Details(method))  # type: ignore[arg-type]
    assert handler is not None and handler.stream_stream is not None


@pytest.mark.parametrize("method", ["", "/x", "x/y", "/x/y/z"])
def test_paths_that_are_not_grpc_methods_are_left_to_grpc(proxy: Proxy, method: str) -> None:
    assert proxy.service(Details(method)) is None  # type: ignore[arg-type]


def gateway_settings(keys: PlatformKeys, **overrides: object) -> Settings:
    values: dict[str, object] = dict(
        component="gateway", internal_key=keys.internal_key.encode(), token_public_key=keys.token_public_key,
        catalog_target="c:1", authorization_target="a:1", query_target="q:1", foundation_target="f:1",
        supervision_target="s:1", redis_url="redis://127.0.0.1:1")
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def test_the_component_announces_the_public_services(keys: PlatformKeys) -> None:
    component = create_component(gateway_settings(keys))
    assert component.name == "gateway"
    assert component.service_names == tuple(PUBLIC_SERVICES)


def test_the_component_refuses_to_start_without_targets_or_key(keys: PlatformKeys) -> None:
    with pytest.raises(ValueError, match="GOVSHARE_QUERY_TARGET"):
        create_component(gateway_settings(keys, query_target=""))
    with pytest.raises(ValueError, match="GOVSHARE_TOKEN_PUBLIC_KEY"):
        create_component(gateway_settings(keys, token_public_key=""))


async def test_before_start_calls_are_unavailable(keys: PlatformKeys) -> None:
    component = create_component(gateway_settings(keys))
    endpoint = component._proxy._endpoints["/govshare.catalog.v1.CatalogService/GetEntry"]
    with pytest.raises(ServiceError) as raised:
        endpoint.call(b"", timeout=1.0, metadata=())
    assert raised.value.code == grpc.StatusCode.UNAVAILABLE
    await component.start()
    try:
        assert isinstance(endpoint.call, grpc.aio.UnaryUnaryMultiCallable)
    finally:
        await component.stop()
    with pytest.raises(ServiceError):
        endpoint.call(b"", timeout=1.0, metadata=())
