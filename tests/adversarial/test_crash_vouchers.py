"""Crash test (c): a process spending a school's vouchers (purchases through
``licensing.services.grant_purchase``, each followed by a download) is killed with SIGKILL at random
moments, then resumed until the vouchers run out. The ledger must balance, no grant may be paid twice
or exist without its ledger movement, and no download may be recorded without its grant."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from django.conf import settings

from tests.adversarial.conftest import CRASH_RUNS, action, ledger_ok, spawn_action
from tests.federation_e2e.cluster import ROOT, kill9

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
                       reason="the nodes run embedded (SQLite) in every lane: covered by the SQLite lane"),
]
SCALE = max(1, CRASH_RUNS // 3)  # enough purchases that every kill lands mid-spending
FUNDED = 20 * 15 * SCALE  # 20 students × 15 vouchers, per 3 runs


def _grants(node) -> int:
    with node.db() as db:
        return db.execute("SELECT COUNT(*) FROM licensing_grant").fetchone()[0]


def test_killed_spending_keeps_the_books(make_node, crash_rng, crash_seed, tmp_path):
    node = make_node("cn-44")
    corpus = tmp_path / "corpus.jsonl"
    subprocess.run([sys.executable, "-m", "catalog.sampledata", "--n", str(400 * SCALE), "--seed", "3", "--out", str(corpus)],
                   cwd=ROOT, check=True, timeout=120)
    node.manage("import_corpus", str(corpus), "--no-progress", "--placeholder-files")  # priced records, tiny files
    assert action(node, "fund", "--students", "20", "--per-student", str(15 * SCALE)) == [{"funded": FUNDED}]

    history = []
    for run in range(CRASH_RUNS):
        before = _grants(node)
        proc = spawn_action(node, "buy", "--seed", str(run), log="buy.log")
        deadline = time.monotonic() + 60
        while _grants(node) == before and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(crash_rng.uniform(0.0, 0.4))  # mid-purchase, mid-download, or between
        kill9(proc)
        history.append((proc.returncode, before, _grants(node)))
    assert any(code == -9 for code, _, _ in history), history

    resumed = action(node, "buy", "--seed", "99")  # until the vouchers run out
    assert any("exhausted" in line for line in resumed), resumed[-3:]
    assert "ledger balanced" in ledger_ok(node)
    with node.db() as db:
        grants = db.execute("SELECT g.id, g.resource_id, g.user_id, g.scope, g.price, t.amount, t.kind "
                            "FROM licensing_grant g LEFT JOIN licensing_ledgertransaction t "
                            "ON t.id = g.ledger_transaction_id").fetchall()
        purchases, = db.execute("SELECT COUNT(*) FROM licensing_ledgertransaction WHERE kind = 'purchase'").fetchone()
        school_balance, = db.execute("SELECT balance FROM licensing_voucheraccount "
                                     "WHERE key LIKE 'school:%' AND balance IS NOT NULL ORDER BY id LIMIT 1").fetchone()
        revenue, = db.execute("SELECT COALESCE(SUM(balance), 0) FROM licensing_voucheraccount "
                              "WHERE key LIKE 'publisher:%'").fetchone()
        downloads = db.execute("SELECT grant_id, COUNT(*) FROM licensing_downloadevent GROUP BY grant_id").fetchall()
        priced = dict(db.execute("SELECT resource_id, price FROM catalog_rightsstatement").fetchall())
    context = f"seed {crash_seed}, kills {history}"
    assert len(grants) == purchases > 0, context
    assert all(amount == price == priced[resource] and kind == "purchase"
               for _, resource, _, _, price, amount, kind in grants), context
    assert len({(resource, user, scope) for _, resource, user, scope, *_ in grants}) == len(grants), \
        f"a resource was bought twice: {context}"
    spent = sum(price for *_, price, _, _ in grants)
    assert school_balance == FUNDED - spent >= 0, context
    assert revenue == spent, context
    grant_ids = {g[0] for g in grants}
    assert all(grant_id in grant_ids and count == 1 for grant_id, count in downloads), \
        f"a download without its grant, or recorded twice: {downloads} {context}"
