"""Lesson packages (备课包) as files: what a teacher may take of a collection, one purchase for its priced
items, the zip with an IMS Common Cartridge style manifest, and importing such a zip on another node.

Each item is decided by ``licensing.decisions.decide_many`` (the one licensing decision): an allowed item is
taken through ``licensing.services.download_start`` (recorded and counted like any download), a priced one is
bought through ``licensing.services.grant_purchase`` (all of them in one transaction, for the total the
teacher confirmed), and every other one is listed with its reason, in the answer and in the manifest.

The manifest (``imsmanifest.xml``) follows the IMS Common Cartridge 1.3 profile of IMS Content Packaging
(namespaces ``imsccv1p3/imscp_v1p1``, ``imsccv1p3/LOM/manifest`` and ``imsccv1p3/LOM/resource``), placing each
datum where the CC profile's schemas allow it:

- the manifest's ``metadata``: ``schema`` "IMS Common Cartridge", ``schemaversion`` 1.3.0 and the manifest LOM
  (``general``: identifier = node id and collection id, title, description), nothing else;
- ``organizations``: one ``organization`` (``rooted-hierarchy``) whose single root ``item`` has no title (the
  lesson's title is the LOM title), one folder item per lesson step (titled with the step) holding one leaf
  item per resource, in order; each leaf item's ``metadata`` carries this project's ``cx:record`` (origin, record
  id, version, licence, the licensing basis, subject/grade/edition/chapter); the organisation's ``metadata``
  carries ``cx:package`` with every item left out and why;
- each ``resource`` (``webcontent``, ``href`` = its first file): the resource LOM (``educational/
  intendedEndUserRole`` Instructor, source IMSGLC_CC_Rolesv1p1; ``rights/copyrightAndOtherRestrictions`` and the
  licence as the rights ``description``), then its ``file`` elements, each with ``cx:file`` (sha256, size, mime)
  in the file's ``metadata`` (``file`` itself takes no foreign attributes).

Checked against the CC 1.1 profile schemas (CP, manifest LOM, resource LOM: element names, order, which
metadata takes other namespaces) and the namespaces CC 1.3 exporters write; the CC 1.3 schemas themselves were
not at hand. The CC 1.1 resource LOM allows ``educational`` only; ``rights`` there follows what CC 1.3 exporters
write. No ``xsi:schemaLocation`` is given: the CC schemas process other namespaces strictly, and ``cx`` has no
published schema.

GB/T 36347-2018 (Chinese e-learning content packaging) models a package the same way — a manifest with
metadata, organizations and resources — so the elements map one to one: manifest → 清单, metadata → 元数据,
organizations/organization/item → 组织/项, resources/resource/file → 资源/文件 (from the standard's published
outline; its normative XML binding was not available to check). The reader also accepts packages made before
this layout (``cx:record`` in the resource's metadata, ``cx:sha256``/``cx:size`` attributes on ``file``).

Importing resolves each resource by (origin, record id) among the resources this node holds (its own, or
synced from others); a package never creates catalog records. Files whose SHA-256 and size match a file of a
resolved resource that is not stored here yet are stored (a copy of the origin's bytes, as a federation fetch
would store them). The zip is checked by ``catalog.archives.inspect_zip`` (entries, sizes, ratios, bombs)
before anything is read, and the manifest is refused when it declares a DTD or entities."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from typing import IO, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from catalog import selectors as catalog_selectors
from catalog.archives import ArchiveLimits, inspect_zip
from catalog.blobs import BlobToStore, blobs_store
from catalog.errors import ResourceNotFoundError
from catalog.files import safe_filename
from catalog.models import Resource
from catalog.remote import remote_file_mark_available
from catalog.storage import get_blob_store
from exchange.audit import audit_record
from exchange.errors import ExchangeError
from licensing.decisions import Action, Decision, Reason, decide_many
from licensing.models import Grant
from licensing.services import download_start, grant_purchase
from spaces import selectors
from spaces.errors import (
    NothingToPurchaseError,
    PackageEmptyError,
    PackageInvalidError,
    PackagePriceChangedError,
    PackageTooLargeError,
)
from spaces.models import Collection, CollectionItem
from spaces.services import collection_create, collection_item_add

NS_CP = "http://www.imsglobal.org/xsd/imsccv1p3/imscp_v1p1"
NS_LOMM = "http://ltsc.ieee.org/xsd/imsccv1p3/LOM/manifest"
NS_LOMR = "http://ltsc.ieee.org/xsd/imsccv1p3/LOM/resource"
NS_CX = "urn:x-courseware-exchange:package:1"
MANIFEST = "imsmanifest.xml"
MANIFEST_MAX_BYTES = 4 * 1024 * 1024
_HREF = re.compile(r"^resources/\d{1,4}/[^/\\]+$")
for prefix, uri in (("", NS_CP), ("lomimscc", NS_LOMM), ("lom", NS_LOMR), ("cx", NS_CX)):
    ET.register_namespace(prefix, uri)


# --- what the teacher may take -------------------------------------------------------------------------------

@dataclass(frozen=True)
class PackageLine:
    item: CollectionItem
    decision: Decision

    @property
    def status(self) -> str:
        """``included`` (the licence lets the teacher take it), ``purchase`` (priced: buy it first) or
        ``refused`` (nothing the teacher can do: outside the territory, withdrawn, …)."""
        if self.decision.allowed:
            return "included"
        if self.decision.reason == Reason.PURCHASE_REQUIRED:
            return "purchase"
        return "refused"

    def as_dict(self) -> dict[str, Any]:
        resource = self.item.resource
        return {"resource": str(resource.pk), "title": resource.title, "step": self.item.step,
                "position": self.item.position, "status": self.status, "reason": self.decision.reason,
                "message": self.decision.message, "price": self.decision.price}


@dataclass(frozen=True)
class PackagePlan:
    collection: Collection
    lines: list[PackageLine]

    def of(self, status: str) -> list[PackageLine]:
        return [line for line in self.lines if line.status == status]

    @property
    def total_price(self) -> int:
        """What buying every priced item costs (the total the teacher confirms)."""
        return sum(line.decision.price for line in self.of("purchase"))

    def as_dict(self) -> dict[str, Any]:
        return {"collection": str(self.collection.pk), "title": self.collection.title,
                "included": len(self.of("included")), "to_purchase": len(self.of("purchase")),
                "refused": len(self.of("refused")), "total_price": self.total_price,
                "items": [line.as_dict() for line in self.lines]}


def package_plan(*, user: Any, collection: Collection) -> PackagePlan:
    """The licensing decision (download) for every item of a collection the user may see."""
    items = selectors.collection_items(collection=collection)
    decisions = decide_many(user, [item.resource for item in items], Action.DOWNLOAD)
    return PackagePlan(collection=collection,
                       lines=[PackageLine(item=item, decision=decisions[str(item.resource_id)]) for item in items])


@transaction.atomic
def package_purchase(*, user: Any, collection: Collection, confirmed_total: int,
                     scope: str = Grant.Scope.SCHOOL) -> list[Grant]:
    """Buy every priced item of the package in one transaction, for ``confirmed_total`` vouchers in all (the
    total the teacher was shown): all grants or none. Raises NothingToPurchaseError; PackagePriceChangedError
    when the total (as charged, under the purchase locks) is not the confirmed one; and whatever
    ``grant_purchase`` raises for an item (NoSchoolAccountError, InsufficientVouchersError…), undoing the
    items bought before it."""
    plan = package_plan(user=user, collection=collection)
    priced = plan.of("purchase")
    if not priced:
        raise NothingToPurchaseError()
    # Every purchase locks its resource row, then the school's account (licensing's order). Locking all the
    # resources first, in one order, keeps that order across the items: no other purchase can hold one of
    # them while waiting for the account this one holds.
    list(Resource.objects.select_for_update().filter(pk__in=[line.item.resource_id for line in priced])
         .order_by("pk").values_list("pk", flat=True))
    if plan.total_price != confirmed_total:
        raise PackagePriceChangedError(details={"total_price": plan.total_price, "confirmed": confirmed_total})
    grants = [grant_purchase(buyer=user, resource=line.item.resource, scope=scope) for line in priced]
    charged = sum(grant.price for grant in grants)
    if charged != confirmed_total:  # a price edited between the plan and the locks
        raise PackagePriceChangedError(details={"total_price": charged, "confirmed": confirmed_total})
    audit_record(action="collection.package_purchase", actor=user, object_type="collection",
                 object_id=collection.pk, data={"grants": [g.pk for g in grants], "total": charged, "scope": scope})
    return grants


# --- building the zip ------------------------------------------------------------------------------------------

@dataclass
class BuiltPackage:
    path: str
    filename: str
    plan: PackagePlan
    taken: list[PackageLine] = field(default_factory=list)
    left_out: list[dict[str, Any]] = field(default_factory=list)

    def cleanup(self) -> None:
        if os.path.exists(self.path):
            os.unlink(self.path)


def package_build(*, user: Any, collection: Collection, ip: str = "", base_url: str | None = None) -> BuiltPackage:
    """Write the package zip of ``collection`` to a temporary file (the caller sends and removes it): the files
    of every item the user may take — each taken as a download (``download_start``: decided, recorded,
    counted, fetched from its origin when not stored here) — and the manifest, which also lists every item
    left out and why. Raises PackageEmptyError when the user may take none (the details list why),
    PackageTooLargeError past ``SPACES_PACKAGE_MAX_BYTES``."""
    plan = package_plan(user=user, collection=collection)
    taking = plan.of("included")
    left_out = [line.as_dict() for line in plan.lines if line.status != "included"]
    if not taking:
        raise PackageEmptyError(details={"items": left_out})
    total = sum(f.size for line in taking for f in line.item.resource.files.all())
    if total > settings.SPACES_PACKAGE_MAX_BYTES:
        raise PackageTooLargeError(details={"bytes": total, "max": settings.SPACES_PACKAGE_MAX_BYTES})
    taken: list[PackageLine] = []
    for line in taking:
        try:
            download_start(user=user, resource=line.item.resource, ip=ip, base_url=base_url)
        except ExchangeError as exc:  # the rights changed since the plan, or its files cannot be had here
            left_out.append({**line.as_dict(), "status": "refused", "reason": exc.code, "message": exc.message})
            continue
        taken.append(line)
    if not taken:
        raise PackageEmptyError(details={"items": left_out})
    fd, path = tempfile.mkstemp(prefix="package-", suffix=".zip", dir=settings.FILE_UPLOAD_TEMP_DIR)
    os.close(fd)
    built = BuiltPackage(path=path, filename=safe_filename(f"{collection.title}.zip"), plan=plan, taken=taken,
                         left_out=left_out)
    try:
        store = get_blob_store()
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for number, line in enumerate(taken, start=1):
                for f in line.item.resource.files.all():
                    with store.open(f.storage_key) as src, archive.open(_href(number, f), "w", force_zip64=True) as out:
                        while chunk := src.read(1024 * 1024):
                            out.write(chunk)
            archive.writestr(MANIFEST, manifest_xml(collection=collection, taken=taken, left_out=left_out))
    except BaseException:
        built.cleanup()
        raise
    audit_record(action="collection.package_download", actor=user, object_type="collection",
                 object_id=collection.pk, data={"taken": [str(line.item.resource_id) for line in taken],
                                                "left_out": [row["resource"] for row in left_out]}, ip=ip)
    return built


def _href(number: int, f: Any) -> str:
    return f"resources/{number:02d}/{f.position}-{safe_filename(f.original_name, max_bytes=120)}"


def _sub(parent: ET.Element, ns: str, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ns}}}{tag}", attrib)
    if text is not None:
        element.text = text
    return element


def _lang_string(parent: ET.Element, ns: str, tag: str, text: str, language: str = "zh-Hans") -> None:
    _sub(_sub(parent, ns, tag), ns, "string", text, language=language)


def _lom_value(parent: ET.Element, ns: str, tag: str, value: str, source: str | None = None) -> None:
    """A LOM vocabulary element: ``<tag>[<source>…</source>]<value>…</value></tag>``."""
    element = _sub(parent, ns, tag)
    if source is not None:
        _sub(element, ns, "source", source)
    _sub(element, ns, "value", value)


def manifest_xml(*, collection: Collection, taken: list[PackageLine], left_out: list[dict[str, Any]]) -> bytes:
    """The ``imsmanifest.xml`` of a package (see the module docstring for where each datum goes)."""
    root = ET.Element(f"{{{NS_CP}}}manifest", {"identifier": f"M-{collection.pk}"})
    metadata = _sub(root, NS_CP, "metadata")  # schema, schemaversion and the manifest LOM only
    _sub(metadata, NS_CP, "schema", "IMS Common Cartridge")
    _sub(metadata, NS_CP, "schemaversion", "1.3.0")
    general = _sub(_sub(metadata, NS_LOMM, "lom"), NS_LOMM, "general")
    identifier = _sub(general, NS_LOMM, "identifier")
    _sub(identifier, NS_LOMM, "catalog", settings.EXCHANGE_NODE_ID)
    _sub(identifier, NS_LOMM, "entry", str(collection.pk))
    _lang_string(general, NS_LOMM, "title", collection.title)
    if collection.description:
        _lang_string(general, NS_LOMM, "description", collection.description)

    organization = _sub(_sub(root, NS_CP, "organizations"), NS_CP, "organization", identifier="O-1",
                        structure="rooted-hierarchy")
    lesson = _sub(organization, NS_CP, "item", identifier="LESSON")  # the root item has no title in CC
    resources = _sub(root, NS_CP, "resources")
    steps: dict[str, ET.Element] = {}
    for number, line in enumerate(taken, start=1):
        item, resource = line.item, line.item.resource
        step_name = item.step or ""
        if step_name not in steps:
            steps[step_name] = _sub(lesson, NS_CP, "item", identifier=f"S-{len(steps) + 1}")
            _sub(steps[step_name], NS_CP, "title", step_name)
        rights = getattr(resource, "rights", None)
        licence = rights.license_id if rights is not None else ""
        entry = _sub(steps[step_name], NS_CP, "item", identifier=f"I-{number}", identifierref=f"R-{number}")
        _sub(entry, NS_CP, "title", resource.title)
        _sub(_sub(entry, NS_CP, "metadata"), NS_CX, "record", origin=resource.origin_node,
             id=str(resource.record_id), version=str(resource.version), licence=licence,
             basis=str(line.decision.reason), step=step_name, subject=resource.subject, grade=resource.grade,
             edition=resource.edition, chapter=resource.chapter, resource_type=resource.resource_type,
             language=resource.language or "zh-Hans")
        files = list(resource.files.all())
        res = _sub(resources, NS_CP, "resource", identifier=f"R-{number}", type="webcontent",
                   **({"href": _href(number, files[0])} if files else {}))
        # The CC resource LOM: who it is for (a lesson package is the teacher's) and its rights.
        res_lom = _sub(_sub(res, NS_CP, "metadata"), NS_LOMR, "lom")
        _lom_value(_sub(res_lom, NS_LOMR, "educational"), NS_LOMR, "intendedEndUserRole", "Instructor",
                   source="IMSGLC_CC_Rolesv1p1")
        res_rights = _sub(res_lom, NS_LOMR, "rights")
        _lom_value(res_rights, NS_LOMR, "copyrightAndOtherRestrictions", "yes")
        _lang_string(res_rights, NS_LOMR, "description",
                     "; ".join(p for p in (licence, rights.attribution if rights is not None else "") if p))
        for f in files:
            file_element = _sub(res, NS_CP, "file", href=_href(number, f))
            _sub(_sub(file_element, NS_CP, "metadata"), NS_CX, "file", sha256=f.sha256, size=str(f.size),
                 mime=f.mime)
    # The organisation's metadata takes elements of other namespaces (the manifest's own metadata does not).
    package = _sub(_sub(organization, NS_CP, "metadata"), NS_CX, "package", node=settings.EXCHANGE_NODE_ID,
                   collection=str(collection.pk), created=timezone.now().isoformat(),
                   standard="IMS CC 1.3; GB/T 36347-2018")
    for row in left_out:
        _sub(package, NS_CX, "excluded", row["title"], resource=row["resource"], reason=str(row["reason"]),
             price=str(row["price"]), step=row["step"])
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


# --- importing a zip -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ImportedFile:
    href: str
    sha256: str
    size: int


@dataclass(frozen=True)
class ManifestResource:
    origin: str
    record_id: str
    title: str
    step: str
    files: list[ImportedFile]


@dataclass
class ImportResult:
    collection: Collection
    added: list[str] = field(default_factory=list)
    unresolved: list[dict[str, str]] = field(default_factory=list)
    files_stored: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"collection": str(self.collection.pk), "title": self.collection.title, "added": self.added,
                "unresolved": self.unresolved, "files_stored": self.files_stored}


def _invalid(why: str) -> PackageInvalidError:
    return PackageInvalidError(f"The file is not a lesson package this node can import: {why}.",
                               details={"package": [why]})


def manifest_read(raw: bytes) -> tuple[str, str, list[ManifestResource]]:
    """The title, description and resources (in lesson order) of a manifest. Raises PackageInvalidError."""
    try:
        text = raw.decode("utf-8")  # only UTF-8: a DTD cannot hide in another encoding
    except UnicodeDecodeError as exc:
        raise _invalid("the manifest is not UTF-8") from exc
    upper = text.upper()
    if "<!DOCTYPE" in upper or "<!ENTITY" in upper:
        raise _invalid("the manifest declares a DTD or entities")
    try:
        root = ET.fromstring(raw)  # noqa: S314 - no DTD (refused above), so no entity expansion
    except ET.ParseError as exc:
        raise _invalid(f"the manifest is not well-formed XML ({exc})") from exc
    if root.tag != f"{{{NS_CP}}}manifest":
        raise _invalid("the root element is not an IMS manifest")
    title = root.findtext(f"{{{NS_CP}}}metadata/{{{NS_LOMM}}}lom/{{{NS_LOMM}}}general/{{{NS_LOMM}}}title/"
                          f"{{{NS_LOMM}}}string") or "备课包"
    description = root.findtext(f"{{{NS_CP}}}metadata/{{{NS_LOMM}}}lom/{{{NS_LOMM}}}general/"
                                f"{{{NS_LOMM}}}description/{{{NS_LOMM}}}string") or ""
    by_id: dict[str, ET.Element] = {r.get("identifier", ""): r
                                    for r in root.iter(f"{{{NS_CP}}}resource")}
    out: list[ManifestResource] = []
    for step_item in root.iterfind(f"{{{NS_CP}}}organizations/{{{NS_CP}}}organization/{{{NS_CP}}}item/"
                                   f"{{{NS_CP}}}item"):
        step = step_item.findtext(f"{{{NS_CP}}}title") or ""
        for entry in step_item.iterfind(f"{{{NS_CP}}}item"):
            res = by_id.get(entry.get("identifierref", ""))
            # the record sits in the item's metadata; packages made before 2026-12 had it in the resource's
            record = entry.find(f"{{{NS_CP}}}metadata/{{{NS_CX}}}record")
            if record is None and res is not None:
                record = res.find(f"{{{NS_CP}}}metadata/{{{NS_CX}}}record")
            if res is None or record is None:
                raise _invalid("an item names no resource of the manifest")
            files = []
            for f in res.iterfind(f"{{{NS_CP}}}file"):
                facts = f.find(f"{{{NS_CP}}}metadata/{{{NS_CX}}}file")
                facts = facts if facts is not None else f  # earlier packages: attributes of <file> itself
                prefix = "" if facts is not f else f"{{{NS_CX}}}"
                href, sha = f.get("href", ""), facts.get(f"{prefix}sha256", "")
                if not _HREF.match(href) or not re.fullmatch(r"[0-9a-f]{64}", sha):
                    raise _invalid(f"a file reference is not valid ({href[:80]})")
                try:
                    size = int(facts.get(f"{prefix}size", "-1"))
                except ValueError:
                    size = -1
                files.append(ImportedFile(href=href, sha256=sha, size=size))
            out.append(ManifestResource(origin=record.get("origin", "")[:32], record_id=record.get("id", ""),
                                        title=(entry.findtext(f"{{{NS_CP}}}title") or "")[:300],
                                        step=step[:64], files=files))
    if len(out) > settings.SPACES_COLLECTION_MAX_ITEMS:
        raise _invalid(f"more than {settings.SPACES_COLLECTION_MAX_ITEMS} resources")
    return title[:200], description[:4000], out


def _copy_bounded(src: IO[bytes], dst: IO[bytes], limit: int) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    while chunk := src.read(1024 * 1024):
        size += len(chunk)
        if size > limit:
            raise _invalid("an entry is larger than its manifest says")
        digest.update(chunk)
        dst.write(chunk)
    return digest.hexdigest(), size


def package_import(*, user: Any, path: str, name: str = "package.zip") -> ImportResult:
    """Import the package zip at ``path`` as a new private collection of ``user`` (see the module docstring).
    Raises PackageTooLargeError, the archive guards' ArchiveTooLargeError / ArchiveBombError /
    FileTypeNotAllowedError, PackageInvalidError; and PermissionDeniedError unless the user has a space."""
    if os.path.getsize(path) > settings.SPACES_PACKAGE_MAX_BYTES:
        raise PackageTooLargeError(details={"max": settings.SPACES_PACKAGE_MAX_BYTES})
    contents = inspect_zip(path, name=name, limits=ArchiveLimits.from_settings())
    if MANIFEST not in contents.names:
        raise _invalid("there is no imsmanifest.xml")
    with zipfile.ZipFile(path) as archive:
        if archive.getinfo(MANIFEST).file_size > MANIFEST_MAX_BYTES:
            raise _invalid("the manifest is too large")
        title, description, entries = manifest_read(archive.read(MANIFEST))
        with transaction.atomic():  # the whole collection or none (stored blobs wait for gc_blobs if none)
            result = _import_entries(user=user, archive=archive, names=contents.names, title=title,
                                     description=description, entries=entries)
            audit_record(action="collection.package_import", actor=user, object_type="collection",
                         object_id=result.collection.pk, data={"added": len(result.added),
                                                               "unresolved": len(result.unresolved),
                                                               "files_stored": result.files_stored})
    return result


def _import_entries(*, user: Any, archive: zipfile.ZipFile, names: frozenset[str], title: str, description: str,
                    entries: list[ManifestResource]) -> ImportResult:
    collection = collection_create(user=user, title=title, description=description)
    result = ImportResult(collection=collection)
    for entry in entries:
        try:
            resource = catalog_selectors.resource_by_record(user=user, origin=entry.origin,
                                                            record_id=entry.record_id)
        except ResourceNotFoundError:
            result.unresolved.append({"origin": entry.origin, "id": entry.record_id, "title": entry.title,
                                      "reason": "unknown_here"})
            continue
        if resource.status != Resource.Status.PUBLISHED:
            result.unresolved.append({"origin": entry.origin, "id": entry.record_id, "title": entry.title,
                                      "reason": "not_published"})
            continue
        collection_item_add(user=user, collection=collection, resource_id=resource.pk, step=entry.step)
        result.added.append(str(resource.pk))
        result.files_stored += _store_missing_files(archive, resource, entry, names)
    return result


def _store_missing_files(archive: zipfile.ZipFile, resource: Resource, entry: ManifestResource,
                         names: frozenset[str]) -> int:
    """Store the bytes of the resource's files this node lacks, when the package holds exactly them."""
    missing = {f.sha256: f for f in resource.files.all() if not f.available_locally}
    stored = 0
    for imported in entry.files:
        wanted = missing.get(imported.sha256)
        if wanted is None or imported.href not in names:
            continue
        fd, tmp = tempfile.mkstemp(prefix="package-entry-", dir=settings.FILE_UPLOAD_TEMP_DIR)
        try:
            with os.fdopen(fd, "wb") as out, archive.open(imported.href) as src:
                sha, size = _copy_bounded(src, out, wanted.size)
            if sha != wanted.sha256 or size != wanted.size:
                continue  # not the origin's bytes: never stored
            blobs_store([BlobToStore(sha256=sha, path=tmp, content_type=wanted.mime)])
            remote_file_mark_available(sha256=sha)
            stored += 1
        finally:
            os.unlink(tmp)
    return stored
