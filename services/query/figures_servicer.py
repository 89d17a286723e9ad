"""The query service's internal figures service: ListDepartmentFigures (the shared servicer) for supervision,
and ListResourceUsage for the catalog's search ranking (protobuf mapping here; the counting in figures.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import grpc

from govshare.query.v1 import figures_pb2
from services.query import figures
from services.query.store import QueryStore
from services.runtime.errors import FieldViolation, ServiceError, invalid_argument
from services.runtime.figures import FigureSource, FiguresServicer, require_service
from services.runtime.identity import AssertionVerifier
from services.runtime.pagination import decode_token, encode_token

#: ListResourceUsage's defaults and bounds.
DEFAULT_USAGE_DAYS = 30
MAX_USAGE_DAYS = 366
DEFAULT_USAGE_PAGE = 1000
MAX_USAGE_PAGE = 10_000


class AuditFiguresServicer(FiguresServicer):
    """AuditFiguresService: platform services only (a mesh identity, never a business system's token)."""

    def __init__(self, verifier: AssertionVerifier, source: Callable[[], FigureSource],
                 store: Callable[[], QueryStore]) -> None:
        super().__init__(verifier, source, figures_pb2.ListDepartmentFiguresResponse)
        self._store = store

    async def ListResourceUsage(self, request: figures_pb2.ListResourceUsageRequest,
                                context: grpc.aio.ServicerContext) -> figures_pb2.ListResourceUsageResponse:
        require_service(self._verifier.from_context(context))
        violations: list[FieldViolation] = []
        if not 0 <= request.days <= MAX_USAGE_DAYS:
            violations.append(FieldViolation("days", f"must be between 0 and {MAX_USAGE_DAYS}"))
        if not 0 <= request.page_size <= MAX_USAGE_PAGE:
            violations.append(FieldViolation("page_size", f"must be between 0 and {MAX_USAGE_PAGE}"))
        position = decode_token(request.page_token)
        after = position.get("r") if position is not None else ""
        if not isinstance(after, str):
            violations.append(FieldViolation("page_token", "is not a token returned by a previous call"))
        if violations:
            raise invalid_argument(violations)
        limit = request.page_size or DEFAULT_USAGE_PAGE
        rows = await figures.resource_usage(self._store(), request.days or DEFAULT_USAGE_DAYS,
                                            dt.datetime.now(dt.UTC), str(after), limit)
        response = figures_pb2.ListResourceUsageResponse(usages=[
            figures_pb2.ResourceUsage(resource_code=code, answered_count=count) for code, count in rows])
        if len(rows) == limit:
            response.next_page_token = encode_token({"r": rows[-1][0]})
        return response


def starting() -> ServiceError:
    return ServiceError(grpc.StatusCode.UNAVAILABLE, "STARTING", "the query service is starting")
