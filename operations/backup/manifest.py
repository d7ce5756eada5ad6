"""The backup directory's layout and its manifest: what is in a backup and how to check it.

A backup directory holds::

    manifest.json          what the backup is: node, code and migrations, database engine, counts,
                           catalog digest, feed head, and every file below with its size and SHA-256
    manifest.sha256        the SHA-256 of manifest.json (``sha256sum -c manifest.sha256`` checks it)
    database/              the database: a SQLite file, or a pg_dump archive (custom format)
    blobs/sha256/ab/cd/…   the stored files, content-addressed as in the blob store
    keys/                  the node's private signing keys (PEM, mode 0600)
    secret_key             the generated SECRET_KEY of the data dir, when the node uses one

A backup is complete only once ``manifest.sha256`` exists: it is written last, and the marker file
``BACKUP-IN-PROGRESS`` exists while a backup is being made. Every file is mode 0600 and every directory
0700: the backup holds the node's private keys, password hashes and API tokens.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from operations.errors import BackupIncompatibleError, BackupInvalidError

FORMAT = "courseware-exchange-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MANIFEST_SUM = "manifest.sha256"
IN_PROGRESS = "BACKUP-IN-PROGRESS"
DATABASE_DIR = "database"
BLOBS_DIR = "blobs"
KEYS_DIR = "keys"
SECRET_KEY_FILE = "secret_key"  # noqa: S105 - a file name
CHUNK = 1024 * 1024
#: What the backup holds that must be kept secret (said in the manifest).
SECRETS = (
    "the node's private signing keys (keys/)",
    "the database: password hashes, API tokens, sessions",
    "the data dir's SECRET_KEY (secret_key), when the node generated one",
)
_BLOB_PATH = re.compile(r"blobs/sha256/([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{64})")


@dataclass(frozen=True)
class FileEntry:
    """One file of the backup: its path (relative, POSIX), size, SHA-256 and what it is."""

    path: str
    size: int
    sha256: str
    kind: str  # database | blob | key | secret_key


def sha256_file(path: Path, *, progress: Callable[[int], None] | None = None) -> tuple[str, int]:
    """SHA-256 (hex) and size of a file, read in chunks."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            if progress:
                progress(len(chunk))
    return digest.hexdigest(), size


def private_dir(path: Path) -> Path:
    """Create ``path`` and its missing parents with mode 0700."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for item in reversed(missing):
        item.mkdir(mode=0o700, exist_ok=True)
        os.chmod(item, 0o700)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename) with mode 0600."""
    tmp = path.with_name(f".{path.name}.partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def blob_path(sha256_hex: str) -> str:
    """Path of a blob inside the backup (mirrors ``catalog.storage.blob_key``)."""
    return f"{BLOBS_DIR}/sha256/{sha256_hex[:2]}/{sha256_hex[2:4]}/{sha256_hex}"


def safe_path(directory: Path, relative: str) -> Path:
    """``directory / relative`` for a manifest path; refuses absolute paths and ``..``."""
    pure = PurePosixPath(relative)
    if pure.is_absolute() or not pure.parts or any(part in ("", ".", "..") for part in pure.parts):
        raise BackupInvalidError(f"manifest names an unsafe path {relative!r}", details={"path": relative})
    return directory.joinpath(*pure.parts)


def manifest_write(directory: Path, manifest: dict[str, Any]) -> None:
    """Write the manifest, then its checksum file: the backup is complete from that moment."""
    body = (json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode("utf-8")
    write_private(directory / MANIFEST, body)
    write_private(directory / MANIFEST_SUM, f"{hashlib.sha256(body).hexdigest()}  {MANIFEST}\n".encode())


def manifest_read(directory: Path) -> dict[str, Any]:
    """Read and check the manifest of the backup in ``directory``.

    Raises BackupInvalidError when the directory holds no complete backup or the manifest is damaged;
    BackupIncompatibleError for another format or a newer format version."""
    if not directory.is_dir():
        raise BackupInvalidError(f"{directory} is not a directory", details={"directory": str(directory)})
    if (directory / IN_PROGRESS).exists():
        raise BackupInvalidError(
            f"{directory} holds an incomplete backup ({IN_PROGRESS} is present: the backup was interrupted)",
            details={"directory": str(directory)})
    try:
        body = (directory / MANIFEST).read_bytes()
        recorded = (directory / MANIFEST_SUM).read_text(encoding="ascii").split()[0]
    except (OSError, UnicodeDecodeError, IndexError) as exc:
        raise BackupInvalidError(f"{directory} holds no complete backup: {MANIFEST} or {MANIFEST_SUM} "
                                 f"is missing or unreadable ({exc.__class__.__name__})",
                                 details={"directory": str(directory)}) from exc
    actual = hashlib.sha256(body).hexdigest()
    if actual != recorded:
        raise BackupInvalidError(f"{MANIFEST} is damaged: its SHA-256 is {actual}, {MANIFEST_SUM} says {recorded}",
                                 details={"expected": recorded, "actual": actual})
    try:
        manifest = json.loads(body)
    except ValueError as exc:
        raise BackupInvalidError(f"{MANIFEST} is not JSON") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupIncompatibleError(f"{directory} is not a {FORMAT} (format {manifest.get('format')!r})"
                                      if isinstance(manifest, dict) else f"{MANIFEST} is not an object")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise BackupIncompatibleError(
            f"the backup has format version {version!r}; this code reads up to {FORMAT_VERSION}: "
            "restore it with the version of the code that made it, or a newer one",
            details={"format_version": version})
    return manifest


def manifest_files(manifest: dict[str, Any]) -> list[FileEntry]:
    """The manifest's file list, checked for shape (paths, sizes, hashes; blobs named by their hash)."""
    entries = []
    try:
        for item in manifest["files"]:
            entry = FileEntry(path=str(item["path"]), size=int(item["size"]), sha256=str(item["sha256"]),
                              kind=str(item["kind"]))
            if not re.fullmatch(r"[0-9a-f]{64}", entry.sha256) or entry.size < 0:
                raise BackupInvalidError(f"manifest entry {entry.path!r} has no valid size and SHA-256")
            if entry.kind == "blob":
                match = _BLOB_PATH.fullmatch(entry.path)
                if not match or match.group(3) != entry.sha256 or not entry.sha256.startswith(
                        match.group(1) + match.group(2)):
                    raise BackupInvalidError(f"blob {entry.path!r} is not stored under its SHA-256")
            entries.append(entry)
    except (KeyError, TypeError, ValueError) as exc:
        raise BackupInvalidError(f"{MANIFEST} has no valid file list ({exc})") from exc
    return entries


def files_verify(directory: Path, entries: list[FileEntry], *,
                 progress: Callable[[int], None] | None = None) -> list[str]:
    """Check every file against its size and SHA-256; return one line per problem (empty: intact).
    ``progress`` is called with the bytes read."""
    problems = []
    for entry in entries:
        path = safe_path(directory, entry.path)
        try:
            size = path.stat().st_size
        except OSError:
            problems.append(f"{entry.path}: missing")
            if progress:
                progress(entry.size)
            continue
        if size != entry.size:
            problems.append(f"{entry.path}: {size} bytes, the manifest says {entry.size} (truncated or changed)")
            if progress:
                progress(entry.size)
            continue
        digest, _ = sha256_file(path, progress=progress)
        if digest != entry.sha256:
            problems.append(f"{entry.path}: SHA-256 {digest}, the manifest says {entry.sha256} (damaged)")
    return problems


def entry_dict(entry: FileEntry) -> dict[str, Any]:
    return asdict(entry)
