"""API plumbing shared by every app: the one exception handler, role permissions, base view."""

from __future__ import annotations

import logging
import math
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework import permissions
from rest_framework.response import Response
from rest_framework.views import APIView

from exchange.errors import ExchangeError
from exchange.openapi import ErrorSerializer
from exchange.roles import user_has_role
from exchange.tokens import TokenExpiredError

logger = logging.getLogger("exchange.api")

DRF_CODES = {
    TokenExpiredError: "token_expired",  # before its base class AuthenticationFailed
    drf_exceptions.NotAuthenticated: "not_authenticated",
    drf_exceptions.AuthenticationFailed: "authentication_failed",
    drf_exceptions.PermissionDenied: "permission_denied",
    drf_exceptions.NotFound: "not_found",
    drf_exceptions.MethodNotAllowed: "method_not_allowed",
    drf_exceptions.NotAcceptable: "not_acceptable",
    drf_exceptions.UnsupportedMediaType: "unsupported_media_type",
    drf_exceptions.Throttled: "throttled",
    drf_exceptions.ParseError: "malformed_request",
    drf_exceptions.ValidationError: "invalid_input",
}


#: The one error shape, for OpenAPI ``responses`` of error status codes.
ERROR_RESPONSE = OpenApiResponse(response=ErrorSerializer, description="Error (one JSON shape with a stable code)")


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_response(exc: Exception) -> tuple[dict[str, Any], int] | None:
    """Map any known exception to (body, status); None for unexpected errors."""
    if isinstance(exc, ExchangeError):
        return exc.as_dict(), exc.http_status
    if isinstance(exc, DjangoValidationError):
        details = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return error_body("invalid_input", "The request is not valid.", details), 400
    if isinstance(exc, Http404):
        return error_body("not_found", "Not found."), 404
    if isinstance(exc, DjangoPermissionDenied):
        return error_body("permission_denied", str(exc) or "Permission denied."), 403
    if isinstance(exc, drf_exceptions.APIException):
        code = next((c for cls, c in DRF_CODES.items() if isinstance(exc, cls)), "error")
        if isinstance(exc, drf_exceptions.ValidationError):
            detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
            return error_body(code, "The request is not valid.", detail), exc.status_code
        return error_body(code, str(exc.detail)), exc.status_code
    return None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    mapped = error_response(exc)
    if mapped is None:
        return None  # let Django's 500 handling (and our handler500) deal with real bugs
    body, status = mapped
    response = Response(body, status=status)
    wait = getattr(exc, "wait", None) if isinstance(exc, drf_exceptions.Throttled) else None
    if wait:
        response["Retry-After"] = str(max(1, math.ceil(wait)))
    if getattr(exc, "retry_after", None):
        response["Retry-After"] = str(exc.retry_after)  # type: ignore[attr-defined]
    if status == 401:
        response["WWW-Authenticate"] = 'Token realm="api"'
    return response


def wants_json(request: HttpRequest) -> bool:
    """Whether an error for this request is answered in the API's JSON shape rather than as a page."""
    return request.path.startswith(("/api/", "/federation/", "/.well-known/")) or \
        "application/json" in request.headers.get("Accept", "")


def json_error(code: str, message: str, status: int, details: Any = None) -> JsonResponse:
    return JsonResponse(error_body(code, message, details), status=status, json_dumps_params={"ensure_ascii": False})


class HasRole(permissions.BasePermission):
    """Allows users holding any of ``roles``. Build with ``HasRole.of("reviewer", ...)``."""

    roles: tuple[str, ...] = ()

    @classmethod
    def of(cls, *roles: str) -> type[HasRole]:
        return type(f"HasRole_{'_'.join(roles)}", (cls,), {"roles": roles})

    def has_permission(self, request, view) -> bool:
        return any(user_has_role(request.user, role) for role in self.roles)


class DenyAll(permissions.BasePermission):
    """The default for a view that forgot to name its permission: nobody gets in."""

    def has_permission(self, request, view) -> bool:
        return False


class ExchangeAPIView(APIView):
    """Base API view. Subclasses must name their permission explicitly (checked by a test);
    one that does not is closed to everybody."""

    permission_classes: list[Any] = [DenyAll]
    permission_declared = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "permission_classes" in cls.__dict__:
            cls.permission_declared = True
