"""All SQL of the authorization service (schema ``authorization``).

Grant changes and the policy version move together: a writer takes an
exclusive transaction-level advisory lock, bumps the ``policy_version``
sequence and writes the grant in one transaction; Check reads the version and
the grants under the shared lock. So a decision labelled with version V has seen
every grant change numbered V or less, and query can drop any decision older
than the version an invalidation event announces, even one in flight while the
change committed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import asyncpg
import grpc

from govshare.authorization.v1 import sharing_pb2
from services.authorization import retirement
from services.authorization.admin_log import CHAIN_ID, HASHED_FIELDS, AdminLogFilter, LogEntry
from services.authorization.applications import SUBMITTED, UNDECIDED, Application, ApplicationEvent, StoredDue
from services.authorization.directory import Credentials, Department, System
from services.authorization.grants import (
    ACTIVE,
    ENDED,
    EXPIRED,
    REVOKED_EVENT,
    SYSTEMS_NOTE_PATTERNS,
    UPDATABLE,
    UPDATED_EVENT,
    Grant,
)
from services.authorization.validation import NAME_MAX
from services.runtime import db, hashchain, pagination
from services.runtime.actors import Actor
from services.runtime.admin_events import AdminEvent
from services.runtime.checkpoints import Checkpoint, Entry, Head
from services.runtime.errors import ServiceError, already_exists, failed_precondition
from services.runtime.settings import Settings
from services.runtime.system_states import DISABLED, ROTATED, SystemState
from services.runtime.workdays import provisional

SCHEMA = "authorization"
# One lock id for "the policy state": grant writers take it exclusively, Check shares it.
POLICY_LOCK = int.from_bytes(hashlib.sha256(b"govshare-authorization-policy").digest()[:8], "big", signed=True)

_APPLICATION_COLUMNS = (
    "seq, id, applicant_department_code, provider_department_code, resource_code, system_ids, items, purposes,"
    " purpose_text, basis, requested_expire_time, methods, quota, state, reply_due_time, create_time,"
    " reply_reason, grant_id, coordination_reason"
)
_GRANT_COLUMNS = (
    "seq, id, application_id, department_code, provider_department_code, resource_code, system_ids, items,"
    " unmasked_items, purposes, methods, expire_time, quota, state, coordinated, policy_version, create_time,"
    " revoke_reason, granted_by_id, granted_by_name, granted_by_department_code, changed_by_id, changed_by_name,"
    " changed_by_department_code"
)
# Columns an UpdateGrant may set (names never come from the request itself).
_UPDATABLE_GRANT_COLUMNS = frozenset(UPDATABLE)
#: How the states a grant is read in are stored: an expired one, and one its entry's retirement ended (expired
#: or not), are stored ACTIVE.
_STORED_GRANT_STATE = {EXPIRED: ACTIVE, ENDED: ACTIVE}
# One lock id for the administrative log's head: appends are serialised so the chain never forks.
ADMIN_LOG_LOCK = int.from_bytes(hashlib.sha256(b"govshare-authorization-admin-log").digest()[:8], "big", signed=True)
SERVICE = "authorization"
LAST_AUTHORITY_SYSTEM = ("the authority department's last enabled system cannot be disabled: it would lock the "
                         "authority out of the platform; register (or enable) another of its systems first")


def reset_second() -> int:
    """The "not before" of a reset now: the next whole second, so that every token issued up to now
    (``iat`` is whole seconds) is earlier, and tokens issued after it get ``iat`` = this value.

    The statements that store it take ``GREATEST(reset_second(), not_before + 1)``: a token issued just after a
    reset carries ``iat`` = that reset's not-before, one second ahead of the clock, and a second reset in the same
    second (a leaked system's own rotation, then the on-call person's disable) must still refuse it."""
    return int(time.time()) + 1


_CREDENTIALS = ("SELECT s.*, d.authority, d.retire_time AS department_retire_time,"
                " d.merged_into AS department_merged_into,"
                " CASE WHEN s.previous_secret_until > now() THEN s.previous_secret_hash END AS previous_secret"
                " FROM systems s JOIN departments d ON d.code = s.department_code WHERE s.id = $1")


def _credentials(row: asyncpg.Record) -> Credentials:
    retired = row["department_retire_time"]
    return Credentials(_system(row), row["secret_hash"], row["authority"], row["not_before"],
                       retirement.retired_sentence(row["department_code"], retired, row["department_merged_into"] or "")
                       if retired is not None else "", row["previous_secret"] or "", row["secret_used"])


def _log_entry(row: asyncpg.Record) -> LogEntry:
    return LogEntry(**{name: row[name] for name in (*HASHED_FIELDS, "prev_hash", "hash")})


def _admin_checkpoint(row: asyncpg.Record) -> Checkpoint:
    return Checkpoint(chain_id=CHAIN_ID, seq=row["seq"], hash=row["hash"], time=row["time"], final=False,
                      key_id=row["key_id"], signature=bytes(row["signature"]))


def _admin_row(entry: LogEntry) -> dict[str, object]:
    """A log row as the shared chain verdict reads it (one chain; the sequence is the row's id)."""
    return {"chain_id": CHAIN_ID, "id": str(entry.seq), "seq": entry.seq, "hash": entry.hash, "entry": entry}


def _system_state(row: asyncpg.Record) -> tuple[str, SystemState]:
    return row["id"], SystemState(disabled=row["disabled"], not_before=row["not_before"],
                                  reason=row["not_before_reason"], version=row["state_version"])


@dataclass(frozen=True)
class ApplicationFilter:
    """Which applications a list shows; None fields do not filter."""

    applicant: str | None = None
    provider: str | None = None
    either: str | None = None
    state: int | None = None
    overdue_at: dt.datetime | None = None


@dataclass(frozen=True)
class GrantFilter:
    visible_to: str | None = None
    resource_code: str | None = None
    #: ACTIVE: stored active and not expired at ``now``; EXPIRED: stored active and expired at ``now``.
    state: int | None = None
    now: dt.datetime | None = None
    #: One side: the department holding the grant, or providing it.
    holder: str | None = None
    provider: str | None = None
    #: Only those whose expire_time is before this.
    expire_before: dt.datetime | None = None
    #: Only coordinated grants their provider adjusted (a GRANT_UPDATED step of the provider's) at or after this.
    provider_adjusted_after: dt.datetime | None = None


def _department(row: asyncpg.Record) -> Department:
    return Department(code=row["code"], name=row["name"], level=row["level"], region_code=row["region_code"],
                      authority=row["authority"], create_time=row["create_time"], retire_time=row["retire_time"],
                      merged_into=row["merged_into"] or "")


def _system(row: asyncpg.Record) -> System:
    return System(id=row["id"], department_code=row["department_code"], name=row["name"], disabled=row["disabled"],
                  create_time=row["create_time"])


def _event(row: asyncpg.Record) -> ApplicationEvent:
    return ApplicationEvent(action=row["action"], actor_department_code=row["actor_department_code"],
                            actor_system_id=row["actor_system_id"], note=row["note"], time=row["time"],
                            actor_display_name=row["actor_display_name"])


def _application(row: asyncpg.Record, history: Sequence[ApplicationEvent] = ()) -> Application:
    return Application(
        id=row["id"], applicant_department_code=row["applicant_department_code"],
        provider_department_code=row["provider_department_code"], resource_code=row["resource_code"],
        system_ids=tuple(row["system_ids"]), items=tuple(row["items"]), purposes=tuple(row["purposes"]),
        purpose_text=row["purpose_text"], basis=row["basis"], requested_expire_time=row["requested_expire_time"],
        methods=tuple(row["methods"]), quota=row["quota"], state=row["state"], reply_due_time=row["reply_due_time"],
        create_time=row["create_time"], reply_reason=row["reply_reason"], grant_id=row["grant_id"],
        coordination_reason=row["coordination_reason"], history=tuple(history))


def _grant(row: asyncpg.Record) -> Grant:
    return Grant(
        id=row["id"], application_id=row["application_id"], department_code=row["department_code"],
        provider_department_code=row["provider_department_code"], resource_code=row["resource_code"],
        system_ids=tuple(row["system_ids"]), items=tuple(row["items"]), unmasked_items=tuple(row["unmasked_items"]),
        purposes=tuple(row["purposes"]), methods=tuple(row["methods"]), expire_time=row["expire_time"],
        quota=row["quota"], state=row["state"], coordinated=row["coordinated"],
        policy_version=row["policy_version"], create_time=row["create_time"], revoke_reason=row["revoke_reason"],
        confidential=row.get("confidential", False), release_time=row.get("release_time"),
        granted_by=_actor(row, "granted_by"), changed_by=_actor(row, "changed_by"))


def _actor(row: asyncpg.Record, prefix: str) -> Actor:
    """The decision's person from its three columns (absent from a query that does not read them)."""
    return Actor(row.get(f"{prefix}_id", ""), row.get(f"{prefix}_name", ""), row.get(f"{prefix}_department_code", ""))


#: ApplicationFilter's conditions, $1-$5: applicant, provider, either side, state, overdue at (both orders of
#: ListApplications page over the same filter).
_APPLICATION_FILTER = (
    "WHERE ($1::text IS NULL OR applicant_department_code = $1)"
    " AND ($2::text IS NULL OR provider_department_code = $2)"
    " AND ($3::text IS NULL OR applicant_department_code = $3 OR provider_department_code = $3)"
    " AND ($4::smallint IS NULL OR state = $4)"
    " AND ($5::timestamptz IS NULL OR (state = 1 AND reply_due_time < $5))")


class Store:
    """The service's tables; open() attaches the pool when the component starts."""

    def __init__(self) -> None:
        self._pool: asyncpg.Pool | None = None
        self._pools: db.WorkPools | None = None
        self._listing_budget_ms = 0

    async def open(self, url: str, min_size: int = 2, max_size: int = 10, settings: Settings | None = None) -> None:
        """One pool for everything, or with ``settings`` (the service) a pool per kind of work (db.WorkPools):
        the listings run on their own connections, with their statement budget and custom plans."""
        if settings is None:
            self._pool = await db.create_pool(url, SCHEMA, min_size=min_size, max_size=max_size)
        else:
            self._pools = await db.create_work_pools(settings, SCHEMA, online_min_size=min_size,
                                                     online_max_size=max_size)
            self._pool = self._pools.online
            self._listing_budget_ms = settings.db_listing_timeout_ms

    async def close(self) -> None:
        if self._pools is not None:
            await self._pools.close()
        elif self._pool is not None:
            await self._pool.close()
        self._pool = self._pools = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise ServiceError(grpc.StatusCode.UNAVAILABLE, "NOT_READY", "authorization is starting; retry")
        return self._pool

    @property
    def listing(self) -> asyncpg.Pool:
        """The pool the List* reads run on (the online pool when the store was opened without settings)."""
        return self._pools.listing if self._pools is not None else self.pool

    async def fetch_current(self, sql: str, *args: object) -> list[asyncpg.Record]:
        """A listing that must see the latest writes (what token verifiers and the persons' view withhold on):
        on the primary, never a replica that may lag, yet with the listing budget (SET LOCAL in its own
        transaction), so a slow database still answers FAILED_PRECONDITION rather than waiting."""
        async with self.pool.acquire() as conn, conn.transaction(readonly=True):
            # As on the listing pool: a plan for each run's own position (a generic plan of "$1 IS NULL OR
            # id > $1" walks from the first row).
            await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
            if self._listing_budget_ms:
                await conn.execute(f"SET LOCAL statement_timeout = {int(self._listing_budget_ms)}")
            return await conn.fetch(sql, *args)

    # Departments

    async def insert_department(self, department: Department, admin: AdminEvent) -> Department:
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                row = await conn.fetchrow(
                    "INSERT INTO departments (code, name, level, region_code, authority)"
                    " VALUES ($1, $2, $3, $4, $5) RETURNING *", department.code, department.name, department.level,
                    department.region_code, department.authority)
                await self.append_admin(conn, SERVICE, [admin])
        except asyncpg.UniqueViolationError:
            raise already_exists(f"department {department.code}") from None
        return _department(row)

    async def get_department(self, code: str) -> Department | None:
        row = await self.pool.fetchrow("SELECT * FROM departments WHERE code = $1", code)
        return _department(row) if row else None

    async def list_departments(self, after: str | None, limit: int) -> list[Department]:
        rows = await self.listing.fetch(
            "SELECT * FROM departments WHERE $1::text IS NULL OR code > $1 ORDER BY code LIMIT $2", after, limit)
        return [_department(r) for r in rows]

    async def rename_department(self, code: str, name: str, admin: AdminEvent,
                                current_name: str = "") -> tuple[Department, str] | None:
        """Gives department ``code`` the name ``name`` and logs ``admin`` with the name it had (details ``from``), in
        one transaction; the department and its name before, None for an unknown code. A department already of
        that name is left alone and nothing is logged (a rename sent twice is one rename); a name another department
        has is ALREADY_EXISTS naming it: two departments of one name could not be told apart by anyone reading
        names (the console's lists, the reports). With ``current_name`` (the name the caller read), a department
        called otherwise now is ABORTED NAME_CHANGED: two administrators renaming one department from pages opened
        together each saw "renamed", and the later name replaced the earlier one unseen."""
        async with self.pool.acquire() as conn, conn.transaction():
            before = await conn.fetchval("SELECT name FROM departments WHERE code = $1 FOR UPDATE", code)
            if before is None:
                return None
            if current_name and before not in (current_name, name):
                # The name read is the caller's to send: echoed whole, one of 5,000 characters made the refusal's
                # status trailers larger than a gRPC client takes, and the console said the platform was down.
                read = current_name if len(current_name) <= NAME_MAX else current_name[:NAME_MAX] + "…"
                raise ServiceError(grpc.StatusCode.ABORTED, "NAME_CHANGED",
                                   f"department {code} is named {before!r} now, not {read!r}: it was renamed "
                                   "since you read it; read it again and rename it if you still mean to",
                                   metadata={"code": code, "name": before})
            if before != name:
                # Two renames to one name at once: the second waits, then sees the first's.
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext('department-names'))")
                other = await conn.fetchval("SELECT code FROM departments WHERE name = $1 AND code <> $2 LIMIT 1",
                                            name, code)
                if other is not None:
                    raise ServiceError(grpc.StatusCode.ALREADY_EXISTS, "DEPARTMENT_NAME_TAKEN",
                                       f"department {other} is already named {name!r}: a department is not "
                                       "renamed to another's name", metadata={"department_code": other})
                await conn.execute("UPDATE departments SET name = $2 WHERE code = $1", code, name)
                await self.append_admin(conn, SERVICE, [
                    dataclasses.replace(admin, details={**admin.details, "from": before})])
            row = await conn.fetchrow("SELECT * FROM departments WHERE code = $1", code)
        return _department(row), before

    async def live_grant_resources(self, code: str) -> list[str]:
        """The resources of the grants department ``code`` holds or provides that are active and unexpired."""
        rows = await self.pool.fetch(
            "SELECT DISTINCT resource_code FROM grants WHERE (department_code = $1 OR provider_department_code = $1)"
            " AND state = $2 AND expire_time > now() ORDER BY resource_code", code, sharing_pb2.GRANT_STATE_ACTIVE)
        return [row["resource_code"] for row in rows]

    async def retire_department(self, code: str, merged_into: str, catalogued: dict[str, int],
                                admin: AdminEvent, ended: Sequence[str] = ()) -> Department | None:
        """Retires department ``code`` (merged into ``merged_into``, "" for none) and logs ``admin``, in one
        transaction; None for an unknown code. Refused while anything of it is live: ``catalogued`` (its entries
        published or in review, counted by the catalog), and the grants (but those of the ``ended`` resources,
        retired in the catalog), applications, systems and persons counted here under the department's row lock
        (which require_in_service shares, so nothing new slips in); and for the authority, a department retired
        already, and a ``merged_into`` unknown or retired."""
        async with self.pool.acquire() as conn, conn.transaction():
            # Both rows locked at once, in code order (PostgreSQL locks the rows of a sorted SELECT … FOR UPDATE
            # in that order), as every other transaction that locks two departments does: A merged into B and B
            # into A at the same moment then wait for each other instead of deadlocking.
            rows = {r["code"]: r for r in await conn.fetch(
                "SELECT * FROM departments WHERE code = ANY($1::text[]) ORDER BY code FOR UPDATE",
                sorted({code, merged_into} - {""}))}
            row = rows.get(code)
            if row is None:
                return None
            retirement.require_retirable(_department(row))
            if merged_into:
                into = rows.get(merged_into)
                retirement.require_successor(code, _department(into) if into else None, merged_into)
            counts = await conn.fetchrow(
                "SELECT (SELECT count(*) FROM grants WHERE (department_code = $1 OR provider_department_code = $1)"
                "         AND state = $2 AND expire_time > now() AND resource_code <> ALL($4::text[])) AS live_grants,"
                " (SELECT count(*) FROM applications WHERE (applicant_department_code = $1"
                "         OR provider_department_code = $1) AND state = ANY($3::smallint[])) AS open_applications,"
                " (SELECT count(*) FROM systems WHERE department_code = $1 AND NOT disabled) AS enabled_systems,"
                " (SELECT count(*) FROM persons WHERE department_code = $1 AND NOT disabled) AS active_persons",
                code, sharing_pb2.GRANT_STATE_ACTIVE, list(retirement.OPEN_APPLICATION_STATES), list(ended))
            retirement.require_nothing_live(code, {**catalogued, **dict(counts)})
            row = await conn.fetchrow(
                "UPDATE departments SET retire_time = now(), merged_into = NULLIF($2, '') WHERE code = $1"
                " RETURNING *", code, merged_into)
            await self.append_admin(conn, SERVICE, [admin])
        return _department(row)

    @staticmethod
    async def require_in_service(conn: asyncpg.Connection, code: str) -> None:
        """Refuses (DEPARTMENT_RETIRED) a change that would give department ``code`` something live once it is
        retired, under a share lock of its row: a retirement, which counts what is live under its update lock,
        either committed before and is seen here, or waits for this change and counts it."""
        row = await conn.fetchrow("SELECT * FROM departments WHERE code = $1 FOR SHARE", code)
        if row is not None:
            retirement.require_in_service(_department(row))

    async def ensure_authority(self, department: Department) -> None:
        """Creates the authority department, or flags an existing one as the authority (bootstrap)."""
        await self.pool.execute(
            "INSERT INTO departments (code, name, level, region_code, authority) VALUES ($1, $2, $3, $4, true)"
            " ON CONFLICT (code) DO UPDATE SET authority = true", department.code, department.name,
            department.level, department.region_code)

    # Systems

    async def insert_system(self, system: System, secret_hash: str, admin: AdminEvent) -> System:
        async with self.pool.acquire() as conn, conn.transaction():
            await self.require_in_service(conn, system.department_code)
            row = await conn.fetchrow(
                "INSERT INTO systems (id, department_code, name, secret_hash) VALUES ($1, $2, $3, $4) RETURNING *",
                system.id, system.department_code, system.name, secret_hash)
            await self.append_admin(conn, SERVICE, [admin])
        return _system(row)

    async def person_token_state(self, person_id: str) -> SystemState | None:
        """Which of the person's tokens their row still accepts, as the verifiers' states hold it; None for no
        such person."""
        row = await self.pool.fetchrow("SELECT id, disabled, not_before, not_before_reason, state_version"
                                       " FROM persons WHERE id = $1", person_id)
        return _system_state(row)[1] if row is not None else None

    async def get_system(self, system_id: str) -> System | None:
        row = await self.pool.fetchrow("SELECT * FROM systems WHERE id = $1", system_id)
        return _system(row) if row else None

    async def upsert_named_system(self, system: System, secret_hash: str, admin: AdminEvent) -> str:
        """The id of the department's system named ``system.name``, created if missing, else given the new
        secret and enabled again; concurrent callers agree on one system. ``admin`` is logged with the id as
        its target."""
        async with self.pool.acquire() as conn, conn.transaction():
            system_id = await self._upsert_named_system(conn, system, secret_hash)
            await self.append_admin(conn, SERVICE, [dataclasses.replace(admin, target=system_id)])
            return system_id

    @staticmethod
    async def _upsert_named_system(conn: asyncpg.Connection, system: System, secret_hash: str) -> str:
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"system:{system.department_code}")
        # A new secret is a rotation: tokens issued with the old one are refused from now on.
        existing = await conn.fetchval(
            "UPDATE systems SET secret_hash = $3, disabled = false, update_time = now(),"
            " previous_secret_hash = NULL, previous_secret_until = NULL, secret_used = false,"
            " not_before = GREATEST($4, not_before + 1), not_before_reason = $5,"
            " state_version = nextval('system_state_version')"
            " WHERE id = (SELECT id FROM systems WHERE department_code = $1 AND name = $2 ORDER BY seq LIMIT 1)"
            " RETURNING id", system.department_code, system.name, secret_hash, reset_second(), ROTATED)
        if existing is not None:
            return existing
        await conn.execute("INSERT INTO systems (id, department_code, name, secret_hash) VALUES ($1, $2, $3, $4)",
                           system.id, system.department_code, system.name, secret_hash)
        return system.id

    async def get_credentials(self, system_id: str) -> Credentials | None:
        row = await self.pool.fetchrow(_CREDENTIALS, system_id)
        return _credentials(row) if row else None

    @contextlib.asynccontextmanager
    async def held_credentials(self, system_id: str) -> AsyncIterator[Credentials | None]:
        """The system's credentials as they are now, under a share lock of its row held until the block ends.

        A token made inside the block is consistent with them: a rotation or a disable (which lock the row
        before taking their "not before") either committed before the read, and the block sees the new secret
        or the disable, or waits for the block's end and takes a "not before" later than the token's ``iat``.
        Checked once the slow secret verification is over: the row is not held during it."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(f"{_CREDENTIALS} FOR SHARE OF s", system_id)
            yield _credentials(row) if row else None

    async def secret_used(self, system_id: str, secret_hash: str) -> None:
        """Records that the system's current secret (``secret_hash``, if it still is) got a token: the secret kept
        by its own rotation is no longer accepted. Written only when there is something to change, and never to a
        secret rotated meanwhile."""
        await self.pool.execute(
            "UPDATE systems SET secret_used = true, previous_secret_hash = NULL, previous_secret_until = NULL"
            " WHERE id = $1 AND secret_hash = $2 AND (NOT secret_used OR previous_secret_hash IS NOT NULL)",
            system_id, secret_hash)

    async def list_systems(self, department_code: str | None, after: int | None,
                           limit: int) -> list[tuple[int, System]]:
        rows = await self.listing.fetch(
            "SELECT * FROM systems WHERE ($1::text IS NULL OR department_code = $1)"
            " AND ($2::bigint IS NULL OR seq > $2) ORDER BY seq LIMIT $3", department_code, after, limit)
        return [(r["seq"], _system(r)) for r in rows]

    async def systems_of(self, department_code: str, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` are systems of the department."""
        rows = await self.pool.fetch("SELECT id FROM systems WHERE department_code = $1 AND id = ANY($2::text[])",
                                     department_code, list(ids))
        return {r["id"] for r in rows}

    async def set_secret(self, system_id: str, secret_hash: str, admin: AdminEvent,
                         check: Callable[[SystemState], None] | None = None,
                         keep_seconds: int = 0) -> tuple[str, SystemState] | None:
        """Replaces the secret; tokens issued before now are refused from now on. None for an unknown id.
        ``check`` is given the system's token state under the row's lock, before anything changes, and may refuse
        by raising (a system rotating its own secret with a token that state no longer accepts). With
        ``keep_seconds`` (a system's own rotation) the secret the system holds stays accepted that long, or until
        the new one's first token (``secret_used``): the replaced secret if it had a token, else the one kept
        before (the replaced one's answer was lost too: nobody holds it); without, none is kept."""
        async with self.pool.acquire() as conn, conn.transaction():
            # The row first, then the time: a token issued meanwhile (held_credentials) gets an earlier ``iat``.
            row = await conn.fetchrow("SELECT * FROM systems WHERE id = $1 FOR UPDATE", system_id)
            if row is None:
                return None
            if check is not None:
                check(_system_state(row)[1])
            row = await conn.fetchrow(
                "UPDATE systems SET secret_hash = $2, update_time = now(),"
                " previous_secret_hash = CASE WHEN $5 = 0 THEN NULL WHEN secret_used THEN secret_hash"
                "  ELSE previous_secret_hash END,"
                " previous_secret_until = CASE WHEN $5 = 0 THEN NULL"
                "  WHEN secret_used THEN now() + make_interval(secs => $5) ELSE previous_secret_until END,"
                " secret_used = false,"
                " not_before = GREATEST($3, not_before + 1), not_before_reason = $4,"
                " state_version = nextval('system_state_version') WHERE id = $1 RETURNING *",
                system_id, secret_hash, reset_second(), ROTATED, keep_seconds)
            await self.append_admin(conn, SERVICE, [admin])
        return _system_state(row)

    async def disable_system(self, system_id: str,
                             admin: AdminEvent) -> tuple[System, tuple[str, SystemState]] | None:
        """Disables the system and refuses its tokens issued until now; None for an unknown id.

        FAILED_PRECONDITION for the authority department's last enabled system (checked under the
        department's lock, so two concurrent disables cannot each leave the other as the last one)."""
        async with self.pool.acquire() as conn, conn.transaction():
            found = await conn.fetchrow(
                "SELECT s.department_code, s.disabled, d.authority FROM systems s"
                " JOIN departments d ON d.code = s.department_code WHERE s.id = $1", system_id)
            if found is None:
                return None
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"system:{found['department_code']}")
            # The row before the time, as set_secret does.
            disabled = await conn.fetchval("SELECT disabled FROM systems WHERE id = $1 FOR UPDATE", system_id)
            if found["authority"] and not disabled:
                others = await conn.fetchval(
                    "SELECT count(*) FROM systems WHERE department_code = $1 AND NOT disabled AND id <> $2",
                    found["department_code"], system_id)
                if others == 0:
                    raise failed_precondition("LAST_AUTHORITY_SYSTEM", LAST_AUTHORITY_SYSTEM)
            row = await conn.fetchrow(
                "UPDATE systems SET disabled = true, update_time = now(),"
                " not_before = GREATEST($2, not_before + 1), not_before_reason = $3,"
                " state_version = nextval('system_state_version') WHERE id = $1 RETURNING *",
                system_id, reset_second(), DISABLED)
            await self.append_admin(conn, SERVICE, [admin])
        return _system(row), _system_state(row)

    async def enable_system(self, system_id: str, admin: AdminEvent) -> tuple[System, tuple[str, SystemState]] | None:
        """Enables the system again; its "not before" stays, so tokens from before the disable stay refused."""
        async with self.pool.acquire() as conn, conn.transaction():
            department_code = await conn.fetchval("SELECT department_code FROM systems WHERE id = $1", system_id)
            if department_code is None:
                return None
            await self.require_in_service(conn, department_code)
            row = await conn.fetchrow(
                "UPDATE systems SET disabled = false, update_time = now(),"
                " state_version = nextval('system_state_version') WHERE id = $1 RETURNING *", system_id)
            if row is None:
                return None
            await self.append_admin(conn, SERVICE, [admin])
        return _system(row), _system_state(row)

    async def system_states(self, after: str | None, limit: int) -> list[tuple[str, SystemState]]:
        """Up to ``limit`` systems and persons (issue 12) whose tokens are restricted (disabled, or reset at
        least once), in id order after ``after``: one set of states, since persons' tokens are verified
        wherever systems' are. The ids never collide (``sys-``, ``psn-``), so one position applies to both
        tables, each walked from it on its partial index of restricted rows (authorization 002, 005)."""
        rows = await self.fetch_current(
            "(SELECT id, disabled, not_before, not_before_reason, state_version FROM systems"
            "  WHERE (disabled OR not_before > 0) AND ($1::text IS NULL OR id > $1) ORDER BY id LIMIT $2)"
            " UNION ALL (SELECT id, disabled, not_before, not_before_reason, state_version FROM persons"
            "  WHERE (disabled OR not_before > 0) AND ($1::text IS NULL OR id > $1) ORDER BY id LIMIT $2)"
            " ORDER BY id LIMIT $2", after, limit)
        return [_system_state(r) for r in rows]

    async def all_system_states(self) -> list[tuple[str, SystemState]]:
        """Every restricted system and person, a page at a time (the service's own verifier loads them all)."""
        states: list[tuple[str, SystemState]] = []
        while page := await self.system_states(states[-1][0] if states else None, pagination.MAX_PAGE_SIZE):
            states += page
            if len(page) < pagination.MAX_PAGE_SIZE:
                break
        return states

    # The administrative log

    async def record_admin(self, event: AdminEvent) -> None:
        """Appends one of the service's own events in a transaction of its own (actions without a write)."""
        async with self.pool.acquire() as conn, conn.transaction():
            await self.append_admin(conn, SERVICE, [event])

    async def append_events(self, service: str, events: Sequence[AdminEvent]) -> int:
        """Appends another service's events; those already in the log are skipped. How many were new."""
        async with self.pool.acquire() as conn, conn.transaction():
            return await self.append_admin(conn, service, events)

    @staticmethod
    async def append_admin(conn: asyncpg.Connection, service: str, events: Sequence[AdminEvent]) -> int:
        """Links ``events`` onto the chain, inside the caller's transaction (so an action and its entry commit
        together); events whose id is already logged are skipped. How many were appended."""
        await conn.execute("SELECT pg_advisory_xact_lock($1)", ADMIN_LOG_LOCK)
        known = {r["event_id"] for r in await conn.fetch(
            "SELECT event_id FROM admin_log WHERE event_id = ANY($1::text[])", [e.event_id for e in events])}
        head = await conn.fetchrow("SELECT seq, hash FROM admin_log ORDER BY seq DESC LIMIT 1")
        seq, prev = (head["seq"], head["hash"]) if head else (0, hashchain.GENESIS)
        appended = 0
        for event in events:
            if event.event_id in known:
                continue
            known.add(event.event_id)
            seq += 1
            values = (seq, event.event_id, event.time, service, event.actor_system_id, event.actor_department_code,
                      event.action, event.target, event.details_json, event.result)
            digest = hashchain.chain_hash(prev, values)
            await conn.execute(
                f"INSERT INTO admin_log ({', '.join(HASHED_FIELDS)}, prev_hash, hash)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)", *values, prev, digest)
            prev = digest
            appended += 1
        return appended

    async def list_admin_events(self, where: AdminLogFilter, after: tuple[dt.datetime, int] | None,
                                limit: int) -> list[LogEntry]:
        """Newest first by (time, seq), resuming below ``after``."""
        rows = await self.listing.fetch(
            "SELECT * FROM admin_log WHERE ($1::text IS NULL OR actor_department_code = $1)"
            " AND ($2::text IS NULL OR action = $2) AND ($3::timestamptz IS NULL OR time >= $3)"
            " AND ($4::timestamptz IS NULL OR time < $4)"
            " AND ($5::timestamptz IS NULL OR (time, seq) < ($5, $6::bigint))"
            " ORDER BY time DESC, seq DESC LIMIT $7",
            where.actor_department_code, where.action, where.start_time, where.end_time,
            after[0] if after else None, after[1] if after else None, limit)
        return [_log_entry(r) for r in rows]

    async def admin_action_recorded(self, action: str) -> bool:
        """Whether any row of the log has ``action`` (the index admin_log_action answers it)."""
        return bool(await self.listing.fetchval("SELECT EXISTS (SELECT 1 FROM admin_log WHERE action = $1)", action))

    async def admin_log_head(self) -> tuple[Head | None, list[Head]]:
        """The log's last durable row, as the checkpointer signs it (the log has no abandoned chains)."""
        row = await self.pool.fetchrow("SELECT seq, hash FROM admin_log ORDER BY seq DESC LIMIT 1")
        return (Head(CHAIN_ID, row["seq"], row["hash"]) if row else None), []

    async def insert_admin_checkpoints(self, checkpoints: list[Checkpoint]) -> None:
        """Stores signed heads of the log; a head another replica signed already keeps its first signature."""
        await self.pool.executemany(
            "INSERT INTO admin_log_checkpoints (seq, hash, time, key_id, signature) VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT (seq) DO NOTHING",
            [(c.seq, c.hash, c.time, c.key_id, c.signature) for c in checkpoints])

    async def list_admin_checkpoints(self, after: tuple[dt.datetime, int] | None, limit: int) -> list[Checkpoint]:
        """Oldest first, resuming after the (time, seq) of a previous page's last checkpoint."""
        if after is None:
            rows = await self.listing.fetch("SELECT * FROM admin_log_checkpoints ORDER BY time, seq LIMIT $1", limit)
        else:
            rows = await self.listing.fetch("SELECT * FROM admin_log_checkpoints WHERE (time, seq) > ($1, $2)"
                                         " ORDER BY time, seq LIMIT $3", *after, limit)
        return [_admin_checkpoint(row) for row in rows]

    async def admin_log_chain(self, fetch: int = 1000) -> AsyncIterator[Entry]:
        """Every row of the log and every checkpoint, from one snapshot, in sequence order (a row before the
        checkpoint of its sequence): what VerifyAdminLog judges."""
        async with self.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            pending = [_admin_checkpoint(r) for r in await conn.fetch(
                "SELECT * FROM admin_log_checkpoints ORDER BY seq DESC")]  # last first: pop() is the lowest
            async for row in conn.cursor("SELECT * FROM admin_log ORDER BY seq", prefetch=fetch):
                while pending and pending[-1].seq < row["seq"]:
                    yield None, pending.pop()
                yield _admin_row(_log_entry(row)), None
            while pending:
                yield None, pending.pop()

    # Applications

    async def insert_application(self, application: Application, admin: Sequence[AdminEvent] = (),
                                 request: tuple[str, bytes] | None = None) -> Application | None:
        """Stores a new application with its history and, in the same transaction, its ``admin`` log entries.
        ``request`` is the caller's request_id and the digest of what it sent: None when that request_id is
        already the department's (a repeat that arrived together with the first), and nothing is stored."""
        request_id, fingerprint = request or (None, None)
        async with self.pool.acquire() as conn, conn.transaction():
            # Neither side may be retired (RetireDepartment counts open applications under its lock).
            for code in sorted({application.applicant_department_code, application.provider_department_code}):
                await self.require_in_service(conn, code)
            inserted = await conn.fetchval(
                "INSERT INTO applications (id, applicant_department_code, provider_department_code, resource_code,"
                " system_ids, items, purposes, purpose_text, basis, requested_expire_time, methods, quota, state,"
                " reply_due_time, create_time, update_time, request_id, request_fingerprint, reply_working_days,"
                " reply_due_provisional)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $16, $17, $18, $19)"
                " ON CONFLICT (applicant_department_code, request_id) WHERE request_id IS NOT NULL DO NOTHING"
                " RETURNING true",
                application.id, application.applicant_department_code, application.provider_department_code,
                application.resource_code, list(application.system_ids), list(application.items),
                list(application.purposes), application.purpose_text, application.basis,
                application.requested_expire_time, list(application.methods), application.quota, application.state,
                application.reply_due_time, application.create_time, request_id, fingerprint,
                application.reply_working_days, provisional(application.reply_due_time))
            if not inserted:
                return None
            for event in application.history:
                await self._insert_event(conn, application.id, event)
            if admin:
                await self.append_admin(conn, SERVICE, admin)
        return application

    async def application_by_request(self, department_code: str,
                                     request_id: str) -> tuple[Application, bytes] | None:
        """The department's application made by the request with ``request_id``, and that request's digest."""
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                f"SELECT {_APPLICATION_COLUMNS}, request_fingerprint FROM applications"
                " WHERE applicant_department_code = $1 AND request_id = $2", department_code, request_id)
            if row is None:
                return None
            history = (await self._histories(conn, [row["id"]]))[row["id"]]
            return _application(row, history), bytes(row["request_fingerprint"])

    async def get_application(self, application_id: str) -> Application | None:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(f"SELECT {_APPLICATION_COLUMNS} FROM applications WHERE id = $1",
                                      application_id)
            if row is None:
                return None
            return _application(row, (await self._histories(conn, [application_id]))[application_id])

    async def list_applications(self, where: ApplicationFilter, after: int | None,
                                limit: int) -> list[tuple[int, Application]]:
        """Newest first, resuming below sequence number ``after``."""
        async with self.listing.acquire() as conn:
            rows = await conn.fetch(
                f"SELECT {_APPLICATION_COLUMNS} FROM applications {_APPLICATION_FILTER}"
                " AND ($6::bigint IS NULL OR seq < $6)"
                " ORDER BY seq DESC LIMIT $7",
                where.applicant, where.provider, where.either, where.state, where.overdue_at, after, limit)
            histories = await self._histories(conn, [r["id"] for r in rows])
        return [(r["seq"], _application(r, histories[r["id"]])) for r in rows]

    async def list_applications_by_due(self, where: ApplicationFilter, after: tuple[dt.datetime, int] | None,
                                       limit: int) -> list[tuple[tuple[dt.datetime, int], Application]]:
        """Earliest reply deadline first (then the earlier made), resuming after (deadline, sequence number)."""
        due, seq = after if after is not None else (None, None)
        async with self.listing.acquire() as conn:
            rows = await conn.fetch(
                f"SELECT {_APPLICATION_COLUMNS} FROM applications {_APPLICATION_FILTER}"
                " AND ($6::timestamptz IS NULL OR (reply_due_time, seq) > ($6, $7::bigint))"
                " ORDER BY reply_due_time, seq LIMIT $8",
                where.applicant, where.provider, where.either, where.state, where.overdue_at, due, seq, limit)
            histories = await self._histories(conn, [r["id"] for r in rows])
        return [((r["reply_due_time"], r["seq"]), _application(r, histories[r["id"]])) for r in rows]

    async def undecided_resources(self) -> list[str]:
        """The resources with an application nobody has decided yet (SUBMITTED or ESCALATED): those whose retirement
        would leave an application to close (Sharing.close_retired)."""
        rows = await self.pool.fetch("SELECT DISTINCT resource_code FROM applications"
                                     " WHERE state = ANY($1::smallint[]) ORDER BY 1", list(UNDECIDED))
        return [row["resource_code"] for row in rows]

    async def undecided_of(self, resource_code: str) -> list[Application]:
        """Resource ``resource_code``'s applications nobody has decided yet, oldest first."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(f"SELECT {_APPLICATION_COLUMNS} FROM applications WHERE resource_code = $1"
                                    " AND state = ANY($2::smallint[]) ORDER BY seq", resource_code, list(UNDECIDED))
            histories = await self._histories(conn, [r["id"] for r in rows])
        return [_application(r, histories[r["id"]]) for r in rows]

    async def reply_dues_to_recount(self) -> list[StoredDue]:
        """The reply deadlines counted without their year's calendar, or not known to have been (stored before
        migration 011), and those of the applications still awaiting their reply (their year's calendar may have
        been corrected since they were counted)."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch("SELECT id, create_time, reply_due_time, reply_working_days, reply_due_provisional"
                                    " FROM applications WHERE reply_due_provisional IS NOT FALSE"
                                    " OR (state = $1 AND reply_working_days IS NOT NULL)", SUBMITTED)
        return [StoredDue(r["id"], r["create_time"], r["reply_due_time"], r["reply_working_days"],
                          r["reply_due_provisional"]) for r in rows]

    async def set_reply_dues(self, dues: Sequence[tuple[StoredDue, dt.datetime, int | None, bool]]) -> None:
        """Each stored deadline replaced by the one counted again, with its count and whether it is still
        provisional; one that changed meanwhile (another replica counted it first) is left as it is."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.executemany(
                "UPDATE applications SET reply_due_time = $3, reply_working_days = $4, reply_due_provisional = $5"
                " WHERE id = $1 AND reply_due_time = $2",
                [(stored.application_id, stored.reply_due_time, due, days, still) for stored, due, days, still in dues])

    async def transition(self, application_id: str, from_states: Sequence[int], state: int, event: ApplicationEvent,
                         reply_reason: str | None = None, grant: Grant | None = None,
                         admin: AdminEvent | None = None, coordination_reason: str | None = None
                         ) -> tuple[Application, Grant | None] | None:
        """Moves an application on (creating its grant, if any) unless another reply got there first; a reason
        given is kept as the provider's reply's or the authority's coordination decision's."""
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                if grant is not None:
                    grant = await self._insert_grant(conn, grant)
                row = await conn.fetchrow(
                    "UPDATE applications SET state = $3, reply_reason = COALESCE($4, reply_reason),"
                    " grant_id = COALESCE($5, grant_id), update_time = $6,"
                    " coordination_reason = COALESCE($7, coordination_reason)"
                    f" WHERE id = $1 AND state = ANY($2::smallint[]) RETURNING {_APPLICATION_COLUMNS}",
                    application_id, list(from_states), state, reply_reason, grant.id if grant else None, event.time,
                    coordination_reason)
                if row is None:
                    raise _Conflict
                await self._insert_event(conn, application_id, event)
                if admin is not None:
                    await self.append_admin(conn, SERVICE, [admin])
                history = (await self._histories(conn, [application_id]))[application_id]
        except _Conflict:
            return None
        return _application(row, history), grant

    # Grants

    async def get_grant(self, grant_id: str) -> Grant | None:
        row = await self.pool.fetchrow(f"SELECT {_GRANT_COLUMNS} FROM grants WHERE id = $1", grant_id)
        return _grant(row) if row else None

    async def list_grants(self, where: GrantFilter, after: int | None, limit: int) -> list[tuple[int, Grant]]:
        rows = await self.listing.fetch(
            f"SELECT {_GRANT_COLUMNS} FROM grants"
            " WHERE ($1::text IS NULL OR department_code = $1 OR provider_department_code = $1)"
            " AND ($2::text IS NULL OR resource_code = $2) AND ($3::smallint IS NULL OR state = $3)"
            " AND ($4::bigint IS NULL OR seq < $4)"
            " AND ($6::timestamptz IS NULL OR (expire_time > $6) = $7)"
            " AND ($8::text IS NULL OR department_code = $8) AND ($9::text IS NULL OR provider_department_code = $9)"
            " AND ($10::timestamptz IS NULL OR expire_time < $10)"
            " AND ($11::timestamptz IS NULL OR coordinated AND EXISTS (SELECT 1 FROM application_events e"
            " WHERE e.application_id = grants.application_id AND e.action = $12"
            " AND e.actor_department_code = grants.provider_department_code AND e.time >= $11))"
            " ORDER BY seq DESC LIMIT $5",
            where.visible_to, where.resource_code, _STORED_GRANT_STATE.get(where.state, where.state), after, limit,
            where.now if where.state in (ACTIVE, EXPIRED) else None, where.state == ACTIVE, where.holder,
            where.provider, where.expire_before, where.provider_adjusted_after, UPDATED_EVENT)
        return [(r["seq"], _grant(r)) for r in rows]

    async def update_grant(self, grant_id: str, changes: dict[str, object], event: ApplicationEvent,
                           revoke_reason: str | None = None, admin: AdminEvent | None = None,
                           version: int | None = None) -> Grant | None:
        """Changes an active grant (or revokes it, with ``revoke_reason``) under a new policy version;
        None when the grant is no longer active or, given ``version``, no longer at that policy version. A change
        (not a revocation) of a grant whose holder or provider is retired is DEPARTMENT_RETIRED."""
        columns = sorted(changes)
        if not set(columns) <= _UPDATABLE_GRANT_COLUMNS:
            raise ValueError(f"not updatable: {set(columns) - _UPDATABLE_GRANT_COLUMNS}")
        values = [list(v) if isinstance(v, tuple) else v for v in (changes[c] for c in columns)]
        assignments = "".join(f", {column} = ${index}" for index, column in enumerate(columns, start=5))
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                new_version = await self._bump_version(conn)
                actor = event.actor
                row = await conn.fetchrow(
                    "UPDATE grants SET policy_version = $2, update_time = $3,"
                    " state = CASE WHEN $4::text IS NULL THEN state ELSE 2 END,"
                    f" revoke_reason = COALESCE($4, revoke_reason){assignments},"
                    f" changed_by_id = ${len(values) + 5}, changed_by_name = ${len(values) + 6},"
                    f" changed_by_department_code = ${len(values) + 7}"
                    f" WHERE id = $1 AND state = 1 AND (${len(values) + 8}::bigint IS NULL"
                    f" OR policy_version = ${len(values) + 8}) RETURNING {_GRANT_COLUMNS}",
                    grant_id, new_version, event.time, revoke_reason, *values, actor.id, actor.display_name,
                    actor.department_code, version)
                if row is None:
                    raise _Conflict
                if revoke_reason is None:
                    # An expired grant stays stored active (it may be extended): not one of a retired department,
                    # which RetireDepartment let go as it lets nothing through.
                    for code in sorted({row["department_code"], row["provider_department_code"]}):
                        await self.require_in_service(conn, code)
                await self._insert_event(conn, row["application_id"], event)
                if admin is not None:
                    await self.append_admin(conn, SERVICE, [admin])
        except _Conflict:
            return None
        return _grant(row)

    async def policy_snapshot(self, department_code: str, resource_code: str) -> tuple[int, list[Grant]]:
        """The current policy version and the department's grants on a resource, consistent with each other."""
        async with self.pool.acquire() as conn, conn.transaction(readonly=True):
            await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", POLICY_LOCK)
            # One row even without grants (id NULL), so the version never costs a second round trip.
            rows = await conn.fetch(
                f"SELECT current_version, {_GRANT_COLUMNS}"
                " FROM (SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS current_version"
                " FROM policy_version) AS v"
                " LEFT JOIN grants ON department_code = $1 AND resource_code = $2", department_code, resource_code)
        return rows[0]["current_version"], [_grant(r) for r in rows if r["id"] is not None]

    async def policy_version(self) -> int:
        async with self.pool.acquire() as conn:
            return await self._current_version(conn)

    # Helpers (inside a transaction)

    @staticmethod
    async def _current_version(conn: asyncpg.Connection) -> int:
        return await conn.fetchval("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM policy_version")

    @staticmethod
    async def _bump_version(conn: asyncpg.Connection) -> int:
        await conn.execute("SELECT pg_advisory_xact_lock($1)", POLICY_LOCK)
        return await conn.fetchval("SELECT nextval('policy_version')")

    async def _insert_grant(self, conn: asyncpg.Connection, grant: Grant) -> Grant:
        version = await self._bump_version(conn)
        row = await conn.fetchrow(
            "INSERT INTO grants (id, application_id, department_code, provider_department_code, resource_code,"
            " system_ids, items, unmasked_items, purposes, methods, expire_time, quota, state, coordinated,"
            " policy_version, create_time, update_time, granted_by_id, granted_by_name, granted_by_department_code)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16, $17, $18, $19)"
            f" RETURNING {_GRANT_COLUMNS}",
            grant.id, grant.application_id, grant.department_code, grant.provider_department_code,
            grant.resource_code, list(grant.system_ids), list(grant.items), list(grant.unmasked_items),
            list(grant.purposes), list(grant.methods), grant.expire_time, grant.quota, grant.state,
            grant.coordinated, version, grant.create_time, grant.granted_by.id, grant.granted_by.display_name,
            grant.granted_by.department_code)
        return _grant(row)

    @staticmethod
    async def _insert_event(conn: asyncpg.Connection, application_id: str, event: ApplicationEvent) -> None:
        await conn.execute(
            "INSERT INTO application_events (application_id, action, actor_department_code, actor_system_id, note,"
            " time, actor_display_name) VALUES ($1, $2, $3, $4, $5, $6, $7)", application_id, event.action,
            event.actor_department_code, event.actor_system_id, event.note, event.time, event.actor_display_name)

    @staticmethod
    async def _histories(conn: asyncpg.Connection, ids: Sequence[str]) -> dict[str, list[ApplicationEvent]]:
        histories: dict[str, list[ApplicationEvent]] = {i: [] for i in ids}
        if ids:
            for row in await conn.fetch("SELECT * FROM application_events WHERE application_id = ANY($1::text[])"
                                        " ORDER BY id", list(ids)):
                histories[row["application_id"]].append(_event(row))
        return histories

    # Figures for supervision (R-SUP-1)

    async def applications_created(self, start: dt.datetime, end: dt.datetime) -> list[asyncpg.Record]:
        """Applications submitted in [start, end) with the time of the provider's reply (NULL if none yet),
        for a refusal its reason, and the time it was first taken from the provider: the applicant escalating or
        withdrawing it, or its resource's retirement closing it (NULL if never)."""
        return await self.pool.fetch(
            "SELECT a.applicant_department_code, a.provider_department_code, a.state, a.reply_due_time, "
            " r.time AS reply_time, r.action AS reply_action, r.note AS reply_note, "
            " (SELECT min(x.time) FROM application_events x WHERE x.application_id = a.id"
            "   AND x.action IN ('ESCALATED', 'WITHDRAWN', 'CLOSED')) AS escalate_time "
            "FROM applications a LEFT JOIN LATERAL (SELECT e.time, e.action, e.note FROM application_events e "
            "  WHERE e.application_id = a.id AND e.action IN ('APPROVED', 'REFUSED') ORDER BY e.id LIMIT 1) r "
            "  ON true "
            "WHERE a.create_time >= $1 AND a.create_time < $2", start, end)

    async def grants_in_force(self, at: dt.datetime) -> list[asyncpg.Record]:
        """Grants in force at ``at`` (created before it, unexpired then, and active or revoked only after it):
        count by holder, provider and resource (whose retirement, the catalog's, ends them too). The revocation's
        time is its GRANT_REVOKED step's, as the persons' view reads it (the row's update_time for one without).
        Counting the grants active now, a month recomputed after one of its grants was revoked (the schedule
        recomputes last month all through this one) lost it from the grants held at its end."""
        return await self.pool.fetch(
            "SELECT department_code, provider_department_code, resource_code, count(*) AS n FROM grants "
            "WHERE create_time < $1 AND expire_time > $1 AND (state = $2 OR (state = $3 AND coalesce("
            " (SELECT min(e.time) FROM application_events e WHERE e.application_id = grants.application_id"
            "  AND e.action = $4 AND e.time >= grants.create_time), update_time) > $1)) GROUP BY 1, 2, 3",
            at, sharing_pb2.GRANT_STATE_ACTIVE, sharing_pb2.GRANT_STATE_REVOKED, REVOKED_EVENT)
    # The persons' view: confidential grants and system roles

    async def set_confidentiality(self, grant_id: str, confidential: bool, release_time: dt.datetime | None,
                                  event: ApplicationEvent, admin: AdminEvent | None = None) -> Grant | None:
        """Marks or unmarks a grant, with the step in its history and its ``admin`` log entry; None when the
        grant is gone."""
        async with self.pool.acquire() as conn, conn.transaction():
            actor = event.actor
            row = await conn.fetchrow(
                "UPDATE grants SET confidential = $2, release_time = $3, update_time = $4, changed_by_id = $5,"
                " changed_by_name = $6, changed_by_department_code = $7 WHERE id = $1 RETURNING *",
                grant_id, confidential, release_time, event.time, actor.id, actor.display_name,
                actor.department_code)
            if row is None:
                return None
            await self._insert_event(conn, row["application_id"], event)
            if admin is not None:
                await self.append_admin(conn, SERVICE, [admin])
            return _grant(row)

    async def confidential_grants(self, now: dt.datetime, after: tuple[dt.datetime, str] | None,
                                  limit: int) -> list[asyncpg.Record]:
        """Up to ``limit`` confidential grants not yet released, soonest released first after the position
        (release_time, id), with the period they let their holder in (until the expiry, or until the
        revocation for a revoked one). The revocation's time is its step in the grant's history, not the
        grant's update_time: marking a revoked grant confidential (or changing its release) moves update_time,
        and would withhold the accesses its department made after the revocation, under another grant. The
        partial index on (release_time, id) of confidential grants (authorization 008) starts the walk at the
        later of now and the position.

        A grant whose named systems were ever changed withholds its department's accesses from every system:
        the systems it named before are not kept, and an access one of them made under it must stay withheld
        (narrowing the grant would otherwise show the person an investigation's reads)."""
        start_time, start_id = after if after is not None else (now, "")
        return await self.fetch_current(
            "SELECT id, department_code, CASE WHEN EXISTS (SELECT 1 FROM application_events e"
            " WHERE e.application_id = grants.application_id AND e.action = $7 AND e.note LIKE ANY($8::text[]))"
            " THEN '{}'::text[] ELSE system_ids END AS system_ids, resource_code, create_time AS start_time,"
            " CASE WHEN state = $2 THEN least(expire_time, coalesce((SELECT min(e.time) FROM application_events e"
            " WHERE e.application_id = grants.application_id AND e.action = $6 AND e.time >= grants.create_time),"
            " update_time))"
            " ELSE expire_time END AS end_time,"
            " release_time FROM grants WHERE confidential AND release_time > $1"
            " AND (release_time, id) > ($3, $4) ORDER BY release_time, id LIMIT $5",
            now, sharing_pb2.GRANT_STATE_REVOKED, start_time, start_id, limit, REVOKED_EVENT, UPDATED_EVENT,
            list(SYSTEMS_NOTE_PATTERNS))

    async def grant_role(self, system_id: str, role: int, granted_by: str, now: dt.datetime,
                         admin: AdminEvent | None = None) -> asyncpg.Record:
        """Gives a system a role, with its ``admin`` log entry in the same transaction."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "INSERT INTO system_roles (system_id, role, granted_by, grant_time) VALUES ($1, $2, $3, $4)"
                " ON CONFLICT (system_id, role) DO UPDATE SET role = EXCLUDED.role RETURNING *",
                system_id, role, granted_by, now)
            if admin is not None:
                await self.append_admin(conn, SERVICE, [admin])
            return row

    async def revoke_role(self, system_id: str, role: int, admin: AdminEvent | None = None) -> None:
        """Takes a role from a system, with its ``admin`` log entry in the same transaction."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM system_roles WHERE system_id = $1 AND role = $2", system_id, role)
            if admin is not None:
                await self.append_admin(conn, SERVICE, [admin])

    async def roles_of(self, system_id: str, limit: int) -> list[asyncpg.Record]:
        """A system's roles (one row per role it holds: ``limit`` is the number of roles there are)."""
        return await self.listing.fetch("SELECT * FROM system_roles WHERE system_id = $1 ORDER BY role LIMIT $2",
                                        system_id, limit)

    async def active_roles(self, system_id: str) -> list[int]:
        """The roles of a system that exists and is not disabled."""
        rows = await self.pool.fetch(
            "SELECT r.role FROM system_roles r JOIN systems s ON s.id = r.system_id"
            " WHERE r.system_id = $1 AND NOT s.disabled ORDER BY r.role", system_id)
        return [row["role"] for row in rows]


class _Conflict(Exception):
    """The row changed state under us; the transaction rolls back and the caller gets None."""
