"""Review API: one resource's review state, its open revision and its history; the province's queue,
what is due for re-review and the two-person rule; the content commitment."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, inline_serializer
from rest_framework import permissions, serializers, status
from rest_framework.response import Response

from catalog import selectors, services
from catalog.permissions import can_see_unpublished
from catalog.review import commitment, decisions, revisions
from catalog.review import selectors as review_selectors
from catalog.review.serializers import (
    CommitmentSchema,
    HistorySchema,
    PolicySchema,
    QueueItemSchema,
    ReviewStateSchema,
    Revision,
    commitment_data,
    history_data,
    policy_data,
    queue_item_data,
    review_state_data,
    revision_data,
)
from catalog.serializers import ResourceSerializer
from exchange.api import ExchangeAPIView, HasRole
from exchange.errors import InvalidInputError, PermissionDeniedError
from exchange.inputs import whole_number
from exchange.openapi import error_response
from exchange.pagination import paginate
from exchange.roles import Role

IsPublisher = HasRole.of(Role.PUBLISHER)
IsReviewer = HasRole.of(Role.REVIEWER)
IsReviewerOrProvinceAdmin = HasRole.of(Role.REVIEWER, Role.PROVINCE_ADMIN)

NOT_FOUND = error_response("No such resource (or one this user may not see).",
                           ("resource_not_found", "No such resource.", None))
NO_REVISION = error_response("No such resource, or no open revision of it that this user may see.",
                             ("resource_not_found", "No such resource.", None),
                             ("revision_not_found", "The resource has no open revision.", None))


class ResourceReviewApi(ExchangeAPIView):
    """The review state of a resource: the submission under review (the resource itself, or the open
    revision of a published one with the diff from the live version), the decisions on it so far, the
    approvals the province needs, the machine's findings, the approval checks' problems, the publishing
    organisation's content commitment and the last rejection with its notes per field. Permission: the
    publisher's members (publisher role) and the province's reviewers."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses={200: ReviewStateSchema, 403: error_response(
        "The user sees the (published) resource but not its review.",
        ("permission_denied", "Only the publisher's members and the province's reviewers see the review.", None)),
        404: NOT_FOUND})
    def get(self, request, resource_id):
        resource = selectors.resource_get(user=request.user, resource_id=resource_id)
        if not can_see_unpublished(request.user, resource):
            raise PermissionDeniedError("Only the publisher's members and the province's reviewers see the review.")
        return Response(review_state_data(review_selectors.review_state(resource=resource)))


class ResourceRevisionApi(ExchangeAPIView):
    """GET the open revision of a published resource (proposed metadata, rights and files, and the diff
    from the live version); DELETE cancels it (the live version stays). Permission: GET the publisher's
    members and the province's reviewers; DELETE publisher role + edit right."""

    def get_permissions(self):
        return [IsPublisher()] if self.request.method == "DELETE" else [permissions.IsAuthenticated()]

    permission_classes = [permissions.IsAuthenticated]
    body_fields = {"delete": ()}

    @extend_schema(responses={200: Revision, 404: NO_REVISION})
    def get(self, request, resource_id):
        resource = selectors.resource_get(user=request.user, resource_id=resource_id)
        revision = review_selectors.revision_get(user=request.user, resource=resource)
        return Response(revision_data(revision, diff=revisions.revision_diff(revision)))

    @extend_schema(request=None, responses={200: Revision, 404: NO_REVISION, 403: error_response(
        "Not a member of the resource's publisher.",
        ("not_publisher_member", "Only members of the resource's publisher may change it.", None))})
    def delete(self, request, resource_id):
        resource = selectors.resource_get(user=request.user, resource_id=resource_id)
        revision = revisions.revision_cancel(user=request.user, resource=resource)
        return Response(revision_data(revision))


class ResourceHistoryApi(ExchangeAPIView):
    """Every version of a resource that went live, newest first, with what changed from the one before
    (remote resources: the versions this node applied, from the origin's signed records); for the
    publisher's members and the province's reviewers also every revision with its decisions and each
    version's approvals. Permission: anyone who may see the resource."""

    permission_classes = [permissions.AllowAny]

    @extend_schema(responses={200: HistorySchema, 404: NOT_FOUND})
    def get(self, request, resource_id):
        resource = selectors.resource_get(user=request.user, resource_id=resource_id)
        return Response(history_data(review_selectors.resource_history(user=request.user, resource=resource)))


class ResourceRereviewApi(ExchangeAPIView):
    """Periodic re-review (时效性): confirm that a published resource still passes the seven dimensions
    and set its next review-by date (default: by its type). A resource that no longer passes is withdrawn
    instead (``POST …/withdraw``, reason ``review_revoked``). Permission: reviewer role + review right."""

    permission_classes = [IsReviewer]
    body_fields = {"post": {"note", "dimensions", "review_by"}}

    @extend_schema(request=inline_serializer("Rereview", {
        "note": serializers.CharField(required=False),
        "dimensions": serializers.DictField(required=False, help_text="all seven, each pass"),
        "review_by": serializers.DateField(required=False)}),
        responses={200: ResourceSerializer, 404: NOT_FOUND, 409: error_response(
            "Not published.", ("invalid_transition", "A draft resource cannot become published.", None))})
    def post(self, request, resource_id):
        resource = selectors.resource_get(user=request.user, resource_id=resource_id)
        services.resource_rereview_confirm(user=request.user, resource=resource, note=request.data.get("note"),
                                           dimensions=request.data.get("dimensions"),
                                           review_by=request.data.get("review_by"))
        return Response(ResourceSerializer(selectors.resource_get(user=request.user, resource_id=resource_id)).data)


class ReviewQueueApi(ExchangeAPIView):
    """Submissions waiting in this reviewer's province — new resources (``kind`` new) and revisions of
    published ones (``kind`` revision) — oldest first, with the approvals so far and the machine's
    findings. ``status``: submitted (default), approved, rejected. Permission: reviewer role."""

    permission_classes = [IsReviewer]

    @extend_schema(parameters=[OpenApiParameter("status", str, description="submitted (default), approved or rejected"),
                               OpenApiParameter("page", int), OpenApiParameter("page_size", int)],
                   responses=inline_serializer("ReviewQueue", {
                       "count": serializers.IntegerField(), "results": QueueItemSchema.__class__(many=True)}))
    def get(self, request):
        queue = review_selectors.review_queue_items(user=request.user,
                                                    status=request.query_params.get("status") or "submitted")
        count, items = paginate(queue, request.query_params)
        return Response({"count": count, "results": [queue_item_data(item) for item in items]})


class ReviewDueApi(ExchangeAPIView):
    """Published resources of the user's province due for re-review within ``within_days`` (default 30;
    overdue ones too), soonest first. Permission: reviewer or province administrator role (of a bureau)."""

    permission_classes = [IsReviewerOrProvinceAdmin]

    @extend_schema(parameters=[OpenApiParameter("within_days", int), OpenApiParameter("page", int),
                               OpenApiParameter("page_size", int)],
                   responses=inline_serializer("ReviewDue", {
                       "count": serializers.IntegerField(), "results": ResourceSerializer(many=True)}))
    def get(self, request):
        try:
            within = whole_number(request.query_params.get("within_days") or 30, minimum=0, maximum=3650)
        except ValueError:
            raise InvalidInputError(details={"within_days": ["A whole number of days from 0 to 3650."]}) from None
        count, items = paginate(review_selectors.rereview_due(user=request.user, within_days=within),
                                request.query_params)
        return Response({"count": count, "results": [ResourceSerializer(r).data | {"review_by": r.review_by}
                                                     for r in items]})


class ReviewPolicyApi(ExchangeAPIView):
    """GET the review policy of the user's province; PUT switches its two-person rule (a second, different
    reviewer must concur before an approval takes effect). Permission: GET reviewer or province
    administrator; PUT province administrator (of a bureau)."""

    def get_permissions(self):
        return [HasRole.of(Role.PROVINCE_ADMIN)()] if self.request.method == "PUT" else [IsReviewerOrProvinceAdmin()]

    permission_classes = [IsReviewerOrProvinceAdmin]
    body_fields = {"put": {"two_person_rule"}}

    def _province(self, request) -> str:
        province = (decisions.policy_province_of(request.user)
                    or review_selectors.rereview_province_of(request.user))
        if province is None:
            raise PermissionDeniedError("Only members of a province bureau have a review policy.")
        return province

    @extend_schema(responses={200: PolicySchema})
    def get(self, request):
        return Response(policy_data(decisions.review_policy_get(province=self._province(request))))

    @extend_schema(request=inline_serializer("ReviewPolicySet", {"two_person_rule": serializers.BooleanField()}),
                   responses={200: PolicySchema, 403: error_response(
                       "Not a province administrator.",
                       ("permission_denied", "Only a province's administrators set its review policy.", None))},
                   examples=[OpenApiExample("two reviewers", value={"two_person_rule": True}, request_only=True)])
    def put(self, request):
        policy = decisions.review_policy_set(user=request.user,
                                             two_person_rule=request.data.get("two_person_rule"))
        return Response(policy_data(policy))


class CommitmentApi(ExchangeAPIView):
    """GET the node's current content commitment (承诺书) in Chinese and English, with whether the user's
    organisation accepted it (or an earlier version); POST publishes a new version. Permission: GET
    anyone; POST hub operators and superusers."""

    def get_permissions(self):
        return [permissions.IsAuthenticated()] if self.request.method == "POST" else [permissions.AllowAny()]

    permission_classes = [permissions.AllowAny]
    body_fields = {"post": {"text_zh", "text_en"}}

    @extend_schema(responses={200: CommitmentSchema})
    def get(self, request):
        org = getattr(request.user, "organisation", None) if request.user.is_authenticated else None
        return Response(commitment_data(commitment.commitment_current(), commitment.commitment_acceptance_of(org)))

    @extend_schema(request=inline_serializer("CommitmentPublish", {
        "text_zh": serializers.CharField(), "text_en": serializers.CharField()}),
        responses={201: CommitmentSchema, 403: error_response(
            "Not a hub operator or superuser.",
            ("permission_denied", "Only hub operators and superusers set the content commitment.", None))})
    def post(self, request):
        new = commitment.commitment_publish(user=request.user, text_zh=request.data.get("text_zh"),
                                            text_en=request.data.get("text_en"))
        return Response(commitment_data(new, None), status=status.HTTP_201_CREATED)


class CommitmentAcceptApi(ExchangeAPIView):
    """A publisher accepts the current content commitment for their organisation (needed before its first
    submission). ``version``: the version read. Permission: publisher role (publisher or school
    organisation)."""

    permission_classes = [IsPublisher]
    body_fields = {"post": {"version"}}

    @extend_schema(request=inline_serializer("CommitmentAccept", {"version": serializers.IntegerField()}),
                   responses={200: CommitmentSchema, 409: error_response(
                       "A newer version exists.", ("commitment_outdated", "A newer version of the content "
                                                   "commitment exists; read and accept that one.",
                                                   {"version": 1, "current": 2}))})
    def post(self, request):
        try:
            version = whole_number(request.data.get("version"), minimum=1, maximum=2**31 - 1)
        except ValueError:
            raise InvalidInputError(details={"version": ["The version of the commitment read."]}) from None
        acceptance = commitment.commitment_accept(user=request.user, version=version)
        return Response(commitment_data(acceptance.commitment, acceptance))

