"""The platform under test, started by the benchmark on this machine.

It runs exactly what a load tester runs — ``govshare up`` as a subprocess, five
service processes, the demo seeded on first start — in a throw-away data
directory on free ports. PostgreSQL and Redis are started here (the same
embedded servers ``govshare up`` would start) and passed to it by URL, so the
benchmark can flush the record cache between phases and count their CPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from google.protobuf import timestamp_pb2

from govshare.authorization.v1 import sharing_pb2, sharing_pb2_grpc
from govshare.common.v1 import common_pb2
from loadtest.cpu import ProcessGroup
from loadtest.credentials import bearer
from services.demo import DemoCredentials, issue_token, person_session
from services.launcher import free_port_base
from services.runtime.embedded import EmbeddedServers
from services.runtime.identity import Caller
from services.runtime.tokens import issue_token as issue_token_locally

READY_LINE = "govshare is up"
SERVICES = ("gateway", "catalog", "authorization", "query", "foundation")
#: The benchmark measures the servers, not the per-system rate limit (which stays on, out of reach).
BENCH_ENVIRONMENT = {"GOVSHARE_RATE_LIMIT_PER_SECOND": "10000000", "GOVSHARE_RATE_LIMIT_BURST": "10000000"}


@dataclass
class Platform:
    """A running `govshare up` with its own PostgreSQL and Redis."""

    data_dir: Path
    persons: int = 10_000
    workers: int = 1
    #: ``govshare up --heavy-read-processes`` (and ``--heavy-read-nice``): listings and searches on their own.
    heavy_read_processes: bool = False
    heavy_read_nice: int = 0
    port_base: int = 0
    extra_environment: dict[str, str] = field(default_factory=dict)
    credentials: DemoCredentials | None = None
    process: asyncio.subprocess.Process | None = None
    embedded: EmbeddedServers | None = None
    _drain: asyncio.Task | None = None
    #: Persons' session metadata by department (Platform.approver).
    _sessions: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)

    @property
    def gateway(self) -> str:
        return f"127.0.0.1:{self.port_base}"

    @property
    def query_target(self) -> str:
        return f"127.0.0.1:{self.port_base + 3}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "platform.log"

    async def start(self, wait_seconds: float = 600.0) -> Platform:
        """Starts and seeds the platform; returns once the gateway serves and the demo credentials exist."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.embedded = await asyncio.to_thread(EmbeddedServers(self.data_dir).start)
        # The launcher's layout: services from the base, then the 前置机 (+7), Envoy's admin (+8), the JWKS (+9).
        self.port_base = self.port_base or free_port_base()
        environment = {**os.environ, **BENCH_ENVIRONMENT, **self.extra_environment,
                       "GOVSHARE_DATABASE_URL": self.embedded.database_url,
                       "GOVSHARE_REDIS_URL": self.embedded.redis_url}
        log = self.log_path.open("ab")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.cli", "up", "--data-dir", str(self.data_dir),
            "--port", str(self.port_base), "--persons", str(self.persons), "--workers", str(self.workers),
            *(["--heavy-read-processes", "--heavy-read-nice", str(self.heavy_read_nice)]
              if self.heavy_read_processes else []),
            stdout=asyncio.subprocess.PIPE, stderr=log, env=environment)
        log.close()
        try:
            await asyncio.wait_for(self._until_ready(), wait_seconds)
        except TimeoutError:
            await self.stop()
            raise RuntimeError(f"the platform did not come up in {wait_seconds:.0f}s; see {self.log_path}") from None
        self._drain = asyncio.ensure_future(self._copy_output())
        self.credentials = DemoCredentials.load(self.data_dir / "demo-credentials.json")
        return self

    async def _until_ready(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        with self.log_path.open("a", encoding="utf-8") as log:
            while True:
                line = await self.process.stdout.readline()
                if not line:
                    raise RuntimeError(f"govshare up exited with {await self.process.wait()}; see {self.log_path}")
                text = line.decode(errors="replace")
                log.write(text)
                log.flush()
                if READY_LINE in text:
                    return

    async def _copy_output(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        with self.log_path.open("a", encoding="utf-8") as log:
            while line := await self.process.stdout.readline():
                log.write(line.decode(errors="replace"))

    def process_group(self) -> ProcessGroup:
        """Every process of the platform: the launcher and its services (with their workers), PostgreSQL, Redis."""
        assert self.process is not None and self.embedded is not None
        markers = [self.postgres_marker, self.embedded.redis_url.removeprefix("unix://")]
        return ProcessGroup([self.process.pid], markers)

    @property
    def database_url(self) -> str:
        """The platform's PostgreSQL (the hand-built peer reads the same population table)."""
        assert self.embedded is not None
        return self.embedded.database_url

    @property
    def postgres_marker(self) -> str:
        """What the command lines of this platform's PostgreSQL processes name: its data directory."""
        return str(self.data_dir / "pg")

    def internal_key(self) -> bytes:
        return json.loads((self.data_dir / "keys.json").read_text(encoding="utf-8"))["internal_key"].encode()

    def system(self, key: str) -> dict[str, str]:
        assert self.credentials is not None
        return self.credentials.systems[key]

    async def token(self, system: str) -> str:
        entry = self.system(system)
        async with grpc.aio.insecure_channel(self.gateway) as channel:
            return await issue_token(channel, entry["system_id"], entry["secret"])

    async def bearer(self, system: str) -> tuple[tuple[str, str], ...]:
        """Call metadata carrying a fresh token of ``system``."""
        return bearer(await self.token(system))

    async def approver(self, department: str) -> tuple[tuple[str, str], ...]:
        """Call metadata of the demo department's 审批人 (replies and revocations are persons' decisions, issue
        12), signed in with the demo password and TOTP secret; one session serves every call (a TOTP code signs
        in once)."""
        if department not in self._sessions:
            assert self.credentials is not None
            async with grpc.aio.insecure_channel(self.gateway) as channel:
                self._sessions[department] = await person_session(channel, self.credentials, f"{department}.approver")
        return self._sessions[department]

    def caller(self, system: str) -> Caller:
        entry = self.system(system)
        return Caller(entry["system_id"], entry["department"], authority=False)

    def direct_metadata(self, system: str) -> tuple[tuple[str, str], ...]:
        """A bearer token of ``system``, signed with the platform's key as IssueToken would (to reach one service
        directly: every service verifies the token itself)."""
        private_key = json.loads((self.data_dir / "keys.json").read_text(encoding="utf-8"))["token_private_key"]
        return bearer(issue_token_locally(private_key, self.caller(system), 3600).token)

    async def flush_record_cache(self, dataset: str) -> int:
        """Deletes the cached records of ``dataset`` at every endpoint and announces it (RECORDS_CHANGED for the
        whole dataset, naming no endpoint: every endpoint's, which empties the query processes' in-process tier),
        so the next queries take the miss path."""
        import redis.asyncio as aioredis

        from services.runtime.cache import RECORD_KEY_PREFIX, RECORDS_CHANGED, publish

        assert self.embedded is not None
        client = aioredis.from_url(self.embedded.redis_url)
        deleted = 0
        try:
            batch: list[bytes] = []
            async for name in client.scan_iter(match=f"{RECORD_KEY_PREFIX}*:{dataset}:*", count=5000):
                batch.append(name)
                if len(batch) >= 5000:
                    deleted += await client.unlink(*batch)
                    batch.clear()
            if batch:
                deleted += await client.unlink(*batch)
            await publish(client, RECORDS_CHANGED, {"dataset": dataset, "all": True})
        finally:
            await client.aclose()
        return deleted

    async def grant(self, applicant: str, provider: str, resource: str, items: list[str]) -> str:
        """Applies as ``applicant`` and approves as ``provider``: the id of the resulting grant."""
        expire = timestamp_pb2.Timestamp()
        expire.FromDatetime(dt.datetime.now(dt.UTC) + dt.timedelta(days=30))
        application = sharing_pb2.Application(
            applicant_department_code=self.system(applicant)["department"], resource_code=resource, items=items,
            purposes=[common_pb2.PURPOSE_TYPE_WORK_REFERENCE], purpose_text="benchmark: revocation propagation",
            basis="性能测试：撤销授权的生效时间", requested_expire_time=expire,
            methods=[common_pb2.SHARE_METHOD_ONLINE_QUERY])
        async with grpc.aio.insecure_channel(self.gateway) as channel:
            sharing = sharing_pb2_grpc.SharingServiceStub(channel)
            submitted = await sharing.SubmitApplication(
                sharing_pb2.SubmitApplicationRequest(application=application),
                metadata=await self.bearer(applicant), timeout=10)
            replied = await sharing.ReplyApplication(
                sharing_pb2.ReplyApplicationRequest(id=submitted.application.id,
                                                    decision=sharing_pb2.REPLY_DECISION_APPROVE),
                metadata=await self.approver(provider), timeout=10)
        return replied.grant.id

    async def revoke(self, provider: str, grant_id: str) -> None:
        async with grpc.aio.insecure_channel(self.gateway) as channel:
            await sharing_pb2_grpc.SharingServiceStub(channel).RevokeGrant(
                sharing_pb2.RevokeGrantRequest(id=grant_id, reason="benchmark: revocation propagation"),
                metadata=await self.approver(provider), timeout=10)

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 40)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        if self._drain is not None:
            self._drain.cancel()
        if self.embedded is not None:
            await asyncio.to_thread(self.embedded.stop)
            self.embedded = None
