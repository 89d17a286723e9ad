"""All SQL of the query service: the access log, quota counters and disputes (schema ``query``)."""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg

from services.query.audit import (
    ANSWERED,
    DENIED,
    FAILED,
    INVALID,
    NOT_FOUND,
    RECORD_COLUMNS,
    ExportKeys,
    Row,
    SentKeys,
    vouched_keys,
)
from services.query.checkpoints import Checkpoint
from services.query.disputes import OPEN, Dispute, Readers, dispute_event
from services.runtime import admin_events
from services.runtime.errors import describe
from services.runtime.identity import Caller
from services.runtime.workdays import Recounted, moved_dues, provisional, recounted

log = logging.getLogger(__name__)

# A batch of rows is one statement over an array of the table's own row type (the rows are tuples in its
# column order, which is RECORD_COLUMNS): PostgreSQL plans and starts it once, not once per row as executemany's
# INSERT … VALUES. Measured on the embedded server with the partition's eleven indexes: 72 µs of server CPU
# a row in batches of 16 against 95, 58 against 82 in batches of 64, client CPU the same; under the cache-hit
# benchmark, PostgreSQL's CPU per call 0.187 / 0.161 ms against 0.198 / 0.177 (docs/performance.md).
#: A batch of the audit writer's, and, when it begins a chain (its record 1: the writer's first, or a new one after
#: a failed write), that chain named in the writer's lease (the prefix of its access ids) in the same statement:
#: the listings follow the live chains from page to page (QueryStore.access_page), and a chain the lease named only
#: at its next renewal (up to 30 s later) had its records listed twice, or missed by a listing that ended meanwhile.
_INSERT_ACCESS = (f"WITH batch AS (SELECT * FROM unnest($1::access_log[])),"
                  " named AS (UPDATE audit_writers w SET chain_id = b.chain_id FROM batch b"
                  " WHERE b.seq = 1 AND w.writer = split_part(b.id, '-', 1)"
                  " AND w.chain_id IS DISTINCT FROM b.chain_id)"
                  f" INSERT INTO access_log ({', '.join(RECORD_COLUMNS)})"
                  f" SELECT {', '.join(RECORD_COLUMNS)} FROM batch")
_PARTITION = re.compile(r"access_log_[0-9]{6}")
#: The usage sums' columns (query migrations 008, 011, 012, 022), one per outcome an access can have, so that a
#: summary accounts for every access ListAccesses lists.
USAGE_OUTCOMES = (("answered", ANSWERED), ("denied", DENIED), ("not_found", NOT_FOUND), ("invalid", INVALID),
                  ("failed", FAILED))
_USAGE_COLUMNS = ", ".join(column for column, _ in USAGE_OUTCOMES)


def _usage_sums(counts: str) -> str:
    """The usage sums' outcome columns over rows of ``counts`` ('n': access_daily's counts) or of accesses
    ('1': the log's rows), in USAGE_OUTCOMES' order."""
    if counts == "1":
        return ", ".join(f"count(*) FILTER (WHERE result = '{result}') AS {column}"
                         for column, result in USAGE_OUTCOMES)
    return ", ".join(f"coalesce(sum({counts}) FILTER (WHERE result = '{result}'), 0) AS {column}"
                     for column, result in USAGE_OUTCOMES)
_CHECKPOINT_COLUMNS = "chain_id, seq, hash, time, final, key_id, signature"
_DISPUTE_COLUMNS = ("id, resource_code, key, item, claimed_value, evidence, reporter_department_code, "
                    "reporter_system_id, provider_department_code, state, answer, create_time, due_time, "
                    "answer_time, reporter_display_name, answer_system_id, answer_display_name, "
                    "answer_department_code")


def _checkpoint_row(c: Checkpoint) -> tuple:
    """A checkpoint's values in the order of _CHECKPOINT_COLUMNS."""
    return (c.chain_id, c.seq, c.hash, c.time, c.final, c.key_id, c.signature)


@dataclass(frozen=True, slots=True)
class AccessFilter:
    """Which accesses a listing or summary covers; ``provider`` None means every provider (the authority)."""

    provider: str | None = None
    resource_code: str = ""
    department_code: str = ""
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    #: One outcome (services.query.audit's results), as the listing shows it; "" for every one.
    result: str = ""
    #: The accesses answered under one grant (the id the record names); "" for every one.
    grant_id: str = ""
    #: The accesses of one caller (the system, or person, the record names); "" for every one.
    system_id: str = ""
    #: The accesses refused for one reason (services.query.audit's short names, as stored); "" for every one.
    deny_reason: str = ""


@dataclass(frozen=True, slots=True)
class Frontier:
    """Where a listing's previous page saw the log: when the listing began (its first page's snapshot), and how far
    it saw each chain that could still grow (a live writer's, or one whose records it has not all shown)."""

    began: dt.datetime
    heads: dict[str, int]


@dataclass(frozen=True, slots=True)
class AccessPage:
    """A page of ListAccesses as read (QueryStore.access_page): the records that landed since the previous page
    in the part already listed, then the rest's (one more than fit, when more follow)."""

    late: list[asyncpg.Record]
    rows: list[asyncpg.Record]
    #: More late records than fit: the page holds no other, and the next resumes them.
    late_cut: bool
    frontier: Frontier


def _access_conditions(f: AccessFilter, args: list[object]) -> list[str]:
    conditions: list[str] = []

    def arg(value: object) -> str:
        args.append(value)
        return f"${len(args)}"

    if f.provider is not None:
        conditions.append(f"provider_department_code = {arg(f.provider)}")
    if f.resource_code:
        conditions.append(f"resource_code = {arg(f.resource_code)}")
    if f.department_code:
        conditions.append(f"department_code = {arg(f.department_code)}")
    if f.start is not None:
        conditions.append(f"time >= {arg(f.start)}")
    if f.end is not None:
        conditions.append(f"time < {arg(f.end)}")
    if f.result:
        conditions.append(f"result = {arg(f.result)}")
    if f.grant_id:
        # Said twice so that the plan may read the partial index of granted accesses (access_log_grant_time).
        conditions.append(f"grant_id = {arg(f.grant_id)} AND grant_id <> ''")
    if f.system_id:
        conditions.append(f"system_id = {arg(f.system_id)}")
    if f.deny_reason:
        # The column also holds a failure's cause (FAILED, NOT_FOUND): a refusal's reason is a DENIED record's.
        conditions.append(f"result = 'DENIED' AND deny_reason = {arg(f.deny_reason)}")
    return conditions


def _checkpoint(row: asyncpg.Record) -> Checkpoint:
    return Checkpoint(chain_id=row["chain_id"], seq=row["seq"], hash=row["hash"], time=row["time"],
                      final=row["final"], key_id=row["key_id"], signature=bytes(row["signature"]))


def _dispute(row: asyncpg.Record) -> Dispute:
    return Dispute(**dict(row))


#: What the persons' view reads of an access (ListSubjectAccesses).
_SUBJECT_COLUMNS = ("id, time, system_id, department_code, resource_code, provider_department_code, operation,"
                    " items, purpose, purpose_text, result")


@dataclass(frozen=True)
class VerificationSnapshot:
    """What one page of a verification reads (QueryStore.verification_snapshot), from one snapshot."""

    #: QueryStore.archive_anchors.
    anchors: set[tuple[str, int]]
    #: QueryStore.rowless_chains of the auditor's chains.
    rowless: dict[str, int]
    #: QueryStore.chain_entries from the page's position.
    entries: AsyncIterator[tuple[asyncpg.Record | None, Checkpoint | None]]


class QueryStore:
    def __init__(self, pool: asyncpg.Pool, listing: asyncpg.Pool | None = None,
                 search: asyncpg.Pool | None = None) -> None:
        """``pool`` is the record path's (audit writes, quotas, disputes by id); ``listing`` serves the List*
        reads and ``search`` the usage summaries (db.WorkPools, default ``pool``): heavy reads wait for their
        own connections, under their own statement budget, and never hold one a Query needs. Supervision's
        figures stay on ``pool``: a month computed cold takes longer than any interactive budget, once."""
        self._pool = pool
        self._listing = listing or pool
        self._search = search or pool
        # The audit writer's own connection and prepared INSERT: checking a connection out of the
        # pool (and resetting it on the way back) for every group commit would double the cost of
        # a small batch.
        self._audit_connection: asyncpg.Connection | None = None
        self._insert_access: asyncpg.prepared_stmt.PreparedStatement | None = None

    # --- access log ---------------------------------------------------------------------------

    async def insert_accesses(self, rows: list[Row]) -> None:
        """Appends a batch of chained access rows, atomically (one pipeline, one implicit transaction).

        Called by the single audit writer only, which owns the connection it uses. A connection the server closed
        while it was idle (PostgreSQL restarted, or an administrator ended the session) is replaced before the
        batch is sent: nothing was sent on it, so the batch is not lost (the first queries after a restart were
        refused AUDIT_UNAVAILABLE and the chain was broken off for it).
        """
        if self.audit_connection_lost():
            await self.release_audit_connection(broken=True)
        statement = self._insert_access
        if statement is None:
            self._audit_connection = await self._pool.acquire()
            statement = self._insert_access = await self._audit_connection.prepare(_INSERT_ACCESS)
        try:
            await statement.fetch(rows)
        except BaseException:
            # The connection's state is unknown (the batch may have half-run): never reuse it.
            await self.release_audit_connection(broken=True)
            raise

    async def hold_writer(self, writer: str, seconds: float, chain_id: str = "") -> dt.datetime:
        """Holds (or renews) the lease of the audit writer ``writer`` for ``seconds`` from now, by the database's
        clock, which every replica shares, with the chain it writes (``chain_id``: the listings follow it). Returns
        when the lease was taken: a lease another replica dropped (its exports closed INTERRUPTED) and this renewal
        took again is another lease, which the exports begun under the first do not write keys under
        (record_export_keys).

        The name is the later of the lease's and ``chain_id`` (a writer's chains are named in the order it begins
        them, AuditWriter._new_chain): a renewal on its way with the chain of before when a write failed, arriving
        after the new chain's first records named it (_INSERT_ACCESS), named the abandoned chain again, and the
        listings followed a chain that grew no more, listing the new one's records twice or missing them."""
        return await self._pool.fetchval(
            "INSERT INTO audit_writers (writer, alive_until, chain_id)"
            " VALUES ($1, now() + make_interval(secs => $2), nullif($3, ''))"
            " ON CONFLICT (writer) DO UPDATE SET alive_until = excluded.alive_until,"
            ' chain_id = greatest(excluded.chain_id COLLATE "C", audit_writers.chain_id COLLATE "C")'
            " RETURNING started",
            writer, seconds, chain_id)

    async def release_writer(self, writer: str) -> None:
        """Drops the lease of ``writer``, whose process stops cleanly (its exports all closed)."""
        await self._pool.execute("DELETE FROM audit_writers WHERE writer = $1", writer)

    async def close_lapsed_exports(self, close: Callable[[list[Mapping[str, object]]], Awaitable[None]]) -> int:
        """For each audit writer whose lease ran out (its process gone without stopping, or stalled), hands its
        exports that have no closing record to ``close`` (which makes them durable), each with the (count, digest)
        of the persons' keys kept for it (``kept_export_keys``, which the closing record vouches for), then drops
        the lease; returns how many.

        Each lease is taken under its row lock (SKIP LOCKED: another replica at the same one moves on), so an
        export is closed once; the keys an export writes are written under that lease's key-share lock
        (record_export_keys), so those read here are all it will ever have: a page its process, merely stalled,
        sends later finds the lease gone and is not sent. ``close`` failing leaves the lease, to be tried again."""
        closed = 0
        while True:
            async with self._pool.acquire() as conn, conn.transaction():
                lease = await conn.fetchrow(
                    "SELECT writer, started FROM audit_writers WHERE alive_until < now()"
                    " ORDER BY alive_until LIMIT 1 FOR UPDATE SKIP LOCKED")
                if lease is None:
                    return closed
                # Its records are no older than its start (by its own clock, which may lag the database's a little):
                # read from there by the time index.
                openings = await conn.fetch(
                    f"SELECT {', '.join(RECORD_COLUMNS)} FROM access_log a"
                    " WHERE a.time >= $2::timestamptz - interval '5 minutes'"
                    " AND a.operation = 'Export' AND starts_with(a.id, $1 || '-') AND NOT EXISTS ("
                    " SELECT 1 FROM access_log c WHERE c.key = a.id AND c.operation = 'ExportEnd'"
                    " AND c.time >= a.time)", lease["writer"], lease["started"])
                if openings:
                    await close([{**dict(row), "kept_export_keys": await _kept_export_keys(conn, row["id"])}
                                 for row in openings])
                await conn.execute("DELETE FROM audit_writers WHERE writer = $1", lease["writer"])
                closed += len(openings)

    def audit_connection_lost(self) -> bool:
        """Whether the audit connection is held but closed: asyncpg gives a pooled connection it lost back to the
        pool by itself, after which the object refuses even is_closed()."""
        if self._audit_connection is None:
            return False
        try:
            return self._audit_connection.is_closed()
        except asyncpg.InterfaceError:
            return True

    async def release_audit_connection(self, broken: bool = False) -> None:
        """Gives the audit connection back to the pool, closing it first if ``broken``.

        Never raises: it runs while a failed write is being handled, and that failure (PostgreSQL gone, a
        connection cut) is what the writer must report. A connection the server closed has already gone
        back to the pool by itself (asyncpg releases a pooled connection when it is lost), and terminating
        or releasing it again fails; so does anything on a pool that is closing.
        """
        connection, self._audit_connection, self._insert_access = self._audit_connection, None, None
        if connection is None:
            return
        try:
            if broken:
                connection.terminate()
            await self._pool.release(connection)
        except (asyncpg.InterfaceError, asyncpg.PostgresError, OSError) as exc:
            log.debug("audit connection already gone (%s)", describe(exc))

    async def chain_rows(self, fetch: int = 2000) -> AsyncIterator[asyncpg.Record]:
        """Every access row in (chain, seq) order, from one consistent snapshot."""
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            query = f"SELECT {', '.join(RECORD_COLUMNS)} FROM access_log ORDER BY chain_id, seq"
            async for row in conn.cursor(query, prefetch=fetch):
                yield row

    async def chain_entries(self, fetch: int = 2000, after: tuple[str, int] | None = None, background: bool = False
                            ) -> AsyncIterator[tuple[asyncpg.Record | None, Checkpoint | None]]:
        """Every access row and checkpoint from one consistent snapshot, as (row, None) or (None, checkpoint):
        chain by chain, by sequence, a row before the checkpoints of its sequence; the checkpoints of chains
        without rows come last. Rows follow the (chain_id, seq) index; a chain's checkpoints are read when
        its first row is, so the order never depends on how the database collates text.

        ``after`` (chain id, sequence of a checkpoint): resume there, with that checkpoint first (an earlier page
        of a verification ended on it). ``background``: read on the listing pool (a verification job,
        services/query/verifications.py), never holding a connection the online path needs.
        """
        pool = self._listing if background else self._pool
        async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            async for entry in _entries(conn, fetch, after):
                yield entry

    @asynccontextmanager
    async def verification_snapshot(self, after: tuple[str, int] | None, chain_ids: set[str],
                                    background: bool = False, fetch: int = 2000) -> AsyncIterator[VerificationSnapshot]:
        """What one page of a verification reads, all from one snapshot: the archives' anchors, which of the
        auditor's ``chain_ids`` have no record left, and the entries (chain_entries). Read apart, an archive that
        committed between them (records dropped, anchors signed) left the page records missing with no anchor to
        resume from: a false break, reported once."""
        pool = self._listing if background else self._pool
        async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            entries = _entries(conn, fetch, after)
            try:
                yield VerificationSnapshot(await _archive_anchors(conn),
                                           await _rowless_chains(conn, chain_ids) if chain_ids else {}, entries)
            finally:
                await entries.aclose()  # before the transaction ends: a page stops where its budget does

    # --- verification jobs (services/query/verifications.py) ---------------------------------------------

    async def access_log_estimate(self) -> int:
        """About how many access rows are kept: the planner's statistics of every partition, no scan."""
        return int(await self._pool.fetchval(
            "SELECT coalesce(sum(greatest(c.reltuples, 0)), 0)::bigint FROM pg_inherits i"
            " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'access_log'::regclass"))

    async def create_verification(self, job_id: uuid.UUID, position: tuple[str, int] | None, records_per_page: int,
                                  estimate: int, owner: str, lease_seconds: float, event: admin_events.AdminEvent,
                                  held: Sequence[Checkpoint] = ()) -> asyncpg.Record:
        """Stores a new RUNNING job (leased to ``owner`` when given, so that the process asked runs it), the
        auditor's own checkpoints it is to check (``held``) and, in the same transaction, its administrative
        event."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "INSERT INTO audit_verifications (id, state, create_time, update_time, creator_system_id,"
                " creator_department_code, position_chain_id, position_seq, records_estimate, records_per_page,"
                " lease_owner, lease_expire_time, held_checkpoints) VALUES ($1, 'RUNNING', $2, $2, $3, $4, $5, $6,"
                " $7, $8, $9, CASE WHEN $9 = '' THEN NULL ELSE now() + make_interval(secs => $10) END, $11)"
                " RETURNING *",
                job_id, event.time, event.actor_system_id, event.actor_department_code,
                position[0] if position else None, position[1] if position else None, estimate, records_per_page,
                owner, lease_seconds, len(held))
            if held:
                await conn.copy_records_to_table(
                    "audit_verification_checkpoints",
                    columns=("verification_id", *_CHECKPOINT_COLUMNS.split(", ")),
                    records=[(job_id, *_checkpoint_row(c)) for c in held])
            await admin_events.record(conn, event)
        return row

    async def verification_checkpoints(self, job_id: uuid.UUID) -> list[Checkpoint]:
        """The auditor's own checkpoints a job was given, by chain and sequence."""
        rows = await self._pool.fetch(f"SELECT {_CHECKPOINT_COLUMNS} FROM audit_verification_checkpoints"
                                      " WHERE verification_id = $1 ORDER BY chain_id, seq", job_id)
        return [Checkpoint(*row) for row in rows]

    async def get_verification(self, job_id: uuid.UUID) -> asyncpg.Record | None:
        return await self._pool.fetchrow("SELECT * FROM audit_verifications WHERE id = $1", job_id)

    async def list_verifications(self, after: tuple[dt.datetime, uuid.UUID] | None, limit: int
                                 ) -> list[asyncpg.Record]:
        """Newest first, resuming after the (create_time, id) of a previous page's last job."""
        if after is None:
            return await self._listing.fetch(
                "SELECT * FROM audit_verifications ORDER BY create_time DESC, id DESC LIMIT $1", limit)
        return await self._listing.fetch(
            "SELECT * FROM audit_verifications WHERE (create_time, id) < ($1, $2)"
            " ORDER BY create_time DESC, id DESC LIMIT $3", *after, limit)

    async def record_admin_event(self, event: admin_events.AdminEvent) -> None:
        """An administrative event of an act that changes nothing here (a read of the access log), in the outbox:
        the relay takes it to the administrative log like the disputes' events."""
        async with self._pool.acquire() as conn:
            await admin_events.record(conn, event)

    async def cancel_verification(self, job_id: uuid.UUID, event: admin_events.AdminEvent) -> asyncpg.Record | None:
        """Cancels a RUNNING job (its runner stops at its next save or lease renewal) and records who did, in one
        transaction; a job that has ended is returned as it is, with no event."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "UPDATE audit_verifications SET state = 'CANCELLED', update_time = $2, end_time = $2,"
                " cancel_system_id = $3, lease_owner = '', lease_expire_time = NULL"
                " WHERE id = $1 AND state = 'RUNNING' RETURNING *", job_id, event.time, event.actor_system_id)
            if row is None:
                return await conn.fetchrow("SELECT * FROM audit_verifications WHERE id = $1", job_id)
            await admin_events.record(conn, event)
            return row

    async def claim_verification(self, owner: str, lease_seconds: float) -> asyncpg.Record | None:
        """Leases the oldest RUNNING job nobody holds (never leased, its lease expired, or leased to ``owner`` at
        its start) to ``owner``; None when there is none. SKIP LOCKED: two replicas never take the same one."""
        return await self._pool.fetchrow(
            "UPDATE audit_verifications SET lease_owner = $1, lease_expire_time = now() + make_interval(secs => $2)"
            " WHERE id = (SELECT id FROM audit_verifications WHERE state = 'RUNNING' AND (lease_owner = $1"
            " OR lease_expire_time IS NULL OR lease_expire_time < now()) ORDER BY create_time LIMIT 1"
            " FOR UPDATE SKIP LOCKED) RETURNING *", owner, lease_seconds)

    async def renew_verification_lease(self, job_id: uuid.UUID, owner: str, lease_seconds: float) -> bool:
        """Extends ``owner``'s lease; False when the job was cancelled or another process holds it now."""
        status = await self._pool.execute(
            "UPDATE audit_verifications SET lease_expire_time = now() + make_interval(secs => $3)"
            " WHERE id = $1 AND lease_owner = $2 AND state = 'RUNNING'", job_id, owner, lease_seconds)
        return status == "UPDATE 1"

    async def save_verification_page(self, job_id: uuid.UUID, owner: str, lease_seconds: float,
                                     page: dict[str, object]) -> bool:
        """Adds one verified page to the job (its figures, where the next resumes, the first break if it is the
        first) and renews the lease, or ends the job DONE when ``page['result']`` is set; False when the job is
        no longer ``owner``'s to run (cancelled, or taken over after the lease expired)."""
        status = await self._pool.execute(
            "UPDATE audit_verifications SET update_time = now(), position_chain_id = $4, position_seq = $5,"
            " records_verified = records_verified + $6, chains_checked = chains_checked + $7, pages = pages + 1,"
            " problems = problems + $8, forged_checkpoints = forged_checkpoints + $9,"
            " first_bad_id = CASE WHEN first_bad_chain_id = '' THEN $10 ELSE first_bad_id END,"
            " first_bad_seq = CASE WHEN first_bad_chain_id = '' THEN $11 ELSE first_bad_seq END,"
            " detail = CASE WHEN first_bad_chain_id = '' AND $12 <> '' THEN $12 ELSE detail END,"
            " first_bad_chain_id = CASE WHEN first_bad_chain_id = '' THEN $13 ELSE first_bad_chain_id END,"
            " state = CASE WHEN $14 = '' THEN state ELSE 'DONE' END,"
            " result = $14, end_time = CASE WHEN $14 = '' THEN NULL ELSE now() END,"
            " lease_expire_time = CASE WHEN $14 = '' THEN now() + make_interval(secs => $3) ELSE NULL END"
            " WHERE id = $1 AND lease_owner = $2 AND state = 'RUNNING'",
            job_id, owner, lease_seconds, page["chain_id"], page["seq"], page["records"], page["chains"],
            page["problems"], page["forged"], page["first_bad_id"], page["first_bad_seq"], page["detail"],
            page["first_bad_chain_id"], page["result"])
        return status == "UPDATE 1"

    async def record_seq(self, chain_id: str, record_id: str) -> int:
        """The sequence of a record of ``chain_id`` (0 if it is gone): where a verification found a break."""
        return await self._listing.fetchval(
            "SELECT seq FROM access_log WHERE chain_id = $1 AND id = $2", chain_id, record_id) or 0

    # --- audit checkpoints --------------------------------------------------------------------

    async def insert_checkpoints(self, checkpoints: list[Checkpoint]) -> None:
        """Stores signed chain heads; a head signed again (the final checkpoint at a stop) replaces its row."""
        await self._pool.executemany(
            f"INSERT INTO audit_checkpoints ({_CHECKPOINT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            " ON CONFLICT (chain_id, seq) DO UPDATE SET time = excluded.time, final = excluded.final,"
            " key_id = excluded.key_id, signature = excluded.signature",
            [_checkpoint_row(c) for c in checkpoints])

    async def list_checkpoints(self, after: tuple[dt.datetime, str, int] | None, limit: int) -> list[Checkpoint]:
        """Oldest first, resuming after the (time, chain_id, seq) of a previous page's last checkpoint."""
        if after is None:
            rows = await self._listing.fetch(
                f"SELECT {_CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY time, chain_id, seq LIMIT $1",
                limit)
        else:
            rows = await self._listing.fetch(
                f"SELECT {_CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE (time, chain_id, seq) > ($1, $2, $3)"
                " ORDER BY time, chain_id, seq LIMIT $4", *after, limit)
        return [_checkpoint(row) for row in rows]

    async def list_accesses(self, f: AccessFilter, after: tuple[dt.datetime, str] | None,
                            limit: int) -> list[asyncpg.Record]:
        """Newest first, resuming after the (time, id) of a previous page's last row."""
        return await _access_rows(self._listing, f, after, limit)

    async def access_page(self, f: AccessFilter, after: tuple[dt.datetime, str] | None, limit: int,
                          since: Frontier | None) -> AccessPage:
        """A page of ListAccesses, read in one snapshot: the records that landed, since the page ``since`` was read,
        in the part of the log the listing has passed (above ``after``, begun before the listing: their calls were
        still running), at most ``limit`` of them, then up to ``limit`` + 1 less those of the rest, newest first;
        and the frontier the next page starts from. ``since`` None: the listing's first page (or a token of an
        earlier release, which does not follow the chains)."""
        async with self._listing.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            seen = await _chains_seen(conn, since)
            late: list[asyncpg.Record] = []
            if since is not None and after is not None and seen.chains:
                late = await _late_rows(conn, f, after, seen.began, seen.pending(), limit + 1)
            cut = late[limit] if len(late) > limit else None
            late = late[:limit]
            rows = [] if cut is not None else await _access_rows(conn, f, after, limit - len(late) + 1)
            return AccessPage(late, rows, cut is not None, seen.frontier(cut))

    async def subject_page(self, keys: list[str], start: dt.datetime | None, end: dt.datetime | None,
                           after: tuple[dt.datetime, str] | None, limit: int, since: Frontier | None,
                           hidden: Callable[[asyncpg.Record], bool]) -> AccessPage:
        """A page of the persons' view (ListSubjectAccesses), read in one snapshot as access_page reads
        ListAccesses': the accesses to ``keys`` that landed since the page ``since`` was read in the part already
        listed (a slow call begun above that page's last row), then the rest's, up to ``limit`` + 1 less those,
        newest first; the rows ``hidden`` says are withheld (services/query/subjects.py) are skipped and counted by
        neither. An export's keys written after a page was read are not followed: the export's record is written
        when it begins, before the page that lists it."""
        async with self._listing.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            seen = await _chains_seen(conn, since)
            late: list[asyncpg.Record] = []
            cut: asyncpg.Record | None = None
            pending = seen.pending() if since is not None and after is not None else []
            while pending and cut is None:
                batch = await _late_subject_rows(conn, keys, start, end, after, seen.began, pending,  # type: ignore[arg-type]
                                                 limit + 1)
                for row in batch:
                    if hidden(row):
                        continue
                    if len(late) == limit:
                        cut = row
                        break
                    late.append(row)
                if len(batch) <= limit:
                    break
                # Resumed after the batch's last row: the rest of its chain, then the chains after it.
                last = batch[-1]
                index = [chain for chain, _ in pending].index(last["chain_id"])
                pending = [(last["chain_id"], last["seq"]), *pending[index + 1:]]
            rows: list[asyncpg.Record] = []
            if cut is None:
                rows = await _visible_subject_rows(conn, keys, start, end, after, limit - len(late) + 1, hidden)
            return AccessPage(late, rows, cut is not None, seen.frontier(cut))

    async def roll_up_usage_months(self, months: list[tuple[dt.date, dt.date]]) -> None:
        """Sums each month's (first day, next month's first day) daily counts into access_usage_monthly unless
        it is there already; every day of it must be rolled up first."""
        done = {row["month"] for row in await self._pool.fetch(
            "SELECT month FROM access_usage_months WHERE month = ANY($1::date[])", [m for m, _ in months])}
        for month, following in months:
            if month in done:
                continue
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext('govshare-query-usage-monthly'))")
                if await conn.fetchval("SELECT 1 FROM access_usage_months WHERE month = $1", month):
                    continue
                await conn.execute(
                    "INSERT INTO access_usage_monthly (month, provider_department_code, resource_code,"
                    f" department_code, purpose, {_USAGE_COLUMNS}) SELECT $1::date, provider_department_code,"
                    f" resource_code, department_code, purpose, {_usage_sums('n')} FROM access_daily"
                    " WHERE day >= $1 AND day < $2 GROUP BY 2, 3, 4, 5", month, following)
                await conn.execute("INSERT INTO access_usage_months (month) VALUES ($1)", month)

    async def roll_up_usage_hours(self, hours: list[dt.datetime]) -> int:
        """Sums each whole hour (its first instant) of the access log into access_usage_hourly unless it is there
        already; returns how many it summed. As roll_up_days: one transaction per hour, serialized."""
        counted = 0
        done = {row["hour"] for row in await self._pool.fetch(
            "SELECT hour FROM access_usage_hours WHERE hour = ANY($1::timestamptz[])", hours)}
        for hour in hours:
            if hour in done:
                continue
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext('govshare-query-usage-hourly'))")
                if await conn.fetchval("SELECT 1 FROM access_usage_hours WHERE hour = $1", hour):
                    continue
                await conn.execute(
                    "INSERT INTO access_usage_hourly (hour, provider_department_code, resource_code,"
                    f" department_code, purpose, {_USAGE_COLUMNS}) SELECT $1::timestamptz,"
                    " provider_department_code, resource_code, department_code, purpose,"
                    f" {_usage_sums('1')} FROM access_outcomes WHERE time >= $1"
                    " AND time < $1::timestamptz + interval '1 hour' AND operation <> 'SubjectLookup'"
                    " GROUP BY 2, 3, 4, 5", hour)
                await conn.execute("INSERT INTO access_usage_hours (hour) VALUES ($1)", hour)
                counted += 1
        return counted

    async def forget_usage_hours(self, before: dt.datetime) -> None:
        """Drops the hourly sums of hours before ``before`` (their days are in access_daily by then)."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM access_usage_hours WHERE hour < $1", before)
            await conn.execute("DELETE FROM access_usage_hourly WHERE hour < $1", before)

    async def usage_totals(self, f: AccessFilter, parts: list[tuple[str, object, object]]) -> list[asyncpg.Record]:
        """GetUsageSummary's rows in one statement: the accesses of each outcome (USAGE_OUTCOMES) per resource,
        using department and purpose, summed over ``parts`` — ("month" | "day" | "hour", first, last) read
        pre-aggregated sums of [first, last), ("log", start, end) the access log itself — without empty groups, in
        code point order (COLLATE "C", as Python sorts). ``f``'s provider and resource apply to every part, its
        times to none."""
        args: list[object] = []

        def arg(value: object) -> str:
            args.append(value)
            return f"${len(args)}"

        selects = []
        for kind, first, last in parts:
            if kind == "log":
                where = _access_conditions(AccessFilter(provider=f.provider, resource_code=f.resource_code,
                                                        start=first, end=last), args)  # type: ignore[arg-type]
                selects.append(
                    f"SELECT resource_code, department_code, purpose, {_usage_sums('1')} FROM access_outcomes"
                    f" WHERE {' AND '.join(where)} AND operation <> 'SubjectLookup' GROUP BY 1, 2, 3")
                continue
            table, column = {"month": ("access_usage_monthly", "month"), "day": ("access_usage_daily", "day"),
                             "hour": ("access_usage_hourly", "hour")}[kind]
            where = [f"{column} >= {arg(first)}", f"{column} < {arg(last)}"]
            if f.provider is not None:
                where.append(f"provider_department_code = {arg(f.provider)}")
            if f.resource_code:
                where.append(f"resource_code = {arg(f.resource_code)}")
            selects.append(f"SELECT resource_code, department_code, purpose, {_USAGE_COLUMNS} FROM {table}"
                           f" WHERE {' AND '.join(where)}")
        if not selects:
            return []
        totals = ", ".join(f"sum({column})::bigint AS {column}" for column, _ in USAGE_OUTCOMES)
        return await self._search.fetch(
            f"SELECT resource_code, department_code, purpose, {totals}"
            f" FROM ({' UNION ALL '.join(selects)}) AS parts GROUP BY resource_code, department_code, purpose"
            f" HAVING {' + '.join(f'sum({column})' for column, _ in USAGE_OUTCOMES)} > 0"
            ' ORDER BY resource_code COLLATE "C", department_code COLLATE "C", purpose COLLATE "C"', *args)

    async def oldest_access_time(self) -> dt.datetime | None:
        """The time of the oldest access kept (one index probe per partition)."""
        return await self._pool.fetchval("SELECT min(time) FROM access_log")

    async def first_rolled_day(self) -> dt.date | None:
        """The first day the daily counts hold (it may be older than every row kept: archived months)."""
        return await self._pool.fetchval("SELECT min(day) FROM access_days")

    # --- the access log's monthly partitions (services/query/partitions.py) ----------------------

    async def ensure_partition(self, month: dt.date) -> str:
        """Creates the partition of the month (CST) that ``month`` falls in unless it exists; its name."""
        return await self._pool.fetchval("SELECT access_log_partition($1)", month)

    @asynccontextmanager
    async def archiving_turn(self) -> AsyncIterator[bool]:
        """Whether this process may archive expired months now: True for one process of every replica at a time,
        held until the block ends. Every process runs the upkeep, and the workers of a pod start together: two
        writing one month's file on the shared volume at once truncated each other's, and one's drop could rely
        on a file the other was rewriting.

        A transaction-scoped advisory lock (pooled connections hold no session state, db.create_pool) in a
        transaction of a connection of its own, open while the archive is written on others: it takes no
        snapshot nor transaction id, and ends with its connection if the process dies."""
        async with self._pool.acquire() as conn, conn.transaction():
            yield await conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtext('govshare-query-archive'))")

    async def partition_rows(self, name: str, fetch: int = 5000, keys_per_line: int = 10_000
                             ) -> AsyncIterator[asyncpg.Record | ExportKeys]:
        """Every row of one partition (access_log_YYYYMM), in chain and sequence order, then the persons' keys its
        exports sent (access_export_keys, which its drop takes away: up to ``keys_per_line`` at a time), from one
        snapshot."""
        if not _PARTITION.fullmatch(name):
            raise ValueError(f"not an access log partition: {name!r}")
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            async for row in conn.cursor(f"SELECT {', '.join(RECORD_COLUMNS)} FROM {name} ORDER BY chain_id, seq",
                                         prefetch=fetch):
                yield row
            held: ExportKeys | None = None
            async for row in conn.cursor(f"SELECT e.access_id, e.key FROM access_export_keys e JOIN {name} p"
                                         " ON p.id = e.access_id AND p.time = e.time ORDER BY e.access_id",
                                         prefetch=fetch):
                if held is not None and (held.access_id != row["access_id"] or len(held.keys) >= keys_per_line):
                    yield held
                    held = None
                if held is None:
                    held = ExportKeys(row["access_id"], [])
                held.keys.append(row["key"])
            if held is not None:
                yield held

    async def drop_archived_partition(self, name: str, anchors: list[Checkpoint], file: str, rows: int,
                                      sha256: str, now: dt.datetime) -> None:
        """In one transaction: stores the signed heads the chains reached in the partition (a head signed
        already stays as it was), registers the archive and the chains that ended in it, drops the partition."""
        if not _PARTITION.fullmatch(name):
            raise ValueError(f"not an access log partition: {name!r}")
        async with self._pool.acquire() as conn, conn.transaction():
            # Detaching locks the whole access log: audit inserts queue behind the lock while it waits for a long
            # reader. Give up after a moment instead (the next hourly pass tries again).
            await conn.execute("SET LOCAL lock_timeout = '2s'")
            await conn.executemany(
                f"INSERT INTO audit_checkpoints ({_CHECKPOINT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                " ON CONFLICT (chain_id, seq) DO NOTHING",
                [_checkpoint_row(c) for c in anchors])
            await conn.execute("INSERT INTO access_archives (partition, file, rows, sha256, archive_time)"
                               " VALUES ($1, $2, $3, $4, $5)", name, file, rows, sha256, now)
            # The heads the rest of each chain resumes from: only these stand for records that are gone.
            await conn.executemany(
                "INSERT INTO access_archive_anchors (chain_id, seq, partition) VALUES ($1, $2, $3)"
                " ON CONFLICT DO NOTHING", [(c.chain_id, c.seq, name) for c in anchors])
            # A chain with no record after the partition ended in it: verification must not call it vanished.
            await conn.executemany(
                "INSERT INTO access_archived_chains (chain_id, last_seq, last_hash, partition)"
                " SELECT $1::text, $2::bigint, $3::text, $4::text WHERE NOT EXISTS (SELECT 1 FROM access_log"
                " WHERE chain_id = $1::text AND seq > $2::bigint AND tableoid <> $4::text::regclass)"
                " ON CONFLICT (chain_id) DO UPDATE SET last_seq = excluded.last_seq, last_hash = excluded.last_hash,"
                " partition = excluded.partition",
                [(c.chain_id, c.seq, c.hash, name) for c in anchors])
            # The keys its exports sent go with it: the persons' view has nothing to join them to any more.
            await conn.execute(f"DELETE FROM access_export_keys e USING {name} p"
                               " WHERE e.access_id = p.id AND e.time = p.time")
            await conn.execute(f"ALTER TABLE access_log DETACH PARTITION {name}")
            await conn.execute(f"DROP TABLE {name}")

    async def archive_anchors(self, background: bool = False) -> set[tuple[str, int]]:
        """The (chain id, sequence) of every head an archive signed in place of the records it dropped: the only
        signed heads a chain whose first records are missing may resume from (ChainAuditor ``resumable``)."""
        return await _archive_anchors(self._listing if background else self._pool)

    async def rowless_chains(self, chain_ids: set[str], background: bool = False) -> dict[str, int]:
        """Those of ``chain_ids`` with no record left in the access log, each with the last sequence an archive
        took of it (0: none): an auditor's kept checkpoints of them are judged on a verification's last page
        (verifications.held_for_page). One index probe a chain."""
        return await _rowless_chains(self._listing if background else self._pool, chain_ids)

    async def partitions(self) -> list[str]:
        """The access log's partitions (access_log_YYYYMM), oldest first."""
        rows = await self._pool.fetch(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'access_log'::regclass ORDER BY c.relname")
        return [row["relname"] for row in rows]

    # --- quotas -------------------------------------------------------------------------------

    async def consume_quotas(self, grant_id: str, quotas: list[int], calls: list[int]) -> list[bool]:
        """Counts several calls' ``calls`` against the grant in one statement, in order, each all or nothing
        against its ``quotas`` entry; returns which were counted (migration 010, ``consume_quota``)."""
        granted = await self._pool.fetchval("SELECT consume_quota($1, $2::bigint[], $3::bigint[])",
                                            grant_id, quotas, calls)
        return list(granted)

    async def release_quota(self, grant_id: str, calls: int) -> None:
        """Gives back ``calls`` counted against the grant for a call that failed unanswered."""
        await self._pool.execute("UPDATE quota_usage SET used = greatest(used - $2, 0) WHERE grant_id = $1",
                                 grant_id, calls)

    async def add_quota_calls(self, calls: Sequence[tuple[str, int]]) -> None:
        """Adds the calls of grants without a quota to their counts (Quotas.tally), in one statement: a quota set on
        such a grant later counts them. In grant order, as every writer of the rows takes their locks."""
        await self._pool.execute(
            "INSERT INTO quota_usage (grant_id, used) SELECT * FROM unnest($1::text[], $2::bigint[]) "
            "ON CONFLICT (grant_id) DO UPDATE SET used = quota_usage.used + excluded.used, update_time = now()",
            [grant_id for grant_id, _ in calls], [count for _, count in calls])

    async def quota_used(self, grant_id: str) -> int:
        """Calls counted against the grant so far."""
        return (await self.quotas_used([grant_id]))[grant_id]

    async def quotas_used(self, grant_ids: Sequence[str]) -> dict[str, int]:
        """Calls counted against each grant so far (0 for one never counted), in one statement."""
        rows = await self._pool.fetch("SELECT grant_id, used FROM quota_usage WHERE grant_id = ANY($1::text[])",
                                      list(grant_ids))
        used = {row["grant_id"]: row["used"] for row in rows}
        return {grant_id: used.get(grant_id, 0) for grant_id in grant_ids}

    # --- disputes -----------------------------------------------------------------------------

    async def insert_dispute(self, d: Dispute, caller: Caller) -> uuid.UUID | None:
        """Stores a new dispute and, in the same transaction, its administrative event (outbox); returns None.

        When the reporting department already has an open dispute about the same item of the same record, stores
        nothing and returns that dispute's id: the provider answers the item once, and a second report (a retry,
        a colleague's) would only count twice against it. The lock serialises two such reports sent at once.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                               "\x1f".join(("dispute", d.resource_code, d.key, d.item, d.reporter_department_code)))
            open_id = await conn.fetchval(
                f"SELECT id FROM disputes WHERE resource_code = $1 AND key = $2 AND state = '{OPEN}' AND item = $3"
                " AND reporter_department_code = $4 LIMIT 1",
                d.resource_code, d.key, d.item, d.reporter_department_code)
            if open_id is not None:
                return open_id
            await conn.execute(
                f"INSERT INTO disputes ({_DISPUTE_COLUMNS}, due_working_days, due_provisional) VALUES ($1, $2, $3,"
                " $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)",
                d.id, d.resource_code, d.key, d.item, d.claimed_value, d.evidence, d.reporter_department_code,
                d.reporter_system_id, d.provider_department_code, d.state, d.answer, d.create_time, d.due_time,
                d.answer_time, d.reporter_display_name, d.answer_system_id, d.answer_display_name,
                d.answer_department_code, d.due_working_days, provisional(d.due_time))
            await admin_events.record(conn, dispute_event(caller, "dispute.report", d, d.create_time))
        return None

    async def recount_dues(self) -> Recounted:
        """Counts again, on the calendar installed now (workdays.moved_dues), every dispute deadline counted without
        its year's statutory calendar (or stored before it was known whether it was: migration 016) and every open
        one's: the year's calendar it was counted on may have been corrected since (the holiday file's 调休 entered
        wrong, then fixed). Returns how many moved, of each kind. One that changed meanwhile (another worker counted
        it first) is left as it is."""
        async with self._pool.acquire() as conn, conn.transaction():
            rows = [(r["id"], r["create_time"], r["due_time"], r["due_working_days"], r["due_provisional"])
                    for r in await conn.fetch(
                        "SELECT id, create_time, due_time, due_working_days, due_provisional FROM disputes"
                        " WHERE due_provisional IS NOT FALSE OR (state = $1 AND due_working_days IS NOT NULL)",
                        OPEN)]
            dues = moved_dues(rows)
            if dues:
                await conn.executemany("UPDATE disputes SET due_time = $3, due_working_days = $4, due_provisional = $5"
                                       " WHERE id = $1 AND due_time = $2", dues)
        return recounted(rows, dues)

    async def get_dispute(self, dispute_id: uuid.UUID) -> Dispute | None:
        row = await self._pool.fetchrow(f"SELECT {_DISPUTE_COLUMNS} FROM disputes WHERE id = $1", dispute_id)
        return _dispute(row) if row is not None else None

    async def answer_dispute(self, dispute_id: uuid.UUID, state: str, answer: str, caller: Caller,
                             now: dt.datetime) -> tuple[Dispute, bool] | None:
        """Closes an open dispute and records the answer (a confirmation or a correction) in the administrative
        log's outbox, in one transaction; returns it and whether its record still has an open dispute.

        None when the dispute is not open (any more): answers are final.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "UPDATE disputes SET state = $2, answer = $3, answer_system_id = $4, answer_time = $5,"
                " answer_display_name = $6, answer_department_code = $7"
                f" WHERE id = $1 AND state = '{OPEN}' RETURNING {_DISPUTE_COLUMNS}",
                dispute_id, state, answer, caller.system_id, now, caller.display_name, caller.department_code)
            if row is None:
                return None
            await admin_events.record(conn, dispute_event(caller, f"dispute.{state.lower()}", _dispute(row), now))
            still_open = await conn.fetchval(
                f"SELECT EXISTS (SELECT 1 FROM disputes WHERE resource_code = $1 AND key = $2 AND state = '{OPEN}')",
                row["resource_code"], row["key"])
        return _dispute(row), bool(still_open)

    async def list_disputes(self, readers: Readers | None, state: str, overdue_only: bool, now: dt.datetime,
                            after: tuple[dt.datetime, uuid.UUID] | None, limit: int,
                            by_due: bool = False) -> list[Dispute]:
        """Newest first, or (``by_due``) the earliest deadline first, resuming after ``after`` (the last row's
        creation or due time, and id); those of ``readers``' department on the sides they read, or (None, the
        authority) every department's."""
        args: list[object] = []

        def arg(value: object) -> str:
            args.append(value)
            return f"${len(args)}"

        conditions: list[str] = []
        if readers is not None:
            placeholder = arg(readers.department)
            sides = [f"{column} = {placeholder}" for column, read in (("reporter_department_code", readers.reporter),
                                                                      ("provider_department_code", readers.provider))
                     if read]
            conditions.append(f"({' OR '.join(sides) or 'false'})")
        if state:
            conditions.append(f"state = {arg(state)}")
        if overdue_only:
            conditions.append(f"coalesce(answer_time, {arg(now)}) > due_time")
        if after is not None:
            position = (f"(due_time, id) > ({arg(after[0])}, {arg(after[1])})" if by_due
                        else f"(create_time, id) < ({arg(after[0])}, {arg(after[1])})")
            conditions.append(position)
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        order = "due_time, id" if by_due else "create_time DESC, id DESC"
        rows = await self._listing.fetch(
            f"SELECT {_DISPUTE_COLUMNS} FROM disputes {where} ORDER BY {order} LIMIT {arg(limit)}", *args)
        return [_dispute(row) for row in rows]

    async def open_dispute_records(self) -> list[tuple[str, str]]:
        """(resource code, key) of every record with an open dispute."""
        rows = await self._pool.fetch(f"SELECT DISTINCT resource_code, key FROM disputes WHERE state = '{OPEN}'")
        return [(row["resource_code"], row["key"]) for row in rows]

    # --- figures for supervision (R-SUP-1) -----------------------------------------------------

    async def access_counts(self, start: dt.datetime, end: dt.datetime) -> list[asyncpg.Record]:
        """Accesses in [start, end) counted by user, system, provider, resource, purpose, result and reason."""
        return await self._pool.fetch(
            "SELECT department_code, system_id, provider_department_code, resource_code, purpose, result,"
            " deny_reason, count(*) AS n FROM access_outcomes WHERE time >= $1 AND time < $2"
            " AND operation <> 'SubjectLookup' GROUP BY 1, 2, 3, 4, 5, 6, 7", start, end)

    async def system_daily_counts(self, start: dt.datetime, end: dt.datetime) -> list[asyncpg.Record]:
        """Accesses in [start, end) per user department, system and day (China Standard Time)."""
        return await self._pool.fetch(
            "SELECT department_code, system_id, (time AT TIME ZONE 'Asia/Shanghai')::date AS day, count(*) AS n"
            " FROM access_outcomes WHERE time >= $1 AND time < $2 AND operation <> 'SubjectLookup' GROUP BY 1, 2, 3",
            start, end)

    async def disputes_created(self, start: dt.datetime, end: dt.datetime) -> list[asyncpg.Record]:
        """Disputes reported in [start, end): who reported, who must answer, state, due and answer times."""
        return await self._pool.fetch(
            "SELECT reporter_department_code, provider_department_code, resource_code, state, due_time,"
            " answer_time FROM disputes WHERE create_time >= $1 AND create_time < $2", start, end)

    # --- the persons' view -------------------------------------------------------------------------

    async def subject_accesses(self, keys: list[str], start: dt.datetime | None, end: dt.datetime | None,
                               after: tuple[dt.datetime, str] | None, limit: int) -> list[asyncpg.Record]:
        """Accesses whose key (or one of whose batch keys, or one of the keys an export sent) is one of ``keys``,
        newest first, lookups excluded (_subject_rows)."""
        return await _subject_rows(self._listing, keys, start, end, after, limit)

    async def record_export_keys(self, access_id: str, time: dt.datetime, keys: list[str],
                                 lease: tuple[str, dt.datetime] | None = None) -> list[str] | None:
        """The keys of a page an export is about to send, so that the persons' view lists the export among the
        accesses to each of them (migration 017). Written before the page leaves, as the export's record is.
        Returns those the table took (a key the export sent before is kept once): what its closing record sums
        (services.query.audit.SentKeys).

        ``lease``: the (writer, taken) of the lease the export began under (hold_writer). The keys are written under
        its key-share lock, and not at all (None) once it is gone: another replica found it run out and closed the
        export INTERRUPTED, vouching for the keys kept then (close_lapsed_exports), and a page sent after that by a
        process that had only stalled would be an access no record vouches for."""
        insert = ("INSERT INTO access_export_keys (access_id, time, key) SELECT $1, $2, k FROM unnest($3::text[]) k"
                  " ON CONFLICT DO NOTHING RETURNING key")
        if lease is None:
            return [row["key"] for row in await self._pool.fetch(insert, access_id, time, keys)]
        async with self._pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT true FROM audit_writers WHERE writer = $1 AND started = $2"
                                       " FOR KEY SHARE", *lease):
                return None
            return [row["key"] for row in await conn.fetch(insert, access_id, time, keys)]

    # --- daily counts for supervision (whole past days, rolled up once) ----------------------------

    async def roll_up_days(self, days: list[tuple[dt.date, dt.datetime, dt.datetime]]) -> int:
        """Counts each day (date, its first instant, the next day's) into access_daily unless it already is;
        returns how many days it counted. One transaction per day: a day of a busy month is a few seconds of
        scan, well inside the statement timeout, and the days done stay done if a later one fails. Concurrent
        callers serialize on a transaction lock."""
        counted = 0
        done = {row["day"] for row in await self._pool.fetch(
            "SELECT day FROM access_days WHERE day = ANY($1::date[])", [day for day, _, _ in days])}
        for day, start, end in days:
            if day in done:  # one read for all the days counted already, not a transaction each
                continue
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext('govshare-query-access-daily'))")
                if await conn.fetchval("SELECT 1 FROM access_days WHERE day = $1", day):
                    continue
                await conn.execute(
                    "INSERT INTO access_daily SELECT $3::date, department_code, system_id, provider_department_code,"
                    " resource_code, purpose, result, deny_reason, count(*) FROM access_outcomes"
                    " WHERE time >= $1 AND time < $2 AND operation <> 'SubjectLookup' GROUP BY 2, 3, 4, 5, 6, 7, 8",
                    start, end, day)
                # The usage summary's own groups of the day (query migration 012), from the rows just counted.
                await conn.execute(
                    "INSERT INTO access_usage_daily (day, provider_department_code, resource_code,"
                    f" department_code, purpose, {_USAGE_COLUMNS}) SELECT day, provider_department_code,"
                    f" resource_code, department_code, purpose, {_usage_sums('n')} FROM access_daily"
                    " WHERE day = $1 GROUP BY 1, 2, 3, 4, 5", day)
                await conn.execute("INSERT INTO access_days (day) VALUES ($1)", day)
                counted += 1
        return counted

    async def daily_access_counts(self, first: dt.date, last: dt.date) -> list[asyncpg.Record]:
        """What access_counts gives, for the rolled-up days [first, last)."""
        return await self._pool.fetch(
            "SELECT department_code, system_id, provider_department_code, resource_code, purpose, result,"
            " deny_reason, sum(n)::bigint AS n FROM access_daily WHERE day >= $1 AND day < $2"
            " GROUP BY 1, 2, 3, 4, 5, 6, 7", first, last)

    async def daily_system_counts(self, first: dt.date, last: dt.date) -> list[asyncpg.Record]:
        """What system_daily_counts gives, for the rolled-up days [first, last)."""
        return await self._pool.fetch(
            "SELECT department_code, system_id, day, sum(n)::bigint AS n FROM access_daily"
            " WHERE day >= $1 AND day < $2 GROUP BY 1, 2, 3", first, last)

    async def answered_by_resource(self, first: dt.date, last: dt.date, after: str,
                                   limit: int) -> list[asyncpg.Record]:
        """Answered calls per resource over the rolled-up days [first, last), resources after ``after`` in code
        order, ``limit`` at most (ListResourceUsage: the catalog's search ranking)."""
        return await self._search.fetch(
            "SELECT resource_code, sum(n)::bigint AS n FROM access_daily WHERE day >= $1 AND day < $2"
            f" AND result = '{ANSWERED}' AND resource_code > $3 GROUP BY resource_code ORDER BY resource_code"
            " LIMIT $4", first, last, after, limit)


async def _entries(conn: asyncpg.Connection, fetch: int, after: tuple[str, int] | None
                   ) -> AsyncIterator[tuple[asyncpg.Record | None, Checkpoint | None]]:
    """QueryStore.chain_entries on ``conn``, in the snapshot of the transaction it is in."""
    chain: str | None = None
    pending: list[Checkpoint] = []  # the current chain's checkpoints not yet yielded, last first
    args: tuple[object, ...] = ()
    where = ""
    if after is not None:
        args, where = after, "WHERE (chain_id, seq) > ($1, $2)"
    query = f"SELECT {', '.join(RECORD_COLUMNS)} FROM access_log {where} ORDER BY chain_id, seq"
    async for row in conn.cursor(query, *args, prefetch=fetch):
        if row["chain_id"] != chain:
            for checkpoint in reversed(pending):
                yield None, checkpoint
            chain = row["chain_id"]
            since = after[1] if after is not None and after[0] == chain else 0
            pending = [_checkpoint(r) for r in await conn.fetch(
                f"SELECT {_CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE chain_id = $1 AND seq >= $2"
                " ORDER BY seq DESC", chain, since)]
        while pending and pending[-1].seq < row["seq"]:
            yield None, pending.pop()
        yield (await _with_kept_export_keys(conn, row) if vouched_keys(row) is not None else row), None
    for checkpoint in reversed(pending):
        yield None, checkpoint
    orphans = (f"SELECT {_CHECKPOINT_COLUMNS} FROM audit_checkpoints c WHERE NOT EXISTS"
               " (SELECT 1 FROM access_log a WHERE a.chain_id = c.chain_id) AND NOT EXISTS"
               " (SELECT 1 FROM access_archived_chains z WHERE z.chain_id = c.chain_id AND z.last_seq >="
               " (SELECT max(seq) FROM audit_checkpoints k WHERE k.chain_id = c.chain_id))"
               " ORDER BY chain_id, seq")
    # They come after every row, so only the last page of a verification meets them, all of them.
    async for row in conn.cursor(orphans, prefetch=fetch):
        yield None, _checkpoint(row)


@dataclass(frozen=True, slots=True)
class _ChainsSeen:
    """What a listing's page reads of the chains it follows (_chains_seen): when the listing began, where the
    previous page saw each chain (``followed``), the live writers' chains, and each followed chain's head now."""

    began: dt.datetime
    followed: dict[str, int]
    live: frozenset[str]
    heads: dict[str, int]

    @property
    def chains(self) -> list[str]:
        return sorted(self.followed)

    def pending(self) -> list[tuple[str, int]]:
        """(chain id, last sequence seen) of each followed chain, in the order its late records are listed."""
        return [(chain, self.followed[chain]) for chain in self.chains]

    def frontier(self, cut: asyncpg.Record | None) -> Frontier:
        """The next page follows each chain from where this one saw it: the chains read whole to their head, the
        one the page's room cut in (``cut``: the first late record not shown) at its last record shown, those after
        it as they were."""
        frontier: dict[str, int] = {}
        for chain_id in self.chains:
            head = self.heads.get(chain_id) or 0
            if cut is None or chain_id < cut["chain_id"]:
                seen = max(head, self.followed[chain_id])
            elif chain_id == cut["chain_id"]:
                seen = cut["seq"] - 1
            else:
                seen = self.followed[chain_id]
            if chain_id in self.live or seen < max(head, self.followed[chain_id]):  # a stopped writer's is done
                frontier[chain_id] = seen
        return Frontier(self.began, frontier)


async def _chains_seen(conn: asyncpg.Connection, since: Frontier | None) -> _ChainsSeen:
    """The chains a page follows, read in its snapshot: those the previous page followed and the live writers'
    (a writer started since: every record of its chain is new), with their heads."""
    began = since.began if since is not None else await conn.fetchval("SELECT statement_timestamp()")
    followed = dict(since.heads) if since is not None else {}
    live = [row["chain_id"] for row in await conn.fetch(
        "SELECT chain_id FROM audit_writers WHERE chain_id IS NOT NULL ORDER BY chain_id")]
    for chain_id in live:
        followed.setdefault(chain_id, 0)
    heads = {row["chain_id"]: row["head"] for row in await conn.fetch(
        "SELECT c.chain_id, (SELECT max(seq) FROM access_log a WHERE a.chain_id = c.chain_id) AS head"
        " FROM unnest($1::text[]) AS c(chain_id)", sorted(followed))}
    return _ChainsSeen(began, followed, frozenset(live), heads)


async def _access_rows(db: asyncpg.Connection | asyncpg.Pool, f: AccessFilter, after: tuple[dt.datetime, str] | None,
                       limit: int) -> list[asyncpg.Record]:
    """The listing's records after the keyset position ``after``, newest first."""
    args: list[object] = []
    conditions = _access_conditions(f, args)
    if after is not None:
        args.extend(after)
        conditions.append(f"(time, id) < (${len(args) - 1}, ${len(args)})")
    args.append(limit)
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    return await db.fetch(
        f"SELECT {', '.join(RECORD_COLUMNS)}, end_time, sent FROM access_outcomes {where}"
        f" ORDER BY time DESC, id DESC LIMIT ${len(args)}",
        *args)


async def _late_rows(conn: asyncpg.Connection, f: AccessFilter, after: tuple[dt.datetime, str], began: dt.datetime,
                     chains: list[tuple[str, int]], limit: int) -> list[asyncpg.Record]:
    """The listing's records above ``after`` whose calls began before the listing did (``began``) and that are past
    where the previous page saw their chain (``chains``: (chain id, last sequence seen), in the order given), in
    that order: one index range of each chain past what was seen."""
    args: list[object] = [[c for c, _ in chains], [s for _, s in chains], *after, began]
    conditions = _access_conditions(f, args)
    args.append(limit)
    columns = ", ".join(f"l.{c}" for c in (*RECORD_COLUMNS, "end_time", "sent"))
    where = "".join(f" AND {condition}" for condition in conditions)
    return await conn.fetch(
        f"SELECT {columns} FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS w(chain, seen, n)"
        f" CROSS JOIN LATERAL (SELECT {', '.join(RECORD_COLUMNS)}, end_time, sent FROM access_outcomes"
        f" WHERE chain_id = w.chain AND seq > w.seen AND (time, id) > ($3, $4) AND time < $5{where}"
        f" ORDER BY seq LIMIT ${len(args)}) l ORDER BY w.n, l.seq LIMIT ${len(args)}", *args)


#: The persons' view's window on a listing's records: its time range and its keyset position ($2 to $5).
_SUBJECT_WINDOW = (" AND ($2::timestamptz IS NULL OR {t} >= $2) AND ($3::timestamptz IS NULL OR {t} < $3)"
                   " AND ($4::timestamptz IS NULL OR ({t}, {i}) < ($4, $5))")
#: An access names the subject by its key, or among a batch's keys ($1).
_SUBJECT_KEYS = "(key = ANY($1::text[]) OR (cardinality(keys) > 0 AND keys && $1::text[]))"


async def _subject_rows(db: asyncpg.Connection | asyncpg.Pool, keys: list[str], start: dt.datetime | None,
                        end: dt.datetime | None, after: tuple[dt.datetime, str] | None,
                        limit: int) -> list[asyncpg.Record]:
    """Accesses whose key (or one of whose batch keys, or one of the keys an export sent) is one of ``keys``,
    newest first, lookups excluded. Each branch is one index range (the key, the batch keys' GIN, the export
    keys'), merged and cut to ``limit``."""
    last_time, last_id = after if after is not None else (None, "")
    return await db.fetch(
        f"SELECT {_SUBJECT_COLUMNS} FROM access_outcomes WHERE {_SUBJECT_KEYS}"
        " AND operation <> 'SubjectLookup'" + _SUBJECT_WINDOW.format(t="time", i="id") +
        " UNION ALL SELECT " + ", ".join(f"a.{c}" for c in _SUBJECT_COLUMNS.split(", ")) +
        " FROM access_export_keys e JOIN access_outcomes a ON a.id = e.access_id AND a.time = e.time"
        " WHERE e.key = ANY($1::text[])" + _SUBJECT_WINDOW.format(t="e.time", i="e.access_id") +
        " ORDER BY time DESC, id DESC LIMIT $6", keys, start, end, last_time, last_id, limit)


async def _visible_subject_rows(conn: asyncpg.Connection, keys: list[str], start: dt.datetime | None,
                                end: dt.datetime | None, after: tuple[dt.datetime, str] | None, limit: int,
                                hidden: Callable[[asyncpg.Record], bool]) -> list[asyncpg.Record]:
    """Up to ``limit`` of _subject_rows' that ``hidden`` keeps, read in batches so that a page stays exact however
    many are withheld."""
    rows: list[asyncpg.Record] = []
    cursor = after
    while True:
        batch = await _subject_rows(conn, keys, start, end, cursor, limit)
        rows += [row for row in batch if not hidden(row)][:limit - len(rows)]
        if len(rows) == limit or len(batch) < limit:
            return rows
        cursor = (batch[-1]["time"], batch[-1]["id"])


async def _late_subject_rows(conn: asyncpg.Connection, keys: list[str], start: dt.datetime | None,
                             end: dt.datetime | None, after: tuple[dt.datetime, str], began: dt.datetime,
                             chains: list[tuple[str, int]], limit: int) -> list[asyncpg.Record]:
    """The accesses to ``keys`` above ``after`` whose calls began before the listing (``began``) and that are past
    where the previous page saw their chain (``chains``), in the order of ``chains`` then of their sequence, as
    _late_rows reads ListAccesses'. Read by the person's keys (their index ranges between the page and the
    listing's start), not along the chains: a person's accesses are few, a chain's records since a page read an
    hour ago millions."""
    columns = ", ".join(f"a.{c}" for c in (*_SUBJECT_COLUMNS.split(", "), "chain_id", "seq"))
    return await conn.fetch(
        f"SELECT {columns} FROM access_outcomes a"
        " JOIN unnest($7::text[], $8::bigint[]) WITH ORDINALITY AS w(chain, seen, n)"
        " ON a.chain_id = w.chain AND a.seq > w.seen"
        f" WHERE {_SUBJECT_KEYS} AND a.operation <> 'SubjectLookup'"
        " AND ($2::timestamptz IS NULL OR a.time >= $2) AND ($3::timestamptz IS NULL OR a.time < $3)"
        " AND (a.time, a.id) > ($4, $5) AND a.time < $6 ORDER BY w.n, a.seq LIMIT $9",
        keys, start, end, *after, began, [c for c, _ in chains], [s for _, s in chains], limit)

async def _with_kept_export_keys(conn: asyncpg.Connection, row: asyncpg.Record) -> Mapping[str, object]:
    """An export's closing record with the (count, digest) of the persons' keys kept for the export
    (``kept_export_keys``), which its chain's check compares with what the record vouches for; None when the
    export's opening record is no longer in the log (its month archived: its keys went with it). Read in the
    snapshot of ``conn``'s transaction, as the rows are."""
    if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM access_log WHERE id = $1 AND time <= $2"
                               " AND operation = 'Export')", row["key"], row["time"]):  # no later month read
        return {**dict(row), "kept_export_keys": None}
    return {**dict(row), "kept_export_keys": await _kept_export_keys(conn, row["key"])}


async def _kept_export_keys(conn: asyncpg.Connection, access_id: str) -> tuple[int, str]:
    """The (count, digest) of the persons' keys kept for the export ``access_id`` (SentKeys), read in ``conn``'s
    transaction (a cursor: an export of a dataset keeps millions)."""
    kept = SentKeys()
    async for key_row in conn.cursor("SELECT key FROM access_export_keys WHERE access_id = $1", access_id,
                                     prefetch=5000):
        kept.add((key_row["key"],))
    return kept.count, kept.digest


async def _archive_anchors(db: asyncpg.Connection | asyncpg.Pool) -> set[tuple[str, int]]:
    return {(row["chain_id"], row["seq"]) for row in await db.fetch("SELECT chain_id, seq FROM access_archive_anchors")}


async def _rowless_chains(db: asyncpg.Connection | asyncpg.Pool, chain_ids: set[str]) -> dict[str, int]:
    rows = await db.fetch(
        "SELECT w.chain_id, coalesce(z.last_seq, 0) AS archived FROM unnest($1::text[]) AS w(chain_id)"
        " LEFT JOIN access_archived_chains z ON z.chain_id = w.chain_id"
        " WHERE NOT EXISTS (SELECT 1 FROM access_log a WHERE a.chain_id = w.chain_id)", sorted(chain_ids))
    return {row["chain_id"]: row["archived"] for row in rows}
