"""The chart lints strictly, renders, and every manifest is valid Kubernetes."""

from __future__ import annotations

import json
import re
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml
from chart_harness import (
    CHART,
    COMPONENTS,
    CRD_API_GROUPS,
    KUBE_VERSIONS,
    NAMESPACE,
    RENDER_KUBE_VERSION,
    VARIANTS,
    Variant,
    containers,
    env_of,
    render_chart,
    render_notes,
    user_values,
    workloads,
)

from console.settings import load_console_settings
from services.runtime import settings, supervision
from services.runtime.pagination import MAX_PAGE_SIZE


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_lint_strict_passes(name: str) -> None:
    report = helm.lint(
        CHART,
        VARIANTS[name].values,
        strict=True,
        namespace=NAMESPACE,
        kube_version=RENDER_KUBE_VERSION,
    )
    assert report["errors"] == []
    # Severity 2 is a warning, 3 an error; 1 (info) is only advice such as "icon is recommended".
    assert [m for m in report["messages"] if m["severity"] >= 2] == []
    assert report["total_charts_linted"] == 1


def _validate_all(objects: list[dict[str, Any]], version: str) -> list[str]:
    failures = []
    for obj in objects:
        if obj["apiVersion"].startswith(CRD_API_GROUPS):
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as err:
            path = ".".join(str(p) for p in err.path)
            failures.append(f"{obj['kind']}/{obj['metadata']['name']}: {path}: {err.message}")
        except kubernetes_validate.SchemaNotFoundError as err:
            failures.append(f"{obj['kind']}/{obj['metadata']['name']}: {err.message}")
    return failures


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_every_manifest_validates_strictly(variant: Variant, version: str) -> None:
    assert _validate_all(variant.objects, version) == []


def test_validation_would_catch_a_bad_manifest(rendered: dict[str, Variant]) -> None:
    """Strict validation refuses unknown fields, so the test above has teeth."""
    deployment = json.loads(json.dumps(rendered["extranet"].component("Deployment", "query")))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"grpc": {"port": 1}}
    assert _validate_all([deployment], KUBE_VERSIONS[-1])


def test_kube_versions_cover_the_charts_minimum() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    assert chart["kubeVersion"] == f">={KUBE_VERSIONS[0]}-0"
    assert chart["apiVersion"] == "v2"


CERT_MANAGER_KINDS = {"Certificate", "Issuer"}


def test_the_charts_description_names_what_it_installs() -> None:
    """`helm show chart` and `helm search` said "a gRPC gateway and four services (catalog, authorization, query,
    foundation)": the supervision service, a component since the chart had six, and the console were left out."""
    description = " ".join(yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))["description"].split())
    services = [c for c in COMPONENTS if c != "gateway"]
    assert f"five services ({', '.join(services)})" in description and "console" in description
    assert len(services) == 5


def test_crd_objects_are_well_formed(rendered: dict[str, Variant]) -> None:
    """cert-manager and Prometheus Operator objects: no schema ships for them, so check by hand."""
    variant = rendered["intranet-cert-manager"]
    crd_objects = [o for o in variant.objects if o["apiVersion"].startswith(CRD_API_GROUPS)]
    kinds = {o["kind"] for o in crd_objects}
    assert kinds == {"Certificate", "Issuer", "PodMonitor"}
    for obj in crd_objects:
        assert obj["apiVersion"] in ("cert-manager.io/v1", "monitoring.coreos.com/v1")
        assert obj["metadata"]["namespace"] == NAMESPACE
    issuers = {o["metadata"]["name"]: o for o in variant.of_kind("Issuer")}
    for cert in variant.of_kind("Certificate"):
        spec = cert["spec"]
        assert set(spec) <= {
            "secretName",
            "duration",
            "renewBefore",
            "privateKey",
            "usages",
            "dnsNames",
            "uris",
            "issuerRef",
            "isCA",
            "commonName",
        }
        assert spec["issuerRef"]["name"] in issuers, "every Certificate names an Issuer the chart creates"
        assert spec["issuerRef"]["kind"] == "Issuer"
        assert spec["secretName"]
    for monitor in variant.of_kind("PodMonitor"):
        endpoint = monitor["spec"]["podMetricsEndpoints"][0]
        assert endpoint == {"port": "metrics", "path": "/metrics", "interval": "30s"}


def test_cert_manager_is_used_only_when_present(rendered: dict[str, Variant]) -> None:
    """mtls.provider auto: Certificates with the cert-manager API, mounted Secrets without it. mtls.provider
    cert-manager on a cluster without its API rendered the Certificates all the same, and `helm install` stopped
    on "no matches for kind Certificate", naming no value: the render now refuses it saying what to do."""
    assert rendered["intranet-cert-manager"].of_kind("Certificate")
    assert rendered["intranet"].of_kind("Certificate") == []
    assert rendered["extranet"].of_kind("Issuer") == []
    forcing = user_values(("values-extranet.yaml",), {"mtls": {"provider": "cert-manager"}})
    with pytest.raises(helm.HelmError, match=r"mtls.provider is cert-manager but the cluster serves no "
                                             r"cert-manager.io/v1.*mtls.provider=secret.*--api-versions cert-manager"):
        render_chart(forcing)
    forced = render_chart(forcing, ("cert-manager.io/v1",))
    # + the CA and the web console's (it verifies the edge with the mesh CA)
    assert len([c for c in forced if c["kind"] == "Certificate"]) == len(COMPONENTS) + 2


INVALID_VALUES = {
    "reflection on the extranet": ("values-extranet.yaml", {"config": {"reflection": True}}),
    "import on the extranet": ("values-extranet.yaml", {"sync": {"import": {"enabled": True}}}),
    "export on the intranet": ("values-intranet.yaml", {"sync": {"export": {"enabled": True}}}),
    "unknown zone": ("values-intranet.yaml", {"zone": "internet"}),
    "latest image tag": ("values-intranet.yaml", {"image": {"tag": "latest"}}),
    "malformed digest": ("values-intranet.yaml", {"image": {"digest": "sha256:abc"}}),
    "secret-looking config": ("values-intranet.yaml", {"config": {"extraEnv": {"GOVSHARE_DATABASE_URL": "x"}}}),
    "password in config": ("values-intranet.yaml", {"config": {"extraEnv": {"PGPASSWORD": "hunter2"}}}),
    "credentials in a config value": (
        "values-intranet.yaml",
        {"config": {"extraEnv": {"GOVSHARE_REDIS_SENTINEL_MASTER": "postgresql://u:p@db:5432/x"}}},
    ),
    "zone overridden through extraEnv": (
        "values-extranet.yaml",
        {"components": {"query": {"extraEnv": {"GOVSHARE_ZONE": "intranet"}}}},
    ),
    "missing limits": ("values-intranet.yaml", {"components": {"query": {"resources": {"limits": None}}}}),
    "root user": ("values-intranet.yaml", {"podSecurity": {"runAsUser": 0}}),
    "ingress without hosts": ("values-intranet.yaml", {"exposure": {"hosts": []}}),
    "typo in a key": ("values-intranet.yaml", {"componentz": {}}),
    "NodePort exposure": ("values-extranet.yaml", {"exposure": {"type": "NodePort"}}),
}


@pytest.mark.parametrize("case", sorted(INVALID_VALUES))
def test_schema_refuses(case: str) -> None:
    file, overrides = INVALID_VALUES[case]
    with pytest.raises(helm.HelmError):
        render_chart(user_values((file,), overrides))


@pytest.mark.parametrize("origin", [
    "https://console.example.gov.cn", "http://localhost:8080", "https://[::1]:8443",
    "https://console.example.gov.cn/", "https://console.example.gov.cn/app", "https://console.example.gov.cn?x=1",
    "https://user@console.example.gov.cn", "https://*.example.gov.cn/", "https://console.example.gov.cn:99999",
])
def test_a_cors_origin_renders_only_when_the_edge_accepts_it(origin: str) -> None:
    """The schema took any "https://…" without a comma, so `https://console.example.gov.cn/` (a trailing slash)
    rendered, and the gateway's init container (`govshare render-edge`) refused it at every start: no gateway pod
    came up, and `helm install --wait` only timed out. The chart now refuses at render what the edge refuses."""
    edge_problems = [p for p in settings.problems("gateway", {"GOVSHARE_LISTEN": "0.0.0.0:50051",
                                                               "GOVSHARE_CORS_ORIGINS": origin})
                     if "GOVSHARE_CORS_ORIGINS" in p]
    values = user_values(("values-extranet.yaml",), {"edge": {"corsOrigins": [origin]}})
    if edge_problems:
        with pytest.raises(helm.HelmError, match=r"/edge/corsOrigins/0"):
            render_chart(values)
    else:
        assert render_chart(values)


@pytest.mark.parametrize(("file", "overrides", "path"), [
    ("values-extranet.yaml", {"supervisionSnapshot": {"schedule": "every day"}}, "/supervisionSnapshot/schedule"),
    ("values-extranet.yaml", {"supervisionSnapshot": {"schedule": "TZ=UTC 30 1 * * *"}},
     "/supervisionSnapshot/schedule"),
    ("values-extranet.yaml", {"sync": {"export": {"schedule": "0 1 * * * *"}}}, "/sync/export/schedule"),
    ("values-intranet.yaml", {"sync": {"import": {"schedule": "*/15 * * *x"}}}, "/sync/import/schedule"),
    ("values-extranet.yaml", {"supervisionSnapshot": {"timeZone": "+08:00"}}, "/supervisionSnapshot/timeZone"),
    ("values-intranet.yaml", {"sync": {"timeZone": "Asia Shanghai"}}, "/sync/timeZone"),
    ("values-extranet.yaml", {"networkPolicy": {"providerEndpoints": [{"cidr": "10.30.0.0", "ports": [50051]}]}},
     "/networkPolicy/providerEndpoints/0/cidr"),
    ("values-extranet.yaml", {"networkPolicy": {"providerEndpoints": [{"cidr": "10.30.0.0/33", "ports": [7100]}]}},
     "/networkPolicy/providerEndpoints/0/cidr"),
    ("values-extranet.yaml", {"oidc": {"issuer": "https://sso.example.gov.cn/realms/gov",
                                       "jwksUrl": "https://sso.example.gov.cn/realms/gov/certs", "audience": "console",
                                       "networkPolicyTo": [{"cidr": "sso.example.gov.cn", "ports": [443]}]}},
     "/oidc/networkPolicyTo/0/cidr"),
    # NetworkPolicy peers and the LoadBalancer's source ranges take address blocks too (the Service: "must be a list
    # of IP ranges"); a peer in providerEndpoints' {cidr, ports} form is no peer.
    ("values-extranet.yaml", {"exposure": {"loadBalancer": {"sourceRanges": ["10.100.0.0"]}}},
     "/exposure/loadBalancer/sourceRanges/0"),
    ("values-extranet.yaml", {"database": {"networkPolicyTo": [{"ipBlock": {"cidr": "10.0.5.10"}}]}},
     "/database/networkPolicyTo/0/ipBlock/cidr"),
    ("values-extranet.yaml", {"redis": {"networkPolicyTo": [{"cidr": "10.0.5.20/32", "ports": [6379]}]}},
     "/redis/networkPolicyTo/0"),
    ("values-extranet.yaml", {"exposure": {"allowFrom": [{"ipBlock": {"cidr": "10.100.0.0/16",
                                                                       "except": ["10.100.1.1"]}}]}},
     "/exposure/allowFrom/0/ipBlock/except/0"),
    ("values-intranet.yaml", {"console": {"allowFrom": [{"ipBlock": {"cidr": "any"}}]}},
     "/console/allowFrom/0/ipBlock/cidr"),
    # The Prometheus Operator's CRD takes a duration with its unit ("must match the pattern"): 30 was passed on.
    ("values-intranet.yaml", {"metrics": {"podMonitor": {"enabled": True, "interval": "30"}}},
     "/metrics/podMonitor/interval"),
    ("values-intranet.yaml", {"metrics": {"podMonitor": {"enabled": True, "interval": "30 s"}}},
     "/metrics/podMonitor/interval"),
    # A toleration's effect and a resource's name are checked by the API server ("Unsupported value", "must be a
    # standard resource type or fully qualified"): they were any string.
    ("values-intranet.yaml", {"jobs": {"tolerations": [{"key": "x", "effect": "NoSchedul"}]}},
     "/jobs/tolerations/0/effect"),
    ("values-intranet.yaml", {"components": {"query": {"resources": {"requests": {"cpu": "1", "memroy": "1Gi"}}}}},
     "/components/query/resources/requests"),
    # An affinity's operator, weight and term are checked by the API server ("Unsupported value", "must be in the
    # range 1-100", "Required value"): they were any object.
    ("values-intranet.yaml", {"jobs": {"affinity": {"nodeAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 0, "preference": {"matchExpressions": [{"key": "ssd", "operator": "Exists"}]}}]}}}},
     "/jobs/affinity/nodeAffinity/preferredDuringSchedulingIgnoredDuringExecution/0/weight"),
    ("values-intranet.yaml", {"components": {"catalog": {"affinity": {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "dedicated", "operator": "Equals", "values": ["govshare"]}]}]}}}}}},
     "/components/catalog/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms/0/"
     "matchExpressions/0/operator"),
    ("values-intranet.yaml", {"console": {"affinity": {"podAntiAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [{"labelSelector": {"matchLabels": {"a": "b"}}}]}}}},
     "/console/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/0"),
    # The names of objects the values refer to (a PriorityClass, a PersistentVolumeClaim, a Secret, a StorageClass,
    # an IngressClass, an Issuer) were any string: one no such object can have ("a lowercase RFC 1123 subdomain")
    # was refused by the API server mid-install, or left the pods waiting for a claim or Secret that cannot exist.
    ("values-intranet.yaml", {"jobs": {"priorityClassName": "High Priority"}}, "/jobs/priorityClassName"),
    ("values-intranet.yaml", {"sync": {"volume": {"existingClaim": "Gate_Inbox"}}}, "/sync/volume/existingClaim"),
    ("values-intranet.yaml", {"exposure": {"ingress": {"tlsSecretName": "govshare gateway tls"}}},
     "/exposure/ingress/tlsSecretName"),
    ("values-extranet.yaml", {"imagePullSecrets": [{"name": "Registry-Pull"}]}, "/imagePullSecrets/0/name"),
    ("values-extranet.yaml", {"trial": {"postgresql": {"storage": {"storageClass": "fast ssd"}}}},
     "/trial/postgresql/storage/storageClass"),
    # The govshare image's tag is every object's app.kubernetes.io/version label ("a valid label must be … at most
    # 63 characters"): a tag with a space, or of 64 characters, was any string.
    ("values-extranet.yaml", {"image": {"tag": "1.0 beta"}}, "/image/tag"),
    ("values-extranet.yaml", {"image": {"tag": "1" * 64}}, "/image/tag"),
    # The gateway's Service's loadBalancerClass ("a qualified name", checked by the API server) was any string.
    ("values-extranet.yaml", {"exposure": {"loadBalancer": {"loadBalancerClass": "Site LB"}}},
     "/exposure/loadBalancer/loadBalancerClass"),
    ("values-extranet.yaml", {"exposure": {"loadBalancer": {"loadBalancerClass": "example.gov.cn/"}}},
     "/exposure/loadBalancer/loadBalancerClass"),
])
def test_values_the_api_server_would_refuse_mid_install_fail_the_render_naming_them(
        file: str, overrides: dict, path: str) -> None:
    """A CronJob schedule, a time zone and a NetworkPolicy ipBlock were any string: `helm install` created part of
    the release and then the API server refused the CronJob ("unparseable schedule", "unknown time zone") or the
    NetworkPolicy ("must be a valid CIDR"), leaving a failed release behind. The schema now names the value."""
    with pytest.raises(helm.HelmError, match=rf"at '{path}'"):
        render_chart(user_values((file,), overrides))



def test_a_load_balancer_class_reaches_the_gateways_service() -> None:
    objects = render_chart(user_values(("values-extranet.yaml",), {
        "exposure": {"loadBalancer": {"loadBalancerClass": "example.gov.cn/internal-vip"}}}))
    (service,) = [o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == "govshare-gateway"]
    assert service["spec"]["loadBalancerClass"] == "example.gov.cn/internal-vip"


@pytest.mark.parametrize(("overrides", "path"), [
    ({"image": {"repository": "registry.example.gov.cn/govshare/govshare:1.2.0"}}, "/image/repository"),
    ({"image": {"repository": "registry.example.gov.cn/GovShare/govshare"}}, "/image/repository"),
    ({"image": {"repository": " "}}, "/image/repository"),
    ({"edge": {"image": {"tag": "v1.40.0 "}}}, "/edge/image/tag"),
    ({"trial": {"postgresql": {"image": {"repository": "docker.io/library/postgres 16"}}}},
     "/trial/postgresql/image/repository"),
])
def test_an_image_name_the_container_runtime_cannot_read_fails_the_render_naming_it(overrides: dict, path: str) -> None:
    """The images' repository and tag were any string: a tag written into the repository rendered
    'registry…/govshare:1.2.0:0.1.0', upper case or a space an image no runtime reads, and every pod, the
    pre-upgrade migration Job first, sat in InvalidImageName until `helm upgrade --wait` timed out (a space alone
    rendered a manifest helm could not parse, 'mapping values are not allowed here'). The schema names the key."""
    with pytest.raises(helm.HelmError, match=rf"at '{path}': .* does not match pattern"):
        render_chart(user_values(("values-extranet.yaml",), overrides))


@pytest.mark.parametrize(("overrides", "path", "key"), [
    ({"components": {"query": {"tolerations": [{"key": "dedicated", "operater": "Exists", "effect": "NoSchedule"}]}}},
     "/components/query/tolerations/0", "operater"),
    ({"console": {"affinity": {"podAntiAfinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}}}},
     "/console/affinity", "podAntiAfinity"),
    ({"heavyReads": {"query": {"enabled": True, "tolerations": [{"key": "x", "tolerationSecond": 30}]}}},
     "/heavyReads/query/tolerations/0", "tolerationSecond"),
    # Deeper in an affinity: the API server dropped a misspelt selector as it did a misspelt affinity, so the term
    # selected every pod (or none) and the replicas were placed as if it were not there.
    ({"components": {"query": {"affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                            "labelSelector": {"matchLabel": {"app.kubernetes.io/component": "query"}}}}
    ]}}}}}, "/components/query/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/0/"
            "podAffinityTerm/labelSelector", "matchLabel"),
    ({"jobs": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpression": [{"key": "dedicated", "operator": "In", "values": ["govshare"]}]}]}}}}},
     "/jobs/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms/0",
     "matchExpression"),
    ({"console": {"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": "topology.kubernetes.io/zone", "labelSelector": {}, "namespace": ["govshare"]}]}}}},
     "/console/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/0", "namespace"),
])
def test_a_misspelt_scheduling_field_fails_the_render_naming_it(overrides: dict, path: str, key: str) -> None:
    """tolerations and affinity were any objects: the API server drops a field it does not know (a warning helm
    shows among others), so `operater: Exists` left a toleration of the key's empty value, which tolerates nothing
    (the pods Pending on the dedicated nodes' taint), and `podAntiAfinity` left the replicas free to share a node.
    The schema now knows their fields, an affinity's down to its selectors."""
    with pytest.raises(helm.HelmError, match=rf"at '{path}': additional properties '{key}' not allowed"):
        render_chart(user_values(("values-extranet.yaml",), overrides))


@pytest.mark.parametrize(("overrides", "problem"), [
    ({"jobs": {"nodeSelector": {"node role": "govshare"}}}, r"invalid propertyName 'node role'"),
    ({"components": {"query": {"nodeSelector": {"dedicated": "govshare nodes"}}}},
     r"at '/components/query/nodeSelector/dedicated'"),
    ({"console": {"tolerations": [{"key": "node role", "operator": "Exists"}]}}, r"at '/console/tolerations/0/key'"),
    ({"jobs": {"tolerations": [{"key": "dedicated", "value": "govshare nodes"}]}}, r"at '/jobs/tolerations/0/value'"),
])
def test_a_node_selector_kubernetes_refuses_fails_the_render_naming_it(overrides: dict, problem: str) -> None:
    """nodeSelector, and a toleration's key and value, took any string: a key or value that is no label ('node
    role', 'govshare nodes') rendered, and the API server refused the Job or Deployment in the middle of helm
    install. They now take the label grammar the pods' own labels have (a toleration's key may be empty, with
    Exists: every taint)."""
    with pytest.raises(helm.HelmError, match=problem):
        render_chart(user_values(("values-extranet.yaml",), overrides))


def test_well_spelt_scheduling_fields_render_as_valid_kubernetes() -> None:
    """Every field the schema knows of a toleration, a resource and an affinity renders, and the API server's schema
    takes the result (the schema refuses no field Kubernetes has)."""
    well_spelt = render_chart(user_values(("values-extranet.yaml",), {
        "components": {"query": {"tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule",
                                                  "tolerationSeconds": 30}],
                                 "resources": {"requests": {"cpu": "1", "memory": "1Gi", "ephemeral-storage": "1Gi",
                                                            "hugepages-2Mi": "0", "example.com/device": "1"},
                                               "limits": {"cpu": "1", "memory": "1Gi"}}}},
        "console": {"affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}}},
        "jobs": {"affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "dedicated", "operator": "In", "values": ["govshare"]},
                                          {"key": "cpus", "operator": "Gt", "values": ["4"]}],
                     "matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["node-1"]}]}]},
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 1, "preference": {"matchExpressions": [{"key": "ssd", "operator": "Exists"}]}}]},
            "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"topologyKey": "topology.kubernetes.io/zone", "namespaces": ["govshare"],
                 "namespaceSelector": {}, "labelSelector": {"matchExpressions": [
                     {"key": "app.kubernetes.io/component", "operator": "In", "values": ["postgresql"]}]}}]},
            "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                                    "matchLabelKeys": ["pod-template-hash"],
                                                    "labelSelector": {"matchLabels": {"app": "x"}}}}]}}}}))
    assert [version for version in KUBE_VERSIONS if _validate_all(well_spelt, version)] == []


@pytest.mark.parametrize(("overrides", "path", "problem"), [
    ({"exposure": {"allowFrom": [{"namespaceSelector": {"matchLabel": {"kubernetes.io/metadata.name": "ingress"}}}]}},
     "/exposure/allowFrom/0/namespaceSelector", "additional properties 'matchLabel' not allowed"),
    ({"networkPolicy": {"metricsFrom": [{"namespaceSelector": {"matchlabels": {"name": "monitoring"}}}]}},
     "/networkPolicy/metricsFrom/0/namespaceSelector", "additional properties 'matchlabels' not allowed"),
    ({"database": {"networkPolicyTo": [{"podSelector": {"matchExpressions": [{"key": "app", "operator": "in",
                                                                              "values": ["pg"]}]}}]}},
     "/database/networkPolicyTo/0/podSelector/matchExpressions/0/operator", "value must be one of"),
    ({"console": {"allowFrom": [{"podSelector": {"matchLabels": {"ingress": True}}}]}},
     "/console/allowFrom/0/podSelector/matchLabels/ingress", "got boolean, want string"),
])
def test_a_misspelt_network_policy_selector_fails_the_render_naming_it(overrides: dict, path: str,
                                                                       problem: str) -> None:
    """A NetworkPolicy peer's podSelector and namespaceSelector were any objects: the API server drops a field it
    does not know, so `namespaceSelector: {matchLabel: {...}}` in exposure.allowFrom became `namespaceSelector: {}`,
    and the gateway's policy admitted every pod of every namespace (metricsFrom the same for /metrics, a database
    peer let every pod out to the port); an operator of no such value was refused mid-install. The schema now knows
    a label selector's fields; well-formed ones (the intranet variant's ingress peer, matchExpressions) render."""
    with pytest.raises(helm.HelmError, match=rf"at '{path}': {problem}"):
        render_chart(user_values(("values-intranet.yaml",), overrides))


def test_well_formed_network_policy_selectors_render() -> None:
    objects = render_chart(user_values(("values-intranet.yaml",), {"database": {"networkPolicyTo": [
        {"namespaceSelector": {}, "podSelector": {"matchExpressions": [
            {"key": "app", "operator": "In", "values": ["pg"]}, {"key": "replica", "operator": "DoesNotExist"}]}}]}}))
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    assert any("DoesNotExist" in json.dumps(p["spec"]) for p in policies)
    for version in KUBE_VERSIONS:
        assert _validate_all(policies, version) == []


@pytest.mark.parametrize(("overrides", "path", "value"), [
    ({"supervisionSnapshot": {"timeZone": "Asia/Beijing"}}, "supervisionSnapshot.timeZone", "Asia/Beijing"),
    ({"sync": {"timeZone": "Beijing", "import": {"enabled": True}}}, "sync.timeZone", "Beijing"),
])
def test_a_time_zone_the_api_server_does_not_know_fails_the_render_naming_it(overrides: dict, path: str,
                                                                               value: str) -> None:
    """"Asia/Beijing" (China's zone is Asia/Shanghai) had the shape of a time zone and rendered; the API server then
    refused the CronJob ("unknown time zone") in the middle of `helm install`, leaving a failed release."""
    with pytest.raises(helm.HelmError, match=rf'{re.escape(path)} \("{value}"\) is no IANA time zone.*Asia/Shanghai'):
        render_chart(user_values(("values-intranet.yaml",), overrides))


def test_valid_schedules_time_zones_and_address_blocks_render() -> None:
    objects = render_chart(user_values(("values-intranet.yaml",), {
        "supervisionSnapshot": {"schedule": "@daily", "timeZone": "UTC"},
        "metrics": {"podMonitor": {"enabled": True, "interval": "1m30s"}},
        "sync": {"import": {"schedule": "*/15 8-18 ? * MON-FRI"}, "timeZone": "America/Argentina/Buenos_Aires"},
        "networkPolicy": {"providerEndpoints": [{"cidr": "10.30.0.0/16", "ports": [7100]},
                                                {"cidr": "2001:db8::/32", "ports": [7100]}]}}),
        api_versions=("monitoring.coreos.com/v1",))
    schedules = {o["metadata"]["name"]: o["spec"]["schedule"] for o in objects if o["kind"] == "CronJob"}
    assert schedules == {"govshare-supervision-snapshot": "@daily", "govshare-import-bundle": "*/15 8-18 ? * MON-FRI"}


@pytest.mark.parametrize(("overrides", "path"), [
    ({"secrets": {"databaseUrl": {"name": "PG_Credentials", "key": "url"}}}, "/secrets/databaseUrl/name"),
    ({"secrets": {"databaseUrl": {"name": "pg-credentials", "key": "url/primary"}}}, "/secrets/databaseUrl/key"),
    ({"secrets": {"existingSecret": "govshare secrets"}}, "/secrets/existingSecret"),
    ({"secrets": {"tokenPublicKey": {"name": "", "key": "token public key"}}}, "/secrets/tokenPublicKey/key"),
    ({"console": {"redisUrl": {"name": "Console-Redis", "key": "url"}}}, "/console/redisUrl/name"),
    ({"console": {"redisUrl": {"name": "console-redis", "key": "redis url"}}}, "/console/redisUrl/key"),
])
def test_a_secret_reference_kubernetes_refuses_fails_the_render_naming_it(overrides: dict, path: str) -> None:
    """An operator's own Secret (a DBA team's `PG_Credentials`, a key `url/primary`) is named in every pod's
    secretKeyRef; the API server refuses a name that is not a DNS subdomain and a key outside [-._a-zA-Z0-9], so
    such a value rendered and the release failed mid-install, at the migration hook's Job first."""
    with pytest.raises(helm.HelmError, match=rf"at '{path}'"):
        render_chart(user_values(("values-extranet.yaml",), overrides))


def test_secrets_of_their_own_render_in_the_pods() -> None:
    objects = render_chart(user_values(("values-extranet.yaml",), {
        "secrets": {"existingSecret": "govshare.keys-2026", "databaseUrl": {"name": "pg-credentials", "key": "url"},
                    "redisUrl": {"name": "redis.acl", "key": "REDIS_URL"}},
        "console": {"redisUrl": {"name": "console-redis", "key": "console_url"}}}))
    query = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "govshare-query")
    env = {e["name"]: e for e in query["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["GOVSHARE_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "pg-credentials", "key": "url"}
    assert env["GOVSHARE_REDIS_URL"]["valueFrom"]["secretKeyRef"] == {"name": "redis.acl", "key": "REDIS_URL"}
    assert env["GOVSHARE_INTERNAL_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "govshare.keys-2026"


@pytest.mark.parametrize(("overrides", "message"), [
    ({"components": {"query": {"podLabels": {"app.kubernetes.io/component": "query-blue"}}}},
     r"components\.query\.podLabels: app\.kubernetes\.io/component is a label the chart sets \(here query;"),
    ({"heavyReads": {"catalog": {"enabled": True, "podLabels": {"app.kubernetes.io/instance": "govshare-2"}}}},
     r"heavyReads\.catalog\.podLabels: app\.kubernetes\.io/instance is a label the chart sets"),
    ({"components": {"gateway": {"podLabels": {"govshare.gov.cn/zone": "dmz"}}}},
     r"components\.gateway\.podLabels: govshare\.gov\.cn/zone is a label the chart sets \(here extranet;"),
])
def test_a_pod_label_of_the_charts_own_fails_the_render_naming_it(overrides: dict, message: str) -> None:
    """podLabels were added after the chart's labels: the same key twice in the pod template, the later value
    winning, so the Deployment's selector no longer matched its pods (refused mid-install) or the pods left their
    Service, NetworkPolicies and PDB."""
    with pytest.raises(helm.HelmError, match=message):
        render_chart(user_values(("values-extranet.yaml",), overrides))


HOLIDAYS = '[2027]\nholidays = ["2027-01-01"]\nworkdays = []\n'


@pytest.mark.parametrize(("overrides", "message"), [
    ({"components": {"query": {"podAnnotations": {"prometheus.io/port": "9000"}}}},
     r'components\.query\.podAnnotations: prometheus\.io/port is an annotation the chart sets \(here "9464"; '
     r"Prometheus scrapes the pods by it: set metrics\.annotations=false"),
    ({"config": {"holidays": HOLIDAYS}, "components": {"catalog": {"podAnnotations": {"checksum/holidays": "x"}}}},
     r"components\.catalog\.podAnnotations: checksum/holidays is an annotation the chart sets \(here \"[0-9a-f]{64}\"; "
     r"it rolls the pods when config\.holidays changes\)"),
])
def test_a_pod_annotation_of_the_charts_own_fails_the_render_naming_it(overrides: dict, message: str) -> None:
    """podAnnotations were written after the chart's own annotations: the same key twice in the pod template, so
    `prometheus.io/port` of a site's sent Prometheus to a port nothing listens at, and a `checksum/holidays` kept
    the pods from rolling when config.holidays changed, without a word. The render now refuses the key; one the
    chart does not set there is the site's (test_a_pod_annotation_the_chart_does_not_set_there_is_the_sites)."""
    with pytest.raises(helm.HelmError, match=message):
        render_chart(user_values(("values-extranet.yaml",), overrides))


def test_a_pod_annotation_the_chart_does_not_set_there_is_the_sites() -> None:
    """Prometheus's with metrics.annotations false, the holidays' checksum on the edge, which reads no holidays."""
    objects = render_chart(user_values(("values-extranet.yaml",), {
        "metrics": {"annotations": False}, "config": {"holidays": HOLIDAYS},
        "components": {"query": {"podAnnotations": {"prometheus.io/port": "9000"}},
                       "gateway": {"podAnnotations": {"checksum/holidays": "site"}}}}))
    annotations = {o["metadata"]["name"]: o["spec"]["template"]["metadata"].get("annotations", {})
                   for o in objects if o["kind"] == "Deployment"}
    assert annotations["govshare-query"]["prometheus.io/port"] == "9000"
    assert annotations["govshare-gateway"] == {"checksum/holidays": "site"}


@pytest.mark.parametrize(("labels", "path"), [
    ({"team": "数据组"}, "/components/query/podLabels/team"),
    ({"team": "x" * 64}, "/components/query/podLabels/team"),
])
def test_a_pod_label_value_kubernetes_refuses_fails_the_render(labels: dict, path: str) -> None:
    with pytest.raises(helm.HelmError, match=rf"at '{path}'"):
        render_chart(user_values(("values-extranet.yaml",), {"components": {"query": {"podLabels": labels}}}))


def test_a_pod_monitor_label_kubernetes_or_the_chart_refuses_fails_the_render_naming_it() -> None:
    """metrics.podMonitor.labels took any strings: a value with a space ('kube prometheus') rendered and the API
    server refused the PodMonitors mid-install, and a chart's own label (app.kubernetes.io/name) was written twice in
    their metadata, the site's value replacing the chart's, so the PodMonitors left every selection of the release's
    objects by its labels. They now take the pod labels' grammar and the chart's check; the site's own label (the
    one its Prometheus selects PodMonitors by) renders."""
    operator = ("monitoring.coreos.com/v1",)
    with pytest.raises(helm.HelmError, match=r"at '/metrics/podMonitor/labels/release'"):
        render_chart(user_values(("values-intranet.yaml",), {
            "metrics": {"podMonitor": {"enabled": True, "labels": {"release": "kube prometheus"}}}}), operator)
    with pytest.raises(helm.HelmError, match=r"metrics\.podMonitor\.labels: app\.kubernetes\.io/name is a label "
                                              r"the chart sets"):
        render_chart(user_values(("values-intranet.yaml",), {
            "metrics": {"podMonitor": {"enabled": True, "labels": {"app.kubernetes.io/name": "x"}}}}), operator)
    objects = render_chart(user_values(("values-intranet.yaml",), {
        "metrics": {"podMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}}}}), operator)
    monitors = [o for o in objects if o["kind"] == "PodMonitor"]
    assert monitors and all(m["metadata"]["labels"]["release"] == "kube-prometheus-stack" for m in monitors)


@pytest.mark.parametrize(("where", "key"), [
    (("exposure", "ingress", "annotations"), "nginx.ingress.kubernetes.io/proxy body size"),
    (("components", "query", "podAnnotations"), "Example.gov.cn/owner"),
    (("console", "ingressAnnotations"), "nginx.ingress.kubernetes.io/"),
])
def test_an_annotation_key_kubernetes_refuses_fails_the_render_naming_it(where: tuple[str, ...], key: str) -> None:
    """Annotation keys were any string (their values are): a space in the name, an upper-case prefix or a prefix
    without a name rendered, and the API server refused the Ingress or Deployment in the middle of helm install
    ("name part must consist of alphanumeric characters…"), a failed release left. They now take Kubernetes'
    grammar of a qualified name; the chart's and the variants' own annotations render (every other test)."""
    overrides: dict[str, Any] = {}
    node = overrides
    for part in where:
        node = node.setdefault(part, {})
    node[key] = "x"
    with pytest.raises(helm.HelmError, match=rf"invalid propertyName '{re.escape(key)}'"):
        render_chart(user_values(("values-intranet.yaml",), overrides))
    ok = render_chart(user_values(("values-intranet.yaml",), {
        "exposure": {"ingress": {"annotations": {"nginx.ingress.kubernetes.io/proxy-body-size": "16m"}}},
        "components": {"query": {"podAnnotations": {"example.gov.cn/owner": "数据组 data-ops"}}}}))
    ingress = next(o for o in ok if o["kind"] == "Ingress")
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"] == "16m"


def test_pod_labels_of_the_sites_own_render() -> None:
    labels = {"team": "data-ops", "example.gov.cn/cost-centre": "C_01", "sidecar.istio.io/inject": "false"}
    objects = render_chart(user_values(("values-extranet.yaml",), {"components": {"query": {"podLabels": labels}}}))
    query = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "govshare-query")
    pod_labels = query["spec"]["template"]["metadata"]["labels"]
    assert labels.items() <= pod_labels.items()
    assert query["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_a_load_balancer_the_gateways_policy_admits_no_client_of_fails_the_render() -> None:
    """The intranet variant admits the ingress controller's pods only (exposure.allowFrom); an operator switching the
    intranet to a LoadBalancer (exposure.type) got a release whose load balancer had an address and whose every
    connection the gateway's NetworkPolicy dropped: clients from outside the cluster come by address, and no pod
    peer matches them."""
    with pytest.raises(helm.HelmError, match=r"exposure\.allowFrom admits pods only, but exposure\.type LoadBalancer"):
        render_chart(user_values(("values-intranet.yaml",), {"exposure": {"type": "LoadBalancer"}}))
    for allow_from in ([], [{"ipBlock": {"cidr": "10.20.0.0/16"}}]):
        objects = render_chart(user_values(("values-intranet.yaml",), {
            "exposure": {"type": "LoadBalancer", "allowFrom": allow_from}}))
        (policy,) = [o for o in objects if o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == "govshare-gateway"]
        assert [p for p in policy["spec"]["ingress"][0].get("from", []) if "ipBlock" in p] == allow_from


def test_valid_peers_and_source_ranges_render() -> None:
    objects = render_chart(user_values(("values-extranet.yaml",), {
        "exposure": {"loadBalancer": {"sourceRanges": ["10.100.0.0/16", "2001:db8::/32"]},
                     "allowFrom": [{"ipBlock": {"cidr": "10.100.0.0/16", "except": ["10.100.1.0/24"]}}]},
        "database": {"networkPolicyTo": [{"ipBlock": {"cidr": "10.0.5.10/32"}}]},
        "redis": {"networkPolicyTo": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "redis"}},
                                       "podSelector": {"matchLabels": {"app": "redis"}}}]}}))
    gateway = next(o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == "govshare-gateway")
    assert gateway["spec"]["loadBalancerSourceRanges"] == ["10.100.0.0/16", "2001:db8::/32"]


@pytest.mark.parametrize(("overrides", "path"), [
    ({"ports": {"grpc": 443}}, "/ports/grpc"),
    ({"ports": {"metrics": 80}}, "/ports/metrics"),
    ({"ports": {"health": 52}}, "/ports/health"),
    ({"ports": {"jwks": 443}}, "/ports/jwks"),
    ({"edge": {"adminPort": 901}}, "/edge/adminPort"),
])
def test_a_privileged_port_fails_the_render_naming_it(overrides: dict, path: str) -> None:
    """Every container runs as UID 10001 with all capabilities dropped (no NET_BIND_SERVICE): ports.grpc 443 (for
    clients to dial the usual port) rendered, and Envoy and every service failed to bind it at start, in a crash
    loop, on runtimes that keep the kernel's unprivileged-port floor. The console's port was already refused below
    1024; the others now are too."""
    with pytest.raises(helm.HelmError, match=rf"at '{path}': minimum"):
        render_chart(user_values(("values-extranet.yaml",), overrides))


@pytest.mark.parametrize(("overrides", "message"), [
    ({"ports": {"health": 50051}}, r"ports\.health \(50051\) is ports\.grpc too"),
    ({"ports": {"metrics": 50051}}, r"ports\.metrics \(50051\) is ports\.grpc too"),
    ({"ports": {"jwks": 9464}}, r"ports\.jwks \(9464\) is ports\.metrics too"),
    ({"ports": {"jwks": 50052}}, r"ports\.jwks \(50052\) is ports\.health too"),
    ({"edge": {"adminPort": 9464}}, r"edge\.adminPort \(9464\) is ports\.metrics too"),
])
def test_two_listeners_on_one_port_are_refused_naming_them(overrides: dict, message: str) -> None:
    """Each port was valid alone, so `ports.health: 50051` rendered and every service then refused to start
    (its settings refuse the health listener on the gRPC port), and `ports.metrics: 50051` rendered pods whose
    second bind failed: `helm install --wait` only timed out. The chart now says which values clash."""
    with pytest.raises(helm.HelmError, match=message):
        render_chart(user_values(("values-intranet.yaml",), overrides))


@pytest.mark.parametrize(("duration", "renew_before"), [("24h", "48h"), ("2160h", "2160h")])
def test_a_renewal_window_as_long_as_the_certificate_is_refused_naming_both(duration: str, renew_before: str) -> None:
    """cert-manager's webhook refuses a Certificate whose renewBefore is not shorter than its duration, in the
    middle of `helm install`; the chart now says which values to fix."""
    times = {"mtls": {"certManager": {"duration": duration, "renewBefore": renew_before}}}
    with pytest.raises(helm.HelmError, match=r"mtls\.certManager\.renewBefore \(\d+h\) must be shorter than "
                                             r"mtls\.certManager\.duration"):
        render_chart(user_values(("values-intranet.yaml",), times), ("cert-manager.io/v1",))
    # Without cert-manager they are not used, and not checked.
    assert render_chart(user_values(("values-intranet.yaml",), times))


def test_moved_ports_render_when_they_stay_apart() -> None:
    objects = render_chart(user_values(("values-intranet.yaml",), {"ports": {"grpc": 6000, "health": 6001},
                                                                    "edge": {"adminPort": 6002}}))
    query = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"].endswith("-query"))
    ports = {p["name"]: p["containerPort"] for p in query["spec"]["template"]["spec"]["containers"][0]["ports"]}
    assert ports == {"grpc": 6000, "metrics": 9464, "health": 6001}


@pytest.mark.parametrize(("overrides", "path"), [
    ({"components": {"query": {"autoscaling": {"minReplicas": 5, "maxReplicas": 2}}}}, "components.query"),
    ({"heavyReads": {"catalog": {"enabled": True, "autoscaling": {"minReplicas": 7, "maxReplicas": 6}}}},
     "heavyReads.catalog"),
])
def test_an_autoscaler_whose_minimum_is_above_its_maximum_is_refused_naming_it(overrides: dict, path: str) -> None:
    """Kubernetes would refuse the HorizontalPodAutoscaler in the middle of `helm install`; the chart says so first."""
    with pytest.raises(helm.HelmError, match=rf"{path}\.autoscaling: minReplicas \(\d+\) is above maxReplicas"):
        render_chart(user_values(("values-intranet.yaml",), overrides))


@pytest.mark.parametrize(("overrides", "message"), [
    ({"components": {"query": {"resources": {"requests": {"cpu": "1500m"}, "limits": {"cpu": "1"}}}}},
     r"components\.query\.resources: requests\.cpu \(1500m\) is above limits\.cpu \(1\)"),
    ({"components": {"catalog": {"resources": {"requests": {"memory": "1536Mi"}, "limits": {"memory": "1Gi"}}}}},
     r"components\.catalog\.resources: requests\.memory \(1536Mi\) is above limits\.memory \(1Gi\)"),
    ({"heavyReads": {"query": {"enabled": True, "resources": {"requests": {"memory": "2G"},
                                                               "limits": {"memory": "1Gi"}}}}},
     r"heavyReads\.query\.resources: requests\.memory"),
    ({"console": {"resources": {"requests": {"cpu": 2}, "limits": {"cpu": "1e0"}}}},
     r"console\.resources: requests\.cpu \(2\) is above limits\.cpu \(1e0\)"),
    ({"migrations": {"resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "500m"}}}},
     r"migrations\.resources: requests\.cpu"),
])
def test_a_request_above_its_limit_is_refused_naming_it(overrides: dict, message: str) -> None:
    """The API server would refuse the workload in the middle of `helm install`; the chart says where first."""
    with pytest.raises(helm.HelmError, match=message):
        render_chart(user_values(("values-intranet.yaml",), overrides))


def test_a_rate_limit_burst_below_the_rate_is_refused_naming_both() -> None:
    """edge.rateLimitBurst below edge.rateLimitPerSecond rendered, and the edge passed no more than the burst a
    second (Envoy's bucket holds at most the burst): the gateway's init container now refuses it too, so the
    chart says so before anything is installed."""
    with pytest.raises(helm.HelmError, match=r"edge\.rateLimitBurst \(10\) is below edge\.rateLimitPerSecond "
                                             r"\(2000\)"):
        render_chart(user_values(("values-extranet.yaml",), {"edge": {"rateLimitPerSecond": 2000,
                                                                      "rateLimitBurst": 10}}))
    render_chart(user_values(("values-extranet.yaml",), {"edge": {"rateLimitPerSecond": 2000.0,
                                                                  "rateLimitBurst": 2000}}))


@pytest.mark.parametrize(("overrides", "message"), [
    ({"fullnameOverride": "province-data-sharing-govshare12"},
     r'"province-data-sharing-govshare12" \(32 characters.*'
     r"CronJob province-data-sharing-govshare12-supervision-snapshot would be 53 characters, over Kubernetes' 52"
     r".*at most 31 characters"),
    ({"fullnameOverride": "province-data-sharing-platform-govshare", "supervisionSnapshot": {"enabled": False},
      "heavyReads": {"catalog": {"enabled": True}}},
     r"Service province-data-sharing-platform-govshare-catalog-heavy-reads-ready would be 65 characters, over "
     r"Kubernetes' 63.*at most 37 characters"),
])
def test_a_name_prefix_too_long_for_the_objects_named_after_it_is_refused_naming_one(overrides: dict,
                                                                                    message: str) -> None:
    """A long release name or fullnameOverride rendered: every name was cut at 63 characters, so
    <fullname>-supervision and <fullname>-supervision-snapshot became the same ServiceAccount and NetworkPolicy,
    and the API server refused the CronJobs over 52 characters and the headless Services over 63 mid-install."""
    with pytest.raises(helm.HelmError, match=message):
        render_chart(user_values(("values-intranet.yaml",), overrides))
    # At the limit it renders, every name whole and no two objects of a kind alike.
    prefix = "province-data-sharing-govshare1"
    objects = render_chart(user_values(("values-intranet.yaml",), {"fullnameOverride": prefix}))
    names = [(o["kind"], o["metadata"]["name"]) for o in objects]
    assert len(names) == len(set(names))
    assert all(name.startswith(f"{prefix}-") for _, name in names if "province" in name)


def test_requests_equal_to_their_limits_in_other_units_render() -> None:
    objects = render_chart(user_values(("values-intranet.yaml",), {"components": {"query": {"resources": {
        "requests": {"cpu": "0.5", "memory": "1024Mi"}, "limits": {"cpu": "500m", "memory": "1Gi"}}}}}))
    query = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"].endswith("-query"))
    assert query["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "0.5"


def test_notes_name_the_secrets_to_create(rendered: dict[str, Variant]) -> None:
    notes = render_notes(rendered["extranet"].values)
    assert "govshare-secrets" in notes
    for key in ("database-url", "redis-url", "internal-key", "token-private-key", "token-public-key"):
        assert key in notes
    assert "govshare-gateway-tls" in notes


def test_notes_say_what_each_tls_secret_holds_without_cert_manager() -> None:
    """The notes listed every TLS Secret, then "(tls.crt, tls.key, ca.crt)" after "govshare-console-tls (ca.crt
    only)", and said nothing of the names clients dial: an operator issuing the certificates by hand (no
    cert-manager, the extranet's LoadBalancer) gave the gateway the Service's names only, and every business
    system failed the TLS name check."""
    notes = render_notes(user_values(("values-extranet.yaml",)))
    lines = [line.strip() for line in notes.splitlines()]
    (listed,) = [line for line in lines if line.startswith("mTLS without cert-manager, each with tls.crt, tls.key and "
                                                            "ca.crt: ")]
    assert "console" not in listed and "govshare-gateway-tls" in listed
    assert "govshare-gateway-tls: its certificate also names the hosts clients dial, govshare.extranet.example.gov.cn" \
        in lines
    assert "govshare-console-tls: ca.crt only" in lines
    intranet = render_notes(user_values(("values-intranet.yaml",)))  # the Ingress presents the public certificate
    assert "hosts clients dial" not in intranet and "govshare-ingress-client-tls" in intranet



def test_notes_warn_of_a_load_balancer_open_to_every_address() -> None:
    """values-extranet.yaml leaves exposure.loadBalancer.sourceRanges and exposure.allowFrom empty (each site names
    its departments' ranges), and an operator who installed it as it is got a gateway taking connections from any
    address of the network, with nothing said. The notes now warn, until either restricts it."""
    warning = "WARNING: exposure.loadBalancer.sourceRanges and exposure.allowFrom are both empty"
    assert warning in render_notes(user_values(("values-extranet.yaml",)))
    for restricted in ({"exposure": {"loadBalancer": {"sourceRanges": ["10.100.0.0/16"]}}},
                       {"exposure": {"allowFrom": [{"ipBlock": {"cidr": "10.100.0.0/16"}}]}}):
        assert warning not in render_notes(user_values(("values-extranet.yaml",), restricted))
    assert warning not in render_notes(user_values(("values-intranet.yaml",)))


def test_notes_warn_of_the_example_host_left_in_place() -> None:
    """values-extranet.yaml and values-intranet.yaml name govshare.<zone>.example.gov.cn in exposure.hosts: a site
    file that did not set its own installed a gateway whose certificate (cert-manager) named only the example, or an
    intranet Ingress routing only the example host, every client's call by the real name failing, nothing said."""
    for file, consequence in (("values-extranet.yaml", "the gateway's certificate does not name them"),
                              ("values-intranet.yaml", "the Ingress routes no call for them")):
        notes = render_notes(user_values((file,)))
        assert "is the values files' example, not your host" in notes and consequence in notes
        own = render_notes(user_values((file,), {"exposure": {"hosts": ["govshare.zwfw.gd.gov.cn"]}}))
        assert "example, not your host" not in own


def test_notes_warn_when_mtls_is_off() -> None:
    """A release rendered with mtls.enabled false (a trial, or mtls.allowPlaintext) said nothing of it: its notes
    read as any install's, while the services called each other in plaintext and, behind the extranet's load
    balancer, the gateway took callers' bearer tokens in clear."""
    warning = "WARNING: mTLS is off"
    trial = render_notes(user_values(("values-extranet.yaml",), {"trial": {"enabled": True},
                                                                  "mtls": {"enabled": False}}))
    assert warning in trial and "a trial install" in trial
    assert "The gateway takes callers' bearer tokens in plaintext from the load balancer" in trial
    meant = render_notes(user_values(("values-intranet.yaml",), {"mtls": {"enabled": False, "allowPlaintext": True}}))
    assert warning in meant and "mtls.allowPlaintext" in meant and "load balancer" not in meant
    assert warning not in render_notes(user_values(("values-extranet.yaml",)))


def test_notes_name_each_secret_entry_under_the_secret_it_is_read_from() -> None:
    """docs/deploy.md lets an entry live in its own Secret (`--set secrets.databaseUrl.name=pg-credentials,
    secrets.databaseUrl.key=url`); the notes still listed every key under `secrets.existingSecret`
    ("govshare-secrets: url, redis-url, …"), telling the operator to put a `url` key in govshare-secrets, which no
    pod reads, and not naming pg-credentials at all."""
    values = user_values(("values-extranet.yaml",), {"secrets": {"databaseUrl": {"name": "pg-credentials",
                                                                                  "key": "url"}}})
    objects = render_chart(values)
    read_from = {(ref["name"], ref["key"]) for obj, spec in workloads(objects) for container in containers(spec)
                 for entry in container.get("env", []) if (ref := entry.get("valueFrom", {}).get("secretKeyRef"))}
    assert ("pg-credentials", "url") in read_from and ("govshare-secrets", "url") not in read_from
    lines = {line.strip().partition(": ")[0]: line.strip().partition(": ")[2].split(", ")
             for line in render_notes(values).splitlines() if line.startswith("  ") and ": " in line}
    assert lines["pg-credentials"] == ["url"]
    assert "url" not in lines["govshare-secrets"] and "database-url" not in lines["govshare-secrets"]
    assert lines["govshare-secrets"][:2] == ["redis-url", "internal-key"]

def _secrets_the_pods_need(objects: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(Secret, key) of every secretKeyRef and Secret volume a pod cannot start without; key "*" for a whole one."""
    needed: set[tuple[str, str]] = set()
    for _, spec in workloads(objects):
        sources = [v["secret"] | {"name": v["secret"]["secretName"]} for v in spec.get("volumes", []) if "secret" in v]
        sources += [src["secret"] for v in spec.get("volumes", []) if "projected" in v
                    for src in v["projected"]["sources"] if "secret" in src]
        sources += [e["valueFrom"]["secretKeyRef"] | {"items": [{"key": e["valueFrom"]["secretKeyRef"]["key"]}]}
                    for c in containers(spec) for e in c.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})]
        for source in sources:
            if not source.get("optional"):
                needed.update((source["name"], item["key"]) for item in source.get("items") or [{"key": "*"}])
    return needed


def test_notes_name_every_secret_a_pod_cannot_start_without() -> None:
    """The notes' "Secrets the pods read (create them before installing)" left out the console's own Redis URL
    (console.redisUrl), the read replica's URL (heavyReads.<service>.readReplica) and the sync's bundle key: an
    operator creating what the notes list had the console, the heavy-read pods or the import job in
    CreateContainerConfigError (secret "console-redis" not found) after `helm install`. Every Secret and key a pod
    needs is now listed, under the Secret it is read from."""
    for zone, sync in (("intranet", {"import": {"enabled": True}}), ("extranet", {"export": {"enabled": True}})):
        values = user_values((f"values-{zone}.yaml",), {
            "console": {"redisUrl": {"name": "console-redis", "key": "url"}},
            "heavyReads": {"query": {"enabled": True, "readReplica": True},
                           "catalog": {"enabled": True, "readReplica": True}},
            "sync": {**sync, "volume": {"existingClaim": "gate"}}, "database": {"ca": {"key": "database-ca"}},
            "telemetry": {"otlpEndpoint": "https://otel.example:4317", "otlpHeaders": {"key": "otlp-headers"},
                          "otlpCa": {"name": "otel-ca", "key": "ca"}}})
        listed: dict[str, list[str]] = {}
        for line in render_notes(values).split("Secrets the pods read")[1].split("Check the rollout")[0].splitlines():
            name, _, keys = line.strip().partition(": ")
            if name.startswith("mTLS without cert-manager"):
                listed.update((secret, ["*"]) for secret in keys.split())
            elif name.endswith("-tls"):
                listed[name] = ["*"]
            elif keys:
                listed[name] = keys.split(", ")
        needed = _secrets_the_pods_need(render_chart(values))
        assert {("console-redis", "url"), ("govshare-secrets", "database-read-url")} <= needed
        assert {(name, key) for name, key in needed if key not in listed.get(name, [])} == set(), zone


def test_a_site_may_set_min_available_without_unsetting_the_default_max_unavailable() -> None:
    """`components.query.podDisruptionBudget: {minAvailable: 2}` in a site's values was refused ("additional
    properties 'maxUnavailable' not allowed"): Helm merges the default `maxUnavailable: 1` into it, and the schema
    allowed only one of the two keys, though the template reads minAvailable first."""
    # Each below the component's fewest replicas (query 3, its heavy reads 2): one of every replica is refused.
    objects = render_chart(user_values(("values-extranet.yaml",), {
        "components": {"query": {"podDisruptionBudget": {"minAvailable": 2}}},
        "heavyReads": {"query": {"enabled": True, "podDisruptionBudget": {"minAvailable": 1}}}}))
    budgets = {o["metadata"]["name"]: o["spec"] for o in objects if o["kind"] == "PodDisruptionBudget"}
    for name, available in (("govshare-query", 2), ("govshare-query-heavy-reads", 1)):
        assert budgets[name]["minAvailable"] == available and "maxUnavailable" not in budgets[name]
    assert budgets["govshare-catalog"]["maxUnavailable"] == 1
    for version in KUBE_VERSIONS:
        assert _validate_all(objects, version) == []


#: Variables the chart sets on some containers that a site may still tune through extraEnv where the chart does
#: not set them: the services' drain (the chart sets it for the edge only), the heavy-read share (set only with a
#: read replica), the replicas' own snapshots (set only while the CronJob runs them).
TUNABLE_WHERE_UNSET = {"GOVSHARE_DRAIN_GRACE_SECONDS", "GOVSHARE_HEAVY_READ_SHARE",
                       "GOVSHARE_SUPERVISION_SNAPSHOT_SECONDS"}


def test_extra_env_cannot_set_again_what_the_chart_sets(rendered: dict[str, Variant]) -> None:
    """`config.extraEnv` / `components.<name>.extraEnv` / `console.extraEnv` refused only some of the variables
    the chart sets itself: GOVSHARE_RATE_LIMIT_PER_SECOND, GOVSHARE_CORS_ORIGINS, GOVSHARE_SUPERVISION_TARGET,
    GOVSHARE_OIDC_ISSUER, GOVSHARE_CONSOLE_GATEWAY… rendered a second definition in the same container, which
    silently beat the values knob (the last definition wins) and made Helm's upgrade patches of the env list
    unreliable. Every variable the chart sets, with a values knob of its own, is now refused there."""
    wide = user_values(("values-intranet.yaml",), {
        "heavyReads": {"catalog": {"enabled": True}, "query": {"enabled": True, "readReplica": True}},
        "edge": {"corsOrigins": ["https://console.example.gov.cn"]},
        "oidc": {"issuer": "https://sso.example.gov.cn/realms/gov", "audience": "govshare-console",
                 "jwksUrl": "https://sso.example.gov.cn/realms/gov/protocol/openid-connect/certs",
                 "networkPolicyTo": [{"cidr": "10.40.0.10/32", "ports": [443]}]},
        "console": {"oidc": {"authorizeUrl": "https://sso.example.gov.cn/auth", "displayName": "省统一身份认证平台",
                             "tokenUrl": "https://sso.example.gov.cn/token"}},
        "audit": {"retentionMonths": 36, "archive": {"existingClaim": "govshare-audit-archive"}},
        # GOVSHARE_HOLIDAYS_FILE, set (with its volume) only with config.holidays, was taken twice.
        "config": {"holidays": '[2027]\nholidays = ["2027-01-01"]\nworkdays = []\n'}})
    objects = [o for v in rendered.values() for o in v.objects] + render_chart(wide)
    names = {name for _, spec in workloads(objects) for c in containers(spec) for name in env_of(c)
             if not c["image"].startswith("docker.io/library/")}  # the trial's PostgreSQL and Redis
    assert {"GOVSHARE_RATE_LIMIT_PER_SECOND", "GOVSHARE_CONSOLE_GATEWAY", "GOVSHARE_HOLIDAYS_FILE"} <= names
    with helm.Chart.load(CHART) as chart:
        for name in sorted(names - TUNABLE_WHERE_UNSET):
            for values in ({"config": {"extraEnv": {name: "1"}}}, {"console": {"extraEnv": {name: "1"}}}):
                with pytest.raises(helm.HelmError):
                    chart.validate_schema(values)
        for name in TUNABLE_WHERE_UNSET:
            chart.validate_schema({"components": {"query": {"extraEnv": {name: "1"}}}})


@pytest.mark.parametrize(("secrets", "named"), [
    ({"databaseUrl": {"name": "pg-credentials", "key": "url"}},
     r'secrets.databaseUrl \(Secret "pg-credentials", key "url"\) is not used while trial.enabled is true: a trial'
     r" runs the release's own PostgreSQL, with the generated credentials of govshare-trial-credentials"),
    ({"databaseUrl": {"key": "external-database-url"}},
     r'secrets.databaseUrl \(Secret "govshare-secrets", key "external-database-url"\) is not used'),
    ({"redisUrl": {"name": "redis-credentials"}},
     r'secrets.redisUrl \(Secret "redis-credentials", key "redis-url"\) is not used .* own Redis'),
])
def test_a_trial_told_where_its_database_is_fails_the_render_naming_the_setting(secrets: dict, named: str) -> None:
    """A trial install pointed every process at its bundled PostgreSQL and Redis whatever secrets.databaseUrl and
    secrets.redisUrl said: an operator who named the Secret of the database to keep ran the platform on an empty
    bundled one, and nothing said so. The render now fails naming the setting and the two ways out."""
    with pytest.raises(helm.HelmError, match=named):
        render_chart(user_values(("values-extranet.yaml",), {"trial": {"enabled": True}, "mtls": {"enabled": False},
                                                              "secrets": secrets}))
    assert render_chart(user_values(("values-extranet.yaml",), {"secrets": secrets}))


def test_a_trial_with_a_redis_of_the_consoles_own_fails_the_render_naming_it() -> None:
    """console.redisUrl in a trial rendered the console reading its own Redis URL while its NetworkPolicy let it out
    to the trial's bundled Redis alone: whatever Redis the Secret named was out of reach (and the platform's events
    are published on the bundled one), so the console never started, and `helm install --wait` timed out."""
    trial = {"trial": {"enabled": True}, "mtls": {"enabled": False}}
    with pytest.raises(helm.HelmError, match=r'console.redisUrl \(Secret "console-redis", key "url"\) cannot be used '
                                              r"while trial.enabled is true: the console's NetworkPolicy lets it reach "
                                              r"the trial's bundled Redis only"):
        render_chart(user_values(("values-extranet.yaml",), {
            **trial, "console": {"redisUrl": {"name": "console-redis", "key": "url"}}}))


def test_a_trial_with_a_heavy_read_replica_fails_the_render_naming_it() -> None:
    """heavyReads.query.readReplica in a trial rendered the heavy-read pods reading database-read-url from
    govshare-secrets, which a trial's Secret does not hold (docs/deploy.md lists four keys): they stayed in
    CreateContainerConfigError and `helm install --wait` timed out; the bundled PostgreSQL has no replica anyway."""
    trial = {"trial": {"enabled": True}, "mtls": {"enabled": False}}
    with pytest.raises(helm.HelmError, match=r"heavyReads.query.readReplica is true while trial.enabled is true: the "
                                              r"trial's bundled PostgreSQL has no read replica"):
        render_chart(user_values(("values-extranet.yaml",), {
            **trial, "heavyReads": {"query": {"enabled": True, "readReplica": True}}}))
    assert render_chart(user_values(("values-extranet.yaml",), {
        **trial, "heavyReads": {"query": {"enabled": True, "readReplica": False}}}))


@pytest.mark.parametrize("file", ["values-extranet.yaml", "values-intranet.yaml"])
def test_mtls_turned_off_outside_a_trial_fails_the_render_unless_meant(file: str) -> None:
    """mtls.enabled: false rendered anywhere: every service and the edge listened in plaintext, the internal key,
    persons' tokens and the records crossing the cluster's network in clear (on the extranet, callers' bearer tokens
    through the load balancer), nothing said. Outside a trial it now takes mtls.allowPlaintext too."""
    with pytest.raises(helm.HelmError, match=r"mtls.enabled is false outside a trial install: every service and the "
                                              r"edge would listen in plaintext.*set mtls.allowPlaintext=true"):
        render_chart(user_values((file,), {"mtls": {"enabled": False}}))
    plain = render_chart(user_values((file,), {"mtls": {"enabled": False, "allowPlaintext": True}}))
    assert not any("GOVSHARE_TLS_CERT" in env_of(c) for _, spec in workloads(plain) for c in containers(spec))


@pytest.mark.parametrize(("overrides", "message"), [
    ({"console": {"sessionStore": "memory", "redisUrl": {"name": "console-redis", "key": "url"}}},
     r'console.redisUrl \(Secret "console-redis", key "url"\) is not used while console.sessionStore is memory: '
     r"the console keeps its sessions in each replica's memory and reaches no Redis. Set console.sessionStore=redis"),
    ({"heavyReads": {"query": {"readReplica": True}}},
     r"heavyReads.query.readReplica is true while heavyReads.query.enabled is false: no pod reads from the replica.*"
     r"Set heavyReads.query.enabled=true"),
])
def test_a_setting_another_makes_the_release_ignore_fails_the_render_naming_both(overrides: dict,
                                                                                   message: str) -> None:
    """console.redisUrl with in-memory sessions rendered a console reaching no Redis (the ACL user made for it never
    used, the sessions lost at every restart), and heavyReads.<service>.readReplica with that service's heavy-read
    replicas off rendered no pod reading the replica, the listings left on the primary; nothing said either."""
    with pytest.raises(helm.HelmError, match=message):
        render_chart(user_values(("values-intranet.yaml",), overrides))
    assert render_chart(user_values(("values-intranet.yaml",), {
        "console": {"sessionStore": "redis", "redisUrl": {"name": "console-redis", "key": "url"}},
        "heavyReads": {"query": {"enabled": True, "readReplica": True}}}))


def test_pod_monitors_on_a_cluster_without_the_prometheus_operator_fail_the_render_saying_so(
        rendered: dict[str, Variant]) -> None:
    """metrics.podMonitor.enabled rendered PodMonitors whatever the cluster served: without the Prometheus Operator
    `helm install` stopped on "no matches for kind PodMonitor", naming no value. The render now says what to do;
    with the Operator's API (the intranet-cert-manager variant) they render, and `helm lint`, which knows no cluster,
    still passes (test_lint_strict_passes)."""
    refused = (r"metrics.podMonitor.enabled is true but the cluster serves no monitoring.coreos.com/v1.*"
               r"pass --api-versions monitoring.coreos.com/v1")
    with pytest.raises(helm.HelmError, match=refused):
        render_chart(user_values(("values-intranet.yaml",), {"metrics": {"podMonitor": {"enabled": True}}}))
    assert rendered["intranet-cert-manager"].of_kind("PodMonitor")


def _settings_the_processes_read() -> set[str]:
    """Every GOVSHARE_* name the chart's processes (services, edge, console) name in their code. Not the list of
    every name any part of govshare reads (services/runtime/variables.py, the CLI's and the SDK's among them, and
    two misspelt examples), which `govshare up` checks its environment against."""
    names: set[str] = set()
    listed = CHART.parents[2] / "services" / "runtime" / "variables.py"
    for package in ("services", "gateway", "console"):
        for path in (CHART.parents[2] / package).rglob("*.py"):
            if path != listed:
                names.update(re.findall(r"\bGOVSHARE_[A-Z0-9_]*[A-Z0-9]\b", path.read_text(encoding="utf-8")))
    return names


@pytest.mark.parametrize(("where", "path"), [
    (("config",), "/config/extraEnv"),
    (("components", "query"), "/components/query/extraEnv"),
    (("heavyReads", "query"), "/heavyReads/query/extraEnv"),
    (("console",), "/console/extraEnv"),
])
def test_a_misspelt_setting_in_extra_env_fails_the_render_naming_it(where: tuple[str, ...], path: str) -> None:
    """`extraEnv: {GOVSHARE_DRAIN_TIMEOUT_SECOND: 40}` (the S missing) rendered: the pods got a variable no process
    reads, the drain stayed at its default, and nothing said so. A GOVSHARE_* name is now one the processes read,
    and helm names the map and the key; other names (TZ, OTEL_*, PYTHON*) still pass as given."""
    def values(env: dict[str, Any]) -> dict[str, Any]:
        tree: dict[str, Any] = {"extraEnv": env}
        for key in reversed(where):
            tree = {key: tree}
        return tree

    with helm.Chart.load(CHART) as chart:
        for typo in ("GOVSHARE_DRAIN_TIMEOUT_SECOND", "GOVSHARE_LOG_LEVLE", "GOVSHARE_"):
            with pytest.raises(helm.HelmError, match=rf"at '{path}': additional properties '{typo}' not allowed"):
                chart.validate_schema(values({typo: "40"}))
        chart.validate_schema(values({"GOVSHARE_DRAIN_TIMEOUT_SECONDS": 40, "TZ": "Asia/Shanghai",
                                      "PYTHONFAULTHANDLER": "1", "OTEL_BSP_MAX_QUEUE_SIZE": 4096, "GOVSHARE": "x",
                                      "GOVSHAREX": "x", "G": "x"}))


def test_extra_env_takes_every_setting_the_processes_read_that_the_chart_leaves_to_it() -> None:
    """The schema's list of GOVSHARE_* names is the code's: a setting added to the code and not to the list could
    not be set in a cluster, and one removed from the code would be taken and never read."""
    with open(CHART / "values.schema.json", encoding="utf-8") as f:
        env = json.load(f)["definitions"]["nonSecretEnv"]
    refused = env["propertyNames"]["not"]["anyOf"]
    left = {name for name in _settings_the_processes_read()
            if not re.search(refused[0]["pattern"], name) and name not in refused[1]["enum"]}
    assert set(env["properties"]) == left


def test_numbers_of_a_million_and_more_reach_the_processes_as_written() -> None:
    """Helm reads every number of a values file as a float64, and toString and quote print one from 10^6 up in
    exponent form: `edge.rateLimitBurst: 4000000` reached the edge's render as GOVSHARE_RATE_LIMIT_BURST="4e+06",
    `GOVSHARE_RECORD_LOCAL_CAPACITY: 1000000` in an extraEnv as "1e+06", which the processes' int() refuses, so
    the gateway's init container or every service pod stopped at start (CrashLoopBackOff) over a value the schema
    had taken. Whole numbers are now written out in digits wherever the chart passes one to a process."""
    objects = render_chart(user_values(("values-extranet.yaml",), {
        "edge": {"rateLimitPerSecond": 2000000, "rateLimitBurst": 4000000},
        "config": {"extraEnv": {"GOVSHARE_RECORD_LOCAL_CAPACITY": 1000000, "GOVSHARE_HEAVY_READ_SHARE": 0.5}},
        "components": {"query": {"extraEnv": {"GOVSHARE_AUDIT_VERIFY_PAGE_RECORDS": 1000000}}},
        "console": {"sessionIdleSeconds": 1000000, "extraEnv": {"GOVSHARE_CONSOLE_DEADLINE_WARNING_DAYS": 3}}}))
    written: dict[str, set[str]] = {}
    for _, spec in workloads(objects):
        for container in containers(spec):
            for name, env in env_of(container).items():
                if "value" in env:
                    written.setdefault(name, set()).add(env["value"])
    assert written["GOVSHARE_RATE_LIMIT_BURST"] == {"4000000"}
    assert written["GOVSHARE_RATE_LIMIT_PER_SECOND"] == {"2000000"}
    assert written["GOVSHARE_RECORD_LOCAL_CAPACITY"] == {"1000000"}
    assert written["GOVSHARE_AUDIT_VERIFY_PAGE_RECORDS"] == {"1000000"}
    assert written["GOVSHARE_HEAVY_READ_SHARE"] == {"0.5"}
    assert written["GOVSHARE_CONSOLE_SESSION_IDLE_SECONDS"] == {"1000000"}
    assert written["GOVSHARE_CONSOLE_DEADLINE_WARNING_DAYS"] == {"3"}
    # What the processes make of them.
    errors: list[str] = []
    parsed = settings._parse_env("gateway", {name: next(iter(written[name])) for name in (
        "GOVSHARE_RATE_LIMIT_BURST", "GOVSHARE_RECORD_LOCAL_CAPACITY", "GOVSHARE_AUDIT_VERIFY_PAGE_RECORDS")}, errors)
    assert errors == []
    assert (parsed["rate_limit_burst"], parsed["record_local_capacity"]) == (4000000, 1000000)


def _typed_settings() -> dict[str, tuple[type, float, float]]:
    """The extraEnv settings the processes read as numbers, each with its type and range (the code's tables)."""
    taken: dict[str, tuple[type, float, float]] = {
        supervision.HUNG_SECONDS_VARIABLE: (float, supervision.HUNG_SECONDS_MIN, supervision.HUNG_SECONDS_MAX),
        "GOVSHARE_CONSOLE_PAGE_SIZE": (int, 1, MAX_PAGE_SIZE),
        "GOVSHARE_CONSOLE_DEADLINE_WARNING_DAYS": (int, 0, 2**31 - 1)}
    taken |= {name: (int, low, high) for name, (_, low, high) in settings._INT_FIELDS.items()}
    taken |= {name: (float, low, high) for name, (_, low, high) in settings._FLOAT_FIELDS.items()}
    with open(CHART / "values.schema.json", encoding="utf-8") as f:
        extra_env = json.load(f)["definitions"]["nonSecretEnv"]["properties"]
    return {name: typed for name, typed in taken.items() if name in extra_env}


def _bound(value: float) -> str:
    return format(value, "f").rstrip("0").rstrip(".") or "0"


def test_an_extra_env_value_the_processes_would_refuse_fails_the_render_naming_each() -> None:
    """The schema checked extraEnv's names, not its values: `GOVSHARE_DRAIN_TIMEOUT_SECONDS: 40s`, a token lifetime
    of 30 s or a page size of 0 rendered, and every pod the map reached stopped at start (exit 2, CrashLoopBackOff)
    until `helm install --wait` timed out. The render now names every such value with what the processes take;
    a number may be a YAML number or a string, as before."""
    typed = _typed_settings()
    with open(CHART / "values.schema.json", encoding="utf-8") as f:
        extra_env = json.load(f)["definitions"]["nonSecretEnv"]["properties"]
    # The chart checks exactly the settings the processes type: every other one takes any text.
    with pytest.raises(helm.HelmError) as refused:
        render_chart(user_values(("values-extranet.yaml",), {"config": {"extraEnv": dict.fromkeys(extra_env, "x")}}))
    assert set(re.findall(r"config\.extraEnv\.(\w+) is \"x\"", str(refused.value))) == {
        *typed, "GOVSHARE_CONSOLE_SECURE_COOKIE"}
    # Below and above the code's ranges, each named with its range.
    for side in ("below", "above"):
        env = {name: (low - 1 if kind is int or low == 0 else low / 2) if side == "below" else high + 1
               for name, (kind, low, high) in typed.items()}
        with pytest.raises(helm.HelmError) as refused:
            render_chart(user_values(("values-extranet.yaml",), {
                "config": {"extraEnv": {k: v for k, v in env.items() if not k.startswith("GOVSHARE_CONSOLE_")}},
                "console": {"extraEnv": {k: v for k, v in env.items() if k.startswith("GOVSHARE_CONSOLE_")}}}))
        for name, (kind, low, high) in typed.items():
            what = "a whole number" if kind is int else "a number"
            where = "console" if name.startswith("GOVSHARE_CONSOLE_") else "config"
            assert (f'{where}.extraEnv.{name} is "{_bound(env[name])}": the processes take {what} from '
                    f"{_bound(low)} to {_bound(high)}") in str(refused.value)
    # Values of another shape, wherever an extraEnv is.
    for overrides, message in (
            ({"components": {"query": {"extraEnv": {"GOVSHARE_DRAIN_TIMEOUT_SECONDS": "40s"}}}},
             r'components\.query\.extraEnv\.GOVSHARE_DRAIN_TIMEOUT_SECONDS is "40s": the processes take a number '
             r"from 0 to 3600, and would refuse it at start"),
            ({"heavyReads": {"query": {"enabled": True, "extraEnv": {"GOVSHARE_DB_SEARCH_POOL_SIZE": 2.5}}}},
             r'heavyReads\.query\.extraEnv\.GOVSHARE_DB_SEARCH_POOL_SIZE is "2\.5": the processes take a whole'),
            ({"console": {"extraEnv": {"GOVSHARE_CONSOLE_PAGE_SIZE": "1e3"}}},
             r'console\.extraEnv\.GOVSHARE_CONSOLE_PAGE_SIZE is "1e3": the processes take a whole number from 1'),
            ({"config": {"extraEnv": {"GOVSHARE_AUDIT_FLUSH_MS": True}}},
             r'config\.extraEnv\.GOVSHARE_AUDIT_FLUSH_MS is "true": the processes take a number')):
        with pytest.raises(helm.HelmError, match=message):
            render_chart(user_values(("values-extranet.yaml",), overrides))
    # The bounds themselves render, as strings or numbers, and the processes read them as written.
    services = {name: bounds for name, bounds in typed.items() if not name.startswith("GOVSHARE_CONSOLE_")}
    objects = render_chart(user_values(("values-extranet.yaml",), {
        "terminationGracePeriodSeconds": 4000,
        "config": {"extraEnv": {name: f" {_bound(low)} " for name, (_, low, _) in services.items()}},
        "components": {"query": {"extraEnv": {name: high for name, (_, _, high) in services.items()}}},
        "console": {"extraEnv": {**{name: high for name, (_, _, high) in typed.items() if name not in services},
                                 "GOVSHARE_CONSOLE_SECURE_COOKIE": False}}}))
    query = next(c for _, spec in workloads(objects) for c in containers(spec) if c["name"] == "query")
    errors: list[str] = []
    settings._parse_env("query", {name: e["value"] for name, e in env_of(query).items() if name in typed}, errors)
    assert errors == []


def test_a_boolean_in_an_extra_env_takes_the_words_every_process_reads() -> None:
    """The console took only true or false for GOVSHARE_CONSOLE_SECURE_COOKIE, where every other process takes
    1/0, yes/no, on/off too: `"off"` in console.extraEnv stopped the console at start. The console and the render's
    check now take the services' words, and refuse any other, named."""
    for word in settings.TRUE_WORDS + settings.FALSE_WORDS:
        objects = render_chart(user_values(("values-extranet.yaml",), {
            "console": {"extraEnv": {"GOVSHARE_CONSOLE_SECURE_COOKIE": word.upper()}}}))
        console = next(c for _, spec in workloads(objects) for c in containers(spec) if c["name"] == "console")
        written = env_of(console)["GOVSHARE_CONSOLE_SECURE_COOKIE"]["value"]
        assert load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "gateway:50051",
                                      "GOVSHARE_CONSOLE_SECURE_COOKIE": written}).secure_cookie is (
            word in settings.TRUE_WORDS)
    with pytest.raises(helm.HelmError, match=r'console\.extraEnv\.GOVSHARE_CONSOLE_SECURE_COOKIE is "disabled": the '
                                              r"processes take true or false"):
        render_chart(user_values(("values-extranet.yaml",), {
            "console": {"extraEnv": {"GOVSHARE_CONSOLE_SECURE_COOKIE": "disabled"}}}))


def test_the_edges_and_the_consoles_numbers_are_bounded_as_their_processes_bound_them() -> None:
    """edge.rateLimitBurst, edge.rateLimitPerSecond and console.sessionIdleSeconds had a minimum and no maximum (the
    rate a minimum of 0, exclusive): a burst of 2*10^7, a rate of 10^10 or of 0.0001 rendered, and the gateway's
    render-edge init container refused it at start (GOVSHARE_RATE_LIMIT_BURST must be between 1 and 10000000), every
    gateway pod in Init:CrashLoopBackOff. The schema now takes what the processes take, and names the key."""
    _, burst_low, burst_high = settings._INT_FIELDS["GOVSHARE_RATE_LIMIT_BURST"]
    _, rate_low, rate_high = settings._FLOAT_FIELDS["GOVSHARE_RATE_LIMIT_PER_SECOND"]
    for overrides, path in (({"edge": {"rateLimitBurst": burst_high + 1}}, "/edge/rateLimitBurst"),
                            ({"edge": {"rateLimitPerSecond": rate_high * 10}}, "/edge/rateLimitPerSecond"),
                            ({"edge": {"rateLimitPerSecond": rate_low / 2}}, "/edge/rateLimitPerSecond"),
                            ({"console": {"sessionIdleSeconds": 2**31}}, "/console/sessionIdleSeconds")):
        with pytest.raises(helm.HelmError, match=rf"at '{path}': m"):
            render_chart(user_values(("values-extranet.yaml",), overrides))
    objects = render_chart(user_values(("values-extranet.yaml",), {
        "edge": {"rateLimitBurst": burst_high, "rateLimitPerSecond": burst_high},
        "console": {"sessionIdleSeconds": 2**31 - 1}}))
    env = {name: e["value"] for _, spec in workloads(objects) for c in containers(spec)
           for name, e in env_of(c).items() if name.startswith(("GOVSHARE_RATE", "GOVSHARE_CONSOLE_SESSION"))}
    errors: list[str] = []
    settings._parse_env("gateway", env, errors)
    assert errors == [] and env["GOVSHARE_CONSOLE_SESSION_IDLE_SECONDS"] == str(2**31 - 1)
    with open(CHART / "values.schema.json", encoding="utf-8") as f:
        edge = json.load(f)["properties"]["edge"]["properties"]
    assert (edge["rateLimitBurst"]["minimum"], edge["rateLimitBurst"]["maximum"]) == (burst_low, burst_high)
    assert (edge["rateLimitPerSecond"]["minimum"], edge["rateLimitPerSecond"]["maximum"]) == (rate_low, rate_high)


@pytest.mark.parametrize(("where", "path"), [
    (("console", "redisUrl"), "console.redisUrl"),
    (("database", "ca"), "database.ca"),
    (("redis", "ca"), "redis.ca"),
    (("telemetry", "otlpHeaders"), "telemetry.otlpHeaders"),
    (("telemetry", "otlpCa"), "telemetry.otlpCa"),
])
def test_an_optional_secret_named_without_its_key_fails_the_render_naming_it(where: tuple[str, str],
                                                                            path: str) -> None:
    """An optional Secret reference's key "" means none (the console's Redis URL: the platform's), and its name was
    then ignored: console.redisUrl: {name: console-redis} with the key forgotten gave the console the platform's
    own Redis URL, every key and PUBLISH, not the ACL user's made for it; a CA or the collector's credential named
    that way was left out without a word. The render now names the value and the two ways out."""
    overrides: dict[str, Any] = {where[0]: {where[1]: {"name": "site-secret", "key": ""}}}
    if where[0] == "telemetry":
        overrides["telemetry"]["otlpEndpoint"] = "https://otel.example.gov.cn:4317"
    with pytest.raises(helm.HelmError, match=rf'{re.escape(path)} names the Secret "site-secret" but no key: give '
                                              rf"the key in it that holds the value \({re.escape(path)}\.key\)"):
        render_chart(user_values(("values-intranet.yaml",), overrides))


def test_a_setting_in_the_extra_env_of_a_process_that_never_reads_it_fails_the_render_naming_it() -> None:
    """console.extraEnv took any setting a process reads, components.<name>.extraEnv and config.extraEnv took the
    console's: `console.extraEnv: {GOVSHARE_DRAIN_TIMEOUT_SECONDS: 40}` or `config.extraEnv:
    {GOVSHARE_CONSOLE_PAGE_SIZE: 50}` rendered, was set where nothing reads it, and the setting stayed at its default
    without a word; GOVSHARE_CONSOLE_TLS_CERT could never work (its key, GOVSHARE_CONSOLE_TLS_KEY, is refused in
    every extraEnv), the console stopping at start. Each is now named with where it goes."""
    # The console's typed settings the check knows are every GOVSHARE_CONSOLE_* extraEnv takes that the console reads.
    console_code = {name for path in (CHART.parents[2] / "console").rglob("*.py")
                    for name in re.findall(r"\bGOVSHARE_CONSOLE_[A-Z0-9_]*[A-Z0-9]\b",
                                           path.read_text(encoding="utf-8"))}
    with open(CHART / "values.schema.json", encoding="utf-8") as f:
        extra_env = set(json.load(f)["definitions"]["nonSecretEnv"]["properties"])
    typed = {name for name in _typed_settings() if name.startswith("GOVSHARE_CONSOLE_")}
    # Besides the typed ones: the boolean (the proxy's header name is console.clientAddressHeader's).
    assert (console_code & extra_env) - {"GOVSHARE_CONSOLE_TLS_CERT"} == typed | {"GOVSHARE_CONSOLE_SECURE_COOKIE"}
    with pytest.raises(helm.HelmError) as refused:
        render_chart(user_values(("values-extranet.yaml",), {
            "console": {"extraEnv": {"GOVSHARE_DRAIN_TIMEOUT_SECONDS": 40, "GOVSHARE_CONSOLE_TLS_CERT": "/tls.crt"}},
            "config": {"extraEnv": {"GOVSHARE_CONSOLE_PAGE_SIZE": 50}},
            "heavyReads": {"catalog": {"extraEnv": {"GOVSHARE_CONSOLE_SECURE_COOKIE": "false"}}}}))
    for said in ("console.extraEnv.GOVSHARE_DRAIN_TIMEOUT_SECONDS: the console does not read it (it would be set and "
                 "ignored); a service's setting goes in config.extraEnv or components.<name>.extraEnv",
                 "config.extraEnv.GOVSHARE_CONSOLE_PAGE_SIZE: only the console reads it (it would be set and "
                 "ignored); put it in console.extraEnv",
                 "heavyReads.catalog.extraEnv.GOVSHARE_CONSOLE_SECURE_COOKIE: only the console reads it",
                 "console.extraEnv.GOVSHARE_CONSOLE_TLS_CERT: the console's own HTTPS needs GOVSHARE_CONSOLE_TLS_KEY "
                 "too, which no values file may hold"):
        assert said in str(refused.value)
    render_chart(user_values(("values-extranet.yaml",), {
        "console": {"extraEnv": {"GOVSHARE_CALL_TIMEOUT_SECONDS": 10, "GOVSHARE_CONSOLE_PAGE_SIZE": 50, "TZ": "UTC"}},
        "config": {"extraEnv": {"GOVSHARE_CALL_TIMEOUT_SECONDS": 10}}}))


def test_an_idp_the_network_policies_would_not_let_anyone_reach_fails_the_render_naming_it() -> None:
    """oidc.issuer with oidc.networkPolicyTo left [] rendered an authorization NetworkPolicy letting nothing out to
    the IdP, and a console.oidc.tokenUrl on a port networkPolicyTo does not name (8443 beside [443]) a console that
    could not redeem a code: the release installed and looked healthy, and every sign-in through the IdP failed.
    The render now names the URL, its port and what to add."""
    oidc = {"issuer": "https://sso.example.gov.cn/realms/gov", "audience": "govshare-console",
            "jwksUrl": "https://sso.example.gov.cn/realms/gov/protocol/openid-connect/certs"}
    console = {"oidc": {"authorizeUrl": "https://sso.example.gov.cn/auth",
                        "tokenUrl": "https://sso.example.gov.cn:8443/token"}}
    with pytest.raises(helm.HelmError, match=r"oidc\.jwksUrl \(https://sso\.example\.gov\.cn/realms/gov/protocol/"
                                              r"openid-connect/certs\) is reached on port 443, which "
                                              r"oidc\.networkPolicyTo does not let out \(it is empty\)"):
        render_chart(user_values(("values-intranet.yaml",), {"oidc": oidc}))
    reachable = {**oidc, "networkPolicyTo": [{"cidr": "10.40.0.10/32", "ports": [443]}]}
    with pytest.raises(helm.HelmError, match=r"console\.oidc\.tokenUrl \(https://sso\.example\.gov\.cn:8443/token\) is "
                                              r"reached on port 8443, which oidc\.networkPolicyTo does not let out "
                                              r"\(ports \[443\]\).*ports: \[8443\]"):
        render_chart(user_values(("values-intranet.yaml",), {"oidc": reachable, "console": console}))
    render_chart(user_values(("values-intranet.yaml",), {"oidc": {
        **reachable, "networkPolicyTo": [{"cidr": "10.40.0.10/32", "ports": [443]},
                                         {"cidr": "10.40.0.11/32", "ports": [8443]}]}, "console": console}))
