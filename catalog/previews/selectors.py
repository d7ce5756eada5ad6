"""Reading previews: their state, the cover of a resource, and the rendition bytes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO

from django.db.models import Exists, OuterRef, Subquery

from catalog.models import FilePreview, Resource, ResourceFile
from catalog.previews.services import preview_key
from catalog.storage import get_blob_store


def preview_get(*, sha256: str) -> FilePreview | None:
    return FilePreview.objects.filter(sha256=sha256).first()


def previews_for(*, shas: Iterable[str]) -> dict[str, FilePreview]:
    """The preview rows of these contents, by sha256 (contents without one are left out)."""
    wanted = set(shas)
    return {p.sha256: p for p in FilePreview.objects.filter(sha256__in=wanted)} if wanted else {}


def cover_sha() -> Subquery:
    """The sha256 of the file whose cover stands for a resource, as an expression for annotating a
    ``Resource`` query: its first file (by position) with a ready cover,
    among files stored here; NULL when none has one. No permission check: callers ask licensing whether
    the user may preview the resource."""
    ready = FilePreview.objects.filter(sha256=OuterRef("sha256"), has_cover=True, status=FilePreview.Status.READY)
    files = ResourceFile.objects.filter(resource_id=OuterRef("pk"), available_locally=True).filter(Exists(ready))
    return Subquery(files.order_by("position").values("sha256")[:1])


def covers_for(*, resource_ids: Iterable[str]) -> dict[str, str]:
    """For each resource that has one, the sha256 of its cover (``cover_sha``), in one query."""
    ids = [str(i) for i in resource_ids]
    if not ids:
        return {}
    rows = (Resource.objects.filter(pk__in=ids).annotate(cover=cover_sha()).filter(cover__isnull=False)
            .values_list("pk", "cover"))
    return {str(pk): sha for pk, sha in rows}


def preview_open(*, sha256: str, name: str) -> IO[bytes] | None:
    """The bytes of one rendition (``cover.png``, ``page-<n>.png``, ``document.pdf``), or None when the store
    does not hold it (on any store: S3 answers a missing key with its own error, not OSError)."""
    store = get_blob_store()
    key = preview_key(sha256, name)
    return store.open(key) if store.exists(key) else None
