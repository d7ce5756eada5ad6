"""The machine pre-review of submissions: negative-list terms in metadata and files, copyright conflicts
(same bytes, near-identical text, another rights holder), metadata completeness and consistency, active
content; findings shown to reviewers with stable codes; hard findings block approval."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from catalog.models import PrereviewRun, Resource
from catalog.prereview import prereview_approval_check, prereview_content, prereview_findings
from catalog.prereview.checks import PrereviewContext
from catalog.prereview.content import FileRef, PrereviewContent
from catalog.prereview.extraction import DOCX
from catalog.prereview.jobs import prereview_on_submission
from catalog.prereview.lists import ListEntry, NegativeList
from catalog.prereview.services import negative_term_create, prereview_resource
from tests.catalog import prereview_files as made
from tests.factories import METADATA, RIGHTS, ResourceFactory, store_file

pytestmark = pytest.mark.django_db

LONG_TEXT = ("有理数是整数与分数的统称。正整数、零、负整数统称整数；正分数、负分数统称分数。"
             "数轴是规定了原点、正方向和单位长度的直线，任何一个有理数都可以用数轴上的一个点来表示。"
             "只有符号不同的两个数叫做互为相反数，零的相反数是零。一个数在数轴上所对应的点与原点的距离"
             "叫做该数的绝对值。正数的绝对值是它本身，负数的绝对值是它的相反数，零的绝对值是零。"
             "两个负数比较大小，绝对值大的反而小。有理数加法法则：同号两数相加，取相同的符号，并把绝对值相加。")


def deposit(api_as, user, files: list[tuple[str, bytes]], *, metadata=None, rights=None) -> str:
    response = api_as(user).post("/api/v1/resources", {
        "metadata": json.dumps(metadata or METADATA), "rights": json.dumps(rights or RIGHTS),
        "files": [SimpleUploadedFile(name, body) for name, body in files]}, format="multipart")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def submitted(api_as, user, files, **kwargs) -> str:
    resource_id = deposit(api_as, user, files, **kwargs)
    assert api_as(user).post(f"/api/v1/resources/{resource_id}/submit").status_code == 200
    prereview_on_submission(resource_id, None)  # what CATALOG_SUBMISSION_HOOKS calls after the commit
    return resource_id


def findings_of(api_as, reviewer, resource_id) -> list[dict]:
    response = api_as(reviewer).get(f"/api/v1/resources/{resource_id}/prereview")
    assert response.status_code == 200, response.json()
    return response.json()["findings"]


def codes(findings, severity=None) -> set[str]:
    return {f["code"] for f in findings if severity is None or f["severity"] == severity}


def approve(api_as, reviewer, resource_id):
    return api_as(reviewer).post(f"/api/v1/resources/{resource_id}/approve", {}, format="json")


@pytest.fixture
def listed(users):
    """A local negative-list entry (hard) added by the province administrator."""
    return negative_term_create(actor=users["province_admin"], scope="local", term="违禁词", category="other",
                                severity="hard")


def test_planted_term_in_a_file_is_found_and_blocks_approval(api_as, users, listed):
    resource_id = submitted(api_as, users["publisher"], [("讲义.pdf", made.pdf("第一章", "附：違 禁\u200b詞。"))])
    findings = findings_of(api_as, users["reviewer"], resource_id)
    [term] = [f for f in findings if f["code"] == "negative_term"]
    assert term["severity"] == "hard" and term["field"] == "file:讲义.pdf"
    assert term["detail"]["entry"] == str(listed.pk) and term["detail"]["term"] == "违禁词"
    assert "違 禁" in term["detail"]["snippet"] and "违禁词" in term["message"]
    response = approve(api_as, users["reviewer"], resource_id)
    assert response.status_code == 422
    problems = response.json()["error"]["details"]["problems"]
    assert [p["code"] for p in problems if p.get("check") == "prereview"] == ["negative_term"]
    assert Resource.objects.get(pk=resource_id).status == Resource.Status.SUBMITTED


def test_terms_in_title_description_and_keywords(api_as, users, listed):
    metadata = METADATA | {"title": "有理数 ＷＥＩ 课件", "description": "含違禁詞的简介", "keywords": ["有理数", "违-禁-词"]}
    resource_id = submitted(api_as, users["publisher"], [("a.pdf", made.pdf("正文"))], metadata=metadata)
    fields = {f["field"] for f in findings_of(api_as, users["reviewer"], resource_id) if f["code"] == "negative_term"}
    assert fields == {"description", "keywords"}


def test_soft_entry_informs_but_does_not_block(api_as, users):
    negative_term_create(actor=users["province_admin"], scope="local", term="广告", severity="soft",
                         category="commercial")
    resource_id = submitted(api_as, users["publisher"], [("a.pdf", made.pdf("本讲义含广告位"))])
    assert codes(findings_of(api_as, users["reviewer"], resource_id), "soft") >= {"negative_term"}
    assert approve(api_as, users["reviewer"], resource_id).status_code == 200


def test_clean_submission_is_approved(api_as, users, listed):
    resource_id = submitted(api_as, users["publisher"], [("a.docx", made.docx("有理数的概念与分类"))])
    assert codes(findings_of(api_as, users["reviewer"], resource_id), "hard") == set()
    assert approve(api_as, users["reviewer"], resource_id).status_code == 200


def test_findings_are_for_the_province_reviewers_only(api_as, users, listed):
    resource_id = submitted(api_as, users["publisher"], [("a.pdf", made.pdf("正文"))])
    assert api_as(users["publisher"]).get(f"/api/v1/resources/{resource_id}/prereview").status_code == 403
    assert api_as(users["teacher"]).get(f"/api/v1/resources/{resource_id}/prereview").status_code == 403
    assert api_as(users["other_reviewer"]).get(f"/api/v1/resources/{resource_id}/prereview").status_code == 404


def test_a_new_list_version_makes_the_run_stale_and_approval_runs_it_again(api_as, users):
    resource_id = submitted(api_as, users["publisher"], [("a.pdf", made.pdf("这里有新禁语"))])
    assert codes(findings_of(api_as, users["reviewer"], resource_id), "hard") == set()
    negative_term_create(actor=users["province_admin"], scope="local", term="新禁语")
    answer = api_as(users["reviewer"]).get(f"/api/v1/resources/{resource_id}/prereview").json()
    assert answer["status"]["current"] is False
    response = approve(api_as, users["reviewer"], resource_id)
    assert response.status_code == 422
    assert "negative_term" in {p["code"] for p in response.json()["error"]["details"]["problems"]}


def test_macro_enabled_document_blocks_approval(api_as, users):
    body = made.with_macro(made.docx("宏"), folder="word")
    resource_id = submitted(api_as, users["publisher"], [("a.docx", body)])
    assert "office_macro" in codes(findings_of(api_as, users["reviewer"], resource_id), "hard")
    assert approve(api_as, users["reviewer"], resource_id).status_code == 422


def test_pdf_javascript_blocks_approval(api_as, users):
    resource_id = submitted(api_as, users["publisher"], [("a.pdf", made.pdf_with_javascript())])
    assert {"pdf_javascript", "pdf_auto_action"} <= codes(findings_of(api_as, users["reviewer"], resource_id))
    assert approve(api_as, users["reviewer"], resource_id).status_code == 422


# --- copyright conflicts ------------------------------------------------------------------------------------

def published_elsewhere(orgs, name: str, body: bytes, **kwargs) -> Resource:
    """A published resource of the other publisher (rights holder 另一出版社) holding ``body``."""
    resource = ResourceFactory(publisher=orgs["other_publisher"], with_file=False, **kwargs)
    store_file(resource, name, body, mime=DOCX if name.endswith(".docx") else "application/pdf")
    prereview_resource(resource_id=resource.pk, trigger="manual")  # its text and fingerprint are kept
    return resource


def test_same_bytes_under_another_holder_is_a_conflict(api_as, users, orgs):
    body = made.pdf("原创讲义：有理数")
    other = published_elsewhere(orgs, "原版.pdf", body)
    resource_id = submitted(api_as, users["publisher"], [("讲义.pdf", body)])
    [conflict] = [f for f in findings_of(api_as, users["reviewer"], resource_id)
                  if f["code"] == "copyright_conflict_file"]
    assert conflict["severity"] == "hard" and conflict["detail"]["other_resource"] == str(other.pk)
    assert conflict["detail"]["other_holder"] == "另一出版社" and conflict["detail"]["holder"] == "本省出版社"
    assert approve(api_as, users["reviewer"], resource_id).status_code == 422


def test_same_bytes_under_the_same_holder_is_no_conflict(api_as, users, orgs):
    body = made.pdf("合作讲义")
    published_elsewhere(orgs, "原版.pdf", body)
    resource_id = submitted(api_as, users["publisher"], [("讲义.pdf", body)],
                            rights=RIGHTS | {"holder": "另一出版社", "attribution": "© 2024 另一出版社"})
    assert "copyright_conflict_file" not in codes(findings_of(api_as, users["reviewer"], resource_id))


def test_declared_source_turns_the_conflict_soft(api_as, users, orgs):
    body = made.pdf("改编自原作")
    other = published_elsewhere(orgs, "原版.pdf", body)
    resource_id = submitted(api_as, users["publisher"], [("讲义.pdf", body)],
                            rights=RIGHTS | {"derived_from": str(other.pk)})
    [conflict] = [f for f in findings_of(api_as, users["reviewer"], resource_id)
                  if f["code"] == "copyright_conflict_file"]
    assert conflict["severity"] == "soft"


def test_near_identical_text_under_another_holder_is_a_conflict(api_as, users, orgs):
    other = published_elsewhere(orgs, "原版.docx", made.docx(LONG_TEXT, LONG_TEXT))
    edited = (LONG_TEXT.replace("数轴", "数线", 1).replace("绝对值大的反而小", "绝对值大的那个反而较小"))
    resource_id = submitted(api_as, users["publisher"], [("改写.docx", made.docx(edited, LONG_TEXT))])
    [conflict] = [f for f in findings_of(api_as, users["reviewer"], resource_id)
                  if f["code"] == "copyright_conflict_text"]
    assert conflict["severity"] == "hard" and conflict["detail"]["other_resource"] == str(other.pk)
    assert 0.8 <= conflict["detail"]["similarity"] <= 1.0


def test_different_text_is_no_conflict(api_as, users, orgs):
    published_elsewhere(orgs, "原版.docx", made.docx(LONG_TEXT, LONG_TEXT))
    other_text = "光合作用是绿色植物利用光能，把二氧化碳和水合成有机物并释放氧气的过程。" * 10
    resource_id = submitted(api_as, users["publisher"], [("生物.docx", made.docx(other_text))])
    assert not codes(findings_of(api_as, users["reviewer"], resource_id)) & {"copyright_conflict_text",
                                                                            "copyright_conflict_file"}


def test_near_identical_text_of_the_same_publisher_is_no_conflict(api_as, users, orgs):
    mine = ResourceFactory(publisher=orgs["publisher"], with_file=False)
    store_file(mine, "旧版.docx", made.docx(LONG_TEXT, LONG_TEXT), mime=DOCX)
    prereview_resource(resource_id=mine.pk, trigger="manual")
    resource_id = submitted(api_as, users["publisher"], [("新版.docx", made.docx(LONG_TEXT + "补充练习。", LONG_TEXT))])
    assert "copyright_conflict_text" not in codes(findings_of(api_as, users["reviewer"], resource_id))


# --- metadata ---------------------------------------------------------------------------------------------------

def test_metadata_obligations_and_consistency(api_as, users):
    metadata = {"title": "有理数 课件", "stage": "初中", "subject": "数学", "grade": "高一", "edition": "人教版",
                "volume": "必修1 分子与细胞", "section": "1.2 有理数", "resource_type": "课件"}
    resource_id = submitted(api_as, users["publisher"], [("a.pdf", made.pdf("正文"))], metadata=metadata)
    findings = findings_of(api_as, users["reviewer"], resource_id)
    hard = {(f["code"], f["field"]) for f in findings if f["severity"] == "hard"}
    assert {("grade_stage_mismatch", "grade"), ("volume_subject_mismatch", "volume"),
            ("metadata_missing", "chapter")} <= hard
    soft = {(f["code"], f["field"]) for f in findings if f["severity"] == "soft"}
    assert {("metadata_recommended", "description"), ("metadata_recommended", "keywords")} <= soft


def test_grade_is_mandatory_for_junior_secondary_but_not_senior(api_as, users):
    junior = submitted(api_as, users["publisher"], [("a.pdf", made.pdf("正文"))],
                       metadata={k: v for k, v in METADATA.items() if k != "grade"})
    assert ("metadata_missing", "grade") in {(f["code"], f["field"])
                                             for f in findings_of(api_as, users["reviewer"], junior)}
    senior = submitted(api_as, users["publisher"], [("b.pdf", made.pdf("正文二"))], metadata=METADATA | {
        "stage": "高中", "grade": "", "volume": "必修 第一册", "edition": "人教A版"})
    assert "metadata_missing" not in codes(findings_of(api_as, users["reviewer"], senior))


def test_pure_checks_with_a_given_context():
    """``prereview_content`` reads nothing but its content and context."""
    content = PrereviewContent(
        resource_id="00000000-0000-4000-8000-000000000001", revision_id=None, origin="cn-44",
        title="标题", description="简介", keywords=("a",),
        metadata={"stage": "初中", "subject": "数学", "grade": "七年级", "edition": "无此版", "volume": "",
                  "resource_type": "课件", "language": "zh-Hans", "textbook_id": "tb-5280d01d07"},
        rights={"holder": "甲", "license": "CC-BY-4.0", "year": 2024},
        files=(FileRef(sha256="a" * 64, name="x.exe", mime="application/x-msdownload", size=10,
                       storage_key="k"),))
    terms = {("stage", "初中"): {"parent": "", "data": {}}, ("subject", "数学"): {"parent": "", "data": {"stages": ["初中"]}},
             ("grade", "七年级"): {"parent": "初中", "data": {}}, ("resource_type", "课件"): {"parent": "", "data": {}},
             ("language", "zh-Hans"): {"parent": "", "data": {}}}
    textbooks = {"tb-5280d01d07": {"stage": "小学", "subject": "体育与健康", "edition_short": "冀教版", "title": "体育"}}
    context = PrereviewContext(negative_list=NegativeList.of("N0.L0", [ListEntry("e", "标题", "other", "soft", "local")]),
                               terms=terms, textbooks=textbooks, text_of=lambda ref: None,
                               copies_of=lambda shas, rid: [])
    found = {(f.code, f.field, f.severity) for f in prereview_content(content, context=context)}
    assert found == {("edition_unknown", "edition", "hard"), ("metadata_missing", "volume", "hard"),
                     ("textbook_mismatch", "stage", "hard"), ("textbook_mismatch", "subject", "hard"),
                     ("textbook_mismatch", "edition", "hard"), ("file_type_not_allowed", "file:x.exe", "hard"),
                     ("negative_term", "title", "soft")}


def test_approval_check_takes_a_subject_describing_proposed_content(api_as, users, listed):
    """The check accepts an object with ``.resource`` and the proposed ``.metadata`` (a revision), and stores the
    run under the revision's id."""
    resource_id = deposit(api_as, users["publisher"], [("a.pdf", made.pdf("正文"))])
    resource = Resource.objects.get(pk=resource_id)
    subject = SimpleNamespace(resource=resource, metadata={"title": "修订标题：违禁词"}, revision_id=7)
    problems = prereview_approval_check(subject)
    assert [(p["code"], p["field"]) for p in problems] == [("negative_term", "title")]
    assert prereview_approval_check(resource) == []
    assert PrereviewRun.objects.filter(resource=resource, revision_id=7).count() == 1
    assert [f["code"] for f in prereview_findings(resource_id, 7)] == ["negative_term"]
    assert prereview_findings(resource_id, None) == []


def test_findings_are_given_in_the_reader_language(api_as, users, listed):
    resource_id = submitted(api_as, users["publisher"], [("讲义.pdf", made.pdf("附：违禁词"))])
    url = f"/api/v1/resources/{resource_id}/prereview"
    english = api_as(users["reviewer"]).get(url, HTTP_ACCEPT_LANGUAGE="en").json()["findings"]
    [term] = [f for f in english if f["code"] == "negative_term"]
    assert term["message"].startswith("讲义.pdf contains the negative-list term “违禁词” (Other)")
    chinese = api_as(users["reviewer"]).get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").json()["findings"]
    assert [f for f in chinese if f["code"] == "negative_term"][0]["message"].startswith("“讲义.pdf”含负面清单词语")


def test_review_page_shows_the_findings(client, api_as, users, listed):
    resource_id = submitted(api_as, users["publisher"], [("讲义.pdf", made.pdf("附：违禁词"))])
    client.force_login(users["reviewer"])
    page = client.get(f"/review/{resource_id}").content.decode()
    assert "机器预审" in page and "negative_term" in page and "违禁词" in page
