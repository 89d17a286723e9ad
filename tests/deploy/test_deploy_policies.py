"""What the rendered manifests must guarantee, whichever variant is installed."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import helm_python as helm
import kubernetes_validate
import pytest
import yaml
from chart_harness import (
    CALLERS,
    CALLS,
    CHART,
    COMPONENTS,
    KUBE_VERSIONS,
    NAMES,
    NAMESPACE,
    RELEASE,
    SECRET_ENV,
    USES_DATABASE,
    Variant,
    component_pod_labels,
    containers,
    env_of,
    pod_labels,
    pod_spec,
    render_chart,
    render_notes,
    selector_matches,
    user_values,
    workloads,
)
from opentelemetry.sdk.resources import OTELResourceDetector

from gateway.edge import MAX_DEADLINE_SECONDS
from services.runtime import telemetry as runtime_telemetry
from services.runtime.server import LIVENESS_SERVICE, MAX_MESSAGE_BYTES
from services.runtime.settings import Settings
from services.runtime.telemetry import collector_port

GRPC_PORT = 50051
HEALTH_PORT = 50052
METRICS_PORT = 9464
JWKS_PORT = 8081
#: The components that run `govshare serve` (the gateway runs Envoy, configured by `govshare render-edge`).
SERVICES = tuple(c for c in COMPONENTS if c != "gateway")


def _name(obj: dict[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def _govshare_container(variant: Variant, component: str) -> dict[str, Any]:
    """The container running govshare code with the component's settings: `govshare serve <component>`, and for
    the gateway the init container that renders Envoy's configuration from them."""
    spec = pod_spec(variant.component("Deployment", component))
    assert spec is not None
    if component == "gateway":
        (render,) = spec["initContainers"]
        return render
    (container,) = spec["containers"]
    return container


def _envoy_container(variant: Variant) -> dict[str, Any]:
    spec = pod_spec(variant.component("Deployment", "gateway"))
    assert spec is not None
    (envoy,) = spec["containers"]
    return envoy


# ---- security and resources -------------------------------------------------


def test_every_pod_runs_hardened(variant: Variant) -> None:
    found = list(workloads(variant.objects))
    assert found
    for obj, spec in found:
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, _name(obj)
        assert pod["runAsUser"] > 0, _name(obj)
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, _name(obj)
        assert spec["automountServiceAccountToken"] is False, _name(obj)
        assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC"), _name(obj)
        for volume in spec.get("volumes", []):
            assert "hostPath" not in volume, _name(obj)
        for container in containers(spec):
            where = f"{_name(obj)} container {container['name']}"
            sc = container["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["privileged"] is False, where
            assert sc["runAsNonRoot"] is True, where
            assert sc["capabilities"] == {"drop": ["ALL"]}, where
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, where
            for port in container.get("ports", []):
                assert "hostPort" not in port, where


def test_every_container_has_requests_and_limits(variant: Variant) -> None:
    for obj, spec in workloads(variant.objects):
        for container in containers(spec):
            resources = container["resources"]
            for bound in ("requests", "limits"):
                assert set(resources[bound]) >= {"cpu", "memory"}, f"{_name(obj)} {bound}"


def test_every_deployment_has_probes(variant: Variant) -> None:
    deployments = variant.of_kind("Deployment") + variant.of_kind("StatefulSet")
    assert len(deployments) >= len(COMPONENTS)
    for obj in deployments:
        for container in obj["spec"]["template"]["spec"]["containers"]:
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                assert probe in container, f"{_name(obj)} has no {probe}"


@pytest.mark.parametrize(("overrides", "message"), [
    ({"terminationGracePeriodSeconds": 20, "edge": {"preStopSleepSeconds": 15}},
     r"terminationGracePeriodSeconds \(20\) does not cover how components\.catalog stops: 5 s taking calls after it "
     r"says NOT_SERVING \(GOVSHARE_DRAIN_GRACE_SECONDS\) and up to 20 s for those received to finish"),
    ({"components": {"query": {"extraEnv": {"GOVSHARE_DRAIN_TIMEOUT_SECONDS": 40}}}},
     r"terminationGracePeriodSeconds \(30\) does not cover how components\.query stops: 5 s .* up to 40 s"),
    ({"edge": {"preStopSleepSeconds": 45}},
     r"edge\.preStopSleepSeconds \(45\) is not shorter than terminationGracePeriodSeconds \(30\)"),
])
def test_a_grace_period_shorter_than_a_pods_drain_is_refused(overrides: dict, message: str) -> None:
    """terminationGracePeriodSeconds (the schema took 5 and up) and edge.preStopSleepSeconds (up to 60) were never
    compared with how a pod stops: a grace of 20 s beside the services' 5 s of grace and 20 s for calls to finish, or a
    preStop sleep of 45 s beside the grace's 30, had the kubelet kill every pod in the middle of its drain, each rolling
    update and node drain cutting the calls in flight. The render stops, naming what does not fit."""
    assert (Settings().drain_grace_seconds, Settings().drain_timeout_seconds) == (5.0, 20.0)  # the chart's defaults
    with pytest.raises(helm.HelmError, match=message):
        render_chart(user_values(("values-extranet.yaml",), overrides))
    shorter = {"terminationGracePeriodSeconds": 20, "edge": {"preStopSleepSeconds": 15},
               "config": {"extraEnv": {"GOVSHARE_DRAIN_TIMEOUT_SECONDS": "10"}}}
    render_chart(user_values(("values-extranet.yaml",), shorter))


@pytest.mark.parametrize("component", SERVICES)
def test_a_pod_waiting_for_its_database_is_not_killed_by_its_startup_probe(variant: Variant, component: str) -> None:
    """A service waits for PostgreSQL and the business systems' states as long as they take (_start_component,
    about 20 minutes), answering health NOT_SERVING meanwhile; the startup probe asked that whole-server status, so
    every pod started during an outage longer than its 2 minutes (a cluster's cold start, a database failover or
    crash recovery) was killed, and the pods came back in CrashLoopBackOff up to 5 minutes after the database did.
    The startup probe asks what liveness asks, whether the process answers; readiness still asks the whole server."""
    container = _govshare_container(variant, component)
    liveness = variant.effective["probes"]["liveness"]["service"]
    assert liveness == LIVENESS_SERVICE
    assert container["startupProbe"]["grpc"].get("service") == liveness
    assert container["livenessProbe"]["grpc"].get("service") == liveness
    assert container["readinessProbe"]["grpc"].get("service", "") == ""


@pytest.mark.parametrize("component", SERVICES)
def test_services_use_native_grpc_probes(variant: Variant, component: str) -> None:
    container = _govshare_container(variant, component)
    declared = {p["containerPort"] for p in container["ports"]}
    mtls = "GOVSHARE_TLS_CERT" in env_of(container)
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        action = container[probe]["grpc"]
        # kubelet gRPC probes speak plaintext: with mTLS on they go to the health-only listener.
        assert action["port"] == (HEALTH_PORT if mtls else GRPC_PORT)
        assert action["port"] in declared
    if mtls:
        assert env_of(container)["GOVSHARE_HEALTH_LISTEN"]["value"] == f"0.0.0.0:{HEALTH_PORT}"


def test_the_edge_is_probed_on_envoys_ready(variant: Variant) -> None:
    """Envoy's own readiness (/ready), on the metrics listener: plaintext HTTP, so under mTLS too; the admin
    endpoint itself stays on 127.0.0.1."""
    envoy = _envoy_container(variant)
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert envoy[probe]["httpGet"] == {"path": "/ready", "port": "metrics"}, probe
    assert {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"} in envoy["ports"]
    assert "GOVSHARE_HEALTH_LISTEN" not in env_of(_govshare_container(variant, "gateway"))
    assert env_of(_govshare_container(variant, "gateway"))["GOVSHARE_EDGE_ADMIN"]["value"].startswith("127.0.0.1:")
    liveness = envoy["livenessProbe"]
    assert 0 < liveness["timeoutSeconds"] < liveness["periodSeconds"]


def test_the_edge_runs_the_pinned_official_envoy_image(variant: Variant) -> None:
    envoy = _envoy_container(variant)
    edge = variant.effective["edge"]["image"]
    assert edge["tag"] == "v1.40.0"
    assert envoy["image"] == f"{edge['repository']}:{edge['tag']}" + (f"@{edge['digest']}" if edge["digest"] else "")
    assert envoy["image"].startswith("docker.io/envoyproxy/envoy")
    assert envoy["command"] == ["/usr/local/bin/envoy"]
    assert "env" not in envoy, "Envoy reads its rendered configuration, nothing else"
    assert _prestop_sleep(envoy) == variant.effective["edge"]["preStopSleepSeconds"]


def _prestop_sleep(envoy: dict) -> int:
    """How long the Envoy container's preStop hook keeps the drained listeners open (its ``sleep``): the hook drains
    Envoy first (govshare.edgePreStop, run against a real Envoy by test_deploy_edge_stop.py)."""
    command = envoy["lifecycle"]["preStop"]["exec"]["command"]
    assert command[:2] == ["/bin/bash", "-c"], command
    assert "drain_listeners?graceful" in command[2]
    [seconds] = re.findall(r"^sleep (\d+)$", command[2], re.MULTILINE)
    return int(seconds)


#: How long a cloud load balancer goes on sending new connections to a node whose edge pod is terminating, as
#: docs/deploy.md ("Stopping a gateway pod") sizes it: health checks every 5 s, out after 3 failures, and a few
#: seconds for the endpoints and kube-proxy.
LOAD_BALANCER_DETECTION_SECONDS = 5 * 3 + 5


def test_behind_a_load_balancer_the_edge_serves_until_it_stops_sending(variant: Variant) -> None:
    """Envoy's drained listeners stay open for the preStop hook's sleep (its --drain-time-s), the time the edge
    accepts new connections after its pod is marked terminating. The extranet's load balancer (externalTrafficPolicy
    Local) learns of it from its node health checks, 15 s or more, and meanwhile kube-proxy hands the connections it
    sends to the terminating pod: with the 5 s default, every rolling update and node drain refused the connections
    of the next 10 s or more. Behind a LoadBalancer the sleep covers the detection; it stays below the grace period,
    and the guide says so."""
    edge = variant.effective["edge"]
    grace = variant.effective["terminationGracePeriodSeconds"]
    envoy = _envoy_container(variant)
    assert _prestop_sleep(envoy) == edge["preStopSleepSeconds"] < grace
    if variant.effective["exposure"]["type"] == "LoadBalancer":
        assert edge["preStopSleepSeconds"] >= LOAD_BALANCER_DETECTION_SECONDS, variant.name
    guide = (CHART.parents[2] / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert "Envoy does not drain on SIGTERM" in guide and "Envoy's drain time is the same" not in guide


# ---- the six components ------------------------------------------------------


@pytest.mark.parametrize("component", COMPONENTS)
def test_each_component_has_its_full_set(variant: Variant, component: str) -> None:
    labels = component_pod_labels(component)
    deployment = variant.component("Deployment", component)
    spec = deployment["spec"]
    assert selector_matches(spec["selector"], labels)
    assert selector_matches(spec["selector"], pod_labels(deployment))
    assert spec["template"]["spec"]["terminationGracePeriodSeconds"] == 30
    if component == "gateway":
        assert _govshare_container(variant, component)["args"] == ["render-edge", "--out", "/etc/envoy"]
    else:
        assert _govshare_container(variant, component)["args"] == ["serve", component]

    account = variant.component("ServiceAccount", component)
    assert spec["template"]["spec"]["serviceAccountName"] == account["metadata"]["name"]
    assert account["automountServiceAccountToken"] is False

    service = variant.component("Service", component)
    assert service["spec"]["selector"] == labels
    expected_ports = [(GRPC_PORT, "grpc")] + ([(JWKS_PORT, "jwks")] if component == "authorization" else [])
    assert [(p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == expected_ports

    hpa = variant.component("HorizontalPodAutoscaler", component)
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    assert "replicas" not in spec, "the HorizontalPodAutoscaler owns the replica count"

    pdb = variant.component("PodDisruptionBudget", component)
    assert selector_matches(pdb["spec"]["selector"], pod_labels(deployment))

    policy = variant.component("NetworkPolicy", component)
    assert selector_matches(policy["spec"]["podSelector"], pod_labels(deployment))


def test_replicas_are_fixed_when_autoscaling_is_off() -> None:
    objects = render_chart(
        user_values(
            ("values-extranet.yaml",), {"components": {"catalog": {"autoscaling": {"enabled": False}, "replicas": 4}}}
        )
    )
    names = {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert ("HorizontalPodAutoscaler", f"{RELEASE}-catalog") not in names
    (catalog,) = [o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == f"{RELEASE}-catalog"]
    assert catalog["spec"]["replicas"] == 4


@pytest.mark.parametrize(("overrides", "path"), [
    ({"components": {"query": {"replicas": 5}}}, "components.query"),
    ({"heavyReads": {"catalog": {"enabled": True, "replicas": 3}}}, "heavyReads.catalog"),
])
def test_replicas_beside_an_enabled_autoscaler_are_refused_saying_which_wins(overrides: dict, path: str) -> None:
    """`components.query.replicas: 5` with the autoscaler on (the default) rendered a Deployment with no replica
    count and an HPA of 3 to 20: the site's 5 was dropped without a word and the query service ran on 3 pods. The
    render now stops naming the value and saying the autoscaler sets the count."""
    with pytest.raises(helm.HelmError, match=rf"{path}\.replicas \(\d+\) is not used while {path}\.autoscaling"
                                             r"\.enabled is true: the HorizontalPodAutoscaler sets the replica count"):
        render_chart(user_values(("values-extranet.yaml",), overrides))


@pytest.mark.parametrize(("overrides", "message"), [
    ({"components": {"query": {"podDisruptionBudget": {"maxUnavailable": 0}}}},
     r"components\.query\.podDisruptionBudget\.maxUnavailable \(0\) lets no pod go: every eviction would be refused"),
    ({"components": {"gateway": {"podDisruptionBudget": {"maxUnavailable": "0%"}}}},
     r"components\.gateway\.podDisruptionBudget\.maxUnavailable \(0%\) lets no pod go"),
    ({"components": {"query": {"podDisruptionBudget": {"minAvailable": 3}}}},
     r"components\.query\.podDisruptionBudget\.minAvailable \(3\) keeps all 3 pods the component runs at its "
     r"fewest \(autoscaling\.minReplicas\) available: every eviction would be refused"),
    ({"components": {"catalog": {"podDisruptionBudget": {"minAvailable": "90%"}}}},
     r"components\.catalog\.podDisruptionBudget\.minAvailable \(90%\) keeps all 2 pods"),
    ({"components": {"catalog": {"autoscaling": {"enabled": False}, "replicas": 2,
                                 "podDisruptionBudget": {"minAvailable": 4}}}},
     r"components\.catalog\.podDisruptionBudget\.minAvailable \(4\) asks for 4 available pods, more than the 2 the "
     r"component runs at its fewest \(replicas\): it can never be met"),
    ({"heavyReads": {"query": {"enabled": True, "podDisruptionBudget": {"minAvailable": "100%"}}}},
     r"heavyReads\.query\.podDisruptionBudget\.minAvailable \(100%\) keeps all 2 pods"),
])
def test_a_disruption_budget_that_lets_no_pod_be_evicted_is_refused_naming_it(overrides: dict, message: str) -> None:
    """maxUnavailable 0, or a minAvailable of every replica (or more than there are), rendered without a word, and
    every kubectl drain, node upgrade and cluster-autoscaler scale-down then waited on those pods until it timed
    out. The render stops naming the value and the replica count it was measured against."""
    with pytest.raises(helm.HelmError, match=message):
        render_chart(user_values(("values-extranet.yaml",), overrides))


@pytest.mark.parametrize("budget", [{"minAvailable": 2}, {"minAvailable": "50%"}, {"maxUnavailable": "10%"}])
def test_a_disruption_budget_that_lets_a_pod_go_renders(budget: dict) -> None:
    objects = render_chart(user_values(("values-extranet.yaml",), {"components": {"query": {
        "podDisruptionBudget": budget}}}))
    (pdb,) = [o for o in objects if o["kind"] == "PodDisruptionBudget" and o["metadata"]["name"] == f"{RELEASE}-query"]
    assert {key: pdb["spec"][key] for key in budget} == budget


def test_a_disruption_budget_that_is_no_number_is_refused_by_the_schema() -> None:
    with pytest.raises(helm.HelmError, match=r"podDisruptionBudget/maxUnavailable"):
        render_chart(user_values(("values-extranet.yaml",), {"components": {"query": {
            "podDisruptionBudget": {"maxUnavailable": "one"}}}}))


def test_without_an_autoscaler_or_replicas_a_component_runs_its_minimum() -> None:
    objects = render_chart(user_values(("values-extranet.yaml",), {
        "components": {"query": {"autoscaling": {"enabled": False}}}}))
    (query,) = [o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == f"{RELEASE}-query"]
    assert query["spec"]["replicas"] == 3


def test_workers_follow_values(rendered: dict[str, Variant]) -> None:
    variant = rendered["extranet"]
    values = variant.effective["components"]
    for component in COMPONENTS:
        env = env_of(_govshare_container(variant, component))
        assert env["GOVSHARE_WORKERS"]["value"] == str(values[component]["workers"])


# ---- exposure -------------------------------------------------------------------


def _exposed_services(variant: Variant) -> set[str]:
    exposed = {
        s["metadata"]["name"] for s in variant.of_kind("Service") if s["spec"].get("type", "ClusterIP") != "ClusterIP"
    }
    for ingress in variant.of_kind("Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                exposed.add(path["backend"]["service"]["name"])
    return exposed


def test_only_the_gateway_is_reachable_from_outside(variant: Variant) -> None:
    assert _exposed_services(variant) <= {f"{RELEASE}-gateway"}
    for service in variant.of_kind("Service"):
        assert service["spec"].get("type", "ClusterIP") in ("ClusterIP", "LoadBalancer")
        assert all("nodePort" not in p for p in service["spec"]["ports"])


def test_extranet_exposes_the_gateway_through_a_load_balancer(rendered: dict[str, Variant]) -> None:
    variant = rendered["extranet"]
    assert _exposed_services(variant) == {f"{RELEASE}-gateway"}
    gateway = variant.component("Service", "gateway")
    assert gateway["spec"]["type"] == "LoadBalancer"
    assert gateway["spec"]["externalTrafficPolicy"] == "Local"
    assert variant.of_kind("Ingress") == []


def test_intranet_exposes_the_gateway_through_a_grpc_ingress(rendered: dict[str, Variant]) -> None:
    variant = rendered["intranet"]
    assert _exposed_services(variant) == {f"{RELEASE}-gateway"}
    (ingress,) = variant.of_kind("Ingress")
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/backend-protocol"] == "GRPCS"
    assert ingress["spec"]["tls"][0]["secretName"]
    assert variant.component("Service", "gateway")["spec"]["type"] == "ClusterIP"


def test_the_intranets_ingress_passes_what_the_edge_takes(rendered: dict[str, Variant]) -> None:
    """ingress-nginx's defaults stood in front of the edge: a request body of at most 1 MiB (a LoadRecords or
    BatchQuery of a few MiB, under the services' 8 MiB message limit, was refused 413 by the controller, which a
    gRPC client reads as an unexplained INTERNAL) and 60 s between reads (a yearly report rendering for up to
    120 s, or a download stream pausing longer, was cut 504), where the edge allows a call up to an hour. A site's
    own value of one of them replaces the chart's, once."""
    (ingress,) = rendered["intranet"].of_kind("Ingress")
    annotations = ingress["metadata"]["annotations"]
    size = annotations["nginx.ingress.kubernetes.io/proxy-body-size"]
    assert size.endswith("m") and int(size[:-1]) * 1024 * 1024 >= MAX_MESSAGE_BYTES + 5  # the gRPC frame's header
    for timeout in ("proxy-read-timeout", "proxy-send-timeout"):
        assert int(annotations[f"nginx.ingress.kubernetes.io/{timeout}"]) >= MAX_DEADLINE_SECONDS
    site = {"exposure": {"ingress": {"annotations": {"nginx.ingress.kubernetes.io/proxy-body-size": "16m",
                                                     "example.gov.cn/team": "ops"}}}}
    objects = render_chart(user_values(("values-intranet.yaml",), site))
    (ingress,) = [o for o in objects if o["kind"] == "Ingress"]
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"] == "16m"
    assert ingress["metadata"]["annotations"]["example.gov.cn/team"] == "ops"
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/backend-protocol"] == "GRPCS"


def test_an_ingress_nginx_of_another_class_name_gets_the_grpc_annotations() -> None:
    """The chart gave ingress-nginx its gRPC settings (backend protocol GRPCS, the client certificate it presents,
    the body size and timeouts) only when the class was named `nginx`; a cluster running ingress-nginx under
    another class (`nginx-internal`: ingress-nginx installed twice, for the intranet and the office network) got
    an Ingress with none, so the controller spoke HTTP/1.1 to the edge's gRPC-over-TLS port and every call through
    it failed (502), with nothing in the render or the notes. What controller it is is now a value of its own,
    exposure.ingress.controller (ingress-nginx by default, as the values assume; `other` leaves the annotations to
    exposure.ingress.annotations)."""
    for values in ({"exposure": {"ingress": {"className": "nginx-internal"}}},
                   {"exposure": {"ingress": {"className": "nginx-internal", "controller": "ingress-nginx"}}}):
        objects = render_chart(user_values(("values-intranet.yaml",), values))
        (ingress,) = [o for o in objects if o["kind"] == "Ingress"]
        annotations = ingress["metadata"]["annotations"]
        assert ingress["spec"]["ingressClassName"] == "nginx-internal"
        assert annotations["nginx.ingress.kubernetes.io/backend-protocol"] == "GRPCS"
        assert annotations["nginx.ingress.kubernetes.io/proxy-ssl-secret"] == \
            f"{NAMESPACE}/{RELEASE}-ingress-client-tls"
    other = {"exposure": {"ingress": {"className": "traefik", "controller": "other",
                                      "annotations": {"traefik.ingress.kubernetes.io/service.serversscheme": "https"}}}}
    (ingress,) = [o for o in render_chart(user_values(("values-intranet.yaml",), other)) if o["kind"] == "Ingress"]
    assert ingress["metadata"]["annotations"] == {"traefik.ingress.kubernetes.io/service.serversscheme": "https"}


# ---- network policies ----------------------------------------------------------------


def _peer_components(peers: list[dict[str, Any]]) -> set[str]:
    """The govshare components a list of NetworkPolicy peers selects."""
    selected = set()
    for peer in peers:
        assert "namespaceSelector" not in peer and "ipBlock" not in peer, peer
        for candidate in (*COMPONENTS, "console", "migrate", "export-bundle", "import-bundle", "supervision-snapshot",
                          "postgresql", "redis"):
            if selector_matches(peer["podSelector"], component_pod_labels(candidate)):
                selected.add(candidate)
    return selected


def _ports(rule: dict[str, Any]) -> set[Any]:
    return {p["port"] for p in rule.get("ports", [])}


@pytest.mark.parametrize("component", COMPONENTS)
def test_network_policy_admits_only_the_callers(variant: Variant, component: str) -> None:
    spec = variant.component("NetworkPolicy", component)["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    grpc_rules = [r for r in spec["ingress"] if "grpc" in _ports(r)]
    metrics_rules = [r for r in spec["ingress"] if "metrics" in _ports(r)]
    jwks_rules = [r for r in spec["ingress"] if "jwks" in _ports(r)]
    assert len(grpc_rules) == 1 and len(metrics_rules) == 1
    if component == "authorization":
        # The edge fetches the token keys; nobody else reaches the JWKS listener.
        (jwks_rule,) = jwks_rules
        assert _ports(jwks_rule) == {"jwks"} and _peer_components(jwks_rule["from"]) == {"gateway"}
    else:
        assert not jwks_rules
    assert len(spec["ingress"]) == 2 + len(jwks_rules), "no other port is open"
    (grpc_rule,) = grpc_rules
    if component == "gateway":
        # Clients come from outside the mesh: any source, or the configured peers.
        allow_from = variant.effective["exposure"]["allowFrom"]
        if allow_from and variant.effective["console"]["enabled"]:
            # …and the web console, which reaches the platform only through the edge.
            assert _peer_components(grpc_rule["from"][len(allow_from):]) == {"console"}
            allow_from = [*allow_from, *grpc_rule["from"][len(allow_from):]]
        assert grpc_rule.get("from", []) == allow_from
    else:
        assert _peer_components(grpc_rule["from"]) == CALLERS[component]
    assert metrics_rules[0]["from"] == variant.effective["networkPolicy"]["metricsFrom"]


@pytest.mark.parametrize("component", COMPONENTS)
def test_network_policy_lets_out_only_what_the_component_calls(variant: Variant, component: str) -> None:
    egress = variant.component("NetworkPolicy", component)["spec"]["egress"]
    in_mesh = [r for r in egress if any("podSelector" in p and "namespaceSelector" not in p for p in r.get("to", []))]
    called = set().union(*(_peer_components(r["to"]) for r in in_mesh)) if in_mesh else set()
    expected = set(CALLS[component])
    trial = variant.effective["trial"]["enabled"]
    if trial:
        # The edge (Envoy) uses no Redis.
        expected |= ({"redis"} if component != "gateway" else set()) | (
            {"postgresql"} if component in USES_DATABASE else set())
    assert called == expected
    if component == "gateway":
        (jwks,) = [r for r in in_mesh if JWKS_PORT in _ports(r)]
        assert _ports(jwks) == {JWKS_PORT} and _peer_components(jwks["to"]) == {"authorization"}
    ports = set().union(*(_ports(r) for r in egress))
    database_port = variant.effective["database"]["port"]
    assert (database_port in ports) == (component in USES_DATABASE)
    # Addresses outside the cluster: the database's, and for query alone the provider endpoints.
    cidrs = {p["ipBlock"]["cidr"] for r in egress for p in r.get("to", []) if "ipBlock" in p}
    allowed = {p["ipBlock"]["cidr"] for p in variant.effective["database"]["networkPolicyTo"] if "ipBlock" in p}
    if component in ("query", "catalog"):  # query reads departments' 前置机, catalog checks them before publishing
        allowed |= {p["cidr"] for p in variant.effective["networkPolicy"]["providerEndpoints"]}
    if component == "authorization" and variant.effective["oidc"]["issuer"]:
        allowed |= {p["cidr"] for p in variant.effective["oidc"]["networkPolicyTo"]}
    assert cidrs <= allowed


def test_authorization_signs_persons_in_through_the_configured_oidc_provider() -> None:
    """issue 12: with an IdP configured, authorization gets its settings and may reach it; nobody else may."""
    oidc = {"issuer": "https://sso.example.gov.cn/realms/gov", "audience": "govshare-console",
            "jwksUrl": "https://sso.example.gov.cn/realms/gov/protocol/openid-connect/certs",
            "networkPolicyTo": [{"cidr": "10.40.0.10/32", "ports": [443]}]}
    objects = render_chart(user_values(("values-extranet.yaml",), {"oidc": oidc}))
    for obj, spec in workloads(objects):
        component = pod_labels(obj).get("app.kubernetes.io/component", "")
        env = {name for c in containers(spec) for name in env_of(c)}
        assert ("GOVSHARE_OIDC_ISSUER" in env) == (component == "authorization"), component
    (deployment,) = [o for o in objects
                     if o["kind"] == "Deployment" and o["metadata"]["name"] == f"{RELEASE}-authorization"]
    env = {name: e.get("value") for c in containers(pod_spec(deployment)) for name, e in env_of(c).items()}
    assert (env["GOVSHARE_OIDC_ISSUER"], env["GOVSHARE_OIDC_AUDIENCE"], env["GOVSHARE_OIDC_USERNAME_CLAIM"]) == (
        oidc["issuer"], "govshare-console", "preferred_username")
    assert env["GOVSHARE_OIDC_JWKS_URL"] == oidc["jwksUrl"]
    policies = {o["metadata"]["name"]: o for o in objects if o["kind"] == "NetworkPolicy"}
    to_idp = {"to": [{"ipBlock": {"cidr": "10.40.0.10/32"}}], "ports": [{"protocol": "TCP", "port": 443}]}
    assert to_idp in policies[f"{RELEASE}-authorization"]["spec"]["egress"]
    assert not any(to_idp in p["spec"].get("egress", []) for name, p in policies.items()
                   if name != f"{RELEASE}-authorization")
    # Without an issuer (the default), nothing of it is rendered.
    plain = render_chart(user_values(("values-extranet.yaml",), {}))
    assert not any("GOVSHARE_OIDC_ISSUER" in env_of(c) for _, spec in workloads(plain) for c in containers(spec))


@pytest.mark.parametrize("name", ["jwksUrl", "audience", "networkPolicyTo"])
def test_oidc_values_without_an_issuer_are_refused_naming_them(name: str) -> None:
    """`oidc.jwksUrl` (or the audience, or the IdP's address) without `oidc.issuer` rendered a release in which
    OpenID Connect sign-in was silently off, the half-configuration the services' own settings refuse at start."""
    oidc = {"jwksUrl": "https://sso.example.gov.cn/realms/gov/protocol/openid-connect/certs",
            "audience": "govshare-console", "networkPolicyTo": [{"cidr": "10.40.0.10/32", "ports": [443]}]}
    with pytest.raises(helm.HelmError, match=rf"oidc\.{name} is set without oidc\.issuer"):
        render_chart(user_values(("values-extranet.yaml",), {"oidc": {name: oidc[name]}}))


def test_query_may_reach_provider_endpoints_outside(rendered: dict[str, Variant]) -> None:
    egress = rendered["intranet-cert-manager"].component("NetworkPolicy", "query")["spec"]["egress"]
    assert {"to": [{"ipBlock": {"cidr": "10.30.0.0/16"}}], "ports": [{"protocol": "TCP", "port": 50051}]} in egress


def test_catalog_may_reach_provider_endpoints_to_check_them(rendered: dict[str, Variant]) -> None:
    """The catalog asks a department's 前置机 (ProviderService.Describe) before publishing its entry."""
    egress = rendered["intranet-cert-manager"].component("NetworkPolicy", "catalog")["spec"]["egress"]
    assert {"to": [{"ipBlock": {"cidr": "10.30.0.0/16"}}], "ports": [{"protocol": "TCP", "port": 50051}]} in egress


def test_every_pod_is_covered_by_a_network_policy(variant: Variant) -> None:
    policies = variant.of_kind("NetworkPolicy")
    for obj, _spec in workloads(variant.objects):
        labels = pod_labels(obj)
        assert any(selector_matches(p["spec"]["podSelector"], labels) for p in policies), _name(obj)


def test_jobs_accept_no_connections(variant: Variant) -> None:
    jobs = variant.component("NetworkPolicy", "jobs")["spec"]
    assert jobs["policyTypes"] == ["Ingress", "Egress"]
    assert jobs["ingress"] == []


# ---- secrets and config ------------------------------------------------------------------

SECRET_LOOKING = re.compile(r"(://[^/@\s]*:[^/@\s]+@|-----BEGIN|PRIVATE KEY)")


def test_no_secret_values_in_plain_config(variant: Variant) -> None:
    for obj in variant.objects:
        assert obj["kind"] != "ConfigMap" or not any(
            SECRET_LOOKING.search(str(v)) for v in obj.get("data", {}).values()
        )
    for obj, spec in workloads(variant.objects):
        for container in containers(spec):
            for name, entry in env_of(container).items():
                where = f"{_name(obj)} {container['name']} {name}"
                if name in SECRET_ENV:
                    assert "secretKeyRef" in entry.get("valueFrom", {}), where
                    assert "value" not in entry, where
                else:
                    assert not SECRET_LOOKING.search(str(entry.get("value", ""))), where
            assert "envFrom" not in container


def test_secrets_are_rendered_only_for_trial_installs(variant: Variant) -> None:
    secrets = variant.of_kind("Secret")
    if variant.effective["trial"]["enabled"]:
        assert [s["metadata"]["name"] for s in secrets] == [f"{RELEASE}-trial-credentials"]
        assert secrets[0]["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    else:
        assert secrets == []


def test_each_process_gets_only_the_secrets_it_needs(rendered: dict[str, Variant]) -> None:
    variant = rendered["extranet"]
    gateway = pod_spec(variant.component("Deployment", "gateway"))
    for container in containers(gateway):
        # The edge holds no secret: Envoy fetches the token keys, and its configuration names files only.
        assert not [e for e in container.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})]
    for component in SERVICES:
        secrets = {
            n
            for n, e in env_of(_govshare_container(variant, component)).items()
            if "valueFrom" in e and "secretKeyRef" in e["valueFrom"]
        }
        # Every service verifies the bearer tokens it receives itself: each needs the public key(s).
        expected = {"GOVSHARE_REDIS_URL", "GOVSHARE_INTERNAL_KEY", "GOVSHARE_TOKEN_PUBLIC_KEY"}
        if component in USES_DATABASE:
            expected.add("GOVSHARE_DATABASE_URL")
        if component == "authorization":
            expected |= {"GOVSHARE_TOKEN_PRIVATE_KEY", "GOVSHARE_TOKEN_RETIRED_PUBLIC_KEYS",
                         "GOVSHARE_PERSON_SECRET_KEY"}
        if component == "query":
            expected |= {"GOVSHARE_AUDIT_SIGNING_KEY", "GOVSHARE_AUDIT_RETIRED_PUBLIC_KEYS"}
        if component in ("query", "catalog"):
            expected.add("GOVSHARE_PROVIDER_SIGNING_KEY")
        assert secrets == expected, component
    migrate = variant.get("Job", f"{RELEASE}-migrate")
    (container,) = pod_spec(migrate)["containers"]
    assert {n for n, e in env_of(container).items() if "secretKeyRef" in e.get("valueFrom", {})} == {
        "GOVSHARE_DATABASE_URL"
    }


def test_the_provider_signing_key_is_optional(rendered: dict[str, Variant]) -> None:
    """A Secret created before the 前置机 existed still starts query and catalog (department endpoints then wait
    for the key)."""
    for component in ("query", "catalog"):
        ref = env_of(_govshare_container(rendered["extranet"], component))["GOVSHARE_PROVIDER_SIGNING_KEY"]
        assert ref["valueFrom"]["secretKeyRef"] == {"name": "govshare-secrets", "key": "provider-signing-key",
                                                    "optional": True}


def test_query_reads_the_retired_audit_keys_from_the_secret_the_guide_names(rendered: dict[str, Variant]) -> None:
    """docs/deploy.md's audit-key rotation put the old public key in `components.query.extraEnv`, which the
    schema refuses (a *_KEY* name, a PEM value): after a rotation the chart left query no way to verify the old
    checkpoints, and the audit verification reported them as forged. The key now comes from the Secret, optional
    until the first rotation, to query and its heavy-read replicas only."""
    with pytest.raises(helm.HelmError):
        render_chart(user_values(("values-extranet.yaml",), {"components": {"query": {"extraEnv": {
            "GOVSHARE_AUDIT_RETIRED_PUBLIC_KEYS": "-----BEGIN PUBLIC KEY-----"}}}}))
    guide = (Path(__file__).resolve().parents[2] / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert "`audit-retired-public-keys`" in guide and "`secrets.auditRetiredPublicKeys`" in guide
    assert "GOVSHARE_AUDIT_RETIRED_PUBLIC_KEYS` (`components.query.extraEnv`)" not in guide
    variant = render_chart(user_values(("values-extranet.yaml",), {"heavyReads": {"query": {"enabled": True}}}))
    expected = {"name": "govshare-secrets", "key": "audit-retired-public-keys", "optional": True}
    for obj, spec in workloads(variant):
        for container in containers(spec):
            ref = env_of(container).get("GOVSHARE_AUDIT_RETIRED_PUBLIC_KEYS")
            if obj["kind"] == "Deployment" and obj["metadata"]["name"] in (f"{RELEASE}-query",
                                                                          f"{RELEASE}-query-heavy-reads"):
                assert ref is not None and ref["valueFrom"]["secretKeyRef"] == expected, _name(obj)
            else:
                assert ref is None, _name(obj)


def test_the_person_secret_key_is_optional_and_only_authorization_holds_it(rendered: dict[str, Variant]) -> None:
    """Without it persons sign in with OpenID Connect only; no other component can open TOTP secrets."""
    ref = env_of(_govshare_container(rendered["extranet"], "authorization"))["GOVSHARE_PERSON_SECRET_KEY"]
    assert ref["valueFrom"]["secretKeyRef"] == {"name": "govshare-secrets", "key": "person-secret-key",
                                                "optional": True}
    for component in ("catalog", "query", "foundation", "supervision"):
        assert "GOVSHARE_PERSON_SECRET_KEY" not in env_of(_govshare_container(rendered["extranet"], component))


def test_trial_installs_read_database_and_redis_from_the_generated_secret(rendered: dict[str, Variant]) -> None:
    env = env_of(_govshare_container(rendered["extranet-trial"], "query"))
    assert env["GOVSHARE_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == f"{RELEASE}-trial-credentials"
    assert env["GOVSHARE_REDIS_URL"]["valueFrom"]["secretKeyRef"]["name"] == f"{RELEASE}-trial-credentials"
    assert env["GOVSHARE_INTERNAL_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "govshare-secrets"
    names = {_name(o) for o in rendered["extranet-trial"].objects}
    assert {f"StatefulSet/{RELEASE}-postgresql", f"Deployment/{RELEASE}-redis"} <= names
    assert not any(n.endswith(("-postgresql", "-redis")) for n in {_name(o) for o in rendered["extranet"].objects})


def test_values_files_hold_no_secrets() -> None:
    for path in CHART.glob("values*.yaml"):
        text = path.read_text(encoding="utf-8")
        assert not SECRET_LOOKING.search(text), path.name


# ---- images ---------------------------------------------------------------------------------

PINNED = re.compile(r"^[a-z0-9.\-/:]+:(?!latest$)[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}(@sha256:[a-f0-9]{64})?$")


def test_every_image_is_pinned(variant: Variant) -> None:
    for obj, spec in workloads(variant.objects):
        for container in containers(spec):
            image = container["image"]
            assert PINNED.match(image), f"{_name(obj)}: {image}"
            assert ":latest" not in image


def test_image_digest_pins_every_govshare_container(rendered: dict[str, Variant]) -> None:
    variant = rendered["intranet-cert-manager"]
    for obj, spec in workloads(variant.objects):
        for container in containers(spec):
            if container["name"] == "envoy":  # the official Envoy image, pinned by edge.image
                continue
            assert container["image"].endswith("@sha256:" + "ab" * 32), _name(obj)
        assert spec["imagePullSecrets"] == [{"name": "registry-pull"}]


# ---- zone, reflection and the one-way path --------------------------------------------------


def test_zone_reaches_every_process(variant: Variant) -> None:
    zone = variant.effective["zone"]
    for obj, spec in workloads(variant.objects):
        for container in containers(spec):
            if container["image"].startswith(variant.effective["image"]["repository"]):
                assert env_of(container)["GOVSHARE_ZONE"]["value"] == zone, _name(obj)


def test_zone_variants_set_their_zone(zone_variant: Variant) -> None:
    assert zone_variant.effective["zone"] == zone_variant.name


def test_reflection_is_off_on_the_extranet(rendered: dict[str, Variant]) -> None:
    for name in ("extranet", "extranet-trial", "defaults"):
        for component in COMPONENTS:
            env = env_of(_govshare_container(rendered[name], component))
            assert env["GOVSHARE_REFLECTION"]["value"] == "false"
    assert env_of(_govshare_container(rendered["intranet"], "query"))["GOVSHARE_REFLECTION"]["value"] == "true"


def _sync_jobs(variant: Variant) -> dict[str, dict[str, Any]]:
    return {c["metadata"]["name"]: c for c in variant.of_kind("CronJob")
            if c["metadata"]["labels"]["app.kubernetes.io/component"] in ("export-bundle", "import-bundle")}


def test_extranet_only_exports(rendered: dict[str, Variant]) -> None:
    jobs = _sync_jobs(rendered["extranet"])
    assert set(jobs) == {f"{RELEASE}-export-bundle"}
    job = jobs[f"{RELEASE}-export-bundle"]
    (container,) = pod_spec(job)["containers"]
    script = container["args"][0]
    assert "govshare export-bundle --out" in script
    assert "import-bundle" not in script
    assert job["spec"]["concurrencyPolicy"] == "Forbid"
    assert {m["mountPath"] for m in container["volumeMounts"]} >= {"/exchange"}


def test_an_export_cut_short_by_its_deadline_leaves_nothing_behind_for_long(rendered: dict[str, Variant],
                                                                          tmp_path: Path) -> None:
    """At sync.activeDeadlineSeconds the kubelet's SIGTERM goes to the script's shell, PID 1, which takes no signal
    it has no handler for; the SIGKILL after the grace period then left the export's hidden files in outbox/
    (.govshare-bundle-….tar.gz.partial, and export-bundle's own ..….partial.partial), a bundle's size each time,
    on the volume the gate reads, for ever. The script, as printed by the chart, now deletes before it exports
    every hidden partial no export still writes (none modified for longer than the Job may run), and only those:
    a manual run beside the scheduled one keeps its file."""
    job = _sync_jobs(rendered["extranet"])[f"{RELEASE}-export-bundle"]
    (container,) = pod_spec(job)["containers"]
    exchange = tmp_path / "exchange"
    (exchange / "outbox").mkdir(parents=True)
    stale = [exchange / "outbox" / ".govshare-bundle-20260101T010000Z.tar.gz.partial",
             exchange / "outbox" / "..govshare-bundle-20260102T010000Z.tar.gz.partial.partial"]
    running = exchange / "outbox" / "..govshare-bundle-20260103T010000Z.tar.gz.partial.partial"
    kept = exchange / "outbox" / "govshare-bundle-20251231T010000Z.tar.gz"
    deadline = job["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"]
    for path in (*stale, running, kept):
        path.write_bytes(b"x")
    for path in (*stale, kept):
        old = time.time() - deadline - 120
        os.utime(path, (old, old))
    (tmp_path / "bin").mkdir()
    fake = tmp_path / "bin" / "govshare"
    fake.write_text('#!/bin/sh\n[ "$1 $2" = "export-bundle --out" ] && printf bundle > "$3"\n', encoding="utf-8")
    fake.chmod(0o755)
    script = container["args"][0].replace("/exchange", str(exchange))
    done = subprocess.run([*container["command"], script], capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"})
    assert done.returncode == 0, done.stderr
    left = sorted(path.name for path in (exchange / "outbox").iterdir())
    assert not any(path.exists() for path in stale), left
    assert running.exists() and kept.exists(), left
    assert len([name for name in left if name.startswith("govshare-bundle-")]) == 2, left


def test_an_export_stopped_by_its_deadline_is_stopped_and_leaves_no_file(rendered: dict[str, Variant],
                                                                          tmp_path: Path) -> None:
    """The kubelet's SIGTERM at sync.activeDeadlineSeconds reached only the script's shell (PID 1), which has no
    handler, so `govshare export-bundle` wrote on until the SIGKILL and left its hidden files. The script now passes
    the SIGTERM on, waits for the export to stop, removes what it wrote and exits 143; no bundle appears."""
    job = _sync_jobs(rendered["extranet"])[f"{RELEASE}-export-bundle"]
    (container,) = pod_spec(job)["containers"]
    exchange = tmp_path / "exchange"
    (tmp_path / "bin").mkdir()
    stopped = tmp_path / "stopped"
    fake = tmp_path / "bin" / "govshare"
    fake.write_text(f'#!/bin/sh\ntrap \'echo TERM > "{stopped}"; exit 143\' TERM\nprintf part > "$3"\n'
                    'while :; do sleep 0.1; done\n', encoding="utf-8")
    fake.chmod(0o755)
    script = container["args"][0].replace("/exchange", str(exchange))
    shell = subprocess.Popen([*container["command"], script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env={**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"},
                             start_new_session=True)  # its own group: the stand-in is killed with it, failed or not
    try:
        for _ in range(600):
            if (exchange / "outbox").is_dir() and any((exchange / "outbox").iterdir()):
                break
            time.sleep(0.05)
        shell.send_signal(signal.SIGTERM)
        _out, err = shell.communicate(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(shell.pid, signal.SIGKILL)
    assert shell.returncode == 143, err
    assert stopped.read_text(encoding="utf-8").strip() == "TERM", err
    assert list((exchange / "outbox").iterdir()) == [], err
    assert "export stopped by SIGTERM" in err


def test_intranet_only_imports(rendered: dict[str, Variant]) -> None:
    for name in ("intranet", "intranet-cert-manager"):
        jobs = _sync_jobs(rendered[name])
        assert set(jobs) == {f"{RELEASE}-import-bundle"}
        (container,) = pod_spec(jobs[f"{RELEASE}-import-bundle"])["containers"]
        script = container["args"][0]
        assert "govshare import-bundle --in" in script
        assert "export-bundle" not in script
    claim = pod_spec(_sync_jobs(rendered["intranet-cert-manager"])[f"{RELEASE}-import-bundle"])["volumes"][1]
    assert claim["persistentVolumeClaim"]["claimName"] == "gate-inbox"


def _secret_env(container: dict[str, Any]) -> set[str]:
    return {n for n, e in env_of(container).items() if "secretKeyRef" in e.get("valueFrom", {})}


def test_sync_jobs_sign_and_verify_bundles_with_keys_from_secrets(rendered: dict[str, Variant]) -> None:
    """Export signs with the extranet's bundle key; import trusts only the keys it is given, states its zone and
    reaches Redis to tell the services' caches what it imported."""
    (export,) = pod_spec(_sync_jobs(rendered["extranet"])[f"{RELEASE}-export-bundle"])["containers"]
    assert _secret_env(export) == {"GOVSHARE_DATABASE_URL", "GOVSHARE_BUNDLE_SIGNING_KEY"}
    assert env_of(export)["GOVSHARE_ZONE"]["value"] == "extranet"
    for name in ("intranet", "intranet-cert-manager"):
        variant = rendered[name]
        (imp,) = pod_spec(_sync_jobs(variant)[f"{RELEASE}-import-bundle"])["containers"]
        assert _secret_env(imp) == {"GOVSHARE_DATABASE_URL", "GOVSHARE_REDIS_URL", "GOVSHARE_BUNDLE_TRUSTED_KEYS"}
        assert env_of(imp)["GOVSHARE_ZONE"]["value"] == "intranet"
        policy = variant.component("NetworkPolicy", "import-bundle")
        assert selector_matches(policy["spec"]["podSelector"], component_pod_labels("import-bundle"))
        assert policy["spec"]["policyTypes"] == ["Egress"]
        assert {port["port"] for rule in policy["spec"]["egress"] for port in rule["ports"]} == {6379}
    # The export renames only the bundle itself: everything import needs (the signature) is inside it.
    script = export["args"][0]
    assert ".sha256" not in script


def test_a_pod_that_says_not_serving_leaves_its_service_within_two_seconds(variant: Variant) -> None:
    """The readiness probes asked every 5 s and took a pod out after two failures: a service whose database was gone
    said NOT_SERVING (watch_database) and kept receiving calls it could only refuse for up to 10 s more. They ask
    every second now, each check one in-memory answer."""
    for obj, spec in workloads(variant.objects):
        for container in containers(spec):
            probe = container.get("readinessProbe")
            if probe is None or "exec" in probe:  # the trial's bundled PostgreSQL and Redis
                continue
            assert probe["periodSeconds"] * probe["failureThreshold"] <= 2, (_name(obj), probe)
            assert probe["timeoutSeconds"] <= probe["periodSeconds"], (_name(obj), probe)


@pytest.mark.parametrize("component", SERVICES)
def test_liveness_probe_times_out_on_a_hung_process(variant: Variant, component: str) -> None:
    """The health service runs on the process's event loop, so a hung loop answers nothing: the probe's timeout
    (shorter than its period) turns that into failures, and failureThreshold of them into a restart."""
    probe = _govshare_container(variant, component)["livenessProbe"]
    assert "grpc" in probe
    assert 0 < probe["timeoutSeconds"] < probe["periodSeconds"]
    assert probe["failureThreshold"] * probe["periodSeconds"] <= 120


@pytest.mark.parametrize("service", ["Liveness", "live", "govshare.query.v1.QueryService"])
def test_a_liveness_name_no_server_registers_fails_the_render_naming_it(service: str) -> None:
    """probes.liveness.service took any string, and the startup and liveness probes of every service send it: a
    name the servers do not register ('Liveness', or one service's name, which the five others do not have) is
    answered NOT_FOUND, so every pod was killed by its startup probe and restarted, CrashLoopBackOff, until the
    value was mended. The schema takes the two names every server answers."""
    assert LIVENESS_SERVICE == "liveness"
    with pytest.raises(helm.HelmError, match=r"at '/probes/liveness/service'"):
        render_chart(user_values(("values-intranet.yaml",), {"probes": {"liveness": {"service": service}}}))


@pytest.mark.parametrize(
    ("zone", "wrong_way"),
    [
        ("intranet", {"export": {"enabled": True}, "import": {"enabled": False}}),
        ("extranet", {"import": {"enabled": True}, "export": {"enabled": False}}),
    ],
)
def test_the_templates_never_render_the_wrong_direction(tmp_path: Path, zone: str, wrong_way: dict[str, Any]) -> None:
    """Even without the schema (helm --skip-schema-validation), a zone never gets the other zone's job."""
    chart = tmp_path / "govshare"
    shutil.copytree(CHART, chart)
    (chart / "values.schema.json").unlink()
    values = user_values((f"values-{zone}.yaml",), {"sync": wrong_way})
    with helm.Chart.load(chart) as loaded:
        out = loaded.render(values, name=RELEASE, namespace=NAMESPACE)
    sync = yaml.safe_load_all(out.get("govshare/templates/sync.yaml", ""))
    assert [o for o in sync if o and o["kind"] == "CronJob"] == []


# ---- migrations ------------------------------------------------------------------------------


def test_migrations_run_as_a_hook_before_install_and_upgrade(zone_variant: Variant) -> None:
    job = zone_variant.get("Job", f"{RELEASE}-migrate")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    (container,) = pod_spec(job)["containers"]
    assert container["args"] == ["migrate"]
    account = zone_variant.get("ServiceAccount", f"{RELEASE}-migrate")
    assert account["metadata"]["annotations"]["helm.sh/hook"] == annotations["helm.sh/hook"]
    assert int(account["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(annotations["helm.sh/hook-weight"])


def test_the_migration_hook_brings_its_own_network_policy(variant: Variant) -> None:
    """A pre-install hook runs before any object of the release exists, the NetworkPolicies included: in a
    namespace whose baseline policy denies all traffic (a default-deny every hardened cluster has), the migration
    Job reached neither DNS nor PostgreSQL, failed its retries, and the first `helm install` failed. Its policy is
    now a hook of the same phases, created before it, and lets out what migrations need: DNS and PostgreSQL."""
    job = variant.get("Job", f"{RELEASE}-migrate")
    job_hook = job["metadata"]["annotations"]
    covering = [p for p in variant.of_kind("NetworkPolicy") if selector_matches(p["spec"]["podSelector"],
                                                                               pod_labels(job))]
    hooks = [p for p in covering if "helm.sh/hook" in p["metadata"].get("annotations", {})]
    assert [p["metadata"]["name"] for p in covering] == [f"{RELEASE}-migrate"] and hooks == covering
    (policy,) = hooks
    annotations = policy["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == job_hook["helm.sh/hook"]
    assert int(annotations["helm.sh/hook-weight"]) < int(job_hook["helm.sh/hook-weight"])
    assert annotations["helm.sh/hook-delete-policy"] == job_hook["helm.sh/hook-delete-policy"]
    assert policy["spec"]["ingress"] == []
    ports = {(p["protocol"], p["port"]) for rule in policy["spec"]["egress"] for p in rule["ports"]}
    database_port = 5432 if variant.effective["trial"]["enabled"] else variant.effective["database"]["port"]
    assert ports == {("UDP", 53), ("TCP", 53), ("TCP", database_port)} | (
        {("TCP", collector_port(variant.effective["telemetry"]["otlpEndpoint"],
                                variant.effective["telemetry"]["otlpProtocol"]))}
        if variant.effective["telemetry"]["otlpEndpoint"] else set())


def test_trial_migrations_wait_for_the_bundled_database(rendered: dict[str, Variant]) -> None:
    job = rendered["extranet-trial"].get("Job", f"{RELEASE}-migrate")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,pre-upgrade"


# ---- mTLS, telemetry, metrics ----------------------------------------------------------------


def _tls_secret(spec: dict[str, Any]) -> str | None:
    for volume in spec.get("volumes", []):
        if volume["name"] == "tls":
            return volume["secret"]["secretName"]
    return None


@pytest.mark.parametrize("component", COMPONENTS)
def test_mtls_certificates_are_mounted(variant: Variant, component: str) -> None:
    deployment = variant.component("Deployment", component)
    spec = pod_spec(deployment)
    env = env_of(_govshare_container(variant, component))
    if not variant.effective["mtls"]["enabled"]:
        assert _tls_secret(spec) is None
        assert not {"GOVSHARE_TLS_CERT", "GOVSHARE_TLS_KEY", "GOVSHARE_TLS_CA"} & set(env)
        return
    if component == "gateway":
        # The renderer names the files; Envoy reads them (edge listener and upstream mTLS, the JWKS over TLS).
        mounts = {m["name"]: m for m in _envoy_container(variant)["volumeMounts"]}
        assert mounts["tls"]["mountPath"] == "/etc/govshare/tls" and mounts["tls"]["readOnly"] is True
        assert env["GOVSHARE_JWKS_URL"]["value"].startswith("https://")
    secret = _tls_secret(spec)
    assert secret == f"{RELEASE}-{component}-tls"
    assert env["GOVSHARE_TLS_CERT"]["value"] == "/etc/govshare/tls/tls.crt"
    assert env["GOVSHARE_TLS_KEY"]["value"] == "/etc/govshare/tls/tls.key"
    assert env["GOVSHARE_TLS_CA"]["value"] == "/etc/govshare/tls/ca.crt"
    certificates = {c["spec"]["secretName"]: c for c in variant.of_kind("Certificate")}
    if certificates:
        dns_names = certificates[secret]["spec"]["dnsNames"]
        assert f"{RELEASE}-{component}.{NAMESPACE}.svc.cluster.local" in dns_names
        assert {"server auth", "client auth"} <= set(certificates[secret]["spec"]["usages"])


_MESH_ADDRESSES = re.compile(r"_TARGET$|^GOVSHARE_CONSOLE_GATEWAY$|^GOVSHARE_JWKS_URL$")


def _dialled_in_the_mesh(variant: Variant) -> list[tuple[str, str]]:
    """(who, host) for every address of this release a pod dials with TLS and checks the certificate of: the
    services' and the edge's targets, the edge's JWKS, the console's gateway, the snapshot job's supervision,
    the ingress controller's proxy-ssl-name."""
    dialled = []
    for obj, spec in workloads(variant.objects):
        for container in containers(spec):
            for name, entry in env_of(container).items():
                if _MESH_ADDRESSES.search(name) and "value" in entry:
                    address = entry["value"]
                    host = urlsplit(address).hostname if "://" in address else address.rsplit(":", 1)[0]
                    dialled.append((f"{obj['metadata']['name']} {name}", host))
    for ingress in variant.of_kind("Ingress"):
        name = ingress["metadata"].get("annotations", {}).get("nginx.ingress.kubernetes.io/proxy-ssl-name")
        if name:
            dialled.append((f"Ingress {ingress['metadata']['name']}", name))
    return dialled


def test_every_name_dialled_in_the_mesh_is_in_the_certificate_of_the_pods_answering(rendered) -> None:  # type: ignore[no-untyped-def]
    """The services dial each other at the headless "-ready" Services' names (each ready pod, balanced by their
    channels) and check the certificate names them (gRPC verifies the target's host); the edge dials each pod at the
    headless "-pods" Service's name and now checks it too (gateway/edge.py), where the mTLS certificates named the
    Service alone, so under the name check every call from the edge would fail. Every address of the release
    dialled under mTLS is in the Certificate of the component whose pods answer it."""
    variant = rendered["intranet-cert-manager"]
    certificates = {c["metadata"]["name"]: c for c in variant.of_kind("Certificate")}
    dialled = _dialled_in_the_mesh(variant)
    assert {host.split(".")[0] for _who, host in dialled} >= {f"{RELEASE}-{c}-{s}" for c in COMPONENTS[1:]
                                                              for s in ("pods", "ready")}
    for who, host in dialled:
        service = variant.get("Service", host.split(".")[0])
        [component] = {d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
                       for d in variant.of_kind("Deployment")
                       if selector_matches({"matchLabels": service["spec"]["selector"]}, pod_labels(d))}
        assert host in certificates[f"{RELEASE}-{component}"]["spec"]["dnsNames"], who


@pytest.mark.parametrize("component", COMPONENTS)
def test_targets_name_services_that_exist(variant: Variant, component: str) -> None:
    env = env_of(_govshare_container(variant, component))
    targets = {n for n in env if n.endswith("_TARGET")}
    assert targets == {f"GOVSHARE_{c.upper()}_TARGET" for c in CALLS[component] | NAMES.get(component, set())}
    for callee in CALLS[component] | NAMES.get(component, set()):
        host, port = env[f"GOVSHARE_{callee.upper()}_TARGET"]["value"].rsplit(":", 1)
        # The edge calls each pod (the headless "-pods" Service), the services each ready pod (the headless "-ready"
        # Service): through the Service's virtual IP a service's channel kept one connection, so all of a replica's
        # calls went to one pod for 5 minutes.
        suffix = "pods" if component == "gateway" else "ready"
        assert host == f"{RELEASE}-{callee}-{suffix}.{NAMESPACE}.svc.cluster.local"
        assert int(port) == GRPC_PORT
        service = variant.component("Service", f"{callee}-{suffix}")
        assert service["spec"]["clusterIP"] == "None"
        # Starting, draining or without its database, a pod gets no service's call (the edge checks health itself).
        assert service["spec"].get("publishNotReadyAddresses", False) == (component == "gateway")


def test_the_catalog_knows_the_foundation_by_the_address_query_reads_it_at(variant: Variant) -> None:
    """An entry may name the foundation service's address instead of leaving its target empty: query reads the
    foundation there (its GOVSHARE_FOUNDATION_TARGET), and the catalog must see the same (services/catalog/
    endpoints.py, lifecycle.require_own_endpoint). The chart gave the catalog no GOVSHARE_FOUNDATION_TARGET: its
    review took the address for a department's 前置机 and called it (ENDPOINT_UNAVAILABLE after 5 s, its
    NetworkPolicy opening nothing toward the foundation), and a second provider could catalog a foundation dataset
    through the spelled-out address, which ENDPOINT_IN_USE refuses through the empty target. The catalog is told the
    address query uses, and still may not call the foundation."""
    for catalog in ("catalog", *(["catalog-heavy-reads"] if variant.effective["heavyReads"]["catalog"]["enabled"]
                                 else [])):
        told = env_of(_govshare_container(variant, catalog))["GOVSHARE_FOUNDATION_TARGET"]["value"]
        assert told == env_of(_govshare_container(variant, "query"))["GOVSHARE_FOUNDATION_TARGET"]["value"]
    # Its egress stays CALLS["catalog"] (test_network_policy_lets_out_only_what_the_component_calls).


def test_with_every_pod_not_serving_the_edge_still_reaches_them_to_name_the_dependency(variant: Variant) -> None:
    """deploy.md promises that during a database outage Envoy's panic threshold still routes calls to the NOT_SERVING
    pods, so callers are told DEPENDENCY_UNAVAILABLE naming postgresql. In a cluster the readiness probes took every
    such pod out of its Service first: the edge found no pod at all and said only that the service was unavailable
    (down or restarting). The edge's headless Services list not-ready pods too; its own health checks, every second,
    keep calls from a NOT_SERVING pod while another serves."""
    gateway = variant.component("Deployment", "gateway")
    (render,) = gateway["spec"]["template"]["spec"]["initContainers"]
    for name, entry in env_of(render).items():
        if name.endswith("_TARGET"):
            service = variant.get("Service", entry["value"].split(".")[0])
            assert service["spec"]["publishNotReadyAddresses"] is True, name


def test_the_edge_balances_each_call_across_every_pod(variant: Variant) -> None:
    """The edge (Envoy) called each backend through its Service's virtual IP: one upstream host, a few long-lived
    HTTP/2 connections per edge pod (one per worker), each kept on one pod by kube-proxy for its 5 minutes. With 2
    edge pods of 2 workers, at most 4 of the query service's up to 20 replicas received calls: the HPA scaled out
    pods that stood idle while the others ran hot. The edge's targets are now headless Services, one upstream host
    per ready pod, balanced call by call and health-checked one by one."""
    gateway = variant.component("Deployment", "gateway")
    (render,) = gateway["spec"]["template"]["spec"]["initContainers"]
    targets = {name: entry["value"] for name, entry in env_of(render).items() if name.endswith("_TARGET")}
    assert {f"GOVSHARE_{c.upper()}_TARGET" for c in CALLS["gateway"]} <= set(targets)
    for name, target in targets.items():
        host, port = target.rsplit(":", 1)
        service = variant.get("Service", host.split(".")[0])
        assert service["spec"]["clusterIP"] == "None", name
        assert [(p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [(int(port), "grpc")], name
        selected = [d for d in variant.of_kind("Deployment") if selector_matches(
            {"matchLabels": service["spec"]["selector"]}, pod_labels(d))]
        assert [d["metadata"]["name"] for d in selected] == [host.split(".")[0].removesuffix("-pods")], name


@pytest.mark.parametrize(("telemetry", "port"), [
    ({"otlpEndpoint": "http://otel-collector.observability.svc:4318", "otlpProtocol": "http/protobuf"}, 4318),
    ({"otlpEndpoint": "https://otel.example.gov.cn/", "otlpProtocol": "http/protobuf"}, 443),
    ({"otlpEndpoint": "http://otel-collector.observability.svc", "otlpProtocol": "http/protobuf"}, 80),
    ({"otlpEndpoint": "http://otel-collector.observability.svc:4317", "otlpProtocol": "grpc"}, 4317),
])
def test_every_pod_that_exports_may_reach_the_collector_on_the_endpoints_port(telemetry: dict, port: int) -> None:
    """The pods' egress to the collector was networkPolicy.otlpPort, 4317 whatever telemetry.otlpEndpoint said: a
    site switching to http/protobuf (a collector on 4318, or behind an https ingress on 443) had every span of every
    process, the edge's included, dropped by the NetworkPolicies, without a word. The port is now the endpoint's, as
    the exporters read it (services.runtime.telemetry.collector_port); networkPolicy.otlpPort still overrides it."""
    assert collector_port(telemetry["otlpEndpoint"], telemetry["otlpProtocol"]) == port
    for overrides, expected in (({}, port), ({"networkPolicy": {"otlpPort": 14317}}, 14317)):
        objects = render_chart(user_values(("values-extranet.yaml",), {"telemetry": telemetry, **overrides}))
        policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
        exporting = 0
        for obj, spec in workloads(objects):
            if not any("OTEL_EXPORTER_OTLP_ENDPOINT" in env_of(c) for c in containers(spec)):
                continue
            exporting += 1
            ports = {p["port"] for policy in policies if selector_matches(policy["spec"]["podSelector"],
                                                                          pod_labels(obj))
                     for rule in policy["spec"].get("egress", []) for p in rule.get("ports", [])}
            assert expected in ports, (_name(obj), ports)
        assert exporting >= 7


@pytest.mark.parametrize("component", COMPONENTS)
def test_telemetry_uses_standard_otel_variables(variant: Variant, component: str) -> None:
    env = env_of(_govshare_container(variant, component))
    assert env["OTEL_SERVICE_NAME"]["value"] == f"govshare-{component}"
    assert "deployment.environment=" + variant.effective["zone"] in env["OTEL_RESOURCE_ATTRIBUTES"]["value"]
    endpoint = variant.effective["telemetry"]["otlpEndpoint"]
    if endpoint:
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"] == endpoint
        assert env["OTEL_TRACES_SAMPLER"]["value"] == "parentbased_traceidratio"
        assert 0 <= float(env["OTEL_TRACES_SAMPLER_ARG"]["value"]) <= 1
    else:
        assert env["OTEL_SDK_DISABLED"]["value"] == "true"


def test_a_sites_resource_attribute_reaches_the_sdk_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """telemetry.resourceAttributes went into OTEL_RESOURCE_ATTRIBUTES as written: a value holding ",", "=" or "%"
    (the variable's separators, and its escape) was cut into wrong attributes by the SDK. Values are now
    percent-encoded, as the variable's format asks."""
    value = "省政务云,一期 a=b 100%"
    variant = Variant("attributes", ("values-intranet.yaml",), {"telemetry": {
        "otlpEndpoint": "http://otel:4317", "resourceAttributes": {"site.name": value, "site.id": 12}}})
    variant.objects = render_chart(variant.values)
    for component in ("query", "gateway"):
        raw = env_of(_govshare_container(variant, component))["OTEL_RESOURCE_ATTRIBUTES"]["value"]
        monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", raw)
        attributes = OTELResourceDetector().detect().attributes
        assert attributes["site.name"] == value and attributes["site.id"] == "12", raw
        assert attributes["deployment.environment"] == "intranet"
        assert set(attributes) == {"service.namespace", "deployment.environment", "k8s.namespace.name",
                                   "k8s.pod.name", "service.version", "site.name", "site.id"}


@pytest.mark.parametrize("component", COMPONENTS)
def test_prometheus_can_scrape(variant: Variant, component: str) -> None:
    deployment = variant.component("Deployment", component)
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(METRICS_PORT)
    assert annotations["prometheus.io/path"] == "/metrics"
    container = _envoy_container(variant) if component == "gateway" else _govshare_container(variant, component)
    assert {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"} in container["ports"]
    assert env_of(_govshare_container(variant, component))["GOVSHARE_METRICS_PORT"]["value"] == str(METRICS_PORT)
    if variant.effective["metrics"]["podMonitor"]["enabled"]:
        monitor = variant.component("PodMonitor", component)
        assert selector_matches(monitor["spec"]["selector"], pod_labels(deployment))


# ---- the supervision snapshot CronJob (DOMAIN §11) --------------------------------------------


def test_supervision_snapshots_are_scheduled_and_reach_only_supervision(variant: Variant) -> None:
    (job,) = [c for c in variant.of_kind("CronJob")
              if c["metadata"]["labels"]["app.kubernetes.io/component"] == "supervision-snapshot"]
    assert job["spec"]["concurrencyPolicy"] == "Forbid"
    assert job["spec"]["timeZone"] == "Asia/Shanghai"
    spec = pod_spec(job)
    (container,) = spec["containers"]
    assert container["args"] == ["supervise", "--months", "previous,current"]
    env = env_of(container)
    # Each ready pod (the headless "-ready" Service), as the services call each other.
    assert env["GOVSHARE_SUPERVISION_TARGET"]["value"].startswith(f"{RELEASE}-supervision-ready.")
    assert "secretKeyRef" in env["GOVSHARE_INTERNAL_KEY"]["valueFrom"]
    assert "GOVSHARE_DATABASE_URL" not in env and "GOVSHARE_TOKEN_PRIVATE_KEY" not in env
    if "GOVSHARE_TLS_CERT" in env:
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert volumes["tls"]["secret"]["secretName"] == f"{RELEASE}-supervision-tls"
    policy = variant.component("NetworkPolicy", "supervision-snapshot")["spec"]
    assert policy["ingress"] == []
    in_mesh = [r for r in policy["egress"]
               if any("podSelector" in p and "namespaceSelector" not in p for p in r.get("to", []))]
    assert set().union(*(_peer_components(r["to"]) for r in in_mesh)) == {"supervision"}
    # The replicas leave the schedule to the CronJob.
    supervision = env_of(_govshare_container(variant, "supervision"))
    assert supervision["GOVSHARE_SUPERVISION_SNAPSHOT_SECONDS"]["value"] == "0"


@pytest.mark.parametrize("overrides", [
    {},
    {"heavyReads": {"catalog": {"enabled": True}, "query": {"enabled": True}}},
    {"zone": "intranet", "sync": {"export": {"enabled": False}, "import": {"enabled": True}}},
])
def test_the_trial_database_and_redis_admit_exactly_the_pods_that_use_them(
        rendered: dict[str, Variant], overrides: dict[str, Any]) -> None:
    """The trial PostgreSQL and Redis admitted fixed lists of components: supervision (and the heavy-read
    replicas) could not reach either, the console could not reach Redis for its sessions, nor the intranet's
    import job to announce what it imported, while the gateway (Envoy, no Redis) was admitted. Now each admits
    the pods that read its URL, and no other."""
    objects = rendered["extranet-trial"].objects if not overrides else render_chart(
        user_values(rendered["extranet-trial"].files, {**rendered["extranet-trial"].overrides, **overrides}))
    policies = {o["metadata"]["name"]: o for o in objects if o["kind"] == "NetworkPolicy"}
    for server, variable in (("postgresql", "GOVSHARE_DATABASE_URL"), ("redis", "GOVSHARE_REDIS_URL")):
        (rule,) = policies[f"{RELEASE}-{server}"]["spec"]["ingress"]
        checked = 0
        for obj, spec in workloads(objects):
            labels = pod_labels(obj)
            if labels.get("app.kubernetes.io/component") in ("postgresql", "redis"):
                continue
            uses = any(variable in env_of(c) for c in containers(spec))
            admitted = any(selector_matches(peer["podSelector"], labels) for peer in rule["from"])
            assert admitted == uses, f"{_name(obj)} reads {variable}: {uses}, admitted by {server}: {admitted}"
            checked += uses
        assert checked >= 5, server


def test_every_deployment_of_several_replicas_survives_a_node_drain(variant: Variant) -> None:
    """The console ran `console.replicas` (2) pods with no PodDisruptionBudget and no spread: both could share a
    node, and a `kubectl drain` evicted them together, signing everyone out of the console at once."""
    budgets = variant.of_kind("PodDisruptionBudget")
    for obj in variant.of_kind("Deployment"):
        if obj["spec"].get("replicas", 2) < 2:
            continue  # the trial's single Redis
        labels = pod_labels(obj)
        assert any(selector_matches(b["spec"]["selector"], labels) for b in budgets), _name(obj)
        spread = obj["spec"]["template"]["spec"].get("topologySpreadConstraints", [])
        assert {c["topologyKey"] for c in spread} == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}, \
            _name(obj)


def test_a_retention_archives_to_a_volume_every_query_pod_mounts() -> None:
    """The access log's retention (GOVSHARE_AUDIT_RETENTION_MONTHS) needs a directory the query processes write
    the archived months to, and the chart gave them a read-only root filesystem and nothing else: set through
    extraEnv, the first hourly archive failed (read-only file system) and the expired months stayed online.
    Now `audit.retentionMonths` comes with the claim the query pods mount, and without one the render stops."""
    with pytest.raises(helm.HelmError, match=r"/audit/archive/existingClaim"):
        render_chart(user_values(("values-extranet.yaml",), {"audit": {"retentionMonths": 36}}))
    with pytest.raises(helm.HelmError):
        render_chart(user_values(("values-extranet.yaml",), {"components": {"query": {"extraEnv": {
            "GOVSHARE_AUDIT_RETENTION_MONTHS": 36, "GOVSHARE_AUDIT_ARCHIVE_DIR": "/var/lib/archive"}}}}))
    objects = render_chart(user_values(("values-extranet.yaml",), {
        "audit": {"retentionMonths": 36, "archive": {"existingClaim": "govshare-audit-archive"}},
        "heavyReads": {"query": {"enabled": True}}}))
    archiving = set()
    for obj, spec in workloads(objects):
        for container in containers(spec):
            env = env_of(container)
            if "GOVSHARE_AUDIT_RETENTION_MONTHS" not in env:
                continue
            archiving.add(obj["metadata"]["name"])
            assert env["GOVSHARE_AUDIT_RETENTION_MONTHS"]["value"] == "36"
            directory = env["GOVSHARE_AUDIT_ARCHIVE_DIR"]["value"]
            (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == directory]
            assert not mount.get("readOnly")
            (volume,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
            assert volume["persistentVolumeClaim"] == {"claimName": "govshare-audit-archive"}
    assert archiving == {f"{RELEASE}-query", f"{RELEASE}-query-heavy-reads"}


def test_every_pod_can_be_placed_on_the_nodes_set_aside_for_govshare() -> None:
    """On a cluster whose nodes for govshare are tainted and labelled, the components took nodeSelector and
    tolerations but the console's values were refused (`console.nodeSelector` not allowed) and the Jobs had none:
    the console never scheduled, and the migration hook's Job stayed Pending until `helm install` timed out."""
    placement = {
        "nodeSelector": {"example.gov.cn/pool": "govshare"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "govshare", "effect": "NoSchedule"}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "example.gov.cn/zone", "operator": "In", "values": ["a", "b"]}]}]}}},
        "priorityClassName": "govshare-high",
    }
    overrides: dict[str, Any] = {
        "components": {c: placement for c in COMPONENTS},
        "heavyReads": {"catalog": {"enabled": True, **placement}, "query": {"enabled": True, **placement}},
        "console": placement,
        "jobs": placement,
    }
    for file in ("values-extranet.yaml", "values-intranet.yaml"):
        objects = render_chart(user_values((file,), overrides))
        placed = list(workloads(objects))
        assert {o["kind"] for o, _ in placed} == {"Deployment", "Job", "CronJob"}
        for obj, spec in placed:
            assert {key: spec.get(key) for key in placement} == placement, _name(obj)
    # A trial's bundled PostgreSQL and Redis took none (`trial.nodeSelector` not allowed): on such a cluster they
    # stayed Pending, and with them the migration and every service's start, until `helm install --wait` timed out.
    trial = render_chart(user_values(("values-extranet.yaml",), {
        **overrides, "trial": {"enabled": True, **placement}, "mtls": {"enabled": False}}))
    bundled = [(obj, spec) for obj, spec in workloads(trial) if obj["kind"] == "StatefulSet"
               or obj["metadata"]["name"] == f"{RELEASE}-redis"]
    assert len(bundled) == 2
    for obj, spec in workloads(trial):
        assert {key: spec.get(key) for key in placement} == placement, _name(obj)
        kubernetes_validate.validate(obj, KUBE_VERSIONS[-1], strict=True)


@pytest.mark.parametrize(("where", "name", "value"), [
    ("config", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://apm.example.gov.cn:8200"),
    ("components.query", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
])
def test_the_collector_is_named_by_telemetry_values_not_by_the_traces_variables_of_an_extra_env(
        where: str, name: str, value: str) -> None:
    """The chart sets OTEL_EXPORTER_OTLP_ENDPOINT and _PROTOCOL from telemetry.otlpEndpoint and otlpProtocol and lets
    the collector's port out from them; the schema refused those in an extraEnv but took their _TRACES_ forms, which
    the services' exporters and the edge read first: the spans went to another address, port or protocol than the
    NetworkPolicies let out to, and were dropped there, the values naming a collector nobody sent to."""
    assert name in runtime_telemetry._ENDPOINT_VARIABLES[0]  # the services read it (the SDK before the generic one)
    overrides: dict[str, Any] = {"telemetry": {"otlpEndpoint": "http://otel-collector.observability.svc:4317"}}
    node = overrides
    for key in where.split("."):
        node = node.setdefault(key, {})
    node["extraEnv"] = {name: value}
    with pytest.raises(helm.HelmError, match=rf"invalid propertyName '{name}'"):
        render_chart(user_values(("values-extranet.yaml",), overrides))


def test_the_collectors_credential_comes_from_a_secret_to_every_process_that_exports() -> None:
    """docs/configuration.md has OTEL_EXPORTER_OTLP_HEADERS carry a collector's credential, and the chart's only way
    to set it was config.extraEnv, which the schema took (no URL, KEY or SECRET in the name): the credential went
    into every pod's spec in plain text, and into `helm get values`. It now comes from a Secret key
    (telemetry.otlpHeaders), and extraEnv refuses *HEADERS names."""
    for extra in ({"config": {"extraEnv": {"OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Basic%20Z292"}}},
                  {"components": {"query": {"extraEnv": {"OTEL_EXPORTER_OTLP_TRACES_HEADERS": "api-key=k1"}}}}):
        with pytest.raises(helm.HelmError, match="HEADERS"):
            render_chart(user_values(("values-extranet.yaml",), extra))
    values = user_values(("values-extranet.yaml",), {"telemetry": {
        "otlpEndpoint": "https://otel.example.gov.cn:4317", "otlpHeaders": {"name": "otel-auth", "key": "headers"}}})
    exporting = 0
    for obj, spec in workloads(render_chart(values)):
        for container in containers(spec):
            env = env_of(container)
            if "OTEL_EXPORTER_OTLP_ENDPOINT" in env:
                exporting += 1
                assert env["OTEL_EXPORTER_OTLP_HEADERS"] == {"name": "OTEL_EXPORTER_OTLP_HEADERS", "valueFrom": {
                    "secretKeyRef": {"name": "otel-auth", "key": "headers"}}}, _name(obj)
    assert exporting == 9  # the edge's renderer, the five services, the migration, snapshot and export Jobs
    notes = render_notes(values)
    assert "  otel-auth: headers" in notes.splitlines()


def test_a_collectors_private_ca_reaches_every_process_that_exports() -> None:
    """An https collector with a certificate from the site's own CA (the intranet has no other) could not be used:
    the services' exporters and Envoy checked it against the system's CAs, nothing let a CA file into the pods
    (config.extraEnv could name OTEL_EXPORTER_OTLP_CERTIFICATE, no volume held it), and every span was refused at
    the handshake, without a word. telemetry.otlpCa mounts a Secret key as the CA wherever spans are exported."""
    values = user_values(("values-intranet.yaml",), {"telemetry": {
        "otlpEndpoint": "https://otel.intranet.example.gov.cn:4317", "otlpCa": {"name": "otel-ca", "key": "ca.pem"}}})
    checked = 0
    for obj, spec in workloads(render_chart(values)):
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for container in containers(spec):
            env = env_of(container)
            mounts = {m["name"]: m for m in container.get("volumeMounts", [])}
            reads_config = container["name"] == "render-edge"  # writes the path into envoy.json; Envoy reads it
            if "OTEL_EXPORTER_OTLP_ENDPOINT" not in env and container["name"] != "envoy":
                assert "otlp-ca" not in mounts, _name(obj)
                continue
            checked += 1
            if container["name"] != "envoy":
                assert env["OTEL_EXPORTER_OTLP_CERTIFICATE"]["value"] == "/etc/govshare/otlp/ca.crt", _name(obj)
            if not reads_config:
                assert mounts["otlp-ca"] == {"name": "otlp-ca", "mountPath": "/etc/govshare/otlp", "readOnly": True}
                assert volumes["otlp-ca"]["secret"]["secretName"] == "otel-ca"
                assert volumes["otlp-ca"]["secret"]["items"] == [{"key": "ca.pem", "path": "ca.crt"}]
    assert checked == 10  # render-edge and Envoy, the five services, the migration, snapshot and import Jobs
    with pytest.raises(helm.HelmError, match="OTEL_EXPORTER_OTLP_CERTIFICATE"):
        render_chart(user_values(("values-intranet.yaml",), {
            "config": {"extraEnv": {"OTEL_EXPORTER_OTLP_CERTIFICATE": "/etc/ssl/ca.pem"}}}))


def test_every_pod_pulls_with_the_releases_pull_secrets() -> None:
    """An air-gapped trial (the intranet's evaluation) mirrors postgres and redis into the registry that holds the
    govshare image (trial.*.image.repository), behind the same credentials: the trial's PostgreSQL and Redis pods
    had no imagePullSecrets, and stayed in ImagePullBackOff while every other pod pulled."""
    values = user_values(("values-intranet.yaml",), {
        "imagePullSecrets": [{"name": "registry-pull"}], "trial": {"enabled": True},
        "mtls": {"enabled": False}})
    pods = list(workloads(render_chart(values)))
    assert {o["metadata"]["name"] for o, _ in pods} >= {"govshare-postgresql", "govshare-redis", "govshare-query"}
    for obj, spec in pods:
        assert spec.get("imagePullSecrets") == [{"name": "registry-pull"}], _name(obj)


def test_only_pods_that_export_telemetry_may_reach_the_collector() -> None:
    """Every NetworkPolicy let out the collector's port, to any address while networkPolicy.otlpTo is [] (the
    default), the console's too, though the console exports nothing (no OTEL_* in its environment): with an https
    collector (port 443) the persons' web console, the pod nearest to the users, could open connections to any
    address on 443. The port is now let out of the pods that export spans, and of no other."""
    objects = render_chart(user_values(("values-intranet.yaml",), {
        "telemetry": {"otlpEndpoint": "https://otel.intranet.example.gov.cn"},
        "console": {"sessionStore": "redis"}}))
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    checked = set()
    for obj, spec in workloads(objects):
        if obj["kind"] not in ("Deployment", "CronJob", "Job"):
            continue
        exports = any("OTEL_EXPORTER_OTLP_ENDPOINT" in env_of(c) or c["name"] == "envoy" for c in containers(spec))
        reaching = {(p["protocol"], p["port"]) for policy in policies
                    if selector_matches(policy["spec"]["podSelector"], pod_labels(obj))
                    for rule in policy["spec"].get("egress", []) for p in rule.get("ports", [])}
        assert (("TCP", 443) in reaching) is exports, _name(obj)
        checked.add((_name(obj), exports))
    assert (f"Deployment/{RELEASE}-console", False) in checked and (f"Deployment/{RELEASE}-query", True) in checked
