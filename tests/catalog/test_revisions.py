"""Every change to a published resource is reviewed (更新必审): an edit of metadata, rights or files makes a
revision the public never sees until a reviewer of the province approves it; then it is the new version,
in one step. The live version stays as it is meanwhile, and after a rejection or a cancellation."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from catalog.blobs import blobs_collect
from catalog.models import RecordTakedown, Resource, ResourceRevision
from catalog.storage import blob_key, get_blob_store
from exchange.models import AuditEvent
from tests.factories import METADATA, RIGHTS, pdf_bytes


def act(client, resource_id, verb, **data):
    return client.post(f"/api/v1/resources/{resource_id}/{verb}", data, format="json")


@pytest.fixture
def published(api_as, users):
    """A resource deposited, submitted, approved and published through the API; its id."""
    publisher, reviewer = api_as(users["publisher"]), api_as(users["reviewer"])
    created = publisher.post("/api/v1/resources", {
        "metadata": json.dumps(METADATA), "rights": json.dumps(RIGHTS),
        "files": [SimpleUploadedFile("第一课.pdf", pdf_bytes("v1"))]}, format="multipart")
    assert created.status_code == 201, created.json()
    rid = created.json()["id"]
    for client, verb in ((publisher, "submit"), (reviewer, "approve"), (publisher, "publish")):
        assert act(client, rid, verb).status_code == 200
    return rid


def test_an_edit_is_a_revision_and_the_live_version_stays_until_approval(api, api_as, users, published):
    publisher, reviewer = api_as(users["publisher"]), api_as(users["reviewer"])
    before = api.get(f"/api/v1/resources/{published}").json()
    edit = publisher.patch(f"/api/v1/resources/{published}", {
        "metadata": {"title": "修订后的标题", "description": "新的简介"}, "rights": {"attribution": "新署名"}},
        format="json")
    assert edit.status_code == 202
    revision = edit.json()
    assert revision["status"] == "draft" and revision["number"] == 1 and revision["base_version"] == before["version"]
    assert {row["field"]: (row["old"], row["new"]) for row in revision["diff"]["fields"]} == {
        "title": (METADATA["title"], "修订后的标题"), "description": (METADATA["description"], "新的简介")}
    assert [(row["field"], row["new"]) for row in revision["diff"]["rights"]] == [("attribution", "新署名")]

    assert act(publisher, published, "submit").status_code == 200
    [mine] = publisher.get("/api/v1/resources?mine=1").json()["results"]
    assert mine["pending_revision"] == {"id": revision["id"], "number": 1, "status": "submitted", "review_note": ""}
    for client in (api, api_as(users["teacher"]), publisher):  # the live version, for everybody
        live = client.get(f"/api/v1/resources/{published}").json()
        assert (live["title"], live["version"], live["rights"]["attribution"]) == (
            before["title"], before["version"], before["rights"]["attribution"])
    queue = reviewer.get("/api/v1/review/queue").json()
    [item] = queue["results"]
    assert (item["id"], item["kind"], item["revision"]["title"]) == (published, "revision", "修订后的标题")

    approved = act(reviewer, published, "approve", note="修订无误")
    assert approved.status_code == 200
    live = api.get(f"/api/v1/resources/{published}").json()
    assert (live["title"], live["description"], live["rights"]["attribution"]) == ("修订后的标题", "新的简介", "新署名")
    assert live["version"] == before["version"] + 1 and live["status"] == "published"
    assert ResourceRevision.objects.get().status == "applied"
    assert reviewer.get("/api/v1/review/queue").json()["count"] == 0
    actions = list(AuditEvent.objects.filter(object_id=published).values_list("action", flat=True))
    assert actions[-5:] == ["resource.revision_open", "resource.revision_update", "resource.revision_submit",
                            "resource.revision_approve", "resource.revision_apply"]


def test_the_revision_is_for_the_publisher_and_the_reviewers_only(api, api_as, users, published):
    api_as(users["publisher"]).patch(f"/api/v1/resources/{published}", {"metadata": {"title": "草稿中的标题"}},
                                     format="json")
    url = f"/api/v1/resources/{published}/revision"
    assert api_as(users["publisher"]).get(url).json()["metadata"]["title"] == "草稿中的标题"
    assert api_as(users["reviewer"]).get(url).status_code == 200
    for who in ("teacher", "other_publisher", "other_reviewer", "province_admin", "hub_operator"):
        response = api_as(users[who]).get(url)
        assert response.status_code == 404 and response.json()["error"]["code"] == "revision_not_found", who
    assert api.get(url).status_code == 401
    assert api_as(users["teacher"]).get(f"/api/v1/resources/{published}/review").status_code == 403
    history = api.get(f"/api/v1/resources/{published}/history").json()
    assert history["revisions"] is None and "草稿中的标题" not in json.dumps(history, ensure_ascii=False)


def test_an_incoherent_rights_edit_is_refused_at_approval_and_never_reaches_buyers(api, api_as, users, published,
                                                                                   province):
    """The bug of the issue: an all-rights-reserved, priced statement with no grant term was refused at approval
    but accepted on edit. Now the edit is a revision and the same audit runs on the proposed rights."""
    publisher, reviewer = api_as(users["publisher"]), api_as(users["reviewer"])
    edit = publisher.patch(f"/api/v1/resources/{published}", {"rights": {
        "license": "ALL-RIGHTS-RESERVED", "price": 5, "grant_days": 0, "territory": [province]}}, format="json")
    assert edit.status_code == 202
    check = publisher.get(f"/api/v1/resources/{published}/rights/check").json()
    assert check["revision"] == edit.json()["id"]
    assert [p["code"] for p in check["problems"]] == ["priced_without_grant_term"]
    assert act(publisher, published, "submit").status_code == 200
    refused = act(reviewer, published, "approve")
    assert refused.status_code == 422
    assert [p["code"] for p in refused.json()["error"]["details"]["problems"]] == ["priced_without_grant_term"]
    live = api.get(f"/api/v1/resources/{published}").json()
    assert (live["rights"]["license"], live["rights"]["price"]) == ("CC-BY-4.0", 0)
    assert ResourceRevision.objects.get().status == "submitted"


def test_files_added_and_removed_go_live_together_and_old_versions_keep_theirs(api, api_as, users, published):
    publisher, reviewer = api_as(users["publisher"]), api_as(users["reviewer"])
    [old_file] = api.get(f"/api/v1/resources/{published}").json()["files"]
    added = publisher.post(f"/api/v1/resources/{published}/files",
                           {"files": [SimpleUploadedFile("第二课.pdf", pdf_bytes("v2"))]}, format="multipart")
    assert added.status_code == 201
    removed = publisher.delete(f"/api/v1/resources/{published}/files/{old_file['id']}")
    assert removed.status_code == 202
    assert removed.json()["diff"]["files"]["removed"][0]["sha256"] == old_file["sha256"]
    assert [f["original_name"] for f in removed.json()["files"]] == ["第二课.pdf"]
    assert [f["id"] for f in api.get(f"/api/v1/resources/{published}").json()["files"]] == [old_file["id"]]
    missing = publisher.delete(f"/api/v1/resources/{published}/files/{old_file['id']}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "file_not_found"

    act(publisher, published, "submit")
    assert act(reviewer, published, "approve").status_code == 200
    live = api.get(f"/api/v1/resources/{published}").json()
    assert [f["original_name"] for f in live["files"]] == ["第二课.pdf"]
    assert live["files"][0]["id"] == added.json()[0]["id"]
    history = api.get(f"/api/v1/resources/{published}/history").json()
    newest, first = history["versions"]
    assert [f["sha256"] for f in first["files"]] == [old_file["sha256"]]
    assert [f["name"] for f in newest["changes"]["files"]["added"]] == ["第二课.pdf"]
    assert [f["sha256"] for f in newest["changes"]["files"]["removed"]] == [old_file["sha256"]]
    # the collector keeps the removed file's blob: the first version still has it
    blobs_collect(grace_seconds=0)
    assert get_blob_store().exists(blob_key(old_file["sha256"]))


def test_one_open_revision_no_edits_while_it_is_reviewed_and_the_publisher_may_cancel(api, api_as, users, published):
    publisher = api_as(users["publisher"])
    publisher.patch(f"/api/v1/resources/{published}", {"metadata": {"title": "第一次修改"}}, format="json")
    second = publisher.patch(f"/api/v1/resources/{published}", {"metadata": {"description": "又改了简介"}},
                             format="json")
    assert second.status_code == 202 and second.json()["number"] == 1  # the same draft revision
    assert second.json()["metadata"]["title"] == "第一次修改"
    act(publisher, published, "submit")
    refused = publisher.patch(f"/api/v1/resources/{published}", {"metadata": {"title": "第三次"}}, format="json")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "revision_in_review"
    files_refused = publisher.post(f"/api/v1/resources/{published}/files",
                                   {"files": [SimpleUploadedFile("x.pdf", pdf_bytes("x"))]}, format="multipart")
    assert files_refused.status_code == 409
    cancelled = publisher.delete(f"/api/v1/resources/{published}/revision")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert api_as(users["reviewer"]).get("/api/v1/review/queue").json()["count"] == 0
    assert api.get(f"/api/v1/resources/{published}").json()["title"] == METADATA["title"]
    again = publisher.patch(f"/api/v1/resources/{published}", {"metadata": {"title": "重新修改"}}, format="json")
    assert again.status_code == 202 and again.json()["number"] == 2
    assert ResourceRevision.objects.filter(resource_id=published).count() == 2


def test_a_revision_that_changes_nothing_is_not_submitted(api_as, users, published):
    publisher = api_as(users["publisher"])
    publisher.patch(f"/api/v1/resources/{published}", {"metadata": {"title": METADATA["title"]}}, format="json")
    refused = act(publisher, published, "submit")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "revision_empty"


def test_rejected_revision_keeps_the_live_version_and_is_fixed_and_resubmitted(api, api_as, users, published):
    publisher, reviewer = api_as(users["publisher"]), api_as(users["reviewer"])
    publisher.patch(f"/api/v1/resources/{published}", {"metadata": {"title": "有错别字的标提"}}, format="json")
    act(publisher, published, "submit")
    missing = act(reviewer, published, "reject")
    assert missing.status_code == 400 and missing.json()["error"]["details"] == {"reason": ["This field is required."]}
    rejected = act(reviewer, published, "reject", reason="标题有错别字", dimensions={"conformity": "fail"},
                   field_notes={"title": "“标提”应为“标题”"})
    assert rejected.status_code == 200
    assert api.get(f"/api/v1/resources/{published}").json()["title"] == METADATA["title"]
    state = publisher.get(f"/api/v1/resources/{published}/review").json()
    assert state["revision"]["status"] == "rejected" and state["revision"]["review_note"] == "标题有错别字"
    assert state["last_rejection"]["field_notes"] == {"title": "“标提”应为“标题”"}
    assert state["last_rejection"]["reason_code"] == "conformity"  # the failed dimension
    fixed = publisher.patch(f"/api/v1/resources/{published}", {"metadata": {"title": "没有错别字的标题"}},
                            format="json")
    assert fixed.status_code == 202 and fixed.json()["status"] == "rejected"  # until it is resubmitted
    assert act(publisher, published, "submit").status_code == 200
    assert act(reviewer, published, "approve").status_code == 200
    assert api.get(f"/api/v1/resources/{published}").json()["title"] == "没有错别字的标题"
    history = publisher.get(f"/api/v1/resources/{published}/history").json()
    [revision] = history["revisions"]
    assert [d["action"] for d in revision["decisions"]] == ["reject", "approve"]


def test_a_withdrawal_cancels_the_open_revision(api_as, users, published):
    publisher, reviewer = api_as(users["publisher"]), api_as(users["reviewer"])
    publisher.patch(f"/api/v1/resources/{published}", {"metadata": {"title": "撤回前的修改"}}, format="json")
    act(publisher, published, "submit")
    assert act(reviewer, published, "withdraw", note="内容过时").status_code == 200
    assert ResourceRevision.objects.get().status == "cancelled"
    refused = act(reviewer, published, "approve")
    assert refused.status_code == 409
    assert Resource.objects.get(pk=published).title == METADATA["title"]


def test_a_revision_of_a_taken_down_record_never_goes_live(api, api_as, users, published):
    """A standing takedown outranks every version: approving a revision under it is refused."""
    publisher, reviewer = api_as(users["publisher"]), api_as(users["reviewer"])
    publisher.patch(f"/api/v1/resources/{published}", {"metadata": {"title": "下架中的修改"}}, format="json")
    act(publisher, published, "submit")
    resource = Resource.objects.get(pk=published)
    RecordTakedown.objects.create(origin=resource.origin_node, record_id=resource.record_id,
                                  ordered_by="cn-hub", ordered_at=timezone.now())
    refused = act(reviewer, published, "approve")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "resource_taken_down"
    assert Resource.objects.get(pk=published).title == METADATA["title"]
    assert ResourceRevision.objects.get().status == "submitted"


def test_drafts_and_rejected_resources_are_still_edited_in_place(api_as, users):
    publisher = api_as(users["publisher"])
    created = publisher.post("/api/v1/resources", {"metadata": METADATA, "rights": RIGHTS}, format="json")
    rid = created.json()["id"]
    edited = publisher.patch(f"/api/v1/resources/{rid}", {"metadata": {"title": "草稿改标题"}}, format="json")
    assert edited.status_code == 200 and edited.json()["title"] == "草稿改标题"
    assert not ResourceRevision.objects.exists()


def test_a_resource_published_before_versions_were_kept_shows_its_live_version(api, api_as, users, orgs):
    """An imported (or earlier) published resource has no kept version: its history shows the live one; its
    first revision keeps that as the version before it."""
    from tests.factories import ResourceFactory

    resource = ResourceFactory(publisher=orgs["publisher"], title="导入的 有理数 课件")
    [live] = api.get(f"/api/v1/resources/{resource.pk}/history").json()["versions"]
    assert (live["version"], live["metadata"]["title"], live["source"]) == (resource.version, "导入的 有理数 课件",
                                                                             "baseline")
    publisher, reviewer = api_as(users["publisher"]), api_as(users["reviewer"])
    publisher.patch(f"/api/v1/resources/{resource.pk}", {"metadata": {"title": "修订后的 有理数 课件"}}, format="json")
    act(publisher, resource.pk, "submit"), act(reviewer, resource.pk, "approve")
    newest, first = api.get(f"/api/v1/resources/{resource.pk}/history").json()["versions"]
    assert first["metadata"]["title"] == "导入的 有理数 课件" and first["source"] == "baseline"
    assert newest["metadata"]["title"] == "修订后的 有理数 课件" and newest["source"] == "revision"
