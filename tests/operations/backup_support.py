"""Nodes for the backup tests: each a data dir (and, in the PostgreSQL lane, a database and an S3 bucket)
driven through ``manage.py`` subprocesses, exactly as an operator would run ``backup`` and ``restore``."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.federation_e2e.cluster import sqlite_copy

ROOT = Path(__file__).resolve().parents[2]
MANAGE = str(ROOT / "manage.py")
#: Backends a node must not inherit from the test runner's environment.
STRIPPED_ENV = ("DATABASE_URL", "REDIS_URL", "ELASTICSEARCH_URL", "S3_BUCKET", "S3_ENDPOINT_URL",
                "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY", "EXCHANGE_DATA_DIR", "EXCHANGE_NODE_ID",
                "EXCHANGE_NODE_ROLE", "EXCHANGE_NODE_REGION", "EXCHANGE_BASE_URL", "FEDERATION_HUB_URL",
                "SECRET_KEY", "DJANGO_SETTINGS_MODULE")

#: A catalog with files, a remote record, a funded voucher account with a purchase, an audit log, a
#: feed, and a rotated key (so the node holds two private keys). Prints facts to compare after a restore.
SEED = """
import json
from catalog.remote import RemoteChange, remote_resources_apply
from exchange.models import Organisation
from exchange.services import roles_ensure
from federation import identity
from federation.outbox import outbox_backfill
from licensing.services import grant_purchase, vouchers_fund
from tests import factories
from tests.federation.federation_support import record

roles_ensure()
orgs = factories.demo_organisations("440000")
users = factories.demo_users(orgs)
for _ in range(3):
    factories.ResourceFactory(publisher=orgs["publisher"])
priced = factories.ResourceFactory(publisher=orgs["publisher"], license="ALL-RIGHTS-RESERVED", price=3)
remote = record(title="外省 八年级物理 光的折射 微课")
remote_resources_apply(changes=[RemoteChange(origin="cn-11", version=2, kind="upsert", payload=remote)])
Organisation.objects.filter(pk=orgs["city_school"].pk).update(student_count=10)
vouchers_fund(actor=users["province_admin"], school=Organisation.objects.get(pk=orgs["city_school"].pk),
              per_student=2)
grant = grant_purchase(buyer=users["teacher"], resource=priced, scope="personal")
identity.node_key_ensure()
outbox_backfill()
identity.node_key_rotate()
factories.ResourceFactory(publisher=orgs["other_publisher"], title="人教版八年级语文上册 背影 教案")
outbox_backfill()
print(json.dumps({"priced": str(priced.pk), "remote": remote["id"], "grant": grant.pk}))
"""

#: Facts of a node compared before a backup and after its restore.
FACTS = """
import json
from django.db.models import Sum
from catalog.models import Resource, ResourceFile
from catalog.storage import get_blob_store
from exchange.models import AuditEvent, User
from federation.models import NodeKey
from federation.outbox import outbox_head
from licensing.models import Grant, LedgerTransaction, VoucherAccount
store = get_blob_store()
files = ResourceFile.objects.filter(available_locally=True)
print(json.dumps({
    "resources": Resource.objects.count(),
    "remote": Resource.objects.filter(is_remote=True).count(),
    "users": sorted(User.objects.values_list("username", flat=True)),
    "audit_events": AuditEvent.objects.count(),
    "ledger": LedgerTransaction.objects.count(),
    "balances": sorted(VoucherAccount.objects.values_list("balance", flat=True)),
    "grants": Grant.objects.count(),
    "feed_head": outbox_head(),
    "files": files.count(),
    "blobs_missing": sorted(f.storage_key for f in files if not store.exists(f.storage_key)),
    "keys": sorted([row.kid, row.status, row.private_key_path] for row in NodeKey.objects.all()),
}))
"""


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_state(path: Path) -> dict[str, str]:
    """Every file under ``path`` with its SHA-256 (to show that a refused restore changed nothing)."""
    return {p.relative_to(path).as_posix(): file_hash(p) for p in sorted(path.rglob("*")) if p.is_file()}


@dataclass
class Node:
    """One node: its data dir and the backends it is pointed at (empty: embedded)."""

    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)

    def environ(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in STRIPPED_ENV}
        env.update(PYTHONUNBUFFERED="1", DJANGO_SETTINGS_MODULE="exchange.settings", PYTHONPATH=str(ROOT),
                   EXCHANGE_DATA_DIR=str(self.data_dir), EXCHANGE_NODE_ID="cn-44", EXCHANGE_NODE_ROLE="province",
                   FEDERATION_BACKGROUND="false", LOG_LEVEL="WARNING")
        env.update(self.env)
        env.update(extra)
        return env

    def run(self, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return subprocess.run([sys.executable, MANAGE, *args], env=self.environ(**extra_env), cwd=ROOT,
                              capture_output=True, text=True, timeout=300, check=False)

    def manage(self, *args: str, **extra_env: str) -> str:
        proc = self.run(*args, **extra_env)
        if proc.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc.stdout

    def shell(self, code: str) -> Any:
        """Run Python in the node (``manage.py shell -c``); the JSON its last output line holds."""
        return json.loads(self.manage("shell", "-c", code).strip().splitlines()[-1])

    def digest(self) -> dict[str, Any]:
        return json.loads(self.manage("federation", "digest"))

    def facts(self) -> dict[str, Any]:
        return self.shell(FACTS)

    def identity(self) -> dict[str, Any]:
        return json.loads(self.manage("federation", "identity", "--json"))

    @property
    def database(self) -> Path:
        return self.data_dir / "exchange.sqlite3"


def embedded_template(root: Path) -> Path:
    """A migrated SQLite database with the vocabularies loaded, to copy into new nodes."""
    node = Node(root / "template")
    node.manage("migrate", "--noinput", "-v0")
    node.manage("load_vocabularies")
    return node.database


def embedded_node(template: Path, data_dir: Path) -> Node:
    node = Node(data_dir)
    data_dir.mkdir(parents=True)
    sqlite_copy(template, node.database)
    return node


def seed(node: Node) -> dict[str, Any]:
    return node.shell(SEED)


def flip_byte(path: Path, offset: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    at = len(data) // 2 if offset is None else offset
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def postgres_database(admin_url: str, name_prefix: str) -> str:
    """Create a new database on the lane's PostgreSQL server; its URL."""
    import psycopg

    name = f"{name_prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + "/" + name
