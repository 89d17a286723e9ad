"""govshare.query.v1.AuditService: who used whose data, how often, and whether the trail is intact.

Providers see the accesses to their own resources (R-USE-4, 003 Art. 35); the
authority sees every access and alone may verify the hash chains.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Mapping

import grpc

from govshare.common.v1 import common_pb2
from govshare.query.v1 import audit_pb2, audit_pb2_grpc
from services.query import audit
from services.query.deps import DependentServicer
from services.query.store import AccessFilter
from services.runtime.enums import ShortNames
from services.runtime.errors import FieldViolation, invalid_argument, permission_denied
from services.runtime.identity import Caller
from services.runtime.pagination import page_size, page_size_violations, text_id, time_keyset_after, time_keyset_token
from services.runtime.timestamps import from_timestamp, to_timestamp

MAX_FILTER = 64
_RESULTS = ShortNames(audit_pb2.AccessResult)
_PURPOSES = ShortNames(common_pb2.PurposeType)
_DENY_REASONS = ShortNames(common_pb2.DenyReason)


def to_proto(row: Mapping) -> audit_pb2.AccessRecord:
    return audit_pb2.AccessRecord(
        id=row["id"], time=to_timestamp(row["time"]), system_id=row["system_id"],
        department_code=row["department_code"], resource_code=row["resource_code"],
        provider_department_code=row["provider_department_code"], operation=row["operation"],
        items=row["items"], key=row["key"], purpose=_PURPOSES.value(row["purpose"]),
        purpose_text=row["purpose_text"], result=_RESULTS.value(row["result"]),
        deny_reason=_DENY_REASONS.value(row["deny_reason"]), trace_id=row["trace_id"])


def _time(request: audit_pb2.ListAccessesRequest | audit_pb2.GetUsageSummaryRequest, field: str,
          violations: list[FieldViolation]) -> dt.datetime | None:
    return from_timestamp(getattr(request, field), field, violations) if request.HasField(field) else None


def _time_range(request: audit_pb2.ListAccessesRequest | audit_pb2.GetUsageSummaryRequest,
                violations: list[FieldViolation]) -> tuple[dt.datetime | None, dt.datetime | None]:
    start, end = _time(request, "start_time", violations), _time(request, "end_time", violations)
    if start is not None and end is not None and end < start:
        violations.append(FieldViolation("end_time", "must not be before start_time"))
    return start, end


def _code_filter(value: str, field: str, violations: list[FieldViolation]) -> None:
    """Filters are codes: bounded and free of NUL (which PostgreSQL text cannot hold)."""
    if len(value) > MAX_FILTER or "\x00" in value:
        violations.append(FieldViolation(field, f"must be a code of at most {MAX_FILTER} characters"))


class AuditServicer(DependentServicer, audit_pb2_grpc.AuditServiceServicer):

    @staticmethod
    def _provider_scope(caller: Caller) -> str | None:
        """Whose resources' accesses the caller may see: its department's, or (authority) everyone's."""
        if caller.authority:
            return None
        if not caller.department_code:
            raise permission_denied("NO_DEPARTMENT", "accesses are shown to the providing department")
        return caller.department_code

    async def ListAccesses(self, request: audit_pb2.ListAccessesRequest, context: grpc.aio.ServicerContext
                           ) -> audit_pb2.ListAccessesResponse:
        deps, caller = self._begin(context)
        violations: list[FieldViolation] = []
        start, end = _time_range(request, violations)
        _code_filter(request.resource_code, "resource_code", violations)
        _code_filter(request.department_code, "department_code", violations)
        violations.extend(page_size_violations(request.page_size))
        if violations:
            raise invalid_argument(violations)
        limit = page_size(request.page_size)
        after = time_keyset_after(request.page_token, text_id)
        scope = AccessFilter(provider=self._provider_scope(caller), resource_code=request.resource_code,
                             department_code=request.department_code, start=start, end=end)
        rows = await deps.store.list_accesses(scope, after, limit + 1)
        token = ""
        if len(rows) > limit:
            rows = rows[:limit]
            token = time_keyset_token(rows[-1]["time"], rows[-1]["id"])
        return audit_pb2.ListAccessesResponse(accesses=[to_proto(row) for row in rows], next_page_token=token)

    async def GetUsageSummary(self, request: audit_pb2.GetUsageSummaryRequest, context: grpc.aio.ServicerContext
                              ) -> audit_pb2.GetUsageSummaryResponse:
        deps, caller = self._begin(context)
        violations: list[FieldViolation] = []
        start, end = _time_range(request, violations)
        _code_filter(request.resource_code, "resource_code", violations)
        if violations:
            raise invalid_argument(violations)
        scope = AccessFilter(provider=self._provider_scope(caller), resource_code=request.resource_code,
                             start=start, end=end)
        rows = await deps.store.usage_summary(scope)
        return audit_pb2.GetUsageSummaryResponse(rows=[
            audit_pb2.UsageRow(resource_code=row["resource_code"], department_code=row["department_code"],
                               purpose=_PURPOSES.value(row["purpose"]), answered=row["answered"],
                               denied=row["denied"])
            for row in rows])

    async def VerifyAuditChain(self, request: audit_pb2.VerifyAuditChainRequest,
                               context: grpc.aio.ServicerContext) -> audit_pb2.VerifyAuditChainResponse:
        deps, caller = self._begin(context)
        if not caller.authority:
            raise permission_denied("NOT_AUTHORITY", "only the authority verifies the audit trail")
        checker = audit.ChainChecker()
        async with contextlib.aclosing(deps.store.chain_rows()) as rows:
            async for row in rows:
                problem = checker.check(row)
                if problem is not None:
                    return audit_pb2.VerifyAuditChainResponse(intact=False, records_checked=checker.checked,
                                                              first_bad_id=row["id"], detail=problem)
        return audit_pb2.VerifyAuditChainResponse(intact=True, records_checked=checker.checked,
                                                  detail=f"{checker.chains} chains intact")
