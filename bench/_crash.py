"""kill -9 during import, during sync and during voucher spending, ``--runs`` kills each (default 20):
the shared runner of ``crash_import_bench.py``, ``crash_federation_bench.py`` and ``crash_vouchers_bench.py``
(one scenario each, so each gets its own section of RESULTS.md; ``python bench/_crash.py`` runs all three).

Runs the crash tests of tests/adversarial in their long mode (``CRASH_RUNS``) in one pytest process and
reports each scenario's outcome. Each test kills real node processes with SIGKILL at random moments
(the seed is printed), resumes them and checks: nothing lost, nothing applied or spent twice, every
voucher ledger balanced, the search index complete. A pass means every one of those checks held after
every kill; a failure is reported with pytest's message, never hidden.

    python bench/crash_vouchers_bench.py --runs 20 --out bench/results/crash_vouchers.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: test file: (what it does, what a pass proves)
SCENARIOS = {
    "tests/adversarial/test_crash_import.py": (
        "kill -9 during import_corpus, resumed", "0 lost, 0 doubled, feed and search index complete"),
    "tests/adversarial/test_crash_federation.py": (
        "kill -9 during a federation pull, resumed", "0 lost, 0 doubled (every record applied once), index complete"),
    "tests/adversarial/test_crash_vouchers.py": (
        "kill -9 during voucher spending, resumed",
        "0 lost, 0 doubled purchases, no download without its grant, ledger balances"),
}


def main(scenarios: list[str] | None = None) -> int:
    chosen = {path: SCENARIOS[path] for path in (scenarios or list(SCENARIOS))}
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=int(os.environ.get("CRASH_RUNS", "20")))
    parser.add_argument("--n", default="", help="ignored (bench/run.py passes it to every benchmark)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "crash.json"))
    parser.add_argument("--seed", default=os.environ.get("CRASH_SEED", ""))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-crash-"))
    junit = work / "junit.xml"
    # The nodes' setup commands (migrate, import of the corpus) get 20 minutes, not the lane's 3: the machine
    # these run on may be shared. Kill moments and checks are unchanged.
    env = {"E2E_COMMAND_TIMEOUT": "1200", **os.environ, "CRASH_RUNS": str(args.runs),
           "EXCHANGE_DATA_DIR": str(work / "data")}
    env.pop("DATABASE_URL", None)  # the crash tests run their nodes on SQLite in every lane
    if args.seed:
        env["CRASH_SEED"] = args.seed
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-s", "-rA",
                           f"--junitxml={junit}", *chosen], cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    (work / "pytest.log").write_text(proc.stdout + proc.stderr)
    seeds = [line.split("=", 1)[1] for line in proc.stdout.splitlines() if line.startswith("CRASH_SEED=")]
    scenarios: dict[str, dict] = {}
    if junit.exists():
        for case in ET.parse(junit).getroot().iter("testcase"):  # noqa: S314 - pytest wrote it just now
            failure = case.find("failure")
            if failure is None:
                failure = case.find("error")
            skipped = case.find("skipped")
            outcome = "failed" if failure is not None else "skipped" if skipped is not None else "passed"
            scenarios[f"{case.get('classname')}::{case.get('name')}"] = {
                "outcome": outcome, "seconds": round(float(case.get("time", 0)), 1),
                **({"message": (failure.get("message") or "")[:500]} if failure is not None else {}),
                **({"reason": skipped.get("message", "")} if skipped is not None else {}),
            }
    passed = sum(1 for s in scenarios.values() if s["outcome"] == "passed")
    summary = [f"{args.runs} kills (SIGKILL) per scenario; pytest exit code {proc.returncode}; "
               f"{passed} of {len(scenarios)} scenarios passed in {seconds:.0f} s; seeds {', '.join(seeds)}"]
    for test, figures in scenarios.items():
        what, proves = next((texts for path, texts in chosen.items() if Path(path).stem in test), ("", ""))
        verdict = (f"{args.runs} kills: {proves}" if figures["outcome"] == "passed"
                   else f"{figures['outcome'].upper()}: {figures.get('message') or figures.get('reason', '')}")
        summary.append(f"`{test}` ({what}): {verdict} ({figures['seconds']} s)")
    result = {"runs_per_scenario": args.runs, "exit_code": proc.returncode, "seconds": round(seconds, 1),
              "seeds": seeds, "scenarios": scenarios, "summary": summary,
              "pytest_log": str(work / "pytest.log")}
    print(json.dumps(result, indent=2, ensure_ascii=False))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2, ensure_ascii=False))
    return 0 if proc.returncode == 0 and passed == len(chosen) else 1


if __name__ == "__main__":
    sys.exit(main())
