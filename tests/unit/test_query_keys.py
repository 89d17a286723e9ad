"""Key validation by the key item's identifier kind (DOMAIN §12)."""

from __future__ import annotations

import pytest

from govshare.catalog.v1 import catalog_pb2
from services.query.keys import LONGEST_READ_KEY, MAX_KEY_LENGTH, key_error, normalize_key
from services.runtime.identifiers import citizen_id_error, credit_code_error

CITIZEN = catalog_pb2.IDENTIFIER_KIND_CITIZEN_ID
CREDIT = catalog_pb2.IDENTIFIER_KIND_CREDIT_CODE
REGION = catalog_pb2.IDENTIFIER_KIND_REGION_CODE
TEXT = catalog_pb2.IDENTIFIER_KIND_TEXT
UNSPECIFIED = catalog_pb2.IDENTIFIER_KIND_UNSPECIFIED


@pytest.mark.parametrize(("kind", "value"), [
    (CITIZEN, "11010519491231002X"),
    (CREDIT, "91110000600037341L"),
    (REGION, "110105"),
    (TEXT, "JY11101050001234"),
    (UNSPECIFIED, "anything printable"),
])
def test_valid_keys_pass(kind: int, value: str) -> None:
    assert key_error(kind, value) is None


@pytest.mark.parametrize(("kind", "value", "expected"), [
    (CITIZEN, "110105194912310021", "check character"),
    (CITIZEN, "1101051949123100", "18 characters"),
    (CITIZEN, "110105194913310021", "birth date"),
    (CITIZEN, "99999919491231002X", ""),
    (CREDIT, "91110000600037341A", ""),
    (CREDIT, "9111000060003734", "18 characters"),
    (REGION, "999999", "code table"),
    (REGION, "11010", "6 digits, got 5"),
    (REGION, "110101001001", "6 digits, got 12: a 12-digit code is a 统计用区划代码 (a township's or a village's), "
                             "whose first 6 digits are its county's 行政区划代码"),
    (REGION, "110101001", "got 9: a 9-digit code is a 统计用区划代码"),
    (REGION, "东城区", "6 digits (0-9)"),
    (TEXT, "   ", "empty"),
    (TEXT, "a\x00b", "printable"),
    (UNSPECIFIED, "", "empty"),
])
def test_invalid_keys_say_why(kind: int, value: str, expected: str) -> None:
    problem = key_error(kind, normalize_key(kind, value))
    assert problem is not None
    assert expected in problem


def test_overlong_keys_are_refused_for_every_kind() -> None:
    for kind in (CITIZEN, CREDIT, REGION, TEXT, UNSPECIFIED, 99):
        assert key_error(kind, "1" * (MAX_KEY_LENGTH + 1)) is not None


def test_a_key_too_long_to_be_any_is_refused_unread() -> None:
    """A 6 MB key of full-width digits (a Query fits in 8 MiB) was read whole (NFKC, 〇 as zero, upper case) before
    it was refused for its length, holding the query process for half a second. Past LONGEST_READ_KEY once trimmed
    it is returned as typed and refused; a key padded with blanks as a CHAR column pads it is still read."""
    typed = "１" * (LONGEST_READ_KEY + 1)
    for kind in (catalog_pb2.IDENTIFIER_KIND_CITIZEN_ID, catalog_pb2.IDENTIFIER_KIND_TEXT):
        assert normalize_key(kind, typed, full_width_text=True) == typed
        assert key_error(kind, normalize_key(kind, typed)) == f"must be at most {MAX_KEY_LENGTH} characters"
    padded = "１１０１０５１９４９１２３１００２ｘ" + " " * (10 * LONGEST_READ_KEY)
    assert normalize_key(catalog_pb2.IDENTIFIER_KIND_CITIZEN_ID, padded) == "11010519491231002X"


def test_unknown_kinds_are_validated_as_text_not_skipped() -> None:
    assert key_error(99, "") is not None
    assert key_error(99, "ok") is None


def test_normalisation_trims_and_upper_cases_code_kinds_only() -> None:
    assert normalize_key(CITIZEN, " 11010519491231002x ") == "11010519491231002X"
    assert key_error(CITIZEN, normalize_key(CITIZEN, "11010519491231002x")) is None
    assert normalize_key(CREDIT, "91110000600037341l") == "91110000600037341L"
    assert normalize_key(TEXT, " abc ") == "abc"


@pytest.mark.parametrize(("kind", "typed", "expected"), [
    (CITIZEN, "１１０１０５１９４９１２３１００２ｘ", "11010519491231002X"),  # a Chinese IME's full-width forms
    (CITIZEN, "\u3000110105 19491231002x", None),  # an inner space stays: the key is refused, not guessed
    (CREDIT, "９１１１００００６０００３７３４１Ｌ", "91110000600037341L"),
    (REGION, "１１０１０５", "110105"),  # as a load stores it (services/foundation/validation.py)
    (TEXT, "ＪＹ１１", "ＪＹ１１"),  # free-text keys are the provider's own: kept as typed
])
def test_full_width_codes_are_read_as_the_ascii_they_stand_for(kind: int, typed: str, expected: str | None) -> None:
    normalized = normalize_key(kind, typed)
    if expected is None:
        assert key_error(kind, normalized) is not None
    else:
        assert normalized == expected
        assert key_error(kind, normalized) is None or kind == TEXT


@pytest.mark.parametrize(("kind", "typed", "expected"), [
    (CITIZEN, "34232219491106〇454", "342322194911060454"),  # 〇, a Chinese IME's "ling"
    (CITIZEN, "３４２３２２１９４９１１〇６〇４５４", "342322194911060454"),
    (CREDIT, "9111〇〇〇〇6〇〇〇37341L", "91110000600037341L"),
    (REGION, "11〇1〇5", "110105"),
    (TEXT, "京（二〇二〇）", "京（二〇二〇）"),  # a department's text key is its own: kept as typed
])
def test_a_zero_typed_as_the_ime_gives_it_in_a_code_is_read_as_zero(kind: int, typed: str, expected: str) -> None:
    normalized = normalize_key(kind, typed)
    assert normalized == expected
    assert key_error(kind, normalized) is None


@pytest.mark.parametrize(("kind", "typed", "shown"), [
    (CITIZEN, "\u200f11010519491231002X", "U+200F, at position 0"),
    (CREDIT, "911100006000\u200b37341L", "U+200B, at position 12"),
    (REGION, "\ufeff110105", "U+FEFF, at position 0"),
    (CITIZEN, "1101051949123\x00002X", "U+0000, at position 13"),
])
def test_an_invisible_character_in_a_code_is_named(kind: int, typed: str, shown: str) -> None:
    """A direction mark or zero-width space copied with a key was refused as "must have 18 characters, got 19"
    of a key that shows 18 characters."""
    problem = key_error(kind, normalize_key(kind, typed))
    assert problem is not None and "invisible character" in problem and shown in problem, problem


@pytest.mark.parametrize(("kind", "typed", "said"), [
    (CITIZEN, "342322 19491106 0454", "holds a space after its first 6 characters: give the code without spaces, "
                                      "18 characters in one piece"),
    (CITIZEN, "３４２３２２　１９４９１１０６０４５４", "holds a space after its first 6 characters"),
    (CREDIT, "9111 0000 6000 3734 1L", "holds a space after its first 4 characters"),
    (REGION, "110 105", "holds a space after its first 3 characters"),
])
def test_a_code_written_in_groups_is_refused_naming_the_space(kind: int, typed: str, said: str) -> None:
    """A 公民身份号码 copied from a form that prints it in groups was refused "must have 18 characters, got 20"
    of a key whose 18 digits were all there."""
    problem = key_error(kind, normalize_key(kind, typed))
    assert problem is not None and problem.startswith(said), problem


def test_a_text_key_keeps_its_inner_spaces() -> None:
    assert key_error(TEXT, normalize_key(TEXT, "京A 12345")) is None


def test_a_foundation_resources_text_key_typed_in_full_width_is_read_as_the_foundation_stores_it() -> None:
    """A licence number typed with a Chinese input method (ＹＹＺＺ２０２０…, 京（2020）) is the foundation's
    record of YYZZ2020… and 京(2020)…, which its loads store in NFKC form; a department's text key is sent as typed
    (its own table may hold the full-width brackets)."""
    from services.query.resources import Resource

    def licences(target: str) -> Resource:
        entry = catalog_pb2.Entry(
            code="105001/000001", key_item="licence_number",
            endpoint=catalog_pb2.ProviderEndpoint(dataset="licence", target=target),
            items=[catalog_pb2.DataItem(machine_name="licence_number", identifier=TEXT)])
        return Resource.of(entry, "extranet", "foundation:1")

    assert licences("").key(" ＹＹＺＺ２０２０００００１ ") == "YYZZ202000001"
    assert licences("foundation:1").key("京（2020）第１号") == "京(2020)第1号"
    assert licences("frontproc.dept:8443").key("京（2020）第１号") == "京（2020）第１号"
    assert licences("").key("ABC123") == "ABC123"


@pytest.mark.parametrize(("kind", "typed", "said"), [
    (CREDIT, "9111OOOO600037341L", "character 5 is the letter O, which it cannot hold there (the digit 0?)"),
    (CREDIT, "91110000600037341i", "character 18 is the letter I, which it cannot hold there (the digit 1?)"),
    (CREDIT, "9111000060003734SL", "character 17 is the letter S, which it cannot hold there (the digit 5?)"),
    (CREDIT, "91110000600037341-", "character 18 is U+002D (HYPHEN-MINUS), which it cannot hold there"),
    (CITIZEN, "1101O519491231002X", "character 5 is the letter O, which it cannot hold there (the digit 0?)"),
    (CITIZEN, "110105194912310I2X", "character 16 is the letter I, which it cannot hold there (the digit 1?)"),
    (CITIZEN, "11010519491231002K", "character 18 is the letter K, which it cannot hold there"),
])
def test_a_letter_typed_for_a_digit_in_a_code_is_named_with_its_place(kind: int, typed: str, said: str) -> None:
    """A 统一社会信用代码 copied by hand from a licence with the letter O for a 0 (GB 32100 has no O, I, S, V or
    Z) was refused "must use the characters 0-9 and ABCDEFGHJKLMNPQRTUWXY", and a 公民身份号码 with one "must be 17
    digits followed by a digit or X": the desk compared 18 characters that all looked right. The refusal names the
    place and the digit the letter was likely typed for, never the key."""
    problem = key_error(kind, normalize_key(kind, typed))
    assert problem is not None and problem.endswith(said), problem
    assert typed.upper() not in problem


@pytest.mark.parametrize(("check", "typed", "said"), [
    (credit_code_error, "11110100mb0000007n", "character 9 is the lower-case letter m: write it as M"),
    (citizen_id_error, "11010519491231002x", "character 18 is the lower-case letter x: write it as X"),
    (credit_code_error, "9111000060003734sl", "character 17 is the letter s, which it cannot hold there"),
])
def test_a_lower_case_letter_a_code_holds_in_upper_case_is_said_so(check, typed: str, said: str) -> None:  # type: ignore[no-untyped-def]
    """Where a code is checked as sent (a filter, a form's field, a file's column), a letter it holds typed in lower
    case was refused "the letter m, which it cannot hold there", of a code that holds M there: the officer looked
    for a wrong character and found none. Said as a lower-case letter to write in upper case; a letter the code
    never holds there is named as before."""
    problem = check(typed)
    assert problem is not None and problem.endswith(said), problem


def test_the_console_says_a_lower_case_letter_in_chinese() -> None:
    """The console shows a person the Chinese sentence of a refusal beside its field, never the English one."""
    from console.errors import field_sentence

    problem = credit_code_error("11110100mb0000007n")
    assert problem is not None
    assert field_sentence(problem + ", or leave it empty for every department") == \
        "统一社会信用代码第 9 位的字母应为大写 M（填写的是小写 m），请改为大写后重新填写。"
