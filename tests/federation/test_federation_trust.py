"""Trust and signed transport at a node: enrolment, approval, certificates, revocation, and the
verification every protocol endpoint runs before its view (keys, digest, clock window, nonces)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from exchange.models import AuditEvent
from federation import hub, identity, trust
from federation.errors import EnrolmentInvalidError, EnrolmentStateError, FingerprintMismatchError
from federation.models import Enrolment, IssuedCertificate, Peer, PeerKey, SeenNonce
from federation.signing import (
    CertificateExpiredError,
    CertificateRevokedError,
    UnknownKeyError,
    issue_certificate,
    jws_sign,
    verify_certificate,
    verify_revocation_list,
)
from federation.transport import nonces_purge
from tests.federation.federation_support import (  # noqa: F401 - fixtures
    FakeNode,
    enrol_and_approve,
    fed_fixture,
    hub_node_fixture,
    province_node_fixture,
    province_peer_fixture,
    send,
    verify_answer,
)

pytestmark = pytest.mark.django_db
CHANGES = "/federation/v1/changes?since=0&limit=10"


def _code(response) -> str:
    return response.json()["error"]["code"]


# --- enrolment and approval -------------------------------------------------------------------

def test_enrolment_request_is_signed_with_the_key_it_enrols(client, hub_node):
    """POST /federation/v1/enrolments is accepted as pending; the answer is signed by the hub."""
    node = FakeNode("cn-11")
    body = {"node_id": "cn-11", "role": "province", "region": "110000", "base_url": "http://127.0.0.1:8101",
            "name": "北京", "jwk": node.jwk}
    response, sent = send(client, node, "POST", "/federation/v1/enrolments", body)
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "pending" and response.json()["fingerprint"] == node.fingerprint
    assert verify_answer(response, sent, "POST", "/federation/v1/enrolments") == identity.signing_key().kid
    assert AuditEvent.objects.filter(action="federation.enrolment_requested", object_id="cn-11").exists()


def test_enrolment_signed_with_another_key_is_refused(client, hub_node):
    node, impostor = FakeNode("cn-11"), FakeNode("cn-11")
    body = {"node_id": "cn-11", "role": "province", "region": "110000", "base_url": "http://127.0.0.1:8101",
            "jwk": node.jwk}
    response, _ = send(client, impostor, "POST", "/federation/v1/enrolments", body)
    assert response.status_code == 401 and _code(response) == "unknown_key"
    assert not Enrolment.objects.exists()


def test_enrolment_is_only_served_by_a_node_that_may_certify(client, province_node):
    """A province not certified itself (or a county) certifies nobody: ``not_a_parent``."""
    node = FakeNode("cn-4401")
    response, _ = send(client, node, "POST", "/federation/v1/enrolments", {"jwk": node.jwk})
    assert response.status_code == 404 and _code(response) == "not_a_parent"


def test_approval_needs_the_fingerprint_read_out_of_band(hub_node):
    """A wrong fingerprint is refused and audited; the right one issues a certificate binding the key."""
    node = FakeNode("cn-11")
    hub.enrolment_receive(node_id="cn-11", role="province", region="110000", base_url="http://127.0.0.1:8101",
                          name="", jwk=node.jwk, signer_kid=node.key.kid)
    with pytest.raises(FingerprintMismatchError, match="fingerprint"):
        hub.enrolment_approve(node_id="cn-11", fingerprint_seen=FakeNode("x").fingerprint, actor="op")
    assert AuditEvent.objects.filter(action="federation.enrolment_fingerprint_mismatch").exists()
    issued = hub.enrolment_approve(node_id="cn-11", fingerprint_seen=node.fingerprint.lower(), actor="op")
    cert = verify_certificate(issued.token, hub_public_keys=identity.own_public_keys(), now=timezone.now(),
                              revoked=(), hub_id="cn-hub")
    assert cert.node_id == "cn-11" and cert.kid == node.key.kid and cert.role == "province"
    assert timedelta(days=6) < cert.not_after - timezone.now() <= timedelta(days=7)
    peer = Peer.objects.get(node_id="cn-11")
    assert peer.status == Peer.Status.ACTIVE and peer.pull and peer.base_url == "http://127.0.0.1:8101"
    with pytest.raises(EnrolmentStateError):
        hub.enrolment_approve(node_id="cn-11", fingerprint_seen=node.fingerprint, actor="op")


def test_a_pending_enrolment_cannot_be_taken_over_with_another_key(client, hub_node):
    """Someone re-sends cn-44's pending request with their own key and URL: it is listed beside the
    genuine one (never replacing it), and the operator's fingerprint check approves the genuine key."""
    genuine, attacker = FakeNode("cn-44"), FakeNode("cn-44")
    body = {"node_id": "cn-44", "role": "province", "region": "440000", "base_url": "http://127.0.0.1:8102",
            "name": "广东", "jwk": genuine.jwk}
    assert send(client, genuine, "POST", "/federation/v1/enrolments", body)[0].status_code == 202
    takeover = {**body, "base_url": "http://attacker.invalid", "jwk": attacker.jwk}
    response, _ = send(client, attacker, "POST", "/federation/v1/enrolments", takeover)
    assert response.status_code == 202 and response.json()["fingerprint"] == attacker.fingerprint
    rows = {row.kid: row for row in Enrolment.objects.filter(node_id="cn-44")}
    assert set(rows) == {genuine.key.kid, attacker.key.kid}
    assert rows[genuine.key.kid].base_url == "http://127.0.0.1:8102"  # the genuine request is untouched
    event = AuditEvent.objects.filter(action="federation.enrolment_requested", object_id="cn-44").last()
    assert event.data["competing_requests"] == [genuine.fingerprint]  # the operator sees two keys for one node
    hub.enrolment_approve(node_id="cn-44", fingerprint_seen=genuine.fingerprint, actor="op")
    rows = {row.kid: row.status for row in Enrolment.objects.filter(node_id="cn-44")}
    assert rows == {genuine.key.kid: "approved", attacker.key.kid: "superseded"}
    theirs, _ = send(client, attacker, "GET", "/federation/v1/enrolments/cn-44")
    assert theirs.status_code == 200 and theirs.json()["status"] == "superseded" and not theirs.json()["certificate"]
    ours, _ = send(client, genuine, "GET", "/federation/v1/enrolments/cn-44")
    assert ours.json()["status"] == "approved" and ours.json()["certificate"].count(".") == 2
    assert trust.request_key(genuine.key.kid)[1].node_id == "cn-44"
    with pytest.raises(UnknownKeyError):
        trust.request_key(attacker.key.kid)
    # Sent again, it is a request to replace an approved key (listed, pending): approving it takes the
    # explicit replacement after the fingerprint check, never a plain approval.
    again, _ = send(client, attacker, "POST", "/federation/v1/enrolments", takeover)
    assert again.status_code == 202 and again.json()["status"] == "pending"
    with pytest.raises(EnrolmentStateError, match="replacement"):
        hub.enrolment_approve(node_id="cn-44", fingerprint_seen=attacker.fingerprint, actor="op")
    assert trust.request_key(genuine.key.kid)[1].node_id == "cn-44"


def test_re_sending_with_the_same_key_refreshes_the_request(hub_node):
    node = FakeNode("cn-11")
    for url in ("http://127.0.0.1:8101", "http://127.0.0.1:9101"):
        hub.enrolment_receive(node_id="cn-11", role="province", region="110000", base_url=url, name="",
                              jwk=node.jwk, signer_kid=node.key.kid)
    assert list(Enrolment.objects.values_list("base_url", "status")) == [("http://127.0.0.1:9101", "pending")]


def test_enrolment_refuses_a_key_already_used_by_another_node(province_peer):
    node = FakeNode("cn-12", key=province_peer.key)
    with pytest.raises(EnrolmentInvalidError, match="another node"):
        hub.enrolment_receive(node_id="cn-12", role="province", region="120000", base_url="http://x.example",
                              name="", jwk=node.jwk, signer_kid=node.key.kid)


def test_enrolled_node_reads_its_enrolment_and_certificate(client, province_peer):
    path = "/federation/v1/enrolments/cn-11"
    response, _ = send(client, province_peer, "GET", path)
    assert response.status_code == 200 and response.json()["status"] == "approved"
    assert response.json()["certificate"].count(".") == 2
    other, _ = send(client, province_peer, "GET", "/federation/v1/enrolments/cn-12")
    assert other.status_code == 403 and _code(other) == "peer_not_allowed"


def test_renewal_with_a_new_key_needs_proof_of_possession(client, province_peer):
    """Rotation: the certified key asks for a certificate for a new key the new key has signed for."""
    new = FakeNode("cn-11")
    body = {"jwk": new.jwk}
    refused, _ = send(client, province_peer, "POST", "/federation/v1/certificates/renew", body)
    assert refused.status_code == 422 and _code(refused) == "enrolment_invalid"
    proof = jws_sign({"sub": "cn-11", "aud": "cn-hub", "iat": int(timezone.now().timestamp())},
                     key=new.key.private_key, kid=new.key.kid, typ=hub.KEY_PROOF_TYPE)
    response, _ = send(client, province_peer, "POST", "/federation/v1/certificates/renew", body | {"proof": proof})
    assert response.status_code == 200, response.content
    cert = trust.certificate_read(response.json()["certificate"])
    assert cert.kid == new.key.kid
    assert set(PeerKey.objects.filter(peer_id="cn-11").values_list("kid", flat=True)) == {
        province_peer.key.kid, new.key.kid}
    ok, _ = send(client, new, "GET", CHANGES)
    assert ok.status_code == 200


# --- signed requests ----------------------------------------------------------------------------

def test_a_certified_peer_reads_the_feed_and_the_answer_is_signed(client, province_peer):
    response, sent = send(client, province_peer, "GET", CHANGES)
    assert response.status_code == 200
    assert response.json() == {"envelopes": [], "head": 0, "more": False, "next": 0}
    verify_answer(response, sent, "GET", CHANGES)


@pytest.mark.parametrize("mutation, code", [
    ("unsigned", "signature_missing"),
    ("bit_flip", "signature_invalid"),
    ("other_path", "signature_invalid"),
    ("body", "digest_mismatch"),
])
def test_tampered_requests_are_refused(client, province_peer, mutation, code):
    """Every alteration is refused with its own code, before the view runs, and audited."""
    path = "/federation/v1/poke"
    body = b'{"node_id":"cn-11"}'
    headers = province_peer.headers("POST", path, body)
    if mutation == "unsigned":
        headers = {"Content-Type": "application/json"}
    elif mutation == "bit_flip":
        sig = headers["Signature"]
        flipped = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
        headers["Signature"] = flipped
    elif mutation == "other_path":
        path = "/federation/v1/receipts"
    elif mutation == "body":
        body = b'{"node_id":"cn-12"}'
    response, _ = send(client, None, "POST", path, body, headers=headers)
    assert response.status_code in (400, 401) and _code(response) == code
    assert AuditEvent.objects.filter(action="federation.request_refused", data__code=code).exists()


def test_replayed_request_is_refused(client, province_peer):
    first, headers = send(client, province_peer, "GET", CHANGES)
    assert first.status_code == 200
    again, _ = send(client, None, "GET", CHANGES, headers=headers)
    assert again.status_code == 401 and _code(again) == "replayed_request"


@pytest.mark.parametrize("offset", [-301, 301])
def test_requests_outside_the_clock_window_are_refused(client, province_peer, offset):
    created = datetime.now(UTC) + timedelta(seconds=offset)
    response, _ = send(client, province_peer, "GET", CHANGES, created=created)
    assert response.status_code == 401 and _code(response) == "signature_expired"
    assert not SeenNonce.objects.exists()


def test_unknown_keys_are_refused(client, hub_node):
    response, _ = send(client, FakeNode("cn-12"), "GET", CHANGES)
    assert response.status_code == 401 and _code(response) == "unknown_key"


def test_revoked_node_is_refused_and_the_revocation_list_is_signed(client, province_peer):
    state = hub.node_revoke(node_id="cn-11", actor="op", reason="compromised")
    response, _ = send(client, province_peer, "GET", CHANGES)
    assert response.status_code == 403 and _code(response) == "certificate_revoked"
    revocations = verify_revocation_list(state.token, identity.own_public_keys(), hub_id="cn-hub")
    assert revocations.number == 1
    assert set(revocations.serials) == set(IssuedCertificate.objects.filter(node_id="cn-11")
                                          .values_list("serial", flat=True))
    assert Peer.objects.get(node_id="cn-11").pull is False
    assert AuditEvent.objects.filter(action="federation.node_revoked", object_id="cn-11").exists()


def test_expired_certificate_is_refused(client, hub_node):
    node = FakeNode("cn-11")
    enrol_and_approve(node)
    key = identity.signing_key()
    token = issue_certificate(hub_key=key.private_key, hub_kid=key.kid, hub_id="cn-hub", node_id="cn-11",
                              role="province", region="110000", node_public_jwk=node.jwk,
                              not_before=timezone.now() - timedelta(days=8),
                              not_after=timezone.now() - timedelta(days=1))
    PeerKey.objects.filter(peer_id="cn-11").update(certificate=token)
    response, _ = send(client, node, "GET", CHANGES)
    assert response.status_code == 401 and _code(response) == "certificate_expired"


def test_request_key_resolution(province_peer):
    public, who = trust.request_key(province_peer.key.kid)
    assert who.node_id == "cn-11" and who.role == "province"
    with pytest.raises(UnknownKeyError):
        trust.request_key("A" * 43)
    PeerKey.objects.update(not_after=timezone.now() - timedelta(days=1))  # not consulted: the JWS decides
    trust.request_key(province_peer.key.kid)
    hub.node_revoke(node_id="cn-11", actor="op")
    with pytest.raises(CertificateRevokedError):
        trust.request_key(province_peer.key.kid)


def test_expired_nonces_are_purged(province_peer):
    SeenNonce.objects.create(kid="k" * 43, nonce="n" * 20, expires_at=timezone.now() - timedelta(seconds=1))
    SeenNonce.objects.create(kid="k" * 43, nonce="m" * 20, expires_at=timezone.now() + timedelta(seconds=300))
    assert nonces_purge() == 1
    assert SeenNonce.objects.count() == 1


def test_certificate_expired_error_is_raised_for_old_certificates(hub_node):
    node = FakeNode("cn-11")
    key = identity.signing_key()
    token = issue_certificate(hub_key=key.private_key, hub_kid=key.kid, hub_id="cn-hub", node_id="cn-11",
                              role="province", region="110000", node_public_jwk=node.jwk,
                              not_before=timezone.now() - timedelta(days=8),
                              not_after=timezone.now() - timedelta(days=1))
    cert = trust.certificate_read(token)  # historic certificates still prove which key a node used
    assert cert.kid == node.key.kid
    with pytest.raises(CertificateExpiredError):
        verify_certificate(token, hub_public_keys=identity.own_public_keys(), now=timezone.now(), revoked=())
