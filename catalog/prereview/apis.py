"""Pre-review API: a resource's findings (reviewers), the province's own negative-list entries and the
re-check report (province administrators), re-check items (reviewers). Thin views over the services and
selectors of this package."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response

from catalog import selectors as catalog_selectors
from catalog.errors import NotReviewerError
from catalog.models import NegativeTerm, RecheckItem, RecheckRun
from catalog.permissions import can_review
from catalog.prereview import selectors, services
from catalog.prereview.checks import prereview_content_for_resource
from catalog.prereview.errors import (
    NegativeTermNotFoundError,
    RecheckItemNotFoundError,
    RecheckRunNotFoundError,
)
from exchange.api import ExchangeAPIView, HasRole
from exchange.errors import InvalidInputError
from exchange.inputs import MAX_NOTE_LENGTH, clean_text
from exchange.pagination import paginate
from exchange.roles import Role

IsReviewer = HasRole.of(Role.REVIEWER)
IsProvinceAdmin = HasRole.of(Role.PROVINCE_ADMIN)
ENTRY_FIELDS = {"term", "category", "severity", "note"}


def entry_data(entry: NegativeTerm) -> dict[str, Any]:
    return {"id": str(entry.pk), "scope": entry.scope, "term": entry.term, "category": entry.category,
            "severity": entry.severity, "note": entry.note, "active": entry.active, "version": entry.version,
            "created_at": entry.created_at.isoformat(), "updated_at": entry.updated_at.isoformat()}


def item_data(item: RecheckItem) -> dict[str, Any]:
    return {"id": item.pk, "run": item.run_id, "resource": str(item.resource_id), "title": item.resource.title,
            "status": item.status, "list_version": item.run.list_version,
            "findings": [selectors.finding_dict(_FindingView(f)) for f in item.findings],
            "created_at": item.created_at.isoformat(),
            "resolved_at": item.resolved_at.isoformat() if item.resolved_at else None,
            "reason_code": item.reason_code, "note": item.note}


def run_data(run: RecheckRun) -> dict[str, Any]:
    return {"id": run.pk, "scope": run.scope, "list_version": run.list_version, "entries": run.entries,
            "status": run.status, "scanned": run.scanned, "matched": run.matched,
            "files_without_text": run.files_without_text, "received_from": run.received_from,
            "created_at": run.created_at.isoformat(),
            "finished_at": run.finished_at.isoformat() if run.finished_at else None}


class _FindingView:
    """A stored finding dict read like a finding row."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.code, self.severity, self.field = data.get("code"), data.get("severity"), data.get("field")
        self.message_zh, self.message_en = data.get("message_zh", ""), data.get("message_en", "")
        self.detail = data.get("detail") or {}


def _text(request, name: str, *, max_length: int = MAX_NOTE_LENGTH) -> Any:
    value = request.data.get(name)
    return None if value is None else clean_text(value, field=name, max_length=max_length)


FINDING = inline_serializer("PrereviewFinding", {
    "code": serializers.CharField(), "severity": serializers.ChoiceField(["hard", "soft"]),
    "field": serializers.CharField(), "message": serializers.CharField(), "detail": serializers.DictField()})
ENTRY = inline_serializer("NegativeTerm", {
    "id": serializers.UUIDField(), "scope": serializers.CharField(help_text="national or local"),
    "term": serializers.CharField(), "category": serializers.CharField(),
    "severity": serializers.ChoiceField(["hard", "soft"]), "note": serializers.CharField(),
    "active": serializers.BooleanField(), "version": serializers.IntegerField(),
    "created_at": serializers.DateTimeField(), "updated_at": serializers.DateTimeField()})
ITEM = inline_serializer("RecheckItem", {
    "id": serializers.IntegerField(), "run": serializers.IntegerField(), "resource": serializers.UUIDField(),
    "title": serializers.CharField(), "status": serializers.ChoiceField(RecheckItem.Status.values),
    "list_version": serializers.CharField(), "findings": FINDING.__class__(many=True),
    "created_at": serializers.DateTimeField(), "resolved_at": serializers.DateTimeField(allow_null=True),
    "reason_code": serializers.CharField(), "note": serializers.CharField()})
RUN_FIELDS = {
    "id": serializers.IntegerField(), "scope": serializers.CharField(help_text="national or local"),
    "list_version": serializers.CharField(), "entries": serializers.ListField(child=serializers.UUIDField()),
    "status": serializers.ChoiceField(RecheckRun.Status.values), "scanned": serializers.IntegerField(),
    "matched": serializers.IntegerField(), "files_without_text": serializers.IntegerField(),
    "received_from": serializers.CharField(), "created_at": serializers.DateTimeField(),
    "finished_at": serializers.DateTimeField(allow_null=True)}
RUN = inline_serializer("RecheckRun", RUN_FIELDS)
FINDINGS_RESPONSE = inline_serializer("PrereviewFindings", {
    "status": serializers.DictField(), "findings": FINDING.__class__(many=True)})


class ResourcePrereviewApi(ExchangeAPIView):
    """GET: the machine pre-review of the resource's current content — when it ran, with which negative
    list, whether it is of the content now, and its findings (stable ``code``, ``severity`` hard/soft,
    ``field``, ``message``, ``detail``). POST: run it again now. Permission: reviewer role + review right on
    the resource (its province)."""

    permission_classes = [IsReviewer]
    body_fields = {"post": ()}

    def _resource(self, request, resource_id):
        resource = catalog_selectors.resource_get(user=request.user, resource_id=resource_id)
        if not can_review(request.user, resource):
            raise NotReviewerError()
        return resource

    def _answer(self, resource) -> dict[str, Any]:
        content = prereview_content_for_resource(resource)
        return {"status": selectors.prereview_status(resource.pk, None, content),
                "findings": selectors.prereview_findings(str(resource.pk), None)}

    @extend_schema(responses=FINDINGS_RESPONSE)
    def get(self, request, resource_id):
        return Response(self._answer(self._resource(request, resource_id)))

    @extend_schema(request=None, responses=FINDINGS_RESPONSE)
    def post(self, request, resource_id):
        resource = self._resource(request, resource_id)
        services.prereview_resource(resource_id=resource.pk, trigger="manual", force=True)
        return Response(self._answer(resource))


class LocalNegativeListApi(ExchangeAPIView):
    """GET: the province's own negative-list entries (active and retired) and the list versions held.
    POST: add an entry (``term``, ``category``, ``severity`` hard/soft, ``note``): a new local list version;
    published resources are re-checked for it. Permission: province administrator."""

    permission_classes = [IsProvinceAdmin]
    body_fields = {"post": ENTRY_FIELDS}

    @extend_schema(parameters=[OpenApiParameter("page", int), OpenApiParameter("page_size", int)],
                   responses=inline_serializer("NegativeList", {"versions": serializers.DictField(),
                                                                "count": serializers.IntegerField(),
                                                                "results": ENTRY.__class__(many=True)}))
    def get(self, request):
        national, local = selectors.list_versions()
        count, rows = paginate(selectors.negative_terms(scope=NegativeTerm.Scope.LOCAL), request.query_params,
                               default_size=100)
        return Response({"versions": {"national": national, "local": local}, "count": count,
                         "results": [entry_data(e) for e in rows]})

    @extend_schema(request=inline_serializer("NegativeTermNew", {
        "term": serializers.CharField(), "category": serializers.CharField(required=False),
        "severity": serializers.ChoiceField(["hard", "soft"], required=False),
        "note": serializers.CharField(required=False)}), responses={201: ENTRY})
    def post(self, request):
        entry = services.negative_term_create(
            actor=request.user, scope=NegativeTerm.Scope.LOCAL, term=request.data.get("term"),
            category=request.data.get("category"), severity=request.data.get("severity"),
            note=request.data.get("note"))
        return Response(entry_data(entry), status=status.HTTP_201_CREATED)


class LocalNegativeTermApi(ExchangeAPIView):
    """PATCH one of the province's own entries (``term``, ``category``, ``severity``, ``note``; ``active``
    false retires it, true brings it back). Permission: province administrator."""

    permission_classes = [IsProvinceAdmin]
    body_fields = {"patch": ENTRY_FIELDS | {"active"}}

    @extend_schema(request=inline_serializer("NegativeTermPatch", {
        "term": serializers.CharField(required=False), "category": serializers.CharField(required=False),
        "severity": serializers.ChoiceField(["hard", "soft"], required=False),
        "note": serializers.CharField(required=False), "active": serializers.BooleanField(required=False)}),
        responses=ENTRY)
    def patch(self, request, entry_id):
        entry = selectors.negative_term_get(scope=NegativeTerm.Scope.LOCAL, entry_id=entry_id)
        if entry is None:
            raise NegativeTermNotFoundError()
        data = request.data
        entry = services.negative_term_update(actor=request.user, entry=entry, term=data.get("term"),
                                              category=data.get("category"), severity=data.get("severity"),
                                              note=data.get("note"), active=data.get("active"))
        return Response(entry_data(entry))


class RecheckQueueApi(ExchangeAPIView):
    """Re-check items about published resources of the reviewer's province that a negative-list update now
    matches (``status``: open — the default —, kept, withdrawn). Permission: reviewer role."""

    permission_classes = [IsReviewer]

    @extend_schema(parameters=[OpenApiParameter("status", str), OpenApiParameter("page", int)],
                   responses=inline_serializer("RecheckQueue", {"count": serializers.IntegerField(),
                                                                "results": ITEM.__class__(many=True)}))
    def get(self, request):
        wanted = request.query_params.get("status") or RecheckItem.Status.OPEN
        if wanted not in RecheckItem.Status.values:
            raise InvalidInputError(details={"status": [f"One of {', '.join(RecheckItem.Status.values)}."]})
        count, rows = paginate(selectors.recheck_items_for_reviewer(user=request.user, status=wanted),
                               request.query_params)
        return Response({"count": count, "results": [item_data(i) for i in rows]})


class RecheckResolveApi(ExchangeAPIView):
    """Decide a re-check item: ``decision`` ``keep`` (the resource stays published; ``note`` says why) or
    ``withdraw`` (withdrawn as ``review_revoked``). Permission: reviewer role + review right on the resource."""

    permission_classes = [IsReviewer]
    body_fields = {"post": {"decision", "note"}}

    @extend_schema(request=inline_serializer("RecheckDecision", {
        "decision": serializers.ChoiceField(["keep", "withdraw"]), "note": serializers.CharField(required=False)}),
        responses=ITEM)
    def post(self, request, item_id):
        item = selectors.recheck_item_get(user=request.user, item_id=item_id)
        if item is None:
            raise RecheckItemNotFoundError()
        item = services.recheck_item_resolve(user=request.user, item=item,
                                             decision=str(request.data.get("decision") or ""),
                                             note=_text(request, "note") or "")
        return Response(item_data(item))


class RecheckReportApi(ExchangeAPIView):
    """The re-checks after negative-list updates: which list version, when, how many published resources were
    checked and matched. Permission: province administrator."""

    permission_classes = [IsProvinceAdmin]

    @extend_schema(operation_id="prereview_rechecks_list", parameters=[OpenApiParameter("page", int)],
                   responses=inline_serializer("RecheckReport", {"count": serializers.IntegerField(),
                                                                 "results": RUN.__class__(many=True)}))
    def get(self, request):
        count, rows = paginate(selectors.recheck_runs(user=request.user), request.query_params)
        return Response({"count": count, "results": [run_data(r) for r in rows]})


class RecheckReportDetailApi(ExchangeAPIView):
    """One re-check with what it matched in the administrator's province (the resource, the entries, the
    snippets, and what reviewers decided). Permission: province administrator."""

    permission_classes = [IsProvinceAdmin]

    @extend_schema(operation_id="prereview_recheck_retrieve", responses=inline_serializer(
        "RecheckRunDetail", {**RUN_FIELDS, "items": ITEM.__class__(many=True)}))
    def get(self, request, run_id):
        run = selectors.recheck_runs(user=request.user).filter(pk=run_id).first()
        if run is None:
            raise RecheckRunNotFoundError()
        items = selectors.recheck_run_items(user=request.user, run=run)
        return Response(run_data(run) | {"items": [item_data(i) for i in items]})
