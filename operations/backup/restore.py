"""``backup_verify`` and ``backup_restore``: check a backup, and restore it into an empty node.

Nothing is touched before every file of the backup has been checked against the manifest, the backup
has been found compatible (same database engine, same node id and role, no migration this code does not
know) and the target has been found empty (or ``force`` was given). Then: blobs into the blob store,
keys and SECRET_KEY into the data dir, the database, the key rows pointed at the restored key files,
migrations forward, a new search index (derived data, never in a backup), and the checks: the catalog
digest must equal the manifest's and every blob the restored rows refer to must have come with the
backup.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.db import DatabaseError

from catalog.models import Resource
from catalog.search.indexing import index_pending_drain, rebuild_index
from catalog.storage import get_blob_store
from exchange.audit import audit_record
from operations.backup import manifest as mf
from operations.backup.blobs import blobs_restore, store_key
from operations.backup.database import database_for
from operations.backup.keys import keys_present, keys_restore, secret_key_restore
from operations.backup.progress import Progress, silent
from operations.backup.state import (
    applied_migrations,
    node_key_paths_set,
    referenced_blobs,
    snapshot_state,
    unknown_migrations,
)
from operations.errors import (
    BackupIncompatibleError,
    BackupInvalidError,
    BlobStoreUnavailableError,
    DatabaseUnavailableError,
    RestoreCheckError,
    RestoreTargetNotEmptyError,
)


@dataclass
class RestoreReport:
    manifest: dict[str, Any]
    overwritten: list[str] = field(default_factory=list)
    blobs_written: int = 0
    blobs_present: int = 0
    keys: dict[str, str] = field(default_factory=dict)
    django_key_outcome: str = ""
    migrations_applied: list[str] = field(default_factory=list)
    indexed: int = 0
    digest: dict[str, Any] = field(default_factory=dict)
    feed_head: int = 0
    count_differences: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def digest_matches(self) -> bool:
        return self.digest == self.manifest.get("catalog_digest")


def backup_verify(*, directory: Path, progress: Progress = silent) -> tuple[dict[str, Any], list[mf.FileEntry]]:
    """Check the backup in ``directory``: its manifest, and every file's size and SHA-256. Returns the
    manifest and its files. Raises BackupInvalidError (listing every problem) or BackupIncompatibleError."""
    manifest = mf.manifest_read(directory)
    entries = mf.manifest_files(manifest)
    paths = {entry.path for entry in entries}
    database_file = (manifest.get("database") or {}).get("file")
    required = [database_file, *(item.get("file") for item in manifest.get("keys") or [])]
    if "file" in (manifest.get("secret_key") or {}):
        required.append(manifest["secret_key"]["file"])
    missing = [str(path) for path in required if path not in paths]
    if missing:
        raise BackupInvalidError(f"the manifest does not list {', '.join(missing)}", details={"missing": missing})
    with progress("verify", total=sum(entry.size for entry in entries), unit="B") as advance:
        problems = mf.files_verify(directory, entries, progress=advance)
    if problems:
        shown = "\n  ".join(problems[:20]) + (f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else "")
        raise BackupInvalidError(f"the backup is damaged: {len(problems)} of {len(entries)} file(s) do not match "
                                 f"the manifest; nothing was restored:\n  {shown}", details={"problems": problems})
    return manifest, entries


def _check_compatible(manifest: dict[str, Any], engine: str) -> None:
    node = manifest.get("node") or {}
    if node.get("id") != settings.EXCHANGE_NODE_ID or node.get("role") != settings.EXCHANGE_NODE_ROLE:
        raise BackupIncompatibleError(
            f"the backup is of node {node.get('id')} ({node.get('role')}), but this node is configured as "
            f"{settings.EXCHANGE_NODE_ID} ({settings.EXCHANGE_NODE_ROLE}): set EXCHANGE_NODE_ID and "
            "EXCHANGE_NODE_ROLE as on the backed-up node", details={"backup_node": node.get("id")})
    backup_engine = (manifest.get("database") or {}).get("engine")
    if backup_engine != engine:
        raise BackupIncompatibleError(
            f"the backup holds a {backup_engine} database and this node uses {engine}: a backup restores into "
            "the same database engine only (SQLite: no DATABASE_URL; PostgreSQL: DATABASE_URL of an empty "
            "database)", details={"backup_engine": backup_engine, "engine": engine})
    unknown = unknown_migrations(manifest.get("migrations") or {})
    if unknown:
        raise BackupIncompatibleError(
            f"the backup was made by newer code (migrations unknown here: {', '.join(unknown[:10])}); "
            "upgrade this node's code first", details={"unknown_migrations": unknown})


def restore_target_contents() -> list[str]:
    """What this node already holds that a restore would overwrite (empty: a fresh node)."""
    try:
        contents = database_for().contents()
    except DatabaseError as exc:
        raise DatabaseUnavailableError(f"the database is not reachable: {exc}".strip()) from exc
    store = get_blob_store()
    try:
        store.ping()
        holds_blobs = next(iter(store.iter_keys()), None) is not None
    except Exception as exc:  # noqa: BLE001 - the restore stops before touching anything
        raise BlobStoreUnavailableError(f"the blob store is not reachable: {exc.__class__.__name__}: {exc}") from exc
    if holds_blobs:
        where = f"bucket {settings.S3_BUCKET}" if settings.S3_BUCKET else str(settings.CATALOG_BLOB_ROOT)
        contents.append(f"blob store ({where}) holds blobs (kept: blobs are content-addressed)")
    contents += keys_present()
    return contents


def backup_restore(*, directory: Path, force: bool = False, jobs: int = 4, progress: Progress = silent,
                   announce: Callable[[str], None] = lambda line: None) -> RestoreReport:
    """Restore the backup in ``directory`` into this node (its database, blob store and data dir).

    Raises BackupInvalidError / BackupIncompatibleError before touching anything;
    RestoreTargetNotEmptyError when the node holds data and ``force`` is false (with ``force`` the
    database and key files are replaced, ``announce`` is told what); RestoreCheckError when the restored
    node's catalog digest differs from the manifest's or a referenced blob did not come with the backup."""
    directory = directory.resolve()
    manifest, entries = backup_verify(directory=directory, progress=progress)
    database = database_for()
    _check_compatible(manifest, database.engine)
    contents = restore_target_contents()
    if contents and not force:
        raise RestoreTargetNotEmptyError(
            "this node is not empty; restore into a fresh data dir and an empty database, or give --force to "
            "overwrite:\n  " + "\n  ".join(contents), details={"contents": contents})
    report = RestoreReport(manifest=manifest, overwritten=contents)
    for line in contents:
        announce(f"overwriting: {line}")

    blobs = [entry for entry in entries if entry.kind == "blob"]
    with progress("blobs", total=len(blobs), unit="blob") as advance:
        report.blobs_written, report.blobs_present = blobs_restore(
            store=get_blob_store(), entries=blobs, directory=directory,
            mimes=(manifest.get("blobs") or {}).get("types") or {}, jobs=jobs, progress=advance)
    report.keys = keys_restore(directory=directory, keys=manifest.get("keys") or [])
    if "file" in (manifest.get("secret_key") or {}):
        report.django_key_outcome = f"restored to {secret_key_restore(directory=directory)}"
    else:
        report.django_key_outcome = "not in the backup (the node had SECRET_KEY in its environment): set the same value"

    with progress("database", total=None, unit="step") as advance:
        if database.contents():
            database.wipe()
        database.restore(directory / manifest["database"]["file"])
        advance(1)
    node_key_paths_set(report.keys)
    before = applied_migrations()
    call_command("migrate", interactive=False, verbosity=0)
    after = applied_migrations()
    report.migrations_applied = sorted(f"{app}.{name}" for app, names in after.items() for name in names
                                       if name not in before.get(app, []))

    published = Resource.objects.filter(status=Resource.Status.PUBLISHED).count()
    with progress("search index", total=published, unit="doc") as advance:
        report.indexed = rebuild_index(progress=advance)
        index_pending_drain()

    state = snapshot_state()
    report.digest, report.feed_head = state["catalog_digest"], state["feed_head"]
    recorded = manifest.get("counts") or {}
    report.count_differences = {label: (recorded.get(label, 0), count) for label, count in state["counts"].items()
                                if recorded.get(label, 0) != count}
    in_backup = {store_key(entry) for entry in blobs}
    missing = sorted(ref.key for ref in referenced_blobs() if ref.key not in in_backup)
    audit_record(action="operations.node_restored", actor=settings.EXCHANGE_NODE_ID, object_type="backup",
                 object_id=str(manifest.get("created_at")),
                 data={"digest": report.digest, "digest_matches": report.digest_matches,
                       "feed_head": report.feed_head, "migrations_applied": report.migrations_applied,
                       "overwritten": contents})
    failures = []
    if not report.digest_matches:
        failures.append(f"catalog digest {report.digest} (the manifest says {manifest.get('catalog_digest')})")
    if missing:
        failures.append(f"{len(missing)} referenced blob(s) not in the backup: {', '.join(missing[:5])}")
    if failures:
        raise RestoreCheckError("the restored node does not match the backup: " + "; ".join(failures),
                                details={"digest": report.digest, "expected": manifest.get("catalog_digest"),
                                         "missing_blobs": missing})
    return report
