"""Federation's metrics, read at scrape time from the database (``exchange.metrics``): how far behind
each peer this node is, how its pulls fail, and the settlement receipts still to be delivered."""

from __future__ import annotations

from collections.abc import Iterator

from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric

from federation.models import OutgoingReceipt, Peer


def collect() -> Iterator[Metric]:
    now = timezone.now()
    lag = GaugeMetricFamily("exchange_federation_peer_lag_seconds",
                            "Seconds since the last successful pull of the peer's feed", labels=["peer"])
    behind = GaugeMetricFamily("exchange_federation_peer_behind_entries",
                               "Feed entries the peer had, at the last page read, that are not applied here",
                               labels=["peer"])
    failures = GaugeMetricFamily("exchange_federation_peer_consecutive_failures",
                                 "Pulls of the peer that failed in a row (0: the last one succeeded)", labels=["peer"])
    failing = GaugeMetricFamily("exchange_federation_peer_last_error",
                                "1 while the peer's pulls fail, labelled with the last error code",
                                labels=["peer", "code"])
    applied = GaugeMetricFamily("exchange_federation_peer_applied_total",
                                "Feed entries of the peer applied here (a counter kept in the database)",
                                labels=["peer"])
    for peer in Peer.objects.filter(pull=True).exclude(status=Peer.Status.REVOKED).order_by("node_id"):
        if peer.last_success_at is not None:
            lag.add_metric([peer.node_id], (now - peer.last_success_at).total_seconds())
        behind.add_metric([peer.node_id], max(0, peer.remote_head - peer.cursor))
        failures.add_metric([peer.node_id], peer.consecutive_failures)
        if peer.consecutive_failures:
            failing.add_metric([peer.node_id, peer.last_error_code or "unknown"], 1)
        applied.add_metric([peer.node_id], peer.applied_total)
    yield from (lag, behind, failures, failing, applied)
    yield GaugeMetricFamily("exchange_federation_receipts_undelivered",
                            "Signed grant receipts not yet delivered to every target",
                            value=OutgoingReceipt.objects.filter(delivered_at__isnull=True).count())
