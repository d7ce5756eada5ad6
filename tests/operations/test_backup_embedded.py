"""``manage.py backup`` and ``manage.py restore`` on the embedded defaults (SQLite, local files), run as an
operator runs them: separate processes over separate data dirs.

A restored node equals the backed-up one (catalog digest, ledger, audit chain, search, keys, SECRET_KEY);
a damaged, incomplete or incompatible backup is refused before anything is touched; a node that holds
data is only overwritten with ``--force``; an older backup is migrated forward, a newer one refused; and
backups into the same directory are incremental.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from pathlib import Path

import pytest
from django.db import connection

from tests.operations.backup_support import (
    Node,
    embedded_node,
    embedded_template,
    file_hash,
    flip_byte,
    seed,
    tree_state,
)

pytestmark = pytest.mark.skipif(connection.vendor != "sqlite",
                                reason="embedded backends, run in the SQLite lane (this lane runs test_backup_postgres_s3)")

SEARCH = """
import json
from django.test import Client
response = Client().get("/api/v1/search", {"q": "背影"})
print(json.dumps({"status": response.status_code, "titles": [h["title"] for h in response.json()["results"]]}))
"""


class World:
    """A seeded embedded node, its facts, and a backup of it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.template = embedded_template(root)
        self.source = embedded_node(self.template, root / "source")
        self.seeded = seed(self.source)
        self.digest = self.source.digest()
        self.facts = self.source.facts()
        self.identity = self.source.identity()
        self.backup = root / "backup"
        self.backup_output = self.source.manage("backup", str(self.backup), "--no-progress")
        self.manifest = json.loads((self.backup / "manifest.json").read_text())

    def fresh(self, name: str) -> Node:
        return Node(self.root / name)

    def backup_copy(self, name: str) -> Path:
        target = self.root / name
        shutil.copytree(self.backup, target)
        return target


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    return World(tmp_path_factory.mktemp("backup"))


def test_backup_describes_the_node_and_keeps_its_secrets_private(world):
    manifest = world.manifest
    assert manifest["format"] == "courseware-exchange-backup" and manifest["format_version"] == 1
    assert manifest["node"]["id"] == "cn-44" and manifest["node"]["role"] == "province"
    assert manifest["database"]["engine"] == "sqlite"
    assert manifest["catalog_digest"] == world.digest
    assert manifest["federation"]["feed_head"] == world.facts["feed_head"] > 0
    assert manifest["counts"]["licensing.LedgerTransaction"] == world.facts["ledger"]
    assert "catalog" in manifest["migrations"] and manifest["code"]["version"]
    assert manifest["contains_secrets"] is True
    assert sorted(k["kid"] for k in manifest["keys"]) == sorted(k["kid"] for k in world.identity["keys"])
    assert len(manifest["keys"]) == 2 and manifest["secret_key"] == {"file": "secret_key"}
    # Every file is listed with its size and SHA-256, and every file there is listed.
    listed = {f["path"]: f for f in manifest["files"]}
    assert set(listed) == set(tree_state(world.backup)) - {"manifest.json", "manifest.sha256"}
    for path, entry in listed.items():
        assert hashlib.sha256((world.backup / path).read_bytes()).hexdigest() == entry["sha256"]
    assert sum(1 for f in manifest["files"] if f["kind"] == "blob") == manifest["blobs"]["count"] == world.facts["files"]
    recorded = (world.backup / "manifest.sha256").read_text().split()[0]
    assert recorded == file_hash(world.backup / "manifest.json")
    # Secrets are readable by the owner only.
    for path in [world.backup, *world.backup.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
    assert "private keys" in world.backup_output


def test_restore_into_a_fresh_data_dir_gives_the_same_node(world):
    target = world.fresh("restored")
    out = target.manage("restore", str(world.backup), "--no-progress")
    assert f"catalog digest {world.digest['sha256']}" in out and "equals the backup's" in out

    assert target.digest() == world.digest  # what `manage.py federation digest` prints, before and after
    assert "ledger balanced" in target.manage("ledger_verify")
    assert "audit chain intact" in target.manage("audit_verify", "--no-progress")
    index = json.loads(target.manage("index_verify"))
    assert index["ok"] is True and index["indexed"] == world.digest["count"]
    search = target.shell(SEARCH)
    assert search["status"] == 200 and search["titles"] == ["人教版八年级语文上册 背影 教案"]

    facts = target.facts()
    for name in ("resources", "remote", "users", "ledger", "balances", "grants", "feed_head", "files"):
        assert facts[name] == world.facts[name], name
    assert facts["blobs_missing"] == []
    assert facts["audit_events"] == world.facts["audit_events"] + 1  # the restore itself is audited

    # The same keys, byte for byte, at this data dir's paths, and the same identity.
    assert target.identity()["keys"] == world.identity["keys"]
    for kid, status, path in facts["keys"]:
        if status != "retired":
            assert Path(path).parent == target.data_dir
            source_path = next(p for k, _, p in world.facts["keys"] if k == kid)
            assert file_hash(Path(path)) == file_hash(Path(source_path))
            assert stat.S_IMODE(Path(path).stat().st_mode) == 0o600
    assert file_hash(target.data_dir / "secret_key") == file_hash(world.source.data_dir / "secret_key")


@pytest.mark.parametrize("damage", [
    "flip a byte of a blob", "flip a byte of the database", "truncate the database", "delete a blob",
    "delete a key file", "edit the manifest", "no manifest checksum", "interrupted backup",
    "another node id",
])
def test_a_damaged_or_foreign_backup_is_refused_and_changes_nothing(world, damage):
    backup = world.backup_copy(f"damaged-{damage.replace(' ', '-')}")
    target = world.fresh(f"target-{damage.replace(' ', '-')}")
    target.manage("restore", str(world.backup), "--check", "--no-progress")  # creates what settings create
    before = tree_state(target.data_dir)
    blob = next(f["path"] for f in world.manifest["files"] if f["kind"] == "blob")
    database = backup / world.manifest["database"]["file"]
    extra_env = {}
    if damage == "flip a byte of a blob":
        flip_byte(backup / blob)
    elif damage == "flip a byte of the database":
        flip_byte(database)
    elif damage == "truncate the database":
        os.truncate(database, database.stat().st_size // 2)
    elif damage == "delete a blob":
        (backup / blob).unlink()
    elif damage == "delete a key file":
        (backup / world.manifest["keys"][0]["file"]).unlink()
    elif damage == "edit the manifest":
        text = (backup / "manifest.json").read_text()
        (backup / "manifest.json").write_text(text.replace('"engine": "sqlite"', '"engine": "sqlite" '))
    elif damage == "no manifest checksum":
        (backup / "manifest.sha256").unlink()
    elif damage == "interrupted backup":
        (backup / "BACKUP-IN-PROGRESS").write_text("backup started")
    elif damage == "another node id":
        extra_env = {"EXCHANGE_NODE_ID": "cn-11"}

    proc = target.run("restore", str(backup), "--no-progress", **extra_env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    expected = "backup_incompatible" if damage == "another node id" else "backup_invalid"
    assert f"restore refused [{expected}]" in proc.stderr
    assert tree_state(target.data_dir) == before
    assert not target.database.exists()
    if damage.startswith(("flip", "truncate", "delete")):
        assert "nothing was restored" in proc.stderr


def test_a_node_that_holds_data_is_overwritten_only_with_force(world):
    other = embedded_node(world.template, world.root / "other")
    other.shell("import json\nfrom tests import factories\nfrom exchange.services import roles_ensure\n"
                "roles_ensure()\norgs = factories.demo_organisations('440000')\n"
                "factories.ResourceFactory(publisher=orgs['publisher'])\nprint(json.dumps(1))")
    other.manage("node_init")
    other_digest, other_db = other.digest(), file_hash(other.database)
    other_key = file_hash(other.data_dir / "node_key.pem")

    refused = other.run("restore", str(world.backup), "--no-progress")
    assert refused.returncode == 1
    assert "restore refused [restore_target_not_empty]" in refused.stderr
    assert f"SQLite database {other.database}" in refused.stderr and "node key file" in refused.stderr
    assert other.digest() == other_digest and file_hash(other.database) == other_db
    assert file_hash(other.data_dir / "node_key.pem") == other_key

    forced = other.run("restore", str(world.backup), "--force", "--no-progress")
    assert forced.returncode == 0, forced.stderr
    assert f"overwriting: SQLite database {other.database}" in forced.stderr
    assert other.digest() == world.digest
    assert other.identity()["keys"] == world.identity["keys"]
    assert json.loads(other.manage("index_verify"))["ok"] is True


def test_an_older_backup_is_migrated_forward_and_a_newer_one_refused(world):
    old = embedded_node(world.template, world.root / "old-code")
    old.manage("migrate", "licensing", "0002", "--noinput", "-v0")  # as if made before 0003 existed
    backup = world.root / "old-backup"
    old.manage("backup", str(backup), "--no-progress")
    manifest = json.loads((backup / "manifest.json").read_text())
    assert "0003_settlement_close" not in manifest["migrations"]["licensing"]

    target = world.fresh("from-old")
    out = target.manage("restore", str(backup), "--no-progress")
    assert "migrations applied since: licensing.0003_settlement_close" in out
    assert "[X] 0003_settlement_close" in target.manage("showmigrations", "licensing")

    # A backup made by newer code (a migration this code lacks) is refused before anything is touched.
    manifest["migrations"]["licensing"].append("0099_from_the_future")
    body = json.dumps(manifest).encode()
    (backup / "manifest.json").write_bytes(body)
    (backup / "manifest.sha256").write_text(f"{hashlib.sha256(body).hexdigest()}  manifest.json\n")
    newer = world.fresh("from-newer")
    proc = newer.run("restore", str(backup), "--no-progress")
    assert proc.returncode == 1 and "restore refused [backup_incompatible]" in proc.stderr
    assert "licensing.0099_from_the_future" in proc.stderr and not newer.database.exists()


def test_backups_into_the_same_directory_are_incremental(world):
    node = embedded_node(world.template, world.root / "incremental")
    node.shell("import json\nfrom tests import factories\nfrom exchange.services import roles_ensure\n"
               "roles_ensure()\norgs = factories.demo_organisations('440000')\n"
               "[factories.ResourceFactory(publisher=orgs['publisher']) for _ in range(3)]\nprint(json.dumps(1))")
    backup = world.root / "incremental-backup"
    assert "3 copied, 0 already in the directory" in node.manage("backup", str(backup), "--no-progress")

    node.shell("import json\nfrom tests import factories\nfrom exchange.models import Organisation\n"
               "factories.ResourceFactory(publisher=Organisation.objects.get(name='本省出版社'), title='新增 课件')\n"
               "print(json.dumps(1))")
    first_blob = next(iter(sorted((backup / "blobs").rglob("*/*/*/*"))))
    flip_byte(first_blob)  # a blob damaged in the backup directory is fetched again, not kept
    out = node.manage("backup", str(backup), "--no-progress")
    assert "2 copied, 2 already in the directory" in out and "updated the backup of" in out
    assert "backup intact: " in node.manage("restore", str(backup), "--check", "--no-progress")

    target = world.fresh("incremental-restored")
    target.manage("restore", str(backup), "--no-progress")
    assert target.digest() == node.digest()


def test_backup_refuses_a_directory_holding_something_else(world, tmp_path):
    (tmp_path / "notes.txt").write_text("not a backup")
    proc = world.source.run("backup", str(tmp_path), "--no-progress")
    assert proc.returncode == 1 and "backup failed [backup_target_not_empty]" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_restore_exits_non_zero_when_the_restored_catalog_differs_from_the_manifest(world):
    backup = world.backup_copy("wrong-digest")
    manifest = json.loads((backup / "manifest.json").read_text())
    manifest["catalog_digest"] = {"count": world.digest["count"], "sha256": "0" * 64}
    body = json.dumps(manifest).encode()
    (backup / "manifest.json").write_bytes(body)
    (backup / "manifest.sha256").write_text(f"{hashlib.sha256(body).hexdigest()}  manifest.json\n")
    target = world.fresh("wrong-digest-target")
    proc = target.run("restore", str(backup), "--no-progress")
    assert proc.returncode == 1
    assert "restore finished but FAILED its check [restore_check_failed]" in proc.stderr
    assert world.digest["sha256"] in proc.stderr and "0" * 64 in proc.stderr
