"""The chart deploys the web console as its own component: a Deployment with HTTP probes, a Service (sessions in
Redis by default, so no sessionAffinity; with in-memory sessions the Service keeps a browser on one replica), a
NetworkPolicy that lets it reach the gateway and, for the sessions, Redis, and nothing else, no secret in its
environment but the Redis URL, TLS to the edge verified by the mesh CA, and an HTTPS Ingress of its own when
asked."""

from __future__ import annotations

import helm_python as helm
import pytest
from chart_harness import (
    CHART,
    RELEASE,
    Variant,
    containers,
    env_of,
    pod_spec,
    render_chart,
    render_notes,
    selector_matches,
    user_values,
)
from test_deploy_policies import _peer_components, _ports


def _console(variant: Variant) -> tuple[dict, dict]:  # type: ignore[type-arg]
    deployment = variant.component("Deployment", "console")
    (container,) = containers(pod_spec(deployment))
    return deployment, container


def test_the_console_is_its_own_component_with_http_probes(variant: Variant) -> None:
    deployment, container = _console(variant)
    assert container["args"] == ["serve", "console"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}
    service = variant.component("Service", "console")
    assert service["spec"]["type"] == "ClusterIP" and "sessionAffinity" not in service["spec"]  # sessions in Redis
    assert selector_matches({"matchLabels": service["spec"]["selector"]},
                            deployment["spec"]["template"]["metadata"]["labels"])
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod_spec(deployment)["automountServiceAccountToken"] is False


def test_the_console_holds_no_secret_but_the_redis_url_and_calls_only_the_gateway_and_redis(variant: Variant) -> None:
    _deployment, container = _console(variant)
    env = env_of(container)
    assert [name for name, entry in env.items() if "valueFrom" in entry] == ["GOVSHARE_REDIS_URL"]
    assert env["GOVSHARE_CONSOLE_GATEWAY"]["value"].startswith(f"{RELEASE}-gateway.")
    assert not any(k in env for k in ("GOVSHARE_DATABASE_URL", "GOVSHARE_INTERNAL_KEY", "GOVSHARE_TOKEN_PRIVATE_KEY"))
    egress = variant.component("NetworkPolicy", "console")["spec"]["egress"]
    in_mesh = [r for r in egress if any("podSelector" in p and "namespaceSelector" not in p for p in r.get("to", []))]
    peers = [(_peer_components(r["to"]), _ports(r)) for r in in_mesh]
    assert ({"gateway"}, {50051}) in peers
    assert set().union(*(components for components, _ in peers)) <= {"gateway", "redis"}
    assert any(6379 in _ports(r) for r in egress)


def test_with_in_memory_sessions_the_console_gets_no_redis_and_a_sticky_service() -> None:
    objects = render_chart(user_values(("values-extranet.yaml",), {"console": {"sessionStore": "memory"}}))
    (service,) = [o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == f"{RELEASE}-console"]
    assert service["spec"]["sessionAffinity"] == "ClientIP"
    (deployment,) = [o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == f"{RELEASE}-console"]
    (container,) = containers(pod_spec(deployment))
    assert not [name for name, entry in env_of(container).items() if "valueFrom" in entry], "no secret at all"
    (policy,) = [o for o in objects if o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == f"{RELEASE}-console"]
    assert not any(6379 in _ports(r) for r in policy["spec"]["egress"])


def test_the_console_can_have_a_redis_url_of_its_own() -> None:
    objects = render_chart(user_values(("values-extranet.yaml",), {
        "console": {"redisUrl": {"name": "console-redis", "key": "url"}}}))
    (deployment,) = [o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == f"{RELEASE}-console"]
    (container,) = containers(pod_spec(deployment))
    env = env_of(container)
    assert env["GOVSHARE_CONSOLE_REDIS_URL"]["valueFrom"]["secretKeyRef"] == {"name": "console-redis", "key": "url"}
    assert "GOVSHARE_REDIS_URL" not in env


def test_under_mtls_the_console_verifies_the_edge_with_the_mesh_ca(rendered: dict[str, Variant]) -> None:
    _deployment, container = _console(rendered["intranet-cert-manager"])
    assert env_of(container)["GOVSHARE_CONSOLE_GATEWAY_CA"]["value"] == "/etc/govshare/tls/ca.crt"
    certificate = rendered["intranet-cert-manager"].component("Certificate", "console")
    assert certificate["spec"]["usages"][-1] == "client auth"
    _deployment, plain = _console(rendered["extranet-trial"])
    assert "GOVSHARE_CONSOLE_GATEWAY_CA" not in env_of(plain)


def test_the_console_gets_its_own_https_ingress_when_asked() -> None:
    objects = render_chart(user_values(("values-extranet.yaml",), {
        "exposure": {"type": "Ingress", "hosts": ["share.example.gov.cn"],
                     "ingress": {"tlsSecretName": "share-tls"}},
        "console": {"hosts": ["console.example.gov.cn"], "tlsSecretName": "console-tls"}}))
    (ingress,) = [o for o in objects if o["kind"] == "Ingress" and o["metadata"]["name"] == f"{RELEASE}-console"]
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "console.example.gov.cn"
    assert rule["http"]["paths"][0]["backend"]["service"] == {"name": f"{RELEASE}-console", "port": {"name": "http"}}
    assert ingress["spec"]["tls"] == [{"hosts": ["console.example.gov.cn"], "secretName": "console-tls"}]


def test_with_in_memory_sessions_the_consoles_ingress_keeps_a_browser_on_one_replica() -> None:
    """With console.sessionStore memory the Service set sessionAffinity: ClientIP, but the console's Ingress goes
    through ingress-nginx, which sends requests to the pods' endpoints itself, past the Service: a browser's
    requests were spread over the replicas, each knowing only the sessions it made, and a person signed in to the
    two default replicas was signed out on about every other click. The Ingress now asks ingress-nginx for a cookie
    of its own (Secure, a site's annotations win); another controller's equivalent is the site's to give."""
    def ingress(store: str, annotations: dict, controller: str = "ingress-nginx") -> dict:
        objects = render_chart(user_values(("values-extranet.yaml",), {
            "exposure": {"ingress": {"controller": controller}},
            "console": {"sessionStore": store, "hosts": ["console.example.gov.cn"], "tlsSecretName": "console-tls",
                        "ingressAnnotations": annotations}}))
        (found,) = [o for o in objects if o["kind"] == "Ingress" and o["metadata"]["name"] == f"{RELEASE}-console"]
        return found["metadata"].get("annotations", {})

    sticky = ingress("memory", {"example.com/owner": "ops"})
    assert sticky["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    assert sticky["nginx.ingress.kubernetes.io/session-cookie-secure"] == "true"
    assert sticky["example.com/owner"] == "ops"
    assert ingress("memory", {"nginx.ingress.kubernetes.io/session-cookie-name": "route"})[
        "nginx.ingress.kubernetes.io/session-cookie-name"] == "route"
    assert "nginx.ingress.kubernetes.io/affinity" not in ingress("redis", {})  # any replica serves any browser
    assert ingress("memory", {}, controller="other") == {}


def test_the_console_can_be_left_out() -> None:
    objects = render_chart(user_values(("values-extranet.yaml",), {"console": {"enabled": False}}))
    assert not [o for o in objects if o["metadata"]["name"] == f"{RELEASE}-console"]


def test_the_notes_say_where_the_console_is(rendered: dict[str, Variant]) -> None:
    notes = render_notes(rendered["extranet"].values)
    assert f"Service {RELEASE}-console, port 8080" in notes
    assert "Sessions are in Redis" in notes and "no sessionAffinity needed" in notes
    assert f"{RELEASE}-console-tls: ca.crt only" in notes  # mTLS from Secrets: the console's CA file too
    with_host = render_notes(user_values(("values-extranet.yaml",), {
        "exposure": {"type": "Ingress", "hosts": ["share.example.gov.cn"], "ingress": {"tlsSecretName": "s"}},
        "console": {"hosts": ["console.example.gov.cn"], "tlsSecretName": "c"}}))
    assert "https://console.example.gov.cn/" in with_host


REALM = "https://sso.example.gov.cn/realms/gov/protocol/openid-connect"
OIDC = {"issuer": "https://sso.example.gov.cn/realms/gov", "jwksUrl": f"{REALM}/certs",
        "audience": "govshare-console", "networkPolicyTo": [{"cidr": "10.40.0.10/32", "ports": [443]}]}


def test_the_consoles_oidc_values_become_its_environment_and_its_egress_to_the_idp() -> None:
    objects = render_chart(user_values(("values-extranet.yaml",), {"oidc": OIDC, "console": {"oidc": {
        "authorizeUrl": f"{REALM}/auth", "tokenUrl": f"{REALM}/token", "displayName": "省统一身份认证平台",
        "redirectUrl": "https://console.example.gov.cn/oidc/callback", "logoutUrl": f"{REALM}/logout"}}}))
    (deployment,) = [o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == f"{RELEASE}-console"]
    (container,) = containers(pod_spec(deployment))
    env = {name: entry["value"] for name, entry in env_of(container).items()
           if name.startswith("GOVSHARE_CONSOLE_OIDC")}
    assert env == {"GOVSHARE_CONSOLE_OIDC_AUTHORIZE_URL": f"{REALM}/auth",
                   "GOVSHARE_CONSOLE_OIDC_TOKEN_URL": f"{REALM}/token",
                   "GOVSHARE_CONSOLE_OIDC_CLIENT_ID": "govshare-console",  # the audience: the same client
                   "GOVSHARE_CONSOLE_OIDC_REDIRECT_URL": "https://console.example.gov.cn/oidc/callback",
                   "GOVSHARE_CONSOLE_OIDC_DISPLAY_NAME": "省统一身份认证平台",
                   "GOVSHARE_CONSOLE_OIDC_LOGOUT_URL": f"{REALM}/logout"}
    # A public client: no client secret. The only secret the console reads is where its sessions live.
    secret_env = {name for name, entry in env_of(container).items() if "valueFrom" in entry}
    assert secret_env <= {"GOVSHARE_REDIS_URL", "GOVSHARE_CONSOLE_REDIS_URL"}, secret_env
    (policy,) = [o for o in objects if o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == f"{RELEASE}-console"]
    assert {"to": [{"ipBlock": {"cidr": "10.40.0.10/32"}}], "ports": [{"protocol": "TCP", "port": 443}]} \
        in policy["spec"]["egress"]


def test_without_oidc_values_the_console_has_no_oidc_setting_and_no_egress_to_an_idp(variant: Variant) -> None:
    _deployment, container = _console(variant)
    assert not [name for name in env_of(container) if name.startswith("GOVSHARE_CONSOLE_OIDC")]
    egress = variant.component("NetworkPolicy", "console")["spec"]["egress"]
    assert not [r for r in egress if any("ipBlock" in p for p in r.get("to", []))]


def test_the_consoles_oidc_needs_the_platform_to_verify_its_tokens() -> None:
    with pytest.raises(helm.HelmError, match=r"needs oidc\.issuer"):
        render_chart(user_values(("values-extranet.yaml",), {"console": {"oidc": {
            "authorizeUrl": f"{REALM}/auth", "tokenUrl": f"{REALM}/token", "clientId": "govshare-console"}}}))


def test_the_consoles_hosts_get_their_ingress_on_the_extranet_too() -> None:
    """console.hosts rendered an Ingress only with exposure.type Ingress: on the extranet, whose gateway is a
    LoadBalancer, an operator's console.hosts and tlsSecretName were ignored without a word, and the console had no
    address but a port-forward."""
    values = user_values(("values-extranet.yaml",), {
        "console": {"hosts": ["console.extranet.example.gov.cn"], "tlsSecretName": "console-public-tls"}})
    objects = render_chart(values)
    (ingress,) = [o for o in objects if o["kind"] == "Ingress"]
    assert ingress["metadata"]["name"] == f"{RELEASE}-console"
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"hosts": ["console.extranet.example.gov.cn"],
                                       "secretName": "console-public-tls"}]
    assert "https://console.extranet.example.gov.cn/" in render_notes(values)
    assert not [o for o in render_chart(user_values(("values-extranet.yaml",))) if o["kind"] == "Ingress"]


def test_behind_its_ingress_the_console_reads_the_browsers_address_from_the_proxys_header(variant: Variant) -> None:
    """Failed sign-ins are counted per client address (ADDRESS_LOCKED), the console passing the browser's: behind
    its Ingress the console set no GOVSHARE_CONSOLE_CLIENT_ADDRESS_HEADER, so every browser's address was the
    ingress controller pod's, inside GOVSHARE_SIGNIN_FORWARDERS, and no failed console sign-in was ever counted
    against anyone. console.clientAddressHeader (X-Forwarded-For, what ingress-nginx sets) now gives it; "" sets
    none; console.extraEnv may not set it a second time."""
    _deployment, container = _console(variant)
    assert env_of(container)["GOVSHARE_CONSOLE_CLIENT_ADDRESS_HEADER"]["value"] == "X-Forwarded-For"
    for header, expected in (("X-Real-IP", {"X-Real-IP"}), ("", set())):
        values = user_values(("values-extranet.yaml",), {"console": {"clientAddressHeader": header}})
        (deployment,) = [o for o in render_chart(values) if o["kind"] == "Deployment"
                         and o["metadata"]["name"] == f"{RELEASE}-console"]
        env = env_of(containers(pod_spec(deployment))[0])
        assert {e["value"] for name, e in env.items() if name == "GOVSHARE_CONSOLE_CLIENT_ADDRESS_HEADER"} == expected
    with helm.Chart.load(CHART) as chart:
        chart.validate_schema({"console": {"clientAddressHeader": ""}})
        for refused in ({"console": {"clientAddressHeader": "X-Forwarded-For: 1.2.3.4"}},
                        {"console": {"extraEnv": {"GOVSHARE_CONSOLE_CLIENT_ADDRESS_HEADER": "X-Real-IP"}}}):
            with pytest.raises(helm.HelmError):
                chart.validate_schema(refused)


def test_the_notes_say_what_counting_failed_sign_ins_per_address_needs(rendered: dict[str, Variant]) -> None:
    """Failed sign-ins are counted per client address, but the install said nothing of what that needs: with
    externalTrafficPolicy Cluster, behind the gateway's Ingress, with GOVSHARE_SIGNIN_FORWARDERS at its default
    (every private address, the intranet's clients among them) or a console anyone may reach and tell its
    browser's address to, the count was silently void (or one sprayer locked every client out). The notes now say
    which of these the values miss."""
    extranet = render_notes(rendered["extranet"].values)
    assert "keeps the clients' addresses (externalTrafficPolicy: Local)" in extranet
    assert "WARNING: console.allowFrom is empty: any pod may reach the console and write the X-Forwarded-For" \
        in extranet
    assert "GOVSHARE_SIGNIN_FORWARDERS is its default" in extranet
    intranet = render_notes(rendered["intranet"].values)
    assert "the gateway sees the ingress controller's address for every client of its Ingress" in intranet
    assert "counts against no one, as most of the intranet's do" in intranet
    narrowed = render_notes(user_values(("values-extranet.yaml",), {
        "exposure": {"loadBalancer": {"externalTrafficPolicy": "Cluster"}},
        "config": {"extraEnv": {"GOVSHARE_SIGNIN_FORWARDERS": "10.244.0.0/16"}},
        "console": {"allowFrom": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}}}]}}))
    assert "WARNING: exposure.loadBalancer.externalTrafficPolicy is Cluster" in narrowed
    assert "exposure.allowFrom's address blocks then meet the node's address" not in narrowed
    fenced = render_notes(user_values(("values-extranet.yaml",), {"exposure": {
        "allowFrom": [{"ipBlock": {"cidr": "10.100.0.0/16"}}], "loadBalancer": {"externalTrafficPolicy": "Cluster"}}}))
    assert "exposure.allowFrom's address blocks then meet the node's address" in fenced
    assert "GOVSHARE_SIGNIN_FORWARDERS is its default" not in narrowed
    assert "console.allowFrom is empty" not in narrowed
