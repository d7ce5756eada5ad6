"""The national negative list between real nodes: a hub operator adds an entry at the hub; the signed new
version reaches the provinces (pushed, and pulled on their ticks); cn-11 re-checks its published resources and
puts the one that now matches in front of its reviewers — still published — with a report for its
administrator; a resource under review is then refused approval for the same term."""

from __future__ import annotations

import json
import secrets

import pytest

from catalog.placeholders import placeholder_bytes
from tests.federation_e2e.cluster import wait_until
from tests.federation_e2e.test_federation_e2e_propagation import publish, visible

pytestmark = pytest.mark.slow


def national_version(node) -> int:
    answer = node.api("GET", "/api/v1/negative-list/local", token=node.token("province_admin"))
    assert answer.status_code == 200, answer.text
    return answer.json()["versions"]["national"]


def rechecks_of(node, resource_id: str) -> list[dict]:
    queue = node.api("GET", "/api/v1/review/rechecks", token=node.token("reviewer"))
    assert queue.status_code == 200, queue.text
    return [item for item in queue.json()["results"] if item["resource"] == resource_id]


def test_hub_negative_list_update_reaches_provinces_and_triggers_the_recheck(cluster):
    marker = secrets.token_hex(3)
    term = f"禁语{marker}"
    # published in cn-11 before the term is listed: approval had nothing against it
    resource_id = publish(cluster.p11, f"人教版七年级数学上册 有理数 讲义 {'禁 語'}{marker}")

    added = cluster.hub.api("POST", "/api/v1/federation/negative-list", token=cluster.hub.token("hub_operator"),
                            json={"term": term, "category": "other", "severity": "hard", "note": "e2e"})
    assert added.status_code == 201, added.text
    version = added.json()["version"]

    wait_until(lambda: national_version(cluster.p11) >= version and national_version(cluster.p44) >= version,
               timeout=60, what="both provinces to hold the new national list version")
    wait_until(lambda: rechecks_of(cluster.p11, resource_id), timeout=60,
               what="cn-11's reviewers to get a re-check item for the matching resource")
    [item] = rechecks_of(cluster.p11, resource_id)
    # the title, and the text kept from the file at its pre-review (the sample PDF carries the title)
    assert {f["field"] for f in item["findings"]} == {"title", "file:课件.pdf"}
    for finding in item["findings"]:
        assert finding["code"] == "negative_term" and finding["severity"] == "hard"
        assert finding["detail"]["term"] == term and finding["detail"]["scope"] == "national"
    assert item["status"] == "open"
    assert visible(cluster.p11, resource_id)["status"] == "published"  # not silently unpublished

    report = cluster.p11.api("GET", "/api/v1/prereview/rechecks", token=cluster.p11.token("province_admin")).json()
    run = next(r for r in report["results"] if r["id"] == item["run"])
    assert run["scope"] == "national" and run["received_from"] == "cn-hub" and run["matched"] >= 1
    assert run["list_version"].startswith(f"N{version}.")
    detail = cluster.p11.api("GET", f"/api/v1/prereview/rechecks/{run['id']}",
                             token=cluster.p11.token("province_admin")).json()
    assert resource_id in {i["resource"] for i in detail["items"]}

    # a new submission in cn-44 with the term in its file is refused approval
    p44 = cluster.p44
    publisher, reviewer = p44.token("publisher"), p44.token("reviewer")
    metadata = {"title": "有理数 课件", "stage": "初中", "subject": "数学", "grade": "七年级", "edition": "人教版",
                "volume": "上册", "resource_type": "课件", "keywords": ["有理数"], "description": "课件"}
    created = p44.api("POST", "/api/v1/resources", token=publisher, data={
        "metadata": json.dumps(metadata),
        "rights": json.dumps({"holder": "广东教育出版社", "year": 2024, "license": "CC-BY-4.0"})},
        files={"files": ("课件.pdf", placeholder_bytes("x.pdf", f"附录 {term}"), "application/pdf")})
    assert created.status_code == 201, created.text
    new_id = created.json()["id"]
    p44.accept_commitment("publisher")
    assert p44.api("POST", f"/api/v1/resources/{new_id}/submit", token=publisher).status_code == 200
    refused = p44.api("POST", f"/api/v1/resources/{new_id}/approve", token=reviewer)
    assert refused.status_code == 422, refused.text
    problems = refused.json()["error"]["details"]["problems"]
    assert {"negative_term"} == {p["code"] for p in problems if p.get("check") == "prereview"}
