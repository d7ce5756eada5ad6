"""The search backend interface and the request/response shapes every backend shares.

A backend stores *index documents* (plain dicts built by ``catalog.search.documents``) and answers
``SearchRequest`` with a ``SearchPage``. Both implementations — ``EmbeddedBackend`` (SQLite FTS5)
and ``ElasticsearchBackend`` — take the query apart with ``catalog.search.analysis.parse_query``
and apply the same rules, so they give the same answers:

* every required concept of the query must match — a phrase of one of its alternatives in title,
  chapter, section, keywords, description or the vocabulary values; words that name a vocabulary
  value next to a topic are optional (see ``analysis``); when nothing matches, the search is
  relaxed to any concept;
* relevance = TEXT_WEIGHT × BM25 over the fields weighted by ``FIELD_WEIGHTS`` + a constant boost
  for each vocabulary value the query names (``BOOST_WEIGHTS``, 初一 → grade 七年级) + gentle
  recency and popularity signals;
* filters are exact values, several values of one field are alternatives;
* facet counts are over the filtered result set, ``FACET_SIZE`` values per field, by count then
  value; highlights wrap matched phrases of title/chapter/section/description in ``<em>``.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from exchange.errors import InvalidInputError

FACET_FIELDS: tuple[str, ...] = (
    "stage", "subject", "grade", "edition", "volume", "resource_type", "license", "publisher", "origin",
)
# Facet name → key of the index document.
FACET_SOURCE: dict[str, str] = {name: ("origin_node" if name == "origin" else name) for name in FACET_FIELDS}
FACET_SIZE = 50
SORTS = ("relevance", "newest", "downloads", "rating")
# Field weights of the text match: title > chapter/section > keywords > description.
FIELD_WEIGHTS: dict[str, float] = {
    "title": 4.0, "chapter": 3.0, "section": 3.0, "keywords": 2.0, "description": 1.0, "meta": 0.5,
}
HIGHLIGHT_FIELDS = ("title", "chapter", "section", "description")
# Scale of the BM25 part against the vocabulary boosts: every result matches the required words,
# so which *kind* of document it is (grade, subject, type) should weigh more than BM25's length
# and IDF details (tuned with search_eval).
TEXT_WEIGHT = 0.25
# Gentle signals: recency adds up to RECENCY_WEIGHT (half of it at RECENCY_PIVOT_DAYS old),
# popularity adds POPULARITY_WEIGHT × log10(1 + downloads).
RECENCY_WEIGHT = 0.5
RECENCY_PIVOT_DAYS = 365.0
POPULARITY_WEIGHT = 0.3
MAX_WINDOW = 10_000  # deepest result reachable by paging (Elasticsearch's max_result_window)
MAX_QUERY_LENGTH = 200
SUGGEST_PREFIX_LENGTH = 20  # longest prefix completed (the edge n-gram limit)
RESULT_FIELDS: tuple[str, ...] = (
    "id", "title", "highlight", "description", "stage", "subject", "grade", "edition", "volume", "chapter",
    "section", "resource_type", "license", "price", "publisher", "origin_node", "is_remote", "published_at",
    "download_count", "score",
)


def popularity(download_count: int) -> float:
    """The popularity signal of a document (Elasticsearch: field_value_factor, modifier log1p)."""
    return POPULARITY_WEIGHT * math.log10(1 + max(0, int(download_count or 0)))


@dataclass(frozen=True)
class SearchRequest:
    """What to search. ``q`` empty = browse by filters (newest first unless ``sort`` says otherwise)."""

    q: str = ""
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    sort: str = ""
    page: int = 1
    page_size: int = 20
    with_facets: bool = True
    with_highlight: bool = True

    def __post_init__(self) -> None:
        problems: dict[str, list[str]] = {}
        if len(self.q) > MAX_QUERY_LENGTH:
            problems["q"] = [f"At most {MAX_QUERY_LENGTH} characters."]
        if self.sort and self.sort not in SORTS:
            problems["sort"] = [f"One of {', '.join(SORTS)}."]
        unknown = sorted(set(self.filters) - set(FACET_FIELDS))
        for name in unknown:
            problems[name] = ["Not a filter."]
        if self.page < 1 or self.page_size < 1:
            problems["page"] = ["page and page_size start at 1."]
        elif self.page * self.page_size > MAX_WINDOW:
            problems["page"] = [f"Only the first {MAX_WINDOW} results can be paged through."]
        if problems:
            raise InvalidInputError("The search request is not valid.", details=problems)

    @property
    def effective_sort(self) -> str:
        return self.sort or ("relevance" if self.q.strip() else "newest")

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


@dataclass
class SearchPage:
    """One page of results: ``hits`` carry RESULT_FIELDS; ``facets`` map a facet to value counts."""

    count: int
    hits: list[dict[str, Any]]
    facets: dict[str, list[dict[str, Any]]]
    relaxed: bool = False  # True when no document matched every concept and any concept was enough


def facet_buckets(counts: Mapping[str, int]) -> list[dict[str, Any]]:
    """Value counts of one facet as buckets, ordered like Elasticsearch's terms aggregation (count
    descending, then value) and cut at FACET_SIZE; empty values are left out."""
    ordered = sorted(((v, c) for v, c in counts.items() if v), key=lambda vc: (-vc[1], vc[0]))
    return [{"value": v, "count": c} for v, c in ordered[:FACET_SIZE]]


class IndexBuild(abc.ABC):
    """A new index being filled by ``rebuild_index`` while the old one keeps serving."""

    @abc.abstractmethod
    def index_documents(self, docs: Sequence[dict[str, Any]]) -> None: ...

    @abc.abstractmethod
    def delete_documents(self, ids: Sequence[str]) -> None: ...

    @abc.abstractmethod
    def swap(self) -> None:
        """Make the new index the live one, atomically; the old one is retired."""

    @abc.abstractmethod
    def abort(self) -> None:
        """Drop the new index; the live one is untouched."""


class SearchBackend(abc.ABC):
    """Where the searchable copy of the published catalog lives."""

    name: str = ""

    @abc.abstractmethod
    def index_documents(self, docs: Sequence[dict[str, Any]]) -> None:
        """Add or replace documents (by ``id``); visible to the next search."""

    @abc.abstractmethod
    def delete_documents(self, ids: Sequence[str]) -> None:
        """Remove documents; unknown ids are ignored. Visible to the next search."""

    @abc.abstractmethod
    def search(self, request: SearchRequest) -> SearchPage: ...

    @abc.abstractmethod
    def suggest(self, prefix: str, *, limit: int = 10) -> list[dict[str, Any]]:
        """Completions of ``prefix``: ``[{"text", "kind": "term"|"title", "count"}]``, terms first,
        each kind by number of documents then text."""

    @abc.abstractmethod
    def begin_rebuild(self) -> IndexBuild: ...

    @abc.abstractmethod
    def stored_documents(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The documents the live index holds for those of ``ids`` it holds, by id (verification)."""

    @abc.abstractmethod
    def count(self) -> int:
        """Number of documents in the live index."""

    @abc.abstractmethod
    def check(self) -> None:
        """Raise when the backend cannot serve (readiness)."""

    @abc.abstractmethod
    def drop(self) -> None:
        """Delete every index of this backend (tests, evaluation runs)."""

