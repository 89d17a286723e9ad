"""The declared purpose's text (R-USE-1) as the access record keeps it and every listing shows it: one line."""

from __future__ import annotations

import pytest

from govshare.catalog.v1 import catalog_pb2
from govshare.common.v1 import common_pb2
from services.authorization.validation import item_list_problems
from services.query.resources import Resource
from services.query.servicer import _purpose_violations, not_an_item, purpose_text_violations


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


@pytest.mark.parametrize(("purpose_type", "said"), [
    (common_pb2.PURPOSE_TYPE_UNSPECIFIED, "declare the purpose of this use (R-USE-1): one of "),
    (99, "unknown purpose type 99: declare one of "),
])
def test_a_purpose_class_missing_or_unknown_is_refused_listing_the_classes(purpose_type: int, said: str) -> None:
    """A gRPC caller without the enum at hand (a number from a newer or older proto, or none) read "unknown purpose
    type 99" or "declare the purpose of this use", and had to find the four classes in the proto."""
    [violation] = _purpose_violations(common_pb2.Purpose(type=purpose_type, text="窗口受理"))
    assert violation.field == "purpose.type"
    assert violation.description == (f"{said}PURPOSE_TYPE_ADMINISTRATIVE_BASIS, PURPOSE_TYPE_WORK_REFERENCE, "
                                     "PURPOSE_TYPE_DATA_VERIFICATION, PURPOSE_TYPE_BUSINESS_COLLABORATION")


def test_an_item_written_in_camel_case_or_by_its_catalog_name_is_refused_naming_the_machine_name() -> None:
    """A Java caller's claims map written as its JSON library writes fields (establishedDate), or by the name the
    catalog shows (成立日期), was refused "'establishedDate' is not an item of 102001/000001" only: the refusal
    now names the machine name meant; an item that is none of them is refused as before."""
    entry = catalog_pb2.Entry(code="102001/000001", items=[
        catalog_pb2.DataItem(name="成立日期", machine_name="established_date"),
        catalog_pb2.DataItem(name="注册资本(万元)", machine_name="registered_capital")])
    resource = Resource(entry, "102001/000001", "11110100MB0000003A", frozenset({"established_date",
                        "registered_capital"}), 0, "entities", "", True, True)
    hint = ": items are named by their machine name, here "
    assert not_an_item("establishedDate", resource) == (
        f"'establishedDate' is not an item of 102001/000001{hint}'established_date'")
    assert not_an_item("成立日期", resource) == f"'成立日期' is not an item of 102001/000001{hint}'established_date'"
    assert not_an_item("registeredCapital", resource).endswith("'registered_capital'")
    assert not_an_item("birthDate", resource) == "'birthDate' is not an item of 102001/000001"
    # An empty one is said to be empty, as an application's is, not quoted as a name that is none.
    assert not_an_item("", resource) == ("is empty: name an item of 102001/000001 by its machine name (such as "
                                         "name)")
    assert not_an_item(" ", resource).startswith("holds blanks only: name an item of 102001/000001")


def test_an_item_named_without_its_unit_or_several_items_in_one_are_said_so() -> None:
    """注册资本, the catalog's 注册资本(万元) without its unit as a desk names it, was refused as no item, naming none;
    so was ["name,status"] (a list joined into one text, a REST query's ?items=name,status read as one value),
    which names each item it holds now. A text that is not all items is refused as before."""
    entry = catalog_pb2.Entry(code="102001/000001", items=[
        catalog_pb2.DataItem(name="名称", machine_name="name"),
        catalog_pb2.DataItem(name="成立日期", machine_name="established_date"),
        catalog_pb2.DataItem(name="注册资本(万元)", machine_name="registered_capital")])
    resource = Resource(entry, "102001/000001", "11110100MB0000003A", frozenset({"name", "established_date",
                        "registered_capital"}), 0, "entities", "", True, True)
    assert not_an_item("注册资本", resource) == ("'注册资本' is not an item of 102001/000001: items are named by their "
                                              "machine name, here 'registered_capital'")
    for joined in ("name,established_date", "name， established_date", "name、成立日期", "name establishedDate"):
        assert not_an_item(joined, resource) == (
            f"{joined!r} is not an item of 102001/000001: it names 2 items in one; give each as an item of its own: "
            "name, established_date"), joined
    assert not_an_item("name,birth_date", resource) == "'name,birth_date' is not an item of 102001/000001"
    assert not_an_item("成立", resource) == "'成立' is not an item of 102001/000001"


def test_an_item_with_a_character_nobody_sees_or_in_full_width_forms_is_said_so() -> None:
    """items ["birth<U+200B>_date"] (copied from a document with a zero-width space) or ["ｂｉｒｔｈ_ｄａｔｅ"] (typed
    with a Chinese input method) was refused "'…' is not an item of …", quoting a name that looked right; so was
    注册资本（万元） typed with full-width brackets where the catalog shows (万元). The refusal says what is wrong
    and names the item; SubmitApplication's items say so too."""
    entry = catalog_pb2.Entry(code="102001/000001", items=[
        catalog_pb2.DataItem(name="成立日期", machine_name="established_date"),
        catalog_pb2.DataItem(name="注册资本(万元)", machine_name="registered_capital")])
    resource = Resource(entry, "102001/000001", "11110100MB0000003A", frozenset({"established_date",
                        "registered_capital"}), 0, "entities", "", True, True)
    assert not_an_item("established\u200b_date", resource) == (
        "'established\\u200b_date' is not an item of 102001/000001: it holds a character nobody sees: character 12 "
        "is U+200B (ZERO WIDTH SPACE): remove it; the item is 'established_date'")
    assert not_an_item("ｅｓｔａｂｌｉｓｈｅｄ_ｄａｔｅ", resource).endswith(
        ": it is written in full-width characters (全角); the item is 'established_date'")
    assert not_an_item("注册资本（万元）", resource).endswith("the item is 'registered_capital'")
    assert not_an_item("ｂｉｒｔｈ", resource) == "'ｂｉｒｔｈ' is not an item of 102001/000001"
    [violation] = item_list_problems("application.items", ["ｂｉｒｔｈ_ｄａｔｅ"])
    assert violation.description.endswith("(lower_snake): it is written in full-width characters (全角); write "
                                          "birth_date"), violation.description
    [violation] = item_list_problems("application.items", ["birth_date\u200b"])
    assert violation.description.endswith("U+200B (ZERO WIDTH SPACE): remove it; write birth_date")
