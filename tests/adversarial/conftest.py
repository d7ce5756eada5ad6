"""Crash tests: real node processes (``tests.federation_e2e.cluster``) killed with SIGKILL at random
moments or at injected crash points, then resumed and checked.

``CRASH_RUNS`` sets the number of kills per scenario (default 3, the ``make test`` lane; run
``CRASH_RUNS=20 python -m pytest tests/adversarial -m slow`` for the long mode) and ``CRASH_SEED``
the seed of the random kill moments (default: a fresh one, printed with every failure)."""

from __future__ import annotations

import json
import os
import random
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.federation_e2e.cluster import ROOT, Node, node_from_template, prepare_template

CRASH_RUNS = int(os.environ.get("CRASH_RUNS", "3"))


@pytest.fixture(scope="session")
def crash_template(tmp_path_factory) -> Path:
    """A migrated database with the vocabularies loaded, copied into every node."""
    return prepare_template(tmp_path_factory.mktemp("crash-template"))


@pytest.fixture
def crash_seed() -> int:
    seed = int(os.environ.get("CRASH_SEED") or secrets.randbelow(2**31))
    print(f"CRASH_SEED={seed}")  # shown with a failure: rerun with CRASH_SEED=… to replay the kill moments
    return seed


@pytest.fixture
def crash_rng(crash_seed) -> random.Random:
    return random.Random(crash_seed)


@pytest.fixture
def make_node(crash_template, tmp_path) -> Callable[..., Node]:
    """``make_node(node_id, role, port=0, hub_url="", name="")``: a node from the template with demo
    accounts, in ``tmp_path/(name or node_id)``."""
    made: list[Node] = []

    def make(node_id: str, role: str = "province", *, port: int = 0, hub_url: str = "", name: str = "",
             **extra_env: str) -> Node:
        node = node_from_template(crash_template, Node(node_id, role, port, tmp_path / (name or node_id),
                                                       hub_url=hub_url,
                                                       extra_env={"FEDERATION_BACKGROUND": "0", **extra_env}))
        node.manage("seed_demo")
        made.append(node)
        return node

    yield make
    for node in made:
        node.stop()


def action(node: Node, *args: str, check: bool = True, **extra_env: str) -> list[dict[str, Any]]:
    """Run ``tests.adversarial.actions`` against the node; its JSON lines."""
    proc = subprocess.run([sys.executable, "-m", "tests.adversarial.actions", *args], env=node.env(**extra_env),
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise RuntimeError(f"actions {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def spawn_action(node: Node, *args: str, log: str, **extra_env: str) -> subprocess.Popen:
    handle = open(node.data_dir / log, "ab")  # noqa: SIM115 - owned by the process
    return subprocess.Popen([sys.executable, "-m", "tests.adversarial.actions", *args], env=node.env(**extra_env),
                            cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT)


def index_report(node: Node) -> dict[str, Any]:
    """``manage.py index_verify`` on the node (no drain): the JSON report."""
    proc = node.manage("index_verify", check=False)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def ledger_ok(node: Node) -> str:
    return node.manage("ledger_verify").stdout.strip()
