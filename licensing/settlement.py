"""Settlement: per period and publisher, how often its resources were downloaded (and on what basis),
how many grants schools bought and how many vouchers they spent on them — from the download events, the
grants and the ledger, plus the paid grants other nodes reported for its resources in signed receipts. Shown as JSON and exported as CSV; the hub aggregates the provinces' reports."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.module_loading import import_string

from catalog.models import Resource
from exchange.audit import audit_record
from exchange.inputs import MAX_DATE, MIN_DATE, calendar_date
from exchange.roles import Role, user_has_role
from licensing.errors import InvalidPeriodError, SettlementNotAllowedError
from licensing.models import DownloadEvent, Grant, LedgerEntry, LedgerTransaction, SettlementClose


@dataclass(frozen=True)
class Period:
    """A settlement period: whole local days from ``start`` to ``end`` inclusive."""

    start: dt.date
    end: dt.date

    @classmethod
    def parse(cls, *, month: str | None = None, start: str | None = None, end: str | None = None) -> Period:
        """``month=YYYY-MM``, or ``start``/``end`` dates (YYYY-MM-DD, inclusive); default: this month.
        Dates lie between ``exchange.inputs.MIN_DATE`` and ``MAX_DATE`` (further out, the period's
        bounds overflow). Raises InvalidPeriodError for anything else."""
        try:
            if month:
                first = calendar_date(f"{month}-01")
                following = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
                return cls(first, following - dt.timedelta(days=1))
            if start or end:
                if not (start and end):
                    raise ValueError("both ends are needed")
                period = cls(calendar_date(start), calendar_date(end))
                if period.end < period.start:
                    raise ValueError("end before start")
                return period
        except ValueError as exc:
            raise InvalidPeriodError(details={"period": [
                f"month=YYYY-MM, or start and end as YYYY-MM-DD, between {MIN_DATE} and {MAX_DATE}."]}) from exc
        today = timezone.localdate()
        return cls.parse(month=f"{today:%Y-%m}")

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """[first instant, first instant after) in the node's time zone."""
        tz = timezone.get_current_timezone()
        return (dt.datetime.combine(self.start, dt.time.min, tzinfo=tz),
                dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time.min, tzinfo=tz))


@dataclass(frozen=True)
class SettlementScope:
    """Whose figures a user may see: everyone's (hub operators), their province's publishers'
    (province administrators) or their own organisation's (publishers)."""

    everything: bool = False
    province: str | None = None
    publisher_id: int | None = None

    def resource_filter(self, prefix: str) -> Q:
        if self.everything:
            return Q()
        if self.province is not None:
            return Q(**{f"{prefix}province": self.province})
        return Q(**{f"{prefix}publisher_id": self.publisher_id})

    def covers_publisher(self, publisher_id: int, publisher_province: str) -> bool:
        if self.everything:
            return True
        if self.province is not None:
            return publisher_province == self.province
        return publisher_id == self.publisher_id


def settlement_scope_for(user: Any) -> SettlementScope:
    """Raises SettlementNotAllowedError for users with none of the roles that see settlement."""
    org = getattr(user, "organisation", None)
    if user_has_role(user, Role.HUB_OPERATOR):
        return SettlementScope(everything=True)
    if user_has_role(user, Role.PROVINCE_ADMIN) and org is not None:
        return SettlementScope(province=org.province_code)
    if user_has_role(user, Role.PUBLISHER) and org is not None:
        return SettlementScope(publisher_id=org.pk)
    raise SettlementNotAllowedError()


@dataclass
class SettlementRow:
    publisher_id: int | None
    publisher: str
    downloads: int = 0
    downloads_by_basis: dict[str, int] = field(default_factory=dict)
    grants: int = 0
    grants_school: int = 0
    grants_personal: int = 0
    buyer_schools: int = 0
    vouchers_spent: int = 0
    # Paid grants decided at other nodes (teachers of other provinces), from their signed receipts.
    grants_elsewhere: int = 0
    vouchers_elsewhere: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def settlement_report(
    *, period: Period, scope: SettlementScope, publisher_ids: Iterable[int] | None = None,
) -> list[SettlementRow]:
    """One row per publisher with any activity in ``period`` within ``scope`` (optionally only
    ``publisher_ids``), ordered by publisher name. Remote resources' publishers appear by name."""
    start, end = period.bounds()
    only = list(publisher_ids) if publisher_ids is not None else None
    rows: dict[tuple[int | None, str], SettlementRow] = {}

    def row(values: dict[str, Any], prefix: str) -> SettlementRow:
        key = (values[f"{prefix}publisher_id"], values[f"{prefix}publisher_name"])
        return rows.setdefault(key, SettlementRow(publisher_id=key[0], publisher=key[1]))

    def narrowed(qs, prefix: str):
        qs = qs.filter(scope.resource_filter(prefix))
        return qs.filter(**{f"{prefix}publisher_id__in": only}) if only is not None else qs

    pub = ("resource__publisher_id", "resource__publisher_name")
    downloads = narrowed(DownloadEvent.objects.filter(created_at__gte=start, created_at__lt=end), "resource__")
    for v in downloads.values(*pub, "basis").annotate(n=Count("id")).order_by():
        r = row(v, "resource__")
        r.downloads += v["n"]
        r.downloads_by_basis[v["basis"]] = r.downloads_by_basis.get(v["basis"], 0) + v["n"]
    grants = narrowed(Grant.objects.filter(created_at__gte=start, created_at__lt=end), "resource__")
    for v in grants.values(*pub, "scope").annotate(n=Count("id")).order_by():
        r = row(v, "resource__")
        r.grants += v["n"]
        if v["scope"] == Grant.Scope.SCHOOL:
            r.grants_school += v["n"]
        else:
            r.grants_personal += v["n"]
    for v in grants.values(*pub).annotate(n=Count("organisation", distinct=True)).order_by():
        row(v, "resource__").buyer_schools = v["n"]
    spent = narrowed(
        LedgerEntry.objects.filter(side=LedgerEntry.Side.DEBIT, transaction__kind=LedgerTransaction.Kind.PURCHASE,
                                   created_at__gte=start, created_at__lt=end),
        "transaction__resource__")
    pub_txn = ("transaction__resource__publisher_id", "transaction__resource__publisher_name")
    for v in spent.values(*pub_txn).annotate(total=Sum("amount")).order_by():
        row(v, "transaction__resource__").vouchers_spent = int(v["total"] or 0)
    sales = {(s["origin"], str(s["resource_id"])): s for s in _sales_elsewhere(start, end)}
    if sales:
        held = Resource.objects.filter(record_id__in={rid for _, rid in sales})
        for v in narrowed(held, "").values("origin_node", "record_id", "publisher_id", "publisher_name"):
            sale = sales.get((v["origin_node"], str(v["record_id"])))
            if sale is None:
                continue
            r = row(v, "")
            r.grants_elsewhere += int(sale["grants"])
            r.vouchers_elsewhere += int(sale["vouchers"] or 0)
    return sorted(rows.values(), key=lambda r: (r.publisher, r.publisher_id or 0))


def _sales_elsewhere(start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    """``LICENSING_REMOTE_SALES(start=, end=)``: per record, the paid grants other nodes reported
    (``origin``, ``resource_id`` — the record id —, ``grants``, ``vouchers``); none when unset."""
    path = settings.LICENSING_REMOTE_SALES
    return list(import_string(path)(start=start, end=end)) if path else []


CSV_COLUMNS = (
    "period_start", "period_end", "publisher_id", "publisher", "downloads", "downloads_open_or_free",
    "downloads_free_for_category", "downloads_with_grant", "downloads_own", "grants", "grants_school",
    "grants_personal", "buyer_schools", "vouchers_spent", "grants_elsewhere", "vouchers_elsewhere",
)


def _cell(value: Any) -> Any:
    """Keep spreadsheet programs from reading a name as a formula (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def settlement_csv(*, period: Period, rows: Iterable[SettlementRow]) -> str:
    """The report as CSV (UTF-8 with a byte-order mark so spreadsheet programs read the Chinese names)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        basis = r.downloads_by_basis
        writer.writerow([
            period.start.isoformat(), period.end.isoformat(), r.publisher_id or "", _cell(r.publisher), r.downloads,
            basis.get("open_licence", 0) + basis.get("free_of_charge", 0), basis.get("free_for_category", 0),
            basis.get("grant_active", 0), basis.get("own_resource", 0), r.grants, r.grants_school,
            r.grants_personal, r.buyer_schools, r.vouchers_spent, r.grants_elsewhere, r.vouchers_elsewhere,
        ])
    return out.getvalue()


# --- closing months ---------------------------------------------------------------------------------

def _month_of(moment: dt.datetime | dt.date) -> dt.date:
    day = timezone.localtime(moment).date() if isinstance(moment, dt.datetime) else moment
    return day.replace(day=1)


def settlement_month_closed(moment: dt.datetime | dt.date) -> bool:
    """Whether the month ``moment`` falls in (node time zone) has been closed."""
    return SettlementClose.objects.filter(month=_month_of(moment)).exists()


def settlement_month_close(*, month: str, actor: Any, note: str = "") -> SettlementClose:
    """Close a month whose settlement is final (hub operators, province administrators, or the operator's
    shell). Idempotent. Raises SettlementNotAllowedError, InvalidPeriodError (not YYYY-MM, or not over yet)."""
    if not isinstance(actor, str) and not (user_has_role(actor, Role.HUB_OPERATOR)
                                           or user_has_role(actor, Role.PROVINCE_ADMIN)):
        raise SettlementNotAllowedError()
    period = Period.parse(month=month) if month else None
    if period is None or period.end >= timezone.localdate():
        raise InvalidPeriodError("Only a month that is over can be closed.", details={"month": [month]})
    close, created = SettlementClose.objects.get_or_create(month=period.start, defaults={
        "closed_at": timezone.now(), "closed_by": None if isinstance(actor, str) else actor, "note": note[:500]})
    if created:
        audit_record(action="settlement.close", actor=actor, object_type="settlement", object_id=f"{period.start:%Y-%m}",
                     data={"note": note})
    return close
