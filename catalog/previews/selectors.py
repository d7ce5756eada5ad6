"""Reading previews: their state, the cover of a resource, and the rendition bytes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO

from catalog.models import FilePreview, ResourceFile
from catalog.previews.services import preview_key
from catalog.storage import get_blob_store


def preview_get(*, sha256: str) -> FilePreview | None:
    return FilePreview.objects.filter(sha256=sha256).first()


def previews_for(*, shas: Iterable[str]) -> dict[str, FilePreview]:
    """The preview rows of these contents, by sha256 (contents without one are left out)."""
    wanted = set(shas)
    return {p.sha256: p for p in FilePreview.objects.filter(sha256__in=wanted)} if wanted else {}


def covers_for(*, resource_ids: Iterable[str]) -> dict[str, str]:
    """For each resource that has one, the sha256 of the file whose cover stands for it: its first file
    (by position) with a ready cover, among files stored here. No permission check: callers ask
    licensing whether the user may preview the resource."""
    ids = [str(i) for i in resource_ids]
    if not ids:
        return {}
    files = list(ResourceFile.objects.filter(resource_id__in=ids, available_locally=True)
                 .order_by("resource_id", "position").values_list("resource_id", "sha256"))
    ready = set(FilePreview.objects.filter(sha256__in={sha for _, sha in files}, has_cover=True,
                                           status=FilePreview.Status.READY).values_list("sha256", flat=True))
    covers: dict[str, str] = {}
    for resource_id, sha in files:
        if sha in ready:
            covers.setdefault(str(resource_id), sha)
    return covers


def preview_open(*, sha256: str, name: str) -> IO[bytes] | None:
    """The bytes of one rendition (``cover.png``, ``page-<n>.png``, ``document.pdf``), or None when the store
    does not hold it (on any store: S3 answers a missing key with its own error, not OSError)."""
    store = get_blob_store()
    key = preview_key(sha256, name)
    return store.open(key) if store.exists(key) else None
