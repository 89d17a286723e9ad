"""Every identifier validator, over arbitrary strings: a reason or None, never an exception.

The validators sit in front of every key a caller or a loader sends (query keys, dispute
keys, department codes, foundation records), so an exception inside one is an INTERNAL
error where the caller should have heard which field to fix. python-stdnum, which does
the check-digit work, is not itself safe on every input: a 公民身份号码 whose prefecture
is known but whose county is not (``110199…``) ends in a ``KeyError: 'county'``.
"""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest
from hypothesis import example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from stdnum.cn import ric, uscc

from govshare.catalog.v1 import catalog_pb2
from services.foundation.datasets import DATASETS
from services.foundation.validation import ValueProblem, validate_record
from services.query.keys import key_error, normalize_key
from services.runtime import identifiers

# Strings near the identifiers' shapes find more than uniform text: digits, the check letters, the
# credit-code alphabet, separators python-stdnum strips, and look-alikes (full-width, Arabic-Indic digits).
_NEAR = st.text(alphabet="0123456789XxABCDEFGHJKLMNPQRTUWY -\t１٣ß", min_size=0, max_size=20)
ANY_TEXT = st.one_of(st.text(max_size=40), _NEAR)


def _citizen_id(region: str, born: dt.date, seq: int) -> str:
    body = f"{region}{born:%Y%m%d}{seq:03d}"
    return body + ric.calc_check_digit(body + "0")


@st.composite
def citizen_ids(draw: st.DrawFn) -> str:
    """Well-formed numbers (valid check character) over any region code and any real date."""
    region = draw(st.from_regex(r"[1-8][0-9]{5}", fullmatch=True))
    born = draw(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31)))
    return _citizen_id(region, born, draw(st.integers(0, 999)))


@st.composite
def credit_codes(draw: st.DrawFn) -> str:
    body = draw(st.from_regex(r"[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{9}", fullmatch=True))
    return body + uscc.calc_check_digit(body)


def test_a_known_prefecture_with_an_unknown_county_is_a_reason_not_a_crash() -> None:
    assert identifiers.citizen_id_error("110199199001011232") == "公民身份号码 has an unknown region code 110199"


@given(ANY_TEXT | citizen_ids())
@example("110199199001011232")
@example("11010519491231002X")
@example("1101051949123100-X")
@example("１１０１０５１９４９１２３１００２X")
def test_citizen_id_error_returns_a_reason_or_none(value: str) -> None:
    error = identifiers.citizen_id_error(value)
    assert error is None or isinstance(error, str)
    if error is None:
        # What a valid number promises: ASCII digits, a real birth date and sex, a known region.
        assert len(value) == 18 and value[:17].isascii() and value[:17].isdigit()
        dt.date.fromisoformat(identifiers.birth_date_of(value))
        assert identifiers.sex_of(value) in ("男", "女")
        assert identifiers.region_code_error(value[:6]) is None
        assert ric.is_valid(value)


@given(ANY_TEXT | credit_codes())
@example("9111000060003734 L")
@example("91110000600037341l")
def test_credit_code_error_returns_a_reason_or_none(value: str) -> None:
    error = identifiers.credit_code_error(value)
    assert error is None or isinstance(error, str)
    if error is None:
        # Valid only in its one canonical form (no blanks, upper case), as keys are stored: GB 32100's alphabet,
        # the region code's digits at 3 to 8, the standard's check character (python-stdnum's uscc.is_valid says
        # the same of a code whose first two characters are digits; it refuses the letters registering authorities
        # such as N and Y give there).
        assert uscc.compact(value) == value and value[2:8].isdigit() and value[2:8].isascii()
        assert uscc.calc_check_digit(value[:17]) == value[17]
        assert uscc.is_valid(value) or not value[:2].isdigit()


@given(credit_codes())
@example("N2330102MF00000016")
@example("Y1110000MA0000001Y")
def test_every_well_formed_credit_code_is_valid(value: str) -> None:
    """A 农村集体经济组织's code (N2…, the 农业农村 departments' registering authority code) or one of Y (others)
    was refused "must use the characters 0-9 and ABCDEFGHJKLMNPQRTUWXY" (python-stdnum asks for digits there):
    a legal entity of the foundation database, a department, a query key, all refused."""
    assert identifiers.credit_code_error(value) is None


@given(ANY_TEXT | st.from_regex(r"[0-9]{6}", fullmatch=True))
@example("110199")
@example("１１０１０５")
def test_region_code_error_and_name_never_raise(value: str) -> None:
    error = identifiers.region_code_error(value)
    name = identifiers.region_name(value)
    assert error is None or isinstance(error, str)
    assert (error is None) == (name is not None)


@given(ANY_TEXT)
def test_text_key_error_returns_a_reason_or_none(value: str) -> None:
    error = identifiers.text_key_error(value)
    assert error is None or isinstance(error, str)
    if error is None:
        assert value.strip() and len(value) <= identifiers.MAX_TEXT_KEY and identifiers.is_printable(value)


@pytest.mark.parametrize("kind", [*catalog_pb2.IdentifierKind.values(), 99])
@given(value=ANY_TEXT | citizen_ids() | credit_codes())
@example(value="110199199001011232")
def test_query_keys_of_every_kind_validate_without_raising(kind: int, value: str) -> None:
    error = key_error(kind, normalize_key(kind, value))
    assert error is None or isinstance(error, str)


@pytest.mark.parametrize("dataset", sorted(DATASETS))
@given(data=st.data())
@hypothesis_settings(max_examples=60)
def test_foundation_records_validate_without_raising(dataset: str, data: st.DataObject) -> None:
    """Every item parser raises only ValueProblem, and validate_record turns them all into reasons."""
    definition = DATASETS[dataset]
    names = sorted(definition.item_names)
    values = st.one_of(ANY_TEXT, citizen_ids(), credit_codes(), st.just("110199199001011232"),
                       st.dates().map(dt.date.isoformat))
    raw = data.draw(st.dictionaries(st.sampled_from(names) | st.text(max_size=5), values, max_size=len(names) + 2))
    checked = validate_record(definition, raw, dt.date(2026, 6, 1))
    assert all(isinstance(problem, str) for problem in checked.problems)
    for item in definition.items:
        value = data.draw(values, label=item.name)
        with contextlib.suppress(ValueProblem):
            item.parse(value.strip(), dt.date(2026, 6, 1))


@given(st.lists(ANY_TEXT | citizen_ids() | credit_codes(), max_size=6).map(" ".join))
def test_personal_identifiers_are_found_and_redacted_in_any_text(text: str) -> None:
    found = identifiers.personal_identifiers(text)
    assert all(len(number) == 18 for number in found)
    redacted = identifiers.redact_identifiers(text)
    assert identifiers.personal_identifiers(redacted) == []
    assert len(redacted) == len(text) - 18 * len(found) + len(identifiers.REDACTED) * len(found)


def test_a_region_is_checked_against_each_birth_year_whatever_was_asked_before() -> None:
    # 110111 (房山区) exists from 1986; the years a region is in force are read once per region, and every
    # number is checked against its own birth year.
    born_1990 = "11011119900101002"
    born_1950 = "11011119500101002"
    for first, second in ((born_1990, born_1950), (born_1950, born_1990)):
        identifiers._birth_years_in_force.cache_clear()
        for number in (first, second):
            full = number + ric.calc_check_digit(number + "0")
            expected = None if number == born_1990 else \
                "公民身份号码 has region code 110111, which was not in force in the birth year"
            assert identifiers.citizen_id_error(full) == expected


@given(st.from_regex(r"[0-9]{6}00[0-9]{6}[0-9]{3}", fullmatch=True))
@example("11110000780810767")
def test_a_credit_code_of_seventeen_digits_is_not_masked_as_a_citizen_id(body: str) -> None:
    """mask_citizen_ids masked a 统一社会信用代码 whose first 17 characters are digits when its 7th to 14th read as
    a date of any century (11110000780810767N: year 0078): the console's refusal of a retired department named it
    111100********767N (a test failed on such a random code). A 公民身份号码's birth date is in 19xx or 20xx, as
    the log scanner's own check (_is_identifier) requires; a citizen id is masked as before."""
    code = body + uscc.calc_check_digit(body)
    text = f"部门 {code} 已于 2026-12-04 撤销"
    assert identifiers.mask_citizen_ids(text, lambda number: "*" * 18) == text
    citizen = "110105194911060454"
    assert identifiers.mask_citizen_ids(f"身份号码 {citizen}", lambda number: "MASKED") == "身份号码 MASKED"


def test_a_first_generation_15_digit_number_in_free_text_is_masked() -> None:
    """A department writes its case under the person's old 15-digit number ('户主 110105491106045 低保复核'): the
    审计 page and the persons' view masked every 18-character 公民身份号码 in a declared purpose and showed the
    15-digit one whole. It is masked too (in ASCII or full width); a 15-digit run whose 7th to 12th digits are no
    date, and one inside a longer number, are left as they are."""
    def masked(text: str) -> str:
        return identifiers.mask_citizen_ids(text, lambda number: f"<{number[:6]}…>")

    assert masked("户主 110105491106045 低保复核") == "户主 <110105…> 低保复核"
    full_width = "１１０１０５４９１１０６０４５"
    assert masked(f"户主{full_width}") == "户主<110105…>"
    assert masked("低保 110105491106045 与 110105194911060454") == "低保 <110105…> 与 <110105…>"
    for kept in ("案卷 110105491399045", "流水号 9110105491106045", "编号 A110105491106045"):
        assert masked(kept) == kept
