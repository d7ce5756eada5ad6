"""A teacher's own lessons shared as their school (一师一优课, 分享我的课): the list of what they shared with its
review status, the upload form and the edit form. The school administrator's consent decides
(``catalog.permissions.teacher_sharing_refusal``); the pages say why they are refused otherwise. They call the
publisher pages' shared steps (``deposit``, ``save_edit``), hence the same services and the same review: machine
pre-review and a reviewer of the province, for a new lesson and for every edit of a published one. The rights
holder is the school: the forms show it and ignore whatever is posted for it."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from catalog import selectors
from catalog.pages.common import Labels, page_of, resource_for
from catalog.pages.publishing import (
    ResourceEditForm,
    ResourceUploadForm,
    deposit,
    edit_initial,
    editing_state,
    save_edit,
    upload_initial,
)
from catalog.permissions import SharingRefusal, teacher_shares_resource, teacher_sharing_refusal
from catalog.review import selectors as review_selectors

REFUSALS = {
    SharingRefusal.NOT_TEACHER: gettext_lazy("只有教师可以以学校名义分享自己的课。"),
    SharingRefusal.NOT_A_SCHOOL: gettext_lazy("您的账号不属于任何学校，不能以学校名义分享。"),
    SharingRefusal.NO_CONSENT: gettext_lazy(
        "贵校管理员尚未允许教师以学校名义分享自己的课（一师一优课）。开启后，您分享的课以学校的名义发布，"
        "学校对其内容负责，因此须由学校管理员在“资源券与购买”页面阅读内容承诺书并开启。请联系贵校管理员。"),
}


def _holder_fixed(form: forms.Form, school_name: str) -> None:
    """The school is the rights holder of what its teachers share: shown, never taken from the request."""
    form.fields["holder"] = forms.CharField(label=gettext_lazy("权利人"), required=False, disabled=True,
                                            initial=school_name, help_text=gettext_lazy("以学校名义分享，权利人为本校。"))


class LessonUploadForm(ResourceUploadForm):
    def __init__(self, *args: Any, school_name: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _holder_fixed(self, school_name)


class LessonEditForm(ResourceEditForm):
    def __init__(self, *args: Any, school_name: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _holder_fixed(self, school_name)


def _refused(request: HttpRequest) -> HttpResponse | None:
    """The page that says why the teacher may not share now (403), or None when they may."""
    refusal = teacher_sharing_refusal(request.user)
    if refusal is None:
        return None
    return render(request, "catalog/lesson_refused.html", {"reason": REFUSALS[refusal], "code": refusal},
                  status=403)


@login_required
def lesson_list(request: HttpRequest) -> HttpResponse:
    """The lessons the teacher shared as their school, with their review status and the reviewers' reasons
    (``resource_list_shared_by_teacher``). Permission: a teacher whose school consented (``teacher_may_share``);
    anybody else signed in gets the page that says why not (403)."""
    refused = _refused(request)
    if refused is not None:
        return refused
    page = page_of(request, selectors.resource_list_shared_by_teacher(user=request.user).order_by("-updated_at"))
    labels = Labels.load()
    pending = review_selectors.pending_revisions(resource_ids=[r.pk for r in page])
    rows = [{"resource": r, "path": labels.describe(r), "type": labels.term("resource_type", r.resource_type),
             "revision": pending.get(r.pk)} for r in page]
    return render(request, "catalog/lessons.html", {"page_obj": page, "rows": rows,
                                                    "school": request.user.organisation})


@login_required
def lesson_upload(request: HttpRequest) -> HttpResponse:
    """分享我的课: deposit a lesson as the teacher's school (``resource_create``, the publishers' upload checks)
    and submit it for review. Permission: a teacher whose school consented; anybody else signed in gets the page
    that says why not (403), for a POST too, and nothing is stored."""
    refused = _refused(request)
    if refused is not None:
        return refused
    labels = Labels.load()
    school = request.user.organisation
    if request.method == "POST":
        form = LessonUploadForm(request.POST, request.FILES, labels=labels, school_name=school.name)
        outcome = deposit(request, form)
        if outcome != "invalid":
            return redirect("lesson-list")
    else:
        form = LessonUploadForm(labels=labels, school_name=school.name, initial=upload_initial())
    return render(request, "catalog/upload.html", {"form": form, "teacher_space": True, "school": school})


@login_required
def lesson_edit(request: HttpRequest, resource_id: Any) -> HttpResponse:
    """Edit a lesson the teacher shared: a draft or rejected one in place, a published one through a revision
    that goes through review again before the public sees it (``save_edit``); a lesson in review, approved or
    withdrawn (taken down) cannot be edited. Permission: a teacher whose school consented (else the page that
    says why, 403) + ``teacher_shares_resource`` (their own lesson: a colleague's unpublished one is not found,
    a published one refused)."""
    refused = _refused(request)
    if refused is not None:
        return refused
    resource = resource_for(request, resource_id)
    if not teacher_shares_resource(request.user, resource):
        raise PermissionDenied
    labels = Labels.load()
    editing = editing_state(resource)
    school_name = resource.publisher_name
    if request.method == "POST":
        form = LessonEditForm(request.POST, request.FILES, labels=labels, files_now=editing["files"],
                              school_name=school_name)
        if not editing["editable"]:
            messages.error(request, _("资源当前的状态不允许修改。"))
            return redirect("lesson-edit", resource_id=resource.pk)
        if save_edit(request, resource, form) != "invalid":
            return redirect("lesson-edit", resource_id=resource.pk)
    else:
        form = LessonEditForm(labels=labels, files_now=editing["files"], school_name=school_name,
                              initial=edit_initial(editing["metadata"], editing["rights"]))
    return render(request, "catalog/edit.html", {
        "form": form, "resource": resource, "current_files": editing["files"], "teacher_space": True, **editing,
    })

