"""The committed OpenAPI document (protos/govshare/openapi.yaml): valid, one operation per public RPC, JSON as
transcoded.

Its freshness against the protos is test_protos.py's (gen_protos.py --check covers it).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf import descriptor_pool
from openapi_spec_validator import validate

from gateway.routing import ANONYMOUS_METHODS, EMPTY_LIST_MEANS, INTERNAL_SERVICES, PUBLIC_SERVICES
from services.authorization.grants import GrantUpdate
from services.authorization.grants import mask_problems as grant_mask_problems
from services.catalog.index import rank_key
from services.catalog.rules import mask_paths
from services.catalog.search import parse_query
from services.runtime.errors import ServiceError

ROOT = Path(__file__).resolve().parents[2]
VERBS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "protos" / "govshare" / "openapi.yaml").read_text(encoding="utf-8"))


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(verb, path, op) for path, item in document["paths"].items() for verb, op in item.items() if verb in VERBS]


def _public_rpcs() -> set[str]:
    pool = descriptor_pool.Default()
    return {f"{s.rpartition('.')[2]}_{m.name}" for s in PUBLIC_SERVICES
            for m in pool.FindServiceByName(s).methods}


def _schema(document: dict[str, Any], name: str) -> dict[str, Any]:
    return document["components"]["schemas"][name]


def test_the_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"].startswith("3.")


def test_no_two_paths_differ_only_in_their_variables_names(document: dict[str, Any]) -> None:
    """OpenAPI holds templated paths of the same hierarchy to be identical, whatever their variables are named,
    and a document with two such paths invalid: `/v1/entries/{code}` (GET) beside `/v1/entries/{entry.code}`
    (PATCH), and `/v1/grants/{id}` beside `/v1/grants/{grant.id}`, made schemathesis refuse UpdateEntry and
    UpdateGrant ("Ensure that the definition complies with the OpenAPI specification") and test neither. Each
    URL is one path; a parameter named after another operation's field says the field it fills."""
    shapes = Counter(re.sub(r"\{[^}]*\}", "{}", path) for path in document["paths"])
    assert [shape for shape, count in shapes.items() if count > 1] == []
    update = document["paths"]["/v1/entries/{code}"]["patch"]
    assert update["operationId"] == "CatalogService_UpdateEntry"
    code = next(p for p in update["parameters"] if p["in"] == "path")
    assert (code["name"], code["x-request-field"]) == ("code", "entry.code")
    grant = document["paths"]["/v1/grants/{id}"]
    assert (grant["get"]["operationId"], grant["patch"]["operationId"]) == ("SharingService_GetGrant",
                                                                            "SharingService_UpdateGrant")


def test_a_page_size_is_documented_as_never_negative(document: dict[str, Any]) -> None:
    """Every listing refuses a negative page size (INVALID_ARGUMENT "page_size: must not be negative", services/
    runtime/pagination.py), but the document gave pageSize as any int32: schemathesis's schema-valid
    `pageSize=-2147483648` was refused on every listing. It says `minimum: 0`, in query parameters and bodies."""
    sizes = [p["schema"] for _, _, op in _operations(document) for p in op.get("parameters", [])
             if p["name"] == "pageSize"]
    sizes += [schema["properties"]["pageSize"] for schema in document["components"]["schemas"].values()
              if "pageSize" in schema.get("properties", {})]
    assert len(sizes) > 20
    assert all(size.get("minimum") == 0 and size["type"] == "integer" for size in sizes), sizes


def test_a_list_whose_empty_value_the_edge_refuses_is_documented_as_at_least_one(document: dict[str, Any]) -> None:
    """The edge refuses "items": [] where a service reads no items as every item (gateway.routing.EMPTY_LIST_MEANS),
    but the document said "empty means all the caller is allowed" and allowed it. Each such list of a request's
    body says minItems 1 and to leave the field out; a message a reply carries too (Application) is left as it is,
    its reply's empty list being valid."""
    bodies = {"govshare.query.v1.QueryRequest": "QueryService_QueryBody",
              "govshare.query.v1.BatchQueryRequest": "QueryService_BatchQueryBody",
              "govshare.query.v1.ExportRequest": "QueryService_ExportBody",
              "govshare.authorization.v1.ReplyApplicationRequest": "SharingService_ReplyApplicationBody",
              "govshare.authorization.v1.RecordCoordinationDecisionRequest":
                  "SharingService_RecordCoordinationDecisionBody"}
    assert {message for message, _ in EMPTY_LIST_MEANS} == {*bodies, "govshare.authorization.v1.Application"}
    for (message, name), means in EMPTY_LIST_MEANS.items():
        if message in bodies:
            field = _schema(document, bodies[message])["properties"][_camel(name)]
            assert field["minItems"] == 1 and field["description"].endswith(
                f"Over REST, leave the field out for {means}: [] is refused."), (message, field)
    assert "minItems" not in _schema(document, "govshare.authorization.v1.Application")["properties"]["systemIds"]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def test_the_validator_refuses_a_broken_document(document: dict[str, Any]) -> None:
    """The validation above is real: an operation naming a path parameter its URL lacks is refused."""
    broken = yaml.safe_load(yaml.safe_dump(document))
    broken["paths"]["/v1/tokens"]["post"]["parameters"] = [
        {"name": "nowhere", "in": "path", "required": True, "schema": {"type": "string"}}]
    with pytest.raises(Exception, match="nowhere"):
        validate(broken)


def test_every_public_rpc_has_exactly_one_operation_named_after_it(document: dict[str, Any]) -> None:
    ids = Counter(op["operationId"] for _, _, op in _operations(document))
    assert [i for i, n in ids.items() if n > 1] == []
    assert set(ids) == _public_rpcs()


def test_no_internal_rpc_is_in_the_document(document: dict[str, Any]) -> None:
    internal = {s.rpartition(".")[2] for s in INTERNAL_SERVICES}
    assert [op["operationId"] for _, _, op in _operations(document)
            if op["operationId"].split("_")[0] in internal] == []


def test_bearer_tokens_everywhere_but_the_anonymous_methods(document: dict[str, Any]) -> None:
    assert document["security"] == [{"bearerAuth": []}]
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        **document["components"]["securitySchemes"]["bearerAuth"], "type": "http", "scheme": "bearer"}
    anonymous = {m[1:].split(".")[-1].replace("/", "_") for m in ANONYMOUS_METHODS}
    assert anonymous == {"TokenService_IssueToken", "SessionService_SignIn", "SessionService_EnrolTotp",
                         "SessionService_ExchangeOidcToken"}
    for _, _, op in _operations(document):
        assert ("security" in op) == (op["operationId"] in anonymous), op["operationId"]
        if op["operationId"] in anonymous:
            assert op["security"] == []


def test_errors_are_google_rpc_status_with_their_details(document: dict[str, Any]) -> None:
    for _, _, op in _operations(document):
        error = op["responses"]["default"]["content"]["application/json"]["schema"]
        assert error == {"$ref": "#/components/schemas/google.rpc.Status"}
    status = _schema(document, "google.rpc.Status")["properties"]
    assert set(status) == {"code", "message", "details"}
    details = {d.get("$ref", "").rpartition("/")[2] for d in status["details"]["items"]["anyOf"]}
    assert {"google.rpc.ErrorInfo", "google.rpc.BadRequest"} <= details
    violation = _schema(document, "google.rpc.BadRequest.FieldViolation")["properties"]
    assert {"field", "description"} <= set(violation)


def test_json_names_and_types_are_those_the_transcoder_writes(document: dict[str, Any]) -> None:
    """lowerCamelCase names, enums by name, int64 as strings, Timestamps as RFC 3339 strings."""
    grant = _schema(document, "govshare.authorization.v1.Grant")["properties"]
    assert "applicationId" in grant and "application_id" not in grant
    assert grant["quota"] == {**grant["quota"], "type": "string", "format": "int64"}
    assert grant["expireTime"] == {**grant["expireTime"], "type": "string", "format": "date-time"}
    assert grant["state"]["$ref"].endswith("govshare.authorization.v1.GrantState")
    assert _schema(document, "govshare.authorization.v1.GrantState") == {
        **_schema(document, "govshare.authorization.v1.GrantState"), "type": "string",
        "enum": ["GRANT_STATE_UNSPECIFIED", "GRANT_STATE_ACTIVE", "GRANT_STATE_REVOKED", "GRANT_STATE_EXPIRED",
                 "GRANT_STATE_ENDED"]}
    values = _schema(document, "govshare.query.v1.QueryResponse")["properties"]["values"]
    assert values["type"] == "object" and values["additionalProperties"] == {"type": "string"}


def test_the_query_operation(document: dict[str, Any]) -> None:
    """The flagship call: the resource code in the path (one segment), key, items and purpose in the body."""
    op = document["paths"]["/v1/resources/{resource_code}:query"]["post"]
    assert op["operationId"] == "QueryService_Query"
    (param,) = op["parameters"]
    assert (param["name"], param["in"], param["required"]) == ("resource_code", "path", True)
    assert "%2F" in param["description"]
    body = op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rpartition("/")[2]
    assert set(_schema(document, body)["properties"]) == {"key", "items", "purpose"}
    answer = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/govshare.query.v1.QueryResponse"}


def test_reads_take_their_filters_as_query_parameters(document: dict[str, Any]) -> None:
    op = document["paths"]["/v1/entries"]["get"]
    names = {p["name"] for p in op["parameters"] if p["in"] == "query"}
    assert {"filter.category", "filter.providerDepartmentCode", "pageSize", "pageToken"} <= names
    assert "requestBody" not in op
    update = document["paths"]["/v1/entries/{code}"]["patch"]
    assert [p["name"] for p in update["parameters"] if p["in"] == "query"] == ["updateMask"]


def test_the_forms_the_edge_takes_besides_the_operations_are_said_in_the_document(document: dict[str, Any]) -> None:
    """The edge answers HEAD on every GET URL and reads the proto (snake_case) names of query parameters and body
    fields, which docs/api.md said and the document the platform serves did not: a caller reading it met them
    nowhere. Its description says both, with a name the document's own parameters spell otherwise."""
    description = document["info"]["description"]
    assert "every URL that takes GET also answers HEAD" in description, description
    listed = {p["name"] for p in document["paths"]["/v1/entries"]["get"]["parameters"]}
    assert "pageSize" in listed and "page_size" not in listed
    assert "its proto name in snake_case (page_size for pageSize" in description, description


def test_personal_keys_never_travel_in_a_url(document: dict[str, Any]) -> None:
    """Record keys (ID numbers, credit codes) go in bodies: URLs end up in access logs and proxies' caches."""
    personal = {"key", "keys", "claims", "citizenId", "citizen_id", "creditCode", "credit_code"}
    for _, path, op in _operations(document):
        names = {p["name"].rpartition(".")[2] for p in op.get("parameters", [])}
        assert not names & personal, (path, op["operationId"])


def test_the_search_query_states_the_tie_breakers_in_the_order_the_index_ranks(document: dict[str, Any]) -> None:
    """The contract says what the index does (services/catalog/index.py rank_key, docs/api.md): among equals the
    most used comes before the most recently published. The document said the reverse, so a client reordering
    or explaining results from it was wrong."""
    older_but_used = rank_key(dt.datetime(2020, 1, 6, tzinfo=dt.UTC), 500, "101001/000002")
    newer_unused = rank_key(dt.datetime(2026, 1, 5, tzinfo=dt.UTC), 0, "101001/000001")
    assert older_but_used > newer_unused  # descending key order: the used entry first
    search = document["paths"]["/v1/entries:search"]["get"]
    text = " ".join(next(p for p in search["parameters"] if p["name"] == "query")["description"].split())
    assert text.index("the most used") < text.index("the most recently published") < text.index("code order")


def test_query_parameters_the_services_refuse_to_go_without_are_required(document: dict[str, Any]) -> None:
    """A Java or .NET client generated from the document made them optional: a search without ``query``, an
    update without ``updateMask`` (an entry's or a grant's: UpdateGrant's was optional in the document while the
    service refuses it) and a month's supervision figures without ``year`` and ``month`` are refused
    (INVALID_ARGUMENT naming them), so the document says they are required, and no other query parameter is."""
    with pytest.raises(ServiceError, match="is required"):
        parse_query("")
    with pytest.raises(ServiceError, match="is required"):
        mask_paths([])
    assert [problem.field for problem in grant_mask_problems(GrantUpdate(paths=()))] == ["update_mask"]
    required = sorted((op["operationId"], p["name"]) for _, _, op in _operations(document)
                      for p in op.get("parameters", []) if p["in"] == "query" and p.get("required"))
    assert required == [("CatalogService_SearchEntries", "query"), ("CatalogService_UpdateEntry", "updateMask"),
                        ("SharingService_UpdateGrant", "updateMask"),
                        ("SupervisionService_GetSnapshot", "month"), ("SupervisionService_GetSnapshot", "year"),
                        ("SupervisionService_ListEvaluations", "month"), ("SupervisionService_ListEvaluations", "year"),
                        ("SupervisionService_ListViolations", "month"), ("SupervisionService_ListViolations", "year")]


def _documented_urls() -> set[tuple[str, str]]:
    """The verbs and URLs of docs/api.md's table of REST operations (``| RPC | HTTP |``), each path's variables
    written ``{}``; a `` `:verb` `` after a URL is that URL's custom method ``verb``."""
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    table = text[text.index("| RPC | HTTP |"):].split("\n\n", 1)[0]
    urls: set[tuple[str, str]] = set()
    for row in table.splitlines()[2:]:
        verb = path = ""
        for written in re.findall(r"`([^`]+)`", row.split("|")[2]):
            if match := re.fullmatch(r"(GET|POST|PATCH|PUT|DELETE) (/\S+)", written):
                verb, path = match[1], match[2].split("?")[0]
            elif written.startswith(":") and path:
                path = path.rpartition(":")[0] + written
            else:
                continue
            urls.add((verb, re.sub(r"\{[^}]*\}", "{}", path)))
    return urls


def test_the_rest_table_of_docs_api_lists_every_operation_and_no_other(document: dict[str, Any]) -> None:
    """docs/api.md's table of REST URLs is where an integrator reads which URL each service takes: it left out
    SessionService (signing in), PersonService and the audit verification jobs, so a Java or .NET caller reading
    it found no way to sign a person in over REST."""
    operations = {(verb.upper(), re.sub(r"\{[^}]*\}", "{}", path)) for verb, path, _ in _operations(document)}
    documented = _documented_urls()
    assert sorted(operations - documented) == [] and sorted(documented - operations) == []
