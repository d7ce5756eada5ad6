"""Catalog search: one interface, two backends that give the same answers.

``search`` and ``suggest`` answer queries through the configured backend
(``settings.CATALOG_SEARCH_BACKEND``: ``catalog.search.embedded.EmbeddedBackend``, SQLite FTS5 on
disk, unless ``ELASTICSEARCH_URL`` selects ``catalog.search.elastic.ElasticsearchBackend``). The
index only holds published resources, so everything it returns is public. Indexing jobs live in
``catalog.search.indexing``; the analysis both backends share in ``catalog.search.analysis``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from catalog.metrics import SEARCH_LATENCY
from catalog.search.base import FACET_FIELDS, SORTS, SearchBackend, SearchPage, SearchRequest
from catalog.search.indexing import get_backend

logger = logging.getLogger(__name__)

__all__ = [
    "FACET_FIELDS", "SORTS", "SearchBackend", "SearchPage", "SearchRequest", "check_search", "get_backend",
    "browse", "search", "suggest", "warm_up",
]


def search(*, user: Any, request: SearchRequest, backend: SearchBackend | None = None) -> dict[str, Any]:
    """Run ``request`` and return the API shape ``{"count", "results", "facets", "page", "page_size",
    "relaxed", "full_count", "did_you_mean", "tree", "ignored"}`` (``ignored``: words past the first
    ``analysis.MAX_CONCEPTS`` things the query asks for, not searched) (``tree``: the textbook tree with counts) (``relaxed``: documents matching only some of the words
    were added after the ``full_count`` that match them all; ``did_you_mean``: the query with likely
    typos corrected, whose matches are among the results already, ranked after exact ones).
    Each result is passed to every annotator of ``settings.CATALOG_SEARCH_RESULT_ANNOTATORS``
    (``annotate(*, user, hits)``, e.g. licensing's price for this user)."""
    started = time.monotonic()
    page = (backend or get_backend()).search(request)
    SEARCH_LATENCY.labels("search").observe(time.monotonic() - started)
    for path in settings.CATALOG_SEARCH_RESULT_ANNOTATORS:
        import_string(path)(user=user, hits=page.hits)
    return {"count": page.count, "results": page.hits, "facets": page.facets, "page": request.page,
            "page_size": request.page_size, "relaxed": page.relaxed,
            "full_count": page.count if page.full_count is None else page.full_count,
            "did_you_mean": page.did_you_mean, "tree": page.tree, "ignored": page.ignored}


def browse(*, filters: dict[str, tuple[str, ...]], backend: SearchBackend | None = None) -> dict[str, Any]:
    """The textbook tree with counts for a path of filters (see ``base.textbook_tree``): ``{"count",
    "path": [{"level", "value", "filters", "count"}] (the chosen node of each level, down from the top),
    "tree"}``."""
    started = time.monotonic()
    page = (backend or get_backend()).search(SearchRequest(filters=filters, page_size=1, with_facets=False,
                                                           with_highlight=False))
    SEARCH_LATENCY.labels("browse").observe(time.monotonic() - started)
    path, level = [], page.tree
    while chosen := [n for n in level if n["selected"]]:
        node = chosen[0]
        path.append({"level": node["level"], "value": node["value"], "filters": node["filters"],
                     "count": node["count"]})
        level = node["children"]
    return {"count": page.count, "path": path, "tree": page.tree}


def suggest(*, prefix: str, limit: int = 10, backend: SearchBackend | None = None) -> list[dict[str, Any]]:
    """Completions of what a teacher is typing: vocabulary/topic terms, then titles."""
    started = time.monotonic()
    suggestions = (backend or get_backend()).suggest(prefix, limit=limit)
    SEARCH_LATENCY.labels("suggest").observe(time.monotonic() - started)
    return suggestions


def warm_up() -> None:
    """Prepare this process to search (a web worker calls it as it starts). Never raises: a backend that
    cannot be warmed now is reported by readiness and warms on its first search."""
    try:
        get_backend().warm()
    except Exception:  # noqa: BLE001 - a worker must start anyway
        logger.warning("search backend not warmed", exc_info=True)


def check_search() -> None:
    """Readiness: raise when the configured search backend cannot serve."""
    get_backend().check()
