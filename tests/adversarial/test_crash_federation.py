"""Crash test (a): a federation pull (hub ``cn-hub`` pulling province ``cn-11``'s signed feed, real
node processes on loopback) killed with SIGKILL at random moments and at the injected crash points
between a page's commit and its index write (``index.after_commit``) or between the index write and
the deletion of the pending rows (``index.after_write``), while the province withdraws resources.
After the restart (one federation tick, then the rest of the pull) both catalogs are equal and each
node's search index holds every published resource and no withdrawn one."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from django.conf import settings

from tests import servers
from tests.adversarial.conftest import CRASH_RUNS, action, index_report
from tests.federation_e2e.cluster import ROOT, kill9

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
                       reason="the nodes run embedded (SQLite) in every lane: covered by the SQLite lane"),
]
N = max(800, 160 * CRASH_RUNS)  # enough pages that every kill lands mid-pull
PAGE = 40


def _enrol(province, hub) -> None:
    hub_fingerprint = json.loads(hub.manage("node_init", "--json").stdout)["fingerprint"]
    province.manage("federation", "enrol", "--hub", hub.url, "--hub-fingerprint", hub_fingerprint)
    fingerprint = json.loads(province.manage("node_init", "--json").stdout)["fingerprint"]
    hub.manage("federation", "approve", province.node_id, "--fingerprint", fingerprint)
    province.manage("federation", "enrol", "--hub", hub.url, "--wait", "--timeout", "30")


def _applied(node) -> int:
    with node.db() as db:
        return db.execute("SELECT COUNT(*) FROM catalog_resource WHERE is_remote = 1").fetchone()[0]


def test_killed_pulls_leave_catalog_and_index_whole(make_node, crash_rng, crash_seed, tmp_path):
    hub_port, p11_port = servers.free_ports(2)
    hub = make_node("cn-hub", "hub", port=hub_port)
    p11 = make_node("cn-11", port=p11_port, hub_url=hub.url)
    for node in (hub, p11):
        node.manage("node_init")
        node.start()
    _enrol(p11, hub)
    hub.stop()  # the hub's server would pull on the province's pokes: here only the killed processes pull
    corpus = tmp_path / "corpus.jsonl"
    subprocess.run([sys.executable, "-m", "catalog.sampledata", "--n", str(N), "--seed", "11", "--out", str(corpus)],
                   cwd=ROOT, check=True, timeout=120)
    p11.manage("import_corpus", str(corpus), "--no-progress", "--metadata-only")

    pull = ("federation", "pull", "cn-11", "--limit", str(PAGE))
    history = []
    for run in range(CRASH_RUNS):
        action(p11, "withdraw", "--count", "4", "--seed", str(run))  # tombstones the pull must carry over
        before = _applied(hub)
        kind = ("index.after_commit", "random", "index.after_write")[run % 3]
        if kind == "random":
            proc = hub.spawn(*pull, log="pull.log")
            deadline = time.monotonic() + 60
            while _applied(hub) == before and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(crash_rng.uniform(0.0, 0.5))  # fetching, verifying, inside a page, or indexing
            kill9(proc)
            outcome = proc.returncode
        else:
            nth = crash_rng.randint(1, 4)
            outcome = hub.manage(*pull, check=False, EXCHANGE_CRASH_AT=f"{kind}:{nth}").returncode
            kind = f"{kind}:{nth}"
        history.append((kind, outcome, before, _applied(hub)))
    assert any(outcome == -9 for _, outcome, _, _ in history), history

    hub.manage("federation", "sync")  # the restarted node's first tick: drains what the kills left pending
    hub.manage(*pull)
    context = f"seed {crash_seed}, kills {history}"
    assert hub.digest("cn-11") == p11.digest("cn-11"), f"catalogs differ: {context}"
    for node in (hub, p11):
        report = index_report(node)
        assert report["ok"], f"{node.node_id} search index differs from its catalog: {report} {context}"
        assert report["pending"] == 0
    hub_report = index_report(hub)
    assert hub_report["published"] == hub.digest("cn-11")["count"] == N - 4 * CRASH_RUNS
