"""Search terms, n-grams and page tokens of the catalog, without a server (R-CAT-4)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.catalog import index, paging, search
from services.catalog.model import EntryFilter
from services.catalog.rules import CODE_PATTERN
from services.runtime.errors import ServiceError
from services.runtime.pagination import encode_token


def test_queries_split_on_any_whitespace_and_are_normalised() -> None:
    assert search.parse_query(" 人口\u3000基础  ＧＩＳ 人口 ") == ["人口", "基础", "gis"]


def test_invisible_characters_are_neither_matched_nor_searched_for() -> None:
    """A zero-width space or direction mark copied with a query made it find nothing."""
    assert search.parse_query("人口\u200b \u200f基础\ufeff") == ["人口", "基础"]
    assert search.document_of("人口\u200b基础信息", "").name == "人口基础信息"
    assert search.spans("人口\u200b基础", ["口基"]) == [(1, 4)]


def test_a_hangul_filler_separates_words_as_the_blank_it_is_drawn_as() -> None:
    """人口ㅤ (U+3164, typed for a space or pasted) was searched as the word 人口ㅤ, which no entry holds."""
    assert search.parse_query("人口\u3164") == ["人口"]
    assert search.parse_query("人口\uffa0户籍\u115f") == ["人口", "户籍"]


def test_punctuation_separates_a_querys_words_as_spaces_do() -> None:
    """人口，户籍 (as a list is written in Chinese) was one term, comma included, and found nothing; 《人口基础信息》
    found no entry named 人口基础信息; 。 alone listed every entry whose summary holds a full stop."""
    assert search.parse_query("人口，户籍、法人;人口") == ["人口", "户籍", "法人"]
    assert search.parse_query("《人口基础信息》 “电子证照”") == ["人口基础信息", "电子证照"]
    assert search.parse_query("e-mail id_card") == ["e-mail", "id_card"]  # a dash or connector joins


@pytest.mark.parametrize("query", ["", "   ", "\x00", "字" * 201, " ".join("abcdefghijk"), "\u200b", "\u200e \u200f",
                                   "。", "，、《》", "\u3164"])
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
    # A search token of the release before the walk's stamp is still read (a walk begun before an upgrade).
    search_request = paging.fingerprint("index", ["人口"], EntryFilter())
    older = paging.encode((0, 1, 2, 3), search_request)
    assert paging.decode(older, search_request, (int,) * 6, older=((int,) * 4,)) == (0, 1, 2, 3)
    with pytest.raises(ServiceError):
        paging.decode(paging.encode((0, 1, 2, 3, 4), search_request), search_request, (int,) * 6,
                      older=((int,) * 4,))


# The in-process index (services/catalog/index.py) ------------------------------------------------------------


@given(codes=st.lists(st.from_regex(CODE_PATTERN, fullmatch=True), min_size=2, max_size=20))
def test_code_order_sorts_as_the_codes_do(codes: list[str]) -> None:
    """The rank key's last part must order codes exactly as the strings do, or ties would page out of order."""
    assert sorted(codes) == sorted(codes, key=index.code_order)
    assert all(0 <= index.code_order(code) < 2**49 for code in codes)


def test_rank_key_puts_widely_used_then_recent_weeks_then_code_first() -> None:
    now = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
    keys = [index.rank_key(now, 0, "101001/000002"), index.rank_key(now, 0, "101001/000001"),
            index.rank_key(now, 50, "101001/000009"), index.rank_key(now - dt.timedelta(days=8), 10**6, "101001/0"),
            index.rank_key(now - dt.timedelta(days=8), 0, "101001/000001"),
            index.rank_key(now, 10**12, "399999999/999999")]
    assert sorted(keys, reverse=True) == [keys[5], keys[3], keys[2], keys[1], keys[0], keys[4]]
    assert max(keys) < 2**64
    # The same order of magnitude of use is a tie: recency decides.
    assert index.rank_key(now, 20, "101001/000001") > index.rank_key(now - dt.timedelta(days=8), 99, "101001/000001")


def test_highlight_spans_map_back_to_the_stored_text() -> None:
    assert search.spans("ＧＩＳ空间数据", ["gis", "数据"]) == [(0, 3), (5, 7)]
    assert search.spans("人口基础信息", ["人口", "口基"]) == [(0, 3)]  # overlapping matches merge
    assert search.spans("人口", ["户籍"]) == []


@pytest.mark.parametrize(("text", "query", "expected"), [
    ("Cafe\u0301地图", "café", [(0, 5)]),  # e and a combining acute, which NFKC composes: found by é
    ("Cafe\u0301地图", "Café", [(0, 5)]),
    ("Lu\u0308 lü", "lü", [(0, 3), (4, 6)]),  # pinyin typed with a combining diaeresis, and precomposed
    ("ＧＩＳ数据", "ｇｉｓ", [(0, 3)]),
])
def test_a_match_made_by_normalising_a_character_with_its_marks_is_highlighted(
        text: str, query: str, expected: list[tuple[int, int]]) -> None:
    """The index matches a version's text normalised whole, and found Cafe\u0301 by café; the highlight normalised
    each code point alone (e, then a lone mark), found no é and showed the hit with nothing highlighted."""
    terms = search.parse_query(query)
    assert all(term in search.normalize(text) for term in terms)  # what the index matches
    assert search.spans(text, terms) == expected


def test_every_substring_is_found_by_the_index() -> None:
    """Matching stays substring matching: no segmentation may lose a fragment of a name or summary."""
    rng = random.Random(3)
    alphabet = "人口基础信息登记法单位社保缴费数据库目录"
    rows = []
    for number in range(40):
        name = "".join(rng.choice(alphabet) for _ in range(rng.randint(2, 8)))
        summary = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 10)))
        document = search.document_of(name, summary)
        rows.append(index.IndexedVersion(
            code=f"101001/{number:06d}", version=1, owner="d", published=True, provider_department_code="d",
            category=1, share_type=1, zone=1, update_cycle=1, subject="", project_code="", extranet_visible=True,
            name=document.name, text=document.text, name_words=document.name_words,
            text_words=document.text_words, recency=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)))
    built = index.SearchIndex()
    built.begin_build()
    built.add_batch(rows)
    built.finish_build()
    everyone = index.Visibility(sees_everything=True, department_code="", extranet=False)
    for row in rows[:15]:
        for text in (row.name, row.text.partition("\n")[2]):
            for start in range(len(text)):
                term = text[start:start + rng.randint(1, 4)]
                found = built.search([term], everyone, index.Filters(), None, 100)
                assert row.code in {hit.code for hit in found}, term
                expected = {r.code for r in rows if term in r.text}
                assert {hit.code for hit in found} == expected


def _indexed(code: str, name: str, summary: str, item_names: tuple[str, ...] = ()) -> index.IndexedVersion:
    document = search.document_of(name, summary, item_names)
    return index.IndexedVersion(
        code=code, version=1, owner="d", published=True, provider_department_code="d", category=1, share_type=1,
        zone=1, update_cycle=1, subject="", project_code="", extranet_visible=True, name=document.name,
        text=document.text, name_words=document.name_words, text_words=document.text_words,
        recency=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))


def test_a_term_spanning_a_blank_between_words_finds_nothing() -> None:
    """The index's bigram phrases stop at a blank: 编号码 is in neither 证照编号 nor 号码, and 社保险 is not in the name
    社保 保险缴费 (both were found, the second as a name match, with nothing to highlight)."""
    rows = [_indexed("101001/000001", "电子证照", "签发", ("证照编号", "号码")),
            _indexed("101001/000002", "社保 保险缴费", "缴费记录"),
            _indexed("101001/000003", "人口基础信息", "息县户籍登记")]
    built = index.SearchIndex()
    built.begin_build()
    built.add_batch(rows)
    built.finish_build()
    everyone = index.Visibility(sees_everything=True, department_code="", extranet=False)
    for query in ("编号码", "社保险", "信息县", "照签发", "编号 号码", "社保 保险", "信息", "息县"):
        terms = search.parse_query(query)
        found = {hit.code for hit in built.search(terms, everyone, index.Filters(), None, 10)}
        assert found == {row.code for row in rows if all(term in row.text for term in terms)}, query


def test_a_walk_keeps_its_order_when_a_key_changes_between_pages() -> None:
    """Pages resumed on the keys as they are now: an entry shown on the first page whose use fell below a power of
    ten (a lower key) was shown again on the next, and one republished a week later (a higher key) before it was
    shown was never shown, to every department walking a search's pages."""
    week = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)

    def row(number: int, usage: int = 0, recency: dt.datetime = week) -> index.IndexedVersion:
        return dataclasses.replace(_indexed(f"101001/{number:06d}", "社保缴费记录", "缴费"), usage=usage,
                                   recency=recency)

    built = index.SearchIndex()
    built.begin_build()
    built.add_batch([row(1, usage=5), row(2), row(3), row(4)])
    built.finish_build()
    everyone = index.Visibility(sees_everything=True, department_code="", extranet=False)
    terms = search.parse_query("社保")
    shown: list[str] = []
    after, as_of = None, None
    for step in range(6):
        hits, as_of = built.search_page(terms, everyone, index.Filters(), after, as_of, 1)
        if not hits:
            break
        shown += [hit.code for hit in hits]
        after = (hits[-1].cls, hits[-1].key)
        if step == 0:  # 000001's use falls to nothing (shown: a lower key now)
            built.apply(["101001/000001"], [row(1)])
        if step == 1:  # 000004, not shown yet, is republished two weeks on (a higher key now)
            built.apply(["101001/000004"], [dataclasses.replace(row(4), version=2,
                                                                recency=week + dt.timedelta(days=14))])
    assert shown == ["101001/000001", "101001/000002", "101001/000003", "101001/000004"]
    # A new walk reads the order as it is now.
    fresh = built.search_page(terms, everyone, index.Filters(), None, None, 4)[0]
    assert [hit.code for hit in fresh] == ["101001/000004", "101001/000001", "101001/000002", "101001/000003"]
