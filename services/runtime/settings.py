"""Process settings, read once from ``GOVSHARE_*`` environment variables.

Every process validates its whole configuration at start-up and stops with one
message listing every problem, so that an operator fixes a deployment in one go
instead of discovering settings one crash at a time.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from redis.connection import parse_url

from services.runtime import person_secrets, redis_target, workdays
from services.runtime.keys import ed25519_private_key, ed25519_public_keys
from services.runtime.masking import Masker
from services.runtime.telemetry import tracing_problems
from services.runtime.tokens import key_id

COMPONENTS = ("gateway", "catalog", "authorization", "query", "foundation", "supervision")
ZONES = ("extranet", "intranet")
DATABASE_SCHEMES = ("postgresql://", "postgres://")
#: What redis-py's from_url accepts, and the redis+sentinel:// URL the Sentinel settings make of it.
REDIS_SCHEMES = ("redis://", "rediss://", "unix://", f"{redis_target.SCHEME}://")


class SettingsError(Exception):
    """Raised when the environment does not describe a runnable process."""


@dataclass(frozen=True)
class Settings:
    """Validated configuration of one process (see docs/configuration.md)."""

    component: str = "catalog"
    zone: str = "extranet"
    listen: str = "127.0.0.1:0"
    #: Plaintext listener serving only grpc.health.v1, for kubelet probes while mTLS is on.
    health_listen: str = ""
    metrics_port: int = 0
    #: Address the Prometheus endpoint binds; empty: the host of ``listen``.
    metrics_host: str = ""
    workers: int = 1
    database_url: str = ""
    redis_url: str = ""
    #: Redis Sentinel (GOVSHARE_REDIS_SENTINELS, GOVSHARE_REDIS_SENTINEL_MASTER): when set, ``redis_url`` is the
    #: redis+sentinel:// URL every Redis client follows the primary through (services/runtime/redis_target.py).
    redis_sentinels: tuple[str, ...] = ()
    redis_sentinel_master: str = ""
    #: The mesh's HMAC key: signs this process's service identities (and derives its page tokens' key).
    internal_key: bytes = b""
    #: GOVSHARE_INTERNAL_KEY's further keys during a rotation: identities signed with them still verify, so that
    #: pods of the old and the new key call each other while a rollout replaces them (deploy.md).
    internal_previous_keys: tuple[bytes, ...] = ()
    token_private_key: str = ""
    token_public_key: str = ""
    #: PEM Ed25519 public keys of retired token signing keys (authorization only): the administrative log's
    #: checkpoints they signed still verify; no token does, and the JWKS does not publish them.
    token_retired_public_keys: str = ""
    token_ttl_seconds: int = 3600
    reflection: bool = True
    log_level: str = "INFO"
    catalog_target: str = ""
    authorization_target: str = ""
    query_target: str = ""
    foundation_target: str = ""
    supervision_target: str = ""
    #: The edge only: where the heavy reads of catalog and query go (routing.HEAVY_READS), when their own
    #: processes serve them; empty: the service's target serves them too.
    catalog_heavy_read_target: str = ""
    query_heavy_read_target: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    tls_ca: str = ""
    reply_working_days: int = 10
    catalog_update_working_days: int = 15
    dispute_working_days: int = 5
    #: The operator's holiday file (services/runtime/holidays.py): years of the State Council's notice entered
    #: before chinese-calendar has them; workdays reads it (the variable) wherever deadlines are counted.
    holidays_file: str = ""
    rate_limit_per_second: float = 2000.0
    rate_limit_burst: int = 4000
    record_cache_ttl_seconds: int = 300
    record_local_ttl_ms: int = 2000
    record_local_capacity: int = 10_000
    decision_ttl_seconds: int = 30
    audit_flush_ms: float = 0.0
    #: Under load (records queued during the last write), how long the next audit batch may wait for company.
    audit_linger_ms: float = 3.0
    audit_batch_max: int = 1000
    #: PEM Ed25519 private key signing the audit chains' checkpoints (query only).
    audit_signing_key: str = ""
    #: PEM Ed25519 public keys of retired audit signing keys, whose checkpoints still verify.
    audit_retired_public_keys: str = ""
    audit_checkpoint_seconds: int = 60
    #: Query only: how long a process holds a verification job without renewing its lease (services/query/
    #: verifications.py); a job whose process died is resumed by another after this long.
    audit_verify_lease_seconds: int = 30
    #: Query only: records a verification job checks per page by default (a page ends at a signed checkpoint).
    audit_verify_page_records: int = 100_000
    #: Query only: pause between a verification job's pages, leaving the database to the online path.
    audit_verify_pause_ms: int = 0
    #: Query only: PEM Ed25519 private key signing the per-call assertions sent to departments' 前置机.
    provider_signing_key: str = ""
    #: Authorization only: the key(s) sealing persons' TOTP secrets at rest (services/runtime/person_secrets.py).
    person_secret_key: str = ""
    #: Query only: deadline of one call to a department's provider endpoint.
    provider_timeout_seconds: float = 2.0
    #: Query only: calls in flight to one department endpoint at most (more wait, within their deadline).
    provider_concurrency: int = 64
    #: Query only: consecutive failures that open an endpoint's circuit, and how long it stays open.
    provider_breaker_failures: int = 5
    provider_breaker_open_seconds: float = 5.0
    #: Months of the access log kept online (0: all); older months are archived as signed files, then dropped.
    audit_retention_months: int = 0
    #: Where archived months' files go (query only; required when audit_retention_months is set).
    audit_archive_dir: str = ""
    call_timeout_seconds: float = 5.0
    #: How long a unary call may wait on PostgreSQL or Redis (a server that accepts connections but never answers),
    #: and never past the caller's deadline: then it is UNAVAILABLE naming it (services/runtime/server.py _bounded).
    dependency_wait_seconds: float = 30.0
    #: After SIGTERM: NOT_SERVING, then this long still taking calls while load balancers notice.
    drain_grace_seconds: float = 5.0
    #: Then at most this long for the calls received to finish before they are cancelled.
    drain_timeout_seconds: float = 20.0
    mask_rules: Mapping[str, str] = field(default_factory=dict)
    #: Authorization only: host:port of the HTTP listener publishing the token keys as a JWKS (empty: none).
    jwks_listen: str = ""
    #: The edge only: where Envoy fetches the JWKS (http(s)://host:port/.well-known/jwks.json).
    jwks_url: str = ""
    #: The edge only: Envoy's admin listener (keep it on localhost: it can stop the proxy).
    edge_admin: str = "127.0.0.1:9901"
    #: The edge only: origins allowed to call from a browser (gRPC-Web, REST); empty: no CORS.
    cors_origins: tuple[str, ...] = ()
    #: The edge only: the protobuf descriptor set the REST/JSON transcoder reads (empty: no transcoding).
    descriptor_set: str = ""
    #: The edge only: the share (percent) of successful calls written to the access log; failed calls always are.
    edge_access_log_percent: float = 1.0
    #: Catalog only: how often each replica refreshes the entries' use counts from the query service (search
    #: ranking; 0: never). Needs query_target; without it the ranking has no use counts.
    catalog_usage_refresh_seconds: float = 3600.0
    #: How often the supervision service recomputes the current and the previous month (0: only on demand).
    supervision_snapshot_seconds: int = 3600
    #: Persons (issue 12, authorization only): a person token's lifetime, and the session's absolute end
    #: (RefreshSession never goes beyond it).
    session_ttl_seconds: int = 1800
    session_max_seconds: int = 43200
    #: Failed sign-ins (wrong password or TOTP code) in a row that lock a local account, and for how long.
    signin_max_failures: int = 5
    signin_lock_seconds: int = 900
    #: Failed sign-ins from one client address, across accounts, in a lock period that lock the address for
    #: signin_lock_seconds (password spraying: one password tried against many usernames).
    signin_address_max_failures: int = 20
    #: Networks (CIDR) of the processes that sign people in for others (the console): a sign-in the edge saw
    #: come from one is counted against the address it passes on (govshare-signin-client), and not at all
    #: without one. Anyone else's address is their own. The default, the loopback and private ranges, holds the
    #: console wherever it runs (a pod's address is private) and so counts nothing from an intranet's clients:
    #: narrow it to the console's own network to count theirs.
    signin_forwarders: tuple[str, ...] = ("127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12",
                                          "192.168.0.0/16", "fc00::/7")
    #: OpenID Connect sign-in (ExchangeOidcToken): the IdP's issuer, its JWKS URL, the audience its ID tokens
    #: carry (the console's client id) and the claim naming the person's username. Empty issuer: no OIDC.
    oidc_issuer: str = ""
    oidc_jwks_url: str = ""
    oidc_audience: str = ""
    oidc_username_claim: str = "preferred_username"
    #: A read replica's URL for the listing and search pools (empty: they read the primary, database_url).
    database_read_url: str = ""
    #: Connections of each service's listing pool (List* RPCs), apart from the online pool.
    db_listing_pool_size: int = 4
    #: PostgreSQL statement_timeout of a listing statement; over it the caller is asked for a narrower filter.
    db_listing_timeout_ms: int = 2000
    #: Connections of the search pool (SearchEntries, summaries), apart from the online and listing pools.
    db_search_pool_size: int = 2
    #: PostgreSQL statement_timeout of a search or summary statement.
    db_search_timeout_ms: int = 5000
    #: Heavy reads (listings and searches of up to 1,000 rows) a process runs at once, and how many more wait
    #: (services/runtime/admission.py); 0 concurrency = no cap.
    heavy_read_concurrency: int = 1
    heavy_read_queue: int = 16
    #: The share of time a process's heavy reads may take, beyond a burst (services/runtime/admission.py): 1 = all.
    heavy_read_share: float = 0.05

    @property
    def verifying_internal_keys(self) -> tuple[bytes, ...]:
        """Every internal key a service identity may be signed with: the signing one first."""
        return (self.internal_key, *self.internal_previous_keys)

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with some fields replaced; tests build per-service settings this way."""
        return replace(self, **changes)

    @property
    def metrics_address(self) -> str:
        """Where the Prometheus endpoint listens: ``GOVSHARE_METRICS_HOST``, else the gRPC listen host."""
        return self.metrics_host or self.listen.rpartition(":")[0].strip("[]") or "127.0.0.1"

    @property
    def tls_enabled(self) -> bool:
        return bool(self.tls_cert and self.tls_key and self.tls_ca)


#: The most worker processes one service runs (GOVSHARE_WORKERS, and `govshare up --workers`, which sets it).
MAX_WORKERS = 64

_INT_FIELDS = {
    "GOVSHARE_METRICS_PORT": ("metrics_port", 0, 65535),
    "GOVSHARE_WORKERS": ("workers", 1, MAX_WORKERS),
    "GOVSHARE_TOKEN_TTL_SECONDS": ("token_ttl_seconds", 60, 86400),
    "GOVSHARE_REPLY_WORKING_DAYS": ("reply_working_days", 1, 60),
    "GOVSHARE_CATALOG_UPDATE_WORKING_DAYS": ("catalog_update_working_days", 1, 60),
    "GOVSHARE_DISPUTE_WORKING_DAYS": ("dispute_working_days", 1, 60),
    "GOVSHARE_RATE_LIMIT_BURST": ("rate_limit_burst", 1, 10_000_000),
    "GOVSHARE_RECORD_CACHE_TTL_SECONDS": ("record_cache_ttl_seconds", 0, 86400),
    "GOVSHARE_RECORD_LOCAL_TTL_MS": ("record_local_ttl_ms", 0, 60_000),
    "GOVSHARE_RECORD_LOCAL_CAPACITY": ("record_local_capacity", 0, 1_000_000),
    "GOVSHARE_DECISION_TTL_SECONDS": ("decision_ttl_seconds", 1, 3600),
    "GOVSHARE_AUDIT_BATCH_MAX": ("audit_batch_max", 1, 100_000),
    "GOVSHARE_AUDIT_CHECKPOINT_SECONDS": ("audit_checkpoint_seconds", 1, 3600),
    "GOVSHARE_AUDIT_VERIFY_LEASE_SECONDS": ("audit_verify_lease_seconds", 1, 3600),
    "GOVSHARE_AUDIT_VERIFY_PAGE_RECORDS": ("audit_verify_page_records", 1, 1_000_000),
    "GOVSHARE_AUDIT_VERIFY_PAUSE_MS": ("audit_verify_pause_ms", 0, 60_000),
    "GOVSHARE_AUDIT_RETENTION_MONTHS": ("audit_retention_months", 0, 1200),
    "GOVSHARE_SUPERVISION_SNAPSHOT_SECONDS": ("supervision_snapshot_seconds", 0, 31 * 86400),
    "GOVSHARE_PROVIDER_CONCURRENCY": ("provider_concurrency", 1, 10_000),
    "GOVSHARE_PROVIDER_BREAKER_FAILURES": ("provider_breaker_failures", 1, 1000),
    "GOVSHARE_SESSION_TTL_SECONDS": ("session_ttl_seconds", 60, 86400),
    "GOVSHARE_SESSION_MAX_SECONDS": ("session_max_seconds", 60, 7 * 86400),
    "GOVSHARE_SIGNIN_MAX_FAILURES": ("signin_max_failures", 1, 100),
    "GOVSHARE_SIGNIN_LOCK_SECONDS": ("signin_lock_seconds", 1, 7 * 86400),
    "GOVSHARE_SIGNIN_ADDRESS_MAX_FAILURES": ("signin_address_max_failures", 1, 10_000),
    "GOVSHARE_DB_LISTING_POOL_SIZE": ("db_listing_pool_size", 1, 100),
    "GOVSHARE_DB_LISTING_TIMEOUT_MS": ("db_listing_timeout_ms", 1, 600_000),
    "GOVSHARE_DB_SEARCH_POOL_SIZE": ("db_search_pool_size", 1, 100),
    "GOVSHARE_DB_SEARCH_TIMEOUT_MS": ("db_search_timeout_ms", 1, 600_000),
    "GOVSHARE_HEAVY_READ_CONCURRENCY": ("heavy_read_concurrency", 0, 1000),
    "GOVSHARE_HEAVY_READ_QUEUE": ("heavy_read_queue", 0, 100_000),
}
_FLOAT_FIELDS = {
    "GOVSHARE_RATE_LIMIT_PER_SECOND": ("rate_limit_per_second", 0.001, 1e9),
    "GOVSHARE_AUDIT_FLUSH_MS": ("audit_flush_ms", 0.0, 1000.0),
    "GOVSHARE_AUDIT_LINGER_MS": ("audit_linger_ms", 0.0, 1000.0),
    "GOVSHARE_CALL_TIMEOUT_SECONDS": ("call_timeout_seconds", 0.05, 600.0),
    "GOVSHARE_DEPENDENCY_WAIT_SECONDS": ("dependency_wait_seconds", 0.5, 3600.0),
    "GOVSHARE_DRAIN_GRACE_SECONDS": ("drain_grace_seconds", 0.0, 300.0),
    "GOVSHARE_DRAIN_TIMEOUT_SECONDS": ("drain_timeout_seconds", 0.0, 3600.0),
    "GOVSHARE_PROVIDER_TIMEOUT_SECONDS": ("provider_timeout_seconds", 0.05, 600.0),
    "GOVSHARE_PROVIDER_BREAKER_OPEN_SECONDS": ("provider_breaker_open_seconds", 0.1, 3600.0),
    "GOVSHARE_EDGE_ACCESS_LOG_PERCENT": ("edge_access_log_percent", 0.0, 100.0),
    "GOVSHARE_CATALOG_USAGE_REFRESH_SECONDS": ("catalog_usage_refresh_seconds", 0.0, 86400.0),
    "GOVSHARE_HEAVY_READ_SHARE": ("heavy_read_share", 0.01, 1.0),
}
_STR_FIELDS = {
    workdays.HOLIDAYS_FILE_ENV: "holidays_file",
    "GOVSHARE_DATABASE_URL": "database_url",
    "GOVSHARE_DATABASE_READ_URL": "database_read_url",
    "GOVSHARE_REDIS_URL": "redis_url",
    "GOVSHARE_TOKEN_PRIVATE_KEY": "token_private_key",
    "GOVSHARE_TOKEN_PUBLIC_KEY": "token_public_key",
    "GOVSHARE_TOKEN_RETIRED_PUBLIC_KEYS": "token_retired_public_keys",
    "GOVSHARE_AUDIT_SIGNING_KEY": "audit_signing_key",
    "GOVSHARE_AUDIT_RETIRED_PUBLIC_KEYS": "audit_retired_public_keys",
    "GOVSHARE_PROVIDER_SIGNING_KEY": "provider_signing_key",
    "GOVSHARE_PERSON_SECRET_KEY": "person_secret_key",
    "GOVSHARE_AUDIT_ARCHIVE_DIR": "audit_archive_dir",
    "GOVSHARE_CATALOG_TARGET": "catalog_target",
    "GOVSHARE_AUTHORIZATION_TARGET": "authorization_target",
    "GOVSHARE_QUERY_TARGET": "query_target",
    "GOVSHARE_FOUNDATION_TARGET": "foundation_target",
    "GOVSHARE_SUPERVISION_TARGET": "supervision_target",
    "GOVSHARE_CATALOG_HEAVY_READ_TARGET": "catalog_heavy_read_target",
    "GOVSHARE_QUERY_HEAVY_READ_TARGET": "query_heavy_read_target",
    "GOVSHARE_TLS_CERT": "tls_cert",
    "GOVSHARE_TLS_KEY": "tls_key",
    "GOVSHARE_TLS_CA": "tls_ca",
    "GOVSHARE_METRICS_HOST": "metrics_host",
    "GOVSHARE_JWKS_LISTEN": "jwks_listen",
    "GOVSHARE_JWKS_URL": "jwks_url",
    "GOVSHARE_EDGE_ADMIN": "edge_admin",
    "GOVSHARE_DESCRIPTOR_SET": "descriptor_set",
    "GOVSHARE_OIDC_ISSUER": "oidc_issuer",
    "GOVSHARE_OIDC_JWKS_URL": "oidc_jwks_url",
    "GOVSHARE_OIDC_AUDIENCE": "oidc_audience",
    "GOVSHARE_OIDC_USERNAME_CLAIM": "oidc_username_claim",
}

# The other services' host:port: one without a port, or a port no socket can have, is refused at start (the edge
# would otherwise render it into Envoy's clusters, and a service would dial it at its first call).
_TARGETS = ("catalog_target", "authorization_target", "query_target", "foundation_target", "supervision_target",
            "catalog_heavy_read_target", "query_heavy_read_target")

# What each component cannot start without.
_REQUIRED = {
    "gateway": ("jwks_url", "catalog_target", "authorization_target", "query_target", "foundation_target"),
    "catalog": ("database_url", "redis_url", "token_public_key", "authorization_target"),
    "authorization": ("database_url", "redis_url", "token_private_key", "token_public_key", "catalog_target"),
    "query": ("database_url", "redis_url", "token_public_key", "catalog_target", "authorization_target",
              "foundation_target", "audit_signing_key"),
    "foundation": ("database_url", "redis_url", "token_public_key", "authorization_target"),
    "supervision": ("database_url", "redis_url", "token_public_key", "catalog_target", "authorization_target",
                    "query_target", "foundation_target"),
}


def internal_keys(value: str) -> tuple[bytes, ...]:
    """GOVSHARE_INTERNAL_KEY's keys: one, or during a rotation several, comma separated; the first signs the
    process's service identities, every one verifies those it receives (AssertionVerifier). Each is taken byte
    for byte, as the single key always was (not stripped: a key written with a trailing newline signed with it,
    and a pod of this release reading it otherwise would refuse the calls of the pods it replaces)."""
    return tuple(part.encode() for part in value.split(","))


#: The words every process (the console's GOVSHARE_CONSOLE_SECURE_COOKIE too) reads as a boolean, any case.
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def parse_bool(name: str, raw: str, errors: list[str]) -> bool:
    """A boolean setting: one word for every process, so a value one of them takes no other refuses at start."""
    value = raw.strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    errors.append(f"{name}={raw!r}: expected true or false")
    return False


def _parse_number(name: str, raw: str, kind: type, low: float, high: float, errors: list[str]) -> float | int:
    try:
        value = kind(raw)
    except ValueError:
        # 'expected a int' told an operator nothing of the range; name the kind and the bounds in plain words.
        what = "a whole number" if kind is int else "a number"
        errors.append(f"{name}={raw!r}: expected {what} between {low} and {high}")
        return kind(low)
    if not low <= value <= high:
        errors.append(f"{name}={raw!r}: must be between {low} and {high}")
    return value


def _parse_mask_rules(raw: str, errors: list[str]) -> dict[str, str]:
    """``name=pattern;name=pattern`` — see services.runtime.masking for the pattern language."""
    rules: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in raw.split(";"))):
        name, sep, pattern = part.partition("=")
        if not sep or not name.strip():
            errors.append(f"GOVSHARE_MASK_RULES: {part!r} is not name=pattern")
            continue
        try:  # the pattern is checked here, not by query's Masker at start (a traceback, restarted forever by up)
            Masker({name.strip(): pattern.strip()})
        except ValueError as exc:
            errors.append(f"GOVSHARE_MASK_RULES: {exc}")
            continue
        rules[name.strip()] = pattern.strip()
    return rules


def _parse_env(component: str, env: Mapping[str, str], errors: list[str]) -> dict[str, object]:
    values: dict[str, object] = {"component": component}
    if "GOVSHARE_ZONE" in env:
        values["zone"] = env["GOVSHARE_ZONE"].strip().lower()
    if "GOVSHARE_LISTEN" in env:
        values["listen"] = env["GOVSHARE_LISTEN"].strip()
    if "GOVSHARE_HEALTH_LISTEN" in env:
        values["health_listen"] = env["GOVSHARE_HEALTH_LISTEN"].strip()
    if "GOVSHARE_LOG_LEVEL" in env:
        values["log_level"] = env["GOVSHARE_LOG_LEVEL"].strip().upper()
    if "GOVSHARE_INTERNAL_KEY" in env:
        values["internal_key"], *previous = internal_keys(env["GOVSHARE_INTERNAL_KEY"])
        values["internal_previous_keys"] = tuple(previous)
    if "GOVSHARE_REFLECTION" in env:
        values["reflection"] = parse_bool("GOVSHARE_REFLECTION", env["GOVSHARE_REFLECTION"], errors)
    if "GOVSHARE_CORS_ORIGINS" in env:
        values["cors_origins"] = tuple(o.strip() for o in env["GOVSHARE_CORS_ORIGINS"].split(",") if o.strip())
    if "GOVSHARE_SIGNIN_FORWARDERS" in env:
        values["signin_forwarders"] = _networks("GOVSHARE_SIGNIN_FORWARDERS", env["GOVSHARE_SIGNIN_FORWARDERS"], errors)
    if "GOVSHARE_MASK_RULES" in env:
        values["mask_rules"] = _parse_mask_rules(env["GOVSHARE_MASK_RULES"], errors)
    for name, attr in _STR_FIELDS.items():
        if name in env:
            values[attr] = env[name].strip()
    parse_sentinels(env, values, errors)
    for name, (attr, low, high) in _INT_FIELDS.items():
        if name in env:
            values[attr] = _parse_number(name, env[name], int, low, high, errors)
    for name, (attr, low, high) in _FLOAT_FIELDS.items():
        if name in env:
            values[attr] = _parse_number(name, env[name], float, low, high, errors)
    return values


def parse_sentinels(env: Mapping[str, str], values: dict[str, object], errors: list[str]) -> None:
    """GOVSHARE_REDIS_SENTINELS + GOVSHARE_REDIS_SENTINEL_MASTER: both or neither; with them the Redis URL becomes
    the redis+sentinel:// URL (credentials and database kept from GOVSHARE_REDIS_URL), one configuration for every
    client (the console's too)."""
    raw = env.get("GOVSHARE_REDIS_SENTINELS", "").strip()
    master = env.get("GOVSHARE_REDIS_SENTINEL_MASTER", "").strip()
    if not raw and not master:
        return
    if not raw or not master:
        errors.append("GOVSHARE_REDIS_SENTINELS and GOVSHARE_REDIS_SENTINEL_MASTER must be set together")
        return
    addresses, problems = redis_target.parse_addresses(raw)
    if problems:
        errors.append(f"GOVSHARE_REDIS_SENTINELS={raw!r}: {'; '.join(problems)} (expected host:port,host:port)")
        return
    base = str(values.get("redis_url", ""))
    if base and redis_url_problem(base):
        return  # named by the URL's own check (_url_problems): the sentinels' URL is made of what it holds
    if base and not base.startswith("redis://"):
        errors.append("GOVSHARE_REDIS_URL: with sentinels it may only give the password and database (redis://…; "
                      "TLS to a Sentinel deployment is not supported)")
        return
    values["redis_sentinels"] = tuple(f"{host}:{port}" for host, port in addresses)
    values["redis_sentinel_master"] = master
    values["redis_url"] = redis_target.sentinel_url(addresses, master, base)


def _audit_key_problems(settings: Settings) -> list[str]:
    """The audit keys must be Ed25519 PEM keys: found at start, not at the first checkpoint."""
    problems = []
    if settings.audit_signing_key:
        try:
            ed25519_private_key(settings.audit_signing_key)
        except ValueError as exc:
            problems.append(f"GOVSHARE_AUDIT_SIGNING_KEY: {exc} (checkpoints are signed with Ed25519)")
    if settings.audit_retired_public_keys:
        try:
            ed25519_public_keys(settings.audit_retired_public_keys)
        except ValueError as exc:
            problems.append(f"GOVSHARE_AUDIT_RETIRED_PUBLIC_KEYS: {exc}")
    if settings.provider_signing_key:
        try:
            ed25519_private_key(settings.provider_signing_key)
        except ValueError as exc:
            problems.append(f"GOVSHARE_PROVIDER_SIGNING_KEY: {exc} (provider assertions are signed with Ed25519)")
    return problems


def _token_key_problems(settings: Settings) -> list[str]:
    """The token keys are read when a service is built: a value that is no Ed25519 PEM key ended there in a
    ValueError traceback (exit 1), and a signing key whose public half no service trusts signed tokens every
    service refused."""
    problems = []
    public = []
    if settings.token_public_key:
        try:
            public = ed25519_public_keys(settings.token_public_key)
        except ValueError as exc:
            problems.append(f"GOVSHARE_TOKEN_PUBLIC_KEY: {exc}")
    if settings.token_retired_public_keys:
        try:
            retired = ed25519_public_keys(settings.token_retired_public_keys)
        except ValueError as exc:
            problems.append(f"GOVSHARE_TOKEN_RETIRED_PUBLIC_KEYS: {exc}")
        else:
            problems.extend(_still_trusted(retired, public))
    if settings.token_private_key:
        try:
            signing = ed25519_private_key(settings.token_private_key).public_key()
        except ValueError as exc:
            problems.append(f"GOVSHARE_TOKEN_PRIVATE_KEY: {exc} (tokens are signed with EdDSA)")
        else:
            if public and not any(signing.public_bytes_raw() == key.public_bytes_raw() for key in public):
                problems.append("GOVSHARE_TOKEN_PRIVATE_KEY: its public half is not among GOVSHARE_TOKEN_PUBLIC_KEY's "
                                "keys, so every service would refuse the tokens it signs (list the new public key "
                                "there, beside the previous one during a rotation)")
    return problems


def _still_trusted(retired: list[Ed25519PublicKey], public: list[Ed25519PublicKey]) -> list[str]:
    """A retired key still listed in GOVSHARE_TOKEN_PUBLIC_KEY: every service verifies tokens with that list alone
    (the retired one is authorization's, for the log's checkpoints), so its tokens were accepted everywhere and the
    JWKS published it, while the operator who had retired it (a rotation's last step, a leaked key) read that
    none was."""
    current = {key.public_bytes_raw() for key in public}
    return [f"GOVSHARE_TOKEN_RETIRED_PUBLIC_KEYS: key {key_id(key)} is still in GOVSHARE_TOKEN_PUBLIC_KEY, so every "
            "service accepts its tokens: drop it from GOVSHARE_TOKEN_PUBLIC_KEY (token-public-key) to retire it, and "
            "restart every service" for key in retired if key.public_bytes_raw() in current]


def address_problem(address: str) -> str | None:
    """What is wrong with a listening address, or None: not host:port, or a port no socket can have (caught
    when the settings or the 前置机's configuration are read, not at bind).

    A URL (http://authorization:50051, the form the REST base URL is printed in) split into the host
    'http://authorization' and a port, and passed: a service dialled 'dns:///http://authorization:50051', whose
    resolution never succeeds, so every call to that service was UNAVAILABLE while the process reported ready."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        return f"expected host:port, got {address!r}"
    if "/" in host:
        return f"expected host:port, got {address!r}: give the host and port without a scheme or path"
    if int(port) > 65535:
        return f"the port must be between 0 and 65535, got {port}"
    return None


def _address_problems(name: str, address: str) -> list[str]:
    problem = address_problem(address)
    return [f"{name}={address!r}: {problem}"] if problem else []


#: The gRPC URI schemes a dialled target may be given in (dns:///name:port, ipv4:a:1,b:2); any other is host:port.
TARGET_SCHEMES = ("dns:", "ipv4:", "ipv6:", "unix:", "unix-abstract:", "vsock:")


def _target_problems(name: str, target: str) -> list[str]:
    """A dialled target is a gRPC URI of a known scheme, taken as given, or host:port."""
    return [] if target.startswith(TARGET_SCHEMES) else _address_problems(name, target)


def _metrics_host_problems(settings: Settings) -> list[str]:
    """The host the metrics endpoint binds, when it is on: a name that is no host name (an empty label, "a..b")
    ended every service in a UnicodeError traceback from the bind, which `govshare up` restarted; one that merely
    does not resolve is said in one line at bind (server.serve)."""
    if not settings.metrics_port:
        return []
    host = settings.metrics_address
    try:
        host.encode("idna")
    except UnicodeError:
        name, value = (("GOVSHARE_METRICS_HOST", settings.metrics_host) if settings.metrics_host
                       else ("GOVSHARE_LISTEN", settings.listen))
        return [f"{name}={value!r}: not a host name or IP address (the metrics endpoint binds {host!r})"]
    return []


def _edge_admin_problems(settings: Settings) -> list[str]:
    """Envoy's admin listener on an address other machines reach: it has no authentication, and whoever reaches
    it stops the edge (/quitquitquit), drains its listeners or reads its configuration. docs/configuration.md
    said to keep it on localhost; 0.0.0.0 was taken and rendered as given. Its stats and readiness have a
    listener of their own (GOVSHARE_METRICS_PORT)."""
    if settings.component != "gateway" or address_problem(settings.edge_admin):
        return []
    host = settings.edge_admin.rpartition(":")[0].strip("[]")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name other than localhost: it may resolve anywhere
        loopback = False
    if loopback:
        return []
    return [f"GOVSHARE_EDGE_ADMIN={settings.edge_admin!r}: Envoy's admin listener must stay on this machine "
            "(127.0.0.1:PORT or [::1]:PORT): it has no authentication, and whoever reaches it can stop the edge; "
            "the edge's metrics and readiness are on GOVSHARE_METRICS_PORT"]


def _health_port_problems(settings: Settings) -> list[str]:
    """The health-only listener on the gRPC port itself: gRPC binds both with SO_REUSEPORT, so the kernel shared
    the port's connections between them and a share of every client's calls met a server serving only health
    (UNIMPLEMENTED), with no error at start."""
    if address_problem(settings.listen) or not settings.health_listen or address_problem(settings.health_listen):
        return []
    port = int(settings.listen.rpartition(":")[2])
    if port and int(settings.health_listen.rpartition(":")[2]) == port:
        return [f"GOVSHARE_HEALTH_LISTEN={settings.health_listen!r}: give it a port of its own, not "
                f"GOVSHARE_LISTEN's ({port}): both would take the port's calls, and the health-only listener "
                "answers nothing else"]
    return []


def database_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a PostgreSQL URL (the platform's, a department database's), or None; the URL itself
    is not repeated (it may hold a password). asyncpg refuses such a URL only when it connects, with a traceback
    (a port that is no number or out of range, a broken IPv6 host)."""
    if not url.startswith(DATABASE_SCHEMES):
        return "expected a postgresql:// URL (postgresql://user:password@host:port/database)"
    if _unencoded_credentials(url):
        return ("the user or password holds a character a URL reserves ('@', '/', '#', '?' or a '%' of no "
                "%XX): write it percent-encoded (@ as %40, / as %2F, # as %23, ? as %3F, % as %25)")
    try:
        _ = urlsplit(url).port  # raises on a port out of range or a broken IPv6 host
    except ValueError as exc:
        return f"the postgresql:// URL is not valid ({exc})"
    return _database_url_parameter_problem(parse_qs(urlsplit(url).query))


#: The values libpq (and asyncpg) take for the URL's parameters that have a fixed set of them.
_DATABASE_URL_CHOICES = {
    "sslmode": ("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
    "target_session_attrs": ("any", "primary", "standby", "prefer-standby", "read-write", "read-only"),
    "sslnegotiation": ("postgres", "direct"),
    "ssl_min_protocol_version": ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"),
    "ssl_max_protocol_version": ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"),
}
#: The URL's parameters naming a file the driver opens.
_DATABASE_URL_FILES = ("sslrootcert", "sslcert", "sslkey", "sslcrl")


def _database_url_parameter_problem(parameters: Mapping[str, list[str]]) -> str | None:
    """Why a parameter of a PostgreSQL URL cannot be used, or None.

    asyncpg reads them only when it connects: a value of none of its choices (sslmode=verify_ful) or a
    certificate file that is not there (sslrootcert=/etc/govshare/pg/ca.crt, the Secret mounted elsewhere) raised
    there, and a service took it for PostgreSQL not being up yet, retrying for ever ("dependencies not ready
    ([Errno 2] No such file or directory); retrying"), naming neither the variable nor the file."""
    for name, allowed in _DATABASE_URL_CHOICES.items():
        for value in parameters.get(name, ()):
            if not {value, value.replace("_", "-"), value.replace("_", ".")} & set(allowed):  # verify_full too
                return f"{name}={value!r} in the URL is none of {', '.join(allowed)}"
    for name in _DATABASE_URL_FILES:
        for path in parameters.get(name, ()):
            if not os.path.isfile(path):
                return f"{name}={path!r} in the URL: no such file"
    return _root_certificate_problem(parameters)


def _root_certificate_problem(parameters: Mapping[str, list[str]]) -> str | None:
    """Why a URL that verifies PostgreSQL's certificate has no CA to verify it with, or None.

    With sslmode verify-ca or verify-full and no sslrootcert, asyncpg (as libpq) takes the CA from PGSSLROOTCERT,
    else ~/.postgresql/root.crt, and refuses to connect without one. The image's user has no home (/nonexistent),
    so a URL such as deploy.md's '…?sslmode=verify-full' was retried as a database not up yet ('not ready (root
    certificate file … does not exist …)') until the startup probe killed the pod, though no wait could mend it."""
    mode = (parameters.get("sslmode") or [os.environ.get("PGSSLMODE", "")])[-1].replace("_", "-")
    if mode not in ("verify-ca", "verify-full") or parameters.get("sslrootcert"):
        return None
    if environment_file := os.environ.get("PGSSLROOTCERT"):
        return None if os.path.isfile(environment_file) else f"PGSSLROOTCERT={environment_file!r}: no such file"
    try:
        if (Path.home() / ".postgresql" / "root.crt").is_file():
            return None
    except RuntimeError:
        pass  # no home directory: asyncpg finds no CA there either
    return (f"sslmode={mode} checks PostgreSQL's certificate against a CA, and none is given: add "
            "sslrootcert=<the CA's PEM file> to the URL, or name it in PGSSLROOTCERT (the chart: database.ca)")


def _unencoded_credentials(url: str) -> bool:
    """Whether the user or password of ``url`` holds a character the URL reserves, written as it is.

    A generated password often holds one. Written raw, 'dept:p@ss@db:5432' or 'dept:pa/ss@db' made the
    driver look for another host ("does not answer (gaierror: Name or service not known)", the URL shown
    without its password, so without the mistake), and 'dept:50%off@db' sent another password ("password
    authentication failed"): the officer chased an outage or a wrong password."""
    rest = url.split("://", 1)[1]
    if "#" in rest:
        return True
    query = rest.find("?")
    if query != -1 and "/" not in rest[:query] and "@" in rest[query:]:
        return True  # a '?' before the host ('dept:pw?1@db/hrss'), the URL's query starting there
    head = rest.split("?", 1)[0]
    if head.count("@") > 1:
        return True
    userinfo, at, _host = head.rpartition("@")
    return bool(at) and ("/" in userinfo or re.search(r"%(?![0-9A-Fa-f]{2})", userinfo) is not None)


def _url_problems(settings: Settings) -> list[str]:
    """A database or Redis URL of another scheme is refused at start, naming its variable (never the URL: it may
    hold a password), instead of failing at the first connection with the driver's traceback."""
    problems = []
    for name, url in (("GOVSHARE_DATABASE_URL", settings.database_url),
                      ("GOVSHARE_DATABASE_READ_URL", settings.database_read_url)):
        if url and (problem := database_url_problem(url)):
            problems.append(f"{name}: {problem}")
    if settings.redis_url and (problem := redis_url_problem(settings.redis_url)):
        problems.append(f"GOVSHARE_REDIS_URL: {problem}")
    return problems


def redis_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a Redis URL, or None; the URL itself is not repeated (it may hold a password).

    redis-py reads a redis:// URL only when it connects: a port out of range or an option that is no value of
    its kind (?socket_timeout=5s) raised there, and a service took it for Redis not being up yet, retrying for
    ever ("dependencies not ready (Port out of range 0-65535); retrying"), never naming the variable; a database
    that is no number (redis://host/sessions) was read as database 0, another service's."""
    if not url.startswith(REDIS_SCHEMES):
        return "expected a redis://, rediss:// or unix:// URL"
    try:
        if redis_target.sentinel_target(url) is not None:
            return None
        options = parse_url(url)
    except ValueError as exc:
        return f"the URL is not valid ({exc})"
    path = "" if url.startswith("unix://") else urlsplit(url).path.strip("/")
    if path and not path.isdigit():
        return "the path after the host must be the database's number (redis://host:6379/0)"
    for name in _REDIS_URL_FILES:  # opened only when redis-py connects: a retry for ever, as for sslrootcert
        if (file := options.get(name)) and not os.path.isfile(str(file)):
            return f"{name}={file!r} in the URL: no such file"
    return None


#: The options of a rediss:// URL naming a file redis-py opens (a CA mounted from a Secret, the chart's redis.ca).
_REDIS_URL_FILES = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile")


def _networks(name: str, text: str, errors: list[str]) -> tuple[str, ...]:
    """The comma-separated networks (CIDR, or one address) of ``text``; each one that is none named in ``errors``."""
    networks = []
    for item in (n.strip() for n in text.split(",")):
        if not item:
            continue
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            errors.append(f"{name}: {item!r} is not a network: give addresses or CIDR blocks (10.0.0.0/8), "
                          "separated by commas")
    return tuple(networks)


def _origin_problems(origins: tuple[str, ...]) -> list[str]:
    """Each CORS origin as a browser sends it in Origin (scheme://host[:port]): the edge matches it exactly, so a
    bare host name, a trailing slash or '*' admitted no browser at all, without a word. So did an origin a
    browser writes otherwise (an upper-case host, the scheme's own port, a Chinese domain name, which browsers send
    in its xn-- form) or never (a wildcard host): the message names the form a browser sends, when there is one."""
    problems = []
    for origin in origins:
        canonical = _browser_origin(origin)
        if origin == "*":
            problems.append("GOVSHARE_CORS_ORIGINS: '*' would admit every site's pages (the edge does not allow it): "
                            "list the origins allowed, comma-separated")
        elif origin.lower() == "null":
            problems.append("GOVSHARE_CORS_ORIGINS: 'null' is the origin of every file:// page and sandboxed frame, "
                            "any site's included: serve the page from an http(s) origin and list that")
        elif canonical is None:
            problems.append(f"GOVSHARE_CORS_ORIGINS: {origin!r} is not an origin: give scheme://host[:port] as "
                            "browsers send it, without a path or a trailing slash (https://console.example.gov.cn)")
        elif "*" in origin:
            problems.append(f"GOVSHARE_CORS_ORIGINS: {origin!r}: a wildcard matches no browser's origin (the edge "
                            "compares each exactly): list every origin, comma-separated")
        elif canonical != origin:
            problems.append(f"GOVSHARE_CORS_ORIGINS: {origin!r} is not how a browser sends this origin: give "
                            f"{canonical!r}")
    return problems


#: The ports browsers leave out of an origin (the scheme's own).
_DEFAULT_PORTS = {"http": 80, "https": 443}
#: A host name as a browser serializes it (lower case, ASCII: a Chinese name in its xn-- form), or a wildcard.
_HOST_NAME = re.compile(r"[a-z0-9_*]([a-z0-9_*-]*[a-z0-9_*])?(\.[a-z0-9_*]([a-z0-9_*-]*[a-z0-9_*])?)*")


def _browser_origin(origin: str) -> str | None:
    """``origin`` as a browser writes it in its Origin header (RFC 6454 serialization), or None if it is no
    http(s) origin at all."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if (parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname or parts.path or parts.query
            or parts.fragment or parts.username or parts.password or "?" in origin or "#" in origin
            or parts.netloc.endswith(":")):
        return None
    scheme, host = parts.scheme.lower(), parts.hostname
    if ":" in host:  # an IPv6 address, in brackets
        host = f"[{host}]"
    else:
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
        if not _HOST_NAME.fullmatch(host):
            return None
    return f"{scheme}://{host}" + ("" if port in (None, _DEFAULT_PORTS[scheme]) else f":{port}")


def _archive_dir_problems(directory: str) -> list[str]:
    """Where the query service archives expired months, checked at start: a file or a read-only directory there
    failed each hourly pass with only "archiving expired access log months failed (FileExistsError)" in the log,
    and the expired months stayed online, past the retention the law sets."""
    if not directory:
        return []
    if not os.path.exists(directory):
        # Made at the first archive, with its parents: by the nearest of them that exists, which must let it.
        # Checked there, a typo under a read-only root (the pods' filesystem) failed every hourly pass instead.
        ancestor = os.path.dirname(os.path.abspath(directory))
        while not os.path.exists(ancestor):
            ancestor = os.path.dirname(ancestor)
        if not os.path.isdir(ancestor):
            why = f"{ancestor} is a file, not a directory"
        elif not os.access(ancestor, os.W_OK | os.X_OK):
            why = f"this process (uid {os.getuid()}) cannot write in {ancestor}"
        else:
            return []
        return [f"GOVSHARE_AUDIT_ARCHIVE_DIR={directory!r}: does not exist and cannot be made ({why}): make it, or "
                "give the query service a writable volume there"]
    if not os.path.isdir(directory):
        return [f"GOVSHARE_AUDIT_ARCHIVE_DIR={directory!r}: is a file, not a directory"]
    if not os.access(directory, os.W_OK | os.X_OK):
        return [f"GOVSHARE_AUDIT_ARCHIVE_DIR={directory!r}: this process cannot write there (uid {os.getuid()}): "
                "give the query pods a writable volume"]
    return []


def tls_file_problems(settings: Settings) -> list[str]:
    """The mTLS files a serving process reads at start, each named with its variable when it is not a file (not
    part of ``validate``: the edge's renderer writes their paths for Envoy without reading them)."""
    return [f"{name}: no such file {path}"
            for name, path in (("GOVSHARE_TLS_CERT", settings.tls_cert), ("GOVSHARE_TLS_KEY", settings.tls_key),
                               ("GOVSHARE_TLS_CA", settings.tls_ca))
            if path and not os.path.isfile(path)]


def _in_range(name: str, value: float) -> bool:
    """Is a number setting's value within the bounds its parser checks (an out-of-range one is named already)?"""
    _, low, high = _INT_FIELDS.get(name) or _FLOAT_FIELDS[name]
    return low <= value <= high


def validate(settings: Settings) -> list[str]:
    """Every reason the settings cannot run their component."""
    errors: list[str] = []
    if settings.component not in COMPONENTS:
        errors.append(f"component {settings.component!r}: expected one of {', '.join(COMPONENTS)}")
    if settings.zone not in ZONES:
        errors.append(f"GOVSHARE_ZONE={settings.zone!r}: expected extranet or intranet")
    for name, address, required in (("GOVSHARE_LISTEN", settings.listen, True),
                                     ("GOVSHARE_HEALTH_LISTEN", settings.health_listen, False),
                                     ("GOVSHARE_JWKS_LISTEN", settings.jwks_listen, False),
                                     ("GOVSHARE_EDGE_ADMIN", settings.edge_admin, False)):
        if address or required:
            errors.extend(_address_problems(name, address))
    errors.extend(_url_problems(settings))
    errors.extend(_health_port_problems(settings))
    errors.extend(_metrics_host_problems(settings))
    errors.extend(_edge_admin_problems(settings))
    errors.extend(_origin_problems(settings.cors_origins))
    for attr in _TARGETS:
        if getattr(settings, attr):
            errors.extend(_target_problems(f"GOVSHARE_{attr.upper()}", getattr(settings, attr)))
    if settings.jwks_url and not settings.jwks_url.startswith(("http://", "https://")):
        errors.append(f"GOVSHARE_JWKS_URL={settings.jwks_url!r}: expected an http:// or https:// URL")
    if settings.component != "gateway" and any(len(key) < 32 for key in settings.verifying_internal_keys):
        errors.append("GOVSHARE_INTERNAL_KEY: must be set to a random secret of at least 32 characters (during a "
                      "rotation several, comma separated, each of at least 32)")
    if settings.log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        errors.append(f"GOVSHARE_LOG_LEVEL={settings.log_level!r}: expected DEBUG, INFO, WARNING or ERROR")
    tls_parts = [settings.tls_cert, settings.tls_key, settings.tls_ca]
    if any(tls_parts) and not all(tls_parts):
        errors.append("GOVSHARE_TLS_CERT, GOVSHARE_TLS_KEY and GOVSHARE_TLS_CA must be set together")
    errors.extend(_audit_key_problems(settings))
    errors.extend(_token_key_problems(settings))
    errors.extend(person_secrets.key_problems(settings.person_secret_key))
    if settings.holidays_file:
        errors.extend(workdays.holidays_file_problems(settings.holidays_file))
    if settings.oidc_issuer and not (settings.oidc_jwks_url.startswith(("http://", "https://"))
                                     and settings.oidc_audience and settings.oidc_username_claim):
        errors.append("GOVSHARE_OIDC_ISSUER is set: GOVSHARE_OIDC_JWKS_URL (an http(s) URL), GOVSHARE_OIDC_AUDIENCE "
                      "and GOVSHARE_OIDC_USERNAME_CLAIM must be set too")
    if not settings.oidc_issuer and (settings.oidc_jwks_url or settings.oidc_audience):
        # "Set together": without the issuer OpenID Connect sign-in was silently off.
        errors.append("GOVSHARE_OIDC_JWKS_URL or GOVSHARE_OIDC_AUDIENCE is set without GOVSHARE_OIDC_ISSUER: set the "
                      "IdP's issuer too for OpenID Connect sign-in, or unset them")
    if (settings.component == "gateway" and _in_range("GOVSHARE_RATE_LIMIT_BURST", settings.rate_limit_burst)
            and _in_range("GOVSHARE_RATE_LIMIT_PER_SECOND", settings.rate_limit_per_second)
            and settings.rate_limit_burst < settings.rate_limit_per_second):
        # Envoy's bucket holds at most the burst: it refilled a second's worth of tokens and dropped what did not
        # fit, so a burst below the rate silently lowered the rate to the burst a second. (A value out of its
        # range is named on its own.)
        errors.append(f"GOVSHARE_RATE_LIMIT_BURST={settings.rate_limit_burst} is below GOVSHARE_RATE_LIMIT_PER_SECOND="
                      f"{settings.rate_limit_per_second:g}: the edge's bucket holds at most the burst, so no more than "
                      f"{settings.rate_limit_burst} calls a second would pass; set the burst to at least the rate")
    if settings.audit_retention_months and not settings.audit_archive_dir:
        errors.append("GOVSHARE_AUDIT_RETENTION_MONTHS is set: GOVSHARE_AUDIT_ARCHIVE_DIR must say where archived "
                      "months go")
    if settings.audit_retention_months and settings.component == "query":
        errors.extend(_archive_dir_problems(settings.audit_archive_dir))
    for attr in _REQUIRED.get(settings.component, ()):
        if not getattr(settings, attr):
            errors.append(f"GOVSHARE_{attr.upper()}: required by the {settings.component} service")
    return errors


def _read(component: str, env: Mapping[str, str]) -> tuple[Settings, list[str]]:
    errors: list[str] = []
    settings = Settings(**_parse_env(component, env, errors))  # type: ignore[arg-type]
    errors.extend(validate(settings))
    errors.extend(tracing_problems(env))
    return settings, errors


def problems(component: str, env: Mapping[str, str]) -> list[str]:
    """Every problem of ``env`` for ``component``: `govshare up` checks all its processes' settings with it
    before it starts anything."""
    return _read(component, env)[1]


def load(component: str, env: Mapping[str, str] | None = None) -> Settings:
    """Settings for ``component`` from the environment, or SettingsError naming every problem."""
    settings, errors = _read(component, os.environ if env is None else env)
    if errors:
        raise SettingsError("invalid configuration:\n  - " + "\n  - ".join(errors))
    return settings
