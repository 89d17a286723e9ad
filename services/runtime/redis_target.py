"""Where Redis is: one URL (GOVSHARE_REDIS_URL) or a primary found through Redis Sentinel.

With ``GOVSHARE_REDIS_SENTINELS`` (host:port, comma-separated) and ``GOVSHARE_REDIS_SENTINEL_MASTER`` the
settings turn the Redis URL into a ``redis+sentinel://`` URL (:func:`sentinel_url`) holding the sentinels, the
master's name and the credentials and database of GOVSHARE_REDIS_URL, so that every piece that connects from
``settings.redis_url`` (redis-py clients through services.runtime.cache.create_client, the event subscribers,
the query service's pipelined reader) follows the same primary from one configuration, and none needs to
know which kind of deployment it runs in. The sentinels themselves are reached without a password.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, unquote, urlsplit

SCHEME = "redis+sentinel"
SENTINEL_PORT = 26379


@dataclass(frozen=True)
class SentinelTarget:
    """The sentinels to ask, the monitored master's name, and what to authenticate and select on it."""

    sentinels: tuple[tuple[str, int], ...]
    master: str
    username: str | None = None
    password: str | None = None
    db: int = 0


def parse_addresses(raw: str) -> tuple[list[tuple[str, int]], list[str]]:
    """``host:port,host:port`` (port defaults to 26379) as addresses, and what is wrong with the text."""
    addresses: list[tuple[str, int]] = []
    problems: list[str] = []
    for part in filter(None, (p.strip() for p in raw.split(","))):
        host, sep, port = part.rpartition(":")
        if not sep:
            host, port = part, str(SENTINEL_PORT)
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            problems.append(f"{part!r} is not host:port")
            continue
        addresses.append((host.strip("[]"), int(port)))
    if not addresses and not problems:
        problems.append("names no sentinel")
    return addresses, problems


def sentinel_url(sentinels: Sequence[tuple[str, int]], master: str, base_url: str = "") -> str:
    """The ``redis+sentinel://[user:password@]host:port,host:port/master?db=N`` URL: the sentinels, the master's
    name, and the credentials and database of ``base_url`` (a redis:// URL, or empty)."""
    base = urlsplit(base_url) if base_url else None
    credentials = ""
    if base is not None and base.password:
        user = quote(unquote(base.username or ""), safe="")
        credentials = f"{user}:{quote(unquote(base.password), safe='')}@"
    db = 0
    if base is not None:
        path = base.path.strip("/")
        db = int(path) if path.isdigit() else int(parse_qs(base.query).get("db", ["0"])[0] or 0)
    hosts = ",".join(f"{host}:{port}" for host, port in sentinels)
    return f"{SCHEME}://{credentials}{hosts}/{quote(master, safe='')}?db={db}"


def sentinel_target(url: str) -> SentinelTarget | None:
    """The target a :func:`sentinel_url` names; None for any other URL (redis://, rediss://, unix://)."""
    if not url.startswith(f"{SCHEME}://"):
        return None
    rest = url[len(SCHEME) + 3:]
    netloc, _, tail = rest.partition("/")
    path, _, query = tail.partition("?")
    credentials, at, hosts = netloc.rpartition("@")
    username = password = None
    if at:
        user, _, secret = credentials.partition(":")
        username, password = (unquote(user) or None), unquote(secret)
    addresses, problems = parse_addresses(hosts)
    master = unquote(path)
    if problems or not master:
        raise ValueError("not a redis+sentinel URL: expected redis+sentinel://host:port,.../master")
    db = int(parse_qs(query).get("db", ["0"])[0] or 0)
    return SentinelTarget(tuple(addresses), master, username, password, db)
