"""The SDK as a business system gets it: a fresh virtualenv, ``pip install ./clients/python`` and nothing else,
then the example — the very code docs/api.md prints — against the running platform.

Slower than the other integration tests (marked ``fresh_venv``): it creates a virtualenv and pip-installs
into it (from pip's cache after the first run), which takes tens of seconds.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from services.foundation.synthetic import entity

pytestmark = [pytest.mark.integration, pytest.mark.fresh_venv]

ROOT = Path(__file__).resolve().parents[2]
SDK = ROOT / "clients" / "python"
EXAMPLE = SDK / "examples" / "first_query.py"
#: Server dependencies a business system must not get with the SDK (pip's normalised names).
SERVER_ONLY = {"asyncpg", "redis", "hiredis", "uvloop", "opentelemetry-api", "opentelemetry-sdk", "pyjwt",
               "cryptography", "python-stdnum", "chinesecalendar", "chinese-calendar", "prometheus-client",
               "grpcio-health-checking", "grpcio-reflection", "govshare"}
SNIPPET_HEADING = "### A first query in under ten lines"


def docs_snippet() -> str:
    """The first Python block under the first-query heading of docs/api.md, as printed."""
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    after = text.split(SNIPPET_HEADING, 1)[1]
    match = re.search(r"```python\n(.*?)```", after, re.DOTALL)
    assert match, f"no python block under {SNIPPET_HEADING!r} in docs/api.md"
    return match.group(1)


def raw_grpc_snippet() -> str:
    """The Python block under docs/api.md's Calling: a query through the generated stubs, without the client."""
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    match = re.search(r"```python\n(.*?)```", text.split("\n## Calling\n", 1)[1], re.DOTALL)
    assert match, "no python block under ## Calling in docs/api.md"
    return match.group(1)


async def _run(*args: str | Path, env: dict[str, str] | None = None, limit: float = 600) -> str:
    """Runs a command without blocking the event loop the platform serves from; its stdout, or a failure."""
    process = await asyncio.create_subprocess_exec(*map(str, args), stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE, env=env)
    out, err = await asyncio.wait_for(process.communicate(), limit)
    assert process.returncode == 0, f"{args}: exit {process.returncode}\n{out.decode()}\n{err.decode()}"
    return out.decode()


def _clean_env() -> dict[str, str]:
    """The environment minus anything that would let the fresh venv see this project's packages."""
    return {k: v for k, v in os.environ.items()
            if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"} and not k.startswith("GOVSHARE_")}


@pytest.fixture(scope="module")
async def fresh_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtualenv with ``pip install clients/python`` and nothing else (pip's cache is used)."""
    base = tmp_path_factory.mktemp("sdk-venv")
    return await _venv_with(base, _sdk_copy(base))


#: The type checker a business system would run (pinned: its verdicts change between releases).
MYPY = "mypy==2.4.1"
#: A business system's code using a query's result and a raw stub's answer; TYPO_PROGRAM misspells one field of
#: each, as a developer would, which a checker must catch before it fails at run time.
TYPED_PROGRAM = """\
from pathlib import Path

from govshare_client import AsyncClient, Client, Purpose
from govshare_client.pb.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from govshare_client.pb.query.v1 import query_pb2, query_pb2_grpc

def connect() -> Client:  # a secret may be its file's bytes
    return Client("127.0.0.1:50051", "sys-1", Path("/run/secrets/govshare").read_bytes())


EXPORT = query_pb2.ExportRequest(resource_code="102001/000001", purpose=Purpose.WORK_REFERENCE.to_proto("x"))


def describe(client: Client) -> str:
    answer = client.query("102001/000001", "924103023250193249", items=["name"], purpose="work_reference")
    entry = client.stub(catalog_pb2_grpc.CatalogServiceStub).GetEntry(catalog_pb2.GetEntryRequest(code="x"))
    return entry.entry.name + answer.audit_id


def download(client: Client) -> str:
    stream = client.stub(query_pb2_grpc.QueryServiceStub).Export(EXPORT)
    rows = sum(len(page.rows) for page in stream)
    return f"{rows} {stream.code().name} {dict(stream.initial_metadata())['x-govshare-audit-id']!r}"


async def adownload(client: AsyncClient) -> str:
    call = client.stub(query_pb2_grpc.QueryServiceAsyncStub).Export(EXPORT)
    rows = [page async for page in call]
    return f"{len(rows)} {(await call.code()).name} {dict(await call.initial_metadata())!r}"
"""
TYPO_PROGRAM = TYPED_PROGRAM.replace("entry.entry.name", "entry.entry.nmae").replace(".audit_id\n", ".audit_idd\n")


async def _venv_with(base: Path, *requirements: str | Path) -> Path:
    """A new virtualenv under ``base`` holding only ``requirements`` (pip's cache is used); its python."""
    await _run(sys.executable, "-m", "venv", base / "venv", env=_clean_env())
    python = base / "venv" / "bin" / "python"
    await _run(python, "-m", "pip", "install", "--quiet", *requirements, env=_clean_env())
    return python


def _sdk_copy(base: Path) -> Path:
    """A copy of the SDK's source, so the build leaves nothing behind in the worktree."""
    source = base / "govshare-client"
    shutil.copytree(SDK, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    return source


def test_the_docs_snippet_is_the_example_and_under_ten_lines() -> None:
    snippet = docs_snippet()
    assert snippet == EXAMPLE.read_text(encoding="utf-8")
    assert len(snippet.strip().splitlines()) < 10
    assert f"```python\n{snippet}```" in (SDK / "README.md").read_text(encoding="utf-8")  # the SDK's README too


def test_the_raw_grpc_example_takes_the_largest_reply_the_platform_sends() -> None:
    """A plain gRPC channel keeps gRPC's 4 MiB receive limit unless told otherwise, and the platform answers up to
    MAX_MESSAGE_BYTES: a larger reply is refused by the caller's own client after it was answered, audited and
    counted against the grant. The example business systems copy must set the limit the platform sends."""
    from services.runtime.server import MAX_MESSAGE_BYTES

    snippet = raw_grpc_snippet()
    match = re.search(r'\("grpc\.max_receive_message_length",\s*([\d\s*]+)\)', snippet)
    assert match, "docs/api.md's raw gRPC example leaves gRPC's 4 MiB receive limit"
    assert math.prod(int(factor) for factor in match.group(1).split("*")) >= MAX_MESSAGE_BYTES


async def test_no_server_dependency_is_installed(fresh_python: Path) -> None:
    installed = {p["name"].lower().replace("_", "-") for p in
                 json.loads(await _run(fresh_python, "-m", "pip", "list", "--format=json", env=_clean_env()))}
    assert "govshare-client" in installed
    assert not installed & SERVER_ONLY, installed & SERVER_ONLY
    probe = ("import importlib.util as u; "
             "print([m for m in ('asyncpg', 'redis', 'uvloop', 'govshare') if u.find_spec(m)])")
    assert (await _run(fresh_python, "-c", probe, env=_clean_env())).strip() == "[]"


async def test_the_example_and_the_docs_snippet_run_as_printed(platform, fresh_python: Path,  # type: ignore[no-untyped-def]
                                                              tmp_path: Path) -> None:
    system = platform.credentials.systems["social"]
    env = _clean_env() | {"GOVSHARE_ENDPOINT": platform.gateway, "GOVSHARE_SYSTEM_ID": system["system_id"],
                          "GOVSHARE_SYSTEM_SECRET": system["secret"], "GOVSHARE_PLAINTEXT": "1"}
    snippet = tmp_path / "snippet.py"
    snippet.write_text(docs_snippet(), encoding="utf-8")
    company = entity(0)
    for script in (EXAMPLE, snippet):
        out = await _run(fresh_python, script, env=env, limit=120)
        assert company["name"] in out and company["status"] in out
        assert platform.credentials.systems["market"]["department"] in out
    # The raw gRPC example, with the SDK's generated modules: it imported the server's govshare.*, which a
    # business system with the SDK alone does not have (ModuleNotFoundError: No module named 'govshare').
    raw = tmp_path / "raw_grpc.py"
    raw.write_text(raw_grpc_snippet(), encoding="utf-8")
    out = await _run(fresh_python, raw, env=env, limit=120)
    assert company["name"] in out and company["status"] in out


async def test_the_typing_extra_has_a_checker_catch_misspelt_fields(tmp_path: Path) -> None:
    """The README says the stubs are typed for mypy; without types for protobuf every message field was ``Any``
    and a misspelt one passed the checker. ``pip install 'govshare-client[typing]'`` brings them: the program
    checks clean under ``mypy --strict``, and the same program with a field misspelt in a raw stub's answer and in
    the client's own result fails on both. A raw stream's ``code()`` and ``initial_metadata()`` (where an export's
    audit_id is, sync and async) check clean too: they were missing from the stubs' types; so does a secret given
    as its file's bytes, which the client takes."""
    python = await _venv_with(tmp_path, f"{_sdk_copy(tmp_path)}[typing]", MYPY)
    (tmp_path / "good.py").write_text(TYPED_PROGRAM, encoding="utf-8")
    (tmp_path / "typo.py").write_text(TYPO_PROGRAM, encoding="utf-8")
    # One run checks both programs (mypy's start and its reading of protobuf's and grpc's stubs are most of its
    # time): the good one must have no error, the misspelt one its misspellings. Errors are reported against the
    # file they are in, so an error of the good program shows as a line naming good.py.
    mypy = (python, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir", tmp_path / "mypy-cache")
    process = await asyncio.create_subprocess_exec(*map(str, (*mypy, tmp_path / "good.py", tmp_path / "typo.py")),
                                                   env=_clean_env(), stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.STDOUT)
    out = (await asyncio.wait_for(process.communicate(), 300))[0].decode()
    assert process.returncode == 1, out
    assert "good.py" not in out, out
    assert " in 1 file (checked 2 source files)" in out, out
    assert '"Entry" has no attribute "nmae"' in out
    assert '"QueryResult" has no attribute "audit_idd"' in out
