"""Web pages of the pre-review: the province's own negative-list entries and the re-check report
(province administrators), re-check items (reviewers), and the findings partial of the review page.
Each page calls the same services and selectors as the API."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from catalog.models import NegativeTerm, RecheckItem, Resource
from catalog.pages.common import page_of
from catalog.prereview import selectors, services
from catalog.prereview.checks import prereview_content_for_resource
from catalog.prereview.errors import NegativeTermNotFoundError
from exchange.errors import ExchangeError
from exchange.roles import Role
from exchange.views_pages import role_required, show_error

LOCAL = NegativeTerm.Scope.LOCAL


def findings_context(resource: Resource) -> dict[str, Any]:
    """What ``catalog/includes/prereview_findings.html`` shows for a resource under review: the findings of
    its newest pre-review (hard ones first) and whether that run is of the content and list held now."""
    findings = selectors.prereview_findings(str(resource.pk), None)
    return {"prereview": {
        "status": selectors.prereview_status(resource.pk, None, prereview_content_for_resource(resource)),
        "findings": findings, "hard": [f for f in findings if f["severity"] == "hard"],
        "soft": [f for f in findings if f["severity"] != "hard"]}}


# --- negative lists (shared with the hub's page in federation) -------------------------------------------------

def entry_changes(request: HttpRequest) -> dict[str, Any]:
    """The change an entry's form asks for: ``action`` retire / restore, or new severity and note."""
    action = request.POST.get("action", "")
    if action == "retire":
        return {"active": False}
    if action == "restore":
        return {"active": True}
    return {"severity": request.POST.get("severity") or None, "note": request.POST.get("note")}


def render_negative_list(request: HttpRequest, *, scope: str, add_url: str, change_url: str) -> HttpResponse:
    national, local = selectors.list_versions()
    entries = page_of(request, selectors.negative_terms(scope=scope).order_by("-active", "term"), per_page=100)
    state = selectors.negative_list_state(scope)
    return render(request, "catalog/negative_list.html", {
        "scope": scope, "page_obj": entries, "versions": {"national": national, "local": local},
        "state": state, "add_url": add_url, "change_url": change_url,
        "categories": NegativeTerm.Category.choices, "severities": NegativeTerm.Severity.choices,
    })


@role_required(Role.PROVINCE_ADMIN)
def local_list_page(request: HttpRequest) -> HttpResponse:
    """The province's own negative-list entries beside the national list's version, with a form to add one
    (POST: ``negative_term_create``). Permission: province administrator role."""
    if request.method == "POST":
        try:
            entry = services.negative_term_create(
                actor=request.user, scope=LOCAL, term=request.POST.get("term"),
                category=request.POST.get("category"), severity=request.POST.get("severity"),
                note=request.POST.get("note"))
        except ExchangeError as exc:
            show_error(request, exc)
        else:
            messages.success(request, _("已加入本省负面清单：%(term)s。已发布的资源将据此复查。") % {"term": entry.term})
        return redirect("province-negative-list")
    return render_negative_list(request, scope=LOCAL, add_url="province-negative-list",
                                change_url="province-negative-term")


@require_POST
@role_required(Role.PROVINCE_ADMIN)
def local_term_page(request: HttpRequest, entry_id: Any) -> HttpResponse:
    """Retire, restore or re-grade one of the province's entries (``negative_term_update``). Permission:
    province administrator role."""
    entry = selectors.negative_term_get(scope=LOCAL, entry_id=entry_id)
    if entry is None:
        raise Http404
    try:
        entry = services.negative_term_update(actor=request.user, entry=entry, **entry_changes(request))
    except NegativeTermNotFoundError as exc:
        raise Http404 from exc
    except ExchangeError as exc:
        show_error(request, exc)
    else:
        messages.success(request, _("已更新：%(term)s。") % {"term": entry.term})
    return redirect("province-negative-list")


# --- re-checks ---------------------------------------------------------------------------------------------------

@role_required(Role.REVIEWER)
def recheck_queue_page(request: HttpRequest) -> HttpResponse:
    """Published resources of the reviewer's province that a negative-list update now matches, with what
    matched; each can be kept (with a reason) or withdrawn. Permission: reviewer role (items of resources
    they review)."""
    status = request.GET.get("status", RecheckItem.Status.OPEN)
    if status not in RecheckItem.Status.values:
        status = RecheckItem.Status.OPEN
    page = page_of(request, selectors.recheck_items_for_reviewer(user=request.user, status=status))
    return render(request, "catalog/recheck_queue.html", {
        "page_obj": page, "status": status, "tabs": RecheckItem.Status.choices,
        "items": [{"item": item, "findings": [_shown(f) for f in item.findings]} for item in page]})


def _shown(finding: dict[str, Any]) -> dict[str, Any]:
    english = (get_language() or "").startswith("en")
    return {"code": finding.get("code"), "severity": finding.get("severity"), "field": finding.get("field"),
            "message": finding.get("message_en" if english else "message_zh", ""),
            "detail": finding.get("detail") or {}}


@require_POST
@role_required(Role.REVIEWER)
def recheck_resolve_page(request: HttpRequest, item_id: int) -> HttpResponse:
    """Keep (with a note) or withdraw the resource of a re-check item (``recheck_item_resolve``).
    Permission: reviewer role + review right on the resource."""
    item = selectors.recheck_item_get(user=request.user, item_id=item_id)
    if item is None:
        raise Http404
    try:
        services.recheck_item_resolve(user=request.user, item=item, decision=request.POST.get("decision", ""),
                                      note=request.POST.get("note", ""))
    except ExchangeError as exc:
        show_error(request, exc)
    else:
        messages.success(request, _("复核决定已记录：《%(title)s》。") % {"title": item.resource.title})
    return redirect("recheck-queue")


@role_required(Role.PROVINCE_ADMIN)
def recheck_report_page(request: HttpRequest) -> HttpResponse:
    """Every re-check after a negative-list update: list, version, when, checked and matched resources.
    Permission: province administrator role."""
    page = page_of(request, selectors.recheck_runs(user=request.user))
    return render(request, "catalog/recheck_report.html", {"page_obj": page})


@role_required(Role.PROVINCE_ADMIN)
def recheck_run_page(request: HttpRequest, run_id: int) -> HttpResponse:
    """One re-check: what matched in the administrator's province, and what reviewers decided. Permission:
    province administrator role."""
    run = selectors.recheck_runs(user=request.user).filter(pk=run_id).first()
    if run is None:
        raise Http404
    items = selectors.recheck_run_items(user=request.user, run=run)
    return render(request, "catalog/recheck_run.html", {
        "run": run, "items": [{"item": item, "findings": [_shown(f) for f in item.findings]} for item in items]})
