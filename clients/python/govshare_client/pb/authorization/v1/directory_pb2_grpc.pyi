"""Typed stubs of govshare/authorization/v1/directory.proto (written by scripts/typed_stubs.py: do not edit)."""

from typing import Any

from govshare_client import calls

import grpc
import grpc.aio
import govshare_client.pb.authorization.v1.directory_pb2 as _govshare_client_pb_authorization_v1_directory_pb2

GRPC_GENERATED_VERSION: str
GRPC_VERSION: str


class DirectoryServiceStub:
    """Departments and their business systems (DOMAIN §1)."""
    def __init__(self, channel: grpc.Channel) -> None: ...

    CreateDepartment: calls.UnaryUnary[_govshare_client_pb_authorization_v1_directory_pb2.CreateDepartmentRequest, _govshare_client_pb_authorization_v1_directory_pb2.CreateDepartmentResponse]
    """Registers a department (authority only)."""
    GetDepartment: calls.UnaryUnary[_govshare_client_pb_authorization_v1_directory_pb2.GetDepartmentRequest, _govshare_client_pb_authorization_v1_directory_pb2.GetDepartmentResponse]
    ListDepartments: calls.UnaryUnary[_govshare_client_pb_authorization_v1_directory_pb2.ListDepartmentsRequest, _govshare_client_pb_authorization_v1_directory_pb2.ListDepartmentsResponse]
    RenameDepartment: calls.UnaryUnary[_govshare_client_pb_authorization_v1_directory_pb2.RenameDepartmentRequest, _govshare_client_pb_authorization_v1_directory_pb2.RenameDepartmentResponse]
    """Renames a department (机构改革; the authority's 管理员 only). The new name is the department's everywhere from
    now on; what was recorded under the old one keeps it (supervision keeps each month's name, the administrative
    log keeps both). Renaming to the name it has changes nothing and is not logged.
    """
    RetireDepartment: calls.UnaryUnary[_govshare_client_pb_authorization_v1_directory_pb2.RetireDepartmentRequest, _govshare_client_pb_authorization_v1_directory_pb2.RetireDepartmentResponse]
    """Retires a department merged into another or abolished (机构改革; the authority's 管理员 only). Refused with
    FAILED_PRECONDITION while anything of it is still live, the reason naming the first of: published catalogue
    entries (DEPARTMENT_HAS_PUBLISHED_ENTRIES), entries in review (DEPARTMENT_HAS_ENTRIES_IN_REVIEW), live grants
    as provider or consumer (DEPARTMENT_HAS_LIVE_GRANTS), open applications (DEPARTMENT_HAS_OPEN_APPLICATIONS),
    open disputes about its data (DEPARTMENT_HAS_OPEN_DISPUTES), enabled business systems
    (DEPARTMENT_HAS_ENABLED_SYSTEMS), active persons (DEPARTMENT_HAS_ACTIVE_PERSONS); the message and the
    ErrorInfo's metadata give every count. A query service that does not answer is UNAVAILABLE
    (QUERY_UNAVAILABLE). A retired department stays in the directory with its history.
    """
    CreateSystem: calls.UnaryUnary[_govshare_client_pb_authorization_v1_directory_pb2.CreateSystemRequest, _govshare_client_pb_authorization_v1_directory_pb2.CreateSystemResponse]
    """Registers a business system of a department; the secret is returned once."""
    GetSystem: calls.UnaryUnary[_govshare_client_pb_authorization_v1_directory_pb2.GetSystemRequest, _govshare_client_pb_authorization_v1_directory_pb2.GetSystemResponse]
    ListSystems: calls.UnaryUnary[_govshare_client_pb_authorization_v1_directory_pb2.ListSystemsRequest, _govshare_client_pb_authorization_v1_directory_pb2.ListSystemsResponse]
    RotateSystemSecret: calls.UnaryUnary[_govshare_client_pb_authorization_v1_directory_pb2.RotateSystemSecretRequest, _govshare_client_pb_authorization_v1_directory_pb2.RotateSystemSecretResponse]
    """Replaces a system's secret; the tokens issued before stop working at once (on every replica, within a
    second), and so does the old secret, but for a system's own rotation: there IssueToken takes the old secret
    until the new one has had a token (a day at most), so a rotation whose answer was lost locks nobody out.
    """
    DisableSystem: calls.UnaryUnary[_govshare_client_pb_authorization_v1_directory_pb2.DisableSystemRequest, _govshare_client_pb_authorization_v1_directory_pb2.DisableSystemResponse]
    """Disables a system: it can no longer get tokens, and the tokens it holds are refused at once.
    The authority department's last enabled system cannot be disabled (FAILED_PRECONDITION).
    """
    EnableSystem: calls.UnaryUnary[_govshare_client_pb_authorization_v1_directory_pb2.EnableSystemRequest, _govshare_client_pb_authorization_v1_directory_pb2.EnableSystemResponse]
    """Enables a disabled system again (authority only): it can get new tokens; tokens issued before it was
    disabled stay refused.
    """


class DirectoryServiceAsyncStub:
    """Departments and their business systems (DOMAIN §1)."""
    def __init__(self, channel: grpc.aio.Channel) -> None: ...

    CreateDepartment: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_directory_pb2.CreateDepartmentRequest, _govshare_client_pb_authorization_v1_directory_pb2.CreateDepartmentResponse]
    """Registers a department (authority only)."""
    GetDepartment: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_directory_pb2.GetDepartmentRequest, _govshare_client_pb_authorization_v1_directory_pb2.GetDepartmentResponse]
    ListDepartments: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_directory_pb2.ListDepartmentsRequest, _govshare_client_pb_authorization_v1_directory_pb2.ListDepartmentsResponse]
    RenameDepartment: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_directory_pb2.RenameDepartmentRequest, _govshare_client_pb_authorization_v1_directory_pb2.RenameDepartmentResponse]
    """Renames a department (机构改革; the authority's 管理员 only). The new name is the department's everywhere from
    now on; what was recorded under the old one keeps it (supervision keeps each month's name, the administrative
    log keeps both). Renaming to the name it has changes nothing and is not logged.
    """
    RetireDepartment: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_directory_pb2.RetireDepartmentRequest, _govshare_client_pb_authorization_v1_directory_pb2.RetireDepartmentResponse]
    """Retires a department merged into another or abolished (机构改革; the authority's 管理员 only). Refused with
    FAILED_PRECONDITION while anything of it is still live, the reason naming the first of: published catalogue
    entries (DEPARTMENT_HAS_PUBLISHED_ENTRIES), entries in review (DEPARTMENT_HAS_ENTRIES_IN_REVIEW), live grants
    as provider or consumer (DEPARTMENT_HAS_LIVE_GRANTS), open applications (DEPARTMENT_HAS_OPEN_APPLICATIONS),
    open disputes about its data (DEPARTMENT_HAS_OPEN_DISPUTES), enabled business systems
    (DEPARTMENT_HAS_ENABLED_SYSTEMS), active persons (DEPARTMENT_HAS_ACTIVE_PERSONS); the message and the
    ErrorInfo's metadata give every count. A query service that does not answer is UNAVAILABLE
    (QUERY_UNAVAILABLE). A retired department stays in the directory with its history.
    """
    CreateSystem: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_directory_pb2.CreateSystemRequest, _govshare_client_pb_authorization_v1_directory_pb2.CreateSystemResponse]
    """Registers a business system of a department; the secret is returned once."""
    GetSystem: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_directory_pb2.GetSystemRequest, _govshare_client_pb_authorization_v1_directory_pb2.GetSystemResponse]
    ListSystems: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_directory_pb2.ListSystemsRequest, _govshare_client_pb_authorization_v1_directory_pb2.ListSystemsResponse]
    RotateSystemSecret: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_directory_pb2.RotateSystemSecretRequest, _govshare_client_pb_authorization_v1_directory_pb2.RotateSystemSecretResponse]
    """Replaces a system's secret; the tokens issued before stop working at once (on every replica, within a
    second), and so does the old secret, but for a system's own rotation: there IssueToken takes the old secret
    until the new one has had a token (a day at most), so a rotation whose answer was lost locks nobody out.
    """
    DisableSystem: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_directory_pb2.DisableSystemRequest, _govshare_client_pb_authorization_v1_directory_pb2.DisableSystemResponse]
    """Disables a system: it can no longer get tokens, and the tokens it holds are refused at once.
    The authority department's last enabled system cannot be disabled (FAILED_PRECONDITION).
    """
    EnableSystem: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_directory_pb2.EnableSystemRequest, _govshare_client_pb_authorization_v1_directory_pb2.EnableSystemResponse]
    """Enables a disabled system again (authority only): it can get new tokens; tokens issued before it was
    disabled stay refused.
    """


class DirectoryServiceServicer:
    def CreateDepartment(self, request: _govshare_client_pb_authorization_v1_directory_pb2.CreateDepartmentRequest, context: Any) -> Any: ...
    def GetDepartment(self, request: _govshare_client_pb_authorization_v1_directory_pb2.GetDepartmentRequest, context: Any) -> Any: ...
    def ListDepartments(self, request: _govshare_client_pb_authorization_v1_directory_pb2.ListDepartmentsRequest, context: Any) -> Any: ...
    def RenameDepartment(self, request: _govshare_client_pb_authorization_v1_directory_pb2.RenameDepartmentRequest, context: Any) -> Any: ...
    def RetireDepartment(self, request: _govshare_client_pb_authorization_v1_directory_pb2.RetireDepartmentRequest, context: Any) -> Any: ...
    def CreateSystem(self, request: _govshare_client_pb_authorization_v1_directory_pb2.CreateSystemRequest, context: Any) -> Any: ...
    def GetSystem(self, request: _govshare_client_pb_authorization_v1_directory_pb2.GetSystemRequest, context: Any) -> Any: ...
    def ListSystems(self, request: _govshare_client_pb_authorization_v1_directory_pb2.ListSystemsRequest, context: Any) -> Any: ...
    def RotateSystemSecret(self, request: _govshare_client_pb_authorization_v1_directory_pb2.RotateSystemSecretRequest, context: Any) -> Any: ...
    def DisableSystem(self, request: _govshare_client_pb_authorization_v1_directory_pb2.DisableSystemRequest, context: Any) -> Any: ...
    def EnableSystem(self, request: _govshare_client_pb_authorization_v1_directory_pb2.EnableSystemRequest, context: Any) -> Any: ...


def add_DirectoryServiceServicer_to_server(servicer: DirectoryServiceServicer, server: Any) -> None: ...


class DirectoryService:
    CreateDepartment: Any
    GetDepartment: Any
    ListDepartments: Any
    RenameDepartment: Any
    RetireDepartment: Any
    CreateSystem: Any
    GetSystem: Any
    ListSystems: Any
    RotateSystemSecret: Any
    DisableSystem: Any
    EnableSystem: Any
