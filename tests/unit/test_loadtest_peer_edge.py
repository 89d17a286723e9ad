"""The benchmark's peer-behind-Envoy baseline: the bootstrap routes every call to the peer and does nothing else."""

from __future__ import annotations

from loadtest.peer_edge import bootstrap


def test_the_bare_edge_routes_everything_to_the_peer_over_http2_and_nothing_more() -> None:
    config = bootstrap(listen_port=1001, upstream_port=1002, admin_port=1003)
    (listener,) = config["static_resources"]["listeners"]
    assert listener["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 1001}
    (chain,) = listener["filter_chains"]
    manager = chain["filters"][0]["typed_config"]
    assert [f["name"] for f in manager["http_filters"]] == ["envoy.filters.http.router"]
    assert "access_log" not in manager and "tracing" not in manager
    (route,) = manager["route_config"]["virtual_hosts"][0]["routes"]
    assert route["match"] == {"prefix": "/"} and route["route"]["cluster"] == "peer"
    (cluster,) = config["static_resources"]["clusters"]
    endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    assert endpoint["address"]["socket_address"]["port_value"] == 1002
    options = cluster["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
    assert "http2_protocol_options" in options["explicit_http_config"]
    assert config["admin"]["address"]["socket_address"]["port_value"] == 1003
