"""The chart passes the operator's holiday file (config.holidays) to every process that counts working days."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
from chart_harness import KUBE_VERSIONS, RELEASE, containers, env_of, render_chart, user_values, workloads

from services.runtime import workdays
from tests.unit.test_holidays import NOTICE_2027

MOUNTED = "/etc/govshare/holidays/holidays.toml"
COUNTING = {"catalog", "authorization", "query", "foundation", "supervision", "console"}


def _pods(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The Deployments' pods by component (the gateway's, the console's and the services')."""
    return {obj["metadata"]["labels"]["app.kubernetes.io/component"]: obj
            for obj, _ in workloads(objects) if obj["kind"] == "Deployment"}


def test_the_holiday_notice_entered_in_the_values_reaches_every_process_counting_working_days(tmp_path: Path) -> None:
    """config.holidays becomes a ConfigMap holding the file as entered, mounted and named by GOVSHARE_HOLIDAYS_FILE
    in the services and the console (not the edge), with its checksum on their pods so an upgrade entering a
    year restarts them (each start counts the provisional deadlines again); without it nothing is rendered."""
    objects = render_chart(user_values(("values-intranet.yaml",), {"config": {"holidays": NOTICE_2027}}))
    configmap = next(o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == f"{RELEASE}-holidays")
    (tmp_path / "holidays.toml").write_text(configmap["data"]["holidays.toml"], encoding="utf-8")
    assert configmap["data"]["holidays.toml"].strip() == NOTICE_2027.strip()
    assert workdays.holidays_file_problems(str(tmp_path / "holidays.toml")) == []
    pods = _pods(objects)
    assert set(pods) >= COUNTING
    for component, obj in pods.items():
        template = obj["spec"]["template"]
        spec = template["spec"]
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        if component == "gateway":
            assert "holidays" not in volumes and "checksum/holidays" not in template["metadata"].get("annotations", {})
            continue
        main = next(c for c in containers(spec) if c["name"] in (component, "console"))
        assert env_of(main)["GOVSHARE_HOLIDAYS_FILE"]["value"] == MOUNTED, component
        assert {"name": "holidays", "mountPath": "/etc/govshare/holidays", "readOnly": True} in main["volumeMounts"]
        assert volumes["holidays"]["configMap"]["name"] == f"{RELEASE}-holidays"
        assert template["metadata"]["annotations"]["checksum/holidays"], component
    for obj in objects:
        if obj["kind"] in ("ConfigMap", "Deployment"):
            kubernetes_validate.validate(obj, KUBE_VERSIONS[-1], strict=True)
    plain = render_chart(user_values(("values-intranet.yaml",)))
    assert not any(o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-holidays") for o in plain)
    assert not any("GOVSHARE_HOLIDAYS_FILE" in env_of(c) for _, spec in workloads(plain) for c in containers(spec))
