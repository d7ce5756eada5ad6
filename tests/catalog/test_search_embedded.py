"""The embedded backend's own guarantees: concurrent writers and readers (threads and processes),
atomic swaps of the index file, refusal of an index built by other analysis code."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog.sampledata import generate
from catalog.search.base import FACET_FIELDS, FACET_SOURCE, DisjunctiveCounter, SearchRequest
from catalog.search.documents import record_document
from catalog.search.embedded import EmbeddedBackend
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


def test_an_index_built_by_other_analysis_code_is_refused(tmp_path):
    backend = EmbeddedBackend(tmp_path)
    backend.index_documents(docs(3, 1))
    backend.check()
    with sqlite3.connect(backend.current_path()) as conn:
        conn.execute("UPDATE meta SET value = '0' WHERE key = 'analysis_version'")
    with pytest.raises(IndexVersionError, match="rebuild_index"):
        backend.check()
    with pytest.raises(IndexVersionError):
        backend.delete_documents([docs(3, 1)[0]["id"]])


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
