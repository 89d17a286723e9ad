"""The edge's Envoy configuration, rendered from the table of public methods and checked by Envoy itself."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from google.protobuf import descriptor_pool
from grpc_health.v1 import health_pb2  # noqa: F401  (the pool learns grpc.health.v1.Health)

from gateway.edge import (
    GRPC_FRAME_HEADER_BYTES,
    HOT_METHODS,
    OPENAPI_PATH,
    REST_REPLIES_FILTER,
    SMALL_MESSAGE_BYTES,
    TRANSCODER_FILTER,
    VERIFY_MESSAGE_BYTES,
    WITHHELD_PATH,
    _parameter_names,
    _time_parameters,
    message_limit,
    render,
    render_json,
    sampling_percent,
)
from gateway.envoy_process import envoy_binary, with_descriptor_set, write_config
from gateway.routing import (
    ANONYMOUS_METHODS,
    HEAVY_READS,
    INTERNAL_SERVICES,
    PUBLIC_SERVICES,
    Backend,
    RoutingTable,
)
from govshare.common.v1 import common_pb2
from govshare.query.v1 import query_pb2
from services.query.servicer import AUDIT_ID_HEADER
from services.runtime.settings import Settings
from services.supervision import report_client

SETTINGS = Settings(component="gateway", listen="0.0.0.0:50051", catalog_target="catalog:50051",
                    authorization_target="authorization:50051", query_target="query:50051",
                    foundation_target="foundation:50051", supervision_target="supervision:50051",
                    jwks_url="http://authorization:8081/.well-known/jwks.json",
                    metrics_port=9464, metrics_host="0.0.0.0", cors_origins=("https://console.example",),
                    descriptor_set="/etc/govshare/descriptors.pb", rate_limit_per_second=50, rate_limit_burst=100)

ROOT = Path(__file__).resolve().parents[2]


def _listener(config: dict, name: str) -> dict:
    return next(item for item in config["static_resources"]["listeners"] if item["name"] == name)


def _manager(config: dict) -> dict:
    return _listener(config, "edge")["filter_chains"][0]["filters"][0]["typed_config"]


def _json_logs(config: dict) -> list[dict]:
    """The edge's JSON access loggers (beside them, the stats loggers counting its refusals)."""
    return [log for log in _manager(config)["access_log"] if log["name"] == "envoy.access_loggers.stdout"]


def _filter(config: dict, name: str) -> dict:
    return next(item["typed_config"] for item in _manager(config)["http_filters"] if item["name"] == name)


def test_envoy_accepts_the_rendered_configuration(tmp_path: Path) -> None:
    path = tmp_path / "envoy.json"
    settings = with_descriptor_set(SETTINGS.with_overrides(descriptor_set=""), tmp_path)
    path.write_text(render_json(settings, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}))
    done = subprocess.run([envoy_binary(), "--mode", "validate", "-c", str(path), "--disable-hot-restart"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_every_public_method_is_routed_to_its_backend_and_nothing_else() -> None:
    routes = _manager(render(SETTINGS, {}))["route_config"]["virtual_hosts"][0]["routes"]
    routed = {route["match"]["path"]: route["route"]["cluster"] for route in routes
              if "path" in route["match"] and "route" in route}
    table = RoutingTable.from_descriptors()
    assert routed == {route.method: route.backend.value for route in table}
    refused = {route["match"].get("prefix") for route in routes if "direct_response" in route}
    assert {f"/{service}/" for service in INTERNAL_SERVICES} <= refused
    assert not any(path.startswith(tuple(f"/{service}/" for service in INTERNAL_SERVICES)) for path in routed)


def test_the_online_queries_routes_come_before_every_other_methods() -> None:
    """Envoy tries routes in order, and a Query met every method's routes before its own (about 200, a header
    match or two each). The hot methods' routes now follow only the checks every call gets."""
    routes = _manager(render(SETTINGS, {}))["route_config"]["virtual_hosts"][0]["routes"]
    table = {route.method for route in RoutingTable.from_descriptors()}
    assert set(HOT_METHODS) <= table
    in_order = [route["match"]["path"] for route in routes if route["match"].get("path") in table]
    first = list(dict.fromkeys(in_order))[:len(HOT_METHODS)]
    assert sorted(first) == sorted(HOT_METHODS)


def test_the_edge_times_a_unary_calls_deadline_and_leaves_a_streams_to_the_client_and_backend() -> None:
    """A stream's rows may already have gone out when the client's deadline passes: the edge, timing it too,
    could then only reset the stream, and the client often read INTERNAL "RST_STREAM with error code 2" instead
    of DEADLINE_EXCEEDED. A stream is only capped at the edge (STREAM_TIMEOUT_SECONDS)."""
    routes = _manager(render(SETTINGS, {}))["route_config"]["virtual_hosts"][0]["routes"]
    durations = {route["match"]["path"]: route["route"]["max_stream_duration"] for route in routes
                 if "path" in route["match"] and "route" in route}
    table = RoutingTable.from_descriptors()
    streams = {route.method for route in table if route.server_streaming}
    assert "/govshare.query.v1.QueryService/Export" in streams
    for method in streams:
        assert durations[method] == {"max_stream_duration": "3600s"}, method
    for method in durations.keys() - streams:
        assert durations[method]["grpc_timeout_header_max"] == "3600s", method


def test_a_report_without_a_client_deadline_may_take_as_long_as_govshare_report_waits() -> None:
    """A yearly report as PDF takes seconds to render (2 to 3 s for the demo platform here, once over 5 s on a busy
    machine): a REST caller, which sends no grpc-timeout, got 504 DEADLINE_EXCEEDED from POST /v1/reports:generate
    after the edge's 5 s, where
    ``govshare report`` waits 120 s. GenerateReport's route allows what the command waits; every other unary
    call keeps the edge's default."""
    routes = _manager(render(SETTINGS, {}))["route_config"]["virtual_hosts"][0]["routes"]
    durations = {route["match"]["path"]: route["route"]["max_stream_duration"]["max_stream_duration"]
                 for route in routes if "path" in route["match"] and "route" in route}
    report = "/govshare.supervision.v1.SupervisionService/GenerateReport"
    assert durations[report] == f"{report_client.TIMEOUT_SECONDS}s"
    streams = {route.method for route in RoutingTable.from_descriptors() if route.server_streaming}
    assert {durations[method] for method in durations.keys() - streams - {report}} == {"5s"}


def test_without_a_supervision_target_its_service_answers_unavailable_and_the_rest_is_routed(
        tmp_path: Path) -> None:
    settings = SETTINGS.with_overrides(supervision_target="")
    config = render(settings, {})
    routes = _manager(config)["route_config"]["virtual_hosts"][0]["routes"]
    service = "govshare.supervision.v1.SupervisionService"
    # (and its twin for a browser of an allowed origin, which carries the CORS headers)
    [answered] = [route for route in routes if route["match"].get("prefix") == f"/{service}/"
                  and route["direct_response"]["status"] == 503 and "headers" not in route["match"]]
    assert answered["direct_response"]["body"]["inline_string"] == (
        f"{service} is not deployed here (GOVSHARE_SUPERVISION_TARGET is not set)")
    # Before any route that could catch its methods, and no route or cluster names the missing backend.
    assert routes.index(answered) < min(index for index, route in enumerate(routes) if "route" in route)
    assert not [route for route in routes if route.get("route", {}).get("cluster") == Backend.SUPERVISION.value]
    assert Backend.SUPERVISION.value not in {cluster["name"] for cluster in config["static_resources"]["clusters"]}
    routed = {route["match"]["path"] for route in routes if "path" in route["match"] and "route" in route}
    assert routed == {route.method for route in RoutingTable.from_descriptors() if route.backend != Backend.SUPERVISION}
    path = tmp_path / "envoy.json"
    path.write_text(render_json(with_descriptor_set(settings.with_overrides(descriptor_set=""), tmp_path), {}))
    done = subprocess.run([envoy_binary(), "--mode", "validate", "-c", str(path), "--disable-hot-restart"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_a_service_added_to_the_table_is_routed_authenticated_counted_and_transcoded() -> None:
    services = {**PUBLIC_SERVICES, "grpc.health.v1.Health": Backend.QUERY}
    config = render(SETTINGS, {}, table=RoutingTable.from_descriptors(services))
    routes = _manager(config)["route_config"]["virtual_hosts"][0]["routes"]
    assert {"path": "/grpc.health.v1.Health/Check"} in [route["match"] for route in routes]
    rules = _filter(config, "envoy.filters.http.jwt_authn")["rules"]
    assert {"match": {"prefix": "/grpc.health.v1.Health/"}, "requires": {"provider_name": "govshare"}} in rules
    stats = _filter(config, "envoy.filters.http.grpc_stats")["individual_method_stats_allowlist"]["services"]
    assert "Check" in next(entry["method_names"] for entry in stats if entry["name"] == "grpc.health.v1.Health")
    assert "grpc.health.v1.Health" in _filter(config, "envoy.filters.http.grpc_json_transcoder")["services"]


def test_health_is_routed_by_the_service_asked_about_and_no_other_call_runs_the_script() -> None:
    """The Lua filter is off by default and set on the health route alone, so a Query never pays for it; the
    routes it sends calls on to come first and name every backend but the companion. (A CORS preflight the edge
    refuses 403 runs a script of its own that keeps the refusal's status for the access log; it is no call.)"""
    config = render(SETTINGS, {})
    lua = next(item for item in _manager(config)["http_filters"] if item["name"] == "envoy.filters.http.lua")
    assert lua["disabled"] is True
    routes = _manager(config)["route_config"]["virtual_hosts"][0]["routes"]
    scripted = [route for route in routes if "envoy.filters.http.lua" in route.get("typed_per_filter_config", {})]
    preflights = [route for route in scripted if {"name": ":method", "string_match": {"exact": "OPTIONS"}}
                  in route["match"].get("headers", [])]
    assert preflights and all(route["direct_response"]["status"] == 403 for route in preflights), preflights
    scripted = [route for route in scripted if route not in preflights]
    assert [route["match"]["prefix"] for route in scripted] == ["/grpc.health.v1.Health/"]
    script = scripted[0]["typed_per_filter_config"]["envoy.filters.http.lua"]["config"]["source_code"]
    assert '["govshare.query.v1.QueryService"] = "query"' in script["inline_string"]
    assert "govshare.authorization.v1.TokenService" not in script["inline_string"]
    by_header = {route["match"]["headers"][-1]["string_match"]["exact"]: route["route"]["cluster"]
                 for route in routes[:routes.index(scripted[0])]
                 if route["match"].get("prefix") == "/grpc.health.v1.Health/"}
    assert by_header == {backend.value: backend.value for backend in Backend if backend != Backend.AUTHORIZATION}


def test_the_rest_replies_script_runs_on_rest_calls_only() -> None:
    """The REST replies' script (413 for a message over the limit) is off by default and on only for the routes a
    REST URL meets before the transcoder maps it (the catch-all, and the browsers' REST route with its twin): no
    gRPC method's route enables it, so a gRPC call never pays for it."""
    config = render(SETTINGS, {})
    names = [item["name"] for item in _manager(config)["http_filters"]]
    script = next(item for item in _manager(config)["http_filters"] if item["name"] == REST_REPLIES_FILTER)
    assert script["disabled"] is True and names.index(REST_REPLIES_FILTER) < names.index(TRANSCODER_FILTER)
    routes = _manager(config)["route_config"]["virtual_hosts"][0]["routes"]
    enabled = [route for route in routes if REST_REPLIES_FILTER in route.get("typed_per_filter_config", {})]
    assert {route["match"]["prefix"] for route in enabled} == {"/", "/v1/"}
    assert not [route for route in enabled if "path" in route["match"] or ("route" in route
                and route["route"]["cluster"] != Backend.AUTHORIZATION.value)]
    assert "MESSAGE_TOO_LARGE" in script["typed_config"]["default_source_code"]["inline_string"]


def test_only_the_anonymous_methods_pass_without_a_token() -> None:
    rules = _filter(render(SETTINGS, {}), "envoy.filters.http.jwt_authn")["rules"]
    assert {rule["match"]["path"] for rule in rules if "requires" not in rule} == set(ANONYMOUS_METHODS)
    assert {rule["match"]["prefix"] for rule in rules if "requires" in rule} == {f"/{s}/" for s in PUBLIC_SERVICES}


def test_verified_tokens_are_cached_by_envoy() -> None:
    """Without the cache Envoy verifies the EdDSA signature and parses the token on every call (~0.05 ms of
    the edge's CPU per call, docs/performance.md); expiry is still checked on every cached lookup."""
    provider = _filter(render(SETTINGS, {}), "envoy.filters.http.jwt_authn")["providers"]["govshare"]
    assert provider["jwt_cache_config"]["jwt_cache_size"] >= 1000


def test_the_edge_fetches_the_jwks_again_in_the_background_every_ten_seconds() -> None:
    """Envoy fetches no JWKS on an unknown kid, and fetched it every 300 s: after authorization published a new key
    (the leaked-key runbook restarts it with the new key alone) every edge refused the new key's tokens ("Jwks
    doesn't have key to match kid") for up to 5 minutes. It fetches every 10 s, in the background (async_fetch:
    tests/integration/test_gateway.py checks that a running edge takes a new key so and keeps its keys while the
    JWKS does not answer)."""
    remote = _filter(render(SETTINGS, {}), "envoy.filters.http.jwt_authn")["providers"]["govshare"]["remote_jwks"]
    assert remote["cache_duration"] == "10s" and "async_fetch" in remote


def test_client_identity_and_trace_headers_are_removed_first() -> None:
    [mutation] = _manager(render(SETTINGS, {}))["early_header_mutation_extensions"]
    mutations = mutation["typed_config"]["mutations"]
    assert {"remove_on_match": {"key_matcher": {"prefix": "x-govshare-"}}} in mutations
    assert {"remove": "traceparent"} in mutations and {"remove": "tracestate"} in mutations
    # The caller's own deadline, which Envoy replaces in a stream's grpc-timeout by its cap: a client's value is
    # dropped before the edge's copy is added.
    copied = {"append": {"header": {"key": "govshare-caller-timeout", "value": "%REQ(grpc-timeout)%"},
                         "append_action": "ADD_IF_ABSENT", "keep_empty_value": False}}
    assert mutations.index({"remove": "govshare-caller-timeout"}) < mutations.index(copied)
    # The address the edge saw, which authorization counts failed sign-ins against: a client's value is dropped.
    seen = {"append": {"header": {"key": "govshare-client-address",
                                  "value": "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"},
                       "append_action": "OVERWRITE_IF_EXISTS_OR_ADD", "keep_empty_value": False}}
    assert mutations.index({"remove": "govshare-client-address"}) < mutations.index(seen)


def test_the_rate_limit_follows_the_settings_and_answers_resource_exhausted() -> None:
    limit = _filter(render(SETTINGS, {}), "envoy.filters.http.local_ratelimit")
    assert limit["rate_limited_as_resource_exhausted"] is True
    assert limit["always_consume_default_token_bucket"] is False
    bucket = limit["descriptors"][0]["token_bucket"]
    assert bucket["max_tokens"] == 100
    assert bucket["tokens_per_fill"] / float(bucket["fill_interval"].rstrip("s")) == pytest.approx(50)


def _rest_replies_with_reason(config: dict, reason: str) -> list[dict]:
    """The edge's own REST replies (JSON google.rpc.Status bodies) whose ErrorInfo has ``reason``."""
    return [mapper for mapper in _manager(config)["local_reply_config"]["mappers"]
            if any(detail.get("reason") == reason for detail in
                   mapper.get("body_format_override", {}).get("json_format", {}).get("details", []))]


@pytest.mark.parametrize("per_second, retry_after", [(50, "1"), (0.4, "3")])
def test_a_rest_caller_over_the_rate_limit_is_told_when_to_retry_in_retry_after(
        per_second: float, retry_after: str) -> None:
    """The 429's RetryInfo was only in the JSON body: Java's and .NET's HTTP clients and retry policies read the
    Retry-After header, and retried at once. Every 429 of the edge's (an allowed origin's too) carries the
    RetryInfo's delay there, in whole seconds rounded up, and so does its 503 for a backend gone; a page may
    read it (exposed to CORS)."""
    config = render(SETTINGS.with_overrides(rate_limit_per_second=per_second), {})
    limited = _rest_replies_with_reason(config, "RATE_LIMITED")
    gone = _rest_replies_with_reason(config, "BACKEND_UNAVAILABLE")
    assert len(limited) == 2 and gone  # an allowed origin's twin and the rest
    exposed = set()
    for mapper in limited + gone:
        headers = {item["header"]["key"]: item["header"]["value"] for item in mapper["headers_to_add"]}
        assert headers["retry-after"] == (retry_after if mapper in limited else "1"), mapper
        exposed.update(headers.get("access-control-expose-headers", "").split(", "))
    assert "retry-after" in exposed


def test_a_page_may_read_the_audit_id_of_its_batch_download() -> None:
    """An Export's audit id is in its answer's headers only (its rows carry none), and a page of an allowed origin
    could not read it: the header was not in Access-Control-Expose-Headers, on the preflight nor the answer."""
    config = render(SETTINGS, {})
    routes = _manager(config)["route_config"]["virtual_hosts"][0]["routes"]
    exposed = [value for route in routes if "response_headers_to_add" in route
               for value in [{item["header"]["key"]: item["header"]["value"]
                              for item in route["response_headers_to_add"]}.get("access-control-expose-headers")]
               if value]
    assert exposed and all(AUDIT_ID_HEADER in value.split(", ") for value in exposed)


def test_a_rest_caller_without_a_token_is_told_the_url_that_issues_one() -> None:
    """The 401 named only the gRPC method (TokenService/IssueToken), which a REST caller finds nowhere in
    /openapi.yaml; it names POST /v1/tokens beside it."""
    mappers = _manager(render(SETTINGS, {}))["local_reply_config"]["mappers"]
    refusals = [mapper["body_format_override"]["json_format"]["message"] for mapper in mappers
                if mapper.get("body_format_override", {}).get("json_format", {}).get("code") == 16]
    assert refusals and all("POST /v1/tokens" in message for message in refusals), refusals


def test_admin_stays_on_localhost_and_probes_use_the_ops_listener() -> None:
    config = render(SETTINGS, {})
    assert config["admin"]["address"]["socket_address"]["address"] == "127.0.0.1"
    ops = _listener(config, "ops")
    routes = ops["filter_chains"][0]["filters"][0]["typed_config"]["route_config"]["virtual_hosts"][0]["routes"]
    assert {route["match"].get("path") for route in routes} >= {"/ready", "/metrics"}


@pytest.mark.parametrize("env, percent", [
    ({}, 1.0),
    ({"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.05"}, 5.0),
    ({"OTEL_TRACES_SAMPLER": "always_on"}, 100.0),
    ({"OTEL_TRACES_SAMPLER": "always_off"}, 0.0),
])
def test_the_edge_samples_by_the_otel_variables(env: dict[str, str], percent: float) -> None:
    assert sampling_percent(env) == pytest.approx(percent)


def test_a_method_route_names_its_method_in_spans_and_samples_as_the_edge_does() -> None:
    """Each method's route tags the edge's span with its path, every other call with the withheld path (the URL as
    sent may hold an ID number or a search's words). A route's tracing replaces the manager's sampling, Envoy taking
    100 % for what it leaves unset: each carries the manager's ratio and no client's say."""
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4317", "OTEL_TRACES_SAMPLER_ARG": "0.05"}
    manager = _listener(render(SETTINGS, env), "edge")["filter_chains"][0]["filters"][0]["typed_config"]
    assert manager["tracing"]["custom_tags"] == [{"tag": tag, "literal": {"value": WITHHELD_PATH}}
                                                 for tag in ("http.url", "grpc.path")]
    traced = [route for route in manager["route_config"]["virtual_hosts"][0]["routes"] if "tracing" in route]
    assert {route["match"]["path"] for route in traced} >= {"/govshare.query.v1.QueryService/Query",
                                                             "/govshare.catalog.v1.CatalogService/GetEntry"}
    for route in traced:
        assert route["tracing"]["custom_tags"] == [{"tag": tag, "literal": {"value": route["match"]["path"]}}
                                                   for tag in ("http.url", "grpc.path")]
        assert route["tracing"]["random_sampling"] == {"numerator": 50_000, "denominator": "MILLION"}
        assert route["tracing"]["client_sampling"] == {"numerator": 0, "denominator": "MILLION"}


def _trace_cluster(config: dict) -> dict:
    return next(c for c in config["static_resources"]["clusters"] if c["name"] == "opentelemetry")


@pytest.mark.parametrize(("env", "alpn"), [
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "https://otel.example.gov.cn:4317"}, ["h2"]),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "https://otel.example.gov.cn:4318",
      "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, None),
])
def test_an_https_collector_is_reached_over_tls_as_the_services_reach_it(env: dict[str, str], alpn: list | None,
                                                                         tmp_path: Path) -> None:
    """The services' exporters speak TLS to an https:// OTLP endpoint; the edge's cluster had no transport socket,
    so it spoke plaintext to the TLS collector and every span the edge made was lost, without a word."""
    config = render(SETTINGS, env)
    tls = _trace_cluster(config)["transport_socket"]["typed_config"]
    assert tls["sni"] == "otel.example.gov.cn"
    common = tls["common_tls_context"]
    assert common["validation_context"]["trusted_ca"] == {"filename": "/etc/ssl/certs/ca-certificates.crt"}
    assert common["validation_context"]["match_typed_subject_alt_names"] == [
        {"san_type": "DNS", "matcher": {"exact": "otel.example.gov.cn"}}]
    assert common.get("alpn_protocols") == alpn
    path = tmp_path / "envoy.json"
    path.write_text(render_json(with_descriptor_set(SETTINGS.with_overrides(descriptor_set=""), tmp_path), env))
    done = subprocess.run([envoy_binary(), "--mode", "validate", "-c", str(path), "--disable-hot-restart"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_an_https_collectors_ca_is_the_one_the_otel_variables_name() -> None:
    config = render(SETTINGS, {"OTEL_EXPORTER_OTLP_ENDPOINT": "https://otel:4317",
                               "OTEL_EXPORTER_OTLP_CERTIFICATE": "/etc/otel/ca.crt"})
    tls = _trace_cluster(config)["transport_socket"]["typed_config"]
    assert tls["common_tls_context"]["validation_context"]["trusted_ca"] == {"filename": "/etc/otel/ca.crt"}


def _trace_exporter(config: dict) -> dict:
    manager = _manager(config)
    return manager["tracing"]["provider"]["typed_config"]


def test_the_edges_spans_carry_the_resource_attributes_the_services_spans_carry(tmp_path: Path) -> None:
    """The chart gives every process OTEL_RESOURCE_ATTRIBUTES (zone, namespace, pod, version and
    telemetry.resourceAttributes): the services' SDK put them on their spans, but the edge's tracer ignored them,
    so its spans (the root of every trace) said only service.name, whichever pod or zone made them."""
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317", "OTEL_SERVICE_NAME": "govshare-gateway",
           "OTEL_RESOURCE_ATTRIBUTES": "service.namespace=govshare, deployment.environment=intranet,"
                                       "k8s.pod.name=govshare-gateway-7d9f-abcde,service.name=ignored,bad,"
                                       "site=%E7%9C%81%E5%8E%85,deployment.environment=prod"}
    settings = with_descriptor_set(SETTINGS.with_overrides(descriptor_set=""), tmp_path)
    exporter = _trace_exporter(render(settings, env))
    assert exporter["service_name"] == "govshare-gateway"
    (detector,) = exporter["resource_detectors"]
    assert detector["name"] == "envoy.tracers.opentelemetry.resource_detectors.static_config"
    assert detector["typed_config"]["attributes"] == {
        "service.namespace": "govshare", "deployment.environment": "prod",
        "k8s.pod.name": "govshare-gateway-7d9f-abcde", "site": "省厅"}
    path = tmp_path / "envoy.json"
    path.write_text(render_json(settings, env))
    done = subprocess.run([envoy_binary(), "--mode", "validate", "-c", str(path), "--disable-hot-restart"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # Without the variable, no detector (and nothing else changes).
    assert "resource_detectors" not in _trace_exporter(render(SETTINGS, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"}))


def test_the_edge_sends_the_collector_the_headers_the_services_send() -> None:
    """OTEL_EXPORTER_OTLP_HEADERS (a collector's credential, docs/configuration.md) reached the services' exporters
    only: the edge sent its spans without it, and a collector that asks for one refused every span of the edge,
    the root of every trace."""
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "https://otel:4317",
           "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Basic%20Z292c2hhcmU6cw==,x-tenant=gov"}
    grpc_service = _trace_exporter(render(SETTINGS, env))["grpc_service"]
    assert grpc_service["initial_metadata"] == [{"key": "authorization", "value": "Basic Z292c2hhcmU6cw=="},
                                                {"key": "x-tenant", "value": "gov"}]
    http = _trace_exporter(render(SETTINGS, {**env, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                                             "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "api-key=k1"}))["http_service"]
    assert http["request_headers_to_add"] == [{"header": {"key": "api-key", "value": "k1"}}]
    assert "initial_metadata" not in _trace_exporter(render(SETTINGS, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4317"}))[
        "grpc_service"]


@pytest.mark.parametrize(("endpoint", "protocol", "port"), [
    ("http://otel-collector.observability.svc", "http/protobuf", 80),
    ("https://otel.example.gov.cn", "http/protobuf", 443),
    ("http://otel-collector.observability.svc:4318", "http/protobuf", 4318),
    ("http://otel-collector.observability.svc", "grpc", 443),
    ("https://otel.example.gov.cn", "grpc", 443),
    ("otel-collector:4317", "grpc", 4317),
])
def test_the_edge_reaches_the_collector_on_the_port_the_services_do(endpoint: str, protocol: str, port: int,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """With one OTEL_EXPORTER_OTLP_ENDPOINT naming no port, the services' exporters dialled the URL's port (80 or
    443; gRPC, which is handed the host alone, 443) and the edge 4318 or 4317: the edge's spans, the root of every
    trace, and the services' went to two ports, one of them nobody's. They dial one now, the SDK's."""
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": protocol}
    address = _trace_cluster(render(SETTINGS, env))["load_assignment"]["endpoints"][0]["lb_endpoints"][0]
    assert address["endpoint"]["address"]["socket_address"]["port_value"] == port
    if protocol == "http/protobuf":  # the SDK's own reading of the same variable
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        sent_to = urlsplit(OTLPSpanExporter()._endpoint)
        assert (sent_to.port or {"http": 80, "https": 443}[sent_to.scheme]) == port


def test_a_backend_host_that_appears_later_gets_calls_once_it_said_serving() -> None:
    """The chart's headless Services list a backend's pods before they are ready (so that with every pod NOT_SERVING
    the edge still reaches them and callers are told the dependency): a pod still starting would have had calls
    from the moment DNS named it. Each health-checked cluster now leaves a new host out until its first check."""
    clusters = render(SETTINGS, {})["static_resources"]["clusters"]
    checked = [c for c in clusters if "health_checks" in c]
    assert len(checked) >= 5
    for cluster in checked:
        assert cluster["common_lb_config"] == {"ignore_new_hosts_until_first_hc": True}, cluster["name"]


def test_an_http_collector_stays_plaintext() -> None:
    assert "transport_socket" not in _trace_cluster(render(SETTINGS, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4317"}))


def _selection(log: dict) -> dict | None:
    """A logger's choice of calls, without its choice of kind of call and of path (every logger has both:
    test_only_a_methods_path...)."""
    return next((f for f in log["filter"]["and_filter"]["filters"] if "or_filter" in f), None)


def test_the_access_log_keeps_failures_and_a_sample_of_successes() -> None:
    logs = _json_logs(render(SETTINGS.with_overrides(edge_access_log_percent=2.5), {}))
    # (method path, gRPC), (method path, gRPC-Web), (other path, gRPC), (other path, gRPC-Web)
    assert len(logs) == 4 and _selection(logs[0]) == _selection(logs[2]) and _selection(logs[1]) == _selection(logs[3])
    failed, http_error, sampled = _selection(logs[0])["or_filter"]["filters"]
    assert failed == {"grpc_status_filter": {"statuses": ["OK"], "exclude": True}}
    assert http_error["status_code_filter"]["comparison"]["op"] == "GE"
    assert sampled["runtime_filter"]["percent_sampled"] == {"numerator": 25_000, "denominator": "MILLION"}
    web_failed, *others = _selection(logs[1])["or_filter"]["filters"]
    assert web_failed["metadata_filter"]["matcher"]["value"] == {"double_match": {"range": {"start": 1, "end": 1000}}}
    assert others == [http_error, sampled]
    everything = _json_logs(render(SETTINGS.with_overrides(edge_access_log_percent=100.0), {}))
    assert [_selection(log) for log in everything] == [None] * 4
    failures = _json_logs(render(SETTINGS.with_overrides(edge_access_log_percent=0.0), {}))
    assert len(_selection(failures[0])["or_filter"]["filters"]) == 2
    assert Settings().edge_access_log_percent == 1.0


def test_no_tokens_or_bodies_in_access_logs() -> None:
    for log in _json_logs(render(SETTINGS, {})):
        fields = json.dumps(log["typed_config"]["log_format"]["json_format"]).lower()
        assert "authorization" not in fields and "body" not in fields


def _takes(log: dict, path: str) -> bool:
    """Whether a logger's path filter takes a call to ``path`` (Envoy's RE2 regexes match the whole value)."""
    (header,) = [f["header_filter"]["header"] for f in log["filter"]["and_filter"]["filters"] if "header_filter" in f]
    return (re.fullmatch(header["string_match"]["safe_regex"]["regex"], path) is not None) != header["invert_match"]


@pytest.mark.parametrize(("path", "method"), [
    ("/govshare.query.v1.QueryService/Query", True),
    ("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", True),
    ("/v1/resources/11010519491231002X/records", False),
    ("/11010519491231002X/Get", False),
    ("/govshare.query.v1.QueryService/Query?key=11010519491231002X", False),
])
def test_only_a_methods_path_is_logged(path: str, method: bool) -> None:
    """A URL no rule maps is the caller's text and may hold an ID number: its logger writes no path."""
    written = [log for log in _json_logs(render(SETTINGS, {})) if _takes(log, path)]
    assert len(written) == 2  # a gRPC and a gRPC-Web call's
    for log in written:
        logged = log["typed_config"]["log_format"]["json_format"]["path"]
        assert (logged == "%REQ_WITHOUT_QUERY(:PATH)%") is method and (logged == WITHHELD_PATH) is not method
    # Nor does the counter of the edge's refusals make it a label (an ID number, a series per request).
    counting = [log for log in _manager(render(SETTINGS, {}))["access_log"]
                if log["name"] == "envoy.access_loggers.stats" and _takes(log, path)]
    assert len(counting) == 2  # a gRPC and a gRPC-Web call's
    for log in counting:
        (counter,) = log["typed_config"]["counters"]
        labels = {tag["name"]: tag["value_format"] for tag in counter["stat"]["tags"]}
        assert labels["method"] == ("%REQ(:PATH)%" if method else "unknown"), labels


def test_python_m_gateway_render_prints_the_configuration_of_the_environment() -> None:
    import os
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOVSHARE_", "OTEL_"))}
    env.update({"GOVSHARE_LISTEN": "0.0.0.0:50051", "GOVSHARE_JWKS_URL": SETTINGS.jwks_url,
                "GOVSHARE_RATE_LIMIT_PER_SECOND": "7", **{f"GOVSHARE_{name.upper()}_TARGET": f"{name}:50051"
                                                          for name in ("catalog", "authorization", "query",
                                                                       "foundation")}})
    done = subprocess.run([sys.executable, "-m", "gateway", "--render"], env=env, capture_output=True, text=True,
                          timeout=60, check=True)
    config = json.loads(done.stdout)
    assert _filter(config, "envoy.filters.http.local_ratelimit")["token_bucket"]["tokens_per_fill"] == 7
    missing = subprocess.run([sys.executable, "-m", "gateway", "--render"],
                             env={k: v for k, v in env.items() if k != "GOVSHARE_JWKS_URL"}, capture_output=True,
                             text=True, timeout=60, check=False)
    assert missing.returncode == 2 and "GOVSHARE_JWKS_URL" in missing.stderr and "Traceback" not in missing.stderr


def test_render_out_writes_the_configuration_and_its_descriptor_set(tmp_path: Path) -> None:
    """What the chart's init container runs: the files Envoy reads, the descriptor set beside the configuration."""
    import os
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOVSHARE_", "OTEL_"))}
    env.update({"GOVSHARE_LISTEN": "0.0.0.0:50051", "GOVSHARE_JWKS_URL": SETTINGS.jwks_url,
                **{f"GOVSHARE_{name.upper()}_TARGET": f"{name}:50051"
                   for name in ("catalog", "authorization", "query", "foundation")}})
    subprocess.run([sys.executable, "-m", "services.cli", "render-edge", "--out", str(tmp_path)], env=env,
                   capture_output=True, text=True, timeout=60, check=True)
    config = json.loads((tmp_path / "envoy.json").read_text(encoding="utf-8"))
    transcoder = _filter(config, "envoy.filters.http.grpc_json_transcoder")
    assert transcoder["proto_descriptor"] == str(tmp_path / "descriptors.pb")
    assert (tmp_path / "descriptors.pb").stat().st_size > 0
    refused = subprocess.run([sys.executable, "-m", "gateway", "--out", str(tmp_path)], env=env,
                             capture_output=True, text=True, timeout=60, check=False)
    assert refused.returncode == 2 and "--out goes with --render" in refused.stderr


def test_a_config_directory_that_cannot_be_made_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`GOVSHARE_EDGE_CONFIG_DIR` under a file said only "govshare serve: PATH: Not a directory"."""
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("GOVSHARE_EDGE_CONFIG_DIR", str(tmp_path / "file" / "edge"))
    with pytest.raises(SystemExit) as info:
        write_config(SETTINGS)
    assert str(info.value).startswith(f"govshare gateway: GOVSHARE_EDGE_CONFIG_DIR='{tmp_path}/file/edge': cannot make")


def test_an_edge_given_a_config_directory_rewrites_it_at_every_start(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """``govshare up`` restarts a killed edge: each start must not leave another ~0.4 MB directory in /tmp
    (``run`` becomes Envoy, so nothing is left to remove a temporary one)."""
    directory = tmp_path / "data" / "edge"
    monkeypatch.setenv("GOVSHARE_EDGE_CONFIG_DIR", str(directory))
    first = write_config(SETTINGS)
    (directory / "envoy.json").chmod(0o644)
    second = write_config(SETTINGS)
    assert first == second == directory / "envoy.json"
    assert {p.name for p in directory.iterdir()} <= {"descriptors.pb", "envoy.json", "openapi.yaml"}
    assert directory.stat().st_mode & 0o777 == 0o700
    assert second.stat().st_mode & 0o777 == 0o600
    monkeypatch.delenv("GOVSHARE_EDGE_CONFIG_DIR")
    elsewhere = write_config(SETTINGS)
    assert elsewhere.parent != directory and elsewhere.parent.name.startswith("govshare-edge-")
    shutil.rmtree(elsewhere.parent)


def test_the_configuration_envoy_reads_at_each_start_is_written_compact(tmp_path: Path) -> None:
    """The file Envoy reads was indented for a reader: 1.5 MB, half of it blanks, written by the json module's
    pure-Python encoder (indent forces it) in ~0.5 s of every edge start. `--render` still prints it indented."""
    path = write_config(SETTINGS.with_overrides(descriptor_set=""), tmp_path, {})
    text = path.read_text(encoding="utf-8")
    assert json.loads(text) == render(SETTINGS.with_overrides(descriptor_set=str(tmp_path / "descriptors.pb")), {},
                                      secrets=tmp_path, openapi=tmp_path / "openapi.yaml")
    assert text.count("\n") == 1  # not indented: one line
    assert len(text) < 0.6 * len(render_json(SETTINGS, {})), len(text)


def test_heavy_reads_go_to_their_own_processes_when_a_deployment_has_them(tmp_path: Path) -> None:
    """Issue 14: listings and searches of catalog and query go to the heavy-read clusters when their targets are
    set (the Query path's processes never encode a page of 1,000 between Queries); every other method stays."""
    settings = SETTINGS.with_overrides(catalog_heavy_read_target="catalog-reads:50051",
                                       query_heavy_read_target="query-reads:50051")
    config = render(settings, {})
    routes = _manager(config)["route_config"]["virtual_hosts"][0]["routes"]
    routed = {route["match"]["path"]: route["route"]["cluster"] for route in routes
              if "path" in route["match"] and "route" in route}
    table = RoutingTable.from_descriptors()
    expected = {route.method: (f"{route.backend.value}-heavy-reads" if route.method in HEAVY_READS
                               else route.backend.value) for route in table}
    assert routed == expected
    assert routed["/govshare.query.v1.QueryService/Query"] == "query"
    assert routed["/govshare.query.v1.AuditService/ListAccesses"] == "query-heavy-reads"
    assert routed["/govshare.catalog.v1.CatalogService/SearchEntries"] == "catalog-heavy-reads"
    assert routed["/govshare.catalog.v1.CatalogService/GetEntry"] == "catalog"
    clusters = {cluster["name"]: cluster for cluster in config["static_resources"]["clusters"]}
    endpoint = clusters["query-heavy-reads"]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    assert endpoint["address"]["socket_address"] == {"address": "query-reads", "port_value": 50051}
    assert "health_checks" in clusters["catalog-heavy-reads"]
    # Without the targets, nothing changes (the services' own targets serve their heavy reads).
    plain = {route["match"]["path"]: route["route"]["cluster"]
             for route in _manager(render(SETTINGS, {}))["route_config"]["virtual_hosts"][0]["routes"]
             if "path" in route["match"] and "route" in route}
    assert plain == {route.method: route.backend.value for route in table}
    path = tmp_path / "envoy.json"
    path.write_text(render_json(with_descriptor_set(settings.with_overrides(descriptor_set=""), tmp_path), {}))
    done = subprocess.run([envoy_binary(), "--mode", "validate", "-c", str(path), "--disable-hot-restart"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_the_edge_answers_get_openapi_yaml_itself_with_the_generated_document() -> None:
    """The document is inlined (the chart's Envoy image holds no govshare files), served to GET and HEAD only, past
    the transcoder (which refuses paths naming no RPC), before the catch-all refusal, and fits Envoy's body limit."""
    manager = _manager(render(SETTINGS, {}))
    routes = manager["route_config"]["virtual_hosts"][0]["routes"]
    [served] = [route for route in routes if route["match"].get("path") == OPENAPI_PATH]
    assert served["match"]["headers"] == [{"name": ":method", "string_match": {"safe_regex": {"regex": "GET|HEAD"}}}]
    assert served["direct_response"]["body"]["inline_string"] == (
        ROOT / "protos" / "govshare" / "openapi.yaml").read_text(encoding="utf-8")
    assert served["typed_per_filter_config"][TRANSCODER_FILTER]["disabled"] is True
    # Cross-origin reads only where the operator admits browsers (the integration test reads it through Envoy).
    assert {"key": "access-control-allow-origin", "value": "*"} in [
        added["header"] for added in served["response_headers_to_add"]]
    closed = _manager(render(SETTINGS.with_overrides(cors_origins=()), {}))["route_config"]["virtual_hosts"][0]
    [private] = [route for route in closed["routes"] if route["match"].get("path") == OPENAPI_PATH]
    assert "access-control-allow-origin" not in {added["header"]["key"] for added in private["response_headers_to_add"]}
    assert routes.index(served) < len(routes) - 1 and routes[-1]["match"] == {"prefix": "/"}
    limit = manager["route_config"]["max_direct_response_body_size_bytes"]
    assert limit >= len(served["direct_response"]["body"]["inline_string"].encode())


def test_the_edge_serves_openapi_yaml_from_the_file_written_beside_its_configuration(tmp_path: Path) -> None:
    """Inlined, the document was ~210 KB of the ~720 KB configuration Envoy parsed at each start; write_config
    (the edge's start, the chart's init container) writes it beside envoy.json and the route names the file,
    which Envoy takes (validate mode reads it)."""
    path = write_config(SETTINGS.with_overrides(descriptor_set=""), tmp_path, {})
    config = json.loads(path.read_text(encoding="utf-8"))
    [served] = [route for route in _manager(config)["route_config"]["virtual_hosts"][0]["routes"]
                if route["match"].get("path") == OPENAPI_PATH]
    assert served["direct_response"]["body"] == {"filename": str(tmp_path / "openapi.yaml")}
    assert (tmp_path / "openapi.yaml").read_text(encoding="utf-8") == (
        ROOT / "protos" / "govshare" / "openapi.yaml").read_text(encoding="utf-8")
    assert "openapi: 3" not in path.read_text(encoding="utf-8")
    assert _manager(config)["route_config"]["max_direct_response_body_size_bytes"] >= (
        tmp_path / "openapi.yaml").stat().st_size
    done = subprocess.run([envoy_binary(), "--mode", "validate", "-c", str(path), "--disable-hot-restart"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_every_route_to_a_backend_retries_a_call_that_never_reached_it_by_the_virtual_hosts_policy() -> None:
    """The policy was repeated on each of the ~190 routes (13 KB of the configuration Envoy parses at each start);
    on the virtual host, every route to a backend takes it, none overriding it."""
    host = _manager(render(SETTINGS, {}))["route_config"]["virtual_hosts"][0]
    assert host["retry_policy"] == {"retry_on": "reset-before-request,connect-failure,cancelled", "num_retries": 1}
    routed = [route["route"] for route in host["routes"] if "route" in route]
    assert len(routed) > 150 and not [action for action in routed if "retry_policy" in action]


def test_a_backend_takes_every_header_the_edge_accepts_and_the_rest_path_again() -> None:
    """A REST call's path is forwarded twice (:path transcoded, and x-envoy-original-path): a backend with a
    smaller metadata limit refuses what the edge accepted, as RESOURCE_EXHAUSTED, before any check can name the
    field at fault."""
    from gateway.edge import MAX_REQUEST_HEADERS, MAX_REQUEST_HEADERS_KIB
    from services.runtime.server import MAX_METADATA_BYTES, SERVER_OPTIONS

    # gRPC counts 32 bytes per header beyond its name and value; the edge adds a few headers of its own.
    assert 2 * MAX_REQUEST_HEADERS_KIB * 1024 + 32 * (MAX_REQUEST_HEADERS + 50) <= MAX_METADATA_BYTES
    options = dict(SERVER_OPTIONS)
    assert options["grpc.max_metadata_size"] == options["grpc.absolute_max_metadata_size"] == MAX_METADATA_BYTES
    assert _manager(render(SETTINGS))["max_request_headers_kb"] == MAX_REQUEST_HEADERS_KIB
    assert _manager(render(SETTINGS))["common_http_protocol_options"]["max_headers_count"] == MAX_REQUEST_HEADERS


def test_render_edge_out_makes_a_directory_that_does_not_exist_yet(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """`govshare render-edge --out DIR` with a new DIR ended in "DIR/descriptors.pb: No such file or directory"."""
    from gateway.__main__ import main

    monkeypatch.setenv("GOVSHARE_JWKS_URL", "http://authorization:8081/.well-known/jwks.json")
    for service in ("catalog", "authorization", "query", "foundation"):
        monkeypatch.setenv(f"GOVSHARE_{service.upper()}_TARGET", f"{service}:50051")
    out = tmp_path / "etc" / "envoy"
    main(["--render", "--out", str(out)])
    assert json.loads((out / "envoy.json").read_text())["static_resources"]
    assert (out / "descriptors.pb").stat().st_size > 0
    assert out.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("what", ["missing", "directory", "not executable"])
def test_an_envoy_binary_setting_that_is_no_executable_is_named(what: str, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """`GOVSHARE_ENVOY_BINARY=/nonexistent` ended the edge in execv's PermissionError traceback."""
    path = tmp_path / "envoy"
    if what == "directory":
        path.mkdir()
    elif what == "not executable":
        path.write_text("#!/bin/sh\n")
        path.chmod(0o644)
    monkeypatch.setenv("GOVSHARE_ENVOY_BINARY", str(path))
    with pytest.raises(SystemExit) as info:
        envoy_binary()
    assert f"GOVSHARE_ENVOY_BINARY={str(path)!r} is not an executable file" in str(info.value)
    if what == "not executable":
        path.chmod(0o755)
        assert envoy_binary() == str(path)


def test_the_edge_names_a_tls_file_or_descriptor_set_that_is_not_a_file(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """`govshare serve gateway` with GOVSHARE_TLS_CA or GOVSHARE_DESCRIPTOR_SET naming no file started Envoy,
    which said only "Invalid path: /tmp/…" and exited 1; docs/configuration.md promises the variable named."""
    from gateway.__main__ import main

    monkeypatch.setenv("GOVSHARE_JWKS_URL", "http://authorization:8081/.well-known/jwks.json")
    for service in ("catalog", "authorization", "query", "foundation"):
        monkeypatch.setenv(f"GOVSHARE_{service.upper()}_TARGET", f"{service}:50051")
    monkeypatch.setattr("gateway.__main__.run", lambda settings: pytest.fail("Envoy was started"))
    cert = tmp_path / "tls.crt"
    cert.write_text("cert")
    monkeypatch.setenv("GOVSHARE_TLS_CERT", str(cert))
    monkeypatch.setenv("GOVSHARE_TLS_KEY", str(cert))
    monkeypatch.setenv("GOVSHARE_TLS_CA", str(tmp_path / "ca.crt"))
    monkeypatch.setenv("GOVSHARE_DESCRIPTOR_SET", str(tmp_path / "descriptors.pb"))
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"GOVSHARE_TLS_CA: no such file {tmp_path / 'ca.crt'}" in err
    assert f"GOVSHARE_DESCRIPTOR_SET: no such file {tmp_path / 'descriptors.pb'}" in err
    assert "GOVSHARE_TLS_CERT" not in err


def test_a_descriptor_set_that_is_not_one_is_named_before_envoy_starts(tmp_path: Path) -> None:
    """Any file but a missing one started Envoy, which stopped with "transcoding_filter: Unable to parse proto
    descriptor" (or could not find a service in it), naming no setting."""
    from gateway.descriptors import descriptor_set, descriptor_set_problems

    yaml = tmp_path / "openapi.yaml"
    yaml.write_text("openapi: 3.0.3\ninfo: {title: govshare}\n")
    assert descriptor_set_problems(str(yaml)) == [
        f"GOVSHARE_DESCRIPTOR_SET: {yaml} is not a protobuf descriptor set (a serialised FileDescriptorSet, as "
        "`buf build -o` or `protoc --include_imports --descriptor_set_out` write) (unset it: the edge builds one "
        "from the generated code)"]
    partial = tmp_path / "catalog.pb"
    partial.write_bytes(descriptor_set(("govshare.catalog.v1.CatalogService",)))
    (problem,) = descriptor_set_problems(str(partial))
    assert problem.startswith(f"GOVSHARE_DESCRIPTOR_SET: {partial} does not describe govshare.authorization.v1.")
    assert "more, which the edge transcodes" in problem
    assert descriptor_set_problems(str(tmp_path)) == [
        f"GOVSHARE_DESCRIPTOR_SET: cannot read {tmp_path} (Is a directory) (unset it: the edge builds one from the "
        "generated code)"]
    whole = tmp_path / "descriptors.pb"
    whole.write_bytes(descriptor_set())
    assert descriptor_set_problems(str(whole)) == []


def test_under_mtls_grpc_backends_are_offered_h2_and_the_jwks_is_not() -> None:
    """A gRPC server closes a TLS connection that negotiated no protocol: the edge's health checks failed."""
    settings = SETTINGS.with_overrides(tls_cert="/tls/tls.crt", tls_key="/tls/tls.key", tls_ca="/tls/ca.crt",
                                       jwks_url="https://authorization:8081/.well-known/jwks.json")
    clusters = {c["name"]: c for c in render(settings, {}, secrets=Path("/etc/envoy"))["static_resources"][
        "clusters"]}
    for backend in Backend:
        context = clusters[backend.value]["transport_socket"]["typed_config"]["common_tls_context"]
        assert context["alpn_protocols"] == ["h2"]
    assert "alpn_protocols" not in clusters["jwks"]["transport_socket"]["typed_config"]["common_tls_context"]


def _mounted_secret(directory: Path) -> Settings:
    """Settings naming certificate files as the chart mounts them (links through ``..data``), with a real
    certificate and key so that Envoy can load them."""
    dated = directory / "..2026_12_02"
    dated.mkdir(parents=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(dated / "tls.key"), "-out", str(dated / "tls.crt"), "-subj", "/CN=gateway",
                    "-days", "1"], check=True, capture_output=True, timeout=60)
    shutil.copy(dated / "tls.crt", dated / "ca.crt")
    (directory / "..data").symlink_to(dated.name)
    for name in ("tls.crt", "tls.key", "ca.crt"):
        (directory / name).symlink_to(f"..data/{name}")
    return SETTINGS.with_overrides(tls_cert=str(directory / "tls.crt"), tls_key=str(directory / "tls.key"),
                                   tls_ca=str(directory / "ca.crt"), descriptor_set="",
                                   jwks_url="https://authorization:8081/.well-known/jwks.json")


def _tls_contexts(value: object) -> list[dict]:
    """Every common_tls_context in the configuration."""
    if isinstance(value, dict):
        found = [value["common_tls_context"]] if "common_tls_context" in value else []
        return found + [context for item in value.values() for context in _tls_contexts(item)]
    if isinstance(value, list):
        return [context for item in value for context in _tls_contexts(item)]
    return []


def test_the_certificates_are_read_by_sds_from_files_watching_the_secrets_directory(tmp_path: Path) -> None:
    """Static ``filename``s were read once: Envoy kept a renewed certificate's predecessor until it restarted,
    and every call to the backends failed once that expired. Every TLS context (the listener, each backend, the
    JWKS) now names SDS resources in files beside envoy.json, and those name the mounted files and watch their
    directory, where the kubelet swaps ``..data`` on renewal; Envoy accepts what is written."""
    settings = _mounted_secret(tmp_path / "tls")
    out = tmp_path / "out"
    out.mkdir()
    config_path = write_config(settings, out, {})
    config = json.loads(config_path.read_text())
    assert str(tmp_path / "tls") not in config_path.read_text()  # no certificate named in the bootstrap itself
    contexts = _tls_contexts(config)
    assert len(contexts) == len(Backend) + 2  # the edge listener, each backend, the JWKS
    sources = set()
    for context in contexts:
        assert "tls_certificates" not in context and "validation_context" not in context
        combined = context.get("combined_validation_context", {})
        for secret in [*context["tls_certificate_sds_secret_configs"],
                       *filter(None, [context.get("validation_context_sds_secret_config"),
                                      combined.get("validation_context_sds_secret_config")])]:
            sources.add((secret["name"], secret["sds_config"]["path_config_source"]["path"]))
    assert sources == {("mesh_certificate", str(out / "sds-certificate.json")), ("mesh_ca", str(out / "sds-ca.json"))}
    [certificate] = json.loads((out / "sds-certificate.json").read_text())["resources"]
    assert certificate["name"] == "mesh_certificate"
    assert certificate["tls_certificate"] == {
        "certificate_chain": {"filename": settings.tls_cert}, "private_key": {"filename": settings.tls_key},
        "watched_directory": {"path": str(tmp_path / "tls")}}
    [ca] = json.loads((out / "sds-ca.json").read_text())["resources"]
    assert ca["validation_context"] == {"trusted_ca": {"filename": settings.tls_ca},
                                        "watched_directory": {"path": str(tmp_path / "tls")}}
    assert all((out / name).stat().st_mode & 0o777 == 0o600 for name in ("sds-certificate.json", "sds-ca.json"))
    done = subprocess.run([envoy_binary(), "--mode", "validate", "-c", str(config_path), "--disable-hot-restart"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_each_backend_cluster_checks_its_backends_certificate_names_the_host_it_dialled(tmp_path: Path) -> None:
    """The edge checked the backends' certificates against the mesh CA only: any pod of the release, each holding
    a certificate of that CA, answering at catalog's or authorization's address was taken for it (and sent the
    bearer tokens). Each backend's cluster (and the JWKS's) now also requires its certificate to name the host the
    cluster dials, a DNS name or an IP address as the host is; Envoy accepts what is written."""
    settings = _mounted_secret(tmp_path / "tls").with_overrides(catalog_target="govshare-catalog-pods.ns.svc:50051",
                                                                 query_target="10.0.0.7:50051")
    out = tmp_path / "out"
    out.mkdir()
    config_path = write_config(settings, out, {})
    clusters = {c["name"]: c for c in json.loads(config_path.read_text())["static_resources"]["clusters"]}
    names = {}
    for name in [*(backend.value for backend in Backend), "jwks"]:
        context = clusters[name]["transport_socket"]["typed_config"]
        combined = context["common_tls_context"]["combined_validation_context"]
        sans = combined["default_validation_context"]["match_typed_subject_alt_names"]
        assert sans[0]["matcher"] == {"exact": context["sni"]}, name
        assert combined["validation_context_sds_secret_config"]["name"] == "mesh_ca"
        names[name] = [(san["san_type"], san["matcher"]["exact"]) for san in sans]
    # A chart's headless Service: its component's Service's name too (certificates issued before carry that one).
    assert names["catalog"] == [("DNS", "govshare-catalog-pods.ns.svc"), ("DNS", "govshare-catalog.ns.svc")]
    assert names["query"] == [("IP_ADDRESS", "10.0.0.7")]
    assert names["jwks"] == [("DNS", "authorization")]
    done = subprocess.run([envoy_binary(), "--mode", "validate", "-c", str(config_path), "--disable-hot-restart"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_without_tls_no_secret_files_are_written(tmp_path: Path) -> None:
    """`govshare up` runs without TLS: its configuration is envoy.json (with the descriptor set and the OpenAPI
    document it serves) as before."""
    write_config(SETTINGS.with_overrides(descriptor_set=""), tmp_path, {})
    assert sorted(path.name for path in tmp_path.iterdir()) == ["descriptors.pb", "envoy.json", "openapi.yaml"]


def test_printing_a_tls_configuration_asks_for_a_directory(monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """With TLS the configuration is several files (the SDS ones): `govshare render-edge` without --out says so
    instead of printing a bootstrap that names files nobody wrote."""
    from gateway.__main__ import main

    monkeypatch.setenv("GOVSHARE_JWKS_URL", "http://authorization:8081/.well-known/jwks.json")
    for service in ("catalog", "authorization", "query", "foundation"):
        monkeypatch.setenv(f"GOVSHARE_{service.upper()}_TARGET", f"{service}:50051")
    for variable in ("GOVSHARE_TLS_CERT", "GOVSHARE_TLS_KEY", "GOVSHARE_TLS_CA"):
        monkeypatch.setenv(variable, "/etc/govshare/tls/x")
    with pytest.raises(SystemExit) as info:
        main(["--render"])
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert "--out DIR" in captured.err and not captured.out


def test_a_query_parameter_whose_time_the_edge_writes_in_upper_case_is_a_time_in_every_call() -> None:
    """The REST script writes the t and z of a TIME_PARAMETERS value in upper case, whatever the call: a name that
    set a text in another call (a search's query) would have its letters changed there. Every call's parameter of
    such a name is a google.protobuf.Timestamp."""
    table = RoutingTable.from_descriptors()
    times = _time_parameters(table)
    assert {"startTime", "start_time", "endTime", "expireBefore"} <= times
    pool = descriptor_pool.Default()
    for route in table:
        request = pool.FindMethodByName(route.method[1:].replace("/", ".")).input_type
        for path in route.single_query_fields:
            if times.isdisjoint(_parameter_names(path)):
                continue
            message = request
            for segment in path.split("."):
                message = message.fields_by_name[segment].message_type
            assert message is not None and message.full_name == "google.protobuf.Timestamp", (route.method, path)


def test_each_methods_message_limit_fits_its_largest_valid_request() -> None:
    """The edge's per-method limits (gateway.edge.message_limit) sit above the largest request each method's
    service takes: a Verify of MAX_ITEMS claims of MAX_CLAIM_LENGTH four-byte characters under the longest machine
    names, and for a method whose request holds no list 256 KiB; a method with a list keeps the services' 8 MiB."""
    from services.catalog.rules import MAX_SHORT_TEXT
    from services.query.servicer import MAX_CLAIM_LENGTH, MAX_ITEMS

    largest = query_pb2.VerifyRequest(
        resource_code="x" * MAX_SHORT_TEXT, key="k" * MAX_SHORT_TEXT,
        purpose=common_pb2.Purpose(type=common_pb2.PURPOSE_TYPE_WORK_REFERENCE, text="用" * 2000),
        claims={f"{n:03d}".rjust(MAX_SHORT_TEXT, "a"): "𠮷" * MAX_CLAIM_LENGTH for n in range(MAX_ITEMS)})
    assert largest.ByteSize() <= VERIFY_MESSAGE_BYTES
    assert message_limit("/govshare.query.v1.QueryService/Verify") == VERIFY_MESSAGE_BYTES + GRPC_FRAME_HEADER_BYTES
    small = SMALL_MESSAGE_BYTES + GRPC_FRAME_HEADER_BYTES
    assert message_limit("/govshare.catalog.v1.CatalogService/GetEntry") == small
    # A list of at most three formats (also_formats) is no reason to take 8 MiB.
    assert message_limit("/govshare.supervision.v1.SupervisionService/GenerateReport") == small
    for method in ("/govshare.query.v1.QueryService/Query", "/govshare.catalog.v1.CatalogService/CreateEntry",
                   "/govshare.foundation.v1.FoundationAdminService/LoadRecords"):
        assert message_limit(method) is None, method
    assert f"at most {VERIFY_MESSAGE_BYTES:,} bytes" in (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
