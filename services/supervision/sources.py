"""Gathers a month's figures from the services that own them (DESIGN: no service reads another's tables).

Catalog first (its resource inventory says which datasets serve which resource and how often they must be
updated), then authorization, query and foundation together; and the department list from the directory, so
a department with no activity still gets its (empty) snapshot.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc

from govshare.authorization.v1 import directory_pb2, directory_pb2_grpc
from govshare.authorization.v1 import figures_pb2 as sharing_figures
from govshare.authorization.v1 import figures_pb2_grpc as sharing_figures_grpc
from govshare.catalog.v1 import figures_pb2 as catalog_figures
from govshare.catalog.v1 import figures_pb2_grpc as catalog_figures_grpc
from govshare.foundation.v1 import figures_pb2 as foundation_figures
from govshare.foundation.v1 import figures_pb2_grpc as foundation_figures_grpc
from govshare.query.v1 import figures_pb2 as audit_figures
from govshare.query.v1 import figures_pb2_grpc as audit_figures_grpc
from services.runtime.callers_time import within_callers_time
from services.runtime.clients import call_metadata
from services.runtime.errors import unavailable
from services.runtime.figures import FigureRow, parse_dimension
from services.runtime.identity import AssertionSigner, Caller
from services.runtime.timestamps import to_timestamp
from services.supervision.months import Month

#: Figures of a month over 10^7 accesses take seconds, not the default call deadline's fraction of it.
FIGURES_TIMEOUT_SECONDS = 300.0
#: A page of the directory's departments or business systems: a read by key order, as quick as any call.
DIRECTORY_TIMEOUT_SECONDS = 5.0
#: The longest age a record may reach under each declared update cycle (catalog UpdateCycle names) before it is
#: stale; 不定期 (IRREGULAR) is not checked. 003 Art. 11: at least monthly where real time is impossible.
CYCLE_MAX_AGE_DAYS = {"REALTIME": 1, "DAILY": 2, "WEEKLY": 8, "MONTHLY": 32, "QUARTERLY": 93,
                      "HALF_YEARLY": 184, "YEARLY": 366}
IDEMPOTENT_SERVICES = (
    "govshare.catalog.v1.CatalogFiguresService",
    "govshare.authorization.v1.SharingFiguresService",
    "govshare.authorization.v1.DirectoryService",
    "govshare.query.v1.AuditFiguresService",
    "govshare.foundation.v1.FoundationFiguresService",
)


def dataset_cycles(catalog_rows: list[FigureRow]) -> dict[str, int]:
    """Per foundation dataset (resources served by the platform's foundation endpoint, i.e. no target), the
    shortest maximum age any of its resources declares, in seconds."""
    cycles: dict[str, int] = {}
    for row in catalog_rows:
        if row.name != "catalog.resource":
            continue
        parts = parse_dimension(row.dimension)
        days = CYCLE_MAX_AGE_DAYS.get(parts.get("cycle", ""))
        if parts.get("target") or not parts.get("dataset") or days is None:
            continue
        seconds = days * 86400
        cycles[parts["dataset"]] = min(seconds, cycles.get(parts["dataset"], seconds))
    return cycles


#: How much of a figures service's refusal is passed on (its messages are a sentence; nothing personal is in them).
MAX_SAID = 300
#: What a refusal's ``metadata.dependency`` names, as the server's interceptor names a failed outgoing call: without
#: it the refusal was counted in ``govshare_unavailable_total{reason="DEPENDENCY_UNAVAILABLE", dependency=""}`` and
#: a client reading ``metadata.dependency`` (docs/api.md) found nothing.
SERVICE_DEPENDENCY = "service"


class FigureSources:
    """Stubs of the owning services' internal figures services, called as ``svc:supervision``."""

    def __init__(self, channels: dict[str, grpc.aio.Channel], signer: AssertionSigner, identity: Caller,
                 directory_timeout: float = DIRECTORY_TIMEOUT_SECONDS) -> None:
        """``directory_timeout``: how long a read of the directory's lists waits (GOVSHARE_CALL_TIMEOUT_SECONDS)."""
        self._catalog = catalog_figures_grpc.CatalogFiguresServiceStub(channels["catalog"])
        self._sharing = sharing_figures_grpc.SharingFiguresServiceStub(channels["authorization"])
        self._directory = directory_pb2_grpc.DirectoryServiceStub(channels["authorization"])
        self._audit = audit_figures_grpc.AuditFiguresServiceStub(channels["query"])
        self._foundation = foundation_figures_grpc.FoundationFiguresServiceStub(channels["foundation"])
        self._signer = signer
        self._identity = identity
        self._directory_timeout = directory_timeout

    async def _call(self, service: str, method: Callable[..., Awaitable[Any]], request: Any,
                    what: str = "give its figures", seconds: float = FIGURES_TIMEOUT_SECONDS) -> Any:
        """``method``'s answer within ``seconds`` and the deadline of the call being served (none for the schedule),
        or UNAVAILABLE naming ``service`` and what it could not do. The directory's lists are read for every report,
        snapshot and violation list: a supervisor asking for a report with the authorization service down was told
        it 'could not give its figures', which no report asks of it; and with a service hung, a call waited past
        its caller's deadline and the edge answered DEADLINE_EXCEEDED as if the supervision service had not
        answered."""
        return await within_callers_time(
            self._answer(service, method, request, what, seconds),
            lambda: unavailable("DEPENDENCY_UNAVAILABLE",
                                f"the {service} service could not {what} within this call's deadline: it did not "
                                "answer", dependency=SERVICE_DEPENDENCY))

    async def _answer(self, service: str, method: Callable[..., Awaitable[Any]], request: Any, what: str,
                      seconds: float) -> Any:
        try:
            return await method(request, timeout=seconds, metadata=call_metadata(self._signer, self._identity))
        except grpc.aio.AioRpcError as exc:
            # The service's own words name what failed behind it (its database down, say): with the status alone,
            # `govshare supervise` blamed the query service for a PostgreSQL that had stopped.
            said = (exc.details() or "").strip()[:MAX_SAID]
            raise unavailable("DEPENDENCY_UNAVAILABLE", f"the {service} service could not {what} ({exc.code().name}"
                              f"{': ' + said if said else ''})", dependency=SERVICE_DEPENDENCY) from exc

    async def _figures(self, service: str, method: Callable[..., Awaitable[Any]], request: Any) -> list[FigureRow]:
        """Every figure a service gives for ``request``, following its pages (the catalog's alone number one per
        published resource)."""
        rows: list[FigureRow] = []
        while True:
            response = await self._call(service, method, request)
            rows += _rows(response)
            if not response.next_page_token:
                return rows
            request.page_token = response.next_page_token

    async def gather(self, month: Month) -> list[FigureRow]:
        """Every figure of every department for ``month``."""
        start, end = to_timestamp(month.start), to_timestamp(month.end)
        catalog = await self._figures("catalog", self._catalog.ListDepartmentFigures,
                                      catalog_figures.ListDepartmentFiguresRequest(start_time=start, end_time=end))
        cycles = [foundation_figures.DatasetCycle(dataset=name, max_age_seconds=seconds)
                  for name, seconds in sorted(dataset_cycles(catalog).items())]
        sharing, audit, foundation = await asyncio.gather(
            self._figures("authorization", self._sharing.ListDepartmentFigures,
                          sharing_figures.ListDepartmentFiguresRequest(start_time=start, end_time=end)),
            self._figures("query", self._audit.ListDepartmentFigures,
                          audit_figures.ListDepartmentFiguresRequest(start_time=start, end_time=end)),
            self._figures("foundation", self._foundation.ListDepartmentFigures,
                          foundation_figures.ListDepartmentFiguresRequest(start_time=start, end_time=end,
                                                                           cycles=cycles)))
        return catalog + sharing + audit + foundation

    async def _listed(self, method: Callable[..., Awaitable[Any]], request: Any, what: str) -> Any:
        """A page of one of the directory's lists, within the ordinary call timeout: they were read with the
        figures' five minutes, and a report, a department's violations or a snapshot not found waited that long
        for a hung authorization service."""
        return await self._call("authorization", method, request, what, self._directory_timeout)

    async def _all_departments(self) -> list[directory_pb2.Department]:
        """Every department (the authority's included), from the directory."""
        found: list[directory_pb2.Department] = []
        token = ""
        while True:
            page = await self._listed(self._directory.ListDepartments,
                                      directory_pb2.ListDepartmentsRequest(page_size=1000, page_token=token),
                                      "list the departments")
            found.extend(page.departments)
            token = page.next_page_token
            if not token:
                return found

    async def systems(self) -> dict[str, str]:
        """Every business system's name by id, from the directory: the reports name the system a violation is
        about (its id alone, sys-…, tells the reader nothing)."""
        found: dict[str, str] = {}
        token = ""
        while True:
            page = await self._listed(self._directory.ListSystems,
                                      directory_pb2.ListSystemsRequest(page_size=1000, page_token=token),
                                      "list the business systems")
            found.update((s.id, s.name) for s in page.systems)
            token = page.next_page_token
            if not token:
                return found

    async def departments(self) -> dict[str, str]:
        """Every department's name by code (the authority's included), from the directory."""
        return {d.code: d.name for d in await self._all_departments()}

    async def joined(self) -> dict[str, Membership]:
        """Each department's name now, when it joined the platform and when it was retired (RetireDepartment), by
        code: a month before it joined or after it was retired is none of its months, and a month's snapshots keep
        the names of that time."""
        return {d.code: Membership(d.name, d.create_time.ToDatetime(dt.UTC),
                                   d.retire_time.ToDatetime(dt.UTC) if d.HasField("retire_time") else None,
                                   d.merged_into)
                for d in await self._all_departments()}


@dataclass(frozen=True)
class Membership:
    """A department's time on the platform, as the directory says it now."""

    name: str
    joined: dt.datetime
    #: None while the department is in service.
    retired: dt.datetime | None = None
    #: The department that took over its duties when it was retired ("" when none was named).
    merged_into: str = ""

    def took_part_in(self, month: Month) -> bool:
        """Whether ``month`` is one of its months: it had joined before the month ended and was not retired before
        the month began (the month it was retired in is its last)."""
        return self.joined < month.end and (self.retired is None or self.retired >= month.start)


def _rows(response: Any) -> list[FigureRow]:
    return [FigureRow(f.department_code, f.name, f.dimension, f.value) for f in response.figures]
