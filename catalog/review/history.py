"""Versions as they went live, and what changed between two contents.

A local resource gets a ``ResourceVersion`` when it is first published and each time a revision of it is
applied (with the approvals that let it go live); before the first revision of a resource published
earlier, its live version is kept as a ``baseline``. Remote records get one for every version this node
applies (``catalog.remote``), from the origin's signed record. A version's files are referenced by
``VersionFile`` rows (local versions), so the blob collector keeps them after a revision removed them.

``content_diff`` compares two contents — metadata and rights field by field, files by content and name —
for the reviewer's view of a revision and for the history."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from catalog.models import Resource, ResourceRevision, ResourceVersion, VersionFile
from catalog.review.subject import ReviewSubject, subject_of_resource
from catalog.validation import METADATA_FIELDS, RIGHTS_FIELDS


def content_of(subject: ReviewSubject) -> dict[str, Any]:
    """A subject's content as a version keeps it: ``{"metadata", "rights", "files"}`` (JSON)."""
    return {"metadata": dict(subject.metadata), "rights": dict(subject.rights or {}),
            "files": [f.as_dict() for f in subject.files]}


def _file_key(item: dict[str, Any]) -> tuple[str, str]:
    return (str(item.get("sha256", "")), str(item.get("name", "")))


def content_diff(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """What changed from ``old`` to ``new`` (contents as ``content_of`` gives them; ``old`` None: nothing
    before): ``{"fields": [{"field", "old", "new"}], "rights": [...], "files": {"added": [...], "removed": [...]},
    "empty": bool}``."""
    before = old or {"metadata": {}, "rights": {}, "files": []}
    fields = [{"field": name, "old": before["metadata"].get(name), "new": new["metadata"].get(name)}
              for name in METADATA_FIELDS
              if _norm(before["metadata"].get(name)) != _norm(new["metadata"].get(name))]
    rights = [{"field": name, "old": before["rights"].get(name), "new": new["rights"].get(name)}
              for name in RIGHTS_FIELDS
              if _norm(before["rights"].get(name)) != _norm(new["rights"].get(name))]
    old_files = {_file_key(f): f for f in before["files"]}
    new_files = {_file_key(f): f for f in new["files"]}
    added = [f for key, f in new_files.items() if key not in old_files]
    removed = [f for key, f in old_files.items() if key not in new_files]
    return {"fields": fields, "rights": rights, "files": {"added": added, "removed": removed},
            "empty": not (fields or rights or added or removed)}


def _norm(value: Any) -> Any:
    """Values that mean the same compare equal: empty text and None, lists as sorted tuples."""
    if value in (None, ""):
        return None
    if isinstance(value, list):
        return tuple(sorted(str(v) for v in value))
    return value


def version_record_local(*, resource: Resource, source: str, revision: ResourceRevision | None = None,
                         approvals: list[dict[str, Any]] | None = None,
                         live_from: dt.datetime | None = None) -> ResourceVersion:
    """Keep the resource's live content (call after the change, in its transaction) as its current
    version, with the approvals that let it go live. Idempotent per version."""
    existing = ResourceVersion.objects.filter(resource=resource, version=resource.version).first()
    if existing is not None:
        return existing
    content = content_of(subject_of_resource(resource))
    now = timezone.now()
    version = ResourceVersion.objects.create(
        resource=resource, version=resource.version, source=source, live_from=live_from or now, recorded_at=now,
        metadata=content["metadata"], rights=content["rights"], files=content["files"], revision=revision,
        approvals=approvals or [])
    VersionFile.objects.bulk_create([VersionFile(version=version, sha256=f.sha256, storage_key=f.storage_key)
                                     for f in resource.files.all()])
    return version


def version_baseline_ensure(resource: Resource) -> None:
    """Before a revision replaces the live content, make sure that content is kept as a version (a resource
    published before versions were kept has none)."""
    if not ResourceVersion.objects.filter(resource=resource, version=resource.version).exists():
        version_record_local(resource=resource, source=ResourceVersion.Source.BASELINE,
                             live_from=resource.published_at or resource.updated_at)


def remote_version_row(*, resource_pk: Any, version: int, live_from: dt.datetime, metadata: dict[str, Any],
                       rights: dict[str, Any], files: list[dict[str, Any]], now: dt.datetime) -> dict[str, Any]:
    """The row (for ``exchange.bulk.insert_rows``) keeping one applied version of a remote record."""
    return {"resource_id": resource_pk, "version": version, "source": ResourceVersion.Source.REMOTE,
            "live_from": live_from, "recorded_at": now, "metadata": metadata, "rights": rights, "files": files,
            "revision_id": None, "approvals": []}


def versions_with_changes(resource: Resource) -> list[tuple[ResourceVersion, dict[str, Any]]]:
    """The resource's versions, newest first, each with what changed from the version before it."""
    versions = list(ResourceVersion.objects.filter(resource=resource).order_by("version"))
    out: list[tuple[ResourceVersion, dict[str, Any]]] = []
    previous: dict[str, Any] | None = None
    for version in versions:
        content = {"metadata": version.metadata, "rights": version.rights, "files": version.files}
        out.append((version, content_diff(previous, content)))
        previous = content
    out.reverse()
    return out
