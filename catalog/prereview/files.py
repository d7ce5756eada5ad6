"""Reading a stored file for the pre-review, once per blob: the worker's result is kept as an
``ExtractedText`` row (compressed text, active-content flags, MinHash fingerprint and its LSH bands), so
another resource with the same bytes, a later pre-review and a negative-list re-check reuse it.

The worker runs as a child process (``catalog.prereview.worker``: why, there) with a wall-clock deadline
(``CATALOG_PREREVIEW_EXTRACT_SECONDS``), an address-space limit (``CATALOG_PREREVIEW_EXTRACT_MEMORY``) and
an environment without the node's secrets: it parses untrusted bytes.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zlib
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog.archives import ArchiveLimits
from catalog.models import ExtractedText, FingerprintBand
from catalog.prereview.content import FileRef
from catalog.prereview.extraction import TEXT_BEARING, Extraction, ExtractionLimits
from catalog.prereview.fingerprints import Fingerprint, fingerprint
from catalog.prereview.matching import fold
from catalog.storage import get_blob_store

logger = logging.getLogger("catalog.prereview")
#: Bumped when extraction changes so that stored texts are read again.
EXTRACTOR_VERSION = 1
#: Kinds of file whose bytes are examined (text, or active content: OLE2 macros).
EXAMINED = TEXT_BEARING | {"application/msword", "application/vnd.ms-powerpoint", "application/vnd.ms-excel"}


@dataclass(frozen=True)
class FileText:
    """What the pre-review knows of one blob's contents."""

    sha256: str
    status: str
    text: str
    truncated: bool
    flags: list[dict]
    error: str
    fingerprint: Fingerprint | None


def limits_from_settings() -> ExtractionLimits:
    return ExtractionLimits(max_chars=settings.CATALOG_PREREVIEW_MAX_TEXT_CHARS,
                            max_pages=settings.CATALOG_PREREVIEW_MAX_PDF_PAGES,
                            max_pdf_objects=settings.CATALOG_PREREVIEW_MAX_PDF_OBJECTS,
                            archive=ArchiveLimits.from_settings())


def _worker_env() -> dict[str, str]:
    """The child's environment: enough to run Python and import this project, none of the node's secrets."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(settings.BASE_DIR),
            "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONIOENCODING": "utf-8"}


def run_worker(path: str, *, mime: str, name: str) -> Extraction:
    """Read the file at ``path`` in a child process, killed after CATALOG_PREREVIEW_EXTRACT_SECONDS."""
    timeout = settings.CATALOG_PREREVIEW_EXTRACT_SECONDS
    request = {"path": path, "mime": mime, "name": name, "limits": limits_from_settings().to_dict(),
               "memory_bytes": settings.CATALOG_PREREVIEW_EXTRACT_MEMORY, "cpu_seconds": timeout + 1}
    try:
        done = subprocess.run([sys.executable, "-m", "catalog.prereview.worker"],
                              input=json.dumps(request).encode(), capture_output=True, timeout=timeout,
                              cwd=str(settings.BASE_DIR), env=_worker_env(), check=False)
    except subprocess.TimeoutExpired:
        return Extraction(error="timeout", error_detail=f"{timeout}s")
    if done.returncode != 0:
        logger.warning("pre-review worker failed", extra={"file": name, "returncode": done.returncode,
                                                          "stderr": done.stderr[-500:].decode("utf-8", "replace")})
        return Extraction(error="worker_failed", error_detail=f"exit {done.returncode}")
    try:
        data = json.loads(done.stdout)
        return Extraction(text=str(data.get("text") or ""), truncated=bool(data.get("truncated")),
                          flags=list(data.get("flags") or []), error=data.get("error"),
                          error_detail=str(data.get("error_detail") or "")[:300])
    except (ValueError, TypeError, AttributeError):
        return Extraction(error="worker_failed", error_detail="unreadable answer")


def _local_copy(key: str, size: int) -> tuple[str, bool]:
    """A path holding the blob's bytes, and whether it is a temporary copy to remove."""
    store = get_blob_store()
    local = getattr(store, "path", None)
    if callable(local):
        return str(local(key)), False
    fd, temp = tempfile.mkstemp(prefix="prereview-", dir=settings.FILE_UPLOAD_TEMP_DIR)
    with os.fdopen(fd, "wb") as out, store.open(key) as source:
        shutil.copyfileobj(source, out, 1024 * 1024)
    return temp, True


def _as_file_text(row: ExtractedText) -> FileText:
    text = zlib.decompress(bytes(row.text)).decode("utf-8") if row.text else ""
    print_ = Fingerprint.from_bytes(bytes(row.signature), row.shingles) if row.signature else None
    return FileText(sha256=row.sha256, status=row.status, text=text, truncated=row.truncated,
                    flags=list(row.flags or []), error=row.error, fingerprint=print_)


def file_text_stored(sha256: str) -> FileText | None:
    """What was read from the blob earlier (with this extractor version), or None."""
    row = ExtractedText.objects.filter(sha256=sha256, extractor_version=EXTRACTOR_VERSION).first()
    return _as_file_text(row) if row is not None else None


def file_text(ref: FileRef) -> FileText | None:
    """The contents of ``ref``'s blob: as stored, else read now (and stored). None for a file whose bytes
    are not on this node or whose kind is not examined (images, audio, video)."""
    if ref.mime not in EXAMINED:
        return None
    stored = file_text_stored(ref.sha256)
    if stored is not None:
        return stored
    if not ref.available:
        return None
    path, temporary = _local_copy(ref.storage_key, ref.size)
    try:
        result = run_worker(path, mime=ref.mime, name=ref.name)
    finally:
        if temporary:
            os.unlink(path)
    return _store(ref.sha256, result)


def _store(sha256: str, result: Extraction) -> FileText:
    status = (ExtractedText.Status.FAILED if result.error else
              ExtractedText.Status.OK if result.text.strip() else ExtractedText.Status.NONE)
    print_ = fingerprint(fold(result.text)) if result.text else None
    fields = {"status": status, "text": zlib.compress(result.text.encode("utf-8"), 6) if result.text else b"",
              "chars": len(result.text), "truncated": result.truncated, "flags": result.flags,
              "error": result.error or "", "error_detail": result.error_detail[:300],
              "signature": print_.to_bytes() if print_ else None, "shingles": print_.shingles if print_ else 0,
              "extractor_version": EXTRACTOR_VERSION, "extracted_at": timezone.now()}
    try:
        with transaction.atomic():
            ExtractedText.objects.update_or_create(sha256=sha256, defaults=fields)
            FingerprintBand.objects.filter(sha256=sha256).delete()
            if print_ is not None:
                FingerprintBand.objects.bulk_create([FingerprintBand(sha256=sha256, key=key)
                                                     for key in print_.band_keys()])
    except IntegrityError:  # read at the same time by another job: its row stands
        pass
    return FileText(sha256=sha256, status=status, text=result.text, truncated=result.truncated,
                    flags=list(result.flags), error=result.error or "", fingerprint=print_)


def similar_texts(print_: Fingerprint, *, exclude_sha256: str, limit: int = 200) -> list[tuple[str, float]]:
    """Blobs whose text is near-identical to the fingerprinted one: candidates sharing an LSH band (an
    indexed lookup of BANDS keys), confirmed on the whole signature. Best first."""
    from catalog.prereview.fingerprints import NEAR_IDENTICAL

    candidates = list(FingerprintBand.objects.filter(key__in=print_.band_keys()).exclude(sha256=exclude_sha256)
                      .values_list("sha256", flat=True).distinct()[:limit])
    found = []
    for sha256, raw, shingles in ExtractedText.objects.filter(sha256__in=candidates, signature__isnull=False
                                                              ).values_list("sha256", "signature", "shingles"):
        similarity = print_.similarity(Fingerprint.from_bytes(bytes(raw or b""), shingles))
        if similarity >= NEAR_IDENTICAL:
            found.append((sha256, similarity))
    return sorted(found, key=lambda item: -item[1])
