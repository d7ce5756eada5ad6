"""Pinning the hub's key at enrolment: only the key a person confirmed is trusted. The well-known
document is unsigned, so a key listed beside the confirmed one (by whoever can change the document or
the network path) must never become an anchor on its word; further hub keys come only with a signature
by a pinned key (rotation endorsements, the signed directory)."""

from __future__ import annotations

import pytest

from exchange.models import AuditEvent
from federation import identity, trust
from federation.errors import FingerprintMismatchError
from federation.models import Peer, PeerKey
from federation.signing import UnknownKeyError, jws_sign
from tests.federation.federation_support import (  # noqa: F401 - fixtures
    FakeNode,
    fed_fixture,
    province_node_fixture,
)

pytestmark = pytest.mark.django_db


def document(*nodes: FakeNode, endorsements: dict[str, str] | None = None) -> dict:
    """A hub's well-known document listing ``nodes``' keys (the first active, the others too)."""
    endorsements = endorsements or {}
    return {"node_id": "cn-hub", "role": "hub", "region": "110000", "name": "国家枢纽",
            "base_url": "http://127.0.0.1:8100",
            "keys": [{"jwk": node.jwk, "fingerprint": node.fingerprint, "status": "active",
                      "endorsement": endorsements.get(node.key.kid)} for node in nodes]}


def pinned() -> set[str]:
    return set(PeerKey.objects.filter(peer_id="cn-hub", anchor=True).values_list("kid", flat=True))


def test_only_the_key_with_the_confirmed_fingerprint_is_pinned(province_node) -> None:
    hub, planted = FakeNode("cn-hub", role="hub"), FakeNode("cn-hub", role="hub")
    trust.hub_pin(document=document(hub, planted), base_url="http://127.0.0.1:8100",
                  expected_fingerprint=hub.fingerprint.lower())
    assert pinned() == {hub.key.kid}
    with pytest.raises(UnknownKeyError):
        trust.request_key(planted.key.kid)  # a response signed with the planted key is refused
    assert trust.request_key(hub.key.kid)[1].node_id == "cn-hub"


def test_without_a_fingerprint_nothing_is_trusted(province_node) -> None:
    hub = FakeNode("cn-hub", role="hub")
    with pytest.raises(FingerprintMismatchError, match="unconfirmed"):
        trust.hub_pin(document=document(hub), base_url="http://127.0.0.1:8100", expected_fingerprint=None)
    assert not Peer.objects.exists() and not pinned()
    with pytest.raises(FingerprintMismatchError):
        trust.hub_pin(document=document(hub), base_url="http://127.0.0.1:8100",
                      expected_fingerprint=FakeNode("cn-hub").fingerprint)
    assert not pinned()


def test_trust_on_first_use_pins_the_active_key_alone_and_says_so(province_node, caplog) -> None:
    hub, other = FakeNode("cn-hub", role="hub"), FakeNode("cn-hub", role="hub")
    doc = document(hub, other)
    doc["keys"][1]["status"] = "retiring"
    trust.hub_pin(document=doc, base_url="http://127.0.0.1:8100", expected_fingerprint=None, trust_on_first_use=True)
    assert pinned() == {hub.key.kid}
    event = AuditEvent.objects.get(action="federation.hub_pinned_tofu")
    assert event.data["pinned"] == [hub.fingerprint] and event.data["how"] == "trust on first use"
    assert any("trust" in r.getMessage() or "first use" in r.getMessage() for r in caplog.records)


def test_a_changed_document_does_not_add_or_replace_keys(province_node) -> None:
    hub, planted = FakeNode("cn-hub", role="hub"), FakeNode("cn-hub", role="hub")
    trust.hub_pin(document=document(hub), base_url="http://127.0.0.1:8100", expected_fingerprint=hub.fingerprint)
    # Re-running enrol without a fingerprint: the document must still list a pinned key …
    trust.hub_pin(document=document(hub, planted), base_url="http://127.0.0.1:8100", expected_fingerprint=None)
    assert pinned() == {hub.key.kid}  # … and what else it lists stays untrusted
    with pytest.raises(FingerprintMismatchError, match="none of the keys pinned"):
        trust.hub_pin(document=document(planted), base_url="http://127.0.0.1:8100", expected_fingerprint=None)
    assert pinned() == {hub.key.kid}


def test_a_new_hub_key_is_taken_only_with_an_endorsement_by_a_pinned_key(province_node) -> None:
    hub, rotated, planted = (FakeNode("cn-hub", role="hub") for _ in range(3))
    trust.hub_pin(document=document(hub), base_url="http://127.0.0.1:8100", expected_fingerprint=hub.fingerprint)
    endorsement = jws_sign({"sub": "cn-hub", "jwk": rotated.jwk}, key=hub.key.private_key, kid=hub.key.kid,
                           typ=identity.KEY_ENDORSEMENT_TYPE)
    self_endorsed = jws_sign({"sub": "cn-hub", "jwk": planted.jwk}, key=planted.key.private_key,
                             kid=planted.key.kid, typ=identity.KEY_ENDORSEMENT_TYPE)
    doc = document(hub, rotated, planted, endorsements={rotated.key.kid: endorsement, planted.key.kid: self_endorsed})
    assert trust.hub_keys_from_document(doc, received_from="cn-hub") == [rotated.key.kid]
    assert pinned() == {hub.key.kid, rotated.key.kid}
