"""Field checks that keep bad input away from PostgreSQL and errors within the trailers' size."""

from __future__ import annotations

import grpc
import pytest

from services.authorization.validation import (
    SYSTEM_ID,
    find_by_id,
    name_problem,
    page_after,
    page_of,
    shown,
    text_problem,
)
from services.runtime import pagination
from services.runtime.errors import ServiceError


def test_page_positions_round_trip() -> None:
    assert page_after("", int) is None
    assert page_after(pagination.encode_token({"after": 42}), int) == 42
    assert page_after(pagination.encode_token({"after": "91110000600037341L"}), str) == "91110000600037341L"


@pytest.mark.parametrize(("position", "kind"), [
    ({"after": 2**63}, int), ({"after": -1}, int), ({"after": True}, int), ({"after": "7"}, int), ({}, int),
    ({"after": "a\x00b"}, str), ({"after": "x" * 65}, str), ({"after": 7}, str),
])
def test_tampered_page_tokens_are_bad_input(position: dict, kind: type) -> None:
    with pytest.raises(ServiceError) as error:
        page_after(pagination.encode_token(position), kind)
    assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in error.value.violations] == ["page_token"]


def test_garbage_page_tokens_are_bad_input() -> None:
    with pytest.raises(ServiceError) as error:
        page_after("not base64 at all!", int)
    assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in error.value.violations] == ["page_token"]


def test_a_page_has_at_most_limit_items_and_a_token_only_when_more_follow() -> None:
    items, token = page_of([(1, "a"), (2, "b"), (3, "c")], 2)
    assert items == ["a", "b"] and page_after(token, int) == 2
    assert page_of([(1, "a"), (2, "b")], 2) == (["a", "b"], "")
    assert page_of([], 2) == ([], "")


async def test_ids_are_required_well_formed_and_known() -> None:
    looked_up: list[str] = []

    async def lookup(value: str) -> str | None:
        looked_up.append(value)
        return "found" if value == "sys-abcd1234" else None

    assert await find_by_id("sys-abcd1234", SYSTEM_ID, lookup, "system") == "found"
    with pytest.raises(ServiceError) as error:
        await find_by_id("", SYSTEM_ID, lookup, "system")
    assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in error.value.violations] == ["id"]
    with pytest.raises(ServiceError) as error:
        await find_by_id("sys-0000ffff", SYSTEM_ID, lookup, "system")
    assert error.value.code == grpc.StatusCode.NOT_FOUND and "system" in error.value.message
    # An id that cannot be one is bad input naming the field (it was NOT_FOUND, as if the record were gone).
    with pytest.raises(ServiceError) as error:
        await find_by_id("robert'); DROP TABLE systems;--", SYSTEM_ID, lookup, "system", "system_id")
    assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in error.value.violations] == ["system_id"]
    # A malformed id never reaches the lookup (nor the database behind it).
    assert looked_up == ["sys-abcd1234", "sys-0000ffff"]


def test_quoted_values_are_cut_short() -> None:
    assert shown("abc") == "'abc'"
    assert len(shown("x" * 5000)) < 50


def test_text_cannot_hold_nul_and_is_bounded() -> None:
    assert text_problem("a\x00") is not None
    assert text_problem("x" * 2001) is not None
    assert text_problem(" ", required=True) == "is required"
    assert text_problem("依据") is None


@pytest.mark.parametrize("name", ["张三\u3000", "\u3000张三", " 张三 ", "买买提·艾力", "市公安局 人口信息系统"])
def test_a_name_is_checked_as_it_is_stored_without_the_spaces_around_it(name: str) -> None:
    """A person's display name (or a system's, a department's) is stored stripped, so a full-width space a Chinese
    input method leaves after it is trimmed as an ASCII one is, not refused as "not printable"."""
    assert name_problem(name) is None


@pytest.mark.parametrize(("name", "said"), [
    ("张\u3000三", "character 2 is U+3000 (IDEOGRAPHIC SPACE): write an ordinary space, or none"),
    ("张\u200b三", "character 2 is U+200B (ZERO WIDTH SPACE): remove it"),
    ("张三\n李四", "character 3 is U+000A (a control character): a line break or tab is not allowed here"),
])
def test_an_unprintable_character_inside_a_name_is_named_with_its_place(name: str, said: str) -> None:
    assert name_problem(name) == f"must contain only printable characters: {said}"
    assert name_problem("\u3000") == "is required"


def test_a_name_holding_an_ideograph_of_a_recent_cjk_extension_is_a_name() -> None:
    """A person, department or system named with a rare character of Extension H (U+31350, Unicode 15.0) or I
    (U+2EBF0, 15.1), unknown to Python 3.11's Unicode 14.0, was refused "character 1 is U+2EBF0 (Cn): remove it";
    a private-use one (造字) is refused saying to write its standard character, not to remove it."""
    assert name_problem("\U0002ebf0\U00031350明") is None
    made = name_problem("张\ue3a1")
    assert made is not None and "private-use character" in made and "remove it" not in made, made
    assert name_problem("\U0002fffe明") == \
        "must contain only printable characters: character 1 is U+2FFFE (Cn): remove it"
