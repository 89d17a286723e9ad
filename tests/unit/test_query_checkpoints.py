"""Signed checkpoints of the audit chains' heads: signing, offline verification, and the verdict on each chain
when its last rows, or all of it, are deleted, its tail rewritten, or a checkpoint altered."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import asyncpg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services import launcher
from services.query import audit, checkpoints
from services.query.audit import GENESIS, Access, AuditWriter, Head, chain_hash
from services.query.checkpoints import (
    BROKEN,
    INTACT,
    TRUNCATED,
    VANISHED,
    ChainAuditor,
    Checkpoint,
    Checkpointer,
    CheckpointSigner,
    CheckpointVerifier,
    public_pem,
)
from services.query.store import QueryStore
from services.runtime.db import create_pool
from services.runtime.errors import ServiceError
from services.runtime.keys import PlatformKeys, ed25519_private_key, ed25519_public_keys, generate_keys
from services.runtime.settings import SettingsError, load

T0 = dt.datetime(2026, 11, 30, 14, 0, 0, 123456, tzinfo=dt.UTC)
CHAIN_A, CHAIN_B = "a" * 32, "b" * 32


@pytest.fixture(scope="module")
def signer() -> CheckpointSigner:
    return CheckpointSigner(Ed25519PrivateKey.generate())


@pytest.fixture(scope="module")
def verifier(signer: CheckpointSigner) -> CheckpointVerifier:
    return CheckpointVerifier([signer.public_key])


def rows(n: int, chain_id: str = CHAIN_A) -> list[dict]:
    """``n`` correctly chained access rows, as the store returns them."""
    stored, prev = [], GENESIS
    for seq in range(1, n + 1):
        values = (f"id-{chain_id[:4]}-{seq}", chain_id, seq, T0, "sys-a", "11100000000000001X", "101001/000001",
                  "11100000000000002X", "Query", ["name"], f"key-{seq}", [], "WORK_REFERENCE", "", "ANSWERED", "", "")
        digest = chain_hash(prev, values)
        stored.append(dict(zip(audit.COLUMNS, (*values, prev, digest), strict=True)))
        prev = digest
    return stored


def head(row: Mapping) -> Head:
    return Head(row["chain_id"], row["seq"], row["hash"])


def judge(verifier: CheckpointVerifier, stored_rows: list[dict], signed: list[Checkpoint]) -> ChainAuditor:
    """Feeds rows and checkpoints as the store yields them: by chain, by sequence, a row before its checkpoints."""
    auditor = ChainAuditor(verifier)
    entries = [((r["chain_id"], r["seq"], 0), r, None) for r in stored_rows]
    entries += [((c.chain_id, c.seq, 1), None, c) for c in signed]
    for _, row, checkpoint in sorted(entries, key=lambda e: e[0]):
        if row is not None:
            auditor.row(row)
        if checkpoint is not None:
            auditor.checkpoint(checkpoint)
    auditor.finish()
    return auditor


# --- signing and offline verification ----------------------------------------------------------------

def test_the_signed_encoding_is_the_documented_json_array() -> None:
    assert checkpoints.signed_bytes(CHAIN_A, 7, "c" * 64, T0, False) == (
        f'["govshare.audit.checkpoint.v1","{CHAIN_A}",7,"{"c" * 64}","2026-11-30T14:00:00.123456Z",false]'
    ).encode()


def test_the_key_id_is_the_rfc_7638_thumbprint() -> None:
    # RFC 8037 appendix A.2/A.3: the example Ed25519 key and its JWK thumbprint.
    x = base64.urlsafe_b64decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
    assert checkpoints.key_id(Ed25519PublicKey.from_public_bytes(x)) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_a_signed_checkpoint_verifies_and_every_altered_field_fails(signer: CheckpointSigner,
                                                                    verifier: CheckpointVerifier) -> None:
    signed = signer.sign(Head(CHAIN_A, 5, "d" * 64), T0, False)
    assert verifier.problem(signed) is None
    for change in ({"chain_id": CHAIN_B}, {"seq": 6}, {"hash": "e" * 64}, {"final": True},
                   {"time": T0 + dt.timedelta(microseconds=1)}, {"signature": bytes(64)}):
        assert verifier.problem(dataclasses.replace(signed, **change)) is not None, change


def test_only_trusted_keys_verify_and_retired_keys_still_do(signer: CheckpointSigner) -> None:
    other = CheckpointSigner(Ed25519PrivateKey.generate())
    forged = other.sign(Head(CHAIN_A, 1, "d" * 64), T0, False)
    assert "not a trusted audit key" in CheckpointVerifier([signer.public_key]).problem(forged)
    # A checkpoint claiming the trusted key id, signed by another key.
    assert CheckpointVerifier([signer.public_key]).problem(
        dataclasses.replace(forged, key_id=signer.key_id)) == "the signature does not match the checkpoint"
    assert CheckpointVerifier([signer.public_key, other.public_key]).problem(forged) is None


def test_an_export_file_verifies_offline_and_tampered_lines_are_named(signer: CheckpointSigner,
                                                                      verifier: CheckpointVerifier) -> None:
    signed = [signer.sign(Head(CHAIN_A, seq, f"{seq:064x}"), T0, seq == 3) for seq in (1, 2, 3)]
    lines = [json.dumps(checkpoints.to_json(c)) for c in signed]
    assert checkpoints.from_json(json.loads(lines[0])) == signed[0]
    assert checkpoints.verify_export(lines, verifier) == (3, [])
    altered = json.loads(lines[1])
    altered["sequence"] = 9
    good, problems = checkpoints.verify_export([lines[0], json.dumps(altered), lines[2], "{}"], verifier)
    assert good == 2
    assert [p.split(":")[0] for p in problems] == ["line 2", "line 4"]


def test_a_checkpoint_file_altered_to_hold_personal_data_is_reported_without_repeating_it(
        signer: CheckpointSigner, verifier: CheckpointVerifier) -> None:
    """verify-checkpoints named a line's chain and key id as the file held them, and a time that was none in
    strptime's own words, which quote it: a line edited to hold a 公民身份号码 or a megabyte of text had the
    auditor's terminal repeat it. They are described; the writer's own chain ids are still named."""
    signed = [signer.sign(Head(CHAIN_A, seq, f"{seq:064x}"), T0, seq == 1) for seq in (1, 2)]
    lines = [json.dumps(checkpoints.to_json(c)) for c in signed]
    for value in ("11010519491231002X", "张三" * 5000):
        altered = [json.dumps({**json.loads(lines[0]), field: value}) for field in ("chain_id", "key_id", "time")]
        _, problems = checkpoints.verify_export([*altered, lines[1]], verifier)
        assert [p.split(":")[0] for p in problems] == ["line 1", "line 2", "line 3"], problems
        assert problems[2] == "line 3: not a checkpoint (time is not a checkpoint's time (YYYY-MM-DDTHH:MM:SS.ffffffZ))"
        for problem in problems:
            assert value not in problem and len(problem) < 400, problem
    assert checkpoints.verify_export(lines, verifier)[1] == [
        f"chain {CHAIN_A}: a checkpoint of record 2 follows its final checkpoint"]


# --- the verdict on each chain -------------------------------------------------------------------------

def test_an_intact_chain_matches_its_checkpoints_and_a_final_one_closes_it(signer: CheckpointSigner,
                                                                          verifier: CheckpointVerifier) -> None:
    stored = rows(6)
    signed = [signer.sign(head(stored[2]), T0, False), signer.sign(head(stored[5]), T0, True)]
    (report,) = judge(verifier, stored, signed).reports
    assert (report.state, report.records, report.matched, report.closed) == (INTACT, 6, signed[1], True)
    assert report.unsigned_records == 0


def test_records_after_the_last_checkpoint_are_counted_unsigned(signer: CheckpointSigner,
                                                                verifier: CheckpointVerifier) -> None:
    stored = rows(5)
    (signed_tail,) = judge(verifier, stored, [signer.sign(head(stored[1]), T0, False)]).reports
    assert (signed_tail.state, signed_tail.unsigned_records) == (INTACT, 3)
    # A chain no checkpoint vouches for (a process that never reached its first one, or a made-up chain).
    (made_up,) = judge(verifier, rows(2, CHAIN_B), []).reports
    assert (made_up.matched, made_up.unsigned_records) == (None, 2)


def test_deleting_the_last_rows_is_truncation_naming_the_last_matching_checkpoint(
        signer: CheckpointSigner, verifier: CheckpointVerifier) -> None:
    stored = rows(8)
    signed = [signer.sign(head(stored[2]), T0, False), signer.sign(head(stored[5]), T0, False)]
    # Without checkpoints, deleting the tail leaves a chain that verifies: the hole this closes.
    assert judge(verifier, stored[:4], []).reports[0].state == INTACT
    auditor = judge(verifier, stored[:4], signed)
    (report,) = auditor.reports
    assert (report.state, report.last_seq, report.matched, report.unmatched) == (TRUNCATED, 4, signed[0], signed[1])
    assert "ends at record 4" in report.detail and "checkpoint of record 3" in report.detail


def test_a_tail_rewritten_with_recomputed_hashes_is_truncation(signer: CheckpointSigner,
                                                               verifier: CheckpointVerifier) -> None:
    stored = rows(5)
    signed = [signer.sign(head(stored[1]), T0, False), signer.sign(head(stored[4]), T0, False)]
    rewritten, prev = [dict(r) for r in stored], stored[2]["prev_hash"]
    for row in rewritten[2:]:
        row["result"], row["prev_hash"] = "DENIED", prev
        row["hash"] = prev = chain_hash(prev, audit.hashed_values(row))
    assert judge(verifier, rewritten, []).reports[0].state == INTACT
    (report,) = judge(verifier, rewritten, signed).reports
    assert (report.state, report.matched) == (TRUNCATED, signed[0])
    assert "rewritten" in report.detail


def test_a_whole_chain_deleted_has_vanished(signer: CheckpointSigner, verifier: CheckpointVerifier) -> None:
    gone, kept = rows(4, CHAIN_A), rows(2, CHAIN_B)
    signed = [signer.sign(head(gone[1]), T0, False), signer.sign(head(gone[3]), T0, True),
              signer.sign(head(kept[1]), T0, False)]
    reports = {r.chain_id: r for r in judge(verifier, kept, signed).reports}
    assert (reports[CHAIN_A].state, reports[CHAIN_A].matched) == (VANISHED, None)
    assert "signed up to record 4 (final checkpoint" in reports[CHAIN_A].detail
    assert reports[CHAIN_B].state == INTACT


def test_a_forged_checkpoint_is_reported_and_proves_nothing(signer: CheckpointSigner,
                                                            verifier: CheckpointVerifier) -> None:
    stored = rows(3)
    forged = dataclasses.replace(signer.sign(head(stored[2]), T0, False), seq=9)
    auditor = judge(verifier, stored, [forged])
    assert [f.checkpoint for f in auditor.forged] == [forged]
    assert auditor.reports[0].state == INTACT


def test_rows_after_a_final_checkpoint_or_an_altered_row_break_the_chain(signer: CheckpointSigner,
                                                                         verifier: CheckpointVerifier) -> None:
    stored = rows(4)
    (appended,) = judge(verifier, stored, [signer.sign(head(stored[1]), T0, True)]).reports
    assert (appended.state, appended.first_bad_id) == (BROKEN, stored[2]["id"])
    altered = [dict(r) for r in stored]
    altered[1]["key"] = "changed"
    (broken,) = judge(verifier, altered, [signer.sign(head(stored[3]), T0, False)]).reports
    assert (broken.state, broken.first_bad_id) == (BROKEN, stored[1]["id"])


async def test_held_checkpoints_are_merged_where_they_belong(signer: CheckpointSigner) -> None:
    stored = rows(3, CHAIN_B)
    held = [signer.sign(Head(CHAIN_A, 2, GENESIS), T0, False), signer.sign(head(stored[1]), T0, False)]

    async def entries() -> AsyncIterator[checkpoints.Entry]:
        for row in stored:
            yield row, None

    merged = [(r["seq"] if r else None, c.seq if c else None)
              async for r, c in checkpoints.with_held(entries(), held)]
    assert merged == [(1, None), (2, None), (None, 2), (3, None), (None, 2)]


# --- the periodic checkpoint -----------------------------------------------------------------------------

async def test_the_checkpointer_signs_moved_heads_abandoned_chains_and_a_final_one(signer: CheckpointSigner,
                                                                                   verifier: CheckpointVerifier
                                                                                   ) -> None:
    state: dict[str, object] = {"current": Head(CHAIN_A, 0, GENESIS), "abandoned": []}
    written: list[Checkpoint] = []
    fail = {"next": False}

    async def write(batch: list[Checkpoint]) -> None:
        if fail["next"]:
            fail["next"] = False
            raise ConnectionError("database down")
        written.extend(batch)

    def forget(heads: list[Head]) -> None:
        state["abandoned"] = [h for h in state["abandoned"] if h not in heads]  # type: ignore[attr-defined]

    keeper = Checkpointer(signer, lambda: (state["current"], list(state["abandoned"])),  # type: ignore[arg-type]
                          forget, write, interval=3600)
    assert await keeper.checkpoint() == []  # nothing written yet: nothing to sign
    state["current"] = Head(CHAIN_A, 3, "1" * 64)
    assert [c.seq for c in await keeper.checkpoint()] == [3]
    assert await keeper.checkpoint() == []  # the head did not move
    state["abandoned"], state["current"] = [Head(CHAIN_A, 5, "2" * 64)], Head(CHAIN_B, 1, "3" * 64)
    fail["next"] = True
    with pytest.raises(ConnectionError):
        await keeper.checkpoint()
    assert state["abandoned"]  # kept for the next attempt
    assert [(c.chain_id, c.seq, c.final) for c in await keeper.checkpoint()] == [(CHAIN_A, 5, False),
                                                                                (CHAIN_B, 1, False)]
    assert state["abandoned"] == []
    keeper.start()
    await keeper.stop()  # the head did not move, but the stop closes the chain
    assert [(c.chain_id, c.seq, c.final) for c in written[-1:]] == [(CHAIN_B, 1, True)]
    assert all(verifier.problem(c) is None for c in written)


# --- settings ------------------------------------------------------------------------------------------------

QUERY_ENV = {"GOVSHARE_INTERNAL_KEY": "k" * 40, "GOVSHARE_DATABASE_URL": "postgresql://x/y",
             "GOVSHARE_REDIS_URL": "redis://r:6379/0", "GOVSHARE_CATALOG_TARGET": "c:1",
             "GOVSHARE_AUTHORIZATION_TARGET": "a:1", "GOVSHARE_FOUNDATION_TARGET": "f:1",
             "GOVSHARE_TOKEN_PUBLIC_KEY": generate_keys().token_public_key}


def test_the_query_service_needs_an_ed25519_audit_signing_key() -> None:
    with pytest.raises(SettingsError, match="GOVSHARE_AUDIT_SIGNING_KEY: required by the query service"):
        load("query", QUERY_ENV)
    ec_key = private_pem_of(ec.generate_private_key(ec.SECP256R1()))
    for bad, why in (("garbage", "not a PEM private key"), (ec_key, "must be an Ed25519 key")):
        with pytest.raises(SettingsError, match=f"GOVSHARE_AUDIT_SIGNING_KEY: {why}") as info:
            load("query", {**QUERY_ENV, "GOVSHARE_AUDIT_SIGNING_KEY": bad})
        assert bad not in str(info.value)  # a secret never appears in the message
    key = generate_keys()
    retired = public_pem(Ed25519PrivateKey.generate().public_key())
    settings = load("query", {**QUERY_ENV, "GOVSHARE_AUDIT_SIGNING_KEY": key.audit_signing_key,
                              "GOVSHARE_AUDIT_CHECKPOINT_SECONDS": "5",
                              "GOVSHARE_AUDIT_RETIRED_PUBLIC_KEYS": retired + retired})
    assert settings.audit_checkpoint_seconds == 5 and len(ed25519_public_keys(settings.audit_retired_public_keys)) == 2
    with pytest.raises(SettingsError, match="GOVSHARE_AUDIT_RETIRED_PUBLIC_KEYS: no PEM public key found"):
        load("query", {**QUERY_ENV, "GOVSHARE_AUDIT_SIGNING_KEY": key.audit_signing_key,
                       "GOVSHARE_AUDIT_RETIRED_PUBLIC_KEYS": "nothing"})


def private_pem_of(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def test_an_older_govshare_up_refuses_the_key_file_of_a_newer_one_and_leaves_it_as_it_is(tmp_path: Path) -> None:
    """A downgrade on the same data directory: a key this version does not know was a TypeError traceback."""
    path = tmp_path / "keys.json"
    written = json.dumps({**generate_keys().__dict__, "future_signing_key": "kept"})
    path.write_text(written)
    with pytest.raises(SystemExit, match=r"keys\.json holds keys this version of govshare does not know "
                                         r"\(future_signing_key\): the data directory was used by a newer govshare"):
        launcher.load_or_create_keys(path)
    assert path.read_text() == written


def test_govshare_up_gives_the_audit_key_to_query_only_and_adds_it_to_old_key_files(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    old = generate_keys()
    path.write_text(json.dumps({k: v for k, v in old.__dict__.items() if k != "audit_signing_key"}))
    keys = launcher.load_or_create_keys(path)
    assert keys.token_private_key == old.token_private_key and keys.audit_signing_key
    assert launcher.load_or_create_keys(path) == keys  # written back: the chain keys stay the same
    ports = {name: 1 for name in (*launcher.ORDER, *launcher.EXTRA_OFFSETS)}
    for component in launcher.ORDER:
        env = launcher.service_environment(component, ports, "postgresql://x/y", "redis://r", keys, "extranet", 1)
        assert (env.get("GOVSHARE_AUDIT_SIGNING_KEY") == keys.audit_signing_key) == (component == "query")


# --- the writer, the checkpointer and the store together, on PostgreSQL --------------------------------------

@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, "query")
    yield pool
    await pool.close()


def access(n: int) -> Access:
    return Access(operation="Query", system_id="sys-a", department_code="11100000000000001X",
                  resource_code="101001/000001", key=f"key-{n}", keys=[], items=["name"], purpose="WORK_REFERENCE",
                  purpose_text="", trace_id="", time=dt.datetime.now(dt.UTC), result=audit.ANSWERED)


async def test_a_chain_abandoned_after_a_failed_write_is_signed_where_its_durable_records_end(
        pool: asyncpg.Pool, keys: PlatformKeys) -> None:
    # The session's platform key: the platform servers of this session verify these checkpoints too.
    signer = CheckpointSigner(ed25519_private_key(keys.audit_signing_key))
    verifier = CheckpointVerifier([signer.public_key])
    store = QueryStore(pool)
    failing = False

    async def write(rows: list[tuple]) -> None:
        if failing:
            raise ConnectionError("database went away")
        await store.insert_accesses(rows)

    writer = AuditWriter(write, flush_ms=0.0, batch_max=100)
    keeper = Checkpointer(signer, writer.heads, writer.forget, store.insert_checkpoints, interval=3600)
    writer.start()
    try:
        abandoned = writer.chain_id
        for n in range(3):
            await writer.record(access(n))
        failing = True
        with pytest.raises(ServiceError):
            await writer.record(access(3))
        failing = False
        await writer.record(access(4))
        signed = await keeper.checkpoint()
        assert [(c.chain_id, c.seq, c.final) for c in signed] == [(abandoned, 3, False), (writer.chain_id, 1, False)]
        assert writer.heads()[1] == []
    finally:
        await writer.stop()
        await keeper.stop()
        await store.release_audit_connection()
    auditor = ChainAuditor(verifier)
    async for row, checkpoint in store.chain_entries():
        if row is not None:
            auditor.row(row)
        if checkpoint is not None:
            auditor.checkpoint(checkpoint)
    reports = {r.chain_id: r for r in auditor.finish()}
    assert (reports[abandoned].state, reports[abandoned].matched.seq, reports[abandoned].closed) == (INTACT, 3, False)
    current = reports[writer.chain_id]
    assert (current.state, current.matched.final, current.closed, current.unsigned_records) == (INTACT, True, True, 0)
