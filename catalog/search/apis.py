"""Search API: ``GET /api/v1/search`` and ``GET /api/v1/search/suggest``."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import permissions, serializers
from rest_framework.response import Response

from catalog.search import search, suggest
from catalog.search.base import FACET_FIELDS, SORTS, SearchRequest
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
    "cover": serializers.CharField(allow_null=True, help_text="Path of the cover image (first page or poster "
                                   "frame) when there is one and you may preview the resource, e.g. "
                                   "/resources/3f0c…/cover; else null"),
}


class SearchApi(ExchangeAPIView):
    """Search the published catalog. Permission: anyone (the index holds published resources only).

    ``q`` is optional: without it, the filters are browsed newest first. Each result may carry
    more keys added by the configured annotators (e.g. price and licence decision for this user)."""

    permission_classes = [permissions.AllowAny]

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
        }),
    )
    def get(self, request):
        params = request.query_params
        page, page_size = page_params(params)
        filters = {
            name: tuple(dict.fromkeys(v.strip() for v in params.getlist(name) if v.strip()))
            for name in FACET_FIELDS if any(v.strip() for v in params.getlist(name))
        }
        search_request = SearchRequest(q=params.get("q", "").strip(), filters=filters,
                                       sort=params.get("sort", "").strip(), page=page, page_size=page_size)
        return Response(search(user=request.user, request=search_request))


class SearchSuggestApi(ExchangeAPIView):
    """Completions for the search box: vocabulary and topic terms, then titles, by how many
    published resources carry them. Permission: anyone."""

    permission_classes = [permissions.AllowAny]

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
