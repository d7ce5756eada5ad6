"""Operator API: peers and sync health, enrolments, approval and revocation, with their permissions."""

from __future__ import annotations

import pytest

from exchange.models import AuditEvent
from federation.models import Enrolment, Peer
from tests.federation.federation_support import FakeNode, fed_fixture, hub_node_fixture, province_peer_fixture  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


@pytest.fixture
def pending(hub_node):
    from federation import hub

    node = FakeNode("cn-11")
    hub.enrolment_receive(node_id="cn-11", role="province", region="110000", base_url="http://127.0.0.1:8101",
                          name="北京", jwk=node.jwk, signer_kid=node.key.kid)
    return node


@pytest.mark.parametrize("who, status", [("hub_operator", 200), ("province_admin", 200), ("teacher", 403),
                                         (None, 401)])
def test_peer_list_is_for_operators(api_as, users, province_peer, who, status):
    response = api_as(users[who] if who else None).get("/api/v1/federation/peers")
    assert response.status_code == status
    if status == 200:
        [peer] = response.json()["results"]
        assert peer["node_id"] == "cn-11" and peer["role"] == "province" and peer["status"] == "active"
        assert peer["cursor"] == 0 and peer["lag_entries"] == 0 and peer["certificate_not_after"]
        assert peer["last_error_code"] is None
    else:
        assert response.json()["error"]["code"] in ("permission_denied", "not_authenticated")


def test_identity_api(api_as, users, hub_node):
    body = api_as(users["province_admin"]).get("/api/v1/federation/identity").json()
    assert body["node_id"] == "cn-hub" and body["role"] == "hub" and len(body["keys"]) == 1


def test_enrolments_are_listed_and_approved_by_hub_operators(api_as, users, pending):
    operator = api_as(users["hub_operator"])
    [row] = operator.get("/api/v1/federation/enrolments?status=pending").json()["results"]
    assert row["node_id"] == "cn-11" and row["fingerprint"] == pending.fingerprint
    url = f"/api/v1/federation/enrolments/{row['id']}/approve"
    assert api_as(users["province_admin"]).post(url, {"fingerprint": pending.fingerprint}).status_code == 403
    wrong = operator.post(url, {"fingerprint": FakeNode("x").fingerprint}, format="json")
    assert wrong.status_code == 409 and wrong.json()["error"]["code"] == "fingerprint_mismatch"
    ok = operator.post(url, {"fingerprint": pending.fingerprint}, format="json")
    assert ok.status_code == 200 and ok.json()["node_id"] == "cn-11"
    assert Enrolment.objects.get().status == "approved"
    event = AuditEvent.objects.get(action="federation.enrolment_approved")
    assert event.actor == "hub_operator"


def test_revocation_api(api_as, users, province_peer):
    operator = api_as(users["hub_operator"])
    assert operator.post("/api/v1/federation/nodes/cn-11/revoke", {}, format="json").status_code == 400
    response = operator.post("/api/v1/federation/nodes/cn-11/revoke", {"reason": "密钥泄露"}, format="json")
    assert response.status_code == 200 and response.json()["revocation_list"] == 1
    assert Peer.objects.get(node_id="cn-11").status == "revoked"
    missing = operator.post("/api/v1/federation/nodes/cn-99/revoke", {"reason": "x"}, format="json")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "enrolment_not_found"


def test_pull_now_api(api_as, users, province_peer, monkeypatch):
    calls = []
    monkeypatch.setattr("federation.jobs.pull_peer_job", lambda **kw: calls.append(kw))
    response = api_as(users["hub_operator"]).post("/api/v1/federation/peers/cn-11/pull")
    assert response.status_code == 202 and calls == [{"node_id": "cn-11"}]
    assert Peer.objects.get(node_id="cn-11").pull_requested_at is not None
    unknown = api_as(users["hub_operator"]).post("/api/v1/federation/peers/cn-77/pull")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_peer"
