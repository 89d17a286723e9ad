"""The REST/JSON contract: every public RPC has one google.api.http rule, internal RPCs have none, no two collide.

Read from the committed descriptor set (protos/govshare.binpb), the very file Envoy's transcoder loads;
test_protos.py proves it is fresh. Public and internal are the gateway's table (gateway/routing.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2

from gateway.edge import REST_PREFIX
from gateway.routing import INTERNAL_SERVICES, PUBLIC_SERVICES

ROOT = Path(__file__).resolve().parents[2]
DESCRIPTOR_SET = ROOT / "protos" / "govshare.binpb"
FDP = descriptor_pb2.FieldDescriptorProto
_VARIABLE = re.compile(r"\{([\w.]+)(?:=([^}]*))?\}")


def _files() -> list[descriptor_pb2.FileDescriptorProto]:
    return list(descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes()).file)


def _services() -> dict[str, descriptor_pb2.ServiceDescriptorProto]:
    return {f"{f.package}.{s.name}": s for f in _files() if f.package.startswith("govshare.") for s in f.service}


def _messages() -> dict[str, descriptor_pb2.DescriptorProto]:
    found: dict[str, descriptor_pb2.DescriptorProto] = {}

    def walk(scope: str, messages: list[descriptor_pb2.DescriptorProto]) -> None:
        for message in messages:
            found[f"{scope}.{message.name}"] = message
            walk(f"{scope}.{message.name}", list(message.nested_type))

    for file in _files():
        walk(file.package, list(file.message_type))
    return found


def _rules() -> dict[str, http_pb2.HttpRule | None]:
    """Every govshare RPC (``Service/Method``) -> its http rule, or None."""
    return {f"{service}/{m.name}": (m.options.Extensions[annotations_pb2.http]
                                    if m.options.HasExtension(annotations_pb2.http) else None)
            for service, descriptor in _services().items() for m in descriptor.method}


def _verb_and_path(rule: http_pb2.HttpRule) -> tuple[str, str]:
    pattern = rule.WhichOneof("pattern")
    if pattern == "custom":
        return rule.custom.kind.upper(), rule.custom.path
    return pattern.upper(), getattr(rule, pattern)


def _shape(path: str) -> tuple[list[str], str]:
    """The template's segments (each variable as ``*``) and its custom verb (after the last segment's ``:``)."""
    path, _, verb = _VARIABLE.sub("*", path).partition(":")
    return path.strip("/").split("/"), verb


def _overlap(a: str, b: str) -> bool:
    """Whether one URL could match both templates: same length and verb, every segment equal or a variable."""
    (segments_a, verb_a), (segments_b, verb_b) = _shape(a), _shape(b)
    return verb_a == verb_b and len(segments_a) == len(segments_b) and all(
        x == y or "*" in (x, y) for x, y in zip(segments_a, segments_b, strict=True))


def test_every_govshare_service_is_public_or_internal() -> None:
    """A new service must be classified (and so annotated, or not) before it ships."""
    unclassified = set(_services()) - set(PUBLIC_SERVICES) - INTERNAL_SERVICES
    assert not unclassified, unclassified
    assert set(PUBLIC_SERVICES) <= set(_services())


def test_every_public_rpc_has_an_http_rule() -> None:
    missing = [m for m, rule in _rules().items() if m.split("/")[0] in PUBLIC_SERVICES and rule is None]
    assert not missing, f"public RPCs without a google.api.http rule: {missing}"


def test_no_internal_rpc_has_an_http_rule() -> None:
    exposed = [m for m, rule in _rules().items() if m.split("/")[0] in INTERNAL_SERVICES and rule is not None]
    assert not exposed, f"internal RPCs must not be transcoded: {exposed}"


def test_no_rule_has_additional_bindings() -> None:
    """One URL per RPC: the OpenAPI document has one operation per RPC, and so does the transcoder."""
    assert [m for m, rule in _rules().items() if rule is not None and rule.additional_bindings] == []


def test_no_two_rpcs_share_a_verb_and_path() -> None:
    bound = sorted((*_verb_and_path(rule), method) for method, rule in _rules().items() if rule is not None)
    clashes = [(a[2], b[2]) for i, a in enumerate(bound) for b in bound[i + 1:]
               if a[0] == b[0] and _overlap(a[1], b[1])]
    assert not clashes, clashes


def test_the_collision_check_sees_a_variable_overlapping_a_literal() -> None:
    """The check above is real: `/v1/entries/{code}` and `/v1/entries/search` would catch the same URL."""
    assert _overlap("/v1/entries/{code}", "/v1/entries/search")
    assert _overlap("/v1/resources/{resource_code}:query", "/v1/resources/{code}:query")
    assert not _overlap("/v1/entries/{code}", "/v1/entries:search")
    assert not _overlap("/v1/resources/{resource_code}:query", "/v1/resources/{resource_code}:verify")
    assert not _overlap("/v1/entries/{code}", "/v1/entries/{code}/versions")


@pytest.mark.parametrize("method", sorted(m for m, rule in _rules().items() if rule is not None))
def test_each_rule_binds_real_fields(method: str) -> None:
    """Path variables and the body name fields of the request; reads carry no body; segments are single."""
    service, name = method.split("/")
    rpc = next(m for m in _services()[service].method if m.name == name)
    rule = _rules()[method]
    assert rule is not None
    verb, path = _verb_and_path(rule)
    messages = _messages()
    assert path.startswith("/v1/"), path
    for variable, pattern in _VARIABLE.findall(path):
        # A multi-segment variable ({code=**}) would swallow sub-collections and custom verbs: codes that
        # hold a `/` are sent percent-encoded in one segment instead (docs/api.md).
        assert pattern in ("", "*"), f"{method}: {{{variable}={pattern}}}"
        message = messages[rpc.input_type.lstrip(".")]
        *parents, leaf = variable.split(".")
        for parent in parents:
            field = next(f for f in message.field if f.name == parent)
            message = messages[field.type_name.lstrip(".")]
        field = next((f for f in message.field if f.name == leaf), None)
        assert field is not None and field.type in (FDP.TYPE_STRING, FDP.TYPE_INT64), f"{method}: {variable}"
    if verb in ("GET", "DELETE"):
        assert rule.body == "", f"{method}: a {verb} has no body"
    elif rule.body != "*":
        request = messages[rpc.input_type.lstrip(".")]
        assert rule.body in {f.name for f in request.field}, f"{method}: body {rule.body}"


def test_every_rule_is_under_the_prefix_the_edge_routes_for_browsers() -> None:
    """The edge gives a browser's REST call under REST_PREFIX a forwarding route so that CORS applies
    (gateway/edge.py, _rest_route): a rule outside it would be a REST URL browsers cannot call."""
    outside = [rpc for rpc, rule in _rules().items() if rule is not None
               and not _verb_and_path(rule)[1].startswith(REST_PREFIX)]
    assert outside == []
