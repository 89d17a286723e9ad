"""`govshare up` restarts a dead edge as Envoy on the configuration its first start rendered, not via Python."""

from __future__ import annotations

import subprocess
from pathlib import Path

from gateway.envoy_process import envoy_arguments, write_config
from services.launcher import EXTRA_OFFSETS, OFFSETS, edge_restart_command, forget_edge_config, service_environment
from services.runtime.keys import generate_keys
from services.runtime.settings import load

PORTS = {name: 52650 + offset for name, offset in (*OFFSETS.items(), *EXTRA_OFFSETS.items())}


def test_a_restart_of_the_edge_runs_envoy_on_the_configuration_already_rendered(tmp_path: Path) -> None:
    """Rendering again at each restart (`govshare serve gateway`: the services' runtime imported, ~0.7 s of CPU)
    kept callers refused 5 to 9 s after the edge was killed on a loaded machine; the configuration cannot have
    changed within one `govshare up`. An earlier run's file is forgotten before the first start renders."""
    env = service_environment("gateway", PORTS, "postgresql://db/govshare", "redis://localhost:6379/0",
                              generate_keys(), "extranet", 1)
    env["GOVSHARE_EDGE_CONFIG_DIR"] = str(tmp_path)
    assert edge_restart_command(env) is None  # nothing rendered: the first start renders
    settings = load("gateway", env)
    config = write_config(settings, tmp_path, {})
    command = edge_restart_command(env)
    assert command == envoy_arguments(config, settings)
    done = subprocess.run([*command, "--mode", "validate"], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    forget_edge_config(env)
    assert not config.exists() and edge_restart_command(env) is None
