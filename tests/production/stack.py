"""The production topology as real processes: a hub and two provinces, each as ``deploy/compose.yaml``
runs a node — the one-shot ``migrate`` job, gunicorn (``deploy/gunicorn.conf.py``, 2 workers), an rq
worker with rq's scheduler, the ``federation sync --loop`` upkeep — on PostgreSQL (one server, a database
per node), Redis (a database per node), S3 (moto's server, a bucket per node, made by the migrate job)
and the Elasticsearch API (noida-db, an index prefix per node), in production mode. cn-44 is behind nginx
with ``deploy/nginx.conf`` (TLS, its own name ``localhost``, presigned downloads through nginx's object
store site); the hub and cn-11 answer on plain HTTP at 127.0.0.1 (``SECURE_SSL_REDIRECT=false``).

The commands are the compose file's own (``python``/``gunicorn`` resolved to the virtualenv's); only what
a container would get from its environment is set here (``node_env``). Used by ``conftest.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

from tests import servers
from tests.accounts import DemoAccounts

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = str(Path(sys.executable).parent)
#: Settings a node must not inherit from the test runner's environment.
STRIPPED_ENV = ("DATABASE_URL", "REDIS_URL", "ELASTICSEARCH_URL", "S3_BUCKET", "S3_ENDPOINT_URL",
                "S3_PUBLIC_ENDPOINT_URL", "EXCHANGE_DATA_DIR", "EXCHANGE_NODE_ID", "EXCHANGE_NODE_ROLE",
                "EXCHANGE_BASE_URL", "EXCHANGE_NODE_REGION", "FEDERATION_HUB_URL", "TRUSTED_PROXIES",
                "DJANGO_SETTINGS_MODULE", "SECRET_KEY", "ALLOWED_HOSTS", "EXCHANGE_ENV", "PROMETHEUS_MULTIPROC_DIR",
                "GUNICORN_BIND", "GUNICORN_WORKERS", "GUNICORN_THREADS", "RQ_QUEUE_NAME")
PULL_INTERVAL = 5


def compose_services() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())["services"]


def compose_command(service: str) -> list[str]:
    """The service's command as compose runs it (``python`` and ``gunicorn`` come from PATH, where the
    virtualenv's bin directory is first)."""
    command = compose_services()[service]["command"]
    return list(command) if isinstance(command, list) else shlex.split(command)


@dataclass
class Backends:
    postgres: str  # server URL without a database name
    redis: str  # redis://host:port
    s3: str
    elasticsearch: str
    ca_bundle: Path


@dataclass
class ProdNode(DemoAccounts):
    node_id: str
    role: str
    port: int  # gunicorn
    data_dir: Path
    public_url: str  # EXCHANGE_BASE_URL: what peers and people use
    host: str  # the name the node answers to (ALLOWED_HOSTS)
    env: dict[str, str] = field(default_factory=dict)
    ca_bundle: Path | None = None
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def direct_url(self) -> str:
        """gunicorn itself, bypassing any proxy (requests must still name an allowed host)."""
        return f"http://127.0.0.1:{self.port}"

    # --- processes ----------------------------------------------------------------------------
    def run(self, argv: list[str], *, timeout: float = 300, check: bool = True, **extra_env: str
            ) -> subprocess.CompletedProcess:
        proc = subprocess.run(argv, env={**self.env, **extra_env}, cwd=ROOT, capture_output=True, text=True,
                              timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{self.node_id}: {' '.join(argv)} failed ({proc.returncode}):\n"
                               f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
        return proc

    def manage(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess:
        return self.run(["python", "manage.py", *args], **kwargs)

    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        """A long-running process of the node in its own process group (gunicorn's workers, rq's job
        children and scheduler go with it), its output in ``<data dir>/<name>.log``."""
        with open(self.data_dir / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(argv, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        return (self.data_dir / f"{name}.log").read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        stop_nodes([self])

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{self.node_id}: {name} exited ({proc.returncode}):\n{self.log(name)[-3000:]}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.direct_url}/healthz", headers={"Host": self.host}, timeout=2).ok:
                    return
            time.sleep(0.2)
        raise TimeoutError(f"{self.node_id}: gunicorn did not answer within {timeout}s:\n{self.log('web')[-3000:]}")

    # --- HTTP ---------------------------------------------------------------------------------
    def api(self, method: str, path: str, *, token: str | None = None, **kwargs: Any) -> requests.Response:
        """A request to the node at its public address (through nginx for cn-44)."""
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Token {token}"
        return requests.request(method, f"{self.public_url}{path}", headers=headers, timeout=60,
                                verify=str(self.ca_bundle) if self.ca_bundle else True, **kwargs)


def stop_nodes(nodes: list[ProdNode], grace: float = 8.0) -> None:
    """SIGTERM every process group of the nodes at once (gunicorn, rq and the sync loop shut down
    cleanly), SIGKILL what is left after ``grace`` seconds."""
    procs = [proc for node in nodes for proc in node.procs.values()]
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    for proc in procs:  # what is left of each group (a worker still in its shutdown, rq's scheduler)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    for node in nodes:
        node.procs.clear()


def node_env(node: ProdNode, backends: Backends, *, database: str, redis_db: int, hub_url: str,
             **settings: str) -> dict[str, str]:
    """What deploy/.env would hold for this node, on this machine's loopback servers."""
    env = {k: v for k, v in os.environ.items() if k not in STRIPPED_ENV}
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}", PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT),
        EXCHANGE_ENV="production", SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS=node.host,
        EXCHANGE_NODE_ID=node.node_id, EXCHANGE_NODE_ROLE=node.role, EXCHANGE_BASE_URL=node.public_url,
        EXCHANGE_DATA_DIR=str(node.data_dir), FEDERATION_HUB_URL=hub_url,
        DATABASE_URL=f"{backends.postgres}/{database}", REDIS_URL=f"{backends.redis}/{redis_db}",
        ELASTICSEARCH_URL=backends.elasticsearch,
        S3_BUCKET=f"exchange-{node.node_id}", S3_ENDPOINT_URL=backends.s3,
        S3_ACCESS_KEY_ID="lane-access", S3_SECRET_ACCESS_KEY="lane-secret-key",
        GUNICORN_BIND=f"127.0.0.1:{node.port}", GUNICORN_WORKERS="2",
        FEDERATION_PULL_INTERVAL=str(PULL_INTERVAL), LOG_LEVEL="INFO",
        # Peers reach cn-44 over TLS with the lane's own certificate.
        REQUESTS_CA_BUNDLE=str(backends.ca_bundle),
    )
    env.update(settings)
    return env


def start_nodes(nodes: list[ProdNode], *, timeout: float = 300, ready_timeout: float = 90) -> None:
    """As ``docker compose up`` on each node's machine (side by side): the one-shot migrate job first,
    then web, worker and sync; returns when every web process answers. ``timeout``: seconds for each
    setup command, ``ready_timeout``: for gunicorn to answer (a benchmark on a busy machine gives more)."""
    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        list(pool.map(lambda node: start_node(node, timeout=timeout), nodes))
    for node in nodes:
        node.wait_ready(timeout=ready_timeout)


def start_node(node: ProdNode, *, timeout: float = 300) -> None:
    node.data_dir.mkdir(parents=True, exist_ok=True)
    node.run(compose_command("migrate"), timeout=timeout)
    node.manage("seed_demo", timeout=timeout)  # the optional demo accounts of deploy/README.md
    node.manage("node_init", timeout=timeout)
    web = compose_command("web")
    node.start("web", [web[0], *servers.gunicorn_side_by_side_args(), *web[1:]])
    node.start("worker", compose_command("worker"))
    node.start("sync", compose_command("sync"))


def fingerprint(node: ProdNode) -> str:
    return json.loads(node.manage("node_init", "--json").stdout)["fingerprint"]


def enrol(province: ProdNode, hub: ProdNode) -> None:
    """The enrolment an operator does (deploy/README.md): the province asks with the hub's fingerprint,
    the hub's operator approves after comparing the province's, the province waits for its certificate."""
    out = province.manage("federation", "enrol", "--hub", hub.public_url, "--hub-fingerprint", fingerprint(hub)).stdout
    assert fingerprint(province) in out
    hub.manage("federation", "approve", province.node_id, "--fingerprint", fingerprint(province))
    province.manage("federation", "enrol", "--hub", hub.public_url, "--wait", "--timeout", "60")


def certified_peer(node: ProdNode, peer_id: str) -> bool:
    """Whether ``node`` holds a valid certificate of ``peer_id`` (``federation status --all``: another
    province is outside a province's subtree)."""
    peers = json.loads(node.manage("federation", "status", "--json", "--all").stdout)["peers"]
    return any(peer["node_id"] == peer_id and peer["certificate_not_after"] for peer in peers)


def wait_until(check: Callable[[], Any], *, timeout: float = 60, interval: float = 0.3, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or check}: last={last!r}")


@contextlib.contextmanager
def postgres_databases(names: list[str]) -> Iterator[str]:
    """One PostgreSQL server with a database per node; yields the server URL (no database)."""
    with servers.postgres_server() as url:
        server = url.rsplit("/", 1)[0]
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            for name in names:
                conn.execute(f'CREATE DATABASE "{name}"')
        yield server
