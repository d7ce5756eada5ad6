"""A database migrated to the latest migrations, with the vocabularies loaded, made once per test process
and copied into every data dir that starts from one (``tests.federation_e2e.cluster.prepare_template``,
``tests.node_processes.seed_node``). Migrating an empty SQLite database through ``manage.py`` took 10–20 s
each time, and the node tests of the SQLite lane did it six times; nothing in the migrations or in
``load_vocabularies`` depends on the node's identity, role or settings, so every copy is what its own
``migrate`` would have made."""

from __future__ import annotations

import atexit
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: What a node process must not inherit from the test runner (it runs embedded, on its own data dir).
STRIPPED_ENV = ("DATABASE_URL", "REDIS_URL", "ELASTICSEARCH_URL", "S3_BUCKET", "S3_ENDPOINT_URL",
                "EXCHANGE_DATA_DIR", "EXCHANGE_NODE_ID", "EXCHANGE_NODE_ROLE", "EXCHANGE_BASE_URL",
                "EXCHANGE_NODE_REGION", "FEDERATION_HUB_URL", "DJANGO_SETTINGS_MODULE")

_lock = threading.Lock()
_made: Path | None = None


def _migrate() -> Path:
    directory = Path(tempfile.mkdtemp(prefix="test-migrated-"))
    atexit.register(shutil.rmtree, directory, True)
    env = {k: v for k, v in os.environ.items() if k not in STRIPPED_ENV}
    env.update(PYTHONPATH=str(ROOT), DJANGO_SETTINGS_MODULE="exchange.settings", EXCHANGE_DATA_DIR=str(directory))
    for args in (["migrate", "--noinput", "-v0"], ["load_vocabularies"]):
        subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT, check=True,
                       capture_output=True, timeout=300)
    return directory / "exchange.sqlite3"


def copy_migrated_database(target: Path) -> Path:
    """Write the migrated database (vocabularies loaded) to ``target``, an SQLite file that does not exist
    yet; the first call of the process migrates it."""
    global _made
    with _lock:
        if _made is None:
            _made = _migrate()
    source, copy = sqlite3.connect(_made), sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        copy.close()
        source.close()
    return target
