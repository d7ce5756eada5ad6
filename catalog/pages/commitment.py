"""The content commitment (承诺书): publishers read and accept it for their organisation before its first
submission; hub operators and superusers publish a new version of its text
(``catalog.review.commitment``)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from catalog.pages.common import Labels
from catalog.review import commitment
from exchange.errors import ExchangeError
from exchange.roles import Role
from exchange.views_pages import role_required, show_error


@role_required(Role.PUBLISHER)
def commitment_accept(request: HttpRequest) -> HttpResponse:
    """The node's content commitment (承诺书), and accepting it for the publisher's organisation
    (``commitment_accept``), needed before its first submission. Permission: publisher role."""
    current = commitment.commitment_current()
    if request.method == "POST":
        try:
            version = int(request.POST.get("version", ""))
        except ValueError:
            version = 0
        try:
            commitment.commitment_accept(user=request.user, version=version)
            messages.success(request, _("已接受内容承诺书（第 %(v)s 版）。") % {"v": current.version})
            return redirect("publisher-resources")
        except ExchangeError as exc:
            show_error(request, exc)
    return render(request, "catalog/commitment.html", {
        "commitment": current, "english": Labels.load().en,
        "acceptance": commitment.commitment_acceptance_of(request.user.organisation),
    })


@login_required
def commitment_edit(request: HttpRequest) -> HttpResponse:
    """Publish a new version of the node's content commitment (``commitment_publish``); organisations that
    accepted an earlier one stay accepted. Permission: hub operators and superusers."""
    if not commitment.can_publish_commitment(request.user):
        raise PermissionDenied
    current = commitment.commitment_current()
    if request.method == "POST":
        try:
            new = commitment.commitment_publish(user=request.user, text_zh=request.POST.get("text_zh", ""),
                                                text_en=request.POST.get("text_en", ""))
            messages.success(request, _("已发布内容承诺书第 %(v)s 版。") % {"v": new.version})
            return redirect("commitment-edit")
        except ExchangeError as exc:
            show_error(request, exc)
    return render(request, "catalog/commitment_edit.html", {"commitment": current})
