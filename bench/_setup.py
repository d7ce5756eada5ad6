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


def _proc_stat(pid: int) -> tuple[int, str, float] | None:
    """(parent pid, command, CPU seconds of the process and of its reaped children) from /proc."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm is in parentheses and may hold spaces; the fields after it are space-separated
    comm = raw[raw.index("(") + 1:raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2:].split()
    ticks = os.sysconf("SC_CLK_TCK")
    utime, stime, cutime, cstime = (int(fields[i]) for i in (11, 12, 13, 14))
    return int(fields[1]), comm, (utime + stime + cutime + cstime) / ticks


def descendant_cpu_seconds(root: int | None = None, *, also: tuple[int, ...] = ()) -> dict[str, float]:
    """CPU seconds used so far by every live descendant of ``root`` (default: this process), by command.

    Each process counts with its reaped children, so a PostgreSQL backend or a gunicorn worker that exited
    is still counted (in its parent). A child that ``root`` itself reaped (a finished ``subprocess.run``) is
    not: take the difference of two snapshots around the measured interval, and run the load generator as a
    child reaped in between, so that its own CPU stays out of the figure. Server CPU per request reads
    correctly on a busy machine, where wall-clock rates measure the contention. ``also``: more processes counted
    with their descendants (a server that daemonized itself away from ``root``, as PostgreSQL's pg_ctl does)."""
    root = os.getpid() if root is None else root
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _proc_stat(int(entry.name))):
            stats[int(entry.name)] = stat
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    by_command: dict[str, float] = {}
    todo = list(children.get(root, [])) + [pid for pid in also if pid in stats]
    while todo:
        pid = todo.pop()
        _, comm, seconds = stats[pid]
        by_command[comm] = by_command.get(comm, 0.0) + seconds
        todo.extend(children.get(pid, []))
    return by_command


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Per command, CPU seconds used between two ``descendant_cpu_seconds`` snapshots (a process present in
    only one snapshot counts from zero or is dropped; its parent's reaped-children time carries it)."""
    return {name: round(after.get(name, 0.0) - before.get(name, 0.0), 2)
            for name in sorted(set(before) | set(after)) if after.get(name, 0.0) - before.get(name, 0.0) > 0.005}
