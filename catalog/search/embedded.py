"""Embedded search backend: SQLite FTS5 in its own file, no server (the default).

The index lives in ``settings.CATALOG_SEARCH_DIR`` (``DATA_DIR/search``), separate from the main
database so it behaves the same when that is PostgreSQL. ``CURRENT`` names the live index file;
``rebuild_index`` fills a new file and replaces ``CURRENT`` atomically (``os.replace``), so readers
never see a half-built index; while it runs, ``BUILDING`` names the new file and every write goes to
both. Text is tokenized in Python (``catalog.search.analysis``) and FTS5 only splits on spaces;
ranking is FTS5's ``bm25()`` with column weights plus the shared boosts (``catalog.search.base``).

Safe under concurrent processes: WAL journal, writes in ``BEGIN IMMEDIATE`` transactions with a
busy timeout, searches in one read transaction, one connection per thread and process (see
``catalog.search.sqlite_store``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import itertools
import os
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from django.conf import settings

from catalog.search import sqlite_store as store
from catalog.search.analysis import (
    BOOST_WEIGHTS,
    Concept,
    ParsedQuery,
    highlighter,
    normalize,
    parse_query,
    tokenize,
)
from catalog.search.base import (
    EXACT_TIER,
    FACET_FIELDS,
    FULL_TIER,
    HIGHLIGHT_FIELDS,
    RECENCY_PIVOT_DAYS,
    RECENCY_WEIGHT,
    SUGGEST_PREFIX_LENGTH,
    TEXT_WEIGHT,
    TYPED_CORE_TIER,
    IndexBuild,
    RelaxStep,
    SearchBackend,
    SearchPage,
    SearchRequest,
    did_you_mean,
    match_kind,
    relax_below,
    relaxation_steps,
    relaxed_tier,
    widens_to,
)


def _phrase(text: str) -> str:
    return '"' + " ".join(tokenize(text)).replace('"', '""') + '"'


def _concept(concept: Concept, *, fuzzy: bool = True) -> store.MatchTree:
    options = []
    for option in concept.all_options(fuzzy=fuzzy):
        parts = [_phrase(p) for p in option]
        options.append(parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")")
    return store.MatchTree("(" + " OR ".join(options) + ")")


def _all_of(concepts: Sequence[Concept], *, fuzzy: bool) -> store.MatchTree:
    return store.match_node("AND", [_concept(c, fuzzy=fuzzy) for c in concepts], parens=True)


def match_tree(parsed: ParsedQuery, mode: str, *, step: RelaxStep | None = None) -> store.MatchTree:
    """The FTS5 MATCH expression of a parsed query, as a tree over its concepts:

    * ``full``: every required concept (optional ones only act through their field boosts) of the
      query as typed or of one of its rewrites, each concept by its options or topic alternatives;
    * ``exact``: every required concept of the query as typed, by its options only;
    * ``msm``: a level of the relaxed search (``base.relaxation_steps`` over the required concepts of
      what the query most likely means): every core concept and at least ``minimum`` of the others;
    * ``any``: any of its concepts, optional ones included (the last resort);
    * ``typed``: every core concept of a relaxation ``step``, by its options only.
    """
    if mode == "typed" and step is not None:
        return _all_of(step.core, fuzzy=False)
    if mode == "exact":
        return _all_of(parsed.required, fuzzy=False)
    if mode == "full":
        return store.match_node("OR", [_all_of(v.required, fuzzy=True) for v in parsed.variants], parens=False)
    best = parsed.best
    if mode == "any":
        return store.match_node("OR", [_concept(c) for c in best.concepts], parens=False)
    if step is None:
        raise ValueError("msm needs a relaxation step")
    parts = [_all_of(step.core, fuzzy=True)] if step.core else []
    if step.minimum:
        parts.append(store.match_node("OR", [_all_of(combo, fuzzy=True)
                                             for combo in itertools.combinations(step.others, step.minimum)],
                                      parens=True))
    return store.match_node("AND", parts, parens=False)


def _filtered_bm25(conn: Any, expression: str, filters: Mapping[str, Sequence[str]]) -> tuple[Any, Any]:
    """Rowids and bm25 of the documents matching ``expression`` that pass ``filters``: bm25, the costly
    part, is not computed for the others (used when matches are not cached)."""
    clauses, params = [], [expression]
    for name in FACET_FIELDS:  # column names from the code, never from the request
        values = [v for v in filters.get(name, ()) if v]
        if values:
            clauses.append(f" AND d.{name} IN ({','.join('?' * len(values))})")
            params.extend(values)
    # CROSS JOIN keeps the full-text match as the outer loop (else SQLite may run the MATCH per row).
    rows = conn.execute(f"SELECT fts.rowid, bm25(fts, {store.BM25_WEIGHTS}) FROM fts CROSS JOIN docs d "  # noqa: S608
                        f"ON d.rowid = fts.rowid WHERE fts MATCH ?{''.join(clauses)}", params)
    return store.rowids_and_scores(rows)


def _scores(parsed: ParsedQuery, columns: store.FacetColumns, rowids: Any, bm25: Any, now_days: float,
            tiers: Sequence[tuple[Any, float]]) -> Any:
    """Relevance of the rows ``rowids``: BM25 with column weights + vocabulary boosts + recency +
    popularity + the tiers (rowids of a tier's matches, score added), in one vector."""
    combos = columns.combo[rowids]
    score = -bm25 * TEXT_WEIGHT
    for field, codes in parsed.boosts():
        score = score + np.where(columns.field_mask(field, codes)[combos], BOOST_WEIGHTS[field], 0.0)
    score = score + RECENCY_WEIGHT * RECENCY_PIVOT_DAYS / (RECENCY_PIVOT_DAYS + np.abs(now_days - columns.days[rowids]))
    score = score + columns.popularity[rowids]
    for members, tier in tiers:
        marked = np.zeros(len(columns.combo), dtype=bool)
        marked[members] = True
        score = score + np.where(marked[rowids], tier, 0.0)
    return score


def _page_key(request: SearchRequest) -> tuple[Any, ...]:
    """What a result page depends on besides the index generation (and the time, for recency)."""
    filters = tuple(sorted((name, tuple(values)) for name, values in request.filters.items()))
    return (request.q, filters, request.sort, request.page, request.page_size, request.with_facets,
            request.with_highlight, request.with_tree)


def _packed(page: SearchPage) -> bytes:
    """A page as it is kept (``IndexState.keep``): its JSON, one bytes object. Kept as objects, a page was
    some 1,500 of them (75 KiB, three times its JSON) for the garbage collector to walk: through the WSGI
    handler on 8,000 requests of the 100k query mix after ``gc.freeze()``, full collections paused up to
    107 ms (120,000 tracked objects); with pages kept as bytes, 26-35 ms (25,000).
    Unpacked, each caller gets a page of its own (result annotators add per-user answers to its hits)."""
    return orjson.dumps({name: getattr(page, name) for name in _PAGE_FIELDS}, option=orjson.OPT_SERIALIZE_NUMPY)


# What a kept page takes besides its JSON: the bytes object, its entry in the store, and its request key
# (a tuple of small tuples, counted eight times its JSON; measured: 3.8 KB in all for a page of one hit).
PAGE_OVERHEAD = 1024


def _kept_size(packed: bytes, key: tuple[Any, ...]) -> int:
    """The size a packed page is kept with under ``key`` (not less than the memory it takes: tested)."""
    return PAGE_OVERHEAD + len(packed) + 8 * len(orjson.dumps(key, default=str))


def _unpacked(packed: bytes) -> SearchPage:
    return SearchPage(**orjson.loads(packed))


_PAGE_FIELDS = tuple(f.name for f in fields(SearchPage))


def _hit(body: dict[str, Any], score: float | None, mark: Callable[[str], str | None] | None,
         kind: str) -> dict[str, Any]:
    marks: dict[str, list[str]] = {}
    if mark is not None:
        for name in HIGHLIGHT_FIELDS:
            marked = mark(body.get(name) or "")
            if marked:
                marks[name] = [marked]
    return {
        "id": body["id"], "title": body["title"], "highlight": marks, "description": body.get("description") or "",
        **{f: body.get(f) or "" for f in ("stage", "subject", "grade", "edition", "volume", "chapter", "section",
                                         "resource_type", "license", "publisher", "origin_node")},
        "price": body.get("price") or 0, "is_remote": bool(body.get("is_remote")),
        "published_at": body.get("published_at"), "download_count": body.get("download_count") or 0,
        "score": None if score is None else round(float(score), 4), "match": kind,
    }


class _EmbeddedBuild(IndexBuild):
    def __init__(self, backend: EmbeddedBackend) -> None:
        self.backend = backend
        self.path = backend._new_file()
        self.conn = store.connect(self.path, bulk=True)
        backend._set_building(self.path)

    def index_documents(self, docs: Sequence[dict[str, Any]]) -> None:
        if docs:
            with store.write_transaction(self.conn):
                store.write_docs(self.conn, docs)

    def delete_documents(self, ids: Sequence[str]) -> None:
        if ids:
            with store.write_transaction(self.conn):
                store.delete_docs(self.conn, ids)

    def swap(self) -> None:
        with store.write_transaction(self.conn):
            self.conn.execute("INSERT INTO fts (fts) VALUES ('optimize')")
        self.conn.execute("PRAGMA optimize")
        self.conn.close()
        self.backend._activate(self.path)

    def abort(self) -> None:
        self.conn.close()
        self.backend._set_building(None)
        self.backend._remove_file(self.path)


class EmbeddedBackend(SearchBackend):
    """SQLite FTS5 search in ``root`` (default ``settings.CATALOG_SEARCH_DIR``)."""

    name = "embedded"

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root or settings.CATALOG_SEARCH_DIR)

    # --- files: CURRENT names the live index, BUILDING the one a rebuild is filling
    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _new_file(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        path = self.root / f"index-{stamp}-{secrets.token_hex(4)}.sqlite3"
        store.create_index_file(path)
        return path

    def _remove_file(self, path: Path) -> None:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{path}{suffix}")

    def _replace_pointer(self, name: str, target: str | None) -> None:
        pointer = self.root / name
        if target is None:
            with contextlib.suppress(FileNotFoundError):
                pointer.unlink()
            return
        tmp = self.root / f".{name}.{os.getpid()}.{secrets.token_hex(4)}"
        tmp.write_text(target)
        os.replace(tmp, pointer)

    def _set_building(self, path: Path | None) -> None:
        with self._lock():
            self._replace_pointer("BUILDING", path.name if path else None)

    def _building_path(self) -> Path | None:
        try:
            path = self.root / (self.root / "BUILDING").read_text().strip()
        except FileNotFoundError:
            return None
        return path if path.exists() else None

    def _activate(self, path: Path) -> None:
        """Point CURRENT at ``path``; keep the previous file one generation so that readers still
        holding it finish, and remove older ones."""
        with self._lock():
            pointer = self.root / "CURRENT"
            previous = pointer.read_text().strip() if pointer.exists() else ""
            self._replace_pointer("CURRENT", path.name)
            self._replace_pointer("BUILDING", None)
            keep = {path.name, previous}
            for old in self.root.glob("index-*.sqlite3"):
                if old.name not in keep:
                    self._remove_file(old)
        store.forget_handle(self.root)

    def current_path(self) -> Path:
        """The live index file, created empty on first use."""
        pointer = self.root / "CURRENT"
        try:
            return self.root / pointer.read_text().strip()
        except FileNotFoundError:
            pass
        with self._lock():
            if not pointer.exists():
                self._replace_pointer("CURRENT", self._new_file().name)
            return self.root / pointer.read_text().strip()

    def _handle(self) -> store.Handle:
        return store.cached_handle(self.root, self.current_path())

    # --- writing
    def _write(self, apply: Callable[[Any], None]) -> None:
        handle = self._handle()
        with store.write_transaction(handle.conn):
            apply(handle.conn)
        building = self._building_path()
        if building is not None and building != handle.path:
            other = store.connect(building)
            try:
                with store.write_transaction(other):
                    apply(other)
            finally:
                other.close()

    def index_documents(self, docs: Sequence[dict[str, Any]]) -> None:
        if docs:
            self._write(lambda conn: store.write_docs(conn, docs))

    def delete_documents(self, ids: Sequence[str]) -> None:
        if ids:
            self._write(lambda conn: store.delete_docs(conn, ids))

    def begin_rebuild(self) -> IndexBuild:
        return _EmbeddedBuild(self)

    # --- reading
    def search(self, request: SearchRequest) -> SearchPage:
        filters = dict(request.filters)
        handle = self._handle()
        conn = handle.conn
        cache_bytes = settings.CATALOG_SEARCH_MATCH_CACHE_MB * 2**20
        with store.read_transaction(conn):
            state = handle.state(cache_bytes=cache_bytes)
            key = _page_key(request)
            kept = state.kept(key)
            if kept is not None:
                return _unpacked(kept)
            columns = state.columns
            parsed = parse_query(request.q, state.vocabulary)
            relaxed, above, typed_core = False, 0.0, False  # above: what the relaxed levels add to full matches
            tiers: list[tuple[store.MatchTree, float]] = []  # (MATCH expression, score added to the rows it matches)
            matches: dict[str, tuple[Any, Any]] = {}  # MATCH expression → (rowids, bm25) of its rows

            def counted(match: store.MatchTree, *, with_bm25: bool = False) -> store.FacetSummary:
                # The whole match, unfiltered: the facets are disjunctive (see base.DisjunctiveCounter).
                def count() -> store.FacetCounts:
                    rowids, _ = matches[match.expression] = state.matching(conn, match, with_bm25=with_bm25)
                    return columns.disjunctive(columns.count(rowids), filters)

                return state.summary(match.expression, filters, count)

            if parsed.is_empty:
                found = state.summary(None, filters, lambda: columns.disjunctive(columns.all_counts, filters))
                full_count = None
            else:
                expression = match_tree(parsed, "full")
                # The first match is usually all there is to rank: its bm25 comes along (uncached and
                # filtered, bm25 is computed later for the rows passing the filters only).
                found = counted(expression, with_bm25=bool(cache_bytes) or not filters)
                full_count = found.total
                if full_count < relax_below(parsed):
                    # Down to any required concept, the documents matching more of them first.
                    levels = [(expression, FULL_TIER)]
                    core: RelaxStep | None = None  # the relaxation kept the known concepts
                    for step in relaxation_steps(parsed.best.required):
                        if not widens_to(step, found.total, parsed):
                            break
                        wider = match_tree(parsed, "msm", step=step)
                        more = counted(wider)
                        if more.total > found.total:
                            if found.total:
                                tiers.append(levels[-1])
                            levels.append((wider, relaxed_tier(len(levels) - 1)))
                            expression, found, relaxed = wider, more, True
                            core = core or (step if step.core else None)
                    if not found.total and len(parsed.best.concepts) > 1:
                        expression = match_tree(parsed, "any")
                        found = counted(expression)
                        relaxed = bool(found.total)
                    above = sum(tier for _, tier in tiers if tier != FULL_TIER)
                    typed_core = relaxed and core is not None and parsed.has_fuzzy
                    if typed_core:
                        tiers.append((match_tree(parsed, "typed", step=core), TYPED_CORE_TIER))
            count = found.total
            facets = found.facet_buckets() if request.with_facets else {}
            tree = found.tree_nodes() if request.with_tree else []
            rows: list[tuple[int, Any]] = []
            if count:
                passing = columns.passing(filters)
                sort = "newest" if request.effective_sort == "relevance" and parsed.is_empty else request.effective_sort
                if parsed.is_empty:
                    rowids = np.nonzero(passing[columns.combo])[0]
                    scores = None
                else:
                    rowids, bm25 = matches.get(expression.expression, (None, None))
                    if bm25 is None and filters and not cache_bytes:
                        rowids, bm25 = _filtered_bm25(conn, expression.expression, filters)
                    else:
                        if bm25 is None:  # a relaxed search's last expression, or counted before
                            rowids, bm25 = state.matching(conn, expression, with_bm25=True)
                        keep = passing[columns.combo[rowids]]
                        rowids, bm25 = rowids[keep], bm25[keep]
                    if parsed.has_fuzzy:
                        tiers.append((match_tree(parsed, "exact"), EXACT_TIER))
                    scores = _scores(parsed, columns, rowids, bm25, time.time() / 86400.0, [
                        (matches[t.expression][0] if t.expression in matches
                         else state.matching(conn, t, with_bm25=False)[0], tier)
                        for t, tier in tiers])
                rows = columns.page(rowids, scores, sort=sort, offset=request.offset, limit=request.page_size)
            bodies = store.bodies(conn, [r[0] for r in rows])
        mark = highlighter(tuple(parsed.phrases())) if request.with_highlight and not parsed.is_empty else None
        hits = [_hit(bodies[rowid], score, mark,
                     match_kind(score, relaxed=relaxed, fuzzy=parsed.has_fuzzy, above=above, typed_core=typed_core))
                for rowid, score in rows]
        page = SearchPage(count=count, hits=hits, facets=facets, relaxed=relaxed,
                          full_count=full_count if relaxed else None, did_you_mean=did_you_mean(parsed), tree=tree,
                          ignored=list(parsed.ignored))
        if cache_bytes:
            packed = _packed(page)
            state.keep(key, packed, _kept_size(packed, key))
        return page

    def suggest(self, prefix: str, *, limit: int = 10) -> list[dict[str, Any]]:
        start = normalize(prefix)[:SUGGEST_PREFIX_LENGTH]
        if not start:
            return []
        conn = self._handle().conn
        query = ("SELECT norm, count FROM suggest WHERE kind = ? AND norm >= ? AND norm < ? "
                 "ORDER BY count DESC, norm LIMIT ?")
        end = start + "\U0010ffff"
        terms = conn.execute(query, ("term", start, end, limit)).fetchall()
        titles = conn.execute(query, ("title", start, end, max(limit - len(terms), 3))).fetchall()
        return ([{"text": t, "kind": "term", "count": n} for t, n in terms]
                + [{"text": t, "kind": "title", "count": n} for t, n in titles])

    def count(self) -> int:
        return self._handle().conn.execute("SELECT count(*) FROM docs").fetchone()[0]

    def stored_documents(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        conn = self._handle().conn
        with store.read_transaction(conn):
            return store.documents_by_id(conn, ids)

    def check(self) -> None:
        store.check_version(self._handle().conn)

    def is_outdated(self) -> bool:
        try:
            store.check_version(self._handle().conn)
        except store.IndexVersionError:
            return True
        return False

    def warm(self) -> None:
        """Build this process's columns and vocabulary of the live index (0.5 s at 100,000 documents) now,
        not in the first request."""
        handle = self._handle()
        with store.read_transaction(handle.conn):
            handle.state(cache_bytes=settings.CATALOG_SEARCH_MATCH_CACHE_MB * 2**20)

    def drop(self) -> None:
        store.forget_handle(self.root)
        with self._lock():
            for path in self.root.glob("index-*.sqlite3"):
                self._remove_file(path)
            self._replace_pointer("CURRENT", None)
            self._replace_pointer("BUILDING", None)
