"""The teacher search page: query box with suggestions, facet sidebar with counts, highlighted results
with licence badges, sort and pages. It calls ``catalog.search.search`` — the service behind
``/api/v1/search`` — whose annotators add licensing's decision for this user to every hit."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from catalog.pages.common import Labels
from catalog.search import FACET_FIELDS, SearchRequest, search
from catalog.search.analysis import MAX_CONCEPTS
from catalog.search.base import MAX_WINDOW, TREE_FIELDS
from exchange.errors import ExchangeError
from exchange.views_pages import (
    error_text,
    page_numbers,
    query_string,
    safe_highlight,
)

PAGE_SIZE = 20
# Facets shown in the search sidebar, in order, with their headings.
SIDEBAR_FACETS: tuple[tuple[str, Any], ...] = (
    ("stage", gettext_lazy("学段")),
    ("subject", gettext_lazy("学科")),
    ("grade", gettext_lazy("年级")),
    ("edition", gettext_lazy("版本")),
    ("volume", gettext_lazy("册次")),
    ("resource_type", gettext_lazy("类型")),
    ("license", gettext_lazy("许可")),
    ("origin", gettext_lazy("来源省份")),
    ("chapter", gettext_lazy("章")),
)
# Chosen (removable) in the sidebar, listed in the textbook tree rather than as a facet of their own.
TREE_ONLY_FACETS = ("chapter",)
FACET_VISIBLE = 8
SORT_LABELS: tuple[tuple[str, Any], ...] = (
    ("relevance", gettext_lazy("相关度")),
    ("newest", gettext_lazy("最新发布")),
    ("downloads", gettext_lazy("下载最多")),
    ("rating", gettext_lazy("评分最高")),
)


@dataclass
class FacetValue:
    value: str
    label: str
    count: int
    selected: bool
    url: str


@dataclass
class Facet:
    name: str
    title: str
    values: list[FacetValue]

    @property
    def first(self) -> list[FacetValue]:
        return self.values[:FACET_VISIBLE]

    @property
    def more(self) -> list[FacetValue]:
        return self.values[FACET_VISIBLE:]

    @property
    def more_selected(self) -> bool:
        return any(v.selected for v in self.more)


ACCESS_ALLOWED_LABELS: dict[str, Any] = {
    "free_for_category": gettext_lazy("贵校免费"),
    "open_licence": gettext_lazy("免费使用"),
    "free_of_charge": gettext_lazy("免费使用"),
    "grant_active": gettext_lazy("已购买授权"),
    "own_resource": gettext_lazy("本机构资源"),
}


def access_badge(access: dict[str, Any] | None, *, list_price: int) -> dict[str, str] | None:
    """The badge for licensing's answer on a hit: free for your school, free, bought, N vouchers, or why
    not. ``None`` when licensing annotated nothing."""
    if not access:
        return None
    reason = str(access.get("reason", ""))
    if access.get("allowed"):
        label = str(ACCESS_ALLOWED_LABELS.get(reason, _("可下载")))
        if reason == "free_for_category" and list_price:
            label = _("贵校免费（原价 %(price)s 券）") % {"price": list_price}
        return {"kind": "free", "label": label}
    if reason == "purchase_required":
        return {"kind": "price", "label": _("%(price)s 张资源券") % {"price": access.get("price") or list_price}}
    if reason == "login_required":
        return {"kind": "refused", "label": _("登录后可下载")}
    return {"kind": "refused", "label": _("不可下载")}


def result_rows(results: list[dict[str, Any]], labels: Labels) -> list[dict[str, Any]]:
    """Search hits as the result list shows them (``catalog/includes/results.html``)."""
    hits = []
    for hit in results:
        marks = hit.get("highlight") or {}
        snippet_source = (marks.get("description") or marks.get("section") or marks.get("chapter") or [None])[0]
        hits.append({
            "id": hit["id"],
            "title": safe_highlight(marks["title"][0]) if marks.get("title") else hit["title"],
            "snippet": safe_highlight(snippet_source) if snippet_source else (hit.get("description") or ""),
            "path": labels.describe(hit),
            "chapter": " ".join(p for p in (hit.get("chapter"), hit.get("section")) if p),
            "type": labels.term("resource_type", hit.get("resource_type") or ""),
            "publisher": hit.get("publisher") or "",
            "licence": labels.licence(hit.get("license") or "") if hit.get("license") else "",
            "licence_name": labels.licence_name(hit.get("license") or ""),
            "origin": labels.origin(hit.get("origin_node") or "") if hit.get("is_remote") else "",
            "downloads": hit.get("download_count") or 0,
            "published_at": (hit.get("published_at") or "")[:10],
            "badge": access_badge(hit.get("access"), list_price=int(hit.get("price") or 0)),
            "price": int(hit.get("price") or 0),
            "cover": hit.get("cover") or "",
        })
    return hits


def tree_rows(nodes: list[dict[str, Any]], labels: Labels, link: Any) -> list[dict[str, Any]]:
    """Textbook tree nodes with their labels in the active language and ``link(node)`` as url."""
    return [{
        "label": node_label(node, labels), "count": node["count"], "selected": node["selected"],
        "url": link(node), "level": node["level"], "children": tree_rows(node["children"], labels, link),
    } for node in nodes]


def node_label(node: dict[str, Any], labels: Labels) -> str:
    """七年级 上册, 数学, 第一章 有理数: a tree node's values as labels (a chapter is its own label)."""
    return " ".join(value if field == "chapter" else labels.term(field, value)
                    for field, value in node["values"].items())


def tree_link(params: Any, base: str = "") -> Any:
    """The link of a tree node: the current query with the tree's fields replaced by the node's path
    (its other filters and ``q`` kept, the page reset)."""
    def link(node: dict[str, Any]) -> str:
        path = node["filters"]
        return base + query_string(params, drop=["page"], **{f: path.get(f) for f in TREE_FIELDS})
    return link


def _search_request(request: HttpRequest) -> SearchRequest:
    params = request.GET
    filters = {name: tuple(dict.fromkeys(v for v in params.getlist(name) if v)) for name in FACET_FIELDS}
    try:
        page = max(1, int(params.get("page", "1")))
    except ValueError:
        page = 1
    return SearchRequest(q=params.get("q", "").strip(), filters={k: v for k, v in filters.items() if v},
                         sort=params.get("sort", ""), page=page, page_size=PAGE_SIZE)


@login_not_required
def search_page(request: HttpRequest) -> HttpResponse:
    """Teacher search with facets, highlights, sort and pages. Permission: public (the index holds only
    published resources); the access badge on each hit is licensing's decision for this user."""
    labels = Labels.load()
    error = None
    try:
        search_request = _search_request(request)
        result = search(user=request.user, request=search_request)
    except ExchangeError as exc:
        error = exc
        search_request = SearchRequest()
        result = {"count": 0, "results": [], "facets": {}, "relaxed": False, "full_count": 0, "did_you_mean": [],
                  "tree": [], "ignored": []}
    params = request.GET
    hits = result_rows(result["results"], labels)
    facets = []
    chosen = []
    for name, title in SIDEBAR_FACETS:
        selected = set(params.getlist(name))
        values = []
        for row in result["facets"].get(name, []):
            value = str(row["value"])
            now_selected = value in selected
            new = [v for v in params.getlist(name) if v != value] if now_selected else [*params.getlist(name), value]
            values.append(FacetValue(value=value, label=labels.facet(name, value), count=row["count"],
                                     selected=now_selected, url=query_string(params, drop=["page"], **{name: new})))
        for value in params.getlist(name):
            if value:
                remaining = [v for v in params.getlist(name) if v != value]
                chosen.append({"title": title, "label": labels.facet(name, value),
                               "url": query_string(params, drop=["page"], **{name: remaining})})
        if values and name not in TREE_ONLY_FACETS:
            facets.append(Facet(name=name, title=str(title), values=values))
    count = int(result["count"])
    pages = math.ceil(min(count, MAX_WINDOW) / search_request.page_size) if count else 0
    page_links = [(n, query_string(params, page=n) if n else "") for n in page_numbers(search_request.page, pages)]
    sort = search_request.effective_sort
    return render(request, "catalog/search.html", {
        "q": search_request.q, "hits": hits, "count": count, "facets": facets, "chosen": chosen,
        "clear_url": query_string({"q": search_request.q} if search_request.q else {}),
        "page": search_request.page, "pages": pages, "page_links": page_links,
        "prev_url": query_string(params, page=search_request.page - 1) if search_request.page > 1 else "",
        "next_url": query_string(params, page=search_request.page + 1) if search_request.page < pages else "",
        "sort": sort, "sorts": [(k, v) for k, v in SORT_LABELS if k != "relevance" or search_request.q],
        "hidden_filters": [(k, v) for k in FACET_FIELDS for v in params.getlist(k) if v],
        "error": error_text(error) if error else "",
        "relaxed": bool(result.get("relaxed")), "full_count": int(result.get("full_count") or 0),
        "did_you_mean": [{"q": s["q"], "url": query_string(params, drop=["page"], q=s["q"])}
                         for s in result.get("did_you_mean") or []],
        "tree": tree_rows(result.get("tree") or [], labels, tree_link(params)),
        "ignored": " ".join(result.get("ignored") or []), "max_concepts": MAX_CONCEPTS,
    })
