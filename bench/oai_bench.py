"""OAI-PMH full-harvest rate: records/s a standard client (sickle) gets from a node over HTTP.

A throw-away node (data dir + SQLite) is filled with ``catalog.sampledata.generate(n)`` (metadata only,
no search indexing), then served by gunicorn on 127.0.0.1 (``manage.py runserver --noreload`` when
gunicorn is not installed) and harvested with ``ListRecords`` from start to finish, following the
resumption tokens. The figure is the baseline the federation sync benchmark compares against.

    python bench/oai_bench.py --n 100000 --out bench/results/oai.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from _setup import ROOT, fresh_node


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int, env: dict[str, str], workers: int, log: Path) -> tuple[subprocess.Popen, str]:
    """Start the node on 127.0.0.1:port (its output goes to ``log``); returns the process and the
    server's name."""
    if importlib.util.find_spec("gunicorn") is not None:
        cmd = [sys.executable, "-m", "gunicorn", "exchange.wsgi:application", "--bind", f"127.0.0.1:{port}",
               "--workers", str(workers), "--timeout", "300", "--log-level", "warning"]
        server = f"gunicorn ({workers} workers)"
    else:
        cmd = [sys.executable, "manage.py", "runserver", "--noreload", "--skip-checks", f"127.0.0.1:{port}"]
        server = "manage.py runserver"
    with open(log, "wb") as out:
        process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    return process, server


def wait_ready(url: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}?verb=Identify", timeout=5) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("server did not become ready")


def harvest(url: str, prefix: str) -> dict[str, float]:
    """One full ListRecords harvest with sickle; returns counts and timings."""
    from sickle import Sickle

    client = Sickle(url, max_retries=0, timeout=300)
    pages = 0
    records = deleted = 0
    response_bytes = 0
    started = time.perf_counter()
    params: dict[str, str] = {"verb": "ListRecords", "metadataPrefix": prefix}
    while True:
        response = client.harvest(**params)
        pages += 1
        response_bytes += len(response.http_response.content)
        xml = response.xml
        ns = "{http://www.openarchives.org/OAI/2.0/}"
        for record in xml.iterfind(f".//{ns}record"):
            records += 1
            if record.find(f"{ns}header").get("status") == "deleted":
                deleted += 1
        token = xml.find(f".//{ns}resumptionToken")
        if token is None or not token.text:
            break
        params = {"verb": "ListRecords", "resumptionToken": token.text}
    seconds = time.perf_counter() - started
    return {"records": records, "deleted": deleted, "pages": pages, "seconds": round(seconds, 2),
            "records_per_s": round(records / seconds, 1), "mb": round(response_bytes / 1e6, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100000)
    parser.add_argument("--out", default="bench/results/oai.json")
    parser.add_argument("--page-size", type=int, default=200, help="OAI_PAGE_SIZE of the served node")
    parser.add_argument("--formats", default="oai_dc,lom", help="metadataPrefixes to harvest, one run each")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    os.environ["DEBUG"] = "false"  # no per-query bookkeeping in the importer or the server
    data_dir = fresh_node("bench-oai-")
    from catalog.importer import import_records
    from catalog.sampledata import generate

    started = time.perf_counter()
    report = import_records((json.dumps(r, ensure_ascii=False) for r in generate(args.n)), with_files=False,
                            index=False, batch_size=1000)
    import_seconds = time.perf_counter() - started
    assert report.errors == [] and report.created == args.n, (report.created, report.errors[:3])

    port = free_port()
    url = f"http://127.0.0.1:{port}/oai"
    env = {**os.environ, "EXCHANGE_DATA_DIR": str(data_dir), "EXCHANGE_BASE_URL": f"http://127.0.0.1:{port}",
           "DEBUG": "false", "LOG_LEVEL": "WARNING", "OAI_PAGE_SIZE": str(args.page_size),
           "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "exchange.settings")}
    log = data_dir / "server.log"
    process, server = start_server(port, env, args.workers, log)
    runs: dict[str, dict[str, float]] = {}
    try:
        wait_ready(url, process, log)
        for prefix in args.formats.split(","):
            runs[prefix] = harvest(url, prefix)
            print(f"{prefix}: {runs[prefix]}", flush=True)
            assert runs[prefix]["records"] == args.n, f"harvested {runs[prefix]['records']} of {args.n}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(data_dir, ignore_errors=True)

    import django

    result = {
        "n": args.n,
        "client": "sickle (ListRecords, following resumption tokens, one client)",
        "server": server,
        "page_size": args.page_size,
        "database": "SQLite (embedded default)",
        "runs": runs,
        "records_per_s": {prefix: run["records_per_s"] for prefix, run in runs.items()},
        "import_seconds": round(import_seconds, 1),
        "python": platform.python_version(),
        "django": django.get_version(),
        "cpus": os.cpu_count(),
        "note": "loopback HTTP on one machine; client parse time included; no timing assertions",
    }
    print(json.dumps(result, indent=2, ensure_ascii=False))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=2, ensure_ascii=False)


if __name__ == "__main__":
    main()
