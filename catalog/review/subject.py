"""The content under review, and what runs on it: approval checks, machine findings, submission hooks.

A reviewer decides on a *subject*: a new resource as submitted, or the proposed content of a revision of a
published one. ``ReviewSubject`` is that content, read-only — metadata, rights statement and files as
JSON-like values — so the checks in ``CATALOG_APPROVAL_CHECKS`` (licensing's rights audit, the machine
pre-review's hard findings) judge exactly what would go live, never the live version a revision replaces.

``CATALOG_SUBMISSION_HOOKS`` hear of every submission after commit; ``CATALOG_REVIEW_FINDINGS`` answers
what the machine found, shown to reviewers beside the submission."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType
from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction
from django.utils.module_loading import import_string

from catalog.errors import ApprovalCheckFailedError
from catalog.models import License, Resource, ResourceRevision
from catalog.prereview.checks import prereview_content_for_subject
from catalog.validation import metadata_of, rights_of

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileFacts:
    """One file of the content under review."""

    id: str
    original_name: str
    sha256: str
    size: int
    mime: str
    position: int
    storage_key: str = ""
    duration_seconds: int | None = None

    @property
    def pk(self) -> str:
        return self.id

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.original_name, "sha256": self.sha256, "size": self.size,
                "mime": self.mime, "position": self.position, "duration_seconds": self.duration_seconds}


@dataclass(frozen=True)
class ReviewSubject:
    """What a reviewer decides on: ``resource`` (its identity, publisher, province) with either its own
    content (``revision`` None: a new resource) or a revision's proposed content. ``rights`` is None when
    the resource has no rights statement; ``rights["license"]`` is a licence id (``licence`` loads it)."""

    resource: Resource
    revision: ResourceRevision | None
    metadata: Mapping[str, Any]
    rights: Mapping[str, Any] | None
    files: tuple[FileFacts, ...]

    @property
    def resource_id(self) -> str:
        return str(self.resource.pk)

    @property
    def revision_id(self) -> int | None:
        return self.revision.pk if self.revision is not None else None

    @cached_property
    def licence(self) -> License | None:
        if self.rights is None:
            return None
        return License.objects.filter(pk=self.rights.get("license")).first()


def _frozen(value: dict[str, Any] | None) -> Mapping[str, Any] | None:
    return None if value is None else MappingProxyType(dict(value))


def subject_of_resource(resource: Resource) -> ReviewSubject:
    """A resource's own (live or draft) content."""
    try:
        rights: dict[str, Any] | None = rights_of(resource.rights)
    except ObjectDoesNotExist:
        rights = None
    files = tuple(FileFacts(id=str(f.pk), original_name=f.original_name, sha256=f.sha256, size=f.size,
                            mime=f.mime, position=f.position, storage_key=f.storage_key,
                            duration_seconds=f.duration_seconds)
                  for f in sorted(resource.files.all(), key=lambda f: (f.position, str(f.pk))))
    return ReviewSubject(resource=resource, revision=None, metadata=_frozen(metadata_of(resource)) or {},
                         rights=_frozen(rights), files=files)


def subject_of_revision(revision: ResourceRevision) -> ReviewSubject:
    """A revision's proposed content."""
    files = tuple(FileFacts(id=str(f.file_id), original_name=f.original_name, sha256=f.sha256, size=f.size,
                            mime=f.mime, position=f.position, storage_key=f.storage_key,
                            duration_seconds=f.duration_seconds)
                  for f in revision.files.order_by("position", "id"))
    return ReviewSubject(resource=revision.resource, revision=revision, metadata=_frozen(revision.metadata) or {},
                         rights=_frozen(revision.rights), files=files)


def approval_problems(subject: ReviewSubject) -> list[dict[str, Any]]:
    """Every problem ``CATALOG_APPROVAL_CHECKS`` find in ``subject`` (empty: it may be approved)."""
    problems: list[dict[str, Any]] = []
    for path in settings.CATALOG_APPROVAL_CHECKS:
        problems.extend(import_string(path)(subject))
    return problems


def approval_checks_run(subject: ReviewSubject) -> None:
    """Raises ApprovalCheckFailedError listing the problems when any check fails."""
    problems = approval_problems(subject)
    if problems:
        raise ApprovalCheckFailedError(
            "The resource cannot be approved: " + "; ".join(str(p.get("message", p.get("code"))) for p in problems),
            details={"problems": problems},
        )


def review_findings(*, resource_id: str, revision_id: int | None) -> list[dict[str, Any]]:
    """What the machine pre-review found (``CATALOG_REVIEW_FINDINGS``; empty when unset). A findings
    source that fails is reported as one soft finding, so the reviewer knows it is missing."""
    path = settings.CATALOG_REVIEW_FINDINGS
    if not path:
        return []
    try:
        findings = import_string(path)(resource_id=resource_id, revision_id=revision_id)
    except Exception:  # noqa: BLE001 - the reviewer's page must still open; the failure is logged
        logger.exception("review findings failed for %s (revision %s)", resource_id, revision_id)
        return [{"code": "findings_unavailable", "severity": "soft", "field": "",
                 "message": "The machine pre-review could not be read."}]
    return [dict(f) for f in findings or []]


def submission_hooks_on_commit(*, resource_id: str, revision_id: int | None) -> None:
    """After the surrounding transaction commits, tell every ``CATALOG_SUBMISSION_HOOKS`` entry about a
    submission. A hook that fails is logged; the submission stands."""
    paths = tuple(settings.CATALOG_SUBMISSION_HOOKS)
    if not paths:
        return

    def run() -> None:
        for path in paths:
            try:
                import_string(path)(resource_id=resource_id, revision_id=revision_id)
            except Exception:  # noqa: BLE001 - a hook's failure must not undo or fail the submission
                logger.exception("submission hook %s failed for %s (revision %s)", path, resource_id, revision_id)

    transaction.on_commit(run)


def prereview_content_for_revision(resource: Resource, revision_id: int) -> Any:
    """``CATALOG_PREREVIEW_REVISION_CONTENT``: what the machine pre-review reads for a revision — its
    proposed content, never the live version it would replace (None for an unknown revision)."""
    revision = ResourceRevision.objects.filter(pk=revision_id, resource=resource).first()
    return None if revision is None else prereview_content_for_subject(subject_of_revision(revision))
