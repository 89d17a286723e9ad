"""Masking of personal information in query answers (R-SEC-4).

A rule is a pattern ``head,tail`` (keep that many leading and trailing
characters, mask the rest with ``*``) or ``full``. Catalog items name their rule;
operators can redefine or add rules with ``GOVSHARE_MASK_RULES``
(``name=head,tail;name=full``) without a code change.
"""

from __future__ import annotations

from collections.abc import Mapping

DEFAULT_RULES: dict[str, str] = {
    "citizen_id": "6,4",  # 110105********002X
    "credit_code": "8,4",
    "name": "1,0",  # 张**
    "phone": "3,4",  # 138****1234
    "address": "6,0",  # keeps the district, hides the street and number
    "licence_number": "4,4",
    "full": "full",
}


class Masker:
    """Applies named rules; unknown names fall back to ``full`` (never leak by a typo)."""

    def __init__(self, overrides: Mapping[str, str] | None = None) -> None:
        self._rules: dict[str, tuple[int, int] | None] = {}
        for name, pattern in {**DEFAULT_RULES, **(overrides or {})}.items():
            self._rules[name] = self._parse(name, pattern)

    @staticmethod
    def _parse(name: str, pattern: str) -> tuple[int, int] | None:
        if pattern == "full":
            return None
        head, sep, tail = pattern.partition(",")
        if not sep or not head.strip().isdigit() or not tail.strip().isdigit():
            raise ValueError(f"mask rule {name}={pattern!r}: expected 'head,tail' or 'full'")
        return int(head), int(tail)

    def known(self, name: str) -> bool:
        return name in self._rules

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
        head, tail = spec
        if head + tail >= len(value):
            # Too short to show anything safely: keep at most the first character, and only when the rule keeps
            # a head and something is left to hide (a one-character name such as 王 kept its "first character"
            # and went out whole, listed as masked).
            shown = 1 if head and len(value) > 1 else 0
            return value[:shown] + "*" * (len(value) - shown)
        return value[:head] + "*" * (len(value) - head - tail) + (value[len(value) - tail:] if tail else "")
