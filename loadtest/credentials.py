"""The demo credentials a load test calls with (written by `govshare up` on first start)."""

from __future__ import annotations

import os
from pathlib import Path

from services.demo import DemoCredentials

DEFAULT_PATH = Path(".govshare") / "demo-credentials.json"
#: The system load tests call as by default: a user department, not the authority.
DEFAULT_SYSTEM = "social"


class CredentialsError(Exception):
    """The credentials file is missing or does not hold what a load test needs."""


def default_path() -> Path:
    """``$GOVSHARE_DATA_DIR/demo-credentials.json``, else ``.govshare/demo-credentials.json``."""
    data_dir = os.environ.get("GOVSHARE_DATA_DIR", "").strip()  # as the govshare command reads it
    return Path(data_dir) / "demo-credentials.json" if data_dir else DEFAULT_PATH


def load_credentials(path: Path | None = None, system: str = DEFAULT_SYSTEM) -> DemoCredentials:
    """The demo credentials, checked for the system to call as and the seeded population."""
    path = path or default_path()
    if not path.exists():
        raise CredentialsError(f"{path} does not exist: start the platform with `govshare up` first "
                               f"(it writes the file), or pass --credentials")
    try:
        credentials = DemoCredentials.load(path)
    except UnicodeDecodeError as exc:  # before ValueError, which it is
        raise CredentialsError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}): save it as UTF-8, as "
                               f"govshare up writes it") from exc
    except (ValueError, TypeError) as exc:  # not JSON, or not an object of DemoCredentials' fields
        raise CredentialsError(f"{path} is not a demo credentials file: {exc}") from exc
    except OSError as exc:  # a directory, a file this user may not read
        raise CredentialsError(f"{path}: {exc.strerror}: give the demo-credentials.json govshare up wrote") from exc
    problems = _shape_problems(credentials) or _missing(credentials, system)
    if problems:
        raise CredentialsError(f"{path}: " + "; ".join(problems))
    return credentials


def _shape_problems(credentials: DemoCredentials) -> list[str]:
    """Fields of another type than govshare up writes: a file edited by hand (a quoted number, a system given as its
    id alone) ended in an AttributeError or TypeError traceback, not a line naming the field."""
    problems = [f"{name} is not {kind}" for name, value, kind in (
        ("gateway", credentials.gateway, "a HOST:PORT string"),
        ("persons", credentials.persons, "a whole number"),
        ("seed", credentials.seed, "a whole number"),
    ) if not isinstance(value, str if name == "gateway" else int) or isinstance(value, bool)]
    if not isinstance(credentials.systems, dict):
        problems.append("systems is not an object of systems by name")
    else:
        problems += [f"system {name!r} is not an object with system_id and secret"
                     for name, entry in credentials.systems.items() if not isinstance(entry, dict)]
    if not isinstance(credentials.resources, dict):
        problems.append("resources is not an object of resource codes by title")
    return problems


def _missing(credentials: DemoCredentials, system: str) -> list[str]:
    """What a well-formed file lacks for a run as ``system``."""
    problems = []
    if not credentials.gateway:
        problems.append("no gateway address")
    entry = credentials.systems.get(system)
    if entry is None:
        problems.append(f"no system {system!r} (it has {', '.join(sorted(credentials.systems)) or 'none'})")
    elif not (entry.get("system_id") and entry.get("secret")):
        problems.append(f"system {system!r} lacks its id or secret")
    if credentials.persons < 1:
        problems.append("no seeded persons")
    return problems


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    """Call metadata carrying a system token."""
    return (("authorization", f"Bearer {token}"),)
