"""Favourites (收藏): teachers bookmark published resources and list them."""

from __future__ import annotations

from tests.factories import ResourceFactory


def test_bookmark_list_and_remove(api_as, users, orgs):
    client = api_as(users["teacher"])
    first, second = ResourceFactory(publisher=orgs["publisher"]), ResourceFactory(publisher=orgs["publisher"])
    assert client.put(f"/api/v1/resources/{first.pk}/favourite").json() == {"favourite": True}
    assert client.put(f"/api/v1/resources/{second.pk}/favourite").status_code == 200
    assert client.put(f"/api/v1/resources/{second.pk}/favourite").status_code == 200  # idempotent
    listed = client.get("/api/v1/favourites").json()
    assert listed["count"] == 2
    assert [r["id"] for r in listed["results"]] == [str(second.pk), str(first.pk)]  # newest bookmark first
    assert client.delete(f"/api/v1/resources/{first.pk}/favourite").json() == {"favourite": False}
    assert [r["id"] for r in client.get("/api/v1/favourites").json()["results"]] == [str(second.pk)]
    assert api_as(users["rural_teacher"]).get("/api/v1/favourites").json()["count"] == 0  # per user


def test_withdrawn_resources_leave_the_list(api_as, users, orgs):
    from catalog.services import resource_withdraw

    resource = ResourceFactory(publisher=orgs["publisher"])
    client = api_as(users["teacher"])
    client.put(f"/api/v1/resources/{resource.pk}/favourite")
    resource_withdraw(user=users["publisher"], resource=resource, reason="withdrawn_by_publisher")
    assert client.get("/api/v1/favourites").json()["count"] == 0


def test_drafts_cannot_be_bookmarked(api_as, users, orgs):
    draft = ResourceFactory(publisher=orgs["publisher"], status="draft")
    assert api_as(users["teacher"]).put(f"/api/v1/resources/{draft.pk}/favourite").status_code == 404
    response = api_as(users["publisher"]).put(f"/api/v1/resources/{draft.pk}/favourite")
    assert response.status_code == 409 and response.json()["error"]["code"] == "invalid_transition"


def test_anonymous_is_asked_to_log_in(api, orgs):
    resource = ResourceFactory(publisher=orgs["publisher"])
    response = api.put(f"/api/v1/resources/{resource.pk}/favourite")
    assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"
