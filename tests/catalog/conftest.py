"""Catalog test fixtures: search indexes isolated per test, and a sample corpus indexed once per
module into each search backend (the Elasticsearch one on the session's Elasticsearch-API server)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from catalog.sampledata import generate
from catalog.search.documents import record_document

SEARCH_BACKENDS = ("embedded", "elasticsearch")
BACKEND_PATHS = {
    "embedded": "catalog.search.embedded.EmbeddedBackend",
    "elasticsearch": "catalog.search.elastic.ElasticsearchBackend",
}


@pytest.fixture(autouse=True)
def isolated_search_index(settings, tmp_path):
    """Every catalog test indexes into its own embedded directory and Elasticsearch prefix."""
    settings.CATALOG_SEARCH_DIR = tmp_path / "search"
    settings.ELASTICSEARCH_INDEX_PREFIX = f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=SEARCH_BACKENDS)
def search_backend(request, settings):
    """The configured search backend for one test, each backend in turn; dropped afterwards."""
    from catalog.search import get_backend

    if request.param == "elasticsearch":
        settings.ELASTICSEARCH_URL = request.getfixturevalue("elasticsearch_url")
    settings.CATALOG_SEARCH_BACKEND = BACKEND_PATHS[request.param]
    backend = get_backend()
    yield backend
    backend.drop()


def _corpus() -> list[dict[str, Any]]:
    """Realistic documents: the first 250 sample records plus every record of 人教版七年级数学上册
    (the 有理数 book) among the first 3000, and two hand-made ones; download counts vary."""
    records = list(generate(3000))
    chosen = records[:250] + [
        r for r in records[250:] if r["subject"] == "数学" and r["grade"] == "七年级" and r["volume"] == "上册"
    ]
    docs = [record_document(r, origin_node="cn-44", download_count=(i * 37) % 500) for i, r in enumerate(chosen)]
    base = docs[0]
    docs.append({**base, "id": "00000000-0000-4000-8000-000000000001", "title": "分式 <b>加减</b> & “PPT”课件",
                 "description": "", "keywords": [], "chapter": "", "section": "", "download_count": 0})
    docs.append({**base, "id": "00000000-0000-4000-8000-000000000002", "title": "Unit 3 Colours 课件",
                 "subject": "英语", "grade": "三年级", "chapter": "Unit 3 Look at me!", "section": "",
                 "description": "", "keywords": [], "publisher": "远方<出版社>", "origin_node": "cn-11",
                 "is_remote": True, "download_count": 1000})
    return docs


@pytest.fixture(scope="session")
def corpus_docs() -> list[dict[str, Any]]:
    return _corpus()


@pytest.fixture(scope="module", params=SEARCH_BACKENDS)
def corpus_backend(request, corpus_docs, tmp_path_factory):
    """A backend holding ``corpus_docs`` (built once per module and backend, read-only in tests)."""
    if request.param == "elasticsearch":
        from catalog.search.elastic import ElasticsearchBackend

        backend = ElasticsearchBackend(request.getfixturevalue("elasticsearch_url"),
                                       f"test-corpus-{uuid.uuid4().hex[:12]}")
    else:
        from catalog.search.embedded import EmbeddedBackend

        backend = EmbeddedBackend(tmp_path_factory.mktemp("corpus-search"))
    build = backend.begin_rebuild()
    build.index_documents(corpus_docs)
    build.swap()
    yield backend
    backend.drop()


@pytest.fixture
def corpus_settings(settings, corpus_backend):
    """Point the node's settings at the module's corpus index (for API tests)."""
    if corpus_backend.name == "elasticsearch":
        settings.ELASTICSEARCH_URL = corpus_backend.url
        settings.ELASTICSEARCH_INDEX_PREFIX = corpus_backend.prefix
        settings.CATALOG_SEARCH_BACKEND = BACKEND_PATHS["elasticsearch"]
    else:
        settings.CATALOG_SEARCH_DIR = corpus_backend.root
        settings.CATALOG_SEARCH_BACKEND = BACKEND_PATHS["embedded"]
    return corpus_backend
