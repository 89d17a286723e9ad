"""Full-text search over Chinese names and summaries (R-CAT-4).

PostgreSQL has no Chinese tokenizer, and the extensions that help (zhparser,
pg_bigm; pg_trgm to a lesser degree) are not guaranteed to exist: the embedded
server the platform starts by default ships none of them (``CREATE EXTENSION
pg_trgm`` fails there). pg_trgm would be a weak fit anyway: most Chinese words are
two characters, too short to yield a trigram, so ``ILIKE '%人口%'`` gets no help
from a trigram index.

The approach is therefore the one pg_bigm takes, done by the catalog itself with
only built-in features:

* **Matching is substring matching.** A query is split on whitespace into terms;
  an entry matches when *every* term occurs in its name or summary. Text is
  NFKC-normalised and case-folded on both sides, so full-width and half-width
  forms and letter case do not matter. Substring matching needs no word
  segmentation, so it never misses a word a dictionary does not know (new
  department names, place names).
* **An n-gram index makes it fast.** Each version stores the set of its
  characters and character bigrams (``search_grams text[]``, GIN-indexed with the
  built-in array operators). A term's bigrams (or its single character) must all
  be in that set (``@>``, answered by the index); ``strpos`` on the normalised
  text then rechecks the exact substring, because bigrams can occur apart.
* **Relevance**: entries whose name contains every term come first, then by the
  number of terms found in the name, then by code, a total order that keyset
  pagination can resume from.

That PostgreSQL path now serves only searches with a state filter (the authority's
review queue); every other search is answered by the in-process index
(services/catalog/index.py), which matches the same substrings and ranks whole
words above fragments. Both read what this module derives from a version: its
normalised text, and its words as the segmenter (jieba, search mode) cuts them,
stored with the version (``search_name_words``, ``search_text_words``) so that a
replica rebuilding its index does not segment every entry again.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import jieba

from services.runtime.errors import BLANK_LETTERS, FieldViolation, invalid_argument

MAX_QUERY = 200
MAX_TERMS = 10


def normalize(text: str) -> str:
    """The form text is matched in: NFKC (full-width → half-width), case-folded, and without the format
    characters nobody sees typing or reading (a zero-width space, a direction mark): one copied with a query
    (人口\u200b) found nothing, and a query of nothing else was a search instead of a refusal."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    if folded.isascii():
        return folded
    # A Hangul filler (ㅤ, typed for a space by an input method, or pasted) is drawn as a blank: it separates
    # words as one does (人口ㅤ was searched as the word 人口ㅤ, which nothing holds).
    return "".join(" " if character in BLANK_LETTERS else character for character in folded
                   if unicodedata.category(character) != "Cf")


def grams(text: str) -> set[str]:
    """The characters and character bigrams of ``text`` (already normalised), whitespace excluded."""
    found: set[str] = set()
    for word in text.split():
        found.update(word)
        found.update(word[i:i + 2] for i in range(len(word) - 1))
    return found


@lru_cache(maxsize=1)
def _segmenter() -> jieba.Tokenizer:
    """jieba's tokenizer with its dictionary loaded once per process (about half a second), quietly."""
    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    return tokenizer


def words(text: str) -> list[str]:
    """The words of normalised ``text`` for the index: jieba's search mode, which also yields the shorter
    words inside a long one (信息库 → 信息, 信息库), so a query for either finds it as a whole word."""
    return [w for w in _segmenter().cut_for_search(text) if w.strip() and not _is_punctuation(w)]


def query_words(term: str) -> list[str]:
    """The words of one query term (precise mode: 人口基础 → 人口, 基础)."""
    return [w for w in _segmenter().lcut(term) if w.strip() and not _is_punctuation(w)] or [term]


def _is_punctuation(word: str) -> bool:
    return all(unicodedata.category(ch)[0] in "PSZC" for ch in word)


@dataclass(frozen=True)
class Document:
    """What a version is found by: its normalised name, its normalised name, summary and data item names
    (``text``), their grams (the PostgreSQL path), and the words of the name and of the rest (the index)."""

    name: str
    text: str
    grams: list[str]
    name_words: str = ""
    text_words: str = ""


def document_of(name: str, summary: str, item_names: Sequence[str] = ()) -> Document:
    name, summary = normalize(name), normalize(summary)
    items = normalize(" ".join(item_names))
    rest = f"{summary}\n{items}" if items else summary
    return Document(name=name, text=f"{name}\n{rest}", grams=sorted(grams(name) | grams(rest)),
                    name_words=" ".join(words(name)), text_words=" ".join(words(rest)))


def term_grams(term: str) -> set[str]:
    """The grams every document containing ``term`` must have: its bigrams, or the character itself."""
    if len(term) == 1:
        return {term}
    return {term[i:i + 2] for i in range(len(term) - 1)}


def parse_query(query: str, field: str = "query") -> list[str]:
    """The normalised, de-duplicated terms of a query; INVALID_ARGUMENT when there are none or too many."""
    if "\x00" in query:
        raise invalid_argument([FieldViolation(field, "must not contain the NUL character")])
    if len(query) > MAX_QUERY:
        raise invalid_argument([FieldViolation(field, f"must be at most {MAX_QUERY} characters")])
    terms = list(dict.fromkeys(_separated(normalize(query)).split()))
    if not terms and query.strip():
        # Not "is required" (the console said 此项必填 to a person who had typed 。 or 《》): what was typed is said.
        raise invalid_argument([FieldViolation(field, NO_WORD)])
    if not terms:
        raise invalid_argument([FieldViolation(field, "is required: the words to find in names and summaries")])
    if len(terms) > MAX_TERMS:
        raise invalid_argument([FieldViolation(field, f"at most {MAX_TERMS} words")])
    return terms


#: A query of nothing but punctuation, blanks and invisible characters, which separate words and find none.
NO_WORD = "holds no word to find: punctuation, spaces and invisible characters alone find nothing"


#: Punctuation that separates a query's words as whitespace does (Unicode categories Po, Ps, Pe, Pi, Pf: 、，。；
#: brackets and quotes such as 《》“”). Dashes and connectors (Pd, Pc: e-mail, id_card) stay inside a word.
_SEPARATING = frozenset({"Po", "Ps", "Pe", "Pi", "Pf"})


def _separated(text: str) -> str:
    """``text`` with separating punctuation made spaces. People list words the way they write Chinese,
    人口，户籍 or 人口、户籍, and quote titles, 《人口基础信息》: taken as one term with its punctuation, such a query
    found nothing, and a query of 。 alone listed every entry whose summary has a full stop."""
    return "".join(" " if unicodedata.category(character) in _SEPARATING else character for character in text)


def query_grams(terms: list[str]) -> list[str]:
    """The grams a document must contain to possibly match every term (the index condition)."""
    needed: set[str] = set()
    for term in terms:
        needed |= term_grams(term)
    return sorted(needed)


def spans(text: str, terms: Sequence[str]) -> list[tuple[int, int]]:
    """Where ``terms`` (normalised) occur in ``text`` as stored: merged [start, end) code point ranges.

    Text is matched in its normalised form; each original character, with the combining marks that follow it, is
    normalised on its own so that a match maps back to the characters it came from (ＧＩＳ matches gis at 0-3). A
    character normalised apart from its marks (e and U+0301, which NFKC composes into é) left é unmatched though
    the entry was found by it: a hit with nothing highlighted.
    """
    normalised: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for first, last in _clusters(text):
        piece = normalize(text[first:last])
        normalised.append(piece)
        starts.extend([first] * len(piece))
        ends.extend([last] * len(piece))
    flat = "".join(normalised)
    found: list[tuple[int, int]] = []
    for term in terms:
        start = flat.find(term)
        while start >= 0 and term:
            found.append((starts[start], ends[start + len(term) - 1]))
            start = flat.find(term, start + len(term))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _clusters(text: str) -> list[tuple[int, int]]:
    """[start, end) of each character of ``text`` with the combining marks (Unicode categories M*) after it."""
    clusters: list[tuple[int, int]] = []
    for position, character in enumerate(text):
        if clusters and unicodedata.category(character).startswith("M"):
            clusters[-1] = (clusters[-1][0], position + 1)
        else:
            clusters.append((position, position + 1))
    return clusters
