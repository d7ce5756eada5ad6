"""Lesson packages (备课包): collections by lesson step and their rights, what a teacher may take of a package
(the licensing decision per item), one purchase for all priced items, the zip and its manifest, and
importing a zip — with the archive guards — on the API."""

from __future__ import annotations

import hashlib
import io
import xml.etree.ElementTree as ET
import zipfile

import pytest

from licensing.models import DownloadEvent, Grant
from licensing.services import vouchers_fund
from spaces import packages
from spaces.models import Collection
from tests.adversarial import craft
from tests.factories import ResourceFactory

pytestmark = pytest.mark.django_db
CP = "{" + packages.NS_CP + "}"
CX = "{" + packages.NS_CX + "}"


@pytest.fixture
def world(orgs, users, province):
    """Four published resources: open (CC BY), ND-licensed but free (CC BY-ND), priced at 5 (all rights
    reserved, the province only) and one licensed only in another province."""
    far = "110000" if province != "110000" else "440000"
    return {
        "open": ResourceFactory(publisher=orgs["publisher"], title="有理数 课件", chapter="第一章 有理数"),
        "nd": ResourceFactory(publisher=orgs["publisher"], title="有理数 教案", license="CC-BY-ND-4.0"),
        "priced": ResourceFactory(publisher=orgs["publisher"], title="有理数 精品微课", license="ALL-RIGHTS-RESERVED",
                                  price=5, territory=[province]),
        "priced2": ResourceFactory(publisher=orgs["publisher"], title="有理数 精品试卷", license="ALL-RIGHTS-RESERVED",
                                   price=7, territory=[province]),
        "elsewhere": ResourceFactory(publisher=orgs["publisher"], title="外省专用 学案", license="ALL-RIGHTS-RESERVED",
                                     price=3, territory=[far]),
    }


def make_collection(api, items, *, title="七年级数学 有理数 第一课时", visibility="private"):
    made = api.post("/api/v1/collections", {"title": title, "visibility": visibility}, format="json")
    assert made.status_code == 201, made.content
    cid = made.json()["id"]
    for resource, step in items:
        added = api.post(f"/api/v1/collections/{cid}/items", {"resource": str(resource.pk), "step": step},
                         format="json")
        assert added.status_code == 201, added.content
    return cid


def test_collections_are_private_school_or_public_through_the_one_rule(api_as, users, world):
    """The owner sees and changes; a private collection does not exist for others (404, as a missing one); a
    school collection is seen by the school's other teachers only; a public one by anybody; only the owner
    changes it."""
    owner = api_as(users["teacher"])
    cid = make_collection(owner, [(world["open"], "导入")])
    colleague, school_admin = api_as(users["school_admin"]), api_as(users["school_admin"])
    stranger, anonymous = api_as(users["far_teacher"]), api_as(None)
    assert colleague.get(f"/api/v1/collections/{cid}").json()["error"]["code"] == "collection_not_found"
    assert owner.patch(f"/api/v1/collections/{cid}", {"visibility": "school"}, format="json").status_code == 200
    assert school_admin.get(f"/api/v1/collections/{cid}").status_code == 200
    assert stranger.get(f"/api/v1/collections/{cid}").status_code == 404
    assert anonymous.get(f"/api/v1/collections/{cid}").status_code == 404
    owner.patch(f"/api/v1/collections/{cid}", {"visibility": "public"}, format="json")
    assert stranger.get(f"/api/v1/collections/{cid}").json()["items"][0]["step"] == "导入"
    assert anonymous.get(f"/api/v1/collections/{cid}").status_code == 200
    refused = stranger.post(f"/api/v1/collections/{cid}/items", {"resource": str(world["nd"].pk)}, format="json")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_collection_owner"
    assert stranger.patch(f"/api/v1/collections/{cid}", {"visibility": "private"},
                          format="json").json()["error"]["code"] == "not_collection_owner"
    assert Collection.objects.get(pk=cid).visibility == "public"
    shared = stranger.get("/api/v1/collections?shared=1").json()
    assert [c["id"] for c in shared["results"]] == [cid]


def test_lesson_order_is_kept_and_rearranged(api_as, users, world):
    api = api_as(users["teacher"])
    cid = make_collection(api, [(world["open"], "导入"), (world["nd"], "新授"), (world["priced"], "练习")])
    order = [{"resource": str(world[k].pk), "step": s} for k, s in (("priced", "导入"), ("open", "新授"),
                                                                    ("nd", "新授"))]
    assert api.put(f"/api/v1/collections/{cid}/items", {"order": order}, format="json").status_code == 200
    items = api.get(f"/api/v1/collections/{cid}").json()["items"]
    assert [(i["title"], i["step"]) for i in items] == [("有理数 精品微课", "导入"), ("有理数 课件", "新授"),
                                                        ("有理数 教案", "新授")]
    bad = api.put(f"/api/v1/collections/{cid}/items", {"order": order[:2]}, format="json")
    assert bad.status_code == 400


def test_package_lists_every_item_with_its_decision_and_the_zip_leaves_out_what_the_teacher_may_not_take(
        api_as, users, world):
    """An ND licence does not stop a download (only a derivative); a priced item needs a purchase and one
    licensed elsewhere is refused — both are left out of the zip, listed in the answer and the manifest."""
    api = api_as(users["teacher"])
    cid = make_collection(api, [(world["open"], "导入"), (world["nd"], "新授"), (world["priced"], "练习"),
                                (world["elsewhere"], "作业")])
    plan = api.get(f"/api/v1/collections/{cid}/package").json()
    assert [(i["title"], i["status"], i["reason"]) for i in plan["items"]] == [
        ("有理数 课件", "included", "open_licence"), ("有理数 教案", "included", "open_licence"),
        ("有理数 精品微课", "purchase", "purchase_required"), ("外省专用 学案", "refused", "outside_territory")]
    assert plan["total_price"] == 5

    response = api.post(f"/api/v1/collections/{cid}/package")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert response["X-Package-Left-Out"] == "2"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    names = archive.namelist()
    assert sorted(n for n in names if n != "imsmanifest.xml") == ["resources/01/0-课件.pdf", "resources/02/0-课件.pdf"]
    manifest = ET.fromstring(archive.read("imsmanifest.xml"))  # noqa: S314 - our own package
    assert manifest.findtext(f"{CP}metadata/{CP}schema") == "IMS Common Cartridge"
    excluded = {e.text: e.get("reason") for e in manifest.iter(f"{CX}excluded")}
    assert excluded == {"有理数 精品微课": "purchase_required", "外省专用 学案": "outside_territory"}
    steps = [s.findtext(f"{CP}title") for s in manifest.find(f"{CP}organizations/{CP}organization/{CP}item")
             .iterfind(f"{CP}item")]
    assert steps == ["导入", "新授"]
    # each file's bytes are the stored ones, named with their hash in the manifest (in the file's metadata)
    for f in manifest.iter(f"{CP}file"):
        assert hashlib.sha256(archive.read(f.get("href"))).hexdigest() == f.find(f"{CP}metadata/{CX}file").get(
            "sha256")
    # every item taken is a download, recorded and counted like any other
    assert set(DownloadEvent.objects.values_list("resource_id", flat=True)) == {world["open"].pk, world["nd"].pk}


def test_nothing_to_take_is_refused_with_the_reasons(api_as, users, world):
    api = api_as(users["teacher"])
    cid = make_collection(api, [(world["elsewhere"], "作业")])
    refused = api.post(f"/api/v1/collections/{cid}/package")
    assert refused.status_code == 409
    body = refused.json()["error"]
    assert body["code"] == "package_empty"
    assert body["details"]["items"][0]["reason"] == "outside_territory"
    assert not DownloadEvent.objects.exists()


def test_one_purchase_for_every_priced_item_at_the_confirmed_total(api_as, users, orgs, world):
    """The teacher confirms the total shown; a wrong total buys nothing; the right one buys every priced item
    in one go; a balance too low for all of them buys none (all or nothing)."""
    api = api_as(users["teacher"])
    cid = make_collection(api, [(world["open"], "导入"), (world["priced"], "练习"), (world["priced2"], "作业")])
    assert api.get(f"/api/v1/collections/{cid}/package").json()["total_price"] == 12
    orgs["city_school"].student_count = 10
    orgs["city_school"].save(update_fields=["student_count"])
    vouchers_fund(actor=users["province_admin"], school=orgs["city_school"], per_student=1)  # 10 vouchers

    short = api.post(f"/api/v1/collections/{cid}/package/purchase", {"confirmed_total": 12}, format="json")
    assert short.status_code == 409 and short.json()["error"]["code"] == "insufficient_vouchers"
    assert not Grant.objects.exists()  # the first item's grant was undone with the second's failure

    vouchers_fund(actor=users["province_admin"], school=orgs["city_school"], per_student=1)  # 20 in all
    wrong = api.post(f"/api/v1/collections/{cid}/package/purchase", {"confirmed_total": 5}, format="json")
    assert wrong.status_code == 409 and wrong.json()["error"]["code"] == "package_price_changed"
    assert wrong.json()["error"]["details"]["total_price"] == 12
    assert not Grant.objects.exists()

    bought = api.post(f"/api/v1/collections/{cid}/package/purchase", {"confirmed_total": 12}, format="json")
    assert bought.status_code == 201, bought.content
    assert bought.json()["total"] == 12
    assert Grant.objects.filter(scope="school").count() == 2
    plan = api.get(f"/api/v1/collections/{cid}/package").json()
    assert (plan["included"], plan["to_purchase"], plan["total_price"]) == (3, 0, 0)
    again = api.post(f"/api/v1/collections/{cid}/package/purchase", {"confirmed_total": 0}, format="json")
    assert again.json()["error"]["code"] == "nothing_to_purchase"


def package_zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in entries.items():
            archive.writestr(name, body)
    return buffer.getvalue()


def upload(api, body: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return api.post("/api/v1/collections/import", {"package": SimpleUploadedFile("p.zip", body)},
                    format="multipart")


def test_import_on_the_same_node_resolves_its_own_records(api_as, users, world):
    teacher, colleague = api_as(users["teacher"]), api_as(users["school_admin"])
    cid = make_collection(teacher, [(world["nd"], "新授"), (world["open"], "导入")])
    body = b"".join(teacher.post(f"/api/v1/collections/{cid}/package").streaming_content)
    imported = upload(colleague, body)
    assert imported.status_code == 201, imported.content
    result = imported.json()
    assert result["added"] == [str(world["nd"].pk), str(world["open"].pk)] and result["unresolved"] == []
    copy = colleague.get(f"/api/v1/collections/{result['collection']}").json()
    assert [(i["title"], i["step"]) for i in copy["items"]] == [("有理数 教案", "新授"), ("有理数 课件", "导入")]
    assert copy["visibility"] == "private" and copy["owner"] == "school_admin"


@pytest.mark.parametrize(("entries", "code", "status"), [
    ({"readme.txt": b"hello"}, "package_invalid", 400),
    ({"imsmanifest.xml": b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaa">]><m>&a;</m>'}, "package_invalid", 400),
    ({"imsmanifest.xml": ('<?xml version="1.0" encoding="utf-16"?><!DOCTYPE manifest [<!ENTITY a "aaaa">]>'
                          f'<manifest xmlns="{packages.NS_CP}">&a;</manifest>').encode("utf-16")},
     "package_invalid", 400),
    ({"imsmanifest.xml": b"<not-xml"}, "package_invalid", 400),
    ({"imsmanifest.xml": b'<manifest xmlns="urn:other"/>'}, "package_invalid", 400),
], ids=["no-manifest", "entities", "entities-in-utf-16", "not-xml", "not-ims"])
def test_import_refuses_what_is_not_a_package(api_as, users, entries, code, status):
    refused = upload(api_as(users["teacher"]), package_zip(entries))
    assert refused.status_code == status and refused.json()["error"]["code"] == code
    assert not Collection.objects.exists()


def test_import_is_bounded_by_the_archive_guards(api_as, users, settings):
    """A zip bomb, too many entries and a package over the size limit are refused before anything is read."""
    api = api_as(users["teacher"])
    bomb = craft.zip_archive([craft.named(craft.zeros_deflated(200 * craft.MiB), "resources/01/0-a.pdf"),
                              craft.named(craft.deflated(b"<manifest/>"), "imsmanifest.xml")])
    assert upload(api, bomb).json()["error"]["code"] in ("archive_bomb", "archive_too_large")
    settings.CATALOG_ARCHIVE_MAX_ENTRIES = 10
    many = package_zip({f"resources/01/{i}.txt": b"x" for i in range(11)})
    assert upload(api, many).json()["error"]["code"] == "archive_too_large"
    settings.SPACES_PACKAGE_MAX_BYTES = 100
    assert upload(api, package_zip({"imsmanifest.xml": b"x" * 1000})).json()["error"]["code"] == "package_too_large"
    assert not Collection.objects.exists()


def test_a_file_whose_bytes_are_not_the_records_is_never_stored(api_as, users, world):
    """The manifest may claim any hash: only bytes whose SHA-256 and size match a file the node's record
    names (and lacks) are stored."""
    from catalog.models import ResourceFile

    teacher = api_as(users["teacher"])
    cid = make_collection(teacher, [(world["open"], "导入")])
    body = b"".join(teacher.post(f"/api/v1/collections/{cid}/package").streaming_content)
    source = zipfile.ZipFile(io.BytesIO(body))
    tampered = {name: (b"%PDF-1.4 forged" if name.startswith("resources/") else source.read(name))
                for name in source.namelist()}
    ResourceFile.objects.filter(resource=world["open"]).update(available_locally=False)
    result = upload(teacher, package_zip(tampered)).json()
    assert result["files_stored"] == 0
    assert not ResourceFile.objects.get(resource=world["open"]).available_locally
    result = upload(teacher, body).json()
    assert result["files_stored"] == 1
    assert ResourceFile.objects.get(resource=world["open"]).available_locally
