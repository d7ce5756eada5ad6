"""Blob lifetimes: who may store a blob and who may remove it.

Blobs are content-addressed, so one blob may back any number of files, and an upload cannot know
whether it is a blob's only user: deleting the blob when an upload fails races a concurrent upload
of the same bytes, which found the blob present, skipped writing it, and is about to commit a row
that references it. So nothing but the collector ever deletes a blob:

- before storing, an upload *claims* the blob's key: it writes (or renews) a ``BlobLease`` row in
  its own transaction, and only then writes the blob or finds it present;
- a failed upload leaves its blob and its lease behind; the lease marks the blob as a candidate;
- the collector (``manage.py gc_blobs``) removes a blob only when no file row references it (a live
  file, a file of a revision that was not cancelled, a file of a kept version) and
  its lease (or, for a blob without one, its write) is older than the grace period. It decides
  and deletes while holding the lease row's lock, so an upload claiming the same key meanwhile
  waits for it and then writes the blob afresh.

Previews (``previews/ab/cd/<sha256>/…``, see ``catalog.previews``) follow their source: the collector
(``previews_collect``, run by ``gc_blobs`` after the blobs) removes a content's renditions and its
``FilePreview`` row once no file row of any kind names the content, its blob is gone from the store, and
nothing touched it within the grace period: no claim on the source blob (an upload of the same bytes, whose
preview job is about to run), no preview job started or finished (the row's ``updated_at``), no rendition
written. It decides and deletes holding the source blob's lease row and the preview row, so an upload
claiming the same bytes or a preview job starting meanwhile waits for it and then renders afresh.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from catalog.models import BlobLease, FilePreview, ResourceFile, ResourceRevision, RevisionFile, VersionFile
from catalog.previews.services import previews_schedule
from catalog.storage import BlobStore, blob_key, get_blob_store


@dataclass(frozen=True)
class BlobToStore:
    sha256: str
    path: str
    content_type: str


def blobs_claim(keys: Iterable[str]) -> None:
    """Take or renew the lease on each key (in key order, so concurrent claims cannot deadlock)."""
    now = timezone.now()
    leases = [BlobLease(key=key, renewed_at=now) for key in sorted(set(keys))]
    if not leases:
        return
    with transaction.atomic():
        BlobLease.objects.bulk_create(leases, update_conflicts=True, unique_fields=["key"],
                                      update_fields=["renewed_at"])


def blobs_store(items: Sequence[BlobToStore], *, previews: bool = True) -> list[str]:
    """Claim and store each file; return their keys. Call it before the transaction that creates
    the rows referencing them: a blob stored here survives until the collector finds it
    unreferenced after the grace period, whatever happens to that transaction. Their previews are
    rendered by a job once the surrounding transaction commits (``catalog.previews``), unless
    ``previews`` is off."""
    keys = [blob_key(item.sha256) for item in items]
    blobs_claim(keys)
    store = get_blob_store()
    for key, item in zip(keys, items, strict=True):
        store.put_file(key, item.path, content_type=item.content_type)
    if previews:
        previews_schedule((item.sha256, item.content_type) for item in items)
    return keys


def _referenced(key: str) -> bool:
    """A live file, a file of a revision not cancelled, or a file of a kept local version uses the blob."""
    sha = key.rsplit("/", 1)[-1]
    return (ResourceFile.objects.filter(sha256=sha, storage_key=key).exists()
            or RevisionFile.objects.filter(sha256=sha, storage_key=key).exclude(
                revision__status=ResourceRevision.Status.CANCELLED).exists()
            or VersionFile.objects.filter(sha256=sha, storage_key=key).exists())


def _collect_one(store: BlobStore, key: str, *, cutoff: dt.datetime, dry_run: bool) -> bool:
    """Remove ``key``'s blob if nothing references it and no lease younger than ``cutoff`` covers it;
    True when it was (or, dry, would be) removed."""
    with transaction.atomic():
        # A lease row to lock, also for a blob without one, so a concurrent claim waits for us.
        BlobLease.objects.bulk_create([BlobLease(key=key, renewed_at=cutoff - dt.timedelta(seconds=1))],
                                      ignore_conflicts=True)
        lease = BlobLease.objects.select_for_update().get(key=key)
        if lease.renewed_at >= cutoff:
            return False  # claimed since we looked: an upload is about to reference it
        referenced = _referenced(key)
        if dry_run:
            transaction.set_rollback(True)
            return not referenced
        if not referenced:
            store.delete(key)
        lease.delete()
        return not referenced


def blobs_collect(*, grace_seconds: int | None = None, dry_run: bool = False,
                  progress: Callable[[int, int], None] | None = None) -> list[str]:
    """Remove stored blobs that no file references and that no upload claimed (or, without a claim,
    wrote) within the grace period (``CATALOG_BLOB_GRACE_SECONDS`` unless given); forget expired
    leases of referenced or missing blobs. Returns the removed keys. ``progress(done, total)`` is called
    after each candidate is decided."""
    grace = settings.CATALOG_BLOB_GRACE_SECONDS if grace_seconds is None else grace_seconds
    cutoff = timezone.now() - dt.timedelta(seconds=grace)
    store = get_blob_store()
    leases = dict(BlobLease.objects.values_list("key", "renewed_at"))
    stored: set[str] = set()
    candidates: set[str] = set()
    for key, mtime in store.iter_keys():
        stored.add(key)
        last_claim = leases.get(key)
        if (last_claim < cutoff) if last_claim is not None else (mtime < cutoff.timestamp()):
            candidates.add(key)
    removed = []
    for done, key in enumerate(sorted(candidates), start=1):
        if _collect_one(store, key, cutoff=cutoff, dry_run=dry_run):
            removed.append(key)
        if progress is not None:
            progress(done, len(candidates))
    if not dry_run:
        orphaned = sorted(key for key, renewed_at in leases.items() if renewed_at < cutoff and key not in stored)
        for start in range(0, len(orphaned), 500):
            BlobLease.objects.filter(key__in=orphaned[start:start + 500], renewed_at__lt=cutoff).delete()
    return removed


# --- previews ----------------------------------------------------------------------------------

def _preview_sha(key: str) -> str | None:
    """The content a rendition key (``previews/ab/cd/<sha256>/<name>``) belongs to, or None for a stray key."""
    parts = key.split("/")
    return parts[3] if len(parts) == 5 and parts[0] == "previews" and len(parts[3]) == 64 else None


def _content_named(sha: str) -> bool:
    """Some file row (live, of a revision not cancelled, of a kept version; stored here or not) names the content."""
    return (ResourceFile.objects.filter(sha256=sha).exists()
            or RevisionFile.objects.filter(sha256=sha).exclude(
                revision__status=ResourceRevision.Status.CANCELLED).exists()
            or VersionFile.objects.filter(sha256=sha).exists())


def _collect_previews_one(store: BlobStore, sha: str, keys: Sequence[str], *, cutoff: dt.datetime,
                          dry_run: bool, source_gone: bool) -> bool:
    """Remove the renditions ``keys`` of content ``sha`` and its preview row if its source is gone and
    nothing touched it since ``cutoff``; True when they were (or, dry, would be) removed."""
    with transaction.atomic():
        source = blob_key(sha)
        # Lock the source blob's lease row (made for the moment when there is none: an upload claiming
        # the bytes waits for us) and the preview row (a preview job starting waits for us; it touches
        # ``updated_at`` when it starts and ends, so a job running now keeps its content).
        BlobLease.objects.bulk_create([BlobLease(key=source, renewed_at=cutoff - dt.timedelta(seconds=1))],
                                      ignore_conflicts=True)
        lease = BlobLease.objects.select_for_update().get(key=source)
        row = FilePreview.objects.select_for_update().filter(sha256=sha).first()
        stale = (lease.renewed_at < cutoff and (row is None or row.updated_at < cutoff)
                 and not _content_named(sha) and (source_gone or not store.exists(source)))
        if dry_run or not stale:
            transaction.set_rollback(True)  # nothing to change (and no lease row of ours left behind)
            return stale
        for key in keys:
            store.delete(key)
        if row is not None:
            row.delete()
        lease.delete()
        return True


def previews_collect(*, grace_seconds: int | None = None, dry_run: bool = False,
                     progress: Callable[[int, int], None] | None = None,
                     blobs_removed: Iterable[str] = ()) -> list[str]:
    """Remove the previews (renditions in the store and ``FilePreview`` rows) of contents whose source
    file no longer exists on the node: no file row names it and its blob is gone. A content is kept while
    its blob was claimed, a preview job ran for it or a rendition of it was written within the grace
    period (``CATALOG_BLOB_GRACE_SECONDS`` unless given). Returns the sha256 of the removed contents.
    ``progress(done, total)`` is called after each candidate is decided. ``blobs_removed``: blob keys a
    dry run of :func:`blobs_collect` would have removed (counted as gone, so a dry run reports both)."""
    grace = settings.CATALOG_BLOB_GRACE_SECONDS if grace_seconds is None else grace_seconds
    cutoff = timezone.now() - dt.timedelta(seconds=grace)
    store = get_blob_store()
    gone = set(blobs_removed) if dry_run else set()
    keys: dict[str, list[str]] = {}
    newest: dict[str, float] = {}
    for key, mtime in store.iter_keys("previews/"):
        sha = _preview_sha(key)
        if sha is not None:
            keys.setdefault(sha, []).append(key)
            newest[sha] = max(newest.get(sha, 0.0), mtime)
    candidates = {sha for sha, mtime in newest.items() if mtime < cutoff.timestamp()}
    # Rows whose renditions are gone or were never made (failed, unsupported) go with their content too.
    candidates.update(sha for sha in FilePreview.objects.filter(updated_at__lt=cutoff)
                      .values_list("sha256", flat=True) if sha not in newest)
    removed = []
    for done, sha in enumerate(sorted(candidates), start=1):
        if _collect_previews_one(store, sha, sorted(keys.get(sha, [])), cutoff=cutoff, dry_run=dry_run,
                                 source_gone=blob_key(sha) in gone):
            removed.append(sha)
        if progress is not None:
            progress(done, len(candidates))
    return removed
