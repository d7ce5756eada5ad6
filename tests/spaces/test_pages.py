"""The teacher-space pages with the Django test client: Chinese first, English by the language cookie;
a resource that may not be added is missing; the feed address is shown once; a collection's owner changes it
through the same services as the API (a stranger is told no)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from spaces.models import Collection, FeedSettings
from tests.factories import ResourceFactory

pytestmark = pytest.mark.django_db


def signed_in(user, language: str | None = None) -> Client:
    client = Client()
    client.force_login(user)
    if language:
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client


@pytest.mark.parametrize(("language", "heading", "nav"), [(None, "备课包", "新资源"),
                                                          ("en", "Lesson packages", "New resources")])
def test_pages_in_both_languages(users, language, heading, nav):
    client = signed_in(users["teacher"], language)
    body = client.get("/me/collections").content.decode()
    assert f"<h1>{heading}</h1>" in body and nav in body
    assert "<script>" not in body and " style=" not in body


def test_only_a_published_resource_the_teacher_sees_can_be_added(orgs, users):
    draft = ResourceFactory(publisher=orgs["publisher"], status="draft")
    published = ResourceFactory(publisher=orgs["publisher"], title="有理数 课件")
    client = signed_in(users["teacher"])
    assert client.get(f"/me/collections/add?resource={draft.pk}").status_code == 404
    assert client.post("/me/collections/add", {"resource": str(draft.pk), "collection": "new"}).status_code == 404
    added = client.post("/me/collections/add", {"resource": str(published.pk), "collection": "new", "step": "导入"})
    collection = Collection.objects.get()
    assert added.status_code == 302 and added["Location"] == f"/me/collections/{collection.pk}"
    assert [(i.resource_id, i.step) for i in collection.items.all()] == [(published.pk, "导入")]


def test_the_owner_arranges_and_a_stranger_is_refused(orgs, users):
    a = ResourceFactory(publisher=orgs["publisher"], title="甲")
    b = ResourceFactory(publisher=orgs["publisher"], title="乙")
    owner = signed_in(users["teacher"])
    for resource, step in ((a, "导入"), (b, "导入")):
        owner.post("/me/collections/add", {"resource": str(resource.pk), "collection": "new" if resource is a else
                                           str(Collection.objects.first().pk), "step": step})
    collection = Collection.objects.get()
    owner.post(f"/me/collections/{collection.pk}", {"action": "up", "resource": str(b.pk)})
    assert [i.resource.title for i in collection.items.order_by("position")] == ["乙", "甲"]
    owner.post(f"/me/collections/{collection.pk}", {"action": "update", "title": "新名", "visibility": "public"})
    stranger = signed_in(users["far_teacher"])
    refused = stranger.post(f"/me/collections/{collection.pk}", {"action": "remove", "resource": str(a.pk)},
                            follow=True)
    assert "只有备课包的创建者可以修改它。" in refused.content.decode()
    assert collection.items.count() == 2 and Collection.objects.get().title == "新名"


def test_the_feed_address_is_shown_once_and_only_its_hash_is_kept(users):
    client = signed_in(users["teacher"])
    shown = client.post("/me/feed", {"action": "token"})
    assert shown.status_code == 200 and shown["Cache-Control"] == "no-store"
    body = shown.content.decode()
    start = body.index("/feeds/") + len("/feeds/")
    token = body[start:body.index("/atom", start)]
    assert len(token) > 30 and FeedSettings.objects.get().token_sha256 != token
    assert token not in FeedSettings.objects.values_list("token_sha256", flat=True).get()
    assert token not in client.get("/me/feed").content.decode()
    assert client.get(f"/feeds/{token}/atom").status_code == 200
