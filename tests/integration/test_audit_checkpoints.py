"""Signed checkpoints of the audit chains, on the real platform: deleting a chain's last rows, or a whole chain,
or altering a checkpoint, is reported by VerifyAuditChain; an auditor's exported copy verifies offline.

The tampering happens in SQL, as an attacker with database access would do it, on the chain of a second
query process started for the test (every process writes its own chain), and is undone before the test ends
so that the platform's trail stays intact for the other tests.
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
from caller_metadata import CallerMetadata
from google.protobuf import timestamp_pb2
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from govshare.common.v1 import common_pb2 as common
from govshare.provider.v1 import provider_pb2, provider_pb2_grpc
from govshare.query.v1 import audit_pb2, audit_pb2_grpc, query_pb2, query_pb2_grpc
from services.client import run_export_checkpoints, run_verify_checkpoints
from services.query.checkpoints import Checkpoint, to_json
from services.query.component import create_component
from services.runtime.identity import Caller, service_caller
from services.runtime.pagination import encode_token
from services.runtime.server import RunningServer, start_server

pytestmark = pytest.mark.integration

ENTITIES = "102001/000001"  # unconditional
WORK = common.Purpose(type=common.PURPOSE_TYPE_WORK_REFERENCE, text="窗口业务办理")


@contextlib.asynccontextmanager
async def second_query(platform) -> AsyncIterator[RunningServer]:  # type: ignore[no-untyped-def]
    """Another query process on the platform's database: a chain of its own. Stopped gracefully at the end
    (which writes its final checkpoint) unless the test stopped it already."""
    settings = platform.settings["query"]
    server = await start_server(settings, create_component(settings))
    server.stopped = False  # type: ignore[attr-defined]
    try:
        yield server
    finally:
        if not server.stopped:  # type: ignore[attr-defined]
            await server.stop(0)


async def stop(server: RunningServer) -> None:
    await server.stop(0)
    server.stopped = True  # type: ignore[attr-defined]


async def entity_key(platform) -> str:  # type: ignore[no-untyped-def]
    """A legal entity that exists, read through the provider contract as the query service reads it."""
    signer = CallerMetadata.of(platform.settings["query"])
    async with grpc.aio.insecure_channel(platform.port("foundation")) as channel:
        stub = provider_pb2_grpc.ProviderServiceStub(channel)
        async for page in stub.Export(provider_pb2.ExportRequest(dataset="legal_entity", page_size=1),
                                      metadata=signer.metadata(service_caller("query"))):
            return page.records[0].key
    raise AssertionError("no legal entity")


async def answer(platform, server: RunningServer, count: int) -> list[str]:  # type: ignore[no-untyped-def]
    """``count`` answered queries on ``server`` (as the gateway would sign them); their audit ids."""
    system = platform.credentials.systems["social"]
    metadata = CallerMetadata.of(platform.settings["query"]).metadata(
        Caller(system["system_id"], system["department"]))
    key = await entity_key(platform)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = query_pb2_grpc.QueryServiceStub(channel)
        return [(await stub.Query(query_pb2.QueryRequest(resource_code=ENTITIES, key=key, items=["name"],
                                                         purpose=WORK), metadata=metadata, timeout=10)).audit_id
                for _ in range(count)]


async def verify(platform, held: list[audit_pb2.AuditCheckpoint] | None = None  # type: ignore[no-untyped-def]
                 ) -> audit_pb2.VerifyAuditChainResponse:
    stub = audit_pb2_grpc.AuditServiceStub(platform.channel)
    return await stub.VerifyAuditChain(audit_pb2.VerifyAuditChainRequest(checkpoints=held or []),
                                       metadata=platform.metadata("authority"), timeout=60)


async def export(platform, system: str = "authority", page_size: int = 0  # type: ignore[no-untyped-def]
                 ) -> tuple[list[audit_pb2.AuditCheckpoint], audit_pb2.ExportAuditCheckpointsResponse]:
    stub, token, found = audit_pb2_grpc.AuditServiceStub(platform.channel), "", []
    while True:
        page = await stub.ExportAuditCheckpoints(audit_pb2.ExportAuditCheckpointsRequest(
            page_size=page_size, page_token=token), metadata=platform.metadata(system), timeout=30)
        found += page.checkpoints
        token = page.next_page_token
        if not token:
            return found, page


def chain(response: audit_pb2.VerifyAuditChainResponse, chain_id: str) -> audit_pb2.ChainVerification:
    (report,) = [c for c in response.chains if c.chain_id == chain_id]
    return report


@contextlib.asynccontextmanager
async def database(platform) -> AsyncIterator[asyncpg.Connection]:  # type: ignore[no-untyped-def]
    conn = await asyncpg.connect(platform.settings["query"].database_url,
                                 server_settings={"search_path": "query"})
    try:
        yield conn
    finally:
        await conn.close()


async def chain_of(conn: asyncpg.Connection, audit_id: str) -> str:
    return await conn.fetchval("SELECT chain_id FROM access_log WHERE id = $1", audit_id)


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


async def test_an_intact_trail_verifies_against_a_forced_checkpoint(platform) -> None:  # type: ignore[no-untyped-def]
    async with second_query(platform) as server:
        ids = await answer(platform, server, 3)
        (signed,) = await server.component.checkpoint()  # type: ignore[attr-defined]
        response = await verify(platform)
        async with database(platform) as conn:
            report = chain(response, await chain_of(conn, ids[0]))
    assert response.intact, response.detail
    assert (report.state, report.records, report.last_sequence, report.unsigned_records) == (
        audit_pb2.CHAIN_STATE_INTACT, 3, 3, 0)
    assert (report.last_matching_checkpoint.sequence, report.last_matching_checkpoint.signature) == (
        3, signed.signature)
    assert not response.forged_checkpoints


async def test_deleting_the_last_rows_of_a_chain_is_truncation_naming_the_last_matching_checkpoint(
        platform) -> None:  # type: ignore[no-untyped-def]
    async with second_query(platform) as server, database(platform) as conn:
        ids = await answer(platform, server, 3)
        (first,) = await server.component.checkpoint()  # type: ignore[attr-defined]
        ids += await answer(platform, server, 2)
        (second,) = await server.component.checkpoint()  # type: ignore[attr-defined]
        ids += await answer(platform, server, 2)
        chain_id = await chain_of(conn, ids[0])
        assert (first.seq, second.seq) == (3, 5)
        async with deleted(conn, "access_log", "chain_id = $1 AND seq >= 5", chain_id):
            truncated = await verify(platform)
        restored = await verify(platform)
    report = chain(truncated, chain_id)
    assert not truncated.intact
    assert (report.state, report.last_sequence) == (audit_pb2.CHAIN_STATE_TRUNCATED, 4)
    assert (report.last_matching_checkpoint.sequence, report.last_matching_checkpoint.signature) == (
        3, first.signature)
    assert "ends at record 4" in report.detail and "reached 5" in report.detail
    assert chain(restored, chain_id).state == audit_pb2.CHAIN_STATE_INTACT and restored.intact


async def test_deleting_a_whole_chain_is_reported_vanished(platform) -> None:  # type: ignore[no-untyped-def]
    async with second_query(platform) as server:
        ids = await answer(platform, server, 2)
        await stop(server)  # a graceful stop closes the chain with a final checkpoint
    async with database(platform) as conn:
        chain_id = await chain_of(conn, ids[0])
        closed = chain(await verify(platform), chain_id)
        async with deleted(conn, "access_log", "chain_id = $1", chain_id):
            vanished = await verify(platform)
    assert (closed.state, closed.closed, closed.last_matching_checkpoint.final) == (
        audit_pb2.CHAIN_STATE_INTACT, True, True)
    report = chain(vanished, chain_id)
    assert not vanished.intact
    assert (report.state, report.records) == (audit_pb2.CHAIN_STATE_VANISHED, 0)
    assert not report.HasField("last_matching_checkpoint")
    assert "record 2" in report.detail


async def test_an_altered_checkpoint_fails_its_signature(platform) -> None:  # type: ignore[no-untyped-def]
    async with second_query(platform) as server, database(platform) as conn:
        ids = await answer(platform, server, 2)
        (signed,) = await server.component.checkpoint()  # type: ignore[attr-defined]
        chain_id = await chain_of(conn, ids[0])
        # An attacker who cut the chain to one record moves its checkpoint back to match.
        row = await conn.fetchrow("SELECT hash FROM access_log WHERE chain_id = $1 AND seq = 1", chain_id)
        try:
            await conn.execute("UPDATE audit_checkpoints SET seq = 1, hash = $2 WHERE chain_id = $1", chain_id,
                               row["hash"])
            forged = await verify(platform)
        finally:
            await conn.execute("UPDATE audit_checkpoints SET seq = $2, hash = $3 WHERE chain_id = $1", chain_id,
                               signed.seq, signed.hash)
        restored = await verify(platform)
    assert not forged.intact
    (bad,) = [f for f in forged.forged_checkpoints if f.checkpoint.chain_id == chain_id]
    assert (bad.checkpoint.sequence, bad.reason) == (1, "the signature does not match the checkpoint")
    assert not chain(forged, chain_id).HasField("last_matching_checkpoint")
    assert restored.intact, restored.detail


async def test_an_auditors_exported_checkpoints_verify_offline_and_expose_deleted_ones(
        platform, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    async with second_query(platform) as server:
        ids = await answer(platform, server, 2)
        await stop(server)
    refused = await export_refused(platform)
    assert refused == grpc.StatusCode.PERMISSION_DENIED
    held, page = await export(platform, page_size=1)
    assert len({(c.chain_id, c.sequence) for c in held}) == len(held) >= 1

    # Offline: the file `govshare export-checkpoints` writes, checked with the public key alone.
    lines = [json.dumps(to_json(Checkpoint(c.chain_id, c.sequence, c.hash, c.time.ToDatetime(tzinfo=dt.UTC),
                                           c.final, c.key_id, c.signature))) for c in held]
    (tmp_path / "audit.pub.pem").write_text(page.public_key_pem, encoding="utf-8")
    (tmp_path / "checkpoints.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert run_verify_checkpoints(tmp_path / "checkpoints.jsonl", [tmp_path / "audit.pub.pem"]) == 0
    altered = json.loads(lines[0])
    altered["hash"] = "0" * 64
    (tmp_path / "altered.jsonl").write_text("\n".join([json.dumps(altered), *lines[1:]]) + "\n", encoding="utf-8")
    assert run_verify_checkpoints(tmp_path / "altered.jsonl", [tmp_path / "audit.pub.pem"]) == 1

    # An attacker deletes a whole chain and its checkpoints: only the auditor's copy still knows it.
    async with database(platform) as conn:
        chain_id = await chain_of(conn, ids[0])
        async with deleted(conn, "access_log", "chain_id = $1", chain_id), \
                deleted(conn, "audit_checkpoints", "chain_id = $1", chain_id):
            unaware = await verify(platform)
            with_copy = await verify(platform, held)
    assert chain_id not in {c.chain_id for c in unaware.chains}
    assert not with_copy.intact
    assert chain(with_copy, chain_id).state == audit_pb2.CHAIN_STATE_VANISHED


async def export_refused(platform) -> grpc.StatusCode:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await export(platform, system="market")
    return failure.value.code()


JSON_VALUES = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=80) | st.just(
    "2026-11-30T14:00:00+00:00")
TOKENS = st.text(max_size=40) | st.fixed_dictionaries({}, optional={"t": JSON_VALUES, "c": JSON_VALUES,
                                                                    "s": JSON_VALUES}).map(encode_token)
STAMPS = st.builds(timestamp_pb2.Timestamp, seconds=st.integers(-(2**40), 2**40), nanos=st.integers(-5, 2 * 10**9))
HELD = st.builds(audit_pb2.AuditCheckpoint, chain_id=st.text(max_size=70), sequence=st.integers(-(2**63), 2**63 - 1),
                 hash=st.text(max_size=70), time=STAMPS, final=st.booleans(), key_id=st.text(max_size=70),
                 signature=st.binary(max_size=80))


@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
async def test_fuzzed_checkpoint_requests_never_fail_internally(platform, data: st.DataObject) -> None:  # type: ignore[no-untyped-def]
    stub, md = audit_pb2_grpc.AuditServiceStub(platform.channel), platform.metadata("authority")
    calls = [
        stub.ExportAuditCheckpoints(audit_pb2.ExportAuditCheckpointsRequest(
            page_size=data.draw(st.integers(-5, 5000)), page_token=data.draw(TOKENS)), metadata=md, timeout=30),
        stub.VerifyAuditChain(audit_pb2.VerifyAuditChainRequest(checkpoints=data.draw(st.lists(HELD, max_size=4))),
                              metadata=md, timeout=60),
    ]
    for call in calls:
        try:
            await call
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (error.code(), error.details())


async def verify_pages(platform, page_size: int, held: list[audit_pb2.AuditCheckpoint] | None = None,  # type: ignore[no-untyped-def]
                       ) -> list[audit_pb2.VerifyAuditChainResponse]:
    """A whole verification, page by page (issue 13: no call scans the whole trail)."""
    stub, token, pages = audit_pb2_grpc.AuditServiceStub(platform.channel), "", []
    while True:
        page = await stub.VerifyAuditChain(audit_pb2.VerifyAuditChainRequest(
            checkpoints=held or [], page_size=page_size, page_token=token),
            metadata=platform.metadata("authority"), timeout=60)
        pages.append(page)
        token = page.next_page_token
        if not token:
            return pages


def records_of(pages: list[audit_pb2.VerifyAuditChainResponse], chain_id: str) -> list[int]:
    """How many of the chain's records each page checked (pages that did not reach it left out)."""
    return [c.records for page in pages for c in page.chains if c.chain_id == chain_id]


async def test_a_verification_is_paged_at_signed_checkpoints_and_still_finds_tampering(
        platform) -> None:  # type: ignore[no-untyped-def]
    async with second_query(platform) as server, database(platform) as conn:
        ids = []
        for _ in range(3):
            ids += await answer(platform, server, 2)
            await server.component.checkpoint()  # type: ignore[attr-defined]
        chain_id = await chain_of(conn, ids[0])
        pages = await verify_pages(platform, page_size=1)
        # Each page stopped at the first signed head after its one record: the chain took three pages.
        assert records_of(pages, chain_id) == [2, 2, 2]
        assert all(page.intact for page in pages), [p.detail for p in pages if not p.intact]
        await conn.execute("UPDATE access_log SET purpose_text = 'rewritten' WHERE chain_id = $1 AND seq = 4",
                           chain_id)
        try:
            tampered = await verify_pages(platform, page_size=1)
        finally:
            await conn.execute("UPDATE access_log SET purpose_text = '窗口业务办理' WHERE chain_id = $1 AND seq = 4",
                               chain_id)
    (bad,) = [c for page in tampered for c in page.chains if c.chain_id == chain_id and c.first_bad_id]
    assert bad.first_bad_id == ids[3] and bad.state == audit_pb2.CHAIN_STATE_BROKEN
    garbage = await refused_verification(platform, "garbage!")
    assert garbage == grpc.StatusCode.INVALID_ARGUMENT


async def refused_verification(platform, token: str) -> grpc.StatusCode:  # type: ignore[no-untyped-def]
    stub = audit_pb2_grpc.AuditServiceStub(platform.channel)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stub.VerifyAuditChain(audit_pb2.VerifyAuditChainRequest(page_token=token),
                                    metadata=platform.metadata("authority"), timeout=30)
    return error.value.code()


async def test_a_chain_whose_first_records_were_archived_verifies_from_the_signed_head_before_the_gap(
        platform) -> None:  # type: ignore[no-untyped-def]
    """Dropping an old month removes the first records of the chains that span it: what remains verifies from the
    checkpoint signed at the last archived record; without that checkpoint, the gap is reported. The same records
    deleted with no archive are reported too: a periodic checkpoint is not an archive's (it verified INTACT)."""
    async with second_query(platform) as server, database(platform) as conn:
        ids = await answer(platform, server, 3)
        (anchor,) = await server.component.checkpoint()  # type: ignore[attr-defined]
        ids += await answer(platform, server, 2)
        chain_id = await chain_of(conn, ids[0])
        async with deleted(conn, "access_log", "chain_id = $1 AND seq <= 3", chain_id):
            erased = chain(await verify(platform), chain_id)
            # As the archive registers the head it signed for the records it dropped (QueryStore).
            await conn.execute("INSERT INTO access_archive_anchors (chain_id, seq, partition) VALUES ($1, 3, $2)",
                               chain_id, "access_log_202501")
            try:
                resumed = chain(await verify(platform), chain_id)
                async with deleted(conn, "audit_checkpoints", "chain_id = $1 AND seq = 3", chain_id):
                    unanchored = chain(await verify(platform, held=[]), chain_id)
            finally:
                await conn.execute("DELETE FROM access_archive_anchors WHERE chain_id = $1", chain_id)
    assert anchor.seq == 3
    assert (erased.state, erased.first_bad_id) == (audit_pb2.CHAIN_STATE_BROKEN, ids[3])
    assert "expected record 1, found 4" in erased.detail
    assert (resumed.state, resumed.records, resumed.last_sequence, resumed.unsigned_records) == (
        audit_pb2.CHAIN_STATE_INTACT, 2, 5, 2)
    assert resumed.last_matching_checkpoint.sequence == 3
    assert unanchored.state == audit_pb2.CHAIN_STATE_BROKEN and unanchored.first_bad_id == ids[3]


async def test_an_auditors_kept_checkpoints_of_a_chain_archived_whole_are_not_a_vanished_chain(
        platform) -> None:  # type: ignore[no-untyped-def]
    """An archive took every record of a chain (access_archived_chains signs where it ended): the platform's own
    checkpoints of it were never read as a vanished chain, but the auditor's kept copies of them were — a false
    alarm on every verification given an export from before the archive. Kept checkpoints past what the archive
    took still reveal the chain's deleted tail."""
    async with second_query(platform) as server:
        await answer(platform, server, 3)
        await stop(server)
    async with database(platform) as conn:
        chain_id, last_seq, last_hash = await conn.fetchrow(
            "SELECT chain_id, seq, hash FROM access_log WHERE chain_id = (SELECT chain_id FROM audit_checkpoints"
            " WHERE final ORDER BY time DESC LIMIT 1) ORDER BY seq DESC LIMIT 1")
        kept = [c for c in (await export(platform))[0] if c.chain_id == chain_id]
        assert [c.sequence for c in kept] == [last_seq]
        async with deleted(conn, "access_log", "chain_id = $1", chain_id):
            await conn.execute("INSERT INTO access_archived_chains (chain_id, last_seq, last_hash, partition)"
                               " VALUES ($1, $2, $3, 'access_log_202501')", chain_id, last_seq, last_hash)
            try:
                archived = await verify(platform, held=kept)
                await conn.execute("UPDATE access_archived_chains SET last_seq = $2 WHERE chain_id = $1",
                                   chain_id, last_seq - 1)
                short = await verify(platform, held=kept)
            finally:
                await conn.execute("DELETE FROM access_archived_chains WHERE chain_id = $1", chain_id)
    assert not [c for c in archived.chains if c.chain_id == chain_id], archived.detail
    assert archived.intact, archived.detail
    assert chain(short, chain_id).state == audit_pb2.CHAIN_STATE_VANISHED and not short.intact


async def test_exporting_again_after_a_stop_re_signed_a_head_final_keeps_nothing_from_before(
        platform, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    """A process idle since its last periodic checkpoint signs the same head final at its stop, replacing that
    checkpoint's row: exporting again to the kept file is no deletion to warn about (only a head the platform
    no longer signs at all is kept from the file)."""
    system = platform.credentials.systems["authority"]
    kept = tmp_path / "kept.jsonl"
    async with second_query(platform) as server:
        await answer(platform, server, 2)
        (periodic,) = await server.component.checkpoint()  # type: ignore[attr-defined]
        assert await asyncio.to_thread(run_export_checkpoints, platform.edge.address, system["system_id"],
                                       system["secret"], out=kept) == 0
        await stop(server)
    capsys.readouterr()
    assert await asyncio.to_thread(run_export_checkpoints, platform.edge.address, system["system_id"],
                                   system["secret"], out=kept) == 0
    printed = capsys.readouterr()
    assert "kept_from_before" not in json.loads(printed.out), printed
    ours = [json.loads(line) for line in kept.read_text(encoding="utf-8").splitlines()
            if json.loads(line)["chain_id"] == periodic.chain_id]
    assert [(c["sequence"], c["final"]) for c in ours] == [(periodic.seq, True)]
