"""Remix lineage (改编谱系): the resource a resource derives from (``RightsStatement.derived_from``, carried in
the signed federation record as ``rights.derived_from``) and the published resources that derive from it.
Only what the user may see is named (``catalog.permissions.can_see``): a source that is not visible is
given by id alone."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import permissions, serializers
from rest_framework.response import Response

from catalog import selectors
from catalog.models import Resource
from catalog.permissions import can_see
from exchange.api import ExchangeAPIView

MAX_DERIVATIVES = 50


def _brief(resource: Resource) -> dict[str, Any]:
    rights = getattr(resource, "rights", None)
    return {"id": str(resource.pk), "title": resource.title, "publisher": resource.publisher_name,
            "origin_node": resource.origin_node, "license": rights.license_id if rights else None,
            "holder": rights.holder if rights else None, "url": f"/resources/{resource.pk}"}


def resource_lineage(*, user: Any, resource: Resource) -> dict[str, Any]:
    rights = getattr(resource, "rights", None)
    source: dict[str, Any] | None = None
    if rights is not None and rights.derived_from is not None:
        found = Resource.objects.select_related("rights").filter(pk=rights.derived_from).first()
        source = _brief(found) if found is not None and can_see(user, found) else {
            "id": str(rights.derived_from), "title": None, "publisher": None, "origin_node": None, "license": None,
            "holder": None, "url": None}
    derivatives = (selectors.resource_list_public().filter(rights__derived_from=resource.pk)
                   .select_related("rights").order_by("-published_at")[:MAX_DERIVATIVES])
    return {"derived_from": source, "derivatives": [_brief(r) for r in derivatives]}


BRIEF = inline_serializer("LineageResource", {
    "id": serializers.UUIDField(), "title": serializers.CharField(allow_null=True),
    "publisher": serializers.CharField(allow_null=True), "origin_node": serializers.CharField(allow_null=True),
    "license": serializers.CharField(allow_null=True), "holder": serializers.CharField(allow_null=True),
    "url": serializers.CharField(allow_null=True)})
EXAMPLE = {"derived_from": {"id": "0b7f3c1e-2d4a-4d0e-9a51-6f0c8e2b7d11", "title": "有理数 教学课件",
                            "publisher": "广东教育出版社", "origin_node": "cn-44", "license": "CC-BY-SA-4.0",
                            "holder": "广东教育出版社", "url": "/resources/0b7f3c1e-2d4a-4d0e-9a51-6f0c8e2b7d11"},
           "derivatives": []}


class ResourceLineageApi(ExchangeAPIView):
    """The resource's source (what it was remixed from) and its published derivatives. Permission: anyone
    who may see the resource; a source they may not see is named by id only."""

    permission_classes = [permissions.AllowAny]

    @extend_schema(responses={200: OpenApiResponse(
        inline_serializer("Lineage", {"derived_from": BRIEF, "derivatives": BRIEF}),
        examples=[OpenApiExample("remix", value=EXAMPLE)])})
    def get(self, request, resource_id):
        resource = selectors.resource_get(user=request.user, resource_id=resource_id)
        return Response(resource_lineage(user=request.user, resource=resource))
