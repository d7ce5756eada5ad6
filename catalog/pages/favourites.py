"""The user's favourites (收藏): the list page and the bookmark toggle on resource pages."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from catalog import selectors, services
from catalog.errors import InvalidTransitionError
from catalog.pages.common import back, page_of, resource_for


@login_required
def favourite_list_page(request: HttpRequest) -> HttpResponse:
    """The signed-in user's bookmarked resources. Permission: signed in (only their own favourites)."""
    return render(request, "catalog/favourites.html",
                  {"page_obj": page_of(request, selectors.favourite_list(user=request.user))})


@login_required
@require_POST
def favourite_toggle(request: HttpRequest, resource_id: Any) -> HttpResponse:
    """Add or remove a bookmark (``action`` = add | remove). Permission: signed in, and the resource
    visible to the user (``catalog.selectors.resource_get``); only published resources can be added."""
    resource = resource_for(request, resource_id)
    if request.POST.get("action") == "remove":
        services.favourite_remove(user=request.user, resource=resource)
        messages.success(request, _("已取消收藏。"))
    else:
        try:
            services.favourite_add(user=request.user, resource=resource)
            messages.success(request, _("已加入收藏。"))
        except InvalidTransitionError:
            messages.error(request, _("只有已发布的资源可以收藏。"))
    return back(request, reverse("resource-page", args=[resource.pk]))
