from __future__ import annotations

import time

from exchange.health import HTTP_LATENCY, HTTP_REQUESTS


class RequestMetricsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.monotonic()
        response = self.get_response(request)
        HTTP_LATENCY.labels(request.method).observe(time.monotonic() - started)
        HTTP_REQUESTS.labels(request.method, str(response.status_code)).inc()
        return response
