"""The 前置机's configuration file (YAML), read and checked at start.

A department's data officer writes one file (docs/frontproc.md documents every field); nothing else is
needed to share a table. Every mistake is reported at once, each with the file and the line it is on
(YAML node marks), and the process stops before it serves anything: a resource declared twice, an unknown
key kind, a missing field. Mistakes only the database can see (an unknown column, SQL that does not
parse) are found by services' first start-up check (frontproc.store.check_resources) and reported the
same way, naming the line of the field at fault.

The ``database.backend`` field leaves room for other databases; ``postgresql`` is the one there is.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from frontproc.access_log import write_problem
from govshare.catalog.v1 import catalog_pb2
from services.catalog.rules import MACHINE_NAME_PATTERN
from services.query.resources import valid_resource_code
from services.runtime.identifiers import credit_code_error
from services.runtime.settings import address_problem
from services.runtime.settings import database_url_problem as _database_url_problem

#: Key kinds a resource may be keyed by: the platform validates and normalises keys by the same rules.
KEY_KINDS = {
    "citizen_id": catalog_pb2.IDENTIFIER_KIND_CITIZEN_ID,
    "credit_code": catalog_pb2.IDENTIFIER_KIND_CREDIT_CODE,
    "region_code": catalog_pb2.IDENTIFIER_KIND_REGION_CODE,
    "text": catalog_pb2.IDENTIFIER_KIND_TEXT,
}
BACKENDS = ("postgresql",)
#: The zone a department database's times without a zone are in, unless ``database.time_zone`` says otherwise:
#: a Chinese department's ``timestamp`` and ``date`` columns hold Beijing time.
DEFAULT_TIME_ZONE = "Asia/Shanghai"
DATASET_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")
#: One part of a name as the database has it: the 前置机 always writes names within double quotes, in which
#: PostgreSQL takes any character but the quote itself (a Chinese column name, 身份证号; "Ming Cheng"); '.' separates
#: a table's schema, and a control character is no one's name.
NAME_PART = re.compile(r'[^".\x00-\x1f\x7f]+')
#: PostgreSQL's longest name (NAMEDATALEN - 1), in bytes: a longer one is cut, and names another column.
NAME_BYTES = 63
#: An item's machine name as the catalog has it (lower_snake_case: services.catalog.rules.MACHINE_NAME_PATTERN):
#: an item the 前置机 names otherwise (householdSize, Name) is one no catalog entry can list, and was found only
#: when submit-entry said the entry's household_size was not mapped.
ITEM_PATTERN = MACHINE_NAME_PATTERN
_CAMEL_HUMP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")



#: What a Chinese input method types where YAML needs ASCII: a data officer's dept.yaml said only "not valid YAML
#: (could not find expected ':')", on the line after, or "unknown field '\u3000\u3000name'".
_FULL_WIDTH = {"\uff1a": "a full-width colon (：) where YAML needs ':' and a space",
               "\u3000": "a full-width space (U+3000) where YAML needs ASCII spaces"}


def _full_width_hint(text: str, line: int) -> str:
    """Where the lines around a YAML error (``line``, and the one before: YAML marks the line after a key it could
    not read) were typed in full-width forms: a colon in a key (before any ASCII ':', so not one in a value) or a
    space in the indentation; "" when neither was."""
    lines = text.splitlines()
    for number in (line - 1, line):
        if not 1 <= number <= len(lines):
            continue
        content = lines[number - 1]
        key = content.split(":", 1)[0]
        typed = [what for char, what in _FULL_WIDTH.items()
                 if char in (key if char == "\uff1a" else content[:len(content) - len(content.lstrip())])]
        if typed:
            return f"; line {number} holds {' and '.join(typed)}: retype it in ASCII"
    return ""


class ConfigError(Exception):
    """The configuration cannot be served; the message lists every problem, each with its line."""


@dataclass(frozen=True)
class Located:
    """A value and the line it was written on (1-based), for messages."""

    value: str
    line: int


@dataclass(frozen=True)
class ResourceConfig:
    """One dataset the 前置机 serves: where its records are and how items map onto columns."""

    dataset: str
    line: int
    key_item: str
    key_kind: int
    key_kind_name: str
    #: ``table`` (a table or view, with ``key_column``) or ``query`` (SQL with $1 for the key).
    table: Located | None
    key_column: Located | None
    query: Located | None
    #: item machine name -> column (as written, with its line).
    items: dict[str, Located]
    #: Column holding the record's as-of time; None: the time of the read.
    as_of_column: Located | None
    #: PostgreSQL NOTIFY channel announcing changed keys (frontproc.watch), and the catalog code it tells of.
    watch_channel: Located | None = None
    resource_code: Located | None = None


@dataclass(frozen=True)
class FrontprocConfig:
    path: str
    department_code: str
    department_name: str
    listen: str
    #: The endpoint as registered in the catalog: the audience the platform's assertions are bound to.
    endpoint: str
    health_listen: str
    metrics_port: int
    metrics_host: str
    tls_cert: str
    tls_key: str
    tls_ca: str
    database_url: str
    backend: str
    #: The zone of the database's times without a zone (IANA name), and the zone times leave in.
    time_zone: str
    #: PEM public keys of the platform's provider-assertion signer.
    platform_public_keys: str
    #: The edge (host:port) to tell the platform about changes through, and this department's system there.
    platform_edge: str
    platform_system_id: str
    platform_secret: str
    access_log: str
    rate_per_second: float
    rate_burst: int
    resources: dict[str, ResourceConfig] = field(default_factory=dict)
    #: The file platform_public_keys came from (public_keys_file), read again when it changes (a key rotation);
    #: empty for keys given inline or in the environment.
    platform_public_keys_file: str = ""
    #: The file platform_secret came from (secret_file), read again at each notice (a rotated secret); empty for
    #: a secret given inline or in the environment.
    platform_secret_file: str = ""
    #: The file database_url came from (url_file), read again when connecting fails (a rotated password); empty
    #: for a URL given inline or in the environment.
    database_url_file: str = ""
    #: Whether the edge is called with TLS (platform.edge_plaintext, or an edge on this machine, says not), and the
    #: PEM CA its certificate is checked against (platform.edge_ca_file; empty: the system's roots).
    platform_edge_tls: bool = False
    platform_edge_ca: str = ""


class _Reader:
    """Walks the YAML node tree, collecting problems with their lines instead of stopping at the first."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[str] = []

    def problem(self, node: Node | int, message: str) -> None:
        line = node if isinstance(node, int) else node.start_mark.line + 1
        self.problems.append(f"{self.path}:{line}: {message}")

    def mapping(self, node: Node | None, where: str) -> dict[str, tuple[Node, Node]]:
        if node is None:
            return {}
        if not isinstance(node, MappingNode):
            self.problem(node, f"{where} must be a mapping of fields")
            return {}
        fields: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            name = key_node.value if isinstance(key_node, ScalarNode) else str(key_node)
            if name in fields:
                self.problem(key_node, f"{where}: field {name!r} is given twice")
            fields[name] = (key_node, value_node)
        return fields

    def unknown(self, fields: dict[str, tuple[Node, Node]], known: tuple[str, ...], where: str) -> None:
        for name, (key_node, _) in fields.items():
            if name not in known:
                typed = [what for char, what in _FULL_WIDTH.items() if char in name]
                hint = f": it holds {' and '.join(typed)}" if typed else ""
                self.problem(key_node, f"{where}: unknown field {name!r} (expected one of {', '.join(known)}){hint}")

    def text(self, fields: dict[str, tuple[Node, Node]], name: str, where: str, required: bool = False,
             default: str = "", parent: Node | None = None) -> Located | None:
        entry = fields.get(name)
        if entry is None:
            if required:
                self.problem(parent.start_mark.line + 1 if parent is not None else 1,
                             f"{where}: {name} is required")
            return Located(default, 0) if default else None
        node = entry[1]
        if not isinstance(node, ScalarNode) or node.value == "":
            self.problem(node, f"{where}.{name} must be a non-empty value")
            return None
        return Located(str(node.value), node.start_mark.line + 1)

    def number(self, fields: dict[str, tuple[Node, Node]], name: str, where: str, default: float, low: float,
               high: float, whole: bool = False) -> float:
        """``whole``: a count (a port, a burst of calls), which 2.5 was silently cut to 2. A value refused is
        ``default``: one out of range (1e400 is infinity, nan no number of any range) was returned all the same,
        and int() of it ended the start in a traceback instead of the problems with their lines."""
        found = self.text(fields, name, where)
        if found is None:
            return default
        try:
            value = float(found.value)
        except ValueError:
            self.problem(found.line, f"{where}.{name} must be a number, got {found.value!r}")
            return default
        if whole and not value.is_integer() and low <= value <= high:
            self.problem(found.line, f"{where}.{name} must be a whole number, got {found.value}")
        if not low <= value <= high:
            self.problem(found.line, f"{where}.{name} must be between {low:g} and {high:g}, got {value:g}")
            return default
        return value


def is_name(value: str, qualified: bool = False) -> bool:
    """Whether ``value`` can be a name in the department database (``schema.name`` when ``qualified``)."""
    parts = value.split(".") if qualified else [value]
    return len(parts) <= 2 and all(NAME_PART.fullmatch(part) is not None and len(part.encode()) <= NAME_BYTES
                                   for part in parts)


def _address(reader: _Reader, value: Located | None, name: str) -> None:
    if value is None:
        return
    problem = address_problem(value.value)
    if problem:
        reader.problem(value.line, f"{name}: {problem}")
    elif (host := value.value.rpartition(":")[0]) and (problem := _host_problem(host)):
        # "a..b:7100" passed, and listen or health_listen ended the start in a UnicodeError traceback.
        reader.problem(value.line, f"{name}: {problem}")


def _callable_endpoint(reader: _Reader, value: Located | None, name: str) -> None:
    """The endpoint (``listen`` when no ``endpoint`` is given) must be an address the platform can call.

    ``listen: 0.0.0.0:7100``, as the docs suggest to be reached from another machine, without ``endpoint`` bound
    the platform's assertions to 0.0.0.0:7100, no address any catalog entry can name for the platform to call:
    every call was refused (the assertions being for the registered target), or, the entry "corrected" to
    0.0.0.0:7100 as submit-entry offered, the platform called its own machine."""
    if value is None or address_problem(value.value) is not None:
        return
    host = value.value.rpartition(":")[0].strip("[]")
    try:
        unspecified = ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return  # a host name
    if unspecified:
        what = "endpoint" if name == "endpoint" else "listen (the endpoint, as no endpoint is given)"
        reader.problem(value.line, f"{what}: {value.value} is every address of this machine, not one the platform "
                                   "can call: set endpoint to the address the catalog entry registers, as the "
                                   "platform reaches this machine (e.g. endpoint: fqj.example.gov.cn:"
                                   f"{value.value.rpartition(':')[2]})")


def _port(value: Located | None) -> int:
    """The port of a valid ``host:port`` (0 for none given, or one the check refuses)."""
    if value is None or address_problem(value.value) is not None:
        return 0
    return int(value.value.rpartition(":")[2])


def _ports_of_their_own(reader: _Reader, listen: Located | None, health_listen: Located | None,
                        metrics: tuple[int, int]) -> None:
    """``health_listen`` and ``metrics_port`` (``metrics``: the port and its line) on a port of their own.

    gRPC binds ``listen`` and ``health_listen`` with SO_REUSEPORT: given one port, both bound, the check said the
    file was valid and the kernel shared the port's connections between the two servers, a share of the
    platform's calls meeting the one that serves only health (UNIMPLEMENTED, the platform resting the endpoint),
    with nothing said anywhere. The platform's own services refuse it (GOVSHARE_HEALTH_LISTEN). A metrics_port on
    either port stopped the start saying the port was in use by "a 前置机 still running?": it was this one's own."""
    served = _port(listen or Located("127.0.0.1:7100", 0))
    health = _port(health_listen)
    if health_listen is not None and health and health == served:
        reader.problem(health_listen.line, f"health_listen: give it a port of its own, not listen's ({served}): "
                                           "both would take the port's calls, and the health-only listener answers "
                                           "the platform's calls UNIMPLEMENTED")
    port, line = metrics
    if port and port in (served, health):
        field = "listen" if port == served else "health_listen"
        reader.problem(line, f"metrics_port: give it a port of its own, not {field}'s ({port})")


def _host_problem(host: str) -> str | None:
    """Why ``host`` is no host /metrics can listen on, or None (whether it is this machine's is said at bind).

    A name that is no host name (an empty label, "a..b") passed the check and ended the start in a UnicodeError
    traceback from the bind; a host written with its port ("127.0.0.1:9100") was looked up as a name."""
    try:
        ipaddress.ip_address(host.strip("[]"))
        return None
    except ValueError:
        pass
    if ":" in host:
        return f"{host!r} is a host and a port: give the host alone (the port is metrics_port)"
    try:
        host.encode("idna")
    except UnicodeError:
        return f"{host!r} is not a host name or IP address"
    return None


def _zone(reader: _Reader, value: Located | None) -> None:
    if value is None:
        return
    try:
        ZoneInfo(value.value)
    except (ZoneInfoNotFoundError, ValueError):
        reader.problem(value.line, f"database.time_zone must be a time zone name such as {DEFAULT_TIME_ZONE}, "
                                   f"got {value.value!r}")


def _not_utf8(exc: UnicodeDecodeError) -> str:
    """Why a file is not read: a data officer's editor may save it in GBK, or a key may come as DER."""
    return f"is not UTF-8 text (byte {exc.start}): save it as UTF-8"


def _tls_problems(cert: str, key: str, ca: str) -> list[tuple[str, str]]:
    """What is wrong with the contents of the mTLS files: (field, problem) pairs.

    gRPC reads them only when the server binds, and refuses them there as "Failed to bind to address …" (a
    traceback, under C-core lines about an invalid private key): the 前置机 passed --check and then stopped at
    start as if its port were taken, for a key that is not the certificate's, a file given in the wrong field,
    or a CA file that holds no certificate.
    """
    problems: list[tuple[str, str]] = []
    certificate = public = None
    try:
        certificate = x509.load_pem_x509_certificates(Path(cert).read_bytes())[0]
    except ValueError:
        problems.append(("cert", f"{cert} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"))
    try:
        public = serialization.load_pem_private_key(Path(key).read_bytes(), password=None).public_key()
    except TypeError:
        problems.append(("key", f"{key} is encrypted with a passphrase: give the key unencrypted (mode 0600)"))
    except (ValueError, UnsupportedAlgorithm):
        problems.append(("key", f"{key} holds no PEM private key (-----BEGIN PRIVATE KEY-----)"))
    if certificate is not None and (problem := _validity_problem(cert, certificate)):
        problems.append(("cert", problem))
    if certificate is not None and public is not None and _public_bytes(certificate.public_key()) != \
            _public_bytes(public):
        problems.append(("key", f"{key} is not the private key of the certificate {cert}: give the key it was "
                                "issued for"))
    try:
        x509.load_pem_x509_certificates(Path(ca).read_bytes())
    except ValueError:
        problems.append(("ca", f"{ca} holds no PEM certificate: give the certificate of the platform's CA"))
    return problems


def _validity_problem(path: str, certificate: x509.Certificate) -> str | None:
    """Why the certificate cannot be served today: expired, or not valid yet. The 前置机 started with it all the
    same, said it was serving, and every platform call failed its handshake: the platform saw a department that
    does not answer, the 前置机's own log said nothing."""
    now = dt.datetime.now(dt.UTC)
    beijing = ZoneInfo(DEFAULT_TIME_ZONE)
    if certificate.not_valid_after_utc < now:
        until = certificate.not_valid_after_utc.astimezone(beijing).strftime("%Y-%m-%d %H:%M")
        return (f"{path} expired on {until} Beijing time: the platform refuses it; renew it (the platform's CA "
                "issues it) and give the renewed files")
    if certificate.not_valid_before_utc > now:
        since = certificate.not_valid_before_utc.astimezone(beijing).strftime("%Y-%m-%d %H:%M")
        return f"{path} is not valid before {since} Beijing time: is this machine's clock right (NTP)?"
    return None


def _public_bytes(key: object) -> bytes:
    return key.public_bytes(serialization.Encoding.DER,  # type: ignore[attr-defined]
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def _unusable_name(name: str) -> str:
    """What is wrong with a file name the system refuses outright (a NUL character: open() raises ValueError)."""
    return f"{name!r} is not a usable file name (it holds a NUL character)"


def _url_field(database: dict[str, tuple[Node, Node]], base: Path) -> tuple[int, str]:
    """The line of the field the database URL came from, and how to name it in a refusal of the URL.

    A URL refused was said to be the ``database`` line's ("dept.yaml:5: database: expected a postgresql:// URL"):
    with a url_file or url_env, the officer looked at dept.yaml for a URL that is in another file, or in the
    environment. The field's own line is named, and where the URL is when it is not written there."""
    return _given_field(database, base, "database", "url", "the URL")


def _keys_field(platform: dict[str, tuple[Node, Node]], base: Path) -> tuple[int, str]:
    """The line of the field the platform's public keys came from, and how to name it in a refusal of them.

    Keys refused (a garbled file, the private key handed over) were said on the ``platform`` line as
    "platform.public_keys", a field the officer who wrote ``public_keys_file: platform.pem`` had not written, and
    without the file they were read from."""
    line, field = _given_field(platform, base, "platform", "public_keys", "the keys")
    return line, field if line else "platform.public_keys"


def _given_field(fields: dict[str, tuple[Node, Node]], base: Path, section: str, name: str,
                 what: str) -> tuple[int, str]:
    """The line of whichever of ``name``, ``name_file`` and ``name_env`` is given, and how to name it (with the
    file or the variable ``what`` is in); (0, ``section``) when none is."""
    for given in (name, f"{name}_file", f"{name}_env"):
        if given in fields:
            node = fields[given][1]
            value = str(node.value) if isinstance(node, ScalarNode) else ""
            where = {name: "", f"{name}_file": f" ({what} in {base / value})",
                     f"{name}_env": f" ({what} in the environment variable {value})"}[given]
            return node.start_mark.line + 1, f"{section}.{given}{where}"
    return 0, section


def _one_source(reader: _Reader, fields: dict, name: str, where: str) -> None:
    """Refuses ``name`` given in more than one of its forms (inline, ``name_file``, ``name_env``), on the lines of all
    but the one that was used.

    The inline value was used and the others ignored without a word: an officer who moved the database password
    to ``url_env`` (or a mounted ``url_file``) and left the old ``url`` line kept connecting with the password
    written in dept.yaml, rotated the variable's or the file's, and was refused by the database at the next
    connection, nothing having said the new one was never read (a ``url_file`` so shadowed is not read again
    either)."""
    given = [form for form in (name, f"{name}_file", f"{name}_env") if form in fields]
    for other in given[1:]:
        reader.problem(fields[other][0], f"{where}.{other}: {where}.{given[0]} is given too (line "
                                         f"{fields[given[0]][0].start_mark.line + 1}), and only it would be read: "
                                         f"give one of {name}, {name}_file and {name}_env")


def _file_or_value(reader: _Reader, base: Path, fields: dict, name: str, where: str) -> str:
    """``name`` given inline, or ``name_file`` (relative to the configuration file), or ``name_env``; given in
    two of these forms, refused (_one_source)."""
    _one_source(reader, fields, name, where)
    inline = reader.text(fields, name, where)
    if inline is not None:
        return inline.value
    from_file = reader.text(fields, f"{name}_file", where)
    if from_file is not None:
        path = Path(_beside(base, from_file.value))
        try:
            # utf-8-sig: a file saved by Windows Notepad as UTF-8 starts with a byte order mark, which is not part
            # of the URL, key or secret (a secret read with it was "wrong" at the platform, the check saying
            # nothing; a URL read with it was "expected a postgresql:// URL").
            return path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            reader.problem(from_file.line, f"{where}.{name}_file: cannot read {path} ({exc.strerror})")
        except ValueError as exc:
            if not isinstance(exc, UnicodeDecodeError):
                reader.problem(from_file.line, f"{where}.{name}_file: {_unusable_name(from_file.value)}")
                return ""
            why = ("is not a PEM file: give the key as PEM text (-----BEGIN PUBLIC KEY-----), not DER"
                   if name == "public_keys" else _not_utf8(exc))
            reader.problem(from_file.line, f"{where}.{name}_file: {path} {why}")
        return ""
    from_env = reader.text(fields, f"{name}_env", where)
    if from_env is not None:
        value = os.environ.get(from_env.value, "")
        if not value:
            reader.problem(from_env.line, f"{where}.{name}_env: the environment variable {from_env.value} is not set")
        return value
    return ""


#: What a name may be, said with the refusal of one that cannot.
_AS_NAMED = f" (as the database names it, at most {NAME_BYTES} bytes, without \" or '.')"


def _resource(reader: _Reader, node: Node, index: int) -> ResourceConfig | None:
    where = f"resources[{index}]"
    fields = reader.mapping(node, where)
    reader.unknown(fields, ("dataset", "key", "table", "key_column", "query", "items", "as_of_column",
                            "watch_channel", "resource_code"), where)
    dataset = reader.text(fields, "dataset", where, required=True, parent=node)
    if dataset is not None and DATASET_PATTERN.fullmatch(dataset.value) is None:
        reader.problem(dataset.line, f"{where}.dataset must be letters, digits, '_', '.' or '-' (at most 64)")
    key_fields = reader.mapping(fields["key"][1], f"{where}.key") if "key" in fields else {}
    if "key" not in fields:
        reader.problem(node, f"{where}: key is required (item and kind)")
    else:
        reader.unknown(key_fields, ("item", "kind"), f"{where}.key")
    key_item = reader.text(key_fields, "item", f"{where}.key", required="key" in fields,
                           parent=fields["key"][1] if "key" in fields else None)
    kind = reader.text(key_fields, "kind", f"{where}.key", required="key" in fields,
                       parent=fields["key"][1] if "key" in fields else None)
    if kind is not None and kind.value not in KEY_KINDS:
        reader.problem(kind.line, f"{where}.key.kind must be one of {', '.join(KEY_KINDS)}, got {kind.value!r}")
    table = reader.text(fields, "table", where)
    key_column = reader.text(fields, "key_column", where)
    query = reader.text(fields, "query", where)
    if (table is None) == (query is None):
        reader.problem(node, f"{where}: give either table (a table or view, with key_column) or query (SQL with "
                             "$1 for the key)")
    if table is not None:
        if not is_name(table.value, qualified=True):
            reader.problem(table.line, f"{where}.table must be a table or view name (schema.name allowed){_AS_NAMED}")
        if key_column is None:
            reader.problem(table.line, f"{where}: key_column is required with table")
    if key_column is not None and not is_name(key_column.value):
        reader.problem(key_column.line, f"{where}.key_column must be a column name{_AS_NAMED}")
    if query is not None and "$1" not in query.value:
        reader.problem(query.line, f"{where}.query must use $1 for the key")
    items: dict[str, Located] = {}
    if "items" not in fields:
        reader.problem(node, f"{where}: items is required (item machine name: column)")
    else:
        listed = reader.mapping(fields["items"][1], f"{where}.items")
        if not listed and isinstance(fields["items"][1], MappingNode):
            key_named = f" (the key item {key_item.value} among them)" if key_item is not None else ""
            reader.problem(fields["items"][1], f"{where}.items must map at least one item to its column{key_named}")
        for name, (key_node, value_node) in listed.items():
            if ITEM_PATTERN.fullmatch(name) is None:
                reader.problem(key_node, f"{where}.items: {name!r} is not an item machine name{_meant_item(name)}")
            if not isinstance(value_node, ScalarNode) or not is_name(value_node.value):
                reader.problem(value_node, f"{where}.items.{name} must be a column name{_AS_NAMED}")
                continue
            items[name] = Located(value_node.value, value_node.start_mark.line + 1)
        # Judged against the items listed, not those whose column was valid: a key item whose column is refused
        # above is not also "not one of the items", and one with no valid column to compare ended in a KeyError.
        if key_item is not None and listed and key_item.value not in listed:
            reader.problem(key_item.line, f"{where}.key.item {key_item.value!r} is not one of the items")
        elif (key_item is not None and table is not None and key_column is not None and key_item.value in items
              and items[key_item.value].value != key_column.value):
            # A record is looked up by key_column and answered under its key item's value, which the platform
            # matches it by: mapped to another column, a batch's records matched no key (every one absent).
            mapped = items[key_item.value]
            reader.problem(mapped.line, f"{where}.items.{key_item.value} maps the key item to column "
                                        f"{mapped.value!r}, but key_column is {key_column.value!r}: map it to "
                                        f"{key_column.value}")
    as_of = reader.text(fields, "as_of_column", where)
    if as_of is not None and not is_name(as_of.value):
        reader.problem(as_of.line, f"{where}.as_of_column must be a column name{_AS_NAMED}")
    watch = reader.text(fields, "watch_channel", where)
    code = reader.text(fields, "resource_code", where)
    if watch is not None and not is_name(watch.value):
        reader.problem(watch.line, f"{where}.watch_channel must be a PostgreSQL channel name")
    if watch is not None and code is None:
        reader.problem(watch.line, f"{where}: watch_channel needs resource_code (the catalog code to tell of)")
    if code is not None and watch is None:  # it is read only to tell of changes: alone it did nothing, silently
        reader.problem(code.line, f"{where}: resource_code is the code the 前置机 tells the platform of when "
                                  "watch_channel announces a change: give watch_channel too, or remove resource_code")
    if code is not None and not valid_resource_code(code.value):
        reader.problem(code.line, f"{where}.resource_code must be a catalog resource code such as 202001/000001")
    if dataset is None or key_item is None or kind is None or kind.value not in KEY_KINDS:
        return None
    return ResourceConfig(dataset=dataset.value, line=dataset.line, key_item=key_item.value,
                          key_kind=KEY_KINDS[kind.value], key_kind_name=kind.value, table=table,
                          key_column=key_column, query=query, items=items, as_of_column=as_of, watch_channel=watch,
                          resource_code=code)


TOP_FIELDS = ("department", "listen", "endpoint", "health_listen", "metrics_port", "metrics_host", "tls",
              "database", "platform", "access_log", "rate_limit", "resources")



def _meant_item(name: str) -> str:
    """What an item name the catalog cannot have should be: its machine names are lower_snake_case, the name a
    catalog entry lists (householdSize, HouseholdSize and household-size are household_size)."""
    meant = "_".join(part for part in re.split(r"[^a-z0-9]+", _CAMEL_HUMP.sub("_", name).lower()) if part)
    suggestion = f": {meant}?" if ITEM_PATTERN.fullmatch(meant) else ""
    return f" (the catalog's are lower_snake_case: a-z, 0-9 and single underscores, starting with a letter){suggestion}"

def parse(text: str, path: str = "<config>") -> FrontprocConfig:
    """The configuration in ``text``; ConfigError listing every problem with its line."""
    reader = _Reader(path)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise ConfigError(f"{path}:{line}: not valid YAML ({getattr(exc, 'problem', None) or exc})"
                          f"{_full_width_hint(text, line)}") from None
    if root is None:
        raise ConfigError(f"{path}:1: the configuration is empty")
    top = reader.mapping(root, "configuration")
    reader.unknown(top, TOP_FIELDS, "configuration")
    base = _directory_of(path) if path != "<config>" else Path.cwd()

    department = reader.mapping(top["department"][1], "department") if "department" in top else {}
    if "department" not in top:
        reader.problem(root, "department is required (code and name)")
    reader.unknown(department, ("code", "name"), "department")
    code = reader.text(department, "code", "department", required="department" in top,
                       parent=top["department"][1] if "department" in top else None)
    if code is not None:
        problem = credit_code_error(code.value.strip().upper())
        if problem is not None:
            reader.problem(code.line, f"department.code: {problem}")
    name = reader.text(department, "name", "department")

    listen = reader.text(top, "listen", "configuration", default="127.0.0.1:7100")
    _address(reader, listen, "listen")
    endpoint = reader.text(top, "endpoint", "configuration")
    _address(reader, endpoint, "endpoint")
    _callable_endpoint(reader, endpoint or listen, "endpoint" if endpoint else "listen")
    health_listen = reader.text(top, "health_listen", "configuration")
    _address(reader, health_listen, "health_listen")
    metrics_port = int(reader.number(top, "metrics_port", "configuration", 0, 0, 65535, whole=True))
    _ports_of_their_own(reader, listen, health_listen,
                        (metrics_port, top["metrics_port"][1].start_mark.line + 1 if "metrics_port" in top else 0))
    metrics_host = reader.text(top, "metrics_host", "configuration")
    if metrics_host is not None and not metrics_port and "metrics_port" not in top:
        # Read only with a port: alone it served nothing, silently, to an ops person expecting /metrics there.
        reader.problem(metrics_host.line, "metrics_host: /metrics is served only with metrics_port: give it too "
                                          "(e.g. metrics_port: 9100), or remove metrics_host")
    elif metrics_host is not None and (problem := _host_problem(metrics_host.value)):
        reader.problem(metrics_host.line, f"metrics_host: {problem}")

    tls = reader.mapping(top["tls"][1], "tls") if "tls" in top else {}
    reader.unknown(tls, ("cert", "key", "ca"), "tls")
    tls_parts = [reader.text(tls, part, "tls") for part in ("cert", "key", "ca")]
    if any(tls_parts) and not all(tls_parts):
        reader.problem(top["tls"][0], "tls: cert, key and ca go together")
    tls_files = [str(base / part.value) if part else "" for part in tls_parts]
    for which, part, file in zip(("cert", "key", "ca"), tls_parts, tls_files, strict=True):
        if part is not None and not os.path.isfile(file):
            reader.problem(part.line, f"tls.{which}: no such file {file}")
    if all(tls_parts) and all(os.path.isfile(file) for file in tls_files):
        lines = dict(zip(("cert", "key", "ca"), (part.line for part in tls_parts if part), strict=True))
        for which, problem in _tls_problems(*tls_files):
            reader.problem(lines[which], f"tls.{which}: {problem}")

    database = reader.mapping(top["database"][1], "database") if "database" in top else {}
    if "database" not in top:
        reader.problem(root, "database is required (url, url_file or url_env)")
    reader.unknown(database, ("backend", "url", "url_file", "url_env", "time_zone"), "database")
    backend = reader.text(database, "backend", "database", default="postgresql")
    if backend is not None and backend.value not in BACKENDS:
        reader.problem(backend.line, f"database.backend must be one of {', '.join(BACKENDS)}, got {backend.value!r}")
    known = len(reader.problems)
    database_url = _file_or_value(reader, base, database, "url", "database")
    # A file or variable that cannot be read is reported as such; "give url…" would say it was not given.
    if "database" in top and not database_url and len(reader.problems) == known:
        reader.problem(top["database"][0], "database: give url, url_file or url_env")
    elif database_url and (problem := _database_url_problem(database_url.strip())):
        line, field = _url_field(database, base)
        reader.problem(line or top["database"][0], f"{field}: {problem}")
    url_file = reader.text(database, "url_file", "database") if "url" not in database else None
    time_zone = reader.text(database, "time_zone", "database", default=DEFAULT_TIME_ZONE)
    _zone(reader, time_zone)

    platform = reader.mapping(top["platform"][1], "platform") if "platform" in top else {}
    if "platform" not in top:
        reader.problem(root, "platform is required (public_keys_file: the platform's provider keys)")
    reader.unknown(platform, ("public_keys", "public_keys_file", "public_keys_env", "edge", "edge_ca_file",
                              "edge_plaintext", "system_id", "secret", "secret_file", "secret_env"), "platform")
    known = len(reader.problems)
    public_keys = _file_or_value(reader, base, platform, "public_keys", "platform")
    keys_file = reader.text(platform, "public_keys_file", "platform") if "public_keys" not in platform else None
    if "platform" in top and len(reader.problems) == known:
        if not public_keys:
            reader.problem(top["platform"][0], "platform: give public_keys, public_keys_file or public_keys_env "
                                               "(the platform's provider-assertion keys)")
        else:
            from services.runtime.keys import ed25519_public_keys

            try:
                ed25519_public_keys(public_keys)
            except ValueError as exc:
                line, field = _keys_field(platform, base)
                reader.problem(line or top["platform"][0], f"{field}: {exc}")
    edge = reader.text(platform, "edge", "platform")
    _address(reader, edge, "platform.edge")
    edge_tls, edge_ca = _edge_tls(reader, base, platform, edge)
    system_id = reader.text(platform, "system_id", "platform")
    secret = _file_or_value(reader, base, platform, "secret", "platform")
    secret_file = reader.text(platform, "secret_file", "platform") if "secret" not in platform else None

    access_log = reader.text(top, "access_log", "configuration", default="frontproc-access.jsonl")
    if access_log is not None and "\0" in access_log.value:
        reader.problem(access_log.line, f"access_log: {_unusable_name(access_log.value)}")
    elif access_log is not None and (problem := write_problem(str(base / access_log.value))):
        reader.problem(max(access_log.line, 1), f"access_log: {problem}")
    limits = reader.mapping(top["rate_limit"][1], "rate_limit") if "rate_limit" in top else {}
    reader.unknown(limits, ("per_second", "burst"), "rate_limit")
    per_second = reader.number(limits, "per_second", "rate_limit", 200.0, 0.001, 1e6)
    burst = int(reader.number(limits, "burst", "rate_limit", max(per_second * 2, 1), 1, 1e7, whole=True))

    resources: dict[str, ResourceConfig] = {}
    if "resources" not in top:
        reader.problem(root, "resources is required: at least one dataset to serve")
    elif not isinstance(top["resources"][1], SequenceNode) or not top["resources"][1].value:
        reader.problem(top["resources"][1], "resources must be a list of at least one dataset")
    else:
        for index, node in enumerate(top["resources"][1].value):
            resource = _resource(reader, node, index)
            if resource is None:
                continue
            if resource.dataset in resources:
                reader.problem(resource.line, f"resources[{index}]: dataset {resource.dataset!r} is declared "
                                              f"twice (first on line {resources[resource.dataset].line})")
                continue
            resources[resource.dataset] = resource
    watched = [resource for resource in resources.values() if resource.watch_channel is not None]
    if watched and not (edge and system_id and secret):
        reader.problem(watched[0].watch_channel.line,  # type: ignore[union-attr]
                       "watch_channel: the platform is told through platform.edge as platform.system_id (with its "
                       "secret): give them")
    if reader.problems:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(reader.problems))
    listen_value = listen.value if listen is not None else "127.0.0.1:7100"
    return FrontprocConfig(
        path=path, department_code=code.value.strip().upper() if code else "", department_name=name.value if name
        else "", listen=listen_value, endpoint=endpoint.value if endpoint else listen_value,
        health_listen=health_listen.value if health_listen else "", metrics_port=metrics_port,
        metrics_host=metrics_host.value if metrics_host else "",
        tls_cert=tls_files[0], tls_key=tls_files[1], tls_ca=tls_files[2], database_url=database_url.strip(),
        backend=backend.value if backend else "postgresql",
        time_zone=time_zone.value if time_zone else DEFAULT_TIME_ZONE, platform_public_keys=public_keys,
        platform_edge=edge.value if edge else "", platform_system_id=system_id.value if system_id else "",
        platform_secret=secret.strip(), access_log=str(base / access_log.value) if access_log else "",
        rate_per_second=per_second, rate_burst=burst, resources=resources,
        platform_public_keys_file=_beside(base, keys_file.value) if keys_file else "",
        platform_secret_file=_beside(base, secret_file.value) if secret_file else "",
        database_url_file=_beside(base, url_file.value) if url_file else "", platform_edge_tls=edge_tls,
        platform_edge_ca=edge_ca)


def _directory_of(path: str) -> Path:
    """The directory the configuration file is named in, which its relative file names are relative to: the
    directory of ``path`` as given, its links kept, not the directory a link leads to.

    Kubernetes mounts a ConfigMap or a Secret (docs/deploy.md: dept.yaml, platform.pem, database.url,
    system.secret) as links into a dated directory (dept.yaml -> ..data/dept.yaml, ..data -> ..2026_12_05_…) and
    replaces that directory whole when the ConfigMap or Secret changes, deleting the old one. Resolved, every file
    the 前置机 reads again in service was watched in the dated directory of its start: a platform key added for a
    rotation, a rotated secret or database password were never read (the file gone, "cannot be used"), and once
    the platform switched keys every call was refused until a restart."""
    return Path(os.path.abspath(path)).parent


def _beside(base: Path, name: str) -> str:
    """A file name of the configuration as an absolute path, its links kept (read through them each time, so a
    replaced link target is the file read: see _directory_of)."""
    return os.path.abspath(base / name)


def _on_this_machine(host: str) -> bool:
    """Whether ``host`` (of host:port) is a loopback address or name: a call to it crosses no network."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _edge_tls(reader: _Reader, base: Path, platform: dict[str, tuple[Node, Node]],
              edge: Located | None) -> tuple[bool, str]:
    """Whether the edge is called with TLS, and the CA file its certificate is checked against ("" for the
    system's roots).

    The 前置机 called the edge in plaintext, always: a deployed edge listens with TLS (the chart's mTLS, on by
    default, and any Ingress), so every change notice and submit-entry failed its handshake, said as a platform
    that "did not answer"; and an edge reached in plaintext across the network got the system's secret, and the
    token issued for it, in clear. TLS is the default now; plaintext only for an edge on this machine (``govshare
    up``'s) or when ``edge_plaintext: true`` says so."""
    ca = reader.text(platform, "edge_ca_file", "platform")
    plain = reader.text(platform, "edge_plaintext", "platform")
    if plain is not None and plain.value.lower() not in ("true", "false"):
        reader.problem(plain.line, f"platform.edge_plaintext must be true or false, got {plain.value!r}")
        return False, ""
    if plain is not None and plain.value.lower() == "true":
        if ca is not None:
            reader.problem(ca.line, "platform.edge_ca_file: the edge is called in plaintext (edge_plaintext: true), "
                                    "with no certificate to check: give one or the other")
        return False, ""
    ca_file = ""
    if ca is not None:
        ca_file = _beside(base, ca.value)
        try:
            x509.load_pem_x509_certificates(Path(ca_file).read_bytes())
        except OSError as exc:
            reader.problem(ca.line, f"platform.edge_ca_file: cannot read {ca_file} ({exc.strerror})")
        except ValueError:
            reader.problem(ca.line, f"platform.edge_ca_file: {ca_file} holds no PEM certificate: give the certificate "
                                    "of the CA that issued the edge's (the platform's operator has it)")
    if edge is None or ca is not None or plain is not None:
        return True, ca_file
    return not _on_this_machine(edge.value.rpartition(":")[0]), ""


def database_url_now(config: FrontprocConfig) -> str | None:
    """The URL database.url_file holds now, or None: no url_file, or one that cannot be read or holds no
    postgresql:// URL (a file being rewritten, say), which leaves the URL in use as it is.

    The file (a mounted Secret, often) was read once, at start: after the department's DBA rotated the account's
    password and wrote the new URL there, every connection the 前置机 opened (its pool replacing one, the watch
    connection coming back after the database restarted) was refused until someone restarted it."""
    if not config.database_url_file:
        return None
    try:
        url = Path(config.database_url_file).read_text(encoding="utf-8-sig").strip()
    except (OSError, ValueError):
        return None
    return url if url and _database_url_problem(url) is None else None


def load(path: str) -> FrontprocConfig:
    """The configuration in the file ``path``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: the configuration {_not_utf8(exc)}") from None
    return parse(text, path)
