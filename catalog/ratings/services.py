"""Writes of ratings: a teacher's rating and comment, a reviewer hiding or showing a comment.

The comment passes the machine pre-review's negative list (``catalog.prereview``): a ``hard`` term refuses
it (``comment_refused``, nothing stored), a ``soft`` one holds it for a reviewer of the province. The
resource's summary is rewritten in the same transaction under a lock on its row, and the resource is
queued for the search index (its score is a sort key)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

from catalog.errors import (
    CommentRefusedError,
    NotReviewerError,
    RatingClosedError,
    RatingNotAllowedError,
    RatingNotFoundError,
    ResourceNotFoundError,
)
from catalog.models import Resource
from catalog.permissions import can_review, can_see
from catalog.prereview.checks import term_findings
from catalog.prereview.selectors import negative_list_effective
from catalog.ratings.models import Rating, RatingSummary
from catalog.search.indexing import index_pending_drain_on_commit, index_pending_record
from exchange.audit import audit_record
from exchange.errors import InvalidInputError
from exchange.inputs import clean_text
from exchange.roles import Role, user_has_role

MAX_COMMENT_LENGTH = 2000
Status = Rating.CommentStatus


def bayesian_score(*, count: int, total: int) -> float:
    """The Bayesian average: ``CATALOG_RATING_PRIOR_WEIGHT`` imagined votes at ``CATALOG_RATING_PRIOR_MEAN``
    added to the real ones, so three fives do not outrank three hundred ratings averaging 4.5."""
    weight = float(settings.CATALOG_RATING_PRIOR_WEIGHT)
    mean = float(settings.CATALOG_RATING_PRIOR_MEAN)
    return (weight * mean + total) / (weight + count)


def can_rate(user: Any, resource: Resource) -> bool:
    """Teachers rate published resources they can see."""
    return (user_has_role(user, Role.TEACHER) and resource.status == Resource.Status.PUBLISHED
            and can_see(user, resource))


def _stars(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidInputError("stars must be a whole number from 1 to 5.", details={"stars": ["From 1 to 5."]})
    try:
        stars = int(str(value).strip())
    except ValueError as exc:
        raise InvalidInputError("stars must be a whole number from 1 to 5.",
                                details={"stars": ["From 1 to 5."]}) from exc
    if not 1 <= stars <= 5:
        raise InvalidInputError("stars must be a whole number from 1 to 5.", details={"stars": ["From 1 to 5."]})
    return stars


def comment_prereview(text: str) -> tuple[str, list[dict[str, Any]]]:
    """The comment's status after the negative list: ``none`` (no comment), ``visible`` or ``held`` (soft
    findings), with the findings. Raises CommentRefusedError on a hard finding."""
    if not text:
        return Status.NONE, []
    findings = [f.to_dict() for f in term_findings("comment", text, negative_list_effective())]
    if any(f["severity"] == "hard" for f in findings):
        raise CommentRefusedError(details={"findings": [{"code": f["code"], "field": f["field"],
                                                         "category": f["detail"].get("category")} for f in findings]})
    return (Status.HELD if findings else Status.VISIBLE), findings


def summary_refresh(resource: Resource) -> RatingSummary:
    """Recompute a resource's summary from its ratings; call in the rating's transaction after locking the
    summary row (``_summary_locked``)."""
    agg = Rating.objects.filter(resource=resource).aggregate(n=Count("pk"), total=Sum("stars"))
    count, total = agg["n"] or 0, agg["total"] or 0
    summary = RatingSummary.objects.get(resource=resource)
    summary.count, summary.total = count, total
    summary.score = bayesian_score(count=count, total=total)
    summary.updated_at = timezone.now()
    summary.save(update_fields=["count", "total", "score", "updated_at"])
    index_pending_record([resource.pk])
    index_pending_drain_on_commit()
    return summary


def _summary_locked(resource: Resource) -> RatingSummary:
    RatingSummary.objects.get_or_create(resource=resource, defaults={
        "score": bayesian_score(count=0, total=0), "updated_at": timezone.now()})
    return RatingSummary.objects.select_for_update().get(resource=resource)


@transaction.atomic
def rating_set(*, user: Any, resource: Resource, stars: Any, comment: Any = "") -> Rating:
    """Rate ``resource`` (1–5) with an optional comment; a second call replaces the user's rating.
    Raises RatingNotAllowedError unless ``user`` is a teacher; ResourceNotFoundError for a resource they may
    not see; RatingClosedError for an unpublished one they may see; InvalidInputError for
    stars outside 1–5 or a comment too long; CommentRefusedError when the comment holds a hard
    negative-list term."""
    if not user_has_role(user, Role.TEACHER):
        raise RatingNotAllowedError()
    if not can_see(user, resource):
        raise ResourceNotFoundError()
    if resource.status != Resource.Status.PUBLISHED:
        raise RatingClosedError()
    value = _stars(stars)
    text = clean_text(comment, field="comment", max_length=MAX_COMMENT_LENGTH).strip()
    status, findings = comment_prereview(text)
    _summary_locked(resource)
    now = timezone.now()
    rating = Rating.objects.select_for_update().filter(resource=resource, user=user).first()
    if rating is None:
        rating = Rating(resource=resource, user=user, stars=value, comment=text, comment_status=status,
                        findings=findings, created_at=now, updated_at=now)
        rating.full_clean(validate_constraints=False)
        rating.save(force_insert=True)
    else:
        if text != rating.comment:  # a new comment is reviewed afresh; an unchanged one keeps its status
            rating.comment, rating.comment_status, rating.findings = text, status, findings
            rating.moderated_by, rating.moderated_at, rating.moderation_reason = None, None, ""
        rating.stars, rating.updated_at = value, now
        rating.save(update_fields=["stars", "comment", "comment_status", "findings", "moderated_by", "moderated_at",
                                   "moderation_reason", "updated_at"])
    summary_refresh(resource)
    audit_record(action="rating.set", actor=user, object_type="rating", object_id=rating.pk,
                 data={"resource": str(resource.pk), "stars": value, "comment_status": rating.comment_status})
    return rating


@transaction.atomic
def rating_moderate(*, actor: Any, rating_id: Any, action: str, reason: str = "") -> Rating:
    """A reviewer of the resource's province hides a comment (``hide``, with a reason) or shows a held or
    hidden one (``show``). The stars still count. Raises RatingNotFoundError for an unknown rating or one
    the actor may not review (the same answer); InvalidInputError for another action or a hide without a
    reason."""
    if action not in ("hide", "show"):
        raise InvalidInputError("action must be hide or show.", details={"action": ["hide or show"]})
    reason = clean_text(reason, field="reason", max_length=500).strip()
    if action == "hide" and not reason:
        raise InvalidInputError("A reason is required to hide a comment.", details={"reason": ["Required."]})
    if not user_has_role(actor, Role.REVIEWER):
        raise NotReviewerError()
    rating = Rating.objects.select_for_update().select_related("resource").filter(
        pk=rating_id if str(rating_id).isdigit() else None).first()
    if rating is None or not can_review(actor, rating.resource) or rating.comment_status == Status.NONE:
        raise RatingNotFoundError()
    rating.comment_status = Status.HIDDEN if action == "hide" else Status.VISIBLE
    rating.moderated_by, rating.moderated_at, rating.moderation_reason = actor, timezone.now(), reason
    rating.save(update_fields=["comment_status", "moderated_by", "moderated_at", "moderation_reason"])
    audit_record(action=f"rating.comment_{action}", actor=actor, object_type="rating", object_id=rating.pk,
                 data={"resource": str(rating.resource_id), "reason": reason})
    return rating
