"""docs/deploy.md stays in step with the chart it documents."""

from __future__ import annotations

import re

import yaml
from chart_harness import CHART, COMPONENTS, REPO

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
