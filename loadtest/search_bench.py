"""Benchmark: catalog search (SearchEntries) over 10^4 and 10^6 entries, through the edge (issue 13).

    python -m loadtest.search_bench                       # 10^4, then 10^6, in one run
    python -m loadtest.search_bench --sizes 10000 --rounds 20

For each size, in a data directory of its own (kept with ``--data-dir``, and then only completed by a rerun):

1. the embedded PostgreSQL is started alone, migrated, and the entries are bulk-loaded with COPY, each row
   made by the catalog's own code (``store._row`` of an Entry and ``search.document_of``: the normalised text,
   grams and jieba words the service stores when it writes a version; jieba's cuts are memoised per text,
   which changes nothing but the time the load takes);
2. ``govshare up`` starts the platform on that database (the demo seeded once), the catalog builds its
   search index from PostgreSQL (the build time is read from its log), and the run waits until search answers;
3. a fixed query set is sent through the edge (Envoy, the platform's gateway port) by a department's system
   with a real bearer token, one call at a time: ``rare``, ``mid``, ``common`` words, ``two`` words,
   ``filter`` (a word and a filter), ``none`` (no match); p50/p95 per class.

Prints a table per size and one JSON object at the end. The 10^6 size is heavy (several minutes of load and
a catalog index of a few hundred MiB): run it on a machine otherwise idle, or say that it was not.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import functools
import json
import random
import re
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import grpc
from stdnum.cn import uscc

from govshare.catalog.v1 import catalog_pb2 as pb
from govshare.catalog.v1 import catalog_pb2_grpc
from loadtest.platform import Platform
from loadtest.stats import nearest_rank
from services.arguments import positive
from services.catalog import search
from services.catalog.model import (
    Category,
    DataItem,
    DataType,
    Endpoint,
    Entry,
    EntryState,
    FormatClass,
    Secrecy,
    ShareType,
    UpdateCycle,
    Zone,
)
from services.catalog.store import _WRITE_COLUMNS, _row
from services.runtime import db
from services.runtime.embedded import EmbeddedServers

SIZES = (10_000, 1_000_000)
#: The query set: class → (query, filter) pairs, each sent ``rounds`` times.
QUERIES: dict[str, list[tuple[str, dict[str, object]]]] = {
    "rare": [("渔船", {}), ("古树名木", {}), ("地下管线", {})],
    "mid": [("不动产", {}), ("公积金", {}), ("医保", {})],
    "common": [("信息", {}), ("数据", {}), ("登记", {})],
    "two": [("人口 信息", {}), ("企业 登记", {}), ("社保 缴费", {})],
    "filter": [("信息", {"category": pb.CATEGORY_THEME}), ("登记", {"update_cycle": pb.UPDATE_CYCLE_MONTHLY}),
               ("数据", {"share_type": int(ShareType.CONDITIONAL)})],
    "none": [("量子纠缠", {}), ("火星基地", {}), ("恐龙化石", {})],
}
REGIONS = ["北京市", "天津市", "河北省", "山西省", "内蒙古自治区", "辽宁省", "吉林省", "黑龙江省", "上海市", "江苏省",
           "浙江省", "安徽省", "福建省", "江西省", "山东省", "河南省", "湖北省", "湖南省", "广东省", "广西壮族自治区",
           "海南省", "重庆市", "四川省", "贵州省", "云南省", "西藏自治区", "陕西省", "甘肃省", "青海省",
           "宁夏回族自治区", "新疆维吾尔自治区", "石家庄市", "太原市", "沈阳市",
           "长春市", "南京市", "杭州市", "合肥市", "福州市", "南昌市"]
#: Subjects with their weights: common, mid (about 1%), rare (about 1 in 10^4).
COMMON_SUBJECTS = ["人口", "法人", "企业", "社保", "税务", "户籍", "就业", "教育", "卫生", "交通", "环境", "农业",
                   "工商", "质监", "民政", "住房", "水利", "林业", "气象", "统计", "审计", "司法", "文化", "体育"]
MID_SUBJECTS = ["不动产", "公积金", "医保", "婚姻", "车辆", "低保", "养老", "残疾人", "退役军人", "危化品"]
RARE_SUBJECTS = ["渔船", "古树名木", "地下管线", "文物", "地震台站"]
SUFFIXES = ["基础信息", "登记信息", "统计数据", "业务数据", "目录", "台账", "明细", "汇总表", "档案", "清单",
            "变更记录", "许可信息"]
PHRASES = ["登记与变更数据", "统计汇总信息", "业务办理记录", "审批结果", "基础台账", "监管检查记录", "缴费明细",
           "服务事项信息", "资质与许可", "年度报告", "空间分布数据", "电子证照", "信用记录", "执法记录", "补贴发放"]
ITEM_SETS = [
    [("统一社会信用代码", "credit_code"), ("名称", "name"), ("登记日期", "registered")],
    [("公民身份号码", "citizen_id"), ("姓名", "person_name"), ("出生日期", "birth_date")],
    [("行政区划代码", "division"), ("地址", "address"), ("坐标", "coordinates")],
    [("证照编号", "licence_no"), ("发证机关", "issuer"), ("有效期", "valid_until")],
    [("缴费基数", "base"), ("缴费月份", "month"), ("缴费金额", "amount")],
]
CYCLES = [UpdateCycle.REALTIME, UpdateCycle.DAILY, UpdateCycle.WEEKLY, UpdateCycle.MONTHLY, UpdateCycle.QUARTERLY]
DEPARTMENTS = 500
DRAFT_SHARE = 0.03
LOAD_BATCH = 20_000
#: Indexes dropped for the load and built again after it (faster than maintaining them row by row).
LOAD_INDEXES = {
    "entry_versions_state_idx": "CREATE INDEX entry_versions_state_idx ON entry_versions (state, code, version)",
    "entry_versions_project_idx": "CREATE INDEX entry_versions_project_idx ON entry_versions (project_code) "
                                  "WHERE project_code <> ''",
    "entry_versions_grams_idx": "CREATE INDEX entry_versions_grams_idx ON entry_versions USING gin (search_grams)",
    "entry_versions_update_time_idx": "CREATE INDEX entry_versions_update_time_idx ON entry_versions (update_time)",
}
BUILT = re.compile(r"search index built: (\d+) entries in ([0-9.]+)s")


def departments(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    codes = []
    for _ in range(count):
        body = "11" + "110000" + "".join(rng.choice(chars) for _ in range(9))
        codes.append(body + uscc.calc_check_digit(body))
    return codes


def _subject(rng: random.Random) -> str:
    draw = rng.random()
    if draw < 5e-4:
        return rng.choice(RARE_SUBJECTS)
    if draw < 0.1:
        return rng.choice(MID_SUBJECTS)
    return rng.choice(COMMON_SUBJECTS)


def entries(start: int, stop: int, seed: int = 1) -> Iterator[Entry]:
    """Entries number ``start`` to ``stop`` - 1 (deterministic: the same number is the same entry)."""
    depts = departments(DEPARTMENTS)
    now = dt.datetime.now(dt.UTC)
    for number in range(start, stop):
        rng = random.Random(seed * 10_000_019 + number)
        region, subject = rng.choice(REGIONS), _subject(rng)
        category = rng.choice((Category.FOUNDATION, Category.THEME, Category.DEPARTMENT))
        # Long-form codes (a 999 sub-class): never one of the demo's.
        code = f"{int(category)}{number % 100:02d}{(number // 100) % 1000:03d}999/{number % 10**6:06d}"
        items = rng.choice(ITEM_SETS)
        conditional = rng.random() < 0.3
        published = rng.random() >= DRAFT_SHARE
        when = now - dt.timedelta(seconds=rng.randrange(5 * 365 * 86400))
        yield Entry(
            code=code, name=f"{region}{subject}{rng.choice(SUFFIXES)}",
            summary=f"{subject}{rng.choice(PHRASES)}，按{rng.choice(('日', '月', '季度', '年'))}更新",
            category=int(category), subject=subject, provider_department_code=rng.choice(depts),
            provider_name=f"{region}{subject}主管部门", format_class=int(FormatClass.DATABASE), format_type="JSON",
            items=[DataItem(name=n, machine_name=m, data_type=int(DataType.CHARACTER), length=64)
                   for n, m in items],
            key_item=items[0][1], share_type=int(ShareType.CONDITIONAL if conditional else ShareType.UNCONDITIONAL),
            share_condition="仅用于政务服务" if conditional else "", share_methods=[1], legal_basis="",
            open_to_public=False, open_condition="", update_cycle=int(rng.choice(CYCLES)), related_codes=[],
            zone=int(Zone.EXTRANET), secrecy=int(Secrecy.NON_CLASSIFIED),
            endpoint=Endpoint(target="", dataset=f"bench_{number}"), project_code="",
            state=int(EntryState.PUBLISHED if published else EntryState.DRAFT), version=1,
            publish_time=when if published else None, create_time=when, update_time=when)


async def load(url: str, start: int, stop: int) -> float:
    """Bulk-loads entries ``start`` .. ``stop`` - 1; returns the seconds it took."""
    began = time.perf_counter()
    # jieba's cuts memoised per text: names and summaries repeat across a million entries.
    if not hasattr(search.words, "cache_info"):
        search.words = functools.lru_cache(maxsize=500_000)(search.words)  # type: ignore[method-assign]
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SET search_path TO catalog, public")
        for name in LOAD_INDEXES:
            await conn.execute(f"DROP INDEX IF EXISTS {name}")
        heads: list[tuple] = []
        versions: list[tuple] = []
        done = start
        for entry in entries(start, stop):
            document = search.document_of(entry.name, entry.summary, [item.name for item in entry.items])
            versions.append(_row(entry, document))
            heads.append((entry.code, entry.provider_department_code, 1,
                          1 if entry.publish_time is not None else None, entry.create_time))
            if len(versions) >= LOAD_BATCH:
                await _copy(conn, heads, versions)
                done += len(versions)
                heads, versions = [], []
                print(f"    {done:,} rows, {time.perf_counter() - began:.0f}s", flush=True)
        if versions:
            await _copy(conn, heads, versions)
        await conn.execute("SET maintenance_work_mem = '256MB'")
        for statement in LOAD_INDEXES.values():
            await conn.execute(statement)
        await conn.execute("ANALYZE entries")
        await conn.execute("ANALYZE entry_versions")
    finally:
        await conn.close()
    return time.perf_counter() - began


async def _copy(conn: asyncpg.Connection, heads: list[tuple], versions: list[tuple]) -> None:
    async with conn.transaction():
        await conn.copy_records_to_table("entries", schema_name="catalog", records=heads, columns=(
            "code", "provider_department_code", "latest_version", "public_version", "create_time"))
        await conn.copy_records_to_table("entry_versions", schema_name="catalog", records=versions,
                                         columns=_WRITE_COLUMNS)


async def _present(url: str) -> int:
    """How many of the benchmark's entries the database holds (they are numbered from 0, loaded in order)."""
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(r"SELECT count(*) FROM catalog.entries WHERE code ~ '^[1-3][0-9]{5}999/'")
    finally:
        await conn.close()


@dataclass
class ClassResult:
    name: str
    samples: list[float]
    found: int

    @property
    def p50(self) -> float:
        return statistics.median(self.samples) * 1000

    @property
    def p95(self) -> float:
        return nearest_rank(self.samples, 0.95) * 1000


async def until_ready(stub: catalog_pb2_grpc.CatalogServiceStub, metadata: tuple, limit: float) -> float:
    """Seconds until a search answers (UNAVAILABLE while the index builds)."""
    began = time.perf_counter()
    while True:
        try:
            await stub.SearchEntries(pb.SearchEntriesRequest(query="信息", page_size=1), metadata=metadata,
                                     timeout=30)
            return time.perf_counter() - began
        except grpc.aio.AioRpcError as error:
            # UNAVAILABLE while the index builds; a deadline when the machine is too busy to answer in time.
            waiting = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
            if error.code() not in waiting or time.perf_counter() - began > limit:
                raise
            if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                print(f"    a search took over 30 s, {time.perf_counter() - began:.0f}s after start", flush=True)
            await asyncio.sleep(0.5)


async def run_queries(stub: catalog_pb2_grpc.CatalogServiceStub, metadata: tuple, rounds: int) -> list[ClassResult]:
    results = []
    for name, queries in QUERIES.items():
        for query, filters in queries:  # warm-up: one of each
            await stub.SearchEntries(pb.SearchEntriesRequest(query=query, filter=pb.EntryFilter(**filters)),
                                     metadata=metadata, timeout=30)
        samples: list[float] = []
        found = 0
        for _ in range(rounds):
            for query, filters in queries:
                request = pb.SearchEntriesRequest(query=query, filter=pb.EntryFilter(**filters), page_size=20)
                began = time.perf_counter()
                response = await stub.SearchEntries(request, metadata=metadata, timeout=30)
                samples.append(time.perf_counter() - began)
                found = max(found, len(response.entries))
        results.append(ClassResult(name, samples, found))
    return results


def catalog_rss_mib(platform: Platform) -> float | None:
    """Resident memory of the platform's catalog process (its search index with it)."""
    assert platform.process is not None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if f"PPid:\t{platform.process.pid}\n" not in (proc / "status").read_text():
                continue
            if (proc / "cmdline").read_bytes().split(b"\0")[3:5] != [b"serve", b"catalog"]:
                continue
            for line in (proc / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            continue
    return None


async def measure_size(data_dir: Path, loaded: int, size: int, rounds: int) -> dict[str, object]:
    servers = await asyncio.to_thread(EmbeddedServers(data_dir).start, True, False)
    try:
        await db.migrate_all(servers.database_url)
        # A kept data directory (--data-dir) already holds the entries of an earlier run: load only the rest.
        loaded = max(loaded, await _present(servers.database_url))
        print(f"  loading entries {loaded:,} to {size:,}…", flush=True)
        load_seconds = await load(servers.database_url, loaded, size) if loaded < size else 0.0
    finally:
        await asyncio.to_thread(servers.stop)
    print(f"  loaded in {load_seconds:.0f}s; starting the platform…", flush=True)
    platform = Platform(data_dir, persons=1000)
    await platform.start()
    try:
        system = next(key for key, entry in platform.credentials.systems.items()  # type: ignore[union-attr]
                      if key != "authority")
        metadata = await platform.bearer(system)
        async with grpc.aio.insecure_channel(platform.gateway) as channel:
            stub = catalog_pb2_grpc.CatalogServiceStub(channel)
            ready = await until_ready(stub, metadata, limit=1800)
            built = BUILT.findall(platform.log_path.read_text(encoding="utf-8", errors="replace"))
            print(f"  search ready {ready:.0f}s after the platform; querying through the edge…", flush=True)
            results = await run_queries(stub, metadata, rounds)
        rss = catalog_rss_mib(platform)
    finally:
        await platform.stop()
    return {"entries": size, "load_seconds": round(load_seconds, 1),
            "index_build": {"entries": int(built[-1][0]), "seconds": float(built[-1][1])} if built else None,
            "catalog_rss_mib": round(rss, 1) if rss else None,
            "classes": {r.name: {"p50_ms": round(r.p50, 2), "p95_ms": round(r.p95, 2), "calls": len(r.samples),
                                 "first_page": r.found} for r in results}}


def print_table(result: dict[str, object]) -> None:
    print(f"\n{result['entries']:,} entries (load {result['load_seconds']}s, index {result['index_build']}, "
          f"catalog RSS {result['catalog_rss_mib']} MiB)")
    print(f"  {'class':<8} {'p50 ms':>8} {'p95 ms':>8} {'calls':>6} {'found':>6}")
    for name, figures in result["classes"].items():  # type: ignore[union-attr]
        print(f"  {name:<8} {figures['p50_ms']:>8.1f} {figures['p95_ms']:>8.1f} {figures['calls']:>6} "
              f"{figures['first_page']:>6}")


async def main(sizes: list[int], rounds: int, keep: Path | None) -> None:
    data_dir = keep or Path(tempfile.mkdtemp(prefix="govshare-search-bench-"))
    results = []
    try:
        for size in sorted(sizes):
            print(f"{size:,} entries", flush=True)
            # A database per size, so a kept one (--data-dir) is reused as it is by the next run.
            results.append(await measure_size(data_dir / f"entries-{size}", 0, size, rounds))
            print_table(results[-1])
    finally:
        if keep is None:
            shutil.rmtree(data_dir, ignore_errors=True)
    print(json.dumps({"target_p95_ms": 50, "results": results}, ensure_ascii=False))


def _sizes(text: str) -> list[int]:
    """Entry counts, comma-separated, each a whole number above 0 (checked before the catalog is loaded)."""
    count = positive(int)
    return [count(size.strip()) for size in text.split(",") if size.strip()] or [count(text)]


def build_parser() -> argparse.ArgumentParser:
    """The options, checked before anything starts: --rounds 0 loaded the catalog, then failed on the median of
    no samples; a size that is not a number was a ValueError traceback."""
    parser = argparse.ArgumentParser(prog="python -m loadtest.search_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=_sizes, default=list(SIZES), help="entry counts, comma-separated")
    parser.add_argument("--rounds", type=positive(int), default=40, help="times each query of the set is sent")
    parser.add_argument("--data-dir", type=Path, help="keep the data directory here (default: a temporary one)")
    return parser


def cli() -> None:
    args = build_parser().parse_args()
    asyncio.run(main(args.sizes, args.rounds, args.data_dir))


if __name__ == "__main__":
    cli()
