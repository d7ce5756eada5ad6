"""A job for the production lane's rq workers (they import the test package: PYTHONPATH is the checkout)."""

from __future__ import annotations

from pathlib import Path


def fail_once(*, marker: str) -> None:
    """Fails the first time (leaving a mark), succeeds when retried."""
    path = Path(marker)
    if not path.exists():
        path.write_text("failed once")
        raise RuntimeError("the first attempt fails on purpose")
    path.write_text("succeeded")
