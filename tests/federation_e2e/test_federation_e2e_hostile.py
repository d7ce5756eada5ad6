"""A hostile province against real nodes (the standing adversarial suite, end to end).

``cn-13`` is a small server in this process with a real key, enrolled and approved at the real hub like
any province; it serves padded, oversized, duplicated and replayed envelopes, answers a byte at a time,
re-publishes records the nation took down, squats another province's ids, reports lying grant receipts,
and tries to take over a pending enrolment. Each attack is refused or neutralised with a stable code,
nothing of it is stored, and the honest nodes keep converging (their digests of cn-11's records agree).
"""

from __future__ import annotations

import json
import secrets
import uuid
from typing import Any

import pytest
from django.utils import timezone

from federation.receipts import RECEIPT_TYPE
from federation.signing import MAX_ENVELOPE_BYTES, canonical_json, fingerprint, jws_sign, public_key_to_jwk
from federation.signing.encoding import b64url_encode
from tests.federation_e2e.cluster import Node, wait_until
from tests.federation_e2e.test_federation_e2e_propagation import publish, search_ids, visible
from tests.hostile import HostilePeer

pytestmark = pytest.mark.slow


def _record(resource_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    return {"id": resource_id or str(uuid.uuid4()), "title": f"七年级数学 有理数 外来课件 {secrets.token_hex(3)}",
            "stage": "初中", "subject": "数学", "resource_type": "课件", "publisher": "某出版社",
            "province": "130000", "rights": {"holder": "某出版社", "year": 2024, "license": "CC-BY-4.0"},
            "files": [], **overrides}


def _signed_anyway(peer: HostilePeer, payload: dict[str, Any], *, version: int = 1) -> dict[str, Any]:
    """Correctly signed, but over the weight honest signers keep to."""
    unsigned = {"v": 1, "kind": "upsert", "origin": peer.node_id, "id": payload["id"], "version": version,
                "issued_at": timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ"), "kid": peer.key.kid, "payload": payload}
    return {**unsigned, "sig": b64url_encode(peer.key.sign(canonical_json(unsigned)))}


def _enrol(cluster, peer: HostilePeer, region: str) -> None:
    body = {"node_id": peer.node_id, "role": "province", "region": region, "base_url": peer.url,
            "name": "对抗测试节点", "jwk": public_key_to_jwk(peer.key.public_key)}
    response = peer.request(cluster.hub.url, "POST", "/federation/v1/enrolments", body)
    assert response.status_code == 202, response.text
    cluster.hub.manage("federation", "approve", peer.node_id, "--fingerprint", fingerprint(peer.key.public_key))


def _pull(node: Node, peer: str) -> dict[str, Any]:
    return json.loads(node.manage("federation", "pull", peer, check=False).stdout or "{}")


def _held(node: Node, origin: str, record_id: str) -> list[tuple[str, int]]:
    with node.db() as db:
        return db.execute("SELECT status, version FROM catalog_resource WHERE origin_node = ? AND record_id = ?",
                          (origin, record_id.replace("-", ""))).fetchall()


def _converged(cluster) -> None:
    """The honest nodes agree on cn-11's records (the hostile peer changed nothing of them)."""
    wait_until(lambda: len({json.dumps(n.digest("cn-11")) for n in cluster.nodes}) == 1, timeout=60,
               what="the digests of cn-11's records to agree on every node")


@pytest.fixture(scope="module")
def rogue(cluster):
    peer = HostilePeer("cn-13")
    _enrol(cluster, peer, "130000")
    cluster.p44.manage("federation", "directory")  # cn-44 learns cn-13's certificate
    yield peer
    peer.mode = "honest"
    peer.close()


def test_padded_and_oversized_envelopes_are_refused_alone_and_the_feed_flows(cluster, rogue):
    honest = [rogue.envelope(_record()) for _ in range(2)]
    oversized = _signed_anyway(rogue, _record(description="长" * (MAX_ENVELOPE_BYTES // 3 + 1)))
    padded = _signed_anyway(rogue, {**_record(), "padding": "x" * 8000})
    rogue.feed += [honest[0], oversized, padded, honest[1]]
    _pull(cluster.hub, "cn-13")  # (the hub's sync loop may be the one that reads them: state is checked)
    for envelope in honest:
        wait_until(lambda e=envelope: _held(cluster.hub, "cn-13", e["id"]), timeout=30, what="the honest envelopes")
    for envelope in (oversized, padded):
        assert _held(cluster.hub, "cn-13", envelope["id"]) == []
    for envelope in honest:  # relayed and applied downstream; cn-44 reads the hub's pages as before
        wait_until(lambda e=envelope: _held(cluster.p44, "cn-13", e["id"]), timeout=30,
                   what="the honest envelopes in cn-44")
    assert all(_held(cluster.p44, "cn-13", e["id"]) == [] for e in (oversized, padded))
    with cluster.hub.db() as db:
        refused, = db.execute("SELECT COUNT(*) FROM exchange_auditevent WHERE action = ? AND actor = ?",
                              ("federation.envelope_refused", "cn-13")).fetchone()
    assert refused >= 2


def test_duplicated_and_replayed_envelopes_change_nothing(cluster, rogue):
    rid = str(uuid.uuid4())
    v1, v2 = rogue.envelope(_record(rid, title="第一版"), version=1), rogue.envelope(_record(rid, title="第二版"),
                                                                                 version=2)
    rogue.feed += [v2, v1, v2, v1]
    assert _pull(cluster.hub, "cn-13")["error_code"] == ""
    rogue.feed += [v1]  # replayed later, alone
    assert _pull(cluster.hub, "cn-13")["error_code"] == ""
    assert _held(cluster.hub, "cn-13", rid) == [("published", 2)]
    with cluster.hub.db() as db:
        relayed, = db.execute("SELECT COUNT(*) FROM federation_outboxentry WHERE resource_id = ?",
                              (rid.replace("-", ""),)).fetchone()
    assert relayed == 1


def test_a_slow_peer_is_cut_at_its_deadline_and_honest_sync_goes_on(cluster, rogue):
    """cn-13 answers a byte every 0.2 s for ever; the hub's pulls of it end at the deadline and back off,
    while a record published in cn-11 still reaches cn-44 through the hub."""
    rogue.feed += [rogue.envelope(_record()) for _ in range(3)]
    rogue.mode = "dribble_body"
    try:
        wait_until(lambda: {p["node_id"]: p for p in cluster.hub.status()["peers"]}["cn-13"]["last_error_code"]
                   == "peer_deadline_exceeded", timeout=90, interval=1,
                   what="the hub to give up on the slow peer at its deadline")
        marker = f"slow{secrets.token_hex(3)}"
        resource_id = publish(cluster.p11, f"人教版七年级数学上册 有理数 慢节点期间 {marker}")
        wait_until(lambda: resource_id in search_ids(cluster.p44, marker), timeout=60,
                   what="cn-11's record in cn-44 while cn-13 dribbles")
    finally:
        rogue.mode = "honest"
    _converged(cluster)


def test_a_record_the_nation_took_down_stays_down_whatever_versions_follow(cluster, rogue):
    """The hub's operators take down cn-13's record; cn-13 keeps publishing newer versions of it. No node
    shows any of them until the hub signs a reinstatement, which brings back the newest."""
    rid = str(uuid.uuid4())
    rogue.feed += [rogue.envelope(_record(rid, title="违规课件 第一版"), version=1)]
    _pull(cluster.hub, "cn-13")
    wait_until(lambda: _held(cluster.p44, "cn-13", rid) == [("published", 1)], timeout=30, what="the record in cn-44")
    operator = cluster.hub.token("hub_operator")
    notice = cluster.hub.api("POST", "/api/v1/takedowns", token=operator,
                             json={"resource": rid, "grounds": "unlawful_content", "statement": "内容违规"})
    assert notice.status_code == 201, notice.text
    assert cluster.hub.api("POST", f"/api/v1/takedowns/{notice.json()['id']}/uphold", token=operator,
                           json={"note": "国家层面下架"}).status_code == 200
    wait_until(lambda: _held(cluster.p44, "cn-13", rid) == [("withdrawn", 1)], timeout=30,
               what="the national takedown in cn-44")
    rogue.feed += [rogue.envelope(_record(rid, title="违规课件 第二版"), version=2),
                   rogue.envelope(_record(rid, title="违规课件 第三版"), version=3)]
    _pull(cluster.hub, "cn-13")
    wait_until(lambda: _held(cluster.hub, "cn-13", rid) == [("withdrawn", 3)], timeout=30,
               what="the hub to hold the newest version, withdrawn")
    wait_until(lambda: _held(cluster.p44, "cn-13", rid) == [("withdrawn", 3)], timeout=30,
               what="cn-44 to hold the newest version, withdrawn")
    assert visible(cluster.p44, rid) is None
    reinstated = cluster.hub.api("POST", "/api/v1/federation/reinstatements", token=operator,
                                 json={"origin": "cn-13", "record_id": rid, "note": "复核后恢复"})
    assert reinstated.status_code == 200, reinstated.text
    wait_until(lambda: _held(cluster.p44, "cn-13", rid) == [("published", 3)], timeout=30,
               what="the reinstatement in cn-44")


def test_a_squatted_id_loses_nothing_of_the_genuine_record(cluster, rogue):
    """cn-13 publishes, under its own name, the id of a cn-11 record; both records are kept everywhere,
    cn-11's unchanged, and the clash is on record at the hub."""
    genuine = publish(cluster.p11, f"人教版七年级数学上册 有理数 真品 {secrets.token_hex(3)}")
    wait_until(lambda: visible(cluster.p44, genuine), timeout=30, what="the genuine record in cn-44")
    rogue.feed += [rogue.envelope(_record(genuine, title="抢注的编号"))]
    assert _pull(cluster.hub, "cn-13")["error_code"] == ""
    wait_until(lambda: _held(cluster.p44, "cn-13", genuine), timeout=30, what="the squatter's record in cn-44")
    assert visible(cluster.p44, genuine)["origin_node"] == "cn-11"  # the id still leads to the genuine record
    with cluster.hub.db() as db:
        clash = db.execute("SELECT origin, holder FROM federation_idclash WHERE record_id = ?",
                           (genuine.replace("-", ""),)).fetchone()
    assert clash == ("cn-13", "cn-11")
    _converged(cluster)


def _receipt(peer: HostilePeer, **claims: Any) -> str:
    now = int(timezone.now().timestamp())
    body = {"jti": str(uuid.uuid4()), "iss": peer.node_id, "iat": now, "grant": "1", "scope": "school",
            "currency": "voucher", "buyer": {}, "starts_at": now, "ends_at": now + 86400, "granted_at": now,
            "resource_version": 1, **claims}
    return jws_sign(body, key=peer.key.private_key, kid=peer.key.kid, typ=RECEIPT_TYPE)


def test_receipts_that_lie_never_reach_settlement(cluster, rogue):
    priced = publish(cluster.p11, f"人教版七年级数学上册 有理数 付费 {secrets.token_hex(3)}",
                     license="ALL-RIGHTS-RESERVED", price=5, grant_days=30)
    wait_until(lambda: visible(cluster.hub, priced), timeout=30, what="the priced record at the hub")
    version = visible(cluster.hub, priced)["version"]
    lies = [
        ({"resource": priced, "origin": "cn-11", "price": 500, "resource_version": version}, 422, "receipt_mismatch"),
        ({"resource": str(uuid.uuid4()), "origin": "cn-11", "price": 5}, 409, "receipt_record_unknown"),
        ({"resource": priced, "origin": "cn-44", "price": 5, "resource_version": version}, 409,
         "receipt_record_unknown"),
        ({"resource": priced, "origin": "cn-11", "price": 5, "resource_version": version,
          "granted_at": int(timezone.now().timestamp()) - 400 * 86400}, 422, "receipt_date_invalid"),
    ]
    for claims, status, code in lies:
        response = rogue.request(cluster.hub.url, "POST", "/federation/v1/receipts",
                                 {"receipt": _receipt(rogue, **claims)})
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), claims
    with cluster.hub.db() as db:
        stored, = db.execute("SELECT COUNT(*) FROM federation_receivedreceipt WHERE issuer = 'cn-13'").fetchone()
    assert stored == 0
    honest = rogue.request(cluster.hub.url, "POST", "/federation/v1/receipts", {"receipt": _receipt(
        rogue, resource=priced, origin="cn-11", price=5, resource_version=version)})
    assert honest.status_code == 201, honest.text  # what the record says is taken


def test_a_pending_enrolment_cannot_be_taken_over(cluster):
    genuine, attacker = HostilePeer("cn-15"), HostilePeer("cn-15")
    try:
        body = {"node_id": "cn-15", "role": "province", "region": "150000", "name": "内蒙古"}
        first = genuine.request(cluster.hub.url, "POST", "/federation/v1/enrolments",
                                {**body, "base_url": genuine.url, "jwk": public_key_to_jwk(genuine.key.public_key)})
        assert first.status_code == 202, first.text
        second = attacker.request(cluster.hub.url, "POST", "/federation/v1/enrolments",
                                  {**body, "base_url": attacker.url, "jwk": public_key_to_jwk(attacker.key.public_key)})
        assert second.status_code == 202, second.text  # listed beside it, not replacing it
        listed = json.loads(cluster.hub.manage("federation", "enrolments", "--json").stdout)
        requests_ = {e["fingerprint"]: e for e in listed if e["node_id"] == "cn-15"}
        assert set(requests_) == {fingerprint(genuine.key.public_key), fingerprint(attacker.key.public_key)}
        assert requests_[fingerprint(genuine.key.public_key)]["base_url"] == genuine.url
        cluster.hub.manage("federation", "approve", "cn-15", "--fingerprint", fingerprint(genuine.key.public_key))
        theirs = attacker.request(cluster.hub.url, "GET", "/federation/v1/enrolments/cn-15")
        assert theirs.json()["status"] == "superseded" and not theirs.json()["certificate"]
        path = "/federation/v1/changes?since=0&limit=1"
        assert attacker.request(cluster.hub.url, "GET", path).status_code == 401
        assert genuine.request(cluster.hub.url, "GET", path).status_code == 200
    finally:
        genuine.close()
        attacker.close()
