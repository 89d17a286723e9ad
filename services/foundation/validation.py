"""Validation of foundation records (R-FND-3): every problem of a record, each with its item.

A provider fixes a rejected record in one go only if it hears about every problem at
once, so nothing here stops at the first failure. Item parsers turn the loaded string
into the typed value its column holds (and so fix its canonical form); record checks
then compare items with each other (a birth date against the one encoded in the
公民身份号码, a validity period's end against its start). Identifier rules come from
services.runtime.identifiers so that query, catalog and foundation agree on them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from stdnum.cn import ric

from services.runtime import identifiers

if TYPE_CHECKING:
    from services.foundation.datasets import Dataset

CHINA_TIME = timezone(timedelta(hours=8))
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2199, 12, 31)
# China's extent, with a margin: 73°33′E–135°05′E, 3°51′N–53°33′N.
LONGITUDE_RANGE = (Decimal("73"), Decimal("136"))
LATITUDE_RANGE = (Decimal("3"), Decimal("54"))
# Registered capital is in 万元; a trillion 万元 is far beyond any real entity.
MAX_AMOUNT = Decimal("1000000000000")

# How a registry's column writes a validity without end (长期有效, 永久, 无固定期限): said to be left empty.
ENDLESS_WORDS = ("长期", "永久", "无期限", "无固定期限")
# Digits only (an X last): a holder_id so written is a 公民身份号码, whatever is wrong with it.
_PERSONAL_SHAPE = re.compile(r"[0-9]{6,17}[0-9X]")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
#: A date as a spreadsheet or a department's database export writes it: 1990/1/1 (Excel in a Chinese locale),
#: 1990-1-1, 1990.01.01, 1990年1月1日, 19900101, perhaps with the midnight a DATETIME column carries (1990-01-01
#: 00:00:00, 1990/1/1 0:00, 1990-01-01T00:00:00.0).
_WRITTEN_DATE = re.compile(r"(?P<y>[0-9]{4})(?:(?P<s>[-/.])(?P<m>[0-9]{1,2})(?P=s)(?P<d>[0-9]{1,2})"
                           r"|年(?P<m2>[0-9]{1,2})月(?P<d2>[0-9]{1,2})日|(?P<m3>[0-9]{2})(?P<d3>[0-9]{2}))"
                           r"(?:(?:[ T]+|(?<=日))(?P<time>[0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?))?")
#: Days as Excel counts them (from 1899-12-30): a date column saved as a number.
_SERIAL_DAY = re.compile(r"[0-9]{5}(?:\.[0-9]+)?")
#: A date written day or month first, the year last (31/12/1949, 12-31-1949), as a spreadsheet in another locale
#: writes it: which of the two is the month cannot be told from 05/09/1949.
_YEAR_LAST = re.compile(r"[0-9]{1,2}([-/.])[0-9]{1,2}\1[0-9]{4}(?:[ T]+[0-9:.]+)?")
# ASCII digits only: Python's \d is any script's digit, and Decimal reads them all (an Arabic-Indic ٣ as 3).
_AMOUNT = re.compile(r"-?[0-9]{1,16}(\.[0-9]{1,6})?")
#: An amount with its thousands grouped by commas, as a spreadsheet formats the number and its CSV export writes it.
_GROUPED_AMOUNT = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?")
#: An amount written with a unit after it, as a licence prints 注册资本 (100万元, 1,000 万元, 5亿元).
_AMOUNT_WITH_UNIT = re.compile(r"(?:人民币)?\s*[0-9][0-9,]*(?:\.[0-9]+)?\s*(万元|万|亿元|亿|元)(?:人民币)?")
_COORDINATE = re.compile(r"-?[0-9]{1,3}(\.[0-9]{1,8})?")


class ValueProblem(ValueError):
    """An item value that cannot be stored; the message says what to fix."""


#: The characters of a value a reason quotes at most (a code, a date, a number is far shorter).
QUOTED_CHARACTERS = 40


def quoted(raw: str) -> str:
    """``raw`` as a reason quotes it: whole when short, else its first characters and its length.

    A value pasted into the wrong column (a document, a column of another export: 100,000 characters under 性别) was
    quoted whole in its record's reason, so a LoadRecords answer grew larger than its request: 2,000 records of
    3 KB of junk each, a 6 MB call the server takes (8 MiB), were answered in more than the 4 MiB a gRPC client
    takes by default, and the business system was told RESOURCE_EXHAUSTED of a load that had been committed; the
    command printed each such reason whole."""
    if len(raw) <= QUOTED_CHARACTERS:
        return repr(raw)
    return f"{raw[:QUOTED_CHARACTERS - 10]!r}… ({len(raw):,} characters)"


Parser = Callable[[str, date], object]
RecordCheck = Callable[[Mapping[str, object], date], Iterator[str]]


def china_today() -> date:
    """Today's date in China, the calendar every date item is written in."""
    return datetime.now(CHINA_TIME).date()


# ---- item parsers: raw (stripped) string -> typed value, or ValueProblem -------------------------------------------


def text(max_length: int = 200) -> Parser:
    """Free text: printable, bounded (addresses and names end up on front-desk screens)."""

    def parse(raw: str, today: date) -> str:
        if len(raw) > max_length:
            raise ValueProblem(f"must be at most {max_length} characters")
        if not identifiers.is_printable(raw):
            raise ValueProblem(f"must contain only printable characters: {identifiers.unprintable(raw)}")
        return raw

    return parse


#: Characters typed for the 间隔号 (U+00B7) between the parts of a name (阿依古丽·买买提): a bullet, the Japanese
#: input methods' middle dot (full and half width), the hyphenation point, dot and bullet operators, a full stop.
_NAME_DOTS = re.compile("(?<=[^\\x00-\\x7f])[\u2022\u30fb\uff65\u2027\u22c5\u2219\uff0e.](?=[^\\x00-\\x7f])")


def person_name(max_length: int = 64) -> Parser:
    """A person's name: free text (:func:`text`) whose 间隔号 is U+00B7 however it was typed.

    The public security organs' and the other departments' systems type the dot of a minority name each their own
    way (· • ・ .): one person loaded by two sources as 阿依古丽·买买提 and 阿依古丽•买买提 was a conflict on the
    name, which the authoritative source had to resolve and supervision counted open, about nothing. Between two
    characters that are not ASCII, such a dot is the 间隔号."""
    free = text(max_length)

    def parse(raw: str, today: date) -> str:
        return _NAME_DOTS.sub("\u00b7", free(raw, today))

    return parse


def code(*allowed: str, numbered_by: str = "") -> Parser:
    """A value from a code table. ``numbered_by``: the national standard that numbers the table's values from 1 in
    this order (GB/T 2261.1's 1 男 2 女, GB/T 3304's 01 汉族 … 56 基诺族), whose numbers a department's database
    often holds instead of the values: such a number is refused naming the value it stands for."""
    choices = frozenset(allowed)
    shown = "/".join(allowed) if len(allowed) <= 8 else \
        f"one of the {len(allowed)} codes of its table, such as {', '.join(allowed[:3])}"

    def parse(raw: str, today: date) -> str:
        # A code copied out of a PDF may hold a Kangxi radical (⼥ U+2F25 for 女), or be typed in full width: the
        # same glyph as a code of the table, another code point. Read as what it stands for, as other codes are.
        raw = ascii_form(raw)
        if raw not in choices:
            # A short form of a code (汉 for 汉族, 蒙古 for 蒙古族) is named: "expected one of the 56 codes of its
            # table" alone did not say in what form the table writes them. So is a long one beginning with a
            # code (存续（在营、开业、在册）, as the enterprise credit publicity system writes 存续; 女性).
            meant = [choice for choice in allowed if raw and choice.startswith(raw)] or \
                [choice for choice in allowed if raw.startswith(choice)]
            hint = f": did you mean {'/'.join(meant)}?" if 0 < len(meant) <= 3 else ""
            if numbered_by and raw.isdigit() and 1 <= int(raw) <= len(allowed):
                hint = f": it is the {numbered_by} code of {allowed[int(raw) - 1]}; write {allowed[int(raw) - 1]}"
            raise ValueProblem(f"{quoted(raw)} is not in its code table{hint} (expected {shown})")
        return raw

    return parse


def _reason(error: str | None) -> None:
    if error is not None:
        raise ValueProblem(error)


def ascii_form(raw: str) -> str:
    """A code or date typed with a Chinese input method (３４２３…Ｘ, ２０２０－０１－０２) as the ASCII it stands
    for, and a Kangxi radical (⼥ U+2F25) as the character it looks like (女): NFKC.

    Queries, verifications and GetRecordHistory read such a key as its ASCII code (services/query/keys.py); a
    load reads it the same way, so the record is stored under the key those calls look up. ASCII skips the step.
    """
    return raw if raw.isascii() else unicodedata.normalize("NFKC", raw).strip()


def citizen_id(raw: str, today: date) -> str:
    value = ascii_form(raw).upper()
    error = identifiers.citizen_id_error(value)
    if error is not None:
        raise ValueProblem(_birth_place_problem(value) or error)
    return value


def _birth_place_problem(value: str) -> str | None:
    """A sharper reason than "invalid birth date" when the date is real but the region code is not.

    python-stdnum reports a region code that is unknown, or was not in force in the birth year, as
    an invalid component, which the shared check words as a bad birth date.
    """
    if len(value) != 18 or not value[:17].isdigit() or ric.calc_check_digit(value) != value[17]:
        return None
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return None
    if identifiers.region_code_error(value[:6]) is not None:
        return f"公民身份号码 has an unknown region code {value[:6]}"
    return f"公民身份号码 has region code {value[:6]}, which was not in force in {born.year}"


def credit_code(raw: str, today: date) -> str:
    value = ascii_form(raw).upper()
    _reason(identifiers.credit_code_error(value))
    return value


def region_code(raw: str, today: date) -> str:
    value = ascii_form(raw)
    _reason(identifiers.region_code_error(value))
    return value


def text_key(raw: str, today: date) -> str:
    """A licence number or place code, in the form it is stored and looked up in (stored_key): ＹＹＺＺ２０２０…
    typed with a Chinese input method, or 京（2020）… with full-width brackets, is the record of YYZZ2020… and
    京(2020)…, not a second one. The value is checked as given (a no-break space is named, not read as a space)."""
    _reason(identifiers.text_key_error(raw))
    return ascii_form(raw)


#: Key items whose letters are upper case by standard (the 公民身份号码's X, a 统一社会信用代码's letters).
UPPER_CASE_KEYS = frozenset({"citizen_id", "credit_code"})


def stored_key(key_item: str, typed: str) -> str:
    """The form a dataset keyed by ``key_item`` stores ``typed`` in, as a load stores it: NFKC (full-width forms
    as ASCII), trimmed, upper case for 公民身份号码 and 统一社会信用代码. Not a check: a lookup of a key that is
    no valid one simply finds nothing. Constant time, and ASCII keys skip the NFKC step."""
    value = ascii_form(typed).strip()
    return value.upper() if key_item in UPPER_CASE_KEYS else value


def holder_id(raw: str, today: date) -> str:
    """A licence holder: a person (公民身份号码) or an organisation (统一社会信用代码)."""
    value = ascii_form(raw).upper()
    if identifiers.citizen_id_error(value) is None:
        # python-stdnum checks that the birth date is a date, not that it has come: nobody born later holds anything.
        if (born := identifiers.birth_date_of(value)) > today.isoformat():
            raise ValueProblem(f"the 公民身份号码's birth date {born} is in the future")
        return value
    if (organisation := identifiers.credit_code_error(value)) is None:
        return value
    # The reason of the identifier it looks like: "check the check character" was said of a 15-digit ID number too.
    looks_personal = _PERSONAL_SHAPE.fullmatch(value) is not None
    reason = identifiers.citizen_id_error(value) if looks_personal else organisation
    raise ValueProblem(f"must be a valid 公民身份号码 or 统一社会信用代码 ({reason})")


def iso_date(raw: str) -> str | None:
    """``raw`` as YYYY-MM-DD when it writes a date in one of the forms spreadsheets and database exports give
    (:data:`_WRITTEN_DATE`: a year first, so never ambiguous), whether or not the calendar has that day; None
    otherwise, and for a time of day other than midnight (a moment, not a date).

    A CSV file exported from Excel in a Chinese locale writes a date column as 1990/1/1, and a DATETIME column
    leaves a database as 1990-01-01 00:00:00: every record of such a file was rejected "is not a date in the form
    YYYY-MM-DD" while Verify reads the same forms as the date they write."""
    text = ascii_form(raw)
    if _DATE.fullmatch(text):
        return text
    found = _WRITTEN_DATE.fullmatch(text)
    if found is None or (found["time"] and any(part.strip("0") for part in re.split("[:.]", found["time"]))):
        return None
    month = found["m"] or found["m2"] or found["m3"]
    day = found["d"] or found["d2"] or found["d3"]
    return f"{found['y']}-{int(month):02d}-{int(day):02d}"


def written_moment(raw: str) -> datetime | None:
    """The moment ``raw`` writes in one of the forms of :func:`iso_date` with or without a time of day (2026/11/30
    8:00, 2026年11月30日 08:00:00, as a spreadsheet in a Chinese locale writes a date-time column), without a zone;
    None otherwise, and for a day or time the calendar has not."""
    found = _WRITTEN_DATE.fullmatch(ascii_form(raw).strip())
    if found is None:
        return None
    month = found["m"] or found["m2"] or found["m3"]
    day = found["d"] or found["d2"] or found["d3"]
    hour, minute, second = (*(float(part) for part in found["time"].split(":")), 0.0, 0.0)[:3] \
        if found["time"] else (0.0, 0.0, 0.0)
    try:
        return datetime(int(found["y"]), int(month), int(day), int(hour), int(minute)) + timedelta(seconds=second)
    except ValueError:
        return None


def _date(raw: str) -> date:
    written = iso_date(raw)
    if written is None:
        raw = ascii_form(raw)
        if _SERIAL_DAY.fullmatch(raw):
            raise ValueProblem(f"{quoted(raw)} is not a date in the form YYYY-MM-DD: a spreadsheet wrote the date as "
                               "its number of days; format the column as a date (yyyy-mm-dd) and export it again")
        if _YEAR_LAST.fullmatch(raw):
            raise ValueProblem(f"{quoted(raw)} writes the year last, so its day and month could be read either way "
                               "(05/09 is 5 September or 9 May): give the date year first, YYYY-MM-DD")
        if (found := _WRITTEN_DATE.fullmatch(raw)) is not None and found["time"]:
            raise ValueProblem(f"{quoted(raw)} is a date and a time of day: give the date alone, YYYY-MM-DD")
        raise ValueProblem(f"{quoted(raw)} is not a date in the form YYYY-MM-DD")
    raw = written
    try:
        value = date.fromisoformat(raw)
    except ValueError:
        raise ValueProblem(f"{raw} is not a real calendar date") from None
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise ValueProblem(f"{raw} is not plausible (expected {EARLIEST_DATE} to {LATEST_DATE})")
    return value


def past_date(raw: str, today: date) -> date:
    """A date that has happened (birth, establishment, issue)."""
    value = _date(raw)
    if value > today:
        raise ValueProblem(f"{raw} is in the future")
    return value


def any_date(raw: str, today: date) -> date:
    """A date that may lie ahead (the end of a validity period).

    Registries often write a licence without end (长期) as 9999-12-31, or as the word itself; here it has no end
    date, and the refusal says so instead of only calling the value implausible or no date.
    """
    try:
        return _date(raw)
    except ValueProblem as problem:
        written = iso_date(raw)
        far = written is not None and written > LATEST_DATE.isoformat()
        if far or any(word in raw for word in ENDLESS_WORDS):
            raise ValueProblem(f"{problem}; leave it empty when there is no end date (长期)") from None
        raise


def _decimal(raw: str, pattern: re.Pattern[str], form: str) -> Decimal:
    """A number in ASCII digits, or typed in full width (１００．５) as dates and codes may be: ``\\d`` took the
    full-width digits but not the full-width point, and digits of any other script as the number they stand for."""
    value = ascii_form(raw)
    if not pattern.fullmatch(value):
        raise ValueProblem(f"{quoted(raw)} is not a decimal number ({form})")
    return canonical_decimal(Decimal(value))


def canonical_decimal(value: Decimal) -> Decimal:
    """The shortest exact form (100.50 → 100.5, -0 → 0), so equal amounts compare and print equal."""
    return Decimal(format((value + 0).normalize(), "f"))


def amount(raw: str, today: date) -> Decimal:
    """A non-negative amount (registered capital, 万元).

    A spreadsheet's number formatted with thousands separators leaves its CSV export as 1,000.00, and a licence
    prints 注册资本 100万元: both were refused "is not a decimal number (digits with at most 6 decimals)", which did
    not say what was wrong with either. The first is read as the number it writes (as Verify reads a claimed
    1,000.00); the second is named: the item holds the number of 万元 alone (100万元 is 100, 5亿元 is 50000)."""
    text = ascii_form(raw)
    if _GROUPED_AMOUNT.fullmatch(text):
        text = text.replace(",", "")
    elif (unit := _AMOUNT_WITH_UNIT.fullmatch(text)) is not None:
        raise ValueProblem(f"{quoted(raw)} carries the unit {unit[1]}: give the number of 万元 alone, without a unit "
                           "(100万元 is 100, 5亿元 is 50000, 100000元 is 10)")
    value = _decimal(text, _AMOUNT, "digits with at most 6 decimals")
    if value < 0:
        raise ValueProblem("must not be negative")
    if value > MAX_AMOUNT:
        raise ValueProblem(f"must be at most {MAX_AMOUNT}")
    return value


def _coordinate(bounds: tuple[Decimal, Decimal], what: str) -> Parser:
    def parse(raw: str, today: date) -> Decimal:
        value = _decimal(raw, _COORDINATE, "degrees with at most 8 decimals")
        if not bounds[0] <= value <= bounds[1]:
            raise ValueProblem(f"{raw} is outside China ({what} {bounds[0]} to {bounds[1]})")
        return value

    return parse


longitude = _coordinate(LONGITUDE_RANGE, "longitude")
latitude = _coordinate(LATITUDE_RANGE, "latitude")


# ---- record checks: relations between the items of one record ------------------------------------------------------


def person_matches_id(values: Mapping[str, object], today: date) -> Iterator[str]:
    """Birth date and sex are encoded in the 公民身份号码; a record must agree with its own key."""
    number = values.get("citizen_id")
    if not isinstance(number, str):
        return
    birth = values.get("birth_date")
    if isinstance(birth, date) and birth.isoformat() != (encoded := identifiers.birth_date_of(number)):
        yield f"birth_date: {birth.isoformat()} differs from the date in citizen_id ({encoded})"
    sex = values.get("sex")
    if isinstance(sex, str) and sex != (encoded := identifiers.sex_of(number)):
        yield f"sex: {sex} differs from the sex encoded in citizen_id ({encoded})"


def validity_period_ordered(values: Mapping[str, object], today: date) -> Iterator[str]:
    issued, until = values.get("issue_date"), values.get("valid_until")
    if isinstance(issued, date) and isinstance(until, date) and until < issued:
        yield f"valid_until: {until.isoformat()} is before issue_date {issued.isoformat()}"


def holder_born_before_issue(values: Mapping[str, object], today: date) -> Iterator[str]:
    """A licence is issued to a person who was born by then (the birth date is in the 公民身份号码)."""
    holder, issued = values.get("holder_id"), values.get("issue_date")
    if (isinstance(holder, str) and isinstance(issued, date) and identifiers.citizen_id_error(holder) is None
            and (born := identifiers.birth_date_of(holder)) > issued.isoformat()):
        yield f"issue_date: {issued.isoformat()} is before the holder's birth date {born} (in holder_id)"


def regions_in_force(*items: str, closed: tuple[str, ...] = ()) -> RecordCheck:
    """The region codes of a record as it is now (an address, a place, a division) are in force today.

    The parser accepts any code of the table, abolished ones included, so that a record loaded before its
    region was abolished can still be looked up by its key; a load asserting it now is refused. A record whose
    status is one of ``closed`` (a person who died, moved out or was struck off) is not as it is now: its
    address is the last one it had, which no later change of the divisions rewrites.
    """

    def check(values: Mapping[str, object], today: date) -> Iterator[str]:
        if values.get("status") in closed:
            return
        for item in items:
            value = values.get(item)
            if isinstance(value, str) and (error := identifiers.region_code_retired_error(value, today.year)):
                yield f"{item}: {error}"

    return check


REGION_LEVELS = ("省级", "地级", "县级")


def region_level_of(code: str) -> str:
    """The level a GB/T 2260 code's shape gives: XX0000 province, XXXX00 prefecture, else county."""
    if code.endswith("0000"):
        return "省级"
    if code.endswith("00"):
        return "地级"
    return "县级"


def region_hierarchy(values: Mapping[str, object], today: date) -> Iterator[str]:
    """Level follows the code's shape; the parent is the province or prefecture the code lies in."""
    code_value = values.get("region_code")
    if not isinstance(code_value, str):
        return
    level = region_level_of(code_value)
    if "level" in values and values["level"] != level:
        yield f"level: {values['level']} does not match region_code {code_value} (a {level} code)"
    parent = values.get("parent_code")
    if level == "省级":
        if parent:
            yield f"parent_code: a province ({code_value}) has no parent, got {parent}"
        return
    if not parent:
        yield f"parent_code: required for a {level} region"
        return
    allowed = {code_value[:2] + "0000"} if level == "地级" else {code_value[:2] + "0000", code_value[:4] + "00"}
    if parent not in allowed:
        yield f"parent_code: {parent} is not a region containing {code_value} (expected {' or '.join(sorted(allowed))})"


# ---- one record ----------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class CheckedRecord:
    """The outcome of validating one input row."""

    #: The key as stored (canonical) when it parsed, else as given.
    key: str
    #: Item -> typed value; complete only when ``problems`` is empty.
    values: dict[str, object] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def validate_record(dataset: Dataset, raw: Mapping[str, str], today: date | None = None) -> CheckedRecord:
    """Parses and checks one row, collecting every problem (``item: reason``)."""
    today = today or china_today()
    raw, shape_problems = _as_read(raw)
    said = {problem.partition(":")[0] for problem in shape_problems}  # an item not read is not also "required"
    raw = _without_byte_order_mark(raw)
    checked = CheckedRecord(key=_shown(str(raw.get(dataset.key_item, ""))), problems=shape_problems)
    # A column without a name holding nothing is no item: a file whose every line ends with a comma (as some
    # exports write them) has one under an empty header, and every record was rejected for ": unknown item".
    nameless = [name for name in raw if not name.strip()]
    if any(raw[name].strip() for name in nameless):
        checked.problems.append("a value stands in a column without a name (the header line has no name there: "
                                "name the column, or remove the value)")
    # The dataset's items are named once a row: a file under other column headers (公民身份号码, 姓名, …) has every
    # row rejected, and naming them for each header made 5,000 rows' reasons larger than a gRPC client takes (4 MiB).
    for position, name in enumerate(sorted(set(raw) - dataset.item_names - set(nameless))):
        known = f" (this dataset has {', '.join(dataset.item_order)})" if position == 0 else ""
        checked.problems.append(f"{_shown_name(name)}: unknown item{_meant(name, dataset.item_names)}{known}")
    for item in dataset.items:
        value = raw.get(item.name, "").strip()
        if not value and item.name in said:
            continue
        if not value:
            if item.required:
                checked.problems.append(f"{item.name}: required")
            continue
        try:
            checked.values[item.name] = item.parse(value, today)
        except ValueProblem as problem:
            checked.problems.append(f"{item.name}: {problem}")
    for check in dataset.record_checks:
        checked.problems.extend(check(checked.values, today))
    key = checked.values.get(dataset.key_item)
    if isinstance(key, str):
        checked.key = key
    return checked


BYTE_ORDER_MARK = "\ufeff"
#: Lone surrogates: what Python reads bytes that are not UTF-8 as, with errors="surrogateescape".
_SURROGATES = re.compile("[\ud800-\udfff]")


def _as_read(raw: Mapping[Any, Any]) -> tuple[Mapping[str, str], list[str]]:
    """The row's text items, and what is wrong with the shape of a line read by ``csv.DictReader``.

    The bulk loader takes any mapping, and a CSV file's reader gives a line with more values than the header
    holds the rest as a list under the name None, and one with fewer gives None for the missing columns: a
    record so shaped stopped the whole load (AttributeError in the reading thread), the batches after it never
    read. Such a line is now that record's rejection, saying which; the values are not quoted (personal data).
    """
    if all(isinstance(name, str) and isinstance(value, str) for name, value in raw.items()):
        undecoded = sorted(name for name, value in raw.items() if _SURROGATES.search(value))
        if not undecoded:
            return raw, []
        # A file read with errors="surrogateescape" keeps the bytes that are not UTF-8 as lone surrogates.
        return {n: v for n, v in raw.items() if n not in undecoded}, [
            f"{name}: holds bytes that are not UTF-8 (a file saved as GBK or ANSI: save it as UTF-8)"
            for name in undecoded]
    problems: list[str] = []
    extra = raw.get(None)
    if extra is not None:
        count = len(extra) if isinstance(extra, list) else 1
        problems.append(f"the line has {count} value{'s' if count > 1 else ''} more than the header has columns "
                        "(a value holding a comma must be in double quotes)")
    short = [str(name) for name, value in raw.items() if name is not None and value is None]
    if short:
        problems.append(f"the line ends before the column{'s' if len(short) > 1 else ''} {', '.join(short)} "
                        "(a value holding a line break must be in double quotes)")
    others = sorted(str(name) for name, value in raw.items()
                    if name is not None and value is not None and not isinstance(value, str))
    if others:
        problems.append(f"{', '.join(others)}: not text (give every value as a string)")
    return {name: value for name, value in raw.items()
            if isinstance(name, str) and isinstance(value, str)}, problems


def _without_byte_order_mark(raw: Mapping[str, str]) -> Mapping[str, str]:
    """The row with a byte order mark dropped from the start of its item names and values.

    Excel saves "CSV UTF-8" with one, and a file read as plain UTF-8 keeps it in front of its first column's
    header: every row of a 10^5-row file was rejected for an unknown item ``\ufeffcitizen_id`` and a missing
    ``citizen_id``. The mark is never part of a name or a value.
    """
    if not any(name.startswith(BYTE_ORDER_MARK) or value.startswith(BYTE_ORDER_MARK) for name, value in raw.items()):
        return raw
    read: dict[str, str] = {}
    for name, value in raw.items():
        bare = name.lstrip(BYTE_ORDER_MARK)
        read[bare if bare not in raw else name] = value.lstrip(BYTE_ORDER_MARK)
    return read


def _shown_name(name: str) -> str:
    """An unknown item's name as given, quoted when blanks around it would not show (``'citizen_id ': …``)."""
    return repr(_shown(name)) if name != name.strip() else _shown(name)


def _meant(name: str, items: frozenset[str] | set[str]) -> str:
    """The item an unknown name stands for but for blanks around it or capitals (a spreadsheet's column header
    ``citizen_id `` or ``Name``), as a hint: the reason read "citizen_id : unknown item" and "citizen_id:
    required" side by side, and the data officer could not see what differed."""
    bare = name.strip().lower()
    if bare != name and bare in items:
        return f": did you mean {bare}? (item names are read exactly: lower case, no blanks around them)"
    return ""


def _shown(name: str) -> str:
    """Input echoed back in a reason (an unknown item, a bad key): bounded and printable."""
    shown = name if name.isprintable() else name.encode("unicode_escape").decode("ascii")
    return shown if len(shown) <= 64 else shown[:61] + "..."
