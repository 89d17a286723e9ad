"""Disabling a system or rotating its secret refuses the tokens it already holds, everywhere, at once.

Through the real platform (gateway, authorization, query, Redis events): a token issued before
DisableSystem or RotateSystemSecret is refused by the gateway (whose token cache had it) and by query
itself (given the assertion the gateway would sign for it), within a bounded poll of about a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import pytest
from google.protobuf import field_mask_pb2
from stdnum.cn import uscc

from govshare.authorization.v1 import (
    admin_log_pb2,
    admin_log_pb2_grpc,
    directory_pb2,
    directory_pb2_grpc,
    sharing_pb2,
    sharing_pb2_grpc,
    token_pb2,
    token_pb2_grpc,
)
from govshare.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from govshare.catalog.v1 import catalog_pb2 as cat
from govshare.common.v1 import common_pb2 as common
from govshare.provider.v1 import provider_pb2, provider_pb2_grpc
from govshare.query.v1 import audit_pb2, audit_pb2_grpc, query_pb2, query_pb2_grpc
from services.runtime.duties import ADMINISTRATOR, APPROVER, AUDITOR, REVIEWER
from services.runtime.errors import details_of
from services.runtime.identity import AssertionSigner, service_caller
from services.runtime.system_states import SECRET_ROTATED, SYSTEM_DISABLED, TOKEN_PREDATES_DISABLE
from tests.integration.test_persons import announcements_lost

pytestmark = pytest.mark.integration

ENTITIES = "102001/000001"  # unconditional: any authenticated system may query it
WORK = common.Purpose(type=common.PURPOSE_TYPE_WORK_REFERENCE, text="窗口业务办理")
#: Events reach every replica in milliseconds; the poll allows a loaded test machine some slack.
PROPAGATION_SECONDS = 1.0
_CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def _directory(platform) -> directory_pb2_grpc.DirectoryServiceStub:  # type: ignore[no-untyped-def]
    return directory_pb2_grpc.DirectoryServiceStub(platform.channel)


async def _new_system(platform, owner: str = "social",  # type: ignore[no-untyped-def]
                      department: str = "") -> tuple[str, str, str]:
    """A fresh system of a demo department, registered by the authority: (system id, secret, department)."""
    code = department or platform.credentials.systems[owner]["department"]
    created = await _directory(platform).CreateSystem(
        directory_pb2.CreateSystemRequest(system=directory_pb2.System(department_code=code, name="窗口受理系统")),
        metadata=platform.metadata("authority"), timeout=10)
    return created.system.id, created.secret, code


async def _token(platform, system_id: str, secret: str) -> str:  # type: ignore[no-untyped-def]
    response = await token_pb2_grpc.TokenServiceStub(platform.channel).IssueToken(
        token_pb2.IssueTokenRequest(system_id=system_id, secret=secret), timeout=10)
    return response.token


def _bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


_keys: list[str] = []


async def _credit_code(platform) -> str:  # type: ignore[no-untyped-def]
    """A legal entity that exists, read through the provider contract as the query service would."""
    if not _keys:
        signer = AssertionSigner(platform.settings["query"].internal_key)
        async with grpc.aio.insecure_channel(platform.port("foundation")) as channel:
            async for page in provider_pb2_grpc.ProviderServiceStub(channel).Export(
                    provider_pb2.ExportRequest(dataset="legal_entity", page_size=1),
                    metadata=signer.metadata(service_caller("query"))):
                _keys.append(page.records[0].key)
                break
    return _keys[0]


def _request(key: str) -> query_pb2.QueryRequest:
    return query_pb2.QueryRequest(resource_code=ENTITIES, key=key, purpose=WORK)


async def _through_gateway(platform, token: str) -> query_pb2.QueryResponse:  # type: ignore[no-untyped-def]
    return await query_pb2_grpc.QueryServiceStub(platform.channel).Query(
        _request(await _credit_code(platform)), metadata=_bearer(token), timeout=10)


async def _straight_at_query(platform, token: str) -> query_pb2.QueryResponse:  # type: ignore[no-untyped-def]
    """The call as the edge forwards it: the bearer token, which query verifies itself."""
    async with grpc.aio.insecure_channel(platform.port("query")) as channel:
        return await query_pb2_grpc.QueryServiceStub(channel).Query(_request(await _credit_code(platform)),
                                                                    metadata=_bearer(token), timeout=10)


async def _straight_at_catalog(platform, token: str) -> object:  # type: ignore[no-untyped-def]
    """Any other service refuses the token itself too (here the catalog, which keeps its own systems' states)."""
    async with grpc.aio.insecure_channel(platform.port("catalog")) as channel:
        return await catalog_pb2_grpc.CatalogServiceStub(channel).ListEntries(
            catalog_pb2.ListEntriesRequest(page_size=1), metadata=_bearer(token), timeout=10)


async def _refused_soon(call: Callable[[], Awaitable[object]]) -> grpc.aio.AioRpcError:
    """Polls ``call`` until it is refused, for at most PROPAGATION_SECONDS; the refusal."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PROPAGATION_SECONDS
    while True:
        try:
            await call()
        except grpc.aio.AioRpcError as error:
            return error
        assert loop.time() < deadline, f"still accepted {PROPAGATION_SECONDS}s after the change"
        await asyncio.sleep(0.02)


async def _works(platform, token: str) -> None:  # type: ignore[no-untyped-def]
    key = await _credit_code(platform)
    assert (await _through_gateway(platform, token)).values["credit_code"] == key
    assert (await _straight_at_query(platform, token)).values["credit_code"] == key
    await _straight_at_catalog(platform, token)


def _rest_entries(platform, token: str) -> tuple[int, dict]:  # type: ignore[no-untyped-def]
    """GET /v1/entries through the edge with ``token``: the HTTP status and the JSON body."""
    request = urllib.request.Request(f"http://{platform.gateway}/v1/entries?pageSize=1",
                                     headers={"authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


async def _refused_everywhere(platform, token: str, says: str, reason: str) -> None:  # type: ignore[no-untyped-def]
    """Refused UNAUTHENTICATED with ``reason`` (ErrorInfo) by the edge's gRPC and REST and by each service."""
    for call in (lambda: _through_gateway(platform, token), lambda: _straight_at_query(platform, token),
                 lambda: _straight_at_catalog(platform, token)):
        error = await _refused_soon(call)
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED, error.details()
        assert says in error.details()
        info, _ = details_of(error)
        assert info is not None and info.reason == reason, error.details()
    status, body = await asyncio.to_thread(_rest_entries, platform, token)
    assert status == 401 and says in body["message"], body
    assert [d["reason"] for d in body["details"] if d["@type"].endswith("ErrorInfo")] == [reason], body


async def test_a_token_issued_before_disable_is_refused_at_the_gateway_and_at_query(platform) -> None:  # type: ignore[no-untyped-def]
    system_id, secret, _ = await _new_system(platform)
    token = await _token(platform, system_id, secret)
    await _works(platform, token)  # both the gateway and query have now cached what they verified

    await _directory(platform).DisableSystem(directory_pb2.DisableSystemRequest(id=system_id),
                                             metadata=platform.metadata("authority"), timeout=10)

    # Told what to do, not only that the token is refused: a program of its own (curl, Java) otherwise asks for a
    # new token, refused too, and retries both; only the authority's 管理员 enabling the system helps.
    await _refused_everywhere(platform, token, "disabled: its tokens are no longer accepted, and no new one is "
                              "issued until the authority's 管理员 (ADMINISTRATOR) enables it again "
                              "(DirectoryService.EnableSystem)", SYSTEM_DISABLED)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _token(platform, system_id, secret)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    info, _ = details_of(refused.value)  # the right secret is told the system is disabled; a wrong one is not
    assert info is not None and info.reason == SYSTEM_DISABLED, refused.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as wrong:
        await _token(platform, system_id, secret + "x")
    info, _ = details_of(wrong.value)
    assert info is not None and info.reason == "UNAUTHENTICATED", wrong.value.details()


async def test_a_disabled_systems_attempt_with_a_token_it_still_holds_is_audited(platform) -> None:  # type: ignore[no-untyped-def]
    """R-SEC-3: the refusal names who tried, what and why, in the access log (it left no record anywhere)."""
    system_id, secret, department = await _new_system(platform)
    token = await _token(platform, system_id, secret)
    await _works(platform, token)
    await _directory(platform).DisableSystem(directory_pb2.DisableSystemRequest(id=system_id),
                                             metadata=platform.metadata("authority"), timeout=10)

    refused = await _refused_soon(lambda: _through_gateway(platform, token))
    assert refused.code() == grpc.StatusCode.UNAUTHENTICATED and "disabled" in refused.details()
    info, _ = details_of(refused)
    assert info is not None and info.metadata["audit_id"]
    listed = await audit_pb2_grpc.AuditServiceStub(platform.channel).ListAccesses(
        audit_pb2.ListAccessesRequest(department_code=department, page_size=100),
        metadata=platform.metadata("authority"), timeout=10)
    (record,) = [a for a in listed.accesses if a.id == info.metadata["audit_id"]]
    assert (record.system_id, record.operation, record.resource_code, record.key, record.result,
            record.deny_reason) == (system_id, "Query", ENTITIES, await _credit_code(platform),
                                    audit_pb2.ACCESS_RESULT_DENIED, common.DENY_REASON_CREDENTIALS_REVOKED)
    assert record.purpose == WORK.type and record.purpose_text == WORK.text


async def test_a_token_issued_before_rotation_is_refused_and_the_new_secret_works_at_once(platform) -> None:  # type: ignore[no-untyped-def]
    system_id, secret, _ = await _new_system(platform)
    token = await _token(platform, system_id, secret)
    await _works(platform, token)

    # Rotated by the system itself (automated rotation: the one directory change its own token may make).
    rotated = await _directory(platform).RotateSystemSecret(
        directory_pb2.RotateSystemSecretRequest(id=system_id), metadata=_bearer(token), timeout=10)

    await _refused_everywhere(platform, token, "rotated", SECRET_ROTATED)
    await _works(platform, await _token(platform, system_id, rotated.secret))


async def _no_token(platform, system_id: str, secret: str) -> None:  # type: ignore[no-untyped-def]
    """IssueToken refuses ``secret`` as a wrong secret."""
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _token(platform, system_id, secret)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "unknown system id or wrong secret" in (refused.value.details() or "")


async def test_a_systems_own_rotation_whose_answer_was_lost_leaves_it_the_secret_it_holds(  # type: ignore[no-untyped-def]
        platform) -> None:
    """A business system rotating its own secret whose answer was lost (a timeout, a restart before it wrote the
    new secret down) held a dead secret, its tokens ended by the rotation: locked out until the authority's 管理员
    rotated it. The secret it holds is now accepted until the new one has had a token (a day at most), through
    rotations whose answers were lost again; the first token of the new secret ends it, and an administrator's
    rotation (a leak) ends every earlier secret at once."""
    system_id, secret, _ = await _new_system(platform)
    rotate = directory_pb2.RotateSystemSecretRequest(id=system_id)
    token = await _token(platform, system_id, secret)
    lost = (await _directory(platform).RotateSystemSecret(rotate, metadata=_bearer(token), timeout=10)).secret
    token = await _token(platform, system_id, secret)  # (before the fix: UNAUTHENTICATED, wrong secret)
    await _works(platform, token)
    lost_again = (await _directory(platform).RotateSystemSecret(rotate, metadata=_bearer(token), timeout=10)).secret
    await _no_token(platform, system_id, lost)  # nobody ever held it
    token = await _token(platform, system_id, secret)
    kept = (await _directory(platform).RotateSystemSecret(rotate, metadata=_bearer(token), timeout=10)).secret
    await _no_token(platform, system_id, lost_again)
    await _works(platform, await _token(platform, system_id, kept))  # the new secret's first token...
    await _no_token(platform, system_id, secret)  # ...ends the old one

    token = await _token(platform, system_id, kept)
    leaked = (await _directory(platform).RotateSystemSecret(rotate, metadata=_bearer(token), timeout=10)).secret
    handed = (await _directory(platform).RotateSystemSecret(rotate, metadata=platform.metadata("authority"),
                                                            timeout=10)).secret
    for old in (kept, leaked):
        await _no_token(platform, system_id, old)
    await _works(platform, await _token(platform, system_id, handed))

    events = await admin_log_pb2_grpc.AdminLogServiceStub(platform.channel).ListAdminEvents(
        admin_log_pb2.ListAdminEventsRequest(action="token.issue", page_size=1000),
        metadata=platform.metadata("authority"), timeout=10)
    issued = [(e.result, json.loads(e.details_json or "{}").get("previous_secret", False))
              for e in reversed(events.events) if e.target == system_id]
    assert issued == [("OK", False), ("OK", True), ("BAD_SECRET", False), ("OK", True), ("BAD_SECRET", False),
                      ("OK", False), ("BAD_SECRET", False), ("OK", False), ("BAD_SECRET", False),
                      ("BAD_SECRET", False), ("OK", False)], issued


async def test_a_token_issued_between_two_resets_of_one_second_is_refused_after_the_second(  # type: ignore[no-untyped-def]
        platform) -> None:
    """A token issued right after a reset carries ``iat`` = that reset's not-before (the next whole second), and a
    second reset in the same second stored the same not-before: the token survived it. Seen in the leaked-secret
    runbook's test: the leaked system rotated its own secret and took a token, the on-call person disabled,
    rotated and enabled it within that second, and the token answered queries again."""
    system_id, _, _ = await _new_system(platform)
    admin = platform.metadata("authority")
    first = await _directory(platform).RotateSystemSecret(
        directory_pb2.RotateSystemSecretRequest(id=system_id), metadata=admin, timeout=10)
    token = await _token(platform, system_id, first.secret)
    second = await _directory(platform).RotateSystemSecret(
        directory_pb2.RotateSystemSecretRequest(id=system_id), metadata=admin, timeout=10)
    await _refused_everywhere(platform, token, "rotated", SECRET_ROTATED)
    await _works(platform, await _token(platform, system_id, second.secret))


async def test_a_rotation_while_the_old_secret_is_being_checked_leaves_no_token_of_it(  # type: ignore[no-untyped-def]
        platform, monkeypatch) -> None:
    """IssueToken checks the secret (slowly, scrypt) against the hash it read; the secret is rotated meanwhile.
    The token was made after the rotation's "not before" and was valid for its whole life, though its caller
    held only the secret the rotation had just replaced (a leaked one, usually): now it is refused, and logged."""
    from services.authorization import credentials

    system_id, secret, _ = await _new_system(platform)
    checking, rotated = threading.Event(), threading.Event()
    verify = credentials.verify_secret

    def slow_verify(given: str, stored: str) -> bool:
        matches = verify(given, stored)
        if given == secret:
            checking.set()
            rotated.wait(10)
            time.sleep(1.05 - time.time() % 1)  # into the next second: past the rotation's "not before"
        return matches

    monkeypatch.setattr(credentials, "verify_secret", slow_verify)
    issuing = asyncio.ensure_future(_token(platform, system_id, secret))
    assert await asyncio.to_thread(checking.wait, 10)
    await _directory(platform).RotateSystemSecret(directory_pb2.RotateSystemSecretRequest(id=system_id),
                                                  metadata=platform.metadata("authority"), timeout=10)
    rotated.set()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        token = await issuing
        await _through_gateway(platform, token)  # (before the fix: answered)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "rotated while this token was being issued" in refused.value.details()
    info, _ = details_of(refused.value)
    assert info is not None and info.reason == SECRET_ROTATED

    events = await admin_log_pb2_grpc.AdminLogServiceStub(platform.channel).ListAdminEvents(
        admin_log_pb2.ListAdminEventsRequest(action="token.issue", page_size=1000),
        metadata=platform.metadata("authority"), timeout=10)
    assert [e.result for e in events.events if e.target == system_id] == ["SECRET_ROTATED"]


async def test_a_token_ended_while_redis_missed_the_announcement_rotates_no_secret(  # type: ignore[no-untyped-def]
        platform, monkeypatch) -> None:
    """A business system may rotate its own secret with its token, and the service refused an ended token only by
    the verifiers' states, which learn of a disable or a rotation from a Redis event (or their reload, a minute
    later). With the announcement lost (Redis away for a moment during the runbook's 停用 and 重置密钥), whoever
    held the leaked token rotated the secret once more and got a new one: the secret the authority handed the
    department was dead, and the system, enabled again, answered the leaker. The rotation now compares the token
    with the system's row under its lock: refused as every service refuses it, and nothing changes."""
    admin = platform.metadata("authority")
    for end, reason in (("disable", SYSTEM_DISABLED), ("rotate", SECRET_ROTATED)):
        system_id, secret, _ = await _new_system(platform)
        leaked = await _token(platform, system_id, secret)
        announcements_lost(monkeypatch)
        if end == "disable":
            await _directory(platform).DisableSystem(directory_pb2.DisableSystemRequest(id=system_id), metadata=admin,
                                                     timeout=10)
            handed = secret
        else:
            await asyncio.sleep(1.05 - time.time() % 1)  # the rotation in the second after the token's
            handed = (await _directory(platform).RotateSystemSecret(directory_pb2.RotateSystemSecretRequest(
                id=system_id), metadata=admin, timeout=10)).secret
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _directory(platform).RotateSystemSecret(directory_pb2.RotateSystemSecretRequest(id=system_id),
                                                          metadata=_bearer(leaked), timeout=10)
        monkeypatch.undo()
        info, _ = details_of(refused.value)
        assert (refused.value.code(), info.reason if info else "") == (grpc.StatusCode.UNAUTHENTICATED, reason), end
        if end == "disable":
            await _directory(platform).EnableSystem(directory_pb2.EnableSystemRequest(id=system_id), metadata=admin,
                                                    timeout=10)
        assert await _token(platform, system_id, handed), end  # the secret the authority knows still works
        events = await admin_log_pb2_grpc.AdminLogServiceStub(platform.channel).ListAdminEvents(
            admin_log_pb2.ListAdminEventsRequest(action="directory.rotate_system_secret", page_size=1000),
            metadata=admin, timeout=10)
        tried = [(e.actor_system_id, e.result) for e in events.events if e.target == system_id]
        assert (system_id, "CREDENTIALS_REVOKED") in tried, tried


async def test_enable_restores_new_tokens_but_not_those_from_before_the_disable(platform) -> None:  # type: ignore[no-untyped-def]
    system_id, secret, _ = await _new_system(platform)
    old = await _token(platform, system_id, secret)
    await _works(platform, old)
    await _directory(platform).DisableSystem(directory_pb2.DisableSystemRequest(id=system_id),
                                             metadata=platform.person("authority", ADMINISTRATOR), timeout=10)
    await _refused_everywhere(platform, old, "disabled", SYSTEM_DISABLED)

    with pytest.raises(grpc.aio.AioRpcError) as refused:  # the department itself may not lift the authority's stop
        await _directory(platform).EnableSystem(directory_pb2.EnableSystemRequest(id=system_id),
                                                metadata=platform.metadata("social"), timeout=10)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    enabled = await _directory(platform).EnableSystem(directory_pb2.EnableSystemRequest(id=system_id),
                                                      metadata=platform.metadata("authority"), timeout=10)
    assert not enabled.system.disabled

    await _works(platform, await _token(platform, system_id, secret))
    # The old token predates the disable: enabling the system does not revive it.
    await _refused_everywhere(platform, old, "before", TOKEN_PREDATES_DISABLE)


async def test_the_authority_cannot_disable_its_last_enabled_system(platform) -> None:  # type: ignore[no-untyped-def]
    body = "11" + "110100" + "".join(random.choice(_CREDIT_CHARS) for _ in range(9))
    code = body + uscc.calc_check_digit(body)
    await _directory(platform).CreateDepartment(directory_pb2.CreateDepartmentRequest(
        department=directory_pb2.Department(code=code, name="副本大数据局", region_code="110100", authority=True,
                                            level=directory_pb2.ADMINISTRATIVE_LEVEL_MUNICIPAL)),
        metadata=platform.metadata("authority"), timeout=10)
    first, _, _ = await _new_system(platform, department=code)
    second, _, _ = await _new_system(platform, department=code)

    await _directory(platform).DisableSystem(directory_pb2.DisableSystemRequest(id=first),
                                             metadata=platform.metadata("authority"), timeout=10)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _directory(platform).DisableSystem(directory_pb2.DisableSystemRequest(id=second),
                                                 metadata=platform.metadata("authority"), timeout=10)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    info, _ = details_of(refused.value)
    assert info is not None and info.reason == "LAST_AUTHORITY_SYSTEM"
    assert "lock the authority out" in refused.value.details()
    system = await _directory(platform).GetSystem(directory_pb2.GetSystemRequest(id=second),
                                                  metadata=platform.metadata("authority"), timeout=10)
    assert not system.system.disabled


class GatedProvider(provider_pb2_grpc.ProviderServiceServicer):
    """A department's 前置机 whose export sends one page, then waits for ``gate`` before the next (its records hold
    card_no and, with ``batch``, batch_no)."""

    def __init__(self, department: str, batch: bool = False, gate_first: bool = False) -> None:
        self.gate = asyncio.Event()
        self.department = department
        self.items = ["card_no", "batch_no"] if batch else ["card_no"]
        #: The gate holds the first page back too (an export refused before its first row).
        self.gate_first = gate_first

    async def Describe(self, request, context):  # type: ignore[no-untyped-def]
        """What the catalog asks before it publishes the entry naming this 前置机."""
        return provider_pb2.DescribeResponse(serves=True, department_code=self.department, items=self.items)

    def _row(self, number: int) -> provider_pb2.Record:
        return provider_pb2.Record(key=f"row-{number}", values={item: f"{item}-{number}" for item in self.items})

    async def Export(self, request, context):  # type: ignore[no-untyped-def]
        if self.gate_first:
            await self.gate.wait()
        yield provider_pb2.ExportResponse(records=[self._row(1)])
        await self.gate.wait()
        yield provider_pb2.ExportResponse(records=[self._row(2)])


async def _gated_entry(platform, endpoint: str,  # type: ignore[no-untyped-def]
                       share_type: int = common.SHARE_TYPE_UNCONDITIONAL, batch: bool = False,
                       sensitive: bool = False) -> str:
    """A published, downloadable entry of the social department read from ``endpoint`` (unconditional unless
    ``share_type`` says otherwise); with ``batch`` a foundation entry whose card_no is a basic item (shared with
    every department, R-SHR-4) and batch_no is not; with ``sensitive`` card_no is masked (rule full) unless a grant
    unmasks it."""
    code = f"{'101' if batch else '202'}{random.randrange(1, 1000):03d}/{random.randrange(1, 10**6):06d}"
    items = [cat.DataItem(name="卡号", machine_name="card_no", data_type=cat.DATA_TYPE_CHARACTER, length=20,
                          identifier=cat.IDENTIFIER_KIND_TEXT, basic=batch, sensitive=sensitive,
                          mask_rule="full" if sensitive else "")]
    if batch:
        items.append(cat.DataItem(name="发放批次", machine_name="batch_no", data_type=cat.DATA_TYPE_CHARACTER,
                                  length=20))
    entry = cat.Entry(
        code=code, name="社会保障卡发放信息", summary="社会保障卡的发放批次",
        category=cat.CATEGORY_FOUNDATION if batch else cat.CATEGORY_THEME, subject="人口" if batch else "社会保障",
        provider_department_code=platform.credentials.systems["social"]["department"],
        provider_name="人社局", format_class=cat.FORMAT_CLASS_DATABASE, format_type="JSON", items=items,
        key_item="card_no", share_type=share_type,
        share_condition="" if share_type == common.SHARE_TYPE_UNCONDITIONAL else "用于社会救助对象核验",
        share_methods=[common.SHARE_METHOD_ONLINE_QUERY, common.SHARE_METHOD_BATCH_DOWNLOAD],
        update_cycle=cat.UPDATE_CYCLE_DAILY, zone=common.ZONE_EXTRANET, secrecy=cat.SECRECY_NON_CLASSIFIED,
        endpoint=cat.ProviderEndpoint(target=endpoint, dataset="cards"))
    catalog = catalog_pb2_grpc.CatalogServiceStub(platform.channel)
    await catalog.CreateEntry(cat.CreateEntryRequest(entry=entry), metadata=platform.metadata("social"), timeout=10)
    await catalog.SubmitEntry(cat.SubmitEntryRequest(code=code), metadata=platform.metadata("social"), timeout=10)
    await catalog.ReviewEntry(cat.ReviewEntryRequest(code=code, decision=cat.REVIEW_DECISION_PUBLISH),
                              metadata=platform.person("authority", REVIEWER), timeout=10)
    return code


async def _ended(platform, audit_id: str, code: str) -> audit_pb2.AccessRecord:  # type: ignore[no-untyped-def]
    """The access record of the export ``audit_id`` once its closing record is written (without its caller
    waiting, for a download refused on the way)."""
    audit = audit_pb2_grpc.AuditServiceStub(platform.channel)
    for _ in range(100):
        listed = await audit.ListAccesses(audit_pb2.ListAccessesRequest(resource_code=code),
                                          metadata=platform.person("authority", AUDITOR), timeout=10)
        record = next(a for a in listed.accesses if a.id == audit_id)
        if record.HasField("end_time"):
            return record
        await asyncio.sleep(0.05)
    raise AssertionError(f"export {audit_id} never ended")


async def _approved_download(platform, code: str, items: list[str],  # type: ignore[no-untyped-def]
                             unmasked_items: tuple[str, ...] = (), quota: int = 0,
                             days: int = 365,
                             methods: tuple[int, ...] = (common.SHARE_METHOD_BATCH_DOWNLOAD,)) -> sharing_pb2.Grant:
    """The 民政局's grant of ``items`` of ``code`` for batch download (or ``methods``; ``quota`` calls, 0:
    unlimited) for ``days``, approved by the 人社局's 审批人."""
    sharing = sharing_pb2_grpc.SharingServiceStub(platform.channel)
    application = sharing_pb2.Application(
        resource_code=code, items=items, purposes=[WORK.type], basis="《社会救助暂行办法》第十一条",
        methods=list(methods), quota=quota)
    application.requested_expire_time.FromSeconds(int(time.time()) + days * 86400)
    submitted = await sharing.SubmitApplication(sharing_pb2.SubmitApplicationRequest(application=application),
                                                metadata=platform.metadata("civil"), timeout=10)
    approved = await sharing.ReplyApplication(sharing_pb2.ReplyApplicationRequest(
        id=submitted.application.id, decision=sharing_pb2.REPLY_DECISION_APPROVE, unmasked_items=unmasked_items),
        metadata=platform.person("social", APPROVER), timeout=10)
    return approved.grant


async def _revoke(platform, grant_id: str) -> None:  # type: ignore[no-untyped-def]
    await sharing_pb2_grpc.SharingServiceStub(platform.channel).RevokeGrant(
        sharing_pb2.RevokeGrantRequest(id=grant_id, reason="救助对象核验已结束"),
        metadata=platform.person("social", APPROVER), timeout=10)


async def _stopped_revoked(platform, stream,  # type: ignore[no-untyped-def]
                           code: str) -> tuple[grpc.aio.AioRpcError, audit_pb2.AccessRecord]:
    """The download ``stream`` ends PERMISSION_DENIED REVOKED after its first row, no row more, and its audit record
    says so; the refusal and the record, for what else they must say."""
    with pytest.raises(grpc.aio.AioRpcError) as stopped:
        while (rest := await stream.read()) is not grpc.aio.EOF:
            assert not rest.rows, f"the revoked grant's download went on: {rest}"
    assert stopped.value.code() == grpc.StatusCode.PERMISSION_DENIED, stopped.value.details()
    info, _ = details_of(stopped.value)
    assert info is not None and info.reason == "REVOKED", stopped.value.details()
    assert "stopped after 1 rows" in stopped.value.details()
    record = await _ended(platform, dict(await stream.initial_metadata())["x-govshare-audit-id"], code)
    assert (record.result, record.deny_reason, record.rows_sent) == (
        audit_pb2.ACCESS_RESULT_DENIED, common.DENY_REASON_REVOKED, 1)
    return stopped.value, record


@contextlib.asynccontextmanager
async def _served(provider: GatedProvider) -> AsyncIterator[int]:
    """``provider`` served on a port of this machine (the port), its gate opened and the server stopped at the end,
    whatever the test met."""
    server = grpc.aio.server()
    provider_pb2_grpc.add_ProviderServiceServicer_to_server(provider, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield port
    finally:
        provider.gate.set()
        await server.stop(0)


async def test_a_download_under_way_stops_when_its_system_is_disabled(platform) -> None:  # type: ignore[no-untyped-def]
    provider = GatedProvider(platform.credentials.systems["social"]["department"])
    async with _served(provider) as port:
        code = await _gated_entry(platform, f"127.0.0.1:{port}")
        system_id, secret, _ = await _new_system(platform)
        token = await _token(platform, system_id, secret)
        stream = query_pb2_grpc.QueryServiceStub(platform.channel).Export(
            query_pb2.ExportRequest(resource_code=code, purpose=WORK), metadata=_bearer(token), timeout=30)
        first = await stream.read()
        assert [row.key for row in first.rows] == ["row-1"]

        await _directory(platform).DisableSystem(directory_pb2.DisableSystemRequest(id=system_id),
                                                 metadata=platform.metadata("authority"), timeout=10)
        await _refused_soon(lambda: _through_gateway(platform, token))  # every replica knows by now
        provider.gate.set()
        with pytest.raises(grpc.aio.AioRpcError) as stopped:
            while (rest := await stream.read()) is not grpc.aio.EOF:
                assert [row.key for row in rest.rows] != ["row-2"], "the disabled system got the next page"
        assert stopped.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "disabled" in stopped.value.details()
        # The download's record says it was refused so, after one row: it said FAILED UNAUTHENTICATED (a failure
        # of the platform's, to supervision) though a disabled system's call is refused CREDENTIALS_REVOKED.
        audit_id = dict(await stream.initial_metadata())["x-govshare-audit-id"]
        record = await _ended(platform, audit_id, code)
        assert (record.result, record.deny_reason, record.rows_sent, record.pages_sent) == (
            audit_pb2.ACCESS_RESULT_DENIED, common.DENY_REASON_CREDENTIALS_REVOKED, 1, 1)


async def test_a_download_refused_before_its_first_row_gives_its_call_back_to_the_grant(  # type: ignore[no-untyped-def]
        platform) -> None:
    """A download counts one call of its grant's quota when it opens. One whose system was disabled before its first
    row left got nothing, yet its call stayed counted (only a provider's failure gave it back): the department's
    other systems, sharing the grant, lost it. The grant of one call still serves the department's next download."""
    provider = GatedProvider(platform.credentials.systems["social"]["department"], gate_first=True)
    async with _served(provider) as port:
        code = await _gated_entry(platform, f"127.0.0.1:{port}", common.SHARE_TYPE_CONDITIONAL)
        await _approved_download(platform, code, ["card_no"], quota=1)
        system_id, secret, _ = await _new_system(platform, "civil")
        token = await _token(platform, system_id, secret)

        def export(metadata: tuple[tuple[str, str], ...]) -> grpc.aio.UnaryStreamCall:
            return query_pb2_grpc.QueryServiceStub(platform.channel).Export(
                query_pb2.ExportRequest(resource_code=code, purpose=WORK), metadata=metadata, timeout=30)

        stream = export(_bearer(token))
        audit_id = dict(await stream.initial_metadata())["x-govshare-audit-id"]  # opened, and counted
        await _directory(platform).DisableSystem(directory_pb2.DisableSystemRequest(id=system_id),
                                                 metadata=platform.metadata("authority"), timeout=10)
        await _refused_soon(lambda: _through_gateway(platform, token))
        provider.gate.set()
        with pytest.raises(grpc.aio.AioRpcError) as stopped:
            while (rest := await stream.read()) is not grpc.aio.EOF:
                assert not rest.rows, "the disabled system got a row"
        assert stopped.value.code() == grpc.StatusCode.UNAUTHENTICATED, stopped.value.details()
        record = await _ended(platform, audit_id, code)
        assert (record.result, record.rows_sent) == (audit_pb2.ACCESS_RESULT_DENIED, 0)

        rows = [row.key async for page in export(platform.metadata("civil")) for row in page.rows]
        assert rows == ["row-1", "row-2"]


async def test_a_download_under_way_stops_when_its_grant_is_revoked(platform) -> None:  # type: ignore[no-untyped-def]
    """R-APP-4: a revocation takes effect at once. A batch download asked its decision once, when it began, so
    the 民政局's system went on receiving the 人社局's conditional resource page after page once its grant was
    revoked; now each page asks the decision again and the download ends PERMISSION_DENIED, REVOKED."""
    provider = GatedProvider(platform.credentials.systems["social"]["department"])
    async with _served(provider) as port:
        code = await _gated_entry(platform, f"127.0.0.1:{port}", common.SHARE_TYPE_CONDITIONAL)
        grant = await _approved_download(platform, code, ["card_no"])

        def export() -> grpc.aio.UnaryStreamCall:
            return query_pb2_grpc.QueryServiceStub(platform.channel).Export(
                query_pb2.ExportRequest(resource_code=code, purpose=WORK), metadata=platform.metadata("civil"),
                timeout=30)

        stream = export()
        first = await stream.read()
        assert [row.key for row in first.rows] == ["row-1"]

        await _revoke(platform, grant.id)
        await _refused_soon(lambda: export().read())  # a new download is refused: every replica knows by now
        provider.gate.set()
        _, record = await _stopped_revoked(platform, stream, code)
        assert record.pages_sent == 1


async def test_a_download_of_every_item_stops_when_its_grant_is_revoked_not_narrowed_to_the_basic_items(  # type: ignore[no-untyped-def]
        platform) -> None:
    """An Export naming no items of a foundation resource (card_no basic, batch_no granted): once the grant was
    revoked, its decision was "the basic items every department gets", allowed, so the download went on with
    card_no alone, its second row unlike its first, and ended complete with nothing said. It ends REVOKED."""
    provider = GatedProvider(platform.credentials.systems["social"]["department"], batch=True)
    async with _served(provider) as port:
        code = await _gated_entry(platform, f"127.0.0.1:{port}", common.SHARE_TYPE_CONDITIONAL, batch=True)
        grant = await _approved_download(platform, code, ["batch_no"])
        stream = query_pb2_grpc.QueryServiceStub(platform.channel).Export(
            query_pb2.ExportRequest(resource_code=code, purpose=WORK), metadata=platform.metadata("civil"),
            timeout=30)
        first = await stream.read()
        assert [dict(row.values) for row in first.rows] == [{"card_no": "card_no-1", "batch_no": "batch_no-1"}]

        await _revoke(platform, grant.id)
        await _refused_soon(lambda: query_pb2_grpc.QueryServiceStub(platform.channel).Export(
            query_pb2.ExportRequest(resource_code=code, items=["batch_no"], purpose=WORK),
            metadata=platform.metadata("civil"), timeout=30).read())
        provider.gate.set()
        await _stopped_revoked(platform, stream, code)


async def test_a_download_of_basic_items_a_grant_unmasked_stops_when_the_grant_is_revoked_not_masked_on(  # type: ignore[no-untyped-def]
        platform) -> None:
    """An Export naming card_no alone, a basic item the catalog masks, whose grant unmasks it (the provider approved
    the numbers whole): once the grant was revoked, the decision for card_no was "the basic items every department
    gets", allowed and masked, so the download went on with the numbers masked, its second row unlike its first,
    and ended complete with nothing said, as the download naming no items did before. It ends REVOKED."""
    provider = GatedProvider(platform.credentials.systems["social"]["department"], batch=True)
    async with _served(provider) as port:
        code = await _gated_entry(platform, f"127.0.0.1:{port}", common.SHARE_TYPE_CONDITIONAL, batch=True,
                                  sensitive=True)
        grant = await _approved_download(platform, code, ["card_no"], unmasked_items=("card_no",))
        stream = await _revoked_while_downloading(platform, provider, code, grant)
        stopped, _ = await _stopped_revoked(platform, stream, code)
        assert grant.id in stopped.details()


async def test_a_download_under_the_grant_unmasking_its_rows_stops_when_that_grant_is_revoked_though_another_serves(  # type: ignore[no-untyped-def]
        platform) -> None:
    """Two grants of card_no for batch download: the longer-lived one unmasks it, the other does not. A download
    began under the first, the numbers whole; once that grant was revoked, the decision of the next page named the
    other, so the download went on masked, its second row unlike its first, under a grant its access record did not
    name and whose quota it never counted, and ended complete. It stops, naming both grants, and saying that the
    first was revoked and why (it said NOT_GRANTED "revoked, expired, or narrowed", whichever it was)."""
    provider = GatedProvider(platform.credentials.systems["social"]["department"])
    async with _served(provider) as port:
        code = await _gated_entry(platform, f"127.0.0.1:{port}", common.SHARE_TYPE_CONDITIONAL, sensitive=True)
        whole = await _approved_download(platform, code, ["card_no"], unmasked_items=("card_no",))
        masked = await _approved_download(platform, code, ["card_no"], days=300)
        stream, stopped = await _download_stopped_by_revoking(platform, provider, code, whole)
        assert whole.id in stopped.details() and masked.id in stopped.details()
        assert "was revoked (救助对象核验已结束)" in stopped.details(), stopped.details()
        info, _ = details_of(stopped)
        assert info is not None and info.reason == "REVOKED", stopped.details()
        record = await _ended(platform, dict(await stream.initial_metadata())["x-govshare-audit-id"], code)
        assert (record.result, record.deny_reason, record.rows_sent) == (
            audit_pb2.ACCESS_RESULT_DENIED, common.DENY_REASON_REVOKED, 1)


async def test_a_download_under_the_grant_unmasking_its_rows_stops_saying_the_grant_was_narrowed_to_leave_it_out(  # type: ignore[no-untyped-def]
        platform) -> None:
    """As above, the unmasking grant narrowed by its 审批人 to online queries instead of revoked: the download stops
    METHOD_NOT_GRANTED, saying that grant no longer includes batch download, not "revoked, expired, or narrowed"."""
    provider = GatedProvider(platform.credentials.systems["social"]["department"])
    async with _served(provider) as port:
        code = await _gated_entry(platform, f"127.0.0.1:{port}", common.SHARE_TYPE_CONDITIONAL, sensitive=True)
        whole = await _approved_download(platform, code, ["card_no"], unmasked_items=("card_no",), methods=(
            common.SHARE_METHOD_BATCH_DOWNLOAD, common.SHARE_METHOD_ONLINE_QUERY))
        masked = await _approved_download(platform, code, ["card_no"], days=300)

        async def narrow(grant_id: str) -> None:
            await sharing_pb2_grpc.SharingServiceStub(platform.channel).UpdateGrant(sharing_pb2.UpdateGrantRequest(
                grant=sharing_pb2.Grant(id=grant_id, methods=[common.SHARE_METHOD_ONLINE_QUERY]),
                update_mask=field_mask_pb2.FieldMask(paths=["methods"])),
                metadata=platform.person("social", APPROVER), timeout=10)

        _, stopped = await _download_stopped_by_revoking(platform, provider, code, whole, end=narrow)
        assert whole.id in stopped.details() and masked.id in stopped.details()
        assert "BATCH_DOWNLOAD" in stopped.details() and "revoked" not in stopped.details(), stopped.details()
        info, _ = details_of(stopped)
        assert info is not None and info.reason == "METHOD_NOT_GRANTED", stopped.details()


async def test_a_download_of_basic_items_a_grant_unmasked_stops_when_it_is_revoked_though_another_grant_serves(  # type: ignore[no-untyped-def]
        platform) -> None:
    """An Export naming card_no alone (a basic item the catalog masks) began under the grant unmasking it; the
    department's other grant gives batch_no too, card_no masked. Once the first was revoked, the download went on
    with card_no masked: the decision for card_no alone named no grant, and the one for every item named the other,
    with no reason to stop. It stops, naming both grants."""
    provider = GatedProvider(platform.credentials.systems["social"]["department"], batch=True)
    async with _served(provider) as port:
        code = await _gated_entry(platform, f"127.0.0.1:{port}", common.SHARE_TYPE_CONDITIONAL, batch=True,
                                  sensitive=True)
        whole = await _approved_download(platform, code, ["card_no"], unmasked_items=("card_no",))
        wider = await _approved_download(platform, code, ["card_no", "batch_no"], days=300)
        _, stopped = await _download_stopped_by_revoking(platform, provider, code, whole)
        assert whole.id in stopped.details() and wider.id in stopped.details()


async def _revoked_while_downloading(platform, provider: GatedProvider, code: str,  # type: ignore[no-untyped-def]
                                     unmasking: sharing_pb2.Grant,
                                     end: Callable[[str], Awaitable[None]] | None = None
                                     ) -> grpc.aio.UnaryStreamCall:
    """An Export of card_no begun under ``unmasking`` (its first page whole), that grant revoked (or ended for the
    download by ``end``), a new download seen masked (every replica knows by now), then ``provider`` let go on: the
    download, to be read on."""
    def export() -> grpc.aio.UnaryStreamCall:
        return query_pb2_grpc.QueryServiceStub(platform.channel).Export(
            query_pb2.ExportRequest(resource_code=code, items=["card_no"], purpose=WORK),
            metadata=platform.metadata("civil"), timeout=30)

    stream = export()
    first = await stream.read()
    assert [(row.key, dict(row.values)) for row in first.rows] == [("row-1", {"card_no": "card_no-1"})]
    await (end or (lambda grant_id: _revoke(platform, grant_id)))(unmasking.id)
    for _ in range(100):
        if await _seen_masked(export()):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the revoked grant still unmasks card_no")
    provider.gate.set()
    return stream


async def _seen_masked(download: grpc.aio.UnaryStreamCall) -> bool:
    """Whether a new download's first row has card_no masked. One begun while the revocation was still reaching
    the decision it started from (the grant then still serving it) is stopped at its first page, naming that grant
    (seen once under a loaded machine): not yet seen, as a whole first row would be."""
    try:
        return (await download.read()).rows[0].values["card_no"] != "card_no-1"
    except grpc.aio.AioRpcError as error:
        if error.code() != grpc.StatusCode.PERMISSION_DENIED or "stopped after 0 rows" not in error.details():
            raise
        return False


async def _download_stopped_by_revoking(platform, provider: GatedProvider, code: str,  # type: ignore[no-untyped-def]
                                        unmasking: sharing_pb2.Grant,
                                        end: Callable[[str], Awaitable[None]] | None = None
                                        ) -> tuple[grpc.aio.UnaryStreamCall, grpc.aio.AioRpcError]:
    """:func:`_revoked_while_downloading`, which another grant of the department would serve: the download and what
    stopped it, no row sent after its first page."""
    stream = await _revoked_while_downloading(platform, provider, code, unmasking, end)
    with pytest.raises(grpc.aio.AioRpcError) as stopped:
        while (rest := await stream.read()) is not grpc.aio.EOF:
            assert not rest.rows, f"the download went on under another grant: {rest}"
    assert stopped.value.code() == grpc.StatusCode.PERMISSION_DENIED, stopped.value.details()
    assert "stopped after 1 rows" in stopped.value.details()
    return stream, stopped.value


class HeldLookup(GatedProvider):
    """A 前置机 answering a lookup of ``held`` only once ``gate`` is set (``looking`` is set when it is asked), and
    of any other key at once."""

    def __init__(self, department: str, held: str) -> None:
        super().__init__(department)
        self.held = held
        self.looking = asyncio.Event()

    async def _record(self, key: str) -> provider_pb2.Record:
        if key == self.held:
            self.looking.set()
            await self.gate.wait()
        return provider_pb2.Record(key=key, values={"card_no": key})

    async def Lookup(self, request, context):  # type: ignore[no-untyped-def]
        return provider_pb2.LookupResponse(found=True, record=await self._record(request.key))

    async def BatchLookup(self, request, context):  # type: ignore[no-untyped-def]
        return provider_pb2.BatchLookupResponse(records=[await self._record(key) for key in request.keys])


async def test_a_query_whose_grant_is_revoked_while_its_record_is_read_is_refused(  # type: ignore[no-untyped-def]
        platform) -> None:
    """R-APP-4: a revocation takes effect at once. A Query decided under a grant, its record still being read from
    the provider's 前置机 when the 审批人 revoked the grant, was answered with the record once it came, the query
    service having heard of the revocation meanwhile. The decision is asked again when a grant change came while the
    record was read: the Query is refused REVOKED, nothing of the record sent."""
    provider = HeldLookup(platform.credentials.systems["social"]["department"], held="row-1")
    async with _served(provider) as port:
        code = await _gated_entry(platform, f"127.0.0.1:{port}", common.SHARE_TYPE_CONDITIONAL)
        grant = await _approved_download(platform, code, ["card_no"], methods=(common.SHARE_METHOD_ONLINE_QUERY,))
        stub = query_pb2_grpc.QueryServiceStub(platform.channel)

        def query(key: str) -> Awaitable[query_pb2.QueryResponse]:
            return stub.Query(query_pb2.QueryRequest(resource_code=code, key=key, items=["card_no"], purpose=WORK),
                              metadata=platform.metadata("civil"), timeout=30)

        # Answered, its record now held by the query service: asked again, it reaches the decision only.
        assert (await query("row-0")).values["card_no"] == "row-0"
        held = asyncio.ensure_future(query("row-1"))
        await provider.looking.wait()
        await _revoke(platform, grant.id)
        refused = await _refused_soon(lambda: query("row-0"))  # the query service has dropped the decision
        assert refused.code() == grpc.StatusCode.PERMISSION_DENIED, refused.details()
        provider.gate.set()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            answered = await held
            raise AssertionError(f"answered under the revoked grant: {answered}")
        info, _ = details_of(caught.value)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED, caught.value.details()
        assert info is not None and info.reason == "REVOKED", caught.value.details()
        assert "nothing of the record was sent" in caught.value.details()


async def test_a_query_refused_for_a_grant_narrowed_while_its_record_is_read_gives_its_call_back(  # type: ignore[no-untyped-def]
        platform) -> None:
    """A Query counted against its grant's quota, then refused because the grant was narrowed (no longer online
    query) while its record was read, got nothing: its call is given back to the grant, still live, so the
    department's download under it (the grant's last call) is not refused QUOTA_EXHAUSTED."""
    provider = HeldLookup(platform.credentials.systems["social"]["department"], held="row-1")
    async with _served(provider) as port:
        code = await _gated_entry(platform, f"127.0.0.1:{port}", common.SHARE_TYPE_CONDITIONAL)
        grant = await _approved_download(platform, code, ["card_no"], quota=2, methods=(
            common.SHARE_METHOD_ONLINE_QUERY, common.SHARE_METHOD_BATCH_DOWNLOAD))
        stub = query_pb2_grpc.QueryServiceStub(platform.channel)

        def query(key: str) -> Awaitable[query_pb2.QueryResponse]:
            return stub.Query(query_pb2.QueryRequest(resource_code=code, key=key, items=["card_no"], purpose=WORK),
                              metadata=platform.metadata("civil"), timeout=30)

        assert (await query("row-0")).values["card_no"] == "row-0"  # the grant's first call
        held = asyncio.ensure_future(query("row-1"))  # its second, counted when decided
        await provider.looking.wait()
        narrowed = sharing_pb2.Grant(id=grant.id, methods=[common.SHARE_METHOD_BATCH_DOWNLOAD])
        await sharing_pb2_grpc.SharingServiceStub(platform.channel).UpdateGrant(sharing_pb2.UpdateGrantRequest(
            grant=narrowed, update_mask=field_mask_pb2.FieldMask(paths=["methods"])),
            metadata=platform.person("social", APPROVER), timeout=10)
        refused = await _refused_soon(lambda: query("row-0"))  # the query service has dropped the decision
        assert refused.code() == grpc.StatusCode.PERMISSION_DENIED, refused.details()
        provider.gate.set()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            answered = await held
            raise AssertionError(f"answered under the narrowed grant: {answered}")
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED, caught.value.details()
        assert "nothing of the record was sent" in caught.value.details()
        pages = stub.Export(query_pb2.ExportRequest(resource_code=code, items=["card_no"], purpose=WORK),
                            metadata=platform.metadata("civil"), timeout=30)
        assert [row.key async for page in pages for row in page.rows] == ["row-1", "row-2"]
