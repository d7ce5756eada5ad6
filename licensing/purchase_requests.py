"""Purchases a school governs: the school administrator's policy and allowances, a teacher's purchase
that waits for approval, and the administrator's decision on it.

Services here are keyword-only, atomic and audited like ``licensing.services``; the rule of which
purchase waits is ``licensing.allowances.needs_approval``, the money moves in
``licensing.services.grant_purchase_for``. A new request is announced to the school's administrators
after commit: an email (Django's email backend) and the list on their school page.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog.models import Resource
from exchange.audit import audit_record
from exchange.errors import InvalidInputError
from exchange.inputs import clean_text
from exchange.models import Organisation, User
from exchange.roles import Role, user_has_role
from licensing.allowances import current_term, is_governed, needs_approval, policy_of
from licensing.decisions import Reason
from licensing.errors import (
    AlreadyEntitledError,
    NoSchoolAccountError,
    NotPurchasableError,
    NotSchoolAdminError,
    PurchaseRequestDecidedError,
    PurchaseRequestNotFoundError,
    PurchaseRequestPendingError,
)
from licensing.models import Grant, PurchaseRequest, SchoolPurchasePolicy, TeacherAllowance
from licensing.services import PURCHASER_ROLES, _purchase_decision, grant_purchase, grant_purchase_for

logger = logging.getLogger(__name__)
#: Largest allowance or threshold a school may set (vouchers).
MAX_POLICY_AMOUNT = 10_000_000


def _school_of(user: Any) -> Organisation:
    school = getattr(user, "organisation", None)
    if school is None or school.kind != Organisation.Kind.SCHOOL:
        raise NoSchoolAccountError()
    return school


def _school_admin_school(actor: Any) -> Organisation:
    if not user_has_role(actor, Role.SCHOOL_ADMIN):
        raise NotSchoolAdminError()
    school = getattr(actor, "organisation", None)
    if school is None or school.kind != Organisation.Kind.SCHOOL:
        raise NotSchoolAdminError()
    return school


def _amount(value: Any, field: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidInputError(f"{field} must be a whole number of vouchers or null.",
                                details={field: ["A whole number from 0, or null."]})
    try:
        number = int(str(value).strip())
    except ValueError as exc:
        raise InvalidInputError(f"{field} must be a whole number of vouchers or null.",
                                details={field: ["A whole number from 0, or null."]}) from exc
    if not 0 <= number <= MAX_POLICY_AMOUNT:
        raise InvalidInputError(f"{field} must be from 0 to {MAX_POLICY_AMOUNT}.",
                                details={field: [f"From 0 to {MAX_POLICY_AMOUNT}."]})
    return number


# --- the school administrator's policy and allowances ---------------------------------------------------

@transaction.atomic
def school_policy_set(*, actor: Any, teacher_allowance: Any, approval_threshold: Any) -> SchoolPurchasePolicy:
    """Set the school's per-teacher allowance per term (None: no limit) and approval threshold (None:
    no purchase waits). Raises NotSchoolAdminError unless ``actor`` is a school administrator of a school;
    InvalidInputError for an amount that is not a whole number from 0 to MAX_POLICY_AMOUNT. Teachers'
    allowances of the current term that the administrator did not set one by one follow the new default."""
    school = _school_admin_school(actor)
    allowance, threshold = _amount(teacher_allowance, "teacher_allowance"), _amount(approval_threshold,
                                                                                    "approval_threshold")
    now = timezone.now()
    policy, _created = SchoolPurchasePolicy.objects.select_for_update().get_or_create(
        school=school, defaults={"updated_at": now})
    policy.teacher_allowance, policy.approval_threshold = allowance, threshold
    policy.updated_by, policy.updated_at = actor, now
    policy.full_clean()
    policy.save(update_fields=["teacher_allowance", "approval_threshold", "updated_by", "updated_at"])
    rows = TeacherAllowance.objects.filter(school=school, term=current_term(), set_by_admin=False)
    if allowance is None:
        rows.delete()
    else:
        for row in rows.select_for_update():
            row.amount = max(allowance, row.spent)
            row.updated_at = now
            row.save(update_fields=["amount", "updated_at"])
    audit_record(action="school.purchase_policy", actor=actor, object_type="organisation", object_id=school.pk,
                 data={"teacher_allowance": allowance, "approval_threshold": threshold})
    return policy


@transaction.atomic
def teacher_allowance_set(*, actor: Any, teacher_id: Any, amount: Any) -> TeacherAllowance:
    """Set one teacher's allowance for the current term (at least what they have spent already).
    Raises NotSchoolAdminError unless ``actor`` is a school administrator; InvalidInputError when
    ``teacher_id`` names no teacher of the actor's school or the amount is below what they spent."""
    school = _school_admin_school(actor)
    value = _amount(amount, "amount")
    if value is None:
        raise InvalidInputError("amount is required.", details={"amount": ["A whole number from 0."]})
    teacher = User.objects.filter(pk=teacher_id if str(teacher_id).isdigit() else None, organisation=school,
                                  groups__name=Role.TEACHER).first()
    if teacher is None:
        raise InvalidInputError("No such teacher at your school.", details={"teacher": ["Not a teacher here."]})
    term, now = current_term(), timezone.now()
    row, _created = TeacherAllowance.objects.select_for_update().get_or_create(
        teacher=teacher, term=term, defaults={"school": school, "amount": value, "updated_at": now})
    if value < row.spent:
        raise InvalidInputError("The allowance cannot be below what the teacher has spent this term.",
                                details={"amount": [f"At least {row.spent}."]})
    row.amount, row.set_by_admin, row.updated_at = value, True, now
    row.full_clean()
    row.save(update_fields=["amount", "set_by_admin", "updated_at"])
    audit_record(action="school.teacher_allowance", actor=actor, object_type="user", object_id=teacher.pk,
                 data={"school": school.pk, "term": term, "amount": value})
    return row


# --- purchases that wait for approval ----------------------------------------------------------------------

@dataclass(frozen=True)
class PurchaseOutcome:
    """A purchase made at once (``grant``) or queued for approval (``request``)."""

    grant: Grant | None = None
    request: PurchaseRequest | None = None


def purchase_submit(*, buyer: Any, resource: Resource, scope: str) -> PurchaseOutcome:
    """Buy a grant, or — when the school's policy says this purchase waits for approval
    (``needs_approval``) — queue it for the school's administrators and tell them. Raises what
    ``grant_purchase`` raises; PurchaseRequestPendingError when the same request already waits."""
    school = _school_of(buyer)
    price = resource.rights.price if hasattr(resource, "rights") else 0
    if not needs_approval(user=buyer, school=school, price=price):
        return PurchaseOutcome(grant=grant_purchase(buyer=buyer, resource=resource, scope=scope))
    return PurchaseOutcome(request=purchase_request_create(buyer=buyer, resource=resource, scope=scope))


@transaction.atomic
def purchase_request_create(*, buyer: Any, resource: Resource, scope: str) -> PurchaseRequest:
    """Queue a governed teacher's purchase for approval. Raises InvalidInputError for a bad scope,
    NoSchoolAccountError unless the buyer is a teacher of a school, AlreadyEntitledError /
    NotPurchasableError as a purchase would, PurchaseRequestPendingError when it already waits."""
    if scope not in Grant.Scope.values:
        raise InvalidInputError(f"scope must be one of {', '.join(Grant.Scope.values)}.",
                                details={"scope": [f"One of {', '.join(Grant.Scope.values)}."]})
    school = _school_of(buyer)
    if not any(user_has_role(buyer, role) for role in PURCHASER_ROLES) or not is_governed(buyer):
        raise NoSchoolAccountError()
    resource = Resource.objects.select_related("rights", "rights__license").get(pk=resource.pk)
    now = timezone.now()
    decision = _purchase_decision(buyer=buyer, resource=resource, scope=scope, now=now)
    if decision.allowed:
        raise AlreadyEntitledError(decision.message, details=decision.details())
    if decision.reason != Reason.PURCHASE_REQUIRED:
        raise NotPurchasableError(decision.message, details=decision.details())
    request = PurchaseRequest(resource=resource, scope=scope, school=school, requester=buyer,
                              price=resource.rights.price, requested_at=now)
    request.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            request.save(force_insert=True)
    except IntegrityError as exc:
        raise PurchaseRequestPendingError() from exc
    audit_record(action="purchase_request.create", actor=buyer, object_type="purchase_request",
                 object_id=request.pk, data={"resource": str(resource.pk), "scope": scope, "price": request.price,
                                             "school": school.pk})
    request_id = request.pk
    transaction.on_commit(lambda: purchase_request_notify(request_id=request_id))
    return request


def purchase_request_notify(*, request_id: int) -> int:
    """Email the school's administrators about a new request (after commit; a mail failure is logged,
    the request stays in their list). Returns the number of addressees."""
    request = PurchaseRequest.objects.select_related("resource", "requester", "school").filter(pk=request_id).first()
    if request is None:
        return 0
    admins = list(User.objects.filter(organisation=request.school, groups__name=Role.SCHOOL_ADMIN, is_active=True)
                  .exclude(email="").values_list("email", flat=True))
    if not admins:
        return 0
    teacher = str(request.requester)
    subject = _("购买审批：%(teacher)s 申请购买《%(title)s》") % {"teacher": teacher, "title": request.resource.title}
    body = _("%(teacher)s 申请用学校资源券购买《%(title)s》（%(price)s 张资源券）。请在 %(url)s 审批。") % {
        "teacher": teacher, "title": request.resource.title, "price": request.price,
        "url": settings.EXCHANGE_BASE_URL.rstrip("/") + "/me/school"}
    try:
        send_mail(subject, body, None, admins)
    except Exception:  # noqa: BLE001 - the request is listed on the school page whatever the mail server does
        logger.exception("purchase request notification failed", extra={"purchase_request": request_id})
        return 0
    return len(admins)


def purchase_request_list(*, user: Any) -> QuerySet[PurchaseRequest]:
    """A school administrator sees their school's requests; a teacher their own; nobody else any."""
    rows = PurchaseRequest.objects.select_related("resource", "requester", "decided_by")
    school = getattr(user, "organisation", None)
    if school is None or school.kind != Organisation.Kind.SCHOOL:
        return rows.none()
    if user_has_role(user, Role.SCHOOL_ADMIN):
        return rows.filter(school=school)
    if user_has_role(user, Role.TEACHER):
        return rows.filter(requester=user)
    return rows.none()


@transaction.atomic
def purchase_request_decide(*, actor: Any, request_id: Any, approve: bool, note: str = "") -> PurchaseRequest:
    """Approve (buy the grant for the teacher from the school's account, outside their allowance: the
    administrator decided) or reject a pending request of the actor's school.
    Raises NotSchoolAdminError unless ``actor`` is a school administrator; PurchaseRequestNotFoundError
    for a request of another school or none; PurchaseRequestDecidedError when it is no longer pending;
    what ``grant_purchase_for`` raises (e.g. InsufficientVouchersError) on approval, leaving it pending."""
    school = _school_admin_school(actor)
    note = clean_text(note, field="note", max_length=500)
    request = PurchaseRequest.objects.select_for_update().filter(
        pk=request_id if str(request_id).isdigit() else None, school=school).first()
    if request is None:
        raise PurchaseRequestNotFoundError()
    if request.status != PurchaseRequest.Status.PENDING:
        raise PurchaseRequestDecidedError(details={"status": request.status})
    now = timezone.now()
    if approve and request.requester.organisation_id != school.pk:
        # the teacher has left the school since asking: its vouchers are not theirs to spend any more
        raise NoSchoolAccountError(details={"requester": request.requester_id})
    if approve:
        request.grant = grant_purchase_for(buyer=request.requester, resource=request.resource, scope=request.scope,
                                           approved_by=actor)
    request.status = PurchaseRequest.Status.APPROVED if approve else PurchaseRequest.Status.REJECTED
    request.decided_by, request.decided_at, request.note = actor, now, note
    request.save(update_fields=["status", "decided_by", "decided_at", "note", "grant"])
    audit_record(action="purchase_request.approve" if approve else "purchase_request.reject", actor=actor,
                 object_type="purchase_request", object_id=request.pk,
                 data={"grant": request.grant_id, "note": note, "requester": request.requester_id})
    return request


def school_policy_get(*, user: Any) -> SchoolPurchasePolicy | None:
    """The policy of the user's school (members of the school may read it)."""
    school = _school_of(user)
    return policy_of(school)
