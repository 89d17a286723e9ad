"""Envoy's configuration (a v3 bootstrap), rendered from the one table of public methods (gateway.routing).

The edge is Envoy; this module is all of the gateway's logic. Everything a public
method needs at the edge follows from :data:`gateway.routing.PUBLIC_SERVICES` and
the generated descriptors, so adding a public RPC or service is one line there:

- a route per public service (by its gRPC path prefix) to its backend cluster
  (HTTP/2, gRPC health-checked), the client's ``grpc-timeout`` honoured up to a
  cap, the settings' call timeout without one, and an hour for streaming replies;
- internal services and anything unknown answered by Envoy itself with
  UNIMPLEMENTED and a message saying why (never routed);
- ``jwt_authn``: the bearer token verified against the platform's JWKS (fetched
  from the authorization service), audience, issuer and expiry checked with a
  tight clock skew, the token forwarded so every backend verifies it again;
  IssueToken, health and reflection pass without one;
- every client-sent ``x-govshare-*`` header, and the client's trace context,
  removed before anything else looks at the request;
- a local rate limit per business system (the token's ``sub``), answered
  RESOURCE_EXHAUSTED;
- per-method gRPC statistics, Prometheus stats, JSON access logs without
  tokens or request bodies, OpenTelemetry tracing from the ``OTEL_*`` variables;
- REST/JSON transcoding (with a descriptor set), gRPC-Web and CORS (with origins).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from urllib.parse import unquote, urlsplit

import grpc
from google.protobuf import descriptor_pool, json_format
from google.protobuf.descriptor import Descriptor
from google.rpc import status_pb2
from opentelemetry.util.re import parse_env_headers

from gateway.routing import (
    ANONYMOUS_METHODS,
    EDGE_COMPANION,
    EMPTY_LIST_MEANS,
    HEAVY_READS,
    INTERNAL_SERVICES,
    Backend,
    HttpRule,
    Route,
    RoutingTable,
    backend_targets,
    body_fields,
    heavy_read_cluster,
    heavy_read_targets,
    request_enums,
    url_variables,
)
from services.runtime.errors import ServiceError, status_of, unavailable
from services.runtime.server import CALLERS_TIMEOUT_HEADER, MAX_MESSAGE_BYTES
from services.runtime.settings import Settings
from services.runtime.telemetry import DEFAULT_SAMPLING_RATIO, collector_port
from services.runtime.tokens import ISSUER, LEEWAY_SECONDS, LEGACY_AUDIENCE, audience

JWT_PROVIDER = "govshare"
JWT_PAYLOAD = "jwt_payload"
#: How often Envoy fetches the JWKS again, in the background (async_fetch: no call waits for it; a fetch that fails
#: keeps the keys it had, retried each second). Envoy has no fetch on an unknown ``kid``, so this bounds how long
#: an edge refuses the tokens of a key authorization has just published (it was 300 s: after the leaked-key
#: runbook's authorization restart, every edge refused the new key's tokens for up to 5 minutes); a fetch is one
#: small HTTP GET to authorization's JWKS listener per edge, whatever the calls.
JWKS_CACHE_SECONDS = 10
#: A server-streaming call (a batch download) without a client deadline may run this long.
STREAM_TIMEOUT_SECONDS = 3600
#: The longest client deadline the edge honours.
MAX_DEADLINE_SECONDS = 3600
#: How long before a unary call's own deadline (its grpc-timeout) the edge ends it, naming the backend that has not
#: answered: timed to the deadline itself, the client's timer fired first and the caller read its library's bare
#: "Deadline Exceeded". Less than the services' own margin (server.ANSWER_MARGIN_SECONDS, at least a tenth of the
#: deadline), so that a service waiting on its dependency still answers first, naming that one.
DEADLINE_MARGIN_SECONDS = 0.02
#: A grpc-timeout under 100 ms (at most two digits of milliseconds, five of microseconds, eight of nanoseconds): such a
#: call keeps its whole deadline at the edge. Envoy ends at once a call whose deadline is not longer than the margin,
#: so without this a 15 ms call a service answers in 5 ms was refused before it was sent.
SHORT_DEADLINE = r"\d{1,2}m|\d{1,5}u|\d{1,8}n"
#: How long a report may take to render when its caller set no deadline: what ``govshare report`` waits
#: (services/supervision/report_client.py's TIMEOUT_SECONDS).
REPORT_TIMEOUT_SECONDS = 120
#: Unary methods that may take longer than a call's default deadline, and how long a call of theirs without a
#: client deadline may run: the demo platform's yearly report as PDF took 2 to 3 s to render here, and over 5 s
#: once on a busy machine, so a REST caller (which sends no grpc-timeout) got 504 DEADLINE_EXCEEDED from
#: ``POST /v1/reports:generate`` where ``govshare report`` (which waits REPORT_TIMEOUT_SECONDS) got the report.
LONG_CALL_TIMEOUT_SECONDS: Mapping[str, float] = MappingProxyType({
    "/govshare.supervision.v1.SupervisionService/GenerateReport": REPORT_TIMEOUT_SECONDS,
})
#: Request headers the edge accepts (Envoy's default, stated): a REST URL up to about this size reaches its
#: backend, whose metadata limit (services.runtime.server.MAX_METADATA_BYTES) takes it twice over.
MAX_REQUEST_HEADERS_KIB = 60
#: Request headers the edge accepts by count, gRPC's own (:path, te, content-type, grpc-timeout, user-agent,
#: authorization) included. Envoy's default, 100, reset a call carrying some 92 metadata entries of a few KiB in
#: all (gRPC: INTERNAL "RST_STREAM with error code 2", without a word; REST: the 431 naming the size limit it was
#: within); a business system's tracing baggage and correlation headers come near it. Beyond this count Envoy still
#: resets the call so, which docs/api.md says. The backend's metadata limit takes this many too (gRPC counts
#: 32 bytes more per header: services.runtime.server.MAX_METADATA_BYTES).
MAX_REQUEST_HEADERS = 1000
#: Verified tokens each Envoy worker remembers (LRU): a business system holds one token at a time, renewed
#: before expiry, so this covers every active system with room for overlapping renewals.
JWT_CACHE_SIZE = 10_000
HEALTH_PREFIXES = ("/grpc.health.v1.Health/",)
REFLECTION_PREFIXES = ("/grpc.reflection.v1alpha.ServerReflection/", "/grpc.reflection.v1.ServerReflection/")
_ADMIN_CLUSTER = "edge_admin"
_JWKS_CLUSTER = "jwks"
_TRACE_CLUSTER = "opentelemetry"
_RATIO_SAMPLERS = frozenset({"traceidratio", "parentbased_traceidratio"})
_TLS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3"
#: What to do about a refused token, for gRPC and REST callers alike (a REST caller knows IssueToken by its URL).
_TOKEN_HINT = ("send 'authorization: Bearer <token>' obtained from "
               "govshare.authorization.v1.TokenService/IssueToken (over REST: POST /v1/tokens)")


@dataclass(frozen=True)
class Address:
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Address:
        host, _, port = text.rpartition(":")
        return cls(host.strip("[]") or "127.0.0.1", int(port))

    def socket(self) -> dict[str, object]:
        return {"socket_address": {"address": self.host, "port_value": self.port}}


def _seconds(value: float) -> str:
    return f"{value:g}s"


def _any(type_name: str, **fields: object) -> dict[str, object]:
    return {"@type": f"type.googleapis.com/{type_name}", **fields}


# -- clusters ----------------------------------------------------------------------------------------------------


#: Envoy's names for the mesh identity it reads by SDS: the edge's certificate and key, and the CA that signs the
#: backends'. Each is a file-based SDS resource of its own (:data:`SECRET_FILES`), written beside envoy.json.
CERTIFICATE_SECRET = "mesh_certificate"
TRUSTED_CA_SECRET = "mesh_ca"
SECRET_FILES = {CERTIFICATE_SECRET: "sds-certificate.json", TRUSTED_CA_SECRET: "sds-ca.json"}


def _watched_directory(*paths: str) -> dict[str, object]:
    """Where Envoy watches for a renewal of ``paths``: their directory. The kubelet renews a mounted Secret by
    renaming its ``..data`` link there (``tls.crt`` is a link through it, never written itself), and Envoy then
    reads the files again. Files in different directories: none named, Envoy watches each file's own."""
    directories = {os.path.dirname(path) for path in paths}
    if len(directories) != 1 or "" in directories:
        return {}
    return {"watched_directory": {"path": directories.pop()}}


def secret_resources(settings: Settings) -> dict[str, dict[str, object]]:
    """The SDS resource files (file name -> content) that point Envoy at the mesh certificate, key and CA.

    Envoy keeps a certificate named in its bootstrap (``filename``) until it restarts, so a renewed one
    (cert-manager renews 15 days before expiry) went unseen and every call to the backends failed once the
    first expired. A secret Envoy reads by SDS from files is read again when its directory changes: from then on
    each new connection, to clients and to the backends, presents and checks the renewed files."""
    certificate = {"certificate_chain": {"filename": settings.tls_cert},
                   "private_key": {"filename": settings.tls_key},
                   **_watched_directory(settings.tls_cert, settings.tls_key)}
    ca = {"trusted_ca": {"filename": settings.tls_ca}, **_watched_directory(settings.tls_ca)}
    secrets = {CERTIFICATE_SECRET: {"tls_certificate": certificate}, TRUSTED_CA_SECRET: {"validation_context": ca}}
    return {SECRET_FILES[name]: {"resources": [{"@type": f"{_TLS}.Secret", "name": name, **secret}]}
            for name, secret in secrets.items()}


def _sds(name: str, directory: Path) -> dict[str, object]:
    """The secret ``name``, read from its file in ``directory`` (beside envoy.json; absolute, as Envoy reads it
    whatever its working directory)."""
    return {"name": name, "sds_config": {"resource_api_version": "V3", "path_config_source": {
        "path": str(directory.absolute() / SECRET_FILES[name])}}}


#: The suffix of the chart's headless Services, ``<release>-<component>-pods``, by which the edge dials each pod.
PODS_SERVICE_SUFFIX = "-pods"


def _subject_alt_names(host: str) -> list[dict[str, object]]:
    """The certificate names a backend dialled at ``host`` may carry (any one): its IP address (``govshare up``'s
    127.0.0.1), or its DNS name; for the chart's headless ``<release>-<component>-pods.<namespace>...`` Service,
    also its component's Service's name (``<release>-<component>.<namespace>...``), the one the services dial and
    every certificate issued before the ``-pods`` names carries: the same component, so an upgrade whose
    certificates are not yet reissued (or Secrets made by hand) keeps the edge's calls flowing."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        names = [host]
        first, dot, rest = host.partition(".")
        if first.endswith(PODS_SERVICE_SUFFIX) and first != PODS_SERVICE_SUFFIX:
            names.append(first.removesuffix(PODS_SERVICE_SUFFIX) + dot + rest)
        return [{"san_type": "DNS", "matcher": {"exact": name}} for name in names]
    return [{"san_type": "IP_ADDRESS", "matcher": {"exact": host}}]


def _upstream_tls(settings: Settings, sni: str, secrets: Path | None, *, http2: bool) -> dict[str, object] | None:
    """mTLS to the backends (the chart's mesh identity): the edge presents its certificate, checks theirs
    (both read by SDS from ``secrets``, so renewed ones are used without a restart), and checks that theirs names
    the host it dialled (``sni``).

    The mesh CA alone was checked: every pod of the release holds a certificate of that CA, so a pod that could
    answer at another service's address (a compromised foundation pod, DNS or an endpoint pointed elsewhere) was
    taken for catalog or authorization, and got the bearer tokens and the requests sent there. The name is checked
    as the services' own calls check it (gRPC verifies the target's host), each cluster its own.

    An HTTP/2 (gRPC) backend is offered ALPN ``h2``: a gRPC server closes a TLS connection that negotiated no
    protocol, and Envoy offered none, so under mTLS every backend failed its health checks (``failed_active_hc``)
    and was called only in Envoy's panic mode, a draining or NOT_SERVING one too."""
    if not settings.tls_enabled:
        return None
    assert secrets is not None  # render() refuses TLS without a directory for the secrets
    common: dict[str, object] = {
        "tls_certificate_sds_secret_configs": [_sds(CERTIFICATE_SECRET, secrets)],
        # The CA by SDS (renewed without a restart), the name of this cluster's backend beside it.
        "combined_validation_context": {
            "default_validation_context": {"match_typed_subject_alt_names": _subject_alt_names(sni)},
            "validation_context_sds_secret_config": _sds(TRUSTED_CA_SECRET, secrets)},
    }
    if http2:
        common["alpn_protocols"] = ["h2"]
    return {"name": "envoy.transport_sockets.tls", "typed_config": {
        "@type": f"{_TLS}.UpstreamTlsContext", "sni": sni, "common_tls_context": common}}


#: How many calls to one backend the edge may be trying again at once (RETRY_POLICY): Envoy's max_requests.
MAX_RETRIES_AT_ONCE = 1024


def _cluster(name: str, address: Address, *, http2: bool, tls: dict[str, object] | None,
             health_checked: bool = False) -> dict[str, object]:
    cluster: dict[str, object] = {
        "name": name,
        "type": "STRICT_DNS" if not address.host.replace(".", "").isdigit() else "STATIC",
        "connect_timeout": "1s",
        "dns_lookup_family": "V4_PREFERRED",
        "lb_policy": "ROUND_ROBIN",
        "load_assignment": {"cluster_name": name, "endpoints": [
            {"lb_endpoints": [{"endpoint": {"address": address.socket()}}]}]},
    }
    if http2:
        cluster["typed_extension_protocol_options"] = {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": _any(
                "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                explicit_http_config={"http2_protocol_options": {"connection_keepalive": {
                    "interval": "30s", "timeout": "10s"}}})}
    if health_checked:
        # The standard gRPC health service: a backend that says NOT_SERVING (starting, draining) gets no calls
        # while others of its cluster serve. Envoy's default panic threshold (50 %) stays: when most of a
        # cluster looks unhealthy — one process under `govshare up`, or health checks timing out on a loaded
        # machine — calls still go to it rather than all failing "no healthy upstream" (a draining process keeps
        # serving through its grace period). A NOT_SERVING answer (its database gone, services.runtime.server
        # watch_database) takes a host out at once, so it is asked every second: every 2 s it was seen up to 2 s
        # late. A host that does not answer (killed, hung) is taken out after two failed checks, each allowed 2 s;
        # three 2 s apart left a killed backend in the rotation for 6 s. A check is one in-memory answer, so a
        # cluster no call has used yet is asked as often (every 5 s, it was seen late when its first calls came).
        cluster["health_checks"] = [{"timeout": "2s", "interval": "1s", "no_traffic_interval": "1s",
                                     "unhealthy_threshold": 2, "healthy_threshold": 1,
                                     "grpc_health_check": {}}]
        # A host that appears later (a new pod in the chart's headless Service, which lists pods before they are
        # ready) gets calls only once a health check said SERVING, not from the moment DNS names it.
        cluster["common_lb_config"] = {"ignore_new_hosts_until_first_hc": True}
        # RETRY_POLICY's retries at once: Envoy allows 3 per cluster by default, and a backend that stops cancels or
        # refuses the calls it holds together, so all but 3 were passed on as they came (CANCELLED, flag UO). A
        # call is tried again once at most: as many as the cluster carries (Envoy's default max_requests).
        cluster["circuit_breakers"] = {"thresholds": [{"max_retries": MAX_RETRIES_AT_ONCE}]}
    if tls is not None:
        cluster["transport_socket"] = tls
    return cluster


def _backend_clusters(settings: Settings, secrets: Path | None) -> list[dict[str, object]]:
    clusters = []
    targets = [(backend.value, target) for backend, target in backend_targets(settings).items()]
    targets += [(heavy_read_cluster(backend), target) for backend, target in heavy_read_targets(settings).items()]
    for name, target in targets:
        address = Address.parse(target)
        tls = _upstream_tls(settings, address.host, secrets, http2=True)
        clusters.append(_cluster(name, address, http2=True, tls=tls, health_checked=True))
    return clusters


def _jwks_cluster(url: str, settings: Settings, secrets: Path | None) -> dict[str, object]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    tls = _upstream_tls(settings, parts.hostname or "", secrets, http2=False) if parts.scheme == "https" else None
    return _cluster(_JWKS_CLUSTER, Address(parts.hostname or "127.0.0.1", port), http2=False, tls=tls)


# -- tracing -----------------------------------------------------------------------------------------------------


def sampling_percent(env: Mapping[str, str]) -> float:
    """The share of calls the edge samples, from ``OTEL_TRACES_SAMPLER(_ARG)`` as the services read them."""
    sampler = env.get("OTEL_TRACES_SAMPLER", "").strip().lower()
    if sampler in ("always_on", "parentbased_always_on"):
        return 100.0
    if sampler in ("always_off", "parentbased_always_off"):
        return 0.0
    if sampler and sampler not in _RATIO_SAMPLERS:
        return DEFAULT_SAMPLING_RATIO * 100
    return float(env.get("OTEL_TRACES_SAMPLER_ARG", DEFAULT_SAMPLING_RATIO)) * 100


#: Where the official Envoy image (and Debian, under ``govshare up``) keeps the system's trusted CAs: an ``https``
#: OTLP endpoint is verified against them unless ``OTEL_EXPORTER_OTLP_(TRACES_)CERTIFICATE`` names a CA file.
SYSTEM_CA_FILE = "/etc/ssl/certs/ca-certificates.crt"


def _collector_tls(env: Mapping[str, str], host: str, *, http2: bool) -> dict[str, object]:
    """TLS to an ``https`` OTLP collector, as the services' exporters speak it: the collector's certificate checked
    for ``host`` against the CA file the OpenTelemetry variables name, else the system's trusted CAs (the mesh
    CA is not the collector's). gRPC is offered ALPN ``h2``, which gRPC servers require over TLS."""
    ca = (env.get("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE") or env.get("OTEL_EXPORTER_OTLP_CERTIFICATE")
          or SYSTEM_CA_FILE).strip()
    common: dict[str, object] = {"validation_context": {
        "trusted_ca": {"filename": ca},
        "match_typed_subject_alt_names": [{"san_type": "DNS", "matcher": {"exact": host}}]}}
    if http2:
        common["alpn_protocols"] = ["h2"]
    return {"name": "envoy.transport_sockets.tls", "typed_config": {
        "@type": f"{_TLS}.UpstreamTlsContext", "sni": host, "common_tls_context": common}}


def _collector_headers(env: Mapping[str, str]) -> Mapping[str, str]:
    """The headers the services' exporters send the collector (``OTEL_EXPORTER_OTLP_(TRACES_)HEADERS``, read as the
    SDK reads them: ``key=value`` pairs, comma separated, values URL-encoded), so that a collector that asks for a
    credential gets it from the edge too, not only from the services."""
    raw = env.get("OTEL_EXPORTER_OTLP_TRACES_HEADERS") or env.get("OTEL_EXPORTER_OTLP_HEADERS") or ""
    return parse_env_headers(raw, liberal=True) if raw.strip() else {}


def _tracing(env: Mapping[str, str]) -> tuple[dict[str, object] | None, dict[str, object] | None]:
    """The HCM's tracing block and the collector's cluster, when ``OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT`` is set.
    An ``https`` endpoint is reached over TLS, as the services reach it (a plaintext connection to a TLS
    collector lost every span the edge made, without a word)."""
    endpoint = (env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or "").strip()
    exporters = env.get("OTEL_TRACES_EXPORTER", "otlp").strip()
    if not endpoint or "otlp" not in exporters:
        return None, None
    parts = urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
    protocol = (env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
                or "grpc").strip()
    http = protocol == "http/protobuf"
    secure = parts.scheme == "https"
    port = collector_port(endpoint, protocol)
    host = parts.hostname or "127.0.0.1"
    tls = _collector_tls(env, host, http2=not http) if secure else None
    cluster = _cluster(_TRACE_CLUSTER, Address(host, port), http2=not http, tls=tls)
    attributes = resource_attributes(env)
    service = env.get("OTEL_SERVICE_NAME") or attributes.pop("service.name", "govshare-edge")
    attributes.pop("service.name", None)
    headers = _collector_headers(env)
    if http:
        # As the SDK reads them: the signal-specific endpoint is the full URL, the generic one gets /v1/traces.
        path = parts.path if env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") else f"{parts.path.rstrip('/')}/v1/traces"
        http_service: dict[str, object] = {"http_uri": {
            "uri": f"{parts.scheme}://{parts.netloc}{path}", "cluster": _TRACE_CLUSTER, "timeout": "1s"}}
        if headers:
            http_service["request_headers_to_add"] = [{"header": {"key": key, "value": value}}
                                                      for key, value in headers.items()]
        exporter: dict[str, object] = {"http_service": http_service}
    else:
        grpc_service: dict[str, object] = {"envoy_grpc": {"cluster_name": _TRACE_CLUSTER}, "timeout": "1s"}
        if headers:
            grpc_service["initial_metadata"] = [{"key": key, "value": value} for key, value in headers.items()]
        exporter = {"grpc_service": grpc_service}
    # The edge's spans carry the resource attributes every service's do (the chart's zone, namespace, pod, version
    # and telemetry.resourceAttributes): without them they said only service.name, whichever pod made them. Static:
    # the renderer has the variable (the kubelet filled in the pod's name), Envoy's own container does not.
    detectors: dict[str, object] = {"resource_detectors": [{
        "name": "envoy.tracers.opentelemetry.resource_detectors.static_config",
        "typed_config": _any("envoy.extensions.tracers.opentelemetry.resource_detectors.v3."
                             "StaticConfigResourceDetectorConfig", attributes=attributes)}]} if attributes else {}
    tracing = {
        "random_sampling": {"value": sampling_percent(env)},
        "client_sampling": {"value": 0},
        "overall_sampling": {"value": 100},
        "spawn_upstream_span": False,
        "provider": {"name": "envoy.tracers.opentelemetry", "typed_config": _any(
            "envoy.config.trace.v3.OpenTelemetryConfig", service_name=service, **exporter, **detectors)},
    }
    return tracing, cluster


def resource_attributes(env: Mapping[str, str]) -> dict[str, str]:
    """``OTEL_RESOURCE_ATTRIBUTES`` as the services' SDK reads it: ``key=value`` pairs, comma separated, values
    URL-decoded, a later key replacing an earlier one, an item without ``=`` skipped."""
    attributes: dict[str, str] = {}
    for item in env.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            attributes[key.strip()] = unquote(value.strip())
    return attributes


# -- routes ------------------------------------------------------------------------------------------------------


def _direct(prefix: str, message: str, status: int = 404) -> dict[str, object]:
    """Envoy answers itself: 404, which a gRPC client receives as UNIMPLEMENTED with ``message`` (503: UNAVAILABLE)."""
    return {"match": {"prefix": prefix}, "direct_response": {"status": status, "body": {"inline_string": message}}}


def _answered_here(prefix: str, message: str, status: int = 404) -> list[dict[str, object]]:
    """:func:`_direct`, first as a gRPC(-Web) call's trailers-only answer (HTTP 200, UNIMPLEMENTED or UNAVAILABLE and
    ``message`` as headers): a gRPC-Web call got the HTTP 404 or 503, which grpc-web's and Connect's clients read as
    "Http response at 400 or 500 level", NOT_FOUND, without the words (an unknown method, an internal service)."""
    code = grpc.StatusCode.UNAVAILABLE if status == 503 else grpc.StatusCode.UNIMPLEMENTED
    answer = _grpc_refusal([], code, message)
    answer["match"]["prefix"] = prefix  # type: ignore[index]
    return [answer, _direct(prefix, message, status)]


#: A gRPC deadline as the protocol writes it (PROTOCOL-HTTP2.md, Timeout): 1 to 8 digits and a unit.
GRPC_TIMEOUT_PATTERN = "[0-9]{1,8}[HMSmun]"


def _grpc_refusal(headers: list[dict[str, object]], code: grpc.StatusCode, message: str,
                  extra: Mapping[str, str] | None = None) -> dict[str, object]:
    """A route answering a gRPC(-Web) call that matches ``headers`` with ``code`` and ``message`` (and the
    ``extra`` headers), written as a backend's trailers-only answer: the status Envoy derives from an HTTP one for
    its own replies is never INVALID_ARGUMENT (and a gRPC-Web call's is derived after any header a route adds),
    whereas a gRPC answer passes through as it is. A REST call (which the transcoder made a gRPC one) is left to
    the transcoder."""
    reply = {"content-type": "application/grpc", "grpc-status": str(code.value[0]), "grpc-message": message,
             "grpc-status-details-bin": _details_bin(_edge_status(code, message)), **(extra or {})}
    return {"match": {"prefix": "/", "headers": [
                {"name": "content-type", "string_match": {"prefix": "application/grpc", "ignore_case": True}},
                {"name": "x-envoy-original-path", "present_match": True, "invert_match": True}, *headers]},
            "direct_response": {"status": 200},
            "response_headers_to_add": _headers(reply)}


def _grpc_timeout_malformed() -> dict[str, object]:
    """A call whose ``grpc-timeout`` header is not a deadline is INVALID_ARGUMENT, saying how to write one.

    Envoy ignores a header it cannot read and forwarded it, and the backend's gRPC library failed the call as
    INTERNAL "Error parsing 'grpc-timeout' metadata". gRPC's own clients write the header right; a gRPC-Web or
    hand-made call sets it itself."""
    return _grpc_refusal(
        [{"name": "grpc-timeout", "string_match": {"safe_regex": {"regex": GRPC_TIMEOUT_PATTERN}},
          "invert_match": True}],
        grpc.StatusCode.INVALID_ARGUMENT, "grpc-timeout: not a deadline: write 1 to 8 digits and a unit, H, M, S, m "
                                          "(milliseconds), u or n (e.g. 2500m for 2.5 s)")


#: A grpc-timeout of zero in any unit (``0S``, ``0m``, ``00000000n``).
ZERO_DEADLINE = "0{1,8}[HMSmun]"


def _zero_deadline_message(settings: Settings) -> str:
    return (f"grpc-timeout: a deadline of zero had passed before the call reached the edge (zero is not 'no "
            f"deadline'): give the call time (2500m for 2.5 s), or send no grpc-timeout and the edge's limit applies "
            f"({settings.call_timeout_seconds:g} s for a call)")


def _zero_deadline(settings: Settings) -> list[dict[str, object]]:
    """A call sent with a grpc-timeout of zero is DEADLINE_EXCEEDED at once, saying that zero leaves it no time
    (as gRPC's servers read it) and is not "no deadline"; a REST call's as JSON (:func:`_local_replies`' direct 504).

    Routed, it met Envoy's stream timer set to zero, and the caller read the words of a call that had waited: "the
    call ran past its deadline with the catalog service not having answered … or retry later", naming a service
    it never reached (an operator reading the report looked for a slow catalog), and a hand-made client taking
    zero for "no deadline" was never told so. Matched by the value's first character before the regex, so a call
    with a deadline (nearly every gRPC client's) costs one character compare more."""
    zero = [{"name": "grpc-timeout", "string_match": {"prefix": "0"}},
            {"name": "grpc-timeout", "string_match": {"safe_regex": {"regex": ZERO_DEADLINE}}}]
    message = _zero_deadline_message(settings)
    rest = {"match": {"prefix": "/", "headers": [*zero, {"name": "x-envoy-original-path", "present_match": True}]},
            "direct_response": {"status": 504, "body": {"inline_string": message}}}
    return [_grpc_refusal(zero, grpc.StatusCode.DEADLINE_EXCEEDED, message), rest]


#: The message encodings the services' gRPC library reads (its grpc-accept-encoding).
GRPC_ENCODINGS = ("identity", "deflate", "gzip")


def _grpc_encoding_unknown() -> dict[str, object]:
    """A call whose ``grpc-encoding`` the services cannot read is UNIMPLEMENTED, naming those they can, as the
    gRPC protocol says (PROTOCOL-HTTP2.md, "Message-Encoding"), and never reaches a backend.

    Forwarded, the backend's gRPC library failed it INTERNAL "Error parsing 'grpc-encoding' metadata", and the
    edge's HTTP/2 connection to that backend could no longer read a grpc-encoding it had not seen before: every
    other caller's compressed call over it (a gRPC client's gzip or deflate) failed INTERNAL the same way, until
    the connection closed. One caller's header (snappy, GZIP, "gzip, deflate") spoiled the others' calls."""
    return _grpc_refusal(
        [{"name": "grpc-encoding", "string_match": {"safe_regex": {"regex": "|".join(GRPC_ENCODINGS)}},
          "invert_match": True}],
        grpc.StatusCode.UNIMPLEMENTED, f"grpc-encoding: the platform reads {', '.join(GRPC_ENCODINGS[:-1])} or "
                                       f"{GRPC_ENCODINGS[-1]}, one name in lower case: send the message with one of "
                                       "them, or uncompressed without the header",
        {"grpc-accept-encoding": ",".join(GRPC_ENCODINGS)})


def _grpc_call_without_message() -> dict[str, object]:
    """A call whose body is shorter than a message's 5-byte frame header is INVALID_ARGUMENT, saying so.

    The backend's gRPC library never answers a unary call that ends without a whole message: an empty body
    (``curl --data-binary ''``) hung until the deadline, or the edge's 5 s, and then came back "downstream
    duration timeout" (over gRPC-Web UNAVAILABLE, which clients retry). Its length is known only when the
    client sends it (HTTP/1.1, curl); a body cut inside a longer frame still runs to the deadline."""
    return _grpc_refusal(
        [{"name": "content-length", "string_match": {"safe_regex": {"regex": "0*[0-4]"}}}],
        grpc.StatusCode.INVALID_ARGUMENT, "the request holds no message: a gRPC call's body is one message, framed "
                                          "as 1 flag byte, a 4-byte big-endian length and the serialized message "
                                          "(5 bytes 00 00 00 00 00 for an empty one)")


def _grpc_call_without_te_trailers() -> dict[str, object]:
    """A gRPC call without ``te: trailers`` is INVALID_ARGUMENT, saying to send it.

    The gRPC protocol requires the header (PROTOCOL-HTTP2.md, "TE"), and the backend's gRPC library resets a call
    without it: the edge answered that reset as a backend gone, UNAVAILABLE "the … service is unavailable (down or
    restarting): retry with backoff", so a curl or hand-made call (over HTTP/1.1 or h2c) was retried in vain.
    gRPC's own clients send it, and the gRPC-Web filter adds it to a browser's call, whose content type this
    does not match."""
    return _grpc_refusal(
        [{"name": "content-type", "string_match": {"safe_regex": {"regex": "application/grpc(\\+[^;]*)?(;.*)?"}}},
         {"name": "te", "string_match": {"contains": "trailers"}, "invert_match": True,
          "treat_missing_header_as_empty": True}],
        grpc.StatusCode.INVALID_ARGUMENT, "a gRPC call carries the header te: trailers, which the gRPC protocol "
                                          "requires (gRPC's libraries send it): add it, or call as gRPC-Web "
                                          "(content-type application/grpc-web+proto), which needs none")


def _grpc_web_json() -> dict[str, object]:
    """A gRPC or gRPC-Web call with JSON messages (``application/grpc-web+json``, its text form, or
    ``application/grpc+json``) is UNIMPLEMENTED, saying to send protobuf: no backend reads JSON messages. The REST
    transcoder, taking a gRPC-Web one for a REST URL, answered HTTP 404 in plain text "Could not resolve
    /govshare.catalog.v1.CatalogService/GetEntry to a method." (a gRPC-Web client reads "Http response at 400 or
    500 level") for a method that exists; a gRPC one reached the backend, whose INVALID_ARGUMENT "not a valid
    protobuf message: … Wire format was corrupt" sent the caller to look for a fault in a JSON body it meant."""
    route = _grpc_refusal(
        [{"name": "content-type",
          "string_match": {"safe_regex": {"regex": "(?i)application/grpc(-web(-text)?)?\\+json.*"}}}],
        grpc.StatusCode.UNIMPLEMENTED, "gRPC and gRPC-Web with JSON messages are not served: send protobuf "
                                       "messages, content-type application/grpc (gRPC) or application/grpc-web+proto "
                                       "(gRPC-Web), or the REST URL with a JSON body: /openapi.yaml")
    # Answered before the transcoder (which refuses a path that names no REST URL) can take it for a REST call.
    # Matched in any case (Application/grpc-web+JSON): whether the transcoder runs is decided by the route chosen
    # before _content_type_spelling writes the content type in lower case.
    route["typed_per_filter_config"] = {TRANSCODER_FILTER: {
        "@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig", "disabled": True}}
    return route


#: A method's path with something before it: ``/v1/govshare.catalog.v1.CatalogService/GetEntry``.
_PREFIXED_METHOD_PATH = "/.+/govshare\\.[a-z_]+\\.v1\\.[A-Za-z]+/[A-Za-z]+"


def _method_under_a_prefix() -> dict[str, object]:
    """A gRPC or gRPC-Web call whose method path sits under a prefix is UNIMPLEMENTED, saying to drop it.

    A gRPC-Web client given the REST base URL as its host (``http://host:port/v1``, which ``govshare up`` prints
    beside the REST operations) or a reverse proxy's path prefix (``/api``) called
    ``/v1/govshare.catalog.v1.CatalogService/GetEntry``: under ``/v1/`` the REST route took it to the edge's
    companion, whose gRPC library answered "Method not found!" without details; elsewhere the catch-all said
    "unknown service: the edge serves govshare.catalog.v1.CatalogService, …", naming the very service called.
    Listed after every method's route, so a call to a method's path never pays its regex."""
    route = _grpc_refusal([], grpc.StatusCode.UNIMPLEMENTED, (
        "the method's path has a prefix before /govshare.: a gRPC or gRPC-Web method's path is /package.Service/Method "
        "from the root (/govshare.catalog.v1.CatalogService/GetEntry): give the client the edge's address without a "
        "path (http://host:port, not the REST base URL's /v1 nor a proxy's prefix)"))
    route["match"] = {"safe_regex": {"regex": _PREFIXED_METHOD_PATH},
                      "headers": route["match"]["headers"]}  # type: ignore[index]
    return route


#: What a gRPC or gRPC-Web call sent to a REST URL is told: the URL takes JSON, a gRPC call the method's path.
GRPC_CALL_TO_A_REST_URL = (
    "a gRPC or gRPC-Web call sent to a REST URL: a REST URL (/v1/...) takes a JSON body, content-type "
    "application/json, as /openapi.yaml gives it; a gRPC or gRPC-Web call goes to its method's path from the root, "
    "/package.Service/Method (/govshare.query.v1.QueryService/Query), with content-type application/grpc or "
    "application/grpc-web+proto")


def _grpc_call_to_a_rest_url() -> dict[str, object]:
    """A call with a gRPC or gRPC-Web content type sent to a REST URL (``POST /v1/resources/…:query`` with
    ``application/grpc-web+proto``: a client mixing the two, or the REST URL pasted into a gRPC-Web client's
    method) is UNIMPLEMENTED, saying which of the two to change.

    The transcoder passes a gRPC call through untouched, so it met the REST route by its path: a POST came back
    "Method not found!" (the companion's gRPC library, naming nothing), a GET "a gRPC call is an HTTP POST" (it was
    not the verb), and a body under five bytes "the request holds no message" (it was not the body). Listed first;
    a method's path under /v1/ (a gRPC-Web client given the REST base URL) is :func:`_method_under_a_prefix`'s."""
    route = _grpc_refusal([{"name": ":path", "string_match": {"safe_regex": {"regex": _PREFIXED_METHOD_PATH}},
                            "invert_match": True}],
                          grpc.StatusCode.UNIMPLEMENTED, GRPC_CALL_TO_A_REST_URL)
    route["match"]["prefix"] = "/v1/"  # type: ignore[index]
    return route


def _grpc_call_not_posted() -> dict[str, object]:
    """A gRPC or gRPC-Web call sent with another HTTP method than POST is answered here, UNIMPLEMENTED saying so.

    Routed, it reached a backend that reset it: a GET or a PUT came back UNAVAILABLE "the service that answers
    this method is unavailable (down or restarting)" with a RetryInfo (so clients retried it), a DELETE INTERNAL
    "Error parsing ':method' metadata". A REST call is a POST by the time it is routed (the transcoder makes it
    one), and a CORS preflight carries no gRPC content type, so neither matches."""
    route = _direct("/", "a gRPC call is an HTTP POST: send this method with POST (a REST call's verb and URL are "
                         "in protos/govshare/openapi.yaml)")
    route["match"]["headers"] = [  # type: ignore[index]
        {"name": ":method", "string_match": {"exact": "POST"}, "invert_match": True},
        {"name": "content-type", "string_match": {"prefix": "application/grpc"}}]
    return route


#: Where the edge serves the REST API's OpenAPI document (GET, no token): the file generated from the protos.
OPENAPI_PATH = "/openapi.yaml"
TRANSCODER_FILTER = "envoy.filters.http.grpc_json_transcoder"
JWT_FILTER = "envoy.filters.http.jwt_authn"
RATE_LIMIT_FILTER = "envoy.filters.http.local_ratelimit"
#: A gRPC message's frame: a compressed flag and a 4-byte length.
GRPC_FRAME_HEADER_BYTES = 5


@cache
def openapi_document() -> str:
    """protos/govshare/openapi.yaml, installed as the ``govshare`` package's data, so the renderer finds the
    document of the very protos it routes, in the image as in a checkout."""
    return resources.files("govshare").joinpath("openapi.yaml").read_text(encoding="utf-8")


OPENAPI_FILE = "openapi.yaml"


def write_openapi(directory: Path) -> Path:
    """The OpenAPI document written into ``directory`` (beside the configuration) for Envoy to serve."""
    path = directory / OPENAPI_FILE
    path.write_text(openapi_document(), encoding="utf-8")
    return path


def _openapi_route(settings: Settings, document: Path | None = None) -> dict[str, object]:
    """The document from ``document``, the file written beside the configuration (:func:`write_openapi`: the
    chart's Envoy runs the official image, which holds no govshare files, but reads the directory its init
    container renders into), else inlined. Inlined, it was ~210 KB of every configuration Envoy parsed (a third
    of it); Envoy reads the file once as it loads the configuration, as it reads the descriptor set.

    Envoy's CORS filter skips direct responses, so where browsers are admitted (GOVSHARE_CORS_ORIGINS) the route
    says itself that any page may read the document: it is public, served without a token, and holds nothing a
    caller's credentials would unlock, so ``*`` admits no more than a curl does (a Swagger UI on an allowed
    origin could not load it before)."""
    headers = {"content-type": "application/yaml; charset=utf-8"}
    if settings.cors_origins:
        headers["access-control-allow-origin"] = "*"
    methods = {"safe_regex": {"regex": "GET|HEAD"}}
    return {"match": {"path": OPENAPI_PATH, "headers": [{"name": ":method", "string_match": methods}]},
            "direct_response": {"status": 200, "body": ({"filename": str(document)} if document is not None
                                                        else {"inline_string": openapi_document()})},
            "response_headers_to_add": _headers(headers),
            # The transcoder refuses paths that name no RPC (reject_unknown_method); this one is the edge's own.
            "typed_per_filter_config": {TRANSCODER_FILTER: {
                "@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig", "disabled": True}}}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _parameter_names(field: str) -> list[str]:
    """The query parameter names the transcoder reads as ``field`` (each segment snake_case or lowerCamelCase)."""
    names = [""]
    for segment in field.split("."):
        names = [f"{name}.{form}" if name else form for name in names for form in dict.fromkeys(
            (segment, _camel(segment)))]
    return names


def _url_field_in_query(route: Route) -> dict[str, object]:
    """A REST call naming a URL-bound field again in its query string (``PATCH /v1/entries/A?entry.code=B``) is
    refused: the transcoder let the parameter win, so the call read or changed B, not the A its URL names."""
    names = [name for field in route.url_fields for name in _parameter_names(field)]
    pattern = "|".join(re.escape(name) for name in names)
    match = {"path": route.method, "headers": [{"name": "x-envoy-original-path", "string_match": {
        "safe_regex": {"regex": f"[^?]*\\?(?:.*&)?(?:{pattern})(?:[=&].*)?"}}}]}
    fields = ", ".join(f"{{{field}}}" for field in route.url_fields)
    return {"match": match, "direct_response": {"status": 400, "body": {"inline_string": (
        f"a query parameter repeats {fields}, which the URL gives: the URL names the object; drop the "
        "parameter")}}}


def _query_string_refused(route: Route) -> dict[str, object]:
    """A REST call whose every field goes in the JSON body (``body: "*"``) is refused with a query string.

    The transcoder read a query parameter as the field it names all the same, so ``POST
    /v1/resources/X:query?key=<公民身份号码>`` answered the query and ``POST /v1/tokens?secret=…`` issued a token:
    an ID number or a secret in a URL, which proxies and browsers keep, though openapi.yaml declares no query
    parameter for these calls and docs/api.md says personal data never travels in one."""
    match = {"path": route.method, "headers": [{"name": "x-envoy-original-path", "string_match": {
        "safe_regex": {"regex": "[^?]*\\?.+"}}}]}
    return {"match": match, "direct_response": {"status": 400, "body": {"inline_string": (
        "this call takes no query parameter: every field goes in the JSON body (a record key, a claimed value "
        "or a secret never travels in a URL); move the parameters into the body")}}}


def _query_parameter_without_value(route: Route) -> dict[str, object]:
    """A REST call with a query parameter that has no ``=`` (``?overdueOnly``, ``?pagesize``) or no name
    (``?=5``) is refused, naming what to write.

    The transcoder skipped such a parameter without a word, though it refuses an unknown or misspelt one with a
    value: ``GET /v1/applications?overdueOnly`` listed every application, not the overdue ones, and
    ``?pagesize`` (for ``pageSize``) passed where ``?pagesize=5`` is a 400."""
    match = {"path": route.method, "headers": [{"name": "x-envoy-original-path", "string_match": {
        "safe_regex": {"regex": "[^?]*\\?(?:[^&]*&)*(?:[^=&]+|=[^&]*)(?:&.*)?"}}}]}
    return {"match": match, "direct_response": {"status": 400, "body": {"inline_string": (
        "a query parameter has no value or no name (?overdueOnly, ?=5): write each as name=value "
        "(overdueOnly=true), with the names /openapi.yaml gives")}}}


def _query_parameter_repeated(route: Route) -> list[dict[str, object]]:
    """A REST call giving a query parameter that holds one value more than once (``?pageSize=1&pageSize=2``, or
    ``?page_size=1&pageSize=2``) is refused, naming that parameter: a route per such field.

    The transcoder kept one of the values without a word, so a client that built its URL from two sources (a
    default and the user's choice) got a page, or a month, it did not know it had asked for. A list (a repeated
    field, ``items``) takes a parameter per value, as before. The refusal named every parameter of the call that
    takes one value (ten of ListEntries'), the one given twice among them, which the caller had to find; each
    field's route names its own (a route is matched by its method's path before its query string is read: a call
    of another method meets each by one compare of its path)."""
    routes = []
    for field in route.single_query_fields:
        spelling = "|".join(re.escape(name) for name in _parameter_names(field))
        repeated = f"(?:{spelling})=[^&]*&(?:.*&)?(?:{spelling})"
        match = {"path": route.method, "headers": [{"name": "x-envoy-original-path", "string_match": {
            "safe_regex": {"regex": f"[^?]*\\?(?:.*&)?(?:{repeated})(?:[=&].*)?"}}}]}
        name = ".".join(map(_camel, field.split(".")))
        routes.append({"match": match, "direct_response": {"status": 400, "body": {"inline_string": (
            f"a query parameter is given more than once, which only a list may be: {name} takes one value; send "
            "it once")}}})
    return routes


def _route(match: dict[str, object], backend: Backend, default_timeout: float,
           cluster: str = "", streaming: bool = False) -> dict[str, object]:
    """A route to ``backend``; a unary call ends at the client's deadline (``grpc-timeout``) or the default.

    A server stream (``Export``) ends at the client's deadline by the client's and the backend's own timers,
    which end it with DEADLINE_EXCEEDED; the edge only caps it at ``default_timeout``. When the edge also timed
    the client's deadline, its timer often fired first, after the first rows had gone out, and Envoy could then
    only reset the stream: the client read INTERNAL "RST_STREAM with error code 2" instead of DEADLINE_EXCEEDED.
    """
    duration: dict[str, object] = {"max_stream_duration": _seconds(default_timeout)}
    if not streaming:
        duration["grpc_timeout_header_max"] = _seconds(MAX_DEADLINE_SECONDS)
        duration["grpc_timeout_header_offset"] = _seconds(DEADLINE_MARGIN_SECONDS)
    return {"match": match, "route": {
        "cluster": cluster or backend.value,
        "timeout": "0s",
        "max_stream_duration": duration,
    }}


#: Every route to a backend retries once a call that never reached it (a connection refused or reset before the
#: request went out: a backend restarting, a pod going away), and one its backend answered CANCELLED (``cancelled``:
#: grpc-status in the reply's headers, a reply without a message): a grpc server that stops (a service's drain, its
#: grace over) ends so the calls it had received but not started, which the caller read as CANCELLED, the status of
#: a call it gave up itself. The retry reaches another replica, or, the backend gone, the UNAVAILABLE naming it
#: (_backend_gone_replies). A service answers no CANCELLED of its own (the calls its drain's timeout cuts end
#: UNAVAILABLE 'Cancelling all calls', those whose caller gave up are answered to no one). Set once on the virtual
#: host, which every route without a policy of its own takes: it was repeated on each of the ~190 routes.
RETRY_POLICY = {"retry_on": "reset-before-request,connect-failure,cancelled", "num_retries": 1}


def _with_short_deadline(route: dict[str, object]) -> dict[str, object]:
    """``route`` for a call whose grpc-timeout is under 100 ms (SHORT_DEADLINE), without the edge's margin: listed
    before it, such a call keeps its whole deadline rather than being ended at once."""
    match = {**route["match"], "headers": [  # type: ignore[dict-item]
        *route["match"].get("headers", []),  # type: ignore[attr-defined]
        {"name": "grpc-timeout", "string_match": {"safe_regex": {"regex": SHORT_DEADLINE}}}]}
    action = dict(route["route"])  # type: ignore[call-overload]
    action["max_stream_duration"] = {key: value for key, value in action["max_stream_duration"].items()
                                     if key != "grpc_timeout_header_offset"}
    return {**route, "match": match, "route": action}


#: The methods nearly every call is (the online queries). Envoy tries a virtual host's routes in order, and every
#: method's routes before a call's own cost it a header match or two (a REST call's query string, a malformed
#: grpc-timeout): listed first, they are reached after the few routes every call is checked against. Each method's
#: routes match its path alone, so their order among methods changes no answer.
HOT_METHODS = ("/govshare.query.v1.QueryService/Query", "/govshare.query.v1.QueryService/BatchQuery",
               "/govshare.query.v1.QueryService/Verify")


def _routes(table: RoutingTable, settings: Settings, openapi: Path | None = None) -> list[dict[str, object]]:
    routes: list[dict[str, object]] = [_preflight_not_admitted(settings), _grpc_call_to_a_rest_url(),
                                       _grpc_call_not_posted(),
                                       _grpc_timeout_malformed(), *_zero_deadline(settings),
                                       _grpc_call_without_message(), _grpc_call_without_te_trailers(),
                                       _grpc_encoding_unknown(), _grpc_web_json()]
    deployed = backend_targets(settings)
    heavy_reads = heavy_read_targets(settings)
    for backend in sorted({route.backend for route in table} - deployed.keys()):
        # An optional backend without a target (supervision before it is deployed): its services answer
        # UNAVAILABLE saying so, and everything else is served.
        for service in table.service_names:
            if table.backend(service) == backend:
                routes += _answered_here(f"/{service}/", f"{service} is not deployed here (GOVSHARE_"
                                         f"{backend.value.upper()}_TARGET is not set)", status=503)
    # By exact path (a method the table does not list never reaches a backend), the hot methods first.
    for route in sorted(table, key=lambda route: route.method not in HOT_METHODS):
        if route.backend not in deployed:
            continue
        timeout = (STREAM_TIMEOUT_SECONDS if route.server_streaming else
                   max(settings.call_timeout_seconds, LONG_CALL_TIMEOUT_SECONDS.get(route.method, 0.0)))
        heavy = HEAVY_READS.get(route.method) in heavy_reads
        if route.body_takes_every_field:
            routes.append(_query_string_refused(route))
        elif route.http_rules:
            routes.append(_query_parameter_without_value(route))
            if route.single_query_fields:
                routes += _query_parameter_repeated(route)
            if route.url_fields:
                routes.append(_url_field_in_query(route))
        method_route = _route({"path": route.method}, route.backend, timeout,
                              heavy_read_cluster(route.backend) if heavy else "", route.server_streaming)
        if (limit := message_limit(route.method)) is not None:
            _with_message_limit(method_route, limit)
        if not route.server_streaming:
            routes.append(_with_short_deadline(method_route))
        routes.append(method_route)
    routes += _health_routes(table, deployed)
    for prefix in REFLECTION_PREFIXES:
        routes.append(_route({"prefix": prefix, "headers": [_GRPC_OR_GRPC_WEB]}, EDGE_COMPANION,
                             STREAM_TIMEOUT_SECONDS))
    for service in sorted(INTERNAL_SERVICES):
        routes += _answered_here(f"/{service}/", f"{service} is internal and not served by the edge")
    for service in table.service_names:
        routes += _answered_here(f"/{service}/", f"{service} has no such method")
    routes.append(_openapi_route(settings, openapi))
    routes.append(_method_under_a_prefix())
    if settings.descriptor_set:
        routes.append(_with_rest_replies(_rest_route(settings)))
    *grpc_unknown, unknown = _answered_here("/", f"unknown service: the edge serves {', '.join(table.service_names)}")
    routes += grpc_unknown
    routes.append(_with_rest_replies(unknown) if settings.descriptor_set else unknown)
    return _for_browsers(routes, settings.cors_origins) if settings.cors_origins else routes


#: What a page may read of a cross-origin answer besides the CORS-safelisted headers: a gRPC-Web client reads a
#: trailers-only answer's status, message and rich details (ErrorInfo, BadRequest, RetryInfo) from these headers,
#: a REST page the edge's Retry-After (on its 429 and 503) and a 405's Allow, and either the audit id of a batch
#: download (Export), which only its initial metadata carries (services/query/servicer.py's AUDIT_ID_HEADER).
CORS_EXPOSED_HEADERS = "grpc-status, grpc-message, grpc-status-details-bin, retry-after, allow, x-govshare-audit-id"
CORS_ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
#: What a browser's gRPC-Web or fetch client sends: OpenTelemetry's web instrumentation adds tracestate and baggage
#: beside traceparent, and request libraries an x-request-id (the edge makes its own); a header left out of this
#: list makes the browser refuse the call before it is sent.
CORS_ALLOWED_HEADERS = ("authorization, content-type, x-grpc-web, x-user-agent, grpc-timeout, traceparent, tracestate,"
                        " baggage, x-request-id")
CORS_MAX_AGE_SECONDS = "600"


def _allowed_origin(origins: tuple[str, ...]) -> dict[str, object]:
    """A header matcher for a request from one of ``origins`` (exactly, as the CORS filter compares them)."""
    return {"name": "origin", "string_match": {"safe_regex": {"regex": "|".join(re.escape(o) for o in origins)}}}


def _for_browsers(routes: list[dict[str, object]], origins: tuple[str, ...]) -> list[dict[str, object]]:
    """The edge's own answers (direct responses) marked for the allowed origins, as the CORS filter marks the rest.

    Envoy's CORS filter skips a route that does not forward, so every refusal the edge writes itself — a
    malformed ``grpc-timeout``, a body without a message, a method that is not a POST, an unknown method or
    service — reached an allowed page without Access-Control-Allow-Origin: the browser hid it, and the page saw
    only "Failed to fetch" instead of the status and the message saying what to fix; the preflight of an unknown
    method was a 404, so the browser never sent the call. Each such route gets a twin, first, for a request
    from an allowed origin, with the headers the CORS filter would add; the edge answers the allowed origins'
    preflights itself, on every path, as the CORS filter does on the routes that forward."""
    origin = _allowed_origin(origins)
    marks = {"access-control-allow-origin": "%REQ(origin)%", "access-control-expose-headers": CORS_EXPOSED_HEADERS,
             "vary": "origin"}
    preflight = {"match": {"prefix": "/", "headers": [
                     {"name": ":method", "string_match": {"exact": "OPTIONS"}}, origin,
                     {"name": "access-control-request-method", "present_match": True}]},
                 "direct_response": {"status": 200},
                 "response_headers_to_add": _headers({
                     "access-control-allow-origin": "%REQ(origin)%", "access-control-allow-methods":
                     CORS_ALLOWED_METHODS, "access-control-allow-headers": CORS_ALLOWED_HEADERS,
                     "access-control-expose-headers": CORS_EXPOSED_HEADERS, "access-control-max-age":
                     CORS_MAX_AGE_SECONDS, "vary": "origin"}),
                 # As the CORS filter answers it, before the transcoder (which refuses a path that names no RPC, a
                 # REST URL's too), the token check (a preflight carries none) and the rate limit.
                 "typed_per_filter_config": {name: {
                     "@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig", "disabled": True}
                     for name in (TRANSCODER_FILTER, JWT_FILTER, RATE_LIMIT_FILTER)}}
    marked: list[dict[str, object]] = [preflight]
    for route in routes:
        added = {header["header"]["key"] for header in route.get("response_headers_to_add", [])}  # type: ignore[attr-defined,index]
        if "direct_response" in route and "access-control-allow-origin" not in added:
            twin = {**route, "match": {**route["match"],  # type: ignore[dict-item]
                                       "headers": [*route["match"].get("headers", []), origin]},  # type: ignore[attr-defined]
                    "response_headers_to_add": [*route.get("response_headers_to_add", []),  # type: ignore[misc]
                                                *_headers(marks)]}
            marked.append(twin)
        marked.append(route)
    return marked


#: A browser's CORS preflight: OPTIONS, naming the page's origin and the method the page means to send.
_PREFLIGHT = [{"name": ":method", "string_match": {"exact": "OPTIONS"}},
              {"name": "origin", "present_match": True},
              {"name": "access-control-request-method", "present_match": True}]
#: The reason a preflight from an origin GOVSHARE_CORS_ORIGINS does not list is refused with.
ORIGIN_NOT_ADMITTED = "ORIGIN_NOT_ADMITTED"


def _preflight_not_admitted(settings: Settings) -> dict[str, object]:
    """A CORS preflight from an origin the edge does not admit is 403 (PERMISSION_DENIED, ORIGIN_NOT_ADMITTED),
    saying so (:func:`_preflight_refusal`); an allowed origin's is answered before it (:func:`_for_browsers`).

    It went on as a call: a gRPC-Web method's path answered 415 "called without a gRPC content type: send it as
    gRPC-Web…" and a REST URL 405 "takes POST or GET or HEAD, not OPTIONS: send it so", the words a developer read
    in the browser's devtools for a page whose only fault was its origin (the console on a new host name, a page
    served from http://localhost:5173), whose method the browser, not the page, chose. Answered here, before the
    transcoder (which would refuse the URL), the token check (a preflight carries no token) and the rate limit."""
    disabled = {name: {"@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig", "disabled": True}
                for name in (TRANSCODER_FILTER, JWT_FILTER, RATE_LIMIT_FILTER)}
    keep_status = _any("envoy.extensions.filters.http.lua.v3.LuaPerRoute",
                       source_code={"inline_string": _KEEP_STATUS.replace("{state}", GRPC_WEB_STATE)})
    return {"match": {"prefix": "/", "headers": _PREFLIGHT},
            "direct_response": {"status": 403, "body": {"inline_string": ORIGIN_NOT_ADMITTED}},
            "typed_per_filter_config": {**disabled, _LUA: keep_status}}


#: The gRPC status of the edge's own reply, kept where the access log reads a status the edge kept
#: (:func:`_access_log`): a request that never became a gRPC call (a CORS preflight refused 403) was logged
#: grpc_status null, as if nothing had failed, though its JSON google.rpc.Status and grpc-status say
#: PERMISSION_DENIED.
_KEEP_STATUS = """
function envoy_on_response(handle)
  local code = tonumber(handle:headers():get("grpc-status") or "")
  if code ~= nil then
    handle:streamInfo():dynamicMetadata():set("{state}", "grpc_status", code)
  end
end
"""


def _preflight_refusal(settings: Settings) -> dict[str, object]:
    """The JSON google.rpc.Status of :func:`_preflight_not_admitted`'s 403, naming the origin (at most 200
    characters of it: a scheme, a host and a port, nothing the edge keeps from repeating) and the setting."""
    if settings.cors_origins:
        words = ("which this edge does not admit: a page calls the platform only from an origin listed in "
                 "GOVSHARE_CORS_ORIGINS, written as the browser sends it (scheme, host and port, no path); ask the "
                 "platform's operator to list it")
    else:
        words = ("and this edge admits no origin (GOVSHARE_CORS_ORIGINS is not set), so no browser page may call it; "
                 "its operator lists the pages' origins there (scheme, host and port, as the browser sends them)")
    message = f"a CORS preflight from the origin %REQ(origin):200%, {words}"
    status = status_of(ServiceError(grpc.StatusCode.PERMISSION_DENIED, ORIGIN_NOT_ADMITTED, message), "edge")
    reply = _rest_reply(_both(_status_is(403), _details_start(("direct_response",)), *(
        {"header_filter": {"header": header}} for header in _PREFLIGHT)), grpc.StatusCode.PERMISSION_DENIED, message)
    reply["body_format_override"]["json_format"]["details"] = _json_details(status)  # type: ignore[index]
    return reply


def _headers(values: Mapping[str, str]) -> list[dict[str, object]]:
    return [{"header": {"key": key, "value": value}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}
            for key, value in values.items()]


#: A gRPC or gRPC-Web call. Envoy's own ``grpc`` matcher knows only ``application/grpc``, and the route is chosen
#: before the gRPC-Web filter rewrites the content type, so a browser's health check met the catch-all (404).
_GRPC_OR_GRPC_WEB = {"name": "content-type", "string_match": {"prefix": "application/grpc"}}
#: Set by the edge's health script (never by a client: every client-sent ``x-govshare-*`` header is removed first).
_HEALTH_BACKEND_HEADER = "x-govshare-health-backend"
_LUA = "envoy.filters.http.lua"


def _hosted_elsewhere(table: RoutingTable, deployed: Mapping[Backend, str]) -> dict[str, Backend]:
    """The public services whose health a backend other than the companion answers, by service name."""
    return {service: table.backend(service) for service in table.service_names
            if table.backend(service) != EDGE_COMPANION and table.backend(service) in deployed}


def _health_routes(table: RoutingTable, deployed: Mapping[Backend, str]) -> list[dict[str, object]]:
    """Health through the edge answered by the backend that hosts the service asked about.

    ``Check(service="govshare.query.v1.QueryService")`` went to the companion, which hosts no such service and
    said NOT_FOUND while the query service was serving. The service is named in the message, so the health
    route runs :func:`_health_script` (enabled on this route only), which names the hosting backend in a header;
    Envoy then routes again and the call meets the route for that backend, listed first."""
    hosts = _hosted_elsewhere(table, deployed)
    routes = [_route({"prefix": prefix, "headers": [_GRPC_OR_GRPC_WEB, {
        "name": _HEALTH_BACKEND_HEADER, "string_match": {"exact": backend.value}}]}, backend, STREAM_TIMEOUT_SECONDS)
        for backend in sorted(set(hosts.values())) for prefix in HEALTH_PREFIXES]
    script = {"@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig", "config": _any(
        "envoy.extensions.filters.http.lua.v3.LuaPerRoute", source_code={"inline_string": _health_script(hosts)})}
    for prefix in HEALTH_PREFIXES:
        route = _route({"prefix": prefix, "headers": [_GRPC_OR_GRPC_WEB]}, EDGE_COMPANION, STREAM_TIMEOUT_SECONDS)
        route["typed_per_filter_config"] = {_LUA: script}
        routes.append(route)
    return routes


def _health_script(backends: Mapping[str, Backend]) -> str:
    """gateway/health_backend.lua, after the tables it reads: which backend hosts each service, and the internal
    services, whose health the edge does not tell (the companion hosts some: it said SERVING of them)."""
    entries = "".join(f"  [{json.dumps(service)}] = {json.dumps(backend.value)},\n"
                      for service, backend in sorted(backends.items()))
    return (f"local HEADER = {json.dumps(_HEALTH_BACKEND_HEADER)}\nlocal BACKENDS = {{\n{entries}}}\n"
            f"local INTERNAL = {_lua_set(sorted(INTERNAL_SERVICES))}\n\n"
            + resources.files("gateway").joinpath("health_backend.lua").read_text(encoding="utf-8"))


#: The REST replies' script (gateway/rest_replies.lua): a filter of its own, off but on the routes a REST URL meets.
REST_REPLIES_FILTER = "govshare.rest_replies"
#: Set by a local reply mapper on a body the transcoder refused, for the script, which removes it (a response header).
_TRANSCODE_FAILURE_HEADER = "x-govshare-transcode-failure"
#: What a REST caller whose message is over the services' limit is told (413); {size} is the message's size.
MESSAGE_TOO_LARGE = (
    f"the request is over the {MAX_MESSAGE_BYTES // (1024 * 1024)} MiB ({MAX_MESSAGE_BYTES:,} bytes) a call's "
    "message may be ({size} bytes): it is refused whatever it holds, so sending it again fails the same way; send "
    "less per call (a LoadRecords of long records in calls of 2,000, a BatchQuery with fewer keys)")


#: The largest REST body the edge checks, and holds to check (its JSON may be up to twice its message). A larger
#: one is refused 413 (BODY_TOO_LARGE): it went on unchecked, on the belief that its message was over the
#: services' limit whatever it held, but JSON indented, or with its Chinese written as \u escapes (Python's
#: json.dumps, and requests' json=, by default: six bytes for a character UTF-8 writes in three), is more than
#: twice its message, and a misspelt field ("itmes") in such a body was dropped without a word, the call asking
#: for every item the grant allows.
BODY_CHECK_BYTES = 2 * MAX_MESSAGE_BYTES

BODY_TOO_LARGE = (
    f"the request's JSON is {{size}} bytes, more than the {BODY_CHECK_BYTES // (1024 * 1024)} MiB "
    f"({BODY_CHECK_BYTES:,} bytes) the edge reads of a body, twice the {MAX_MESSAGE_BYTES // (1024 * 1024)} MiB a "
    "call's message may be: it is refused whatever it holds; send the JSON without indentation and its Chinese as "
    "UTF-8, not \\u escapes (Python: json.dumps(body, ensure_ascii=False, separators=(',', ':'))), or send less "
    "per call")

#: A body sent without a content-length (chunked, or HTTP/2 without one) that grows past BODY_CHECK_BYTES: the edge
#: holding it to check it refuses it once that much has come (Envoy's "Payload Too Large", which said neither the
#: limit nor what to do).
_BODY_TOO_LARGE_SENT = BODY_TOO_LARGE.replace("is {size} bytes, more than", "grew past").replace(
    "the edge reads of a body", "the edge reads of a body (it came without a content-length)")


def _lua_url_pattern(template: str, capture: bool = False) -> str:
    """A Lua pattern of the paths (without the query string) a REST URL template maps, as _url_pattern's regex;
    with ``capture``, each variable's segment is a capture, in the template's order."""
    parts = [re.sub(r"(\W)", r"%\1", part) for part in re.split(r"\{[^}]*\}", template)]
    return "^" + ("([^/?:]+)" if capture else "[^/?:]+").join(parts) + "$"


def _camel_bound_fields(rule: HttpRule) -> dict[str, int]:
    """The fields of a rule's body message its URL binds too whose lowerCamelCase name is not their proto name
    (``resourceCode`` of ``POST /v1/resources/{resource_code}:query``), each with its variable's place in the URL
    (from 1). The transcoder refuses a body giving such a field another value than the URL only under its proto
    name (reject_binding_body_field_collisions compares names as written): under the name a JSON library writes,
    the URL's value was used without a word, and the call answered about another object than the body named."""
    message = descriptor_pool.Default().FindMessageTypeByName(rule.body_message)
    bound: dict[str, int] = {}
    for place, variable in enumerate(url_variables(rule.template), start=1):
        path = variable if rule.body == "*" else variable.removeprefix(f"{rule.body}.")
        field = message.fields_by_name.get(path) if path != variable or rule.body == "*" else None
        if field is not None and field.json_name != field.name:
            bound[field.json_name] = place
    return bound


def _rest_replies_script(table: RoutingTable) -> str:
    """gateway/rest_replies.lua, after the names, words and URLs it uses."""
    values = {"MARKER": _TRANSCODE_FAILURE_HEADER, "KEPT_STATUS": GRPC_WEB_STATE, "LIMIT_BYTES": str(MAX_MESSAGE_BYTES),
              "CHECK_BYTES": str(BODY_CHECK_BYTES),
              "TOO_LARGE": MESSAGE_TOO_LARGE, "BODY_TOO_LARGE": BODY_TOO_LARGE}
    prelude = "".join(f"local {name} = {json.dumps(value, ensure_ascii=False)}\n" for name, value in values.items())
    gets = sorted({_lua_url_pattern(rule.template) for route in table for rule in route.http_rules
                   if rule.verb == "GET"})
    prelude += "local GET_URLS = {\n" + "".join(f"  {json.dumps(pattern)},\n" for pattern in gets) + "}\n"
    prelude += _url_variables(table)
    prelude += "local TIME_PARAMETERS = " + _lua_set(sorted(_time_parameters(table))) + "\n"
    prelude += _body_schema(table)
    enums = {name: ", ".join(values) for name, values in request_enums(table).items()}
    prelude += "local ENUM_NAMES = " + _lua_table(enums) + "\n"
    return prelude + "\n" + resources.files("gateway").joinpath("rest_replies.lua").read_text(encoding="utf-8")


def _time_parameters(table: RoutingTable) -> set[str]:
    """The query parameter names (both spellings, dotted) that set a google.protobuf.Timestamp of some call's
    request (``startTime``, ``expire_before``): the script writes the ``t`` and ``z`` of their values in upper
    case, as RFC 3339 allows either and the transcoder reads only the upper. No such name sets another type of
    field in another call (tests/unit/test_gateway_edge.py checks it)."""
    pool = descriptor_pool.Default()
    names: set[str] = set()
    for route in table:
        request = pool.FindMethodByName(route.method[1:].replace("/", ".")).input_type
        for path in route.single_query_fields:
            message = request
            for segment in path.split("."):
                message = message.fields_by_name[segment].message_type
            if message is not None and message.full_name == "google.protobuf.Timestamp":
                names.update(_parameter_names(path))
    return names


def _url_variables(table: RoutingTable) -> str:
    """The script's URL_VARIABLES: each REST URL template that binds a variable, as a Lua pattern capturing each
    variable's segment, with the variables' names in the template's order (``{resource_code}``), by which a
    refusal names a segment without repeating it."""
    templates = sorted({(_lua_url_pattern(rule.template, capture=True), tuple(url_variables(rule.template)))
                        for route in table for rule in route.http_rules if url_variables(rule.template)})
    return "local URL_VARIABLES = {\n" + "".join(
        f"  {{{json.dumps(pattern)}, {{{', '.join(json.dumps(name) for name in names)}}}}},\n"
        for pattern, names in templates) + "}\n"


def _lua_table(entries: Mapping[str, str]) -> str:
    return "{" + ", ".join(f"[{json.dumps(key)}] = {json.dumps(value)}" for key, value in entries.items()) + "}"


def _parameters_beside_body(route: Route, rule: HttpRule) -> dict[str, str]:
    """The request's fields a rule whose body is one of them (``body: "application"``) takes as query parameters,
    by both their names, each with its lowerCamelCase one (``requestId`` of ``POST /v1/applications``,
    ``updateMask`` of a PATCH): written into the JSON body instead, one was refused only as "not a field of
    Application", which listed the body's fields and did not say where it goes."""
    if rule.body == "*":
        return {}
    service, _, name = route.method.strip("/").partition("/")
    request = descriptor_pool.Default().FindMethodByName(f"{service}.{name}").input_type
    bound = {variable.partition(".")[0] for variable in url_variables(rule.template)}
    return {spelling: field.json_name for field in request.fields if field.name != rule.body and field.name not in bound
            for spelling in (field.json_name, field.name)}


def _lua_table_of_places(entries: Mapping[str, int]) -> str:
    return "{" + ", ".join(f"[{json.dumps(key)}] = {value}" for key, value in sorted(entries.items())) + "}"


def _body_schema(table: RoutingTable) -> str:
    """The script's tables for checking a REST body's field names: BODY_RULES (each URL's verb, Lua pattern and
    body message, the fields its URL binds, its parameters beside the body and the request field the body is, ""
    for the whole request), FIELDS (the names each message takes, :func:`gateway.routing.body_fields`),
    FIELD_NAMES (its lowerCamelCase names in order, for the refusal to list), REPEATED, FIELD_SHAPES
    (:func:`_field_shapes`), EMPTY_MEANS (:func:`_empty_list_means`), FIELD_ENUMS, ENUM_NUMBERS and ENUM_VALUES
    (:func:`_field_enums`)."""
    rules = sorted({(rule.verb, _lua_url_pattern(rule.template, capture=True), rule.body_message,
                     _lua_table_of_places(_camel_bound_fields(rule)), _lua_table(_parameters_beside_body(route, rule)),
                     "" if rule.body == "*" else rule.body)
                    for route in table for rule in route.http_rules if rule.body_message})
    fields = body_fields(table)
    pool = descriptor_pool.Default()
    names = {name: ", ".join(field.json_name for field in pool.FindMessageTypeByName(name).fields)
             for name in fields}
    field_enums = _field_enums(fields)
    return ("local BODY_RULES = {\n" + "".join(f"  {{{json.dumps(verb)}, {json.dumps(pattern)}, {json.dumps(name)}, "
                                               f"{bound}, {parameters}, {json.dumps(body)}}},\n"
                                               for verb, pattern, name, bound, parameters, body in rules) + "}\n"
            + "local FIELDS = {\n" + "".join(f"  [{json.dumps(name)}] = {_lua_table(kinds)},\n"
                                             for name, kinds in fields.items()) + "}\n"
            + "local FIELD_NAMES = " + _lua_table(names) + "\n"
            + "local REPEATED = {\n" + "".join(f"  [{json.dumps(name)}] = {_lua_set(repeated)},\n"
                                               for name, repeated in _repeated_fields(fields).items()) + "}\n"
            + "local FIELD_SHAPES = {\n" + "".join(f"  [{json.dumps(name)}] = {_lua_table(shapes)},\n"
                                             for name, shapes in _field_shapes(fields).items()) + "}\n"
            + "local EMPTY_MEANS = {\n" + "".join(f"  [{json.dumps(name)}] = {_lua_table(means)},\n"
                                                  for name, means in _empty_list_means().items()) + "}\n"
            + "local FIELD_ENUMS = {\n" + "".join(f"  [{json.dumps(name)}] = {_lua_table(enums)},\n"
                                                  for name, enums in field_enums.items()) + "}\n"
            + "local ENUM_NUMBERS = {\n" + "".join(f"  [{json.dumps(name)}] = {_lua_numbers(numbers)},\n"
                                                   for name, numbers in _enum_numbers(field_enums).items()) + "}\n"
            + "local ENUM_VALUES = {\n" + "".join(f"  [{json.dumps(name)}] = {_lua_set(values)},\n"
                                                  for name, values in _enum_values(field_enums).items()) + "}\n")


def _empty_list_means() -> dict[str, dict[str, str]]:
    """:data:`gateway.routing.EMPTY_LIST_MEANS` by message, under both of each field's names (the transcoder reads
    either)."""
    pool = descriptor_pool.Default()
    found: dict[str, dict[str, str]] = {}
    for (message, name), means in EMPTY_LIST_MEANS.items():
        field = pool.FindMessageTypeByName(message).fields_by_name[name]
        found.setdefault(message, {}).update(dict.fromkeys((field.json_name, field.name), means))
    return found


def _repeated_fields(messages: Iterable[str]) -> dict[str, list[str]]:
    """The names (both spellings) of each message's repeated fields that are not maps: a JSON list's elements."""
    pool = descriptor_pool.Default()
    found = {name: [spelling for field in pool.FindMessageTypeByName(name).fields
                    if field.is_repeated
                    and not (field.message_type is not None and field.message_type.GetOptions().map_entry)
                    for spelling in (field.json_name, field.name)]
             for name in messages}
    return {name: repeated for name, repeated in found.items() if repeated}


def _field_shapes(fields: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    """The JSON shape each message's fields take (both spellings), where the transcoder's refusal of another one
    names the wrong field or none: "value" (one scalar or enum), "values" (a list of enums or numbers), "strings"
    (a list of strings) or "object" (one message). A list given a single value was ": Proto field is not
    repeating, cannot start list." naming at most the message holding it, and an object given a value inside a
    message ("purpose": {"text": {}}) was "purpose: not a valid text": the script refuses each naming the field as
    sent. The transcoder named a list's element of the wrong type by a wrong place ("keys": ["A", 5] was keys[0]):
    the script checks a list of strings' elements itself. Maps, lists of messages and the messages the script does
    not look into (Timestamp, Struct, wrappers: ``fields``' kind "") are left to the transcoder."""
    pool = descriptor_pool.Default()
    found: dict[str, dict[str, str]] = {}
    for name, kinds in fields.items():
        shapes: dict[str, str] = {}
        for field in pool.FindMessageTypeByName(name).fields:
            kind = kinds[field.name]
            if field.message_type is None and field.is_repeated:
                shape = "strings" if field.type == field.TYPE_STRING else "values"
            elif field.message_type is None:
                shape = "value"
            elif kind == field.message_type.full_name and not field.is_repeated:
                shape = "object"
            else:
                continue
            shapes.update(dict.fromkeys((field.json_name, field.name), shape))
        if shapes:
            found[name] = shapes
    return found


def _field_enums(fields: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    """Each body message's enum fields (both spellings, single or repeated), with their enum's full name. The
    transcoder writes a JSON number into an enum field as it is, one the enum has not as well ({"type": 99}): the
    call reached the service with a purpose, a decision or a state no service knows, and was answered as if the
    field were something else. The script checks a number against the enum's (:func:`_enum_numbers`)."""
    pool = descriptor_pool.Default()
    found: dict[str, dict[str, str]] = {}
    for name in fields:
        enums = {spelling: field.enum_type.full_name for field in pool.FindMessageTypeByName(name).fields
                 if field.enum_type is not None for spelling in (field.json_name, field.name)}
        if enums:
            found[name] = enums
    return found


def _enum_numbers(field_enums: Mapping[str, Mapping[str, str]]) -> dict[str, list[int]]:
    """The numbers of each enum :func:`_field_enums` names (0, "unspecified", among them: a service says what it
    needs of one left unset)."""
    pool = descriptor_pool.Default()
    names = sorted({enum for enums in field_enums.values() for enum in enums.values()})
    return {name: [value.number for value in pool.FindEnumTypeByName(name).values] for name in names}


def _enum_values(field_enums: Mapping[str, Mapping[str, str]]) -> dict[str, list[str]]:
    """The names of each enum :func:`_field_enums` names, its unspecified one among them (what the transcoder reads
    as a value of it, besides its numbers)."""
    pool = descriptor_pool.Default()
    names = sorted({enum for enums in field_enums.values() for enum in enums.values()})
    return {name: [value.name for value in pool.FindEnumTypeByName(name).values] for name in names}


def _lua_numbers(numbers: Iterable[int]) -> str:
    return "{" + ", ".join(f"[{number}] = true" for number in dict.fromkeys(numbers)) + "}"


def _lua_set(names: Iterable[str]) -> str:
    return "{" + ", ".join(f"[{json.dumps(name)}] = true" for name in dict.fromkeys(names)) + "}"


def _rest_replies_filter(table: RoutingTable) -> dict[str, object]:
    """The script's filter, before the transcoder (whose refusals it rewrites), off unless a route enables it: a
    gRPC call never runs it. The script is the filter's own, not a route's: the filter reads a route's script
    again for the reply, from the route the call has then, the method's (where the transcoder routed it again)."""
    script = {"inline_string": _rest_replies_script(table)}
    return {"name": REST_REPLIES_FILTER, "disabled": True, "typed_config": _any(
        "envoy.extensions.filters.http.lua.v3.Lua", default_source_code=script,
        source_codes={REST_REPLIES_FILTER: script})}


def _with_rest_replies(route: dict[str, object]) -> dict[str, object]:
    """``route`` (one a REST URL meets before the transcoder maps it) with the REST replies' script on: Envoy
    decides which filters run from the route a request first meets (a route enables a filter with a
    configuration, here the script by its name)."""
    enabled = {"@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig", "config": _any(
        "envoy.extensions.filters.http.lua.v3.LuaPerRoute", name=REST_REPLIES_FILTER)}
    route["typed_per_filter_config"] = {**route.get("typed_per_filter_config", {}),  # type: ignore[dict-item]
                                        REST_REPLIES_FILTER: enabled}
    return _with_message_limit(route, None)


#: The buffer filter holding a limited method's request whole, to refuse one over its limit (message_limit).
MESSAGE_LIMIT_FILTER = "envoy.filters.http.buffer"
#: The buffer filter's limit where a method has none: past anything the edge holds (BODY_CHECK_BYTES), never met.
NO_MESSAGE_LIMIT = 2 * BODY_CHECK_BYTES
#: A request message whose type holds no list, map or bytes field (a GetEntry, a SignIn, a ReportDispute): its
#: longest valid text (a dispute's 4,000 characters of evidence, an OIDC token) is some KiB. 256 KiB, as much as a
#: call's headers may be: room to spare, and room for a service to tell a tampered value apart itself (a page token
#: naming a 100,000-character position is INVALID_ARGUMENT on page_token, tests/integration/test_access_sweep.py).
SMALL_MESSAGE_BYTES = 256 * 1024
#: A Verify: at most 500 claims (services/query/servicer.MAX_ITEMS), each an item's machine name (at most 64 ASCII
#: characters, services/catalog/rules.MAX_SHORT_TEXT) and a value of at most 1,024 characters (MAX_CLAIM_LENGTH,
#: four UTF-8 bytes each at most), with their protobuf tags and lengths (3 + 2 + 3 bytes), and SMALL_MESSAGE_BYTES
#: for the rest (key, resource code, purpose). tests/unit/test_gateway_edge.py checks it against those limits.
VERIFY_MESSAGE_BYTES = 500 * (3 + 2 + 64 + 3 + 1024 * 4) + SMALL_MESSAGE_BYTES
#: Methods whose message may need more than SMALL_MESSAGE_BYTES yet far less than the services' MAX_MESSAGE_BYTES.
_MESSAGE_LIMITS = {"/govshare.query.v1.QueryService/Verify": VERIFY_MESSAGE_BYTES,
                   # Its one list, also_formats, names each of the three formats once at most.
                   "/govshare.supervision.v1.SupervisionService/GenerateReport": SMALL_MESSAGE_BYTES}


def _holds_a_list(message: Descriptor, seen: frozenset[str] = frozenset()) -> bool:
    """Whether ``message`` (or a message in it) has a repeated, map or bytes field: a size bounded by a count."""
    for field in message.fields:
        if field.is_repeated or field.type == field.TYPE_BYTES:
            return True
        if (field.message_type is not None and field.message_type.full_name not in seen
                and _holds_a_list(field.message_type, seen | {message.full_name})):
            return True
    return False


def message_limit(method: str) -> int | None:
    """The largest request message ``method`` takes at the edge (gRPC frame header included), or None: the
    services' MAX_MESSAGE_BYTES alone. An 8 MiB Verify, or a GetEntry of 8 MiB of unknown fields, crossed the edge
    and was read whole by a service (its memory, its event loop) before being refused; a method's message is now
    refused at the edge past what the method can need (RESOURCE_EXHAUSTED, MESSAGE_TOO_LARGE, naming the limit)."""
    if method in _MESSAGE_LIMITS:
        return _MESSAGE_LIMITS[method] + GRPC_FRAME_HEADER_BYTES
    service, _, name = method[1:].rpartition("/")
    request = descriptor_pool.Default().FindServiceByName(service).methods_by_name[name].input_type
    return None if _holds_a_list(request) else SMALL_MESSAGE_BYTES + GRPC_FRAME_HEADER_BYTES


def _with_message_limit(route: dict[str, object], limit: int | None) -> dict[str, object]:
    """``route`` with the buffer filter on (off by default: a call no limit covers is not held whole), holding at
    most ``limit`` bytes of the request; None: no limit short of what the edge holds (NO_MESSAGE_LIMIT; the
    routes a REST URL meets first, on which Envoy decides the filter runs, before the transcoder picks the
    method's route and its limit)."""
    config = {"@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig", "config": _any(
        "envoy.extensions.filters.http.buffer.v3.BufferPerRoute",
        buffer={"max_request_bytes": NO_MESSAGE_LIMIT if limit is None else limit})}
    route["typed_per_filter_config"] = {**route.get("typed_per_filter_config", {}),  # type: ignore[dict-item]
                                        MESSAGE_LIMIT_FILTER: config}
    return route


def _health_filter() -> dict[str, object]:
    """The Lua filter, off on every route but health's (which sets its script): no other call pays for it."""
    return {"name": _LUA, "disabled": True, "typed_config": _any(
        "envoy.extensions.filters.http.lua.v3.Lua", default_source_code={"inline_string": ""})}


#: Where every REST URL starts (the protos' google.api.http rules; tests/unit/test_http_rules.py checks it).
REST_PREFIX = "/v1/"


def _rest_route(settings: Settings) -> dict[str, object]:
    """A REST call gets a route that forwards, as a gRPC call has its method's, not the catch-all direct response.

    Envoy's CORS filter acts only on such a route: on the catch-all, which a REST URL meets before the transcoder
    maps it, it did nothing, so an allowed origin's preflight was the transcoder's 404 and its calls came back
    without Access-Control-Allow-Origin (GOVSHARE_CORS_ORIGINS promised REST too). And a route's buffer limit
    holds only on a route that forwards: the REST replies' script holds a body whole to check its field names,
    which a direct response's route left at the connection's 1 MiB (a larger body was Envoy's own 413). The
    transcoder then maps the URL to its method, which routes the call again; a URL it cannot map it refuses
    (404), so this route's cluster sees nothing but a gRPC call misaddressed under REST_PREFIX: UNIMPLEMENTED."""
    route = _route({"prefix": REST_PREFIX}, EDGE_COMPANION, settings.call_timeout_seconds)
    route["request_body_buffer_limit"] = str(BODY_CHECK_BYTES)
    return _with_message_limit(route, None)


# -- filters -----------------------------------------------------------------------------------------------------


def _jwt_authn(table: RoutingTable, jwks_url: str, zone: str) -> dict[str, object]:
    """Tokens verified against the platform's keys, of this zone's audience: another zone's platform, installed
    with a copy of the same signing key, issues tokens this edge refuses. A token of the earlier version's audience
    (no zone) passes here, for the tokens held across the upgrade; the backends refuse it when it was issued after
    they started (services.runtime.tokens.TokenVerifier)."""
    rules: list[dict[str, object]] = [{"match": {"path": method}} for method in sorted(ANONYMOUS_METHODS)]
    rules += [{"match": {"prefix": f"/{service}/"}, "requires": {"provider_name": JWT_PROVIDER}}
              for service in table.service_names]
    return {"name": JWT_FILTER, "typed_config": _any(
        "envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
        providers={JWT_PROVIDER: {
            "issuer": ISSUER,
            "audiences": [audience(zone), LEGACY_AUDIENCE],
            "remote_jwks": {
                "http_uri": {"uri": jwks_url, "cluster": _JWKS_CLUSTER, "timeout": "2s"},
                "cache_duration": _seconds(JWKS_CACHE_SECONDS),
                # The listener opens only once the keys are fetched: no call is refused for want of them.
                "async_fetch": {"fast_listener": False},
                "retry_policy": {"num_retries": 10, "retry_back_off": {"base_interval": "0.2s",
                                                                      "max_interval": "3s"}},
            },
            "forward": True,
            # The scheme is case-insensitive (RFC 9110 §11.1), and Envoy matches the prefix as written: a client
            # sending "bearer <token>" was told its token was missing. The backends accept any case already.
            "from_headers": [{"name": "authorization", "value_prefix": f"{scheme} "}
                             for scheme in ("Bearer", "bearer", "BEARER")],
            "clock_skew_seconds": LEEWAY_SECONDS,
            # Off unless configured: without it every call pays an EdDSA verification and a JSON parse of the
            # token. A cached token is still checked for expiry on every lookup (Envoy's JwtCache), and every
            # backend verifies it again; only its signature and claims are not re-parsed. Measured: see
            # docs/performance.md ("Cutting the edge").
            "jwt_cache_config": {"jwt_cache_size": JWT_CACHE_SIZE},
            "payload_in_metadata": JWT_PAYLOAD,
        }},
        rules=rules,
    )}


def _fill_interval(settings: Settings) -> float:
    """Seconds between refills of a system's bucket (what a refused call is told to wait, in its RetryInfo).

    Envoy refills whole tokens at most every 50 ms: one refill a second at rates of one a second or more (the
    burst covers the second's calls), else one token every 1/rate seconds."""
    per_second = settings.rate_limit_per_second
    return 1.0 if per_second >= 1 else 1.0 / per_second


def _rate_limit(settings: Settings) -> dict[str, object]:
    """A token bucket per business system (the token's ``sub``), and one per client address for calls without a
    verified token (IssueToken, SignIn): in one bucket shared by every caller, one client sending IssueToken in a
    loop left every other system unable to renew its token.

    A call is the address's when no token was verified, whatever its headers: it was when it carried no
    authorization header, and a call that carried one no one verifies (IssueToken's and SignIn's are not, so an HTTP
    client sending its last token with every request, or a flood with "Bearer x") matched neither bucket and took
    from the default one, which every such caller shared: a flood from one address refused the others' renewals.
    The sub's descriptor, with "true" in its place when there is none (no system or person id is "true"), matches
    the address's bucket only then."""
    per_second = settings.rate_limit_per_second
    interval = _fill_interval(settings)
    bucket = {"max_tokens": settings.rate_limit_burst, "tokens_per_fill": max(1, round(per_second * interval)),
              "fill_interval": f"{interval:.3f}s"}
    enabled = {"default_value": {"numerator": 100, "denominator": "HUNDRED"}}
    return {"name": RATE_LIMIT_FILTER, "typed_config": _any(
        "envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
        stat_prefix="per_system",
        token_bucket=bucket,
        filter_enabled={**enabled, "runtime_key": "per_system_rate_limit_enabled"},
        filter_enforced={**enabled, "runtime_key": "per_system_rate_limit_enforced"},
        rate_limited_as_resource_exhausted=True,
        # A call takes from its own bucket only (its system's, or its address's when it carries no token).
        always_consume_default_token_bucket=False,
        descriptors=[{"entries": [{"key": "system"}], "token_bucket": bucket},
                     {"entries": [{"key": "anonymous", "value": "true"}, {"key": "remote_address"}],
                      "token_bucket": bucket}],
        rate_limits=[{"actions": [{"metadata": {
            "descriptor_key": "system", "source": "DYNAMIC",
            "metadata_key": {"key": "envoy.filters.http.jwt_authn", "path": [{"key": JWT_PAYLOAD}, {"key": "sub"}]},
        }}]}, {"actions": [
            # No verified token: then the client's address (the connection's peer: use_remote_address).
            {"metadata": {"descriptor_key": "anonymous", "source": "DYNAMIC", "default_value": "true",
                          "metadata_key": {"key": "envoy.filters.http.jwt_authn",
                                           "path": [{"key": JWT_PAYLOAD}, {"key": "sub"}]}}},
            {"remote_address": {}}]}],
        max_dynamic_descriptors=100_000,
    )}


#: Labels of grpc_stats' counters and times in Prometheus: the service, method and status of
#: ``cluster.<cluster>.grpc.<service>.<method>.<status|success|failure|total|…>``. Envoy's own extractors
#: (``envoy.grpc_bridge_service``/``_method``, kept: they cannot be turned off alone) read a service name without
#: dots, so ``govshare.catalog.v1.CatalogService`` gave service "govshare", method "catalog", and a metric name
#: per method and status (``envoy_cluster_grpc_v1_CatalogService_GetEntry_0``): nothing to sum by. These match
#: the whole name and remove it, leaving ``envoy_cluster_grpc{grpc_service, grpc_method, grpc_status}``,
#: ``envoy_cluster_grpc_success{…}`` and so on. A stat is tagged once, when it is made: no cost per call.
#: The gRPC-Web filter counts the calls it converts under ``cluster.<cluster>.grpc-web.…`` (those calls are in
#: ``envoy_cluster_grpc`` too, as grpc_stats counts every call): read alike, they are
#: ``envoy_cluster_grpc_web{grpc_service, grpc_method, grpc_status}``, not a metric name per method and status.
_GRPC_STATS_TAGS = [
    {"tag_name": "grpc_service", "regex": r"^cluster\.[^.]+\.grpc(?:-web)?\.((.+)\.)[^.]+\.[^.]+$"},
    {"tag_name": "grpc_method", "regex": r"^cluster\.[^.]+\.grpc(?:-web)?\..+\.(([^.]+)\.)[^.]+$"},
    # also the counters of the methods not allow-listed (health, reflection): cluster.<cluster>.grpc.<status>
    {"tag_name": "grpc_status", "regex": r"^cluster\.[^.]+\.grpc(?:-web)?(?:\..+)?(\.(\d+))$"},
]


def _grpc_stats(table: RoutingTable) -> dict[str, object]:
    """Counts and times by method and gRPC status, for the public methods only (a bounded set of names)."""
    methods: dict[str, list[str]] = {}
    for route in table:
        methods.setdefault(route.service, []).append(route.name)
    return {"name": "envoy.filters.http.grpc_stats", "typed_config": _any(
        "envoy.extensions.filters.http.grpc_stats.v3.FilterConfig",
        # No emit_filter_state: nothing reads the message counts it would store per request.
        enable_upstream_stats=True, replace_dots_in_grpc_service_name=True,
        individual_method_stats_allowlist={"services": [{"name": service, "method_names": names}
                                                        for service, names in methods.items()]},
    )}


def _transcoder(table: RoutingTable, descriptor_set: str) -> dict[str, object]:
    return {"name": TRANSCODER_FILTER, "typed_config": _any(
        "envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder",
        proto_descriptor=descriptor_set,
        services=list(table.service_names),
        auto_mapping=True,
        convert_grpc_status=True,
        print_options={"add_whitespace": False, "always_print_primitive_fields": True,
                       "always_print_enums_as_ints": False, "preserve_proto_field_names": False},
        # A `+` in a query string is a space (form encoding), and a REST URL no rule maps is a 404 at the edge
        # instead of reaching a backend as a gRPC call it cannot parse. A body that names another object than
        # its URL (PATCH /v1/entries/A with "code": "B") is a 400: by default the body's value won, and the
        # call changed the object the body named, not the one in the URL.
        query_param_unescape_plus=True,
        # The transcoder holds a reply whole to write it as JSON, by default only up to the connection's 1 MiB
        # buffer: a LoadRecords of 2,000 rows under a file's Chinese column headers (every row rejected, with its
        # reasons) answered HTTP 500 INTERNAL, its good rows loaded all the same. A reply may be as large as
        # any message (and its gRPC frame).
        max_response_body_size=MAX_MESSAGE_BYTES + GRPC_FRAME_HEADER_BYTES,
        request_validation_options={"reject_unknown_query_parameters": True, "reject_unknown_method": True,
                                    "reject_binding_body_field_collisions": True},
    )}


def _cors_policy(origins: tuple[str, ...]) -> dict[str, object]:
    return _any(
        "envoy.extensions.filters.http.cors.v3.CorsPolicy",
        allow_origin_string_match=[{"exact": origin} for origin in origins],
        allow_methods=CORS_ALLOWED_METHODS,
        allow_headers=CORS_ALLOWED_HEADERS,
        expose_headers=CORS_EXPOSED_HEADERS,
        max_age=CORS_MAX_AGE_SECONDS,
    )


#: The content types Envoy's gRPC-Web filter and the transcoder take as written: in lower case, no parameter.
_GRPC_CONTENT_TYPES = ("application/grpc", "application/grpc+proto", "application/grpc-web",
                       "application/grpc-web+proto", "application/grpc-web-text", "application/grpc-web-text+proto")
#: A gRPC(-Web) content type written otherwise, as that spelling: lower case, without its parameters.
_CONTENT_TYPE_SCRIPT = """
function envoy_on_request(handle)
  local headers = handle:headers()
  headers:replace("content-type", string.lower(headers:get("content-type")):match("^[^;]*"):match("^(.-)%s*$"))
  handle:clearRouteCache()
end
"""


def _content_type_spelling() -> dict[str, object]:
    """A gRPC or gRPC-Web call's content type written in lower case without parameters, before any filter reads it
    and its route is chosen again.

    Media types are case-insensitive and may carry parameters (RFC 9110, 8.3.1), but the gRPC-Web filter knows a
    call by its content type compared exactly, and the transcoder a gRPC call by a case-sensitive prefix that
    ``;`` may not follow: ``application/grpc-web+proto; charset=utf-8`` or ``Application/grpc-web+proto`` (a
    browser page's, a Java or .NET HTTP client's) was taken for a REST URL, answered HTTP 404 "Could not resolve
    /govshare.catalog.v1.CatalogService/GetEntry to a method." for a method that exists; so was
    ``application/grpc; charset=utf-8``. The script runs only for such a spelling (a composite filter matching
    it): a call written as expected, nearly every one, costs a few string compares."""
    header = {"name": "content-type", "typed_config": _any("envoy.type.matcher.v3.HttpRequestHeaderMatchInput",
                                                           header_name="content-type")}
    written_otherwise = {"and_matcher": {"predicate": [
        {"single_predicate": {"input": header, "value_match": {"prefix": "application/grpc", "ignore_case": True}}},
        {"not_matcher": {"or_matcher": {"predicate": [
            {"single_predicate": {"input": header, "value_match": {"exact": value}}}
            for value in _GRPC_CONTENT_TYPES]}}}]}}
    return _lua_when("govshare.content_type", written_otherwise, _CONTENT_TYPE_SCRIPT)


def _lua_when(name: str, predicate: dict[str, object], script: str) -> dict[str, object]:
    """A filter running the Lua ``script`` for the calls ``predicate`` matches only (a composite filter): the
    others pay the predicate's compares, not a Lua coroutine."""
    lua = {"name": _LUA, "typed_config": _any("envoy.extensions.filters.http.lua.v3.Lua",
                                              default_source_code={"inline_string": script})}
    run = {"action": {"name": name, "typed_config": _any(
        "envoy.extensions.filters.http.composite.v3.ExecuteFilterAction", typed_config=lua)}}
    return {"name": name, "typed_config": _any(
        "envoy.extensions.common.matching.v3.ExtensionWithMatcher",
        extension_config={"name": "composite", "typed_config": _any(
            "envoy.extensions.filters.http.composite.v3.Composite")},
        xds_matcher={"matcher_list": {"matchers": [{"predicate": predicate, "on_match": run}]}})}


def _http_filters(table: RoutingTable, settings: Settings) -> list[dict[str, object]]:
    filters: list[dict[str, object]] = [_content_type_spelling()]
    if settings.cors_origins:
        filters.append({"name": "envoy.filters.http.cors",
                        "typed_config": _any("envoy.extensions.filters.http.cors.v3.Cors")})
    filters += [_grpc_web_marker(), {"name": "envoy.filters.http.grpc_web",
                                     "typed_config": _any("envoy.extensions.filters.http.grpc_web.v3.GrpcWeb")},
                _grpc_web_status()]
    if settings.descriptor_set:
        # Before authentication, so what follows sees the gRPC method a REST call maps to; the status mutations
        # around it keep a backend's gRPC status on the REST reply (see _keep_grpc_status).
        outer, inner = _keep_grpc_status()
        filters += [_rest_replies_filter(table), outer, _transcoder(table, settings.descriptor_set), inner]
    filters += [_jwt_authn(table, settings.jwks_url, settings.zone), _rate_limit(settings), _grpc_stats(table),
                _health_filter(),
                {"name": MESSAGE_LIMIT_FILTER, "disabled": True, "typed_config": _any(
                    "envoy.extensions.filters.http.buffer.v3.Buffer", max_request_bytes=NO_MESSAGE_LIMIT)},
                {"name": "envoy.filters.http.router",
                 "typed_config": _any("envoy.extensions.filters.http.router.v3.Router",
                                      suppress_envoy_headers=True)}]
    return filters


#: Where a gRPC-Web call's content type is kept (filter state) and its gRPC status (dynamic metadata).
GRPC_WEB_STATE = "govshare.grpc_web"
#: The gRPC status of a gRPC-Web call, read before the gRPC-Web filter writes it into the reply's body.
_GRPC_WEB_STATUS_SCRIPT = """
function envoy_on_response(handle)
  local status = handle:headers():get("grpc-status")
  if status == nil then
    for _ in handle:bodyChunks() do end
    local trailers = handle:trailers()
    status = trailers and trailers:get("grpc-status")
  end
  status = status and tonumber(status)
  if status ~= nil then
    handle:streamInfo():dynamicMetadata():set("{state}", "grpc_status", status)
  end
end
""".replace("{state}", GRPC_WEB_STATE)


def _grpc_web_marker() -> dict[str, object]:
    """Keeps the request's content type (filter state, never sent on) before the gRPC-Web filter makes it
    ``application/grpc``: how :func:`_grpc_web_status` knows a gRPC-Web call."""
    return {"name": "govshare.grpc_web.marker", "typed_config": _any(
        "envoy.extensions.filters.http.set_filter_state.v3.Config", on_request_headers=[{
            "object_key": GRPC_WEB_STATE, "factory_key": "envoy.string",
            "format_string": {"text_format_source": {"inline_string": "%REQ(content-type)%"}}}])}


def _grpc_web_status() -> dict[str, object]:
    """A gRPC-Web call's gRPC status, for the access log: the gRPC-Web filter writes the backend's trailers into the
    reply's body (a trailers frame) and clears them, so the log saw no grpc-status and guessed 2 (UNKNOWN) from
    HTTP 200: every successful gRPC-Web call was logged as failed (whatever the sampling) and a failed one as
    UNKNOWN. This script, nearer the backend than the gRPC-Web filter, reads the status from the reply's headers
    (a trailers-only answer) or trailers, without holding the body, into dynamic metadata the log reads
    (:func:`_access_log`). Only gRPC-Web calls run it (a composite filter matching the kept content type): a
    gRPC call, whose log reads its own trailers, pays nothing."""
    web = {"single_predicate": {
        "input": {"name": "grpc_web", "typed_config": _any(
            "envoy.extensions.matching.common_inputs.network.v3.FilterStateInput", key=GRPC_WEB_STATE)},
        "value_match": {"prefix": "application/grpc-web"}}}
    return _lua_when("govshare.grpc_web.status", web, _GRPC_WEB_STATUS_SCRIPT)


#: The backend's gRPC status, carried past the transcoder on a REST reply (never sent to the client).
_UPSTREAM_STATUS = "x-govshare-upstream-grpc-status"


def _header_mutation(name: str, *mutations: dict[str, object]) -> dict[str, object]:
    return {"name": name, "typed_config": _any(
        "envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
        mutations={"response_mutations": list(mutations)})}


def _keep_grpc_status() -> tuple[dict[str, object], dict[str, object]]:
    """Two response mutations around the transcoder, so that a REST reply keeps the backend's gRPC status.

    The transcoder turns a backend's error into an HTTP status and a JSON body and drops its ``grpc-status``;
    the access log then inferred the status from the HTTP one (400 logged as INTERNAL, 404 as UNIMPLEMENTED).
    The inner one (nearer the backend, so it sees the reply first) copies ``grpc-status`` aside; the outer one
    puts it back where the transcoder removed it, and drops the copy. A gRPC reply keeps its own."""
    inner = _header_mutation("govshare.upstream_status.copy", {"append": {
        "header": {"key": _UPSTREAM_STATUS, "value": "%RESP(grpc-status)%"},
        "append_action": "OVERWRITE_IF_EXISTS_OR_ADD", "keep_empty_value": False}})
    outer = _header_mutation("govshare.upstream_status.restore", {"append": {
        "header": {"key": "grpc-status", "value": f"%RESP({_UPSTREAM_STATUS})%"},
        "append_action": "ADD_IF_ABSENT", "keep_empty_value": False}}, {"remove": _UPSTREAM_STATUS})
    return outer, inner


#: Request headers the services' gRPC library parses itself and fails a call on, which no service reads: the
#: library's own (retry attempts and pushback, the encoding it should answer in, a status) and every binary one.
_LIBRARY_HEADERS = ("grpc-previous-rpc-attempts", "grpc-retry-pushback-ms", "grpc-internal-encoding-request",
                    "grpc-status", "grpc-message")


def _callers_timeout_copied() -> list[dict[str, object]]:
    """The caller's ``grpc-timeout`` copied to CALLERS_TIMEOUT_HEADER, before routing, for the backend.

    Envoy sends a backend the deadline it times itself (it rewrites ``grpc-timeout``): for a stream, whose
    deadline the edge leaves to the client (:func:`_route`), that is its hour-long cap. A service waiting on a
    hung PostgreSQL for an Export's first rows so never answered UNAVAILABLE naming it before the caller's
    deadline: the caller read DEADLINE_EXCEEDED "Deadline Exceeded", naming nothing. A value the client sent
    under this name is dropped first (a call without a grpc-timeout carries none)."""
    return [{"remove": CALLERS_TIMEOUT_HEADER},
            {"append": {"header": {"key": CALLERS_TIMEOUT_HEADER, "value": "%REQ(grpc-timeout)%"},
                        "append_action": "ADD_IF_ABSENT", "keep_empty_value": False}}]


#: The address the edge saw a call come from, for the authorization service's count of failed sign-ins per client
#: (services.authorization.sessions.CLIENT_ADDRESS_HEADER).
CLIENT_ADDRESS_HEADER = "govshare-client-address"


def _client_address_set() -> list[dict[str, object]]:
    """CLIENT_ADDRESS_HEADER set to the address the edge saw (the peer, or what the PROXY protocol says), a
    client's own value dropped first. Not x-envoy-external-address: Envoy sets that only for a peer outside the
    private ranges, and keeps one a client inside them sent, who so chose the address its failed sign-ins were
    counted against."""
    return [{"remove": CLIENT_ADDRESS_HEADER},
            {"append": {"header": {"key": CLIENT_ADDRESS_HEADER, "value": "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"},
                        "append_action": "OVERWRITE_IF_EXISTS_OR_ADD", "keep_empty_value": False}}]


def _early_header_removal() -> list[dict[str, object]]:
    """Before routing, authentication and tracing: no client-sent identity entry and no client trace context
    (with parent-based sampling a client's sampled flag would decide; the edge starts every trace).

    Nor a header the backends' gRPC library reads and no service does (:data:`_LIBRARY_HEADERS`, any ``-bin``):
    a value it could not parse (a ``-bin`` that is not base64, grpc-previous-rpc-attempts: x) failed the call
    INTERNAL "Error parsing '…' metadata", and left the edge's HTTP/2 connection to that backend unable to read
    any new value of that header, so other callers sending it correctly failed the same way until it closed."""
    mutations = [{"remove_on_match": {"key_matcher": {"prefix": "x-govshare-"}}},
                 {"remove": "traceparent"}, {"remove": "tracestate"},
                 {"remove_on_match": {"key_matcher": {"suffix": "-bin"}}},
                 # Removed by name: a regex was matched against every header of every call.
                 *({"remove": name} for name in _LIBRARY_HEADERS),
                 *_callers_timeout_copied(), *_client_address_set()]
    return [{"name": "envoy.http.early_header_mutation.header_mutation", "typed_config": _any(
        "envoy.extensions.http.early_header_mutation.header_mutation.v3.HeaderMutation", mutations=mutations)}]


def _status_is(code: int) -> dict[str, object]:
    return {"status_code_filter": {"comparison": {"op": "EQ", "value": {"default_value": code,
                                                                        "runtime_key": f"edge_reply_{code}"}}}}


def _text(template: str) -> dict[str, object]:
    return {"text_format_source": {"inline_string": template}}


#: Whether Envoy's own reply goes to a gRPC client: a gRPC content type on a request the transcoder did not make
#: (the transcoder rewrites a REST call's content type to gRPC and keeps its path in x-envoy-original-path).
_GRPC_CALL = {"and_filter": {"filters": [
    {"header_filter": {"header": {"name": "content-type", "string_match": {"prefix": "application/grpc"}}}},
    {"header_filter": {"header": {"name": "x-envoy-original-path", "present_match": True, "invert_match": True}}},
]}}
_REST_CALL = {"or_filter": {"filters": [
    {"header_filter": {"header": {"name": "content-type", "string_match": {"prefix": "application/grpc"},
                                  "invert_match": True, "treat_missing_header_as_empty": True}}},
    {"header_filter": {"header": {"name": "x-envoy-original-path", "present_match": True}}},
]}}
#: The google.rpc code of each HTTP status Envoy answers a REST call with itself (the inverse of the transcoder's
#: mapping of a backend's status), so that every REST error body is a JSON google.rpc.Status.
_REST_CODES = {400: grpc.StatusCode.INVALID_ARGUMENT, 404: grpc.StatusCode.NOT_FOUND,
               405: grpc.StatusCode.UNIMPLEMENTED, 413: grpc.StatusCode.RESOURCE_EXHAUSTED,
               500: grpc.StatusCode.INTERNAL, 502: grpc.StatusCode.UNAVAILABLE, 503: grpc.StatusCode.UNAVAILABLE,
               504: grpc.StatusCode.DEADLINE_EXCEEDED}


def _both(*filters: dict[str, object]) -> dict[str, object]:
    return {"and_filter": {"filters": list(filters)}}


def _edge_status(code: grpc.StatusCode, message: str) -> status_pb2.Status:
    """The google.rpc.Status of an edge's own refusal: with the ErrorInfo every service's refusal carries (reason
    the code's name, domain ``edge.govshare``), so that a caller reading ``details[].reason`` finds one."""
    return status_of(ServiceError(code, code.name, message), "edge")


def _rest_status(code: grpc.StatusCode, message: str) -> dict[str, object]:
    """A JSON google.rpc.Status body, as the transcoder writes a backend's error, with its ErrorInfo (the edge's
    refusals had ``"details": []``: a client branching on the reason, as docs/api.md tells it to, found none)."""
    return {"json_format": {"code": code.value[0], "message": message,
                            "details": _json_details(_edge_status(code, message))}}


def _json_details(status: status_pb2.Status) -> list[object]:
    """A Status's details as the transcoder writes a service's (an empty ErrorInfo metadata as ``{}``)."""
    return json_format.MessageToDict(status, always_print_fields_with_no_presence=True)["details"]  # type: ignore[no-any-return]


def _rest_reply(when: dict[str, object], code: grpc.StatusCode, message: str) -> dict[str, object]:
    """Envoy's own reply to a REST call: a JSON google.rpc.Status, and its code as ``grpc-status`` so that the
    access log names it (inferred from the HTTP status, 429 would read UNAVAILABLE; see _keep_grpc_status)."""
    return {"filter": _both(when, _REST_CALL), "body_format_override": _rest_status(code, message),
            "headers_to_add": _headers({"grpc-status": str(code.value[0])})}


def _replies(when: dict[str, object], code: grpc.StatusCode, message: str,
             reply_status: int | None = None) -> list[dict[str, object]]:
    """The same words for a REST caller (a JSON google.rpc.Status) and a gRPC caller (its grpc-message): for a
    fixed message, a trailers-only answer (:func:`_grpc_reply`), which a gRPC-Web client reads whole, where it
    read an HTTP 4xx as "Http response at 400 or 500 level", without the words."""
    rest = _rest_reply(when, code, message)
    if reply_status is not None:
        rest["status_code"] = reply_status
    if "%" not in message:
        return [rest, _grpc_reply(when, code, message)]
    grpc_text: dict[str, object] = {"filter": when, "body_format_override": _text(message)}
    if reply_status is not None:
        grpc_text["status_code"] = reply_status
    return [rest, grpc_text]


#: The words jwt_authn refuses a token with (its response code details, spaces as underscores): a gRPC(-Web)
#: caller is told each as a trailers-only answer (:func:`_token_replies`). Others keep the HTTP 401.
JWT_FAILURES = (
    "Jwt is missing", "Jwt is expired", "Jwt not yet valid", "Jwt verification fails",
    "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections",
    "Audiences in Jwt are not allowed", "Jwt issuer is not configured",
    "Jwks doesn't have key to match kid or alg from Jwt", "Jwt header is an invalid Base64url encoded",
    "Jwt payload is an invalid Base64url encoded", "Jwt signature is an invalid Base64url encoded",
    "Jwt header is an invalid JSON", "Jwt payload is an invalid JSON", "Jwt header [alg] is not supported",
)


_AUDIENCE_FAILURE = "Audiences in Jwt are not allowed"
_WRONG_AUDIENCE = "jwt_authn_access_denied{" + _AUDIENCE_FAILURE.replace(" ", "_") + "}"


def _jwt_failure_words(failure: str, zone: str) -> str:
    """Envoy's words for a refused token, and for a wrong audience which audience this edge takes: a token of the
    other zone's platform (signed with a copy of the same key) is told so, not a bare "not allowed"."""
    if failure != _AUDIENCE_FAILURE:
        return failure
    return (f"{failure} (this edge is the {zone} zone's and takes tokens issued for it, audience {audience(zone)}: "
            "a token of another zone's platform is refused here)")


def _token_replies(token: str, zone: str) -> list[dict[str, object]]:
    """A refused token's answer to a gRPC(-Web) call, one per known refusal: a trailers-only answer with its words
    (``token`` with the refusal in place of %LOCAL_REPLY_BODY%, which a header cannot hold). A gRPC-Web call got
    HTTP 401 with the words in grpc-message, which grpc-web's and Connect's clients drop for "Http response at 400
    or 500 level"; a gRPC call keeps the answer it had."""
    replies = []
    for failure in JWT_FAILURES:
        details = "jwt_authn_access_denied{" + failure.replace(" ", "_") + "}"
        when = {"extension_filter": {"name": "envoy.access_loggers.extension_filters.cel", "typed_config": _any(
            "envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter",
            expression=f"response.code_details == {json.dumps(details)}")}}
        replies.append(_grpc_reply(when, grpc.StatusCode.UNAUTHENTICATED,
                                   token.replace("%LOCAL_REPLY_BODY%", _jwt_failure_words(failure, zone))))
    return replies


#: Envoy's response flags for a backend it could not reach or that went away before answering (each a 503):
#: connection failure or termination, retries exhausted, remote reset, no healthy host, circuit breaker open.
_UPSTREAM_FAILED = {"response_flag_filter": {"flags": ["UF", "UC", "URX", "UR", "UH", "UO"]}}
_BACKEND_GONE = ("the service that answers this method is unavailable (down or restarting): retry with backoff; "
                 "a write may have been applied before it went away: read it back before repeating it")


def _backend_gone(backend: Backend) -> str:
    """The words for a backend that is down, naming it: an operator reading a caller's report, or the caller
    deciding whether to wait, learns which service went away (the query service, not "the service")."""
    return _BACKEND_GONE.replace("the service that answers this method", f"the {backend.value} service", 1)


def _path_in_packages(packages: set[str]) -> dict[str, object]:
    """A filter on the method path's package (``/govshare.query.v1.``): by prefix, as a regex over a backend's
    service names exceeds RE2's program size Envoy accepts (authorization serves seven)."""
    filters = [{"header_filter": {"header": {"name": ":path", "string_match": {"prefix": f"/{package}."}}}}
               for package in sorted(packages)]
    return filters[0] if len(filters) == 1 else {"or_filter": {"filters": filters}}


def _backend_gone_replies(table: RoutingTable) -> list[dict[str, object]]:
    """One BACKEND_UNAVAILABLE per backend, chosen by the method's path (a REST call's too: the transcoder has
    rewritten it to the method's by then), its message and ``metadata.dependency`` naming the backend; then the
    unnamed one, for the paths no backend's services cover (health and reflection)."""
    replies: list[dict[str, object]] = []
    for backend in sorted({route.backend for route in table}):
        path = _path_in_packages({name.rpartition(".")[0] for name in table.service_names
                                  if table.backend(name) == backend})
        replies += _rich_replies(_both(_UPSTREAM_FAILED, path),
                                 unavailable("BACKEND_UNAVAILABLE", _backend_gone(backend), dependency=backend.value))
    return replies + _rich_replies(_UPSTREAM_FAILED, unavailable("BACKEND_UNAVAILABLE", _BACKEND_GONE,
                                                                  dependency="service"))


def _deadline_replies(table: RoutingTable, deadline: str) -> list[dict[str, object]]:
    """A call past its deadline, chosen by the method's path as _backend_gone_replies does, names the backend that
    had not answered: the operator reading a caller's report learns which service was slow or hung."""
    replies: list[dict[str, object]] = []
    for backend in sorted({route.backend for route in table}):
        path = _path_in_packages({name.rpartition(".")[0] for name in table.service_names
                                  if table.backend(name) == backend})
        message = deadline.replace("deadline:", f"deadline with the {backend.value} service not having answered; "
                                                "its deadline was", 1)
        replies += [_rest_reply(_both(_DEADLINE_PASSED, path), grpc.StatusCode.DEADLINE_EXCEEDED, message),
                    _grpc_reply(_both(_DEADLINE_PASSED, path), grpc.StatusCode.DEADLINE_EXCEEDED, message)]
    return replies


def _rich_replies(when: dict[str, object], error: ServiceError) -> list[dict[str, object]]:
    """Envoy's own reply as the platform's services answer: ``error``'s ErrorInfo (domain ``edge.govshare``) and
    RetryInfo, in a REST caller's JSON body and in a gRPC caller's grpc-status-details-bin.

    Its message is fixed, rendered here once: a gRPC client library checks that the status in
    grpc-status-details-bin has the very message of grpc-message (so no ``%LOCAL_REPLY_BODY%`` in it)."""
    status = status_of(error, "edge")
    rest = _rest_reply(when, error.code, error.message)
    rest["body_format_override"]["json_format"]["details"] = _json_details(status)  # type: ignore[index]
    if error.retry_after is not None:
        # The RetryInfo's delay as HTTP says it too: Java's and .NET's HTTP clients and their retry policies
        # (Spring Retry, Resilience4j, Polly, Microsoft.Extensions.Http.Resilience) read Retry-After, not a detail
        # in the JSON body, and retried a 429 at once. Whole seconds (RFC 9110), never less than the RetryInfo.
        rest["headers_to_add"] = [*rest["headers_to_add"],  # type: ignore[misc]
                                  *_headers({"retry-after": str(max(1, math.ceil(error.retry_after)))})]
    return [rest, _grpc_reply(when, error.code, error.message, {"grpc-status-details-bin": _details_bin(status)})]


def _grpc_reply(when: dict[str, object], code: grpc.StatusCode, message: str,
                headers: Mapping[str, str] | None = None) -> dict[str, object]:
    """Envoy's own reply to a gRPC or gRPC-Web call as a trailers-only answer written out (HTTP 200, no body, the
    status and ``message`` as headers), for a fixed ``message`` (no ``%`` in it: a header's value is a format).

    The gRPC-Web filter reads a reply with a body and no gRPC content type as a plain HTTP error and derives its
    status from the HTTP one, overwriting any other: a browser's call past its deadline (504) or over the rate
    limit (429) was UNAVAILABLE, which clients retry at once, where a gRPC call was DEADLINE_EXCEEDED or
    RESOURCE_EXHAUSTED."""
    written = {"grpc-status": str(code.value[0]), "grpc-message": message,
               "grpc-status-details-bin": _details_bin(_edge_status(code, message)), **(headers or {})}
    return {"filter": when, "status_code": 200, "body_format_override": _text(""), "headers_to_add": _headers(written)}


def _details_bin(status: status_pb2.Status) -> str:
    """A google.rpc.Status as grpc-status-details-bin carries it (base64)."""
    return base64.b64encode(status.SerializeToString()).decode("ascii")


#: A request with two authorization headers (Envoy reads them as one, joined by a comma, which no token holds): the
#: refusal named a part of the joined text, "Jwt signature is an invalid Base64url encoded", not the second header.
_SEVERAL_AUTHORIZATIONS = {"header_filter": {"header": {"name": "authorization",
                                                        "string_match": {"contains": ","}}}}
_SEVERAL_AUTHORIZATIONS_REFUSED = ("bearer token refused: the call has more than one authorization header (or a "
                                   f"comma in it); {_TOKEN_HINT}, once")


#: A token sent in quotes ('Bearer "eyJ…"'): a REST client that read IssueToken's answer as JSON and took the token's
#: JSON text (Jackson's JsonNode.toString(), .NET's JsonElement.GetRawText()) rather than the string. jwt_authn named a
#: part of the token it could not decode ("Jwt signature is an invalid Base64url encoded"), of a token the platform
#: had just issued.
_QUOTED_TOKEN = {"header_filter": {"header": {"name": "authorization", "string_match": {"safe_regex": {
    "regex": "(?i)bearer +[\"'].*"}}}}}
_QUOTED_TOKEN_REFUSED = ("bearer token refused: the token is written in quotes, which no token holds: send it bare, "
                         "'authorization: Bearer eyJ…', the token field of IssueToken's answer (over REST: POST "
                         "/v1/tokens) without its JSON quotes (Jackson's JsonNode.asText(), not toString(); .NET's "
                         "JsonElement.GetString(), not GetRawText())")


#: A token left unset by the caller's code: "Bearer " alone, or the word its language formats nothing as (a page's
#: `Bearer ${token}` before the token came, a null or None formatted). jwt_authn said "Jwt is not in the form of
#: Header.Payload.Signature with two dots and 3 sections", and "Bearer " alone read as another scheme or no scheme.
_UNSET_TOKEN = {"header_filter": {"header": {"name": "authorization", "string_match": {"safe_regex": {
    "regex": "(?i)bearer( +(null|undefined|none|nil))? *"}}}}}
_UNSET_TOKEN_REFUSED = ("bearer token refused: the token after Bearer is empty or a word for nothing (null, undefined, "
                        f"None): the code that sent it had no token in hand (a variable not set yet); {_TOKEN_HINT}")


#: A scheme in mixed case ("bEaReR <token>"): case-insensitive by RFC 9110 §11.1, but jwt_authn matches the prefixes
#: it is given as written, and the three usual spellings are those it is given (one more prefix costs every call a
#: compare). jwt_authn said "Jwt is missing", read as "its scheme is not Bearer", of a token sent.
_MIXED_CASE_SCHEME = {"header_filter": {"header": {"name": "authorization", "string_match": {"safe_regex": {
    "regex": "(?i)bearer +[^ ].*"}}}}}
_MIXED_CASE_SCHEME_REFUSED = ("bearer token refused: the scheme is written in mixed case, which this edge does not "
                              f"read: write the scheme Bearer (or bearer, BEARER); {_TOKEN_HINT}")


#: A call whose authorization header holds no bearer token (another scheme, ``Basic …`` or ``Token …``, or the token
#: alone): jwt_authn found none and said "Jwt is missing", though the caller had sent its token, and looked for
#: why the header went missing (:func:`_local_replies`).
_NO_BEARER_REFUSED = ("bearer token refused: the authorization header holds no bearer token (its scheme is not "
                      f"Bearer, or the token is there alone); {_TOKEN_HINT}: the word Bearer, a space, the token")


#: A call that ran past its deadline at the edge (the route's max_stream_duration, or the client's grpc-timeout): the
#: edge's only 504 (no route has a request timeout; it sets no response flag, only the details max_duration_timeout).
_DEADLINE_PASSED = _status_is(504)


#: A gRPC-Web text call (application/grpc-web-text) whose body the gRPC-Web filter cannot decode: it answers HTTP 400
#: (details grpc_base_64_decode_failed, or …_bad_size for a length not a multiple of 4), which read as a request
#: that is no method at all: UNIMPLEMENTED "not a gRPC method path" for the path of a method.
_NOT_BASE64 = ("the body of a gRPC-Web text call (application/grpc-web-text) is not base64: send the framed message "
               "base64-encoded in one piece, standard alphabet, = padding at the end only and no line breaks (or "
               "send it unencoded as application/grpc-web+proto)")


def _local_replies(table: RoutingTable, settings: Settings) -> dict[str, object]:
    """What a call Envoy refuses itself is told (its grpc-message, or the REST body's message).

    - A token refused: Envoy's words for which failure (missing, verification fails, expired, audiences not
      allowed), then what to do; jwt_authn answers a wrong audience with 403, which is UNAUTHENTICATED here.
    - The rate limit, with its figures (the status is RESOURCE_EXHAUSTED: the filter's own option).
    - A backend it could not reach, or that went away before answering: which one and what to do, with the
      details every UNAVAILABLE carries, instead of Envoy's bare "upstream connect error or disconnect/reset
      before headers".
    - A request that is not a method path at all (HTTP 400) is UNIMPLEMENTED, not INTERNAL, for gRPC clients.
    - A REST caller always gets a JSON google.rpc.Status: for these, and for the transcoder's own refusals (a
      body that is not JSON or has a value of the wrong type, an unknown query parameter: 400; a URL no rule
      maps: 404), which Envoy would otherwise answer in plain text.
    """
    token = f"bearer token refused: %LOCAL_REPLY_BODY%; {_TOKEN_HINT}"
    rate = (f"rate limit exceeded for this system: {settings.rate_limit_per_second:g} calls per second with bursts "
            f"of {settings.rate_limit_burst} per edge replica; retry after the RetryInfo delay, with backoff")
    mappers = [*_replies(_both(_status_is(401), _SEVERAL_AUTHORIZATIONS), grpc.StatusCode.UNAUTHENTICATED,
                         _SEVERAL_AUTHORIZATIONS_REFUSED),
               *_replies(_both(_status_is(401), _QUOTED_TOKEN), grpc.StatusCode.UNAUTHENTICATED, _QUOTED_TOKEN_REFUSED),
               *_replies(_both(_status_is(401), _UNSET_TOKEN), grpc.StatusCode.UNAUTHENTICATED, _UNSET_TOKEN_REFUSED),
               *_replies(_both(_status_is(401), _MIXED_CASE_SCHEME,
                               _details_start(("jwt_authn_access_denied{Jwt_is_missing}",))),
                         grpc.StatusCode.UNAUTHENTICATED, _MIXED_CASE_SCHEME_REFUSED),
               *_replies(_both(_status_is(401), {"header_filter": {"header": {"name": "authorization",
                                                                              "present_match": True}}},
                               _details_start(("jwt_authn_access_denied{Jwt_is_missing}",))),
                         grpc.StatusCode.UNAUTHENTICATED, _NO_BEARER_REFUSED),
               # A REST caller's first (its JSON body holds any refusal's words), then a gRPC(-Web) caller's; a wrong
               # audience's with the zone this edge takes, as a gRPC caller is told (_token_replies).
               {**_rest_reply(_both(_status_is(403), _details_start((_WRONG_AUDIENCE,))),
                              grpc.StatusCode.UNAUTHENTICATED, token.replace(
                                  "%LOCAL_REPLY_BODY%", _jwt_failure_words(_AUDIENCE_FAILURE, settings.zone))),
                "status_code": 401},
               *_replies(_status_is(401), grpc.StatusCode.UNAUTHENTICATED, token)[:1],
               *_replies(_status_is(403), grpc.StatusCode.UNAUTHENTICATED, token, reply_status=401)[:1],
               *_token_replies(token, settings.zone),
               *_replies(_status_is(401), grpc.StatusCode.UNAUTHENTICATED, token)[1:],
               *_replies(_status_is(403), grpc.StatusCode.UNAUTHENTICATED, token, reply_status=401)[1:],
               *_rich_replies(_status_is(429), ServiceError(grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED", rate,
                                                            retry_after=_fill_interval(settings))),
               *_backend_gone_replies(table)]
    # Envoy's own words were "downstream duration timeout" (first, since a REST caller's 504 is mapped below).
    deadline = ("the call ran past its deadline: the grpc-timeout it was sent with, else the edge's limit "
                f"({settings.call_timeout_seconds:g} s for a call, {REPORT_TIMEOUT_SECONDS:g} s for a report, "
                f"{STREAM_TIMEOUT_SECONDS} s for a stream); give it a "
                f"longer grpc-timeout (at most {MAX_DEADLINE_SECONDS} s) or retry later")
    mappers[:0] = [_preflight_refusal(settings),  # 403s of the edge's own, before the token's 403 (wrong audience)
                   *_upgrade_refused_replies(),
                   _rest_reply(_both(_DEADLINE_PASSED, _details_start(("direct_response",))),
                               grpc.StatusCode.DEADLINE_EXCEEDED, "%LOCAL_REPLY_BODY%"),  # a grpc-timeout of zero
                   *_deadline_replies(table, deadline),
                   _rest_reply(_DEADLINE_PASSED, grpc.StatusCode.DEADLINE_EXCEEDED, deadline),
                   _grpc_reply(_DEADLINE_PASSED, grpc.StatusCode.DEADLINE_EXCEEDED, deadline)]
    # Envoy answers 408 when the deadline passes before the request has arrived whole (a body shorter than its
    # content-length, or trickling): its plain-text "downstream duration timeout", also to a REST caller.
    incomplete = ("the request did not arrive whole before its deadline (the grpc-timeout it was sent with, else the "
                  f"edge's {settings.call_timeout_seconds:g} s): its body was shorter than its content-length says, or "
                  "came too slowly; send the whole body at once")
    mappers += [_rest_reply(_status_is(408), grpc.StatusCode.DEADLINE_EXCEEDED, incomplete),
                _grpc_reply(_status_is(408), grpc.StatusCode.DEADLINE_EXCEEDED, incomplete)]
    mappers.append(_grpc_reply(_details_start(("grpc_base_64_decode_failed",)), grpc.StatusCode.INVALID_ARGUMENT,
                               _NOT_BASE64))
    mappers.append({"filter": _both(_status_is(400), _GRPC_CALL), "status_code": 404,
                    "body_format_override": _text("not a gRPC method path: expected /package.Service/Method")})
    mappers.append(_rest_reply(_status_is(431), grpc.StatusCode.RESOURCE_EXHAUSTED,
                               f"request headers over {MAX_REQUEST_HEADERS_KIB} KiB, the URL included, or more than "
                               f"{MAX_REQUEST_HEADERS} of them: send less "
                               "in headers (a long key or filter belongs in a POST body)"))
    mappers += _malformed_request_replies()
    mappers.append(_compressed_body_reply())
    mappers.append(_body_check_reply())
    mappers.append(_transcode_failure_reply())
    mappers.append(_encoded_colon_reply())
    mappers += _method_not_allowed(table)
    mappers.append(_method_path_not_grpc_reply(table))
    mappers.append(_unmapped_url_reply())
    mappers += _message_limit_replies(table)
    mappers.append(_rich_replies(_both(_status_is(413), _details_start(("request_payload_too_large",))), ServiceError(
        grpc.StatusCode.RESOURCE_EXHAUSTED, "BODY_TOO_LARGE", _BODY_TOO_LARGE_SENT,
        metadata={"limit_bytes": str(BODY_CHECK_BYTES)}))[0])  # (only a REST route holds a body)
    mappers += [_rest_reply(_status_is(status), code, "%LOCAL_REPLY_BODY%") for status, code in _REST_CODES.items()]
    if settings.cors_origins:
        mappers = _replies_for_browsers(mappers, settings.cors_origins)
    return {"mappers": mappers}


def _message_limit_replies(table: RoutingTable) -> list[dict[str, object]]:
    """A request over its method's limit (:func:`message_limit`): RESOURCE_EXHAUSTED (REST: 413), naming the
    limit, a pair of replies per limit (the methods' paths: a REST call's is its method's by then)."""
    by_limit: dict[int, list[str]] = {}
    for route in table:
        if (limit := message_limit(route.method)) is not None:
            by_limit.setdefault(limit, []).append(route.method)
    replies = []
    for limit, methods in sorted(by_limit.items()):
        message_bytes = limit - GRPC_FRAME_HEADER_BYTES
        words = (f"the request's message is over the {message_bytes:,} bytes ({message_bytes // 1024:,} KiB) this "
                 "method's message may be, room to spare for its largest valid request: it is refused whatever it "
                 "holds, so sending it again fails the same way; send the request's fields alone (no unknown "
                 "fields or padding)" if len(methods) > 1 else
                 f"the request's message is over the {message_bytes:,} bytes ({message_bytes // 1024:,} KiB) a "
                 f"{methods[0].rpartition('/')[2]} message may be, room to spare for its largest valid request: it "
                 "is refused whatever it holds, so sending it again fails the same way; send fewer or shorter "
                 "values")
        path = {"header_filter": {"header": {"name": ":path", "string_match": {"safe_regex": {
            "regex": "|".join(re.escape(method) for method in methods)}}}}}
        replies += _rich_replies(_both(_status_is(413), _details_start(("request_payload_too_large",)), path),
                                 ServiceError(grpc.StatusCode.RESOURCE_EXHAUSTED, "MESSAGE_TOO_LARGE", words,
                                              metadata={"limit_bytes": str(message_bytes)}))
    return replies


#: A request body sent compressed: the transcoder parses the bytes as they come, and answered gzip's with
#: "Encountered non UTF-8 code points" and the compressed bytes, never naming the encoding.
_COMPRESSED_BODY = {"header_filter": {"header": {"name": "content-encoding", "string_match": {
    "exact": "identity", "ignore_case": True}, "invert_match": True}}}


def _compressed_body_reply() -> dict[str, object]:
    """A REST body the transcoder could not read because it came compressed is 415, naming the encoding and what to
    send instead. (A body declared in another charset is refused before, by the REST replies' script; one that does
    not say so cannot be told: the transcoder's words name UTF-8.)"""
    reply = _rest_reply(_both(_status_is(400), _COMPRESSED_BODY), grpc.StatusCode.INVALID_ARGUMENT, (
        "the body is compressed (content-encoding: %REQ(content-encoding)%), which the edge does not undo: send "
        "the JSON body uncompressed, without content-encoding"))
    reply["status_code"] = 415
    return reply


def _body_check_reply() -> dict[str, object]:
    """The REST replies' script's refusal of a body field its message does not have: the JSON google.rpc.Status
    it wrote, with its details (ErrorInfo, BadRequest), kept as it is."""
    return {"filter": _both(_details_start(("lua_response",)), _REST_CALL), "body_format_override": {
        **_text("%LOCAL_REPLY_BODY%"), "content_type": "application/json"}}


def _transcode_failure_reply() -> dict[str, object]:
    """A REST body (or query parameter) the transcoder refused: its words, as text and marked, for the REST
    replies' script (gateway/rest_replies.lua) to write as a google.rpc.Status without the caller's values, which
    the parser quoted ("Expected , or } after key:value pair." and the body around the fault; "key: invalid value
    342322194911060454 for type TYPE_STRING"). A local reply's format cannot cut its text, so the script does."""
    reply = _rest_reply(_both(_status_is(400), _details_start(
        ("grpc_json_transcode_failure", "early_grpc_json_transcode_failure"))),
                        grpc.StatusCode.INVALID_ARGUMENT, "%LOCAL_REPLY_BODY%")
    reply["body_format_override"] = _text("%LOCAL_REPLY_BODY%")
    reply["headers_to_add"] += _headers({_TRANSCODE_FAILURE_HEADER: "1"})  # type: ignore[operator]
    return reply


def _method_path_not_grpc_reply(table: RoutingTable) -> dict[str, object]:
    """A public service's method path sent without a gRPC content type is 415 saying how to call it.

    The transcoder took it for a REST URL and answered 404 "no operation has this URL", for the very path of a
    method: a page using Connect's default transport (the Connect protocol: ``application/proto`` or
    ``application/json`` at the method's path) or a hand-made POST with ``application/octet-stream`` was sent to
    look for a typo. The service's path is matched (by prefix: a regex over every method's exceeds RE2's program
    size Envoy accepts), so a misspelt method of it is told the same, which its gRPC call would then name."""
    services = {"or_filter": {"filters": [
        {"header_filter": {"header": {"name": ":path", "string_match": {"prefix": f"/{service}/"}}}}
        for service in table.service_names]}}
    reply = _rest_reply(_both(_status_is(404), services, _details_start(("early_grpc_json_transcode_failure",
                                                                          "grpc_json_transcode_failure"))),
                        grpc.StatusCode.UNIMPLEMENTED, (
        "this is a gRPC method's path, called without a gRPC content type: send it as gRPC (content-type "
        "application/grpc) or gRPC-Web (application/grpc-web+proto; Connect's clients: createGrpcWebTransport, as "
        f"the Connect protocol is not served), or call its REST URL, in {OPENAPI_PATH}"))
    reply["status_code"] = 415
    return reply


def _unmapped_url_reply() -> dict[str, object]:
    """A REST URL no rule maps (and no rule maps with another method: that is 405) is 404 saying where the URLs are,
    without the URL: the transcoder's "Could not resolve /v1/resources/<an ID number>/records to a method" sent the
    caller's path back into its logs and proxies, as the edge's own access log never writes it (WITHHELD_PATH)."""
    return _rest_reply(_both(_status_is(404), _details_start(("early_grpc_json_transcode_failure",
                                                              "grpc_json_transcode_failure"))),
                       grpc.StatusCode.NOT_FOUND, (
        f"no operation has this URL (the edge does not repeat it): each operation's method and URL are in "
        f"{OPENAPI_PATH}; a resource code is one path segment, its / written %%2F "
        "(/v1/resources/101001%%2F000001:query)"))


def _encoded_colon_reply() -> dict[str, object]:
    """A REST URL whose custom method's ``:`` came percent-encoded (``…/101001%2F000001%3Asubmit``: a client that
    encoded the whole last segment, code and verb) is 404 saying to write the ``:`` as it is. The transcoder found no
    verb: ``POST /v1/entries/…%3Asubmit`` read as the entry's URL, 405 "takes GET or HEAD or PATCH, not POST", and
    ``…%3Aquery`` as a URL no rule maps. No code or id holds a ``:``, so a ``%3A`` in a path is always a verb's."""
    encoded = {"header_filter": {"header": {"name": ":path", "string_match": {"safe_regex": {
        "regex": "[^?]*%3[aA][^/?]*(\\?.*)?"}}}}}
    return _rest_reply(_both(_status_is(404), encoded, _details_start(("early_grpc_json_transcode_failure",
                                                                        "grpc_json_transcode_failure"))),
                       grpc.StatusCode.NOT_FOUND, (
        "no operation has this URL: its last segment holds %%3A, the ':' that begins a custom method (:query, "
        ":submit) percent-encoded, which the edge does not read as one: write the ':' as it is, percent-encoding "
        "only the code or id before it (/v1/resources/101001%%2F000001:query)"))


def _details_start(prefixes: tuple[str, ...]) -> dict[str, object]:
    """A filter on why Envoy answered itself (its response code details), which no other filter reads: a CEL
    expression, evaluated only for Envoy's own replies."""
    expression = " || ".join(f"response.code_details.startsWith('{prefix}')" for prefix in prefixes)
    return {"extension_filter": {"name": "envoy.access_loggers.extension_filters.cel", "typed_config": _any(
        "envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter", expression=expression)}}


#: Requests Envoy's HTTP codec refuses before any filter sees them, answered "Bad Request" (or an empty message,
#: or a plain-text "501 Not Implemented") that named nothing to fix: the reason each is refused, and what to send.
_MALFORMED_REQUESTS = (
    (("http1.unexpected_underscore", "http2.unexpected_underscore"), 400,
     "a request header's name holds an underscore, which the edge refuses (proxies drop or merge such headers): "
     "write it with hyphens (x-request-id, not x_request_id)"),
    (("missing_host_header",), 400, "the request has no Host header, which HTTP/1.1 requires: send one"),
    # A URL with a raw space or non-ASCII text (人口 typed into a query string, unencoded: curl and hand-built
    # HttpURLConnection URLs send it as it is) is refused the same way, and was told only of headers and methods.
    (("http1.codec_error",), 400,
     "the request is not valid HTTP/1.1 (a header line without a colon, a character a method or a header may not "
     "hold, or a URL holding a space or text other than ASCII, which a URL writes percent-encoded as UTF-8: 人口 "
     "as %%E4%%BA%%BA%%E5%%8F%%A3): check what the client sends"),
    # A control character in a header's value (a DEL, a byte below a space other than a tab): "Bad Request".
    (("http1.invalid_characters",), 400,
     "a request header's value holds a control character (DEL, or one below a space other than a tab), which HTTP "
     "does not allow in a header: send text, a binary value in base64"),
    # HTTP's QUERY method (a GET with a body) without a content-type: Envoy's codec refuses it with an empty
    # message. No operation takes QUERY; over HTTP/2 too.
    (("query_missing_content_type",), 400,
     "the request uses HTTP's QUERY method without a content-type, which the edge refuses; no operation takes "
     "QUERY: send the method /openapi.yaml gives the URL (GET, POST or PATCH)"),
    # Both framings of a body (a hand-built request, a proxy adding one): Envoy's "Bad Request", naming neither.
    (("http1.content_length_and_chunked_not_allowed",), 400,
     "the request has both content-length and transfer-encoding: chunked, which HTTP/1.1 does not allow (the body's "
     "end would be read two ways): send one of them"),
    # A fragment in the request's path (GET /v1/entries#top from a hand-built request line; a client keeps the
    # fragment to itself): an empty message.
    (("path_normalization_failed",), 400,
     "the request's path holds a fragment (#…), which a client keeps to itself and the edge refuses: send the path "
     "and query alone, a # in a value percent-encoded as %%23"),
    # A request target that is no path (OPTIONS *, a server-wide OPTIONS): 404 with an empty message.
    (("absolute_path_rejected",), 404,
     "the request's target is not a path beginning with / (OPTIONS * asks the server as a whole, which the edge does "
     "not answer): send each call to its URL, as /openapi.yaml gives it"),
    (("http1.invalid_transfer_encoding",), 501,
     "the request's transfer-encoding is not one the edge reads: send the body as it is, with content-length, or "
     "with transfer-encoding: chunked alone"),
)


#: A request asking to upgrade its connection to a protocol the edge does not speak (``upgrade: websocket``): Envoy
#: answers 403 (details upgrade_failed), which the token's mappers read as a refused token: 401 "bearer token refused:
#: ; send 'authorization: Bearer <token>' …", no reason given, to a caller whose token was good or not yet asked for.
#: (An HTTP/1.1 ``upgrade: h2c``, Java's HttpClient's, Envoy ignores: the request is answered as HTTP/1.1.)
_UPGRADE_REFUSED = ("the request asks to upgrade its connection (an upgrade header, as a WebSocket client sends), "
                    "which the edge does not: it answers gRPC, gRPC-Web and REST as HTTP/1.1 or HTTP/2 requests; send "
                    "it without the headers connection: upgrade and upgrade")


def _upgrade_refused_replies() -> list[dict[str, object]]:
    """:data:`_UPGRADE_REFUSED`, 400 INVALID_ARGUMENT as the codec's other refusals, before the token's 403 mappers."""
    return _replies(_both(_status_is(403), _details_start(("upgrade_failed",))), grpc.StatusCode.INVALID_ARGUMENT,
                    _UPGRADE_REFUSED, reply_status=400)


def _malformed_request_replies() -> list[dict[str, object]]:
    replies = []
    for prefixes, status, message in _MALFORMED_REQUESTS:
        replies += _replies(_both(_status_is(status), _details_start(prefixes)), grpc.StatusCode.INVALID_ARGUMENT,
                            message, reply_status=400)
    return replies


def _url_pattern(template: str) -> str:
    """A regex of the request paths (query string included) a REST URL template maps: each variable one segment,
    as the transcoder reads it (a code's ``/`` is ``%2F``), and no ``:`` in it, where a custom verb starts."""
    parts = re.split(r"\{[^}]*\}", template)
    return "[^/?:]+".join(re.escape(part) for part in parts) + "(\\?.*)?"


def _rest_urls(table: RoutingTable) -> dict[str, tuple[str, list[str]]]:
    """Each REST URL's pattern -> a template naming it and the HTTP methods it takes (the document's own GET
    included): two rules on one URL (``GET /v1/entries/{code}``, ``PATCH /v1/entries/{entry.code}``) share one."""
    urls: dict[str, tuple[str, list[str]]] = {_url_pattern(OPENAPI_PATH): (OPENAPI_PATH, ["GET", "HEAD"])}
    for route in table:
        for rule in route.http_rules:
            verbs = urls.setdefault(_url_pattern(rule.template), (rule.template, []))[1]
            for verb in (rule.verb, "HEAD") if rule.verb == "GET" else (rule.verb,):
                if verb not in verbs:
                    verbs.append(verb)
    return urls


def _method_not_allowed(table: RoutingTable) -> list[dict[str, object]]:
    """A REST URL sent with another HTTP method than its rule's is 405 naming the method to use, with ``Allow``.

    The transcoder finds no rule for the pair and answered 404 "Could not resolve <URL> to a method": a GET on
    ``/v1/resources/X:query`` read as a wrong URL, though only the verb was wrong."""
    mappers: list[dict[str, object]] = []
    for pattern, (template, verbs) in _rest_urls(table).items():
        allowed = ", ".join(verbs)
        when = _both(_status_is(404), {"header_filter": {"header": {
            "name": ":path", "string_match": {"safe_regex": {"regex": pattern}}}}}, {"header_filter": {"header": {
                "name": ":method", "string_match": {"safe_regex": {"regex": "|".join(verbs)}},
                "invert_match": True}}})
        mapper = _rest_reply(when, grpc.StatusCode.UNIMPLEMENTED, (
            f"{template} takes {' or '.join(verbs)}, not %REQ(:METHOD)%: send it so (each operation's method "
            f"and URL are in {OPENAPI_PATH})"))
        mapper["status_code"] = 405
        mapper["headers_to_add"] += _headers({"allow": allowed})  # type: ignore[operator]
        mappers.append(mapper)
    return mappers


def _replies_for_browsers(mappers: list[dict[str, object]], origins: tuple[str, ...]) -> list[dict[str, object]]:
    """Each mapper with a twin, first, for a request from an allowed origin, adding the CORS headers.

    The CORS filter marks the edge's own reply only on a route that forwards: a call without a token (or over the
    rate limit) to a path the edge answers itself, such as an unknown method, came back to an allowed page
    without Access-Control-Allow-Origin, and the page saw "Failed to fetch" instead of UNAUTHENTICATED saying
    what to send. (Only the first matching mapper applies, hence a twin per mapper.)"""
    allowed = {"header_filter": {"header": _allowed_origin(origins)}}
    marks = _headers({"access-control-allow-origin": "%REQ(origin)%",
                      "access-control-expose-headers": CORS_EXPOSED_HEADERS, "vary": "origin"})
    twins: list[dict[str, object]] = []
    for mapper in mappers:
        twins.append({**mapper, "filter": _both(mapper["filter"], allowed),  # type: ignore[arg-type]
                      "headers_to_add": [*mapper.get("headers_to_add", []), *marks]})  # type: ignore[misc]
        twins.append(mapper)
    return twins


def _access_log_filter(percent: float, grpc_web: bool = False) -> dict[str, object] | None:
    """Which calls are logged: every failed one (a gRPC status other than OK, or an HTTP error), and
    ``percent`` of the others, drawn independently per call; None (no filter) logs every call. A gRPC-Web
    call's status is the one :func:`_grpc_web_status` kept (``grpc_web``), the one Envoy reads being gone.

    Every call is also counted by method and status (grpc_stats) and, for data, recorded durably in the
    query service's audit trail; writing one JSON line per successful call cost the edge ~0.04 ms of CPU per
    call (0.173 -> 0.135 ms per cache hit), plus whatever collects its stdout (docs/performance.md, "Cutting the
    edge")."""
    if percent >= 100:
        return None
    # The access log's metadata filter reads no matcher's invert: a status other than OK (0) is one from 1 on.
    not_ok = {"metadata_filter": {"matcher": {"filter": GRPC_WEB_STATE, "path": [{"key": "grpc_status"}],
                                              "value": {"double_match": {"range": {"start": 1, "end": 1000}}}}}} \
        if grpc_web else {"grpc_status_filter": {"statuses": ["OK"], "exclude": True}}
    failed = [not_ok,
              {"status_code_filter": {"comparison": {"op": "GE", "value": {
                  "default_value": 400, "runtime_key": "edge_access_log_http_errors_from"}}}}]
    sampled = [] if percent <= 0 else [{"runtime_filter": {
        "runtime_key": "edge_access_log_percent",
        "percent_sampled": {"numerator": round(percent * 10_000), "denominator": "MILLION"},
        "use_independent_randomness": True}}]
    return {"or_filter": {"filters": [*failed, *sampled]}}


#: The largest compiled regex the edge accepts (Envoy's runtime key re2.max_program_size.error_level).
RE2_MAX_PROGRAM_SIZE = 8192
#: What the log says in place of a path that is not a method the edge knows.
WITHHELD_PATH = "(not a method: withheld)"


def method_paths(table: RoutingTable) -> str:
    """A regex of the paths the access log writes: the table's methods and the standard health and reflection
    methods, which is what a routed call's path is by the time it is logged (the transcoder rewrites a mapped
    REST URL to its method). Any other path was typed by the caller, a URL no rule maps or a method no service
    has, and may hold an ID number (``/v1/resources/<ID>/records``, ``/govshare.query.v1.QueryService/<ID>``):
    it is not written. Exact paths, not a pattern of a method's shape, which such a method name also has."""
    return "|".join(re.escape(path) for path in method_path_list(table))


def method_path_list(table: RoutingTable) -> list[str]:
    """The paths :func:`method_paths` matches, each a method's (the edge's spans name these and no other)."""
    paths = [route.method for route in table]
    paths += [f"{prefix}{name}" for prefix in HEALTH_PREFIXES for name in ("Check", "Watch")]
    paths += [f"{prefix}ServerReflectionInfo" for prefix in REFLECTION_PREFIXES]
    return paths


def _path_filter(table: RoutingTable, method: bool) -> dict[str, object]:
    """A method's path (``method``), or any other, a request without one included (``treat_missing_header_as_empty``):
    a request Envoy's HTTP codec refused before its headers were read whole (a header over the size limit, 431; a
    header named with an underscore, 400) has no :path, and a missing header matches neither a regex nor its
    inversion, so such a call was neither logged nor counted in envoy_edge_refused."""
    return {"header_filter": {"header": {"name": ":path", "string_match": {"safe_regex": {
        "regex": method_paths(table)}}, "invert_match": not method, "treat_missing_header_as_empty": True}}}


def _access_log(table: RoutingTable, settings: Settings) -> list[dict[str, object]]:
    """One JSON line per logged call: no authorization header, no body, no query string (REST keys stay out), and
    no path but a method's: a logger per kind of path, as Envoy's formatters cannot rewrite a path, and per kind
    of call, a gRPC-Web call's status being read elsewhere (:func:`_grpc_web_status`) than Envoy reads one."""
    return [_access_logger(table, method=method, grpc_web=grpc_web,
                           selection=_access_log_filter(settings.edge_access_log_percent, grpc_web))
            for method in (True, False) for grpc_web in (False, True)]


def _grpc_web_status_kept(kept: bool) -> dict[str, object]:
    """Whether the edge kept the call's gRPC status (:func:`_grpc_web_status`, a gRPC-Web call that reached a reply;
    the REST replies script, a REST call refused before the transcoder), or not (the status, a number, is never
    null: only a call without it passes, by the key not found)."""
    value = {"present_match": True} if kept else {"null_match": {}}
    return {"metadata_filter": {"matcher": {"filter": GRPC_WEB_STATE, "path": [{"key": "grpc_status"}],
                                            "value": value}, "match_if_key_not_found": not kept}}


def _access_logger(table: RoutingTable, *, method: bool, grpc_web: bool,
                   selection: dict[str, object] | None) -> dict[str, object]:
    grpc_status = f"%DYNAMIC_METADATA({GRPC_WEB_STATE}:grpc_status)%" if grpc_web else "%GRPC_STATUS(NUMBER)%"
    fields = {
        "time": "%START_TIME%", "method": "%REQ(:METHOD)%",
        "path": "%REQ_WITHOUT_QUERY(:PATH)%" if method else WITHHELD_PATH,
        "protocol": "%PROTOCOL%", "grpc_status": grpc_status, "http_status": "%RESPONSE_CODE%",
        "flags": "%RESPONSE_FLAGS%", "details": "%RESPONSE_CODE_DETAILS%", "duration_ms": "%DURATION%",
        "upstream": "%UPSTREAM_CLUSTER%", "bytes_in": "%BYTES_RECEIVED%", "bytes_out": "%BYTES_SENT%",
        "system": f"%DYNAMIC_METADATA(envoy.filters.http.jwt_authn:{JWT_PAYLOAD}:sub)%",
        "request_id": "%REQ(X-REQUEST-ID)%", "peer": "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%",
    }
    log: dict[str, object] = {"name": "envoy.access_loggers.stdout", "typed_config": _any(
        "envoy.extensions.access_loggers.stream.v3.StdoutAccessLog", log_format={"json_format": fields, "formatters": [
            {"name": "envoy.formatter.req_without_query",
             "typed_config": _any("envoy.extensions.formatter.req_without_query.v3.ReqWithoutQuery")}]})}
    which = [_grpc_web_status_kept(grpc_web), _path_filter(table, method)]
    # The selection first: it drops nearly every successful call at once, before each of the four loggers reads
    # the call's kind and matches its path against every method's (a regex of them all).
    log["filter"] = {"and_filter": {"filters": which if selection is None else [selection, *which]}}
    return log


#: The counter of the calls the edge answers itself with a failure: ``edge.refused`` tagged ``method`` and
#: ``grpc_status``, in Prometheus ``envoy_edge_refused{method, grpc_status}``. grpc_stats counts a call only once
#: it passed the token check and the rate limit and is routed to a cluster, so a REST URL no rule maps (404), a
#: wrong verb (405), an unknown query parameter or malformed JSON (400), a preflight from an origin not allowed
#: (403), a message over its method's limit (413), a malformed grpc-timeout, an unknown method, a refused token or
#: the rate limit were counted in ``envoy_http_downstream_rq_4xx`` alone, by no method or status: ops alerting on
#: ``envoy_cluster_grpc`` saw none of them.
REFUSED_STAT = ("edge", "refused")
#: ``method``'s value for a path that is no method the edge knows (a URL no rule maps, a method no service has):
#: the caller's own text, which may hold an ID number and would make a series per request.
UNKNOWN_METHOD = "unknown"
#: A failure the edge answered itself: a backend's answer is ``via_upstream`` (and in ``envoy_cluster_grpc``).
_ANSWERED_BY_EDGE = {"extension_filter": {"name": "envoy.access_loggers.extension_filters.cel", "typed_config": _any(
    "envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter",
    expression="response.code_details != 'via_upstream'")}}
#: Answered at all: a caller that hung up before any answer (HTTP status 0) was refused nothing.
_ANSWERED = {"status_code_filter": {"comparison": {"op": "GE", "value": {
    "default_value": 100, "runtime_key": "edge_refused_answered_from"}}}}


def _refusal_counters(table: RoutingTable) -> list[dict[str, object]]:
    """Stats access loggers counting the edge's own refusals by method (or ``unknown``) and gRPC status, one per
    kind of path and of call as the access log has (:func:`_access_log`). Each logger's filter reads first whether
    the call failed (its gRPC status, its HTTP status), which is all a successful call pays: a cached Query
    answered OK stops there, before the CEL expression, the path regex or any stat is touched."""
    return [_refusal_counter(table, method=method, kept=kept) for method in (True, False) for kept in (False, True)]


def _refusal_counter(table: RoutingTable, *, method: bool, kept: bool) -> dict[str, object]:
    # Not %GRPC_STATUS(NUMBER)%, which is empty for a request that is not gRPC: a request Envoy's HTTP codec refused
    # (a header over the size limit, one named with an underscore, no Host) runs no filter to keep its status, and
    # was counted grpc_status="" though its answer carries the local reply mapper's grpc-status, which CEL reads.
    status = f"%DYNAMIC_METADATA({GRPC_WEB_STATE}:grpc_status)%" if kept else "%CEL(response.grpc_status)%"
    failed = {"or_filter": {"filters": [
        {"metadata_filter": {"matcher": {"filter": GRPC_WEB_STATE, "path": [{"key": "grpc_status"}],
                                         "value": {"double_match": {"range": {"start": 1, "end": 1000}}}}}}
        if kept else {"grpc_status_filter": {"statuses": ["OK"], "exclude": True}},
        {"status_code_filter": {"comparison": {"op": "GE", "value": {
            "default_value": 400, "runtime_key": "edge_access_log_http_errors_from"}}}}]}}
    counter = {"stat": {"name": REFUSED_STAT[1], "tags": [
        {"name": "method", "value_format": "%REQ(:PATH)%" if method else UNKNOWN_METHOD},
        {"name": "grpc_status", "value_format": status}]}, "value_fixed": 1}
    return {"name": "envoy.access_loggers.stats",
            "filter": {"and_filter": {"filters": [failed, _ANSWERED, _ANSWERED_BY_EDGE, _grpc_web_status_kept(kept),
                                                  _path_filter(table, method)]}},
            # stats_scope.prefix, not stat_prefix: Envoy 1.40 warns of that field as deprecated, once per logger at
            # every start (four warnings in a log whose start is otherwise quiet), and is to remove it.
            "typed_config": _any("envoy.extensions.access_loggers.stats.v3.Config",
                                 stats_scope={"prefix": REFUSED_STAT[0]}, counters=[counter])}


#: The span attributes Envoy fills with the request's path: the URL as sent, its query string included (before the
#: transcoder rewrote it: x-envoy-original-path), and a gRPC call's path.
PATH_TAGS = ("http.url", "grpc.path")


def _path_tags(path: str) -> list[dict[str, object]]:
    return [{"tag": tag, "literal": {"value": path}} for tag in PATH_TAGS]


def _name_methods_in_spans(routes: list[dict[str, object]], table: RoutingTable, tracing: dict[str, object]) -> None:
    """The edge's span names a call's method, and no other path: Envoy tagged every span with the URL as sent,
    so a REST URL no rule maps (/v1/resources/<ID>/records), a method no service has
    (/govshare.query.v1.QueryService/<ID>) and a query string (a search's words, a name or a phone number typed
    in it) reached the trace collector, which the access log withholds (:data:`WITHHELD_PATH`). The connection
    manager tags every span so; each route of a method, by its exact path, tags its own with the method's path.

    A route's tracing replaces the manager's sampling (Envoy takes 100 % for what it leaves unset), so each
    carries the manager's: the ratio, and no client's say."""
    methods = set(method_path_list(table))
    # A route's are FractionalPercent, the manager's Percent: the same ratio, in millionths.
    sampling = {key: {"numerator": round(tracing[key]["value"] * 10_000), "denominator": "MILLION"}  # type: ignore[index]
                for key in ("client_sampling", "random_sampling", "overall_sampling")}
    for route in routes:
        path = route.get("match", {}).get("path")  # type: ignore[union-attr]
        if path in methods:
            route["tracing"] = {**sampling, "custom_tags": _path_tags(path)}


def _edge_listener(table: RoutingTable, settings: Settings, tracing: dict[str, object] | None,
                   secrets: Path | None, openapi: Path | None = None) -> dict[str, object]:
    virtual_host: dict[str, object] = {"name": "public", "domains": ["*"], "retry_policy": RETRY_POLICY,
                                       "routes": _routes(table, settings, openapi)}
    if settings.cors_origins:
        virtual_host["typed_per_filter_config"] = {"envoy.filters.http.cors": _cors_policy(settings.cors_origins)}
    manager: dict[str, object] = _any(
        "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        stat_prefix="edge",
        codec_type="AUTO",
        use_remote_address=True,
        generate_request_id=True,
        server_name="govshare-edge",
        early_header_mutation_extensions=_early_header_removal(),
        route_config={"name": "public", "virtual_hosts": [virtual_host],
                      # Envoy's default (4 KiB) is for error bodies; the OpenAPI document is ~190 KB.
                      "max_direct_response_body_size_bytes": len(openapi_document().encode()) + 65536},
        http_filters=_http_filters(table, settings),
        local_reply_config=_local_replies(table, settings),
        access_log=_access_log(table, settings) + _refusal_counters(table),
        http2_protocol_options={"max_concurrent_streams": 1024},
        # An HTTP/1.0 request (nginx's proxy_pass by default, older HTTP libraries) was refused with Envoy's
        # plain-text "426 Upgrade Required": a REST call is one request and one answer, which 1.0 carries.
        # Trailers: a REST Export the backend ends with an error after its first rows has sent its 200 and a
        # JSON array that the transcoder closes all the same; only the trailers (grpc-status, grpc-message) tell
        # the client it was cut short, and HTTP/1.1 dropped them unless enabled.
        # HTTP/1.0 needs no Host header: such a request was 400 with an empty message.
        http_protocol_options={"accept_http_10": True, "default_host_for_http_10": "govshare-edge",
                               "enable_trailers": True},
        common_http_protocol_options={"idle_timeout": "300s", "max_connection_duration": "300s",
                                      "headers_with_underscores_action": "REJECT_REQUEST",
                                      "max_headers_count": MAX_REQUEST_HEADERS},
        stream_idle_timeout="3600s",
        request_headers_timeout="10s",
        max_request_headers_kb=MAX_REQUEST_HEADERS_KIB,
    )
    if tracing is not None:
        manager["tracing"] = {**tracing, "custom_tags": _path_tags(WITHHELD_PATH)}
        _name_methods_in_spans(virtual_host["routes"], table, tracing)  # type: ignore[arg-type]
    chain: dict[str, object] = {"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                             "typed_config": manager}]}
    if settings.tls_enabled:
        assert secrets is not None  # render() refuses TLS without a directory for the secrets
        # Clients authenticate with their token; a client certificate is optional at the edge.
        chain["transport_socket"] = {"name": "envoy.transport_sockets.tls", "typed_config": {
            "@type": f"{_TLS}.DownstreamTlsContext", "common_tls_context": {
                "tls_certificate_sds_secret_configs": [_sds(CERTIFICATE_SECRET, secrets)],
                "alpn_protocols": ["h2", "http/1.1"]}}}
    return {"name": "edge", "address": Address.parse(settings.listen).socket(), "filter_chains": [chain],
            "enable_reuse_port": False}


def _ops_listener(settings: Settings) -> dict[str, object]:
    """Probes and scrapes without the admin endpoint's powers: ``/ready`` and ``/metrics`` (Prometheus) only."""
    def admin(path: str, rewrite: str) -> dict[str, object]:
        return {"match": {"path": path}, "route": {"cluster": _ADMIN_CLUSTER, "prefix_rewrite": rewrite}}

    manager = _any(
        "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        stat_prefix="ops", codec_type="AUTO",
        route_config={"name": "ops", "virtual_hosts": [{"name": "ops", "domains": ["*"], "routes": [
            admin("/ready", "/ready"), admin("/metrics", "/stats/prometheus"),
            {"match": {"prefix": "/"}, "direct_response": {"status": 404}}]}]},
        http_filters=[{"name": "envoy.filters.http.router",
                       "typed_config": _any("envoy.extensions.filters.http.router.v3.Router")}],
    )
    return {"name": "ops", "address": Address(settings.metrics_address, settings.metrics_port).socket(),
            "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                            "typed_config": manager}]}]}


def render(settings: Settings, env: Mapping[str, str] | None = None, table: RoutingTable | None = None,
           secrets: Path | None = None, openapi: Path | None = None) -> dict[str, object]:
    """The Envoy v3 bootstrap for ``settings`` (component ``gateway``) and the ``OTEL_*`` variables in ``env``.

    With TLS, ``secrets`` is the directory of the SDS files (:func:`secret_resources`) the bootstrap names;
    ``openapi`` the OpenAPI document's file (:func:`write_openapi`), else the document is inlined."""
    if settings.tls_enabled and secrets is None:
        raise ValueError("with TLS the bootstrap names its certificates' SDS files: pass their directory")
    env = os.environ if env is None else env
    table = table or RoutingTable.from_descriptors()
    tracing, trace_cluster = _tracing(env)
    admin = Address.parse(settings.edge_admin)
    clusters = [*_backend_clusters(settings, secrets), _jwks_cluster(settings.jwks_url, settings, secrets),
                _cluster(_ADMIN_CLUSTER, admin, http2=False, tls=None)]
    if trace_cluster is not None:
        clusters.append(trace_cluster)
    listeners = [_edge_listener(table, settings, tracing, secrets, openapi)]
    if settings.metrics_port:
        listeners.append(_ops_listener(settings))
    return {
        "node": {"id": "govshare-edge", "cluster": "govshare-edge"},
        "admin": {"address": admin.socket()},
        "static_resources": {"listeners": listeners, "clusters": clusters},
        "stats_config": {"stats_tags": _GRPC_STATS_TAGS},
        # Envoy's default refuses nothing below this many connections; the edge is the overload point. (The
        # resource monitor, not the runtime key Envoy deprecated and warns about at every start.)
        "overload_manager": {"resource_monitors": [{
            "name": "envoy.resource_monitors.global_downstream_max_connections",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3."
                         "DownstreamConnectionsConfig",
                "max_active_downstream_connections": 50_000}}]},
        # Envoy refuses a regex whose compiled program is over 100 by default; the access log's list of the
        # method paths it writes (method_paths) is one of ~2,000, matched only on the calls it logs.
        "layered_runtime": {"layers": [{"name": "static", "static_layer": {
            "re2.max_program_size.error_level": RE2_MAX_PROGRAM_SIZE}}]},
    }


def render_json(settings: Settings, env: Mapping[str, str] | None = None, secrets: Path | None = None, *,
                compact: bool = False, openapi: Path | None = None) -> str:
    """The bootstrap as JSON (which is YAML too): what ``python -m gateway --render`` prints, indented for a
    reader.

    ``compact`` is for the file Envoy reads at each start: indenting made it twice the size (1.5 MB, most of it
    blanks) and forces the json module's pure-Python encoder, which took most of the render (~0.5 s of every
    start, before Envoy even began)."""
    bootstrap = render(settings, env, secrets=secrets, openapi=openapi)
    if compact:
        return json.dumps(bootstrap, separators=(",", ":"), sort_keys=True) + "\n"
    return json.dumps(bootstrap, indent=2, sort_keys=True) + "\n"
