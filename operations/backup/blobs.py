"""Copying content-addressed blobs between the blob store (local directory or S3) and a backup directory.

A blob's name is its SHA-256, so a copy is checked by hashing it, and a blob already in the backup
directory (from an earlier backup into the same directory) whose content still hashes to its name is
kept instead of fetched again: repeated backups into one directory are incremental.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from catalog.storage import BlobStore
from operations.backup.manifest import CHUNK, FileEntry, blob_path, private_dir, sha256_file
from operations.backup.state import BlobRef


@dataclass
class BlobCopy:
    """The outcome of copying blobs: the files now in the backup, and what went wrong."""

    entries: list[FileEntry] = field(default_factory=list)
    mimes: dict[str, str] = field(default_factory=dict)
    copied: int = 0
    reused: int = 0
    bytes: int = 0
    problems: list[str] = field(default_factory=list)


def _fetch(store: BlobStore, ref: BlobRef, directory: Path) -> tuple[str, FileEntry | None, str]:
    """Copy one blob into the backup: ('reused'|'copied', entry, '') or ('problem', None, why)."""
    relative = blob_path(ref.sha256)
    target = directory / relative
    if target.is_file():
        digest, size = sha256_file(target)
        if digest == ref.sha256:
            return "reused", FileEntry(path=relative, size=size, sha256=digest, kind="blob"), ""
    private_dir(target.parent)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")  # mode 0600
    try:
        digest_obj, size = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as out:
            try:
                with store.open(ref.key) as src:
                    while chunk := src.read(CHUNK):
                        digest_obj.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
            except Exception as exc:  # noqa: BLE001 - a missing or unreadable blob is reported, not fatal here
                return "problem", None, f"{ref.key}: cannot be read from the blob store ({exc.__class__.__name__})"
            out.flush()
            os.fsync(out.fileno())
        if digest_obj.hexdigest() != ref.sha256 or size != ref.size:
            return "problem", None, (f"{ref.key}: the stored bytes are damaged (SHA-256 {digest_obj.hexdigest()}, "
                                     f"{size} bytes; the file row says {ref.size} bytes)")
        os.replace(tmp, target)
        return "copied", FileEntry(path=relative, size=size, sha256=ref.sha256, kind="blob"), ""
    finally:
        Path(tmp).unlink(missing_ok=True)


def blobs_backup(*, store: BlobStore, refs: list[BlobRef], directory: Path, jobs: int,
                 progress: Callable[[int], None] | None = None) -> BlobCopy:
    """Copy every referenced blob from the store into ``directory`` (``jobs`` at a time)."""
    result = BlobCopy()
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(_fetch, store, ref, directory): ref for ref in refs}
        for future in as_completed(futures):
            ref = futures[future]
            outcome, entry, problem = future.result()
            if entry is None:
                result.problems.append(problem)
            else:
                result.entries.append(entry)
                result.mimes[entry.sha256] = ref.mime
                result.bytes += entry.size
                if outcome == "reused":
                    result.reused += 1
                else:
                    result.copied += 1
            if progress:
                progress(1)
    result.entries.sort(key=lambda e: e.path)
    result.problems.sort()
    return result


def store_key(entry: FileEntry) -> str:
    """The blob store key of a blob entry of the backup (``blobs/sha256/…`` → ``sha256/…``)."""
    return entry.path.removeprefix("blobs/")


def blobs_restore(*, store: BlobStore, entries: Iterable[FileEntry], directory: Path, mimes: dict[str, str],
                  jobs: int, progress: Callable[[int], None] | None = None) -> tuple[int, int]:
    """Put every blob of the backup into the store; return (written, already present)."""
    def put(entry: FileEntry) -> bool:
        return store.put_file(store_key(entry), str(directory / entry.path),
                              content_type=mimes.get(entry.sha256) or "application/octet-stream")

    written = present = 0
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for future in as_completed([pool.submit(put, entry) for entry in entries]):
            if future.result():
                written += 1
            else:
                present += 1
            if progress:
                progress(1)
    return written, present
