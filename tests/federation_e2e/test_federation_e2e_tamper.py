"""Tampering against real nodes: a malicious enrolled province (a small server in this process, signing
with its real certified key) serves bit-flipped, origin-swapped, unknown-key and malformed envelopes
to the real hub; replayed, expired and unknown-key requests; then the province is revoked and every
node refuses it. Each refusal has its error code, and nothing is stored."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from federation.signing import (
    SigningKey,
    fingerprint,
    generate_private_key,
    public_key_to_jwk,
)
from tests.federation_e2e.cluster import wait_until
from tests.hostile import HostilePeer

pytestmark = pytest.mark.slow


def _record() -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "title": "恶意节点的课件 七年级数学", "stage": "初中", "subject": "数学",
            "resource_type": "课件", "publisher": "某出版社", "province": "120000",
            "rights": {"holder": "某出版社", "year": 2024, "license": "CC-BY-4.0"}, "files": []}


def _code(response: requests.Response) -> str:
    return response.json()["error"]["code"]


@pytest.fixture(scope="module")
def rogue(cluster):
    province = HostilePeer("cn-12")
    body = {"node_id": "cn-12", "role": "province", "region": "120000", "base_url": province.url,
            "name": "恶意测试节点", "jwk": public_key_to_jwk(province.key.public_key)}
    response = province.request(cluster.hub.url, "POST", "/federation/v1/enrolments", body)
    assert response.status_code == 202, response.text
    cluster.hub.manage("federation", "approve", "cn-12", "--fingerprint", fingerprint(province.key.public_key))
    yield province
    province.close()


def _pull_refused(cluster, code: str) -> None:
    result = cluster.hub.manage("federation", "pull", "cn-12", check=False)
    assert result.returncode != 0 and code in result.stderr, result.stderr[-2000:]
    assert cluster.hub.digest("cn-12")["count"] == 0
    with cluster.hub.db() as db:
        cursor, = db.execute("SELECT cursor FROM federation_peer WHERE node_id = 'cn-12'").fetchone()
        stored, = db.execute("SELECT COUNT(*) FROM federation_remoterecord WHERE origin = 'cn-12'").fetchone()
    assert (cursor, stored) == (0, 0)


def test_bit_flipped_envelope_is_refused(cluster, rogue):
    good = rogue.envelope(_record())
    flipped = copy.deepcopy(good)
    flipped["payload"]["title"] = "篡改后的标题"
    rogue.feed = [rogue.envelope(_record()), flipped]
    _pull_refused(cluster, "envelope_signature_invalid")


def test_swapped_origin_is_refused(cluster, rogue):
    forged = rogue.envelope(_record())
    forged["origin"] = "cn-11"
    rogue.feed = [forged]
    _pull_refused(cluster, "envelope_origin_mismatch")
    # A genuine envelope of another origin, relayed by the rogue province, is refused as well.
    page = rogue.request(cluster.hub.url, "GET", "/federation/v1/changes?since=0&limit=1")
    assert page.status_code == 200
    rogue.feed = page.json()["envelopes"]
    assert rogue.feed[0]["origin"] != "cn-12"
    _pull_refused(cluster, "envelope_origin_mismatch")


def test_envelope_signed_by_an_unknown_key_is_refused(cluster, rogue):
    rogue.feed = [rogue.envelope(_record(), key=SigningKey.from_private_key(generate_private_key()))]
    _pull_refused(cluster, "unknown_key")


def test_malformed_envelope_is_refused(cluster, rogue):
    envelope = rogue.envelope(_record())
    envelope["version"] = "1"
    rogue.feed = [envelope]
    _pull_refused(cluster, "envelope_malformed")


def test_replayed_expired_and_unknown_key_requests_are_refused(cluster, rogue):
    path = "/federation/v1/changes?since=0&limit=1"
    first = rogue.request(cluster.hub.url, "GET", path)
    assert first.status_code == 200
    headers = {k: v for k, v in first.request.headers.items()
               if k in ("Content-Digest", "Signature-Input", "Signature")}
    replay = rogue.request(cluster.hub.url, "GET", path, headers=headers)
    assert replay.status_code == 401 and _code(replay) == "replayed_request"
    late = rogue.request(cluster.hub.url, "GET", path, created=datetime.now(UTC) - timedelta(seconds=400))
    assert late.status_code == 401 and _code(late) == "signature_expired"
    stranger = rogue.request(cluster.hub.url, "GET", path, key=SigningKey.from_private_key(generate_private_key()))
    assert stranger.status_code == 401 and _code(stranger) == "unknown_key"
    unsigned = requests.get(cluster.hub.url + path, timeout=10)
    assert unsigned.status_code == 401 and _code(unsigned) == "signature_missing"


def test_revoked_province_is_refused_everywhere(cluster, rogue):
    """After revocation the hub refuses it at once, and provinces as soon as the pushed list arrives."""
    cluster.p44.manage("federation", "directory")  # cn-44 learns cn-12's certificate
    path = "/federation/v1/changes?since=0&limit=1"
    assert rogue.request(cluster.p44.url, "GET", path).status_code == 200
    cluster.hub.manage("federation", "revoke", "cn-12", "--reason", "e2e: key compromised")
    refused = rogue.request(cluster.hub.url, "GET", path)
    assert refused.status_code == 403 and _code(refused) == "certificate_revoked"
    wait_until(lambda: rogue.request(cluster.p44.url, "GET", path).status_code == 403, timeout=15,
               what="cn-44 to refuse the revoked province")
    assert _code(rogue.request(cluster.p44.url, "GET", path)) == "certificate_revoked"
    again = rogue.request(cluster.hub.url, "POST", "/federation/v1/enrolments", {
        "node_id": "cn-12", "role": "province", "region": "120000", "base_url": rogue.url,
        "jwk": public_key_to_jwk(rogue.key.public_key)})
    assert again.status_code == 409 and _code(again) == "enrolment_state_invalid"
