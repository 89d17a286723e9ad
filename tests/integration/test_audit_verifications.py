"""A full verification of the audit trail as a long-running job (issue 13, AIP-151), on the real platform.

A real hash chain of CHAIN_RECORDS records, signed every SIGNED_EVERY, is written to the platform's access log (as
the writer and checkpointer write them) under a chain id that sorts first, so that a job reads it first. Jobs
are started on query processes of their own: in process (a real gRPC server with slower pages, so that progress
is seen rising) or a real subprocess that is killed mid-job and restarted. Tampering is done in SQL and undone.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import grpc
import pytest
import pytest_asyncio
from free_ports import free_port

from govshare.query.v1 import audit_pb2, audit_pb2_grpc
from services.client import run_export_checkpoints, run_verify_trail
from services.launcher import wait_until_serving
from services.query.audit import COLUMNS, GENESIS, chain_hash
from services.query.checkpoints import CheckpointSigner, Head
from services.query.component import create_component
from services.runtime.keys import ed25519_private_key
from services.runtime.pagination import TokenScope, encode_token, serving, token_key
from services.runtime.server import RunningServer, start_server
from tests.integration.conftest import Platform
from tests.integration.test_admin_log import _logged
from tests.integration.test_drain import ROOT, service_env

pytestmark = pytest.mark.integration

CHAIN_RECORDS = 600
SIGNED_EVERY = 50
PAGE = 50
#: Sorts before every writer's random chain id: a job verifies this chain first.
CHAIN_ID = "0" * 24 + uuid.uuid4().hex[:8]
DONE_WAIT_SECONDS = 120


def _chain(chain_id: str, count: int) -> list[tuple]:
    """``count`` records of one real hash chain, as the audit writer makes them."""
    out, head, start = [], GENESIS, dt.datetime.now(dt.UTC)
    for seq in range(1, count + 1):
        values = (f"verif-{chain_id[-8:]}-{seq:06d}", chain_id, seq, start + dt.timedelta(microseconds=seq),
                  "sys-verif", "DEPT", "300000/000001", "PROV", "Query", ["name"], f"key-{seq}", [],
                  "WORK_REFERENCE", "核验", "ANSWERED", "", "")
        digest = chain_hash(head, values)
        out.append((*values, head, digest))
        head = digest
    return out


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def seeded(platform: Platform) -> AsyncIterator[list[tuple]]:
    """The module's signed chain in the platform's access log (removed at the end)."""
    rows = _chain(CHAIN_ID, CHAIN_RECORDS)
    signer = CheckpointSigner(ed25519_private_key(platform.settings["query"].audit_signing_key))
    signed = [signer.sign(Head(CHAIN_ID, seq, rows[seq - 1][-1]), dt.datetime.now(dt.UTC), seq == CHAIN_RECORDS)
              for seq in range(SIGNED_EVERY, CHAIN_RECORDS + 1, SIGNED_EVERY)]
    async with database(platform) as conn:
        await conn.executemany(f"INSERT INTO access_log ({', '.join(COLUMNS)}) VALUES"
                               f" ({', '.join(f'${n}' for n in range(1, len(COLUMNS) + 1))})", rows)
        await conn.executemany(
            "INSERT INTO audit_checkpoints (chain_id, seq, hash, time, final, key_id, signature)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            [(c.chain_id, c.seq, c.hash, c.time, c.final, c.key_id, c.signature) for c in signed])
    yield rows
    async with database(platform) as conn:
        await conn.execute("DELETE FROM audit_checkpoints WHERE chain_id = $1", CHAIN_ID)
        await conn.execute("DELETE FROM access_log WHERE chain_id = $1", CHAIN_ID)


@contextlib.asynccontextmanager
async def database(platform: Platform) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(platform.settings["query"].database_url, server_settings={"search_path": "query"})
    try:
        yield conn
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def tampered(conn: asyncpg.Connection, seq: int) -> AsyncIterator[None]:
    """Rewrites one record of the module's chain as an attacker would, and puts it back."""
    await conn.execute("UPDATE access_log SET purpose_text = 'rewritten' WHERE chain_id = $1 AND seq = $2",
                       CHAIN_ID, seq)
    try:
        yield
    finally:
        await conn.execute("UPDATE access_log SET purpose_text = '核验' WHERE chain_id = $1 AND seq = $2",
                           CHAIN_ID, seq)


@contextlib.asynccontextmanager
async def slow_query(platform: Platform, pause_ms: int = 150) -> AsyncIterator[RunningServer]:
    """A query process of its own (a real gRPC server) whose jobs pause between pages."""
    settings = dataclasses.replace(platform.settings["query"], audit_verify_pause_ms=pause_ms)
    server = await start_server(settings, create_component(settings))
    try:
        yield server
    finally:
        await server.stop(0)


def stub_at(channel: grpc.aio.Channel) -> audit_pb2_grpc.AuditServiceStub:
    return audit_pb2_grpc.AuditServiceStub(channel)


async def start(stub: audit_pb2_grpc.AuditServiceStub, metadata: object, **fields: object
                ) -> audit_pb2.AuditVerification:
    """Starts a job, retrying while a process just started has not loaded the systems' states yet."""
    for _ in range(300):
        try:
            job = (await stub.StartAuditVerification(
                audit_pb2.StartAuditVerificationRequest(page_size=PAGE, **fields),  # type: ignore[arg-type]
                metadata=metadata, timeout=30)).verification
            break
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.UNAVAILABLE:
                raise
            await asyncio.sleep(0.1)
    assert job.state == audit_pb2.AUDIT_VERIFICATION_STATE_RUNNING and job.id
    return job


async def poll(platform: Platform, job_id: str, until, seen: list[audit_pb2.AuditVerification] | None = None  # type: ignore[no-untyped-def]
               ) -> audit_pb2.AuditVerification:
    """GetAuditVerification through the edge until ``until(job)``, within DONE_WAIT_SECONDS."""
    stub = stub_at(platform.channel)
    deadline = asyncio.get_running_loop().time() + DONE_WAIT_SECONDS
    while True:
        job = (await stub.GetAuditVerification(audit_pb2.GetAuditVerificationRequest(id=job_id),
                                               metadata=platform.metadata("authority"), timeout=30)).verification
        if seen is not None:
            seen.append(job)
        if until(job):
            return job
        assert asyncio.get_running_loop().time() < deadline, f"job still {job}"
        await asyncio.sleep(0.02)


def done(job: audit_pb2.AuditVerification) -> bool:
    return job.state == audit_pb2.AUDIT_VERIFICATION_STATE_DONE


async def test_a_verification_runs_in_the_background_to_done_with_progress_rising(
        platform: Platform, seeded: list[tuple]) -> None:
    async with slow_query(platform) as server, grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        job = await start(stub_at(channel), platform.metadata("authority"))
        seen: list[audit_pb2.AuditVerification] = []
        finished = await poll(platform, job.id, done, seen)
    assert finished.result == audit_pb2.AUDIT_VERIFICATION_RESULT_INTACT, finished.detail
    assert finished.progress_percent == 100 and finished.HasField("end_time") and finished.problems_found == 0
    assert finished.records_verified >= CHAIN_RECORDS and finished.pages >= CHAIN_RECORDS // PAGE
    verified = [j.records_verified for j in seen]
    assert verified == sorted(verified)
    # Seen part-way: saved pages with a position (a signed checkpoint of the chain) and a percentage below 100.
    midway = [j for j in seen if j.state == audit_pb2.AUDIT_VERIFICATION_STATE_RUNNING and j.pages > 0]
    assert len({j.pages for j in midway}) >= 2, [j.pages for j in seen]
    assert all(j.current_chain_id and j.resume_token and j.progress_percent < 100 for j in midway)
    # In the module's chain (read first), a page ends at one of its signed checkpoints.
    assert all(j.current_sequence % SIGNED_EVERY == 0 for j in midway if j.current_chain_id == CHAIN_ID)
    started = await _logged(platform, "audit.verification.start", job.id)
    assert started.actor_system_id == platform.credentials.systems["authority"]["system_id"]


async def test_a_paged_job_counts_each_chain_once(platform: Platform, seeded: list[tuple]) -> None:
    # The module's chain spans a dozen pages; each page resumed inside it and counted it again (chainsChecked 12
    # for one chain), so an auditor comparing the count with the platform's restarts was misled.
    stub = stub_at(platform.channel)
    whole = await stub.VerifyAuditChain(audit_pb2.VerifyAuditChainRequest(page_size=1_000_000),
                                        metadata=platform.metadata("authority"), timeout=60)
    assert not whole.next_page_token and whole.chains_checked >= 1
    finished = await poll(platform, (await start(stub, platform.metadata("authority"))).id, done)
    assert finished.pages >= CHAIN_RECORDS // PAGE
    assert finished.chains_checked == whole.chains_checked, (finished.chains_checked, whole.chains_checked)
    assert finished.detail == f"{whole.chains_checked} chains intact"


async def test_a_verify_audit_chain_page_is_in_the_administrative_log(platform: Platform, seeded: list[tuple]) -> None:
    # Only jobs were logged: an auditor (or anyone holding the authority's credentials) could page through the
    # trail with VerifyAuditChain and leave no trace of having checked it.
    request = audit_pb2.VerifyAuditChainRequest(page_size=PAGE)
    # A token resuming at that checkpoint, as VerifyAuditChain issues it (signed, bound to the request).
    issued = serving(TokenScope("AuditService/VerifyAuditChain", token_key(platform.settings["query"].internal_key)),
                     request)
    try:
        request.page_token = encode_token({"c": CHAIN_ID, "s": 100})
    finally:
        issued.var.reset(issued)
    page = await stub_at(platform.channel).VerifyAuditChain(request, metadata=platform.metadata("authority"),
                                                            timeout=60)
    logged = await _logged(platform, "audit.verify_chain", f"{CHAIN_ID}/100", page_size=PAGE,
                           records=page.records_checked, intact=page.intact)
    assert logged.actor_system_id == platform.credentials.systems["authority"]["system_id"]


async def test_a_tampered_record_is_found_with_its_position(platform: Platform, seeded: list[tuple]) -> None:
    async with database(platform) as conn, tampered(conn, 137):
        job = await start(stub_at(platform.channel), platform.metadata("authority"))
        finished = await poll(platform, job.id, done)
    assert finished.result == audit_pb2.AUDIT_VERIFICATION_RESULT_BROKEN
    assert finished.first_bad_chain_id == CHAIN_ID and finished.first_bad_sequence == 137
    assert finished.first_bad_id == seeded[136][0] and finished.problems_found >= 1
    assert "137" in finished.detail


async def test_a_forged_checkpoint_is_named_by_its_chain_and_sequence(platform: Platform, seeded: list[tuple]) -> None:
    # The job said only '1 checkpoints fail their signature': nothing told the auditor which one.
    async with database(platform) as conn:
        signed = await conn.fetchval("SELECT hash FROM audit_checkpoints WHERE chain_id = $1 AND seq = 100", CHAIN_ID)
        await conn.execute("UPDATE audit_checkpoints SET hash = $2 WHERE chain_id = $1 AND seq = 100",
                           CHAIN_ID, "0" * 64)
        try:
            finished = await poll(platform, (await start(stub_at(platform.channel),
                                                         platform.metadata("authority"))).id, done)
        finally:
            await conn.execute("UPDATE audit_checkpoints SET hash = $2 WHERE chain_id = $1 AND seq = 100",
                               CHAIN_ID, signed)
    assert finished.result == audit_pb2.AUDIT_VERIFICATION_RESULT_BROKEN and finished.forged_checkpoints == 1
    assert finished.first_bad_chain_id == CHAIN_ID and finished.first_bad_sequence == 100
    assert f"chain {CHAIN_ID} checkpoint of record 100" in finished.detail, finished.detail
    assert "the signature does not match" in finished.detail


async def test_a_job_resumes_from_its_saved_position_after_its_process_is_killed(
        platform: Platform, seeded: list[tuple], tmp_path: Path) -> None:
    async with query_subprocess(platform, tmp_path / "first.log") as (process, port):
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            job = await start(stub_at(channel), platform.metadata("authority"))
        running = await poll(platform, job.id, lambda j: j.pages >= 3)
        assert running.state == audit_pb2.AUDIT_VERIFICATION_STATE_RUNNING, running
        process.kill()  # no graceful stop: the lease is left to expire
        process.wait()
    async with database(platform) as conn:
        saved = await conn.fetchrow("SELECT position_chain_id, position_seq, pages FROM audit_verifications"
                                    " WHERE id = $1", uuid.UUID(job.id))
        assert saved["position_chain_id"] == CHAIN_ID and saved["position_seq"] >= 3 * PAGE
        # A record the job verified before it was killed is rewritten now: a job that started over would find it.
        async with tampered(conn, 2), query_subprocess(platform, tmp_path / "second.log"):
            finished = await poll(platform, job.id, done)
    assert finished.result == audit_pb2.AUDIT_VERIFICATION_RESULT_INTACT, finished.detail
    assert finished.pages > saved["pages"] and finished.records_verified >= CHAIN_RECORDS


async def test_a_cancelled_job_stops_and_who_cancelled_it_is_logged(platform: Platform, seeded: list[tuple]) -> None:
    async with slow_query(platform, pause_ms=1000) as server, \
            grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        job = await start(stub_at(channel), platform.metadata("authority"))
        await poll(platform, job.id, lambda j: j.pages >= 1)
        cancelled = (await stub_at(platform.channel).CancelAuditVerification(
            audit_pb2.CancelAuditVerificationRequest(id=job.id), metadata=platform.metadata("authority"),
            timeout=30)).verification
        assert cancelled.state == audit_pb2.AUDIT_VERIFICATION_STATE_CANCELLED and cancelled.HasField("end_time")
        await asyncio.sleep(1.5)  # past the next page: the runner must not have gone on
        later = await poll(platform, job.id, lambda j: True)
    assert later.state == audit_pb2.AUDIT_VERIFICATION_STATE_CANCELLED
    assert later.records_verified == cancelled.records_verified and later.pages == cancelled.pages
    authority = platform.credentials.systems["authority"]["system_id"]
    assert later.cancel_system_id == authority
    assert (await _logged(platform, "audit.verification.cancel", job.id)).actor_system_id == authority
    listed = (await stub_at(platform.channel).ListAuditVerifications(
        audit_pb2.ListAuditVerificationsRequest(page_size=1), metadata=platform.metadata("authority"),
        timeout=30))
    assert listed.verifications[0].id == job.id and listed.next_page_token


async def test_only_the_authority_verifies_and_bad_input_names_the_field(platform: Platform) -> None:
    stub = stub_at(platform.channel)
    calls = [
        stub.StartAuditVerification(audit_pb2.StartAuditVerificationRequest(), metadata=platform.metadata("civil"),
                                    timeout=30),
        stub.GetAuditVerification(audit_pb2.GetAuditVerificationRequest(id=str(uuid.uuid4())),
                                  metadata=platform.metadata("civil"), timeout=30),
        stub.ListAuditVerifications(audit_pb2.ListAuditVerificationsRequest(), metadata=platform.metadata("civil"),
                                    timeout=30),
        stub.CancelAuditVerification(audit_pb2.CancelAuditVerificationRequest(id=str(uuid.uuid4())),
                                     metadata=platform.metadata("civil"), timeout=30),
    ]
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await call
        assert error.value.code() == grpc.StatusCode.PERMISSION_DENIED
    authority = platform.metadata("authority")
    for call, field in [
        (stub.StartAuditVerification(audit_pb2.StartAuditVerificationRequest(resume_token="garbage!"),
                                     metadata=authority, timeout=30), "resume_token"),
        (stub.GetAuditVerification(audit_pb2.GetAuditVerificationRequest(id="nope"), metadata=authority,
                                   timeout=30), "id"),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await call
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and field in error.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stub.GetAuditVerification(audit_pb2.GetAuditVerificationRequest(id=str(uuid.uuid4())),
                                        metadata=authority, timeout=30)
    assert error.value.code() == grpc.StatusCode.NOT_FOUND


def _spawn_query(platform: Platform, port: int, log: Path) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "services.query"], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
            env=service_env(platform, port, GOVSHARE_AUDIT_VERIFY_LEASE_SECONDS="2",
                            GOVSHARE_AUDIT_VERIFY_PAUSE_MS="300"))


@contextlib.asynccontextmanager
async def query_subprocess(platform: Platform, log: Path) -> AsyncIterator[tuple[subprocess.Popen, int]]:
    """A real query process on the platform's database, with short leases and slow pages. It is awaited off
    the event loop: that loop serves the session's in-process authorization, from which the process loads the
    business systems' states before its health says SERVING."""
    port = free_port()
    process = _spawn_query(platform, port, log)
    try:
        await asyncio.to_thread(wait_until_serving, port, process, timeout=60)
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
            await asyncio.to_thread(process.wait)


async def test_the_cli_starts_a_verification_and_waits_for_its_result(
        platform: Platform, seeded: list[tuple], capsys: pytest.CaptureFixture[str]) -> None:
    system = platform.credentials.systems["authority"]
    code = await asyncio.to_thread(run_verify_trail, platform.edge.address, system["system_id"], system["secret"],
                                   wait=True, page_size=PAGE)
    printed = json.loads(capsys.readouterr().out)
    assert code == 0 and printed["state"] == "AUDIT_VERIFICATION_STATE_DONE", printed
    assert printed["result"] == "AUDIT_VERIFICATION_RESULT_INTACT"
    intact = printed["id"]
    async with database(platform) as conn, tampered(conn, 5):
        code = await asyncio.to_thread(run_verify_trail, platform.edge.address, system["system_id"],
                                       system["secret"], wait=True, page_size=PAGE)
    printed = json.loads(capsys.readouterr().out)
    assert code == 1 and printed["firstBadSequence"] == "5", printed
    # Read again later by its id (a script checking the job it started): the broken trail exits 1 there too, and
    # the intact one 0. `--id` exited 0 whatever the job had found.
    for job, expected in ((printed["id"], 1), (intact, 0)):
        code = await asyncio.to_thread(run_verify_trail, platform.edge.address, system["system_id"],
                                       system["secret"], job_id=job)
        assert code == expected and json.loads(capsys.readouterr().out)["id"] == job


@contextlib.asynccontextmanager
async def tail_removed(conn: asyncpg.Connection, after: int) -> AsyncIterator[None]:
    """Deletes the module chain's records after ``after`` and the platform's checkpoints of them, as an
    attacker with the database would to hide accesses, and puts both back."""
    records = await conn.fetch(f"SELECT {', '.join(COLUMNS)} FROM access_log WHERE chain_id = $1 AND seq > $2",
                               CHAIN_ID, after)
    signed = await conn.fetch("SELECT chain_id, seq, hash, time, final, key_id, signature FROM audit_checkpoints"
                              " WHERE chain_id = $1 AND seq > $2", CHAIN_ID, after)
    await conn.execute("DELETE FROM access_log WHERE chain_id = $1 AND seq > $2", CHAIN_ID, after)
    await conn.execute("DELETE FROM audit_checkpoints WHERE chain_id = $1 AND seq > $2", CHAIN_ID, after)
    try:
        yield
    finally:
        await conn.copy_records_to_table("access_log", records=[tuple(r) for r in records], columns=COLUMNS)
        await conn.copy_records_to_table("audit_checkpoints", records=[tuple(r) for r in signed],
                                         columns=("chain_id", "seq", "hash", "time", "final", "key_id", "signature"))


async def test_the_auditors_kept_checkpoints_reveal_a_tail_removed_with_its_checkpoints(
        platform: Platform, seeded: list[tuple], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The platform's own checkpoints cannot show a tail deleted together with them: the chain still links and
    matches every checkpoint left. The auditor's export from before the deletion can, in a job as in
    VerifyAuditChain, given through the CLI's --checkpoints (the latest of each chain is sent)."""
    system = platform.credentials.systems["authority"]
    kept = tmp_path / "kept.jsonl"
    assert await asyncio.to_thread(run_export_checkpoints, platform.edge.address, system["system_id"],
                                   system["secret"], out=kept) == 0
    capsys.readouterr()
    async with database(platform) as conn, tail_removed(conn, CHAIN_RECORDS - 2 * SIGNED_EVERY):
        unaware = await start(stub_at(platform.channel), platform.metadata("authority"))
        assert (await poll(platform, unaware.id, done)).result == audit_pb2.AUDIT_VERIFICATION_RESULT_INTACT
        code = await asyncio.to_thread(run_verify_trail, platform.edge.address, system["system_id"],
                                       system["secret"], wait=True, page_size=PAGE, kept=kept)
    printed = json.loads(capsys.readouterr().out)
    assert code == 1 and printed["result"] == "AUDIT_VERIFICATION_RESULT_BROKEN", printed
    assert printed["firstBadChainId"] == CHAIN_ID and printed["heldCheckpoints"] >= 1, printed
    assert f"ends at record {CHAIN_RECORDS - 2 * SIGNED_EVERY}" in printed["detail"], printed
    assert str(CHAIN_RECORDS) in printed["detail"], printed


async def test_exporting_again_to_the_kept_file_keeps_the_checkpoints_deleted_since(
        platform: Platform, seeded: list[tuple], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An auditor runs the same `govshare export-checkpoints --out kept.jsonl` month after month. The export
    replaced the file with what the platform had now: after a tail was deleted with its checkpoints, the next
    export dropped them from the auditor's own copy too, and the copy revealed nothing any more."""
    system = platform.credentials.systems["authority"]
    kept = tmp_path / "kept.jsonl"
    assert await asyncio.to_thread(run_export_checkpoints, platform.edge.address, system["system_id"],
                                   system["secret"], out=kept) == 0
    before = set(kept.read_text(encoding="utf-8").splitlines())
    capsys.readouterr()
    async with database(platform) as conn, tail_removed(conn, CHAIN_RECORDS - 2 * SIGNED_EVERY):
        assert await asyncio.to_thread(run_export_checkpoints, platform.edge.address, system["system_id"],
                                       system["secret"], out=kept) == 0
        printed = capsys.readouterr()
        assert json.loads(printed.out)["kept_from_before"] == 2, printed
        assert "2 lines of" in printed.err and "not on the platform any more" in printed.err
        assert before <= set(kept.read_text(encoding="utf-8").splitlines())
        code = await asyncio.to_thread(run_verify_trail, platform.edge.address, system["system_id"],
                                       system["secret"], wait=True, page_size=PAGE, kept=kept)
    printed = json.loads(capsys.readouterr().out)
    assert code == 1 and printed["firstBadChainId"] == CHAIN_ID, printed
    # Exported again once nothing is missing, the file holds what the platform has, nothing more.
    assert await asyncio.to_thread(run_export_checkpoints, platform.edge.address, system["system_id"],
                                   system["secret"], out=kept) == 0
    assert "kept_from_before" not in json.loads(capsys.readouterr().out)


async def test_kept_checkpoints_that_are_not_checkpoints_are_refused_by_name(
        platform: Platform, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    system = platform.credentials.systems["authority"]
    kept = tmp_path / "kept.jsonl"
    kept.write_text('{"chain_id": "c", "sequence": 1}\n', encoding="utf-8")
    assert await asyncio.to_thread(run_verify_trail, platform.edge.address, system["system_id"],
                                   system["secret"], kept=kept) == 2
    assert "kept.jsonl:1: not a checkpoint line (missing field" in capsys.readouterr().err
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stub_at(platform.channel).StartAuditVerification(audit_pb2.StartAuditVerificationRequest(
            checkpoints=[audit_pb2.AuditCheckpoint(chain_id="c", sequence=0)]), metadata=platform.metadata("authority"),
            timeout=30)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "checkpoints[0]" in error.value.details()
