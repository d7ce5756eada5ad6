"""Writes to the catalog: deposit with files and rights, edits, and the review workflow.

Every service is keyword-only, atomic, checks who may act, audits, bumps the resource's version
on any change a peer must see, and tells ``catalog.events`` so the feed and the index follow.

A draft or rejected resource is edited in place. A published one is never changed in place: its edits
make a revision (``catalog.review.revisions``) that goes live only when a reviewer of the province
approves it; ``resource_submit`` / ``resource_approve`` / ``resource_reject`` act on that revision when
the resource is published. Every submission needs the organisation's accepted content commitment
(``catalog.review.commitment``) and is announced to ``CATALOG_SUBMISSION_HOOKS``; every approval runs
``CATALOG_APPROVAL_CHECKS`` on the content under review and records the reviewer's decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from catalog.errors import (
    FileNotFoundInResourceError,
    InvalidTransitionError,
    NoFilesError,
    NotPublisherMemberError,
    ResourceNotFoundError,
    ResourceReadOnlyError,
    RightsInvalidError,
    TooManyFilesError,
)
from catalog.events import resource_changed, resources_published
from catalog.guards import bump, refuse_if_taken_down, require_editor, require_reviewer, transition
from catalog.models import (
    Favourite,
    Resource,
    ResourceFile,
    ResourceVersion,
    ReviewDecision,
    RevisionFile,
    RightsStatement,
)
from catalog.permissions import (  # noqa: F401 (re-exported)
    can_edit,
    can_review,
    can_see,
    grant_object_rights,
    teacher_may_share,
)
from catalog.review import revisions
from catalog.review.commitment import commitment_require
from catalog.review.decisions import (
    REREVIEW_CONFIRMED,
    approvals_snapshot,
    clean_dimensions,
    clean_review_by,
    decision_record,
    round_decisions,
)
from catalog.review.history import version_record_local
from catalog.review.steps import approval_step, rejection_step
from catalog.review.subject import subject_of_resource, submission_hooks_on_commit
from catalog.takedowns import takedown_fact_record
from catalog.uploads import (  # noqa: F401
    StoredBlobs,
    UploadedFile,
    check_files,
    create_file_rows,
    renumber_positions,
)
from catalog.validation import (  # noqa: F401 (re-exported)
    MAX_GRANT_DAYS,
    MAX_PRICE,
    METADATA_FIELDS,
    RIGHTS_FIELDS,
    clean_metadata,
    clean_rights,
    province_of,
)
from catalog.vocab import check_metadata_terms
from exchange.audit import audit_record
from exchange.errors import InvalidInputError, NotAuthenticatedError, PermissionDeniedError
from exchange.inputs import clean_text
from exchange.models import Organisation
from exchange.roles import Role, user_has_role

Status = Resource.Status


# --- deposit and edits -------------------------------------------------------------------

def holder_of_a_teachers_lesson_check(rights: Any, *, school_name: str) -> None:
    """What a teacher shares as their school (一师一优课) has the school as its rights holder: the pages show
    it fixed, and a deposit or edit naming another holder is refused (RightsInvalidError), whichever way it
    comes. An absent or empty holder means the school."""
    if not isinstance(rights, dict) or "holder" not in rights:
        return
    holder = rights["holder"]
    if holder in (None, "") or (isinstance(holder, str) and holder.strip() in ("", school_name)):
        return
    raise RightsInvalidError("Teachers share as their school: the school is the rights holder.",
                             details={"holder": [f"Must be {school_name!r} (or left out)."]})


def resource_create(
    *, user, metadata: dict[str, Any], rights: dict[str, Any], files: Sequence[UploadedFile] = (),
) -> Resource:
    """Deposit a new draft resource with its rights statement and files.

    Raises PermissionDeniedError unless ``user`` is a publisher in a publisher or school organisation, or a
    teacher sharing as their school (``catalog.permissions.teacher_may_share``);
    InvalidInputError / VocabularyError / RightsInvalidError for bad metadata; an UploadError
    subclass for a bad file. Nothing is stored unless everything is valid."""
    org = getattr(user, "organisation", None)
    publisher = user_has_role(user, Role.PUBLISHER) and org is not None and org.kind in (
        Organisation.Kind.PUBLISHER, Organisation.Kind.SCHOOL)
    if org is None or (not publisher and not teacher_may_share(user)):
        raise PermissionDeniedError("Only publishers (of a publisher or school organisation) may deposit, and "
                                    "teachers of a school whose administrator lets them share as the school.")
    clean = clean_metadata(metadata)
    check_metadata_terms(clean)
    if not publisher:
        holder_of_a_teachers_lesson_check(rights, school_name=org.name)
    rights_clean = clean_rights(rights, default_holder=org.name)
    checked = check_files(files)
    with StoredBlobs(checked), transaction.atomic():
        now = timezone.now()
        resource = Resource(
            **clean, origin_node=settings.EXCHANGE_NODE_ID, status=Status.DRAFT, publisher=org,
            publisher_name=org.name, province=province_of(org), created_by=user, created_at=now, updated_at=now,
        )
        resource.record_id = resource.pk  # a local record's id is its key
        resource.full_clean()
        resource.save(force_insert=True)
        RightsStatement.objects.create(resource=resource, **rights_clean)
        file_rows = create_file_rows(resource, checked)
        grant_object_rights(resource, publisher=org, province=resource.province)
        audit_record(action="resource.create", actor=user, object_type="resource", object_id=resource.pk,
                     data={"title": resource.title, "files": [f.sha256 for f in file_rows]})
    return resource


def resource_add_files(*, user, resource: Resource, files: Sequence[UploadedFile]) -> list[ResourceFile] | list[RevisionFile]:
    """Add files to a draft or rejected resource; to a published one they are added to its revision
    (``catalog.review.revisions.revision_add_files``) and go live only when it is approved."""
    require_editor(user, resource)
    if resource.status == Status.PUBLISHED:
        return revisions.revision_add_files(user=user, resource=resource, files=files)
    transition(resource, allowed_from={Status.DRAFT, Status.REJECTED}, to=resource.status)
    if resource.files.count() + len(files) > settings.CATALOG_MAX_FILES_PER_RESOURCE:
        raise TooManyFilesError(f"At most {settings.CATALOG_MAX_FILES_PER_RESOURCE} files per resource.")
    checked = check_files(files)
    with StoredBlobs(checked), transaction.atomic():
        locked = Resource.objects.select_for_update().get(pk=resource.pk)
        transition(locked, allowed_from={Status.DRAFT, Status.REJECTED}, to=locked.status)
        rows = create_file_rows(locked, checked, start=locked.files.count())
        bump(locked, [])
        audit_record(action="resource.files_add", actor=user, object_type="resource", object_id=locked.pk,
                     data={"files": [r.sha256 for r in rows]})
    resource.refresh_from_db()
    return rows


@transaction.atomic
def resource_remove_file(*, user, resource: Resource, file_id: Any) -> Resource:
    """Remove a file from a draft or rejected resource; from a published one it is removed in its revision
    (the live version keeps it until the revision is approved). Raises FileNotFoundInResourceError."""
    require_editor(user, resource)
    if resource.status == Status.PUBLISHED:
        revisions.revision_remove_file(user=user, resource=resource, file_id=file_id)
        return resource
    locked = Resource.objects.select_for_update().get(pk=resource.pk)
    transition(locked, allowed_from={Status.DRAFT, Status.REJECTED}, to=locked.status)
    row = next((f for f in locked.files.all() if str(f.pk) == str(file_id)), None)
    if row is None:
        raise FileNotFoundInResourceError()
    row.delete()
    renumber_positions(locked.files)
    bump(locked, [])
    audit_record(action="resource.files_remove", actor=user, object_type="resource", object_id=locked.pk,
                 data={"file": str(row.pk), "sha256": row.sha256})
    return locked


@transaction.atomic
def resource_update(
    *, user, resource: Resource, metadata: dict[str, Any] | None = None, rights: dict[str, Any] | None = None,
) -> Resource:
    """Edit metadata and/or rights of a draft or rejected resource in place. A published resource is not
    changed: the edit goes into its revision (``catalog.review.revisions.revision_update``), which reaches
    the public, the index and the feed only when a reviewer approves it. A submitted, approved or withdrawn
    resource cannot be edited."""
    require_editor(user, resource)
    if not user_has_role(user, Role.PUBLISHER):  # a teacher sharing as their school (can_edit)
        holder_of_a_teachers_lesson_check(rights, school_name=resource.publisher_name)
    resource = Resource.objects.select_for_update().get(pk=resource.pk)
    if resource.status == Status.PUBLISHED:
        revisions.revision_update(user=user, resource=resource, metadata=metadata, rights=rights)
        return resource
    if resource.status in (Status.SUBMITTED, Status.APPROVED, Status.WITHDRAWN):
        raise InvalidTransitionError(f"A {resource.status} resource cannot be edited.",
                                     details={"status": resource.status})
    changed: list[str] = []
    if metadata:
        clean = clean_metadata(metadata, partial=True)
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
    bump(resource, changed)
    audit_record(action="resource.update", actor=user, object_type="resource", object_id=resource.pk,
                 data={"fields": changed, "rights_changed": rights_changed, "version": resource.version})
    return resource


# --- review workflow ----------------------------------------------------------------------

@transaction.atomic
def resource_submit(*, user, resource: Resource) -> Resource:
    """Send a draft (or a rejected resource after fixes) to the province's reviewers; for a published
    resource, send its revision (``revision_submit``). Raises CommitmentRequiredError until the publishing
    organisation accepted the content commitment, NoFilesError without a file."""
    require_editor(user, resource)
    resource = Resource.objects.select_for_update().get(pk=resource.pk)
    if resource.status == Status.PUBLISHED:
        revisions.revision_submit(user=user, resource=resource)
        return resource
    before = transition(resource, allowed_from={Status.DRAFT, Status.REJECTED}, to=Status.SUBMITTED)
    if not resource.files.exists():
        raise NoFilesError()
    acceptance = commitment_require(resource.publisher)
    resource.status, resource.submitted_at, resource.review_note = Status.SUBMITTED, timezone.now(), ""
    bump(resource, ["status", "submitted_at", "review_note"])
    audit_record(action="resource.submit", actor=user, object_type="resource", object_id=resource.pk,
                 data={"from": before, "version": resource.version, "commitment_version": acceptance.commitment_id})
    submission_hooks_on_commit(resource_id=str(resource.pk), revision_id=None)
    return resource


@transaction.atomic
def resource_approve(*, user, resource: Resource, note: str = "", dimensions: Any = None,
                     review_by: Any = None) -> Resource:
    """A reviewer of the province approves a submitted resource, or the submitted revision of a published
    one (``revision_approve``). The checks in CATALOG_APPROVAL_CHECKS (e.g. licensing's rights audit) run
    on the content under review and must pass; ``dimensions`` (the seven of the national rules), when
    given, must all pass; ``review_by`` is when it is due for re-review (default: by its type). Under the
    province's two-person rule the first approval is recorded and the resource stays submitted until a
    different reviewer concurs."""
    require_reviewer(user, resource)
    resource = Resource.objects.select_for_update().get(pk=resource.pk)
    if resource.status == Status.PUBLISHED:
        revisions.revision_approve(user=user, resource=resource, note=note, dimensions=dimensions,
                                   review_by=review_by)
        return resource
    before = transition(resource, allowed_from={Status.SUBMITTED}, to=Status.APPROVED)
    outcome = approval_step(user=user, subject=subject_of_resource(resource), round_submitted_at=resource.submitted_at,
                            note=note, dimensions=dimensions, review_by=review_by)
    data = {"from": before, "note": outcome.decision.note, "reason_code": outcome.decision.reason_code,
            "dimensions": outcome.decision.dimensions, "effective": outcome.effective,
            "approvals": len(outcome.approvals), "needed": outcome.needed}
    if outcome.effective:
        resource.status, resource.review_note, resource.review_by = Status.APPROVED, outcome.decision.note, \
            outcome.review_by
        bump(resource, ["status", "review_note", "review_by"])
    audit_record(action="resource.approve", actor=user, object_type="resource", object_id=resource.pk,
                 data=data | {"version": resource.version})
    return resource


@transaction.atomic
def resource_reject(*, user, resource: Resource, reason: str, reason_code: Any = None, dimensions: Any = None,
                    field_notes: Any = None) -> Resource:
    """A reviewer sends a submitted resource (or the submitted revision of a published one) back with a
    reason the publisher sees, a reason code, the dimensions that failed and notes per field."""
    reason = clean_text(reason, field="reason")
    require_reviewer(user, resource)
    if not reason.strip():
        raise InvalidInputError("A rejection needs a reason.", details={"reason": ["This field is required."]})
    resource = Resource.objects.select_for_update().get(pk=resource.pk)
    if resource.status == Status.PUBLISHED:
        revisions.revision_reject(user=user, resource=resource, reason=reason, reason_code=reason_code,
                                  dimensions=dimensions, field_notes=field_notes)
        return resource
    before = transition(resource, allowed_from={Status.SUBMITTED}, to=Status.REJECTED)
    decision = rejection_step(user=user, subject=subject_of_resource(resource),
                              round_submitted_at=resource.submitted_at, reason=reason, reason_code=reason_code,
                              dimensions=dimensions, field_notes=field_notes)
    resource.status, resource.review_note = Status.REJECTED, decision.note
    bump(resource, ["status", "review_note"])
    audit_record(action="resource.reject", actor=user, object_type="resource", object_id=resource.pk,
                 data={"from": before, "reason": decision.note, "reason_code": decision.reason_code,
                       "dimensions": decision.dimensions, "field_notes": decision.field_notes,
                       "version": resource.version})
    return resource


@transaction.atomic
def resource_publish(*, user, resource: Resource) -> Resource:
    """Make an approved resource public (its publisher or a reviewer may do it). Its first version is kept
    in the history with the approvals that let it go live."""
    if resource.is_remote:
        raise ResourceReadOnlyError()
    if not (can_edit(user, resource) or can_review(user, resource)):
        raise NotPublisherMemberError("Only the publisher's members or the province's reviewers may publish.")
    resource = Resource.objects.select_for_update().get(pk=resource.pk)
    before = transition(resource, allowed_from={Status.APPROVED}, to=Status.PUBLISHED)
    refuse_if_taken_down(resource)
    resource.status, resource.published_at = Status.PUBLISHED, timezone.now()
    bump(resource, ["status", "published_at"])
    approvals = approvals_snapshot(round_decisions(resource=resource, revision=None,
                                                   round_submitted_at=resource.submitted_at))
    version_record_local(resource=resource, source=ResourceVersion.Source.PUBLISH, approvals=approvals,
                         live_from=resource.published_at)
    audit_record(action="resource.publish", actor=user, object_type="resource", object_id=resource.pk,
                 data={"from": before, "version": resource.version})
    resource_changed(resource, kind="upsert")
    resources_published([str(resource.pk)])
    return resource


@transaction.atomic
def resource_rereview_confirm(*, user, resource: Resource, note: str = "", dimensions: Any = None,
                              review_by: Any = None) -> Resource:
    """Periodic re-review (时效性): a reviewer of the province confirms a published resource still passes
    and sets its next review-by date (default: by its type). The record itself does not change (no new
    version); a resource that no longer passes is withdrawn instead (``review_revoked``)."""
    require_reviewer(user, resource)
    resource = Resource.objects.select_for_update().get(pk=resource.pk)
    transition(resource, allowed_from={Status.PUBLISHED}, to=Status.PUBLISHED)
    note = clean_text(note, field="note").strip()
    stated = clean_dimensions(dimensions, for_approval=True)
    day = clean_review_by(review_by, resource_type=resource.resource_type)
    decision_record(resource=resource, revision=None, reviewer=user, action=ReviewDecision.Action.CONFIRM,
                    reason_code=REREVIEW_CONFIRMED, note=note, dimensions=stated, review_by=day)
    previous = resource.review_by
    resource.review_by = day
    resource.save(update_fields=["review_by"])
    audit_record(action="resource.rereview", actor=user, object_type="resource", object_id=resource.pk,
                 data={"reason_code": REREVIEW_CONFIRMED, "note": note, "dimensions": stated,
                       "previous_review_by": previous.isoformat() if previous else None,
                       "review_by": day.isoformat()})
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
        require_editor(user, resource)
    elif reason == "review_revoked":
        require_reviewer(user, resource)
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
    before = transition(resource, allowed_from=allowed, to=Status.WITHDRAWN)
    resource.status, resource.review_note = Status.WITHDRAWN, (note or reason).strip()
    bump(resource, ["status", "review_note"])
    revisions.revisions_close_for_withdrawal(resource=resource, actor=actor, reason=reason)
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
