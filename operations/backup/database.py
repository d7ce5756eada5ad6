"""The database half of a backup: a consistent snapshot, its dump, and restoring it into an empty database.

``snapshot()`` opens a read transaction on Django's connection and yields a function that writes that
transaction's view of the database to a file. Everything else the backup records (counts, catalog
digest, feed head, migrations, the list of blobs to copy) is read inside the same transaction, so the
manifest describes exactly the dumped rows, however many writes the node accepts meanwhile.

- SQLite: the online backup API of the very connection holding the read transaction (WAL mode: writers
  are not blocked, and what they commit meanwhile is not in the copy).
- PostgreSQL: a REPEATABLE READ transaction exports its snapshot and ``pg_dump --snapshot`` dumps it
  (custom format). There is no fallback without ``pg_dump``: it is the one tool that reproduces
  sequences, constraints and types exactly and fast; a second, hand-made dump format would be a backup
  nobody has tested. The client tools are looked for in ``PG_BIN_DIR``, then in the newest
  ``/usr/lib/postgresql/*/bin`` (Debian), then on ``PATH`` — ``pg_dump`` must be at least as new as the
  server, so the newest one wins.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings
from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from operations.errors import BackupIncompatibleError, BackupSourceError, DatabaseToolMissingError

#: Writes the snapshot to a file; returns facts about it for the manifest.
Dumper = Callable[[Path], dict[str, Any]]


class Database(Protocol):
    engine: str
    dump_name: str

    def snapshot(self) -> contextlib.AbstractContextManager[Dumper]: ...

    def contents(self) -> list[str]:
        """What the database holds, one line per thing (empty: nothing to overwrite)."""

    def wipe(self) -> None: ...

    def restore(self, dump: Path) -> None: ...

    def describe(self) -> str: ...


def database_for(alias: str = "default") -> Database:
    connection = connections[alias]
    if connection.vendor == "sqlite":
        return SqliteDatabase(connection)
    if connection.vendor == "postgresql":
        return PostgresDatabase(connection)
    raise BackupIncompatibleError(f"backups of a {connection.vendor} database are not supported",
                                  details={"engine": connection.vendor})


# --- SQLite -----------------------------------------------------------------------------------------

class SqliteDatabase:
    engine = "sqlite"
    dump_name = "exchange.sqlite3"

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        self.connection = connection
        self.path = Path(connection.settings_dict["NAME"])

    def describe(self) -> str:
        return f"SQLite database {self.path}"

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Dumper]:
        if self.connection.in_atomic_block:
            raise RuntimeError("a backup snapshot cannot be taken inside a transaction")
        self.connection.ensure_connection()
        raw = self.connection.connection
        # Django keeps SQLite connections in autocommit mode and opens transactions itself; a deferred
        # BEGIN and one read fix a WAL snapshot without taking the write lock.
        raw.execute("BEGIN DEFERRED")
        try:
            raw.execute("SELECT count(*) FROM sqlite_master").fetchone()
            yield self._dump
        finally:
            raw.execute("ROLLBACK")

    def _dump(self, target: Path) -> dict[str, Any]:
        copy = sqlite3.connect(target)
        try:
            # From the connection that holds the read transaction: the copy is that snapshot.
            self.connection.connection.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            check = copy.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            copy.close()
        os.chmod(target, 0o600)
        if check != "ok":
            raise BackupSourceError(f"the copied SQLite database fails its integrity check: {check}")
        return {"sqlite_version": sqlite3.sqlite_version}

    def contents(self) -> list[str]:
        if not self.path.exists() or self.path.stat().st_size == 0:
            return []
        probe = sqlite3.connect(self.path)
        try:
            tables = probe.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table' "
                                   "AND name NOT LIKE 'sqlite_%'").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            return [f"{self.describe()}: not a readable database ({exc})"]
        finally:
            probe.close()
        return [f"{self.describe()}: {tables} tables"] if tables else []

    def _sidecars(self) -> list[Path]:
        return [self.path.with_name(self.path.name + suffix) for suffix in ("-wal", "-shm", "-journal")]

    def wipe(self) -> None:
        connections.close_all()
        for path in (self.path, *self._sidecars()):
            path.unlink(missing_ok=True)

    def restore(self, dump: Path) -> None:
        connections.close_all()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        staging = self.path.with_name(f".{self.path.name}.restoring")
        shutil.copyfile(dump, staging)
        os.chmod(staging, 0o600)
        for path in self._sidecars():
            path.unlink(missing_ok=True)
        os.replace(staging, self.path)


# --- PostgreSQL -------------------------------------------------------------------------------------

_LIBPQ_OPTIONS = {"sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT",
                  "sslkey": "PGSSLKEY", "connect_timeout": "PGCONNECT_TIMEOUT", "options": "PGOPTIONS",
                  "service": "PGSERVICE", "target_session_attrs": "PGTARGETSESSIONATTRS"}


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name)) or (0,)


def pg_tool(name: str) -> str:
    """Path of a PostgreSQL client program (the newest installed). Raises DatabaseToolMissingError."""
    candidates: list[Path] = []
    if getattr(settings, "PG_BIN_DIR", ""):
        candidates.append(Path(settings.PG_BIN_DIR) / name)
    candidates += sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=_version_key, reverse=True)
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise DatabaseToolMissingError(
        f"{name} not found (looked in PG_BIN_DIR, /usr/lib/postgresql/*/bin and PATH): install the PostgreSQL "
        "client tools of the server's major version or newer (Debian: postgresql-client)",
        details={"tool": name})


class PostgresDatabase:
    engine = "postgresql"
    dump_name = "exchange.pgdump"

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        self.connection = connection
        self.params = connection.settings_dict

    def describe(self) -> str:
        host = self.params.get("HOST") or "localhost"
        port = f":{self.params['PORT']}" if self.params.get("PORT") else ""
        return f"PostgreSQL database {self.params.get('NAME')} on {host}{port}"

    def _env(self) -> dict[str, str]:
        """libpq environment for the client tools: the password never appears on a command line."""
        env = dict(os.environ)
        for key, var in (("HOST", "PGHOST"), ("PORT", "PGPORT"), ("USER", "PGUSER"), ("PASSWORD", "PGPASSWORD"),
                         ("NAME", "PGDATABASE")):
            if self.params.get(key):
                env[var] = str(self.params[key])
        for option, var in _LIBPQ_OPTIONS.items():
            value = (self.params.get("OPTIONS") or {}).get(option)
            if value:
                env[var] = str(value)
        return env

    def _run(self, argv: list[str], *, what: str) -> str:
        proc = subprocess.run(argv, env=self._env(), capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise BackupSourceError(f"{what} failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}",
                                    details={"tool": Path(argv[0]).name})
        return proc.stdout

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Dumper]:
        pg_dump = pg_tool("pg_dump")
        with transaction.atomic(using=self.connection.alias):
            with self.connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                cursor.execute("SELECT pg_export_snapshot()")
                snapshot_id = cursor.fetchone()[0]

            def dump(target: Path) -> dict[str, Any]:
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.close(fd)
                self._run([pg_dump, "--format=custom", f"--snapshot={snapshot_id}", "--no-password",
                           f"--file={target}"], what="pg_dump")
                self._run([pg_tool("pg_restore"), "--list", str(target)], what="reading the dump back")
                version = self._run([pg_dump, "--version"], what="pg_dump --version").strip()
                return {"server_version": self.connection.pg_version, "pg_dump": version}  # type: ignore[attr-defined]

            yield dump

    def _tables(self) -> dict[str, list[str]]:
        with self.connection.cursor() as cursor:
            out: dict[str, list[str]] = {}
            for kind, query in (
                ("TABLE", "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"),
                ("VIEW", "SELECT viewname FROM pg_views WHERE schemaname = current_schema()"),
                ("SEQUENCE", "SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema()"),
            ):
                cursor.execute(query)
                out[kind] = [row[0] for row in cursor.fetchall()]
        return out

    def contents(self) -> list[str]:
        tables = self._tables()["TABLE"]
        return [f"{self.describe()}: {len(tables)} tables"] if tables else []

    def wipe(self) -> None:
        objects = self._tables()
        with transaction.atomic(using=self.connection.alias), self.connection.cursor() as cursor:
            for kind in ("VIEW", "TABLE", "SEQUENCE"):
                for name in objects[kind]:
                    cursor.execute(f"DROP {kind} IF EXISTS {self.connection.ops.quote_name(name)} CASCADE")

    def restore(self, dump: Path) -> None:
        connections.close_all()
        self._run([pg_tool("pg_restore"), "--no-owner", "--no-privileges", "--single-transaction",
                   "--exit-on-error", "--no-password", f"--dbname={self.params['NAME']}", str(dump)],
                  what="pg_restore")
