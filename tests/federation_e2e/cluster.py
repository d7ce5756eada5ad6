"""Real federation nodes as processes on loopback: each with its own data dir, SQLite database, key
and ``manage.py runserver``; commands run against a node as ``manage.py`` subprocesses with its
environment. Used by the end-to-end tests' session fixture (and nothing else)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests import servers
from tests.accounts import DemoAccounts
from tests.migrated import copy_migrated_database

ROOT = Path(__file__).resolve().parents[2]
MANAGE = str(ROOT / "manage.py")
#: Backends a node must not inherit from the test runner's environment (each node is embedded).
STRIPPED_ENV = ("DATABASE_URL", "REDIS_URL", "ELASTICSEARCH_URL", "S3_BUCKET", "S3_ENDPOINT_URL",
                "EXCHANGE_DATA_DIR", "EXCHANGE_NODE_ID", "EXCHANGE_NODE_ROLE", "EXCHANGE_BASE_URL",
                "EXCHANGE_NODE_REGION", "FEDERATION_HUB_URL", "DJANGO_SETTINGS_MODULE")


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in STRIPPED_ENV}
    env.update(PYTHONUNBUFFERED="1", DJANGO_SETTINGS_MODULE="exchange.settings", LOG_LEVEL="WARNING",
               PYTHONPATH=str(ROOT))
    return env


def sqlite_copy(source: Path, target: Path) -> None:
    """Copy a (possibly live, WAL-mode) SQLite database consistently."""
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


@dataclass
class Node(DemoAccounts):
    """One node: id, role, port and data dir; its web server and sync loop processes."""

    node_id: str
    role: str
    port: int
    data_dir: Path
    hub_url: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)
    server: subprocess.Popen | None = None
    loop: subprocess.Popen | None = None
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, **extra: str) -> dict[str, str]:
        env = base_env()
        env.update(EXCHANGE_DATA_DIR=str(self.data_dir), EXCHANGE_NODE_ID=self.node_id,
                   EXCHANGE_NODE_ROLE=self.role, EXCHANGE_BASE_URL=self.url,
                   FEDERATION_HUB_URL=self.hub_url, FEDERATION_PULL_INTERVAL="3", **self.extra_env, **extra)
        return env

    def manage(self, *args: str, check: bool = True, timeout: float | None = None, **extra_env: str
               ) -> subprocess.CompletedProcess:
        # A safety limit, not a timing assertion: E2E_COMMAND_TIMEOUT raises it on a crowded machine (the
        # crash benchmarks' long mode runs there).
        timeout = timeout if timeout is not None else float(os.environ.get("E2E_COMMAND_TIMEOUT", "180"))
        proc = subprocess.run([sys.executable, MANAGE, *args], env=self.env(**extra_env), cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{self.node_id}: manage.py {' '.join(args)} failed ({proc.returncode}):\n"
                               f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
        return proc

    def spawn(self, *args: str, log: str, **extra_env: str) -> subprocess.Popen:
        handle = open(self.data_dir / log, "ab")  # noqa: SIM115 - owned by the process
        return subprocess.Popen([sys.executable, MANAGE, *args], env=self.env(**extra_env), cwd=ROOT,
                                stdout=handle, stderr=subprocess.STDOUT)

    def start(self) -> None:
        self.server = self.spawn("runserver", "--noreload", "--skip-checks", f"127.0.0.1:{self.port}",
                                 log="server.log")
        servers.wait_for_http(f"{self.url}/healthz", timeout=60, proc=self.server)
        # Another process may hold the port (then this server exits and that one answers): make
        # sure the node answering is this one.
        answering = requests.get(f"{self.url}/.well-known/exchange-node", timeout=10).json().get("node_id")
        if answering != self.node_id or self.server.poll() is not None:
            self.stop()
            raise RuntimeError(f"{self.node_id}: port {self.port} is held by another server ({answering})")

    def start_loop(self, interval: float = 3) -> None:
        self.loop = self.spawn("federation", "sync", "--loop", "--interval", str(interval), "--poll", "0.3",
                               log="sync.log")

    def stop(self) -> None:
        for proc in (self.loop, self.server):
            if proc is not None:
                servers.stop(proc)
        self.loop = self.server = None

    # --- HTTP ---------------------------------------------------------------------------------
    def api(self, method: str, path: str, *, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Token {token}"
        return requests.request(method, f"{self.url}{path}", headers=headers, timeout=30, **kwargs)

    def digest(self, origin: str | None = None) -> dict[str, Any]:
        args = ["federation", "digest"] + (["--origin", origin] if origin else [])
        return json.loads(self.manage(*args).stdout)

    def origins(self) -> list[str]:
        """The origins of the records this node holds."""
        with self.db() as db:
            return [row[0] for row in db.execute("SELECT DISTINCT origin_node FROM catalog_resource")]

    def status(self) -> dict[str, Any]:
        return json.loads(self.manage("federation", "status", "--json").stdout)

    @contextlib.contextmanager
    def db(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection to the node's database (for assertions only), closed afterwards."""
        connection = sqlite3.connect(f"file:{self.data_dir / 'exchange.sqlite3'}?mode=ro", uri=True, timeout=30)
        try:
            yield connection
        finally:
            connection.close()


def wait_until(check: Callable[[], Any], *, timeout: float = 20, interval: float = 0.1, what: str = "") -> Any:
    """Poll ``check`` until it returns a truthy value; return it (or fail after ``timeout``)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or check}: last={last!r}")


def kill9(proc: subprocess.Popen) -> None:
    """SIGKILL a process we started (by its id) and reap it."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def prepare_template(directory: Path) -> Path:
    """A template database that every node starts from: migrated, vocabularies loaded (a copy of the one
    this test process migrated, ``tests.migrated``)."""
    directory.mkdir(parents=True, exist_ok=True)
    return copy_migrated_database(directory / "exchange.sqlite3")


def node_from_template(template_db: Path, node: Node) -> Node:
    if node.data_dir.exists():
        shutil.rmtree(node.data_dir)
    node.data_dir.mkdir(parents=True)
    sqlite_copy(template_db, node.data_dir / "exchange.sqlite3")
    return node
