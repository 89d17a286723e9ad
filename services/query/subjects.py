"""The persons' view (个人信息保护法 Art. 44-45): who accessed a person's or an entity's records, when, for what.

Owned where the data is: the access log is query's, so the RPC is query's (AuditService.ListSubjectAccesses);
authorization answers the two policy questions over its internal SubjectAccessPolicyService.

* **Who may ask.** Only a system holding SYSTEM_ROLE_SUBJECT_ACCESS_PORTAL, a role the authority alone grants
  (a government service portal that identified the person, e.g. by real-name authentication). The role is
  asked of authorization at every lookup (lookups are rare; a revoked role or a disabled system stops the
  next one at once). Authorization down: UNAVAILABLE, nothing is listed.
* **What is listed.** Every access whose key is the subject's identifier (a single call's key, one of a
  batch's keys, or one of the keys an export sent: access_export_keys), newest first: department, system,
  time, resource, items, purpose (its text with other persons' 公民身份号码 masked), result. Lookups themselves
  (operation ``SubjectLookup``) are not listed back.
* **Confidential grants.** An access made by a department (and, when the grant names systems, by one of them)
  to a resource while it held a grant marked confidential is withheld until that grant's release time; then
  it appears like any other. While withheld nothing says so (a count would tell the subject of an
  investigation that there is one). A row names the grant that allowed it (grant_id), but a refused call's, one of
  an unconditional resource and one written before query migration 023 name none, so the rule is conservative:
  any confidential grant of that department on that resource active at the access's time withholds it.
* **Audit.** Every lookup writes its own access record (operation ``SubjectLookup``, the subject's identifier
  as key, the portal's declared purpose) before anything is returned, like every query.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import asyncpg
import grpc

from govshare.authorization.v1 import roles_pb2, subject_access_policy_pb2_grpc
from govshare.authorization.v1 import subject_access_policy_pb2 as policy_pb2
from services.query.store import AccessPage, Frontier, QueryStore
from services.runtime.clients import call_metadata
from services.runtime.errors import ServiceError, permission_denied
from services.runtime.identity import AssertionSigner, Caller
from services.runtime.pagination import MAX_PAGE_SIZE

LOOKUP = "SubjectLookup"
PORTAL = roles_pb2.SYSTEM_ROLE_SUBJECT_ACCESS_PORTAL


@dataclass(frozen=True, slots=True)
class Window:
    """While a confidential grant let its holder in, and until when its accesses stay withheld."""

    department_code: str
    system_ids: frozenset[str]
    resource_code: str
    start: dt.datetime
    end: dt.datetime

    def covers(self, row: asyncpg.Record) -> bool:
        return (row["department_code"] == self.department_code and row["resource_code"] == self.resource_code
                and (not self.system_ids or row["system_id"] in self.system_ids)
                and self.start <= row["time"] < self.end)


class SubjectPolicy:
    """Authorization's answers: the caller's roles, and the confidential grants not yet released."""

    def __init__(self, channel: grpc.aio.Channel, signer: AssertionSigner, identity: Caller, timeout: float) -> None:
        self._stub = subject_access_policy_pb2_grpc.SubjectAccessPolicyServiceStub(channel)
        self._signer = signer
        self._identity = identity
        self._timeout = timeout

    async def require_portal(self, caller: Caller) -> None:
        try:
            response = await self._stub.GetSystemRoles(policy_pb2.GetSystemRolesRequest(system_id=caller.system_id),
                                                       timeout=self._timeout,
                                                       metadata=call_metadata(self._signer, self._identity))
        except grpc.aio.AioRpcError as exc:
            raise ServiceError(grpc.StatusCode.UNAVAILABLE, "AUTHORIZATION_UNAVAILABLE",
                               f"the caller's roles could not be checked ({exc.code().name})") from exc
        if PORTAL not in response.roles:
            raise permission_denied("NOT_A_SUBJECT_ACCESS_PORTAL",
                                    "only a portal system the authority granted SYSTEM_ROLE_SUBJECT_ACCESS_PORTAL "
                                    "may list the accesses to a person's or an entity's records")

    async def withheld_windows(self) -> list[Window]:
        """Every unreleased confidential grant's window, following the pages of ListConfidentialGrants."""
        windows: list[Window] = []
        token = ""
        while True:
            try:
                response = await self._stub.ListConfidentialGrants(
                    policy_pb2.ListConfidentialGrantsRequest(page_size=MAX_PAGE_SIZE, page_token=token),
                    timeout=self._timeout, metadata=call_metadata(self._signer, self._identity))
            except grpc.aio.AioRpcError as exc:
                raise ServiceError(grpc.StatusCode.UNAVAILABLE, "AUTHORIZATION_UNAVAILABLE",
                                   f"confidential grants could not be read ({exc.code().name})") from exc
            windows += [Window(g.department_code, frozenset(g.system_ids), g.resource_code,
                               g.start_time.ToDatetime(tzinfo=dt.UTC), g.end_time.ToDatetime(tzinfo=dt.UTC))
                        for g in response.grants]
            token = response.next_page_token
            if not token:
                return windows


async def visible_page(store: QueryStore, keys: list[str], start: dt.datetime | None, end: dt.datetime | None,
                       after: tuple[dt.datetime, str] | None, limit: int, since: Frontier | None,
                       windows: list[Window]) -> AccessPage:
    """A page of the accesses not withheld (QueryStore.subject_page): those that landed since the previous page in
    the part already listed (a slow call), then the rest's. A withheld row is skipped, so a page stays exact
    however many are withheld."""
    return await store.subject_page(keys, start, end, after, limit, since,
                                    lambda row: any(window.covers(row) for window in windows))
