"""A real three-node federation for the end-to-end tests, started once per session.

hub ``cn-hub`` and provinces ``cn-11`` and ``cn-44``: each its own data dir, SQLite database and key,
served by ``manage.py runserver`` on a free loopback port, with a ``federation sync --loop`` process
as the scheduled backstop. The provinces enrol and are approved through the real commands; cn-11 is
seeded with 1500 sample resources and cn-44 with 200 (different seeds), and the fixture waits until
every node holds all of them. A copy of cn-44's state taken right after its enrolment (same identity,
nothing pulled yet) is kept for the fault-injection test.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import servers
from tests.federation_e2e.cluster import (
    ROOT,
    Node,
    node_from_template,
    prepare_template,
    sqlite_copy,
    wait_until,
)

SEED = {"cn-11": (1500, 11), "cn-44": (200, 44)}


def pytest_collection_modifyitems(items):
    """Every test here runs real nodes on their own SQLite databases, whatever the lane's database."""
    for item in items:
        if "federation_e2e" in str(item.path):
            item.add_marker(pytest.mark.nodes)


@dataclass
class Cluster:
    hub: Node
    p11: Node
    p44: Node
    base: Path
    fault_seed: Path  # cn-44's data dir right after enrolment

    @property
    def nodes(self) -> list[Node]:
        return [self.hub, self.p11, self.p44]

    def total(self) -> int:
        return sum(n for n, _ in SEED.values())


def _published_count(node: Node) -> int:
    response = node.api("GET", "/api/v1/resources?page_size=1")
    return response.json()["count"] if response.status_code == 200 else -1


def _enrol(province: Node, hub: Node, hub_fingerprint: str) -> None:
    out = province.manage("federation", "enrol", "--hub", hub.url, "--hub-fingerprint", hub_fingerprint).stdout
    fingerprint = json.loads(province.manage("node_init", "--json").stdout)["fingerprint"]
    assert fingerprint in out
    hub.manage("federation", "approve", province.node_id, "--fingerprint", fingerprint)
    province.manage("federation", "enrol", "--hub", hub.url, "--wait", "--timeout", "30")


def _seed(node: Node, base: Path) -> None:
    n, seed = SEED[node.node_id]
    corpus = base / f"{node.node_id}.jsonl"
    subprocess.run([sys.executable, "-m", "catalog.sampledata", "--n", str(n), "--seed", str(seed),
                    "--out", str(corpus)], cwd=ROOT, check=True, timeout=120)
    node.manage("import_corpus", str(corpus), "--no-progress", "--placeholder-files", "--free-for",
                "rural,remote")  # signs into the feed


@pytest.fixture(scope="session")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    base = tmp_path_factory.mktemp("federation-e2e")
    template = prepare_template(base / "template")
    ports = servers.free_ports(3)
    # A short total deadline at the hub, so that the hostile-peer tests see a dribbling peer cut off soon.
    hub = Node("cn-hub", "hub", ports[0], base / "cn-hub", extra_env={"FEDERATION_REQUEST_DEADLINE": "8"})
    p11 = Node("cn-11", "province", ports[1], base / "cn-11", hub_url=hub.url)
    p44 = Node("cn-44", "province", ports[2], base / "cn-44", hub_url=hub.url)
    nodes = [hub, p11, p44]
    try:
        for node in nodes:
            node_from_template(template, node)
            node.manage("seed_demo")
            node.manage("node_init")
            node.start()
        hub_fingerprint = json.loads(hub.manage("node_init", "--json").stdout)["fingerprint"]
        for province in (p11, p44):
            _enrol(province, hub, hub_fingerprint)
        fault_seed = base / "cn-44-fault-seed"
        fault_seed.mkdir()
        sqlite_copy(p44.data_dir / "exchange.sqlite3", fault_seed / "exchange.sqlite3")
        for name in ("node_key.pem", "secret_key"):
            shutil.copy2(p44.data_dir / name, fault_seed / name)
        for province in (p11, p44):
            _seed(province, base)
        for node in nodes:
            node.start_loop()
        total = sum(n for n, _ in SEED.values())
        for node in nodes:
            wait_until(lambda node=node: _published_count(node) == total, timeout=90, interval=0.5,
                       what=f"{node.node_id} to hold all {total} seeded resources")
        yield Cluster(hub=hub, p11=p11, p44=p44, base=base, fault_seed=fault_seed)
    finally:
        for node in nodes:
            node.stop()
