"""Browse by textbook (issue 17, item 5): the API's textbook tree and the deep-linkable browse page, on
both backends (the module's corpus index); the tree's counts themselves are checked in test_search.py."""

from __future__ import annotations

import re
from collections import Counter
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings as django_settings
from django.test import Client

pytestmark = pytest.mark.django_db

PATH = {"stage": "初中", "subject": "数学", "edition": "人教版", "grade": "七年级", "volume": "上册"}


@pytest.fixture(autouse=True)
def _no_annotators(settings):
    settings.CATALOG_SEARCH_RESULT_ANNOTATORS = []


def test_api_browse_gives_the_path_and_the_tree(api, corpus_settings, corpus_docs):
    body = api.get("/api/v1/browse", PATH).json()
    assert set(body) == {"count", "path", "tree"}
    book = [d for d in corpus_docs if all(d[k] == v for k, v in PATH.items())]
    assert body["count"] == len(book)
    assert [(s["level"], s["value"]) for s in body["path"]] == [
        ("stage", "初中"), ("subject", "数学"), ("edition", "人教版"), ("book", "七年级 上册")]
    assert body["path"][-1]["filters"] == PATH and body["path"][-1]["count"] == len(book)
    assert body["path"][0]["count"] == sum(d["stage"] == "初中" for d in corpus_docs)
    top = api.get("/api/v1/browse").json()
    assert top["path"] == [] and {n["value"]: n["count"] for n in top["tree"]} == Counter(
        d["stage"] for d in corpus_docs)
    # a filter outside the tree narrows every count
    slides = api.get("/api/v1/browse", {"resource_type": "课件"}).json()
    assert {n["value"]: n["count"] for n in slides["tree"]} == Counter(
        d["stage"] for d in corpus_docs if d["resource_type"] == "课件")


def test_api_search_carries_the_tree_and_chapter_filter(api, corpus_settings, corpus_docs):
    body = api.get("/api/v1/search", {"q": "有理数", **PATH}).json()
    [stage] = [n for n in body["tree"] if n["selected"]]
    assert stage["value"] == "初中" and stage["children"]
    chapter = api.get("/api/v1/search", {"chapter": "第一章 有理数", "page_size": 100}).json()
    assert chapter["count"] == sum(d["chapter"] == "第一章 有理数" for d in corpus_docs) > 0


@pytest.mark.parametrize(("query", "status"), [
    ("stage=%00&chapter=%00", 400), ("chapter=" + "章" * 5000, 200), ("grade=&volume=&stage=", 200),
    ("stage=初中&stage=高中&subject=数学&subject=" + "x" * 300, 200)])
def test_api_browse_takes_hostile_values(api, corpus_settings, query, status):
    response = api.get("/api/v1/browse?" + query)
    assert response.status_code == status
    assert response.json()["count"] >= 0 if status == 200 else set(response.json()) == {"error"}


def links(html: str) -> list[dict[str, list[str]]]:
    return [parse_qs(urlsplit(h.replace("&amp;", "&")).query) for h in re.findall(r'href="([^"]*)"', html)]


def test_browse_page_walks_down_to_a_chapter_by_plain_links(client, corpus_settings, corpus_docs):
    top = client.get("/browse").content.decode()
    assert "按教材浏览" in top and "全部教材" in top
    assert any(q == {"stage": ["初中"]} for q in links(top))
    page = client.get("/browse", PATH).content.decode()
    book = [d for d in corpus_docs if all(d[k] == v for k, v in PATH.items())]
    assert re.search(r'aria-current="page">七年级 上册</a>', page)
    # the children are the book's chapters, each a link keeping the path
    chapter_links = [q for q in links(page) if "chapter" in q]
    assert {q["chapter"][0] for q in chapter_links} == {d["chapter"] for d in book if d["chapter"]}
    assert all(q["subject"] == ["数学"] and q["volume"] == ["上册"] for q in chapter_links)
    assert f"共 {len(book)} 个资源" in page
    chapter = client.get("/browse", {**PATH, "chapter": "第一章 有理数"}).content.decode()
    assert re.search(r'aria-current="page">第一章 有理数</a>', chapter)
    assert chapter.count('class="result"') == min(20, sum(d["chapter"] == "第一章 有理数" for d in book))


def test_browse_page_in_english(corpus_settings):
    client = Client()
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "en"
    page = client.get("/browse", {"stage": "初中"}).content.decode()
    assert '<html lang="en">' in page and "Browse by textbook" in page and "All textbooks" in page
    assert "Junior secondary school" in page and "Mathematics" in page


def test_search_page_shows_the_tree_as_a_facet(client, corpus_settings):
    page = client.get("/search", {"q": "有理数", "stage": "初中"}).content.decode()
    assert "教材目录" in page
    tree = page[page.index('id="facet-tree"'):]
    tree = tree[:tree.index("</section>")]
    assert any(q.get("subject") == ["数学"] and q.get("q") == ["有理数"] for q in links(tree))
