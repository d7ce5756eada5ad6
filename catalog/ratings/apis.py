"""Ratings API: a resource's ratings and summary (anyone who may see it; held and hidden comments for its
publisher's members and its province's reviewers), the teacher's own rating (PUT), a reviewer hiding or
showing a comment, the publisher's feedback list."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import permissions, serializers
from rest_framework.response import Response

from catalog import selectors as catalog_selectors
from catalog.ratings import selectors, services
from exchange.api import ExchangeAPIView, HasRole
from exchange.openapi import error_response
from exchange.pagination import paginate
from exchange.roles import Role

RATING = inline_serializer("Rating", {
    "id": serializers.IntegerField(), "resource": serializers.UUIDField(), "stars": serializers.IntegerField(),
    "comment": serializers.CharField(), "author": serializers.CharField(), "school": serializers.CharField(),
    "created_at": serializers.DateTimeField(), "updated_at": serializers.DateTimeField(),
    "comment_status": serializers.ChoiceField(["none", "visible", "held", "hidden"], required=False,
                                              help_text="Only for the publisher's members and reviewers"),
    "findings": serializers.ListField(child=serializers.DictField(), required=False),
    "moderation_reason": serializers.CharField(required=False)})
RATING_EXAMPLE = {"id": 3, "resource": "0b7f3c1e-2d4a-4d0e-9a51-6f0c8e2b7d11", "stars": 5,
                  "comment": "例题难度梯度合理，课堂上很好用。", "author": "王老师", "school": "城区实验中学",
                  "created_at": "2026-09-08T08:00:00+08:00", "updated_at": "2026-09-08T08:00:00+08:00"}
SUMMARY = inline_serializer("RatingSummary", {
    "count": serializers.IntegerField(), "mean": serializers.FloatField(allow_null=True),
    "score": serializers.FloatField(help_text="Bayesian average (the search sort key)")})
RATINGS_PAGE = inline_serializer("RatingPage", {
    "summary": SUMMARY, "mine": RATING, "count": serializers.IntegerField(), "results": RATING})
COMMENT_REFUSED = error_response(
    "Stars outside 1–5, a comment too long, or a comment the machine pre-review refuses.",
    ("invalid_input", "stars must be a whole number from 1 to 5.", {"stars": ["From 1 to 5."]}),
    ("comment_refused", "The comment contains words that may not be published (machine pre-review).",
     {"findings": [{"code": "negative_term", "field": "comment", "category": "政治有害"}]}))


class ResourceRatingsApi(ExchangeAPIView):
    """GET: the resource's rating summary (Bayesian score), the caller's own rating and the ratings with
    their comments. PUT: rate it (1–5) with an optional comment; again to change the rating. Permission:
    GET anyone who may see the resource; PUT teachers (published resources)."""

    permission_classes = [permissions.AllowAny]

    class RateInputSerializer(serializers.Serializer):
        stars = serializers.IntegerField(min_value=1, max_value=5)
        comment = serializers.CharField(required=False, allow_blank=True, max_length=services.MAX_COMMENT_LENGTH)

    body_fields = {"put": RateInputSerializer}

    @extend_schema(responses={200: OpenApiResponse(RATINGS_PAGE, examples=[OpenApiExample("ratings", value={
        "summary": {"count": 1, "mean": 5.0, "score": 3.18}, "mine": None, "count": 1, "results": [RATING_EXAMPLE]})])})
    def get(self, request, resource_id):
        resource = catalog_selectors.resource_get(user=request.user, resource_id=resource_id)
        full = selectors.may_see_all_comments(request.user, resource)
        count, items = paginate(selectors.rating_list(user=request.user, resource=resource), request.query_params)
        mine = selectors.rating_of(user=request.user, resource=resource)
        return Response({"summary": selectors.rating_summary(resource),
                         "mine": selectors.rating_data(mine, full=True) if mine else None, "count": count,
                         "results": [selectors.rating_data(r, full=full) for r in items]})

    @extend_schema(request=RateInputSerializer, responses={
        200: OpenApiResponse(RATING, examples=[OpenApiExample("rated", value={
            **RATING_EXAMPLE, "comment_status": "visible", "findings": [], "moderation_reason": ""})]),
        400: COMMENT_REFUSED,
        403: error_response("Not a teacher.", ("rating_not_allowed", "Only teachers may rate resources.", None)),
        409: error_response("The resource is not published.",
                            ("rating_closed", "Only published resources can be rated.", None))})
    def put(self, request, resource_id):
        if not request.user.is_authenticated:
            self.permission_denied(request)
        resource = catalog_selectors.resource_get(user=request.user, resource_id=resource_id)
        serializer = self.RateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rating = services.rating_set(user=request.user, resource=resource, stars=serializer.validated_data["stars"],
                                     comment=serializer.validated_data.get("comment", ""))
        return Response(selectors.rating_data(rating, full=True))


class RatingModerateApi(ExchangeAPIView):
    """Hide a comment (with a reason) or show a held or hidden one. The stars still count. Permission:
    reviewer role + the review right on the resource (its province); others get rating_not_found."""

    permission_classes = [HasRole.of(Role.REVIEWER)]

    class ModerateInputSerializer(serializers.Serializer):
        action = serializers.ChoiceField(choices=["hide", "show"])
        reason = serializers.CharField(required=False, allow_blank=True, max_length=500)

    body_fields = {"post": ModerateInputSerializer}

    @extend_schema(request=ModerateInputSerializer, responses={
        200: OpenApiResponse(RATING, examples=[OpenApiExample("hidden", value={
            **RATING_EXAMPLE, "comment_status": "hidden", "findings": [], "moderation_reason": "广告内容"})]),
        400: error_response("A hide without a reason.", ("invalid_input", "A reason is required to hide a comment.",
                                                         {"reason": ["Required."]})),
        404: error_response("No such rating with a comment in the reviewer's province.",
                            ("rating_not_found", "No such rating.", None))})
    def post(self, request, rating_id):
        serializer = self.ModerateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rating = services.rating_moderate(actor=request.user, rating_id=rating_id,
                                          action=serializer.validated_data["action"],
                                          reason=serializer.validated_data.get("reason", ""))
        return Response(selectors.rating_data(rating, full=True))


class PublisherFeedbackApi(ExchangeAPIView):
    """Ratings and comments (every status) on the resources of the publisher's organisation, newest first.
    Permission: publisher role (their own organisation's resources)."""

    permission_classes = [HasRole.of(Role.PUBLISHER)]

    @extend_schema(responses={200: OpenApiResponse(
        inline_serializer("FeedbackPage", {"count": serializers.IntegerField(), "results": RATING}),
        examples=[OpenApiExample("feedback", value={"count": 1, "results": [{
            **RATING_EXAMPLE, "comment_status": "visible", "findings": [], "moderation_reason": ""}]})])})
    def get(self, request):
        count, items = paginate(selectors.publisher_feedback(user=request.user), request.query_params)
        return Response({"count": count, "results": [{**selectors.rating_data(r, full=True),
                                                      "title": r.resource.title} for r in items]})
