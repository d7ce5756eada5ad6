"""Request-wide middleware: a request id for every request (first), metrics by view."""

from __future__ import annotations

import re
import time
import uuid

from django.http import JsonResponse

from exchange.api import NulInRequest, error_body, error_response, is_api_request
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


#: Error codes of bare error responses (``require_GET``'s 405 …) turned into the JSON error shape.
STATUS_CODES = {400: "bad_request", 401: "not_authenticated", 403: "permission_denied", 404: "not_found",
                405: "method_not_allowed", 406: "not_acceptable", 413: "request_too_large",
                415: "unsupported_media_type", 429: "throttled"}


class ApiErrorMiddleware:
    """Errors of plain-Django views under the API and federation paths (DRF views have the exception
    handler) in the one JSON error shape — also with DEBUG on, where Django would otherwise answer a
    refused request (too many fields, a body too large …) with its HTML debug page — and bare error
    responses there (a decorator's empty 405) given that shape too."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (400 <= response.status_code < 600 and is_api_request(request)
                and not response.get("Content-Type", "").startswith("application/json")
                and not getattr(response, "streaming", False)):
            code = STATUS_CODES.get(response.status_code, "error")
            replacement = JsonResponse(error_body(code, response.reason_phrase), status=response.status_code)
            for header in ("Allow", "Retry-After", "WWW-Authenticate"):
                if header in response:
                    replacement[header] = response[header]
            return replacement
        return response

    def process_exception(self, request, exception):
        if not is_api_request(request):
            return None
        mapped = error_response(exception)
        if mapped is None:
            return None
        body, status = mapped
        return JsonResponse(body, status=status, json_dumps_params={"ensure_ascii": False})


class RefuseNulMiddleware:
    """Refuse a request whose path or query holds a NUL character (400, the JSON error shape or the
    400 page): no parameter means one, and PostgreSQL can neither store nor compare it, so any
    lookup with it would fail as a server error."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path or any("\x00" in key or any("\x00" in value for value in values)
                                         for key, values in request.GET.lists()):
            raise NulInRequest("NUL character in the request's path or query")
        return self.get_response(request)
