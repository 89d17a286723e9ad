"""Full verifications of the access audit trail as long-running jobs (issue 13, AIP-151).

One VerifyAuditChain call verifies a page; a whole trail of 10^9 records takes far
longer than any call may. ``AuditService.StartAuditVerification`` therefore stores a
job (query migration 011) and returns at once; a :class:`VerificationRunner` in
every query process runs jobs in the background, page by page from the signed
checkpoints exactly as VerifyAuditChain pages do, saving after each page where the
next resumes and what was found. A job is leased to the process running it; the
lease is renewed while it works, so a process that dies stops renewing it and any
replica (or the same one restarted) takes the job over from its saved position once
the lease has expired. ``FOR UPDATE SKIP LOCKED`` and the owner check on every save
keep two replicas from running one job. The records are read on the listing pool,
never holding a connection the online Query path needs.

A job ends DONE with INTACT (every page intact, no forged checkpoint) or BROKEN (the
first break's chain, record and sequence kept), or CANCELLED by the auditor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

from services.query import checkpoints
from services.query.audit import shown_name
from services.query.store import QueryStore
from services.runtime.tasks import cancel

log = logging.getLogger(__name__)

RUNNING = "RUNNING"
DONE = "DONE"
CANCELLED = "CANCELLED"
INTACT = "INTACT"
BROKEN = "BROKEN"


def held_for_page(held: list[checkpoints.Checkpoint], position: tuple[str, int] | None,
                  rowless: dict[str, int]) -> list[checkpoints.Checkpoint]:
    """The auditor's checkpoints a page starting at ``position`` checks: those from it on (earlier pages checked
    the rest, and a page that stops short of some leaves them to the next); and every one of a chain with no
    records left (``rowless``: chain id -> the last sequence an archive took of it, 0 for none), whatever the
    position: they come after all the records (checkpoints.with_held), so only a job's last page meets them, as
    it meets the platform's own checkpoints of such chains. Those an archive took the chain past are left out:
    the archive's signed anchor stands for them."""
    return [c for c in held
            if (c.seq > rowless[c.chain_id] if c.chain_id in rowless
                else position is None or (c.chain_id, c.seq) >= position)]


def resumable_heads(anchors: set[tuple[str, int]], position: tuple[str, int] | None) -> set[tuple[str, int]]:
    """The signed heads a page may resume a chain after without its earlier records: those an archive signed for
    the records it dropped (QueryStore.archive_anchors), and the one the previous page ended on."""
    return anchors | {position} if position is not None else anchors


async def verify_page(auditor: checkpoints.ChainAuditor, entries: AsyncIterator[checkpoints.Entry], budget: int
                      ) -> tuple[str, int] | None:
    """Feeds ``entries`` to ``auditor`` until ``budget`` records are checked and a valid checkpoint the chain being
    read matches follows them, with more of the chain's records after it: the page ends there, and the next
    resumes from that signed head. Returns where, or None when the entries ran out (the verification is complete).

    A page never ends on the last checkpoint of a chain: what follows a chain's records (an auditor's kept
    checkpoints past a tail deleted together with the platform's own) is judged with them, in the same page. A
    page that ended there left those to a page starting in later chains, which never met them: a job found the
    deletion or not by where its pages happened to end.

    Nor on a checkpoint the chain does not match (a tail rewritten with recomputed hashes, from the first
    checkpoint that disagrees on): the next page could not resume from it, the record after it linking to
    another hash, and reported records missing from the chain's start that nobody removed, at a place that
    depended on where the pages ended. Such a chain is judged to its end in one page."""
    last_chain = ""
    end: tuple[str, int] | None = None
    async with contextlib.aclosing(entries) as stream:
        async for row, checkpoint in stream:
            if end is not None and row is not None and str(row["chain_id"]) == end[0]:
                return end  # the next page reads this record again, after the head it resumes from
            end = None
            if row is not None:
                auditor.row(row)
                last_chain = str(row["chain_id"])
            if checkpoint is not None:
                auditor.checkpoint(checkpoint)
                if (auditor.records_checked >= budget and checkpoint.chain_id == last_chain
                        and not checkpoint.final and auditor.resumable_at(checkpoint)):
                    end = checkpoint.chain_id, checkpoint.seq
    return None


async def verify_from(store: QueryStore, verifier: checkpoints.CheckpointVerifier,
                      held: list[checkpoints.Checkpoint], position: tuple[str, int] | None, budget: int,
                      background: bool = False) -> tuple[checkpoints.ChainAuditor, tuple[str, int] | None]:
    """One page of a verification, a VerifyAuditChain call's or a job's, from ``position`` (None: the start) with
    the auditor's kept checkpoints ``held``: the auditor that judged it (``finish`` gives its reports) and where
    the next page resumes (None: this was the last)."""
    async with store.verification_snapshot(position, {c.chain_id for c in held}, background) as snapshot:
        auditor = checkpoints.ChainAuditor(verifier, resumable_heads(snapshot.anchors, position))
        resume_at = await verify_page(auditor, checkpoints.with_held(
            snapshot.entries, held_for_page(held, position, snapshot.rowless)), budget)
    return auditor, resume_at


def chains_new(reports: list[checkpoints.ChainReport], position: tuple[str, int] | None) -> int:
    """The chains a page judged that no earlier page of its job counted: a page resumes within the chain the
    previous one ended in, and that chain, judged again, is still one chain (the job's chains_checked counts
    chains, not pages times chains)."""
    carried = position is not None and bool(reports) and reports[0].chain_id == position[0]
    return len(reports) - carried


def forged_detail(forged: list[checkpoints.Forged]) -> str:
    """Says how many checkpoints fail their signature and which is the first, and why: a job keeps no list of
    them, so its detail is all that tells the auditor where to look."""
    first = forged[0]
    return (f"{len(forged)} checkpoints fail their signature; the first: chain {shown_name(first.checkpoint.chain_id)}"
            f" {first.checkpoint.describe()} ({first.reason})")


def _forged_chain(forged: list[checkpoints.Forged]) -> str:
    """The first forged checkpoint's chain as the job's first_bad_chain_id ("-" when it is no chain id)."""
    chain_id = forged[0].checkpoint.chain_id if forged else ""
    return chain_id if 0 < len(chain_id) <= 64 else "-"


class VerificationRunner:
    """Runs this process's share of the verification jobs, one at a time, in the background."""

    def __init__(self, store: QueryStore, verifier: checkpoints.CheckpointVerifier, lease_seconds: float,
                 pause_seconds: float = 0.0) -> None:
        self._store = store
        self._verifier = verifier
        self.lease_seconds = lease_seconds
        self._pause = pause_seconds
        #: Unique per process, so that a restarted process never mistakes its predecessor's lease for its own.
        self.owner = f"{socket.gethostname()[:40]}-{os.getpid()}-{secrets.token_hex(4)}"
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.busy = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="audit-verifications")

    def wake(self) -> None:
        """A job was started here: take it now rather than at the next poll."""
        self._wake.set()

    async def stop(self) -> None:
        """Stops at once; a job under way keeps its saved position and is resumed when its lease expires."""
        await cancel(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            job, idle = None, True
            try:
                job = await self._store.claim_verification(self.owner, self.lease_seconds)
                if job is not None:
                    self.busy = True
                    await self._work(job)
                    idle = False  # another job may be waiting
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database went away: the saved position stands, retried later
                log.warning("audit verification %s interrupted (%s); it resumes from its last saved page",
                            job["id"] if job else "-", type(exc).__name__)
            finally:
                self.busy = False
            if idle:
                # Jobs another process left (its lease expired) are looked for once a lease interval.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.lease_seconds):
                        await self._wake.wait()
                self._wake.clear()

    async def _work(self, job: Any) -> None:
        """Verifies ``job`` page by page from its saved position, renewing the lease while a page runs."""
        job_id: uuid.UUID = job["id"]
        position = (job["position_chain_id"], job["position_seq"]) if job["position_chain_id"] else None
        held = await self._store.verification_checkpoints(job_id) if job["held_checkpoints"] else []
        pages = asyncio.create_task(self._pages(job_id, position, job["records_per_page"],
                                                bool(job["first_bad_chain_id"]), held, job["pages"] > 0))
        try:
            while not pages.done():
                done, _ = await asyncio.wait({pages}, timeout=self.lease_seconds / 3)
                if not done and not await self._store.renew_verification_lease(job_id, self.owner,
                                                                               self.lease_seconds):
                    pages.cancel()  # cancelled by the auditor, or taken over
                    await asyncio.wait({pages})
        finally:
            if not pages.done():  # this process is stopping: the saved position stands
                pages.cancel()
                await asyncio.wait({pages})
        if not pages.cancelled():
            pages.result()  # a page's error, if any, for the caller to log

    async def _pages(self, job_id: uuid.UUID, position: tuple[str, int] | None, budget: int,
                     broken_already: bool, held: list[checkpoints.Checkpoint], continued: bool) -> None:
        """``continued``: an earlier page of this job ended at ``position``, so it counted that chain already."""
        while True:
            auditor, resume_at = await verify_from(self._store, self._verifier, held, position, budget,
                                                   background=True)
            page = await self._page_figures(auditor, resume_at, broken_already)
            page["chains"] = chains_new(auditor.reports, position if continued else None)
            continued = True
            broken_already = broken_already or bool(page["first_bad_chain_id"])
            if not await self._store.save_verification_page(job_id, self.owner, self.lease_seconds, page):
                return  # cancelled, or another process holds it now
            if resume_at is None:
                log.info("audit verification %s done: %s", job_id, page["result"])
                return
            position = resume_at
            if self._pause:
                await asyncio.sleep(self._pause)

    async def _page_figures(self, auditor: checkpoints.ChainAuditor, resume_at: tuple[str, int] | None,
                            broken_already: bool) -> dict[str, object]:
        """What one page adds to its job; ``result`` is set on the last page (from the job's problems so far)."""
        reports = auditor.finish()
        bad = [r for r in reports if r.state != checkpoints.INTACT]
        first = bad[0] if bad and not broken_already else None
        detail = ""
        first_bad_seq = 0
        if first is not None:
            detail = first.detail
            if first.first_bad_id:
                first_bad_seq = await self._store.record_seq(first.chain_id, first.first_bad_id)
            elif first.unmatched is not None and first.unmatched.seq <= first.last_seq:
                # A tail rewritten with recomputed hashes: the first record shown altered is that of the first
                # checkpoint the chain does not match, as the detail says, not the chain's last one.
                first_bad_seq = first.unmatched.seq
            else:  # cut short (where it now ends) or vanished (0)
                first_bad_seq = first.last_seq
        elif auditor.forged and not broken_already:
            detail, first_bad_seq = forged_detail(auditor.forged), auditor.forged[0].checkpoint.seq
        page: dict[str, object] = {
            "chain_id": resume_at[0] if resume_at else None, "seq": resume_at[1] if resume_at else None,
            "records": auditor.records_checked, "chains": len(reports), "problems": len(bad),
            "forged": len(auditor.forged), "first_bad_id": first.first_bad_id if first else "",
            "first_bad_seq": first_bad_seq, "detail": detail,
            # Forged checkpoints alone break no chain: the first one's chain (or "-") marks the first problem.
            "first_bad_chain_id": first.chain_id if first else (_forged_chain(auditor.forged) if detail else ""),
            "result": ""}
        if resume_at is None:
            page["result"] = BROKEN if broken_already or bad or auditor.forged else INTACT
        return page
