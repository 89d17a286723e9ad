"""Render the Helm chart offline; what the deploy tests share.

No cluster runs here: helm-python-sdk renders and lints the chart in-process
(it binds Helm's Go SDK, no helm binary), and kubernetes-validate checks every
manifest against the Kubernetes OpenAPI schemas it ships.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml
from helm_python import _native

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "k8s" / "govshare"
DOCKERFILE = REPO / "deploy" / "k8s" / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"

RELEASE = "govshare"
NAMESPACE = "govshare"
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and a
# current one: every rendered manifest must validate against both.
KUBE_VERSIONS = ("1.30.0", "1.35.0")
# The version Helm renders and lints for (.Capabilities.KubeVersion).
RENDER_KUBE_VERSION = "v1.35.0"

COMPONENTS = ("gateway", "catalog", "authorization", "query", "foundation", "supervision")
# Who calls whom (DESIGN.md, "The mesh"); the source the NetworkPolicies must follow.
CALLS = {
    "gateway": {"catalog", "authorization", "query", "foundation", "supervision"},
    # catalog and foundation deliver their administrative events to authorization (AdminLogIntakeService);
    # catalog asks query for the resources' use counts (AuditFiguresService.ListResourceUsage, search ranking).
    "catalog": {"authorization", "query"},
    # authorization asks query for the open disputes of a department it is to retire (RetireDepartment).
    "authorization": {"catalog", "query"},
    "query": {"authorization", "catalog", "foundation"},
    "foundation": {"authorization"},
    "supervision": {"catalog", "authorization", "query", "foundation"},
}
# Services whose address a component is told without calling them (no NetworkPolicy opens for it): the catalog
# knows an entry naming the foundation's address as the foundation, the address query reads it at.
NAMES = {"catalog": {"foundation"}}
CALLERS = {c: {caller for caller, callees in CALLS.items() if c in callees} for c in COMPONENTS}
# The supervision-snapshot CronJob calls supervision too (it is not a component: no Deployment, nobody calls it).
CALLERS["supervision"].add("supervision-snapshot")
USES_DATABASE = {"catalog", "authorization", "query", "foundation", "supervision"}
SECRET_ENV = {
    "GOVSHARE_DATABASE_URL",
    "GOVSHARE_REDIS_URL",
    "GOVSHARE_INTERNAL_KEY",
    "GOVSHARE_TOKEN_PRIVATE_KEY",
    "GOVSHARE_TOKEN_PUBLIC_KEY",
    "GOVSHARE_TOKEN_RETIRED_PUBLIC_KEYS",
    "GOVSHARE_AUDIT_SIGNING_KEY",
    "GOVSHARE_AUDIT_RETIRED_PUBLIC_KEYS",
    "GOVSHARE_PROVIDER_SIGNING_KEY",
    "GOVSHARE_PERSON_SECRET_KEY",
    "GOVSHARE_BUNDLE_SIGNING_KEY",
    "GOVSHARE_BUNDLE_TRUSTED_KEYS",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "POSTGRES_PASSWORD",
    "REDIS_PASSWORD",
}

# Kinds whose APIs come from CRDs (cert-manager, Prometheus Operator):
# kubernetes-validate has no schema for them; the tests check them by hand.
CRD_API_GROUPS = ("cert-manager.io/", "monitoring.coreos.com/")


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Merge values the way `helm -f a.yaml -f b.yaml` does: maps merge, the rest is replaced."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def values_file(name: str) -> dict[str, Any]:
    loaded = yaml.safe_load((CHART / name).read_text(encoding="utf-8"))
    return loaded or {}


def user_values(files: tuple[str, ...] = (), overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in files:
        values = deep_merge(values, values_file(name))
    return deep_merge(values, overrides or {})


def render_chart(values: dict[str, Any], api_versions: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Render offline (like `helm template`) and return the Kubernetes objects.

    `api_versions` plays `helm template --api-versions`: the public
    Chart.render() of helm-python-sdk 0.2.2 has no such argument, so the
    options go to the same native call it makes.
    """
    opts: dict[str, Any] = {
        "name": RELEASE,
        "namespace": NAMESPACE,
        "is_install": True,
        "kube_version": RENDER_KUBE_VERSION,
    }
    if api_versions:
        opts["api_versions"] = list(api_versions)
    with helm.Chart.load(CHART) as chart:
        chart.validate_schema(values)
        rendered: dict[str, str] = json.loads(
            _native.call_string("helm_render", chart._raw(), json.dumps(values), json.dumps(opts))
        )
    objects: list[dict[str, Any]] = []
    for path, text in sorted(rendered.items()):
        if not path.endswith((".yaml", ".yml")):
            continue  # NOTES.txt
        for doc in yaml.safe_load_all(text):
            if doc:
                objects.append(doc)
    return objects


def render_notes(values: dict[str, Any]) -> str:
    with helm.Chart.load(CHART) as chart:
        rendered = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    return next(text for path, text in rendered.items() if path.endswith("NOTES.txt"))


@dataclass
class Variant:
    """One way of installing the chart, and what it renders to."""

    name: str
    files: tuple[str, ...]
    overrides: dict[str, Any] = field(default_factory=dict)
    api_versions: tuple[str, ...] = ()
    objects: list[dict[str, Any]] = field(default_factory=list)

    @property
    def values(self) -> dict[str, Any]:
        return user_values(self.files, self.overrides)

    @property
    def effective(self) -> dict[str, Any]:
        with helm.Chart.load(CHART) as chart:
            return chart.merge_values(self.values)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        matches = [o for o in self.of_kind(kind) if o["metadata"]["name"] == name]
        assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
        return matches[0]

    def component(self, kind: str, component: str) -> dict[str, Any]:
        return self.get(kind, f"{RELEASE}-{component}")


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("extranet", ("values-extranet.yaml",)),
        Variant("intranet", ("values-intranet.yaml",)),
        # The intranet on a cluster with cert-manager and the Prometheus
        # Operator, sending traces, calling department provider endpoints.
        Variant(
            "intranet-cert-manager",
            ("values-intranet.yaml",),
            {
                "image": {"digest": "sha256:" + "ab" * 32},
                "imagePullSecrets": [{"name": "registry-pull"}],
                "telemetry": {"otlpEndpoint": "http://otel-collector.observability.svc:4317"},
                "metrics": {"podMonitor": {"enabled": True}},
                "networkPolicy": {"providerEndpoints": [{"cidr": "10.30.0.0/16", "ports": [50051]}]},
                "database": {"networkPolicyTo": [{"ipBlock": {"cidr": "10.0.5.10/32"}}]},
                "sync": {"volume": {"existingClaim": "gate-inbox"}},
            },
            api_versions=("cert-manager.io/v1", "monitoring.coreos.com/v1"),
        ),
        # A trial install: the extranet variant with the bundled PostgreSQL and
        # Redis and plaintext between services.
        Variant(
            "extranet-trial",
            ("values-extranet.yaml",),
            {"trial": {"enabled": True}, "mtls": {"enabled": False}},
        ),
        # values.yaml alone.
        Variant("defaults", ()),
    )
}
# The two variants ops install (the "both variants").
ZONE_VARIANTS = ("extranet", "intranet")


def pod_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The pod spec of a workload object, or None for other kinds."""
    kind = obj["kind"]
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return obj["spec"]["template"]["spec"]
    if kind == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    if kind == "Pod":
        return obj["spec"]
    return None


def pod_labels(obj: dict[str, Any]) -> dict[str, str]:
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    return obj["spec"]["template"]["metadata"]["labels"]


def workloads(objects: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for obj in objects:
        spec = pod_spec(obj)
        if spec is not None:
            yield obj, spec


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return list(spec.get("initContainers", [])) + list(spec["containers"])


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def selector_matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Does a LabelSelector (matchLabels and matchExpressions) select these labels?"""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        present = expr["key"] in labels
        value = labels.get(expr["key"])
        op = expr["operator"]
        if op == "In" and value not in expr["values"]:
            return False
        if op == "NotIn" and present and value in expr["values"]:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def component_pod_labels(component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "govshare",
        "app.kubernetes.io/instance": RELEASE,
        "app.kubernetes.io/component": component,
    }
