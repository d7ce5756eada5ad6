"""A node's web processes started for real (``manage.py runserver``, gunicorn with ``deploy/gunicorn.conf.py``,
nginx with ``deploy/nginx.conf``) over one data dir, for tests about what several worker processes share
and what the servers write to their logs. The data dir is migrated and seeded through ``manage.py``
(demo organisations, two teachers, one published resource with a PDF)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests import servers
from tests.migrated import copy_migrated_database

ROOT = Path(__file__).resolve().parents[1]
MANAGE = str(ROOT / "manage.py")
#: Backends a process must not inherit from the test runner's environment.
STRIPPED_ENV = ("DATABASE_URL", "REDIS_URL", "ELASTICSEARCH_URL", "S3_BUCKET", "S3_ENDPOINT_URL",
                "EXCHANGE_DATA_DIR", "EXCHANGE_BASE_URL", "TRUSTED_PROXIES", "DJANGO_SETTINGS_MODULE")

SEED = """
import json
from exchange.roles import Role
from exchange.services import roles_ensure, user_create
from tests import factories
roles_ensure()
orgs = factories.demo_organisations("440000")
for name, org in (("teacher", "city_school"), ("rural_teacher", "rural_school")):
    user_create(username=name, password="test-pass-" + name, organisation=orgs[org], roles=[Role.TEACHER])
resource = factories.ResourceFactory(publisher=orgs["publisher"])
print(json.dumps({"resource": str(resource.pk)}))
"""


def node_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in STRIPPED_ENV}
    env.update(PYTHONUNBUFFERED="1", DJANGO_SETTINGS_MODULE="exchange.settings", PYTHONPATH=str(ROOT),
               EXCHANGE_DATA_DIR=str(data_dir), EXCHANGE_NODE_ID="cn-44", EXCHANGE_NODE_ROLE="province",
               FEDERATION_BACKGROUND="false", LOG_LEVEL="INFO",
               # previews are rendered by LibreOffice & co. in-process without a queue: only where a test asks
               CATALOG_PREVIEWS_AUTO="false")
    env.update(extra)
    return env


def manage(data_dir: Path, *args: str, **extra_env: str) -> str:
    proc = subprocess.run([sys.executable, MANAGE, *args], env=node_env(data_dir, **extra_env), cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return proc.stdout


def seed_node(data_dir: Path) -> dict[str, str]:
    """Migrate, load vocabularies, create the demo organisations, two teachers (``teacher`` and
    ``rural_teacher``, password ``test-pass-<name>``) and one published open resource with a PDF; its id."""
    data_dir.mkdir(parents=True, exist_ok=True)
    copy_migrated_database(data_dir / "exchange.sqlite3")  # migrated, vocabularies loaded (``tests.migrated``)
    out = manage(data_dir, "shell", "-c", SEED)
    return json.loads(out.strip().splitlines()[-1])


@dataclass
class Process:
    proc: subprocess.Popen
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@contextmanager
def started(cmd: list[str], *, data_dir: Path, port: int, log_name: str, **extra_env: str) -> Iterator[Process]:
    """Run ``cmd`` (a server listening on ``port``) with the node's environment, its stdout and stderr
    in ``data_dir/log_name``; stopped (by its process id) afterwards."""
    log = data_dir / log_name
    url = f"http://127.0.0.1:{port}"
    with open(log, "ab") as handle:
        proc = subprocess.Popen(cmd, env=node_env(data_dir, EXCHANGE_BASE_URL=url, **extra_env), cwd=ROOT,
                                stdout=handle, stderr=subprocess.STDOUT)
    try:
        servers.wait_for_http(f"{url}/healthz", timeout=60, proc=proc)
        yield Process(proc, url, log)
    finally:
        servers.stop(proc)


def runserver(data_dir: Path, port: int, log_name: str, **extra_env: str):
    return started([sys.executable, MANAGE, "runserver", "--noreload", "--skip-checks", f"127.0.0.1:{port}"],
                   data_dir=data_dir, port=port, log_name=log_name, **extra_env)


def gunicorn(data_dir: Path, port: int, log_name: str, **extra_env: str):
    """gunicorn as deployed (``deploy/gunicorn.conf.py``), two workers on ``port``."""
    return started(servers.gunicorn_command("exchange.wsgi"), data_dir=data_dir, port=port, log_name=log_name, GUNICORN_BIND=f"127.0.0.1:{port}",
                   GUNICORN_WORKERS="2", GUNICORN_THREADS="1", **extra_env)
