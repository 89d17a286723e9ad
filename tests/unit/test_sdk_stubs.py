"""The SDK's typed stubs: fresh, complete for the public API, without the internal contracts, and
importable beside the server's own generated modules."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
import tomllib
import typing
from pathlib import Path

from govshare_client import calls

ROOT = Path(__file__).resolve().parents[2]
SDK = ROOT / "clients" / "python"
INTERNAL_SERVICES = {"govshare.authorization.v1.AuthorizationService",
                     "govshare.authorization.v1.AdminLogIntakeService", "govshare.provider.v1.ProviderService",
                     "govshare.authorization.v1.SubjectAccessPolicyService",
                     "govshare.catalog.v1.CatalogFiguresService", "govshare.authorization.v1.SharingFiguresService",
                     "govshare.query.v1.AuditFiguresService", "govshare.foundation.v1.FoundationFiguresService"}


def _services(package_root: Path, package: str) -> set[str]:
    names = set()
    for path in sorted(package_root.rglob("*_pb2.py")):
        relative = path.relative_to(package_root).with_suffix("")
        module = importlib.import_module(".".join((package, *relative.parts)))
        names.update(service.full_name for service in module.DESCRIPTOR.services_by_name.values())
    return names


def test_sdk_stubs_are_fresh() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_sdk_protos.py"), "--check"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_sdk_has_every_public_service_and_no_internal_one() -> None:
    server = _services(ROOT / "protos" / "govshare", "govshare")
    sdk = _services(SDK / "govshare_client" / "pb", "govshare_client.pb")
    assert server >= INTERNAL_SERVICES
    assert sdk == server - INTERNAL_SERVICES
    assert not list((SDK / "govshare_client" / "pb").rglob("provider*"))


def test_sdk_imports_only_its_own_copies() -> None:
    for path in (p for p in (SDK / "govshare_client" / "pb").rglob("*_pb2*") if p.suffix in {".py", ".pyi"}):
        text = path.read_text(encoding="utf-8")
        assert "from govshare." not in text and "import govshare." not in text, path


def test_sdk_and_server_modules_load_together_in_either_order() -> None:
    """A business system that also runs server code (a department 前置机) imports both copies."""
    sdk_first = ("from govshare_client.pb.query.v1 import query_pb2 as a; "
                 "from govshare.query.v1 import query_pb2 as b; ")
    server_first = ("from govshare.query.v1 import query_pb2 as b; "
                    "from govshare_client.pb.query.v1 import query_pb2 as a; ")
    check = "assert a.QueryRequest(key='k').SerializeToString() == b.QueryRequest(key='k').SerializeToString()"
    for order in (sdk_first, server_first):
        result = subprocess.run([sys.executable, "-c", order + check], capture_output=True, text=True, check=False,
                                env={"PYTHONPATH": f"{SDK}:{ROOT / 'protos'}"})
        assert result.returncode == 0, result.stderr


def test_dependency_floors_are_what_the_generated_code_checks() -> None:
    """A regeneration with newer tools raises the versions the stubs refuse to run below: the SDK's
    declared floors must follow, or pip would install a grpcio or protobuf the SDK cannot import with."""
    declared = tomllib.loads((SDK / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    floors = dict(re.fullmatch(r"([a-z-]+)>=([0-9.]+)", d).groups() for d in declared)  # type: ignore[union-attr]
    grpc_stub = (SDK / "govshare_client" / "pb" / "query" / "v1" / "query_pb2_grpc.py").read_text(encoding="utf-8")
    message = (SDK / "govshare_client" / "pb" / "query" / "v1" / "query_pb2.py").read_text(encoding="utf-8")
    assert floors["grpcio"] == re.search(r"GRPC_GENERATED_VERSION = '([0-9.]+)'", grpc_stub).group(1)  # type: ignore[union-attr]
    assert floors["protobuf"] == re.search(r"Protobuf Python Version: ([0-9.]+)", message).group(1)  # type: ignore[union-attr]
    assert set(floors) == {"grpcio", "protobuf", "googleapis-common-protos"}


def _typed_stubs(pyi: Path) -> dict[str, object]:
    """The names a ``*_pb2_grpc.pyi`` declares, evaluated (a stub file is Python whose bodies are ``...``)."""
    namespace: dict[str, object] = {}
    exec(compile(pyi.read_text(encoding="utf-8"), str(pyi), "exec"), namespace)
    return namespace


def test_every_public_stub_method_is_typed_with_its_messages_sync_and_async() -> None:
    """grpcio-tools writes no types for stubs and grpcio ships none, so every raw stub call was ``Any`` to a
    business system's mypy or pyright: a wrong request or a misspelt field of the answer passed the checker.
    Each method must be typed with its own request and response, for the blocking stub and its ``…AsyncStub``
    twin (the same class at run time, which the asyncio client's calls are typed by)."""
    kinds = {(False, False): calls.UnaryUnary, (False, True): calls.UnaryStream,
             (True, False): calls.AsyncUnaryUnary, (True, True): calls.AsyncUnaryStream}
    checked = 0
    for path in sorted((SDK / "govshare_client" / "pb").rglob("*_pb2.py")):
        relative = path.relative_to(SDK).with_suffix("")
        messages = importlib.import_module(".".join(relative.parts))
        if not messages.DESCRIPTOR.services_by_name:
            continue
        runtime = importlib.import_module(".".join(relative.parts) + "_grpc")
        declared = _typed_stubs(path.with_name(path.stem + "_grpc.pyi"))
        for service in messages.DESCRIPTOR.services_by_name.values():
            assert getattr(runtime, f"{service.name}AsyncStub") is getattr(runtime, f"{service.name}Stub")
            for asynchronous, suffix in ((False, "Stub"), (True, "AsyncStub")):
                hints = typing.get_type_hints(declared[service.name + suffix], globalns=declared)
                for method in service.methods:
                    hint = hints[method.name]
                    assert typing.get_origin(hint) is kinds[asynchronous, method.server_streaming], method.full_name
                    request, response = typing.get_args(hint)
                    assert request.DESCRIPTOR.full_name == method.input_type.full_name, method.full_name
                    assert response.DESCRIPTOR.full_name == method.output_type.full_name, method.full_name
                    checked += 1
    assert checked > 100  # every public RPC, twice


def test_the_sdks_default_deadlines_are_as_long_as_the_edge_lets_each_method_take() -> None:
    """The edge lets a report take 120 s (gateway.edge.LONG_CALL_TIMEOUT_SECONDS, as `govshare report` waits), and
    the SDK gave GenerateReport its 10 s default: a yearly report a busy platform delivered in 11 s was
    DeadlineExceeded to a business system. Each method the edge gives longer has at least as long in the SDK."""
    from gateway.edge import LONG_CALL_TIMEOUT_SECONDS
    from govshare_client.client import DEFAULT_TIMEOUT, DEFAULT_TIMEOUTS

    assert {method: DEFAULT_TIMEOUTS.get(method, DEFAULT_TIMEOUT) for method in LONG_CALL_TIMEOUT_SECONDS} == dict(
        LONG_CALL_TIMEOUT_SECONDS)
