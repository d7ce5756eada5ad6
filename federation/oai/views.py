"""The ``/oai`` endpoint."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from federation.oai.protocol import respond


@login_not_required
@csrf_exempt  # OAI-PMH harvesters POST form-encoded arguments without a session or CSRF token
@require_http_methods(["GET", "HEAD", "POST"])
def oai_endpoint(request: HttpRequest) -> HttpResponse:
    """OAI-PMH 2.0 data provider over the public catalog (arguments in the query string for GET,
    ``application/x-www-form-urlencoded`` body for POST). Protocol errors are answered in-band with
    HTTP 200, as the protocol requires. Permission: anyone."""
    arguments = request.POST if request.method == "POST" else request.GET
    body = respond(arguments.lists(), now=timezone.now())
    return HttpResponse(body, content_type="text/xml; charset=utf-8")
