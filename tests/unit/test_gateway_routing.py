"""Routing: which backend serves each public method, and the refusals for everything else."""

from __future__ import annotations

import pytest
import yaml

from gateway.edge import openapi_document
from gateway.routing import (
    INTERNAL_SERVICES,
    PUBLIC_SERVICES,
    Backend,
    Route,
    RoutingTable,
    backend_targets,
)
from services.runtime.settings import Settings


@pytest.fixture(scope="module")
def table() -> RoutingTable:
    return RoutingTable.from_descriptors()


@pytest.mark.parametrize("method, backend", [
    ("/govshare.catalog.v1.CatalogService/GetEntry", Backend.CATALOG),
    ("/govshare.authorization.v1.DirectoryService/CreateSystem", Backend.AUTHORIZATION),
    ("/govshare.authorization.v1.SharingService/SubmitApplication", Backend.AUTHORIZATION),
    ("/govshare.authorization.v1.TokenService/IssueToken", Backend.AUTHORIZATION),
    ("/govshare.query.v1.QueryService/Query", Backend.QUERY),
    ("/govshare.query.v1.DisputeService/ReportDispute", Backend.QUERY),
    ("/govshare.query.v1.AuditService/ListAccesses", Backend.QUERY),
    ("/govshare.foundation.v1.FoundationAdminService/LoadRecords", Backend.FOUNDATION),
])
def test_public_methods_route_to_their_backend(table: RoutingTable, method: str, backend: Backend) -> None:
    route = table.get(method)
    assert route is not None and route.backend == backend and route.method == method


def test_every_method_of_every_public_service_is_routed(table: RoutingTable) -> None:
    from google.protobuf import descriptor_pool

    pool = descriptor_pool.Default()
    expected = {f"/{service}/{method.name}" for service in PUBLIC_SERVICES
                for method in pool.FindServiceByName(service).methods}
    assert {route.method for route in table} == expected
    assert table.service_names == tuple(PUBLIC_SERVICES)


def test_cardinality_comes_from_the_descriptors(table: RoutingTable) -> None:
    streaming = {route.method for route in table if route.server_streaming}
    assert streaming == {"/govshare.query.v1.QueryService/Export"}


def test_only_the_sign_in_methods_are_anonymous(table: RoutingTable) -> None:
    """A system's IssueToken, a person's SignIn, ExchangeOidcToken and EnrolTotp (a person's own TOTP secret after
    an administrator's reset, proved by their password): their requests carry the credentials."""
    assert {route.method for route in table if route.anonymous} == {
        "/govshare.authorization.v1.TokenService/IssueToken", "/govshare.authorization.v1.SessionService/SignIn",
        "/govshare.authorization.v1.SessionService/ExchangeOidcToken",
        "/govshare.authorization.v1.SessionService/EnrolTotp"}


@pytest.mark.parametrize("method", [
    "/govshare.provider.v1.ProviderService/Lookup",
    "/govshare.provider.v1.ProviderService/Export",
    "/govshare.authorization.v1.AuthorizationService/Check",
])
def test_internal_services_are_never_routed(table: RoutingTable, method: str) -> None:
    assert table.get(method) is None
    assert method[1:].rpartition("/")[0] in INTERNAL_SERVICES


def test_a_request_streaming_public_method_is_refused_at_start() -> None:
    class Method:
        name, client_streaming, server_streaming = "Upload", True, False

    class Service:
        methods = (Method(),)

    class Pool:
        def FindServiceByName(self, name: str) -> Service:
            return Service()

    with pytest.raises(ValueError, match="streams requests"):
        RoutingTable.from_descriptors({"x.v1.Uploads": Backend.CATALOG}, pool=Pool())  # type: ignore[arg-type]


def test_route_names_its_service_and_method() -> None:
    route = Route("/govshare.query.v1.QueryService/Export", Backend.QUERY, True, False)
    assert (route.service, route.name) == ("govshare.query.v1.QueryService", "Export")


def test_backend_targets_need_all_four_and_supervision_is_optional() -> None:
    settings = Settings(catalog_target="c:1", authorization_target="a:1", query_target="q:1", foundation_target="")
    with pytest.raises(ValueError, match="GOVSHARE_FOUNDATION_TARGET"):
        backend_targets(settings)
    complete = settings.with_overrides(foundation_target=" f:1 ")
    assert backend_targets(complete) == {Backend.CATALOG: "c:1", Backend.AUTHORIZATION: "a:1",
                                         Backend.QUERY: "q:1", Backend.FOUNDATION: "f:1"}
    assert backend_targets(complete.with_overrides(supervision_target="s:1"))[Backend.SUPERVISION] == "s:1"


def test_supervision_is_routed_and_the_figures_services_are_not() -> None:
    table = RoutingTable.from_descriptors()
    route = table.get("/govshare.supervision.v1.SupervisionService/ListViolations")
    assert route is not None and route.backend == Backend.SUPERVISION
    for service in ("govshare.catalog.v1.CatalogFiguresService", "govshare.query.v1.AuditFiguresService",
                    "govshare.authorization.v1.SubjectAccessPolicyService",
                    "govshare.authorization.v1.SharingFiguresService",
                    "govshare.foundation.v1.FoundationFiguresService"):
        assert table.get(f"/{service}/ListDepartmentFigures") is None
        assert service in INTERNAL_SERVICES



def _camel_path(field: str) -> str:
    return ".".join(part.split("_")[0] + "".join(w.title() for w in part.split("_")[1:]) for part in field.split("."))


def test_the_single_valued_query_fields_are_the_documents_query_parameters(table: RoutingTable) -> None:
    """What the edge refuses given twice (gateway.edge) is each query parameter /openapi.yaml documents for the
    operation, and nothing else: the same fields, found in the descriptors (no list among them today)."""
    documented: dict[str, set[str]] = {}
    for item in yaml.safe_load(openapi_document())["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict) and "operationId" in operation:
                documented.setdefault(operation["operationId"], set()).update(
                    p["name"] for p in operation.get("parameters", [])
                    if p["in"] == "query" and p["schema"].get("type") != "array")
    for route in table:
        if route.http_rules:
            operation = f"{route.service.rpartition('.')[2]}_{route.name}"
            assert {_camel_path(field) for field in route.single_query_fields} == documented[operation], operation
