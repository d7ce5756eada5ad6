"""Catalog API: deposit, read, edit and review resources; vocabularies."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import parsers, permissions, serializers, status
from rest_framework.response import Response
from rest_framework.settings import api_settings

from catalog import selectors, services
from catalog.jsonld import JSONLDRenderer, resource_jsonld
from catalog.models import Resource, RevisionFile, Term
from catalog.parsers import UploadMultiPartParser
from catalog.review import revisions
from catalog.review import selectors as review_selectors
from catalog.review.decisions import REJECT_REASON_CODES
from catalog.review.serializers import Revision, revision_data, revision_file_data
from catalog.serializers import ResourceFileSerializer, ResourceSerializer
from exchange.api import ExchangeAPIView, HasRole
from exchange.errors import InvalidInputError
from exchange.inputs import MAX_NOTE_LENGTH, InputBoundsError, clean_text, loads_bounded
from exchange.openapi import error_response
from exchange.pagination import paginate
from exchange.parsers import JSONParser
from exchange.roles import Role

IsReviewer = HasRole.of(Role.REVIEWER)
IsDepositor = HasRole.of(Role.PUBLISHER, Role.TEACHER)  # teachers: the service asks teacher_may_share


#: Deposits and file additions: JSON, or multipart with files (unsafe file names refused).
UPLOAD_PARSERS = [JSONParser, UploadMultiPartParser, parsers.FormParser]
SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")


def _json_field(request, name: str) -> dict[str, Any] | None:
    """A JSON object sent either as a JSON body key or as a multipart form field holding JSON (with
    the JSON body's bounds, see ``exchange.inputs``); None when absent."""
    raw = request.data.get(name)
    if raw is not None and not isinstance(raw, dict):
        if not isinstance(raw, str):
            raise InvalidInputError(f"{name} must be a JSON object.", details={name: ["A JSON object."]})
        try:
            raw = loads_bounded(raw, max_depth=settings.API_JSON_MAX_DEPTH)
        except InputBoundsError as exc:
            raise InvalidInputError(f"{name} must be a JSON object.", details={name: [str(exc)]}) from exc
    if raw is not None and not isinstance(raw, dict):
        raise InvalidInputError(f"{name} must be a JSON object.", details={name: ["A JSON object."]})
    return raw


def _text_field(request, name: str, *, max_length: int = MAX_NOTE_LENGTH) -> str:
    return clean_text(request.data.get(name), field=name, max_length=max_length)


def _uploaded_files(request, checksums: dict[str, Any] | None) -> list[services.UploadedFile]:
    files = request.FILES.getlist("files")
    checksums = checksums or {}
    names = {f.name for f in files}
    problems = {name: ["No file of this name was sent."] for name in checksums if name not in names}
    problems |= {name: ["A sha256 as 64 hexadecimal digits."] for name, value in checksums.items()
                 if name in names and not (isinstance(value, str) and SHA256_HEX.fullmatch(value))}
    if problems:
        raise InvalidInputError("checksums must map the names of the files sent to their sha256.",
                                details={"checksums": problems})
    return [services.UploadedFile(stream=f, name=f.name, sha256=checksums.get(f.name)) for f in files]


DEPOSIT_DOC = (
    "multipart/form-data: `metadata` (JSON: title, description, keywords, stage, subject, grade, edition, volume, "
    "chapter, section, resource_type, language, textbook_id), `rights` (JSON: holder, year, license, attribution, "
    "territory, audience, price, free_for, grant_days, term_end, embargo_until), optional `checksums` (JSON: file "
    "name → sha256) and one or more `files`."
)


class ResourceListCreateApi(ExchangeAPIView):
    """GET: published resources (anyone), or with ``mine=1`` the publisher's own resources, each with its
    ``pending_revision`` (the open revision's id, number, status and reviewer's note, or null).
    POST: deposit a new draft. Permission: GET anyone; POST publisher role, or a teacher whose school's
    administrator lets teachers share as the school (``catalog.permissions.teacher_may_share``)."""

    def get_permissions(self):
        return [permissions.AllowAny()] if self.request.method == "GET" else [IsDepositor()]

    permission_classes = [permissions.AllowAny]
    parser_classes = UPLOAD_PARSERS
    body_fields = {"post": {"metadata", "rights", "checksums", "files"}}

    @extend_schema(parameters=[OpenApiParameter("mine", bool), OpenApiParameter("status", str),
                               OpenApiParameter("page", int), OpenApiParameter("page_size", int)],
                   responses=ResourceSerializer(many=True))
    def get(self, request):
        if request.query_params.get("mine") in ("1", "true"):
            qs = selectors.resource_list_for_publisher(user=request.user, status=request.query_params.get("status"))
            count, items = paginate(qs.order_by("-updated_at"), request.query_params)
            pending = review_selectors.pending_revisions(resource_ids=[r.pk for r in items])
            return Response({"count": count, "results": [
                ResourceSerializer(r).data | {"pending_revision": None if r.pk not in pending else {
                    "id": pending[r.pk].pk, "number": pending[r.pk].number, "status": pending[r.pk].status,
                    "review_note": pending[r.pk].review_note}} for r in items]})
        count, items = paginate(selectors.resource_list_public().order_by("-published_at"), request.query_params)
        return Response({"count": count, "results": ResourceSerializer(items, many=True).data})

    @extend_schema(description=DEPOSIT_DOC, request=inline_serializer("Deposit", {
        "metadata": serializers.JSONField(), "rights": serializers.JSONField(),
        "checksums": serializers.JSONField(required=False),
        "files": serializers.ListField(child=serializers.FileField(), required=False)}),
        responses={201: ResourceSerializer})
    def post(self, request):
        metadata = _json_field(request, "metadata")
        if not isinstance(metadata, dict):
            raise InvalidInputError("metadata is required.", details={"metadata": ["Required JSON object."]})
        resource = services.resource_create(
            user=request.user, metadata=metadata, rights=_json_field(request, "rights"),
            files=_uploaded_files(request, _json_field(request, "checksums")),
        )
        resource = selectors.resource_get(user=request.user, resource_id=resource.pk)
        return Response(ResourceSerializer(resource).data, status=status.HTTP_201_CREATED)


class ResourceDetailApi(ExchangeAPIView):
    """GET one resource (published: anyone; otherwise its publisher's members and reviewers);
    ``?format=jsonld`` gives it as schema.org LearningResource JSON-LD (``application/ld+json``).
    PATCH metadata/rights. Permission: GET anyone (filtered); PATCH publisher role + object right, or a
    teacher sharing as their school for a lesson they deposited (``catalog.permissions.can_edit``; the school
    stays the rights holder)."""

    def get_permissions(self):
        return [permissions.AllowAny()] if self.request.method == "GET" else [IsDepositor()]

    permission_classes = [permissions.AllowAny]
    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, JSONLDRenderer]
    body_fields = {"patch": {"metadata", "rights"}}

    @extend_schema(responses=ResourceSerializer)
    def get(self, request, resource_id):
        resource = selectors.resource_get(user=request.user, resource_id=resource_id)
        if request.accepted_renderer.format == JSONLDRenderer.format:
            return Response(resource_jsonld(resource, base_url=settings.EXCHANGE_BASE_URL))
        return Response(ResourceSerializer(resource).data)

    @extend_schema(
        description="A draft or rejected resource is changed in place (200, the resource). A published one is "
                    "not: the change goes into its revision (202, the revision with the diff from the live "
                    "version), which goes live only when a reviewer approves it (`POST …/submit`, then "
                    "`approve`). While the revision is submitted further edits are refused (409 "
                    "`revision_in_review`).",
        request=inline_serializer("ResourcePatch", {
            "metadata": serializers.JSONField(required=False), "rights": serializers.JSONField(required=False)}),
        responses={200: ResourceSerializer, 202: Revision, 409: error_response(
            "The resource (or its revision) cannot be edited now.",
            ("invalid_transition", "A submitted resource cannot be edited.", {"status": "submitted"}),
            ("revision_in_review", "A revision of this resource is waiting for review; it cannot be changed "
             "until it is decided (or cancelled by its publisher).", {"revision": 7}))})
    def patch(self, request, resource_id):
        resource = selectors.resource_get(user=request.user, resource_id=resource_id)
        services.resource_update(user=request.user, resource=resource,
                                 metadata=_json_field(request, "metadata"), rights=_json_field(request, "rights"))
        resource = selectors.resource_get(user=request.user, resource_id=resource_id)
        return _resource_or_revision(request, resource)


def _resource_or_revision(request, resource: Resource) -> Response:
    """After an edit: a published resource answers with its revision (202: not live yet), any other
    with itself (200)."""
    if resource.status == Resource.Status.PUBLISHED:
        revision = review_selectors.revision_get(user=request.user, resource=resource)
        return Response(revision_data(revision, diff=revisions.revision_diff(revision)),
                        status=status.HTTP_202_ACCEPTED)
    return Response(ResourceSerializer(resource).data)


class ResourceFilesApi(ExchangeAPIView):
    """Add files to a draft or rejected resource, or — for a published one — to its revision (they go live
    when it is approved). Permission: publisher role + object right, or a teacher sharing as their school for a
    lesson they deposited (``catalog.permissions.can_edit``)."""

    permission_classes = [IsDepositor]
    parser_classes = UPLOAD_PARSERS
    body_fields = {"post": {"files", "checksums"}}

    @extend_schema(request=inline_serializer("AddFiles", {
        "files": serializers.ListField(child=serializers.FileField()),
        "checksums": serializers.JSONField(required=False)}), responses={201: ResourceFileSerializer(many=True)})
    def post(self, request, resource_id):
        resource = selectors.resource_get(user=request.user, resource_id=resource_id)
        rows = services.resource_add_files(user=request.user, resource=resource,
                                           files=_uploaded_files(request, _json_field(request, "checksums")))
        data = [revision_file_data(row) if isinstance(row, RevisionFile) else ResourceFileSerializer(row).data
                for row in rows]
        return Response(data, status=status.HTTP_201_CREATED)


class ResourceFileDetailApi(ExchangeAPIView):
    """Remove a file from a draft or rejected resource (200, the resource), or from the revision of a
    published one (202, the revision: the live version keeps the file until the revision is approved, the
    versions that had it keep it after). Permission: publisher role + object right, or a teacher sharing as
    their school for a lesson they deposited (``catalog.permissions.can_edit``)."""

    permission_classes = [IsDepositor]
    body_fields = {"delete": ()}

    @extend_schema(request=None, responses={200: ResourceSerializer, 202: Revision, 404: error_response(
        "No such resource or file.", ("resource_not_found", "No such resource.", None),
        ("file_not_found", "The resource (or its open revision) has no file with this id.", None))})
    def delete(self, request, resource_id, file_id):
        resource = selectors.resource_get(user=request.user, resource_id=resource_id)
        services.resource_remove_file(user=request.user, resource=resource, file_id=file_id)
        return _resource_or_revision(request, selectors.resource_get(user=request.user, resource_id=resource_id))


class _TransitionApi(ExchangeAPIView):
    permission_classes = [permissions.IsAuthenticated]

    act: Any  # each subclass defines act(self, request, resource) -> Resource

    @extend_schema(request=inline_serializer("Transition", {
        "reason": serializers.CharField(required=False), "note": serializers.CharField(required=False)}),
        responses=ResourceSerializer)
    def post(self, request, resource_id):
        resource = selectors.resource_get(user=request.user, resource_id=resource_id)
        self.act(request, resource)
        return Response(ResourceSerializer(selectors.resource_get(user=request.user, resource_id=resource_id)).data)


class ResourceSubmitApi(_TransitionApi):
    """Send to review: a draft or rejected resource, or the revision of a published one. Refused with
    ``commitment_required`` (403) until the publishing organisation accepted the content commitment
    (``POST /api/v1/commitment/accept``). Permission: publisher role + object right, or a teacher sharing as
    their school for a resource they deposited (``catalog.permissions.can_edit``)."""

    permission_classes = [HasRole.of(Role.PUBLISHER, Role.TEACHER)]
    body_fields = {"post": ()}

    def act(self, request, resource):
        return services.resource_submit(user=request.user, resource=resource)


DIMENSIONS_HELP = ("The seven dimensions of the national rules, each pass or fail with a comment: "
                   "{\"political\": {\"result\": \"pass\", \"comment\": \"\"}, …} (political, orientation, "
                   "scientific, applicability, conformity, timeliness, public_welfare); a string pass|fail will do.")


class ResourceApproveApi(_TransitionApi):
    """Approve a submitted resource, or the submitted revision of a published one (which then becomes its
    live version). ``dimensions``: when given, all seven and all pass. ``review_by``: the date it is due
    for re-review (default by its type). Under the province's two-person rule the first approval is
    recorded and the submission waits for a different reviewer's concurrence (the second one of the same
    reviewer: 409 ``second_reviewer_required``). Permission: reviewer role + review right on the
    resource's province."""

    permission_classes = [IsReviewer]
    body_fields = {"post": {"note", "dimensions", "review_by"}}

    @extend_schema(request=inline_serializer("Approve", {
        "note": serializers.CharField(required=False),
        "dimensions": serializers.DictField(required=False, help_text=DIMENSIONS_HELP),
        "review_by": serializers.DateField(required=False)}),
        responses={200: ResourceSerializer, 409: error_response(
            "Not waiting for review, or the same reviewer twice under the two-person rule.",
            ("invalid_transition", "A draft resource cannot become approved.", {"status": "draft"}),
            ("second_reviewer_required", "The province requires two reviewers: you approved this submission "
             "already, another reviewer must concur.", {"approvals": 1})),
            422: error_response("An approval check failed on the content under review.",
                                ("approval_check_failed", "The resource cannot be approved: …",
                                 {"problems": [{"code": "priced_without_grant_term", "field": "grant_days",
                                                "message": "…"}]}))})
    def post(self, request, resource_id):
        return super().post(request, resource_id)

    def act(self, request, resource):
        return services.resource_approve(user=request.user, resource=resource, note=_text_field(request, "note"),
                                         dimensions=request.data.get("dimensions"),
                                         review_by=request.data.get("review_by"))


class ResourceRejectApi(_TransitionApi):
    """Reject a submitted resource, or the submitted revision of a published one, with a reason (required)
    the publisher sees, a ``reason_code`` (a dimension, rights, files, metadata, machine_finding or other;
    default: the first failed dimension, else other), the ``dimensions`` stated and ``field_notes`` (a note
    per field, shown beside it on the publisher's form). Permission: reviewer role + review right on the
    resource's province."""

    permission_classes = [IsReviewer]
    body_fields = {"post": {"reason", "reason_code", "dimensions", "field_notes"}}

    @extend_schema(request=inline_serializer("Reject", {
        "reason": serializers.CharField(),
        "reason_code": serializers.ChoiceField(choices=list(REJECT_REASON_CODES), required=False),
        "dimensions": serializers.DictField(required=False, help_text=DIMENSIONS_HELP),
        "field_notes": serializers.DictField(required=False, help_text='{"title": "…", "price": "…", "files": "…"}')}),
        responses={200: ResourceSerializer, 400: error_response(
            "No reason.", ("invalid_input", "A rejection needs a reason.", {"reason": ["This field is required."]}))})
    def post(self, request, resource_id):
        return super().post(request, resource_id)

    def act(self, request, resource):
        return services.resource_reject(user=request.user, resource=resource, reason=_text_field(request, "reason"),
                                        reason_code=request.data.get("reason_code"),
                                        dimensions=request.data.get("dimensions"),
                                        field_notes=request.data.get("field_notes"))


class ResourcePublishApi(_TransitionApi):
    """Publish an approved resource. Permission: publisher or reviewer role + object right."""

    permission_classes = [HasRole.of(Role.PUBLISHER, Role.REVIEWER)]
    body_fields = {"post": ()}

    def act(self, request, resource):
        return services.resource_publish(user=request.user, resource=resource)


class ResourceWithdrawApi(_TransitionApi):
    """Withdraw a published resource. Permission: publisher (own) or reviewer (province) + object right."""

    permission_classes = [HasRole.of(Role.PUBLISHER, Role.REVIEWER)]
    body_fields = {"post": {"reason", "note"}}

    def act(self, request, resource):
        reason = _text_field(request, "reason", max_length=64) or (
            "withdrawn_by_publisher" if services.can_edit(request.user, resource) else "review_revoked")
        return services.resource_withdraw(user=request.user, resource=resource, reason=reason,
                                          note=_text_field(request, "note"))


class VocabularyApi(ExchangeAPIView):
    """Every controlled vocabulary with Chinese and English labels. Permission: anyone."""

    permission_classes = [permissions.AllowAny]

    @extend_schema(responses=inline_serializer("Vocabularies", {"vocabularies": serializers.DictField()}))
    def get(self, request):
        out: dict[str, list[dict[str, Any]]] = {}
        for term in Term.objects.all():
            out.setdefault(term.vocabulary, []).append(
                {"code": term.code, "label": {"zh-Hans": term.label_zh, "en": term.label_en},
                 "parent": term.parent or None, "order": term.order})
        return Response({"vocabularies": out})


class ResourceFavouriteApi(ExchangeAPIView):
    """PUT bookmarks a published resource, DELETE removes the bookmark (both idempotent).
    Permission: authenticated."""

    permission_classes = [permissions.IsAuthenticated]
    body_fields = {"put": (), "delete": ()}

    @extend_schema(request=None, responses=inline_serializer("Favourite", {"favourite": serializers.BooleanField()}))
    def put(self, request, resource_id):
        resource = selectors.resource_get(user=request.user, resource_id=resource_id)
        services.favourite_add(user=request.user, resource=resource)
        return Response({"favourite": True})

    @extend_schema(request=None, responses=inline_serializer("FavouriteRemoved", {
        "favourite": serializers.BooleanField()}))
    def delete(self, request, resource_id):
        resource = selectors.resource_get(user=request.user, resource_id=resource_id)
        services.favourite_remove(user=request.user, resource=resource)
        return Response({"favourite": False})


class FavouriteListApi(ExchangeAPIView):
    """The signed-in user's bookmarked published resources. Permission: authenticated."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(parameters=[OpenApiParameter("page", int), OpenApiParameter("page_size", int)],
                   responses=ResourceSerializer(many=True))
    def get(self, request):
        count, items = paginate(selectors.favourite_list(user=request.user), request.query_params)
        return Response({"count": count, "results": ResourceSerializer(items, many=True).data})
