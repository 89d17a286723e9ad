"""Regenerates the client SDK's typed stubs (clients/python/govshare_client/pb/) from protos/.

    python scripts/gen_sdk_protos.py            # write the SDK's generated files
    python scripts/gen_sdk_protos.py --check    # exit 1 if any of them is stale

The SDK ships only the public contracts: the internal ones (the provider contract and
AuthorizationService.Check) are for platform processes, never for business systems. Its copies live
under ``govshare_client.pb`` rather than ``govshare``: the server's own generated modules are
``govshare.<area>.v1``, and both are importable in the development venv (and in a business system that
also runs a department 前置机 built on the server package), so the SDK must not shadow them. protoc has
no option for a Python package prefix, so the ``govshare.`` imports of the generated code are rewritten.
The descriptors themselves are unchanged (same proto file names and packages): the two copies register
identical files in protobuf's default pool, which accepts an identical file twice.

protoc types the messages (``*_pb2.pyi``) but not the stubs: ``scripts/typed_stubs.py`` writes a
``*_pb2_grpc.pyi`` for each public service, and each stub's ``…AsyncStub`` twin for the asyncio client.
"""

from __future__ import annotations

import argparse
import filecmp
import re
import sys
import tempfile
from pathlib import Path

import typed_stubs  # the sibling script: a script's own folder is first on sys.path
from gen_protos import DESCRIPTOR_SET, GENERATED_SUFFIXES, generate
from google.protobuf import descriptor_pb2

ROOT = Path(__file__).resolve().parent.parent
SDK_PB = ROOT / "clients" / "python" / "govshare_client" / "pb"
PACKAGE = "govshare_client.pb"
#: Contracts that only platform processes may call: not shipped to business systems.
INTERNAL_PROTOS = frozenset({
    "govshare/provider/v1/provider.proto",
    "govshare/authorization/v1/authorization.proto",
    "govshare/authorization/v1/subject_access_policy.proto",
    # The figures each owning service gives supervision (services/runtime/figures.py).
    "govshare/catalog/v1/figures.proto",
    "govshare/authorization/v1/figures.proto",
    "govshare/query/v1/figures.proto",
    "govshare/foundation/v1/figures.proto",
})
_IMPORT = re.compile(r"^(from|import) govshare\.", re.MULTILINE)
_MODULE_NAME = re.compile(r"'govshare\.([a-z0-9_.]+_pb2)'")


def _is_internal(relative: Path) -> bool:
    """Whether a generated file (path relative to the protoc output) belongs to an internal proto."""
    stem = relative.name
    for suffix in GENERATED_SUFFIXES:
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    return str(relative.parent / f"{stem}.proto") in INTERNAL_PROTOS


def rewrite(text: str) -> str:
    """Generated code that imports its siblings from ``govshare_client.pb`` instead of ``govshare``."""
    text = _IMPORT.sub(lambda m: f"{m.group(1)} {PACKAGE}.", text)
    return _MODULE_NAME.sub(lambda m: f"'{PACKAGE}.{m.group(1)}'", text)


def render(out: Path) -> None:
    """The SDK's whole ``pb`` package (generated modules and their ``__init__.py``) into ``out``."""
    with tempfile.TemporaryDirectory() as tmp:
        generated = Path(tmp)
        generate(generated)
        descriptors = descriptor_pb2.FileDescriptorSet.FromString((generated / DESCRIPTOR_SET.name).read_bytes())
        for path in sorted(generated.rglob("*")):
            relative = path.relative_to(generated)
            if not path.name.endswith(GENERATED_SUFFIXES) or _is_internal(relative):
                continue
            target = out / relative.relative_to("govshare")
            target.parent.mkdir(parents=True, exist_ok=True)
            text = rewrite(path.read_text(encoding="utf-8"))
            if path.name.endswith("_pb2_grpc.py"):
                text += typed_stubs.async_aliases(descriptors, str(relative).removesuffix("_pb2_grpc.py") + ".proto")
            target.write_text(text, encoding="utf-8")
        for name, text in typed_stubs.render(descriptors, PACKAGE, INTERNAL_PROTOS).items():
            (out / name.removeprefix("govshare/")).write_text(text, encoding="utf-8")
    (out / "__init__.py").write_text('"""Typed messages and stubs generated from the public protos (do not edit)."""\n',
                                     encoding="utf-8")
    for folder in sorted(p for p in out.rglob("*") if p.is_dir()):
        (folder / "__init__.py").write_text("", encoding="utf-8")


def _files(folder: Path) -> set[Path]:
    return {p.relative_to(folder) for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def stale_files() -> list[str]:
    """SDK files that differ from what the protos generate now (or are missing, or have no proto any more)."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        render(fresh)
        expected, present = _files(fresh), _files(SDK_PB) if SDK_PB.exists() else set()
        stale = [str(p) for p in sorted(expected)
                 if p not in present or not filecmp.cmp(fresh / p, SDK_PB / p, shallow=False)]
        stale += [f"{p} (no proto)" for p in sorted(present - expected)]
        return stale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    if args.check:
        stale = stale_files()
        if stale:
            print("stale SDK stubs (run python scripts/gen_sdk_protos.py):\n  " + "\n  ".join(stale))
            sys.exit(1)
        return
    if SDK_PB.exists():
        for path in _files(SDK_PB):
            (SDK_PB / path).unlink()
    render(SDK_PB)


if __name__ == "__main__":
    main()
