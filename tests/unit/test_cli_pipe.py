"""The CLI read through a pipe that closes early (`govshare query … | head`)."""

from __future__ import annotations

import subprocess
import sys

_PRINTS_A_LOT = """
import argparse
import services.cli as cli

def build_parser():
    parser = argparse.ArgumentParser()
    parser.set_defaults(func=lambda args: [print("x" * 100, flush=True) for _ in range(100_000)])
    return parser

cli.build_parser = build_parser
cli.main([])
"""


def test_a_reader_that_goes_away_ends_the_command_quietly() -> None:
    process = subprocess.Popen([sys.executable, "-c", _PRINTS_A_LOT], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.readline().strip() == b"x" * 100
    process.stdout.close()  # as `head -1` does once it has its line
    error = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141
    assert "Traceback" not in error and "BrokenPipeError" not in error, error
