"""Projection to granted items, masking, and verification comparison (R-QRY-1, R-QRY-3, R-SEC-4)."""

from __future__ import annotations

from collections.abc import Callable

from govshare.catalog.v1 import catalog_pb2
from services.query import projection
from services.query.projection import MATCH, MISMATCH, NO_RECORD, make_plan, project, same_value, verify
from services.query.resources import Resource
from services.runtime.masking import Masker

RECORD = {
    "citizen_id": "11010519491231002X",
    "name": "张三丰",
    "sex": "女",
    "address": "北京市朝阳区建国路88号",
    "status": "正常",
}


def test_project_returns_only_planned_items() -> None:
    values, masked = project(RECORD, make_plan(["name", "sex"], {}), Masker())
    assert values == {"name": "张三丰", "sex": "女"}
    assert masked == []


def test_project_masks_by_the_decisions_rules() -> None:
    plan = make_plan(["citizen_id", "name", "status"], {"citizen_id": "citizen_id", "name": "name"})
    values, masked = project(RECORD, plan, Masker())
    assert values == {"citizen_id": "110105********002X", "name": "张**", "status": "正常"}
    assert masked == ["citizen_id", "name"]


def test_project_uses_configured_rules_and_hides_unknown_ones_fully() -> None:
    plan = make_plan(["address", "name"], {"address": "address", "name": "no-such-rule"})
    values, _ = project(RECORD, plan, Masker({"address": "3,0"}))
    assert values["address"] == "北京市" + "*" * (len(RECORD["address"]) - 3)
    assert values["name"] == "***"


def test_an_export_key_is_masked_as_its_key_item_would_be() -> None:
    masked = make_plan(["citizen_id", "name"], {"citizen_id": "citizen_id", "name": "name"})
    unmasked = make_plan(["citizen_id", "name"], {"name": "name"})
    # The key item returned masked or unmasked: its rule in the plan, whatever the catalog says.
    assert projection.key_mask_rule(masked, "citizen_id", "citizen_id") == "citizen_id"
    assert projection.key_mask_rule(unmasked, "citizen_id", "citizen_id") is None
    # The key item not returned: the catalog's rule for it (none for an item that is not sensitive).
    assert projection.key_mask_rule(make_plan(["name"], {}), "citizen_id", "citizen_id") == "citizen_id"
    assert projection.key_mask_rule(make_plan(["name"], {}), "credit_code", None) is None


def test_a_masked_id_number_beside_its_holders_birth_date_in_clear_keeps_no_tail() -> None:
    """The citizen_id rule (6,4) hides exactly the eight digits of the birth date: a record (or an export's row) that
    gave the number masked and the birth date in clear gave it whole, read side by side (110105********002X and
    1949-12-31). Beside its birth date in clear the number keeps its head alone; beside another date, a masked
    birth date or none, it is masked by the rule as before. An export's key, masked as its item, likewise."""
    record = {**RECORD, "birth_date": "1949-12-31", "issued": "2010-05-01"}
    plan = make_plan(["citizen_id", "birth_date", "name"], {"citizen_id": "citizen_id", "name": "name"})
    values, masked = project(record, plan, Masker())
    assert values["citizen_id"] == "110105************" and values["birth_date"] == "1949-12-31"
    assert masked == ["citizen_id", "name"]
    for written in ("1949年12月31日", "19491231", "1949-12-31 00:00:00"):
        assert project({**record, "birth_date": written}, plan, Masker())[0]["citizen_id"] == "110105************"
    other = make_plan(["citizen_id", "issued"], {"citizen_id": "citizen_id"})
    assert project(record, other, Masker())[0]["citizen_id"] == "110105********002X"
    hidden = make_plan(["citizen_id", "birth_date"], {"citizen_id": "citizen_id", "birth_date": "full"})
    assert project(record, hidden, Masker())[0]["citizen_id"] == "110105********002X"
    row = project(record, make_plan(["birth_date"], {}), Masker())[0]
    assert projection.masked_beside(record["citizen_id"], "citizen_id", row, Masker()) == "110105************"
    assert projection.masked_beside(record["citizen_id"], "citizen_id", {}, Masker()) == "110105********002X"


def test_project_skips_items_the_record_lacks() -> None:
    values, masked = project({"name": "李四"}, make_plan(["name", "address"], {"address": "address"}), Masker())
    assert values == {"name": "李四"}
    assert masked == []


def test_plan_lists_each_item_once_and_ignores_empty_rules() -> None:
    assert make_plan(["name", "name", "sex"], {"sex": ""}) == (("name", None), ("sex", None))


def test_same_value_normalises_blanks_width_and_check_character() -> None:
    assert same_value(" 11010519491231002x ", "11010519491231002X")
    assert same_value("１１０１０５", "110105")
    assert same_value("张三丰", "张三丰")
    assert not same_value("张三", "张三丰")
    assert not same_value("11010519491231002X", "110105194912310021")


def test_verify_reads_blanks_between_latin_letters_or_digits_as_one() -> None:
    """JOHN  SMITH typed with two spaces, or a tab, is the record's JOHN SMITH (一致); without the blank it is not."""
    for claimed in ("John  Smith", "JOHN\tSMITH", "john \u3000 smith"):
        assert verify({"name": claimed}, {"name": "JOHN SMITH"}) == {"name": MATCH}, claimed
    assert verify({"name": "JOHN SMITH"}, {"name": "JOHN   SMITH "}) == {"name": MATCH}
    assert verify({"name": "JOHNSMITH"}, {"name": "JOHN SMITH"}) == {"name": MISMATCH}
    assert verify({"house": "5  19"}, {"house": "519"}) == {"house": MISMATCH}


def test_verify_leaves_out_characters_that_show_nothing() -> None:
    """A record's name pasted from a web page with a zero-width space, a soft hyphen or a left-to-right mark in it, or
    loaded from a CSV file saved with a byte order mark, is the name the desk sees and claims (一致); another name is
    not. (A claim holding one is refused before it is compared: claim_error.)"""
    for actual, claimed in (("\u200b武文辉", "武文辉"), ("武文\u00ad辉", "武文辉"), ("武文辉\u200e ", "武文辉"),
                            ("\ufeff武文辉", "武文辉"), ("John\u2060 Smith", "JOHN SMITH")):
        assert verify({"name": claimed}, {"name": actual}) == {"name": MATCH}, (claimed, actual)
    assert verify({"name": "武文"}, {"name": "\u200b武文辉"}) == {"name": MISMATCH}


def test_verify_reports_match_and_mismatch_per_item_without_values() -> None:
    outcomes = verify({"name": "张三丰", "sex": "男", "status": " 正常"}, RECORD)
    assert outcomes == {"name": MATCH, "sex": MISMATCH, "status": MATCH}
    assert set(outcomes.values()) <= {MATCH, MISMATCH}


def test_verify_without_record_is_no_record_for_every_claim() -> None:
    assert verify({"name": "张三丰", "sex": "女"}, None) == {"name": NO_RECORD, "sex": NO_RECORD}


def test_verify_of_a_value_the_record_lacks_is_no_value_not_a_mismatch() -> None:
    """A record without a value for the item (its column NULL, or blank) neither confirms nor denies the claim: it
    was 不一致, and the desk turned away a citizen whose document the record said nothing against."""
    outcomes = verify({"ethnicity": "汉族", "address": "北京市", "name": "张三丰"}, {**RECORD, "address": "  "})
    assert outcomes == {"ethnicity": projection.NO_VALUE, "address": projection.NO_VALUE, "name": MATCH}


def test_verify_of_an_ethnic_group_as_the_id_card_prints_it_is_a_match() -> None:
    """The 居民身份证 prints 民族 汉, 蒙古, 维吾尔; records hold 汉族, 蒙古族, 维吾尔族 (GB/T 3304): 一致. Another
    group, or the 族 doubled, still disagrees; an item not named 民族 compares as text."""
    record = {"ethnicity": "蒙古族", "other": "汉族"}
    groups = frozenset({"ethnicity"})
    for claimed in ("蒙古", "蒙古族", " 蒙古 "):
        assert verify({"ethnicity": claimed}, record, ethnicity_items=groups) == {"ethnicity": MATCH}, claimed
    for claimed in ("蒙", "汉", "蒙古族族", "族"):
        assert verify({"ethnicity": claimed}, record, ethnicity_items=groups) == {"ethnicity": MISMATCH}, claimed
    assert verify({"ethnicity": "蒙古族"}, {"ethnicity": "蒙古"}, ethnicity_items=groups) == {"ethnicity": MATCH}
    assert verify({"other": "汉"}, record, ethnicity_items=groups) == {"other": MISMATCH}


def test_verify_reads_a_claimed_number_of_the_national_code_tables_as_the_value_it_numbers() -> None:
    """Systems' databases hold 性别 as GB/T 2261.1's 1/2 and 民族 as GB/T 3304's 01-56: a claim of 1 was 不一致 of the
    record's 男, and 01 of 汉族. Each is the value it numbers; a number outside the table, or of another item, is
    not."""
    record = {"sex": "男", "ethnicity": "回族", "house": "男"}
    sexes, groups = frozenset({"sex"}), frozenset({"ethnicity"})
    assert verify({"sex": "1", "ethnicity": "03"}, record, ethnicity_items=groups, sex_items=sexes) == {
        "sex": MATCH, "ethnicity": MATCH}
    assert verify({"sex": "１", "ethnicity": "3"}, record, ethnicity_items=groups, sex_items=sexes) == {
        "sex": MATCH, "ethnicity": MATCH}
    for sex, group in (("2", "01"), ("0", "57"), ("9", "00")):
        assert verify({"sex": sex, "ethnicity": group}, record, ethnicity_items=groups, sex_items=sexes) == {
            "sex": MISMATCH, "ethnicity": MISMATCH}, (sex, group)
    assert verify({"house": "1"}, record, ethnicity_items=groups, sex_items=sexes) == {"house": MISMATCH}


def test_verify_reads_a_sex_by_its_name_in_gb_t_2261_1() -> None:
    """GB/T 2261.1 names its codes 1 and 2 男性 and 女性, and systems built on it claim them so: 男性 was 不一致 of
    the record's 男 (and 男 of a 前置机's record holding 男性). Only 男 and 女 are read so; another sex is not."""
    sexes = frozenset({"sex"})
    for claimed, actual in (("男性", "男"), ("女性", "女"), (" 男 性 ", "男"), ("男", "男性"), ("１", "男性"),
                            ("女性", "女性")):
        assert verify({"sex": claimed}, {"sex": actual}, sex_items=sexes) == {"sex": MATCH}, (claimed, actual)
    for claimed, actual in (("女性", "男"), ("男性", "女"), ("男", "女性"), ("性", "男"), ("男性性", "男")):
        assert verify({"sex": claimed}, {"sex": actual}, sex_items=sexes) == {"sex": MISMATCH}, (claimed, actual)
    assert verify({"house": "男性"}, {"house": "男"}, sex_items=sexes) == {"house": MISMATCH}


def test_verify_reads_a_registration_status_in_the_publicity_systems_words() -> None:
    """企业信用信息公示系统's 存续（在营、开业、在册） and the words in its brackets are the record's 存续, its
    吊销，未注销 the record's 吊销 and 吊销，已注销 its 注销, brackets and commas typed in either width; a status of
    another meaning, or an item not named 登记状态, still disagrees."""
    statuses = frozenset({"status"})
    for claimed, actual in (("存续（在营、开业、在册）", "存续"), ("存续(在营、开业、在册)", "存续"), ("在营", "存续"),
                            ("开业", "存续"), ("在册", "存续"), ("吊销，未注销", "吊销"), ("吊销,未注销", "吊销"),
                            ("吊销，已注销", "注销"), ("存续", "存续（在营、开业、在册）"), ("在 营", "存续")):
        assert verify({"status": claimed}, {"status": actual}, entity_status_items=statuses) == {
            "status": MATCH}, (claimed, actual)
    for claimed, actual in (("吊销，未注销", "注销"), ("吊销，已注销", "吊销"), ("在营", "吊销"), ("在业", "存续"),
                            ("存续（在营）", "存续"), ("注销", "存续")):
        assert verify({"status": claimed}, {"status": actual}, entity_status_items=statuses) == {
            "status": MISMATCH}, (claimed, actual)
    assert verify({"house": "在营"}, {"house": "存续"}, entity_status_items=statuses) == {"house": MISMATCH}


def test_verify_of_a_phone_number_reads_its_digits_however_grouped() -> None:
    """An item masked by the phone rule: 138 1234 5678, 138-1234-5678, +86/0086 before a mobile number, a landline's
    (0571) or 0571- and full-width digits are the record's number; another number, text around it (转 8001), or
    an item of another rule still compare as text."""
    record = {"phone": "13812345678", "landline": "0571-87654321", "remark": "13812345678"}
    phones = frozenset({"phone", "landline"})
    for claimed in ("138 1234 5678", "138-1234-5678", "+86 138 1234 5678", "008613812345678",
                    "１３８－１２３４－５６７８"):
        assert verify({"phone": claimed}, record, phone_items=phones) == {"phone": MATCH}, claimed
    assert verify({"landline": "(0571) 8765 4321"}, record, phone_items=phones) == {"landline": MATCH}
    assert verify({"landline": "057187654321"}, record, phone_items=phones) == {"landline": MATCH}
    # Dialled from abroad (a foreign-invested company's registration, a system storing E.164): the area code
    # without its trunk 0, or with it in brackets, and a + inside the brackets of a mobile number.
    for claimed in ("+86 571 8765 4321", "+86 (0)571 8765 4321", "0086-571-87654321", "+8657187654321"):
        assert verify({"landline": claimed}, record, phone_items=phones) == {"landline": MATCH}, claimed
    assert verify({"phone": "(+86)138 1234 5678"}, record, phone_items=phones) == {"phone": MATCH}
    for claimed in ("+86 571 8765 4322", "+1 571 8765 4321", "8657187654321"):
        assert verify({"landline": claimed}, record, phone_items=phones) == {"landline": MISMATCH}, claimed
    for claimed in ("138 1234 5679", "13812345678转8001", "+1 13812345678"):
        assert verify({"phone": claimed}, record, phone_items=phones) == {"phone": MISMATCH}, claimed
    assert verify({"remark": "138 1234 5678"}, record, phone_items=phones) == {"remark": MISMATCH}


def test_verify_compares_numeric_items_as_numbers() -> None:
    """注册资本 200.00 copied off a licence is the record's 200 (一致); a text item keeps comparing as text."""
    record = {"registered_capital": "200", "longitude": "116.4431", "house_number": "7"}
    numeric = frozenset({"registered_capital", "longitude"})
    claims = {"registered_capital": "200.00", "longitude": "１１６.44310", "house_number": "007"}
    assert verify(claims, record, numeric) == {"registered_capital": MATCH, "longitude": MATCH,
                                               "house_number": MISMATCH}
    assert verify({"registered_capital": "200.01"}, record, numeric) == {"registered_capital": MISMATCH}
    assert verify({"registered_capital": "NaN"}, {"registered_capital": "NaN"}, numeric) == {
        "registered_capital": MATCH}  # the same text is still the same value
    assert verify({"registered_capital": "sNaN"}, record, numeric) == {"registered_capital": MISMATCH}
    assert verify({"registered_capital": "200.00"}, record) == {"registered_capital": MISMATCH}


def test_verify_reads_a_number_with_its_thousands_grouped() -> None:
    """注册资本 1,000.00 or １，２５０ copied off a statement is the record's 1000 or 1250; a comma that groups no
    thousands, or a text item, is not read as a number."""
    record = {"registered_capital": "1000", "paid_in": "1250000.5", "house_number": "1000"}
    numeric = frozenset({"registered_capital", "paid_in"})
    for claims in ({"registered_capital": "1,000.00"}, {"registered_capital": "1,000"},
                   {"paid_in": "１，２５０，０００.５０"}, {"paid_in": "1,250,000.5"}):
        assert verify(claims, record, numeric) == dict.fromkeys(claims, MATCH), claims
    for claims in ({"registered_capital": "1,00"}, {"registered_capital": "10,00"}, {"paid_in": "1,2500,00.5"},
                   {"registered_capital": "1,000,"}, {"house_number": "1,000"}):
        assert verify(claims, record, numeric) == dict.fromkeys(claims, MISMATCH), claims


def test_verify_reads_a_number_followed_by_the_unit_its_item_declares() -> None:
    """注册资本 200.00万元 copied off a licence is the record's 200 of 注册资本(万元) (the resource reads the unit off
    the item's name); another unit, or a unit on an item that declares none, is no number of it."""
    entry = catalog_pb2.Entry(code="102001/000001", key_item="credit_code", items=[
        catalog_pb2.DataItem(name="注册资本(万元)", machine_name="registered_capital",
                             data_type=catalog_pb2.DATA_TYPE_CURRENCY),
        catalog_pb2.DataItem(name="面积（平方米）", machine_name="area", data_type=catalog_pb2.DATA_TYPE_DOUBLE),
        catalog_pb2.DataItem(name="人数", machine_name="staff", data_type=catalog_pb2.DATA_TYPE_INTEGER),
        catalog_pb2.DataItem(name="备注(万元)", machine_name="note")])
    resource = Resource.of(entry, "extranet", "foundation:1")
    assert resource.numeric_units == {"registered_capital": "万元", "area": "平方米"}
    record = {"registered_capital": "200", "area": "86.5", "staff": "12", "note": "200"}

    def outcome(item: str, claimed: str) -> int:
        return verify({item: claimed}, record, resource.numeric_items, date_items=resource.date_items,
                      units=resource.numeric_units)[item]

    for item, claimed in (("registered_capital", "200.00万元"), ("registered_capital", "２００ 万元"),
                          ("registered_capital", "200"), ("area", "86.50平方米"), ("area", "86.5 平方米")):
        assert outcome(item, claimed) == MATCH, claimed
    for item, claimed in (("registered_capital", "200元"), ("registered_capital", "200万元万元"),
                          ("registered_capital", "万元"), ("staff", "12人"), ("note", "200万元")):
        assert outcome(item, claimed) == MISMATCH, claimed


def _amounts_verified(third: catalog_pb2.DataItem, value: dict[str, str]) -> Callable[[str, str], int]:
    """Verify's outcome of one claimed value of a company entry holding 注册资本(万元) 200 and 实缴金额（元）1250000.5,
    with ``third`` holding ``value``."""
    entry = catalog_pb2.Entry(code="102001/000001", key_item="credit_code", items=[
        catalog_pb2.DataItem(name="注册资本(万元)", machine_name="registered_capital",
                             data_type=catalog_pb2.DATA_TYPE_CURRENCY),
        catalog_pb2.DataItem(name="实缴金额（元）", machine_name="paid_in", data_type=catalog_pb2.DATA_TYPE_CURRENCY),
        third])
    resource = Resource.of(entry, "extranet", "foundation:1")
    record = {"registered_capital": "200", "paid_in": "1250000.5", **value}

    def outcome(item: str, claimed: str) -> int:
        return verify({item: claimed}, record, resource.numeric_items, units=resource.numeric_units)[item]

    return outcome


def test_verify_reads_an_amount_as_a_licence_prints_it() -> None:
    """A business licence prints 注册资本 as 人民币200万元, 200万元人民币 or 200万元整, and a desk writes 200万: each is
    the record's 200 of 注册资本(万元), not 不一致. Only an item whose unit is money reads the currency and 整; the
    unit's 元 may be left out after its multiplier (万), not the multiplier (200元 is still no number of 万元)."""
    outcome = _amounts_verified(
        catalog_pb2.DataItem(name="面积（平方米）", machine_name="area", data_type=catalog_pb2.DATA_TYPE_DOUBLE),
        {"area": "86.5"})

    for item, claimed in (("registered_capital", "人民币200万元"), ("registered_capital", "200万元人民币"),
                          ("registered_capital", "200.00万元整"), ("registered_capital", "人民币 200 万元整"),
                          ("registered_capital", "200万"), ("registered_capital", "２００万人民币"),
                          ("registered_capital", "￥200万元"), ("registered_capital", "RMB 200万元"),
                          ("paid_in", "¥1,250,000.50"), ("paid_in", "人民币1250000.5元整"),
                          ("paid_in", "CNY 1250000.50")):
        assert outcome(item, claimed) == MATCH, claimed
    for item, claimed in (("registered_capital", "200元"), ("registered_capital", "人民币200元"),
                          ("registered_capital", "201万"), ("registered_capital", "200万元万元"),
                          ("registered_capital", "人民币"), ("registered_capital", "200整整"),
                          ("paid_in", "1250000.5万"), ("area", "人民币86.5平方米"), ("area", "86.5平方")):
        assert outcome(item, claimed) == MISMATCH, claimed


def test_verify_reads_an_amount_in_another_unit_of_money_as_the_same_amount() -> None:
    """注册资本 2000000元 (a 验资报告, a bank statement, a system keeping amounts in 元) is the record's 200 of
    注册资本(万元), as 0.02亿元 is; it was 不一致. Another amount is still 不一致 (200元 of 200万元), and only units of
    money in 元 are converted (9612.08美元 is no amount in 元)."""
    outcome = _amounts_verified(
        catalog_pb2.DataItem(name="总资产(亿元)", machine_name="assets", data_type=catalog_pb2.DATA_TYPE_CURRENCY),
        {"assets": "1.5"})

    for item, claimed in (("registered_capital", "2000000元"), ("registered_capital", "人民币2,000,000.00元整"),
                          ("registered_capital", "0.02亿元"), ("registered_capital", "２０００千元"),
                          ("paid_in", "125.00005万元"), ("paid_in", "125.00005万"), ("assets", "15000万元"),
                          ("assets", "150000000元"), ("registered_capital", "200万"), ("registered_capital", "200")):
        assert outcome(item, claimed) == MATCH, claimed
    for item, claimed in (("registered_capital", "200元"), ("registered_capital", "2000001元"),
                          ("paid_in", "1250000.5万元"), ("paid_in", "9612.08美元"), ("assets", "1.5万元"),
                          ("registered_capital", "200万元万元"), ("registered_capital", "元")):
        assert outcome(item, claimed) == MISMATCH, claimed


def test_verify_reads_an_amount_in_yuan_of_a_currency_item_naming_no_unit() -> None:
    """A 货币型 item whose name declares no unit (缴费基数, a 前置机's column) holds 元: 9612.08元, ￥9612.08 or
    人民币9612.08元 copied off a statement is its 9612.08, not 不一致. Another unit is still no number of it, and an
    item of another numeric type naming no unit takes none (12人 of 人数 disagrees)."""
    entry = catalog_pb2.Entry(code="202001/000001", key_item="citizen_id", items=[
        catalog_pb2.DataItem(name="缴费基数", machine_name="contribution_base",
                             data_type=catalog_pb2.DATA_TYPE_CURRENCY),
        catalog_pb2.DataItem(name="人数", machine_name="staff", data_type=catalog_pb2.DATA_TYPE_INTEGER)])
    resource = Resource.of(entry, "extranet", "foundation:1")
    assert resource.numeric_units == {"contribution_base": "元"}
    record = {"contribution_base": "9612.08", "staff": "12"}

    def outcome(item: str, claimed: str) -> int:
        return verify({item: claimed}, record, resource.numeric_items, units=resource.numeric_units)[item]

    for claimed in ("9612.08元", "￥9,612.08", "人民币9612.08元", "9612.080", "9612.08元整"):
        assert outcome("contribution_base", claimed) == MATCH, claimed
    for item, claimed in (("contribution_base", "9612.08万元"), ("contribution_base", "9612.08美元"),
                          ("staff", "12人"), ("staff", "￥12")):
        assert outcome(item, claimed) == MISMATCH, claimed


def test_verify_compares_code_items_in_either_case() -> None:
    """A 统一社会信用代码 typed in lower case is the record's code (as any text in another case is)."""
    record = {"credit_code": "91451402024600190C", "holder_id": "92370102124739907Y", "name": "Acme"}
    codes = frozenset({"credit_code", "holder_id"})
    claims = {"credit_code": "91451402024600190c", "holder_id": " ９２３７０１０２１２４７３９９０７ｙ", "name": "ACME"}
    assert verify(claims, record, upper_case_items=codes) == {"credit_code": MATCH, "holder_id": MATCH,
                                                              "name": MATCH}
    assert verify({"credit_code": "91451402024600190d"}, record, upper_case_items=codes) == {
        "credit_code": MISMATCH}


def test_verify_reads_a_code_written_in_groups_as_the_code() -> None:
    """A 公民身份号码 copied as a form prints it (342322 19491106 0454, or with full-width spaces) is the record's
    number; one with a character left out, or a name with blanks between Latin words, is not."""
    record = {"citizen_id": "342322194911060454", "credit_code": "91451402024600190C", "name": "John Smith"}
    codes = frozenset({"citizen_id", "credit_code"})
    for claims in ({"citizen_id": "342322 19491106 0454"},
                   {"citizen_id": "３４２３２２\u3000１９４９１１０６\u3000０４５４"},
                   {"credit_code": "9145 1402 0246 0019 0c"}):
        assert verify(claims, record, upper_case_items=codes) == dict.fromkeys(claims, MATCH), claims
    for claims in ({"citizen_id": "342322 1949110 0454"}, {"name": "JohnSmith"}):
        assert verify(claims, record, upper_case_items=codes) == dict.fromkeys(claims, MISMATCH), claims


def test_verify_reads_a_zero_typed_as_the_ime_gives_it_in_a_code_as_its_key_is_read() -> None:
    """34232219491106〇454 (〇 for zero) claimed as a 公民身份号码 is the record's number, as the same key finds
    it; 〇 in a name is not 0."""
    record = {"citizen_id": "342322194911060454", "credit_code": "91110000600037341L", "name": "A0"}
    codes = frozenset({"citizen_id", "credit_code"})
    for claims in ({"citizen_id": "34232219491106〇454"}, {"credit_code": "９１１１〇〇〇〇６〇〇〇３７３４１ｌ"}):
        assert verify(claims, record, upper_case_items=codes) == dict.fromkeys(claims, MATCH), claims
    assert verify({"name": "A〇"}, record, upper_case_items=codes) == {"name": MISMATCH}


def test_verify_reads_an_address_without_the_blanks_typed_around_its_numbers() -> None:
    """滨河路 519 号 or 5 号楼 A 座 (the blank many type between Chinese and digits or Latin letters) is the record's
    滨河路519号; a blank between two digits still counts, and another number does not agree."""
    record = {"address": "河南省洛阳市老城区滨河路519号", "building": "5号楼A座", "latin": "John Smith"}
    for claims in ({"address": "河南省洛阳市老城区滨河路 519 号"},
                   {"address": "河南省洛阳市老城区滨河路\u3000５１９\u3000号"}, {"building": "5 号楼 A 座"}):
        assert verify(claims, record) == dict.fromkeys(claims, MATCH), claims
    for claims in ({"address": "河南省洛阳市老城区滨河路 5 19 号"}, {"address": "河南省洛阳市老城区滨河路 518 号"},
                   {"latin": "JohnSmith"}):
        assert verify(claims, record) == dict.fromkeys(claims, MISMATCH), claims


def test_verify_reads_a_dash_as_the_hyphen_the_record_holds() -> None:
    """An address's 3-2-101室 copied from a Word document or a web page comes with an en dash (Word's autocorrect
    between numbers: 3–2–101), a hyphen (U+2010) or a minus sign; a date 1949–11–06 likewise. Each is the record's
    hyphen, as a full-width － already was; another number, or a dash where the record has none, still disagrees."""
    record = {"address": "文化路252号3-2-101室", "birth_date": "1949-11-06", "balance": "-200"}
    kinds = {"numeric_items": frozenset({"balance"}), "date_items": frozenset({"birth_date"})}
    for claims in ({"address": "文化路252号3–2–101室"}, {"address": "文化路252号3‐2‐101室"},
                   {"address": "文化路252号3—2—101室"}, {"address": "文化路252号3−2−101室"},
                   {"birth_date": "1949–11–06"}, {"balance": "−200"}, {"balance": "‒200.00"}):
        assert verify(claims, record, **kinds) == dict.fromkeys(claims, MATCH), claims
    for claims in ({"address": "文化路252号3–2–102室"}, {"address": "文化路252号3–2101室"},
                   {"birth_date": "1949–11–07"}, {"balance": "200"}):
        assert verify(claims, record, **kinds) == dict.fromkeys(claims, MISMATCH), claims


def test_verify_compares_date_items_as_dates() -> None:
    """出生 1949年11月6日 read off an ID card is the record's 1949-11-06, and so is 1949年11月6号 as the day is said
    and typed (it was 不一致); an impossible or other date is not."""
    record = {"birth_date": "1949-11-06", "name": "1949-11-06"}
    dates = frozenset({"birth_date"})
    for written in ("1949年11月6日", "1949 年 11 月 06 日", "1949/11/6", "1949.11.06", "19491106",
                    "１９４９－１１－０６", "1949年11月6号", "一九四九年十一月六号", "1949年11月6号 00:00:00"):
        assert verify({"birth_date": written}, record, date_items=dates) == {"birth_date": MATCH}, written
    for written in ("1949年11月7日", "1949-11/06", "1949-02-30", "194911", "1949年11月6", "1949年11月7号"):
        assert verify({"birth_date": written}, record, date_items=dates) == {"birth_date": MISMATCH}, written
    assert verify({"name": "19491106"}, record, date_items=dates) == {"name": MISMATCH}
    assert verify({"birth_date": "19491106"}, record) == {"birth_date": MISMATCH}


def test_verify_reads_the_zero_an_input_method_types_in_dates_and_numbers() -> None:
    """〇 typed for zero (2〇15-9-5, ２〇〇) and a date in Chinese numerals (二〇一五年九月五日, as a certificate
    dates itself) are the record's 2015-09-05 and 200; another date, or 〇 in a text item, is not."""
    record = {"established_date": "2015-09-05", "registered_capital": "200", "name": "2015-09-05"}
    dates, numbers = frozenset({"established_date"}), frozenset({"registered_capital"})
    for written in ("2〇15-9-5", "２〇１５年９月５日", "2〇15〇9〇5", "二〇一五年九月五日", "二〇一五年〇九月〇五日"):
        assert verify({"established_date": written}, record, date_items=dates) == {"established_date": MATCH}, written
    for written in ("二〇一五年九月六日", "二〇一五年十九月五日", "二〇一五年九月", "二〇一五年二十月五日",
                    "二〇一五年十十月五日", "二〇一五年九月十〇日", "二〇一五年九月二十十日", "二〇一五年〇月五日"):
        assert verify({"established_date": written}, record, date_items=dates) == {
            "established_date": MISMATCH}, written
    assert verify({"established_date": "2018年10月21日"}, {"established_date": "2018-10-21"}, date_items=dates) == {
        "established_date": MATCH}
    assert verify({"established_date": "二〇一八年十月二十一日"}, {"established_date": "2018-10-21"},
                  date_items=dates) == {"established_date": MATCH}
    for written in ("２〇〇", "2〇〇.〇〇"):
        assert verify({"registered_capital": written}, record, numbers) == {"registered_capital": MATCH}, written
    assert verify({"name": "2〇15-〇9-〇5"}, record, numbers, date_items=dates) == {"name": MISMATCH}


def test_verify_reads_a_date_sent_with_its_midnight_as_the_date() -> None:
    """A calling system sends a date column with its midnight (2015-09-05 00:00:00, java.sql.Timestamp's .0,
    LocalDateTime's 2015-09-05T00:00) or as an instant (+08:00, +0800, a Shanghai midnight in UTC): each is the
    record's 2015-09-05; another time of day, another day's midnight, or a time on a text item is not."""
    record = {"established_date": "2015-09-05", "name": "2015-09-05"}
    dates = frozenset({"established_date"})
    for written in ("2015-09-05 00:00:00", "2015-09-05T00:00:00+08:00", "2015-09-05 00:00:00.0", "2015-09-05T00:00",
                    "2015-09-05T00:00:00.000+0800", "2015-09-04T16:00:00Z", "2015-09-04T16:00:00.000+00:00",
                    "2015-09-05T00:00:00Z", "2015/9/5 0:00:00", "2015年9月5日 00:00:00",
                    "２０１５－０９－０５　００：００"):
        assert verify({"established_date": written}, record, date_items=dates) == {"established_date": MATCH}, written
    for written in ("2015-09-05 14:30:00", "2015-09-05T10:00:00+08:00", "2015-09-05 00:00:01", "2015-09-05 24:00:00",
                    "2015-09-04 00:00:00", "2015-09-05T00:00:00+08:00:00", "2015-09-05T16:00:00Z",
                    "2015-09-05T01:00:00+99:00", "2015-09-0500:00:00"):
        assert verify({"established_date": written}, record, date_items=dates) == {
            "established_date": MISMATCH}, written
    assert verify({"name": "2015-09-05 00:00:00"}, record, date_items=dates) == {"name": MISMATCH}
    assert verify({"established_date": "2015-09-05"}, {"established_date": "2015-09-05 00:00:00"},
                  date_items=dates) == {"established_date": MATCH}


def test_verify_reads_every_middle_dot_of_a_name_as_the_separator() -> None:
    """买买提·艾力 typed with a bullet, a katakana or half-width middle dot, or the black circle some banks' systems
    put there, is the record's name; a name without the separator, or with another character there, is not: a
    hyphen or dash (阿依古丽-买买提, 阿依古丽—买买提) is no dot (docs/api.md), whichever side holds it."""
    record = {"name": "买买提·艾力"}
    for written in ("买买提•艾力", "买买提・艾力", "买买提･艾力", "买买提‧艾力", "买买提·艾力 ", "买买提●艾力"):
        assert verify({"name": written}, record) == {"name": MATCH}, written
    for written in ("买买提艾力", "买买提-艾力", "买买提 - 艾力", "买买提—艾力", "买买提－艾力", "买买提,艾力",
                    "买买提·艾", "买买.提艾力"):
        assert verify({"name": written}, record) == {"name": MISMATCH}, written
    assert verify({"name": "阿依古丽·买买提"}, {"name": "阿依古丽-买买提"}) == {"name": MISMATCH}
    assert verify({"name": "买买提·艾力"}, {"name": "买买提・艾力"}) == {"name": MATCH}


def test_verify_reads_a_full_stop_between_han_characters_as_the_names_separator() -> None:
    """A department's system that stores 买买提.艾力 (its keyboard had no 间隔号) answered 不一致 to the desk that
    typed 买买提·艾力 off the ID card, and a desk typing 买买提.艾力 (or ．, 。) did so against the population
    database's ·; a full stop elsewhere (a number, Latin letters, the end of a value) keeps its meaning. A name of
    a recent extension's characters (Extension H, U+31350) is read without the blanks typed in it, as 𠮷's is."""
    dotted = "买买提·艾力"
    for record, claimed in (("买买提.艾力", dotted), (dotted, "买买提.艾力"), (dotted, "买买提．艾力"),
                            (dotted, "买买提。艾力"), (dotted, "买买提 . 艾力"),
                            ("阿卜杜.热西提·买买提", "阿卜杜·热西提.买买提"), ("\U00031350明", "\U00031350 明")):
        assert verify({"name": claimed}, {"name": record}) == {"name": MATCH}, (record, claimed)
    for record, claimed in (("1.5", "1·5"), ("No.3", "No·3"), ("李明.", "李明·"), ("李明", "李明.")):
        assert verify({"value": claimed}, {"value": record}) == {"value": MISMATCH}, (record, claimed)


def test_verify_reads_a_chinese_name_without_the_blanks_typed_between_its_characters() -> None:
    """武 文辉 (or with a full-width space) typed at a desk is the record's 武文辉; a Latin name keeps its blank."""
    record = {"name": "武文辉", "rare": "𠮷田", "dotted": "买买提·艾力", "latin": "John Smith"}
    for claims in ({"name": "武 文辉"}, {"name": "武\u3000文\u3000辉"}, {"rare": "𠮷 田"}, {"dotted": "买买提 · 艾力"}):
        assert set(verify(claims, record).values()) == {MATCH}, claims
    for claims in ({"name": "武文"}, {"name": "武 文 辉 辉"}, {"latin": "JohnSmith"}, {"latin": "John Smit h"}):
        assert set(verify(claims, record).values()) == {MISMATCH}, claims


def test_verify_reads_latin_letters_in_a_name_in_either_case() -> None:
    """A foreigner's name held as the passport and the 永久居留身份证 print it (JOHN SMITH), typed at a desk as John
    Smith, or a company name's Latin letters typed in lower case (or full width), is the record's; another letter
    is not."""
    record = {"name": "JOHN SMITH", "company": "北京ABC科技有限公司", "mixed": "李A明"}
    for claims in ({"name": "John Smith"}, {"name": "john smith"}, {"company": "北京abc科技有限公司"},
                   {"company": "北京ａｂｃ科技有限公司"}, {"mixed": "李a明"}):
        assert set(verify(claims, record).values()) == {MATCH}, claims
    for claims in ({"name": "John Smyth"}, {"name": "JOHNSMITH"}, {"company": "北京ABD科技有限公司"},
                   {"mixed": "李B明"}):
        assert set(verify(claims, record).values()) == {MISMATCH}, claims
    assert verify({"name": "john smith"}, {"name": "John Smith"}) == {"name": MATCH}


def test_verify_reads_a_first_generation_citizen_id_as_the_number_it_became() -> None:
    """A desk copies 公民身份号码 342322491106045 off an old document (the first-generation 15-digit number) of the
    person whose record holds 342322194911060454, the number it became (GB 11643-1999): 一致, as is the 18-digit
    claim of a department's record still holding the 15-digit one; another person's number is not, nor a credit code
    item or a text item so written."""
    record = {"citizen_id": "342322194911060454", "old_id": "342322491106045", "holder_id": "342322194911060454"}
    ids = frozenset({"citizen_id", "old_id"})
    for claims in ({"citizen_id": "342322491106045"}, {"citizen_id": " ３４２３２２４９１１０６０４５ "},
                   {"old_id": "342322194911060454"}, {"old_id": "342322491106045"}):
        assert verify(claims, record, upper_case_items=ids, citizen_id_items=ids) == dict.fromkeys(
            claims, MATCH), claims
    for claims in ({"citizen_id": "342322491106046"}, {"citizen_id": "34232249110604"},
                   {"holder_id": "342322491106045"}, {"old_id": "342322194911060455"}):
        assert verify(claims, record, upper_case_items=ids | {"holder_id"}, citizen_id_items=ids) == dict.fromkeys(
            claims, MISMATCH), claims


def test_a_claim_that_is_no_value_of_its_item_type_is_named_not_compared() -> None:
    """A mistyped 公民身份号码 or 统一社会信用代码, a day the calendar does not have, a number in words: each is
    refused as no value of its type; what a desk types of a right value (groups, full width, lower case, the 15-digit
    number, a midnight, a unit, a word such as 长期 that a date item may hold) is not."""
    citizen, credit, region = (catalog_pb2.IDENTIFIER_KIND_CITIZEN_ID, catalog_pb2.IDENTIFIER_KIND_CREDIT_CODE,
                               catalog_pb2.IDENTIFIER_KIND_REGION_CODE)
    for claimed in ("342322194911060454", "342322 19491106 0454", "34232219491106〇454", "342322491106045",
                    "１１０１０５１９４９１２３１００２ｘ"):
        assert projection.claim_error(claimed, citizen) is None, claimed
    assert "check character" in projection.claim_error("342322194911060455", citizen)
    assert "18 characters" in projection.claim_error("34232219491106045", citizen)
    assert "invalid birth date" in projection.claim_error("342322491306045", citizen)  # 15 digits, month 13
    assert projection.claim_error("91451402024600190c", credit) is None
    assert "check character" in projection.claim_error("91451402024600190D", credit)
    assert projection.claim_error("110105", region) is None and projection.claim_error("11010", region)
    for claimed in ("2015-09-05", "2015年9月5日", "2015-09-05 00:00:00", "2015-09-05 14:30", "长期", "2016-02-29"):
        assert projection.claim_error(claimed, is_date=True) is None, claimed
    for claimed in ("2015-02-30", "2015年13月5日", "20150932", "2015-02-29 00:00:00", "二〇一五年二月三十日"):
        assert "no day of the calendar" in projection.claim_error(claimed, is_date=True), claimed
    for claimed in ("200", "200.00万元", "２〇〇", "200元", "1,000"):
        assert projection.claim_error(claimed, is_number=True) is None, claimed
    for claimed in ("贰佰万元整", "两百", "abc"):
        assert "not a number" in projection.claim_error(claimed, is_number=True), claimed
    assert projection.claim_error("2015-02-30") is None and projection.claim_error("贰佰") is None


def test_a_date_claimed_with_its_year_last_is_refused_not_compared() -> None:
    """05/09/2015 (a system set to an English locale, Excel's day-first or month-first short date) was compared as
    text and told 不一致 of the record's 2015-09-05, whichever day the desk meant: it is refused saying to write the
    year first, for a date and a date-and-time item alike; year-first forms and words are still compared."""
    for claimed in ("05/09/2015", "5/9/2015", "09-05-2015", "5.9.2015", "25/12/2015", "05/09/2015 00:00:00",
                    "０５／０９／２０１５", "5 / 9 / 2015"):
        problem = projection.claim_error(claimed, is_date=True)
        assert problem is not None and "year first" in problem, claimed
        assert claimed not in problem
    for claimed in ("2015/9/5", "2015.09.05", "20150905", "2015年9月5日", "长期", "05/09"):
        assert projection.claim_error(claimed, is_date=True) is None, claimed
    assert projection.claim_error("05/09/2015") is None  # a text item's value is the record's to compare


def test_verify_compares_han_characters_as_written_not_folding_traditional_to_simplified() -> None:
    """武文輝 is not the record's 武文辉, nor 於 于 nor 範 范 (different surnames a folding would join): a name is
    claimed as registered. A compatibility ideograph, the same character encoded twice, is the one it duplicates."""
    for claimed, actual in (("武文輝", "武文辉"), ("於明", "于明"), ("範冰", "范冰"), ("蕭紅", "萧红"),
                            ("于明", "於明")):
        assert verify({"name": claimed}, {"name": actual}) == {"name": MISMATCH}, claimed
    assert verify({"name": "\uf900明"}, {"name": "\u8c48明"}) == {"name": MATCH}  # 豈 (U+F900) is 豈 (U+8C48)


def test_a_claim_holding_a_character_nobody_sees_is_refused_naming_it() -> None:
    """武文辉 copied from a web page with a zero-width space, a direction mark or a byte order mark was 不一致 of the
    record's 武文辉, the desk seeing the same three characters: it is refused naming the character and where, any
    item's claim alike; blanks (a tab, a line break at its end) are not such characters."""
    for claimed in ("武文\u200b辉", "\u202a武文辉\u202c", "武文辉\ufeff", "武文\u200e辉"):
        problem = projection.claim_error(claimed)
        assert problem is not None and f"U+{ord(claimed.strip('武文辉')[0]):04X}" in problem, claimed
        assert "武文辉" not in problem
    assert "U+200B" in projection.claim_error("342322\u200b194911060454", catalog_pb2.IDENTIFIER_KIND_CITIZEN_ID)
    for claimed in ("武文辉\r\n", "\t武文辉", "武\u3000文辉", "武文辉\u00a0"):
        assert projection.claim_error(claimed) is None, claimed


def test_verify_reads_a_logical_item_as_yes_or_no_however_written() -> None:
    """A 逻辑型 item leaves a department's 前置机 as true/false; a desk claims 是 or 否 (or 1, Y, TRUE): 一致 when it
    says the same; a claim that says neither is refused naming the item, and a text item keeps comparing as text."""
    record = {"blacklisted": "true", "active": "false", "note": "true"}
    logical = frozenset({"blacklisted", "active"})
    for claims in ({"blacklisted": "是"}, {"blacklisted": "TRUE"}, {"blacklisted": "1"}, {"blacklisted": " Y "},
                   {"active": "否"}, {"active": "0"}, {"active": "False"}, {"active": "n"}):
        assert verify(claims, record, logical_items=logical) == dict.fromkeys(claims, MATCH), claims
    for claims in ({"blacklisted": "否"}, {"active": "是"}, {"note": "是"}):
        assert verify(claims, record, logical_items=logical) == dict.fromkeys(claims, MISMATCH), claims
    assert verify({"active": "否"}, {"active": "f"}, logical_items=logical) == {"active": MATCH}
    assert "neither yes nor no" in projection.claim_error("也许", is_logical=True)
    assert projection.claim_error("是", is_logical=True) is None and projection.claim_error("也许") is None


def test_verify_reads_a_time_of_day_written_in_hours_and_minutes_as_chinese_documents_write_it() -> None:
    """A certificate, a notice or a receipt dates a moment 2020年1月5日10时30分 (GB/T 7408's Chinese form, 时 分 秒);
    a desk copying it was told 不一致 of the record's 2020-01-05T10:30:00+08:00, as the time was read only as 10:30.
    The same moment so written agrees, another minute does not; a date item's midnight so written is its day."""
    record = {"registered_at": "2020-01-05T10:30:00+08:00", "issue_date": "2020-01-05"}
    kinds = {"datetime_items": frozenset({"registered_at"}), "date_items": frozenset({"issue_date"})}
    for claims in ({"registered_at": "2020年1月5日10时30分"}, {"registered_at": "2020年1月5日 10时30分00秒"},
                   {"registered_at": "2020-01-05 10时30分"}, {"registered_at": "二〇二〇年一月五日10时30分"},
                   {"registered_at": "2020年01月05日 10時30分"}, {"issue_date": "2020年1月5日0时0分"}):
        assert verify(claims, record, **kinds) == dict.fromkeys(claims, MATCH), claims
    for claims in ({"registered_at": "2020年1月5日10时31分"}, {"registered_at": "2020年1月5日10时30分01秒"},
                   {"registered_at": "2020年1月5日10时"}, {"registered_at": "2020年1月5日10时61分"},
                   {"issue_date": "2020年1月5日10时30分"}):
        assert verify(claims, record, **kinds) == dict.fromkeys(claims, MISMATCH), claims


def test_verify_reads_a_date_and_time_item_as_the_moment_it_names() -> None:
    """A 日期时间型 item leaves a department's 前置机 in ISO 8601 with its offset (2020-01-05T10:00:00+08:00); a
    calling system claims it as its DATETIME column prints it (2020-01-05 10:00:00, China's time), a desk as
    2020年1月5日 10:00, another system in UTC: the same moment is 一致; another moment, or a date alone, is not."""
    record = {"registered_at": "2020-01-05T10:00:00+08:00", "note": "2020-01-05T10:00:00+08:00"}
    moments = frozenset({"registered_at"})
    for claimed in ("2020-01-05 10:00:00", "2020-01-05 10:00:00.0", "2020-01-05T10:00", "2020年1月5日 10:00",
                    "2020-01-05T02:00:00Z", "2020-01-05T10:00:00+0800", "2020/1/5 10:00:00"):
        assert verify({"registered_at": claimed}, record, datetime_items=moments) == {"registered_at": MATCH}, claimed
    for claimed in ("2020-01-05 10:00:01", "2020-01-05T10:00:00Z", "2020-01-05", "2020-01-05 25:00"):
        assert verify({"registered_at": claimed}, record, datetime_items=moments) == {
            "registered_at": MISMATCH}, claimed
    assert verify({"note": "2020-01-05 10:00:00"}, record, datetime_items=moments) == {"note": MISMATCH}
    assert verify({"registered_at": "2020-01-05 10:00"}, {"registered_at": "2020-01-05T10:00:00"},
                  datetime_items=moments) == {"registered_at": MATCH}  # a timestamp without zone, China's time
