"""The `govshare` command.

    govshare up                 run the whole platform (embedded PostgreSQL/Redis unless configured)
    govshare serve COMPONENT    run one service process (what the container image runs; gateway: Envoy;
                                console: the web console)
    govshare render-edge        print the edge's Envoy configuration (--out DIR: write it there, as the chart does)
    govshare migrate            apply every service's migrations (the Helm hook Job)
    govshare seed               load demo departments, systems, catalog and foundation data
    govshare query / verify     try an online query or a verification by hand
    govshare export-bundle / import-bundle
                                the one-way extranet → intranet data path
    govshare export-checkpoints / verify-checkpoints
                                an auditor's copy of the signed audit checkpoints, checked offline
    govshare totp USERNAME      the current TOTP code of a demo person (the embedded demo's accounts only)
    govshare audit verify-archive FILE [FILE ...] --public-key PEM
                                an archived month of the access log, checked offline
    govshare audit verify-trail [--wait] / [--id ID [--cancel]]
                                authority: start (or follow, or cancel) a full verification of the trail
    govshare audit verify-admin-log [--checkpoints FILE]
                                authority: walk the administrative log's chain against its signed checkpoints
    govshare backup FILE / restore FILE
                                the platform's database to a file and back, with the embedded PostgreSQL's
                                own pg_dump and pg_restore (restore: `govshare up` stopped)
    govshare supervise          compute supervision snapshots of months (the chart's CronJob)
    govshare report yearly / monthly
                                the yearly sharing report and the monthly usage feedback, HTML and PDF
    govshare load-records DATASET FILE
                                a source department loads a CSV file of a foundation dataset's records

A department's 前置机 (docs/frontproc.md):

    govshare frontproc --config FILE [--check [--entry ENTRY.json ...]]
                                serve the department's resources from its own database
    govshare submit-entry --config FILE --entry ENTRY.json
                                draft and submit the catalog entry naming the 前置机
    govshare notify-changes --config FILE --resource CODE [--key KEY ...]
                                tell the platform which records changed (its caches drop them)

Every command except `up` and `serve` finds a platform started by `govshare up` through the
connection file in its data directory (--data-dir, else GOVSHARE_DATA_DIR, else .govshare);
GOVSHARE_DATABASE_URL, GOVSHARE_REDIS_URL, GOVSHARE_ZONE and explicit flags take precedence.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

#: The gateway is Envoy (gateway.envoy_process), not a Python server: `serve gateway` renders and runs it.
EDGE = "gateway"
#: The web console for persons (console/): an HTTP server (uvicorn), not a gRPC service.
CONSOLE = "console"
COMPONENT_FACTORIES = {
    "catalog": "services.catalog.component",
    "authorization": "services.authorization.component",
    "query": "services.query.component",
    "foundation": "services.foundation.component",
    "supervision": "services.supervision.component",
}


def _serve(args: argparse.Namespace) -> None:
    if args.component == CONSOLE:
        from console.__main__ import main as console

        console()
        return
    if args.component == EDGE:
        from gateway.__main__ import main as edge

        edge([])
        return
    from services.runtime.server import serve

    module = importlib.import_module(COMPONENT_FACTORIES[args.component])
    serve(args.component, module.create_component)


def _render_edge(args: argparse.Namespace) -> None:
    from gateway.__main__ import main as edge

    edge(["--render", *(["--out", args.out] if args.out else [])])


def _data_dir(args: argparse.Namespace) -> Path:
    return Path(args.data_dir)


def _platform(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The platform `govshare up` runs on the data directory (services.connection.Connection), or None."""
    from services.connection import running_connection

    return running_connection(_data_dir(args))


def _setting(args: argparse.Namespace, variable: str, attribute: str) -> str:
    """An environment variable, else what the running platform of the data directory uses, else ""."""
    value = os.environ.get(variable, "").strip()
    if value:
        return value
    platform = _platform(args)
    return getattr(platform, attribute) if platform is not None else ""


def _required(args: argparse.Namespace, variable: str, attribute: str) -> str:
    value = _setting(args, variable, attribute)
    if not value:
        raise SystemExit(f"{variable} is not set and no `govshare up` is running on {_data_dir(args)} "
                         "(pass --data-dir or set GOVSHARE_DATA_DIR to its data directory)")
    return value


def _database_url(args: argparse.Namespace) -> str:
    return _checked_database_url(_required(args, "GOVSHARE_DATABASE_URL", "database_url"))


def _checked_database_url(url: str) -> str:
    """``url``, or one line saying what is wrong with it (asyncpg and pg_dump refused a port that is no number or
    a broken IPv6 host with a ValueError or OverflowError traceback)."""
    from services.runtime.settings import database_url_problem

    if problem := database_url_problem(url):
        raise SystemExit(f"GOVSHARE_DATABASE_URL: {problem}")
    return url


def _run(args: argparse.Namespace, coroutine):  # type: ignore[no-untyped-def]
    """Runs a command's coroutine; a server out of reach or a file that cannot be written is one line naming
    the cause, not a traceback."""
    import asyncpg

    try:
        return asyncio.run(coroutine)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise SystemExit(f"govshare {args.command}: {type(exc).__name__}: {exc}") from None


def _migrate(args: argparse.Namespace) -> None:
    from services.runtime.db import migrate_all

    applied = _run(args, migrate_all(_database_url(args)))
    for schema, names in applied.items():
        print(f"{schema}: {', '.join(names) if names else 'up to date'}")


def _seed(args: argparse.Namespace) -> None:
    from services.demo import seed_demo

    gateway = args.gateway or _setting(args, "", "gateway") or "127.0.0.1:50051"
    credentials_path = Path(args.credentials or _data_dir(args) / "demo-credentials.json")
    if credentials_path.exists() and not args.again:
        # Seeding twice gives every demo system (the authority's included) a new secret, which the file no longer
        # holds, and resets every demo person's password and TOTP secret: what someone who runs it "to be sure"
        # does not expect.
        raise SystemExit(f"govshare seed: {credentials_path} exists: this platform has its demo data already "
                         "(seeding again gives every demo system a new secret and resets every demo person's "
                         "password and authenticator secret). Pass --again to seed anyway, or --credentials "
                         "to write the new credentials elsewhere.")
    # The platform first: with none running on the data directory, the credentials file's directory (the data
    # directory) may not exist either, and seed blamed a --credentials the user never gave.
    database_url = _database_url(args)
    _check_writable(credentials_path, "--credentials")
    credentials = _run(args, seed_demo(gateway, database_url, persons=args.persons,
                                        entities=args.entities, licences=args.licences, seed=args.seed))
    credentials.save(credentials_path)
    print(f"demo credentials written to {credentials_path}")


def _check_writable(path: Path, flag: str) -> None:
    """Refuses, before anything is done, a file the command could not write at its end: seeding found it only
    after it had made new demo systems and reset every demo person's password and TOTP secret, whose only record,
    the credentials file, was then not written."""
    import tempfile

    if path.is_dir():
        raise SystemExit(f"{flag}: {path} is a directory: give the file to write, such as "
                         f"{path / 'demo-credentials.json'}")
    try:
        tempfile.TemporaryFile(dir=path.parent).close()
    except OSError as exc:
        raise SystemExit(f"{flag}: cannot write {path} ({exc.strerror or exc}): nothing was done") from None


def _up(args: argparse.Namespace) -> None:
    from services.launcher import PORT_BLOCK, HeavyReads, run_platform

    if args.heavy_read_nice and not args.heavy_read_processes:
        # Else ignored in silence: the benchmark's run believed its listings ran at a lower priority.
        raise SystemExit("govshare up: --heavy-read-nice sets the priority of the processes --heavy-read-processes "
                         "starts: add --heavy-read-processes, or drop --heavy-read-nice")
    if args.heavy_read_processes and args.port + PORT_BLOCK - 1 > 65535:
        raise SystemExit(f"govshare up: --heavy-read-processes takes ports N to N+{PORT_BLOCK - 1}: --port must be at "
                         f"most {65536 - PORT_BLOCK}, got {args.port}")

    run_platform(data_dir=_data_dir(args), port_base=args.port, persons=args.persons, zone=args.zone,
                 workers=args.workers, heavy_reads=HeavyReads(args.heavy_read_processes, args.heavy_read_nice))


def _backup_database(args: argparse.Namespace, restoring: bool):  # type: ignore[no-untyped-def]
    """The URL of the database `govshare up` uses on the data directory, and the embedded servers started (or
    joined: pgserver leaves a server a running `govshare up` holds running) to reach it, or None."""
    from services.runtime.embedded import EmbeddedDidNotStart, EmbeddedServers, EmbeddedUnavailable

    url = os.environ.get("GOVSHARE_DATABASE_URL", "").strip()
    if url:
        return _checked_database_url(url), None
    if not restoring and not (_data_dir(args) / "pg").is_dir():
        raise SystemExit(f"govshare backup: {_data_dir(args)} holds no embedded database (pass --data-dir, or set "
                         "GOVSHARE_DATABASE_URL to the database `govshare up` uses)")
    try:
        embedded = EmbeddedServers(_data_dir(args)).start(postgres=True, redis=False)
    except (EmbeddedUnavailable, EmbeddedDidNotStart) as exc:
        raise SystemExit(f"govshare {args.command}: {exc}") from None
    return embedded.database_url, embedded


def _backup(args: argparse.Namespace) -> None:
    from services import backup
    from services.runtime.embedded import EmbeddedUnavailable

    try:
        backup.check_target(Path(args.file))  # before the embedded server is started for it
    except backup.BackupFailed as exc:
        raise SystemExit(f"govshare backup: {exc}") from None
    url, embedded = _backup_database(args, restoring=False)
    try:
        backup.dump(url, Path(args.file))
    except (backup.BackupFailed, EmbeddedUnavailable) as exc:
        raise SystemExit(f"govshare backup: {exc}") from None
    finally:
        if embedded is not None:
            embedded.stop()
    print(f"database {backup.database_name(url)} written to {args.file}")
    if embedded is not None:
        print(f"keep {' and '.join(RESTORE_NEEDS)} of {_data_dir(args)} with your backups, apart from them: "
              "`govshare restore` needs them in the data directory")


#: What `govshare up` keeps in its data directory that a restored database needs: the platform's keys (a database
#: opened with new ones has every person's TOTP secret unreadable) and the demo's credentials (without them `up`
#: seeds the demo again into the restored database, every demo system's secret replaced).
RESTORE_NEEDS = ("keys.json", "demo-credentials.json")


def _check_restorable_data_dir(args: argparse.Namespace) -> None:
    """Refuses to restore the embedded database into a data directory lacking RESTORE_NEEDS (a new machine, a new
    directory): `govshare up` would then make new keys and seed the demo again over the restored database."""
    if os.environ.get("GOVSHARE_DATABASE_URL", "").strip():
        return
    missing = [name for name in RESTORE_NEEDS if not (_data_dir(args) / name).is_file()]
    if missing:
        raise SystemExit(f"govshare restore: {_data_dir(args)} has no {' nor '.join(missing)}: copy those of the "
                         "data directory the backup was taken from into it first (`govshare up` would otherwise "
                         "make new keys, leaving every local account's TOTP secret unreadable, and seed the demo "
                         "again over the restored database, every demo system's secret replaced)")


def _restore(args: argparse.Namespace) -> None:
    from services import backup
    from services.connection import platform_running
    from services.runtime.embedded import EmbeddedUnavailable

    if platform_running(_data_dir(args)):
        raise SystemExit(f"govshare restore: a `govshare up` is running on {_data_dir(args)}: stop it first "
                         "(its services would go on serving state the restore replaces)")
    if not Path(args.file).is_file():  # before the database is dropped
        raise SystemExit(f"govshare restore: {args.file}: no such backup file")
    _check_restorable_data_dir(args)
    url, embedded = _backup_database(args, restoring=True)
    try:
        _run(args, backup.restore(url, Path(args.file)))
    except backup.RestoredBeside as exc:
        raise SystemExit(f"govshare restore: {exc}") from None
    except backup.BackupFailed as exc:
        raise SystemExit(f"govshare restore: {exc} (nothing was restored: the database is as it was)") from None
    except EmbeddedUnavailable as exc:
        raise SystemExit(f"govshare restore: {exc}") from None
    finally:
        if embedded is not None:
            embedded.stop()
    print(f"database {backup.database_name(url)} restored from {args.file}")
    redis_url = os.environ.get("GOVSHARE_REDIS_URL", "").strip()
    if redis_url:
        deleted = _run(args, backup.forget_newer_state(redis_url))
        print(f"redis: {deleted} keys of the newer state deleted ({', '.join(backup.NEWER_STATE_PATTERNS)})")
    else:
        print("redis: the embedded Redis keeps nothing between runs of `govshare up`: nothing to delete")
    print("Everything written after the backup is lost: docs/deploy.md (Upgrade and rollback) says what to redo "
          "(administrative changes, the auditors' checkpoints, a rotated person-secret-key).")


def _call_args(args: argparse.Namespace) -> tuple[str, str, str]:
    """Gateway address and system credentials: flags, else the running platform and its demo credentials."""
    # Trimmed as their variables are (and as the SDK trims both): a value pasted with a space around it was
    # UNAUTHENTICATED "unknown system id or wrong secret", one of spaces alone a system id of spaces.
    gateway, system_id, secret = args.gateway.strip(), args.system_id.strip(), args.secret.strip()
    gateway = gateway or _setting(args, "", "gateway")
    if bool(system_id) != bool(secret):
        # A secret is one system's: paired with the demo system's id (GOVSHARE_SYSTEM_SECRET exported for the SDK,
        # its id not read) every call was UNAUTHENTICATED "unknown system id or wrong secret".
        raise SystemExit("a secret without its system id: pass --system-id too (or GOVSHARE_SYSTEM_ID)" if secret
                         else "a system id without its secret: pass --secret too (or GOVSHARE_SYSTEM_SECRET)")
    if not system_id:
        path = Path(args.credentials or _data_dir(args) / "demo-credentials.json")
        if not path.exists():
            raise SystemExit(f"no credentials: {_no_demo_credentials(args, path)}, or pass --gateway, --system-id "
                             "and --secret")
        data = _demo_credentials(path)
        systems = data.get("systems")
        if not isinstance(systems, dict) or not all(isinstance(s, dict) and isinstance(s.get("system_id"), str)
                                                    and isinstance(s.get("secret"), str) for s in systems.values()):
            raise SystemExit(f"{path}: its systems are not `govshare up`'s demo systems (each with a system_id "
                             "and a secret): pass --credentials FILE, or --system-id and --secret")
        system = systems.get(args.system, None)
        if system is None:
            raise SystemExit(f"unknown demo system {args.system!r}: one of {', '.join(systems) or '(none)'}")
        gateway = gateway or str(data.get("gateway") or "")
        system_id, secret = system["system_id"], system["secret"]
    if not gateway:
        raise SystemExit(f"no gateway: pass --gateway, or run `govshare up` on {_data_dir(args)}")
    from services.runtime.settings import address_problem

    if problem := address_problem(gateway):
        # The banner prints the REST base URL beside the gRPC address: given as --gateway it was gRPC's
        # UNAVAILABLE "Misformatted domain name", as if the platform were down.
        raise SystemExit(f"--gateway: {problem}: give the edge's gRPC host:port (e.g. 127.0.0.1:50051), not a URL")
    return gateway, system_id, secret


def _no_demo_credentials(args: argparse.Namespace, path: Path) -> str:
    """Why ``path``, the demo credentials file, is missing, and what to do.

    It said "run `govshare up` first (it writes .govshare/demo-credentials.json)" to a newcomer whose `govshare
    up` was running, started from the repository's root by ./scripts/up, who ran the command from another
    directory: the relative data directory named no directory in particular, and running `up` again there would
    have started a second platform. The file is named in full, and so is the way to point at the data directory."""
    if args.credentials:
        return f"--credentials {path}: no such file"
    return (f"{path.resolve()} does not exist. If `govshare up` is running, its data directory is elsewhere: "
            "give it with --data-dir or GOVSHARE_DATA_DIR (its banner prints it), or run this where `govshare up` "
            "was started (./scripts/up: the repository's root); else run `govshare up` first")


def _query(args: argparse.Namespace) -> None:
    from services.client import run_query

    sys.exit(run_query(*_call_args(args), resource=args.resource, key=args.key,
                       items=_listed(args.items), purpose=args.purpose,
                       purpose_text=args.purpose_text))


def _verify(args: argparse.Namespace) -> None:
    from services.client import run_verify

    claims = {}
    for claim in args.claims:
        item, sep, value = claim.partition("=")
        if not sep:
            raise SystemExit(f"claim {claim!r}: expected item=value")
        if item in claims:
            raise SystemExit(f"claim {claim!r}: {item} is claimed twice; claim each item once")
        claims[item] = value
    sys.exit(run_verify(*_call_args(args), resource=args.resource, key=args.key, claims=claims,
                        purpose=args.purpose, purpose_text=args.purpose_text))


def _zone(args: argparse.Namespace) -> str:
    """The zone, only when stated: GOVSHARE_ZONE, else the zone `govshare up` was given; never a default."""
    return _setting(args, "GOVSHARE_ZONE", "zone").lower()


def _bundle_signing_key(args: argparse.Namespace) -> str:
    """GOVSHARE_BUNDLE_SIGNING_KEY, else the key of the platform `govshare up` runs on the data directory."""
    key = os.environ.get("GOVSHARE_BUNDLE_SIGNING_KEY", "")
    if not key and _platform(args) is not None:
        key = json.loads((_data_dir(args) / "keys.json").read_text(encoding="utf-8")).get("bundle_signing_key", "")
    if not key:
        raise SystemExit("export-bundle: GOVSHARE_BUNDLE_SIGNING_KEY is not set: a bundle is imported only if "
                         "signed by the extranet platform's key")
    return key


def _export_bundle(args: argparse.Namespace) -> None:
    from services.bundle import BundleError, export_bundle

    try:
        summary = _run(args, export_bundle(_database_url(args), Path(args.out), zone=_zone(args),
                                            signing_key_pem=_bundle_signing_key(args)))
    except BundleError as exc:
        raise SystemExit(f"export-bundle: {exc}") from None
    print(json.dumps(summary, ensure_ascii=False))


def _import_bundle(args: argparse.Namespace) -> None:
    from services.bundle import BundleError, import_bundle

    zone = _zone(args)
    if zone != "intranet":
        raise SystemExit(f"import-bundle: runs on the intranet only, and the zone must be stated "
                         f"(GOVSHARE_ZONE is {zone or 'not set'}): set GOVSHARE_ZONE=intranet on the intranet")
    redis_url = _setting(args, "GOVSHARE_REDIS_URL", "redis_url")
    if not redis_url:
        raise SystemExit("import-bundle: GOVSHARE_REDIS_URL is not set: the services must be told what changed, "
                         "or they keep answering from their caches")
    try:
        summary = _run(args, import_bundle(_database_url(args), Path(getattr(args, "in")), zone=zone,
                                            trusted_keys=os.environ.get("GOVSHARE_BUNDLE_TRUSTED_KEYS", ""),
                                            redis_url=redis_url))
    except BundleError as exc:
        raise SystemExit(f"import-bundle: {exc}") from None
    print(json.dumps(summary, ensure_ascii=False))
    if not summary["caches_told"]:
        print("import-bundle: imported, but Redis did not take the change events: the services answer from the "
              "imported data once their caches expire", file=sys.stderr)


def _export_checkpoints(args: argparse.Namespace) -> None:
    from services.client import run_export_checkpoints

    sys.exit(run_export_checkpoints(*_call_args(args), out=Path(args.out), log=args.log))


def _verify_checkpoints(args: argparse.Namespace) -> None:
    from services.client import run_verify_checkpoints

    sys.exit(run_verify_checkpoints(Path(args.file), [Path(p) for p in args.public_key], log=args.log))


def _verify_trail(args: argparse.Namespace) -> None:
    from services.client import run_verify_trail

    # Each of these was ignored without a word: --cancel alone went to the platform as a job id of "" ("give the
    # id of an audit verification"), and --checkpoints beside --id showed a job that had never seen them, INTACT.
    if args.cancel and not args.id.strip():
        raise SystemExit("govshare audit verify-trail: --cancel needs --id, the job to cancel")
    starting = [flag for flag, given in (("--resume-token", args.resume_token), ("--page-size", args.page_size),
                                         ("--checkpoints", args.checkpoints)) if given]
    if args.id.strip() and starting:
        raise SystemExit(f"govshare audit verify-trail: {', '.join(starting)} shape a new job, not job {args.id}: "
                         "drop --id to start one with them")

    sys.exit(run_verify_trail(*_call_args(args), job_id=args.id, cancel=args.cancel, wait=args.wait,
                              resume_token=args.resume_token, page_size=args.page_size,
                              kept=Path(args.checkpoints) if args.checkpoints else None))


def _verify_admin_log(args: argparse.Namespace) -> None:
    from services.client import run_verify_admin_log

    sys.exit(run_verify_admin_log(*_call_args(args), kept=Path(args.checkpoints) if args.checkpoints else None))


def _verify_archive(args: argparse.Namespace) -> None:
    from services.client import run_verify_archive

    sys.exit(run_verify_archive([Path(f) for f in args.file], [Path(p) for p in args.public_key]))


def _add_log_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log", choices=["access", "admin"], default="access",
                        help="whose checkpoints: the access audit's (query; the audit signing key) or the "
                             "administrative log's (authorization; the token signing key); default access")


def _add_call_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("resource", help="resource code, e.g. 102001/000001")
    parser.add_argument("key", help="key value, e.g. a 统一社会信用代码")
    parser.add_argument("--purpose", default="work_reference",
                        choices=["administrative_basis", "work_reference", "data_verification",
                                 "business_collaboration"], help="the purpose of the use (default %(default)s)")
    parser.add_argument("--purpose-text", default="govshare CLI",
                        help="the purpose in words, kept in the access log (default '%(default)s')")
    _add_credential_flags(parser, "social")


def _add_credential_flags(parser: argparse.ArgumentParser, system: str) -> None:
    parser.add_argument("--gateway", default="", help="the edge's gRPC host:port (default: that of the `govshare "
                                                      "up` on the data directory, else the demo credentials')")
    parser.add_argument("--system-id", default=os.environ.get("GOVSHARE_SYSTEM_ID", "").strip(),
                        help="business system id (or GOVSHARE_SYSTEM_ID), with its --secret")
    parser.add_argument("--secret", default=os.environ.get("GOVSHARE_SYSTEM_SECRET", "").strip(),
                        help="system secret (or GOVSHARE_SYSTEM_SECRET); one issued before 2026-12 may begin "
                             "with '-', taken as it is")
    parser.add_argument("--system", default=system,
                        help=f"demo system to call as (with the credentials file; default {system})")
    parser.add_argument("--credentials", default="", help="demo credentials file (default: in the data directory)")
    _add_data_dir(parser)


def _totp(args: argparse.Namespace) -> None:
    """Prints a demo person's current TOTP code, from the secret `govshare up` kept in demo-credentials.json:
    what an authenticator app would show (a real account's secret is never kept anywhere but in its app)."""
    import time

    import pyotp

    path = Path(args.credentials or _data_dir(args) / "demo-credentials.json")
    if not path.exists():
        raise SystemExit(f"no demo credentials: {_no_demo_credentials(args, path)}")
    accounts = _demo_credentials(path).get("accounts", {})
    account = accounts.get(args.username) if isinstance(accounts, dict) else None
    if account is None:
        raise SystemExit(f"unknown demo person {args.username!r}: one of {', '.join(accounts) or '(none)'}")
    if not isinstance(account, dict) or not isinstance(account.get("totp_secret"), str):
        raise SystemExit(f"{path}: demo person {args.username!r} has no totp_secret: pass --credentials the "
                         "demo-credentials.json `govshare up` wrote")
    left = 30 - int(time.time()) % 30
    print(f"{pyotp.TOTP(account['totp_secret']).now()}    (valid {left} s more; each code signs in once)")


def _demo_credentials(path: Path) -> dict:
    """The demo credentials file `govshare up` wrote (services.demo.DemoCredentials), as JSON; one line naming
    the file when it is not one (another file given as --credentials, one cut short or edited by hand)."""
    try:
        data = json.loads(path.read_bytes())
    except ValueError as exc:  # json.JSONDecodeError and UnicodeDecodeError are ones
        raise SystemExit(f"{path}: not a demo credentials file of `govshare up` ({exc}): pass --credentials the "
                         "demo-credentials.json it wrote in its data directory") from None
    if not isinstance(data, dict):
        raise SystemExit(f"{path}: not a demo credentials file of `govshare up` (a JSON object): pass "
                         "--credentials the demo-credentials.json it wrote in its data directory")
    return data


#: The highest nice level (Linux's lowest priority). A negative one, a higher priority, is no emulation of a
#: replica's own CPU, and as another user than root failed in the child between fork and exec: "Exception
#: occurred in preexec_fn", a traceback naming no option.
MAX_NICE = 19


def _count(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number of at least ``minimum`` (and at most ``maximum``). The upper bound is
    checked here when a process would refuse the value anyway: `up --workers 65` was refused only once the
    settings of every service were checked, as "GOVSHARE_WORKERS='65'", a variable the user had not set."""
    from services.arguments import at_least

    parse = at_least(int, minimum)
    if maximum is None:
        return parse  # type: ignore[return-value]

    def bounded(text: str) -> int:
        value = int(parse(text))
        if value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum}, got {text}")
        return value

    bounded.__name__ = "int"  # argparse names the type in its own messages
    return bounded


def _port_base(text: str) -> int:
    """``govshare up --port N``: N to N+9 must all be ports (1-65535); checked here, not by a traceback at bind
    (N+10 and N+11, which --heavy-read-processes takes too, by _up). N to N+11 was asked of every start: --port
    65526, whose N+9 is 65535, was refused 'the platform takes ports N to N+11', which it does not take."""
    from services.launcher import EXTRA_OFFSETS, OFFSETS

    highest = max((*OFFSETS.values(), *EXTRA_OFFSETS.values()))
    port = _count(1)(text)
    if port + highest > 65535:
        raise argparse.ArgumentTypeError(f"the platform takes ports N to N+{highest}: N must be at most "
                                         f"{65535 - highest}, got {text}")
    return port


def _port_help(default: int) -> str:
    """What `govshare up --port N` takes, from the launcher's offsets: it said N+1 to N+11 for the services, console,
    前置机, Envoy's admin and the JWKS, which take N+1 to N+9 (N+10 and N+11 are --heavy-read-processes')."""
    from services.launcher import EXTRA_OFFSETS, HEAVY_READ_OFFSETS

    heavy = sorted(HEAVY_READ_OFFSETS.values())
    return (f"gateway port N; the services, console, 前置机, Envoy's admin and the JWKS use N+1 to "
            f"N+{max(EXTRA_OFFSETS.values())}, --heavy-read-processes N+{heavy[0]} and N+{heavy[-1]} too "
            f"(default {default})")


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
    from services.connection import data_dir_of_environment

    parser.add_argument("--data-dir", type=_data_dir_argument, default=data_dir_of_environment(),
                        help="data directory of `govshare up` (or GOVSHARE_DATA_DIR; default .govshare)")


def _data_dir_argument(value: str) -> str:
    """--data-dir trimmed as GOVSHARE_DATA_DIR is, and refused empty: `--data-dir "$DIR"` with DIR unset made
    the current directory the data directory, and `govshare up` wrote its database, keys and credentials among the
    user's own files (the repository's root, /tmp)."""
    if not value.strip():
        raise argparse.ArgumentTypeError("empty: give a directory (made if it does not exist), or leave the "
                                         "option out for .govshare")
    return value.strip()


def _path_argument(value: str) -> str:
    """A file or directory named on the command line, refused empty: `--out "$FILE"` with FILE unset wrote a report's
    files among the current directory's, and other commands failed on "" only after connecting to the platform, with
    an error about a path nobody typed."""
    if not value.strip():
        raise argparse.ArgumentTypeError("empty: give a file or directory")
    return value


def _path_of_argument(value: str) -> Path:
    return Path(_path_argument(value))


def _supervise(args: argparse.Namespace) -> None:
    from services.supervision.schedule import main

    sys.exit(main(args.months, _supervision_environment(args)))


def _supervision_environment(args: argparse.Namespace) -> dict[str, str]:
    """The CronJob's variables (GOVSHARE_SUPERVISION_TARGET, GOVSHARE_INTERNAL_KEY), each else taken from the
    `govshare up` running on the data directory: its supervision port and the mesh key in its keys.json."""
    env = dict(os.environ)
    platform = _platform(args)
    if platform is None:
        return env
    from services.launcher import OFFSETS

    host, _, port = platform.gateway.rpartition(":")
    if not env.get("GOVSHARE_SUPERVISION_TARGET", "").strip():
        env["GOVSHARE_SUPERVISION_TARGET"] = f"{host}:{int(port) + OFFSETS['supervision']}"
    if not env.get("GOVSHARE_INTERNAL_KEY", ""):
        keys = json.loads((_data_dir(args) / "keys.json").read_text(encoding="utf-8"))
        env["GOVSHARE_INTERNAL_KEY"] = keys["internal_key"]
    return env


def _listed(text: str) -> list[str]:
    """A comma-separated flag's values, each once, in order, without the blanks around them.

    `--format "html, pdf"`, written as the refusal itself listed the formats ("html, pdf, csv"), was refused, and
    `--items "citizen_id, name"` was INVALID_ARGUMENT "' name' is not an item"; `--format csv,csv` wrote and listed
    the same file twice."""
    return list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))


def _report(args: argparse.Namespace) -> None:
    from services.supervision.report_client import FORMATS, run_report

    formats = _listed(args.format)
    if not formats or any(f not in FORMATS for f in formats):
        raise SystemExit(f"--format: a comma-separated list of {', '.join(FORMATS)}")
    if args.kind == "monthly" and not (args.month and args.department):
        raise SystemExit("govshare report monthly needs --month and --department (the provider)")
    if args.kind == "yearly" and args.month:
        raise SystemExit("govshare report yearly covers a whole year: drop --month, or ask for the monthly feedback "
                         "(govshare report monthly --month M --department CODE)")
    sys.exit(run_report(*_call_args(args), kind=args.kind, year=args.year, month=args.month or 0,
                        department=args.department, formats=formats, out=Path(args.out)))


class _Parser(argparse.ArgumentParser):
    """argparse, but an option's value may begin with '-'.

    argparse takes any word beginning with '-' after an option for another option, so ``--purpose-text -紧急``,
    ``notify-changes --key -A01`` (a text key) or ``--secret -Xy…`` (one in 64 secrets issued before 2026-12) were
    refused as "expected one argument", and only the ``--option=VALUE`` form got them through. A word after an
    option that takes a value is that value unless it is one of this parser's own options (so ``--secret
    --gateway X``, a secret forgotten, is still refused). Subcommands' parsers are of this class too: each joins
    its own options' values."""

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[no-untyped-def,override]
        return super().parse_known_args(self._values_joined(sys.argv[1:] if args is None else list(args)),
                                         namespace)

    def _values_joined(self, words: list[str]) -> list[str]:
        options = {string: action for action in self._actions for string in action.option_strings}
        joined: list[str] = []
        position = 0
        while position < len(words):
            word = words[position]
            if word == "--":
                return [*joined, *words[position:]]
            action = options.get(word)
            following = words[position + 1] if position + 1 < len(words) else None
            if action is not None and action.nargs is None and following is not None \
                    and following.startswith("-") and following != "--" \
                    and following.split("=", 1)[0] not in options:
                joined.append(f"{word}={following}")
                position += 2
                continue
            joined.append(word)
            position += 1
        return joined


class _CommandParser(_Parser):
    """A command's parser (`govshare up`, `govshare audit verify-trail`): it refuses a word it does not know itself.

    argparse hands a subcommand's unknown words up to `govshare`, which refused `govshare up --prot 39000` under
    its own usage, the list of all 21 commands, not the options of `up` the user was looking for."""

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[no-untyped-def,override]
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras


class _TopParser(_Parser):
    """`govshare` itself, which takes no option but --help before its command.

    argparse checked for the missing command before the unknown word: `govshare --version` or `govshare --port
    39000 up` was told "the following arguments are required: command", not what was wrong with the word."""

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[no-untyped-def,override]
        words = sys.argv[1:] if args is None else list(args)
        if words and words[0].startswith("-") and words[0] not in ("-", "--") and not self._an_option(words[0]):
            self.error(f"unrecognized arguments: {words[0]}: the command comes first (govshare up, govshare query "
                       "…; govshare --help lists them), then its options")
        return super().parse_known_args(words, namespace)

    def _an_option(self, word: str) -> bool:
        """-h, --help, or a prefix of it argparse takes (--he), or --help=… refused by argparse itself."""
        option = word.split("=", 1)[0]
        return option in self._option_string_actions or (
            option.startswith("--") and any(known.startswith(option) for known in self._option_string_actions))


def build_parser() -> argparse.ArgumentParser:
    from services.runtime.settings import MAX_WORKERS

    parser = _TopParser(prog="govshare", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_CommandParser)

    up = commands.add_parser("up", help="run the whole platform locally")
    _add_data_dir(up)
    up.add_argument("--port", type=_port_base, default=50051, help=_port_help(50051))
    up.add_argument("--persons", type=_count(0), default=None,
                    help="synthetic persons to load on a data directory's first start (default 10000)")
    # GOVSHARE_ZONE as every process reads it (trimmed, any case): 'Intranet' reached the banner and connection.json.
    up.add_argument("--zone", default=os.environ.get("GOVSHARE_ZONE", "").strip().lower() or "extranet",
                    choices=["extranet", "intranet"], help="the network zone the platform serves (default "
                    "GOVSHARE_ZONE, else extranet)")
    up.add_argument("--workers", type=_count(1, MAX_WORKERS), default=None,
                    help=f"worker processes per service, 1 to {MAX_WORKERS} (default: GOVSHARE_WORKERS, else 1)")
    up.add_argument("--heavy-read-processes", action="store_true",
                    help="serve catalog's and query's listings and searches by processes of their own (ports N+10, "
                         "N+11), as separate replicas do in a cluster")
    up.add_argument("--heavy-read-nice", type=_count(0, MAX_NICE), default=0, metavar="N",
                    help=f"run those processes at this nice level, 0 to {MAX_NICE} (benchmarks on one machine: "
                         "emulates their own CPU); with --heavy-read-processes")
    up.set_defaults(func=_up)

    serve = commands.add_parser("serve", help="run one service process")
    serve.add_argument("component", choices=sorted((*COMPONENT_FACTORIES, EDGE, CONSOLE)),
                       help="the service to run (configured by GOVSHARE_* variables, docs/configuration.md); "
                            "gateway: the Envoy edge; console: the web console")
    serve.set_defaults(func=_serve)

    render_edge = commands.add_parser("render-edge", help="print the edge's Envoy configuration for GOVSHARE_*")
    render_edge.add_argument("--out", metavar="DIR", type=_path_argument,
                             help="write envoy.json (and descriptors.pb) into DIR "
                             "instead of printing (the chart's init container)")
    render_edge.set_defaults(func=_render_edge)

    migrate = commands.add_parser("migrate", help="apply database migrations")
    _add_data_dir(migrate)
    migrate.set_defaults(func=_migrate)

    seed = commands.add_parser("seed", help="load demo data into a running platform")
    _add_data_dir(seed)
    seed.add_argument("--gateway", default="", help="default: the running platform's, else 127.0.0.1:50051")
    seed.add_argument("--persons", type=_count(0), default=10_000, help="synthetic persons (default %(default)s)")
    seed.add_argument("--entities", type=_count(0), default=2_000,
                      help="synthetic legal entities (default %(default)s)")
    seed.add_argument("--licences", type=_count(0), default=2_000, help="synthetic licences (default %(default)s)")
    seed.add_argument("--seed", type=int, default=42,
                      help="seed of the synthetic data: the same seed, the same records (default %(default)s)")
    seed.add_argument("--credentials", default="", help="default: demo-credentials.json in the data directory")
    seed.add_argument("--again", action="store_true",
                      help="seed although the credentials file exists (every demo system gets a new secret; every demo "
                           "person's password and TOTP secret reset)")
    seed.set_defaults(func=_seed)

    query = commands.add_parser("query", help="online query (联机查询)")
    _add_call_flags(query)
    query.add_argument("--items", default="", help="comma-separated item machine names (default: all allowed)")
    query.set_defaults(func=_query)

    verify = commands.add_parser("verify", help="verification (核验): item=value claims")
    _add_call_flags(verify)
    verify.add_argument("claims", nargs="+", help="item=value")
    verify.set_defaults(func=_verify, purpose="data_verification")

    totp = commands.add_parser("totp", help="the current TOTP code of a demo person (embedded demo only)")
    totp.add_argument("username", help="a demo person's username, e.g. authority.reviewer")
    _add_data_dir(totp)
    totp.add_argument("--credentials", default="", help="default: demo-credentials.json in the data directory")
    totp.set_defaults(func=_totp)

    backup = commands.add_parser("backup", help="write the platform's database to FILE (pg_dump's custom format)")
    _add_data_dir(backup)
    backup.add_argument("file", help="the backup file to write")
    backup.set_defaults(func=_backup)

    restore = commands.add_parser("restore", help="replace the platform's database with the one in FILE "
                                                  "(`govshare up` stopped)")
    _add_data_dir(restore)
    restore.add_argument("file", type=_path_argument, help="a file `govshare backup` wrote")
    restore.set_defaults(func=_restore)

    supervise = commands.add_parser("supervise", help="compute supervision snapshots (R-SUP-1)")
    _add_data_dir(supervise)
    supervise.add_argument("--months", default="previous,current",
                           help="comma-separated: previous, current or YYYY-MM (default previous,current)")
    supervise.set_defaults(func=_supervise)

    report = commands.add_parser("report", help="yearly sharing report or monthly usage feedback (HTML, PDF)")
    report.add_argument("kind", choices=["yearly", "monthly"],
                        help="yearly: the sharing report of a year; monthly: a provider's usage feedback of a month")
    report.add_argument("--year", type=int, required=True, help="the year (2000-2100)")
    report.add_argument("--month", type=int, default=0, help="monthly feedback: the month (1-12)")
    report.add_argument("--department", default="",
                        help="department code (yearly: omit for the whole platform; monthly: the provider)")
    report.add_argument("--format", default="html,pdf", help="html, pdf, csv, comma-separated (default html,pdf)")
    report.add_argument("--out", default="reports", type=_path_argument,
                        help="directory to write the files to, made if missing (default reports)")
    _add_credential_flags(report, "authority")
    report.set_defaults(func=_report)

    export = commands.add_parser("export-bundle", help="extranet: write catalog + foundation data bundle")
    export.add_argument("--out", required=True, type=_path_argument,
                        help="the bundle file to write (.tar.gz; put in place only once "
                                                     "whole), such as govshare-bundle.tar.gz")
    _add_data_dir(export)
    export.set_defaults(func=_export_bundle)

    import_ = commands.add_parser("import-bundle", help="intranet: verify and import a bundle")
    import_.add_argument("--in", required=True, type=_path_argument,
                         help="a bundle export-bundle wrote, signed by a key of "
                                                     "GOVSHARE_BUNDLE_TRUSTED_KEYS")
    _add_data_dir(import_)
    import_.set_defaults(func=_import_bundle)

    export_checkpoints = commands.add_parser(
        "export-checkpoints", help="authority: write the signed audit checkpoints to a file (JSON Lines)")
    export_checkpoints.add_argument("--out", required=True, type=_path_argument,
                                    help="the file to write (JSON Lines; put in place only "
                                    "once whole), and FILE.pub.pem beside it: the public key the platform gave")
    _add_log_flag(export_checkpoints)
    _add_credential_flags(export_checkpoints, "authority")
    export_checkpoints.set_defaults(func=_export_checkpoints)

    verify_checkpoints = commands.add_parser(
        "verify-checkpoints", help="offline: check an export file's signatures with the audit public key")
    verify_checkpoints.add_argument("file", type=_path_argument,
                                    help="a file govshare export-checkpoints wrote (JSON Lines)")
    verify_checkpoints.add_argument("--public-key", action="append", required=True, type=_path_argument,
                                    help="PEM file of a trusted audit public key (repeat for retired keys)")
    _add_log_flag(verify_checkpoints)
    verify_checkpoints.set_defaults(func=_verify_checkpoints)

    frontproc = commands.add_parser("frontproc", help="run a department's 前置机 (docs/frontproc.md)")
    frontproc.add_argument("--config", required=True, type=_path_argument,
                           help="the 前置机's configuration file (YAML)")
    frontproc.add_argument("--check", action="store_true", help="check the configuration and its SQL, then exit")
    frontproc.add_argument("--entry", action="append", default=[], metavar="ENTRY.json",
                           help="with --check: a catalog entry of a resource, checked against the configuration "
                                "and the columns (repeat for several)")
    frontproc.set_defaults(func=_frontproc)

    notify = commands.add_parser("notify-changes", help="a department tells the platform its records changed")
    notify.add_argument("--config", required=True, type=_path_argument,
                        help="the 前置机's configuration file (platform.edge, "
                                                        "system_id and secret)")
    notify.add_argument("--resource", required=True, help="the catalog resource code whose records changed")
    notify.add_argument("--key", action="append", default=[], help="a changed key (repeat); none: every record")
    notify.set_defaults(func=_notify_changes)

    load = commands.add_parser("load-records", help="a source department loads a CSV file of a foundation "
                                                    "dataset's records (UTF-8 or GBK)")
    load.add_argument("dataset", help="population, legal_entity, region, place or licence")
    load.add_argument("file", type=_path_of_argument,
                      help="CSV: a first line naming the items of each column, a record a line")
    load.add_argument("--encoding", default="auto", help="auto (default: UTF-8, else GB18030/GBK), utf-8 or "
                                                         "gb18030 (gbk and gb2312 are read as gb18030)")
    load.add_argument("--source", default="", help="the loading department's code (default: the system's)")
    load.add_argument("--rejected", type=_path_of_argument, default=None, metavar="FILE",
                      help="write every rejected record here, with its line and reasons, to correct and load again")
    load.add_argument("--start-line", type=_count(1), default=1, metavar="N",
                      help="skip the records before line N (to go on after a load that stopped; default 1)")
    _add_credential_flags(load, "police")
    load.set_defaults(func=_load_records)

    submit = commands.add_parser("submit-entry", help="a department drafts and submits the catalog entry of its "
                                                      "前置机's resource")
    submit.add_argument("--config", required=True, type=_path_argument,
                        help="the 前置机's configuration file (platform credentials)")
    submit.add_argument("--entry", required=True, type=_path_argument,
                        help="the entry, a JSON file (govshare.catalog.v1.Entry)")
    submit.set_defaults(func=_submit_entry)
    audit = commands.add_parser("audit", help="the access log: archived months, full verifications; the "
                                              "administrative log's chain")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    verify_archive = audit_commands.add_parser(
        "verify-archive", help="offline: check an archived month's signature, digest and chains")
    verify_archive.add_argument("file", nargs="+", type=_path_argument, help="archived months, access_log_YYYYMM.jsonl "
                                                        "(GOVSHARE_AUDIT_ARCHIVE_DIR); several are also checked to "
                                                        "follow one another")
    verify_archive.add_argument("--public-key", action="append", required=True, type=_path_argument,
                                help="PEM file of a trusted audit public key (repeat for retired keys)")
    verify_archive.set_defaults(func=_verify_archive)
    verify_trail = audit_commands.add_parser(
        "verify-trail", help="authority: start a full verification of the trail as a background job (or, with "
                             "--id, show one; with --cancel, stop it)")
    verify_trail.add_argument("--id", default="", help="an existing job: show it (or cancel it)")
    verify_trail.add_argument("--cancel", action="store_true", help="cancel the job --id names")
    verify_trail.add_argument("--wait", action="store_true", help="poll until the job ends; exit 1 unless intact")
    verify_trail.add_argument("--resume-token", default="", help="start from this signed checkpoint (a "
                                                                 "VerifyAuditChain page token)")
    verify_trail.add_argument("--page-size", type=_count(0), default=0, help="records per page (default 100000)")
    verify_trail.add_argument("--checkpoints", default="", help="an export file you kept (govshare "
                              "export-checkpoints): the job also checks the chains reach its latest checkpoints")
    _add_credential_flags(verify_trail, "authority")
    verify_trail.set_defaults(func=_verify_trail)
    verify_admin_log = audit_commands.add_parser(
        "verify-admin-log", help="authority: walk the administrative log's chain against its signed checkpoints; "
                                 "exit 1 unless intact")
    verify_admin_log.add_argument("--checkpoints", default="", help="an export file you kept (govshare "
                                  "export-checkpoints --log admin): the log must also reach its latest checkpoint")
    _add_credential_flags(verify_admin_log, "authority")
    verify_admin_log.set_defaults(func=_verify_admin_log)
    _describe_commands(parser)
    return parser


def _describe_commands(parser: argparse.ArgumentParser) -> None:
    """Give every command's own --help the line `govshare --help` lists it with.

    argparse shows a subcommand's help= only in its parent's list: `govshare up --help` printed its options under a
    bare usage line, never saying what `up` does."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for listed in action._choices_actions:
                command = action.choices[listed.dest]
                if command.description is None and listed.help:
                    command.description = listed.help
                _describe_commands(command)


def _frontproc(args: argparse.Namespace) -> None:
    from frontproc.__main__ import main as frontproc_main

    sys.exit(frontproc_main([f"--config={args.config}", *(["--check"] if args.check else []),
                             *(f"--entry={entry}" for entry in args.entry)]))


def _submit_entry(args: argparse.Namespace) -> None:
    from frontproc.register import main as submit_main

    sys.exit(submit_main(args.config, args.entry))


def _load_records(args: argparse.Namespace) -> None:
    from services.client import run_load_records

    sys.exit(run_load_records(*_call_args(args), dataset=args.dataset, path=args.file, encoding=args.encoding,
                              source=args.source.strip(), rejected_path=args.rejected, start_line=args.start_line))


def _notify_changes(args: argparse.Namespace) -> None:
    from frontproc.notify import main as notify_main

    sys.exit(notify_main(args.config, args.resource, args.key))


#: The commands that serve until stopped: each drains on SIGTERM its own way (services/runtime/server.py, the
#: launcher, the 前置机); every other command is one-shot and stops on SIGTERM as on Ctrl-C (services/stopping.py).
SERVING_COMMANDS = ("up", "serve", "frontproc")


def main(argv: list[str] | None = None) -> None:
    from services import stopping

    args = build_parser().parse_args(argv)
    if getattr(args, "command", None) not in SERVING_COMMANDS:
        stopping.stop_on_sigterm()
    try:
        args.func(args)
    except BrokenPipeError:
        # The reader went away (`govshare query … | head`): end quietly, as Unix tools do, not with a traceback.
        # Python would report the pipe again when it flushes stdout at exit; point stdout at nothing first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)  # 128 + SIGPIPE, what a shell reports for a tool ended by a closed pipe
    except KeyboardInterrupt as stop:
        # Ctrl-C (or SIGTERM) on a long command (`govshare migrate` of a large schema, an export): one line, not a
        # traceback; a migration cut short is rolled back whole and applied on the next run.
        command = " ".join(part for part in (args.command, getattr(args, "audit_command", None)) if part)
        print(f"govshare {command}: {stopping.said(stop)}", file=sys.stderr)
        sys.exit(stopping.exit_status(stop))  # 130 or 143, what a shell reports for a tool ended by the signal
    except OSError as exc:
        if exc.filename is None:  # not about a file the user named (a connection, say): the traceback helps
            raise
        # A file the user named is missing, a directory, unwritable…: one line naming it, not a traceback.
        command = " ".join(part for part in (args.command, getattr(args, "audit_command", None)) if part)
        print(f"govshare {command}: {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
