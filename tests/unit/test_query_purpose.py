"""The declared purpose's text (R-USE-1) as the access record keeps it and every listing shows it: one line."""

from __future__ import annotations

import pytest

from services.query.servicer import purpose_text_violations


@pytest.mark.parametrize("text", ["", "窗口受理 2026-001", "低保审核　2026-0001", "依" * 256, "Case #12 (复核)"])
def test_a_purpose_text_of_one_visible_line_is_taken(text: str) -> None:
    """A full-width space, as a Chinese input method types it between a matter and its number, is text."""
    assert purpose_text_violations(text) == []


@pytest.mark.parametrize(("text", "said"), [
    ("低保审核\n2026-0001", "character 5 is U+000A (a control character): write it on one line"),
    ("低保审核\t2026", "character 5 is U+0009 (a control character): write it on one line"),
    ("\x1b[2K伪造", "character 1 is U+001B (a control character): remove it"),
    ("审核\u202e1000-6202", "character 3 is U+202E (RIGHT-TO-LEFT OVERRIDE): remove it"),
    ("审核\u200b", "character 3 is U+200B (ZERO WIDTH SPACE): remove it"),
    ("审核\u2028下一行", "character 3 is U+2028 (LINE SEPARATOR): write it on one line"),
])
def test_a_purpose_text_holding_a_character_nobody_sees_is_refused_naming_it(text: str, said: str) -> None:
    """A line break, an escape sequence or a right-to-left override went into the access record as sent: the
    console's access list, its CSV and the persons' view showed another line, or another text, than declared."""
    [violation] = purpose_text_violations(text)
    assert violation.field == "purpose.text"
    assert violation.description == f"must be one line of visible text: {said}"
