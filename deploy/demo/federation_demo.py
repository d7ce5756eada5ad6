"""``make demo-federation``: a national hub and provinces on this machine, syncing until Ctrl-C.

Starts hub ``cn-hub`` on 127.0.0.1:8100 and provinces ``cn-11`` (北京, :8101) and ``cn-44`` (广东,
:8102) on embedded defaults, each with its own data dir and SQLite database under ``var/demo/``.
First run: migrate, vocabularies, demo accounts, node keys; each province enrols with the hub and the
hub approves it after the fingerprint check (done automatically here); each province is seeded with
different sample resources. Every run: web servers plus a ``federation sync --loop`` per node.
Publish in one province (web page or API) and find the resource in the other within seconds.

``--nation`` starts the hub and 32 provinces (ports 8101…) with smaller samples (``make demo-nation``),
whose sample records get tiny placeholder files of which no previews are made (``--real-files`` to have real
documents, rendered by LibreOffice and ffmpeg: a federation demo does not need them, and rendering them
on every province cost most of its setup time; the other demos keep real files). A new node's commands
(demo accounts, node key, enrolment request, waiting for the certificate, sample corpus, import) run in
one Python process (``node_steps.py``) instead of one ``manage.py`` start each; while it waits, the
parent's operator approves its request over the parent's API (``/api/v1/federation/enrolments/…/approve``,
as ``hub_operator``) after the fingerprint check; the provinces' servers skip Django's system checks,
which the hub's server runs. The output says how long each phase took and where the step time went.
``--levels`` starts five levels' worth of nodes (``make demo-levels``): the hub on :8100, Guangdong
``cn-44`` on :8101, Guangzhou ``cn-4401`` on :8102, Tianhe district ``cn-440106`` on :8103 and Beijing
``cn-11`` on :8104, enrolled level by level — each parent approves its child after the fingerprint
check — and syncing until Ctrl-C; a record published at the county is found in Beijing.
Running it again reuses the data; ``--fresh`` starts over.

``--nation --cities`` (``make demo-nation LEVELS=1``) adds Shijiazhuang ``cn-1301`` below Hebei with its
district ``cn-130102``, Guangzhou ``cn-4401`` below Guangdong with Tianhe ``cn-440106``, and Chengdu
``cn-5101`` below Sichuan (ports after the provinces'; only below the provinces ``--provinces`` keeps),
each enrolled with its parent once the parent is certified, and seeded like a province.

``--until-converged`` (``make demo-nation UNTIL_CONVERGED=1``) does not stay up: it seeds every province
(``--sample`` resources each, a few hundred in all), withdraws some of them at their origin and has the
hub uphold national takedowns of some others, then waits until every node holds the same catalog digest
and the expected number of records, prints ``converged in N s, peak memory M MiB`` (or what failed), stops
every process it started and exits (non-zero on failure or after ``--timeout`` seconds). The catalog
digest of a node (``catalog_digest`` below) is the SHA-256 over the sorted lines ``origin id version`` of
its published records, one per line: a withdrawn or taken-down record is absent. When the digests agree
every node is checked once more with ``manage.py federation digest`` (which covers each record's content).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
MANAGE = str(ROOT / "manage.py")
NODE_STEPS = str(Path(__file__).resolve().parent / "node_steps.py")
#: Seconds spent in each kind of step (``DemoNode.steps``), summed over the nodes: where setup time goes.
STEP_SECONDS: dict[str, float] = {}
STEP_LOCK = threading.Lock()
HUB_PORT = 8100
#: Province node ids (GB/T 2260 province prefixes) of the nation-wide demo, in port order.
NATION = ["11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41",
          "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "66"]
#: ``--nation --cities`` (``make demo-nation LEVELS=1``): cities below some provinces and a county below some
#: of those cities (GB/T 2260 codes), enrolled level by level with their parents; each seeded like a province.
NATION_CITIES = {"13": {"1301": ["130102"]}, "44": {"4401": ["440106"]}, "51": {"5101": []}}
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
    hub_port: int = HUB_PORT
    new: bool = False  # set up from the template in this run: not enrolled, not seeded
    fingerprint: str = ""  # of the node's key, as its operator reads it out to the parent's
    enrolled: bool = False  # holds a certificate from its parent
    seeded: bool = False  # has resources of its own in its feed
    procs: list[subprocess.Popen] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in STRIPPED_ENV}
        env.update(EXCHANGE_DATA_DIR=str(self.data_dir), EXCHANGE_NODE_ID=self.node_id, EXCHANGE_NODE_ROLE=self.role,
                   EXCHANGE_BASE_URL=self.url, FEDERATION_HUB_URL=f"http://127.0.0.1:{self.hub_port}",
                   PYTHONUNBUFFERED="1", LOG_LEVEL=os.environ.get("LOG_LEVEL", "WARNING"))
        if self.role == "hub":
            env["EXCHANGE_NODE_REGION"] = "110000"  # the ministry's hub sits in Beijing
        return env

    def steps(self, *steps: list[str], on_step: Callable[[int, list[str]], None] | None = None) -> list[str]:
        """Run ``steps`` (management commands with their arguments; ``["sampledata", ...]`` for the sample
        generator) in one process (``node_steps.py``): one Python start instead of one per command. Returns
        each step's standard output; their run times add up in ``STEP_SECONDS``. ``on_step(i, outputs)`` is
        called as soon as step ``i`` is done, while the process goes on with the next ones."""
        outputs: list[str] = []
        attempt = 0
        while len(outputs) < len(steps):
            done_before = len(outputs)
            todo = list(steps[done_before:])
            began = time.monotonic()
            with tempfile.TemporaryFile("w+") as errors:
                proc = subprocess.Popen([sys.executable, NODE_STEPS, json.dumps(todo)], env=self.env(), cwd=ROOT,
                                        text=True, stdout=subprocess.PIPE, stderr=errors)
                in_steps = 0.0
                error = ""
                assert proc.stdout is not None
                with proc:
                    try:
                        for line in proc.stdout:
                            report = json.loads(line) if line.startswith("{") else {}
                            if "error" in report:
                                error = report["error"]
                            elif "seconds" in report:
                                outputs.append(report["stdout"])
                                step = todo[report["step"]]
                                with STEP_LOCK:
                                    name = " ".join(step[:2 if step[0] == "federation" else 1])
                                    STEP_SECONDS[name] = STEP_SECONDS.get(name, 0.0) + report["seconds"]
                                in_steps += report["seconds"]
                                if on_step is not None:
                                    on_step(len(outputs) - 1, outputs)
                    except BaseException:  # the operator's part failed: the node's process stops too
                        proc.kill()
                        raise
                errors.seek(0)
                stderr = errors.read()
            with STEP_LOCK:  # the rest is the process: Python, Django and the apps starting
                STEP_SECONDS["(process starts)"] = (STEP_SECONDS.get("(process starts)", 0.0)
                                                    + time.monotonic() - began - in_steps)
            if proc.returncode == 0 and len(outputs) == len(steps):
                break
            # Nodes are set up side by side: another process may hold the hub's database for a moment.
            # The steps before the failed one are done; the failed one is tried again (they are idempotent).
            if "database is locked" not in error + stderr or attempt == 3:
                sys.stderr.write(stderr[-4000:] + error[-4000:])
                failed = todo[min(len(outputs) - done_before, len(todo) - 1)]
                raise SystemExit(f"{self.node_id}: {' '.join(failed)} failed")
            attempt += 1
            time.sleep(1 + attempt)
        return outputs

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


class Phases:
    """Wall-clock time of each phase of a run, printed as one line (``phases: setup … s, …``)."""

    def __init__(self) -> None:
        self.mark, self.laps = time.monotonic(), []  # type: ignore[var-annotated]

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.laps.append((name, now - self.mark))
        self.mark = now

    def line(self) -> str:
        phases = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in self.laps)
        with STEP_LOCK:
            steps = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in
                              sorted(STEP_SECONDS.items(), key=lambda item: -item[1]))
        return f"phases: {phases}\ntime in each kind of step, summed over the nodes: {steps}"


def template_ensure(nodes: list[DemoNode], root: Path) -> Path | None:
    """A database migrated and with the vocabularies (nothing node-specific) for the nodes set up in this run,
    made once (one process); None when every node already has its database."""
    if all((node.data_dir / "exchange.sqlite3").exists() for node in nodes):
        return None
    template_node = DemoNode("cn-template", "province", 0, root / ".template")
    if not (template_node.data_dir / "exchange.sqlite3").exists():
        template_node.data_dir.mkdir(parents=True, exist_ok=True)
        template_node.steps(["migrate", "--noinput", "-v0"], ["load_vocabularies"])
    return template_node.data_dir / "exchange.sqlite3"


def database_from_template(node: DemoNode, template: Path | None) -> list[list[str]]:
    """Give a new node its database, a copy of ``template`` (migrated, with the vocabularies); the steps that
    make or update the database otherwise."""
    database = node.data_dir / "exchange.sqlite3"
    first = not database.exists()
    node.data_dir.mkdir(parents=True, exist_ok=True)
    if first and template is not None:
        with contextlib.closing(sqlite3.connect(template)) as src, contextlib.closing(sqlite3.connect(database)) as dst:
            src.backup(dst)
        node.new = True  # the template is migrated
        return []
    return [["migrate", "--noinput", "-v0"], *([["load_vocabularies"]] if first else [])]


def prepare(node: DemoNode, template: Path | None) -> None:
    """Set up the hub, or a node set up in an earlier run, in one process: its database, the demo accounts,
    its node key; for a node of an earlier run, whether it is enrolled and has resources of its own."""
    steps = [*database_from_template(node, template), ["seed_demo"], ["node_init", "--json"]]
    if not node.new:
        steps.append(["federation", "identity", "--json"])
    outputs = node.steps(*steps)
    node.fingerprint = json.loads(outputs[len(steps) - (1 if node.new else 2)])["fingerprint"]
    if not node.new:
        status = json.loads(outputs[-1])
        node.enrolled = bool(status.get("certificate_not_after"))
        node.seeded = status.get("outbox_entries_own", 0) > 0


class Operator:
    """A parent node's operator at work over its node's API (the hub's for a province, a province's for its
    cities …), as the demo account ``hub_operator`` (the node's federation operator)."""

    def __init__(self, node: DemoNode) -> None:
        self.node, self.lock, self.token = node, threading.Lock(), ""

    def headers(self) -> dict[str, str]:
        with self.lock:
            if not self.token:
                self.token = api_token(self.node, "hub_operator")
        return {"Authorization": f"Token {self.token}"}

    def approve(self, child: DemoNode) -> None:
        """Approve the pending request of ``child`` after comparing its key's fingerprint with the one the
        child's operator read out (here: what the child's ``node_init`` printed); the parent refuses a
        request whose key has another fingerprint."""
        base = f"{self.node.url}/api/v1/federation/enrolments"
        problem = ""
        for attempt in range(5):
            listing = requests.get(base, params={"status": "pending"}, headers=self.headers(), timeout=120)
            if listing.ok:
                ids = [row["id"] for row in listing.json()["results"] if row["node_id"] == child.node_id]
                if not ids:
                    raise SystemExit(f"{self.node.node_id}: no pending enrolment request of {child.node_id}")
                response = requests.post(f"{base}/{max(ids)}/approve", json={"fingerprint": child.fingerprint},
                                         headers=self.headers(), timeout=120)
                if response.ok:
                    return
                if response.status_code < 500:
                    raise SystemExit(f"{self.node.node_id}: approving {child.node_id} was refused: "
                                     f"{response.status_code} {response.text[:300]}")
                problem = f"{response.status_code} {response.text[:300]}"
            else:
                problem = f"{listing.status_code} {listing.text[:300]}"
            time.sleep(1 + attempt)  # the parent's database was busy for a moment
        raise SystemExit(f"{self.node.node_id}: approving {child.node_id} failed: {problem}")


def seed_steps(node: DemoNode, *, placeholder_files: bool) -> list[list[str]]:
    """The steps that give a province its own ``node.sample`` sample resources (unless it has some): the
    generator (seeded by ``node.seed``, so each province gets different records) and ``import_corpus``, which
    publishes them and signs each into the node's feed. ``placeholder_files``: a tiny valid file per record,
    of which no previews are made, instead of a real document (the nation demo: it shows the federation)."""
    if node.sample <= 0 or node.seeded:
        return []
    corpus = node.data_dir / "sample.jsonl"
    return [["sampledata", "--n", str(node.sample), "--seed", str(node.seed), "--out", str(corpus)],
            ["import_corpus", str(corpus), "--no-progress", "--free-for", "rural,remote,poor,ethnic_minority",
             *(["--placeholder-files"] if placeholder_files else [])]]


def enrol_where(node: DemoNode, hub: DemoNode) -> list[str]:
    parent = node.parent or hub
    return ["--hub", hub.url] if parent is hub else ["--parent", parent.url]


def bring_up(node: DemoNode, template: Path | None, hub: DemoNode, operator: Operator, *,
             placeholder_files: bool) -> None:
    """A province (or city, county) from nothing to enrolled and seeded, in one process for a new node: its
    database from the template, the demo accounts and its node key; its enrolment request to its parent,
    pinning the hub's key by the fingerprint the hub's operator published; while it waits for its
    certificate, the parent's operator approves the request after the fingerprint check (``operator``, over
    the parent's API); then its sample resources. Its server starts as soon as its database exists."""
    steps = database_from_template(node, template)
    if not node.new:
        prepare(node, template)
        steps = []
    server = start_server(node, checks=False)
    if node.new:
        steps += [["seed_demo"], ["node_init", "--json"]]
    key_at = 1 if node.new else -1
    request_at = len(steps)
    if not node.enrolled:
        steps += [["federation", "enrol", *enrol_where(node, hub), "--hub-fingerprint", hub.fingerprint],
                  ["federation", "enrol", *enrol_where(node, hub), "--wait", "--timeout", "300"]]
    seeding = seed_steps(node, placeholder_files=placeholder_files)
    steps += seeding

    def on_step(index: int, outputs: list[str]) -> None:
        if index == key_at:
            node.fingerprint = json.loads(outputs[index])["fingerprint"]
        if index == request_at and not node.enrolled:
            # The node's server answers before its certificate (and so its records) can reach anyone.
            wait_http(f"{node.url}/healthz", server, timeout=300)
            operator.approve(node)

    if steps:
        node.steps(*steps, on_step=on_step)
    wait_http(f"{node.url}/healthz", server, timeout=300)
    if not node.enrolled:
        node.enrolled = True
        print(f"  {node.node_id}: enrolled with {(node.parent or hub).node_id} (approved by its operator after the "
              f"fingerprint check), fingerprint {node.fingerprint}", flush=True)
    if seeding:
        node.seeded = True
        print(f"  {node.node_id}: seeded with {node.sample} sample resources (seed {node.seed}"
              f"{', placeholder files' if placeholder_files else ''})", flush=True)


def start_server(node: DemoNode, *, checks: bool = True) -> subprocess.Popen:
    """``runserver`` for the node. ``checks`` off skips Django's system checks (a second of CPU per node):
    every node runs the same code and settings module, which the hub's server has checked."""
    return node.spawn("runserver", "--noreload", *([] if checks else ["--skip-checks"]), f"127.0.0.1:{node.port}",
                      log="server.log")


def federate(hub: DemoNode, provinces: list[DemoNode], root: Path, *, parallel: int, placeholder_files: bool,
             phases: Phases) -> None:
    """Set every node up, enrol each province with its parent (level by level: a parent is certified before
    its children ask it) and seed the provinces, with one Python process per new node for all of that."""
    template = template_ensure([hub, *provinces], root)
    prepare(hub, template)
    hub_server = start_server(hub)
    wait_http(f"{hub.url}/healthz", hub_server, timeout=300)
    print(f"hub cn-hub key fingerprint: {hub.fingerprint}", flush=True)
    phases.lap("setup of the hub")
    operators = {node.node_id: Operator(node) for node in [hub, *provinces]}
    waiting = list(provinces)
    level = 0
    while waiting:
        ready = [p for p in waiting if p.parent is None or p.parent not in waiting]
        level += 1
        suffix = f" (level {level})" if any(p.parent for p in provinces) else ""
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            list(pool.map(lambda p: bring_up(p, template, hub, operators[(p.parent or hub).node_id],
                                             placeholder_files=placeholder_files), ready))
        phases.lap("setup, enrolment and seeding of the provinces" + suffix)
        waiting = [p for p in waiting if p not in ready]


def wait_for_record(origin: DemoNode, reader: DemoNode, timeout: float = 300) -> int:
    """How many published records of ``origin`` ``reader`` holds, once it holds any (or 0 after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        digest = json.loads(reader.steps(["federation", "digest", "--origin", origin.node_id])[0])
        if digest.get("count"):
            return int(digest["count"])
        time.sleep(3)
    return 0


def catalog_digest(node: DemoNode) -> tuple[int, str]:
    """(count, SHA-256 over the sorted lines ``origin id version`` of the node's published records)."""
    uri = f"file:{node.data_dir / 'exchange.sqlite3'}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=30)) as db:
        rows = db.execute("SELECT origin_node, record_id, version FROM catalog_resource "
                          "WHERE status = 'published'").fetchall()
    lines = sorted(f"{origin} {uuid.UUID(str(record_id))} {version}" for origin, record_id, version in rows)
    return len(lines), hashlib.sha256("\n".join(lines).encode()).hexdigest()


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


class MemoryWatch(threading.Thread):
    """Samples the summed resident memory of every process the demo started, once a second."""

    def __init__(self, nodes: list[DemoNode]) -> None:
        super().__init__(daemon=True)
        self.nodes, self.peak_total, self.peak_one = nodes, 0.0, 0.0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(1.0):
            sizes = [rss_mib(proc.pid) for node in self.nodes for proc in list(node.procs) if proc.poll() is None]
            self.peak_total = max(self.peak_total, sum(sizes))
            self.peak_one = max([self.peak_one, *sizes])


def api_token(node: DemoNode, username: str) -> str:
    password = dict(accounts(node))[username]
    response = requests.post(f"{node.url}/api/v1/auth/token", json={"username": username, "password": password},
                             timeout=120)
    response.raise_for_status()
    return response.json()["token"]


def sample_ids(node: DemoNode) -> list[str]:
    with open(node.data_dir / "sample.jsonl", encoding="utf-8") as fh:
        return [json.loads(line)["id"] for line in fh if line.strip()]


def takedowns(hub: DemoNode, provinces: list[DemoNode], deadline: float) -> set[str]:
    """Withdraw one record at its origin in every 4th province, and have the hub uphold a national
    takedown of one record of four other provinces once it holds them; the records taken down."""
    gone: set[str] = set()
    for province in provinces[::4]:
        resource_id = sample_ids(province)[0]
        response = requests.post(f"{province.url}/api/v1/resources/{resource_id}/withdraw", timeout=120,
                                 headers={"Authorization": f"Token {api_token(province, 'reviewer')}"},
                                 json={"reason": "review_revoked"})
        if response.status_code != 200:
            raise SystemExit(f"{province.node_id}: withdrawing {resource_id} failed: {response.status_code} "
                             f"{response.text[:300]}")
        gone.add(resource_id)
    operator = {"Authorization": f"Token {api_token(hub, 'hub_operator')}"}
    for province in provinces[2::8]:
        resource_id = sample_ids(province)[1]
        while requests.get(f"{hub.url}/api/v1/resources/{resource_id}", timeout=120).status_code != 200:
            if time.monotonic() > deadline:
                raise SystemExit(f"the hub never received {province.node_id}'s record {resource_id}")
            time.sleep(2)
        notice = requests.post(f"{hub.url}/api/v1/takedowns", headers=operator, timeout=120,
                               json={"resource": resource_id, "grounds": "unlawful_content", "statement": "演示：国家下架"})
        upheld = notice.ok and requests.post(f"{hub.url}/api/v1/takedowns/{notice.json()['id']}/uphold",
                                             headers=operator, json={"note": "演示"}, timeout=120)
        if not notice.ok or not upheld or not upheld.ok:
            failed = upheld if notice.ok and upheld is not False else notice
            raise SystemExit(f"hub: takedown of {resource_id} failed: {failed.status_code} {failed.text[:300]}")
        gone.add(resource_id)
    return gone


def until_converged(hub: DemoNode, provinces: list[DemoNode], *, started: float, timeout: float, phases: Phases,
                    watch: MemoryWatch) -> int:
    """Publish-side work is done (seeded); take some records down, wait for one digest everywhere."""
    nodes = [hub, *provinces]
    deadline = started + timeout
    sync_started = time.monotonic()
    print(f"seeded in {sync_started - started:.0f} s; taking some records down …", flush=True)
    gone = takedowns(hub, provinces, deadline)
    phases.lap("takedowns")
    expected = sum(len(sample_ids(p)) for p in provinces) - len(gone)
    print(f"{len(gone)} records taken down; waiting for every node to hold the same {expected} records …", flush=True)
    last_report = 0.0
    digests: dict[str, tuple[int, str]] = {}
    while True:
        for node in nodes:
            try:
                digests[node.node_id] = catalog_digest(node)
            except sqlite3.Error as exc:  # busy for a moment: read it again next round
                digests[node.node_id] = (-1, str(exc))
        values = set(digests.values())
        if len(values) == 1 and next(iter(values))[0] == expected:
            break
        now = time.monotonic()
        if now > deadline:
            behind = {node_id: count for node_id, (count, _) in digests.items() if count != expected}
            watch.stopped.set()
            print(f"NOT converged after {now - started:.0f} s (timeout {timeout:.0f} s), peak memory "
                  f"{watch.peak_total:.0f} MiB: expected {expected} records everywhere; nodes with another count: "
                  f"{behind}; distinct digests: {len(values)}", flush=True)
            phases.lap("sync (not converged)")
            print(phases.line(), flush=True)
            return 1
        if now - last_report > 30:
            done = sum(1 for count, _ in digests.values() if count == expected)
            print(f"  {now - started:.0f} s: {done}/{len(nodes)} nodes hold {expected} records", flush=True)
            last_report = now
        time.sleep(3)
    converged = time.monotonic() - started
    watch.stopped.set()
    phases.lap("sync until every node holds the same catalog")
    count, digest = next(iter(values))
    print(f"catalog digest everywhere: {count} records, sha256 {digest}", flush=True)
    # Once more with the node's own digest, which covers each record's content, not only its version; the
    # servers and sync loops are stopped first (their work is done), so the 33 checks have the CPU.
    stop_processes(nodes)
    with ThreadPoolExecutor(max_workers=4) as pool:
        full = dict(zip([n.node_id for n in nodes],
                        pool.map(lambda n: json.loads(n.steps(["federation", "digest"])[0]), nodes), strict=True))
    distinct = {(d["count"], d["sha256"]) for d in full.values()}
    phases.lap("check with manage.py federation digest")
    if len(distinct) != 1 or next(iter(distinct))[0] != expected:
        print(f"NOT converged: `manage.py federation digest` differs between nodes: {sorted(distinct)}", flush=True)
        print(phases.line(), flush=True)
        return 1
    print(f"manage.py federation digest everywhere: {expected} records, sha256 {next(iter(distinct))[1]}")
    print(phases.line(), flush=True)
    print(f"converged in {converged:.0f} s, peak memory {watch.peak_total:.0f} MiB "
          f"(all {len(nodes)} nodes' processes together; largest one {watch.peak_one:.0f} MiB; setup and "
          f"seeding {sync_started - started:.0f} s, takedowns and sync {converged - (sync_started - started):.0f} s)",
          flush=True)
    return 0


def stop_processes(nodes: list[DemoNode]) -> None:
    """Stop the servers and sync loops the demo started for ``nodes``."""
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
                proc.wait()


def accounts(node: DemoNode) -> list[tuple[str, str]]:
    path = node.data_dir / "demo_accounts.txt"
    return [tuple(line.split(" ", 1)) for line in path.read_text().splitlines() if line.strip()]  # type: ignore[misc]


def nation_cities(provinces: list[DemoNode], *, sample: int, hub_port: int, root: Path) -> list[DemoNode]:
    """The cities (and their counties) of ``NATION_CITIES`` below the given provinces, on the ports after
    the last province's; a parent always comes before its children."""
    below: list[DemoNode] = []
    port = max(p.port for p in provinces) + 1
    for province in provinces:
        for city_code, counties in NATION_CITIES.get(province.node_id.removeprefix("cn-"), {}).items():
            city = DemoNode(f"cn-{city_code}", "city", port, root / f"cn-{city_code}", sample, int(city_code),
                            parent=province, hub_port=hub_port)
            below.append(city)
            port += 1
            for county_code in counties:
                below.append(DemoNode(f"cn-{county_code}", "county", port, root / f"cn-{county_code}", sample,
                                      int(county_code), parent=city, hub_port=hub_port))
                port += 1
    return below


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(ROOT / "var" / "demo"), help="where the nodes' data dirs live")
    parser.add_argument("--fresh", action="store_true", help="delete previous demo data first")
    parser.add_argument("--nation", action="store_true", help="hub + 32 provinces")
    parser.add_argument("--cities", action="store_true",
                        help="(--nation) cities below some provinces and counties below some cities")
    parser.add_argument("--levels", action="store_true",
                        help="hub, cn-44, its city cn-4401, its county cn-440106, and cn-11 (ports 8100-8104)")
    parser.add_argument("--sample", type=int, default=None, help="sample resources per province")
    parser.add_argument("--interval", type=float, default=10, help="seconds between scheduled pulls")
    parser.add_argument("--until-converged", action="store_true",
                        help="seed, take some records down, wait until every node holds the same catalog, exit")
    parser.add_argument("--timeout", type=float, default=1800, help="(--until-converged) seconds before giving up")
    parser.add_argument("--parallel", type=int, default=4, help="nodes set up, enrolled and seeded at a time")
    parser.add_argument("--provinces", type=int, default=len(NATION), help="(--nation) how many of the 32 provinces")
    parser.add_argument("--hub-port", type=int, default=HUB_PORT, help="the hub's port; provinces follow it")
    files = parser.add_mutually_exclusive_group()
    files.add_argument("--placeholder-files", action="store_true", default=None,
                       help="sample records get tiny placeholder files, no previews (the default with --nation)")
    files.add_argument("--real-files", dest="placeholder_files", action="store_false",
                       help="sample records get real documents, previewed by LibreOffice & co. (the default "
                            "without --nation)")
    args = parser.parse_args(argv)
    placeholder_files = args.nation if args.placeholder_files is None else args.placeholder_files
    started = time.monotonic()
    root = Path(args.root)
    if args.fresh and root.exists():
        shutil.rmtree(root)
    port = args.hub_port
    hub = DemoNode("cn-hub", "hub", port, root / "cn-hub", hub_port=port)
    if args.nation:
        sample = (10 if args.until_converged else 200) if args.sample is None else args.sample
        provinces = [DemoNode(f"cn-{code}", "province", port + 1 + i, root / f"cn-{code}", sample, int(code),
                              hub_port=port) for i, code in enumerate(NATION[:args.provinces])]
        if args.cities:
            provinces += nation_cities(provinces, sample=sample, hub_port=port, root=root)
    elif args.levels:
        sample = 150 if args.sample is None else args.sample
        gd = DemoNode("cn-44", "province", port + 1, root / "cn-44", sample, 44, hub_port=port)
        gz = DemoNode("cn-4401", "city", port + 2, root / "cn-4401", sample, 4401, parent=gd, hub_port=port)
        th = DemoNode("cn-440106", "county", port + 3, root / "cn-440106", sample, 440106, parent=gz, hub_port=port)
        bj = DemoNode("cn-11", "province", port + 4, root / "cn-11", sample, 11, hub_port=port)
        provinces = [gd, gz, th, bj]  # enrolled in this order: each parent before its child
    else:
        sample = 600 if args.sample is None else args.sample
        provinces = [DemoNode("cn-11", "province", port + 1, root / "cn-11", sample, 11, hub_port=port),
                     DemoNode("cn-44", "province", port + 2, root / "cn-44", sample + 200, 44, hub_port=port)]
    nodes = [hub, *provinces]
    busy = [n.port for n in nodes if not port_free(n.port)]
    if busy:
        print(f"ports in use: {busy}; stop whatever listens there first", file=sys.stderr)
        return 1

    def stop_all() -> None:
        stop_processes(nodes)
        print("\nstopped; data kept in", root)

    def shutdown(*_: object) -> None:
        stop_all()
        raise SystemExit(1 if args.until_converged else 0)  # stopped before converging is a failure

    signal.signal(signal.SIGINT, shutdown)
    signal.signal(signal.SIGTERM, shutdown)
    phases = Phases()
    watch = MemoryWatch(nodes)
    if args.until_converged:
        watch.start()  # from the first server on: the peak may come while the provinces are seeded
    try:
        print(f"setting up {len(nodes)} nodes in {root} …", flush=True)
        if placeholder_files:
            print("sample files: tiny placeholder files, no previews (this is a federation demo; previews of real "
                  "documents are exercised by `make run` and the catalog tests; --real-files to have them)",
                  flush=True)
        federate(hub, provinces, root, parallel=args.parallel, placeholder_files=placeholder_files, phases=phases)
        for node in nodes:
            node.spawn("federation", "sync", "--loop", "--interval", str(args.interval), log="sync.log")
        if args.until_converged:
            return until_converged(hub, provinces, started=started, timeout=args.timeout, phases=phases, watch=watch)
        print(phases.line(), flush=True)
    except BaseException as exc:
        if args.until_converged:
            print(f"FAILED after {time.monotonic() - started:.0f} s: {exc!r}", file=sys.stderr, flush=True)
        else:
            stop_all()
        raise
    finally:
        if args.until_converged:
            stop_all()

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
