"""What a caller may see of a record: projection to the granted items, masking, verification.

A decision is turned into a *plan* once (item → mask rule or None) and the plan
is applied to every record it covers, so per-query work is one pass over the
granted items.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation

from govshare.catalog.v1 import catalog_pb2
from govshare.query.v1 import query_pb2
from services.query.keys import CODE_KINDS, IME_ZERO, key_error, normalize_key
from services.runtime import code_tables, errors
from services.runtime.identifiers import second_generation
from services.runtime.masking import Masker
from services.runtime.workdays import CHINA

# (item machine name, mask rule or None) for every item a caller receives.
Plan = tuple[tuple[str, str | None], ...]

MATCH = query_pb2.VERIFY_OUTCOME_MATCH
MISMATCH = query_pb2.VERIFY_OUTCOME_MISMATCH
NO_RECORD = query_pb2.VERIFY_OUTCOME_NO_RECORD
NO_VALUE = query_pb2.VERIFY_OUTCOME_NO_VALUE
# The ways a date is written at a desk: 2009-08-30 (the record's), 2009/8/30, 2009.08.30, 20090830, and
# 2009年8月30日 as a business licence or an ID card prints it.
# The separator of a name's parts (买买提·艾力, GB 11643's 间隔号 U+00B7, the one 民委发〔2016〕33号 asks every
# system to store) as other keyboards, fonts and systems give it: a bullet, a hyphenation point, the katakana middle
# dot (NFKC's form of the half-width one), operator dots, and the black circle some banks' systems put there.
# And the hyphen of an address's 3-2-101室, a date's 1949-11-06 or a negative number as a document gives it: Word's
# autocorrect makes it an en dash between numbers, web pages and PDFs a hyphen (U+2010), a figure dash, an em dash or
# a minus sign (a full-width － is NFKC's hyphen already). Each was 不一致 of the record's 3-2-101室.
_NAME_DOTS = "\u2022\u2027\u2219\u22c5\u25cf\u2e31\u30fb\ua78f"
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58"
_SEPARATORS = str.maketrans({**dict.fromkeys(_NAME_DOTS, "\u00b7"), **dict.fromkeys(_DASHES, "-")})
# Blanks beside a Han character (or a name's separator dot): 武 文辉 typed at a desk is 武文辉, no Chinese name
# holds a space; and 滨河路 519 号, as many type digits and Latin letters within Chinese text (the blank typesetting
# puts there), is the record's 滨河路519号. Between Latin letters or digits a blank still counts (John Smith is
# not JohnSmith, 5 19 not 519).
# Planes 2 and 3 hold nothing but CJK ideographs: the extensions Unicode adds there (H, U+31350…, I, U+2EBF0…) are
# Han characters as much as Extension B's.
_IDEOGRAPHS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff"
_HAN = _IDEOGRAPHS + "\u00b7"
_BLANKS_BESIDE_HAN = re.compile(f"(?<=[{_HAN}])\\s+|\\s+(?=[{_HAN}])")
# A full stop between two Han characters (买买提.艾力, 买买提．艾力, 买买提。艾力) is the separator typed
# where a keyboard has no 间隔号, and as many departments' systems store it (why 民委发〔2016〕33号 asks
# them to store ·): a record held so answered 不一致 to the desk that typed the name off the ID card. No
# Chinese word has a full stop between two of its characters; between digits or Latin letters (1.5, No.3) it stays.
_STOP_BETWEEN_HAN = re.compile(f"(?<=[{_IDEOGRAPHS}])\\s*[.\u3002]\\s*(?=[{_IDEOGRAPHS}])")
# 号 for 日 (2015年9月5号), as the day is said and as many type it.
_DATE_FORMS = (re.compile(r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})"), re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})[日号]"),
               re.compile(r"(\d{4})(\d{2})(\d{2})"))
# A date written with its year last (05/09/2015, 5.9.2015, 09-05-2015), as a system set to an English or European
# locale gives one (Excel, Java's DateFormat.SHORT): whether 05/09 is 5 September or 9 May it does not say, and it was
# compared as text, 不一致 of the record's 2015-09-05 whichever the desk meant.
_YEAR_LAST = re.compile(r"\d{1,2}([-/.])\d{1,2}\1\d{4}")
# Digits as a Chinese input method gives them: 〇 (U+3007, typed for ``ling``) for zero among Arabic digits
# (2〇15-9-5, ２〇〇), and the digits of a date written in Chinese numerals (二〇一五年九月五日), as certificates and
# official letters date themselves.
_HAN_DIGITS = "〇一二三四五六七八九"
# A number written with its thousands grouped (1,000.00; a full-width ， is NFKC's comma): as licences and
# statements print amounts.
_GROUPED_NUMBER = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
# A date as a calling system sends a date column (java.util.Date, a DATETIME, LocalDateTime): with a time after a
# blank, T or 日 (2015-09-05 00:00:00, 2015-09-05T00:00, 2015-09-05 00:00:00.0) and perhaps an offset (Z, +08:00,
# +0800). Only a midnight is a date: a midnight as written, or a moment that is midnight in China's civil time
# (2015-09-04T16:00:00Z, a Shanghai date sent in UTC), whose day the record's dates are in; another time of day
# names a moment, not the day the item records, and is compared as written.
_TIME_OF_DAY = re.compile(r"(?:T|\s+|(?<=[日号]))(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
                          r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?\Z", re.IGNORECASE)
# An amount of money as a business licence or a statement prints it (an item whose unit is money, 注册资本(万元)):
# the currency named before (人民币200万元, ¥200, NFKC's form of ￥, RMB 200) or after it (200万元人民币), and 整,
# "exactly", at its end (200万元整); 元 left out after the unit's multiplier (200万, as a desk writes it).
_YUAN = "元"
_WHOLE = "整"
_CURRENCY_BEFORE = ("人民币", "¥", "rmb", "cny")
_CURRENCY_AFTER = ("人民币", "rmb", "cny")
# How many 元 each unit of money counts (万元: ten thousand), by its multiplier before 元: an amount claimed in one
# (2000000元, 2,000,000.00元 as a 验资报告 or a bank statement prints it, 0.02亿元) is the record's 200 of
# 注册资本(万元).
_YUAN_MULTIPLES = {"": 1, "千": 1000, "万": 10_000, "百万": 1_000_000, "千万": 10_000_000, "亿": 100_000_000}
_AMOUNT = re.compile(r"(.*?)\s*(百万|千万|千|万|亿)?(元)?")
# A time of day as Chinese documents write it (GB/T 7408's 时 分 秒, 時 as a traditional text has it): 10时30分,
# 10时30分15秒, after a date (2020年1月5日10时30分).
_HAN_TIME = re.compile(r"(\d{1,2})[时時](\d{1,2})分(?:(\d{1,2})秒)?\Z")
_ARABIC_DIGIT = re.compile("[0-9]")
# A telephone number as forms and systems write one: digits, perhaps a + before them, grouped by blanks, hyphens,
# dots or brackets (NFKC's forms of full-width ones).
_PHONE_WRITTEN = re.compile(r"(?:\(?\+)?[0-9() .\-]*[0-9][0-9() .\-]*")
_MOBILE_DIGITS = re.compile(r"1[3-9][0-9]{9}")
# A landline in the international form (+86 10 8765 4321, +86 571 8765 4321, 0086 …): the area code without the
# trunk 0 China's own form dials (010, 0571), then the subscriber's 7 or 8 digits.
_LANDLINE_ABROAD = re.compile(r"[1-9][0-9]{8,10}")
_DIALLED_ABROAD = ("+", "(+", "00")
_CHINA_CALLING_CODES = ("0086", "86")
#: The 族 of a 民族's name (汉族), which the 居民身份证 leaves out (汉).
_CLAN = "族"
#: The 性 of GB/T 2261.1's names of the sexes (男性, 女性), which the 居民身份证 and the code table leave out (男).
_SEX_SUFFIX = "性"
# How a 逻辑型 (logical) value is written: true/false as a department's 前置机 sends a boolean (t/f as PostgreSQL
# prints one), 1/0, Y/N, yes/no, and 是/否 as a desk says it (casefolded: TRUE, Yes).
_TRUTHS = {**dict.fromkeys(("true", "t", "1", "y", "yes", "是"), True),
           **dict.fromkeys(("false", "f", "0", "n", "no", "否"), False)}
_BLANK = re.compile(r"\s")
# Blanks between Latin letters or digits as one blank, however many and whichever (two spaces, a tab): a name typed
# JOHN  SMITH, or held so in a CHAR column padded between its parts, is the JOHN SMITH the other side shows.
_BLANK_RUN = re.compile(r"\s{2,}|[^\S ]")
_HAN_DATE = re.compile(f"([{_HAN_DIGITS}]{{4}})年([{_HAN_DIGITS}十]{{1,3}})月([{_HAN_DIGITS}十]{{1,3}})[日号]")


def make_plan(allowed_items: Iterable[str], masks: Mapping[str, str]) -> Plan:
    """The projection of a decision: each allowed item once, with its mask rule if it is returned masked."""
    seen: set[str] = set()
    plan: list[tuple[str, str | None]] = []
    for item in allowed_items:
        if item not in seen:
            seen.add(item)
            plan.append((item, masks.get(item) or None))
    return tuple(plan)


def project(values: Mapping[str, str], plan: Plan, masker: Masker) -> tuple[dict[str, str], list[str]]:
    """The planned items the record has, masked by rule, and the names of those returned masked. A masked
    公民身份号码 beside its holder's birth date in clear keeps no tail (:func:`masked_beside`)."""
    out: dict[str, str] = {}
    masked: list[str] = []
    for item, rule in plan:
        value = values.get(item)
        if value is None:
            continue
        if rule is None:
            out[item] = value
        else:
            out[item] = masker.mask(value, rule)
            masked.append(item)
    for item in masked:
        value = values[item]
        if _birth_digits(value) is not None:  # rare: only a masked value shaped as an ID number is looked at again
            out[item] = masked_beside(value, dict(plan)[item] or "", out, masker)
    return out, masked


def _birth_digits(value: str) -> str | None:
    """The YYYYMMDD a 公民身份号码 (18 characters, or a first-generation 15 digits) encodes, else None."""
    text = value.strip()
    if len(text) == 18 and text[:17].isdigit():
        return text[6:14]
    if len(text) == 15 and text.isdigit():
        return "19" + text[6:12]
    return None


def masked_beside(value: str, rule: str, answer: Mapping[str, str], masker: Masker) -> str:
    """``value`` masked by ``rule`` as it goes out beside ``answer``'s values: when ``value`` is a 公民身份号码 and
    one of them is its holder's birth date in clear, without the characters the rule keeps at its end.

    The default rule (6,4: 110105********002X) hides exactly the eight digits of the birth date, so an export (or a
    record) that gave the number masked and the birth date in clear gave the number whole: its region, its birth
    date and its last four, read side by side. The tail (the sequence and the check character) goes then, and the
    number cannot be put together again (110105************)."""
    birth = _birth_digits(value)
    if birth is not None and any(day.strftime("%Y%m%d") == birth for day in _clear_days(value, answer)):
        return masker.mask_head_only(value, rule)
    return masker.mask(value, rule)


def _clear_days(masked: str, answer: Mapping[str, str]) -> Iterator[date]:
    """The days ``answer``'s values write in clear (a masked value holds a ``*``, and ``masked`` is the ID itself)."""
    for value in answer.values():
        if value != masked and "*" not in value and (day := day_of(value)) is not None:
            yield day


def key_mask_rule(plan: Plan, key_item: str, catalog_rule: str | None) -> str | None:
    """The mask rule of an export row's key, which is the key item's value (a 公民身份号码): the key item's rule
    in the plan when the caller receives that item (None when the grant returns it unmasked), else the catalog's
    rule for it, so a key never shows more than the item itself would."""
    for item, rule in plan:
        if item == key_item:
            return rule
    return catalog_rule


def normalize_claim(value: str) -> str:
    """The form values are compared in: compatibility-normalised (full-width digits and letters typed
    at a desk become ASCII), trimmed, without blanks beside Han characters, a name's separator dot as the
    间隔号 ``·`` whichever dot was typed (a full stop too, between Han characters), a dash as the hyphen ``-``
    (3–2–101室 copied from a document), and Latin letters in one case (casefold).

    Case tells nothing apart in what a catalog's items hold (names, addresses, licence numbers, an ID number's
    check character ``x``): a foreigner's name is held as the passport and the 永久居留身份证 print it, JOHN SMITH,
    and a desk types John Smith; a company's 北京ABC科技 is typed 北京abc科技. Han characters have no case. Blanks
    count as one blank however many (JOHN  SMITH typed with two, a tab between a room's Room and 301): they were
    不一致 of the one blank the record holds, which nobody sees apart.

    Characters that show nothing (Unicode's format characters: a zero-width space or joiner, a byte order mark, a
    soft hyphen, a left-to-right mark) are left out. A claim holding one is refused before (claim_error names it),
    but a record is the department's as it is: a name its clerk pasted from a web page or a Word document carries
    them unseen, a table loaded from a CSV file saved with a BOM holds one before its first column's values, and
    武文辉 claimed of such a record was 不一致 of the 武文辉 the desk saw on both sides."""
    text = unicodedata.normalize("NFKC", value)
    if not text.isprintable():  # rare: only then is each character's category read
        text = "".join(character for character in text if unicodedata.category(character) != "Cf")
    text = _BLANK_RUN.sub(" ", text.strip().translate(_SEPARATORS))
    return _BLANKS_BESIDE_HAN.sub("", _STOP_BETWEEN_HAN.sub("\u00b7", text)).casefold()


def same_value(claimed: str, actual: str) -> bool:
    """Whether a claimed value agrees with the provider's (一致)."""
    return claimed == actual or normalize_claim(claimed) == normalize_claim(actual)


def same_number(claimed: str, actual: str, unit: str = "") -> bool:
    """Whether a claimed number equals the provider's however each is written (200, 200.00, ２００): a desk
    copies 注册资本 200.00万元 off a licence while the record holds 200. ``unit``: the one the item's name declares
    (注册资本(万元)), which the claim may carry after the number; another unit (200元) is no number of it."""
    try:
        if (in_yuan := _in_yuan(claimed, unit)) is not None:
            claimed_number, actual_number = in_yuan, Decimal(_number_text(actual)) * _YUAN_MULTIPLES[unit[:-1]]
        else:
            claimed_number = Decimal(_number_text(_without_unit(claimed, unit)))
            actual_number = Decimal(_number_text(actual))
        return claimed_number.is_finite() and actual_number.is_finite() and claimed_number == actual_number
    except (InvalidOperation, ValueError):
        return False


def _in_yuan(claimed: str, unit: str) -> Decimal | None:
    """The amount ``claimed`` writes, in 元, when ``unit`` is a unit of money (元, 万元, 亿元, …): written in that
    unit, in none (the item's), or in another (2000000元 of 注册资本(万元), as a 验资报告 or a bank statement gives
    the capital a licence prints as 200万元; it was 不一致 of the record's 200), with the currency and 整 around it
    (_without_currency) and a multiplier's 元 left out (200万). None for an item of another unit, or a claim that
    writes no such amount (compared as _without_unit reads it)."""
    if not unit.endswith(_YUAN) or (unit_multiple := _YUAN_MULTIPLES.get(unit[:-1])) is None:
        return None
    found = _AMOUNT.fullmatch(_without_currency(normalize_claim(claimed)))
    if found is None or not found[1]:
        return None
    number, multiplier, yuan = found.groups()
    # Neither written: the item's own unit (200 of 万元); 200万 is 万元 with its 元 left out.
    multiple = unit_multiple if multiplier is None and yuan is None else _YUAN_MULTIPLES[multiplier or ""]
    return Decimal(_number_text(number)) * multiple


def _without_unit(value: str, unit: str) -> str:
    """``value`` without ``unit`` written after its number (200.00万元, 200 万元), if it ends so; for a unit of
    money, also without the currency and 整 a licence prints around an amount (_without_currency), and with the
    unit's 元 left out after its multiplier (200万 of 万元)."""
    text = normalize_claim(value)
    unit = normalize_claim(unit)
    if not unit:
        return text
    if unit.endswith(_YUAN):
        text = _without_currency(text)
    for written in (unit, unit.removesuffix(_YUAN)):
        if written and text.endswith(written):
            return text.removesuffix(written).rstrip()
    return text


def _without_currency(text: str) -> str:
    """An amount (normalised) without the currency named before or after it (人民币200万元, 200万元人民币, ¥200,
    RMB 200) and the 整 after it (200万元整), as licences and statements print amounts: each was told 不一致 of
    the record's 200. Each is taken off once, so 200整整 is still no number."""
    for word in _CURRENCY_BEFORE:
        if text.startswith(word):
            text = text.removeprefix(word).lstrip()
            break
    for word in _CURRENCY_AFTER:
        if text.endswith(word):
            text = text.removesuffix(word).rstrip()
            break
    return text.removesuffix(_WHOLE).rstrip()


def _number_text(value: str) -> str:
    """``value`` as Decimal reads a number: 〇 as 0 and, when its thousands are grouped by commas (a desk copies
    注册资本 1,000.00 off a statement), without them; a comma anywhere else is left there, and refused."""
    text = normalize_claim(value).translate(IME_ZERO)
    return text.replace(",", "") if _GROUPED_NUMBER.fullmatch(text) else text


def _han_number(text: str) -> int | None:
    """The number 0-99 that Chinese numerals write (九, 〇九, 十, 十二, 二十, 三十一), else None."""
    text = text.lstrip("〇") or "〇"
    tens, _, units = text.rpartition("十")
    if "十" not in text:
        return _HAN_DIGITS.index(text) if len(text) == 1 else None
    if len(tens) > 1 or len(units) > 1 or not set(tens + units) <= set(_HAN_DIGITS[1:]):
        return None
    return (_HAN_DIGITS.index(tens) if tens else 1) * 10 + (_HAN_DIGITS.index(units) if units else 0)


def _arabic_date(text: str) -> str:
    """``text`` with a date in Chinese numerals (二〇一五年九月五日) written in Arabic ones (2015年9月5日), and
    any other 〇 read as the zero it was typed for."""
    found = _HAN_DATE.fullmatch(text)
    if found is not None:
        year = "".join(str(_HAN_DIGITS.index(digit)) for digit in found[1])
        month, day = _han_number(found[2]), _han_number(found[3])
        if month is not None and day is not None:
            return f"{year}年{month}月{day}日"
    return text.translate(IME_ZERO)


def date_of(value: str) -> date | None:
    """The date ``value`` writes in one of the desk's forms (blanks and full-width digits allowed), else None."""
    written = _date_fields(value)
    return _day(written) if written is not None else None


def _day(written: tuple[int, int, int]) -> date | None:
    """The day of (year, month, day), or None when the calendar has none (2015-02-30, 2015-13-05)."""
    try:
        return date(*written)
    except ValueError:
        return None


def _date_fields(value: str) -> tuple[int, int, int] | None:
    """The year, month and day ``value`` writes in one of the desk's forms, whether or not the calendar has that
    day, else None."""
    text = _arabic_date("".join(normalize_claim(value).split()))
    for form in _DATE_FORMS:
        if (found := form.fullmatch(text)) is not None:
            year, month, day = (int(part) for part in found.groups() if part.isdigit())
            return year, month, day
    return None


def day_of(value: str) -> date | None:
    """The day ``value`` writes: a date in one of the desk's forms (date_of), or one a calling system sent with a
    midnight after it (2015-09-05 00:00:00, 2015-09-05T00:00:00+08:00, 2015-09-04T16:00:00Z), else None."""
    text = _timed_text(value)
    if _TIME_OF_DAY.search(text) is None:
        return date_of(value)
    written = _written_moment(text)
    if written is None:
        return None
    moment, zone = written
    if moment.time() == time():
        return moment.date()
    in_china = _in_china(moment, zone) if zone is not None else None
    return in_china.date() if in_china is not None and in_china.time() == time() else None


def moment_of(value: str) -> datetime | None:
    """The moment ``value`` writes as a date and a time of day (2020-01-05 10:00:00, 2020年1月5日 10:00,
    2020-01-05T02:00:00Z), in China's time when it gives no offset (a DATETIME column, a desk), else None."""
    written = _written_moment(_timed_text(value))
    if written is None:
        return None
    moment, zone = written
    return _in_china(moment, zone) if zone is not None else moment.replace(tzinfo=CHINA)


def _timed_text(value: str) -> str:
    """``value`` normalised (normalize_claim), a time of day written in Chinese (10时30分, 10时30分15秒: certificates,
    notices and receipts date a moment so) written as _TIME_OF_DAY reads one (10:30, 10:30:15)."""
    text = normalize_claim(value)
    found = _HAN_TIME.search(text)
    if found is None:
        return text
    hours, minutes, seconds = found.groups()
    clock = f"{hours}:{int(minutes):02d}" + (f":{int(seconds):02d}" if seconds else "")
    return text[:found.start()] + clock


def _written_moment(text: str) -> tuple[datetime, str | None] | None:
    """The date and time of day ``text`` (normalised) writes, and the offset written after them, else None."""
    found = _TIME_OF_DAY.search(text)
    if found is None:
        return None
    day = date_of(text[:found.start()])
    hours, minutes, seconds, fraction, zone = found.groups()
    if day is None or not (int(hours) < 24 and int(minutes) < 60 and int(seconds or 0) < 60):
        return None
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    return datetime.combine(day, time(int(hours), int(minutes), int(seconds or 0), micros)), zone


def _in_china(moment: datetime, zone: str) -> datetime | None:
    """``moment``, written with the offset ``zone``, in China's time; None when no such moment can be held."""
    try:
        return moment.replace(tzinfo=_offset(zone)).astimezone(CHINA)
    except (ValueError, OverflowError):  # an offset of a day or more (+99:00), or a moment beyond year 9999
        return None


def same_moment(claimed: str, actual: str) -> bool:
    """Whether a claimed date and time is the provider's moment however each is written: a 日期时间型 item leaves a
    department's 前置机 as 2020-01-05T10:00:00+08:00, and a calling system claims its DATETIME column's
    2020-01-05 10:00:00 (China's time), another system the same moment in UTC."""
    claimed_moment = moment_of(claimed)
    return claimed_moment is not None and claimed_moment == moment_of(actual)


def _offset(zone: str) -> timezone:
    """The UTC offset ``zone`` writes (Z, +08:00, +0800, -05)."""
    if zone.upper() == "Z":
        return UTC
    digits = zone[1:].replace(":", "")
    delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
    return timezone(-delta if zone[0] == "-" else delta)


def truth_of(value: str) -> bool | None:
    """The yes or no a logical value writes (true, 是, 1, Y; false, 否, 0, N), else None."""
    return _TRUTHS.get(normalize_claim(value))


def same_truth(claimed: str, actual: str) -> bool:
    """Whether a claimed yes or no is the provider's however each is written: a 逻辑型 item leaves a department's
    前置机 as true/false, and a desk claims 是 or 否."""
    claimed_truth = truth_of(claimed)
    return claimed_truth is not None and claimed_truth == truth_of(actual)


def claim_error(claimed: str, code_kind: int = 0, is_date: bool = False, is_number: bool = False,
                is_logical: bool = False) -> str | None:
    """Why ``claimed`` is no value of its item's type, or None: a 公民身份号码, 统一社会信用代码 or 行政区划代码
    (``code_kind``, the item's identifier kind) that is no valid code, read as the key is (and written in groups,
    or in its first-generation 15 digits, as a claim may be); a date (``is_date``) written in a desk's form that
    the calendar does not have (2015-02-30), or with its year last (05/09/2015: 5 September or 9 May?); a number
    (``is_number``) written without a digit (贰佰万元整); a yes or no (``is_logical``, a 逻辑型 item) written as
    neither (truth_of).

    Such a claim was told 不一致 as if the record disagreed, when it was never compared: the desk mistyped it. Read
    from the claim alone, so the refusal tells nothing of the record. A word in a date item (长期, as 有效期至
    holds for a licence without end) may be what the record holds, and is compared as written.

    Any claim holding a character nobody sees (a zero-width space, a direction mark, a byte order mark, copied
    with a name from a web page or a document) is refused naming it and where: it was 不一致 of the record the
    desk saw typed. Blanks are not such characters (they are compared as normalize_claim says)."""
    if (hidden := errors.invisible_character(_BLANK.sub(" ", claimed))) is not None:
        return hidden
    if code_kind in CODE_KINDS:
        return _code_claim_error(code_kind, claimed)
    if is_date and (written := _date_fields(_without_time_of_day(claimed))) is not None and _day(written) is None:
        return "is no day of the calendar: claim the date as the document gives it, as 2015-09-05 or 2015年9月5日"
    if is_date and _YEAR_LAST.fullmatch("".join(_without_time_of_day(claimed).split())):
        return ("writes the year last, so its day and month could be read either way (05/09 is 5 September or 9 May):"
                " claim the date year first, as 2015-09-05 or 2015年9月5日")
    if is_number and _ARABIC_DIGIT.search(normalize_claim(claimed).translate(IME_ZERO)) is None:
        return "is not a number: claim it in Arabic digits, as 200 or 200.00 (followed or not by the item's unit)"
    if is_logical and truth_of(claimed) is None:
        return "is neither yes nor no: claim a logical item as 是 or 否 (true or false, 1 or 0, Y or N)"
    return None


def _code_claim_error(kind: int, claimed: str) -> str | None:
    """Why a claimed code of ``kind`` is no valid one (keys.key_error), read as same_code and same_citizen_id
    read it: without blanks, its first-generation 15 digits as the number they became."""
    code = normalize_key(kind, "".join(claimed.split()))
    if kind == catalog_pb2.IDENTIFIER_KIND_CITIZEN_ID:
        code = second_generation(code) or code
    return key_error(kind, code)


def _without_time_of_day(value: str) -> str:
    """``value`` without the time of day a calling system sends a date column with (2015-09-05 00:00:00)."""
    text = _timed_text(value)
    found = _TIME_OF_DAY.search(text)
    return text[:found.start()] if found is not None else text


def same_date(claimed: str, actual: str) -> bool:
    """Whether a claimed date is the provider's however each is written: a desk copies 成立日期 2009年8月30日 off
    a licence, or 出生 1949年11月6日 off an ID card, and a calling system sends a date column with its midnight
    (2009-08-30 00:00:00), while the record holds 2009-08-30."""
    claimed_date = day_of(claimed)
    return claimed_date is not None and claimed_date == day_of(actual)


def same_ethnicity(claimed: str, actual: str) -> bool:
    """Whether a claimed 民族 is the provider's with or without its 族: the 居民身份证 prints 民族 汉 (蒙古, 维吾尔)
    while records hold GB/T 3304's names (汉族, 蒙古族, 维吾尔族, as the foundation's loader requires), so a desk
    copying the card was told 不一致 of every person it verified. Only the one 族 at the end is left out: 汉 is not
    汉族族, and no group's name is another's without it. A claim of the standard's number (01 for 汉族, as a
    calling system's database holds it) is the group it numbers."""
    claimed_name = code_tables.numbered(normalize_claim(claimed), code_tables.ETHNICITIES)
    actual_name = normalize_claim(actual)
    short, full = sorted((claimed_name, actual_name), key=len)
    return bool(short) and (short == full or (not short.endswith(_CLAN) and short + _CLAN == full))


def same_sex(claimed: str, actual: str) -> bool:
    """Whether a claimed 性别 is the provider's, a claim of GB/T 2261.1's number (1 for 男, 2 for 女) being the sex it
    numbers: many systems' databases hold the number (the foundation's loader names the sex it stands for), and a
    calling system claiming its 1 was told 不一致 of the record's 男. So is the standard's name of it, 男性 or 女性
    (as GB/T 2261.1 names its codes 1 and 2, and the systems built on it write them), either side: a claim of 男性
    was 不一致 of the record's 男, and 男 of a department's 前置机 column holding 男性."""
    return _sex_of(code_tables.numbered(normalize_claim(claimed), code_tables.SEXES)) == _sex_of(actual)


def _sex_of(value: str) -> str:
    """``value`` (a 性别) as compared (normalize_claim), 男性 and 女性, GB/T 2261.1's names, as the code table's 男
    and 女."""
    text = normalize_claim(value)
    stem = text.removesuffix(_SEX_SUFFIX)
    return stem if stem != text and stem in code_tables.SEXES else text


def same_entity_status(claimed: str, actual: str) -> bool:
    """Whether a claimed 登记状态 is the provider's in 企业信用信息公示系统's words: a desk copies the status off
    the system's page (存续（在营、开业、在册）, 吊销，未注销) or an older licence (在营), and each was 不一致 of the
    record's 存续 or 吊销, which the foundation's table holds."""
    return _entity_status_of(claimed) == _entity_status_of(actual)


def _entity_status_of(value: str) -> str:
    """``value`` (a 登记状态) as compared (normalize_claim, without blanks), a word of the publicity system's as the
    status of the foundation's table it names (code_tables.ENTITY_STATUS_WORDS)."""
    text = "".join(normalize_claim(value).split())
    return code_tables.ENTITY_STATUS_WORDS.get(text, text)


def same_phone(claimed: str, actual: str) -> bool:
    """Whether a claimed telephone number is the provider's however it is grouped: a form prints a mobile number as
    138 1234 5678 or 138-1234-5678 and a landline as 0571-87654321 or (0571)87654321, a calling system may keep China's
    +86 (0086) before a mobile number, and the record holds 13812345678; each was 不一致 (a blank between digits
    counts in other items). A landline written as dialled from abroad (+86 571 8765 4321, the area code's 0 left
    out, as a foreign-invested company registers it and a system storing E.164 numbers sends it) is the record's
    0571-87654321: it was 不一致, as was (+86)138 1234 5678. Only digits and those separators are read so; anything
    else (转 before an extension) is compared as written."""
    claimed_number, actual_number = _phone_digits(claimed), _phone_digits(actual)
    return claimed_number is not None and claimed_number == actual_number


def _phone_digits(value: str) -> str | None:
    """The digits of a telephone number written with blanks, hyphens, dots or brackets between them, a mobile number
    without the +86 or 0086 before it; None when ``value`` holds anything else."""
    text = normalize_claim(value)
    if _PHONE_WRITTEN.fullmatch(text) is None:
        return None
    digits = "".join(character for character in text if character.isdigit())
    for country in _CHINA_CALLING_CODES:
        if digits.startswith(country) and _MOBILE_DIGITS.fullmatch(digits.removeprefix(country)):
            return digits.removeprefix(country)
    if text.startswith(_DIALLED_ABROAD) and digits.startswith(("0086", "86")):
        # A landline written as dialled from abroad, with China's calling code: the area code's trunk 0 is left out
        # (+86 10 8765 4321 is 010-87654321), or kept in brackets (+86 (0)10 …), as the record never writes it.
        national = digits.removeprefix("00").removeprefix("86")
        if national.startswith("0"):
            return national
        if _LANDLINE_ABROAD.fullmatch(national):
            return "0" + national
    return digits


def same_code(claimed: str, actual: str) -> bool:
    """Whether a claimed 公民身份号码 or 统一社会信用代码 is the provider's in any case: their letters are upper
    case by standard, and a desk types them as the keyboard is set (the key ``…190c`` finds the record too).

    Blanks inside are dropped: a desk copies the number as a form or a letter prints it, in groups (``342322
    19491106 0454``), and was told 不一致 of the right number. A key so written is refused naming the space (a
    blank there may stand for a character left out), but a claim is compared whole: one missing a character
    is shorter than the record's and disagrees all the same."""
    return same_value(_code_text(claimed), _code_text(actual))


def _code_text(value: str) -> str:
    """A code as same_code compares it: without blanks, upper case, 〇 typed for zero read as 0 (as its key is:
    keys.normalize_key)."""
    return "".join(value.split()).upper().translate(IME_ZERO)


def same_citizen_id(claimed: str, actual: str) -> bool:
    """Whether a claimed 公民身份号码 is the provider's, either of them perhaps the first-generation 15-digit number
    the other became (GB 11643-1999: 19 before the year, the check character computed): a desk copies the number
    off an old document, or a department's table still holds it. The conversion is one to one (a 15-digit number
    becomes one 18-character number, whose year starts 19), so no other person's number agrees."""
    return _second_generation_text(claimed) == _second_generation_text(actual)


def _second_generation_text(value: str) -> str:
    """A 公民身份号码 as same_code compares it, a 15-digit one in the 18-character form it became."""
    text = normalize_claim(_code_text(value)).upper()
    return second_generation(text) or text


def verify(claims: Mapping[str, str], values: Mapping[str, str] | None,
           numeric_items: frozenset[str] = frozenset(),
           upper_case_items: frozenset[str] = frozenset(),
           date_items: frozenset[str] = frozenset(),
           units: Mapping[str, str] | None = None,
           citizen_id_items: frozenset[str] = frozenset(),
           logical_items: frozenset[str] = frozenset(),
           datetime_items: frozenset[str] = frozenset(),
           ethnicity_items: frozenset[str] = frozenset(),
           phone_items: frozenset[str] = frozenset(),
           sex_items: frozenset[str] = frozenset(),
           entity_status_items: frozenset[str] = frozenset()) -> dict[str, int]:
    """Per claimed item: MATCH, MISMATCH, or NO_RECORD when there is no record (``values`` None), or NO_VALUE when
    the record holds no value for the item (a NULL or blank column, which leaves a provider as no value at all).

    A claim compared with a value that is not there was told 不一致: the desk read it as the citizen's document
    contradicting the record and turned the citizen away, when the record only said nothing of it. A claim is never
    empty (Verify refuses one), so NO_VALUE never stands for a claimed absence that would match.

    Items in ``numeric_items`` (the catalog's numeric data types) also match an equal number written otherwise,
    followed or not by the unit ``units`` names for the item (its name's: 注册资本(万元)), and those in
    ``date_items`` (its date type) the same date written otherwise;
    items in ``upper_case_items`` (codes upper case by standard) match written in groups, and those in
    ``citizen_id_items`` (公民身份号码) the first-generation 15-digit number of the record's (or the reverse), and
    those in ``logical_items`` (逻辑型) the same yes or no written otherwise (是 for true), and those in
    ``datetime_items`` (日期时间型) the same moment written otherwise, and those in ``ethnicity_items`` (民族) the
    record's group with or without its 族 (汉 as the 居民身份证 prints it, for 汉族) or by its GB/T 3304 number (01),
    and those in ``phone_items`` (masked by the phone rule) the same telephone number grouped otherwise, and those in
    ``sex_items`` (性别) the sex by its GB/T 2261.1 number (1 for 男), and those in ``entity_status_items`` (登记状态)
    the status in 企业信用信息公示系统's words (在营 for 存续).
    Only outcomes leave this function, never the values themselves (R-QRY-3).
    """
    if values is None:
        return dict.fromkeys(claims, NO_RECORD)
    return {item: NO_VALUE if not (actual := values.get(item, "")).strip()
            else MATCH if same_value(claimed, actual)
            or (item in numeric_items and same_number(claimed, actual, (units or {}).get(item, "")))
            or (item in upper_case_items and same_code(claimed, actual))
            or (item in citizen_id_items and same_citizen_id(claimed, actual))
            or (item in logical_items and same_truth(claimed, actual))
            or (item in datetime_items and same_moment(claimed, actual))
            or (item in ethnicity_items and same_ethnicity(claimed, actual))
            or (item in phone_items and same_phone(claimed, actual))
            or (item in sex_items and same_sex(claimed, actual))
            or (item in entity_status_items and same_entity_status(claimed, actual))
            or (item in date_items and same_date(claimed, actual)) else MISMATCH
            for item, claimed in claims.items()}
