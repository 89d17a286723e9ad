"""Shared fixtures: real PostgreSQL and Redis (embedded by default, external by URL).

Set GOVSHARE_TEST_DATABASE_URL (an admin URL: the suite creates its own database)
and GOVSHARE_TEST_REDIS_URL to run against external servers instead.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.runtime import db
from services.runtime.embedded import EmbeddedServers, create_database
from services.runtime.keys import PlatformKeys, generate_keys
from services.runtime.settings import Settings
from services.runtime.telemetry import setup_tracing

# Every log line of the run is scanned for 公民身份号码 and 统一社会信用代码 (tests/log_scanner.py); a test phase
# that hangs prints where it is stuck and ends the run (tests/hang_watch.py); the heap is frozen between modules
# (tests/heap_freeze.py).
pytest_plugins = ("log_scanner", "hang_watch", "heap_freeze", "pytester")

# Sample every trace in tests, so trace propagation can be asserted span by span.
os.environ.setdefault("OTEL_TRACES_SAMPLER", "parentbased_always_on")


@pytest.fixture(scope="session")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServers]:
    """Embedded servers for whatever is not given by URL."""
    external_db = os.environ.get("GOVSHARE_TEST_DATABASE_URL", "")
    external_redis = os.environ.get("GOVSHARE_TEST_REDIS_URL", "")
    # A short path: PostgreSQL's unix socket path must stay under ~100 bytes.
    directory = Path(f"/tmp/govshare-test-{uuid.uuid4().hex[:8]}")
    servers = EmbeddedServers(directory)
    servers.start(postgres=not external_db, redis=not external_redis)
    servers.database_url = external_db or servers.database_url
    servers.redis_url = external_redis or servers.redis_url
    yield servers
    servers.stop()
    shutil.rmtree(directory, ignore_errors=True)  # ~80 MB of PostgreSQL data per run otherwise


@pytest.fixture(scope="session")
async def database_url(embedded: EmbeddedServers) -> str:
    """A fresh, fully migrated database for this test session."""
    url = await create_database(embedded.database_url, f"govshare_test_{uuid.uuid4().hex[:8]}")
    await db.migrate_all(url)
    return url


@pytest.fixture(scope="session")
def redis_url(embedded: EmbeddedServers) -> str:
    return embedded.redis_url


@pytest.fixture(scope="session")
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def keys() -> PlatformKeys:
    return generate_keys()


@pytest.fixture(scope="session")
def base_settings(database_url: str, redis_url: str, keys: PlatformKeys) -> Settings:
    """Settings every in-process test server starts from (port 0, extranet, real servers)."""
    return Settings(
        component="catalog",
        zone="extranet",
        listen="127.0.0.1:0",
        database_url=database_url,
        redis_url=redis_url,
        internal_key=keys.internal_key.encode(),
        token_private_key=keys.token_private_key,
        token_public_key=keys.token_public_key,
        audit_signing_key=keys.audit_signing_key,
        provider_signing_key=keys.provider_signing_key,
        person_secret_key=keys.person_secret_key,
        audit_flush_ms=1.0,
    )


@pytest.fixture(scope="session")
def span_exporter() -> InMemorySpanExporter:
    """Spans of every in-process server and client of the session (the process-wide tracer provider)."""
    exporter = InMemorySpanExporter()
    setup_tracing("tests", extra_processor=SimpleSpanProcessor(exporter))
    return exporter
