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
* facets are *disjunctive*: the counts of one field are over the result set filtered by every
  *other* field's filter (choosing 数学 still shows how many resources each other subject has),
  ``FACET_SIZE`` values per field, by count then value; highlights wrap matched phrases of
  title/chapter/section/description in ``<em>``;
* the textbook tree (``TREE_LEVELS``: 学段 → 学科 → 版本 → 年级/册 → 章) is counted the same way, over
  the result set filtered by everything but the tree's own fields: its first level always, the
  children of a node only when that node is chosen (``textbook_tree``).
"""

from __future__ import annotations

import abc
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from exchange.errors import InvalidInputError

FACET_FIELDS: tuple[str, ...] = (
    "stage", "subject", "grade", "edition", "volume", "chapter", "resource_type", "license", "publisher", "origin",
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
    "download_count", "score", "match",
)
# Tolerance (see ``analysis.parse_query``): a document that matches every required concept as typed
# (or by a synonym) ranks above one that needs a correction or a topic alternative (EXACT_TIER), and
# when fewer than RELAX_BELOW documents match every concept the search also returns documents that
# match part of them (``relaxation_steps``), always after every full match (FULL_TIER), each wider
# level after the narrower ones (each level but the widest adds ``relaxed_tier(k)``: MOST_TIER,
# then half as much, …, together less than FULL_TIER). The tiers are score constants far above what
# text, boosts and signals add up to, so both backends sort by one score.
RELAX_BELOW = 20
EXACT_TIER = 100.0
FULL_TIER = 1000.0
MOST_TIER = 200.0  # the narrowest relaxed level; each wider one adds half as much
# A relaxed search that kept the known concepts (``relaxation_steps``): documents matching them as
# typed rank above those matching them only through a topic alternative or correction, whatever extra
# words they share (the topic is what the teacher asked for); more than all relaxed levels together,
# and with them still below FULL_TIER.
TYPED_CORE_TIER = 2 * MOST_TIER
MATCH_KINDS = ("exact", "fuzzy", "partial")


def relax_below(parsed: Any) -> int:
    """Relax when fewer documents than this match the whole query: RELAX_BELOW for a query naming a
    topic; a query made only of vocabulary words (初二数学) is relaxed only when nothing matches it,
    as its full matches are all it asks for."""
    return RELAX_BELOW if any(not c.boosts for c in parsed.best.required) else 1


@dataclass(frozen=True)
class RelaxStep:
    """One level of a relaxed search: documents matching every ``core`` concept and at least
    ``minimum`` of the ``others`` (0: the others are not asked for)."""

    core: tuple[Any, ...]
    others: tuple[Any, ...]
    minimum: int


def relaxation_steps(required: Sequence[Any]) -> tuple[RelaxStep, ...]:
    """The levels a relaxed search widens through, each holding the previous one. A teacher's query
    names a topic and adds words about the resource (名师 讲座实录, 公开课 素材包): the concepts that name
    something the index knows (``Concept.known``: a term, or a topic in other words) are kept while the
    words it does not know are dropped — all of them but one, then all — so that a resource on the topic
    ranks above one that only shares the extra words. Then (or when every concept is known, or none)
    all concepts but one, then any one, while that still holds the previous level."""
    n = len(required)
    if n < 2:
        return ()
    core = tuple(c for c in required if c.known)
    others = tuple(c for c in required if not c.known)
    kept = bool(core and others)
    steps = [RelaxStep(core, others, m) for m in dict.fromkeys((len(others) - 1, 0))] if kept else []
    for minimum in dict.fromkeys((n - 1, 1)):
        if not kept or minimum <= len(core):  # then documents matching the core have ``minimum`` concepts
            steps.append(RelaxStep((), tuple(required), minimum))
    return tuple(steps)


def widens_to(step: RelaxStep, found: int, parsed: Any) -> bool:
    """Whether a relaxed search that has ``found`` documents so far searches the level ``step``: the
    levels keeping the known concepts always (a resource on the topic is what the teacher asked for);
    the wider ones, which drop a known concept or keep fewer of the words, only while fewer than
    ``relax_below`` documents are found — past that they would only append documents sharing the
    teacher's extra words (公开课, 素材包) on other topics, after every better one."""
    return bool(step.core) or found < relax_below(parsed)


def relaxed_tier(level: int) -> float:
    """What the ``level``-th relaxed level (0: the narrowest) adds to the documents it holds: every
    level's documents rank above the next one's, and all of them together stay below FULL_TIER."""
    return MOST_TIER / 2 ** level


def match_kind(score: float | None, *, relaxed: bool, fuzzy: bool, above: float = 0.0,
               typed_core: bool = False) -> str:
    """How a hit matched, read from its score's tiers: ``exact`` (every concept as typed), ``fuzzy``
    (every concept, some through a correction or topic), ``partial`` (a relaxed search's extra hits).
    ``above``: what the relaxed levels add to a full match besides FULL_TIER; ``typed_core``: whether
    the search ranked by TYPED_CORE_TIER."""
    if score is None:
        return "exact"
    rest = float(score)
    if relaxed:
        if rest < FULL_TIER:
            return "partial"
        rest -= FULL_TIER + above
        if typed_core and rest >= TYPED_CORE_TIER:
            rest -= TYPED_CORE_TIER
    if fuzzy and rest < EXACT_TIER:
        return "fuzzy"
    return "exact"


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
    with_tree: bool = True

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
    relaxed: bool = False  # True when documents matching only some concepts were added (after the full matches)
    full_count: int | None = None  # documents matching every concept (None: same as count)
    # Likely meant instead (typos corrected): [{"q", "corrections": [{"typed", "term"}]}]
    did_you_mean: list[dict[str, Any]] = field(default_factory=list)
    # The textbook tree with counts (``textbook_tree``), expanded along the chosen path.
    tree: list[dict[str, Any]] = field(default_factory=list)
    # What the query typed past its first ``analysis.MAX_CONCEPTS`` concepts: not searched.
    ignored: list[str] = field(default_factory=list)


def did_you_mean(parsed: Any) -> list[dict[str, Any]]:
    """The rewrites of a parsed query as suggestions, the corrections of the first one named."""
    return [{"q": rewrite.text, "corrections": [{"typed": t, "term": c} for t, c in rewrite.corrections]}
            for rewrite in parsed.rewrites]


def facet_buckets(counts: Mapping[str, int]) -> list[dict[str, Any]]:
    """Value counts of one facet as buckets, ordered like Elasticsearch's terms aggregation (count
    descending, then value) and cut at FACET_SIZE; empty values are left out."""
    ordered = sorted(((v, c) for v, c in counts.items() if v), key=lambda vc: (-vc[1], vc[0]))
    return [{"value": v, "count": c} for v, c in ordered[:FACET_SIZE]]


# --- disjunctive facets and the textbook tree ------------------------------------------------------

# The levels of the textbook tree as teachers browse it (national platform: 学段 → 学科 → 版本 →
# 年级/册 → 章节); a level is one or more facet fields (年级/册 is one choice: 七年级 上册).
TREE_LEVELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("stage", ("stage",)),
    ("subject", ("subject",)),
    ("edition", ("edition",)),
    ("book", ("grade", "volume")),
    ("chapter", ("chapter",)),
)
TREE_FIELDS: tuple[str, ...] = tuple(f for _, fields in TREE_LEVELS for f in fields)
TREE_SIZE = 200  # children counted per node (Elasticsearch: terms size), by count then value
_STAGE_ORDER = {"小学": 0, "初中": 1, "高中": 2}
_NUMERALS = {c: i for i, c in enumerate("零一二三四五六七八九十")}
_NUMBER = re.compile(r"[0-9]+|[零一二三四五六七八九十]+")


def _numeral(text: str) -> int:
    if text.isdigit():
        return int(text)
    if "十" not in text:
        value = 0
        for c in text:
            value = value * 10 + _NUMERALS[c]
        return value
    tens, _, units = text.partition("十")
    return (_NUMERALS[tens] if tens else 1) * 10 + (_NUMERALS[units] if units else 0)


def textbook_order(value: str) -> tuple[Any, ...]:
    """Sort key of tree nodes in textbook order: 小学 < 初中 < 高中, 七年级 < 八年级 < 十年级, 上册 < 下册,
    第二章 < 第十章 (numbers, Chinese or Arabic, compare as numbers)."""
    parts: list[Any] = [_STAGE_ORDER.get(value, 9)]
    position = 0
    for match in _NUMBER.finditer(value):
        parts.extend((value[position:match.start()], _numeral(match.group())))
        position = match.end()
    parts.append(value[position:].replace("上册", "0").replace("下册", "1"))
    return tuple(parts)


def filter_failures(values: Sequence[str], active: Sequence[tuple[int, frozenset[str]]]) -> list[int]:
    """Indexes (into FACET_FIELDS) of the active filters a row of facet ``values`` does not pass."""
    return [i for i, allowed in active if values[i] not in allowed]


def active_filters(filters: Mapping[str, Sequence[str]]) -> list[tuple[int, frozenset[str]]]:
    return [(i, frozenset(v for v in filters[name] if v)) for i, name in enumerate(FACET_FIELDS)
            if any(filters.get(name, ()))]


_TREE_INDEX = {name: FACET_FIELDS.index(name) for name in TREE_FIELDS}
# For each level: the FACET_FIELDS indexes of its fields, and of the fields of every level above it.
_LEVEL_SPANS = [(tuple(_TREE_INDEX[f] for f in fields),
                 tuple(_TREE_INDEX[f] for _, fs in TREE_LEVELS[:k] for f in fs))
                for k, (_, fields) in enumerate(TREE_LEVELS)]


class DisjunctiveCounter:
    """Counts, in one pass over (facet values, number of documents) rows, the disjunctive facets,
    the number of documents passing every filter, and the textbook tree's node counts (the embedded
    backend feeds it the distinct value combinations of a result set; Elasticsearch counts the same
    with filter aggregations)."""

    def __init__(self, filters: Mapping[str, Sequence[str]]) -> None:
        self.filters = filters
        self.active = active_filters(filters)
        self.tree_fields = {i for i, _ in self.active if FACET_FIELDS[i] in TREE_FIELDS}
        # Levels to count: the first, and each one whose every level above is chosen.
        chosen = {FACET_FIELDS[i] for i, _ in self.active}
        self.levels = 1
        while self.levels < len(TREE_LEVELS) and any(
                f in chosen for f in TREE_LEVELS[self.levels - 1][1]):
            self.levels += 1
        self.total = 0
        self.facets: list[dict[str, int]] = [{} for _ in FACET_FIELDS]
        self.tree: dict[tuple[str, ...], int] = {}

    def add(self, values: Sequence[str], n: int) -> None:
        failed = filter_failures(values, self.active) if self.active else []
        if not failed:
            self.total += n
            for counter, value in zip(self.facets, values, strict=True):
                counter[value] = counter.get(value, 0) + n
        elif len(failed) == 1:
            counter = self.facets[failed[0]]
            counter[values[failed[0]]] = counter.get(values[failed[0]], 0) + n
        if any(i not in self.tree_fields for i in failed):
            return
        for k in range(self.levels):
            own, above = _LEVEL_SPANS[k]
            if any(i in failed for i in above):
                break
            key = tuple(values[i] for i in above + own)
            self.tree[key] = self.tree.get(key, 0) + n

    def facet_buckets(self) -> dict[str, list[dict[str, Any]]]:
        return {name: facet_buckets(c) for name, c in zip(FACET_FIELDS, self.facets, strict=True)}

    def tree_nodes(self) -> list[dict[str, Any]]:
        return textbook_tree(self.tree, self.filters)


def textbook_tree(counts: Mapping[tuple[str, ...], int], filters: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
    """The textbook tree as nodes ``{"level", "value", "values": {field: value}, "filters": {field: value}
    (the path down to it, to link to; empty values left out), "count", "selected", "children"}`` from
    node counts keyed by the tree fields' values down to the node (all fields of each level: book =
    grade, volume; 高中 books have no grade). A level's nodes are the TREE_SIZE with most documents,
    in textbook order; a node without a value (a resource filed under no chapter) is left out. A node
    is selected when the filters hold each of its values; only selected nodes list children."""

    def level(k: int, prefix: tuple[str, ...]) -> list[dict[str, Any]]:
        name, fields = TREE_LEVELS[k]
        width = len(prefix) + len(fields)
        found = [(key, n) for key, n in counts.items() if len(key) == width and key[:len(prefix)] == prefix
                 and any(key[len(prefix):])]
        found.sort(key=lambda kn: (-kn[1], kn[0]))
        nodes = []
        for key, n in sorted(found[:TREE_SIZE], key=lambda kn: tuple(textbook_order(v) for v in kn[0])):
            own = {f: v for f, v in zip(fields, key[len(prefix):], strict=True) if v}
            path = {f: v for f, v in zip(TREE_FIELDS, key, strict=False) if v}
            selected = all(v in filters.get(f, ()) for f, v in own.items())
            children = level(k + 1, key) if selected and k + 1 < len(TREE_LEVELS) else []
            nodes.append({"level": name, "value": " ".join(v for v in own.values() if v), "values": own,
                          "filters": path, "count": n, "selected": selected, "children": children})
        return nodes

    return level(0, ())


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

    def is_outdated(self) -> bool:
        """Whether the live index must be rebuilt before this code can use it fully (``rebuild_index
        --if-outdated``); backends that cannot tell answer False."""
        return False

    def warm(self) -> None:  # noqa: B027 - optional hook: most backends have nothing to load
        """Load what a process's first search would (called as a web worker starts); nothing by default."""

    @abc.abstractmethod
    def drop(self) -> None:
        """Delete every index of this backend (tests, evaluation runs)."""

