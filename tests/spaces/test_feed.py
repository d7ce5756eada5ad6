"""资源推送: follows, the 新资源 feed, its Atom form behind a revocable secret token, and the e-mail digest.
New resources reach a follower whichever way they became public here: published on this node, or arriving
from another node through the federation sync path (``federation.sync`` → ``catalog.remote`` →
``catalog.events.resources_published`` after commit)."""

from __future__ import annotations

import io
import logging
import xml.etree.ElementTree as ET

import pytest
from django.core import mail
from django.core.management import call_command

from catalog import services as catalog_services
from catalog.models import Resource
from exchange.logging import RedactSecretsFilter
from exchange.roles import Role
from exchange.services import user_create
from federation.models import Peer
from federation.sync import Page, PullResult, apply_page, verify_page
from spaces.models import FeedItem
from tests.factories import ResourceFactory, demo_organisations
from tests.federation.federation_support import (  # noqa: F401 - fixtures
    FakeNode,
    certified_hub_fixture,
    certify,
    fed_fixture,
    province_node_fixture,
    record,
)

pytestmark = pytest.mark.django_db
ATOM = "{http://www.w3.org/2005/Atom}"
CHAPTER = {"subject": "数学", "grade": "七年级", "edition": "人教版", "chapter": "第一章 有理数"}


def pull(peer_id: str, envelopes: list[dict]) -> PullResult:
    """What ``federation.sync.pull_peer`` does with one fetched page: verify every envelope, then apply."""
    peer = Peer.objects.get(node_id=peer_id)
    page = Page(envelopes=envelopes, next=peer.cursor + len(envelopes), more=False,
                head=peer.cursor + len(envelopes))
    result = PullResult(node_id=peer_id)
    verified = verify_page(peer, page, result)
    assert apply_page(peer, since=peer.cursor, page=page, verified=verified, result=result)
    return result


@pytest.fixture
def teachers(certified_hub):
    orgs = demo_organisations("440000")
    return {name: user_create(username=name, password="test-pass-" + name, organisation=orgs["city_school"],
                              roles=[Role.TEACHER], email=f"{name}@school.example")
            for name in ("teacher", "colleague")}


def test_a_followed_chapter_receives_a_resource_synced_from_another_node(
        certified_hub, teachers, api_as, client, django_capture_on_commit_callbacks):
    """A teacher follows 数学 · 七年级 · 人教版 · 第一章 有理数; the hub relays province cn-11's records; the one in
    that chapter appears in the teacher's feed (API, page), the others do not, and a colleague who follows
    nothing gets nothing. Applying the same page again adds nothing."""
    teacher = api_as(teachers["teacher"])
    assert teacher.post("/api/v1/follows", CHAPTER, format="json").status_code == 201
    cn11 = FakeNode("cn-11")
    certify(certified_hub, cn11)
    matching = record(title="人教版七年级数学上册 第一章 有理数 外省精品课件")
    envelopes = [cn11.envelope(matching), cn11.envelope(record(chapter="第二章 整式的加减")),
                 cn11.envelope(record(subject="物理", title="八年级物理 浮力"))]
    with django_capture_on_commit_callbacks(execute=True):
        result = pull("cn-hub", envelopes)
    assert result.applied == 3

    feed = teacher.get("/api/v1/feed").json()
    assert [(i["title"], i["origin"]) for i in feed["results"]] == [("人教版七年级数学上册 第一章 有理数 外省精品课件",
                                                                    "cn-11")]
    assert api_as(teachers["colleague"]).get("/api/v1/feed").json()["count"] == 0
    client.force_login(teachers["teacher"])
    page = client.get("/me/feed")
    assert page.status_code == 200 and "外省精品课件" in page.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        pull("cn-hub", envelopes)  # the same records again (the cursor is not moved back: applied anew)
    assert FeedItem.objects.count() == 1


def test_nothing_is_pushed_before_the_sync_commits(certified_hub, teachers, api_as):
    """The feed hears of a synced resource after commit only: a page whose transaction is rolled back pushes
    nothing."""
    api_as(teachers["teacher"]).post("/api/v1/follows", CHAPTER, format="json")
    cn11 = FakeNode("cn-11")
    certify(certified_hub, cn11)
    pull("cn-hub", [cn11.envelope(record())])  # the test's transaction is never committed: no callback ran
    assert Resource.objects.filter(origin_node="cn-11").exists()
    assert not FeedItem.objects.exists()


def test_a_resource_published_here_and_a_saved_search_reach_their_followers(
        orgs, users, api_as, django_capture_on_commit_callbacks):
    api_as(users["teacher"]).post("/api/v1/follows", {"query": "浮力 实验"}, format="json")
    api_as(users["rural_teacher"]).post("/api/v1/follows", {"subject": "物理", "grade": "八年级"}, format="json")
    api_as(users["school_admin"]).post("/api/v1/follows", {"query": "浮力 习题"}, format="json")
    resource = ResourceFactory(publisher=orgs["publisher"], title="八年级物理 浮力 实验微课", subject="物理",
                               grade="八年级", status=Resource.Status.APPROVED)
    with django_capture_on_commit_callbacks(execute=True):
        catalog_services.resource_publish(user=users["publisher"], resource=resource)
    pushed = set(FeedItem.objects.values_list("user__username", flat=True))
    assert pushed == {"teacher", "rural_teacher"}


def test_follows_are_the_teachers_own(users, api_as):
    teacher, colleague = api_as(users["teacher"]), api_as(users["school_admin"])
    follow = teacher.post("/api/v1/follows", {"subject": "数学"}, format="json").json()
    assert teacher.post("/api/v1/follows", {}, format="json").status_code == 400
    assert colleague.delete(f"/api/v1/follows/{follow['id']}").status_code == 404
    assert teacher.get("/api/v1/follows").json()["results"][0]["subject"] == "数学"
    assert teacher.delete(f"/api/v1/follows/{follow['id']}").status_code == 204
    assert api_as(users["publisher"]).get("/api/v1/follows").status_code == 403


@pytest.fixture
def fed_item(orgs, users):
    resource = ResourceFactory(publisher=orgs["publisher"], title="有理数 新课件")
    FeedItem.objects.create(user=users["teacher"], resource=resource, created_at=resource.created_at)
    return resource


def test_the_atom_feed_opens_with_its_token_only_and_a_new_token_or_revocation_closes_it(
        users, api_as, client, fed_item):
    api = api_as(users["teacher"])
    issued = api.post("/api/v1/feed/token")
    assert issued.status_code == 201 and issued["Cache-Control"] == "no-store"
    token, url = issued.json()["token"], issued.json()["url"]
    assert url.endswith(f"/feeds/{token}/atom")
    feed = client.get(f"/feeds/{token}/atom")
    assert feed.status_code == 200 and feed["Content-Type"].startswith("application/atom+xml")
    entries = ET.fromstring(feed.content).findall(f"{ATOM}entry")  # noqa: S314 - our own answer
    assert [e.findtext(f"{ATOM}title") for e in entries] == ["有理数 新课件"]
    assert token not in feed.content.decode()

    assert client.get(f"/feeds/{token[:-1]}x/atom").status_code == 404
    assert client.get("/feeds/x/atom").status_code == 404
    other = api_as(users["school_admin"]).post("/api/v1/feed/token").json()["token"]
    assert ET.fromstring(client.get(f"/feeds/{other}/atom").content).findall(f"{ATOM}entry") == []  # noqa: S314

    renewed = api.post("/api/v1/feed/token").json()["token"]
    assert client.get(f"/feeds/{token}/atom").status_code == 404
    assert client.get(f"/feeds/{renewed}/atom").status_code == 200
    assert api.delete("/api/v1/feed/token").status_code == 204
    assert client.get(f"/feeds/{renewed}/atom").status_code == 404
    assert api_as(users["publisher"]).post("/api/v1/feed/token").status_code == 403


def test_the_feed_token_never_reaches_a_log(users, api_as, client, fed_item):
    """Whatever the node logs about a feed request (a refused token is a 404 that ``django.request``
    logs with its path) goes through the configured redaction: the token never appears."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecretsFilter())
    loggers = [logging.getLogger(name) for name in ("django.request", "django.server", "exchange")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        token = api_as(users["teacher"]).post("/api/v1/feed/token").json()["token"]
        client.get(f"/feeds/{token}/atom")
        api_as(users["teacher"]).delete("/api/v1/feed/token")
        assert client.get(f"/feeds/{token}/atom").status_code == 404  # logged as "Not Found: <path>"
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    text = stream.getvalue()
    assert "/feeds/[REDACTED]" in text
    assert token not in text


def test_the_email_digest_goes_to_those_who_asked_once_per_item(users, api_as, fed_item, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    users["teacher"].email = "teacher@school.example"
    users["teacher"].save(update_fields=["email"])
    call_command("send_feed_digests", "--no-progress", stdout=io.StringIO())
    assert mail.outbox == []  # not asked for
    assert api_as(users["teacher"]).put("/api/v1/feed/digest", {"enabled": True}, format="json").json() == {
        "enabled": True}
    out = io.StringIO()
    call_command("send_feed_digests", "--no-progress", stdout=out)
    assert '"teachers": 1' in out.getvalue()
    (message,) = mail.outbox
    assert message.to == ["teacher@school.example"] and "有理数 新课件" in message.body
    assert f"/resources/{fed_item.pk}" in message.body
    call_command("send_feed_digests", "--no-progress", stdout=io.StringIO())
    assert len(mail.outbox) == 1  # sent items are not sent again
