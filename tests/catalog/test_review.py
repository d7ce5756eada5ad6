"""Review workflow: draft → submitted → approved/rejected → published → withdrawn, by the right people."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from exchange.models import AuditEvent
from tests.factories import METADATA, RIGHTS, pdf_bytes


@pytest.fixture
def draft(api_as, users):
    response = api_as(users["publisher"]).post("/api/v1/resources", {
        "metadata": json.dumps(METADATA), "rights": json.dumps(RIGHTS),
        "files": [SimpleUploadedFile("a.pdf", pdf_bytes("review"))]}, format="multipart")
    assert response.status_code == 201
    return response.json()["id"]


def act(client, resource_id, verb, **data):
    return client.post(f"/api/v1/resources/{resource_id}/{verb}", data, format="json")


def test_full_workflow_is_audited_and_only_published_is_public(api, api_as, users, draft):
    publisher, reviewer = api_as(users["publisher"]), api_as(users["reviewer"])
    assert api.get(f"/api/v1/resources/{draft}").status_code == 404  # a draft does not exist for the public
    assert act(publisher, draft, "submit").json()["status"] == "submitted"
    queue = reviewer.get("/api/v1/review/queue").json()
    assert [r["id"] for r in queue["results"]] == [draft]
    assert act(reviewer, draft, "approve", note="内容准确").json()["status"] == "approved"
    assert api.get(f"/api/v1/resources/{draft}").status_code == 404
    published = act(publisher, draft, "publish").json()
    assert published["status"] == "published" and published["version"] == 4
    assert api.get(f"/api/v1/resources/{draft}").json()["status"] == "published"
    assert draft in [r["id"] for r in api.get("/api/v1/resources").json()["results"]]
    assert act(publisher, draft, "withdraw").json()["status"] == "withdrawn"
    assert api.get(f"/api/v1/resources/{draft}").status_code == 404
    actions = list(AuditEvent.objects.filter(object_id=draft).values_list("action", flat=True))
    assert actions == ["resource.create", "resource.submit", "resource.approve", "resource.publish",
                       "resource.withdraw"]
    withdraw = AuditEvent.objects.get(object_id=draft, action="resource.withdraw")
    assert withdraw.data["reason"] == "withdrawn_by_publisher"


def test_reject_needs_a_reason_and_the_publisher_sees_it(api_as, users, draft):
    publisher, reviewer = api_as(users["publisher"]), api_as(users["reviewer"])
    act(publisher, draft, "submit")
    missing = act(reviewer, draft, "reject")
    assert missing.status_code == 400 and missing.json()["error"]["details"] == {"reason": ["This field is required."]}
    rejected = act(reviewer, draft, "reject", reason="版权信息不完整")
    assert rejected.json()["status"] == "rejected"
    mine = publisher.get("/api/v1/resources?mine=1").json()["results"]
    assert mine[0]["review_note"] == "版权信息不完整"
    assert act(publisher, draft, "submit").json()["status"] == "submitted"  # fixed and resubmitted


def test_reviewer_of_another_province_cannot_act(api_as, users, draft):
    act(api_as(users["publisher"]), draft, "submit")
    response = act(api_as(users["other_reviewer"]), draft, "approve")
    assert response.status_code == 404  # not even visible to them
    assert api_as(users["other_reviewer"]).get("/api/v1/review/queue").json()["count"] == 0


@pytest.mark.parametrize("who", ["teacher", "other_publisher", "publisher"])
def test_only_reviewers_approve(api_as, users, draft, who):
    """Approval is a reviewer's act: nobody else, not even the publisher itself, may approve."""
    act(api_as(users["publisher"]), draft, "submit")
    response = act(api_as(users[who]), draft, "approve")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_invalid_transition_is_a_conflict(api_as, users, draft):
    response = act(api_as(users["publisher"]), draft, "publish")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "invalid_transition" and error["details"]["status"] == "draft"


def test_submit_without_files_is_refused(api_as, users):
    client = api_as(users["publisher"])
    response = client.post("/api/v1/resources", {"metadata": METADATA, "rights": RIGHTS}, format="json")
    assert response.status_code == 201
    refused = act(client, response.json()["id"], "submit")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "no_files"


def test_edit_of_a_published_resource_waits_for_review(api, api_as, users, draft):
    """Editing a published resource changes nothing public: it makes a revision (202), which becomes the new
    version only when a reviewer approves it."""
    publisher, reviewer = api_as(users["publisher"]), api_as(users["reviewer"])
    act(publisher, draft, "submit"), act(reviewer, draft, "approve"), act(publisher, draft, "publish")
    response = publisher.patch(f"/api/v1/resources/{draft}", {"metadata": {"title": "新标题"}}, format="json")
    assert response.status_code == 202
    assert response.json()["metadata"]["title"] == "新标题" and response.json()["status"] == "draft"
    live = api.get(f"/api/v1/resources/{draft}").json()
    assert live["title"] == METADATA["title"] and live["version"] == 4
    assert act(publisher, draft, "submit").json()["title"] == METADATA["title"]
    approved = act(reviewer, draft, "approve").json()
    assert approved["title"] == "新标题" and approved["version"] == 5 and approved["status"] == "published"
    response = api_as(users["other_publisher"]).patch(f"/api/v1/resources/{draft}",
                                                      {"metadata": {"title": "x"}}, format="json")
    assert response.status_code == 403 and response.json()["error"]["code"] == "not_publisher_member"


def test_reviewer_revokes_published(api_as, users, draft):
    publisher, reviewer = api_as(users["publisher"]), api_as(users["reviewer"])
    act(publisher, draft, "submit"), act(reviewer, draft, "approve"), act(publisher, draft, "publish")
    response = act(reviewer, draft, "withdraw", note="内容有误")
    assert response.json()["status"] == "withdrawn"
    assert AuditEvent.objects.get(object_id=draft, action="resource.withdraw").data["reason"] == "review_revoked"
