"""The one-way data path from the extranet platform to the intranet one (R-ZON-3).

Data may move extranet → intranet (through a network gate that carries files), never back. The
extranet exports its published, non-classified catalog entries and the foundation databases into a
bundle — a tar.gz of PostgreSQL binary COPY files plus a manifest with each file's SHA-256 — and a
sidecar ``<bundle>.sha256`` with the digest of the whole archive. The intranet checks both digests and
that both sides run the same schema migrations, then upserts every row in one transaction: a
corrupted or partial bundle changes nothing.

Only the tables listed in TABLES travel. Drafts, classified entries, audit logs, grants, credentials and
conflicts never leave the extranet.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

import asyncpg

BUNDLE_FORMAT = 1
EXTRANET_ZONE = 1  # govshare.common.v1.Zone.ZONE_EXTRANET
CLASSIFIED = 2  # govshare.catalog.v1.Secrecy.SECRECY_CLASSIFIED
PUBLIC_STATES = (3, 5, 6)  # PUBLISHED, RETIRED, SUPERSEDED

_SHAREABLE_ENTRY = f"""
    e.public_version IS NOT NULL AND EXISTS (
        SELECT 1 FROM catalog.entry_versions p WHERE p.code = e.code AND p.version = e.public_version
        AND p.zone = {EXTRANET_ZONE} AND p.secrecy <> {CLASSIFIED})"""


class BundleError(Exception):
    """The bundle cannot be written or must not be imported; the message says why."""


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    key: tuple[str, ...]
    #: What the extranet exports: a SELECT whose columns are the table's, in order.
    select: str

    @property
    def qualified(self) -> str:
        return f'"{self.schema}"."{self.name}"'

    @property
    def file(self) -> str:
        return f"{self.schema}.{self.name}.copy"


def _all(schema: str, name: str) -> str:
    return f'SELECT * FROM "{schema}"."{name}"'


TABLES = (
    Table("catalog", "entries", ("code",),
          "SELECT e.code, e.provider_department_code, e.public_version AS latest_version, e.public_version, "
          f"e.create_time FROM catalog.entries e WHERE {_SHAREABLE_ENTRY}"),
    Table("catalog", "entry_versions", ("code", "version"),
          "SELECT v.* FROM catalog.entry_versions v JOIN catalog.entries e USING (code) "
          f"WHERE {_SHAREABLE_ENTRY} AND v.version <= e.public_version AND v.state IN {PUBLIC_STATES} "
          f"AND v.zone = {EXTRANET_ZONE} AND v.secrecy <> {CLASSIFIED}"),
    Table("foundation", "datasets", ("name",), _all("foundation", "datasets")),
    *(Table("foundation", name, (key,), _all("foundation", name)) for name, key in (
        ("population", "citizen_id"), ("legal_entity", "credit_code"), ("region", "region_code"),
        ("place", "place_code"), ("licence", "licence_number"))),
)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def _migrations(conn: asyncpg.Connection) -> dict[str, list[str]]:
    """Applied migrations of the schemas that travel: both sides must agree on the tables' shape."""
    schemas = sorted({t.schema for t in TABLES})
    return {schema: [r["name"] for r in await conn.fetch(
        f'SELECT name FROM "{schema}".schema_migrations ORDER BY name')] for schema in schemas}


async def export_bundle(database_url: str, out: Path, zone: str = "extranet") -> dict:
    """Writes the bundle and its sidecar digest; only an extranet deployment exports."""
    if zone != "extranet":
        raise BundleError(f"export-bundle runs on the extranet only (this deployment is {zone}): "
                          "data never moves from the intranet to the extranet")
    conn = await asyncpg.connect(database_url)
    try:
        files: dict[str, bytes] = {}
        rows: dict[str, int] = {}
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            migrations = await _migrations(conn)
            for table in TABLES:
                buffer = io.BytesIO()
                status = await conn.copy_from_query(table.select, output=buffer, format="binary")
                files[table.file] = buffer.getvalue()
                rows[table.file] = int(status.split()[-1])  # "COPY <rows>": no second scan to count them
    finally:
        await conn.close()
    manifest = {
        "format": BUNDLE_FORMAT, "zone": zone, "created": dt.datetime.now(dt.UTC).isoformat(),
        "migrations": migrations,
        "files": {name: {"sha256": _sha256(data), "rows": rows[name]} for name, data in files.items()},
    }
    digest = _write_archive(out, manifest, files)
    return {"bundle": str(out), "sha256": digest, "rows": rows}


def _write_archive(out: Path, manifest: dict, files: dict[str, bytes]) -> str:
    """Writes the archive and its sidecar digest; returns the digest."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w:gz") as archive:
        for name, data in {"manifest.json": json.dumps(manifest, indent=2).encode(), **files}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    digest = _sha256(out.read_bytes())
    Path(f"{out}.sha256").write_text(f"{digest}  {out.name}\n", encoding="utf-8")
    return digest


def _read_bundle(path: Path) -> tuple[dict, dict[str, bytes]]:
    """The manifest and files of a bundle whose digests all check out, else BundleError."""
    sidecar = Path(f"{path}.sha256")
    if not sidecar.exists():
        raise BundleError(f"{sidecar.name} is missing: a bundle is imported only with its digest")
    expected = sidecar.read_text(encoding="utf-8").split()[0]
    if _sha256(path.read_bytes()) != expected:
        raise BundleError(f"{path.name} does not match its SHA-256 digest: corrupted or altered in transit")
    try:
        with tarfile.open(path, "r:gz") as archive:
            contents = {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}
    except (tarfile.TarError, OSError) as exc:
        raise BundleError(f"{path.name} is not a readable bundle: {exc}") from exc
    manifest = json.loads(contents.pop("manifest.json", b"{}"))
    if manifest.get("format") != BUNDLE_FORMAT or manifest.get("zone") != "extranet":
        raise BundleError("not an extranet bundle of a format this version reads")
    for name, meta in manifest.get("files", {}).items():
        if name not in contents or _sha256(contents[name]) != meta["sha256"]:
            raise BundleError(f"{name}: missing or does not match the manifest's digest")
    return manifest, contents


async def _upsert(conn: asyncpg.Connection, table: Table, data: bytes) -> None:
    columns = [r["column_name"] for r in await conn.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 "
        "ORDER BY ordinal_position", table.schema, table.name)]
    staging = f"bundle_{table.schema}_{table.name}"
    await conn.execute(f'CREATE TEMP TABLE "{staging}" (LIKE {table.qualified}) ON COMMIT DROP')
    await conn.copy_to_table(staging, source=io.BytesIO(data), format="binary")
    updates = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in columns if c not in table.key) or None
    conflict = f'ON CONFLICT ({", ".join(table.key)}) ' + (f"DO UPDATE SET {updates}" if updates else "DO NOTHING")
    await conn.execute(f'INSERT INTO {table.qualified} SELECT * FROM "{staging}" {conflict}')


async def import_bundle(database_url: str, path: Path, zone: str = "intranet") -> dict:
    """Verifies and imports a bundle in one transaction; only an intranet deployment imports."""
    if zone != "intranet":
        raise BundleError(f"import-bundle runs on the intranet only (this deployment is {zone})")
    manifest, contents = _read_bundle(path)
    conn = await asyncpg.connect(database_url)
    try:
        if (ours := await _migrations(conn)) != manifest["migrations"]:
            raise BundleError(f"schema versions differ (bundle {manifest['migrations']}, here {ours}): "
                              "upgrade both platforms to the same release first")
        async with conn.transaction():
            for table in TABLES:
                if table.file in contents:
                    await _upsert(conn, table, contents[table.file])
    finally:
        await conn.close()
    return {"imported": {name: meta["rows"] for name, meta in manifest["files"].items()},
            "created": manifest["created"]}
