"""Search terms, n-grams and page tokens of the catalog, without a server (R-CAT-4)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.catalog import paging, search
from services.catalog.model import EntryFilter
from services.runtime.errors import ServiceError
from services.runtime.pagination import encode_token


def test_queries_split_on_any_whitespace_and_are_normalised() -> None:
    assert search.parse_query(" 人口\u3000基础  ＧＩＳ 人口 ") == ["人口", "基础", "gis"]


@pytest.mark.parametrize("query", ["", "   ", "\x00", "字" * 201, " ".join("abcdefghijk")])
def test_unusable_queries_are_invalid(query: str) -> None:
    with pytest.raises(ServiceError) as caught:
        search.parse_query(query)
    assert [v.field for v in caught.value.violations] == ["query"]


def test_documents_hold_characters_and_bigrams() -> None:
    document = search.document_of("人口信息", "ＡＢ")
    assert document.name == "人口信息" and document.text == "人口信息\nab"
    assert set(document.grams) == {"人", "口", "信", "息", "人口", "口信", "信息", "a", "b", "ab"}


@given(name=st.text(max_size=30), summary=st.text(max_size=30), data=st.data())
def test_every_substring_passes_the_index_condition(name: str, summary: str, data: st.DataObject) -> None:
    """The gram condition must never lose a true match (the recheck only removes false ones)."""
    document = search.document_of(name, summary)
    source = data.draw(st.sampled_from([document.name, document.text.partition("\n")[2]]))
    if not source.split():
        return
    word = data.draw(st.sampled_from(source.split()))
    start = data.draw(st.integers(0, len(word) - 1))
    end = data.draw(st.integers(start + 1, len(word)))
    term = word[start:end]
    assert set(search.query_grams([term])) <= set(document.grams)
    assert term in document.text


def test_page_tokens_round_trip_and_belong_to_their_request() -> None:
    request = paging.fingerprint("list", EntryFilter(category=1))
    token = paging.encode(("101001/000001", 2), request)
    assert paging.decode(token, request, (str, int)) == ("101001/000001", 2)
    assert paging.decode("", request, (str, int)) is None
    other = paging.fingerprint("list", EntryFilter(category=2))
    for bad, fingerprint in [(token, other), ("not a token", request),
                             (encode_token({"k": ["101001/000001"], "f": request}), request),
                             (encode_token({"k": ["x\x00", 1], "f": request}), request),
                             (encode_token({"k": ["101001/000001", 2**40], "f": request}), request),
                             (encode_token({"k": ["101001/000001", True], "f": request}), request)]:
        with pytest.raises(ServiceError) as caught:
            paging.decode(bad, fingerprint, (str, int))
        assert [v.field for v in caught.value.violations] == ["page_token"]
