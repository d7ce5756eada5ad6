"""Request-wide middleware: a request id for every request (first), metrics by view."""

from __future__ import annotations

import re
import time
import uuid

from exchange.clientip import from_trusted_proxy
from exchange.logging import request_id_bound
from exchange.metrics import HTTP_LATENCY, HTTP_REQUESTS

REQUEST_ID_HEADER = "X-Request-ID"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: What a proxy's request id may look like (nginx's $request_id is 32 hex digits; a UUID fits too).
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}")


def request_id_for(request) -> str:
    """The id of this request: the one the trusted reverse proxy sent in ``X-Request-ID`` (so its log
    line and ours can be matched), else a new one. A client's own header is not believed: it could
    make unrelated requests share an id."""
    offered = request.META.get("HTTP_X_REQUEST_ID", "")
    if offered and _REQUEST_ID.fullmatch(offered) and from_trusted_proxy(request):
        return offered
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Gives every request an id (``request.request_id``), puts it on every log line written while
    the request is handled (``exchange.logging``) and returns it in the ``X-Request-ID`` header."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = request_id_for(request)
        with request_id_bound(request.request_id):
            response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request.request_id
        return response


def _view_label(request) -> str:
    """The URL pattern's name (bounded: one label value per route, never the raw path)."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    return match.view_name or match.route or "unnamed"


class RequestMetricsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.monotonic()
        response = self.get_response(request)
        view = _view_label(request)
        method = request.method if request.method in _METHODS else "other"
        HTTP_LATENCY.labels(method, view).observe(time.monotonic() - started)
        HTTP_REQUESTS.labels(method, view, str(response.status_code)).inc()
        return response
