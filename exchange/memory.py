"""Garbage collection for bulk work.

CPython's cyclic collector looks at the youngest objects after every 700 net allocations and at
older ones every 10 of those passes. A federation page or an indexing batch allocates hundreds of
thousands of short-lived, acyclic objects (parsed JSON, rows, documents) that reference counting
frees anyway; with the default threshold the collector keeps walking them (and everything older),
which cost a pull about a tenth of its time. ``bulk_allocations`` raises the young threshold for the
duration of such work: collections still happen (memory stays bounded), only less often.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

YOUNG_THRESHOLD = 50_000
_lock = threading.Lock()
_depth = 0
_saved: tuple[int, int, int] | None = None


@contextlib.contextmanager
def bulk_allocations() -> Iterator[None]:
    """Run the young-generation collection every ``YOUNG_THRESHOLD`` allocations inside the block
    (nested and concurrent blocks share one setting; the last one out restores the previous)."""
    global _depth, _saved
    with _lock:
        if _depth == 0:
            _saved = gc.get_threshold()
            gc.set_threshold(max(YOUNG_THRESHOLD, _saved[0]), *_saved[1:])
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved is not None:
                gc.set_threshold(*_saved)
                _saved = None
