"""Record validation of the foundation datasets: every rule, and every problem reported at once."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from stdnum.cn import ric, uscc

from services.foundation.datasets import DATASETS, ETHNICITIES, Dataset
from services.foundation.validation import stored_key, validate_record

TODAY = date(2024, 6, 1)
POPULATION, LEGAL_ENTITY, REGION, PLACE, LICENCE = (DATASETS[n] for n in
                                                    ("population", "legal_entity", "region", "place", "licence"))


def citizen_id(body: str) -> str:
    """A 公民身份号码 with a correct check character for a 17-digit body."""
    return body + ric.calc_check_digit(body + "0")


def person(**changes: str) -> dict[str, str]:
    record = {"citizen_id": "11010519491231002X", "name": "张三", "sex": "女", "ethnicity": "汉族",
              "birth_date": "1949-12-31", "address": "北京市朝阳区人民路1号", "address_region_code": "110105",
              "status": "正常"}
    record.update(changes)
    return {k: v for k, v in record.items() if v is not None}


def entity(**changes: str) -> dict[str, str]:
    record = {"credit_code": "91110000600037341L", "name": "某某科技有限公司", "entity_type": "有限责任公司",
              "legal_representative": "李四", "registered_capital": "100", "established_date": "2001-02-03",
              "address": "北京市朝阳区建设路2号", "registration_authority": "北京市市场监督管理局", "status": "存续"}
    record.update(changes)
    return record


def licence(**changes: str) -> dict[str, str]:
    record = {"licence_number": "YYZZ2020000001", "licence_type": "营业执照", "holder_id": "91110000600037341L",
              "holder_name": "某某科技有限公司", "issuing_authority": "北京市市场监督管理局",
              "issue_date": "2020-01-02", "valid_until": "2030-01-01", "status": "有效"}
    record.update(changes)
    return {k: v for k, v in record.items() if v is not None}


def place(**changes: str) -> dict[str, str]:
    record = {"place_code": "110105DZ00000001", "kind": "地址", "address": "北京市朝阳区人民路1号",
              "region_code": "110105", "longitude": "116.4431", "latitude": "39.9219"}
    record.update(changes)
    return record


def problems(dataset: Dataset, record: dict[str, str]) -> list[str]:
    return validate_record(dataset, record, TODAY).problems


def only_problem(dataset: Dataset, record: dict[str, str], item: str, fragment: str) -> None:
    found = problems(dataset, record)
    assert len(found) == 1, found
    assert found[0].startswith(f"{item}: ") and fragment in found[0], found


def test_the_documented_examples_are_valid() -> None:
    checked = validate_record(POPULATION, person(), TODAY)
    assert checked.ok and checked.key == "11010519491231002X"
    assert validate_record(LEGAL_ENTITY, entity(), TODAY).ok


def test_values_are_stored_in_canonical_form() -> None:
    checked = validate_record(POPULATION, person(citizen_id="11010519491231002x", name="  张三 "), TODAY)
    assert checked.ok
    assert checked.key == "11010519491231002X"
    assert POPULATION.canonical(checked.values)["name"] == "张三"
    capital = validate_record(LEGAL_ENTITY, entity(registered_capital="100.50"), TODAY)
    assert LEGAL_ENTITY.canonical(capital.values)["registered_capital"] == "100.5"


def test_citizen_id_check_character() -> None:
    only_problem(POPULATION, person(citizen_id="110105194912310021"), "citizen_id", "check character")


def test_citizen_id_with_an_impossible_birth_date() -> None:
    number = citizen_id("11010519490230002")
    found = problems(POPULATION, person(citizen_id=number, birth_date="1949-02-28"))
    assert any(p.startswith("citizen_id: ") and "birth date" in p for p in found), found


def test_citizen_id_with_an_unknown_region() -> None:
    only_problem(POPULATION, person(citizen_id=citizen_id("99010519491231002")), "citizen_id", "region")


def test_birth_date_must_match_the_citizen_id() -> None:
    only_problem(POPULATION, person(birth_date="1949-12-30"), "birth_date", "differs")


def test_birth_date_must_be_a_real_past_date() -> None:
    number = citizen_id("11010520990101002")
    found = problems(POPULATION, person(citizen_id=number, birth_date="2099-01-01"))
    assert found == ["birth_date: 2099-01-01 is in the future"]
    assert any("not a real calendar date" in p for p in problems(POPULATION, person(birth_date="1949-02-30")))
    assert any("YYYY-MM-DD" in p for p in problems(POPULATION, person(birth_date="31/12/1949")))


@pytest.mark.parametrize("written", ["1949/12/31", "1949-12-31 00:00:00", "1949/12/31 0:00", "1949年12月31日",
                                     "19491231", "1949.12.31", "1949-12-31T00:00:00.0", "１９４９／１２／３１"])
def test_a_date_as_a_spreadsheet_or_a_database_export_writes_it_is_that_date(written: str) -> None:
    """A CSV file exported from Excel in a Chinese locale writes a date column as 1949/12/31, and a DATETIME
    column leaves a database as 1949-12-31 00:00:00: every record of such a file was rejected "is not a date in the
    form YYYY-MM-DD", though Verify reads these forms as the date they write. The date is stored as YYYY-MM-DD."""
    checked = validate_record(POPULATION, person(birth_date=written), TODAY)
    assert checked.ok, checked.problems
    assert POPULATION.canonical(checked.values)["birth_date"] == "1949-12-31"


@pytest.mark.parametrize(("written", "said"), [
    ("18262", "a spreadsheet wrote the date as its number of days; format the column as a date (yyyy-mm-dd)"),
    ("1949-12-31 10:30:00", "is a date and a time of day: give the date alone, YYYY-MM-DD"),
    # A day (or month) first, as docs/api.md says is refused saying which: it was "not a date in the form".
    ("31/12/1949", "'31/12/1949' writes the year last, so its day and month could be read either way (05/09 is 5 "
                   "September or 9 May): give the date year first, YYYY-MM-DD"),
    ("12-31-1949", "writes the year last"),
    ("31.12.1949 00:00", "writes the year last"),
    ("1949/12-31", "is not a date in the form YYYY-MM-DD"),
])
def test_a_date_in_no_form_of_a_date_says_what_it_is(written: str, said: str) -> None:
    only_problem(POPULATION, person(birth_date=written), "birth_date", said)


def test_sex_must_match_the_parity_of_the_sequence() -> None:
    only_problem(POPULATION, person(sex="男"), "sex", "differs")
    only_problem(POPULATION, person(sex="M"), "sex", "code table")


def test_a_code_given_in_a_short_form_is_named_in_the_tables_form() -> None:
    """汉 for 汉族: the reason said only "expected one of the 56 codes of its table", not how the table writes
    them."""
    only_problem(POPULATION, person(ethnicity="汉"), "ethnicity", "'汉' is not in its code table: did you mean 汉族? "
                                                              "(expected one of the 56 codes of its table, such as "
                                                              "汉族, 蒙古族, 回族)")
    only_problem(POPULATION, person(ethnicity="X"), "ethnicity", "'X' is not in its code table (expected one of the "
                                                             "56 codes of its table, such as 汉族, 蒙古族, 回族)")



def test_a_code_given_as_its_national_standards_number_is_named_in_the_tables_form() -> None:
    """A department's database holds 性别 as GB/T 2261.1's 1 and 2 and 民族 as GB/T 3304's 01 to 56: such a file's
    every record was rejected "'1' is not in its code table (expected 男/女)", not saying what 1 was. A number the
    standard does not give (性别 0 未知 and 9 未说明, 民族 57) is refused as before."""
    only_problem(POPULATION, person(sex="2"), "sex", "'2' is not in its code table: it is the GB/T 2261.1 code of 女; "
                                                     "write 女 (expected 男/女)")
    only_problem(POPULATION, person(ethnicity="01"), "ethnicity", "it is the GB/T 3304 code of 汉族; write 汉族")
    only_problem(POPULATION, person(ethnicity="5"), "ethnicity", "it is the GB/T 3304 code of 维吾尔族; write 维吾尔族")
    for odd in ("0", "57", "00"):
        found = problems(POPULATION, person(ethnicity=odd))
        assert len(found) == 1 and "GB/T" not in found[0], found
    assert "GB/T" not in problems(POPULATION, person(sex="9"))[0]

def test_a_code_given_in_a_long_form_is_named_in_the_tables_form() -> None:
    """The 登记状态 of the national enterprise credit publicity system is written 存续（在营、开业、在册）, and a
    licence registry writes 有效期内: the table's code begins the value, and the reason now names it."""
    only_problem(LEGAL_ENTITY, entity(status="存续（在营、开业、在册）"), "status", "did you mean 存续?")
    only_problem(LICENCE, licence(status="有效期内"), "status", "did you mean 有效?")
    only_problem(POPULATION, person(sex="女性"), "sex", "did you mean 女?")


def test_a_code_holding_a_kangxi_radical_is_read_as_the_character_it_looks_like() -> None:
    """Text copied out of a PDF (a 户籍 register's export, a scanned form's text layer) often holds the Kangxi radical
    ⼥ (U+2F25) for 女 or ⽩ (U+2F69) for 白: the same glyph, another code point. '⼥' was refused as not in its code
    table (expected 男/女), which the data officer could not see any difference in; it is read as the character it
    stands for (NFKC), as a full-width code is."""
    checked = validate_record(POPULATION, person(sex="\u2f25", ethnicity="\u2f69族"), TODAY)
    assert checked.ok, checked.problems
    assert (checked.values["sex"], checked.values["ethnicity"]) == ("女", "白族")


def test_ethnicity_is_one_of_the_56() -> None:
    assert len(set(ETHNICITIES)) == 56
    assert all(validate_record(POPULATION, person(ethnicity=e), TODAY).ok for e in ETHNICITIES)
    only_problem(POPULATION, person(ethnicity="汉"), "ethnicity", "code table")


def test_a_person_no_longer_registered_keeps_the_region_of_their_last_address() -> None:
    """A person who died in 崇文区 in 2005, or whose 户口 moved out or was cancelled there, keeps that 户籍地址 and its
    code 110103: no later register changes it. Refusing it as no longer in force (abolished 2010) refused every such
    record of the population database (the register's deceased and departed, loaded as they are), or made the
    source drop or invent the code. A person registered now (正常) must still live in a region in force."""
    for status in ("死亡", "迁出", "注销"):
        assert validate_record(POPULATION, person(address_region_code="110103", status=status), TODAY).ok, status
    only_problem(POPULATION, person(address_region_code="110103", status="正常"), "address_region_code",
                 "no longer in force")


def test_region_codes_come_from_the_code_table() -> None:
    only_problem(POPULATION, person(address_region_code="110199"), "address_region_code", "GB/T 2260")
    only_problem(POPULATION, person(address_region_code="11010"), "address_region_code", "6 digits")


def test_region_codes_of_a_record_as_it_is_now_are_in_force() -> None:
    """崇文区 (110103) was abolished in 2010: an address, a place or a division loaded now cannot be there."""
    only_problem(POPULATION, person(address_region_code="110103"), "address_region_code", "no longer in force")
    only_problem(PLACE, place(region_code="110103"), "region_code", "abolished after 2010")
    only_problem(REGION, {"region_code": "110103", "name": "崇文区", "level": "县级", "parent_code": "110100"},
                 "region_code", "no longer in force")
    # A 公民身份号码 issued there before 2010 keeps its code: only the record's current region must be in force.
    assert validate_record(POPULATION, person(citizen_id=citizen_id("11010319800101001"), birth_date="1980-01-01",
                                              sex="男"), TODAY).ok


def test_codes_and_dates_typed_in_full_width_forms_are_read_as_ascii() -> None:
    """A Chinese input method's ３４…ｘ and ２０２０－０１－０２ are stored as the ASCII a query looks up."""
    typed = person(citizen_id="１１０１０５１９４９１２３１００２ｘ", birth_date="１９４９－１２－３１",
                   address_region_code="１１０１０５")
    checked = validate_record(POPULATION, typed, TODAY)
    assert checked.ok, checked.problems
    assert checked.key == "11010519491231002X"
    assert (checked.values["birth_date"], checked.values["address_region_code"]) == (date(1949, 12, 31), "110105")
    checked = validate_record(LICENCE, licence(holder_id="９１１１００００６０００３７３４１ｌ"), TODAY)
    assert checked.ok and checked.values["holder_id"] == "91110000600037341L"
    full_width = entity(credit_code="９１１１００００６０００３７３４１Ｌ")
    assert validate_record(LEGAL_ENTITY, full_width, TODAY).key == "91110000600037341L"
    # Digits of another script are no date, and are told so rather than "not a real calendar date".
    only_problem(POPULATION, person(birth_date="١٩٤٩-١٢-٣١"), "birth_date", "not a date in the form YYYY-MM-DD")


def test_status_is_in_its_code_table() -> None:
    only_problem(POPULATION, person(status="活着"), "status", "code table")
    only_problem(LEGAL_ENTITY, entity(status="正常"), "status", "code table")
    only_problem(LICENCE, licence(status="正常"), "status", "code table")


def test_required_items_and_unknown_items() -> None:
    only_problem(POPULATION, person(name=""), "name", "required")
    assert validate_record(POPULATION, person(address=None, address_region_code=None), TODAY).ok
    only_problem(POPULATION, {**person(), "phone": "13800000000"}, "phone", "unknown item")


def test_a_byte_order_mark_before_the_first_header_or_value_is_not_read() -> None:
    """A "CSV UTF-8" file from Excel read as plain UTF-8: its first column is ``\ufeffcitizen_id`` (or, without a
    header row, its first value starts with the mark); the row is the record all the same."""
    record = person()
    marked = {("\ufeff" + name if name == "citizen_id" else name): value for name, value in record.items()}
    checked = validate_record(POPULATION, marked, TODAY)
    assert checked.ok, checked.problems
    assert checked.key == "11010519491231002X" and checked.values["name"] == "张三"
    assert validate_record(POPULATION, person(citizen_id="\ufeff11010519491231002X"), TODAY).ok
    # The mark elsewhere in a value is still not printable text.
    only_problem(POPULATION, person(name="张\ufeff三"), "name", "printable")


def test_an_item_name_with_blanks_around_it_or_capitals_is_named_with_the_item_it_stands_for() -> None:
    """A spreadsheet's column headers ``citizen_id `` and ``Name``: the reasons read "citizen_id : unknown item"
    beside "citizen_id: required", and nothing said what differed. The name is quoted when blanks around it would
    not show, and the item it stands for is named."""
    record = person()
    headers = {("citizen_id " if name == "citizen_id" else "Name" if name == "name" else name): value
               for name, value in record.items()}
    found = problems(POPULATION, headers)
    assert "'citizen_id ': unknown item: did you mean citizen_id? (item names are read exactly: lower case, no " \
           "blanks around them)" in found
    assert any(problem.startswith("Name: unknown item: did you mean name? ") for problem in found), found
    only_problem(POPULATION, {**person(), "phone": "13800000000"}, "phone", "unknown item")
    assert "did you mean" not in problems(POPULATION, {**person(), "phone": "1"})[0]


def test_text_must_be_printable_and_bounded() -> None:
    only_problem(POPULATION, person(name="张\x00三"), "name", "printable")
    only_problem(POPULATION, person(name="张" * 65), "name", "at most 64")


def test_a_character_that_is_not_printable_is_named_with_its_position() -> None:
    """A full-width space (U+3000) in an address typed with a Chinese input method, a no-break space copied from
    a web page, a tab from a spreadsheet cell: "must contain only printable characters" alone named no character
    the data officer could see. The reason names which, where, and what to write instead (not the value)."""
    only_problem(POPULATION, person(address="北京市\u3000朝阳区"), "address",
                 "character 4 is U+3000 (IDEOGRAPHIC SPACE): write an ordinary space, or none")
    only_problem(POPULATION, person(address="北京市朝阳区\u00a0人民路"), "address",
                 "character 7 is U+00A0 (NO-BREAK SPACE): write an ordinary space, or none")
    only_problem(POPULATION, person(name="张\t三"), "name", "character 2 is U+0009 (a control character): a line "
                                                          "break or tab is not allowed here")
    [problem] = problems(POPULATION, person(name="张\x00三"))
    assert problem == "name: must contain only printable characters: character 2 is U+0000 (a control character): " \
                      "remove it" and "张" not in problem


def test_a_key_character_that_is_not_printable_is_named_with_its_position() -> None:
    """A licence or place number copied from a web page with a no-break space, or from a spreadsheet with a tab:
    its key was refused with "must contain only printable characters" alone, where the record's other items
    name the character."""
    only_problem(LICENCE, licence(licence_number="YYZZ\u00a02020000001"), "licence_number",
                 "must contain only printable characters: character 5 is U+00A0 (NO-BREAK SPACE): write an "
                 "ordinary space, or none")
    only_problem(PLACE, place(place_code="110105DZ\u200b00000001"), "place_code",
                 "character 9 is U+200B (ZERO WIDTH SPACE): remove it")


def test_credit_code_check_character() -> None:
    wrong = "91110000600037341" + ("A" if uscc.calc_check_digit("91110000600037341") != "A" else "B")
    only_problem(LEGAL_ENTITY, entity(credit_code=wrong), "credit_code", "check character")
    assert validate_record(LEGAL_ENTITY, entity(credit_code="91110000600037341l"), TODAY).key == "91110000600037341L"


def test_dates_of_an_entity_are_plausible() -> None:
    only_problem(LEGAL_ENTITY, entity(established_date="2024-06-02"), "established_date", "future")
    only_problem(LEGAL_ENTITY, entity(established_date="1800-01-01"), "established_date", "plausible")
    only_problem(LEGAL_ENTITY, entity(established_date="2001-02-30"), "established_date", "real calendar date")


@pytest.mark.parametrize("capital", ["-1", "abc", "1e5", "NaN", "1.1234567", "99999999999999999"])
def test_registered_capital_is_a_non_negative_decimal(capital: str) -> None:
    only_problem(LEGAL_ENTITY, entity(registered_capital=capital), "registered_capital", "")



@pytest.mark.parametrize(("capital", "stored"), [("1,000.00", "1000"), ("12,345,678.5", "12345678.5"),
                                                 ("１，０００．５", "1000.5")])
def test_registered_capital_with_its_thousands_grouped_is_the_number_it_writes(capital: str, stored: str) -> None:
    """A spreadsheet's 注册资本 column formatted with thousands separators leaves its CSV export as "1,000.00", which
    was refused "is not a decimal number (digits with at most 6 decimals)" (Verify reads a claimed 1,000.00 as
    1000): the record is loaded with the number. Commas that group nothing are still no number."""
    checked = validate_record(LEGAL_ENTITY, entity(registered_capital=capital), TODAY)
    assert checked.ok, checked.problems
    assert LEGAL_ENTITY.canonical(checked.values)["registered_capital"] == stored
    for odd in ("1,00", "12,3456", ",100", "1,000,"):
        only_problem(LEGAL_ENTITY, entity(registered_capital=odd), "registered_capital", "not a decimal number")


@pytest.mark.parametrize(("capital", "unit"), [("100万元", "万元"), ("1,000 万元", "万元"), ("人民币5亿元", "亿元"),
                                              ("100000元", "元"), ("100万元人民币", "万元")])
def test_registered_capital_written_with_its_unit_is_refused_saying_to_give_the_number_alone(
        capital: str, unit: str) -> None:
    """注册资本 copied as a licence prints it (100万元) was refused as "not a decimal number", not saying that the
    unit was the trouble, nor which unit the item is in."""
    only_problem(LEGAL_ENTITY, entity(registered_capital=capital), "registered_capital",
                 f"carries the unit {unit}: give the number of 万元 alone")

def test_numbers_typed_in_full_width_are_read_as_ascii_and_digits_of_other_scripts_are_refused() -> None:
    """A Chinese input method's １００．５ is the 100.5 it stands for, as its dates and codes are; digits of another
    script (٣, Arabic-Indic) are no amount, as they are no date, not a silent 3."""
    capital = validate_record(LEGAL_ENTITY, entity(registered_capital="１００．５"), TODAY)
    assert capital.ok, capital.problems
    assert LEGAL_ENTITY.canonical(capital.values)["registered_capital"] == "100.5"
    spot = validate_record(PLACE, place(longitude="１１６．４４３１", latitude="３９．９２１９"), TODAY)
    assert spot.ok and PLACE.canonical(spot.values)["longitude"] == "116.4431", spot.problems
    only_problem(LEGAL_ENTITY, entity(registered_capital="٣"), "registered_capital", "not a decimal number")
    only_problem(PLACE, place(latitude="٣٩.٩"), "latitude", "not a decimal number")


def test_licence_holder_is_a_person_or_an_organisation() -> None:
    assert validate_record(LICENCE, licence(holder_id="11010519491231002X"), TODAY).ok
    only_problem(LICENCE, licence(holder_id="110105194912310021"), "holder_id", "公民身份号码 or 统一社会信用代码")


def test_a_licence_holder_that_is_neither_says_what_is_wrong_with_it() -> None:
    """"(check the check character)" was said of every bad holder_id, a first-generation 15-digit ID number and a
    code cut short included: the reason is now the one of the identifier the value looks like."""
    only_problem(LICENCE, licence(holder_id="110105491231002"), "holder_id", "its 18-digit form")
    only_problem(LICENCE, licence(holder_id="110105194912310021"), "holder_id",
                 "(公民身份号码 has an invalid check character)")
    only_problem(LICENCE, licence(holder_id="91110000600037341A"), "holder_id",
                 "(统一社会信用代码 has an invalid check character)")
    only_problem(LICENCE, licence(holder_id="9111000060003734"), "holder_id", "must have 18 characters, got 16")


def test_a_person_holding_a_licence_was_born_by_its_issue_date() -> None:
    """python-stdnum takes a 公民身份号码 born in 2099 as valid; no one born later than its issue holds a licence."""
    only_problem(LICENCE, licence(holder_id=citizen_id("11010520990101001")), "holder_id",
                 "birth date 2099-01-01 is in the future")
    only_problem(LICENCE, licence(holder_id=citizen_id("11010520210101001"), issue_date="2020-01-02"), "issue_date",
                 "before the holder's birth date 2021-01-01")
    assert validate_record(LICENCE, licence(holder_id=citizen_id("11010520200102001")), TODAY).ok


def test_a_licence_without_end_is_told_to_leave_valid_until_empty() -> None:
    """长期 written as 9999-12-31, as many registries do: the reason says how to load it."""
    only_problem(LICENCE, licence(valid_until="9999-12-31"), "valid_until", "leave it empty when there is no end date")
    # Or written as the word itself, in the registry's own column (长期, 长期有效, 永久).
    for endless in ("长期", "长期有效", "永久"):
        only_problem(LICENCE, licence(valid_until=endless), "valid_until", "leave it empty when there is no end date")
    assert validate_record(LICENCE, licence(valid_until=None), TODAY).ok


def test_licence_validity_period() -> None:
    only_problem(LICENCE, licence(valid_until="2019-12-31"), "valid_until", "before issue_date")
    only_problem(LICENCE, licence(issue_date="2025-01-01", valid_until="2035-01-01"), "issue_date", "future")
    assert validate_record(LICENCE, licence(valid_until=None), TODAY).ok  # 长期有效


def test_place_coordinates_lie_in_china() -> None:
    only_problem(PLACE, place(longitude="10.5"), "longitude", "outside China")
    only_problem(PLACE, place(latitude="60"), "latitude", "outside China")
    only_problem(PLACE, place(latitude="north"), "latitude", "decimal")
    only_problem(PLACE, place(kind="房屋"), "kind", "code table")
    only_problem(PLACE, place(place_code=" "), "place_code", "required")


def test_region_level_and_parent_follow_the_code() -> None:
    assert validate_record(REGION, {"region_code": "110000", "name": "北京市", "level": "省级"}, TODAY).ok
    assert validate_record(REGION, {"region_code": "130100", "name": "石家庄市", "level": "地级",
                                    "parent_code": "130000"}, TODAY).ok
    county = {"region_code": "110105", "name": "朝阳区", "level": "县级", "parent_code": "110100"}
    assert validate_record(REGION, county, TODAY).ok
    only_problem(REGION, {**county, "level": "地级"}, "level", "does not match")
    only_problem(REGION, {**county, "parent_code": "120100"}, "parent_code", "not a region containing")
    only_problem(REGION, {**county, "parent_code": ""}, "parent_code", "required")
    only_problem(REGION, {"region_code": "110000", "name": "北京市", "level": "省级", "parent_code": "110100"},
                 "parent_code", "no parent")


def test_every_problem_of_a_record_is_reported_at_once() -> None:
    record = person(citizen_id="110105194912310021", name="", ethnicity="火星族", status="?", address_region_code="1")
    found = problems(POPULATION, {**record, "extra": "x"})
    assert {p.split(":")[0] for p in found} == {"citizen_id", "name", "ethnicity", "status", "address_region_code",
                                               "extra"}


def test_citizen_id_region_not_in_force_in_the_birth_year() -> None:
    # 110111 (房山区) exists from 1986: someone born in 1950 cannot carry it.
    number = citizen_id("11011119500101002")
    found = problems(POPULATION, person(citizen_id=number, birth_date="1950-01-01"))
    assert found == ["citizen_id: 公民身份号码 has region code 110111, which was not in force in 1950"]


def test_a_text_key_typed_in_full_width_is_stored_in_the_form_it_is_looked_up_in() -> None:
    """A licence number or place code typed with a Chinese input method is the record of its ASCII form, not a
    second record (lookups read keys by validation.stored_key, the query by keys.normalize_key)."""
    def wide(text: str) -> str:
        return text.translate({code: code + 0xFEE0 for code in range(0x21, 0x7F)})

    full_width = validate_record(LICENCE, licence(licence_number=wide("YYZZ2020000001")), TODAY)
    assert full_width.ok and full_width.key == "YYZZ2020000001"
    assert validate_record(PLACE, place(place_code=wide("110105DZ00000001")), TODAY).key == "110105DZ00000001"
    assert stored_key("licence_number", wide("YYZZ2020000001")) == "YYZZ2020000001"
    assert stored_key("citizen_id", " " + wide("11010519491231002x")) == "11010519491231002X"
    assert stored_key("credit_code", "91110000600037341l") == "91110000600037341L"
    assert stored_key("licence_number", "yyzz2020000001") == "yyzz2020000001"  # a text key's case is its own


def test_a_column_without_a_name_is_no_item_unless_it_holds_a_value() -> None:
    """A file whose every line ends with a comma (as some exports write it) has a column under an empty header:
    every record of it was rejected for ": unknown item", a reason naming nothing. An empty column without a name
    is no item; one holding a value is that record's problem, saying so (the value not quoted)."""
    header = list(person())
    values = list(person().values())
    text = ",".join(header) + ",\r\n" + ",".join(values) + ",\r\n" + ",".join(values) + ", \r\n" \
        + ",".join(values) + ",备注\r\n"
    trailing, blank, noted = csv.DictReader(io.StringIO(text, newline=""))
    assert "" in trailing
    assert validate_record(POPULATION, trailing, TODAY).ok
    assert validate_record(POPULATION, blank, TODAY).ok
    (problem,) = validate_record(POPULATION, noted, TODAY).problems
    assert problem.startswith("a value stands in a column without a name") and "备注" not in problem
    assert validate_record(POPULATION, {**person(), " ": "x"}, TODAY).problems == [problem]


def test_a_csv_line_of_the_wrong_shape_or_not_utf8_is_that_records_rejection_without_its_values() -> None:
    """csv.DictReader gives a line with more values than the header the rest under None, one with fewer None for
    the missing columns, and a file read with errors="surrogateescape" its bytes that are not UTF-8 as lone
    surrogates: each is the record's rejection saying so (it stopped the whole bulk load with AttributeError),
    the values never quoted."""
    header = list(person())
    values = list(person().values())
    text = "\ufeff" + ",".join(header) + "\r\n" + ",".join(values) + "\r\n\r\n" + ",".join([*values, "多"]) + "\r\n" \
        + ",".join(values[:3]) + "\r\n"
    good, longer, shorter = csv.DictReader(io.StringIO(text, newline=""))
    assert validate_record(POPULATION, good, TODAY).ok
    (problem,) = validate_record(POPULATION, longer, TODAY).problems
    assert problem.startswith("the line has 1 value more than the header has columns") and "多" not in problem
    assert validate_record(POPULATION, shorter, TODAY).problems[0].startswith(
        "the line ends before the columns ethnicity, birth_date")
    gbk = person(name="张三".encode("gbk").decode("utf-8", "surrogateescape"))
    assert validate_record(POPULATION, gbk, TODAY).problems == [
        "name: holds bytes that are not UTF-8 (a file saved as GBK or ANSI: save it as UTF-8)"]
