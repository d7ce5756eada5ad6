"""``make demo-nation UNTIL_CONVERGED=1`` as a benchmark: the hub and 32 provinces from scratch, seeded,
some records taken down, until every node holds the same catalog digest (deploy/demo/federation_demo.py
says what the digest is). Records the time to convergence and the peak memory it prints, or what failed.

    python bench/nation_bench.py --out bench/results/nation.json
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_S = 15 * 60


def figures(stdout: str, stderr: str, returncode: int) -> dict:
    """What the demo's output says: the time to convergence, peak memory, records and digest, and the
    time per phase (``phases: …``) and per kind of step, or what failed."""
    output = stdout + stderr
    converged = re.search(r"converged in (\d+) s, peak memory (\d+) MiB.*", stdout)
    digest = re.search(r"manage.py federation digest everywhere: (\d+) records, sha256 (\w+)", stdout)
    phases = re.search(r"^phases: (.*)$", stdout, re.MULTILINE)
    steps = re.search(r"^time in each kind of step, summed over the nodes: (.*)$", stdout, re.MULTILINE)
    result: dict = {"nodes": 33, "exit_code": returncode, "goal_s": GOAL_S,
                    "command": "make demo-nation UNTIL_CONVERGED=1",
                    "output_tail": "\n".join(output.strip().splitlines()[-12:])}
    if phases:
        result["phases"] = phases.group(1)
    if steps:
        result["step_time_summed_over_nodes"] = steps.group(1)
    if returncode == 0 and converged:
        result.update(converged_s=int(converged.group(1)), peak_memory_mib=int(converged.group(2)),
                      records=int(digest.group(1)) if digest else None, digest=digest.group(2) if digest else None)
        result["summary"] = [f"**{converged.group(0)}**",
                             f"every node: {result['records']} records, digest {result['digest']}; goal < {GOAL_S // 60} "
                             f"min: {'met' if result['converged_s'] < GOAL_S else 'NOT met'}"]
    else:
        failure = [line for line in output.splitlines() if "NOT converged" in line or "FAILED" in line]
        result["summary"] = [f"**FAILED** (exit code {returncode}): {failure[-1] if failure else output[-500:]}"]
    if phases:
        result["summary"].append(f"phases: {phases.group(1)}")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", default="", help="ignored (bench/run.py passes it to every benchmark)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "nation.json"))
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--hub-port", type=int, default=8100)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-nation-"))
    command = [sys.executable, "deploy/demo/federation_demo.py", "--nation", "--until-converged", "--fresh",
               "--root", str(root), "--timeout", str(args.timeout), "--hub-port", str(args.hub_port)]
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = proc.communicate(timeout=args.timeout + 600)
    except subprocess.TimeoutExpired:
        # The demo's own deadline did not stop it: SIGTERM makes it stop every node it started.
        proc.send_signal(signal.SIGTERM)
        try:
            stdout, stderr = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
        stderr += f"\nFAILED: still running after {args.timeout + 600:.0f} s; stopped"
    seconds = time.perf_counter() - started
    print((stdout + stderr)[-4000:])
    result = figures(stdout, stderr, proc.returncode)
    result["wall_clock_s"] = round(seconds, 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2, ensure_ascii=False))
    shutil.rmtree(root, ignore_errors=True)
    return 0 if proc.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
