"""A verification job's pages with the auditor's kept checkpoints: what a job finds must not depend on where its
pages happen to end. Pages are run here as VerificationRunner._pages and VerifyAuditChain run them (verify_from,
resuming at the signed head the last page ended on), over a trail in memory read as QueryStore reads the access
log (tests/integration/test_audit_verifications.py runs them on the real one)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.query import checkpoints
from services.query.audit import GENESIS, Head, chain_hash, hashed_values
from services.query.checkpoints import (
    BROKEN,
    INTACT,
    TRUNCATED,
    VANISHED,
    Checkpoint,
    CheckpointSigner,
    CheckpointVerifier,
)
from services.query.store import VerificationSnapshot
from services.query.verifications import VerificationRunner, verify_from
from tests.unit.test_query_checkpoints import T0, rows

SIGNED_EVERY = 5


class Trail:
    """An access log in memory: rows and the platform's checkpoints, answering what verify_from asks QueryStore."""

    def __init__(self, signer: CheckpointSigner, lengths: dict[str, int]) -> None:
        self.rows = {chain_id: rows(n, chain_id) for chain_id, n in lengths.items()}
        self.signed = {chain_id: [signer.sign(Head(chain_id, r["seq"], r["hash"]), T0, False)
                                  for r in stored if r["seq"] % SIGNED_EVERY == 0]
                       for chain_id, stored in self.rows.items()}
        self.archived: dict[str, int] = {}

    def cut(self, chain_id: str, after: int) -> None:
        """Deletes a chain's records after ``after`` and the checkpoints of them, as an attacker would."""
        self.rows[chain_id] = self.rows[chain_id][:after]
        self.signed[chain_id] = [c for c in self.signed[chain_id] if c.seq <= after]

    def rewrite(self, chain_id: str, start: int) -> None:
        """Alters a chain's record ``start`` and recomputes every later hash, as an attacker would: the rows still
        link, and only the checkpoints from ``start`` on disagree."""
        prev = self.rows[chain_id][start - 2]["hash"] if start > 1 else GENESIS
        for row in self.rows[chain_id][start - 1:]:
            row["result"] = "DENIED" if row["seq"] == start else row["result"]
            row["prev_hash"], row["hash"] = prev, chain_hash(prev, hashed_values(row))
            prev = row["hash"]

    def latest(self) -> list[Checkpoint]:
        """What an auditor's export keeps: the latest checkpoint of each chain."""
        return [signed[-1] for signed in self.signed.values() if signed]

    @asynccontextmanager
    async def verification_snapshot(self, after: tuple[str, int] | None, chain_ids: set[str], background: bool
                                    ) -> AsyncIterator[VerificationSnapshot]:
        rowless = {chain_id: self.archived.get(chain_id, 0) for chain_id in chain_ids if not self.rows.get(chain_id)}
        yield VerificationSnapshot(set(), rowless, self.chain_entries(after))  # type: ignore[arg-type]

    async def chain_entries(self, after: tuple[str, int] | None) -> AsyncIterator[checkpoints.Entry]:
        """Chain by chain, a row before the checkpoints of its sequence; those of chains without rows last."""
        for chain_id in sorted(self.rows):
            since = after[1] if after is not None and after[0] == chain_id else 0
            left = [r for r in self.rows[chain_id] if after is None or (chain_id, r["seq"]) > after]
            if not left:
                continue
            pending = [c for c in self.signed[chain_id] if c.seq >= since]
            for row in left:
                while pending and pending[0].seq < row["seq"]:
                    yield None, pending.pop(0)
                yield row, None
            for checkpoint in pending:
                yield None, checkpoint
        for chain_id in sorted(self.rows):
            if not self.rows[chain_id]:
                for checkpoint in self.signed[chain_id]:
                    yield None, checkpoint


async def run_job(trail: Trail, held: list[Checkpoint], verifier: CheckpointVerifier, budget: int
                  ) -> list[checkpoints.ChainReport]:
    """Every page's reports, in order."""
    reports: list[checkpoints.ChainReport] = []
    position: tuple[str, int] | None = None
    while True:
        auditor, position = await verify_from(trail, verifier, held, position, budget)  # type: ignore[arg-type]
        reports += auditor.finish()
        if position is None:
            return reports


@pytest.fixture(scope="module")
def signer() -> CheckpointSigner:
    return CheckpointSigner(Ed25519PrivateKey.generate())


@pytest.mark.parametrize("budget", [1, 3, 5, 7, 10, 12, 25, 1000])
async def test_a_tail_removed_with_its_checkpoints_is_found_whatever_the_page_size(
        signer: CheckpointSigner, budget: int) -> None:
    """A chain cut right after a checkpoint, with its later checkpoints: a page used to end on that checkpoint,
    the kept one of the chain was then past the page, and the next page (starting in other chains) never fed it —
    the job said INTACT, or named another chain first (a CI run failed so)."""
    verifier = CheckpointVerifier([signer.public_key])
    trail = Trail(signer, {"0" * 32: 30, "5" * 32: 12, "a" * 32: 17, "f" * 32: 9})
    held = trail.latest()
    trail.cut("0" * 32, 20)
    reports = await run_job(trail, held, verifier, budget)
    bad = [r for r in reports if r.state != INTACT]
    assert [(r.chain_id, r.state) for r in bad] == [("0" * 32, TRUNCATED)], [r.detail for r in bad]
    assert "ends at record 20" in bad[0].detail and "reached 30" in bad[0].detail


@pytest.mark.parametrize("budget", [1, 4, 5, 11, 1000])
async def test_a_chain_removed_whole_with_its_checkpoints_is_found_whatever_the_page_size(
        signer: CheckpointSigner, budget: int) -> None:
    """A kept checkpoint of a chain with nothing left came last in every page and was dropped by any page that
    started past it: only a job whose last page began before that chain saw it vanish."""
    verifier = CheckpointVerifier([signer.public_key])
    trail = Trail(signer, {"1" * 32: 14, "5" * 32: 10, "c" * 32: 16})
    held = trail.latest()
    trail.cut("5" * 32, 0)
    bad = [r for r in await run_job(trail, held, verifier, budget) if r.state != INTACT]
    assert [(r.chain_id, r.state) for r in bad] == [("5" * 32, VANISHED)], [r.detail for r in bad]


@pytest.mark.parametrize("budget", [1, 5, 6, 1000])
async def test_an_untouched_trail_with_kept_checkpoints_is_intact_whatever_the_page_size(
        signer: CheckpointSigner, budget: int) -> None:
    verifier = CheckpointVerifier([signer.public_key])
    trail = Trail(signer, {"1" * 32: 14, "5" * 32: 10, "c" * 32: 16})
    reports = await run_job(trail, trail.latest(), verifier, budget)
    assert {r.chain_id for r in reports} == {"1" * 32, "5" * 32, "c" * 32}
    assert all(r.state == INTACT for r in reports), [r.detail for r in reports if r.state != INTACT]


async def test_kept_checkpoints_of_a_chain_archived_whole_stand_for_nothing_missing(signer: CheckpointSigner) -> None:
    """An archive moved a chain's every record out, signing its last head: the auditor's kept checkpoints of it are
    covered by that anchor (a vanished chain only past it)."""
    verifier = CheckpointVerifier([signer.public_key])
    trail = Trail(signer, {"1" * 32: 10, "5" * 32: 10, "c" * 32: 10})
    held = trail.latest()
    trail.cut("5" * 32, 0)
    trail.archived["5" * 32] = 10
    reports = await run_job(trail, held, verifier, 4)
    assert {r.chain_id for r in reports} == {"1" * 32, "c" * 32} and all(r.state == INTACT for r in reports)
    trail.archived["5" * 32] = 8
    bad = [r for r in await run_job(trail, held, verifier, 4) if r.state != INTACT]
    assert [(r.chain_id, r.state) for r in bad] == [("5" * 32, VANISHED)]


@pytest.mark.parametrize("budget", [1, 2, 3, 5, 7, 9, 12, 18, 1000])
async def test_a_tail_rewritten_with_recomputed_hashes_is_one_finding_whatever_the_page_size(
        signer: CheckpointSigner, budget: int) -> None:
    """A chain's tail rewritten from record 12 on (hashes recomputed, so the rows still link) matches none of its
    checkpoints from 15 on. A page could end on one of those: the next page, resuming from that signed head, found
    the record after it did not link to it and reported the chain BROKEN, 'expected record 1, found 16 (records
    are missing …)', records nobody removed; which records it named, and the job's first problem, depended on
    where the pages ended."""
    verifier = CheckpointVerifier([signer.public_key])
    trail = Trail(signer, {"1" * 32: 8, "5" * 32: 30, "c" * 32: 9})
    held = trail.latest()
    trail.rewrite("5" * 32, 12)
    for kept in ([], held):
        bad = [r for r in await run_job(trail, kept, verifier, budget) if r.state != INTACT]
        assert [(r.chain_id, r.state) for r in bad] == [("5" * 32, TRUNCATED)], [r.detail for r in bad]
        assert "was rewritten: record 15 does not have the hash of its checkpoint" in bad[0].detail
        assert "still matches checkpoint of record 10" in bad[0].detail


async def test_pages_still_end_within_a_chain_whose_first_records_are_missing(signer: CheckpointSigner) -> None:
    """A chain's first records deleted (no archive took them) fail its first checkpoints, but the records from there
    on still link to its later ones: pages go on ending there, so that no page runs to the end of a long chain."""
    verifier = CheckpointVerifier([signer.public_key])
    trail = Trail(signer, {"5" * 32: 40})
    trail.rows["5" * 32] = trail.rows["5" * 32][10:]
    auditor, resume_at = await verify_from(trail, verifier, [], None, 3)  # type: ignore[arg-type]
    assert resume_at == ("5" * 32, 15)
    assert [r.state for r in auditor.finish()] == [BROKEN]
    bad = [r for r in await run_job(trail, trail.latest(), verifier, 3) if r.state != INTACT]
    assert [(r.chain_id, r.state) for r in bad] == [("5" * 32, BROKEN)], [r.detail for r in bad]


async def test_a_jobs_first_bad_sequence_is_the_record_its_detail_names(signer: CheckpointSigner) -> None:
    """A job's first_bad_sequence for a tail rewritten with recomputed hashes was the chain's last record (30),
    while its detail named record 15, the first checkpoint the chain does not match; a tail cut short is still
    where the chain now ends."""
    verifier = CheckpointVerifier([signer.public_key])
    runner = VerificationRunner(None, verifier, 1.0)  # type: ignore[arg-type]  # the store is not read here
    for tamper, at, expected in (("rewrite", 12, 15), ("cut", 20, 20)):
        trail = Trail(signer, {"1" * 32: 8, "5" * 32: 30})
        held = trail.latest()
        getattr(trail, tamper)("5" * 32, at)
        auditor, resume_at = await verify_from(trail, verifier, held, None, 1000)  # type: ignore[arg-type]
        page = await runner._page_figures(auditor, resume_at, False)
        assert (page["first_bad_chain_id"], page["first_bad_seq"]) == ("5" * 32, expected), page["detail"]
        assert f"record {expected}" in str(page["detail"])
