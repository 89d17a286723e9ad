"""Entry validation (R-CAT-1, R-CAT-2, R-SHR-3), update masks and filters, without a server."""

from __future__ import annotations

import pytest

from services.catalog import rules
from services.catalog.model import (
    Category,
    DataItem,
    DataType,
    Endpoint,
    Entry,
    EntryFilter,
    FormatClass,
    IdentifierKind,
    ReviewDecision,
    Secrecy,
    ShareMethod,
    ShareType,
    UpdateCycle,
    Zone,
)
from services.runtime.errors import ServiceError
from services.runtime.masking import Masker

DEPARTMENT = "91110000600037341L"
known = Masker().known


def entry(**changes: object) -> Entry:
    base = Entry(
        code="101001/000001", name="人口基础信息", summary="全员人口", category=Category.FOUNDATION, subject="人口",
        provider_department_code=DEPARTMENT, format_class=FormatClass.DATABASE,
        items=[DataItem(name="公民身份号码", machine_name="citizen_id", data_type=DataType.CHARACTER, length=18,
                        sensitive=True, mask_rule="citizen_id", identifier=IdentifierKind.CITIZEN_ID),
               DataItem(name="出生日期", machine_name="birth_date", data_type=DataType.DATE)],
        key_item="citizen_id", share_type=ShareType.UNCONDITIONAL, share_methods=[ShareMethod.ONLINE_QUERY],
        update_cycle=UpdateCycle.DAILY, zone=Zone.EXTRANET, secrecy=Secrecy.NON_CLASSIFIED,
        endpoint=Endpoint(dataset="population"),
    )
    for name, value in changes.items():
        setattr(base, name, value)
    return base


def violated(candidate: Entry) -> list[str]:
    return [v.field for v in rules.validate_entry(candidate, known)]


def test_a_complete_entry_is_valid() -> None:
    assert violated(entry()) == []


@pytest.mark.parametrize("code", ["101001/000001", "301001002/123456", "299999/999999"])
def test_well_formed_codes(code: str) -> None:
    assert rules.code_error(code) is None


@pytest.mark.parametrize("code", ["", "001001/000001", "401001/000001", "10100/000001", "101001/00001",
                                  "1010010/000001", "101001000001", "101001/0000001", "１01001/000001",
                                  "101001/000001\n"])
def test_malformed_codes(code: str) -> None:
    assert rules.code_error(code) is not None


@pytest.mark.parametrize("code,parts", [
    ("100001/000001", ["项 00 (allowed: 01-99)"]), ("101000/000001", ["目 000 (allowed: 001-999)"]),
    ("101001000/000001", ["细目 000 (allowed: 001-999)"]),
    ("101001/000000", ["顺序号 000000 (allowed: 000001-999999)"]),
    ("100000/000000", ["项 00", "目 000", "顺序号 000000"]),
])
def test_a_new_code_numbering_a_part_with_zeros_is_refused_naming_the_part(code: str, parts: list[str]) -> None:
    """项, 目, 细目 and the sequence number count from 1: 100001/000001 was accepted as a new entry's code. An entry
    stored under such a code before keeps it (its code cannot change), so only a code being given is refused."""
    violations = rules.validate_entry(entry(code=code), known, new_code=True)
    assert [v.field for v in violations] == ["entry.code"]
    assert violations[0].description.startswith("numbers a part with zeros only: ")
    assert all(part in violations[0].description for part in parts)
    assert rules.validate_entry(entry(code=code), known) == []
    assert rules.validate_entry(entry(code="101001/000001"), known, new_code=True) == []
    assert rules.validate_entry(entry(code="101001001/000001"), known, new_code=True) == []


@pytest.mark.parametrize("code,category,subject,problem", [
    ("102001/000001", Category.FOUNDATION, "人口", "the 项 02 does not stand for the subject 人口"),
    ("107001/000001", Category.FOUNDATION, "人口",
     "01 人口、02 法人单位、03 自然资源和空间地理、04 社会信用、05 电子证照, so 人口 is 01"),
    ("201001/000001", Category.THEME, "信用体系", "so 信用体系 is 07"),
    ("212001/000001", Category.THEME, "健康保障", "a THEME resource's 项 is one of 01 健康保障、"),
    ("105001/000001", Category.FOUNDATION, "电子证照", None), ("207001/000001", Category.THEME, "信用体系", None),
    ("202001/000001", Category.THEME, "社会保障", None), ("377001/000001", Category.DEPARTMENT, "刑事侦查", None),
])
def test_a_new_codes_item_number_stands_for_its_subject(code: str, category: Category, subject: str,
                                                         problem: str | None) -> None:
    """The 项 of a foundation or theme code numbers its subject among the seeds' (R-CAT-2, Art. 10): 107001 (no
    foundation subject) and 102001 for 人口 were accepted. A code given before keeps it; an edit of the subject must
    keep to the 项."""
    violations = rules.validate_entry(entry(code=code, category=category, subject=subject), known, new_code=True)
    if problem is None:
        assert violations == []
        return
    assert [v.field for v in violations] == ["entry.code"] and problem in violations[0].description
    assert rules.validate_entry(entry(code=code, category=category, subject=subject), known) == []
    with pytest.raises(ServiceError) as caught:
        rules.require_subject_numbered(entry(code=code, category=category, subject=subject))
    assert [v.field for v in caught.value.violations] == ["entry.subject"]


def test_the_class_digit_must_match_the_category() -> None:
    assert violated(entry(code="301001/000001")) == ["entry.code"]
    assert violated(entry(code="301001/000001", category=Category.DEPARTMENT, subject="任何部门主题")) == []


@pytest.mark.parametrize("category,subject,ok", [
    (Category.FOUNDATION, "电子证照", True), (Category.FOUNDATION, "社会保障", False),
    (Category.THEME, "应急维稳", True), (Category.THEME, "人口", False),
    (Category.DEPARTMENT, "部门自定", True),
])
def test_subjects_follow_the_category(category: Category, subject: str, ok: bool) -> None:
    candidate = entry(code=f"{int(category)}01001/000001", category=category, subject=subject)
    assert (violated(candidate) == []) is ok


def test_summary_is_at_most_256_characters() -> None:
    assert violated(entry(summary="摘" * 256)) == []
    assert violated(entry(summary="摘" * 257)) == ["entry.summary"]


def test_share_type_requirements() -> None:
    assert violated(entry(share_type=ShareType.CONDITIONAL)) == ["entry.share_condition"]
    assert violated(entry(share_type=ShareType.CONDITIONAL, share_condition="仅限民政")) == []
    assert violated(entry(share_type=ShareType.NOT_SHARED, share_methods=[])) == ["entry.legal_basis"]
    assert violated(entry(share_type=ShareType.NOT_SHARED, share_methods=[], legal_basis="某法第十条")) == []
    # Punctuation alone cites no law and states no condition.
    assert violated(entry(share_type=ShareType.NOT_SHARED, share_methods=[], legal_basis="。")) == ["entry.legal_basis"]
    assert violated(entry(share_type=ShareType.CONDITIONAL, share_condition="——")) == ["entry.share_condition"]
    assert violated(entry(share_methods=[])) == ["entry.share_methods"]
    assert violated(entry(share_methods=[ShareMethod.ONLINE_QUERY, ShareMethod.ONLINE_QUERY])) == \
        ["entry.share_methods[1]"]


def test_a_masking_rule_on_an_item_not_sensitive_is_refused() -> None:
    """Only a sensitive item is masked: 姓名 given the rule name but not marked 敏感 was stored with its rule, and
    its values were served in full to every department using the resource, the rule ignored without a word. The
    rule is refused on such an item, in Chinese on the 编目 form; an unknown rule is still said as unknown."""
    from console.errors import field_sentence

    plain = DataItem(name="姓名", machine_name="name", data_type=DataType.CHARACTER, length=50, mask_rule="name")
    assert violated(entry(items=[entry().items[0], plain])) == ["entry.items[1].mask_rule"]
    (violation,) = rules.validate_entry(entry(items=[entry().items[0], plain]), known)
    assert "平台说明" not in field_sentence(violation.description) and "敏感" in field_sentence(violation.description)
    plain.sensitive = True
    assert violated(entry(items=[entry().items[0], plain])) == []
    unknown = DataItem(name="姓名", machine_name="name", data_type=DataType.CHARACTER, length=50, mask_rule="rot13")
    assert [v.description for v in rules.validate_entry(entry(items=[entry().items[0], unknown]), known)] == [
        "unknown masking rule 'rot13'"]


def test_a_condition_the_resource_never_applies_is_refused() -> None:
    """An unconditional resource with a share condition ("仅限公安、司法机关办案使用") was stored and published: every
    department reading the entry took it for a restriction on a resource served to all, and the console, which shows
    a condition beside 有条件共享 only, hid it from the officer who typed it; so was an open condition on a resource
    not open to the public (开放属性 read 不向社会开放：向社会开放). Each is refused on its field, said in Chinese."""
    from console.errors import field_sentence

    assert violated(entry(share_condition="仅限公安、司法机关办案使用")) == ["entry.share_condition"]
    assert violated(entry(open_condition="向社会开放")) == ["entry.open_condition"]
    assert violated(entry(open_to_public=True, open_condition="脱敏后开放")) == []
    assert violated(entry(share_type=ShareType.NOT_SHARED, share_methods=[], legal_basis="某法第十条",
                          share_condition="经协调后方可使用")) == []
    for violation in rules.validate_entry(entry(share_condition="仅限", open_condition="开放"), known):
        assert "平台说明" not in field_sentence(violation.description), violation


def test_classified_entries_belong_to_the_intranet_and_not_to_the_public() -> None:
    assert violated(entry(secrecy=Secrecy.CLASSIFIED)) == ["entry.zone"]
    assert violated(entry(secrecy=Secrecy.CLASSIFIED, zone=Zone.INTRANET)) == []
    assert violated(entry(secrecy=Secrecy.CLASSIFIED, zone=Zone.INTRANET, open_to_public=True)) == \
        ["entry.open_to_public"]
    assert entry(zone=Zone.INTRANET).restricted and not entry().restricted


def test_items_are_checked_one_by_one() -> None:
    items = [
        DataItem(name="公民身份号码", machine_name="citizen_id", data_type=DataType.CHARACTER, length=18,
                 identifier=IdentifierKind.CITIZEN_ID),
        DataItem(name="", machine_name="Bad Name", data_type=99, length=-1),
        DataItem(name="重复", machine_name="citizen_id", data_type=DataType.CHARACTER, mask_rule="nope"),
    ]
    assert violated(entry(items=items)) == [
        "entry.items[1].name", "entry.items[1].machine_name", "entry.items[1].data_type", "entry.items[1].length",
        "entry.items[2].machine_name", "entry.items[2].length", "entry.items[2].mask_rule",
    ]


def test_configured_mask_rules_are_known() -> None:
    custom = entry(items=[DataItem(name="号码", machine_name="citizen_id", data_type=DataType.CHARACTER, length=18,
                                   sensitive=True, mask_rule="bank_card", identifier=IdentifierKind.CITIZEN_ID)])
    assert [v.field for v in rules.validate_entry(custom, known)] == ["entry.items[0].mask_rule"]
    assert rules.validate_entry(custom, Masker({"bank_card": "4,4"}).known) == []


def test_the_key_item_must_exist_and_say_how_keys_are_validated() -> None:
    assert violated(entry(key_item="")) == ["entry.key_item"]
    assert violated(entry(key_item="passport")) == ["entry.key_item"]
    assert violated(entry(key_item="birth_date")) == ["entry.items[0].identifier", "entry.key_item"]
    assert violated(entry(items=[])) == ["entry.items"]


def test_text_never_carries_nul_characters() -> None:
    assert violated(entry(name="人\x00口", legal_basis="\x00", related_codes=["\x00"])) == \
        ["entry.name", "entry.related_codes[0]", "entry.legal_basis"]


@pytest.mark.parametrize("name", ["\u200b", "\u200f\u202e", "人口\u202e息信", "人口\n基础信息", "\x1b[31m人口"])
def test_names_hold_no_control_or_invisible_characters(name: str) -> None:
    """An entry or item name of nothing but a zero-width space or bidi marks was accepted (it is not blank to
    str.strip) and published as an empty line in the catalog; a right-to-left override showed the rest of the
    name reversed."""
    assert violated(entry(name=name, provider_name=name)) == ["entry.name", "entry.provider_name"]
    items = [DataItem(name=name, machine_name="citizen_id", data_type=DataType.CHARACTER, length=18,
                      sensitive=True, mask_rule="citizen_id", identifier=IdentifierKind.CITIZEN_ID)]
    assert violated(entry(items=items)) == ["entry.items[0].name"]
    assert "invisible" in rules.validate_entry(entry(name=name), known)[0].description


@pytest.mark.parametrize("text", ["\u200b", "户籍\u200b管理", "\u202e理管籍户", "户籍\n管理", "⼈口"])
def test_a_department_subject_format_and_project_code_hold_no_invisible_characters(text: str) -> None:
    """A department resource's subject is free text shown beside the entry and matched byte for byte by a filter;
    a project code is matched so by GetProjectStatus. A subject of nothing but a zero-width space was accepted
    (it is not blank to str.strip) and shown as none, and 户籍<U+200B>管理 was found by no filter typed 户籍管理."""
    department = {"code": "301001/000001", "category": Category.DEPARTMENT}
    assert violated(entry(subject=text, **department)) == ["entry.subject"]
    assert violated(entry(format_type=text, project_code=text)) == ["entry.format_type", "entry.project_code"]
    assert violated(entry(subject="户籍管理", format_type="MySQL 8.0", project_code="智慧政务（一期）",
                          **department)) == []


@pytest.mark.parametrize("name", ["-", "。", "（）"])
def test_a_required_name_holds_a_letter_or_a_digit(name: str) -> None:
    assert violated(entry(name=name)) == ["entry.name"]


@pytest.mark.parametrize("name", ["人口基础信息", "人口　基础信息", "A股上市公司（2026）", "法人单位·基本信息"])
def test_names_as_people_type_them_are_valid(name: str) -> None:
    assert violated(entry(name=name, provider_name=name)) == []


def test_patterns_match_whole_values() -> None:
    trailing = entry(items=[DataItem(name="号码", machine_name="citizen_id\n", data_type=DataType.CHARACTER,
                                     length=18, identifier=IdentifierKind.CITIZEN_ID)], key_item="citizen_id\n",
                     endpoint=Endpoint(dataset="population\n"))
    assert violated(trailing) == ["entry.items[0].machine_name", "entry.endpoint.dataset"]


def test_related_codes() -> None:
    assert violated(entry(related_codes=["102001/000001", "101001/000001", "102001/000001", "x"])) == \
        ["entry.related_codes[1]", "entry.related_codes[2]", "entry.related_codes[3]"]


def test_an_empty_entry_lists_every_missing_field() -> None:
    assert set(violated(Entry())) == {
        "entry.category", "entry.code", "entry.subject", "entry.name", "entry.provider_department_code",
        "entry.format_class", "entry.update_cycle", "entry.items", "entry.share_type", "entry.zone",
        "entry.secrecy", "entry.endpoint.dataset",
    }


def test_update_masks() -> None:
    assert rules.mask_paths(["name", "endpoint.target"]) == ["name", "endpoint.target"]
    assert rules.mask_paths(["*"]) == list(rules.UPDATABLE_FIELDS)
    with pytest.raises(ServiceError) as caught:
        rules.mask_paths(["name", "version", "nope"])
    assert [v.field for v in caught.value.violations] == ["update_mask.paths[1]", "update_mask.paths[2]"]
    with pytest.raises(ServiceError):
        rules.mask_paths([])


def test_apply_mask_changes_only_the_named_fields() -> None:
    current = entry(state=3, version=2)
    patch = Entry(code="999999/999999", name="新名称", summary="", endpoint=Endpoint(target="h:1", dataset="other"))
    merged = rules.apply_mask(current, patch, ["name", "endpoint.target"])
    assert (merged.name, merged.summary, merged.endpoint) == ("新名称", "全员人口", Endpoint("h:1", "population"))
    assert (merged.code, merged.version, merged.state) == ("101001/000001", 2, 3)
    merged.items.append(DataItem())
    assert len(current.items) == 2  # no aliasing


def test_filters_are_checked() -> None:
    rules.check_filter(EntryFilter(provider_department_code=DEPARTMENT, category=1, state=6))
    with pytest.raises(ServiceError) as caught:
        rules.check_filter(EntryFilter(provider_department_code="x", category=7, subject="\x00"))
    assert [v.field for v in caught.value.violations] == [
        "filter.provider_department_code", "filter.category", "filter.subject"]


@pytest.mark.parametrize("reason", ["", " ", "。", "--", "\u200b"])
def test_a_return_must_say_what_to_rework(reason: str) -> None:
    with pytest.raises(ServiceError) as caught:
        rules.check_review("101001/000001", ReviewDecision.RETURN, reason)
    assert [v.field for v in caught.value.violations] == ["reason"]
    rules.check_review("101001/000001", ReviewDecision.RETURN, "摘要缺少数据来源")


@pytest.mark.parametrize(("first", "second"), [("公民身份号码", "公民身份号码"), ("公民身份号码", "公民身份号码 "),
                                               ("公民身份号码", "公民身份　号码"), ("邮箱Email", "邮箱ＥＭＡＩＬ"),
                                               ("ID号", "ｉｄ号")])
def test_two_items_do_not_read_as_the_same_name(first: str, second: str) -> None:
    """Two items of an entry could share a name (or differ by a space, letter case or a full-width letter): the
    console's apply and reply forms listed both alike, and an approver could not tell which one a grant gave."""
    items = [DataItem(name=first, machine_name="citizen_id", data_type=DataType.CHARACTER, length=18,
                      sensitive=True, mask_rule="citizen_id", identifier=IdentifierKind.CITIZEN_ID),
             DataItem(name=second, machine_name="citizen_id_2", data_type=DataType.CHARACTER, length=18)]
    violations = rules.validate_entry(entry(items=items), known)
    assert [v.field for v in violations] == ["entry.items[1].name"]
    assert "entry.items[0]" in violations[0].description


@pytest.mark.parametrize("name", ["\u2f08口基础信息", "人口基础信\u2f2f", "\uf900口"])
def test_names_hold_no_radical_drawn_like_a_han_character(name: str) -> None:
    """A name written with a Kangxi radical or a compatibility ideograph (⼈口基础信息, ⼈ U+2F08 for 人) read as
    another entry's name in the catalog and on 审核, and matched no name typed with an input method."""
    assert violated(entry(name=name, provider_name=name)) == ["entry.name", "entry.provider_name"]
    assert "drawn like" in rules.validate_entry(entry(name=name), known)[0].description


@pytest.mark.parametrize("reason", ["", "  ", "。"])
def test_retiring_a_published_entry_says_why(reason: str) -> None:
    """A published entry was retired with no reason: every grant of it ended (NOT_PUBLISHED) and the departments
    that used it, and the catalogue's readers, had nothing saying why. The refusal is said in Chinese on 撤销目录."""
    from console.errors import field_sentence

    with pytest.raises(ServiceError) as refused:
        rules.require_retire_reason(reason)
    (violation,) = refused.value.violations
    assert violation.field == "reason" and "平台说明" not in field_sentence(violation.description)
    rules.require_retire_reason("职能划转至市司法局")


@pytest.mark.parametrize("description", ["。", "\u200b", "——", " \u3000 "])
def test_a_mandate_change_says_what_changed(description: str) -> None:
    """ReportMandateChange took a description of "。" or a zero-width space (not blank to str.strip) and started a
    department's catalog-update clock that ListOverdueUpdates then showed with no reason."""
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    with pytest.raises(ServiceError) as refused:
        rules.check_mandate_change(DEPARTMENT, description, now, now)
    assert [v.field for v in refused.value.violations] == ["description"]
    assert "say what changed" in refused.value.violations[0].description
    rules.check_mandate_change(DEPARTMENT, "承接原市编办的事业单位登记职能", now, now)


@pytest.mark.parametrize("filler", ["\u3164", "\uffa0", "\u115f", "\u1160"])
def test_a_hangul_filler_is_no_name_nor_a_reason(filler: str) -> None:
    """A Hangul filler is a letter to Unicode (Lo) drawn as nothing: an entry named ㅤ (U+3164) was published as a
    blank line in the catalog, ㅤㅤ人口 showed as 人口 after two blanks, and a return or retire reason of ㅤ counted
    as saying something. Each is refused as the zero-width space is."""
    assert violated(entry(name=filler)) == ["entry.name"]
    assert violated(entry(name=f"{filler}{filler}人口基础信息")) == ["entry.name"]
    assert f"U+{ord(filler):04X}" in rules.validate_entry(entry(name=filler), known)[0].description
    with pytest.raises(ServiceError) as refused:
        rules.require_retire_reason(filler)
    assert [v.field for v in refused.value.violations] == ["reason"]
    with pytest.raises(ServiceError):
        rules.check_review("101001/000001", ReviewDecision.RETURN, filler)


@pytest.mark.parametrize("text", ["户籍\u200b管理", "\u202e理管籍户", "户籍\t管理", "\u3164户籍管理"])
def test_a_filter_holding_an_invisible_character_is_refused_not_answered_empty(text: str) -> None:
    """ListEntries and SearchEntries with filter.subject 户籍<U+200B>管理 (copied from a web page) or a project code so
    written answered no entry, which read as "there is none": no entry's subject or project code is stored with
    such a character (they are refused there), so the filter is refused naming it, and one typed plainly is taken."""
    for field in ("subject", "project_code"):
        with pytest.raises(ServiceError) as refused:
            rules.check_filter(rules.trimmed_filter(EntryFilter(**{field: text})))
        [violation] = refused.value.violations
        assert violation.field == f"filter.{field}", violation
        assert "invisible formatting characters (U+" in violation.description, violation.description
        rules.check_filter(rules.trimmed_filter(EntryFilter(**{field: " 户籍管理\n"})))


@pytest.mark.parametrize("text", ["智慧政务\u200b一期", "\u202e期一务政慧智", "智慧政务\t一期", "\u3164智慧政务一期"])
def test_a_project_code_holding_an_invisible_character_is_refused_not_counted_empty(text: str) -> None:
    """GetProjectStatus for 智慧政务<U+200B>一期 (copied from a web page) answered 0 entries, read as a project with
    nothing catalogued: no entry's project code is stored with such a character, so it is refused naming it."""
    with pytest.raises(ServiceError) as refused:
        rules.check_project_code(text.strip())
    [violation] = refused.value.violations
    assert violation.field == "project_code", violation
    assert "invisible formatting characters (U+" in violation.description, violation.description
    rules.check_project_code("智慧政务（一期）")


@pytest.mark.parametrize(("character", "name"), [
    ("\u202e", "RIGHT-TO-LEFT OVERRIDE"), ("\u2066", "LEFT-TO-RIGHT ISOLATE"), ("\u200f", "RIGHT-TO-LEFT MARK"),
    ("\u200b", "ZERO WIDTH SPACE"), ("\ufeff", "ZERO WIDTH NO-BREAK SPACE"), ("\u00ad", "SOFT HYPHEN"),
    ("\x1b", "a control character")])
def test_free_text_holding_an_invisible_formatting_character_is_refused_naming_the_field_and_where(
        character: str, name: str) -> None:
    """A summary, a share condition, a legal basis, a return or retire reason and a mandate change's description
    took a right-to-left override as sent: 依据《<U+202E>例条》 was shown to the applicant, the authority and in the
    history as another text than the one stored, and a zero-width space made two equal-looking texts differ.
    Each is refused on its field, saying which character and where; CJK text, full-width spaces, line breaks and
    tabs are taken as they were."""
    import datetime as dt

    from console.errors import field_sentence

    text = f"依据《{character}条例》"
    said = f"character 4 is U+{ord(character):04X} ({name}): remove it"
    violations = rules.validate_entry(entry(share_type=ShareType.CONDITIONAL, open_to_public=True, summary=text,
                                            share_condition=text, legal_basis=text, open_condition=text), known)
    assert [(v.field, v.description) for v in violations] == [
        (f"entry.{field}", f"must not contain invisible formatting or control characters: {said}")
        for field in ("summary", "share_condition", "legal_basis", "open_condition")]
    now = dt.datetime.now(dt.UTC)
    for refused in (lambda: rules.check_review("101001/000001", ReviewDecision.RETURN, f"请补充{text}"),
                    lambda: rules.check_review("101001/000001", ReviewDecision.PUBLISH, text),
                    lambda: rules.check_reason(text),
                    lambda: rules.check_mandate_change(DEPARTMENT, f"承接{text}", now, now)):
        with pytest.raises(ServiceError) as caught:
            refused()
        [violation] = caught.value.violations
        assert violation.field in ("reason", "description") and violation.description.endswith(
            f"U+{ord(character):04X} ({name}): remove it"), violation
    assert field_sentence(violations[0].description).startswith(f"第 4 个字符（U+{ord(character):04X}）是看不见的")
    plain = "依据《条例》第三条：\n1.\t全员人口　按月更新\r\n2. 𠮷野家"
    assert violated(entry(share_type=ShareType.CONDITIONAL, open_to_public=True, summary=plain,
                          share_condition=plain, legal_basis=plain, open_condition=plain)) == []
    rules.check_review("101001/000001", ReviewDecision.RETURN, plain)
    rules.check_reason(plain)
    rules.check_mandate_change(DEPARTMENT, plain, now, now)


def test_an_update_mask_naming_an_output_only_field_is_told_it_cannot_be_changed() -> None:
    """UpdateEntry with update_mask ["submitted_by"] (or reviewed_by, returns) was told "unknown field
    'submitted_by': expected one of name, summary, …", though the entry it had just read holds that field: every
    field of Entry is either one an update may name or one it is told cannot be changed."""
    from govshare.catalog.v1 import catalog_pb2

    fields = [field.name for field in catalog_pb2.Entry.DESCRIPTOR.fields]
    assert [name for name in fields if name not in (*rules.UPDATABLE_FIELDS, *rules.OUTPUT_ONLY_FIELDS)] == []
    with pytest.raises(ServiceError) as refused:
        rules.mask_paths(["summary", "submitted_by", "returns"])
    assert [(v.field, v.description) for v in refused.value.violations] == [
        ("update_mask.paths[1]", "submitted_by cannot be changed"),
        ("update_mask.paths[2]", "returns cannot be changed")]
