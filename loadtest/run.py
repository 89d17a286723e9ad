"""One command for a headless Locust run against govshare.

    python -m loadtest.run --scenario mix --users 50 --duration 60s
    python -m loadtest.run --scenario hot --rate 800 --duration 2m            (open loop, 800 calls/s)
    python -m loadtest.run --scenario mix --host 10.0.0.5:50051 --credentials their-creds.json

reads the demo credentials (``.govshare/demo-credentials.json`` of a local ``govshare up`` unless
``--credentials``), runs Locust headless with the harness in loadtest/locustfile.py, and writes Locust's
CSV statistics and HTML report to loadtest/results/<name>*. Arguments after ``--`` go to Locust as is.

The files end on the figures Locust prints at the end: ``<name>_stats.csv`` and ``_failures.csv`` hold its final
table and failures by status, ``_stats_history.csv`` a row a second (the calls so far, and the rate and
percentiles of the last seconds) whose last row is the final totals, and ``<name>.html`` the report.

Ctrl-C, or SIGTERM (or SIGHUP) to this process, stops the run as Ctrl-C stops Locust: it stops its users, prints
its summary and writes its files, and this process waits for it and exits with its status. If this process is
killed (SIGKILL), Locust is sent SIGTERM and stops the same way (on Linux).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import FrameType

from loadtest.call_labels import grpc_target
from loadtest.credentials import DEFAULT_SYSTEM, CredentialsError, default_path, load_credentials
from loadtest.parent_death import stop_with_parent
from loadtest.scenarios import SCENARIOS
from services.arguments import positive

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
#: Scenario -> the closed-loop user class that runs it.
USER_CLASSES = {"hot": "HotKeys", "cold": "ColdKeys", "verify": "Verify", "batch": "Batch", "mix": "Mix"}


#: What the report's file holds until Locust writes the report over it at the run's end.
PLACEHOLDER = "<!-- loadtest.run: this run is under way, or ended before Locust wrote its report -->\n"


def _claimed_prefix(out: Path, stem: str) -> Path:
    """A results prefix no other run uses: ``stem``, else ``stem-2``, ``stem-3``… Two runs of one scenario started
    in the same second took the same name, and the later run's files overwrote the earlier's. The name is claimed
    by creating its HTML report's file (exclusively, so two runs starting together cannot both take it)."""
    number = 1
    while True:
        prefix = out / (stem if number == 1 else f"{stem}-{number}")
        try:
            with open(f"{prefix}.html", "x", encoding="utf-8") as claim:
                claim.write(PLACEHOLDER)
            return prefix
        except FileExistsError:
            number += 1


def locust_command(args: argparse.Namespace, extra: list[str]) -> list[str]:
    """The locust command line for these options (open loop when a rate is given)."""
    prefix = Path(args.out) / args.name if args.name else _claimed_prefix(
        Path(args.out), f"{args.scenario}-{'rate' if args.rate else 'users'}-{dt.datetime.now():%Y%m%d-%H%M%S}")
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
               "--users", str(args.users), "--spawn-rate", str(args.spawn_rate or args.users),
               "--run-time", args.duration, "--csv", str(prefix), "--html", f"{prefix}.html",
               "--credentials", str(args.credentials), "--system", args.system, "--scenario", args.scenario]
    if args.host:
        command += ["--host", args.host]
    if args.rate:
        command += ["--rate", repr(args.rate)]
    if args.pace:
        command += ["--pace", repr(args.pace)]
    if args.wait_for_platform:
        command += ["--wait-for-platform", repr(args.wait_for_platform)]
    if args.processes != 1:
        command += ["--processes", str(args.processes)]
    return [*command, *extra, "ConstantRate" if args.rate else USER_CLASSES[args.scenario]]


#: Locust's run-time format (20, 20s, 3m, 2h, 1h20m, 3h30m10s). Not locust.util.timespan: importing anything
#: of Locust monkey-patches this process with gevent, and this process only starts Locust.
_TIMESPAN = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def _duration(text: str) -> str:
    """Locust's run time, checked here: Locust runs a time of 0 until it is stopped."""
    if text.isdigit():
        seconds = int(text)
    else:
        parts = _TIMESPAN.fullmatch(text)
        if parts is None or not any(parts.groups()):
            raise argparse.ArgumentTypeError(f"{text!r} is not a duration: e.g. 60s, 5m, 1h20m")
        seconds = sum(int(value or 0) * unit for value, unit in zip(parts.groups(), (3600, 60, 1), strict=True))
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be longer than 0, got {text}")
    return text


def _processes(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value == 0 or value < -1:
        raise argparse.ArgumentTypeError(f"must be -1 (one per core) or at least 1, got {text}")
    return value


def _host(text: str) -> str:
    """The gateway's address, checked here: Locust would start and fail every call."""
    try:
        grpc_target(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _stopped_with_parent() -> Callable[[], None]:
    """What Locust runs before it starts (Popen's preexec_fn) so that it is sent SIGTERM when this process dies, by
    whatever signal: a SIGKILL (kill -9, the OOM killer, a supervisor's last resort), which this process cannot pass
    on, left Locust an orphan loading the platform to the end of its --duration. SIGTERM stops it as Ctrl-C does,
    with its summary and files."""
    return partial(stop_with_parent, os.getpid())


class _Locust:
    """Locust as this process's child, stopped with it.

    A SIGTERM (or SIGHUP) to this process is passed on as SIGTERM, once: this process ended on it and Locust ran on,
    an orphan loading the platform to the end of its --duration. Ctrl-C is not passed on: the terminal sends it to
    the whole process group, Locust included, and a second one would break into its shutdown; this process only
    waits (so a SIGINT sent to this process alone does not stop the run: send SIGTERM). Python's KeyboardInterrupt
    printed a traceback here and killed Locust a quarter of a second into its shutdown, before its final summary
    and files."""

    def __init__(self, command: list[str]) -> None:
        self.command = command
        self.process: subprocess.Popen[bytes] | None = None
        self.stopping = False

    def _stop(self, _signal: int, _frame: FrameType | None) -> None:
        if self.stopping:
            return
        self.stopping = True
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()

    def run(self) -> int:
        """Locust's exit status (128 + the signal's number if a signal ended it)."""
        # Handlers, not SIG_IGN, so that Locust starts with the default dispositions (an ignored signal is inherited).
        handlers = {signal.SIGINT: lambda _signal, _frame: None, signal.SIGTERM: self._stop, signal.SIGHUP: self._stop}
        previous = {number: signal.signal(number, handler) for number, handler in handlers.items()}
        try:
            self.process = subprocess.Popen(self.command, preexec_fn=_stopped_with_parent())
            if self.stopping:  # a signal came while it started
                self.process.terminate()
            status = self.process.wait()
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
        return 128 - status if status < 0 else status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m loadtest.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="mix")
    parser.add_argument("--users", type=positive(int), default=50, help="concurrent users (channels)")
    parser.add_argument("--spawn-rate", type=positive(float), default=None,
                        help="users started per second (default: all at once)")
    parser.add_argument("--duration", type=_duration, default="60s", help="Locust run time, e.g. 60s, 5m")
    loop = parser.add_mutually_exclusive_group()
    loop.add_argument("--rate", type=positive(float), default=None,
                      help="open loop: calls per second in total (the ConstantRate users); default closed loop")
    loop.add_argument("--pace", type=positive(float), default=None,
                      help="closed loop: task runs per second per user")
    parser.add_argument("--host", type=_host, default=None,
                        help="gateway HOST:PORT (default: the credentials file's); https://HOST:PORT for a gateway "
                             "that speaks TLS (a cluster's Ingress), its certificate checked against the system's "
                             "roots or the CA file GOVSHARE_ROOT_CA names")
    parser.add_argument("--wait-for-platform", type=positive(float), default=None, metavar="SECONDS",
                        help="wait up to this long for a platform still starting to issue the first token (default: "
                             "the run stops at once when the first IssueToken cannot reach the platform)")
    parser.add_argument("--credentials", type=Path, default=default_path())
    parser.add_argument("--system", default=DEFAULT_SYSTEM, help="demo business system to call as")
    parser.add_argument("--processes", type=_processes, default=1, help="Locust processes (-1: one per core)")
    parser.add_argument("--name", default="", help="file name prefix of the results")
    parser.add_argument("--out", default=str(RESULTS_DIR), help="directory of the CSV and HTML results")
    return parser


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    split = argv.index("--") if "--" in argv else len(argv)
    args = build_parser().parse_args(argv[:split])
    try:
        credentials = load_credentials(args.credentials, args.system)
    except CredentialsError as exc:
        raise SystemExit(str(exc)) from None
    try:
        Path(args.out).mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file there, a directory this user may not write
        raise SystemExit(f"--out {args.out}: {exc.strerror}: give a directory for the CSV and HTML results") from None
    command = locust_command(args, argv[split + 1:])
    print(f"locust → {args.host or credentials.gateway}: {' '.join(command[3:])}", flush=True)
    sys.exit(_Locust(command).run())


if __name__ == "__main__":
    main()
