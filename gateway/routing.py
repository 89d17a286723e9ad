"""The one table of public methods: which backend serves each, which pass without a token, what is internal.

Everything the edge does per method is rendered from it (gateway.edge): add a
service here, or a method to a public service's proto, and it is routed,
authenticated, rate-limited, counted and transcoded with no other edit. The
methods come from the generated descriptors, which also say whether a method
streams its replies. Internal services (the provider contract and
AuthorizationService.Check) exist in the same descriptor pool but are never
routed: only platform processes may call them, from inside the mesh.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from google.api import annotations_pb2
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor

# Imported for their side effect: the default descriptor pool learns every govshare service
# (the routing table reads cardinalities from it, and server reflection lists the public ones).
from govshare.authorization.v1 import (  # noqa: F401
    admin_log_pb2,
    authorization_pb2,
    directory_pb2,
    persons_pb2,
    roles_pb2,
    sharing_pb2,
    token_pb2,
)
from govshare.catalog.v1 import catalog_pb2  # noqa: F401
from govshare.foundation.v1 import foundation_pb2  # noqa: F401
from govshare.provider.v1 import provider_pb2  # noqa: F401
from govshare.query.v1 import audit_pb2, dispute_pb2, query_pb2  # noqa: F401
from govshare.supervision.v1 import supervision_pb2  # noqa: F401
from services.runtime.settings import Settings


class Backend(StrEnum):
    """The platform services the edge routes to."""

    CATALOG = "catalog"
    AUTHORIZATION = "authorization"
    QUERY = "query"
    FOUNDATION = "foundation"
    SUPERVISION = "supervision"


PUBLIC_SERVICES: Mapping[str, Backend] = MappingProxyType({
    "govshare.catalog.v1.CatalogService": Backend.CATALOG,
    "govshare.authorization.v1.DirectoryService": Backend.AUTHORIZATION,
    "govshare.authorization.v1.SharingService": Backend.AUTHORIZATION,
    "govshare.authorization.v1.TokenService": Backend.AUTHORIZATION,
    "govshare.authorization.v1.RoleService": Backend.AUTHORIZATION,
    "govshare.authorization.v1.AdminLogService": Backend.AUTHORIZATION,
    "govshare.authorization.v1.SessionService": Backend.AUTHORIZATION,
    "govshare.authorization.v1.PersonService": Backend.AUTHORIZATION,
    "govshare.query.v1.QueryService": Backend.QUERY,
    "govshare.query.v1.DisputeService": Backend.QUERY,
    "govshare.query.v1.AuditService": Backend.QUERY,
    "govshare.foundation.v1.FoundationAdminService": Backend.FOUNDATION,
    "govshare.supervision.v1.SupervisionService": Backend.SUPERVISION,
})
INTERNAL_SERVICES = frozenset({
    "govshare.authorization.v1.AuthorizationService",
    "govshare.authorization.v1.AdminLogIntakeService",
    "govshare.provider.v1.ProviderService",
    # What query asks authorization for the persons' view.
    "govshare.authorization.v1.SubjectAccessPolicyService",
    # The figures each owning service gives supervision (R-SUP-1).
    "govshare.catalog.v1.CatalogFiguresService",
    "govshare.authorization.v1.SharingFiguresService",
    "govshare.query.v1.AuditFiguresService",
    "govshare.foundation.v1.FoundationFiguresService",
})
#: Where the edge sends the standard health and reflection services: a backend that reflects every public service.
EDGE_COMPANION = Backend.AUTHORIZATION
#: Methods that authenticate themselves (the system secret, or a person's credentials or IdP token, is in the
#: request), so they pass without a token.
ANONYMOUS_METHODS = frozenset({
    "/govshare.authorization.v1.TokenService/IssueToken",
    "/govshare.authorization.v1.SessionService/SignIn",
    "/govshare.authorization.v1.SessionService/EnrolTotp",
    "/govshare.authorization.v1.SessionService/ExchangeOidcToken",
})

#: The request fields whose empty list a service reads as the widest answer, each with what it reads: proto3 sends
#: an empty list as no list at all, so a REST caller's explicit "items": [] (a filter that matched nothing, a form
#: whose boxes were all unticked) reached the service as "every item the caller may have", and answered more than
#: the caller asked for. The edge refuses it (gateway/rest_replies.lua), and /openapi.yaml gives each such list
#: minItems 1; leaving the field out still means the widest answer. (An update's list, Grant.system_ids under an
#: update mask, is left alone: there an empty list is the way to clear it.)
EMPTY_LIST_MEANS: Mapping[tuple[str, str], str] = MappingProxyType({
    ("govshare.query.v1.QueryRequest", "items"): "every item the caller may have",
    ("govshare.query.v1.BatchQueryRequest", "items"): "every item the caller may have",
    ("govshare.query.v1.ExportRequest", "items"): "every item the caller may have",
    ("govshare.authorization.v1.Application", "system_ids"): "every system of the department",
    ("govshare.authorization.v1.ReplyApplicationRequest", "items"): "the items the application requested",
    ("govshare.authorization.v1.ReplyApplicationRequest", "purposes"): "the purposes the application requested",
    ("govshare.authorization.v1.RecordCoordinationDecisionRequest", "items"): "the items the application requested",
})


#: Listings and searches that read and encode pages of up to 1,000 rows (issue 14): where a deployment gives them
#: processes of their own (``GOVSHARE_<SERVICE>_HEAVY_READ_TARGET``: other replicas of the same image), the edge
#: sends them there, so the processes on the Query path never encode such a page between two Queries.
HEAVY_READS: Mapping[str, Backend] = MappingProxyType({
    "/govshare.catalog.v1.CatalogService/ListEntries": Backend.CATALOG,
    "/govshare.catalog.v1.CatalogService/SearchEntries": Backend.CATALOG,
    "/govshare.query.v1.AuditService/ListAccesses": Backend.QUERY,
    "/govshare.query.v1.AuditService/ListSubjectAccesses": Backend.QUERY,
    "/govshare.query.v1.AuditService/GetUsageSummary": Backend.QUERY,
})
_HEAVY_READ_SETTINGS = {Backend.CATALOG: "catalog_heavy_read_target", Backend.QUERY: "query_heavy_read_target"}

_TARGET_SETTINGS = {
    Backend.CATALOG: "catalog_target",
    Backend.AUTHORIZATION: "authorization_target",
    Backend.QUERY: "query_target",
    Backend.FOUNDATION: "foundation_target",
    Backend.SUPERVISION: "supervision_target",
}


@dataclass(frozen=True, slots=True)
class HttpRule:
    """One ``google.api.http`` rule of a method: ``POST /v1/resources/{resource_code}:query`` with body ``*``."""

    verb: str
    template: str
    body: str
    #: The full name of the message its JSON body is (the request's for ``*``, the body field's), or "" for none.
    body_message: str = ""


@dataclass(frozen=True, slots=True)
class Route:
    """Where one public method goes and how its replies flow."""

    method: str
    backend: Backend
    server_streaming: bool
    anonymous: bool
    #: Its REST operations (``google.api.http`` rules), each a verb, a URL template and the body field.
    http_rules: tuple[HttpRule, ...] = ()
    #: The request fields a REST query string may set that hold one value (not a list), dotted (``filter.category``).
    single_query_fields: tuple[str, ...] = ()

    @property
    def url_fields(self) -> tuple[str, ...]:
        """The request fields its REST URLs bind (``entry.code`` of ``PATCH /v1/entries/{entry.code}``), in
        order, once each."""
        fields = [field for rule in self.http_rules for field in _URL_VARIABLE.findall(rule.template)]
        return tuple(dict.fromkeys(fields))

    @property
    def body_takes_every_field(self) -> bool:
        """Whether its REST call carries every field the URL does not in the JSON body (``body: "*"``), so a
        query string holds nothing it reads."""
        return bool(self.http_rules) and all(rule.body == "*" for rule in self.http_rules)

    @property
    def service(self) -> str:
        return self.method[1:].rpartition("/")[0]

    @property
    def name(self) -> str:
        return self.method.rpartition("/")[2]


#: Backends the edge may run without (their methods answer UNAVAILABLE, said by Envoy itself): supervision is not
#: on the query path, and a deployment that has not added it yet keeps serving everything else.
OPTIONAL_BACKENDS = frozenset({Backend.SUPERVISION})


def backend_targets(settings: Settings) -> dict[Backend, str]:
    """The host:port of every configured backend, or ValueError naming each missing required setting."""
    targets = {backend: getattr(settings, attr).strip() for backend, attr in _TARGET_SETTINGS.items()}
    missing = [f"GOVSHARE_{_TARGET_SETTINGS[backend].upper()}" for backend, target in targets.items()
               if not target and backend not in OPTIONAL_BACKENDS]
    if missing:
        raise ValueError(f"the gateway needs every backend target; missing: {', '.join(missing)}")
    return {backend: target for backend, target in targets.items() if target}


def heavy_read_targets(settings: Settings) -> dict[Backend, str]:
    """The host:port of each backend's heavy-read processes, for the backends that have them."""
    return {backend: target for backend, attr in _HEAVY_READ_SETTINGS.items()
            if (target := getattr(settings, attr).strip())}


def heavy_read_cluster(backend: Backend) -> str:
    """The edge's cluster of a backend's heavy-read processes."""
    return f"{backend.value}-heavy-reads"


_URL_VARIABLE = re.compile(r"\{([^}=]+)")


def url_variables(template: str) -> list[str]:
    """The request fields a URL template binds, in its order (``entry.code`` of ``/v1/entries/{entry.code}``)."""
    return _URL_VARIABLE.findall(template)


def _body_message(method: MethodDescriptor, body: str) -> str:
    """The full name of the message a rule's JSON body is: the request for ``*``, the named field's message."""
    if body == "*":
        return method.input_type.full_name
    field = method.input_type.fields_by_name.get(body) if body else None
    return field.message_type.full_name if field is not None and field.message_type is not None else ""


def http_rules(method: MethodDescriptor) -> tuple[HttpRule, ...]:
    """The method's ``google.api.http`` rules (its additional bindings included), as verb, template and body."""
    rule = method.GetOptions().Extensions[annotations_pb2.http]
    rules = []
    for binding in (rule, *rule.additional_bindings):
        pattern = binding.WhichOneof("pattern")
        if pattern is None:
            continue
        verb, template = ((binding.custom.kind.upper(), binding.custom.path) if pattern == "custom" else
                          (pattern.upper(), getattr(binding, pattern)))
        rules.append(HttpRule(verb, template, binding.body, _body_message(method, binding.body)))
    return tuple(rules)


#: Messages the transcoder reads from one query parameter's text (a time, a duration, a mask, a wrapped scalar).
_SCALAR_MESSAGES = frozenset({"google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask",
                              *(f"google.protobuf.{kind}Value" for kind in (
                                  "Double", "Float", "Int64", "UInt64", "Int32", "UInt32", "Bool", "String", "Bytes"))})


def _single_fields(message: Descriptor, prefix: str = "", depth: int = 0) -> list[str]:
    """The dotted paths of ``message``'s fields that hold one value, through its nested messages (a few deep)."""
    paths: list[str] = []
    for field in message.fields:
        if field.is_repeated:
            continue
        path = f"{prefix}{field.name}"
        if field.message_type is None or field.message_type.full_name in _SCALAR_MESSAGES:
            paths.append(path)
        elif depth < 3:
            paths += _single_fields(field.message_type, f"{path}.", depth + 1)
    return paths


#: Messages whose JSON is not an object of their fields (a time, a mask, a wrapped scalar; a Struct or a Value, any
#: JSON; an Any, its @type and its message's fields): a body's names are not checked inside them.
_OPAQUE_MESSAGES = _SCALAR_MESSAGES | frozenset({"google.protobuf.Struct", "google.protobuf.Value",
                                                 "google.protobuf.ListValue", "google.protobuf.Any"})


#: The kind of a map's string values (``map:string``): the edge checks each is a JSON string, naming it by its key
#: (``claims["name"]``) as the services do, where the transcoder named it by its place (``claims[1].value``).
STRING_VALUES = "string"
#: The kind of a google.protobuf.Timestamp field (``time``): the edge writes the ``t`` and ``z`` of an RFC 3339 time
#: in upper case, which RFC 3339 (5.6) allows in either case and the transcoder reads only in upper case.
TIME_VALUE = "time"


def _field_kind(field: FieldDescriptor) -> str:
    """What a body field's JSON value is checked as: a message's full name (its names checked), ``map:`` and its
    values' kind (the keys are the caller's; :data:`STRING_VALUES` for strings), or "" (a scalar, an enum or an
    opaque message: not looked into), or :data:`TIME_VALUE` for a time."""
    message = field.message_type
    if message is not None and message.full_name == "google.protobuf.Timestamp":
        return TIME_VALUE
    if message is None or message.full_name in _OPAQUE_MESSAGES:
        return ""
    if message.GetOptions().map_entry:
        value = message.fields_by_name["value"]
        return "map:" + (STRING_VALUES if value.type == value.TYPE_STRING else _field_kind(value))
    return message.full_name


def body_fields(table: Iterable[Route], pool: descriptor_pool.DescriptorPool | None = None,
                ) -> dict[str, dict[str, str]]:
    """The JSON names each message a REST body may hold takes (the lowerCamelCase name and the proto name, as
    the transcoder reads both), each with its value's kind (:func:`_field_kind`), for every body message and
    the messages inside it.

    The transcoder drops a body's unknown field without a word (the proto3 JSON mapping, which it has no option
    to make strict), so the edge checks the names against these before it transcodes."""
    pool = pool or descriptor_pool.Default()
    pending = [rule.body_message for route in table for rule in route.http_rules if rule.body_message]
    fields: dict[str, dict[str, str]] = {}
    while pending:
        name = pending.pop()
        if name in fields:
            continue
        message = pool.FindMessageTypeByName(name)
        fields[name] = {}
        for field in message.fields:
            kind = _field_kind(field)
            fields[name].update(dict.fromkeys((field.json_name, field.name), kind))
            if kind.removeprefix("map:") not in ("", STRING_VALUES, TIME_VALUE):
                pending.append(kind.removeprefix("map:"))
    return dict(sorted(fields.items()))


def request_enums(table: Iterable[Route], pool: descriptor_pool.DescriptorPool | None = None) -> dict[str, list[str]]:
    """The names of every enum a public method's request holds (in its messages, however deep), by the enum's full
    name, the unspecified value (number 0) left out: what a REST caller may write for one."""
    pool = pool or descriptor_pool.Default()
    pending = [pool.FindMethodByName(route.method[1:].replace("/", ".")).input_type for route in table]
    seen: set[str] = set()
    enums: dict[str, list[str]] = {}
    while pending:
        message = pending.pop()
        if message.full_name in seen:
            continue
        seen.add(message.full_name)
        for field in message.fields:
            if field.enum_type is not None:
                enums[field.enum_type.full_name] = [value.name for value in field.enum_type.values if value.number]
            elif field.message_type is not None:
                pending.append(field.message_type)
    return dict(sorted(enums.items()))


def single_query_fields(method: MethodDescriptor, rules: tuple[HttpRule, ...]) -> tuple[str, ...]:
    """The fields of ``method``'s request a query string may set once: not bound by a URL, not in the body."""
    if not rules or all(rule.body == "*" for rule in rules):
        return ()
    bound = {field for rule in rules for field in _URL_VARIABLE.findall(rule.template)}
    bound |= {rule.body for rule in rules if rule.body}
    return tuple(path for path in _single_fields(method.input_type)
                 if not any(path == field or path.startswith(f"{field}.") for field in bound))


class RoutingTable:
    """Public methods by full path; everything else gets a refusal that says why."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self._routes = {route.method: route for route in routes}
        self._services = tuple(dict.fromkeys(route.service for route in self._routes.values()))

    @classmethod
    def from_descriptors(cls, services: Mapping[str, Backend] = PUBLIC_SERVICES,
                         pool: descriptor_pool.DescriptorPool | None = None) -> RoutingTable:
        """Reads every method of the public services; a request-streaming method is refused loudly at start,
        since the proxy relays unary and server-streaming calls only."""
        pool = pool or descriptor_pool.Default()
        routes = []
        for service_name, backend in services.items():
            for method in pool.FindServiceByName(service_name).methods:
                path = f"/{service_name}/{method.name}"
                if method.client_streaming:
                    raise ValueError(f"{path} streams requests, which the edge does not route (gRPC-Web and "
                                     "the REST transcoder cannot carry them)")
                rules = http_rules(method)
                routes.append(Route(path, backend, method.server_streaming, path in ANONYMOUS_METHODS, rules,
                                    single_query_fields(method, rules)))
        return cls(routes)

    def __iter__(self) -> Iterator[Route]:
        return iter(self._routes.values())

    def __len__(self) -> int:
        return len(self._routes)

    def backend(self, service: str) -> Backend:
        """The backend serving a public service."""
        return next(route.backend for route in self._routes.values() if route.service == service)

    def get(self, method: str) -> Route | None:
        return self._routes.get(method)

    @property
    def service_names(self) -> tuple[str, ...]:
        """The routed services, in table order (what health and reflection announce)."""
        return self._services
