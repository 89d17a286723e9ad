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
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from services.runtime.errors import FieldViolation, invalid_argument

MAX_QUERY = 200
MAX_TERMS = 10


def normalize(text: str) -> str:
    """The form text is matched in: NFKC (full-width → half-width) and case-folded."""
    return unicodedata.normalize("NFKC", text).casefold()


def grams(text: str) -> set[str]:
    """The characters and character bigrams of ``text`` (already normalised), whitespace excluded."""
    found: set[str] = set()
    for word in text.split():
        found.update(word)
        found.update(word[i:i + 2] for i in range(len(word) - 1))
    return found


@dataclass(frozen=True)
class Document:
    """What a version is found by: its normalised name, its normalised name and summary, and their grams."""

    name: str
    text: str
    grams: list[str]


def document_of(name: str, summary: str) -> Document:
    name, summary = normalize(name), normalize(summary)
    return Document(name=name, text=f"{name}\n{summary}", grams=sorted(grams(name) | grams(summary)))


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
    terms = list(dict.fromkeys(normalize(query).split()))
    if not terms:
        raise invalid_argument([FieldViolation(field, "is required: the words to find in names and summaries")])
    if len(terms) > MAX_TERMS:
        raise invalid_argument([FieldViolation(field, f"at most {MAX_TERMS} words")])
    return terms


def query_grams(terms: list[str]) -> list[str]:
    """The grams a document must contain to possibly match every term (the index condition)."""
    needed: set[str] = set()
    for term in terms:
        needed |= term_grams(term)
    return sorted(needed)
