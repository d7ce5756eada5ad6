"""``make demo-nation LEVELS=1`` (``federation_demo.py --nation --cities``): cities below some provinces and
a county below some of those cities, enrolled level by level, converging like the flat nation demo."""

from __future__ import annotations

import importlib.util
import random
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.federation_e2e.cluster import ROOT, base_env

DEMO = ROOT / "deploy" / "demo" / "federation_demo.py"


def _demo():
    spec = importlib.util.spec_from_file_location("federation_demo", DEMO)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_cities_and_counties_sit_below_their_provinces_on_ports_of_their_own(tmp_path):
    """Every city and county of the kept provinces is there, after its parent, inside its parent's region,
    on a port no other node has; provinces left out (``--provinces``) bring no cities."""
    demo = _demo()
    provinces = [demo.DemoNode(f"cn-{code}", "province", 9001 + i, tmp_path / code, 10, int(code), hub_port=9000)
                 for i, code in enumerate(demo.NATION[:3])]  # Beijing, Tianjin, Hebei
    below = demo.nation_cities(provinces, sample=10, hub_port=9000, root=tmp_path)
    assert [(n.node_id, n.role, n.parent.node_id) for n in below] == [
        ("cn-1301", "city", "cn-13"), ("cn-130102", "county", "cn-1301")]
    everything = demo.nation_cities([demo.DemoNode(f"cn-{code}", "province", 9001 + i, tmp_path / code, 10, 1)
                                     for i, code in enumerate(demo.NATION)], sample=10, hub_port=9000, root=tmp_path)
    ports = [9000, *range(9001, 9001 + len(demo.NATION)), *(n.port for n in everything)]
    assert len(set(ports)) == len(ports)
    order = [n.node_id for n in everything]
    for node in everything:
        parent_code = node.parent.node_id.removeprefix("cn-")
        assert node.node_id.removeprefix("cn-").startswith(parent_code)
        assert node.parent.role == "province" or order.index(node.parent.node_id) < order.index(node.node_id)
    assert {n.role for n in everything} == {"city", "county"}


def _free_run(n: int) -> int:
    """The first of ``n`` consecutive free loopback ports (the demo puts its nodes on consecutive ports),
    below the kernel's range of ephemeral ports, which outgoing connections take meanwhile."""
    ephemeral = Path("/proc/sys/net/ipv4/ip_local_port_range")
    low = int(ephemeral.read_text().split()[0]) if ephemeral.exists() else 32768
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(10000, low - n)
        socks = []
        try:
            for port in range(base, base + n):
                sock = socket.socket()
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError(f"no {n} consecutive free ports")


@pytest.mark.slow
@pytest.mark.nodes
def test_the_nation_demo_with_cities_converges(tmp_path: Path):
    """The hub, Beijing, Tianjin and Hebei, Shijiazhuang below Hebei and its district below it: enrolled
    level by level (each with its own parent), seeded, some records withdrawn at their origin and one taken
    down by national order, until every node holds the same catalog (``--until-converged``: the demo's own
    check, which also compares ``federation digest`` everywhere)."""
    nodes = 6
    env = {k: v for k, v in base_env().items() if k != "DJANGO_SETTINGS_MODULE"}
    proc = subprocess.run(
        [sys.executable, str(DEMO), "--nation", "--cities", "--provinces", "3", "--until-converged", "--fresh",
         "--root", str(tmp_path / "demo"), "--hub-port", str(_free_run(nodes)), "--sample", "6",
         "--interval", "3", "--parallel", "3", "--timeout", "900"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "cn-1301: enrolled with cn-13" in out and "cn-130102: enrolled with cn-1301" in out
    assert "converged in" in out and "manage.py federation digest everywhere" in out
