"""Writes to the catalog: deposit with files and rights, edits, and the review workflow.

Every service is keyword-only, atomic, checks who may act, audits, bumps the resource's version
on any change a peer must see, and tells ``catalog.events`` so the feed and the index follow.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import IO, Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from catalog.blobs import BlobToStore, blobs_store
from catalog.errors import (
    ApprovalCheckFailedError,
    InvalidTransitionError,
    NoFilesError,
    NotPublisherMemberError,
    NotReviewerError,
    ResourceNotFoundError,
    ResourceReadOnlyError,
    ResourceTakenDownError,
    RightsInvalidError,
    TooManyFilesError,
)
from catalog.events import resource_changed
from catalog.files import CheckedFile, check_upload
from catalog.models import Favourite, License, Resource, ResourceFile, RightsStatement
from catalog.permissions import can_edit, can_review, can_see, grant_object_rights  # noqa: F401 (re-exported)
from catalog.storage import blob_key
from catalog.takedowns import resource_under_takedown, takedown_fact_record
from catalog.vocab import check_metadata_terms
from exchange.audit import audit_record
from exchange.errors import InvalidInputError, NotAuthenticatedError, PermissionDeniedError
from exchange.inputs import INT32_MAX, calendar_date, clean_text, plain_text, whole_number
from exchange.models import Organisation, Region, SchoolCategory
from exchange.roles import Role, user_has_role

Status = Resource.Status
METADATA_FIELDS = (
    "title", "description", "keywords", "stage", "subject", "grade", "edition", "volume", "chapter",
    "section", "resource_type", "language", "textbook_id",
)
RIGHTS_FIELDS = (
    "holder", "year", "license", "attribution", "territory", "audience", "price", "free_for", "grant_days",
    "term_end", "embargo_until", "derived_from",
)
#: Bounds of the rights statement's numbers: a price in vouchers, a grant's term in days (a century).
MAX_PRICE = 1_000_000
MAX_GRANT_DAYS = 36_500
MAX_TERRITORY_CODES = 500
MAX_TEXT_LENGTH = 20_000  # description and other text without a column limit


@dataclass(frozen=True)
class UploadedFile:
    """A file as received: a readable stream, the client's name and optionally its sha256."""

    stream: IO[bytes]
    name: str
    sha256: str | None = None


# --- validation --------------------------------------------------------------------------

def _max_length(model: type[models.Model], field: str) -> int:
    return getattr(model._meta.get_field(field), "max_length", None) or MAX_TEXT_LENGTH


def _clean_metadata(metadata: dict[str, Any], *, partial: bool = False) -> dict[str, Any]:
    if not isinstance(metadata, dict):
        raise InvalidInputError("metadata must be a JSON object.", details={"metadata": ["An object."]})
    unknown = set(metadata) - set(METADATA_FIELDS)
    if unknown:
        raise InvalidInputError("Unknown metadata fields.", details={f: ["Unknown field."] for f in sorted(unknown)})
    clean: dict[str, Any] = {}
    for field in METADATA_FIELDS:
        if field not in metadata:
            continue
        value = metadata[field]
        if field == "keywords":
            if isinstance(value, str):
                value = [k for k in (p.strip() for p in value.replace("，", ",").split(",")) if k]
            if (not isinstance(value, list) or len(value) > 1000
                    or not all(isinstance(k, str) and "\x00" not in k for k in value)):
                raise InvalidInputError(details={"keywords": ["A list of strings."]})
            value = list(dict.fromkeys(k.strip()[:64] for k in value if k.strip()))[:30]
        elif value is None:
            value = ""
        else:
            limit = _max_length(Resource, field)
            try:
                value = plain_text(value, max_length=limit)
            except ValueError:
                raise InvalidInputError(details={field: [f"A string of at most {limit} characters."]}) from None
        clean[field] = value
    if not partial:
        if not clean.get("title"):
            raise InvalidInputError(details={"title": ["This field is required."]})
        clean.setdefault("language", "zh-Hans")
    if len(clean.get("title", "")) > 300:
        raise InvalidInputError(details={"title": ["At most 300 characters."]})
    return clean


def clean_rights(rights: dict[str, Any] | None, *, default_holder: str = "") -> dict[str, Any]:
    """Check the shape of a rights statement. Raises RightsInvalidError listing every problem.
    Coherence rules (e.g. a priced all-rights-reserved work) are licensing's approval checks."""
    if not isinstance(rights, dict):
        raise RightsInvalidError("A rights statement is required.", details={"rights": ["Required."]})
    problems: dict[str, list[str]] = {}
    unknown = set(rights) - set(RIGHTS_FIELDS)
    for field in sorted(unknown):
        problems[field] = ["Unknown field."]
    out: dict[str, Any] = {}
    for field, default in (("holder", default_holder), ("attribution", "")):
        limit = _max_length(RightsStatement, field)
        try:
            out[field] = plain_text(rights.get(field) or default, max_length=limit)
        except ValueError:
            problems[field] = [f"A string of at most {limit} characters."]
    if "holder" in out and not out["holder"]:
        problems["holder"] = ["The rights holder is required."]
    this_year = timezone.now().year
    try:
        out["year"] = whole_number(rights.get("year") or this_year, minimum=1900, maximum=this_year + 1)
    except ValueError:
        problems["year"] = [f"A year between 1900 and {this_year + 1}."]
    license_id = rights.get("license") or ""
    license_obj = None
    if isinstance(license_id, str) and license_id.strip() and "\x00" not in license_id:
        license_obj = License.objects.filter(id=license_id.strip()[:64]).first()
    if license_obj is None:
        problems["license"] = [f"Unknown licence {str(license_id)[:64]!r}." if license_id else "Required."]
    out["license"] = license_obj
    territory = rights.get("territory") or []
    if territory == "nationwide":
        territory = []
    if (not isinstance(territory, list) or len(territory) > MAX_TERRITORY_CODES
            or not all(isinstance(t, str) and "\x00" not in t for t in territory)):
        problems["territory"] = ["A list of region codes, or empty for nationwide."]
        territory = []
    else:
        known = dict(Region.objects.filter(code__in=territory).values_list("code", "status"))
        missing = sorted(set(territory) - set(known))
        retired = sorted(code for code, status in known.items() if status == Region.Status.RETIRED)
        if missing:
            problems["territory"] = [f"Unknown region codes: {', '.join(missing)}."]
        elif retired:
            problems["territory"] = [f"Retired region codes: {', '.join(retired)}."]
    out["territory"] = sorted(set(territory))
    audience = rights.get("audience") or RightsStatement.Audience.TEACHERS
    if not isinstance(audience, str) or audience not in RightsStatement.Audience.values:
        problems["audience"] = [f"One of {', '.join(RightsStatement.Audience.values)}."]
    out["audience"] = audience
    for field, fallback, maximum in (("price", 0, MAX_PRICE), ("grant_days", 365, MAX_GRANT_DAYS)):
        raw = rights.get(field)
        try:
            out[field] = whole_number(fallback if raw is None else raw, minimum=0, maximum=min(maximum, INT32_MAX))
        except ValueError:
            problems[field] = [f"A whole number from 0 to {maximum}."]
    free_for = rights.get("free_for") or []
    if not isinstance(free_for, list) or any(not isinstance(c, str) or c not in SchoolCategory.values
                                             for c in free_for):
        problems["free_for"] = [f"A list of: {', '.join(SchoolCategory.values)}."]
        free_for = []
    out["free_for"] = sorted(set(free_for))
    for field in ("term_end", "embargo_until"):
        raw = rights.get(field)
        if raw in (None, ""):
            out[field] = None
            continue
        try:
            out[field] = calendar_date(raw)
        except ValueError:
            problems[field] = ["A date, YYYY-MM-DD, between 1900-01-01 and 2999-12-31."]
    derived_from = rights.get("derived_from") or None
    try:
        out["derived_from"] = None if derived_from is None else (
            derived_from if isinstance(derived_from, uuid.UUID) else uuid.UUID(str(derived_from)[:64]))
    except ValueError:
        problems["derived_from"] = ["The id (UUID) of the resource this one derives from."]
    if problems:
        raise RightsInvalidError(details=problems)
    return out


def _province_of(publisher: Organisation) -> str:
    return publisher.region_id[:2] + "0000"


def _require_editor(user, resource: Resource) -> None:
    if resource.is_remote:
        raise ResourceReadOnlyError()
    if not can_edit(user, resource):
        raise NotPublisherMemberError()


def _require_reviewer(user, resource: Resource) -> None:
    if resource.is_remote:
        raise ResourceReadOnlyError()
    if not can_review(user, resource):
        raise NotReviewerError()


def _transition(resource: Resource, *, allowed_from: Iterable[str], to: str) -> str:
    before = resource.status
    if before not in allowed_from:
        raise InvalidTransitionError(
            f"A {before} resource cannot become {to}.",
            details={"status": before, "target": to, "allowed_from": sorted(allowed_from)},
        )
    return before


def _refuse_if_taken_down(resource: Resource) -> None:
    """A standing takedown outranks every version: nothing of the record may become public again."""
    if resource_under_takedown(resource):
        raise ResourceTakenDownError()


def _bump(resource: Resource, fields: list[str]) -> None:
    resource.version += 1
    resource.updated_at = timezone.now()
    resource.save(update_fields=[*fields, "version", "updated_at"])


# --- files -------------------------------------------------------------------------------

def _check_files(files: Sequence[UploadedFile]) -> list[CheckedFile]:
    """Check every file before anything is stored; clean up temp files on the first failure."""
    if len(files) > settings.CATALOG_MAX_FILES_PER_RESOURCE:
        raise TooManyFilesError(f"At most {settings.CATALOG_MAX_FILES_PER_RESOURCE} files per resource.")
    checked: list[CheckedFile] = []
    try:
        for upload in files:
            checked.append(check_upload(upload.stream, name=upload.name, expected_sha256=upload.sha256,
                                        max_bytes=settings.CATALOG_MAX_UPLOAD_BYTES,
                                        temp_dir=settings.FILE_UPLOAD_TEMP_DIR))
    except BaseException:
        for item in checked:
            os.unlink(item.temp_path)
        raise
    return checked


class _StoredBlobs:
    """Stores checked files (claiming their blobs, see ``catalog.blobs``) and removes the temp files
    afterwards. A blob is never deleted here, even if the surrounding operation fails: another
    upload of the same bytes may be about to reference it. The collector removes it later if none
    does."""

    def __init__(self, checked: list[CheckedFile]) -> None:
        self.checked = checked

    def __enter__(self) -> _StoredBlobs:
        try:
            blobs_store([BlobToStore(sha256=item.sha256, path=item.temp_path, content_type=item.mime)
                         for item in self.checked])
        except BaseException:
            self._remove_temp_files()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._remove_temp_files()

    def _remove_temp_files(self) -> None:
        for item in self.checked:
            if os.path.exists(item.temp_path):
                os.unlink(item.temp_path)


def _create_file_rows(resource: Resource, checked: list[CheckedFile], *, start: int = 0) -> list[ResourceFile]:
    rows = []
    for offset, item in enumerate(checked):
        row = ResourceFile(resource=resource, position=start + offset, original_name=item.original_name,
                           sha256=item.sha256, size=item.size, mime=item.mime, storage_key=blob_key(item.sha256))
        row.full_clean(exclude=["resource"])
        row.save(force_insert=True)
        rows.append(row)
    return rows


# --- deposit and edits -------------------------------------------------------------------

def resource_create(
    *, user, metadata: dict[str, Any], rights: dict[str, Any], files: Sequence[UploadedFile] = (),
) -> Resource:
    """Deposit a new draft resource with its rights statement and files.

    Raises PermissionDeniedError unless ``user`` is a publisher in a publisher organisation;
    InvalidInputError / VocabularyError / RightsInvalidError for bad metadata; an UploadError
    subclass for a bad file. Nothing is stored unless everything is valid."""
    org = getattr(user, "organisation", None)
    if not user_has_role(user, Role.PUBLISHER) or org is None or org.kind not in (
        Organisation.Kind.PUBLISHER, Organisation.Kind.SCHOOL
    ):
        raise PermissionDeniedError("Only publishers (of a publisher or school organisation) may deposit.")
    clean = _clean_metadata(metadata)
    check_metadata_terms(clean)
    rights_clean = clean_rights(rights, default_holder=org.name)
    checked = _check_files(files)
    with _StoredBlobs(checked), transaction.atomic():
        now = timezone.now()
        resource = Resource(
            **clean, origin_node=settings.EXCHANGE_NODE_ID, status=Status.DRAFT, publisher=org,
            publisher_name=org.name, province=_province_of(org), created_by=user, created_at=now, updated_at=now,
        )
        resource.record_id = resource.pk  # a local record's id is its key
        resource.full_clean()
        resource.save(force_insert=True)
        RightsStatement.objects.create(resource=resource, **rights_clean)
        file_rows = _create_file_rows(resource, checked)
        grant_object_rights(resource, publisher=org, province=resource.province)
        audit_record(action="resource.create", actor=user, object_type="resource", object_id=resource.pk,
                     data={"title": resource.title, "files": [f.sha256 for f in file_rows]})
    return resource


def resource_add_files(*, user, resource: Resource, files: Sequence[UploadedFile]) -> list[ResourceFile]:
    """Add files to a draft or rejected resource."""
    _require_editor(user, resource)
    _transition(resource, allowed_from={Status.DRAFT, Status.REJECTED}, to=resource.status)
    if resource.files.count() + len(files) > settings.CATALOG_MAX_FILES_PER_RESOURCE:
        raise TooManyFilesError(f"At most {settings.CATALOG_MAX_FILES_PER_RESOURCE} files per resource.")
    checked = _check_files(files)
    with _StoredBlobs(checked), transaction.atomic():
        locked = Resource.objects.select_for_update().get(pk=resource.pk)
        rows = _create_file_rows(locked, checked, start=locked.files.count())
        _bump(locked, [])
        audit_record(action="resource.files_add", actor=user, object_type="resource", object_id=locked.pk,
                     data={"files": [r.sha256 for r in rows]})
    resource.refresh_from_db()
    return rows


@transaction.atomic
def resource_update(
    *, user, resource: Resource, metadata: dict[str, Any] | None = None, rights: dict[str, Any] | None = None,
) -> Resource:
    """Edit metadata and/or rights. A published resource stays published (its new version goes to
    the index and the feed); a submitted one must be withdrawn from review first."""
    _require_editor(user, resource)
    resource = Resource.objects.select_for_update().get(pk=resource.pk)
    if resource.status in (Status.SUBMITTED, Status.APPROVED, Status.WITHDRAWN):
        raise InvalidTransitionError(f"A {resource.status} resource cannot be edited.",
                                     details={"status": resource.status})
    changed: list[str] = []
    if metadata:
        clean = _clean_metadata(metadata, partial=True)
        merged = {f: getattr(resource, f) for f in METADATA_FIELDS} | clean
        check_metadata_terms(merged)
        for field, value in clean.items():
            if getattr(resource, field) != value:
                setattr(resource, field, value)
                changed.append(field)
        resource.full_clean()
    rights_changed = False
    if rights:
        if not isinstance(rights, dict):
            raise RightsInvalidError("rights must be a JSON object.", details={"rights": ["An object."]})
        current = resource.rights
        base = {f: getattr(current, f) for f in RIGHTS_FIELDS if f != "license"} | {"license": current.license_id}
        rights_clean = clean_rights(base | rights, default_holder=resource.publisher_name)
        for field, value in rights_clean.items():
            if getattr(current, field) != value:
                setattr(current, field, value)
                rights_changed = True
        if rights_changed:
            current.full_clean()
            current.save()
    if not changed and not rights_changed:
        return resource
    _bump(resource, changed)
    audit_record(action="resource.update", actor=user, object_type="resource", object_id=resource.pk,
                 data={"fields": changed, "rights_changed": rights_changed, "version": resource.version})
    if resource.status == Status.PUBLISHED:
        resource_changed(resource, kind="rights" if rights_changed and not changed else "upsert")
    return resource


# --- review workflow ----------------------------------------------------------------------

@transaction.atomic
def resource_submit(*, user, resource: Resource) -> Resource:
    """Send a draft (or a rejected resource after fixes) to the province's reviewers."""
    _require_editor(user, resource)
    resource = Resource.objects.select_for_update().get(pk=resource.pk)
    before = _transition(resource, allowed_from={Status.DRAFT, Status.REJECTED}, to=Status.SUBMITTED)
    if not resource.files.exists():
        raise NoFilesError()
    resource.status, resource.submitted_at, resource.review_note = Status.SUBMITTED, timezone.now(), ""
    _bump(resource, ["status", "submitted_at", "review_note"])
    audit_record(action="resource.submit", actor=user, object_type="resource", object_id=resource.pk,
                 data={"from": before, "version": resource.version})
    return resource


def _run_approval_checks(resource: Resource) -> None:
    problems = []
    for path in settings.CATALOG_APPROVAL_CHECKS:
        problems.extend(import_string(path)(resource))
    if problems:
        raise ApprovalCheckFailedError(
            "The resource cannot be approved: " + "; ".join(p["message"] for p in problems),
            details={"problems": problems},
        )


@transaction.atomic
def resource_approve(*, user, resource: Resource, note: str = "") -> Resource:
    """A reviewer of the province approves a submitted resource (checks in CATALOG_APPROVAL_CHECKS
    must pass, e.g. licensing's rights audit)."""
    note = clean_text(note, field="note")
    _require_reviewer(user, resource)
    resource = Resource.objects.select_for_update().get(pk=resource.pk)
    before = _transition(resource, allowed_from={Status.SUBMITTED}, to=Status.APPROVED)
    _refuse_if_taken_down(resource)
    _run_approval_checks(resource)
    resource.status, resource.review_note = Status.APPROVED, note.strip()
    _bump(resource, ["status", "review_note"])
    audit_record(action="resource.approve", actor=user, object_type="resource", object_id=resource.pk,
                 data={"from": before, "note": resource.review_note, "version": resource.version})
    return resource


@transaction.atomic
def resource_reject(*, user, resource: Resource, reason: str) -> Resource:
    """A reviewer sends a submitted resource back with a reason the publisher sees."""
    reason = clean_text(reason, field="reason")
    _require_reviewer(user, resource)
    if not reason:
        raise InvalidInputError("A rejection needs a reason.", details={"reason": ["This field is required."]})
    resource = Resource.objects.select_for_update().get(pk=resource.pk)
    before = _transition(resource, allowed_from={Status.SUBMITTED}, to=Status.REJECTED)
    resource.status, resource.review_note = Status.REJECTED, reason.strip()
    _bump(resource, ["status", "review_note"])
    audit_record(action="resource.reject", actor=user, object_type="resource", object_id=resource.pk,
                 data={"from": before, "reason": resource.review_note, "version": resource.version})
    return resource


@transaction.atomic
def resource_publish(*, user, resource: Resource) -> Resource:
    """Make an approved resource public (its publisher or a reviewer may do it)."""
    if resource.is_remote:
        raise ResourceReadOnlyError()
    if not (can_edit(user, resource) or can_review(user, resource)):
        raise NotPublisherMemberError("Only the publisher's members or the province's reviewers may publish.")
    resource = Resource.objects.select_for_update().get(pk=resource.pk)
    before = _transition(resource, allowed_from={Status.APPROVED}, to=Status.PUBLISHED)
    _refuse_if_taken_down(resource)
    resource.status, resource.published_at = Status.PUBLISHED, timezone.now()
    _bump(resource, ["status", "published_at"])
    audit_record(action="resource.publish", actor=user, object_type="resource", object_id=resource.pk,
                 data={"from": before, "version": resource.version})
    resource_changed(resource, kind="upsert")
    return resource


WITHDRAW_REASONS = ("withdrawn_by_publisher", "review_revoked", "takedown_upheld")


@transaction.atomic
def resource_withdraw(*, user, resource: Resource, reason: str, note: str = "") -> Resource:
    """Take a published resource out of public view. ``reason`` is one of WITHDRAW_REASONS:
    publishers withdraw their own (``withdrawn_by_publisher``); reviewers revoke (``review_revoked``);
    licensing's upheld takedowns use ``takedown_upheld`` through ``resource_withdraw_for_takedown``."""
    note = clean_text(note, field="note")
    if resource.is_remote:
        raise ResourceReadOnlyError()
    if reason == "withdrawn_by_publisher":
        _require_editor(user, resource)
    elif reason == "review_revoked":
        _require_reviewer(user, resource)
    else:
        raise InvalidInputError(f"Unknown withdrawal reason {reason!r}.", details={"reason": list(WITHDRAW_REASONS[:2])})
    return _withdraw(resource=resource, actor=user, reason=reason, note=note)


def resource_withdraw_for_takedown(*, resource: Resource, actor, note: str = "") -> Resource:
    """Withdraw after an upheld takedown. The caller (licensing) has checked the actor's rights."""
    return _withdraw(resource=resource, actor=actor, reason="takedown_upheld", note=note)


@transaction.atomic
def _withdraw(*, resource: Resource, actor, reason: str, note: str) -> Resource:
    resource = Resource.objects.select_for_update().get(pk=resource.pk)
    allowed = {Status.PUBLISHED} if reason != "takedown_upheld" else {
        Status.PUBLISHED, Status.APPROVED, Status.SUBMITTED, Status.DRAFT, Status.REJECTED}
    before = _transition(resource, allowed_from=allowed, to=Status.WITHDRAWN)
    resource.status, resource.review_note = Status.WITHDRAWN, (note or reason).strip()
    _bump(resource, ["status", "review_note"])
    if reason == "takedown_upheld":  # a fact no later version of the record overrides (catalog.takedowns)
        takedown_fact_record(origin=resource.origin_node, record_id=resource.record_id,
                             ordered_by=resource.origin_node, order_version=resource.version, note=note,
                             republish_on_lift=before == Status.PUBLISHED)
    audit_record(action="resource.withdraw", actor=actor, object_type="resource", object_id=resource.pk,
                 data={"from": before, "reason": reason, "note": note, "version": resource.version})
    resource_changed(resource, kind="withdraw", reason=reason)
    return resource


# --- favourites ---------------------------------------------------------------------------

def favourite_add(*, user, resource: Resource) -> bool:
    """Bookmark a published resource for ``user``; True when it was newly added (idempotent).
    Raises NotAuthenticatedError for anonymous users, ResourceNotFoundError for a resource the user may
    not see (``can_see``) and InvalidTransitionError for an unpublished one they see."""
    if not getattr(user, "is_authenticated", False):
        raise NotAuthenticatedError()
    if not can_see(user, resource):
        raise ResourceNotFoundError()
    if resource.status != Status.PUBLISHED:
        raise InvalidTransitionError("Only published resources can be added to favourites.",
                                     details={"status": resource.status})
    _, created = Favourite.objects.get_or_create(user=user, resource=resource)
    return created


def favourite_remove(*, user, resource: Resource) -> bool:
    """Remove a bookmark; True when one was removed (idempotent)."""
    if not getattr(user, "is_authenticated", False):
        raise NotAuthenticatedError()
    deleted, _ = Favourite.objects.filter(user=user, resource=resource).delete()
    return deleted > 0
