"""OpenAPI pieces shared by the API views: the one error shape and its documented examples."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, inline_serializer
from rest_framework import serializers

ErrorSerializer = inline_serializer("Error", {
    "error": inline_serializer("ErrorBody", {
        "code": serializers.CharField(help_text="Stable snake_case code, e.g. token_expired."),
        "message": serializers.CharField(),
        "details": serializers.DictField(),
    }),
})


def error_response(description: str, *examples: tuple[str, str, dict | None]) -> OpenApiResponse:
    """A documented error response: ``examples`` are ``(code, message, details)``."""
    return OpenApiResponse(
        response=ErrorSerializer,
        description=description,
        examples=[
            OpenApiExample(code, value={"error": {"code": code, "message": message, "details": details or {}}},
                           response_only=True)
            for code, message, details in examples
        ],
    )
