"""The heavy-read replicas as chart workloads (issue 14, `heavyReads`).

`govshare up --heavy-read-processes` runs a catalog and a query process that serve only what the edge routes to
them (gateway/routing.py HEAVY_READS); in a cluster they are Deployments of their own. Rendered offline as the
other deploy tests do (helm-python-sdk), validated strictly (kubernetes-validate), and the edge's configuration
rendered by the gateway's init container, so the routing is checked as Envoy would read it, both ways.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
from chart_harness import (
    CALLS,
    KUBE_VERSIONS,
    NAMESPACE,
    RELEASE,
    Variant,
    component_pod_labels,
    env_of,
    pod_labels,
    pod_spec,
    render_chart,
    selector_matches,
    user_values,
)
from test_deploy_chart import _validate_all
from test_deploy_edge import _address, _clusters, _gateway, _listener, _run_init_container

from gateway.routing import HEAVY_READS

SERVICES = ("catalog", "query")
ENABLED = {"heavyReads": {"catalog": {"enabled": True}, "query": {"enabled": True, "readReplica": True}}}
SUFFIX = f".{NAMESPACE}.svc.cluster.local"


@pytest.fixture(scope="module")
def enabled() -> Variant:
    """The intranet on a cluster with cert-manager, both services' heavy reads on replicas of their own."""
    variant = Variant("intranet-heavy-reads", ("values-intranet.yaml",), ENABLED, ("cert-manager.io/v1",))
    variant.objects = render_chart(variant.values, variant.api_versions)
    return variant


@pytest.fixture(scope="module")
def disabled() -> Variant:
    variant = Variant("intranet", ("values-intranet.yaml",), {}, ("cert-manager.io/v1",))
    variant.objects = render_chart(variant.values, variant.api_versions)
    return variant


def _container(variant: Variant, component: str) -> dict[str, Any]:
    spec = pod_spec(variant.component("Deployment", component))
    assert spec is not None
    (container,) = spec["containers"]
    return container


def _routes(config: dict[str, Any]) -> dict[str, str]:
    """The edge's cluster for each method path it routes."""
    manager = _listener(config, "edge")["filter_chains"][0]["filters"][0]["typed_config"]
    return {r["match"]["path"]: r["route"]["cluster"] for r in manager["route_config"]["virtual_hosts"][0]["routes"]
            if "path" in r["match"] and "route" in r}


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_the_heavy_read_replicas_validate_strictly(enabled: Variant, version: str) -> None:
    assert _validate_all(enabled.objects, version) == []


def test_by_default_there_are_no_heavy_read_replicas(disabled: Variant) -> None:
    assert not [o for o in disabled.objects if "heavy-reads" in o["metadata"]["name"]]


@pytest.mark.parametrize("service", SERVICES)
def test_each_heavy_read_replica_is_its_service_on_a_deployment_of_its_own(enabled: Variant, service: str) -> None:
    """The same image and command as the service, its own Service/HPA/PDB/NetworkPolicy/Certificate, the same
    secrets and callees (the same mesh identity: `serve <service>` signs as that service), reachable only by the
    edge."""
    component = f"{service}-heavy-reads"
    labels = component_pod_labels(component)
    deployment = enabled.component("Deployment", component)
    assert selector_matches(deployment["spec"]["selector"], pod_labels(deployment))
    # Its pods are not the service's: the Query path's Service and PDB never select them.
    assert not selector_matches({"matchLabels": enabled.component("Service", service)["spec"]["selector"]}, labels)
    container, base = _container(enabled, component), _container(enabled, service)
    assert container["args"] == ["serve", service]
    assert container["image"] == base["image"]
    assert container["readinessProbe"] == base["readinessProbe"]
    env, base_env = env_of(container), env_of(base)
    with_replica = {"GOVSHARE_DATABASE_READ_URL", "GOVSHARE_HEAVY_READ_SHARE"}
    assert set(env) == set(base_env) | (with_replica if service == "query" else set())
    for name in ("GOVSHARE_INTERNAL_KEY", "GOVSHARE_DATABASE_URL", "GOVSHARE_TOKEN_PUBLIC_KEY",
                 *(f"GOVSHARE_{callee.upper()}_TARGET" for callee in CALLS[service])):
        assert env[name] == base_env[name], name
    assert enabled.component("Service", component)["spec"]["selector"] == labels
    hpa = enabled.component("HorizontalPodAutoscaler", component)
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert selector_matches(enabled.component("PodDisruptionBudget", component)["spec"]["selector"],
                            pod_labels(deployment))
    # mTLS: a certificate of the mesh's issuer, mounted as the service's is.
    certificate = enabled.component("Certificate", component)
    assert certificate["spec"]["issuerRef"] == enabled.component("Certificate", service)["spec"]["issuerRef"]
    assert f"{RELEASE}-{component}{SUFFIX}" in certificate["spec"]["dnsNames"]
    # The edge dials its pods by the headless Service and checks the certificate names it (gateway/edge.py).
    assert f"{RELEASE}-{component}-pods{SUFFIX}" in certificate["spec"]["dnsNames"]
    spec = pod_spec(deployment)
    assert spec is not None
    assert {v["name"]: v for v in spec["volumes"]}["tls"]["secret"]["secretName"] == certificate["spec"][
        "secretName"]
    assert env["GOVSHARE_TLS_CERT"] == base_env["GOVSHARE_TLS_CERT"]
    # Only the edge calls it; it reaches what its service reaches, and its callees admit it.
    policy = enabled.component("NetworkPolicy", component)
    assert selector_matches(policy["spec"]["podSelector"], pod_labels(deployment))
    [grpc_from] = [rule for rule in policy["spec"]["ingress"]
                   if any(p.get("port") == "grpc" for p in rule.get("ports", []))]
    [peer] = grpc_from["from"]
    assert selector_matches(peer["podSelector"], component_pod_labels("gateway"))
    for other in ("catalog", "authorization", "query", "foundation", "supervision"):
        assert not selector_matches(peer["podSelector"], component_pod_labels(other)), other
    assert policy["spec"]["egress"] == enabled.component("NetworkPolicy", service)["spec"]["egress"]
    for callee in CALLS[service]:
        callee_ingress = enabled.component("NetworkPolicy", callee)["spec"]["ingress"]
        assert any(selector_matches(peer.get("podSelector", {}), labels)
                   for rule in callee_ingress for peer in rule.get("from", [])), callee
    gateway_egress = enabled.component("NetworkPolicy", "gateway")["spec"]["egress"]
    assert any(selector_matches(peer.get("podSelector", {}), labels)
               for rule in gateway_egress for peer in rule.get("to", []))


def test_a_read_replica_is_read_only_by_the_heavy_read_replicas_that_ask_for_it(enabled: Variant) -> None:
    query = env_of(_container(enabled, "query-heavy-reads"))
    assert query["GOVSHARE_DATABASE_READ_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "govshare-secrets", "key": "database-read-url"}
    # With its own database (and its own CPU) it has no Query path to leave time to; the others keep the budget.
    assert query["GOVSHARE_HEAVY_READ_SHARE"]["value"] == "1"
    for component in ("catalog-heavy-reads", "catalog", "query"):
        assert "GOVSHARE_DATABASE_READ_URL" not in env_of(_container(enabled, component)), component
        assert "GOVSHARE_HEAVY_READ_SHARE" not in env_of(_container(enabled, component)), component


def test_the_edge_routes_the_heavy_reads_to_their_replicas_when_enabled(enabled: Variant, tmp_path: Path) -> None:
    _spec, render, _envoy = _gateway(enabled.objects)
    env = env_of(render)
    for service in SERVICES:
        assert env[f"GOVSHARE_{service.upper()}_HEAVY_READ_TARGET"]["value"] == (
            f"{RELEASE}-{service}-heavy-reads-pods{SUFFIX}:50051")
    config, _written, _paths = _run_init_container(render, tmp_path)
    routes, clusters = _routes(config), _clusters(config)
    for method, backend in HEAVY_READS.items():
        assert routes[method] == f"{backend.value}-heavy-reads", method
    for service in SERVICES:
        assert _address(clusters[f"{service}-heavy-reads"]) == (f"{RELEASE}-{service}-heavy-reads-pods{SUFFIX}", 50051)
        assert "transport_socket" in clusters[f"{service}-heavy-reads"]  # mTLS as to the service itself
    # Everything else still goes to the services' own replicas (the Query path among them).
    assert routes["/govshare.query.v1.QueryService/Query"] == "query"
    assert routes["/govshare.catalog.v1.CatalogService/GetEntry"] == "catalog"


def test_one_service_alone_can_have_heavy_read_replicas(tmp_path: Path) -> None:
    objects = render_chart(user_values(("values-intranet.yaml",), {"heavyReads": {"query": {"enabled": True}}}))
    assert not [o for o in objects if o["metadata"]["name"].startswith(f"{RELEASE}-catalog-heavy-reads")]
    _spec, render, _envoy = _gateway(objects)
    assert "GOVSHARE_CATALOG_HEAVY_READ_TARGET" not in env_of(render)
    routes = _routes(_run_init_container(render, tmp_path)[0])
    assert routes["/govshare.query.v1.AuditService/ListAccesses"] == "query-heavy-reads"
    assert routes["/govshare.catalog.v1.CatalogService/SearchEntries"] == "catalog"


def test_the_edge_routes_the_heavy_reads_to_the_services_when_disabled(disabled: Variant, tmp_path: Path) -> None:
    _spec, render, _envoy = _gateway(disabled.objects)
    assert not [name for name in env_of(render) if "HEAVY_READ" in name]
    config, _written, _paths = _run_init_container(render, tmp_path)
    routes = _routes(config)
    for method, backend in HEAVY_READS.items():
        assert routes[method] == backend.value, method
    assert not [name for name in _clusters(config) if "heavy" in name]


def test_heavy_read_replicas_may_reach_the_read_replica_the_site_names() -> None:
    """With `database.networkPolicyTo` naming the primary (as docs/deploy.md's site values do) and `readReplica`
    on, the heavy-read replicas' NetworkPolicy let them reach the primary only: their listing and search pools,
    which read GOVSHARE_DATABASE_READ_URL, could not connect. The replica's peers now go to those replicas alone,
    and without them the chart says which value to set."""
    primary, replica = [{"ipBlock": {"cidr": "10.0.5.10/32"}}], [{"ipBlock": {"cidr": "10.0.5.11/32"}}]
    values = {"heavyReads": {"query": {"enabled": True, "readReplica": True}, "catalog": {"enabled": True}},
              "database": {"networkPolicyTo": primary}}
    with pytest.raises(helm.HelmError, match=r"heavyReads\.query\.readReplica: .*database\.readReplicaNetworkPolicyTo"):
        render_chart(user_values(("values-extranet.yaml",), values))
    values["database"]["readReplicaNetworkPolicyTo"] = replica
    objects = render_chart(user_values(("values-extranet.yaml",), values))
    to_replica = {"ports": [{"protocol": "TCP", "port": 5432}], "to": replica}
    for policy in (o for o in objects if o["kind"] == "NetworkPolicy"):
        allowed = to_replica in policy["spec"].get("egress", [])
        assert allowed == (policy["metadata"]["name"] == "govshare-query-heavy-reads"), policy["metadata"]["name"]
