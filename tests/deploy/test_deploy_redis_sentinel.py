"""The chart deploys onto the capacity plan's Redis: a primary, replicas and sentinels (docs/capacity.md §5)."""

from __future__ import annotations

import kubernetes_validate
import pytest
from chart_harness import KUBE_VERSIONS, containers, env_of, render_chart, user_values, workloads

from console.settings import load_console_settings
from services.runtime import settings as runtime_settings

SENTINEL = {"addresses": ["redis-sentinel.redis.svc:26379", "10.0.5.21"], "master": "govshare"}


def test_every_process_reaching_redis_finds_its_primary_through_the_sentinels() -> None:
    """The services and the console read GOVSHARE_REDIS_SENTINELS and _MASTER, but no value of the chart set them
    (an extraEnv could, for the processes it reaches), and every NetworkPolicy let out Redis's port alone, so no pod
    could ask a sentinel (26379) where the primary is. redis.sentinel now sets both in every container that reaches
    Redis and opens the sentinels' ports beside Redis's wherever Redis's is open."""
    objects = render_chart(user_values(("values-intranet.yaml",), {"redis": {"sentinel": SENTINEL}}))
    reaching = 0
    for obj, spec in workloads(objects):
        for container in containers(spec):
            env = env_of(container)
            if {"GOVSHARE_REDIS_URL", "GOVSHARE_CONSOLE_REDIS_URL"} & set(env):
                reaching += 1
                assert env["GOVSHARE_REDIS_SENTINELS"]["value"] == "redis-sentinel.redis.svc:26379,10.0.5.21"
                assert env["GOVSHARE_REDIS_SENTINEL_MASTER"]["value"] == "govshare"
        kubernetes_validate.validate(obj, KUBE_VERSIONS[-1], strict=True)
    assert reaching == 7  # the five services, the console and the intranet's import job
    redis_rules = 0
    for policy in (o for o in objects if o["kind"] == "NetworkPolicy"):
        for rule in policy["spec"].get("egress", []):
            ports = {p["port"] for p in rule.get("ports", [])}
            if 6379 in ports:
                redis_rules += 1
                assert ports == {6379, 26379}, policy["metadata"]["name"]
    assert redis_rules == 7
    # What those processes make of it: the primary through the sentinels, the Secret's URL giving the password.
    env = {"GOVSHARE_REDIS_SENTINELS": "redis-sentinel.redis.svc:26379,10.0.5.21",
           "GOVSHARE_REDIS_SENTINEL_MASTER": "govshare", "GOVSHARE_REDIS_URL": "redis://:pw@redis/0"}
    errors: list[str] = []
    url = runtime_settings._parse_env("query", env, errors)["redis_url"]
    assert errors == [] and url == "redis+sentinel://:pw@redis-sentinel.redis.svc:26379,10.0.5.21:26379/govshare?db=0"
    assert load_console_settings({**env, "GOVSHARE_CONSOLE_GATEWAY": "gateway:50051"}).redis_url == url


@pytest.mark.parametrize("sentinel", [{"addresses": ["redis-sentinel:26379"]}, {"master": "govshare"}])
def test_half_a_sentinel_setting_or_one_given_to_a_trial_fails_the_render(sentinel: dict) -> None:
    with pytest.raises(Exception, match=r"redis\.sentinel: give both addresses"):
        render_chart(user_values(("values-intranet.yaml",), {"redis": {"sentinel": sentinel}}))
    with pytest.raises(Exception, match=r"redis\.sentinel is not used while trial\.enabled is true"):
        render_chart(user_values(("values-extranet.yaml",), {"trial": {"enabled": True},
                                                             "redis": {"sentinel": SENTINEL}}))


def test_a_redis_ca_given_with_sentinels_fails_the_render_naming_both() -> None:
    """redis.ca beside redis.sentinel rendered: the processes take no TLS under Sentinel (a rediss:// redis-url with
    sentinels stops every one of them at start), so the CA was mounted for nothing or the pods crashed, the values
    promising a TLS they could not have."""
    with pytest.raises(Exception, match=r'redis.ca \(Secret "redis-ca", key "ca.crt"\) is not used with '
                                        r"redis.sentinel: the platform reaches Redis under Sentinel without TLS"):
        render_chart(user_values(("values-intranet.yaml",), {"redis": {
            "sentinel": SENTINEL, "ca": {"name": "redis-ca", "key": "ca.crt"}}}))
    errors: list[str] = []
    runtime_settings._parse_env("query", {"GOVSHARE_REDIS_SENTINELS": "redis-sentinel:26379",
                                          "GOVSHARE_REDIS_SENTINEL_MASTER": "govshare",
                                          "GOVSHARE_REDIS_URL": "rediss://:pw@redis/0"}, errors)
    assert any("TLS to a Sentinel deployment is not supported" in e for e in errors)


@pytest.mark.parametrize("where", ["config", "console"])
def test_the_sentinels_given_in_an_extra_env_fail_the_render_pointing_at_redis_sentinel(where: str) -> None:
    """GOVSHARE_REDIS_SENTINELS and _MASTER in config.extraEnv (or the console's) rendered: the processes asked the
    sentinels, but the NetworkPolicies, which only redis.sentinel opens to the sentinels' port, let out Redis's
    port alone, so every pod reaching Redis waited for it until its startup probe killed it; beside redis.sentinel
    the second definition won over the chart's."""
    env = {"GOVSHARE_REDIS_SENTINELS": "redis-sentinel.redis.svc:26379", "GOVSHARE_REDIS_SENTINEL_MASTER": "govshare"}
    with pytest.raises(Exception, match=rf"{where}.extraEnv.GOVSHARE_REDIS_SENTINELS: set redis.sentinel "
                                        r"\{addresses, master\} instead.*"
                                        rf"{where}.extraEnv.GOVSHARE_REDIS_SENTINEL_MASTER: set redis.sentinel"):
        render_chart(user_values(("values-intranet.yaml",), {where: {"extraEnv": env}}))
