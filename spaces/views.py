"""Pages of a teacher's space: 备课包 (collections, their package zip, importing one) and 新资源 (the feed,
follows, the Atom feed token, the e-mail digest), plus the Atom feed itself. Each view's docstring names its
permission; the rules are ``spaces.permissions`` (through the selectors and services called)."""

from __future__ import annotations

import os
import tempfile
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required, login_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from catalog import selectors as catalog_selectors
from catalog.errors import ResourceNotFoundError
from exchange.apis import client_ip
from exchange.errors import ExchangeError
from exchange.roles import Role
from exchange.views_pages import error_text as exchange_error_text
from exchange.views_pages import role_required
from licensing.models import Grant
from spaces import feeds, packages, selectors, services
from spaces.errors import CollectionNotFoundError
from spaces.models import Collection, CollectionItem
from spaces.permissions import can_edit_collection

SPACE_ROLES = (Role.TEACHER, Role.SCHOOL_ADMIN)
LESSON_STEPS = ("导入", "新授", "练习", "小结", "作业", "拓展")
# The spaces' error codes as the pages say them (the others: exchange.views_pages.ERROR_MESSAGES).
SPACE_MESSAGES: dict[str, Any] = {
    "not_collection_owner": gettext_lazy("只有备课包的创建者可以修改它。"),
    "collection_not_found": gettext_lazy("备课包不存在或没有分享给您。"),
    "collection_full": gettext_lazy("备课包里的资源已达上限。"),
    "resource_not_published": gettext_lazy("只有已发布的资源可以加入备课包。"),
    "package_price_changed": gettext_lazy("需付的资源券数已变化，请看过新的金额后再确认。"),
    "nothing_to_purchase": gettext_lazy("备课包里没有需要购买的资源。"),
    "package_empty": gettext_lazy("备课包里没有您可以下载的资源。"),
    "package_invalid": gettext_lazy("这不是本节点可以导入的备课包文件。"),
    "package_too_large": gettext_lazy("备课包文件超过了大小上限。"),
}


def error_text(exc: ExchangeError) -> str:
    own = SPACE_MESSAGES.get(exc.code)
    return str(own) if own is not None else exchange_error_text(exc)


def _collection(request: HttpRequest, collection_id: Any) -> Collection:
    try:
        return selectors.collection_get(user=request.user, collection_id=collection_id)
    except CollectionNotFoundError as exc:
        raise Http404 from exc


def _steps(items: list[CollectionItem]) -> list[tuple[str, list[CollectionItem]]]:
    """Items grouped by lesson step, in lesson order (a step appears where its first item is)."""
    groups: dict[str, list[CollectionItem]] = {}
    for item in items:
        groups.setdefault(item.step, []).append(item)
    return list(groups.items())


@role_required(*SPACE_ROLES)
def collection_list_page(request: HttpRequest) -> HttpResponse:
    """My 备课包 and those shared with me; POST makes a new one. Permission: teacher or school admin."""
    if request.method == "POST":
        try:
            collection = services.collection_create(user=request.user, title=request.POST.get("title", ""),
                                                    description=request.POST.get("description", ""),
                                                    visibility=request.POST.get("visibility") or "private")
        except ExchangeError as exc:
            messages.error(request, error_text(exc))
            return redirect("space-collections")
        messages.success(request, _("已新建备课包。"))
        return redirect("space-collection", collection.pk)
    return render(request, "spaces/collections.html", {
        "mine": selectors.collection_list_mine(user=request.user).select_related("owner"),
        "shared": selectors.collection_list_shared(user=request.user)[:50],
        "visibilities": Collection.Visibility.choices,
    })


@login_not_required
def collection_page(request: HttpRequest, collection_id: Any) -> HttpResponse:
    """A 备课包: its items by lesson step with each item's licensing decision, the total to pay for its priced
    items, and (for its owner) the forms to rename, share, arrange and remove. POST ``action`` = update, move,
    remove, purchase, delete. Permission: viewing — its owner, its school's members when shared with the
    school, anybody when public (``can_view_collection``); changing — its owner; purchase — the spend right."""
    if request.method == "POST" and not request.user.is_authenticated:
        return redirect(f"{reverse('login')}?next={request.path}")
    collection = _collection(request, collection_id)
    if request.method == "POST":
        return _collection_action(request, collection)
    plan = packages.package_plan(user=request.user, collection=collection)
    lines = {line.item.pk: line for line in plan.lines}
    items = [line.item for line in plan.lines]
    return render(request, "spaces/collection.html", {
        "collection": collection, "steps": [(step, [(item, lines[item.pk]) for item in group])
                                            for step, group in _steps(items)],
        "plan": plan, "editable": can_edit_collection(request.user, collection),
        "included_count": len(plan.of("included")), "purchase_count": len(plan.of("purchase")),
        "refused_count": len(plan.of("refused")),
        "visibilities": Collection.Visibility.choices, "lesson_steps": LESSON_STEPS,
    })


def _collection_action(request: HttpRequest, collection: Collection) -> HttpResponse:
    action = request.POST.get("action", "")
    here = redirect("space-collection", collection.pk)
    try:
        if action == "update":
            services.collection_update(user=request.user, collection=collection,
                                       title=request.POST.get("title", collection.title),
                                       description=request.POST.get("description", collection.description),
                                       visibility=request.POST.get("visibility", collection.visibility))
            messages.success(request, _("已保存。"))
        elif action in ("up", "down"):
            items = selectors.collection_items(collection=collection)
            ids = [str(item.resource_id) for item in items]
            moving = request.POST.get("resource", "")
            if moving in ids:
                at = ids.index(moving)
                to = at - 1 if action == "up" else at + 1
                if 0 <= to < len(items):
                    items[at], items[to] = items[to], items[at]
                    if items[at].step != items[to].step:  # moving past the step's edge: into the next step
                        items[to].step = items[at].step
            services.collection_items_arrange(user=request.user, collection=collection, order=[
                {"resource": str(item.resource_id), "step": item.step} for item in items])
        elif action == "remove":
            services.collection_item_remove(user=request.user, collection=collection,
                                            resource_id=request.POST.get("resource", ""))
            messages.success(request, _("已从备课包移除。"))
        elif action == "purchase":
            try:
                confirmed = int(request.POST.get("confirmed_total", ""))
            except ValueError:
                confirmed = -1
            grants = packages.package_purchase(user=request.user, collection=collection, confirmed_total=confirmed,
                                               scope=request.POST.get("scope") or Grant.Scope.SCHOOL)
            messages.success(request, _("已购买 %(n)d 个资源的使用授权，共 %(total)d 张资源券。") % {
                "n": len(grants), "total": sum(g.price for g in grants)})
        elif action == "delete":
            services.collection_delete(user=request.user, collection=collection)
            messages.success(request, _("已删除备课包。"))
            return redirect("space-collections")
        else:
            messages.error(request, _("未知的操作。"))
    except ExchangeError as exc:
        messages.error(request, error_text(exc))
    return here


@login_required
@require_POST
def collection_package_download(request: HttpRequest, collection_id: Any) -> HttpResponse:
    """The package zip of a collection (the items the user may take; the manifest lists the others and why).
    Permission: signed in, and the collection visible to the user; each item by the licensing decision."""
    collection = _collection(request, collection_id)
    try:
        built = packages.package_build(user=request.user, collection=collection, ip=client_ip(request),
                                       base_url=request.build_absolute_uri("/"))
    except ExchangeError as exc:
        messages.error(request, error_text(exc))
        return redirect("space-collection", collection.pk)
    handle = open(built.path, "rb")  # noqa: SIM115 - FileResponse closes it
    os.unlink(built.path)
    return FileResponse(handle, as_attachment=True, filename=built.filename, content_type="application/zip")


@role_required(*SPACE_ROLES)
def collection_add_page(request: HttpRequest) -> HttpResponse:
    """Put a resource (``resource``) into one of my 备课包 at a lesson step, or into a new one. Permission:
    teacher or school admin; the resource visible to them and published; the collection theirs."""
    resource_id = request.POST.get("resource") or request.GET.get("resource", "")
    try:
        resource = catalog_selectors.resource_get(user=request.user, resource_id=resource_id)
    except ResourceNotFoundError as exc:
        raise Http404 from exc
    if request.method == "POST":
        try:
            target = request.POST.get("collection", "")
            if target == "new" or not target:
                collection = services.collection_create(
                    user=request.user, title=request.POST.get("title") or resource.title)
            else:
                collection = selectors.collection_get(user=request.user, collection_id=target)
            services.collection_item_add(user=request.user, collection=collection, resource_id=resource.pk,
                                         step=request.POST.get("step", ""))
        except ExchangeError as exc:
            messages.error(request, error_text(exc))
            return redirect(f"{reverse('space-collection-add')}?resource={resource.pk}")
        messages.success(request, _("已加入备课包“%(title)s”。") % {"title": collection.title})
        return redirect("space-collection", collection.pk)
    return render(request, "spaces/collection_add.html", {
        "resource": resource, "mine": selectors.collection_list_mine(user=request.user),
        "lesson_steps": LESSON_STEPS})


@role_required(*SPACE_ROLES)
def collection_import_page(request: HttpRequest) -> HttpResponse:
    """Import a package zip made by any node as a new private 备课包. Permission: teacher or school admin."""
    result = None
    if request.method == "POST":
        upload = request.FILES.get("package")
        if upload is None:
            messages.error(request, _("请选择备课包文件（.zip）。"))
        elif upload.size > settings.SPACES_PACKAGE_MAX_BYTES:
            messages.error(request, _("备课包文件超过了大小上限。"))
        else:
            fd, path = tempfile.mkstemp(prefix="package-in-", suffix=".zip", dir=settings.FILE_UPLOAD_TEMP_DIR)
            try:
                with os.fdopen(fd, "wb") as out:
                    for chunk in upload.chunks():
                        out.write(chunk)
                result = packages.package_import(user=request.user, path=path, name="package.zip")
            except ExchangeError as exc:
                messages.error(request, error_text(exc))
            finally:
                os.unlink(path)
        if result is not None and not result.unresolved:
            messages.success(request, _("已导入备课包。"))
            return redirect("space-collection", result.collection.pk)
    return render(request, "spaces/collection_import.html", {"result": result})


# --- the feed ---------------------------------------------------------------------------------------------------

@role_required(*SPACE_ROLES)
def feed_page(request: HttpRequest) -> HttpResponse:
    """新资源: new resources matching what I follow; my follows; the Atom feed token and e-mail digest. POST
    ``action`` = follow, unfollow, token, revoke, digest. Permission: teacher or school admin (their own)."""
    token = None
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "follow":
                services.follow_create(user=request.user, **{name: request.POST.get(name, "")
                                                             for name in services.FOLLOW_FIELDS})
                messages.success(request, _("已关注。新的匹配资源会出现在这里。"))
            elif action == "unfollow":
                services.follow_delete(user=request.user, follow_id=request.POST.get("follow") or 0)
                messages.success(request, _("已取消关注。"))
            elif action == "token":
                token = services.feed_token_issue(user=request.user)
            elif action == "revoke":
                services.feed_token_revoke(user=request.user)
                messages.success(request, _("订阅地址已作废。"))
            elif action == "digest":
                services.feed_digest_set(user=request.user, enabled=request.POST.get("enabled") == "1")
                messages.success(request, _("已保存邮件提醒设置。"))
            else:
                messages.error(request, _("未知的操作。"))
        except (ExchangeError, ValueError) as exc:
            messages.error(request, error_text(exc) if isinstance(exc, ExchangeError) else _("输入有误。"))
        if token is None:
            return redirect("space-feed")
    page = Paginator(selectors.feed_list(user=request.user), 25).get_page(request.GET.get("page"))
    feed_settings = selectors.feed_settings_get(user=request.user)
    response = render(request, "spaces/feed.html", {
        "page_obj": page, "follows": selectors.follow_list(user=request.user), "feed_settings": feed_settings,
        "feed_url": request.build_absolute_uri(f"/feeds/{token}/atom") if token else None,
    })
    if token:
        response["Cache-Control"] = "no-store"
    return response


@login_not_required
@require_GET
def feed_atom(request: HttpRequest, token: str) -> HttpResponse:
    """The Atom feed of a teacher's new resources. Permission: the secret token (revocable; never logged:
    ``/feeds/`` is in LOG_REDACT_PATH_PREFIXES). An unknown or revoked token is a 404."""
    user = services.feed_user_for_token(token)
    if user is None:
        raise Http404
    items = selectors.feed_list(user=user)[:feeds.FEED_ATOM_ENTRIES]
    body = feeds.feed_atom(user=user, items=items, base_url=request.build_absolute_uri("/"))
    response = HttpResponse(body, content_type="application/atom+xml; charset=utf-8")
    response["Cache-Control"] = "private, no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response
