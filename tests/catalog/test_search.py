"""Search, on both backends with the same assertions: the embedded SQLite FTS5 index and
Elasticsearch on a real HTTP server (the session's noida-db, or ELASTICSEARCH_URL).

Corpus tests read a sample corpus indexed once per module (``corpus_backend``); the others go
through the real services, jobs and API with a fresh index per test (``search_backend``).
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from typing import Any

import pytest
from django.core.management import call_command

from catalog import services
from catalog.importer import import_records
from catalog.models import Resource
from catalog.sampledata import generate
from catalog.search import check_search
from catalog.search.analysis import MAX_CONCEPTS, lexicon, normalize, parse_query, suggestion_terms
from catalog.search.base import (
    FACET_FIELDS,
    MAX_WINDOW,
    RELAX_BELOW,
    RESULT_FIELDS,
    SearchPage,
    SearchRequest,
)
from catalog.search.indexing import index_resource, index_resources, rebuild_index
from exchange.errors import InvalidInputError
from tests.factories import ResourceFactory, revise

TEXT_FIELDS = ("title", "chapter", "section", "keywords", "description")
VOCABULARY_FIELDS = ("stage", "subject", "grade", "edition", "volume", "resource_type", "publisher")


def run(backend, **params: Any) -> SearchPage:
    return backend.search(SearchRequest(**params))


def ids(page: SearchPage) -> list[str]:
    return [h["id"] for h in page.hits]


def contains(doc: dict[str, Any], *phrases: str) -> bool:
    """Whether any phrase occurs in the document's searchable text (exact for CJK phrases)."""
    texts = [normalize(" ".join(doc[f]) if f == "keywords" else doc[f] or "") for f in TEXT_FIELDS]
    texts += [normalize(doc[f] or "") for f in VOCABULARY_FIELDS]
    return any(normalize(p) in t for p in phrases for t in texts)


def facet(page: SearchPage, name: str) -> dict[str, int]:
    return {b["value"]: b["count"] for b in page.facets[name]}


def is_rational_slides(doc: dict[str, Any]) -> bool:
    return (doc["subject"], doc["grade"], doc["resource_type"]) == ("数学", "七年级", "课件") and "有理数" in doc["chapter"]


# --- the corpus, read only ------------------------------------------------------------------

def test_done_when_a_teacher_gets_the_right_slides_first_with_facet_counts(corpus_backend, corpus_docs):
    """初一数学 有理数 课件: every 七年级 数学 slide deck of the 有理数 chapter comes before anything else;
    初一/数学/课件 only rank (all documents about 有理数 match); the facets count that result set."""
    page = run(corpus_backend, q="初一数学 有理数 课件", page_size=10)
    expected = [d for d in corpus_docs if contains(d, "有理数")]
    slides = {d["id"] for d in expected if is_rational_slides(d)}
    assert len(slides) >= 3
    assert page.count == len(expected)
    assert set(ids(page)[:len(slides)]) == slides
    assert facet(page, "resource_type") == Counter(d["resource_type"] for d in expected)
    assert facet(page, "grade") == Counter(d["grade"] for d in expected if d["grade"])
    assert facet(page, "subject") == {"数学": len(expected)}
    top = page.hits[0]
    assert "<em>有理数</em>" in top["highlight"]["chapter"][0]
    assert "<em>" in top["highlight"]["title"][0]
    assert set(top) == set(RESULT_FIELDS)


@pytest.mark.parametrize(("colloquial", "code"), [("初一", "七年级"), ("初二", "八年级"), ("初三", "九年级")])
def test_colloquial_grades_mean_the_grade(corpus_backend, corpus_docs, colloquial, code):
    """初一/初二/初三 = 七/八/九年级: the same documents match, those of the grade rank first."""
    expected = {d["id"] for d in corpus_docs
                if contains(d, colloquial, code, f"初中{code[0]}年级") and contains(d, "数学")}
    by_colloquial = run(corpus_backend, q=f"{colloquial}数学", page_size=5)
    by_code = run(corpus_backend, q=f"{code} 数学", page_size=5)
    assert by_colloquial.count == by_code.count == len(expected) > 0
    assert {h["grade"] for h in by_colloquial.hits} == {code}


@pytest.mark.parametrize(("q", "type_of_top"), [
    ("有理数 教学设计", {"教案"}), ("有理数 练习", {"习题"}), ("有理数 试题", {"习题", "试卷"}),
    ("有理数 导学案", {"学案"}), ("有理数 PPT", {"课件"}),
])
def test_teacher_words_for_resource_types_boost_without_filtering(corpus_backend, corpus_docs, q, type_of_top):
    """教学设计 = 教案, 练习 = 习题, 试题 = 习题/试卷, 导学案 = 学案, PPT = 课件 — raised, not filtered."""
    page = run(corpus_backend, q=q, page_size=3)
    assert page.count == sum(1 for d in corpus_docs if contains(d, "有理数"))
    assert page.hits[0]["resource_type"] in type_of_top


@pytest.mark.parametrize("exam", ["期中考试", "期末", "单元测试", "期末测试卷"])
def test_an_exam_named_without_its_paper_finds_the_test_papers_first(corpus_backend, corpus_docs, exam):
    """期中考试 / 期末 / 单元测试 name an exam: teachers mean its test papers. The grade's and subject's papers
    come first, whether or not their titles name that exam (期中质量检测卷, 单元达标卷); the type is raised,
    not required of the text."""
    papers = {d["id"] for d in corpus_docs if (d["grade"], d["subject"], d["resource_type"]) == ("七年级", "数学", "试卷")}
    page = run(corpus_backend, q=f"初一数学 {exam}", page_size=len(papers))
    assert len(papers) > 1 and set(ids(page)) == papers


def test_short_edition_names_and_chapter_numbers(corpus_backend, corpus_docs):
    """人教 = 人教版 (boost); 第2章 = 第二章; 2.1 is a token of its own; unit 3 also finds 第三单元
    (one way: 第三单元 does not bring in English units)."""
    page = run(corpus_backend, q="人教 有理数", page_size=3)
    assert page.hits[0]["edition"] == "人教版"
    assert run(corpus_backend, q="第2章").count == run(corpus_backend, q="第二章").count == sum(
        1 for d in corpus_docs if contains(d, "第二章", "第2章"))
    sections = [h["section"] for h in run(corpus_backend, q="2.1 整式", page_size=3).hits]
    assert sections and all(s.startswith("2.1") for s in sections)
    unit = run(corpus_backend, q="unit 3", page_size=100)
    chinese = run(corpus_backend, q="第三单元", page_size=100)
    assert set(ids(chinese)) < set(ids(unit))
    assert unit.count == sum(1 for d in corpus_docs if contains(d, "unit 3", "第三单元"))
    assert chinese.count == sum(1 for d in corpus_docs if contains(d, "第三单元", "第3单元"))
    assert any("Unit 3" in h["chapter"] for h in unit.hits if h["id"] not in set(ids(chinese)))


def test_a_query_of_vocabulary_words_only_requires_them_all(corpus_backend, corpus_docs):
    """初一数学 课件 has no topic: all three words must match (in text or vocabulary values)."""
    page = run(corpus_backend, q="初一数学 课件", page_size=5)
    expected = [d for d in corpus_docs if contains(d, "初一", "七年级", "初中一年级") and contains(d, "数学")
                and contains(d, "课件", "ppt", "幻灯片", "演示文稿")]
    assert page.count == len(expected)
    assert all((h["grade"], h["subject"], h["resource_type"]) == ("七年级", "数学", "课件") for h in page.hits)


def test_nothing_matches_every_word_so_any_word_will_do(corpus_backend, corpus_docs):
    page = run(corpus_backend, q="有理数 勾股定理", page_size=5)
    assert page.relaxed
    assert page.count == sum(1 for d in corpus_docs if contains(d, "有理数") or contains(d, "勾股定理"))


def test_filters_are_exact_and_repeatable(corpus_backend, corpus_docs):
    filters = {"grade": ("七年级",), "resource_type": ("课件", "教案")}
    page = run(corpus_backend, q="有理数", filters=filters, page_size=50)
    expected = {d["id"] for d in corpus_docs if contains(d, "有理数") and d["grade"] == "七年级"
                and d["resource_type"] in ("课件", "教案")}
    assert set(ids(page)) == expected and page.count == len(expected)
    assert facet(page, "grade") == {"七年级": len(expected)}
    assert run(corpus_backend, q="有理数", filters={"grade": ("十三年级",)}).count == 0


def test_browsing_without_q_counts_facets_newest_first(corpus_backend, corpus_docs):
    page = run(corpus_backend, filters={"subject": ("数学",)}, page_size=10)
    maths = [d for d in corpus_docs if d["subject"] == "数学"]
    assert page.count == len(maths)
    assert facet(page, "grade") == Counter(d["grade"] for d in maths if d["grade"])
    assert facet(page, "publisher") == dict(Counter(d["publisher"] for d in maths).most_common(50))
    newest = sorted(sorted(maths, key=lambda d: d["id"]), key=lambda d: d["published_at"], reverse=True)
    assert ids(page) == [d["id"] for d in newest[:10]]
    assert all(h["score"] is None for h in page.hits)
    everything = run(corpus_backend)
    assert everything.count == len(corpus_docs)
    assert facet(everything, "stage") == Counter(d["stage"] for d in corpus_docs)


def test_sorts(corpus_backend, corpus_docs):
    """newest and downloads are exact orders (ties: newer first, then id); relevance is the default
    with q and carries scores."""
    newest = run(corpus_backend, q="数学", sort="newest", page_size=20).hits
    assert [h["published_at"] for h in newest] == sorted((h["published_at"] for h in newest), reverse=True)
    popular = run(corpus_backend, q="数学", sort="downloads", page_size=20).hits
    assert [h["download_count"] for h in popular] == sorted((h["download_count"] for h in popular), reverse=True)
    by_downloads = sorted(sorted(sorted((d for d in corpus_docs if contains(d, "数学")), key=lambda d: d["id"]),
                                 key=lambda d: d["published_at"], reverse=True), key=lambda d: -d["download_count"])
    assert [h["id"] for h in popular] == [d["id"] for d in by_downloads[:20]]
    relevant = run(corpus_backend, q="数学", page_size=20).hits
    assert [h["score"] for h in relevant] == sorted((h["score"] for h in relevant), reverse=True)
    with pytest.raises(InvalidInputError, match="not valid"):
        SearchRequest(q="数学", sort="best")


def test_pagination(corpus_backend):
    first = run(corpus_backend, q="数学", page=1, page_size=7)
    second = run(corpus_backend, q="数学", page=2, page_size=7)
    assert first.count == second.count > 14
    assert len(first.hits) == len(second.hits) == 7
    assert not set(ids(first)) & set(ids(second))
    assert ids(run(corpus_backend, q="数学", page_size=14)) == ids(first) + ids(second)
    last = first.count // 7 + 1
    assert len(run(corpus_backend, q="数学", page=last, page_size=7).hits) == first.count % 7
    with pytest.raises(InvalidInputError) as excinfo:
        SearchRequest(q="数学", page=MAX_WINDOW, page_size=2)
    assert "page" in excinfo.value.details


def test_highlights_are_escaped_html_with_em(corpus_backend):
    page = run(corpus_backend, q="分式 加减")
    marked = next(h for h in page.hits if h["id"] == "00000000-0000-4000-8000-000000000001")
    assert marked["highlight"]["title"] == ["<em>分式</em> &lt;b&gt;<em>加减</em>&lt;&#x2F;b&gt; &amp; “PPT”课件"]


def test_remote_records_show_their_origin(corpus_backend, corpus_docs):
    page = run(corpus_backend, q="课件", filters={"origin": ("cn-11",)})
    assert page.count == 1
    hit = page.hits[0]
    assert (hit["origin_node"], hit["is_remote"], hit["publisher"]) == ("cn-11", True, "远方<出版社>")
    assert facet(run(corpus_backend), "origin") == {"cn-44": len(corpus_docs) - 1, "cn-11": 1}


def test_suggestions_complete_terms_then_titles(corpus_backend, corpus_docs):
    terms = corpus_backend.suggest("有理", limit=5)
    expected = sum(1 for d in corpus_docs if "有理数" in suggestion_terms(d))
    assert terms[0] == {"text": "有理数", "kind": "term", "count": expected}
    assert all(s["text"].startswith("有理") for s in terms)
    title = next(d["title"] for d in corpus_docs if d["title"].startswith("人教版初一数学上册"))
    titles = corpus_backend.suggest(title[:20], limit=20)
    assert {"text": normalize(title), "kind": "title",
            "count": sum(1 for d in corpus_docs if normalize(d["title"]) == normalize(title))} in titles
    assert corpus_backend.suggest("  ") == []


# --- the API on the corpus -------------------------------------------------------------------

def mark_hits(*, user, hits: list[dict[str, Any]]) -> None:
    for hit in hits:
        hit["seen_by"] = getattr(user, "username", "") or "anonymous"


@pytest.mark.django_db
def test_api_search_shape_and_annotators(api, corpus_settings, settings):
    settings.CATALOG_SEARCH_RESULT_ANNOTATORS = []
    response = api.get("/api/v1/search", {"q": "初一数学 有理数 课件", "page_size": 3})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"count", "results", "facets", "page", "page_size", "relaxed", "full_count", "did_you_mean",
                         "tree", "ignored"}
    assert (body["page"], body["page_size"], len(body["results"])) == (1, 3, 3)
    assert all(set(r) == set(RESULT_FIELDS) for r in body["results"])
    assert set(body["facets"]) == set(FACET_FIELDS)
    assert {"value": "课件", "count": facet(run(corpus_settings, q="有理数"), "resource_type")["课件"]} in \
        body["facets"]["resource_type"]
    settings.CATALOG_SEARCH_RESULT_ANNOTATORS = ["tests.catalog.test_search.mark_hits"]
    annotated = api.get("/api/v1/search", {"q": "有理数"}).json()["results"]
    assert {r["seen_by"] for r in annotated} == {"anonymous"}


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "params"), [
    ("/api/v1/search", {"q": "初一数学 有理数 课件", "stage": "初中"}),
    ("/api/v1/search", {"q": "有理书 乘方 思维导图"}),
    ("/api/v1/search", {"subject": "数学", "sort": "newest", "page": 2}),
    ("/api/v1/search", {"page_size": 0}),
    ("/api/v1/search/suggest", {"q": "有理"}),
    ("/api/v1/browse", {"stage": "初中", "subject": "数学"}),
])
def test_the_search_endpoints_json_is_the_standard_renderers_data(api, corpus_settings, settings, path, params):
    """The search endpoints render with orjson (``FAST_JSON``): the same data, error bodies included, as
    DRF's own JSON renderer gives, and the same media type."""
    from rest_framework.renderers import JSONRenderer

    response = api.get(path, params)
    assert response["Content-Type"] == "application/json"
    standard = JSONRenderer().render(response.data, "application/json")
    assert json.loads(response.content) == json.loads(standard)
    assert ("error" in json.loads(response.content)) == (response.status_code >= 400)


@pytest.mark.django_db
def test_api_filters_sort_and_suggest(api, corpus_settings, corpus_docs, settings):
    settings.CATALOG_SEARCH_RESULT_ANNOTATORS = []
    response = api.get("/api/v1/search?q=有理数&grade=七年级&resource_type=课件&resource_type=教案&sort=newest")
    expected = [d for d in corpus_docs if contains(d, "有理数") and d["grade"] == "七年级"
                and d["resource_type"] in ("课件", "教案")]
    assert response.json()["count"] == len(expected)
    suggestions = api.get("/api/v1/search/suggest", {"q": "有理", "limit": 3}).json()
    assert suggestions["q"] == "有理" and suggestions["suggestions"][0]["text"] == "有理数"


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "params", "field"), [
    ("/api/v1/search", {"q": "数学", "page_size": 1000}, "page_size"),
    ("/api/v1/search", {"q": "数学", "page": "abc"}, "page"),
    ("/api/v1/search", {"q": "数学", "sort": "best"}, "sort"),
    ("/api/v1/search", {"q": "数" * 201}, "q"),
    ("/api/v1/search", {"q": "数学", "page": 501, "page_size": 20}, "page"),
    ("/api/v1/search/suggest", {"q": "数", "limit": 0}, "limit"),
])
def test_api_rejects_bad_parameters_in_the_one_error_shape(api, corpus_settings, path, params, field):
    response = api.get(path, params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_input" and error["message"]
    assert field in error["details"]


# --- indexing through the services, jobs and commands ---------------------------------------

def lines(records: list[dict[str, Any]]) -> list[str]:
    return [json.dumps(r, ensure_ascii=False) for r in records]


@pytest.mark.django_db
def test_import_indexes_and_withdraw_removes_at_once(search_backend, users, django_capture_on_commit_callbacks):
    records = list(generate(40, seed=3))
    import_records(lines(records), with_files=False, batch_size=15)
    assert search_backend.count() == 40
    target = Resource.objects.get(pk=records[5]["id"])
    assert records[5]["id"] in ids(run(search_backend, q=target.title, page_size=50))
    with django_capture_on_commit_callbacks(execute=True):
        services.resource_withdraw(user=users["reviewer"], resource=target, reason="review_revoked")
    assert records[5]["id"] not in ids(run(search_backend, q=target.title, page_size=50))
    assert search_backend.count() == 39


@pytest.mark.django_db
def test_publish_edit_and_rights_changes_update_the_index(search_backend, users, orgs,
                                                          django_capture_on_commit_callbacks):
    resource = ResourceFactory(publisher=orgs["publisher"], status=Resource.Status.APPROVED,
                               title="人教版八年级数学下册 17.1 勾股定理 新授课课件", chapter="第十七章 勾股定理",
                               grade="八年级", volume="下册")
    index_resource(resource_id=str(resource.pk))
    assert run(search_backend, q="勾股定理").count == 0
    with django_capture_on_commit_callbacks(execute=True):
        services.resource_publish(user=users["publisher"], resource=resource)
    assert ids(run(search_backend, q="初二 勾股定理 课件")) == [str(resource.pk)]
    with django_capture_on_commit_callbacks(execute=True):
        revise(resource, publisher=users["publisher"], reviewer=users["reviewer"],
               metadata={"title": "勾股定理的逆定理 课件"}, rights={"price": 3, "license": "ALL-RIGHTS-RESERVED"})
    hit = run(search_backend, q="逆定理").hits[0]
    assert (hit["id"], hit["price"], hit["license"]) == (str(resource.pk), 3, "ALL-RIGHTS-RESERVED")
    assert "<em>逆定理</em>" in hit["highlight"]["title"][0]


@pytest.mark.django_db
def test_anonymous_search_shows_only_published_resources(search_backend, orgs, api, settings):
    settings.CATALOG_SEARCH_RESULT_ANNOTATORS = []
    statuses = [Resource.Status.PUBLISHED, Resource.Status.DRAFT, Resource.Status.SUBMITTED,
                Resource.Status.APPROVED, Resource.Status.REJECTED, Resource.Status.WITHDRAWN]
    made = {s: ResourceFactory(publisher=orgs["publisher"], status=s, title=f"勾股定理 {s}", with_file=False)
            for s in statuses}
    index_resources(resource_ids=[str(r.pk) for r in made.values()] + ["not-a-uuid"])
    body = api.get("/api/v1/search", {"q": "勾股定理"}).json()
    assert [r["id"] for r in body["results"]] == [str(made[Resource.Status.PUBLISHED].pk)]
    assert api.get("/api/v1/search").json()["count"] == 1


@pytest.mark.django_db
def test_rebuild_index_swaps_with_zero_downtime(search_backend, users, django_capture_on_commit_callbacks,
                                                capsys):
    """While the new index fills, searches answer from the old one; a withdrawal and an import made
    meanwhile are in the new index after the swap."""
    records = list(generate(60, seed=5))
    import_records(lines(records[:50]), with_files=False)
    withdrawn = Resource.objects.get(pk=records[0]["id"])
    seen: list[int] = []

    def during_build(done: int) -> None:
        seen.append(run(search_backend, q="", page_size=1).count)
        if len(seen) == 1:
            with django_capture_on_commit_callbacks(execute=True):
                services.resource_withdraw(user=users["reviewer"], resource=withdrawn, reason="review_revoked")
            import_records(lines(records[50:]), with_files=False)

    assert rebuild_index(batch_size=20, progress=during_build) >= 49
    assert seen[0] == 50 and all(n > 0 for n in seen)
    found = {h["id"] for h in run(search_backend, page_size=100).hits}
    assert found == {r["id"] for r in records} - {records[0]["id"]}
    call_command("rebuild_index", "--no-progress")
    assert "indexed 59 published resources" in capsys.readouterr().out
    assert search_backend.count() == 59


@pytest.mark.django_db
def test_indexing_is_idempotent_and_tolerates_unknown_ids(search_backend):
    records = list(generate(12, seed=9))
    import_records(lines(records), with_files=False)
    index_resources(resource_ids=[r["id"] for r in records])
    index_resource(resource_id="00000000-0000-4000-8000-00000000dead")
    index_resource(resource_id="not-a-uuid")
    assert search_backend.count() == 12
    keyword = records[0]["keywords"][-1]
    before = {s["text"]: s["count"] for s in search_backend.suggest(keyword, limit=20)}
    index_resources(resource_ids=[r["id"] for r in records])
    assert {s["text"]: s["count"] for s in search_backend.suggest(keyword, limit=20)} == before


@pytest.mark.django_db
def test_readiness_reports_the_search_backend(search_backend, client):
    check_search()
    assert client.get("/readyz").json()["checks"]["search"]["ok"] is True


@pytest.mark.django_db
def test_readiness_fails_when_elasticsearch_is_unreachable(settings, client):
    settings.CATALOG_SEARCH_BACKEND = "catalog.search.elastic.ElasticsearchBackend"
    settings.ELASTICSEARCH_URL = "http://127.0.0.1:9"
    with pytest.raises(Exception, match="Connection"):
        check_search()
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["checks"]["search"]["ok"] is False


# --- tolerance: typos, rephrasings, partial matches (issue 17) ---------------------------------

def test_a_homophone_typo_finds_the_topic_and_says_what_it_meant(corpus_backend, corpus_docs):
    """有理书 (shu: 数 typed as 书 through a pinyin input method) is no word of the index: the section it
    means is found, did-you-mean names the correction, and nothing matched as typed ranks above it."""
    page = run(corpus_backend, q="有理书的乘方", page_size=10)
    meant = {d["id"] for d in corpus_docs if "有理数的乘方" in d["section"]}
    assert meant and page.count >= len(meant)
    assert {h["id"] for h in page.hits} <= {d["id"] for d in corpus_docs if contains(d, "有理数")}
    assert set(ids(page)[:min(10, len(meant))]) <= meant
    assert {h["match"] for h in page.hits} == {"fuzzy"}
    assert page.did_you_mean[0]["q"] == "有理数的乘方"
    assert page.did_you_mean[0]["corrections"] == [{"typed": "有理书的乘方", "term": "有理数的乘方"}]


def test_a_typo_next_to_vocabulary_words_keeps_their_boosts(corpus_backend, corpus_docs):
    """初一数学 有里数 课件 (理 typed as 里): the same slide decks come first as for the query spelt right,
    and the vocabulary words are never 'corrected'."""
    slides = {d["id"] for d in corpus_docs if is_rational_slides(d)}
    right = run(corpus_backend, q="初一数学 有理数 课件", page_size=len(slides))
    typo = run(corpus_backend, q="初一数学 有里数 课件", page_size=len(slides))
    assert set(ids(typo)) == set(ids(right)) == slides
    assert typo.did_you_mean[0]["q"] == "初一数学 有理数 课件"
    assert run(corpus_backend, q="初一数学 有理数 课件").did_you_mean == []


@pytest.mark.parametrize(("q", "section"), [("有理数乘方", "有理数的乘方"), ("有理数加减法", "有理数的加减法"),
                                            ("乘方 有理数的", "有理数的乘方")])
def test_a_topic_phrased_differently_finds_its_section_then_its_chapter(corpus_backend, corpus_docs, q, section):
    """A dropped 的 or another word order still names the section: its resources come first, then the
    other resources of its chapter (a teacher asking for a section wants the chapter's too)."""
    page = run(corpus_backend, q=q, page_size=100)
    in_section = {d["id"] for d in corpus_docs if section in d["section"]}
    assert in_section and len(page.hits) >= len(in_section)
    assert set(ids(page)[:len(in_section)]) == in_section
    chapter = next(d["chapter"] for d in corpus_docs if section in d["section"])
    assert any(h["chapter"] == chapter and section not in h["section"] for h in page.hits)


def test_one_unmatched_word_never_empties_the_page(corpus_backend, corpus_docs):
    """有理数 乘方 思维导图: no resource has 思维导图. The search is relaxed and says so; the resources
    matching two of the three words come before those matching one."""
    page = run(corpus_backend, q="有理数 乘方 思维导图", page_size=100)
    both = {d["id"] for d in corpus_docs if contains(d, "有理数") and contains(d, "乘方")}
    either = {d["id"] for d in corpus_docs if contains(d, "有理数") or contains(d, "乘方")}
    assert page.relaxed and page.full_count == 0
    assert page.count == len(either) and 0 < len(both) < len(either)
    first = ids(page)[:len(both)]
    assert set(first) == both
    assert {h["match"] for h in page.hits} == {"partial"}


def test_full_matches_come_before_partial_ones(corpus_backend, corpus_docs):
    """When few resources match every word, those come first — as typed, then through the section's
    chapter — then the partial matches."""
    # 作业 names the type 习题 (it only ranks): 分层 is the word to match besides the section.
    exact = {d["id"] for d in corpus_docs if contains(d, "有理数的乘方") and contains(d, "分层")}
    full = {d["id"] for d in corpus_docs if contains(d, "有理数") and contains(d, "分层")}
    assert 0 < len(exact) < len(full) < 20  # the corpus is fixed: a handful of 有理数 … 分层
    page = run(corpus_backend, q="有理数的乘方 分层作业", page_size=50)
    assert page.relaxed and page.full_count == len(full)
    assert set(ids(page)[:len(exact)]) == exact and set(ids(page)[:len(full)]) == full
    kinds = [h["match"] for h in page.hits]
    assert kinds[:len(full)] == ["exact"] * len(exact) + ["fuzzy"] * (len(full) - len(exact))
    assert set(kinds[len(full):]) == {"partial"}


def test_a_correct_query_is_not_relaxed_or_corrected(corpus_backend, corpus_docs):
    page = run(corpus_backend, q="有理数 课件", page_size=5)
    assert not page.relaxed and page.did_you_mean == [] and page.full_count is None
    assert {h["match"] for h in page.hits} == {"exact"}


@pytest.mark.django_db
def test_api_says_did_you_mean_and_when_it_relaxed(api, corpus_settings, settings):
    settings.CATALOG_SEARCH_RESULT_ANNOTATORS = []
    body = api.get("/api/v1/search", {"q": "有理书 课件"}).json()
    assert body["did_you_mean"][0]["q"] == "有理数 课件" and body["count"] > 0 and not body["relaxed"]
    body = api.get("/api/v1/search", {"q": "有理数 乘方 思维导图"}).json()
    assert body["relaxed"] is True and body["full_count"] == 0 and body["count"] > 0
    assert {r["match"] for r in body["results"]} == {"partial"}



# Twelve things a teacher may ask for, then two more: the search takes the first twelve.
MANY_WORDS = ("有理数 方程 细胞 电路 古诗 光合作用 牛顿 几何 概率 词汇 地图 溶液", "思维导图 名师")


def test_a_query_asks_for_at_most_twelve_things_and_says_what_it_ignored(corpus_backend):
    """A relaxed search widens through combinations of the query's concepts, its work growing with their
    square: 40 words (a 200-character query) cost seconds per request. Past MAX_CONCEPTS the words are
    ignored, as a web search engine does, and the response names them."""
    first, rest = MANY_WORDS
    assert MAX_CONCEPTS == 12 and len(first.split()) == MAX_CONCEPTS
    page = run(corpus_backend, q=f"{first} {rest}", page_size=50)
    assert page.ignored == rest.split()
    same = run(corpus_backend, q=first, page_size=50)
    assert same.ignored == [] and same.count > 0
    assert (ids(page), page.count, page.relaxed, page.full_count) == (ids(same), same.count, same.relaxed,
                                                                       same.full_count)
    # 40 words of the vocabulary (synonyms among them ask for one thing): twelve concepts, then the rest
    words = sorted(lexicon().entries)[:40]
    assert len(parse_query(" ".join(words)).concepts) == MAX_CONCEPTS
    ignored = run(corpus_backend, q=" ".join(words), page_size=1).ignored
    assert ignored and ignored == [w for w in words if w in ignored] and ignored[-1] == words[-1]


def test_what_the_response_says_was_not_searched_is_searched_by_no_correction_either(corpus_backend):
    """``ignored`` names words no variant of the query searches: a typo corrected into a word the query has
    already (有理书 → 有理数) does not make room for an ignored word in the corrected query, and a typo among
    the ignored words is not corrected (no did-you-mean about a word that is not searched). Either way the
    results are those of the query without its ignored words."""
    first, _ = MANY_WORDS
    kept = first.replace("溶液", "有理书")
    page, alone = run(corpus_backend, q=f"{kept} 名师", page_size=50), run(corpus_backend, q=kept, page_size=50)
    assert (page.ignored, alone.ignored) == (["名师"], [])
    assert alone.did_you_mean and alone.count > 0  # 有理书 is corrected
    assert (ids(page), page.count, page.relaxed) == (ids(alone), alone.count, alone.relaxed)
    assert [d["corrections"] for d in page.did_you_mean] == [d["corrections"] for d in alone.did_you_mean]
    late, plain = run(corpus_backend, q=f"{first} 有理书", page_size=50), run(corpus_backend, q=first, page_size=50)
    assert (late.ignored, late.did_you_mean) == (["有理书"], [])
    assert (ids(late), late.count, late.relaxed) == (ids(plain), plain.count, plain.relaxed)


@pytest.mark.django_db
def test_the_api_and_the_page_say_which_words_were_not_searched(api, client, corpus_settings, settings):
    settings.CATALOG_SEARCH_RESULT_ANNOTATORS = []
    first, rest = MANY_WORDS
    body = api.get("/api/v1/search", {"q": f"{first} {rest}"}).json()
    assert body["ignored"] == rest.split() and body["count"] > 0
    assert api.get("/api/v1/search", {"q": first}).json()["ignored"] == []
    html = client.get("/search", {"q": f"{first} {rest}"}).content.decode()
    assert "以下未搜索：思维导图 名师" in html


# --- topics typed in pieces, and partial queries that name a topic (issue 17) -----------------------

def _topic_doc(n: int, book: tuple[str, str, str, str], chapter: str, section: str, title: str,
               resource_type: str, description: str = "") -> dict[str, Any]:
    stage, subject, grade, volume = book
    return {
        "id": f"00000000-0000-4000-9000-{n:012d}", "title": title, "description": description, "keywords": [],
        "stage": stage, "subject": subject, "grade": grade, "edition": "人教版", "volume": volume,
        "chapter": chapter, "section": section, "resource_type": resource_type, "language": "zh-Hans",
        "license": "CC-BY-4.0", "price": 0, "publisher": "测试出版社", "origin_node": "cn-44", "is_remote": False,
        "published_at": "2024-03-01T00:00:00+00:00", "download_count": 0, "rating_score": 3.0,
    }


BIOLOGY_1 = ("高中", "生物学", "", "必修1")
BIOLOGY_7 = ("初中", "生物学", "七年级", "上册")
CHEMISTRY_9 = ("初中", "化学", "九年级", "上册")
PHYSICS_8 = ("初中", "物理", "八年级", "上册")
# (book, chapter, section, the section's resources as (title, type, description))
TOPIC_TREE: list[tuple[tuple[str, str, str, str], str, str, list[tuple[str, str, str]]]] = [
    (BIOLOGY_1, "第6章 细胞的生命历程", "第2节 细胞的分化",
     [("细胞的分化 教学课件", "课件", ""), ("细胞的分化 教案", "教案", ""), ("细胞的分化 同步练习", "习题", "")]),
    (BIOLOGY_1, "第6章 细胞的生命历程", "第1节 细胞的增殖",
     [("有丝分裂 教学课件", "课件", ""), ("细胞的增殖 教案", "教案", "")]),
    (BIOLOGY_1, "第3章 细胞的基本结构", "第1节 细胞膜的结构和功能",
     [("细胞膜 教学课件", "课件", ""), ("细胞膜 同步练习", "习题", "")]),
    (CHEMISTRY_9, "第一单元 走进化学世界", "课题2 化学是一门以实验为基础的科学",
     [("化学是一门以实验为基础的科学 教案", "教案", ""), ("化学是一门以实验为基础的科学 课件", "课件", "")]),
    (CHEMISTRY_9, "第一单元 走进化学世界", "课题1 物质的变化和性质",
     [("物质的变化和性质 教案", "教案", ""), ("物质的变化和性质 课件", "课件", "")]),
    (BIOLOGY_7, "第二章 细胞怎样构成生物体", "第四节 单细胞生物",
     [("单细胞生物 教学课件", "课件", "名师精讲"), ("单细胞生物 教案", "教案", ""), ("单细胞生物 学案", "学案", "")]),
    (BIOLOGY_7, "第二章 细胞怎样构成生物体", "第三节 植物体的结构层次",
     [("植物体的结构层次 课件", "课件", ""), ("植物体的结构层次 教案", "教案", "")]),
    (CHEMISTRY_9, "第一单元 走进化学世界", "课题3 走进化学实验室",  # as many as a relaxed search needs
     [(f"走进化学实验室 {kind} {n}", kind, "") for n in range(1, RELAX_BELOW // 2 + 1) for kind in ("课件", "教案")]),
    (PHYSICS_8, "第四章 光现象", "第4节 光的折射",
     [("光的折射 名师讲座实录", "微课", "名师 讲座实录"), ("光的反射 名师讲座实录", "微课", "名师 讲座实录"),
      ("透镜 名师讲座实录", "微课", "名师 讲座实录 公开课")]),
]


def _topic_docs() -> list[dict[str, Any]]:
    docs, n = [], 0
    for book, chapter, section, resources in TOPIC_TREE:
        for title, resource_type, description in resources:
            n += 1
            docs.append(_topic_doc(n, book, chapter, section, title, resource_type, description))
    return docs


@pytest.fixture(scope="module", params=("embedded", "elasticsearch"))  # as conftest.corpus_backend
def topic_backend(request, tmp_path_factory):
    """A small purpose-built textbook tree (sections of chapters, and resources that only share a
    teacher's extra words) indexed once per module into each backend."""
    if request.param == "elasticsearch":
        from catalog.search.elastic import ElasticsearchBackend

        backend = ElasticsearchBackend(request.getfixturevalue("elasticsearch_url"), f"test-topics-{uuid.uuid4().hex[:12]}")
    else:
        from catalog.search.embedded import EmbeddedBackend

        backend = EmbeddedBackend(tmp_path_factory.mktemp("topic-search"))
    build = backend.begin_rebuild()
    build.index_documents(_topic_docs())
    build.swap()
    yield backend
    backend.drop()


def _where(*, section: str = "", chapter: str = "") -> set[str]:
    return {d["id"] for d in _topic_docs() if (section and section in d["section"]) or (chapter and chapter in d["chapter"])}


@pytest.mark.parametrize(("q", "section", "chapter"), [
    ("分化 细胞", "细胞的分化", "细胞的生命历程"),
    ("细胞 分化", "细胞的分化", "细胞的生命历程"),
    ("科学 化学是一门以实验为基础", "化学是一门以实验为基础的科学", "走进化学世界"),
])
def test_a_section_typed_as_its_pieces_in_another_order_finds_the_section_then_its_chapter(topic_backend, q, section,
                                                                                            chapter):
    """细胞的分化 typed as 分化 细胞: the pieces together name the section, so its resources (matching what
    was typed) come first, then the other resources of its chapter (through the topic), and nothing
    that only shares a word (细胞膜 …): the query is not relaxed."""
    page = run(topic_backend, q=q, page_size=50)
    own, whole = _where(section=section), _where(chapter=chapter)
    assert not page.relaxed and page.count == len(whole) > len(own)
    assert set(ids(page)[:len(own)]) == own and set(ids(page)) == whole
    assert [h["match"] for h in page.hits] == ["exact"] * len(own) + ["fuzzy"] * (len(whole) - len(own))


def test_a_long_topic_with_a_dropped_de_and_subject_words_inside_finds_its_chapter(topic_backend):
    """化学是一门以实验为基础科学 教案: 化学 and 科学 are vocabulary words (subjects) inside the topic, which
    cut it apart; read as one the section is found with its 的 dropped, and its chapter follows."""
    page = run(topic_backend, q="化学是一门以实验为基础科学 教案", page_size=50)
    own, whole = _where(section="化学是一门以实验为基础的科学"), _where(chapter="走进化学世界")
    assert page.count == len(whole) and set(ids(page)[:len(own)]) == own
    assert page.hits[0]["resource_type"] == "教案"


def test_a_partial_query_ranks_the_topic_above_resources_sharing_only_the_extra_words(topic_backend):
    """单细胞生物 名师 讲座实录: no resource has all three; the resources of the topic come first (the one
    that also says 名师 first), then the rest of its chapter, and only then the resources that share
    just the extra words 名师 讲座实录, however many of them they share."""
    page = run(topic_backend, q="单细胞生物 名师 讲座实录", page_size=50)
    own, whole = _where(section="单细胞生物"), _where(chapter="细胞怎样构成生物体")
    extra = {d["id"] for d in _topic_docs() if "名师" in d["description"]} - whole
    assert page.relaxed and page.full_count == 0 and extra
    order = ids(page)
    assert order[0] == next(d["id"] for d in _topic_docs() if d["description"] == "名师精讲")
    assert set(order[:len(own)]) == own
    assert set(order[:len(whole)]) == whole
    assert extra <= set(order[len(whole):])
    assert {h["match"] for h in page.hits} == {"partial"}


def test_a_partial_query_whose_topic_finds_enough_does_not_append_other_topics(topic_backend):
    """走进化学实验室 名师 讲座实录: no resource has all three, and the topic alone finds RELAX_BELOW
    resources or more: those are the results. The resources that share only the extra words (名师
    讲座实录 on 光的折射 …) are not appended after them (they would be on other topics), while a topic
    that finds fewer still gets them (the test above)."""
    page = run(topic_backend, q="走进化学实验室 名师 讲座实录", page_size=50)
    own = _where(section="走进化学实验室")
    extra = {d["id"] for d in _topic_docs() if "名师" in d["description"]}
    assert page.relaxed and page.full_count == 0 and len(own) >= RELAX_BELOW
    assert own <= set(ids(page)) and set(ids(page)[:len(own)]) == own
    assert not extra & set(ids(page)) and page.count == len(ids(page)) < 50


# --- browse by textbook: disjunctive facets and the textbook tree (issue 17, item 5) ---------------

def passes(doc: dict[str, Any], filters: dict[str, tuple[str, ...]], *, but: tuple[str, ...] = ()) -> bool:
    source = {"origin": "origin_node"}
    return all(doc[source.get(name, name)] in values for name, values in filters.items() if name not in but)


def tree_counts(docs: list[dict[str, Any]], fields: tuple[str, ...]) -> dict[str, int]:
    """Node counts of one tree level: the non-empty values of ``fields`` joined like node values."""
    counter = Counter(" ".join(v for v in (d[f] for f in fields) if v) for d in docs)
    counter.pop("", None)
    return dict(counter)


def node_counts(nodes: list[dict[str, Any]]) -> dict[str, int]:
    return {n["value"]: n["count"] for n in nodes}


def chosen(nodes: list[dict[str, Any]]) -> dict[str, Any]:
    [node] = [n for n in nodes if n["selected"]]
    return node


@pytest.mark.parametrize("q", ["", "有理数"])
def test_facets_are_disjunctive(corpus_backend, corpus_docs, q):
    """Choosing 数学 and 七年级 still shows how many resources each other subject (of 七年级) and each
    other grade (of 数学) has; the other facets count what passes both filters."""
    filters = {"subject": ("数学",), "grade": ("七年级",), "volume": ("上册", "下册")}
    page = run(corpus_backend, q=q, filters=filters, page_size=5)
    matching = [d for d in corpus_docs if not q or contains(d, q)]
    assert page.count == sum(passes(d, filters) for d in matching)
    for name in ("subject", "grade", "volume", "resource_type", "edition", "chapter"):
        expected = Counter(d[name] for d in matching if passes(d, filters, but=(name,)) and d[name])
        assert facet(page, name) == dict(expected.most_common(50)), name
    if not q:  # 有理数 is a chapter of 七年级 数学 only
        assert len(facet(page, "grade")) > 1 and len(facet(page, "subject")) > 1
    assert all(h["subject"] == "数学" and h["grade"] == "七年级" for h in page.hits)


def test_the_textbook_tree_counts_each_level_along_the_chosen_path(corpus_backend, corpus_docs):
    """学段 → 学科 → 版本 → 年级/册 → 章: every node counts the resources under it, the levels of the
    chosen path list their siblings (the tree ignores its own filters), the filters outside the tree
    (resource type) narrow every count, and the chapters come in textbook order."""
    outside = {"resource_type": ("课件", "教案", "习题")}
    path = {"stage": ("初中",), "subject": ("数学",), "edition": ("人教版",), "grade": ("七年级",),
            "volume": ("上册",)}
    page = run(corpus_backend, filters={**outside, **path}, page_size=1)
    docs = [d for d in corpus_docs if passes(d, outside)]
    level = page.tree
    assert node_counts(level) == tree_counts(docs, ("stage",))
    above: dict[str, tuple[str, ...]] = {}
    for fields in (("subject",), ("edition",), ("grade", "volume"), ("chapter",)):
        node = chosen(level)
        assert node["filters"] == {f: v[0] for f, v in path.items() if f in node["filters"]}
        above |= {f: path[f] for f in node["values"]}
        level = node["children"]
        assert node_counts(level) == tree_counts([d for d in docs if passes(d, above)], fields), fields
        assert [n["level"] for n in level] == [{"grade": "book"}.get(fields[0], fields[0])] * len(level)
    chapters = [n["value"] for n in level]
    assert chapters[:2] == ["第一章 有理数", "第二章 整式的加减"]
    assert not any(n["selected"] or n["children"] for n in level)
    assert page.count == sum(passes(d, {**outside, **path}) for d in corpus_docs)


def test_a_chapter_is_a_filter_and_a_node_without_a_grade_is_a_book(corpus_backend, corpus_docs):
    """Choosing a chapter node gives its resources; 高中 books have no grade (必修 第一册): their node
    is the volume alone and links without a grade."""
    chapter = "第一章 有理数"
    page = run(corpus_backend, filters={"chapter": (chapter,)}, page_size=100)
    assert set(ids(page)) == {d["id"] for d in corpus_docs if d["chapter"] == chapter}
    senior = run(corpus_backend, filters={"stage": ("高中",)}, page_size=1)
    subjects = chosen(senior.tree)["children"]
    maths = next(n for n in subjects if n["value"] == "数学")
    assert maths["children"] == [] and not maths["selected"]
    edition = Counter(d["edition"] for d in corpus_docs if d["stage"] == "高中" and d["subject"] == "数学")
    edition_code = edition.most_common(1)[0][0]
    path = {"stage": ("高中",), "subject": ("数学",), "edition": (edition_code,)}
    books = chosen(chosen(chosen(run(corpus_backend, filters=path, page_size=1).tree)["children"])["children"])
    expected = tree_counts([d for d in corpus_docs if passes(d, path)], ("grade", "volume"))
    assert node_counts(books["children"]) == expected
    book = books["children"][0]
    assert "grade" not in book["filters"] and book["filters"]["volume"] == book["value"]
    inside = run(corpus_backend, filters={k: (v,) for k, v in book["filters"].items()}, page_size=1)
    assert chosen(chosen(chosen(chosen(inside.tree)["children"])["children"])["children"])["children"]


def test_textbook_order():
    from catalog.search.base import textbook_order

    values = ["第十章 x", "第二章 y", "第一章 z", "第十一章 w", "第3章 v"]
    assert sorted(values, key=textbook_order) == ["第一章 z", "第二章 y", "第3章 v", "第十章 x", "第十一章 w"]
    assert sorted(["高中", "小学", "初中"], key=textbook_order) == ["小学", "初中", "高中"]
    assert sorted(["九年级", "十年级", "七年级"], key=textbook_order) == ["七年级", "九年级", "十年级"]
    assert sorted(["七年级 下册", "七年级 上册"], key=textbook_order) == ["七年级 上册", "七年级 下册"]
