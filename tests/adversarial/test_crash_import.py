"""Crash test (b): ``manage.py import_corpus`` killed with SIGKILL at random moments and at the
injected crash points between a batch's commit and its index write (``index.after_commit``) and
between the index write and the deletion of the batch's pending rows (``index.after_write``), then
resumed. The catalog must equal a clean import's, and the search index must hold every published
resource and nothing else."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from django.conf import settings

from tests.adversarial.conftest import CRASH_RUNS, index_report
from tests.federation_e2e.cluster import ROOT, kill9

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
                       reason="the nodes run embedded (SQLite) in every lane: covered by the SQLite lane"),
]
N = max(1200, 200 * CRASH_RUNS)  # enough batches that every kill lands mid-import
BATCH = 100


def _corpus(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    subprocess.run([sys.executable, "-m", "catalog.sampledata", "--n", str(N), "--seed", "7", "--out", str(corpus)],
                   cwd=ROOT, check=True, timeout=120)
    return corpus


def _counts(node):
    with node.db() as db:
        resources, = db.execute("SELECT COUNT(*) FROM catalog_resource").fetchone()
        pending, = db.execute("SELECT COUNT(*) FROM catalog_indexpending").fetchone()
        entries, = db.execute("SELECT COUNT(*) FROM federation_outboxentry").fetchone()
    return resources, pending, entries


def test_import_killed_anywhere_resumes_to_a_complete_index(make_node, crash_rng, crash_seed, tmp_path):
    corpus = _corpus(tmp_path)
    node = make_node("cn-44")
    reference = make_node("cn-44", name="reference")
    args = ("import_corpus", str(corpus), "--no-progress", "--metadata-only", "--batch-size", str(BATCH))
    history = []
    for run in range(CRASH_RUNS):
        before = _counts(node)
        kind = ("index.after_commit", "index.after_write", "random")[run % 3]
        if kind == "random":
            proc = node.spawn(*args, log="import.log")
            deadline = time.monotonic() + 60
            while _counts(node)[0] == before[0] and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(crash_rng.uniform(0.0, 0.3))  # once it is under way: in a batch, or between
            kill9(proc)
            outcome = proc.returncode
        else:
            nth = crash_rng.randint(1, 3)
            outcome = node.manage(*args, check=False, EXCHANGE_CRASH_AT=f"{kind}:{nth}").returncode
            kind = f"{kind}:{nth}"
        after = _counts(node)
        history.append((kind, outcome, before, after))
        if kind.startswith("index.after_commit") and outcome == -9:
            assert after[1] > 0, f"killed after a commit, before indexing: its rows are pending (seed {crash_seed})"
    print(history)
    assert any(outcome == -9 for _, outcome, _, _ in history), history

    node.manage(*args)  # resume: the rest is imported, and what the kills left pending is indexed
    reference.manage(*args)
    resources, pending, entries = _counts(node)
    assert resources == N and entries == N, f"nothing lost, nothing doubled: {(resources, entries)} {history}"
    assert pending == 0
    assert node.digest() == reference.digest(), f"catalog differs from a clean import (seed {crash_seed})"
    report = index_report(node)
    assert report["ok"], f"search index incomplete after the kills (seed {crash_seed}): {report} {history}"
    assert report["published"] == report["indexed"] == N
