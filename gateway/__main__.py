"""``python -m gateway``: run the edge (Envoy from the pinned wheel); ``--render`` prints its configuration."""

from __future__ import annotations

import argparse
import sys

from gateway.edge import render_json
from gateway.envoy_process import run
from services.runtime.settings import SettingsError, load


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gateway", description=__doc__)
    parser.add_argument("--render", action="store_true",
                        help="print Envoy's bootstrap (JSON, valid YAML) for the GOVSHARE_* settings and exit")
    args = parser.parse_args(argv)
    try:
        settings = load("gateway")
    except SettingsError as exc:
        print(f"govshare gateway: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if args.render:
        sys.stdout.write(render_json(settings))
        return
    run(settings)


if __name__ == "__main__":
    main()
