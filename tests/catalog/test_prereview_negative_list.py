"""A province's own negative-list entries (province administrators, API and pages), the re-check of published
resources they start (bounded, in a job, from stored text: files are not read again), the re-check items in
front of the reviewers (the resource stays published until one decides), and the administrator's report."""

from __future__ import annotations

import pytest

from catalog.models import NegativeTerm, RecheckItem, RecheckRun, Resource
from catalog.prereview.services import prereview_resource, recheck_drain
from exchange.models import AuditEvent
from tests.catalog import prereview_files as made
from tests.factories import ResourceFactory, store_file

pytestmark = pytest.mark.django_db
LOCAL_API = "/api/v1/negative-list/local"


def add(client, term, **extra):
    return client.post(LOCAL_API, {"term": term, **extra}, format="json")


@pytest.fixture
def published(orgs):
    """Published resources of province A: one with the term in its title, one with it in a file read before (at
    its pre-review), one clean, and a remote copy from another province with the term in its title."""
    in_title = ResourceFactory(publisher=orgs["publisher"], title="含禁语甲的课件")
    in_file = ResourceFactory(publisher=orgs["publisher"], title="有理数 讲义", with_file=False)
    store_file(in_file, "讲义.pdf", made.pdf("第二页：禁 语 甲。"))
    prereview_resource(resource_id=in_file.pk, trigger="manual")
    clean = ResourceFactory(publisher=orgs["publisher"], title="数轴 课件")
    remote = ResourceFactory(publisher=orgs["publisher"], title="外省 禁语甲", is_remote=True, origin_node="cn-11")
    return {"in_title": in_title, "in_file": in_file, "clean": clean, "remote": remote}


def test_province_admin_adds_an_entry_and_published_resources_are_rechecked(
        api_as, users, published, django_capture_on_commit_callbacks):
    admin = api_as(users["province_admin"])
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = add(admin, "禁语甲", category="other", severity="hard", note="测试")
    assert response.status_code == 201, response.json()
    assert callbacks, "the re-check job is queued after the commit"
    entry = response.json()
    assert entry["scope"] == "local" and entry["version"] == 1 and entry["active"] is True

    run = RecheckRun.objects.get()
    assert run.status == "done" and run.entries == [entry["id"]] and run.list_version == "N0.L1"
    assert run.matched == 2 and run.scanned == 3  # local published resources only
    items = {item.resource_id: item for item in RecheckItem.objects.all()}
    assert set(items) == {published["in_title"].pk, published["in_file"].pk}
    [file_finding] = items[published["in_file"].pk].findings
    assert file_finding["field"] == "file:讲义.pdf" and "禁 语 甲" in file_finding["detail"]["snippet"]
    # never silently unpublished
    assert set(Resource.objects.filter(pk__in=list(items)).values_list("status", flat=True)) == {"published"}


def test_reviewers_decide_items_with_reason_codes(api_as, users, published):
    add(api_as(users["province_admin"]), "禁语甲")
    recheck_drain()
    reviewer = api_as(users["reviewer"])
    queue = reviewer.get("/api/v1/review/rechecks").json()
    assert queue["count"] == 2
    by_resource = {row["resource"]: row for row in queue["results"]}
    keep = by_resource[str(published["in_title"].pk)]
    assert keep["findings"][0]["code"] == "negative_term" and keep["list_version"] == "N0.L1"

    url = f"/api/v1/review/rechecks/{keep['id']}/resolve"
    assert reviewer.post(url, {"decision": "keep"}, format="json").json()["error"]["code"] == "invalid_input"
    kept = reviewer.post(url, {"decision": "keep", "note": "历史教材原文引用，语境正当"}, format="json").json()
    assert kept["status"] == "kept" and kept["reason_code"] == "recheck_kept"
    assert reviewer.post(url, {"decision": "keep", "note": "再次"}, format="json").status_code == 409

    withdraw = by_resource[str(published["in_file"].pk)]
    done = reviewer.post(f"/api/v1/review/rechecks/{withdraw['id']}/resolve", {"decision": "withdraw"}, format="json")
    assert done.json()["reason_code"] == "recheck_withdrawn"
    assert Resource.objects.get(pk=published["in_file"].pk).status == "withdrawn"
    assert Resource.objects.get(pk=published["in_title"].pk).status == "published"
    assert reviewer.get("/api/v1/review/rechecks").json()["count"] == 0
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"negative_list.entry_created", "prereview.recheck_done", "prereview.recheck_resolved",
            "resource.withdraw"} <= actions


def test_other_province_reviewer_sees_no_items(api_as, users, published):
    add(api_as(users["province_admin"]), "禁语甲")
    recheck_drain()
    assert api_as(users["other_reviewer"]).get("/api/v1/review/rechecks").json()["count"] == 0
    item = RecheckItem.objects.first()
    response = api_as(users["other_reviewer"]).post(f"/api/v1/review/rechecks/{item.pk}/resolve",
                                                    {"decision": "withdraw"}, format="json")
    assert response.status_code == 404


def test_report_for_the_province_admin(api_as, users, published):
    admin = api_as(users["province_admin"])
    add(admin, "禁语甲")
    recheck_drain()
    report = admin.get("/api/v1/prereview/rechecks").json()
    [run] = report["results"]
    assert run["matched"] == 2 and run["scope"] == "local" and run["finished_at"]
    detail = admin.get(f"/api/v1/prereview/rechecks/{run['id']}").json()
    assert {item["title"] for item in detail["items"]} == {"含禁语甲的课件", "有理数 讲义"}
    assert api_as(users["reviewer"]).get("/api/v1/prereview/rechecks").status_code == 403


def test_report_pages(client, api_as, users, published):
    add(api_as(users["province_admin"]), "禁语甲")
    recheck_drain()
    run = RecheckRun.objects.get()
    client.force_login(users["province_admin"])
    listing = client.get("/province/rechecks").content.decode()
    assert "N0.L1" in listing
    detail = client.get(f"/province/rechecks/{run.pk}").content.decode()
    assert "含禁语甲的课件" in detail and "有理数 讲义" in detail
    client.force_login(users["reviewer"])
    assert client.get("/province/rechecks").status_code == 403
    queue = client.get("/review/rechecks").content.decode()
    assert "含禁语甲的课件" in queue
    item = RecheckItem.objects.get(resource=published["in_title"])
    client.post(f"/review/rechecks/{item.pk}", {"decision": "keep", "note": "引用原文"})
    item.refresh_from_db()
    assert item.status == "kept" and item.reason_code == "recheck_kept"


def test_entries_are_checked_versioned_and_retired(api_as, users):
    admin = api_as(users["province_admin"])
    assert add(admin, "·—·").json()["error"]["code"] == "negative_term_invalid"
    assert add(admin, "x" * 101).json()["error"]["code"] == "negative_term_invalid"
    assert add(admin, "词", severity="maybe").json()["error"]["code"] == "negative_term_invalid"
    assert admin.post(LOCAL_API, {"term": "词", "scope": "national"}, format="json").json()["error"]["code"] \
        == "unknown_fields"
    first = add(admin, "禁语乙").json()
    assert add(admin, "禁 語 乙").json()["error"]["code"] == "negative_term_duplicate"  # the same once folded
    retired = admin.patch(f"{LOCAL_API}/{first['id']}", {"active": False}, format="json").json()
    assert retired["active"] is False and retired["version"] == 2
    assert RecheckRun.objects.count() == 1  # retiring re-checks nothing
    listing = admin.get(LOCAL_API).json()
    assert listing["versions"] == {"national": 0, "local": 2} and listing["count"] == 1
    assert admin.patch(f"{LOCAL_API}/00000000-0000-4000-8000-000000000000", {"active": False},
                       format="json").status_code == 404
    for role in ("reviewer", "publisher", "hub_operator"):
        assert add(api_as(users[role]), "禁语丙").status_code == 403
    assert NegativeTerm.objects.filter(term="禁语丙").count() == 0


def test_recheck_reads_no_file_again_and_counts_files_without_text(api_as, users, orgs, monkeypatch):
    """Stored text serves the re-check; a file never read (an imported resource) is counted, not read."""
    ResourceFactory(publisher=orgs["publisher"], title="导入的资源")  # its PDF was never pre-reviewed
    monkeypatch.setattr("catalog.prereview.files.run_worker", lambda *a, **k: pytest.fail("file read again"))
    add(api_as(users["province_admin"]), "禁语丁")
    recheck_drain()
    run = RecheckRun.objects.get()
    assert run.files_without_text == 1 and run.matched == 0


def test_recheck_is_resumable_in_batches(api_as, users, orgs):
    for n in range(5):
        ResourceFactory(publisher=orgs["publisher"], title=f"禁语戊 {n}", with_file=False)
    add(api_as(users["province_admin"]), "禁语戊")
    from catalog.prereview import services

    assert services._recheck_batch(RecheckRun.objects.get().pk, 2) is False
    run = RecheckRun.objects.get()
    assert run.status == "pending" and run.scanned == 2 and run.cursor
    recheck_drain(batch=2)
    run.refresh_from_db()
    assert run.status == "done" and run.scanned == 5 and run.matched == 5


def test_local_list_pages(client, users):
    admin = client
    admin.force_login(users["province_admin"])
    response = admin.post("/province/negative-list", {"term": "禁语己", "category": "other", "severity": "soft"})
    assert response.status_code == 302
    entry = NegativeTerm.objects.get(term="禁语己")
    assert entry.severity == "soft"
    page = admin.get("/province/negative-list")
    assert page.status_code == 200 and "禁语己" in page.content.decode()
    admin.post(f"/province/negative-list/{entry.pk}", {"action": "retire"})
    entry.refresh_from_db()
    assert entry.active is False
    admin.force_login(users["reviewer"])
    assert admin.get("/province/negative-list").status_code == 403
