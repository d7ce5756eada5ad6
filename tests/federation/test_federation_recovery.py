"""Disaster recovery from the federation: a province that lost its database rebuilds its own catalog from
the envelopes the hub relays back (verified with its own key history, old keys included), continues its
feed where the hub had read it to, and gets file bytes the hub holds; and a node that lost its key is
approved with a replacement key without revoking the old one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from catalog import services
from catalog.models import Resource
from catalog.remote import catalog_digest, resource_record
from exchange.errors import ExchangeError
from federation import hub, identity, trust
from federation.errors import EnrolmentStateError
from federation.models import Enrolment, NodeKey, OutboxEntry, OutboxHead, Peer, PeerKey
from federation.signing import SigningKey, generate_private_key, issue_certificate, public_key_to_jwk
from federation.sync import Page, PullResult, apply_page, verify_page
from tests import factories
from tests.federation.federation_support import (  # noqa: F401 - fixtures
    FakeNode,
    certified_hub_fixture,
    certify,
    enrol_and_approve,
    fed_fixture,
    hub_node_fixture,
    province_node_fixture,
    province_peer_fixture,
    record,
)

pytestmark = pytest.mark.django_db


def hub_relays(envelopes: list[dict], *, restore_own: bool = True) -> PullResult:
    """The hub's feed, read from the start by this node in recovery."""
    peer = Peer.objects.get(node_id="cn-hub")
    page = Page(envelopes=envelopes, next=peer.cursor + len(envelopes), more=False, head=peer.cursor + len(envelopes))
    result = PullResult(node_id="cn-hub", restore_own=restore_own)
    assert apply_page(peer, since=peer.cursor, page=page, verified=verify_page(peer, page, result), result=result)
    return result


def own_feed() -> list[dict]:
    import json

    return [json.loads(e.envelope) for e in OutboxEntry.objects.filter(origin="cn-44").order_by("seq")]


def wipe_catalog() -> None:
    """What a lost database leaves: nothing of the catalog or the feed (the node keeps its key file)."""
    Resource.objects.all().delete()
    OutboxEntry.objects.all().delete()
    OutboxHead.objects.all().delete()


def test_a_province_rebuilds_its_catalog_from_what_the_hub_relays(certified_hub, users):
    cn11 = FakeNode("cn-11")
    certify(certified_hub, cn11)
    org = users["publisher"].organisation
    kept = factories.ResourceFactory(publisher=org, status=Resource.Status.APPROVED)
    services.resource_publish(user=users["reviewer"], resource=kept)
    edited = factories.ResourceFactory(publisher=org, status=Resource.Status.APPROVED)
    services.resource_publish(user=users["reviewer"], resource=edited)
    factories.revise(Resource.objects.get(pk=edited.pk), publisher=users["publisher"], reviewer=users["reviewer"],
                     rights={"license": "CC-BY-SA-4.0"})
    gone = factories.ResourceFactory(publisher=org, status=Resource.Status.APPROVED)
    services.resource_publish(user=users["reviewer"], resource=gone)
    services.resource_withdraw(user=users["publisher"], resource=Resource.objects.get(pk=gone.pk),
                               reason="withdrawn_by_publisher")
    before = catalog_digest(origin="cn-44")
    relayed = own_feed()
    others = [cn11.envelope(record()) for _ in range(2)]
    assert before["count"] == 2 and len(relayed) == 5  # 3 publications, a rights change, a withdrawal

    wipe_catalog()
    Peer.objects.filter(node_id="cn-hub").update(cursor=0)
    result = hub_relays([others[0], *relayed, others[1]])
    assert result.ok and result.restored == 5
    assert catalog_digest(origin="cn-44") == before  # the same records, versions and content
    restored = Resource.objects.get(pk=edited.pk)
    assert not restored.is_remote and restored.version == Resource.objects.get(pk=edited.pk).version
    assert restored.rights.license_id == "CC-BY-SA-4.0" and restored.publisher.name == org.name
    assert Resource.objects.get(pk=gone.pk).status == Resource.Status.WITHDRAWN
    assert Resource.objects.filter(origin_node="cn-11", is_remote=True).count() == 2
    assert own_feed() == relayed  # back in its own feed byte for byte
    assert services.can_edit(users["publisher"], restored)  # its publisher's members hold their rights again
    assert hub_relays(relayed).restored == 0  # idempotent


def test_envelopes_signed_with_a_key_this_node_no_longer_has_verify_through_the_hubs_certificate(
        certified_hub, users):
    """The node's database (and with it the record of its old keys) is gone; the hub's signed directory
    brings back the certificate of the key it used before a rotation."""
    old = SigningKey.from_private_key(generate_private_key())
    me = FakeNode("cn-44", key=old)
    rec = record(province="440000", publisher=users["publisher"].organisation.name)
    signed_before = me.envelope(rec, issued_at=datetime.now(UTC) - timedelta(days=3))
    Peer.objects.filter(node_id="cn-hub").update(cursor=0)
    refused = PullResult(node_id="cn-hub", restore_own=True)
    page = Page(envelopes=[signed_before], next=1, more=False, head=1)
    with pytest.raises(ExchangeError):  # unknown key (the directory that would explain it is out of reach)
        verify_page(Peer.objects.get(node_id="cn-hub"), page, refused)
    token = issue_certificate(hub_key=certified_hub.key.private_key, hub_kid=certified_hub.key.kid, hub_id="cn-hub",
                              node_id="cn-44", role="province", region="440000",
                              node_public_jwk=public_key_to_jwk(old.public_key),
                              not_before=datetime.now(UTC) - timedelta(days=7), not_after=datetime.now(UTC) - timedelta(days=1))
    trust.directory_apply({"nodes": [{"node_id": "cn-44", "certificates": [token]}]}, received_from="cn-hub")
    learned = NodeKey.objects.get(kid=old.kid)
    assert learned.status == NodeKey.Status.RETIRED and learned.private_key_path == ""
    assert hub_relays([signed_before]).restored == 1
    assert resource_record(Resource.objects.get(pk=rec["id"]))["title"] == rec["title"]
    assert old.kid not in identity.own_public_keys()  # never published or used to sign again


def test_the_hub_serves_a_cached_file_back_to_its_origin_only(users, province_peer):
    from catalog.models import ResourceFile
    from federation.files import open_served_file
    from tests.federation.test_federation_sync import process

    local = factories.ResourceFactory(publisher=users["publisher"].organisation)  # bytes stored here
    sha = local.files.get().sha256
    files = [{"sha256": sha, "size": local.files.get().size, "mime": "application/pdf", "name": "a.pdf",
              "position": 0, "duration_seconds": None}]
    rec = record(files=files)
    process("cn-11", [province_peer.envelope(rec)])
    local.delete()  # now only cn-11's record names these bytes
    assert ResourceFile.objects.get(resource_id=rec["id"]).available_locally
    assert open_served_file(sha, requester="cn-12") is None
    served = open_served_file(sha, requester="cn-11")
    assert served is not None and served[0].resource.origin_node == "cn-11"


def test_a_node_that_lost_its_key_is_approved_with_a_replacement_without_revoking_the_old_one(province_peer):
    replacement = FakeNode("cn-11")
    request = hub.enrolment_receive(node_id="cn-11", role="province", region="110000",
                                    base_url="http://127.0.0.1:8101", name="", jwk=replacement.jwk,
                                    signer_kid=replacement.key.kid)
    assert request.status == Enrolment.Status.PENDING
    with pytest.raises(EnrolmentStateError, match="replacement"):
        hub.enrolment_approve(node_id="cn-11", fingerprint_seen=replacement.fingerprint, actor="op")
    hub.enrolment_approve(node_id="cn-11", fingerprint_seen=replacement.fingerprint, actor="op", replace_key=True)
    rows = {row.kid: row.status for row in Enrolment.objects.filter(node_id="cn-11")}
    assert rows == {replacement.key.kid: "approved", province_peer.key.kid: "superseded"}
    old = PeerKey.objects.get(kid=province_peer.key.kid)
    assert not old.revoked  # what the lost key signed stays valid
    assert trust.envelope_key("cn-11", province_peer.key.kid)[0] is not None
    assert trust.request_key(replacement.key.kid)[1].node_id == "cn-11"


def test_a_node_restored_from_an_older_backup_continues_its_feed_after_what_the_hub_read(province_node):
    """The hub has read the node's feed up to 500; the node's restored feed ends at 3. Its next change
    must be numbered after 500, or the hub would never read it."""
    from exchange.models import AuditEvent
    from federation.enrolment import feed_position_check
    from federation.outbox import outbox_append, outbox_head
    from tests.hostile import HostilePeer

    hub_peer = HostilePeer("cn-hub")
    try:
        peer = Peer.objects.create(node_id="cn-hub", role="hub", status="active", pull=True, base_url=hub_peer.url)
        PeerKey.objects.create(peer=peer, kid=hub_peer.key.kid, public_jwk=public_key_to_jwk(hub_peer.key.public_key),
                               anchor=True)
        hub_peer.answers["/federation/v1/enrolments/cn-44"] = {"node_id": "cn-44", "status": "approved",
                                                               "feed_cursor": 500, "certificate": None}
        OutboxHead.objects.update_or_create(id=1, defaults={"last_seq": 3})
        assert feed_position_check() == "feed continued after 500 (was 3)"
        assert outbox_head() == 500 and AuditEvent.objects.filter(action="federation.feed_continued").exists()
        from federation.outbox import NewEntry

        [seq] = outbox_append([NewEntry(origin="cn-44", resource_id="0b7c3f2e-5d1a-4c0e-9f1b-2a3c4d5e6f70",
                                        version=1, kind="upsert", stage="", subject="", envelope="{}",
                                        content_hash="0" * 64)])
        assert seq == 501
        assert feed_position_check() == "current"
    finally:
        hub_peer.close()
