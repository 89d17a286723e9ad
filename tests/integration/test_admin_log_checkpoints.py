"""The administrative log's signed checkpoints: its tail, or all of it, cannot be deleted unnoticed.

Through the real platform: authorization signs the log's head with the token signing key under the log's
own context (services/runtime/checkpoints.py), keeps the checkpoints in their own table, and VerifyAdminLog
reports a log cut short (TRUNCATED) or deleted (VANISHED), naming the last checkpoint it still matches. The
authority exports the checkpoints to keep off the platform and brings them back to a verification.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import grpc
import pytest
from google.protobuf import timestamp_pb2
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from govshare.authorization.v1 import admin_log_pb2, admin_log_pb2_grpc, directory_pb2, directory_pb2_grpc
from services.authorization.admin_log import CHAIN_ID
from services.client import run_verify_admin_log, run_verify_checkpoints
from services.runtime.checkpoints import Checkpoint, key_id, to_json
from services.runtime.duties import ADMINISTRATOR
from services.runtime.errors import details_of
from services.runtime.keys import ed25519_public_keys

pytestmark = pytest.mark.integration

DELIVERY_SECONDS = 10.0


def _log(platform) -> admin_log_pb2_grpc.AdminLogServiceStub:  # type: ignore[no-untyped-def]
    return admin_log_pb2_grpc.AdminLogServiceStub(platform.channel)


async def verify(platform, held: list[admin_log_pb2.AdminLogCheckpoint] | None = None  # type: ignore[no-untyped-def]
                 ) -> admin_log_pb2.VerifyAdminLogResponse:
    return await _log(platform).VerifyAdminLog(admin_log_pb2.VerifyAdminLogRequest(checkpoints=held or []),
                                               metadata=platform.metadata("authority"), timeout=60)


async def export(platform, system: str = "authority", page_size: int = 0  # type: ignore[no-untyped-def]
                 ) -> tuple[list[admin_log_pb2.AdminLogCheckpoint], admin_log_pb2.ExportAdminLogCheckpointsResponse]:
    token, found = "", []
    while True:
        page = await _log(platform).ExportAdminLogCheckpoints(admin_log_pb2.ExportAdminLogCheckpointsRequest(
            page_size=page_size, page_token=token), metadata=platform.metadata(system), timeout=30)
        found += page.checkpoints
        token = page.next_page_token
        if not token:
            return found, page


@contextlib.asynccontextmanager
async def database(platform) -> AsyncIterator[asyncpg.Connection]:  # type: ignore[no-untyped-def]
    conn = await asyncpg.connect(platform.settings["authorization"].database_url,
                                 server_settings={"search_path": "authorization"})
    try:
        yield conn
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def deleted(conn: asyncpg.Connection, table: str, where: str, *args: object) -> AsyncIterator[None]:
    """Deletes rows as an attacker would, and puts them back afterwards."""
    rows = await conn.fetch(f"DELETE FROM {table} WHERE {where} RETURNING *", *args)
    assert rows
    try:
        yield
    finally:
        columns = list(rows[0].keys())
        placeholders = ", ".join(f"${i + 1}" for i in range(len(columns)))
        await conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})",
                               [tuple(row.values()) for row in rows])


@contextlib.asynccontextmanager
async def appended_dropped(conn: asyncpg.Connection, after_seq: int) -> AsyncIterator[None]:
    """Drops what was logged onto a cut log (the command's own token.issue), so the rows cut can go back."""
    try:
        yield
    finally:
        await conn.execute("DELETE FROM admin_log WHERE seq > $1", after_seq)


async def logged_action(platform) -> int:  # type: ignore[no-untyped-def]
    """An administrative action of authorization's own (logged in its transaction): the log's head after it."""
    directory = directory_pb2_grpc.DirectoryServiceStub(platform.channel)
    await directory.CreateSystem(directory_pb2.CreateSystemRequest(system=directory_pb2.System(
        department_code=platform.credentials.systems["civil"]["department"], name="救助审核系统")),
        metadata=platform.person("authority", ADMINISTRATOR), timeout=10)
    async with database(platform) as conn:
        return await conn.fetchval("SELECT max(seq) FROM admin_log")


async def checkpoint(platform) -> Checkpoint:  # type: ignore[no-untyped-def]
    """Signs the log's head now, as the periodic timer would."""
    signed = await platform.servers["authorization"].component.checkpoint()
    assert len(signed) == 1
    return signed[0]


async def test_the_log_matches_its_checkpoint_signed_with_the_token_key(platform) -> None:  # type: ignore[no-untyped-def]
    head = await logged_action(platform)
    signed = await checkpoint(platform)
    assert signed.seq >= head
    response = await verify(platform)
    assert response.intact, response.problem
    assert response.state == admin_log_pb2.ADMIN_LOG_STATE_INTACT
    assert (response.last_matching_checkpoint.sequence, response.last_matching_checkpoint.signature) == (
        signed.seq, signed.signature)
    assert response.unsigned_count == response.checked_count - signed.seq
    # Signed by the platform's token signing key (authorization holds no other), under the log's context.
    token_keys = ed25519_public_keys(platform.settings["authorization"].token_public_key)
    assert signed.key_id in {key_id(k) for k in token_keys}


async def test_deleting_the_last_rows_is_truncation_naming_the_last_matching_checkpoint(
        platform) -> None:  # type: ignore[no-untyped-def]
    first = await checkpoint(platform) if await logged_action(platform) else None
    assert first is not None
    await logged_action(platform)
    second = await checkpoint(platform)
    assert second.seq > first.seq
    async with database(platform) as conn:
        async with deleted(conn, "admin_log", "seq > $1", first.seq):
            truncated = await verify(platform)
        restored = await verify(platform)
    assert not truncated.intact
    assert truncated.state == admin_log_pb2.ADMIN_LOG_STATE_TRUNCATED
    assert (truncated.last_matching_checkpoint.sequence, truncated.last_matching_checkpoint.signature) == (
        first.seq, first.signature)
    assert f"ends at record {first.seq}" in truncated.problem and f"reached {second.seq}" in truncated.problem
    assert restored.intact and restored.state == admin_log_pb2.ADMIN_LOG_STATE_INTACT, restored.problem


async def test_deleting_the_whole_log_is_reported_vanished(platform) -> None:  # type: ignore[no-untyped-def]
    await logged_action(platform)
    signed = await checkpoint(platform)
    async with database(platform) as conn, deleted(conn, "admin_log", "true"):
        vanished = await verify(platform)
    assert not vanished.intact
    assert (vanished.state, vanished.checked_count) == (admin_log_pb2.ADMIN_LOG_STATE_VANISHED, 0)
    assert not vanished.HasField("last_matching_checkpoint")
    assert f"record {signed.seq}" in vanished.problem


async def test_a_moved_checkpoint_fails_its_signature(platform) -> None:  # type: ignore[no-untyped-def]
    await logged_action(platform)
    signed = await checkpoint(platform)
    async with database(platform) as conn:
        # An attacker who cut the log back to row 1 moves the checkpoint to match.
        first_hash = await conn.fetchval("SELECT hash FROM admin_log WHERE seq = 1")
        async with deleted(conn, "admin_log_checkpoints", "seq = $1", signed.seq):
            await conn.execute("INSERT INTO admin_log_checkpoints (seq, hash, time, key_id, signature)"
                               " VALUES (1, $1, $2, $3, $4) ON CONFLICT (seq) DO UPDATE SET hash = excluded.hash,"
                               " signature = excluded.signature", first_hash, signed.time, signed.key_id,
                               signed.signature)
            try:
                forged = await verify(platform)
            finally:
                await conn.execute("DELETE FROM admin_log_checkpoints WHERE seq = 1 AND signature = $1",
                                   signed.signature)
    assert not forged.intact
    assert [(f.checkpoint.sequence, f.reason) for f in forged.forged_checkpoints] == [
        (1, "the signature does not match the checkpoint")]
    assert (await verify(platform)).intact


async def test_exported_checkpoints_verify_offline_and_expose_deleted_ones(
        platform, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = await checkpoint(platform) if await logged_action(platform) else None
    assert first is not None
    await logged_action(platform)
    second = await checkpoint(platform)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await export(platform, system="police")
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    held, page = await export(platform, page_size=1)
    assert {first.seq, second.seq} <= {c.sequence for c in held}
    assert page.public_key_pem.strip() == platform.settings["authorization"].token_public_key.strip()

    # Offline: the file `govshare export-checkpoints --log admin` writes, checked with the public key alone.
    lines = [json.dumps(to_json(Checkpoint(CHAIN_ID, c.sequence, c.hash, c.time.ToDatetime(tzinfo=dt.UTC), False,
                                           c.key_id, c.signature))) for c in held]
    (tmp_path / "token.pub.pem").write_text(page.public_key_pem, encoding="utf-8")
    (tmp_path / "admin.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert run_verify_checkpoints(tmp_path / "admin.jsonl", [tmp_path / "token.pub.pem"], log="admin") == 0
    # Signed under the log's own context: they do not pass for access audit checkpoints.
    assert run_verify_checkpoints(tmp_path / "admin.jsonl", [tmp_path / "token.pub.pem"], log="access") == 1

    # An attacker cuts the log's tail and deletes the checkpoints that knew it: only the auditor's copy does.
    async with database(platform) as conn, deleted(conn, "admin_log", "seq > $1", first.seq), \
            deleted(conn, "admin_log_checkpoints", "seq > $1", first.seq):
        unaware = await verify(platform)
        with_copy = await verify(platform, held)
    assert unaware.intact
    assert not with_copy.intact and with_copy.state == admin_log_pb2.ADMIN_LOG_STATE_TRUNCATED
    assert with_copy.last_matching_checkpoint.sequence == first.seq


async def test_the_cli_verifies_the_log_with_the_file_the_auditor_kept(
        platform, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    """`govshare audit verify-admin-log`: the administrative log had no command (the access trail had
    verify-trail), so an auditor holding `export-checkpoints --log admin`'s file had to write the request by
    hand to bring it back. Exit 0 intact, 1 not (the answer printed as JSON), 2 for a file it cannot use."""
    first = await checkpoint(platform) if await logged_action(platform) else None
    assert first is not None
    await logged_action(platform)
    await checkpoint(platform)
    held, _ = await export(platform)
    kept = tmp_path / "admin.jsonl"
    kept.write_text("".join(json.dumps(to_json(Checkpoint(
        CHAIN_ID, c.sequence, c.hash, c.time.ToDatetime(tzinfo=dt.UTC), False, c.key_id, c.signature))) + "\n"
        for c in held), encoding="utf-8")
    authority = platform.credentials.systems["authority"]

    def cli(file: Path | None) -> tuple[int, str, str]:
        code = run_verify_admin_log(platform.edge.address, authority["system_id"], authority["secret"], kept=file)
        printed = capsys.readouterr()
        return code, printed.out, printed.err

    code, out, _ = await asyncio.to_thread(cli, kept)
    assert code == 0 and json.loads(out)["state"] == "ADMIN_LOG_STATE_INTACT", out
    async with database(platform) as conn, deleted(conn, "admin_log", "seq > $1", first.seq), \
            appended_dropped(conn, first.seq), deleted(conn, "admin_log_checkpoints", "seq > $1", first.seq):
        unaware = await asyncio.to_thread(cli, None)
        with_copy = await asyncio.to_thread(cli, kept)
    assert unaware[0] == 0
    assert with_copy[0] == 1, with_copy
    answer = json.loads(with_copy[1])
    assert answer["state"] == "ADMIN_LOG_STATE_TRUNCATED" and answer["lastMatchingCheckpoint"]["sequence"] == str(
        first.seq)

    access_export = tmp_path / "access.jsonl"
    access_export.write_text(json.dumps(to_json(Checkpoint("a" * 32, 3, "b" * 64, dt.datetime.now(dt.UTC), False,
                                                           "k", b"s"))) + "\n", encoding="utf-8")
    code, out, err = await asyncio.to_thread(cli, access_export)
    assert (code, out) == (2, "")
    assert "access.jsonl:1: not a checkpoint of the administrative log" in err
    police = platform.credentials.systems["police"]
    assert await asyncio.to_thread(run_verify_admin_log, platform.edge.address, police["system_id"],
                                   police["secret"]) == 1
    assert "PERMISSION_DENIED" in capsys.readouterr().err


async def test_held_checkpoints_are_validated_for_the_authority_only(platform) -> None:  # type: ignore[no-untyped-def]
    bad = admin_log_pb2.AdminLogCheckpoint(sequence=0, hash="\x00")
    with pytest.raises(grpc.aio.AioRpcError) as invalid:
        await verify(platform, [bad])
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    _, violations = details_of(invalid.value)
    assert violations is not None
    assert {v.field for v in violations.field_violations} == {
        "checkpoints[0].sequence", "checkpoints[0].hash", "checkpoints[0].time"}
    with pytest.raises(grpc.aio.AioRpcError) as refused:  # anyone else is refused before the request is judged
        await _log(platform).VerifyAdminLog(admin_log_pb2.VerifyAdminLogRequest(checkpoints=[bad]),
                                            metadata=platform.metadata("police"), timeout=10)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


STAMPS = st.builds(timestamp_pb2.Timestamp, seconds=st.integers(-(2**40), 2**40), nanos=st.integers(-5, 2 * 10**9))
HELD = st.builds(admin_log_pb2.AdminLogCheckpoint, sequence=st.integers(-(2**63), 2**63 - 1),
                 hash=st.text(max_size=140), time=STAMPS, key_id=st.text(max_size=140),
                 signature=st.binary(max_size=80))


@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
async def test_fuzzed_checkpoint_requests_never_fail_internally(platform, data: st.DataObject) -> None:  # type: ignore[no-untyped-def]
    stub, md = _log(platform), platform.metadata("authority")
    calls = [
        stub.ExportAdminLogCheckpoints(admin_log_pb2.ExportAdminLogCheckpointsRequest(
            page_size=data.draw(st.integers(-5, 5000)), page_token=data.draw(st.text(max_size=60))), metadata=md,
            timeout=30),
        stub.VerifyAdminLog(admin_log_pb2.VerifyAdminLogRequest(checkpoints=data.draw(st.lists(HELD, max_size=4))),
                            metadata=md, timeout=60),
    ]
    for call in calls:
        try:
            await call
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (error.code(), error.details())
