"""Storage of the embedded search index: one SQLite file with an FTS5 table.

Tables: ``docs`` (one narrow row per document: facet values, dates, popularity), ``bodies`` (the
stored document, JSON), ``fts`` (contentless FTS5 over the pre-tokenized text of title, chapter,
section, keywords, description and vocabulary values), ``suggest`` (completion terms and titles
with the number of documents carrying them) and ``meta``.

Derived data — FTS5 tokens, completions — is not stored: it is recomputed from the stored document
when a document is replaced or removed. An index therefore records the ``ANALYSIS_VERSION`` it was
built with and refuses writes from code that tokenizes differently (``rebuild_index`` after such an
upgrade). Every write also advances the index's ``generation`` (in ``meta``). Each process keeps,
per index file and generation, the facet values and sort keys of every row in memory as NumPy
arrays (``FacetColumns``), shared by its threads and rebuilt when a read transaction sees a newer
generation: facets of a large result set are counted, and results ranked and sorted, without reading
rows back from disk.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import math
import os
import sqlite3
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from catalog.search.analysis import (
    ANALYSIS_VERSION,
    meta_text,
    normalize,
    suggestion_terms,
    token_text,
    topic_parent,
)
from catalog.search.base import (
    FACET_FIELDS,
    FACET_SOURCE,
    FIELD_WEIGHTS,
    TREE_FIELDS,
    TREE_LEVELS,
    active_filters,
    facet_buckets,
    popularity,
    textbook_tree,
)
from catalog.search.fuzzy import term_vocabulary
from exchange.errors import ServiceUnavailableError

SCHEMA_VERSION = 2  # 2: docs.rating, meta.generation; no sort indexes (search sorts in memory)
FTS_COLUMNS = ("title", "chapter", "section", "keywords", "description", "meta")
BM25_WEIGHTS = ", ".join(str(FIELD_WEIGHTS[c]) for c in FTS_COLUMNS)  # bm25()'s column weights, as SQL
# The stored text is already tokenized: FTS5 must keep every token whole (2.1, what's).
FTS_TOKENIZER = "unicode61 remove_diacritics 0 tokenchars '._''’'"
_DOC_COLUMNS = ("rowid", "id", *FACET_FIELDS, "facet_key", "published_days", "download_count", "popularity",
                "rating")
_BODY_KEYS = ("id", "title", "description", "keywords", "section", "language", "price",
              *FACET_SOURCE.values(), "is_remote", "published_at", "download_count",
              "rating_score")
_SEP = "\x1f"
DENSE_TREE_PATHS = 1 << 18  # a textbook-tree level sums its paths in a dense table up to this many
SCHEMA = f"""
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE docs (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    {", ".join(f"{f} TEXT" for f in FACET_FIELDS)},
    facet_key TEXT NOT NULL,
    published_days REAL NOT NULL,
    download_count INTEGER NOT NULL,
    popularity REAL NOT NULL,
    rating REAL
);
CREATE TABLE bodies (rowid INTEGER PRIMARY KEY, body TEXT NOT NULL);
CREATE VIRTUAL TABLE fts USING fts5({", ".join(FTS_COLUMNS)}, content='', tokenize="{FTS_TOKENIZER}");
CREATE TABLE suggest (kind TEXT NOT NULL, norm TEXT NOT NULL, count INTEGER NOT NULL,
                      PRIMARY KEY (kind, norm)) WITHOUT ROWID;
"""
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_CHUNK = 500
MAX_HANDLES_PER_THREAD = 4  # index roots a thread keeps open (one in production; tests use many)
_local = threading.local()


class IndexVersionError(ServiceUnavailableError, RuntimeError):
    """The index was built by code that analyses text or lays out the file differently; it must be
    rebuilt (``manage.py rebuild_index``). Writes refuse it; a search answers 503 with this code."""

    code = "search_index_outdated"


# --- connections ------------------------------------------------------------------------------

def connect(path: Path, *, bulk: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL journal, 30 s busy wait."""
    conn = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=True)
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {'OFF' if bulk else 'NORMAL'}")
    conn.execute("PRAGMA cache_size = -65536")
    conn.execute("PRAGMA mmap_size = 268435456")
    conn.execute("PRAGMA temp_store = MEMORY")
    # A batch of documents dirties pages all over the facet indexes; checkpointing (and syncing)
    # the WAL every 16,000 pages instead of 1,000 made indexing 100,000 documents a third faster.
    conn.execute("PRAGMA wal_autocheckpoint = 16000")
    return conn


def create_index_file(path: Path) -> None:
    """Create an empty index file with the current schema and analysis version."""
    conn = connect(path)
    try:
        conn.executescript(SCHEMA)
        conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", [
            ("schema_version", str(SCHEMA_VERSION)), ("analysis_version", str(ANALYSIS_VERSION)), ("generation", "0"),
            ("created_at", dt.datetime.now(dt.UTC).isoformat()),
        ])
    finally:
        conn.close()


@contextlib.contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextlib.contextmanager
def read_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One consistent snapshot for all the statements of a search."""
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        conn.execute("COMMIT")


class FacetColumns:
    """The facet values and sort keys of every row of one index generation, as NumPy arrays indexed by
    rowid: facet values as indexes into a table of distinct value combinations (a result set's facets,
    filtered count and textbook tree are a few vector operations over the combinations,
    ``disjunctive``), and what ranking and sorting read (``page``). Read-only once built; shared by the
    threads of a process."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        rows = conn.execute(
            "SELECT rowid, facet_key, published_days, popularity, download_count, rating, id FROM docs").fetchall()
        top = max((r[0] for r in rows), default=0)
        rowids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        combo = np.full(top + 1, -1, dtype=np.int32)
        known: dict[str, int] = {}
        keys: list[str] = []
        combos = np.empty(len(rows), dtype=np.int32)
        for i, row in enumerate(rows):
            index = known.get(row[1])
            if index is None:
                index = known[row[1]] = len(keys)
                keys.append(row[1])
            combos[i] = index
        combo[rowids] = combos
        self.combo = combo
        # values[f]: the distinct values of field f; codes[c, f]: the value of combination c, by index.
        self.values: list[list[str]] = [[] for _ in FACET_FIELDS]
        self.value_ids: list[dict[str, int]] = [{} for _ in FACET_FIELDS]
        self.codes = np.zeros((len(keys), len(FACET_FIELDS)), dtype=np.int32)
        for c, key in enumerate(keys):
            for f, value in enumerate(key.split(_SEP)):
                ids = self.value_ids[f]
                code = ids.get(value)
                if code is None:
                    code = ids[value] = len(self.values[f])
                    self.values[f].append(value)
                self.codes[c, f] = code
        self.all_counts = np.bincount(combos, minlength=len(keys))
        self._masks: dict[tuple[str, tuple[str, ...]], Any] = {}
        # Sort keys: what ranking adds to the text score, and each order's position of every row
        # (ties broken as SQL would: newer first, then by id).
        self.days = np.zeros(top + 1)
        self.days[rowids] = np.fromiter((r[2] for r in rows), dtype=np.float64, count=len(rows))
        self.popularity = np.zeros(top + 1)
        self.popularity[rowids] = np.fromiter((r[3] for r in rows), dtype=np.float64, count=len(rows))
        downloads = np.fromiter((r[4] for r in rows), dtype=np.int64, count=len(rows))
        ratings = np.fromiter((-np.inf if r[5] is None else r[5] for r in rows), dtype=np.float64, count=len(rows))
        by_id = np.empty(len(rows), dtype=np.int64)
        by_id[sorted(range(len(rows)), key=lambda i: rows[i][6])] = np.arange(len(rows))
        days = self.days[rowids]
        self.positions: dict[str, Any] = {}
        for name, keys_last_first in (("newest", (by_id, -days)), ("downloads", (by_id, -days, -downloads)),
                                      ("rating", (by_id, -days, -ratings))):
            position = np.full(top + 1, len(rows), dtype=np.int64)
            position[rowids[np.lexsort(keys_last_first)]] = np.arange(len(rows))
            self.positions[name] = position

    def count(self, rowids: Any) -> Any:
        """Rows per combination (a vector) of some rows (a sequence or an array of rowids)."""
        found = self.combo[np.asarray(rowids, dtype=np.int64)] if len(rowids) else np.zeros(0, dtype=np.int32)
        return np.bincount(found[found >= 0], minlength=len(self.codes))

    def disjunctive(self, counts: Any, filters: Mapping[str, Sequence[str]]) -> FacetCounts:
        return FacetCounts(self, counts, filters)

    def field_mask(self, field: str, values: Sequence[str]) -> Any:
        """Per combination (one more entry, False, for rowids that are no row): its ``field`` is one of
        ``values``. Remembered: queries name the same few vocabulary values over and over."""
        key = (field, tuple(values))
        mask = self._masks.get(key)
        if mask is None:
            f = FACET_FIELDS.index(field)
            wanted = np.zeros(len(self.values[f]), dtype=bool)
            wanted[[self.value_ids[f][v] for v in values if v in self.value_ids[f]]] = True
            mask = np.append(wanted[self.codes[:, f]], False)
            if len(self._masks) >= 256:
                self._masks.clear()
            self._masks[key] = mask
        return mask

    def passing(self, filters: Mapping[str, Sequence[str]]) -> Any:
        """Per combination (and False for no row, as in ``field_mask``): whether it passes every filter."""
        mask = np.ones(len(self.codes) + 1, dtype=bool)
        mask[-1] = False
        for f, allowed in active_filters(filters):
            mask = mask & self.field_mask(FACET_FIELDS[f], sorted(allowed))
        return mask

    def page(self, rowids: Any, scores: Any | None, *, sort: str, offset: int, limit: int) -> list[tuple[int, Any]]:
        """(rowid, score) of rows ``offset`` to ``offset + limit`` of ``rowids`` in the order ``sort``: by
        score (highest first, ties newer first, then by id) for ``relevance``, else by the order's
        positions. Only the rows that can reach the page are fully sorted."""
        end = offset + limit
        if end <= 0 or not len(rowids):
            return []
        position = self.positions["newest" if sort == "relevance" else sort][rowids]
        if sort == "relevance" and scores is not None:
            if len(scores) > end:
                # Every row scoring at least the end-th best score (ties included) can reach the page.
                bar = np.partition(scores, len(scores) - end)[len(scores) - end]
                keep = np.nonzero(scores >= bar)[0]
            else:
                keep = np.arange(len(scores))
            order = keep[np.lexsort((position[keep], -scores[keep]))]
        else:
            if len(position) > end:
                keep = np.argpartition(position, end - 1)[:end]
            else:
                keep = np.arange(len(position))
            order = keep[np.argsort(position[keep], kind="stable")]
        chosen = order[offset:end]
        return [(int(rowids[i]), None if scores is None else float(scores[i])) for i in chosen]


class FacetCounts:
    """Disjunctive facets, filtered total and textbook tree of a result set that is *not* filtered
    yet, given as rows per combination (the rules of ``base.DisjunctiveCounter``, vectorized)."""

    def __init__(self, columns: FacetColumns, counts: Any, filters: Mapping[str, Sequence[str]]) -> None:
        self.columns, self.filters = columns, filters
        live = np.nonzero(counts)[0]
        self.counts = counts[live]
        self.codes = columns.codes[live]
        self.fails: dict[int, Any] = {}  # field → combinations failing its filter
        for f, allowed in active_filters(filters):
            wanted = np.zeros(len(columns.values[f]), dtype=bool)  # a lookup table: faster than np.isin
            wanted[[columns.value_ids[f][v] for v in allowed if v in columns.value_ids[f]]] = True
            self.fails[f] = ~wanted[self.codes[:, f]]
        failures = sum((m.astype(np.int8) for m in self.fails.values()), np.zeros(len(self.counts), dtype=np.int8))
        self.failures = failures
        self.passing = failures == 0
        self.total = int(self.counts[self.passing].sum())

    def _counts(self, f: int, mask: Any) -> dict[str, int]:
        values = self.columns.values[f]
        sums = np.bincount(self.codes[mask, f], weights=self.counts[mask], minlength=len(values))
        return {values[i]: int(sums[i]) for i in np.nonzero(sums)[0]}

    def facet_buckets(self) -> dict[str, list[dict[str, Any]]]:
        out = {}
        for f, name in enumerate(FACET_FIELDS):
            mask = self.passing
            if f in self.fails:  # its own filter does not count
                mask = mask | ((self.failures == 1) & self.fails[f])
            out[name] = facet_buckets(self._counts(f, mask))
        return out

    def tree_nodes(self) -> list[dict[str, Any]]:
        chosen = {FACET_FIELDS[f] for f in self.fails}
        inside = np.ones(len(self.counts), dtype=bool)  # passes every filter outside the tree
        for f, failed in self.fails.items():
            if FACET_FIELDS[f] not in TREE_FIELDS:
                inside &= ~failed
        counts: dict[tuple[str, ...], int] = {}
        fields: list[int] = []
        for k, (_, level_fields) in enumerate(TREE_LEVELS):
            if k and not any(f in chosen for f in TREE_LEVELS[k - 1][1]):
                break
            for f in fields:  # the levels above must pass their filters
                if f in self.fails:
                    inside = inside & ~self.fails[f]
            fields = [*fields, *(FACET_FIELDS.index(f) for f in level_fields)]
            if not inside.any():
                break
            # One int64 per combination of the level's path, summed by bincount while the paths are few
            # enough for a dense table (the upper levels, over most combinations), else by sorting them.
            rows = np.nonzero(inside)[0]
            sizes = [len(self.columns.values[f]) for f in fields]
            flat = np.zeros(len(rows), dtype=np.int64)
            for f, size in zip(fields, sizes, strict=True):
                flat = flat * size + self.codes[rows, f]
            if math.prod(sizes) <= DENSE_TREE_PATHS:
                sums = np.bincount(flat, weights=self.counts[rows], minlength=math.prod(sizes))
                keys = np.nonzero(sums)[0]
                sums = sums[keys]
            else:
                keys, inverse = np.unique(flat, return_inverse=True)
                sums = np.bincount(inverse, weights=self.counts[rows], minlength=len(keys))
            for key, n in zip(np.array(np.unravel_index(keys, sizes)).T.tolist(), sums.tolist(), strict=True):
                counts[tuple(self.columns.values[f][c] for f, c in zip(fields, key, strict=True))] = int(n)
        return textbook_tree(counts, self.filters)


def rowids_and_scores(rows: Iterable[tuple[int, float]]) -> tuple[Any, Any]:
    """(rowid, bm25) rows as two NumPy arrays, read straight from the cursor."""
    pairs = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.float64).reshape(-1, 2)
    return pairs[:, 0].astype(np.int64), np.ascontiguousarray(pairs[:, 1])


@dataclass(frozen=True)
class MatchTree:
    """An FTS5 MATCH expression with its boolean structure over concepts: ``expression`` is its text; a
    leaf (no ``children``) is one concept's expression (its options ORed), an inner node ANDs or ORs its
    children (``match_node``). With the match cache on, a tree is matched from its leaves' matches, which
    are kept across queries (``IndexState.matching``)."""

    expression: str
    op: str = ""
    children: tuple[MatchTree, ...] = ()


def match_node(op: str, children: Sequence[MatchTree], *, parens: bool) -> MatchTree:
    """The ``op`` ("AND" or "OR") of ``children``, written as FTS5 reads it (in parentheses with ``parens``)."""
    if op not in ("AND", "OR") or not children:
        raise ValueError(f"a match node needs AND or OR and children, not {op!r} over {len(children)}")
    inner = f" {op} ".join(child.expression for child in children)
    return MatchTree(f"({inner})" if parens else inner, op, tuple(children))


class FacetSummary:
    """The total, facets and textbook tree of a ``FacetCounts``, each worked out once; ``eager``: all at
    once, keeping no arrays (for the cache)."""

    def __init__(self, counts: FacetCounts, *, eager: bool = False) -> None:
        self.total = counts.total
        self._counts: FacetCounts | None = counts
        self._facets: dict[str, list[dict[str, Any]]] | None = None
        self._tree: list[dict[str, Any]] | None = None
        if eager:
            self.facet_buckets(), self.tree_nodes()

    def facet_buckets(self) -> dict[str, list[dict[str, Any]]]:
        if self._facets is None:
            assert self._counts is not None
            self._facets = self._counts.facet_buckets()
            self._release()
        return self._facets

    def tree_nodes(self) -> list[dict[str, Any]]:
        if self._tree is None:
            assert self._counts is not None
            self._tree = self._counts.tree_nodes()
            self._release()
        return self._tree

    def _release(self) -> None:
        if self._facets is not None and self._tree is not None:
            self._counts = None


SUMMARIES_KEPT = 512  # facet summaries a process keeps per index generation (a few KiB each)
# Whole result pages a process keeps per index generation (``IndexState.kept``), for at most PAGE_SECONDS,
# after which recency has moved the scores, within PAGES_BYTES by the size the caller tells (``keep``): a
# count of pages would not bound the memory, as a client asking for 100 hits a page makes each five times
# larger. The embedded backend keeps a page as its JSON (``embedded._packed``), some 26 KB for 20 hits at
# 100,000 resources: 32 MiB hold about 1,300. On the benchmark's query mix (Zipf over 3,000 requests, two
# workers) a worker's last 512 pages answer 72 % of its requests, 1,024 81 %, 2,048 83 %.
PAGES_BYTES = 32 * 2**20
PAGE_SECONDS = 60.0


# A node of a match tree whose children hold fewer rows than 1/SORTED_COMBINE_SHARE of the index's is
# combined by sorting their rows; a larger one by scanning an array over every row (``IndexState._combined``).
SORTED_COMBINE_SHARE = 8


class _KeptPages:
    """The result pages a process keeps (``IndexState.kept``), of every generation together, most recently
    used last, within PAGES_BYTES by the sizes they are kept with."""

    def __init__(self) -> None:
        self._pages: OrderedDict[Any, tuple[float, Any, int]] = OrderedDict()  # key → (when kept, page, size)
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any | None:
        with self._lock:
            found = self._pages.get(key)
            if found is None:
                return None
            if time.monotonic() - found[0] > PAGE_SECONDS:
                del self._pages[key]
                self._bytes -= found[2]
                return None
            self._pages.move_to_end(key)
            return found[1]

    def put(self, key: Any, page: Any, size: int) -> None:
        if size > PAGES_BYTES // 8:
            return
        with self._lock:
            old = self._pages.pop(key, None)
            self._bytes += size - (old[2] if old else 0)
            self._pages[key] = (time.monotonic(), page, size)
            while self._bytes > PAGES_BYTES:
                _, (_, _, gone) = self._pages.popitem(last=False)
                self._bytes -= gone


_kept_pages = _KeptPages()
_serials = itertools.count()


class IndexState:
    """What a process keeps of one generation of one index file: its columns, its term vocabulary, and
    the matches of recent full-text expressions and of their concepts (rowids and bm25, most recently
    used kept within ``cache_bytes``), as a search engine's result cache keeps them: paging, sorting and
    choosing facets repeat the same match, teachers repeat queries, and different queries share their
    vocabulary words (``matching``). A new generation starts empty."""

    def __init__(self, conn: sqlite3.Connection, *, cache_bytes: int = 0) -> None:
        self.columns = FacetColumns(conn)
        terms = conn.execute("SELECT norm, count FROM suggest WHERE kind = 'term'").fetchall()
        parents = [p for (p,) in conn.execute("SELECT norm FROM suggest WHERE kind = 'parent'")]
        self.vocabulary = term_vocabulary(terms, parents)
        self.cache_bytes = cache_bytes
        self._matches: OrderedDict[str, tuple[Any, Any]] = OrderedDict()
        self._cached_bytes = 0
        self._lock = threading.Lock()
        self._summaries: OrderedDict[tuple[Any, ...], FacetSummary] = OrderedDict()
        self._serial = next(_serials)  # its kept pages' share of the process's (``_kept_pages``)

    def kept(self, key: Any) -> Any | None:
        """The result page kept under ``key`` (``keep``) for this generation, if kept less than
        PAGE_SECONDS ago and the cache is on; else None. As a search engine's query result cache:
        teachers repeat queries, and a page is a function of the index generation and the request
        but for the recency in its scores."""
        if not self.cache_bytes:
            return None
        return _kept_pages.get((self._serial, key))

    def keep(self, key: Any, page: Any, size: int) -> None:
        """Keep ``page`` (``size``: about the bytes it takes) under ``key`` for ``kept``: the most recently
        used within PAGES_BYTES a process (over every generation it keeps: each change of the index starts
        one), a page larger than an eighth of it not at all; nothing while the cache is off. The page is
        shared by the requests that find it: it must not be changed."""
        if self.cache_bytes:
            _kept_pages.put((self._serial, key), page, size)

    def summary(self, expression: str | None, filters: Mapping[str, Sequence[str]],
                count: Callable[[], FacetCounts]) -> FacetSummary:
        """Total, facets and tree of the match of ``expression`` (None: every document) under ``filters``,
        from ``count`` or, while the match cache is on, as worked out for an earlier request of this
        generation (choosing facets and paging repeat them)."""
        if not self.cache_bytes:
            return FacetSummary(count())
        key = (expression, tuple(sorted((f, tuple(v)) for f, v in filters.items())))
        with self._lock:
            found = self._summaries.get(key)
            if found is not None:
                self._summaries.move_to_end(key)
                return found
        found = FacetSummary(count(), eager=True)
        with self._lock:
            self._summaries[key] = found
            while len(self._summaries) > SUMMARIES_KEPT:
                self._summaries.popitem(last=False)
        return found

    def matching(self, conn: sqlite3.Connection, match: MatchTree | str, *, with_bm25: bool) -> tuple[Any, Any]:
        """The rowids (ascending) of the documents matching the FTS5 expression ``match`` and, with
        ``with_bm25``, their ``bm25()`` with the column weights (lower is better), as read-only NumPy
        arrays; from the cache when it holds them. ``conn`` is in a read transaction of this generation.

        While the cache is on, a tree with children is matched from its leaves (``_combined``): each
        concept's rows and bm25 are read once and kept, so a query pays only for the concepts no earlier
        query of this generation named (a vocabulary word like 人教版 or 数学 is in thousands of queries,
        and its bm25 alone costs tens of milliseconds: FTS5 counts each phrase's documents per statement)."""
        tree = MatchTree(match) if isinstance(match, str) else match
        while len(tree.children) == 1:  # the same match: kept once, under the innermost expression
            tree = tree.children[0]
        expression = tree.expression
        with self._lock:
            found = self._matches.get(expression)
            if found is not None and (found[1] is not None or not with_bm25):
                self._matches.move_to_end(expression)
                return found
        if self.cache_bytes and tree.children:
            found = self._combined(conn, tree, with_bm25=with_bm25)
        elif with_bm25:
            rows = conn.execute(f"SELECT rowid, bm25(fts, {BM25_WEIGHTS}) FROM fts WHERE fts MATCH ?",  # noqa: S608
                                [expression])
            found = rowids_and_scores(rows)
        else:
            rows = conn.execute("SELECT rowid FROM fts WHERE fts MATCH ?", [expression])
            found = (np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int64), None)
        size = sum(a.nbytes for a in found if a is not None)
        if self.cache_bytes and size <= self.cache_bytes:
            for array in found:
                if array is not None:
                    array.flags.writeable = False
            with self._lock:
                old = self._matches.pop(expression, None)
                self._cached_bytes += size - (sum(a.nbytes for a in old if a is not None) if old else 0)
                self._matches[expression] = found
                while self._cached_bytes > self.cache_bytes:
                    _, gone = self._matches.popitem(last=False)
                    self._cached_bytes -= sum(a.nbytes for a in gone if a is not None)
        return found

    def _combined(self, conn: sqlite3.Connection, tree: MatchTree, *, with_bm25: bool = True) -> tuple[Any, Any]:
        """The rows (and with ``with_bm25`` the bm25) of ``tree`` worked out from its leaves' (``matching``):
        a node AND matches the rows all its children match, OR those any matches, and a row's bm25 is the
        sum over the children it matches. That is FTS5's own: its bm25 sums the phrases of the
        sub-expressions that match the row (each phrase's IDF over the whole table, its frequency in the
        row), so the result equals one pass over the whole expression but for rounding (tests:
        ``test_search_embedded``)."""
        if not tree.children:
            return self.matching(conn, tree, with_bm25=with_bm25)
        parts = [self._combined(conn, child, with_bm25=with_bm25) for child in tree.children]
        if len(parts) == 1:
            return parts[0]
        size = len(self.columns.combo)
        if sum(len(rowids) for rowids, _ in parts) * SORTED_COMBINE_SHARE < size:  # few: sort them, not every row
            rows, inverse, matched = np.unique(np.concatenate([rowids for rowids, _ in parts]), return_inverse=True,
                                               return_counts=True)
            keep = matched == len(parts) if tree.op == "AND" else slice(None)
            if not with_bm25:
                return rows[keep], None
            score = np.bincount(inverse, weights=np.concatenate([bm25 for _, bm25 in parts]), minlength=len(rows))
            return rows[keep], score[keep]
        matched = np.zeros(size, dtype=np.int32)  # children matching each row
        score = np.zeros(size) if with_bm25 else None
        for rowids, bm25 in parts:
            matched[rowids] += 1
            if score is not None:
                score[rowids] += bm25
        rows = np.nonzero(matched == len(parts) if tree.op == "AND" else matched)[0]
        return rows, None if score is None else score[rows]


_states: dict[tuple[str, int], IndexState] = {}  # (index file, generation) → state, most recent last
_states_lock = threading.Lock()
_building: dict[tuple[str, int], threading.Lock] = {}
STATES_KEPT = 4  # generations kept per process (readers of an older snapshot may still finish with theirs)


def index_state(conn: sqlite3.Connection, path: Path, *, cache_bytes: int = 0) -> IndexState:
    """The state of the generation ``conn``'s read transaction sees (call inside one). Built once per
    process and generation, by the first thread that needs it; the others wait for it."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
    key = (str(path), int(row[0]) if row else -1)
    state = _states.get(key)
    if state is not None:
        return state
    with _states_lock:
        build_lock = _building.setdefault(key, threading.Lock())
    with build_lock:
        state = _states.get(key)
        if state is None:
            # An index of another file layout cannot be read at all (one of other analysis still can,
            # less well, until rebuild_index has built the new one: searches keep being answered).
            check_version(conn, keys=("schema_version",))
            state = IndexState(conn, cache_bytes=cache_bytes)
            with _states_lock:
                _states[key] = state
                _building.pop(key, None)
                while len(_states) > STATES_KEPT:
                    _states.pop(next(iter(_states)))
    return state


class Handle:
    """This thread's connection to one index file."""

    def __init__(self, path: Path) -> None:
        self.pid = os.getpid()
        self.path = path
        self.conn = connect(path)

    def state(self, *, cache_bytes: int = 0) -> IndexState:
        """Columns and vocabulary valid for the current read transaction (call inside one); its match
        cache keeps to ``cache_bytes`` from now on (the setting may change while the process runs)."""
        state = index_state(self.conn, self.path, cache_bytes=cache_bytes)
        state.cache_bytes = cache_bytes
        return state

    def close(self) -> None:
        if self.pid == os.getpid():
            self.conn.close()


def cached_handle(root: Path, path: Path) -> Handle:
    """This thread's handle on the live index of ``root``; reopened when ``CURRENT`` moved or after a
    fork (a connection must never cross processes). The only process-wide state of the backend."""
    cache: dict[Path, Handle] | None = getattr(_local, "handles", None)
    if cache is None:
        cache = _local.handles = {}
    handle = cache.pop(root, None)
    if handle is not None and (handle.pid != os.getpid() or handle.path != path):
        handle.close()
        handle = None
    cache[root] = handle = handle or Handle(path)  # most recently used last
    while len(cache) > MAX_HANDLES_PER_THREAD:
        cache.pop(next(iter(cache))).close()
    return handle


def forget_handle(root: Path) -> None:
    handle = (getattr(_local, "handles", None) or {}).pop(root, None)
    if handle is not None:
        handle.close()


# --- writing documents -------------------------------------------------------------------------

def _days(iso: str) -> float:
    moment = dt.datetime.fromisoformat(iso)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return (moment - _EPOCH).total_seconds() / 86400.0


def _fts_values(doc: dict[str, Any]) -> tuple[str, ...]:
    """The FTS5 column texts. Keywords are kept apart by a ``_`` token (never a real token), so a
    phrase cannot run from one keyword into the next (Elasticsearch: position_increment_gap)."""
    return (
        token_text(doc["title"]), token_text(doc.get("chapter") or ""), token_text(doc.get("section") or ""),
        " _ ".join(token_text(k) for k in doc.get("keywords") or []), token_text(doc.get("description") or ""),
        token_text(meta_text(doc)),
    )


def _completions(doc: dict[str, Any]) -> list[tuple[str, str]]:
    out = [("term", t) for t in suggestion_terms(doc)]
    parent = topic_parent(doc)
    if parent:
        out.append(("parent", parent))
    title = normalize(doc["title"])
    return [*out, ("title", title)] if title else out


def check_version(conn: sqlite3.Connection, *, keys: Sequence[str] = ("analysis_version", "schema_version")) -> None:
    """Raise IndexVersionError unless the index was built with this code's analysis and file layout."""
    found = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('analysis_version', 'schema_version')"))
    for key, wanted in (("analysis_version", ANALYSIS_VERSION), ("schema_version", SCHEMA_VERSION)):
        if key in keys and found.get(key) != str(wanted):
            raise IndexVersionError(
                f"The search index was built with {key.replace('_', ' ')} {found.get(key, '?')}, this code uses "
                f"{wanted}: run 'manage.py rebuild_index'.")


def _advance_generation(conn: sqlite3.Connection) -> None:
    """Mark a change (inside the write transaction): readers rebuild their in-memory columns."""
    conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def delete_docs(conn: sqlite3.Connection, ids: Sequence[str]) -> None:
    """Remove documents by id (inside a write transaction); unknown ids are ignored."""
    check_version(conn)
    gone: Counter[tuple[str, str]] = Counter()
    fts_delete = f"INSERT INTO fts (fts, rowid, {', '.join(FTS_COLUMNS)}) VALUES ('delete', ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
    for chunk in _chunks(list(ids)):
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            f"SELECT d.rowid, b.body FROM docs d JOIN bodies b ON b.rowid = d.rowid WHERE d.id IN ({marks})",  # noqa: S608
            list(chunk)).fetchall()
        if not rows:
            continue
        deletes = []
        for rowid, body in rows:
            doc = json.loads(body)
            gone.update(_completions(doc))
            deletes.append((rowid, *_fts_values(doc)))
        conn.executemany(fts_delete, deletes)
        rowids = [r[0] for r in rows]
        marks = ",".join("?" * len(rowids))
        conn.execute(f"DELETE FROM docs WHERE rowid IN ({marks})", rowids)  # noqa: S608
        conn.execute(f"DELETE FROM bodies WHERE rowid IN ({marks})", rowids)  # noqa: S608
        _advance_generation(conn)
    if gone:
        conn.executemany("UPDATE suggest SET count = count - ? WHERE kind = ? AND norm = ?",
                         [(n, kind, norm) for (kind, norm), n in gone.items()])
        conn.execute("DELETE FROM suggest WHERE count <= 0")


def write_docs(conn: sqlite3.Connection, docs: Sequence[dict[str, Any]]) -> None:
    """Add or replace documents (inside a write transaction), with executemany."""
    unique = list({d["id"]: d for d in docs}.values())
    delete_docs(conn, [d["id"] for d in unique])
    next_rowid = conn.execute("SELECT coalesce(max(rowid), 0) FROM docs").fetchone()[0] + 1
    doc_rows, body_rows, fts_rows = [], [], []
    added: Counter[tuple[str, str]] = Counter()
    for rowid, doc in enumerate(unique, start=next_rowid):
        added.update(_completions(doc))
        facets = [str(doc.get(FACET_SOURCE[f]) or "") for f in FACET_FIELDS]
        doc_rows.append((
            rowid, doc["id"], *[v or None for v in facets], _SEP.join(facets), _days(doc["published_at"]),
            int(doc.get("download_count") or 0), popularity(doc.get("download_count") or 0),
            None if doc.get("rating_score") is None else float(doc["rating_score"]),
        ))
        body_rows.append((rowid, json.dumps({k: doc.get(k) for k in _BODY_KEYS}, ensure_ascii=False)))
        fts_rows.append((rowid, *_fts_values(doc)))
    marks = ",".join("?" * len(_DOC_COLUMNS))
    conn.executemany(f"INSERT INTO docs ({', '.join(_DOC_COLUMNS)}) VALUES ({marks})", doc_rows)  # noqa: S608
    conn.executemany("INSERT INTO bodies (rowid, body) VALUES (?, ?)", body_rows)
    conn.executemany(f"INSERT INTO fts (rowid, {', '.join(FTS_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?)", fts_rows)  # noqa: S608
    conn.executemany(
        "INSERT INTO suggest (kind, norm, count) VALUES (?, ?, ?) "
        "ON CONFLICT (kind, norm) DO UPDATE SET count = count + excluded.count",
        [(kind, norm, n) for (kind, norm), n in added.items()],
    )
    if doc_rows:
        _advance_generation(conn)


def bodies(conn: sqlite3.Connection, rowids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The stored documents of some rows."""
    if not rowids:
        return {}
    marks = ",".join("?" * len(rowids))
    return {rowid: json.loads(body) for rowid, body in conn.execute(
        f"SELECT rowid, body FROM bodies WHERE rowid IN ({marks})", list(rowids))}  # noqa: S608


def documents_by_id(conn: sqlite3.Connection, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The stored documents of those of ``ids`` the index holds."""
    found: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(list(ids)):
        marks = ",".join("?" * len(chunk))
        for doc_id, body in conn.execute(
                f"SELECT d.id, b.body FROM docs d JOIN bodies b ON b.rowid = d.rowid WHERE d.id IN ({marks})",  # noqa: S608
                list(chunk)):
            found[doc_id] = json.loads(body)
    return found
