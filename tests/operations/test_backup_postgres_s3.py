"""``manage.py backup`` / ``restore`` on PostgreSQL and S3 (the production backends): pg_dump of one
snapshot, blobs from and into S3 buckets (moto server), restored into a new database and bucket.

Runs in the PostgreSQL lane (``make test-postgres``): each node gets its own database on the lane's
server and its own bucket.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import boto3
import pytest
from django.db import connection

from tests.operations.backup_support import (
    Node,
    embedded_node,
    embedded_template,
    file_hash,
    flip_byte,
    postgres_database,
    seed,
)

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql",
                                reason="needs the PostgreSQL server of the PostgreSQL lane (make test-postgres)")


def _s3(endpoint: str):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test-access",
                        aws_secret_access_key="test-secret")


def _production_node(tmp_path, name: str, endpoint: str) -> tuple[Node, str]:
    bucket = f"backup-{name}-{uuid.uuid4().hex[:8]}"
    _s3(endpoint).create_bucket(Bucket=bucket)
    env = {"DATABASE_URL": postgres_database(os.environ["DATABASE_URL"], name), "S3_BUCKET": bucket,
           "S3_ENDPOINT_URL": endpoint, "S3_ACCESS_KEY_ID": "test-access", "S3_SECRET_ACCESS_KEY": "test-secret"}
    return Node(tmp_path / name, env=env), bucket


def _bucket_keys(endpoint: str, bucket: str) -> set[str]:
    pages = _s3(endpoint).get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {item["Key"] for page in pages for item in page.get("Contents", [])}


def test_round_trip_on_postgres_and_s3(s3_endpoint, tmp_path):
    source, source_bucket = _production_node(tmp_path, "source", s3_endpoint)
    source.manage("migrate", "--noinput", "-v0")
    source.manage("load_vocabularies")
    seed(source)
    digest, facts, identity = source.digest(), source.facts(), source.identity()
    assert facts["blobs_missing"] == [] and _bucket_keys(s3_endpoint, source_bucket)

    backup = tmp_path / "backup"
    source.manage("backup", str(backup), "--no-progress")
    manifest = json.loads((backup / "manifest.json").read_text())
    assert manifest["database"]["engine"] == "postgresql" and manifest["database"]["file"].endswith(".pgdump")
    assert "pg_dump" in manifest["database"]["pg_dump"] and manifest["blob_store"]["bucket"] == source_bucket
    assert manifest["catalog_digest"] == digest

    target, target_bucket = _production_node(tmp_path, "target", s3_endpoint)
    damaged = tmp_path / "damaged"
    shutil.copytree(backup, damaged)
    flip_byte(damaged / manifest["database"]["file"])
    refused = target.run("restore", str(damaged), "--no-progress")
    assert refused.returncode == 1 and "restore refused [backup_invalid]" in refused.stderr
    assert _bucket_keys(s3_endpoint, target_bucket) == set()
    assert "SQLite" not in refused.stderr and not (target.data_dir / "node_key.pem").exists()

    out = target.manage("restore", str(backup), "--no-progress")
    assert "equals the backup's" in out
    assert target.digest() == digest
    assert "ledger balanced" in target.manage("ledger_verify")
    assert "audit chain intact" in target.manage("audit_verify", "--no-progress")
    assert json.loads(target.manage("index_verify"))["ok"] is True
    restored = target.facts()
    for name in ("resources", "remote", "users", "ledger", "balances", "grants", "feed_head", "files"):
        assert restored[name] == facts[name], name
    assert restored["blobs_missing"] == []
    blob_keys = {f["path"].removeprefix("blobs/") for f in manifest["files"] if f["kind"] == "blob"}
    assert _bucket_keys(s3_endpoint, target_bucket) == blob_keys
    assert target.identity()["keys"] == identity["keys"]
    for kid, status, path in restored["keys"]:
        if status != "retired":
            source_path = next(p for k, _, p in facts["keys"] if k == kid)
            assert Path(path).parent == target.data_dir and file_hash(Path(path)) == file_hash(Path(source_path))

    again = target.run("restore", str(backup), "--no-progress")
    assert again.returncode == 1 and "restore refused [restore_target_not_empty]" in again.stderr
    assert "PostgreSQL database" in again.stderr and f"bucket {target_bucket}" in again.stderr
    target.shell("import json\nfrom catalog.models import Resource\n"
                 "print(json.dumps(Resource.objects.filter(is_remote=True).delete()[0]))")
    assert target.digest() != digest
    forced = target.run("restore", str(backup), "--force", "--no-progress")
    assert forced.returncode == 0, forced.stderr
    assert "overwriting: PostgreSQL database" in forced.stderr and target.digest() == digest


def test_an_embedded_backup_is_refused_by_a_postgres_node(s3_endpoint, tmp_path):
    template = embedded_template(tmp_path)
    embedded = embedded_node(template, tmp_path / "embedded")
    embedded.manage("backup", str(tmp_path / "backup"), "--no-progress")
    target, _ = _production_node(tmp_path, "pg", s3_endpoint)
    proc = target.run("restore", str(tmp_path / "backup"), "--no-progress")
    assert proc.returncode == 1 and "restore refused [backup_incompatible]" in proc.stderr
    assert "holds a sqlite database and this node uses postgresql" in proc.stderr
