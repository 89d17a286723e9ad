"""The CLI stopped with Ctrl-C in the middle of a long command (`govshare migrate`, an export)."""

from __future__ import annotations

import signal
import subprocess
import sys

_WAITS = """
import argparse
import time
import services.cli as cli

def build_parser():
    parser = argparse.ArgumentParser()
    parser.set_defaults(func=lambda args: [print("started", flush=True), time.sleep(60)], command="migrate")
    return parser

cli.build_parser = build_parser
cli.main([])
"""


def test_ctrl_c_ends_the_command_with_one_line() -> None:
    """It ended with a KeyboardInterrupt traceback."""
    # As from a terminal: a run of the tests started in the background by a shell without job control (`… &` in
    # a script, nohup) has SIGINT ignored, which the child would inherit, and Python then takes no Ctrl-C at all.
    process = subprocess.Popen([sys.executable, "-c", _WAITS], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.readline().strip() == b"started"
    process.send_signal(signal.SIGINT)
    error = process.stderr.read().decode()
    assert process.wait(timeout=60) == 130
    assert error == "govshare migrate: interrupted\n", error
