"""Reads of licensing, filtered by what the user may see (roles, then django-guardian object rights)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet, Sum
from guardian.shortcuts import get_objects_for_user

from catalog.models import Resource
from exchange.models import Organisation, User
from exchange.roles import Role, user_has_role
from licensing.errors import TakedownNotFoundError, VoucherAccountNotFoundError
from licensing.models import Grant, LedgerEntry, LedgerTransaction, TakedownNotice, VoucherAccount

LEDGER_ROLES = (Role.SCHOOL_ADMIN, Role.PROVINCE_ADMIN)


# --- vouchers -----------------------------------------------------------------------------------------

def voucher_account_list(*, user: Any) -> QuerySet[VoucherAccount]:
    """The accounts whose ledger ``user`` may see: school administrators their school's, province
    administrators those of their province's schools (the ``view_ledger`` object right)."""
    if not any(user_has_role(user, role) for role in LEDGER_ROLES):
        return VoucherAccount.objects.none()
    return get_objects_for_user(user, "licensing.view_ledger", klass=VoucherAccount.objects.select_related(
        "organisation"), accept_global_perms=False).order_by("key")


def voucher_account_get(*, user: Any, account_id: Any) -> VoucherAccount:
    """Raises VoucherAccountNotFoundError when there is no such account or the user may not see it."""
    try:
        return voucher_account_list(user=user).get(pk=int(account_id))
    except (VoucherAccount.DoesNotExist, TypeError, ValueError) as exc:
        raise VoucherAccountNotFoundError() from exc


def school_account_for(*, user: Any) -> VoucherAccount | None:
    """The voucher account of the user's school, if it has one yet."""
    org = getattr(user, "organisation", None)
    if org is None or org.kind != Organisation.Kind.SCHOOL:
        return None
    return VoucherAccount.objects.filter(key=f"school:{org.pk}").first()


def school_teachers(*, school: Organisation) -> QuerySet[Any]:
    """The teachers of a school, by name."""
    return User.objects.filter(organisation=school, groups__name=Role.TEACHER, is_active=True).order_by("username")


def ledger_entry_list(*, account: VoucherAccount) -> QuerySet[LedgerEntry]:
    return account.entries.select_related("transaction", "transaction__resource", "transaction__actor").order_by(
        "-created_at", "-id")


@dataclass(frozen=True)
class LedgerProblem:
    kind: str
    object_id: int
    detail: str

    def __str__(self) -> str:
        return f"{self.kind} #{self.object_id}: {self.detail}"


def ledger_verify() -> list[LedgerProblem]:
    """Check the double-entry invariants: every movement balances and matches its stated amount, every
    cached balance equals credits minus debits, and no account that may not go negative is negative."""
    problems: list[LedgerProblem] = []
    sums = LedgerEntry.objects.values("transaction_id").annotate(
        debits=Sum("amount", filter=Q(side=LedgerEntry.Side.DEBIT)),
        credits=Sum("amount", filter=Q(side=LedgerEntry.Side.CREDIT))).order_by()
    stated = dict(LedgerTransaction.objects.values_list("pk", "amount"))
    seen = set()
    for row in sums:
        txn, debits, credits = row["transaction_id"], row["debits"] or 0, row["credits"] or 0
        seen.add(txn)
        if debits != credits:
            problems.append(LedgerProblem("transaction", txn, f"debits {debits} ≠ credits {credits}"))
        elif debits != stated.get(txn):
            problems.append(LedgerProblem("transaction", txn, f"entries move {debits}, stated {stated.get(txn)}"))
    for txn in sorted(set(stated) - seen):
        problems.append(LedgerProblem("transaction", txn, "has no entries"))
    derived = {
        row["account_id"]: (row["credits"] or 0) - (row["debits"] or 0)
        for row in LedgerEntry.objects.values("account_id").annotate(
            debits=Sum("amount", filter=Q(side=LedgerEntry.Side.DEBIT)),
            credits=Sum("amount", filter=Q(side=LedgerEntry.Side.CREDIT))).order_by()
    }
    for account in VoucherAccount.objects.order_by("pk"):
        expected = derived.get(account.pk, 0)
        if account.balance != expected:
            problems.append(LedgerProblem("account", account.pk,
                                          f"cached balance {account.balance} ≠ entries {expected}"))
        if not account.allow_negative and account.balance < 0:
            problems.append(LedgerProblem("account", account.pk, f"negative balance {account.balance}"))
    return problems


# --- grants --------------------------------------------------------------------------------------------

def grant_list_for_user(*, user: Any) -> QuerySet[Grant]:
    """The user's personal grants and their school's school-wide grants, newest first."""
    if not getattr(user, "is_authenticated", False):
        return Grant.objects.none()
    covers = Q(scope=Grant.Scope.PERSONAL, user_id=user.pk)
    if user.organisation_id is not None:
        covers |= Q(scope=Grant.Scope.SCHOOL, organisation_id=user.organisation_id)
    return Grant.objects.filter(covers).select_related("resource", "organisation").order_by("-created_at")


# --- takedowns -----------------------------------------------------------------------------------------

def takedown_list(*, user: Any, status: str | None = None) -> QuerySet[TakedownNotice]:
    """Notices the user may see: those they filed; for reviewers, those about resources of their
    province (the ``catalog.review_resource`` object right); for hub operators, all."""
    if not getattr(user, "is_authenticated", False):
        return TakedownNotice.objects.none()
    qs = TakedownNotice.objects.select_related("resource", "filed_by", "decided_by")
    if not user_has_role(user, Role.HUB_OPERATOR):
        visible = Q(filed_by_id=user.pk)
        if user_has_role(user, Role.REVIEWER):
            reviewable = get_objects_for_user(user, "catalog.review_resource", klass=Resource,
                                              accept_global_perms=False).values("pk")
            visible |= Q(resource_id__in=reviewable)
        qs = qs.filter(visible)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-filed_at", "-id")


def takedown_get(*, user: Any, notice_id: Any) -> TakedownNotice:
    """Raises TakedownNotFoundError when there is no such notice or the user may not see it."""
    try:
        return takedown_list(user=user).get(pk=int(notice_id))
    except (TakedownNotice.DoesNotExist, TypeError, ValueError) as exc:
        raise TakedownNotFoundError() from exc
