"""Domain errors and the one place that turns any error into the API's JSON shape.

Every error a client can see has a stable snake_case ``code`` and an HTTP status. Services raise
subclasses of :class:`ExchangeError`; the DRF exception handler and the plain-Django views render
them as ``{"error": {"code", "message", "details"}}``.
"""

from __future__ import annotations

from typing import Any


class ExchangeError(Exception):
    """Base class of every domain error. Subclasses set ``code`` and ``http_status``."""

    code: str = "error"
    http_status: int = 400
    default_message: str = "The request could not be completed."

    def __init__(self, message: str | None = None, *, details: dict[str, Any] | None = None) -> None:
        self.message = str(message or self.default_message)
        self.details = details or {}
        super().__init__(self.message)

    def as_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class InvalidInputError(ExchangeError):
    code = "invalid_input"
    http_status = 400
    default_message = "The request is not valid."


class UnknownFieldsError(InvalidInputError):
    """A body member the endpoint does not understand: refused, never silently ignored."""

    code = "unknown_fields"
    default_message = "The request has members this endpoint does not understand."


class RequestTooLargeError(ExchangeError):
    code = "request_too_large"
    http_status = 413
    default_message = "The request body is larger than this node accepts."


class NotFoundError(ExchangeError):
    code = "not_found"
    http_status = 404
    default_message = "Not found."


class PermissionDeniedError(ExchangeError):
    code = "permission_denied"
    http_status = 403
    default_message = "You do not have permission to perform this action."


class NotAuthenticatedError(ExchangeError):
    code = "not_authenticated"
    http_status = 401
    default_message = "Authentication credentials were not provided or are invalid."


class ConflictError(ExchangeError):
    code = "conflict"
    http_status = 409
    default_message = "The request conflicts with the current state of the object."


class ServiceUnavailableError(ExchangeError):
    code = "service_unavailable"
    http_status = 503
    default_message = "A backend service is unavailable."


class TooManyAttemptsError(ExchangeError):
    """Sign-in refused without checking the password: too many failures for this username from this
    client address. ``retry_after`` (seconds) goes into the ``Retry-After`` header and the details."""

    code = "too_many_attempts"
    http_status = 429
    default_message = "Too many failed sign-in attempts for this account from this address. Try again later."

    def __init__(self, message: str | None = None, *, retry_after: int, details: dict[str, Any] | None = None
                 ) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(message, details={"retry_after": self.retry_after, **(details or {})})
