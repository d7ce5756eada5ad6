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
#: Attempts allowed beyond RUNS for pulls that end on their own before a page lands (a request timing out
#: on a crowded machine): such an attempt is no kill mid-pull, and it is not counted as one.
SPARE_ATTEMPTS = 20
#: How long one attempt may take to apply its first page: a bound against a hang, not a timing assertion
#: (starting Django and fetching a page took over 20 s on a machine at load 30).
FIRST_PAGE_TIMEOUT = 300


def _state(node: Node) -> tuple[int, int, int]:
    with node.db() as db:
        cursor, = db.execute("SELECT cursor FROM federation_peer WHERE node_id = 'cn-hub'").fetchone()
        records, = db.execute("SELECT COUNT(*) FROM federation_remoterecord").fetchone()
        resources, = db.execute("SELECT COUNT(*) FROM catalog_resource WHERE is_remote = 1").fetchone()
    return cursor, records, resources


def _head(node: Node) -> tuple[int, int]:
    with node.db() as db:
        return db.execute("SELECT cursor, remote_head FROM federation_peer WHERE node_id = 'cn-hub'").fetchone()


def test_killed_pulls_resume_and_converge(cluster, tmp_path):
    """The puller is cn-44 as it was right after enrolment (same identity, nothing pulled), pulling the
    hub's aggregated feed five entries a page so that every kill lands somewhere in the middle.

    Each of the RUNS kills lands while a pull is under way: after it applied a page (its cursor moved) and
    while it still runs (fetching, verifying, or inside a page's transaction), at a random moment after
    that page. A pull that ends on its own before a page lands is no such kill and is not counted; only
    SPARE_ATTEMPTS of those are allowed."""
    # Generous limits for the puller's own requests and pull: a crowded machine must not end a pull by a
    # timeout (which the test would not count as a kill, and which would leave the final pull short).
    clone = Node("cn-44", "province", cluster.p44.port, tmp_path / "clone", hub_url=cluster.hub.url,
                 extra_env={"FEDERATION_BACKGROUND": "0", "FEDERATION_HTTP_TIMEOUT": "300",
                            "FEDERATION_REQUEST_DEADLINE": "600", "FEDERATION_PULL_BUDGET": "3600"})
    clone.data_dir.mkdir()
    sqlite_copy(cluster.fault_seed / "exchange.sqlite3", clone.data_dir / "exchange.sqlite3")
    for name in ("node_key.pem", "secret_key"):
        shutil.copy2(cluster.fault_seed / name, clone.data_dir / name)
    rng = random.Random(20240901)
    kills, ended_early = [], []
    for _ in range(RUNS + SPARE_ATTEMPTS):
        if len(kills) == RUNS:
            break
        before = _state(clone)
        proc = clone.spawn("federation", "pull", "cn-hub", "--limit", "5", log="pull.log")
        # Once the pull is under way (a page applied), kill it at a random later moment: while it
        # fetches, verifies, or sits inside a page's transaction.
        deadline = time.monotonic() + FIRST_PAGE_TIMEOUT
        while _state(clone)[0] == before[0] and proc.poll() is None:
            assert time.monotonic() < deadline, f"no page applied within {FIRST_PAGE_TIMEOUT} s"
            time.sleep(0.02)
        progressed = _state(clone)[0] != before[0]
        time.sleep(rng.uniform(0.0, 0.4))
        running = proc.poll() is None
        kill9(proc)
        after = _state(clone)
        assert after[1] == after[2], "every applied record has its catalog row (same transaction)"
        assert after[0] >= before[0]
        if running and progressed:
            kills.append((before[0], after[0]))
        else:
            ended_early.append((before[0], after[0], proc.returncode))
            cursor, head = _head(clone)
            assert cursor < head or head == 0, f"the feed was read to its end before {RUNS} kills: {kills!r}"
    assert len(kills) == RUNS, f"kills mid-pull {kills!r}; pulls that ended on their own {ended_early!r}"
    assert all(after > before for before, after in kills)

    final = clone.manage("federation", "pull", "cn-hub", timeout=1800)
    assert '"error_code": ""' in final.stdout, final.stdout[-2000:]
    cursor, head = _head(clone)
    assert cursor == head > 0, (cursor, head)
    origin = cluster.p11.digest("cn-11")
    assert clone.digest("cn-11") == origin
    with clone.db() as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        doubled = db.execute("SELECT origin, resource_id, COUNT(*) FROM federation_remoterecord "
                             "GROUP BY origin, resource_id HAVING COUNT(*) > 1").fetchall()
        from_11, = db.execute("SELECT COUNT(*) FROM federation_remoterecord WHERE origin = 'cn-11'").fetchone()
    assert doubled == []
    assert from_11 >= origin["count"]
