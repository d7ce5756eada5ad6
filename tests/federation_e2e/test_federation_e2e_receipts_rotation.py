"""Between real nodes: a paid grant decided at the teacher's home node reaches the origin and the hub
as signed receipts; a province rotates its key and both its old and new records verify everywhere."""

from __future__ import annotations

import json
import secrets

import pytest

from federation.signing.keys import jwk_to_public_key, key_id
from tests.federation_e2e.cluster import Node, wait_until
from tests.federation_e2e.test_federation_e2e_propagation import publish, visible

pytestmark = pytest.mark.slow


def receipts(node: Node, resource_id: str) -> list[tuple[str, str, int]]:
    with node.db() as db:
        return db.execute("SELECT issuer, origin, price FROM federation_receivedreceipt WHERE resource_id = ?",
                          (resource_id.replace("-", ""),)).fetchall()


def test_a_paid_grant_in_cn44_reaches_the_origin_and_the_hub_as_signed_receipts(cluster):
    resource_id = publish(cluster.p11, f"人教版七年级数学上册 有理数 付费课件 {secrets.token_hex(3)}",
                          license="ALL-RIGHTS-RESERVED", price=4)
    wait_until(lambda: visible(cluster.p44, resource_id), timeout=30, what="the priced resource in cn-44")
    with cluster.p44.db() as db:
        school, = db.execute("SELECT organisation_id FROM exchange_user WHERE username = 'teacher'").fetchone()
    funded = cluster.p44.api("POST", "/api/v1/vouchers/fund", token=cluster.p44.token("province_admin"),
                             json={"school": school, "per_student": 1, "memo": "e2e"})
    assert funded.status_code == 201, funded.text
    teacher = cluster.p44.token("teacher")
    refused = cluster.p44.api("POST", f"/api/v1/resources/{resource_id}/download", token=teacher)
    assert refused.status_code == 402 and refused.json()["error"]["code"] == "purchase_required", refused.text
    bought = cluster.p44.api("POST", f"/api/v1/resources/{resource_id}/grants", token=teacher, json={"scope": "school"})
    assert bought.status_code == 201, bought.text
    for node in (cluster.p11, cluster.hub):
        got = wait_until(lambda n=node: receipts(n, resource_id), timeout=30, what=f"the receipt at {node.node_id}")
        assert got == [("cn-44", "cn-11", 4)]
    settlement = cluster.p11.api("GET", "/api/v1/settlement", token=cluster.p11.token("publisher"))
    assert settlement.status_code == 200, settlement.text
    row, = settlement.json()["rows"]  # the origin's publisher sees the sale made in cn-44
    assert row["grants_elsewhere"] >= 1 and row["vouchers_elsewhere"] >= 4 and row["grants"] == 0


def test_a_rotated_key_signs_new_records_and_old_records_still_verify(cluster):
    before = publish(cluster.p11, f"人教版七年级数学上册 有理数 轮换前 {secrets.token_hex(3)}")
    wait_until(lambda: visible(cluster.p44, before), timeout=30, what="the first record in cn-44")
    old_kid = json.loads(cluster.p11.manage("node_init", "--json").stdout)["kid"]
    rotated = cluster.p11.manage("node_init", "--rotate", "--json")
    new_kid = json.loads(rotated.stdout)["kid"]
    assert new_kid != old_kid and "certified the new key" in rotated.stderr
    published = {key_id(jwk_to_public_key(k["jwk"])): k["status"]
                 for k in cluster.p11.api("GET", "/.well-known/exchange-node").json()["keys"]}
    assert published[new_kid] == "active" and published[old_kid] == "retiring"  # overlap: both published

    after = publish(cluster.p11, f"人教版七年级数学上册 有理数 轮换后 {secrets.token_hex(3)}")
    wait_until(lambda: visible(cluster.p44, after), timeout=30, what="the record signed with the new key in cn-44")
    with cluster.hub.db() as db:
        kids = dict(db.execute("SELECT resource_id, json_extract(envelope, '$.kid') FROM federation_outboxentry "
                               "WHERE resource_id IN (?, ?)", (before.replace("-", ""), after.replace("-", "")))
                    .fetchall())
    assert kids == {before.replace("-", ""): old_kid, after.replace("-", ""): new_kid}
    # Re-read the hub's whole feed at cn-44: every envelope, of either key, verifies again.
    cluster.p44.manage("federation", "sets", "cn-hub")
    pulled = json.loads(cluster.p44.manage("federation", "pull", "cn-hub").stdout)
    assert pulled["error_code"] == "" and pulled["refused_revoked"] == 0
    # The re-read may be done by cn-44's own sync loop (poked meanwhile) rather than by this pull: either
    # way it must have read the whole feed again without refusing anything.
    status = json.loads(cluster.p44.manage("federation", "status", "--json").stdout)
    hub_row, = (p for p in status["peers"] if p["node_id"] == "cn-hub")
    assert hub_row["last_error_code"] is None and hub_row["cursor"] == hub_row["remote_head"] > 0
    assert visible(cluster.p44, before) and visible(cluster.p44, after)
