"""Web pages where licensing has the say: the resource page (what you may do with it, and why not),
previews, downloads and purchases, a teacher's downloads and school vouchers, the publisher's usage
statistics, takedown notices, and the school / province administrators' voucher pages.

Every "may this user use this resource" question is answered by ``licensing.decisions.decide`` (directly
or inside ``licensing.services``); lists come from ``licensing.selectors`` and ``catalog.selectors``,
money and takedowns go through ``licensing.services`` — the same functions the API calls.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any
from urllib.parse import quote

from csp.constants import SELF
from csp.decorators import csp_replace
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required, login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_POST

from catalog import selectors as catalog_selectors
from catalog.errors import ResourceNotFoundError
from catalog.jsonld import jsonld_script, resource_jsonld
from catalog.lineage import resource_lineage
from catalog.models import FilePreview, Resource, ResourceFile
from catalog.pages.common import Labels, english, preview_kind
from catalog.permissions import (
    can_edit,
    can_review,
    can_see_unpublished,
    teacher_may_share,
    teacher_shares_resource,
)
from catalog.previews.selectors import covers_for, preview_open, previews_for
from catalog.previews.services import preview_key
from catalog.ratings import selectors as rating_selectors
from catalog.ratings.services import can_rate
from catalog.review.commitment import commitment_current
from catalog.search import SearchRequest, search
from catalog.sharing import school_sharing_set, sharing_consent_get, sharing_consent_of
from catalog.storage import get_blob_store
from exchange.apis import client_ip
from exchange.errors import ExchangeError
from exchange.models import Organisation, SchoolCategory
from exchange.roles import Role, user_has_role
from exchange.selectors import organisation_list
from exchange.services import organisation_set_categories
from exchange.views_pages import (
    ChartPoint,
    bar_chart_svg,
    column_chart_svg,
    error_text,
    role_required,
    show_error,
)
from licensing import purchase_requests, selectors, services
from licensing.allowances import (
    allowance_for,
    current_term,
    is_governed,
    policy_of,
    purchase_outlook,
    term_label,
)
from licensing.attribution import attribution_for
from licensing.decisions import Action, Decision, Reason, decide
from licensing.errors import AccessRefusedError, PurchaseRequestNotFoundError
from licensing.links import UnsatisfiableRange, open_range, parse_range, stream_bytes
from licensing.models import DownloadEvent, Grant, PurchaseRequest, TakedownNotice, TeacherAllowance
from licensing.purchase_requests import MAX_POLICY_AMOUNT
from licensing.remix import resource_remix
from licensing.settlement import Period, settlement_report, settlement_scope_for

LIST_PAGE_SIZE = 25
CLAIMANT_ROLES = (Role.PUBLISHER, Role.PROVINCE_ADMIN, Role.HUB_OPERATOR)
PURCHASER_ROLES = (Role.TEACHER, Role.SCHOOL_ADMIN)
STATS_MONTHS = 12


def _resource_for(request: HttpRequest, resource_id: Any) -> Resource:
    try:
        return catalog_selectors.resource_get(user=request.user, resource_id=resource_id)
    except ResourceNotFoundError as exc:
        raise Http404 from exc


def _page_of(request: HttpRequest, items: Any, per_page: int = LIST_PAGE_SIZE) -> Any:
    return Paginator(items, per_page).get_page(request.GET.get("page"))


# --- the resource page --------------------------------------------------------------------------------

def _may_preview(request: HttpRequest, resource: Resource) -> Decision | None:
    """None when previews may be shown; else the refusing decision. An unpublished resource is
    previewed by those who may see it (``catalog.permissions.can_see_unpublished``: its publisher's
    members and its province's reviewers); a published one on licensing's decision."""
    if resource.status != Resource.Status.PUBLISHED and can_see_unpublished(request.user, resource):
        return None
    decision = decide(request.user, resource, Action.PREVIEW)
    return None if decision.allowed else decision


def _whole_file_allowed(request: HttpRequest, resource: Resource) -> bool:
    """Whether a preview may show the whole file: only to those who may download it (licensing's
    ``decide``), or, for an unpublished resource, those who may see it (``can_see_unpublished``).
    Everybody else gets an excerpt (the first page of a PDF) so a preview never gives away a priced work."""
    if resource.status != Resource.Status.PUBLISHED:
        return can_see_unpublished(request.user, resource)
    return decide(request.user, resource, Action.DOWNLOAD).allowed


def _first_page_pdf(key: str) -> bytes:
    """A new PDF holding only the first page of the stored PDF ``key`` (raises Http404 if it cannot be read).

    The PDF is untrusted input: at most CATALOG_PREVIEW_MAX_PDF_BYTES of it are read, pypdf's own
    decompression limits apply to its streams (LimitReachedError), and any failure of the parser on
    malformed input, deep nesting included, means no excerpt rather than a server error."""
    from pypdf import PdfReader, PdfWriter

    limit = settings.CATALOG_PREVIEW_MAX_PDF_BYTES
    store = get_blob_store()
    if store.size(key) > limit:
        raise Http404
    with store.open(key) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise Http404
    try:
        reader = PdfReader(io.BytesIO(data))
        writer = PdfWriter()
        writer.add_page(reader.pages[0])
        out = io.BytesIO()
        writer.write(out)
    except Exception as exc:  # noqa: BLE001 - pypdf raises many kinds of error on hostile input, not only PyPdfError
        raise Http404 from exc
    return out.getvalue()


def _renditions(files: list[ResourceFile]) -> dict[str, FilePreview]:
    return previews_for(shas=[f.sha256 for f in files if f.available_locally])


def _kind(file: ResourceFile, renditions: dict[str, FilePreview]) -> str | None:
    """How the file is shown inline: its own kind, or ``pdf`` for an office document with a PDF rendition."""
    kind = preview_kind(file.mime)
    rendition = renditions.get(file.sha256)
    if kind is None and rendition is not None and rendition.status == FilePreview.Status.READY and rendition.has_pdf:
        return "pdf"
    return kind


def _pdf_key(file: ResourceFile) -> str:
    """The stored PDF to show for ``file``: the file itself, or its rendition."""
    return file.storage_key if file.mime == "application/pdf" else preview_key(file.sha256, "document.pdf")


PREVIEW_STATE_MESSAGES = {
    FilePreview.Status.PENDING: gettext_lazy("预览正在生成，请稍后刷新。"),
    "tool_missing": gettext_lazy("本节点未安装生成预览所需的程序（LibreOffice、poppler 或 ffmpeg），暂不能预览此文件。"),
    "timeout": gettext_lazy("生成预览超时，此文件暂无预览。"),
    "damaged": gettext_lazy("文件已损坏，无法生成预览。"),
    "archive_bomb": gettext_lazy("文件结构异常，出于安全考虑不生成预览。"),
    "archive_too_large": gettext_lazy("文件解压后过大，不生成预览。"),
}


def _preview_state(rendition: FilePreview | None) -> str:
    """Why a file has no preview yet (or ever), for the resource page; empty when it has one or none is due."""
    if rendition is None or rendition.status in (FilePreview.Status.READY, FilePreview.Status.UNSUPPORTED):
        return ""
    if rendition.status == FilePreview.Status.PENDING:
        return str(PREVIEW_STATE_MESSAGES[FilePreview.Status.PENDING])
    return str(PREVIEW_STATE_MESSAGES.get(rendition.reason, gettext_lazy("无法生成预览。")))


def _ratings_context(user: Any, resource: Resource) -> dict[str, Any]:
    full = rating_selectors.may_see_all_comments(user, resource)
    return {"summary": rating_selectors.rating_summary(resource), "can_rate": can_rate(user, resource),
            "mine": rating_selectors.rating_of(user=user, resource=resource), "scale": range(1, 6), "full": full,
            "items": list(rating_selectors.rating_list(user=user, resource=resource)[:50]),
            "can_moderate": can_review(user, resource)}


@login_not_required
def resource_page(request: HttpRequest, resource_id: Any) -> HttpResponse:
    """A resource with its metadata, rights, attribution, previews and what this user may do with it.
    Permission: published resources: anyone (the download decision is licensing's ``decide``); others:
    the publisher's members and the province's reviewers (``catalog.selectors.resource_get``)."""
    resource = _resource_for(request, resource_id)
    labels = Labels.load()
    rights = getattr(resource, "rights", None)
    published = resource.status == Resource.Status.PUBLISHED
    download = decide(request.user, resource, Action.DOWNLOAD) if published else None
    preview_refusal = _may_preview(request, resource)
    files = list(resource.files.all())
    renditions = _renditions(files)
    previews = ([f for f in files if _kind(f, renditions) and f.available_locally]
                if preview_refusal is None else [])
    whole_file = _whole_file_allowed(request, resource)
    if not whole_file:  # only excerpts: the first page of a PDF (or of an office document's rendition)
        previews = [f for f in previews if _kind(f, renditions) == "pdf"]
    shown = previews[0] if previews else None
    shown_rendition = renditions.get(shown.sha256) if shown else None
    pages: list[int] = []
    if shown_rendition is not None and shown_rendition.status == FilePreview.Status.READY:
        pages = list(range(1, (shown_rendition.page_count if whole_file else min(1, shown_rendition.page_count)) + 1))
    attribution = None
    if rights is not None:
        text = attribution_for(resource)
        attribution = text.html_en if labels.en else text.html_zh
    user = request.user
    school = getattr(user, "organisation", None) if getattr(user, "is_authenticated", False) else None
    can_buy = (download is not None and download.reason == Reason.PURCHASE_REQUIRED and school is not None
               and school.kind == Organisation.Kind.SCHOOL
               and any(user_has_role(user, role) for role in PURCHASER_ROLES))
    account = selectors.school_account_for(user=user) if can_buy else None
    outlook = (purchase_outlook(user=user, school=school, price=download.price,
                                balance=account.balance if account else 0)
               if can_buy and school is not None and download is not None else None)
    context = {
        "resource": resource, "rights": rights, "labels": labels, "published": published,
        "path": labels.describe(resource), "type": labels.term("resource_type", resource.resource_type),
        "language": labels.term("language", resource.language),
        "licence_name": labels.licence_name(rights.license_id) if rights else "",
        "licence_short": labels.licence(rights.license_id) if rights else "",
        "licence_url": rights.license.url if rights else "",
        "territory": [labels.region(code) for code in (rights.territory if rights else [])],
        "audience": labels.term("audience", rights.audience) if rights else "",
        "free_for": [SchoolCategory(c).label for c in (rights.free_for if rights else []) if c in SchoolCategory.values],
        "attribution": attribution,
        "origin": labels.origin(resource.origin_node),
        "download": download, "download_message": download.message if download else "",
        "preview_refusal": preview_refusal.message if preview_refusal else "",
        "files": [{"file": f, "kind": _kind(f, renditions),
                   "preview_state": _preview_state(renditions.get(f.sha256)) if preview_refusal is None else ""}
                  for f in files],
        "preview": {"file": shown, "kind": _kind(shown, renditions), "pages": pages,
                    "poster": bool(shown_rendition and shown_rendition.has_cover and preview_kind(shown.mime) == "video")}
                   if shown else None,
        "can_buy": can_buy, "balance": account.balance if account else 0, "outlook": outlook,
        "grant_scopes": Grant.Scope.choices,
        "can_edit": can_edit(user, resource), "can_review": can_review(user, resource),
        # a teacher's own lesson shared as the school: edited and (re)submitted on the teacher's pages
        "teacher_lesson": teacher_shares_resource(user, resource) and not user_has_role(user, Role.PUBLISHER),
        "can_claim": published and any(user_has_role(user, role) for role in CLAIMANT_ROLES),
        "jsonld": jsonld_script(resource_jsonld(resource, base_url=settings.EXCHANGE_BASE_URL)) if published else "",
        "preview_excerpt": not whole_file,
        "is_favourite": bool(catalog_selectors.favourite_ids(user=user, resource_ids=[resource.pk])),
        "ratings": _ratings_context(user, resource) if published else None,
        "lineage": resource_lineage(user=user, resource=resource),
        "can_remix": published and getattr(user, "is_authenticated", False) and (
            user_has_role(user, Role.PUBLISHER) or teacher_may_share(user))
        and decide(user, resource, Action.DERIVE).allowed,
    }
    return render(request, "licensing/resource.html", context)


@login_not_required
@require_GET
@xframe_options_sameorigin
@csp_replace({"frame-ancestors": [SELF]})  # shown in an <iframe> of the resource page
def file_preview(request: HttpRequest, resource_id: Any, file_id: Any) -> HttpResponse:
    """A file shown inline (PDF viewer, image, video or audio player), with byte ranges for players.
    Permission: published resources: licensing's ``decide(user, resource, "preview")``; unpublished ones:
    the publisher's members and the province's reviewers (``catalog.selectors.resource_get``)."""
    resource = _resource_for(request, resource_id)
    if _may_preview(request, resource) is not None:
        raise PermissionDenied
    file: ResourceFile | None = next((f for f in resource.files.all() if str(f.pk) == str(file_id)), None)
    renditions = _renditions([file]) if file is not None else {}
    if file is None or not file.available_locally or _kind(file, renditions) is None:
        raise Http404
    if not _whole_file_allowed(request, resource):
        if _kind(file, renditions) != "pdf":
            raise PermissionDenied
        excerpt = HttpResponse(_first_page_pdf(_pdf_key(file)), content_type="application/pdf")
        excerpt["Content-Disposition"] = f"inline; filename*=UTF-8''{quote(file.original_name)}"
        excerpt["Cache-Control"] = "private, no-store"
        return excerpt
    if preview_kind(file.mime) is None:  # an office document: its whole PDF rendition
        rendition = FileResponse(get_blob_store().open(_pdf_key(file)), content_type="application/pdf")
        rendition["Content-Disposition"] = f"inline; filename*=UTF-8''{quote(file.original_name)}.pdf"
        rendition["Cache-Control"] = "private, no-store"
        return rendition
    store = get_blob_store()
    try:
        byte_range = parse_range(request.headers.get("Range"), file.size)
    except UnsatisfiableRange:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{file.size}"
        return response
    if byte_range is None:
        handle, length, status = store.open(file.storage_key), file.size, 200
    else:
        handle, length, status = open_range(store, file.storage_key, byte_range), byte_range.length, 206
    response = StreamingHttpResponse(stream_bytes(handle, length), status=status, content_type=file.mime)
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    response["Content-Disposition"] = f"inline; filename*=UTF-8''{quote(file.original_name)}"
    response["Cache-Control"] = "private, no-store"
    if byte_range is not None:
        response["Content-Range"] = f"bytes {byte_range.start}-{byte_range.end}/{file.size}"
    return response


def _image(sha256: str, name: str) -> FileResponse:
    handle = preview_open(sha256=sha256, name=name)
    if handle is None:
        raise Http404
    response = FileResponse(handle, content_type="image/png")
    response["Cache-Control"] = "private, max-age=300"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_not_required
@require_GET
def resource_cover(request: HttpRequest, resource_id: Any) -> HttpResponse:
    """The resource's cover (the first page, or a video's poster frame, of its first file that has one).
    Permission: as previews: published resources: licensing's ``decide(user, resource, "preview")`` (the
    first page is what a priced resource previews anyway); unpublished ones: the publisher's members and the
    province's reviewers."""
    resource = _resource_for(request, resource_id)
    if _may_preview(request, resource) is not None:
        raise PermissionDenied
    sha256 = covers_for(resource_ids=[str(resource.pk)]).get(str(resource.pk))
    if sha256 is None:
        raise Http404
    return _image(sha256, "cover.png")


@login_not_required
@require_GET
def file_page_image(request: HttpRequest, resource_id: Any, file_id: Any, page: int) -> HttpResponse:
    """A thumbnail of one page of a file (a PDF, or an office document's rendition). Permission: as
    previews (``decide(user, resource, "preview")``, or for an unpublished resource its publisher's members
    and the province's reviewers); pages after the first only for those who may see the whole file
    (licensing's download decision): a priced resource previews one page."""
    resource = _resource_for(request, resource_id)
    if _may_preview(request, resource) is not None:
        raise PermissionDenied
    file: ResourceFile | None = next((f for f in resource.files.all() if str(f.pk) == str(file_id)), None)
    rendition = _renditions([file]).get(file.sha256) if file is not None else None
    if rendition is None or rendition.status != FilePreview.Status.READY or not 1 <= page <= rendition.page_count:
        raise Http404
    if page > 1 and not _whole_file_allowed(request, resource):
        raise PermissionDenied
    return _image(rendition.sha256, f"page-{page}.png")


@require_POST
@login_required
def resource_download(request: HttpRequest, resource_id: Any) -> HttpResponse:
    """Start a download (``licensing.services.download_start``: it asks ``decide`` and records the
    event) and send the browser to the short-lived link, or list the links of several files. A refusal
    comes back to the resource page with the decision's reason. Permission: signed in + licensing's
    download decision."""
    resource = _resource_for(request, resource_id)
    try:
        ticket = services.download_start(user=request.user, resource=resource,
                                         file_id=request.POST.get("file") or None, ip=client_ip(request),
                                         base_url=request.build_absolute_uri("/"))
    except AccessRefusedError as exc:
        messages.error(request, _("不能下载：%(reason)s") % {"reason": exc.message})
        return redirect("resource-page", resource_id=resource.pk)
    except ExchangeError as exc:
        show_error(request, exc)
        return redirect("resource-page", resource_id=resource.pk)
    if len(ticket.links) == 1:
        return HttpResponseRedirect(ticket.links[0].url)
    return render(request, "licensing/download_links.html", {"resource": resource, "ticket": ticket})


@require_POST
@role_required(*PURCHASER_ROLES)
def resource_purchase(request: HttpRequest, resource_id: Any) -> HttpResponse:
    """Buy a school-wide or personal grant with the school's vouchers, or — when the school's policy says
    the price needs approval — ask the school's administrators (``licensing.purchase_requests.purchase_submit``,
    which asks ``decide`` first). Permission: teacher or school administrator role + the spend right on
    their school's voucher account."""
    resource = _resource_for(request, resource_id)
    try:
        outcome = purchase_requests.purchase_submit(buyer=request.user, resource=resource,
                                                    scope=request.POST.get("scope", ""))
    except ExchangeError as exc:
        show_error(request, exc)
    else:
        if outcome.grant is not None:
            messages.success(request, _("已购买授权，有效期至 %(date)s。现在可以下载了。") % {
                "date": timezone.localtime(outcome.grant.ends_at).strftime("%Y-%m-%d")})
        else:
            messages.success(request, _("已提交购买申请，学校管理员批准后即可下载。"))
    return redirect("resource-page", resource_id=resource.pk)


@require_POST
@role_required(Role.PUBLISHER, Role.TEACHER)
def resource_remix_page(request: HttpRequest, resource_id: Any) -> HttpResponse:
    """Remix: make a draft derived from this resource (``licensing.remix.resource_remix``, which asks
    ``decide(user, source, "derive")``) and open it. Permission: publisher role, or a teacher sharing as their
    school; the source visible to them."""
    resource = _resource_for(request, resource_id)
    try:
        draft = resource_remix(user=request.user, source=resource)
    except ExchangeError as exc:
        show_error(request, exc)
        return redirect("resource-page", resource_id=resource.pk)
    messages.success(request, _("已创建改编草稿，注明并链接了原作。请上传您的文件并提交审核。"))
    return redirect("resource-page", resource_id=draft.pk)


# --- teachers -----------------------------------------------------------------------------------------

@login_required
def my_downloads(request: HttpRequest) -> HttpResponse:
    """The signed-in user's own downloads, newest first. Permission: signed in (only their own events)."""
    events = DownloadEvent.objects.filter(user=request.user).select_related("resource", "file").order_by(
        "-created_at", "-id")
    return render(request, "licensing/my_downloads.html", {"page_obj": _page_of(request, events)})


class SchoolPolicyForm(forms.Form):
    teacher_allowance = forms.IntegerField(label=gettext_lazy("每位教师每学期额度（资源券，留空为不限）"),
                                           required=False, min_value=0, max_value=MAX_POLICY_AMOUNT)
    approval_threshold = forms.IntegerField(label=gettext_lazy("价格高于此数的购买需审批（留空为都不需要）"),
                                            required=False, min_value=0, max_value=MAX_POLICY_AMOUNT)
    teachers_may_share = forms.BooleanField(
        label=gettext_lazy("允许本校教师以学校名义分享自己的课（一师一优课），并代表学校接受内容承诺书"), required=False)
    # the version of the commitment text the page showed: consenting accepts that one, and only if still current
    commitment_version = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=1,
                                            max_value=2**31 - 1)


class TeacherAllowanceForm(forms.Form):
    teacher = forms.IntegerField(widget=forms.HiddenInput)
    amount = forms.IntegerField(label=gettext_lazy("本学期额度"), min_value=0, max_value=MAX_POLICY_AMOUNT)


@role_required(*PURCHASER_ROLES)
def my_school(request: HttpRequest) -> HttpResponse:
    """The voucher balance of the user's school, the user's allowance this term, their purchase requests
    and the grants that cover them; for a school administrator also the school's purchase policy, the
    teachers' allowances and the requests waiting for approval. Permission: teacher or school administrator
    role (every list reads the user's own school only)."""
    user = request.user
    org = user.organisation
    is_school = org is not None and org.kind == Organisation.Kind.SCHOOL
    account = selectors.school_account_for(user=user) if is_school else None
    grants = selectors.grant_list_for_user(user=user)
    now = timezone.now()
    is_admin = is_school and user_has_role(user, Role.SCHOOL_ADMIN)
    commitment = commitment_current() if is_admin else None
    term = current_term()
    policy = policy_of(org) if is_school else None
    allowance = allowance_for(teacher=user, school=org, term=term) if is_school and is_governed(user) else None
    requests_ = purchase_requests.purchase_request_list(user=user) if is_school else None
    teachers: list[dict[str, Any]] = []
    if is_admin:
        rows = {a.teacher_id: a for a in TeacherAllowance.objects.filter(school=org, term=term)}
        for teacher in selectors.school_teachers(school=org):
            row = rows.get(teacher.pk) or allowance_for(teacher=teacher, school=org, term=term, policy=policy)
            teachers.append({"user": teacher, "allowance": row})
    return render(request, "licensing/my_school.html", {
        "school": org if is_school else None, "account": account, "page_obj": _page_of(request, grants), "now": now,
        "categories": [SchoolCategory(c).label for c in (org.categories if is_school else []) if c in
                       SchoolCategory.values],
        "can_see_ledger": is_admin and account is not None,
        "is_admin": is_admin, "term_label": term_label(term), "allowance": allowance, "policy": policy,
        "policy_form": SchoolPolicyForm(initial={
            "teacher_allowance": policy.teacher_allowance if policy else None,
            "approval_threshold": policy.approval_threshold if policy else None,
            "teachers_may_share": sharing_consent_of(org),
            "commitment_version": commitment.version}) if commitment is not None else None,
        "commitment": commitment, "commitment_en": english() if commitment is not None else False,
        "sharing_consent": sharing_consent_get(org) if is_admin else None,
        "pending": list(requests_.filter(status=PurchaseRequest.Status.PENDING)[:100]) if requests_ is not None else [],
        "decided": list(requests_.exclude(status=PurchaseRequest.Status.PENDING)[:20]) if requests_ is not None else [],
        "teachers": teachers,
    })


@require_POST
@role_required(Role.SCHOOL_ADMIN)
def school_policy(request: HttpRequest) -> HttpResponse:
    """Set the school's purchase policy (``licensing.purchase_requests.school_policy_set``) and whether its
    teachers may share their own lessons as the school (``catalog.sharing.school_sharing_set``). Permission:
    school administrator role (their own school)."""
    form = SchoolPolicyForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("额度和价格线须为不小于 0 的整数。"))
        return redirect("my-school")
    try:
        with transaction.atomic():  # one form, one decision: a refused consent keeps the old rules too
            purchase_requests.school_policy_set(actor=request.user,
                                                teacher_allowance=form.cleaned_data["teacher_allowance"],
                                                approval_threshold=form.cleaned_data["approval_threshold"])
            sharing = form.cleaned_data["teachers_may_share"]
            if sharing != sharing_consent_of(request.user.organisation):
                # consenting accepts the commitment text the page showed (school_sharing_set refuses an outdated one)
                school_sharing_set(actor=request.user, allowed=sharing,
                                   commitment_version=form.cleaned_data["commitment_version"] if sharing else None)
    except ExchangeError as exc:
        show_error(request, exc)
    else:
        messages.success(request, _("已保存本校的购买规则。"))
    return redirect("my-school")


@require_POST
@role_required(Role.SCHOOL_ADMIN)
def teacher_allowance(request: HttpRequest) -> HttpResponse:
    """Set one teacher's allowance for this term (``licensing.purchase_requests.teacher_allowance_set``).
    Permission: school administrator role (teachers of their own school)."""
    form = TeacherAllowanceForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("额度须为不小于 0 的整数。"))
        return redirect("my-school")
    try:
        purchase_requests.teacher_allowance_set(actor=request.user, teacher_id=form.cleaned_data["teacher"],
                                                amount=form.cleaned_data["amount"])
    except ExchangeError as exc:
        show_error(request, exc)
    else:
        messages.success(request, _("已设置该教师本学期的额度。"))
    return redirect("my-school")


@require_POST
@role_required(Role.SCHOOL_ADMIN)
def purchase_request_decide(request: HttpRequest, request_id: int) -> HttpResponse:
    """Approve or reject a teacher's purchase request (``licensing.purchase_requests.purchase_request_decide``).
    Permission: school administrator role (their own school's requests; another's is not found)."""
    decision = request.POST.get("decision", "")
    if decision not in ("approve", "reject"):
        messages.error(request, _("请选择批准或拒绝。"))
        return redirect("my-school")
    try:
        purchase_requests.purchase_request_decide(actor=request.user, request_id=request_id,
                                                  approve=decision == "approve", note=request.POST.get("note", ""))
    except PurchaseRequestNotFoundError as exc:
        raise Http404 from exc
    except ExchangeError as exc:
        show_error(request, exc)
    else:
        messages.success(request, _("已批准，授权已购买。") if decision == "approve" else _("已拒绝该申请。"))
    return redirect("my-school")


# --- publishers ---------------------------------------------------------------------------------------

def _month_starts(today: dt.date, months: int) -> list[dt.date]:
    first = today.replace(day=1)
    out = []
    for _i in range(months):
        out.append(first)
        first = (first - dt.timedelta(days=1)).replace(day=1)
    return list(reversed(out))


@role_required(Role.PUBLISHER)
def publisher_stats(request: HttpRequest) -> HttpResponse:
    """Usage of the publisher organisation's resources: downloads and voucher income per month over the
    last year (``licensing.settlement.settlement_report``, as the settlement API) with a chart, and the
    most downloaded resources. Permission: publisher role; only their own organisation's figures."""
    org = request.user.organisation
    scope = settlement_scope_for(request.user)
    if org is None or not scope.covers_publisher(org.pk, org.province_code):
        raise PermissionDenied
    months = []
    for start in _month_starts(timezone.localdate(), STATS_MONTHS):
        period = Period.parse(month=f"{start:%Y-%m}")
        rows = settlement_report(period=period, scope=scope, publisher_ids=[org.pk])
        months.append({
            "label": f"{start:%Y-%m}",
            "downloads": sum(r.downloads for r in rows),
            "grants": sum(r.grants for r in rows),
            "vouchers": sum(r.vouchers_spent for r in rows),
        })
    chart = column_chart_svg([ChartPoint(m["label"][2:], m["downloads"]) for m in months],
                             title=_("每月下载次数"), unit=_("次"))
    top = catalog_selectors.resource_list_for_publisher(user=request.user).order_by("-download_count", "title")[:10]
    return render(request, "licensing/publisher_stats.html", {
        "months": months, "chart": chart, "top": top, "organisation": org,
        "total_downloads": sum(m["downloads"] for m in months), "total_vouchers": sum(m["vouchers"] for m in months),
        "total_grants": sum(m["grants"] for m in months),
    })


# --- takedowns ----------------------------------------------------------------------------------------

TAKEDOWN_VIEWER_ROLES = (Role.REVIEWER, *CLAIMANT_ROLES)


@role_required(*TAKEDOWN_VIEWER_ROLES)
def takedown_list(request: HttpRequest) -> HttpResponse:
    """Takedown notices the user may see (``selectors.takedown_list``: their own; reviewers their
    province's; hub operators all). Permission: reviewer, publisher, province administrator or hub
    operator role."""
    status = request.GET.get("status", "")
    if status not in TakedownNotice.Status.values:
        status = ""
    notices = selectors.takedown_list(user=request.user, status=status or None)
    return render(request, "licensing/takedown_list.html", {
        "page_obj": _page_of(request, notices), "status": status,
        "tabs": [("", gettext_lazy("全部")), *TakedownNotice.Status.choices],
        "national": user_has_role(request.user, Role.HUB_OPERATOR),
    })


@role_required(*TAKEDOWN_VIEWER_ROLES)
def takedown_detail(request: HttpRequest, notice_id: int) -> HttpResponse:
    """One notice; reviewers of the resource's province uphold it (the resource is withdrawn on every
    node) or reject it with a reason (``takedown_uphold`` / ``takedown_reject``). Permission: as the
    list to see it; deciding needs the reviewer role + review right (checked by the services)."""
    try:
        notice = selectors.takedown_get(user=request.user, notice_id=notice_id)
    except ExchangeError as exc:
        raise Http404 from exc
    if request.method == "POST":
        note = request.POST.get("note", "")
        try:
            if request.POST.get("decision") == "uphold":
                services.takedown_uphold(user=request.user, notice=notice, note=note)
                messages.success(request, _("投诉成立，资源已下架。"))
            elif request.POST.get("decision") == "reject":
                services.takedown_reject(user=request.user, notice=notice, note=note)
                messages.success(request, _("投诉已驳回。"))
            else:
                messages.error(request, _("请选择处理结果。"))
        except ExchangeError as exc:
            show_error(request, exc)
        return redirect("takedown-detail", notice_id=notice.pk)
    return render(request, "licensing/takedown_detail.html", {
        "notice": notice, "can_decide": notice.status == TakedownNotice.Status.OPEN
        and services.can_decide_takedown(request.user, notice.resource),
    })


class TakedownForm(forms.Form):
    required_css_class = "required"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    grounds = forms.ChoiceField(label=gettext_lazy("投诉理由"), choices=TakedownNotice.Grounds.choices)
    statement = forms.CharField(label=gettext_lazy("投诉说明"), widget=forms.Textarea(attrs={"rows": 5}),
                                help_text=gettext_lazy("说明哪些权利受到侵害以及如何受到侵害。"))
    claimant = forms.CharField(label=gettext_lazy("权利主张方"), required=False, max_length=200,
                               help_text=gettext_lazy("留空则为本机构。"))


@role_required(*CLAIMANT_ROLES)
def takedown_new(request: HttpRequest, resource_id: Any) -> HttpResponse:
    """File a takedown notice against a resource (``licensing.services.takedown_file``). Permission:
    publisher, province administrator or hub operator role."""
    resource = _resource_for(request, resource_id)
    form = TakedownForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            notice = services.takedown_file(user=request.user, resource=resource, **form.cleaned_data)
        except ExchangeError as exc:
            show_error(request, exc)
        else:
            if notice.forwarded_to:
                messages.success(request, _("投诉已提交，已转交国家枢纽处理（资源来自其他省份）。"))
            else:
                messages.success(request, _("投诉已提交，将由资源所属省份的审核员处理。"))
            return redirect("takedown-detail", notice_id=notice.pk)
    return render(request, "licensing/takedown_new.html", {"resource": resource, "form": form})


# --- school and province administrators ------------------------------------------------------------------

ADMIN_ROLES = (Role.SCHOOL_ADMIN, Role.PROVINCE_ADMIN)


def _visible_schools(user: Any) -> Any:
    """Schools whose vouchers the user administers: a school administrator their own school, a province
    administrator the schools of their province (as the ``view_ledger`` rights on voucher accounts)."""
    org = getattr(user, "organisation", None)
    if org is None:
        return organisation_list(kind=Organisation.Kind.SCHOOL).none()
    if user_has_role(user, Role.PROVINCE_ADMIN):
        return organisation_list(kind=Organisation.Kind.SCHOOL, region_prefix=org.province_code[:2])
    return organisation_list(kind=Organisation.Kind.SCHOOL).filter(pk=org.pk)


@role_required(*ADMIN_ROLES)
def school_list(request: HttpRequest) -> HttpResponse:
    """Schools with their categories, students and voucher balances. Permission: school administrator
    (their school) or province administrator (their province's schools) role; balances are those of the
    accounts ``selectors.voucher_account_list`` shows them."""
    schools = _visible_schools(request.user).order_by("region__code", "name")
    accounts = {a.organisation_id: a for a in selectors.voucher_account_list(user=request.user)}
    page = _page_of(request, schools)
    rows = [{"school": s, "account": accounts.get(s.pk),
             "categories": [SchoolCategory(c).label for c in s.categories if c in SchoolCategory.values]}
            for s in page]
    return render(request, "licensing/school_list.html", {"page_obj": page, "rows": rows})


class FundForm(forms.Form):
    required_css_class = "required"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    per_student = forms.IntegerField(label=gettext_lazy("每名学生资源券数"), min_value=1,
                                     max_value=services.MAX_VOUCHERS_PER_STUDENT)
    memo = forms.CharField(label=gettext_lazy("备注"), required=False, max_length=300)


class CategoriesForm(forms.Form):
    required_css_class = "required"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    categories = forms.MultipleChoiceField(label=gettext_lazy("学校类别"), required=False,
                                           widget=forms.CheckboxSelectMultiple, choices=SchoolCategory.choices)


@role_required(*ADMIN_ROLES)
def school_detail(request: HttpRequest, school_id: int) -> HttpResponse:
    """A school's voucher account and ledger; province administrators fund it
    (``licensing.services.vouchers_fund``, which checks the fund right) and set its designated categories
    (``exchange.services.organisation_set_categories``, for schools of their own province). Permission:
    school administrator (their school) or province administrator (their province's schools) role."""
    school = _visible_schools(request.user).filter(pk=school_id).first()
    if school is None:
        raise Http404
    is_province_admin = user_has_role(request.user, Role.PROVINCE_ADMIN)
    fund_form = FundForm(request.POST if request.POST.get("action") == "fund" else None)
    categories_form = CategoriesForm(request.POST if request.POST.get("action") == "categories" else None,
                                     initial={"categories": school.categories})
    if request.method == "POST":
        if not is_province_admin:
            raise PermissionDenied
        try:
            if request.POST.get("action") == "fund" and fund_form.is_valid():
                txn = services.vouchers_fund(actor=request.user, school=school,
                                             per_student=fund_form.cleaned_data["per_student"],
                                             memo=fund_form.cleaned_data["memo"])
                messages.success(request, _("已发放 %(n)s 张资源券。") % {"n": txn.amount})
                return redirect("school-detail", school_id=school.pk)
            if request.POST.get("action") == "categories" and categories_form.is_valid():
                organisation_set_categories(organisation=school, actor=request.user,
                                            categories=categories_form.cleaned_data["categories"])
                messages.success(request, _("学校类别已更新。"))
                return redirect("school-detail", school_id=school.pk)
        except ExchangeError as exc:
            messages.error(request, error_text(exc))
    account = selectors.voucher_account_list(user=request.user).filter(organisation=school).first()
    entries = _page_of(request, selectors.ledger_entry_list(account=account)) if account else None
    return render(request, "licensing/school_detail.html", {
        "school": school, "account": account, "page_obj": entries, "fund_form": fund_form,
        "categories_form": categories_form, "is_province_admin": is_province_admin,
        "categories": [SchoolCategory(c).label for c in school.categories if c in SchoolCategory.values],
    })


# --- hub operators ------------------------------------------------------------------------------------

@role_required(Role.HUB_OPERATOR)
def national_stats(request: HttpRequest) -> HttpResponse:
    """National statistics with charts: published resources by origin province (the search index, which
    holds local and federated records), downloads on this node by the downloading school's province, and
    downloads and voucher spend per month (``settlement_report`` over everything, as the settlement API).
    Permission: hub operator role."""
    labels = Labels.load()
    facets = search(user=request.user, request=SearchRequest(page_size=1, with_highlight=False))["facets"]
    by_origin = [(labels.nodes.get(str(row["value"]), str(row["value"])), int(row["count"]))
                 for row in facets.get("origin", [])]
    per_province: dict[str, int] = {}
    rows = (DownloadEvent.objects.filter(organisation__isnull=False).values("organisation__region_id")
            .annotate(n=Count("id")).order_by())
    for row in rows:
        code = str(row["organisation__region_id"])[:2] + "0000"
        per_province[code] = per_province.get(code, 0) + row["n"]
    by_province = sorted(((labels.region(code), n) for code, n in per_province.items()), key=lambda p: (-p[1], p[0]))
    scope = settlement_scope_for(request.user)
    months = []
    for start in _month_starts(timezone.localdate(), STATS_MONTHS):
        report = settlement_report(period=Period.parse(month=f"{start:%Y-%m}"), scope=scope)
        months.append({"label": f"{start:%Y-%m}", "downloads": sum(r.downloads for r in report),
                       "vouchers": sum(r.vouchers_spent for r in report), "grants": sum(r.grants for r in report)})
    return render(request, "licensing/national_stats.html", {
        "resources_chart": bar_chart_svg([ChartPoint(n, c) for n, c in by_origin], title=_("各省发布的资源数")),
        "downloads_chart": bar_chart_svg([ChartPoint(n, c) for n, c in by_province], title=_("各省下载次数")),
        "months_chart": column_chart_svg([ChartPoint(m["label"][2:], m["downloads"]) for m in months],
                                         title=_("每月下载次数"), unit=_("次")),
        "by_origin": by_origin, "by_province": by_province, "months": months,
        "total_resources": sum(c for _n, c in by_origin), "total_downloads": sum(per_province.values()),
    })
