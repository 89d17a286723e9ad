"""Department figures (DOMAIN R-SUP-1) as the owning services answer them to supervision.

Each owning service computes the figures of its own data (no service reads another's tables) and answers
them through an internal ``…FiguresService.ListDepartmentFigures``; this module holds what those servicers
share: the period check, the service-only check, and the conversion to ``govshare.common.v1.Figure``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import timestamp_pb2

from govshare.common.v1 import figures_pb2
from services.runtime.errors import FieldViolation, invalid_argument, permission_denied
from services.runtime.identity import AssertionVerifier, Caller
from services.runtime.timestamps import from_timestamp

#: The longest period one call may cover (a year and a day: a yearly report asks month by month anyway).
MAX_PERIOD = dt.timedelta(days=367)


@dataclass(frozen=True, slots=True)
class FigureRow:
    """One figure: ``dimension`` is "" for a total, else sorted ``key=value`` pairs joined by ';'."""

    department_code: str
    name: str
    dimension: str
    value: int


def dimension(**parts: object) -> str:
    """``key=value`` pairs sorted by key, joined by ';' (values must not contain ';' or '=')."""
    return ";".join(f"{key}={parts[key]}" for key in sorted(parts))


def parse_dimension(text: str) -> dict[str, str]:
    """The pairs of a dimension string (the inverse of :func:`dimension`)."""
    return dict(part.split("=", 1) for part in text.split(";") if part)


def require_service(caller: Caller) -> None:
    """Figures are internal: only platform services (supervision) ask for them."""
    if not caller.is_service:
        raise permission_denied("SERVICE_ONLY", "this RPC is internal to the platform (platform services only)")


def period(start: timestamp_pb2.Timestamp, end: timestamp_pb2.Timestamp,
           has_start: bool, has_end: bool) -> tuple[dt.datetime, dt.datetime]:
    """The validated period [start, end): both set, start before end, at most :data:`MAX_PERIOD`."""
    violations: list[FieldViolation] = []
    begin = from_timestamp(start, "start_time", violations) if has_start else None
    finish = from_timestamp(end, "end_time", violations) if has_end else None
    if not has_start:
        violations.append(FieldViolation("start_time", "is required"))
    if not has_end:
        violations.append(FieldViolation("end_time", "is required"))
    if begin is not None and finish is not None:
        if finish <= begin:
            violations.append(FieldViolation("end_time", "must be after start_time"))
        elif finish - begin > MAX_PERIOD:
            violations.append(FieldViolation("end_time", "the period may cover at most 367 days"))
    if violations or begin is None or finish is None:
        raise invalid_argument(violations)
    return begin, finish


def to_messages(rows: Iterable[FigureRow]) -> list[figures_pb2.Figure]:
    """The protobuf figures of ``rows``, zero values left out (an absent figure is zero)."""
    return [figures_pb2.Figure(department_code=row.department_code, name=row.name, dimension=row.dimension,
                               value=row.value) for row in rows if row.value]


#: Computes the figures of a request's period: (request, start, end) -> rows.
FigureSource = Callable[[Any, dt.datetime, dt.datetime], Awaitable[list[FigureRow]]]


class FiguresServicer:
    """``ListDepartmentFigures`` of any owning service: the four services' internal figures services have the
    same shape, so one servicer (given the service's computation and response type) serves them all."""

    def __init__(self, verifier: AssertionVerifier, source: Callable[[], FigureSource],
                 response_type: type) -> None:
        self._verifier = verifier
        self._source = source
        self._response_type = response_type

    async def ListDepartmentFigures(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        require_service(self._verifier.from_context(context))
        start, end = period(request.start_time, request.end_time, request.HasField("start_time"),
                            request.HasField("end_time"))
        rows = await self._source()(request, start, end)
        return self._response_type(figures=to_messages(rows))
