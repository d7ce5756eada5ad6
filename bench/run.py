"""Run every benchmark in bench/ (files named *_bench.py), each in its own process.

Each benchmark prints its figures and writes them to bench/results/<name>.json; this runner
collects them into bench/results/summary.json. Set BENCH_N to change the corpus size
(default 100000) and BENCH_ONLY=name1,name2 to run a subset.
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
RESULTS = HERE / "results"


def main() -> int:
    RESULTS.mkdir(exist_ok=True)
    n = os.environ.get("BENCH_N", "100000")
    only = {x for x in os.environ.get("BENCH_ONLY", "").split(",") if x}
    summary: dict[str, object] = {"n": int(n), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    failed = []
    for script in sorted(HERE.glob("*_bench.py")):
        name = script.stem.removesuffix("_bench")
        if only and name not in only:
            continue
        out = RESULTS / f"{name}.json"
        print(f"== {name} (n={n})", flush=True)
        code = subprocess.call([sys.executable, str(script), "--n", n, "--out", str(out)], cwd=ROOT)
        if code != 0 or not out.exists():
            failed.append(name)
            summary[name] = {"error": f"exit code {code}"}
            continue
        summary[name] = json.loads(out.read_text())
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    print(f"results in {RESULTS}/")
    if failed:
        print("FAILED:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
