"""Concurrent buyers of one school spending its balance down, on the embedded default (a node process
on SQLite, purchases through its HTTP API from many threads at once) and on PostgreSQL (parallel API
requests, each on its own connection): the balance never goes negative, nothing is granted or charged
twice, and the ledger balances. On the node, a purchase made while the price is being edited charges
the edited price."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from tests import factories, servers
from tests.adversarial.conftest import action, ledger_ok, spawn_action
from tests.federation_e2e.cluster import ROOT

ON_POSTGRES = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
BUYERS = 8


def _spend_down(buy, resources: list[str], seed: int) -> list[tuple[int, str, str]]:
    """BUYERS threads, started together, each buying resources (overlapping: the same ones too) until
    refused for want of vouchers; returns (status, error code, resource) of every request."""
    barrier = threading.Barrier(BUYERS)
    outcomes: list[tuple[int, str, str]] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        order = resources[:]
        random.Random(seed + index).shuffle(order)
        barrier.wait()
        for rid in order:
            status, code = buy(index, rid)
            with lock:
                outcomes.append((status, code, rid))
            if code == "insufficient_vouchers":
                return

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(BUYERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return outcomes


@pytest.mark.slow
@pytest.mark.skipif(ON_POSTGRES, reason="the node runs embedded (SQLite) in every lane: covered by the SQLite lane")
def test_embedded_node_concurrent_buyers(make_node, tmp_path, crash_seed):
    node = make_node("cn-44", port=servers.free_ports(1)[0])
    corpus = tmp_path / "corpus.jsonl"
    subprocess.run([sys.executable, "-m", "catalog.sampledata", "--n", "300", "--seed", "5", "--out", str(corpus)],
                   cwd=ROOT, check=True, timeout=120)
    node.manage("import_corpus", str(corpus), "--no-progress", "--metadata-only")
    assert action(node, "fund", "--students", "10", "--per-student", "6") == [{"funded": 60}]
    node.start()
    with node.db() as db:
        priced = {str(uuid.UUID(rid)): price for rid, price in db.execute(
            "SELECT resource_id, price FROM catalog_rightsstatement WHERE price > 0 ORDER BY resource_id LIMIT 40")}
    ids = list(priced)
    tokens = [node.token("teacher"), node.token("school_admin")]

    # A purchase while the price is being edited (another process holds the edit open): the edited price.
    edited = ids.pop()
    release = tmp_path / "release"
    holder = spawn_action(node, "hold-price", "--resource", edited, "--price", "7", "--release", str(release),
                          log="hold.log")
    deadline = time.monotonic() + 30
    while "holding" not in (node.data_dir / "hold.log").read_text() and time.monotonic() < deadline:
        assert holder.poll() is None, (node.data_dir / "hold.log").read_text()[-2000:]
        time.sleep(0.02)
    result: dict[str, object] = {}
    buyer = threading.Thread(target=lambda: result.update(response=node.api(
        "POST", f"/api/v1/resources/{edited}/grants", token=tokens[0], json={"scope": "personal"})))
    buyer.start()
    time.sleep(1.0)  # the request has read the resource and waits for the editor's write lock
    release.touch()
    buyer.join(60)
    holder.wait(60)
    response = result["response"]
    assert response.status_code == 201, response.text
    assert response.json()["price"] == 7, "charged the price read before the edit committed"

    def buy(index: int, rid: str) -> tuple[int, str]:
        response = node.api("POST", f"/api/v1/resources/{rid}/grants", token=tokens[index % 2],
                            json={"scope": "personal"})
        return response.status_code, (response.json().get("error") or {}).get("code", "")

    outcomes = _spend_down(buy, ids, crash_seed)
    kinds = Counter((status, code) for status, code, _ in outcomes)
    assert set(kinds) <= {(201, ""), (409, "already_entitled"), (409, "insufficient_vouchers")}, kinds
    assert "ledger balanced" in ledger_ok(node)
    with node.db() as db:
        grants = db.execute("SELECT resource_id, user_id, price FROM licensing_grant").fetchall()
        balance, = db.execute("SELECT balance FROM licensing_voucheraccount WHERE key LIKE 'school:%' "
                              "AND balance < 60 ORDER BY id LIMIT 1").fetchone()
        purchases, = db.execute("SELECT COUNT(*) FROM licensing_ledgertransaction WHERE kind = 'purchase'").fetchone()
    assert kinds[(201, "")] + 1 == len(grants) == purchases
    assert len({(r, u) for r, u, _ in grants}) == len(grants), "a resource granted twice to one buyer"
    assert balance == 60 - sum(p for *_, p in grants) >= 0


@pytest.fixture
def committed_world(committed_demo):
    return committed_demo


@pytest.mark.skipif(not ON_POSTGRES, reason="row locks between connections: runs in the PostgreSQL lane (the "
                    "embedded case runs against a node process above)")
def test_postgres_concurrent_buyers(committed_world, province, crash_seed):
    from django.db import connection

    from exchange.services import user_create
    from licensing.models import Grant, LedgerTransaction, VoucherAccount
    from licensing.selectors import ledger_verify
    from licensing.services import vouchers_fund

    orgs, users = committed_world
    vouchers_fund(actor=users["province_admin"], school=orgs["city_school"], per_student=6)  # 60
    rng = random.Random(crash_seed)
    resources = [factories.ResourceFactory(publisher=orgs["publisher"], license="ALL-RIGHTS-RESERVED",
                                           price=rng.randint(1, 9), territory=[province]) for _ in range(30)]
    buyers = [user_create(username=f"buyer{i}", password=None, organisation=orgs["city_school"], roles=["teacher"])
              for i in range(BUYERS // 2)]

    def buy(index: int, rid: str) -> tuple[int, str]:
        client = APIClient()
        client.force_authenticate(user=buyers[index % len(buyers)])
        try:
            response = client.post(f"/api/v1/resources/{rid}/grants", {"scope": "personal"}, format="json")
        finally:
            connection.close()
        return response.status_code, (response.json().get("error") or {}).get("code", "")

    outcomes = _spend_down(buy, [str(r.pk) for r in resources], crash_seed)
    kinds = Counter((status, code) for status, code, _ in outcomes)
    assert set(kinds) <= {(201, ""), (409, "already_entitled"), (409, "insufficient_vouchers")}, kinds
    grants = list(Grant.objects.values_list("resource_id", "user_id", "price"))
    assert kinds[(201, "")] == len(grants) == LedgerTransaction.objects.filter(kind="purchase").count()
    assert len({(r, u) for r, u, _ in grants}) == len(grants), "a resource granted twice to one buyer"
    balance = VoucherAccount.objects.get(key=f"school:{orgs['city_school'].pk}").balance
    assert balance == 60 - sum(p for *_, p in grants) >= 0
    assert ledger_verify() == []
