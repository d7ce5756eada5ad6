"""Reads of ratings, with who may see which comment: visible comments for everybody; held and hidden ones
also for the publisher's members and the province's reviewers (who decide on them)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from catalog.models import Resource
from catalog.permissions import can_edit, can_review
from catalog.ratings.models import Rating, RatingSummary
from exchange.roles import Role, user_has_role


def may_see_all_comments(user: Any, resource: Resource) -> bool:
    return can_edit(user, resource) or can_review(user, resource)


def rating_summary(resource: Resource) -> dict[str, Any]:
    summary = RatingSummary.objects.filter(resource=resource).first()
    prior = float(settings.CATALOG_RATING_PRIOR_MEAN)
    if summary is None or summary.count == 0:
        return {"count": 0, "mean": None, "score": prior}
    return {"count": summary.count, "mean": round(summary.total / summary.count, 2), "score": round(summary.score, 3)}


def rating_list(*, user: Any, resource: Resource) -> QuerySet[Rating]:
    rows = Rating.objects.filter(resource=resource).select_related("user", "user__organisation")
    if may_see_all_comments(user, resource):
        return rows
    return rows.filter(comment_status=Rating.CommentStatus.VISIBLE)


def rating_of(*, user: Any, resource: Resource) -> Rating | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return Rating.objects.filter(resource=resource, user=user).first()


def publisher_feedback(*, user: Any) -> QuerySet[Rating]:
    """Ratings and comments (every status) on the resources of the user's publishing organisation.
    Publishers only; the organisation's resources are those it publishes."""
    org = getattr(user, "organisation", None)
    if org is None or not user_has_role(user, Role.PUBLISHER):
        return Rating.objects.none()
    return (Rating.objects.filter(resource__publisher=org, resource__is_remote=False)
            .select_related("resource", "user", "user__organisation").order_by("-updated_at", "-id"))


def rating_data(rating: Rating, *, full: bool) -> dict[str, Any]:
    """A rating as the API shows it; ``full``: with the comment's status and moderation (for those who may
    see every comment)."""
    org = rating.user.organisation
    out: dict[str, Any] = {
        "id": rating.pk, "resource": str(rating.resource_id), "stars": rating.stars,
        "comment": rating.comment if full or rating.comment_status == Rating.CommentStatus.VISIBLE else "",
        "author": str(rating.user), "school": org.name if org else "",
        "created_at": rating.created_at.isoformat(), "updated_at": rating.updated_at.isoformat()}
    if full:
        out.update({"comment_status": rating.comment_status, "findings": [
            {"code": f.get("code"), "severity": f.get("severity"), "category": (f.get("detail") or {}).get("category")}
            for f in rating.findings], "moderation_reason": rating.moderation_reason})
    return out
