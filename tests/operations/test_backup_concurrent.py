"""A backup taken while the node keeps publishing resources with files restores consistently.

The backup runs in this process against the test database (SQLite in the default lane, PostgreSQL in
the PostgreSQL lane). At the start of every phase of the backup and after every step it reports,
another thread — its own database connection, as another web worker — publishes a resource with a new
file (blob stored first, row committed after, as an upload does). Whatever the order of the backup's
phases, writes therefore land between each two of them. The restored node, a separate process, must
hold every blob its rows refer to and the catalog digest the manifest recorded.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection, connections

from catalog.models import Resource
from catalog.remote import catalog_digest
from federation import identity
from operations.backup import backup_create
from operations.errors import BackupSourceError
from tests import factories
from tests.operations.backup_support import Node, postgres_database


def _publish_from_another_connection(publisher, count: int) -> list[str]:
    made: list[str] = []

    def work() -> None:
        try:
            for _ in range(count):
                resource = factories.ResourceFactory(publisher=publisher, title=f"并发上传 课件 {os.urandom(4).hex()}")
                made.append(str(resource.pk))
        finally:
            connections.close_all()

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert len(made) == count
    return made


def _restore_target(tmp_path: Path) -> Node:
    """A fresh node to restore into: a new data dir, and in the PostgreSQL lane a new database."""
    env = {}
    if connection.vendor == "postgresql":
        env["DATABASE_URL"] = postgres_database(os.environ["DATABASE_URL"], "restore")
    return Node(tmp_path / "restored", env=env)


def test_uploads_during_a_backup_leave_it_consistent(committed_orgs, settings, tmp_path):
    orgs = committed_orgs
    settings.FEDERATION_KEY_PATH = tmp_path / "node_key.pem"
    identity._cache.clear()
    identity.node_key_ensure()
    for _ in range(3):
        factories.ResourceFactory(publisher=orgs["publisher"])
    landed: list[str] = []

    @contextlib.contextmanager
    def progress(phase: str, *, total: int | None, unit: str) -> Iterator:
        landed.extend(_publish_from_another_connection(orgs["publisher"], 1))

        def advance(n: int) -> None:
            if len(landed) < 12:
                landed.extend(_publish_from_another_connection(orgs["publisher"], 1))

        yield advance

    backup = tmp_path / "backup"
    report = backup_create(directory=backup, progress=progress)
    manifest = report.manifest

    live = Resource.objects.filter(status=Resource.Status.PUBLISHED).count()
    assert len(landed) >= 6 and live == 3 + len(landed)
    # Writes landed after the snapshot too: the backup holds fewer resources than the node now has...
    assert 3 <= manifest["catalog_digest"]["count"] < live
    assert catalog_digest() != manifest["catalog_digest"]

    # ...and restores to exactly what the manifest says, with every blob its rows refer to.
    target = _restore_target(tmp_path)
    out = target.manage("restore", str(backup), "--no-progress")
    assert "equals the backup's" in out
    facts = target.facts()
    assert facts["blobs_missing"] == [] and facts["files"] == manifest["blobs"]["count"]
    assert target.digest() == manifest["catalog_digest"]
    assert json.loads(target.manage("index_verify"))["ok"] is True


def test_a_blob_missing_from_the_store_fails_the_backup_and_leaves_no_manifest(committed_orgs, settings, tmp_path):
    orgs = committed_orgs
    from catalog.storage import get_blob_store

    settings.FEDERATION_KEY_PATH = tmp_path / "node_key.pem"
    identity._cache.clear()
    resource = factories.ResourceFactory(publisher=orgs["publisher"])
    get_blob_store().delete(resource.files.get().storage_key)
    backup = tmp_path / "backup"
    with pytest.raises(BackupSourceError, match="could not be copied; the backup is incomplete"):
        backup_create(directory=backup)
    assert not (backup / "manifest.json").exists() and (backup / "BACKUP-IN-PROGRESS").exists()
