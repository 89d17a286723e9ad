"""Where the paging benchmark's heavy readers call: the edge, or the very process serving their kind of read."""

from __future__ import annotations

from pathlib import Path

from loadtest.paging_bench import reader_target
from loadtest.platform import Platform
from services.launcher import HEAVY_READ_OFFSETS, OFFSETS


def test_readers_call_the_edge_unless_told_to_go_direct() -> None:
    platform = Platform(Path("/nonexistent"), port_base=42000)
    assert {reader_target(platform, kind, False) for kind in ("search", "entries", "accesses")} == {platform.gateway}


def test_direct_readers_call_the_process_that_serves_their_read() -> None:
    plain = Platform(Path("/nonexistent"), port_base=42000)
    assert reader_target(plain, "search", True) == f"127.0.0.1:{42000 + OFFSETS['catalog']}"
    assert reader_target(plain, "accesses", True) == f"127.0.0.1:{42000 + OFFSETS['query']}"
    split = Platform(Path("/nonexistent"), port_base=42000, heavy_read_processes=True)
    assert reader_target(split, "entries", True) == f"127.0.0.1:{42000 + HEAVY_READ_OFFSETS['catalog']}"
    assert reader_target(split, "accesses", True) == f"127.0.0.1:{42000 + HEAVY_READ_OFFSETS['query']}"
