"""Remix with lineage and teachers sharing their own lessons as their school.

Deriving is decided by ``decide(user, source, "derive")``: ND licences and all-rights-reserved terms are
refused with the stable code ``derivatives_not_allowed`` (and the kind of licence in the details); an allowed
remix is a draft of the user's organisation that credits and links its source, keeps a share-alike source's
licence, shows its lineage on the page and in the API, carries ``rights.derived_from`` in the signed
federation record, and goes through the same review. A teacher shares as their school only while the school
administrator's consent stands."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from catalog.models import Resource, SchoolSharingConsent
from catalog.review.commitment import commitment_current
from catalog.services import resource_approve, resource_create, resource_publish
from catalog.sharing import school_sharing_set
from exchange.errors import PermissionDeniedError
from licensing.remix import resource_remix
from tests.factories import METADATA, RIGHTS, pdf_bytes


def remix(api_as, user, source, **body):
    return api_as(user).post(f"/api/v1/resources/{source.pk}/remix", body, format="json")


@pytest.mark.parametrize(("licence", "kind"), [("CC-BY-ND-4.0", "no_derivatives"),
                                               ("CC-BY-NC-ND-4.0", "no_derivatives"),
                                               ("ALL-RIGHTS-RESERVED", "all_rights_reserved")])
def test_nd_and_all_rights_reserved_are_refused(users, orgs, make_resource, api_as, licence, kind):
    source = make_resource(publisher="other_publisher", license=licence,
                           **({"price": 5} if licence == "ALL-RIGHTS-RESERVED" else {}))
    before = Resource.objects.count()
    answer = remix(api_as, users["publisher"], source)
    assert answer.status_code == 403, answer.json()
    error = answer.json()["error"]
    assert error["code"] == "derivatives_not_allowed"
    assert error["details"]["licence_kind"] == kind and error["details"]["license"] == licence
    assert Resource.objects.count() == before


def test_the_holder_may_adapt_its_own_all_rights_reserved_work(users, make_resource):
    source = make_resource(license="ALL-RIGHTS-RESERVED", price=5)
    draft = resource_remix(user=users["publisher"], source=source)
    assert draft.rights.derived_from == source.pk


def test_a_remix_credits_and_links_its_source(users, orgs, make_resource, api_as, client):
    source = make_resource(publisher="other_publisher", license="CC-BY-4.0")
    answer = remix(api_as, users["publisher"], source, metadata={"title": "有理数 改编课件", "grade": "七年级"})
    assert answer.status_code == 201, answer.json()
    draft = Resource.objects.get(pk=answer.json()["id"])
    assert draft.status == "draft" and draft.publisher == orgs["publisher"]
    assert draft.title == "有理数 改编课件"
    assert draft.rights.derived_from == source.pk and draft.rights.license_id == "CC-BY-4.0"
    assert source.title in draft.rights.attribution and source.rights.holder in draft.rights.attribution
    lineage = api_as(users["publisher"]).get(f"/api/v1/resources/{draft.pk}/lineage").json()
    assert lineage["derived_from"]["id"] == str(source.pk) and lineage["derived_from"]["title"] == source.title
    client.force_login(users["publisher"])
    page = client.get(f"/resources/{draft.pk}").content.decode()
    assert 'id="lineage-source"' in page and f'href="/resources/{source.pk}"' in page
    # fields a remix may not change are refused
    bad = remix(api_as, users["publisher"], source, metadata={"publisher_name": "别人"})
    assert bad.status_code == 400


def test_share_alike_is_carried_forward(users, make_resource, api_as):
    source = make_resource(publisher="other_publisher", license="CC-BY-SA-4.0")
    kept = remix(api_as, users["publisher"], source)
    assert kept.status_code == 201 and kept.json()["rights"]["license"] == "CC-BY-SA-4.0"
    other = remix(api_as, users["publisher"], source, license="CC-BY-4.0")
    assert other.status_code == 409 and other.json()["error"]["code"] == "share_alike_not_kept"


def test_the_derivative_is_listed_on_the_source_once_published_and_in_the_signed_record(users, orgs, make_resource,
                                                                                         api_as):
    """Published through the same review, the derivative appears in the source's lineage; the federation
    record (what the feed signs) carries rights.derived_from."""
    from catalog.remote import resource_record

    source = make_resource(publisher="other_publisher", license="CC-BY-SA-4.0")
    draft = resource_remix(user=users["publisher"], source=source)
    api_as(users["publisher"]).post(f"/api/v1/resources/{draft.pk}/files",
                                    {"files": [SimpleUploadedFile("r.pdf", pdf_bytes("remix"))]}, format="multipart")
    assert api_as(users["publisher"]).post(f"/api/v1/resources/{draft.pk}/submit").status_code == 200
    draft.refresh_from_db()
    resource_approve(user=users["reviewer"], resource=draft, note="ok")
    draft.refresh_from_db()
    resource_publish(user=users["publisher"], resource=draft)
    lineage = api_as(None).get(f"/api/v1/resources/{source.pk}/lineage").json()
    assert [d["id"] for d in lineage["derivatives"]] == [str(draft.pk)]
    assert resource_record(Resource.objects.get(pk=draft.pk))["rights"]["derived_from"] == str(source.pk)


def test_a_teacher_shares_as_the_school_only_with_the_admins_consent(users, orgs, make_resource, api_as):
    teacher, admin = users["teacher"], users["school_admin"]
    body = {"metadata": json.dumps(METADATA), "rights": json.dumps({**RIGHTS, "holder": ""}),
            "files": [SimpleUploadedFile("my.pdf", pdf_bytes("my lesson"))]}
    refused = api_as(teacher).post("/api/v1/resources", body, format="multipart")
    assert refused.status_code == 403
    with pytest.raises(PermissionDeniedError):
        school_sharing_set(actor=teacher, allowed=True, commitment_version=commitment_current().version)
    stale = api_as(admin).put("/api/v1/school/sharing", {"teachers_may_share": True, "commitment_version": 999},
                              format="json")
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "commitment_outdated"
    on = api_as(admin).put("/api/v1/school/sharing", {"teachers_may_share": True,
                                                      "commitment_version": commitment_current().version},
                           format="json")
    assert on.status_code == 200 and on.json()["teachers_may_share"] is True
    body["files"] = [SimpleUploadedFile("my.pdf", pdf_bytes("my lesson"))]
    made = api_as(teacher).post("/api/v1/resources", body, format="multipart")
    assert made.status_code == 201, made.json()
    resource = Resource.objects.get(pk=made.json()["id"])
    assert resource.publisher == orgs["city_school"] and resource.rights.holder == orgs["city_school"].name
    # the same review as everybody's: submitted, then a reviewer of the province decides
    assert api_as(teacher).post(f"/api/v1/resources/{resource.pk}/submit").status_code == 200
    assert Resource.objects.get(pk=resource.pk).status == "submitted"
    queue = api_as(users["reviewer"]).get("/api/v1/review/queue").json()
    assert str(resource.pk) in json.dumps(queue)
    # another teacher of the school cannot touch it; a teacher remixes an open resource as the school
    from exchange.services import user_create

    colleague = user_create(username="colleague", password=None, organisation=orgs["city_school"], roles=["teacher"])
    assert api_as(colleague).post(f"/api/v1/resources/{resource.pk}/submit").status_code in (403, 404)
    source = make_resource(license="CC-BY-4.0")
    assert remix(api_as, teacher, source).status_code == 201
    # consent withdrawn: no more deposits
    school_sharing_set(actor=admin, allowed=False)
    assert not SchoolSharingConsent.objects.get(school=orgs["city_school"]).teachers_may_share
    with pytest.raises(PermissionDeniedError):
        resource_create(user=teacher, metadata=METADATA, rights=RIGHTS)


def test_the_school_page_turns_teachers_sharing_on(users, orgs, client):
    client.force_login(users["school_admin"])
    client.post("/me/school/policy", {"teacher_allowance": "", "approval_threshold": "", "teachers_may_share": "on",
                                      "commitment_version": str(commitment_current().version)})
    assert SchoolSharingConsent.objects.get(school=orgs["city_school"]).teachers_may_share
    client.post("/me/school/policy", {"teacher_allowance": "", "approval_threshold": ""})
    assert not SchoolSharingConsent.objects.get(school=orgs["city_school"]).teachers_may_share
