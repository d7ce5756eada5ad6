"""The change feed: envelopes written with the change, signed records, tombstones with reasons,
paging, selective sets, backfill after a bulk import."""

from __future__ import annotations

import uuid

import pytest
from django.db import transaction

from catalog import services
from catalog.models import Resource
from catalog.remote import remote_resource_apply, resource_record
from exchange.models import AuditEvent
from federation import identity
from federation.errors import SetSpecInvalidError
from federation.models import OutboxEntry
from federation.outbox import NewEntry, feed_page, outbox_append, outbox_backfill, parse_sets
from federation.signing import MAX_ENVELOPE_BYTES, envelope_from_bytes, verify_envelope
from tests import factories
from tests.federation.federation_support import fed_fixture, province_node_fixture, record  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


@pytest.fixture
def node(province_node, users):
    return users


def _verified(entry: OutboxEntry):
    envelope = envelope_from_bytes(entry.envelope.encode())
    own = identity.own_public_keys()
    return verify_envelope(envelope, resolve_key=lambda origin, kid: own[kid])


def _approved(users) -> Resource:
    resource = factories.ResourceFactory(publisher=users["publisher"].organisation, status=Resource.Status.APPROVED)
    return resource


def test_publishing_appends_a_signed_envelope_in_the_same_transaction(node):
    """The envelope carries the full record (rights, file hashes), signed by this node."""
    resource = _approved(node)
    with transaction.atomic():
        services.resource_publish(user=node["reviewer"], resource=resource)
        assert OutboxEntry.objects.count() == 1  # written inside the transaction
    [entry] = OutboxEntry.objects.all()
    verified = _verified(entry)
    resource.refresh_from_db()
    assert (verified.kind, verified.origin, verified.id, verified.version) == (
        "upsert", "cn-44", str(resource.pk), resource.version)
    assert verified.payload == resource_record(Resource.objects.get(pk=resource.pk))
    assert verified.payload["rights"]["license"] == "CC-BY-4.0"
    assert verified.payload["files"][0]["sha256"] == resource.files.get().sha256
    assert entry.stage == "初中" and entry.subject == "数学"


def test_a_failed_change_leaves_no_feed_entry(node):
    resource = _approved(node)
    with pytest.raises(RuntimeError), transaction.atomic():
        services.resource_publish(user=node["reviewer"], resource=resource)
        raise RuntimeError("crash before commit")
    assert not OutboxEntry.objects.exists()


@pytest.mark.parametrize("who, reason", [("publisher", "withdrawn_by_publisher"), ("reviewer", "review_revoked")])
def test_withdrawal_is_a_tombstone_with_its_reason(node, who, reason):
    resource = factories.ResourceFactory(publisher=node["publisher"].organisation)
    services.resource_withdraw(user=node[who], resource=resource, reason=reason)
    [entry] = OutboxEntry.objects.all()
    verified = _verified(entry)
    assert verified.kind == "tombstone" and verified.payload["reason"] == reason
    assert verified.payload["stage"] == "初中" and verified.version == Resource.objects.get(pk=resource.pk).version


def test_takedown_is_a_tombstone_with_takedown_upheld(node):
    resource = factories.ResourceFactory(publisher=node["publisher"].organisation)
    services.resource_withdraw_for_takedown(resource=resource, actor=node["reviewer"], note="侵权")
    assert _verified(OutboxEntry.objects.get()).payload["reason"] == "takedown_upheld"


def test_rights_change_is_its_own_kind(node):
    """A revision that changes only the rights reaches the feed, once approved, as a ``rights`` change."""
    resource = factories.ResourceFactory(publisher=node["publisher"].organisation)
    factories.revise(resource, publisher=node["publisher"], reviewer=node["reviewer"],
                     rights={"license": "ALL-RIGHTS-RESERVED", "price": 3})
    verified = _verified(OutboxEntry.objects.get())
    assert verified.kind == "rights" and verified.payload["rights"]["price"] == 3


def test_drafts_and_remote_resources_make_no_entries(node):
    draft = factories.ResourceFactory(publisher=node["publisher"].organisation, status=Resource.Status.DRAFT)
    services.resource_update(user=node["publisher"], resource=draft, metadata={"title": "改过的标题"})
    remote_resource_apply(envelope_payload=record(), origin="cn-11", version=1, kind="upsert")
    assert not OutboxEntry.objects.exists()


def test_feed_pages_move_forward_and_filter_by_set(node):
    """`next` covers entries skipped by the set filter, so a selective reader moves forward too."""
    org = node["publisher"].organisation
    high = factories.ResourceFactory(publisher=org, stage="高中", grade="高一")
    factories.ResourceFactory(publisher=org)
    factories.ResourceFactory(publisher=org, subject="语文")
    assert outbox_backfill() == 3
    page = feed_page(since=0, limit=2)
    assert len(page.envelopes) == 2 and page.next == 2 and page.more and page.head == 3
    rest = feed_page(since=page.next, limit=2)
    assert len(rest.envelopes) == 1 and rest.next == 3 and not rest.more
    only_high = feed_page(since=0, limit=10, sets=parse_sets(["stage:高中"]))
    assert [envelope_from_bytes(e.encode())["id"] for e in only_high.envelopes] == [str(high.pk)]
    assert only_high.next == 3 and not only_high.more
    both = feed_page(since=0, limit=10, sets=parse_sets(["stage:初中,subject:语文"]))
    assert len(both.envelopes) == 1
    assert feed_page(since=3, limit=10).envelopes == []


def test_a_feed_page_keeps_within_its_byte_budget(node, settings):
    """Cut by bytes, a page says there is more and where to go on from; a single envelope larger
    than the budget still travels (alone)."""
    org = node["publisher"].organisation
    for _ in range(3):
        factories.ResourceFactory(publisher=org)
    assert outbox_backfill() == 3
    first_two = sum(len(e.envelope.encode()) + 1 for e in OutboxEntry.objects.filter(seq__lte=2))
    settings.FEDERATION_MAX_PAGE_BYTES = first_two
    page = feed_page(since=0, limit=10)
    assert len(page.envelopes) == 2 and page.next == 2 and page.more
    rest = feed_page(since=page.next, limit=10)
    assert len(rest.envelopes) == 1 and rest.next == 3 and not rest.more
    settings.FEDERATION_MAX_PAGE_BYTES = 10
    tiny = feed_page(since=0, limit=10)
    assert len(tiny.envelopes) == 1 and tiny.next == 1 and tiny.more


def test_set_specs_are_checked():
    with pytest.raises(SetSpecInvalidError):
        parse_sets(["grade:七年级"])
    with pytest.raises(SetSpecInvalidError):
        parse_sets(["stage:初中,stage:高中"])
    assert parse_sets(["stage:初中", "subject:数学,stage:高中"]) == [
        {"stage": "初中"}, {"subject": "数学", "stage": "高中"}]


def test_backfill_adds_imported_resources_once(node):
    """Bulk imports bypass the change hooks; backfill signs what is missing, and only that."""
    org = node["publisher"].organisation
    resources = [factories.ResourceFactory(publisher=org) for _ in range(3)]
    assert outbox_backfill(batch_size=2) == 3
    assert outbox_backfill() == 0
    factories.revise(resources[0], publisher=node["publisher"], reviewer=node["reviewer"], metadata={"title": "第二版"})
    assert OutboxEntry.objects.count() == 4 and outbox_backfill() == 0
    seqs = list(OutboxEntry.objects.values_list("seq", flat=True))
    assert seqs == [1, 2, 3, 4]


def test_import_corpus_signs_its_records_into_the_feed_in_the_same_transaction(node, tmp_path):
    """A bulk import reaches peers without a backfill: one signed upsert per imported resource,
    written with the batch; importing the same lines again adds nothing."""
    import json

    from catalog.importer import import_records
    from catalog.sampledata import generate

    lines = [json.dumps(r, ensure_ascii=False) for r in generate(5, seed=3)]
    report = import_records(lines, with_files=True, placeholder_files=True, index=False, batch_size=2)
    assert report.created == 5 and not report.errors
    entries = list(OutboxEntry.objects.order_by("seq"))
    assert sorted(str(e.resource_id) for e in entries) == sorted(report.created_ids)
    verified = [_verified(e) for e in entries]
    assert {v.kind for v in verified} == {"upsert"} and {v.origin for v in verified} == {"cn-44"}
    assert all(v.payload == resource_record(Resource.objects.get(pk=v.id)) for v in verified)
    assert all(len(v.payload["files"]) == 1 for v in verified)  # the stored files are signed with the record
    assert import_records(lines, with_files=False, index=False).created == 0
    assert OutboxEntry.objects.count() == 5 and outbox_backfill() == 0


def test_a_failed_import_batch_leaves_no_feed_entry(node, monkeypatch):
    import json

    from catalog.importer import import_records
    from catalog.sampledata import generate

    def broken_audit(**kwargs):
        raise RuntimeError("crash after the feed entries were written")

    monkeypatch.setattr("catalog.importer.audit_record", broken_audit)
    with pytest.raises(RuntimeError):
        import_records([json.dumps(r, ensure_ascii=False) for r in generate(3, seed=4)], with_files=False, index=False)
    assert not OutboxEntry.objects.exists() and not Resource.objects.exists()


def test_http_feed_endpoint_answers_with_canonical_envelopes(client, node):
    from tests.federation.federation_support import FakeNode, send

    factories.ResourceFactory(publisher=node["publisher"].organisation)
    outbox_backfill()
    # A province answers signed requests from certified nodes only: here the hub pulls it.
    hub = FakeNode("cn-hub", role="hub")
    from federation.models import Peer, PeerKey

    peer = Peer.objects.create(node_id="cn-hub", role="hub", status="active", base_url="http://127.0.0.1:8100")
    PeerKey.objects.create(peer=peer, kid=hub.key.kid, public_jwk=hub.jwk, anchor=True)
    response, _ = send(client, hub, "GET", "/federation/v1/changes?since=0&limit=5")
    assert response.status_code == 200
    body = response.json()
    assert body["next"] == 1 and body["more"] is False and len(body["envelopes"]) == 1
    assert body["envelopes"][0]["origin"] == "cn-44"
    bad, _ = send(client, hub, "GET", "/federation/v1/changes?since=0&set=grade:x")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "set_invalid"
    assert not AuditEvent.objects.filter(action="federation.request_refused").exists()


def test_an_entry_over_the_envelope_limit_is_never_served(node):
    """A relay can always serve what it holds: an entry stored before envelopes had a weight limit is
    left out of every page (its sequence number covered), so no reader is held up by it."""
    texts = ('{"a":1}', '{"b":"' + "x" * MAX_ENVELOPE_BYTES + '"}', '{"c":3}')
    before = OutboxEntry.objects.count()
    outbox_append([NewEntry(origin="cn-11", resource_id=str(uuid.uuid4()), version=1, kind="upsert", stage="",
                            subject="", envelope=text, content_hash="0" * 64) for text in texts])
    page = feed_page(since=before, limit=10)
    assert page.envelopes == ['{"a":1}', '{"c":3}'] and page.next == before + 3 and not page.more
    first = feed_page(since=before, limit=2)
    assert first.envelopes == ['{"a":1}'] and first.next == before + 2 and first.more
