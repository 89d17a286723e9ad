"""The authorization service over real sockets, with the real catalog, PostgreSQL and Redis.

The tests act as the gateway (signed caller assertions) and as query (a service caller for Check).
Each test registers its own departments and catalog entries, so tests do not depend on each other
or on what else the session's database holds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import grpc
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from caller_metadata import CallerMetadata, person_of
from google.protobuf import field_mask_pb2, timestamp_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stdnum.cn import uscc

from console.errors import field_sentence, problem_of
from console.names import Names, watch_changes
from govshare.authorization.v1 import (
    admin_log_pb2,
    admin_log_pb2_grpc,
    authorization_pb2_grpc,
    directory_pb2,
    directory_pb2_grpc,
    figures_pb2,
    figures_pb2_grpc,
    persons_pb2,
    persons_pb2_grpc,
    sharing_pb2_grpc,
    token_pb2,
    token_pb2_grpc,
)
from govshare.authorization.v1 import authorization_pb2 as authz
from govshare.authorization.v1 import sharing_pb2 as sh
from govshare.catalog.v1 import catalog_pb2 as cat
from govshare.catalog.v1 import catalog_pb2_grpc
from govshare.common.v1 import common_pb2 as common
from services.authorization.applications import Terms
from services.authorization.bootstrap import bootstrap_authority
from services.authorization.component import create_component
from services.authorization.entries import EntryLookup
from services.authorization.figures import department_figures
from services.authorization.sharing import Sharing
from services.authorization.store import Store
from services.catalog.component import create_component as create_catalog
from services.query.servicer import purpose_text_violations
from services.runtime.cache import CATALOG_CHANGED, DEPARTMENTS_CHANGED, GRANTS_CHANGED, publish
from services.runtime.duties import ADMINISTRATOR, APPROVER, DATA_OFFICER, REVIEWER
from services.runtime.errors import ServiceError, details_of
from services.runtime.identity import Caller, service_caller
from services.runtime.server import RunningServer, start_server
from services.runtime.settings import Settings
from services.runtime.tokens import TokenVerifier
from services.runtime.workdays import add_working_days

pytestmark = pytest.mark.integration

AUTHORITY = Caller("sys-authority0", "11100000MB0000001X", authority=True)
ANONYMOUS = Caller("anonymous", "", False)
QUERY = service_caller("query")
#: Decisions are persons' (issue 12): the authority's reviewer coordinates, a provider's approver replies.
AUTHORITY_REVIEWER = person_of(AUTHORITY, REVIEWER)
#: Systems are administered by the authority's 管理员 (a person), not by a department's business system.
AUTHORITY_ADMIN = person_of(AUTHORITY, ADMINISTRATOR)


def approver(department: Caller) -> Caller:
    return person_of(department, APPROVER)
ONLINE = common.SHARE_METHOD_ONLINE_QUERY
DOWNLOAD = common.SHARE_METHOD_BATCH_DOWNLOAD
ADMIN = common.PURPOSE_TYPE_ADMINISTRATIVE_BASIS
WORK = common.PURPOSE_TYPE_WORK_REFERENCE
_CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_random = random.Random()


def credit_code() -> str:
    """A fresh, valid 统一社会信用代码: a department no other test uses."""
    body = "11" + "110100" + "".join(_random.choice(_CREDIT_CHARS) for _ in range(9))
    return body + uscc.calc_check_digit(body)


def resource_code() -> str:
    """A fresh code of a foundation resource of 人口 (项 01)."""
    return f"101{_random.randrange(1, 1000):03d}/{_random.randrange(1, 10**6):06d}"


def timestamp(delta: dt.timedelta) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(dt.datetime.now(dt.UTC) + delta)
    return stamp


def items(*names: str, sensitive: tuple[str, ...] = ("citizen_id", "name", "address"),
          basic: tuple[str, ...] = ("citizen_id", "name")) -> list[cat.DataItem]:
    rules = {"citizen_id": "citizen_id", "name": "name", "address": "address"}
    return [cat.DataItem(name=n, machine_name=n, data_type=cat.DATA_TYPE_CHARACTER, length=50,
                         sensitive=n in sensitive, mask_rule=rules.get(n, "") if n in sensitive else "",
                         basic=n in basic,
                         identifier=cat.IDENTIFIER_KIND_CITIZEN_ID if n == "citizen_id" else 0)
            for n in names]


ITEMS = ("citizen_id", "name", "birth_date", "address", "status")


@dataclass
class Env:
    auth: grpc.aio.Channel
    catalog: grpc.aio.Channel
    settings: Settings
    signer: CallerMetadata

    def md(self, caller: Caller) -> tuple:
        return self.signer.metadata(caller)

    @property
    def directory(self) -> directory_pb2_grpc.DirectoryServiceStub:
        return directory_pb2_grpc.DirectoryServiceStub(self.auth)

    @property
    def tokens(self) -> token_pb2_grpc.TokenServiceStub:
        return token_pb2_grpc.TokenServiceStub(self.auth)

    @property
    def sharing(self) -> sharing_pb2_grpc.SharingServiceStub:
        return sharing_pb2_grpc.SharingServiceStub(self.auth)

    @property
    def checks(self) -> authorization_pb2_grpc.AuthorizationServiceStub:
        return authorization_pb2_grpc.AuthorizationServiceStub(self.auth)

    async def department(self, authority: bool = False) -> Caller:
        """A registered department; the caller is one of its systems."""
        code = credit_code()
        await self.directory.CreateDepartment(directory_pb2.CreateDepartmentRequest(department=directory_pb2.Department(
            code=code, name=f"测试局{code[-5:]}", level=directory_pb2.ADMINISTRATIVE_LEVEL_MUNICIPAL,
            region_code="110100", authority=authority)), metadata=self.md(AUTHORITY), timeout=10)
        return Caller(f"sys-{code[-8:].lower()}", code, authority=authority)

    async def publish(self, provider: Caller, share_type: int = common.SHARE_TYPE_CONDITIONAL,
                      category: int = cat.CATEGORY_FOUNDATION, methods: tuple[int, ...] = (ONLINE, DOWNLOAD),
                      legal_basis: str = "", review: bool = True) -> cat.Entry:
        """A published catalog entry of ``provider``, through the catalog's own API (without ``review``: submitted
        for review only)."""
        stub = catalog_pb2_grpc.CatalogServiceStub(self.catalog)
        entry = cat.Entry(
            code=resource_code(), name="人口基础信息", summary="全员人口的身份与户籍信息", category=category,
            subject={cat.CATEGORY_FOUNDATION: "人口"}.get(category, "健康保障"),
            provider_department_code=provider.department_code, provider_name="公安局",
            format_class=cat.FORMAT_CLASS_DATABASE, format_type="JSON", items=items(*ITEMS), key_item="citizen_id",
            share_type=share_type, share_methods=list(methods), update_cycle=cat.UPDATE_CYCLE_DAILY,
            share_condition="" if share_type == common.SHARE_TYPE_UNCONDITIONAL else "须经提供部门审核同意",
            legal_basis=legal_basis or ("《中华人民共和国保守国家秘密法》" if share_type == common.SHARE_TYPE_NOT_SHARED
                                        else ""),
            zone=common.ZONE_EXTRANET, secrecy=cat.SECRECY_NON_CLASSIFIED,
            endpoint=cat.ProviderEndpoint(dataset="population"))
        await stub.CreateEntry(cat.CreateEntryRequest(entry=entry), metadata=self.md(provider), timeout=10)
        submitted = await stub.SubmitEntry(cat.SubmitEntryRequest(code=entry.code), metadata=self.md(provider),
                                           timeout=10)
        if not review:
            return submitted.entry
        response = await stub.ReviewEntry(cat.ReviewEntryRequest(code=entry.code, decision=cat.REVIEW_DECISION_PUBLISH),
                                          metadata=self.md(AUTHORITY_REVIEWER), timeout=10)
        return response.entry

    async def submit(self, user: Caller, entry: cat.Entry, request_id: str = "", **fields: object) -> sh.Application:
        application = sh.Application(resource_code=entry.code, items=["name", "birth_date", "address"],
                                     purposes=[ADMIN], purpose_text="低保资格审核",
                                     basis="《社会救助暂行办法》第十一条",
                                     requested_expire_time=timestamp(dt.timedelta(days=90)), methods=[ONLINE],
                                     quota=1000)
        for name, value in fields.items():
            if isinstance(value, list):
                application.ClearField(name)
                getattr(application, name).extend(value)
            elif isinstance(value, timestamp_pb2.Timestamp):
                getattr(application, name).CopyFrom(value)
            else:
                setattr(application, name, value)
        response = await self.sharing.SubmitApplication(
            sh.SubmitApplicationRequest(application=application, request_id=request_id), metadata=self.md(user),
            timeout=10)
        return response.application

    async def reply(self, caller: Caller, application_id: str, **fields: object) -> sh.ReplyApplicationResponse:
        fields.setdefault("decision", sh.REPLY_DECISION_APPROVE)
        # A reply is a person's decision (issue 12): the approver of ``caller``'s department.
        return await self.sharing.ReplyApplication(sh.ReplyApplicationRequest(id=application_id, **fields),
                                                   metadata=self.md(person_of(caller, APPROVER)), timeout=10)

    async def check(self, user: Caller, entry: cat.Entry, *names: str, purpose: int = ADMIN,
                    method: int = ONLINE, caller: Caller = QUERY) -> authz.Decision:
        request = authz.CheckRequest(system_id=user.system_id, department_code=user.department_code,
                                     resource_code=entry.code, purpose=purpose, items=list(names), method=method)
        return (await self.checks.Check(request, metadata=self.md(caller), timeout=10)).decision

    async def grant(self, provider: Caller, user: Caller, entry: cat.Entry, **fields: object) -> sh.Grant:
        application = await self.submit(user, entry, **fields)
        return (await self.reply(provider, application.id)).grant


async def not_retired(_code: str) -> dt.datetime | None:
    """department_figures' retired_at for figures computed from the store alone: no resource is retired."""
    return None


async def retire_entry(env: Env, provider: Caller, user: Caller, entry: cat.Entry, reason: str) -> None:
    """Retires ``entry`` as its provider's 编目员, once authorization has heard of it (the catalog's change event
    reaches its cache asynchronously): ``user``'s decisions on it are refused from then on."""
    await catalog_pb2_grpc.CatalogServiceStub(env.catalog).RetireEntry(
        cat.RetireEntryRequest(code=entry.code, reason=reason), metadata=env.md(person_of(provider, DATA_OFFICER)),
        timeout=10)
    for _ in range(100):
        if not (await env.check(user, entry, "birth_date")).allowed:
            break
        await asyncio.sleep(0.05)


async def expired_a_minute_ago(env: Env, grant_id: str) -> None:
    """Time passes: the grant's expire_time was a minute ago (stored ACTIVE, it reads EXPIRED)."""
    conn = await asyncpg.connect(env.settings.database_url)
    try:
        await conn.execute("UPDATE \"authorization\".grants SET expire_time = now() - interval '1 minute'"
                           " WHERE id = $1", grant_id)
    finally:
        await conn.close()


async def due_yesterday(env: Env, application_id: str) -> None:
    """Time passes: the application's reply was due yesterday (it is overdue now)."""
    conn = await asyncpg.connect(env.settings.database_url)
    try:
        await conn.execute('UPDATE "authorization".applications SET reply_due_time = now() - interval \'1 day\''
                           " WHERE id = $1", application_id)
    finally:
        await conn.close()


async def term_ended_a_minute_ago(env: Env, application_id: str) -> None:
    """Time passes: the period the application asked for ended a minute ago."""
    conn = await asyncpg.connect(env.settings.database_url)
    try:
        await conn.execute('UPDATE "authorization".applications SET requested_expire_time = now() - interval'
                           " '1 minute' WHERE id = $1", application_id)
    finally:
        await conn.close()


async def fails(call: object, code: grpc.StatusCode) -> tuple[str, list[str], str]:
    """Awaits a call that must fail with ``code``; returns its reason, violated fields and message."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    error = caught.value
    assert error.code() == code, error.details()
    info, bad = details_of(error)
    return (info.reason if info else ""), [v.field for v in bad.field_violations] if bad else [], error.details()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def env(base_settings: Settings) -> AsyncIterator[Env]:
    catalog_settings = base_settings.with_overrides(component="catalog")
    catalog: RunningServer = await start_server(catalog_settings, create_catalog(catalog_settings))
    settings = base_settings.with_overrides(component="authorization", catalog_target=f"127.0.0.1:{catalog.port}")
    auth = await start_server(settings, create_component(settings))
    env = Env(auth=grpc.aio.insecure_channel(f"127.0.0.1:{auth.port}"),
              catalog=grpc.aio.insecure_channel(f"127.0.0.1:{catalog.port}"), settings=settings,
              signer=CallerMetadata.of(settings))
    yield env
    await env.auth.close()
    await env.catalog.close()
    await auth.stop(0)
    await catalog.stop(0)


@pytest_asyncio.fixture(loop_scope="session")
async def parties(env: Env) -> tuple[Caller, Caller, cat.Entry]:
    """A provider, a user department and the provider's published conditional foundation entry."""
    provider, user = await env.department(), await env.department()
    return provider, user, await env.publish(provider)


async def test_a_revoke_refused_while_the_catalog_is_down_revoked_nothing(base_settings: Settings,
                                                                           redis_client) -> None:  # type: ignore[no-untyped-def]
    """RevokeGrant revoked the grant and then read its resource's entry for the answer: with the catalog down and
    the entry not cached, the provider got UNAVAILABLE CATALOG_UNAVAILABLE (the console: 您的操作未完成) for a grant
    it had revoked, and the retry was GRANT_REVOKED. It reads the entry first, as UpdateGrant does. A catalog and an
    authorization server of its own: the catalog is stopped for real."""
    catalog_settings = base_settings.with_overrides(component="catalog")
    catalog = await start_server(catalog_settings, create_catalog(catalog_settings))
    settings = base_settings.with_overrides(component="authorization", catalog_target=f"127.0.0.1:{catalog.port}")
    auth = await start_server(settings, create_component(settings))
    own = Env(auth=grpc.aio.insecure_channel(f"127.0.0.1:{auth.port}"),
              catalog=grpc.aio.insecure_channel(f"127.0.0.1:{catalog.port}"), settings=settings,
              signer=CallerMetadata.of(settings))
    try:
        provider, user = await own.department(), await own.department()
        entry = await own.publish(provider)
        grant = await own.grant(provider, user, entry)
        waiting = await own.submit(user, entry)
        await catalog.stop(0)
        get = sh.GetGrantRequest(id=grant.id)
        for _ in range(200):  # the change event drops the cached entry (a bounded poll)
            await publish(redis_client, CATALOG_CHANGED, {"code": grant.resource_code})
            try:
                await own.sharing.GetGrant(get, metadata=own.md(provider), timeout=10)
            except grpc.aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.UNAVAILABLE, error.details()
                break
            await asyncio.sleep(0.05)
        revoke = own.sharing.RevokeGrant(sh.RevokeGrantRequest(id=grant.id, reason="项目结束"),
                                         metadata=own.md(person_of(provider, APPROVER)), timeout=10)
        reason, _, _ = await fails(revoke, grpc.StatusCode.UNAVAILABLE)
        assert reason == "CATALOG_UNAVAILABLE"
        conn = await asyncpg.connect(settings.database_url)
        try:
            state = await conn.fetchval('SELECT state FROM "authorization".grants WHERE id = $1', grant.id)
        finally:
            await conn.close()
        assert state == sh.GRANT_STATE_ACTIVE
        # An application is read as stored while the catalog cannot say whether its resource was retired (closing it
        # then): reading it does not fail for the catalog.
        got = await own.sharing.GetApplication(sh.GetApplicationRequest(id=waiting.id), metadata=own.md(user),
                                               timeout=10)
        assert got.application.state == sh.APPLICATION_STATE_SUBMITTED
        listed = await own.sharing.ListApplications(sh.ListApplicationsRequest(
            role=sh.APPLICATION_ROLE_PROVIDER, state=sh.APPLICATION_STATE_SUBMITTED), metadata=own.md(provider),
            timeout=10)
        assert [a.id for a in listed.applications] == [waiting.id]
    finally:
        await own.auth.close()
        await own.catalog.close()
        await auth.stop(0)
        await catalog.stop(0)


async def test_a_decision_whose_entry_the_catalog_does_not_send_in_time_names_the_catalog(
        base_settings: Settings) -> None:
    """A Check (or a sharing call) whose entry was not cached waited for the catalog for its read's own 5 s: with
    the catalog hung (a PostgreSQL under it not answering, a node gone), a caller that gave 2 s read DEADLINE_EXCEEDED
    naming nobody. It is refused UNAVAILABLE CATALOG_UNAVAILABLE before its deadline, as query's own reads are. A
    catalog that never answers: a listener that accepts connections and says nothing."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        settings = base_settings.with_overrides(component="authorization",
                                                catalog_target=f"127.0.0.1:{silent.getsockname()[1]}")
        auth = await start_server(settings, create_component(settings))
        signer = CallerMetadata.of(settings)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{auth.port}") as channel:
                user = Caller("sys-user", credit_code(), False)
                request = authz.CheckRequest(system_id=user.system_id, department_code=user.department_code,
                                             resource_code=resource_code(), purpose=ADMIN, items=["name"],
                                             method=ONLINE)
                check = authorization_pb2_grpc.AuthorizationServiceStub(channel).Check(
                    request, metadata=signer.metadata(QUERY), timeout=2)
                reason, _, message = await fails(check, grpc.StatusCode.UNAVAILABLE)
        finally:
            await auth.stop(0)
    assert reason == "CATALOG_UNAVAILABLE"
    assert "did not answer for the resource within this call's deadline" in message, message


# Directory ---------------------------------------------------------------------------------------


async def test_only_the_authority_registers_departments(env: Env) -> None:
    code = credit_code()
    department = directory_pb2.Department(code=code, name="市卫生健康委员会",
                                          level=directory_pb2.ADMINISTRATIVE_LEVEL_MUNICIPAL, region_code="110100")
    request = directory_pb2.CreateDepartmentRequest(department=department)
    user = await env.department()
    reason, _, _ = await fails(env.directory.CreateDepartment(request, metadata=env.md(user), timeout=10),
                               grpc.StatusCode.PERMISSION_DENIED)
    assert reason == "AUTHORITY_ONLY"
    created = (await env.directory.CreateDepartment(request, metadata=env.md(AUTHORITY), timeout=10)).department
    assert (created.code, created.name, created.authority) == (code, "市卫生健康委员会", False)
    assert created.create_time.seconds > 0
    await fails(env.directory.CreateDepartment(request, metadata=env.md(AUTHORITY), timeout=10),
                grpc.StatusCode.ALREADY_EXISTS)
    got = await env.directory.GetDepartment(directory_pb2.GetDepartmentRequest(code=code), metadata=env.md(user),
                                            timeout=10)
    assert got.department == created


async def test_department_problems_are_all_named(env: Env) -> None:
    bad = directory_pb2.Department(code="91110000600037341X", name=" ", region_code="999999")
    _, fields, _ = await fails(env.directory.CreateDepartment(
        directory_pb2.CreateDepartmentRequest(department=bad), metadata=env.md(AUTHORITY), timeout=10),
        grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["department.code", "department.name", "department.level", "department.region_code"]


async def test_the_authoritys_administrator_renames_a_department_logged_and_announced(  # type: ignore[no-untyped-def]
        env: Env, redis_client) -> None:
    """机构改革: a 市民政局 becomes the 市社会服务局: the directory says the new name from then on, the log both."""
    department = await env.department()
    code = department.department_code
    new = f"市社会服务局{code[-5:]}"  # the session's database is shared: a name no other test gives
    before = (await env.directory.GetDepartment(directory_pb2.GetDepartmentRequest(code=code),
                                                metadata=env.md(AUTHORITY), timeout=10)).department

    def rename(name: str, target: str = code) -> directory_pb2.RenameDepartmentRequest:
        return directory_pb2.RenameDepartmentRequest(code=target, name=name)

    # Neither the department itself, nor the authority's reviewer, nor its own administrator: the authority's only.
    for caller, reason in ((department, "AUTHORITY_ONLY"), (AUTHORITY_REVIEWER, "ROLE_REQUIRED"),
                           (person_of(department, ADMINISTRATOR), "ROLE_REQUIRED")):
        got, _, _ = await fails(env.directory.RenameDepartment(rename(new), metadata=env.md(caller),
                                                               timeout=10), grpc.StatusCode.PERMISSION_DENIED)
        assert got == reason
    _, fields, _ = await fails(env.directory.RenameDepartment(rename(" ", "91110000600037341X"),
                                                              metadata=env.md(AUTHORITY), timeout=10),
                               grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["code", "name"]
    await fails(env.directory.RenameDepartment(rename(new, credit_code()), metadata=env.md(AUTHORITY),
                                               timeout=10), grpc.StatusCode.NOT_FOUND)

    async with redis_client.pubsub() as pubsub:
        await pubsub.subscribe(DEPARTMENTS_CHANGED)
        await pubsub.get_message(timeout=5)  # the subscription confirmation
        renamed = (await env.directory.RenameDepartment(rename(f" {new} "), metadata=env.md(AUTHORITY),
                                                        timeout=10)).department
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=10)
    assert message is not None and json.loads(message["data"]) == {"code": code, "name": new}
    assert renamed.name == new
    assert (renamed.code, renamed.level, renamed.region_code, renamed.create_time) == (
        before.code, before.level, before.region_code, before.create_time)
    got = await env.directory.GetDepartment(directory_pb2.GetDepartmentRequest(code=code),
                                            metadata=env.md(department), timeout=10)
    assert got.department == renamed
    # Sent again (a retry): nothing changes, nothing more is logged.
    again = await env.directory.RenameDepartment(rename(new), metadata=env.md(AUTHORITY), timeout=10)
    assert again.department == renamed

    log = admin_log_pb2_grpc.AdminLogServiceStub(env.auth)
    listed = await log.ListAdminEvents(admin_log_pb2.ListAdminEventsRequest(action="directory.rename_department",
                                                                            page_size=100),
                                       metadata=env.md(AUTHORITY), timeout=10)
    events = [e for e in listed.events if e.target == code]
    done = [e for e in events if e.result == "OK"]
    assert [(e.actor_system_id, json.loads(e.details_json)) for e in done] == [
        (AUTHORITY.system_id, {"from": before.name, "name": new})]
    assert sorted(e.result for e in events if e.result != "OK") == [
        "AUTHORITY_ONLY", "ROLE_REQUIRED", "ROLE_REQUIRED"]


async def test_a_department_is_not_renamed_to_the_name_another_has(env: Env) -> None:
    """Two departments of one name could not be told apart in the console's lists or the reports."""
    first, second = (await env.department()).department_code, (await env.department()).department_code
    taken = (await env.directory.GetDepartment(directory_pb2.GetDepartmentRequest(code=first),
                                               metadata=env.md(AUTHORITY), timeout=10)).department.name
    reason, _, message = await fails(env.directory.RenameDepartment(directory_pb2.RenameDepartmentRequest(
        code=second, name=taken), metadata=env.md(AUTHORITY), timeout=10), grpc.StatusCode.ALREADY_EXISTS)
    assert reason == "DEPARTMENT_NAME_TAKEN" and first in message
    kept = await env.directory.GetDepartment(directory_pb2.GetDepartmentRequest(code=second),
                                             metadata=env.md(AUTHORITY), timeout=10)
    assert kept.department.name != taken


async def test_a_rename_from_a_name_read_before_another_rename_is_refused_saying_the_name_now(env: Env) -> None:
    """Two administrators renaming one department from pages opened together each saw "renamed", and the later
    name replaced the earlier one unseen. A rename naming the name it read (current_name) is refused ABORTED when
    the department has another now; one that reads the name as it is, or asks for the name it has, goes through."""
    code = (await env.department()).department_code
    read = (await env.directory.GetDepartment(directory_pb2.GetDepartmentRequest(code=code),
                                              metadata=env.md(AUTHORITY), timeout=10)).department.name
    first, second = f"市社会服务局{code[-6:]}", f"市民政服务中心{code[-6:]}"

    def rename(name: str, current: str) -> object:
        return env.directory.RenameDepartment(directory_pb2.RenameDepartmentRequest(
            code=code, name=name, current_name=current), metadata=env.md(AUTHORITY), timeout=10)

    assert (await rename(first, read)).department.name == first
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await rename(second, read)
    assert caught.value.code() == grpc.StatusCode.ABORTED
    info, _ = details_of(caught.value)
    assert (info.reason, info.metadata["name"]) == ("NAME_CHANGED", first)
    assert f"is named {first!r} now, not {read!r}" in caught.value.details()
    # A name read of any length (a hand-made form's) is refused so too: echoed whole, 5,000 characters made the
    # refusal's trailers larger than a client takes, and it arrived as a transport failure (the console: 平台服务暂时
    # 不可用).
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await rename(second, "长" * 5000)
    assert caught.value.code() == grpc.StatusCode.ABORTED, caught.value
    assert details_of(caught.value)[0].reason == "NAME_CHANGED"
    assert (await rename(first, read)).department.name == first  # the name it has: a retry of the first rename
    assert (await rename(second, first)).department.name == second
    assert (await rename(read, "")).department.name == read  # no name read: as before


class _Directory:
    """The console's services as Names uses them, straight to the authorization service as the authority."""

    def __init__(self, env: Env) -> None:
        self.channel, self._env = env.auth, env

    async def call(self, _token: str, method, request):  # type: ignore[no-untyped-def]
        return await method(request, metadata=self._env.md(AUTHORITY), timeout=10)


async def test_the_consoles_names_show_a_rename_at_once(env: Env) -> None:
    """The console keeps department names ten minutes; a rename announced replaces the old one at once."""
    code = (await env.department()).department_code
    new = f"市社会服务局{code[-5:]}"
    names = Names(_Directory(env))
    watch = watch_changes(names, env.settings.redis_url)
    try:
        await asyncio.wait_for(watch.ready.wait(), 10)
        before = (await names.departments("", [code]))[code]
        await env.directory.RenameDepartment(directory_pb2.RenameDepartmentRequest(code=code, name=new),
                                             metadata=env.md(AUTHORITY), timeout=10)
        for _ in range(200):  # the event arrives in milliseconds; bounded at about two seconds
            if (await names.departments("", [code]))[code] != before:
                break
            await asyncio.sleep(0.01)
        assert (await names.departments("", [code]))[code] == new
        assert names.lookups == 1  # the new name came with the event, not by asking again
        names.forget()  # as when the subscription reconnects: asked again
        assert (await names.departments("", [code]))[code] == new and names.lookups == 2
    finally:
        await watch.stop()


class _Catalog:
    """The console's services as Names uses them for a resource: a catalog whose one published entry's share
    type the test changes, counting the calls."""

    def __init__(self, code: str) -> None:
        self.catalog, self.code, self.calls = self, code, 0
        self.share_type = common.SHARE_TYPE_UNCONDITIONAL

    def GetEntry(self) -> None:
        """Stands for the stub's method; call() answers it."""

    async def call(self, _token: str, _method, request: cat.GetEntryRequest) -> cat.GetEntryResponse:  # type: ignore[no-untyped-def]
        self.calls += 1
        return cat.GetEntryResponse(entry=cat.Entry(code=request.code, name="人口基础信息",
                                                           share_type=self.share_type,
                                                           state=cat.ENTRY_STATE_PUBLISHED))


async def test_the_consoles_resources_show_a_catalog_change_at_once(env: Env) -> None:
    """The console keeps a published resource's details ten minutes; the catalog's change event drops them, so an
    approver sees a resource made 不予共享 at once, not its old share type for up to ten minutes."""
    code = f"{uuid.uuid4().int % 10**6:06d}/000001"
    catalog = _Catalog(code)
    names = Names(catalog)
    watch = watch_changes(names, env.settings.redis_url)
    redis = aioredis.from_url(env.settings.redis_url)
    try:
        await asyncio.wait_for(watch.ready.wait(), 10)
        assert (await names.resources("", [code]))[code].share_type == common.SHARE_TYPE_UNCONDITIONAL
        catalog.share_type = common.SHARE_TYPE_NOT_SHARED
        await publish(redis, CATALOG_CHANGED, {"code": f"{code[:-1]}2"})  # another entry: this one stays kept
        await publish(redis, CATALOG_CHANGED, {"code": code})
        for _ in range(200):  # the event arrives in milliseconds; bounded at about two seconds
            if (await names.resources("", [code]))[code].share_type == common.SHARE_TYPE_NOT_SHARED:
                break
            await asyncio.sleep(0.01)
        assert (await names.resources("", [code]))[code].share_type == common.SHARE_TYPE_NOT_SHARED
        assert catalog.calls == 2  # asked again once, after the event
        names.forget()  # as when the subscription reconnects: every resource asked again
        await names.resources("", [code])
        assert catalog.calls == 3
    finally:
        await watch.stop()
        await redis.aclose()


def _retire(code: str, merged_into: str = "") -> directory_pb2.RetireDepartmentRequest:
    return directory_pb2.RetireDepartmentRequest(code=code, merged_into=merged_into)


async def test_a_department_is_retired_by_the_authority_only_and_not_twice(env: Env) -> None:
    """Who may retire, and the clear refusals: an unknown code, the authority, a wrong successor, twice."""
    department, successor = await env.department(), await env.department()
    code = department.department_code
    for caller, reason in ((department, "AUTHORITY_ONLY"), (AUTHORITY_REVIEWER, "ROLE_REQUIRED"),
                           (person_of(department, ADMINISTRATOR), "ROLE_REQUIRED")):
        got, _, _ = await fails(env.directory.RetireDepartment(_retire(code), metadata=env.md(caller), timeout=10),
                                grpc.StatusCode.PERMISSION_DENIED)
        assert got == reason
    admin = env.md(AUTHORITY)
    _, fields, _ = await fails(env.directory.RetireDepartment(_retire("x", "y"), metadata=admin, timeout=10),
                               grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["code", "merged_into"]
    await fails(env.directory.RetireDepartment(_retire(credit_code()), metadata=admin, timeout=10),
                grpc.StatusCode.NOT_FOUND)
    authority = await env.department(authority=True)
    reason, _, _ = await fails(env.directory.RetireDepartment(_retire(authority.department_code), metadata=admin,
                                                              timeout=10), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "AUTHORITY_DEPARTMENT"
    reason, _, _ = await fails(env.directory.RetireDepartment(_retire(code, code), metadata=admin, timeout=10),
                               grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "MERGED_INTO_ITSELF"
    unknown = credit_code()
    _, _, message = await fails(env.directory.RetireDepartment(_retire(code, unknown), metadata=admin, timeout=10),
                                grpc.StatusCode.NOT_FOUND)
    assert unknown in message and "merged_into" in message

    retired = (await env.directory.RetireDepartment(_retire(code, successor.department_code), metadata=admin,
                                                    timeout=10)).department
    assert retired.HasField("retire_time") and retired.merged_into == successor.department_code
    got = (await env.directory.GetDepartment(directory_pb2.GetDepartmentRequest(code=code), metadata=admin,
                                             timeout=10)).department
    assert got == retired
    reason, _, message = await fails(env.directory.RetireDepartment(_retire(code), metadata=admin, timeout=10),
                                     grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "DEPARTMENT_RETIRED" and f"merged into {successor.department_code}" in message
    other = await env.department()
    reason, _, _ = await fails(env.directory.RetireDepartment(_retire(other.department_code, code), metadata=admin,
                                                              timeout=10), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "MERGED_INTO_RETIRED"

    log = admin_log_pb2_grpc.AdminLogServiceStub(env.auth)
    listed = await log.ListAdminEvents(admin_log_pb2.ListAdminEventsRequest(action="directory.retire_department",
                                                                            page_size=100), metadata=admin, timeout=10)
    events = [e for e in listed.events if e.target == code]
    assert [(e.actor_system_id, json.loads(e.details_json)) for e in events if e.result == "OK"] == [
        (AUTHORITY.system_id, {"merged_into": successor.department_code})]
    assert sorted(e.result for e in events if e.result != "OK") == ["AUTHORITY_ONLY", "ROLE_REQUIRED",
                                                                    "ROLE_REQUIRED"]


async def test_two_departments_merged_into_each_other_at_once_leave_one_retired(env: Env) -> None:
    """A into B and B into A at the same moment: one is retired, the other refused MERGED_INTO_RETIRED, never
    a deadlock answered INTERNAL (each retirement locked its own row, then shared its successor's)."""
    admin = env.md(AUTHORITY)
    pairs = [(await env.department(), await env.department()) for _ in range(12)]

    async def retire(code: str, into: str) -> str:
        try:
            await env.directory.RetireDepartment(_retire(code, into), metadata=admin, timeout=10)
            return "OK"
        except grpc.aio.AioRpcError as e:
            info, _ = details_of(e)
            return f"{e.code().name} {info.reason if info else e.details()}"

    for a, b in pairs:  # a pair at a time: the race is within a pair
        outcomes = await asyncio.gather(retire(a.department_code, b.department_code),
                                        retire(b.department_code, a.department_code))
        assert sorted(outcomes) == ["FAILED_PRECONDITION MERGED_INTO_RETIRED", "OK"]


async def test_a_department_is_retired_only_once_nothing_of_it_is_live(  # type: ignore[no-untyped-def]
        env: Env, redis_client) -> None:
    """Each blocker is named with its count and what to do; cleared, the department is retired and announced."""
    provider, user = await env.department(), await env.department()
    entry = await env.publish(provider)
    in_review = await env.publish(provider, review=False)
    grant = await env.grant(provider, user, entry)
    await env.submit(user, entry)  # an application still open (closed once the entry is retired)
    # An application the department made, for another department's resource: retiring its own entries leaves it open.
    elsewhere = await env.publish(await env.department())
    own = await env.submit(provider, elsewhere)
    system = await _new_system(env, provider)
    admin = env.md(AUTHORITY)

    reason, _, message = await fails(env.directory.RetireDepartment(_retire(provider.department_code),
                                                                    metadata=admin, timeout=10),
                                     grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "DEPARTMENT_HAS_PUBLISHED_ENTRIES"
    for part in ("published catalogue entries: 1 (retire them with RetireEntry", "catalogue entries in review: 1 (have "
                 "the authority's reviewer return them with ReviewEntry)", "live grants as provider or "
                 "consumer: 1 (revoke them with RevokeGrant)", "open applications: 2 (have them decided or withdrawn)",
                 "enabled business systems: 1 (disable them with DisableSystem)"):
        assert part in message, message
    assert "persons" not in message
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await env.directory.RetireDepartment(_retire(user.department_code), metadata=admin, timeout=10)
    info, _ = details_of(caught.value)
    assert info is not None and info.reason == "DEPARTMENT_HAS_LIVE_GRANTS"
    assert dict(info.metadata) == {"live_grants": "1", "open_applications": "1"}

    stub = catalog_pb2_grpc.CatalogServiceStub(env.catalog)
    await retire_entry(env, provider, user, entry, "机构改革")  # heard by authorization, which closes on reading
    await env.sharing.RevokeGrant(sh.RevokeGrantRequest(id=grant.id, reason="机构改革"),
                                  metadata=env.md(approver(provider)), timeout=10)
    reason, _, _ = await fails(env.directory.RetireDepartment(_retire(provider.department_code), metadata=admin,
                                                              timeout=10), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "DEPARTMENT_HAS_ENTRIES_IN_REVIEW"  # the reviewer could still publish it for a department gone
    await stub.ReviewEntry(cat.ReviewEntryRequest(code=in_review.code, decision=cat.REVIEW_DECISION_RETURN,
                                                  reason="提供部门已撤销"), metadata=env.md(AUTHORITY_REVIEWER),
                           timeout=10)
    reason, _, _ = await fails(env.directory.RetireDepartment(_retire(provider.department_code), metadata=admin,
                                                              timeout=10), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "DEPARTMENT_HAS_OPEN_APPLICATIONS"
    # The user's application for the retired entry was closed with it; the department's own is withdrawn.
    assert sorted(a.state for a in await _applications_for(env, user, entry)) == [
        sh.APPLICATION_STATE_APPROVED, sh.APPLICATION_STATE_CLOSED]
    await env.sharing.WithdrawApplication(sh.WithdrawApplicationRequest(id=own.id), metadata=env.md(provider),
                                          timeout=10)
    reason, _, _ = await fails(env.directory.RetireDepartment(_retire(provider.department_code), metadata=admin,
                                                              timeout=10), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "DEPARTMENT_HAS_ENABLED_SYSTEMS"
    await env.directory.DisableSystem(directory_pb2.DisableSystemRequest(id=system.system.id),
                                      metadata=env.md(AUTHORITY_ADMIN), timeout=10)

    async with redis_client.pubsub() as pubsub:
        await pubsub.subscribe(DEPARTMENTS_CHANGED)
        await pubsub.get_message(timeout=5)  # the subscription confirmation
        retired = (await env.directory.RetireDepartment(_retire(provider.department_code, user.department_code),
                                                        metadata=admin, timeout=10)).department
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=10)
    assert message is not None and json.loads(message["data"]) == {
        "code": provider.department_code, "name": retired.name, "retired": True,
        "merged_into": user.department_code}


async def test_a_grant_its_entrys_retirement_ended_does_not_block_a_departments_retirement(env: Env) -> None:
    """机构改革: the department retires its entries first, as the first blocker asks, which ends their grants for good;
    yet those grants, still stored ACTIVE, were counted live (DEPARTMENT_HAS_LIVE_GRANTS), on both sides, until each
    was revoked by hand. They no longer block; a grant of an entry still published does."""
    provider, user = await env.department(), await env.department()
    ended, kept = await env.publish(provider), await env.publish(provider)
    await env.grant(provider, user, ended)
    live = await env.grant(provider, user, kept)
    await retire_entry(env, provider, user, ended, "机构改革")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await env.directory.RetireDepartment(_retire(user.department_code), metadata=env.md(AUTHORITY), timeout=10)
    info, _ = details_of(caught.value)
    assert info is not None and dict(info.metadata) == {"live_grants": "1"}, caught.value.details()
    await env.sharing.RevokeGrant(sh.RevokeGrantRequest(id=live.id, reason="机构改革"),
                                  metadata=env.md(approver(provider)), timeout=10)
    retired = (await env.directory.RetireDepartment(_retire(user.department_code), metadata=env.md(AUTHORITY),
                                                    timeout=10)).department
    assert retired.retire_time.seconds


async def test_an_application_its_entrys_retirement_closed_does_not_block_a_departments_retirement(env: Env) -> None:
    """机构改革: the provider retires its entry first, as the first blocker asks, which closes the applications nobody
    had decided; yet one nobody had read since was still stored SUBMITTED and counted open
    (DEPARTMENT_HAS_OPEN_APPLICATIONS, 'have them decided or withdrawn'), which nobody could do any more. It is closed
    before the count; an application of an entry still published still blocks."""
    provider, user = await env.department(), await env.department()
    ended, kept = await env.publish(provider), await env.publish(provider)
    await env.submit(user, ended)
    waiting = await env.submit(user, kept)
    await retire_entry(env, provider, user, ended, "机构改革")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await env.directory.RetireDepartment(_retire(user.department_code), metadata=env.md(AUTHORITY), timeout=10)
    info, _ = details_of(caught.value)
    assert info is not None and dict(info.metadata) == {"open_applications": "1"}, caught.value.details()
    await env.sharing.WithdrawApplication(sh.WithdrawApplicationRequest(id=waiting.id), metadata=env.md(user),
                                          timeout=10)
    retired = (await env.directory.RetireDepartment(_retire(user.department_code), metadata=env.md(AUTHORITY),
                                                    timeout=10)).department
    assert retired.retire_time.seconds


async def test_a_retired_departments_systems_persons_and_applications_are_refused(  # type: ignore[no-untyped-def]
        env: Env, parties) -> None:
    """After RetireDepartment: no token for its systems, no sign-in for its persons (each naming the retirement),
    nothing of it enabled or created again, and it is no side of a new application."""
    provider, _, entry = parties
    department, successor = await env.department(), await env.department()
    code = department.department_code
    system = await _new_system(env, department)
    people = persons_pb2_grpc.PersonServiceStub(env.auth)
    username = f"r{uuid.uuid4().hex[:10]}"
    person = (await people.CreatePerson(persons_pb2.CreatePersonRequest(
        person=persons_pb2.Person(username=username, display_name="撤销局办事员", department_code=code,
                                  roles=[persons_pb2.PERSON_ROLE_APPLICANT]), password="correct horse battery"),
        metadata=env.md(AUTHORITY), timeout=10)).person
    await env.directory.DisableSystem(directory_pb2.DisableSystemRequest(id=system.system.id),
                                      metadata=env.md(AUTHORITY_ADMIN), timeout=10)
    await people.DisablePerson(persons_pb2.DisablePersonRequest(id=person.id), metadata=env.md(AUTHORITY), timeout=10)
    await env.directory.RetireDepartment(_retire(code, successor.department_code), metadata=env.md(AUTHORITY),
                                         timeout=10)
    retired = f"department {code} was retired on "

    reason, _, message = await fails(_issue(env, system.system.id, system.secret), grpc.StatusCode.UNAUTHENTICATED)
    assert retired in message and f"merged into {successor.department_code}" in message, message
    assert reason == "DEPARTMENT_RETIRED"  # final, told apart from a secret to correct (a 前置机's notices stop)
    reason, _, message = await fails(persons_pb2_grpc.SessionServiceStub(env.auth).SignIn(
        persons_pb2.SignInRequest(username=username, password="correct horse battery", totp_code="000000"),
        metadata=env.md(ANONYMOUS), timeout=10), grpc.StatusCode.UNAUTHENTICATED)
    assert reason == "DEPARTMENT_RETIRED" and retired in message
    for call in (env.directory.EnableSystem(directory_pb2.EnableSystemRequest(id=system.system.id),
                                            metadata=env.md(AUTHORITY), timeout=10),
                 people.EnablePerson(persons_pb2.EnablePersonRequest(id=person.id), metadata=env.md(AUTHORITY),
                                     timeout=10),
                 _new_system(env, department),
                 people.CreatePerson(persons_pb2.CreatePersonRequest(person=persons_pb2.Person(
                     username=f"r{uuid.uuid4().hex[:10]}", display_name="新办事员", department_code=code,
                     roles=[persons_pb2.PERSON_ROLE_APPLICANT])), metadata=env.md(AUTHORITY), timeout=10),
                 env.submit(department, entry)):
        reason, _, message = await fails(call, grpc.StatusCode.FAILED_PRECONDITION)
        assert reason == "DEPARTMENT_RETIRED" and retired in message, message
    # The provider of the entry is still in service: its department applies as before.
    assert (await env.submit(await env.department(), entry)).provider_department_code == provider.department_code


async def test_departments_are_listed_page_by_page(env: Env) -> None:
    mine = {(await env.department()).department_code for _ in range(3)}
    seen: list[str] = []
    token = ""
    while True:
        page = await env.directory.ListDepartments(directory_pb2.ListDepartmentsRequest(page_size=2, page_token=token),
                                                   metadata=env.md(AUTHORITY), timeout=10)
        assert len(page.departments) <= 2
        seen += [d.code for d in page.departments]
        token = page.next_page_token
        if not token:
            break
    assert mine <= set(seen) and seen == sorted(seen) and len(seen) == len(set(seen))
    await fails(env.directory.ListDepartments(directory_pb2.ListDepartmentsRequest(page_token="garbage!"),
                                              metadata=env.md(AUTHORITY), timeout=10),
                grpc.StatusCode.INVALID_ARGUMENT)


async def test_systems_belong_to_their_department(env: Env) -> None:
    owner, other = await env.department(), await env.department()
    request = directory_pb2.CreateSystemRequest(system=directory_pb2.System(department_code=owner.department_code,
                                                                            name="低保审核系统"))
    created = await env.directory.CreateSystem(request, metadata=env.md(AUTHORITY_ADMIN), timeout=10)
    assert created.system.id.startswith("sys-") and created.system.department_code == owner.department_code
    assert len(created.secret) >= 40 and not created.system.disabled
    # The authority's own system provisions too (the bootstrap system, a directory sync); an empty department
    # means the caller's.
    by_authority = await env.directory.CreateSystem(request, metadata=env.md(AUTHORITY), timeout=10)
    authority = await env.department(authority=True)
    implicit = await env.directory.CreateSystem(directory_pb2.CreateSystemRequest(
        system=directory_pb2.System(name="第二系统")), metadata=env.md(person_of(authority, ADMINISTRATOR)), timeout=10)
    assert implicit.system.department_code == authority.department_code
    third = await env.directory.CreateSystem(request, metadata=env.md(AUTHORITY_ADMIN), timeout=10)

    get = directory_pb2.GetSystemRequest(id=created.system.id)
    assert (await env.directory.GetSystem(get, metadata=env.md(owner), timeout=10)).system == created.system
    await fails(env.directory.GetSystem(get, metadata=env.md(other), timeout=10), grpc.StatusCode.PERMISSION_DENIED)
    await fails(env.directory.GetSystem(directory_pb2.GetSystemRequest(id="sys-0000000000000000"),
                                        metadata=env.md(owner), timeout=10), grpc.StatusCode.NOT_FOUND)

    listed = await env.directory.ListSystems(directory_pb2.ListSystemsRequest(page_size=2), metadata=env.md(owner),
                                             timeout=10)
    following = await env.directory.ListSystems(directory_pb2.ListSystemsRequest(
        page_size=2, page_token=listed.next_page_token), metadata=env.md(owner), timeout=10)
    assert [s.id for s in [*listed.systems, *following.systems]] == [
        created.system.id, by_authority.system.id, third.system.id]
    assert not following.next_page_token
    await fails(env.directory.ListSystems(directory_pb2.ListSystemsRequest(department_code=owner.department_code),
                                          metadata=env.md(other), timeout=10), grpc.StatusCode.PERMISSION_DENIED)


async def test_system_name_is_required(env: Env) -> None:
    owner = await env.department()
    _, fields, _ = await fails(env.directory.CreateSystem(directory_pb2.CreateSystemRequest(
        system=directory_pb2.System(department_code=owner.department_code, name="")), metadata=env.md(AUTHORITY_ADMIN),
        timeout=10), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["system.name"]


# Tokens ------------------------------------------------------------------------------------------


async def _new_system(env: Env, owner: Caller) -> directory_pb2.CreateSystemResponse:
    """A new system of ``owner``'s department, registered by the authority's 管理员."""
    return await env.directory.CreateSystem(directory_pb2.CreateSystemRequest(
        system=directory_pb2.System(department_code=owner.department_code, name="业务系统")),
        metadata=env.md(AUTHORITY_ADMIN), timeout=10)


async def _issue(env: Env, system_id: str, secret: str) -> token_pb2.IssueTokenResponse:
    return await env.tokens.IssueToken(token_pb2.IssueTokenRequest(system_id=system_id, secret=secret),
                                       metadata=env.md(ANONYMOUS), timeout=10)


async def test_issue_token_for_the_right_secret(env: Env) -> None:
    owner = await env.department()
    created = await _new_system(env, owner)
    issued = await _issue(env, created.system.id, created.secret)
    caller = TokenVerifier(env.settings.token_public_key).verify(issued.token)
    assert caller == Caller(created.system.id, owner.department_code, authority=False)
    assert issued.expire_time.seconds > dt.datetime.now(dt.UTC).timestamp() + env.settings.token_ttl_seconds - 60


async def test_wrong_secret_and_unknown_id_are_unauthenticated_alike(env: Env) -> None:
    created = await _new_system(env, await env.department())
    _, _, wrong = await fails(_issue(env, created.system.id, created.secret[:-1] + "x"),
                              grpc.StatusCode.UNAUTHENTICATED)
    _, _, unknown = await fails(_issue(env, "sys-0000000000000000", created.secret), grpc.StatusCode.UNAUTHENTICATED)
    _, _, garbage = await fails(_issue(env, "robert'); DROP TABLE systems;--", "x"), grpc.StatusCode.UNAUTHENTICATED)
    assert wrong == unknown == garbage
    assert created.secret not in wrong


async def test_a_secret_read_from_a_file_with_its_final_newline_gets_a_token(env: Env) -> None:
    """A Java or .NET system reads its secret from a file (Files.readString, File.ReadAllText) and its id from a
    form, and sends them with the file's final newline or a space copied beside them: the right secret was refused
    "unknown system id or wrong secret", and logged as a guess at the system's secret. Neither ever holds a blank,
    so the blanks around them are not read; one inside is still a wrong secret. Nor does either hold a byte order
    mark, which a file saved by Notepad or Windows PowerShell as "UTF-8 with BOM" begins with and Java's readString
    (or the SDK given the file's bytes) keeps."""
    created = await _new_system(env, await env.department())
    for system_id, secret in ((created.system.id, created.secret + "\n"), (created.system.id, created.secret + "\r\n"),
                              (f" {created.system.id}\t", f" {created.secret} "),
                              (created.system.id, f"\ufeff{created.secret}\r\n")):
        issued = await _issue(env, system_id, secret)
        assert TokenVerifier(env.settings.token_public_key).verify(issued.token).system_id == created.system.id
    await fails(_issue(env, created.system.id, f"{created.secret[:9]} {created.secret[9:]}"),
                grpc.StatusCode.UNAUTHENTICATED)
    _, _, message = await fails(_issue(env, created.system.id, " \n"), grpc.StatusCode.INVALID_ARGUMENT)
    assert "secret: is required" in message, message


async def test_a_secret_and_an_id_in_quotes_get_a_token(env: Env) -> None:
    """A business system run by Docker with ``--env-file`` (or from a Kubernetes secret made with ``kubectl create
    secret --from-env-file``) whose file says ``GOVSHARE_SYSTEM_SECRET="…"`` gets the quotes as part of the value,
    and so does one that took a JSON value's text for the value: the right secret was refused "unknown system id or
    wrong secret" and logged as a guess at the system's secret (token.issue BAD_SECRET). Neither ever holds a
    quote; a quote inside is still a wrong secret."""
    created = await _new_system(env, await env.department())
    for system_id, secret in ((f'"{created.system.id}"', f'"{created.secret}"'),
                              (created.system.id, f"'{created.secret}'\n"),
                              (created.system.id, f"\u201c{created.secret}\u201d")):
        issued = await _issue(env, system_id, secret)
        assert TokenVerifier(env.settings.token_public_key).verify(issued.token).system_id == created.system.id
    await fails(_issue(env, created.system.id, f'"{created.secret}'), grpc.StatusCode.UNAUTHENTICATED)
    await fails(_issue(env, created.system.id, f'{created.secret[:9]}"{created.secret[9:]}'),
                grpc.StatusCode.UNAUTHENTICATED)


async def test_issue_token_is_authenticated_by_the_secret_alone(env: Env) -> None:
    """The edge lets IssueToken through without a token: the system's secret in the request is the credential,
    and no identity entry is needed or trusted."""
    created = await _new_system(env, await env.department())
    issued = await env.tokens.IssueToken(token_pb2.IssueTokenRequest(system_id=created.system.id,
                                                                      secret=created.secret), timeout=10)
    assert TokenVerifier(env.settings.token_public_key).verify(issued.token).system_id == created.system.id
    await fails(env.tokens.IssueToken(token_pb2.IssueTokenRequest(system_id=created.system.id, secret="wrong"),
                                      timeout=10), grpc.StatusCode.UNAUTHENTICATED)


async def test_rotation_replaces_the_secret_and_disabling_stops_tokens(env: Env) -> None:
    owner = await env.department()
    created = await _new_system(env, owner)
    rotated = await env.directory.RotateSystemSecret(directory_pb2.RotateSystemSecretRequest(id=created.system.id),
                                                     metadata=env.md(AUTHORITY_ADMIN), timeout=10)
    assert rotated.secret != created.secret
    await fails(_issue(env, created.system.id, created.secret), grpc.StatusCode.UNAUTHENTICATED)
    await _issue(env, created.system.id, rotated.secret)
    await fails(env.directory.DisableSystem(directory_pb2.DisableSystemRequest(id=created.system.id),
                                            metadata=env.md(await env.department()), timeout=10),
                grpc.StatusCode.PERMISSION_DENIED)
    disabled = await env.directory.DisableSystem(directory_pb2.DisableSystemRequest(id=created.system.id),
                                                 metadata=env.md(AUTHORITY_ADMIN), timeout=10)
    assert disabled.system.disabled
    _, _, message = await fails(_issue(env, created.system.id, rotated.secret), grpc.StatusCode.UNAUTHENTICATED)
    assert "disabled" in message


async def test_a_business_system_administers_no_system_but_rotates_its_own_secret(env: Env) -> None:
    """One leaked secret must not take over its department: a business system's token registers no system and
    rotates, disables or enables none of its siblings (the new secrets came back to the caller), refused
    ADMINISTRATOR_ONLY naming who may; it may rotate its own secret (automated rotation), logged as any rotation."""
    owner = await env.department()
    first, sibling = await _new_system(env, owner), await _new_system(env, owner)
    leaked = env.md(Caller(first.system.id, owner.department_code))
    create = directory_pb2.CreateSystemRequest(system=directory_pb2.System(department_code=owner.department_code,
                                                                           name="冒名系统"))
    for call in (env.directory.CreateSystem(create, metadata=leaked, timeout=10),
                 env.directory.RotateSystemSecret(directory_pb2.RotateSystemSecretRequest(id=sibling.system.id),
                                                  metadata=leaked, timeout=10),
                 env.directory.DisableSystem(directory_pb2.DisableSystemRequest(id=sibling.system.id),
                                             metadata=leaked, timeout=10),
                 env.directory.EnableSystem(directory_pb2.EnableSystemRequest(id=sibling.system.id),
                                            metadata=leaked, timeout=10)):
        reason, _, message = await fails(call, grpc.StatusCode.PERMISSION_DENIED)
        assert reason == "ADMINISTRATOR_ONLY" and "authority's 管理员 (ADMINISTRATOR)" in message, message
    _, _, message = await fails(env.directory.RotateSystemSecret(
        directory_pb2.RotateSystemSecretRequest(id=sibling.system.id), metadata=leaked, timeout=10),
        grpc.StatusCode.PERMISSION_DENIED)
    assert "rotate its own secret" in message, message
    await _issue(env, sibling.system.id, sibling.secret)  # the sibling's secret is still its own

    rotated = await env.directory.RotateSystemSecret(directory_pb2.RotateSystemSecretRequest(id=first.system.id),
                                                     metadata=leaked, timeout=10)
    # Its own rotation keeps the secret it held until the new one's first token (the answer may have been lost).
    await _issue(env, first.system.id, first.secret)
    await _issue(env, first.system.id, rotated.secret)
    await fails(_issue(env, first.system.id, first.secret), grpc.StatusCode.UNAUTHENTICATED)


async def test_anonymous_callers_reach_only_issue_token(env: Env) -> None:
    await fails(env.directory.ListDepartments(directory_pb2.ListDepartmentsRequest(), metadata=env.md(ANONYMOUS),
                                              timeout=10), grpc.StatusCode.UNAUTHENTICATED)


async def test_bootstrap_authority_is_idempotent_and_yields_an_authority_token(env: Env) -> None:
    code = credit_code()
    first = await bootstrap_authority(env.settings.database_url, code, "市大数据管理局", "110100", "运营管理系统")
    again = await bootstrap_authority(env.settings.database_url, code, "市大数据管理局", "110100", "运营管理系统")
    assert first[0] == again[0] and first[1] != again[1]
    await fails(_issue(env, *first), grpc.StatusCode.UNAUTHENTICATED)
    caller = TokenVerifier(env.settings.token_public_key).verify((await _issue(env, *again)).token)
    assert caller == Caller(again[0], code, authority=True)
    department = await env.directory.GetDepartment(directory_pb2.GetDepartmentRequest(code=code),
                                                   metadata=env.md(caller), timeout=10)
    assert department.department.authority
    # Of its region's level (110100: a city), not NATIONAL whatever the region.
    assert department.department.level == directory_pb2.ADMINISTRATIVE_LEVEL_MUNICIPAL


async def test_bootstrap_is_in_the_administrative_log(env: Env) -> None:
    code = credit_code()
    system_id, _ = await bootstrap_authority(env.settings.database_url, code, "市大数据管理局", "110100",
                                             "运营管理系统")
    listed = await admin_log_pb2_grpc.AdminLogServiceStub(env.auth).ListAdminEvents(
        admin_log_pb2.ListAdminEventsRequest(action="directory.bootstrap_authority", actor_department_code=code),
        metadata=env.md(AUTHORITY), timeout=10)
    assert [(e.target, e.actor_system_id) for e in listed.events] == [(system_id, "cli:govshare-seed")]


# Applications ------------------------------------------------------------------------------------


async def test_submit_then_approve_narrowed_creates_a_grant(env: Env, parties) -> None:  # type: ignore[no-untyped-def]
    provider, user, entry = parties
    application = await env.submit(user, entry)
    assert application.id.startswith("app-") and application.state == sh.APPLICATION_STATE_SUBMITTED
    assert (application.applicant_department_code, application.provider_department_code) == (
        user.department_code, provider.department_code)
    created = application.create_time.ToDatetime(tzinfo=dt.UTC)
    assert application.reply_due_time.ToDatetime(tzinfo=dt.UTC) == add_working_days(created, 10)
    assert not application.overdue
    assert [e.action for e in application.history] == ["SUBMITTED"]

    reason, _, _ = await fails(env.reply(user, application.id), grpc.StatusCode.PERMISSION_DENIED)
    assert reason == "NOT_YOUR_DEPARTMENT"  # the applicant's own approver: only the provider's replies
    expire = timestamp(dt.timedelta(days=30))
    replied = await env.reply(provider, application.id, items=["birth_date", "address"], unmasked_items=["address"],
                              quota=10, expire_time=expire)
    grant = replied.grant
    assert replied.application.state == sh.APPLICATION_STATE_APPROVED and replied.application.grant_id == grant.id
    assert (list(grant.items), list(grant.unmasked_items), grant.quota) == (["birth_date", "address"], ["address"], 10)
    assert grant.expire_time == expire and list(grant.purposes) == [ADMIN] and list(grant.methods) == [ONLINE]
    assert grant.state == sh.GRANT_STATE_ACTIVE and grant.department_code == user.department_code
    assert grant.policy_version > 0
    assert [e.action for e in replied.application.history] == ["SUBMITTED", "APPROVED"]
    assert replied.application.history[1].actor_department_code == provider.department_code

    decision = await env.check(user, entry, "name", "birth_date", "address")
    assert decision.allowed and decision.grant_id == grant.id and decision.quota == 10
    assert list(decision.allowed_items) == ["name", "birth_date", "address"]
    assert dict(decision.masks) == {"name": "name"}
    assert decision.policy_version >= grant.policy_version
    denied = await env.check(user, entry, "status")
    assert not denied.allowed and denied.deny_reason == common.DENY_REASON_ITEM_NOT_GRANTED
    assert list(denied.denied_items) == ["status"]
    # A department without any grant on the resource is answered under the current policy version too.
    ungranted = await env.check(provider, entry, "birth_date")
    assert ungranted.deny_reason == common.DENY_REASON_NOT_GRANTED
    assert ungranted.policy_version >= grant.policy_version

    reason, _, _ = await fails(env.reply(provider, application.id), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "WRONG_STATE"


async def test_approval_never_widens(env: Env, parties) -> None:  # type: ignore[no-untyped-def]
    provider, user, entry = parties
    application = await env.submit(user, entry, quota=100)
    _, fields, _ = await fails(env.reply(provider, application.id, items=["birth_date", "status"], quota=101,
                                         expire_time=timestamp(dt.timedelta(days=400)), purposes=[WORK]),
                               grpc.StatusCode.INVALID_ARGUMENT)
    assert set(fields) == {"items[1]", "quota", "expire_time", "purposes[0]"}
    still = await env.sharing.GetApplication(sh.GetApplicationRequest(id=application.id), metadata=env.md(user),
                                             timeout=10)
    assert still.application.state == sh.APPLICATION_STATE_SUBMITTED


async def test_refusal_needs_a_reason_then_escalation_and_coordination(env: Env, parties) -> None:  # type: ignore[no-untyped-def]
    provider, user, entry = parties
    application = await env.submit(user, entry)
    _, fields, _ = await fails(env.reply(provider, application.id, decision=sh.REPLY_DECISION_REFUSE),
                               grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["reason"]
    refused = await env.reply(provider, application.id, decision=sh.REPLY_DECISION_REFUSE, reason="超出法定职责范围")
    assert refused.application.state == sh.APPLICATION_STATE_REFUSED
    assert refused.application.reply_reason == "超出法定职责范围" and not refused.HasField("grant")

    escalate = sh.EscalateApplicationRequest(id=application.id, reason="低保审核为法定职责")
    reason, _, _ = await fails(env.sharing.EscalateApplication(escalate, metadata=env.md(provider), timeout=10),
                               grpc.StatusCode.PERMISSION_DENIED)
    assert reason == "NOT_APPLICANT"
    escalated = await env.sharing.EscalateApplication(escalate, metadata=env.md(user), timeout=10)
    assert escalated.application.state == sh.APPLICATION_STATE_ESCALATED

    decide = sh.RecordCoordinationDecisionRequest(id=application.id, grant=True, reason="经协调，予以共享",
                                                  items=["birth_date"], quota=5)
    reason, _, _ = await fails(env.sharing.RecordCoordinationDecision(decide, metadata=env.md(provider), timeout=10),
                               grpc.StatusCode.PERMISSION_DENIED)
    assert reason == "PERSON_REQUIRED"  # a coordination decision is a person's, the authority's reviewer
    reason, _, _ = await fails(env.sharing.RecordCoordinationDecision(
        decide, metadata=env.md(person_of(provider, APPROVER)), timeout=10), grpc.StatusCode.PERMISSION_DENIED)
    assert reason == "ROLE_REQUIRED"
    coordinated = await env.sharing.RecordCoordinationDecision(decide, metadata=env.md(AUTHORITY_REVIEWER), timeout=10)
    assert coordinated.application.state == sh.APPLICATION_STATE_COORDINATED_GRANTED
    assert list(coordinated.grant.items) == ["birth_date"] and coordinated.grant.quota == 5
    assert [e.action for e in coordinated.application.history] == [
        "SUBMITTED", "REFUSED", "ESCALATED", "COORDINATED_GRANTED"]
    assert coordinated.application.history[1].note == "超出法定职责范围"
    # Each decision keeps its own reason: the authority's was written over the provider's reply_reason, and the
    # console showed it as the provider's 答复理由 beside the provider's 答复人.
    assert coordinated.application.reply_reason == "超出法定职责范围"
    assert coordinated.application.coordination_reason == "经协调，予以共享"
    assert (await env.check(user, entry, "birth_date")).allowed
    await fails(env.sharing.RecordCoordinationDecision(decide, metadata=env.md(AUTHORITY_REVIEWER), timeout=10),
                grpc.StatusCode.FAILED_PRECONDITION)


async def test_escalating_a_refusal_says_why_and_an_overdue_one_says_it_was_unanswered(  # type: ignore[no-untyped-def]
        env: Env, parties) -> None:
    """A refusal must state its reason (R-APP-2, 国发〔2016〕51号); its escalation was taken with no reason at all,
    so the 审核员 coordinated on the provider's word alone (the console's form marks the reason required, the
    service did not). An application left unanswered is its own ground: its step says so when no reason is given."""
    provider, user, entry = parties
    refused = await env.submit(user, entry)
    await env.reply(provider, refused.id, decision=sh.REPLY_DECISION_REFUSE, reason="超出法定职责范围")
    for empty in ("", "  ", "。"):
        _, fields, message = await fails(env.sharing.EscalateApplication(
            sh.EscalateApplicationRequest(id=refused.id, reason=empty), metadata=env.md(user), timeout=10),
            grpc.StatusCode.INVALID_ARGUMENT)
        assert fields == ["reason"] and "why the authority should grant" in message, (empty, message)
    escalated = await env.sharing.EscalateApplication(sh.EscalateApplicationRequest(
        id=refused.id, reason="低保审核为法定职责"), metadata=env.md(user), timeout=10)
    assert escalated.application.history[-1].note == "低保审核为法定职责"

    unanswered = await env.submit(user, entry)
    await due_yesterday(env, unanswered.id)
    escalated = await env.sharing.EscalateApplication(sh.EscalateApplicationRequest(id=unanswered.id),
                                                      metadata=env.md(user), timeout=10)
    assert escalated.application.state == sh.APPLICATION_STATE_ESCALATED
    assert escalated.application.history[-1].note.startswith("提供部门逾期未答复（答复期限 ")


async def test_an_application_for_a_retired_resource_is_not_escalated(  # type: ignore[no-untyped-def]
        env: Env, parties) -> None:
    """Once the resource is retired, the authority's coordination can only refuse (NOT_PUBLISHED): the applicant
    escalated a refusal, or an application left unanswered, and waited for a decision that could grant nothing. The
    escalation of the refusal is refused saying so and that the refusal stands; the one left unanswered was closed
    by the retirement, and its escalation is refused saying that."""
    provider, user, entry = parties
    refused = await env.submit(user, entry)
    await env.reply(provider, refused.id, decision=sh.REPLY_DECISION_REFUSE, reason="超出法定职责范围")
    unanswered = await env.submit(user, entry)
    await due_yesterday(env, unanswered.id)
    await retire_entry(env, provider, user, entry, "职能划转")
    reason, _, message = await fails(env.sharing.EscalateApplication(sh.EscalateApplicationRequest(
        id=refused.id, reason="低保审核为法定职责"), metadata=env.md(user), timeout=10),
        grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "RESOURCE_RETIRED" and f"resource {entry.code} was retired on " in message, message
    assert "the refusal stands" in message, message
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await env.sharing.EscalateApplication(sh.EscalateApplicationRequest(id=refused.id, reason="低保审核为法定职责"),
                                              metadata=env.md(user), timeout=10)
    assert problem_of(caught.value).message.startswith("该资源目录已撤销，共享主管部门协调也不能再准予使用")
    reason, _, message = await fails(env.sharing.EscalateApplication(sh.EscalateApplicationRequest(
        id=unanswered.id), metadata=env.md(user), timeout=10), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "APPLICATION_CLOSED" and f"resource {entry.code} was retired" in message, message
    got = await env.sharing.GetApplication(sh.GetApplicationRequest(id=refused.id), metadata=env.md(user), timeout=10)
    assert got.application.state == sh.APPLICATION_STATE_REFUSED


async def test_an_application_whose_requested_period_has_ended_is_not_escalated(  # type: ignore[no-untyped-def]
        env: Env, parties) -> None:
    """Once the period applied for has ended, the authority's coordination can only refuse (no end can be approved:
    INVALID_ARGUMENT on expire_time, "refuse the application"), yet the applicant's escalation of a refusal, or of an
    application left unanswered past its due time, was accepted: the applicant waited for a decision that could grant
    nothing, and the authority's 审核员 had to write the refusal. Each is refused TERM_ENDED, naming the end applied
    for and what to do instead; the application stays as it was."""
    provider, user, entry = parties
    refused = await env.submit(user, entry)
    await env.reply(provider, refused.id, decision=sh.REPLY_DECISION_REFUSE, reason="超出法定职责范围")
    unanswered = await env.submit(user, entry)
    await due_yesterday(env, unanswered.id)
    for application in (refused, unanswered):
        await term_ended_a_minute_ago(env, application.id)
    reason, _, message = await fails(env.sharing.EscalateApplication(sh.EscalateApplicationRequest(
        id=refused.id, reason="低保审核为法定职责"), metadata=env.md(user), timeout=10),
        grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "TERM_ENDED" and f"application {refused.id} asked for use until " in message, message
    assert "the refusal stands" in message, message
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await env.sharing.EscalateApplication(sh.EscalateApplicationRequest(id=refused.id, reason="低保审核为法定职责"),
                                              metadata=env.md(user), timeout=10)
    assert problem_of(caught.value).message.startswith("所申请的有效期已届满，共享主管部门协调也不能再准予使用")
    reason, _, message = await fails(env.sharing.EscalateApplication(sh.EscalateApplicationRequest(
        id=unanswered.id), metadata=env.md(user), timeout=10), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "TERM_ENDED" and "withdraw the application" in message, message
    for application, state in ((refused, sh.APPLICATION_STATE_REFUSED), (unanswered, sh.APPLICATION_STATE_SUBMITTED)):
        got = await env.sharing.GetApplication(sh.GetApplicationRequest(id=application.id), metadata=env.md(user),
                                               timeout=10)
        assert got.application.state == state


async def test_an_undecided_application_is_closed_by_its_resources_retirement(  # type: ignore[no-untyped-def]
        env: Env, parties) -> None:
    """An application nobody had decided when its resource was retired stayed SUBMITTED (or ESCALATED) for ever: in
    the provider's list to answer, counted by supervision as unanswered past its due day month after month, the
    applicant told nothing until somebody refused it. The retirement closes it (APPLICATION_STATE_CLOSED), its last
    step naming the day and the catalogue's reason, logged as sharing.closed; nobody can answer, coordinate or
    withdraw it afterwards (APPLICATION_CLOSED); it counts as unanswered only when its reply had fallen due before
    the retirement."""
    provider, user, entry = parties
    waiting, late, escalated = [await env.submit(user, entry) for _ in range(3)]
    await due_yesterday(env, late.id)
    await env.reply(provider, escalated.id, decision=sh.REPLY_DECISION_REFUSE, reason="超出法定职责范围")
    await env.sharing.EscalateApplication(sh.EscalateApplicationRequest(id=escalated.id, reason="低保审核为法定职责"),
                                          metadata=env.md(user), timeout=10)
    await retire_entry(env, provider, user, entry, "职能划转")
    waiting_list = await env.sharing.ListApplications(sh.ListApplicationsRequest(
        role=sh.APPLICATION_ROLE_PROVIDER, state=sh.APPLICATION_STATE_SUBMITTED), metadata=env.md(provider),
        timeout=10)
    assert {a.id for a in waiting_list.applications} & {waiting.id, late.id} == set()
    overdue = await env.sharing.ListApplications(sh.ListApplicationsRequest(overdue_only=True),
                                                 metadata=env.md(AUTHORITY), timeout=10)
    assert late.id not in {a.id for a in overdue.applications}
    for application in (waiting, late, escalated):
        got = (await env.sharing.GetApplication(sh.GetApplicationRequest(id=application.id), metadata=env.md(user),
                                                timeout=10)).application
        assert got.state == sh.APPLICATION_STATE_CLOSED and not got.overdue, got
        step = got.history[-1]
        assert (step.action, step.actor_department_code, step.actor_display_name) == (
            "CLOSED", provider.department_code, "共享平台")
        assert "撤销（职能划转）" in step.note and "申请随之终止" in step.note, step.note
    reason, _, message = await fails(env.reply(provider, waiting.id), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "APPLICATION_CLOSED" and f"resource {entry.code} was retired" in message, message
    reason, _, _ = await fails(env.sharing.WithdrawApplication(sh.WithdrawApplicationRequest(id=late.id),
                                                               metadata=env.md(user), timeout=10),
                               grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "APPLICATION_CLOSED"
    reason, _, _ = await fails(env.sharing.RecordCoordinationDecision(sh.RecordCoordinationDecisionRequest(
        id=escalated.id, grant=False, reason="资源已撤销"), metadata=env.md(AUTHORITY_REVIEWER), timeout=10),
        grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "APPLICATION_CLOSED"
    logged = await admin_log_pb2_grpc.AdminLogServiceStub(env.auth).ListAdminEvents(
        admin_log_pb2.ListAdminEventsRequest(action="sharing.closed", actor_department_code=provider.department_code),
        metadata=env.md(AUTHORITY), timeout=10)
    assert {e.target for e in logged.events} == {waiting.id, late.id, escalated.id}

    # Time passes: the waiting one's reply fell due yesterday, after the retirement (two days ago) had closed it;
    # the late one's had fallen due before it. Only the late one is the provider's failure to answer.
    conn = await asyncpg.connect(env.settings.database_url)
    try:
        await conn.execute('UPDATE "authorization".application_events SET time = now() - interval \'2 days\''
                           " WHERE application_id = ANY($1::text[]) AND action = 'CLOSED'", [waiting.id, late.id])
        await conn.execute('UPDATE "authorization".applications SET reply_due_time = now() - interval \'1 day\','
                           " create_time = now() - interval '3 days' WHERE id = $1", waiting.id)
        await conn.execute('UPDATE "authorization".applications SET reply_due_time = now() - interval \'3 days\','
                           " create_time = now() - interval '3 days' WHERE id = $1", late.id)
    finally:
        await conn.close()
    start, stop = timestamp_pb2.Timestamp(), timestamp_pb2.Timestamp()
    start.FromDatetime(dt.datetime.now(dt.UTC) - dt.timedelta(days=4))
    stop.FromDatetime(dt.datetime.now(dt.UTC))
    rows = (await figures_pb2_grpc.SharingFiguresServiceStub(env.auth).ListDepartmentFigures(
        figures_pb2.ListDepartmentFiguresRequest(start_time=start, end_time=stop),
        metadata=env.md(service_caller("supervision")), timeout=10)).figures
    assert sum(f.value for f in rows if (f.department_code, f.name, f.dimension) == (
        provider.department_code, "applications.unreplied_overdue", "")) == 1


async def test_an_approval_crossing_its_resources_retirement_closes_the_application(  # type: ignore[no-untyped-def]
        env: Env, parties) -> None:
    """The provider's 审批人 approves an application read before its resource was retired, the retirement heard
    before the grant is made: the approval was refused NOT_PUBLISHED 'refuse the application, saying so', and the
    refusal the 审批人 then tried was refused APPLICATION_CLOSED. The application is closed there and then, and the
    approval refused APPLICATION_CLOSED saying so."""
    provider, user, entry = parties
    application = await env.submit(user, entry)
    retired = cat.Entry()
    retired.CopyFrom(entry)
    retired.state = cat.ENTRY_STATE_RETIRED
    retired.retire_reason = "职能划转"
    retired.update_time.GetCurrentTime()

    class Retiring:  # the resource as the approval reads it: published when the application is read, then retired
        reads = 0

        async def get(self, _code: str) -> cat.Entry:
            self.reads += 1
            return entry if self.reads == 1 else retired

    store = Store()
    await store.open(env.settings.database_url, min_size=1, max_size=2)
    try:
        sharing = Sharing(store, Retiring(), None, env.settings)  # type: ignore[arg-type]
        with pytest.raises(ServiceError) as caught:
            await sharing.reply(approver(provider), application.id, sh.REPLY_DECISION_APPROVE, "", Terms())
    finally:
        await store.close()
    assert (caught.value.code, caught.value.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "APPLICATION_CLOSED")
    got = (await env.sharing.GetApplication(sh.GetApplicationRequest(id=application.id), metadata=env.md(user),
                                            timeout=10)).application
    assert got.state == sh.APPLICATION_STATE_CLOSED and not got.grant_id


async def test_figures_close_the_applications_of_a_retired_resource_nobody_read(  # type: ignore[no-untyped-def]
        env: Env, parties) -> None:
    """Supervision's figures are counted with every undecided application of a retired resource closed first, not
    only those somebody happened to read since: left SUBMITTED and past due, it was counted against the provider."""
    provider, user, entry = parties
    application = await env.submit(user, entry)
    await retire_entry(env, provider, user, entry, "职能划转")
    start, stop = timestamp_pb2.Timestamp(), timestamp_pb2.Timestamp()
    start.FromDatetime(dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    stop.FromDatetime(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1))
    await figures_pb2_grpc.SharingFiguresServiceStub(env.auth).ListDepartmentFigures(
        figures_pb2.ListDepartmentFiguresRequest(start_time=start, end_time=stop),
        metadata=env.md(service_caller("supervision")), timeout=10)
    conn = await asyncpg.connect(env.settings.database_url)
    try:
        state = await conn.fetchval('SELECT state FROM "authorization".applications WHERE id = $1', application.id)
    finally:
        await conn.close()
    assert state == sh.APPLICATION_STATE_CLOSED


async def test_a_retirement_closes_the_applications_nobody_reads(  # type: ignore[no-untyped-def]
        env: Env, parties) -> None:
    """An application of a retired resource was closed only when somebody read it: until then ListApplications with
    state=CLOSED left it out and the applicant's list of closed ones missed it. The catalog's change event closes
    it, unread (the listing filtered by state reads the stored state and closes nothing itself)."""
    provider, user, entry = parties
    application = await env.submit(user, entry)
    await catalog_pb2_grpc.CatalogServiceStub(env.catalog).RetireEntry(
        cat.RetireEntryRequest(code=entry.code, reason="职能划转"), metadata=env.md(person_of(provider, DATA_OFFICER)),
        timeout=10)
    request = sh.ListApplicationsRequest(role=sh.APPLICATION_ROLE_APPLICANT, state=sh.APPLICATION_STATE_CLOSED)
    for _ in range(200):  # the event reaches authorization asynchronously: wait for it, not for a time
        listed = await env.sharing.ListApplications(request, metadata=env.md(user), timeout=10)
        if application.id in {a.id for a in listed.applications}:
            break
        await asyncio.sleep(0.05)
    assert [a.state for a in listed.applications if a.id == application.id] == [sh.APPLICATION_STATE_CLOSED]


async def test_a_sweep_of_retired_resources_goes_on_past_one_it_cannot_read(env: Env) -> None:
    """Closing the undecided applications of every retired resource (the sweep at every subscription, before the
    figures are counted, before a department's retirement) stopped at the first resource whose entry could not be
    read: every retired resource after it in code order kept its applications SUBMITTED. Each resource is tried;
    the one that failed is named (sweep_retired), and close_retired raises its failure after closing the others."""
    provider, user = await env.department(), await env.department()
    first, second = sorted([await env.publish(provider), await env.publish(provider)], key=lambda e: e.code)
    unread, closable = await env.submit(user, first), await env.submit(user, second)
    retired = cat.Entry()
    retired.CopyFrom(second)
    retired.state = cat.ENTRY_STATE_RETIRED
    retired.update_time.GetCurrentTime()

    class Catalog:  # times out on the first resource; the second is retired; the others (other tests') are as stored
        @staticmethod
        async def get(code: str) -> cat.Entry | None:
            if code == first.code:
                raise ServiceError(grpc.StatusCode.UNAVAILABLE, "CATALOG_UNAVAILABLE", "the catalog did not answer")
            return retired if code == second.code else None

    store = Store()
    await store.open(env.settings.database_url, min_size=1, max_size=2)
    try:
        sharing = Sharing(store, Catalog(), None, env.settings)  # type: ignore[arg-type]
        with pytest.raises(ServiceError) as caught:
            await sharing.close_retired()
        assert caught.value.code == grpc.StatusCode.UNAVAILABLE
        states = {a.id: a.state for a in [await store.get_application(unread.id),
                                          await store.get_application(closable.id)] if a is not None}
        assert states == {unread.id: sh.APPLICATION_STATE_SUBMITTED, closable.id: sh.APPLICATION_STATE_CLOSED}
        closed, failed = await sharing.sweep_retired()
        assert (closed, list(failed)) == (0, [first.code])
    finally:
        await store.close()


async def test_the_catalog_lookup_tells_of_every_subscription_and_change(env: Env) -> None:
    """What closes a retired resource's applications unread (RetiredClosing, watching EntryLookup): every confirmed
    subscription, the first at start, sweeps them all (None: events may have been missed), and each change event
    the resource it names."""
    lookup = EntryLookup(env.settings)
    heard: asyncio.Queue[str | None] = asyncio.Queue()
    lookup.watch(heard.put_nowait)
    await lookup.open()
    redis = aioredis.from_url(env.settings.redis_url)
    try:
        assert await asyncio.wait_for(heard.get(), 10) is None  # a bound on a failure, not a threshold
        await publish(redis, CATALOG_CHANGED, {"code": "101001/000001"})
        assert await asyncio.wait_for(heard.get(), 10) == "101001/000001"
    finally:
        await lookup.close()
        await redis.aclose()


async def test_an_overdue_escalation_crossing_a_late_refusal_does_not_escalate_the_refusal(  # type: ignore[no-untyped-def]
        env: Env, parties) -> None:
    """The applicant escalates an application left unanswered past its due day while the provider's late refusal is
    being saved: the escalation, checked against the application as read (SUBMITTED, overdue), moved it on from
    REFUSED, so a refusal was escalated without the reason a refusal's escalation must give, under the note
    提供部门逾期未答复 of a provider that had answered. It moves on only from the state it was checked in: the
    refusal stands, STATE_CHANGED, and the applicant escalates it saying why."""
    provider, user, entry = parties
    application = await env.submit(user, entry)
    await due_yesterday(env, application.id)
    store = Store()
    await store.open(env.settings.database_url, min_size=1, max_size=2)
    try:
        class Published:  # the resource as the escalation reads it (not retired)
            @staticmethod
            async def get(_code: str) -> cat.Entry:
                return entry

        sharing = Sharing(store, Published(), None, env.settings)  # type: ignore[arg-type]
        read = await store.get_application(application.id)  # as the escalation read it: SUBMITTED, overdue
        await env.reply(provider, application.id, decision=sh.REPLY_DECISION_REFUSE, reason="超出法定职责范围")

        async def as_read(_id: str) -> object:
            return read
        sharing._find_application = as_read  # type: ignore[method-assign]
        with pytest.raises(ServiceError) as caught:
            await sharing.escalate(user, application.id, "")
    finally:
        await store.close()
    assert (caught.value.code, caught.value.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "STATE_CHANGED")
    now = (await env.sharing.GetApplication(sh.GetApplicationRequest(id=application.id), metadata=env.md(user),
                                            timeout=10)).application
    assert now.state == sh.APPLICATION_STATE_REFUSED, now


async def test_the_applicant_withdraws_an_application_nobody_has_decided(env: Env) -> None:
    """An application made by mistake (the wrong items, the wrong resource) or no longer needed could not be ended:
    it cannot be edited, so the applicant applied again and the provider was left to refuse the first or let it
    fall overdue, counted against it. The applicant now withdraws it while it is undecided (SUBMITTED, or ESCALATED
    and not yet coordinated); then nobody can decide it, and one withdrawn after its due day still counts as
    unanswered by the provider."""
    provider, user = await env.department(), await env.department()
    entry = await env.publish(provider)
    mistaken, late, decided = [await env.submit(user, entry) for _ in range(3)]
    withdraw = sh.WithdrawApplicationRequest(id=mistaken.id, reason="信息项勾选有误，重新申请")
    reason, _, _ = await fails(env.sharing.WithdrawApplication(withdraw, metadata=env.md(approver(provider)),
                                                               timeout=10), grpc.StatusCode.PERMISSION_DENIED)
    assert reason == "NOT_APPLICANT"
    withdrawn = (await env.sharing.WithdrawApplication(withdraw, metadata=env.md(user), timeout=10)).application
    assert withdrawn.state == sh.APPLICATION_STATE_WITHDRAWN and not withdrawn.overdue
    assert [(e.action, e.note) for e in withdrawn.history][-1] == ("WITHDRAWN", "信息项勾选有误，重新申请")
    reason, _, _ = await fails(env.reply(provider, mistaken.id), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "WRONG_STATE"
    reason, _, _ = await fails(env.sharing.WithdrawApplication(withdraw, metadata=env.md(user), timeout=10),
                               grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "NOT_WITHDRAWABLE"
    await env.reply(provider, decided.id)
    reason, _, message = await fails(env.sharing.WithdrawApplication(sh.WithdrawApplicationRequest(id=decided.id),
                                                                     metadata=env.md(user), timeout=10),
                                     grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "NOT_WITHDRAWABLE" and "revocation" in message
    logged = await admin_log_pb2_grpc.AdminLogServiceStub(env.auth).ListAdminEvents(
        admin_log_pb2.ListAdminEventsRequest(action="sharing.withdrawn", actor_department_code=user.department_code),
        metadata=env.md(AUTHORITY), timeout=10)
    assert [e.target for e in logged.events] == [mistaken.id]

    # A not-shared request waits for the authority: withdrawn, it can no longer be coordinated.
    not_shared = await env.submit(user, await env.publish(provider, common.SHARE_TYPE_NOT_SHARED))
    await env.sharing.WithdrawApplication(sh.WithdrawApplicationRequest(id=not_shared.id), metadata=env.md(user),
                                          timeout=10)
    await fails(env.sharing.RecordCoordinationDecision(sh.RecordCoordinationDecisionRequest(
        id=not_shared.id, grant=True, reason="经协调，予以共享"), metadata=env.md(AUTHORITY_REVIEWER), timeout=10),
        grpc.StatusCode.FAILED_PRECONDITION)

    await due_yesterday(env, late.id)  # then it is withdrawn
    await env.sharing.WithdrawApplication(sh.WithdrawApplicationRequest(id=late.id), metadata=env.md(user),
                                          timeout=10)
    store = Store()
    await store.open(env.settings.database_url, min_size=1, max_size=2)
    try:
        now = dt.datetime.now(dt.UTC)
        rows = await department_figures(store, now - dt.timedelta(hours=1), now + dt.timedelta(hours=1), now,
                                        not_retired)
    finally:
        await store.close()
    mine = {(row.name, row.dimension): row.value for row in rows if row.department_code == provider.department_code}
    assert mine[("applications.received", "")] == 4
    assert mine[("applications.unreplied_overdue", "")] == 1  # the late one; not the one withdrawn in time


async def test_only_refused_applications_are_escalated(env: Env, parties) -> None:  # type: ignore[no-untyped-def]
    _, user, entry = parties
    application = await env.submit(user, entry)
    reason, _, _ = await fails(env.sharing.EscalateApplication(sh.EscalateApplicationRequest(id=application.id),
                                                               metadata=env.md(user), timeout=10),
                               grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "NOT_ESCALATABLE"


async def test_not_shared_goes_to_coordination_and_a_final_refusal_needs_a_reason(env: Env) -> None:
    provider, user = await env.department(), await env.department()
    entry = await env.publish(provider, common.SHARE_TYPE_NOT_SHARED)
    refused = await env.check(user, entry, "name")
    assert not refused.allowed and refused.deny_reason == common.DENY_REASON_NOT_SHARED

    application = await env.submit(user, entry)
    assert application.state == sh.APPLICATION_STATE_ESCALATED
    assert [e.action for e in application.history] == ["SUBMITTED", "ESCALATED"]
    await fails(env.reply(provider, application.id), grpc.StatusCode.FAILED_PRECONDITION)
    final = sh.RecordCoordinationDecisionRequest(id=application.id, grant=False)
    _, fields, _ = await fails(env.sharing.RecordCoordinationDecision(
        final, metadata=env.md(AUTHORITY_REVIEWER), timeout=10), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["reason"]
    final.reason = "涉及侦查秘密，不予共享"
    done = await env.sharing.RecordCoordinationDecision(final, metadata=env.md(AUTHORITY_REVIEWER), timeout=10)
    assert done.application.state == sh.APPLICATION_STATE_COORDINATED_REFUSED and not done.HasField("grant")
    assert (done.application.reply_reason, done.application.coordination_reason) == ("", "涉及侦查秘密，不予共享")
    assert not (await env.check(user, entry, "name")).allowed

    second = await env.submit(user, entry)
    granted = await env.sharing.RecordCoordinationDecision(sh.RecordCoordinationDecisionRequest(
        id=second.id, grant=True), metadata=env.md(AUTHORITY_REVIEWER), timeout=10)
    assert granted.grant.state == sh.GRANT_STATE_ACTIVE
    assert (await env.check(user, entry, "name", "birth_date")).allowed


async def test_a_grant_given_by_coordination_is_revoked_only_by_the_authority(env: Env) -> None:
    """The provider revoked the grant the authority's coordination decision gave over its refusal, at once, and
    the decision came to nothing (Art. 12); it still adjusts the grant's scope (003 Art. 11)."""
    provider, user = await env.department(), await env.department()
    entry = await env.publish(provider, common.SHARE_TYPE_NOT_SHARED)
    application = await env.submit(user, entry)
    grant = (await env.sharing.RecordCoordinationDecision(sh.RecordCoordinationDecisionRequest(
        id=application.id, grant=True, reason="经协调，予以共享"), metadata=env.md(AUTHORITY_REVIEWER),
        timeout=10)).grant
    provider_approver = env.md(person_of(provider, APPROVER))
    reason, _, _ = await fails(env.sharing.RevokeGrant(sh.RevokeGrantRequest(id=grant.id, reason="不同意协调结果"),
                                                       metadata=provider_approver, timeout=10),
                               grpc.StatusCode.PERMISSION_DENIED)
    assert reason == "ROLE_REQUIRED"
    adjusted = await env.sharing.UpdateGrant(sh.UpdateGrantRequest(
        grant=sh.Grant(id=grant.id, quota=50), update_mask=field_mask_pb2.FieldMask(paths=["quota"]),
        reason="按实际需要设定调用上限"), metadata=provider_approver, timeout=10)
    assert adjusted.grant.state == sh.GRANT_STATE_ACTIVE and adjusted.grant.quota == 50
    revoked = await env.sharing.RevokeGrant(sh.RevokeGrantRequest(id=grant.id, reason="协调事项已办结"),
                                            metadata=env.md(AUTHORITY_REVIEWER), timeout=10)
    assert revoked.grant.state == sh.GRANT_STATE_REVOKED
    assert revoked.grant.changed_by.id == AUTHORITY_REVIEWER.system_id


async def test_a_providers_application_for_its_own_resource_goes_to_the_authority(  # type: ignore[no-untyped-def]
        env: Env, parties) -> None:
    """Its approvers may not answer it (OWN_APPLICATION) and nobody else could: it sat SUBMITTED until overdue,
    counted against the department; the authority decides it now, as a not-shared request."""
    provider, _, entry = parties
    application = await env.submit(provider, entry)
    assert application.state == sh.APPLICATION_STATE_ESCALATED and not application.overdue
    assert [e.action for e in application.history] == ["SUBMITTED", "ESCALATED"]
    granted = await env.sharing.RecordCoordinationDecision(sh.RecordCoordinationDecisionRequest(
        id=application.id, grant=True, reason="经协调，准予本部门其他系统使用"), metadata=env.md(AUTHORITY_REVIEWER),
        timeout=10)
    assert granted.application.state == sh.APPLICATION_STATE_COORDINATED_GRANTED


async def test_unconditional_resources_need_no_application(env: Env) -> None:
    provider, user = await env.department(), await env.department()
    entry = await env.publish(provider, common.SHARE_TYPE_UNCONDITIONAL)
    reason, _, message = await fails(env.submit(user, entry), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "NO_APPLICATION_NEEDED" and "no application is needed" in message
    decision = await env.check(user, entry)
    assert decision.allowed and list(decision.allowed_items) == list(ITEMS)
    assert dict(decision.masks) == {"citizen_id": "citizen_id", "name": "name", "address": "address"}


async def test_submission_problems_are_all_named(env: Env, parties) -> None:  # type: ignore[no-untyped-def]
    _, user, entry = parties
    _, fields, _ = await fails(env.submit(user, entry, items=["name", "salary"], purposes=[], basis="",
                                          requested_expire_time=timestamp(-dt.timedelta(days=1)),
                                          methods=[common.SHARE_METHOD_FRONT_END_EXCHANGE], quota=-5,
                                          system_ids=["sys-0000000000000000"]),
                               grpc.StatusCode.INVALID_ARGUMENT)
    assert set(fields) == {"application.items[1]", "application.purposes", "application.basis",
                           "application.requested_expire_time", "application.methods[0]", "application.quota",
                           "application.system_ids[0]"}
    await fails(env.submit(user, cat.Entry(code=resource_code())), grpc.StatusCode.NOT_FOUND)
    # However many values are wrong, the answer stays INVALID_ARGUMENT (bounded, so it fits in the trailers).
    _, fields, _ = await fails(env.submit(user, entry, items=[f"Bad-{i}-" + "x" * 60 for i in range(400)]),
                               grpc.StatusCode.INVALID_ARGUMENT)
    assert 1 < len(fields) <= 25 and fields[-1] == "request"
    _, fields, _ = await fails(env.submit(user, cat.Entry(code="人口")), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["application.resource_code"]


async def test_an_application_naming_no_items_is_refused_not_made_for_every_item(  # type: ignore[no-untyped-def]
        env: Env, parties) -> None:
    """An application sent without items ({"items": []}, a list a program left empty, or the field misnamed in a
    generated client) was made for every item of the resource, its sensitive ones too, which the provider's 审批人
    was then asked to approve: more than the use needs (个人信息保护法 Art. 6, 最小必要), without the department
    having chosen it (the console refused it only in its own form). It is refused on application.items, nothing
    made, asking for the items the use needs."""
    _, user, entry = parties
    before = await env.sharing.ListApplications(sh.ListApplicationsRequest(role=sh.APPLICATION_ROLE_APPLICANT),
                                                metadata=env.md(user), timeout=10)
    _, fields, message = await fails(env.submit(user, entry, items=[]), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["application.items"], fields
    assert "name each item your use needs" in message, message
    after = await env.sharing.ListApplications(sh.ListApplicationsRequest(role=sh.APPLICATION_ROLE_APPLICANT),
                                               metadata=env.md(user), timeout=10)
    assert [a.id for a in after.applications] == [a.id for a in before.applications]


async def test_an_application_is_read_by_the_rules_its_queries_are(env: Env, parties) -> None:  # type: ignore[no-untyped-def]
    """Three places where one request's fields were read two ways. A purpose_text with a line break (低保\n审核,
    a text pasted from a document) was accepted by SubmitApplication, and the same text declared on a Query was
    refused: the department was granted what its queries could not name. A purpose listed twice was quietly dropped
    while an item listed twice was refused. And items [""] (a list a program filled with an empty string) was said
    to be "'' is not an item machine name", which reads as a name that was wrong rather than one that was missing.
    Now the purpose_text is refused as Query refuses it, a purpose or method listed twice is refused as an item is,
    and an empty item is said to be empty; nothing is made."""
    _, user, entry = parties
    before = await _applications_for(env, user, entry)
    for text, character in (("低保\n审核", "U+000A"), ("低保\u200b审核", "U+200B"), ("低保\u202e审核", "U+202E")):
        _, fields, message = await fails(env.submit(user, entry, purpose_text=text), grpc.StatusCode.INVALID_ARGUMENT)
        assert fields == ["application.purpose_text"], fields
        said = message.split(": ", 1)[1]
        assert [v.description for v in purpose_text_violations(text)] == [said], (text, said)  # Query's own words
        assert f"character 3 is {character}" in said, said
        assert "U+" in field_sentence(said) and "第 3 个字符" in field_sentence(said)  # the console's 申请使用 form
    _, fields, message = await fails(env.submit(user, entry, purposes=[ADMIN, ADMIN]), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["application.purposes[1]"], fields
    assert message.endswith("PURPOSE_TYPE_ADMINISTRATIVE_BASIS is listed twice"), message
    _, fields, message = await fails(env.submit(user, entry, methods=[ONLINE, ONLINE]),
                                     grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["application.methods[1]"], fields
    assert message.endswith("SHARE_METHOD_ONLINE_QUERY is listed twice"), message
    _, fields, message = await fails(env.submit(user, entry, items=["name", ""]), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["application.items[1]"], fields
    assert "is empty: name an item by its machine name" in message, message
    assert [a.id for a in await _applications_for(env, user, entry)] == [a.id for a in before]
    # A purpose text of one line, full-width spaces and all, is taken by both.
    made = await env.submit(user, entry, purpose_text="低保资格审核　2026-001")
    assert made.purpose_text == "低保资格审核　2026-001" and not purpose_text_violations(made.purpose_text)


async def test_an_application_for_a_method_the_resource_does_not_offer_names_those_it_offers(  # type: ignore[no-untyped-def]
        env: Env, parties) -> None:
    """methods [SHARE_METHOD_FRONT_END_EXCHANGE] for a resource offered by online query and batch download was refused
    "resource … is not shared by this method": the integrator, who sent an enum's number, learnt neither which
    method that was nor which to ask for. The refusal names both, as the proto spells them."""
    _, user, entry = parties
    _, fields, message = await fails(env.submit(user, entry, methods=[ONLINE, common.SHARE_METHOD_FRONT_END_EXCHANGE]),
                                     grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["application.methods[1]"], fields
    offered = ", ".join(common.ShareMethod.Name(m) for m in sorted(entry.share_methods))
    assert message == (f"application.methods[1]: resource {entry.code} is not shared by "
                       f"SHARE_METHOD_FRONT_END_EXCHANGE (it offers {offered})"), message
    assert field_sentence(message.split(": ", 1)[1]) == "该资源不提供这种共享方式。"  # the console's 申请使用 form


async def test_an_application_for_a_code_in_full_width_forms_says_so(env: Env, parties) -> None:  # type: ignore[no-untyped-def]
    """A resource code typed with a Chinese input method (１０１００１／０００００１) was refused "must be a
    信息资源代码 like 101001/000001 (…)", the form the caller believed it had sent. The refusal says the code is
    in full-width characters; the console's form says it in Chinese."""
    _, user, entry = parties
    wide = "".join(chr(ord(c) + 0xFEE0) for c in entry.code)
    _, fields, message = await fails(env.submit(user, cat.Entry(code=wide)), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["application.resource_code"], fields
    assert message.endswith(": it is written in full-width characters (全角): write its digits and / in ASCII (半角)")
    assert field_sentence(message.split(": ", 1)[1]) == "信息资源代码须用半角数字和“/”填写，如 101001/000001。"


async def test_of_two_grants_covering_the_items_the_one_unmasking_them_serves(  # type: ignore[no-untyped-def]
        env: Env) -> None:
    """A department with a wide grant (nothing unmasked) and a narrower one the provider approved with 住址 unmasked
    was answered 住址 masked: of the grants covering the items asked, the widest served, whatever it unmasked. The
    one unmasking the most of the items asked serves; a call for items only the wide one covers is still its."""
    provider, user = await env.department(), await env.department()
    entry = await env.publish(provider)
    wide = await env.grant(provider, user, entry)
    application = await env.submit(user, entry, items=["address"])
    unmasking = (await env.reply(provider, application.id, items=["address"], unmasked_items=["address"])).grant
    decision = await env.check(user, entry, "name", "address")
    assert decision.allowed and decision.grant_id == unmasking.id, decision
    assert dict(decision.masks) == {"name": "name"}
    both = await env.check(user, entry, "birth_date", "address")
    assert both.allowed and both.grant_id == wide.id and dict(both.masks) == {"address": "address"}, both


async def test_a_grant_can_be_limited_to_some_systems(env: Env, parties) -> None:  # type: ignore[no-untyped-def]
    provider, user, entry = parties
    system = (await _new_system(env, user)).system
    grant = await env.grant(provider, user, entry, system_ids=[system.id])
    assert list(grant.system_ids) == [system.id]
    other = Caller("sys-elsewhere0", user.department_code)
    denied = await env.check(other, entry, "birth_date")
    assert denied.deny_reason == common.DENY_REASON_SYSTEM_NOT_GRANTED
    assert (await env.check(Caller(system.id, user.department_code), entry, "birth_date")).allowed


async def test_an_adjustment_does_not_open_a_grant_for_some_systems_to_every_system(  # type: ignore[no-untyped-def]
        env: Env, parties) -> None:
    """An application for one system made a grant for that system only; an adjustment naming system_ids empty (the
    console's or a program's cleared list) was saved, and an empty list is every system of the department (本部门全部
    系统): the provider widened the grant beyond the application without a word, though each system named outside it
    is refused. It is INVALID_ARGUMENT on grant.system_ids, and nothing changes."""
    provider, user, entry = parties
    system = (await _new_system(env, user)).system
    grant = await env.grant(provider, user, entry, system_ids=[system.id])
    every = sh.UpdateGrantRequest(grant=sh.Grant(id=grant.id),
                                  update_mask=field_mask_pb2.FieldMask(paths=["system_ids"]))
    _, fields, message = await fails(env.sharing.UpdateGrant(every, metadata=env.md(approver(provider)), timeout=10),
                                     grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["grant.system_ids"] and system.id in message, message
    other = Caller("sys-elsewhere0", user.department_code)
    assert (await env.check(other, entry, "birth_date")).deny_reason == common.DENY_REASON_SYSTEM_NOT_GRANTED
    kept = (await env.sharing.GetGrant(sh.GetGrantRequest(id=grant.id), metadata=env.md(user), timeout=10)).grant
    assert list(kept.system_ids) == [system.id] and kept.policy_version == grant.policy_version


# Grants ------------------------------------------------------------------------------------------


async def _next_event(pubsub: aioredis.client.PubSub) -> dict:
    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=10)
    assert message is not None, "no GRANTS_CHANGED event"
    return json.loads(message["data"])


async def test_revocation_bumps_the_policy_version_and_is_announced(env: Env, parties, redis_client) -> None:  # type: ignore[no-untyped-def]
    provider, user, entry = parties
    async with redis_client.pubsub() as pubsub:
        await pubsub.subscribe(GRANTS_CHANGED)
        await pubsub.get_message(timeout=5)  # the subscription confirmation
        grant = await env.grant(provider, user, entry)
        created = await _next_event(pubsub)
        assert created == {"department_code": user.department_code, "resource_code": entry.code,
                           "policy_version": grant.policy_version}
        assert (await env.check(user, entry, "birth_date")).allowed

        revoke = sh.RevokeGrantRequest(id=grant.id, reason="项目结束")
        reason, _, _ = await fails(env.sharing.RevokeGrant(revoke, metadata=env.md(approver(user)), timeout=10),
                                   grpc.StatusCode.PERMISSION_DENIED)
        assert reason == "NOT_YOUR_DEPARTMENT"
        _, fields, _ = await fails(env.sharing.RevokeGrant(sh.RevokeGrantRequest(id=grant.id),
                                                           metadata=env.md(approver(provider)), timeout=10),
                                   grpc.StatusCode.INVALID_ARGUMENT)
        assert fields == ["reason"]
        revoked = (await env.sharing.RevokeGrant(revoke, metadata=env.md(approver(provider)), timeout=10)).grant
        assert revoked.state == sh.GRANT_STATE_REVOKED and revoked.revoke_reason == "项目结束"
        assert revoked.policy_version > grant.policy_version
        event = await _next_event(pubsub)
        assert event == {"department_code": user.department_code, "resource_code": entry.code,
                         "policy_version": revoked.policy_version}

    decision = await env.check(user, entry, "birth_date")
    assert not decision.allowed and decision.deny_reason == common.DENY_REASON_REVOKED
    assert decision.policy_version >= revoked.policy_version
    await fails(env.sharing.RevokeGrant(revoke, metadata=env.md(approver(provider)), timeout=10),
                grpc.StatusCode.FAILED_PRECONDITION)
    history = await env.sharing.GetApplication(sh.GetApplicationRequest(id=grant.application_id),
                                               metadata=env.md(user), timeout=10)
    assert [e.action for e in history.application.history][-1] == "GRANT_REVOKED"


async def _republish(env: Env, provider: Caller, entry: cat.Entry, items: list[cat.DataItem]) -> cat.Entry:
    """A new version of ``entry`` with ``items``, published: the provider's catalogue update."""
    stub = catalog_pb2_grpc.CatalogServiceStub(env.catalog)
    patch = cat.Entry(code=entry.code, items=items)
    await stub.UpdateEntry(cat.UpdateEntryRequest(entry=patch, update_mask=field_mask_pb2.FieldMask(paths=["items"])),
                           metadata=env.md(provider), timeout=10)
    await stub.SubmitEntry(cat.SubmitEntryRequest(code=entry.code), metadata=env.md(provider), timeout=10)
    return (await stub.ReviewEntry(cat.ReviewEntryRequest(code=entry.code, decision=cat.REVIEW_DECISION_PUBLISH),
                                   metadata=env.md(AUTHORITY_REVIEWER), timeout=10)).entry


async def _decision_once_seen(env: Env, user: Caller, entry: cat.Entry, item: str,
                              known: bool) -> authz.Decision | None:
    """Check of ``item`` once authorization has the catalog's change (its event drops the entry in milliseconds;
    bounded at about two seconds): None once the item is unknown, the decision once it is known again."""
    for _ in range(200):
        try:
            decision = await env.check(user, entry, item)
            if known:
                return decision
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.INVALID_ARGUMENT:
                raise
            if not known:
                return None
        await asyncio.sleep(0.01)
    raise AssertionError(f"authorization did not see {item} {'added back' if known else 'dropped'}")


async def test_an_item_dropped_from_the_catalog_and_added_back_is_not_covered_by_an_older_grant(  # type: ignore[no-untyped-def]
        env: Env, parties) -> None:
    """A grant names items by machine name: address, dropped by a catalogue update and added back by a later one (here
    meaning something else), was again answered under the grant made before it was dropped."""
    provider, user, entry = parties
    grant = await env.grant(provider, user, entry)
    assert "address" in grant.items and (await env.check(user, entry, "address")).allowed
    kept = [item for item in entry.items if item.machine_name != "address"]
    dropped = await _republish(env, provider, entry, kept)
    assert [item.machine_name for item in dropped.items] == [item.machine_name for item in kept]
    await _decision_once_seen(env, user, entry, "address", known=False)
    relisted = await _republish(env, provider, entry, [*kept, cat.DataItem(
        name="现居住地址", machine_name="address", data_type=cat.DATA_TYPE_CHARACTER, length=200)])
    listed = {item.machine_name: item.listed_since.ToDatetime(tzinfo=dt.UTC) for item in relisted.items}
    assert listed["address"] == relisted.publish_time.ToDatetime(tzinfo=dt.UTC) > grant.create_time.ToDatetime(
        tzinfo=dt.UTC) > listed["birth_date"]
    decision = await _decision_once_seen(env, user, entry, "address", known=True)
    assert decision is not None and not decision.allowed
    assert decision.deny_reason == common.DENY_REASON_ITEM_NOT_GRANTED
    assert "added back after grant" in decision.message
    assert (await env.check(user, entry, "birth_date")).allowed  # the items kept throughout stay granted
    everything = await env.check(user, entry)
    assert everything.allowed and "address" not in everything.allowed_items
    # A new application for the item as it is now is a new grant, which covers it.
    await env.grant(provider, user, entry, items=["address"])
    assert (await env.check(user, entry, "address")).allowed


async def test_an_application_made_before_an_item_was_dropped_and_added_back_is_not_approved_for_it(  # type: ignore[no-untyped-def]
        env: Env, parties) -> None:
    """An application for address made before a catalogue update dropped it and a later one added it back (here as
    现居住地址) was approved for it: the grant covered the item as it is now, which the applicant never asked for."""
    provider, user, entry = parties
    application = await env.submit(user, entry)
    kept = [item for item in entry.items if item.machine_name != "address"]
    await _republish(env, provider, entry, kept)
    await _decision_once_seen(env, user, entry, "address", known=False)
    await _republish(env, provider, entry, [*kept, cat.DataItem(
        name="现居住地址", machine_name="address", data_type=cat.DATA_TYPE_CHARACTER, length=200)])
    await _decision_once_seen(env, user, entry, "address", known=True)
    _, fields, message = await fails(env.reply(provider, application.id), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["items"] and "address was dropped from resource" in message
    assert field_sentence(message.split(": ", 1)[1]).startswith("信息项 address 在申请提出后曾从该资源目录中删除")
    grant = (await env.reply(provider, application.id, items=["name", "birth_date"])).grant
    assert list(grant.items) == ["name", "birth_date"]


async def test_a_grant_shows_an_item_dropped_and_added_back_since_as_lapsed(  # type: ignore[no-untyped-def]
        env: Env, parties) -> None:
    """GetGrant and ListGrants still listed address among a grant's items (and unmasked) after it was dropped and
    added back (as 现居住地址), though the decision no longer answers it under that grant: both departments saw a
    grant saying more than it does. The items are shown as in force, address in lapsed_items."""
    provider, user, entry = parties
    granted = await env.grant(provider, user, entry, items=["name", "birth_date", "address"])
    unmask = sh.UpdateGrantRequest(grant=sh.Grant(id=granted.id, unmasked_items=["address"]),
                                   update_mask=field_mask_pb2.FieldMask(paths=["unmasked_items"]))
    grant = (await env.sharing.UpdateGrant(unmask, metadata=env.md(approver(provider)), timeout=10)).grant
    assert list(grant.unmasked_items) == ["address"]
    kept = [item for item in entry.items if item.machine_name != "address"]
    await _republish(env, provider, entry, kept)
    await _decision_once_seen(env, user, entry, "address", known=False)
    await _republish(env, provider, entry, [*kept, cat.DataItem(
        name="现居住地址", machine_name="address", data_type=cat.DATA_TYPE_CHARACTER, length=200)])
    await _decision_once_seen(env, user, entry, "address", known=True)
    for caller in (provider, user, approver(provider)):
        got = (await env.sharing.GetGrant(sh.GetGrantRequest(id=grant.id), metadata=env.md(caller), timeout=10)).grant
        listed = (await env.sharing.ListGrants(sh.ListGrantsRequest(resource_code=entry.code),
                                               metadata=env.md(caller), timeout=10)).grants
        for shown in (got, next(g for g in listed if g.id == grant.id)):
            assert list(shown.items) == ["name", "birth_date"] and list(shown.lapsed_items) == ["address"], shown
            assert list(shown.unmasked_items) == [] and shown.etag == grant.etag
    # The 授权 form sends the items it shows with every adjustment: a quota raised alone records only the quota.
    change = sh.Grant(id=grant.id, items=["name", "birth_date"], quota=7)
    updated = (await env.sharing.UpdateGrant(sh.UpdateGrantRequest(grant=change, update_mask=field_mask_pb2.FieldMask(
        paths=["items", "quota"])), metadata=env.md(approver(provider)), timeout=10)).grant
    history = (await env.sharing.GetApplication(sh.GetApplicationRequest(id=grant.application_id),
                                                metadata=env.md(user), timeout=10)).application.history
    assert history[-1].note == "授权范围调整为：调用上限 7", history[-1].note
    assert list(updated.items) == ["name", "birth_date"] and list(updated.lapsed_items) == ["address"]


async def test_an_adjustment_cannot_give_back_an_item_dropped_and_added_back_since_the_grant(  # type: ignore[no-untyped-def]
        env: Env, parties) -> None:
    """UpdateGrant named address, dropped and added back (as 现居住地址) since the grant was made, and was answered OK:
    the provider saw it among the grant's items, yet the decision leaves it out, so the adjustment said what it did
    not do. It is refused on the items, a new application covering the item as it is now."""
    provider, user, entry = parties
    grant = await env.grant(provider, user, entry, items=["name", "birth_date", "address"])
    kept = [item for item in entry.items if item.machine_name != "address"]
    await _republish(env, provider, entry, kept)
    await _decision_once_seen(env, user, entry, "address", known=False)
    await _republish(env, provider, entry, [*kept, cat.DataItem(
        name="现居住地址", machine_name="address", data_type=cat.DATA_TYPE_CHARACTER, length=200)])
    await _decision_once_seen(env, user, entry, "address", known=True)

    def adjust(items: list[str], unmasked: list[str]) -> object:
        change = sh.Grant(id=grant.id, items=items, unmasked_items=unmasked, quota=5)
        mask = field_mask_pb2.FieldMask(paths=["items", "unmasked_items", "quota"])
        return env.sharing.UpdateGrant(sh.UpdateGrantRequest(grant=change, update_mask=mask),
                                       metadata=env.md(approver(provider)), timeout=10)

    _, fields, message = await fails(adjust(["name", "address"], ["address"]), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["grant.items[1]", "grant.unmasked_items[0]"], fields
    assert f"added back after grant {grant.id} was made" in message and "a new application" in message
    assert field_sentence(message.split(": ", 1)[1]).startswith("信息项 address 在授权后曾从该资源目录中删除")
    updated = (await adjust(["name", "birth_date"], [])).grant
    assert list(updated.items) == ["name", "birth_date"] and updated.quota == 5
    assert not (await env.check(user, entry, "address")).allowed


async def test_provider_adjusts_a_grant(env: Env, parties, redis_client) -> None:  # type: ignore[no-untyped-def]
    provider, user, entry = parties
    grant = await env.grant(provider, user, entry, items=["name", "birth_date", "address", "status"],
                            methods=[ONLINE, DOWNLOAD])
    change = sh.Grant(id=grant.id, items=["name", "address", "status"], unmasked_items=["name"], quota=3,
                      methods=[ONLINE, DOWNLOAD])
    mask = field_mask_pb2.FieldMask(paths=["items", "unmasked_items", "quota", "methods"])
    request = sh.UpdateGrantRequest(grant=change, update_mask=mask)
    await fails(env.sharing.UpdateGrant(request, metadata=env.md(user), timeout=10), grpc.StatusCode.PERMISSION_DENIED)
    async with redis_client.pubsub() as pubsub:
        await pubsub.subscribe(GRANTS_CHANGED)
        await pubsub.get_message(timeout=5)
        updated = (await env.sharing.UpdateGrant(request, metadata=env.md(approver(provider)), timeout=10)).grant
        assert (await _next_event(pubsub))["policy_version"] == updated.policy_version
    assert list(updated.items) == ["name", "address", "status"] and list(updated.unmasked_items) == ["name"]
    assert updated.quota == 3 and updated.policy_version > grant.policy_version
    assert list(updated.purposes) == list(grant.purposes) and updated.expire_time == grant.expire_time
    decision = await env.check(user, entry, "name", "address", "status", method=DOWNLOAD)
    assert decision.allowed and dict(decision.masks) == {"address": "address"} and decision.quota == 3

    bad = sh.UpdateGrantRequest(grant=sh.Grant(id=grant.id, items=["salary"], expire_time=timestamp(-dt.timedelta(1))),
                                update_mask=field_mask_pb2.FieldMask(paths=["items", "expire_time", "state"]))
    _, fields, _ = await fails(env.sharing.UpdateGrant(bad, metadata=env.md(approver(provider)), timeout=10),
                               grpc.StatusCode.INVALID_ARGUMENT)
    assert set(fields) == {"grant.items[0]", "grant.expire_time", "update_mask.paths[2]"}


async def test_an_adjustment_records_only_what_it_changed(env: Env, parties) -> None:  # type: ignore[no-untyped-def]
    """The console's 授权 form sends the grant's items with every adjustment: a quota raised alone was recorded in
    the application's history as "授权范围调整为：信息项 …；不脱敏 无；调用上限 200" (and in the administrative log as a
    change of items and unmasked_items). Only the quota is recorded; an adjustment that changes nothing records
    nothing and keeps the policy version."""
    provider, user, entry = parties
    grant = await env.grant(provider, user, entry)

    async def adjust(change: sh.Grant, *paths: str) -> sh.Grant:
        request = sh.UpdateGrantRequest(grant=change, update_mask=field_mask_pb2.FieldMask(paths=list(paths)))
        return (await env.sharing.UpdateGrant(request, metadata=env.md(approver(provider)), timeout=10)).grant

    raised = await adjust(sh.Grant(id=grant.id, items=list(grant.items), quota=200), "items", "quota")
    assert raised.quota == 200 and list(raised.items) == list(grant.items)
    history = (await env.sharing.GetApplication(sh.GetApplicationRequest(id=grant.application_id),
                                                metadata=env.md(user), timeout=10)).application.history
    assert history[-1].note == "授权范围调整为：调用上限 200", history[-1].note
    same = await adjust(sh.Grant(id=grant.id, items=list(grant.items), quota=200), "items", "quota")
    assert same.policy_version == raised.policy_version
    again = (await env.sharing.GetApplication(sh.GetApplicationRequest(id=grant.application_id),
                                              metadata=env.md(user), timeout=10)).application.history
    assert len(again) == len(history)


async def test_an_adjustment_gives_nothing_the_application_did_not_ask_for(  # type: ignore[no-untyped-def]
        env: Env, parties) -> None:
    """An approval may only narrow the request, but an adjustment was bounded by the resource alone: the provider
    approved name, birth_date and address for online queries and administrative use, then widened the grant to
    status, to batch download and to another purpose, none of them applied for. Each is refused, naming it, and
    the grant is left as it was; narrowing within the request is still an adjustment."""
    provider, user, entry = parties
    grant = await env.grant(provider, user, entry)
    wider = sh.UpdateGrantRequest(grant=sh.Grant(id=grant.id, items=["name", "status"], methods=[ONLINE, DOWNLOAD],
                                                 purposes=[ADMIN, WORK]),
                                  update_mask=field_mask_pb2.FieldMask(paths=["items", "methods", "purposes"]))
    _, fields, message = await fails(env.sharing.UpdateGrant(wider, metadata=env.md(approver(provider)), timeout=10),
                                     grpc.StatusCode.INVALID_ARGUMENT)
    assert set(fields) == {"grant.items[1]", "grant.methods[1]", "grant.purposes[1]"}, fields
    assert "was not requested" in message
    got = (await env.sharing.GetGrant(sh.GetGrantRequest(id=grant.id), metadata=env.md(provider), timeout=10)).grant
    assert list(got.items) == list(grant.items) and got.policy_version == grant.policy_version
    narrower = sh.UpdateGrantRequest(grant=sh.Grant(id=grant.id, items=["name", "address"]),
                                     update_mask=field_mask_pb2.FieldMask(paths=["items"]))
    adjusted = (await env.sharing.UpdateGrant(narrower, metadata=env.md(approver(provider)), timeout=10)).grant
    assert list(adjusted.items) == ["name", "address"]


async def test_the_same_items_in_another_order_are_no_change(env: Env, parties) -> None:  # type: ignore[no-untyped-def]
    """An approval naming the items applied for in another order was noted 同意范围有调整：信息项 … in the history both
    departments read, and an adjustment naming a grant's items or purposes in another order made a new version and a
    history step 授权范围调整为：…, though nothing changed."""
    provider, user, entry = parties
    application = await env.submit(user, entry, purposes=[ADMIN, WORK])  # name, birth_date, address
    approved = await env.reply(provider, application.id, items=["address", "birth_date", "name"],
                               purposes=[WORK, ADMIN])
    assert approved.application.history[-1].note == "按申请范围同意", approved.application.history[-1].note
    grant = approved.grant
    same = sh.UpdateGrantRequest(grant=sh.Grant(id=grant.id, items=["birth_date", "name", "address"],
                                                purposes=[WORK, ADMIN]),
                                 update_mask=field_mask_pb2.FieldMask(paths=["items", "purposes"]))
    adjusted = (await env.sharing.UpdateGrant(same, metadata=env.md(approver(provider)), timeout=10)).grant
    assert adjusted.policy_version == grant.policy_version
    history = (await env.sharing.GetApplication(sh.GetApplicationRequest(id=application.id), metadata=env.md(user),
                                                timeout=10)).application.history
    assert [e.action for e in history] == ["SUBMITTED", "APPROVED"]


async def test_a_coordination_decision_narrows_the_purposes_and_unmasks_items_as_an_approval_does(  # type: ignore[no-untyped-def]
        env: Env, parties) -> None:
    """An approval narrows the purposes and names the items answered unmasked; the authority's coordination decision,
    which stands in for the refused approval, could do neither: a coordinated grant kept every purpose applied for
    and never gave an item unmasked (its provider may not widen it), whatever the authority decided. It takes both,
    checked as an approval's (an item not granted is not unmasked), and the decisions follow them."""
    provider, user, entry = parties
    application = await env.submit(user, entry, purposes=[ADMIN, WORK])
    await env.reply(provider, application.id, decision=sh.REPLY_DECISION_REFUSE, reason="超出法定职责范围")
    await env.sharing.EscalateApplication(sh.EscalateApplicationRequest(id=application.id, reason="低保审核为法定职责"),
                                          metadata=env.md(user), timeout=10)

    def decide(**fields: object) -> object:
        return env.sharing.RecordCoordinationDecision(sh.RecordCoordinationDecisionRequest(
            id=application.id, grant=True, reason="准予行政依据用途", **fields),
            metadata=env.md(AUTHORITY_REVIEWER), timeout=10)

    _, fields, _ = await fails(decide(items=["birth_date"], unmasked_items=["address"]),
                               grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["unmasked_items[0]"], fields
    grant = (await decide(items=["birth_date", "address"], unmasked_items=["address"], purposes=[ADMIN])).grant
    assert list(grant.purposes) == [ADMIN] and list(grant.unmasked_items) == ["address"]
    assert (await env.check(user, entry, "address")).allowed
    assert (await env.check(user, entry, "address", purpose=WORK)).deny_reason == \
        common.DENY_REASON_PURPOSE_NOT_GRANTED


async def test_a_provider_narrows_a_coordinated_grant_but_does_not_widen_it(  # type: ignore[no-untyped-def]
        env: Env, parties) -> None:
    """The provider refused; the authority's coordination decision granted birth_date alone, 5 calls, 30 days. The
    provider's 审批人 then widened the grant, within the application, to address, unmasked, 1000 calls and 90 days:
    the decision undone by the party it overruled (revoking it is the authority's). Each widening is refused on its
    field, nothing changed; a narrowing is still the provider's, an extension once expired is not."""
    provider, user, entry = parties
    application = await env.submit(user, entry)
    await env.reply(provider, application.id, decision=sh.REPLY_DECISION_REFUSE, reason="超出法定职责范围")
    await env.sharing.EscalateApplication(sh.EscalateApplicationRequest(id=application.id, reason="低保审核为法定职责"),
                                          metadata=env.md(user), timeout=10)
    grant = (await env.sharing.RecordCoordinationDecision(sh.RecordCoordinationDecisionRequest(
        id=application.id, grant=True, reason="仅准予出生日期", items=["birth_date"], quota=5,
        expire_time=timestamp(dt.timedelta(days=30))), metadata=env.md(AUTHORITY_REVIEWER), timeout=10)).grant

    def adjust(change: sh.Grant, *paths: str, reason: str = "业务量减少") -> object:
        return env.sharing.UpdateGrant(sh.UpdateGrantRequest(grant=change, update_mask=field_mask_pb2.FieldMask(
            paths=list(paths)), reason=reason), metadata=env.md(approver(provider)), timeout=10)

    wider = sh.Grant(id=grant.id, items=["birth_date", "address"], unmasked_items=["address"], quota=1000,
                     expire_time=timestamp(dt.timedelta(days=90)))
    _, fields, message = await fails(adjust(wider, "items", "unmasked_items", "quota", "expire_time"),
                                     grpc.StatusCode.INVALID_ARGUMENT)
    assert set(fields) == {"grant.items[1]", "grant.unmasked_items[0]", "grant.quota", "grant.expire_time"}, fields
    assert "not widen it" in message
    _, fields, message = await fails(adjust(sh.Grant(id=grant.id), "quota"), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["grant.quota"] and "unlimited calls is more than the 5" in message, message
    assert field_sentence(message.split(": ", 1)[1]).startswith("本授权由共享主管部门协调决定，提供部门只能缩小")
    # Narrowed to nothing, it is not the provider's to revoke either: the refusal says whose it is.
    _, fields, message = await fails(adjust(sh.Grant(id=grant.id), "items"), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["grant.items"] and "ask the authority" in message and "revoke the grant instead" not in message
    assert "请联系共享主管部门" in field_sentence(message.split(": ", 1)[1])
    got = (await env.sharing.GetGrant(sh.GetGrantRequest(id=grant.id), metadata=env.md(provider), timeout=10)).grant
    assert got.policy_version == grant.policy_version and list(got.items) == ["birth_date"] and got.quota == 5
    assert not (await env.check(user, entry, "address")).allowed
    # Nor is the holder, refused a method the decision did not give, sent to the provider to widen it.
    download = await env.check(user, entry, "birth_date", method=DOWNLOAD)
    assert download.deny_reason == common.DENY_REASON_METHOD_NOT_GRANTED and "ask the provider" not in \
        download.message and "coordination decision" in download.message, download.message

    # Narrowed without a word (to 1 call, ending tomorrow), the authority's decision was undone unseen: the provider
    # says why, kept in the application's history the authority reads, and the log marks the grant coordinated.
    _, fields, _ = await fails(adjust(sh.Grant(id=grant.id, quota=1, expire_time=timestamp(dt.timedelta(days=1))),
                                      "quota", "expire_time", reason=""), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["reason"], fields

    async def told(since: timestamp_pb2.Timestamp) -> set[str]:
        """The coordinated grants the authority's 审核员 is told a provider adjusted since (首页)."""
        listed = await env.sharing.ListGrants(sh.ListGrantsRequest(provider_adjusted_after=since, page_size=1000),
                                              metadata=env.md(AUTHORITY_REVIEWER), timeout=10)
        return {g.id for g in listed.grants}

    a_day_ago = timestamp(dt.timedelta(days=-1))
    assert grant.id not in await told(a_day_ago)  # refused adjustments changed nothing
    narrower = await adjust(sh.Grant(id=grant.id, items=["birth_date"], quota=3,
                                     expire_time=timestamp(dt.timedelta(days=20))), "items", "quota", "expire_time")
    # It was recorded in the history and the log alone, where nobody at the authority looks unprompted: the
    # authority's 审核员 now finds it among the coordinated grants their providers adjusted since a time.
    assert grant.id in await told(a_day_ago) and grant.id not in await told(timestamp(dt.timedelta(minutes=10)))
    own = await env.submit(await env.department(), entry)  # another user's: this one's grant stays the decision's
    own_grant = (await env.reply(provider, own.id)).grant
    await adjust(sh.Grant(id=own_grant.id, quota=2), "quota")
    assert own_grant.id not in await told(a_day_ago)  # the provider's own grant is the provider's to adjust
    assert narrower.grant.quota == 3 and narrower.grant.policy_version > grant.policy_version  # type: ignore[attr-defined]
    seen = (await env.sharing.GetApplication(sh.GetApplicationRequest(id=application.id),
                                             metadata=env.md(AUTHORITY), timeout=10)).application
    assert seen.history[-1].note.endswith("（理由：业务量减少）"), seen.history[-1].note
    logged = await admin_log_pb2_grpc.AdminLogServiceStub(env.auth).ListAdminEvents(
        admin_log_pb2.ListAdminEventsRequest(action="sharing.grant_updated",
                                             actor_department_code=provider.department_code),
        metadata=env.md(AUTHORITY), timeout=10)
    assert [json.loads(e.details_json).get("coordinated") for e in logged.events if e.target == grant.id] == [True]
    # Nor is it extended once expired; the holder, refused, is not sent to the provider for an extension.
    await expired_a_minute_ago(env, grant.id)
    _, fields, _ = await fails(adjust(sh.Grant(id=grant.id, expire_time=timestamp(dt.timedelta(days=10))),
                                      "expire_time"), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["grant.expire_time"]
    refused = await env.check(user, entry, "birth_date")
    assert refused.deny_reason == common.DENY_REASON_EXPIRED and "extend" not in refused.message, refused.message


async def test_a_grant_past_its_expiry_is_expired_not_active_and_can_be_extended(  # type: ignore[no-untyped-def]
        env: Env, parties) -> None:
    """A grant past its expire_time was listed GRANT_STATE_ACTIVE (and found by ListGrants' ACTIVE filter) while
    every query under it was refused EXPIRED: a system took a grant that lets nothing through for one in force.
    It is EXPIRED, listed under that state only, and its provider's extension makes it ACTIVE again."""
    provider, user, entry = parties
    grant = await env.grant(provider, user, entry)
    await expired_a_minute_ago(env, grant.id)

    async def listed(state: int) -> set[str]:
        request = sh.ListGrantsRequest(resource_code=entry.code, state=state)
        return {g.id for g in (await env.sharing.ListGrants(request, metadata=env.md(user), timeout=10)).grants}

    got = (await env.sharing.GetGrant(sh.GetGrantRequest(id=grant.id), metadata=env.md(user), timeout=10)).grant
    assert got.state == sh.GRANT_STATE_EXPIRED
    assert grant.id in await listed(sh.GRANT_STATE_EXPIRED) and grant.id not in await listed(sh.GRANT_STATE_ACTIVE)
    extend = sh.UpdateGrantRequest(grant=sh.Grant(id=grant.id, expire_time=timestamp(dt.timedelta(days=30))),
                                   update_mask=field_mask_pb2.FieldMask(paths=["expire_time"]))
    extended = (await env.sharing.UpdateGrant(extend, metadata=env.md(approver(provider)), timeout=10)).grant
    assert extended.state == sh.GRANT_STATE_ACTIVE
    assert grant.id in await listed(sh.GRANT_STATE_ACTIVE) and grant.id not in await listed(sh.GRANT_STATE_EXPIRED)


async def test_the_grants_ending_soon_are_listed_by_side_in_one_call(env: Env) -> None:
    """The console's 待办 counts the grants in force that end soon, for the holder (to apply again) and for the
    provider (who may extend them), each in one ListGrants call: role narrows to one side of the caller's
    department and expire_before to those ending before it; another department learns of none."""
    provider, user, stranger = await env.department(), await env.department(), await env.department()
    entry = await env.publish(provider)
    soon = await env.grant(provider, user, entry, requested_expire_time=timestamp(dt.timedelta(days=10)))
    await env.grant(provider, user, entry, requested_expire_time=timestamp(dt.timedelta(days=90)))

    async def ending(caller: Caller, role: int, **fields: object) -> set[str]:
        request = sh.ListGrantsRequest(role=role, expire_before=timestamp(dt.timedelta(days=30)), **fields)
        return {g.id for g in (await env.sharing.ListGrants(request, metadata=env.md(caller), timeout=10)).grants}

    assert await ending(user, sh.APPLICATION_ROLE_APPLICANT) == {soon.id}
    assert await ending(provider, sh.APPLICATION_ROLE_PROVIDER) == {soon.id}
    assert await ending(provider, sh.APPLICATION_ROLE_APPLICANT) == set()  # it holds none
    assert await ending(user, sh.APPLICATION_ROLE_PROVIDER) == set()
    assert await ending(stranger, sh.APPLICATION_ROLE_PROVIDER) == set()
    assert await ending(stranger, sh.APPLICATION_ROLE_UNSPECIFIED) == set()
    assert await ending(user, sh.APPLICATION_ROLE_APPLICANT, state=sh.GRANT_STATE_ACTIVE) == {soon.id}
    _, fields, _ = await fails(env.sharing.ListGrants(sh.ListGrantsRequest(
        role=7, state=sh.GRANT_STATE_REVOKED, expire_before=timestamp(dt.timedelta(days=30))),
        metadata=env.md(user), timeout=10), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["role", "expire_before"]


async def test_a_grant_its_entrys_retirement_ended_is_not_listed_as_ending_soon(env: Env) -> None:
    """首页 and the 待办 count listed a grant of a retired entry among those ending soon, telling its holder to apply
    again and its provider to extend it, though the retirement had ended it for good (and an extension is refused).
    ListGrants' expire_before lists the grants in force only: not it; ListGrants without it still shows it."""
    provider, user = await env.department(), await env.department()
    entry = await env.publish(provider)
    soon = await env.grant(provider, user, entry, requested_expire_time=timestamp(dt.timedelta(days=10)))

    async def listed(**fields: object) -> set[str]:
        request = sh.ListGrantsRequest(role=sh.APPLICATION_ROLE_PROVIDER, **fields)
        return {g.id for g in (await env.sharing.ListGrants(request, metadata=env.md(provider), timeout=10)).grants}

    assert await listed(expire_before=timestamp(dt.timedelta(days=30))) == {soon.id}
    await retire_entry(env, provider, user, entry, "机构改革")
    assert await listed(expire_before=timestamp(dt.timedelta(days=30))) == set()
    assert await listed() == {soon.id}


async def test_a_grant_its_entrys_retirement_ended_reads_ended_not_active(env: Env) -> None:
    """Retiring an entry ends its grants for good, yet GetGrant and ListGrants(state=ACTIVE) said GRANT_STATE_ACTIVE
    of them: a business system reading its grants took one for a grant in force (its queries refused NOT_PUBLISHED),
    and an expired one read EXPIRED, which its provider may extend. Both read GRANT_STATE_ENDED, are listed under it
    and under neither ACTIVE nor EXPIRED; a revocation of one still reads REVOKED."""
    provider, user = await env.department(), await env.department()
    entry = await env.publish(provider)
    live, lapsed, revoked = [await env.grant(provider, user, entry) for _ in range(3)]
    await expired_a_minute_ago(env, lapsed.id)

    async def listed(state: int) -> set[str]:
        request = sh.ListGrantsRequest(resource_code=entry.code, state=state)
        return {g.id for g in (await env.sharing.ListGrants(request, metadata=env.md(user), timeout=10)).grants}

    async def state_of(grant_id: str) -> int:
        got = await env.sharing.GetGrant(sh.GetGrantRequest(id=grant_id), metadata=env.md(user), timeout=10)
        return got.grant.state

    assert await listed(sh.GRANT_STATE_ENDED) == set()
    await retire_entry(env, provider, user, entry, "机构改革")
    assert [await state_of(g.id) for g in (live, lapsed)] == [sh.GRANT_STATE_ENDED] * 2
    assert await listed(sh.GRANT_STATE_ENDED) == {live.id, lapsed.id, revoked.id}
    assert await listed(sh.GRANT_STATE_ACTIVE) == set() and await listed(sh.GRANT_STATE_EXPIRED) == set()
    gone = await env.sharing.RevokeGrant(sh.RevokeGrantRequest(id=revoked.id, reason="资源已撤销"),
                                         metadata=env.md(approver(provider)), timeout=10)
    assert gone.grant.state == sh.GRANT_STATE_REVOKED
    assert await listed(sh.GRANT_STATE_ENDED) == {live.id, lapsed.id}
    assert await listed(sh.GRANT_STATE_REVOKED) == {revoked.id}
    assert {g.state for g in (await env.sharing.ListGrants(sh.ListGrantsRequest(resource_code=entry.code),
                                                           metadata=env.md(user), timeout=10)).grants} == \
        {sh.GRANT_STATE_ENDED, sh.GRANT_STATE_REVOKED}


async def test_an_expired_grant_of_a_retired_department_is_not_extended(env: Env) -> None:
    """An expired grant is no blocker of RetireDepartment (it lets nothing through), but it stays stored active for
    its provider to extend: extended once its holder was retired, it was in force again for a department gone."""
    provider, user = await env.department(), await env.department()
    entry = await env.publish(provider)
    grant = await env.grant(provider, user, entry)
    await expired_a_minute_ago(env, grant.id)
    await env.directory.RetireDepartment(_retire(user.department_code), metadata=env.md(AUTHORITY), timeout=10)
    extend = sh.UpdateGrantRequest(grant=sh.Grant(id=grant.id, expire_time=timestamp(dt.timedelta(days=30))),
                                   update_mask=field_mask_pb2.FieldMask(paths=["expire_time"]))
    reason, _, message = await fails(env.sharing.UpdateGrant(extend, metadata=env.md(approver(provider)), timeout=10),
                                     grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "DEPARTMENT_RETIRED" and user.department_code in message
    got = (await env.sharing.GetGrant(sh.GetGrantRequest(id=grant.id), metadata=env.md(provider), timeout=10)).grant
    assert got.state == sh.GRANT_STATE_EXPIRED
    revoked = await env.sharing.RevokeGrant(sh.RevokeGrantRequest(id=grant.id, reason="使用部门已撤销"),
                                            metadata=env.md(approver(provider)), timeout=10)
    assert revoked.grant.state == sh.GRANT_STATE_REVOKED  # still revoked, to tidy up


async def test_an_adjustment_made_over_another_persons_is_refused_with_its_etag(  # type: ignore[no-untyped-def]
        env: Env, parties) -> None:
    """Two approvers open the same grant; the second to save replaced the first's adjustment without a word.
    With Grant.etag sent back, the second is ABORTED and nothing of it is saved."""
    provider, user, entry = parties
    grant = await env.grant(provider, user, entry)
    assert grant.etag

    async def adjust(quota: int, etag: str) -> sh.Grant:
        request = sh.UpdateGrantRequest(grant=sh.Grant(id=grant.id, quota=quota, etag=etag),
                                        update_mask=field_mask_pb2.FieldMask(paths=["quota"]))
        return (await env.sharing.UpdateGrant(request, metadata=env.md(approver(provider)), timeout=10)).grant

    first = await adjust(10, grant.etag)
    assert first.quota == 10 and first.etag != grant.etag
    reason, _, message = await fails(adjust(20, grant.etag), grpc.StatusCode.ABORTED)
    assert reason == "ETAG_MISMATCH" and "changed since you read it" in message
    got = await env.sharing.GetGrant(sh.GetGrantRequest(id=grant.id), metadata=env.md(provider), timeout=10)
    assert got.grant.quota == 10 and got.grant.etag == first.etag
    racing = await asyncio.gather(adjust(30, first.etag), adjust(40, first.etag), return_exceptions=True)
    assert sum(isinstance(outcome, sh.Grant) for outcome in racing) == 1, racing
    assert (await adjust(50, "")).quota == 50, "without an etag the adjustment is made, as before"


async def _applications_for(env: Env, user: Caller, entry: cat.Entry) -> list[sh.Application]:
    listed = await env.sharing.ListApplications(sh.ListApplicationsRequest(
        role=sh.APPLICATION_ROLE_APPLICANT, page_size=1000), metadata=env.md(user), timeout=10)
    return [a for a in listed.applications if a.resource_code == entry.code]


async def test_a_page_token_passed_to_another_department_is_refused(env: Env, parties) -> None:  # type: ignore[no-untyped-def]
    """A department's ListApplications token, passed to another department (a console link, a token kept by a
    shared job), resumed the other's own listing at the first one's position: its application was skipped and the
    page came back empty, which reads as "no applications". It is refused naming page_token; the department's own
    token pages on."""
    _, user, entry = parties
    other = await env.department()
    for _ in range(3):
        await env.submit(user, entry)
    theirs = await env.submit(other, entry)
    request = sh.ListApplicationsRequest(role=sh.APPLICATION_ROLE_APPLICANT, page_size=1)
    first = await env.sharing.ListApplications(request, metadata=env.md(user), timeout=10)
    request.page_token = first.next_page_token
    second = await env.sharing.ListApplications(request, metadata=env.md(user), timeout=10)
    assert second.applications and second.applications[0].id != first.applications[0].id
    _, fields, message = await fails(env.sharing.ListApplications(request, metadata=env.md(other), timeout=10),
                                     grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["page_token"] and "was issued to another caller" in message, message
    request.page_token = ""
    own = await env.sharing.ListApplications(request, metadata=env.md(other), timeout=10)
    assert [a.id for a in own.applications] == [theirs.id]


async def test_a_request_sent_again_with_its_request_id_applies_once(env: Env) -> None:
    provider, user = await env.department(), await env.department()
    entry = await env.publish(provider)
    # A repeat is the same request sent again: the same bytes, the same expiry.
    expire = timestamp(dt.timedelta(days=90))

    async def submit(caller: Caller, entry: cat.Entry, request_id: str = "") -> sh.Application:
        return await env.submit(caller, entry, request_id=request_id, requested_expire_time=expire)

    key = str(uuid.uuid4())
    first = await submit(user, entry, request_id=key)
    again = await submit(user, entry, request_id=key.upper())  # a UUID is the same in either case
    assert again.id == first.id and again.create_time == first.create_time
    racing = str(uuid.uuid4())
    racers = {a.id for a in await asyncio.gather(*(submit(user, entry, request_id=racing) for _ in range(6)))}
    assert len(racers) == 1, "requests racing with one request_id made one application"
    assert {a.id for a in await _applications_for(env, user, entry)} == {first.id, *racers}
    # Without a request_id every request is a new application, as before.
    assert (await submit(user, entry)).id not in {first.id, *racers}
    # The key is the department's own: another department's same key is its own application.
    other = await env.department()
    assert (await submit(other, entry, request_id=key)).id != first.id


async def test_a_request_id_used_again_for_a_different_application_is_already_exists(  # type: ignore[no-untyped-def]
        env: Env, parties) -> None:
    _, user, entry = parties
    key = str(uuid.uuid4())
    made = await env.submit(user, entry, request_id=key)
    reason, _, message = await fails(env.submit(user, entry, request_id=key, purpose_text="另一项业务"),
                                     grpc.StatusCode.ALREADY_EXISTS)
    assert reason == "REQUEST_ID_REUSED" and made.id in message and "new request_id" in message
    _, fields, message = await fails(env.submit(user, entry, request_id="1"), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["request_id"] and "UUID" in message


async def test_grants_and_applications_are_seen_by_the_parties_only(env: Env, parties) -> None:  # type: ignore[no-untyped-def]
    provider, user, entry = parties
    stranger = await env.department()
    grant = await env.grant(provider, user, entry)
    for caller in (user, provider, AUTHORITY):
        got = await env.sharing.GetGrant(sh.GetGrantRequest(id=grant.id), metadata=env.md(caller), timeout=10)
        assert got.grant == grant
        application = await env.sharing.GetApplication(sh.GetApplicationRequest(id=grant.application_id),
                                                       metadata=env.md(caller), timeout=10)
        assert application.application.grant_id == grant.id
        listed = await env.sharing.ListGrants(sh.ListGrantsRequest(resource_code=entry.code, page_size=1000),
                                              metadata=env.md(caller), timeout=10)
        assert grant.id in {g.id for g in listed.grants}
    await fails(env.sharing.GetGrant(sh.GetGrantRequest(id=grant.id), metadata=env.md(stranger), timeout=10),
                grpc.StatusCode.PERMISSION_DENIED)
    await fails(env.sharing.GetApplication(sh.GetApplicationRequest(id=grant.application_id),
                                           metadata=env.md(stranger), timeout=10), grpc.StatusCode.PERMISSION_DENIED)
    listed = await env.sharing.ListGrants(sh.ListGrantsRequest(), metadata=env.md(stranger), timeout=10)
    assert not listed.grants
    applications = await env.sharing.ListApplications(sh.ListApplicationsRequest(), metadata=env.md(stranger),
                                                      timeout=10)
    assert not applications.applications
    await fails(env.sharing.GetGrant(sh.GetGrantRequest(id="grt-" + "0" * 32), metadata=env.md(user), timeout=10),
                grpc.StatusCode.NOT_FOUND)


async def test_applications_are_listed_by_role_state_and_overdue(env: Env, parties) -> None:  # type: ignore[no-untyped-def]
    provider, user, entry = parties
    first, second, third = [await env.submit(user, entry) for _ in range(3)]
    await env.reply(provider, second.id, decision=sh.REPLY_DECISION_REFUSE, reason="数据不完整")
    await due_yesterday(env, first.id)

    async def ids(caller: Caller, **filters: object) -> list[str]:
        found, token = [], ""
        while True:
            page = await env.sharing.ListApplications(sh.ListApplicationsRequest(page_size=2, page_token=token,
                                                                                 **filters),
                                                      metadata=env.md(caller), timeout=10)
            found += [a.id for a in page.applications if a.resource_code == entry.code]
            token = page.next_page_token
            if not token:
                return found

    newest_first = [third.id, second.id, first.id]
    assert (await ids(user, role=sh.APPLICATION_ROLE_APPLICANT))[:3] == newest_first
    assert (await ids(provider, role=sh.APPLICATION_ROLE_PROVIDER))[:3] == newest_first
    assert not await ids(user, role=sh.APPLICATION_ROLE_PROVIDER)
    assert await ids(provider, state=sh.APPLICATION_STATE_REFUSED) == [second.id]
    assert await ids(AUTHORITY, overdue_only=True) == [first.id]
    overdue = await env.sharing.GetApplication(sh.GetApplicationRequest(id=first.id), metadata=env.md(AUTHORITY),
                                               timeout=10)
    assert overdue.application.overdue
    # An application unanswered past its due time can be taken to the authority.
    escalated = await env.sharing.EscalateApplication(sh.EscalateApplicationRequest(id=first.id, reason="逾期未答复"),
                                                      metadata=env.md(user), timeout=10)
    assert escalated.application.state == sh.APPLICATION_STATE_ESCALATED and not escalated.application.overdue


async def test_an_application_escalated_once_overdue_still_counts_as_unanswered(  # type: ignore[no-untyped-def]
        env: Env, parties) -> None:
    """Supervision's reply figures (R-SUP-1): the applicant taking an overdue application to the authority ended
    its wait, and the provider's silence vanished from its figures (neither late nor unanswered)."""
    provider, user, entry = parties
    overdue = await env.submit(user, entry)
    not_shared = await env.submit(user, await env.publish(provider, common.SHARE_TYPE_NOT_SHARED))
    assert not_shared.state == sh.APPLICATION_STATE_ESCALATED  # the authority's from the start, never late
    await due_yesterday(env, overdue.id)
    await env.sharing.EscalateApplication(sh.EscalateApplicationRequest(id=overdue.id, reason="逾期未答复"),
                                          metadata=env.md(user), timeout=10)
    store = Store()
    await store.open(env.settings.database_url, min_size=1, max_size=2)
    try:
        now = dt.datetime.now(dt.UTC)
        rows = await department_figures(store, now - dt.timedelta(hours=1), now + dt.timedelta(hours=1), now,
                                        not_retired)
    finally:
        await store.close()
    mine = {(row.name, row.dimension): row.value for row in rows if row.department_code == provider.department_code}
    assert mine[("applications.received", "")] == 2
    assert mine[("applications.unreplied_overdue", "")] == 1
    assert ("applications.replied_late", "") not in mine


async def test_an_application_made_late_in_a_month_and_never_answered_counts_when_it_falls_due(  # type: ignore[no-untyped-def]
        env: Env, parties) -> None:
    """Made on 28 Nov, due on 14 Dec, never answered: November counted it only if due before its end, December
    counts only December's applications, so it was never counted against the provider (R-SUP-1)."""
    provider, user, entry = parties
    application = await env.submit(user, entry)
    now = dt.datetime.now(dt.UTC)
    made, due = now - dt.timedelta(days=20), now - dt.timedelta(days=3)
    conn = await asyncpg.connect(env.settings.database_url)
    try:
        await conn.execute('UPDATE "authorization".applications SET create_time = $2, reply_due_time = $3'
                           " WHERE id = $1", application.id, made, due)
    finally:
        await conn.close()
    store = Store()
    await store.open(env.settings.database_url, min_size=1, max_size=2)
    try:  # the period of its making ended before its due time
        rows = await department_figures(store, made - dt.timedelta(days=1), made + dt.timedelta(days=1), now,
                                        not_retired)
    finally:
        await store.close()
    mine = {(row.name, row.dimension): row.value for row in rows if row.department_code == provider.department_code}
    assert mine[("applications.unreplied_overdue", "")] == 1


async def test_a_grant_revoked_after_a_period_counts_as_held_at_its_end(  # type: ignore[no-untyped-def]
        env: Env, parties) -> None:
    """grants.held and grants.given are the grants in force at the period's end (docs/api.md), but counted the
    grants active when counted: November recomputed on 3 December (the schedule recomputes last month all through
    this one) lost a grant revoked on 2 December, in force all November."""
    provider, user, entry = parties
    grant = await env.grant(provider, user, entry)
    end = dt.datetime.now(dt.UTC)
    await env.sharing.RevokeGrant(sh.RevokeGrantRequest(id=grant.id, reason="项目结束"),
                                  metadata=env.md(person_of(provider, APPROVER)), timeout=10)
    store = Store()
    await store.open(env.settings.database_url, min_size=1, max_size=2)
    try:
        now = dt.datetime.now(dt.UTC)
        ended = await department_figures(store, end - dt.timedelta(hours=1), end, now, not_retired)
        since = await department_figures(store, now - dt.timedelta(hours=1), now + dt.timedelta(hours=1), now,
                                         not_retired)
    finally:
        await store.close()

    def held(rows: list, department: str, name: str) -> int:
        return sum(row.value for row in rows if row.department_code == department and row.name == name)

    assert (held(ended, user.department_code, "grants.held"), held(ended, provider.department_code, "grants.given")) \
        == (1, 1)
    assert (held(since, user.department_code, "grants.held"), held(since, provider.department_code, "grants.given")) \
        == (0, 0)


async def test_a_grant_of_an_entry_retired_by_a_periods_end_is_not_held_at_it(  # type: ignore[no-untyped-def]
        env: Env, parties) -> None:
    """Retiring an entry ends every grant of it for good, but grants.held and grants.given counted such a grant (still
    stored ACTIVE) at the end of every month after, for a resource nobody could query. A period ending after the
    retirement no longer counts it; one ending before still does."""
    provider, user, entry = parties
    await env.grant(provider, user, entry)
    stub = figures_pb2_grpc.SharingFiguresServiceStub(env.auth)

    async def held(end: dt.datetime) -> tuple[int, int]:
        start, stop = timestamp_pb2.Timestamp(), timestamp_pb2.Timestamp()
        start.FromDatetime(end - dt.timedelta(hours=1))
        stop.FromDatetime(end)
        rows = (await stub.ListDepartmentFigures(figures_pb2.ListDepartmentFiguresRequest(
            start_time=start, end_time=stop), metadata=env.md(service_caller("supervision")), timeout=10)).figures
        return (sum(f.value for f in rows if (f.department_code, f.name) == (user.department_code, "grants.held")),
                sum(f.value for f in rows if (f.department_code, f.name) == (provider.department_code, "grants.given")))

    before = dt.datetime.now(dt.UTC)
    assert await held(before) == (1, 1)
    await retire_entry(env, provider, user, entry, "职责调整")
    assert await held(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)) == (0, 0)
    assert await held(before) == (1, 1)


# Check -------------------------------------------------------------------------------------------


async def test_check_is_for_platform_services_only(env: Env, parties) -> None:  # type: ignore[no-untyped-def]
    _, user, entry = parties
    for caller in (user, AUTHORITY):
        reason, _, _ = await fails(env.check(user, entry, "name", caller=caller), grpc.StatusCode.PERMISSION_DENIED)
        assert reason == "SERVICE_ONLY"
    unsigned = authz.CheckRequest(system_id=user.system_id, department_code=user.department_code,
                                  resource_code=entry.code, purpose=ADMIN)
    await fails(env.checks.Check(unsigned, timeout=10), grpc.StatusCode.UNAUTHENTICATED)


async def test_check_decides_basic_items_and_denials_with_reasons(env: Env, parties) -> None:  # type: ignore[no-untyped-def]
    _, user, entry = parties
    basic = await env.check(user, entry, "citizen_id", "name")
    assert basic.allowed and dict(basic.masks) == {"citizen_id": "citizen_id", "name": "name"}
    assert basic.expire_time.ToDatetime(tzinfo=dt.UTC) <= dt.datetime.now(dt.UTC) + dt.timedelta(
        seconds=env.settings.decision_ttl_seconds)
    denied = await env.check(user, entry, "birth_date")
    assert not denied.allowed and denied.deny_reason == common.DENY_REASON_NOT_GRANTED
    assert "SubmitApplication" in denied.message
    await fails(env.check(user, cat.Entry(code=resource_code()), "name"), grpc.StatusCode.NOT_FOUND)
    _, fields, _ = await fails(env.check(user, entry, "salary", purpose=common.PURPOSE_TYPE_UNSPECIFIED),
                               grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["purpose"]
    _, fields, _ = await fails(env.check(user, entry, "salary"), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["items[0]"]


async def test_a_retired_entry_is_no_longer_granted(env: Env, parties) -> None:  # type: ignore[no-untyped-def]
    """Retiring a published entry stops every grant of it for good: the provider's 编目员 answers for it. A business
    system's token (one leaked secret) closed its department's sharing; it is refused PERSON_REQUIRED."""
    provider, user, entry = parties
    await env.grant(provider, user, entry)
    assert (await env.check(user, entry, "birth_date")).allowed
    catalog = catalog_pb2_grpc.CatalogServiceStub(env.catalog)
    reason, _, message = await fails(catalog.RetireEntry(cat.RetireEntryRequest(code=entry.code, reason="职责调整"),
                                                         metadata=env.md(provider), timeout=10),
                                     grpc.StatusCode.PERMISSION_DENIED)
    assert reason == "PERSON_REQUIRED" and "编目员 (DATA_OFFICER)" in message, message
    assert (await catalog.GetEntry(cat.GetEntryRequest(code=entry.code), metadata=env.md(user),
                                   timeout=10)).entry.state == cat.ENTRY_STATE_PUBLISHED
    await catalog.RetireEntry(cat.RetireEntryRequest(code=entry.code, reason="职责调整"),
                              metadata=env.md(person_of(provider, DATA_OFFICER)), timeout=10)
    for _ in range(100):  # the catalog's change event reaches authorization's cache asynchronously
        decision = await env.check(user, entry, "birth_date")
        if not decision.allowed:
            break
        await asyncio.sleep(0.05)
    assert decision.deny_reason == common.DENY_REASON_NOT_PUBLISHED


async def test_a_grant_of_a_retired_entry_is_not_adjusted(env: Env, parties) -> None:  # type: ignore[no-untyped-def]
    """Retiring an entry ends its grants for good, yet the provider's 审批人 extended one (保存调整 on 授权): the
    grant was saved with the later end and answered ACTIVE, while every query under it was refused NOT_PUBLISHED.
    The adjustment is refused FAILED_PRECONDITION NOT_PUBLISHED saying so, and the grant is left as it was."""
    provider, user, entry = parties
    grant = await env.grant(provider, user, entry)
    await retire_entry(env, provider, user, entry, "职责调整")
    extend = sh.UpdateGrantRequest(grant=sh.Grant(id=grant.id, expire_time=timestamp(dt.timedelta(days=300))),
                                   update_mask=field_mask_pb2.FieldMask(paths=["expire_time"]))
    reason, _, message = await fails(env.sharing.UpdateGrant(extend, metadata=env.md(approver(provider)), timeout=10),
                                     grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "NOT_PUBLISHED" and f"resource {entry.code} is retired" in message, message
    kept = (await env.sharing.GetGrant(sh.GetGrantRequest(id=grant.id), metadata=env.md(user), timeout=10)).grant
    assert (kept.expire_time, kept.policy_version) == (grant.expire_time, grant.policy_version)


async def test_an_application_pending_when_its_entry_is_retired_is_neither_approved_nor_refused(  # type: ignore[no-untyped-def]
        env: Env, parties) -> None:
    """Approving it made a grant on a retired resource (R-CAT-3); the retirement closed it, so the provider's reply,
    approval or refusal, is refused saying so, and nothing is granted."""
    provider, user, entry = parties
    application = await env.submit(user, entry)
    await retire_entry(env, provider, user, entry, "职责调整")
    for decision in (sh.REPLY_DECISION_APPROVE, sh.REPLY_DECISION_REFUSE):
        reply = env.reply(provider, application.id, decision=decision, reason="该资源已停止共享")
        reason, _, message = await fails(reply, grpc.StatusCode.FAILED_PRECONDITION)
        assert reason == "APPLICATION_CLOSED" and "retired" in message, message
    got = await env.sharing.GetApplication(sh.GetApplicationRequest(id=application.id), metadata=env.md(user),
                                           timeout=10)
    assert got.application.state == sh.APPLICATION_STATE_CLOSED and not got.application.grant_id


async def _made_not_shared(env: Env, provider, user, entry) -> None:  # type: ignore[no-untyped-def]
    """A version of ``entry`` published 不予共享 (with its legal basis), awaited until authorization holds it."""
    stub = catalog_pb2_grpc.CatalogServiceStub(env.catalog)
    change = cat.Entry(code=entry.code, share_type=common.SHARE_TYPE_NOT_SHARED,
                       legal_basis="《中华人民共和国保守国家秘密法》")
    await stub.UpdateEntry(cat.UpdateEntryRequest(entry=change, update_mask=field_mask_pb2.FieldMask(
        paths=["share_type", "legal_basis"])), metadata=env.md(provider), timeout=10)
    await stub.SubmitEntry(cat.SubmitEntryRequest(code=entry.code), metadata=env.md(provider), timeout=10)
    await stub.ReviewEntry(cat.ReviewEntryRequest(code=entry.code, decision=cat.REVIEW_DECISION_PUBLISH),
                           metadata=env.md(AUTHORITY_REVIEWER), timeout=10)
    for _ in range(100):  # until authorization's cache holds the not-shared version
        decision = await env.check(user, entry, "birth_date")
        if decision.deny_reason == common.DENY_REASON_NOT_SHARED:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{entry.code} never read as not shared")


async def test_a_providers_grant_of_a_resource_made_not_shared_is_not_adjusted(  # type: ignore[no-untyped-def]
        env: Env, parties) -> None:
    """A version made the resource 不予共享 after the grant: the provider's 审批人 extended it and was answered ACTIVE
    with the later end, while every query under it was refused NOT_SHARED. The adjustment is refused
    FAILED_PRECONDITION NOT_SHARED_NOW saying so and what to do, the grant left as it was; it can still be revoked."""
    provider, user, entry = parties
    grant = await env.grant(provider, user, entry)
    await _made_not_shared(env, provider, user, entry)
    extend = sh.UpdateGrantRequest(grant=sh.Grant(id=grant.id, expire_time=timestamp(dt.timedelta(days=300))),
                                   update_mask=field_mask_pb2.FieldMask(paths=["expire_time"]))
    reason, _, message = await fails(env.sharing.UpdateGrant(extend, metadata=env.md(approver(provider)), timeout=10),
                                     grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "NOT_SHARED_NOW" and "不予共享" in message and "revoke it" in message, message
    kept = (await env.sharing.GetGrant(sh.GetGrantRequest(id=grant.id), metadata=env.md(user), timeout=10)).grant
    assert (kept.expire_time, kept.policy_version) == (grant.expire_time, grant.policy_version)
    revoked = await env.sharing.RevokeGrant(sh.RevokeGrantRequest(id=grant.id, reason="该资源已调整为不予共享"),
                                            metadata=env.md(approver(provider)), timeout=10)
    assert revoked.grant.state == sh.GRANT_STATE_REVOKED


async def test_an_application_pending_when_its_entry_becomes_not_shared_can_only_be_refused(  # type: ignore[no-untyped-def]
        env: Env, parties) -> None:
    """A version published after the application made the resource 不予共享: the provider's approval still made an
    APPROVED application and an ACTIVE grant, yet every query under it was refused NOT_SHARED (only a coordination
    decision opens a not-shared resource). The approval is refused; a refusal goes through and can be escalated."""
    provider, user, entry = parties
    application = await env.submit(user, entry)
    await _made_not_shared(env, provider, user, entry)
    reason, _, message = await fails(env.reply(provider, application.id), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "NOT_SHARED_NOW" and "不予共享" in message, message
    got = await env.sharing.GetApplication(sh.GetApplicationRequest(id=application.id), metadata=env.md(user),
                                           timeout=10)
    assert got.application.state == sh.APPLICATION_STATE_SUBMITTED and not got.application.grant_id
    refused = await env.reply(provider, application.id, decision=sh.REPLY_DECISION_REFUSE,
                              reason="该资源已调整为不予共享")
    assert refused.application.state == sh.APPLICATION_STATE_REFUSED and not refused.grant.id


async def test_an_approval_grants_only_items_the_published_version_has(  # type: ignore[no-untyped-def]
        env: Env, parties) -> None:
    """A version published after the application dropped ``address``: approving the request as made granted an
    item the resource no longer has."""
    provider, user, entry = parties
    application = await env.submit(user, entry)  # name, birth_date, address
    stub = catalog_pb2_grpc.CatalogServiceStub(env.catalog)
    change = cat.Entry(code=entry.code, items=[i for i in entry.items if i.machine_name != "address"])
    await stub.UpdateEntry(cat.UpdateEntryRequest(entry=change, update_mask=field_mask_pb2.FieldMask(paths=["items"])),
                           metadata=env.md(provider), timeout=10)
    await stub.SubmitEntry(cat.SubmitEntryRequest(code=entry.code), metadata=env.md(provider), timeout=10)
    await stub.ReviewEntry(cat.ReviewEntryRequest(code=entry.code, decision=cat.REVIEW_DECISION_PUBLISH),
                           metadata=env.md(AUTHORITY_REVIEWER), timeout=10)
    for _ in range(100):  # until authorization's cache holds version 2
        try:
            await env.check(user, entry, "address")
        except grpc.aio.AioRpcError:
            break
        await asyncio.sleep(0.05)
    _, fields, message = await fails(env.reply(provider, application.id), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["items"] and "address is no longer an item" in message
    approved = await env.reply(provider, application.id, items=["name", "birth_date"])
    assert list(approved.grant.items) == ["name", "birth_date"]


async def test_an_approval_grants_only_methods_the_published_version_offers(  # type: ignore[no-untyped-def]
        env: Env, parties) -> None:
    """A version published after the application stopped offering 部门批量下载: approving (or granting by coordination)
    the request as made gave a grant for a method the resource no longer offers, read by both departments as allowing
    batch downloads that every Export refused. The grant gives the methods still offered, the history saying so; an
    application for none of them cannot be approved, only refused."""
    provider, user, entry = parties
    both = await env.submit(user, entry, methods=[ONLINE, DOWNLOAD])
    download = await env.submit(user, entry, methods=[DOWNLOAD])
    stub = catalog_pb2_grpc.CatalogServiceStub(env.catalog)
    await stub.UpdateEntry(cat.UpdateEntryRequest(entry=cat.Entry(code=entry.code, share_methods=[ONLINE]),
                                                  update_mask=field_mask_pb2.FieldMask(paths=["share_methods"])),
                           metadata=env.md(provider), timeout=10)
    await stub.SubmitEntry(cat.SubmitEntryRequest(code=entry.code), metadata=env.md(provider), timeout=10)
    await stub.ReviewEntry(cat.ReviewEntryRequest(code=entry.code, decision=cat.REVIEW_DECISION_PUBLISH),
                           metadata=env.md(AUTHORITY_REVIEWER), timeout=10)
    for _ in range(200):  # until authorization's cache holds version 2
        if (await env.check(user, entry, "birth_date", method=DOWNLOAD)).deny_reason == \
                common.DENY_REASON_METHOD_NOT_GRANTED:
            break
        await asyncio.sleep(0.01)
    approved = await env.reply(provider, both.id)
    assert list(approved.grant.methods) == [ONLINE]
    assert "使用方式 联机查询" in approved.application.history[-1].note, approved.application.history[-1].note
    reason, _, message = await fails(env.reply(provider, download.id), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "METHOD_NOT_OFFERED" and "BATCH_DOWNLOAD" in message and "refuse" in message, message
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await env.reply(provider, download.id)
    said = problem_of(refused.value).message  # as the console's 答复 says it
    assert said.startswith("该资源在申请后已不再提供所申请的使用方式") and "BATCH" not in said, said
    await env.reply(provider, download.id, decision=sh.REPLY_DECISION_REFUSE, reason="该资源已不提供批量下载")


# Fuzz: whatever the request, the service answers with a deliberate status, never INTERNAL/UNKNOWN.

_text = st.one_of(st.text(max_size=40), st.sampled_from(["", " ", "\x00", "101001/000001", "name", "sys-abcd1234",
                                                         "91110000600037341L", "110100", "x" * 3000]))
_enum = st.one_of(st.integers(min_value=0, max_value=5), st.integers(min_value=-(2**31), max_value=2**31 - 1))
_names = st.lists(st.one_of(st.sampled_from((*ITEMS, "salary")), st.text(max_size=10)), max_size=6)
_stamp = st.one_of(st.none(), st.builds(timestamp_pb2.Timestamp,
                                        seconds=st.integers(min_value=-(2**62), max_value=2**62),
                                        nanos=st.integers(min_value=-(2**31), max_value=2**31 - 1)),
                   st.builds(lambda d: timestamp(dt.timedelta(days=d)), st.integers(min_value=-400, max_value=400)))
_SAFE = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
         grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.ALREADY_EXISTS}
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))


async def _status(call: object) -> grpc.StatusCode:
    try:
        await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


@FUZZ
@given(code=_text, name=_text, level=_enum, region=_text, authority=st.booleans())
async def test_fuzz_create_department(env: Env, code: str, name: str, level: int, region: str,
                                      authority: bool) -> None:
    request = directory_pb2.CreateDepartmentRequest(department=directory_pb2.Department(
        code=code, name=name, level=level, region_code=region, authority=authority))
    status = await _status(env.directory.CreateDepartment(request, metadata=env.md(AUTHORITY), timeout=10))
    assert status in _SAFE


@FUZZ
@given(resource=_text, names=_names, purposes=st.lists(_enum, max_size=4), basis=_text, purpose_text=_text,
       expire=_stamp, methods=st.lists(_enum, max_size=4), quota=st.integers(min_value=-(2**63), max_value=2**63 - 1),
       system_ids=st.lists(_text, max_size=3), applicant=_text, use_entry=st.booleans())
async def test_fuzz_submit_application(env: Env, parties, resource: str, names: list[str], purposes: list[int],  # type: ignore[no-untyped-def]
                                       basis: str, purpose_text: str, expire: timestamp_pb2.Timestamp | None,
                                       methods: list[int], quota: int, system_ids: list[str], applicant: str,
                                       use_entry: bool) -> None:
    _, user, entry = parties
    application = sh.Application(resource_code=entry.code if use_entry else resource, items=names, purposes=purposes,
                                 basis=basis, purpose_text=purpose_text, methods=methods, quota=quota,
                                 system_ids=system_ids, applicant_department_code=applicant)
    if expire is not None:
        application.requested_expire_time.CopyFrom(expire)
    status = await _status(env.sharing.SubmitApplication(sh.SubmitApplicationRequest(application=application),
                                                         metadata=env.md(user), timeout=10))
    assert status in _SAFE


@FUZZ
@given(decision=_enum, reason=_text, names=_names, unmasked=_names, expire=_stamp,
       quota=st.integers(min_value=-(2**63), max_value=2**63 - 1), purposes=st.lists(_enum, max_size=4),
       real_id=st.booleans(), other_id=_text)
async def test_fuzz_reply_application(env: Env, parties, decision: int, reason: str, names: list[str],  # type: ignore[no-untyped-def]
                                      unmasked: list[str], expire: timestamp_pb2.Timestamp | None, quota: int,
                                      purposes: list[int], real_id: bool, other_id: str) -> None:
    provider, user, entry = parties
    application_id = (await env.submit(user, entry)).id if real_id else other_id
    request = sh.ReplyApplicationRequest(id=application_id, decision=decision, reason=reason, items=names,
                                         unmasked_items=unmasked, quota=quota, purposes=purposes)
    if expire is not None:
        request.expire_time.CopyFrom(expire)
    status = await _status(env.sharing.ReplyApplication(request, metadata=env.md(provider), timeout=10))
    assert status in _SAFE


async def test_a_provisional_reply_deadline_is_counted_again_once_the_calendar_has_its_year(  # type: ignore[no-untyped-def]
        env: Env, parties, monkeypatch) -> None:
    """An application made on Friday 18 Dec 2099 is due ten working days later in 2100, a year chinese-calendar
    does not cover: counted Monday to Friday, due Monday 4 Jan, and provisional. The deadline was stored so and
    never counted again: once a release that knows 2100's arrangement (here 1-7 Jan off) is installed, the
    application still said 4 Jan (due 8 Jan on that calendar), no longer provisional, and supervision held the
    provider to it. At start the
    service now counts such deadlines again, the ones stored before their count was kept too."""
    from calendar_release import publish_2100

    from services.authorization.sharing import Sharing
    from services.authorization.store import Store
    from services.runtime import workdays

    _, user, entry = parties
    kept, legacy, certain = [await env.submit(user, entry) for _ in range(3)]
    made = dt.datetime(2099, 12, 18, 10, 0, tzinfo=workdays.CHINA)
    counted = workdays.add_working_days(made, 10)
    assert counted.date() == dt.date(2100, 1, 4) and workdays.provisional(counted)
    conn = await asyncpg.connect(env.settings.database_url)
    try:  # as submitted on 18 Dec 2099: one with its count kept, one stored before counts were
        await conn.execute('UPDATE "authorization".applications SET create_time = $2, reply_due_time = $3,'
                           " reply_due_provisional = true WHERE id = $1", kept.id, made, counted)
        await conn.execute('UPDATE "authorization".applications SET create_time = $2, reply_due_time = $3,'
                           " reply_working_days = NULL, reply_due_provisional = NULL WHERE id = $1",
                           legacy.id, made, counted)
    finally:
        await conn.close()
    store = Store()
    await store.open(env.settings.database_url, min_size=1, max_size=2)
    sharing = Sharing(store, None, None, env.settings)  # type: ignore[arg-type]
    try:
        assert (await sharing.recount_dues()).provisional == 0  # 2100 still unknown: nothing moves
        publish_2100(monkeypatch)  # a release that knows 2099 and 2100: 1-7 Jan 2100 off
        assert (await sharing.recount_dues()).provisional == 2
        assert not await sharing.recount_dues()
    finally:
        await store.close()
    for application in (kept, legacy):
        got = (await env.sharing.GetApplication(sh.GetApplicationRequest(id=application.id), metadata=env.md(user),
                                                timeout=10)).application
        due = got.reply_due_time.ToDatetime(tzinfo=dt.UTC).astimezone(workdays.CHINA)
        assert due.date() == dt.date(2100, 1, 8) and not got.reply_due_time_provisional, (application.id, due)
    untouched = (await env.sharing.GetApplication(sh.GetApplicationRequest(id=certain.id), metadata=env.md(user),
                                                  timeout=10)).application
    assert untouched.reply_due_time == certain.reply_due_time


async def test_an_awaited_reply_deadline_is_counted_again_once_its_years_holiday_file_is_corrected(  # type: ignore[no-untyped-def]
        env: Env, parties, monkeypatch, tmp_path) -> None:
    """The operator entered 2027's notice (GOVSHARE_HOLIDAYS_FILE) with 春节 ending on Thursday 11 Feb: an
    application made on Friday 29 Jan 2027 was due ten working days later on Thursday 18 Feb, not provisional.
    Restarted with the corrected file, the start recounted only provisional deadlines: the provider was held to 18
    Feb, a day early, and found late on the 19th. The service now counts again at start every deadline still
    awaiting its reply (due Friday 19 Feb); one already answered keeps the deadline it was answered by."""
    from calendar_release import FILED_2027, NOTICE_2027, NOTICE_2027_MISTYPED, enter_2027

    from services.authorization.sharing import Sharing
    from services.authorization.store import Store
    from services.runtime import workdays

    provider, user, entry = parties
    awaited, answered = [await env.submit(user, entry) for _ in range(2)]
    await env.reply(provider, answered.id, decision=sh.REPLY_DECISION_REFUSE, reason="超出法定职责范围")
    enter_2027(monkeypatch, tmp_path, NOTICE_2027_MISTYPED)
    counted = workdays.add_working_days(FILED_2027, 10)
    assert counted.date() == dt.date(2027, 2, 18) and not workdays.provisional(counted)
    conn = await asyncpg.connect(env.settings.database_url)
    try:  # as made on 29 Jan 2027 and counted on the file as first entered
        await conn.execute('UPDATE "authorization".applications SET create_time = $2, reply_due_time = $3,'
                           " reply_working_days = 10, reply_due_provisional = false WHERE id = ANY($1::text[])",
                           [awaited.id, answered.id], FILED_2027, counted)
    finally:
        await conn.close()
    store = Store()
    await store.open(env.settings.database_url, min_size=1, max_size=2)
    sharing = Sharing(store, None, None, env.settings)  # type: ignore[arg-type]
    try:
        await sharing.recount_dues()  # the calendar they were counted on: they do not move (other tests' may)
        assert {due for due, in await store.pool.fetch('SELECT reply_due_time FROM "authorization".applications'
                                                       " WHERE id = ANY($1)", [awaited.id, answered.id])} == {counted}
        enter_2027(monkeypatch, tmp_path, NOTICE_2027)  # the operator corrects the file and restarts
        assert (await sharing.recount_dues()).corrected == 1
        assert not await sharing.recount_dues()
    finally:
        await store.close()
    dues = []
    for application in (awaited, answered):
        got = (await env.sharing.GetApplication(sh.GetApplicationRequest(id=application.id), metadata=env.md(user),
                                                timeout=10)).application
        dues.append((got.reply_due_time.ToDatetime(tzinfo=dt.UTC).astimezone(workdays.CHINA).date(),
                     got.reply_due_time_provisional))
    assert dues == [(dt.date(2027, 2, 19), False), (dt.date(2027, 2, 18), False)]


async def test_applications_list_by_reply_deadline_earliest_first(env: Env, parties) -> None:  # type: ignore[no-untyped-def]
    """ListApplications listed newest first only: a provider with more applications waiting than a page holds
    found the ones waiting longest, due first, on the last page (and the console's 答复 and home page showed the
    newest). order_by "reply_due_time" lists the earliest deadline first, paged; any other order is refused."""
    provider, user, entry = parties
    made = [await env.submit(user, entry) for _ in range(3)]
    now = dt.datetime.now(dt.UTC)
    dues = {made[0].id: now + dt.timedelta(days=30), made[1].id: now - dt.timedelta(days=400),
            made[2].id: now - dt.timedelta(days=399)}
    conn = await asyncpg.connect(env.settings.database_url)
    try:
        for app_id, due in dues.items():
            await conn.execute('UPDATE "authorization".applications SET reply_due_time = $2 WHERE id = $1',
                               app_id, due)
    finally:
        await conn.close()
    request = sh.ListApplicationsRequest(role=sh.APPLICATION_ROLE_PROVIDER, state=sh.APPLICATION_STATE_SUBMITTED,
                                         order_by="reply_due_time", page_size=2)
    first = await env.sharing.ListApplications(request, metadata=env.md(provider), timeout=10)
    assert [a.id for a in first.applications] == [made[1].id, made[2].id] and first.next_page_token
    request.page_token = first.next_page_token
    listed = []
    while request.page_token:
        page = await env.sharing.ListApplications(request, metadata=env.md(provider), timeout=10)
        listed += [a.id for a in page.applications]
        request.page_token = page.next_page_token
    assert made[0].id in listed and made[1].id not in listed and made[2].id not in listed
    newest = await env.sharing.ListApplications(sh.ListApplicationsRequest(role=sh.APPLICATION_ROLE_PROVIDER,
                                                                           page_size=1),
                                                metadata=env.md(provider), timeout=10)
    assert [a.id for a in newest.applications] == [made[2].id]  # the default order is unchanged
    _, fields, _ = await fails(env.sharing.ListApplications(sh.ListApplicationsRequest(order_by="create_time"),
                                                            metadata=env.md(provider), timeout=10),
                               grpc.StatusCode.INVALID_ARGUMENT)
    assert "order_by" in fields, fields
