"""Rating pages: the rating form on a resource page (teachers), a reviewer hiding or showing a comment, and
the publisher's feedback list. The resource page itself shows the summary and the comments."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from catalog.errors import RatingNotFoundError
from catalog.pages.common import page_of, resource_for
from catalog.ratings import selectors, services
from exchange.errors import ExchangeError
from exchange.roles import Role
from exchange.views_pages import role_required, show_error


@require_POST
@role_required(Role.TEACHER)
def resource_rate(request: HttpRequest, resource_id: Any) -> HttpResponse:
    """Rate a resource (1–5) with an optional comment, or change one's rating (``rating_set``). Permission:
    teacher role, the resource visible to them (``catalog.selectors.resource_get``) and published."""
    resource = resource_for(request, resource_id)
    try:
        rating = services.rating_set(user=request.user, resource=resource, stars=request.POST.get("stars", ""),
                                     comment=request.POST.get("comment", ""))
    except ExchangeError as exc:
        show_error(request, exc)
    else:
        if rating.comment_status == rating.CommentStatus.HELD:
            messages.success(request, _("已保存评分。评论需经审核员审核后显示。"))
        else:
            messages.success(request, _("已保存评分，谢谢！"))
    return redirect("resource-page", resource_id=resource.pk)


@require_POST
@role_required(Role.REVIEWER)
def rating_moderate(request: HttpRequest, rating_id: int) -> HttpResponse:
    """Hide (with a reason) or show a comment (``rating_moderate``). Permission: reviewer role + the review
    right on the rated resource (its province); another province's rating is not found."""
    try:
        rating = services.rating_moderate(actor=request.user, rating_id=rating_id,
                                          action=request.POST.get("action", ""), reason=request.POST.get("reason", ""))
    except RatingNotFoundError as exc:
        raise Http404 from exc
    except ExchangeError as exc:
        show_error(request, exc)
        return redirect("review-queue")
    messages.success(request, _("已隐藏该评论。") if rating.comment_status == "hidden" else _("已显示该评论。"))
    return redirect("resource-page", resource_id=rating.resource_id)


@role_required(Role.PUBLISHER)
def publisher_feedback(request: HttpRequest) -> HttpResponse:
    """Ratings and comments on the publisher's organisation's resources. Permission: publisher role (their
    own organisation's resources only)."""
    return render(request, "catalog/feedback.html",
                  {"page_obj": page_of(request, selectors.publisher_feedback(user=request.user))})
