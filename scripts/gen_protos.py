"""Regenerates the Python code beside the protos (run after editing any .proto).

    python scripts/gen_protos.py            # write the generated files
    python scripts/gen_protos.py --check    # exit 1 if any generated file is stale
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def proto_files() -> list[Path]:
    return sorted(PROTOS.glob("govshare/**/*.proto"))


def generate(out_dir: Path) -> None:
    """Runs protoc (from grpcio-tools, pinned in pyproject) for every proto into ``out_dir``."""
    include = str(Path(protoc.__file__).parent / "_proto")
    args = ["protoc", f"-I{PROTOS}", f"-I{include}", f"--python_out={out_dir}", f"--pyi_out={out_dir}",
            f"--grpc_python_out={out_dir}", *(str(p.relative_to(PROTOS)) for p in proto_files())]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")


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
    for folder in {p.parent for p in proto_files()} | {PROTOS / "govshare"}:
        (folder / "__init__.py").touch()
    parents = {p.parent.parent for p in proto_files()}
    for folder in parents:
        (folder / "__init__.py").touch()


if __name__ == "__main__":
    main()
