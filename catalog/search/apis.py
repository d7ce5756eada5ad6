"""Search API: ``GET /api/v1/search``, ``GET /api/v1/search/suggest`` and ``GET /api/v1/browse`` (the
textbook tree with counts)."""

from __future__ import annotations

from drf_orjson_renderer.renderers import ORJSONRenderer
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, inline_serializer
from rest_framework import permissions, serializers
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.response import Response

from catalog.search import browse, search, suggest
from catalog.search.analysis import MAX_CONCEPTS
from catalog.search.base import FACET_FIELDS, SORTS, TREE_LEVELS, SearchRequest
from exchange.api import ExchangeAPIView
from exchange.errors import InvalidInputError
from exchange.pagination import page_params

MAX_SUGGESTIONS = 20

_FILTER_PARAMS = [
    OpenApiParameter(name, str, many=True, description=f"Only results whose {name} is one of these values "
                                                          "(repeat the parameter for alternatives).")
    for name in FACET_FIELDS
]
_RESULT_FIELDS = {
    "id": serializers.UUIDField(), "title": serializers.CharField(),
    "highlight": serializers.DictField(child=serializers.ListField(child=serializers.CharField())),
    "description": serializers.CharField(), "stage": serializers.CharField(), "subject": serializers.CharField(),
    "grade": serializers.CharField(), "edition": serializers.CharField(), "volume": serializers.CharField(),
    "chapter": serializers.CharField(), "section": serializers.CharField(), "resource_type": serializers.CharField(),
    "license": serializers.CharField(), "price": serializers.IntegerField(), "publisher": serializers.CharField(),
    "origin_node": serializers.CharField(), "is_remote": serializers.BooleanField(),
    "published_at": serializers.DateTimeField(), "download_count": serializers.IntegerField(),
    "score": serializers.FloatField(allow_null=True),
    "match": serializers.ChoiceField(choices=["exact", "fuzzy", "partial"], help_text=(
        "exact: every word as typed (or a synonym); fuzzy: some word only through a typo correction or "
        "the chapter/section topic it names; partial: not every word (a relaxed search)")),
    "cover": serializers.CharField(allow_null=True, help_text="Path of the cover image (first page or poster "
                                   "frame) when there is one and you may preview the resource, e.g. "
                                   "/resources/3f0c…/cover; else null"),
}


_TREE_NODE = inline_serializer("TextbookTreeNode", {
    "level": serializers.ChoiceField(choices=[name for name, _ in TREE_LEVELS], help_text=(
        "stage 学段 → subject 学科 → edition 版本 → book 年级/册 (grade and volume) → chapter 章")),
    "value": serializers.CharField(help_text="The node's values joined by a space, e.g. 七年级 上册"),
    "values": serializers.DictField(child=serializers.CharField(), help_text="The node's own filter values"),
    "filters": serializers.DictField(child=serializers.CharField(), help_text=(
        "The filters of the path down to this node: pass them to /search or /browse to open it")),
    "count": serializers.IntegerField(help_text="Resources under this node (with the filters outside the tree)"),
    "selected": serializers.BooleanField(help_text="The request's filters choose this node"),
    "children": serializers.ListField(child=serializers.DictField(), help_text=(
        "The nodes one level down, the same shape; listed only under a selected node")),
}, many=True)
_TREE_EXAMPLE = [
    {"level": "stage", "value": "初中", "values": {"stage": "初中"}, "filters": {"stage": "初中"}, "count": 4210,
     "selected": True, "children": [
         {"level": "subject", "value": "数学", "values": {"subject": "数学"},
          "filters": {"stage": "初中", "subject": "数学"}, "count": 612, "selected": False, "children": []}]},
    {"level": "stage", "value": "高中", "values": {"stage": "高中"}, "filters": {"stage": "高中"}, "count": 3904,
     "selected": False, "children": []},
]


# The search endpoints answer most of a node's API requests, each some 26 KB of JSON: orjson encodes it in a
# fraction of the standard library's time (which took a tenth of a search request's CPU). Same data.
FAST_JSON = [ORJSONRenderer, BrowsableAPIRenderer]


class SearchApi(ExchangeAPIView):
    """Search the published catalog. Permission: anyone (the index holds published resources only).

    ``q`` is optional: without it, the filters are browsed newest first. Each result may carry
    more keys added by the configured annotators (e.g. price and licence decision for this user).
    Facets are disjunctive: a facet's counts apply every filter but its own (choosing 数学 still counts
    the other subjects); ``tree`` is the textbook tree counted the same way, expanded along the chosen
    path."""

    permission_classes = [permissions.AllowAny]
    renderer_classes = FAST_JSON

    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, description="What the teacher typed, e.g. 初一数学 有理数 课件"),
            *_FILTER_PARAMS,
            OpenApiParameter("sort", str, enum=list(SORTS),
                             description="relevance (default with q), newest (default without), downloads"),
            OpenApiParameter("page", int), OpenApiParameter("page_size", int, description="1–100, default 20"),
        ],
        responses=inline_serializer("SearchPage", {
            "count": serializers.IntegerField(),
            "results": inline_serializer("SearchResult", _RESULT_FIELDS, many=True),
            "facets": serializers.DictField(child=inline_serializer(
                "FacetBucket", {"value": serializers.CharField(), "count": serializers.IntegerField()}, many=True)),
            "page": serializers.IntegerField(), "page_size": serializers.IntegerField(),
            "relaxed": serializers.BooleanField(help_text="Fewer than 20 resources match every word: resources "
                                                "matching most of them follow the full matches"),
            "full_count": serializers.IntegerField(help_text="Resources matching every word"),
            "did_you_mean": inline_serializer("DidYouMean", {
                "q": serializers.CharField(),
                "corrections": inline_serializer("Correction", {"typed": serializers.CharField(),
                                                                "term": serializers.CharField()}, many=True),
            }, many=True),
            "tree": _TREE_NODE,
            "ignored": serializers.ListField(child=serializers.CharField(), help_text=(
                f"What the query typed past the first {MAX_CONCEPTS} words or phrases it asks for: not searched")),
        }),
        examples=[OpenApiExample("disjunctive facets", response_only=True, value={
            "count": 1, "page": 1, "page_size": 20, "relaxed": False, "full_count": 1, "did_you_mean": [],
            "ignored": [], "results": [], "tree": _TREE_EXAMPLE,
            "facets": {"subject": [{"value": "数学", "count": 612}, {"value": "语文", "count": 598}]}},
            description="GET /api/v1/search?stage=初中&subject=数学: the subject facet still counts 语文")],
    )
    def get(self, request):
        params = request.query_params
        page, page_size = page_params(params)
        search_request = SearchRequest(q=params.get("q", "").strip(), filters=filters_of(params),
                                       sort=params.get("sort", "").strip(), page=page, page_size=page_size)
        return Response(search(user=request.user, request=search_request))


class SearchSuggestApi(ExchangeAPIView):
    """Completions for the search box: vocabulary and topic terms, then titles, by how many
    published resources carry them. Permission: anyone."""

    permission_classes = [permissions.AllowAny]
    renderer_classes = FAST_JSON

    @extend_schema(
        parameters=[OpenApiParameter("q", str, description="What has been typed so far"),
                    OpenApiParameter("limit", int, description=f"1–{MAX_SUGGESTIONS}, default 10")],
        responses=inline_serializer("SearchSuggestions", {
            "q": serializers.CharField(),
            "suggestions": inline_serializer("Suggestion", {
                "text": serializers.CharField(), "kind": serializers.ChoiceField(choices=["term", "title"]),
                "count": serializers.IntegerField()}, many=True),
        }),
    )
    def get(self, request):
        q = request.query_params.get("q", "")
        try:
            limit = int(request.query_params.get("limit") or 10)
        except ValueError as exc:
            raise InvalidInputError(details={"limit": ["A whole number."]}) from exc
        if not 1 <= limit <= MAX_SUGGESTIONS:
            raise InvalidInputError(details={"limit": [f"Between 1 and {MAX_SUGGESTIONS}."]})
        if len(q) > 100:
            raise InvalidInputError(details={"q": ["At most 100 characters."]})
        return Response({"q": q, "suggestions": suggest(prefix=q, limit=limit)})


class BrowseApi(ExchangeAPIView):
    """The textbook tree as teachers browse it on the national platform — 学段 → 学科 → 版本 → 年级/册 →
    章 — with the number of published resources under each node. The filters choose the path (each
    level of it lists its siblings; the children of the last chosen node are listed), filters outside
    the tree (resource_type, license…) narrow every count. Permission: anyone."""

    permission_classes = [permissions.AllowAny]
    renderer_classes = FAST_JSON

    @extend_schema(
        parameters=[*_FILTER_PARAMS],
        responses=inline_serializer("TextbookTree", {
            "count": serializers.IntegerField(help_text="Resources passing every filter"),
            "path": inline_serializer("TextbookTreeStep", {
                "level": serializers.CharField(), "value": serializers.CharField(),
                "filters": serializers.DictField(child=serializers.CharField()),
                "count": serializers.IntegerField()}, many=True),
            "tree": _TREE_NODE,
        }),
        examples=[OpenApiExample("初中", response_only=True, description="GET /api/v1/browse?stage=初中", value={
            "count": 4210, "path": [{"level": "stage", "value": "初中", "filters": {"stage": "初中"}, "count": 4210}],
            "tree": _TREE_EXAMPLE})],
    )
    def get(self, request):
        return Response(browse(filters=filters_of(request.query_params)))


def filters_of(params) -> dict[str, tuple[str, ...]]:
    """The filters of a query string: each facet field's non-blank values, once each."""
    return {
        name: tuple(dict.fromkeys(v.strip() for v in params.getlist(name) if v.strip()))
        for name in FACET_FIELDS if any(v.strip() for v in params.getlist(name))
    }
