"""Views of the national negative list: the protocol endpoint ``/federation/v1/negative-list``, the hub
operators' API (``/api/v1/federation/negative-list``) and page (``/hub/negative-list``). Each validates
input, calls one service of ``federation.negative_list`` and serialises the answer."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response

from catalog.models import NegativeTerm
from catalog.prereview import selectors as prereview_selectors
from catalog.prereview.apis import ENTRY, ENTRY_FIELDS, entry_data
from catalog.prereview.errors import NegativeListStaleError, NegativeTermNotFoundError
from catalog.prereview.pages import entry_changes, render_negative_list
from exchange.api import ExchangeAPIView, HasRole
from exchange.errors import ExchangeError, InvalidInputError
from exchange.pagination import paginate
from exchange.roles import Role
from exchange.views_pages import role_required, show_error
from federation import identity, negative_list, trust
from federation.endpoints import _body, _peer
from federation.errors import NotAHubError, PeerNotAllowedError
from federation.transport import federation_endpoint, json_response

IsHubOperator = HasRole.of(Role.HUB_OPERATOR)
NATIONAL = NegativeTerm.Scope.NATIONAL


# --- protocol ------------------------------------------------------------------------------------------------

@federation_endpoint(methods=("GET", "POST"))
def negative_list_endpoint(request: HttpRequest) -> HttpResponse:
    """Permission: GET certified nodes; POST this node's parent (not on the hub). The signed national
    negative list: as issued on the hub, as last taken in elsewhere."""
    if request.method == "GET":
        return json_response({"negative_list": negative_list.negative_list_current()})
    parent = trust.parent_peer()
    if identity.is_hub() or parent is None or _peer(request).node_id not in (parent.node_id, trust.hub_id()):
        raise PeerNotAllowedError()
    token = _body(request).get("negative_list")
    if not isinstance(token, str):
        raise InvalidInputError(details={"negative_list": ["A compact JWS."]})
    try:
        version, run = negative_list.negative_list_apply(token, received_from=_peer(request).node_id)
    except NegativeListStaleError:
        return json_response({"applied": False})
    return json_response({"applied": True, "version": version, "recheck": run.pk if run is not None else None})


# --- operators' API --------------------------------------------------------------------------------------------

def _national_entry(entry_id: Any) -> NegativeTerm:
    entry = prereview_selectors.negative_term_get(scope=NATIONAL, entry_id=entry_id)
    if entry is None:
        raise NegativeTermNotFoundError()
    return entry


class NationalNegativeListApi(ExchangeAPIView):
    """GET: the national negative list (active and retired entries) with its version. POST: add an entry
    (``term``, ``category``, ``severity`` hard/soft, ``note``): a new version, signed and pushed to every
    province. Permission: hub operators, at the hub."""

    permission_classes = [IsHubOperator]
    body_fields = {"post": ENTRY_FIELDS}

    @extend_schema(parameters=[OpenApiParameter("page", int), OpenApiParameter("page_size", int)],
                   responses=inline_serializer("NationalNegativeList", {
                       "version": serializers.IntegerField(), "issued_at": serializers.DateTimeField(),
                       "count": serializers.IntegerField(), "results": ENTRY.__class__(many=True)}))
    def get(self, request):
        if not identity.is_hub():
            raise NotAHubError()
        state = prereview_selectors.negative_list_state(NATIONAL)
        count, rows = paginate(prereview_selectors.negative_terms(scope=NATIONAL), request.query_params,
                               default_size=100)
        return Response({"version": state.version if state else 0,
                         "issued_at": state.issued_at.isoformat() if state and state.issued_at else None,
                         "count": count, "results": [entry_data(e) for e in rows]})

    @extend_schema(request=inline_serializer("NationalTermNew", {
        "term": serializers.CharField(), "category": serializers.CharField(required=False),
        "severity": serializers.ChoiceField(["hard", "soft"], required=False),
        "note": serializers.CharField(required=False)}), responses={201: ENTRY})
    def post(self, request):
        entry = negative_list.national_entry_create(
            actor=request.user, term=request.data.get("term"), category=request.data.get("category"),
            severity=request.data.get("severity"), note=request.data.get("note"))
        return Response(entry_data(entry), status=status.HTTP_201_CREATED)


class NationalNegativeTermApi(ExchangeAPIView):
    """PATCH a national entry (``term``, ``category``, ``severity``, ``note``; ``active`` false retires it):
    a new version, signed and pushed. Permission: hub operators, at the hub."""

    permission_classes = [IsHubOperator]
    body_fields = {"patch": ENTRY_FIELDS | {"active"}}

    @extend_schema(request=inline_serializer("NationalTermPatch", {
        "term": serializers.CharField(required=False), "category": serializers.CharField(required=False),
        "severity": serializers.ChoiceField(["hard", "soft"], required=False),
        "note": serializers.CharField(required=False), "active": serializers.BooleanField(required=False)}),
        responses=ENTRY)
    def patch(self, request, entry_id):
        if not identity.is_hub():
            raise NotAHubError()
        data = request.data
        entry = negative_list.national_entry_update(
            actor=request.user, entry=_national_entry(entry_id), term=data.get("term"),
            category=data.get("category"), severity=data.get("severity"), note=data.get("note"),
            active=data.get("active"))
        return Response(entry_data(entry))


# --- the hub's page --------------------------------------------------------------------------------------------

@role_required(Role.HUB_OPERATOR)
def national_list_page(request: HttpRequest) -> HttpResponse:
    """The national negative list with a form to add an entry (POST: ``national_entry_create``).
    Permission: hub operator role, at the hub (elsewhere the page does not exist)."""
    if not identity.is_hub():
        raise Http404
    if request.method == "POST":
        try:
            entry = negative_list.national_entry_create(
                actor=request.user, term=request.POST.get("term"), category=request.POST.get("category"),
                severity=request.POST.get("severity"), note=request.POST.get("note"))
        except ExchangeError as exc:
            show_error(request, exc)
        else:
            messages.success(request, _("已加入国家负面清单：%(term)s。新版本已签名并下发各省。") % {"term": entry.term})
        return redirect("hub-negative-list")
    return render_negative_list(request, scope=NATIONAL, add_url="hub-negative-list",
                                change_url="hub-negative-term")


@require_POST
@role_required(Role.HUB_OPERATOR)
def national_term_page(request: HttpRequest, entry_id: Any) -> HttpResponse:
    """Retire, restore or re-grade a national entry (``national_entry_update``). Permission: hub operator
    role, at the hub."""
    if not identity.is_hub():
        raise Http404
    try:
        entry = negative_list.national_entry_update(actor=request.user, entry=_national_entry(entry_id),
                                                    **entry_changes(request))
    except NegativeTermNotFoundError as exc:
        raise Http404 from exc
    except ExchangeError as exc:
        show_error(request, exc)
    else:
        messages.success(request, _("已更新：%(term)s。") % {"term": entry.term})
    return redirect("hub-negative-list")
