"""Run every benchmark in bench/ (files named *_bench.py), each in its own process.

Each benchmark prints its figures and writes them to bench/results/<name>.json; this runner collects
them into bench/results/summary.json and writes each one's section of bench/RESULTS.md (``report.py``:
date, commit, machine and load average at its start, the command; only that section is replaced).
Set BENCH_N to change the corpus size (default 100000) and BENCH_ONLY=name1,name2 to run a subset.
A benchmark that fails still gets its section, saying so. BENCH_DIR (where the *_bench.py files are) and
BENCH_RESULTS_MD (the file written) default to this directory and its RESULTS.md (tests set them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from report import RESULTS_MD, machine, render, write_section  # noqa: E402


def main() -> int:
    scripts = Path(os.environ.get("BENCH_DIR") or HERE)
    results = scripts / "results"
    results_md = Path(os.environ.get("BENCH_RESULTS_MD") or RESULTS_MD)
    results.mkdir(exist_ok=True)
    n = os.environ.get("BENCH_N", "100000")
    only = {x for x in os.environ.get("BENCH_ONLY", "").split(",") if x}
    summary: dict[str, object] = {"n": int(n), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    failed = []
    for script in sorted(scripts.glob("*_bench.py")):
        name = script.stem.removesuffix("_bench")
        if only and name not in only:
            continue
        out = results / f"{name}.json"
        before = out.stat().st_mtime_ns if out.exists() else None  # an earlier run's figures stay if this fails
        print(f"== {name} (n={n})", flush=True)
        info = machine()
        extra = "".join(f"{key}={value} " for key, value in sorted(os.environ.items())
                        if key.startswith(("BENCH_", "CRASH_")) and key not in ("BENCH_ONLY", "BENCH_N", "BENCH_DIR",
                                                                               "BENCH_RESULTS_MD"))
        command = f"{extra}BENCH_ONLY={name} BENCH_N={n} make bench  (python bench/{script.name} --n {n})"
        started = time.monotonic()
        code = subprocess.call([sys.executable, str(script), "--n", n, "--out", str(out)], cwd=ROOT)
        written = out.exists() and out.stat().st_mtime_ns != before
        result = json.loads(out.read_text()) if written else {}
        if isinstance(result, dict):
            result.setdefault("wall_clock_s", round(time.monotonic() - started, 1))
        error = ""
        if code != 0 or not written:
            failed.append(name)
            error = f"exit code {code}" + ("" if written else ", no results written")
        summary[name] = {**result, "error": error} if error else result
        write_section(name, render(name, result, info, command, failed=error), results_md)
    (results / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    print(f"results in {results}/ and {results_md}")
    if failed:
        print("FAILED:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
