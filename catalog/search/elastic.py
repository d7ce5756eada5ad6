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
)
from catalog.search.base import (
    FACET_FIELDS,
    FACET_SIZE,
    FIELD_WEIGHTS,
    HIGHLIGHT_FIELDS,
    MAX_WINDOW,
    POPULARITY_WEIGHT,
    RECENCY_PIVOT_DAYS,
    RECENCY_WEIGHT,
    SUGGEST_PREFIX_LENGTH,
    TEXT_WEIGHT,
    IndexBuild,
    SearchBackend,
    SearchPage,
    SearchRequest,
)
from catalog.search.documents import DOCUMENT_KEYS

# Lucene's BM25 sums per-field, per-term scores where FTS5 saturates one weighted frequency per
# phrase: for the same text query and documents, FTS5's bm25() is about 0.2 × Lucene's score
# (median over the judged queries; deciles 0.12–0.34). Scaling by it puts the text part on the
# scale the shared boosts were tuned for.
LUCENE_TO_FTS5 = 0.2
TEXT_SCALE = TEXT_WEIGHT * LUCENE_TO_FTS5
# The field a facet counts (keyword fields or keyword sub-fields).
FACET_ES_FIELD = {
    "stage": "stage", "subject": "subject", "grade": "grade", "edition": "edition", "volume": "volume",
    "resource_type": "resource_type", "license": "license", "publisher": "publisher.raw", "origin": "origin_node",
}
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
    chapter = Text(analyzer=zh_text)
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
    return source


def _phrase(text: str) -> Q:
    """A phrase in any text field, field scores summed. Lucene scores a phrase with the sum of its
    terms' IDF where FTS5 uses the phrase's own document frequency; dividing by the number of
    tokens keeps long synonyms (第三单元) from outweighing what was typed (unit 3)."""
    fields = [f"{name}^{weight}" for name, weight in FIELD_WEIGHTS.items()]
    return Q("multi_match", query=text, type="phrase", fields=fields, tie_breaker=1.0,
             boost=round(1 / max(1, len(tokenize(text))), 4))


def _concept(concept: Concept) -> Q:
    """Any option of the concept; an option is all its phrases."""
    options = [_phrase(o[0]) if len(o) == 1 else Q("bool", must=[_phrase(t) for t in o]) for o in concept.options]
    return Q("bool", should=options, minimum_should_match=1)


def text_query(parsed: ParsedQuery, mode: str) -> Q:
    """``all``: every required concept (optional ones only act through their field boosts);
    ``any``: any concept (the relaxed search)."""
    if mode == "any":
        return Q("bool", should=[_concept(c) for c in parsed.concepts], minimum_should_match=1, boost=TEXT_SCALE)
    return Q("bool", must=[_concept(c) for c in parsed.required], boost=TEXT_SCALE)


def ranked_query(parsed: ParsedQuery, mode: str, filters: list[Q]) -> Q:
    """Text match + vocabulary boosts (the ``.syn`` sub-fields expand the word with the synonym
    filter) + recency (distance_feature) + popularity (field_value_factor log1p)."""
    boosts = [
        Q("constant_score", filter=Q("match", **{f"{field}.syn": concept.text}), boost=BOOST_WEIGHTS[field])
        for concept in parsed.concepts for field, _ in concept.boosts
    ]
    recency = Q("distance_feature", field="published_at", origin="now", pivot=f"{int(RECENCY_PIVOT_DAYS)}d",
                boost=RECENCY_WEIGHT)
    inner = Q("bool", must=[text_query(parsed, mode)], filter=filters, should=[*boosts, recency])
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


def _hit(hit: Any, with_score: bool) -> dict[str, Any]:
    source = hit["_source"]
    marks = {name: [frag.replace("</em><em>", "") for frag in frags]
             for name, frags in (hit.get("highlight") or {}).items()}
    return {
        "id": source["id"], "title": source["title"], "highlight": marks,
        "description": source.get("description") or "",
        **{f: source.get(f) or "" for f in ("stage", "subject", "grade", "edition", "volume", "chapter", "section",
                                           "resource_type", "license", "publisher", "origin_node")},
        "price": source.get("price") or 0, "is_remote": bool(source.get("is_remote")),
        "published_at": source.get("published_at"), "download_count": source.get("download_count") or 0,
        "score": round(float(hit["_score"]), 4) if with_score and hit.get("_score") is not None else None,
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
    def search(self, request: SearchRequest) -> SearchPage:
        parsed = parse_query(request.q)
        filters = [Q("terms", **{FACET_ES_FIELD[name]: list(values)})
                   for name, values in request.filters.items() if values]
        sort = request.effective_sort
        modes = ("all",) if len(parsed.concepts) <= 1 else ("all", "any")
        for mode in modes:
            search = Search(using=self.client, index=self.alias).extra(
                from_=request.offset, size=request.page_size, track_total_hits=True)
            if parsed.is_empty:
                search = search.query(Q("bool", filter=filters)).sort(*_SORTS["newest" if sort == "relevance" else sort])
            else:
                search = search.query(ranked_query(parsed, mode, filters)).sort(*_SORTS[sort])
                if sort != "relevance":
                    search = search.extra(track_scores=True)
                if request.with_highlight:
                    search = search.highlight_options(
                        pre_tags=["<em>"], post_tags=["</em>"], encoder="html", number_of_fragments=0,
                        highlight_query=text_query(parsed, "any").to_dict())
                    search = search.highlight(*HIGHLIGHT_FIELDS)
            if request.with_facets:
                for name in FACET_FIELDS:
                    search.aggs.bucket(name, "terms", field=FACET_ES_FIELD[name], size=FACET_SIZE,
                                       order=[{"_count": "desc"}, {"_key": "asc"}])
            try:
                response = self.client.search(index=self.alias, body=search.to_dict())
            except NotFoundError:
                return SearchPage(count=0, hits=[], facets={name: [] for name in FACET_FIELDS} if
                                  request.with_facets else {})
            count = response["hits"]["total"]["value"]
            if count or mode == modes[-1]:
                break
        facets = {
            name: [{"value": b["key"], "count": b["doc_count"]} for b in response["aggregations"][name]["buckets"]]
            for name in FACET_FIELDS
        } if request.with_facets else {}
        hits = [_hit(h, not parsed.is_empty) for h in response["hits"]["hits"]]
        return SearchPage(count=count, hits=hits, facets=facets, relaxed=mode == "any")

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
