"""The one-way data path from the extranet platform to the intranet one (R-ZON-3).

Data may move extranet → intranet (through a network gate that carries files), never back. The
extranet exports its published, non-classified catalog entries and the foundation databases into a
bundle: a tar.gz whose first member is a manifest (format, zone, creation time, schema migrations and
each file's SHA-256 and row count), whose second is the manifest's Ed25519 signature by the extranet
platform's bundle-signing key, followed by one PostgreSQL binary COPY file per table.

A digest alone proves nothing: whoever can change a byte can recompute it. The intranet imports only a
bundle whose manifest verifies under one of the public keys it was configured to trust
(``GOVSHARE_BUNDLE_TRUSTED_KEYS``), and only data whose digests match that signed manifest. The key is
its own, not the token-signing key, so the export job never holds a key that mints bearer tokens.

Both directions stream: export COPYs each table to a private temporary file (hashing as it goes) and
then writes the archive; import reads the archive member by member, hashing each file while it COPYs it
into a staging table, and upserts everything in one transaction that a digest mismatch rolls back: a
corrupted, partial or forged bundle changes nothing. After the commit the import drops the services'
cached copies (RECORDS_CHANGED, CATALOG_CHANGED): imported entries and records answer at once.

Only the tables listed in TABLES travel. Drafts, classified entries, audit logs, grants, credentials and
conflicts never leave the extranet.
"""

from __future__ import annotations

import base64
import datetime as dt
import getpass
import gzip
import hashlib
import json
import os
import socket
import tarfile
import tempfile
import zlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import asyncpg
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from redis.exceptions import RedisError

from services.runtime import admin_events
from services.runtime.admin_events import AdminEvent
from services.runtime.files import open_private
from services.runtime.keys import ed25519_private_key, ed25519_public_keys

BUNDLE_FORMAT = 2
#: Who the administrative log names for an import: the operator's command, not a business system.
IMPORT_ACTOR = "cli:govshare-import-bundle"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
CHUNK = 256 * 1024
EXTRANET_ZONE = 1  # govshare.common.v1.Zone.ZONE_EXTRANET
INTRANET_ZONE = 2  # govshare.common.v1.Zone.ZONE_INTRANET
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


def run_by() -> str:
    """Who ran the command, as ``user@host``: the log's actor is the command itself (no person signs in to run
    it), so this is what tells an operator at a console from the CronJob's pod (its host name is the Job's pod).
    A container user without a passwd entry is named by its uid."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid {os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def _key_id(public: Ed25519PublicKey) -> str:
    """A short name for a public key, so a refusal can say which key signed (never the key itself)."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_signing_key(pem: str) -> Ed25519PrivateKey:
    """The extranet's bundle-signing key from PEM, or BundleError saying what is wrong with it."""
    try:
        return ed25519_private_key(pem)
    except ValueError as exc:
        raise BundleError(f"the bundle-signing key: {exc}") from None


def load_trusted_keys(pem_blocks: str) -> list[Ed25519PublicKey]:
    """The public keys in ``pem_blocks`` (one or more concatenated PEM blocks; none: []), or BundleError."""
    if not pem_blocks.strip():
        return []
    try:
        return ed25519_public_keys(pem_blocks)
    except ValueError as exc:
        # Named as the operator sets it: "the trusted bundle keys" said neither which setting nor what belongs there.
        raise BundleError(f"GOVSHARE_BUNDLE_TRUSTED_KEYS (the trusted bundle keys): {exc}; it holds the extranet's "
                          "bundle-signing public key(s), PEM (bundle-public.pem of the extranet's data directory, "
                          "or the cluster's bundle-trusted-keys)") from None


async def _migrations(conn: asyncpg.Connection) -> dict[str, list[str]]:
    """Applied migrations of the schemas that travel: both sides must agree on the tables' shape."""
    schemas = sorted({t.schema for t in TABLES})
    return {schema: [r["name"] for r in await conn.fetch(
        f'SELECT name FROM "{schema}".schema_migrations ORDER BY name')] for schema in schemas}


async def export_bundle(database_url: str, out: Path, zone: str, signing_key_pem: str) -> dict:
    """Writes the signed bundle (mode 0600); only an extranet deployment exports."""
    if zone != "extranet":
        # No command name in it: the command prefixes its own ("export-bundle: export-bundle runs on …" before).
        raise BundleError(f"bundles are exported on the extranet only (this deployment is {zone or 'of no zone'}): "
                          "data never moves from the intranet to the extranet")
    key = load_signing_key(signing_key_pem)
    _check_out(out)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".govshare-export-") as spool:
        files: dict[str, dict] = {}
        conn = await asyncpg.connect(database_url)
        try:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                migrations = await _migrations(conn)
                for table in TABLES:
                    files[table.file] = await _spool_table(conn, table, Path(spool) / table.file)
        finally:
            await conn.close()
        manifest = json.dumps({
            "format": BUNDLE_FORMAT, "zone": zone, "created": dt.datetime.now(dt.UTC).isoformat(),
            "migrations": migrations, "files": files,
        }, indent=2).encode()
        signature = json.dumps({"algorithm": "Ed25519", "key_id": _key_id(key.public_key()),
                                "signature": base64.b64encode(key.sign(manifest)).decode()}).encode()
        _write_archive(out, manifest, signature, [(name, Path(spool) / name) for name in files])
    await _record_export(database_url, out, hashlib.sha256(manifest).hexdigest(), _key_id(key.public_key()), files)
    return {"bundle": str(out), "key_id": _key_id(key.public_key()),
            "rows": {name: meta["rows"] for name, meta in files.items()}}


def _check_out(out: Path) -> None:
    """Refuses, before anything is read, an ``--out`` the bundle cannot be written to. Found at the end, after
    every table was spooled, it surfaced as the OSError of a temporary name the operator never gave
    ('IsADirectoryError: … '/x/.outbox.partial' -> '/x/outbox'')."""
    if out.is_dir():
        raise BundleError(f"{out} is a directory: give the bundle's file name, such as "
                          f"{out / 'govshare-bundle-YYYYMMDDTHHMMSSZ.tar.gz'}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=out.parent).close()
    except OSError as exc:
        raise BundleError(f"cannot write the bundle in {out.parent}: {exc.strerror or exc}") from None


#: Who the extranet's administrative log names for an export.
EXPORT_ACTOR = "cli:govshare-export-bundle"


async def _record_export(database_url: str, out: Path, manifest_sha256: str, key_id: str,
                         files: dict[str, dict]) -> None:
    """Writes the export to the extranet's administrative log (``bundle.export``, target the manifest digest the
    intranet's ``bundle.import`` names): the bundle carries every person's foundation record out of the
    platform, so who wrote which bundle must be on record as the import is."""
    conn = await asyncpg.connect(database_url)
    try:
        await admin_events.record(conn, AdminEvent(
            action="bundle.export", target=manifest_sha256, actor_system_id=EXPORT_ACTOR, actor_department_code="",
            details={"file": out.name, "run_by": run_by(), "key_id": key_id,
                     "rows": {n: m["rows"] for n, m in files.items()}}),
            schema="catalog")  # relayed by the extranet catalog service
    finally:
        await conn.close()


async def _spool_table(conn: asyncpg.Connection, table: Table, path: Path) -> dict:
    """COPYs one table to a private file, hashing while it streams; returns its digest and row count."""
    digest = hashlib.sha256()
    with path.open("wb") as spool:
        async def write(chunk: bytes) -> None:
            digest.update(chunk)
            spool.write(chunk)

        status = await conn.copy_from_query(table.select, output=write, format="binary")
    return {"sha256": digest.hexdigest(), "rows": int(status.split()[-1])}  # "COPY <rows>": no second scan


def _write_archive(out: Path, manifest: bytes, signature: bytes, files: Sequence[tuple[str, Path]]) -> None:
    """The archive, readable by its owner only, under ``out``'s name once it is whole: written under a hidden
    ``.<name>.partial`` beside it and renamed, so a gate (or an operator) watching the directory never takes a
    half-written bundle, whether the export was killed, ran out of space or failed. The manifest and its
    signature come first, so import can check them before it reads a byte of data."""
    partial = out.with_name(f".{out.name}.partial")
    try:
        _write_members(partial, manifest, signature, files)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)


def _write_members(out: Path, manifest: bytes, signature: bytes, files: Sequence[tuple[str, Path]]) -> None:
    """The manifest, its signature and every table's file, in that order, into a new private tar.gz."""
    with open_private(out, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as archive:
        for name, data in ((MANIFEST, manifest), (SIGNATURE, signature)):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o600
            archive.addfile(info, _BytesReader(data))
        for name, path in files:
            info = tarfile.TarInfo(name)
            info.size, info.mode = path.stat().st_size, 0o600
            with path.open("rb") as source:
                archive.addfile(info, source)


class _BytesReader:
    """A minimal file object over bytes (tarfile reads members through ``read``)."""

    def __init__(self, data: bytes) -> None:
        self._data, self._offset = data, 0

    def read(self, size: int = -1) -> bytes:
        end = len(self._data) if size < 0 else self._offset + size
        chunk, self._offset = self._data[self._offset:end], min(end, len(self._data))
        return chunk


def _verified_manifest(archive: tarfile.TarFile, trusted: Sequence[Ed25519PublicKey]) -> dict:
    """The manifest at the head of the archive, if one of the trusted keys signed it; else BundleError."""
    manifest_bytes = _small_member(archive, MANIFEST)
    try:
        signature = json.loads(_small_member(archive, SIGNATURE))
        raw = base64.b64decode(signature["signature"], validate=True)
    except (ValueError, KeyError, TypeError):
        raise BundleError("the bundle's signature is unreadable") from None
    for key in trusted:
        try:
            key.verify(raw, manifest_bytes)
        except InvalidSignature:
            continue
        signer = _key_id(key)
        break
    else:
        raise BundleError(_unverified(str(signature.get("key_id", "?"))[:16], [_key_id(k) for k in trusted]))
    manifest = json.loads(manifest_bytes)
    if manifest.get("format") != BUNDLE_FORMAT or manifest.get("zone") != "extranet":
        raise BundleError("not an extranet bundle of a format this version reads")
    known = {table.file for table in TABLES}
    if not set(manifest.get("files", {})) <= known:
        raise BundleError("the manifest lists files this version does not import")
    manifest["_sha256"], manifest["_key_id"] = hashlib.sha256(manifest_bytes).hexdigest(), signer
    return manifest


def _unverified(claimed: str, trusted: Sequence[str]) -> str:
    """Why no trusted key verifies the manifest. When it names a key this platform trusts, the key is not what is
    wrong (saying "not signed by a trusted key" there sent the operator to the keys while both lists showed the
    same id): the manifest or its signature was changed after signing."""
    if claimed in trusted:
        return (f"the bundle's manifest was altered after it was signed: its signature by trusted key id {claimed} "
                "does not verify (a changed byte, digests recomputed, or a forged signature); copy the bundle again "
                "from the extranet's outbox and find who changed it")
    return (f"the bundle is not signed by a trusted key (signed as key id {claimed}; this platform trusts "
            f"{', '.join(trusted)}): from another platform, or signed by a new key GOVSHARE_BUNDLE_TRUSTED_KEYS "
            "does not list yet")


def _small_member(archive: tarfile.TarFile, name: str) -> bytes:
    member = archive.next()
    if member is None or member.name != name or not member.isfile() or member.size > CHUNK:
        raise BundleError(f"not a signed bundle: {name} is not where it belongs (at the head of the archive)")
    return archive.extractfile(member).read()  # type: ignore[union-attr]


async def _hashed(source: IO[bytes], digest: hashlib._Hash) -> AsyncIterator[bytes]:
    """The member's bytes in chunks, hashed on the way to COPY."""
    while chunk := source.read(CHUNK):
        digest.update(chunk)
        yield chunk


async def _upsert(conn: asyncpg.Connection, table: Table, source: IO[bytes], expected: dict) -> None:
    """Streams one file into a staging table, checks it against the signed manifest, then upserts it."""
    # Generated columns (catalog.entries.current_version) travel as what they are computed from.
    columns = [r["column_name"] for r in await conn.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 "
        "AND is_generated = 'NEVER' ORDER BY ordinal_position", table.schema, table.name)]
    listed = ", ".join(f'"{c}"' for c in columns)
    staging = f"bundle_{table.schema}_{table.name}"
    await conn.execute(f'CREATE TEMP TABLE "{staging}" ON COMMIT DROP AS SELECT {listed} FROM {table.qualified}'
                       " WITH NO DATA")
    digest = hashlib.sha256()
    try:
        status = await conn.copy_to_table(staging, source=_hashed(source, digest), format="binary")
    except asyncpg.PostgresError:
        raise BundleError(f"{table.file} does not match the manifest's digest (unreadable COPY data)") from None
    if digest.hexdigest() != expected["sha256"] or int(status.split()[-1]) != expected["rows"]:
        raise BundleError(f"{table.file} does not match the manifest's digest")
    if table.file == "catalog.entries.copy":
        await _refuse_intranet_own_entries(conn, staging)
    if table.file == "catalog.entry_versions.copy":
        await _refuse_classified_versions(conn, staging)
    updates = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in columns if c not in table.key) or None
    conflict = f'ON CONFLICT ({", ".join(table.key)}) ' + (f"DO UPDATE SET {updates}" if updates else "DO NOTHING")
    await conn.execute(f'INSERT INTO {table.qualified} ({listed}) SELECT {listed} FROM "{staging}" {conflict}')


async def _refuse_classified_versions(conn: asyncpg.Connection, staging: str) -> None:
    """Refuses a bundle carrying a classified or intranet-zone version. The export never writes one, but a bundle
    is trusted for its signature, not its content: an extranet that held a classified resource against R-ZON-2
    (entered there by mistake, an older release's export) would otherwise land it here as an extranet resource,
    and every later bundle be refused for clashing with it (_refuse_intranet_own_entries)."""
    found = [f"{r['code']} v{r['version']}" for r in await conn.fetch(
        f'SELECT code, version FROM "{staging}" WHERE zone <> {EXTRANET_ZONE} OR secrecy = {CLASSIFIED} '
        "ORDER BY code, version LIMIT 10")]
    if found:
        raise BundleError(f"the bundle carries classified or intranet-zone resource version(s) {', '.join(found)}: "
                          "such a resource exists only on the intranet (R-ZON-2) and never travels from the "
                          "extranet; nothing was imported — report the extranet's copy to its security officer")


async def _refuse_intranet_own_entries(conn: asyncpg.Connection, staging: str) -> None:
    """Refuses a bundle carrying a code the intranet holds as its own (intranet-zone or classified) resource:
    the upsert would silently replace that resource's versions with the extranet's, declassifying it."""
    clashes = [r["code"] for r in await conn.fetch(
        f'SELECT DISTINCT v.code FROM "{staging}" s JOIN catalog.entry_versions v USING (code) '
        f"WHERE v.zone = {INTRANET_ZONE} OR v.secrecy = {CLASSIFIED} ORDER BY v.code LIMIT 10")]
    if clashes:
        raise BundleError(f"the bundle carries resource code(s) {', '.join(clashes)} that this intranet holds as its "
                          "own (intranet-zone or classified) resource: importing would overwrite it with the "
                          "extranet's; a resource code must be unique across both platforms (re-code one of them)")


async def import_bundle(database_url: str, path: Path, zone: str, trusted_keys: str,
                        redis_url: str | None = None) -> dict:
    """Verifies and imports a bundle in one transaction, then tells the services' caches; only an intranet
    deployment imports, and only bundles signed by a key in ``trusted_keys`` (PEM blocks)."""
    if zone != "intranet":
        raise BundleError(f"import-bundle runs on the intranet only (this deployment is {zone or 'of no zone'}: "
                          "set GOVSHARE_ZONE=intranet)")
    trusted = load_trusted_keys(trusted_keys)
    if not trusted:
        raise BundleError("no trusted bundle keys: set GOVSHARE_BUNDLE_TRUSTED_KEYS to the extranet platform's "
                          "bundle-signing public key")
    conn = await asyncpg.connect(database_url)
    manifest: dict = {}  # once its signature is checked
    try:
        with tarfile.open(path, "r|gz") as archive:
            manifest = _verified_manifest(archive, trusted)
            await _import_files(conn, archive, manifest, path)
    except FileNotFoundError:
        raise BundleError(f"{path} does not exist") from None
    except IsADirectoryError:
        raise BundleError(f"{path} is a directory: give the bundle file export-bundle wrote") from None
    except PermissionError:
        raise BundleError(f"{path} cannot be read by this user") from None
    except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        reason = f"{path.name} is not a readable bundle (truncated or corrupted): {exc}"
        await _record_refusal(conn, path, manifest, reason)
        raise BundleError(reason) from None
    except BundleError as exc:
        await _record_refusal(conn, path, manifest, str(exc))
        raise
    finally:
        await conn.close()
    announced = await _announce(redis_url) if redis_url else False
    return {"imported": {name: meta["rows"] for name, meta in manifest["files"].items()},
            "created": manifest["created"], "caches_told": announced}


async def _import_files(conn: asyncpg.Connection, archive: tarfile.TarFile, manifest: dict, path: Path) -> None:
    """Every file of the verified manifest, streamed into one transaction; anything else rolls it back."""
    tables = {table.file: table for table in TABLES}
    if (ours := await _migrations(conn)) != manifest["migrations"]:
        raise BundleError(_schema_difference(manifest["migrations"], ours))
    seen: set[str] = set()
    async with conn.transaction():
        await _record_import(conn, manifest)
        await admin_events.record(conn, AdminEvent(
            action="bundle.import", target=manifest["_sha256"], actor_system_id=IMPORT_ACTOR,
            actor_department_code="", details={"file": path.name, "run_by": run_by(), "created": manifest["created"],
                                               "key_id": manifest["_key_id"],
                                               "rows": {n: m["rows"] for n, m in manifest["files"].items()}}),
            schema="catalog")  # relayed by the intranet catalog service, like its own actions
        while (member := archive.next()) is not None:  # the members after the manifest and its signature
            expected = manifest["files"].get(member.name)
            if expected is None or member.name in seen or not member.isfile():
                raise BundleError(f"{member.name}: not in the signed manifest")
            seen.add(member.name)
            await _upsert(conn, tables[member.name], archive.extractfile(member), expected)  # type: ignore[arg-type]
        if missing := set(manifest["files"]) - seen:
            # A bundle cut off at a member's boundary reads as a shorter archive, not as a broken one (tarfile's
            # stream mode ends at the short header): the signed manifest is what shows the rest never came.
            raise BundleError(f"{', '.join(sorted(missing))}: missing from the bundle (it is truncated or was "
                              "repacked after it was signed): copy the bundle again, checking its .sha256")


def _schema_difference(theirs: dict[str, list[str]], ours: dict[str, list[str]]) -> str:
    """Which platform is behind, naming the migrations only one side has. Printing both whole lists (every
    migration of both schemas, twice) gave the operator a line of a thousand characters to diff by eye, at the
    moment it matters most: one platform upgraded before the other."""
    ahead = [f"{schema} {name}" for schema in sorted(theirs) for name in theirs[schema]
             if name not in ours.get(schema, [])]
    behind = [f"{schema} {name}" for schema in sorted(ours) for name in ours[schema]
              if name not in theirs.get(schema, [])]
    said = []
    if ahead:
        said.append(f"the extranet that exported it has migration(s) {', '.join(ahead[:5])} that this intranet lacks")
    if behind:
        said.append(f"this intranet has migration(s) {', '.join(behind[:5])} that the extranet lacked")
    return (f"schema versions differ: {'; '.join(said) or 'the migrations were applied in another order'}: "
            "upgrade both platforms to the same release, then export a new bundle")


async def _record_refusal(conn: asyncpg.Connection, path: Path, manifest: dict, reason: str) -> None:
    """Writes a refused bundle to the administrative log (result REFUSED): a forged, altered or replayed bundle
    at the gate is a security event, and the import's own record rolled back with it. ``manifest`` is empty when
    the refusal came before its signature was checked."""
    details = {"file": path.name, "run_by": run_by(), "reason": reason[:500]}
    if manifest:
        details |= {"created": manifest["created"], "key_id": manifest["_key_id"]}
    await admin_events.record(conn, AdminEvent(
        action="bundle.import", target=manifest.get("_sha256", path.name), actor_system_id=IMPORT_ACTOR,
        actor_department_code="", details=details, result="REFUSED"), schema="catalog")


async def _record_import(conn: asyncpg.Connection, manifest: dict) -> None:
    """Refuses a bundle older than the newest imported (a replay would bring back older values), and records
    this one; the same bundle again is allowed (a retried import changes nothing)."""
    await conn.execute("LOCK TABLE catalog.bundle_imports IN SHARE ROW EXCLUSIVE MODE")  # one import at a time
    created = dt.datetime.fromisoformat(manifest["created"])
    newest = await conn.fetchrow(
        "SELECT created, manifest_sha256 FROM catalog.bundle_imports ORDER BY created DESC LIMIT 1")
    if newest is not None and (created < newest["created"] or (
            created == newest["created"] and manifest["_sha256"] != newest["manifest_sha256"])):
        raise BundleError(f"the bundle was exported at {manifest['created']}, before the newest one imported "
                          f"({newest['created'].isoformat()}): a replayed or out-of-order bundle would bring "
                          "back older data")
    await conn.execute(
        "INSERT INTO catalog.bundle_imports (created, manifest_sha256, key_id) VALUES ($1, $2, $3) "
        "ON CONFLICT (created) DO NOTHING", created, manifest["_sha256"], manifest["_key_id"])


async def _announce(redis_url: str) -> bool:
    """Drops every cached copy of what the import may have changed, in Redis and in every service process;
    False if Redis did not take it (the imported data then shows once the caches expire)."""
    from services.runtime.cache import CATALOG_CHANGED, FOUNDATION_ENDPOINT, RecordInvalidator, create_client, publish

    client = create_client(redis_url)
    invalidator = RecordInvalidator()
    invalidator.attach(client)
    try:
        for table in TABLES:
            if table.schema == "foundation" and table.name != "datasets":
                await invalidator.dataset_changed(FOUNDATION_ENDPOINT, table.name)
        if invalidator.pending:
            return False
        await publish(client, CATALOG_CHANGED, {})  # no code: every entry may have changed
        return True
    except (RedisError, OSError):
        return False
    finally:
        invalidator.attach(None)  # a one-shot command keeps no retry running behind it
        await client.aclose()
