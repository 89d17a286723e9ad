"""Department figures (DOMAIN R-SUP-1) as the owning services answer them to supervision.

Each owning service computes the figures of its own data (no service reads another's tables) and answers
them through an internal ``…FiguresService.ListDepartmentFigures``; this module holds what those servicers
share: the period check, the service-only check, and the conversion to ``govshare.common.v1.Figure``.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import timestamp_pb2

from govshare.common.v1 import figures_pb2
from services.runtime.errors import FieldViolation, invalid_argument, permission_denied
from services.runtime.identity import AssertionVerifier, Caller
from services.runtime.pagination import NOT_ISSUED, decode_token, encode_token
from services.runtime.timestamps import from_timestamp

#: The longest period one call may cover (a year and a day: a yearly report asks month by month anyway).
MAX_PERIOD = dt.timedelta(days=367)
#: Figures per reply (AIP-158): the catalog alone answers one per published resource (10^6 at national size,
#: some 100 MB, far over a gRPC message's 4 MiB); 10,000 figures are about 1 MB.
DEFAULT_FIGURES_PAGE = 5000
MAX_FIGURES_PAGE = 10_000
#: How long a computation's figures are kept for the pages that follow its first (supervision asks for the
#: pages one after the other within seconds), and how many periods at once (the previous and current month,
#: a recomputation beside them): a walk through the pages computes the figures once, not once per page.
KEPT_SECONDS = 300.0
KEPT_COMPUTATIONS = 4


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


def _key(row: FigureRow) -> tuple[str, str, str]:
    return row.department_code, row.name, row.dimension


def scope_of(request: Any) -> str:
    """What a page token is bound to: the request without its paging fields (the period, and foundation's
    dataset cycles), so a token is never applied to another computation."""
    unpaged = type(request)()
    unpaged.CopyFrom(request)
    unpaged.ClearField("page_size")
    unpaged.ClearField("page_token")
    return hashlib.sha256(unpaged.SerializeToString(deterministic=True)).hexdigest()[:32]


def figures_page_size(requested: int) -> int:
    if not 0 <= requested <= MAX_FIGURES_PAGE:
        raise invalid_argument([FieldViolation("page_size", f"must be between 0 and {MAX_FIGURES_PAGE}")])
    return requested or DEFAULT_FIGURES_PAGE


def _position(token: str, scope: str) -> tuple[tuple[str, str, str], int] | None:
    """The (key, rows of that key already given) a token resumes after; None for the first page."""
    position = decode_token(token)
    if position is None:
        return None
    key, seen = position.get("k"), position.get("n")
    if (position.get("s") != scope or not isinstance(key, list) or len(key) != 3
            or not all(isinstance(part, str) for part in key) or not isinstance(seen, int) or seen < 1):
        raise invalid_argument([FieldViolation("page_token", f"{NOT_ISSUED} for this period")])
    return (key[0], key[1], key[2]), seen


def page_of(rows: list[FigureRow], position: tuple[tuple[str, str, str], int] | None, size: int
            ) -> tuple[list[FigureRow], dict | None]:
    """The page of ``rows`` (sorted by key) after ``position``, and the position its token holds (None: the
    last page). A key two rows share (none should) is resumed by count, so no row is skipped or repeated."""
    start = 0
    if position is not None:
        key, seen = position
        start = bisect.bisect_left(rows, key, key=_key) + seen
    page = rows[start:start + size]
    if not page or start + size >= len(rows):
        return page, None
    last = _key(page[-1])
    first_of_last = bisect.bisect_left(rows, last, key=_key)
    return page, {"k": list(last), "n": start + len(page) - first_of_last}


class FiguresServicer:
    """``ListDepartmentFigures`` of any owning service: the four services' internal figures services have the
    same shape, so one servicer (given the service's computation and response type) serves them all.

    Paged (AIP-158) in (department, name, dimension) order. The figures are computed as a whole (sums over the
    period), so the first page computes them and keeps them, sorted, for the pages that follow
    (``KEPT_SECONDS``); a page whose computation is no longer kept (another replica, or later) computes them
    again and resumes after its token's key, so a walk never repeats or skips a figure."""

    def __init__(self, verifier: AssertionVerifier, source: Callable[[], FigureSource],
                 response_type: type, clock: Callable[[], float] = time.monotonic) -> None:
        self._verifier = verifier
        self._source = source
        self._response_type = response_type
        self._clock = clock
        self._kept: OrderedDict[str, tuple[float, list[FigureRow]]] = OrderedDict()

    async def ListDepartmentFigures(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        require_service(self._verifier.from_context(context))
        start, end = period(request.start_time, request.end_time, request.HasField("start_time"),
                            request.HasField("end_time"))
        size = figures_page_size(request.page_size)
        scope = scope_of(request)
        position = _position(request.page_token, scope)
        rows = self._kept_rows(scope) if position is not None else None
        if rows is None:
            rows = sorted((row for row in await self._source()(request, start, end) if row.value), key=_key)
            self._keep(scope, rows)
        page, following = page_of(rows, position, size)
        token = encode_token({"s": scope, **following}) if following is not None else ""
        return self._response_type(figures=to_messages(page), next_page_token=token)

    def _kept_rows(self, scope: str) -> list[FigureRow] | None:
        kept = self._kept.get(scope)
        if kept is None or kept[0] < self._clock():
            return None
        return kept[1]

    def _keep(self, scope: str, rows: list[FigureRow]) -> None:
        now = self._clock()
        self._kept[scope] = (now + KEPT_SECONDS, rows)
        self._kept.move_to_end(scope)
        for old in [s for s, (expiry, _) in self._kept.items() if expiry < now]:
            del self._kept[old]
        while len(self._kept) > KEPT_COMPUTATIONS:
            self._kept.popitem(last=False)
