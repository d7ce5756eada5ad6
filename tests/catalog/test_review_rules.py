"""The rules of human review: the seven dimensions and reason codes of every decision, the province's
two-person rule, the provider's content commitment before a first submission, the machine pre-review's
hooks and findings, approval checks on the content under review, and periodic re-review (时效性)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from catalog.models import CommitmentAcceptance, Resource, ReviewDecision
from catalog.review.decisions import DIMENSION_CODES
from exchange.models import AuditEvent, Organisation
from exchange.roles import Role
from exchange.services import organisation_create, user_create
from tests.factories import METADATA, RIGHTS, pdf_bytes

ALL_PASS = {code: {"result": "pass", "comment": ""} for code in DIMENSION_CODES}


def act(client, resource_id, verb, **data):
    return client.post(f"/api/v1/resources/{resource_id}/{verb}", data, format="json")


def deposit(client, **metadata) -> str:
    created = client.post("/api/v1/resources", {
        "metadata": json.dumps(METADATA | metadata), "rights": json.dumps(RIGHTS),
        "files": [SimpleUploadedFile("a.pdf", pdf_bytes("rules"))]}, format="multipart")
    assert created.status_code == 201, created.json()
    return created.json()["id"]


@pytest.fixture
def submitted(api_as, users):
    publisher = api_as(users["publisher"])
    rid = deposit(publisher)
    assert act(publisher, rid, "submit").status_code == 200
    return rid


@pytest.fixture
def second_reviewer(orgs):
    return user_create(username="reviewer2", password="test-pass-reviewer2", organisation=orgs["bureau"],
                       roles=[Role.REVIEWER])


# --- dimensions and reason codes -------------------------------------------------------------------------

def test_an_approval_records_the_seven_dimensions(api_as, users, submitted):
    response = act(api_as(users["reviewer"]), submitted, "approve", note="符合要求",
                   dimensions=ALL_PASS | {"scientific": {"result": "pass", "comment": "概念准确"}})
    assert response.status_code == 200 and response.json()["status"] == "approved"
    decision = ReviewDecision.objects.get(resource_id=submitted)
    assert (decision.action, decision.reason_code, decision.note) == ("approve", "approved", "符合要求")
    assert decision.dimensions["scientific"] == {"result": "pass", "comment": "概念准确"}
    assert set(decision.dimensions) == set(DIMENSION_CODES)
    audit = AuditEvent.objects.get(object_id=submitted, action="resource.approve")
    assert audit.data["reason_code"] == "approved" and audit.data["dimensions"]["scientific"]["result"] == "pass"


@pytest.mark.parametrize(("dimensions", "code", "field"), [
    (ALL_PASS | {"political": "fail"}, "dimension_failed", "political"),
    ({"political": "pass"}, "invalid_input", "scientific"),  # an approval states all seven
    (ALL_PASS | {"beauty": "pass"}, "invalid_input", "beauty"),
    (ALL_PASS | {"timeliness": "maybe"}, "invalid_input", "timeliness"),
])
def test_an_approval_with_a_failed_missing_or_unknown_dimension_is_refused(api_as, users, submitted, dimensions,
                                                                          code, field):
    response = act(api_as(users["reviewer"]), submitted, "approve", dimensions=dimensions)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code and field in error["details"]["dimensions"]
    assert Resource.objects.get(pk=submitted).status == "submitted" and not ReviewDecision.objects.exists()


def test_a_rejection_needs_a_reason_and_gets_a_reason_code(api_as, users, submitted):
    reviewer = api_as(users["reviewer"])
    assert act(reviewer, submitted, "reject", dimensions={"scientific": "fail"}).status_code == 400
    unknown = act(reviewer, submitted, "reject", reason="x", reason_code="dislike")
    assert unknown.status_code == 400 and "reason_code" in unknown.json()["error"]["details"]
    response = act(reviewer, submitted, "reject", reason="概念有误",
                   dimensions={"scientific": {"result": "fail", "comment": "有理数定义不准确"}},
                   field_notes={"description": "简介中的定义需更正", "files": "第 3 页有误"})
    assert response.status_code == 200 and response.json()["status"] == "rejected"
    decision = ReviewDecision.objects.get(resource_id=submitted)
    assert (decision.action, decision.reason_code) == ("reject", "scientific")
    assert decision.field_notes == {"description": "简介中的定义需更正", "files": "第 3 页有误"}
    state = api_as(users["publisher"]).get(f"/api/v1/resources/{submitted}/review").json()
    assert state["last_rejection"]["note"] == "概念有误"
    assert state["last_rejection"]["field_notes"]["files"] == "第 3 页有误"


def test_notes_name_fields_a_resource_has(api_as, users, submitted):
    bad = act(api_as(users["reviewer"]), submitted, "reject", reason="x", field_notes={"colour": "red"})
    assert bad.status_code == 400 and "colour" in bad.json()["error"]["details"]["field_notes"]


def test_explicit_reason_code_wins(api_as, users, submitted):
    act(api_as(users["reviewer"]), submitted, "reject", reason="与已发布资源重复", reason_code="other",
        dimensions={"applicability": "fail"})
    assert ReviewDecision.objects.get().reason_code == "other"


# --- the two-person rule ---------------------------------------------------------------------------------

def test_only_the_province_admin_sets_the_two_person_rule(api_as, users):
    for who in ("reviewer", "publisher", "hub_operator", "teacher"):
        assert api_as(users[who]).put("/api/v1/review/policy", {"two_person_rule": True},
                                      format="json").status_code == 403, who
    admin = api_as(users["province_admin"])
    response = admin.put("/api/v1/review/policy", {"two_person_rule": True}, format="json")
    assert response.status_code == 200 and response.json()["two_person_rule"] is True
    assert api_as(users["reviewer"]).get("/api/v1/review/policy").json()["two_person_rule"] is True
    assert api_as(users["other_reviewer"]).get("/api/v1/review/policy").json()["two_person_rule"] is False
    assert AuditEvent.objects.filter(action="review.policy_set").count() == 1
    bad = admin.put("/api/v1/review/policy", {"two_person_rule": "yes"}, format="json")
    assert bad.status_code == 400


def test_under_the_two_person_rule_a_second_reviewer_must_concur_before_publishing(api, api_as, users, submitted,
                                                                                    second_reviewer):
    api_as(users["province_admin"]).put("/api/v1/review/policy", {"two_person_rule": True}, format="json")
    first, second = api_as(users["reviewer"]), api_as(second_reviewer)
    assert act(first, submitted, "approve", dimensions=ALL_PASS).json()["status"] == "submitted"
    refused = act(api_as(users["publisher"]), submitted, "publish")
    assert refused.status_code == 409  # nothing to publish yet
    again = act(first, submitted, "approve", dimensions=ALL_PASS)
    assert again.status_code == 409 and again.json()["error"]["code"] == "second_reviewer_required"
    queue = second.get("/api/v1/review/queue").json()["results"]
    assert [(q["id"], q["approvals"], q["approvals_needed"]) for q in queue] == [(submitted, 1, 2)]
    assert act(second, submitted, "approve", dimensions=ALL_PASS).json()["status"] == "approved"
    assert act(second, submitted, "publish").json()["status"] == "published"
    [version] = api_as(users["publisher"]).get(f"/api/v1/resources/{submitted}/history").json()["versions"]
    assert [a["reviewer"] for a in version["approvals"]] == ["reviewer", "reviewer2"]
    assert [a["reason_code"] for a in version["approvals"]] == ["first_approval", "concurred"]
    assert "approvals" not in api.get(f"/api/v1/resources/{submitted}/history").json()["versions"][0]


def test_under_the_two_person_rule_a_revision_goes_live_only_after_the_second_approval(api, api_as, users,
                                                                                       second_reviewer):
    publisher, first, second = api_as(users["publisher"]), api_as(users["reviewer"]), api_as(second_reviewer)
    rid = deposit(publisher)
    for client, verb in ((publisher, "submit"), (first, "approve"), (publisher, "publish")):
        assert act(client, rid, verb).status_code == 200
    api_as(users["province_admin"]).put("/api/v1/review/policy", {"two_person_rule": True}, format="json")
    publisher.patch(f"/api/v1/resources/{rid}", {"metadata": {"title": "双人审核的修订"}}, format="json")
    act(publisher, rid, "submit")
    assert act(first, rid, "approve").status_code == 200
    assert api.get(f"/api/v1/resources/{rid}").json()["title"] == METADATA["title"]
    assert act(first, rid, "approve").json()["error"]["code"] == "second_reviewer_required"
    assert act(second, rid, "approve").status_code == 200
    assert api.get(f"/api/v1/resources/{rid}").json()["title"] == "双人审核的修订"


def test_a_rejection_ends_the_round_and_a_resubmission_needs_two_new_approvals(api_as, users, submitted,
                                                                               second_reviewer):
    api_as(users["province_admin"]).put("/api/v1/review/policy", {"two_person_rule": True}, format="json")
    first, second, publisher = api_as(users["reviewer"]), api_as(second_reviewer), api_as(users["publisher"])
    act(first, submitted, "approve")
    act(second, submitted, "reject", reason="不同意")
    act(publisher, submitted, "submit")
    assert act(second, submitted, "approve").json()["status"] == "submitted"  # the old approval does not count
    assert act(first, submitted, "approve").json()["status"] == "approved"


# --- the content commitment --------------------------------------------------------------------------------

@pytest.fixture
def new_publisher(province):
    org = organisation_create(name="新加入的出版社", kind=Organisation.Kind.PUBLISHER, region=province)
    return user_create(username="newpub", password="test-pass-newpub", organisation=org, roles=[Role.PUBLISHER])


def test_a_first_submission_needs_the_accepted_commitment(api, api_as, users, new_publisher):
    client = api_as(new_publisher)
    rid = deposit(client)
    refused = act(client, rid, "submit")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "commitment_required"
    assert Resource.objects.get(pk=rid).status == "draft"
    text = api.get("/api/v1/commitment").json()
    assert text["version"] == 1 and "谁提供谁负责" in text["text"]["zh-Hans"] and text["text"]["en"]
    assert text["accepted"] is None
    stale = client.post("/api/v1/commitment/accept", {"version": 2}, format="json")
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "commitment_outdated"
    accepted = client.post("/api/v1/commitment/accept", {"version": 1}, format="json")
    assert accepted.status_code == 200 and accepted.json()["accepted"]["accepted_by"] == "newpub"
    assert act(client, rid, "submit").status_code == 200
    event = AuditEvent.objects.get(action="commitment.accept", actor="newpub")
    assert event.data["version"] == 1 and event.actor == "newpub"
    submit = AuditEvent.objects.get(object_id=rid, action="resource.submit")
    assert submit.data["commitment_version"] == 1
    state = api_as(users["reviewer"]).get(f"/api/v1/resources/{rid}/review").json()
    assert state["commitment"]["version"] == 1 and state["commitment"]["accepted_by"] == "newpub"
    assert state["commitment"]["accepted_at"]


def test_only_publishers_accept_and_only_hub_operators_or_superusers_publish_a_new_text(api_as, users, orgs):
    for who in ("teacher", "reviewer", "province_admin"):
        assert api_as(users[who]).post("/api/v1/commitment/accept", {"version": 1},
                                       format="json").status_code == 403, who
    for who in ("publisher", "reviewer", "province_admin"):
        assert api_as(users[who]).post("/api/v1/commitment", {"text_zh": "新", "text_en": "new"},
                                       format="json").status_code == 403, who
    missing = api_as(users["hub_operator"]).post("/api/v1/commitment", {"text_zh": "只有中文"}, format="json")
    assert missing.status_code == 400 and "text_en" in missing.json()["error"]["details"]
    published = api_as(users["hub_operator"]).post("/api/v1/commitment", {"text_zh": "第二版承诺", "text_en": "v2"},
                                                   format="json")
    assert published.status_code == 201 and published.json()["version"] == 2
    # an organisation that accepted version 1 keeps submitting; the reviewer sees which version it accepted
    publisher = api_as(users["publisher"])
    rid = deposit(publisher)
    assert act(publisher, rid, "submit").status_code == 200
    state = api_as(users["reviewer"]).get(f"/api/v1/resources/{rid}/review").json()
    assert state["commitment"]["version"] == 1
    assert publisher.get("/api/v1/commitment").json()["accepted"]["version"] == 1
    assert publisher.post("/api/v1/commitment/accept", {"version": 2}, format="json").status_code == 200
    assert CommitmentAcceptance.objects.filter(organisation=orgs["publisher"]).count() == 2


# --- machine pre-review interfaces -------------------------------------------------------------------------

HEARD: list[tuple[str, int | None]] = []


def hear_submission(*, resource_id: str, revision_id: int | None) -> None:
    HEARD.append((resource_id, revision_id))


def findings_of(*, resource_id: str, revision_id: int | None) -> list[dict]:
    return [{"code": "banned_word", "severity": "hard", "field": "title", "message": f"敏感词 {revision_id}"}]


def no_forbidden_title(subject) -> list[dict]:
    """An approval check on the content under review (as machine pre-review's hard findings will be)."""
    if "禁用词" in subject.metadata["title"]:
        return [{"code": "forbidden_word", "field": "title", "message": "标题含禁用词"}]
    return []


def test_submission_hooks_hear_every_submission_after_commit(settings, api_as, users,
                                                            django_capture_on_commit_callbacks):
    settings.CATALOG_SUBMISSION_HOOKS = [f"{__name__}.hear_submission"]
    HEARD.clear()
    publisher, reviewer = api_as(users["publisher"]), api_as(users["reviewer"])
    rid = deposit(publisher)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        act(publisher, rid, "submit")
    assert HEARD == []  # not before the commit
    for callback in callbacks:
        callback()
    assert HEARD == [(rid, None)]
    act(reviewer, rid, "approve"), act(publisher, rid, "publish")
    publisher.patch(f"/api/v1/resources/{rid}", {"metadata": {"title": "修订"}}, format="json")
    with django_capture_on_commit_callbacks(execute=True):
        act(publisher, rid, "submit")
    revision_id = publisher.get(f"/api/v1/resources/{rid}/revision").json()["id"]
    assert HEARD == [(rid, None), (rid, revision_id)]


def test_findings_are_shown_beside_the_submission(settings, api_as, users, submitted):
    reviewer = api_as(users["reviewer"])
    assert reviewer.get("/api/v1/review/queue").json()["results"][0]["findings"] == []
    settings.CATALOG_REVIEW_FINDINGS = f"{__name__}.findings_of"
    [item] = reviewer.get("/api/v1/review/queue").json()["results"]
    assert item["findings"] == [{"code": "banned_word", "severity": "hard", "field": "title", "message": "敏感词 None"}]
    assert reviewer.get(f"/api/v1/resources/{submitted}/review").json()["findings"][0]["code"] == "banned_word"


def test_approval_checks_judge_the_revision_not_the_live_version(settings, api, api_as, users):
    settings.CATALOG_APPROVAL_CHECKS = [*settings.CATALOG_APPROVAL_CHECKS, f"{__name__}.no_forbidden_title"]
    publisher, reviewer = api_as(users["publisher"]), api_as(users["reviewer"])
    rid = deposit(publisher)
    for client, verb in ((publisher, "submit"), (reviewer, "approve"), (publisher, "publish")):
        assert act(client, rid, verb).status_code == 200
    publisher.patch(f"/api/v1/resources/{rid}", {"metadata": {"title": "含禁用词的标题"}}, format="json")
    act(publisher, rid, "submit")
    refused = act(reviewer, rid, "approve")
    assert refused.status_code == 422
    assert refused.json()["error"]["details"]["problems"][0]["code"] == "forbidden_word"
    assert api.get(f"/api/v1/resources/{rid}").json()["title"] == METADATA["title"]


# --- periodic re-review (时效性) ---------------------------------------------------------------------------

def test_approval_sets_the_review_by_date_by_type_or_as_the_reviewer_says(settings, api_as, users):
    publisher, reviewer = api_as(users["publisher"]), api_as(users["reviewer"])
    today = timezone.localdate()
    exam = deposit(publisher, resource_type="试卷")
    act(publisher, exam, "submit"), act(reviewer, exam, "approve")
    due = Resource.objects.get(pk=exam).review_by
    assert due.year * 12 + due.month == today.year * 12 + today.month + settings.CATALOG_REREVIEW_MONTHS_BY_TYPE["试卷"]
    chosen = deposit(publisher)
    act(publisher, chosen, "submit")
    day = (today + dt.timedelta(days=100)).isoformat()
    act(reviewer, chosen, "approve", review_by=day)
    assert Resource.objects.get(pk=chosen).review_by.isoformat() == day
    past = deposit(publisher)
    act(publisher, past, "submit")
    refused = act(reviewer, past, "approve", review_by=(today - dt.timedelta(days=1)).isoformat())
    assert refused.status_code == 400 and "review_by" in refused.json()["error"]["details"]


def test_the_province_sees_what_is_due_and_a_rereview_sets_the_next_date(api_as, users, orgs):
    publisher, reviewer = api_as(users["publisher"]), api_as(users["reviewer"])
    rid = deposit(publisher)
    act(publisher, rid, "submit"), act(reviewer, rid, "approve"), act(publisher, rid, "publish")
    assert reviewer.get("/api/v1/review/due").json()["count"] == 0
    Resource.objects.filter(pk=rid).update(review_by=timezone.localdate() + dt.timedelta(days=10))
    for who in ("reviewer", "province_admin"):
        due = api_as(users[who]).get("/api/v1/review/due").json()
        assert [r["id"] for r in due["results"]] == [rid], who
    assert api_as(users["other_reviewer"]).get("/api/v1/review/due").json()["count"] == 0
    assert api_as(users["teacher"]).get("/api/v1/review/due").status_code == 403
    assert reviewer.get("/api/v1/review/due?within_days=5").json()["count"] == 0
    assert act(api_as(users["publisher"]), rid, "rereview").status_code == 403
    partial = act(reviewer, rid, "rereview", dimensions={"timeliness": "pass"})
    assert partial.status_code == 400
    version = Resource.objects.get(pk=rid).version
    confirmed = act(reviewer, rid, "rereview", dimensions=ALL_PASS, note="内容仍然适用")
    assert confirmed.status_code == 200
    resource = Resource.objects.get(pk=rid)
    assert resource.review_by > timezone.localdate() + dt.timedelta(days=300)
    assert reviewer.get("/api/v1/review/due").json()["count"] == 0
    assert ReviewDecision.objects.filter(resource_id=rid, action="confirm").get().reason_code == "rereview_confirmed"
    assert AuditEvent.objects.filter(object_id=rid, action="resource.rereview").exists()
    assert resource.version == version  # the record itself does not change: nothing for the feed
