"""Browse by textbook, as teachers do on the national platform: 学段 → 学科 → 版本 → 年级/册 → 章, each
node with the number of published resources under it, and the resources of the chosen node, newest
first. Every page is a plain link (the path is the query string: ``/browse?stage=初中&subject=数学``),
so a teacher can bookmark or share a chapter. It calls ``catalog.search.search`` — the service behind
``/api/v1/search`` and ``/api/v1/browse`` — so counts, results and licence badges are the search's."""

from __future__ import annotations

import math

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from catalog.pages.common import Labels
from catalog.pages.search import PAGE_SIZE, node_label, result_rows, tree_link, tree_rows
from catalog.search import FACET_FIELDS, SearchRequest, search
from catalog.search.base import MAX_WINDOW, TREE_FIELDS
from exchange.errors import ExchangeError
from exchange.views_pages import error_text, page_numbers, query_string


@login_not_required
def browse_page(request: HttpRequest) -> HttpResponse:
    """The textbook tree down to the chosen node, its children with counts, and its resources.
    Permission: public (the index holds only published resources)."""
    labels = Labels.load()
    params = request.GET
    filters = {name: tuple(dict.fromkeys(v for v in params.getlist(name) if v)) for name in FACET_FIELDS}
    try:
        page = max(1, int(params.get("page", "1")))
    except ValueError:
        page = 1
    error = None
    try:
        search_request = SearchRequest(filters={k: v for k, v in filters.items() if v}, page=page,
                                       page_size=PAGE_SIZE, with_facets=False)
        result = search(user=request.user, request=search_request)
    except ExchangeError as exc:
        error, search_request = exc, SearchRequest(page_size=PAGE_SIZE)
        result = {"count": 0, "results": [], "tree": []}
    link = tree_link(params)
    crumbs, level = [], result["tree"]
    while chosen := [n for n in level if n["selected"]]:
        node = chosen[0]
        crumbs.append({"label": node_label(node, labels), "url": link(node), "count": node["count"]})
        level = node["children"]
    count = int(result["count"])
    pages = math.ceil(min(count, MAX_WINDOW) / PAGE_SIZE) if count else 0
    return render(request, "catalog/browse.html", {
        "crumbs": crumbs, "top_url": query_string(params, drop=["page", *TREE_FIELDS]),
        "children": tree_rows(level, labels, link),
        "tree": tree_rows(result["tree"], labels, link),
        "hits": result_rows(result["results"], labels), "count": count,
        "page": search_request.page, "pages": pages,
        "page_links": [(n, query_string(params, page=n) if n else "") for n in page_numbers(search_request.page, pages)],
        "prev_url": query_string(params, page=page - 1) if page > 1 else "",
        "next_url": query_string(params, page=page + 1) if page < pages else "",
        "hidden_filters": [(k, v) for k in FACET_FIELDS for v in params.getlist(k) if v],
        "error": error_text(error) if error else "",
    })
