"""Benchmark: listings by depth at national size, and Query latency under heavy readers (issue 14).

    python -m loadtest.paging_bench                               # national size: 10^6 entries, 10^7 audit rows
    python -m loadtest.paging_bench --entries 100000 --accesses 1000000 --sharing 10000   # while developing

Starts the platform as a load tester runs it (``govshare up``, loadtest/platform.py), fills its tables with COPY
(catalog entries spread over 100 provider departments, applications with a grant each, audit rows shaped as
query writes them: loadtest/supervision_rows.py), then through the edge, as the authority:

* **pages by depth**: for each listing, without and with each filter (one that matches and one that matches
  nothing), pages 1, 100, 1,000 and the last, each asked ``--repeat`` times with the token of the page before
  it (built from the row at that position, as the service builds it); p95 per page, and the ratio of the
  deepest page to page 1;
* **Query under heavy readers**: cached Queries (the hot persons of loadtest/bench.py, primed first) from
  ``--query-clients`` clients for ``--seconds``, alone and then while three other processes search and page
  at full speed (SearchEntries of common words, ListEntries and ListAccesses walking deep); Query p50/p99.

Prints the tables and one JSON object. The machine may be shared: say so when quoting the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import grpc

from govshare.authorization.v1 import sharing_pb2, sharing_pb2_grpc
from govshare.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from govshare.query.v1 import audit_pb2, audit_pb2_grpc
from loadtest.bench import hot_requests
from loadtest.platform import Platform
from loadtest.stats import nearest_rank
from loadtest.supervision_rows import Shape, department_code, insert, rows
from loadtest.workloads import QUERY_METHOD
from services.arguments import non_negative, positive
from services.catalog import paging, search
from services.catalog.model import EntryFilter
from services.launcher import HEAVY_READ_OFFSETS, OFFSETS
from services.runtime.pagination import encode_token, time_keyset_token

PAGE_SIZE = 50
PROVIDERS = 100
#: A department that provides nothing, calls nothing, owns nothing: the filter that matches nothing.
NOBODY = department_code(9_999_999)
MAINTENANCE = "SET maintenance_work_mem = '512MB'"


def percentile(values: list[float], q: float) -> float:
    return nearest_rank(values, q)


# -- filling ---------------------------------------------------------------------------------------------------------


def entry_rows(count: int, now: dt.datetime) -> Iterator[tuple[tuple, tuple]]:
    """(head, version) of ``count`` published entries, codes in order, providers round-robin."""
    providers = [department_code(200 + n) for n in range(PROVIDERS)]
    for i in range(count):
        code, provider = f"399{i // 1_000_000:03d}/{i % 1_000_000:06d}", providers[i % PROVIDERS]
        name = f"{('人口', '法人', '房屋', '社保', '婚姻')[i % 5]}信息{i}"
        document = search.document_of(name, "共享目录条目")
        yield (code, provider, 1, 1, now), (
            code, 1, int(catalog_pb2.ENTRY_STATE_PUBLISHED), name, "共享目录条目", 1 + i % 3, "人口", provider,
            "某厅", 1, "JSON", "[]", "citizen_id", 1, "", [1], "", False, "", 1, [], 1, 1, "", "", "", "", now,
            now, now, document.name, document.text, document.grams)


_VERSION_COLUMNS = [
    "code", "version", "state", "name", "summary", "category", "subject", "provider_department_code",
    "provider_name", "format_class", "format_type", "items", "key_item", "share_type", "share_condition",
    "share_methods", "legal_basis", "open_to_public", "open_condition", "update_cycle", "related_codes", "zone",
    "secrecy", "endpoint_target", "endpoint_dataset", "project_code", "return_reason", "publish_time",
    "create_time", "update_time", "search_name", "search_text", "search_grams"]


async def _without_indexes(conn: asyncpg.Connection, table: str, keep_constraints: bool) -> list[str]:
    """Drops ``table``'s secondary indexes (and with not keep_constraints its keys) for a bulk load; returns
    the statements that put them back."""
    restore: list[str] = []
    if not keep_constraints:
        for name, definition in await conn.fetch(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
                " WHERE conrelid = $1::regclass AND contype IN ('p', 'u')", table):
            await conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
            restore.append(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
    schema, bare = table.replace('"', "").split(".")
    for name, definition in await conn.fetch(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = $1 AND i.tablename = $2"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)", schema, bare):
        await conn.execute(f'DROP INDEX "{schema}".{name}')
        restore.append(definition)
    return restore


async def fill(url: str, entries: int, sharing: int, accesses: int) -> dict[str, float]:
    """COPYs the national-size rows; returns how long each table took (seconds)."""
    took: dict[str, float] = {}
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(MAINTENANCE)
        now = dt.datetime.now(dt.UTC)
        began = time.perf_counter()
        restore = await _without_indexes(conn, "catalog.entry_versions", keep_constraints=True)
        batch: list[tuple[tuple, tuple]] = []
        for pair in entry_rows(entries, now):
            batch.append(pair)
            if len(batch) == 50_000:
                await _copy_entries(conn, batch)
                batch = []
        if batch:
            await _copy_entries(conn, batch)
        for statement in restore:
            await conn.execute(statement)
        took["entries"] = time.perf_counter() - began

        began = time.perf_counter()
        await _fill_sharing(conn, sharing, now)
        took["applications and grants"] = time.perf_counter() - began

        began = time.perf_counter()
        restore = await _without_indexes(conn, "query.access_log", keep_constraints=False)
        start = now - dt.timedelta(days=365)
        await insert(conn, rows(accesses, start, now - dt.timedelta(minutes=1), Shape()))
        for statement in restore:
            await conn.execute(statement)
        took["access rows"] = time.perf_counter() - began
        await conn.execute('ANALYZE catalog.entries; ANALYZE catalog.entry_versions; ANALYZE "authorization".grants;'
                           ' ANALYZE "authorization".applications; ANALYZE query.access_log')
    finally:
        await conn.close()
    return took


async def _copy_entries(conn: asyncpg.Connection, batch: list[tuple[tuple, tuple]]) -> None:
    async with conn.transaction():
        await conn.copy_records_to_table("entries", schema_name="catalog", records=[h for h, _ in batch], columns=[
            "code", "provider_department_code", "latest_version", "public_version", "create_time"])
        await conn.copy_records_to_table("entry_versions", schema_name="catalog", records=[v for _, v in batch],
                                         columns=_VERSION_COLUMNS)


async def _fill_sharing(conn: asyncpg.Connection, count: int, now: dt.datetime) -> None:
    later = now + dt.timedelta(days=365)
    departments = [department_code(200 + n) for n in range(PROVIDERS)]
    applications = [(f"bench-app-{i:07d}", departments[i % PROVIDERS], departments[(i + 1) % PROVIDERS], [],
                     f"399000/{i % 1_000_000:06d}", ["name"], [1], "基准", "依据", later, [1], 0, 1 + i % 4, later,
                     now, now) for i in range(count)]
    await conn.copy_records_to_table("applications", schema_name="authorization", records=applications, columns=[
        "id", "applicant_department_code", "provider_department_code", "system_ids", "resource_code", "items",
        "purposes", "purpose_text", "basis", "requested_expire_time", "methods", "quota", "state", "reply_due_time",
        "create_time", "update_time"])
    grants = [(f"bench-grant-{i:07d}", a[0], a[1], a[2], [], a[4], ["name"], [], [1], [1], later, 0, 1 + i % 2, 1,
               now, now) for i, a in enumerate(applications)]
    await conn.copy_records_to_table("grants", schema_name="authorization", records=grants, columns=[
        "id", "application_id", "department_code", "provider_department_code", "system_ids", "resource_code",
        "items", "unmasked_items", "purposes", "methods", "expire_time", "quota", "state", "policy_version",
        "create_time", "update_time"])


# -- pages by depth --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Listing:
    """One listing with one filter: how to ask a page, and the keyset token of the row before a position."""

    name: str
    filter: str
    call: Callable[[str], object]  # token -> awaitable response
    #: SQL giving the listing's sort key at OFFSET $1 (the row a token at that position resumes after).
    key_sql: str
    token: Callable[[asyncpg.Record], str]


def listings(channel: grpc.aio.Channel, metadata: tuple, accesses: bool) -> list[Listing]:
    catalog = catalog_pb2_grpc.CatalogServiceStub(channel)
    sharing = sharing_pb2_grpc.SharingServiceStub(channel)
    audit = audit_pb2_grpc.AuditServiceStub(channel)
    provider = department_code(200)

    def entries(name: str, provider_code: str) -> Listing:
        request_fingerprint = paging.fingerprint("list", EntryFilter(provider_department_code=provider_code))
        where = "WHERE provider_department_code = $2" if provider_code else "WHERE $2 = ''"
        return Listing("ListEntries", name, lambda token: catalog.ListEntries(catalog_pb2.ListEntriesRequest(
            filter=catalog_pb2.EntryFilter(provider_department_code=provider_code), page_size=PAGE_SIZE,
            page_token=token), metadata=metadata, timeout=60),
            f"SELECT code, version FROM catalog.entry_versions {where} ORDER BY code, version OFFSET $1 LIMIT 1",
            lambda row: paging.encode((row["code"], row["version"]), request_fingerprint))

    def grants(name: str, state: int, resource: str) -> Listing:
        return Listing("ListGrants", name, lambda token: sharing.ListGrants(sharing_pb2.ListGrantsRequest(
            state=state, resource_code=resource, page_size=PAGE_SIZE, page_token=token), metadata=metadata,
            timeout=60),
            'SELECT seq FROM "authorization".grants WHERE ($2 = 0 OR state = $2) AND ($3 = \'\' OR resource_code = $3)'
            " ORDER BY seq DESC OFFSET $1 LIMIT 1", lambda row: encode_token({"after": row["seq"]}))

    def applications(name: str, state: int) -> Listing:
        return Listing("ListApplications", name, lambda token: sharing.ListApplications(
            sharing_pb2.ListApplicationsRequest(state=state, page_size=PAGE_SIZE, page_token=token),
            metadata=metadata, timeout=60),
            'SELECT seq FROM "authorization".applications WHERE ($2 = 0 OR state = $2) AND $3 = \'\''
            " ORDER BY seq DESC OFFSET $1 LIMIT 1", lambda row: encode_token({"after": row["seq"]}))

    def access_list(name: str, resource: str, department: str) -> Listing:
        return Listing("ListAccesses", name, lambda token: audit.ListAccesses(audit_pb2.ListAccessesRequest(
            resource_code=resource, department_code=department, page_size=PAGE_SIZE, page_token=token),
            metadata=metadata, timeout=60),
            "SELECT time, id FROM query.access_log WHERE ($2 = '' OR resource_code = $2)"
            " AND ($3 = '' OR department_code = $3) ORDER BY time DESC, id DESC OFFSET $1 LIMIT 1",
            lambda row: time_keyset_token(row["time"], row["id"]))

    found = [entries("none", ""), entries("provider", provider), entries("provider, no match", NOBODY),
             applications("none", 0), applications("state", 2), applications("state, no match", 6),
             grants("none", 0, ""), grants("state", 2, ""), grants("resource", 0, "399000/000007"),
             grants("resource, no match", 0, "399999/999999")]
    if accesses:
        found += [access_list("none", "", ""), access_list("resource", "300007/000001", ""),
                  access_list("resource, no match", "399999/999999", ""),
                  access_list("department", "", department_code(100)),
                  access_list("department, no match", "", NOBODY)]
    return found


async def pages_by_depth(url: str, channel: grpc.aio.Channel, metadata: tuple, repeat: int,
                         accesses: bool) -> list[dict[str, object]]:
    conn = await asyncpg.connect(url)
    results: list[dict[str, object]] = []
    try:
        for listing, args in zip(listings(channel, metadata, accesses), _filter_args(accesses), strict=True):
            count = await conn.fetchval(
                f"SELECT count(*) FROM ({listing.key_sql.replace('LIMIT 1', '')}) s", 0, *args)
            last = max(1, (count - 1) // PAGE_SIZE + 1)
            row: dict[str, object] = {"listing": listing.name, "filter": listing.filter, "rows": count}
            for label, page in (("1", 1), ("100", 100), ("1000", 1000), ("last", last)):
                if page > last:
                    row[label] = None
                    continue
                token = ""
                if page > 1:
                    key = await conn.fetchrow(listing.key_sql, (page - 1) * PAGE_SIZE - 1, *args)
                    token = listing.token(key)
                try:
                    await listing.call(token)  # type: ignore[misc]  # untimed: connections and caches warm
                    timings = []
                    for _ in range(repeat):
                        began = time.perf_counter()
                        response = await listing.call(token)  # type: ignore[misc]
                        timings.append((time.perf_counter() - began) * 1000)
                except grpc.aio.AioRpcError as error:  # what a caller would get (before issue 14: INTERNAL…)
                    row[label] = error.code().name
                    continue
                expected = max(0, min(PAGE_SIZE, count - (page - 1) * PAGE_SIZE))
                shown = len(getattr(response, _ITEMS[listing.name]))
                # Demo entries and drafts share the tables: the last page's size is only about what counting said.
                assert shown == expected if label != "last" else shown <= PAGE_SIZE, (listing.name, label, shown)
                row[label] = round(percentile(timings, 0.95), 1)
            results.append(row)
            print(_format_row(row), flush=True)
    finally:
        await conn.close()
    return results


_ITEMS = {"ListEntries": "entries", "ListGrants": "grants", "ListApplications": "applications",
          "ListAccesses": "accesses"}


def _filter_args(accesses: bool) -> list[list[object]]:
    """key_sql's $2.. for each listing of listings(), in the same order."""
    provider = department_code(200)
    found: list[list[object]] = [[""], [provider], [NOBODY], [0, ""], [2, ""], [6, ""], [0, ""], [2, ""],
                                 [0, "399000/000007"], [0, "399999/999999"]]
    if accesses:
        found += [["", ""], ["300007/000001", ""], ["399999/999999", ""], ["", department_code(100)], ["", NOBODY]]
    return found


HEADER = f"{'listing':<18}{'filter':<22}{'rows':>10}{'p1 ms':>9}{'p100 ms':>9}{'p1000 ms':>10}{'last ms':>9}"


def _format_row(row: dict[str, object]) -> str:
    def cell(value: object, width: int) -> str:
        return f"{'—' if value is None else value:>{width}}"

    return (f"{row['listing']:<18}{row['filter']:<22}{row['rows']:>10,}{cell(row['1'], 9)}{cell(row['100'], 9)}"
            f"{cell(row['1000'], 10)}{cell(row['last'], 9)}")


# -- Query under heavy readers ---------------------------------------------------------------------------------------


async def query_latencies(gateway: str, metadata: tuple, requests: list[bytes], clients: int,
                          seconds: float) -> list[float]:
    timings: list[float] = []
    stop = time.perf_counter() + seconds
    async with grpc.aio.insecure_channel(gateway) as channel:
        call = channel.unary_unary(QUERY_METHOD)

        async def client(offset: int) -> None:
            n = offset
            while time.perf_counter() < stop:
                began = time.perf_counter()
                await call(requests[n % len(requests)], metadata=metadata, timeout=30)
                timings.append((time.perf_counter() - began) * 1000)
                n += clients

        await asyncio.gather(*(client(i) for i in range(clients)))
    return timings


def reader_target(platform: Platform, kind: str, direct: bool) -> str:
    """Where a reader calls: the edge, or (``direct``) the process that serves its kind of read — the heavy-read
    process when the platform has them — so that its traffic shares nothing with the Queries but the cores and
    PostgreSQL (the edge's worker thread is what it then skips)."""
    if not direct:
        return platform.gateway
    component = "query" if kind == "accesses" else "catalog"
    offset = HEAVY_READ_OFFSETS[component] if platform.heavy_read_processes else OFFSETS[component]
    return f"127.0.0.1:{platform.port_base + offset}"


async def heavy_client(gateway: str, token: str, kind: str, seconds: float) -> None:
    """One reader at full speed: ``search`` (common words), ``entries`` or ``accesses`` (walking pages)."""
    metadata = (("authorization", f"Bearer {token}"),)
    stop = time.perf_counter() + seconds
    calls = refused = 0
    async with grpc.aio.insecure_channel(gateway) as channel:
        catalog = catalog_pb2_grpc.CatalogServiceStub(channel)
        audit = audit_pb2_grpc.AuditServiceStub(channel)
        words, page_token, walks = ("信息", "人口", "共享", "目录"), "", 0
        while time.perf_counter() < stop:
            if not page_token:
                walks += 1  # a new walk (a search with the next word) starts from its first page
            try:
                if kind == "search":
                    reply = await catalog.SearchEntries(catalog_pb2.SearchEntriesRequest(
                        query=words[walks % len(words)], page_size=PAGE_SIZE, page_token=page_token),
                        metadata=metadata, timeout=60)
                elif kind == "entries":
                    reply = await catalog.ListEntries(catalog_pb2.ListEntriesRequest(
                        page_size=1000, page_token=page_token), metadata=metadata, timeout=60)
                else:
                    reply = await audit.ListAccesses(audit_pb2.ListAccessesRequest(
                        page_size=1000, page_token=page_token), metadata=metadata, timeout=60)
                page_token = reply.next_page_token if calls % 20 else ""
            except grpc.aio.AioRpcError as error:
                refused += 1
                page_token = ""
                if error.code() not in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.UNAVAILABLE,
                                        grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED):
                    raise
            calls += 1
    print(json.dumps({"heavy": kind, "calls": calls, "refused": refused}), flush=True)


def _idle(pid: int) -> bool:
    """Puts every thread of ``pid`` under SCHED_IDLE: run only when no normal task wants the CPU, and preempted at
    once when one wakes (a positive nice level only lowers the share: under the kernel's EEVDF scheduler a waking
    nice-0 task may still wait out the running niced task's slice). Whether it was done."""
    try:
        tasks = [int(task) for task in os.listdir(f"/proc/{pid}/task")]
    except FileNotFoundError:
        return False
    for task in tasks:
        try:
            os.sched_setscheduler(task, os.SCHED_IDLE, os.sched_param(0))
        except (ProcessLookupError, PermissionError):
            continue
    return True


def _idle_self() -> None:
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def idle_niced_children(parent: int) -> int:
    """SCHED_IDLE for the niced processes ``govshare up`` started (its heavy-read processes). How many."""
    done = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == parent and int(fields[16]) > 0 and _idle(int(entry)):
            done += 1
    return done


async def renice_heavy_backends(url: str, nice: int, idle: bool = False) -> int:
    """Lowers the CPU priority of PostgreSQL's backends serving the listing and search pools (their
    ``application_name``): on one machine, the emulation of a read replica on its own CPU
    (GOVSHARE_DATABASE_READ_URL). How many were reniced."""
    conn = await asyncpg.connect(url)
    try:
        pids = [row["pid"] for row in await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'govshare-%-listing'"
            " OR application_name LIKE 'govshare-%-search'")]
    finally:
        await conn.close()
    done = 0
    for pid in pids:
        try:
            os.setpriority(os.PRIO_PROCESS, pid, nice)
            if idle:
                _idle(pid)
            done += 1
        except (ProcessLookupError, PermissionError):
            continue
    return done


async def _keep_renicing(url: str, nice: int, idle: bool = False) -> None:
    """Renices the heavy pools' backends every second: the pools open connections as the readers need them."""
    while True:
        await renice_heavy_backends(url, nice, idle)
        await asyncio.sleep(1)


async def query_under_readers(platform: Platform, clients: int, seconds: float, nice: int = 0,
                              nice_database: bool = False, idle: bool = False,
                              readers_direct: bool = False) -> dict[str, object]:
    assert platform.credentials is not None
    metadata = await platform.bearer("social")
    requests = hot_requests(platform.credentials.persons, platform.credentials.seed)
    distinct = list(dict.fromkeys(requests))
    async with grpc.aio.insecure_channel(platform.gateway) as channel:
        call = channel.unary_unary(QUERY_METHOD)
        for request in distinct:  # primed: every Query below is a cache hit
            for attempt in range(5):  # a platform just started on a big catalog may be slow to answer at first
                try:
                    await call(request, metadata=metadata, timeout=30)
                    break
                except grpc.aio.AioRpcError as error:
                    if error.code() != grpc.StatusCode.UNAVAILABLE or attempt == 4:
                        raise
                    await asyncio.sleep(2)
    if idle and platform.process is not None:
        print(json.dumps({"heavy-read processes under SCHED_IDLE": idle_niced_children(platform.process.pid)}),
              flush=True)
    alone = await query_latencies(platform.gateway, metadata, requests, clients, seconds)
    token = await platform.token("authority")
    # The readers stand for clients on other machines: with ``nice`` they run at that lower CPU priority, so that
    # on this one machine they take the CPU the platform leaves rather than the platform's (say so when quoting).
    readers = [await asyncio.create_subprocess_exec(
        sys.executable, "-m", "loadtest.paging_bench", "--heavy", kind,
        "--gateway", reader_target(platform, kind, readers_direct),
        "--token", token, "--seconds", str(seconds + 5),
        preexec_fn=(lambda: (os.nice(nice), idle and _idle_self())) if nice else None)
        for kind in ("search", "entries", "accesses")]
    await asyncio.sleep(3)  # the readers are at full speed
    renicing = (asyncio.ensure_future(_keep_renicing(platform.database_url, nice, idle)) if nice and nice_database
                else None)
    loaded = await query_latencies(platform.gateway, metadata, requests, clients, seconds)
    if renicing is not None:
        renicing.cancel()
    for reader in readers:
        await reader.wait()
    summary = {name: {"calls": len(t), "p50_ms": round(percentile(t, 0.5), 2), "p99_ms": round(percentile(t, 0.99), 2)}
               for name, t in (("alone", alone), ("with 3 heavy readers", loaded))}
    summary["p99 ratio"] = round(summary["with 3 heavy readers"]["p99_ms"] / summary["alone"]["p99_ms"], 2)
    return summary


# -- the run ---------------------------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="gspaging-"))
    platform = Platform(args.reuse or work / "platform", persons=args.persons,
                        heavy_read_processes=args.heavy_read_processes, heavy_read_nice=args.nice)
    took: dict[str, float] = {}
    try:
        print("starting the platform…", flush=True)
        await platform.start(wait_seconds=900)
        if not args.reuse:
            print(f"filling: {args.entries:,} entries, {args.sharing:,} applications and grants, "
                  f"{args.accesses:,} access rows…", flush=True)
            took = await fill(platform.database_url, args.entries, args.sharing, args.accesses)
        print(json.dumps({"fill_seconds": {k: round(v, 1) for k, v in took.items()}}), flush=True)
        metadata = await platform.bearer("authority")
        pages: list[dict[str, object]] = []
        if args.phase in ("all", "pages"):
            print(HEADER, flush=True)
            async with grpc.aio.insecure_channel(platform.gateway) as channel:
                pages = await pages_by_depth(platform.database_url, channel, metadata, args.repeat,
                                             args.accesses > 0)
        if args.phase == "pages":
            return {"pages_p95_ms": pages}
        print("cached Queries alone, then with three heavy readers…", flush=True)
        queries = await query_under_readers(platform, args.query_clients, args.seconds, args.nice,
                                            args.nice_database, args.idle, args.readers_direct)
        print(json.dumps(queries), flush=True)
    finally:
        await platform.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return {"time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "entries": args.entries,
            "sharing": args.sharing, "accesses": args.accesses, "page_size": PAGE_SIZE, "repeat": args.repeat,
            "fill_seconds": took, "pages_p95_ms": pages, "query": queries}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m loadtest.paging_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=non_negative(int), default=1_000_000)
    parser.add_argument("--sharing", type=non_negative(int), default=100_000, help="applications, and as many grants")
    parser.add_argument("--accesses", type=non_negative(int), default=10_000_000)
    parser.add_argument("--persons", type=positive(int), default=10_000)
    parser.add_argument("--repeat", type=positive(int), default=20, help="calls per page (p95 over them)")
    parser.add_argument("--query-clients", type=positive(int), default=4)
    parser.add_argument("--seconds", type=positive(float), default=20.0, help="per Query phase")
    parser.add_argument("--keep", action="store_true", help="keep the platform's data directory")
    parser.add_argument("--out", type=Path, help="also write the JSON result here")
    parser.add_argument("--reuse", type=Path, help="the platform data directory of an earlier run with --keep: "
                        "start on it without filling again (its sizes are what that run filled)")
    parser.add_argument("--phase", choices=("all", "pages", "readers"), default="all",
                        help="run only the pages by depth, or only Query beside the heavy readers")
    parser.add_argument("--heavy-read-processes", action="store_true",
                        help="start the platform with listings and searches served by processes of their own")
    parser.add_argument("--nice", type=non_negative(int), default=0, metavar="N",
                        help="run the heavy readers (and the heavy-read processes) at this nice level: on one "
                             "machine, emulates their own CPU (clients elsewhere, other pods)")
    parser.add_argument("--idle", action="store_true",
                        help="with --nice, also run the readers, the heavy-read processes (and, with "
                             "--nice-database, the listing backends) under SCHED_IDLE: strict lowest priority")
    parser.add_argument("--nice-database", action="store_true",
                        help="with --nice, also the PostgreSQL backends of the listing and search pools (emulates "
                             "a read replica on its own CPU)")
    parser.add_argument("--readers-direct", action="store_true",
                        help="the readers call the catalog and query processes (the heavy-read ones with "
                             "--heavy-read-processes) directly, not through the edge: what the Queries then share "
                             "with them is the cores and PostgreSQL, not the edge's worker thread")
    parser.add_argument("--heavy", choices=("search", "entries", "accesses"), help=argparse.SUPPRESS)
    parser.add_argument("--gateway", help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.heavy:
        asyncio.run(heavy_client(args.gateway, args.token, args.heavy, args.seconds))
        return
    result = asyncio.run(run(args))
    text = json.dumps(result, default=str)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
