"""What one search API request costs: server time in process, where it goes (cProfile), and
throughput and latency under load (gunicorn with 2 workers, production settings, wrk on loopback).

    python bench/search_api_bench.py --n 100000 --data-dir /tmp/bench-api --profile --load
    python bench/search_api_bench.py --data-dir /tmp/bench-api --code /tmp/main-export --load   # another checkout

Phases (each optional but the first):

* node: a node in ``--data-dir`` (made once, reused when it holds ``bench-ready``: SQLite, embedded
  index) with N records of the shared corpus generator (else ``catalog.sampledata``) imported and indexed;
* server time: ``GET /api/v1/search`` through Django's full stack in this process (middleware, DRF,
  licensing's annotator, JSON) for the judged queries and browse requests, 20 results with facets
  (and with 1 result: the per-result cost is the difference / 19), ROUNDS rounds after a warm-up;
  with the embedded backend's match cache off ("cold": every request a full-text pass) and on;
* ``--profile``: cProfile over one round, the functions with most own time;
* load (``--no-load`` skips it): gunicorn (``deploy/gunicorn.conf.py``, GUNICORN_WORKERS=2, EXCHANGE_ENV=production) on
  loopback and ``wrk`` (Debian package ``wrk``) cycling through the same requests: req/s and latency
  percentiles. ``--code DIR`` serves another checkout (e.g. ``git archive main``) on the same data,
  after rebuilding the index with that code in its own directory, for a main-vs-branch ratio.

Nothing here fails on a figure: the result is printed and written as JSON.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

for name in ("DATABASE_URL", "ELASTICSEARCH_URL", "REDIS_URL", "S3_BUCKET", "CATALOG_SEARCH_BACKEND"):
    os.environ.pop(name, None)

ROOT = Path(__file__).resolve().parent.parent
SHARED_GENERATOR = ROOT.parent / "shared" / "data" / "generate_corpus.py"
ROUNDS = 5
BROWSE = [
    {},
    {"subject": "数学", "grade": "七年级"},
    {"stage": "高中", "resource_type": "试卷", "sort": "downloads"},
    {"q": "有理数", "resource_type": "课件"},
    {"q": "期末复习", "stage": "小学"},
    {"stage": "初中", "subject": "数学", "edition": "人教版", "grade": "七年级", "volume": "上册"},
]
WRK_SCRIPT = """
local paths = {%s}
local i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
done = function(summary, latency, requests)
  local s = summary.duration / 1e6
  io.write(string.format('WRK_JSON {"requests": %%d, "seconds": %%.3f, "rps": %%.1f, "errors": %%d, ' ..
    '"non_2xx": %%d, "p50_ms": %%.2f, "p90_ms": %%.2f, "p95_ms": %%.2f, "p99_ms": %%.2f, "max_ms": %%.2f}\\n',
    summary.requests, s, summary.requests / s,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(50) / 1e3, latency:percentile(90) / 1e3,
    latency:percentile(95) / 1e3, latency:percentile(99) / 1e3, latency.max / 1e3))
end
"""


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def stats(ms: list[float]) -> dict[str, float]:
    return {"p50_ms": round(percentile(ms, 50), 2), "p95_ms": round(percentile(ms, 95), 2),
            "p99_ms": round(percentile(ms, 99), 2), "mean_ms": round(sum(ms) / len(ms), 2), "samples": len(ms)}


def setup_django(data_dir: Path) -> None:
    os.environ["EXCHANGE_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exchange.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def corpus_lines(n: int) -> tuple[list[str], str]:
    if SHARED_GENERATOR.is_file():
        out = subprocess.run([sys.executable, str(SHARED_GENERATOR), "--n", str(n), "--out", "-"], check=True,
                             capture_output=True).stdout.decode("utf-8")
        return [line for line in out.splitlines() if line.strip()], "shared generate_corpus.py"
    from catalog.sampledata import generate

    return [json.dumps(r, ensure_ascii=False) for r in generate(n)], "catalog.sampledata"


def make_node(data_dir: Path, n: int) -> dict[str, Any]:
    """Import and index N records into the node of ``data_dir`` unless it is ready already."""
    marker = data_dir / "bench-ready"
    if marker.exists():
        return json.loads(marker.read_text())
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("load_vocabularies", verbosity=0)
    from catalog.importer import import_records
    from catalog.search.indexing import rebuild_index

    lines, source = corpus_lines(n)
    started = time.perf_counter()
    report = import_records(lines, with_files=False, index=False, batch_size=1000)
    assert not report.errors, report.errors[:3]
    indexed = rebuild_index(batch_size=1000)
    info = {"n": n, "indexed": indexed, "corpus": source, "setup_s": round(time.perf_counter() - started, 1)}
    marker.write_text(json.dumps(info))
    return info


def request_paths() -> list[str]:
    from catalog.search.evaluation import load_judged_queries

    params = [{"q": q.q} for q in load_judged_queries()] + BROWSE
    return ["/api/v1/search?" + urlencode(p) for p in params]


def server_time(paths: list[str], *, page_size: int, rounds: int = ROUNDS) -> list[float]:
    from django.test import Client

    client = Client()
    sep = lambda p: "&" if "?" in p else "?"  # noqa: E731
    urls = [f"{p}{sep(p)}page_size={page_size}" for p in paths]
    for url in urls:
        assert client.get(url).status_code == 200, url
    out = []
    for _ in range(rounds):
        for url in urls:
            started = time.perf_counter()
            response = client.get(url)
            out.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
    return out


def profile(paths: list[str]) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    server_time(paths, page_size=20, rounds=1)
    profiler.disable()
    buffer = io.StringIO()
    pstats.Stats(profiler, stream=buffer).sort_stats("tottime").print_stats(30)
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"gunicorn did not listen on {port}")


def load(paths: list[str], data_dir: Path, *, code: Path, duration: int, connections: int,
         cache_mb: int | None = None) -> dict[str, Any]:
    """gunicorn (2 workers, production settings) on ``data_dir`` serving the code in ``code``, driven by wrk;
    ``cache_mb`` sets CATALOG_SEARCH_MATCH_CACHE_MB (None: the default)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return {"skipped": "wrk is not installed (Debian package wrk)"}
    port = free_port()
    env = {**os.environ, "EXCHANGE_DATA_DIR": str(data_dir), "EXCHANGE_ENV": "production",
           "SECRET_KEY": "bench-" + "x" * 60, "SECURE_SSL_REDIRECT": "0", "GUNICORN_WORKERS": "2",
           "GUNICORN_BIND": f"127.0.0.1:{port}", "ALLOWED_HOSTS": "127.0.0.1", "LOG_LEVEL": "WARNING",
           "PYTHONPATH": str(code)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if cache_mb is not None:
        env["CATALOG_SEARCH_MATCH_CACHE_MB"] = str(cache_mb)
    gunicorn = Path(sys.executable).with_name("gunicorn")
    server = subprocess.Popen([str(gunicorn), "-c", str(code / "deploy" / "gunicorn.conf.py"), "exchange.wsgi"],
                              cwd=code, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    script = Path(tempfile.mkdtemp(prefix="bench-wrk-")) / "search.lua"
    script.write_text(WRK_SCRIPT % ", ".join(json.dumps(p) for p in paths))
    try:
        wait_for(port)
        base = f"http://127.0.0.1:{port}"
        # warm every thread of both workers (a thread's first search loads the index's facet columns and
        # term vocabulary: seconds at 100k), then let the requests still queued finish
        subprocess.run([wrk, "-t2", "-c8", "-d20s", "--timeout", "30s", "-s", str(script), base], capture_output=True,
                       check=True)
        time.sleep(5)

        def run(threads: int, conns: int, seconds: int) -> dict[str, Any]:
            out = subprocess.run([wrk, f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--timeout", "10s", "-s",
                                  str(script), base], capture_output=True, check=True, text=True).stdout
            line = next(x for x in out.splitlines() if x.startswith("WRK_JSON "))
            return {"connections": conns, "duration_s": seconds, **json.loads(line[len("WRK_JSON "):])}

        # one connection: requests one after another, the latency is the server time plus loopback; then
        # 16 connections (4 waiting per worker thread) and ``connections``: at saturation a request's latency
        # is mostly its wait in the queue (Little's law: connections / throughput)
        return {"sequential": run(1, 1, max(5, duration // 3)), "concurrent_16": run(2, 16, duration),
                "concurrent": run(2, connections, duration)}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        shutil.rmtree(script.parent, ignore_errors=True)


def summary(result: dict[str, Any]) -> list[str]:
    """The figures issue 17 asks for, one line each (goals: a 20-result search with facets <= 6 ms of server
    time at 100k; 2 workers >= 300 req/s with p99 < 200 ms)."""
    lines = []
    for suffix, label in (("_cold", "match cache off (every request a full-text pass)"), ("", "match cache on")):
        twenty, one = result.get(f"server_time_20_results{suffix}"), result.get(f"server_time_1_result{suffix}")
        if twenty and one:
            lines.append(f"server time, {label}: 20 results with facets p50 {twenty['p50_ms']} ms, mean "
                         f"{twenty['mean_ms']} ms, p95 {twenty['p95_ms']} ms; 1 result p50 {one['p50_ms']} ms; "
                         f"per extra result {result.get(f'per_result_ms{suffix}')} ms")
    for key, label in (("load_cold", "match cache off"), ("load", "match cache on")):
        run = result.get(key) or {}
        for phase in ("sequential", "concurrent_16", "concurrent"):
            figures = run.get(phase)
            if figures:
                lines.append(f"gunicorn 2 workers × 2 threads, {label}, wrk {figures['connections']} connection(s) "
                             f"{figures['duration_s']} s: {figures['rps']} req/s, p50 {figures['p50_ms']} ms, "
                             f"p99 {figures['p99_ms']} ms, errors {figures['errors']}, non-2xx {figures['non_2xx']}")
    return lines


def rebuild_with(code: Path, data_dir: Path) -> None:
    """Rebuild the index of ``data_dir`` with the code of another checkout (its own analysis)."""
    env = {**os.environ, "EXCHANGE_DATA_DIR": str(data_dir), "PYTHONPATH": str(code)}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=code, env=env, check=True)
    subprocess.run([sys.executable, "manage.py", "rebuild_index"], cwd=code, env=env, check=True,
                   stdout=subprocess.DEVNULL)


def git_commit(code: Path) -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=code, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        return "?"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100000)
    parser.add_argument("--data-dir", type=Path, help="a node made once and reused (default: throw-away)")
    parser.add_argument("--code", type=Path, default=ROOT, help="checkout to serve under load (default: this one)")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--load", action=argparse.BooleanOptionalAction, default=True,
                        help="gunicorn + wrk phase (default on; --no-load skips it)")
    parser.add_argument("--skip-server-time", action="store_true")
    parser.add_argument("--duration", type=int, default=30)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--paths", type=Path, help="request paths, one a line (default: judged queries + browse)")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--cache", choices=["both", "on", "off"], default="both",
                        help="measure with the match cache off (cold), on (cached, the default setting) or both")
    parser.add_argument("--out", default="bench/results/search_api.json")
    args = parser.parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="bench-api-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    code = args.code.resolve()
    if code != ROOT:
        # another checkout gets a copy of the node (its database; the index rebuilt by its own code)
        other = data_dir.with_name(data_dir.name + "-" + code.name)
        if not (other / "bench-ready").exists():
            setup_django(data_dir)
            make_node(data_dir, args.n)
            shutil.rmtree(other, ignore_errors=True)
            other.mkdir(parents=True)
            for item in data_dir.iterdir():
                if item.name != "search":
                    (shutil.copytree if item.is_dir() else shutil.copy2)(item, other / item.name)
            rebuild_with(code, other)
        data_dir = other
    setup_django(data_dir)
    node = make_node(data_dir, args.n)
    paths = args.paths.read_text().split() if args.paths else request_paths()
    result: dict[str, Any] = {
        "node": node, "code": str(code.name), "commit": git_commit(code), "cpu_count": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()], "requests": len(paths),
    }
    # The match cache (CATALOG_SEARCH_MATCH_CACHE_MB) answers repeated queries without a full-text pass, and
    # these requests repeat: "cold" runs every request with it off (each one a full-text pass, what a query
    # never seen before costs), "cached" with the default.
    modes = {"both": ("cold", "cached"), "off": ("cold",), "on": ("cached",)}[args.cache]
    if not args.skip_server_time and code == ROOT:
        from django.conf import settings

        default_mb = settings.CATALOG_SEARCH_MATCH_CACHE_MB
        for mode in modes:
            settings.CATALOG_SEARCH_MATCH_CACHE_MB = 0 if mode == "cold" else default_mb
            twenty = server_time(paths, page_size=20, rounds=args.rounds)
            one = server_time(paths, page_size=1, rounds=args.rounds)
            suffix = "" if mode == "cached" else "_cold"
            result[f"server_time_20_results{suffix}"] = stats(twenty)
            result[f"server_time_1_result{suffix}"] = stats(one)
            result[f"per_result_ms{suffix}"] = round((percentile(twenty, 50) - percentile(one, 50)) / 19, 3)
        settings.CATALOG_SEARCH_MATCH_CACHE_MB = default_mb
    if args.profile and code == ROOT:
        result["profile_top_tottime"] = profile(paths)
    if args.load:
        for mode in modes:
            result["load" if mode == "cached" else "load_cold"] = load(
                paths, data_dir, code=code, duration=args.duration, connections=args.connections,
                cache_mb=0 if mode == "cold" else None)
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    result["summary"] = summary(result)
    printable = {k: v for k, v in result.items() if k != "profile_top_tottime"}
    print(json.dumps(printable, indent=2, ensure_ascii=False))
    if "profile_top_tottime" in result:
        print(result["profile_top_tottime"])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2, ensure_ascii=False))
    if args.data_dir is None:
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
