"""The package manifest keeps to the IMS Common Cartridge profile of IMS Content Packaging: the element names,
namespaces, order and the places where extension data may go, as the CC profile's schemas define them
(checked against the CC 1.1 profile XSDs, ``ccv1p1_imscp_v1p2_v1p0.xsd`` / ``ccv1p1_lommanifest_v1p0.xsd`` /
``ccv1p1_lomresource_v1p0.xsd``, with the CC 1.3 namespaces as CC 1.3 exporters write them; the resource LOM's
``rights`` as CC 1.3 exporters write it). A package in the layout of earlier releases still imports.
"""

from __future__ import annotations

import hashlib
import io
import xml.etree.ElementTree as ET
import zipfile

import pytest

from spaces import packages
from spaces.models import Collection
from tests.factories import ResourceFactory
from tests.spaces.test_packages import make_collection, package_zip, upload

pytestmark = pytest.mark.django_db
CP = "{" + packages.NS_CP + "}"
LOMM = "{" + packages.NS_LOMM + "}"
LOMR = "{" + packages.NS_LOMR + "}"
CX = "{" + packages.NS_CX + "}"


def children(element: ET.Element) -> list[str]:
    return [child.tag for child in element]


@pytest.fixture
def package(api_as, users, orgs, province):
    """A package of two steps, one item left out (priced), and the bytes of its zip."""
    api = api_as(users["teacher"])
    open_one = ResourceFactory(publisher=orgs["publisher"], title="有理数 课件")
    nd = ResourceFactory(publisher=orgs["publisher"], title="有理数 教案", license="CC-BY-ND-4.0")
    priced = ResourceFactory(publisher=orgs["publisher"], title="有理数 精品微课", license="ALL-RIGHTS-RESERVED",
                             price=5, territory=[province])
    cid = make_collection(api, [(open_one, "导入"), (nd, "新授"), (priced, "练习")])
    response = api.post(f"/api/v1/collections/{cid}/package")
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    archive = zipfile.ZipFile(io.BytesIO(body))
    manifest = ET.fromstring(archive.read("imsmanifest.xml"))  # noqa: S314 - our own package
    return {"api": api, "body": body, "archive": archive, "manifest": manifest,
            "resources": [open_one, nd, priced]}


def test_the_manifest_metadata_holds_schema_version_and_the_manifest_lom_only(package):
    manifest = package["manifest"]
    assert manifest.tag == f"{CP}manifest" and manifest.get("identifier")
    assert children(manifest) == [f"{CP}metadata", f"{CP}organizations", f"{CP}resources"]
    metadata = manifest.find(f"{CP}metadata")
    assert children(metadata) == [f"{CP}schema", f"{CP}schemaversion", f"{LOMM}lom"]
    assert (metadata.findtext(f"{CP}schema"), metadata.findtext(f"{CP}schemaversion")) == (
        "IMS Common Cartridge", "1.3.0")
    general = metadata.find(f"{LOMM}lom/{LOMM}general")
    assert general.findtext(f"{LOMM}title/{LOMM}string") == "七年级数学 有理数 第一课时"
    assert general.find(f"{LOMM}title/{LOMM}string").get("language") == "zh-Hans"
    assert general.findtext(f"{LOMM}identifier/{LOMM}entry")


def test_the_organization_has_one_untitled_root_item_and_titled_items_in_order(package):
    organizations = package["manifest"].find(f"{CP}organizations")
    [organization] = organizations.findall(f"{CP}organization")
    assert organization.get("structure") == "rooted-hierarchy" and organization.get("identifier")
    [root] = organization.findall(f"{CP}item")
    assert root.find(f"{CP}title") is None, "the CC root item has no title"
    for item in root.iter(f"{CP}item"):
        if item is root:
            continue
        tags = children(item)
        assert tags[0] == f"{CP}title", tags  # title first, then items, then metadata
        assert tags == sorted(tags, key=[f"{CP}title", f"{CP}item", f"{CP}metadata"].index)
        if item.get("identifierref"):
            assert item.find(f"{CP}item") is None  # a learning-object item holds no items
            assert item.find(f"{CP}metadata/{CX}record").get("origin")
    assert [s.findtext(f"{CP}title") for s in root.findall(f"{CP}item")] == ["导入", "新授"]
    excluded = organization.findall(f"{CP}metadata/{CX}package/{CX}excluded")
    assert [(e.text, e.get("reason")) for e in excluded] == [("有理数 精品微课", "purchase_required")]


def test_resources_carry_the_cc_resource_lom_and_plain_file_elements(package):
    archive = package["archive"]
    resources = package["manifest"].findall(f"{CP}resources/{CP}resource")
    assert len(resources) == 2
    for resource in resources:
        assert set(resource.keys()) <= {"identifier", "type", "href"}
        assert resource.get("type") == "webcontent"
        tags = children(resource)
        assert tags[0] == f"{CP}metadata" and set(tags[1:]) == {f"{CP}file"}
        assert children(resource.find(f"{CP}metadata")) == [f"{LOMR}lom"]
        lom = resource.find(f"{CP}metadata/{LOMR}lom")
        assert set(children(lom)) <= {f"{LOMR}educational", f"{LOMR}rights"}
        role = lom.find(f"{LOMR}educational/{LOMR}intendedEndUserRole")
        assert role.findtext(f"{LOMR}source") == "IMSGLC_CC_Rolesv1p1"
        assert role.findtext(f"{LOMR}value") in {"Instructor", "Learner", "Mentor"}
        restriction = lom.find(f"{LOMR}rights/{LOMR}copyrightAndOtherRestrictions")
        assert children(restriction) == [f"{LOMR}value"] and restriction.findtext(f"{LOMR}value") in {"yes", "no"}
        assert lom.findtext(f"{LOMR}rights/{LOMR}description/{LOMR}string").startswith("CC-BY")
        files = resource.findall(f"{CP}file")
        assert resource.get("href") in {f.get("href") for f in files}
        for f in files:
            assert list(f.keys()) == ["href"], "no foreign attributes on file"
            facts = f.find(f"{CP}metadata/{CX}file")
            assert hashlib.sha256(archive.read(f.get("href"))).hexdigest() == facts.get("sha256")
            assert int(facts.get("size")) == archive.getinfo(f.get("href")).file_size


def test_the_package_imports_and_so_does_one_in_the_earlier_layout(package, orgs):
    """The import reads the layout it writes; a manifest of an earlier release (record in the resource's
    metadata, hash and size as attributes of ``file``) still resolves its resources."""
    api = package["api"]
    result = upload(api, package["body"]).json()
    assert len(result["added"]) == 2 and result["unresolved"] == []

    open_one = package["resources"][0]
    f = open_one.files.get()
    href = f"resources/01/{f.position}-a.pdf"
    legacy = f"""<?xml version="1.0" encoding="utf-8"?>
<manifest xmlns="{packages.NS_CP}" xmlns:lomimscc="{packages.NS_LOMM}" xmlns:cx="{packages.NS_CX}" identifier="M-1">
  <metadata><schema>IMS Common Cartridge</schema><schemaversion>1.3.0</schemaversion>
    <lomimscc:lom><lomimscc:general><lomimscc:title><lomimscc:string>旧版备课包</lomimscc:string></lomimscc:title>
    </lomimscc:general></lomimscc:lom></metadata>
  <organizations><organization identifier="O-1" structure="rooted-hierarchy"><item identifier="LESSON">
    <title>旧版备课包</title>
    <item identifier="S-1"><title>导入</title><item identifier="I-1" identifierref="R-1"><title>有理数 课件</title></item></item>
  </item></organization></organizations>
  <resources><resource identifier="R-1" type="webcontent" href="{href}">
    <metadata><cx:record origin="{open_one.origin_node}" id="{open_one.record_id}"/></metadata>
    <file href="{href}" cx:sha256="{f.sha256}" cx:size="{f.size}"/>
  </resource></resources>
</manifest>""".encode()
    with package["archive"].open(f"resources/01/{f.position}-课件.pdf") as handle:
        bytes_of_file = handle.read()
    result = upload(api, package_zip({"imsmanifest.xml": legacy, href: bytes_of_file})).json()
    assert result["title"] == "旧版备课包" and result["added"] == [str(open_one.pk)]
    assert Collection.objects.count() == 3
