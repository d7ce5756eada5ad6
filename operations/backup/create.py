"""``backup_create``: write a self-describing, checkable backup of this node into a directory.

Order matters for consistency. The database is dumped from one snapshot, and the list of blobs to copy
is read from that same snapshot; the blobs are copied afterwards. A file row is committed only after its
blob is stored, so every blob the dumped rows refer to exists when it is copied, whatever is uploaded
meanwhile (blobs uploaded later are simply not in this backup, and neither are their rows).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import platform
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import django
from django.conf import settings

from catalog.storage import BlobStore, get_blob_store
from operations.backup import manifest as mf
from operations.backup.blobs import blobs_backup
from operations.backup.database import database_for
from operations.backup.keys import keys_backup, secret_key_backup
from operations.backup.progress import Progress, silent
from operations.backup.state import node_key_rows, referenced_blobs, snapshot_state
from operations.errors import BackupBusyError, BackupSourceError, BackupTargetError, BlobStoreUnavailableError


@dataclass
class BackupReport:
    directory: Path
    manifest: dict[str, Any]
    previous: str | None = None
    pruned: int = 0
    warnings: list[str] = field(default_factory=list)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _code_version() -> str:
    try:
        return metadata.version("courseware-exchange")
    except metadata.PackageNotFoundError:
        return "unknown"


def _prepare(directory: Path) -> tuple[str | None, int]:
    """Make ``directory`` ready: new, empty, or holding an earlier (or interrupted) backup, which is
    updated in place, and lock it against a second backup into it (an ``flock`` on the directory,
    released when the process ends however it ends). Returns the earlier backup's creation time, if
    any, and the locked descriptor. The old manifest is removed first, so an interrupted update is
    never taken for a complete backup."""
    previous = None
    if directory.exists():
        if not directory.is_dir():
            raise BackupTargetError(f"{directory} is not a directory")
        names = set(os.listdir(directory))
        if names and not names & {mf.MANIFEST, mf.MANIFEST_SUM, mf.IN_PROGRESS}:
            raise BackupTargetError(f"{directory} is not empty and holds no earlier backup; "
                                    "choose a new or empty directory", details={"directory": str(directory)})
        try:
            previous = str(mf.manifest_read(directory).get("created_at"))
        except Exception:  # noqa: BLE001 - an unreadable earlier backup is simply replaced
            previous = None
    mf.private_dir(directory)
    lock = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        os.close(lock)
        raise BackupBusyError(f"another backup is being written into {directory}") from exc
    mf.write_private(directory / mf.IN_PROGRESS, f"backup started {_now()}\n".encode())
    (directory / mf.MANIFEST_SUM).unlink(missing_ok=True)
    (directory / mf.MANIFEST).unlink(missing_ok=True)
    return previous, lock


def _prune(directory: Path, keep: set[str]) -> int:
    """Remove files an earlier backup left in the directory that this one does not hold."""
    removed = 0
    for sub in (mf.DATABASE_DIR, mf.BLOBS_DIR, mf.KEYS_DIR):
        root = directory / sub
        if not root.exists():
            continue
        for path in sorted(root.rglob("*"), reverse=True):
            relative = path.relative_to(directory).as_posix()
            if path.is_file() and relative not in keep:
                path.unlink()
                removed += 1
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
    if mf.SECRET_KEY_FILE not in keep:
        (directory / mf.SECRET_KEY_FILE).unlink(missing_ok=True)
    return removed


def backup_create(*, directory: Path, jobs: int = 4, progress: Progress = silent) -> BackupReport:
    """Back up this node (database, referenced blobs, private keys, generated SECRET_KEY) into
    ``directory``, which must be new, empty, or hold an earlier backup (then blobs already there are kept:
    incremental). Writes the manifest last. Raises BackupTargetError for a directory holding something
    else; BackupSourceError when a referenced blob is missing or damaged in the store or a key changed
    while the backup ran (no manifest is written: the directory is marked incomplete);
    DatabaseToolMissingError without ``pg_dump`` on PostgreSQL; BlobStoreUnavailableError when the store
    cannot be reached; BackupBusyError while another backup writes into ``directory``."""
    directory = directory.resolve()
    store = get_blob_store()
    try:
        store.ping()
    except Exception as exc:  # noqa: BLE001 - any failure to reach the store stops the backup before it starts
        raise BlobStoreUnavailableError(f"the blob store is not reachable: {exc.__class__.__name__}: {exc}") from exc
    previous, lock = _prepare(directory)
    try:
        return _backup(directory=directory, store=store, previous=previous, jobs=jobs, progress=progress)
    finally:
        os.close(lock)


def _backup(*, directory: Path, store: BlobStore, previous: str | None, jobs: int,
            progress: Progress) -> BackupReport:
    database = database_for()
    db_dir = mf.private_dir(directory / mf.DATABASE_DIR)
    staging = db_dir / f".{database.dump_name}.partial"
    staging.unlink(missing_ok=True)
    with progress("database", total=None, unit="step") as advance:
        with database.snapshot() as dump:
            created_at = _now()
            advance(1)  # the snapshot is fixed: what is committed from now on is not in this backup
            dump_info = dump(staging)
            advance(1)
            state = snapshot_state()
            refs = referenced_blobs()
            key_rows = node_key_rows()
            advance(1)
        os.replace(staging, db_dir / database.dump_name)

    keys = keys_backup(rows=key_rows, directory=directory)
    secret_entry, secret_source = secret_key_backup(directory=directory)

    with progress("blobs", total=len(refs), unit="blob") as advance:
        blobs = blobs_backup(store=store, refs=refs, directory=directory, jobs=jobs, progress=advance)
    if blobs.problems:
        raise BackupSourceError(
            f"{len(blobs.problems)} of {len(refs)} blob(s) the database refers to could not be copied; "
            "the backup is incomplete:\n  " + "\n  ".join(blobs.problems[:20]),
            details={"problems": blobs.problems})

    db_relative = f"{mf.DATABASE_DIR}/{database.dump_name}"
    with progress("checksums", total=None, unit="B") as advance:
        db_sha, db_size = mf.sha256_file(db_dir / database.dump_name, progress=advance)
    entries = [mf.FileEntry(path=db_relative, size=db_size, sha256=db_sha, kind="database"), *keys.entries]
    if secret_entry:
        entries.append(secret_entry)
    entries += blobs.entries
    removed = _prune(directory, {entry.path for entry in entries})

    manifest: dict[str, Any] = {
        "format": mf.FORMAT,
        "format_version": mf.FORMAT_VERSION,
        "created_at": created_at,
        "finished_at": _now(),
        "node": {"id": settings.EXCHANGE_NODE_ID, "role": settings.EXCHANGE_NODE_ROLE,
                 "region": settings.EXCHANGE_NODE_REGION, "base_url": settings.EXCHANGE_BASE_URL},
        "code": {"version": _code_version(), "django": django.get_version(), "python": platform.python_version()},
        "migrations": state["migrations"],
        "database": {"engine": database.engine, "file": db_relative, **dump_info},
        "blob_store": {"backend": settings.CATALOG_BLOB_STORE, "bucket": settings.S3_BUCKET or None},
        "contains_secrets": True,
        "secrets": list(mf.SECRETS),
        "keys": keys.keys,
        "secret_key": {"file": mf.SECRET_KEY_FILE} if secret_entry else {"source": secret_source},
        "counts": state["counts"],
        "catalog_digest": state["catalog_digest"],
        "federation": {"feed_head": state["feed_head"]},
        "blobs": {"count": len(blobs.entries), "bytes": blobs.bytes, "copied": blobs.copied,
                  "reused": blobs.reused, "types": blobs.mimes},
        "files": [mf.entry_dict(entry) for entry in entries],
    }
    mf.manifest_write(directory, manifest)
    (directory / mf.IN_PROGRESS).unlink()
    return BackupReport(directory=directory, manifest=manifest, previous=previous, pruned=removed,
                        warnings=keys.warnings)
