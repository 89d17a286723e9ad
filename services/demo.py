"""Demo data: departments, business systems, a published catalog and foundation records.

`govshare seed` (and `govshare up`) runs this once against a running platform.
Everything except the very first credential goes through the public API as the
authority would do it, so the demo exercises the same paths as real use: the
authority also designates each foundation dataset's authoritative source (一数一源)
before its records are bulk-loaded with COPY (millions of rows in minutes).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import grpc
import pyotp
from stdnum.cn import uscc

from govshare.authorization.v1 import (
    directory_pb2,
    directory_pb2_grpc,
    persons_pb2,
    persons_pb2_grpc,
    token_pb2,
    token_pb2_grpc,
)
from govshare.catalog.v1 import catalog_pb2 as cat
from govshare.catalog.v1 import catalog_pb2_grpc
from govshare.common.v1 import common_pb2 as common
from govshare.foundation.v1 import foundation_pb2, foundation_pb2_grpc
from services.runtime.errors import details_of
from services.runtime.files import replace_private

REGION = "110100"  # 北京市市辖区: every demo department is municipal.


def _code(serial: int) -> str:
    """A valid 统一社会信用代码 for demo department ``serial`` (GB 32100 check character)."""
    body = f"1111{REGION[2:]}MB{serial:07d}"
    return body + uscc.calc_check_digit(body)


@dataclass(frozen=True)
class DemoDepartment:
    key: str
    name: str
    system_name: str
    serial: int
    authority: bool = False

    @property
    def code(self) -> str:
        return _code(self.serial)


AUTHORITY = DemoDepartment("authority", "市大数据管理局", "共享平台运营管理系统", 1, authority=True)
DEPARTMENTS = (
    DemoDepartment("police", "市公安局", "人口信息管理系统", 2),
    DemoDepartment("market", "市市场监督管理局", "市场主体登记系统", 3),
    DemoDepartment("resources", "市自然资源和规划局", "地理信息系统", 4),
    DemoDepartment("services", "市政务服务管理局", "电子证照系统", 5),
    DemoDepartment("social", "市人力资源和社会保障局", "社保经办系统", 6),
    DemoDepartment("civil", "市民政局", "低保审核系统", 7),
)


@dataclass
class DemoCredentials:
    """What a newcomer (or the load-test harness) needs to call the platform."""

    gateway: str
    systems: dict[str, dict[str, str]] = field(default_factory=dict)
    resources: dict[str, str] = field(default_factory=dict)
    persons: int = 0
    seed: int = 42
    #: The demo persons (issue 12) by username: password, TOTP secret, display name, department key, roles.
    #: `govshare totp <username>` prints an account's current code.
    accounts: dict[str, dict[str, object]] = field(default_factory=dict)
    #: Sessions of demo persons signed in during this run, by username: (call metadata, expiry as epoch seconds).
    #: Never saved (a token on disk outlives its purpose); kept so one run signs each person in once, since every
    #: sign-in uses up an authenticator code the person may be about to type.
    sessions: dict[str, tuple[tuple, float]] = field(default_factory=dict, repr=False)

    def save(self, path: Path) -> None:
        saved = asdict(self)
        del saved["sessions"]
        # Secrets: never readable by others, not even for a moment; and the file's earlier content kept whole
        # when this one cannot be written (a full disk), being the only record of the demo systems' secrets.
        replace_private(path, json.dumps(saved, ensure_ascii=False, indent=2))

    @classmethod
    def load(cls, path: Path) -> DemoCredentials:
        return cls(**json.loads(path.read_text(encoding="utf-8")))


#: Every demo account's password (the embedded demo only; a real platform's administrator sets each one).
DEMO_PASSWORD = "govshare-demo-2026"


@dataclass(frozen=True)
class DemoPerson:
    username: str
    display_name: str
    department: str
    roles: tuple[int, ...]


#: A 编目员, 审批人 and 申请人 at the provider of 人口基本信息 (police) and at a user department (social), and
#: the authority's 审核员, 审计员 and 管理员.
DEMO_PERSONS = (
    DemoPerson("police.officer", "张编目", "police", (persons_pb2.PERSON_ROLE_DATA_OFFICER,)),
    DemoPerson("police.approver", "李审批", "police", (persons_pb2.PERSON_ROLE_APPROVER,)),
    DemoPerson("police.applicant", "王申请", "police", (persons_pb2.PERSON_ROLE_APPLICANT,)),
    DemoPerson("social.officer", "赵编目", "social", (persons_pb2.PERSON_ROLE_DATA_OFFICER,)),
    DemoPerson("social.approver", "钱审批", "social", (persons_pb2.PERSON_ROLE_APPROVER,)),
    DemoPerson("social.applicant", "孙申请", "social", (persons_pb2.PERSON_ROLE_APPLICANT,)),
    DemoPerson("authority.reviewer", "周审核", "authority", (persons_pb2.PERSON_ROLE_REVIEWER,)),
    DemoPerson("authority.auditor", "吴审计", "authority", (persons_pb2.PERSON_ROLE_AUDITOR,)),
    DemoPerson("authority.admin", "郑管理", "authority", (persons_pb2.PERSON_ROLE_ADMINISTRATOR,)),
)


def _item(name: str, machine: str, length: int = 50, *, data_type: int = cat.DATA_TYPE_CHARACTER,
          sensitive: bool = False, mask: str = "", basic: bool = False,
          identifier: int = cat.IDENTIFIER_KIND_UNSPECIFIED) -> cat.DataItem:
    return cat.DataItem(name=name, machine_name=machine, data_type=data_type, length=length, sensitive=sensitive,
                        mask_rule=mask, basic=basic, identifier=identifier)


POPULATION_ITEMS = [
    _item("公民身份号码", "citizen_id", 18, sensitive=True, mask="citizen_id", basic=True,
          identifier=cat.IDENTIFIER_KIND_CITIZEN_ID),
    _item("姓名", "name", 50, sensitive=True, mask="name", basic=True),
    _item("性别", "sex", 2),
    _item("民族", "ethnicity", 20),
    _item("出生日期", "birth_date", 10, data_type=cat.DATA_TYPE_DATE),
    _item("户籍地址", "address", 200, sensitive=True, mask="address"),
    _item("户籍地行政区划代码", "address_region_code", 6),
    _item("人口状态", "status", 10),
]
ENTITY_ITEMS = [
    _item("统一社会信用代码", "credit_code", 18, basic=True, identifier=cat.IDENTIFIER_KIND_CREDIT_CODE),
    _item("名称", "name", 200, basic=True),
    _item("类型", "entity_type", 50),
    _item("法定代表人", "legal_representative", 50, sensitive=True, mask="name"),
    _item("注册资本(万元)", "registered_capital", 20, data_type=cat.DATA_TYPE_CURRENCY),
    _item("成立日期", "established_date", 10, data_type=cat.DATA_TYPE_DATE),
    _item("住所", "address", 200),
    _item("登记机关", "registration_authority", 100),
    _item("登记状态", "status", 10),
]
REGION_ITEMS = [
    _item("行政区划代码", "region_code", 6, basic=True, identifier=cat.IDENTIFIER_KIND_REGION_CODE),
    _item("名称", "name", 100, basic=True),
    _item("级别", "level", 10),
    _item("上级行政区划代码", "parent_code", 6),
]
PLACE_ITEMS = [
    _item("地点编码", "place_code", 32, basic=True, identifier=cat.IDENTIFIER_KIND_TEXT),
    _item("类别", "kind", 10),
    _item("地址", "address", 200),
    _item("行政区划代码", "region_code", 6),
    _item("经度", "longitude", 12, data_type=cat.DATA_TYPE_DOUBLE),
    _item("纬度", "latitude", 12, data_type=cat.DATA_TYPE_DOUBLE),
]
LICENCE_ITEMS = [
    _item("证照编号", "licence_number", 64, basic=True, identifier=cat.IDENTIFIER_KIND_TEXT),
    _item("证照类型", "licence_type", 50, basic=True),
    _item("持证主体代码", "holder_id", 18, sensitive=True, mask="citizen_id"),
    _item("持证主体名称", "holder_name", 200, sensitive=True, mask="name"),
    _item("发证机关", "issuing_authority", 100),
    _item("签发日期", "issue_date", 10, data_type=cat.DATA_TYPE_DATE),
    _item("有效期至", "valid_until", 10, data_type=cat.DATA_TYPE_DATE),
    _item("证照状态", "status", 10),
]

ONLINE = common.SHARE_METHOD_ONLINE_QUERY
DOWNLOAD = common.SHARE_METHOD_BATCH_DOWNLOAD


def _entry(code: str, name: str, summary: str, category: int, subject: str, provider: DemoDepartment,
           items: list[cat.DataItem], dataset: str, share_type: int, methods: list[int], *,
           condition: str = "", legal_basis: str = "", cycle: int = cat.UPDATE_CYCLE_DAILY) -> cat.Entry:
    return cat.Entry(
        code=code, name=name, summary=summary, category=category, subject=subject,
        provider_department_code=provider.code, provider_name=provider.name,
        format_class=cat.FORMAT_CLASS_DATABASE, format_type="关系型数据库", items=items, key_item=items[0].machine_name,
        share_type=share_type, share_condition=condition, share_methods=methods, legal_basis=legal_basis,
        update_cycle=cycle, zone=common.ZONE_EXTRANET, secrecy=cat.SECRECY_NON_CLASSIFIED,
        endpoint=cat.ProviderEndpoint(target="", dataset=dataset),
    )


def demo_entries() -> list[cat.Entry]:
    """The demo catalog: the foundation categories, a theme resource and all three share types."""
    police, market, resources, services = DEPARTMENTS[0], DEPARTMENTS[1], DEPARTMENTS[2], DEPARTMENTS[3]
    foundation, theme, department = cat.CATEGORY_FOUNDATION, cat.CATEGORY_THEME, cat.CATEGORY_DEPARTMENT
    return [
        _entry("101001/000001", "人口基本信息", "全市户籍人口的身份号码、姓名、性别、民族、出生日期、户籍地址与状态。"
               "身份号码、姓名为基础项，无条件共享；其余项依申请共享。", foundation, "人口", police,
               POPULATION_ITEMS, "population", common.SHARE_TYPE_CONDITIONAL, [ONLINE, DOWNLOAD],
               condition="用于法定职责范围内的身份核验与业务办理，须经公安机关审核同意"),
        _entry("102001/000001", "法人单位基本信息", "全市市场主体的统一社会信用代码、名称、类型、法定代表人、注册资本、"
               "成立日期、住所、登记机关与登记状态。", foundation, "法人单位", market, ENTITY_ITEMS,
               "legal_entity", common.SHARE_TYPE_UNCONDITIONAL, [ONLINE, DOWNLOAD]),
        _entry("103001/000001", "行政区划代码", "GB/T 2260 行政区划代码、名称、级别与上级区划。", foundation,
               "自然资源和空间地理", resources, REGION_ITEMS, "region", common.SHARE_TYPE_UNCONDITIONAL,
               [ONLINE, DOWNLOAD], cycle=cat.UPDATE_CYCLE_YEARLY),
        _entry("103002/000001", "标准地名地址", "标准地址与地块的编码、地址、所属区划与坐标。", foundation,
               "自然资源和空间地理", resources, PLACE_ITEMS, "place", common.SHARE_TYPE_UNCONDITIONAL,
               [ONLINE], cycle=cat.UPDATE_CYCLE_MONTHLY),
        _entry("105001/000001", "电子证照信息", "政府部门签发的电子证照的编号、类型、持证主体、发证机关与有效期。",
               foundation, "电子证照", services, LICENCE_ITEMS, "licence", common.SHARE_TYPE_CONDITIONAL,
               [ONLINE], condition="办理政务服务事项时查验证照，须经发证部门同意"),
        _entry("207001/000001", "企业信用基础信息",
               "信用体系主题库：市场主体的登记信息与登记状态，用于信用监管与联合奖惩。", theme, "信用体系", market,
               ENTITY_ITEMS[:4] + ENTITY_ITEMS[-1:], "legal_entity", common.SHARE_TYPE_UNCONDITIONAL, [ONLINE]),
        _entry("301001/000001", "在侦案件涉案人员信息", "公安机关在侦案件涉案人员信息。", department, "刑事侦查",
               police, POPULATION_ITEMS[:2], "population", common.SHARE_TYPE_NOT_SHARED, [ONLINE],
               legal_basis="《中华人民共和国刑事诉讼法》关于侦查秘密的规定"),
    ]


async def issue_token(channel: grpc.aio.Channel, system_id: str, secret: str) -> str:
    """A bearer token for a system, from TokenService through ``channel`` (a gateway)."""
    response = await token_pb2_grpc.TokenServiceStub(channel).IssueToken(
        token_pb2.IssueTokenRequest(system_id=system_id, secret=secret), timeout=10)
    return response.token


async def _until_accepting(call, attempts: int = 150) -> None:  # type: ignore[no-untyped-def]
    """Waits while a service answers UNAVAILABLE (starting: it has not loaded the systems' states yet)."""
    for attempt in range(attempts):
        try:
            await call()
            return
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.UNAVAILABLE or attempt == attempts - 1:
                raise
            await asyncio.sleep(0.2)


async def _ensure_department(directory: directory_pb2_grpc.DirectoryServiceStub, department: DemoDepartment,
                             metadata: tuple) -> None:
    try:
        await directory.CreateDepartment(directory_pb2.CreateDepartmentRequest(department=directory_pb2.Department(
            code=department.code, name=department.name, level=directory_pb2.ADMINISTRATIVE_LEVEL_MUNICIPAL,
            region_code=REGION)), metadata=metadata, timeout=10)
    except grpc.aio.AioRpcError as exc:
        if exc.code() != grpc.StatusCode.ALREADY_EXISTS:
            raise


async def ensure_system(directory: directory_pb2_grpc.DirectoryServiceStub, department: DemoDepartment,
                        metadata: tuple) -> tuple[str, str]:
    """The id of ``department``'s demo system and a secret that works, as :func:`bootstrap_authority` keeps the
    authority's: a system of that name already there (a first seeding stopped by Ctrl-C before it wrote the
    credentials file, which the next start seeds again) gets a new secret, and is enabled again. Each such start
    registered another system of the same name, the earlier ones' secrets lost with the run: two 人口信息管理系统 in
    the console's directory, the first unusable."""
    existing = await _named_system(directory, department, metadata)
    if existing is None:
        created = await directory.CreateSystem(directory_pb2.CreateSystemRequest(system=directory_pb2.System(
            department_code=department.code, name=department.system_name)), metadata=metadata, timeout=10)
        return created.system.id, created.secret
    if existing.disabled:
        await directory.EnableSystem(directory_pb2.EnableSystemRequest(id=existing.id), metadata=metadata, timeout=10)
    rotated = await directory.RotateSystemSecret(directory_pb2.RotateSystemSecretRequest(id=existing.id),
                                                 metadata=metadata, timeout=10)
    return existing.id, rotated.secret


async def _named_system(directory: directory_pb2_grpc.DirectoryServiceStub, department: DemoDepartment,
                        metadata: tuple) -> directory_pb2.System | None:
    """The department's earliest system named as its demo system, or None."""
    found: list[directory_pb2.System] = []
    token = ""
    while True:
        page = await directory.ListSystems(directory_pb2.ListSystemsRequest(
            department_code=department.code, page_token=token), metadata=metadata, timeout=10)
        found += [system for system in page.systems if system.name == department.system_name]
        token = page.next_page_token
        if not token:
            break
    return min(found, key=lambda system: (system.create_time.ToDatetime(), system.id), default=None)


async def _publish(catalog: catalog_pb2_grpc.CatalogServiceStub, entry: cat.Entry, metadata: tuple,
                   reviewer: tuple) -> None:
    """Drafts and submits ``entry`` (the authority's system, cataloguing for the demo providers), then the
    authority's reviewer publishes it (a review is a person's decision). An entry a seeding stopped by Ctrl-C left
    drafted or submitted is taken on from there: it was left so for good (the next start's seeding found it and went
    on), and the resource never published, every documented query of it refused."""
    state = cat.ENTRY_STATE_DRAFT
    try:
        await catalog.CreateEntry(cat.CreateEntryRequest(entry=entry), metadata=metadata, timeout=10)
    except grpc.aio.AioRpcError as exc:
        if exc.code() != grpc.StatusCode.ALREADY_EXISTS:
            raise
        state = (await catalog.GetEntry(cat.GetEntryRequest(code=entry.code), metadata=metadata,
                                        timeout=10)).entry.state
    if state == cat.ENTRY_STATE_DRAFT:
        await catalog.SubmitEntry(cat.SubmitEntryRequest(code=entry.code), metadata=metadata, timeout=10)
    elif state != cat.ENTRY_STATE_SUBMITTED:
        return
    await catalog.ReviewEntry(cat.ReviewEntryRequest(code=entry.code, decision=cat.REVIEW_DECISION_PUBLISH),
                              metadata=reviewer, timeout=10)


async def seed_persons(channel: grpc.aio.Channel, credentials: DemoCredentials, metadata: tuple) -> None:
    """Creates the demo persons (as the authority's system, which provisions persons) with DEMO_PASSWORD, and
    keeps their TOTP secrets in ``credentials``; seeding again resets an existing demo person's password and
    TOTP secret (the new credentials file must hold working ones)."""
    persons = persons_pb2_grpc.PersonServiceStub(channel)
    for person in DEMO_PERSONS:
        department = credentials.systems[person.department]["department"]
        try:
            created = await persons.CreatePerson(persons_pb2.CreatePersonRequest(
                person=persons_pb2.Person(username=person.username, display_name=person.display_name,
                                          department_code=department, roles=list(person.roles)),
                password=DEMO_PASSWORD), metadata=metadata, timeout=30)
            uri = created.totp_provisioning_uri
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise
            uri = await _reset_person(persons, department, person.username, metadata)
        secret = pyotp.parse_uri(uri).secret
        credentials.accounts[person.username] = {
            "password": DEMO_PASSWORD, "totp_secret": secret, "display_name": person.display_name,
            "department": person.department, "department_code": department,
            "roles": [persons_pb2.PersonRole.Name(r).removeprefix("PERSON_ROLE_") for r in person.roles]}


async def add_missing_persons(gateway: str, credentials: DemoCredentials) -> bool:
    """Creates the demo persons a data directory's credentials lack (written by a `govshare up` from before the demo
    had persons), as the authority's system; returns whether it did. Without them the demo 前置机's registration,
    which the reviewer signs, stopped the upgraded platform's start with a KeyError."""
    if all(person.username in credentials.accounts for person in DEMO_PERSONS):
        return False
    authority = credentials.systems[AUTHORITY.key]
    async with grpc.aio.insecure_channel(gateway) as channel:
        token = await issue_token(channel, str(authority["system_id"]), str(authority["secret"]))
        await seed_persons(channel, credentials, (("authorization", f"Bearer {token}"),))
    return True


async def _reset_person(persons: persons_pb2_grpc.PersonServiceStub, department: str, username: str,
                        metadata: tuple) -> str:
    """An existing demo person gets DEMO_PASSWORD and a new TOTP secret again; its provisioning URI."""
    token = ""
    while True:
        page = await persons.ListPersons(persons_pb2.ListPersonsRequest(department_code=department, page_token=token),
                                         metadata=metadata, timeout=30)
        found = next((p for p in page.persons if p.username == username), None)
        if found is not None or not page.next_page_token:
            break
        token = page.next_page_token
    if found is None:
        raise RuntimeError(f"demo person {username} exists but is not in its department")
    await persons.ResetPersonPassword(persons_pb2.ResetPersonPasswordRequest(id=found.id, password=DEMO_PASSWORD),
                                      metadata=metadata, timeout=30)
    reset = await persons.ResetPersonTotp(persons_pb2.ResetPersonTotpRequest(id=found.id), metadata=metadata,
                                          timeout=30)
    return reset.totp_provisioning_uri


async def person_session(channel: grpc.aio.Channel, credentials: DemoCredentials, username: str) -> tuple:
    """Call metadata with the session token of demo person ``username`` (signed in with password and TOTP).

    A TOTP code is accepted once, and the service takes one step of clock drift either way. A person who signs
    in to the console right after `govshare up` types the current code, so the demo signs in with the previous
    step's code first, and only once per run (the session is kept in ``credentials.sessions`` while it has a
    minute left). When that code was used too (`govshare up` restarted at once), it takes the current one, then
    the next, then waits for the step after (saying so) instead of failing the start. Each refused code counts
    toward the account's lock (five in a row), so it never tries more than four."""
    held = credentials.sessions.get(username)
    if held is not None and held[1] > time.time() + 60:
        return held[0]
    account = credentials.accounts[username]
    totp = pyotp.TOTP(str(account["totp_secret"]))
    stub = persons_pb2_grpc.SessionServiceStub(channel)
    now, step = time.time(), totp.interval
    attempts = [(totp.at(now + offset * step), now) for offset in (-1, 0, 1)]
    attempts.append((totp.at(now + 2 * step), now - now % step + step))
    for code, due in attempts:
        if due > time.time():
            print(f"{username}'s authenticator codes were used moments ago: waiting {due - time.time():.0f} s for "
                  "the next one")
            await asyncio.sleep(due - time.time() + 0.5)
        try:
            response = await stub.SignIn(persons_pb2.SignInRequest(
                username=username, password=str(account["password"]), totp_code=code), timeout=30)
        except grpc.aio.AioRpcError as exc:
            info, _ = details_of(exc)
            if exc.code() != grpc.StatusCode.UNAUTHENTICATED or info is None or info.reason != "TOTP_INVALID":
                raise
            last = exc
            continue
        metadata = (("authorization", f"Bearer {response.session.token}"),)
        credentials.sessions[username] = (metadata, response.session.expire_time.ToSeconds())
        return metadata
    raise last


async def designate_sources(admin: foundation_pb2_grpc.FoundationAdminServiceStub, sources: dict[str, str],
                            metadata: tuple) -> None:
    """The authority designates each dataset's authoritative source (repeating a designation changes nothing)."""
    for dataset, department_code in sources.items():
        await admin.DesignateAuthoritativeSource(foundation_pb2.DesignateAuthoritativeSourceRequest(
            dataset=dataset, department_code=department_code), metadata=metadata, timeout=10)


async def seed_demo(gateway: str, database_url: str, persons: int = 10_000, entities: int = 2_000,
                    licences: int = 2_000, seed: int = 42) -> DemoCredentials:
    """Seeds the demo through the gateway at ``gateway``; returns the systems' credentials."""
    from services.authorization.bootstrap import bootstrap_authority
    from services.foundation.bulk import ProgressPrinter, load_synthetic

    system_id, secret = await bootstrap_authority(database_url, AUTHORITY.code, AUTHORITY.name, REGION,
                                                  AUTHORITY.system_name)
    credentials = DemoCredentials(gateway=gateway, persons=persons, seed=seed)
    credentials.systems[AUTHORITY.key] = {"system_id": system_id, "secret": secret, "department": AUTHORITY.code,
                                          "name": AUTHORITY.name}
    async with grpc.aio.insecure_channel(gateway) as channel:
        metadata = (("authorization", f"Bearer {await issue_token(channel, system_id, secret)}"),)
        directory = directory_pb2_grpc.DirectoryServiceStub(channel)
        for department in DEPARTMENTS:
            await _ensure_department(directory, department, metadata)
            system_id, system_secret = await ensure_system(directory, department, metadata)
            credentials.systems[department.key] = {"system_id": system_id, "secret": system_secret,
                                                   "department": department.code, "name": department.name}
        await seed_persons(channel, credentials, metadata)
        reviewer = await person_session(channel, credentials, "authority.reviewer")
        catalog = catalog_pb2_grpc.CatalogServiceStub(channel)
        await _until_accepting(lambda: catalog.ListEntries(cat.ListEntriesRequest(page_size=1), metadata=metadata,
                                                           timeout=10))
        for entry in demo_entries():
            await _publish(catalog, entry, metadata, reviewer)
            credentials.resources[entry.name] = entry.code
        sources = {"population": DEPARTMENTS[0].code, "legal_entity": DEPARTMENTS[1].code,
                   "region": DEPARTMENTS[2].code, "place": DEPARTMENTS[2].code, "licence": DEPARTMENTS[3].code}
        admin = foundation_pb2_grpc.FoundationAdminServiceStub(channel)
        await _until_accepting(lambda: admin.ListDatasets(foundation_pb2.ListDatasetsRequest(), metadata=metadata,
                                                          timeout=10))
        await designate_sources(admin, sources, metadata)
    # A large seed (govshare up --persons 10000000) runs for minutes: its progress goes to stderr.
    await load_synthetic(database_url, sources, persons=persons, entities=entities, licences=licences, seed=seed,
                         progress=ProgressPrinter())
    return credentials
