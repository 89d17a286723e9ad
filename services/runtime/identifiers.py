"""Validation of the identifiers the platform keys records by (DOMAIN §12).

Check digits come from python-stdnum; region codes are checked against the
GB/T 2260 code table that python-stdnum ships (``cn/loc``), not range rules.
Each validator returns None when the value is valid, else a reason a caller
can act on.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Mapping
from functools import lru_cache

from stdnum import numdb
from stdnum.cn import ric, uscc
from stdnum.exceptions import InvalidComponent, ValidationError

MAX_TEXT_KEY = 64
_ASCII_DIGITS = re.compile(r"[0-9]+")
_CHECK_CHARACTERS = frozenset("0123456789X")
# An 18-digit code a spreadsheet kept as a number and wrote in scientific notation (3.42322E+17).
_SCIENTIFIC = re.compile(r"[0-9](?:\.[0-9]+)?E\+[0-9]{1,2}", re.IGNORECASE)


def _length_error(name: str, value: str) -> str:
    """Why a code is not 18 characters long, with what most likely made it so in a department's file."""
    error = f"{name} must have 18 characters, got {len(value)}"
    if _SCIENTIFIC.fullmatch(value):
        return (f"{error}: it was written as a number in scientific notation, as a spreadsheet shows an 18-digit "
                "number (keep the code as text: in a file, format its column as text and export it again)")
    if value[:1] in ("'", "`") and len(value) == 19:
        return f"{error}: remove the {value[0]} before it (a spreadsheet's mark for text)"
    if name == "公民身份号码" and len(value) == 15 and value.isdigit():
        return (f"{error}: a first-generation 15-digit number is given in its 18-digit form (19 inserted before "
                "its 2-digit birth year, after the 6th digit, and its check character added, GB 11643-1999)")
    if (hidden := _invisible(value)) and len(value) - len(hidden) == 18:
        # Copied from a document or a web page with a zero-width space or a direction mark: a department's file
        # loaded so was told "got 19" of a code that shows 18 characters (a query names it: query/keys.py).
        position, character = hidden[0]
        return (f"{error}: it holds an invisible character, U+{ord(character):04X}, at position {position + 1} "
                "(copied from a document or a web page?): remove it")
    if value.strip() != value and len(value.strip()) == 18:
        # A department code read from a configuration file with its final newline, or pasted with a blank, sent in
        # a REST URL (/v1/departments/{code}, ?departmentCode=): "got 19" of a code that shows 18 characters.
        return f"{error}: it has a blank or a line break before or after it: send the code alone"
    return error


def _invisible(value: str) -> list[tuple[int, str]]:
    """The characters of ``value`` nobody sees (format and control characters but for blanks and line breaks,
    which _length_error names otherwise), with their positions."""
    return [(position, character) for position, character in enumerate(value)
            if unicodedata.category(character) in ("Cc", "Cf") and not character.isspace()]


def _check_error(name: str, value: str) -> str:
    """Why a code's check character is wrong, with what most likely made it so: a spreadsheet that held an
    18-digit code as a number keeps 15 significant digits and writes the last three as 000 (342322194911060454
    becomes 342322194911060000), which read as a person's mistyped number, not as the file's column."""
    error = f"{name} has an invalid check character"
    if value.isascii() and value.isdigit() and value.endswith("000"):
        return (f"{error}: it ends in 000, as a spreadsheet writes an 18-digit code it kept as a number (15 digits, "
                "then zeros): keep the code as text: format its column as text and export it again from the source")
    return error


#: The letters of a 统一社会信用代码 (GB 32100 leaves out I, O, S, V and Z, which read as digits or as U).
_CREDIT_CODE_LETTERS = "ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_CODE_ALPHABET = frozenset("0123456789" + _CREDIT_CODE_LETTERS)
#: Letters typed for the digit they look like: a code copied by hand from a paper licence or read out on the phone.
_DIGIT_LOOK_ALIKES = {"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "Z": "2", "S": "5", "B": "8", "G": "6"}

_DIGITS = frozenset("0123456789")


def _citizen_id_allowed(position: int) -> frozenset[str]:
    """What a 公民身份号码 may hold at ``position`` (from 0): digits, and X as its check character."""
    return _CHECK_CHARACTERS if position == 17 else _DIGITS


def _stray_character(value: str, allowed: Callable[[int], frozenset[str]]) -> str:
    """Which character of an 18-character code is not one the code may hold there, and the digit it was likely
    typed for: a letter O for 0 or I for 1 looks like the digit on a form and on screen, and "must use the
    characters 0-9 and ABCDEFGHJKLMNPQRTUWXY" left the officer comparing 18 characters that all looked right.
    The code itself is not quoted (a 公民身份号码 is personal data); one character and its place are not."""
    position, character = next(((index, char) for index, char in enumerate(value) if char not in allowed(index)),
                               (-1, ""))
    if position < 0:
        return ""
    name = f"the letter {character}" if character.isascii() and character.isalpha() else \
        f"U+{ord(character):04X} ({unicodedata.name(character, 'a control character')})"
    if character.islower() and character.upper() in allowed(position):
        # Said as such: "the letter m, which it cannot hold there" of a code that holds M there (typed, or pasted
        # from a lower-cased export) sent the officer looking for a wrong character they had not typed.
        return f": character {position + 1} is the lower-case letter {character}: write it as {character.upper()}"
    digit = _DIGIT_LOOK_ALIKES.get(character)
    meant = f" (the digit {digit}?)" if digit is not None and digit in allowed(position) else ""
    return f": character {position + 1} is {name}, which it cannot hold there{meant}"


def second_generation(value: str) -> str | None:
    """The 18-character 公民身份号码 of a first-generation 15-digit one (GB 11643-1999: the year's 19 inserted
    before its two digits, the check character computed), or None when ``value`` is not 15 digits. Whether the
    result is valid is citizen_id_error's question."""
    if len(value) != 15 or not _ASCII_DIGITS.fullmatch(value):
        return None
    body = f"{value[:6]}19{value[6:]}"
    return body + ric.calc_check_digit(body + "0")


def first_generation(citizen_id: str) -> str | None:
    """The 15-digit number a person born in the 1900s may have held before their 18-character 公民身份号码 (the
    year's 19 and the check character left out), or None for a number that had none."""
    if len(citizen_id) != 18 or citizen_id[6:8] != "19" or not _ASCII_DIGITS.fullmatch(citizen_id[:17]):
        return None
    return citizen_id[:6] + citizen_id[8:17]


def citizen_id_error(value: str) -> str | None:
    """Why ``value`` is not a valid 公民身份号码 (GB 11643), or None."""
    if len(value) != 18:
        return _length_error("公民身份号码", value)
    if not _ASCII_DIGITS.fullmatch(value[:17]) or value[17] not in _CHECK_CHARACTERS:
        # Checked here, before python-stdnum, which strips blanks and hyphens first.
        return "公民身份号码 must be 17 digits followed by a digit or X" + _stray_character(value, _citizen_id_allowed)
    if not _is_date(value[6:14]):
        return "公民身份号码 has an invalid birth date"
    # python-stdnum looks the birth place up in its own table and fails with a KeyError on a code whose
    # prefecture is known but whose county is not (110199...): the table check comes first.
    if region_code_error(value[:6]) is not None:
        return f"公民身份号码 has an unknown region code {value[:6]}"
    if ric.calc_check_digit(value) != value[17]:
        return _check_error("公民身份号码", value)
    periods = _birth_years_in_force(value[:6])
    if periods is None:
        return _birth_place_error(value)
    year = int(value[6:10])
    if any(first <= year <= last for first, last in periods):
        return None
    # The date and the region are known to be valid: the region was not in force in the birth year.
    return f"公民身份号码 has region code {value[:6]}, which was not in force in the birth year"


def _birth_place_error(value: str) -> str | None:
    """python-stdnum's own check of the birth place (the region in force in the birth year), as a reason."""
    try:
        ric.get_birth_place(value)
    except InvalidComponent:
        return f"公民身份号码 has region code {value[:6]}, which was not in force in the birth year"
    except (ValidationError, LookupError, ValueError):
        # Any other complaint of python-stdnum (or of its tables) is still the key's fault, never a crash.
        return "公民身份号码 is not a valid number"
    return None


@lru_cache(maxsize=8192)
def _birth_years_in_force(region: str) -> tuple[tuple[int, int], ...] | None:
    """The birth years (first, last) in which a number could be issued in ``region``, read once per region from
    python-stdnum's table exactly as ``ric.get_birth_place`` reads it on every call; None when the table's entry
    does not parse (the caller then asks python-stdnum itself).

    Hand-written because it was measured: ``ric.validate`` walks the region table on every number, 46 µs per
    key, 3.5% of the query process's CPU on the cache-miss path where every key is new (``python -m
    loadtest.profile --phase miss --rate 900``, docs/performance.md); this check is a few comparisons.
    ``tests/unit/test_identifier_properties.py`` checks it against ``ric.is_valid``.
    """
    try:
        info = {k: v for _part, props in _region_table().info(region) for k, v in props.items()}
        periods: list[tuple[int, int]] = []
        for county in info["county"].split(","):
            if not county.startswith("["):
                # python-stdnum accepts the region whatever the year once it meets an undated name.
                periods.append((0, 9999))
                break
            dates, _name = county[1:].split("]")
            first, last = dates.split("-")
            periods.append((int(first) if first else 0, int(last) if last else 9999))
    except (LookupError, ValueError):
        return None
    return tuple(periods)


def _is_date(yyyymmdd: str) -> bool:
    try:
        dt.date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return False
    return True


def credit_code_error(value: str) -> str | None:
    """Why ``value`` is not a valid 统一社会信用代码 (GB 32100), or None.

    The standard's structure, checked here rather than by python-stdnum's ``uscc.validate``, which asks for digits
    in the first eight characters: the 登记管理部门码 and 机构类别码 (characters 1 and 2) are letters for some
    registering authorities — N for the 农业农村 departments (a 村集体经济组织's N2…), Y for others, A — so such
    an organisation's real code was refused "must use the characters 0-9 and ABCDEFGHJKLMNPQRTUWXY", which it does.
    Characters 3 to 8 (the registering authority's region code) are digits; the check character is the
    standard's, python-stdnum's ``calc_check_digit``."""
    if len(value) != 18:
        return _length_error("统一社会信用代码", value)
    if any(character not in _CREDIT_CODE_ALPHABET for character in value):
        # Checked first: python-stdnum forgives blanks, hyphens and lower case, and a key is stored in its one
        # canonical form.
        return (f"统一社会信用代码 must use the characters 0-9 and {_CREDIT_CODE_LETTERS}"
                + _stray_character(value, lambda _position: _CREDIT_CODE_ALPHABET))
    if not _ASCII_DIGITS.fullmatch(value[2:8]):
        return ("统一社会信用代码 must have digits at characters 3 to 8 (the registering authority's region code)"
                + _stray_character(value, _credit_code_allowed))
    if uscc.calc_check_digit(value[:17]) != value[17]:
        return _check_error("统一社会信用代码", value)
    return None


def is_credit_code(value: str) -> bool:
    """Whether ``value`` is a valid 统一社会信用代码 in its canonical form (:func:`credit_code_error`)."""
    return len(value) == 18 and credit_code_error(value) is None


def _credit_code_allowed(position: int) -> frozenset[str]:
    """What a 统一社会信用代码 may hold at ``position`` (from 0): digits in the region code, else its alphabet."""
    return _DIGITS if 2 <= position < 8 else _CREDIT_CODE_ALPHABET



@lru_cache(maxsize=1)
def _region_table() -> numdb.NumDB:
    return numdb.get("cn/loc")


_IN_FORCE_YEARS = re.compile(r"\[[0-9-]*\]")


@lru_cache(maxsize=8192)
def region_name(code: str) -> str | None:
    """The name of a 行政区划代码 (province, prefecture or county), or None when unknown."""
    if len(code) != 6 or not _ASCII_DIGITS.fullmatch(code):
        return None
    parts = _region_table().info(code)
    if len(parts) < 2 or not parts[0][1] or not parts[1][1]:
        return None
    # The table marks names of a code reused over the years with the years they were in force ([1983-]上城区).
    province = _IN_FORCE_YEARS.sub("", parts[0][1].get("province", ""))
    county = _IN_FORCE_YEARS.sub("", parts[1][1].get("county", ""))
    if code.endswith("0000"):
        return province
    return f"{province}{county}" if county else None


def told_apart(names: Mapping[str, str]) -> dict[str, str]:
    """Each department's name (by 统一社会信用代码), told apart where two of ``names`` bear the same one: every
    district has its 民政局, and a chart or a ranking that labels departments by name alone showed two bars or rows
    民政局 that no reader could tell apart. A colliding name is followed by what distinguishes it: its region (the
    行政区划 of the code's characters 3-8, 民政局（北京市朝阳区）) when that differs from the others', else the code's
    last six characters (民政局（…00011X）), else the whole code. A name no other bears, or none (""), is left as it
    is."""
    by_name: dict[str, list[str]] = {}
    for code, name in names.items():
        by_name.setdefault(name, []).append(code)
    told = dict(names)
    for name, codes in by_name.items():
        if name and len(codes) > 1:
            for code, mark in _marks(codes).items():
                told[code] = f"{name}（{mark}）"
    return told


def _marks(codes: list[str]) -> dict[str, str]:
    """What tells each of ``codes`` from the others: the first of its region, its code's tail and its code that no
    other of them shares."""
    ways: list[Callable[[str], str | None]] = [lambda code: region_name(code[2:8]),
                                               lambda code: f"…{code[-6:]}", lambda code: code]
    for way in ways:
        marks = {code: way(code) for code in codes}
        if None not in marks.values() and len(set(marks.values())) == len(codes):
            return {code: mark for code, mark in marks.items() if mark is not None}
    return {code: code for code in codes}


def region_code_error(value: str) -> str | None:
    """Why ``value`` is not a known 行政区划代码 (GB/T 2260), or None.

    A code of digits of another length says how many it has, and a 统计用区划代码 (the statistics bureau's codes of
    townships, 9 digits, and villages, 12, kept by many systems for addresses: 110101001001) that it begins with its
    county's code: "must be 6 digits" alone was read of a code that had them, and more."""
    if len(value) != 6 or not _ASCII_DIGITS.fullmatch(value):
        if not _ASCII_DIGITS.fullmatch(value):
            return "行政区划代码 must be 6 digits (0-9)"
        if len(value) in (9, 12):
            return (f"行政区划代码 must be 6 digits, got {len(value)}: a {len(value)}-digit code is a 统计用区划代码 "
                    "(a township's or a village's), whose first 6 digits are its county's 行政区划代码")
        return f"行政区划代码 must be 6 digits, got {len(value)}"
    if region_name(value) is None:
        return f"行政区划代码 {value} is not in the GB/T 2260 code table"
    return None


def region_code_retired_error(value: str, year: int) -> str | None:
    """Why a 行政区划代码 of the table was not in force in ``year``, or None.

    The table keeps abolished codes (崇文区 110103 until 2010) because the 公民身份号码 issued there keep them;
    a division, an address or a place as it is now must carry a code in force now.
    """
    periods = _birth_years_in_force(value)
    if periods is None or any(first <= year <= last for first, last in periods):
        return None
    ended = [last for _first, last in periods if last < year]
    if ended:
        return f"行政区划代码 {value} is no longer in force (abolished after {max(ended)})"
    return f"行政区划代码 {value} is not yet in force in {year}"


def resource_code_slip(code: str, valid: Callable[[str], object]) -> str:
    """What made ``code``, which ``valid`` refuses, differ from a 信息资源代码 it takes, as words to end the refusal
    with; "" when nothing is seen. Each service checking a code says it alike, so the caller is not told only to
    give a code such as 101001/000001, which is what it believed it sent:

    - its ``/`` came as ``%2F``: a REST client percent-encoded the URL twice (``%252F``: Spring's
      UriComponentsBuilder encoding a value already encoded, a proxy re-encoding the path), in the path
      (``/v1/entries/101001%252F000001``) or a query parameter (``?resourceCode=``), and the edge decoded it once;
    - a blank before or after it (one read from a configuration file with its final newline);
    - full-width forms (１０１００１／０００００１), typed with a Chinese input method."""
    if valid(code.replace("%2F", "/").replace("%2f", "/")):
        return ": its / came as %2F: your client encoded the URL twice (%252F); encode it once"
    if code.strip() != code and valid(code.strip()):
        return ": it has a blank before or after it: send the code alone"
    if valid(unicodedata.normalize("NFKC", code).strip()):
        return ": it is written in full-width characters (全角): write its digits and / in ASCII (半角)"
    return ""


def text_key_error(value: str) -> str | None:
    """Free-form keys (licence numbers, place codes): non-empty, printable, bounded."""
    if not value.strip():
        return "must not be empty"
    if len(value) > MAX_TEXT_KEY:
        return f"must be at most {MAX_TEXT_KEY} characters"
    if not is_printable(value):
        return f"must contain only printable characters: {unprintable(value)}"
    return None


def is_printable(value: str) -> bool:
    """``str.isprintable``, but for the ideographs of CJK extensions newer than this Python's Unicode data.

    Python 3.11 reads Unicode 14.0 (3.12, 15.0): the ideographs of Extension H (U+31350…, Unicode 15.0) and
    Extension I (U+2EBF0…, 15.1), encoded for the rare characters of people's and places' names, are unassigned
    to it, so not printable, and a person whose name holds one was refused "remove it": the record, or the
    person's account, could not be made with their name. Planes 2 and 3 hold nothing but CJK ideographs (Unicode's
    roadmap), so a code point there that this Python does not know is one of them."""
    return value.isprintable() or all(char.isprintable() or _later_ideograph(char) for char in value)


def _later_ideograph(char: str) -> bool:
    """A code point of planes 2 or 3 (CJK ideographs) that this Python's Unicode data does not know yet; the two
    noncharacters at each plane's end (U+2FFFE, U+2FFFF…) are no character of any version."""
    code = ord(char)
    return 0x20000 <= code <= 0x3FFFF and (code & 0xFFFE) != 0xFFFE and unicodedata.category(char) == "Cn"


def unprintable(value: str) -> str:
    """Which character of ``value`` is not printable, where and what to do: a full-width space (U+3000) or a
    no-break space copied from a web page or a spreadsheet looks like a space, and "must contain only printable
    characters" alone left the data officer looking for a character they could not see. The value itself is
    not quoted (it may be a person's name).

    A private-use character (U+E000–U+F8FF and planes 15 and 16) is a rare character a department's system made
    in its own font (造字): elsewhere it shows as another character or a box, so it is refused, but with what to
    write instead, not "remove it", which would have the officer change a person's name."""
    position, char = next((index, char) for index, char in enumerate(value, 1)
                          if not (char.isprintable() or _later_ideograph(char)))
    category = unicodedata.category(char)
    if category == "Co":
        return (f"character {position} is U+{ord(char):04X} (a private-use character: a rare character made in the "
                "source system's own font, 造字, which other systems show as another character or a box): write it "
                "as its standard Unicode character (CJK Extension B and later hold rare characters; GB 18030-2022 "
                "maps the private-use ones of GB 18030-2005)")
    name = unicodedata.name(char, "a control character" if category == "Cc" else category)
    advice = ": write an ordinary space, or none" if category == "Zs" else \
        ": a line break or tab is not allowed here" if char in "\t\n\r\v\f" else ": remove it"
    return f"character {position} is U+{ord(char):04X} ({name}){advice}"


def birth_date_of(citizen_id: str) -> str:
    """YYYY-MM-DD birth date encoded in a (valid) 公民身份号码."""
    return f"{citizen_id[6:10]}-{citizen_id[10:12]}-{citizen_id[12:14]}"


def sex_of(citizen_id: str) -> str:
    """男 or 女, from the sequence digit's parity (odd = male)."""
    return "男" if int(citizen_id[16]) % 2 else "女"


# --- personal identifiers in free text (logs) -----------------------------------------------------------------------

# What could be a 公民身份号码 or a 统一社会信用代码 in free text, not inside a longer run of digits or letters. A
# 公民身份号码 is 17 digits and a check character, its birth date at 7-14, optionally typed in groups of 6, 8 and 4
# (a space or a hyphen between them); its check character is not required to be right, nor its region to exist: a
# mistyped number is still a person's. A 统一社会信用代码 is its alphabet (either case), positions 3-8 digits, with a
# right check character (without one the pattern matches too much that is not a code).
_CITIZEN_CANDIDATE = r"[0-9]{6}([ -]?)(?:19|20)[0-9]{6}\1[0-9]{3}[0-9Xx]"
_CREDIT_CANDIDATE = r"[0-9A-HJ-NP-RTUWXYa-hj-np-rtuwxy]{2}[0-9]{6}[0-9A-HJ-NP-RTUWXYa-hj-np-rtuwxy]{10}"
_IDENTIFIER_CANDIDATE = re.compile(rf"(?<![0-9A-Za-z])(?:{_CITIZEN_CANDIDATE}|{_CREDIT_CANDIDATE})(?![0-9A-Za-z])")
REDACTED = "[redacted]"
# Full-width digits, letters, space and hyphen (a key typed on a Chinese keyboard) read as their ASCII forms: one
# character for one, so a match's place in the folded text is its place in the original.
_FOLD_WIDTH = {**{0xFF10 + n: 0x30 + n for n in range(10)}, **{0xFF21 + n: 0x41 + n for n in range(26)},
               **{0xFF41 + n: 0x61 + n for n in range(26)}, 0x3000: 0x20, 0xFF0D: 0x2D}


def _is_identifier(candidate: str) -> bool:
    """A birth date that exists, or a 统一社会信用代码 whose check character python-stdnum confirms."""
    compact = candidate.replace(" ", "").replace("-", "").upper()
    return _is_citizen_id(compact) or is_credit_code(compact)


def _is_citizen_id(compact: str) -> bool:
    """17 digits whose 7th to 14th are a birth date that exists, in 19xx or 20xx (a 统一社会信用代码 of 17 digits and a
    letter may hold a date of another century there: 11110000780810767N, year 0078)."""
    return compact[:17].isdigit() and compact[6:8] in ("19", "20") and _is_date(compact[6:14])


def _identifier_spans(text: str) -> list[tuple[int, int]]:
    folded = text.translate(_FOLD_WIDTH)
    return [match.span() for match in _IDENTIFIER_CANDIDATE.finditer(folded) if _is_identifier(match[0])]


def personal_identifiers(text: str) -> list[str]:
    """The 公民身份号码 and 统一社会信用代码 in ``text``, as written there."""
    if len(text) < 18:
        return []
    return [text[start:end] for start, end in _identifier_spans(text)]


def redact_identifiers(text: str) -> str:
    """``text`` with every 公民身份号码 and 统一社会信用代码 replaced by ``[redacted]``."""
    if len(text) < 18:
        return text
    spans = _identifier_spans(text)
    if not spans:
        return text
    parts, last = [], 0
    for start, end in spans:
        parts += [text[last:start], REDACTED]
        last = end
    parts.append(text[last:])
    return "".join(parts)


#: A mainland mobile number (1, then 3-9, then nine digits) as people write one in free text: whole, or grouped 3-4-4
#: by a hyphen or a blank, in ASCII or full-width digits; not part of a longer run of digits (an ID number, an
#: account number, a 文号), unless that run is China's calling code written with its + right before the number
#: (+8613812345678, as phones and contact lists give it): a longer run was read as none, and the number went out
#: whole.
_DIGIT = "[0-9０-９]"
_MOBILE = re.compile(rf"(?:(?<!{_DIGIT})|(?<=[+＋][8８][6６]))"
                     rf"[1１][3-9３-９]{_DIGIT}[- －　]?{_DIGIT}{{4}}[- －　]?{_DIGIT}{{4}}(?!{_DIGIT})")


def mask_mobile_numbers(text: str, mask: Callable[[str], str]) -> str:
    """``text`` with every mainland mobile number in it replaced by ``mask`` of its 11 digits. For free text shown to
    someone the numbers in it are not about, as :func:`mask_citizen_ids`: a reading department's declared purpose
    names the applicant of a case by their telephone as often as by their 公民身份号码."""
    if len(text) < 11:
        return text
    return _MOBILE.sub(lambda match: mask(re.sub(r"[^0-9]", "", match.group().translate(_FOLD_WIDTH))), text)


#: A first-generation 公民身份号码 in free text: 15 digits (region, YYMMDD in the 1900s, sequence), ASCII or full
#: width, not part of a longer run of digits or letters.
_FIRST_GENERATION = re.compile(r"(?<![0-9A-Za-z])[1-8][0-9]{14}(?![0-9A-Za-z])")


def mask_citizen_ids(text: str, mask: Callable[[str], str]) -> str:
    """``text`` with every 公民身份号码 in it (in any form the log scanner finds, and a first-generation 15-digit one
    whose birth date exists) replaced by ``mask`` of its characters; a 统一社会信用代码 is kept, an entity's code
    being public. For free text shown to someone the numbers in it are not about: the persons' view shows a reading
    department's declared purpose, where a case still filed under a person's old 15-digit number went out whole."""
    if len(text) < 15:
        return text
    spans = []
    for start, end in _identifier_spans(text) if len(text) >= 18 else ():
        compact = text[start:end].translate(_FOLD_WIDTH).replace(" ", "").replace("-", "").upper()
        if len(compact) == 18 and _is_citizen_id(compact):
            spans.append((start, end, compact))
    spans += [(*match.span(), match[0]) for match in _FIRST_GENERATION.finditer(text.translate(_FOLD_WIDTH))
              if _is_date("19" + match[0][6:12])]
    parts, last = [], 0
    for start, end, compact in sorted(spans):
        parts += [text[last:start], mask(compact)]
        last = end
    return "".join(parts) + text[last:] if parts else text
