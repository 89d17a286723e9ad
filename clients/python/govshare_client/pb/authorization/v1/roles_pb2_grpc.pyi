"""Typed stubs of govshare/authorization/v1/roles.proto (written by scripts/typed_stubs.py: do not edit)."""

from typing import Any

from govshare_client import calls

import grpc
import grpc.aio
import govshare_client.pb.authorization.v1.roles_pb2 as _govshare_client_pb_authorization_v1_roles_pb2

GRPC_GENERATED_VERSION: str
GRPC_VERSION: str


class RoleServiceStub:
    """Roles the authority grants to business systems (beyond their department's rights)."""
    def __init__(self, channel: grpc.Channel) -> None: ...

    GrantSystemRole: calls.UnaryUnary[_govshare_client_pb_authorization_v1_roles_pb2.GrantSystemRoleRequest, _govshare_client_pb_authorization_v1_roles_pb2.GrantSystemRoleResponse]
    """Grants a role to a system; the authority only."""
    RevokeSystemRole: calls.UnaryUnary[_govshare_client_pb_authorization_v1_roles_pb2.RevokeSystemRoleRequest, _govshare_client_pb_authorization_v1_roles_pb2.RevokeSystemRoleResponse]
    """Takes a role back; the authority only."""
    ListSystemRoles: calls.UnaryUnary[_govshare_client_pb_authorization_v1_roles_pb2.ListSystemRolesRequest, _govshare_client_pb_authorization_v1_roles_pb2.ListSystemRolesResponse]
    """A system's roles; its department or the authority. Not paged: bounded by construction, a system holds
    each SystemRole at most once (the key is system and role), so the answer has at most one assignment per
    value of SystemRole.
    """


class RoleServiceAsyncStub:
    """Roles the authority grants to business systems (beyond their department's rights)."""
    def __init__(self, channel: grpc.aio.Channel) -> None: ...

    GrantSystemRole: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_roles_pb2.GrantSystemRoleRequest, _govshare_client_pb_authorization_v1_roles_pb2.GrantSystemRoleResponse]
    """Grants a role to a system; the authority only."""
    RevokeSystemRole: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_roles_pb2.RevokeSystemRoleRequest, _govshare_client_pb_authorization_v1_roles_pb2.RevokeSystemRoleResponse]
    """Takes a role back; the authority only."""
    ListSystemRoles: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_roles_pb2.ListSystemRolesRequest, _govshare_client_pb_authorization_v1_roles_pb2.ListSystemRolesResponse]
    """A system's roles; its department or the authority. Not paged: bounded by construction, a system holds
    each SystemRole at most once (the key is system and role), so the answer has at most one assignment per
    value of SystemRole.
    """


class RoleServiceServicer:
    def GrantSystemRole(self, request: _govshare_client_pb_authorization_v1_roles_pb2.GrantSystemRoleRequest, context: Any) -> Any: ...
    def RevokeSystemRole(self, request: _govshare_client_pb_authorization_v1_roles_pb2.RevokeSystemRoleRequest, context: Any) -> Any: ...
    def ListSystemRoles(self, request: _govshare_client_pb_authorization_v1_roles_pb2.ListSystemRolesRequest, context: Any) -> Any: ...


def add_RoleServiceServicer_to_server(servicer: RoleServiceServicer, server: Any) -> None: ...


class RoleService:
    GrantSystemRole: Any
    RevokeSystemRole: Any
    ListSystemRoles: Any
