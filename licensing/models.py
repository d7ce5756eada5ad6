"""Licensing: who may use a resource on what terms, and the money and events that follow.

* **Vouchers** (数字资源券) are kept in a double-entry ledger. Every movement is one
  ``LedgerTransaction`` with balanced ``LedgerEntry`` rows (debits = credits). Entries and transactions
  are append-only: never updated, never deleted. An account's balance is the sum of its credits minus
  its debits; ``VoucherAccount.balance`` caches it and is only ever changed by a conditional
  ``UPDATE`` in the same transaction as the entries, so a school account cannot go below zero even
  under concurrent spends (a database CHECK constraint backs this up). A province's *issuer* account
  is the source of the vouchers it funds schools with and runs negative by design.
* A ``Grant`` is a purchased entitlement to a resource — school-wide or personal — for a term.
* A ``DownloadEvent`` records each allowed download and on what basis it was allowed.
* A ``TakedownNotice`` is filed by a rights holder or an administrator and upheld or rejected by the
  province's reviewers; upholding withdraws the resource through the catalog.

The licences themselves and each resource's rights statement are descriptive data that live in
``catalog``; the rules that interpret them live in ``licensing.decisions``.
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from catalog.models import Resource, ResourceFile
from exchange.models import Organisation


class AppendOnlyQuerySet(models.QuerySet):
    """Ledger rows are facts: a queryset over them refuses bulk updates and deletes."""

    def update(self, **kwargs: Any) -> NoReturn:
        raise RuntimeError(f"{self.model.__name__} rows are append-only.")

    def delete(self) -> NoReturn:
        raise RuntimeError(f"{self.model.__name__} rows are append-only.")


class AppendOnlyModel(models.Model):
    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise RuntimeError(f"{type(self).__name__} rows are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise RuntimeError(f"{type(self).__name__} rows are append-only.")


class VoucherAccount(models.Model):
    """A voucher account of an organisation: a school's spending account, a province's issuer account
    (the source of funding) or a publisher's revenue account. Remote publishers (records synced from
    other nodes) are paid through a clearing account per origin node."""

    class Kind(models.TextChoices):
        SCHOOL = "school", _("学校账户")
        ISSUER = "issuer", _("省级发放账户")
        PUBLISHER = "publisher", _("发布机构收入账户")
        CLEARING = "clearing", _("跨节点清算账户")

    key = models.CharField(max_length=64, unique=True, help_text=_("kind:organisation id or kind:node id"))
    kind = models.CharField(max_length=16, choices=Kind.choices)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="voucher_accounts", null=True, blank=True
    )
    node_id = models.CharField(max_length=32, blank=True)
    allow_negative = models.BooleanField(default=False)
    balance = models.BigIntegerField(default=0, help_text=_("Cache of credits minus debits"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["key"]
        permissions = [
            ("view_ledger", "Can view the account's balance and ledger"),
            ("fund_account", "Can fund the account"),
            ("spend_vouchers", "Can spend the account's vouchers on grants"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(allow_negative=True) | Q(balance__gte=0), name="voucher_account_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.key


class LedgerTransaction(AppendOnlyModel):
    """One movement of vouchers: its entries balance (sum of debits = sum of credits)."""

    class Kind(models.TextChoices):
        FUND = "fund", _("发放")
        PURCHASE = "purchase", _("购买授权")

    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount = models.PositiveBigIntegerField(help_text=_("Total moved (= sum of debits = sum of credits)"))
    memo = models.CharField(max_length=300, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    resource = models.ForeignKey(Resource, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="ledger_transaction_positive")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} {self.amount}"


class LedgerEntry(AppendOnlyModel):
    """One side of a movement on one account."""

    class Side(models.TextChoices):
        DEBIT = "debit", _("借")
        CREDIT = "credit", _("贷")

    transaction = models.ForeignKey(LedgerTransaction, on_delete=models.PROTECT, related_name="entries")
    account = models.ForeignKey(VoucherAccount, on_delete=models.PROTECT, related_name="entries")
    side = models.CharField(max_length=6, choices=Side.choices)
    amount = models.PositiveBigIntegerField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["account", "-created_at"])]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="ledger_entry_positive")]

    def __str__(self) -> str:
        return f"{self.side} {self.amount} {self.account_id}"


class Grant(models.Model):
    """A purchased entitlement to use a resource, for everyone at a school or for one teacher."""

    class Scope(models.TextChoices):
        SCHOOL = "school", _("全校授权")
        PERSONAL = "personal", _("个人授权")

    resource = models.ForeignKey(Resource, on_delete=models.PROTECT, related_name="grants")
    scope = models.CharField(max_length=16, choices=Scope.choices)
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="grants")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="personal_grants", null=True, blank=True
    )
    buyer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    price = models.PositiveIntegerField()
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    ledger_transaction = models.OneToOneField(
        LedgerTransaction, on_delete=models.PROTECT, related_name="grant", null=True, blank=True
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["resource", "organisation", "ends_at"]),
            models.Index(fields=["resource", "user", "ends_at"]),
            models.Index(fields=["created_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(Q(scope="school", user__isnull=True) | Q(scope="personal", user__isnull=False)),
                name="grant_scope_matches_user",
            ),
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="grant_term_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.scope} grant on {self.resource_id} until {self.ends_at:%Y-%m-%d}"


class DownloadEvent(models.Model):
    """One allowed download, with the rule that allowed it (the decision's reason code)."""

    resource = models.ForeignKey(Resource, on_delete=models.PROTECT, related_name="download_events")
    file = models.ForeignKey(ResourceFile, on_delete=models.SET_NULL, related_name="+", null=True, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="download_events")
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="download_events", null=True, blank=True
    )
    basis = models.CharField(max_length=32, help_text=_("Reason code of the allowing decision"))
    grant = models.ForeignKey(Grant, on_delete=models.PROTECT, related_name="download_events", null=True, blank=True)
    delivery = models.CharField(max_length=16, help_text=_("presigned (object store) or signed (node-served)"))
    ip = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["resource", "created_at"])]

    def __str__(self) -> str:
        return f"download of {self.resource_id} by {self.user_id}"


class TakedownNotice(models.Model):
    """A claim that a resource infringes rights, and the province reviewers' decision on it."""

    class Status(models.TextChoices):
        OPEN = "open", _("待处理")
        UPHELD = "upheld", _("已成立")
        REJECTED = "rejected", _("已驳回")

    class Grounds(models.TextChoices):
        COPYRIGHT = "copyright", _("侵犯著作权")
        LICENCE_BREACH = "licence_breach", _("违反许可条款")
        UNLAWFUL_CONTENT = "unlawful_content", _("内容违法违规")
        OTHER = "other", _("其他")

    resource = models.ForeignKey(Resource, on_delete=models.PROTECT, related_name="takedown_notices")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN, db_index=True)
    grounds = models.CharField(max_length=32, choices=Grounds.choices)
    statement = models.TextField()
    claimant = models.CharField(max_length=200, help_text=_("Who claims the rights (organisation name)"))
    filed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                 null=True, blank=True, help_text=_("Empty for a notice another node forwarded"))
    filed_at = models.DateTimeField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    # A notice about another province's resource is forwarded to the national hub, which decides it
    # and sends the decision back: at the filing node ``forwarded_to`` is the hub; at the hub
    # ``forwarded_from``/``remote_ref`` name the filing node and its notice. ``exchanged_at`` is when
    # the other side acknowledged (the forward, or the decision); until then the sync tick retries.
    forwarded_to = models.CharField(max_length=63, blank=True)
    forwarded_from = models.CharField(max_length=63, blank=True)
    remote_ref = models.PositiveBigIntegerField(null=True, blank=True)
    exchanged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-filed_at"]
        indexes = [models.Index(fields=["resource", "status"])]
        constraints = [
            models.UniqueConstraint(fields=["forwarded_from", "remote_ref"], condition=models.Q(remote_ref__isnull=False),
                                    name="takedown_forwarded_once"),
        ]

    def __str__(self) -> str:
        return f"takedown #{self.pk} ({self.status}) of {self.resource_id}"


class SettlementClose(models.Model):
    """A month whose settlement is final on this node. A grant receipt for a closed month that arrives
    afterwards is kept but flagged late: it counts in the month it arrived, and never silently changes
    the figures of a month already paid out."""

    month = models.DateField(unique=True, help_text=_("First day of the closed month"))
    closed_at = models.DateTimeField()
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                  null=True, blank=True)
    note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-month"]

    def __str__(self) -> str:
        return f"settlement {self.month:%Y-%m} closed"


# --- how a school governs its teachers' spending ---------------------------------------------------------

class SchoolPurchasePolicy(models.Model):
    """A school administrator's rules for the teachers' purchases with the school's vouchers: how much
    each teacher may spend per school term (``teacher_allowance``; unset: no per-teacher limit) and the
    price above which a teacher's purchase waits for a school administrator's approval
    (``approval_threshold``; unset: none waits). School administrators' own purchases are theirs to make."""

    school = models.OneToOneField(Organisation, on_delete=models.CASCADE, primary_key=True,
                                  related_name="purchase_policy")
    teacher_allowance = models.PositiveBigIntegerField(null=True, blank=True,
                                                       help_text=_("Vouchers each teacher may spend per term"))
    approval_threshold = models.PositiveBigIntegerField(
        null=True, blank=True, help_text=_("A teacher's purchase priced above this waits for approval"))
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"purchase policy of {self.school_id}"


class TeacherAllowance(models.Model):
    """What one teacher may spend of the school's vouchers in one term, and has spent. ``spent`` only
    grows, by a conditional ``UPDATE … WHERE spent + price <= amount`` in the purchase's transaction
    (a CHECK constraint backs it up), so two purchases at once cannot overspend it."""

    school = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="teacher_allowances")
    teacher = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="allowances")
    term = models.CharField(max_length=16, help_text=_("School term, e.g. 2026-autumn"))
    amount = models.PositiveBigIntegerField()
    spent = models.PositiveBigIntegerField(default=0)
    set_by_admin = models.BooleanField(default=False, help_text=_("Set for this teacher, not the school default"))
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["school", "teacher", "-term"]
        constraints = [
            models.UniqueConstraint(fields=["teacher", "term"], name="allowance_one_per_teacher_term"),
            models.CheckConstraint(condition=Q(spent__lte=models.F("amount")), name="allowance_not_overspent"),
        ]

    def __str__(self) -> str:
        return f"{self.teacher_id} {self.term}: {self.spent}/{self.amount}"

    @property
    def remaining(self) -> int:
        return max(0, self.amount - self.spent)


class PurchaseRequest(models.Model):
    """A teacher's purchase waiting for a school administrator's approval (its price is above the
    school's approval threshold). Approval makes the purchase, for the teacher, from the school's
    account; rejection ends it."""

    class Status(models.TextChoices):
        PENDING = "pending", _("待审批")
        APPROVED = "approved", _("已批准")
        REJECTED = "rejected", _("已拒绝")

    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="purchase_requests")
    scope = models.CharField(max_length=16, choices=Grant.Scope.choices)
    school = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="purchase_requests")
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    price = models.PositiveIntegerField(help_text=_("The price when asked"))
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    requested_at = models.DateTimeField()
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=500, blank=True)
    grant = models.OneToOneField(Grant, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["requester", "resource", "scope"], condition=Q(status="pending"),
                                    name="purchase_request_one_pending"),
        ]

    def __str__(self) -> str:
        return f"purchase request #{self.pk} ({self.status})"
