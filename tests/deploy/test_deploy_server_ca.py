"""The chart mounts the CA of an external PostgreSQL's and Redis's certificates where the processes read it."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
from chart_harness import KUBE_VERSIONS, containers, env_of, render_chart, user_values, workloads

DATABASE_CA = "/etc/govshare/database-ca"
REDIS_CA = "/etc/govshare/redis-ca"
SITE = {"database": {"ca": {"name": "pg-ca", "key": "ca.crt"}}, "redis": {"ca": {"key": "redis-ca"}},
        "heavyReads": {"query": {"enabled": True}}}


def _mounted(spec: dict[str, Any], container: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The Secret volume mounted at ``path`` in ``container``, or None."""
    names = [m["name"] for m in container.get("volumeMounts", []) if m["mountPath"] == path]
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    return volumes[names[0]].get("secret") if names else None


@pytest.mark.parametrize("zone", ["values-intranet.yaml", "values-extranet.yaml"])
def test_a_database_and_redis_verified_against_a_private_ca_get_it_in_every_pod_that_reaches_them(zone: str) -> None:
    """deploy.md's Secret gave database-url '…?sslmode=verify-full' and redis-url 'rediss://…': a government
    PostgreSQL's certificate comes from the site's own CA, which no value of the chart could mount, and the image's
    user has no ~/.postgresql/root.crt, so no pod could connect. database.ca and redis.ca (Secret keys) are mounted in
    every container reaching that server, the migration hook and the sync jobs included; the database's is named
    by PGSSLROOTCERT, which asyncpg reads as libpq does; Redis's is where the URL's ssl_ca_certs names it."""
    objects = render_chart(user_values((zone,), SITE))
    reaching = {"database": 0, "redis": 0}
    for obj, spec in workloads(objects):
        for container in containers(spec):
            env = env_of(container)
            name = f"{obj['kind']}/{obj['metadata']['name']}/{container['name']}"
            database = _mounted(spec, container, DATABASE_CA)
            if "GOVSHARE_DATABASE_URL" in env and "trial" not in name:
                reaching["database"] += 1
                assert env.get("PGSSLROOTCERT", {}).get("value") == f"{DATABASE_CA}/ca.crt", name
                assert database == {"secretName": "pg-ca", "items": [{"key": "ca.crt", "path": "ca.crt"}],
                                    "defaultMode": 0o444}, name
            else:
                assert database is None and "PGSSLROOTCERT" not in env, name
            redis = _mounted(spec, container, REDIS_CA)
            if {"GOVSHARE_REDIS_URL", "GOVSHARE_CONSOLE_REDIS_URL"} & set(env):
                reaching["redis"] += 1
                assert redis == {"secretName": "govshare-secrets", "items": [{"key": "redis-ca", "path": "ca.crt"}],
                                 "defaultMode": 0o444}, name
            else:
                assert redis is None, name
        kubernetes_validate.validate(obj, KUBE_VERSIONS[-1], strict=True)
    # the five services, query's heavy-read replicas, the migration hook and the zone's sync job; Redis: the
    # services, the heavy reads and the console (and the intranet's import job)
    assert reaching["database"] == 8 and reaching["redis"] == (8 if "intranet" in zone else 7), reaching
    plain = render_chart(user_values((zone,)))
    assert not any("PGSSLROOTCERT" in env_of(c) for _, spec in workloads(plain) for c in containers(spec))
    assert not any(v["name"] in ("database-ca", "redis-ca") for _, spec in workloads(plain) for v in spec["volumes"])


def test_a_server_ca_given_to_a_trial_fails_the_render_naming_it() -> None:
    """A trial's bundled PostgreSQL and Redis speak no TLS: a CA given with trial.enabled would be mounted for
    nothing (the trial's URLs verify nothing), so the render says so rather than ignore it."""
    for server in ("database", "redis"):
        with pytest.raises(Exception, match=rf"{server}\.ca \(Secret \"govshare-secrets\", key \"ca.crt\"\) is not "
                                            "used while trial.enabled is true"):
            render_chart(user_values(("values-extranet.yaml",), {
                "trial": {"enabled": True}, server: {"ca": {"key": "ca.crt"}}}))


def test_pgsslrootcert_in_an_extra_env_beside_database_ca_fails_the_render_naming_it() -> None:
    """database.ca sets PGSSLROOTCERT to the CA it mounts; the same name in an extraEnv rendered a second definition
    after it, which won in the pods: the CA the values gave was mounted and never read. Without database.ca the name
    stays the site's (a system bundle for a server of a public CA)."""
    with pytest.raises(Exception, match=r"components.query.extraEnv.PGSSLROOTCERT: database.ca sets it, to the CA it "
                                        r"mounts \(/etc/govshare/database-ca/ca.crt\)"):
        render_chart(user_values(("values-intranet.yaml",), {
            **SITE, "components": {"query": {"extraEnv": {"PGSSLROOTCERT": "/etc/ssl/certs/ca-certificates.crt"}}}}))
    own = render_chart(user_values(("values-intranet.yaml",), {
        "config": {"extraEnv": {"PGSSLROOTCERT": "/etc/ssl/certs/ca-certificates.crt"}}}))
    assert any("PGSSLROOTCERT" in env_of(c) for _, spec in workloads(own) for c in containers(spec))
