"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.module_loading import import_string
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from exchange.metrics import scrape


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


@login_not_required
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Permission: public. The process is up (no backend is touched)."""
    return JsonResponse({"status": "ok", "node": settings.EXCHANGE_NODE_ID})


@login_not_required
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Permission: public. Every backend the node needs answers (database, storage, search, queue); also
    what ``EXCHANGE_STATUS_REPORTS`` tell, which never make the node unready (e.g. which preview programs
    are installed)."""
    checks: dict[str, dict[str, object]] = {}
    ready = True
    for name, path in settings.EXCHANGE_READINESS_CHECKS.items():
        started = time.monotonic()
        try:
            import_string(path)()
            checks[name] = {"ok": True}
        except Exception as exc:  # noqa: BLE001 - any failure means not ready; the class name is enough
            ready = False
            checks[name] = {"ok": False, "error": type(exc).__name__}
        checks[name]["ms"] = round((time.monotonic() - started) * 1000, 1)
    reports = {name: import_string(path)() for name, path in settings.EXCHANGE_STATUS_REPORTS.items()}
    return JsonResponse({"status": "ready" if ready else "unavailable", "checks": checks, **reports},
                        status=200 if ready else 503)


@login_not_required
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Permission: public on loopback / behind the ingress (exposes counters only, no data); the shipped
    nginx answers it to internal networks only. Figures of every worker process (``exchange.metrics``)."""
    return HttpResponse(scrape(), content_type=CONTENT_TYPE_LATEST)
