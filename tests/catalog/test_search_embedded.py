"""The embedded backend's own guarantees: concurrent writers and readers (threads and processes),
atomic swaps of the index file, refusal of an index built by other analysis code."""

from __future__ import annotations

import datetime as dt
import gc
import io
import itertools
import os
import pickle
import sqlite3
import subprocess
import sys
import threading
import tracemalloc
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog.sampledata import generate
from catalog.search.analysis import tokenize
from catalog.search.base import FACET_FIELDS, FACET_SOURCE, DisjunctiveCounter, SearchRequest
from catalog.search.documents import record_document
from catalog.search.embedded import EmbeddedBackend, _kept_size, _packed, _page_key
from catalog.search.sqlite_store import IndexVersionError


def docs(n: int, seed: int) -> list[dict]:
    return [record_document(r, origin_node="cn-44") for r in generate(n, seed=seed)]


REPO = Path(__file__).resolve().parents[2]
# Another process: index N documents of a seed in batches of 10, searching in between.
WRITER = """
import sys, django
django.setup()
from catalog.sampledata import generate
from catalog.search.base import SearchRequest
from catalog.search.documents import record_document
from catalog.search.embedded import EmbeddedBackend
root, seed, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
backend = EmbeddedBackend(root)
batch = [record_document(r, origin_node="cn-44") for r in generate(n, seed=seed)]
for start in range(0, n, 10):
    backend.index_documents(batch[start:start + 10])
    backend.search(SearchRequest(q="数学"))
"""


def test_threads_write_and_search_the_same_index(tmp_path):
    backend = EmbeddedBackend(tmp_path)
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        try:
            mine = EmbeddedBackend(tmp_path)
            batch = docs(40, seed)
            for start in range(0, 40, 5):
                mine.index_documents(batch[start:start + 5])
                assert mine.search(SearchRequest(q="课件")).count >= 0
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in (1, 2, 3, 4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert backend.count() == len({d["id"] for seed in (1, 2, 3, 4) for d in docs(40, seed)})


def test_processes_write_while_this_one_reads(tmp_path):
    backend = EmbeddedBackend(tmp_path)
    backend.index_documents(docs(20, 7))
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "exchange.settings"}
    workers = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(seed), "60"], cwd=REPO, env=env)
               for seed in (8, 9)]
    while any(w.poll() is None for w in workers):
        page = backend.search(SearchRequest(q="数学"))
        assert page.count == sum(b["count"] for b in page.facets["stage"])  # one snapshot per search
    assert [w.wait() for w in workers] == [0, 0]
    expected = {d["id"] for seed, n in ((7, 20), (8, 60), (9, 60)) for d in docs(n, seed)}
    assert backend.count() == len(expected)


def test_a_swap_replaces_the_file_readers_use_and_keeps_one_previous_generation(tmp_path):
    backend = EmbeddedBackend(tmp_path)
    backend.index_documents(docs(10, 1))
    first = backend.current_path()
    for seed in (2, 3):
        build = backend.begin_rebuild()
        assert (tmp_path / "BUILDING").read_text() == build.path.name
        build.index_documents(docs(5, seed))
        backend.index_documents(docs(3, 99))  # written to the live index and to the one being built
        build.swap()
    assert backend.count() == 5 + 3
    assert not (tmp_path / "BUILDING").exists()
    assert not first.exists()
    assert len(list(tmp_path.glob("index-*.sqlite3"))) == 2
    aborted = backend.begin_rebuild()
    aborted.abort()
    assert not aborted.path.exists() and not (tmp_path / "BUILDING").exists()
    assert backend.count() == 8


@pytest.mark.parametrize("key", ["analysis_version", "schema_version"])
def test_an_index_built_by_other_analysis_code_is_refused(tmp_path, key):
    backend = EmbeddedBackend(tmp_path)
    backend.index_documents(docs(3, 1))
    backend.check()
    with sqlite3.connect(backend.current_path()) as conn:
        conn.execute("UPDATE meta SET value = '0' WHERE key = ?", [key])
    with pytest.raises(IndexVersionError, match="rebuild_index"):
        backend.check()
    with pytest.raises(IndexVersionError):
        backend.delete_documents([docs(3, 1)[0]["id"]])


@pytest.mark.django_db
def test_a_search_on_an_index_of_another_file_layout_is_a_503_not_a_500(tmp_path, settings, client):
    """Code that lays the index out differently cannot read an old file (until rebuild_index): the search API
    says so in the one error shape. An index of other analysis code is still searched meanwhile."""
    from catalog.search import sqlite_store as store

    settings.CATALOG_SEARCH_DIR = tmp_path
    settings.CATALOG_SEARCH_BACKEND = "catalog.search.embedded.EmbeddedBackend"
    backend = EmbeddedBackend(tmp_path)
    backend.index_documents(docs(5, 2))
    store._states.clear()
    with sqlite3.connect(backend.current_path()) as conn:
        conn.execute("UPDATE meta SET value = '0' WHERE key = 'analysis_version'")
    assert client.get("/api/v1/search", {"q": "数学"}).status_code == 200
    store._states.clear()
    with sqlite3.connect(backend.current_path()) as conn:
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
        conn.execute("ALTER TABLE docs DROP COLUMN rating")  # what an index of schema 1 lacks
    response = client.get("/api/v1/search", {"q": "数学"})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "search_index_outdated"
    assert "rebuild_index" in response.json()["error"]["message"]


# --- facet and tree counts: the vectorized counting is the plain rule --------------------------------

_VALUES = {"stage": ["小学", "初中", "高中"], "subject": ["数学", "语文", "物理"], "edition": ["人教版", "北师大版"],
           "grade": ["", "七年级", "八年级"], "volume": ["上册", "下册", "必修 第一册"],
           "chapter": ["", "第一章 有理数", "第二章 整式的加减", "第十章 数据"], "resource_type": ["课件", "教案", "试卷"],
           "license": ["CC-BY-4.0", "ALL-RIGHTS-RESERVED"]}


@pytest.fixture(scope="module")
def small_index(tmp_path_factory):
    import random

    rnd = random.Random(17)
    base = docs(1, seed=17)[0]
    corpus = [{**base, "id": f"00000000-0000-4000-8000-{i:012d}", "publisher": rnd.choice(["甲", "乙"]),
               **{field: rnd.choice(values) for field, values in _VALUES.items()}} for i in range(600)]
    backend = EmbeddedBackend(tmp_path_factory.mktemp("facets"))
    backend.index_documents(corpus)
    return backend, corpus


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chosen=st.dictionaries(st.sampled_from(sorted(_VALUES)),
                              st.lists(st.integers(0, 3), min_size=1, max_size=2), max_size=5))
def test_facets_total_and_tree_follow_the_plain_rule(small_index, chosen):
    """Whatever the filters (on tree fields, outside it, values nobody has, empty ones), the embedded
    backend's facets, total and tree are those of ``base.DisjunctiveCounter`` fed document by document."""
    backend, corpus = small_index
    filters = {f: tuple(dict.fromkeys(_VALUES[f][i % len(_VALUES[f])] if i < 3 else "无此值" for i in picks))
               for f, picks in chosen.items()}
    filters = {f: v for f, v in filters.items() if any(v)}
    page = backend.search(SearchRequest(filters=filters, page_size=1))
    reference = DisjunctiveCounter(filters)
    for doc in corpus:
        reference.add([str(doc[FACET_SOURCE[f]] or "") for f in FACET_FIELDS], 1)
    assert page.count == reference.total
    assert page.facets == reference.facet_buckets()
    assert page.tree == reference.tree_nodes()


# --- ranking and sorting in memory: the order rule, ties included ----------------------------------

@pytest.fixture(scope="module")
def ranked_index(tmp_path_factory):
    """Documents with the same text in groups (equal BM25), few distinct dates, download counts and ratings:
    many exact ties, so pages cut through groups of equal scores."""
    import random

    rnd = random.Random(23)
    texts = docs(6, seed=23)
    corpus = []
    for i in range(480):
        base = texts[i % len(texts)]
        corpus.append({**base, "id": f"{rnd.getrandbits(128):032x}", "title": base["title"],
                       "published_at": rnd.choice(["2024-03-01T00:00:00+00:00", "2025-09-01T00:00:00+00:00",
                                                   "2026-01-15T08:00:00+00:00"]),
                       "download_count": rnd.choice([0, 0, 3, 40]), "rating_score": rnd.choice([None, 3.5, 4.5]),
                       **{field: rnd.choice(values) for field, values in _VALUES.items()}})
    backend = EmbeddedBackend(tmp_path_factory.mktemp("ranked"))
    backend.index_documents(corpus)
    return backend, {d["id"]: d for d in corpus}


def _same_text(doc: dict) -> dict:
    """What a document's score depends on besides its date: equal for equal scores on the same date."""
    return {k: v for k, v in doc.items() if k not in ("id", "published_at", "rating_score")}


def _order_key(sort: str, hit: dict, doc: dict) -> tuple:
    newest = (-dt.datetime.fromisoformat(doc["published_at"]).timestamp(), doc["id"])
    if sort == "downloads":
        return (-doc["download_count"], *newest)
    if sort == "rating":
        return (doc["rating_score"] is None, -(doc["rating_score"] or 0), *newest)
    if sort == "relevance":
        return (-hit["score"], *newest)
    return newest


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=st.sampled_from(["", "数学", "课件", "初一 数学", "有理数 课件", "有理数的乘方 习题", "三角形 七年级"]),
       sort=st.sampled_from(["", "relevance", "newest", "downloads", "rating"]),
       chosen=st.dictionaries(st.sampled_from(["stage", "subject", "resource_type"]), st.integers(0, 2), max_size=2),
       page_size=st.integers(1, 30), page=st.integers(1, 6))
def test_pages_follow_the_order_rule_through_ties(ranked_index, q, sort, chosen, page_size, page):
    """Every result, paged 100 at a time, is in the order of the sort's rule (relevance: score, then newer,
    then id; newest; downloads; rating with unrated last), each exactly once; any page is that order's slice."""
    backend, by_id = ranked_index
    filters = {f: (_VALUES[f][i],) for f, i in chosen.items()}
    whole, n = [], 1
    while True:
        got = backend.search(SearchRequest(q=q, filters=filters, sort=sort, page=n, page_size=100))
        whole += got.hits
        if len(got.hits) < 100:
            break
        n += 1
    assert len(whole) == got.count == len({h["id"] for h in whole})
    effective = sort or ("relevance" if q else "newest")
    effective = "newest" if effective == "relevance" and not q else effective
    keys = [_order_key(effective, h, by_id[h["id"]]) for h in whole]
    pairs = list(zip(whole, keys, strict=True))
    for (a, key_a), (b, key_b) in itertools.pairwise(pairs):
        if effective == "relevance" and a["score"] == b["score"] and _same_text(by_id[a["id"]]) != _same_text(
                by_id[b["id"]]):
            continue  # scores equal only once rounded (other texts and counts): the tie-break does not apply
        assert key_a <= key_b, (a, b)
    one = backend.search(SearchRequest(q=q, filters=filters, sort=sort, page=page, page_size=page_size))
    assert [h["id"] for h in one.hits] == [h["id"] for h in whole[(page - 1) * page_size:page * page_size]]


def test_threads_share_one_state_per_index_generation_and_a_write_makes_a_new_one(tmp_path):
    from catalog.search import sqlite_store as store

    backend = EmbeddedBackend(tmp_path)
    backend.index_documents(docs(20, 31))
    states = []

    def look() -> None:
        handle = backend._handle()
        with store.read_transaction(handle.conn):
            states.append(handle.state())

    threads = [threading.Thread(target=look) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(states) == 4 and all(s is states[0] for s in states)  # built once for the process
    before = backend.search(SearchRequest(q="", page_size=1)).count
    extra = docs(1, 32)[0]
    writer = EmbeddedBackend(tmp_path)  # another thread's connection writes
    done = threading.Thread(target=writer.index_documents, args=([extra],))
    done.start()
    done.join()
    page = backend.search(SearchRequest(q="", page_size=100))
    assert page.count == before + 1 and extra["id"] in {h["id"] for h in page.hits}
    assert sum(b["count"] for b in page.facets["stage"]) == before + 1
    look()
    assert states[-1] is not states[0]


def test_cached_matches_answer_as_a_fresh_pass_and_a_write_is_seen_at_once(tmp_path, settings):
    """The per-process match cache (on by default) changes no answer: a page, its facets and its scores are
    those of an uncached search, and a document indexed since is found by the next search."""
    backend = EmbeddedBackend(tmp_path)
    backend.index_documents(docs(120, 41))
    requests = [SearchRequest(q=q, filters=f, sort=s, page=p, page_size=7)
                for q in ("数学", "有理数 课件", "初一 数学 习题", "三叫形")
                for f in ({}, {"stage": ("初中",)}) for s in ("", "newest") for p in (1, 2)]

    def answers() -> list:
        return [(page.count, [(h["id"], h["score"]) for h in page.hits], page.facets, page.tree)
                for page in map(backend.search, requests)]

    settings.CATALOG_SEARCH_MATCH_CACHE_MB = 0
    fresh = answers()
    settings.CATALOG_SEARCH_MATCH_CACHE_MB = 64
    assert answers() == fresh  # fills the cache
    assert answers() == fresh  # answered from it
    before = backend.search(SearchRequest(q="数学")).count
    extra = {**docs(1, 42)[0], "title": "数学 新课件"}
    EmbeddedBackend(tmp_path).index_documents([extra])
    assert backend.search(SearchRequest(q="数学")).count == before + 1


def test_the_match_cache_keeps_to_its_budget(tmp_path):
    from catalog.search import sqlite_store as store

    backend = EmbeddedBackend(tmp_path)
    backend.index_documents(docs(200, 43))
    handle = backend._handle()
    with store.read_transaction(handle.conn):
        state = store.IndexState(handle.conn, cache_bytes=4000)
        sizes = []
        for expression in ('"数学"', '"课件"', '"习题"', '"初中"', '"数学" OR "课件"'):
            rowids, bm25 = state.matching(handle.conn, expression, with_bm25=True)
            assert not rowids.flags.writeable and not bm25.flags.writeable
            sizes.append(rowids.nbytes + bm25.nbytes)
            assert state._cached_bytes == sum(a.nbytes for pair in state._matches.values() for a in pair if a is not None)
            assert state._cached_bytes <= 4000
    assert any(size > 0 for size in sizes)


def test_the_match_cache_follows_the_setting_of_the_running_process(tmp_path, settings):
    """Turned on after the index state was built (with it off), the cache fills; turned off, nothing more is kept."""
    from catalog.search import sqlite_store as store

    backend = EmbeddedBackend(tmp_path)
    backend.index_documents(docs(60, 44))
    settings.CATALOG_SEARCH_MATCH_CACHE_MB = 0
    backend.search(SearchRequest(q="数学"))
    handle = backend._handle()
    with store.read_transaction(handle.conn):
        state = handle.state()
    assert not state._matches
    settings.CATALOG_SEARCH_MATCH_CACHE_MB = 1
    backend.search(SearchRequest(q="数学"))
    assert state._matches
    settings.CATALOG_SEARCH_MATCH_CACHE_MB = 0
    backend.search(SearchRequest(q="课件"))
    assert all("课件" not in expression for expression in state._matches)


@pytest.mark.django_db
def test_rebuild_index_if_outdated_rebuilds_only_an_outdated_index(tmp_path, settings):
    from django.core.management import call_command

    settings.CATALOG_SEARCH_DIR = tmp_path
    settings.CATALOG_SEARCH_BACKEND = "catalog.search.embedded.EmbeddedBackend"
    backend = EmbeddedBackend(tmp_path)
    backend.index_documents(docs(3, 3))
    live = backend.current_path()
    out = io.StringIO()
    call_command("rebuild_index", "--if-outdated", "--no-progress", stdout=out)
    assert "current" in out.getvalue() and backend.current_path() == live
    with sqlite3.connect(live) as conn:
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    assert backend.is_outdated()
    call_command("rebuild_index", "--if-outdated", "--no-progress", stdout=io.StringIO())
    assert backend.current_path() != live and not backend.is_outdated()


def _statements(backend: EmbeddedBackend, request: SearchRequest) -> tuple[object, list[str]]:
    """A search's page and the SQL statements it ran on this thread's index connection."""
    conn = backend._handle().conn
    ran: list[str] = []
    conn.set_trace_callback(ran.append)
    try:
        page = backend.search(request)
    finally:
        conn.set_trace_callback(None)
    return page, ran


def test_a_repeated_request_is_answered_from_its_kept_page(tmp_path, settings):
    """As a search engine's query result cache: the same request in the same index generation reads
    nothing of the index but its generation (no match, no stored bodies), and answers the same page."""
    settings.CATALOG_SEARCH_MATCH_CACHE_MB = 64
    backend = EmbeddedBackend(tmp_path)
    backend.index_documents(docs(80, 46))
    request = SearchRequest(q="数学", filters={"stage": ("初中",)}, page_size=2)
    first, ran_first = _statements(backend, request)
    again, ran_again = _statements(backend, request)
    assert any("FROM bodies" in sql for sql in ran_first)
    assert [sql for sql in ran_again if "BEGIN" not in sql and "COMMIT" not in sql and "meta" not in sql] == []
    assert first.hits and (again.count, again.hits, again.facets, again.tree) == (first.count, first.hits, first.facets, first.tree)
    other, ran_other = _statements(backend, SearchRequest(q="数学", filters={"stage": ("初中",)}, page_size=2, page=2))
    assert first.count > 2 and any("FROM bodies" in sql for sql in ran_other)  # another page is another request
    settings.CATALOG_SEARCH_MATCH_CACHE_MB = 0  # the cache off: nothing kept is used
    _, ran_off = _statements(backend, request)
    assert any("FROM bodies" in sql for sql in ran_off)


def test_what_a_caller_adds_to_a_kept_pages_hits_stays_with_that_caller(tmp_path, settings):
    """Result annotators add per-user answers (access, price, cover) to the hits they are given: a kept page
    hands each caller hits of its own, so one user's answers never reach the next user of the page."""
    settings.CATALOG_SEARCH_MATCH_CACHE_MB = 64
    backend = EmbeddedBackend(tmp_path)
    backend.index_documents(docs(40, 47))
    request = SearchRequest(q="课件", page_size=10)
    mine = backend.search(request)
    assert mine.hits
    for hit in mine.hits:
        hit["access"] = {"allowed": True, "reason": "purchased"}
        hit["title"] = "changed by a caller"
    theirs = backend.search(request)
    assert all("access" not in hit and hit["title"] != "changed by a caller" for hit in theirs.hits)
    assert [h["id"] for h in theirs.hits] == [h["id"] for h in mine.hits]


def test_kept_pages_keep_to_their_memory_whatever_the_page_size_asked(tmp_path, settings, monkeypatch):
    """A count of pages would not bound their memory: a client asking for 100 hits a page makes each five
    times larger. Kept pages keep to PAGES_BYTES by their size; a page larger than an eighth of it is not kept."""
    from catalog.search import sqlite_store as store

    settings.CATALOG_SEARCH_MATCH_CACHE_MB = 64
    backend = EmbeddedBackend(tmp_path)
    backend.index_documents(docs(150, 49))
    small = backend.search(SearchRequest(q="数学", page_size=20))
    budget = 8 * _kept_size(_packed(small), _page_key(SearchRequest(q="数学", page_size=20))) + 1
    monkeypatch.setattr(store, "PAGES_BYTES", budget)
    for page in range(1, 8):  # hostile: distinct requests of 100 hits each
        backend.search(SearchRequest(q="课件" if page % 2 else "习题", page=page // 2 + 1, page_size=100))
    for page in range(1, 60):
        backend.search(SearchRequest(q="数学" if page % 2 else "课件", page=page // 2 + 1, page_size=2))
    handle = backend._handle()
    with store.read_transaction(handle.conn):
        state = handle.state(cache_bytes=64 * 2**20)
    pages = {key[1]: size for key, (_, _, size) in store._kept_pages._pages.items() if key[0] == state._serial}
    sizes = list(pages.values())
    assert sum(sizes) <= store._kept_pages._bytes <= budget and 1 < len(sizes) < 59  # the oldest made room
    assert all(size <= budget // 8 for size in sizes)
    assert all(key[4] == 2 for key in pages)  # the pages of 100 hits were larger than an eighth


def test_a_kept_page_is_worked_out_again_after_page_seconds(tmp_path, settings, monkeypatch):
    """Scores carry recency (they change with the clock): a page is kept at most PAGE_SECONDS."""
    from catalog.search import sqlite_store as store

    settings.CATALOG_SEARCH_MATCH_CACHE_MB = 64
    backend = EmbeddedBackend(tmp_path)
    backend.index_documents(docs(40, 48))
    request = SearchRequest(q="习题", page_size=3)
    _statements(backend, request)
    clock = store.time.monotonic() + store.PAGE_SECONDS + 1
    monkeypatch.setattr(store.time, "monotonic", lambda: clock)
    _, ran = _statements(backend, request)
    assert any("FROM bodies" in sql for sql in ran)


DELETER = """
import sys, django
django.setup()
from catalog.search.embedded import EmbeddedBackend
EmbeddedBackend(sys.argv[1]).delete_documents([sys.argv[2]])
"""


def test_a_takedown_indexed_by_another_process_is_never_served_from_this_ones_cache(tmp_path, settings):
    """The match cache and facet summaries live in each web process. A resource taken down elsewhere (an rq worker,
    another gunicorn worker) must vanish from this process's next search: results, count, facets and the exact
    query cached a moment before included."""
    settings.CATALOG_SEARCH_MATCH_CACHE_MB = 64
    backend = EmbeddedBackend(tmp_path)
    corpus = docs(40, 45)
    backend.index_documents(corpus)
    victim = corpus[0]
    request = SearchRequest(q=victim["title"][:6], page_size=100)
    for _ in range(2):  # filled, then answered from the cache
        before = backend.search(request)
    assert victim["id"] in {h["id"] for h in before.hits}
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "exchange.settings"}
    subprocess.run([sys.executable, "-c", DELETER, str(tmp_path), victim["id"]], cwd=REPO, env=env, check=True)
    after = backend.search(request)
    assert victim["id"] not in {h["id"] for h in after.hits}
    assert after.count == before.count - 1 == sum(b["count"] for b in after.facets["stage"])
    browse = backend.search(SearchRequest(page_size=100))
    assert victim["id"] not in {h["id"] for h in browse.hits} and browse.count == len(corpus) - 1


# Leaves as the embedded backend writes concepts (options ORed, an option's phrases ANDed), named in the
# sample corpus so that trees over them match something.
def _leaf(*options: tuple[str, ...]) -> str:
    def phrase(text: str) -> str:
        return '"' + " ".join(tokenize(text)) + '"'

    written = [phrase(o[0]) if len(o) == 1 else "(" + " AND ".join(map(phrase, o)) + ")" for o in options]
    return "(" + " OR ".join(written) + ")"


TREE_LEAVES = (_leaf(("数学",)), _leaf(("课件",), ("教学课件",)), _leaf(("初中", "七年级"), ("初一",)),
               _leaf(("有理数",)), _leaf(("习题",), ("练习",)), _leaf(("七年级",)), _leaf(("语文",), ("作文",)))


@pytest.fixture(scope="module")
def tree_index(tmp_path_factory):
    from catalog.search import sqlite_store as store

    backend = EmbeddedBackend(tmp_path_factory.mktemp("trees"))
    backend.index_documents(docs(300, 46))
    handle = backend._handle()
    with store.read_transaction(handle.conn):
        yield handle.conn, store.IndexState(handle.conn, cache_bytes=64 * 2**20)


def _trees():
    from catalog.search.sqlite_store import MatchTree, match_node

    nodes = st.tuples(st.sampled_from(("AND", "OR")), st.lists(st.deferred(lambda: trees), min_size=1, max_size=3))
    trees = st.one_of(st.sampled_from(TREE_LEAVES).map(MatchTree),
                      nodes.map(lambda n: match_node(n[0], n[1], parens=True)))
    return trees


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=_trees())
def test_a_match_worked_out_from_its_concepts_is_one_pass_over_its_expression(tree_index, tree):
    """With the match cache on, an expression is matched from its concepts' cached matches (AND: rows all
    children match, OR: any; bm25 summed over the children a row matches, a repeated concept counted each
    time). Rows and bm25 must be FTS5's for the whole expression, for any nesting of concepts."""
    from catalog.search import sqlite_store as store

    conn, state = tree_index
    rows = conn.execute(f"SELECT rowid, bm25(fts, {store.BM25_WEIGHTS}) FROM fts WHERE fts MATCH ?",  # noqa: S608
                        [tree.expression])
    whole_rowids, whole_bm25 = store.rowids_and_scores(rows)
    assert whole_rowids.tolist() == state.matching(conn, tree, with_bm25=True)[0].tolist()
    share = store.SORTED_COMBINE_SHARE
    try:
        for store.SORTED_COMBINE_SHARE in (0, 10**9):  # every node by scanning, then every node by sorting
            rowids, bm25 = state._combined(conn, tree)
            assert rowids.tolist() == whole_rowids.tolist()
            assert bm25 == pytest.approx(whole_bm25, rel=1e-9, abs=1e-9)
    finally:
        store.SORTED_COMBINE_SHARE = share


def test_kept_pages_keep_to_their_memory_across_index_generations(tmp_path, settings, monkeypatch):
    """Kept pages keep to PAGES_BYTES a process, not a generation: a process keeps the state of its last
    STATES_KEPT generations (readers of older snapshots finish with theirs), and any publisher's change
    starts a new one. Hostile: distinct requests, a change, distinct requests again… The pages the process
    keeps, of every generation, stay within the budget."""
    from catalog.search import sqlite_store as store

    settings.CATALOG_SEARCH_MATCH_CACHE_MB = 64
    backend = EmbeddedBackend(tmp_path)
    batch = docs(60, 52)
    backend.index_documents(batch[:50])
    requests = [SearchRequest(q=q, page=page, page_size=3)
                for q, page in itertools.product(("数学", "课件", "习题", "教案"), (1, 2, 3))]
    budget = 8 * max(_kept_size(_packed(backend.search(r)), _page_key(r)) for r in requests) + 1  # none over 1/8
    monkeypatch.setattr(store, "PAGES_BYTES", budget)
    for generation in range(store.STATES_KEPT):
        backend.index_documents([batch[50 + generation]])  # a new generation (a publisher's change)
        for request in requests:
            backend.search(request)
    mine = {d["id"] for d in batch}  # (pages of other tests' threads, if any, are not this test's)
    kept = [(key, size) for key, (_, packed, size) in store._kept_pages._pages.items()
            if {h["id"] for h in orjson.loads(packed)["hits"]} <= mine]
    assert len(kept) >= 4  # the last generation's pages are kept (the cache works)
    assert sum(size for _, size in kept) <= store._kept_pages._bytes <= budget
    assert len(store._states) > 1 and all(not hasattr(state, "_pages") for state in store._states.values())


def _real_bytes(thing: object) -> int:
    """The memory ``thing`` takes, measured by tracemalloc on a copy of it that shares nothing."""
    blob = pickle.dumps(thing)
    gc.collect()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        copy = pickle.loads(blob)  # noqa: S301 - our own bytes, just made
        taken = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
    del copy
    return taken


def test_the_size_a_page_is_kept_with_covers_the_memory_it_takes(tmp_path, settings):
    """PAGES_BYTES bounds the memory of kept pages only if the size each is kept with is not less than what
    it takes (its entry: request key, page, facets and tree of its own). Hostile shapes: many distinct
    queries finding nothing (a page of almost no JSON, a long query or long filter values in its key), one
    hit a page (facets and tree weigh more than their JSON), pages past the end; and the usual page."""
    from catalog.search import sqlite_store as store

    settings.CATALOG_SEARCH_MATCH_CACHE_MB = 64
    backend = EmbeddedBackend(tmp_path)
    batch = docs(300, 53)
    backend.index_documents(batch)
    shapes = [
        SearchRequest(q="qzxw"),
        SearchRequest(q="qzxw" + "x" * 190),
        SearchRequest(q="qzxw", filters={"publisher": tuple(f"出版社 {i} " * 8 for i in range(10))}),
        SearchRequest(q="数学", page_size=1),
        SearchRequest(q="数学", page=300),
        SearchRequest(q="数学 课件"),
        SearchRequest(filters={"stage": (batch[0]["stage"],), "subject": (batch[0]["subject"],)}, page_size=1,
                      with_facets=False, with_highlight=False),  # as the browse API asks
    ]
    for request in shapes:
        backend.search(request)
        entries = [(key, entry) for key, entry in store._kept_pages._pages.items() if key[1] == _page_key(request)]
        assert len(entries) == 1, request
        kept_with = entries[0][1][2]
        assert _real_bytes(entries[0]) <= kept_with, request
