"""The one-way extranet → intranet bundle (R-ZON-3), between two real databases."""

from __future__ import annotations

import hashlib
import io
import tarfile
import uuid
from pathlib import Path

import asyncpg
import grpc
import pytest

from govshare.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from services.bundle import BundleError, export_bundle, import_bundle
from services.catalog.component import create_component
from services.demo import demo_entries
from services.runtime import db
from services.runtime.embedded import create_database
from services.runtime.identity import AssertionSigner, service_caller
from services.runtime.server import start_server


@pytest.fixture(scope="module")
async def bundle(platform, tmp_path_factory: pytest.TempPathFactory) -> Path:  # type: ignore[no-untyped-def]
    # A draft must not travel: create one on the extranet first.
    draft = demo_entries()[1]
    draft.code = "102001/999999"
    catalog = catalog_pb2_grpc.CatalogServiceStub(platform.channel)
    await catalog.CreateEntry(catalog_pb2.CreateEntryRequest(entry=draft), metadata=platform.metadata("authority"),
                              timeout=10)
    out = tmp_path_factory.mktemp("exchange") / "bundle.tar.gz"
    summary = await export_bundle(platform.settings["catalog"].database_url, out, zone="extranet")
    assert summary["rows"]["catalog.entry_versions.copy"] >= len(demo_entries())
    return out


@pytest.fixture(scope="module")
async def intranet_url(embedded) -> str:  # type: ignore[no-untyped-def]
    admin = embedded.database_url
    url = await create_database(admin, f"govshare_intranet_{uuid.uuid4().hex[:8]}")
    await db.migrate_all(url)
    return url


async def test_import_makes_the_published_catalog_and_foundation_data_available(
        platform, bundle: Path, intranet_url: str, base_settings) -> None:  # type: ignore[no-untyped-def]
    summary = await import_bundle(intranet_url, bundle, zone="intranet")
    assert summary["imported"]["foundation.population.copy"] == 500
    conn = await asyncpg.connect(intranet_url)
    try:
        codes = {r["code"] for r in await conn.fetch("SELECT code FROM catalog.entries")}
        persons = await conn.fetchval("SELECT count(*) FROM foundation.population")
    finally:
        await conn.close()
    assert {e.code for e in demo_entries()} <= codes
    assert "102001/999999" not in codes  # drafts stay on the extranet
    assert persons == 500
    # Importing the same bundle again changes nothing and fails nothing (idempotent upserts).
    await import_bundle(intranet_url, bundle, zone="intranet")

    # An intranet catalog service serves what was imported.
    settings = base_settings.with_overrides(component="catalog", zone="intranet", database_url=intranet_url)
    running = await start_server(settings, create_component(settings))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            response = await catalog_pb2_grpc.CatalogServiceStub(channel).GetEntry(
                catalog_pb2.GetEntryRequest(code="102001/000001"),
                metadata=AssertionSigner(settings.internal_key).metadata(service_caller("query")), timeout=10)
        assert response.entry.state == catalog_pb2.ENTRY_STATE_PUBLISHED
    finally:
        await running.stop(0)


async def test_data_never_moves_from_the_intranet(platform, tmp_path: Path, intranet_url: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BundleError, match="extranet only"):
        await export_bundle(intranet_url, tmp_path / "back.tar.gz", zone="intranet")


async def test_an_extranet_deployment_does_not_import(bundle: Path, intranet_url: str) -> None:
    with pytest.raises(BundleError, match="intranet only"):
        await import_bundle(intranet_url, bundle, zone="extranet")


def _altered(bundle: Path, folder: Path) -> Path:
    """The bundle with its last bytes changed but its original digest beside it."""
    altered = folder / "altered.tar.gz"
    altered.write_bytes(bundle.read_bytes()[:-10] + b"0123456789")
    Path(f"{altered}.sha256").write_text(Path(f"{bundle}.sha256").read_text())
    return altered


def _unsigned(bundle: Path, folder: Path) -> Path:
    unsigned = folder / "unsigned.tar.gz"
    unsigned.write_bytes(bundle.read_bytes())
    return unsigned


def _repacked(bundle: Path, folder: Path) -> Path:
    """A file flipped inside a re-packed archive whose outer digest was recomputed."""
    repacked = folder / "repacked.tar.gz"
    with tarfile.open(bundle, "r:gz") as source, tarfile.open(repacked, "w:gz") as target:
        for member in source.getmembers():
            data = source.extractfile(member).read()
            if member.name == "foundation.population.copy":
                data = data[:-1] + bytes([data[-1] ^ 1])
            member.size = len(data)
            target.addfile(member, io.BytesIO(data))
    Path(f"{repacked}.sha256").write_text(hashlib.sha256(repacked.read_bytes()).hexdigest() + "\n")
    return repacked


async def test_altered_or_unverifiable_bundles_are_refused(bundle: Path, tmp_path: Path, intranet_url: str) -> None:
    with pytest.raises(BundleError, match="does not match"):
        await import_bundle(intranet_url, _altered(bundle, tmp_path), zone="intranet")
    with pytest.raises(BundleError, match="digest"):
        await import_bundle(intranet_url, _unsigned(bundle, tmp_path), zone="intranet")
    # The manifest's per-file digests catch what the outer digest no longer can.
    with pytest.raises(BundleError, match=r"foundation\.population\.copy"):
        await import_bundle(intranet_url, _repacked(bundle, tmp_path), zone="intranet")
