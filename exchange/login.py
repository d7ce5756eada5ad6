"""Guarding the two sign-in doors: the web form (``/accounts/login/``) and ``POST /api/v1/auth/token``.

Three layers, each keyed on the client address from :func:`exchange.clientip.client_ip` (never a raw
``X-Forwarded-For``) and each kept where every worker process sees it:

* a rate per client address (``LoginRateThrottle``, DRF's scoped throttle, rate ``login``) against one
  address trying many accounts; its counters live in the shared cache (``CACHES``);
* django-axes locks out a **username from one address** after ``AXES_FAILURE_LIMIT`` failures for
  ``AXES_COOLOFF_TIME`` (attempts are rows in the database). Not by username alone: anybody could then
  lock a teacher out of their account by typing wrong passwords for it; not by address alone: a whole
  school behind one NAT address would be locked out by one pupil;
* every failure, every lockout and every attempt refused while locked out is written to the audit log.

The lockout answer is the API's error shape with code ``too_many_attempts`` under ``/api/`` and a
translated page elsewhere, both ``429`` with ``Retry-After``.
"""

from __future__ import annotations

import math
from typing import Any

from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from rest_framework.throttling import ScopedRateThrottle

from exchange.api import is_api_request, json_error
from exchange.audit import audit_record
from exchange.clientip import client_ip
from exchange.errors import TooManyAttemptsError

#: Longest username kept in the audit log (the column's size); a longer one is cut.
AUDIT_USERNAME_MAX = 150


class LoginRateThrottle(ScopedRateThrottle):
    """DRF's scoped throttle keyed on the trusted client address instead of whatever
    ``X-Forwarded-For`` a client sends (DRF's own ``get_ident`` trusts the header when present)."""

    def get_ident(self, request: Any) -> str:
        return client_ip(getattr(request, "_request", request))


def login_rate_wait(request: Any, view: Any) -> int | None:
    """Count one sign-in attempt (a Django or DRF request) against the client's rate; the seconds to
    wait when over it, else None."""
    throttle = LoginRateThrottle()
    if throttle.allow_request(request, view):
        return None
    return max(1, math.ceil(throttle.wait() or 1))


def _http_request(request: Any) -> HttpRequest:
    """The Django request behind a DRF request (axes marks the Django one, which its middleware reads)."""
    return getattr(request, "_request", request)


def is_locked_out(request: Any) -> bool:
    """Whether axes refused the last ``authenticate()`` on this request because of a lockout."""
    return bool(getattr(_http_request(request), "axes_locked_out", False))


def lockout_error(request: Any, credentials: dict[str, Any] | None = None) -> TooManyAttemptsError:
    """The ``too_many_attempts`` error for a locked-out request, with the seconds until the lock ends: the
    last recorded failure of this username from this address plus the cool-off time."""
    http_request = _http_request(request)
    cool_off = get_cool_off(http_request)
    seconds = int(cool_off.total_seconds()) if cool_off else 3600
    username = get_client_username(http_request, credentials)
    address = getattr(http_request, "axes_ip_address", None) or client_ip(http_request)
    last = AccessAttempt.objects.filter(username=username, ip_address=address).aggregate(
        last=Max("attempt_time"))["last"]
    if last is not None and cool_off:
        seconds = math.ceil((last + cool_off - timezone.now()).total_seconds())
    return TooManyAttemptsError(retry_after=seconds)


def lockout_response(request: HttpRequest, original_response: HttpResponse | None = None,
                     credentials: dict[str, Any] | None = None) -> HttpResponse:
    """``AXES_LOCKOUT_CALLABLE``: what a locked-out client gets, on either door."""
    error = lockout_error(request, credentials)
    return too_many_attempts_response(request, error.retry_after, error)


def too_many_attempts_response(request: HttpRequest, retry_after: int,
                               error: TooManyAttemptsError | None = None) -> HttpResponse:
    """``429`` with ``Retry-After``: the JSON error under the API, the translated page on the web (also
    for the per-address rate on the web form)."""
    response: HttpResponse
    if is_api_request(request):
        error = error or TooManyAttemptsError(retry_after=retry_after)
        response = json_error(error.code, error.message, error.http_status, error.details)
    else:
        response = render(request, "registration/too_many_attempts.html",
                          {"minutes": max(1, math.ceil(retry_after / 60))}, status=429)
    response["Retry-After"] = str(max(1, int(retry_after)))
    response["Cache-Control"] = "no-store"
    return response


def _channel(request: HttpRequest) -> str:
    path = request.path
    if path.startswith("/api/"):
        return "api"
    if path.startswith("/admin/"):
        return "admin"
    return "web"


def audit_login_failure(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    """Receiver of ``user_login_failed`` (every door: web form, API, admin), connected after axes' own so
    the request already carries axes' verdict. One audit row per failure:

    * ``auth.login_failed``: wrong username or password;
    * ``auth.locked_out``: besides, this failure reached the limit and locked the username at this address;
    * ``auth.login_refused``: refused during a lockout, the password was not checked.
    """
    username = str(credentials.get("username") or "")[:AUDIT_USERNAME_MAX]
    if request is None:
        audit_record(action="auth.login_failed", actor=username, object_type="user", data={"channel": "unknown"})
        return
    http_request = _http_request(request)
    address = client_ip(http_request)
    failures = getattr(http_request, "axes_failures_since_start", None)
    data = {"channel": _channel(http_request), "path": http_request.path[:200]}
    if is_locked_out(http_request) and failures is None:
        audit_record(action="auth.login_refused", actor=username, object_type="user", ip=address,
                     data={**data, "reason": "locked_out"})
        return
    audit_record(action="auth.login_failed", actor=username, object_type="user", ip=address,
                 data={**data, "failures": failures})
    if is_locked_out(http_request):
        cool_off = get_cool_off(http_request)
        audit_record(action="auth.locked_out", actor=username, object_type="user", ip=address,
                     data={**data, "failures": failures,
                           "seconds": int(cool_off.total_seconds()) if cool_off else None})
