"""The benchmark tooling itself (not the benchmarks: ``make bench`` runs those): ``bench/run.py`` writes
each benchmark's own marked section of the results file, with date, commit and machine, and keeps
everything else in the file — another engineer's sections, text added by hand."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

from report import ROOT, hide_local_paths, machine, replace_section  # noqa: E402

FOREIGN = """# Benchmark results

Intro written by hand.

<!-- bench:search -->
## Search (another branch's figures)
p50 12 ms
<!-- /bench:search -->

A note someone added between sections.
"""

FAKE_BENCH = """
import argparse, json, sys
parser = argparse.ArgumentParser()
parser.add_argument("--n")
parser.add_argument("--out")
args = parser.parse_args()
figures = {"records_per_s": 1234.5, "summary": ["fake: **1,234 records/s**"]}
if "{fail}" == "yes":
    sys.exit(2)
json.dump(figures, open(args.out, "w"))
"""


def run_bench(tmp_path: Path, results_md: Path, *, fail: bool = False) -> subprocess.CompletedProcess:
    (tmp_path / "fake_bench.py").write_text(FAKE_BENCH.replace("{fail}", "yes" if fail else "no"))
    env = {**os.environ, "BENCH_DIR": str(tmp_path), "BENCH_RESULTS_MD": str(results_md), "BENCH_N": "10"}
    env.pop("BENCH_ONLY", None)
    return subprocess.run([sys.executable, str(ROOT / "bench" / "run.py")], env=env, capture_output=True,
                          text=True, timeout=120)


def test_the_runner_writes_its_section_and_keeps_the_rest_of_the_file(tmp_path):
    results_md = tmp_path / "RESULTS.md"
    results_md.write_text(FOREIGN)
    first = run_bench(tmp_path, results_md)
    assert first.returncode == 0, first.stderr
    text = results_md.read_text()
    assert text.startswith(FOREIGN.rstrip("\n")), "text outside the bench's own section was changed"
    section = text.split("<!-- bench:fake -->", 1)[1].split("<!-- /bench:fake -->", 1)[0]
    assert "fake: **1,234 records/s**" in section and "1234.5" in section
    for word in ("commit `", "cores", "GiB RAM", "load average at start", "Command: `BENCH_ONLY=fake"):
        assert word in section, word
    assert json.loads((tmp_path / "results" / "fake.json").read_text())["records_per_s"] == 1234.5

    again = run_bench(tmp_path, results_md)
    assert again.returncode == 0, again.stderr
    rerun = results_md.read_text()
    assert rerun.count("<!-- bench:fake -->") == 1 and rerun.count("<!-- /bench:fake -->") == 1
    assert rerun.startswith(FOREIGN.rstrip("\n"))


def test_a_failed_benchmark_is_reported_in_its_section_and_by_the_exit_code(tmp_path):
    results_md = tmp_path / "RESULTS.md"
    results_md.write_text(FOREIGN)
    earlier = tmp_path / "results" / "fake.json"
    earlier.parent.mkdir()
    earlier.write_text('{"records_per_s": 999.0}')  # an earlier run's figures
    failed = run_bench(tmp_path, results_md, fail=True)
    assert failed.returncode == 1 and "FAILED: fake" in failed.stdout
    section = results_md.read_text().split("<!-- bench:fake -->", 1)[1]
    assert "**FAILED: exit code 2, no results written**" in section and "999" not in section
    assert results_md.read_text().startswith(FOREIGN.rstrip("\n"))
    assert json.loads(earlier.read_text()) == {"records_per_s": 999.0}, "a failed run deleted the earlier figures"


def test_replace_section_touches_only_the_named_section():
    text = FOREIGN + "\n<!-- bench:load -->\nold figures\n<!-- /bench:load -->\ntrailing text\n"
    replaced = replace_section(text, "load", "new figures")
    assert replaced == text.replace("old figures", "new figures")
    appended = replace_section(FOREIGN, "crash", "kills")
    assert appended.startswith(FOREIGN.rstrip("\n")) and appended.endswith("<!-- bench:crash -->\nkills\n"
                                                                           "<!-- /bench:crash -->\n")


def test_machine_describes_this_machine():
    info = machine()
    assert info["cores"] == os.cpu_count() and info["ram_mib"] > 0
    assert len(info["load_average"]) == 3 and info["commit"] and info["date"].endswith("Z")


def test_results_never_carry_the_measuring_machines_paths():
    failure = f"Command '['{sys.prefix}/bin/python', '{ROOT}/manage.py', 'seed_demo']' timed out ({sys.base_prefix}/lib)"
    shown = hide_local_paths(failure)
    assert str(ROOT) not in shown and sys.base_prefix not in shown
    assert "'<python>/bin/python', '<checkout>/manage.py'" in shown


def test_server_cpu_counts_every_descendant_and_what_they_reaped_but_not_what_we_reaped():
    """The load bench's CPU per request: a server process and the worker it forks and reaps both count; a
    load generator this process ran and reaped in between does not."""
    from _setup import cpu_delta, descendant_cpu_seconds

    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < {s}: pass\n"
    # a "server" that forks a "worker" burning 0.3 s, reaps it, burns 0.2 s itself, then waits to be measured
    server_code = (f"import subprocess, sys, time\nsubprocess.run([sys.executable, '-c', {burn.format(s=0.3)!r}])\n"
                   + burn.format(s=0.2) + "open(sys.argv[1], 'w').close()\ntime.sleep(60)\n")
    ready = ROOT / "var" / f"cpu-ready-{os.getpid()}"
    ready.parent.mkdir(exist_ok=True)
    before = descendant_cpu_seconds()
    server = subprocess.Popen([sys.executable, "-c", server_code, str(ready)])
    try:
        subprocess.run([sys.executable, "-c", burn.format(s=0.5)], check=True)  # the "load generator", reaped here
        while not ready.exists():
            assert server.poll() is None
            time.sleep(0.05)
        used = cpu_delta(before, descendant_cpu_seconds())
    finally:
        server.kill()
        server.wait()
        ready.unlink(missing_ok=True)
    assert 0.5 <= sum(used.values()) < 1.0, used  # server 0.2 + its worker 0.3 (+ start-up), not the 0.5 reaped here
