"""The federation demos (``deploy/demo/federation_demo.py``, ``make demo-nation UNTIL_CONVERGED=1``) run for
real on free loopback ports: a hub and a province set up, enrolled after the fingerprint check, seeded with
placeholder sample files, some records taken down, until both hold the same catalog; and the runner that
gives a node's management commands one Python process (``deploy/demo/node_steps.py``)."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import re
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.node_processes import node_env

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "deploy" / "demo"


def _nation_bench():
    spec = importlib.util.spec_from_file_location("nation_bench", ROOT / "bench" / "nation_bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _steps(data_dir: Path, steps: list[list[str]]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(DEMO / "node_steps.py"), json.dumps(steps)], cwd=ROOT, text=True,
                          capture_output=True, timeout=300, env=node_env(data_dir, EXCHANGE_NODE_ID="cn-11"))


def test_node_steps_run_in_one_process_in_order_and_stop_at_the_first_failure(tmp_path):
    first, second, never = (tmp_path / f"{name}.jsonl" for name in ("first", "second", "never"))
    proc = _steps(tmp_path, [["sampledata", "--n", "3", "--seed", "7", "--out", str(first)],
                             ["sampledata", "--n", "2", "--seed", "8", "--out", str(second)],
                             ["import_corpus", str(tmp_path / "missing.jsonl"), "--no-progress"],
                             ["sampledata", "--n", "1", "--out", str(never)]])
    reports = [json.loads(line) for line in proc.stdout.splitlines()]
    assert proc.returncode == 3, proc.stderr
    assert [r["step"] for r in reports] == [0, 1, 2]
    assert all(r["seconds"] >= 0 for r in reports[:2]) and "error" not in reports[0]
    assert "import_corpus" in reports[2]["error"] and "missing.jsonl" in reports[2]["error"]
    assert len(first.read_text().splitlines()) == 3 and len(second.read_text().splitlines()) == 2
    assert not never.exists()  # nothing runs after the failed step


def test_node_steps_refuse_what_is_not_a_list_of_commands(tmp_path):
    proc = _steps(tmp_path, [])
    assert proc.returncode == 0 and proc.stdout == ""
    bad = subprocess.run([sys.executable, str(DEMO / "node_steps.py"), json.dumps([["seed_demo"], "node_init"])],
                         cwd=ROOT, text=True, capture_output=True, timeout=120, env=node_env(tmp_path))
    assert bad.returncode == 2 and "list" in bad.stderr


def _two_free_ports() -> int:
    """A port whose successor is free too (the demo puts the province on the hub's port + 1)."""
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port < 65535:
            with socket.socket() as hub, socket.socket() as province:
                try:
                    hub.bind(("127.0.0.1", port))
                    province.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
                return port
    raise RuntimeError("no two consecutive free ports")


@pytest.mark.nodes
@pytest.mark.slow
def test_nation_demo_until_converged_with_placeholder_files_and_phase_timings(tmp_path):
    root = tmp_path / "nation"
    # As `make demo-nation` runs it: the demo decides about previews, pokes run in background threads.
    env = {k: v for k, v in node_env(tmp_path).items() if k not in ("CATALOG_PREVIEWS_AUTO", "FEDERATION_BACKGROUND")}
    proc = subprocess.run([sys.executable, str(DEMO / "federation_demo.py"), "--nation", "--until-converged",
                           "--fresh", "--root", str(root), "--provinces", "1", "--sample", "3", "--timeout", "600",
                           "--hub-port", str(_two_free_ports())], cwd=ROOT, text=True, capture_output=True,
                          timeout=900, env=env)
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-3000:]
    assert "sample files: tiny placeholder files, no previews" in out
    assert "cn-11: enrolled with cn-hub (approved by its operator after the fingerprint check)" in out
    assert "cn-11: seeded with 3 sample resources (seed 11, placeholder files)" in out
    # One record withdrawn at its origin (every fourth province, starting with the first): 2 left everywhere.
    assert "manage.py federation digest everywhere: 2 records" in out
    phases = next(line for line in out.splitlines() if line.startswith("phases: "))
    for phase in ("setup of the hub", "setup, enrolment and seeding of the provinces", "takedowns",
                  "sync until every node holds the same catalog", "check with manage.py federation digest"):
        assert f"{phase} " in phases, phases
    steps = next(line for line in out.splitlines() if line.startswith("time in each kind of step"))
    for step in ("seed_demo", "import_corpus", "federation enrol", "(process starts)"):
        assert step in steps, steps
    with contextlib.closing(sqlite3.connect(root / "cn-hub" / "exchange.sqlite3")) as db:  # approved on the hub
        assert db.execute("SELECT status, fingerprint FROM federation_enrolment WHERE node_id = 'cn-11'").fetchall() == [
            ("approved", re.search(r"cn-11: enrolled with cn-hub .*, fingerprint ([0-9A-F ]+)$", out, re.M).group(1))]
    assert "converged in " in out and "peak memory " in out
    # The benchmark (bench/nation_bench.py) reads the same output: the figures and the phases.
    figures = _nation_bench().figures(proc.stdout, proc.stderr, proc.returncode)
    assert figures["converged_s"] > 0 and figures["peak_memory_mib"] > 0 and figures["records"] == 2
    assert figures["phases"] == phases.removeprefix("phases: ") and "phases: " in figures["summary"][-1]
    assert "import_corpus" in figures["step_time_summed_over_nodes"]
    for node in ("cn-hub", "cn-11"):  # every stored sample file is a placeholder, and no preview was made
        with contextlib.closing(sqlite3.connect(root / node / "exchange.sqlite3")) as db:
            sizes = [size for (size,) in db.execute(
                "SELECT f.size FROM catalog_resourcefile f JOIN catalog_resource r ON r.id = f.resource_id "
                "WHERE r.origin_node = 'cn-11'")]
            previews = db.execute("SELECT count(*) FROM catalog_filepreview").fetchone()[0]
        assert len(sizes) == 3 and all(0 < size < 2_000 for size in sizes), (node, sizes)
        assert previews == 0, node
