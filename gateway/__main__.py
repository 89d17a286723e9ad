"""``python -m gateway``: run the edge (Envoy from the pinned wheel); ``--render`` prints its configuration."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gateway.descriptors import descriptor_set_problems
from gateway.edge import render_json
from gateway.envoy_process import run, write_config
from services.runtime.settings import Settings, SettingsError, load, tls_file_problems


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gateway", description=__doc__)
    parser.add_argument("--render", action="store_true",
                        help="print Envoy's bootstrap (JSON, valid YAML) for the GOVSHARE_* settings and exit")
    parser.add_argument("--out", metavar="DIR", type=Path,
                        help="with --render: write envoy.json (and the transcoder's descriptors.pb, unless "
                             "GOVSHARE_DESCRIPTOR_SET names one, and with GOVSHARE_TLS_* the SDS files naming the "
                             "certificates) into DIR instead (the chart's init container)")
    args = parser.parse_args(argv)
    if args.out is not None and not args.render:
        parser.error("--out goes with --render")
    try:
        settings = load("gateway")
    except SettingsError as exc:
        print(f"govshare gateway: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if args.render and args.out is not None:
        # As `govshare report --out` does: a directory that does not exist yet is made (this user's only), not
        # reported as "descriptors.pb: No such file or directory".
        args.out.mkdir(mode=0o700, parents=True, exist_ok=True)
        print(f"govshare gateway: wrote {write_config(settings, args.out)}", file=sys.stderr)
        return
    if args.render:
        if settings.tls_enabled:
            # The certificates are SDS resources in files of their own (Envoy re-reads them on renewal), which a
            # printed bootstrap cannot carry.
            print("govshare gateway: with GOVSHARE_TLS_CERT/KEY/CA set the configuration is several files "
                  "(envoy.json and the SDS files naming the certificates): add --out DIR", file=sys.stderr)
            raise SystemExit(2)
        sys.stdout.write(render_json(settings))
        return
    if problems := _file_problems(settings):
        print("govshare gateway: invalid configuration:\n  - " + "\n  - ".join(problems), file=sys.stderr)
        raise SystemExit(2)
    run(settings)


def _file_problems(settings: Settings) -> list[str]:
    """The files Envoy is about to read, each named with its variable when it is not a file, as the services
    name theirs: Envoy said only "Invalid path: /etc/…" and exited 1. Not checked when rendering: the chart's
    init container writes the paths of files only the Envoy container mounts."""
    problems = tls_file_problems(settings)
    if settings.descriptor_set:
        problems.extend(descriptor_set_problems(settings.descriptor_set))
    return problems


if __name__ == "__main__":
    main()
