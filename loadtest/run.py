"""One command for a headless Locust run against govshare.

    python -m loadtest.run --scenario mix --users 50 --duration 60s
    python -m loadtest.run --scenario hot --rate 800 --duration 2m            (open loop, 800 calls/s)
    python -m loadtest.run --scenario mix --host 10.0.0.5:50051 --credentials their-creds.json

reads the demo credentials (``.govshare/demo-credentials.json`` of a local ``govshare up`` unless
``--credentials``), runs Locust headless with the harness in loadtest/locustfile.py, and writes Locust's
CSV statistics and HTML report to loadtest/results/<name>*. Arguments after ``--`` go to Locust as is.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
from pathlib import Path

from loadtest.credentials import DEFAULT_SYSTEM, CredentialsError, default_path, load_credentials
from loadtest.scenarios import SCENARIOS

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
#: Scenario -> the closed-loop user class that runs it.
USER_CLASSES = {"hot": "HotKeys", "cold": "ColdKeys", "verify": "Verify", "batch": "Batch", "mix": "Mix"}


def locust_command(args: argparse.Namespace, extra: list[str]) -> list[str]:
    """The locust command line for these options (open loop when a rate is given)."""
    name = args.name or f"{args.scenario}-{'rate' if args.rate else 'users'}-{dt.datetime.now():%Y%m%d-%H%M%S}"
    prefix = Path(args.out) / name
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
    if args.processes != 1:
        command += ["--processes", str(args.processes)]
    return [*command, *extra, "ConstantRate" if args.rate else USER_CLASSES[args.scenario]]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m loadtest.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="mix")
    parser.add_argument("--users", type=int, default=50, help="concurrent users (channels)")
    parser.add_argument("--spawn-rate", type=float, default=0.0, help="users started per second (default: all at once)")
    parser.add_argument("--duration", default="60s", help="Locust run time, e.g. 60s, 5m")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="open loop: calls per second in total (the ConstantRate users); default closed loop")
    parser.add_argument("--pace", type=float, default=0.0, help="closed loop: task runs per second per user")
    parser.add_argument("--host", default="", help="gateway HOST:PORT (default: the credentials file's)")
    parser.add_argument("--credentials", type=Path, default=default_path())
    parser.add_argument("--system", default=DEFAULT_SYSTEM, help="demo business system to call as")
    parser.add_argument("--processes", type=int, default=1, help="Locust processes (-1: one per core)")
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
    Path(args.out).mkdir(parents=True, exist_ok=True)
    command = locust_command(args, argv[split + 1:])
    print(f"locust → {args.host or credentials.gateway}: {' '.join(command[3:])}", flush=True)
    sys.exit(subprocess.call(command))


if __name__ == "__main__":
    main()
