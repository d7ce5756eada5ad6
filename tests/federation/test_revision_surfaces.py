"""A change to a published resource reaches no public surface — the API, the resource page, search,
OAI-PMH, the federation feed — until a reviewer of the province has approved it; then it reaches all of
them as one new version. Remote records show the versions this node applied, from their signed records."""

from __future__ import annotations

import pytest
from django.test import Client

from catalog import services
from catalog.models import Resource
from catalog.remote import remote_resource_apply
from catalog.review.revisions import revision_cancel
from federation.models import OutboxEntry
from federation.oai.records import oai_identifier
from federation.signing import envelope_from_bytes
from tests import factories
from tests.federation.federation_support import fed_fixture, province_node_fixture, record  # noqa: F401 - fixtures
from tests.federation.oai_support import NS, oai_get

pytestmark = pytest.mark.django_db
OLD, NEW = "勾股定理 探究课件", "勾股定理 逆定理 复习课件"


def surfaces(client: Client, resource: Resource) -> dict[str, object]:
    """What the public sees of ``resource`` everywhere it is shown."""
    detail = client.get(f"/api/v1/resources/{resource.pk}").json()
    hits = {q: [h["id"] for h in client.get("/api/v1/search", {"q": q}).json()["results"]] for q in ("逆定理", "探究")}
    oai = oai_get(client, verb="GetRecord", identifier=oai_identifier(resource.pk), metadataPrefix="oai_dc")
    page = client.get(f"/resources/{resource.pk}").content.decode()
    return {
        "api": (detail["title"], detail["version"], detail["rights"]["license"], detail["rights"]["price"]),
        "search 逆定理": hits["逆定理"], "search 探究": hits["探究"],
        "oai": (oai.findtext(".//dc:title", namespaces=NS), oai.findtext(".//oai:datestamp", namespaces=NS)),
        "page shows new title": NEW in page,
        "feed": OutboxEntry.objects.count(),
    }


@pytest.fixture
def live(province_node, users, settings, tmp_path, django_capture_on_commit_callbacks):
    """A resource published on this province node (its envelope in the feed, indexed)."""
    settings.CATALOG_SEARCH_DIR = tmp_path / "search"
    resource = factories.ResourceFactory(publisher=users["publisher"].organisation, status=Resource.Status.APPROVED,
                                         title=OLD)
    with django_capture_on_commit_callbacks(execute=True):
        services.resource_publish(user=users["reviewer"], resource=resource)
    return Resource.objects.get(pk=resource.pk)


def test_a_pending_revision_reaches_no_public_surface_until_approved(live, users, province,
                                                                     django_capture_on_commit_callbacks):
    client = Client()
    before = surfaces(client, live)
    assert before["api"] == (OLD, live.version, "CC-BY-4.0", 0) and before["search 探究"] == [str(live.pk)]
    assert before["feed"] == 1
    with django_capture_on_commit_callbacks(execute=True):
        services.resource_update(user=users["publisher"], resource=live, metadata={"title": NEW},
                                 rights={"license": "ALL-RIGHTS-RESERVED", "price": 4, "territory": [province]})
        services.resource_submit(user=users["publisher"], resource=live)
    assert surfaces(client, live) == before  # in review: nothing public changed, nothing went to the feed

    with django_capture_on_commit_callbacks(execute=True):
        services.resource_approve(user=users["reviewer"], resource=live)
    after = surfaces(client, live)
    version = Resource.objects.get(pk=live.pk).version
    assert after["api"] == (NEW, version, "ALL-RIGHTS-RESERVED", 4) and version == live.version + 1
    assert after["search 逆定理"] == [str(live.pk)] and after["oai"][0] == NEW and after["page shows new title"]
    assert after["oai"][1] >= before["oai"][1]
    assert after["feed"] == 2
    envelope = envelope_from_bytes(OutboxEntry.objects.order_by("-seq").first().envelope.encode())
    assert (envelope["kind"], envelope["version"], envelope["payload"]["title"]) == ("upsert", version, NEW)


def test_a_rejected_or_cancelled_revision_never_reaches_the_feed(live, users, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.resource_update(user=users["publisher"], resource=live, metadata={"title": NEW})
        services.resource_submit(user=users["publisher"], resource=live)
        services.resource_reject(user=users["reviewer"], resource=live, reason="不需要修改")
        services.resource_update(user=users["publisher"], resource=live, metadata={"description": "再改"})
    revision_cancel(user=users["publisher"], resource=live)
    assert OutboxEntry.objects.count() == 1
    assert Resource.objects.get(pk=live.pk).title == OLD


def test_a_remote_resource_shows_the_versions_this_node_applied(province_node, api):
    """History of a remote record, from the signed records applied here (newest first, with the changes)."""
    first = record(title="远程课件 第一版")
    remote_resource_apply(envelope_payload=first, origin="cn-11", version=3, kind="upsert")
    second = first | {"title": "远程课件 第二版", "rights": first["rights"] | {"price": 2,
                                                                         "license": "ALL-RIGHTS-RESERVED"}}
    remote_resource_apply(envelope_payload=second, origin="cn-11", version=5, kind="upsert")
    remote_resource_apply(envelope_payload=first, origin="cn-11", version=4, kind="upsert")  # stale: not kept
    history = api.get(f"/api/v1/resources/{first['id']}/history").json()
    assert [v["version"] for v in history["versions"]] == [5, 3]
    assert [v["source"] for v in history["versions"]] == ["remote", "remote"]
    newest = history["versions"][0]
    assert [(c["field"], c["old"], c["new"]) for c in newest["changes"]["fields"]] == [
        ("title", "远程课件 第一版", "远程课件 第二版")]
    assert {c["field"] for c in newest["changes"]["rights"]} == {"price", "license"}
    assert history["versions"][1]["metadata"]["title"] == "远程课件 第一版"
    page = Client().get(f"/resources/{first['id']}/history")
    assert page.status_code == 200 and "远程课件 第一版" in page.content.decode()
