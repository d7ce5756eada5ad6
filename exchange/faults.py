"""Fault injection for the crash tests: ``EXCHANGE_CRASH_AT=point:N[,point:N…]`` makes the process
SIGKILL itself the N-th time it passes ``crash_point(point)`` — the only way to kill it exactly
between a commit and the work that must follow it. Ignored when ``EXCHANGE_ENV=production``."""

from __future__ import annotations

import os
import signal
import threading

_counts: dict[str, int] = {}
_lock = threading.Lock()


def crash_point(name: str) -> None:
    """Die here (SIGKILL, no cleanup) when ``EXCHANGE_CRASH_AT`` names this point and its count."""
    spec = os.environ.get("EXCHANGE_CRASH_AT", "")
    if not spec or os.environ.get("EXCHANGE_ENV") == "production":
        return
    for item in spec.split(","):
        point, _, nth = item.strip().partition(":")
        if point != name:
            continue
        with _lock:
            _counts[name] = _counts.get(name, 0) + 1
            count = _counts[name]
        if count == int(nth or 1):
            os.kill(os.getpid(), signal.SIGKILL)
