"""Takedowns: a rights holder or an administrator files a notice; the province's reviewers uphold it
(the resource is withdrawn at once, everywhere on the node) or reject it; every step is audited."""

from __future__ import annotations

import pytest

from catalog.models import Resource
from exchange.models import AuditEvent
from licensing.models import TakedownNotice

CHANGES: list[dict] = []


def record_change(*, resource, kind, reason):
    """A catalog change hook standing in for the federation outbox."""
    CHANGES.append({"resource": str(resource.pk), "kind": kind, "reason": reason, "status": resource.status})


@pytest.fixture
def change_log(settings):
    settings.CATALOG_CHANGE_HOOKS = ["tests.licensing.test_takedowns.record_change"]
    CHANGES.clear()
    yield CHANGES
    CHANGES.clear()


def file_notice(client, resource, **extra):
    body = {"resource": str(resource.pk), "grounds": "copyright",
            "statement": "本课件第3-10页复制自我社《七年级数学教师用书》，未经授权。"} | extra
    return client.post("/api/v1/takedowns", body, format="json")


def test_upheld_takedown_withdraws_the_resource_at_once(api, api_as, users, make_resource, change_log):
    resource = make_resource()  # published by 本省出版社
    teacher = api_as(users["teacher"])
    link = teacher.post(f"/api/v1/resources/{resource.pk}/download").json()["files"][0]["url"]
    filed = file_notice(api_as(users["other_publisher"]), resource)
    assert filed.status_code == 201, filed.json()
    notice = filed.json()
    assert (notice["status"], notice["claimant"], notice["resource_status"]) == ("open", "另一出版社", "published")
    assert api.get(f"/api/v1/resources/{resource.pk}").status_code == 200  # filing alone changes nothing

    upheld = api_as(users["reviewer"]).post(f"/api/v1/takedowns/{notice['id']}/uphold", {"note": "侵权属实"},
                                            format="json")
    assert upheld.status_code == 200, upheld.json()
    assert (upheld.json()["status"], upheld.json()["resource_status"]) == ("upheld", "withdrawn")
    assert api.get(f"/api/v1/resources/{resource.pk}").status_code == 404
    assert teacher.post(f"/api/v1/resources/{resource.pk}/download").status_code == 404
    gone = api.get(link.removeprefix("http://127.0.0.1:8000"))
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "withdrawn"
    assert change_log == [{"resource": str(resource.pk), "kind": "withdraw", "reason": "takedown_upheld",
                           "status": "withdrawn"}]
    actions = list(AuditEvent.objects.filter(action__startswith="takedown.").values_list("action", flat=True))
    assert actions == ["takedown.file", "takedown.uphold"]
    withdraw = AuditEvent.objects.get(action="resource.withdraw", object_id=str(resource.pk))
    assert withdraw.data["reason"] == "takedown_upheld" and withdraw.data["note"].startswith(f"takedown #{notice['id']}")


def test_rejected_takedown_leaves_the_resource_and_tells_the_claimant(api, api_as, users, make_resource, change_log):
    resource = make_resource()
    notice = file_notice(api_as(users["hub_operator"]), resource).json()
    reviewer = api_as(users["reviewer"])
    missing_note = reviewer.post(f"/api/v1/takedowns/{notice['id']}/reject", {}, format="json")
    assert missing_note.status_code == 400 and missing_note.json()["error"]["details"] == {
        "note": ["This field is required."]}
    rejected = reviewer.post(f"/api/v1/takedowns/{notice['id']}/reject", {"note": "已取得授权"}, format="json")
    assert rejected.json()["status"] == "rejected"
    assert api.get(f"/api/v1/resources/{resource.pk}").json()["status"] == "published"
    seen = api_as(users["hub_operator"]).get(f"/api/v1/takedowns/{notice['id']}").json()
    assert (seen["decision_note"], seen["decided_by"]) == ("已取得授权", "reviewer")
    again = reviewer.post(f"/api/v1/takedowns/{notice['id']}/uphold", {}, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "takedown_already_decided"
    assert change_log == []
    assert AuditEvent.objects.filter(action="takedown.reject", object_id=str(notice["id"])).exists()


@pytest.mark.parametrize(("who", "status"), [
    ("publisher", 201), ("other_publisher", 201), ("province_admin", 201), ("hub_operator", 201),
    ("teacher", 403), ("school_admin", 403), ("reviewer", 403),
])
def test_who_may_file(api_as, users, make_resource, who, status):
    assert file_notice(api_as(users[who]), make_resource()).status_code == status


def test_only_the_provinces_reviewers_decide(api_as, users, make_resource):
    notice = file_notice(api_as(users["other_publisher"]), make_resource()).json()
    other = api_as(users["other_reviewer"]).post(f"/api/v1/takedowns/{notice['id']}/uphold", {}, format="json")
    assert other.status_code == 404  # another province's notices are not even visible
    filer = api_as(users["other_publisher"]).post(f"/api/v1/takedowns/{notice['id']}/uphold", {}, format="json")
    assert filer.status_code == 403
    assert TakedownNotice.objects.get(pk=notice["id"]).status == "open"


def test_who_sees_which_notices(api_as, users, orgs, make_resource):
    from exchange.services import organisation_create
    from tests.factories import ResourceFactory

    ours = file_notice(api_as(users["other_publisher"]), make_resource()).json()["id"]
    far_publisher = organisation_create(name="外省出版社", kind="publisher", region=orgs["other_bureau"].region)
    theirs_resource = ResourceFactory(publisher=far_publisher)
    theirs = file_notice(api_as(users["publisher"]), theirs_resource).json()["id"]

    def ids(user):
        return [n["id"] for n in api_as(users[user]).get("/api/v1/takedowns").json()["results"]]

    assert ids("other_publisher") == [ours]
    assert ids("publisher") == [theirs]
    assert ids("reviewer") == [ours]  # the other province's resource is not this reviewer's to review
    assert ids("other_reviewer") == [theirs]
    assert ids("hub_operator") == [theirs, ours]
    assert ids("teacher") == []
    assert api_as(users["teacher"]).get(f"/api/v1/takedowns/{ours}").status_code == 404


def test_invalid_notices(api_as, users, make_resource):
    client = api_as(users["other_publisher"])
    resource = make_resource()
    bad = file_notice(client, resource, grounds="dislike", statement=" ")
    assert bad.status_code == 400 and set(bad.json()["error"]["details"]) == {"grounds", "statement"}
    withdrawn = make_resource(status=Resource.Status.WITHDRAWN)
    assert file_notice(api_as(users["publisher"]), withdrawn).json()["error"]["code"] == "resource_withdrawn"
    assert file_notice(client, withdrawn).status_code == 404  # not visible to another publisher
