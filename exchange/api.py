"""API plumbing shared by every app: the one exception handler, role permissions, base view."""

from __future__ import annotations

import logging
import math
from collections.abc import Collection, Mapping
from typing import Any, ClassVar

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import (
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse, UnreadablePostError
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework import permissions
from rest_framework.response import Response
from rest_framework.views import APIView

from exchange.errors import ExchangeError, InvalidInputError, UnknownFieldsError
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


class NulInRequest(SuspiciousOperation):
    """A NUL character in the request's path or query (refused by ``exchange.middleware``)."""


#: Requests refused while reading them (Django's limits in settings, DATA_UPLOAD_*; NUL characters),
#: most specific first.
REQUEST_REFUSALS: tuple[tuple[type[Exception], str, int, str], ...] = (
    (NulInRequest, "malformed_request", 400, "The request's path or query holds a NUL character."),
    (RequestDataTooBig, "request_too_large", 413, "The request body is larger than this node accepts."),
    (TooManyFieldsSent, "too_many_fields", 400, "The request has more form fields than this node accepts."),
    (TooManyFilesSent, "too_many_files", 400, "The request has more files than this node accepts."),
    (SuspiciousOperation, "bad_request", 400, "Bad request."),
    (UnreadablePostError, "malformed_request", 400, "The request body could not be read."),
)
API_PATH_PREFIXES = ("/api/", "/federation/", "/.well-known/")


def is_api_request(request: HttpRequest) -> bool:
    """Whether errors for this request are rendered as JSON (the API, the federation protocol, and
    clients that ask for JSON) rather than as HTML pages."""
    return request.path.startswith(API_PATH_PREFIXES) or "application/json" in request.headers.get("Accept", "")


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
    for refused, code, status, message in REQUEST_REFUSALS:
        if isinstance(exc, refused):
            return error_body(code, message), status
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


WRITE_METHODS = ("post", "put", "patch", "delete")
#: Sent by HTML forms for Django's CSRF check, which reads it: understood by every endpoint.
ALWAYS_UNDERSTOOD = frozenset({"csrfmiddlewaretoken"})


class ExchangeAPIView(APIView):
    """Base API view. Subclasses must name their permission explicitly (checked by a test);
    one that does not is closed to everybody.

    ``body_fields`` names the body members each write method understands (``{"post": {"scope"}}``, or
    an input serializer class whose fields are the members); any other member is refused with
    ``unknown_fields`` instead of being silently ignored, and a body that is not an object with
    ``invalid_input``. A write method without an entry takes no members at all."""

    permission_classes: list[Any] = [DenyAll]
    permission_declared = False
    body_fields: ClassVar[Mapping[str, Collection[str] | type]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "permission_classes" in cls.__dict__:
            cls.permission_declared = True

    def initial(self, request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        method = (request.method or "").lower()
        if method in WRITE_METHODS and hasattr(self, method):
            self.check_body_fields(request, method)

    def understood_fields(self, method: str) -> frozenset[str]:
        spec = self.body_fields.get(method, ())
        names = spec().fields.keys() if isinstance(spec, type) else spec
        return frozenset(names) | ALWAYS_UNDERSTOOD

    def check_body_fields(self, request, method: str) -> None:
        data = request.data
        if not isinstance(data, Mapping):
            raise InvalidInputError("The body must be a JSON object (or a form).",
                                    details={"body": ["An object."]})
        unknown = sorted(str(name) for name in data.keys() if name not in self.understood_fields(method))
        if unknown:
            raise UnknownFieldsError(
                f"Not understood: {', '.join(unknown)}.",
                details={name: ["Unknown field."] for name in unknown},
            )
