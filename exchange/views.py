"""Plain-Django views of the node shell: home page and error handlers (JSON under /api/)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from exchange.api import error_response, is_api_request, json_error


def home(request: HttpRequest) -> HttpResponse:
    """Permission: public. The home page leads to the teacher search."""
    return redirect("search")


def handler404(request, exception=None):
    if is_api_request(request):
        return json_error("not_found", "Not found.", 404)
    return render(request, "exchange/error.html", {"status": 404}, status=404)


def handler403(request, exception=None):
    if is_api_request(request):
        return json_error("permission_denied", "Permission denied.", 403)
    return render(request, "exchange/error.html", {"status": 403}, status=403)


def handler400(request, exception=None):
    if is_api_request(request):
        mapped = error_response(exception) if exception is not None else None
        if mapped is not None:
            body, status = mapped
            return json_error(body["error"]["code"], body["error"]["message"], status)
        return json_error("bad_request", "Bad request.", 400)
    return render(request, "exchange/error.html", {"status": 400}, status=400)


def handler500(request):
    if is_api_request(request):
        return json_error("internal_error", "An internal error occurred; it has been logged.", 500)
    return render(request, "exchange/error.html", {"status": 500}, status=500)
