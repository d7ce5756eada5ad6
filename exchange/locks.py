"""Named locks shared by every process of a node, for work that must not run twice at once (the
search-index drain): a PostgreSQL session advisory lock, or with SQLite — whose database is a local
file, so every process of the node runs on this machine — an ``flock`` on a file in the data dir.
Both are released by the operating system or the database when the holding process dies, so a
crash never leaves one held."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Iterator

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

_held = threading.local()


def _advisory_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextlib.contextmanager
def named_lock(name: str, *, timeout: float = 60.0, poll: float = 0.02) -> Iterator[bool]:
    """Hold the lock ``name`` for the block; yields True when held, False when another holder kept it
    longer than ``timeout`` seconds (0: one try). Re-entrant within a thread."""
    held: set[str] = _held.__dict__.setdefault("names", set())
    if name in held:
        yield True
        return
    connection = connections[DEFAULT_DB_ALIAS]
    deadline = time.monotonic() + timeout
    if connection.vendor == "postgresql":
        key = _advisory_key(name)

        def try_lock() -> bool:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
                return bool(cursor.fetchone()[0])

        def unlock() -> None:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
    else:
        directory = settings.DATA_DIR / "locks"
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(directory / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)

        def try_lock() -> bool:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

        def unlock() -> None:
            fcntl.flock(fd, fcntl.LOCK_UN)
    try:
        acquired = try_lock()
        while not acquired and time.monotonic() < deadline:
            time.sleep(poll)
            acquired = try_lock()
        if not acquired:
            yield False
            return
        held.add(name)
        try:
            yield True
        finally:
            held.discard(name)
            unlock()
    finally:
        if connection.vendor != "postgresql":
            os.close(fd)
