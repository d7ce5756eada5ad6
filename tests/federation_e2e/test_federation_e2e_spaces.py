"""A teacher's space across real nodes: records reach cn-44 only by the live signed sync (cn-11 → hub → cn-44,
over HTTP, pokes and the sync loops), never through the catalog apply path called from the test.

- A lesson package (备课包) built by a teacher in cn-11 of cn-11's own resources, downloaded as a zip through
  cn-11's API, is imported through cn-44's API by a teacher there: cn-44's collection refers to the federated
  records (the origin's ids), the files come from the zip (checked against the signed records' sha256), and
  cn-44 decides each item for its own teacher (the licence and territory of each record, as synced).
- A teacher in cn-44 follows a chapter; a resource published in cn-11 in that chapter appears in the teacher's
  新资源 feed (API and Atom) once cn-44 has pulled it; one in another chapter does not.
"""

from __future__ import annotations

import io
import json
import secrets
import xml.etree.ElementTree as ET
import zipfile

import pytest

from catalog.placeholders import placeholder_bytes
from tests.federation_e2e.cluster import Node, wait_until

pytestmark = pytest.mark.slow
ATOM = "{http://www.w3.org/2005/Atom}"
SYNC_WAIT = 60  # seconds: a safety limit for the sync to deliver, not a latency assertion
CHAPTER = {"subject": "数学", "grade": "七年级", "edition": "人教版", "chapter": "第一章 有理数"}


def publish(node: Node, title: str, *, chapter: str = "第一章 有理数", resource_type: str = "课件",
            **rights: object) -> str:
    """Deposit (a real PDF), submit, approve and publish a resource through the node's API; its id."""
    publisher, reviewer = node.token("publisher"), node.token("reviewer")
    metadata = {"title": title, "stage": "初中", "subject": "数学", "grade": "七年级", "edition": "人教版",
                "volume": "上册", "chapter": chapter, "resource_type": resource_type, "keywords": ["有理数"]}
    statement = {"holder": "北京市数字教育出版中心", "year": 2024, "license": "CC-BY-4.0", **rights}
    created = node.api("POST", "/api/v1/resources", token=publisher,
                       data={"metadata": json.dumps(metadata), "rights": json.dumps(statement)},
                       files={"files": (f"{resource_type}.pdf", placeholder_bytes("x.pdf", title), "application/pdf")})
    assert created.status_code == 201, created.text
    resource_id = created.json()["id"]
    node.accept_commitment("publisher")
    for who, action in ((publisher, "submit"), (reviewer, "approve"), (reviewer, "publish")):
        response = node.api("POST", f"/api/v1/resources/{resource_id}/{action}", token=who)
        assert response.status_code == 200, response.text
    return resource_id


def record(node: Node, resource_id: str) -> dict | None:
    response = node.api("GET", f"/api/v1/resources/{resource_id}")
    return response.json() if response.status_code == 200 else None


def test_a_package_built_in_one_node_is_imported_through_anothers_api_onto_the_synced_records(cluster):
    a, b = cluster.p11, cluster.p44
    marker = f"pkg{secrets.token_hex(3)}"
    ids = {
        "open": publish(a, f"有理数 课件 {marker}"),
        "nd": publish(a, f"有理数 教案 {marker}", resource_type="教案", license="CC-BY-ND-4.0"),
        # free, but licensed for cn-11's province only: cn-11's teacher takes it, cn-44's may not
        "home": publish(a, f"有理数 本省学案 {marker}", resource_type="学案", territory=["110000"]),
        "priced": publish(a, f"有理数 精品试卷 {marker}", resource_type="试卷", license="ALL-RIGHTS-RESERVED",
                          price=5),
    }
    synced = {key: wait_until(lambda rid=rid: record(b, rid), timeout=SYNC_WAIT, interval=0.3,
                              what=f"{key} to reach cn-44 by the sync")
              for key, rid in ids.items()}
    for key, rid in ids.items():
        assert (synced[key]["origin_node"], synced[key]["is_remote"]) == ("cn-11", True), synced[key]
        assert synced[key]["files"][0]["sha256"] == record(a, rid)["files"][0]["sha256"]
    with b.db() as db:
        held = db.execute("SELECT COUNT(*) FROM catalog_resourcefile WHERE available_locally = 1 AND "
                          "resource_id IN (?, ?, ?, ?)", [rid.replace("-", "") for rid in ids.values()]).fetchone()[0]
    assert held == 0  # cn-44 holds the records, not their bytes

    teacher_a = a.token("teacher")
    made = a.api("POST", "/api/v1/collections", token=teacher_a, json={"title": f"有理数 第一课时 {marker}"})
    assert made.status_code == 201, made.text
    cid = made.json()["id"]
    for key, step in (("nd", "导入"), ("open", "新授"), ("home", "练习"), ("priced", "作业")):
        added = a.api("POST", f"/api/v1/collections/{cid}/items", token=teacher_a,
                      json={"resource": ids[key], "step": step})
        assert added.status_code == 201, added.text
    zipped = a.api("POST", f"/api/v1/collections/{cid}/package", token=teacher_a)
    assert zipped.status_code == 200, zipped.text
    assert zipped.headers["X-Package-Left-Out"] == "1"  # the priced one: not bought
    with zipfile.ZipFile(io.BytesIO(zipped.content)) as archive:
        assert len([n for n in archive.namelist() if n.startswith("resources/")]) == 3

    teacher_b = b.token("teacher")
    imported = b.api("POST", "/api/v1/collections/import", token=teacher_b,
                     files={"package": ("备课包.zip", zipped.content, "application/zip")})
    assert imported.status_code == 201, imported.text
    result = imported.json()
    assert result["unresolved"] == [] and result["files_stored"] == 3
    assert sorted(result["added"]) == sorted([ids["nd"], ids["open"], ids["home"]])

    collection = b.api("GET", f"/api/v1/collections/{result['collection']}", token=teacher_b).json()
    assert (collection["owner"], collection["visibility"]) == ("teacher", "private")
    assert [(i["resource"], i["step"], i["origin"]) for i in collection["items"]] == [
        (ids["nd"], "导入", "cn-11"), (ids["open"], "新授", "cn-11"), (ids["home"], "练习", "cn-11")]

    plan = b.api("GET", f"/api/v1/collections/{result['collection']}/package", token=teacher_b).json()
    decided = {item["resource"]: (item["status"], item["reason"]) for item in plan["items"]}
    assert decided[ids["open"]][0] == "included" and decided[ids["nd"]][0] == "included"
    assert decided[ids["home"]] == ("refused", "outside_territory")

    with b.db() as db:
        stored = dict(db.execute(
            "SELECT resource_id, available_locally FROM catalog_resourcefile WHERE resource_id IN (?, ?, ?, ?)",
            [ids[k].replace("-", "") for k in ("open", "nd", "home", "priced")]).fetchall())
    assert stored == {ids["open"].replace("-", ""): 1, ids["nd"].replace("-", ""): 1,
                      ids["home"].replace("-", ""): 1, ids["priced"].replace("-", ""): 0}

    again = b.api("POST", f"/api/v1/collections/{result['collection']}/package", token=teacher_b)
    assert again.status_code == 200, again.text  # cn-44 builds its own package from the imported bytes
    assert again.headers["X-Package-Left-Out"] == "1"  # the territory-bound item, for cn-44's teacher
    with zipfile.ZipFile(io.BytesIO(again.content)) as archive:
        assert len([n for n in archive.namelist() if n.startswith("resources/")]) == 2


def test_a_followed_chapter_gets_a_resource_published_in_another_node_by_the_live_sync(cluster):
    a, b = cluster.p11, cluster.p44
    teacher = b.token("teacher")
    followed = b.api("POST", "/api/v1/follows", token=teacher, json=CHAPTER)
    assert followed.status_code == 201, followed.text
    issued = b.api("POST", "/api/v1/feed/token", token=teacher)
    assert issued.status_code == 201, issued.text
    atom_url = issued.json()["url"]
    assert atom_url.startswith(b.url)

    marker = f"feed{secrets.token_hex(3)}"
    wanted = publish(a, f"人教版七年级数学上册 第一章 有理数 外省精品课件 {marker}")
    other = publish(a, f"人教版七年级数学上册 第二章 整式的加减 {marker}", chapter="第二章 整式的加减")
    wait_until(lambda: record(b, other), timeout=SYNC_WAIT, interval=0.3, what="the other chapter's resource")

    def in_feed() -> list[dict]:
        response = b.api("GET", "/api/v1/feed", token=teacher)
        assert response.status_code == 200, response.text
        return [item for item in response.json()["results"] if marker in item["title"]]

    items = wait_until(in_feed, timeout=SYNC_WAIT, interval=0.3, what="the resource in cn-44's feed")
    assert [(item["title"], item["origin"]) for item in items] == [
        (f"人教版七年级数学上册 第一章 有理数 外省精品课件 {marker}", "cn-11")]
    assert record(b, wanted)["is_remote"] is True

    atom = b.api("GET", atom_url.removeprefix(b.url))
    assert atom.status_code == 200 and atom.headers["Content-Type"].startswith("application/atom+xml")
    entries = ET.fromstring(atom.content).findall(f"{ATOM}entry")  # noqa: S314 - the node's own answer
    titles = [e.findtext(f"{ATOM}title") for e in entries if marker in (e.findtext(f"{ATOM}title") or "")]
    assert titles == [f"人教版七年级数学上册 第一章 有理数 外省精品课件 {marker}"]

    colleague = b.token("school_admin")  # follows nothing
    assert all(marker not in item["title"]
               for item in b.api("GET", "/api/v1/feed", token=colleague).json()["results"])
