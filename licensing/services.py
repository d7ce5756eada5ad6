"""Writes of licensing: voucher funding and purchases (double-entry ledger), downloads, takedowns.

Every service is keyword-only, atomic and audited, checks who may act (roles, and django-guardian
object rights on voucher accounts and resources) and asks ``licensing.decisions.decide`` whenever the
question is whether someone may use a resource.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.module_loading import import_string
from guardian.shortcuts import assign_perm

from catalog.errors import ResourceNotFoundError
from catalog.models import Resource, ResourceFile
from catalog.permissions import can_order_national_takedown, can_review, can_see, reviewing_bureau
from catalog.services import resource_withdraw_for_takedown
from catalog.storage import get_blob_store
from catalog.takedowns import resource_withdraw_national
from catalog.usage import resource_download_count_increment
from exchange.audit import audit_record
from exchange.errors import InvalidInputError, NotFoundError
from exchange.inputs import clean_text
from exchange.models import Organisation
from exchange.roles import Role, user_has_role
from licensing.allowances import purchase_limits_apply
from licensing.decisions import Action, Decision, Reason, active_grant_facts, decide, subject_of
from licensing.errors import (
    AccessRefusedError,
    AlreadyEntitledError,
    FileUnavailableError,
    FundingNotAllowedError,
    InsufficientVouchersError,
    LedgerUnbalancedError,
    NoSchoolAccountError,
    NotClaimantError,
    NotPurchasableError,
    NotTakedownReviewerError,
    ResourceAlreadyWithdrawnError,
    TakedownAlreadyDecidedError,
    TakedownNotFoundError,
)
from licensing.links import file_token_make, file_url, link_ttl_seconds
from licensing.metrics import DOWNLOADS, PURCHASE_VOUCHERS, PURCHASES
from licensing.models import (
    DownloadEvent,
    Grant,
    LedgerEntry,
    LedgerTransaction,
    TakedownNotice,
    VoucherAccount,
)

Side = LedgerEntry.Side
PURCHASER_ROLES = (Role.TEACHER, Role.SCHOOL_ADMIN)
CLAIMANT_ROLES = (Role.PUBLISHER, Role.PROVINCE_ADMIN, Role.HUB_OPERATOR)


# --- voucher accounts and the ledger --------------------------------------------------------------------

@transaction.atomic
def voucher_account_ensure(*, school: Organisation) -> VoucherAccount:
    """The school's voucher account, created on first use. Object rights (django-guardian): the
    school's members group may view its ledger and spend from it (roles decide which members act); the
    members of the province's education bureau may view it and fund it."""
    if school.kind != Organisation.Kind.SCHOOL:
        raise InvalidInputError("Only schools have voucher accounts.", details={"school": ["Not a school."]})
    account, created = VoucherAccount.objects.get_or_create(
        key=f"school:{school.pk}", defaults={"kind": VoucherAccount.Kind.SCHOOL, "organisation": school})
    if created:
        if school.members_group_id:
            assign_perm("licensing.view_ledger", school.members_group, account)
            assign_perm("licensing.spend_vouchers", school.members_group, account)
        bureau = reviewing_bureau(school.province_code)
        if bureau is not None and bureau.members_group_id:
            assign_perm("licensing.view_ledger", bureau.members_group, account)
            assign_perm("licensing.fund_account", bureau.members_group, account)
    return account


def _issuer_account(province_code: str) -> VoucherAccount:
    account, _ = VoucherAccount.objects.get_or_create(
        key=f"issuer:{province_code}",
        defaults={"kind": VoucherAccount.Kind.ISSUER, "allow_negative": True,
                  "organisation": reviewing_bureau(province_code)})
    return account


def _revenue_account(resource: Resource) -> VoucherAccount:
    """Where a purchase's vouchers go: the local publisher's revenue account, or the clearing account of
    the node a remote resource comes from (settled between nodes)."""
    if resource.publisher_id is not None and not resource.is_remote:
        account, _ = VoucherAccount.objects.get_or_create(
            key=f"publisher:{resource.publisher_id}",
            defaults={"kind": VoucherAccount.Kind.PUBLISHER, "organisation_id": resource.publisher_id})
        return account
    account, _ = VoucherAccount.objects.get_or_create(
        key=f"clearing:{resource.origin_node}",
        defaults={"kind": VoucherAccount.Kind.CLEARING, "node_id": resource.origin_node})
    return account


def _post(
    *, kind: str, actor: Any, legs: list[tuple[VoucherAccount, str, int]], memo: str = "",
    resource: Resource | None = None, now: dt.datetime,
) -> LedgerTransaction:
    """Write one balanced movement: its entries and the cached balances, in the caller's transaction.

    A debit on an account that may not go negative is a conditional ``UPDATE … WHERE balance >= amount``;
    when no row matches, InsufficientVouchersError is raised and nothing of the movement stays."""
    debits = sum(amount for _, side, amount in legs if side == Side.DEBIT)
    credits = sum(amount for _, side, amount in legs if side == Side.CREDIT)
    if debits != credits or debits <= 0 or any(amount <= 0 for *_, amount in legs):
        raise LedgerUnbalancedError(details={"debits": debits, "credits": credits})
    txn = LedgerTransaction(kind=kind, amount=debits, memo=memo[:300], actor=actor, resource=resource,
                            created_at=now)
    txn.full_clean()
    txn.save(force_insert=True)
    for account, side, amount in legs:
        rows = VoucherAccount.objects.filter(pk=account.pk)
        if side == Side.DEBIT:
            if not account.allow_negative:
                rows = rows.filter(balance__gte=amount)
            if rows.update(balance=F("balance") - amount) != 1:
                balance = VoucherAccount.objects.values_list("balance", flat=True).get(pk=account.pk)
                raise InsufficientVouchersError(details={"balance": balance, "price": amount})
        else:
            rows.update(balance=F("balance") + amount)
        LedgerEntry(transaction=txn, account=account, side=side, amount=amount, created_at=now).save(force_insert=True)
    return txn


#: One funding gives each student at most this many vouchers.
MAX_VOUCHERS_PER_STUDENT = 100_000


@transaction.atomic
def vouchers_fund(*, actor: Any, school: Organisation, per_student: int, memo: str = "") -> LedgerTransaction:
    """A province administrator funds a school's voucher account with ``per_student`` vouchers for each
    of the school's students (the province's issuer account is debited, the school's credited).

    Raises FundingNotAllowedError unless ``actor`` is a province administrator whose bureau holds the
    fund right on the school's account (its own province); InvalidInputError for a non-school, an
    amount that is not positive or above MAX_VOUCHERS_PER_STUDENT, or a school with no students on record."""
    if (not isinstance(per_student, int) or isinstance(per_student, bool)
            or not 0 < per_student <= MAX_VOUCHERS_PER_STUDENT):
        raise InvalidInputError(f"per_student must be a whole number from 1 to {MAX_VOUCHERS_PER_STUDENT}.",
                                details={"per_student": [f"A whole number from 1 to {MAX_VOUCHERS_PER_STUDENT}."]})
    if not user_has_role(actor, Role.PROVINCE_ADMIN):
        raise FundingNotAllowedError()
    account = voucher_account_ensure(school=school)
    if not actor.has_perm("licensing.fund_account", account):
        raise FundingNotAllowedError()
    if school.student_count <= 0:
        raise InvalidInputError("The school has no students on record.", details={"school": ["No students."]})
    amount = per_student * school.student_count
    now = timezone.now()
    txn = _post(kind=LedgerTransaction.Kind.FUND, actor=actor, now=now, memo=memo,
                legs=[(_issuer_account(school.province_code), Side.DEBIT, amount), (account, Side.CREDIT, amount)])
    audit_record(action="vouchers.fund", actor=actor, object_type="voucher_account", object_id=account.pk,
                 data={"school": school.pk, "per_student": per_student, "student_count": school.student_count,
                       "amount": amount, "transaction": txn.pk, "memo": memo})
    return txn


def grant_purchase(*, buyer: Any, resource: Resource, scope: str) -> Grant:
    """Buy a grant (see ``grant_purchase_for``): a teacher's purchase is held to the school's policy —
    AllowanceExceededError when it is above what is left of their allowance this term,
    ApprovalRequiredError when its price is above the school's approval threshold
    (``licensing.purchase_requests.purchase_submit`` queues those instead)."""
    return grant_purchase_for(buyer=buyer, resource=resource, scope=scope, approved_by=None)


@transaction.atomic
def grant_purchase_for(*, buyer: Any, resource: Resource, scope: str, approved_by: Any | None) -> Grant:
    """Spend the buyer's school's vouchers on a grant to ``resource``: for the whole school or for the
    buyer alone, for the statement's ``grant_days`` (never past the rights' term end).

    Locks, in this order (the order every writer of both takes): the resource row — an edit of its
    rights (``catalog.services.resource_update``) or a remote record's new version holds it too — then
    the school's account row. The decision and the charge use the rights read under those locks, so a
    price edited meanwhile is the price charged, and purchases of one school see every earlier one.
    Raises NoSchoolAccountError unless the buyer is a teacher or school
    administrator holding the spend right on their school's account; AlreadyEntitledError when the
    buyer (or, for a school grant, the school) may already download it; NotPurchasableError when no
    purchase would help (outside the territory, embargoed…); InsufficientVouchersError when the
    balance is short. Each ``LICENSING_GRANT_HOOKS`` entry is called with the new grant inside the
    transaction (federation signs a settlement receipt for the resource's origin and the hub)."""
    if scope not in Grant.Scope.values:
        raise InvalidInputError(f"scope must be one of {', '.join(Grant.Scope.values)}.",
                                details={"scope": [f"One of {', '.join(Grant.Scope.values)}."]})
    school = getattr(buyer, "organisation", None)
    if (school is None or school.kind != Organisation.Kind.SCHOOL
            or not any(user_has_role(buyer, role) for role in PURCHASER_ROLES)):
        raise NoSchoolAccountError()
    account = voucher_account_ensure(school=school)
    if not buyer.has_perm("licensing.spend_vouchers", account):
        raise NoSchoolAccountError()
    resource = Resource.objects.select_for_update().get(pk=resource.pk)  # its rights load after the lock
    account = VoucherAccount.objects.select_for_update().get(pk=account.pk)
    now = timezone.now()
    decision = _purchase_decision(buyer=buyer, resource=resource, scope=scope, now=now)
    if decision.allowed:
        raise AlreadyEntitledError(decision.message, details=decision.details())
    if decision.reason != Reason.PURCHASE_REQUIRED:
        raise NotPurchasableError(decision.message, details=decision.details())
    rights = resource.rights
    # The school's policy, under the account lock: purchases of one school run one after another.
    allowance = None if approved_by is not None else purchase_limits_apply(
        buyer=buyer, school=school, price=rights.price, now=now)
    ends_at = now + dt.timedelta(days=rights.grant_days)
    if rights.term_end is not None:
        term_end = dt.datetime.combine(rights.term_end + dt.timedelta(days=1), dt.time.min,
                                       tzinfo=timezone.get_current_timezone())
        ends_at = min(ends_at, term_end)
    txn = _post(kind=LedgerTransaction.Kind.PURCHASE, actor=buyer, now=now, resource=resource,
                memo=f"{scope} grant: {resource.title}",
                legs=[(account, Side.DEBIT, rights.price), (_revenue_account(resource), Side.CREDIT, rights.price)])
    grant = Grant(resource=resource, scope=scope, organisation=school,
                  user=buyer if scope == Grant.Scope.PERSONAL else None, buyer=buyer, price=rights.price,
                  starts_at=now, ends_at=ends_at, ledger_transaction=txn, created_at=now)
    grant.full_clean()
    grant.save(force_insert=True)
    for hook in _hooks(tuple(settings.LICENSING_GRANT_HOOKS)):
        hook(grant=grant)
    price = rights.price

    def count_purchase() -> None:
        PURCHASES.labels(scope).inc()
        PURCHASE_VOUCHERS.labels(scope).inc(price)

    transaction.on_commit(count_purchase)
    audit_record(action="grant.purchase", actor=buyer, object_type="grant", object_id=grant.pk,
                 data={"resource": str(resource.pk), "scope": scope, "school": school.pk, "price": rights.price,
                       "ends_at": ends_at.isoformat(), "transaction": txn.pk,
                       "approved_by": approved_by.pk if approved_by is not None else None,
                       "allowance": allowance.pk if allowance is not None else None})
    return grant


@cache
def _hooks(paths: tuple[str, ...]) -> list[Callable[..., Any]]:
    return [import_string(path) for path in paths]


def _purchase_decision(*, buyer: Any, resource: Resource, scope: str, now: dt.datetime) -> Decision:
    """The download decision a purchase would change. A school grant is still worth buying when only the
    buyer's personal grant covers them, so for a school purchase only school-wide grants count."""
    found = active_grant_facts(subject=subject_of(buyer), resource_ids=[str(resource.pk)], now=now)
    grants = found.get(str(resource.pk), [])
    if scope == Grant.Scope.SCHOOL:
        grants = [g for g in grants if g.scope == Grant.Scope.SCHOOL]
    return decide(buyer, resource, Action.DOWNLOAD, now=now, grants=grants)


# --- downloads --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DownloadLink:
    file: ResourceFile
    url: str
    expires_at: dt.datetime
    delivery: str


@dataclass(frozen=True)
class DownloadTicket:
    decision: Decision
    event: DownloadEvent
    links: list[DownloadLink]


def download_start(
    *, user: Any, resource: Resource, file_id: Any = None, ip: str = "", base_url: str | None = None,
) -> DownloadTicket:
    """Ask ``decide``; when it allows, record a DownloadEvent, count the download and return short-lived
    links to the resource's files (or to ``file_id`` only): presigned object-store URLs when the blob
    store gives them, otherwise links signed by this node (``licensing.links``) under ``base_url`` — the
    address the request came to — or ``EXCHANGE_BASE_URL``.

    Files of remote resources not stored here yet are first fetched from their origin through
    ``CATALOG_REMOTE_FILE_FETCHER`` (outside any transaction: it waits on the network). Nothing is
    recorded or counted unless every file's bytes are in the blob store: a link that cannot be served
    is no download.
    Raises AccessRefusedError (code = the decision's reason, price in the details) on refusal;
    NotFoundError for an unknown ``file_id``; FileUnavailableError when a file cannot be had here, or the
    fetcher's own error when the origin cannot deliver it."""
    decision = decide(user, resource, Action.DOWNLOAD)
    if not decision.allowed:
        raise AccessRefusedError(decision)
    files = list(resource.files.all())
    if file_id is not None:
        files = [f for f in files if str(f.pk) == str(file_id)]
        if not files:
            raise NotFoundError("No such file in this resource.", details={"file": [str(file_id)]})
    if not files:
        raise FileUnavailableError()
    files = [_ensure_local(f) for f in files]
    store = get_blob_store()
    missing = [str(f.pk) for f in files if not store.exists(f.storage_key)]
    if missing:
        raise FileUnavailableError(details={"files": missing})
    return _download_record(user=user, resource=resource, decision=decision, files=files,
                            single=file_id is not None, ip=ip, base_url=base_url)


def _ensure_local(file: ResourceFile) -> ResourceFile:
    if file.available_locally:
        return file
    fetcher = getattr(settings, "CATALOG_REMOTE_FILE_FETCHER", "")
    if not fetcher:
        raise FileUnavailableError(details={"file": str(file.pk)})
    fetched = import_string(fetcher)(file)
    if not fetched.available_locally:
        raise FileUnavailableError(details={"file": str(file.pk)})
    return fetched


@transaction.atomic
def _download_record(
    *, user: Any, resource: Resource, decision: Decision, files: list[ResourceFile], single: bool, ip: str,
    base_url: str | None,
) -> DownloadTicket:
    now = timezone.now()
    ttl = link_ttl_seconds()
    expires_at = now + dt.timedelta(seconds=ttl)
    store = get_blob_store()
    links: list[DownloadLink] = []
    for f in files:
        url = store.presigned_url(f.storage_key, filename=f.original_name, content_type=f.mime, expires=ttl)
        if url is not None:
            links.append(DownloadLink(file=f, url=url, expires_at=expires_at, delivery="presigned"))
        else:
            token = file_token_make(file_id=f.pk, user_id=user.pk, expires_at=expires_at)
            links.append(DownloadLink(file=f, url=file_url(token, base_url=base_url), expires_at=expires_at,
                                      delivery="signed"))
    event = DownloadEvent(resource=resource, file=files[0] if single else None, user=user,
                          organisation=user.organisation, basis=decision.reason, grant_id=decision.grant_id,
                          delivery=links[0].delivery, ip=ip[:64], created_at=now)
    event.full_clean()
    event.save(force_insert=True)
    resource_download_count_increment(resource_id=resource.pk)
    transaction.on_commit(lambda: DOWNLOADS.labels(decision.reason, event.delivery).inc())
    audit_record(action="resource.download", actor=user, object_type="resource", object_id=resource.pk,
                 data={"event": event.pk, "basis": decision.reason, "grant": decision.grant_id,
                       "files": [str(f.pk) for f in files]}, ip=ip)
    return DownloadTicket(decision=decision, event=event, links=links)


# --- takedowns -------------------------------------------------------------------------------------------

@transaction.atomic
def takedown_file(
    *, user: Any, resource: Resource, grounds: str, statement: str, claimant: str = "",
) -> TakedownNotice:
    """A rights holder (publisher) or an administrator (province administrator, hub operator) files a
    notice that ``resource`` infringes rights. The province's reviewers decide it.

    A notice is about a resource the public can see: filing one about a resource the user may not see
    gets the answer a missing resource gets (``ResourceNotFoundError``), so it cannot probe for drafts;
    one about a resource still in review (which its own publisher sees) is refused too, so no draft's
    title reaches the notice lists of others (hub operators see every notice).

    Raises NotClaimantError for other users; ResourceNotFoundError for a resource the user may not see
    or that is not published; InvalidInputError for unknown grounds or an empty statement;
    ResourceAlreadyWithdrawnError when the resource is already withdrawn."""
    if not any(user_has_role(user, role) for role in CLAIMANT_ROLES):
        raise NotClaimantError()
    if not can_see(user, resource):
        raise ResourceNotFoundError()
    problems: dict[str, list[str]] = {}
    if grounds not in TakedownNotice.Grounds.values:
        problems["grounds"] = [f"One of {', '.join(TakedownNotice.Grounds.values)}."]
    statement = (statement or "").strip()
    if not statement:
        problems["statement"] = ["Say which rights are infringed and how."]
    if problems:
        raise InvalidInputError(details=problems)
    if resource.status == Resource.Status.WITHDRAWN:
        raise ResourceAlreadyWithdrawnError()
    if resource.status != Resource.Status.PUBLISHED:
        raise ResourceNotFoundError()
    org = getattr(user, "organisation", None)
    notice = TakedownNotice(resource=resource, grounds=grounds, statement=statement,
                            claimant=(claimant or (org.name if org else user.get_username())).strip()[:200],
                            filed_by=user, filed_at=timezone.now())
    notice.full_clean()
    notice.save(force_insert=True)
    audit_record(action="takedown.file", actor=user, object_type="takedown", object_id=notice.pk,
                 data={"resource": str(resource.pk), "grounds": grounds, "claimant": notice.claimant})
    _takedown_hooks(notice, "filed")
    return notice


def _takedown_hooks(notice: TakedownNotice, event: str) -> None:
    """``LICENSING_TAKEDOWN_HOOKS`` (federation forwards notices about other provinces' resources to
    the hub, and sends the hub's decisions back), inside the caller's transaction."""
    for hook in _hooks(tuple(settings.LICENSING_TAKEDOWN_HOOKS)):
        hook(notice=notice, event=event)


@transaction.atomic
def takedown_receive_forwarded(
    *, node_id: str, remote_ref: int, resource: Resource, grounds: str, statement: str, claimant: str,
    filed_at: dt.datetime,
) -> tuple[TakedownNotice, bool]:
    """(Hub) Take in a notice another node forwarded about a resource the hub holds; hub operators
    decide it like their own. Idempotent per (node, notice). Returns (notice, created).
    Raises InvalidInputError for unknown grounds or an empty statement."""
    existing = TakedownNotice.objects.filter(forwarded_from=node_id, remote_ref=remote_ref).first()
    if existing is not None:
        return existing, False
    statement = (statement or "").strip()
    if grounds not in TakedownNotice.Grounds.values or not statement:
        raise InvalidInputError("A forwarded notice needs known grounds and a statement.",
                                details={"grounds": [grounds], "statement": [] if statement else ["empty"]})
    notice = TakedownNotice(resource=resource, grounds=grounds, statement=statement[:20000],
                            claimant=(claimant or node_id).strip()[:200], filed_by=None, filed_at=filed_at,
                            forwarded_from=node_id, remote_ref=remote_ref)
    notice.save(force_insert=True)
    audit_record(action="takedown.forwarded_in", actor=node_id, object_type="takedown", object_id=notice.pk,
                 data={"resource": str(resource.pk), "grounds": grounds, "from": node_id, "ref": remote_ref})
    return notice, True


@transaction.atomic
def takedown_decided_elsewhere(*, notice_id: int, decided_by_node: str, upheld: bool, note: str) -> TakedownNotice:
    """(Filing node) The hub decided a notice this node forwarded to it: record the decision (the
    withdrawal itself arrives as the hub's signed takedown order). Idempotent.
    Raises TakedownNotFoundError unless the notice was forwarded to ``decided_by_node``."""
    notice = (TakedownNotice.objects.select_for_update()
              .filter(pk=notice_id, forwarded_to=decided_by_node).first())
    if notice is None:
        raise TakedownNotFoundError()
    if notice.status == TakedownNotice.Status.OPEN:
        notice.status = TakedownNotice.Status.UPHELD if upheld else TakedownNotice.Status.REJECTED
        notice.decided_at, notice.decision_note = timezone.now(), f"[{decided_by_node}] {note}".strip()[:5000]
        notice.save(update_fields=["status", "decided_at", "decision_note"])
        audit_record(action="takedown.decided_elsewhere", actor=decided_by_node, object_type="takedown",
                     object_id=notice.pk, data={"upheld": upheld, "note": note})
    return notice


def can_decide_takedown(user: Any, resource: Resource) -> bool:
    """The reviewers of the resource's province decide its takedown notices; at the national hub,
    hub operators decide them for every province's resources (a national takedown)."""
    return can_review(user, resource) or can_order_national_takedown(user, resource)


def _lock_open_notice(*, user: Any, notice: TakedownNotice) -> TakedownNotice:
    if not can_decide_takedown(user, notice.resource):
        raise NotTakedownReviewerError()
    locked = TakedownNotice.objects.select_for_update().select_related("resource").get(pk=notice.pk)
    if locked.status != TakedownNotice.Status.OPEN:
        raise TakedownAlreadyDecidedError(details={"status": locked.status})
    return locked


@transaction.atomic
def takedown_uphold(*, user: Any, notice: TakedownNotice, note: str = "") -> TakedownNotice:
    """A reviewer of the resource's province upholds the notice: the resource is withdrawn at once
    (``catalog.services.resource_withdraw_for_takedown``: out of the index and the public catalog, every
    decision about it now ``withdrawn``, and a ``takedown_upheld`` change for the federation feed).
    At the hub a hub operator may uphold notices on any province's resource: the hub's copy is
    withdrawn and the hub signs a national takedown order that every node, the origin included, applies.

    Raises NotTakedownReviewerError for anyone else; TakedownAlreadyDecidedError when it was decided."""
    notice = _lock_open_notice(user=user, notice=notice)
    note = clean_text(note, field="note")
    withdrawal_note = f"takedown #{notice.pk}: {note}".strip(": ")
    if notice.resource.status != Resource.Status.WITHDRAWN:
        if notice.resource.is_remote:  # a national takedown, ordered at the hub
            resource = notice.resource
            resource_withdraw_national(origin=resource.origin_node, record_id=resource.record_id, actor=user,
                                       ordered_by=settings.EXCHANGE_NODE_ID, note=withdrawal_note)
        else:
            resource_withdraw_for_takedown(resource=notice.resource, actor=user, note=withdrawal_note)
    notice.status, notice.decided_by, notice.decided_at = TakedownNotice.Status.UPHELD, user, timezone.now()
    notice.decision_note = note.strip()
    notice.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    audit_record(action="takedown.uphold", actor=user, object_type="takedown", object_id=notice.pk,
                 data={"resource": str(notice.resource_id), "note": notice.decision_note})
    _takedown_hooks(notice, "decided")
    return notice


@transaction.atomic
def takedown_reject(*, user: Any, notice: TakedownNotice, note: str) -> TakedownNotice:
    """A reviewer of the resource's province rejects the notice, saying why (the claimant sees it).

    Raises NotTakedownReviewerError for anyone else; InvalidInputError without a note;
    TakedownAlreadyDecidedError when it was decided."""
    note = clean_text(note, field="note")
    if not note:
        raise InvalidInputError("A rejection needs a reason.", details={"note": ["This field is required."]})
    notice = _lock_open_notice(user=user, notice=notice)
    notice.status, notice.decided_by, notice.decided_at = TakedownNotice.Status.REJECTED, user, timezone.now()
    notice.decision_note = note.strip()
    notice.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    audit_record(action="takedown.reject", actor=user, object_type="takedown", object_id=notice.pk,
                 data={"resource": str(notice.resource_id), "note": notice.decision_note})
    _takedown_hooks(notice, "decided")
    return notice
