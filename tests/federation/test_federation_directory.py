"""A province's view of trust: pinning the hub, the hub's directory and its revocation lists."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from exchange.models import AuditEvent
from federation import trust
from federation.errors import FingerprintMismatchError
from federation.models import Peer, PeerKey, RevocationState
from federation.signing import (
    CertificateInvalidError,
    RevocationListStaleError,
    issue_certificate,
    issue_revocation_list,
)
from tests.federation.federation_support import FakeNode, fed_fixture, province_node_fixture  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


@pytest.fixture
def hub(province_node):
    node = FakeNode("cn-hub", role="hub")
    document = {"node_id": "cn-hub", "role": "hub", "region": "110000",
                "keys": [{"jwk": node.jwk, "fingerprint": node.fingerprint, "status": "active"}]}
    trust.hub_pin(document=document, base_url="http://127.0.0.1:8100", expected_fingerprint=node.fingerprint)
    return node


def _certificate(hub: FakeNode, node: FakeNode, **validity) -> str:
    now = timezone.now()
    return issue_certificate(hub_key=hub.key.private_key, hub_kid=hub.key.kid, hub_id="cn-hub", node_id=node.node_id,
                             role="province", region="110000", node_public_jwk=node.jwk,
                             not_before=validity.get("not_before", now - timedelta(minutes=5)),
                             not_after=validity.get("not_after", now + timedelta(days=7)),
                             serial=validity.get("serial"))


def test_pinning_checks_the_fingerprint_given_out_of_band(province_node):
    node = FakeNode("cn-hub", role="hub")
    document = {"node_id": "cn-hub", "role": "hub", "keys": [{"jwk": node.jwk, "status": "active"}]}
    with pytest.raises(FingerprintMismatchError):
        trust.hub_pin(document=document, base_url="http://h", expected_fingerprint=FakeNode("x").fingerprint)
    with pytest.raises(CertificateInvalidError):
        trust.hub_pin(document=dict(document, role="province"), base_url="http://h", expected_fingerprint=None)
    trust.hub_pin(document=document, base_url="http://h", expected_fingerprint=node.fingerprint.replace(" ", ""))
    assert PeerKey.objects.get(anchor=True).kid == node.key.kid
    assert AuditEvent.objects.filter(action="federation.hub_pinned").exists()


def test_directory_brings_certificates_new_hub_keys_and_revocations(hub):
    cn11, cn12 = FakeNode("cn-11"), FakeNode("cn-12")
    new_hub_key = FakeNode("cn-hub", role="hub")
    forged = _certificate(FakeNode("cn-hub"), cn12)  # signed by a key that is not the hub's
    revocations = issue_revocation_list(hub_key=hub.key.private_key, hub_kid=hub.key.kid, hub_id="cn-hub",
                                        serials=["s-12"], number=3, issued_at=timezone.now())
    body = {"hub": {"node_id": "cn-hub", "keys": [hub.jwk, new_hub_key.jwk]},
            "nodes": [{"node_id": "cn-11", "base_url": "http://127.0.0.1:8101",
                       "certificates": [_certificate(hub, cn11)]},
                      {"node_id": "cn-12", "base_url": "http://127.0.0.1:8112",
                       "certificates": [forged, _certificate(hub, cn12, serial="s-12")]}],
            "revocations": revocations}
    counts = trust.directory_apply(body, received_from="cn-hub")
    assert counts == {"certificates": 2, "invalid": 1, "hub_keys": 1, "revocation_lists": 1}
    assert Peer.objects.get(node_id="cn-11").base_url == "http://127.0.0.1:8101"
    public, until = trust.envelope_key("cn-11", cn11.key.kid)
    assert until > timezone.now()
    assert PeerKey.objects.get(peer_id="cn-12").revoked
    assert set(trust.hub_public_keys()) == {hub.key.kid, new_hub_key.key.kid}
    assert RevocationState.objects.get().number == 3


def test_older_revocation_lists_are_refused(hub):
    def issue(number: int) -> str:
        return issue_revocation_list(hub_key=hub.key.private_key, hub_kid=hub.key.kid, hub_id="cn-hub",
                                     serials=[], number=number, issued_at=timezone.now())

    assert trust.revocation_list_apply(issue(2), received_from="cn-hub") == (2, 0)
    with pytest.raises(RevocationListStaleError):
        trust.revocation_list_apply(issue(1), received_from="cn-hub")
    with pytest.raises(RevocationListStaleError):
        trust.revocation_list_apply(issue(2), received_from="cn-hub")


def test_historic_certificates_still_vouch_for_what_the_key_signed(hub):
    cn11 = FakeNode("cn-11")
    old = _certificate(hub, cn11, not_before=timezone.now() - timedelta(days=20),
                       not_after=timezone.now() - timedelta(days=13))
    trust.certificate_store(old, base_url="http://127.0.0.1:8101")
    _, until = trust.envelope_key("cn-11", cn11.key.kid)
    assert until < timezone.now()  # envelopes issued before that are still accepted (see test_federation_sync)


def test_rotated_hub_keys_are_pinned_only_when_endorsed_by_a_pinned_key(hub):
    from federation.identity import KEY_ENDORSEMENT_TYPE
    from federation.signing import jws_sign

    new, newer, stranger = (FakeNode("cn-hub", role="hub") for _ in range(3))

    def endorse(by: FakeNode, node: FakeNode) -> str:
        return jws_sign({"sub": "cn-hub", "jwk": node.jwk, "iat": int(timezone.now().timestamp())},
                        key=by.key.private_key, kid=by.key.kid, typ=KEY_ENDORSEMENT_TYPE)

    document = {"node_id": "cn-hub", "role": "hub", "keys": [
        {"jwk": newer.jwk, "endorsement": endorse(new, newer)},   # chained: needs `new` first
        {"jwk": new.jwk, "endorsement": endorse(hub, new)},
        {"jwk": stranger.jwk, "endorsement": endorse(FakeNode("x"), stranger)},
    ]}
    added = trust.hub_keys_from_document(document, received_from="cn-hub")
    assert set(added) == {new.key.kid, newer.key.kid}
    assert set(trust.hub_public_keys()) == {hub.key.kid, new.key.kid, newer.key.kid}
    assert trust.hub_keys_from_document(document, received_from="cn-hub") == []
