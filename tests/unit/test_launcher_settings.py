"""`govshare up` checks every setting its processes will read before it starts anything."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from services.cli import build_parser
from services.launcher import (
    EXTRA_OFFSETS,
    OFFSETS,
    PORT_BLOCK,
    HeavyReads,
    check_ports_free,
    check_settings,
    free_port_base,
    run_platform,
    service_environment,
)
from services.runtime.keys import generate_keys
from services.runtime.settings import SettingsError, load, problems

ROOT = Path(__file__).resolve().parents[2]
PORTS = {name: 52550 + offset for name, offset in (*OFFSETS.items(), *EXTRA_OFFSETS.items())}
KEY = "k" * 40


def _refusal(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], **env: str) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as info:
        check_settings(PORTS, "extranet", 1)
    assert info.value.code == 2
    return capsys.readouterr().err


def test_a_redis_url_of_another_scheme_is_named_not_a_traceback(monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """`GOVSHARE_REDIS_URL=foo govshare up` ended in redis-py's ValueError traceback."""
    err = _refusal(monkeypatch, capsys, GOVSHARE_REDIS_URL="foo")
    assert "GOVSHARE_REDIS_URL: expected a redis://, rediss:// or unix:// URL" in err
    assert err.count("GOVSHARE_REDIS_URL") == 1  # once, not once per service


def test_a_metrics_base_too_high_is_named_with_the_value_set(monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """`GOVSHARE_METRICS_PORT=70000`: each service refused its own port ('70001', '70005'…), after the
    embedded servers had started, and `up` ended with "service on port … exited with status 2"."""
    err = _refusal(monkeypatch, capsys, GOVSHARE_METRICS_PORT="70000")
    assert "GOVSHARE_METRICS_PORT='70000'" in err and "70001" not in err
    assert "GOVSHARE_METRICS_PORT='abc'" in _refusal(monkeypatch, capsys, GOVSHARE_METRICS_PORT="abc")


def test_a_hung_period_that_is_no_number_of_seconds_is_named(monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """GOVSHARE_HUNG_SECONDS: a value that would restart every process at its first slow answer (or never) is
    refused before anything starts."""
    for raw in ("abc", "1", "0"):
        assert f"GOVSHARE_HUNG_SECONDS={raw!r}: expected a number of seconds between 5 and 3600" in _refusal(
            monkeypatch, capsys, GOVSHARE_HUNG_SECONDS=raw)


@pytest.mark.parametrize(("variable", "value", "expected"), [
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "htp://collector:4317", "the scheme must be http or https, not 'htp'"),
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:431700", "the port must be a number between 0 and 65535"),
    ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://:4317", "no host"),
])
def test_an_otlp_endpoint_no_exporter_can_reach_is_named(monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str], variable: str,
                                                         value: str, expected: str) -> None:
    """A typo'd OTLP endpoint started every service as if tracing were on: the exporter failed on a background
    thread at each batch, the spans were lost, and the edge's renderer stopped on the port with a traceback."""
    err = _refusal(monkeypatch, capsys, **{variable: value})
    assert f"{variable}={value!r}: {expected} (e.g. http://otel-collector:4317)" in err
    assert err.count(variable) == 1 and "Traceback" not in err


def test_a_descriptor_set_that_is_not_one_stops_up_before_anything_starts(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The edge found it only once the embedded servers and every service ran, and was restarted forever."""
    (tmp_path / "api.yaml").write_text("openapi: 3.0.3\n")
    err = _refusal(monkeypatch, capsys, GOVSHARE_DESCRIPTOR_SET=str(tmp_path / "api.yaml"))
    assert f"GOVSHARE_DESCRIPTOR_SET: {tmp_path / 'api.yaml'} is not a protobuf descriptor set" in err


def test_every_problem_of_services_and_console_in_one_message(monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    err = _refusal(monkeypatch, capsys, GOVSHARE_LOG_LEVEL="loud", GOVSHARE_MASK_RULES="bad",
                   GOVSHARE_CONSOLE_PAGE_SIZE="0", GOVSHARE_DATABASE_URL="mysql://u:pw-7f@h/db")
    assert err.startswith("govshare up: invalid configuration:")
    for name in ("GOVSHARE_LOG_LEVEL", "GOVSHARE_MASK_RULES", "GOVSHARE_CONSOLE_PAGE_SIZE",
                 "GOVSHARE_DATABASE_URL: expected a postgresql:// URL"):
        assert name in err
    assert "pw-7f" not in err and "Traceback" not in err


def test_the_settings_up_gives_by_default_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GOVSHARE_DATABASE_URL", "GOVSHARE_REDIS_URL", "GOVSHARE_METRICS_PORT", "GOVSHARE_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GOVSHARE_METRICS_PORT", "9400")
    check_settings(PORTS, "intranet", 2)


def test_a_served_process_refuses_database_and_redis_urls_of_another_scheme() -> None:
    env = {"GOVSHARE_INTERNAL_KEY": KEY, "GOVSHARE_DATABASE_URL": "mysql://x/y", "GOVSHARE_REDIS_URL": "http://r",
           "GOVSHARE_AUTHORIZATION_TARGET": "authorization:50051",
           "GOVSHARE_TOKEN_PUBLIC_KEY": generate_keys().token_public_key}
    with pytest.raises(SettingsError) as info:
        load("catalog", env)
    assert "GOVSHARE_DATABASE_URL: expected a postgresql:// URL" in str(info.value)
    assert "GOVSHARE_REDIS_URL: expected" in str(info.value)
    load("catalog", {**env, "GOVSHARE_DATABASE_URL": "postgres://x/y", "GOVSHARE_REDIS_URL": "unix:///r.sock"})


def test_a_data_directory_that_is_a_file_is_named(tmp_path: Path) -> None:
    """`govshare up --data-dir /etc/passwd` said only "/etc/passwd: File exists"."""
    taken = tmp_path / "notes.txt"
    taken.write_text("mine")
    with pytest.raises(SystemExit) as info:
        run_platform(taken)
    assert str(info.value).startswith(f"govshare up: the data directory {taken} is a file")
    assert taken.read_text() == "mine"


def test_a_mask_rule_with_a_bad_pattern_is_named_at_start(monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """`GOVSHARE_MASK_RULES='name=abc' govshare up` passed the check; the query (and catalog) process then died
    at start in the Masker's ValueError traceback and `up` restarted it forever."""
    err = _refusal(monkeypatch, capsys, GOVSHARE_MASK_RULES="phone=3,2;name=abc")
    assert "GOVSHARE_MASK_RULES: mask rule name='abc': expected 'head,tail', 'division' or 'full'" in err
    assert "phone" not in err and "Traceback" not in err
    assert any("name='1,x'" in problem for problem in problems("query", {"GOVSHARE_MASK_RULES": "name=1,x"}))


def test_token_keys_that_are_not_ed25519_pem_or_do_not_match_are_named_at_start() -> None:
    """`GOVSHARE_TOKEN_PUBLIC_KEY=garbage govshare serve catalog` passed the settings and died building the
    service in a 'ValueError: no PEM public key found' traceback (exit 1, not 2); a signing key whose public half
    was not listed started an authorization service whose tokens every service refused."""
    keys, other = generate_keys(), generate_keys()
    env = {"GOVSHARE_INTERNAL_KEY": KEY, "GOVSHARE_DATABASE_URL": "postgresql://x/y",
           "GOVSHARE_REDIS_URL": "redis://r", "GOVSHARE_AUTHORIZATION_TARGET": "authorization:50051",
           "GOVSHARE_CATALOG_TARGET": "catalog:50051", "GOVSHARE_TOKEN_PUBLIC_KEY": "garbage",
           "GOVSHARE_TOKEN_PRIVATE_KEY": "garbage"}
    with pytest.raises(SettingsError) as info:
        load("authorization", env)
    assert "GOVSHARE_TOKEN_PUBLIC_KEY: no PEM public key found" in str(info.value)
    assert "GOVSHARE_TOKEN_PRIVATE_KEY: not a PEM private key" in str(info.value)
    env |= {"GOVSHARE_TOKEN_PRIVATE_KEY": keys.token_private_key, "GOVSHARE_TOKEN_PUBLIC_KEY": other.token_public_key}
    with pytest.raises(SettingsError, match="its public half is not among GOVSHARE_TOKEN_PUBLIC_KEY's keys"):
        load("authorization", env)
    load("authorization", {**env, "GOVSHARE_TOKEN_PUBLIC_KEY": other.token_public_key + keys.token_public_key})


def test_a_number_setting_that_is_not_a_number_says_what_is_expected() -> None:
    """`GOVSHARE_WORKERS=1e3` said "expected a int", and a float setting "expected a float"."""
    found = problems("query", {"GOVSHARE_WORKERS": "1e3", "GOVSHARE_AUDIT_LINGER_MS": "3ms"})
    assert "GOVSHARE_WORKERS='1e3': expected a whole number between 1 and 64" in found
    assert "GOVSHARE_AUDIT_LINGER_MS='3ms': expected a number between 0.0 and 1000.0" in found


def test_a_cors_origin_a_browser_never_sends_is_named() -> None:
    """`GOVSHARE_CORS_ORIGINS=console.example.gov.cn` (or with a trailing slash, or '*') was accepted and the edge,
    which matches the Origin header exactly, then admitted no browser, without a word."""
    raw = "console.example.gov.cn, https://console.example.gov.cn/, *, https://ok.example.gov.cn:8443"
    found = problems("gateway", {"GOVSHARE_CORS_ORIGINS": raw})
    for bad in ("console.example.gov.cn", "https://console.example.gov.cn/"):
        assert any(problem.startswith(f"GOVSHARE_CORS_ORIGINS: {bad!r} is not an origin") for problem in found)
    assert any(problem.startswith("GOVSHARE_CORS_ORIGINS: '*' would admit every site's pages") for problem in found)
    assert not any("ok.example" in problem for problem in found)


def test_a_cors_origin_a_browser_writes_otherwise_names_the_form_it_sends() -> None:
    """An upper-case host, the scheme's own port, a Chinese domain name or a wildcard host passed the check, and the
    edge, which compares the Origin header exactly, admitted no browser: browsers send the host in lower case and
    in its xn-- form, leave out :443 and :80, and never send '*'."""
    raw = ("https://Console.Example.gov.cn, https://console.example.gov.cn:443, http://intranet.example:80, "
           "https://例子.中国, https://*.example.gov.cn, https://ok.example.gov.cn:8443, http://[::1]:8080, "
           "https://ok_2.example.gov.cn, null")
    found = problems("gateway", {"GOVSHARE_CORS_ORIGINS": raw})
    for bad, form in (("https://Console.Example.gov.cn", "https://console.example.gov.cn"),
                      ("https://console.example.gov.cn:443", "https://console.example.gov.cn"),
                      ("http://intranet.example:80", "http://intranet.example"),
                      ("https://例子.中国", "https://xn--fsqu00a.xn--fiqs8s")):
        assert f"GOVSHARE_CORS_ORIGINS: {bad!r} is not how a browser sends this origin: give {form!r}" in found, found
    assert any(problem.startswith("GOVSHARE_CORS_ORIGINS: 'https://*.example.gov.cn': a wildcard matches no")
               for problem in found), found
    # A file:// page's Origin: admitting it admits every such page.
    assert any(problem.startswith("GOVSHARE_CORS_ORIGINS: 'null' is the origin of every file:// page")
               for problem in found), found
    assert not any("ok" in problem or "::1" in problem for problem in found), found


def test_an_audit_archive_dir_that_is_a_file_is_named_at_start(tmp_path: Path) -> None:
    """GOVSHARE_AUDIT_ARCHIVE_DIR naming a file started the query service; each hourly pass then logged only
    "archiving expired access log months failed (FileExistsError)" and the expired months stayed online."""
    taken = tmp_path / "archive"
    taken.write_text("not a directory")
    env = {"GOVSHARE_AUDIT_RETENTION_MONTHS": "12", "GOVSHARE_AUDIT_ARCHIVE_DIR": str(taken)}
    assert f"GOVSHARE_AUDIT_ARCHIVE_DIR={str(taken)!r}: is a file, not a directory" in problems("query", env)
    env["GOVSHARE_AUDIT_ARCHIVE_DIR"] = str(tmp_path / "new" / "archive")  # made at the first archive
    assert not [p for p in problems("query", env) if "ARCHIVE" in p]


def test_an_audit_archive_dir_that_cannot_be_made_is_named_at_start(tmp_path: Path) -> None:
    """One that did not exist was taken as made at the first archive, whatever lay above it: a path under a file
    (or a read-only root, the pods' filesystem) started the query service, and every hourly pass then failed to
    make it, the expired months staying online."""
    taken = tmp_path / "archive"
    taken.write_text("not a directory")
    under = taken / "months" / "2026"
    env = {"GOVSHARE_AUDIT_RETENTION_MONTHS": "12", "GOVSHARE_AUDIT_ARCHIVE_DIR": str(under)}
    assert [p for p in problems("query", env) if "ARCHIVE" in p] == [
        f"GOVSHARE_AUDIT_ARCHIVE_DIR={str(under)!r}: does not exist and cannot be made ({taken} is a file, not a "
        "directory): make it, or give the query service a writable volume there"]


def test_oidc_settings_without_the_issuer_are_refused_not_ignored() -> None:
    """GOVSHARE_OIDC_JWKS_URL and GOVSHARE_OIDC_AUDIENCE without GOVSHARE_OIDC_ISSUER (docs: "set together") left
    OpenID Connect sign-in silently off."""
    env = {"GOVSHARE_OIDC_JWKS_URL": "https://sso.example.gov.cn/realms/gov/protocol/openid-connect/certs",
           "GOVSHARE_OIDC_AUDIENCE": "govshare-console"}
    assert any(p.startswith("GOVSHARE_OIDC_JWKS_URL or GOVSHARE_OIDC_AUDIENCE is set without GOVSHARE_OIDC_ISSUER")
               for p in problems("authorization", env))
    env["GOVSHARE_OIDC_ISSUER"] = "https://sso.example.gov.cn/realms/gov"
    assert not [p for p in problems("authorization", env) if "OIDC" in p]


def test_a_rate_limit_burst_below_the_rate_is_refused_naming_both() -> None:
    """GOVSHARE_RATE_LIMIT_PER_SECOND=2000 with GOVSHARE_RATE_LIMIT_BURST=10 started: Envoy's bucket holds at most
    the burst, each second's refill of 2000 tokens was cut to 10, and a system got 10 calls a second (its
    RESOURCE_EXHAUSTED still promised 2000)."""
    found = problems("gateway", {"GOVSHARE_RATE_LIMIT_PER_SECOND": "2000", "GOVSHARE_RATE_LIMIT_BURST": "10"})
    assert any(p.startswith("GOVSHARE_RATE_LIMIT_BURST=10 is below GOVSHARE_RATE_LIMIT_PER_SECOND=2000: ")
               for p in found), found
    for rate, burst in (("2000", "2000"), ("0.001", "3"), ("1.5", "2")):
        env = {"GOVSHARE_RATE_LIMIT_PER_SECOND": rate, "GOVSHARE_RATE_LIMIT_BURST": burst}
        assert not [p for p in problems("gateway", env) if "RATE_LIMIT" in p]
    # A value out of its range is named once, on its own.
    found = problems("gateway", {"GOVSHARE_RATE_LIMIT_PER_SECOND": "inf", "GOVSHARE_RATE_LIMIT_BURST": "0"})
    assert [p for p in found if "RATE_LIMIT" in p] == [
        "GOVSHARE_RATE_LIMIT_BURST='0': must be between 1 and 10000000",
        "GOVSHARE_RATE_LIMIT_PER_SECOND='inf': must be between 0.001 and 1000000000.0"], found


def test_a_health_listener_on_the_grpc_port_is_refused() -> None:
    """GOVSHARE_HEALTH_LISTEN=0.0.0.0:50051 beside GOVSHARE_LISTEN=0.0.0.0:50051 started: gRPC bound both with
    SO_REUSEPORT and part of the clients' calls reached the health-only server (UNIMPLEMENTED)."""
    env = {"GOVSHARE_LISTEN": "0.0.0.0:50051", "GOVSHARE_HEALTH_LISTEN": "127.0.0.1:50051"}
    assert any(p.startswith("GOVSHARE_HEALTH_LISTEN='127.0.0.1:50051': give it a port of its own, not "
                            "GOVSHARE_LISTEN's (50051)") for p in problems("catalog", env))
    env["GOVSHARE_HEALTH_LISTEN"] = "0.0.0.0:50052"
    assert not [p for p in problems("catalog", env) if "HEALTH" in p]


def test_govshare_workers_is_read_and_checked_by_up(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """`GOVSHARE_WORKERS=abc govshare up` started as if nothing were wrong, and `GOVSHARE_WORKERS=2` ran one worker
    per service: the launcher wrote its own `--workers` (1 by default) over the variable in every process's
    environment, so the variable was neither used nor checked. Without `--workers` it is now both; the flag, when
    given, still wins."""
    keys = generate_keys()
    monkeypatch.setenv("GOVSHARE_WORKERS", "abc")
    with pytest.raises(SystemExit) as info:
        check_settings(PORTS, "extranet", None)
    assert info.value.code == 2
    assert "GOVSHARE_WORKERS='abc': expected a whole number between 1 and 64" in capsys.readouterr().err
    monkeypatch.setenv("GOVSHARE_WORKERS", "2")
    check_settings(PORTS, "extranet", None)
    assert service_environment("query", PORTS, "postgresql://x/y", "redis://r", keys, "extranet",
                               None)["GOVSHARE_WORKERS"] == "2"
    assert service_environment("query", PORTS, "postgresql://x/y", "redis://r", keys, "extranet",
                               3)["GOVSHARE_WORKERS"] == "3"
    assert build_parser().parse_args(["up"]).workers is None


def test_a_metrics_host_that_is_no_host_name_is_refused_at_start() -> None:
    """`GOVSHARE_METRICS_HOST=not..a..host` (a doubled dot) ended every service in a UnicodeError traceback from the
    metrics server's bind ("label empty or too long"), restarted by `govshare up`; an address that merely does not
    resolve was already one line. Now the settings name the variable, and GOVSHARE_LISTEN's host when it stands in
    for it."""
    env = {"GOVSHARE_METRICS_PORT": "9464", "GOVSHARE_METRICS_HOST": "not..a..host"}
    assert any(p.startswith("GOVSHARE_METRICS_HOST='not..a..host': not a host name or IP address")
               for p in problems("catalog", env))
    env = {"GOVSHARE_METRICS_PORT": "9464", "GOVSHARE_LISTEN": "not..a..host:50051"}
    assert any(p.startswith("GOVSHARE_LISTEN='not..a..host:50051': not a host name or IP address")
               for p in problems("catalog", env))
    for host in ("0.0.0.0", "::", "localhost", "metrics.example.gov.cn"):
        assert not [p for p in problems("catalog", {"GOVSHARE_METRICS_PORT": "9464", "GOVSHARE_METRICS_HOST": host})
                    if "HOST" in p], host


@pytest.mark.parametrize("variable", ["GOVSHARE_LISTEN", "GOVSHARE_HEALTH_LISTEN"])
def test_a_listen_address_the_process_cannot_bind_is_one_line(variable: str) -> None:
    """`govshare serve` on an address of another host (192.0.2.1 is TEST-NET-1, never a local address) ended in
    grpc's RuntimeError traceback, "Failed to bind to address …; set GRPC_VERBOSITY=debug", naming no variable."""
    env = {**os.environ, "GOVSHARE_INTERNAL_KEY": KEY, "GOVSHARE_DATABASE_URL": "postgresql://x@127.0.0.1:1/x",
           "GOVSHARE_REDIS_URL": "redis://127.0.0.1:1", "GOVSHARE_AUTHORIZATION_TARGET": "127.0.0.1:1",
           "GOVSHARE_TOKEN_PUBLIC_KEY": generate_keys().token_public_key, "GOVSHARE_LISTEN": "127.0.0.1:0",
           variable: "192.0.2.1:0"}
    done = subprocess.run([sys.executable, "-m", "services.cli", "serve", "catalog"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert f"govshare catalog: cannot listen on 192.0.2.1:0 ({variable}): Cannot assign requested address (the " \
        "address is not one of this host's)" in done.stderr, done.stderr


@pytest.mark.parametrize("shared", [False, True], ids=["plain", "reuseport"])
@pytest.mark.parametrize("variable", ["GOVSHARE_LISTEN", "GOVSHARE_HEALTH_LISTEN"])
def test_a_listen_port_another_process_holds_is_named_as_taken(variable: str, shared: bool) -> None:
    """A port another process listened on ended the process with "gRPC could not bind it (an address that is not
    this host's, or a port this process may not take)": neither was the case, and the operator looked for a wrong
    address. The line now says the port is in use. A holder listening with SO_REUSEPORT, as a govshare service
    does (its workers share the port), let a second service bind the port without a word, and the two split the
    calls: it is refused alike."""
    with socket.socket() as holder:
        if shared:
            holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = f"127.0.0.1:{holder.getsockname()[1]}"
        env = {**os.environ, "GOVSHARE_INTERNAL_KEY": KEY, "GOVSHARE_DATABASE_URL": "postgresql://x@127.0.0.1:1/x",
               "GOVSHARE_REDIS_URL": "redis://127.0.0.1:1", "GOVSHARE_AUTHORIZATION_TARGET": "127.0.0.1:1",
               "GOVSHARE_TOKEN_PUBLIC_KEY": generate_keys().token_public_key, "GOVSHARE_LISTEN": "127.0.0.1:0",
               variable: taken}
        done = subprocess.run([sys.executable, "-m", "services.cli", "serve", "catalog"], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert f"govshare catalog: cannot listen on {taken} ({variable}): Address already in use (another process " \
        "listens on that port: stop it, or give this one another port)" in done.stderr, done.stderr


def _taken(port: int, ports: dict[str, int], base: int) -> str:
    """check_ports_free's refusal while ``port`` is held by another listener."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        with pytest.raises(SystemExit) as info:
            check_ports_free(ports, base)
    return str(info.value.code)


def test_a_taken_heavy_read_port_names_the_whole_block(monkeypatch: pytest.MonkeyPatch) -> None:
    """With --heavy-read-processes the block is N to N+11: the message said N+9, whatever was used."""
    monkeypatch.delenv("GOVSHARE_METRICS_PORT", raising=False)
    base = free_port_base()
    ports = {name: base + offset for name, offset in (*OFFSETS.items(), *EXTRA_OFFSETS.items())}
    ports.update(HeavyReads(processes=True).ports(base))
    message = _taken(base + 11, ports, base)
    assert f"port {base + 11} (query heavy reads) is already in use" in message
    assert f"--port N (govshare uses N to N+{PORT_BLOCK - 1}; now {base})" in message


def test_a_taken_port_names_a_free_block_to_give_as_port(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the block taken (50051, gRPC's example port, is another program's), `govshare up` said "choose other
    ports with --port N" and left the newcomer to guess an N, one start after another: it names a free one."""
    monkeypatch.delenv("GOVSHARE_METRICS_PORT", raising=False)
    base = free_port_base()
    ports = {name: base + offset for name, offset in (*OFFSETS.items(), *EXTRA_OFFSETS.items())}
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", base + 3))
        holder.listen()
        with pytest.raises(SystemExit) as info:
            check_ports_free(ports, base)
        message = str(info.value.code)
        hint = re.search(r"\): --port (\d+) is free now$", message)
        assert hint, message
        free = int(hint.group(1))
        moved = {name: port - base + free for name, port in ports.items()}
        check_ports_free(moved, free)  # the block it names is free (the held port not in it)
        assert not free <= base + 3 <= free + PORT_BLOCK - 1, message


def test_a_console_port_another_program_holds_on_the_ipv6_loopback_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    """The banner sends browsers to http://localhost:N+6/, which a browser may open on ::1 first; the console
    listens on 127.0.0.1, and only that was checked: with another program on [::1]:N+6 (a development server bound
    to localhost), `govshare up` started and its console link opened that program."""
    monkeypatch.delenv("GOVSHARE_METRICS_PORT", raising=False)
    base = free_port_base()
    ports = {name: base + offset for name, offset in (*OFFSETS.items(), *EXTRA_OFFSETS.items())}
    console = ports["console"]
    with socket.socket(socket.AF_INET6) as holder:
        holder.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        holder.bind(("::1", console))
        holder.listen()
        with pytest.raises(SystemExit) as info:
            check_ports_free(ports, base)
    message = str(info.value.code)
    assert f"port {console} (console, on ::1, where a browser opening http://localhost:{console}/ may go) is " \
           "already in use" in message, message
    assert "--port N" in message


def test_a_taken_metrics_port_is_named_with_its_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """GOVSHARE_METRICS_PORT=B gives each service B + its offset: a taken one stopped that service at every start,
    and `up` restarted it forever, without naming the port or the setting."""
    base = free_port_base()
    metrics = free_port_base(start=base + PORT_BLOCK)
    monkeypatch.setenv("GOVSHARE_METRICS_PORT", str(metrics))
    ports = {name: base + offset for name, offset in (*OFFSETS.items(), *EXTRA_OFFSETS.items())}
    message = _taken(metrics + OFFSETS["query"], ports, base)
    assert f"port {metrics + 3} (query metrics) is already in use" in message
    assert f"GOVSHARE_METRICS_PORT=B (the services' metrics take B to B+5; now {metrics})" in message


@pytest.mark.parametrize("url, says", [
    ("postgresql://govshare:pw-7f@db:54x2/govshare", "Port could not be cast to integer value"),
    ("postgresql://govshare:pw-7f@db:99999/govshare", "Port out of range"),
    ("postgresql://govshare:pw-7f@[fd00::1/govshare", "Invalid IPv6 URL"),
    ("postgresql://govshare:p@ss-7f@db/govshare", "holds a character a URL reserves"),
    # asyncpg reads these only when it connects: a service retried for ever ("dependencies not ready ([Errno 2] No
    # such file or directory); retrying"), naming neither the variable nor the file.
    ("postgresql://govshare:pw-7f@db/govshare?sslmode=verify-ful",
     "sslmode='verify-ful' in the URL is none of disable, allow, prefer, require, verify-ca, verify-full"),
    ("postgresql://govshare:pw-7f@db/govshare?target_session_attrs=master", "target_session_attrs='master'"),
    ("postgresql://govshare:pw-7f@db/govshare?ssl_min_protocol_version=1.2", "ssl_min_protocol_version='1.2'"),
    ("postgresql://govshare:pw-7f@db/govshare?sslmode=verify-full&sslrootcert=/nonexistent/pg/ca.crt",
     "sslrootcert='/nonexistent/pg/ca.crt' in the URL: no such file"),
])
def test_a_database_url_asyncpg_cannot_read_is_refused_naming_the_variable(
        url: str, says: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A port that is no number, one out of range or a broken IPv6 host passed the scheme check; the services
    stopped at their first connection, and `govshare migrate` (seed, export-bundle, import-bundle, backup,
    restore) ended, in ValueError or OverflowError tracebacks from asyncpg's or urllib's parsing. The 前置机's own
    check of its database URL (frontproc.config) is now the platform's: one line naming the variable, never the
    password."""
    from services.cli import main

    env = {"GOVSHARE_INTERNAL_KEY": KEY, "GOVSHARE_DATABASE_URL": url, "GOVSHARE_REDIS_URL": "unix:///r.sock",
           "GOVSHARE_AUTHORIZATION_TARGET": "authorization:50051",
           "GOVSHARE_TOKEN_PUBLIC_KEY": generate_keys().token_public_key}
    with pytest.raises(SettingsError) as info:
        load("catalog", env)
    assert "GOVSHARE_DATABASE_URL: " in str(info.value)
    assert says in str(info.value) and "pw-7f" not in str(info.value)
    monkeypatch.setenv("GOVSHARE_DATABASE_URL", url)
    for command in (["migrate"], ["backup", "never-written.dump"]):
        with pytest.raises(SystemExit) as refused:
            main(command)
        message = str(refused.value.code)
        assert message.startswith("GOVSHARE_DATABASE_URL: ") and says in message, message
        assert "pw-7f" not in message


@pytest.mark.parametrize("content", [b"", b'{"internal_key": "abc", "token_private_key": ', b"\xff\xfe{}",
                                     b'["internal_key"]', b'{"internal_key": 5}'])
def test_a_keys_file_that_is_not_the_platforms_keys_stops_up_in_one_line_and_is_kept(
        content: bytes, tmp_path: Path) -> None:
    """keys.json cut short (a full disk, a copy interrupted) or edited by hand ended `govshare up` in a
    JSONDecodeError (or TypeError) traceback after the embedded servers had started, saying nothing of what to do.
    It is one line now, telling to put back the copy kept with the backups, and the file is left as it is: new
    keys would leave every local account's TOTP secret unreadable."""
    from services.launcher import load_or_create_keys

    path = tmp_path / "keys.json"
    path.write_bytes(content)
    with pytest.raises(SystemExit) as refused:
        load_or_create_keys(path)
    message = str(refused.value.code)
    assert message.startswith(f"govshare up: {path} is not the platform's keys ("), message
    assert "put back the copy kept with your backups" in message and "\n" not in message
    assert path.read_bytes() == content


def _disk_filled_while_seeding() -> BaseException:
    """What a disk that filled while the demo was seeded raised out of the launcher: asyncpg's DiskFullError
    (raised so by the embedded PostgreSQL of a full tmpfs) within the seeding's own error handling."""
    import asyncpg

    try:
        try:
            raise asyncpg.exceptions.DiskFullError('could not extend file "base/5/16509": No space left on device')
        except asyncpg.exceptions.DiskFullError:
            raise RuntimeError("seeding failed") from None  # cleanup code raising while handling it
    except RuntimeError as exc:
        return exc


@pytest.mark.parametrize("error, says", [
    (_disk_filled_while_seeding(), 'PostgreSQL has no room left to write (DiskFullError: could not extend file '
                                   '"base/5/16509": No space left on device); the embedded one keeps its files in '),
    (OSError(28, "No space left on device", "/srv/g/connection.json"),
     "no room left to write /srv/g/connection.json (No space left on device): free room on that disk"),
])
def test_a_disk_that_fills_while_up_starts_is_named_in_one_line(
        error: BaseException, says: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A disk that filled while `govshare up` started (checked on a 120 MB tmpfs filled once "seeding demo data"
    was printed) ended it, after "stopping…", in a screenful of asyncpg traceback: one line now, naming the disk
    and what to do."""
    import services.launcher as launcher

    def fails(*_args: object, **_kwargs: object) -> None:
        raise error

    monkeypatch.delenv("GOVSHARE_DATABASE_URL", raising=False)
    monkeypatch.setattr(launcher, "_run_locked", fails)
    with pytest.raises(SystemExit) as refused:
        run_platform(tmp_path / "data")
    message = str(refused.value.code)
    assert message.startswith("govshare up: ") and says in message, message
    assert f"df -h {tmp_path / 'data'}" in message and "then start again" in message and "\n" not in message


def test_an_error_other_than_a_full_disk_while_up_starts_is_not_taken_for_one(monkeypatch: pytest.MonkeyPatch,
                                                                             tmp_path: Path) -> None:
    import services.launcher as launcher

    def fails(*_args: object, **_kwargs: object) -> None:
        raise OSError(13, "Permission denied", "/srv/g/keys.json")

    monkeypatch.setattr(launcher, "_run_locked", fails)
    with pytest.raises(PermissionError):
        run_platform(tmp_path / "data")


def test_a_demo_credentials_file_cut_short_stops_up_before_anything_starts(tmp_path: Path) -> None:
    """demo-credentials.json cut short (a full disk, an interrupted copy) let `govshare up` start PostgreSQL,
    Redis, every service and the console, then end in a JSONDecodeError traceback when it read the file to add the
    demo persons. It is read first now: one line, nothing started (no embedded database made in the directory)."""
    from services.launcher import free_port_base

    (tmp_path / "demo-credentials.json").write_text('{"gateway": "127.0.0.1:50051", "systems": {"auth',
                                                    encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "services.cli", "up", "--data-dir", str(tmp_path), "--persons", "0",
                           "--port", str(free_port_base())], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(
        f"govshare up: {tmp_path / 'demo-credentials.json'} is not the demo credentials file it wrote ("), done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "pg").exists()


@pytest.mark.parametrize("url, says", [
    ("redis://:pw-7f@cache:99999/0", "the URL is not valid (Port out of range 0-65535)"),
    ("redis://:pw-7f@cache:6379/0?socket_timeout=5s", "Invalid value for 'socket_timeout' in connection URL"),
    ("rediss://:pw-7f@[fd00::1/0", "Invalid IPv6 URL"),
    ("redis://:pw-7f@cache:6379/sessions", "the path after the host must be the database's number"),
    # a CA mounted elsewhere than the URL says (the chart's redis.ca is at /etc/govshare/redis-ca/ca.crt): redis-py
    # opens it only when it connects, and the service retried for ever ('not ready ([Errno 2] No such file …)')
    ("rediss://:pw-7f@cache:6379/0?ssl_ca_certs=/nonexistent/redis/ca.crt",
     "ssl_ca_certs='/nonexistent/redis/ca.crt' in the URL: no such file"),
])
def test_a_redis_url_redis_py_cannot_read_is_refused_naming_the_variable(url: str, says: str) -> None:
    """A Redis URL of the right scheme passed the check whatever followed: redis-py reads it only when it
    connects, so a served process took its ValueError for Redis not being up and retried for ever ("catalog:
    dependencies not ready (Port out of range 0-65535); retrying"), never naming GOVSHARE_REDIS_URL; a database
    that is no number was read as database 0. The process now stops at start with one line naming the variable,
    never the password, as `govshare up` and the console do."""
    from console.settings import ConsoleSettingsError, load_console_settings

    env = {"GOVSHARE_INTERNAL_KEY": KEY, "GOVSHARE_DATABASE_URL": "postgresql://govshare@db/govshare",
           "GOVSHARE_REDIS_URL": url, "GOVSHARE_AUTHORIZATION_TARGET": "127.0.0.1:1",
           "GOVSHARE_TOKEN_PUBLIC_KEY": generate_keys().token_public_key, "GOVSHARE_LISTEN": "127.0.0.1:0",
           "GOVSHARE_METRICS_PORT": "0", "GOVSHARE_DEPENDENCY_WAIT_SECONDS": "1"}
    served = subprocess.run([sys.executable, "-m", "services.cli", "serve", "catalog"], cwd=ROOT, timeout=120,
                            env={**os.environ, **env}, capture_output=True, text=True)
    assert served.returncode == 2, served.stderr[-2000:]
    (line,) = [line for line in served.stderr.splitlines() if "GOVSHARE_REDIS_URL" in line]
    assert line.startswith("  - GOVSHARE_REDIS_URL: ") and says in line, served.stderr
    assert "pw-7f" not in served.stderr
    with pytest.raises(ConsoleSettingsError) as console:
        load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:8443", "GOVSHARE_CONSOLE_REDIS_URL": url})
    assert "GOVSHARE_CONSOLE_REDIS_URL: " in str(console.value) and says in str(console.value)
    assert "pw-7f" not in str(console.value)
    # With sentinels the URL gives the password and database: one it cannot give is named, not a traceback.
    sentinels = {**env, "GOVSHARE_REDIS_SENTINELS": "s1:26379", "GOVSHARE_REDIS_SENTINEL_MASTER": "govshare",
                 "GOVSHARE_REDIS_URL": "redis://:pw-7f@cache/0?db=sessions"}
    assert [p for p in problems("catalog", sentinels) if "REDIS" in p] == [
        "GOVSHARE_REDIS_URL: the URL is not valid (Invalid value for 'db' in connection URL.)"]


def test_a_database_url_verifying_the_server_with_no_ca_stops_the_start_naming_what_to_add(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """deploy.md's own Secret gave database-url '…?sslmode=verify-full' and nothing else: asyncpg then looks for the
    CA in ~/.postgresql/root.crt, which the image's user (HOME=/nonexistent) has not, and every service retried for
    twenty minutes 'PostgreSQL (GOVSHARE_DATABASE_URL) not ready (root certificate file … does not exist …)', a
    database taken for down, until the startup probe killed it. No wait makes that file appear: the start ends,
    exit 2, saying which CA to give and how."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("PGSSLROOTCERT", raising=False)
    monkeypatch.delenv("PGSSLMODE", raising=False)
    url = "postgresql://govshare:pw-7f@db.example.internal:5432/govshare?sslmode=verify-full"
    env = {**os.environ, "GOVSHARE_INTERNAL_KEY": KEY, "GOVSHARE_DATABASE_URL": url,
           "GOVSHARE_REDIS_URL": "unix:///r.sock", "GOVSHARE_AUTHORIZATION_TARGET": "127.0.0.1:1",
           "GOVSHARE_TOKEN_PUBLIC_KEY": generate_keys().token_public_key, "GOVSHARE_LISTEN": "127.0.0.1:0"}
    done = subprocess.run([sys.executable, "-m", "services.cli", "serve", "catalog"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert ("GOVSHARE_DATABASE_URL: sslmode=verify-full checks PostgreSQL's certificate against a CA, and none is "
            "given: add sslrootcert=<the CA's PEM file> to the URL, or name it in PGSSLROOTCERT "
            "(the chart: database.ca)") in done.stderr
    assert "pw-7f" not in done.stderr
    with pytest.raises(SettingsError, match="sslmode=verify-ca checks"):
        load("catalog", {**env, "GOVSHARE_DATABASE_URL": url.replace("verify-full", "verify-ca")})
    monkeypatch.setenv("PGSSLROOTCERT", str(tmp_path / "no-such-ca.crt"))
    with pytest.raises(SettingsError, match=r"PGSSLROOTCERT='.*no-such-ca.crt': no such file"):
        load("catalog", env)
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    monkeypatch.setenv("PGSSLROOTCERT", str(ca))  # as the chart's database.ca sets it
    load("catalog", env)
    monkeypatch.delenv("PGSSLROOTCERT")
    (tmp_path / ".postgresql").mkdir()
    (tmp_path / ".postgresql" / "root.crt").write_text(ca.read_text(encoding="utf-8"), encoding="utf-8")
    load("catalog", env)  # where asyncpg (and libpq) look by default


def test_a_database_url_with_tls_parameters_asyncpg_takes_is_accepted(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    env = {"GOVSHARE_INTERNAL_KEY": KEY, "GOVSHARE_REDIS_URL": "unix:///r.sock",
           "GOVSHARE_AUTHORIZATION_TARGET": "authorization:50051",
           "GOVSHARE_TOKEN_PUBLIC_KEY": generate_keys().token_public_key}
    for query in (f"sslmode=verify-full&sslrootcert={ca}", f"sslmode=verify_ca&sslrootcert={ca}",
                  "target_session_attrs=read-write",
                  "ssl_min_protocol_version=TLSv1.2", "ssl_min_protocol_version=TLSv1_3"):
        load("catalog", {**env, "GOVSHARE_DATABASE_URL": f"postgresql://govshare@db/govshare?{query}"})


def test_a_target_or_gateway_given_as_a_url_is_refused_naming_the_variable() -> None:
    """GOVSHARE_AUTHORIZATION_TARGET=http://authorization:50051 passed as host 'http://authorization' and port
    50051: the catalog dialled dns:///http://authorization:50051, which never resolves, and reported ready while
    each call to authorization was UNAVAILABLE; the console took https://gateway:8443 alike. A gRPC URI of a
    known scheme is still taken as given."""
    from console.settings import ConsoleSettingsError, load_console_settings

    env = {"GOVSHARE_INTERNAL_KEY": KEY, "GOVSHARE_DATABASE_URL": "postgresql://govshare@db/govshare",
           "GOVSHARE_REDIS_URL": "unix:///r.sock", "GOVSHARE_TOKEN_PUBLIC_KEY": generate_keys().token_public_key}
    with pytest.raises(SettingsError) as info:
        load("catalog", {**env, "GOVSHARE_AUTHORIZATION_TARGET": "http://authorization:50051"})
    assert "GOVSHARE_AUTHORIZATION_TARGET='http://authorization:50051': expected host:port, got " \
           "'http://authorization:50051': give the host and port without a scheme or path" in str(info.value)
    for target in ("authorization:50051", "dns:///authorization:50051", "ipv4:10.0.0.1:50051,10.0.0.2:50051"):
        load("catalog", {**env, "GOVSHARE_AUTHORIZATION_TARGET": target})
    with pytest.raises(ConsoleSettingsError, match="GOVSHARE_CONSOLE_GATEWAY must be the edge's host:port"):
        load_console_settings({"GOVSHARE_CONSOLE_GATEWAY": "https://gateway.govshare.svc:50051"})


def test_a_database_that_does_not_exist_ends_the_start_at_once_naming_the_variable(
        database_url: str, redis_url: str) -> None:
    """`govshare serve` given a database (or role, or password) PostgreSQL refuses retried for twenty minutes."""
    from urllib.parse import urlsplit, urlunsplit

    missing = urlunsplit(urlsplit(database_url)._replace(path="/no_such_database"))
    env = {**os.environ, "GOVSHARE_INTERNAL_KEY": KEY, "GOVSHARE_DATABASE_URL": missing,
           "GOVSHARE_REDIS_URL": redis_url, "GOVSHARE_AUTHORIZATION_TARGET": "127.0.0.1:1",
           "GOVSHARE_TOKEN_PUBLIC_KEY": generate_keys().token_public_key, "GOVSHARE_LISTEN": "127.0.0.1:0"}
    done = subprocess.run([sys.executable, "-m", "services.cli", "serve", "catalog"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "govshare catalog: PostgreSQL refuses GOVSHARE_DATABASE_URL's credentials or database: " in done.stderr
    assert "no_such_database" in done.stderr and "no wait will make it work" in done.stderr


def test_a_port_another_program_took_after_the_check_stops_up_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A program that took a port between check_ports_free and the service's bind answered SERVING there while the
    service said "cannot listen … Address already in use" and exited: `govshare up` took it for its own and seeded
    the demo against a foreign platform, ending in an UNAUTHENTICATED traceback. It stops naming the port."""
    from concurrent import futures

    import grpc
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    from services import launcher

    monkeypatch.setattr(launcher, "OWN_LINE_SECONDS", 0, raising=False)
    foreign = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, foreign)
    port = foreign.add_insecure_port("127.0.0.1:0")
    foreign.start()
    ours = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        with pytest.raises(SystemExit) as info:
            launcher.wait_until_serving(port, ours, timeout=60)
    finally:
        ours.communicate(b"")
        foreign.stop(None)
    message = str(info.value.code)
    assert f"port {port} was taken by another program while govshare started" in message, message
    assert "--port N" in message


def test_a_misspelt_govshare_variable_is_said_with_the_name_it_is_closest_to(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`GOVSHARE_WROKERS=2 govshare up` started with one worker per service, without a word: a GOVSHARE_* name no
    part of govshare reads is said (a warning: the platform starts with the setting at its default)."""
    monkeypatch.delenv("GOVSHARE_METRICS_PORT", raising=False)
    monkeypatch.setenv("GOVSHARE_WROKERS", "2")
    monkeypatch.setenv("GOVSHARE_SOMETHING_ELSE", "1")
    check_settings(PORTS, "extranet", None)
    err = capsys.readouterr().err
    assert "govshare up: GOVSHARE_WROKERS is set but no part of govshare reads it: did you mean GOVSHARE_WORKERS?" \
        in err, err
    assert "GOVSHARE_SOMETHING_ELSE is set but no part of govshare reads it (see docs/configuration.md" in err, err


def test_the_known_govshare_variables_are_the_ones_the_code_reads() -> None:
    """services/runtime/variables.KNOWN is the code's list: a setting added to the code and not to it would be
    called misspelt by `govshare up`."""
    import re

    from services.runtime.variables import KNOWN

    named: set[str] = set()
    for package in ("services", "gateway", "console", "frontproc"):
        for path in (ROOT / package).rglob("*.py"):
            if path.name != "variables.py":  # its docstring's misspelt examples
                named.update(re.findall(r"\bGOVSHARE_[A-Z0-9_]*[A-Z0-9]\b", path.read_text(encoding="utf-8")))
    prefixes = {"GOVSHARE_CONSOLE", "GOVSHARE_CONSOLE_OIDC", "GOVSHARE_TLS"}  # named as prefixes only
    assert named - prefixes - KNOWN == set()


def test_a_port_base_whose_block_fits_is_taken_and_the_heavy_read_ports_are_asked_only_with_their_flag() -> None:
    """`govshare up --port 65526` takes 65526 to 65535; it was refused 'the platform takes ports N to N+11', the
    two ports of --heavy-read-processes asked of every start."""
    from services.cli import _up

    parser = build_parser()
    assert parser.parse_args(["up", "--port", "65526"]).port == 65526
    with pytest.raises(SystemExit):
        parser.parse_args(["up", "--port", "65527"])
    with pytest.raises(SystemExit) as info:
        _up(parser.parse_args(["up", "--port", "65526", "--heavy-read-processes"]))
    assert str(info.value.code) == ("govshare up: --heavy-read-processes takes ports N to N+11: --port must be at "
                                    "most 65524, got 65526")


def test_a_data_directory_that_cannot_be_made_is_said_with_what_to_give(tmp_path: Path) -> None:
    """A data directory under a file (or on a read-only filesystem) stopped `up` with the bare 'PATH: Not a
    directory' / 'Read-only file system', nothing saying which setting to change."""
    (tmp_path / "file").write_text("x")
    with pytest.raises(SystemExit) as info:
        run_platform(tmp_path / "file" / "data", port_base=free_port_base())
    message = str(info.value.code)
    assert message.startswith(f"govshare up: cannot make the data directory {tmp_path / 'file' / 'data'} "), message
    assert "--data-dir or GOVSHARE_DATA_DIR" in message, message
