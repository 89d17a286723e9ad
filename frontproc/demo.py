"""The demo department: 市人力资源和社会保障局 sharing 社会保险参保信息 through its own 前置机.

`govshare up` (and the end-to-end test) uses it: a database of the department's own on the embedded
PostgreSQL (not the platform's), a table of enrolments for the demo population, the 前置机's configuration
file, and the catalog entry naming the 前置机 as its endpoint, created and submitted by the department's own
system and published by the authority once the 前置机 answers for it.
"""

from __future__ import annotations

import datetime as dt
import random
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import grpc
from google.protobuf import field_mask_pb2

from frontproc.register import latest_version
from govshare.catalog.v1 import catalog_pb2 as cat
from govshare.catalog.v1 import catalog_pb2_grpc
from govshare.common.v1 import common_pb2 as common
from services.demo import DEPARTMENTS, DemoCredentials, _item, issue_token, person_session
from services.foundation.synthetic import persons

SOCIAL = next(department for department in DEPARTMENTS if department.key == "social")
RESOURCE_CODE = "202001/000001"
DATASET = "social_insurance"
DATABASE_NAME = "govshare_dept_hrss"
TABLE = "si_enrolment"
#: Persons enrolled in the demo table: the first of the demo population (at most this many).
DEMO_ENROLMENTS = 20_000

SOCIAL_INSURANCE_ITEMS = [
    _item("公民身份号码", "citizen_id", 18, sensitive=True, mask="citizen_id",
          identifier=cat.IDENTIFIER_KIND_CITIZEN_ID),
    _item("姓名", "name", 50, sensitive=True, mask="name"),
    _item("险种", "insurance_type", 20),
    _item("参保状态", "status", 10),
    _item("参保日期", "enrolment_date", 10, data_type=cat.DATA_TYPE_DATE),
    _item("参保单位", "employer", 200),
    _item("缴费基数", "contribution_base", 20, data_type=cat.DATA_TYPE_CURRENCY),
]

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    sfzhm text PRIMARY KEY,
    xm text NOT NULL,
    xz text NOT NULL,
    cbzt text NOT NULL,
    cbrq date NOT NULL,
    cbdw text,
    jfjs numeric(12, 2),
    gxsj timestamptz NOT NULL DEFAULT now()
)
"""
#: The department's own trigger: every changed row is announced on WATCH_CHANNEL with its key (frontproc.watch).
WATCH_CHANNEL = "si_changed"
_TRIGGER = f"""
CREATE OR REPLACE FUNCTION si_enrolment_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- TRUNCATE (a nightly reload) fires no row trigger: an empty payload says every record may have changed.
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('{WATCH_CHANNEL}', '');
        RETURN NULL;
    END IF;
    -- Both keys of an UPDATE that changes the key: the old one no longer has this row (a corrected 身份证号).
    IF TG_OP <> 'INSERT' THEN
        PERFORM pg_notify('{WATCH_CHANNEL}', OLD.sfzhm::text);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM pg_notify('{WATCH_CHANNEL}', NEW.sfzhm::text);
    END IF;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS si_enrolment_changed ON {TABLE};
CREATE TRIGGER si_enrolment_changed AFTER INSERT OR UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION si_enrolment_changed();
DROP TRIGGER IF EXISTS si_enrolment_truncated ON {TABLE};
CREATE TRIGGER si_enrolment_truncated AFTER TRUNCATE ON {TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION si_enrolment_changed();
"""
_INSURANCE = ("城镇职工基本养老保险", "城乡居民基本养老保险", "职工基本医疗保险", "失业保险")
_EMPLOYERS = ("北京市某科技有限公司", "北京市某商贸有限公司", "北京市某区人民医院", "北京市某中学", None)


def social_insurance_entry(endpoint: str) -> cat.Entry:
    """The catalog entry: a conditional theme resource read from the department's 前置机 at ``endpoint``."""
    return cat.Entry(
        code=RESOURCE_CODE, name="社会保险参保信息",
        summary="社会保障主题库：参保人员的险种、参保状态、参保日期、参保单位与缴费基数，由市人社局前置机提供。",
        category=cat.CATEGORY_THEME, subject="社会保障", provider_department_code=SOCIAL.code,
        provider_name=SOCIAL.name, format_class=cat.FORMAT_CLASS_DATABASE, format_type="关系型数据库",
        items=SOCIAL_INSURANCE_ITEMS, key_item="citizen_id", share_type=common.SHARE_TYPE_CONDITIONAL,
        share_condition="用于社会救助、就业服务等法定职责范围内的参保核查，须经市人社局审核同意",
        share_methods=[common.SHARE_METHOD_ONLINE_QUERY], update_cycle=cat.UPDATE_CYCLE_REALTIME,
        zone=common.ZONE_EXTRANET, secrecy=cat.SECRECY_NON_CLASSIFIED,
        endpoint=cat.ProviderEndpoint(target=endpoint, dataset=DATASET))


async def prepare_database(database_url: str, count: int = DEMO_ENROLMENTS, seed: int = 42) -> int:
    """Creates the department's table and enrols the first ``count`` demo persons (idempotent)."""
    rng = random.Random(seed)
    rows = []
    for person in persons(count, seed):
        rows.append((person["citizen_id"], person["name"], rng.choice(_INSURANCE), rng.choice(("参保缴费", "暂停缴费")),
                     dt.date(2005, 1, 1) + dt.timedelta(days=rng.randrange(7000)), rng.choice(_EMPLOYERS),
                     round(rng.uniform(3000, 30000), 2)))
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(_SCHEMA)
        await connection.executemany(
            f"INSERT INTO {TABLE} (sfzhm, xm, xz, cbzt, cbrq, cbdw, jfjs) VALUES ($1, $2, $3, $4, $5, $6, $7) "
            "ON CONFLICT (sfzhm) DO NOTHING", rows)
        await connection.execute(_TRIGGER)
    finally:
        await connection.close()
    return len(rows)


def config_text(database_url_file: str, listen: str, public_keys_file: str, access_log: str, edge: str = "",
                system_id: str = "", secret_file: str = "") -> str:
    """The 前置机's configuration file for the demo (the form docs/frontproc.md documents)."""
    platform = f"""platform:
  public_keys_file: {public_keys_file}
"""
    if edge:
        platform += f"""  edge: {edge}
  system_id: {system_id}
  secret_file: {secret_file}
"""
    return f"""# 市人力资源和社会保障局 前置机 (govshare demo)
department:
  code: {SOCIAL.code}
  name: {SOCIAL.name}
listen: {listen}
database:
  backend: postgresql
  url_file: {database_url_file}
{platform}access_log: {access_log}
rate_limit:
  per_second: 2000
  burst: 4000
resources:
  - dataset: {DATASET}
    key:
      item: citizen_id
      kind: citizen_id
    table: {TABLE}
    key_column: sfzhm
    items:
      citizen_id: sfzhm
      name: xm
      insurance_type: xz
      status: cbzt
      enrolment_date: cbrq
      employer: cbdw
      contribution_base: jfjs
    as_of_column: gxsj
""" + (f"""    watch_channel: {WATCH_CHANNEL}
    resource_code: {RESOURCE_CODE}
""" if edge else "")


async def register(gateway: str, system_id: str, secret: str, authority: Callable[[], Awaitable[tuple]],
                   endpoint: str) -> None:
    """The department drafts and submits its entry naming its 前置机; the authority publishes it (the catalog
    checks the 前置机 answers for it first). Does nothing when the entry exists and names ``endpoint``.

    ``authority`` gives the reviewer's call metadata, asked for only when there is an entry to publish: signing
    a person in uses up an authenticator code, which a restart of `govshare up` has no reason to."""
    async with grpc.aio.insecure_channel(gateway) as channel:
        catalog = catalog_pb2_grpc.CatalogServiceStub(channel)
        metadata = (("authorization", f"Bearer {await issue_token(channel, system_id, secret)}"),)
        try:
            await catalog.CreateEntry(cat.CreateEntryRequest(entry=social_insurance_entry(endpoint)),
                                      metadata=metadata, timeout=10)
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise
            await follow(catalog, endpoint, metadata, authority)
            return
        await catalog.SubmitEntry(cat.SubmitEntryRequest(code=RESOURCE_CODE), metadata=metadata, timeout=10)
        await catalog.ReviewEntry(cat.ReviewEntryRequest(code=RESOURCE_CODE, decision=cat.REVIEW_DECISION_PUBLISH),
                                  metadata=await authority(), timeout=10)


async def follow(catalog: catalog_pb2_grpc.CatalogServiceStub, endpoint: str,
                 metadata: tuple[tuple[str, str], ...], authority: Callable[[], Awaitable[tuple]]) -> None:
    """Publishes a version of the entry naming ``endpoint`` when the published one names another address.

    The 前置机 listens on `govshare up`'s port block (--port N: N+7), while its entry kept the address of the
    first start: a data directory started again with another --port (the first block taken meanwhile) had every
    granted query of the resource sent to the old port, where nothing (or another platform's 前置机) answered,
    and the demo's entry.json no longer matched what the catalog held. An entry a person is editing (a draft, a
    version under review) is theirs to finish: it is left as it is. A version the demo cannot publish (the
    reviewer's password changed in the console, say) is said on stderr, and the platform starts all the same."""
    latest = await latest_version(catalog, RESOURCE_CODE, metadata)
    if latest is None or latest.state != cat.ENTRY_STATE_PUBLISHED or latest.endpoint.target == endpoint:
        return
    try:
        await catalog.UpdateEntry(cat.UpdateEntryRequest(
            entry=cat.Entry(code=RESOURCE_CODE, endpoint=cat.ProviderEndpoint(target=endpoint,
                                                                              dataset=latest.endpoint.dataset)),
            update_mask=field_mask_pb2.FieldMask(paths=["endpoint"])), metadata=metadata, timeout=10)
        await catalog.SubmitEntry(cat.SubmitEntryRequest(code=RESOURCE_CODE), metadata=metadata, timeout=10)
        await catalog.ReviewEntry(cat.ReviewEntryRequest(code=RESOURCE_CODE, decision=cat.REVIEW_DECISION_PUBLISH),
                                  metadata=await authority(), timeout=10)
    except grpc.aio.AioRpcError as exc:
        print(f"govshare up: the demo 前置机 listens on {endpoint}, but its catalog entry {RESOURCE_CODE} names "
              f"{latest.endpoint.target} (a version naming {endpoint} was not published: {exc.code().name}: "
              f"{exc.details()}): its queries fail until one is", file=sys.stderr, flush=True)


def write_private(path: Path, text: str) -> None:
    from services.runtime.files import replace_private

    replace_private(path, text)


async def ensure_database(admin_url: str, name: str = DATABASE_NAME) -> str:
    """The department's own database on the server of ``admin_url`` (created once, kept across restarts)."""
    from services.runtime.embedded import _with_database

    connection = await asyncpg.connect(admin_url)
    try:
        if not await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return _with_database(admin_url, name)


def set_up(directory: Path, database_url: str, listen: str, public_keys_pem: str, gateway: str,
           system_id: str, secret: str) -> Path:
    """Writes what a data officer would write for the demo 前置机 into ``directory``; returns the config path.
    The database URL and the system secret are files of their own, readable by the owner only."""
    directory.mkdir(parents=True, exist_ok=True)
    write_private(directory / "database.url", database_url)
    write_private(directory / "system.secret", secret)
    (directory / "platform.pem").write_text(public_keys_pem, encoding="utf-8")
    from google.protobuf import json_format

    # The entry as `govshare submit-entry` reads it (`govshare up` registers it itself): an example for data officers.
    (directory / "entry.json").write_text(json_format.MessageToJson(social_insurance_entry(listen),
                                                                    ensure_ascii=False), encoding="utf-8")
    config = directory / "dept.yaml"
    config.write_text(config_text("database.url", listen, "platform.pem", "access.jsonl", gateway, system_id,
                                  "system.secret"), encoding="utf-8")
    return config


async def register_demo(gateway: str, credentials: DemoCredentials, endpoint: str) -> None:
    """Registers the demo 前置机's entry as the 人社局, published by the authority's demo 审核员 (a review is a
    person's decision), once."""
    social = credentials.systems["social"]

    async def reviewer() -> tuple:
        async with grpc.aio.insecure_channel(gateway) as channel:
            return await person_session(channel, credentials, "authority.reviewer")

    await register(gateway, social["system_id"], social["secret"], reviewer, endpoint)
