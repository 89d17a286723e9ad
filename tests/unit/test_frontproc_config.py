"""The 前置机's configuration: every mistake stops it at start with the line it is on."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tls_certificates import tls_pair

from frontproc import demo as dept
from frontproc.config import ConfigError, parse
from frontproc.store import check_resources
from services.runtime.embedded import create_database
from services.runtime.keys import generate_keys
from services.runtime.provider_assertions import provider_public_keys

ROOT = Path(__file__).resolve().parents[2]


def _valid(tmp_path: Path, database_url: str = "postgresql://nobody@127.0.0.1:1/none") -> str:
    (tmp_path / "database.url").write_text(database_url)
    (tmp_path / "platform.pem").write_text(provider_public_keys(generate_keys().provider_signing_key))
    return dept.config_text("database.url", "127.0.0.1:7100", "platform.pem", "access.jsonl")


def _line_of(text: str, fragment: str, occurrence: int = 1) -> int:
    lines = [number for number, line in enumerate(text.splitlines(), 1) if fragment in line]
    return lines[occurrence - 1]


def _mounted(directory: Path, files: dict[str, str], version: int) -> None:
    """``files`` in ``directory`` as Kubernetes mounts a ConfigMap or Secret (its atomic writer): each name a link
    to ..data/name, ..data a link to a dated directory, replaced whole (the old one deleted) when it changes."""
    dated = directory / f"..2026_12_05_0{version}"
    dated.mkdir(parents=True)
    for name, text in files.items():
        (dated / name).write_text(text)
        if not (directory / name).is_symlink():
            (directory / name).symlink_to(f"..data/{name}")
    (directory / "..data_tmp").symlink_to(dated.name)
    (directory / "..data_tmp").replace(directory / "..data")
    for old in directory.glob("..2026_12_05_*"):
        if old != dated:
            for file in old.iterdir():
                file.unlink()
            old.rmdir()


def test_files_mounted_from_a_configmap_are_read_again_when_it_changes(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/deploy.md mounts dept.yaml, platform.pem and database.url from a ConfigMap and a Secret, whose files are
    links into a dated directory Kubernetes replaces, deleting the old one, when they change. The configuration's
    files were resolved to the dated directory of the start: the platform's new key added for a rotation, or a
    rotated database password, was never read (the file gone), and once the platform switched keys every call was
    refused until a restart. They are named as the mount names them, and read through its links."""
    from frontproc.config import database_url_now, load
    from services.runtime import provider_assertions
    from services.runtime.provider_assertions import AccessClaims, ProviderAssertionSigner, ProviderAssertionVerifier

    monkeypatch.setattr(provider_assertions, "KEYS_FILE_CHECK_SECONDS", 0.0)
    old, new = generate_keys().provider_signing_key, generate_keys().provider_signing_key
    text = dept.config_text("database.url", "127.0.0.1:7100", "platform.pem", str(tmp_path / "access.jsonl"))
    mount = tmp_path / "frontproc"
    _mounted(mount, {"dept.yaml": text, "platform.pem": provider_public_keys(old),
                     "database.url": "postgresql://fqj@db.example:5432/hrss"}, 1)
    config = load(str(mount / "dept.yaml"))
    verifier = ProviderAssertionVerifier(config.platform_public_keys, audience=config.endpoint,
                                         keys_file=config.platform_public_keys_file)
    claims = AccessClaims("11100000000000001X", "sys-a", "WORK_REFERENCE", "a-1")
    # The rotation: the new key beside the old one, and the account's password rotated.
    _mounted(mount, {"dept.yaml": text, "platform.pem": provider_public_keys(old) + provider_public_keys(new),
                     "database.url": "postgresql://fqj:rotated@db.example:5432/hrss"}, 2)
    assert verifier.verify(ProviderAssertionSigner(new).metadata(config.endpoint, claims)).claims == claims
    assert database_url_now(config) == "postgresql://fqj:rotated@db.example:5432/hrss"


def test_the_demo_configuration_is_valid(tmp_path: Path) -> None:
    config = parse(_valid(tmp_path), str(tmp_path / "dept.yaml"))
    resource = config.resources[dept.DATASET]
    assert config.department_code == dept.SOCIAL.code and config.endpoint == "127.0.0.1:7100"
    assert resource.items["name"].value == "xm" and resource.key_kind_name == "citizen_id"


@pytest.mark.parametrize("wildcard", ["0.0.0.0:7100", "[::]:7100"])
def test_listening_on_every_address_needs_the_endpoint_the_platform_calls(tmp_path: Path, wildcard: str) -> None:
    """listen: 0.0.0.0:7100 (to be reached from another machine, as the docs say) without endpoint bound the
    platform's assertions to 0.0.0.0:7100, an address no entry can name for the platform to call: every call was
    refused, or the entry "corrected" to it had the platform call its own machine. It stops at start now, on the
    line of listen, asking for endpoint; given, the configuration is valid."""
    text = _valid(tmp_path).replace("listen: 127.0.0.1:7100", f"listen: '{wildcard}'")
    with pytest.raises(ConfigError) as error:
        parse(text, str(tmp_path / "dept.yaml"))
    line = _line_of(text, "listen:")
    assert f"dept.yaml:{line}: listen (the endpoint, as no endpoint is given): {wildcard} is every address of " \
           "this machine, not one the platform can call: set endpoint" in str(error.value), str(error.value)
    config = parse(text + "endpoint: fqj.rsj.example.gov.cn:7100\n", str(tmp_path / "dept.yaml"))
    assert (config.listen, config.endpoint) == (wildcard, "fqj.rsj.example.gov.cn:7100")
    with pytest.raises(ConfigError, match=r"endpoint: 0\.0\.0\.0:7100 is every address of this machine"):
        parse(text + "endpoint: 0.0.0.0:7100\n", str(tmp_path / "dept.yaml"))


@pytest.mark.parametrize(("added", "said"), [
    ("health_listen: 127.0.0.1:7100\n", "health_listen: give it a port of its own, not listen's (7100)"),
    ("health_listen: '[::1]:7100'\n", "health_listen: give it a port of its own, not listen's (7100)"),
    ("metrics_port: 7100\n", "metrics_port: give it a port of its own, not listen's (7100)"),
    ("health_listen: 127.0.0.1:7101\nmetrics_port: 7101\n",
     "metrics_port: give it a port of its own, not health_listen's (7101)"),
])
def test_the_health_listener_and_metrics_on_the_port_of_the_calls_are_refused_on_their_line(
        tmp_path: Path, added: str, said: str) -> None:
    """gRPC binds listen and health_listen with SO_REUSEPORT: on one port, both bound, the check said the file was
    valid and the kernel shared the port's connections between the two servers, a share of the platform's calls
    answered UNIMPLEMENTED by the one serving only health. A metrics_port there stopped the start saying the port
    was held by "a 前置机 still running?"."""
    text = _valid(tmp_path) + added
    with pytest.raises(ConfigError) as error:
        parse(text, str(tmp_path / "dept.yaml"))
    line = _line_of(text, said.split(":")[0] + ":")
    assert f"dept.yaml:{line}: {said}" in str(error.value), str(error.value)
    config = parse(_valid(tmp_path) + "health_listen: 127.0.0.1:7101\nmetrics_port: 9100\n",
                   str(tmp_path / "dept.yaml"))
    assert (config.health_listen, config.metrics_port) == ("127.0.0.1:7101", 9100)


def test_a_metrics_host_without_a_metrics_port_is_refused_on_its_line(tmp_path: Path) -> None:
    """metrics_host alone served nothing, without a word, to an ops person expecting /metrics there."""
    text = _valid(tmp_path) + "metrics_host: 0.0.0.0\n"
    with pytest.raises(ConfigError) as error:
        parse(text, str(tmp_path / "dept.yaml"))
    assert (f"dept.yaml:{_line_of(text, 'metrics_host:')}: metrics_host: /metrics is served only with metrics_port"
            in str(error.value)), str(error.value)
    assert parse(text + "metrics_port: 9100\n", str(tmp_path / "dept.yaml")).metrics_host == "0.0.0.0"


@pytest.mark.parametrize(("host", "said"), [
    ("a..b", "'a..b' is not a host name or IP address"),
    ("127.0.0.1:9100", "'127.0.0.1:9100' is a host and a port: give the host alone (the port is metrics_port)"),
])
def test_a_metrics_host_that_is_no_host_is_refused_on_its_line(tmp_path: Path, host: str, said: str) -> None:
    """Such a metrics_host passed the check, and the start ended in a UnicodeError traceback from the bind ("a..b")
    or looked the host and port up as a name; so did listen and health_listen "a..b:7100" (endpoint alike)."""
    text = _valid(tmp_path) + f"metrics_port: 9100\nmetrics_host: '{host}'\n"
    with pytest.raises(ConfigError) as error:
        parse(text, str(tmp_path / "dept.yaml"))
    assert f"dept.yaml:{_line_of(text, 'metrics_host:')}: metrics_host: {said}" in str(error.value), str(error.value)
    for field in ("listen", "health_listen", "endpoint"):  # the start ended in the same traceback (listen's)
        text = _valid(tmp_path) + f"{field}: 'a..b:7101'\n"
        if field == "listen":
            text = _valid(tmp_path).replace("listen: 127.0.0.1:7100", "listen: 'a..b:7100'")
        with pytest.raises(ConfigError) as error:
            parse(text, str(tmp_path / "dept.yaml"))
        assert (f"dept.yaml:{_line_of(text, f'{field}:')}: {field}: 'a..b' is not a host name or IP address"
                in str(error.value)), str(error.value)
    for fine in ("::1", "fqj.rsj.example.gov.cn", "0.0.0.0"):
        assert parse(_valid(tmp_path) + f"metrics_port: 9100\nmetrics_host: '{fine}'\n",
                     str(tmp_path / "dept.yaml")).metrics_host == fine


def test_a_duplicate_resource_names_both_lines(tmp_path: Path) -> None:
    text = _valid(tmp_path)
    resource = text[text.index("  - dataset:"):]
    text = text + resource
    with pytest.raises(ConfigError) as error:
        parse(text, str(tmp_path / "dept.yaml"))
    second, first = _line_of(text, "- dataset:", 2), _line_of(text, "- dataset:", 1)
    assert f"dept.yaml:{second}:" in str(error.value) and f"first on line {first}" in str(error.value)


def test_every_mistake_is_reported_with_its_line(tmp_path: Path) -> None:
    text = (_valid(tmp_path).replace("kind: citizen_id", "kind: passport")
            .replace("code: " + dept.SOCIAL.code, "code: 12345")
            .replace("listen: 127.0.0.1:7100", "listen: nowhere")
            .replace("    key_column: sfzhm\n", "    key_column: sfzhm\n    colour: blue\n"))
    with pytest.raises(ConfigError) as error:
        parse(text, "dept.yaml")
    message = str(error.value)
    assert f"dept.yaml:{_line_of(text, 'kind: passport')}: resources[0].key.kind" in message
    assert f"dept.yaml:{_line_of(text, 'code: 12345')}: department.code" in message
    assert f"dept.yaml:{_line_of(text, 'listen: nowhere')}: listen" in message
    assert f"dept.yaml:{_line_of(text, 'colour: blue')}: resources[0]: unknown field 'colour'" in message



def test_an_item_named_as_no_catalog_entry_can_name_it_is_refused_saying_its_machine_name(tmp_path: Path) -> None:
    """The catalog's machine names are lower_snake_case: an item mapped as contributionBase or Employer passed
    --check and the start, and was found only at submit-entry ("items contribution_base of the entry are not
    mapped"), the 前置机 serving an item no entry can list. It is named on its line with the name meant."""
    text = (_valid(tmp_path).replace("      contribution_base: jfjs\n", "      contributionBase: jfjs\n")
            .replace("      employer: cbdw\n", "      Employer: cbdw\n"))
    with pytest.raises(ConfigError) as error:
        parse(text, "dept.yaml")
    message = str(error.value)
    assert f"dept.yaml:{_line_of(text, 'contributionBase: jfjs')}: resources[0].items: 'contributionBase' is not " \
           "an item machine name (the catalog's are lower_snake_case: a-z, 0-9 and single underscores, starting " \
           "with a letter): contribution_base?" in message
    assert f"dept.yaml:{_line_of(text, 'Employer: cbdw')}: resources[0].items: 'Employer' is not an item machine " \
           "name" in message and "): employer?" in message

def test_broken_yaml_names_its_line() -> None:
    with pytest.raises(ConfigError) as error:
        parse("department:\n  code: [\nlisten: x\n", "dept.yaml")
    assert "dept.yaml:3:" in str(error.value) or "dept.yaml:4:" in str(error.value)


@pytest.fixture
async def department_url(embedded) -> str:  # type: ignore[no-untyped-def]
    url = await create_database(embedded.database_url, f"dept_cfg_{uuid.uuid4().hex[:8]}")
    await dept.prepare_database(url, count=3)
    return url


async def _check(text: str, path: str, url: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await check_resources(parse(text, path), connection)
    finally:
        await connection.close()


async def test_an_unknown_column_names_the_line_of_its_item(tmp_path: Path, department_url: str) -> None:
    text = _valid(tmp_path, department_url).replace("employer: cbdw", "employer: danwei")
    with pytest.raises(ConfigError) as error:
        await _check(text, str(tmp_path / "dept.yaml"), department_url)
    assert f"dept.yaml:{_line_of(text, 'employer: danwei')}:" in str(error.value)
    assert "danwei" in str(error.value)


async def test_unknown_columns_of_a_table_are_each_named_as_the_docs_show(tmp_path: Path, department_url: str) -> None:
    """docs/frontproc.md shows the columns the table has; the check said only the server's words about the first
    unknown one ("the database refuses it: UndefinedColumnError: column "danwei" does not exist")."""
    text = _valid(tmp_path, department_url).replace("employer: cbdw", "employer: danwei").replace(
        "name: xm", "name: xingming")
    with pytest.raises(ConfigError) as error:
        await _check(text, str(tmp_path / "dept.yaml"), department_url)
    has = "(it has cbdw, cbrq, cbzt, gxsj, jfjs, sfzhm, xm, xz)"
    assert (f"dept.yaml:{_line_of(text, 'employer: danwei')}: resources 'social_insurance': employer maps to column "
            f"'danwei', which table si_enrolment does not return {has}") in str(error.value)
    assert (f"dept.yaml:{_line_of(text, 'name: xingming')}: resources 'social_insurance': name maps to column "
            f"'xingming', which table si_enrolment does not return {has}") in str(error.value)


async def test_sql_the_database_refuses_names_the_line_of_the_query(tmp_path: Path, department_url: str) -> None:
    text = _valid(tmp_path, department_url).replace(
        "    table: si_enrolment\n    key_column: sfzhm\n",
        "    query: SELEC sfzhm, xm FROM si_enrolment WHERE sfzhm = $1\n")
    with pytest.raises(ConfigError) as error:
        await _check(text, str(tmp_path / "dept.yaml"), department_url)
    assert f"dept.yaml:{_line_of(text, 'query: SELEC')}:" in str(error.value)
    assert "SyntaxError" in str(error.value)


async def test_a_query_resource_is_checked_column_by_column(tmp_path: Path, department_url: str) -> None:
    text = _valid(tmp_path, department_url).replace(
        "    table: si_enrolment\n    key_column: sfzhm\n",
        "    query: SELECT sfzhm, xm, xz, cbzt, cbrq, cbdw, gxsj FROM si_enrolment WHERE sfzhm = $1\n")
    with pytest.raises(ConfigError) as error:
        await _check(text, str(tmp_path / "dept.yaml"), department_url)
    assert f"dept.yaml:{_line_of(text, 'contribution_base: jfjs')}:" in str(error.value)
    await _check(text.replace("      contribution_base: jfjs\n", ""), str(tmp_path / "dept.yaml"), department_url)


def test_the_process_stops_at_start_with_the_line(tmp_path: Path) -> None:
    text = _valid(tmp_path)
    path = tmp_path / "dept.yaml"
    path.write_text(text + text[text.index("  - dataset:"):])
    result = subprocess.run([sys.executable, "-m", "frontproc", "--config", str(path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"dept.yaml:{_line_of(path.read_text(), '- dataset:', 2)}:" in result.stderr
    assert "Traceback" not in result.stderr


def test_watching_a_channel_needs_the_resource_code_and_the_platform_credentials(tmp_path: Path) -> None:
    text = _valid(tmp_path).replace("    as_of_column: gxsj\n",
                                    "    as_of_column: gxsj\n    watch_channel: si_changed\n")
    with pytest.raises(ConfigError) as error:
        parse(text, "dept.yaml")
    line = _line_of(text, "watch_channel:")
    assert f"dept.yaml:{line}: resources[0]: watch_channel needs resource_code" in str(error.value)
    assert f"dept.yaml:{line}: watch_channel: the platform is told through platform.edge" in str(error.value)
    bad_code = text.replace("watch_channel: si_changed\n", "watch_channel: si_changed\n    resource_code: 2020/1\n")
    with pytest.raises(ConfigError) as error:
        parse(bad_code, "dept.yaml")
    assert f"dept.yaml:{_line_of(bad_code, 'resource_code:')}: resources[0].resource_code" in str(error.value)


def test_a_resource_code_without_a_channel_to_watch_is_named(tmp_path: Path) -> None:
    """docs/frontproc.md says watch_channel and resource_code go both or neither; resource_code alone was taken
    silently and did nothing (no change was ever told of), which the officer found out only from stale answers."""
    text = _valid(tmp_path).replace("    as_of_column: gxsj\n",
                                    "    as_of_column: gxsj\n    resource_code: 202001/000001\n")
    with pytest.raises(ConfigError) as error:
        parse(text, "dept.yaml")
    assert (f"dept.yaml:{_line_of(text, 'resource_code:')}: resources[0]: resource_code is the code the 前置机 tells "
            "the platform of when watch_channel announces a change") in str(error.value)


def _check_process(tmp_path: Path, database_url: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "dept.yaml"
    path.write_text(_valid(tmp_path, database_url))
    return subprocess.run([sys.executable, "-m", "frontproc", "--config", str(path), "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def _unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://dept:s3cret-pw@127.0.0.1:{port}/hrss", "postgresql://dept:***@127.0.0.1:{port}/hrss"),
    # The password as a parameter (libpq's form, which asyncpg takes) was printed whole, and logged every second
    # by a 前置机 waiting for its database at start.
    ("postgresql://dept@127.0.0.1:{port}/hrss?password=s3cret-pw", "postgresql://dept@127.0.0.1:{port}/hrss?password=***"),
])
def test_check_says_at_once_that_the_department_database_does_not_answer(tmp_path: Path, url: str, shown: str) -> None:
    """--check makes one attempt and says where it failed (it waited a minute in silence before), exit 1, without
    the password."""
    port = _unused_port()
    result = _check_process(tmp_path, url.format(port=port))
    assert result.returncode == 1, result.stderr
    assert f"the department database {shown.format(port=port)} does not answer" in result.stderr
    assert "s3cret-pw" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_check_says_a_socket_the_database_does_not_listen_on_is_no_server_not_a_missing_file(tmp_path: Path) -> None:
    """A 前置机 beside its database connects through its socket (host=/run/postgresql); with the server stopped,
    or the directory or port wrong, it said "does not answer (FileNotFoundError: [Errno 2] No such file or
    directory)", a file of its configuration missing to the officer reading it."""
    result = _check_process(tmp_path, f"postgresql://dept@/hrss?host={tmp_path}&port=5999")
    assert result.returncode == 1, result.stderr
    said = result.stderr
    assert f"postgresql://dept@/hrss?host={tmp_path}&port=5999 does not answer (no PostgreSQL socket there: the " \
           "URL's host=<directory> and port name a server's socket (.s.PGSQL.<port>), and none is in it" in said
    assert "FileNotFoundError" not in result.stderr


async def test_check_names_a_refusal_waiting_cannot_fix(tmp_path: Path, embedded) -> None:  # type: ignore[no-untyped-def]
    """A database that does not exist (or a wrong password) is reported as refused, with the server's reason."""
    missing = urlunsplit(urlsplit(embedded.database_url)._replace(path=f"/no_such_{uuid.uuid4().hex[:8]}"))
    result = await asyncio.to_thread(_check_process, tmp_path, missing)
    assert result.returncode == 1, result.stderr
    assert "refused the connection (InvalidCatalogNameError" in result.stderr
    assert "does not exist" in result.stderr


async def test_check_passes_on_a_database_that_answers(tmp_path: Path, department_url: str) -> None:
    result = await asyncio.to_thread(_check_process, tmp_path, department_url)
    assert result.returncode == 0, result.stderr
    # One resource is "1 resource" ("1 resources" before), as notify-changes says "1 record".
    assert result.stdout == f"govshare frontproc: {tmp_path / 'dept.yaml'} is valid (1 resource)\n"


async def test_the_checks_warnings_are_lines_to_read_with_sql_to_copy(tmp_path: Path, department_url: str) -> None:
    """--check printed its advice as the service log's JSON lines: the SQL to run came with every quote escaped
    (CREATE UNIQUE INDEX ON \\"si_enrolment\\" …), and failed pasted into psql as printed."""
    connection = await asyncpg.connect(department_url)
    try:
        await connection.execute("CREATE TABLE bare AS SELECT * FROM si_enrolment")
    finally:
        await connection.close()
    path = tmp_path / "dept.yaml"
    path.write_text(_valid(tmp_path, department_url).replace("table: si_enrolment", "table: bare"))
    result = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "frontproc", "--config", str(path),
                                                      "--check"], cwd=ROOT, capture_output=True, text=True,
                                     timeout=120)
    assert result.returncode == 0, result.stderr
    line = _line_of(path.read_text(), "table: bare")
    assert f"govshare frontproc: WARNING: {path}:{line}: resources 'social_insurance': table bare has no index on " \
           "its key column sfzhm: every lookup reads the whole table " \
           '(CREATE UNIQUE INDEX ON "bare" (("sfzhm"::text)))\n' in result.stderr


async def test_the_check_given_the_entry_warns_of_items_whose_data_type_is_not_their_columns(
        tmp_path: Path, department_url: str) -> None:
    """Nothing compared the entry's data types with the columns: an entry declaring 参保日期 DATA_TYPE_DATETIME over
    a date column, or 姓名 DATA_TYPE_NUMERIC over text, was published, and Verify compared the values by a type
    they were not of (a desk's 2020-01-05 10:30 against 2020-01-05: 不一致). --check --entry says so on the item's
    line, with both ways to agree; the demo's own entry draws no warning, and an entry the file does not serve is
    refused as submit-entry refuses it."""
    from google.protobuf import json_format

    from govshare.catalog.v1 import catalog_pb2 as cat

    path = tmp_path / "dept.yaml"
    path.write_text(_valid(tmp_path, department_url))
    entry = dept.social_insurance_entry("127.0.0.1:7100")
    (tmp_path / "entry.json").write_text(json_format.MessageToJson(entry))

    def checked(*entries: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "frontproc", "--config", str(path), "--check",
                               *(f"--entry={tmp_path / name}" for name in entries)], cwd=ROOT, capture_output=True,
                              text=True, timeout=120)

    result = await asyncio.to_thread(checked, "entry.json")
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr, result.stderr

    for item in entry.items:
        if item.machine_name == "enrolment_date":
            item.data_type = cat.DATA_TYPE_DATETIME
        if item.machine_name == "name":
            item.data_type = cat.DATA_TYPE_NUMERIC
    (tmp_path / "typed.json").write_text(json_format.MessageToJson(entry))
    result = await asyncio.to_thread(checked, "typed.json")
    assert result.returncode == 0, result.stderr
    text = path.read_text()
    assert (f"govshare frontproc: WARNING: {path}:{_line_of(text, 'enrolment_date: cbrq')}: resources "
            f"'social_insurance': item enrolment_date is DATA_TYPE_DATETIME in {tmp_path / 'typed.json'}, but its "
            "column 'cbrq' is of type date: the platform reads the item's values as DATA_TYPE_DATETIME (Verify "
            "compares them so), and a value that is not one is answered 不一致 whatever a desk claims: declare the "
            "item DATA_TYPE_DATE, or map a column of type timestamp or timestamptz (a view or query column casting "
            "it)\n") in result.stderr
    assert (f"{path}:{_line_of(text, 'name: xm')}: resources 'social_insurance': item name is DATA_TYPE_NUMERIC in "
            f"{tmp_path / 'typed.json'}, but its column 'xm' is of type text: ") in result.stderr
    assert "declare the item DATA_TYPE_CHARACTER, or map a column of type float4 or float8 or int2" in result.stderr
    assert result.stderr.count("WARNING") == 2

    entry.endpoint.dataset = "dibao"
    (tmp_path / "other.json").write_text(json_format.MessageToJson(entry))
    result = await asyncio.to_thread(checked, "other.json")
    assert result.returncode == 2
    assert f"{tmp_path / 'other.json'}: the entry's endpoint.dataset 'dibao' is not served by" in result.stderr


def test_submit_entry_warns_of_items_whose_data_type_is_not_their_columns_and_submits(
        tmp_path: Path, department_url: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """submit-entry, the step every department runs, compared the entry with the file but not with the columns: an
    entry declaring 参保日期 DATA_TYPE_DATETIME over a date column went for review without a word. It now warns as
    --check --entry does, and submits all the same (only the department knows which side is right)."""
    from google.protobuf import json_format

    from frontproc import register
    from govshare.catalog.v1 import catalog_pb2 as cat

    path = tmp_path / "dept.yaml"
    path.write_text(_valid(tmp_path, department_url))
    entry = dept.social_insurance_entry("127.0.0.1:7100")
    next(item for item in entry.items if item.machine_name == "enrolment_date").data_type = cat.DATA_TYPE_DATETIME
    (tmp_path / "entry.json").write_text(json_format.MessageToJson(entry))
    submitted: list[cat.Entry] = []

    async def submit(config: object, entry: cat.Entry) -> register.Submitted:
        submitted.append(entry)
        return register.Submitted(entry, now=True)

    monkeypatch.setattr(register, "submit", submit)
    assert register.main(str(path), str(tmp_path / "entry.json")) == 0
    assert [sent.code for sent in submitted] == [entry.code]
    said = capsys.readouterr().err
    assert said == (f"govshare submit-entry: WARNING: {path}:{_line_of(path.read_text(), 'enrolment_date: cbrq')}: "
                    f"resources 'social_insurance': item enrolment_date is DATA_TYPE_DATETIME in "
                    f"{tmp_path / 'entry.json'}, but its column 'cbrq' is of type date: the platform reads the item's "
                    "values as DATA_TYPE_DATETIME (Verify compares them so), and a value that is not one is answered "
                    "不一致 whatever a desk claims: declare the item DATA_TYPE_DATE, or map a column of type timestamp "
                    "or timestamptz (a view or query column casting it)\n")


@pytest.mark.parametrize(("sql", "said"), [
    ("", ""),
    ("DROP TRIGGER si_enrolment_changed ON si_enrolment; DROP TRIGGER si_enrolment_truncated ON si_enrolment",
     "no trigger on si_enrolment announces changes on si_changed (pg_notify('si_changed', …)): the platform hears "
     "of no change and answers from its copies until they expire; create the trigger (docs/frontproc.md, step 6), "
     "or correct watch_channel"),
    ("ALTER TABLE si_enrolment DISABLE TRIGGER USER",
     "the triggers on si_enrolment that announce changes on si_changed are disabled (ALTER TABLE … DISABLE TRIGGER, "
     "for a reload?): the platform hears of no change and answers from its copies until they expire; enable them"),
    # A generic function taking the channel as the trigger's argument announces on it too.
    ("DROP TRIGGER si_enrolment_changed ON si_enrolment; DROP TRIGGER si_enrolment_truncated ON si_enrolment; "
     "CREATE FUNCTION announce() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify(TG_ARGV[0], "
     "NEW.sfzhm); RETURN NULL; END $$; CREATE TRIGGER a AFTER INSERT ON si_enrolment FOR EACH ROW EXECUTE FUNCTION "
     "announce('si_changed')", ""),
])
async def test_the_check_warns_when_no_trigger_announces_on_the_watch_channel(
        tmp_path: Path, department_url: str, caplog: pytest.LogCaptureFixture, sql: str, said: str) -> None:
    """The 前置机 listened on a channel nothing sent on (the trigger never created, or disabled for a reload and
    never enabled again): the platform, told of no change, answered from its copies until they expired, the check
    silent."""
    if sql:
        connection = await asyncpg.connect(department_url)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()
    (tmp_path / "system.secret").write_text("s3cret")
    _valid(tmp_path, department_url)
    text = dept.config_text("database.url", "127.0.0.1:7100", "platform.pem", "access.jsonl", "127.0.0.1:50051",
                            "sys-1", "system.secret")
    caplog.set_level(logging.WARNING, logger="frontproc.store")
    await _check(text, str(tmp_path / "dept.yaml"), department_url)
    warnings = [record.getMessage() for record in caplog.records if record.name == "frontproc.store"
                and "si_changed" in record.getMessage()]
    assert [said in warning for warning in warnings] == ([True] if said else []), warnings
    if said:
        assert warnings[0].startswith(f"{tmp_path / 'dept.yaml'}:{_line_of(text, 'watch_channel')}: ")


async def test_an_entry_of_another_code_than_the_resource_code_its_changes_go_as_is_warned_of(
        tmp_path: Path, department_url: str, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An entry submitted as 202001/000002 over a dataset whose resource_code still said 202001/000001 (the demo's,
    copied) was checked and submitted without a word: every change the trigger announced went to the platform as
    202001/000001, and the entry's callers were answered from the platform's copies until they expired. --check
    --entry and submit-entry warn on the line of resource_code (and submit all the same: one dataset may be
    registered by two entries); the entry of the resource's own code draws no warning."""
    from google.protobuf import json_format

    from frontproc import register

    (tmp_path / "system.secret").write_text("s3cret")
    _valid(tmp_path, department_url)
    text = dept.config_text("database.url", "127.0.0.1:7100", "platform.pem", "access.jsonl", "127.0.0.1:1",
                            "sys-1", "system.secret")
    path = tmp_path / "dept.yaml"
    path.write_text(text)
    entry = dept.social_insurance_entry("127.0.0.1:7100")
    assert entry.code == dept.RESOURCE_CODE
    entry.code = "202001/000002"
    (tmp_path / "entry.json").write_text(json_format.MessageToJson(entry))
    said = (f"{path}:{_line_of(text, 'resource_code:')}: resources 'social_insurance': resource_code "
            f"{dept.RESOURCE_CODE} is not the code of the entry in {tmp_path / 'entry.json'} (202001/000002), which "
            f"registers dataset social_insurance: the changes announced on si_changed are told to the platform as "
            f"{dept.RESOURCE_CODE}, never as 202001/000002, whose callers are answered from the platform's copies "
            "until they expire: set resource_code: 202001/000002, or correct the entry")

    caplog.set_level(logging.WARNING, logger="frontproc.store")
    connection = await asyncpg.connect(department_url)
    try:
        config = parse(text, str(path))
        await check_resources(config, connection, [(str(tmp_path / "entry.json"), entry)])
        await check_resources(config, connection, [("own.json", dept.social_insurance_entry("127.0.0.1:7100"))])
    finally:
        await connection.close()
    assert [record.getMessage() for record in caplog.records if "resource_code" in record.getMessage()] == [said]

    async def submit(config: object, submitted: object) -> register.Submitted:
        return register.Submitted(entry, now=True)

    monkeypatch.setattr(register, "submit", submit)
    capsys.readouterr()
    assert await asyncio.to_thread(register.main, str(path), str(tmp_path / "entry.json")) == 0
    assert f"govshare submit-entry: WARNING: {said}\n" in capsys.readouterr().err


async def test_the_documented_trigger_announces_a_key_column_that_is_not_text(embedded) -> None:  # type: ignore[no-untyped-def]
    """docs/frontproc.md's trigger (the demo's) passed the key column to pg_notify as it was: over a key column of
    another type than text (a bigint 证照编号, say), PostgreSQL has no pg_notify(unknown, bigint), and the trigger,
    created without a word, failed every INSERT, UPDATE and DELETE of the department's own table. Both announce the
    key as text, whatever its column's type."""
    url = await create_database(embedded.database_url, f"dept_trg_{uuid.uuid4().hex[:8]}")
    docs = (ROOT / "docs" / "frontproc.md").read_text(encoding="utf-8")
    documented = docs.split("```sql\nCREATE FUNCTION si_enrolment_changed()", 1)[1].split("```", 1)[0]
    connection = await asyncpg.connect(url)
    try:
        for trigger in ("CREATE FUNCTION si_enrolment_changed()" + documented, dept._TRIGGER):
            await connection.execute("DROP TABLE IF EXISTS si_enrolment; DROP FUNCTION IF EXISTS "
                                     "si_enrolment_changed(); CREATE TABLE si_enrolment (sfzhm bigint PRIMARY KEY, "
                                     f"xm text); {trigger}")
            heard: list[str] = []

            def hear(*notice: object, heard: list[str] = heard) -> None:
                heard.append(str(notice[3]))

            await connection.add_listener("si_changed", hear)
            await connection.execute("INSERT INTO si_enrolment VALUES (20260001, '甲')")
            await connection.execute("UPDATE si_enrolment SET sfzhm = 20260002")
            await connection.execute("DELETE FROM si_enrolment")
            await connection.fetchval("SELECT 1")  # the notices' callbacks run
            await connection.remove_listener("si_changed", hear)
            assert heard == ["20260001", "20260001", "20260002", "20260002"], trigger
    finally:
        await connection.close()


async def test_the_check_says_a_materialized_views_refresh_must_be_announced(
        tmp_path: Path, department_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """A materialized view shared with a watch_channel: its REFRESH fires no trigger, and the base table's trigger
    (which satisfied the check) announces before the view holds the change, so the platform read the old rows
    again and kept them until they expired. The check says to announce after each refresh."""
    connection = await asyncpg.connect(department_url)
    try:
        await connection.execute("CREATE MATERIALIZED VIEW si_current AS SELECT * FROM si_enrolment; "
                                 "CREATE UNIQUE INDEX ON si_current ((sfzhm::text))")
    finally:
        await connection.close()
    (tmp_path / "system.secret").write_text("s3cret")
    _valid(tmp_path, department_url)
    text = dept.config_text("database.url", "127.0.0.1:7100", "platform.pem", "access.jsonl", "127.0.0.1:50051",
                            "sys-1", "system.secret").replace("table: si_enrolment", "table: si_current")
    caplog.set_level(logging.WARNING, logger="frontproc.store")
    await _check(text, str(tmp_path / "dept.yaml"), department_url)
    (warning,) = [record.getMessage() for record in caplog.records if record.name == "frontproc.store"
                  and "si_changed" in record.getMessage()]
    assert warning == (f"{tmp_path / 'dept.yaml'}:{_line_of(text, 'watch_channel')}: resources 'social_insurance': "
                       "si_current is a materialized view: its REFRESH fires no trigger, and a trigger on the tables "
                       "it reads announces a change before the view holds it (the platform reads the old rows again "
                       "and keeps them); announce after each refresh, in the same job: REFRESH MATERIALIZED VIEW …; "
                       "SELECT pg_notify('si_changed', '') (every record may have changed)")


def test_a_port_no_socket_can_have_is_refused_by_the_check_not_at_bind(tmp_path: Path) -> None:
    text = _valid(tmp_path).replace("listen: 127.0.0.1:7100", "listen: 127.0.0.1:99999")
    with pytest.raises(ConfigError) as error:
        parse(text, "dept.yaml")
    assert (f"dept.yaml:{_line_of(text, 'listen: 127.0.0.1:99999')}: listen: the port must be between 0 and 65535, "
            "got 99999") in str(error.value)


@pytest.mark.parametrize(("content", "said"), [
    (b'[{"code": "202001/000001"}]', "must be one JSON object (govshare.catalog.v1.Entry), not an array"),
    (b'"202001/000001"', "not a string"),
    (b"null", "not null"),
    (b"42", "not a number"),
    (b'{"code": "202001/000001",}', "not JSON: Expecting property name enclosed in double quotes at line 1 column 26"),
    (b'{"code": "\xb9\xab\xb0\xb2"}', "not UTF-8 text (byte 10)"),
    (b'{"colour": "red"}', 'not a catalog entry: Message type "govshare.catalog.v1.Entry" has no field named "colour"'),
    # An enum written in words, or nearly right: the values it takes are named (they were not).
    ('{"shareType": "有条件共享"}'.encode(),
     "Invalid enum value 有条件共享 for enum type govshare.common.v1.ShareType at Entry.shareType. (write one of "
     "SHARE_TYPE_UNCONDITIONAL, SHARE_TYPE_CONDITIONAL, SHARE_TYPE_NOT_SHARED)"),
    (b'{"updateCycle": "UPDATE_CYCLE_MONTH"}', "(write one of UPDATE_CYCLE_REALTIME, UPDATE_CYCLE_DAILY, "),
    (b'{"items": [{"dataType": "DATA_TYPE_STRING"}]}', "(write one of DATA_TYPE_CHARACTER, DATA_TYPE_NUMERIC, "),
])
def test_an_entry_file_that_is_not_one_entry_is_refused_saying_what_it_is(tmp_path: Path, content: bytes,
                                                                           said: str) -> None:
    """`govshare submit-entry --entry` took a JSON array as an empty entry (the catalog then listed every field
    as missing), and a GBK-encoded file ended in a traceback."""
    from frontproc.register import read_entry

    path = tmp_path / "entry.json"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as refused:
        read_entry(str(path))
    assert said in str(refused.value) and str(path) in str(refused.value)


def test_files_saved_with_a_byte_order_mark_are_read_as_their_text(tmp_path: Path) -> None:
    """Windows Notepad saves UTF-8 with a byte order mark. A secret_file so saved passed --check and was refused by
    the platform ("unknown system id or wrong secret") at every change notice; a url_file was "expected a
    postgresql:// URL"; an entry file was "not JSON: Unexpected UTF-8 BOM". The mark is not part of the text."""
    from frontproc.register import read_entry

    _valid(tmp_path)
    pem = (tmp_path / "platform.pem").read_text()
    for name, content in (("database.url", "postgresql://hrss@db.example:5432/hrss\n"), ("platform.pem", pem),
                          ("system.secret", "s3cret-of-the-system\n")):
        (tmp_path / name).write_bytes(b"\xef\xbb\xbf" + content.encode())
    config = parse(dept.config_text("database.url", "127.0.0.1:7100", "platform.pem", "access.jsonl",
                                    "127.0.0.1:50051", "sys-1", "system.secret"), str(tmp_path / "dept.yaml"))
    assert config.database_url == "postgresql://hrss@db.example:5432/hrss"
    assert config.platform_secret == "s3cret-of-the-system"
    assert config.platform_public_keys.startswith("-----BEGIN PUBLIC KEY-----")
    assert config.platform_public_keys_file == str((tmp_path / "platform.pem").resolve())  # read again on change
    entry = tmp_path / "entry.json"
    entry.write_bytes(b"\xef\xbb\xbf" + '{"code": "202001/000001", "name": "社会保险参保信息"}'.encode())
    assert read_entry(str(entry)).name == "社会保险参保信息"


def test_a_configuration_saved_in_gbk_is_refused_saying_to_save_it_as_utf8(tmp_path: Path) -> None:
    """A dept.yaml saved by a Chinese Windows editor (GBK) ended in a UnicodeDecodeError traceback."""
    path = tmp_path / "dept.yaml"
    path.write_bytes(_valid(tmp_path).encode("gbk"))
    result = subprocess.run([sys.executable, "-m", "frontproc", "--config", str(path), "--check"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "dept.yaml: the configuration is not UTF-8 text (byte" in result.stderr
    assert "save it as UTF-8" in result.stderr and "Traceback" not in result.stderr


def test_a_key_or_url_file_that_is_not_text_is_named_with_its_line(tmp_path: Path) -> None:
    """A DER public key or a GBK url file ended in a traceback; a file that cannot be read was also reported as
    not given ("platform: give public_keys, public_keys_file or public_keys_env")."""
    text = _valid(tmp_path)
    der = b"\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00" + bytes(range(128, 160))
    (tmp_path / "platform.pem").write_bytes(der)
    (tmp_path / "database.url").write_bytes("postgresql://人社@127.0.0.1/hrss".encode("gbk"))
    with pytest.raises(ConfigError) as error:
        parse(text, str(tmp_path / "dept.yaml"))
    message = str(error.value)
    assert (f"dept.yaml:{_line_of(text, 'public_keys_file:')}: platform.public_keys_file: "
            f"{tmp_path / 'platform.pem'} is not a PEM file") in message
    assert f"dept.yaml:{_line_of(text, 'url_file:')}: database.url_file: {tmp_path / 'database.url'} is not UTF-8" \
        in message
    (tmp_path / "platform.pem").unlink()
    with pytest.raises(ConfigError) as error:
        parse(text, str(tmp_path / "dept.yaml"))
    assert "platform.pem (No such file or directory)" in str(error.value)
    assert "platform: give public_keys" not in str(error.value)


@pytest.mark.parametrize(("url", "said"), [
    ("mysql://dept:pw@127.0.0.1/hrss", "database: expected a postgresql:// URL"),
    ("127.0.0.1:5432/hrss", "database: expected a postgresql:// URL"),
    ("postgresql://dept:pw@db.example:65536/hrss",
     "database: the postgresql:// URL is not valid (Port out of range 0-65535)"),
    ("postgresql://dept:pw@[::1/hrss", "database: the postgresql:// URL is not valid (Invalid IPv6 URL)"),
    # A generated password holding a character the URL reserves, written as it is: the driver looked for another
    # host ("does not answer"), or sent another password ("password authentication failed").
    *[(f"postgresql://dept:{password}@db.example:5432/hrss{query}", "database: the user or password holds a "
       "character a URL reserves") for password, query in (("pw@1", ""), ("pw/1", ""), ("pw#1", ""), ("pw%zz", ""),
                                                            ("pw?1", ""), ("pw@1", "?host=/run/postgresql"))],
])
def test_a_database_url_that_is_not_postgresql_is_refused_with_its_line(tmp_path: Path, url: str, said: str) -> None:
    """Such a URL passed the configuration and ended in asyncpg's or urllib's traceback at --check and at start.
    The refusal names the line of the field the URL came from, and the file it is in: it named the ``database``
    line, and an officer whose URL is in url_file looked in dept.yaml for it."""
    text = _valid(tmp_path, url)
    with pytest.raises(ConfigError) as error:
        parse(text, str(tmp_path / "dept.yaml"))
    field = f"database.url_file (the URL in {tmp_path / 'database.url'})"
    assert f"dept.yaml:{_line_of(text, 'url_file:')}: {said.replace('database', field, 1)}" in str(error.value)
    assert "pw" not in str(error.value)
    inline = text.replace("  url_file: database.url\n", f"  url: {url}\n")
    with pytest.raises(ConfigError) as error:
        parse(inline, str(tmp_path / "dept.yaml"))
    assert f"dept.yaml:{_line_of(inline, '  url: ')}: {said.replace('database', 'database.url', 1)}" \
        in str(error.value)


@pytest.mark.parametrize("url", ["postgresql://dept:p%40ss%2F%25@db.example:5432/hrss",
                                 "postgresql://dept@/hrss?host=/run/postgresql", "postgresql:///hrss",
                                 "postgresql://dept:pw@db.example/hrss?options=-c%20search_path%3Dmz"])
def test_a_url_whose_credentials_are_percent_encoded_is_taken(tmp_path: Path, url: str) -> None:
    assert parse(_valid(tmp_path, url), str(tmp_path / "dept.yaml")).database_url == url


def test_a_url_parameter_the_driver_refuses_stops_the_check_as_a_configuration_mistake(tmp_path: Path) -> None:
    """``?sslmode=bogus`` ended in asyncpg's ClientConfigurationError traceback (exit 1); the URL's check now names
    the parameter before the driver is asked (settings.database_url_problem)."""
    result = _check_process(tmp_path, f"postgresql://dept:pw@127.0.0.1:{_unused_port()}/hrss?sslmode=bogus\n")
    assert result.returncode == 2, result.stderr
    assert "sslmode='bogus' in the URL is none of disable, allow" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_url_file_ending_in_a_newline_is_named_on_one_line(tmp_path: Path) -> None:
    """``echo URL > database.url`` leaves a newline, which split the message naming the database in two."""
    port = _unused_port()
    result = _check_process(tmp_path, f"postgresql://dept@127.0.0.1:{port}/hrss\n")
    assert result.returncode == 1, result.stderr
    assert f"postgresql://dept@127.0.0.1:{port}/hrss does not answer" in result.stderr


def _held_port() -> socket.socket:
    """A port held the way a running 前置机 holds it (gRPC listens with SO_REUSEPORT)."""
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    return holder


def _frontproc_process(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "frontproc", "--config", str(path), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_a_second_frontproc_on_the_port_of_a_running_one_stops_saying_so(tmp_path: Path) -> None:
    """It bound the port beside the first (SO_REUSEPORT) and the platform's calls were shared between the two."""
    with _held_port() as holder:
        port = holder.getsockname()[1]
        path = tmp_path / "dept.yaml"
        path.write_text(_valid(tmp_path).replace("listen: 127.0.0.1:7100", f"listen: 127.0.0.1:{port}"))
        result = _frontproc_process(path)
    assert result.returncode == 1, result.stderr
    assert f"dept.yaml: listen: cannot listen on 127.0.0.1:{port}: the port is in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_listen_address_not_of_this_machine_stops_naming_it(tmp_path: Path) -> None:
    """gRPC's "Failed to bind to address" ended in a traceback."""
    path = tmp_path / "dept.yaml"
    path.write_text(_valid(tmp_path).replace("listen: 127.0.0.1:7100", "listen: 192.0.2.1:7100"))
    result = _frontproc_process(path)
    assert result.returncode == 1, result.stderr
    assert "dept.yaml: listen: cannot listen on 192.0.2.1:7100 (Cannot assign requested address" in result.stderr
    assert "Traceback" not in result.stderr


async def test_the_check_runs_beside_a_frontproc_that_holds_the_metrics_port(tmp_path: Path,
                                                                            department_url: str) -> None:
    """--check started the metrics endpoint too, and ended in "Address already in use" beside the running 前置机;
    serving with a metrics port another program holds ended in the same traceback."""
    with _held_port() as holder:
        port = holder.getsockname()[1]
        path = tmp_path / "dept.yaml"
        path.write_text(_valid(tmp_path, department_url) + f"metrics_port: {port}\n")
        checked = await asyncio.to_thread(_frontproc_process, path, "--check")
        served = await asyncio.to_thread(_frontproc_process, path)
    assert checked.returncode == 0, checked.stderr
    assert served.returncode == 1, served.stderr
    assert f"dept.yaml: metrics_port: cannot listen on 127.0.0.1:{port} (Address already in use)" in served.stderr
    assert "Traceback" not in checked.stderr + served.stderr


@pytest.mark.parametrize(("access_log", "said"), [
    ("logs", "access_log: {tmp}/logs is a directory: give a file name in it"),
    ("database.url/access.jsonl", "access_log: cannot create {tmp}/database.url/access.jsonl: {tmp}/database.url is "
                                  "not a directory"),
])
def test_an_access_log_the_frontproc_cannot_write_is_refused_with_its_line(tmp_path: Path, access_log: str,
                                                                           said: str) -> None:
    """--check said the file was valid, and the 前置机 then retried opening the log forever ("dependencies not
    ready"), never serving."""
    (tmp_path / "logs").mkdir()
    text = _valid(tmp_path).replace("access_log: access.jsonl", f"access_log: {access_log}")
    with pytest.raises(ConfigError) as error:
        parse(text, str(tmp_path / "dept.yaml"))
    assert f"dept.yaml:{_line_of(text, 'access_log:')}: {said.format(tmp=tmp_path)}" in str(error.value)


def _tls_files(folder: Path, *names: str, valid_from_days: int = -1, valid_to_days: int = 30) -> None:
    """A self-signed certificate and its key for each name (``NAME.crt``, ``NAME.key``), as an operator's CA
    would issue them (valid from and to so many days from now)."""
    folder.mkdir(exist_ok=True)
    for name in names:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = dt.datetime.now(dt.UTC)
        certificate = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                       .public_key(key.public_key()).serial_number(x509.random_serial_number())
                       .not_valid_before(now + dt.timedelta(days=valid_from_days))
                       .not_valid_after(now + dt.timedelta(days=valid_to_days))
                       .sign(key, hashes.SHA256()))
        (folder / f"{name}.crt").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        (folder / f"{name}.key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def test_tls_files_are_relative_to_the_configuration_file_and_must_exist(tmp_path: Path) -> None:
    """The docs say relative file names are relative to the configuration file; the tls files were read relative
    to the working directory, and a missing one stopped the 前置机 with only "b: No such file or directory"."""
    _tls_files(tmp_path / "certs", "server", "ca")
    text = _valid(tmp_path) + "tls:\n  cert: certs/server.crt\n  key: certs/server.key\n  ca: certs/ca.crt\n"
    config = parse(text, str(tmp_path / "dept.yaml"))
    assert (config.tls_cert, config.tls_key, config.tls_ca) == tuple(
        str(tmp_path / "certs" / name) for name in ("server.crt", "server.key", "ca.crt"))
    missing = text.replace("key: certs/server.key", "key: certs/server.pem")
    with pytest.raises(ConfigError) as error:
        parse(missing, str(tmp_path / "dept.yaml"))
    assert (f"dept.yaml:{_line_of(missing, 'key: certs/server.pem')}: tls.key: no such file "
            f"{tmp_path / 'certs' / 'server.pem'}") in str(error.value)


@pytest.mark.parametrize(("cert", "key", "ca", "said"), [
    ("server.crt", "other.key", "ca.crt", "tls.key: {d}/other.key is not the private key of the certificate "
                                          "{d}/server.crt: give the key it was issued for"),
    ("server.key", "server.crt", "ca.crt", "tls.cert: {d}/server.key holds no PEM certificate"),
    ("server.key", "server.crt", "ca.crt", "tls.key: {d}/server.crt holds no PEM private key"),
    ("server.crt", "server.key", "ca.key", "tls.ca: {d}/ca.key holds no PEM certificate: give the certificate of "
                                           "the platform's CA"),
])
def test_tls_files_that_do_not_go_together_are_refused_by_the_check_naming_the_field(
        tmp_path: Path, cert: str, key: str, ca: str, said: str) -> None:
    """A key that is not the certificate's, or files given in each other's fields, passed --check; at start gRPC
    refused them while binding, and the 前置机 ended in a traceback saying "Failed to bind to address
    127.0.0.1:7100", as if its port were taken."""
    _tls_files(tmp_path / "certs", "server", "other", "ca")
    text = _valid(tmp_path) + f"tls:\n  cert: certs/{cert}\n  key: certs/{key}\n  ca: certs/{ca}\n"
    with pytest.raises(ConfigError) as error:
        parse(text, str(tmp_path / "dept.yaml"))
    field = said.split(":")[0].split(".")[1]
    line = _line_of(text, f"  {field}: certs/")
    assert f"dept.yaml:{line}: {said.format(d=tmp_path / 'certs')}" in str(error.value)


@pytest.mark.parametrize(("valid_from", "valid_to", "said"), [
    (-90, -1, "expired on 20"), (1, 90, "is not valid before 20")])
def test_a_certificate_that_cannot_be_served_today_is_refused_by_the_check(
        tmp_path: Path, valid_from: int, valid_to: int, said: str) -> None:
    """An expired certificate passed --check and the 前置机 said it was serving; every platform call then failed
    its TLS handshake, the platform reporting a department that does not answer and the 前置机's log silent."""
    _tls_files(tmp_path / "certs", "ca")
    _tls_files(tmp_path / "certs", "server", valid_from_days=valid_from, valid_to_days=valid_to)
    text = _valid(tmp_path) + "tls:\n  cert: certs/server.crt\n  key: certs/server.key\n  ca: certs/ca.crt\n"
    with pytest.raises(ConfigError) as error:
        parse(text, str(tmp_path / "dept.yaml"))
    assert f"dept.yaml:{_line_of(text, 'cert: certs/')}: tls.cert: {tmp_path / 'certs' / 'server.crt'} {said}" \
        in str(error.value)
    assert "Beijing time" in str(error.value)


def test_submit_entry_refuses_an_entry_this_frontproc_does_not_serve(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """The entry went to review as it was: the catalog's check at publication then told the authority's reviewer
    (ENDPOINT_DOES_NOT_SERVE, ENDPOINT_MISSES_ITEMS, or an endpoint that does not answer, its assertions bound to
    another target) what only the data officer could fix, with the entry no longer editable."""
    from google.protobuf import json_format

    from frontproc.register import endpoint_problems, main

    path = tmp_path / "dept.yaml"
    path.write_text(_valid(tmp_path))
    config = parse(path.read_text(), str(path))
    assert endpoint_problems(config, dept.social_insurance_entry("127.0.0.1:7100")) == []
    entry = dept.social_insurance_entry("fqj.rsj.example.gov.cn:7100")
    entry.items.add(machine_name="photo", name="照片")
    (tmp_path / "entry.json").write_text(json_format.MessageToJson(entry))
    assert main(str(path), str(tmp_path / "entry.json")) == 2
    said = capsys.readouterr().err
    assert ("the entry's endpoint.target 'fqj.rsj.example.gov.cn:7100' is not this 前置机's endpoint '127.0.0.1:7100'"
            f": the platform's assertions are bound to the target, so every call would be refused; set `endpoint: "
            f"fqj.rsj.example.gov.cn:7100` in {path}") in said
    assert f"items photo of the entry are not mapped in {path}'s resource 'social_insurance'" in said
    entry.endpoint.dataset = "dibao"
    assert endpoint_problems(config, entry)[-1].startswith(f"the entry's endpoint.dataset 'dibao' is not served by "
                                                           f"{path} (it serves social_insurance)")
    # An entry naming no target is one of data loaded to the platform: this 前置机 would never be asked. The
    # file said nothing of an entry without an endpoint, and told to "set `endpoint: `" of an empty target.
    named_none = ('the entry names no endpoint.target: the platform would look for its records among data loaded '
                  'to it, never asking this 前置机; give "endpoint": {"target": "127.0.0.1:7100", "dataset": '
                  '"social_insurance"}')
    entry = dept.social_insurance_entry("")
    assert endpoint_problems(config, entry) == [named_none]
    entry.ClearField("endpoint")
    assert endpoint_problems(config, entry) == [named_none]


def test_submit_entry_refuses_an_entry_keyed_otherwise_than_the_frontproc(tmp_path: Path) -> None:
    """Nothing compared the entry's key with the 前置机's: an entry keyed by another item, or by a key item of
    another identifier kind, was submitted and published, and the platform asked the 前置机 for records by
    values it looked up in another column, or checked by other rules."""
    from frontproc.register import endpoint_problems
    from govshare.catalog.v1 import catalog_pb2 as cat

    path = tmp_path / "dept.yaml"
    path.write_text(_valid(tmp_path))
    config = parse(path.read_text(), str(path))
    entry = dept.social_insurance_entry("127.0.0.1:7100")
    entry.key_item = "name"
    assert endpoint_problems(config, entry) == [
        f"the entry's key_item 'name' is not the item {path}'s resource 'social_insurance' looks records up by "
        "(key.item: citizen_id): the platform would ask for records by name; make them the same"]
    entry = dept.social_insurance_entry("127.0.0.1:7100")
    next(item for item in entry.items if item.machine_name == "citizen_id").identifier = \
        cat.IDENTIFIER_KIND_CREDIT_CODE
    assert endpoint_problems(config, entry) == [
        f"the entry's key item citizen_id is of identifier kind credit_code, but {path}'s resource "
        "'social_insurance' checks keys as citizen_id (key.kind): make them the same"]


def test_a_notice_without_a_valid_key_is_named_by_its_channel(tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    """The warning named the channel as "Located(value='si_changed', line=31)", the configuration's internals."""
    from frontproc.watch import ChangeWatcher

    (tmp_path / "system.secret").write_text("s3cret")
    text = dept.config_text("database.url", "127.0.0.1:7100", "platform.pem", "access.jsonl", "127.0.0.1:50051",
                            "sys-1", "system.secret")
    _valid(tmp_path)
    config = parse(text, str(tmp_path / "dept.yaml"))
    watcher = ChangeWatcher(config, lambda code, keys: None)  # type: ignore[arg-type,return-value]
    watcher._heard(None, 0, "si_changed", "not-an-id-number")
    assert caplog.records[-1].getMessage().startswith("a notice on si_changed carries no valid key of 202001/000001:")
    # A key column kept with capitals (a table migrated from Oracle) is quoted in the trigger advised: NEW.SFZHM
    # reads as NEW.sfzhm, which the row does not have, and such a trigger fails every write to the table.
    upper = parse(text.replace("key_column: sfzhm", "key_column: SFZHM").replace("citizen_id: sfzhm",
                                                                                "citizen_id: SFZHM"),
                  str(tmp_path / "dept.yaml"))
    ChangeWatcher(upper, lambda code, keys: None)._heard(None, 0, "si_changed", "x")  # type: ignore[arg-type,return-value]
    assert "(pg_notify('si_changed', NEW.\"SFZHM\"::text))" in caplog.records[-1].getMessage()


def test_a_channel_two_resources_watch_tells_the_platform_of_both(tmp_path: Path) -> None:
    """Two datasets read from one table (the full record and an open subset, each its catalog entry) announced on
    the one channel its trigger sends on: only the resource declared last was told of a change, the other answered
    from the platform's copies until they expired. Each is told, under its own code, the change and, once the
    watcher listens, the whole resource."""
    from frontproc.watch import ChangeWatcher

    (tmp_path / "system.secret").write_text("s3cret")
    _valid(tmp_path)
    text = dept.config_text("database.url", "127.0.0.1:7100", "platform.pem", "access.jsonl", "127.0.0.1:50051",
                            "sys-1", "system.secret") + (
        "  - dataset: social_insurance_status\n    key: {item: citizen_id, kind: citizen_id}\n"
        "    table: si_enrolment\n    key_column: sfzhm\n    items:\n      citizen_id: sfzhm\n      status: cbzt\n"
        "    watch_channel: si_changed\n    resource_code: 202001/000002\n")
    watcher = ChangeWatcher(parse(text, str(tmp_path / "dept.yaml")), lambda code, keys: None)  # type: ignore[arg-type,return-value]
    watcher._heard(None, 0, "si_changed", "342322194911060454")
    assert watcher._pending == {dept.RESOURCE_CODE: {"342322194911060454"}, "202001/000002": {"342322194911060454"}}
    watcher._heard(None, 0, "si_changed", "")
    assert watcher._pending == {dept.RESOURCE_CODE: None, "202001/000002": None}


def test_notices_without_a_valid_key_announce_the_whole_resource_and_are_said_once_a_minute(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """A trigger sending pg_notify('si_changed', row_to_json(NEW)::text) instead of the key had every notice
    ignored with a warning each: no change was told (the platform answered from its copies until they expired),
    and a reload of a million rows wrote a million lines to the log. Such a notice now announces the whole resource,
    and the warning comes at most once a minute per channel, saying how many came since and what to send."""
    from frontproc import watch

    (tmp_path / "system.secret").write_text("s3cret")
    _valid(tmp_path)
    config = parse(dept.config_text("database.url", "127.0.0.1:7100", "platform.pem", "access.jsonl",
                                    "127.0.0.1:50051", "sys-1", "system.secret"), str(tmp_path / "dept.yaml"))
    now = [1000.0]
    monkeypatch.setattr(watch.time, "monotonic", lambda: now[0])
    watcher = watch.ChangeWatcher(config, lambda code, keys: None)  # type: ignore[arg-type,return-value]
    caplog.set_level(logging.WARNING, logger="frontproc.watch")
    watcher._heard(None, 0, "si_changed", "342322194911060454")
    assert watcher._pending == {dept.RESOURCE_CODE: {"342322194911060454"}}
    # A row keeping a first-generation 15-digit number is announced by the 18-character one the platform asks by.
    watcher._heard(None, 0, "si_changed", "110105491231002")
    assert watcher._pending == {dept.RESOURCE_CODE: {"342322194911060454", "11010519491231002X"}}
    assert not caplog.records
    for _ in range(1000):
        watcher._heard(None, 0, "si_changed", '{"sfzhm": "342322194911060454", "xm": "武文辉"}')
    watcher._heard(None, 0, "si_changed", "342322194911060455")
    assert watcher._pending == {dept.RESOURCE_CODE: None}  # every record
    said = [record.getMessage() for record in caplog.records if record.name == "frontproc.watch"]
    assert said == ["a notice on si_changed carries no valid key of 202001/000001: the whole resource is announced "
                    "as changed instead; the trigger should send the changed row's key alone "
                    "(pg_notify('si_changed', NEW.sfzhm::text)), or '' for every record"]
    assert "武文辉" not in said[0] and "342322194911060454" not in said[0]
    now[0] += watch.UNREADABLE_NOTICE_LOG_SECONDS
    watcher._heard(None, 0, "si_changed", "x")
    said = [record.getMessage() for record in caplog.records if record.name == "frontproc.watch"]
    assert len(said) == 2 and "202001/000001 (1000 more since the last such warning): the whole" in said[1]


async def test_a_notice_a_sql_ascii_database_cannot_send_is_said_and_the_notices_after_it_heard(
        tmp_path: Path, embedded, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
        caplog: pytest.LogCaptureFixture) -> None:
    """In a SQL_ASCII database a trigger sending a key kept in GBK (a 车牌号 京A12345) makes a notice the 前置机
    cannot be sent: PostgreSQL closes the listening connection for it ('invalid byte sequence for encoding "UTF8"'),
    and the 前置机 listened again and announced the whole resource without a word, at every such change. It is said,
    at most once a minute, with the trigger's payload that converts the key (never the payload); the notices sent
    once it listens again are heard."""
    from frontproc import watch

    name = f"dept_ascii_{uuid.uuid4().hex[:8]}"
    connection = await asyncpg.connect(embedded.database_url)
    try:
        await connection.execute(f"CREATE DATABASE {name} ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' "
                                 "TEMPLATE template0")
    finally:
        await connection.close()
    url = urlunsplit(urlsplit(embedded.database_url)._replace(path=f"/{name}"))
    _valid(tmp_path, url)
    (tmp_path / "system.secret").write_text("s")
    config = parse(dept.config_text("database.url", "127.0.0.1:7100", "platform.pem", "access.jsonl",
                                    "127.0.0.1:50051", "sys-1", "system.secret"), str(tmp_path / "dept.yaml"))
    monkeypatch.setattr(watch, "FLUSH_SECONDS", 0.0)
    monkeypatch.setattr(watch, "RETRY_SECONDS", 0.0)
    monkeypatch.setattr(watch, "time", SimpleNamespace(monotonic=lambda: 1000.0))  # the minute never passes
    sent: asyncio.Queue[list[str]] = asyncio.Queue()

    async def send(code: str, keys: list[str]) -> int:
        await sent.put(list(keys))
        return len(keys)

    caplog.set_level(logging.WARNING, logger="frontproc.watch")
    watcher = watch.ChangeWatcher(config, send)  # type: ignore[arg-type]
    watcher.start()
    try:
        assert await asyncio.wait_for(sent.get(), 30) == []  # listening: the whole resource announced
        connection = await asyncpg.connect(url)
        for _ in range(2):
            await connection.execute("SELECT pg_notify('si_changed', convert_from('\\xbea941'::bytea, "
                                     "'SQL_ASCII'))")  # 京A in GBK
            assert await asyncio.wait_for(sent.get(), 30) == []  # listening again
        await connection.execute("SELECT pg_notify('si_changed', '342322194911060454')")
        assert await asyncio.wait_for(sent.get(), 30) == ["342322194911060454"]
        await connection.close()
    finally:
        await watcher.stop()
    said = [record.getMessage() for record in caplog.records if record.name == "frontproc.watch"]
    assert said == ["the department database closed the 前置机's listening connection: listening again on a new one, "
                    "the whole resource announced as changed (the changes made meanwhile cannot be known): in a "
                    "SQL_ASCII database a notice whose payload is not UTF-8 (a key kept in GBK) cannot be sent to the "
                    "前置机, and PostgreSQL closes the connection for it, with the notices after it; make the trigger "
                    "send such keys converted (pg_notify('si_changed', convert_from(convert(convert_to("
                    "NEW.sfzhm::text, 'SQL_ASCII'), 'GBK', 'UTF8'), 'SQL_ASCII')))"], said


async def test_a_rotated_secret_written_to_its_file_carries_the_next_notice(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The 前置机 read platform.secret_file once, at start. After the department rotated its system's secret
    (RotateSystemSecret) and wrote the new one to the file, every change notice went out with the old secret,
    was refused UNAUTHENTICATED and dropped: the platform answered the changed records from its copies until they
    expired, and only a restart helped. The file is read for each notice, and a notice so refused is sent again."""
    from frontproc import watch
    from frontproc.platform import platform_secret

    (tmp_path / "system.secret").write_text("the-old-secret")
    _valid(tmp_path)
    config = parse(dept.config_text("database.url", "127.0.0.1:7100", "platform.pem", "access.jsonl",
                                    "127.0.0.1:50051", "sys-1", "system.secret"), str(tmp_path / "dept.yaml"))
    monkeypatch.setattr(watch, "FLUSH_SECONDS", 0.0)
    monkeypatch.setattr(watch, "CREDENTIALS_RETRY_SECONDS", 0.01)
    sent: list[tuple[str, list[str], str]] = []
    refused, taken = asyncio.Event(), asyncio.Event()

    async def send(code: str, keys: list[str]) -> int:
        sent.append((code, list(keys), platform_secret(config)))
        if sent[-1][2] != "the-new-secret":
            refused.set()
            raise grpc.aio.AioRpcError(grpc.StatusCode.UNAUTHENTICATED, grpc.aio.Metadata(), grpc.aio.Metadata(),
                                       "unknown system id or wrong secret")
        taken.set()
        return len(keys)

    watcher = watch.ChangeWatcher(config, send)  # type: ignore[arg-type]
    flusher = asyncio.create_task(watcher._flush_forever())
    try:
        watcher._heard(None, 0, "si_changed", "342322194911060454")
        await asyncio.wait_for(refused.wait(), 10)
        (tmp_path / "system.secret").write_text("the-new-secret\n")
        await asyncio.wait_for(taken.wait(), 10)
    finally:
        flusher.cancel()
    assert sent[0] == (dept.RESOURCE_CODE, ["342322194911060454"], "the-old-secret")
    assert sent[-1] == (dept.RESOURCE_CODE, ["342322194911060454"], "the-new-secret")


async def test_a_notice_that_could_not_be_sent_is_sent_again_and_the_notices_after_it_too(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A notice whose sending raised anything but a gRPC error (the edge's CA file unreadable for a moment while
    it is replaced) ended the task that sends the notices: the 前置机 went on serving and listening, and told the
    platform of no change again until it was restarted. It is logged and sent again, and so are the ones after."""
    from frontproc import watch

    _valid(tmp_path)
    (tmp_path / "system.secret").write_text("s")
    config = parse(dept.config_text("database.url", "127.0.0.1:7100", "platform.pem", "access.jsonl",
                                    "127.0.0.1:50051", "sys-1", "system.secret"), str(tmp_path / "dept.yaml"))
    monkeypatch.setattr(watch, "FLUSH_SECONDS", 0.0)
    monkeypatch.setattr(watch, "CREDENTIALS_RETRY_SECONDS", 0.01)
    sent: list[list[str]] = []
    again, taken = asyncio.Event(), asyncio.Event()

    async def send(code: str, keys: list[str]) -> int:
        sent.append(list(keys))
        if len(sent) == 1:
            raise OSError(2, "No such file or directory")
        (again if len(sent) == 2 else taken).set()
        return len(keys)

    watcher = watch.ChangeWatcher(config, send)  # type: ignore[arg-type]
    flusher = asyncio.create_task(watcher._flush_forever())
    try:
        watcher._heard(None, 0, "si_changed", "342322194911060454")
        await asyncio.wait_for(again.wait(), 10)
        watcher._heard(None, 0, "si_changed", "11010519491231002X")
        await asyncio.wait_for(taken.wait(), 10)
    finally:
        flusher.cancel()
    assert sent == [["342322194911060454"], ["342322194911060454"], ["11010519491231002X"]]
    assert "could not send a change notice for 202001/000001 (FileNotFoundError: [Errno 2] No such file or " \
           "directory): sending it again" in caplog.text


async def test_a_notice_whose_keys_the_platform_refuses_announces_the_whole_resource_without_quoting_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Keys the platform checks by another identifier kind than key.kind (the catalog entry's key item of another
    kind) had their notice refused INVALID_ARGUMENT and dropped: the changed records were answered from the
    platform's copies until they expired, and the log held the refusal's words, which quote part of a key (a
    person's region code). The whole resource is announced instead, the log naming the fields at fault only."""
    from google.rpc import error_details_pb2, status_pb2

    from frontproc import watch

    (tmp_path / "system.secret").write_text("s3cret")
    _valid(tmp_path)
    config = parse(dept.config_text("database.url", "127.0.0.1:7100", "platform.pem", "access.jsonl",
                                    "127.0.0.1:50051", "sys-1", "system.secret"), str(tmp_path / "dept.yaml"))
    monkeypatch.setattr(watch, "FLUSH_SECONDS", 0.0)
    message = "keys[0]: 统一社会信用代码 has an unknown region code 342322"
    status = status_pb2.Status(code=grpc.StatusCode.INVALID_ARGUMENT.value[0], message=message)
    status.details.add().Pack(error_details_pb2.BadRequest(field_violations=[
        error_details_pb2.BadRequest.FieldViolation(field="keys[0]", description=message)]))
    trailers = grpc.aio.Metadata(("grpc-status-details-bin", status.SerializeToString()))
    sent: list[list[str]] = []
    announced = asyncio.Event()

    async def send(code: str, keys: list[str]) -> int:
        sent.append(list(keys))
        if keys:
            raise grpc.aio.AioRpcError(grpc.StatusCode.INVALID_ARGUMENT, grpc.aio.Metadata(), trailers, message)
        announced.set()
        return 0

    watcher = watch.ChangeWatcher(config, send)  # type: ignore[arg-type]
    flusher = asyncio.create_task(watcher._flush_forever())
    caplog.set_level(logging.WARNING, logger="frontproc.watch")
    try:
        watcher._heard(None, 0, "si_changed", "342322194911060454")
        await asyncio.wait_for(announced.wait(), 10)
    finally:
        flusher.cancel()
    assert sent == [["342322194911060454"], []]
    said = [record.getMessage() for record in caplog.records]
    assert len(said) == 1 and said[0].startswith(f"the platform refused the keys of a change notice for "
                                                 f"{dept.RESOURCE_CODE} (INVALID_ARGUMENT: keys[0]): the whole "
                                                 "resource is announced instead"), said
    assert "342322" not in said[0]


async def test_a_retired_departments_notices_stop_with_what_to_do(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A 前置机 left running after its department was retired (RetireDepartment) was told, for every change notice,
    to write the current secret of its system to platform.secret, and sent the notice again every 30 s for ever:
    no secret gets a retired department's system a token. IssueToken's refusal now carries DEPARTMENT_RETIRED; the
    watcher says once that the department was retired and what to do, and sends nothing more."""
    from google.rpc import error_details_pb2, status_pb2

    from frontproc import watch

    (tmp_path / "system.secret").write_text("s3cret")
    _valid(tmp_path)
    config = parse(dept.config_text("database.url", "127.0.0.1:7100", "platform.pem", "access.jsonl",
                                    "127.0.0.1:50051", "sys-1", "system.secret"), str(tmp_path / "dept.yaml"))
    monkeypatch.setattr(watch, "FLUSH_SECONDS", 0.0)
    monkeypatch.setattr(watch, "CREDENTIALS_RETRY_SECONDS", 0.01)
    message = "system sys-1 gets no tokens: department 11110000000000001X was retired on 2026-03-31"
    status = status_pb2.Status(code=grpc.StatusCode.UNAUTHENTICATED.value[0], message=message)
    status.details.add().Pack(error_details_pb2.ErrorInfo(reason="DEPARTMENT_RETIRED", domain="govshare"))
    trailers = grpc.aio.Metadata(("grpc-status-details-bin", status.SerializeToString()))
    sent: list[str] = []
    refused = asyncio.Event()

    async def send(code: str, keys: list[str]) -> int:
        sent.append(code)
        refused.set()
        raise grpc.aio.AioRpcError(grpc.StatusCode.UNAUTHENTICATED, grpc.aio.Metadata(), trailers, message)

    watcher = watch.ChangeWatcher(config, send)  # type: ignore[arg-type]
    flusher = asyncio.create_task(watcher._flush_forever())
    try:
        watcher._heard(None, 0, "si_changed", "342322194911060454")
        await asyncio.wait_for(refused.wait(), 10)
        await asyncio.sleep(0.1)  # ten retry periods: nothing is sent again
        watcher._heard(None, 0, "si_changed", "342322194911060454")
        await asyncio.sleep(0.1)
    finally:
        flusher.cancel()
    assert sent == [dept.RESOURCE_CODE]
    said = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(said) == 1 and message in said[0] and "department was retired" in said[0]
    assert "stop this 前置机" in said[0] and "write the current secret" not in said[0]


async def test_a_disabled_systems_notices_say_to_ask_the_authority_not_to_write_the_secret(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """IssueToken refuses a disabled system's right secret SYSTEM_DISABLED: the watcher told the data officer to
    write the current secret of the system to platform.secret, which they had done; now it says the system is
    disabled and to ask the authority's 管理员, and still sends the notice again (an enabled system's goes through)."""
    from google.rpc import error_details_pb2, status_pb2

    from frontproc import watch

    (tmp_path / "system.secret").write_text("s3cret")
    _valid(tmp_path)
    config = parse(dept.config_text("database.url", "127.0.0.1:7100", "platform.pem", "access.jsonl",
                                    "127.0.0.1:50051", "sys-1", "system.secret"), str(tmp_path / "dept.yaml"))
    monkeypatch.setattr(watch, "FLUSH_SECONDS", 0.0)
    monkeypatch.setattr(watch, "CREDENTIALS_RETRY_SECONDS", 0.01)
    message = "system sys-1 is disabled: the authority may enable it again"
    status = status_pb2.Status(code=grpc.StatusCode.UNAUTHENTICATED.value[0], message=message)
    status.details.add().Pack(error_details_pb2.ErrorInfo(reason="SYSTEM_DISABLED", domain="authorization.govshare"))
    trailers = grpc.aio.Metadata(("grpc-status-details-bin", status.SerializeToString()))
    sent: list[str] = []
    again = asyncio.Event()

    async def send(code: str, keys: list[str]) -> int:
        sent.append(code)
        if len(sent) == 1:
            raise grpc.aio.AioRpcError(grpc.StatusCode.UNAUTHENTICATED, grpc.aio.Metadata(), trailers, message)
        again.set()
        return 0

    watcher = watch.ChangeWatcher(config, send)  # type: ignore[arg-type]
    flusher = asyncio.create_task(watcher._flush_forever())
    try:
        watcher._heard(None, 0, "si_changed", "342322194911060454")
        await asyncio.wait_for(again.wait(), 10)
    finally:
        flusher.cancel()
    assert sent == [dept.RESOURCE_CODE] * 2
    (said,) = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert message in said and "is disabled: ask the authority's 管理员" in said and "EnableSystem" in said
    assert "write the current secret" not in said


def test_a_private_key_given_as_the_platform_public_key_is_named_as_such(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The signing key itself in platform.pem (the wrong file handed over) was "no PEM public key found". Keys
    refused are said on the line of the field that gives them, naming the file or the variable they are in: they
    were said on the platform line as "platform.public_keys", a field not written, without the file."""
    from services.runtime.keys import generate_keys

    text = _valid(tmp_path)
    (tmp_path / "platform.pem").write_text(generate_keys().provider_signing_key)
    with pytest.raises(ConfigError) as error:
        parse(text, str(tmp_path / "dept.yaml"))
    assert (f"dept.yaml:{_line_of(text, 'public_keys_file:')}: platform.public_keys_file (the keys in "
            f"{tmp_path / 'platform.pem'}): this is a private key: give the public key (its public half, such as "
            "provider-public.pem") in str(error.value)
    monkeypatch.setenv("GOVSHARE_TEST_KEYS", "garbled")
    by_env = text.replace("public_keys_file: platform.pem", "public_keys_env: GOVSHARE_TEST_KEYS")
    with pytest.raises(ConfigError) as error:
        parse(by_env, str(tmp_path / "dept.yaml"))
    assert (f"dept.yaml:{_line_of(by_env, 'public_keys_env:')}: platform.public_keys_env (the keys in the environment "
            "variable GOVSHARE_TEST_KEYS): no PEM public key found") in str(error.value)


@pytest.mark.parametrize(("given", "added", "ignored", "used"), [
    ("  url_file: database.url\n", "  url_env: GOVSHARE_TEST_DATABASE_URL\n", "database.url_env",
     "database.url_file"),
    ("  url_file: database.url\n", "  url: postgresql://fqj:old@127.0.0.1:1/none\n", "database.url_file",
     "database.url"),
    ("  public_keys_file: platform.pem\n", "  public_keys_env: GOVSHARE_TEST_KEYS\n", "platform.public_keys_env",
     "platform.public_keys_file"),
])
def test_a_value_given_in_two_forms_is_refused_on_the_line_of_the_one_not_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str, added: str, ignored: str, used: str) -> None:
    """A password moved to an environment variable (or a mounted file) with the old line left in: one form was used
    and the other ignored without a word (a url_file shadowed by a url was not read again after a rotation either),
    and the officer who rotated the password where they had moved it was refused at the next connection."""
    text = _valid(tmp_path).replace(given, given + added)
    monkeypatch.setenv("GOVSHARE_TEST_DATABASE_URL", "postgresql://fqj:new@127.0.0.1:1/none")
    monkeypatch.setenv("GOVSHARE_TEST_KEYS", (tmp_path / "platform.pem").read_text())
    with pytest.raises(ConfigError) as error:
        parse(text, str(tmp_path / "dept.yaml"))
    line = _line_of(text, f"  {ignored.split('.')[1]}:")
    used_line = _line_of(text, f"  {used.split('.')[1]}:")
    assert (f"dept.yaml:{line}: {ignored}: {used} is given too (line {used_line}), and only it would be read"
            in str(error.value)), str(error.value)


@pytest.mark.parametrize(("field", "said"), [
    ("url_file: database.url", "database.url_file: 'a\\x00b' is not a usable file name (it holds a NUL character)"),
    ("access_log: access.jsonl", "access_log: 'a\\x00b' is not a usable file name (it holds a NUL character)"),
])
def test_a_file_name_holding_a_nul_character_is_refused_with_its_line(tmp_path: Path, field: str, said: str) -> None:
    """url_file ended in "ValueError: embedded null byte"; access_log passed, and opening it failed at start."""
    name = field.split(":")[0]
    text = _valid(tmp_path).replace(field, f'{name}: "a\\0b"')
    with pytest.raises(ConfigError) as error:
        parse(text, str(tmp_path / "dept.yaml"))
    assert f"dept.yaml:{_line_of(text, name + ':')}: {said}" in str(error.value)


def test_a_key_item_mapped_to_another_column_than_the_key_column_is_refused(tmp_path: Path) -> None:
    """Records were looked up by key_column and answered under the key item's column (here the name), which the
    platform matches replies by: every record of a batch came back matching no key, as if absent."""
    text = _valid(tmp_path).replace("      citizen_id: sfzhm\n", "      citizen_id: xm\n")
    with pytest.raises(ConfigError) as error:
        parse(text, str(tmp_path / "dept.yaml"))
    assert (f"dept.yaml:{_line_of(text, 'citizen_id: xm')}: resources[0].items.citizen_id maps the key item to "
            "column 'xm', but key_column is 'sfzhm': map it to sfzhm") in str(error.value)


@pytest.mark.parametrize(("dropped", "said"), [(1, "dropped 1 record of"), (2, "dropped 2 records of")])
def test_notify_changes_says_how_many_records_in_words_that_agree(monkeypatch, capsys, dropped, said) -> None:  # type: ignore[no-untyped-def]
    """`govshare notify-changes … KEY` printed "the platform dropped 1 records"."""
    from frontproc import notify

    async def answered(config: object, resource_code: str, keys: object) -> int:
        return dropped

    monkeypatch.setattr(notify, "load", lambda path: SimpleNamespace(resources={}))
    monkeypatch.setattr(notify, "notify", answered)
    assert notify.main("frontproc.toml", "202001/000001", ["k"] * dropped) == 0
    assert capsys.readouterr().out == f"the platform {said} 202001/000001\n"


def test_notify_changes_announces_a_key_copied_from_the_table_as_the_key_the_platform_asks_for(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A key copied from a table filled before 1999 (342322491106045), or with its x in lower case, was sent as it
    was and refused by the platform ("must have 18 characters"), though the 前置机 answers that row for the
    18-character number, and its trigger's notices announce it so."""
    from frontproc import notify

    (tmp_path / "system.secret").write_text("s3cret")
    _valid(tmp_path)
    path = tmp_path / "dept.yaml"
    path.write_text(dept.config_text("database.url", "127.0.0.1:7100", "platform.pem", "access.jsonl",
                                     "127.0.0.1:50051", "sys-1", "system.secret"))
    sent: list[object] = []

    async def answered(config: object, resource_code: str, keys: list[str]) -> int:
        sent.append(keys)
        return len(keys)

    monkeypatch.setattr(notify, "notify", answered)
    keys = ["342322491106045", "11010519491231002x", "342322194911060454"]
    assert notify.main(str(path), dept.RESOURCE_CODE, keys) == 0
    assert sent == [["342322194911060454", "11010519491231002X", "342322194911060454"]]
    assert notify.main(str(path), "202001/000009", keys) == 0  # a resource the file does not name: as given
    assert sent[1] == keys


_ITEMS = ("    items:\n      citizen_id: sfzhm\n      name: xm\n      insurance_type: xz\n      status: cbzt\n"
          "      enrolment_date: cbrq\n      employer: cbdw\n      contribution_base: jfjs\n")


@pytest.mark.parametrize(("items", "said"), [
    ("    items: {}\n", "resources[0].items must map at least one item to its column (the key item citizen_id among "
                      "them)"),
    ("    items:\n      citizen_id: [sfzhm]\n", "resources[0].items.citizen_id must be a column name"),
])
def test_items_that_map_no_column_are_refused_with_their_line_not_a_traceback(tmp_path: Path, items: str,
                                                                              said: str) -> None:
    """An items mapping left empty, or whose every column was refused (a list given for a column), ended the check
    in a KeyError traceback (the key item looked up among the columns mapped)."""
    text = _valid(tmp_path).replace(_ITEMS, items)
    assert text != _valid(tmp_path)
    with pytest.raises(ConfigError) as error:
        parse(text, str(tmp_path / "dept.yaml"))
    assert f"dept.yaml:{_line_of(text, items.splitlines()[-1].strip())}: {said}" in str(error.value)
    assert "is not one of the items" not in str(error.value)


async def test_sighup_drains_and_stops_as_sigterm_does_saying_why(tmp_path: Path, department_url: str) -> None:
    """SIGHUP (a terminal closed, ``kill -HUP`` sent as a reload) ended the 前置机 at once, by Python's default:
    calls in progress cut, health never NOT_SERVING, nothing in its log. It drains as on SIGTERM now, exit 0,
    its log saying the configuration is read at start only."""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    path = tmp_path / "dept.yaml"
    path.write_text(_valid(tmp_path, department_url).replace("listen: 127.0.0.1:7100", f"listen: 127.0.0.1:{port}"))
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "frontproc", "--config", str(path), cwd=ROOT,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert process.stdout is not None and process.stderr is not None
        line = await asyncio.wait_for(process.stdout.readline(), 60)
        assert b"serving social_insurance" in line, line
        process.send_signal(signal.SIGHUP)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()
    assert "SIGHUP: draining and stopping, as on SIGTERM" in stderr.decode()
    assert "is read at start only" in stderr.decode()


@pytest.mark.parametrize("command", ["notify-changes", "submit-entry"])
def test_a_platform_that_does_not_answer_is_not_said_to_refuse(tmp_path: Path, capsys, command: str) -> None:  # type: ignore[no-untyped-def]
    """With the platform down (or platform.edge mistyped) the commands said "the platform refused: UNAVAILABLE" (the
    catalog, for submit-entry), which sent the officer looking for what the platform disliked in the request."""
    from google.protobuf import json_format

    from frontproc import notify, register

    _valid(tmp_path)
    (tmp_path / "platform.secret").write_text("s\n")
    config = tmp_path / "dept.yaml"
    config.write_text(dept.config_text("database.url", "127.0.0.1:7100", "platform.pem", "access.jsonl",
                                       edge="127.0.0.1:1", system_id="sys-0123456789abcdef",
                                       secret_file="platform.secret"))
    if command == "notify-changes":
        assert notify.main(str(config), "202001/000001", ["k"]) == 1
    else:
        entry = tmp_path / "entry.json"
        entry.write_text(json_format.MessageToJson(dept.social_insurance_entry("127.0.0.1:7100")), encoding="utf-8")
        assert register.main(str(config), str(entry)) == 1
    said = capsys.readouterr().err
    assert said.startswith(f"govshare {command}: the platform at 127.0.0.1:1 did not answer (UNAVAILABLE: "), said
    assert said.rstrip().endswith("is it running, and is platform.edge its edge's address?"), said


@pytest.mark.parametrize(("replaced", "by", "said"), [
    # A Chinese input method's colon: YAML said only "could not find expected ':'", on the line after.
    ("    table: si_enrolment\n", "    table：si_enrolment\n", "not valid YAML (could not find expected ':'); line "
                                                               "{line} holds a full-width colon (：) where YAML needs "
                                                               "':' and a space: retype it in ASCII"),
    ("  per_second: 2000\n", "\u3000\u3000per_second: 2000\n",
     "not valid YAML (mapping values are not allowed here); line {line} holds a full-width space (U+3000) where YAML "
     "needs ASCII spaces: retype it in ASCII"),
    # Where YAML reads it at all, as a field of the mapping above, named "\u3000\u3000name".
    ("  name: 市人力资源和社会保障局\n", "\u3000\u3000name: 市人力资源和社会保障局\n",
     "configuration: unknown field '\\u3000\\u3000name' (expected one of department, listen, endpoint, health_listen, "
     "metrics_port, metrics_host, tls, database, platform, access_log, rate_limit, resources): it holds a full-width "
     "space (U+3000) where YAML needs ASCII spaces"),
])
def test_a_line_typed_in_full_width_forms_is_said_so(tmp_path: Path, replaced: str, by: str, said: str) -> None:
    """A dept.yaml typed with a Chinese input method on: a full-width colon was "not valid YAML (could not find
    expected ':')" on the next line, a full-width indentation an unknown field '\\u3000\\u3000per_second'. The
    line is named with what was typed in full-width forms."""
    text = _valid(tmp_path).replace(replaced, by)
    assert by in text
    with pytest.raises(ConfigError) as error:
        parse(text, "dept.yaml")
    assert said.format(line=_line_of(text, by.strip().split("：")[0].strip("\u3000"))) in str(error.value)


@pytest.mark.parametrize(("replaced", "by", "said"), [
    ("  burst: 4000\n", "  burst: 2.5\n", "rate_limit.burst must be a whole number, got 2.5"),
    ("rate_limit:\n", "metrics_port: 9100.5\nrate_limit:\n", "configuration.metrics_port must be a whole number, got "
                                                              "9100.5"),
])
def test_a_count_given_with_a_fraction_is_named_not_cut(tmp_path: Path, replaced: str, by: str, said: str) -> None:
    """A burst of 2.5 calls was taken as 2, a metrics port of 9100.5 as 9100, without a word."""
    text = _valid(tmp_path).replace(replaced, by)
    assert by in text
    with pytest.raises(ConfigError) as error:
        parse(text, "dept.yaml")
    assert said in str(error.value)


@pytest.mark.parametrize(("replaced", "by", "said"), [
    ("  burst: 4000\n", "  burst: 1e400\n", "rate_limit.burst must be between 1 and 1e+07, got inf"),
    ("rate_limit:\n", "metrics_port: nan\nrate_limit:\n", "configuration.metrics_port must be between 0 and 65535, "
                                                            "got nan"),
    # Without a burst, twice the rate (infinity) was taken as the burst.
    ("  per_second: 2000\n  burst: 4000\n", "  per_second: 1e400\n", "rate_limit.per_second must be between 0.001 and "
                                                                     "1e+06, got inf"),
])
def test_a_count_that_is_no_number_of_its_range_is_named_with_its_line(tmp_path: Path, replaced: str, by: str,
                                                                       said: str) -> None:
    """A burst or a rate of 1e400 (infinity to Python), a metrics port of nan, is out of range as 99999 is: the range
    was said, and the value then taken as a count all the same, int() of it ending the start and the check in an
    OverflowError or ValueError traceback instead of the file's line."""
    text = _valid(tmp_path).replace(replaced, by)
    assert by in text
    with pytest.raises(ConfigError) as error:
        parse(text, "dept.yaml")
    assert f"dept.yaml:{_line_of(text, by.strip().splitlines()[0])}: {said}" in str(error.value)


async def test_change_notices_go_to_an_edge_speaking_tls_and_the_secret_never_in_clear(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The 前置机 called the platform's edge in plaintext, always: a deployed edge listens with TLS (the chart's
    mTLS is on by default, an Ingress too), so every change notice and submit-entry failed, said as a platform that
    "did not answer"; and an edge reached in plaintext across the network got the system's secret in clear. An edge
    is called with TLS now, checked against platform.edge_ca_file (else the system's roots); plaintext only for an
    edge on this machine (govshare up's) or with edge_plaintext: true."""
    from frontproc.notify import notify
    from govshare.authorization.v1 import token_pb2, token_pb2_grpc
    from govshare.query.v1 import query_pb2, query_pb2_grpc

    issued: list[str] = []

    class Tokens(token_pb2_grpc.TokenServiceServicer):
        async def IssueToken(self, request, context):  # type: ignore[no-untyped-def]
            issued.append(request.secret)
            return token_pb2.IssueTokenResponse(token="t")

    class Queries(query_pb2_grpc.QueryServiceServicer):
        async def NotifyRecordsChanged(self, request, context):  # type: ignore[no-untyped-def]
            return query_pb2.NotifyRecordsChangedResponse(keys_dropped=len(request.keys))

    ca, certificate, key = tls_pair()
    (tmp_path / "edge-ca.pem").write_bytes(ca)
    (tmp_path / "platform.secret").write_text("s3cret\n")
    server = grpc.aio.server()
    token_pb2_grpc.add_TokenServiceServicer_to_server(Tokens(), server)
    query_pb2_grpc.add_QueryServiceServicer_to_server(Queries(), server)
    port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(key, certificate)]))
    await server.start()
    _valid(tmp_path)

    def configured(edge: str, extra: str = "") -> str:
        text = dept.config_text("database.url", "127.0.0.1:7100", "platform.pem", "access.jsonl", edge=edge,
                                system_id="sys-1", secret_file="platform.secret")
        return text.replace(f"  edge: {edge}\n", f"  edge: {edge}\n{extra}")

    try:
        config = parse(configured(f"127.0.0.1:{port}", "  edge_ca_file: edge-ca.pem\n"), str(tmp_path / "dept.yaml"))
        assert await notify(config, dept.RESOURCE_CODE, ["342322194911060454"]) == 1
        assert issued == ["s3cret"]
        # Without the edge's CA, the system's roots do not know it: nothing is sent, and the officer told what to set.
        (tmp_path / "dept.yaml").write_text(configured(f"127.0.0.1:{port}", "  edge_plaintext: false\n"))
        from frontproc import notify as notify_command

        assert await asyncio.to_thread(notify_command.main, str(tmp_path / "dept.yaml"), dept.RESOURCE_CODE, []) == 1
        assert capsys.readouterr().err.rstrip().endswith(
            "the edge's certificate is not one the system's roots issued: give the certificate of the CA that issued "
            "the edge's (the platform's operator has it) as platform.edge_ca_file")
        assert issued == ["s3cret"]
    finally:
        await server.stop(0)
    # Another machine's edge is called with TLS, by default; one on this machine (the demo's), or one said to speak
    # plaintext, is not.
    for edge, extra, tls in (("edge.govshare.example.gov.cn:443", "", True), ("127.0.0.1:50051", "", False),
                             ("localhost:50051", "", False),
                             ("edge.govshare.example.gov.cn:50051", "  edge_plaintext: true\n", False)):
        assert parse(configured(edge, extra), str(tmp_path / "dept.yaml")).platform_edge_tls is tls, edge
    text = configured("edge.govshare.example.gov.cn:443", "  edge_ca_file: nowhere.pem\n")
    with pytest.raises(ConfigError) as refused:
        parse(text, str(tmp_path / "dept.yaml"))
    assert f"dept.yaml:{_line_of(text, 'edge_ca_file')}: platform.edge_ca_file: cannot read " in str(refused.value)


class _Catalog:
    """A stand-in CatalogService holding the demo 前置机's entry, published naming ``target``."""

    def __init__(self, target: str) -> None:
        from frontproc import demo as dept
        from govshare.catalog.v1 import catalog_pb2 as cat

        self.entry = dept.social_insurance_entry(target)
        self.entry.state = cat.ENTRY_STATE_PUBLISHED
        self.calls: list[str] = []

    async def ListEntryVersions(self, request, **_call):  # type: ignore[no-untyped-def]
        from govshare.catalog.v1 import catalog_pb2 as cat

        return cat.ListEntryVersionsResponse(versions=[self.entry])

    async def UpdateEntry(self, request, **_call):  # type: ignore[no-untyped-def]
        self.calls.append(f"update {request.entry.endpoint.target}")

    async def SubmitEntry(self, request, **_call):  # type: ignore[no-untyped-def]
        self.calls.append("submit")

    async def ReviewEntry(self, request, **_call):  # type: ignore[no-untyped-def]
        self.calls.append("publish")


async def test_the_demo_entry_follows_its_frontproc_to_a_new_port_and_a_failed_review_does_not_stop_up(
        capsys: pytest.CaptureFixture[str]) -> None:
    """`govshare up` on another --port publishes a version of the demo entry naming the 前置机's new port (the
    integration test in test_up.py queries through it). When it cannot (the demo reviewer's password changed in the
    console), it says so and goes on: a restart that never signed the reviewer in must not fail on it."""
    import grpc

    from frontproc import demo as dept

    async def reviewer() -> tuple:
        return (("authorization", "Bearer r"),)

    async def refused() -> tuple:
        raise grpc.aio.AioRpcError(grpc.StatusCode.UNAUTHENTICATED, grpc.aio.Metadata(), grpc.aio.Metadata(),
                                   details="wrong password or code")

    catalog = _Catalog("127.0.0.1:50058")
    await dept.follow(catalog, "127.0.0.1:50058", (), refused)  # type: ignore[arg-type]
    assert catalog.calls == []  # names it already: nothing to do, nobody signed in
    await dept.follow(catalog, "127.0.0.1:50068", (), reviewer)  # type: ignore[arg-type]
    assert catalog.calls == ["update 127.0.0.1:50068", "submit", "publish"]
    await dept.follow(_Catalog("127.0.0.1:50058"), "127.0.0.1:50068", (), refused)  # type: ignore[arg-type]
    said = capsys.readouterr().err
    assert ("the demo 前置机 listens on 127.0.0.1:50068, but its catalog entry 202001/000001 names 127.0.0.1:50058 "
            "(a version naming 127.0.0.1:50068 was not published: UNAUTHENTICATED: wrong password or code)") in said
