"""Load: ``--users`` concurrent clients (default 200) for ``--seconds`` (default 60) against a province on
gunicorn (2 workers) and PostgreSQL, with locust (headless, bench extra), all on 127.0.0.1.

The province runs as the production lane starts it (``tests/production/stack.py``: the one-shot migrate
job, gunicorn with ``deploy/gunicorn.conf.py``, an rq worker, the sync loop; PostgreSQL, Redis, S3 through
moto's server, the Elasticsearch API through noida-db), enrolled with a hub started the same way. It is
seeded with ``--resources`` sample records (placeholder files in S3, indexed) and a funded school. The
clients (``locustfile.py``) search, open resource pages, download (API + the file from the object store)
and buy school grants with vouchers, each from its own slice of the paid resources.

Afterwards every download event and ledger entry is accounted for: what the clients were told succeeded
against what the province's database holds, and ``manage.py ledger_verify``. Every error is reported.

    python bench/load_bench.py --out bench/results/load.json
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._setup import cpu_delta, descendant_cpu_seconds  # noqa: E402
from tests import servers  # noqa: E402
from tests.production.stack import (  # noqa: E402
    Backends,
    ProdNode,
    enrol,
    node_env,
    postgres_databases,
    start_nodes,
    stop_nodes,
    wait_until,
)

TERMS = ["有理数", "数学", "语文", "英语", "物理", "化学", "课件", "教案", "七年级", "人教版", "复习", "单元",
         "函数", "古诗", "阅读", "实验", "地理", "历史", "生物", "练习"]


def queue_idle(redis_url: str, name: str = "exchange") -> bool:
    from redis import Redis
    from rq import Queue

    queue = Queue(name, connection=Redis.from_url(redis_url))
    return queue.count == 0 and queue.started_job_registry.count == 0


def db_figures(url: str) -> dict:
    import psycopg

    with psycopg.connect(url) as conn:
        one = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
        return {
            "download_events": one("SELECT COUNT(*) FROM licensing_downloadevent"),
            "download_event_ids": [r[0] for r in conn.execute("SELECT id FROM licensing_downloadevent")],
            "grants": [tuple(r) for r in conn.execute(
                "SELECT g.resource_id::text, g.price, t.amount, t.kind FROM licensing_grant g "
                "LEFT JOIN licensing_ledgertransaction t ON t.id = g.ledger_transaction_id")],
            "purchase_transactions": one("SELECT COUNT(*) FROM licensing_ledgertransaction WHERE kind = 'purchase'"),
            "school_balance": one("SELECT COALESCE(SUM(balance), 0) FROM licensing_voucheraccount "
                                  "WHERE key LIKE 'school:%'"),
            "publisher_balance": one("SELECT COALESCE(SUM(balance), 0) FROM licensing_voucheraccount "
                                     "WHERE key LIKE 'publisher:%'"),
        }


def percentiles(path: Path) -> dict:
    stats = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            stats[row["Name"]] = {
                "requests": int(row["Request Count"]), "failures": int(row["Failure Count"]),
                "req_per_s": round(float(row["Requests/s"]), 1),
                "p50_ms": _num(row["50%"]), "p95_ms": _num(row["95%"]), "p99_ms": _num(row["99%"]),
                "max_ms": _num(row["Max Response Time"]),
            }
    return stats


def _num(value: str) -> float | None:
    try:
        return round(float(value), 1)
    except ValueError:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--resources", type=int, default=3000)
    parser.add_argument("--with-files", type=int, default=800, help="of the resources, how many have a file")
    parser.add_argument("--n", default="", help="ignored (bench/run.py passes it to every benchmark)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "load.json"))
    parser.add_argument("--keep", action="store_true", default=bool(os.environ.get("BENCH_KEEP")),
                        help="keep the nodes' data dirs and logs (also BENCH_KEEP=1)")
    parser.add_argument("--search", choices=("elasticsearch-api", "embedded"), default="elasticsearch-api",
                        help="the province's search backend: the Elasticsearch API (noida-db here, a stand-in whose "
                             "own CPU cost is large) or the embedded SQLite FTS5 index")
    args = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="bench-load-"))
    result: dict = {"users": args.users, "seconds": args.seconds, "resources": args.resources,
                    "topology": "province cn-44: gunicorn 2 workers (deploy/gunicorn.conf.py), PostgreSQL 15, "
                                "Redis + rq worker, S3 (moto server), "
                                + ("Elasticsearch API (noida-db)" if args.search == "elasticsearch-api"
                                   else "embedded search index (SQLite FTS5)")
                                + "; hub enrolled; locust on the same machine, all on 127.0.0.1"}
    nodes: list[ProdNode] = []
    with contextlib.ExitStack() as exits:
        print("starting PostgreSQL, Redis, S3, Elasticsearch API …", flush=True)
        postgres = exits.enter_context(postgres_databases(["cn_hub", "cn_44"]))
        redis = exits.enter_context(servers.redis_server()).rsplit("/", 1)[0]
        s3 = exits.enter_context(servers.s3_server())
        elasticsearch = exits.enter_context(servers.elasticsearch_server())
        import certifi

        backends = Backends(postgres=postgres, redis=redis, s3=s3, elasticsearch=elasticsearch,
                            ca_bundle=Path(certifi.where()))
        hub_port, port = servers.free_ports(2)
        hub = ProdNode("cn-hub", "hub", hub_port, base / "cn-hub", f"http://127.0.0.1:{hub_port}", "127.0.0.1")
        node = ProdNode("cn-44", "province", port, base / "cn-44", f"http://127.0.0.1:{port}", "127.0.0.1")
        plain = {"SECURE_SSL_REDIRECT": "false", "LOG_LEVEL": "WARNING"}
        hub.env = node_env(hub, backends, database="cn_hub", redis_db=0, hub_url="", **plain)
        search = {} if args.search == "elasticsearch-api" else {"ELASTICSEARCH_URL": ""}
        node.env = node_env(node, backends, database="cn_44", redis_db=1, hub_url=hub.public_url,
                            S3_PUBLIC_ENDPOINT_URL=s3, **plain, **search)
        nodes = [hub, node]
        exits.callback(stop_nodes, nodes)
        print("starting the hub and the province (migrate job, gunicorn, rq worker, sync loop) …", flush=True)
        start_nodes(nodes, timeout=1500, ready_timeout=600)  # a shared machine: other engineers' tests may be running
        enrol(node, hub)
        print(f"seeding {args.resources} sample resources ({args.with_files} with files in S3), indexed …", flush=True)
        corpus = base / "corpus.jsonl"
        subprocess.run([sys.executable, "-m", "catalog.sampledata", "--n", str(args.resources), "--seed", "44",
                        "--out", str(corpus)], cwd=ROOT, check=True)
        # The first --with-files records with a placeholder file each (stored in S3), the rest metadata
        # only (searchable, with resource pages): the clients download and buy only records with files.
        lines = corpus.read_text(encoding="utf-8").splitlines(keepends=True)
        (base / "with-files.jsonl").write_text("".join(lines[:args.with_files]), encoding="utf-8")
        (base / "metadata.jsonl").write_text("".join(lines[args.with_files:]), encoding="utf-8")
        node.manage("import_corpus", str(base / "with-files.jsonl"), "--no-progress", timeout=3600)
        if args.resources > args.with_files:
            node.manage("import_corpus", str(base / "metadata.jsonl"), "--metadata-only", "--no-progress", timeout=3600)
        wait_until(lambda: queue_idle(f"{redis}/1"), timeout=900, interval=1, what="indexing jobs done")

        import psycopg

        db_url = node.env["DATABASE_URL"]
        with psycopg.connect(db_url) as conn:
            everything = [r[0] for r in conn.execute(
                "SELECT id::text FROM catalog_resource WHERE status = 'published'")]
            rows = conn.execute(
                "SELECT r.id::text, COALESCE(s.price, 0), COALESCE(s.license_id, '') FROM catalog_resource r "
                "JOIN catalog_rightsstatement s ON s.resource_id = r.id WHERE r.status = 'published' "
                "AND EXISTS (SELECT 1 FROM catalog_resourcefile f WHERE f.resource_id = r.id)").fetchall()
        paid = [[r[0], r[1]] for r in rows if r[1] > 0]
        teacher = node.token("teacher")
        session = requests.Session()
        session.headers["Authorization"] = f"Token {teacher}"
        # Free resources this teacher may download: the first 60 candidates the API allows (these probe
        # downloads are in the database before the run; the accounting counts from after them).
        free = []
        for resource_id, price, _ in rows:
            if price == 0 and len(free) < 60:
                probe = session.post(f"{node.direct_url}/api/v1/resources/{resource_id}/download", json={}, timeout=60)
                if probe.status_code == 200:
                    free.append(resource_id)
        school = session.get(f"{node.direct_url}/api/v1/me", timeout=60).json()["organisation"]["id"]
        funded = requests.post(f"{node.direct_url}/api/v1/vouchers/fund", timeout=60,
                               headers={"Authorization": f"Token {node.token('province_admin')}"},
                               json={"school": school, "per_student": 2000, "memo": "load bench"})
        funded.raise_for_status()
        slices = [paid[i::args.users] for i in range(args.users)]
        plan = {"token": teacher, "terms": TERMS, "all": everything, "free": free, "paid_slices": slices}
        (base / "plan.json").write_text(json.dumps(plan, ensure_ascii=False))
        before = db_figures(db_url)
        result.update(published=len(everything), published_with_files=len(rows), paid_resources=len(paid), free_probed=len(free),
                      vouchers_funded=funded.json()["amount"])
        print(f"locust: {args.users} clients for {args.seconds} s …", flush=True)
        load_avg = os.getloadavg()
        env = {**os.environ, "LOAD_PLAN": str(base / "plan.json"), "LOAD_TALLY": str(base / "tally.json")}
        with psycopg.connect(db_url) as conn:  # PostgreSQL's pg_ctl daemonized it: its postmaster counts too
            backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        postmaster = int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])
        cpu_before = descendant_cpu_seconds(also=(postmaster,))
        started = time.perf_counter()
        locust = subprocess.run([str(Path(sys.executable).parent / "locust"), "-f", str(ROOT / "bench" / "locustfile.py"),
                                 "--headless", "--users", str(args.users), "--spawn-rate", str(max(1, args.users // 10)),
                                 "--run-time", f"{args.seconds}s", "--stop-timeout", "30", "--host", node.direct_url,
                                 "--csv", str(base / "locust"), "--only-summary", "--loglevel", "WARNING",
                                 "--exit-code-on-error", "3"],
                                cwd=ROOT, env=env, capture_output=True, text=True, timeout=args.seconds + 300)
        result["locust_wall_s"] = round(time.perf_counter() - started, 1)
        # CPU the stack used during the run (gunicorn, PostgreSQL, Redis, rq, S3, search; not locust): per
        # request it reads correctly on a busy machine, where req/s and latencies measure the contention.
        server_cpu = cpu_delta(cpu_before, descendant_cpu_seconds(also=(postmaster,)))
        result["load_average_at_locust_start"] = [round(x, 2) for x in load_avg]
        result["locust_exit_code"] = locust.returncode
        (base / "locust.log").write_text(locust.stdout + locust.stderr)
        stats = percentiles(base / "locust_stats.csv")
        failures_csv = base / "locust_failures.csv"
        failures = list(csv.DictReader(open(failures_csv, encoding="utf-8"))) if failures_csv.exists() else []
        tally = json.loads((base / "tally.json").read_text())
        after = db_figures(db_url)
        ledger = node.manage("ledger_verify", check=False)

        # --- accounting -------------------------------------------------------------------------------
        new_events = set(after["download_event_ids"]) - set(before["download_event_ids"])
        client_events = set(tally["download_ids"])
        bought = {rid: price for rid, price in tally["bought"]}
        grants_new = [g for g in after["grants"] if g not in before["grants"]]
        spent = sum(bought.values())
        accounting = {
            "downloads_confirmed_to_clients": tally["tally"].get("downloads", 0),
            "download_events_new_in_db": len(new_events),
            "download_events_unaccounted": len(new_events - client_events),
            "downloads_confirmed_but_missing_in_db": len(client_events - new_events),
            "purchases_confirmed_to_clients": len(tally["bought"]),
            "grants_new_in_db": len(grants_new),
            "purchase_transactions_new_in_db": after["purchase_transactions"] - before["purchase_transactions"],
            "grants_not_confirmed_to_a_client": len({g[0] for g in grants_new} - set(bought)),
            "purchases_confirmed_but_missing_in_db": len(set(bought) - {g[0] for g in grants_new}),
            "grants_whose_ledger_amount_differs": sum(1 for g in grants_new if not (g[1] == g[2] and g[3] == "purchase")),
            "vouchers_spent_by_clients": spent,
            "school_balance_drop": before["school_balance"] - after["school_balance"],
            "publisher_revenue_gain": after["publisher_balance"] - before["publisher_balance"],
            "file_fetches_ok": tally["tally"].get("file_fetches", 0),
            "ledger_verify": (ledger.stdout + ledger.stderr).strip()[-500:],
            "ledger_verify_exit": ledger.returncode,
        }
        accounted = (accounting["download_events_unaccounted"] == 0
                     and accounting["downloads_confirmed_but_missing_in_db"] == 0
                     and accounting["purchases_confirmed_to_clients"] == accounting["grants_new_in_db"]
                     == accounting["purchase_transactions_new_in_db"]
                     and accounting["grants_not_confirmed_to_a_client"] == 0
                     and accounting["purchases_confirmed_but_missing_in_db"] == 0
                     and accounting["grants_whose_ledger_amount_differs"] == 0
                     and spent == accounting["school_balance_drop"] == accounting["publisher_revenue_gain"]
                     and ledger.returncode == 0)
        total = stats.get("Aggregated", {})
        search = stats.get("search", {})
        cores = os.cpu_count() or 1
        served = total.get("requests") or 0
        cpu_ms = 1000 * sum(server_cpu.values()) / served if served else None
        result.update(server_cpu_s_by_command=server_cpu, server_cpu_ms_per_request=cpu_ms and round(cpu_ms, 1),
                      capacity_req_per_s_estimate=cpu_ms and round(cores * 1000 / cpu_ms, 1))
        result.update(requests=stats, failures=failures[:20], accounting=accounting, all_accounted_for=accounted,
                      errors=total.get("failures", None))
        result["summary"] = [
            f"{args.users} locust clients for {args.seconds} s (spawn {max(1, args.users // 10)}/s): "
            f"{total.get('requests')} requests, **{total.get('failures')} errors**, {total.get('req_per_s')} req/s "
            f"overall; load average when locust started {' / '.join(f'{x:.2f}' for x in load_avg)}",
            f"server CPU (gunicorn, PostgreSQL, Redis, rq, S3, search; not locust): "
            f"{sum(server_cpu.values()):.1f} s for {served} requests = **{cpu_ms or float('nan'):.1f} ms per request** "
            f"(mixed journeys), so {cores} cores would serve about {cores * 1000 / cpu_ms if cpu_ms else float('nan'):.0f} "
            f"req/s of this mix when not shared (an estimate from CPU time, not a measured rate); by process: "
            + ", ".join(f"{name} {sec:.1f} s" for name, sec in sorted(server_cpu.items(), key=lambda x: -x[1])[:6]),
            f"search: {search.get('req_per_s')} req/s, p50 {search.get('p50_ms')} ms, p95 {search.get('p95_ms')} ms, "
            f"p99 {search.get('p99_ms')} ms ({search.get('requests')} requests, {search.get('failures')} errors)",
            *[f"{name}: {s['requests']} requests, {s['failures']} errors, {s['req_per_s']} req/s, p50 {s['p50_ms']} ms, "
              f"p95 {s['p95_ms']} ms, p99 {s['p99_ms']} ms" for name, s in stats.items()
              if name not in ("search", "Aggregated")],
            f"accounting: downloads confirmed {accounting['downloads_confirmed_to_clients']} = new download events "
            f"{accounting['download_events_new_in_db']} (unaccounted {accounting['download_events_unaccounted']}, "
            f"missing {accounting['downloads_confirmed_but_missing_in_db']}); purchases confirmed "
            f"{accounting['purchases_confirmed_to_clients']} = grants {accounting['grants_new_in_db']} = purchase "
            f"transactions {accounting['purchase_transactions_new_in_db']}; vouchers spent {spent} = school balance "
            f"drop {accounting['school_balance_drop']} = publisher revenue {accounting['publisher_revenue_gain']}; "
            f"ledger_verify: {accounting['ledger_verify'].splitlines()[-1] if accounting['ledger_verify'] else '?'} "
            f"→ {'ALL ACCOUNTED FOR' if accounted else 'NOT ACCOUNTED FOR'}",
            *[f"error: {f.get('Method')} {f.get('Name')} × {f.get('Occurrences')}: {f.get('Error')}" for f in failures[:20]],
        ]
        print("\n".join(result["summary"]), flush=True)
        if locust.returncode not in (0, 3):
            print(locust.stderr[-3000:], file=sys.stderr)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str))
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    else:
        print(f"kept {base}")
    ok = result.get("errors") == 0 and result.get("all_accounted_for") is True
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
