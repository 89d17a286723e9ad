"""Issue 14 for the audit log's listings: ListAccesses and the persons' view (ListSubjectAccesses) resume exactly
after a token taken at a deep position, and a statement held past its budget is FAILED_PRECONDITION, never
INTERNAL.

The rows are written by the query service's own audit writer (services/query/audit.py AuditWriter over
QueryStore.insert_accesses: valid hash chains, as the service writes them), into a database of their own served by
a query process of their own (the platform's authorization answers the portal's role and the confidential grants):
the chain-verification tests that share the platform's database never see these rows.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import grpc
import pytest
import pytest_asyncio

from govshare.authorization.v1 import directory_pb2, directory_pb2_grpc, roles_pb2, roles_pb2_grpc
from govshare.common.v1 import common_pb2 as common
from govshare.query.v1 import audit_pb2, audit_pb2_grpc
from services.foundation.synthetic import citizen_id_of, credit_code_of
from services.query.audit import ANSWERED, Access, AuditWriter
from services.query.component import create_component
from services.query.store import QueryStore
from services.runtime import db
from services.runtime.embedded import create_database
from services.runtime.identity import Caller
from services.runtime.server import start_server
from services.runtime.tokens import issue_token
from tests.integration.test_paging import assert_over_budget

pytestmark = pytest.mark.integration

DEEP = 2000  # the position whose token is taken (two pages of the largest size)
ROWS = 2800  # three in four name the subject: more than DEEP + 10 of them
# Far above what an indexed page needs (10 ms for the deep test's 1,000 rows here), far below the lock wait. At
# 400 ms the deep test's first page was once cancelled on a CI machine in a slow moment.
BUDGET_MS = 1000
RESOURCE = "301914/000001"
SUBJECT = citizen_id_of(9_140_001)
OTHER = citizen_id_of(9_140_002)
ASKED = common.Purpose(type=common.PURPOSE_TYPE_BUSINESS_COLLABORATION, text="个人信息查阅申请")


@dataclass
class AuditProcess:
    stub: audit_pb2_grpc.AuditServiceStub
    url: str
    department: str
    authority: tuple[tuple[str, str], ...]
    portal: tuple[tuple[str, str], ...]


async def _write(url: str, department: str) -> None:
    """ROWS accesses of ``department``'s system, three a second going back from now, through the writer."""
    pool = await db.create_pool(url, "query", min_size=1, max_size=2)
    store = QueryStore(pool)
    writer = AuditWriter(store.insert_accesses, flush_ms=0, batch_max=500)
    writer.start()
    now = dt.datetime.now(dt.UTC)
    try:
        futures = []
        for i in range(ROWS):
            single = i % 4 != 1  # one in four a batch naming the subject among others
            key = (OTHER if i % 4 == 3 else SUBJECT) if single else ""
            futures.append(writer.submit(Access(
                operation="Query" if single else "BatchQuery", system_id=f"sys-{department.lower()}",
                department_code=department, resource_code=RESOURCE, key=key,
                keys=[] if single else [OTHER, SUBJECT], items=["name"], purpose="ADMINISTRATIVE_BASIS",
                purpose_text="", trace_id="", time=now - dt.timedelta(seconds=i // 3),
                provider_department_code=department, result=ANSWERED)))
        await asyncio.gather(*futures)
    finally:
        await writer.stop()
        await store.release_audit_connection()
        await pool.close()


async def _analyze(url: str) -> None:
    """Statistics and hint bits for the rows just written, as autovacuum would leave them: the first page reads
    what a settled log holds, not 2,800 rows PostgreSQL estimates at 10 (a sort of them all) nor pages it must
    dirty on first read."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("VACUUM (ANALYZE) query.access_log")
    finally:
        await conn.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def audit(platform: object, database_url: str) -> AsyncIterator[AuditProcess]:
    url = await create_database(database_url, f"govshare_audit_{uuid.uuid4().hex[:8]}")
    await db.migrate(url, "query")
    department = platform.credentials.systems["authority"]["department"]  # type: ignore[attr-defined]
    authority = platform.metadata("authority")  # type: ignore[attr-defined]
    settings = platform.settings["query"].with_overrides(  # type: ignore[attr-defined]
        listen="127.0.0.1:0", database_url=url, db_listing_timeout_ms=BUDGET_MS)
    running = await start_server(settings, create_component(settings))
    await _write(url, department)
    await _analyze(url)
    # The portal: a system the authority granted SYSTEM_ROLE_SUBJECT_ACCESS_PORTAL, on the platform.
    channel = platform.channel  # type: ignore[attr-defined]
    created = await directory_pb2_grpc.DirectoryServiceStub(channel).CreateSystem(directory_pb2.CreateSystemRequest(
        system=directory_pb2.System(department_code=department, name=f"paging portal {uuid.uuid4().hex[:6]}")),
        metadata=authority, timeout=10)
    await roles_pb2_grpc.RoleServiceStub(channel).GrantSystemRole(roles_pb2.GrantSystemRoleRequest(
        system_id=created.system.id, role=roles_pb2.SYSTEM_ROLE_SUBJECT_ACCESS_PORTAL), metadata=authority,
        timeout=10)
    token = issue_token(platform.settings["authorization"].token_private_key,  # type: ignore[attr-defined]
                        Caller(created.system.id, department), 600).token
    own = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    try:
        yield AuditProcess(audit_pb2_grpc.AuditServiceStub(own), url, department, authority,
                           (("authorization", f"Bearer {token}"),))
    finally:
        await own.close()
        await running.stop(0)


def _calls(audit: AuditProcess) -> dict[str, tuple[Callable[[int, str], Awaitable], str, str]]:
    """Per RPC: call(page_size, page_token), the response's list, and the SQL of the expected ids in order."""
    def accesses(size: int, token: str) -> Awaitable:
        return audit.stub.ListAccesses(audit_pb2.ListAccessesRequest(
            department_code=audit.department, page_size=size, page_token=token), metadata=audit.authority,
            timeout=30)

    def subject(size: int, token: str) -> Awaitable:
        return audit.stub.ListSubjectAccesses(audit_pb2.ListSubjectAccessesRequest(
            citizen_id=SUBJECT, purpose=ASKED, page_size=size, page_token=token), metadata=audit.portal, timeout=30)

    return {
        "ListAccesses": (accesses, "accesses", "SELECT id FROM query.access_log WHERE department_code = $1"
                         " ORDER BY time DESC, id DESC"),
        "ListSubjectAccesses": (subject, "accesses", "SELECT id FROM query.access_log WHERE $1 <> ''"
                                f" AND (key = '{SUBJECT}' OR '{SUBJECT}' = ANY(keys))"
                                " AND operation <> 'SubjectLookup' ORDER BY time DESC, id DESC"),
    }


@pytest.mark.parametrize("rpc", ["ListAccesses", "ListSubjectAccesses"])
async def test_audit_listings_resume_right_after_a_deep_token(audit: AuditProcess, rpc: str) -> None:
    """Thousands of rows, three to a second (ties broken by id): the token taken at position 2,000 resumes at
    row 2,001, and the pages before it are exactly the rows in the listing's order."""
    call, items, expected_sql = _calls(audit)[rpc]
    conn = await asyncpg.connect(audit.url)
    try:
        expected = [row[0] for row in await conn.fetch(expected_sql, audit.department)]
    finally:
        await conn.close()
    assert len(expected) >= DEEP + 10
    token, walked = "", []
    while len(walked) < DEEP:
        page = await call(min(1000, DEEP - len(walked)), token)
        walked += [a.id for a in getattr(page, items)]
        token = page.next_page_token
        assert token, "the listing ended before the position"
    assert walked == expected[:DEEP]
    following = await call(10, token)
    assert [a.id for a in getattr(following, items)] == expected[DEEP:DEEP + 10]


async def _release_once_an_insert_waits(holder: asyncpg.Connection, url: str, call: asyncio.Task) -> None:
    """Waits (a bounded poll) until ``call`` ended or a write to the access log waits for the lock; the persons'
    view records its refused lookup before it answers, and that record must wait for the lock to go."""
    observer = await asyncpg.connect(url)
    try:
        for _ in range(300):
            if call.done() or await observer.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO access_log%'"):
                return
            await asyncio.sleep(0.05)
    finally:
        await observer.close()


@pytest.mark.parametrize("rpc", ["ListAccesses", "ListSubjectAccesses"])
async def test_audit_listings_past_their_budget_are_failed_precondition(audit: AuditProcess, rpc: str) -> None:
    """Another connection holds a lock on the access log: the listing's statement is cancelled at its budget and
    the caller is asked for a narrower filter, never INTERNAL; the same call answers once the lock is gone."""
    call, _, _ = _calls(audit)[rpc]
    holder = await asyncpg.connect(audit.url)
    try:
        transaction = holder.transaction()
        await transaction.start()
        await holder.execute("LOCK TABLE query.access_log IN ACCESS EXCLUSIVE MODE")
        pending = asyncio.ensure_future(call(10, ""))
        await _release_once_an_insert_waits(holder, audit.url, pending)
        await transaction.rollback()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await pending
    finally:
        await holder.close()
    assert_over_budget(caught.value)
    assert len((await call(10, "")).accesses) == 10


async def test_a_record_that_lands_after_a_page_above_its_last_row_is_on_the_next_page(audit: AuditProcess) -> None:
    """ListAccesses lists by a call's start time, and its record is written when the call ends: a call still
    running when a page was read (a slow provider) landed above that page's last row, in the part the listing
    had passed, and no later page showed it. The next page now begins with such records; each record is listed
    once, and a call begun after the listing is not among them."""
    department = credit_code_of(9_140_101)
    pool = await db.create_pool(audit.url, "query", min_size=1, max_size=2)
    store = QueryStore(pool)
    writer = AuditWriter(store.insert_accesses, flush_ms=0, batch_max=10)
    writer.start()
    # A replica of its own: its lease names the chain it writes, as every query process's does.
    await store.hold_writer(writer.name, 600, writer.chain_id)
    now = dt.datetime.now(dt.UTC)

    async def record(seconds_ago: float, by: str = department) -> str:
        return await writer.record(Access(
            operation="Query", system_id="sys-late", department_code=by, resource_code=RESOURCE,
            key=OTHER, keys=[], items=["name"], purpose="ADMINISTRATIVE_BASIS", purpose_text="", trace_id="",
            time=now - dt.timedelta(seconds=seconds_ago), provider_department_code=by, result=ANSWERED))

    def listed(size: int, token: str, by: str = department) -> Awaitable[audit_pb2.ListAccessesResponse]:
        return audit.stub.ListAccesses(audit_pb2.ListAccessesRequest(
            department_code=by, page_size=size, page_token=token), metadata=audit.authority, timeout=30)

    try:
        first, second, third = [await record(ago) for ago in (10, 20, 30)]
        page = await listed(2, "")
        assert [a.id for a in page.accesses] == [first, second]
        slow = await record(15)  # began between the two rows shown, ended after the page was read
        lower = await record(25)  # below the page: listed in its place
        later = await writer.record(Access(
            operation="Query", system_id="sys-late", department_code=department, resource_code=RESOURCE,
            key=OTHER, keys=[], items=["name"], purpose="ADMINISTRATIVE_BASIS", purpose_text="", trace_id="",
            time=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=60), provider_department_code=department,
            result=ANSWERED))  # a call begun after the listing: the next listing's
        following = await listed(2, page.next_page_token)
        assert [a.id for a in following.accesses] == [slow, lower]
        last = await listed(2, following.next_page_token)
        assert ([a.id for a in last.accesses], last.next_page_token) == ([third], "")
        assert later in [a.id for a in (await listed(10, "")).accesses]
        # A page 2 naming the department as typed otherwise (full width, lower case) continues the same listing.
        typed = department.lower().translate({code: code + 0xFEE0 for code in range(0x21, 0x7F)})
        one = await listed(1, "", department.lower())
        two = await listed(1, one.next_page_token, typed)
        assert [a.id for a in (*one.accesses, *two.accesses)] == [a.id for a in (await listed(2, "")).accesses]
        # More landed than a page holds: pages of them only, in the order they landed, then the rest.
        other = credit_code_of(9_140_102)
        newer, older = await record(20, other), await record(40, other)
        page = await listed(1, "", other)
        assert [a.id for a in page.accesses] == [newer]
        landed = [await record(ago, other) for ago in (5, 12, 1)]
        walked, token = [], page.next_page_token
        while token:
            page = await listed(1, token, other)
            walked += [a.id for a in page.accesses]
            token = page.next_page_token
        assert walked == [*landed, older]
    finally:
        await pool.execute("DELETE FROM audit_writers WHERE writer = $1", writer.name)
        await writer.stop()
        await store.release_audit_connection()
        await pool.close()


async def test_an_access_to_a_person_that_lands_after_a_page_above_its_last_row_is_on_the_next_page(
        audit: AuditProcess) -> None:
    """The persons' view lists by a call's start time too, and had ListAccesses' miss: a slow call to a person's
    record, still running when the portal read a page, landed above that page's last row and no later page showed
    it (the person was told of every access but that one). The next page now begins with it, each access is listed
    once, and a call begun after the listing is the next listing's."""
    person = citizen_id_of(9_140_003)
    pool = await db.create_pool(audit.url, "query", min_size=1, max_size=2)
    store = QueryStore(pool)
    writer = AuditWriter(store.insert_accesses, flush_ms=0, batch_max=10)
    writer.start()
    await store.hold_writer(writer.name, 600, writer.chain_id)
    now = dt.datetime.now(dt.UTC)

    async def record(seconds_ago: float, key: str = person) -> str:
        return await writer.record(Access(
            operation="Query", system_id="sys-late", department_code=audit.department, resource_code=RESOURCE,
            key=key, keys=[], items=["name"], purpose="ADMINISTRATIVE_BASIS", purpose_text="", trace_id="",
            time=now - dt.timedelta(seconds=seconds_ago), provider_department_code=audit.department,
            result=ANSWERED))

    def listed(size: int, token: str, who: str = person) -> Awaitable[audit_pb2.ListSubjectAccessesResponse]:
        return audit.stub.ListSubjectAccesses(audit_pb2.ListSubjectAccessesRequest(
            citizen_id=who, purpose=ASKED, page_size=size, page_token=token), metadata=audit.portal, timeout=30)

    try:
        first, second, third = [await record(ago) for ago in (10, 20, 30)]
        page = await listed(2, "")
        assert [a.id for a in page.accesses] == [first, second]
        slow = await record(15)  # began between the two rows shown, ended after the page was read
        await record(16, OTHER)  # another person's: not theirs to see
        lower = await record(25)
        later = await record(-60)  # a call begun after the listing: the next listing's
        following = await listed(2, page.next_page_token)
        assert [a.id for a in following.accesses] == [slow, lower]
        last = await listed(2, following.next_page_token)
        assert ([a.id for a in last.accesses], last.next_page_token) == ([third], "")
        assert later in [a.id for a in (await listed(10, "")).accesses]
        # More landed than a page holds: pages of them only, in the order they landed, then the rest.
        other = citizen_id_of(9_140_004)
        newer, older = await record(20, other), await record(40, other)
        page = await listed(1, "", other)
        assert [a.id for a in page.accesses] == [newer]
        landed = [await record(ago, other) for ago in (5, 12, 1)]
        walked, token = [], page.next_page_token
        while token:
            page = await listed(1, token, other)
            walked += [a.id for a in page.accesses]
            token = page.next_page_token
        assert walked == [*landed, older]
    finally:
        await pool.execute("DELETE FROM audit_writers WHERE writer = $1", writer.name)
        await writer.stop()
        await store.release_audit_connection()
        await pool.close()
