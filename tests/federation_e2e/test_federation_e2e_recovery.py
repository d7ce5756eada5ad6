"""Disaster recovery from the federation, with real processes: a province loses everything but its key
file, enrols again and rebuilds its catalog from the hub — the same records (digest equal to the one
before), its file bytes back from the hub's copy, and a feed that goes on where the hub had read it."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import servers
from tests.federation_e2e.cluster import ROOT, Node, node_from_template, wait_until
from tests.federation_e2e.test_federation_e2e_propagation import publish, visible

pytestmark = pytest.mark.slow


def _blob(node: Node, sha: str) -> Path:
    return node.data_dir / "blobs" / "sha256" / sha[:2] / sha[2:4] / sha


def _records(node: Node, origin: str) -> list[tuple]:
    """What a node holds of one origin (to show how two nodes differ)."""
    with node.db() as db:
        return db.execute("SELECT r.record_id, r.version, r.status, r.title, r.published_at, r.description, "
                          "r.keywords, s.license_id, s.price FROM catalog_resource r JOIN catalog_rightsstatement s "
                          "ON s.resource_id = r.id WHERE r.origin_node = ? ORDER BY r.record_id", (origin,)).fetchall()


def _fresh(node: Node, template: Path) -> None:
    key = node.data_dir / "node_key.pem"
    saved = key.read_bytes() if key.exists() else None
    node_from_template(template, node)  # an empty data dir and a database with nothing in it
    if saved is not None:
        key.write_bytes(saved)
        key.chmod(0o600)
    node.manage("seed_demo")
    node.manage("node_init")


def test_a_province_that_lost_everything_but_its_key_rebuilds_from_the_hub(cluster, tmp_path):
    template = cluster.base / "template" / "exchange.sqlite3"
    hub_fingerprint = json.loads(cluster.hub.manage("node_init", "--json").stdout)["fingerprint"]
    node = Node("cn-46", "province", servers.free_ports(1)[0], tmp_path / "cn-46", hub_url=cluster.hub.url)
    _fresh(node, template)
    node.start()
    try:
        node.manage("federation", "enrol", "--hub", cluster.hub.url, "--hub-fingerprint", hub_fingerprint)
        own = json.loads(node.manage("node_init", "--json").stdout)["fingerprint"]
        cluster.hub.manage("federation", "approve", "cn-46", "--fingerprint", own)
        node.manage("federation", "enrol", "--hub", cluster.hub.url, "--wait", "--timeout", "60")
        corpus = tmp_path / "cn-46.jsonl"
        subprocess.run([sys.executable, "-m", "catalog.sampledata", "--n", "60", "--seed", "46", "--out", str(corpus)],
                       cwd=ROOT, check=True, timeout=120)
        node.manage("import_corpus", str(corpus), "--no-progress", "--placeholder-files")
        with_file = publish(node, "人教版七年级数学上册 有理数 灾备课件")
        node.manage("federation", "poke", "cn-hub")
        wait_until(lambda: cluster.hub.digest("cn-46") == node.digest("cn-46"), timeout=90, interval=1,
                   what="the hub to hold every cn-46 record")
        # Somebody at the hub used the file: the hub holds a copy of its bytes.
        sha = visible(node, with_file)["files"][0]["sha256"]
        fetched = cluster.hub.manage("shell", "-c", (
            "from catalog.models import ResourceFile\nfrom federation.files import ensure_local\n"
            f"print('OK', ensure_local(ResourceFile.objects.get(sha256='{sha}', resource__origin_node='cn-46'))"
            ".available_locally)"))
        assert "OK True" in fetched.stdout, fetched.stdout
        before = node.digest("cn-46")
        assert before["count"] == 61

        node.stop()  # the disaster: everything but the key file is gone
        for child in node.data_dir.iterdir():
            if child.name != "node_key.pem":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        _fresh(node, template)
        node.tokens.clear()  # the accounts are new: so are their tokens
        node.start()
        enrolled = node.manage("federation", "enrol", "--hub", cluster.hub.url, "--hub-fingerprint", hub_fingerprint)
        assert "certified until" in enrolled.stdout, enrolled.stdout  # same key: approved already
        recovered = node.manage("federation", "recover", timeout=600)
        report = json.loads(recovered.stdout[:recovered.stdout.rindex("}") + 1])
        assert report["restored"] >= 61 and report["files"]["fetched"] >= 1, report

        assert node.digest("cn-46") == before
        assert hashlib.sha256(_blob(node, sha).read_bytes()).hexdigest() == sha
        assert visible(node, with_file)["origin_node"] == "cn-46"
        origins = sorted({o for n in (node, cluster.hub) for o in n.origins()})
        differing = [o for o in origins if node.digest(o) != cluster.hub.digest(o)]
        assert differing == [], {o: (_records(node, o), _records(cluster.hub, o)) for o in differing}

        after = publish(node, "人教版七年级数学上册 有理数 灾后新课件")  # the feed goes on past the hub's cursor
        node.manage("federation", "poke", "cn-hub")
        wait_until(lambda: visible(cluster.hub, after), timeout=60, what="the new record at the hub")
        wait_until(lambda: visible(cluster.p44, after), timeout=60, what="the new record in cn-44")
    finally:
        node.stop()
