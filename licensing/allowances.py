"""How a school governs what its teachers spend: terms, the school's purchase policy, each teacher's
allowance per term and the one rule of which purchases wait for a school administrator's approval.

Primitives only (no services of this app are imported here): ``licensing.services.grant_purchase``
charges the allowance in its own transaction, ``licensing.purchase_requests`` queues and decides
purchases that need approval, and the pages and APIs show what is left before the click.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from exchange.models import Organisation
from exchange.roles import Role, user_has_role
from licensing.errors import AllowanceExceededError, ApprovalRequiredError
from licensing.models import SchoolPurchasePolicy, TeacherAllowance


def term_of(day: dt.date) -> str:
    """The school term a day falls in: ``YYYY-spring`` (February to July) or ``YYYY-autumn`` (August to
    January, the year it starts in)."""
    if 2 <= day.month <= 7:
        return f"{day.year}-spring"
    return f"{day.year if day.month >= 8 else day.year - 1}-autumn"


def term_label(term: str) -> str:
    year, _sep, season = term.partition("-")
    if season == "spring":
        return str(_("%(year)s 年春季学期") % {"year": year})
    return str(_("%(year)s 年秋季学期") % {"year": year})


def current_term() -> str:
    return term_of(timezone.localdate())


def is_governed(user: Any) -> bool:
    """Whether the school's policy limits this user's purchases: teachers, not school administrators
    (who set the policy and approve)."""
    return user_has_role(user, Role.TEACHER) and not user_has_role(user, Role.SCHOOL_ADMIN)


def policy_of(school: Organisation) -> SchoolPurchasePolicy | None:
    return SchoolPurchasePolicy.objects.filter(school=school).first()


def needs_approval(*, user: Any, school: Organisation, price: int,
                   policy: SchoolPurchasePolicy | None = None) -> bool:
    """The one rule: a governed user's purchase priced above the school's approval threshold waits for
    a school administrator's approval."""
    policy = policy if policy is not None else policy_of(school)
    return (is_governed(user) and policy is not None and policy.approval_threshold is not None
            and price > policy.approval_threshold)


def allowance_for(*, teacher: Any, school: Organisation, term: str,
                  policy: SchoolPurchasePolicy | None = None, create: bool = False) -> TeacherAllowance | None:
    """The teacher's allowance for ``term``: their own row, or (with ``create``) a new one at the
    school's default. None when neither the administrator nor the school's policy sets one (no limit)."""
    row = TeacherAllowance.objects.filter(teacher=teacher, term=term).first()
    if row is not None:
        return row
    policy = policy if policy is not None else policy_of(school)
    if policy is None or policy.teacher_allowance is None:
        return None
    if not create:
        return TeacherAllowance(school=school, teacher=teacher, term=term, amount=policy.teacher_allowance,
                                spent=0, updated_at=timezone.now())
    row, _created = TeacherAllowance.objects.get_or_create(
        teacher=teacher, term=term,
        defaults={"school": school, "amount": policy.teacher_allowance, "updated_at": timezone.now()})
    return row


def purchase_limits_apply(*, buyer: Any, school: Organisation, price: int, now: dt.datetime) -> TeacherAllowance | None:
    """Call in the purchase's transaction, after the school's account row is locked: refuse a governed
    buyer's purchase that needs approval (ApprovalRequiredError) and charge their allowance with a
    conditional ``UPDATE … WHERE spent <= amount - price`` (AllowanceExceededError when short). Returns
    the charged allowance, or None when no limit applies."""
    if not is_governed(buyer):
        return None
    policy = policy_of(school)
    if needs_approval(user=buyer, school=school, price=price, policy=policy):
        assert policy is not None and policy.approval_threshold is not None
        raise ApprovalRequiredError(details={"price": price, "approval_threshold": policy.approval_threshold})
    term = term_of(timezone.localdate(now))
    allowance = allowance_for(teacher=buyer, school=school, term=term, policy=policy, create=True)
    if allowance is None:
        return None
    charged = TeacherAllowance.objects.filter(pk=allowance.pk, spent__lte=F("amount") - price).update(
        spent=F("spent") + price, updated_at=now)
    if charged != 1:
        allowance.refresh_from_db()
        raise AllowanceExceededError(details={"price": price, "term": term, "allowance": allowance.amount,
                                              "spent": allowance.spent, "remaining": allowance.remaining})
    allowance.refresh_from_db()
    return allowance


@dataclass(frozen=True)
class PurchaseOutlook:
    """What a buyer sees before the click: the price, the school's balance, what is left of their
    allowance this term, whether it would wait for approval, and why the button is off (a stable code and
    a message) when it is."""

    price: int
    balance: int
    term: str
    allowance: int | None
    allowance_remaining: int | None
    needs_approval: bool
    blocked: str = ""
    blocked_message: str = ""

    @property
    def term_label(self) -> str:
        return term_label(self.term)

    def as_dict(self) -> dict[str, Any]:
        return {"price": self.price, "balance": self.balance, "term": self.term, "allowance": self.allowance,
                "allowance_remaining": self.allowance_remaining, "needs_approval": self.needs_approval,
                "blocked": self.blocked or None, "blocked_message": self.blocked_message or None}


def purchase_outlook(*, user: Any, school: Organisation, price: int, balance: int) -> PurchaseOutlook:
    policy = policy_of(school)
    term = current_term()
    governed = is_governed(user)
    allowance = allowance_for(teacher=user, school=school, term=term, policy=policy) if governed else None
    approval = needs_approval(user=user, school=school, price=price, policy=policy)
    blocked, message = "", ""
    if balance < price:
        blocked, message = "insufficient_vouchers", str(_("学校资源券余额不足，无法购买。"))
    elif allowance is not None and not approval and allowance.remaining < price:
        blocked, message = "allowance_exceeded", str(_("您本学期的资源券额度不足，请联系学校管理员。"))
    return PurchaseOutlook(price=price, balance=balance, term=term,
                           allowance=allowance.amount if allowance is not None else None,
                           allowance_remaining=allowance.remaining if allowance is not None else None,
                           needs_approval=approval, blocked=blocked, blocked_message=message)
