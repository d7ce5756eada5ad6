"""The node's secrets in a backup: its private signing keys and the data dir's generated SECRET_KEY.

Key files are copied byte for byte (mode 0600). The copy is read back and its key id compared with the
key row of the snapshot, so a key rotated while the backup ran is caught instead of restored under the
wrong row. On restore the key at ``FEDERATION_KEY_PATH`` goes to this node's ``FEDERATION_KEY_PATH`` and
the others (rotated-out keys still in their overlap) beside it, and the key rows are pointed at them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from federation.signing import SigningKey, fingerprint, load_private_key
from operations.backup.manifest import (
    KEYS_DIR,
    SECRET_KEY_FILE,
    FileEntry,
    private_dir,
    sha256_file,
    write_private,
)
from operations.errors import BackupInvalidError, BackupSourceError


@dataclass
class KeyCopy:
    entries: list[FileEntry] = field(default_factory=list)
    keys: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _key_path() -> Path:
    return Path(settings.FEDERATION_KEY_PATH)


def _key_of(path: Path) -> SigningKey:
    return SigningKey.from_private_key(load_private_key(path))


def keys_backup(*, rows: list[dict[str, Any]], directory: Path) -> KeyCopy:
    """Copy the private key files of ``rows`` (the snapshot's key rows) and the key at
    ``FEDERATION_KEY_PATH`` into ``directory/keys``. Raises BackupSourceError when a file holds another
    key than its row says (rotated during the backup: run it again)."""
    result = KeyCopy()
    active = _key_path()
    sources: dict[Path, dict[str, Any] | None] = {Path(row["path"]): row for row in rows}
    if active.exists():
        sources.setdefault(active, None)
    keys_dir = private_dir(directory / KEYS_DIR)
    used: set[str] = set()
    for source, row in sources.items():
        if not source.is_file():
            who = f"{row['kid']} ({row['status']})" if row else "the node key"
            result.warnings.append(f"the private key of {who} is missing at {source}: not in the backup")
            continue
        name = source.name
        if name in used or name.startswith("."):
            name = f"{row['kid'] if row else 'key'}.pem"
        used.add(name)
        target = keys_dir / name
        write_private(target, source.read_bytes())
        key = _key_of(target)
        if row is not None and key.kid != row["kid"]:
            raise BackupSourceError(f"{source} holds key {key.kid}, but the database says {row['kid']}: the key "
                                    "was rotated while the backup ran; run the backup again")
        digest, size = sha256_file(target)
        relative = f"{KEYS_DIR}/{name}"
        result.entries.append(FileEntry(path=relative, size=size, sha256=digest, kind="key"))
        result.keys.append({"file": relative, "kid": key.kid, "fingerprint": fingerprint(key.public_key),
                            "status": row["status"] if row else "unregistered", "at_key_path": source == active})
    return result


def keys_present() -> list[str]:
    """Private key files this node already has (what a restore would overwrite)."""
    active = _key_path()
    found = [active] if active.exists() else []
    found += sorted(p for p in active.parent.glob(f"{active.stem}.*{active.suffix}") if p.is_file())
    return [f"node key file {path}" for path in found]


def keys_restore(*, directory: Path, keys: list[dict[str, Any]]) -> dict[str, str]:
    """Write the backup's key files into this node's key directory (mode 0600); return {kid: path}."""
    active = _key_path()
    private_dir(active.parent)
    placed: dict[str, str] = {}
    for item in keys:
        source = directory / item["file"]
        target = active if item.get("at_key_path") else active.parent / Path(item["file"]).name
        if not item.get("at_key_path") and target == active:  # this node names its active key that way
            target = active.with_name(f"{active.stem}.{item['kid']}{active.suffix}")
        if target.name.startswith("."):
            raise BackupInvalidError(f"unsafe key file name {item['file']!r}")
        write_private(target, source.read_bytes())
        placed[item["kid"]] = str(target)
    return placed


def secret_key_backup(*, directory: Path) -> tuple[FileEntry | None, str]:
    """Copy the data dir's generated SECRET_KEY when it is the one in use; (entry, where it comes from)."""
    path = Path(settings.DATA_DIR) / SECRET_KEY_FILE
    target = directory / SECRET_KEY_FILE
    if os.environ.get("SECRET_KEY", "").strip() or not path.is_file() \
            or path.read_text().strip() != settings.SECRET_KEY:
        target.unlink(missing_ok=True)
        return None, "environment"
    write_private(target, path.read_bytes())
    digest, size = sha256_file(target)
    return FileEntry(path=SECRET_KEY_FILE, size=size, sha256=digest, kind="secret_key"), "data dir"


def secret_key_restore(*, directory: Path) -> Path:
    target = Path(settings.DATA_DIR) / SECRET_KEY_FILE
    write_private(target, (directory / SECRET_KEY_FILE).read_bytes())
    return target
