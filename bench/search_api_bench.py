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
* load (``--no-load`` skips it and the query mix's wrk runs): gunicorn (``deploy/gunicorn.conf.py``,
  GUNICORN_WORKERS=2, EXCHANGE_ENV=production) on loopback, ``--warmup`` s of warm-up, and ``wrk``
  (Debian package ``wrk``) cycling through the same requests: req/s and latency percentiles.
  ``--code DIR`` serves another checkout (e.g. ``git archive main``) on the same data, after rebuilding
  the index with that code in its own directory, for a main-vs-branch ratio;
* query mix (``--no-mix`` skips it): the requests above are a fixed list (138 today) cycled, so with the
  match cache on every request after the first round is a cache hit, and with it off none is; a node
  sees neither. This phase makes a pool of ``--mix-pool`` distinct requests from the node's own
  textbooks, chapters and sections (``bench/_search_mix.py``: topics alone, with a resource-type or
  occasion word, with grade, subject or edition words, textbook words alone, a few misspelt, facet refinements, browse
  requests with 1–5 filters sorted by newest or downloads) and a sequence of ``--mix-requests`` drawn
  from it with Zipf-like popularity (``--zipf-s``, an assumption; ``--seed``), and reports how many of
  them repeat an earlier one (what a cache of whole responses could at best answer; each gunicorn worker
  has a match cache of its own, bounded, but keyed by the full-text expression, so requests differing
  only in filters or sort share one). Then the server time in process over the first
  ``--mix-server-time`` requests of the sequence with the cache on and empty at the start, and wrk
  walking the sequence in order (a warm-up from its start, then ``--mix-connections`` for
  ``--mix-duration`` s from where the warm-up stopped) against gunicorn with the cache at its default
  and off (``--cache`` chooses, as above).

    python bench/search_api_bench.py --n 3000 --data-dir /tmp/bench-small --mix-requests 3000 --duration 5 --warmup 5

Nothing here fails on a figure: the result is printed and written as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
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
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus, urlencode

import _search_mix as mix

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
"""
# The query mix: thousands of paths, read from a file (one a line) rather than embedded in the script.
# wrk runs the script once per thread (each thread its own Lua state) and once in the main state (setup,
# done): thread k (0-based) of T sends requests start + k, start + k + T, … of the sequence (cycled),
# so that together they walk the sequence in order rather than each sending it from the beginning
# (which would make every thread but the first repeat what the first asked); start and T come after
# "--" on wrk's command line.
WRK_MIX_SCRIPT = """
local paths = {}
for line in io.lines(PATHS_FILE) do
  if #line > 0 then paths[#paths + 1] = line end
end
local created = 0
setup = function(thread)
  thread:set("id", created)
  created = created + 1
end
local i, step = 0, 1
init = function(args)
  step = tonumber(args[2]) or 1
  i = (tonumber(args[1]) or 0) + (id or 0)
end
request = function()
  local path = paths[i % #paths + 1]
  i = i + step
  return wrk.format("GET", path)
end
"""
WRK_DONE = """
done = function(summary, latency, requests)
  local s = summary.duration / 1e6
  io.write(string.format('WRK_JSON {"requests": %d, "seconds": %.3f, "rps": %.1f, "errors": %d, ' ..
    '"non_2xx": %d, "p50_ms": %.2f, "p90_ms": %.2f, "p95_ms": %.2f, "p99_ms": %.2f, "max_ms": %.2f}\\n',
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


@contextlib.contextmanager
def gunicorn(data_dir: Path, *, code: Path, cache_mb: int | None) -> Iterator[str]:
    """gunicorn (2 workers, production settings) on ``data_dir`` serving the code in ``code``, on loopback
    until the block ends; yields its base URL. ``cache_mb`` sets CATALOG_SEARCH_MATCH_CACHE_MB (None: the
    default)."""
    port = free_port()
    env = {**os.environ, "EXCHANGE_DATA_DIR": str(data_dir), "EXCHANGE_ENV": "production",
           "SECRET_KEY": "bench-" + "x" * 60, "SECURE_SSL_REDIRECT": "0", "GUNICORN_WORKERS": "2",
           "GUNICORN_BIND": f"127.0.0.1:{port}", "ALLOWED_HOSTS": "127.0.0.1", "LOG_LEVEL": "WARNING",
           "PYTHONPATH": str(code)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if cache_mb is not None:
        env["CATALOG_SEARCH_MATCH_CACHE_MB"] = str(cache_mb)
    executable = Path(sys.executable).with_name("gunicorn")
    server = subprocess.Popen([str(executable), "-c", str(code / "deploy" / "gunicorn.conf.py"), "exchange.wsgi"],
                              cwd=code, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        wait_for(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def wrk_run(wrk: str, script: Path, base: str, *, threads: int, conns: int, seconds: int,
            timeout: str = "10s", script_args: tuple[str, ...] = ()) -> dict[str, Any]:
    """One wrk run: its WRK_JSON figures."""
    command = [wrk, f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--timeout", timeout, "-s", str(script), base]
    if script_args:
        command += ["--", *script_args]
    out = subprocess.run(command, capture_output=True, check=True, text=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("WRK_JSON "))
    return {"connections": conns, "duration_s": seconds, **json.loads(line[len("WRK_JSON "):])}


def load(paths: list[str], data_dir: Path, *, code: Path, duration: int, connections: int,
         cache_mb: int | None = None, warmup: int = 20) -> dict[str, Any]:
    """gunicorn (2 workers, production settings) on ``data_dir`` serving the code in ``code``, driven by wrk
    cycling through ``paths``; ``cache_mb`` sets CATALOG_SEARCH_MATCH_CACHE_MB (None: the default)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return {"skipped": "wrk is not installed (Debian package wrk)"}
    script = Path(tempfile.mkdtemp(prefix="bench-wrk-")) / "search.lua"
    script.write_text(WRK_SCRIPT % ", ".join(json.dumps(p) for p in paths) + WRK_DONE)
    try:
        with gunicorn(data_dir, code=code, cache_mb=cache_mb) as base:
            # warm every thread of both workers (a thread's first search loads the index's facet columns and
            # term vocabulary: seconds at 100k), then let the requests still queued finish
            wrk_run(wrk, script, base, threads=2, conns=8, seconds=warmup, timeout="30s")
            time.sleep(5)
            # one connection: requests one after another, the latency is the server time plus loopback; then
            # 16 connections (4 waiting per worker thread) and ``connections``: at saturation a request's latency
            # is mostly its wait in the queue (Little's law: connections / throughput)
            return {"sequential": wrk_run(wrk, script, base, threads=1, conns=1, seconds=max(5, duration // 3)),
                    "concurrent_16": wrk_run(wrk, script, base, threads=2, conns=16, seconds=duration),
                    "concurrent": wrk_run(wrk, script, base, threads=2, conns=connections, seconds=duration)}
    finally:
        shutil.rmtree(script.parent, ignore_errors=True)


# --- the query mix (bench/_search_mix.py) ---------------------------------------------------------------

def node_books() -> list[mix.Book]:
    """The distinct textbook paths, chapters, sections and resource types of the node's published resources
    (in a fixed order, so that a seed gives the same pool on the same node)."""
    from catalog.models import Resource

    fields = ("stage", "subject", "edition", "grade", "volume", "chapter", "section", "resource_type")
    rows = (Resource.objects.filter(status=Resource.Status.PUBLISHED).order_by(*fields)
            .values_list(*fields).distinct())
    return [mix.Book(*(value or "" for value in row)) for row in rows]


def query_mix(*, pool_size: int, length: int, zipf_s: float, seed: int) -> tuple[list[str], list[int], dict[str, Any]]:
    """The request sequence (paths), its pool ranks, and what to report of both."""
    books = node_books()
    pool = mix.build_pool(books, pool_size, seed=seed)
    ranks = mix.zipf_sequence(len(pool.paths), length, s=zipf_s, seed=seed + 1)
    info = {
        "seed": seed, "zipf_s": zipf_s, "pool_asked": pool_size, "pool": len(pool.paths),
        "pool_kinds": mix.kind_counts(pool.kinds),
        "node_textbooks": len({(b.stage, b.subject, b.edition, b.grade, b.volume) for b in books}),
        "node_topics": len({mix.topic_of(name) for b in books for name in (b.chapter, b.section)} - {""}),
        "sequence": mix.repeats(ranks),
        "most_requested": [unquote_plus(pool.paths[rank].removeprefix(mix.SEARCH_PATH)) for rank in range(10)
                           if rank < len(pool.paths)],
    }
    return [pool.paths[rank] for rank in ranks], ranks, info


def empty_match_cache() -> None:
    """Empty this process's match cache and facet summaries, as a freshly started worker has them (the
    embedded backend's per-generation state is private: this benchmark reaches into it)."""
    from catalog.search import sqlite_store

    for state in list(sqlite_store._states.values()):
        with state._lock:
            state._matches.clear()
            state._summaries.clear()
            state._cached_bytes = 0


def mix_server_time(paths: list[str], ranks: list[int], *, count: int) -> dict[str, Any]:
    """Server time in this process of the first ``count`` requests of the sequence, each once in order, with
    the match cache on (its default size) and empty at the start."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    # this process's index state (columns, vocabulary) is loaded before the clock starts, as in a worker
    # that has served something else; then its cache is emptied
    assert client.get("/api/v1/search?" + urlencode({"q": "基准预热"})).status_code == 200
    empty_match_cache()
    ms, failed = [], 0
    for path in paths[:count]:
        started = time.perf_counter()
        response = client.get(path)
        ms.append((time.perf_counter() - started) * 1000)
        failed += response.status_code != 200
    return {**stats(ms), "non_200": failed, "cache_mb": settings.CATALOG_SEARCH_MATCH_CACHE_MB,
            "repeat_share": mix.repeats(ranks[:count])["repeat_share"]}


def load_mix(paths: list[str], ranks: list[int], data_dir: Path, *, code: Path, duration: int, connections: int,
             warmup: int, cache_mb: int | None = None) -> dict[str, Any]:
    """gunicorn (2 workers, production settings) driven by wrk walking the request sequence ``paths``: a
    warm-up of ``warmup`` s (8 connections) from its start, then ``connections`` for ``duration`` s from
    where the warm-up stopped, so the measured requests follow the history the server has seen."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return {"skipped": "wrk is not installed (Debian package wrk)"}
    folder = Path(tempfile.mkdtemp(prefix="bench-wrk-mix-"))
    listing = folder / "paths.txt"
    listing.write_text("\n".join(paths) + "\n", encoding="ascii")  # urlencoded: ASCII
    script = folder / "mix.lua"
    script.write_text(WRK_MIX_SCRIPT.replace("PATHS_FILE", json.dumps(str(listing))) + WRK_DONE)
    threads = 2
    try:
        with gunicorn(data_dir, code=code, cache_mb=cache_mb) as base:
            warm = wrk_run(wrk, script, base, threads=threads, conns=8, seconds=warmup, timeout="30s",
                           script_args=("0", str(threads)))
            time.sleep(5)
            # 16 connections (4 waiting per worker thread), then ``connections``, each going on in the sequence
            # from where the previous run stopped (about: the threads' counts differ by a few)
            runs, start = {}, warm["requests"]
            for phase, conns in (("concurrent_16", 16), ("concurrent", connections)):
                run = wrk_run(wrk, script, base, threads=threads, conns=conns, seconds=duration,
                              script_args=(str(start), str(threads)))
                runs[phase] = {**run, "sequence_from": start, "sequence_to": start + run["requests"],
                               "wrapped": start + run["requests"] > len(paths),
                               "repeat_share": mix.window_repeat_share(ranks, start, run["requests"])}
                start += run["requests"]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"warm_up": {"connections": 8, "duration_s": warmup, "requests": warm["requests"], "rps": warm["rps"]},
            **runs}


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
    lines += mix_summary(result)
    return lines


def mix_summary(result: dict[str, Any]) -> list[str]:
    info = result.get("mix")
    if not info:
        return []
    sequence = info["sequence"]
    kinds = ", ".join(f"{kind} {count}" for kind, count in info["pool_kinds"].items())
    lines = [f"query mix: {info['pool']} distinct requests made from the node's {info['node_topics']} "
             f"chapter/section topics and {info['node_textbooks']} textbooks ({kinds}; seed {info['seed']}); "
             f"a sequence of {sequence['requests']} drawn with Zipf s={info['zipf_s']} (an assumption): "
             f"{sequence['distinct']} distinct, {round(100 * sequence['repeat_share'], 1)} % repeat an earlier "
             "one (what a cache of whole responses, unbounded and shared by both workers, could at best answer; "
             "each worker keeps its most recent pages within 32 MiB, and its match cache also shares one full-text match between "
             "requests differing only in filters, sort, page or what the analysis normalises)"]
    first = result.get("mix_server_time")
    if first:
        lines.append(f"query mix, server time in process, the first {first['samples']} requests of the sequence once "
                     f"each, match cache on ({first['cache_mb']} MB) and empty at the start "
                     f"({round(100 * first['repeat_share'], 1)} % of them repeat an earlier one): p50 {first['p50_ms']} "
                     f"ms, mean {first['mean_ms']} ms, p95 {first['p95_ms']} ms, p99 {first['p99_ms']} ms, "
                     f"non-200 {first['non_200']}")
    for key, label in (("load_mix_cold", "match cache off"), ("load_mix", "match cache on")):
        for phase in ("concurrent_16", "concurrent"):
            figures = (result.get(key) or {}).get(phase)
            if not figures:
                continue
            warm = result[key]["warm_up"]
            lines.append(f"query mix, gunicorn 2 workers × 2 threads, {label}, wrk {figures['connections']} "
                         f"connections {figures['duration_s']} s after a {warm['duration_s']} s warm-up on the same "
                         f"sequence (requests {figures['sequence_from']}–{figures['sequence_to']} of it"
                         f"{', wrapped round' if figures['wrapped'] else ''}, {round(100 * figures['repeat_share'], 1)} "
                         f"% repeat an earlier one): {figures['rps']} req/s, p50 {figures['p50_ms']} ms, p99 "
                         f"{figures['p99_ms']} ms, errors {figures['errors']}, non-2xx {figures['non_2xx']}")
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
    parser.add_argument("--duration", type=int, default=30, help="seconds of each concurrent wrk run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=20, help="seconds of wrk warm-up before the measured runs")
    parser.add_argument("--paths", type=Path, help="request paths, one a line (default: judged queries + browse)")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--cache", choices=["both", "on", "off"], default="both",
                        help="measure with the match cache off (cold), on (cached, the default setting) or both")
    parser.add_argument("--out", default="bench/results/search_api.json")
    mix_options = parser.add_argument_group("query mix", "a realistic request mix made from the node's own textbooks "
                                            "and topics (bench/_search_mix.py)")
    mix_options.add_argument("--mix", action=argparse.BooleanOptionalAction, default=True,
                             help="query mix phase (default on; --no-mix skips it; --no-load and --skip-server-time "
                                  "skip its wrk and in-process parts)")
    mix_options.add_argument("--mix-pool", type=int, default=3000, help="distinct requests in the pool")
    mix_options.add_argument("--mix-requests", type=int, default=40000, help="length of the request sequence")
    mix_options.add_argument("--zipf-s", type=float, default=1.0, help="popularity of rank r: 1/r^s")
    mix_options.add_argument("--seed", type=int, default=17)
    mix_options.add_argument("--mix-server-time", type=int, default=2000,
                             help="in-process server time over this many first requests of the sequence")
    mix_options.add_argument("--mix-duration", type=int, help="seconds of the wrk run (default: --duration)")
    mix_options.add_argument("--mix-connections", type=int, help="wrk connections (default: --connections)")
    args = parser.parse_args()
    if args.mix and min(args.mix_pool, args.mix_requests, args.mix_server_time) < 1:
        parser.error("--mix-pool, --mix-requests and --mix-server-time must be at least 1 (or --no-mix)")
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
                cache_mb=0 if mode == "cold" else None, warmup=args.warmup)
    if args.mix:
        # The requests above repeat (a fixed list cycled): with the cache on, all but the first round are
        # cache hits; with it off, none is. A node sees neither: this phase serves a sequence of many
        # distinct requests with Zipf-like popularity, made from the node's own textbooks and topics.
        mix_sequence, ranks, result["mix"] = query_mix(pool_size=args.mix_pool, length=args.mix_requests,
                                                       zipf_s=args.zipf_s, seed=args.seed)
        if not args.skip_server_time and code == ROOT:
            result["mix_server_time"] = mix_server_time(mix_sequence, ranks, count=args.mix_server_time)
        if args.load:
            for mode in modes:
                result["load_mix" if mode == "cached" else "load_mix_cold"] = load_mix(
                    mix_sequence, ranks, data_dir, code=code, duration=args.mix_duration or args.duration,
                    connections=args.mix_connections or args.connections, warmup=args.warmup,
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
