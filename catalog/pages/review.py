"""The reviewer's pages: the province's queue, one resource with its previews, approve (and publish) or
reject with a reason (``catalog.services.resource_approve`` / ``resource_reject``)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from catalog import selectors, services
from catalog.models import Resource
from catalog.pages.common import Labels, page_of, preview_kind, resource_for
from catalog.permissions import can_review
from catalog.prereview.pages import findings_context
from exchange.errors import ExchangeError
from exchange.roles import Role
from exchange.views_pages import (
    role_required,
    show_error,
)


@role_required(Role.REVIEWER)
def review_queue(request: HttpRequest) -> HttpResponse:
    """Resources waiting for this reviewer's province, oldest first (``selectors.review_queue``).
    Permission: reviewer role; the queue holds what their bureau has the review right on."""
    status = request.GET.get("status", Resource.Status.SUBMITTED)
    if status not in (Resource.Status.SUBMITTED, Resource.Status.APPROVED, Resource.Status.REJECTED):
        status = Resource.Status.SUBMITTED
    page = page_of(request, selectors.review_queue(user=request.user, status=status))
    labels = Labels.load()
    rows = [{"resource": r, "path": labels.describe(r), "type": labels.term("resource_type", r.resource_type),
             "files": len(r.files.all())} for r in page]
    return render(request, "catalog/review_queue.html", {
        "page_obj": page, "rows": rows, "status": status,
        "tabs": [(s, s.label) for s in (Resource.Status.SUBMITTED, Resource.Status.APPROVED,
                                        Resource.Status.REJECTED)],
    })


def _reviewable(request: HttpRequest, resource_id: Any) -> Resource:
    resource = resource_for(request, resource_id)
    if not can_review(request.user, resource):
        raise PermissionDenied
    return resource


@role_required(Role.REVIEWER)
def review_detail(request: HttpRequest, resource_id: Any) -> HttpResponse:
    """One resource under review: metadata, rights, file previews, the machine pre-review's findings,
    approve / reject forms.
    Permission: reviewer role + review right on the resource (its province)."""
    resource = _reviewable(request, resource_id)
    labels = Labels.load()
    rights = getattr(resource, "rights", None)
    files = list(resource.files.all())
    return render(request, "catalog/review_detail.html", {
        "resource": resource, "path": labels.describe(resource),
        "type": labels.term("resource_type", resource.resource_type), "rights": rights,
        "files": [{"file": f, "kind": preview_kind(f.mime)} for f in files],
        "preview": next(({"file": f, "kind": preview_kind(f.mime)} for f in files if preview_kind(f.mime)), None),
        "audience": labels.term("audience", rights.audience) if rights else "",
        "territory": [labels.region(code) for code in (rights.territory if rights else [])],
        "licence_name": labels.licence_name(rights.license_id) if rights else "",
        **findings_context(resource),
    })


@require_POST
@role_required(Role.REVIEWER)
def review_approve(request: HttpRequest, resource_id: Any) -> HttpResponse:
    """Approve (``resource_approve``; the approval checks such as licensing's rights audit apply), and
    publish at once when asked (``resource_publish``). Permission: reviewer role + review right."""
    resource = _reviewable(request, resource_id)
    try:
        resource = services.resource_approve(user=request.user, resource=resource, note=request.POST.get("note", ""))
        if request.POST.get("publish"):
            resource = services.resource_publish(user=request.user, resource=resource)
            messages.success(request, _("《%(title)s》已批准并发布。") % {"title": resource.title})
        else:
            messages.success(request, _("《%(title)s》已批准。") % {"title": resource.title})
    except ExchangeError as exc:
        show_error(request, exc)
        return redirect("review-detail", resource_id=resource.pk)
    return redirect("review-queue")


@require_POST
@role_required(Role.REVIEWER)
def review_reject(request: HttpRequest, resource_id: Any) -> HttpResponse:
    """Send back with a reason the publisher sees (``resource_reject``). Permission: reviewer role +
    review right on the resource."""
    resource = _reviewable(request, resource_id)
    try:
        services.resource_reject(user=request.user, resource=resource, reason=request.POST.get("reason", ""))
        messages.success(request, _("《%(title)s》已退回。") % {"title": resource.title})
    except ExchangeError as exc:
        show_error(request, exc)
        return redirect("review-detail", resource_id=resource.pk)
    return redirect("review-queue")
