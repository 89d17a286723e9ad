"""Issue 14: the owning services' internal ListDepartmentFigures is paged (AIP-158), and supervision follows the
pages. The catalog's figures hold one per published resource (10^6 at national size: some 100 MB in one reply,
over the 64 MiB a platform client accepts); here a catalog of its own database holds 6,000 published entries of
one department, more than one page of the default size (5,000)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
import pytest_asyncio
from google.protobuf import timestamp_pb2
from test_paging import _department, fill_catalog

from govshare.catalog.v1 import figures_pb2, figures_pb2_grpc
from services.catalog.component import create_component
from services.runtime import db
from services.runtime.embedded import create_database
from services.runtime.errors import details_of
from services.runtime.figures import DEFAULT_FIGURES_PAGE, MAX_FIGURES_PAGE
from services.runtime.identity import AssertionSigner, service_caller
from services.runtime.server import start_server
from services.runtime.settings import Settings
from services.supervision.months import Month
from services.supervision.sources import FigureSources

pytestmark = pytest.mark.integration

ENTRIES = DEFAULT_FIGURES_PAGE + 1000


@dataclass
class Catalog:
    stub: figures_pb2_grpc.CatalogFiguresServiceStub
    channel: grpc.aio.Channel
    department: str
    codes: list[str]
    metadata: tuple[tuple[str, str], ...]


def _stamp(moment: dt.datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


MONTH = Month.of(dt.datetime.now(dt.UTC))
PERIOD = {"start_time": _stamp(MONTH.start), "end_time": _stamp(MONTH.end)}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def catalog(base_settings: Settings, database_url: str) -> AsyncIterator[Catalog]:
    url = await create_database(database_url, f"govshare_figures_{uuid.uuid4().hex[:8]}")
    await db.migrate(url, "catalog")
    department = _department()
    codes = await fill_catalog(url, department, ENTRIES)
    settings = base_settings.with_overrides(component="catalog", zone="intranet", database_url=url,
                                            listen="127.0.0.1:0")
    running = await start_server(settings, create_component(settings))
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    metadata = AssertionSigner(base_settings.internal_key).metadata(service_caller("supervision"))
    try:
        yield Catalog(figures_pb2_grpc.CatalogFiguresServiceStub(channel), channel, department, codes, metadata)
    finally:
        await channel.close()
        await running.stop(0)


async def _walk(catalog: Catalog, page_size: int) -> list[tuple[str, str, str, int]]:
    figures, token = [], ""
    while True:
        page = await catalog.stub.ListDepartmentFigures(figures_pb2.ListDepartmentFiguresRequest(
            **PERIOD, page_size=page_size, page_token=token), metadata=catalog.metadata, timeout=60)
        assert len(page.figures) <= (page_size or DEFAULT_FIGURES_PAGE)
        figures += [(f.department_code, f.name, f.dimension, f.value) for f in page.figures]
        token = page.next_page_token
        if not token:
            return figures


async def test_the_catalogs_figures_come_in_pages_that_walk_every_figure_once(catalog: Catalog) -> None:
    """Pages of 1,000 and pages of the largest size give the same figures, in (department, name, dimension)
    order, each once: every published resource's figure among them (before: one reply held them all)."""
    first = await catalog.stub.ListDepartmentFigures(figures_pb2.ListDepartmentFiguresRequest(**PERIOD),
                                                     metadata=catalog.metadata, timeout=60)
    assert len(first.figures) == DEFAULT_FIGURES_PAGE and first.next_page_token
    small = await _walk(catalog, 1000)
    assert small == await _walk(catalog, MAX_FIGURES_PAGE)
    assert len(set(small)) == len(small) and small == sorted(small)
    resources = {f[2] for f in small if f[0] == catalog.department and f[1] == "catalog.resource"}
    for code in (catalog.codes[0], catalog.codes[-1]):
        assert any(f"resource={code};" in r for r in resources), code
    assert len(resources) == ENTRIES
    assert (catalog.department, "catalog.resources", "", ENTRIES) in small


async def test_a_figures_token_serves_only_its_own_period(catalog: Catalog) -> None:
    page = await catalog.stub.ListDepartmentFigures(figures_pb2.ListDepartmentFiguresRequest(
        **PERIOD, page_size=10), metadata=catalog.metadata, timeout=60)
    before = MONTH.start - dt.timedelta(days=1)
    cases = {
        "page_token": figures_pb2.ListDepartmentFiguresRequest(
            start_time=_stamp(Month.of(before).start), end_time=_stamp(MONTH.start),
            page_token=page.next_page_token),
        "page_size": figures_pb2.ListDepartmentFiguresRequest(**PERIOD, page_size=MAX_FIGURES_PAGE + 1),
    }
    for field, request in cases.items():
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await catalog.stub.ListDepartmentFigures(request, metadata=catalog.metadata, timeout=60)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        _, bad_request = details_of(caught.value)
        assert [v.field for v in bad_request.field_violations] == [field]


async def test_supervision_gathers_every_page_of_every_service(catalog: Catalog, platform: object) -> None:
    """Supervision's figure collection (FigureSources.gather) follows the pages: the resources past the first
    page of the catalog's figures are in the month it computes."""
    channels = {name: grpc.aio.insecure_channel(platform.port(name))  # type: ignore[attr-defined]
                for name in ("authorization", "query", "foundation")}
    try:
        settings = platform.settings["supervision"]  # type: ignore[attr-defined]
        sources = FigureSources({**channels, "catalog": catalog.channel}, AssertionSigner(settings.internal_key),
                                service_caller("supervision"))
        rows = await sources.gather(MONTH)
    finally:
        for channel in channels.values():
            await channel.close()
    resources = [r for r in rows if r.department_code == catalog.department and r.name == "catalog.resource"]
    assert len(resources) == ENTRIES
    assert sorted(r.dimension for r in resources) == sorted(f[2] for f in await _walk(catalog, MAX_FIGURES_PAGE)
                                                            if f[0] == catalog.department
                                                            and f[1] == "catalog.resource")
