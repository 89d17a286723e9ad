"""Validation and normalisation of query keys, by the identifier kind of the entry's key item.

Front desks type keys by hand, so surrounding blanks and a lower-case check
character ``x`` are forgiven; anything else that is not a valid identifier is
refused before the platform asks anyone for a decision or a record.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from functools import lru_cache

from govshare.catalog.v1 import catalog_pb2
from services.runtime.identifiers import (
    MAX_TEXT_KEY,
    citizen_id_error,
    credit_code_error,
    region_code_error,
    text_key_error,
)

# Keys longer than this are refused outright (and never reach the validation cache).
MAX_KEY_LENGTH = max(MAX_TEXT_KEY, 64)
#: A key longer than this once trimmed is returned as it is, unread: NFKC makes no string less than a third of its
#: length, so it is refused for its length whatever its forms. Read whole, a 6 MB key of Han characters and blanks
#: (a Query fits in 8 MiB) held the query process for half a second before the refusal, every other call waiting;
#: a BatchQuery of 1,000 such keys as long.
LONGEST_READ_KEY = 4 * MAX_KEY_LENGTH

_VALIDATORS: dict[int, Callable[[str], str | None]] = {
    catalog_pb2.IDENTIFIER_KIND_CITIZEN_ID: citizen_id_error,
    catalog_pb2.IDENTIFIER_KIND_CREDIT_CODE: credit_code_error,
    catalog_pb2.IDENTIFIER_KIND_REGION_CODE: region_code_error,
    catalog_pb2.IDENTIFIER_KIND_TEXT: text_key_error,
}
# Kinds whose letters are upper case by standard (公民身份号码's X, 统一社会信用代码).
UPPER_CASE_KINDS = frozenset({catalog_pb2.IDENTIFIER_KIND_CITIZEN_ID, catalog_pb2.IDENTIFIER_KIND_CREDIT_CODE})
# Kinds that are codes of digits and capitals: a Chinese input method's full-width forms stand for them.
CODE_KINDS = UPPER_CASE_KINDS | {catalog_pb2.IDENTIFIER_KIND_REGION_CODE}
# 〇 (U+3007), which a Chinese input method gives for "ling", read as the zero it was typed for. NFKC keeps it; in
# a code of digits and capitals (a 统一社会信用代码 has no letter O) it can stand for nothing else.
IME_ZERO = str.maketrans({"〇": "0"})


def normalize_key(kind: int, value: str, full_width_text: bool = False) -> str:
    """The canonical form providers key records by: trimmed, upper case for code kinds.

    A code typed with a Chinese input method often comes in full-width forms (３４２３…Ｘ, １１０１０５, a
    full-width space): for code kinds those are read as the ASCII characters they stand for (NFKC), so such a
    key finds its record instead of being refused as malformed. With ``full_width_text`` (the platform's
    foundation datasets, whose loads store licence numbers and place codes so: foundation.validation.text_key) a
    text key is read so too; a department's text keys are sent as typed (its table may hold 京（2020）…). In a
    code, 〇 typed for zero (３４２３…〇４５４) is read as 0: the desk sees a zero, and was told the number "must be
    17 digits".
    ASCII keys, nearly all of them, skip that step, and keys too long to be any (LONGEST_READ_KEY) every step.
    """
    if len(value) > LONGEST_READ_KEY and len(trimmed := value.strip()) > LONGEST_READ_KEY:
        return trimmed
    if (kind in CODE_KINDS or full_width_text) and not value.isascii():
        value = unicodedata.normalize("NFKC", value)
        if kind in CODE_KINDS:
            value = value.translate(IME_ZERO)
    if kind in UPPER_CASE_KINDS:
        return value.strip().upper()
    return value.strip()


def key_error(kind: int, value: str) -> str | None:
    """Why the (normalised) ``value`` is not a valid key of ``kind``, or None.

    Unknown or unspecified kinds are validated as free text, never skipped.
    """
    if len(value) > MAX_KEY_LENGTH:
        return f"must be at most {MAX_KEY_LENGTH} characters"
    return _cached_key_error(kind, value)


@lru_cache(maxsize=65536)
def _cached_key_error(kind: int, value: str) -> str | None:
    # Check digits cost microseconds; hot keys (the same citizen at many desks) are validated once.
    if not value:
        return "must not be empty"
    if kind in CODE_KINDS and (hidden := _hidden_character(value)) is not None:
        return hidden
    if kind in CODE_KINDS and " " in value:
        return _spaced(value)
    return _VALIDATORS.get(kind, text_key_error)(value)


def _spaced(value: str) -> str:
    """A code written in groups, as forms and letters print a 公民身份号码 (342322 19491106 0454): its refusal said
    "must have 18 characters, got 20" of a key whose digits are all there, and the desk counted them again. Blanks
    inside a code are not forgiven (a space may stand for a digit left out); they are named."""
    return (f"holds a space after its first {value.index(' ')} characters: give the code without spaces, "
            f"{len(value.replace(' ', ''))} characters in one piece")


def _hidden_character(value: str) -> str | None:
    """A code copied from a web page or a document may carry a character nobody sees (a zero-width space, a
    direction mark): its refusal said "must have 18 characters, got 19" of a key that shows 18, so it names it."""
    for position, character in enumerate(value):
        if unicodedata.category(character) in ("Cc", "Cf"):
            return (f"holds an invisible character, U+{ord(character):04X}, at position {position} (copied from a "
                    "document or a web page?): type the key again")
    return None
