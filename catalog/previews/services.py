"""Building the previews of one stored file content (see ``catalog.previews``)."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from catalog.archives import ArchiveLimits, inspect_zip
from catalog.errors import ArchiveBombError, ArchiveTooLargeError, FileTypeNotAllowedError
from catalog.models import FilePreview, ResourceFile
from catalog.previews import tools
from catalog.storage import blob_key, get_blob_store
from exchange.jobs import enqueue_on_commit

logger = logging.getLogger("catalog.previews")

Status = FilePreview.Status

# The formats LibreOffice turns into PDF, with the extension it needs to pick its import filter.
OFFICE_TYPES = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ".pptx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/msword": ".doc",
    "application/vnd.ms-powerpoint": ".ppt",
    "application/vnd.ms-excel": ".xls",
    "application/vnd.oasis.opendocument.text": ".odt",
    "application/vnd.oasis.opendocument.presentation": ".odp",
    "application/vnd.oasis.opendocument.spreadsheet": ".ods",
}
ZIP_CONTAINERS = {".docx", ".pptx", ".xlsx", ".odt", ".odp", ".ods"}
IMAGE_TYPES = {"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "image/webp": ".webp"}
VIDEO_TYPES = {"video/mp4": ".mp4", "video/webm": ".webm"}
MAX_IMAGE_PIXELS = 40_000_000


def preview_key(sha256: str, name: str) -> str:
    """Blob store key of one rendition of a file content: ``cover.png``, ``page-<n>.png`` or ``document.pdf``."""
    return f"previews/{sha256[:2]}/{sha256[2:4]}/{sha256}/{name}"


def previewable(mime: str) -> bool:
    return mime == "application/pdf" or mime in OFFICE_TYPES or mime in IMAGE_TYPES or mime in VIDEO_TYPES


def previews_schedule(items: Iterable[tuple[str, str]]) -> None:
    """Queue a preview job (after commit) for each (sha256, mime) of a file just stored, once per content.
    Does nothing when ``CATALOG_PREVIEWS_AUTO`` is off (then ``manage.py build_previews`` makes them)."""
    if not settings.CATALOG_PREVIEWS_AUTO:
        return
    for sha256, mime in dict(items).items():
        if previewable(mime):
            enqueue_on_commit("catalog.jobs.preview_build", sha256=sha256, mime=mime)


def _finish(sha256: str, status: str, *, reason: str = "", detail: str = "", page_count: int = 0,
            has_pdf: bool = False, has_cover: bool = False) -> FilePreview:
    FilePreview.objects.filter(sha256=sha256).update(status=status, reason=reason, detail=detail[:300],
                                                     page_count=page_count, has_pdf=has_pdf, has_cover=has_cover,
                                                     updated_at=timezone.now())
    if status == Status.FAILED:
        logger.warning("preview failed", extra={"sha256": sha256, "reason": reason})
    return FilePreview.objects.get(sha256=sha256)


def preview_build(*, sha256: str, mime: str, again: bool = False) -> FilePreview:
    """Render the previews of the stored blob ``sha256`` (of type ``mime``): a PDF of an office document
    (LibreOffice), thumbnails of its first pages and a cover (pdftoppm), a poster frame of a video (ffmpeg),
    a thumbnail of an image. Content-addressed: a content already handled is not rendered again unless
    ``again``. Every failure ends in a recorded state with a stable reason code, never an exception:
    ``unsupported`` (no preview for this type), ``not_stored``, ``too_large``, ``tool_missing``, ``timeout``,
    ``conversion_failed``, ``damaged``, ``archive_bomb``, ``archive_too_large``."""
    with transaction.atomic():
        row, created = FilePreview.objects.select_for_update().get_or_create(sha256=sha256, defaults={"mime": mime})
        if not created and not again and row.status != Status.PENDING:
            return row
        if not created:
            # update() skips auto_now: the collector reads updated_at as "a job is at work on it"
            FilePreview.objects.filter(sha256=sha256).update(status=Status.PENDING, mime=mime,
                                                             updated_at=timezone.now())
    if not previewable(mime):
        return _finish(sha256, Status.UNSUPPORTED, reason="unsupported")
    store = get_blob_store()
    key = blob_key(sha256)
    if not store.exists(key):
        return _finish(sha256, Status.FAILED, reason="not_stored")
    if store.size(key) > settings.CATALOG_PREVIEW_MAX_INPUT_BYTES:
        return _finish(sha256, Status.FAILED, reason="too_large")
    limits = tools.Limits.from_settings()
    with tempfile.TemporaryDirectory(prefix="preview-", dir=settings.FILE_UPLOAD_TEMP_DIR) as work_dir:
        work = Path(work_dir)
        extension = {"application/pdf": ".pdf", **OFFICE_TYPES, **IMAGE_TYPES, **VIDEO_TYPES}[mime]
        source = work / f"source{extension}"
        with store.open(key) as blob, open(source, "wb") as out:
            shutil.copyfileobj(blob, out, 1024 * 1024)
        out_dir = work / "out"
        out_dir.mkdir()
        try:
            return _render(sha256, mime, source, out_dir=out_dir, limits=limits)
        except tools.ToolMissing as exc:
            return _finish(sha256, Status.FAILED, reason="tool_missing", detail=str(exc))
        except tools.ToolTimeout as exc:
            return _finish(sha256, Status.FAILED, reason="timeout", detail=str(exc))
        except tools.ToolFailed as exc:
            return _finish(sha256, Status.FAILED, reason="conversion_failed", detail=str(exc))
        except (ArchiveBombError, ArchiveTooLargeError) as exc:
            return _finish(sha256, Status.FAILED, reason=exc.code, detail=exc.message)
        except FileTypeNotAllowedError as exc:
            return _finish(sha256, Status.FAILED, reason="damaged", detail=exc.message)


def _render(sha256: str, mime: str, source: Path, *, out_dir: Path, limits: tools.Limits) -> FilePreview:
    store = get_blob_store()
    width = settings.CATALOG_PREVIEW_WIDTH
    if mime in VIDEO_TYPES:
        poster = tools.video_poster(source, out_dir=out_dir, width=width, limits=limits)
        store.put_file(preview_key(sha256, "cover.png"), str(poster), content_type="image/png")
        return _finish(sha256, Status.READY, has_cover=True)
    if mime in IMAGE_TYPES:
        cover = _image_thumbnail(source, out_dir=out_dir, width=width)
        store.put_file(preview_key(sha256, "cover.png"), str(cover), content_type="image/png")
        return _finish(sha256, Status.READY, has_cover=True)
    pdf, has_pdf = source, False
    if mime in OFFICE_TYPES:
        if source.suffix in ZIP_CONTAINERS:  # refuse bombs before LibreOffice inflates anything
            inspect_zip(str(source), name=source.name, limits=ArchiveLimits.from_settings())
        pdf = tools.office_to_pdf(source, out_dir=out_dir, limits=limits)
        has_pdf = True
    pages_dir = out_dir / "pages"
    pages_dir.mkdir()
    pages = tools.pdf_to_pngs(pdf, out_dir=pages_dir, pages=settings.CATALOG_PREVIEW_MAX_PAGES, width=width,
                              limits=limits)
    if has_pdf:
        store.put_file(preview_key(sha256, "document.pdf"), str(pdf), content_type="application/pdf")
    for number, page in enumerate(pages, start=1):
        store.put_file(preview_key(sha256, f"page-{number}.png"), str(page), content_type="image/png")
    store.put_file(preview_key(sha256, "cover.png"), str(pages[0]), content_type="image/png")
    return _finish(sha256, Status.READY, page_count=len(pages), has_pdf=has_pdf, has_cover=True)


def _image_thumbnail(source: Path, *, out_dir: Path, width: int) -> Path:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(source) as image:
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise tools.ToolFailed(f"image of {image.width}x{image.height} pixels is too large to preview")
            image.thumbnail((width, width * 4))
            target = out_dir / "cover.png"
            image.convert("RGB").save(target, "PNG")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise tools.ToolFailed(f"image unreadable: {exc}") from exc
    return target


def preview_build_missing(*, again: bool = False, limit: int | None = None) -> dict[str, int]:
    """Build the previews of stored files that have none (with ``again``, also of those that failed), one
    per content; returns how many ended in each state."""
    done = set(FilePreview.objects.exclude(status=Status.PENDING).values_list("sha256", flat=True)
               if not again else
               FilePreview.objects.filter(status__in=[Status.READY, Status.UNSUPPORTED]).values_list("sha256",
                                                                                                      flat=True))
    todo: dict[str, str] = {}
    for sha256, mime in ResourceFile.objects.filter(available_locally=True).values_list("sha256", "mime"):
        if sha256 not in done and previewable(mime):
            todo.setdefault(sha256, mime)
    counts: dict[str, int] = {}
    for sha256, mime in list(todo.items())[:limit]:
        status = preview_build(sha256=sha256, mime=mime, again=again).status
        counts[status] = counts.get(status, 0) + 1
    return counts
