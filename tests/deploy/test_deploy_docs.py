"""docs/deploy.md stays in step with the chart it documents."""

from __future__ import annotations

import base64
import itertools
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from chart_harness import (
    CALLERS,
    CALLS,
    CHART,
    COMPONENTS,
    REPO,
    VARIANTS,
    containers,
    pod_spec,
    render_chart,
    user_values,
    workloads,
)

from console import oidc, sessions
from gateway.edge import JWKS_CACHE_SECONDS
from services.runtime import cache
from services.runtime.identity import Caller
from services.runtime.keys import generate_keys
from services.runtime.tokens import TokenVerifier, issue_token, jwks

DOC = REPO / "docs" / "deploy.md"


def test_paths_in_the_guide_exist() -> None:
    text = DOC.read_text(encoding="utf-8")
    # Whole paths only: "values-<zone>.yaml" is a pattern, not a file.
    paths = set(re.findall(r"(deploy/k8s/[\w./-]+|tests/deploy)(?![\w./<-])", text))
    assert paths
    for path in paths:
        assert (REPO / path.rstrip(".")).exists(), path


def test_guide_names_every_secret_key_and_component() -> None:
    text = DOC.read_text(encoding="utf-8")
    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    secrets = values["secrets"]
    assert f"`{secrets['existingSecret']}`" in text
    for entry in ("databaseUrl", "redisUrl", "internalKey", "tokenPrivateKey", "tokenPublicKey", "auditSigningKey",
                  "providerSigningKey", "bundleSigningKey", "bundleTrustedKeys"):
        assert f"`{secrets[entry]['key']}`" in text, entry
    for component in COMPONENTS:
        assert f"| {component} |" in text, component
    for command in ("helm upgrade --install", "helm rollback", "helm lint --strict"):
        assert command in text


def test_sizing_table_matches_the_defaults() -> None:
    text = DOC.read_text(encoding="utf-8")
    components = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))["components"]
    for name, spec in components.items():
        scaling = spec["autoscaling"]
        row = next(line for line in text.splitlines() if line.startswith(f"| {name} | {spec['workers']} |"))
        assert f"| {scaling['minReplicas']}–{scaling['maxReplicas']} |" in row, name
        assert f"| {scaling['targetCPUUtilizationPercentage']} % |" in row, name


def test_the_guide_creates_every_tls_secret_the_pods_mount_without_cert_manager() -> None:
    """Without cert-manager (the intranet variant here) the guide's commands are all an operator runs before
    `helm install`. Its loop created the six components' Secrets only, and the console's pod, which mounts
    `govshare-console-tls` for the mesh CA, stayed in ContainerCreating ("secret not found")."""
    text = DOC.read_text(encoding="utf-8")
    created = set(re.findall(r"secret generic (govshare-[\w-]+-tls)", text))
    for names in re.findall(r"for c in ([\w ]+); do\n\s+svc=govshare-\$c", text):
        created |= {f"govshare-{c}-tls" for c in names.split()}
    variant = VARIANTS["intranet"]
    objects = render_chart(variant.values, variant.api_versions)
    mounted = {volume["secret"]["secretName"]
               for obj in objects if obj["kind"] == "Deployment"
               for volume in (pod_spec(obj) or {}).get("volumes", []) if "secret" in volume}
    assert mounted and mounted <= created, mounted - created
    # The intranet's Ingress controller presents a client certificate to the gateway, from a Secret the guide named
    # without a command to make it.
    presented = {o["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-ssl-secret"].split("/")[1]
                 for o in objects if o["kind"] == "Ingress" and o["metadata"]["name"] == "govshare-gateway"}
    assert presented == {"govshare-ingress-client-tls"} and presented <= created


@pytest.mark.skipif(not (shutil.which("openssl") and shutil.which("bash")), reason="needs openssl and bash")
def test_the_guides_certificate_loop_gives_the_gateway_the_names_clients_dial(tmp_path: Path) -> None:
    """Without cert-manager (the extranet's default: mtls.provider auto on a cluster without it) the guide's loop
    is what issues the gateway's certificate, and it named the Services only: a business system dialling
    govshare.extranet.example.gov.cn through the LoadBalancer found a certificate for govshare-gateway.* and every
    call failed the TLS name check, though the guide said exposure.hosts "go into the gateway's certificate". The
    loop is run here as printed (openssl for real, kubectl recorded) against a throw-away CA."""
    text = DOC.read_text(encoding="utf-8")
    (loop,) = [block for block in re.findall(r"```sh\n(.*?)```", text, re.S) if "for c in gateway" in block]
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=test mesh CA", "-days", "1"],
                   cwd=tmp_path, capture_output=True, check=True, timeout=60)
    script = 'set -eu\nkubectl() { echo "$*" >> kubectl.log; }\n' + loop
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    hosts = VARIANTS["extranet"].effective["exposure"]["hosts"]
    for component in ("gateway", "query"):
        shown = subprocess.run(["openssl", "x509", "-in", f"{component}.crt", "-noout", "-ext", "subjectAltName"],
                               cwd=tmp_path, capture_output=True, text=True, check=True, timeout=60).stdout
        names = set(re.findall(r"DNS:([\w.-]+)", shown))
        service = f"govshare-{component}"
        assert {service, f"{service}.govshare.svc.cluster.local"} <= names
        assert (set(hosts) <= names) == (component == "gateway"), names
        # The edge dials each backend's pods by the headless Service and checks the certificate names it.
        assert (f"{service}-pods.govshare.svc.cluster.local" in names) == (component != "gateway"), names
        # The services dial each other's ready pods by the "-ready" headless Service and check it too.
        assert (f"{service}-ready.govshare.svc.cluster.local" in names) == (component != "gateway"), names
    assert "create secret generic govshare-gateway-tls" in (tmp_path / "kubectl.log").read_text()


@pytest.mark.skipif(not (shutil.which("openssl") and shutil.which("bash") and shutil.which("shred")),
                    reason="needs openssl, bash and shred")
def test_the_guides_secret_commands_run_in_order_as_printed(tmp_path: Path) -> None:
    """The sync's keys were added with `kubectl create secret generic govshare-secrets ... --from-file=…  # with
    the keys above`: a literal "...", a second create of a Secret that exists ("already exists"), and "the keys
    above" shredded by the block before. The guide's blocks of "Secrets to create first" now run in order as
    printed (openssl for real, kubectl recorded), each key reaching govshare-secrets once, from the file it names."""
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Secrets to create first"):text.index("| key in `govshare-secrets` |")]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert len(blocks) == 3 and not any(re.search(r"\s\.\.\.(\s|$)", block) for block in blocks)
    recorder = 'kubectl() { printf "%s\\0" "$@" >> kubectl.args; printf "\\n" >> kubectl.args; }\n'
    # The intranet has bundle-public.pem from the extranet, carried through the gate: run the blocks in one place.
    script = "set -eu\n" + recorder + "\n".join(blocks)
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    calls = [line.split("\0")[:-1] for line in (tmp_path / "kubectl.args").read_text().split("\n") if line]
    stored: dict[str, str] = {}
    created = 0
    for args in calls:
        if args[2:6] == ["create", "secret", "generic", "govshare-secrets"]:
            created += 1
            for arg in args[6:]:  # --from-literal=KEY=VALUE, --from-file=KEY=PATH
                stored[arg.split("=", 2)[1]] = "(created)"
        elif args[2:5] == ["patch", "secret", "govshare-secrets"]:
            patch = json.loads(args[args.index("-p") + 1])
            for key, value in patch["data"].items():
                assert key not in stored, key
                stored[key] = base64.b64decode(value).decode()
    assert created == 1
    assert stored["bundle-signing-key"].startswith("-----BEGIN PRIVATE KEY-----")
    assert stored["bundle-trusted-keys"].startswith("-----BEGIN PUBLIC KEY-----")
    assert not (tmp_path / "bundle-signing.pem").exists()  # shredded once stored


def test_the_guides_frontproc_runs_the_image_it_built_with_a_writable_access_log() -> None:
    """The 前置机 command ran `registry.example.gov.cn/govshare:0.1.0`, an image the guide never built (it pushes
    `…/govshare/govshare:0.1.0`), and mounted only the read-only configuration, though the text above it says the
    access log must go to a writable volume (`/var/log/frontproc/…`) or the 前置机 stops at start."""
    text = DOC.read_text(encoding="utf-8")
    (built,) = set(re.findall(r"docker build -f deploy/k8s/Dockerfile -t (\S+) \.", text))
    section = text[text.index("## A department's 前置机"):text.index("## Sizing and scaling")]
    (log_dir,) = set(re.findall(r"access_log: (/[\w/.-]+)/[\w.-]+`", section))
    run = re.search(r"kubectl -n \S+ run frontproc --image=(\S+) .*?--overrides='(\{.*?\})'", section, re.S)
    assert run is not None
    pod = json.loads(run.group(2))
    (container,) = pod["spec"]["containers"]
    assert run.group(1) == container["image"] == built
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert log_dir in mounts and not mounts[log_dir].get("readOnly"), mounts
    assert "projected" not in volumes[mounts[log_dir]["name"]]


def _set_values(command: str) -> dict:
    """`--set a.b=c` of a helm command line as values (booleans as booleans, like helm)."""
    values: dict = {}
    for path, raw in re.findall(r"--set ([\w.]+)=(\S+)", command):
        *parents, leaf = path.split(".")
        node = values
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = {"true": True, "false": False}.get(raw, raw)
    return values


def test_the_trial_install_renders_nothing_helm_wait_would_wait_for_forever() -> None:
    """The trial command (extranet values, `--wait`) rendered the nightly export's exchange volume, a PVC no pod
    mounts until 01:00 (a WaitForFirstConsumer storage class never binds it, and Helm waits for PVCs to bind),
    and a LoadBalancer Service (Helm waits for its address; a trial cluster often has no LoadBalancer): the
    install hung and failed at the timeout. The export job would also have failed every night for want of
    `bundle-signing-key`, which the trial's Secret does not hold."""
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Trial installs"):text.index("## A department's 前置机")]
    command = re.search(r"helm upgrade --install govshare deploy/k8s/govshare .*?--wait", section, re.S)
    assert command is not None
    files = tuple(Path(f).name for f in re.findall(r"-f (deploy/k8s/govshare/\S+)", command.group(0)))
    objects = render_chart(user_values(files, _set_values(command.group(0))))
    assert not [o for o in objects if o["kind"] == "PersistentVolumeClaim"]
    assert not [o for o in objects if o["kind"] == "Service" and o["spec"].get("type") == "LoadBalancer"]
    secrets = {e["valueFrom"]["secretKeyRef"]["key"] for _, spec in workloads(objects) for c in containers(spec)
               for e in c.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})
               and e["valueFrom"]["secretKeyRef"]["name"] == "govshare-secrets"
               and not e["valueFrom"]["secretKeyRef"].get("optional")}
    assert secrets == {"internal-key", "token-private-key", "token-public-key", "audit-signing-key"}
    assert all(f"`{key}`" in section for key in secrets)


def test_the_guide_says_what_happens_after_a_renewal_within_the_window_it_names() -> None:
    """The services read their mTLS certificate at start only, so cert-manager's renewal reached the Secret and not
    the processes: 90 days after a pod started, every call between the services failed. Envoy now reloads its
    certificate by file-based SDS (tests/integration/test_gateway.py) and the services and the console restart
    themselves on new files (services/runtime/tls_renewal.py, tests/unit/test_runtime_tls.py); the guide says so,
    with the chart's days, and keeps the command that uses a renewal at once."""
    text = DOC.read_text(encoding="utf-8")
    cert_manager = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))["mtls"]["certManager"]
    days = int(cert_manager["duration"].rstrip("h")) // 24
    window = int(cert_manager["renewBefore"].rstrip("h")) // 24
    assert f"P-256, {days} days, renewed {window} days before expiry" in text
    flat = " ".join(text.split())  # the phrases as read, whatever the line breaks
    assert "**After a renewal** nothing is to be done" in flat
    assert "The **edge** (Envoy) reloads them on its own" in flat and "The gateway Deployment needs no restart" in flat
    assert "each restarts itself" in flat and "a random time up to 10 minutes" in flat
    assert "kubectl -n govshare rollout restart deployment -l app.kubernetes.io/instance=govshare" in text


def test_the_guides_call_table_is_the_charts() -> None:
    """The table of who may call whom said query is called by the gateway and supervision only and that catalog
    calls authorization alone, while the chart (and the code) has catalog call query for the use counts and the
    departments' 前置机 for the endpoint check: an operator writing firewall rules from it cut both."""
    text = DOC.read_text(encoding="utf-8")
    rows = {name: (callers, callees)
            for name, callers, callees in re.findall(r"^  \| (\w+) \| (.*?) \| (.*?) \|$", text, re.M)}
    for component in COMPONENTS:
        callers, callees = rows[component]
        named_callees = {c for c in COMPONENTS if re.search(rf"(?<![\w-]){c}(?![\w-])", callees)}
        assert named_callees == CALLS[component], component
        if component != "gateway":
            named_callers = {c for c in COMPONENTS if re.search(rf"(?<![\w-]){c}(?![\w-])", callers)}
            assert named_callers == CALLERS[component] - {"supervision-snapshot"}, component
        assert ("providerEndpoints" in callees) == (component in ("query", "catalog")), component


def test_the_guides_token_key_rotation_keeps_every_token_verifying() -> None:
    """The guide said to rotate token-private-key and token-public-key together, "tokens signed with the old key
    stop verifying": followed, every call failed for minutes (services restarted one by one verified the new
    authorization pods' tokens with the old key, the edge kept its JWKS 5 minutes, issued tokens lived an hour).
    It now publishes the new public key beside the old one first, for as long as the edge caches the JWKS, then
    signs with the new key, then drops the old one after a token lifetime; and two keys do both verify."""
    text = DOC.read_text(encoding="utf-8")
    assert "stop verifying" not in text
    steps = re.search(r"The token keys in three steps.*?\(3\)[^\n]*", text, flags=re.S)
    assert steps is not None
    rotation = steps.group(0)
    assert rotation.index("`token-public-key`") < rotation.index("`token-private-key`")
    wait = re.search(r"wait (\d+) minutes?", rotation)
    assert wait is not None and int(wait.group(1)) * 60 >= JWKS_CACHE_SECONDS
    assert "`GOVSHARE_TOKEN_TTL_SECONDS`" in rotation
    old, new = generate_keys(), generate_keys()
    both = old.token_public_key + new.token_public_key
    assert len(jwks(both)["keys"]) == 2
    caller = Caller("sys-1", "310000000001")
    for signer in (old, new):
        assert TokenVerifier(both).verify(issue_token(signer.token_private_key, caller, 600).token).system_id == "sys-1"



#: Keys whose meaning is Kubernetes' own wherever they appear (a resources block, an image, a Secret reference).
_SELF_EXPLAINED = {"requests", "limits", "repository", "tag", "digest", "enabled", "name", "key", "kind", "group",
                   "size", "image", "resources", "schedule", "replicas", "port", "nodeSelector", "tolerations",
                   "affinity", "priorityClassName", "annotations", "labels"}


def _undocumented_values_keys(lines: list[str], guide: str) -> list[str]:
    """The keys of values.yaml no comment describes, directly above it or above the run of sibling keys it is in,
    and the guide does not name (`path`). A component's settings are described once under `components`, the
    NetworkPolicy peers' selectors are Kubernetes'."""
    stack: list[tuple[int, str]] = []
    missing = []
    for number, line in enumerate(lines):
        found = re.match(r"^(\s*)([A-Za-z0-9_]+):", line)
        if not found:
            continue
        indent, key = len(found.group(1)), found.group(2)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = [k for _, k in stack] + [key]
        stack.append((indent, key))
        if key in _SELF_EXPLAINED or f"`{'.'.join(path)}" in guide:
            continue
        if (path[0] in ("components", "heavyReads", "probes") and len(path) > 1) or (
                path[0] == "networkPolicy" and len(path) > 2):
            continue
        above = number - 1
        while above >= 0:
            text = lines[above]
            if text.strip().startswith("#"):
                break
            sibling = re.match(r"^(\s*)\S", text)
            if not text.strip() or sibling is None or len(sibling.group(1)) < indent:
                above = -1
                break
            above -= 1
        if above < 0:
            missing.append(".".join(path))
    return missing


def test_every_values_key_is_described() -> None:
    """An operator writing a site file reads values.yaml and the guide: keys such as nameOverride, imagePullSecrets,
    config.logLevel, the Jobs' backoffLimit and activeDeadlineSeconds, the CronJobs' timeZone, mtls.certManager's
    duration and renewBefore, exposure.loadBalancer.loadBalancerClass or redis.networkPolicyTo were in neither,
    their values and units to be guessed from the templates. Every key now has its comment (or the guide names
    it)."""
    lines = (CHART / "values.yaml").read_text(encoding="utf-8").splitlines()
    assert _undocumented_values_keys(lines, DOC.read_text(encoding="utf-8")) == []
    # The check sees a key without its comment.
    assert _undocumented_values_keys(["a:", "  b: 1", "", "c: 2"], "") == ["a", "a.b", "c"]
def test_the_guides_restore_empties_what_redis_keeps_of_the_state_after_the_backup() -> None:
    """Restored as the guide printed it (pg_restore, then the services started), the platform served the records
    query had cached from the newer database (until the record cache's TTL), and the console kept sessions of
    persons the backup does not hold: Redis is not part of the backup. The restore now empties every prefix the
    platform keeps state under in Redis, and says what the restore loses (administrative changes, the auditors'
    later checkpoints)."""
    text = DOC.read_text(encoding="utf-8")
    restore = re.search(r"To restore, into an.*?\n- ", text, flags=re.S)
    assert restore is not None
    steps = restore.group(0)
    for prefix in (cache.RECORD_KEY_PREFIX, "govshare:console:"):
        assert f"--pattern '{prefix}*'" in steps or f"`{prefix}*`" in steps, prefix
    assert sessions.REDIS_PREFIX.startswith("govshare:console:") and oidc.PENDING_REDIS_PREFIX.startswith(
        "govshare:console:")
    assert "`ExportAuditCheckpoints`" in steps and "redo the administrative" in steps


def test_the_guides_person_secret_key_rotation_keeps_the_backups_restorable() -> None:
    """Rotated as the guide said (the new key first, then the old one dropped), a backup from before the rotation
    was restored with every TOTP secret sealed under the dropped key: live, every local account, the
    administrator's included, was refused TOTP_SECRET_UNREADABLE, and the administrator could reset nobody. The
    guide now says to keep the old key while such backups are kept, and to list it again to restore one."""
    text = DOC.read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| `person-secret-key`"))
    assert "backups taken before the rotation" in row and "`TOTP_SECRET_UNREADABLE`" in row
    restore = re.search(r"To restore, into an.*?\n- ", text, flags=re.S)
    assert restore is not None and "`person-secret-key`" in restore.group(0)


def test_the_guides_person_secret_key_rotation_refuses_no_sign_in_during_its_rollouts() -> None:
    """The guide rotated person-secret-key by listing the new key first at once: authorization re-seals every TOTP
    secret under the first key when it starts, so the pods started first re-sealed them under the new key while
    the pods not yet replaced, knowing the old key only, refused those persons' sign-ins TOTP_SECRET_UNREADABLE
    (which tells them to have the administrator reset their TOTP) until the rollout ended. The guide's steps, as
    its row names them, now start from the key in use and keep, at each rollout, the pods of the step before and
    of the step after able to open what the other sealed, re-sealing included."""
    from services.runtime.person_secrets import TotpSealer

    row = next(line for line in DOC.read_text(encoding="utf-8").splitlines()
               if line.startswith("| `person-secret-key`"))
    steps = re.findall(r"`((?:OLD|NEW)(?:,(?:OLD|NEW))*)`", row)
    assert steps[0] == "OLD,NEW" and steps[-1] == "NEW", steps
    keys = {"OLD": "o" * 40, "NEW": "n" * 40}
    sealers = [TotpSealer(",".join(keys[name] for name in step.split(","))) for step in ["OLD", *steps]]
    for before, after in itertools.pairwise(sealers[:-1]):  # the last step drops the old key once re-sealed
        for sealing, opening in ((before, after), (after, before)):
            assert opening.open("psn-1", sealing.seal("psn-1", "JBSWY3DPEHPK3PXP")) == "JBSWY3DPEHPK3PXP"
    assert sealers[-1].open("psn-1", sealers[-2].seal("psn-1", "JBSWY3DPEHPK3PXP")) == "JBSWY3DPEHPK3PXP"


@pytest.mark.skipif(not (shutil.which("openssl") and shutil.which("bash") and shutil.which("shred")),
                    reason="needs openssl, bash and shred")
def test_the_guides_audit_key_rotation_keeps_every_retired_keys_checkpoints_verifying(tmp_path: Path) -> None:
    """The audit key rotation appended `audit-public.pem` to `audit-retired-public.pem` and put that file in the
    Secret: two files the on-call person had only if kept since the install (audit-public.pem is the install's
    key, not the one in use after a first rotation) and the earlier rotation, and no command put the new private
    key in. Run from a fresh directory, a second rotation replaced the retired keys with the install's alone, so
    the first rotation's checkpoints were reported forged. The block now takes both from the Secret. Run here
    as printed twice (openssl for real, kubectl answering from a Secret and recording the patch): query, started
    on the Secret so patched, verifies the checkpoints of the install's key and of the first rotation's."""
    import datetime

    from services.query.checkpoints import CheckpointSigner
    from services.query.component import QueryComponent
    from services.runtime.checkpoints import Head
    from services.runtime.keys import ed25519_private_key
    from services.runtime.settings import load

    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("Rotating `audit-signing-key`"):text.index("## The access log's retention")]
    block = "\n".join(line[2:] for line in re.search(r"```sh\n(.*?)```", section, re.S).group(1).splitlines())  # type: ignore[union-attr]
    installed = generate_keys().audit_signing_key
    secret = {"audit-signing-key": installed}
    signing_keys = [installed]
    for rotation in range(2):
        answers = "".join(f"    *'jsonpath={{.data.{key}}}'*) printf %s '{_b64(value)}' ;;\n"
                          for key, value in secret.items())
        kubectl = ('kubectl() {\n  case "$*" in\n' + answers + "    *'jsonpath='*) ;;\n"
                   '    *" patch secret "*) printf "%s\\0" "$@" > patch ;;\n    *) ;;\n  esac\n}\n')
        workdir = tmp_path / str(rotation)
        workdir.mkdir()
        done = subprocess.run(["bash", "-c", "set -eu -o pipefail\n" + kubectl + block], cwd=workdir,
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
        args = (workdir / "patch").read_text().split("\0")[:-1]
        for key, value in json.loads(args[args.index("-p") + 1])["data"].items():
            secret[key] = base64.b64decode(value).decode()
        assert not (workdir / "audit-signing.pem").exists()  # shredded once stored
        signing_keys.append(secret["audit-signing-key"])
    keys = generate_keys()
    query = QueryComponent(load("query", {
        "GOVSHARE_INTERNAL_KEY": "k" * 40, "GOVSHARE_DATABASE_URL": "postgresql://h/d",
        "GOVSHARE_REDIS_URL": "redis://r:6379/0", "GOVSHARE_TOKEN_PUBLIC_KEY": keys.token_public_key,
        "GOVSHARE_CATALOG_TARGET": "c:1", "GOVSHARE_AUTHORIZATION_TARGET": "a:1", "GOVSHARE_FOUNDATION_TARGET": "f:1",
        "GOVSHARE_AUDIT_SIGNING_KEY": secret["audit-signing-key"],
        "GOVSHARE_AUDIT_RETIRED_PUBLIC_KEYS": secret["audit-retired-public-keys"]}))
    assert len(set(signing_keys)) == 3
    for key in signing_keys:
        checkpoint = CheckpointSigner(ed25519_private_key(key)).sign(
            Head("ab" * 16, 7, "cd" * 32), datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC), False)
        assert query._checkpoint_verifier.problem(checkpoint) is None


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
