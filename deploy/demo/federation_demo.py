"""``make demo-federation``: a national hub and provinces on this machine, syncing until Ctrl-C.

Starts hub ``cn-hub`` on 127.0.0.1:8100 and provinces ``cn-11`` (北京, :8101) and ``cn-44`` (广东,
:8102) on embedded defaults, each with its own data dir and SQLite database under ``var/demo/``.
First run: migrate, vocabularies, demo accounts, node keys; each province enrols with the hub and the
hub approves it after the fingerprint check (done automatically here); each province is seeded with
different sample resources. Every run: web servers plus a ``federation sync --loop`` per node.
Publish in one province (web page or API) and find the resource in the other within seconds.

``--nation`` starts the hub and 32 provinces (ports 8101…) with smaller samples (``make demo-nation``).
``--levels`` starts five levels' worth of nodes (``make demo-levels``): the hub on :8100, Guangdong
``cn-44`` on :8101, Guangzhou ``cn-4401`` on :8102, Tianhe district ``cn-440106`` on :8103 and Beijing
``cn-11`` on :8104, enrolled level by level — each parent approves its child after the fingerprint
check — and syncing until Ctrl-C; a record published at the county is found in Beijing.
Running it again reuses the data; ``--fresh`` starts over.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MANAGE = str(ROOT / "manage.py")
HUB_PORT = 8100
#: Province node ids (GB/T 2260 province prefixes) of the nation-wide demo, in port order.
NATION = ["11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41",
          "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "66"]
STRIPPED_ENV = ("DATABASE_URL", "REDIS_URL", "ELASTICSEARCH_URL", "S3_BUCKET", "EXCHANGE_DATA_DIR",
                "EXCHANGE_NODE_ID", "EXCHANGE_NODE_ROLE", "EXCHANGE_BASE_URL", "EXCHANGE_NODE_REGION",
                "FEDERATION_HUB_URL")


@dataclass
class DemoNode:
    node_id: str
    role: str
    port: int
    data_dir: Path
    sample: int = 0
    seed: int = 0
    parent: DemoNode | None = None
    procs: list[subprocess.Popen] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in STRIPPED_ENV}
        env.update(EXCHANGE_DATA_DIR=str(self.data_dir), EXCHANGE_NODE_ID=self.node_id, EXCHANGE_NODE_ROLE=self.role,
                   EXCHANGE_BASE_URL=self.url, FEDERATION_HUB_URL=f"http://127.0.0.1:{HUB_PORT}",
                   PYTHONUNBUFFERED="1", LOG_LEVEL=os.environ.get("LOG_LEVEL", "WARNING"))
        if self.role == "hub":
            env["EXCHANGE_NODE_REGION"] = "110000"  # the ministry's hub sits in Beijing
        return env

    def manage(self, *args: str, quiet: bool = True) -> str:
        proc = subprocess.run([sys.executable, MANAGE, *args], env=self.env(), cwd=ROOT, text=True,
                              capture_output=True)
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout + proc.stderr)
            raise SystemExit(f"{self.node_id}: manage.py {' '.join(args)} failed")
        if not quiet:
            print(proc.stdout, end="")
        return proc.stdout

    def spawn(self, *args: str, log: str) -> subprocess.Popen:
        handle = open(self.data_dir / log, "ab")  # noqa: SIM115 - owned by the child process
        proc = subprocess.Popen([sys.executable, MANAGE, *args], env=self.env(), cwd=ROOT, stdout=handle,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        return proc


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server for {url} exited (see its server.log)")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - loopback
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {timeout}s")


def setup(node: DemoNode) -> None:
    first = not (node.data_dir / "exchange.sqlite3").exists()
    node.data_dir.mkdir(parents=True, exist_ok=True)
    node.manage("migrate", "--noinput", "-v0")
    if first:
        node.manage("load_vocabularies")
    node.manage("seed_demo")
    node.manage("node_init")


def enrolled(province: DemoNode) -> bool:
    status = json.loads(province.manage("federation", "identity", "--json"))
    return bool(status.get("certificate_not_after"))


def enrol(province: DemoNode, hub: DemoNode, hub_fingerprint: str) -> None:
    """Enrol a node with its parent (the hub unless it has another): pin the hub's key by the fingerprint
    its operator published, send the request; the parent's operator approves after comparing the node's
    fingerprint."""
    parent = province.parent or hub
    where = ["--hub", hub.url] if parent is hub else ["--parent", parent.url]
    province.manage("federation", "enrol", *where, "--hub-fingerprint", hub_fingerprint)
    fingerprint = json.loads(province.manage("node_init", "--json"))["fingerprint"]
    # The parent's operator compares this fingerprint with the one the child's operator reads out.
    parent.manage("federation", "approve", province.node_id, "--fingerprint", fingerprint)
    province.manage("federation", "enrol", *where, "--wait", "--timeout", "60")
    print(f"  {province.node_id}: enrolled with {parent.node_id}, fingerprint {fingerprint}")


def seed(node: DemoNode) -> None:
    stats = node.manage("federation", "identity", "--json")
    if json.loads(stats)["outbox_entries_own"] > 0 or node.sample <= 0:
        return
    corpus = node.data_dir / "sample.jsonl"
    subprocess.run([sys.executable, "-m", "catalog.sampledata", "--n", str(node.sample), "--seed", str(node.seed),
                    "--out", str(corpus)], cwd=ROOT, check=True, env=node.env())
    node.manage("import_corpus", str(corpus), "--no-progress", "--free-for", "rural,remote,poor,ethnic_minority")
    print(f"  {node.node_id}: seeded with {node.sample} sample resources (seed {node.seed})")


def wait_for_record(origin: DemoNode, reader: DemoNode, timeout: float = 300) -> int:
    """How many published records of ``origin`` ``reader`` holds, once it holds any (or 0 after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        digest = json.loads(reader.manage("federation", "digest", "--origin", origin.node_id))
        if digest.get("count"):
            return int(digest["count"])
        time.sleep(3)
    return 0


def accounts(node: DemoNode) -> list[tuple[str, str]]:
    path = node.data_dir / "demo_accounts.txt"
    return [tuple(line.split(" ", 1)) for line in path.read_text().splitlines() if line.strip()]  # type: ignore[misc]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(ROOT / "var" / "demo"), help="where the nodes' data dirs live")
    parser.add_argument("--fresh", action="store_true", help="delete previous demo data first")
    parser.add_argument("--nation", action="store_true", help="hub + 32 provinces")
    parser.add_argument("--levels", action="store_true",
                        help="hub, cn-44, its city cn-4401, its county cn-440106, and cn-11 (ports 8100-8104)")
    parser.add_argument("--sample", type=int, default=None, help="sample resources per province")
    parser.add_argument("--interval", type=float, default=10, help="seconds between scheduled pulls")
    args = parser.parse_args(argv)
    root = Path(args.root)
    if args.fresh and root.exists():
        shutil.rmtree(root)
    hub = DemoNode("cn-hub", "hub", HUB_PORT, root / "cn-hub")
    if args.nation:
        sample = 200 if args.sample is None else args.sample
        provinces = [DemoNode(f"cn-{code}", "province", HUB_PORT + 1 + i, root / f"cn-{code}", sample, int(code))
                     for i, code in enumerate(NATION)]
    elif args.levels:
        sample = 150 if args.sample is None else args.sample
        gd = DemoNode("cn-44", "province", 8101, root / "cn-44", sample, 44)
        gz = DemoNode("cn-4401", "city", 8102, root / "cn-4401", sample, 4401, parent=gd)
        th = DemoNode("cn-440106", "county", 8103, root / "cn-440106", sample, 440106, parent=gz)
        bj = DemoNode("cn-11", "province", 8104, root / "cn-11", sample, 11)
        provinces = [gd, gz, th, bj]  # enrolled in this order: each parent before its child
    else:
        sample = 600 if args.sample is None else args.sample
        provinces = [DemoNode("cn-11", "province", 8101, root / "cn-11", sample, 11),
                     DemoNode("cn-44", "province", 8102, root / "cn-44", sample + 200, 44)]
    nodes = [hub, *provinces]
    busy = [n.port for n in nodes if not port_free(n.port)]
    if busy:
        print(f"ports in use: {busy}; stop whatever listens there first", file=sys.stderr)
        return 1

    def shutdown(*_: object) -> None:
        for node in nodes:
            for proc in node.procs:
                if proc.poll() is None:
                    proc.terminate()
        for node in nodes:
            for proc in node.procs:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        print("\nstopped; data kept in", root)
        raise SystemExit(0)

    signal.signal(signal.SIGINT, shutdown)
    signal.signal(signal.SIGTERM, shutdown)
    print(f"setting up {len(nodes)} nodes in {root} …")
    for node in nodes:
        setup(node)
    for node in nodes:
        wait_http(f"{node.url}/healthz", node.spawn("runserver", "--noreload", f"127.0.0.1:{node.port}",
                                                     log="server.log"))
    hub_fingerprint = json.loads(hub.manage("node_init", "--json"))["fingerprint"]
    print(f"hub cn-hub key fingerprint: {hub_fingerprint}")
    for province in provinces:
        if not enrolled(province):
            enrol(province, hub, hub_fingerprint)
    for province in provinces:
        seed(province)
    for node in nodes:
        node.spawn("federation", "sync", "--loop", "--interval", str(args.interval), log="sync.log")

    print("\nThe federation is running (Ctrl-C stops it):")
    for node in nodes:
        print(f"  {node.node_id:<7} {node.role:<8} {node.url}   (search {node.url}/search?q=有理数, "
              f"API docs {node.url}/api/docs/, status: /api/v1/federation/peers)")
    for node in [hub, *provinces[:2]] if not args.levels else [hub, provinces[2], provinces[3]]:
        print(f"\nDemo accounts of {node.node_id} (also in {node.data_dir / 'demo_accounts.txt'}):")
        for username, password in accounts(node):
            print(f"  {username:<16} {password}")
    first, other = (provinces[2], provinces[3]) if args.levels else (provinces[0], provinces[1])
    if args.levels:
        print("\nThe tree: cn-hub ← cn-44 ← cn-4401 ← cn-440106, and cn-hub ← cn-11 (each certified by its parent; "
              "operators see their subtree at <node>/hub/)")
        print(f"\nWaiting until {other.node_id} finds a record of {first.node_id} …")
        sys.stdout.flush()
        found = wait_for_record(first, other)
        print(f"  {other.node_id} holds {found} records of {first.node_id} (relayed county → city → province → hub → "
              f"{other.node_id}); search {other.url}/search?q=有理数&origin={first.node_id}")
    print(f"\nTry: publish in {first.node_id} ({first.url}, as publisher then reviewer) and search for it in "
          f"{other.node_id} ({other.url}) a few seconds later.\n"
          f"Sync status: EXCHANGE_DATA_DIR={hub.data_dir} EXCHANGE_NODE_ID=cn-hub EXCHANGE_NODE_ROLE=hub "
          f"python manage.py federation status   (logs: <data dir>/server.log, sync.log)")
    sys.stdout.flush()
    while True:
        time.sleep(2)
        for node in nodes:
            for proc in node.procs:
                if proc.poll() is not None:
                    print(f"{node.node_id}: a process exited ({proc.args[2:4]}); see its logs", file=sys.stderr)
                    node.procs.remove(proc)


if __name__ == "__main__":
    sys.exit(main())
