"""Prometheus metrics of a node, correct across every web worker process.

Two kinds of figures:

* **Counted in the process that sees the event** (requests and their latency by view, searches,
  downloads, purchases): prometheus-client counters and histograms. A node runs several gunicorn
  workers; each keeps its own counts, so with ``PROMETHEUS_MULTIPROC_DIR`` set (``deploy/gunicorn.conf.py``
  sets it) every process writes its samples to files there and a scrape — whichever worker answers it —
  adds them up (prometheus-client's multiprocess mode). Without it (runserver, tests) the process's
  own registry is served.
* **Read at scrape time from the shared state** (queue depth and failed jobs in Redis, review backlog,
  pending index work, sync lag and errors per peer in the database): the functions named in
  ``settings.EXCHANGE_METRICS_COLLECTORS`` yield metric families, so the figure is the same whichever
  process is asked and needs no process of its own. A collector that fails is reported as
  ``exchange_metrics_collector_up{collector=…} 0`` and never breaks the scrape.

Lower apps define their own metrics (``catalog.metrics``, ``licensing.metrics``, ``federation.metrics``);
this module imports none of them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator

from django.conf import settings
from django.utils.module_loading import import_string
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

logger = logging.getLogger("exchange.metrics")

#: Latency buckets (seconds) for requests and searches: 5 ms to 30 s.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

HTTP_REQUESTS = Counter("exchange_http_requests_total", "HTTP requests answered, by view and status",
                        ["method", "view", "status"])
HTTP_LATENCY = Histogram("exchange_http_request_duration_seconds",
                         "Time to produce the response (streamed bodies not included), by view",
                         ["method", "view"], buckets=LATENCY_BUCKETS)


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


class _ProcessRegistry(Collector):
    """This process's own metrics (no multiprocess directory)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


class _StateCollectors(Collector):
    """The metrics read from shared state at scrape time (``EXCHANGE_METRICS_COLLECTORS``)."""

    def __init__(self, paths: Iterable[str]) -> None:
        self.paths = list(paths)

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("exchange_metrics_collector_up",
                               "1 when the collector could read its figures at this scrape", labels=["collector"])
        for path in self.paths:
            try:
                collect: Callable[[], Iterable[Metric]] = import_string(path)
                families = list(collect())
            except Exception:  # noqa: BLE001 - one unreadable backend must not hide every other figure
                logger.warning("metrics collector failed", extra={"collector": path}, exc_info=True)
                up.add_metric([path], 0)
                continue
            up.add_metric([path], 1)
            yield from families
        yield up


def scrape() -> bytes:
    """The node's metrics in the Prometheus text format."""
    registry = CollectorRegistry(auto_describe=False)
    directory = multiprocess_dir()
    if directory:
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry, path=directory)
    else:
        registry.register(_ProcessRegistry())
    registry.register(_StateCollectors(getattr(settings, "EXCHANGE_METRICS_COLLECTORS", [])))
    return generate_latest(registry)
