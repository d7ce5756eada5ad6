"""schema.org LearningResource JSON-LD: served at /api/v1/resources/{id}?format=jsonld and built by
catalog.jsonld for pages and the OAI-PMH provider."""

from __future__ import annotations

import json

import pytest

from catalog.jsonld import IN_COPYRIGHT_URI, jsonld_script, license_uri, typical_age_range
from catalog.models import License, Resource
from tests.factories import ResourceFactory

pytestmark = pytest.mark.django_db


def get_jsonld(api, resource: Resource):
    return api.get(f"/api/v1/resources/{resource.pk}", {"format": "jsonld"})


def test_jsonld_describes_a_learning_resource(api, orgs):
    """The JSON-LD names the resource, its level, subject, type, language, licence URI and holder."""
    resource = ResourceFactory(
        publisher=orgs["publisher"],
        description="有理数的概念",
        keywords=["有理数", "数轴"],
        chapter="第一章 有理数",
        section="1.2 有理数",
    )
    response = get_jsonld(api, resource)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/ld+json")
    data = json.loads(response.content)
    assert data["@context"] == "https://schema.org"
    assert data["@type"] == "LearningResource"
    assert data["@id"].endswith(f"/api/v1/resources/{resource.pk}")
    assert data["identifier"] == f"urn:uuid:{resource.pk}"
    assert data["name"] == resource.title
    assert data["description"] == "有理数的概念"
    assert data["keywords"] == ["有理数", "数轴"]
    assert data["inLanguage"] == "zh-Hans"
    assert data["license"] == "https://creativecommons.org/licenses/by/4.0/"
    assert data["copyrightHolder"] == {"@type": "Organization", "name": "本省出版社"}
    assert data["copyrightYear"] == 2024
    assert data["publisher"]["name"] == "本省出版社"
    levels = {term["name"]: term for term in data["educationalLevel"]}
    assert levels["初中"]["termCode"] == "junior_secondary"
    assert levels["初中"]["alternateName"] == "Junior secondary school"
    assert "七年级" in levels
    assert data["about"][0]["name"] == "数学"
    assert data["about"][0]["alternateName"] == "Mathematics"
    assert data["learningResourceType"][0]["name"] == "课件"
    assert data["learningResourceType"][0]["termCode"] == "slides"
    assert data["teaches"] == "第一章 有理数 1.2 有理数"
    assert data["typicalAgeRange"] == "12-13"
    assert data["isAccessibleForFree"] is True
    assert "offers" not in data
    assert data["audience"] == {"@type": "EducationalAudience", "educationalRole": "teacher"}
    assert data["encoding"][0]["encodingFormat"] == "application/pdf"
    assert data["datePublished"].startswith(str(resource.published_at.date()))


def test_paid_proprietary_resource_has_an_offer_and_a_rights_statement_uri(api, orgs):
    """A priced, all-rights-reserved resource points to the "In Copyright" statement and carries an
    offer priced in vouchers."""
    resource = ResourceFactory(
        publisher=orgs["publisher"], license="ALL-RIGHTS-RESERVED", price=3, territory=["440000"]
    )
    data = json.loads(get_jsonld(api, resource).content)
    assert data["license"] == IN_COPYRIGHT_URI
    assert data["isAccessibleForFree"] is False
    assert data["offers"]["price"] == 3
    assert data["offers"]["eligibleRegion"] == [{"@type": "AdministrativeArea", "identifier": "440000"}]


def test_unpublished_resource_is_not_found_in_the_json_error_shape(api, orgs):
    """Drafts are invisible to the public in JSON-LD as in JSON: 404 with the API's error shape."""
    draft = ResourceFactory(publisher=orgs["publisher"], status=Resource.Status.DRAFT)
    response = get_jsonld(api, draft)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert json.loads(response.content)["error"]["code"] == "resource_not_found"


def test_plain_json_is_unchanged(api, orgs):
    """Without ?format=jsonld (or with ?format=json) the resource is the usual JSON document."""
    resource = ResourceFactory(publisher=orgs["publisher"])
    for params in ({}, {"format": "json"}):
        response = api.get(f"/api/v1/resources/{resource.pk}", params)
        assert response.status_code == 200
        assert response["Content-Type"].startswith("application/json")
        assert response.json()["id"] == str(resource.pk)
        assert "@context" not in response.json()


def test_openapi_schema_still_generates(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert "/api/v1/resources/{resource_id}" in response.json()["paths"]


def test_licence_uris_are_standard():
    """A licence's own URL wins; known ids fall back to their deeds; proprietary terms to InC."""
    assert (
        license_uri(License(id="CC-BY-SA-4.0", url="")) == "https://creativecommons.org/licenses/by-sa/4.0/"
    )
    assert license_uri(License(id="X-CUSTOM", url="https://example.org/terms")) == "https://example.org/terms"
    assert license_uri(License(id="X-CUSTOM", url="")) == IN_COPYRIGHT_URI
    assert license_uri(None) == IN_COPYRIGHT_URI


def test_typical_age_range_from_grade_or_stage():
    assert typical_age_range(stage="小学", grade="一年级") == "6-7"
    assert typical_age_range(stage="初中", grade="九年级") == "14-15"
    assert typical_age_range(stage="小学", grade="三至四年级") == "8-10"
    assert typical_age_range(stage="高中") == "15-18"
    assert typical_age_range(stage="初中", stage_data={"grade_from": 7, "grade_to": 9}) == "12-15"
    assert typical_age_range(stage="幼儿园") is None


def test_jsonld_script_cannot_be_closed_by_a_value():
    """Embedding in a page: no value can end the script element early."""
    tag = jsonld_script({"name": "</script><script>alert(1)</script> & 数学"})
    assert tag.startswith('<script type="application/ld+json">')
    assert tag.count("</script>") == 1
    body = tag.removeprefix('<script type="application/ld+json">').removesuffix("</script>")
    assert json.loads(body)["name"] == "</script><script>alert(1)</script> & 数学"
