"""Files as they arrive with a deposit, an addition or a revision: checked before anything is stored
(``catalog.files.check_upload``), then stored content-addressed with their blobs claimed (``catalog.blobs``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

from django.conf import settings

from catalog.blobs import BlobToStore, blobs_store
from catalog.errors import TooManyFilesError
from catalog.files import CheckedFile, check_upload
from catalog.models import Resource, ResourceFile
from catalog.storage import blob_key


@dataclass(frozen=True)
class UploadedFile:
    """A file as received: a readable stream, the client's name and optionally its sha256."""

    stream: IO[bytes]
    name: str
    sha256: str | None = None


def check_files(files: Sequence[UploadedFile]) -> list[CheckedFile]:
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


class StoredBlobs:
    """Stores checked files (claiming their blobs, see ``catalog.blobs``) and removes the temp files
    afterwards. A blob is never deleted here, even if the surrounding operation fails: another
    upload of the same bytes may be about to reference it. The collector removes it later if none
    does."""

    def __init__(self, checked: list[CheckedFile]) -> None:
        self.checked = checked

    def __enter__(self) -> StoredBlobs:
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


def create_file_rows(resource: Resource, checked: list[CheckedFile], *, start: int = 0) -> list[ResourceFile]:
    rows = []
    for offset, item in enumerate(checked):
        row = ResourceFile(resource=resource, position=start + offset, original_name=item.original_name,
                           sha256=item.sha256, size=item.size, mime=item.mime, storage_key=blob_key(item.sha256))
        row.full_clean(exclude=["resource"])
        row.save(force_insert=True)
        rows.append(row)
    return rows


# --- deposit and edits -------------------------------------------------------------------


def renumber_positions(rows: Any) -> None:
    """Close the gaps a removed file leaves: positions 0..n-1 in their current order (files of a resource or of
    a revision alike)."""
    for position, item in enumerate(rows.order_by("position", "id")):
        if item.position != position:
            item.position = position
            item.save(update_fields=["position"])
