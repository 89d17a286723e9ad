"""Masking of personal information in query answers (R-SEC-4).

A rule is a pattern ``head,tail`` (keep that many leading and trailing
characters, mask the rest with ``*``), ``division`` (keep the administrative
divisions an address starts with, mask the rest) or ``full``. Catalog items name
their rule; operators can redefine or add rules with ``GOVSHARE_MASK_RULES``
(``name=head,tail;name=division;name=full``) without a code change.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache

from stdnum import numdb

DEFAULT_RULES: dict[str, str] = {
    "citizen_id": "6,4",  # 110105********002X
    "credit_code": "8,4",
    "name": "1,0",  # 张**
    "phone": "3,4",  # 138****1234
    "address": "division",  # 北京市朝阳区********: the divisions, not the street, number or building
    "licence_number": "4,4",
    "full": "full",
}


DIVISION = "division"
#: An address names at most a province, a prefecture and a county before its street.
_DIVISION_LEVELS = 3
_SPAN = re.compile(r"\[[^\]]*\]")
_PROVINCE_SUFFIXES = re.compile(r"(?:省|市|特别行政区|壮族自治区|回族自治区|维吾尔自治区|自治区)$")


@cache
def division_names() -> frozenset[str]:
    """The names of China's administrative divisions, current and former (python-stdnum's table, as the ID
    numbers' birth places), with a province's short form (北京, 新疆) as addresses are often written."""
    names: set[str] = set()
    for _length, _province, _high, props, children in numdb.get("cn/loc").prefixes:
        provinces = {_SPAN.sub("", name) for name in props["province"].split(",")}
        names |= provinces | {_PROVINCE_SUFFIXES.sub("", name) for name in provinces}
        for _clength, _rest, _chigh, child, _ in children:
            if "county" in child:
                names |= {_SPAN.sub("", name) for name in child["county"].split(",")}
    return frozenset(name for name in names if len(name) >= 2)


def division_prefix(address: str) -> int:
    """How many characters of ``address`` are the division names it starts with (北京市朝阳区…: 6), longest
    name first; 0 when it starts with none (a street, a building, a division the table does not know).

    A province's short form (北京, 西藏) is a division only where a province is written, first, and before the
    next division's name (北京朝阳区…): streets are named after provinces in most cities (西藏中路, 北京路,
    吉林大路), and read as divisions they showed the street's name (上海市黄浦区西藏******)."""
    names, short, sizes = division_names(), _short_forms(), _name_sizes()
    position = levels = 0
    starts_short = False
    for level in range(_DIVISION_LEVELS):
        for size in sizes.get(address[position:position + 1], ()):
            name = address[position:position + size]
            if name in names and (level == 0 or name not in short):
                starts_short = starts_short or (level == 0 and name in short)
                position += size
                levels += 1
                break
        else:
            break
    return 0 if starts_short and levels == 1 else position


@cache
def _short_forms() -> frozenset[str]:
    """The provinces' short forms (北京, 新疆) that are no division's full name."""
    full: set[str] = set()
    provinces: set[str] = set()
    for _length, _province, _high, props, children in numdb.get("cn/loc").prefixes:
        provinces |= {_SPAN.sub("", name) for name in props["province"].split(",")}
        for _clength, _rest, _chigh, child, _ in children:
            if "county" in child:
                full |= {_SPAN.sub("", name) for name in child["county"].split(",")}
    full |= provinces
    return frozenset(short for short in (_PROVINCE_SUFFIXES.sub("", name) for name in provinces)
                     if short not in full and len(short) >= 2)


@cache
def _name_sizes() -> dict[str, tuple[int, ...]]:
    """By first character, the lengths of the division names it starts, longest first: at most 8 set lookups a
    level instead of one per possible length (timeit on this machine: ~5× a name's mask, 4× less than before)."""
    sizes: dict[str, set[int]] = {}
    for name in division_names():
        sizes.setdefault(name[0], set()).add(len(name))
    return {first: tuple(sorted(lengths, reverse=True)) for first, lengths in sizes.items()}


class Masker:
    """Applies named rules; unknown names fall back to ``full`` (never leak by a typo)."""

    def __init__(self, overrides: Mapping[str, str] | None = None) -> None:
        self._rules: dict[str, tuple[int, int] | str | None] = {}
        for name, pattern in {**DEFAULT_RULES, **(overrides or {})}.items():
            self._rules[name] = self._parse(name, pattern)

    @staticmethod
    def _parse(name: str, pattern: str) -> tuple[int, int] | str | None:
        if pattern == "full":
            return None
        if pattern == DIVISION:
            return DIVISION
        head, sep, tail = pattern.partition(",")
        if not sep or not head.strip().isdigit() or not tail.strip().isdigit():
            raise ValueError(f"mask rule {name}={pattern!r}: expected 'head,tail', 'division' or 'full'")
        return int(head), int(tail)

    def known(self, name: str) -> bool:
        return name in self._rules

    def mask_head_only(self, value: str, rule: str) -> str:
        """``value`` masked by ``rule`` without the characters the rule keeps at its end: for a value whose hidden part
        the same answer gives away (a 公民身份号码's birth date, services.query.projection.project)."""
        spec = self._rules.get(rule)
        if isinstance(spec, tuple):
            value = value.strip()
            head = min(spec[0], max(len(value) - 1, 0))
            return value[:head] + "*" * (len(value) - head)
        return self.mask(value, rule)

    def mask(self, value: str, rule: str) -> str:
        """``value`` masked by ``rule``; the length is kept so formats stay recognisable.

        The rule applies to the value without the blanks around it: a department database's CHAR(n) column
        sends 王 padded to n characters, and the rule's "first character" of ``王`` plus padding was the whole
        name with the padding masked after it (the blanks carry nothing, so they are dropped).
        """
        value = value.strip()
        if not value:
            return value
        spec = self._rules.get(rule)
        if spec is None:
            return "*" * len(value)
        if spec == DIVISION:
            # Never the whole address: one that is only division names shows none of them.
            kept = division_prefix(value)
            kept = kept if kept < len(value) else 0
            return value[:kept] + "*" * (len(value) - kept)
        head, tail = spec
        if head + tail >= len(value):
            # Too short to show anything safely: keep at most the first character, and only when the rule keeps
            # a head and something is left to hide (a one-character name such as 王 kept its "first character"
            # and went out whole, listed as masked).
            shown = 1 if head and len(value) > 1 else 0
            return value[:shown] + "*" * (len(value) - shown)
        return value[:head] + "*" * (len(value) - head - tail) + (value[len(value) - tail:] if tail else "")
