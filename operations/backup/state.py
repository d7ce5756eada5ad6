"""What the database says, read inside the backup's snapshot (or after a restore, to compare).

A backup reads the whole node below the services, as its database dump does: the counts, catalog digest,
feed head and applied migrations describe the dumped rows; the file rows name the blobs the backup must
hold; the key rows name the private key files.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

from catalog.models import ResourceFile
from catalog.remote import catalog_digest
from catalog.storage import blob_key
from federation.models import NodeKey, OutboxHead
from operations.errors import BackupSourceError

#: Tables whose row counts the manifest records (and a restore compares).
COUNTED_MODELS = (
    "exchange.Organisation", "exchange.User", "exchange.AuditEvent",
    "catalog.Resource", "catalog.ResourceFile", "catalog.RecordTakedown",
    "licensing.VoucherAccount", "licensing.LedgerTransaction", "licensing.LedgerEntry", "licensing.Grant",
    "licensing.DownloadEvent", "licensing.TakedownNotice",
    "federation.NodeKey", "federation.Peer", "federation.OutboxEntry", "federation.RemoteRecord",
    "federation.ReceivedReceipt", "federation.OutgoingReceipt",
)
_KEY = re.compile(r"sha256/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}")


@dataclass(frozen=True)
class BlobRef:
    """A stored file the database refers to."""

    key: str
    sha256: str
    size: int
    mime: str


def table_counts() -> dict[str, int]:
    return {label: apps.get_model(label).objects.count() for label in COUNTED_MODELS}


def applied_migrations() -> dict[str, list[str]]:
    by_app: dict[str, list[str]] = defaultdict(list)
    for app, name in MigrationRecorder(connection).applied_migrations():
        by_app[app].append(name)
    return {app: sorted(names) for app, names in sorted(by_app.items())}


def unknown_migrations(applied: dict[str, list[str]]) -> list[str]:
    """Migrations applied in a backup that this code does not have (the backup is from newer code)."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    known = set(loader.disk_migrations)
    for migration in loader.disk_migrations.values():
        known.update(migration.replaces or [])
    return sorted(f"{app}.{name}" for app, names in applied.items() for name in names if (app, name) not in known)


def referenced_blobs() -> list[BlobRef]:
    """Every stored file a resource file row refers to (remote files not fetched yet are not stored).
    Raises BackupSourceError for a row whose storage key is not its content address."""
    refs: dict[str, BlobRef] = {}
    bad = []
    rows = (ResourceFile.objects.filter(available_locally=True).order_by("storage_key")
            .values_list("storage_key", "sha256", "size", "mime"))
    for key, sha256, size, mime in rows.iterator(chunk_size=5000):
        if not _KEY.fullmatch(key) or key != blob_key(sha256):
            bad.append(key)
        elif key not in refs:
            refs[key] = BlobRef(key=key, sha256=sha256, size=int(size), mime=mime)
    if bad:
        raise BackupSourceError(f"{len(bad)} file row(s) name a storage key that is not their content address",
                                details={"keys": bad[:20]})
    return list(refs.values())


def node_key_rows() -> list[dict[str, Any]]:
    """This node's keys whose private half still exists (retired keys have none)."""
    return [{"kid": row.kid, "status": row.status, "fingerprint": row.fingerprint, "path": row.private_key_path}
            for row in NodeKey.objects.exclude(status=NodeKey.Status.RETIRED).order_by("created_at")]


def node_key_paths_set(paths: dict[str, str]) -> int:
    """After a restore into another data dir: point each key row at its restored private key file."""
    changed = 0
    for kid, path in paths.items():
        changed += NodeKey.objects.filter(kid=kid).update(private_key_path=path)
    return changed


def snapshot_state() -> dict[str, Any]:
    """Counts, catalog digest, feed head and applied migrations, as the current transaction sees them."""
    return {
        "counts": table_counts(),
        "catalog_digest": catalog_digest(),
        "feed_head": OutboxHead.objects.filter(id=1).values_list("last_seq", flat=True).first() or 0,
        "migrations": applied_migrations(),
    }
