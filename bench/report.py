"""bench/RESULTS.md: each benchmark owns one marked section of the file and replaces only that.

A section is everything between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->``; text outside the
markers (other sections, figures another engineer added by hand, the file's introduction) is kept as it
is. A section that is not in the file yet is appended. Every section says when, on which commit and on
what machine (cores, RAM, load average when the benchmark started) its figures were taken, and the
command that produced them.
"""

from __future__ import annotations

import fcntl
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS_MD = HERE / "RESULTS.md"

HEADER = """# Benchmark results

Written by `make bench` (`bench/run.py`): each benchmark replaces only its own section, between
`<!-- bench:NAME -->` and `<!-- /bench:NAME -->`; anything else in this file is kept. The machine is
shared with other engineers running tests: the load average when a benchmark started is given with its
figures. No figure here is asserted by a test.
"""


def machine() -> dict[str, Any]:
    """Date (UTC), commit, cores, RAM and load average now."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, timeout=10).stdout.strip() or "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "unknown", ""
    ram_mib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_mib = int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
        "commit": commit + ("+uncommitted changes" if dirty else ""),
        "cores": os.cpu_count(),
        "ram_mib": ram_mib,
        "load_average": [round(x, 2) for x in load],
        "python": platform.python_version(),
    }


def machine_line(info: dict[str, Any]) -> str:
    load = info.get("load_average") or []
    return (f"{info.get('date')} · commit `{info.get('commit')}` · {info.get('cores')} cores, "
            f"{round(info.get('ram_mib', 0) / 1024, 1)} GiB RAM · load average at start "
            f"{' / '.join(str(x) for x in load)} (1/5/15 min) · Python {info.get('python')}")


def _markers(name: str) -> tuple[str, str]:
    if not re.fullmatch(r"[a-z0-9_-]+", name):
        raise ValueError(f"bad section name {name!r}")
    return f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"


def replace_section(text: str, name: str, body: str) -> str:
    """``text`` with section ``name`` replaced by ``body`` (appended when missing); the rest unchanged."""
    start, end = _markers(name)
    block = f"{start}\n{body.strip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        return pattern.sub(lambda _: block, text, count=1)
    if not text.strip():
        text = HEADER
    return text.rstrip("\n") + "\n\n" + block + "\n"


def hide_local_paths(text: str) -> str:
    """The checkout's and the interpreter's paths as ``<checkout>`` and ``<python>``: results are committed,
    the paths of the machine that measured them are not."""
    for path, name in sorted(((str(ROOT), "<checkout>"), (sys.prefix, "<python>"), (sys.base_prefix, "<python>")),
                             key=lambda item: -len(item[0])):
        text = text.replace(path, name)
    return text


def write_section(name: str, body: str, path: Path = RESULTS_MD) -> None:
    """Replace section ``name`` of ``path`` (under a lock: runners may finish side by side)."""
    body = hide_local_paths(body)
    with open(path.with_name(f".{path.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(replace_section(text, name, body), encoding="utf-8")
        tmp.replace(path)


# --- rendering -----------------------------------------------------------------------------------

def _flat(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        rows: list[tuple[str, Any]] = []
        for key, item in value.items():
            if str(key).startswith("samples"):
                continue
            rows.extend(_flat(item, f"{prefix}{key}."))
        return rows
    return [(prefix.rstrip("."), value)]


def table(result: dict[str, Any]) -> str:
    rows = ["| figure | value |", "|---|---|"]
    for key, value in _flat(result):
        if isinstance(value, list) and len(value) > 12:
            value = f"{value[:12]} …"
        cell = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
        rows.append(f"| {key} | {cell.replace('|', '&#124;').replace(chr(10), '<br>')} |")
    return "\n".join(rows)


TITLES = {
    "load": "Load: 200 concurrent clients for 60 s against a province on gunicorn + PostgreSQL",
    "load_embedded": "Load: the same, the province searching its embedded index (SQLite FTS5) instead of the "
                     "Elasticsearch API stand-in",
    "crash": "Faults: kill -9 during import, sync and voucher spending",
    "crash_import": "Faults: kill -9 during import",
    "crash_federation": "Faults: kill -9 during sync (federation pull)",
    "crash_vouchers": "Faults: kill -9 during voucher spending",
    "federation": "Initial sync of signed records vs OAI-PMH harvest",
    "import": "Bulk import including signing",
    "oai": "OAI-PMH harvest (sickle) of a node",
    "nation": "make demo-nation UNTIL_CONVERGED=1 (hub + 32 provinces)",
    "search": "Search",
    "search_api": "Search API cost: server time per request and gunicorn (2 workers) under wrk, embedded index",
    "prereview": "Pre-review",
}


def render(name: str, result: dict[str, Any], info: dict[str, Any], command: str, *, failed: str = "") -> str:
    """The markdown of one section: title, machine line, command, the bench's own summary lines (a
    ``"summary"`` list of strings in its JSON, when it gives one), then every figure as a table."""
    lines = [f"## {TITLES.get(name, name)}", "", machine_line(info), "", f"Command: `{command}`", ""]
    if failed:
        lines += [f"**FAILED: {failed}**", ""]
    for line in result.get("summary", []) if isinstance(result, dict) else []:
        lines.append(f"- {line}")
    if isinstance(result, dict) and result.get("summary"):
        lines.append("")
    if isinstance(result, dict) and result:
        lines += ["<details><summary>all figures</summary>", "", table(
            {k: v for k, v in result.items() if k != "summary"}), "", "</details>"]
    return "\n".join(lines)
