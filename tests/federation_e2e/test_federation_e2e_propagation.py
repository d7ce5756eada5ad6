"""Changes travel between real nodes: publish in cn-11 → searchable in cn-44 (through the hub, by
pokes), files fetched lazily from the origin, rights changes and takedowns reach every node."""

from __future__ import annotations

import hashlib
import json
import secrets
import time

import pytest

from catalog.placeholders import placeholder_bytes
from tests.federation_e2e.cluster import Node, wait_until

pytestmark = pytest.mark.slow
PROPAGATION_LIMIT = 5.0  # seconds; the goal is p50 < 2 s, measured by bench/federation_bench.py


def publish(node: Node, title: str, **rights_overrides: object) -> str:
    """Deposit, submit, approve and publish a resource through the node's API; return its id."""
    publisher, reviewer = node.token("publisher"), node.token("reviewer")
    metadata = {"title": title, "stage": "初中", "subject": "数学", "grade": "七年级", "edition": "人教版",
                "volume": "上册", "resource_type": "课件", "keywords": ["有理数"]}
    rights = {"holder": "北京市数字教育出版中心", "year": 2024, "license": "CC-BY-4.0", **rights_overrides}
    created = node.api("POST", "/api/v1/resources", token=publisher,
                       data={"metadata": json.dumps(metadata), "rights": json.dumps(rights)},
                       files={"files": ("课件.pdf", placeholder_bytes("x.pdf", title), "application/pdf")})
    assert created.status_code == 201, created.text
    resource_id = created.json()["id"]
    node.accept_commitment("publisher")
    for who, action in ((publisher, "submit"), (reviewer, "approve"), (reviewer, "publish")):
        response = node.api("POST", f"/api/v1/resources/{resource_id}/{action}", token=who)
        assert response.status_code == 200, response.text
    return resource_id


def visible(node: Node, resource_id: str) -> dict | None:
    response = node.api("GET", f"/api/v1/resources/{resource_id}")
    return response.json() if response.status_code == 200 else None


def search_ids(node: Node, query: str) -> list[str]:
    response = node.api("GET", "/api/v1/search", params={"q": query})
    assert response.status_code == 200, response.text
    return [hit["id"] for hit in response.json()["results"]]


@pytest.fixture(scope="module")
def published(cluster):
    """One resource published in cn-11 during this module, with the time it took to reach cn-44."""
    marker = f"fed{secrets.token_hex(3)}"
    resource_id = publish(cluster.p11, f"人教版七年级数学上册 有理数 联邦课件 {marker}")
    published_at = time.monotonic()
    wait_until(lambda: resource_id in search_ids(cluster.p44, marker), timeout=30,
               what="the resource to be searchable in cn-44")
    return {"id": resource_id, "marker": marker, "latency": time.monotonic() - published_at}


def test_published_in_cn11_is_searchable_in_cn44_with_its_origin(cluster, published):
    assert published["latency"] < PROPAGATION_LIMIT, published
    assert published["id"] in search_ids(cluster.p44, published["marker"])
    record = visible(cluster.p44, published["id"])
    assert record["origin_node"] == "cn-11" and record["is_remote"] is True
    assert record["rights"]["license"] == "CC-BY-4.0"
    origin = visible(cluster.p11, published["id"])
    assert record["version"] == origin["version"] and record["files"][0]["sha256"] == origin["files"][0]["sha256"]


def test_remote_file_is_fetched_from_the_origin_and_checked(cluster, published):
    """cn-44 (the teacher's home node) fetches the bytes from cn-11 with a signed request, checks the
    sha256 from the signed record and caches them content-addressed."""
    script = (
        "from catalog.models import ResourceFile\n"
        "from federation.files import ensure_local\n"
        f"f = ResourceFile.objects.get(resource_id='{published['id']}')\n"
        "before = f.available_locally\n"
        "f = ensure_local(f)\n"
        "print('RESULT', before, f.available_locally, f.sha256)\n"
    )
    out = cluster.p44.manage("shell", "-c", script).stdout
    [line] = [line for line in out.splitlines() if line.startswith("RESULT ")]
    _, before, after, sha = line.split()
    assert (before, after) == ("False", "True")
    blob = cluster.p44.data_dir / "blobs" / "sha256" / sha[:2] / sha[2:4] / sha
    assert hashlib.sha256(blob.read_bytes()).hexdigest() == sha


def test_rights_change_propagates(cluster, published):
    """A rights change is a revision: it travels once a reviewer of the origin's province approved it."""
    publisher, reviewer = cluster.p11.token("publisher"), cluster.p11.token("reviewer")
    response = cluster.p11.api("PATCH", f"/api/v1/resources/{published['id']}", token=publisher,
                               json={"rights": {"license": "ALL-RIGHTS-RESERVED", "price": 5, "free_for": ["rural"]}})
    assert response.status_code == 202, response.text
    for token, action in ((publisher, "submit"), (reviewer, "approve")):
        response = cluster.p11.api("POST", f"/api/v1/resources/{published['id']}/{action}", token=token)
        assert response.status_code == 200, response.text
    for node in (cluster.hub, cluster.p44):
        record = wait_until(lambda node=node: (r := visible(node, published["id"])) and r["rights"]["price"] == 5
                            and r, timeout=20, what=f"the rights change on {node.node_id}")
        assert record["rights"]["free_for"] == ["rural"]


def test_takedown_in_cn11_is_gone_from_cn44(cluster):
    marker = f"tdn{secrets.token_hex(3)}"
    resource_id = publish(cluster.p11, f"人教版七年级数学上册 有理数 待下架课件 {marker}")
    wait_until(lambda: visible(cluster.p44, resource_id), timeout=30, what="the resource in cn-44")
    admin, reviewer = cluster.p11.token("province_admin"), cluster.p11.token("reviewer")
    notice = cluster.p11.api("POST", "/api/v1/takedowns", token=admin,
                             json={"resource": resource_id, "grounds": "copyright", "statement": "未经授权转载"})
    assert notice.status_code == 201, notice.text
    started = time.monotonic()
    upheld = cluster.p11.api("POST", f"/api/v1/takedowns/{notice.json()['id']}/uphold", token=reviewer,
                             json={"note": "侵权成立"})
    assert upheld.status_code == 200, upheld.text
    wait_until(lambda: visible(cluster.p44, resource_id) is None, timeout=30, what="the takedown in cn-44")
    assert time.monotonic() - started < PROPAGATION_LIMIT
    wait_until(lambda: resource_id not in search_ids(cluster.p44, marker), timeout=10, what="out of search")
    with cluster.p44.db() as db:
        kind, = db.execute("SELECT kind FROM federation_remoterecord WHERE resource_id = ?",
                           (resource_id.replace("-", ""),)).fetchone()
        status, note = db.execute("SELECT status, review_note FROM catalog_resource WHERE id = ?",
                                  (resource_id.replace("-", ""),)).fetchone()
    assert kind == "tombstone" and (status, note) == ("withdrawn", "takedown_upheld")
    assert visible(cluster.hub, resource_id) is None


def test_a_national_takedown_at_the_hub_withdraws_a_province_resource_everywhere(cluster):
    """A hub operator upholds a notice at the hub on a cn-11 resource: the hub signs a takedown
    order; cn-44 withdraws its copy, and cn-11 — the origin, which decided nothing — withdraws its own
    resource and publishes the tombstone."""
    marker = f"ntd{secrets.token_hex(3)}"
    resource_id = publish(cluster.p11, f"人教版七年级数学上册 有理数 国家下架课件 {marker}")
    wait_until(lambda: visible(cluster.p44, resource_id) and visible(cluster.hub, resource_id), timeout=30,
               what="the resource in cn-44 and at the hub")
    operator = cluster.hub.token("hub_operator")
    notice = cluster.hub.api("POST", "/api/v1/takedowns", token=operator,
                             json={"resource": resource_id, "grounds": "unlawful_content", "statement": "内容违规"})
    assert notice.status_code == 201, notice.text
    started = time.monotonic()
    upheld = cluster.hub.api("POST", f"/api/v1/takedowns/{notice.json()['id']}/uphold", token=operator,
                             json={"note": "国家层面下架"})
    assert upheld.status_code == 200, upheld.text
    assert visible(cluster.hub, resource_id) is None
    wait_until(lambda: visible(cluster.p44, resource_id) is None, timeout=30, what="the national takedown in cn-44")
    wait_until(lambda: visible(cluster.p11, resource_id) is None, timeout=30, what="the national takedown at the origin")
    assert time.monotonic() - started < PROPAGATION_LIMIT * 2
    with cluster.p11.db() as db:
        status, version = db.execute("SELECT status, version FROM catalog_resource WHERE id = ?",
                                     (resource_id.replace("-", ""),)).fetchone()
        tombstones = db.execute("SELECT count(*) FROM federation_outboxentry WHERE resource_id = ? AND kind = ?",
                                (resource_id.replace("-", ""), "tombstone")).fetchone()[0]
    assert status == "withdrawn" and tombstones == 1
    assert resource_id not in search_ids(cluster.p44, marker)


def test_a_notice_filed_in_cn44_about_a_cn11_resource_is_decided_at_the_hub(cluster):
    """cn-44 cannot decide about cn-11's resource: its notice goes to the hub, whose operator decides;
    the decision comes back to cn-44 (rejected here; upheld, it withdraws the resource everywhere)."""
    rejected_id = publish(cluster.p11, f"人教版七年级数学上册 有理数 转交驳回 {secrets.token_hex(3)}")
    upheld_id = publish(cluster.p11, f"人教版七年级数学上册 有理数 转交成立 {secrets.token_hex(3)}")
    for rid in (rejected_id, upheld_id):
        wait_until(lambda r=rid: visible(cluster.p44, r) and visible(cluster.hub, r), timeout=30,
                   what="the resource in cn-44 and at the hub")
    admin44, operator = cluster.p44.token("province_admin"), cluster.hub.token("hub_operator")
    local = {}
    for rid in (rejected_id, upheld_id):
        filed = cluster.p44.api("POST", "/api/v1/takedowns", token=admin44,
                                json={"resource": rid, "grounds": "copyright", "statement": "转载未授权"})
        assert filed.status_code == 201, filed.text
        assert filed.json()["forwarded_to"] == "cn-hub"
        local[rid] = filed.json()["id"]

    def at_hub(rid: str) -> dict | None:
        rows = cluster.hub.api("GET", "/api/v1/takedowns", token=operator).json()["results"]
        return next((n for n in rows if n["resource"] == rid and n["forwarded_from"] == "cn-44"), None)

    forwarded = {rid: wait_until(lambda r=rid: at_hub(r), timeout=30, what="the forwarded notice at the hub")
                 for rid in (rejected_id, upheld_id)}
    assert forwarded[upheld_id]["filed_by"] is None and forwarded[upheld_id]["status"] == "open"
    rejected = cluster.hub.api("POST", f"/api/v1/takedowns/{forwarded[rejected_id]['id']}/reject", token=operator,
                               json={"note": "已获授权"})
    assert rejected.status_code == 200, rejected.text
    upheld = cluster.hub.api("POST", f"/api/v1/takedowns/{forwarded[upheld_id]['id']}/uphold", token=operator,
                             json={"note": "侵权成立"})
    assert upheld.status_code == 200, upheld.text

    def local_status(rid: str) -> str:
        return cluster.p44.api("GET", f"/api/v1/takedowns/{local[rid]}", token=admin44).json()["status"]

    wait_until(lambda: local_status(rejected_id) == "rejected", timeout=30, what="the rejection back in cn-44")
    wait_until(lambda: local_status(upheld_id) == "upheld", timeout=30, what="the decision back in cn-44")
    assert "已获授权" in cluster.p44.api("GET", f"/api/v1/takedowns/{local[rejected_id]}",
                                      token=admin44).json()["decision_note"]
    wait_until(lambda: visible(cluster.p44, upheld_id) is None and visible(cluster.p11, upheld_id) is None,
               timeout=30, what="the upheld resource withdrawn in cn-44 and at its origin")
    assert visible(cluster.p44, rejected_id) and visible(cluster.p11, rejected_id)
