"""Shared set-up for benchmarks: a throw-away node (data dir, SQLite DB, vocabularies) per run."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def fresh_node(prefix: str = "bench-") -> Path:
    """Point Django at a new data dir, migrate and load vocabularies. Returns the data dir."""
    data_dir = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ["EXCHANGE_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exchange.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("load_vocabularies", verbosity=0)
    return data_dir


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]
