"""Licensing API: access decisions, downloads, machine-readable rights, vouchers and grants, takedowns,
settlement. Views validate input, call one service or selector and serialize the result."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    OpenApiTypes,
    extend_schema,
    inline_serializer,
)
from rest_framework import permissions, serializers, status
from rest_framework.response import Response

from catalog import selectors as catalog_selectors
from catalog.permissions import can_edit, can_review
from catalog.review.selectors import review_subject_current
from catalog.serializers import ResourceSerializer
from catalog.usage import license_list
from exchange.api import ERROR_RESPONSE, ExchangeAPIView, HasRole
from exchange.apis import client_ip
from exchange.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from exchange.inputs import INT64_MAX
from exchange.models import Organisation
from exchange.openapi import error_response
from exchange.pagination import paginate
from exchange.roles import Role
from exchange.selectors import organisation_list
from licensing import purchase_requests, selectors, services
from licensing.allowances import allowance_for, current_term, is_governed
from licensing.attribution import attribution_for
from licensing.checks import rights_coherent
from licensing.decisions import Action, decide
from licensing.errors import NoSchoolAccountError, SettlementNotAllowedError
from licensing.models import Grant, PurchaseRequest, TeacherAllowance
from licensing.odrl import rights_policy
from licensing.remix import resource_remix
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

PURCHASE_REQUEST = inline_serializer("PurchaseRequest", {
    "id": serializers.IntegerField(), "resource": serializers.UUIDField(), "title": serializers.CharField(),
    "scope": serializers.ChoiceField(Grant.Scope.choices), "price": serializers.IntegerField(),
    "status": serializers.ChoiceField(PurchaseRequest.Status.choices),
    "requester": serializers.DictField(), "requested_at": serializers.DateTimeField(),
    "decided_by": serializers.CharField(allow_null=True), "decided_at": serializers.DateTimeField(allow_null=True),
    "note": serializers.CharField(), "grant": serializers.IntegerField(allow_null=True)})
PURCHASE_REQUEST_EXAMPLE = {
    "id": 7, "resource": "0b7f3c1e-2d4a-4d0e-9a51-6f0c8e2b7d11", "title": "七年级数学上册 有理数 课件",
    "scope": "personal", "price": 20, "status": "pending", "requester": {"id": 12, "name": "王老师"},
    "requested_at": "2026-09-08T08:00:00+08:00", "decided_by": None, "decided_at": None, "note": "", "grant": None}


def purchase_request_data(item: Any) -> dict[str, Any]:
    return {"id": item.pk, "resource": str(item.resource_id), "title": item.resource.title, "scope": item.scope,
            "price": item.price, "status": item.status,
            "requester": {"id": item.requester_id, "name": str(item.requester)},
            "requested_at": item.requested_at.isoformat(),
            "decided_by": str(item.decided_by) if item.decided_by_id else None,
            "decided_at": item.decided_at.isoformat() if item.decided_at else None, "note": item.note,
            "grant": item.grant_id}


PURCHASE_ERRORS = {
    402: error_response("The resource is priced and the school's balance is short.",
                        ("insufficient_vouchers", "The school's voucher balance is too low for this purchase.",
                         {"balance": 3, "price": 20})),
    409: error_response(
        "No purchase is needed, none would help, the teacher's allowance is short, or the request already waits.",
        ("already_entitled", "No purchase is needed: you may already use this resource.", {"reason": "open_licence"}),
        ("allowance_exceeded", "The purchase is above what is left of your allowance for this term.",
         {"price": 20, "term": "2026-autumn", "allowance": 50, "spent": 40, "remaining": 10}),
        ("purchase_request_pending", "You have already asked for this purchase; it waits for a school "
         "administrator.", None)),
}


class ResourceGrantPurchaseApi(ExchangeAPIView):
    """Buy a grant to the resource with the school's vouchers: ``scope`` = school (everyone at the
    school) or personal. A teacher's purchase is held to the school's policy: it is charged to their
    allowance for the term (``allowance_exceeded`` when short), and one priced above the school's approval
    threshold is queued for a school administrator (202 with the request) instead of bought.
    Permission: teacher or school administrator role + spend right on their school's voucher account."""

    permission_classes = [IsPurchaser]

    class GrantPurchaseInputSerializer(serializers.Serializer):
        scope = serializers.ChoiceField(choices=["school", "personal"])

    body_fields = {"post": GrantPurchaseInputSerializer}

    @extend_schema(request=GrantPurchaseInputSerializer, responses={
        201: GrantSerializer,
        202: OpenApiResponse(PURCHASE_REQUEST, description="Queued for a school administrator's approval.",
                             examples=[OpenApiExample("queued", value=PURCHASE_REQUEST_EXAMPLE)]),
        **PURCHASE_ERRORS})
    def post(self, request, resource_id):
        data = _valid(self.GrantPurchaseInputSerializer, request.data)
        resource = catalog_selectors.resource_get(user=request.user, resource_id=resource_id)
        outcome = purchase_requests.purchase_submit(buyer=request.user, resource=resource, scope=data["scope"])
        if outcome.request is not None:
            return Response(purchase_request_data(outcome.request), status=status.HTTP_202_ACCEPTED)
        return Response(GrantSerializer(outcome.grant).data, status=status.HTTP_201_CREATED)


class ResourceRemixApi(ExchangeAPIView):
    """Derive a new draft resource from this one (remix with lineage): allowed when ``decide(user, source,
    "derive")`` allows it — ND licences and all-rights-reserved terms refuse with ``derivatives_not_allowed``.
    The draft credits and links its source (``rights.derived_from``, the attribution) and keeps a share-alike
    source's licence; it is the user's organisation's and goes through the same review. Permission: publisher
    role, or teacher role in a school whose administrator lets teachers share as the school."""

    permission_classes = [HasRole.of(Role.PUBLISHER, Role.TEACHER)]

    class RemixInputSerializer(serializers.Serializer):
        metadata = serializers.DictField(required=False, help_text="Changes: title, description, keywords, "
                                         "grade, chapter, section, resource_type")
        license = serializers.CharField(required=False, max_length=64)

    body_fields = {"post": RemixInputSerializer}

    @extend_schema(request=RemixInputSerializer, responses={
        201: OpenApiResponse(ResourceSerializer, description="The new draft, with rights.derived_from = the source."),
        403: error_response(
            "The source's licence forbids derivative works, or the user may not deposit.",
            ("derivatives_not_allowed", "The licence of this resource does not allow adaptations.",
             {"reason": "derivatives_not_allowed", "license": "CC-BY-ND-4.0", "licence_kind": "no_derivatives"}),
            ("derivatives_not_allowed", "The licence of this resource does not allow adaptations.",
             {"reason": "derivatives_not_allowed", "license": "ALL-RIGHTS-RESERVED",
              "licence_kind": "all_rights_reserved"})),
        409: error_response("A share-alike source given another licence.",
                            ("share_alike_not_kept", "The source is under a share-alike licence: the remix must use "
                             "the same licence.", {"source_license": "CC-BY-SA-4.0", "license": "CC-BY-4.0"}))})
    def post(self, request, resource_id):
        data = _valid(self.RemixInputSerializer, request.data)
        source = catalog_selectors.resource_get(user=request.user, resource_id=resource_id)
        draft = resource_remix(user=request.user, source=source, metadata=data.get("metadata"),
                               license_id=data.get("license"))
        return Response(ResourceSerializer(draft).data, status=status.HTTP_201_CREATED)


class PurchaseRequestListApi(ExchangeAPIView):
    """Purchase requests: a school administrator sees their school's, a teacher their own (``status``
    filters). Permission: teacher or school administrator role."""

    permission_classes = [IsPurchaser]

    @extend_schema(parameters=[OpenApiParameter("status", str, enum=["pending", "approved", "rejected"])],
                   responses={200: OpenApiResponse(
                       inline_serializer("PurchaseRequestPage", {"count": serializers.IntegerField(),
                                                                 "results": PURCHASE_REQUEST}),
                       examples=[OpenApiExample("pending", value={"count": 1, "results": [PURCHASE_REQUEST_EXAMPLE]})])})
    def get(self, request):
        rows = purchase_requests.purchase_request_list(user=request.user)
        wanted = request.query_params.get("status")
        if wanted:
            if wanted not in PurchaseRequest.Status.values:
                raise InvalidInputError(details={"status": [f"One of {', '.join(PurchaseRequest.Status.values)}."]})
            rows = rows.filter(status=wanted)
        count, items = paginate(rows, request.query_params)
        return Response({"count": count, "results": [purchase_request_data(i) for i in items]})


class PurchaseRequestDecideApi(ExchangeAPIView):
    """Approve (the grant is bought for the teacher from the school's account) or reject a pending
    purchase request of the administrator's school. Permission: school administrator role (their school's
    requests only; another school's is not found)."""

    permission_classes = [HasRole.of(Role.SCHOOL_ADMIN)]

    class DecideInputSerializer(serializers.Serializer):
        decision = serializers.ChoiceField(choices=["approve", "reject"])
        note = serializers.CharField(required=False, allow_blank=True, max_length=500)

    body_fields = {"post": DecideInputSerializer}

    @extend_schema(request=DecideInputSerializer, responses={
        200: OpenApiResponse(PURCHASE_REQUEST, examples=[OpenApiExample("approved", value={
            **PURCHASE_REQUEST_EXAMPLE, "status": "approved", "decided_by": "李校长",
            "decided_at": "2026-09-08T09:00:00+08:00", "grant": 31})]),
        404: error_response("No such request at the administrator's school.",
                            ("purchase_request_not_found", "No such purchase request for your school.", None)),
        409: error_response("Already decided, or the purchase cannot be made now.",
                            ("purchase_request_decided", "The purchase request has already been decided.",
                             {"status": "approved"}),
                            ("insufficient_vouchers", "The school's voucher balance is too low for this purchase.",
                             {"balance": 3, "price": 20}))})
    def post(self, request, request_id):
        data = _valid(self.DecideInputSerializer, request.data)
        item = purchase_requests.purchase_request_decide(actor=request.user, request_id=request_id,
                                                         approve=data["decision"] == "approve",
                                                         note=data.get("note", ""))
        return Response(purchase_request_data(item))


SCHOOL_POLICY = inline_serializer("SchoolPurchasePolicy", {
    "teacher_allowance": serializers.IntegerField(allow_null=True, help_text="Vouchers per teacher per term; "
                                                  "null: no limit"),
    "approval_threshold": serializers.IntegerField(allow_null=True, help_text="A teacher's purchase priced above "
                                                   "this waits for approval; null: none waits"),
    "term": serializers.CharField(), "allowances": serializers.ListField(child=serializers.DictField())})


def _policy_data(user: Any) -> dict[str, Any]:
    policy = purchase_requests.school_policy_get(user=user)
    term = current_term()
    rows = TeacherAllowance.objects.filter(school=user.organisation, term=term).select_related("teacher")
    return {"teacher_allowance": policy.teacher_allowance if policy else None,
            "approval_threshold": policy.approval_threshold if policy else None, "term": term,
            "allowances": [{"teacher": r.teacher_id, "name": str(r.teacher), "amount": r.amount, "spent": r.spent,
                            "set_by_admin": r.set_by_admin} for r in rows]}


class SchoolPolicyApi(ExchangeAPIView):
    """The school's purchase policy: per-teacher allowance per term and approval threshold, with this
    term's allowances. Permission: school administrator role (their own school)."""

    permission_classes = [HasRole.of(Role.SCHOOL_ADMIN)]

    class PolicyInputSerializer(serializers.Serializer):
        teacher_allowance = serializers.IntegerField(allow_null=True, min_value=0)
        approval_threshold = serializers.IntegerField(allow_null=True, min_value=0)

    body_fields = {"put": PolicyInputSerializer}
    EXAMPLE = {"teacher_allowance": 100, "approval_threshold": 20, "term": "2026-autumn",
               "allowances": [{"teacher": 12, "name": "王老师", "amount": 100, "spent": 35, "set_by_admin": False}]}

    @extend_schema(responses={200: OpenApiResponse(SCHOOL_POLICY, examples=[OpenApiExample("policy", value=EXAMPLE)]),
                              403: error_response("Not a school administrator of a school.",
                                                  ("not_school_admin", "Only a school administrator of this school "
                                                   "may do this.", None))})
    def get(self, request):
        if request.user.organisation is None or request.user.organisation.kind != Organisation.Kind.SCHOOL:
            raise NoSchoolAccountError()
        return Response(_policy_data(request.user))

    @extend_schema(request=PolicyInputSerializer, responses={
        200: OpenApiResponse(SCHOOL_POLICY, examples=[OpenApiExample("policy", value=EXAMPLE)]),
        400: error_response("An amount is not a whole number from 0.",
                            ("invalid_input", "teacher_allowance must be from 0 to 10000000.",
                             {"teacher_allowance": ["From 0 to 10000000."]}))})
    def put(self, request):
        data = _valid(self.PolicyInputSerializer, request.data)
        purchase_requests.school_policy_set(actor=request.user, teacher_allowance=data["teacher_allowance"],
                                            approval_threshold=data["approval_threshold"])
        return Response(_policy_data(request.user))


class TeacherAllowanceApi(ExchangeAPIView):
    """Set one teacher's allowance for the current term. Permission: school administrator role (teachers of
    their own school)."""

    permission_classes = [HasRole.of(Role.SCHOOL_ADMIN)]

    class AllowanceInputSerializer(serializers.Serializer):
        amount = serializers.IntegerField(min_value=0, max_value=10_000_000)

    body_fields = {"put": AllowanceInputSerializer}

    @extend_schema(request=AllowanceInputSerializer, responses={
        200: OpenApiResponse(inline_serializer("TeacherAllowance", {
            "teacher": serializers.IntegerField(), "term": serializers.CharField(), "amount": serializers.IntegerField(),
            "spent": serializers.IntegerField()}), examples=[OpenApiExample("allowance", value={
                "teacher": 12, "term": "2026-autumn", "amount": 150, "spent": 35})]),
        400: error_response("Not a teacher of the school, or below what they spent.",
                            ("invalid_input", "No such teacher at your school.", {"teacher": ["Not a teacher here."]}))})
    def put(self, request, user_id):
        data = _valid(self.AllowanceInputSerializer, request.data)
        row = purchase_requests.teacher_allowance_set(actor=request.user, teacher_id=user_id, amount=data["amount"])
        return Response({"teacher": row.teacher_id, "term": row.term, "amount": row.amount, "spent": row.spent})


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
        balance = account.balance if account else 0
        term = current_term()
        allowance = allowance_for(teacher=request.user, school=org, term=term) if is_governed(request.user) else None
        return Response({"school": {"id": org.pk, "name": org.name}, "account": account.pk if account else None,
                         "balance": balance, "term": term,
                         "allowance": allowance.amount if allowance is not None else None,
                         "allowance_remaining": allowance.remaining if allowance is not None else None})


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
