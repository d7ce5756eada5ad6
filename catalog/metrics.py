"""Catalog's metrics: search latency (counted where searches run) and, read at scrape time from the
database, the review backlog and the search-index work still pending (``exchange.metrics``)."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client import Histogram
from prometheus_client.core import GaugeMetricFamily, Metric

from catalog.models import IndexPending, Resource
from exchange.metrics import LATENCY_BUCKETS

SEARCH_LATENCY = Histogram("exchange_search_duration_seconds",
                           "Time the search backend took to answer, by kind (search, suggest, browse)", ["kind"],
                           buckets=LATENCY_BUCKETS)

#: Local resources waiting for a reviewer (submitted) or for publication (approved).
BACKLOG_STATUSES = (Resource.Status.SUBMITTED, Resource.Status.APPROVED)


def collect() -> Iterator[Metric]:
    """Review backlog by status, the age of the oldest submission waiting for review, and the number of
    resources whose search-index entry is still to be written."""
    counts = dict(Resource.objects.filter(is_remote=False, status__in=BACKLOG_STATUSES)
                  .values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    backlog = GaugeMetricFamily("exchange_review_backlog", "Local resources waiting: submitted (for review), "
                                "approved (for publication)", labels=["status"])
    for status in BACKLOG_STATUSES:
        backlog.add_metric([str(status)], counts.get(status, 0))
    yield backlog
    oldest = Resource.objects.filter(is_remote=False, status=Resource.Status.SUBMITTED).aggregate(
        oldest=Min("submitted_at"))["oldest"]
    yield GaugeMetricFamily("exchange_review_oldest_waiting_seconds",
                            "Age of the oldest submission waiting for review (0: none waiting)",
                            value=(timezone.now() - oldest).total_seconds() if oldest else 0)
    yield GaugeMetricFamily("exchange_search_index_pending",
                            "Resource changes not yet written to the search index",
                            value=IndexPending.objects.count())
