"""Human review decisions: the seven dimensions of the national content-review rules, reason codes, the
notes per field the publisher sees, the province's two-person rule and the review-by date (时效性).

The dimensions (教科信厅〔2024〕1号): 政治性、导向性、科学性、适用性、规范性、时效性、公益性. A
decision states each as ``pass`` or ``fail`` with an optional comment. An approval that states them must
pass all seven; a rejection needs a reason (and gets a reason code: the one given, else the first failed
dimension, else ``other``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from catalog.errors import DimensionFailedError
from catalog.models import Resource, ResourceRevision, ReviewDecision, ReviewPolicy
from catalog.validation import METADATA_FIELDS, RIGHTS_FIELDS
from exchange.audit import audit_record
from exchange.errors import InvalidInputError, PermissionDeniedError
from exchange.inputs import MAX_NOTE_LENGTH, calendar_date, clean_text
from exchange.roles import Role, user_has_role

#: The seven review dimensions, in the order of the national rules.
DIMENSIONS: tuple[tuple[str, Any], ...] = (
    ("political", _("政治性")),
    ("orientation", _("导向性")),
    ("scientific", _("科学性")),
    ("applicability", _("适用性")),
    ("conformity", _("规范性")),
    ("timeliness", _("时效性")),
    ("public_welfare", _("公益性")),
)
DIMENSION_CODES = tuple(code for code, _label in DIMENSIONS)
RESULTS = ("pass", "fail")

#: Why a submission is sent back: a failed dimension, or one of these.
REJECT_REASONS: tuple[tuple[str, Any], ...] = (
    *DIMENSIONS,
    ("rights", _("版权与授权问题")),
    ("files", _("文件问题")),
    ("metadata", _("元数据不准确")),
    ("machine_finding", _("机器预审发现的问题")),
    ("other", _("其他")),
)
REJECT_REASON_CODES = tuple(code for code, _label in REJECT_REASONS)
#: Reason codes of approvals: alone, the first of two (two-person rule), the concurring second one, and
#: a periodic re-review that confirms a published resource.
APPROVED, FIRST_APPROVAL, CONCURRED, REREVIEW_CONFIRMED = "approved", "first_approval", "concurred", "rereview_confirmed"
#: What a reviewer may attach a note to: a metadata field, a rights field, or the files.
NOTE_FIELDS = frozenset((*METADATA_FIELDS, *RIGHTS_FIELDS, "files"))
MAX_REVIEW_BY_YEARS = 10


def clean_dimensions(raw: Any, *, for_approval: bool) -> dict[str, dict[str, str]]:
    """``{"political": "pass" | {"result": "pass", "comment": "…"}, …}`` → ``{code: {"result", "comment"}}``.

    For an approval the dimensions, when given, must be all seven and all ``pass`` (DimensionFailedError
    otherwise); a rejection may state some of them. None or ``{}``: not stated."""
    if raw in (None, "", {}):
        return {}
    if not isinstance(raw, dict):
        raise InvalidInputError("dimensions must be an object.", details={"dimensions": ["An object."]})
    problems: dict[str, list[str]] = {}
    out: dict[str, dict[str, str]] = {}
    for code, value in raw.items():
        if code not in DIMENSION_CODES:
            problems[str(code)[:64]] = [f"Not a review dimension; one of {', '.join(DIMENSION_CODES)}."]
            continue
        result, comment = (value, "") if isinstance(value, str) else (
            (value.get("result"), value.get("comment", "")) if isinstance(value, dict) else (None, ""))
        if result not in RESULTS:
            problems[code] = ["pass or fail (or an object with result and comment)."]
            continue
        try:
            out[code] = {"result": result, "comment": clean_text(comment, field=code, max_length=MAX_NOTE_LENGTH)}
        except InvalidInputError as exc:
            problems[code] = [exc.message]
    if problems:
        raise InvalidInputError("Some review dimensions are not valid.", details={"dimensions": problems})
    if for_approval:
        missing = [code for code in DIMENSION_CODES if code not in out]
        if missing:
            raise InvalidInputError("An approval states all seven review dimensions.",
                                    details={"dimensions": {code: ["Required."] for code in missing}})
        failed = [code for code in DIMENSION_CODES if out[code]["result"] == "fail"]
        if failed:
            raise DimensionFailedError(details={"dimensions": {code: ["Failed."] for code in failed}})
    return out


def clean_field_notes(raw: Any) -> dict[str, str]:
    """Notes per field for the publisher: ``{"title": "…", "price": "…", "files": "…"}`` (empty ones dropped)."""
    if raw in (None, "", {}):
        return {}
    if not isinstance(raw, dict):
        raise InvalidInputError("field_notes must be an object.", details={"field_notes": ["An object."]})
    unknown = sorted(str(k)[:64] for k in raw if k not in NOTE_FIELDS)
    if unknown:
        raise InvalidInputError("field_notes names fields a resource does not have.",
                                details={"field_notes": {k: ["Unknown field."] for k in unknown}})
    out = {}
    for name, note in raw.items():
        text = clean_text(note, field=f"field_notes.{name}", max_length=MAX_NOTE_LENGTH).strip()
        if text:
            out[name] = text
    return out


def reject_reason_code(raw: Any, dimensions: dict[str, dict[str, str]]) -> str:
    """The reason code of a rejection: the one given (one of REJECT_REASON_CODES), else the first failed
    dimension, else ``other``."""
    if raw not in (None, ""):
        if raw not in REJECT_REASON_CODES:
            raise InvalidInputError("Unknown reason code.",
                                    details={"reason_code": [f"One of {', '.join(REJECT_REASON_CODES)}."]})
        return str(raw)
    failed = [code for code in DIMENSION_CODES if dimensions.get(code, {}).get("result") == "fail"]
    return failed[0] if failed else "other"


# --- review-by dates --------------------------------------------------------------------------------------

def _add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return day.replace(year=year, month=month, day=min(day.day, last))
        except ValueError:
            continue
    raise ValueError(day)  # pragma: no cover - some day of every month exists


def review_by_default(resource_type: str, *, today: dt.date | None = None) -> dt.date:
    """When a resource of this type is due for re-review: ``CATALOG_REREVIEW_MONTHS_BY_TYPE`` for its type,
    else ``CATALOG_REREVIEW_MONTHS``, from today."""
    months = settings.CATALOG_REREVIEW_MONTHS_BY_TYPE.get(resource_type, settings.CATALOG_REREVIEW_MONTHS)
    return _add_months(today or timezone.localdate(), int(months))


def clean_review_by(raw: Any, *, resource_type: str) -> dt.date:
    """A review-by date a reviewer sets (after today, within ten years), or the default for the type."""
    if raw in (None, ""):
        return review_by_default(resource_type)
    try:
        day = calendar_date(raw)
    except ValueError:
        raise InvalidInputError(details={"review_by": ["A date, YYYY-MM-DD."]}) from None
    today = timezone.localdate()
    if not today < day <= _add_months(today, 12 * MAX_REVIEW_BY_YEARS):
        raise InvalidInputError(details={"review_by": [f"After today and within {MAX_REVIEW_BY_YEARS} years."]})
    return day


# --- decisions ----------------------------------------------------------------------------------------------

def decision_record(*, resource: Resource, revision: ResourceRevision | None, reviewer, action: str,
                    reason_code: str, note: str = "", dimensions: dict[str, Any] | None = None,
                    field_notes: dict[str, str] | None = None, round_submitted_at: dt.datetime | None = None,
                    review_by: dt.date | None = None) -> ReviewDecision:
    """Store one reviewer's decision (the caller audits the step it belongs to)."""
    return ReviewDecision.objects.create(
        resource=resource, revision=revision, reviewer=reviewer,
        reviewer_name=(getattr(reviewer, "display_name", "") or getattr(reviewer, "username", ""))[:150],
        action=action, reason_code=reason_code, note=note, dimensions=dimensions or {},
        field_notes=field_notes or {}, round_submitted_at=round_submitted_at, review_by=review_by,
        created_at=timezone.now())


def round_decisions(*, resource: Resource, revision: ResourceRevision | None,
                    round_submitted_at: dt.datetime | None) -> list[ReviewDecision]:
    """The decisions on one submission (identified by its ``submitted_at``; one without a time — made
    outside the services — counts as one round), oldest first."""
    qs = ReviewDecision.objects.filter(resource=resource, revision=revision)
    qs = qs.filter(round_submitted_at__isnull=True) if round_submitted_at is None else qs.filter(
        round_submitted_at=round_submitted_at)
    return list(qs.exclude(action=ReviewDecision.Action.CONFIRM).order_by("created_at", "id"))


def latest_rejection(*, resource: Resource, revision: ResourceRevision | None) -> ReviewDecision | None:
    """The last rejection of the resource (or of the revision): its reasons are shown beside the fields."""
    return (ReviewDecision.objects.filter(resource=resource, revision=revision, action=ReviewDecision.Action.REJECT)
            .order_by("-created_at", "-id").first())


def approvals_snapshot(decisions: list[ReviewDecision]) -> list[dict[str, Any]]:
    """The approvals of a round as a version keeps them (who, when, what they judged)."""
    return [{"reviewer": d.reviewer_name, "reviewer_id": d.reviewer_id, "at": d.created_at.isoformat(),
             "reason_code": d.reason_code, "note": d.note, "dimensions": d.dimensions,
             "review_by": d.review_by.isoformat() if d.review_by else None}
            for d in decisions if d.action == ReviewDecision.Action.APPROVE]


# --- the province's policy --------------------------------------------------------------------------------

def approvals_required(province: str) -> int:
    """How many different reviewers must approve a submission of ``province``: 2 under its two-person rule."""
    policy = ReviewPolicy.objects.filter(province=province).first()
    return 2 if policy is not None and policy.two_person_rule else 1


def policy_province_of(user) -> str | None:
    """The province whose review policy ``user`` may set: a province administrator's, by their bureau."""
    org = getattr(user, "organisation", None)
    if not user_has_role(user, Role.PROVINCE_ADMIN) or org is None or org.kind != org.Kind.BUREAU:
        return None
    return org.region_id[:2] + "0000"


def review_policy_get(*, province: str) -> ReviewPolicy:
    """The province's policy (the default, unsaved, when none was set)."""
    return ReviewPolicy.objects.filter(province=province).first() or ReviewPolicy(
        province=province, two_person_rule=False, updated_at=timezone.now())


def review_policy_set(*, user, two_person_rule: bool) -> ReviewPolicy:
    """A province administrator switches the two-person rule of their province on or off. Raises
    PermissionDeniedError for anybody else. Audited."""
    province = policy_province_of(user)
    if province is None:
        raise PermissionDeniedError("Only a province's administrators set its review policy.")
    if not isinstance(two_person_rule, bool):
        raise InvalidInputError(details={"two_person_rule": ["true or false."]})
    policy, _created = ReviewPolicy.objects.update_or_create(
        province=province, defaults={"two_person_rule": two_person_rule, "updated_by": user,
                                     "updated_at": timezone.now()})
    audit_record(action="review.policy_set", actor=user, object_type="province", object_id=province,
                 data={"two_person_rule": two_person_rule})
    return policy
