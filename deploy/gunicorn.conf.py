"""gunicorn settings for a node's web processes (scale out by adding processes or hosts)."""

import multiprocessing
import os
import shutil
import tempfile
from pathlib import Path

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", 2))
timeout = 120
# Idle keep-alive connections stay open longer than nginx keeps its upstream ones (keepalive_timeout 60s in
# deploy/nginx.conf) and than clients wait between requests: with gunicorn's default of 2 s, a request sent
# on a connection as gunicorn closes it failed with a connection error (load bench: 3 of 4,556 requests).
# gthread keeps idle connections in its poller, not in a thread.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", 75))
graceful_timeout = 30
# A worker is replaced after this many requests (a bound on slow leaks). A replacement costs about 1.7 s
# of CPU (measured at 100,000 resources: Django 1.2 s, the embedded index's columns and vocabulary 0.45 s)
# and its kept search pages, and the requests queued on it wait meanwhile: at the former 20,000 and some
# 300 searches a second per worker it came every minute, and the search benchmark's p99 at 16 connections
# was about 1 s (0.94 and 1.09 s in two runs); with replacement off, 59 ms.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", 200000))
max_requests_jitter = max_requests // 10
accesslog = "-"
errorlog = "-"
# JSON lines, redacted like the node's own: no signed download token (/files/…) or credential in them,
# each access line with the request id the node returned.
logger_class = "exchange.logging.GunicornLogger"
# Proxies whose X-Forwarded-Proto gunicorn believes: those the node believes (TRUSTED_PROXIES).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS") or os.environ.get("TRUSTED_PROXIES") or "127.0.0.1"

# --- metrics across worker processes ----------------------------------------------------------
# Each worker writes its counters to files in PROMETHEUS_MULTIPROC_DIR and /metrics adds up all of them
# (prometheus-client's multiprocess mode; exchange.metrics). The variable must be set before a worker
# imports prometheus_client, so it is set here, in the master, and inherited. Unset: a directory of
# this master's own, removed when it exits.
_own_metrics_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _own_metrics_dir:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="exchange-metrics-")
METRICS_DIR = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])


def on_starting(server):
    """Start from an empty metrics directory: files of a previous run would be added to this one's."""
    METRICS_DIR.mkdir(parents=True, exist_ok=True)
    for stale in METRICS_DIR.glob("*.db"):
        stale.unlink()


def child_exit(server, worker):
    """A worker's counters stay counted after it exits (max_requests recycles workers); its live
    gauges are dropped."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, path=str(METRICS_DIR))


def on_exit(server):
    if _own_metrics_dir:
        shutil.rmtree(METRICS_DIR, ignore_errors=True)


def post_worker_init(worker):
    """Warm the search backend (the embedded index's columns and vocabulary) before the worker takes
    requests, so that no request waits for it; then leave everything loaded so far (Django, the index's
    state: some 340,000 objects at 100,000 resources) out of the garbage collector's full collections,
    each of which walked it all (78 ms) in the middle of a request."""
    import gc

    from catalog.search import warm_up

    warm_up()
    gc.freeze()
