"""The catalog's in-process search index (R-CAT-4 at national scale): Tantivy, one per replica.

Why in-process: at 10^6 entries the PostgreSQL bigram path reads every candidate
before ranking (9.4 s for a common word); a Tantivy index in the catalog process
answers the same queries in milliseconds and needs no server of its own
(docs/architecture.md, "Catalog search"). PostgreSQL stays the only copy: the index
is rebuilt from it at start, kept current by the catalog's change events, and
repaired by a periodic catch-up, so losing it loses nothing.

One document per entry: its *current* version (the published one, else the latest
for its department and the authority), unless that version is retired. Fields:

* ``name_words`` / ``text_words``: the words of the name, and of the summary and item
  names, as the segmenter cut them (stored with the version, see search.py);
* ``name_grams`` / ``text_grams``: the character bigrams of the normalised name and
  of name + summary, with positions, so a phrase of bigrams is an exact substring;
  ``name_chars`` / ``text_chars``: their single characters (one-character queries);
* the filters (provider, category, share type, zone, update cycle, subject,
  project) and who may see it (owner department, published once, extranet-visible);
* ``key``: the tie-breaker key, widely used first, then recent, then code;
* ``key_before`` / ``key_since``: the key the document had before its last change of key, and when (this
  replica's stamp, see below), so that a walk through the pages keeps the order it began with.

Relevance is four classes, every query word required in each (see :func:`_classes`):
whole words in the name, then substrings of the name, then whole words anywhere,
then substrings anywhere; inside a class, by ``rank``. The class and the key depend
on the document and the query only (not on corpus statistics), so a page token
(class, key) resumes where the last page ended.

The key changes, though: a republication moves an entry to a more recent week, and its use
count crossing a power of ten to another bucket. Resumed on the keys as they are now, an entry
whose key rose past the token's after its page was shown was shown again, and one whose key fell
past it before it was shown was never shown. Each commit of the index therefore has a stamp
(milliseconds, increasing), each document keeps the key it had before its key last changed and
the stamp of that change, and a token carries the stamp its first page was read at: a document
whose key changed since is placed by its key before. A document whose key changed twice since the
walk began, or a walk carried on by a replica that rebuilt its index meanwhile, may still be placed
by a newer key.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import tantivy

from services.catalog import search
from services.catalog.rules import CODE_PATTERN

Q = tantivy.Query
MUST, SHOULD, MUST_NOT = tantivy.Occur.Must, tantivy.Occur.Should, tantivy.Occur.MustNot

#: Bits of the rank key: usage bucket (3), recency in weeks (12: 78 years), code order (49).
_USAGE_SHIFT, _WEEK_SHIFT = 61, 49
_CODE_BITS = (1 << 49) - 1
_EPOCH = dt.datetime(2000, 1, 3, tzinfo=dt.UTC)  # a Monday
#: Index writer memory: tantivy needs at least 15 MB per thread; two threads share the machine's cores.
_WRITER_HEAP = 128_000_000
_WRITER_THREADS = 2

#: The number of relevance classes (0 is best).
CLASSES = 4


@dataclass(frozen=True)
class IndexedVersion:
    """The current version of one entry as the index needs it (read by the store)."""

    code: str
    version: int
    #: The entry's department (its drafts are its own) and whether it was published once.
    owner: str
    published: bool
    provider_department_code: str
    category: int
    share_type: int
    zone: int
    update_cycle: int
    subject: str
    project_code: str
    extranet_visible: bool
    #: Normalised name, and normalised name + summary (search.Document.name / .text).
    name: str
    text: str
    name_words: str
    text_words: str
    #: Publication time (else last change) and use count (answered calls over the last 30 days, from the
    #: query service: services/catalog/usage.py): the tie-breakers.
    recency: dt.datetime
    usage: int = 0


@dataclass(frozen=True)
class Hit:
    """A found entry: its version, relevance class and tie-breaker key as of the walk's stamp (what a page token
    resumes after)."""

    code: str
    version: int
    cls: int
    key: int


@dataclass(frozen=True)
class Visibility:
    """Whose eyes a search is for (store.View, as index terms)."""

    sees_everything: bool
    department_code: str
    extranet: bool


@dataclass(frozen=True)
class Filters:
    provider_department_code: str = ""
    category: int = 0
    share_type: int = 0
    zone: int = 0
    update_cycle: int = 0
    subject: str = ""
    project_code: str = ""


def code_order(code: str) -> int:
    """An integer that sorts as the code string sorts ('/' before any digit), below 2**49."""
    match = CODE_PATTERN.fullmatch(code)
    if match is None:
        return _CODE_BITS
    prefix = int(match.group(1) + match.group(2) + match.group(3))
    middle = 0 if match.group(4) is None else 1 + int(match.group(4))
    return (prefix * 1001 + middle) * 1_000_000 + int(match.group(5))


def _milliseconds(moment: dt.datetime) -> int:
    """A commit's stamp: milliseconds since _EPOCH."""
    return (moment - _EPOCH) // dt.timedelta(milliseconds=1)


def usage_bucket(usage: int) -> int:
    """0..7: roughly the decimal order of magnitude of the use count (0, 1-9, 10-99, ... 10^6+)."""
    return min(7, len(str(usage)) if usage > 0 else 0)


def rank_key(recency: dt.datetime, usage: int, code: str) -> int:
    """Descending order of this key is: most used (order of magnitude) first, then most recent week, then code
    ascending. Usage by order of magnitude: a few calls more do not reorder results (nor re-index an entry)."""
    week = max(0, min(4095, (recency - _EPOCH).days // 7))
    return (usage_bucket(usage) << _USAGE_SHIFT) | (week << _WEEK_SHIFT) | (_CODE_BITS - code_order(code))


#: The token between two words' bigrams: one character, so no query's bigram is ever it.
_WORD_BREAK = "|"


def _bigrams(text: str) -> str:
    """The bigrams of ``text``'s words, a break between words. Positions are what make a phrase of bigrams a
    substring: with one word's last bigram next to the next word's first, a term spanning the blank matched (编号码
    found the entry with the items 证照编号 and 号码, 社保险 the name 社保 保险缴费, ranked a name match), a hit
    holding no such text."""
    return f" {_WORD_BREAK} ".join(" ".join(word[i:i + 2] for i in range(len(word) - 1)) for word in text.split())


def _chars(text: str) -> str:
    return " ".join(sorted(set(text) - set(" \t\n\r")))


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("code", stored=True, tokenizer_name="raw")
    builder.add_unsigned_field("version", stored=True)
    builder.add_unsigned_field("key", stored=True, fast=True)
    builder.add_unsigned_field("key_before", stored=True, fast=True)
    builder.add_unsigned_field("key_since", stored=True, fast=True)
    for name in ("owner", "provider", "subject", "project"):
        builder.add_text_field(name, tokenizer_name="raw", index_option="basic")
    for name in ("published", "extranet", "category", "share_type", "zone", "update_cycle"):
        builder.add_unsigned_field(name, indexed=True)
    for name in ("name_words", "text_words", "name_chars", "text_chars"):
        builder.add_text_field(name, tokenizer_name="whitespace", index_option="basic")
    for name in ("name_grams", "text_grams"):
        builder.add_text_field(name, tokenizer_name="whitespace", index_option="position")
    return builder.build()


def _new_index(schema: tantivy.Schema) -> tantivy.Index:
    index = tantivy.Index(schema)  # in memory: rebuilt from PostgreSQL at every start
    index.register_tokenizer("whitespace", tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace()).build())
    return index


def _document(row: IndexedVersion, earlier: tuple[int, int, int] | None = None, stamp: int = 0) -> tantivy.Document:
    """The document of ``row``; ``earlier`` is its previous document's (key, key_before, key_since), kept when the
    key is the same, else the previous key becomes key_before as of ``stamp``. Without one (a rebuild, an entry new
    to the index) the key is its own key before, since the beginning."""
    name_words = row.name_words or " ".join(search.words(row.name))
    text_words = row.text_words or " ".join(search.words(row.text))
    key = rank_key(row.recency, row.usage, row.code)
    if earlier is None:
        before, since = key, 0
    elif earlier[0] == key:
        before, since = earlier[1], earlier[2]
    else:
        before, since = earlier[0], stamp
    document = tantivy.Document()
    # Typed adds: keyword arguments would make the numbers signed, which an unsigned field refuses.
    for field, number in (("version", row.version), ("key", key), ("key_before", before), ("key_since", since),
                          ("published", int(row.published)), ("extranet", int(row.extranet_visible)),
                          ("category", row.category), ("share_type", row.share_type), ("zone", row.zone),
                          ("update_cycle", row.update_cycle)):
        document.add_unsigned(field, number)
    for field, text in (("code", row.code), ("owner", row.owner), ("provider", row.provider_department_code),
                        ("subject", row.subject), ("project", row.project_code), ("name_words", name_words),
                        ("text_words", text_words), ("name_chars", _chars(row.name)),
                        ("text_chars", _chars(row.text)), ("name_grams", _bigrams(row.name)),
                        ("text_grams", _bigrams(row.text))):
        document.add_text(field, text)
    return document


class SearchIndex:
    """The index of one replica. Blocking methods: call them in a worker thread (asyncio.to_thread)."""

    def __init__(self) -> None:
        self._schema = _schema()
        self._index: tantivy.Index | None = None
        self._writer: tantivy.IndexWriter | None = None
        self._building: tuple[tantivy.Index, tantivy.IndexWriter] | None = None
        #: One writer at a time (build batches, event batches); a walk's first page takes it to read the stamp of
        #: the commit it searches.
        self._lock = threading.Lock()
        #: The stamp of the last commit (milliseconds since _EPOCH, increasing): what a walk's first page saw; and
        #: of the last commit that changed a document's key (a walk begun since reads the keys as they are).
        self._stamp = self._key_changed = 0

    @property
    def ready(self) -> bool:
        """Whether a built index answers searches (False while the first build runs)."""
        return self._index is not None

    # Writing ------------------------------------------------------------------------------------

    def begin_build(self) -> None:
        """Starts a fresh index beside the one serving (none at start)."""
        index = _new_index(self._schema)
        self._building = (index, index.writer(_WRITER_HEAP, _WRITER_THREADS))

    def add_batch(self, rows: Iterable[IndexedVersion]) -> None:
        """Adds a batch of the rebuild's documents (the building index is not searched yet)."""
        assert self._building is not None, "begin_build first"
        writer = self._building[1]
        for row in rows:
            writer.add_document(_document(row))

    def finish_build(self) -> None:
        """Commits the rebuilt index and serves from it."""
        assert self._building is not None, "begin_build first"
        index, writer = self._building
        writer.commit()
        index.reload()
        with self._lock:
            self._index, self._writer, self._building = index, writer, None

    def apply(self, codes: Iterable[str], rows: Sequence[IndexedVersion]) -> None:
        """Replaces the documents of ``codes`` by ``rows`` (their current versions; none: not searchable), each
        keeping the key it had before, as of this commit's stamp, when its key changes."""
        with self._lock:
            if self._writer is None or self._index is None:
                return
            searcher = self._index.searcher()
            stamp = max(self._stamp + 1, _milliseconds(dt.datetime.now(dt.UTC)))
            earlier = {row.code: self._keys_of(searcher, row.code) for row in rows}
            for code in codes:
                self._writer.delete_documents_by_term("code", code)
            for row in rows:
                self._writer.add_document(_document(row, earlier[row.code], stamp))
            # Before the commit is searched: a later page that sees it must not take the keys as they are.
            if any(keys[0] != rank_key(row.recency, row.usage, row.code)
                   for row in rows if (keys := earlier[row.code]) is not None):
                self._key_changed = stamp
            self._writer.commit()
            self._index.reload()
            self._stamp = stamp

    def _keys_of(self, searcher: tantivy.Searcher, code: str) -> tuple[int, int, int] | None:
        """The (key, key_before, key_since) of ``code``'s document, None when it has none."""
        found = searcher.search(Q.term_query(self._schema, "code", code), limit=1, count=False)
        if not found.hits:
            return None
        document = searcher.doc(found.hits[0][1])
        return int(document["key"][0]), int(document["key_before"][0]), int(document["key_since"][0])

    def size(self) -> int:
        return self._index.searcher().num_docs if self._index is not None else 0

    # Searching ----------------------------------------------------------------------------------

    def search(self, terms: Sequence[str], visibility: Visibility, filters: Filters,
               after: tuple[int, int] | None, limit: int) -> list[Hit]:
        """Up to ``limit`` hits after ``after`` (class, key), best first, by the keys as they are now."""
        return self.search_page(terms, visibility, filters, after, None, limit)[0]

    def search_page(self, terms: Sequence[str], visibility: Visibility, filters: Filters,
                    after: tuple[int, int] | None, as_of: int | None, limit: int) -> tuple[list[Hit], int]:
        """Up to ``limit`` hits after ``after`` (class, key), best first, each placed by its key as of the stamp
        ``as_of`` (None: a walk's first page, as of the commit searched); and that stamp, for the next page."""
        index = self._index
        if index is None:
            raise RuntimeError("the search index is not built")
        if as_of is None:
            with self._lock:  # the searcher and the stamp of the same commit
                searcher, as_of = self._index.searcher(), self._stamp  # type: ignore[union-attr]
        else:
            searcher = index.searcher()
        required = self._filters(visibility, filters)
        classes = _classes(self._schema, terms)
        hits: list[Hit] = []
        first = after[0] if after is not None else 0
        for cls in range(first, CLASSES):
            clauses = [(MUST, classes[cls]), *((MUST, q) for q in required)]
            clauses += [(MUST_NOT, classes[better]) for better in _EXCLUDED[cls]]
            below = after[1] if after is not None and cls == after[0] else None
            if as_of >= self._key_changed:  # no key changed since the walk began: the keys as they are
                found = self._by_key(searcher, clauses, "key", None, below, limit - len(hits))
            else:
                found = self._by_key(searcher, clauses, "key", as_of, below, limit - len(hits))
                found += self._by_key(searcher, clauses, "key_before", as_of, below, limit - len(hits))
                found.sort(key=lambda hit: hit[0], reverse=True)
            for key, address in found[:limit - len(hits)]:
                document = searcher.doc(address)
                hits.append(Hit(document["code"][0], int(document["version"][0]), cls, key))
            if len(hits) >= limit:
                break
        return hits, as_of

    def _by_key(self, searcher: tantivy.Searcher, clauses: list, field: str, as_of: int | None, below: int | None,
                limit: int) -> list[tuple[int, tantivy.DocAddress]]:
        """The documents matching ``clauses`` whose key as of ``as_of`` is ``field`` (key: unchanged since;
        key_before: changed since; None: every document by its key), that key below ``below``, best first."""
        if as_of is not None:
            since = (Q.range_query(self._schema, "key_since", tantivy.FieldType.Unsigned, None, as_of)
                     if field == "key" else
                     Q.range_query(self._schema, "key_since", tantivy.FieldType.Unsigned, as_of, None,
                                   include_lower=False))
            clauses = [*clauses, (MUST, since)]
        if below is not None:
            clauses.append((MUST, Q.range_query(self._schema, field, tantivy.FieldType.Unsigned, None, below,
                                                include_upper=False)))
        found = searcher.search(Q.boolean_query(clauses), limit=limit, count=False, order_by_field=field,
                                order=tantivy.Order.Desc)
        return [(int(key), address) for key, address in found.hits]

    def _filters(self, visibility: Visibility, filters: Filters) -> list[tantivy.Query]:
        schema = self._schema
        required: list[tantivy.Query] = []
        if not visibility.sees_everything:
            required.append(Q.boolean_query([(SHOULD, Q.term_query(schema, "published", 1)),
                                             (SHOULD, Q.term_query(schema, "owner", visibility.department_code))]))
        if visibility.extranet:
            required.append(Q.term_query(schema, "extranet", 1))
        for field, value in (("provider", filters.provider_department_code), ("category", filters.category),
                             ("share_type", filters.share_type), ("zone", filters.zone),
                             ("update_cycle", filters.update_cycle), ("subject", filters.subject),
                             ("project", filters.project_code)):
            if value:
                required.append(Q.term_query(schema, field, value))
        return required


#: The classes a class must exclude so each hit is in its best class only (C1 ⊂ C2, C1 ⊂ C3 ⊂ C4, C2 ⊂ C4).
_EXCLUDED = {0: (), 1: (0,), 2: (1,), 3: (1, 2)}


def _substring(schema: tantivy.Schema, prefix: str, term: str) -> tantivy.Query:
    """Documents whose field contains ``term`` as a substring: its character, or the phrase of its bigrams."""
    if len(term) == 1:
        return Q.term_query(schema, f"{prefix}_chars", term)
    grams = [term[i:i + 2] for i in range(len(term) - 1)]
    if len(grams) == 1:
        return Q.term_query(schema, f"{prefix}_grams", grams[0])
    return Q.phrase_query(schema, f"{prefix}_grams", grams)


def _whole_words(schema: tantivy.Schema, fields: Sequence[str], term: str) -> tantivy.Query:
    """Documents holding every word of ``term`` as a word (in any of ``fields``)."""
    return Q.boolean_query([
        (MUST, Q.boolean_query([(SHOULD, Q.term_query(schema, field, word)) for field in fields]))
        for word in search.query_words(term)])


def _classes(schema: tantivy.Schema, terms: Sequence[str]) -> list[tantivy.Query]:
    """The four relevance classes of a query, every term required in each:

    0. every term is whole words of the name; 1. every term is in the name;
    2. every term is whole words of the name, summary or item names and a substring of name + summary;
    3. every term is a substring of name + summary (what the PostgreSQL path matched).
    """
    name_sub = [_substring(schema, "name", term) for term in terms]
    any_sub = [_substring(schema, "text", term) for term in terms]
    name_words = [_whole_words(schema, ("name_words",), term) for term in terms]
    any_words = [_whole_words(schema, ("name_words", "text_words"), term) for term in terms]

    def every(queries: Iterable[tantivy.Query]) -> tantivy.Query:
        return Q.boolean_query([(MUST, q) for q in queries])

    return [every([*name_sub, *name_words]), every(name_sub), every([*any_sub, *any_words]), every(any_sub)]
