"""Teachers sharing their own lessons (一师一优课) with their school as the publishing organisation: the
school administrator's consent (``SchoolSharingConsent``), which also accepts the node's content commitment
for the school. A teacher then deposits, edits and submits their own resources like a publisher
(``catalog.permissions.teacher_may_share`` / ``can_edit``), through the same review."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from catalog.errors import CommitmentOutdatedError
from catalog.models import CommitmentAcceptance, SchoolSharingConsent
from catalog.permissions import school_lets_teachers_share
from catalog.review.commitment import commitment_current
from exchange.api import ExchangeAPIView, HasRole
from exchange.audit import audit_record
from exchange.errors import PermissionDeniedError
from exchange.models import Organisation
from exchange.openapi import error_response
from exchange.roles import Role, user_has_role


def _admin_school(actor: Any) -> Organisation:
    school = getattr(actor, "organisation", None)
    if not user_has_role(actor, Role.SCHOOL_ADMIN) or school is None or school.kind != Organisation.Kind.SCHOOL:
        raise PermissionDeniedError("Only a school administrator of a school decides on teachers' sharing.")
    return school


def sharing_consent_of(school: Organisation | None) -> bool:
    return school_lets_teachers_share(school)


def sharing_consent_get(school: Organisation | None) -> SchoolSharingConsent | None:
    """The school's consent record — on or off, who switched it last and when — or None if never set."""
    if school is None:
        return None
    return SchoolSharingConsent.objects.filter(school=school).select_related("updated_by").first()


@transaction.atomic
def school_sharing_set(*, actor: Any, allowed: bool, commitment_version: int | None = None) -> SchoolSharingConsent:
    """Let the school's teachers share their own lessons as the school (or stop it). Allowing accepts the
    node's current content commitment for the school: ``commitment_version`` must be the current one
    (CommitmentOutdatedError otherwise). Raises PermissionDeniedError unless ``actor`` is a school
    administrator of a school. Stopping leaves resources already shared with the school as they are; their
    teachers can no longer edit them (the school's publishers can)."""
    school = _admin_school(actor)
    now = timezone.now()
    if allowed:
        current = commitment_current()
        if commitment_version != current.version:
            raise CommitmentOutdatedError(details={"version": commitment_version, "current": current.version})
        CommitmentAcceptance.objects.get_or_create(organisation=school, commitment=current, defaults={
            "accepted_by": actor, "accepted_by_name": (actor.display_name or actor.username)[:150],
            "accepted_at": now})
    consent, _created = SchoolSharingConsent.objects.select_for_update().get_or_create(
        school=school, defaults={"updated_at": now})
    consent.teachers_may_share, consent.updated_by, consent.updated_at = bool(allowed), actor, now
    consent.save(update_fields=["teachers_may_share", "updated_by", "updated_at"])
    audit_record(action="school.sharing_consent", actor=actor, object_type="organisation", object_id=school.pk,
                 data={"teachers_may_share": bool(allowed), "commitment_version": commitment_version})
    return consent


SHARING = inline_serializer("SchoolSharing", {"teachers_may_share": serializers.BooleanField(),
                                              "commitment_version": serializers.IntegerField()})


class SchoolSharingApi(ExchangeAPIView):
    """GET: whether the school's teachers may share their own lessons as the school, and the content commitment
    version consenting accepts. PUT: allow (with ``commitment_version``, the current one) or stop it.
    Permission: school administrator role (their own school)."""

    permission_classes = [HasRole.of(Role.SCHOOL_ADMIN)]

    class SharingInputSerializer(serializers.Serializer):
        teachers_may_share = serializers.BooleanField()
        commitment_version = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1)

    body_fields = {"put": SharingInputSerializer}

    def _data(self, request) -> dict[str, Any]:
        return {"teachers_may_share": sharing_consent_of(_admin_school(request.user)),
                "commitment_version": commitment_current().version}

    @extend_schema(responses={200: OpenApiResponse(SHARING, examples=[OpenApiExample("on", value={
        "teachers_may_share": True, "commitment_version": 1})])})
    def get(self, request):
        return Response(self._data(request))

    @extend_schema(request=SharingInputSerializer, responses={
        200: OpenApiResponse(SHARING, examples=[OpenApiExample("on", value={"teachers_may_share": True,
                                                                             "commitment_version": 1})]),
        409: error_response("The commitment version is not the current one.",
                            ("commitment_outdated", "The content commitment has a newer version.",
                             {"version": None, "current": 2}))})
    def put(self, request):
        serializer = self.SharingInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        school_sharing_set(actor=request.user, allowed=serializer.validated_data["teachers_may_share"],
                           commitment_version=serializer.validated_data.get("commitment_version"))
        return Response(self._data(request))
