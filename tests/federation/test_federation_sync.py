"""The pull engine's page handling: every envelope verified against its origin before anything is
stored; a page and the cursor move together; idempotent; the hub relays envelopes unchanged."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest
from django.utils import timezone

from catalog.models import Resource
from exchange.errors import ExchangeError
from exchange.models import AuditEvent
from federation import identity
from federation.models import OutboxEntry, Peer, PeerKey, RemoteRecord
from federation.signing import envelope_to_bytes
from federation.sync import Page, PullResult, _record_error, apply_page, verify_page
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


def process(peer_id: str, envelopes: list[dict], *, since: int | None = None) -> PullResult:
    """What pull_peer does with one fetched page."""
    peer = Peer.objects.get(node_id=peer_id)
    since = peer.cursor if since is None else since
    page = Page(envelopes=envelopes, next=since + len(envelopes), more=False, head=since + len(envelopes))
    result = PullResult(node_id=peer_id)
    verified = verify_page(peer, page, result)
    assert apply_page(peer, since=since, page=page, verified=verified, result=result)
    return result


def refused(peer_id: str, envelopes: list[dict]) -> str:
    """Process a page expected to be refused; return the error code, checking nothing was stored."""
    before = (Resource.objects.count(), RemoteRecord.objects.count(), OutboxEntry.objects.count(),
              Peer.objects.get(node_id=peer_id).cursor)
    with pytest.raises(ExchangeError) as info:
        process(peer_id, envelopes)
    after = (Resource.objects.count(), RemoteRecord.objects.count(), OutboxEntry.objects.count(),
             Peer.objects.get(node_id=peer_id).cursor)
    assert after == before
    return info.value.code


def test_hub_applies_a_province_page_relays_it_unchanged_and_moves_the_cursor(province_peer):
    envelopes = [province_peer.envelope(record()) for _ in range(3)]
    result = process("cn-11", envelopes)
    assert result.applied == 3 and result.relayed == 3
    assert Resource.objects.filter(is_remote=True, origin_node="cn-11").count() == 3
    relayed = [entry.envelope.encode() for entry in OutboxEntry.objects.order_by("seq")]
    assert relayed == [envelope_to_bytes(e) for e in envelopes]
    peer = Peer.objects.get(node_id="cn-11")
    assert peer.cursor == 3 and peer.last_success_at is not None


def test_applying_the_same_page_again_changes_nothing(province_peer):
    envelopes = [province_peer.envelope(record()) for _ in range(2)]
    process("cn-11", envelopes)
    again = process("cn-11", envelopes)
    assert again.applied == 0 and again.relayed == 0
    assert OutboxEntry.objects.count() == 2 and Resource.objects.count() == 2


def test_a_page_whose_cursor_moved_meanwhile_is_dropped(province_peer):
    envelopes = [province_peer.envelope(record())]
    process("cn-11", envelopes)
    peer = Peer.objects.get(node_id="cn-11")
    page = Page(envelopes=envelopes, next=1, more=False, head=1)
    result = PullResult(node_id="cn-11")
    assert not apply_page(peer, since=0, page=page, verified=verify_page(peer, page, result), result=result)


def test_tombstone_and_newer_versions_travel_through_the_hub(province_peer):
    rec = record()
    process("cn-11", [province_peer.envelope(rec, version=1)])
    tomb = province_peer.envelope({"id": rec["id"], "reason": "takedown_upheld", "stage": "初中", "subject": "数学"},
                                  version=2, kind="tombstone")
    process("cn-11", [tomb])
    assert Resource.objects.get(pk=rec["id"]).status == "withdrawn"
    assert RemoteRecord.objects.get(resource_id=rec["id"]).kind == "tombstone"
    assert OutboxEntry.objects.count() == 2


def test_bit_flips_in_envelopes_are_refused_and_nothing_is_stored(province_peer):
    good = province_peer.envelope(record())
    flipped = copy.deepcopy(good)
    flipped["payload"]["title"] = flipped["payload"]["title"].replace("数学", "物理")
    assert refused("cn-11", [province_peer.envelope(record()), flipped]) == "envelope_signature_invalid"


def test_a_province_feed_may_only_carry_its_own_envelopes(province_peer):
    other = FakeNode("cn-12")
    enrol_and_approve(other, base_url="http://127.0.0.1:8198")
    assert refused("cn-11", [other.envelope(record())]) == "envelope_origin_mismatch"


def test_swapped_origin_is_refused(province_peer):
    other = FakeNode("cn-12")
    enrol_and_approve(other, base_url="http://127.0.0.1:8198")
    envelope = other.envelope(record())
    envelope["origin"] = "cn-11"  # claims cn-11 sent it; cn-11's key does not know that kid
    assert refused("cn-11", [envelope]) == "unknown_key"
    envelope = province_peer.envelope(record())
    envelope["kid"] = other.key.kid  # cn-12's key id with cn-11's signature
    assert refused("cn-11", [envelope]) == "unknown_key"


def test_envelopes_from_unknown_keys_are_refused(province_peer):
    stranger = FakeNode("cn-11")  # right node id, key never certified
    assert refused("cn-11", [stranger.envelope(record())]) == "unknown_key"


def test_malformed_envelopes_are_refused(province_peer):
    envelope = province_peer.envelope(record())
    envelope["extra"] = 1
    assert refused("cn-11", [envelope]) == "envelope_malformed"


def test_envelopes_issued_after_their_key_expired_are_refused(province_peer):
    PeerKey.objects.filter(peer_id="cn-11").update(not_after=timezone.now() - timedelta(days=1))
    assert refused("cn-11", [province_peer.envelope(record())]) == "envelope_key_not_valid"
    old = province_peer.envelope(record(), issued_at=timezone.now() - timedelta(days=2))
    assert process("cn-11", [old]).applied == 1


def test_envelopes_of_a_revoked_origin_are_skipped_one_by_one(province_peer):
    """On a province pulling the hub: a revoked origin's envelopes are refused, others applied."""
    other = FakeNode("cn-12")
    enrol_and_approve(other, base_url="http://127.0.0.1:8198")
    from federation import hub

    hub.node_revoke(node_id="cn-12", actor="op")
    # pretend cn-11 relays (as the hub does: not a child of this node, so its feed may carry any origin)
    Peer.objects.filter(node_id="cn-11").update(role="hub", relation="")
    result = process("cn-11", [other.envelope(record()), province_peer.envelope(record())])
    assert result.refused_revoked == 1 and result.applied == 1


def test_province_skips_its_own_envelopes_coming_back_from_the_hub(certified_hub):
    hub = certified_hub
    cn11 = FakeNode("cn-11")
    certify(hub, cn11)
    me = FakeNode("cn-44", key=identity.signing_key())
    result = process("cn-hub", [me.envelope(record()), cn11.envelope(record()), hub.envelope(record())])
    assert result.skipped_own == 1 and result.applied == 2 and result.relayed == 0
    assert not OutboxEntry.objects.exists()
    assert set(Resource.objects.values_list("origin_node", flat=True)) == {"cn-11", "cn-hub"}


def test_pull_errors_are_recorded_on_the_peer_and_audited_once(province_peer):
    from federation.signing import EnvelopeSignatureError

    peer = Peer.objects.get(node_id="cn-11")
    for _ in range(2):
        _record_error(peer, EnvelopeSignatureError(details={"origin": "cn-11"}))
    peer.refresh_from_db()
    assert peer.last_error_code == "envelope_signature_invalid"
    assert AuditEvent.objects.filter(action="federation.feed_refused").count() == 1


@pytest.fixture
def verify_workers(settings):
    from federation.sync import verify_pool_shutdown

    settings.FEDERATION_VERIFY_WORKERS = 2
    yield
    verify_pool_shutdown()


def test_worker_pool_verifies_and_refuses_like_the_inline_path(province_peer, verify_workers):
    """With FEDERATION_VERIFY_WORKERS the same envelopes pass and the same tampering is refused."""
    envelopes = [province_peer.envelope(record()) for _ in range(7)]
    result = process("cn-11", envelopes)
    assert result.applied == 7
    relayed = [entry.envelope.encode() for entry in OutboxEntry.objects.order_by("seq")]
    assert relayed == [envelope_to_bytes(e) for e in envelopes]
    flipped = province_peer.envelope(record())
    flipped["payload"]["title"] = "篡改"
    assert refused("cn-11", [province_peer.envelope(record()), flipped]) == "envelope_signature_invalid"
    assert refused("cn-11", [FakeNode("cn-11").envelope(record())]) == "unknown_key"


def test_worker_pool_gives_exactly_what_inline_verification_gives(province_peer, verify_workers, settings):
    """Workers send back only canonical bytes, hash and time; paired with the parent's envelopes
    they make the very VerifiedEnvelopes the inline path makes."""
    envelopes = [province_peer.envelope(record()) for _ in range(5)]
    peer = Peer.objects.get(node_id="cn-11")
    page = Page(envelopes=envelopes, next=5, more=False, head=5)
    by_workers = verify_page(peer, page, PullResult(node_id="cn-11"))
    settings.FEDERATION_VERIFY_WORKERS = 0
    inline = verify_page(peer, page, PullResult(node_id="cn-11"))
    assert len(by_workers) == 5 and by_workers == inline
    assert [v.canonical for v in by_workers] == [envelope_to_bytes(e) for e in envelopes]


def test_a_squatted_id_loses_nothing_and_the_clash_is_loud_at_the_hub(province_peer):
    """A rogue province that knows an id in advance publishes it first under its own origin; the
    genuine origin's record arrives later. Both are applied and relayed; the clash is recorded."""
    from federation.models import IdClash

    rogue = FakeNode("cn-66")
    enrol_and_approve(rogue, base_url="http://127.0.0.1:8166")
    genuine = record()
    assert process("cn-66", [rogue.envelope(record(genuine["id"], title="抢注的编号"))]).outcomes == {"created": 1}
    result = process("cn-11", [province_peer.envelope(genuine)])
    assert result.outcomes == {"created": 1} and result.relayed == 1
    held = {r.origin_node: r.title for r in Resource.objects.filter(record_id=genuine["id"])}
    assert held == {"cn-66": "抢注的编号", "cn-11": genuine["title"]}
    clash = IdClash.objects.get(origin="cn-11", record_id=genuine["id"])
    assert clash.holder == "cn-66" and clash.received_from == "cn-11"
    assert AuditEvent.objects.filter(action="federation.id_clash", object_id=genuine["id"]).count() == 1
    relayed = OutboxEntry.objects.filter(resource_id=genuine["id"]).values_list("origin", flat=True)
    assert sorted(relayed) == ["cn-11", "cn-66"]  # provinces get both records from the hub


def signed_anyway(node: FakeNode, payload: dict, *, version: int = 1, kind: str = "upsert") -> dict:
    """An envelope signed correctly by ``node`` as a hostile origin would, without the protocol's weight
    checks that honest signers apply (``sign_envelope`` refuses to make these)."""
    from federation.signing import canonical_json
    from federation.signing.encoding import b64url_encode

    unsigned = {"v": 1, "kind": kind, "origin": node.node_id, "id": payload["id"], "version": version,
                "issued_at": timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ"), "kid": node.key.kid, "payload": payload}
    return {**unsigned, "sig": b64url_encode(node.key.sign(canonical_json(unsigned)))}


def test_one_oversized_or_padded_envelope_is_skipped_alone_and_never_relayed(province_peer):
    """The attack: a correctly signed envelope padded so that the hub's page carrying it would exceed what
    provinces read. It is refused at ingest, alone: the rest of the page is applied and relayed, the
    cursor moves on, and the refusal is audited."""
    from federation.signing import MAX_ENVELOPE_BYTES

    huge = signed_anyway(province_peer, record(description="长" * (MAX_ENVELOPE_BYTES // 3 + 1)))
    padded = signed_anyway(province_peer, {**record(), "padding": "x" * 5000})
    honest = [province_peer.envelope(record()) for _ in range(2)]
    future = province_peer.envelope({**record(), "added_in_a_later_v1": {"small": True}})
    result = process("cn-11", [honest[0], huge, padded, honest[1], future])
    assert result.refused_too_large == 2 and result.applied == 3 and result.relayed == 3
    assert Peer.objects.get(node_id="cn-11").cursor == 5
    assert {huge["id"], padded["id"]}.isdisjoint({str(rid) for rid in Resource.objects.values_list("record_id", flat=True)})
    assert {str(e.resource_id) for e in OutboxEntry.objects.all()} == {e["id"] for e in (*honest, future)}
    assert envelope_to_bytes(future) in [e.envelope.encode() for e in OutboxEntry.objects.all()]  # unchanged
    assert AuditEvent.objects.filter(action="federation.envelope_refused").count() == 2


def test_an_honest_origin_cannot_sign_an_envelope_over_the_limit(province_peer):
    from federation.signing import MAX_ENVELOPE_BYTES, EnvelopeTooLargeError

    with pytest.raises(EnvelopeTooLargeError):
        province_peer.envelope(record(description="长" * (MAX_ENVELOPE_BYTES // 3 + 1)))


def test_worker_pool_skips_oversized_envelopes_like_the_inline_path(province_peer, verify_workers):
    from federation.signing import MAX_ENVELOPE_BYTES

    huge = signed_anyway(province_peer, record(description="长" * (MAX_ENVELOPE_BYTES // 3 + 1)))
    honest = [province_peer.envelope(record()) for _ in range(3)]
    result = process("cn-11", [honest[0], huge, *honest[1:]])
    assert (result.refused_too_large, result.applied) == (1, 3)


def test_the_hub_never_relays_a_replayed_older_version(province_peer):
    """A province's page with versions 2 and 1 of a record, then version 1 replayed alone: the hub's feed
    holds version 2 once and never version 1 (the hub relays only what it applied)."""
    import uuid

    rid = str(uuid.uuid4())
    v1, v2 = province_peer.envelope(record(rid), version=1), province_peer.envelope(record(rid), version=2)
    process("cn-11", [v2, v1, v2, v1])
    result = process("cn-11", [v1])
    assert result.relayed == 0
    assert list(OutboxEntry.objects.filter(resource_id=rid).values_list("version", flat=True)) == [2]
