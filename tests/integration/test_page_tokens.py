"""Every paged RPC of the platform (every request with a ``page_token``, found in the protos) refuses a page token
that was issued for other filters, or edited, with INVALID_ARGUMENT naming ``page_token`` (AIP-158).

Before, only the catalog's ListEntries and SearchEntries bound their tokens to the request: a caller who changed a
filter between pages (ListGrants' state, ListAccesses' department, ListViolations' month...) got a page of the old
listing, or a mix; and a token was plain base64 JSON that a caller could edit to start wherever they chose.
"""

from __future__ import annotations

import base64
import importlib
import json
import pkgutil
from collections.abc import Callable

import asyncpg
import grpc
import pytest
from caller_metadata import CallerMetadata
from google.protobuf import timestamp_pb2

import govshare
from govshare.authorization.v1 import directory_pb2, directory_pb2_grpc, roles_pb2, roles_pb2_grpc
from govshare.common.v1 import common_pb2
from services.runtime.duties import AUDITOR
from services.runtime.errors import details_of
from services.runtime.identity import Caller as IdentityCaller
from services.runtime.identity import service_caller
from services.runtime.pagination import TokenScope, encode_token, serving, token_key, verified
from services.runtime.tokens import issue_token

pytestmark = pytest.mark.integration

_T0, _T1 = timestamp_pb2.Timestamp(seconds=1_780_000_000), timestamp_pb2.Timestamp(seconds=1_790_000_000)
_ASKED = common_pb2.Purpose(type=common_pb2.PURPOSE_TYPE_BUSINESS_COLLABORATION, text="个人信息查阅申请")

Caller = Callable[[object], tuple[tuple[str, str], ...]]


def _authority(platform: object) -> tuple[tuple[str, str], ...]:
    return platform.metadata("authority")  # type: ignore[attr-defined]


def _auditor(platform: object) -> tuple[tuple[str, str], ...]:
    return platform.person("authority", AUDITOR)  # type: ignore[attr-defined]


#: The portal system ``portal_system`` creates (ListSubjectAccesses answers only a subject-access portal).
_PORTAL: dict[str, str] = {}


def _portal(platform: object) -> tuple[tuple[str, str], ...]:
    caller = IdentityCaller(_PORTAL["system_id"], _PORTAL["department"])
    token = issue_token(platform.settings["authorization"].token_private_key, caller, 600).token  # type: ignore[attr-defined]
    return (("authorization", f"Bearer {token}"),)


def _service(name: str) -> Caller:
    def metadata(platform: object) -> tuple[tuple[str, str], ...]:
        return CallerMetadata.of(platform.settings["authorization"]).metadata(  # type: ignore[attr-defined]
            service_caller(name))
    return metadata


#: ``Service/Method``: (component, caller, the request sent, what its token is changed to for another request;
#: None for a listing without filters).
_LISTINGS: dict[str, tuple[str, Caller, dict, dict | None]] = {
    "CatalogService/ListEntries": ("catalog", _authority, {}, {"filter": {"category": 2}}),
    "CatalogService/SearchEntries": ("catalog", _authority, {"query": "人口"}, {"query": "法人"}),
    "CatalogService/ListEntryVersions": ("catalog", _authority, {"code": "101001/000001"}, {"code": "102001/000001"}),
    "CatalogService/ListOverdueUpdates": ("catalog", _authority, {}, None),
    "CatalogFiguresService/ListDepartmentFigures": (
        "catalog", _service("supervision"), {"start_time": _T0, "end_time": _T1}, {"start_time": _T1}),
    "SupervisionService/ListEvaluations": ("supervision", _authority, {"year": 2026, "month": 1}, {"month": 2}),
    "SupervisionService/ListViolations": ("supervision", _authority, {"year": 2026, "month": 1}, {"month": 2}),
    "AuditService/ListAccesses": ("query", _authority, {}, {"resource_code": "101001/000001"}),
    "AuditService/VerifyAuditChain": ("query", _authority, {}, {"checkpoints": [{"chain_id": "c", "sequence": 1}]}),
    "AuditService/ListAuditVerifications": ("query", _authority, {}, None),
    "AuditService/ExportAuditCheckpoints": ("query", _authority, {}, None),
    "AuditService/ListSubjectAccesses": ("query", _portal, {"citizen_id": "342322194911060454", "purpose": _ASKED},
                                         {"citizen_id": "11010519491231002X"}),
    "AuditFiguresService/ListDepartmentFigures": (
        "query", _service("supervision"), {"start_time": _T0, "end_time": _T1}, {"end_time": _T0}),
    "AuditFiguresService/ListResourceUsage": ("query", _service("catalog"), {"days": 30}, {"days": 7}),
    "DisputeService/ListDisputes": ("query", _authority, {}, {"overdue_only": True}),
    "DirectoryService/ListDepartments": ("authorization", _authority, {}, None),
    "DirectoryService/ListSystems": ("authorization", _authority, {}, {"department_code": "11100000MB0143820E"}),
    "SubjectAccessPolicyService/ListConfidentialGrants": ("authorization", _service("query"), {}, None),
    "AuthorizationService/ListSystemStates": ("authorization", _service("query"), {}, None),
    "SharingFiguresService/ListDepartmentFigures": (
        "authorization", _service("supervision"), {"start_time": _T0, "end_time": _T1}, {"start_time": _T1}),
    "SharingService/ListApplications": ("authorization", _authority, {}, {"state": 2}),
    "SharingService/ListGrants": ("authorization", _authority, {}, {"resource_code": "101001/000001"}),
    "PersonService/ListPersons": ("authorization", _authority, {}, {"state": 1}),
    "AdminLogService/ListAdminEvents": ("authorization", _auditor, {}, {"action": "catalog.entry.submit"}),
    "AdminLogService/ExportAdminLogCheckpoints": ("authorization", _auditor, {}, None),
    "FoundationAdminService/ListConflicts": ("foundation", _authority, {}, {"state": 1}),
    "FoundationAdminService/GetRecordHistory": ("foundation", _authority, {"dataset": "population",
                                                                          "key": "342322194911060454"},
                                                {"key": "11010519491231002X"}),
    "FoundationAdminService/ListSources": ("foundation", _authority, {"dataset": "licence"}, {"dataset": "population"}),
    "FoundationFiguresService/ListDepartmentFigures": (
        "foundation", _service("supervision"), {"start_time": _T0, "end_time": _T1},
        {"cycles": [{"dataset": "licence", "max_age_seconds": 86400}]}),
}


def _paged_methods() -> dict[str, object]:
    """Every RPC of the platform whose request has a page_token, by ``Service/Method``, with its module."""
    found = {}
    for module_info in pkgutil.walk_packages(govshare.__path__, "govshare."):
        if not module_info.name.endswith("_pb2"):
            continue
        module = importlib.import_module(module_info.name)
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                if "page_token" in method.input_type.fields_by_name:
                    found[f"{service.name}/{method.name}"] = (module, service, method)
    return found


_PAGED = _paged_methods()


def test_every_paged_rpc_is_in_the_table() -> None:
    """A new listing gets its row here, so its tokens are checked too."""
    assert sorted(_PAGED) == sorted(_LISTINGS)


def _request(rpc: str, fields: dict) -> object:
    module, _, method = _PAGED[rpc]
    request = getattr(module, method.input_type.name)()
    for name, value in fields.items():
        field = getattr(request, name)
        if isinstance(value, list):
            for item in value:
                field.add(**item) if isinstance(item, dict) else field.append(item)
        elif isinstance(value, dict):
            field.CopyFrom(type(field)(**value))
        elif hasattr(value, "DESCRIPTOR"):
            field.CopyFrom(value)
        else:
            setattr(request, name, value)
    return request


def _issued(platform: object, rpc: str, request: object, caller: str = "") -> str:
    """The token the service issues for ``request`` (signed as it signs: the key is the test platform's), to
    ``caller`` when one is named."""
    component = _LISTINGS[rpc][0]
    scope = TokenScope(rpc, token_key(platform.settings[component].internal_key))  # type: ignore[attr-defined]
    reset = serving(scope, request)
    verified(caller)
    try:
        return encode_token({"after": "0"})
    finally:
        reset.var.reset(reset)


async def _answer(platform: object, rpc: str, request: object) -> object:
    """The reply of the service itself (its own port: the status is its own), or its refusal."""
    component, caller, _, _ = _LISTINGS[rpc]
    module, service, method = _PAGED[rpc]
    stubs = importlib.import_module(module.__name__ + "_grpc")
    async with grpc.aio.insecure_channel(platform.port(component)) as channel:  # type: ignore[attr-defined]
        call = getattr(getattr(stubs, f"{service.name}Stub")(channel), method.name)
        try:
            return await call(request, metadata=caller(platform), timeout=15)
        except grpc.aio.AioRpcError as refused:
            return refused


async def _refusal(platform: object, rpc: str, request: object) -> grpc.aio.AioRpcError:
    answer = await _answer(platform, rpc, request)
    assert isinstance(answer, grpc.aio.AioRpcError), f"{rpc} answered {answer}"
    return answer


@pytest.fixture(scope="module")
async def computed_january(platform: object, database_url: str) -> None:
    """The month the supervision listings read, marked computed (a month never computed is refused first), and a
    subject-access portal system of the authority's department."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("INSERT INTO supervision.computed_months (month, compute_time) VALUES"
                           " ('2026-01-01', now()) ON CONFLICT (month) DO NOTHING")
    finally:
        await conn.close()
    authority = platform.credentials.systems["authority"]  # type: ignore[attr-defined]
    created = await directory_pb2_grpc.DirectoryServiceStub(platform.channel).CreateSystem(  # type: ignore[attr-defined]
        directory_pb2.CreateSystemRequest(system=directory_pb2.System(department_code=authority["department"],
                                                                      name="翻页测试门户")),
        metadata=_authority(platform), timeout=10)
    await roles_pb2_grpc.RoleServiceStub(platform.channel).GrantSystemRole(  # type: ignore[attr-defined]
        roles_pb2.GrantSystemRoleRequest(system_id=created.system.id, role=roles_pb2.SYSTEM_ROLE_SUBJECT_ACCESS_PORTAL),
        metadata=_authority(platform), timeout=10)
    _PORTAL.update(system_id=created.system.id, department=authority["department"])


@pytest.mark.parametrize("rpc", sorted(rpc for rpc, row in _LISTINGS.items() if row[3] is not None))
async def test_a_token_of_other_filters_is_refused(platform, computed_january, rpc: str) -> None:  # type: ignore[no-untyped-def]
    _, _, sent, other = _LISTINGS[rpc]
    request = _request(rpc, sent)
    token = _issued(platform, rpc, _request(rpc, {**sent, **other}))
    request.page_token = token  # type: ignore[attr-defined]
    refused = await _refusal(platform, rpc, request)
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.details()
    info, bad = details_of(refused)
    assert info.reason == "PAGE_TOKEN_MISMATCH", refused.details()
    assert [v.field for v in bad.field_violations] == ["page_token"]
    assert "start again without a page token" in refused.details()
    # The page size is not a filter: a token of the same request with another page size is not refused so.
    same = _request(rpc, {**sent, "page_size": 7})
    same.page_token = _issued(platform, rpc, _request(rpc, sent))  # type: ignore[attr-defined]
    answer = await _answer(platform, rpc, same)  # answered, or refused for its position, not for its filters
    if isinstance(answer, grpc.aio.AioRpcError):
        assert details_of(answer)[0].reason != "PAGE_TOKEN_MISMATCH", answer.details()


@pytest.mark.parametrize("rpc", sorted(_LISTINGS))
async def test_a_token_issued_to_another_caller_is_refused(platform, computed_january, rpc: str) -> None:  # type: ignore[no-untyped-def]
    """A page token was bound to its listing and filters but not to its caller: another department's system sent
    a token of ListApplications it was passed (a console link, a job's kept token) and was answered its own
    listing from the other's position, its first rows skipped without a word (an empty page, though it had an
    application). A token issued to another caller is refused INVALID_ARGUMENT PAGE_TOKEN_MISMATCH on page_token;
    the caller's own is read as before."""
    _, _, sent, _ = _LISTINGS[rpc]
    request = _request(rpc, sent)
    request.page_token = _issued(platform, rpc, request, caller="sys-someoneelse")  # type: ignore[attr-defined]
    refused = await _refusal(platform, rpc, request)
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.details()
    info, bad = details_of(refused)
    assert info.reason == "PAGE_TOKEN_MISMATCH", refused.details()
    assert [v.field for v in bad.field_violations] == ["page_token"]
    assert "was issued to another caller" in refused.details(), refused.details()
    request.page_token = _issued(platform, rpc, request)  # type: ignore[attr-defined]  # one naming no caller
    answer = await _answer(platform, rpc, request)
    if isinstance(answer, grpc.aio.AioRpcError):
        assert details_of(answer)[0].reason != "PAGE_TOKEN_MISMATCH", answer.details()


def _edited(token: str) -> str:
    """The token with its position changed by the caller (its signature kept)."""
    payload, _, mac = token.rpartition(".")
    position = json.loads(base64.urlsafe_b64decode(payload))
    position["after"] = "zzzz"
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode() + "." + mac


@pytest.mark.parametrize("rpc", sorted(_LISTINGS))
@pytest.mark.parametrize("kind", ["edited", "unsigned", "garbage"])
async def test_an_edited_or_garbage_token_is_refused_naming_it(platform, computed_january, rpc: str,  # type: ignore[no-untyped-def]
                                                               kind: str) -> None:
    _, _, sent, _ = _LISTINGS[rpc]
    request = _request(rpc, sent)
    issued = _issued(platform, rpc, request)
    request.page_token = {"edited": _edited(issued), "unsigned": issued.rpartition(".")[0],  # type: ignore[attr-defined]
                          "garbage": "!!" + issued[2:]}[kind]
    refused = await _refusal(platform, rpc, request)
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.details()
    _, bad = details_of(refused)
    assert [v.field for v in bad.field_violations] == ["page_token"], refused.details()
    assert "is not a token returned by a previous call" in refused.details()
