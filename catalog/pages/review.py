"""The reviewer's pages: the province's queue of new resources and revisions, one submission with its
previews, the diff of a revision, the machine's findings, the provider's commitment and the review form
(seven dimensions, notes per field, approve — and publish — or reject with a reason), what is due for
re-review, and the province's two-person rule (``catalog.services`` / ``catalog.review``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from csp.constants import SELF
from csp.decorators import csp_replace
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_POST

from catalog import services
from catalog.models import Resource, ResourceRevision
from catalog.pages.common import Labels, page_of, preview_kind, resource_for
from catalog.permissions import can_review, can_see_unpublished
from catalog.review import decisions, revisions
from catalog.review import selectors as review_selectors
from catalog.review.decisions import DIMENSION_CODES, DIMENSIONS, REJECT_REASONS
from catalog.storage import get_blob_store
from catalog.validation import METADATA_FIELDS, RIGHTS_FIELDS
from exchange.errors import ExchangeError
from exchange.roles import Role, user_has_role
from exchange.views_pages import (
    FIELD_LABELS,
    role_required,
    show_error,
)

QUEUE_TABS = (Resource.Status.SUBMITTED, Resource.Status.APPROVED, Resource.Status.REJECTED)


@role_required(Role.REVIEWER)
def review_queue(request: HttpRequest) -> HttpResponse:
    """New resources and revisions waiting for this reviewer's province, oldest first
    (``catalog.review.selectors.review_queue_items``). Permission: reviewer role; the queue holds what
    their bureau has the review right on."""
    status = request.GET.get("status", Resource.Status.SUBMITTED)
    if status not in QUEUE_TABS:
        status = Resource.Status.SUBMITTED
    page = page_of(request, review_selectors.review_queue_items(user=request.user, status=status))
    labels = Labels.load()
    rows = [{"item": item, "resource": item.resource, "path": labels.describe(item.resource),
             "type": labels.term("resource_type", item.resource.resource_type),
             "files": len(item.resource.files.all()) if item.revision is None else item.revision.files.count(),
             "hard": sum(1 for f in item.findings if f.get("severity") == "hard")} for item in page]
    return render(request, "catalog/review_queue.html", {
        "page_obj": page, "rows": rows, "status": status, "tabs": [(s, s.label) for s in QUEUE_TABS],
    })


def _reviewable(request: HttpRequest, resource_id: Any) -> Resource:
    resource = resource_for(request, resource_id)
    if not can_review(request.user, resource):
        raise PermissionDenied
    return resource


def _label(name: str, labels: Labels) -> str:
    return str(FIELD_LABELS.get(name, name))


def _shown(name: str, value: Any, labels: Labels) -> str:
    """A field's value as a reviewer reads it (vocabulary labels, licence names, lists joined)."""
    if value in (None, "", []):
        return "—"
    if name in ("stage", "subject", "grade", "edition", "volume", "resource_type", "language", "audience"):
        return labels.term(name, str(value))
    if name == "license":
        return labels.licence_name(str(value))
    if name == "territory":
        return "、".join(labels.region(str(code)) for code in value)
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return str(value)


@role_required(Role.REVIEWER)
def review_detail(request: HttpRequest, resource_id: Any) -> HttpResponse:
    """One submission under review: for a new resource its fields, rights and previews; for a revision of
    a published one what changes (fields, rights, files added and removed) beside the live version; the
    machine's findings, the approval checks' problems, the provider's commitment, the approvals so far
    and the review form. For a published resource without a revision: its re-review. Permission:
    reviewer role + review right on the resource (its province)."""
    resource = _reviewable(request, resource_id)
    labels = Labels.load()
    state = review_selectors.review_state(resource=resource)
    subject = state.subject
    rights = dict(subject.rights or {})
    if state.revision is not None and state.diff is not None:
        rows = [{"name": row["field"], "label": _label(row["field"], labels), "old": _shown(row["field"], row["old"], labels),
                 "new": _shown(row["field"], row["new"], labels)} for row in state.diff["fields"] + state.diff["rights"]]
    else:
        rows = [{"name": name, "label": _label(name, labels), "old": None,
                 "new": _shown(name, (subject.metadata if name in METADATA_FIELDS else rights).get(name), labels)}
                for name in (*METADATA_FIELDS, *RIGHTS_FIELDS)
                if name not in ("textbook_id", "derived_from", "attribution") and name in FIELD_LABELS]
    files = [{"file": f, "kind": preview_kind(f.mime),
              "src": reverse("revision-file-preview", args=[resource.pk, f.pk]) if state.revision else ""}
             for f in subject.files]
    preview = next((item for item in files if item["kind"]), None)
    return render(request, "catalog/review_detail.html", {
        "resource": resource, "state": state, "revision": state.revision, "rows": rows,
        "path": labels.describe(dict(subject.metadata)), "title": subject.metadata.get("title", resource.title),
        "type": labels.term("resource_type", str(subject.metadata.get("resource_type", ""))),
        "description": subject.metadata.get("description", ""),
        "files": files, "preview": preview, "diff": state.diff,
        "dimensions": DIMENSIONS, "reject_reasons": REJECT_REASONS,
        "already_approved": state.approved_by(request.user),
        "rereview": resource.status == Resource.Status.PUBLISHED and state.revision is None,
        "default_review_by": decisions.review_by_default(str(subject.metadata.get("resource_type", ""))),
    })


def _dimensions_from(post: Any) -> dict[str, dict[str, str]]:
    return {code: {"result": post.get(f"dim_{code}", ""), "comment": post.get(f"dimcomment_{code}", "")}
            for code in DIMENSION_CODES if post.get(f"dim_{code}")}


def _field_notes_from(post: Any) -> dict[str, str]:
    return {key[5:]: value for key, value in post.items() if key.startswith("note_") and value.strip()}


@require_POST
@role_required(Role.REVIEWER)
def review_approve(request: HttpRequest, resource_id: Any) -> HttpResponse:
    """Approve with the seven dimensions (all must be stated, and pass), a note and the review-by date
    (``resource_approve``: the approval checks run on the content under review; under the two-person rule
    a second reviewer must concur), and publish a new resource at once when asked. Permission: reviewer
    role + review right."""
    resource = _reviewable(request, resource_id)
    stated = _dimensions_from(request.POST)
    if len(stated) < len(DIMENSION_CODES):
        messages.error(request, _("批准前请逐项填写七个审核维度。"))
        return redirect("review-detail", resource_id=resource.pk)
    was_published = resource.status == Resource.Status.PUBLISHED
    try:
        resource = services.resource_approve(user=request.user, resource=resource, note=request.POST.get("note", ""),
                                             dimensions=stated, review_by=request.POST.get("review_by") or None)
        if was_published:
            latest = ResourceRevision.objects.filter(resource=resource).order_by("-number").first()
            if latest is not None and latest.status == ResourceRevision.Status.APPLIED:
                messages.success(request, _("《%(title)s》的修订已批准并生效。") % {"title": resource.title})
            else:
                messages.success(request, _("已记录您的批准，等待另一位审核员确认。"))
        elif resource.status == Resource.Status.SUBMITTED:
            messages.success(request, _("已记录您的批准，等待另一位审核员确认。"))
        elif request.POST.get("publish"):
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
    """Send back with a reason the publisher sees, a reason code, the dimensions stated and notes per field
    (``resource_reject``). Permission: reviewer role + review right on the resource."""
    resource = _reviewable(request, resource_id)
    try:
        services.resource_reject(user=request.user, resource=resource, reason=request.POST.get("reason", ""),
                                 reason_code=request.POST.get("reason_code") or None,
                                 dimensions=_dimensions_from(request.POST),
                                 field_notes=_field_notes_from(request.POST))
        messages.success(request, _("《%(title)s》已退回。") % {"title": resource.title})
    except ExchangeError as exc:
        show_error(request, exc)
        return redirect("review-detail", resource_id=resource.pk)
    return redirect("review-queue")


@require_POST
@role_required(Role.REVIEWER)
def review_rereview(request: HttpRequest, resource_id: Any) -> HttpResponse:
    """Periodic re-review: confirm a published resource still passes the seven dimensions and set its next
    review-by date (``resource_rereview_confirm``). Permission: reviewer role + review right."""
    resource = _reviewable(request, resource_id)
    stated = _dimensions_from(request.POST)
    if len(stated) < len(DIMENSION_CODES):
        messages.error(request, _("复审请逐项填写七个审核维度。"))
        return redirect("review-detail", resource_id=resource.pk)
    try:
        resource = services.resource_rereview_confirm(user=request.user, resource=resource, dimensions=stated,
                                                      note=request.POST.get("note", ""),
                                                      review_by=request.POST.get("review_by") or None)
        messages.success(request, _("已复审《%(title)s》，下次复审日期 %(date)s。") % {
            "title": resource.title, "date": resource.review_by})
    except ExchangeError as exc:
        show_error(request, exc)
        return redirect("review-detail", resource_id=resource.pk)
    return redirect("review-due")


@role_required(Role.REVIEWER, Role.PROVINCE_ADMIN)
def review_due(request: HttpRequest) -> HttpResponse:
    """Published resources of the province due for re-review within 30 days (or overdue), soonest first
    (``rereview_due``). Permission: reviewer or province administrator role (of a bureau)."""
    page = page_of(request, review_selectors.rereview_due(user=request.user, within_days=30))
    labels = Labels.load()
    rows = [{"resource": r, "path": labels.describe(r), "type": labels.term("resource_type", r.resource_type)}
            for r in page]
    return render(request, "catalog/review_due.html", {"page_obj": page, "rows": rows, "today": timezone.localdate(),
                                                       "reviewer": user_has_role(request.user, Role.REVIEWER)})


@role_required(Role.REVIEWER, Role.PROVINCE_ADMIN)
def review_policy(request: HttpRequest) -> HttpResponse:
    """The province's review policy; its administrators switch the two-person rule on or off
    (``review_policy_set``). Permission: GET reviewer or province administrator role (of a bureau); POST
    province administrator."""
    province = decisions.policy_province_of(request.user) or review_selectors.rereview_province_of(request.user)
    if province is None:
        raise PermissionDenied
    if request.method == "POST":
        try:
            decisions.review_policy_set(user=request.user, two_person_rule=request.POST.get("two_person_rule") == "on")
            messages.success(request, _("审核规则已保存。"))
        except ExchangeError as exc:
            show_error(request, exc)
        return redirect("review-policy")
    return render(request, "catalog/review_policy.html", {
        "policy": decisions.review_policy_get(province=province),
        "may_change": decisions.policy_province_of(request.user) is not None,
        "province_name": Labels.load().region(province),
    })


@require_GET
@xframe_options_sameorigin
@csp_replace({"frame-ancestors": [SELF]})  # shown in an <iframe> of the review page
@role_required(Role.REVIEWER, Role.PUBLISHER)
def revision_file_preview(request: HttpRequest, resource_id: Any, file_id: Any) -> HttpResponse:
    """A file of a resource's open revision shown inline (not public: it is not live). Permission: the
    publisher's members (publisher role) and the province's reviewers."""
    resource = resource_for(request, resource_id)
    if not can_see_unpublished(request.user, resource):
        raise Http404
    revision = revisions.revision_open(resource) if resource.status == Resource.Status.PUBLISHED else None
    row = revision.files.filter(file_id=file_id).first() if revision is not None else None
    if row is None or preview_kind(row.mime) is None:
        raise Http404
    handle = get_blob_store().open(row.storage_key)

    def chunks():
        try:
            while block := handle.read(64 * 1024):
                yield block
        finally:
            handle.close()

    response = StreamingHttpResponse(chunks(), content_type=row.mime)
    response["Content-Length"] = str(row.size)
    response["Content-Disposition"] = f"inline; filename*=UTF-8''{quote(row.original_name)}"
    response["Cache-Control"] = "private, no-store"
    return response
