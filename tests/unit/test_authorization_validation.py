"""Field checks that keep bad input away from PostgreSQL and errors within the trailers' size."""

from __future__ import annotations

import grpc
import pytest

from services.authorization.validation import VIOLATIONS_MAX, bad_request, page_after, shown, text_problem
from services.runtime import pagination
from services.runtime.errors import FieldViolation, ServiceError


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
    with pytest.raises(ServiceError):
        page_after("not base64 at all!", int)


def test_many_violations_are_summed_up() -> None:
    error = bad_request([FieldViolation(f"items[{i}]", "bad") for i in range(300)])
    assert len(error.violations) == VIOLATIONS_MAX
    assert error.violations[-1].field == "request" and "276 more" in error.violations[-1].description
    assert len(bad_request([FieldViolation("a", "b")]).violations) == 1


def test_quoted_values_are_cut_short() -> None:
    assert shown("abc") == "'abc'"
    assert len(shown("x" * 5000)) < 50


def test_text_cannot_hold_nul_and_is_bounded() -> None:
    assert text_problem("a\x00") is not None
    assert text_problem("x" * 2001) is not None
    assert text_problem(" ", required=True) == "is required"
    assert text_problem("依据") is None
