"""The publisher's pages: the upload form (``catalog.services.resource_create``), the organisation's
resources with their review status, pending changes and the reviewers' reasons, the edit form (a draft or
rejected resource in place, a published one through its revision) with the reviewer's notes beside the
fields, submit / publish / withdraw, and cancelling a revision."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from catalog import selectors, services
from catalog.models import Resource, ResourceRevision, RightsStatement
from catalog.pages.common import Labels, back, page_of, resource_for
from catalog.permissions import can_edit
from catalog.review import commitment, revisions
from catalog.review import selectors as review_selectors
from catalog.review.decisions import DIMENSIONS, REJECT_REASONS, latest_rejection
from catalog.review.subject import subject_of_resource
from exchange.errors import ExchangeError
from exchange.models import SchoolCategory
from exchange.roles import Role
from exchange.views_pages import (
    field_errors,
    role_required,
    show_error,
)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input; the catalog's upload checks decide what is acceptable."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"multiple": True}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data]
        return [single(data, initial)] if data else []


def _term_choices(labels: Labels, vocabulary: str, *, blank: str | None = None) -> list[tuple[Any, Any]]:
    rows = sorted((t for (v, _c), t in labels.terms.items() if v == vocabulary), key=lambda t: (t.order, t.code))
    choices: list[tuple[Any, Any]] = [("", blank)] if blank is not None else []
    if vocabulary == "grade":
        groups: dict[str, list[tuple[str, str]]] = {}
        for t in rows:
            groups.setdefault(t.parent or "", []).append((t.code, labels.term("grade", t.code)))
        return choices + [(labels.term("stage", stage) if stage else "—", opts) for stage, opts in groups.items()]
    return choices + [(t.code, labels.term(vocabulary, t.code)) for t in rows]


class ResourceUploadForm(forms.Form):
    """The deposit form. It only parses the input; ``catalog.services.resource_create`` checks the
    vocabulary, the rights statement and the files, and its errors are shown on the fields."""

    title = forms.CharField(label=gettext_lazy("标题"), max_length=300)
    description = forms.CharField(label=gettext_lazy("简介"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    keywords = forms.CharField(label=gettext_lazy("关键词"), required=False,
                               help_text=gettext_lazy("用逗号分隔，例如：有理数，数轴"))
    stage = forms.CharField(label=gettext_lazy("学段"))
    subject = forms.CharField(label=gettext_lazy("学科"))
    grade = forms.CharField(label=gettext_lazy("年级"), required=False)
    edition = forms.CharField(label=gettext_lazy("教材版本"), required=False)
    volume = forms.CharField(label=gettext_lazy("册次"), required=False)
    chapter = forms.CharField(label=gettext_lazy("章"), required=False, max_length=200)
    section = forms.CharField(label=gettext_lazy("节"), required=False, max_length=200)
    resource_type = forms.CharField(label=gettext_lazy("资源类型"))
    language = forms.CharField(label=gettext_lazy("语言"), required=False)
    files = MultipleFileField(label=gettext_lazy("文件"), required=False,
                              help_text=gettext_lazy("可选择多个文件：PDF、Office 文档、图片、MP4 视频等。"))

    holder = forms.CharField(label=gettext_lazy("权利人"), required=False, max_length=200,
                             help_text=gettext_lazy("留空则为本机构。"))
    year = forms.IntegerField(label=gettext_lazy("年份"), required=False)
    license = forms.CharField(label=gettext_lazy("许可协议"))
    attribution = forms.CharField(label=gettext_lazy("署名文字"), required=False, max_length=500)
    territory = forms.MultipleChoiceField(label=gettext_lazy("授权地域"), required=False,
                                          help_text=gettext_lazy("不选即全国。按住 Ctrl 可多选。"))
    audience = forms.CharField(label=gettext_lazy("使用对象"), required=False)
    price = forms.IntegerField(label=gettext_lazy("价格（数字资源券）"), required=False, min_value=0,
                               help_text=gettext_lazy("0 表示免费。"))
    free_for = forms.MultipleChoiceField(label=gettext_lazy("以下类别学校免费使用"), required=False,
                                         widget=forms.CheckboxSelectMultiple, choices=SchoolCategory.choices)
    grant_days = forms.IntegerField(label=gettext_lazy("授权期限（天）"), required=False, min_value=1)
    term_end = forms.DateField(label=gettext_lazy("权利截止日期"), required=False,
                               widget=forms.DateInput(attrs={"type": "date"}))
    embargo_until = forms.DateField(label=gettext_lazy("禁用期至"), required=False,
                                    widget=forms.DateInput(attrs={"type": "date"}))
    submit_now = forms.BooleanField(label=gettext_lazy("保存后立即提交审核"), required=False, initial=True)

    METADATA = ("title", "description", "keywords", "stage", "subject", "grade", "edition", "volume", "chapter",
                "section", "resource_type", "language")
    RIGHTS = ("holder", "year", "license", "attribution", "territory", "audience", "price", "free_for",
              "grant_days", "term_end", "embargo_until")

    required_css_class = "required"

    def __init__(self, *args: Any, labels: Labels, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        pickers = {
            "stage": _term_choices(labels, "stage", blank=_("请选择")),
            "subject": _term_choices(labels, "subject", blank=_("请选择")),
            "grade": _term_choices(labels, "grade", blank=_("（不限）")),
            "edition": _term_choices(labels, "edition", blank=_("（不限）")),
            "volume": _term_choices(labels, "volume", blank=_("（不限）")),
            "resource_type": _term_choices(labels, "resource_type", blank=_("请选择")),
            "language": _term_choices(labels, "language"),
            "audience": _term_choices(labels, "audience"),
            "license": [("", _("请选择"))] + [(lic.pk, f"{labels.licence(lic.pk)} — {labels.licence_name(lic.pk)}")
                                            for lic in labels.licences.values()],
        }
        for name, choices in pickers.items():
            self.fields[name].widget = forms.Select(choices=choices)
        self.fields["territory"].choices = [(code, f"{name} ({code})") for code, name in
                                            sorted(labels.regions.items()) if code.endswith("0000")]
        self.fields["territory"].widget.attrs["size"] = 6
        self.fields["free_for"].choices = [(c.value, c.label) for c in SchoolCategory]
        for name in ("stage", "subject", "resource_type", "license", "title"):
            self.fields[name].widget.attrs["required"] = True

    def metadata(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {name: data.get(name) or "" for name in self.METADATA if name != "language"} | {
            "language": data.get("language") or "zh-Hans"}

    def rights(self) -> dict[str, Any]:
        data = self.cleaned_data
        out: dict[str, Any] = {name: data.get(name) for name in self.RIGHTS}
        out["territory"] = list(data.get("territory") or [])
        out["free_for"] = list(data.get("free_for") or [])
        out["audience"] = data.get("audience") or RightsStatement.Audience.TEACHERS
        for name in ("year", "price", "grant_days", "holder", "term_end", "embargo_until", "attribution"):
            if out.get(name) in (None, ""):
                out.pop(name)
        for name in ("term_end", "embargo_until"):
            if name in out:
                out[name] = out[name].isoformat()
        return out

    def add_service_errors(self, exc: ExchangeError) -> None:
        """Show a service's per-field problems on the matching fields (the rest as form errors)."""
        for name, problems in field_errors(exc).items():
            if name in self.fields:
                for problem in problems:
                    self.add_error(name, problem)


def _submitted(request: HttpRequest, resource: Resource) -> bool:
    """Submit a saved resource for review when the form asked for it. False only when the organisation must
    first accept the content commitment (the caller sends the user there); other refusals are shown."""
    try:
        services.resource_submit(user=request.user, resource=resource)
    except ExchangeError as exc:
        show_error(request, exc)
        return exc.code != "commitment_required"
    messages.success(request, _("已提交审核。"))
    return True


@role_required(Role.PUBLISHER)
def resource_upload(request: HttpRequest) -> HttpResponse:
    """Deposit a resource with files and a rights statement (``catalog.services.resource_create``), and
    optionally submit it for review at once. Permission: publisher role (the service also requires a
    publisher or school organisation)."""
    labels = Labels.load()
    org = request.user.organisation
    if request.method == "POST":
        form = ResourceUploadForm(request.POST, request.FILES, labels=labels)
        outcome = deposit(request, form)
        if outcome != "invalid":
            return redirect("commitment-accept" if outcome == "commitment_required" else "publisher-resources")
    else:
        form = ResourceUploadForm(labels=labels, initial=upload_initial(holder=org.name if org else ""))
    return render(request, "catalog/upload.html", {"form": form})


def upload_initial(**more: Any) -> dict[str, Any]:
    return {"language": "zh-Hans", "audience": RightsStatement.Audience.TEACHERS, "price": 0,
            "license": "CC-BY-4.0", "submit_now": True, **more}


#: What a form page does next: show the form again (its errors on the fields), send the user to accept the
#: content commitment (saved, but the organisation must accept it before submitting), or go on.
FormOutcome = Literal["invalid", "commitment_required", "done"]


def deposit(request: HttpRequest, form: ResourceUploadForm) -> FormOutcome:
    """Deposit what a valid upload form says (``resource_create``) and submit it when asked. The publisher's and
    the teacher's upload pages share it."""
    if not form.is_valid():
        return "invalid"
    try:
        resource = services.resource_create(
            user=request.user, metadata=form.metadata(), rights=form.rights(),
            files=[services.UploadedFile(stream=f, name=f.name) for f in form.cleaned_data["files"]])
    except ExchangeError as exc:
        show_error(request, exc)
        form.add_service_errors(exc)
        return "invalid"
    messages.success(request, _("已保存《%(title)s》。") % {"title": resource.title})
    if form.cleaned_data.get("submit_now") and not _submitted(request, resource):
        return "commitment_required"
    return "done"


STATUS_FILTERS = (
    ("", gettext_lazy("全部")),
    (Resource.Status.DRAFT, Resource.Status.DRAFT.label),
    (Resource.Status.SUBMITTED, Resource.Status.SUBMITTED.label),
    (Resource.Status.REJECTED, Resource.Status.REJECTED.label),
    (Resource.Status.APPROVED, Resource.Status.APPROVED.label),
    (Resource.Status.PUBLISHED, Resource.Status.PUBLISHED.label),
    (Resource.Status.WITHDRAWN, Resource.Status.WITHDRAWN.label),
)


@role_required(Role.PUBLISHER)
def publisher_resources(request: HttpRequest) -> HttpResponse:
    """The publisher organisation's resources with their review status and the reviewer's reasons.
    Permission: publisher role; the list is what ``resource_list_for_publisher`` lets them edit."""
    status = request.GET.get("status", "")
    if status not in Resource.Status.values:
        status = ""
    qs = selectors.resource_list_for_publisher(user=request.user, status=status or None).order_by("-updated_at")
    page = page_of(request, qs)
    labels = Labels.load()
    pending = review_selectors.pending_revisions(resource_ids=[r.pk for r in page])
    rows = [{"resource": r, "path": labels.describe(r), "type": labels.term("resource_type", r.resource_type),
             "revision": pending.get(r.pk)} for r in page]
    return render(request, "catalog/publisher_resources.html", {
        "page_obj": page, "rows": rows, "status": status, "status_filters": STATUS_FILTERS,
        "commitment": commitment.commitment_acceptance_of(request.user.organisation),
    })


@require_POST
@role_required(Role.PUBLISHER)
def resource_submit(request: HttpRequest, resource_id: Any) -> HttpResponse:
    """Send a draft or rejected resource to review (``resource_submit``). Permission: publisher role +
    edit right on the resource."""
    resource = resource_for(request, resource_id)
    try:
        services.resource_submit(user=request.user, resource=resource)
        messages.success(request, _("《%(title)s》已提交审核。") % {"title": resource.title})
    except ExchangeError as exc:
        show_error(request, exc)
        if exc.code == "commitment_required":
            return redirect("commitment-accept")
    return back(request, reverse("publisher-resources"))


@require_POST
@role_required(Role.PUBLISHER, Role.REVIEWER)
def resource_publish(request: HttpRequest, resource_id: Any) -> HttpResponse:
    """Publish an approved resource (``resource_publish``). Permission: publisher or reviewer role + the
    edit or review right on the resource."""
    resource = resource_for(request, resource_id)
    try:
        services.resource_publish(user=request.user, resource=resource)
        messages.success(request, _("《%(title)s》已发布。") % {"title": resource.title})
    except ExchangeError as exc:
        show_error(request, exc)
    return back(request, reverse("resource-page", args=[resource.pk]))


@require_POST
@role_required(Role.PUBLISHER)
def resource_withdraw(request: HttpRequest, resource_id: Any) -> HttpResponse:
    """The publisher withdraws its published resource (``resource_withdraw``, reason
    ``withdrawn_by_publisher``). Permission: publisher role + edit right on the resource."""
    resource = resource_for(request, resource_id)
    try:
        services.resource_withdraw(user=request.user, resource=resource, reason="withdrawn_by_publisher",
                                   note=request.POST.get("note", ""))
        messages.success(request, _("《%(title)s》已撤回。") % {"title": resource.title})
    except ExchangeError as exc:
        show_error(request, exc)
    return back(request, reverse("publisher-resources"))


# --- editing: in place, or through a revision ---------------------------------------------------------

class ResourceEditForm(ResourceUploadForm):
    """The deposit form for an existing resource: its current files can be removed, new ones added, and
    it can be (re)submitted at once. An emptied date clears it."""

    remove_files = forms.MultipleChoiceField(label=gettext_lazy("删除这些文件"), required=False,
                                             widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args: Any, files_now: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["remove_files"].choices = [(str(f.pk), f"{f.original_name} ({f.mime})") for f in files_now]
        self.fields["submit_now"].label = gettext_lazy("保存后提交审核")

    def rights(self) -> dict[str, Any]:
        out = super().rights()
        for name in ("term_end", "embargo_until"):
            out.setdefault(name, None)
        return out


@dataclass(frozen=True)
class _FileChoice:
    """A file the edit form offers to remove: by the id it has in the live version."""

    pk: Any
    original_name: str
    mime: str


def editing_state(resource: Resource) -> dict[str, Any]:
    """What the edit form starts from and says: the open revision of a published resource (or the live
    version before the first edit), else the resource itself; whether it may be edited now; the last
    rejection's reasons and notes per field."""
    revision = revisions.revision_open(resource) if resource.status == Resource.Status.PUBLISHED else None
    if revision is not None:
        metadata, rights = dict(revision.metadata), dict(revision.rights)
        files = [_FileChoice(pk=f.file_id, original_name=f.original_name, mime=f.mime)
                 for f in revision.files.order_by("position", "id")]
        editable = revision.status != ResourceRevision.Status.SUBMITTED
        rejected = revision.status == ResourceRevision.Status.REJECTED
    else:
        subject = subject_of_resource(resource)
        metadata, rights = dict(subject.metadata), dict(subject.rights or {})
        files = [_FileChoice(pk=f.pk, original_name=f.original_name, mime=f.mime)
                 for f in resource.files.order_by("position", "id")]
        editable = resource.status in (Resource.Status.DRAFT, Resource.Status.REJECTED, Resource.Status.PUBLISHED)
        rejected = resource.status == Resource.Status.REJECTED
    rejection = latest_rejection(resource=resource, revision=revision) if rejected else None
    notes: dict[str, str] = dict(rejection.field_notes) if rejection else {}
    dimension_labels = dict(DIMENSIONS)
    return {
        "revision": revision, "metadata": metadata, "rights": rights, "files": files, "editable": editable,
        "rejection": rejection, "notes": notes,
        "failed_dimensions": [(dimension_labels[code], value.get("comment", "")) for code, value in
                              (rejection.dimensions.items() if rejection else []) if value.get("result") == "fail"
                              and code in dimension_labels],
        "reason_label": dict(REJECT_REASONS).get(rejection.reason_code, rejection.reason_code) if rejection else "",
    }


def edit_initial(metadata: dict[str, Any], rights: dict[str, Any]) -> dict[str, Any]:
    initial = {name: metadata.get(name) or "" for name in ResourceUploadForm.METADATA}
    initial["keywords"] = "，".join(metadata.get("keywords") or [])
    for name in ResourceUploadForm.RIGHTS:
        value = rights.get(name)
        initial[name] = value if value is not None else ""
    initial["submit_now"] = False
    return initial


@role_required(Role.PUBLISHER)
def resource_edit(request: HttpRequest, resource_id: Any) -> HttpResponse:
    """Edit a resource's metadata, rights and files, and optionally (re)submit it: a draft or rejected one
    is changed in place (``resource_update``, ``resource_add_files``, ``resource_remove_file``); a published
    one through its revision, which the public does not see until a reviewer approves it. The reviewer's
    reasons are shown beside the fields. Permission: publisher role + edit right on the resource."""
    resource = resource_for(request, resource_id)
    if not can_edit(request.user, resource):
        raise PermissionDenied
    labels = Labels.load()
    editing = editing_state(resource)
    if request.method == "POST":
        form = ResourceEditForm(request.POST, request.FILES, labels=labels, files_now=editing["files"])
        if not editing["editable"]:
            messages.error(request, _("资源当前的状态不允许修改。"))
            return redirect("resource-edit", resource_id=resource.pk)
        outcome = save_edit(request, resource, form)
        if outcome == "commitment_required":
            return redirect("commitment-accept")
        if outcome == "done":
            return redirect("resource-edit", resource_id=resource.pk)
    else:
        form = ResourceEditForm(labels=labels, files_now=editing["files"],
                                initial=edit_initial(editing["metadata"], editing["rights"]))
    return render(request, "catalog/edit.html", {
        "form": form, "resource": resource, "current_files": editing["files"], **editing,
    })


def save_edit(request: HttpRequest, resource: Resource, form: ResourceEditForm) -> FormOutcome:
    """Apply a valid edit form to ``resource`` (``resource_update``, ``resource_remove_file``,
    ``resource_add_files``: in place, or into the revision of a published one) and (re)submit it when asked.
    The publisher's and the teacher's edit pages share it; the services check the edit right and the status."""
    if not form.is_valid():
        return "invalid"
    try:
        with transaction.atomic():  # all of the edit or none of it: a refused file keeps the metadata too
            _apply_edit(request, resource, form)
    except ExchangeError as exc:
        show_error(request, exc)
        form.add_service_errors(exc)
        return "invalid"
    published = resource.status == Resource.Status.PUBLISHED
    messages.success(request, _("修改已保存（尚未生效，审核通过后替换线上版本）。") if published
                     else _("修改已保存。"))
    if form.cleaned_data.get("submit_now") and not _submitted(request, resource):
        return "commitment_required"
    return "done"


def _apply_edit(request: HttpRequest, resource: Resource, form: ResourceEditForm) -> None:
    services.resource_update(user=request.user, resource=resource, metadata=form.metadata(), rights=form.rights())
    for file_id in form.cleaned_data["remove_files"]:
        services.resource_remove_file(user=request.user, resource=resource, file_id=file_id)
    uploads = form.cleaned_data["files"]
    if uploads:
        services.resource_add_files(user=request.user, resource=resource, files=[
            services.UploadedFile(stream=f, name=f.name) for f in uploads])


@require_POST
@role_required(Role.PUBLISHER)
def revision_cancel(request: HttpRequest, resource_id: Any) -> HttpResponse:
    """Drop the open revision of a published resource (``revision_cancel``); the live version stays.
    Permission: publisher role + edit right on the resource."""
    resource = resource_for(request, resource_id)
    try:
        revisions.revision_cancel(user=request.user, resource=resource)
        messages.success(request, _("已撤销对《%(title)s》的修改。") % {"title": resource.title})
    except ExchangeError as exc:
        show_error(request, exc)
    return back(request, reverse("publisher-resources"))
