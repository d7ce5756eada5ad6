"""Plain-Django views of the node shell: home page, sign-in form and error handlers (JSON under /api/)."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from exchange.api import error_response, is_api_request, json_error
from exchange.login import login_rate_wait, too_many_attempts_response


@login_not_required
def home(request: HttpRequest) -> HttpResponse:
    """Permission: public. The home page leads to the teacher search."""
    return redirect("search")


class LoginView(auth_views.LoginView):
    """The sign-in form. Each POST counts against the client address's sign-in rate (shared with the API's
    token endpoint); axes locks a username out at an address after repeated failures (its middleware
    answers with ``exchange.login.lockout_response``); failures are audited. Permission: public."""

    throttle_scope = "login"

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        wait = login_rate_wait(request, self)
        if wait is not None:
            return too_many_attempts_response(request, wait)
        return super().post(request, *args, **kwargs)


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
