"""Licensing API: access decisions, downloads, machine-readable rights, vouchers and grants, takedowns,
settlement. Views validate input, call one service or selector and serialize the result."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiTypes,
    extend_schema,
    inline_serializer,
)
from rest_framework import permissions, serializers, status
from rest_framework.response import Response

from catalog import selectors as catalog_selectors
from catalog.permissions import can_edit, can_review
from catalog.review.selectors import review_subject_current
from catalog.usage import license_list
from exchange.api import ERROR_RESPONSE, ExchangeAPIView, HasRole
from exchange.apis import client_ip
from exchange.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from exchange.inputs import INT64_MAX
from exchange.models import Organisation
from exchange.pagination import paginate
from exchange.roles import Role
from exchange.selectors import organisation_list
from licensing import selectors, services
from licensing.attribution import attribution_for
from licensing.checks import rights_coherent
from licensing.decisions import Action, decide
from licensing.errors import NoSchoolAccountError, SettlementNotAllowedError
from licensing.odrl import rights_policy
from licensing.serializers import (
    GrantSerializer,
    LedgerEntrySerializer,
    LedgerTransactionSerializer,
    LicenseSerializer,
    TakedownSerializer,
    VoucherAccountSerializer,
)
from licensing.settlement import (
    Period,
    settlement_csv,
    settlement_month_close,
    settlement_report,
    settlement_scope_for,
)

IsPurchaser = HasRole.of(Role.TEACHER, Role.SCHOOL_ADMIN)
IsLedgerViewer = HasRole.of(Role.SCHOOL_ADMIN, Role.PROVINCE_ADMIN)
IsProvinceAdmin = HasRole.of(Role.PROVINCE_ADMIN)
IsClaimant = HasRole.of(Role.PUBLISHER, Role.PROVINCE_ADMIN, Role.HUB_OPERATOR)
IsTakedownDecider = HasRole.of(Role.REVIEWER, Role.HUB_OPERATOR)
IsSettlementViewer = HasRole.of(Role.PUBLISHER, Role.PROVINCE_ADMIN, Role.HUB_OPERATOR)
IsRightsChecker = HasRole.of(Role.PUBLISHER, Role.REVIEWER)


def _valid(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _paged(request, queryset, serializer_class) -> Response:
    count, items = paginate(queryset, request.query_params)
    return Response({"count": count, "results": serializer_class(items, many=True).data})


# --- decisions, rights and downloads ---------------------------------------------------------------------

class ResourceAccessApi(ExchangeAPIView):
    """What ``decide()`` says about the signed-in (or anonymous) user and this resource, for
    ``action`` = view_metadata, preview, download (default) or derive. Permission: anyone who can see
    the resource."""

    permission_classes = [permissions.AllowAny]

    @extend_schema(parameters=[OpenApiParameter("action", str, enum=[a.value for a in Action])],
                   responses=OpenApiTypes.OBJECT)
    def get(self, request, resource_id):
        resource = catalog_selectors.resource_get(user=request.user, resource_id=resource_id)
        action = request.query_params.get("action") or Action.DOWNLOAD.value
        if action not in {a.value for a in Action}:
            raise InvalidInputError(details={"action": [f"One of {', '.join(a.value for a in Action)}."]})
        return Response(decide(request.user, resource, action).as_dict())


class ResourceDownloadApi(ExchangeAPIView):
    """Download a resource: ``decide()``; when allowed, a download event is recorded and short-lived
    links returned (presigned object-store URLs, or links signed by this node that support HTTP Range).
    When refused, the error ``code`` is the decision's reason (``purchase_required`` with the price in
    ``details``, ``outside_territory`` …). Permission: authenticated; the licence terms via decide()."""

    permission_classes = [permissions.IsAuthenticated]

    class DownloadInputSerializer(serializers.Serializer):
        file = serializers.UUIDField(required=False)

    body_fields = {"post": DownloadInputSerializer}

    @extend_schema(request=DownloadInputSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request, resource_id):
        data = _valid(self.DownloadInputSerializer, request.data)
        resource = catalog_selectors.resource_get(user=request.user, resource_id=resource_id)
        ticket = services.download_start(user=request.user, resource=resource, file_id=data.get("file"),
                                         ip=client_ip(request), base_url=request.build_absolute_uri("/"))
        return Response({
            "download": ticket.event.pk,
            "decision": ticket.decision.as_dict(),
            "files": [{"id": str(link.file.pk), "name": link.file.original_name, "size": link.file.size,
                       "mime": link.file.mime, "sha256": link.file.sha256, "url": link.url,
                       "delivery": link.delivery, "expires_at": link.expires_at.isoformat()}
                      for link in ticket.links],
            "attribution": attribution_for(resource).as_dict(),
        })


class ResourceRightsApi(ExchangeAPIView):
    """The resource's rights statement as an ODRL 2.2 policy (JSON-LD). Permission: anyone who can see
    the resource."""

    permission_classes = [permissions.AllowAny]

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, resource_id):
        resource = catalog_selectors.resource_get(user=request.user, resource_id=resource_id)
        return Response(rights_policy(resource), content_type="application/ld+json")


class ResourceAttributionApi(ExchangeAPIView):
    """Attribution text as the licence asks for it (title, author, source, licence), Chinese and
    English, plain and HTML. Permission: anyone who can see the resource."""

    permission_classes = [permissions.AllowAny]

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, resource_id):
        resource = catalog_selectors.resource_get(user=request.user, resource_id=resource_id)
        return Response(attribution_for(resource).as_dict())


class ResourceRightsCheckApi(ExchangeAPIView):
    """The licence audit review will run (stable problem codes), so publishers can fix their rights
    statement before submitting: on the open revision's proposed rights when a published resource has one,
    else on the resource's own. Permission: publisher role + edit right, or reviewer role + review right,
    on the resource."""

    permission_classes = [IsRightsChecker]

    @extend_schema(responses=inline_serializer("RightsCheck", {
        "coherent": serializers.BooleanField(), "problems": serializers.ListField(child=serializers.DictField()),
        "revision": serializers.IntegerField(allow_null=True, help_text="the open revision checked, if any")}))
    def get(self, request, resource_id):
        resource = catalog_selectors.resource_get(user=request.user, resource_id=resource_id)
        if not (can_edit(request.user, resource) or can_review(request.user, resource)):
            raise PermissionDeniedError("Only the publisher's members and the province's reviewers see the audit.")
        subject = review_subject_current(resource)  # an open revision's proposed rights, else the resource's
        problems = rights_coherent(subject)
        return Response({"coherent": not problems, "problems": problems, "revision": subject.revision_id})


class LicenseListApi(ExchangeAPIView):
    """The licences a rights statement may name, with what each permits. Permission: anyone."""

    permission_classes = [permissions.AllowAny]

    @extend_schema(responses=LicenseSerializer(many=True))
    def get(self, request):
        return Response({"results": LicenseSerializer(license_list(), many=True).data})


# --- grants and vouchers -------------------------------------------------------------------------------

class ResourceGrantPurchaseApi(ExchangeAPIView):
    """Buy a grant to the resource with the school's vouchers: ``scope`` = school (everyone at the
    school) or personal. Permission: teacher or school administrator role + spend right on their
    school's voucher account."""

    permission_classes = [IsPurchaser]

    class GrantPurchaseInputSerializer(serializers.Serializer):
        scope = serializers.ChoiceField(choices=["school", "personal"])

    body_fields = {"post": GrantPurchaseInputSerializer}

    @extend_schema(request=GrantPurchaseInputSerializer, responses={201: GrantSerializer})
    def post(self, request, resource_id):
        data = _valid(self.GrantPurchaseInputSerializer, request.data)
        resource = catalog_selectors.resource_get(user=request.user, resource_id=resource_id)
        grant = services.grant_purchase(buyer=request.user, resource=resource, scope=data["scope"])
        return Response(GrantSerializer(grant).data, status=status.HTTP_201_CREATED)


class GrantListApi(ExchangeAPIView):
    """The user's personal grants and their school's school-wide grants. Permission: authenticated."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses=GrantSerializer(many=True))
    def get(self, request):
        return _paged(request, selectors.grant_list_for_user(user=request.user), GrantSerializer)


class VoucherBalanceApi(ExchangeAPIView):
    """The voucher balance of the user's school. Permission: teacher or school administrator role, as a
    member of a school."""

    permission_classes = [IsPurchaser]

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request):
        org = request.user.organisation
        if org is None or org.kind != Organisation.Kind.SCHOOL:
            raise NoSchoolAccountError()
        account = selectors.school_account_for(user=request.user)
        return Response({"school": {"id": org.pk, "name": org.name}, "account": account.pk if account else None,
                         "balance": account.balance if account else 0})


class VoucherAccountListApi(ExchangeAPIView):
    """Voucher accounts whose ledger the user may see. Permission: school administrator (their school)
    or province administrator (their province's schools) role + view_ledger object right."""

    permission_classes = [IsLedgerViewer]

    @extend_schema(responses=VoucherAccountSerializer(many=True))
    def get(self, request):
        return _paged(request, selectors.voucher_account_list(user=request.user), VoucherAccountSerializer)


class VoucherAccountDetailApi(ExchangeAPIView):
    """One account with its ledger entries (newest first, paginated). Permission: school administrator
    or province administrator role + view_ledger object right on the account."""

    permission_classes = [IsLedgerViewer]

    @extend_schema(parameters=[OpenApiParameter("page", int), OpenApiParameter("page_size", int)],
                   responses=OpenApiTypes.OBJECT)
    def get(self, request, account_id):
        account = selectors.voucher_account_get(user=request.user, account_id=account_id)
        count, entries = paginate(selectors.ledger_entry_list(account=account), request.query_params)
        return Response({"account": VoucherAccountSerializer(account).data,
                         "entries": {"count": count, "results": LedgerEntrySerializer(entries, many=True).data}})


class VoucherFundApi(ExchangeAPIView):
    """Fund a school's voucher account with ``per_student`` vouchers per student. Permission: province
    administrator role + fund right on the school's account (schools of their own province)."""

    permission_classes = [IsProvinceAdmin]

    class VoucherFundInputSerializer(serializers.Serializer):
        school = serializers.IntegerField(min_value=1, max_value=INT64_MAX)
        per_student = serializers.IntegerField(min_value=1, max_value=services.MAX_VOUCHERS_PER_STUDENT)
        memo = serializers.CharField(required=False, allow_blank=True, max_length=300, default="")

    body_fields = {"post": VoucherFundInputSerializer}

    @extend_schema(request=VoucherFundInputSerializer, responses={201: LedgerTransactionSerializer})
    def post(self, request):
        data = _valid(self.VoucherFundInputSerializer, request.data)
        school = organisation_list(kind=Organisation.Kind.SCHOOL).filter(pk=data["school"]).first()
        if school is None:
            raise NotFoundError("No such school.", details={"school": [str(data["school"])]})
        txn = services.vouchers_fund(actor=request.user, school=school, per_student=data["per_student"],
                                     memo=data["memo"])
        return Response(LedgerTransactionSerializer(txn).data, status=status.HTTP_201_CREATED)


# --- takedowns -----------------------------------------------------------------------------------------

class TakedownListCreateApi(ExchangeAPIView):
    """GET: notices the user may see (their own; reviewers their province's; hub operators all).
    POST: file a notice against a resource. Permission: GET authenticated; POST publisher, province
    administrator or hub operator role."""

    permission_classes = [permissions.IsAuthenticated]

    def get_permissions(self):
        return [permissions.IsAuthenticated()] if self.request.method == "GET" else [IsClaimant()]

    class TakedownFileInputSerializer(serializers.Serializer):
        resource = serializers.UUIDField()
        grounds = serializers.CharField(max_length=32)
        statement = serializers.CharField(allow_blank=True, max_length=20_000)
        claimant = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)

    body_fields = {"post": TakedownFileInputSerializer}

    @extend_schema(parameters=[OpenApiParameter("status", str)], responses=TakedownSerializer(many=True))
    def get(self, request):
        return _paged(request, selectors.takedown_list(user=request.user, status=request.query_params.get("status")),
                      TakedownSerializer)

    @extend_schema(request=TakedownFileInputSerializer, responses={201: TakedownSerializer})
    def post(self, request):
        data = _valid(self.TakedownFileInputSerializer, request.data)
        resource = catalog_selectors.resource_get(user=request.user, resource_id=data["resource"])
        notice = services.takedown_file(user=request.user, resource=resource, grounds=data["grounds"],
                                        statement=data["statement"], claimant=data["claimant"])
        return Response(TakedownSerializer(notice).data, status=status.HTTP_201_CREATED)


class TakedownDetailApi(ExchangeAPIView):
    """One notice. Permission: authenticated, and the notice visible to the user (see the list)."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses=TakedownSerializer)
    def get(self, request, notice_id):
        return Response(TakedownSerializer(selectors.takedown_get(user=request.user, notice_id=notice_id)).data)


class _TakedownDecisionApi(ExchangeAPIView):
    permission_classes = [IsTakedownDecider]

    class TakedownDecisionInputSerializer(serializers.Serializer):
        note = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)

    body_fields = {"post": TakedownDecisionInputSerializer}

    decide_notice: Any  # each subclass: decide_notice(self, request, notice, note) -> TakedownNotice

    @extend_schema(request=TakedownDecisionInputSerializer, responses=TakedownSerializer)
    def post(self, request, notice_id):
        data = _valid(self.TakedownDecisionInputSerializer, request.data)
        notice = selectors.takedown_get(user=request.user, notice_id=notice_id)
        notice = self.decide_notice(request, notice, data["note"])
        return Response(TakedownSerializer(selectors.takedown_get(user=request.user, notice_id=notice.pk)).data)


class TakedownUpholdApi(_TakedownDecisionApi):
    """Uphold a notice: the resource is withdrawn on this node at once (and the takedown goes out on the
    federation feed). Permission: reviewer role + review right on the resource's province; at the hub,
    hub operator role for any province's resource (a national takedown)."""

    permission_classes = [IsTakedownDecider]

    def decide_notice(self, request, notice, note):
        return services.takedown_uphold(user=request.user, notice=notice, note=note)


class TakedownRejectApi(_TakedownDecisionApi):
    """Reject a notice with a ``note`` the claimant sees. Permission: reviewer role + review right on the
    resource's province; at the hub, hub operator role for any province's resource."""

    permission_classes = [IsTakedownDecider]

    def decide_notice(self, request, notice, note):
        return services.takedown_reject(user=request.user, notice=notice, note=note)


# --- settlement ---------------------------------------------------------------------------------------

SETTLEMENT_PARAMETERS = [OpenApiParameter("month", str, description="YYYY-MM"),
                         OpenApiParameter("start", str, description="YYYY-MM-DD"),
                         OpenApiParameter("end", str, description="YYYY-MM-DD (inclusive)"),
                         OpenApiParameter("publisher", int)]


def _settlement(request) -> tuple[Period, list]:
    params = request.query_params
    period = Period.parse(month=params.get("month"), start=params.get("start"), end=params.get("end"))
    scope = settlement_scope_for(request.user)
    publisher_ids = None
    if params.get("publisher"):
        publisher = organisation_list(kind=Organisation.Kind.PUBLISHER).filter(pk=params["publisher"]).first() \
            if params["publisher"].isdigit() else None
        if publisher is None:
            raise NotFoundError("No such publisher.", details={"publisher": [params["publisher"]]})
        if not scope.covers_publisher(publisher.pk, publisher.province_code):
            raise SettlementNotAllowedError()
        publisher_ids = [publisher.pk]
    return period, settlement_report(period=period, scope=scope, publisher_ids=publisher_ids)


class SettlementApi(ExchangeAPIView):
    """Settlement per publisher for a period: downloads by basis, grants, buyer schools, vouchers spent.
    Permission: hub operator (all), province administrator (their province's publishers) or publisher
    (their own organisation) role."""

    permission_classes = [IsSettlementViewer]

    @extend_schema(parameters=SETTLEMENT_PARAMETERS, responses=OpenApiTypes.OBJECT)
    def get(self, request):
        period, rows = _settlement(request)
        return Response({"period": {"start": period.start.isoformat(), "end": period.end.isoformat()},
                         "rows": [row.as_dict() for row in rows]})


class SettlementCsvApi(ExchangeAPIView):
    """The settlement report as a CSV download. Permission: as the settlement report."""

    permission_classes = [IsSettlementViewer]

    @extend_schema(parameters=SETTLEMENT_PARAMETERS, responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request):
        period, rows = _settlement(request)
        response = HttpResponse(settlement_csv(period=period, rows=rows), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = (
            f'attachment; filename="settlement-{period.start:%Y%m%d}-{period.end:%Y%m%d}.csv"')
        return response


class SettlementCloseApi(ExchangeAPIView):
    """Close a month whose settlement is final: grant receipts for it that arrive later are flagged late and
    counted in the month they arrive. Permission: hub operators and province administrators."""

    permission_classes = [HasRole.of(Role.HUB_OPERATOR, Role.PROVINCE_ADMIN)]

    class SettlementCloseInputSerializer(serializers.Serializer):
        month = serializers.RegexField(r"^\d{4}-\d{2}$", help_text="YYYY-MM")
        note = serializers.CharField(max_length=500, required=False, allow_blank=True)

    body_fields = {"post": SettlementCloseInputSerializer}

    @extend_schema(
        request=SettlementCloseInputSerializer,
        responses={200: inline_serializer("SettlementClosed", {"month": serializers.CharField(),
                                                               "closed_at": serializers.DateTimeField()}),
                   400: ERROR_RESPONSE, 403: ERROR_RESPONSE},
        examples=[OpenApiExample("close", request_only=True, value={"month": "2026-10", "note": "十月结算已付"})],
    )
    def post(self, request):
        data = self.SettlementCloseInputSerializer(data=request.data)
        if not data.is_valid():
            raise InvalidInputError(details=data.errors)
        close = settlement_month_close(month=data.validated_data["month"], actor=request.user,
                                       note=data.validated_data.get("note", ""))
        return Response({"month": f"{close.month:%Y-%m}", "closed_at": close.closed_at.isoformat()})
