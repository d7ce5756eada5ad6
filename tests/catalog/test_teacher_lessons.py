"""A teacher's space: 分享我的课 — teachers share their own lessons as their school through the pages.

A teacher whose school's administrator consented (``catalog.permissions.teacher_sharing_refusal``) uploads a
lesson on /me/lessons/new and edits it on /me/lessons/<id>/edit: the school is the publishing organisation and
the rights holder, the upload checks are the publishers', and the lesson goes through the same review (machine
pre-review, then a reviewer of the province; an edit of a published lesson through a revision that is reviewed
again). Everybody else gets the page that says why (403) and nothing is stored. The attacks: a teacher editing a
colleague's draft, a teacher of a non-consenting school posting the form directly, an edit that tries to change
the owning organisation, an edit of a taken-down lesson, bad input in the forms. The school administrator's page
shows the content commitment before consent is switched on, consents only to the version it showed, and says who
switched it and when (audited)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from catalog.models import Resource, ResourceFile, ResourceRevision, SchoolSharingConsent
from catalog.prereview.models import PrereviewRun
from catalog.review.commitment import commitment_current, commitment_publish
from catalog.services import (
    UploadedFile,
    resource_approve,
    resource_create,
    resource_publish,
    resource_reject,
    resource_submit,
)
from catalog.sharing import school_sharing_set
from exchange.models import AuditEvent
from exchange.services import user_create
from licensing.models import SchoolPurchasePolicy
from licensing.services import takedown_file, takedown_uphold
from tests.factories import METADATA, RIGHTS, ResourceFactory, pdf_bytes


def lesson_form(**more: Any) -> dict[str, Any]:
    return {"title": "我的公开课 有理数的加法", "stage": "初中", "subject": "数学", "grade": "七年级", "resource_type": "课件",
            "language": "zh-Hans", "license": "CC-BY-4.0", "audience": "teachers", "price": "0",
            "files": SimpleUploadedFile("lesson.pdf", pdf_bytes("my lesson")), **more}


def edit_form(**more: Any) -> dict[str, Any]:
    return {"title": "我的公开课 有理数的加法（修改）", "stage": "初中", "subject": "数学", "grade": "七年级", "resource_type": "课件",
            "language": "zh-Hans", "license": "CC-BY-4.0", "audience": "teachers", "price": "0", **more}


def signed_in(user, language: str | None = None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    if language:
        client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = language
    return client


@pytest.fixture
def sharing(users, orgs):
    """City school consents (its teacher shares); the rural school has an administrator who consents too (its
    teacher is "a teacher of another school"); the far school never consented. A colleague teaches at city."""
    version = commitment_current().version
    school_sharing_set(actor=users["school_admin"], allowed=True, commitment_version=version)
    rural_admin = user_create(username="rural_admin", password=None, organisation=orgs["rural_school"],
                              roles=["school_admin"])
    school_sharing_set(actor=rural_admin, allowed=True, commitment_version=version)
    colleague = user_create(username="colleague", password=None, organisation=orgs["city_school"], roles=["teacher"])
    return {"colleague": colleague, "rural_admin": rural_admin}


def deposit_as(user, title: str = "同事的课 有理数") -> Resource:
    return resource_create(user=user, metadata={**METADATA, "title": title}, rights={**RIGHTS, "holder": ""},
                           files=[UploadedFile(stream=io.BytesIO(pdf_bytes(title)), name="l.pdf")])


def published_lesson(users, teacher, title: str = "已发布的课 有理数") -> Resource:
    lesson = deposit_as(teacher, title)
    resource_submit(user=teacher, resource=lesson)
    resource_approve(user=users["reviewer"], resource=Resource.objects.get(pk=lesson.pk), note="ok")
    return resource_publish(user=users["reviewer"], resource=Resource.objects.get(pk=lesson.pk))


# --- the flow ------------------------------------------------------------------------------------------------

def test_a_teacher_shares_a_lesson_as_the_school_and_it_goes_through_the_same_review(
        users, orgs, sharing, django_capture_on_commit_callbacks):
    teacher = signed_in(users["teacher"])
    form = teacher.get("/me/lessons/new").content.decode()
    assert "分享我的课" in form and orgs["city_school"].name in form
    with django_capture_on_commit_callbacks(execute=True):
        answer = teacher.post("/me/lessons/new", lesson_form(submit_now="on"))
    assert answer.status_code == 302 and answer["Location"] == "/me/lessons/"
    lesson = Resource.objects.get(title="我的公开课 有理数的加法")
    assert lesson.publisher == orgs["city_school"] and lesson.publisher_name == orgs["city_school"].name
    assert lesson.rights.holder == orgs["city_school"].name and lesson.created_by == users["teacher"]
    assert lesson.status == "submitted"
    assert PrereviewRun.objects.filter(resource=lesson).exists(), "the machine pre-review ran on the submission"
    queue = signed_in(users["reviewer"]).get("/review/").content.decode()
    assert lesson.title in queue
    assert lesson.title in teacher.get("/me/lessons/").content.decode()

    resource_approve(user=users["reviewer"], resource=lesson, note="ok")
    resource_publish(user=users["reviewer"], resource=Resource.objects.get(pk=lesson.pk))
    # an edit of the published lesson is a revision, reviewed again before the public sees it
    with django_capture_on_commit_callbacks(execute=True):
        edited = teacher.post(f"/me/lessons/{lesson.pk}/edit", edit_form(submit_now="on"))
    assert edited.status_code == 302
    live = Resource.objects.get(pk=lesson.pk)
    assert live.title == "我的公开课 有理数的加法" and live.status == "published"
    revision = ResourceRevision.objects.get(resource=lesson)
    assert revision.status == "submitted" and revision.metadata["title"] == "我的公开课 有理数的加法（修改）"
    assert PrereviewRun.objects.filter(resource=lesson).count() == 2, "the revision was pre-reviewed too"


def test_a_rejected_lesson_is_fixed_and_resubmitted_on_the_edit_page(users, sharing):
    lesson = deposit_as(users["teacher"], "退回的课 有理数")
    resource_submit(user=users["teacher"], resource=lesson)
    resource_reject(user=users["reviewer"], resource=Resource.objects.get(pk=lesson.pk), reason="标题不规范",
                    field_notes={"title": "请写明课时"})
    teacher = signed_in(users["teacher"])
    page = teacher.get(f"/me/lessons/{lesson.pk}/edit").content.decode()
    assert "标题不规范" in page and "请写明课时" in page and 'id="edit-form"' in page
    assert teacher.post(f"/me/lessons/{lesson.pk}/edit", edit_form(submit_now="on")).status_code == 302
    lesson.refresh_from_db()
    assert lesson.status == "submitted" and lesson.title == "我的公开课 有理数的加法（修改）"


# --- refusals, in Chinese and English -------------------------------------------------------------------------

@pytest.mark.parametrize(("actor", "code", "zh", "en"), [
    ("far_teacher", "no_consent", "贵校管理员尚未允许", "has not allowed"),
    ("publisher", "not_teacher", "只有教师可以", "Only teachers"),
    ("school_admin", "not_teacher", "只有教师可以", "Only teachers"),
    ("reviewer", "not_teacher", "只有教师可以", "Only teachers"),
])
def test_the_pages_say_why_sharing_is_refused(users, sharing, actor, code, zh, en):
    for path in ("/me/lessons/", "/me/lessons/new"):
        chinese = signed_in(users[actor]).get(path)
        assert chinese.status_code == 403
        assert f'data-reason="{code}"' in chinese.content.decode() and zh in chinese.content.decode()
        english = signed_in(users[actor], language="en").get(path)
        assert english.status_code == 403 and en in english.content.decode()


def test_the_anonymous_are_sent_to_sign_in(sharing):
    for path in ("/me/lessons/", "/me/lessons/new"):
        answer = Client().get(path)
        assert answer.status_code == 302 and "login" in answer["Location"]


def test_a_teacher_of_a_non_consenting_school_posting_the_form_directly_stores_nothing(users, sharing):
    before = (Resource.objects.count(), ResourceFile.objects.count())
    answer = signed_in(users["far_teacher"]).post("/me/lessons/new", lesson_form(submit_now="on"))
    assert answer.status_code == 403 and 'data-reason="no_consent"' in answer.content.decode()
    assert (Resource.objects.count(), ResourceFile.objects.count()) == before


def test_consent_withdrawn_stops_the_teacher_editing_their_own_draft(users, sharing):
    lesson = deposit_as(users["teacher"], "我的草稿 有理数")
    school_sharing_set(actor=users["school_admin"], allowed=False)
    teacher = signed_in(users["teacher"])
    assert teacher.get(f"/me/lessons/{lesson.pk}/edit").status_code == 403
    assert teacher.post(f"/me/lessons/{lesson.pk}/edit", edit_form()).status_code == 403
    assert Resource.objects.get(pk=lesson.pk).title == "我的草稿 有理数"


# --- the attacks --------------------------------------------------------------------------------------------

def test_a_teacher_cannot_edit_a_colleagues_draft_or_published_lesson(users, sharing):
    colleague = sharing["colleague"]
    draft = deposit_as(colleague, "同事的草稿 有理数")
    published = published_lesson(users, colleague, "同事已发布的课 有理数")
    teacher = signed_in(users["teacher"])
    # the draft does not exist for them (the answer a missing resource gets); the published one is refused
    assert teacher.get(f"/me/lessons/{draft.pk}/edit").status_code == 404
    assert teacher.post(f"/me/lessons/{draft.pk}/edit", edit_form()).status_code == 404
    assert teacher.get(f"/me/lessons/{published.pk}/edit").status_code == 403
    assert teacher.post(f"/me/lessons/{published.pk}/edit", edit_form()).status_code == 403
    # nor through the publishers' edit page, nor from another (consenting) school
    assert teacher.post(f"/publish/{draft.pk}/edit", edit_form()).status_code == 403
    assert signed_in(users["rural_teacher"]).post(f"/me/lessons/{draft.pk}/edit", edit_form()).status_code == 404
    assert Resource.objects.get(pk=draft.pk).title == "同事的草稿 有理数"
    assert Resource.objects.get(pk=published.pk).title == "同事已发布的课 有理数"
    assert not ResourceRevision.objects.filter(resource=published).exists()
    assert draft.title not in teacher.get("/me/lessons/").content.decode()


def test_an_edit_cannot_change_the_owning_organisation_or_the_rights_holder(users, orgs, sharing, api_as):
    lesson = deposit_as(users["teacher"], "我的课 有理数")
    teacher = signed_in(users["teacher"])
    answer = teacher.post(f"/me/lessons/{lesson.pk}/edit", edit_form(
        publisher=str(orgs["publisher"].pk), publisher_name="本省出版社", holder="别人", organisation="1",
        created_by=str(users["publisher"].pk), province="110000"))
    assert answer.status_code == 302
    lesson = Resource.objects.get(pk=lesson.pk)
    assert lesson.title == "我的公开课 有理数的加法（修改）", "the rest of the edit took effect"
    assert (lesson.publisher_id, lesson.publisher_name, lesson.created_by_id) == (
        orgs["city_school"].pk, orgs["city_school"].name, users["teacher"].pk)
    assert lesson.rights.holder == orgs["city_school"].name
    # the same at the upload: the school holds the rights of what its teachers share
    teacher.post("/me/lessons/new", lesson_form(holder="别人", publisher=str(orgs["publisher"].pk)))
    uploaded = Resource.objects.get(title="我的公开课 有理数的加法")
    assert uploaded.publisher == orgs["city_school"] and uploaded.rights.holder == orgs["city_school"].name
    # and through the API the owner fields are refused outright
    refused = api_as(users["teacher"]).patch(f"/api/v1/resources/{lesson.pk}",
                                             {"metadata": {"publisher_name": "本省出版社"}}, format="json")
    assert refused.status_code in (400, 403)
    assert Resource.objects.get(pk=lesson.pk).publisher_name == orgs["city_school"].name


def test_a_taken_down_lesson_cannot_be_edited(users, sharing):
    lesson = published_lesson(users, users["teacher"], "被下架的课 有理数")
    notice = takedown_file(user=users["province_admin"], resource=lesson, grounds="copyright", statement="侵权")
    takedown_uphold(user=users["reviewer"], notice=notice, note="属实")
    assert Resource.objects.get(pk=lesson.pk).status == "withdrawn"
    teacher = signed_in(users["teacher"])
    page = teacher.get(f"/me/lessons/{lesson.pk}/edit").content.decode()
    assert 'id="edit-form"' not in page and "资源当前的状态不允许修改" in page
    teacher.post(f"/me/lessons/{lesson.pk}/edit", edit_form(
        submit_now="on", files=SimpleUploadedFile("again.pdf", pdf_bytes("again"))))
    after = Resource.objects.get(pk=lesson.pk)
    assert (after.status, after.title, after.files.count()) == ("withdrawn", "被下架的课 有理数", 1)
    assert not ResourceRevision.objects.filter(resource=lesson).exists()


# --- the permission matrix of the new pages -------------------------------------------------------------------

ACTORS = ("anonymous", "sharer", "colleague", "teacher_other_school", "teacher_not_consenting", "publisher",
          "reviewer", "school_admin")


def _actor(users, sharing, name: str):
    return {"anonymous": None, "sharer": users["teacher"], "colleague": sharing["colleague"],
            "teacher_other_school": users["rural_teacher"], "teacher_not_consenting": users["far_teacher"],
            "publisher": users["publisher"], "reviewer": users["reviewer"],
            "school_admin": users["school_admin"]}[name]


# expected per actor: an HTTP status, or "login"
MATRIX: dict[tuple[str, str, str], dict[str, Any]] = {
    ("list", "get", "-"): {"sharer": 200, "colleague": 200, "teacher_other_school": 200},
    ("new", "get", "-"): {"sharer": 200, "colleague": 200, "teacher_other_school": 200},
    ("new", "post", "-"): {"sharer": 302, "colleague": 302, "teacher_other_school": 302},
    ("edit", "get", "sharer's draft"): {"sharer": 200, "colleague": 404, "teacher_other_school": 404},
    ("edit", "post", "sharer's draft"): {"sharer": 302, "colleague": 404, "teacher_other_school": 404},
    ("edit", "get", "sharer's published"): {"sharer": 200, "colleague": 403, "teacher_other_school": 403},
    ("edit", "post", "sharer's published"): {"sharer": 302, "colleague": 403, "teacher_other_school": 403},
    ("edit", "get", "publisher's draft"): {"sharer": 404, "colleague": 404, "teacher_other_school": 404},
    ("edit", "post", "publisher's draft"): {"sharer": 404, "colleague": 404, "teacher_other_school": 404},
}


@pytest.mark.parametrize("actor", ACTORS)
def test_who_may_open_and_post_the_teachers_pages(users, orgs, sharing, actor):
    """Each cell: the status, and whether the resource changed (only the sharer changes their own lesson; only
    consenting teachers create lessons). Everybody else signed in: 403 with the reason, before any lookup."""
    user = _actor(users, sharing, actor)
    objects = {"sharer's draft": deposit_as(users["teacher"], "矩阵草稿 有理数"),
               "sharer's published": published_lesson(users, users["teacher"], "矩阵已发布 有理数"),
               "publisher's draft": ResourceFactory(publisher=orgs["publisher"], status="draft")}
    for (page, method, target), cells in MATRIX.items():
        expected = "login" if user is None else cells.get(actor, 403)
        path = {"list": "/me/lessons/", "new": "/me/lessons/new"}.get(page) or (
            f"/me/lessons/{objects[target].pk}/edit")
        before = Resource.objects.count()
        titles = {key: Resource.objects.get(pk=obj.pk).title for key, obj in objects.items()}
        revisions = ResourceRevision.objects.count()
        client = signed_in(user)
        answer = client.get(path) if method == "get" else client.post(
            path, lesson_form() if page == "new" else edit_form(title=f"{actor} 改过 有理数"))
        cell = f"{actor} {method} {page} {target}"
        if expected == "login":
            assert answer.status_code == 302 and "login" in answer["Location"], cell
        else:
            assert answer.status_code == expected, cell
        created = Resource.objects.count() - before
        changed = {key for key, obj in objects.items() if Resource.objects.get(pk=obj.pk).title != titles[key]}
        revised = ResourceRevision.objects.count() - revisions
        if expected == 302 and page == "new":
            assert created == 1 and not changed, cell
            Resource.objects.filter(created_by=user, title="我的公开课 有理数的加法").delete()
        elif expected == 302 and target == "sharer's draft":
            assert created == 0 and changed == {target}, cell
            Resource.objects.filter(pk=objects[target].pk).update(title=titles[target])
        elif expected == 302:
            assert created == 0 and not changed and revised == 1, cell
            ResourceRevision.objects.filter(resource=objects[target]).delete()
        else:
            assert created == 0 and not changed and revised == 0, cell
            if user is not None and expected == 403:
                body = answer.content.decode()
                assert all(obj.title not in body for obj in objects.values() if obj.status != "published"), cell


# --- bad input in the forms ---------------------------------------------------------------------------------

BAD_UPLOADS: dict[str, dict[str, Any]] = {
    "no file type we take (an executable named .pdf)": {
        "files": SimpleUploadedFile("lesson.pdf", b"MZ\x90\x00" + b"\x00" * 200)},
    "an HTML page named .pdf": {"files": SimpleUploadedFile("lesson.pdf", b"<html><script>alert(1)</script>")},
    "an empty file": {"files": SimpleUploadedFile("lesson.pdf", b"")},
    "a price of 10**30": {"price": str(10**30)},
    "a negative price": {"price": "-1"},
    "a year in the far future": {"year": "99999"},
    "an unknown licence": {"license": "WTFPL"},
    "an unknown stage": {"stage": "幼儿园大班"},
    "a title of 10,000 characters": {"title": "长" * 10_000},
    "NUL in the title": {"title": "有理数\x00课件"},
    "no title": {"title": ""},
    "an embargo in the year 1": {"embargo_until": "0001-01-01"},
    "a date that is not one": {"term_end": "2026-02-30"},
    "a territory that is not a region": {"territory": ["999999"]},
}


@pytest.mark.parametrize("case", BAD_UPLOADS)
def test_bad_input_in_the_upload_form_stores_nothing(users, sharing, settings, case):
    before = (Resource.objects.count(), ResourceFile.objects.count())
    answer = signed_in(users["teacher"]).post("/me/lessons/new", lesson_form(submit_now="on", **BAD_UPLOADS[case]))
    assert answer.status_code in (200, 400), case  # the form again with the problem on its field, or a 400 page
    body = answer.content.decode()
    assert answer.status_code == 400 or 'class="errorlist"' in body or 'class="message error"' in body, case
    assert (Resource.objects.count(), ResourceFile.objects.count()) == before, case


def test_a_file_over_the_upload_bound_is_refused(users, sharing, settings):
    settings.CATALOG_MAX_UPLOAD_BYTES = 2048
    before = Resource.objects.count()
    big = pdf_bytes("big") + b"%" + b"0" * 4096
    answer = signed_in(users["teacher"]).post("/me/lessons/new",
                                              lesson_form(files=SimpleUploadedFile("big.pdf", big)))
    assert answer.status_code in (200, 400) and Resource.objects.count() == before


BAD_EDITS: dict[str, dict[str, Any]] = {
    "remove a file of another resource": {"remove_files": ["00000000-0000-4000-8000-000000000001"]},
    "a price of 10**30": {"price": str(10**30)},
    "an unknown licence": {"license": "WTFPL"},
    "NUL in the title": {"title": "有理数\x00课件"},
    "an executable added": {"files": SimpleUploadedFile("x.pdf", b"MZ\x90\x00" + b"\x00" * 200)},
}


@pytest.mark.parametrize("case", BAD_EDITS)
@pytest.mark.parametrize("who", ["teacher", "publisher"])
def test_bad_input_in_the_edit_form_changes_nothing(users, orgs, sharing, case, who):
    """All of an edit or none of it, on the teacher's page and the publisher's (they share ``save_edit``): a
    refused file leaves the metadata of the same form unchanged too."""
    if who == "teacher":
        lesson, path = deposit_as(users["teacher"], "我的课 不该变"), "/me/lessons/{}/edit"
    else:
        lesson = resource_create(user=users["publisher"], metadata={**METADATA, "title": "我的课 不该变"}, rights=RIGHTS,
                                 files=[UploadedFile(stream=io.BytesIO(pdf_bytes("p")), name="p.pdf")])
        path = "/publish/{}/edit"
    answer = signed_in(users[who]).post(path.format(lesson.pk), edit_form(**BAD_EDITS[case]))
    assert answer.status_code in (200, 400), case
    after = Resource.objects.get(pk=lesson.pk)
    assert (after.title, after.files.count(), after.version) == ("我的课 不该变", 1, lesson.version), case


# --- the school administrator's page --------------------------------------------------------------------------

def test_the_school_page_shows_the_commitment_before_consent_and_who_switched_it(users, orgs):
    admin = signed_in(users["school_admin"])
    current = commitment_current()
    page = admin.get("/me/school").content.decode()
    assert 'id="sharing-commitment"' in page and current.text_zh.splitlines()[0] in page
    assert f'name="commitment_version" value="{current.version}"' in page and "当前：未开启" in page
    english = signed_in(users["school_admin"], language="en").get("/me/school").content.decode()
    assert current.text_en.splitlines()[0] in english
    admin.post("/me/school/policy", {"teacher_allowance": "", "approval_threshold": "", "teachers_may_share": "on",
                                     "commitment_version": str(current.version)})
    consent = SchoolSharingConsent.objects.get(school=orgs["city_school"])
    assert consent.teachers_may_share and consent.updated_by == users["school_admin"]
    page = admin.get("/me/school").content.decode()
    assert f"当前：已开启（{users['school_admin']} 于" in page
    event = AuditEvent.objects.filter(action="school.sharing_consent").latest("seq")
    assert event.actor_id == str(users["school_admin"].pk) and event.data["teachers_may_share"] is True
    assert event.data["commitment_version"] == current.version
    admin.post("/me/school/policy", {"teacher_allowance": "", "approval_threshold": ""})
    assert "当前：未开启（" in admin.get("/me/school").content.decode()
    assert AuditEvent.objects.filter(action="school.sharing_consent").count() == 2


def test_consent_to_a_commitment_the_page_did_not_show_is_refused(users, orgs):
    """The administrator read version 1; a hub operator publishes version 2 meanwhile: the consent posted for
    version 1 does not accept version 2 unread. Nothing is switched on; the page says the text changed."""
    admin = signed_in(users["school_admin"])
    shown = commitment_current().version
    admin.get("/me/school")
    commitment_publish(user=users["hub_operator"], text_zh="新版承诺书", text_en="New commitment")
    answer = admin.post("/me/school/policy", {"teacher_allowance": "", "approval_threshold": "",
                                              "teachers_may_share": "on", "commitment_version": str(shown)},
                        follow=True)
    assert not SchoolSharingConsent.objects.filter(school=orgs["city_school"], teachers_may_share=True).exists()
    assert "新版承诺书" in answer.content.decode()
    missing = admin.post("/me/school/policy", {"teacher_allowance": "", "approval_threshold": "",
                                               "teachers_may_share": "on"})
    assert missing.status_code == 302
    assert not SchoolSharingConsent.objects.filter(school=orgs["city_school"], teachers_may_share=True).exists()
    # the same form's purchase rules are not saved either when its consent is refused: one form, one decision
    rules_before = list(SchoolPurchasePolicy.objects.filter(school=orgs["city_school"]).values_list(
        "teacher_allowance", "approval_threshold"))
    admin.post("/me/school/policy", {"teacher_allowance": "77", "approval_threshold": "9",
                                     "teachers_may_share": "on", "commitment_version": str(shown)})
    assert not SchoolSharingConsent.objects.filter(school=orgs["city_school"], teachers_may_share=True).exists()
    assert list(SchoolPurchasePolicy.objects.filter(school=orgs["city_school"]).values_list(
        "teacher_allowance", "approval_threshold")) == rules_before


@pytest.mark.parametrize("version", ["abc", "-1", "0", str(10**30), "1.5", "1\x00", "999"])
def test_bad_commitment_versions_in_the_school_form_switch_nothing_on(users, orgs, version):
    before = AuditEvent.objects.filter(action="school.sharing_consent").count()
    answer = signed_in(users["school_admin"]).post("/me/school/policy", {
        "teacher_allowance": "", "approval_threshold": "", "teachers_may_share": "on", "commitment_version": version})
    assert answer.status_code in (302, 400)
    assert not SchoolSharingConsent.objects.filter(school=orgs["city_school"], teachers_may_share=True).exists()
    assert AuditEvent.objects.filter(action="school.sharing_consent").count() == before


def test_the_resource_page_sends_the_teacher_to_their_own_edit_page(users, sharing):
    """The management card of a teacher's own lesson links the teacher's edit page, not the publishers' pages
    (which refuse a teacher): no form there posts to /publish/…."""
    lesson = deposit_as(users["teacher"], "我的草稿 资源页")
    page = signed_in(users["teacher"]).get(f"/resources/{lesson.pk}").content.decode()
    assert f'href="/me/lessons/{lesson.pk}/edit"' in page
    assert f"/publish/{lesson.pk}/" not in page


# --- the same through the API ------------------------------------------------------------------------------

def test_a_teacher_edits_their_own_lesson_through_the_api_as_on_the_pages(users, orgs, sharing, api_as):
    """PATCH, add and remove files: in place while a draft, through a revision reviewed again once published —
    the same services and the same right (``can_edit``) as the edit page."""
    api = api_as(users["teacher"])
    lesson = deposit_as(users["teacher"], "接口编辑的课 有理数")
    changed = api.patch(f"/api/v1/resources/{lesson.pk}", {"metadata": {"description": "更新的说明"}}, format="json")
    assert changed.status_code == 200, changed.content
    assert Resource.objects.get(pk=lesson.pk).description == "更新的说明"
    added = api.post(f"/api/v1/resources/{lesson.pk}/files",
                     {"files": [SimpleUploadedFile("extra.pdf", pdf_bytes("extra page"))]}, format="multipart")
    assert added.status_code == 201, added.content
    first = ResourceFile.objects.filter(resource=lesson).order_by("position").first()
    assert api.delete(f"/api/v1/resources/{lesson.pk}/files/{first.pk}").status_code == 200
    assert ResourceFile.objects.filter(resource=lesson).count() == 1

    published = published_lesson(users, users["teacher"], "接口编辑的已发布课 有理数")
    revision = api.patch(f"/api/v1/resources/{published.pk}", {"metadata": {"title": "接口改过的课 有理数"}},
                         format="json")
    assert revision.status_code == 202, revision.content
    assert Resource.objects.get(pk=published.pk).title == "接口编辑的已发布课 有理数", "live only once approved"
    assert ResourceRevision.objects.get(resource=published).metadata["title"] == "接口改过的课 有理数"


def test_through_the_api_only_the_teacher_who_shared_it_edits_and_only_while_consent_stands(
        users, orgs, sharing, api_as):
    lesson = deposit_as(users["teacher"], "别人的课 有理数")
    published = published_lesson(users, users["teacher"], "别人已发布的课 有理数")
    body = {"metadata": {"description": "篡改"}}
    colleague = api_as(sharing["colleague"])
    assert colleague.patch(f"/api/v1/resources/{lesson.pk}", body, format="json").status_code == 404
    assert colleague.patch(f"/api/v1/resources/{published.pk}", body, format="json").status_code == 403
    assert colleague.post(f"/api/v1/resources/{published.pk}/files",
                          {"files": [SimpleUploadedFile("x.pdf", pdf_bytes("x"))]},
                          format="multipart").status_code == 403
    school_sharing_set(actor=users["school_admin"], allowed=False, commitment_version=commitment_current().version)
    own = api_as(users["teacher"]).patch(f"/api/v1/resources/{lesson.pk}", body, format="json")
    assert own.status_code in (403, 404), own.content
    assert Resource.objects.get(pk=lesson.pk).description != "篡改"
    assert not ResourceRevision.objects.filter(resource=published).exists()


def test_the_school_stays_the_rights_holder_whichever_way_a_teacher_writes(users, orgs, sharing, api_as):
    """The pages show the holder fixed; the API refuses another holder at the deposit and at an edit, in place
    or through a revision (the rule is the service's: ``holder_of_a_teachers_lesson_check``)."""
    api = api_as(users["teacher"])
    school = orgs["city_school"].name
    deposit = api.post("/api/v1/resources", {
        "metadata": json_text({**METADATA, "title": "换了权利人的课 有理数"}),
        "rights": json_text({**RIGHTS, "holder": "别的出版社"}),
        "files": [SimpleUploadedFile("l.pdf", pdf_bytes("holder"))]}, format="multipart")
    assert deposit.status_code == 400 and deposit.json()["error"]["code"] == "rights_invalid", deposit.content
    assert not Resource.objects.filter(title="换了权利人的课 有理数").exists()
    named = api.post("/api/v1/resources", {
        "metadata": json_text({**METADATA, "title": "写明学校的课 有理数"}), "rights": json_text({**RIGHTS, "holder": school}),
        "files": [SimpleUploadedFile("l.pdf", pdf_bytes("school holder"))]}, format="multipart")
    assert named.status_code == 201, named.content

    lesson = deposit_as(users["teacher"], "草稿 有理数")
    published = published_lesson(users, users["teacher"], "已发布 有理数")
    for target in (lesson, published):
        answer = api.patch(f"/api/v1/resources/{target.pk}", {"rights": {"holder": "别的出版社"}}, format="json")
        assert answer.status_code == 400 and answer.json()["error"]["details"]["holder"], answer.content
        assert Resource.objects.get(pk=target.pk).rights.holder == school
    assert not ResourceRevision.objects.filter(resource=published).exists()
    # a publisher of the school still names whoever holds the rights of what it publishes
    school_publisher = user_create(username="school_publisher", password=None, organisation=orgs["city_school"],
                                   roles=["publisher"])
    own = resource_create(user=school_publisher, metadata={**METADATA, "title": "学校出版的课 有理数"},
                          rights={**RIGHTS, "holder": "合作出版社"})
    assert own.rights.holder == "合作出版社"


def json_text(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)
