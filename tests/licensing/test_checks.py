"""The licence audit at approval: incoherent rights statements are refused with stable reason codes
that the reviewer gets in the error and the publisher can read before submitting."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from catalog.models import Resource, RightsStatement
from catalog.review.subject import subject_of_resource
from licensing.checks import CODES, rights_coherent
from tests.factories import METADATA, RIGHTS, pdf_bytes


def deposit_and_submit(api_as, users, **rights):
    publisher = api_as(users["publisher"])
    created = publisher.post("/api/v1/resources", {
        "metadata": json.dumps(METADATA), "rights": json.dumps(RIGHTS | rights),
        "files": [SimpleUploadedFile("a.pdf", pdf_bytes("audit"))]}, format="multipart")
    assert created.status_code == 201, created.json()
    resource_id = created.json()["id"]
    assert publisher.post(f"/api/v1/resources/{resource_id}/submit").status_code == 200
    return resource_id


def test_review_refuses_incoherent_rights_with_a_stable_code(api_as, users):
    """All rights reserved with neither a price nor a territory would be free nationwide: refused."""
    resource_id = deposit_and_submit(api_as, users, license="ALL-RIGHTS-RESERVED", price=0)
    response = api_as(users["reviewer"]).post(f"/api/v1/resources/{resource_id}/approve", {}, format="json")
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "approval_check_failed"
    assert [p["code"] for p in error["details"]["problems"]] == ["arr_without_price_or_territory"]
    assert Resource.objects.get(pk=resource_id).status == "submitted"
    seen_by_publisher = api_as(users["publisher"]).get(f"/api/v1/resources/{resource_id}/rights/check").json()
    assert seen_by_publisher["coherent"] is False
    assert [p["code"] for p in seen_by_publisher["problems"]] == ["arr_without_price_or_territory"]


def test_coherent_priced_rights_pass_review(api_as, users, province):
    resource_id = deposit_and_submit(api_as, users, license="ALL-RIGHTS-RESERVED", price=8, territory=[province],
                                     free_for=["rural"])
    assert api_as(users["publisher"]).get(f"/api/v1/resources/{resource_id}/rights/check").json() == {
        "coherent": True, "problems": [], "revision": None}
    response = api_as(users["reviewer"]).post(f"/api/v1/resources/{resource_id}/approve", {}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "approved"


def test_rights_check_is_for_the_publisher_and_the_reviewers(api_as, users, make_resource):
    resource = make_resource()
    url = f"/api/v1/resources/{resource.pk}/rights/check"
    assert api_as(users["publisher"]).get(url).status_code == 200
    assert api_as(users["reviewer"]).get(url).status_code == 200
    other = api_as(users["other_publisher"]).get(url)
    assert other.status_code == 403 and other.json()["error"]["code"] == "permission_denied"
    assert api_as(users["other_reviewer"]).get(url).status_code == 403
    assert api_as(users["teacher"]).get(url).status_code == 403


def codes(resource) -> list[str]:
    return [p["code"] for p in rights_coherent(subject_of_resource(Resource.objects.get(pk=resource.pk)))]


def set_rights(resource, **fields) -> Resource:
    RightsStatement.objects.filter(resource=resource).update(**fields)
    return resource


@pytest.mark.parametrize(("fields", "expected"), [
    ({"holder": " "}, ["missing_holder"]),
    ({"license_id": "ALL-RIGHTS-RESERVED", "price": 0, "territory": []}, ["arr_without_price_or_territory"]),
    ({"license_id": "ALL-RIGHTS-RESERVED", "price": 0, "territory": ["440000"]}, []),
    ({"license_id": "CC-BY-4.0", "price": 3}, ["price_on_open_licence"]),
    ({"license_id": "ALL-RIGHTS-RESERVED", "price": 3, "grant_days": 0}, ["priced_without_grant_term"]),
    ({"embargo_until": dt.date(2031, 1, 1), "term_end": dt.date(2030, 1, 1)}, ["embargo_after_term_end"]),
    ({"term_end": dt.date(2001, 1, 1)}, ["term_already_ended"]),
    ({"license_id": "CC-BY-ND-4.0", "derived_from": uuid.uuid4()}, ["nd_licence_on_derived_work"]),
    ({"license_id": "CC-BY-4.0", "derived_from": uuid.uuid4()}, []),  # source unknown here: nothing to check
])
def test_each_incoherence_has_its_code(make_resource, fields, expected):
    assert codes(set_rights(make_resource(), **fields)) == expected
    assert set(expected) <= set(CODES)


def test_derivation_rules_against_a_known_source(make_resource):
    nd_source = make_resource(publisher="other_publisher", license="CC-BY-ND-4.0")
    sa_source = make_resource(publisher="other_publisher", license="CC-BY-SA-4.0")
    own_arr_source = make_resource(license="ALL-RIGHTS-RESERVED", price=2, territory=["440000"])
    assert codes(set_rights(make_resource(), derived_from=nd_source.pk)) == ["source_forbids_derivatives"]
    assert codes(set_rights(make_resource(), derived_from=sa_source.pk)) == ["share_alike_not_kept"]
    assert codes(set_rights(make_resource(license="CC-BY-SA-4.0"), derived_from=sa_source.pk)) == []
    assert codes(set_rights(make_resource(), derived_from=own_arr_source.pk)) == []  # the holder adapts its own
    itself = make_resource()
    assert codes(set_rights(itself, derived_from=itself.pk)) == ["derived_from_self"]


def test_missing_rights_statement(make_resource):
    resource = make_resource()
    RightsStatement.objects.filter(resource=resource).delete()
    assert codes(resource) == ["missing_rights"]


def test_problems_are_messages_in_chinese_by_default(make_resource):
    resource = set_rights(make_resource(), term_end=timezone.localdate() - dt.timedelta(days=1))
    [problem] = rights_coherent(subject_of_resource(Resource.objects.get(pk=resource.pk)))
    assert problem == {"code": "term_already_ended", "message": "授权终止日期已过。", "field": "term_end"}
