"""Revisions: every change to a published local resource is reviewed before it goes live (更新必审).

Editing a published resource — metadata, rights or files — opens a revision (or changes the open draft);
the live version stays public and unchanged in search, pages, OAI-PMH and the federation feed. The
publisher submits it; a reviewer of the province approves it (the same approval checks as a new
resource, on the proposed content; under the two-person rule a second reviewer must concur) and it is
applied atomically as the next version — only then does it reach the index and the feed — or rejects it
with reasons, after which the publisher fixes and resubmits it, or cancels it. One open revision per
resource; while it is submitted, further edits are refused (``revision_in_review``) until it is decided
or cancelled. Withdrawing the resource cancels its open revision; a standing takedown refuses approval."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from catalog.errors import (
    FileNotFoundInResourceError,
    InvalidTransitionError,
    NoFilesError,
    RevisionEmptyError,
    RevisionInReviewError,
    RevisionNotFoundError,
    RightsInvalidError,
    TooManyFilesError,
)
from catalog.events import resource_changed
from catalog.guards import bump, require_editor, require_reviewer
from catalog.models import (
    Resource,
    ResourceFile,
    ResourceRevision,
    ResourceVersion,
    RevisionFile,
    RightsStatement,
)
from catalog.review.commitment import commitment_require
from catalog.review.history import content_diff, content_of, version_baseline_ensure, version_record_local
from catalog.review.steps import approval_step, rejection_step
from catalog.review.subject import subject_of_resource, subject_of_revision, submission_hooks_on_commit
from catalog.storage import blob_key
from catalog.uploads import StoredBlobs, UploadedFile, check_files, renumber_positions
from catalog.validation import (
    METADATA_FIELDS,
    RIGHTS_FIELDS,
    clean_metadata,
    clean_rights,
    metadata_of,
    rights_as_json,
    rights_of,
)
from catalog.vocab import check_metadata_terms
from exchange.audit import audit_record

Status = Resource.Status
RevStatus = ResourceRevision.Status


def revision_open(resource: Resource, *, lock: bool = False) -> ResourceRevision | None:
    """The resource's open revision (draft, submitted or rejected), or None."""
    qs = ResourceRevision.objects.filter(resource=resource, status__in=ResourceRevision.OPEN_STATUSES)
    return (qs.select_for_update() if lock else qs).first()


def revision_diff(revision: ResourceRevision) -> dict[str, Any]:
    """What the revision changes in the live version (``catalog.review.history.content_diff``)."""
    return content_diff(content_of(subject_of_resource(revision.resource)), content_of(subject_of_revision(revision)))


def _locked_published(resource: Resource) -> Resource:
    locked = Resource.objects.select_for_update().get(pk=resource.pk)
    if locked.status != Status.PUBLISHED:
        raise InvalidTransitionError("Only a published resource is revised; edit a draft or rejected one in place.",
                                     details={"status": locked.status})
    return locked


def _revision_for_edit(*, user, resource: Resource) -> ResourceRevision:
    """The open draft or rejected revision of ``resource`` (locked, published), or a new draft made from the
    live version. Raises RevisionInReviewError while one is submitted."""
    revision = revision_open(resource, lock=True)
    if revision is not None:
        if revision.status == RevStatus.SUBMITTED:
            raise RevisionInReviewError(details={"revision": revision.pk})
        return revision
    now = timezone.now()
    number = (ResourceRevision.objects.filter(resource=resource).aggregate(n=Max("number"))["n"] or 0) + 1
    revision = ResourceRevision.objects.create(
        resource=resource, number=number, status=RevStatus.DRAFT, base_version=resource.version,
        metadata=metadata_of(resource), rights=rights_of(resource.rights), created_by=user, created_at=now,
        updated_at=now)
    RevisionFile.objects.bulk_create([
        RevisionFile(file_id=f.pk, revision=revision, position=f.position, original_name=f.original_name, sha256=f.sha256,
                     size=f.size, mime=f.mime, storage_key=f.storage_key, duration_seconds=f.duration_seconds)
        for f in resource.files.order_by("position")])
    audit_record(action="resource.revision_open", actor=user, object_type="resource", object_id=resource.pk,
                 data={"revision": revision.pk, "number": number, "base_version": resource.version})
    return revision


def _touch(revision: ResourceRevision, fields: list[str]) -> None:
    revision.updated_at = timezone.now()
    revision.save(update_fields=[*fields, "updated_at"])


@transaction.atomic
def revision_update(*, user, resource: Resource, metadata: dict[str, Any] | None = None,
                    rights: dict[str, Any] | None = None) -> ResourceRevision:
    """Change the proposed metadata and/or rights of the resource's revision (opening one). The whole
    proposed content is checked as a deposit would be. Raises RevisionInReviewError while it is submitted."""
    require_editor(user, resource)
    resource = _locked_published(resource)
    revision = _revision_for_edit(user=user, resource=resource)
    changed: list[str] = []
    if metadata:
        merged = revision.metadata | clean_metadata(metadata, partial=True)
        merged = clean_metadata(merged)  # the whole proposed metadata, as a deposit is checked
        check_metadata_terms(merged)
        probe = copy.copy(resource)  # the resource as the revision would leave it, for the model's checks
        for field, value in merged.items():
            setattr(probe, field, value)
        probe.full_clean(validate_unique=False, validate_constraints=False)
        changed += [f for f in METADATA_FIELDS if revision.metadata.get(f) != merged.get(f)]
        revision.metadata = {f: merged.get(f, revision.metadata.get(f)) for f in METADATA_FIELDS}
    if rights:
        if not isinstance(rights, dict):
            raise RightsInvalidError("rights must be a JSON object.", details={"rights": ["An object."]})
        clean = clean_rights(dict(revision.rights) | rights, default_holder=resource.publisher_name)
        RightsStatement(resource=resource, **clean).full_clean(exclude=["resource"], validate_unique=False)
        proposed = rights_as_json(clean)
        changed += [f"rights.{f}" for f in RIGHTS_FIELDS if revision.rights.get(f) != proposed.get(f)]
        revision.rights = proposed
    if changed:
        _touch(revision, ["metadata", "rights"])
        audit_record(action="resource.revision_update", actor=user, object_type="resource", object_id=resource.pk,
                     data={"revision": revision.pk, "fields": changed})
    return revision


def revision_add_files(*, user, resource: Resource, files: Sequence[UploadedFile]) -> list[RevisionFile]:
    """Add files to the resource's revision (opening one): checked and stored like any upload."""
    require_editor(user, resource)
    checked = check_files(files)
    with StoredBlobs(checked), transaction.atomic():
        locked = _locked_published(resource)
        revision = _revision_for_edit(user=user, resource=locked)
        start = revision.files.count()
        if start + len(checked) > settings.CATALOG_MAX_FILES_PER_RESOURCE:
            raise TooManyFilesError(f"At most {settings.CATALOG_MAX_FILES_PER_RESOURCE} files per resource.")
        rows = []
        for offset, item in enumerate(checked):
            row = RevisionFile(revision=revision, position=start + offset, original_name=item.original_name,
                               sha256=item.sha256, size=item.size, mime=item.mime, storage_key=blob_key(item.sha256))
            row.full_clean(exclude=["revision"])
            row.save(force_insert=True)
            rows.append(row)
        _touch(revision, [])
        audit_record(action="resource.revision_files_add", actor=user, object_type="resource", object_id=locked.pk,
                     data={"revision": revision.pk, "files": [r.sha256 for r in rows]})
    return rows


@transaction.atomic
def revision_remove_file(*, user, resource: Resource, file_id: Any) -> ResourceRevision:
    """Take a file out of the revision's proposed file set (opening one); the live version keeps it until
    the revision is applied, and the versions that had it keep it after. Raises FileNotFoundInResourceError."""
    require_editor(user, resource)
    resource = _locked_published(resource)
    revision = _revision_for_edit(user=user, resource=resource)
    try:
        key = uuid.UUID(str(file_id))
    except ValueError:
        raise FileNotFoundInResourceError() from None
    row = revision.files.filter(file_id=key).first()
    if row is None:
        raise FileNotFoundInResourceError()
    row.delete()
    renumber_positions(revision.files)
    _touch(revision, [])
    audit_record(action="resource.revision_files_remove", actor=user, object_type="resource", object_id=resource.pk,
                 data={"revision": revision.pk, "file": str(key), "sha256": row.sha256})
    return revision


@transaction.atomic
def revision_submit(*, user, resource: Resource) -> ResourceRevision:
    """Send the resource's draft or rejected revision to the province's reviewers. Raises
    InvalidTransitionError without one, RevisionEmptyError when it changes nothing, NoFilesError when it
    would remove the last file, CommitmentRequiredError when the organisation has not accepted the commitment."""
    require_editor(user, resource)
    resource = _locked_published(resource)
    revision = revision_open(resource, lock=True)
    if revision is None:
        raise InvalidTransitionError("A published resource is submitted again only with a revision (edit it first).",
                                     details={"status": resource.status, "revision": None})
    if revision.status == RevStatus.SUBMITTED:
        raise RevisionInReviewError(details={"revision": revision.pk})
    if not revision.files.exists() and resource.files.exists():  # (a metadata-only import has none to keep)
        raise NoFilesError()
    if revision_diff(revision)["empty"]:
        raise RevisionEmptyError()
    acceptance = commitment_require(resource.publisher)
    before = revision.status
    revision.status, revision.submitted_at, revision.review_note = RevStatus.SUBMITTED, timezone.now(), ""
    _touch(revision, ["status", "submitted_at", "review_note"])
    audit_record(action="resource.revision_submit", actor=user, object_type="resource", object_id=resource.pk,
                 data={"revision": revision.pk, "from": before, "commitment_version": acceptance.commitment_id})
    submission_hooks_on_commit(resource_id=str(resource.pk), revision_id=revision.pk)
    return revision


@transaction.atomic
def revision_cancel(*, user, resource: Resource) -> ResourceRevision:
    """The publisher drops the resource's open revision (whatever its state); the live version stays."""
    require_editor(user, resource)
    resource = Resource.objects.select_for_update().get(pk=resource.pk)
    revision = revision_open(resource, lock=True)
    if revision is None:
        raise RevisionNotFoundError()
    before = revision.status
    revision.status, revision.decided_at = RevStatus.CANCELLED, timezone.now()
    _touch(revision, ["status", "decided_at"])
    audit_record(action="resource.revision_cancel", actor=user, object_type="resource", object_id=resource.pk,
                 data={"revision": revision.pk, "from": before})
    return revision


def _submitted_revision(resource: Resource) -> ResourceRevision:
    revision = revision_open(resource, lock=True)
    if revision is None or revision.status != RevStatus.SUBMITTED:
        raise InvalidTransitionError("The resource has no revision waiting for review.",
                                     details={"status": resource.status,
                                              "revision": revision.status if revision else None})
    return revision


@transaction.atomic
def revision_approve(*, user, resource: Resource, note: str = "", dimensions: Any = None,
                     review_by: Any = None) -> ResourceRevision:
    """A reviewer of the province approves the submitted revision. When the approvals the province needs
    are complete (one, or two different reviewers under the two-person rule) the revision is applied as
    the resource's next version and goes to the index and the feed; until then nothing changes."""
    require_reviewer(user, resource)
    resource = _locked_published(resource)
    revision = _submitted_revision(resource)
    outcome = approval_step(user=user, subject=subject_of_revision(revision), round_submitted_at=revision.submitted_at,
                            note=note, dimensions=dimensions, review_by=review_by)
    audit_record(action="resource.revision_approve", actor=user, object_type="resource", object_id=resource.pk,
                 data={"revision": revision.pk, "note": outcome.decision.note, "reason_code": outcome.decision.reason_code,
                       "dimensions": outcome.decision.dimensions, "effective": outcome.effective,
                       "approvals": len(outcome.approvals), "needed": outcome.needed})
    if outcome.effective:
        _apply(revision=revision, resource=resource, actor=user, approvals=outcome.approvals,
               review_by=outcome.review_by)
    return revision


@transaction.atomic
def revision_reject(*, user, resource: Resource, reason: str, reason_code: Any = None, dimensions: Any = None,
                    field_notes: Any = None) -> ResourceRevision:
    """A reviewer sends the submitted revision back with a reason (and notes per field) the publisher sees;
    the live version stays."""
    require_reviewer(user, resource)
    resource = _locked_published(resource)
    revision = _submitted_revision(resource)
    decision = rejection_step(user=user, subject=subject_of_revision(revision), round_submitted_at=revision.submitted_at,
                              reason=reason, reason_code=reason_code, dimensions=dimensions, field_notes=field_notes)
    revision.status, revision.review_note, revision.decided_at = RevStatus.REJECTED, decision.note, timezone.now()
    _touch(revision, ["status", "review_note", "decided_at"])
    audit_record(action="resource.revision_reject", actor=user, object_type="resource", object_id=resource.pk,
                 data={"revision": revision.pk, "reason": decision.note, "reason_code": decision.reason_code,
                       "dimensions": decision.dimensions, "field_notes": decision.field_notes})
    return revision


def _apply_files(resource: Resource, revision: ResourceRevision) -> bool:
    live = {f.pk: f for f in resource.files.all()}
    proposed = list(revision.files.order_by("position", "id"))
    keep = {row.file_id for row in proposed}
    removed = [pk for pk in live if pk not in keep]
    changed = bool(removed)
    if removed:
        ResourceFile.objects.filter(pk__in=removed).delete()
    for row in proposed:
        current = live.get(row.file_id)
        if current is None:
            ResourceFile.objects.create(
                id=row.file_id, resource=resource, position=row.position, original_name=row.original_name,
                sha256=row.sha256, size=row.size, mime=row.mime, storage_key=row.storage_key,
                duration_seconds=row.duration_seconds, available_locally=True)
            changed = True
        elif current.position != row.position:
            current.position = row.position
            current.save(update_fields=["position"])
            changed = True
    return changed


def _apply(*, revision: ResourceRevision, resource: Resource, actor, approvals: list[dict[str, Any]],
           review_by) -> None:
    """Make the revision the live version (the resource is locked): one new version, kept in the history,
    and ``resource_changed`` so the index and the feed get it in this transaction."""
    version_baseline_ensure(resource)
    metadata = clean_metadata(revision.metadata)
    check_metadata_terms(metadata)
    changed = [f for f, value in metadata.items() if getattr(resource, f) != value]
    for field in changed:
        setattr(resource, field, metadata[field])
    resource.full_clean()
    statement = resource.rights
    rights = clean_rights(revision.rights, default_holder=resource.publisher_name)
    rights_changed = False
    for field, value in rights.items():
        if getattr(statement, field) != value:
            setattr(statement, field, value)
            rights_changed = True
    if rights_changed:
        statement.full_clean()
        statement.save()
    files_changed = _apply_files(resource, revision)
    resource.review_by = review_by
    bump(resource, [*changed, "review_by"])
    now = timezone.now()
    revision.status, revision.decided_at, revision.applied_version = RevStatus.APPLIED, now, resource.version
    _touch(revision, ["status", "decided_at", "applied_version"])
    version_record_local(resource=resource, source=ResourceVersion.Source.REVISION, revision=revision,
                         approvals=approvals, live_from=now)
    audit_record(action="resource.revision_apply", actor=actor, object_type="resource", object_id=resource.pk,
                 data={"revision": revision.pk, "version": resource.version, "fields": changed,
                       "rights_changed": rights_changed, "files_changed": files_changed,
                       "approvers": [a["reviewer"] for a in approvals]})
    only_rights = rights_changed and not changed and not files_changed
    resource_changed(resource, kind="rights" if only_rights else "upsert")


def revisions_close_for_withdrawal(*, resource: Resource, actor, reason: str) -> None:
    """A withdrawn resource has no revision to review: cancel its open one (call in the withdrawal's
    transaction)."""
    revision = revision_open(resource, lock=True)
    if revision is None:
        return
    before = revision.status
    revision.status, revision.decided_at, revision.review_note = RevStatus.CANCELLED, timezone.now(), reason
    _touch(revision, ["status", "decided_at", "review_note"])
    audit_record(action="resource.revision_cancel", actor=actor, object_type="resource", object_id=resource.pk,
                 data={"revision": revision.pk, "from": before, "reason": reason})
