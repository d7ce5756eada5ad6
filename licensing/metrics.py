"""Licensing's metrics (served by ``/metrics``, added up over every web worker: ``exchange.metrics``).

Counted after the transaction that records the event commits, so a rolled-back download or purchase
is never counted.
"""

from __future__ import annotations

from prometheus_client import Counter

DOWNLOADS = Counter("exchange_downloads_total",
                    "Downloads granted (links issued for files this node can serve), by the decision's basis "
                    "and delivery (presigned: object store; signed: served by the node)", ["basis", "delivery"])
PURCHASES = Counter("exchange_purchases_total", "Grants bought with vouchers on this node, by scope", ["scope"])
PURCHASE_VOUCHERS = Counter("exchange_purchase_vouchers_total", "Vouchers spent on grants on this node, by scope",
                            ["scope"])
