"""Regenerates what is derived from the protos (run after editing any .proto).

    python scripts/gen_protos.py            # write the generated files
    python scripts/gen_protos.py --check    # exit 1 if any generated file is stale

Derived and committed: the Python code beside each proto; ``protos/govshare.binpb``, the descriptor set
(imports and source info included) that Envoy's gRPC-JSON transcoder loads; ``protos/govshare/openapi.yaml``
(scripts/gen_openapi.py); and ``protos/third_party/google/api/*.proto``, copied from the pinned
googleapis-common-protos so that buf, which cannot see site-packages, resolves ``google.api.http``.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

import gen_openapi  # the sibling script: a script's own folder is first on sys.path
from google.api import annotations_pb2
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")
#: The descriptor set Envoy's transcoder reads (docs/architecture.md names this path for the edge).
DESCRIPTOR_SET = PROTOS / "govshare.binpb"
OPENAPI = PROTOS / "govshare" / "openapi.yaml"  # package data: the edge serves it
#: googleapis' HTTP annotations, vendored beside the protos for buf (protoc could read them from site-packages).
THIRD_PARTY = PROTOS / "third_party"
GOOGLE_API_PROTOS = ("annotations.proto", "http.proto")
#: In the descriptor set too, so that the transcoder can write an error's details (ErrorInfo, BadRequest...) as JSON.
ERROR_PROTOS = ("google/rpc/status.proto", "google/rpc/error_details.proto")


def proto_files() -> list[Path]:
    return sorted(PROTOS.glob("govshare/**/*.proto"))


def vendored_google_api() -> dict[Path, Path]:
    """Where each googleapis proto comes from (the installed, pinned package) -> where buf finds it."""
    source = Path(annotations_pb2.__file__).parent
    return {source / name: THIRD_PARTY / "google" / "api" / name for name in GOOGLE_API_PROTOS}


def generate(out_dir: Path) -> None:
    """Runs protoc (from grpcio-tools, pinned in pyproject) for every proto into ``out_dir``.

    Writes the Python code, then ``govshare.binpb`` and ``openapi.yaml`` at the top of ``out_dir``.
    """
    well_known = str(Path(protoc.__file__).parent / "_proto")
    google_api = str(Path(annotations_pb2.__file__).parent.parent.parent)
    includes = [f"-I{PROTOS}", f"-I{google_api}", f"-I{well_known}"]
    sources = [str(p.relative_to(PROTOS)) for p in proto_files()]
    args = ["protoc", *includes, f"--python_out={out_dir}", f"--pyi_out={out_dir}",
            f"--grpc_python_out={out_dir}", *sources]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    descriptor_set = out_dir / DESCRIPTOR_SET.name
    args = ["protoc", *includes, "--include_imports", "--include_source_info",
            f"--descriptor_set_out={descriptor_set}", *sources, *ERROR_PROTOS]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed (descriptor set)")
    (out_dir / OPENAPI.name).write_text(gen_openapi.render(descriptor_set.read_bytes()), encoding="utf-8")


def stale_files() -> list[str]:
    """Generated files that differ from what the protos generate now (or are missing or orphaned)."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        generate(fresh)
        expected = {p.relative_to(fresh) for p in fresh.rglob("*") if p.name.endswith(GENERATED_SUFFIXES)}
        present = {p.relative_to(PROTOS) for p in PROTOS.rglob("*") if p.name.endswith(GENERATED_SUFFIXES)}
        stale = [str(p) for p in sorted(expected) if not (PROTOS / p).exists()
                 or not filecmp.cmp(fresh / p, PROTOS / p, shallow=False)]
        stale += [f"{p} (no proto)" for p in sorted(present - expected)]
        stale += [str(target.relative_to(PROTOS)) for target in (DESCRIPTOR_SET, OPENAPI)
                  if not target.exists() or not filecmp.cmp(fresh / target.name, target, shallow=False)]
        stale += [str(target.relative_to(PROTOS)) for source, target in vendored_google_api().items()
                  if not target.exists() or not filecmp.cmp(source, target, shallow=False)]
        return stale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    if args.check:
        stale = stale_files()
        if stale:
            print("stale generated code (run python scripts/gen_protos.py):\n  " + "\n  ".join(stale))
            sys.exit(1)
        return
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        for path in Path(tmp).rglob("*"):
            if path.name.endswith(GENERATED_SUFFIXES):
                shutil.copyfile(path, PROTOS / path.relative_to(tmp))
        for target in (DESCRIPTOR_SET, OPENAPI):
            shutil.copyfile(Path(tmp) / target.name, target)
    for source, target in vendored_google_api().items():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    for folder in {p.parent for p in proto_files()} | {PROTOS / "govshare"}:
        (folder / "__init__.py").touch()
    parents = {p.parent.parent for p in proto_files()}
    for folder in parents:
        (folder / "__init__.py").touch()


if __name__ == "__main__":
    main()
