"""RoleService (public) and SubjectAccessPolicyService (internal): protobuf ↔ SubjectAccessPolicy."""

from __future__ import annotations

import asyncpg
import grpc

from govshare.authorization.v1 import roles_pb2, roles_pb2_grpc, subject_access_policy_pb2_grpc
from govshare.authorization.v1 import subject_access_policy_pb2 as policy_pb2
from services.authorization.subject_access import SubjectAccessPolicy
from services.runtime.identity import AssertionVerifier
from services.runtime.timestamps import to_timestamp

Context = grpc.aio.ServicerContext


def _assignment(row: asyncpg.Record) -> roles_pb2.RoleAssignment:
    return roles_pb2.RoleAssignment(system_id=row["system_id"], role=row["role"], granted_by=row["granted_by"],
                                    grant_time=to_timestamp(row["grant_time"]))


class RoleServicer(roles_pb2_grpc.RoleServiceServicer):
    def __init__(self, verifier: AssertionVerifier, policy: SubjectAccessPolicy) -> None:
        self._verifier = verifier
        self._policy = policy

    async def GrantSystemRole(self, request: roles_pb2.GrantSystemRoleRequest, context: Context
                              ) -> roles_pb2.GrantSystemRoleResponse:
        caller = self._verifier.from_context(context)
        row = await self._policy.grant_role(caller, request.system_id, request.role)
        return roles_pb2.GrantSystemRoleResponse(assignment=_assignment(row))

    async def RevokeSystemRole(self, request: roles_pb2.RevokeSystemRoleRequest, context: Context
                               ) -> roles_pb2.RevokeSystemRoleResponse:
        caller = self._verifier.from_context(context)
        await self._policy.revoke_role(caller, request.system_id, request.role)
        return roles_pb2.RevokeSystemRoleResponse()

    async def ListSystemRoles(self, request: roles_pb2.ListSystemRolesRequest, context: Context
                              ) -> roles_pb2.ListSystemRolesResponse:
        caller = self._verifier.from_context(context)
        rows = await self._policy.list_roles(caller, request.system_id)
        return roles_pb2.ListSystemRolesResponse(assignments=[_assignment(row) for row in rows])


class SubjectAccessPolicyServicer(subject_access_policy_pb2_grpc.SubjectAccessPolicyServiceServicer):
    def __init__(self, verifier: AssertionVerifier, policy: SubjectAccessPolicy) -> None:
        self._verifier = verifier
        self._policy = policy

    async def GetSystemRoles(self, request: policy_pb2.GetSystemRolesRequest, context: Context
                             ) -> policy_pb2.GetSystemRolesResponse:
        caller = self._verifier.from_context(context)
        return policy_pb2.GetSystemRolesResponse(roles=await self._policy.system_roles(caller, request.system_id))

    async def ListConfidentialGrants(self, request: policy_pb2.ListConfidentialGrantsRequest, context: Context
                                     ) -> policy_pb2.ListConfidentialGrantsResponse:
        caller = self._verifier.from_context(context)
        rows, token = await self._policy.confidential_grants(caller, request.page_size, request.page_token)
        return policy_pb2.ListConfidentialGrantsResponse(next_page_token=token, grants=[policy_pb2.ConfidentialGrant(
            grant_id=row["id"], department_code=row["department_code"], system_ids=row["system_ids"],
            resource_code=row["resource_code"], start_time=to_timestamp(row["start_time"]),
            end_time=to_timestamp(row["end_time"]), release_time=to_timestamp(row["release_time"]))
            for row in rows])
