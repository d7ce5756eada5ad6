"""The review pages without a browser: the publisher's edit form with the reviewer's notes beside the
fields and the status of every pending change, the reviewer's form with the seven dimensions and notes
per field, the commitment, the province's due list and two-person rule, and the history."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from catalog.models import CommitmentAcceptance, ContentCommitment, Resource, ResourceRevision, ReviewPolicy
from catalog.review.decisions import DIMENSION_CODES
from exchange.models import Organisation
from exchange.roles import Role
from exchange.services import organisation_create, user_create
from tests.factories import ResourceFactory

pytestmark = pytest.mark.django_db
ALL_PASS = {f"dim_{code}": "pass" for code in DIMENSION_CODES}
EDIT = {"title": "人教版七年级数学上册 有理数 教学课件（修订）", "stage": "初中", "subject": "数学", "grade": "七年级",
        "edition": "人教版", "volume": "上册", "resource_type": "课件", "language": "zh-Hans", "license": "CC-BY-4.0",
        "audience": "teachers", "price": "0", "holder": "本省出版社", "year": "2024"}


def test_a_published_resource_is_edited_through_a_revision_and_reasons_show_beside_the_fields(
        users, catalog, client_as):
    resource = catalog.open_maths
    publisher, reviewer = client_as(users["publisher"]), client_as(users["reviewer"])
    form = publisher.get(reverse("resource-edit", args=[resource.pk])).content.decode()
    assert "审核通过后才替换线上版本" in form and resource.title in form
    saved = publisher.post(reverse("resource-edit", args=[resource.pk]), EDIT | {"submit_now": "on"}, follow=True)
    assert "已提交审核" in saved.content.decode()
    resource.refresh_from_db()
    assert resource.title == "人教版七年级数学上册 有理数 教学课件"  # the live version is untouched
    listing = publisher.get(reverse("publisher-resources")).content.decode()
    assert re.search(r"修订 1：待审核", listing)

    detail = reviewer.get(reverse("review-detail", args=[resource.pk])).content.decode()
    assert 'id="revision-diff"' in detail and "教学课件（修订）" in detail and 'name="note_title"' in detail
    reviewer.post(reverse("review-reject", args=[resource.pk]), {
        "reason": "标题不必加“修订”", "reason_code": "metadata", "note_title": "请去掉括号里的“修订”",
        "dim_conformity": "fail", "dimcomment_conformity": "标题不规范"})
    revision = ResourceRevision.objects.get(resource=resource)
    assert revision.status == "rejected"

    form = publisher.get(reverse("resource-edit", args=[resource.pk])).content.decode()
    note = re.search(r'<p class="review-note" id="id_title_review">([^<]*)</p>', form)
    assert note and "请去掉括号里的“修订”" in note.group(1)
    assert "标题不必加“修订”" in form and "规范性" in form and "标题不规范" in form
    listing = publisher.get(reverse("publisher-resources")).content.decode()
    assert "修订 1：已退回" in listing and "标题不必加“修订”" in listing

    publisher.post(reverse("resource-edit", args=[resource.pk]),
                   EDIT | {"title": "人教版七年级数学上册 有理数 教学课件（第二版）", "submit_now": "on"})
    reviewer.post(reverse("review-approve", args=[resource.pk]), {"note": "可以", **ALL_PASS})
    resource.refresh_from_db()
    assert resource.title == "人教版七年级数学上册 有理数 教学课件（第二版）"
    history = client_as(None).get(reverse("resource-history", args=[resource.pk])).content.decode()
    assert "（第二版）" in history and "标题不必加" not in history  # decisions are not for the public
    inside = publisher.get(reverse("resource-history", args=[resource.pk])).content.decode()
    assert "标题不必加“修订”" in inside


def test_a_draft_is_edited_in_place_with_files_removed_and_added(users, orgs, client_as, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.factories import pdf_bytes

    draft = ResourceFactory(publisher=orgs["publisher"], status=Resource.Status.DRAFT, title="草稿 有理数 课件")
    old = draft.files.get()
    client = client_as(users["publisher"])
    client.post(reverse("resource-edit", args=[draft.pk]), EDIT | {
        "remove_files": [str(old.pk)], "files": SimpleUploadedFile("新.pdf", pdf_bytes("新"))})
    draft.refresh_from_db()
    assert draft.title == EDIT["title"] and [f.original_name for f in draft.files.all()] == ["新.pdf"]
    assert not ResourceRevision.objects.exists()


def test_only_the_publisher_edits(users, catalog, client_as):
    assert client_as(users["other_publisher"]).get(reverse("resource-edit",
                                                           args=[catalog.open_maths.pk])).status_code == 403
    assert client_as(users["teacher"]).get(reverse("resource-edit", args=[catalog.open_maths.pk])).status_code == 403


def test_a_first_submission_asks_for_the_commitment(users, province, client_as):
    org = organisation_create(name="新出版社", kind=Organisation.Kind.PUBLISHER, region=province)
    newbie = user_create(username="newbie", password="x-pass-newbie", organisation=org, roles=[Role.PUBLISHER])
    draft = ResourceFactory(publisher=org, status=Resource.Status.DRAFT)
    client = client_as(newbie)
    refused = client.post(reverse("resource-submit", args=[draft.pk]), follow=True)
    assert refused.redirect_chain[-1][0] == reverse("commitment-accept")
    page = refused.content.decode()
    assert "首次提交前" in page and "谁提供谁负责" in page
    client.post(reverse("commitment-accept"), {"version": "1"})
    assert CommitmentAcceptance.objects.get(organisation=org).accepted_by == newbie
    client.post(reverse("resource-submit", args=[draft.pk]))
    draft.refresh_from_db()
    assert draft.status == Resource.Status.SUBMITTED
    english = client_as(newbie, language="en").get(reverse("commitment-accept")).content.decode()
    assert "As a provider of digital education resources" in english  # the English text of the commitment
    assert "Your organisation accepted version 1 (newbie," in english


def test_the_reviewer_sees_the_commitment_and_findings_beside_the_submission(users, catalog, client_as, settings):
    settings.CATALOG_REVIEW_FINDINGS = "tests.catalog.test_review_rules.findings_of"
    page = client_as(users["reviewer"]).get(reverse("review-detail", args=[catalog.submitted.pk])).content.decode()
    assert "发布机构已接受第 1 版" in page
    assert "敏感词" in page and "必须处理" in page


def test_the_province_sees_what_is_due_and_its_administrator_sets_the_two_person_rule(users, catalog, client_as):
    Resource.objects.filter(pk=catalog.open_maths.pk).update(review_by=timezone.localdate() + dt.timedelta(days=3))
    for who in ("reviewer", "province_admin"):
        due = client_as(users[who]).get(reverse("review-due")).content.decode()
        assert catalog.open_maths.title in due and catalog.priced_physics.title not in due, who
    assert client_as(users["teacher"]).get(reverse("review-due")).status_code == 403
    reviewer = client_as(users["reviewer"])
    reviewer.post(reverse("review-rereview", args=[catalog.open_maths.pk]), {"note": "仍然适用", **ALL_PASS})
    catalog.open_maths.refresh_from_db()
    assert catalog.open_maths.review_by > timezone.localdate() + dt.timedelta(days=300)

    admin = client_as(users["province_admin"])
    assert "双人审核：未开启" in admin.get(reverse("review-policy")).content.decode()
    admin.post(reverse("review-policy"), {"two_person_rule": "on"})
    assert ReviewPolicy.objects.get().two_person_rule is True
    reviewer.post(reverse("review-policy"), {})  # reviewers see it, do not change it
    assert ReviewPolicy.objects.get().two_person_rule is True
    assert "双人审核：已开启" in reviewer.get(reverse("review-policy")).content.decode()

    first = reviewer.post(reverse("review-approve", args=[catalog.submitted.pk]), ALL_PASS, follow=True)
    assert "等待另一位审核员确认" in first.content.decode()
    again = reviewer.get(reverse("review-detail", args=[catalog.submitted.pk])).content.decode()
    assert "您已批准过" in again and "已批准 1/2" in again


def test_hub_operators_publish_a_new_commitment(users, client_as):
    assert client_as(users["publisher"]).get(reverse("commitment-edit")).status_code == 403
    operator = client_as(users["hub_operator"])
    assert "谁提供谁负责" in operator.get(reverse("commitment-edit")).content.decode()
    operator.post(reverse("commitment-edit"), {"text_zh": "第二版承诺书", "text_en": "Commitment, second version"})
    assert ContentCommitment.objects.order_by("-version").first().text_zh == "第二版承诺书"


def test_the_files_of_a_published_resource_are_replaced_through_its_revision(users, catalog, client_as):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.factories import pdf_bytes

    resource = catalog.open_maths
    live_file = resource.files.get()
    client = client_as(users["publisher"])
    client.post(reverse("resource-edit", args=[resource.pk]), EDIT | {
        "title": resource.title, "files": SimpleUploadedFile("新版.pdf", pdf_bytes("新版"))})
    form = client.get(reverse("resource-edit", args=[resource.pk])).content.decode()
    assert f'value="{live_file.pk}"' in form and "新版.pdf" in form  # both offered for removal, by live id
    client.post(reverse("resource-edit", args=[resource.pk]), EDIT | {
        "title": resource.title, "remove_files": [str(live_file.pk)], "submit_now": "on"})
    revision = ResourceRevision.objects.get(resource=resource)
    assert [f.original_name for f in revision.files.all()] == ["新版.pdf"] and revision.status == "submitted"
    assert [f.pk for f in resource.files.all()] == [live_file.pk]  # live until approved
    client_as(users["reviewer"]).post(reverse("review-approve", args=[resource.pk]), ALL_PASS)
    assert [f.original_name for f in resource.files.all()] == ["新版.pdf"]
