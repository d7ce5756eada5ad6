"""The main journeys end to end through the production topology (``conftest.py``): a publisher's upload
through nginx, review, propagation over signed federation with rq workers and sync loops, search on
Elasticsearch, downloads of files fetched from the origin and served by the object store (presigned, through
nginx's object-store site for cn-44), a purchase with vouchers settled at the hub, and a national takedown
gone everywhere."""

from __future__ import annotations

import hashlib
import json
import secrets

import requests

from catalog.placeholders import placeholder_bytes
from tests.production.stack import ProdNode, wait_until

PROPAGATION = 60  # seconds at most for a change to reach another node (pokes make it about a second)


def publish(node: ProdNode, title: str, **rights: object) -> tuple[str, bytes]:
    """Upload, submit, approve and publish through the node's public address; the id and the file's bytes."""
    publisher, reviewer = node.token("publisher"), node.token("reviewer")
    metadata = {"title": title, "stage": "初中", "subject": "数学", "grade": "七年级", "edition": "人教版",
                "volume": "上册", "resource_type": "课件", "keywords": ["有理数"]}
    body = placeholder_bytes("x.pdf", title)
    created = node.api("POST", "/api/v1/resources", token=publisher,
                       data={"metadata": json.dumps(metadata),
                             "rights": json.dumps({"holder": "示例出版社", "year": 2024, "license": "CC-BY-4.0",
                                                   **rights})},
                       files={"files": ("课件.pdf", body, "application/pdf")})
    assert created.status_code == 201, created.text
    resource_id = created.json()["id"]
    node.accept_commitment("publisher")
    for who, action in ((publisher, "submit"), (reviewer, "approve"), (reviewer, "publish")):
        response = node.api("POST", f"/api/v1/resources/{resource_id}/{action}", token=who)
        assert response.status_code == 200, response.text
    return resource_id, body


def visible(node: ProdNode, resource_id: str) -> bool:
    return node.api("GET", f"/api/v1/resources/{resource_id}").status_code == 200


def found(node: ProdNode, query: str) -> list[str]:
    response = node.api("GET", "/api/v1/search", params={"q": query})
    assert response.status_code == 200, response.text
    return [hit["id"] for hit in response.json()["results"]]


def download(node: ProdNode, resource_id: str, username: str = "teacher") -> tuple[dict, bytes]:
    """Ask for the download and fetch the one file from the link (presigned: the object store)."""
    response = node.api("POST", f"/api/v1/resources/{resource_id}/download", token=node.token(username), json={})
    assert response.status_code == 200, response.text
    [link] = response.json()["files"]
    fetched = requests.get(link["url"], timeout=60, verify=str(node.ca_bundle) if node.ca_bundle else True)
    assert fetched.status_code == 200, (link["url"], fetched.status_code, fetched.text[:500])
    return link, fetched.content


def test_published_in_cn44_through_nginx_is_found_and_downloaded_in_cn11(stack):
    marker = f"prod{secrets.token_hex(3)}"
    resource_id, body = publish(stack.p44, f"人教版七年级数学上册 有理数 生产环境课件 {marker}")
    wait_until(lambda: resource_id in found(stack.p11, marker), timeout=PROPAGATION,
               what="the cn-44 resource in cn-11's search")
    record = stack.p11.api("GET", f"/api/v1/resources/{resource_id}").json()
    assert record["origin_node"] == "cn-44" and record["is_remote"] is True
    link, fetched = download(stack.p11, resource_id)  # cn-11 fetches the bytes from cn-44 (through nginx)
    assert link["delivery"] == "presigned" and link["url"].startswith(stack.p11.env["S3_PUBLIC_ENDPOINT_URL"] + "/")
    assert fetched == body and hashlib.sha256(fetched).hexdigest() == link["sha256"]
    # And at home, through nginx's object-store site.
    link, fetched = download(stack.p44, resource_id)
    assert link["url"].startswith(stack.files_url + "/") and fetched == body


def settlement_row(node: ProdNode, username: str, publisher: str) -> dict | None:
    response = node.api("GET", "/api/v1/settlement", token=node.token(username))
    assert response.status_code == 200, response.text
    return next((row for row in response.json()["rows"] if row["publisher"] == publisher), None)


def test_a_paid_resource_of_cn11_is_bought_in_cn44_and_settled_at_the_hub(stack):
    """A teacher of cn-44 (through nginx) buys a school grant with vouchers for a cn-11 resource and
    downloads it; the signed receipt reaches the hub, whose settlement counts the sale for cn-11's
    publisher, and the origin, whose publisher sees it."""
    p11, p44, hub = stack.p11, stack.p44, stack.hub
    marker = f"paid{secrets.token_hex(3)}"
    resource_id, body = publish(p11, f"人教版七年级数学上册 有理数 付费课件 {marker}", license="ALL-RIGHTS-RESERVED",
                                price=4)
    publisher = p11.api("GET", f"/api/v1/resources/{resource_id}").json()["publisher"]
    wait_until(lambda: resource_id in found(p44, marker), timeout=PROPAGATION, what="the paid resource in cn-44")
    teacher = p44.token("teacher")
    school = p44.api("GET", "/api/v1/me", token=teacher).json()["organisation"]["id"]
    funded = p44.api("POST", "/api/v1/vouchers/fund", token=p44.token("province_admin"),
                     json={"school": school, "per_student": 1, "memo": "生产环境测试"})
    assert funded.status_code == 201, funded.text
    refused = p44.api("POST", f"/api/v1/resources/{resource_id}/download", token=teacher, json={})
    assert refused.status_code == 402 and refused.json()["error"]["code"] == "purchase_required", refused.text
    bought = p44.api("POST", f"/api/v1/resources/{resource_id}/grants", token=teacher, json={"scope": "school"})
    assert bought.status_code == 201, bought.text
    link, fetched = download(p44, resource_id)
    assert link["url"].startswith(stack.files_url + "/") and fetched == body

    at_hub = wait_until(lambda: (row := settlement_row(hub, "hub_operator", publisher)) and row["grants_elsewhere"]
                        and row, timeout=PROPAGATION, what="the receipt in the hub's settlement")
    assert at_hub["grants_elsewhere"] == 1 and at_hub["vouchers_elsewhere"] == 4
    at_origin = wait_until(lambda: (row := settlement_row(p11, "publisher", publisher)) and row["grants_elsewhere"]
                           and row, timeout=PROPAGATION, what="the receipt in the origin's settlement")
    assert at_origin["grants_elsewhere"] == 1 and at_origin["vouchers_elsewhere"] == 4 and at_origin["grants"] == 0


def test_a_national_takedown_is_gone_everywhere(stack):
    """A hub operator upholds a notice on a cn-44 resource: it is withdrawn at the origin (behind nginx),
    at the hub and in cn-11 — out of every search, and no node hands out its file any more."""
    hub, p11, p44 = stack.hub, stack.p11, stack.p44
    marker = f"down{secrets.token_hex(3)}"
    resource_id, _ = publish(p44, f"人教版七年级数学上册 有理数 国家下架课件 {marker}")
    for node in (hub, p11):
        wait_until(lambda node=node: resource_id in found(node, marker), timeout=PROPAGATION,
                   what=f"the resource in {node.node_id}'s search")
    download(p11, resource_id)  # cn-11 holds the bytes now
    operator = hub.token("hub_operator")
    notice = hub.api("POST", "/api/v1/takedowns", token=operator,
                     json={"resource": resource_id, "grounds": "unlawful_content", "statement": "内容违规"})
    assert notice.status_code == 201, notice.text
    upheld = hub.api("POST", f"/api/v1/takedowns/{notice.json()['id']}/uphold", token=operator,
                     json={"note": "国家层面下架"})
    assert upheld.status_code == 200, upheld.text
    for node in (hub, p11, p44):
        wait_until(lambda node=node: not visible(node, resource_id) and resource_id not in found(node, marker),
                   timeout=PROPAGATION, what=f"the takedown at {node.node_id}")
        refused = node.api("POST", f"/api/v1/resources/{resource_id}/download", token=node.token("teacher"), json={})
        assert refused.status_code == 404, (node.node_id, refused.text)
