"""A port for a test's own listener (the tests' one copy of this helper)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port nothing listens on now, as the OS picks one; a listener started right after gets it unless another
    test's takes it first (each test binds its own, so a clash fails that test loudly, never silently)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
