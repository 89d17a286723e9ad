"""The one-way extranet → intranet bundle (R-ZON-3), between two real databases."""

from __future__ import annotations

import dataclasses
import getpass
import hashlib
import importlib
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import tracemalloc
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import grpc
import pytest
from caller_metadata import CallerMetadata
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key

from govshare.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from govshare.common.v1 import common_pb2
from govshare.query.v1 import query_pb2, query_pb2_grpc
from services import bundle as bundle_module
from services.bundle import BundleError, export_bundle, import_bundle, run_by
from services.catalog.component import create_component
from services.demo import DEPARTMENTS, demo_entries
from services.foundation.synthetic import credit_code_of
from services.runtime import db
from services.runtime.embedded import create_database
from services.runtime.identity import Caller, service_caller
from services.runtime.keys import bundle_public_key, generate_keys
from services.runtime.server import RunningServer, start_server
from services.runtime.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SIGNING_KEY = generate_keys().bundle_signing_key
TRUSTED = bundle_public_key(SIGNING_KEY)


@pytest.fixture(scope="module")
async def bundle(platform, tmp_path_factory: pytest.TempPathFactory) -> Path:  # type: ignore[no-untyped-def]
    # A draft must not travel: create one on the extranet first.
    draft = demo_entries()[1]
    draft.code = "102001/999999"
    catalog = catalog_pb2_grpc.CatalogServiceStub(platform.channel)
    await catalog.CreateEntry(catalog_pb2.CreateEntryRequest(entry=draft), metadata=platform.metadata("authority"),
                              timeout=10)
    out = tmp_path_factory.mktemp("exchange") / "bundle.tar.gz"
    summary = await export_bundle(platform.settings["catalog"].database_url, out, zone="extranet",
                                  signing_key_pem=SIGNING_KEY)
    assert summary["rows"]["catalog.entry_versions.copy"] >= len(demo_entries())
    return out


async def _fresh_database(embedded, prefix: str) -> str:  # type: ignore[no-untyped-def]
    url = await create_database(embedded.database_url, f"{prefix}_{uuid.uuid4().hex[:8]}")
    await db.migrate_all(url)
    return url


@pytest.fixture(scope="module")
async def intranet_url(embedded) -> str:  # type: ignore[no-untyped-def]
    return await _fresh_database(embedded, "govshare_intranet")


async def test_import_makes_the_published_catalog_and_foundation_data_available(
        platform, bundle: Path, intranet_url: str, base_settings, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    summary = await import_bundle(intranet_url, bundle, zone="intranet", trusted_keys=TRUSTED, redis_url=redis_url)
    assert summary["imported"]["foundation.population.copy"] == 500
    conn = await asyncpg.connect(intranet_url)
    try:
        codes = {r["code"] for r in await conn.fetch("SELECT code FROM catalog.entries")}
        persons = await conn.fetchval("SELECT count(*) FROM foundation.population")
        # The import is an administrative action: in the intranet catalog's outbox, in the import's transaction
        # (counts and the bundle's identity only), for its relay to deliver to the administrative log.
        logged = await conn.fetch("SELECT * FROM catalog.admin_outbox WHERE action = 'bundle.import'")
    finally:
        await conn.close()
    assert len(logged) == 1
    assert (logged[0]["actor_system_id"], logged[0]["result"]) == ("cli:govshare-import-bundle", "OK")
    details = json.loads(logged[0]["details"])
    assert details["rows"]["foundation.population.copy"] == 500 and details["created"] == summary["created"]
    assert {e.code for e in demo_entries()} <= codes
    assert "102001/999999" not in codes  # drafts stay on the extranet
    assert persons == 500
    # Importing the same bundle again changes nothing and fails nothing (idempotent upserts).
    await import_bundle(intranet_url, bundle, zone="intranet", trusted_keys=TRUSTED)

    # An intranet catalog service serves what was imported.
    settings = base_settings.with_overrides(component="catalog", zone="intranet", database_url=intranet_url)
    running = await start_server(settings, create_component(settings))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            response = await catalog_pb2_grpc.CatalogServiceStub(channel).GetEntry(
                catalog_pb2.GetEntryRequest(code="102001/000001"),
                metadata=CallerMetadata.of(settings).metadata(service_caller("query")), timeout=10)
        assert response.entry.state == catalog_pb2.ENTRY_STATE_PUBLISHED
    finally:
        await running.stop(0)


def test_the_bundle_is_readable_by_its_owner_only(bundle: Path) -> None:
    assert oct(bundle.stat().st_mode & 0o777) == "0o600"


async def test_an_export_that_fails_midway_leaves_no_bundle(
        platform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """Killed or out of space while writing, an export must leave nothing under the bundle's name: an operator's
    --out in the gate's outbox/ would be carried, half-written, to the intranet."""
    out = tmp_path / "outbox" / "govshare-bundle-20260101T010000Z.tar.gz"
    seen: list[bool] = []
    addfile = tarfile.TarFile.addfile

    def fail_at_the_third(self: tarfile.TarFile, info: tarfile.TarInfo, fileobj=None) -> None:  # type: ignore[no-untyped-def]
        if len(seen) == 2:
            seen.append(out.exists())  # what a gate polling the directory sees now (and after a kill -9)
            raise OSError(28, "No space left on device")
        seen.append(False)
        addfile(self, info, fileobj)

    monkeypatch.setattr(tarfile.TarFile, "addfile", fail_at_the_third)
    with pytest.raises(OSError, match="No space left"):
        await export_bundle(platform.settings["catalog"].database_url, out, zone="extranet",
                            signing_key_pem=SIGNING_KEY)
    assert seen == [False, False, False]
    assert list(out.parent.iterdir()) == []  # no partial file left behind either


async def test_data_never_moves_from_the_intranet(platform, tmp_path: Path, intranet_url: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BundleError, match="extranet only"):
        await export_bundle(intranet_url, tmp_path / "back.tar.gz", zone="intranet", signing_key_pem=SIGNING_KEY)
    with pytest.raises(BundleError, match="extranet only"):
        await export_bundle(intranet_url, tmp_path / "back.tar.gz", zone="", signing_key_pem=SIGNING_KEY)


async def test_an_export_to_a_place_it_cannot_write_says_so_before_reading_anything(
        platform, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = platform.settings["catalog"].database_url
    with pytest.raises(BundleError, match=rf"^{tmp_path} is a directory: give the bundle's file name, such as "
                                          rf"{tmp_path}/govshare-bundle-YYYYMMDDTHHMMSSZ\.tar\.gz$"):
        await export_bundle(url, tmp_path, zone="extranet", signing_key_pem=SIGNING_KEY)
    (tmp_path / "file").write_text("")
    with pytest.raises(BundleError, match=rf"^cannot write the bundle in {tmp_path}/file/outbox: Not a directory$"):
        await export_bundle(url, tmp_path / "file" / "outbox" / "b.tar.gz", zone="extranet",
                            signing_key_pem=SIGNING_KEY)
    assert sorted(os.listdir(tmp_path)) == ["file"]


def test_export_bundle_on_the_intranet_says_so_in_one_line(intranet_url: str, tmp_path: Path) -> None:
    env = _cli_env(GOVSHARE_DATABASE_URL=intranet_url, GOVSHARE_ZONE="intranet",
                   GOVSHARE_BUNDLE_SIGNING_KEY=SIGNING_KEY, GOVSHARE_DATA_DIR=str(tmp_path))
    command = [sys.executable, "-m", "services.cli", "export-bundle", "--out", str(tmp_path / "b.tar.gz")]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1
    assert result.stderr == ("export-bundle: bundles are exported on the extranet only (this deployment is intranet): "
                             "data never moves from the intranet to the extranet\n")


async def test_an_extranet_deployment_does_not_import(bundle: Path, intranet_url: str) -> None:
    with pytest.raises(BundleError, match="intranet only"):
        await import_bundle(intranet_url, bundle, zone="extranet", trusted_keys=TRUSTED)
    with pytest.raises(BundleError, match="intranet only"):
        await import_bundle(intranet_url, bundle, zone="", trusted_keys=TRUSTED)


def _members(bundle: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(bundle, "r:gz") as source:
        return [(member, source.extractfile(member).read()) for member in source.getmembers()]


def _pack(members: list[tuple[tarfile.TarInfo, bytes]], out: Path) -> Path:
    with tarfile.open(out, "w:gz") as target:
        for member, data in members:
            member.size = len(data)
            target.addfile(member, io.BytesIO(data))
    Path(f"{out}.sha256").write_text(hashlib.sha256(out.read_bytes()).hexdigest() + "\n")
    return out


def _redigested(bundle: Path, folder: Path) -> Path:
    """A byte of the population changed, and every digest recomputed to match: only the signature can tell."""
    members = _members(bundle)
    manifest = json.loads(next(data for member, data in members if member.name == "manifest.json"))
    tampered = []
    for member, data in members:
        if member.name == "foundation.population.copy":
            data = data[:-40] + bytes([data[-40] ^ 1]) + data[-39:]
            manifest["files"][member.name]["sha256"] = hashlib.sha256(data).hexdigest()
        tampered.append((member, data))
    tampered = [(m, json.dumps(manifest, indent=2).encode() if m.name == "manifest.json" else d) for m, d in tampered]
    return _pack(tampered, folder / "redigested.tar.gz")


def _truncated(bundle: Path, folder: Path) -> Path:
    truncated = folder / "truncated.tar.gz"
    truncated.write_bytes(bundle.read_bytes()[: len(bundle.read_bytes()) // 2])
    return truncated


def _cut_at_a_member(bundle: Path, folder: Path) -> Path:
    """The bundle without its last member, a well-formed archive: what a copy cut off at a member's boundary reads
    as (halving the file lands there or inside a member, depending on the bundle's size)."""
    return _pack(_members(bundle)[:-1], folder / "cut.tar.gz")


def _unsigned(bundle: Path, folder: Path) -> Path:
    return _pack([(m, d) for m, d in _members(bundle) if m.name != "manifest.sig"], folder / "unsigned.tar.gz")


def _key_id_of(public_pem: str) -> str:
    """The key id a refusal names for a public key (the first 16 hex digits of its raw bytes' SHA-256)."""
    raw = load_pem_public_key(public_pem.encode()).public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


async def _population(url: str) -> list[tuple]:
    conn = await asyncpg.connect(url)
    try:
        return [tuple(r) for r in await conn.fetch("SELECT * FROM foundation.population ORDER BY citizen_id")]
    finally:
        await conn.close()


async def test_forged_altered_or_unverifiable_bundles_are_refused(
        embedded, bundle: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    target = await _fresh_database(embedded, "govshare_intranet")
    # Signed by the trusted key and changed since: said to be altered, not blamed on the keys.
    with pytest.raises(BundleError, match=rf"manifest was altered after it was signed: its signature by trusted key "
                                          rf"id {_key_id_of(TRUSTED)} does not verify"):
        await import_bundle(target, _redigested(bundle, tmp_path), zone="intranet", trusted_keys=TRUSTED)
    with pytest.raises(BundleError, match=r"manifest\.sig"):
        await import_bundle(target, _unsigned(bundle, tmp_path), zone="intranet", trusted_keys=TRUSTED)
    # Cut inside a member, the stream breaks; cut at a member's boundary, the signed manifest misses files: both
    # say the bundle is truncated (CI's halved bundle once landed on a boundary and said only "missing").
    with pytest.raises(BundleError, match="truncated"):
        await import_bundle(target, _truncated(bundle, tmp_path), zone="intranet", trusted_keys=TRUSTED)
    with pytest.raises(BundleError, match=r"missing from the bundle \(it is truncated"):
        await import_bundle(target, _cut_at_a_member(bundle, tmp_path), zone="intranet", trusted_keys=TRUSTED)
    # A path that is no bundle file says which mistake it is, not an OSError's text.
    with pytest.raises(BundleError, match="is a directory: give the bundle file export-bundle wrote"):
        await import_bundle(target, tmp_path, zone="intranet", trusted_keys=TRUSTED)
    with pytest.raises(BundleError, match="does not exist"):
        await import_bundle(target, tmp_path / "no-such-bundle", zone="intranet", trusted_keys=TRUSTED)
    assert await _population(target) == []  # nothing of a refused bundle was imported


async def test_a_bundle_signed_by_an_untrusted_key_is_refused(embedded, bundle: Path) -> None:  # type: ignore[no-untyped-def]
    target = await _fresh_database(embedded, "govshare_intranet")
    other = bundle_public_key(generate_keys().bundle_signing_key)
    with pytest.raises(BundleError, match=rf"not signed by a trusted key \(signed as key id {_key_id_of(TRUSTED)}; "
                                          rf"this platform trusts {_key_id_of(other)}\)"):
        await import_bundle(target, bundle, zone="intranet", trusted_keys=other)
    with pytest.raises(BundleError, match="no trusted bundle keys"):
        await import_bundle(target, bundle, zone="intranet", trusted_keys="")
    # A value that holds no public key names the setting and what belongs in it.
    with pytest.raises(BundleError, match=r"^GOVSHARE_BUNDLE_TRUSTED_KEYS \(the trusted bundle keys\): no PEM public "
                                          r"key found; it holds the extranet's bundle-signing public key"):
        await import_bundle(target, bundle, zone="intranet", trusted_keys="47f6e8ede8a30246")
    # Trusting several keys (a rotation) accepts a bundle signed by any of them.
    await import_bundle(target, bundle, zone="intranet", trusted_keys=other + TRUSTED)
    assert len(await _population(target)) == 500


async def test_a_bundle_older_than_the_last_imported_is_refused(
        platform, embedded, bundle: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    newer = tmp_path / "newer.tar.gz"
    await export_bundle(platform.settings["catalog"].database_url, newer, zone="extranet", signing_key_pem=SIGNING_KEY)
    target = await _fresh_database(embedded, "govshare_intranet")
    await import_bundle(target, newer, zone="intranet", trusted_keys=TRUSTED)
    # Replayed through the gate, the older (but genuinely signed) bundle would bring back older values.
    with pytest.raises(BundleError, match="before the newest one imported"):
        await import_bundle(target, bundle, zone="intranet", trusted_keys=TRUSTED)
    # The newest one again (a retried job) changes nothing and is no error.
    await import_bundle(target, newer, zone="intranet", trusted_keys=TRUSTED)


async def test_a_bundle_never_overwrites_the_intranets_own_classified_resource(
        embedded, bundle: Path) -> None:  # type: ignore[no-untyped-def]
    target = await _fresh_database(embedded, "govshare_intranet")
    await import_bundle(target, bundle, zone="intranet", trusted_keys=TRUSTED)
    code = demo_entries()[0].code
    conn = await asyncpg.connect(target)
    try:
        # The intranet's own classified resource under a code the extranet also uses.
        await conn.execute("UPDATE catalog.entry_versions SET zone = 2, secrecy = 2, name = '涉密资源' WHERE code = $1",
                           code)
        with pytest.raises(BundleError, match=f"{code}.*holds as its own"):
            await import_bundle(target, bundle, zone="intranet", trusted_keys=TRUSTED)
        rows = await conn.fetch("SELECT zone, secrecy, name FROM catalog.entry_versions WHERE code = $1", code)
    finally:
        await conn.close()
    assert [tuple(r) for r in rows] == [(2, 2, "涉密资源")]  # left as the intranet holds it, not declassified


async def test_a_bundle_carrying_a_classified_resource_is_refused_whole(
        embedded, bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """An extranet that held a classified resource against R-ZON-2 and exported it with a release whose export did
    not filter it: the signature is good, the content is not for the extranet to send."""
    extranet = await _fresh_database(embedded, "govshare_extranet")
    await import_bundle(extranet, bundle, zone="intranet", trusted_keys=TRUSTED)  # the extranet's catalog, copied
    code = demo_entries()[0].code
    conn = await asyncpg.connect(extranet)
    try:
        await conn.execute("UPDATE catalog.entry_versions SET secrecy = 2 WHERE code = $1", code)
    finally:
        await conn.close()
    unfiltered = tuple(dataclasses.replace(t, select=t.select.replace(f"AND p.secrecy <> {bundle_module.CLASSIFIED}",
                                                                      "").replace("AND v.secrecy <> 2", ""))
                       for t in bundle_module.TABLES)
    monkeypatch.setattr(bundle_module, "TABLES", unfiltered)
    leaked = tmp_path / "leaked.tar.gz"
    await export_bundle(extranet, leaked, zone="extranet", signing_key_pem=SIGNING_KEY)
    target = await _fresh_database(embedded, "govshare_intranet")
    with pytest.raises(BundleError, match=rf"classified or intranet-zone resource version\(s\) {code} v1: .*R-ZON-2"):
        await import_bundle(target, leaked, zone="intranet", trusted_keys=TRUSTED)
    assert await _population(target) == []  # nothing of it imported


async def test_a_bundle_from_a_platform_of_another_release_names_the_migrations_that_differ(
        embedded, bundle: Path) -> None:  # type: ignore[no-untyped-def]
    target = await _fresh_database(embedded, "govshare_intranet")
    conn = await asyncpg.connect(target)
    try:  # this intranet upgraded to a release with one more catalog migration, and one foundation one not yet
        await conn.execute("INSERT INTO catalog.schema_migrations (name, checksum) VALUES ('999_next.sql', '')")
        last = await conn.fetchval("DELETE FROM foundation.schema_migrations WHERE name = "
                                   "(SELECT max(name) FROM foundation.schema_migrations) RETURNING name")
    finally:
        await conn.close()
    with pytest.raises(BundleError) as refused:
        await import_bundle(target, bundle, zone="intranet", trusted_keys=TRUSTED)
    assert str(refused.value) == (
        f"schema versions differ: the extranet that exported it has migration(s) foundation {last} that this "
        "intranet lacks; this intranet has migration(s) catalog 999_next.sql that the extranet lacked: upgrade both "
        "platforms to the same release, then export a new bundle")
    assert await _population(target) == []


async def test_a_refused_bundle_is_in_the_administrative_log(
        platform, embedded, bundle: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    target = await _fresh_database(embedded, "govshare_intranet")
    with pytest.raises(BundleError, match="altered after it was signed"):
        await import_bundle(target, _redigested(bundle, tmp_path), zone="intranet", trusted_keys=TRUSTED)
    with pytest.raises(BundleError, match="truncated"):
        await import_bundle(target, _truncated(bundle, tmp_path), zone="intranet", trusted_keys=TRUSTED)
    newer = tmp_path / "newer.tar.gz"
    await export_bundle(platform.settings["catalog"].database_url, newer, zone="extranet", signing_key_pem=SIGNING_KEY)
    await import_bundle(target, newer, zone="intranet", trusted_keys=TRUSTED)
    with pytest.raises(BundleError, match="before the newest one imported"):
        await import_bundle(target, bundle, zone="intranet", trusted_keys=TRUSTED)
    conn = await asyncpg.connect(target)
    try:
        rows = await conn.fetch("SELECT target, result, details FROM catalog.admin_outbox "
                                "WHERE action = 'bundle.import' ORDER BY id")
    finally:
        await conn.close()
    # Each names the file and who ran the command (the actor is the command itself): OK or refused.
    assert [(r["result"], json.loads(r["details"])["file"], json.loads(r["details"])["run_by"]) for r in rows] == [
        ("REFUSED", "redigested.tar.gz", run_by()), ("REFUSED", "truncated.tar.gz", run_by()),
        ("OK", "newer.tar.gz", run_by()), ("REFUSED", "bundle.tar.gz", run_by())]
    assert run_by() == f"{getpass.getuser()}@{socket.gethostname()}"
    assert rows[0]["target"] == "redigested.tar.gz"  # unverified: named by its file, never trusted data
    assert len(rows[3]["target"]) == 64 and "before the newest one imported" in json.loads(rows[3]["details"])["reason"]


async def test_an_export_is_in_the_extranets_administrative_log(platform, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = platform.settings["catalog"].database_url
    out = tmp_path / "logged.tar.gz"
    await export_bundle(url, out, zone="extranet", signing_key_pem=SIGNING_KEY)
    with tarfile.open(out, "r:gz") as archive:
        digest = hashlib.sha256(archive.extractfile("manifest.json").read()).hexdigest()  # type: ignore[union-attr]
    conn = await asyncpg.connect(url)
    try:  # relayed from the outbox to the log: either holds it, both while the relay is between its two steps
        rows = await conn.fetch(
            "SELECT DISTINCT ON (event_id) actor_system_id, details FROM (SELECT event_id, actor_system_id, details"
            " FROM catalog.admin_outbox WHERE action = 'bundle.export' AND target = $1 UNION ALL SELECT event_id,"
            " actor_system_id, details::text FROM \"authorization\".admin_log WHERE action = 'bundle.export'"
            " AND target = $1) AS logged", digest)
    finally:
        await conn.close()
    assert len(rows) == 1 and rows[0]["actor_system_id"] == "cli:govshare-export-bundle"
    assert json.loads(rows[0]["details"])["file"] == "logged.tar.gz"
    assert json.loads(rows[0]["details"])["run_by"] == run_by()


def _cli_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVSHARE_")}
    return {**env, **settings}


def test_import_bundle_refuses_when_the_zone_is_not_stated(bundle: Path, intranet_url: str, redis_url: str,
                                                           tmp_path: Path) -> None:
    env = _cli_env(GOVSHARE_DATABASE_URL=intranet_url, GOVSHARE_REDIS_URL=redis_url,
                   GOVSHARE_BUNDLE_TRUSTED_KEYS=TRUSTED, GOVSHARE_DATA_DIR=str(tmp_path))
    result = subprocess.run([sys.executable, "-m", "services.cli", "import-bundle", "--in", str(bundle)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode != 0, result.stdout
    assert "GOVSHARE_ZONE is not set" in result.stderr
    stated = subprocess.run([sys.executable, "-m", "services.cli", "import-bundle", "--in", str(bundle)],
                            cwd=ROOT, env={**env, "GOVSHARE_ZONE": "intranet"}, capture_output=True, text=True,
                            timeout=120, check=False)
    assert stated.returncode == 0, stated.stderr
    assert json.loads(stated.stdout)["imported"]["foundation.population.copy"] == 500


# ---- an intranet query path sees an import at once ---------------------------------------------------------

INTRANET_SERVICES = {
    "catalog": "services.catalog.component",
    "foundation": "services.foundation.component",
    "authorization": "services.authorization.component",
    "query": "services.query.component",
}


@pytest.fixture
async def intranet(embedded, base_settings: Settings) -> AsyncIterator[tuple[str, Settings, dict]]:  # type: ignore[no-untyped-def]
    """Catalog, foundation, authorization and query of an intranet deployment on its own empty database."""
    url = await _fresh_database(embedded, "govshare_intranet")
    servers: dict[str, RunningServer] = {}
    targets: dict[str, str] = {}
    try:
        for name, module in INTRANET_SERVICES.items():
            own = base_settings.with_overrides(component=name, zone="intranet", database_url=url, **targets)
            servers[name] = await start_server(own, importlib.import_module(module).create_component(own))
            targets[f"{name}_target"] = f"127.0.0.1:{servers[name].port}"
        yield url, base_settings.with_overrides(zone="intranet", database_url=url), servers
    finally:
        for server in reversed(list(servers.values())):
            await server.stop(0)


async def _query(servers: dict, settings: Settings, key: str) -> grpc.StatusCode:
    caller = Caller(system_id="sys-bundle-test", department_code=DEPARTMENTS[0].code)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{servers['query'].port}") as channel:
        try:
            await query_pb2_grpc.QueryServiceStub(channel).Query(query_pb2.QueryRequest(
                resource_code="102001/000001", key=key, items=["credit_code", "name"],
                purpose=common_pb2.Purpose(type=common_pb2.PURPOSE_TYPE_WORK_REFERENCE, text="bundle test")),
                metadata=CallerMetadata.of(settings).metadata(caller), timeout=10)
        except grpc.aio.AioRpcError as exc:
            return exc.code()
    return grpc.StatusCode.OK


async def test_imported_entries_and_records_answer_at_once(intranet, bundle: Path, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    url, settings, servers = intranet
    key = credit_code_of(0)
    # Before any import the intranet knows no such resource (and its caches remember that).
    assert await _query(servers, settings, key) == grpc.StatusCode.NOT_FOUND
    await import_bundle(url, bundle, zone="intranet", trusted_keys=TRUSTED, redis_url=redis_url)
    assert await _query(servers, settings, key) == grpc.StatusCode.OK
    # A record the intranet lacks (added on the extranet since the last bundle) is not found, and remembered so…
    missing = credit_code_of(1)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DELETE FROM foundation.legal_entity WHERE credit_code = $1", missing)
    finally:
        await conn.close()
    assert await _query(servers, settings, missing) == grpc.StatusCode.NOT_FOUND
    # …until the next bundle brings it: then it answers at once.
    await import_bundle(url, bundle, zone="intranet", trusted_keys=TRUSTED, redis_url=redis_url)
    assert await _query(servers, settings, missing) == grpc.StatusCode.OK


# ---- both directions stream ---------------------------------------------------------------------------------

BIG_PERSONS = 40_000


async def test_export_and_import_stream_instead_of_holding_the_snapshot(embedded, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = await _fresh_database(embedded, "govshare_big")
    conn = await asyncpg.connect(source)
    try:
        await conn.execute(
            "INSERT INTO foundation.population (citizen_id, name, sex, ethnicity, birth_date, address, "
            "address_region_code, status, source_department_code, as_of_time) "
            "SELECT lpad(g::text, 18, '0'), md5(g::text), '1', '汉族', date '1990-01-01', "
            "md5(g::text) || md5((g + 1)::text) || md5((g + 2)::text), '110105', '正常', 'X', now() "
            f"FROM generate_series(1, {BIG_PERSONS}) g")
    finally:
        await conn.close()
    out = tmp_path / "big.tar.gz"
    tracemalloc.start()
    try:
        await export_bundle(source, out, zone="extranet", signing_key_pem=SIGNING_KEY)
        export_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        target = await _fresh_database(embedded, "govshare_intranet")
        base = tracemalloc.get_traced_memory()[0]
        await import_bundle(target, out, zone="intranet", trusted_keys=TRUSTED)
        import_peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    population = next(m.size for m, _ in _members(out) if m.name == "foundation.population.copy")
    assert population > 8 * 1024 * 1024  # big enough that holding it shows
    assert export_peak < population / 4, (export_peak, population)
    assert import_peak < population / 4, (import_peak, population)
    conn = await asyncpg.connect(target)
    try:
        assert await conn.fetchval("SELECT count(*) FROM foundation.population") == BIG_PERSONS
    finally:
        await conn.close()
