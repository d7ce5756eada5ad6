"""The issue's "done when", through the API only: a rural teacher downloads a priced resource free; a city
teacher pays vouchers once and then downloads freely within the term; a teacher outside the territory is
refused with a clear reason; an upheld takedown removes the resource everywhere on the node within one
request (catalog API, search, download API, links already handed out). Search badges show each teacher
the same decisions on the way."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import urlsplit

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from licensing.models import Grant
from tests.factories import METADATA, pdf_bytes


def search_ids(client, q: str) -> dict[str, dict]:
    response = client.get("/api/v1/search", {"q": q})
    assert response.status_code == 200, response.json()
    return {hit["id"]: hit for hit in response.json()["results"]}


def test_done_when(api, api_as, users, students, province, django_capture_on_commit_callbacks):
    publisher, reviewer = api_as(users["publisher"]), api_as(users["reviewer"])
    rural, city, far = api_as(users["rural_teacher"]), api_as(users["teacher"]), api_as(users["far_teacher"])
    body = pdf_bytes("七年级数学 有理数 精品课件")

    # A publisher deposits a priced, regionally licensed resource, free for rural schools; review passes
    # the licence audit and it is published.
    rights = {"holder": "本省出版社", "year": 2024, "license": "ALL-RIGHTS-RESERVED", "price": 6,
              "free_for": ["rural"], "territory": [province], "grant_days": 180}
    created = publisher.post("/api/v1/resources", {
        "metadata": json.dumps(METADATA), "rights": json.dumps(rights),
        "files": [SimpleUploadedFile("有理数.pdf", body)]}, format="multipart")
    assert created.status_code == 201, created.json()
    rid = created.json()["id"]
    assert publisher.post(f"/api/v1/resources/{rid}/submit").status_code == 200
    assert reviewer.post(f"/api/v1/resources/{rid}/approve", {}, format="json").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):  # the indexing job runs after commit
        assert publisher.post(f"/api/v1/resources/{rid}/publish").status_code == 200
    funded = api_as(users["province_admin"]).post(
        "/api/v1/vouchers/fund", {"school": students["city_school"].pk, "per_student": 1}, format="json")
    assert funded.status_code == 201  # 120 students × 1

    # Search shows each teacher what they may do with it.
    assert search_ids(rural, "有理数")[rid]["access"] == {
        "allowed": True, "reason": "free_for_category", "price": 0, "free_for_you": True}
    assert search_ids(city, "有理数")[rid]["access"] == {
        "allowed": False, "reason": "purchase_required", "price": 6, "free_for_you": False}
    assert search_ids(far, "有理数")[rid]["access"]["reason"] == "outside_territory"

    # 1. The rural teacher downloads it free.
    free = rural.post(f"/api/v1/resources/{rid}/download")
    assert free.status_code == 200
    assert (free.json()["decision"]["reason"], free.json()["decision"]["free_for_you"]) == ("free_for_category", True)
    fetched = api.get(urlsplit(free.json()["files"][0]["url"]).path)
    assert b"".join(fetched.streaming_content) == body

    # 2. The city teacher is asked to pay, pays once, then downloads freely within the term.
    refused = city.post(f"/api/v1/resources/{rid}/download")
    assert refused.status_code == 402
    assert (refused.json()["error"]["code"], refused.json()["error"]["details"]["price"]) == ("purchase_required", 6)
    assert city.get("/api/v1/vouchers/balance").json()["balance"] == 120
    bought = city.post(f"/api/v1/resources/{rid}/grants", {"scope": "personal"}, format="json")
    assert bought.status_code == 201
    for _ in range(3):
        again = city.post(f"/api/v1/resources/{rid}/download")
        assert again.status_code == 200 and again.json()["decision"]["reason"] == "grant_active"
    assert city.get("/api/v1/vouchers/balance").json()["balance"] == 114  # paid once
    assert search_ids(city, "有理数")[rid]["access"]["reason"] == "grant_active"
    Grant.objects.filter(pk=bought.json()["id"]).update(ends_at=timezone.now())  # the term is over
    assert city.post(f"/api/v1/resources/{rid}/download").json()["error"]["code"] == "purchase_required"
    Grant.objects.filter(pk=bought.json()["id"]).update(ends_at=timezone.now() + dt.timedelta(days=1))

    # 3. A teacher outside the territory is refused with a clear reason.
    outside = far.post(f"/api/v1/resources/{rid}/download")
    assert outside.status_code == 403
    error = outside.json()["error"]
    assert error["code"] == "outside_territory" and error["message"] == "该资源的授权地域不包括您所在的地区。"
    assert error["details"]["territory"] == [province] and error["details"]["your_region"] == "110000"

    # 4. An upheld takedown removes it everywhere on the node within one request.
    link = city.post(f"/api/v1/resources/{rid}/download").json()["files"][0]["url"]
    notice = api_as(users["other_publisher"]).post("/api/v1/takedowns", {
        "resource": rid, "grounds": "copyright", "statement": "未经授权使用我社教材插图。"}, format="json").json()
    with django_capture_on_commit_callbacks(execute=True):
        assert reviewer.post(f"/api/v1/takedowns/{notice['id']}/uphold", {}, format="json").status_code == 200
    assert rid not in search_ids(city, "有理数")
    assert api.get(f"/api/v1/resources/{rid}").status_code == 404
    assert rid not in [r["id"] for r in api.get("/api/v1/resources").json()["results"]]
    for client in (rural, city, far):
        assert client.post(f"/api/v1/resources/{rid}/download").status_code == 404
    assert api.get(urlsplit(link).path).json()["error"]["code"] == "withdrawn"
    assert publisher.get(f"/api/v1/resources/{rid}/access").json()["reason"] == "withdrawn"
