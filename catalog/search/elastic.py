"""Elasticsearch search backend (when ``ELASTICSEARCH_URL`` is set), through elasticsearch-dsl.

Mapping (``ResourceDocument``): text fields analysed by ``exchange_zh`` — the built-in ``standard``
tokenizer with ``cjk_width``, ``lowercase`` and ``cjk_bigram`` (no plugin), which yields the same
tokens as ``catalog.search.analysis.tokenize``; keyword fields and sub-fields for facets; a ``.syn``
sub-field on each vocabulary field whose search analyser carries a ``synonym`` filter fed inline
from ``vocabularies.json`` (a query word such as 初一 matches the code 七年级 there, which is how
vocabulary boosts work); ``edge_ngram`` sub-fields for completions. Synonym *phrases* in the text are
expanded by the shared query parser rather than by a ``synonym_graph`` filter: graph synonyms after
``cjk_bigram`` do not give usable phrase queries, and the embedded backend must expand identically.

Searches go to the alias ``{ELASTICSEARCH_INDEX_PREFIX}-resources``; ``rebuild_index`` fills a new
concrete index (writes reach it too through the ``…-building`` alias) and moves the alias with one
``_aliases`` request, so searches never see a half-built index.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
import time
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from elasticsearch import BadRequestError, Elasticsearch, NotFoundError, helpers
from elasticsearch_dsl import (
    Boolean,
    Date,
    Document,
    Float,
    Index,
    Integer,
    Keyword,
    MetaField,
    Q,
    Search,
    Text,
    analyzer,
    normalizer,
    token_filter,
)

from catalog.search.analysis import (
    BOOST_WEIGHTS,
    Concept,
    ParsedQuery,
    lexicon,
    meta_text,
    normalize,
    parse_query,
    suggestion_terms,
    tokenize,
    topic_parent,
)
from catalog.search.base import (
    EXACT_TIER,
    FACET_FIELDS,
    FACET_SIZE,
    FIELD_WEIGHTS,
    FULL_TIER,
    HIGHLIGHT_FIELDS,
    MAX_WINDOW,
    POPULARITY_WEIGHT,
    RECENCY_PIVOT_DAYS,
    RECENCY_WEIGHT,
    SUGGEST_PREFIX_LENGTH,
    TEXT_WEIGHT,
    TREE_FIELDS,
    TREE_LEVELS,
    TREE_SIZE,
    TYPED_CORE_TIER,
    IndexBuild,
    RelaxStep,
    SearchBackend,
    SearchPage,
    SearchRequest,
    did_you_mean,
    match_kind,
    relax_below,
    relaxation_steps,
    relaxed_tier,
    textbook_tree,
    widens_to,
)
from catalog.search.documents import DOCUMENT_KEYS
from catalog.search.fuzzy import TermVocabulary, term_vocabulary

# Lucene's BM25 sums per-field, per-term scores where FTS5 saturates one weighted frequency per
# phrase: for the same text query and documents, FTS5's bm25() is about 0.2 × Lucene's score
# (median over the judged queries; deciles 0.12–0.34). Scaling by it puts the text part on the
# scale the shared boosts were tuned for.
LUCENE_TO_FTS5 = 0.2
TEXT_SCALE = TEXT_WEIGHT * LUCENE_TO_FTS5
# The field a facet counts (keyword fields or keyword sub-fields).
FACET_ES_FIELD = {
    "stage": "stage", "subject": "subject", "grade": "grade", "edition": "edition", "volume": "volume",
    "chapter": "chapter.raw", "resource_type": "resource_type", "license": "license", "publisher": "publisher.raw",
    "origin": "origin_node",
}
VOCABULARY_TTL = 30.0
VOCABULARY_SIZE = 20_000
_vocabularies: dict[tuple[str, str], tuple[float, TermVocabulary]] = {}


BOOK_SEP = "\x1f"


def _tree_field(fields: tuple[str, ...]) -> str:
    """The keyword field a tree level is counted on: its facet field, or ``book`` (grade␟volume, one
    value even when a 高中 book has no grade) for the 年级/册 level."""
    return "book" if len(fields) > 1 else FACET_ES_FIELD[fields[0]]
_LUCENE_REGEX_SPECIAL = re.compile(r'([.?+*|{}\[\]()"\\#@&<>~])')

fold = normalizer("exchange_fold", filter=["cjk_width", "lowercase"])
zh_text = analyzer("exchange_zh", tokenizer="standard", filter=["cjk_width", "lowercase", "cjk_bigram"])
vocab_index = analyzer("exchange_vocab", tokenizer="keyword", filter=["cjk_width", "lowercase"])
vocab_search = analyzer(
    "exchange_vocab_synonyms", tokenizer="keyword",
    filter=["cjk_width", "lowercase",
            token_filter("exchange_synonyms", type="synonym", lenient=True, synonyms=list(lexicon().synonym_rules))],
)
prefix_index = analyzer(
    "exchange_prefix", tokenizer="keyword",
    filter=["cjk_width", "lowercase",
            token_filter("exchange_edge", type="edge_ngram", min_gram=1, max_gram=SUGGEST_PREFIX_LENGTH)],
)


def _vocabulary_keyword() -> Keyword:
    return Keyword(fields={"syn": Text(analyzer=vocab_index, search_analyzer=vocab_search)})


class ResourceDocument(Document):
    """The Elasticsearch mapping of an index document (see ``catalog.search.documents``)."""

    id = Keyword()
    title = Text(analyzer=zh_text, fields={
        "raw": Keyword(normalizer=fold), "prefix": Text(analyzer=prefix_index, search_analyzer=vocab_index)})
    description = Text(analyzer=zh_text)
    keywords = Text(analyzer=zh_text)
    chapter = Text(analyzer=zh_text, fields={"raw": Keyword()})
    section = Text(analyzer=zh_text)
    meta = Text(analyzer=zh_text)
    stage = _vocabulary_keyword()
    subject = _vocabulary_keyword()
    grade = _vocabulary_keyword()
    edition = _vocabulary_keyword()
    volume = _vocabulary_keyword()
    resource_type = _vocabulary_keyword()
    language = Keyword()
    license = Keyword()
    publisher = Text(analyzer=zh_text, fields={"raw": Keyword()})
    origin_node = Keyword()
    is_remote = Boolean()
    price = Integer()
    published_at = Date()
    download_count = Integer()
    rating_score = Float()
    suggest = Keyword(normalizer=fold, fields={"prefix": Text(analyzer=prefix_index, search_analyzer=vocab_index)})
    topic_parent = Keyword()  # section topic␟chapter topic (analysis.topic_parent): the tree the index holds
    book = Keyword()  # grade␟volume: the 年级/册 level of the textbook tree (base.TREE_LEVELS)

    class Meta:
        dynamic = MetaField("strict")  # the mapping is explicit: an unknown key is an error, not a new field


_clients: dict[tuple[int, str], Elasticsearch] = {}


def client_for(url: str) -> Elasticsearch:
    """One client per URL and process (the backend's connection cache)."""
    key = (os.getpid(), url)
    if key not in _clients:
        _clients[key] = Elasticsearch(url, request_timeout=30, retry_on_timeout=True, max_retries=2)
    return _clients[key]


def es_source(doc: dict[str, Any]) -> dict[str, Any]:
    """The stored source of an index document: its keys plus the derived text and completions."""
    source = {key: doc.get(key) for key in DOCUMENT_KEYS}
    for key in ("stage", "subject", "grade", "edition", "volume", "resource_type", "license", "origin_node"):
        source[key] = source[key] or None
    source["meta"] = meta_text(doc)
    source["suggest"] = suggestion_terms(doc)
    source["topic_parent"] = topic_parent(doc) or None
    source["book"] = BOOK_SEP.join(str(doc.get(f) or "") for f in ("grade", "volume"))
    return source


def _phrase(text: str) -> Q:
    """A phrase in any text field, field scores summed. Lucene scores a phrase with the sum of its
    terms' IDF where FTS5 uses the phrase's own document frequency; dividing by the number of
    tokens keeps long synonyms (第三单元) from outweighing what was typed (unit 3)."""
    fields = [f"{name}^{weight}" for name, weight in FIELD_WEIGHTS.items()]
    return Q("multi_match", query=text, type="phrase", fields=fields, tie_breaker=1.0,
             boost=round(1 / max(1, len(tokenize(text))), 4))


def _concept(concept: Concept, *, fuzzy: bool = True) -> Q:
    """Any option of the concept (with ``fuzzy``, its topic alternatives too); an option is all its phrases."""
    options = [_phrase(o[0]) if len(o) == 1 else Q("bool", must=[_phrase(t) for t in o])
               for o in concept.all_options(fuzzy=fuzzy)]
    return Q("bool", should=options, minimum_should_match=1)


def _all_of(concepts: Sequence[Concept], *, fuzzy: bool) -> Q:
    return Q("bool", must=[_concept(c, fuzzy=fuzzy) for c in concepts])


def text_query(parsed: ParsedQuery, mode: str, *, step: RelaxStep | None = None) -> Q:
    """The match of a parsed query, the same modes as the embedded backend's ``match_expression``:
    ``full`` (every required concept of the query or of one of its rewrites, topics allowed),
    ``exact`` (every required concept as typed), ``msm`` (a relaxation ``step`` over the required
    concepts of what the query most likely means: its core concepts as ``must``, the others as
    ``should`` with ``minimum_should_match``), ``any`` (any of its concepts), ``typed`` (the step's core
    concepts as typed)."""
    if mode == "typed" and step is not None:
        return _all_of(step.core, fuzzy=False)
    if mode == "exact":
        return _all_of(parsed.required, fuzzy=False)
    if mode == "full":
        variants = [_all_of(v.required, fuzzy=True) for v in parsed.variants]
        return variants[0] if len(variants) == 1 else Q("bool", should=variants, minimum_should_match=1)
    best = parsed.best
    if mode == "any":
        return Q("bool", should=[_concept(c) for c in best.concepts], minimum_should_match=1)
    if step is None:
        raise ValueError("msm needs a relaxation step")
    if not step.minimum:
        return _all_of(step.core, fuzzy=True)
    return Q("bool", must=[_concept(c) for c in step.core], should=[_concept(c) for c in step.others],
             minimum_should_match=step.minimum)


def ranked_query(parsed: ParsedQuery, match: Q, filters: list[Q], tiers: Sequence[tuple[Q, float]]) -> Q:
    """Text match (scaled) + vocabulary boosts (the codes the query's words name, as the embedded
    backend) + recency (distance_feature) + popularity (field_value_factor log1p) + the tiers
    (constant scores of the documents matching the exact and the full query)."""
    boosts = [
        Q("constant_score", filter=Q("terms", **{field: list(codes)}), boost=BOOST_WEIGHTS[field])
        for field, codes in parsed.boosts()
    ]
    tier_scores = [Q("constant_score", filter=query, boost=tier) for query, tier in tiers]
    recency = Q("distance_feature", field="published_at", origin="now", pivot=f"{int(RECENCY_PIVOT_DAYS)}d",
                boost=RECENCY_WEIGHT)
    text = Q("bool", must=[match], boost=TEXT_SCALE)
    inner = Q("bool", must=[text], filter=filters, should=[*boosts, *tier_scores, recency])
    return Q("function_score", query=inner, boost_mode="sum", score_mode="sum", functions=[
        {"field_value_factor": {"field": "download_count", "modifier": "log1p", "missing": 0},
         "weight": POPULARITY_WEIGHT}])


_SORTS = {
    "relevance": ["_score", {"published_at": "desc"}, {"id": "asc"}],
    "newest": [{"published_at": "desc"}, {"id": "asc"}],
    "downloads": [{"download_count": "desc"}, {"published_at": "desc"}, {"id": "asc"}],
    "rating": [{"rating_score": {"order": "desc", "missing": "_last", "unmapped_type": "float"}},
               {"published_at": "desc"}, {"id": "asc"}],
}


def _hit(hit: Any, with_score: bool, *, relaxed: bool, fuzzy: bool, above: float = 0.0,
         typed_core: bool = False) -> dict[str, Any]:
    source = hit["_source"]
    score = round(float(hit["_score"]), 4) if with_score and hit.get("_score") is not None else None
    marks = {name: [frag.replace("</em><em>", "") for frag in frags]
             for name, frags in (hit.get("highlight") or {}).items()}
    return {
        "id": source["id"], "title": source["title"], "highlight": marks,
        "description": source.get("description") or "",
        **{f: source.get(f) or "" for f in ("stage", "subject", "grade", "edition", "volume", "chapter", "section",
                                           "resource_type", "license", "publisher", "origin_node")},
        "price": source.get("price") or 0, "is_remote": bool(source.get("is_remote")),
        "published_at": source.get("published_at"), "download_count": source.get("download_count") or 0,
        "score": score, "match": match_kind(score, relaxed=relaxed, fuzzy=fuzzy, above=above, typed_core=typed_core),
    }


class _ElasticBuild(IndexBuild):
    def __init__(self, backend: ElasticsearchBackend) -> None:
        self.backend = backend
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
        self.name = f"{backend.alias}-{stamp}-{secrets.token_hex(3)}"
        backend._create_index(self.name, refresh_interval="-1")
        backend.client.indices.update_aliases(actions=[{"add": {"index": self.name, "alias": backend.building_alias}}])

    def index_documents(self, docs: Sequence[dict[str, Any]]) -> None:
        self.backend._bulk_index([self.name], docs, refresh=False)

    def delete_documents(self, ids: Sequence[str]) -> None:
        self.backend._bulk_delete([self.name], ids, refresh=False)

    def swap(self) -> None:
        indices = self.backend.client.indices
        indices.put_settings(index=self.name, settings={"index": {"refresh_interval": "1s"}})
        indices.refresh(index=self.name)
        old = self.backend._alias_targets(self.backend.alias)
        actions: list[dict[str, Any]] = [{"remove": {"index": o, "alias": self.backend.alias}} for o in old]
        actions.append({"add": {"index": self.name, "alias": self.backend.alias}})
        actions.append({"remove": {"index": self.name, "alias": self.backend.building_alias}})
        indices.update_aliases(actions=actions)
        for name in old:
            indices.delete(index=name, ignore_unavailable=True)

    def abort(self) -> None:
        self.backend.client.options(ignore_status=404).indices.delete(index=self.name)


class ElasticsearchBackend(SearchBackend):
    """Search on ``settings.ELASTICSEARCH_URL`` under ``settings.ELASTICSEARCH_INDEX_PREFIX``."""

    name = "elasticsearch"

    def __init__(self, url: str | None = None, prefix: str | None = None) -> None:
        self.url = url or settings.ELASTICSEARCH_URL
        self.prefix = prefix or settings.ELASTICSEARCH_INDEX_PREFIX
        self.client = client_for(self.url)
        self.alias = f"{self.prefix}-resources"
        self.building_alias = f"{self.alias}-building"

    # --- indices and aliases
    def _create_index(self, name: str, *, refresh_interval: str = "1s") -> None:
        index = Index(name, using=self.client)
        index.settings(number_of_shards=1, auto_expand_replicas="0-1", max_result_window=MAX_WINDOW,
                       refresh_interval=refresh_interval)
        index.document(ResourceDocument)
        index.create()

    def _alias_targets(self, alias: str) -> list[str]:
        try:
            return sorted(self.client.indices.get_alias(name=alias).keys())
        except NotFoundError:
            return []

    def _ensure_alias(self) -> None:
        """Create the first index and its alias on first use (several processes may race: both
        steps are idempotent)."""
        if self.client.indices.exists_alias(name=self.alias):
            return
        first = f"{self.alias}-initial"
        try:
            self._create_index(first)
        except BadRequestError as exc:
            if exc.error != "resource_already_exists_exception":
                raise
        self.client.indices.update_aliases(actions=[{"add": {"index": first, "alias": self.alias}}])

    def _write_targets(self) -> list[str]:
        self._ensure_alias()
        building = self.client.indices.exists_alias(name=self.building_alias)
        return [self.alias, self.building_alias] if building else [self.alias]

    def _bulk_index(self, targets: Sequence[str], docs: Sequence[dict[str, Any]], *, refresh: bool) -> None:
        actions = [{"_op_type": "index", "_index": t, "_id": d["id"], "_source": es_source(d)}
                   for t in targets for d in docs]
        if actions:
            helpers.bulk(self.client, actions, refresh=refresh, chunk_size=1000)

    def _bulk_delete(self, targets: Sequence[str], ids: Sequence[str], *, refresh: bool) -> None:
        actions = [{"_op_type": "delete", "_index": t, "_id": i} for t in targets for i in ids]
        if not actions:
            return
        _, errors = helpers.bulk(self.client, actions, refresh=refresh, raise_on_error=False)
        real = [e for e in errors if next(iter(e.values())).get("status") != 404]
        if real:
            raise helpers.BulkIndexError(f"{len(real)} document(s) failed to delete", real)

    # --- writing
    def index_documents(self, docs: Sequence[dict[str, Any]]) -> None:
        if docs:
            self._bulk_index(self._write_targets(), docs, refresh=True)

    def delete_documents(self, ids: Sequence[str]) -> None:
        if ids:
            self._bulk_delete(self._write_targets(), ids, refresh=True)

    def begin_rebuild(self) -> IndexBuild:
        for stale in self._alias_targets(self.building_alias):
            self.client.options(ignore_status=404).indices.delete(index=stale)
        return _ElasticBuild(self)

    # --- reading
    def term_vocabulary(self) -> TermVocabulary:
        """The subject terms of the index (completion terms with their document counts), read with a
        terms aggregation at most every VOCABULARY_TTL seconds per process."""
        key = (self.url, self.alias)
        cached = _vocabularies.get(key)
        if cached is not None and time.monotonic() - cached[0] < VOCABULARY_TTL:
            return cached[1]
        body = {"size": 0, "aggs": {"terms": {"terms": {"field": "suggest", "size": VOCABULARY_SIZE}},
                                    "parents": {"terms": {"field": "topic_parent", "size": VOCABULARY_SIZE}}}}
        try:
            aggregations = self.client.search(index=self.alias, body=body)["aggregations"]
        except NotFoundError:
            aggregations = {"terms": {"buckets": []}, "parents": {"buckets": []}}
        vocabulary = term_vocabulary(((b["key"], b["doc_count"]) for b in aggregations["terms"]["buckets"]),
                                     [b["key"] for b in aggregations["parents"]["buckets"]])
        _vocabularies[key] = (time.monotonic(), vocabulary)
        return vocabulary

    def _request(self, request: SearchRequest, parsed: ParsedQuery, match: Q | None, filters: dict[str, Q],
                 tiers: Sequence[tuple[Q, float]], *, size: int | None = None) -> dict[str, Any] | None:
        """The page of hits and, through aggregations, the facets and the textbook tree. The filters
        are a ``post_filter`` (they narrow the hits, not the aggregations); each facet counts inside a
        ``filter`` aggregation of every *other* filter (disjunctive facets), each level of the tree
        inside one of the filters outside the tree plus the chosen nodes above it."""
        sort = request.effective_sort
        search = Search(using=self.client, index=self.alias).extra(
            from_=request.offset, size=request.page_size if size is None else size, track_total_hits=True)
        if filters:
            search = search.post_filter(Q("bool", filter=list(filters.values())))
        if match is None:
            search = search.query(Q("match_all")).sort(*_SORTS["newest" if sort == "relevance" else sort])
        else:
            search = search.query(ranked_query(parsed, match, [], tiers)).sort(*_SORTS[sort])
            if sort != "relevance":
                search = search.extra(track_scores=True)
            if request.with_highlight and size is None:
                phrases = [" ".join(p) for p in parsed.phrases()]
                search = search.highlight_options(
                    pre_tags=["<em>"], post_tags=["</em>"], encoder="html", number_of_fragments=0,
                    highlight_query=Q("bool", should=[_phrase(p) for p in phrases], minimum_should_match=1).to_dict())
                search = search.highlight(*HIGHLIGHT_FIELDS)
        if size is None:
            self._aggregations(search, request, filters)
        try:
            return self.client.search(index=self.alias, body=search.to_dict())
        except NotFoundError:
            return None

    @staticmethod
    def _aggregations(search: Search, request: SearchRequest, filters: dict[str, Q]) -> None:
        def only(names: Sequence[str]) -> Q:
            return Q("bool", filter=[filters[n] for n in names if n in filters])

        order = [{"_count": "desc"}, {"_key": "asc"}]
        if request.with_facets:
            for name in FACET_FIELDS:
                search.aggs.bucket(name, "filter", filter=only([n for n in filters if n != name])).bucket(
                    "values", "terms", field=FACET_ES_FIELD[name], size=FACET_SIZE + 1, order=order)
        if request.with_tree:
            outside = [n for n in filters if n not in TREE_FIELDS]
            above: list[str] = []
            for k, (_, fields) in enumerate(TREE_LEVELS):
                if k and not any(f in filters for f in TREE_LEVELS[k - 1][1]):
                    break
                bucket = search.aggs.bucket(f"tree_{k}", "filter", filter=only([*outside, *above]))
                for level_fields in [*(fs for _, fs in TREE_LEVELS[:k]), fields]:
                    bucket = bucket.bucket("values", "terms", field=_tree_field(level_fields), size=TREE_SIZE,
                                           order=order)
                above.extend(fields)

    @staticmethod
    def _tree(response: dict[str, Any], filters: dict[str, tuple[str, ...]]) -> list[dict[str, Any]]:
        counts: dict[tuple[str, ...], int] = {}

        def walk(agg: dict[str, Any], key: tuple[str, ...], depth: int) -> None:
            for b in agg["values"]["buckets"]:
                values = tuple(str(b["key"]).split(BOOK_SEP))
                if depth == 0:
                    counts[(*key, *values)] = b["doc_count"]
                else:
                    walk(b, (*key, *values), depth - 1)

        aggregations = response.get("aggregations") or {}
        for k in range(len(TREE_LEVELS)):
            if f"tree_{k}" in aggregations:
                walk(aggregations[f"tree_{k}"], (), k)
        return textbook_tree(counts, filters)

    def _count(self, query: Q, filters: list[Q]) -> int:
        try:
            return self.client.count(index=self.alias, body={"query": Q("bool", must=[query], filter=filters).to_dict()})[
                "count"]
        except NotFoundError:
            return 0

    def search(self, request: SearchRequest) -> SearchPage:
        parsed = parse_query(request.q, self.term_vocabulary() if request.q.strip() else None)
        filters = {name: Q("terms", **{FACET_ES_FIELD[name]: list(values)})
                   for name, values in request.filters.items() if values}
        relaxed, full_count, match = False, None, None
        above, typed_core = 0.0, False  # what relaxed levels add to full matches; TYPED_CORE_TIER used
        tiers: list[tuple[Q, float]] = []
        if not parsed.is_empty:
            match = text_query(parsed, "full")
            if parsed.has_fuzzy:
                tiers.append((text_query(parsed, "exact"), EXACT_TIER))
        response = self._request(request, parsed, match, filters, tiers)
        full_count = response["hits"]["total"]["value"] if response is not None else 0
        if match is not None and response is not None and full_count < relax_below(parsed):
            # Down to any required concept, the documents matching more of them first.
            count, levels = full_count, [(match, FULL_TIER)]
            core: RelaxStep | None = None  # the relaxation kept the known concepts
            for step in relaxation_steps(parsed.best.required):
                if not widens_to(step, count, parsed):
                    break
                wider = text_query(parsed, "msm", step=step)
                more = self._count(wider, list(filters.values()))
                if more > count:
                    if count:
                        tiers.append(levels[-1])
                    levels.append((wider, relaxed_tier(len(levels) - 1)))
                    match, count, relaxed = wider, more, True
                    core = core or (step if step.core else None)
            if not count and len(parsed.best.concepts) > 1:
                match = text_query(parsed, "any")
                relaxed = self._count(match, list(filters.values())) > 0
            above = sum(tier for _, tier in tiers if tier not in (FULL_TIER, EXACT_TIER))
            typed_core = relaxed and core is not None and parsed.has_fuzzy
            if typed_core:
                tiers.append((text_query(parsed, "typed", step=core), TYPED_CORE_TIER))
            if relaxed:
                response = self._request(request, parsed, match, filters, tiers)
        if response is None:
            return SearchPage(count=0, hits=[], facets={name: [] for name in FACET_FIELDS} if request.with_facets
                              else {})
        count = response["hits"]["total"]["value"]
        facets = {
            name: [{"value": b["key"], "count": b["doc_count"]}
                   for b in response["aggregations"][name]["values"]["buckets"] if b["key"]][:FACET_SIZE]
            for name in FACET_FIELDS
        } if request.with_facets else {}
        tree = self._tree(response, dict(request.filters)) if request.with_tree else []
        hits = [_hit(h, not parsed.is_empty, relaxed=relaxed, fuzzy=parsed.has_fuzzy, above=above,
                     typed_core=typed_core)
                for h in response["hits"]["hits"]]
        return SearchPage(count=count, hits=hits, facets=facets, relaxed=relaxed,
                          full_count=full_count if relaxed else None, did_you_mean=did_you_mean(parsed), tree=tree,
                          ignored=list(parsed.ignored))

    def suggest(self, prefix: str, *, limit: int = 10) -> list[dict[str, Any]]:
        start = normalize(prefix)[:SUGGEST_PREFIX_LENGTH]
        if not start:
            return []
        pattern = _LUCENE_REGEX_SPECIAL.sub(r"\\\1", start) + ".*"
        # ``include`` narrows the buckets on Elasticsearch; the prefix is checked here as well for
        # servers that ignore it (noida-db), hence the wide ``size``.
        body = {
            "size": 0,
            "query": {"bool": {"should": [{"match": {"suggest.prefix": start}}, {"match": {"title.prefix": start}}]}},
            "aggs": {
                kind: {"terms": {"field": field, "include": pattern, "size": max(limit, 500),
                                 "order": [{"_count": "desc"}, {"_key": "asc"}]}}
                for kind, field in (("term", "suggest"), ("title", "title.raw"))
            },
        }
        try:
            response = self.client.search(index=self.alias, body=body)
        except NotFoundError:
            return []

        def found(kind: str, size: int) -> list[dict[str, Any]]:
            buckets = [b for b in response["aggregations"][kind]["buckets"] if b["key"].startswith(start)]
            buckets.sort(key=lambda b: (-b["doc_count"], b["key"]))
            return [{"text": b["key"], "kind": kind, "count": b["doc_count"]} for b in buckets[:size]]

        terms = found("term", limit)
        return terms + found("title", max(limit - len(terms), 3))

    def stored_documents(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), 1000):
            chunk = list(ids[start:start + 1000])
            body = {"query": {"terms": {"id": chunk}}, "size": len(chunk)}
            try:
                response = self.client.search(index=self.alias, body=body)
            except NotFoundError:
                return {}
            for hit in response["hits"]["hits"]:
                found[hit["_source"]["id"]] = {key: hit["_source"].get(key) for key in DOCUMENT_KEYS}
        return found

    def count(self) -> int:
        try:
            return self.client.count(index=self.alias)["count"]
        except NotFoundError:
            return 0

    def check(self) -> None:
        self.client.info()

    def drop(self) -> None:
        try:
            names = list(self.client.indices.get(index=f"{self.alias}*").keys())
        except NotFoundError:
            return
        for name in names:
            self.client.options(ignore_status=404).indices.delete(index=name)
