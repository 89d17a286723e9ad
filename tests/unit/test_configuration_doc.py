"""docs/configuration.md against the code: every GOVSHARE_* variable a process or command reads is documented
there, with the default the code uses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.runtime import settings

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
#: What the platform's processes and the govshare command read (the SDK's variables are in its own README).
READERS = ("services", "gateway", "console", "frontproc")
_NAME = re.compile(r"\bGOVSHARE_[A-Z0-9_]*[A-Z0-9]\b")


#: The list `govshare up` checks its environment against (every name any part reads, the SDK's too, and two misspelt
#: examples): not a place the code reads a setting.
_LISTED = ROOT / "services" / "runtime" / "variables.py"


def _read_by_the_code() -> set[str]:
    names: set[str] = set()
    for package in READERS:
        for path in (ROOT / package).rglob("*.py"):
            if path != _LISTED:
                names.update(_NAME.findall(path.read_text(encoding="utf-8")))
    return names


def _documented_default(name: str) -> str:
    """The default column of the table row naming ``name``: the value for its position in the row's names."""
    for line in DOC.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        names = re.findall(r"`(GOVSHARE_[A-Z0-9_]+)`", cells[0]) if line.startswith("| `") else []
        if name in names:
            defaults = re.findall(r"`([^`]*)`", cells[2])
            return defaults[names.index(name)] if len(defaults) == len(names) else cells[2]
    raise AssertionError(f"{name} has no row in docs/configuration.md")


def test_every_setting_the_code_reads_is_documented() -> None:
    """A variable the code reads that the page does not name is a setting nobody can find (GOVSHARE_SYSTEM_ID and
    GOVSHARE_SYSTEM_SECRET, read by govshare query, were in none of its tables)."""
    missing = sorted(name for name in _read_by_the_code() if name not in DOC)
    assert not missing, f"read by the code, not in docs/configuration.md: {missing}"


@pytest.mark.parametrize("name, attribute", [
    *((name, attribute) for name, (attribute, _, _) in {**settings._INT_FIELDS, **settings._FLOAT_FIELDS}.items()),
])
def test_each_numeric_settings_documented_default_is_the_codes(name: str, attribute: str) -> None:
    default = getattr(settings.Settings(), attribute)
    assert float(_documented_default(name).split()[0]) == float(default), name
