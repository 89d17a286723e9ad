"""docs/architecture.md against the code: every Prometheus metric a service process serves is named there, so the
on-call reading the list knows every series /metrics has (and what it says)."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.metrics import MetricWrapperBase

from services.query import endpoints
from services.runtime import telemetry

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")


def _served() -> set[str]:
    """The platform's metric names as /metrics writes them (a counter with its ``_total``)."""
    metrics = [value for module in (telemetry, endpoints) for value in vars(module).values()
               if isinstance(value, MetricWrapperBase)]
    return {family.name + ("_total" if family.type == "counter" else "")
            for metric in metrics for family in metric.describe()}


def test_every_metric_a_service_serves_is_named_in_the_architecture_doc() -> None:
    """govshare_ready (1 while health says SERVING) and govshare_cache_lookups_total{cache, outcome} were served
    by every service and named nowhere: an on-call looking for a readiness or a cache hit-rate series did not
    learn that there was one."""
    served = _served()
    assert {"govshare_rpc_total", "govshare_ready", "govshare_provider_calls_total"} <= served, served
    assert sorted(name for name in served if f"`{name}" not in DOC) == []
