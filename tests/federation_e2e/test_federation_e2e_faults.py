"""Fault injection: a pulling node is killed with SIGKILL at random points, 20 times; after it
restarts, its catalog converges with the origin's — nothing lost, nothing doubled, database intact."""

from __future__ import annotations

import random
import shutil
import time

import pytest

from tests.federation_e2e.cluster import Node, kill9, sqlite_copy

pytestmark = pytest.mark.slow
RUNS = 20


def _state(node: Node) -> tuple[int, int, int]:
    with node.db() as db:
        cursor, = db.execute("SELECT cursor FROM federation_peer WHERE node_id = 'cn-hub'").fetchone()
        records, = db.execute("SELECT COUNT(*) FROM federation_remoterecord").fetchone()
        resources, = db.execute("SELECT COUNT(*) FROM catalog_resource WHERE is_remote = 1").fetchone()
    return cursor, records, resources


def test_killed_pulls_resume_and_converge(cluster, tmp_path):
    """The puller is cn-44 as it was right after enrolment (same identity, nothing pulled), pulling the
    hub's aggregated feed five entries a page so that every kill lands somewhere in the middle."""
    clone = Node("cn-44", "province", cluster.p44.port, tmp_path / "clone", hub_url=cluster.hub.url,
                 extra_env={"FEDERATION_BACKGROUND": "0"})
    clone.data_dir.mkdir()
    sqlite_copy(cluster.fault_seed / "exchange.sqlite3", clone.data_dir / "exchange.sqlite3")
    for name in ("node_key.pem", "secret_key"):
        shutil.copy2(cluster.fault_seed / name, clone.data_dir / name)
    rng = random.Random(20240901)
    progress = []
    for _ in range(RUNS):
        before = _state(clone)
        proc = clone.spawn("federation", "pull", "cn-hub", "--limit", "5", log="pull.log")
        # Once the pull is under way (a page applied), kill it at a random later moment: while it
        # fetches, verifies, or sits inside a page's transaction.
        deadline = time.monotonic() + 20
        while _state(clone)[0] == before[0] and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.4))
        running = proc.poll() is None
        kill9(proc)
        after = _state(clone)
        assert after[1] == after[2], "every applied record has its catalog row (same transaction)"
        progress.append((running, before[0], after[0]))
    killed_mid_pull = [p for p in progress if p[0] and p[2] > p[1]]
    assert len(killed_mid_pull) >= RUNS - 2, repr(progress)

    final = clone.manage("federation", "pull", "cn-hub")
    assert '"error_code": ""' in final.stdout, final.stdout[-2000:]
    origin = cluster.p11.digest("cn-11")
    assert clone.digest("cn-11") == origin
    with clone.db() as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        doubled = db.execute("SELECT origin, resource_id, COUNT(*) FROM federation_remoterecord "
                             "GROUP BY origin, resource_id HAVING COUNT(*) > 1").fetchall()
        from_11, = db.execute("SELECT COUNT(*) FROM federation_remoterecord WHERE origin = 'cn-11'").fetchone()
    assert doubled == []
    assert from_11 >= origin["count"]
